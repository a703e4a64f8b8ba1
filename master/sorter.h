/*
 * Sorters: the order in which the allocator visits its clients, either the
 * child roles of one role (the role sorter) or the frameworks of one role (the
 * framework sorter). As in Mesos, the policy sits behind a table of functions
 * chosen once by name (--role_sorter, --framework_sorter):
 *
 *   "drf"     dominant resource fairness: tier 0 before tier 1, then
 *             ascending share / weight, then fewer allocations, then name.
 *             Keeps the clients in a sorted array that each update moves in
 *             place (binary search, one memmove), so iteration is a plain
 *             array walk and nothing is re-sorted per agent.
 *   "random"  a fresh weighted random order for every pass, drawn lazily (a
 *             Fenwick tree over integer weights): a pass that stops after k
 *             clients costs O(k log n). Ignores shares and tiers.
 *
 * The allocator owns the shares; a sorter only orders. Clients are added with
 * a caller id (returned by iteration), a name (not copied: must outlive the
 * client) and a weight, and are addressed afterwards by the slot add()
 * returns. A new client is inactive; iteration yields active clients only.
 *
 * Iteration: begin(), then next() until it returns -1. While a pass is under
 * way the caller must not change that sorter (update, activate, add, remove);
 * the allocator defers its updates to the end of each agent. One pass at a
 * time per sorter. Out of memory aborts (the master is a daemon).
 */
#ifndef AGORA_SORTER_H
#define AGORA_SORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sorter_ops;

/* Every sorter implementation embeds this first. */
struct sorter {
    const struct sorter_ops *ops;
};

struct sorter_iter {
    size_t pos;
};

struct sorter_ops {
    const char *name;
    /* Iteration yields every tier-0 client before any tier-1 client. */
    bool tiered;
    /* A new, empty sorter; `seed` feeds its random choices (if any). */
    struct sorter *(*create)(uint64_t seed);
    void (*destroy)(struct sorter *s);
    /* Adds an inactive client with share 0; returns its slot (>= 0). */
    int (*add)(struct sorter *s, uint32_t id, const char *name, double weight);
    void (*remove)(struct sorter *s, int slot);
    void (*set_active)(struct sorter *s, int slot, bool active);
    void (*set_weight)(struct sorter *s, int slot, double weight);
    /* New share (dominant share, before weighting), allocation count and
     * tier (0 or 1; the allocator puts frameworks with no work in tier 1). */
    void (*update)(struct sorter *s, int slot, double share, uint64_t allocations, unsigned tier);
    void (*begin)(struct sorter *s, struct sorter_iter *it);
    /* The id of the next active client of the pass, or -1 at the end. */
    int64_t (*next)(struct sorter *s, struct sorter_iter *it);
    /* Number of active clients. */
    size_t (*active)(const struct sorter *s);
};

extern const struct sorter_ops sorter_drf;
extern const struct sorter_ops sorter_random;

/* The sorter called `name` ("drf" or "random"; NULL or "" means "drf"), or
 * NULL when there is none by that name. */
const struct sorter_ops *sorter_find(const char *name);

static inline struct sorter *
sorter_create(const struct sorter_ops *ops, uint64_t seed)
{
    return ops->create(seed);
}

static inline void
sorter_destroy(struct sorter *s)
{
    if (s != NULL)
        s->ops->destroy(s);
}

static inline int
sorter_add(struct sorter *s, uint32_t id, const char *name, double weight)
{
    return s->ops->add(s, id, name, weight);
}

static inline void
sorter_remove(struct sorter *s, int slot)
{
    s->ops->remove(s, slot);
}

static inline void
sorter_set_active(struct sorter *s, int slot, bool active)
{
    s->ops->set_active(s, slot, active);
}

static inline void
sorter_set_weight(struct sorter *s, int slot, double weight)
{
    s->ops->set_weight(s, slot, weight);
}

static inline void
sorter_update(struct sorter *s, int slot, double share, uint64_t allocations, unsigned tier)
{
    s->ops->update(s, slot, share, allocations, tier);
}

static inline void
sorter_begin(struct sorter *s, struct sorter_iter *it)
{
    s->ops->begin(s, it);
}

static inline int64_t
sorter_next(struct sorter *s, struct sorter_iter *it)
{
    return s->ops->next(s, it);
}

static inline size_t
sorter_active(const struct sorter *s)
{
    return s->ops->active(s);
}

#endif
