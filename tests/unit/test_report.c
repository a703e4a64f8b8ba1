/*
 * The report over a small synthetic history recorded through the acct_ API,
 * with every figure worked out by hand below (H(x) = hour x):
 *
 * Agents: a1 cpus:4;mem:8192 from H0 on; a2 cpus:2;mem:4096 from H0,
 * removed at H6.
 *
 *  task fw role  app    agent cpus mem   interval        final        usage
 *  t6   F1 web   /shop  a1    1    1024  H0-H2           FINISHED     -
 *  t1   F1 web   /shop  a1    2    2048  H1-H3           FINISHED     1 cpu, 1 GiB all along
 *  t2   F1 web   /shop  a1    1    1024  H3-H5           FAILED       0.5 cpu, 0.5 GiB
 *  t3   F2 batch -      a2    2    4096  H4-H6 (removed) GONE         none
 *  t7   F2 batch /etl   a1    1    128   H5-H5           ERROR        -
 *  t4   F2 batch /etl   a1    0.5  1024  H7-(running)    -            0.5 cpu, 1 GiB (H9)
 *  t5   F1 web   /shop  a1    1    1024  H8-H9           FINISHED     -
 *
 * Window [H2, H8), now H10:
 *  capacity  cpus 4x6 + 2x4 = 32 cpu-h, mem 8x6 + 4x4 = 64 GiB-h
 *  t6 ends at H2: outside; t5 starts at H8: outside; t7 counts, with nothing.
 *  t1 [H2,H3): 2 cpu-h, 2 GiB-h; used: cumulative cpu at H3 7200 s, at H2 half
 *     way through the H1.5-H2.5 sample (5400 - 1800 = 3600 s) -> 1 cpu-h; 1 GiB-h
 *  t2 [H3,H5): 2 cpu-h, 2 GiB-h, used 1 cpu-h, 1 GiB-h
 *  t3 [H4,H6): 4 cpu-h, 8 GiB-h, used 0
 *  t4 [H7,H8): 0.5 cpu-h, 1 GiB-h; used: half of the H7-H9 sample: 0.5 cpu-h, 1 GiB-h
 *  allocated 8.5 cpu-h, 13 GiB-h; used 2.5 cpu-h, 3 GiB-h; idle 23.5, 51
 *  unused (allocated - used per task) 6 cpu-h, 10 GiB-h
 *  web   (t1 t2):    4 / 2 cpu-h, 4 / 2 GiB-h, FINISHED 1 FAILED 1, peak 1.5 GiB
 *  batch (t3 t4 t7): 4.5 / 0.5 cpu-h, 9 / 1 GiB-h, GONE 1 RUNNING 1 ERROR 1, peak 1 GiB
 *  prices cpus=0.04,mem=0.01: capacity 1.92, allocated 0.47 (web 0.20, batch 0.27),
 *  idle 1.45, wasted 0.34 (web 0.10, batch 0.24)
 */
#define _GNU_SOURCE /* mkdtemp, open_memstream */
#include "test.h"

#include "pg_fixture.h"
#include "recorder.h"
#include "error.h"
#include "log.h"
#include "report.h"
#include "report_render.h"

#include <ctype.h>
#include <math.h>
#include <unistd.h>

#define T0 1699999200.0 /* an hour boundary */
#define H(x) (T0 + (x)*3600.0)
#define HMS(x) ((int64_t)llround(H(x) * 1000.0))
#define GIB 1073741824ULL

static char dir[64];
static char path[600]; /* the SQLite file, or PostgreSQL's URI */
static bool pg;        /* this case runs on PostgreSQL (the pg_ cases) */

