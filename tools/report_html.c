/*
 * The report as one self-contained HTML page (report_render_html in
 * report_render.h): inline CSS and SVG charts, no script, nothing external.
 */
#include "report_render.h"

#include "cli.h"
#include "error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const palette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                                      "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};

static void
html_esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

/* A round axis maximum >= v and its tick step (1, 2 or 5 x 10^k, 4-5 ticks). */
static double
nice_max(double v, double *step)
{
    double mag, f;

    if (!(v > 0))
        v = 1;
    mag = pow(10, floor(log10(v / 4)));
    f = v / 4 / mag;
    *step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
    return ceil(v / *step) * *step;
}

/* Decimals that tell apart the ticks of an axis with this step. */
static int
step_dec(double step)
{
    int dec = 0;

    while (dec < 6 && step * pow(10, dec) < 0.999)
        dec++;
    return dec;
}

#define SVG_W 960
#define SVG_L 70
#define SVG_R 20

/* Utilization over time: allocation of `res` stacked by role, capacity as a line. */
static void
svg_timeline(FILE *f, json_t *tl, const char *res, const char *unit)
{
    json_t *roles = json_object_get(tl, "roles"), *cap, *role;
    int nb = (int)cli_json_num(tl, "buckets"), H = 300, T = 16, B = 34, ph = H - T - B;
    double pw = SVG_W - SVG_L - SVG_R, ymax = 0, step, *base;
    int64_t start = (int64_t)cli_json_num(tl, "start_ms"),
            bms = (int64_t)cli_json_num(tl, "bucket_ms");
    size_t ri;

    if (nb <= 0)
        return;
    cap = json_object_get(json_object_get(tl, "capacity"), res);
    base = calloc((size_t)nb, sizeof(double));
    if (base == NULL)
        return;
    for (int j = 0; j < nb; j++) {
        double sum = 0;
        json_array_foreach(roles, ri, role)
        {
            sum += json_number_value(json_array_get(json_object_get(role, res), (size_t)j));
        }
        double c = json_number_value(json_array_get(cap, (size_t)j));
        if (sum > ymax)
            ymax = sum;
        if (c > ymax)
            ymax = c;
    }
    ymax = nice_max(ymax, &step);
#define X(j) (SVG_L + pw * (double)(j) / nb)
#define Y(v) (T + ph - ph * (v) / ymax)
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n",
            SVG_W, H + 24, SVG_W, H + 24);
    for (double v = 0; v <= ymax * 1.0001; v += step) {
        char lab[32];
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>", SVG_L,
                SVG_W - SVG_R, Y(v), Y(v));
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", SVG_L - 6, Y(v) + 4,
                cli_fmt_grouped(v, step_dec(step), lab, sizeof(lab)));
    }
    json_array_foreach(roles, ri, role)
    {
        json_t *vals = json_object_get(role, res);

        fprintf(f, "<polygon fill=\"%s\" fill-opacity=\"0.85\" points=\"",
                palette[ri % (sizeof(palette) / sizeof(palette[0]))]);
        for (int j = 0; j < nb; j++) {
            double top = base[j] + json_number_value(json_array_get(vals, (size_t)j));
            fprintf(f, "%.1f,%.1f %.1f,%.1f ", X(j), Y(top), X(j + 1), Y(top));
        }
        for (int j = nb - 1; j >= 0; j--)
            fprintf(f, "%.1f,%.1f %.1f,%.1f ", X(j + 1), Y(base[j]), X(j), Y(base[j]));
        fprintf(f, "\"><title>");
        html_esc(f, cli_json_str(role, "role"));
        fprintf(f, "</title></polygon>\n");
        for (int j = 0; j < nb; j++)
            base[j] += json_number_value(json_array_get(vals, (size_t)j));
    }
    fprintf(f, "<polyline fill=\"none\" stroke=\"#222\" stroke-width=\"1.5\" "
               "stroke-dasharray=\"5,3\" points=\"");
    for (int j = 0; j < nb; j++) {
        double c = json_number_value(json_array_get(cap, (size_t)j));
        fprintf(f, "%.1f,%.1f %.1f,%.1f ", X(j), Y(c), X(j + 1), Y(c));
    }
    fprintf(f, "\"/>\n");
    fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#444\"/>\n", SVG_L,
            SVG_W - SVG_R, T + ph, T + ph);
    for (int k = 0; k <= 6; k++) {
        char lab[32];
        int64_t ms = start + (int64_t)((double)bms * nb * k / 6);
        time_t s = (time_t)(ms / 1000);
        struct tm tm;

        gmtime_r(&s, &tm);
        strftime(lab, sizeof(lab), "%m-%d %H:%M", &tm);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">%s</text>", X(nb * k / 6.0),
                T + ph + 16,
                k == 0   ? "start"
                : k == 6 ? "end"
                         : "middle",
                lab);
    }
    fprintf(f,
            "<text x=\"12\" y=\"%d\" transform=\"rotate(-90 12 %d)\" "
            "text-anchor=\"middle\">%s</text>\n",
            T + ph / 2, T + ph / 2, unit);
    /* legend */
    {
        double x = SVG_L;
        json_array_foreach(roles, ri, role)
        {
            fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>", x,
                    H + 8, palette[ri % (sizeof(palette) / sizeof(palette[0]))]);
            fprintf(f, "<text x=\"%.1f\" y=\"%d\">", x + 14, H + 17);
            html_esc(f, cli_json_str(role, "role")[0] ? cli_json_str(role, "role") : "(none)");
            fprintf(f, "</text>");
            x += 24 + 7.0 * (double)strlen(cli_json_str(role, "role"));
        }
        fprintf(f,
                "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#222\" "
                "stroke-dasharray=\"5,3\"/><text x=\"%.1f\" y=\"%d\">capacity</text>\n",
                x, x + 20, H + 13, H + 13, x + 24, H + 17);
    }
    fprintf(f, "</svg>\n");
