/*
 * Resources: parsing, printing and arithmetic on normalized collections.
 *
 * Memory: the items array grows by doubling (`cap`). Range and set arrays
 * carry no capacity field; their allocation is always at least
 * vec_cap(count) elements, so an operation can tell from the count alone
 * whether it needs to grow them. res_add and res_sub check everything and
 * reserve all memory they may need before changing anything, so they either
 * succeed or leave `a` as it was.
 */
#include "resources.h"

#include <jansson.h>

#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUOTE_MAX 48          /* characters of input quoted in an error message */
#define ADD_PREALLOC_MAX 8    /* new ranges items res_add copies without a fallback */
#define EXPONENT_LIMIT 100000 /* exponents beyond this are clamped (result 0 or overflow) */

/* ---- small helpers ---- */

static size_t
vec_cap(size_t n)
{
    size_t c = 4;

    if (n == 0)
        return 0;
    while (c < n)
        c <<= 1;
    return c;
}

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool
is_alnum(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void
trim(const char **s, size_t *n)
{
    while (*n > 0 && is_space(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_space((*s)[*n - 1]))
        (*n)--;
}

static const char *
role_or_any(const char *role)
{
    return role ? role : RES_ANY_ROLE;
}

static bool
name_valid(const char *s, size_t n)
{
    if (n == 0 || n >= RES_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!is_alnum(c) && c != '_' && c != '.' && c != '-' && c != '/')
            return false;
    }
    return true;
}

/* Copies up to QUOTE_MAX bytes of `s` into `buf` for an error message,
 * replacing unprintable bytes by '?' and marking truncation with "...". */
static const char *
quote(char buf[QUOTE_MAX + 4], const char *s, size_t n)
{
    size_t m = n > QUOTE_MAX ? QUOTE_MAX : n;

    for (size_t i = 0; i < m; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = (c < 0x20 || c >= 0x7f || c == '"') ? '?' : (char)c;
    }
    if (m < n) {
        memcpy(buf + m, "...", 4);
    } else {
        buf[m] = '\0';
    }
    return buf;
}

static const char *
type_name(enum res_type t)
{
    switch (t) {
    case RES_SCALAR:
        return "scalar";
    case RES_RANGES:
        return "ranges";
    case RES_SET:
        return "set";
    }
    return "unknown";
}

static int
cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
cmp_range(const void *a, const void *b)
{
    const struct res_range *x = a, *y = b;

    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

static int64_t
sat_add(int64_t a, int64_t b)
{
    int64_t s;

    if (__builtin_add_overflow(a, b, &s))
        return INT64_MAX;
    return s;
}

/* ---- items ---- */

static void
item_free(struct res_item *it)
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

static bool
item_empty(const struct res_item *it)
{
    switch (it->type) {
    case RES_SCALAR:
        return it->scalar == 0;
    case RES_RANGES:
        return it->nranges == 0;
    case RES_SET:
        return it->nset == 0;
    }
    return true;
}

/* strcmp for the short names and roles compared on every operation: an
 * inline loop beats a library call there. */
static inline int
short_cmp(const char *a, const char *b)
{
    while (*a != '\0' && *a == *b) {
        a++;
        b++;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

static inline int
item_cmp(const struct res_item *it, const char *name, const char *role)
{
    int c = short_cmp(it->name, name);

    return c != 0 ? c : short_cmp(it->role, role);
}

/* Deep copy. On failure `dst` is an empty scalar item holding no memory. */
static int
item_dup(struct res_item *dst, const struct res_item *src)
{
    *dst = *src;
    dst->ranges = NULL;
    dst->set = NULL;
    dst->nset = 0;
    if (src->type == RES_RANGES && src->nranges > 0) {
        dst->ranges = malloc(vec_cap(src->nranges) * sizeof(*dst->ranges));
        if (dst->ranges == NULL)
            goto fail;
        memcpy(dst->ranges, src->ranges, src->nranges * sizeof(*dst->ranges));
    }
    if (src->type == RES_SET && src->nset > 0) {
        dst->set = malloc(vec_cap(src->nset) * sizeof(*dst->set));
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
    item_free(dst);
    return -AG_ENOMEM;
}

/* Overwrites the live item `dst` with a copy of `src`, reusing its range
 * buffer when large enough. On failure `dst` is an empty scalar item. */
static int
item_assign(struct res_item *dst, const struct res_item *src)
{
    if (dst->type == RES_RANGES && src->type == RES_RANGES && dst->nranges > 0 &&
        src->nranges <= vec_cap(dst->nranges)) {
        struct res_range *keep = dst->ranges;
        *dst = *src;
        dst->ranges = keep;
        memcpy(keep, src->ranges, src->nranges * sizeof(*keep));
        return 0;
    }
    item_free(dst);
    return item_dup(dst, src);
}

static int
ranges_reserve(struct res_item *it, size_t need)
{
    struct res_range *p;

    if (need <= vec_cap(it->nranges))
        return 0;
    p = realloc(it->ranges, vec_cap(need) * sizeof(*p));
    if (p == NULL)
        return -AG_ENOMEM;
    it->ranges = p;
    return 0;
}

/* Sorts and coalesces the ranges of `it` in place. */
static void
ranges_normalize(struct res_item *it)
{
    struct res_range *r = it->ranges;
    size_t w = 0;

    if (it->nranges == 0)
        return;
    qsort(r, it->nranges, sizeof(*r), cmp_range);
    for (size_t i = 1; i < it->nranges; i++) {
        if (r[w].end == UINT64_MAX || r[i].begin <= r[w].end + 1) {
            if (r[i].end > r[w].end)
                r[w].end = r[i].end;
        } else {
            r[++w] = r[i];
        }
    }
    it->nranges = w + 1;
}

/*
 * x->ranges = x->ranges U b (both sorted and coalesced). The caller reserved
 * room for x->nranges + nb. x's ranges are moved to the tail first; the merge
 * then writes from the front and never overtakes the next unread range.
 */
static void
ranges_union(struct res_item *x, const struct res_range *b, size_t nb)
{
    struct res_range *a = x->ranges;
    size_t na = x->nranges, i = 0, j = 0, w = 0;

    memmove(a + nb, a, na * sizeof(*a));
    while (i < na || j < nb) {
        struct res_range r;
        if (j >= nb || (i < na && a[nb + i].begin <= b[j].begin))
            r = a[nb + i++];
        else
            r = b[j++];
        if (w > 0 && (a[w - 1].end == UINT64_MAX || r.begin <= a[w - 1].end + 1)) {
            if (r.end > a[w - 1].end)
                a[w - 1].end = r.end;
        } else {
            a[w++] = r;
        }
    }
    x->nranges = w;
}

/*
 * x->ranges = x->ranges \ b. The caller reserved room for x->nranges + nb:
 * each range of b splits at most one range of x in two. Same tail trick as
 * ranges_union.
 */
static void
ranges_subtract(struct res_item *x, const struct res_range *b, size_t nb)
{
    struct res_range *a = x->ranges;
    size_t na = x->nranges, j = 0, w = 0;

    memmove(a + nb, a, na * sizeof(*a));
    for (size_t i = 0; i < na; i++) {
        struct res_range cur = a[nb + i];
        uint64_t lo = cur.begin;
        bool alive = true;
        size_t k;

        while (j < nb && b[j].end < cur.begin)
            j++;
        for (k = j; k < nb && b[k].begin <= cur.end; k++) {
            if (b[k].begin > lo)
                a[w++] = (struct res_range){lo, b[k].begin - 1};
            if (b[k].end >= cur.end) {
                alive = false;
                break;
            }
            lo = b[k].end + 1;
        }
        if (alive)
            a[w++] = (struct res_range){lo, cur.end};
        j = k;
    }
    x->nranges = w;
}

static bool
ranges_contain(const struct res_range *a, size_t na, const struct res_range *b, size_t nb)
{
    size_t i = 0;

    for (size_t j = 0; j < nb; j++) {
        while (i < na && a[i].end < b[j].begin)
            i++;
        if (i == na || a[i].begin > b[j].begin || a[i].end < b[j].end)
            return false;
    }
    return true;
}

/* Sorts the members of `it` and frees duplicates. */
static void
set_normalize(struct res_item *it)
{
    size_t w = 0;

    if (it->nset == 0)
        return;
    qsort(it->set, it->nset, sizeof(*it->set), cmp_str_ptr);
    for (size_t i = 1; i < it->nset; i++) {
        if (strcmp(it->set[i], it->set[w]) == 0)
            free(it->set[i]);
        else
            it->set[++w] = it->set[i];
    }
    it->nset = w + 1;
}

/* x->set = x->set U y->set. Builds a new array first: on failure x is unchanged. */
static int
set_union(struct res_item *x, const struct res_item *y)
{
    size_t cap = vec_cap(x->nset + y->nset), i = 0, j = 0, w = 0, ndup = 0;
    char **v = malloc(cap * sizeof(*v));
    char **dups = NULL;

    if (v == NULL)
        return -AG_ENOMEM;
    dups = malloc(y->nset * sizeof(*dups));
    if (dups == NULL)
        goto fail;
    while (i < x->nset || j < y->nset) {
        int c = i == x->nset ? 1 : j == y->nset ? -1 : strcmp(x->set[i], y->set[j]);
        if (c <= 0) {
            v[w++] = x->set[i++];
            j += c == 0;
        } else {
            char *s = strdup(y->set[j++]);
            if (s == NULL)
                goto fail;
            dups[ndup++] = s;
            v[w++] = s;
        }
    }
    free(dups);
    free(x->set);
    x->set = v;
    x->nset = w;
    return 0;
fail:
    for (size_t k = 0; k < ndup; k++)
        free(dups[k]);
    free(dups);
    free(v);
    return -AG_ENOMEM;
}

/* x->set = x->set \ y->set, freeing removed members. */
static void
set_subtract(struct res_item *x, const struct res_item *y)
{
    size_t j = 0, w = 0;

    for (size_t i = 0; i < x->nset; i++) {
        int c = 1;
        while (j < y->nset && (c = strcmp(y->set[j], x->set[i])) < 0)
            j++;
        if (j < y->nset && c == 0)
            free(x->set[i]);
        else
            x->set[w++] = x->set[i];
    }
    x->nset = w;
}

static bool
set_contains(const struct res_item *x, const struct res_item *y)
{
    size_t i = 0;

    for (size_t j = 0; j < y->nset; j++) {
        int c = -1;
        while (i < x->nset && (c = strcmp(x->set[i], y->set[j])) < 0)
            i++;
        if (i == x->nset || c != 0)
            return false;
    }
    return true;
}

static bool
item_contains(const struct res_item *x, const struct res_item *y)
{
    if (x->type != y->type)
        return false;
    switch (y->type) {
    case RES_SCALAR:
        return x->scalar >= y->scalar;
    case RES_RANGES:
        return ranges_contain(x->ranges, x->nranges, y->ranges, y->nranges);
    case RES_SET:
        return set_contains(x, y);
    }
    return false;
}

static bool
item_equal(const struct res_item *x, const struct res_item *y)
{
    if (x->type != y->type || short_cmp(x->name, y->name) != 0 || short_cmp(x->role, y->role) != 0)
        return false;
    switch (x->type) {
    case RES_SCALAR:
        return x->scalar == y->scalar;
    case RES_RANGES:
        return x->nranges == y->nranges &&
               (x->nranges == 0 ||
                memcmp(x->ranges, y->ranges, x->nranges * sizeof(*x->ranges)) == 0);
    case RES_SET:
        if (x->nset != y->nset)
            return false;
        for (size_t i = 0; i < x->nset; i++)
            if (strcmp(x->set[i], y->set[i]) != 0)
                return false;
        return true;
    }
    return false;
}

/* ---- collections ---- */

static int
items_reserve(struct resources *r, size_t need)
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

/* Frees every item but keeps the items array. */
static void
coll_clear(struct resources *r)
{
    for (size_t i = 0; i < r->n; i++)
        item_free(&r->items[i]);
    r->n = 0;
}

static void
coll_remove(struct resources *r, size_t pos)
{
    item_free(&r->items[pos]);
    memmove(&r->items[pos], &r->items[pos + 1], (r->n - pos - 1) * sizeof(*r->items));
    r->n--;
}

/* Index of (name, role) in `r`, or the index where it would be inserted. */
static size_t
coll_find(const struct resources *r, const char *name, const char *role, bool *found)
{
    size_t lo = 0, hi = r->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = item_cmp(&r->items[mid], name, role);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* Like coll_find, but scans forward from `*cur` (callers walk sorted input
 * in order, so a whole walk costs O(r->n + input)). Leaves `*cur` at the
 * returned index. */
static size_t
coll_seek(const struct resources *r, size_t *cur, const char *name, const char *role, bool *found)
{
    int c = 1;

    while (*cur < r->n && (c = item_cmp(&r->items[*cur], name, role)) < 0)
        (*cur)++;
    *found = *cur < r->n && c == 0;
    return *cur;
}

/* True when `r` holds `name` with another type than `type`. `pos` is what
 * coll_find returned; items with one name are adjacent and share a type. */
static bool
coll_type_conflict(const struct resources *r, size_t pos, const char *name, enum res_type type)
{
    if (pos < r->n && short_cmp(r->items[pos].name, name) == 0)
        return r->items[pos].type != type;
    if (pos > 0 && short_cmp(r->items[pos - 1].name, name) == 0)
        return r->items[pos - 1].type != type;
    return false;
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
        rc = ranges_reserve(x, x->nranges + y->nranges);
        if (rc != 0)
            return rc;
        ranges_union(x, y->ranges, y->nranges);
        return 0;
    case RES_SET:
        return set_union(x, y);
    }
    return -AG_EINVAL;
}

/*
 * Adds the normalized item `y` (any role) to `r`, copying what it needs.
 * Each call is all-or-nothing for that item. Returns 0, -AG_EINVAL (type
 * conflict), -AG_ERANGE (overflow) or -AG_ENOMEM.
 */
static int
coll_add_item(struct resources *r, const struct res_item *y)
{
    struct res_item copy;
    bool found;
    size_t pos;
    int rc;

    if (item_empty(y))
        return 0;
    pos = coll_find(r, y->name, y->role, &found);
    if (coll_type_conflict(r, pos, y->name, y->type))
        return -AG_EINVAL;
    if (found)
        return item_merge(&r->items[pos], y);
    rc = items_reserve(r, r->n + 1);
    if (rc != 0)
        return rc;
    rc = item_dup(&copy, y);
    if (rc != 0)
        return rc;
    memmove(&r->items[pos + 1], &r->items[pos], (r->n - pos) * sizeof(*r->items));
    r->items[pos] = copy;
    r->n++;
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
    coll_clear(r);
    free(r->items);
    res_init(r);
}

/* Replaces `out` with the items of `r` for which keep(item, role) holds,
 * reusing the memory of `out`. On -AG_ENOMEM `out` is left empty. */
static int
coll_select(struct resources *out, const struct resources *r,
            bool (*keep)(const struct res_item *, const char *), const char *role)
{
    size_t count = 0, w = 0, old;
    int rc;

    if (out == r) {
        for (size_t i = 0; i < r->n; i++) {
            if (keep(&out->items[i], role))
                out->items[w++] = out->items[i];
            else
                item_free(&out->items[i]);
        }
        out->n = w;
        return 0;
    }
    for (size_t i = 0; i < r->n; i++)
        count += keep(&r->items[i], role);
    rc = items_reserve(out, count);
    if (rc != 0) {
        coll_clear(out);
        return rc;
    }
    old = out->n;
    for (size_t i = 0; i < r->n; i++) {
        if (!keep(&r->items[i], role))
            continue;
        if (w < old)
            rc = item_assign(&out->items[w], &r->items[i]);
        else
            rc = item_dup(&out->items[w], &r->items[i]);
        if (rc != 0) {
            out->n = w < old ? old : w + 1;
            coll_clear(out);
            return rc;
        }
        w++;
    }
    for (size_t i = w; i < old; i++)
        item_free(&out->items[i]);
    out->n = w;
    return 0;
}

static bool
keep_all(const struct res_item *it, const char *role)
{
    return true;
}

static bool
keep_role(const struct res_item *it, const char *role)
{
    return short_cmp(it->role, role) == 0;
}

/* Reserved for `role` or one of its ancestors, or unreserved. */
static bool
keep_allocatable(const struct res_item *it, const char *role)
{
    size_t n;

    if (short_cmp(it->role, RES_ANY_ROLE) == 0)
        return true;
    n = strlen(it->role);
    return strncmp(it->role, role, n) == 0 && (role[n] == '\0' || role[n] == '/');
}

int
res_copy(struct resources *dst, const struct resources *src)
{
    return coll_select(dst, src, keep_all, NULL);
}

/* ---- parsing ---- */

struct seen_name {
    char name[RES_NAME_MAX];
    enum res_type type;
};

struct parser {
    struct resources out;
    struct seen_name *seen;
    size_t nseen, capseen;
    char *err;
    size_t errlen;
};

static int
parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    trim(&s, &n);
    if (n == 0)
        return -AG_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -AG_EINVAL;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s[i] - '0', &v))
            return -AG_ERANGE;
    }
    *out = v;
    return 0;
}

static int
parse_ranges(struct parser *p, struct res_item *it, const char *v, size_t n)
{
    char q1[QUOTE_MAX + 4], q2[QUOTE_MAX + 4];
    const char *close = memchr(v, ']', n), *s, *end;
    size_t cap = 0;

    if (close == NULL) {
        ag_errf(p->err, p->errlen, "unterminated ranges \"%s\" for resource \"%s\"",
                quote(q1, v, n), it->name);
        return -AG_EINVAL;
    }
    if (close != v + n - 1) {
        ag_errf(p->err, p->errlen, "bad value \"%s\" for resource \"%s\"", quote(q1, v, n),
                it->name);
        return -AG_EINVAL;
    }
    s = v + 1;
    end = close;
    {
        const char *t = s;
        size_t tn = (size_t)(end - s);
        trim(&t, &tn);
        if (tn == 0)
            return 0; /* "[]" */
    }
    for (;;) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *pe = comma ? comma : end, *dash;
        struct res_range r;
        int rc;

        dash = memchr(s, '-', (size_t)(pe - s));
        if (dash != NULL) {
            rc = parse_u64(s, (size_t)(dash - s), &r.begin);
            if (rc == 0)
                rc = parse_u64(dash + 1, (size_t)(pe - dash - 1), &r.end);
        } else {
            rc = parse_u64(s, (size_t)(pe - s), &r.begin);
            r.end = r.begin;
        }
        if (rc != 0 || r.begin > r.end) {
            const char *t = s;
            size_t tn = (size_t)(pe - s);
            trim(&t, &tn);
            ag_errf(p->err, p->errlen, "bad range \"%s\" for resource \"%s\"%s", quote(q2, t, tn),
                    it->name,
                    rc == -AG_ERANGE ? ": out of bounds"
                    : rc == 0        ? ": begin > end"
                                     : "");
            return -AG_EINVAL;
        }
        if (it->nranges == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            struct res_range *nr = realloc(it->ranges, ncap * sizeof(*nr));
            if (nr == NULL)
                return -AG_ENOMEM;
            it->ranges = nr;
            cap = ncap;
        }
        it->ranges[it->nranges++] = r;
        if (comma == NULL)
            break;
        s = comma + 1;
    }
    ranges_normalize(it);
    return 0;
}