static void
setup(void)
{
    log_set_level(AG_LOG_ERROR);
    if (pg)
        pg_fixture_start(path, sizeof(path)); /* first: it may skip the case */
    snprintf(dir, sizeof(dir), "/tmp/agora-test-report-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    if (!pg)
        snprintf(path, sizeof(path), "%s/accounting.db", dir);
}

static void
teardown(void)
{
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[700];

    if (pg)
        pg_fixture_stop();
    for (size_t i = 0; i < 4 && !pg; i++) {
        snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
        unlink(p);
    }
    CHECK_EQ_INT(rmdir(dir), 0);
}

static void
start(struct acct *a, double t, const char *fw, const char *role, const char *app, const char *task,
      const char *agent, const char *res_text)
{
    struct resources r;

    res_init(&r);
    CHECK_EQ_INT(res_parse(&r, res_text, NULL, 0), 0);
    acct_task_start(a, t, fw, role, "p", app, task, agent, &r);
    res_fini(&r);
}

static void
capacity(struct acct *a, double t, const char *agent, const char *res_text)
{
    struct resources r;

    res_init(&r);
    CHECK_EQ_INT(res_parse(&r, res_text, NULL, 0), 0);
    acct_agent_capacity(a, t, agent, agent, &r);
    res_fini(&r);
}

/* Records the history in the comment at the top. */
static void
make_history(void)
{
    struct acct *a;
    char err[256];

    CHECK_EQ_INT(acct_open(&a, path, 0, err, sizeof(err)), 0);
    capacity(a, H(0), "a1", "cpus:4;mem:8192");
    capacity(a, H(0), "a2", "cpus:2;mem:4096");
    start(a, H(0), "F1", "web", "/shop", "t6", "a1", "cpus:1;mem:1024");
    start(a, H(1), "F1", "web", "/shop", "t1", "a1", "cpus:2;mem:2048");
    acct_usage(a, H(1.5), "F1", "t1", 1800, 0, GIB, GIB);
    acct_task_end(a, H(2), "F1", "t6", "TASK_FINISHED");
    acct_usage(a, H(2.5), "F1", "t1", 5000, 400, GIB, GIB);
    acct_usage(a, H(3), "F1", "t1", 6800, 400, GIB, GIB + GIB / 2);
    acct_task_end(a, H(3), "F1", "t1", "TASK_FINISHED");
    start(a, H(3), "F1", "web", "/shop", "t2", "a1", "cpus:1;mem:1024");
    start(a, H(4), "F2", "batch", "", "t3", "a2", "cpus:2;mem:4096");
    acct_usage(a, H(4), "F1", "t2", 1800, 0, GIB / 2, GIB / 2);
    acct_usage(a, H(5), "F1", "t2", 3600, 0, GIB / 2, GIB / 2 + GIB / 4);
    acct_task_end(a, H(5), "F1", "t2", "TASK_FAILED");
    start(a, H(5), "F2", "batch", "/etl", "t7", "a1", "cpus:1;mem:128");
    acct_task_end(a, H(5), "F2", "t7", "TASK_ERROR");
    acct_agent_capacity(a, H(6), "a2", "a2", NULL);
    acct_task_end(a, H(6.5), "F2", "t3", "TASK_GONE");
    start(a, H(7), "F2", "batch", "/etl", "t4", "a1", "cpus:0.5;mem:1024");
    start(a, H(8), "F1", "web", "/shop", "t5", "a1", "cpus:1;mem:1024");
    acct_usage(a, H(9), "F2", "t4", 3000, 600, GIB, GIB);
    acct_task_end(a, H(9), "F1", "t5", "TASK_FINISHED");
    acct_close(a);
}

static json_t *
compute(struct adb *db, double since_h, double until_h, enum report_by by, int top, bool priced,
        int timeline)
{
    struct report_query q;
    json_t *rep = NULL;
    char err[256];

    memset(&q, 0, sizeof(q));
    q.since_ms = HMS(since_h);
    q.until_ms = HMS(until_h);
    q.now_ms = HMS(10);
    q.by = by;
    q.top = top;
    q.timeline = timeline;
    if (priced) {
        q.priced = true;
        q.price[REPORT_CPUS] = 0.04;
        q.price[REPORT_MEM] = 0.01;
    }
    if (report_compute(db, &q, &rep, err, sizeof(err)) != 0) {
        fprintf(stderr, "report_compute: %s\n", err);
        CHECK(0);
    }
    return rep;
}

static double
num(json_t *o, const char *path)
{
    char part[64];

    while (*path) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        memcpy(part, path, len);
        part[len] = '\0';
        if (isdigit((unsigned char)part[0]))
            o = json_array_get(o, (size_t)atoi(part));
        else
            o = json_object_get(o, part);
        CHECK(o != NULL);
        path += len + (dot ? 1 : 0);
    }
    CHECK(json_is_number(o));
    return json_number_value(o);
}

