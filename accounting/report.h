/*
 * The accounting report engine behind `agora report` and the master's
 * GET /accounting/report: reads the accounting database the recorder writes
 * (recorder.h, tables in schema.h) and computes, for a time
 * window [since, until), the cluster's utilization per resource (capacity,
 * allocated, used, idle) and per group (role, framework, app, agent or task)
 * the resources allocated and used, efficiency, peak memory, task counts by
 * final state and, given prices, costs.
 *
 * Arithmetic: every interval (a task's allocation, an agent's capacity) is
 * clipped to the window, so a task running across an edge counts only for
 * its part inside. Open intervals end at the query's `now_ms`. Usage inside
 * the window is the task's cumulative usage at the clipped end minus that at
 * the clipped start, interpolated linearly inside the sample (raw, or hourly
 * after roll-up) that straddles an edge. Groups partition the tasks, so group
 * sums equal the cluster's allocated and used figures.
 *
 * Units in the JSON: cpu-hours (cpus, gpus), GiB-hours (mem, disk; the
 * resources are in MiB as in Mesos), bytes for peaks, prices per unit-hour.
 *
 * The queries are the same on both backends of adb.h (SQLite, PostgreSQL).
 * report_compute is a pure function of the database and the query (query.h):
 * no clock (the query carries "now"), no output. It runs in the CLI (`agora
 * report --db`) or in the master (on a thread of its own, with a read-only
 * handle from report_open, never on the master's loop). Rendering the JSON it
 * returns as text, CSV or HTML is the CLI's (tools/report_render.h).
 */
#ifndef AGORA_REPORT_H
#define AGORA_REPORT_H

#include <jansson.h>
#include <stddef.h>

#include "query.h"
#include "adb.h"

/* Opens the accounting database `target` (a file, or a postgresql:// URI:
 * adb.h) read-only and checks its schema version. Returns 0 and the handle
 * (close with adb_close), or -AG_ENOENT (no such file, no accounting tables),
 * -AG_EVERSION, -AG_EIO (cannot connect), -AG_EDB with `err` explaining. */
int report_open(struct adb **out, const char *target, char *err, size_t errlen);

/*
 * Computes the report for `q` into a new JSON object *out (the caller owns it):
 *
 *   {"window": {"since", "until" (ISO 8601 UTC), "since_ms", "until_ms", "hours"},
 *    "by": "role", "top": N,
 *    "cluster": {"agents": n, "tasks": n, "states": {STATE: n}, "mem_peak_bytes",
 *                "cpus"|"mem"|"disk"|"gpus": {"unit", "capacity", "allocated", "idle",
 *                                             "used", "unused" (cpus and mem; else null)}},
 *    "groups": [GROUP...],   sorted by cost (when priced), cpu-hours, GiB-hours, key; top N
 *    "other": GROUP or null, the groups beyond the top N together, with "groups": n
 *    "total": GROUP,         all groups together (equal to the cluster's figures)
 *    "prices": {"cpus", "mem", "disk", "gpus"} or null,
 *    "cost": {"capacity", "allocated", "idle", "wasted"} or null,
 *    "timeline": null or {"start_ms", "bucket_ms", "buckets", "capacity": {"cpus": [..],
 *                "mem": [..]}, "roles": [{"role", "cpus": [..], "mem": [..]}...]},
 *    "warnings": [text...]}
 *
 *   GROUP = {"key", "tasks", "states", "cpus_allocated", "cpus_used", "cpus_unused",
 *            "mem_allocated", "mem_used", "mem_unused", "mem_peak_bytes", "disk_allocated",
 *            "gpus_allocated", and when priced "cost", "cost_wasted"}
 *
 * A task counts in the window when its interval overlaps it (or, empty, starts
 * in it); "states" counts them by final state, "RUNNING" for those still
 * running at the window's end. "unused" is the sum over tasks of allocated
 * minus used where positive, so it adds up across groups. Costs are charged on
 * allocation; "wasted" is the cost of the unused cpus and memory. Timeline
 * values are the average cpus and GiB allocated (or available) in each bucket.
 * Returns 0, -AG_EINVAL (bad query), -AG_EDB (with `err`), -AG_ENOMEM.
 */
int report_compute(struct adb *db, const struct report_query *q, json_t **out, char *err,
                   size_t errlen);

#endif
