/*
 * Resource arithmetic: res_add, res_sub, res_add_scalar, res_contains and
 * res_equal. res_add and res_sub check everything and reserve all memory they
 * may need before changing anything, so they either succeed or leave `a` as
 * it was.
 */
#include "resources.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "res_int.h"
#include "res_ranges.h"
#include "res_sets.h"

#define ADD_PREALLOC_MAX 8 /* new ranges items res_add copies without a fallback */

static bool
item_contains(const struct res_item *x, const struct res_item *y)
{
    if (x->type != y->type)
        return false;
    switch (y->type) {
    case RES_SCALAR:
        return x->scalar >= y->scalar;
    case RES_RANGES:
        return rng_contain(x->ranges, x->nranges, y->ranges, y->nranges);
    case RES_SET:
        return rset_contains(x, y);
    }
    return false;
}

static bool
item_equal(const struct res_item *x, const struct res_item *y)
{
    if (x->type != y->type || res_short_cmp(x->name, y->name) != 0 ||
        res_short_cmp(x->role, y->role) != 0)
        return false;
    switch (x->type) {
    case RES_SCALAR:
        return x->scalar == y->scalar;
    case RES_RANGES:
        return x->nranges == y->nranges &&
               (x->nranges == 0 ||
                memcmp(x->ranges, y->ranges, x->nranges * sizeof(*x->ranges)) == 0);
    case RES_SET:
        return rset_equal(x, y);
    }
    return false;
}

/*
 * Before res_add or res_sub changes `a`, takes all the memory the ranges of
 * `b` need, so that the change cannot fail: grows each ranges item of `a`
 * that `b` has a ranges item for to hold both, and copies the ranges of each
 * ranges item of `b` missing from `a` into pre[0..] in order (res_sub passes
 * NULL: every item of `b` is in `a`; res_add counted at most
 * ADD_PREALLOC_MAX). Returns 0 or -AG_ENOMEM with nothing left in `pre` (what
 * was grown stays grown, the values of `a` are unchanged).
 */
static int
reserve_ranges(struct resources *a, const struct resources *b, struct res_range **pre)
{
    size_t npre = 0;

    for (size_t i = 0, cur = 0; i < b->n; i++) {
        const struct res_item *y = &b->items[i];
        bool found;
        size_t pos;
        int rc = 0;

        if (y->type != RES_RANGES)
            continue;
        pos = res_coll_seek(a, &cur, y->name, y->role, &found);
        if (found) {
            rc = rng_reserve(&a->items[pos], a->items[pos].nranges + y->nranges);
        } else if (pre != NULL) {
            pre[npre] = malloc(res_vec_cap(y->nranges) * sizeof(*pre[npre]));
            if (pre[npre] == NULL)
                rc = -AG_ENOMEM;
            else
                memcpy(pre[npre++], y->ranges, y->nranges * sizeof(*y->ranges));
        }
        if (rc != 0) {
            while (npre > 0)
                free(pre[--npre]);
            return rc;
        }
    }
    return 0;
}

/* res_add when b holds sets or too many new ranges items: works on a copy. */
static int
add_via_copy(struct resources *a, const struct resources *b)
{
    struct resources tmp;
    int rc;

    res_init(&tmp);
    rc = res_copy(&tmp, a);
    for (size_t i = 0; rc == 0 && i < b->n; i++)
        rc = res_coll_add_item(&tmp, &b->items[i]);
    return res_coll_commit(a, &tmp, rc);
}