#define CHECK_NEAR(a, b)                                                                           \
    do {                                                                                           \
        double _a = (a), _b = (b);                                                                 \
        if (fabs(_a - _b) > 1e-9 * (1 + fabs(_b))) {                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%.12g != %.12g)\n", __FILE__,          \
                    __LINE__, #a, #b, _a, _b);                                                     \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static json_t *
group(json_t *rep, const char *key)
{
    size_t i;
    json_t *g;

    json_array_foreach(json_object_get(rep, "groups"), i, g)
    {
        if (strcmp(json_string_value(json_object_get(g, "key")), key) == 0)
            return g;
    }
    fprintf(stderr, "no group %s\n", key);
    CHECK(0);
    return NULL;
}

static long long
state_count(json_t *g, const char *state)
{
    return json_integer_value(json_object_get(json_object_get(g, "states"), state));
}

static struct adb *
open_history(void)
{
    struct adb *db;
    char err[256];

    setup();
    make_history();
    CHECK_EQ_INT(report_open(&db, path, err, sizeof(err)), 0);
    return db;
}

static void
close_history(struct adb *db)
{
    adb_close(db);
    teardown();
}

/* The cluster figures of the window [H2, H8), worked out above. */
static void
test_cluster_figures(void)
{
    struct adb *db = open_history();
    json_t *rep = compute(db, 2, 8, REPORT_BY_CLUSTER, 0, false, 0), *cl;

    cl = json_object_get(rep, "cluster");
    CHECK_NEAR(num(rep, "window.hours"), 6);
    CHECK_NEAR(num(cl, "agents"), 2);
    CHECK_NEAR(num(cl, "cpus.capacity"), 32);
    CHECK_NEAR(num(cl, "cpus.allocated"), 8.5);
    CHECK_NEAR(num(cl, "cpus.used"), 2.5);
    CHECK_NEAR(num(cl, "cpus.idle"), 23.5);
    CHECK_NEAR(num(cl, "cpus.unused"), 6);
    CHECK_NEAR(num(cl, "mem.capacity"), 64);
    CHECK_NEAR(num(cl, "mem.allocated"), 13);
    CHECK_NEAR(num(cl, "mem.used"), 3);
    CHECK_NEAR(num(cl, "mem.idle"), 51);
    CHECK_NEAR(num(cl, "mem.unused"), 10);
    CHECK_NEAR(num(cl, "disk.allocated"), 0);
    CHECK_NEAR(num(cl, "mem_peak_bytes"), 1.5 * GIB);
    CHECK_NEAR(num(cl, "tasks"), 5);
    CHECK(json_is_null(json_object_get(json_object_get(cl, "disk"), "used")));
    CHECK_EQ_INT(json_array_size(json_object_get(rep, "groups")), 1);
    CHECK_NEAR(num(rep, "groups.0.cpus_allocated"), 8.5);
    CHECK_NEAR(num(rep, "total.cpus_used"), 2.5);
    CHECK_EQ_INT(json_array_size(json_object_get(rep, "warnings")), 0);
    CHECK(json_is_null(json_object_get(rep, "cost")));
    json_decref(rep);
    close_history(db);
}

/* Per role, the groups sum to the cluster, with the states at the window's end. */
static void
test_by_role_sums_to_cluster(void)
{
    struct adb *db = open_history();
    json_t *rep = compute(db, 2, 8, REPORT_BY_ROLE, 0, false, 0), *web, *batch, *cl;
    static const char *const ckeys[] = {"cpus.allocated", "cpus.used", "cpus.unused",
                                        "mem.allocated",  "mem.used",  "mem.unused",
                                        "tasks"};
    static const char *const gkeys[] = {"cpus_allocated", "cpus_used", "cpus_unused",
                                        "mem_allocated",  "mem_used",  "mem_unused",
                                        "tasks"};

    cl = json_object_get(rep, "cluster");
    web = group(rep, "web");
    batch = group(rep, "batch");
    CHECK_EQ_INT(json_array_size(json_object_get(rep, "groups")), 2);
    /* sorted by cpu-hours allocated */
    CHECK_EQ_STR(json_string_value(
                     json_object_get(json_array_get(json_object_get(rep, "groups"), 0), "key")),
                 "batch");
    CHECK_NEAR(num(web, "cpus_allocated"), 4);
    CHECK_NEAR(num(web, "cpus_used"), 2);
    CHECK_NEAR(num(web, "cpus_used") / num(web, "cpus_allocated"), 0.5);
    CHECK_NEAR(num(web, "mem_allocated"), 4);
    CHECK_NEAR(num(web, "mem_used"), 2);
    CHECK_NEAR(num(web, "mem_peak_bytes"), 1.5 * GIB);
    CHECK_NEAR(num(web, "tasks"), 2);
    CHECK_EQ_INT(state_count(web, "TASK_FINISHED"), 1);
    CHECK_EQ_INT(state_count(web, "TASK_FAILED"), 1);
    CHECK_NEAR(num(batch, "cpus_allocated"), 4.5);
    CHECK_NEAR(num(batch, "cpus_used"), 0.5);
    CHECK_NEAR(num(batch, "cpus_used") / num(batch, "cpus_allocated"), 0.5 / 4.5);
    CHECK_NEAR(num(batch, "mem_allocated"), 9);
    CHECK_NEAR(num(batch, "mem_used"), 1);
    CHECK_NEAR(num(batch, "mem_peak_bytes"), GIB);
    CHECK_NEAR(num(batch, "tasks"), 3);
    CHECK_EQ_INT(state_count(batch, "TASK_GONE"), 1);
    CHECK_EQ_INT(state_count(batch, "RUNNING"), 1);
    CHECK_EQ_INT(state_count(batch, "TASK_ERROR"), 1);
    for (size_t i = 0; i < sizeof(gkeys) / sizeof(gkeys[0]); i++) {
        const char *k = gkeys[i];
        double cluster = num(cl, ckeys[i]);
        CHECK_NEAR(num(web, k) + num(batch, k), cluster);
        CHECK_NEAR(num(json_object_get(rep, "total"), k), cluster);
    }
    /* allocated never exceeds capacity */
    CHECK(num(cl, "cpus.allocated") <= num(cl, "cpus.capacity"));
    CHECK(num(cl, "mem.allocated") <= num(cl, "mem.capacity"));
    json_decref(rep);

    /* every other grouping partitions the same figures */
    for (int by = REPORT_BY_FRAMEWORK; by <= REPORT_BY_TASK; by++) {
        json_t *g;
        size_t i;
        double cpu = 0, used = 0, mem = 0, tasks = 0;

        rep = compute(db, 2, 8, (enum report_by)by, 0, false, 0);
        json_array_foreach(json_object_get(rep, "groups"), i, g)
        {
            cpu += num(g, "cpus_allocated");
            used += num(g, "cpus_used");
            mem += num(g, "mem_allocated");
            tasks += num(g, "tasks");
        }
        CHECK_NEAR(cpu, 8.5);
        CHECK_NEAR(used, 2.5);
        CHECK_NEAR(mem, 13);
        CHECK_NEAR(tasks, 5);
        if (by == REPORT_BY_APP) {
            CHECK_NEAR(num(group(rep, "/shop"), "cpus_allocated"), 4);
            CHECK_NEAR(num(group(rep, "(no app)"), "cpus_allocated"), 4);
            CHECK_NEAR(num(group(rep, "/etl"), "cpus_allocated"), 0.5);
        } else if (by == REPORT_BY_AGENT) {
            CHECK_NEAR(num(group(rep, "a1"), "cpus_allocated"), 4.5);
            CHECK_NEAR(num(group(rep, "a2"), "cpus_allocated"), 4);
        } else if (by == REPORT_BY_TASK) {
            CHECK_EQ_INT(json_array_size(json_object_get(rep, "groups")), 5);
            CHECK_NEAR(num(group(rep, "F1/t1"), "cpus_used"), 1);
            CHECK_NEAR(num(group(rep, "F2/t4"), "mem_used"), 1);
        }
        json_decref(rep);
    }
    close_history(db);
}

/* Adjacent windows add up to the window that covers them: a task across an
 * edge is counted in each window only for its part inside. */
static void
test_edges_clipped(void)
{
    struct adb *db = open_history();
    json_t *full = compute(db, 0, 10, REPORT_BY_CLUSTER, 0, false, 0);
    json_t *w1 = compute(db, 0, 2, REPORT_BY_CLUSTER, 0, false, 0);
    json_t *w2 = compute(db, 2, 8, REPORT_BY_CLUSTER, 0, false, 0);
    json_t *w3 = compute(db, 8, 10, REPORT_BY_CLUSTER, 0, false, 0);
    json_t *late = compute(db, 9, 12, REPORT_BY_CLUSTER, 0, false, 0);
    static const char *const keys[] = {"cpus.capacity", "cpus.allocated", "cpus.used",
                                       "mem.capacity",  "mem.allocated",  "mem.used"};

    /* by hand: [H0,H10) capacity 40 + 12, allocated t6 2 + t1 4 + t2 2 + t3 4 +
     * t4 1.5 + t5 1 = 14.5, used t1 2 + t2 1 + t4 1 = 4 */
    CHECK_NEAR(num(full, "cluster.cpus.capacity"), 52);
    CHECK_NEAR(num(full, "cluster.cpus.allocated"), 14.5);
    CHECK_NEAR(num(full, "cluster.cpus.used"), 4);
    CHECK_NEAR(num(w1, "cluster.cpus.allocated"), 4);
    CHECK_NEAR(num(w1, "cluster.cpus.used"), 1);
    CHECK_NEAR(num(w3, "cluster.cpus.allocated"), 2);
    CHECK_NEAR(num(w3, "cluster.cpus.used"), 0.5);
    CHECK_NEAR(num(w1, "cluster.tasks"), 2); /* t6, t1 */
    CHECK_NEAR(num(w3, "cluster.tasks"), 2); /* t4, t5 */
    CHECK_NEAR(num(full, "cluster.tasks"), 7);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char k[64];
        snprintf(k, sizeof(k), "cluster.%s", keys[i]);
        CHECK_NEAR(num(w1, k) + num(w2, k) + num(w3, k), num(full, k));
    }
    /* until after now: clipped to now (H10) */
    CHECK_NEAR(num(late, "window.hours"), 1);
    CHECK_NEAR(num(late, "cluster.cpus.allocated"), 0.5);
    CHECK_NEAR(num(late, "cluster.cpus.capacity"), 4);
    json_decref(full);
    json_decref(w1);
    json_decref(w2);
    json_decref(w3);
    json_decref(late);
    close_history(db);
}

