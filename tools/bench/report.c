/*
 * bench-report: the accounting report over a generated history.
 *
 * Generates --days (30) of history for --agents (1,000) agents and --tasks
 * (100,000) tasks into a temporary accounting database, then times
 * report_compute over the whole window for every --by mode (median of --runs),
 * plus one 7-day window and the HTML report (timeline and per-app chart).
 *
 * The history is written with direct SQL into the schema acct_open creates,
 * row for row what the writer thread would have produced, tasks in the order
 * of their start as the master records them: usage samples every
 * --usage_interval (5 minutes), raw for the last --raw_retention (1 day),
 * rolled up into hourly rows before. Agents: cpus:16;mem:65536;disk:1048576,
 * one in ten resized once. Each agent runs 4 slots of back-to-back tasks of
 * 0.5-4 cpus and 0.5-8 GiB; 10 roles, 40 frameworks, about 520 apps. No
 * ANALYZE: the master's database has no statistics either.
 *
 * Separately, --api_events events go through the acct_* API itself, timing
 * the calls as the master's loop sees them and the writer's throughput.
 *
 * The last line of the output is one JSON object with the parameters and
 * every figure: {"bench": "report", "agents", "tasks", "days",
 * "usage_interval_s", "raw_retention_s", "runs", "api_events", "reused",
 * "generation": {"generate_s", "task_rows", "hourly_usage_rows",
 * "raw_usage_rows", "db_mib"} (null with --reuse), "reports": [{"report"
 * (the table's label), "groups", "compute_ms", "render", "render_ms",
 * "total_ms"}], "api": {"events", "issued_ms", "us_per_call",
 * "worst_group_ms", "written_ms", "events_per_s", "transactions"} (null with
 * --api_events=0), "database_kept" (the path, or null)}.
 */
#define _GNU_SOURCE /* mkdtemp */
#include "recorder.h"
#include "error.h"
#include "flags.h"
#include "log.h"
#include "metrics.h"
#include "report.h"
#include "report_render.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HOUR_MS 3600000LL
#define DAY_MS (24 * HOUR_MS)
#define SLOTS 4

static int64_t opt_agents, opt_tasks, opt_days, opt_interval, opt_raw, opt_runs, opt_api;
static char *opt_dir;
static bool opt_keep, opt_reuse;
static json_t *out_reports, *out_api; /* figures for the JSON line */

static const struct flag bench_flags[] = {
    {"agents", FLAG_INT64, &opt_agents, "1000", "Agents."},
    {"tasks", FLAG_INT64, &opt_tasks, "100000", "Tasks over the whole history."},
    {"days", FLAG_INT64, &opt_days, "30", "Length of the history."},
    {"usage_interval", FLAG_DURATION, &opt_interval, "5mins", "Period of usage samples."},
    {"raw_retention", FLAG_DURATION, &opt_raw, "1days", "Raw samples kept before roll-up."},
    {"runs", FLAG_INT64, &opt_runs, "5", "Report runs per mode (median shown)."},
    {"api_events", FLAG_INT64, &opt_api, "300000", "Events sent through the acct_ API."},
    {"dir", FLAG_STRING, &opt_dir, NULL, "Directory for the database (default: a temp dir)."},
    {"keep", FLAG_BOOL, &opt_keep, "false", "Keep the generated database."},
    {"reuse", FLAG_BOOL, &opt_reuse, "false",
     "Time the reports on the database already in --dir (from --keep) without generating."},
    {NULL},
};

static uint64_t rng = 88172645463325252ULL;

static double
urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static double
exprand(double mean)
{
    return -mean * log(1.0 - urand());
}

/* Monotonic milliseconds, for durations. */
static double
now_ms(void)
{
    return (double)metrics_now_ns() / 1e6;
}

static void
die(sqlite3 *db, const char *what)
{
    fprintf(stderr, "bench-report: %s: %s\n", what, db ? sqlite3_errmsg(db) : "failed");
    exit(1);
}

static sqlite3_stmt *
prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        die(db, sql);
    return st;
}

