/*
 * Resources: the collection itself. Items (copy, free), the sorted items
 * array (find, insert, merge, remove, select) and the read-only queries
 * over it. The other resources modules build on these: res_arith.c (add,
 * subtract, compare), res_roles.c (reservations), res_text.c (text and
 * JSON), res_ranges.c and res_sets.c (values); res_int.h is their shared
 * inside.
 */
#include "resources.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "res_int.h"
#include "res_ranges.h"
#include "res_sets.h"
#include "sorted.h"
#include "text.h"

/* ---- items ---- */

bool
res_name_valid(const char *s, size_t n)
{
    if (n == 0 || n >= RES_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!txt_is_alnum(c) && c != '_' && c != '.' && c != '-' && c != '/')
            return false;
    }
    return true;
}

void
res_item_free(struct res_item *it)
{
    free(it->ranges);
    for (size_t i = 0; i < it->nset; i++)
        free(it->set[i]);
    free(it->set);
    it->type = RES_SCALAR;
    it->scalar = 0;
    it->ranges = NULL;
    it->nranges = 0;
    it->set = NULL;
    it->nset = 0;
}

int
res_item_dup(struct res_item *dst, const struct res_item *src)
{
    *dst = *src;
    dst->ranges = NULL;
    dst->set = NULL;
    dst->nset = 0;
    if (src->type == RES_RANGES && src->nranges > 0) {
        dst->ranges = malloc(res_vec_cap(src->nranges) * sizeof(*dst->ranges));
        if (dst->ranges == NULL)
            goto fail;
        memcpy(dst->ranges, src->ranges, src->nranges * sizeof(*dst->ranges));
    }
    if (src->type == RES_SET && src->nset > 0) {
        dst->set = malloc(res_vec_cap(src->nset) * sizeof(*dst->set));
        if (dst->set == NULL)
            goto fail;
        for (dst->nset = 0; dst->nset < src->nset; dst->nset++) {
            dst->set[dst->nset] = strdup(src->set[dst->nset]);
            if (dst->set[dst->nset] == NULL)
                goto fail;
        }
    }
    return 0;
fail:
    res_item_free(dst);
    return -AG_ENOMEM;
}

/* Overwrites the live item `dst` with a copy of `src`, reusing its range
 * buffer when large enough. On failure `dst` is an empty scalar item. */
static int
item_assign(struct res_item *dst, const struct res_item *src)
{
    if (dst->type == RES_RANGES && src->type == RES_RANGES && dst->nranges > 0 &&
        src->nranges <= res_vec_cap(dst->nranges)) {
        struct res_range *keep = dst->ranges;
        *dst = *src;
        dst->ranges = keep;
        memcpy(keep, src->ranges, src->nranges * sizeof(*keep));
        return 0;
    }
    res_item_free(dst);
    return res_item_dup(dst, src);
}

/* Merges `y` into the matching item `x` (same name, role and type). On failure
 * `x` is unchanged. */
static int
item_merge(struct res_item *x, const struct res_item *y)
{
    int64_t sum;
    int rc;

    switch (y->type) {
    case RES_SCALAR:
        if (__builtin_add_overflow(x->scalar, y->scalar, &sum))
            return -AG_ERANGE;
        x->scalar = sum;
        return 0;
    case RES_RANGES:
        rc = rng_reserve(x, x->nranges + y->nranges);
        if (rc != 0)
            return rc;
        rng_union(x, y->ranges, y->nranges);
        return 0;
    case RES_SET:
        return rset_union(x, y);
    }
    return -AG_EINVAL;
}

/* ---- collections ---- */

int
res_items_reserve(struct resources *r, size_t need)
{
    size_t cap = r->cap < 4 ? 4 : r->cap;
    struct res_item *p;

    if (need <= r->cap)
        return 0;
    while (cap < need)
        cap *= 2;
    p = realloc(r->items, cap * sizeof(*p));
    if (p == NULL)
        return -AG_ENOMEM;
    r->items = p;
    r->cap = cap;
    return 0;
}

void
res_coll_clear(struct resources *r)
{
    for (size_t i = 0; i < r->n; i++)
        res_item_free(&r->items[i]);
    r->n = 0;
}

void
res_coll_remove(struct resources *r, size_t pos)
{
    res_item_free(&r->items[pos]);
    memmove(&r->items[pos], &r->items[pos + 1], (r->n - pos - 1) * sizeof(*r->items));
    r->n--;
}

struct find_key {
    const struct resources *r;
    const char *name;
    const char *role;
};

static int
find_cmp(const void *ctx, size_t i)
{
    const struct find_key *k = ctx;

    return res_item_cmp(&k->r->items[i], k->name, k->role);
}

size_t
res_coll_find(const struct resources *r, const char *name, const char *role, bool *found)
{
    struct find_key k = {r, name, role};

    return sorted_find(r->n, find_cmp, &k, found);
}

