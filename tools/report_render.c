/*
 * The report's renderers (report_render.h): the text table, CSV and JSON, and
 * the helpers they share with the HTML page (report_html.c). Tables, numbers
 * and JSON access go through the CLI's helpers (cli.h).
 */
#include "report_render.h"

#include "cli.h"
#include "error.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- helpers shared with report_html.c ---- */

bool
report_null(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return v == NULL || json_is_null(v);
}

/* used / allocated of resource `res` ("cpus", "mem") in a group, 0 when none allocated. */
static double
efficiency(json_t *g, const char *res)
{
    char a[32], u[32];
    double alloc;

    snprintf(a, sizeof(a), "%s_allocated", res);
    snprintf(u, sizeof(u), "%s_used", res);
    alloc = cli_json_num(g, a);
    return alloc > 0 ? cli_json_num(g, u) / alloc : 0;
}

/* Decimals for unit-hour figures whose largest is `largest`: one for reports
 * of real clusters, more for short windows on small ones (a minute on one
 * agent is a few thousandths of a cpu-hour, which one decimal shows as 0.0). */
int
report_hours_dec(double largest)
{
    return largest >= 10 ? 1 : largest >= 1 ? 2 : largest >= 0.1 ? 3 : 4;
}

/* hours_dec for the figures of report `rep`: its capacity and allocation. */
int
report_dec(json_t *rep)
{
    json_t *cl = json_object_get(rep, "cluster");
    double m = 0;

    for (int i = 0; i < REPORT_NRES; i++) {
        json_t *x = json_object_get(cl, report_res_names[i]);
        m = fmax(m, fmax(cli_json_num(x, "capacity"), cli_json_num(x, "allocated")));
    }
    return report_hours_dec(m);
}

void
report_fmt_utc(int64_t ms, char *buf, size_t len)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&s, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
}

/* "FINISHED 10, FAILED 2" from a states object. */
void
report_fmt_states(json_t *states, char *buf, size_t len)
{
    const char *k;
    json_t *v;
    size_t off = 0;

    buf[0] = '\0';
    json_object_foreach(states, k, v)
    {
        const char *name = strncmp(k, "TASK_", 5) == 0 ? k + 5 : k;
        int n = snprintf(buf + off, len - off, "%s%s %lld", off ? ", " : "", name,
                         (long long)json_integer_value(v));
        if (n < 0 || (size_t)n >= len - off)
            break;
        off += (size_t)n;
    }
}

/* "cpus 0.031, mem 0.004/GiB" for the prices that are set. */
void
report_fmt_prices(json_t *pr, char *buf, size_t len)
{
    size_t off = 0;

    buf[0] = '\0';
    for (int i = 0; i < REPORT_NRES; i++) {
        double p = cli_json_num(pr, report_res_names[i]);
        int n;

        if (p <= 0)
            continue;
        n = snprintf(buf + off, len - off, "%s%s %g%s", off ? ", " : "", report_res_names[i], p,
                     i == REPORT_MEM || i == REPORT_DISK ? "/GiB" : "");
        if (n < 0 || (size_t)n >= len - off)
            break;
        off += (size_t)n;
    }
    if (off == 0)
        snprintf(buf, len, "none");
}

void
report_fmt_cost(json_t *rep, struct report_cost *out)
{
    static const char *const labels[4] = {"capacity", "allocated", "idle",
                                          "wasted (allocated, unused)"};
    json_t *cost = json_object_get(rep, "cost");
    double capc = cli_json_num(cost, "capacity"), alloc = cli_json_num(cost, "allocated");
    double amount[4] = {capc, alloc, cli_json_num(cost, "idle"), cli_json_num(cost, "wasted")};
    char pct[32];

    report_fmt_prices(json_object_get(rep, "prices"), out->prices, sizeof(out->prices));
    for (int i = 0; i < 4; i++) {
        out->label[i] = labels[i];
        cli_fmt_grouped(amount[i], 2, out->amount[i], sizeof(out->amount[i]));
    }
    out->share[0][0] = '\0';
    cli_fmt_pct(alloc, capc, out->share[1], sizeof(out->share[1]));
    cli_fmt_pct(amount[2], capc, out->share[2], sizeof(out->share[2]));
    snprintf(out->share[3], sizeof(out->share[3]), "%s of allocated",
             cli_fmt_pct(amount[3], alloc, pct, sizeof(pct)));
}