static bool
set_member_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == ',' || c == ';' || c == '{' || c == '}')
            return false;
    }
    return true;
}

static int
parse_set(struct parser *p, struct res_item *it, const char *v, size_t n)
{
    char q1[QUOTE_MAX + 4], q2[QUOTE_MAX + 4];
    const char *close = memchr(v, '}', n), *s, *end;
    size_t cap = 0;

    if (close == NULL) {
        ag_errf(p->err, p->errlen, "unterminated set \"%s\" for resource \"%s\"", quote(q1, v, n),
                it->name);
        return -AG_EINVAL;
    }
    if (close != v + n - 1) {
        ag_errf(p->err, p->errlen, "bad value \"%s\" for resource \"%s\"", quote(q1, v, n),
                it->name);
        return -AG_EINVAL;
    }
    s = v + 1;
    end = close;
    {
        const char *t = s;
        size_t tn = (size_t)(end - s);
        trim(&t, &tn);
        if (tn == 0)
            return 0; /* "{}" */
    }
    for (;;) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *m = s;
        size_t mn = (size_t)((comma ? comma : end) - s);
        char *dup;

        trim(&m, &mn);
        if (mn == 0) {
            ag_errf(p->err, p->errlen, "empty set member in \"%s\" for resource \"%s\"",
                    quote(q1, v, n), it->name);
            return -AG_EINVAL;
        }
        if (mn >= RES_SET_MEMBER_MAX) {
            ag_errf(p->err, p->errlen, "set member \"%s\" too long for resource \"%s\"",
                    quote(q2, m, mn), it->name);
            return -AG_EINVAL;
        }
        if (!set_member_valid(m, mn)) {
            ag_errf(p->err, p->errlen, "bad set member \"%s\" for resource \"%s\"",
                    quote(q2, m, mn), it->name);
            return -AG_EINVAL;
        }
        if (it->nset == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            char **ns = realloc(it->set, ncap * sizeof(*ns));
            if (ns == NULL)
                return -AG_ENOMEM;
            it->set = ns;
            cap = ncap;
        }
        dup = strndup(m, mn);
        if (dup == NULL)
            return -AG_ENOMEM;
        it->set[it->nset++] = dup;
        if (comma == NULL)
            break;
        s = comma + 1;
    }
    set_normalize(it);
    return 0;
}