/* Costs per group and in total, the idle and the wasted shares. */
static void
test_cost(void)
{
    struct adb *db = open_history();
    json_t *rep = compute(db, 2, 8, REPORT_BY_ROLE, 0, true, 0);

    CHECK_NEAR(num(rep, "prices.cpus"), 0.04);
    CHECK_NEAR(num(rep, "cost.capacity"), 1.92);
    CHECK_NEAR(num(rep, "cost.allocated"), 0.47);
    CHECK_NEAR(num(rep, "cost.idle"), 1.45);
    CHECK_NEAR(num(rep, "cost.wasted"), 0.34);
    CHECK_NEAR(num(group(rep, "web"), "cost"), 0.20);
    CHECK_NEAR(num(group(rep, "web"), "cost_wasted"), 0.10);
    CHECK_NEAR(num(group(rep, "batch"), "cost"), 0.27);
    CHECK_NEAR(num(group(rep, "batch"), "cost_wasted"), 0.24);
    CHECK_NEAR(num(rep, "total.cost"), 0.47);
    json_decref(rep);

    /* --top 1: the rest is one "(other)" row; the total is unchanged */
    rep = compute(db, 2, 8, REPORT_BY_ROLE, 1, true, 0);
    CHECK_EQ_INT(json_array_size(json_object_get(rep, "groups")), 1);
    CHECK_EQ_STR(json_string_value(
                     json_object_get(json_array_get(json_object_get(rep, "groups"), 0), "key")),
                 "batch");
    CHECK_NEAR(num(rep, "other.cost"), 0.20);
    CHECK_NEAR(num(rep, "other.groups"), 1);
    CHECK_NEAR(num(rep, "total.cost"), 0.47);
    json_decref(rep);
    close_history(db);
}

