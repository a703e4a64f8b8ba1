/*
 * The allocator: which framework is offered which resources, as Mesos'
 * hierarchical allocator decides it. It is a pure module: the master feeds it
 * agents, frameworks, roles and what happened to offered resources, and asks
 * it to allocate; it never does I/O and never reads a clock (the caller passes
 * `now`, in seconds, for offer filters). Everything runs on the master's loop
 * thread; nothing here is thread-safe. See docs/allocation.md.
 *
 * Policy:
 *  - Hierarchical DRF: roles form a tree ("eng/web" is a child of "eng");
 *    each agent goes to roles in the role sorter's order (level by level) and,
 *    inside a role, to frameworks in the framework sorter's order. Role
 *    weights divide shares. A framework may subscribe to several roles.
 *  - Quota per role: a guarantee (offered first, and unallocated unreserved
 *    resources are held back for unmet guarantees: "headroom") and a limit
 *    (a role's consumption = its reservations + its unreserved allocations,
 *    subtree included, never exceeds it). Scalars only.
 *  - Reservations (static in the agent's total, or dynamic through
 *    alloc_update_available / alloc_update_allocation) are offered only to
 *    their role and its descendants.
 *  - Offer filters: a framework that returns resources with refuse_seconds > 0
 *    is not offered that agent again until now + refuse_seconds, until it
 *    revives, or until resources on the agent are freed by anything else than
 *    a filtered return (then the agent has more than was refused).
 *  - SUPPRESS/REVIVE per framework role; --min_allocatable_resources;
 *    draining and deactivated agents get no offers.
 *  - No starvation by decliners: a framework (in a role) that declines a
 *    whole offer with a filter is "refusing": offers no larger than what it
 *    declined go first to others. If the declined offer could have held the
 *    least it ever kept from an offer (about one task), it is "idle" (no more
 *    work) and gets only what nobody else takes. Either state ends when it
 *    keeps part of an offer, revives, or gets resources back without a filter
 *    (a task ended). Plain DRF order otherwise.
 *
 * Offered resources count as allocated from the moment they are emitted (as
 * in Mesos): tasks launched from an offer need no call; what a framework
 * declines, an offer that times out or is rescinded, and resources of tasks
 * that end go back through alloc_recover_resources().
 *
 * Ids (agents, frameworks) are strings shorter than 64 bytes; roles are valid
 * Mesos role names. Out of memory aborts the process (the allocator lives in
 * the master daemon); every other failure is a negative -AG_E* return that
 * leaves the allocator unchanged.
 */
#ifndef AGORA_ALLOCATOR_H
#define AGORA_ALLOCATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "resources.h"

/* At most this many distinct scalar resource names take part in shares,
 * quota and min_allocatable_resources (others are still offered). */
#define ALLOC_MAX_SCALARS 8

/* The Mesos default for --min_allocatable_resources. */
#define ALLOC_DEFAULT_MIN_ALLOCATABLE "cpus:0.01|mem:32"

struct alloc;

struct alloc_config {
    const char *role_sorter;      /* --role_sorter: "drf" (NULL: "drf") or "random" */
    const char *framework_sorter; /* --framework_sorter: "drf" (NULL: "drf") or "random" */
    const char *weights;          /* --weights: "eng=2,eng/web=1.5"; NULL or "" for none */
    const char *min_allocatable;  /* --min_allocatable_resources: alternatives separated by
                                     '|', each a list of scalars ("cpus:0.01|mem:32"); NULL
                                     for that Mesos default, "" for no minimum */
    uint64_t seed;                /* agent shuffling and the random sorter */
};

/* Resources already in use on an agent that (re-)registers. */
struct alloc_used {
    const char *framework_id;
    const char *role; /* the role the resources are allocated to */
    const struct resources *resources;
};

/*
 * Called by alloc_run() for each offer: `offered` (valid during the call
 * only) is now allocated to `framework_id` in `role` on `agent_id`. The
 * callback must not call into the allocator. One run may call it several
 * times for the same framework and agent (for example in two roles).
 */
typedef void (*alloc_emit_fn)(void *arg, const char *framework_id, const char *agent_id,
                              const char *role, const struct resources *offered);

/* ---- life cycle ---- */

/* Creates an allocator. Returns 0, or -AG_EINVAL with a message in `err` (if
 * not NULL) for an unknown sorter, bad weights or bad min_allocatable text. */
int alloc_create(struct alloc **out, const struct alloc_config *cfg, char *err, size_t errlen);

/* Frees the allocator and everything it holds. Accepts NULL. */
void alloc_destroy(struct alloc *a);

/* ---- agents ---- */