static int
parse_value(struct parser *p, struct res_item *it, const char *v, size_t n)
{
    char q[QUOTE_MAX + 4];
    int rc;

    if (n > 0 && v[0] == '[') {
        it->type = RES_RANGES;
        return parse_ranges(p, it, v, n);
    }
    if (n > 0 && v[0] == '{') {
        it->type = RES_SET;
        return parse_set(p, it, v, n);
    }
    it->type = RES_SCALAR;
    if (n > 0 && v[0] == '-') {
        ag_errf(p->err, p->errlen, "negative value \"%s\" for resource \"%s\"", quote(q, v, n),
                it->name);
        return -AG_EINVAL;
    }
    rc = res_parse_scalar(v, n, &it->scalar);
    if (rc == -AG_ERANGE) {
        ag_errf(p->err, p->errlen, "value \"%s\" out of range for resource \"%s\"", quote(q, v, n),
                it->name);
        return -AG_EINVAL;
    }
    if (rc != 0) {
        ag_errf(p->err, p->errlen, "bad value \"%s\" for resource \"%s\"", quote(q, v, n),
                it->name);
        return -AG_EINVAL;
    }
    return 0;
}

/* Enforces one type per name across every item of the text, empty ones included. */
static int
parse_check_type(struct parser *p, const struct res_item *it)
{
    for (size_t i = 0; i < p->nseen; i++) {
        if (strcmp(p->seen[i].name, it->name) != 0)
            continue;
        if (p->seen[i].type == it->type)
            return 0;
        ag_errf(p->err, p->errlen, "resource \"%s\" used with two types (%s and %s)", it->name,
                type_name(p->seen[i].type), type_name(it->type));
        return -AG_EINVAL;
    }
    if (p->nseen == p->capseen) {
        size_t ncap = p->capseen ? p->capseen * 2 : 8;
        struct seen_name *ns = realloc(p->seen, ncap * sizeof(*ns));
        if (ns == NULL)
            return -AG_ENOMEM;
        p->seen = ns;
        p->capseen = ncap;
    }
    memcpy(p->seen[p->nseen].name, it->name, sizeof(it->name));
    p->seen[p->nseen++].type = it->type;
    return 0;
}

