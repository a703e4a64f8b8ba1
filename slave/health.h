/*
 * Health checks, run by the agent beside each task that has one (Mesos
 * semantics and defaults: delay 15 s, interval 10 s, timeout 20 s, 3
 * consecutive failures, grace period 10 s).
 *
 * Each check is a timer on the agent's loop: after `delay_s`, then every
 * `interval_s`, it spawns one probe (`agora-executor --probe`, see
 * health_probe.h), which runs the COMMAND inside the container's namespaces
 * or connects to 127.0.0.1:PORT in the container's network for HTTP and TCP.
 * A probe still running after `timeout_s` is killed and counts as a failure;
 * a new probe never starts while the previous one runs.
 *
 * Verdict (health_judge, a pure function):
 *
 *   UNKNOWN --success--> HEALTHY --`consecutive_failures` failures in a row--> UNHEALTHY
 *      |                    ^                                                     |
 *      |                    +------------------------success----------------------+
 *      +--`consecutive_failures` failures in a row, counted once the grace period is
 *         over or after a first success--> UNHEALTHY
 *
 * Every change of verdict is reported through on_verdict (the agent sends a
 * TASK_RUNNING update with `healthy` set). The agent does not kill unhealthy
 * tasks itself: the framework decides (it may start a replacement first).
 *
 * Threads: loop thread only. Functions return 0 or a negative AG_E* code.
 */
#ifndef AGORA_SLAVE_HEALTH_H
#define AGORA_SLAVE_HEALTH_H

#include <stdbool.h>
#include <uv.h>

#include "msg.h"

enum health_verdict { HEALTH_UNKNOWN = -1, HEALTH_UNHEALTHY = 0, HEALTH_HEALTHY = 1 };

struct health_state {
    enum health_verdict verdict;
    int consecutive_failures;
    bool ever_healthy;
};

/*
 * Feeds the result of one probe, `since_start_s` seconds after the task
 * started. Returns true when the verdict changed (read it in s->verdict).
 */
bool health_judge(struct health_state *s, const struct msg_health_check *hc, bool ok,
                  double since_start_s);

struct health_callbacks {
    void (*on_verdict)(void *arg, const char *container_id, bool healthy, const char *why);
};

struct health;

/* `executor` is agora-executor's path (borrowed); `cb` and `arg` borrowed. */
int health_open(struct health **out, uv_loop_t *loop, const char *executor,
                const struct health_callbacks *cb, void *arg);

/* Stops every check (kills running probes). Memory is released from the loop
 * once the handles are closed. Accepts NULL. */
void health_close(struct health *h);

/*
 * Starts checking container `container_id`, whose first process is `pid`;
 * `port` is the resolved port for HTTP and TCP; `started` the task's start in
 * wall-clock seconds. -AG_EEXIST when already checked, -AG_EINVAL for an
 * unknown type or a missing port or command.
 */
int health_start(struct health *h, const char *container_id, const struct msg_health_check *hc,
                 int pid, int port, double started);

/* Stops checking a container (no-op when not checked). */
void health_stop(struct health *h, const char *container_id);

/* Number of containers checked. */
size_t health_count(const struct health *h);

#endif