int
res_add(struct resources *a, const struct resources *b)
{
    struct res_range *pre[ADD_PREALLOC_MAX];
    struct res_walk w = {a, b, 0, 0};
    const struct res_item *y;
    size_t nnew = 0, npre = 0, k = 0, pos;
    bool slow = false, found;
    int rc;

    if (b->n == 0)
        return 0;
    if (a == b) {
        struct resources tmp;
        res_init(&tmp);
        rc = res_copy(&tmp, b);
        if (rc == 0)
            rc = res_add(a, &tmp);
        res_fini(&tmp);
        return rc;
    }
    /* Check everything first: nothing below may fail once `a` changes. */
    while ((y = res_walk_next(&w, &pos, &found)) != NULL) {
        int64_t sum;

        if (res_coll_type_conflict(a, pos, y->name, y->type))
            return -AG_EINVAL;
        if (found && y->type == RES_SCALAR &&
            __builtin_add_overflow(a->items[pos].scalar, y->scalar, &sum))
            return -AG_ERANGE;
        if (y->type == RES_SET)
            slow = true;
        if (!found) {
            nnew++;
            if (y->type == RES_RANGES && npre++ == ADD_PREALLOC_MAX)
                slow = true;
        }
    }
    if (slow)
        return add_via_copy(a, b);
    rc = res_items_reserve(a, a->n + nnew);
    if (rc == 0)
        rc = reserve_ranges(a, b, pre);
    if (rc != 0)
        return rc;
    /* Apply: cannot fail. */
    w = (struct res_walk){a, b, 0, 0};
    while ((y = res_walk_next(&w, &pos, &found)) != NULL) {
        if (found) {
            struct res_item *x = &a->items[pos];
            if (y->type == RES_SCALAR)
                x->scalar += y->scalar;
            else
                rng_union(x, y->ranges, y->nranges);
            continue;
        }
        memmove(&a->items[pos + 1], &a->items[pos], (a->n - pos) * sizeof(*a->items));
        a->items[pos] = *y;
        if (y->type == RES_RANGES)
            a->items[pos].ranges = pre[k++];
        a->n++;
    }
    return 0;
}

int
res_sub(struct resources *a, const struct resources *b)
{
    struct res_walk w = {a, b, 0, 0};
    const struct res_item *y;
    size_t pos;
    bool found;
    int rc;

    if (a == b) {
        res_coll_clear(a);
        return 0;
    }
    if (!res_contains(a, b))
        return -AG_ERANGE;
    rc = reserve_ranges(a, b, NULL);
    if (rc != 0)
        return rc;
    while ((y = res_walk_next(&w, &pos, &found)) != NULL) {
        struct res_item *x = &a->items[pos];

        switch (y->type) {
        case RES_SCALAR:
            x->scalar -= y->scalar;
            break;
        case RES_RANGES:
            rng_subtract(x, y->ranges, y->nranges);
            break;
        case RES_SET:
            rset_subtract(x, y);
            break;
        }
        if (res_item_empty(x))
            res_coll_remove(a, pos);
    }
    return 0;
}

bool
res_contains(const struct resources *a, const struct resources *b)
{
    size_t i = 0;

    for (size_t j = 0; j < b->n; j++) {
        const struct res_item *y = &b->items[j];
        int c = -1;

        if (res_item_empty(y))
            continue;
        while (i < a->n && (c = res_item_cmp(&a->items[i], y->name, y->role)) < 0)
            i++;
        if (i == a->n || c != 0 || !item_contains(&a->items[i], y))
            return false;
    }
    return true;
}

bool
res_equal(const struct resources *a, const struct resources *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (!item_equal(&a->items[i], &b->items[i]))
            return false;
    return true;
}

int
res_add_scalar(struct resources *r, const char *name, const char *role, int64_t milli)
{
    struct res_item it;
    bool found;
    size_t pos;
    int64_t sum;
    int rc;

    role = res_role_or_any(role);
    if (name == NULL || !res_name_valid(name, strlen(name)) || !res_role_valid(role))
        return -AG_EINVAL;
    pos = res_coll_find(r, name, role, &found);
    if (res_coll_type_conflict(r, pos, name, RES_SCALAR))
        return -AG_EINVAL;
    if (found) {
        if (__builtin_add_overflow(r->items[pos].scalar, milli, &sum) || sum < 0)
            return -AG_ERANGE;
        if (sum == 0)
            res_coll_remove(r, pos);
        else
            r->items[pos].scalar = sum;
        return 0;
    }
    if (milli < 0)
        return -AG_ERANGE;
    if (milli == 0)
        return 0;
    rc = res_items_reserve(r, r->n + 1);
    if (rc != 0)
        return rc;
    memset(&it, 0, sizeof(it));
    strcpy(it.name, name);
    strcpy(it.role, role);
    it.type = RES_SCALAR;
    it.scalar = milli;
    memmove(&r->items[pos + 1], &r->items[pos], (r->n - pos) * sizeof(*r->items));
    r->items[pos] = it;
    r->n++;
    return 0;
}
