/*
 * The accounting recorder: a durable record of who used what, for the report
 * engine (report.h) and `agora report`.
 *
 * The master calls the acct_* event functions on its loop thread. Each one
 * only appends a copy of the event to an in-memory batch (O(1) amortized, a
 * mutex held for the append, never held across I/O). A writer thread with its
 * own database handle (adb.h: an SQLite file, or a PostgreSQL database that
 * several masters share) takes the whole batch by swapping it for an empty
 * one and applies it in one transaction, every second or as soon as
 * ACCT_BATCH_EVENTS events are waiting, so the loop never waits for the
 * database. Events count as written only once the transaction committed.
 *
 * What is recorded (tables in schema.h, explained in docs/accounting.md):
 *   tasks     one row per allocation interval of a task: framework, role,
 *             principal, app id, agent, scalar resources, start, end (NULL
 *             while running), final state, and usage totals so far;
 *   usage     usage samples per task: cpu time and the integral of resident
 *             memory over each interval between samples, cumulative totals
 *             at its end, and the peak memory so far. Raw samples older than
 *             `raw_retention` (counted back from the newest event time) are
 *             rolled up into one row per task and hour by the writer;
 *   capacity  one row per interval during which an agent's total stayed the
 *             same (NULL end while current).
 *
 * Times are the master's wall clock in seconds (as master->now), stored as
 * whole milliseconds. Scalars are stored in milli-units, as resources.h keeps
 * them (summed over roles). Only cpus, mem, disk and gpus are accounted.
 *
 * Event rules applied by the writer:
 *   - acct_task_start for a (framework, task) whose interval is still open is
 *     ignored (agents re-registering after a master failover report their
 *     tasks again), so the interval keeps its first start.
 *   - acct_task_end closes the open interval; without one it is ignored,
 *     except that it replaces the state of an interval closed as TASK_LOST by
 *     its agent's removal (so the master's own verdict wins).
 *   - acct_agent_capacity with an empty total (agent removed) closes the
 *     agent's capacity interval and the open intervals of its tasks (state
 *     TASK_LOST), so allocation never outlives capacity.
 *   - acct_usage converts the agent's cumulative cpu seconds into deltas per
 *     interval (a counter that goes backwards is taken as restarted); samples
 *     not newer than the previous one are ignored; a sample after the task's
 *     end is clipped to the end.
 *
 * Bounds: at most ACCT_MAX_PENDING events wait in memory; beyond that usage
 * samples are dropped (and counted), task and capacity events are always kept.
 */
#ifndef AGORA_ACCT_RECORDER_H
#define AGORA_ACCT_RECORDER_H

#include <stddef.h>
#include <stdint.h>

#include "resources.h"
#include "schema.h"

#define ACCT_FLUSH_MS 1000       /* the writer commits at least this often */
#define ACCT_BATCH_EVENTS 4096   /* ... or as soon as this many events wait */
#define ACCT_MAX_PENDING 1000000 /* events waiting in memory, at most */
#define ACCT_HOUR_MS 3600000

struct acct;

struct acct_stats {
    uint64_t events;      /* accepted by the event calls */
    uint64_t dropped;     /* usage samples refused because too many events waited */
    uint64_t written;     /* applied by the writer */
    uint64_t batches;     /* transactions committed */
    uint64_t errors;      /* batches lost after failed transactions */
    uint64_t rollups;     /* roll-up passes done */
    uint64_t pending;     /* waiting now */
    double last_write_ms; /* duration of the last transaction */
};

/* Opens (creating, migrating) the accounting database `db_path` (a file, or a
 * postgresql:// URI: adb.h) and starts the writer thread. `raw_retention_ms`
 * > 0 is how long raw usage samples are kept before being rolled up into
 * hourly rows. Returns 0 and the handle in *out, or a negative AG_E* code
 * with `err` explaining (nothing left open; a PostgreSQL password is never in
 * `err`). */
int acct_open(struct acct **out, const char *db_path, int64_t raw_retention_ms, char *err,
              size_t errlen);

/* Deletes, at each roll-up, what ended longer than `ms` before the newest event
 * time: tasks (with their samples) and capacity intervals. 0 (the default)
 * keeps the whole history. Call before the first event. */
void acct_set_history_retention(struct acct *a, int64_t ms);

/* Writes what is waiting, stops the writer thread and closes the database.
 * Accepts NULL. */
void acct_close(struct acct *a);

/* A task got resources on an agent at time `t`: the start of an allocation
 * interval. Strings are copied; NULL is taken as "". `app_id` is the task's
 * AGORA_APP_ID or MARATHON_APP_ID label, or "". */
void acct_task_start(struct acct *a, double t, const char *framework_id, const char *role,
                     const char *principal, const char *app_id, const char *task_id,
                     const char *agent_id, const struct resources *res);

/* A task reached the terminal state `final_state` ("TASK_FINISHED", ...) or
 * lost its resources otherwise at time `t`: the end of its interval. */
void acct_task_end(struct acct *a, double t, const char *framework_id, const char *task_id,
                   const char *final_state);

/* An agent's total resources from time `t` on: on registration,
 * re-registration, reservation changes, and with an empty (or NULL) `total`
 * on removal. An unchanged total is recorded once. */
void acct_agent_capacity(struct acct *a, double t, const char *agent_id, const char *hostname,
                         const struct resources *total);

/* A usage sample of a task from its agent's USAGE_REPORT, at time `t` (the
 * master's clock when the report arrived, like the other events): cumulative
 * user and system cpu seconds since the task started, resident memory now and
 * the peak resident memory since the task started, in bytes. */
void acct_usage(struct acct *a, double t, const char *framework_id, const char *task_id,
                double cpus_user_s, double cpus_system_s, uint64_t mem_rss_bytes,
                uint64_t mem_peak_bytes);

/* Blocks until every event given so far is written (and a roll-up that became
 * due has run). For tests and shutdown, never on the loop in normal running.
 * Returns 0, or the error of the last failed transaction since the previous
 * acct_flush. */
int acct_flush(struct acct *a);

/* Copies the counters into *st (thread-safe). */
void acct_get_stats(struct acct *a, struct acct_stats *st);

#endif
