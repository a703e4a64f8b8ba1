/*
 * Running the agent's tasks, on the loop thread: RUN_TASK (sandbox, launch
 * through the containerizer), KILL_TASK and SHUTDOWN_FRAMEWORK (SIGTERM now
 * through the executor, SIGKILL from the tick once the grace period is over),
 * resizing, and the containerizer's and health checker's events, each turned
 * into the task's next status update (agent_tasks.h). The task states and the
 * function that moves each are drawn in agent.h.
 */
#ifndef AGORA_SLAVE_AGENT_LAUNCH_H
#define AGORA_SLAVE_AGENT_LAUNCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent;
struct ctr_callbacks;
struct health_callbacks;
struct msg_run_task;

/* Container events (ctr_open's callbacks): TASK_RUNNING, then the terminal
 * state from how the container ended. */
extern const struct ctr_callbacks launch_ctr_callbacks;

/* Health verdicts (health_open's callbacks): a RUNNING update that carries it. */
extern const struct health_callbacks launch_health_callbacks;

/*
 * RUN_TASK: adds the task (STAGING, checkpointed), creates its sandbox and
 * launches its container: TASK_STARTING, or TASK_FAILED
 * (REASON_CONTAINER_LAUNCH_FAILED) with the reason. A task with invalid ids
 * or one the agent already has is ignored (logged).
 */
void launch_task(struct agent *a, struct msg_run_task *rt);

/*
 * KILL_TASK: asks the task's executor to stop it (TASK_KILLING once) and
 * plans the SIGKILL after `grace_ms` (< 0: the task's own grace period),
 * keeping the earliest deadline. An unknown task is answered TASK_LOST; one
 * that is over is ignored.
 */
void launch_kill(struct agent *a, const char *framework_id, const char *task_id, int64_t grace_ms);

/* SHUTDOWN_FRAMEWORK: kills every live task of the framework; a framework
 * without tasks is forgotten at once. */
void launch_shutdown_framework(struct agent *a, const char *framework_id);


/* The user of a task that names none, nor its framework: --default_task_user
 * with --switch_user on an agent running as root; NULL (the agent's own user)
 * otherwise. */
const char *launch_default_user(const struct agent *a);

/*
 * What the master is told for its run_tasks rules: the name of the user a task
 * naming none runs as (the agent's own user's name, or its uid in decimal when
 * it has no name) in `buf`, and whether every task runs as that user whatever
 * it names (--switch_user=false, or an agent not running as root). Returns buf.
 */
const char *launch_task_user(const struct agent *a, char *buf, size_t len, bool *only);

/*
 * --task_firewall: installs the agent's nftables table (task_firewall.h) for
 * agent HTTP port `port`, fencing the users of the tasks recovered; without
 * the flag, removes a table an earlier run left. Returns 0 or an error with
 * a message in `err`.
 */
int launch_firewall_start(struct agent *a, int port, char *err, size_t errlen);

/* From the tick: SIGKILL to the tasks whose kill deadline has passed. */
void launch_tick(struct agent *a, int64_t now);

#endif