#undef X
#undef Y
    free(base);
}

/* Allocated vs used per group (apps), horizontal bars. */
static void
svg_bars(FILE *f, json_t *groups, const char *res, const char *unit, size_t max)
{
    size_t n = json_array_size(groups), i;
    int row = 26, T = 10, L = 220, H;
    double vmax = 0, step, pw = SVG_W - L - 110;
    char ka[32], ku[32];
    json_t *g;

    snprintf(ka, sizeof(ka), "%s_allocated", res);
    snprintf(ku, sizeof(ku), "%s_used", res);
    if (n > max)
        n = max;
    if (n == 0)
        return;
    for (i = 0; i < n; i++) {
        g = json_array_get(groups, i);
        vmax = fmax(vmax, fmax(cli_json_num(g, ka), cli_json_num(g, ku)));
    }
    vmax = nice_max(vmax, &step);
    H = T + row * (int)n + 40;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n",
            SVG_W, H, SVG_W, H);
    for (i = 0; i < n; i++) {
        char k[40], va[32], vu[32];
        const char *key;
        double alloc, used;
        int y = T + row * (int)i;

        g = json_array_get(groups, i);
        alloc = cli_json_num(g, ka);
        used = cli_json_num(g, ku);
        key = cli_json_str(g, "key");
        snprintf(k, sizeof(k), "%s%s", strlen(key) > 34 ? "..." : "",
                 strlen(key) > 34 ? key + strlen(key) - 31 : key);
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", L - 6, y + 14);
        html_esc(f, k);
        fprintf(f, "<title>");
        html_esc(f, key);
        fprintf(f, "</title></text>");
        fprintf(f,
                "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"10\" fill=\"#a0cbe8\">"
                "<title>allocated</title></rect>",
                L, y + 2, pw * alloc / vmax);
        fprintf(f,
                "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"10\" fill=\"#4e79a7\">"
                "<title>used</title></rect>",
                L, y + 12, pw * used / vmax);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\">%s / %s (%.0f%%)</text>\n",
                L + pw * fmax(alloc, used) / vmax + 6, y + 15,
                cli_fmt_grouped(alloc, report_hours_dec(vmax), va, sizeof(va)),
                cli_fmt_grouped(used, report_hours_dec(vmax), vu, sizeof(vu)),
                alloc > 0 ? 100 * used / alloc : 0);
    }
    for (double v = 0; v <= vmax * 1.0001; v += step) {
        char lab[32];
        double x = L + pw * v / vmax;
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#ccc\"/>", x, x, T,
                T + row * (int)n);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", x,
                T + row * (int)n + 14, cli_fmt_grouped(v, step_dec(step), lab, sizeof(lab)));
    }
    fprintf(f,
            "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"#a0cbe8\"/>"
            "<text x=\"%d\" y=\"%d\">allocated %s</text>"
            "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"#4e79a7\"/>"
            "<text x=\"%d\" y=\"%d\">used %s</text>\n",
            L, H - 16, L + 14, H - 7, unit, L + 200, H - 16, L + 214, H - 7, unit);
    fprintf(f, "</svg>\n");
}