/*
 * Adds an agent with `total` resources (reservations included), of which the
 * `nused` entries of `used` are already allocated (tasks and executors found
 * on re-registration; frameworks not yet added are tracked until they are).
 * Returns 0, -AG_EEXIST, -AG_EINVAL (bad id or role), or -AG_ERANGE when the
 * used resources do not fit in `total`.
 */
int alloc_add_agent(struct alloc *a, const char *agent_id, const struct resources *total,
                    const struct alloc_used *used, size_t nused);

/* Removes an agent; what was allocated on it is forgotten (the master rescinds
 * and loses those offers and tasks itself). 0 or -AG_ENOENT. */
int alloc_remove_agent(struct alloc *a, const char *agent_id);

/* Replaces an agent's total. 0, -AG_ENOENT, or -AG_ERANGE when the resources
 * allocated on it do not fit in the new total. Clears the agent's filters. */
int alloc_update_agent_total(struct alloc *a, const char *agent_id, const struct resources *total);

/* A draining agent gets no offers (its allocations stay). 0 or -AG_ENOENT. */
int alloc_set_agent_draining(struct alloc *a, const char *agent_id, bool draining);

/* An inactive (disconnected) agent gets no offers. 0 or -AG_ENOENT. */
int alloc_set_agent_active(struct alloc *a, const char *agent_id, bool active);

/* Calls `fn` for each allocation on the agent: resources allocated to a
 * framework in a role (offers outstanding and resources in use alike). The
 * pointers are valid during the call only; `fn` must not call into the
 * allocator. 0 or -AG_ENOENT. */
int alloc_foreach_allocation(const struct alloc *a, const char *agent_id,
                             void (*fn)(void *arg, const char *framework_id, const char *role,
                                        const struct resources *r),
                             void *arg);

/* Points `*total` and `*available` (either may be NULL) at the agent's total
 * and unallocated resources, valid until the next call that changes the
 * allocator. 0 or -AG_ENOENT. */
int alloc_agent_resources(const struct alloc *a, const char *agent_id,
                          const struct resources **total, const struct resources **available);

/*
 * Converts unallocated resources `from` on the agent into `to` (same
 * quantities), e.g. an operator RESERVE ("cpus:2" -> "cpus(web):2") or
 * UNRESERVE. Returns 0, -AG_ENOENT, -AG_EINVAL (quantities differ, bad role),
 * or -AG_ERANGE when `from` is not available on the agent.
 */
int alloc_update_available(struct alloc *a, const char *agent_id, const struct resources *from,
                           const struct resources *to);

/* ---- frameworks ---- */

/*
 * Adds a framework subscribed to `nroles` roles, of which `suppressed` (may
 * overlap, or be NULL) start suppressed. Returns 0, -AG_EEXIST, or -AG_EINVAL
 * (bad id, no role, invalid role name).
 */
int alloc_add_framework(struct alloc *a, const char *framework_id, const char *const *roles,
                        size_t nroles, const char *const *suppressed, size_t nsuppressed);

/* Removes a framework; its allocations return to their agents (run an
 * allocation afterwards: those agents are pending). 0 or -AG_ENOENT. */
int alloc_remove_framework(struct alloc *a, const char *framework_id);

/* Replaces a framework's roles and suppressed roles (UPDATE_FRAMEWORK).
 * Allocations in roles it leaves stay accounted to those roles until they are
 * recovered. 0, -AG_ENOENT or -AG_EINVAL. */
int alloc_update_framework_roles(struct alloc *a, const char *framework_id,
                                 const char *const *roles, size_t nroles,
                                 const char *const *suppressed, size_t nsuppressed);

/* An inactive (disconnected) framework gets no offers. 0 or -AG_ENOENT. */
int alloc_set_framework_active(struct alloc *a, const char *framework_id, bool active);

/* SUPPRESS: no more offers to the framework in `roles` (all its roles when
 * nroles is 0). 0, -AG_ENOENT, or -AG_EINVAL for a role it is not in. */
int alloc_suppress(struct alloc *a, const char *framework_id, const char *const *roles,
                   size_t nroles);

/* REVIVE: undoes SUPPRESS for `roles` (all when nroles is 0) and clears all
 * the framework's offer filters; every agent becomes pending. Returns as
 * alloc_suppress. */
int alloc_revive(struct alloc *a, const char *framework_id, const char *const *roles,
                 size_t nroles);

/* ---- allocated resources ---- */

