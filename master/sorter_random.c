/*
 * The random sorter: every pass visits the active clients in a fresh random
 * order where a client's chance to come next is proportional to its weight
 * (weighted sampling without replacement, as Mesos' random sorter). Weights
 * are kept as integers (milli-units) in a Fenwick tree; next() draws one
 * client in O(log n) and zeroes it for the rest of the pass, and begin()
 * restores what the previous pass drew. Shares and tiers are ignored.
 */
#include "sorter.h"

#include "xalloc.h"

#include "prng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rnd_client {
    uint64_t weight;  /* milli-units, >= 1 */
    uint64_t contrib; /* what the Fenwick tree holds for this slot */
    uint32_t id;
    bool used;
    bool active;
    bool taken; /* drawn in the current pass */
    int next_free;
};

struct rnd {
    struct sorter base;
    struct rnd_client *c;
    size_t nc, capc;
    int free_head;
    uint64_t *fen; /* 1-based Fenwick tree over slots, fcap entries */
    size_t fcap;   /* power of two >= capc */
    uint64_t total;
    size_t nactive;
    int *taken;
    size_t ntaken, captaken;
    struct prng prng;
};

static uint64_t
scale_weight(double w)
{
    if (!(w > 0) || !isfinite(w))
        return 1000;
    w = w * 1000.0;
    if (w < 1)
        return 1;
    if (w > 1e12)
        return (uint64_t)1e12;
    return (uint64_t)llround(w);
}

static void
fen_add(struct rnd *r, size_t slot, int64_t delta)
{
    for (size_t i = slot + 1; i <= r->fcap; i += i & (~i + 1))
        r->fen[i] += (uint64_t)delta;
}

static void
set_contrib(struct rnd *r, int slot, uint64_t v)
{
    struct rnd_client *c = &r->c[slot];

    if (c->contrib == v)
        return;
    fen_add(r, (size_t)slot, (int64_t)(v - c->contrib));
    r->total += v - c->contrib;
    c->contrib = v;
}

/* The slot holding the r-th unit of weight (0 <= r < total). */
static int
fen_find(const struct rnd *r, uint64_t x)
{
    size_t pos = 0;

    for (size_t step = r->fcap; step > 0; step >>= 1) {
        if (pos + step <= r->fcap && r->fen[pos + step] <= x) {
            pos += step;
            x -= r->fen[pos];
        }
    }
    return (int)pos;
}

static struct sorter *
rnd_create(uint64_t seed)
{
    struct rnd *r = xrealloc(NULL, sizeof(*r));

    memset(r, 0, sizeof(*r));
    r->base.ops = &sorter_random;
    r->free_head = -1;
    prng_seed(&r->prng, seed);
    return &r->base;
}

static void
rnd_destroy(struct sorter *s)
{
    struct rnd *r = (struct rnd *)s;

    free(r->c);
    free(r->fen);
    free(r->taken);
    free(r);
}

static int
rnd_add(struct sorter *s, uint32_t id, const char *name, double weight)
{
    struct rnd *r = (struct rnd *)s;
    int slot;

    if (r->free_head >= 0) {
        slot = r->free_head;
        r->free_head = r->c[slot].next_free;
    } else {
        if (r->nc == r->capc) {
            r->capc = r->capc ? r->capc * 2 : 8;
            r->c = xrealloc(r->c, r->capc * sizeof(*r->c));
        }
        if (r->capc > r->fcap) {
            /* Grow the tree and rebuild it from the contributions. */
            r->fcap = r->capc;
            r->fen = xrealloc(r->fen, (r->fcap + 1) * sizeof(*r->fen));
            memset(r->fen, 0, (r->fcap + 1) * sizeof(*r->fen));
            for (size_t i = 0; i < r->nc; i++)
                if (r->c[i].contrib)
                    fen_add(r, i, (int64_t)r->c[i].contrib);
        }
        slot = (int)r->nc++;
    }
    r->c[slot] = (struct rnd_client){.weight = scale_weight(weight), .id = id, .used = true};
    return slot;
}

static void
rnd_set_active(struct sorter *s, int slot, bool active)
{
    struct rnd *r = (struct rnd *)s;
    struct rnd_client *c = &r->c[slot];

    if (c->active == active)
        return;
    c->active = active;
    if (active)
        r->nactive++;
    else
        r->nactive--;
    if (!c->taken)
        set_contrib(r, slot, active ? c->weight : 0);
}

static void
rnd_remove(struct sorter *s, int slot)
{
    struct rnd *r = (struct rnd *)s;

    rnd_set_active(s, slot, false);
    set_contrib(r, slot, 0);
    r->c[slot].used = false;
    r->c[slot].taken = false;
    r->c[slot].next_free = r->free_head;
    r->free_head = slot;
}

static void
rnd_set_weight(struct sorter *s, int slot, double weight)
{
    struct rnd *r = (struct rnd *)s;
    struct rnd_client *c = &r->c[slot];

    c->weight = scale_weight(weight);
    if (c->active && !c->taken)
        set_contrib(r, slot, c->weight);
}

static void
rnd_update(struct sorter *s, int slot, double share, uint64_t allocations, unsigned tier)
{
}

static void
rnd_begin(struct sorter *s, struct sorter_iter *it)
{
    struct rnd *r = (struct rnd *)s;

    for (size_t i = 0; i < r->ntaken; i++) {
        struct rnd_client *c = &r->c[r->taken[i]];
        if (!c->taken)
            continue;
        c->taken = false;
        set_contrib(r, r->taken[i], c->used && c->active ? c->weight : 0);
    }
    r->ntaken = 0;
    it->pos = 0;
}

static int64_t
rnd_next(struct sorter *s, struct sorter_iter *it)
{
    struct rnd *r = (struct rnd *)s;
    int slot;

    if (r->total == 0)
        return -1;
    slot = fen_find(r, prng_below(&r->prng, r->total));
    if (r->ntaken == r->captaken) {
        r->captaken = r->captaken ? r->captaken * 2 : 16;
        r->taken = xrealloc(r->taken, r->captaken * sizeof(*r->taken));
    }
    r->taken[r->ntaken++] = slot;
    r->c[slot].taken = true;
    set_contrib(r, slot, 0);
    it->pos++;
    return r->c[slot].id;
}

static size_t
rnd_active(const struct sorter *s)
{
    return ((const struct rnd *)s)->nactive;
}

const struct sorter_ops sorter_random = {
    .name = "random",
    .tiered = false,
    .create = rnd_create,
    .destroy = rnd_destroy,
    .add = rnd_add,
    .remove = rnd_remove,
    .set_active = rnd_set_active,
    .set_weight = rnd_set_weight,
    .update = rnd_update,
    .begin = rnd_begin,
    .next = rnd_next,
    .active = rnd_active,
};