/* The timeline: average cpus allocated per role and capacity, per hour. */
static void
test_timeline(void)
{
    struct adb *db = open_history();
    json_t *rep = compute(db, 2, 8, REPORT_BY_CLUSTER, 0, false, 6), *tl, *roles;
    static const double cap[6] = {6, 6, 6, 6, 4, 4};
    static const double web[6] = {2, 1, 1, 0, 0, 0};
    static const double batch[6] = {0, 0, 2, 2, 0, 0.5};

    tl = json_object_get(rep, "timeline");
    CHECK_NEAR(num(tl, "buckets"), 6);
    CHECK_NEAR(num(tl, "bucket_ms"), 3600000);
    roles = json_object_get(tl, "roles");
    CHECK_EQ_INT(json_array_size(roles), 2);
    for (int i = 0; i < 6; i++) {
        char k[32];
        snprintf(k, sizeof(k), "capacity.cpus.%d", i);
        CHECK_NEAR(num(tl, k), cap[i]);
        for (size_t r = 0; r < 2; r++) {
            json_t *role = json_array_get(roles, r);
            const char *name = json_string_value(json_object_get(role, "role"));
            snprintf(k, sizeof(k), "cpus.%d", i);
            CHECK_NEAR(num(role, k), strcmp(name, "web") == 0 ? web[i] : batch[i]);
        }
    }
    /* buckets that do not divide the window: the last one is shorter */
    json_decref(rep);
    rep = compute(db, 2, 8, REPORT_BY_CLUSTER, 0, false, 4);
    tl = json_object_get(rep, "timeline");
    CHECK_NEAR(num(tl, "buckets"), 4);
    CHECK_NEAR(num(tl, "bucket_ms"), 5400000);
    CHECK_NEAR(num(tl, "capacity.cpus.3"), 4);        /* H6.5-H8 */
    CHECK_NEAR(num(tl, "capacity.cpus.2"), 16.0 / 3); /* H5-H6.5: 6 for 1 h, 4 for 0.5 h */
    json_decref(rep);
    close_history(db);
}

