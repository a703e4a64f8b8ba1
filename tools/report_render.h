/*
 * Renderers of the accounting report: the JSON object report_compute returns
 * (accounting/report.h, also the body of the master's GET /accounting/report)
 * as an aligned text table, CSV, indented JSON or one self-contained HTML page
 * with SVG charts. They only read the object: the same output whether the
 * report came from the master or from a database file.
 */
#ifndef AGORA_REPORT_RENDER_H
#define AGORA_REPORT_RENDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "query.h"

enum report_format { REPORT_TABLE, REPORT_CSV, REPORT_JSON, REPORT_HTML };

/* Writes `rep` (from report_compute) to `f` in `fmt`. For REPORT_HTML,
 * `apps` (may be NULL) is a report by app whose groups feed the "allocated vs
 * used per app" chart, and rep's timeline (if any) the utilization chart.
 * Returns 0 or -AG_EIO. */
int report_render(FILE *f, enum report_format fmt, json_t *rep, json_t *apps);

/* The HTML page alone (report_html.c); as report_render. */
int report_render_html(FILE *f, json_t *rep, json_t *apps);

/* ---- helpers shared by the renderers ---- */

/* True when `key` of `o` is absent or null. */
bool report_null(json_t *o, const char *key);
/* Decimals for unit-hour figures whose largest is `largest` (1 for real
 * clusters, up to 4 for a short window on a small one); report_dec applies it
 * to the capacity and allocation of report `rep`. */
int report_hours_dec(double largest);
int report_dec(json_t *rep);
/* True when resource `i` is shown: cpus and mem always, disk and gpus when
 * the cluster had or allocated some. */
bool report_has_resource(json_t *cl, int i);
/* Milliseconds since the epoch as "2025-01-31 12:00" (UTC). */
void report_fmt_utc(int64_t ms, char *buf, size_t len);
/* "FINISHED 10, FAILED 2" from a "states" object. */
void report_fmt_states(json_t *states, char *buf, size_t len);
/* "cpus 0.031, mem 0.004/GiB" from a "prices" object ("none" when empty). */
void report_fmt_prices(json_t *pr, char *buf, size_t len);

/* The cost summary of a priced report `rep` (its "cost" object): the prices
 * and four rows (capacity, allocated, idle, wasted), each a label, an amount
 * and its share ("" for capacity). */
struct report_cost {
    char prices[256];
    const char *label[4];
    char amount[4][64];
    char share[4][64];
};
void report_fmt_cost(json_t *rep, struct report_cost *out);

/* Calls row(arg, g, label) for each row of the by-group table of `rep`: its
 * groups (label NULL), the rest as one row labelled "(N others)" when there
 * is one, then the total labelled `total_label`. */
void report_group_rows(json_t *rep, const char *total_label,
                       void (*row)(void *arg, json_t *g, const char *label), void *arg);

#endif
