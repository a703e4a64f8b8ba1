/*
 * The agent's checkpoint: everything it needs to carry on after being killed
 * and restarted with the same --work_dir. One SQLite file,
 * <work_dir>/meta/agent.db (a checkpointed update survives a power loss once
 * its commit is synced: see below), with
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
 *
 * Durability is separate from commit, so that the loop never waits for the
 * disk: the database runs with synchronous=NORMAL (a commit writes the WAL
 * but does not fsync it; SQLite still synchronizes its checkpoints of the WAL
 * into the database file), and state_sync() fsyncs the WAL (fdatasync) on a
 * thread of its own. Commits are numbered: state_seq() names the commit that
 * will contain the writes made so far, state_durable() the last one on disk.
 * One sync covers every commit made before it started (group commit); while
 * one is in flight the next waits for it. Together this gives what
 * synchronous=FULL gives (a commit is on disk once its sync has completed)
 * without blocking the caller. Anything that must not be seen before it is
 * durable (status updates) waits for its commit's number (status_updates.h).
 * If the WAL cannot be opened, the checkpoint falls back to synchronous=FULL.
 */
#ifndef AGORA_SLAVE_STATE_H
#define AGORA_SLAVE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "ids.h"
#include "msg.h"

struct state;

/* Called on the loop thread when the commits up to `durable` are on disk. */
typedef void (*state_durable_cb)(void *arg, uint64_t durable);

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

/* Closes the checkpoint, rolling back an open transaction, after syncing what
 * was committed. A sync in flight finishes on the loop without calling back.
 * Accepts NULL. */
void state_close(struct state *st);

/* The number of the commit that makes the writes made so far durable (the
 * open transaction's, when there is one), and the last durable commit. */
uint64_t state_seq(const struct state *st);
uint64_t state_durable(const struct state *st);

/* Starts making every commit so far durable on the syncer thread (its
 * completion is delivered on `loop`) unless a sync is in flight (when it ends it starts the next
 * one by itself). `done` is called on the loop with the new durable number after each sync; it is
 * kept for later syncs. A failed fsync is logged and counted as done, as a failed commit is.
 * Returns 0 or a negative code. */
int state_sync(struct state *st, uv_loop_t *loop, state_durable_cb done, void *arg);

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