/* Every format produces output; the HTML page is self-contained with SVG. */
static void
test_formats(void)
{
    struct adb *db = open_history();
    json_t *rep = compute(db, 2, 8, REPORT_BY_ROLE, 0, true, 12);
    json_t *apps = compute(db, 2, 8, REPORT_BY_APP, 20, false, 0);
    json_t *cl = compute(db, 2, 8, REPORT_BY_CLUSTER, 0, true, 0);
    char *buf;
    size_t len;
    FILE *f;

    for (int fmt = REPORT_TABLE; fmt <= REPORT_HTML; fmt++) {
        f = open_memstream(&buf, &len);
        CHECK_EQ_INT(report_render(f, (enum report_format)fmt, rep, apps), 0);
        fclose(f);
        CHECK(len > 200);
        switch (fmt) {
        case REPORT_TABLE:
            CHECK(strstr(buf, "Cluster utilization") != NULL);
            CHECK(strstr(buf, "23.5 (73.4%)") != NULL); /* idle cpus */
            CHECK(strstr(buf, "batch") != NULL && strstr(buf, "TOTAL") != NULL);
            CHECK(strstr(buf, "wasted") != NULL);
            break;
        case REPORT_CSV: {
            int lines = 0;
            for (char *p = buf; *p; p++)
                lines += *p == '\n';
            CHECK_EQ_INT(lines, 4); /* header, batch, web, total */
            CHECK(strncmp(buf, "by,key,tasks,", 13) == 0);
            CHECK(strstr(buf, "role,web,2,") != NULL);
            CHECK(strstr(buf, "role,(total),5,") != NULL);
            break;
        }
        case REPORT_JSON: {
            json_error_t jerr;
            json_t *back = json_loads(buf, 0, &jerr);
            CHECK(back != NULL);
            CHECK_NEAR(num(back, "cluster.cpus.allocated"), 8.5);
            json_decref(back);
            break;
        }
        case REPORT_HTML:
            CHECK(strncmp(buf, "<!DOCTYPE html>", 15) == 0);
            CHECK(strstr(buf, "<svg") != NULL);
            CHECK(strstr(buf, "<polygon") != NULL); /* stacked by role */
            CHECK(strstr(buf, "/shop") != NULL);    /* per-app bars */
            CHECK(strstr(buf, "<script") == NULL);  /* no JS */
            CHECK(strstr(buf, "http://") == NULL || strstr(buf, "xmlns") != NULL);
            CHECK(strstr(buf, "</html>") != NULL);
            break;
        }
        free(buf);
    }
    /* --by cluster as CSV: one row per resource */
    f = open_memstream(&buf, &len);
    CHECK_EQ_INT(report_render(f, REPORT_CSV, cl, NULL), 0);
    fclose(f);
    CHECK(strncmp(buf, "resource,unit,capacity,allocated,used,idle,unused,capacity_cost", 63) == 0);
    CHECK(strstr(buf, "\ncpus,cpu-hours,32.0000,8.5000,2.5000,23.5000,6.0000,1.2800,0.3400,"
                      "0.9400,0.2400\n") != NULL);
    free(buf);
    json_decref(rep);
    json_decref(apps);
    json_decref(cl);
    close_history(db);
}

/* Usage rolled up into hourly rows gives the same figures for windows on hour
 * boundaries as the raw samples did. */