/* Parses one `NAME[(ROLE)]:VALUE` token (already split at ';') into p->out. */
static int
parse_item(struct parser *p, const char *s, size_t n)
{
    char q1[QUOTE_MAX + 4];
    struct res_item it;
    const char *name, *v;
    size_t i = 0, nn, vn;
    int rc;

    trim(&s, &n);
    if (n == 0)
        return 0;
    while (i < n && s[i] != '(' && s[i] != ':')
        i++;
    if (i == n) {
        ag_errf(p->err, p->errlen, "unknown syntax at \"%s\"", quote(q1, s, n));
        return -AG_EINVAL;
    }
    name = s;
    nn = i;
    trim(&name, &nn);
    if (nn == 0) {
        ag_errf(p->err, p->errlen, "empty resource name at \"%s\"", quote(q1, s, n));
        return -AG_EINVAL;
    }
    if (nn >= RES_NAME_MAX) {
        ag_errf(p->err, p->errlen, "resource name \"%s\" too long (max %d)", quote(q1, name, nn),
                RES_NAME_MAX - 1);
        return -AG_EINVAL;
    }
    if (!name_valid(name, nn)) {
        ag_errf(p->err, p->errlen, "bad resource name \"%s\"", quote(q1, name, nn));
        return -AG_EINVAL;
    }
    memset(&it, 0, sizeof(it));
    memcpy(it.name, name, nn);
    strcpy(it.role, RES_ANY_ROLE);
    if (s[i] == '(') {
        const char *role = s + i + 1;
        const char *close = memchr(role, ')', n - i - 1);
        size_t rn;

        if (close == NULL) {
            ag_errf(p->err, p->errlen, "unterminated role at \"%s\"", quote(q1, s, n));
            return -AG_EINVAL;
        }
        rn = (size_t)(close - role);
        if (rn >= RES_ROLE_MAX) {
            ag_errf(p->err, p->errlen, "role \"%s\" too long for resource \"%s\" (max %d)",
                    quote(q1, role, rn), it.name, RES_ROLE_MAX - 1);
            return -AG_EINVAL;
        }
        memcpy(it.role, role, rn);
        it.role[rn] = '\0';
        if (!res_role_valid(it.role)) {
            ag_errf(p->err, p->errlen, "bad role \"%s\" for resource \"%s\"", quote(q1, role, rn),
                    it.name);
            return -AG_EINVAL;
        }
        i = (size_t)(close - s) + 1;
        while (i < n && is_space(s[i]))
            i++;
        if (i == n || s[i] != ':') {
            ag_errf(p->err, p->errlen, "unknown syntax at \"%s\"",
                    i == n ? quote(q1, s, n) : quote(q1, s + i, n - i));
            return -AG_EINVAL;
        }
    }
    v = s + i + 1;
    vn = n - i - 1;
    trim(&v, &vn);
    rc = parse_value(p, &it, v, vn);
    if (rc == 0)
        rc = parse_check_type(p, &it);
    if (rc == 0) {
        rc = coll_add_item(&p->out, &it);
        if (rc == -AG_ERANGE) {
            ag_errf(p->err, p->errlen, "value overflow for resource \"%s\"", it.name);
            rc = -AG_EINVAL;
        }
    }
    if (rc == -AG_ENOMEM)
        ag_errf(p->err, p->errlen, "out of memory");
    item_free(&it);
    return rc;
}

