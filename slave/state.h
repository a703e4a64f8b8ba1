/*
 * The agent's checkpoint: everything it needs to carry on after being killed
 * and restarted with the same --work_dir. One SQLite file,
 * <work_dir>/meta/agent.db (synchronous=FULL: a checkpointed update survives a
 * power loss), with
 *
 *   agent       the agent id the master gave (key "agent_id")
 *   frameworks  framework_id -> framework_info
 *   tasks       (framework_id, task_id) -> task_info, latest status, container
 *               id, executor pid and its start time (from /proc/PID/stat, so a
 *               reused pid is not mistaken for our executor), kill requested
 *   updates     the status updates not yet acknowledged, in the order they
 *               were generated (seq), each with its uuid
 *
 * Nested protocol structs are stored as blobs in the wire encoding (msg.h), so
 * the checkpoint always holds what the master would receive.
 *
 * Callers group the changes of one event between state_begin() and
 * state_commit() so that the checkpoint moves from one consistent state to the
 * next; each write function also works outside a transaction (autocommit).
 * Every function returns 0 or a negative AG_E* code and logs the failure.
 */
#ifndef AGORA_SLAVE_STATE_H
#define AGORA_SLAVE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ids.h"
#include "msg.h"

struct state;

/* One task as checkpointed. */
struct state_task {
    struct msg_task_info info;     /* info.framework_id and info.task_id are the key */
    struct msg_task_status status; /* latest status; state STAGING before the first */
    char container_id[AG_ID_MAX];  /* "" until the container is created */
    int64_t pid;                   /* agora-executor's pid, 0 before it is spawned */
    uint64_t pid_start;            /* its start time in clock ticks since boot */
    bool killing;                  /* a kill was requested */
};

/* Everything state_load() returns. */
struct state_snapshot {
    char agent_id[AG_ID_MAX]; /* "" when never registered */
    struct msg_framework_info *frameworks;
    size_t nframeworks;
    struct state_task *tasks;
    size_t ntasks;
    struct msg_task_status *updates; /* unacknowledged updates, oldest first */
    size_t nupdates;
};

/* Opens (creating if needed) the checkpoint at `path`. Returns 0 and sets *out,
 * or a negative code with a message in `err` (nothing left open). */
int state_open(struct state **out, const char *path, char *err, size_t errlen);

/* Closes the checkpoint, rolling back an open transaction. Accepts NULL. */
void state_close(struct state *st);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK (see db.h). */
int state_begin(struct state *st);
int state_commit(struct state *st);
int state_rollback(struct state *st);

/* Inside a transaction, one event's changes: SAVEPOINT, then RELEASE to keep
 * them or ROLLBACK TO (and release) to undo only them. */
int state_savepoint(struct state *st);
int state_release(struct state *st);
int state_rollback_to(struct state *st);

/* Stores the agent id ("" forgets it). */
int state_set_agent_id(struct state *st, const char *agent_id);

/* Inserts or replaces a framework (keyed by info->framework_id). */
int state_put_framework(struct state *st, const struct msg_framework_info *info);

/* Removes a framework; 0 also when it was not there. */
int state_del_framework(struct state *st, const char *framework_id);

/* Inserts or replaces a task (keyed by framework and task id). */
int state_put_task(struct state *st, const struct state_task *t);

/* Removes a task; 0 also when it was not there. Its updates stay. */
int state_del_task(struct state *st, const char *framework_id, const char *task_id);

/* Appends an unacknowledged update (status->uuid must be unique: -AG_EEXIST). */
int state_add_update(struct state *st, const struct msg_task_status *status);

/* Removes the update with `uuid`; 0 also when it was not there. */
int state_del_update(struct state *st, const char *uuid);

/* Forgets everything: agent id, frameworks, tasks and updates. */
int state_reset(struct state *st);

/* Reads the whole checkpoint into `out` (zeroed first; release it with
 * state_snapshot_fini, also after a failure). A row whose blob cannot be
 * decoded is skipped with a warning rather than failing the recovery. */
int state_load(struct state *st, struct state_snapshot *out);

/* Frees what a snapshot holds and zeroes it. Accepts NULL. */
void state_snapshot_fini(struct state_snapshot *s);

/* Initializes / finalizes a state_task (fini frees what it holds, re-inits). */
void state_task_init(struct state_task *t);
void state_task_fini(struct state_task *t);

#endif
