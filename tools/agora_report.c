/*
 * `agora report`: the accounting report. By default it asks the master
 * (GET /accounting/report at --master, $AGORA_MASTER or 127.0.0.1:5050), as
 * every command does; with --db=PATH it computes the same report from an
 * accounting database file with the engine the master uses
 * (accounting/report.h). Either way the JSON report is rendered here
 * (report_render.h).
 */
#include "agora.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "clock.h"
#include "error.h"
#include "report.h"
#include "report_render.h"

#define REPORT_TIMEOUT_MS 60000 /* a report over a long history takes a while */

static char *opt_db, *opt_since, *opt_until, *opt_by, *opt_format, *opt_price, *opt_output;
static int64_t opt_top, opt_timeline;

static const struct flag report_flags[] = {
    CLI_FLAG_MASTER,
    CLI_FLAG_JSON,
    {"db", FLAG_STRING, &opt_db, NULL,
     "Read this accounting database instead of asking the master: a file (the master's "
     "<work_dir>/accounting.db) or the master's postgresql:// URI (the password may come from "
     "PGPASSWORD or PGPASSFILE instead)."},
    {"since", FLAG_STRING, &opt_since, "7d",
     "Window start: a duration back from now (7d, 12h), a UTC date (2025-01-31) or time "
     "(2025-01-31T12:00Z), or @SECONDS."},
    {"until", FLAG_STRING, &opt_until, "now", "Window end (exclusive), same forms as --since."},
    {"by", FLAG_STRING, &opt_by, "cluster",
     "Grouping: cluster, role, framework, app, agent or task."},
    {"format", FLAG_STRING, &opt_format, "table", "Output: table, csv, json or html."},
    {"top", FLAG_INT64, &opt_top, "0",
     "Show the N largest groups and sum the rest as one row (0: all)."},
    {"price", FLAG_STRING, &opt_price, NULL,
     "Prices per unit-hour, e.g. cpus=0.031,mem=0.004,disk=0.0001 (mem and disk per GiB)."},
    {"timeline", FLAG_INT64, &opt_timeline, "-1",
     "Buckets of the allocation timeline (-1: 120 for html, none otherwise)."},
    {"output", FLAG_STRING, &opt_output, "-", "Write to this file instead of stdout (-)."},
    {NULL},
};

static const struct cli_help report_help = {
    "report [--since=7d] [--until=now] [--by=cluster|role|framework|app|agent|task]\n"
    "report ... [--format=table|csv|json|html] [--top=N] [--price=cpus=X,mem=Y] [--output=FILE]\n"
    "report ... --db=PATH|postgresql://USER@HOST:PORT/DB",
    "Accounting report: cluster utilization and, per group, resources allocated and used,\n"
    "efficiency and cost. Asks the master (GET /accounting/report); with --db, reads an\n"
    "accounting database (SQLite file or PostgreSQL) instead.",
};

/* GET /accounting/report for `q` grouped `by` from the master at `base`. The
 * window goes as @SECONDS so that both reports of an HTML page (and the
 * query) use this process's "now". */
static int
fetch_report(const char *base, const struct report_query *q, const char *by, int top, int timeline,
             json_t **out)
{
    char path[2048], val[512];
    size_t off;
    const char *keys[6] = {"since", "until", "by", "top", "timeline", "price"};
    char since[48], until[48], topbuf[24], tlbuf[24];
    const char *vals[6] = {since, until, by, topbuf, tlbuf, opt_price};

    snprintf(since, sizeof(since), "@%lld.%03lld", (long long)(q->since_ms / 1000),
             (long long)(q->since_ms % 1000));
    snprintf(until, sizeof(until), "@%lld.%03lld", (long long)(q->until_ms / 1000),
             (long long)(q->until_ms % 1000));
    snprintf(topbuf, sizeof(topbuf), "%d", top);
    snprintf(tlbuf, sizeof(tlbuf), "%d", timeline);
    off = (size_t)snprintf(path, sizeof(path), "/accounting/report");
    for (int i = 0; i < 6; i++) {
        if (vals[i] == NULL || vals[i][0] == '\0')
            continue;
        if (cli_urlencode(vals[i], false, val, sizeof(val)) != 0)
            return cli_usage_error("report", "--%s is too long", keys[i]);
        off += (size_t)snprintf(path + off, sizeof(path) - off, "%s%s=%s", i ? "&" : "?", keys[i],
                                val);
        if (off >= sizeof(path))
            return cli_usage_error("report", "the query is too long");
    }
    return cli_get_json_timeout(base, path, "the master", REPORT_TIMEOUT_MS, out);
}