/* Slurm-style utilization bars: used, allocated but unused, idle. */
static void
svg_utilization(FILE *f, json_t *cl)
{
    int row = 30, L = 70, n = 0;
    double pw = SVG_W - L - 260;

    for (int r = 0; r < REPORT_NRES; r++)
        n += report_has_resource(cl, r);
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n",
            SVG_W, row * n + 30, SVG_W, row * n + 30);
    n = 0;
    for (int r = 0; r < REPORT_NRES; r++) {
        json_t *x = json_object_get(cl, report_res_names[r]);
        double cap = cli_json_num(x, "capacity"), alloc = cli_json_num(x, "allocated"),
               used = cli_json_num(x, "used");
        double scale = cap > 0 ? pw / fmax(cap, alloc) : 0;
        int y;
        char p[32];

        if (!report_has_resource(cl, r))
            continue;
        y = 6 + row * n++;
        if (report_null(x, "used"))
            used = 0;
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>", L - 6, y + 14,
                report_res_names[r]);
        fprintf(f,
                "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"18\" fill=\"#eee\" "
                "stroke=\"#bbb\"><title>capacity</title></rect>",
                L, y, cap * scale);
        fprintf(f,
                "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"18\" fill=\"#a0cbe8\">"
                "<title>allocated</title></rect>",
                L, y, alloc * scale);
        fprintf(f,
                "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"18\" fill=\"#4e79a7\">"
                "<title>used</title></rect>",
                L, y, fmin(used, alloc) * scale);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\">allocated %s", L + pw + 8, y + 14,
                cli_fmt_pct(alloc, cap, p, sizeof(p)));
        if (!report_null(x, "used"))
            fprintf(f, ", used %s", cli_fmt_pct(used, cap, p, sizeof(p)));
        fprintf(f, "</text>\n");
    }
    fprintf(f,
            "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"#4e79a7\"/>"
            "<text x=\"%d\" y=\"%d\">used</text>"
            "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"#a0cbe8\"/>"
            "<text x=\"%d\" y=\"%d\">allocated, unused</text>"
            "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"#eee\" "
            "stroke=\"#bbb\"/><text x=\"%d\" y=\"%d\">idle</text>\n",
            L, row * n + 12, L + 14, row * n + 21, L + 70, row * n + 12, L + 84, row * n + 21,
            L + 200, row * n + 12, L + 214, row * n + 21);
    fprintf(f, "</svg>\n");
}

/* The by-group table being written (report_group_rows' argument). */
struct group_rows {
    FILE *f;
    bool priced;
    int dec;
};

