/*
 * planner: where a task of an app may go. Pure functions of their arguments
 * (no I/O, no clock), so they are tested and benchmarked on their own.
 *
 * An offer is filled task by task: plan_fit() checks the app's constraints
 * against the tasks it already has (plus those placed earlier in the same
 * round), then takes the resources and ports the task needs out of what is
 * left of the offer. Resources come from roles the app accepts
 * (acceptedResourceRoles, else the given defaults), reserved ones first.
 *
 * Constraint semantics (Marathon's), for field F = "hostname" or an agent
 * attribute, V its value on the offered agent:
 *   UNIQUE        no task of the app has the same V                (V needed)
 *   CLUSTER [x]   V == x, or without x the V of the app's tasks so far
 *   GROUP_BY [n]  V's count is the smallest among the values known: those of
 *                 the app's tasks and of every agent seen in offers (`known`),
 *                 counting values without tasks as 0, and as 0 too while
 *                 fewer than n values are known
 *   LIKE re       V matches re (whole value)                       (V needed)
 *   UNLIKE re     V does not match re (an agent without F passes)
 *   MAX_PER n     fewer than n tasks of the app have V             (V needed)
 *   IS x          V == x (numerically for scalar attributes)
 */
#ifndef AGORA_SERVICES_PLANNER_H
#define AGORA_SERVICES_PLANNER_H

#include "app.h"
#include "attributes.h"
#include "resources.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What is left of an offer. */
struct plan_agent {
    const char *hostname;
    const struct attributes *attrs;
    struct resources avail;
};

/* Where one task of the app already runs. */
struct plan_placed {
    const char *hostname;
    const struct attributes *attrs;
};

/* What one placed task takes. Initialize with plan_fit_init, release with plan_fit_fini. */
struct plan_fit {
    struct resources res;
    uint32_t ports[APP_MAX_PORTS];
    size_t nports;
};

/*
 * Seeds the choice of ports: a task that does not require given ports gets
 * free ones chosen at random among those the offer has (as Marathon does).
 * Tests seed it for repeatable runs; agora-services seeds it once at start.
 */
void plan_seed(uint64_t seed);

void plan_fit_init(struct plan_fit *f);
void plan_fit_fini(struct plan_fit *f);

/*
 * Whether the app's constraints allow one more task on an agent with this
 * hostname and these attributes, given the app's `placed` tasks and the
 * agents `known` from offers (may be NULL; GROUP_BY only). When not,
 * `why` (may be NULL) points to a static reason.
 */
bool plan_constraints_ok(const struct app_spec *s, const char *hostname,
                         const struct attributes *attrs, const struct plan_placed *placed,
                         size_t nplaced, const struct plan_placed *known, size_t nknown,
                         const char **why);

/*
 * Places one task of `s` on `a`: constraints, then cpus, mem, disk and ports
 * from roles in `s->roles` (or `default_roles`, NULL-terminated, when the app
 * names none). On success returns 0, fills `fit` (replacing its contents) and
 * takes its resources out of `a->avail`. Returns -AG_ENOSPC when it does not
 * fit (constraints or resources), with `a` and `fit` unchanged apart from
 * `why`, or -AG_ENOMEM.
 */
int plan_fit(const struct app_spec *s, const char *const *default_roles, struct plan_agent *a,
             const struct plan_placed *placed, size_t nplaced, const struct plan_placed *known,
             size_t nknown, struct plan_fit *fit, const char **why);

#endif
