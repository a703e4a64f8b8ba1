/*
 * The accounting report's query: what `agora report` and the master's
 * GET /accounting/report ask for (a time window, a grouping, prices, a
 * timeline), parsed from text. Pure: no I/O, no clock (the caller passes
 * "now"). The engine that answers a query is report.h.
 */
#ifndef AGORA_REPORT_QUERY_H
#define AGORA_REPORT_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum report_by {
    REPORT_BY_CLUSTER,
    REPORT_BY_ROLE,
    REPORT_BY_FRAMEWORK,
    REPORT_BY_APP,
    REPORT_BY_AGENT,
    REPORT_BY_TASK,
    REPORT_NBY
};

enum { REPORT_CPUS, REPORT_MEM, REPORT_DISK, REPORT_GPUS, REPORT_NRES };

#define REPORT_TIMELINE_MAX 1000 /* buckets of the allocation timeline, at most */

/* The names of the accounted resources ("cpus", "mem", "disk", "gpus") and of
 * the groupings ("cluster", "role", ...), indexed by the enums above. */
extern const char *const report_res_names[REPORT_NRES];
extern const char *const report_by_names[REPORT_NBY];

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
 * of buckets 0..REPORT_TIMELINE_MAX (default 0). Returns 0, or -AG_EINVAL with `err` naming
 * the bad parameter. */
int report_query_parse(struct report_query *q, int64_t now_ms, const char *since, const char *until,
                       const char *by, const char *top, const char *price, const char *timeline,
                       char *err, size_t errlen);

#endif