int
res_parse(struct resources *out, const char *text, char *err, size_t errlen)
{
    struct parser p = {.err = err, .errlen = errlen};
    const char *s = text;
    int rc = 0;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (text == NULL) {
        ag_errf(err, errlen, "no resource text");
        return -AG_EINVAL;
    }
    res_init(&p.out);
    while (*s != '\0') {
        const char *end = strchr(s, ';');
        if (end == NULL)
            end = s + strlen(s);
        rc = parse_item(&p, s, (size_t)(end - s));
        if (rc != 0)
            break;
        s = *end == ';' ? end + 1 : end;
    }
    free(p.seen);
    if (rc != 0) {
        res_fini(&p.out);
        return rc;
    }
    res_fini(out);
    *out = p.out;
    return 0;
}

int
res_parse_scalar(const char *s, size_t len, int64_t *milli)
{
    size_t i = 0, ip, fs, fe, nd;
    long long e = 0, k, point;
    int64_t v = 0;

    while (i < len && is_digit(s[i]))
        i++;
    ip = i;
    fs = fe = i;
    if (i < len && s[i] == '.') {
        fs = ++i;
        while (i < len && is_digit(s[i]))
            i++;
        fe = i;
    }
    nd = ip + (fe - fs);
    if (nd == 0)
        return -AG_EINVAL;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        bool neg = false;
        size_t es;

        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            neg = s[i++] == '-';
        es = i;
        while (i < len && is_digit(s[i])) {
            if (e < EXPONENT_LIMIT)
                e = e * 10 + (s[i] - '0');
            i++;
        }
        if (i == es)
            return -AG_EINVAL;
        if (neg)
            e = -e;
    }
    if (i != len)
        return -AG_EINVAL;
    /* Digits d[0..nd) with the decimal point after ip of them: the integer
     * part of value * 1000 is d[0..point), rounded on d[point]. */
    point = (long long)ip + e + 3;
    for (k = 0; k < point && k < (long long)nd; k++) {
        char c = (size_t)k < ip ? s[k] : s[fs + (size_t)k - ip];
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, c - '0', &v))
            return -AG_ERANGE;
    }
    for (; k < point && v != 0; k++)
        if (__builtin_mul_overflow(v, 10, &v))
            return -AG_ERANGE;
    if (point >= 0 && point < (long long)nd) {
        char c = (size_t)point < ip ? s[point] : s[fs + (size_t)point - ip];
        if (c >= '5' && __builtin_add_overflow(v, 1, &v))
            return -AG_ERANGE;
    }
    *milli = v;
    return 0;
}