static void
run(sqlite3 *db, sqlite3_stmt *st)
{
    if (sqlite3_step(st) != SQLITE_DONE)
        die(db, "insert");
    sqlite3_reset(st);
}

/* One usage row being accumulated (an hourly group or a raw sample). */
struct urow {
    int64_t start, end, cpu, mem, cum_cpu, cum_mem, peak, rss_last;
    bool open;
};

static void
put_usage(sqlite3 *db, sqlite3_stmt *st, int64_t task, const struct urow *r, bool hourly)
{
    int64_t rss = hourly && r->end > r->start
                      ? (int64_t)((double)r->mem * 1024.0 / (double)(r->end - r->start))
                      : r->rss_last;
    sqlite3_bind_int64(st, 1, task);
    sqlite3_bind_int64(st, 2, r->end);
    sqlite3_bind_int64(st, 3, r->start);
    sqlite3_bind_int64(st, 4, r->cpu);
    sqlite3_bind_int64(st, 5, r->mem);
    sqlite3_bind_int64(st, 6, r->cum_cpu);
    sqlite3_bind_int64(st, 7, r->cum_mem);
    sqlite3_bind_int64(st, 8, rss);
    sqlite3_bind_int64(st, 9, r->peak);
    sqlite3_bind_int(st, 10, hourly);
    run(db, st);
}

struct totals {
    int64_t last, cpu, mem, peak;
    int64_t rows_raw, rows_hourly;
};

/* Emits the usage samples of a task [start, end) at the sample period; those
 * ending at or before `cutoff` grouped per hour of their start. */
static void
gen_usage(sqlite3 *db, sqlite3_stmt *st, int64_t task, int64_t start, int64_t end, int64_t cutoff,
          double cpus, double mem_mib, struct totals *tot)
{
    double u = 0.1 + 0.85 * urand(), m = 0.3 + 0.65 * urand();
    struct urow h = {0};
    int64_t cum_cpu = 0, cum_mem = 0, peak = 0;

    for (int64_t s = start; s < end;) {
        int64_t e = s + opt_interval < end ? s + opt_interval : end, dt = e - s;
        double noise = 0.9 + 0.2 * urand();
        int64_t dcpu = llround(u * cpus * noise * (double)dt);
        int64_t rss = (int64_t)(m * noise * mem_mib) * 1048576;
        int64_t dmem = llround((double)rss / 1024.0 * (double)dt);

        cum_cpu += dcpu;
        cum_mem += dmem;
        if (rss > peak)
            peak = rss;
        if (e <= cutoff) {
            if (h.open && s / HOUR_MS != h.start / HOUR_MS) {
                put_usage(db, st, task, &h, true);
                tot->rows_hourly++;
                h.open = false;
            }
            if (!h.open) {
                memset(&h, 0, sizeof(h));
                h.open = true;
                h.start = s;
            }
            h.end = e;
            h.cpu += dcpu;
            h.mem += dmem;
            h.cum_cpu = cum_cpu;
            h.cum_mem = cum_mem;
            h.peak = peak;
            h.rss_last = rss;
        } else {
            struct urow r = {s, e, dcpu, dmem, cum_cpu, cum_mem, peak, rss, true};
            if (h.open) {
                put_usage(db, st, task, &h, true);
                tot->rows_hourly++;
                h.open = false;
            }
            put_usage(db, st, task, &r, false);
            tot->rows_raw++;
        }
        s = e;
    }
    if (h.open) {
        put_usage(db, st, task, &h, true);
        tot->rows_hourly++;
    }
    tot->last = end > start ? end : 0;
    tot->cpu = cum_cpu;
    tot->mem = cum_mem;
    tot->peak = peak;
}

struct spec {
    int agent, fw, app;
    bool open;
    double cpus, mem;
    int64_t start, end, disk;
};