static void
test_rollup_keeps_figures(void)
{
    char path2[700], err[256];
    struct acct *a, *b;
    struct adb *da, *db;
    struct resources r;

    setup();
    if (pg)
        pg_fixture_new_db("raw", path2, sizeof(path2));
    else
        snprintf(path2, sizeof(path2), "%s/raw.db", dir);
    CHECK_EQ_INT(acct_open(&a, path, 3600 * 1000, err, sizeof(err)), 0);
    CHECK_EQ_INT(acct_open(&b, path2, 0, err, sizeof(err)), 0);
    res_init(&r);
    CHECK_EQ_INT(res_parse(&r, "cpus:2;mem:2048", NULL, 0), 0);
    for (int k = 0; k < 2; k++) {
        struct acct *x = k ? b : a;
        double user = 0;
        acct_task_start(x, H(0.25), "F", "r", "p", "", "t", "a1", &r);
        for (int i = 1; i <= 60; i++) {
            user += 100 + 20 * (i % 7);
            acct_usage(x, H(0.25) + 450 * i, "F", "t", user, 0, (uint64_t)i << 24, GIB);
        }
        acct_close(x);
    }
    res_fini(&r);
    CHECK_EQ_INT(report_open(&da, path, err, sizeof(err)), 0);
    CHECK_EQ_INT(report_open(&db, path2, err, sizeof(err)), 0);
    for (int s = 0; s < 7; s++) {
        for (int e = s + 1; e <= 8; e++) {
            json_t *x = compute(da, s, e, REPORT_BY_CLUSTER, 0, false, 0);
            json_t *y = compute(db, s, e, REPORT_BY_CLUSTER, 0, false, 0);
            CHECK_NEAR(num(x, "cluster.cpus.used"), num(y, "cluster.cpus.used"));
            CHECK_NEAR(num(x, "cluster.mem.used"), num(y, "cluster.mem.used"));
            json_decref(x);
            json_decref(y);
        }
    }
    adb_close(da);
    adb_close(db);
    unlink(path2);
    snprintf(err, sizeof(err), "%s-wal", path2);
    unlink(err);
    snprintf(err, sizeof(err), "%s-shm", path2);
    unlink(err);
    teardown();
}

/* A minute on one small agent, as a live cluster shows it right after a task
 * ran: the table and the page give its few thousandths of a cpu-hour
 * instead of rounding everything to 0.0. cpus:4 for 60 s = 0.0667 cpu-h;
 * the task cpus:1 for 30 s = 0.0083 cpu-h, of which it used 15 s = 0.0042. */
static void
test_short_window_figures(void)
{
    struct report_query q;
    struct acct *a;
    json_t *rep = NULL;
    struct adb *db;
    char err[256], *buf;
    size_t len;
    FILE *f;

    setup();
    CHECK_EQ_INT(acct_open(&a, path, 0, err, sizeof(err)), 0);
    capacity(a, H(0), "a1", "cpus:4;mem:4096");
    start(a, H(0) + 10, "F", "r", "", "t", "a1", "cpus:1;mem:64");
    acct_usage(a, H(0) + 25, "F", "t", 7, 0.5, 4 << 20, 4 << 20);
    acct_usage(a, H(0) + 40, "F", "t", 14, 1, 4 << 20, 4 << 20);
    acct_task_end(a, H(0) + 40, "F", "t", "TASK_FINISHED");
    acct_close(a);
    CHECK_EQ_INT(report_open(&db, path, err, sizeof(err)), 0);
    memset(&q, 0, sizeof(q));
    q.since_ms = HMS(0);
    q.until_ms = HMS(0) + 60000;
    q.now_ms = HMS(1);
    q.by = REPORT_BY_TASK;
    CHECK_EQ_INT(report_compute(db, &q, &rep, err, sizeof(err)), 0);
    CHECK_NEAR(num(rep, "cluster.cpus.capacity"), 4.0 / 60);
    CHECK_NEAR(num(rep, "cluster.cpus.used"), 15.0 / 3600);
    for (int fmt = REPORT_TABLE; fmt <= REPORT_HTML; fmt += REPORT_HTML - REPORT_TABLE) {
        f = open_memstream(&buf, &len);
        CHECK_EQ_INT(report_render(f, (enum report_format)fmt, rep, NULL), 0);
        fclose(f);
        CHECK(strstr(buf, "(0.017 hours)") != NULL);
        CHECK(strstr(buf, "0.0667") != NULL);         /* capacity */
        CHECK(strstr(buf, "0.0083 (12.5%)") != NULL); /* allocated */
        CHECK(strstr(buf, "0.0042 (6.2%)") != NULL);  /* used */
        CHECK(strstr(buf, "50.0%") != NULL);          /* the task's cpu efficiency */
        free(buf);
    }
    json_decref(rep);
    adb_close(db);
    teardown();
}