/* ---- printing ---- */

struct wbuf {
    char *buf;
    size_t len;
    size_t pos;
};

static void
wb_put(struct wbuf *w, const char *s, size_t n)
{
    if (w->pos + 1 < w->len) {
        size_t room = w->len - 1 - w->pos;
        memcpy(w->buf + w->pos, s, n < room ? n : room);
    }
    w->pos += n;
}

static void
wb_str(struct wbuf *w, const char *s)
{
    wb_put(w, s, strlen(s));
}

static void
wb_u64(struct wbuf *w, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);

    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    wb_put(w, tmp + i, sizeof(tmp) - i);
}

static void
wb_scalar(struct wbuf *w, int64_t milli)
{
    uint64_t mag = milli < 0 ? -(uint64_t)milli : (uint64_t)milli;
    unsigned frac = (unsigned)(mag % RES_SCALE);
    char f[4];
    size_t fn = 3;

    if (milli < 0)
        wb_put(w, "-", 1);
    wb_u64(w, mag / RES_SCALE);
    if (frac == 0)
        return;
    f[0] = (char)('0' + frac / 100);
    f[1] = (char)('0' + frac / 10 % 10);
    f[2] = (char)('0' + frac % 10);
    while (f[fn - 1] == '0')
        fn--;
    wb_put(w, ".", 1);
    wb_put(w, f, fn);
}

