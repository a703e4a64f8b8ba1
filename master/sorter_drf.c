/*
 * The DRF sorter: active clients kept in an array sorted by
 * (tier, share / weight, allocations, name, slot). An update finds the client by
 * binary search on its old key and slides it to its new place with one
 * memmove (at most 4 bytes per client, so 20 KB at 5,000 frameworks), which
 * keeps iteration a plain array walk.
 */
#include "sorter.h"

#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct drf_client {
    double key; /* share / weight */
    double share;
    double weight;
    uint64_t allocations;
    unsigned tier;
    const char *name;
    uint32_t id;
    bool used;
    bool active;
    int next_free;
};

struct drf {
    struct sorter base;
    struct drf_client *c;
    size_t nc, capc;
    int free_head;
    int *order; /* active slots, sorted */
    size_t norder, caporder;
};

/* <0 when slot x sorts before slot y. */
static inline int
drf_cmp(const struct drf *d, int x, int y)
{
    const struct drf_client *a = &d->c[x], *b = &d->c[y];
    int c;

    if (a->tier != b->tier)
        return a->tier < b->tier ? -1 : 1;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    if (a->allocations != b->allocations)
        return a->allocations < b->allocations ? -1 : 1;
    c = strcmp(a->name, b->name);
    if (c != 0)
        return c;
    return x < y ? -1 : (x > y ? 1 : 0);
}

/* First index in [lo, hi) whose client does not sort before `x`. */
static size_t
drf_lower_bound(const struct drf *d, size_t lo, size_t hi, int x)
{
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (drf_cmp(d, d->order[mid], x) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct sorter *
drf_create(uint64_t seed)
{
    struct drf *d = xrealloc(NULL, sizeof(*d));

    memset(d, 0, sizeof(*d));
    d->base.ops = &sorter_drf;
    d->free_head = -1;
    return &d->base;
}

static void
drf_destroy(struct sorter *s)
{
    struct drf *d = (struct drf *)s;

    free(d->c);
    free(d->order);
    free(d);
}

static int
drf_add(struct sorter *s, uint32_t id, const char *name, double weight)
{
    struct drf *d = (struct drf *)s;
    int slot;

    if (d->free_head >= 0) {
        slot = d->free_head;
        d->free_head = d->c[slot].next_free;
    } else {
        if (d->nc == d->capc) {
            d->capc = d->capc ? d->capc * 2 : 8;
            d->c = xrealloc(d->c, d->capc * sizeof(*d->c));
        }
        slot = (int)d->nc++;
    }
    d->c[slot] = (struct drf_client){
        .key = 0, .weight = weight > 0 ? weight : 1, .name = name, .id = id, .used = true};
    return slot;
}

static void
drf_insert(struct drf *d, int slot)
{
    size_t pos;

    if (d->norder == d->caporder) {
        d->caporder = d->caporder ? d->caporder * 2 : 8;
        d->order = xrealloc(d->order, d->caporder * sizeof(*d->order));
    }
    pos = drf_lower_bound(d, 0, d->norder, slot);
    memmove(&d->order[pos + 1], &d->order[pos], (d->norder - pos) * sizeof(*d->order));
    d->order[pos] = slot;
    d->norder++;
}

/* Position of the active client `slot` (its key must be the one it was sorted by). */
static size_t
drf_find(const struct drf *d, int slot)
{
    size_t pos = drf_lower_bound(d, 0, d->norder, slot);

    if (pos >= d->norder || d->order[pos] != slot) {
        fputs("sorter_drf: order corrupted\n", stderr);
        abort();
    }
    return pos;
}

static void
drf_set_active(struct sorter *s, int slot, bool active)
{
    struct drf *d = (struct drf *)s;
    struct drf_client *c = &d->c[slot];

    if (c->active == active)
        return;
    if (active) {
        drf_insert(d, slot);
    } else {
        size_t pos = drf_find(d, slot);
        memmove(&d->order[pos], &d->order[pos + 1], (d->norder - pos - 1) * sizeof(*d->order));
        d->norder--;
    }
    c->active = active;
}

static void
drf_remove(struct sorter *s, int slot)
{
    struct drf *d = (struct drf *)s;

    drf_set_active(s, slot, false);
    d->c[slot].used = false;
    d->c[slot].next_free = d->free_head;
    d->free_head = slot;
}

/* Moves the active client at `pos`, whose key just changed, to its place. */
static void
drf_reposition(struct drf *d, size_t pos)
{
    int x = d->order[pos];
    size_t j;

    if (pos > 0 && drf_cmp(d, x, d->order[pos - 1]) < 0) {
        j = drf_lower_bound(d, 0, pos, x);
        memmove(&d->order[j + 1], &d->order[j], (pos - j) * sizeof(*d->order));
        d->order[j] = x;
    } else if (pos + 1 < d->norder && drf_cmp(d, d->order[pos + 1], x) < 0) {
        j = drf_lower_bound(d, pos + 1, d->norder, x);
        memmove(&d->order[pos], &d->order[pos + 1], (j - pos - 1) * sizeof(*d->order));
        d->order[j - 1] = x;
    }
}

static void
drf_rekey(struct drf *d, int slot, double share, double weight, uint64_t allocations, unsigned tier)
{
    struct drf_client *c = &d->c[slot];
    size_t pos = 0;

    if (c->active)
        pos = drf_find(d, slot);
    c->share = share;
    c->weight = weight > 0 ? weight : 1;
    c->allocations = allocations;
    c->tier = tier;
    c->key = share / c->weight;
    if (c->active)
        drf_reposition(d, pos);
}

static void
drf_set_weight(struct sorter *s, int slot, double weight)
{
    struct drf *d = (struct drf *)s;
    struct drf_client *c = &d->c[slot];

    drf_rekey(d, slot, c->share, weight, c->allocations, c->tier);
}

static void
drf_update(struct sorter *s, int slot, double share, uint64_t allocations, unsigned tier)
{
    struct drf *d = (struct drf *)s;
    struct drf_client *c = &d->c[slot];

    if (c->share == share && c->allocations == allocations && c->tier == tier)
        return;
    drf_rekey(d, slot, share, c->weight, allocations, tier);
}

static void
drf_begin(struct sorter *s, struct sorter_iter *it)
{
    it->pos = 0;
}

static int64_t
drf_next(struct sorter *s, struct sorter_iter *it)
{
    struct drf *d = (struct drf *)s;

    if (it->pos >= d->norder)
        return -1;
    return d->c[d->order[it->pos++]].id;
}

static size_t
drf_active(const struct sorter *s)
{
    return ((const struct drf *)s)->norder;
}

const struct sorter_ops sorter_drf = {
    .name = "drf",
    .tiered = true,
    .create = drf_create,
    .destroy = drf_destroy,
    .add = drf_add,
    .remove = drf_remove,
    .set_active = drf_set_active,
    .set_weight = drf_set_weight,
    .update = drf_update,
    .begin = drf_begin,
    .next = drf_next,
    .active = drf_active,
};
