/*
 * The accounting report engine behind `agora report`: reads the accounting
 * database the master writes (master/accounting.h) and computes, for a time
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
 * report_compute is a pure function of the database and the query: it can run
 * in the CLI or in the master (on a thread of its own, with a read-only
 * handle from report_open, never on the master's loop).
 */
#ifndef AGORA_REPORT_H
#define AGORA_REPORT_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum report_by {
    REPORT_BY_CLUSTER,
    REPORT_BY_ROLE,
    REPORT_BY_FRAMEWORK,
    REPORT_BY_APP,
    REPORT_BY_AGENT,
    REPORT_BY_TASK
};

enum report_format { REPORT_TABLE, REPORT_CSV, REPORT_JSON, REPORT_HTML };

enum { REPORT_CPUS, REPORT_MEM, REPORT_DISK, REPORT_GPUS, REPORT_NRES };

struct report_query {
    int64_t since_ms; /* window start, inclusive */
    int64_t until_ms; /* window end, exclusive; clipped to now_ms */
    int64_t now_ms;   /* open intervals end here */
    enum report_by by;
    int top;                   /* groups shown; the rest form "(other)"; 0 = all */
    bool priced;               /* price[] given */
    double price[REPORT_NRES]; /* per cpu-hour, GiB-hour, GiB-hour, gpu-hour */
    int timeline;              /* buckets of the allocation timeline; 0 = none */
};

/* Fills `q` from the textual parameters (the CLI's flags or the master's query
 * string); NULL or "" selects the default. `since`/`until`: "now", a duration
 * back from now ("7d", "12h", "90mins"), a UTC date "2025-01-31", a UTC time
 * "2025-01-31T12:00[:00][Z]" (or with a space), or "@SECONDS" since the epoch.
 * Defaults: since 7d, until now. `by`: cluster|role|framework|app|agent|task
 * (default cluster). `top`: N >= 0 (default 0). `price`:
 * "cpus=0.031,mem=0.004,disk=0.0001,gpus=1.2" (any subset). `timeline`: number
 * of buckets 0..1000 (default 0). Returns 0, or -AG_EINVAL with `err` naming
 * the bad parameter. */
int report_query_parse(struct report_query *q, int64_t now_ms, const char *since, const char *until,
                       const char *by, const char *top, const char *price, const char *timeline,
                       char *err, size_t errlen);

/* Opens the accounting database at `path` read-only and checks its schema
 * version. Returns 0 and the handle (close with sqlite3_close), or -AG_ENOENT
 * (no such file), -AG_EVERSION, -AG_EDB with `err` explaining. */
int report_open(sqlite3 **out, const char *path, char *err, size_t errlen);

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
int report_compute(sqlite3 *db, const struct report_query *q, json_t **out, char *err,
                   size_t errlen);

/* Writes `rep` (from report_compute) to `f` in `fmt`. For REPORT_HTML,
 * `apps` (may be NULL) is a report by app whose groups feed the "allocated vs
 * used per app" chart, and rep's timeline (if any) the utilization chart.
 * Returns 0 or -AG_EIO. */
int report_render(FILE *f, enum report_format fmt, json_t *rep, json_t *apps);

/* `agora report`: parses the flags (--help lists them), gets the report from
 * the database (--db, or <--work_dir>/accounting.db) or from the master
 * (--master=HOST:PORT, GET /accounting/report) and prints it. Returns the
 * process exit status. */
int report_main(int argc, char **argv);

#endif