void
report_group_rows(json_t *rep, const char *total_label,
                  void (*row)(void *arg, json_t *g, const char *label), void *arg)
{
    char others[64];
    size_t i;
    json_t *g;

    json_array_foreach(json_object_get(rep, "groups"), i, g)
    {
        row(arg, g, NULL);
    }
    g = json_object_get(rep, "other");
    if (g && !json_is_null(g)) {
        snprintf(others, sizeof(others), "(%lld others)", (long long)cli_json_num(g, "groups"));
        row(arg, g, others);
    }
    row(arg, json_object_get(rep, "total"), total_label);
}

bool
report_has_resource(json_t *cl, int i)
{
    json_t *r = json_object_get(cl, report_res_names[i]);
    return i < REPORT_DISK || cli_json_num(r, "capacity") > 0 || cli_json_num(r, "allocated") > 0;
}

/* ---- table ---- */

/* The by-group table being filled (report_group_rows' argument). */
struct group_rows {
    struct cli_table *t;
    bool priced;
    int dec;
};

static void
render_group_row(void *arg, json_t *g, const char *label)
{
    struct group_rows *gr = arg;
    struct cli_table *t = gr->t;
    bool priced = gr->priced;
    int dec = gr->dec;
    double ca = cli_json_num(g, "cpus_allocated"), cu = cli_json_num(g, "cpus_used");
    double ma = cli_json_num(g, "mem_allocated"), mu = cli_json_num(g, "mem_used");
    char c[12][64], states[512];
    const char *cells[13];

    cli_fmt_grouped(cli_json_num(g, "tasks"), 0, c[0], 64);
    cli_fmt_grouped(ca, dec, c[1], 64);
    cli_fmt_grouped(cu, dec, c[2], 64);
    cli_fmt_pct(cu, ca, c[3], 64);
    cli_fmt_grouped(ma, dec, c[4], 64);
    cli_fmt_grouped(mu, dec, c[5], 64);
    cli_fmt_pct(mu, ma, c[6], 64);
    cli_fmt_bytes(cli_json_num(g, "mem_peak_bytes"), c[7], 64);
    if (priced) {
        cli_fmt_grouped(cli_json_num(g, "cost"), 2, c[8], 64);
        cli_fmt_grouped(cli_json_num(g, "cost_wasted"), 2, c[9], 64);
    }
    report_fmt_states(json_object_get(g, "states"), states, sizeof(states));
    cells[0] = label ? label : cli_json_str(g, "key");
    for (int i = 0; i < 8; i++)
        cells[1 + i] = c[i];
    if (priced) {
        cells[9] = c[8];
        cells[10] = c[9];
        cells[11] = states;
    } else {
        cells[9] = states;
    }
    cli_table_add(t, cells);
}