static int
spec_cmp(const void *a, const void *b)
{
    const struct spec *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static const char *
pick_state(void)
{
    double r = urand();
    return r < 0.80   ? "TASK_FINISHED"
           : r < 0.90 ? "TASK_FAILED"
           : r < 0.98 ? "TASK_KILLED"
                      : "TASK_LOST";
}

/* Generates the history; returns the number of task rows. */
static int64_t
generate(const char *path, int64_t t0, int64_t t1, struct totals *all)
{
    static const double cpu_choices[] = {0.5, 1, 2, 4};
    static const double mem_choices[] = {512, 1024, 2048, 4096, 8192};
    sqlite3 *db;
    sqlite3_stmt *cap, *task, *usage;
    int64_t cutoff = (t1 - opt_raw) / HOUR_MS * HOUR_MS, id = 0;
    int64_t per_agent = opt_tasks / opt_agents, extra = opt_tasks % opt_agents, nspecs = 0;
    struct spec *specs = calloc((size_t)opt_tasks, sizeof(*specs));
    char agent[32], fw[32], app[48], role[32], principal[32], task_id[48], res[96];

    if (sqlite3_open(path, &db) != SQLITE_OK)
        die(db, "open");
    sqlite3_exec(db, "PRAGMA synchronous=OFF; PRAGMA cache_size=-262144; BEGIN", NULL, NULL, NULL);
    cap = prep(db, "INSERT INTO capacity (agent_id, hostname, start_ms, end_ms, cpus, mem, disk, "
                   "gpus, resources) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8)");
    task = prep(db, "INSERT INTO tasks (id, framework_id, task_id, role, principal, app_id, "
                    "agent_id, start_ms, end_ms, state, cpus, mem, disk, gpus, resources, "
                    "usage_ms, cpu_ms, mem_kib_ms, mem_peak, last_cpu_user, last_cpu_sys) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 0, ?14, "
                    "?15, ?16, ?17, ?18, ?19, 0)");
    usage = prep(db, "INSERT INTO usage (task, end_ms, start_ms, cpu_ms, mem_kib_ms, cum_cpu_ms, "
                     "cum_mem_kib_ms, mem_rss, mem_peak, hourly) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");

    for (int64_t ag = 0; ag < opt_agents; ag++) {
        int64_t ntasks = per_agent + (ag < extra), cpus = 16000;
        char host[48];

        snprintf(agent, sizeof(agent), "agent-%05lld", (long long)ag);
        snprintf(host, sizeof(host), "node%05lld.example.net", (long long)ag);
        /* capacity: one interval, or two with a resize for one agent in ten */
        sqlite3_bind_text(cap, 1, agent, -1, SQLITE_STATIC);
        sqlite3_bind_text(cap, 2, host, -1, SQLITE_STATIC);
        sqlite3_bind_int64(cap, 3, t0);
        if (ag % 10 == 9) {
            int64_t at = t0 + (int64_t)(urand() * (double)(t1 - t0));
            sqlite3_bind_int64(cap, 4, at);
            sqlite3_bind_int64(cap, 5, cpus);
            sqlite3_bind_int64(cap, 6, 65536000);
            sqlite3_bind_int64(cap, 7, 1048576000);
            sqlite3_bind_text(cap, 8, "cpus:16;mem:65536;disk:1048576", -1, SQLITE_STATIC);
            run(db, cap);
            sqlite3_bind_text(cap, 1, agent, -1, SQLITE_STATIC);
            sqlite3_bind_text(cap, 2, host, -1, SQLITE_STATIC);
            sqlite3_bind_int64(cap, 3, at);
            cpus = 24000;
        }
        sqlite3_bind_null(cap, 4);
        sqlite3_bind_int64(cap, 5, cpus);
        sqlite3_bind_int64(cap, 6, 65536000);
        sqlite3_bind_int64(cap, 7, 1048576000);
        sqlite3_bind_text(cap, 8,
                          cpus == 16000 ? "cpus:16;mem:65536;disk:1048576"
                                        : "cpus:24;mem:65536;disk:1048576",
                          -1, SQLITE_STATIC);
        run(db, cap);

        for (int slot = 0; slot < SLOTS; slot++) {
            int64_t n = ntasks / SLOTS + (slot < ntasks % SLOTS), k;
            double *dur = malloc(sizeof(double) * (size_t)(2 * n + 1)), sum = 0, scale, cur;

            for (k = 0; k < 2 * n + 1; k++) {
                dur[k] = k % 2 ? exprand(24.0) + 0.02 : exprand(4.8); /* gap, task, gap ... */
                sum += dur[k];
            }
            scale = (double)(t1 - t0) * (0.85 + 0.15 * urand()) / sum;
            cur = (double)t0;
            for (k = 0; k < n; k++) {
                struct spec *sp = &specs[nspecs++];

                sp->agent = (int)ag;
                sp->cpus = cpu_choices[(int)(urand() * 4)];
                sp->mem = mem_choices[(int)(urand() * 5)];
                sp->start = (int64_t)(cur + dur[2 * k] * scale);
                sp->end = (int64_t)((double)sp->start + dur[2 * k + 1] * scale);
                sp->disk = 1024 + (int64_t)(urand() * 9216);
                sp->fw = (int)(urand() * 40);
                sp->app = sp->fw + 40 * (int)(urand() * 12.5);
                cur = (double)sp->end;
                sp->open = k == n - 1 && urand() < 0.7;
                if (sp->open)
                    sp->end = t1;
            }
            free(dur);
        }
    }
    sqlite3_exec(db, "COMMIT; BEGIN", NULL, NULL, NULL);

    /* tasks in the order the master would have recorded them */
    qsort(specs, (size_t)nspecs, sizeof(*specs), spec_cmp);
    for (int64_t i = 0; i < nspecs; i++) {
        const struct spec *sp = &specs[i];
        struct totals tot = {0};

        id++;
        snprintf(agent, sizeof(agent), "agent-%05d", sp->agent);
        snprintf(fw, sizeof(fw), "fw-%02d", sp->fw);
        snprintf(role, sizeof(role), "role-%d", sp->fw % 10);
        snprintf(principal, sizeof(principal), "principal-%02d", sp->fw);
        snprintf(app, sizeof(app), "/team-%d/app-%03d", sp->fw % 10, sp->app);
        snprintf(task_id, sizeof(task_id), "task-%07lld", (long long)id);
        snprintf(res, sizeof(res), "cpus:%g;disk:%lld;mem:%g", sp->cpus, (long long)sp->disk,
                 sp->mem);
        /* usage first: the task row carries its totals (foreign keys are off here) */
        gen_usage(db, usage, id, sp->start, sp->end, cutoff, sp->cpus, sp->mem, &tot);
        sqlite3_bind_int64(task, 1, id);
        sqlite3_bind_text(task, 2, fw, -1, SQLITE_STATIC);
        sqlite3_bind_text(task, 3, task_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(task, 4, role, -1, SQLITE_STATIC);
        sqlite3_bind_text(task, 5, principal, -1, SQLITE_STATIC);
        sqlite3_bind_text(task, 6, app, -1, SQLITE_STATIC);
        sqlite3_bind_text(task, 7, agent, -1, SQLITE_STATIC);
        sqlite3_bind_int64(task, 8, sp->start);
        if (sp->open) {
            sqlite3_bind_null(task, 9);
            sqlite3_bind_null(task, 10);
        } else {
            sqlite3_bind_int64(task, 9, sp->end);
            sqlite3_bind_text(task, 10, pick_state(), -1, SQLITE_STATIC);
        }
        sqlite3_bind_int64(task, 11, llround(sp->cpus * 1000));
        sqlite3_bind_int64(task, 12, llround(sp->mem * 1000));
        sqlite3_bind_int64(task, 13, sp->disk * 1000);
        sqlite3_bind_text(task, 14, res, -1, SQLITE_STATIC);
        sqlite3_bind_int64(task, 15, tot.last);
        sqlite3_bind_int64(task, 16, tot.cpu);
        sqlite3_bind_int64(task, 17, tot.mem);
        sqlite3_bind_int64(task, 18, tot.peak);
        sqlite3_bind_double(task, 19, (double)tot.cpu / 1000.0);
        run(db, task);
        all->rows_raw += tot.rows_raw;
        all->rows_hourly += tot.rows_hourly;
        if (i % 5000 == 4999)
            sqlite3_exec(db, "COMMIT; BEGIN", NULL, NULL, NULL);
    }
    free(specs);
    {
        char sql[128];
        snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO meta VALUES ('bench_now_ms', '%lld')",
                 (long long)t1);
        sqlite3_exec(db, sql, NULL, NULL, NULL);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_finalize(cap);
    sqlite3_finalize(task);
    sqlite3_finalize(usage);
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    sqlite3_close(db);
    return id;
}

static int
dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), dbl_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
time_report(struct adb *db, const char *label, const struct report_query *q, bool html)
{
    double t[64], r[64];
    int runs = opt_runs < 64 ? (int)opt_runs : 64;
    size_t groups = 0;
    char err[512];

    for (int i = 0; i < runs; i++) {
        json_t *rep = NULL, *apps = NULL;
        FILE *devnull = fopen("/dev/null", "w");
        double s = now_ms();

        if (report_compute(db, q, &rep, err, sizeof(err)) != 0) {
            fprintf(stderr, "bench-report: %s\n", err);
            exit(1);
        }
        if (html) {
            struct report_query qa = *q;
            qa.by = REPORT_BY_APP;
            qa.top = 20;
            qa.timeline = 0;
            if (report_compute(db, &qa, &apps, err, sizeof(err)) != 0) {
                fprintf(stderr, "bench-report: %s\n", err);
                exit(1);
            }
        }
        t[i] = now_ms() - s;
        s = now_ms();
        report_render(devnull, html ? REPORT_HTML : REPORT_TABLE, rep, apps);
        r[i] = now_ms() - s;
        groups = json_array_size(json_object_get(rep, "groups"));
        fclose(devnull);
        json_decref(rep);
        json_decref(apps);
    }
    printf("  %-28s groups %7zu   compute %8.1f ms   render %-5s %7.1f ms   total %8.1f ms\n",
           label, groups, median(t, runs), html ? "html" : "table", median(r, runs),
           median(t, runs) + median(r, runs));
    json_array_append_new(out_reports,
                          json_pack("{s:s, s:I, s:f, s:s, s:f, s:f}", "report", label, "groups",
                                    (json_int_t)groups, "compute_ms", median(t, runs), "render",
                                    html ? "html" : "table", "render_ms", median(r, runs),
                                    "total_ms", median(t, runs) + median(r, runs)));
}

/* Times the acct_* API: the calls as the loop sees them, and the writer. */
static void
bench_api(const char *dir)
{
    char path[600], err[512];
    struct acct *a;
    struct resources res, cap;
    double t0, calls = 0, worst = 0;
    int64_t n = opt_api, ntasks = n / 4;
    double base = 1.7e9;

    snprintf(path, sizeof(path), "%s/api.db", dir);
    if (acct_open(&a, path, 24 * HOUR_MS, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench-report: %s\n", err);
        exit(1);
    }
    res_init(&res);
    res_init(&cap);
    res_parse(&res, "cpus:1;mem:1024;disk:2048", NULL, 0);
    res_parse(&cap, "cpus:16;mem:65536;disk:1048576;ports:[31000-32000]", NULL, 0);
    t0 = now_ms();
    for (int64_t i = 0; i < 1000; i++) {
        char agent[32];
        snprintf(agent, sizeof(agent), "agent-%05lld", (long long)i);
        acct_agent_capacity(a, base, agent, "host", &cap);
    }
    /* per task: start, two usage samples, end */
    for (int64_t i = 0; i < ntasks; i++) {
        char task[32], agent[32];
        double s = now_ms(), d, t = base + (double)i * 0.05;

        snprintf(task, sizeof(task), "task-%07lld", (long long)i);
        snprintf(agent, sizeof(agent), "agent-%05lld", (long long)(i % 1000));
        acct_task_start(a, t, "fw-1", "role-1", "p", "/app", task, agent, &res);
        acct_usage(a, t + 30, "fw-1", task, 10, 2, 512 << 20, 600 << 20);
        acct_usage(a, t + 60, "fw-1", task, 20, 4, 520 << 20, 600 << 20);
        acct_task_end(a, t + 90, "fw-1", task, "TASK_FINISHED");
        d = now_ms() - s;
        calls += d;
        if (d > worst)
            worst = d;
    }
    double issued = now_ms() - t0;
    acct_flush(a);
    double total = now_ms() - t0;
    struct acct_stats st;
    acct_get_stats(a, &st);
    printf("acct_ API: %lld events issued in %.0f ms (%.2f us per call on the loop, worst group "
           "of 4 calls %.2f ms), all written after %.0f ms (%.0f events/s, %llu transactions)\n",
           (long long)st.events, issued, calls * 1000.0 / (double)(ntasks * 4), worst, total,
           (double)st.written / (total / 1000.0), (unsigned long long)st.batches);
    out_api =
        json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:I}", "events", (json_int_t)st.events,
                  "issued_ms", issued, "us_per_call", calls * 1000.0 / (double)(ntasks * 4),
                  "worst_group_ms", worst, "written_ms", total, "events_per_s",
                  (double)st.written / (total / 1000.0), "transactions", (json_int_t)st.batches);
    acct_close(a);
    res_fini(&res);
    res_fini(&cap);
    for (const char *suf = ""; suf; suf = strcmp(suf, "") == 0       ? "-wal"
                                          : strcmp(suf, "-wal") == 0 ? "-shm"
                                                                     : NULL) {
        char p[640];
        snprintf(p, sizeof(p), "%s%s", path, suf);
        unlink(p);
    }
}