static void
wb_finish(struct wbuf *w)
{
    if (w->len > 0)
        w->buf[w->pos < w->len ? w->pos : w->len - 1] = '\0';
}

size_t
res_format_scalar(int64_t milli, char *buf, size_t len)
{
    struct wbuf w = {buf, len, 0};

    wb_scalar(&w, milli);
    wb_finish(&w);
    return w.pos;
}

size_t
res_format(const struct resources *r, char *buf, size_t len)
{
    struct wbuf w = {buf, len, 0};

    for (size_t i = 0; i < r->n; i++) {
        const struct res_item *it = &r->items[i];
        if (i > 0)
            wb_put(&w, ";", 1);
        wb_str(&w, it->name);
        if (short_cmp(it->role, RES_ANY_ROLE) != 0) {
            wb_put(&w, "(", 1);
            wb_str(&w, it->role);
            wb_put(&w, ")", 1);
        }
        wb_put(&w, ":", 1);
        switch (it->type) {
        case RES_SCALAR:
            wb_scalar(&w, it->scalar);
            break;
        case RES_RANGES:
            wb_put(&w, "[", 1);
            for (size_t j = 0; j < it->nranges; j++) {
                if (j > 0)
                    wb_put(&w, ",", 1);
                wb_u64(&w, it->ranges[j].begin);
                wb_put(&w, "-", 1);
                wb_u64(&w, it->ranges[j].end);
            }
            wb_put(&w, "]", 1);
            break;
        case RES_SET:
            wb_put(&w, "{", 1);
            for (size_t j = 0; j < it->nset; j++) {
                if (j > 0)
                    wb_put(&w, ",", 1);
                wb_str(&w, it->set[j]);
            }
            wb_put(&w, "}", 1);
            break;
        }
    }
    wb_finish(&w);
    return w.pos;
}

char *
res_to_string(const struct resources *r)
{
    size_t n = res_format(r, NULL, 0);
    char *s = malloc(n + 1);

    if (s != NULL)
        res_format(r, s, n + 1);
    return s;
}

/* ---- arithmetic ---- */

/* res_add when b holds sets or too many new ranges items: works on a copy. */
static int
add_via_copy(struct resources *a, const struct resources *b)
{
    struct resources tmp;
    int rc;

    res_init(&tmp);
    rc = res_copy(&tmp, a);
    for (size_t i = 0; rc == 0 && i < b->n; i++)
        rc = coll_add_item(&tmp, &b->items[i]);
    if (rc != 0) {
        res_fini(&tmp);
        return rc;
    }
    res_fini(a);
    *a = tmp;
    return 0;
}