static void
render_table(FILE *f, json_t *rep)
{
    json_t *cl = json_object_get(rep, "cluster");
    const char *by = cli_json_str(rep, "by");
    bool priced = !report_null(rep, "cost");
    char a[64], b[64], c[64], d[64], e[64], p1[32], p2[32], p3[32], states[1024];
    struct cli_table t = {0};
    int dec = report_dec(rep);
    size_t i;
    json_t *w;

    report_fmt_utc((int64_t)cli_json_num(rep, "window.since_ms"), a, sizeof(a));
    report_fmt_utc((int64_t)cli_json_num(rep, "window.until_ms"), b, sizeof(b));
    fprintf(f, "Agora accounting report, %s .. %s UTC (%s hours), by %s\n\n", a, b,
            cli_fmt_grouped(cli_json_num(rep, "window.hours"),
                            cli_json_num(rep, "window.hours") >= 1 ? 1 : 3, c, sizeof(c)),
            by);

    fprintf(f, "Cluster utilization (%lld agents)\n", (long long)cli_json_num(cl, "agents"));
    t.ncols = 6;
    t.blank_empty = true;
    t.right = 0x3c;
    cli_table_add(&t,
                  (const char *[]){"RESOURCE", "UNIT", "CAPACITY", "ALLOCATED", "USED", "IDLE"});
    for (int r = 0; r < REPORT_NRES; r++) {
        json_t *x = json_object_get(cl, report_res_names[r]);
        double cap = cli_json_num(x, "capacity");
        char used[96], alloc[96], idle[96];

        if (!report_has_resource(cl, r))
            continue;
        cli_fmt_grouped(cap, dec, a, sizeof(a));
        snprintf(alloc, sizeof(alloc), "%s (%s)",
                 cli_fmt_grouped(cli_json_num(x, "allocated"), dec, b, 64),
                 cli_fmt_pct(cli_json_num(x, "allocated"), cap, p1, sizeof(p1)));
        if (report_null(x, "used"))
            snprintf(used, sizeof(used), "-");
        else
            snprintf(used, sizeof(used), "%s (%s)",
                     cli_fmt_grouped(cli_json_num(x, "used"), dec, c, 64),
                     cli_fmt_pct(cli_json_num(x, "used"), cap, p2, sizeof(p2)));
        snprintf(idle, sizeof(idle), "%s (%s)",
                 cli_fmt_grouped(cli_json_num(x, "idle"), dec, d, 64),
                 cli_fmt_pct(cli_json_num(x, "idle"), cap, p3, sizeof(p3)));
        cli_table_add(&t, (const char *[]){report_res_names[r], cli_json_str(x, "unit"), a, alloc,
                                           used, idle});
    }
    cli_table_print(&t, f);
    report_fmt_states(json_object_get(cl, "states"), states, sizeof(states));
    fprintf(f, "\nTasks: %s%s%s%s; peak task memory %s\n",
            cli_fmt_grouped(cli_json_num(cl, "tasks"), 0, a, sizeof(a)), states[0] ? " (" : "",
            states, states[0] ? ")" : "",
            cli_fmt_bytes(cli_json_num(cl, "mem_peak_bytes"), e, sizeof(e)));

    if (strcmp(by, "cluster") != 0) {
        char head[32];
        snprintf(head, sizeof(head), "%s", by);
        for (char *s = head; *s; s++)
            *s = (char)toupper((unsigned char)*s);
        fprintf(f, "\nBy %s\n", by);
        t.ncols = priced ? 12 : 10;
        t.blank_empty = true;
        t.right = 0x1fe | (priced ? 0x600 : 0);
        if (priced)
            cli_table_add(&t, (const char *[]){head, "TASKS", "CPU-H ALLOC", "CPU-H USED",
                                               "CPU EFF", "GiB-H ALLOC", "GiB-H USED", "MEM EFF",
                                               "PEAK MEM", "COST", "WASTED", "FINAL STATES"});
        else
            cli_table_add(&t, (const char *[]){head, "TASKS", "CPU-H ALLOC", "CPU-H USED",
                                               "CPU EFF", "GiB-H ALLOC", "GiB-H USED", "MEM EFF",
                                               "PEAK MEM", "FINAL STATES"});
        struct group_rows gr = {&t, priced, dec};

        report_group_rows(rep, "TOTAL", render_group_row, &gr);
        cli_table_print(&t, f);
    }

    if (priced) {
        struct report_cost rc;

        report_fmt_cost(rep, &rc);
        fprintf(f, "\nCost (prices per hour: %s)\n", rc.prices);
        t.ncols = 3;
        t.blank_empty = true;
        t.right = 0x6;
        for (int r = 0; r < 4; r++)
            cli_table_add(&t, (const char *[]){rc.label[r], rc.amount[r], rc.share[r]});
        cli_table_print(&t, f);
    }
    json_array_foreach(json_object_get(rep, "warnings"), i, w)
    {
        fprintf(f, "warning: %s\n", json_string_value(w));
    }
}

/* ---- csv ---- */