int
main(int argc, char **argv)
{
    char dir[512], path[600], err[512];
    struct acct *a;
    struct totals all = {0};
    struct report_query q;
    struct adb *rdb;
    int64_t t1, t0, ntasks;
    double g0, gen;
    json_t *out, *generation = json_null(), *kept = json_null();
    char *line;
    bool reused = false;
    int rc;

    log_set_level(AG_LOG_WARN);
    rc = flags_parse(bench_flags, &argc, argv, err, sizeof(err));
    if (rc == FLAGS_HELP) {
        flags_usage(bench_flags, "bench-report", "Times agora report over a generated history.",
                    stdout);
        return 0;
    }
    if (rc != 0 || opt_agents < 1 || opt_tasks < opt_agents || opt_days < 1 || opt_runs < 1 ||
        opt_interval < 1000) {
        fprintf(stderr, "bench-report: %s\n", rc ? err : "bad arguments");
        return 2;
    }
    if (opt_dir) {
        snprintf(dir, sizeof(dir), "%s", opt_dir);
    } else {
        snprintf(dir, sizeof(dir), "/tmp/bench-report-XXXXXX");
        if (mkdtemp(dir) == NULL) {
            perror("mkdtemp");
            return 1;
        }
    }
    snprintf(path, sizeof(path), "%s/accounting.db", dir);
    if (opt_reuse && opt_dir && access(path, R_OK) == 0) {
        sqlite3 *rd;
        sqlite3_stmt *st;

        if (sqlite3_open_v2(path, &rd, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
            die(rd, "open");
        st = prep(rd, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'bench_now_ms'");
        if (sqlite3_step(st) != SQLITE_ROW)
            die(rd, "no bench_now_ms in meta");
        t1 = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(rd);
        t0 = t1 - opt_days * DAY_MS;
        printf("reusing %s\n", path);
        reused = true;
        goto report;
    }
    unlink(path);

    /* the schema, as the master creates it */
    if (acct_open(&a, path, opt_raw, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench-report: %s\n", err);
        return 1;
    }
    acct_close(a);

    t1 = (int64_t)time(NULL) / 3600 * 3600 * 1000;
    t0 = t1 - opt_days * DAY_MS;
    printf("history: %lld days, %lld agents, %lld tasks, usage every %llds, raw for the last "
           "%lldh\n",
           (long long)opt_days, (long long)opt_agents, (long long)opt_tasks,
           (long long)(opt_interval / 1000), (long long)(opt_raw / HOUR_MS));
    g0 = now_ms();
    ntasks = generate(path, t0, t1, &all);
    gen = now_ms() - g0;
    {
        FILE *f = fopen(path, "r");
        long size = 0;
        if (f) {
            fseek(f, 0, SEEK_END);
            size = ftell(f);
            fclose(f);
        }
        printf("generated in %.1f s (direct SQL): %lld task rows, %lld hourly + %lld raw usage "
               "rows, %.0f MiB\n",
               gen / 1000, (long long)ntasks, (long long)all.rows_hourly, (long long)all.rows_raw,
               (double)size / 1048576.0);
        generation = json_pack("{s:f, s:I, s:I, s:I, s:f}", "generate_s", gen / 1000, "task_rows",
                               (json_int_t)ntasks, "hourly_usage_rows", (json_int_t)all.rows_hourly,
                               "raw_usage_rows", (json_int_t)all.rows_raw, "db_mib",
                               (double)size / 1048576.0);
    }

report:
    if (report_open(&rdb, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench-report: %s\n", err);
        return 1;
    }
    out_reports = json_array();
    printf("report over the whole %lld days (median of %lld runs):\n", (long long)opt_days,
           (long long)opt_runs);
    static const char *const modes[] = {"cluster", "role", "framework", "app", "agent", "task"};
    for (int m = 0; m < 6; m++) {
        char label[64];
        snprintf(label, sizeof(label), "--by %s", modes[m]);
        memset(&q, 0, sizeof(q));
        q.since_ms = t0;
        q.until_ms = t1;
        q.now_ms = t1;
        q.by = (enum report_by)m;
        q.priced = true;
        q.price[REPORT_CPUS] = 0.031;
        q.price[REPORT_MEM] = 0.004;
        q.price[REPORT_DISK] = 0.0001;
        time_report(rdb, label, &q, false);
    }
    memset(&q, 0, sizeof(q));
    q.since_ms = t0;
    q.until_ms = t1;
    q.now_ms = t1;
    q.by = REPORT_BY_ROLE;
    q.timeline = 120;
    time_report(rdb, "--by role --format html", &q, true);
    q.since_ms = t1 - 7 * DAY_MS - 1800000;
    q.until_ms = t1 - 1800000;
    q.timeline = 0;
    q.by = REPORT_BY_APP;
    time_report(rdb, "--by app, 7 days mid-hour", &q, false);
    adb_close(rdb);

    if (opt_api > 0)
        bench_api(dir);

    if (!opt_keep && !opt_dir) {
        const char *suf[] = {"", "-wal", "-shm"};
        for (int i = 0; i < 3; i++) {
            char p[640];
            snprintf(p, sizeof(p), "%s%s", path, suf[i]);
            unlink(p);
        }
        rmdir(dir);
    } else {
        printf("database kept: %s\n", path);
        kept = json_string(path);
    }
    out = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:o, s:o, s:o, s:o}", "bench",
                    "report", "agents", (json_int_t)opt_agents, "tasks", (json_int_t)opt_tasks,
                    "days", (json_int_t)opt_days, "usage_interval_s",
                    (json_int_t)(opt_interval / 1000), "raw_retention_s",
                    (json_int_t)(opt_raw / 1000), "runs", (json_int_t)opt_runs, "api_events",
                    (json_int_t)opt_api, "reused", reused, "generation", generation, "reports",
                    out_reports, "api", out_api ? out_api : json_null(), "database_kept", kept);
    line = out ? json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    if (line == NULL) {
        fprintf(stderr, "bench-report: cannot build the JSON line\n");
        return 1;
    }
    puts(line);
    free(line);
    json_decref(out);
    flags_free(bench_flags);
    return 0;
}