/* The report (and for HTML the per-app one) from the database at `path`. */
static int
compute_report(const char *path, const struct report_query *q, bool html, json_t **rep,
               json_t **apps)
{
    struct adb *db = NULL;
    char err[1024];
    int rc;

    rc = report_open(&db, path, err, sizeof(err));
    if (rc == 0)
        rc = report_compute(db, q, rep, err, sizeof(err));
    if (rc == 0 && html) {
        struct report_query qa = *q;
        qa.by = REPORT_BY_APP;
        qa.top = 20;
        qa.timeline = 0;
        rc = report_compute(db, &qa, apps, err, sizeof(err));
    }
    adb_close(db);
    return rc == 0 ? CLI_OK : cli_error("%s", err);
}

int
cmd_report(int argc, char **argv)
{
    static const char *const fmts[] = {"table", "csv", "json", "html"};
    struct report_query q;
    enum report_format fmt;
    json_t *rep = NULL, *apps = NULL;
    FILE *out = stdout;
    char err[1024], base[512], tl[24], top[24];
    int rc, status = CLI_FAIL;
    size_t i;

    if ((rc = cli_parse(report_flags, &report_help, &argc, argv)) != 0) {
        status = rc < 0 ? CLI_OK : rc;
        goto out;
    }
    if (argc > 1) {
        status = cli_usage_error("report", "unexpected argument \"%s\"", argv[1]);
        goto out;
    }
    for (i = 0; i < 4; i++)
        if (strcmp(cli_opt.json ? "json" : opt_format, fmts[i]) == 0)
            break;
    if (i == 4) {
        status = cli_usage_error("report", "bad --format \"%s\" (want table, csv, json or html)",
                                 opt_format);
        goto out;
    }
    fmt = (enum report_format)i;
    if (opt_timeline < 0)
        opt_timeline = fmt == REPORT_HTML ? 120 : 0;
    snprintf(tl, sizeof(tl), "%lld", (long long)opt_timeline);
    snprintf(top, sizeof(top), "%lld", (long long)opt_top);
    rc = report_query_parse(&q, clock_wall_ms(), opt_since, opt_until, opt_by, top, opt_price, tl, err,
                            sizeof(err));
    if (rc != 0) {
        status = cli_usage_error("report", "%s", err);
        goto out;
    }
    if (opt_db != NULL) {
        rc = compute_report(opt_db, &q, fmt == REPORT_HTML, &rep, &apps);
    } else if ((rc = cli_master_url(base, sizeof(base))) == 0) {
        rc = fetch_report(base, &q, opt_by, q.top, q.timeline, &rep);
        if (rc == 0 && fmt == REPORT_HTML)
            rc = fetch_report(base, &q, "app", 20, 0, &apps);
    }
    if (rc != 0) {
        status = rc;
        goto out;
    }
    if (strcmp(opt_output, "-") != 0 && (out = fopen(opt_output, "w")) == NULL) {
        cli_error("%s: %s", opt_output, strerror(errno));
        out = stdout;
        goto out;
    }
    if (report_render(out, fmt, rep, apps) != 0 || fflush(out) != 0) {
        cli_error("write failed: %s", strerror(errno));
        goto out;
    }
    status = CLI_OK;
out:
    if (out != stdout && fclose(out) != 0 && status == CLI_OK) {
        cli_error("%s: %s", opt_output, strerror(errno));
        status = CLI_FAIL;
    }
    json_decref(rep);
    json_decref(apps);
    flags_free(report_flags);
    return status;
}