static void
csv_str(FILE *f, const char *s)
{
    if (strpbrk(s, ",\"\n\r") == NULL) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void
csv_group(FILE *f, const char *by, json_t *g, const char *key, json_t *allstates, bool priced)
{
    json_t *states = json_object_get(g, "states");
    const char *k;
    json_t *v;

    csv_str(f, by);
    fputc(',', f);
    csv_str(f, key ? key : cli_json_str(g, "key"));
    fprintf(f, ",%lld", (long long)cli_json_num(g, "tasks"));
    json_object_foreach(allstates, k, v)
    {
        fprintf(f, ",%lld", (long long)json_integer_value(json_object_get(states, k)));
    }
    fprintf(f, ",%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.0f,%.4f,%.4f", cli_json_num(g, "cpus_allocated"),
            cli_json_num(g, "cpus_used"), efficiency(g, "cpus"), cli_json_num(g, "mem_allocated"),
            cli_json_num(g, "mem_used"), efficiency(g, "mem"), cli_json_num(g, "mem_peak_bytes"),
            cli_json_num(g, "disk_allocated"), cli_json_num(g, "gpus_allocated"));
    if (priced)
        fprintf(f, ",%.4f,%.4f", cli_json_num(g, "cost"), cli_json_num(g, "cost_wasted"));
    fputc('\n', f);
}

static void
render_csv(FILE *f, json_t *rep)
{
    json_t *cl = json_object_get(rep, "cluster"), *total = json_object_get(rep, "total");
    json_t *allstates, *g, *pr = json_object_get(rep, "prices");
    const char *by = cli_json_str(rep, "by"), *k;
    bool priced = !report_null(rep, "cost");
    json_t *v;
    size_t i;

    if (strcmp(by, "cluster") == 0) {
        fprintf(f, "resource,unit,capacity,allocated,used,idle,unused%s\n",
                priced ? ",capacity_cost,allocated_cost,idle_cost,wasted_cost" : "");
        for (int r = 0; r < REPORT_NRES; r++) {
            json_t *x = json_object_get(cl, report_res_names[r]);
            double price = cli_json_num(pr, report_res_names[r]);

            fprintf(f, "%s,%s,%.4f,%.4f,", report_res_names[r], cli_json_str(x, "unit"),
                    cli_json_num(x, "capacity"), cli_json_num(x, "allocated"));
            if (!report_null(x, "used"))
                fprintf(f, "%.4f", cli_json_num(x, "used"));
            fprintf(f, ",%.4f,", cli_json_num(x, "idle"));
            if (!report_null(x, "unused"))
                fprintf(f, "%.4f", cli_json_num(x, "unused"));
            if (priced)
                fprintf(f, ",%.4f,%.4f,%.4f,%.4f", cli_json_num(x, "capacity") * price,
                        cli_json_num(x, "allocated") * price, cli_json_num(x, "idle") * price,
                        cli_json_num(x, "unused") * price);
            fputc('\n', f);
        }
        return;
    }
    allstates = json_object_get(total, "states");
    fprintf(f, "by,key,tasks");
    json_object_foreach(allstates, k, v)
    {
        fprintf(f, ",tasks_%s", strncmp(k, "TASK_", 5) == 0 ? k + 5 : k);
    }
    fprintf(f,
            ",cpu_hours_allocated,cpu_hours_used,cpu_efficiency,mem_gib_hours_allocated,"
            "mem_gib_hours_used,mem_efficiency,mem_peak_bytes,disk_gib_hours_allocated,"
            "gpu_hours_allocated%s\n",
            priced ? ",cost,cost_wasted" : "");
    json_array_foreach(json_object_get(rep, "groups"), i, g)
    {
        csv_group(f, by, g, NULL, allstates, priced);
    }
    g = json_object_get(rep, "other");
    if (g && !json_is_null(g))
        csv_group(f, by, g, "(other)", allstates, priced);
    csv_group(f, by, total, "(total)", allstates, priced);
}

/* ---- dispatch ---- */

int
report_render(FILE *f, enum report_format fmt, json_t *rep, json_t *apps)
{
    switch (fmt) {
    case REPORT_TABLE:
        render_table(f, rep);
        break;
    case REPORT_CSV:
        render_csv(f, rep);
        break;
    case REPORT_JSON:
        if (json_dumpf(rep, f, JSON_INDENT(2) | JSON_REAL_PRECISION(12)) != 0)
            return -AG_EIO;
        fputc('\n', f);
        break;
    case REPORT_HTML:
        return report_render_html(f, rep, apps);
    }
    return ferror(f) ? -AG_EIO : 0;
}