/*
 * Gives back `r`, allocated to the framework in `role` (NULL: the framework's
 * only role holding resources on that agent) on the agent: a decline, an
 * offer timeout or rescind, a task or executor that ended. With
 * refuse_seconds > 0 the framework is not offered this agent again before
 * now + refuse_seconds (it replaces an older filter for that pair); with 0
 * every filter on the agent is cleared (it now has more to offer). The agent
 * becomes pending. Returns 0, -AG_ENOENT (unknown framework or agent, e.g.
 * already removed), -AG_EINVAL (role ambiguous) or -AG_ERANGE (`r` is not
 * allocated to that framework and role there).
 */
int alloc_recover_resources(struct alloc *a, const char *framework_id, const char *agent_id,
                            const char *role, const struct resources *r, double refuse_seconds,
                            double now);

/*
 * Converts resources `from`, allocated to the framework in `role` on the
 * agent, into `to` (same quantities): RESERVE/UNRESERVE (and other
 * operations that reshape resources) accepted from an offer. The agent's
 * total changes accordingly. Returns 0, -AG_ENOENT, -AG_EINVAL or -AG_ERANGE.
 */
int alloc_update_allocation(struct alloc *a, const char *framework_id, const char *agent_id,
                            const char *role, const struct resources *from,
                            const struct resources *to);

/* ---- policy ---- */

/* Sets a role's weight (> 0; default 1), creating the role if needed.
 * 0 or -AG_EINVAL. */
int alloc_set_weight(struct alloc *a, const char *role, double weight);

/*
 * Sets a role's quota: `guarantee` and `limit` are unreserved scalars (NULL
 * or empty: none); a limit below the guarantee for some name is refused.
 * Both NULL removes the quota. Every agent becomes pending. Returns 0,
 * -AG_EINVAL, or -AG_ENOSPC (more than ALLOC_MAX_SCALARS scalar names).
 */
int alloc_set_quota(struct alloc *a, const char *role, const struct resources *guarantee,
                    const struct resources *limit);

/* ---- allocation ---- */

/*
 * Allocates: expires filters at `now`, then visits the `n` agents of
 * `agent_ids` (NULL: all agents) in a seeded random order and offers each
 * agent's available resources, quota guarantees first, then by hierarchical
 * DRF. Calls `emit` once per offer. Unknown ids are skipped. Returns the
 * number of offers made, or -AG_ESTATE when called from inside `emit`.
 * Agents it visits are no longer pending.
 */
int alloc_run(struct alloc *a, double now, const char *const *agent_ids, size_t n,
              alloc_emit_fn emit, void *arg);

/* Runs alloc_run() over the pending agents only (all agents after an event
 * that concerns every agent: revive, new framework, quota change...). The
 * master calls it once per loop turn when alloc_pending() is true, and runs
 * alloc_run(all) every --allocation_interval for expired filters. */
int alloc_run_pending(struct alloc *a, double now, alloc_emit_fn emit, void *arg);

/* True when some agent is pending. */
bool alloc_pending(const struct alloc *a);

/* A time no later than the earliest offer filter expiry (INFINITY when there
 * is no filter): when a full run may find newly unfiltered agents. */
double alloc_next_filter_expiry(const struct alloc *a);

/* ---- inspection (/roles, /weights, /quota) ---- */

struct alloc_role_info {
    const char *role;
    double weight;
    bool weight_set;                   /* weight given by --weights or alloc_set_weight */
    const struct resources *guarantee; /* NULL when none */
    const struct resources *limit;     /* NULL when none */
    const struct resources *allocated; /* scalars allocated to the role and its subroles */
    const struct resources *reserved;  /* scalars reserved for the role and its subroles */
    const struct resources *consumed;  /* quota consumption: reserved + unreserved allocated */
    const char *const *frameworks;     /* frameworks subscribed to the role itself */
    size_t nframeworks;
};

/* Fills `out` for `role`; the pointers stay valid until the next call into
 * the allocator. 0 or -AG_ENOENT. */
int alloc_get_role(struct alloc *a, const char *role, struct alloc_role_info *out);

/* Calls `fn` for every known role (roles with frameworks, allocations,
 * reservations, a weight or a quota, and their ancestors), parents before
 * children. `info` is valid during the call only. */
void alloc_foreach_role(struct alloc *a, void (*fn)(void *arg, const struct alloc_role_info *info),
                        void *arg);

struct alloc_stats {
    size_t agents;
    size_t frameworks;
    size_t roles;
    size_t filters;         /* offer filters in place */
    uint64_t offers;        /* offers emitted since creation */
    uint64_t runs;          /* alloc_run calls */
    uint64_t agent_visits;  /* agents visited by those runs */
    uint64_t second_passes; /* agent visits that needed the leftover pass */
    uint64_t steps;         /* framework entries examined by those runs */
};

void alloc_get_stats(const struct alloc *a, struct alloc_stats *out);

#endif
