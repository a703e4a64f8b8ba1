/*
 * deploy: what an app needs now. A pure function (no I/O, no clock) from an
 * app's target (instance count, upgrade strategy, kind of deployment in
 * progress) and a view of its tasks to the tasks to start and the tasks to
 * kill this round. The daemon runs it after every change and on a tick; it
 * converges by repetition, so it never needs to remember steps.
 *
 * Definitions over the app's non-terminal tasks:
 *   killing    a kill was sent; occupies capacity until it ends
 *   inactive   unreachable for longer than inactiveAfterSeconds: replaced
 *   live       neither killing nor inactive
 *   ready      live, RUNNING, reachable, and healthy when the app has a
 *              health check
 *   current    launched with the app's current configuration
 *
 * Without a deployment, and for scale/start deployments (CONV_KEEP):
 *   target = instances + min(#unhealthy, surge), surge = max(1,
 *   floor(instances * maximumOverCapacity)); an unhealthy task is replaced
 *   surge-first: its replacement starts, and it is killed (one kill token
 *   each, the global rate limit) only once ready tasks outnumber what the
 *   healthy ones alone give (ready >= instances - #unhealthy + 1, and at least
 *   one ready: a check that fails everywhere kills nothing). Beyond
 *   target, tasks are killed in this order: returned from inactive, not yet
 *   running, unhealthy, then killSelection by launch order. Below it, the
 *   missing ones are started.
 *   Done (for a deployment) when exactly `instances` tasks are live, all
 *   ready, and none is being killed.
 *
 * Upgrades and restarts (CONV_REPLACE): with minHealthy =
 * ceil(instances * minimumHealthCapacity) and maxCapacity =
 * floor(instances * (1 + maximumOverCapacity)):
 *   old tasks that are not ready are killed at once; new tasks found
 *   unhealthy are killed (and reported, for automatic rollback); a ready old
 *   task is killed only while the ready count stays >= minHealthy; new tasks
 *   start while (live + killing) < maxCapacity and new < instances. When no
 *   move is possible and nothing is in flight (Marathon's rule for
 *   minimumHealthCapacity 1 with maximumOverCapacity 0) one new task starts
 *   beyond maxCapacity. Done when no old task is left, `instances` new tasks
 *   are ready and nothing is being killed.
 *
 * Stopping (CONV_STOP): every task is killed; done when none is left apart
 * from inactive ones.
 */
#ifndef AGORA_SERVICES_DEPLOY_H
#define AGORA_SERVICES_DEPLOY_H

#include <stdbool.h>
#include <stddef.h>

enum conv_kind { CONV_KEEP, CONV_REPLACE, CONV_STOP };

enum conv_reason {
    CONV_KILL_NONE = 0,
    CONV_KILL_SCALE = 1,     /* more tasks than wanted */
    CONV_KILL_UPGRADE = 2,   /* old version replaced */
    CONV_KILL_UNHEALTHY = 3, /* failed its health check */
    CONV_KILL_STOP = 4,      /* app removed */
    CONV_KILL_USER = 5,      /* asked through the API */
    CONV_KILL_UNKNOWN = 6,   /* not (or no longer) known */
};

struct conv_task {
    bool current;     /* launched with the current configuration */
    bool killing;     /* kill sent, not yet terminal */
    bool running;     /* TASK_RUNNING */
    bool unreachable; /* UNREACHABLE or UNKNOWN: its agent is away */
    bool inactive;    /* unreachable for longer than inactiveAfterSeconds */
    bool returned;    /* was inactive and came back: the first to go */
    int healthy;      /* -1 no verdict yet, 0 unhealthy, 1 healthy */
    double staged_at; /* launch order for killSelection */
};

struct conv_in {
    int instances;
    double min_health, max_over;
    bool youngest_first;
    bool has_checks;
    bool replace_unhealthy; /* false when maxConsecutiveFailures is 0 */
    enum conv_kind kind;
    int kill_tokens; /* unhealthy kills allowed now */
};

struct conv_kill {
    size_t idx; /* into the task array */
    enum conv_reason reason;
};

struct conv_out {
    int launch;              /* tasks of the current version to start now */
    struct conv_kill *kills; /* caller's array of at least n entries */
    size_t nkills;
    int tokens_used;
    int unhealthy_new_killed; /* current-version tasks killed as unhealthy (rollback signal) */
    bool done;
};

/* Runs one round over `n` tasks (non-terminal ones only). Fills `out`
 * (whose `kills` the caller provides). */
void conv_run(const struct conv_in *in, const struct conv_task *t, size_t n, struct conv_out *out);

#endif