static void
html_group_row(void *arg, json_t *g, const char *label)
{
    struct group_rows *gr = arg;
    FILE *f = gr->f;
    bool priced = gr->priced;
    int dec = gr->dec;
    char c[10][64], states[512];

    report_fmt_states(json_object_get(g, "states"), states, sizeof(states));
    fprintf(f, "<tr><td>");
    html_esc(f, label ? label : cli_json_str(g, "key"));
    fprintf(f,
            "</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
            "<td>%s</td><td>%s</td>",
            cli_fmt_grouped(cli_json_num(g, "tasks"), 0, c[0], 64),
            cli_fmt_grouped(cli_json_num(g, "cpus_allocated"), dec, c[1], 64),
            cli_fmt_grouped(cli_json_num(g, "cpus_used"), dec, c[2], 64),
            cli_fmt_pct(cli_json_num(g, "cpus_used"), cli_json_num(g, "cpus_allocated"), c[3], 64),
            cli_fmt_grouped(cli_json_num(g, "mem_allocated"), dec, c[4], 64),
            cli_fmt_grouped(cli_json_num(g, "mem_used"), dec, c[5], 64),
            cli_fmt_pct(cli_json_num(g, "mem_used"), cli_json_num(g, "mem_allocated"), c[6], 64),
            cli_fmt_bytes(cli_json_num(g, "mem_peak_bytes"), c[7], 64));
    if (priced)
        fprintf(f, "<td>%s</td><td>%s</td>", cli_fmt_grouped(cli_json_num(g, "cost"), 2, c[8], 64),
                cli_fmt_grouped(cli_json_num(g, "cost_wasted"), 2, c[9], 64));
    fprintf(f, "<td class=\"l\">");
    html_esc(f, states);
    fprintf(f, "</td></tr>\n");
}