/* Query parameters and the database checks. */
static void
test_query_parse(void)
{
    struct report_query q;
    char err[256];
    int64_t now = HMS(100);
    struct adb *db;

    CHECK_EQ_INT(report_query_parse(&q, now, NULL, NULL, NULL, NULL, NULL, NULL, err, sizeof(err)),
                 0);
    CHECK_EQ_INT(q.since_ms, now - 7LL * 86400 * 1000);
    CHECK_EQ_INT(q.until_ms, now);
    CHECK_EQ_INT(q.by, REPORT_BY_CLUSTER);
    CHECK(!q.priced);
    CHECK_EQ_INT(report_query_parse(&q, now, "2023-11-14", "2023-11-14T22:13:20Z", "app", "5",
                                    "cpus=0.031,mem=0.004,disk=0.0001", "24", err, sizeof(err)),
                 0);
    CHECK_EQ_INT(q.since_ms, 1699920000000LL);
    CHECK_EQ_INT(q.until_ms, 1700000000000LL);
    CHECK_EQ_INT(q.by, REPORT_BY_APP);
    CHECK_EQ_INT(q.top, 5);
    CHECK_EQ_INT(q.timeline, 24);
    CHECK(q.priced && q.price[REPORT_CPUS] == 0.031 && q.price[REPORT_DISK] == 0.0001);
    CHECK_EQ_INT(report_query_parse(&q, now, "12h", "@1800000000.5", "task", NULL, NULL, NULL, err,
                                    sizeof(err)),
                 0);
    CHECK_EQ_INT(q.since_ms, now - 12 * 3600000LL);
    CHECK_EQ_INT(q.until_ms, 1800000000500LL);
    CHECK_EQ_INT(report_query_parse(&q, now, "2023-11-14 01:02", NULL, NULL, NULL, NULL, NULL, err,
                                    sizeof(err)),
                 0);
    CHECK_EQ_INT(q.since_ms, 1699920000000LL + 3720000);
    CHECK_EQ_INT(
        report_query_parse(&q, now, "yesterday", NULL, NULL, NULL, NULL, NULL, err, sizeof(err)),
        -AG_EINVAL);
    CHECK(strstr(err, "yesterday") != NULL);
    CHECK_EQ_INT(report_query_parse(&q, now, "now", "1d", NULL, NULL, NULL, NULL, err, sizeof(err)),
                 -AG_EINVAL);
    CHECK_EQ_INT(
        report_query_parse(&q, now, NULL, NULL, "user", NULL, NULL, NULL, err, sizeof(err)),
        -AG_EINVAL);
    CHECK_EQ_INT(report_query_parse(&q, now, NULL, NULL, NULL, "-1", NULL, NULL, err, sizeof(err)),
                 -AG_EINVAL);
    CHECK_EQ_INT(
        report_query_parse(&q, now, NULL, NULL, NULL, NULL, "cpus=x", NULL, err, sizeof(err)),
        -AG_EINVAL);
    CHECK_EQ_INT(
        report_query_parse(&q, now, NULL, NULL, NULL, NULL, "ram=1", NULL, err, sizeof(err)),
        -AG_EINVAL);
    CHECK_EQ_INT(
        report_query_parse(&q, now, "2023-13-01", NULL, NULL, NULL, NULL, NULL, err, sizeof(err)),
        -AG_EINVAL);
    CHECK_EQ_INT(report_open(&db, "/nonexistent/accounting.db", err, sizeof(err)), -AG_ENOENT);
    CHECK(db == NULL);
}

/* The report cases on PostgreSQL: the same queries, the same figures. */
PG_FIXTURE_CASE(pg, cluster_figures)
PG_FIXTURE_CASE(pg, by_role_sums_to_cluster)
PG_FIXTURE_CASE(pg, edges_clipped)
PG_FIXTURE_CASE(pg, cost)
PG_FIXTURE_CASE(pg, timeline)
PG_FIXTURE_CASE(pg, formats)
PG_FIXTURE_CASE(pg, rollup_keeps_figures)
PG_FIXTURE_CASE(pg, short_window_figures)

TEST_LIST(TEST_ENTRY(cluster_figures), TEST_ENTRY(by_role_sums_to_cluster),
          TEST_ENTRY(edges_clipped), TEST_ENTRY(cost), TEST_ENTRY(timeline), TEST_ENTRY(formats),
          TEST_ENTRY(rollup_keeps_figures), TEST_ENTRY(short_window_figures),
          TEST_ENTRY(query_parse), TEST_ENTRY(pg_cluster_figures),
          TEST_ENTRY(pg_by_role_sums_to_cluster), TEST_ENTRY(pg_edges_clipped), TEST_ENTRY(pg_cost),
          TEST_ENTRY(pg_timeline), TEST_ENTRY(pg_formats), TEST_ENTRY(pg_rollup_keeps_figures),
          TEST_ENTRY(pg_short_window_figures));
TEST_MAIN()