int
res_coll_add_item(struct resources *r, const struct res_item *y)
{
    struct res_item copy;
    bool found;
    size_t pos;
    int rc;

    if (res_item_empty(y))
        return 0;
    pos = res_coll_find(r, y->name, y->role, &found);
    if (res_coll_type_conflict(r, pos, y->name, y->type))
        return -AG_EINVAL;
    if (found)
        return item_merge(&r->items[pos], y);
    rc = res_items_reserve(r, r->n + 1);
    if (rc != 0)
        return rc;
    rc = res_item_dup(&copy, y);
    if (rc != 0)
        return rc;
    memmove(&r->items[pos + 1], &r->items[pos], (r->n - pos) * sizeof(*r->items));
    r->items[pos] = copy;
    r->n++;
    return 0;
}

int
res_coll_select(struct resources *out, const struct resources *r,
                bool (*keep)(const struct res_item *, const char *), const char *role)
{
    size_t count = 0, w = 0, old;
    int rc;

    if (out == r) {
        for (size_t i = 0; i < r->n; i++) {
            if (keep(&out->items[i], role))
                out->items[w++] = out->items[i];
            else
                res_item_free(&out->items[i]);
        }
        out->n = w;
        return 0;
    }
    for (size_t i = 0; i < r->n; i++)
        count += keep(&r->items[i], role);
    rc = res_items_reserve(out, count);
    if (rc != 0) {
        res_coll_clear(out);
        return rc;
    }
    old = out->n;
    for (size_t i = 0; i < r->n; i++) {
        if (!keep(&r->items[i], role))
            continue;
        if (w < old)
            rc = item_assign(&out->items[w], &r->items[i]);
        else
            rc = res_item_dup(&out->items[w], &r->items[i]);
        if (rc != 0) {
            out->n = w < old ? old : w + 1;
            res_coll_clear(out);
            return rc;
        }
        w++;
    }
    for (size_t i = w; i < old; i++)
        res_item_free(&out->items[i]);
    out->n = w;
    return 0;
}

void
res_init(struct resources *r)
{
    r->items = NULL;
    r->n = 0;
    r->cap = 0;
}

void
res_fini(struct resources *r)
{
    if (r == NULL)
        return;
    res_coll_clear(r);
    free(r->items);
    res_init(r);
}

int
res_coll_commit(struct resources *out, struct resources *tmp, int rc)
{
    if (rc != 0) {
        res_fini(tmp);
        return rc;
    }
    res_fini(out);
    *out = *tmp;
    return 0;
}

static bool
keep_all(const struct res_item *it, const char *role)
{
    return true;
}

int
res_copy(struct resources *dst, const struct resources *src)
{
    return res_coll_select(dst, src, keep_all, NULL);
}

/* ---- queries ---- */

bool
res_empty(const struct resources *r)
{
    return r->n == 0;
}

int64_t
res_scalar(const struct resources *r, const char *name)
{
    int64_t sum = 0;

    for (size_t i = 0; i < r->n; i++) {
        const struct res_item *it = &r->items[i];
        if (it->type == RES_SCALAR && res_short_cmp(it->name, name) == 0)
            sum = res_sat_add(sum, it->scalar);
    }
    return sum;
}

double
res_drf_share(const struct resources *alloc, const struct resources *total)
{
    double best = 0.0;
    size_t i = 0, j = 0;

    while (i < total->n) {
        const char *name = total->items[i].name;
        bool scalar = total->items[i].type == RES_SCALAR;
        int64_t t = 0, s = 0;

        for (; i < total->n && res_short_cmp(total->items[i].name, name) == 0; i++)
            t = res_sat_add(t, total->items[i].scalar);
        if (!scalar || t <= 0)
            continue;
        while (j < alloc->n && res_short_cmp(alloc->items[j].name, name) < 0)
            j++;
        for (; j < alloc->n && res_short_cmp(alloc->items[j].name, name) == 0; j++)
            if (alloc->items[j].type == RES_SCALAR)
                s = res_sat_add(s, alloc->items[j].scalar);
        if (s > 0 && (double)s / (double)t > best)
            best = (double)s / (double)t;
    }
    return best;
}

uint64_t
res_range_count(const struct resources *r, const char *name)
{
    uint64_t sum = 0;

    for (size_t i = 0; i < r->n; i++) {
        const struct res_item *it = &r->items[i];
        if (it->type != RES_RANGES || res_short_cmp(it->name, name) != 0)
            continue;
        for (size_t j = 0; j < it->nranges; j++) {
            uint64_t c = it->ranges[j].end - it->ranges[j].begin;
            if (c == UINT64_MAX || __builtin_add_overflow(sum, c + 1, &sum))
                return UINT64_MAX;
        }
    }
    return sum;
}