int
report_render_html(FILE *f, json_t *rep, json_t *apps)
{
    json_t *cl = json_object_get(rep, "cluster");
    json_t *tl = json_object_get(rep, "timeline"), *w;
    const char *by = cli_json_str(rep, "by");
    bool priced = !report_null(rep, "cost");
    char a[64], b[64], c[64], d[64], p[32], states[1024];
    int dec = report_dec(rep);
    size_t i;

    report_fmt_utc((int64_t)cli_json_num(rep, "window.since_ms"), a, sizeof(a));
    report_fmt_utc((int64_t)cli_json_num(rep, "window.until_ms"), b, sizeof(b));
    fprintf(f,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            "<title>Agora accounting %s .. %s UTC</title>\n<style>\n"
            "body{font-family:sans-serif;margin:24px;color:#222;max-width:1000px}\n"
            "table{border-collapse:collapse;margin:8px 0 16px}\n"
            "th,td{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}\n"
            "th{background:#f3f3f3}td.l,th.l,td:first-child{text-align:left}\n"
            "h2{margin-top:28px;font-size:18px}.muted{color:#777}\n"
            "</style></head><body>\n",
            a, b);
    fprintf(f,
            "<h1>Agora accounting report</h1>\n<p>%s .. %s UTC (%s hours), by %s, "
            "%lld agents.</p>\n",
            a, b,
            cli_fmt_grouped(cli_json_num(rep, "window.hours"),
                            cli_json_num(rep, "window.hours") >= 1 ? 1 : 3, c, sizeof(c)),
            by, (long long)cli_json_num(cl, "agents"));

    fprintf(f, "<h2>Cluster utilization</h2>\n<table><tr><th>resource</th><th>unit</th>"
               "<th>capacity</th><th>allocated</th><th>used</th><th>idle</th></tr>\n");
    for (int r = 0; r < REPORT_NRES; r++) {
        json_t *x = json_object_get(cl, report_res_names[r]);
        double cap = cli_json_num(x, "capacity");

        if (!report_has_resource(cl, r))
            continue;
        fprintf(f, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s (%s)</td>", report_res_names[r],
                cli_json_str(x, "unit"), cli_fmt_grouped(cap, dec, a, 64),
                cli_fmt_grouped(cli_json_num(x, "allocated"), dec, b, 64),
                cli_fmt_pct(cli_json_num(x, "allocated"), cap, p, sizeof(p)));
        if (report_null(x, "used"))
            fprintf(f, "<td>-</td>");
        else
            fprintf(f, "<td>%s (%s)</td>", cli_fmt_grouped(cli_json_num(x, "used"), dec, c, 64),
                    cli_fmt_pct(cli_json_num(x, "used"), cap, p, sizeof(p)));
        fprintf(f, "<td>%s (%s)</td></tr>\n", cli_fmt_grouped(cli_json_num(x, "idle"), dec, d, 64),
                cli_fmt_pct(cli_json_num(x, "idle"), cap, p, sizeof(p)));
    }
    fprintf(f, "</table>\n");
    svg_utilization(f, cl);
    report_fmt_states(json_object_get(cl, "states"), states, sizeof(states));
    fprintf(f, "<p>Tasks: %s", cli_fmt_grouped(cli_json_num(cl, "tasks"), 0, a, sizeof(a)));
    if (states[0]) {
        fprintf(f, " (");
        html_esc(f, states);
        fprintf(f, ")");
    }
    fprintf(f, "; peak task memory %s.</p>\n",
            cli_fmt_bytes(cli_json_num(cl, "mem_peak_bytes"), b, sizeof(b)));

    if (tl && !json_is_null(tl)) {
        fprintf(f, "<h2>Utilization over time: cpus allocated by role</h2>\n");
        svg_timeline(f, tl, "cpus", "cpus");
        fprintf(f, "<h2>Utilization over time: memory allocated by role</h2>\n");
        svg_timeline(f, tl, "mem", "GiB");
    }
    if (apps && json_array_size(json_object_get(apps, "groups")) > 0) {
        fprintf(f, "<h2>Allocated vs used per app: cpu-hours</h2>\n");
        svg_bars(f, json_object_get(apps, "groups"), "cpus", "cpu-hours", 20);
        fprintf(f, "<h2>Allocated vs used per app: memory GiB-hours</h2>\n");
        svg_bars(f, json_object_get(apps, "groups"), "mem", "GiB-hours", 20);
    }

    if (strcmp(by, "cluster") != 0) {
        fprintf(f, "<h2>By ");
        html_esc(f, by);
        fprintf(f, "</h2>\n<table><tr><th class=\"l\">");
        html_esc(f, by);
        fprintf(f,
                "</th><th>tasks</th><th>cpu-h alloc</th><th>cpu-h used</th><th>cpu eff</th>"
                "<th>GiB-h alloc</th><th>GiB-h used</th><th>mem eff</th><th>peak mem</th>"
                "%s<th class=\"l\">final states</th></tr>\n",
                priced ? "<th>cost</th><th>wasted</th>" : "");
        struct group_rows gr = {f, priced, dec};

        report_group_rows(rep, "total", html_group_row, &gr);
        fprintf(f, "</table>\n");
    }
    if (priced) {
        struct report_cost rc;

        report_fmt_cost(rep, &rc);
        fprintf(f, "<h2>Cost</h2>\n<p class=\"muted\">Prices per hour: %s.</p>\n<table>",
                rc.prices);
        for (int r = 0; r < 4; r++)
            fprintf(f, "<tr><td>%s</td><td>%s</td><td>%s</td></tr>\n", rc.label[r], rc.amount[r],
                    rc.share[r]);
        fprintf(f, "</table>\n");
    }
    json_array_foreach(json_object_get(rep, "warnings"), i, w)
    {
        fprintf(f, "<p><b>Warning:</b> ");
        html_esc(f, json_string_value(w));
        fprintf(f, "</p>\n");
    }
    fprintf(f, "<p class=\"muted\">Generated by agora report. Allocation is counted from task "
               "start to end, clipped to the window; used is measured by the agents.</p>\n"
               "</body></html>\n");
    return ferror(f) ? -AG_EIO : 0;
}
