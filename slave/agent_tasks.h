/*
 * The agent's tables of tasks and frameworks (a->tasks, a->frameworks,
 * a->containers) and the status updates of its tasks, on the loop thread.
 *
 * Every change of a task's state goes through atask_update: a fresh status
 * with a uuid, checkpointed with the task in one savepoint (agent_ckpt.h),
 * then queued for reliable delivery (status_updates.h), which sends it once
 * the commit holding it is durable. A task leaves the tables with
 * atask_forget, once it is terminal and every update of it is acknowledged.
 * A framework is in the tables while it has tasks. Failed checkpoint writes
 * are logged and the tables changed all the same: the master hears of the
 * change and a restarted agent at worst reports an older state.
 */
#ifndef AGORA_SLAVE_AGENT_TASKS_H
#define AGORA_SLAVE_AGENT_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

struct agent;
struct agent_framework;
struct agent_task;

/* Writes the table key of a task, "framework_id/task_id", into `out`. */
void atask_key(char *out, size_t len, const char *framework_id, const char *task_id);

/* The task `task_id` of `framework_id`, or NULL (also for invalid ids). */
struct agent_task *atask_get(const struct agent *a, const char *framework_id, const char *task_id);

/* Whether the task's latest state is terminal. */
bool atask_terminal(const struct agent_task *t);

/* The grace period written into the task's launch.json (the executor's own
 * escalation from SIGTERM to SIGKILL): its own or --executor_shutdown_grace_period. */
int64_t atask_launch_grace(const struct agent *a, const struct agent_task *t);

/* The framework `framework_id`, added when missing; its info is replaced with
 * a copy of `info` unless that is NULL. Aborts on out-of-memory. */
struct agent_framework *atask_framework(struct agent *a, const char *framework_id,
                                        const struct msg_framework_info *info);

/*
 * Adds task `info` of `framework_id` (framework info `fw` kept with it) to
 * the tables, with a new container id and its launch time, and checkpoints
 * the framework and the task. Returns the task, in state STAGING, not yet
 * reported. The caller has checked that the ids are valid and new.
 */
struct agent_task *atask_add(struct agent *a, const char *framework_id,
                             const struct msg_framework_info *fw, const struct msg_task_info *info);

/* Adds a task restored from the checkpoint (it has its key) to a->tasks and
 * counts it in its framework's tasks. */
void atask_insert(struct agent *a, struct agent_task *t);

/* Records a new state of `t` (reason, message may be NULL): see the top. */
void atask_update(struct agent *a, struct agent_task *t, enum msg_task_state state,
                  const char *reason, const char *message, const char *source);

/* Records TASK_LOST (REASON_TASK_UNKNOWN) for a task this agent does not have:
 * the answer to a KILL_TASK for it. */
void atask_update_unknown(struct agent *a, const char *framework_id, const char *task_id);

/*
 * Drops a terminal task whose updates are all acknowledged: checkpoint row,
 * container metadata, memory, and its framework when it was the last task.
 * Its sandbox stays for the garbage collector (agent_gc.h), counted from now.
 */
void atask_forget(struct agent *a, struct agent_task *t);

/* Drops framework `framework_id` from the tables and the checkpoint when it
 * has no task left. */
void atask_framework_gc(struct agent *a, const char *framework_id);

/*
 * STATUS_ACK: stops retrying the acknowledged update, removes it from the
 * checkpoint and forgets its task when that was its last pending update and
 * the task is over. An acknowledgement of no update in flight is ignored.
 */
void atask_ack(struct agent *a, const struct msg_status_ack *ack);

/*
 * The master refused this agent's id: kills every task (their containers stay
 * watched; their end finds no task), forgets every task, framework and
 * pending update, clears the checkpoint and the agent id.
 */
void atask_reset(struct agent *a, const char *why);

/* Frees every task and framework of the tables (agent teardown; no checkpoint
 * change). */
void atask_free_all(struct agent *a);

#endif