int
res_add(struct resources *a, const struct resources *b)
{
    struct res_range *pre[ADD_PREALLOC_MAX];
    size_t nnew = 0, npre = 0, k = 0;
    bool slow = false;
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
    for (size_t i = 0, cur = 0; i < b->n; i++) {
        const struct res_item *y = &b->items[i];
        bool found;
        size_t pos = coll_seek(a, &cur, y->name, y->role, &found);
        int64_t sum;

        if (coll_type_conflict(a, pos, y->name, y->type))
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
    rc = items_reserve(a, a->n + nnew);
    if (rc != 0)
        return rc;
    npre = 0;
    for (size_t i = 0, cur = 0; i < b->n; i++) {
        const struct res_item *y = &b->items[i];
        bool found;
        size_t pos;

        if (y->type != RES_RANGES)
            continue;
        pos = coll_seek(a, &cur, y->name, y->role, &found);
        if (found) {
            rc = ranges_reserve(&a->items[pos], a->items[pos].nranges + y->nranges);
        } else {
            pre[npre] = malloc(vec_cap(y->nranges) * sizeof(*pre[npre]));
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
    /* Apply: cannot fail. */
    for (size_t i = 0, cur = 0; i < b->n; i++) {
        const struct res_item *y = &b->items[i];
        bool found;
        size_t pos = coll_seek(a, &cur, y->name, y->role, &found);

        if (found) {
            struct res_item *x = &a->items[pos];
            if (y->type == RES_SCALAR)
                x->scalar += y->scalar;
            else
                ranges_union(x, y->ranges, y->nranges);
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
    int rc;

    if (a == b) {
        coll_clear(a);
        return 0;
    }
    if (!res_contains(a, b))
        return -AG_ERANGE;
    for (size_t i = 0, cur = 0; i < b->n; i++) {
        const struct res_item *y = &b->items[i];
        bool found;
        size_t pos;

        if (y->type != RES_RANGES)
            continue;
        pos = coll_seek(a, &cur, y->name, y->role, &found);
        rc = ranges_reserve(&a->items[pos], a->items[pos].nranges + y->nranges);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0, cur = 0; i < b->n; i++) {
        const struct res_item *y = &b->items[i];
        bool found;
        size_t pos = coll_seek(a, &cur, y->name, y->role, &found);
        struct res_item *x = &a->items[pos];

        switch (y->type) {
        case RES_SCALAR:
            x->scalar -= y->scalar;
            break;
        case RES_RANGES:
            ranges_subtract(x, y->ranges, y->nranges);
            break;
        case RES_SET:
            set_subtract(x, y);
            break;
        }
        if (item_empty(x))
            coll_remove(a, pos);
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

        if (item_empty(y))
            continue;
        while (i < a->n && (c = item_cmp(&a->items[i], y->name, y->role)) < 0)
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
        if (it->type == RES_SCALAR && short_cmp(it->name, name) == 0)
            sum = sat_add(sum, it->scalar);
    }
    return sum;
}

int
res_add_scalar(struct resources *r, const char *name, const char *role, int64_t milli)
{
    struct res_item it;
    bool found;
    size_t pos;
    int64_t sum;
    int rc;

    role = role_or_any(role);
    if (name == NULL || !name_valid(name, strlen(name)) || !res_role_valid(role))
        return -AG_EINVAL;
    pos = coll_find(r, name, role, &found);
    if (coll_type_conflict(r, pos, name, RES_SCALAR))
        return -AG_EINVAL;
    if (found) {
        if (__builtin_add_overflow(r->items[pos].scalar, milli, &sum) || sum < 0)
            return -AG_ERANGE;
        if (sum == 0)
            coll_remove(r, pos);
        else
            r->items[pos].scalar = sum;
        return 0;
    }
    if (milli < 0)
        return -AG_ERANGE;
    if (milli == 0)
        return 0;
    rc = items_reserve(r, r->n + 1);
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

int
res_filter_role(struct resources *out, const struct resources *r, const char *role)
{
    role = role_or_any(role);
    if (!res_role_valid(role))
        return -AG_EINVAL;
    return coll_select(out, r, keep_role, role);
}

int
res_allocatable_to(struct resources *out, const struct resources *r, const char *role)
{
    role = role_or_any(role);
    if (!res_role_valid(role))
        return -AG_EINVAL;
    return coll_select(out, r, keep_allocatable, role);
}

int
res_set_role(struct resources *out, const struct resources *r, const char *role)
{
    struct resources tmp;
    int rc = 0;

    role = role_or_any(role);
    if (!res_role_valid(role))
        return -AG_EINVAL;
    res_init(&tmp);
    rc = items_reserve(&tmp, r->n);
    for (size_t i = 0; rc == 0 && i < r->n; i++) {
        struct res_item it = r->items[i]; /* shallow: coll_add_item copies */
        strcpy(it.role, role);
        rc = coll_add_item(&tmp, &it);
    }
    if (rc != 0) {
        res_fini(&tmp);
        return rc;
    }
    res_fini(out);
    *out = tmp;
    return 0;
}

int
res_flatten(struct resources *out, const struct resources *r)
{
    return res_set_role(out, r, RES_ANY_ROLE);
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

        for (; i < total->n && short_cmp(total->items[i].name, name) == 0; i++)
            t = sat_add(t, total->items[i].scalar);
        if (!scalar || t <= 0)
            continue;
        while (j < alloc->n && short_cmp(alloc->items[j].name, name) < 0)
            j++;
        for (; j < alloc->n && short_cmp(alloc->items[j].name, name) == 0; j++)
            if (alloc->items[j].type == RES_SCALAR)
                s = sat_add(s, alloc->items[j].scalar);
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
        if (it->type != RES_RANGES || short_cmp(it->name, name) != 0)
            continue;
        for (size_t j = 0; j < it->nranges; j++) {
            uint64_t c = it->ranges[j].end - it->ranges[j].begin;
            if (c == UINT64_MAX || __builtin_add_overflow(sum, c + 1, &sum))
                return UINT64_MAX;
        }
    }
    return sum;
}

bool
res_role_valid(const char *role)
{
    size_t seg = 0, i;

    if (role == NULL || role[0] == '\0')
        return false;
    if (strcmp(role, RES_ANY_ROLE) == 0)
        return true;
    for (i = 0; role[i] != '\0'; i++) {
        char c = role[i];
        if (i >= RES_ROLE_MAX - 1)
            return false;
        if (c == '/') {
            if (seg == 0)
                return false;
            seg = 0;
            continue;
        }
        if (seg == 0 && (c == '.' || c == '-'))
            return false;
        if (!is_alnum(c) && c != '_' && c != '.' && c != '-')
            return false;
        seg++;
    }
    return seg > 0;
}

json_t *
res_to_json(const struct resources *r)
{
    json_t *o = json_object();
    struct resources flat;
    char buf[4096];

    json_object_set_new(o, "cpus", json_real(0));
    json_object_set_new(o, "mem", json_real(0));
    json_object_set_new(o, "disk", json_real(0));
    json_object_set_new(o, "gpus", json_real(0));
    res_init(&flat);
    if (res_flatten(&flat, r) != 0) {
        res_fini(&flat);
        return o;
    }
    for (size_t i = 0; i < flat.n; i++) {
        const struct res_item *it = &flat.items[i];
        if (it->type == RES_SCALAR) {
            json_object_set_new(o, it->name, json_real((double)it->scalar / RES_SCALE));
        } else {
            struct resources one = {.items = (struct res_item *)it, .n = 1, .cap = 1};
            const char *colon;
            res_format(&one, buf, sizeof(buf));
            colon = strchr(buf, ':');
            json_object_set_new(o, it->name, json_string(colon ? colon + 1 : buf));
        }
    }
    res_fini(&flat);
    return o;
}
