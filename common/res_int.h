/*
 * The inside of the resources modules: item and collection primitives that
 * resources.c (collections), res_arith.c (add, subtract, compare),
 * res_roles.c (roles), res_text.c (text and JSON), res_ranges.c and
 * res_sets.c (value algebra) share. Callers outside them use resources.h.
 *
 * Memory: a collection's items array grows by doubling (`cap`). Range and set
 * arrays carry no capacity field; their allocation is always at least
 * res_vec_cap(count) elements, so an operation can tell from the count alone
 * whether it needs to grow them.
 *
 * The functions below keep the invariants of resources.h unless they say
 * otherwise; those that fail leave their target unchanged unless they say
 * otherwise. The small ones on the hot paths of res_add, res_sub and
 * res_contains are `static inline` here so that splitting the modules costs
 * those paths nothing.
 */
#ifndef AGORA_RES_INT_H
#define AGORA_RES_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "resources.h"

/* The allocated length (in elements) of a range or set array holding `n`. */
static inline size_t
res_vec_cap(size_t n)
{
    size_t c = 4;

    if (n == 0)
        return 0;
    while (c < n)
        c <<= 1;
    return c;
}

/* strcmp for the short names and roles compared on every operation: an
 * inline loop beats a library call there. */
static inline int
res_short_cmp(const char *a, const char *b)
{
    while (*a != '\0' && *a == *b) {
        a++;
        b++;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

/* Orders items by name, then role. */
static inline int
res_item_cmp(const struct res_item *it, const char *name, const char *role)
{
    int c = res_short_cmp(it->name, name);

    return c != 0 ? c : res_short_cmp(it->role, role);
}

/* True when the item holds nothing (zero scalar, no ranges, no members). */
static inline bool
res_item_empty(const struct res_item *it)
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

/* `role`, or "*" when NULL. */
static inline const char *
res_role_or_any(const char *role)
{
    return role ? role : RES_ANY_ROLE;
}

/* Sum that saturates at INT64_MAX instead of overflowing. */
static inline int64_t
res_sat_add(int64_t a, int64_t b)
{
    int64_t s;

    if (__builtin_add_overflow(a, b, &s))
        return INT64_MAX;
    return s;
}

/* True for the `n` bytes of a valid resource name (see resources.h). */
bool res_name_valid(const char *s, size_t n);

/* Frees what the item holds and leaves it an empty scalar item (name and role kept). */
void res_item_free(struct res_item *it);

/* Deep copy into the uninitialized `dst`. Returns 0 or -AG_ENOMEM, with
 * `dst` then an empty scalar item holding no memory. */
int res_item_dup(struct res_item *dst, const struct res_item *src);

/* Grows r->items to hold `need` items. 0 or -AG_ENOMEM. */
int res_items_reserve(struct resources *r, size_t need);

/* Frees every item but keeps the items array. */
void res_coll_clear(struct resources *r);

/* Removes (and frees) the item at `pos`. */
void res_coll_remove(struct resources *r, size_t pos);

/* Index of (name, role) in `r` with `*found` true, or the index where it
 * would be inserted with `*found` false. */
size_t res_coll_find(const struct resources *r, const char *name, const char *role, bool *found);

/* Like res_coll_find, but scans forward from `*cur` (callers walk sorted
 * input in order, so a whole walk costs O(r->n + input)). Leaves `*cur` at
 * the returned index. */
static inline size_t
res_coll_seek(const struct resources *r, size_t *cur, const char *name, const char *role,
              bool *found)
{
    int c = 1;

    while (*cur < r->n && (c = res_item_cmp(&r->items[*cur], name, role)) < 0)
        (*cur)++;
    *found = *cur < r->n && c == 0;
    return *cur;
}

/* A walk over the items of `b` in order, each with its place in `a` (found
 * or where it would go), in O(a->n + b->n): both are sorted. */
struct res_walk {
    const struct resources *a;
    const struct resources *b;
    size_t i;   /* next item of b */
    size_t cur; /* place in a of the last one */
};

/* The next item of the walk with its place in `*pos` and `*found` (as
 * res_coll_seek), or NULL after the last. */
static inline const struct res_item *
res_walk_next(struct res_walk *w, size_t *pos, bool *found)
{
    const struct res_item *y;

    if (w->i == w->b->n)
        return NULL;
    y = &w->b->items[w->i++];
    *pos = res_coll_seek(w->a, &w->cur, y->name, y->role, found);
    return y;
}

/* Ends an operation that built its result in `tmp`: on rc == 0 replaces
 * `out` by `tmp`, otherwise frees `tmp` and leaves `out` alone. Returns rc. */
int res_coll_commit(struct resources *out, struct resources *tmp, int rc);

/* True when `r` holds `name` with another type than `type`. `pos` is what
 * res_coll_find returned; items with one name are adjacent and share a type. */
static inline bool
res_coll_type_conflict(const struct resources *r, size_t pos, const char *name,
                       enum res_type type)
{
    if (pos < r->n && res_short_cmp(r->items[pos].name, name) == 0)
        return r->items[pos].type != type;
    if (pos > 0 && res_short_cmp(r->items[pos - 1].name, name) == 0)
        return r->items[pos - 1].type != type;
    return false;
}

/*
 * Adds the normalized item `y` (any role) to `r`, copying what it needs.
 * All-or-nothing for that item. Returns 0, -AG_EINVAL (type conflict),
 * -AG_ERANGE (overflow) or -AG_ENOMEM.
 */
int res_coll_add_item(struct resources *r, const struct res_item *y);

/* Replaces `out` with the items of `r` for which keep(item, role) holds,
 * reusing the memory of `out`; `out` may be `r`. 0, or -AG_ENOMEM with `out`
 * left empty. */
int res_coll_select(struct resources *out, const struct resources *r,
                    bool (*keep)(const struct res_item *, const char *), const char *role);

#endif
