/*
 * The recorder, on both backends of adb.h: every case runs on an SQLite
 * file (NAME) and on a real PostgreSQL server that the case starts and stops
 * (pg_NAME, pg_fixture.h). The checks read the database back through the
 * same adb calls, so they are written once.
 */
#define _GNU_SOURCE /* mkdtemp, setenv */
#include "test.h"

#include "pg_fixture.h"
#include "recorder.h"
#include "report.h"
#include "adb.h"
#include "error.h"
#include "log.h"

#include <math.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define T0 1699999200.0 /* an hour boundary */
#define H(x) (T0 + (x)*3600.0)
#define MS(t) ((long long)llround((t)*1000.0))
#define GIB 1073741824ULL

static char dir[64];
static char path[600]; /* the SQLite file, or PostgreSQL's URI */
static bool pg;        /* this case runs on PostgreSQL */

static void
setup(void)
{
    log_set_level(AG_LOG_ERROR);
    if (pg)
        pg_fixture_start(path, sizeof(path)); /* first: it may skip the case */
    snprintf(dir, sizeof(dir), "/tmp/agora-test-acct-XXXXXX");
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

static struct acct *
open_acct(int64_t raw_retention_ms)
{
    struct acct *a;
    char err[256];

    CHECK_EQ_INT(acct_open(&a, path, raw_retention_ms, err, sizeof(err)), 0);
    return a;
}

static struct adb *
reader(void)
{
    struct adb *db;
    char err[512];

    if (adb_open(&db, path, ADB_READ, err, sizeof(err)) != 0)
        fprintf(stderr, "adb_open: %s\n", err);
    CHECK(db != NULL);
    return db;
}

/* The integer result of a one-value query (-1 for NULL). */
static long long
q_int(struct adb *db, const char *sql)
{
    struct adb_rows *r;
    long long v;

    CHECK_EQ_INT(adb_query(db, &r, sql, NULL), 0);
    CHECK_EQ_INT(adb_next(r), 1);
    v = adb_is_null(r, 0) ? -1 : adb_int(r, 0);
    adb_rows_free(r);
    return v;
}

static const char *
q_text(struct adb *db, const char *sql, char *buf, size_t len)
{
    struct adb_rows *r;

    CHECK_EQ_INT(adb_query(db, &r, sql, NULL), 0);
    CHECK_EQ_INT(adb_next(r), 1);
    snprintf(buf, len, "%s", adb_text(r, 0) ? adb_text(r, 0) : "(null)");
    adb_rows_free(r);
    return buf;
}

static void
parse(struct resources *r, const char *text)
{
    res_init(r);
    CHECK_EQ_INT(res_parse(r, text, NULL, 0), 0);
}

static double
mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A task's interval, its usage deltas and totals, read back from SQLite. */
static void
test_record_and_read_back(void)
{
    struct acct *a;
    struct resources cap, res;
    struct adb *db;
    char buf[256];

    setup();
    a = open_acct(0);
    parse(&cap, "cpus:4;mem:8192;disk:1000;ports:[31000-32000]");
    parse(&res, "cpus(web):1.5;mem:2048;disk:10");
    acct_agent_capacity(a, H(0), "a1", "host1", &cap);
    acct_task_start(a, H(1), "fw1", "web", "alice", "/shop", "t1", "a1", &res);
    acct_task_start(a, H(1.5), "fw1", "web", "alice", "/shop", "t1", "a1", &res); /* again */
    acct_usage(a, H(1) + 60, "fw1", "t1", 30, 6, 1 * GIB, GIB + GIB / 2);
    acct_usage(a, H(1) + 60, "fw1", "t1", 31, 6, 1 * GIB, GIB); /* not newer: ignored */
    acct_usage(a, H(1) + 120, "fw1", "t1", 60, 12, 2 * GIB, 2 * GIB);
    acct_usage(a, H(1) + 180, "fw1", "t1", 5, 1, 2 * GIB, 2 * GIB); /* counters restarted */
    acct_task_end(a, H(2), "fw1", "t1", "TASK_FINISHED");
    acct_task_end(a, H(3), "fw1", "t1", "TASK_FAILED");         /* already ended: ignored */
    acct_task_end(a, H(3), "fw1", "nope", "TASK_FINISHED");     /* unknown: ignored */
    acct_usage(a, H(2) + 60, "fw1", "t1", 15, 3, GIB, 2 * GIB); /* after the end: clipped */
    acct_usage(a, H(2) + 90, "fw1", "t1", 20, 4, GIB, 2 * GIB); /* then not newer */
    CHECK_EQ_INT(acct_flush(a), 0);

    db = reader();
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM tasks"), 1);
    CHECK_EQ_INT(q_int(db, "SELECT start_ms FROM tasks"), MS(H(1)));
    CHECK_EQ_INT(q_int(db, "SELECT end_ms FROM tasks"), MS(H(2)));
    CHECK_EQ_STR(q_text(db, "SELECT state FROM tasks", buf, sizeof(buf)), "TASK_FINISHED");
    CHECK_EQ_STR(q_text(db,
                        "SELECT role || ' ' || principal || ' ' || app_id || ' ' || agent_id "
                        "FROM tasks",
                        buf, sizeof(buf)),
                 "web alice /shop a1");
    CHECK_EQ_INT(q_int(db, "SELECT cpus FROM tasks"), 1500);
    CHECK_EQ_INT(q_int(db, "SELECT mem FROM tasks"), 2048000);
    CHECK_EQ_INT(q_int(db, "SELECT disk FROM tasks"), 10000);
    CHECK_EQ_INT(q_int(db, "SELECT gpus FROM tasks"), 0);
    /* cpu deltas: 36 s, 36 s, 6 s (restart), 12 s (after the end, at the end) */
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM usage"), 4);
    CHECK_EQ_INT(q_int(db, "SELECT cpu_ms FROM tasks"), 90000);
    CHECK_EQ_INT(q_int(db, "SELECT sum(cpu_ms) FROM usage"), 90000);
    CHECK_EQ_INT(q_int(db, "SELECT cum_cpu_ms FROM usage ORDER BY end_ms DESC LIMIT 1"), 90000);
    CHECK_EQ_INT(q_int(db, "SELECT cpu_ms FROM usage ORDER BY end_ms LIMIT 1 OFFSET 2"), 6000);
    CHECK_EQ_INT(q_int(db, "SELECT usage_ms FROM tasks"), MS(H(2)));
    CHECK_EQ_INT(q_int(db, "SELECT max(end_ms) FROM usage"), MS(H(2)));
    CHECK_EQ_INT(q_int(db, "SELECT min(start_ms) FROM usage"), MS(H(1)));
    /* memory integral in KiB x ms: 1 GiB x 60 s, 2 GiB x 60 s, 2 GiB x 60 s, 1 GiB x 3420 s */
    CHECK_EQ_INT(q_int(db, "SELECT mem_kib_ms FROM tasks"),
                 1048576LL * 60000 + 2097152LL * 60000 * 2 + 1048576LL * 3420000);
    CHECK_EQ_INT(q_int(db, "SELECT mem_peak FROM tasks"), 2 * GIB);
    CHECK_EQ_INT(q_int(db, "SELECT mem_peak FROM usage ORDER BY end_ms LIMIT 1"), GIB + GIB / 2);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM capacity"), 1);
    CHECK_EQ_INT(q_int(db, "SELECT cpus FROM capacity"), 4000);
    CHECK_EQ_INT(q_int(db, "SELECT end_ms FROM capacity"), -1);
    CHECK_EQ_INT(q_int(db, pg ? "SELECT CAST(value AS BIGINT) FROM meta WHERE key = "
                                "'schema_version'"
                              : "PRAGMA user_version"),
                 ACCT_SCHEMA_VERSION);
    adb_close(db);

    /* a new interval of the same task after it ended */
    acct_task_start(a, H(4), "fw1", "web", "alice", "/shop", "t1", "a1", &res);
    acct_usage(a, H(4) + 60, "fw1", "t1", 3, 0, GIB, GIB);
    CHECK_EQ_INT(acct_flush(a), 0);
    db = reader();
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM tasks"), 2);
    CHECK_EQ_INT(q_int(db, "SELECT cpu_ms FROM tasks WHERE end_ms IS NULL"), 3000);
    adb_close(db);

    acct_close(a);
    res_fini(&cap);
    res_fini(&res);
    teardown();
}

/* Capacity intervals, and an agent's removal ending its tasks. */
static void
test_capacity_and_agent_removal(void)
{
    struct acct *a;
    struct resources c1, c2, res;
    struct adb *db;
    char buf[256];

    setup();
    a = open_acct(0);
    parse(&c1, "cpus:2;mem:4096");
    parse(&c2, "cpus:2;cpus(db):2;mem:4096");
    parse(&res, "cpus:1;mem:100");
    acct_agent_capacity(a, H(0), "a2", "h2", &c1);
    acct_agent_capacity(a, H(1), "a2", "h2", &c1); /* re-registered, same: one interval */
    acct_agent_capacity(a, H(2), "a2", "h2", &c2); /* reserved more */
    acct_task_start(a, H(2), "fw", "r", "p", "", "t1", "a2", &res);
    acct_task_start(a, H(2), "fw", "r", "p", "", "t2", "a2", &res);
    acct_task_end(a, H(3), "fw", "t2", "TASK_KILLED");
    acct_agent_capacity(a, H(4), "a2", "h2", NULL);    /* removed */
    acct_task_end(a, H(4.5), "fw", "t1", "TASK_GONE"); /* the master's verdict, later */
    acct_agent_capacity(a, H(5), "a2", "h2", &c1);     /* back */
    CHECK_EQ_INT(acct_flush(a), 0);

    db = reader();
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM capacity"), 3);
    CHECK_EQ_INT(q_int(db, "SELECT end_ms FROM capacity ORDER BY id LIMIT 1"), MS(H(2)));
    CHECK_EQ_INT(q_int(db, "SELECT cpus FROM capacity ORDER BY id LIMIT 1 OFFSET 1"), 4000);
    CHECK_EQ_INT(q_int(db, "SELECT end_ms FROM capacity ORDER BY id LIMIT 1 OFFSET 1"), MS(H(4)));
    CHECK_EQ_INT(q_int(db, "SELECT start_ms FROM capacity ORDER BY id LIMIT 1 OFFSET 2"), MS(H(5)));
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM capacity WHERE end_ms IS NULL"), 1);
    CHECK_EQ_INT(q_int(db, "SELECT end_ms FROM tasks WHERE task_id = 't1'"), MS(H(4)));
    CHECK_EQ_STR(q_text(db, "SELECT state FROM tasks WHERE task_id = 't1'", buf, sizeof(buf)),
                 "TASK_GONE");
    CHECK_EQ_STR(q_text(db, "SELECT state FROM tasks WHERE task_id = 't2'", buf, sizeof(buf)),
                 "TASK_KILLED");
    CHECK_EQ_INT(q_int(db, "SELECT end_ms FROM tasks WHERE task_id = 't2'"), MS(H(3)));
    adb_close(db);
    acct_close(a);
    res_fini(&c1);
    res_fini(&c2);
    res_fini(&res);
    teardown();
}

/* The event calls never wait for the database: with it write-locked by
 * another connection (SQLite's write lock; PostgreSQL's lock on the tasks
 * table) all of them return (an event call that wrote would block there)
 * while nothing can be written; the writer catches up after, in few
 * transactions, and without an explicit flush. */
static void
test_batching_off_thread(void)
{
    struct acct *a;
    struct resources res;
    struct acct_stats st;
    struct adb *lock;
    char err[512];
    double deadline;
    char name[32];
    int n = 20000;

    setup();
    a = open_acct(0);
    parse(&res, "cpus:1;mem:128");
    CHECK_EQ_INT(acct_flush(a), 0); /* schema in place */
    CHECK_EQ_INT(adb_open(&lock, path, ADB_WRITE, err, sizeof(err)), 0);
    CHECK_EQ_INT(adb_begin(lock), 0);
    if (pg)
        CHECK(adb_exec(lock, "LOCK TABLE tasks IN EXCLUSIVE MODE", NULL) >= 0);

    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "t%d", i);
        acct_task_start(a, H(1) + i, "fw", "r", "p", "", name, "a1", &res);
    }
    /* every append returned with the lock still held: all queued, none written */
    acct_get_stats(a, &st);
    CHECK_EQ_INT(st.events, n);
    CHECK_EQ_INT(st.written, 0);
    CHECK_EQ_INT(st.errors, 0);
    {
        struct adb *db = reader(); /* reads while the write lock is held */
        CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM tasks"), 0);
        adb_close(db);
    }
    CHECK_EQ_INT(adb_commit(lock), 0);
    adb_close(lock);

    /* no acct_flush: the writer commits on its own within about a second */
    deadline = mono() + 30;
    do {
        usleep(50 * 1000);
        acct_get_stats(a, &st);
    } while (st.written < (uint64_t)n && mono() < deadline);
    CHECK_EQ_INT(st.written, n);
    CHECK_EQ_INT(st.errors, 0);
    CHECK(st.batches >= 1 && st.batches <= 10);
    {
        struct adb *db = reader();
        CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM tasks"), n);
        adb_close(db);
    }
    acct_close(a);
    res_fini(&res);
    teardown();
}

/* Raw samples older than the retention become hourly rows; totals keep. */
static void
test_rollup(void)
{
    struct acct *a;
    struct resources res;
    struct adb *db;
    double user = 0;

    setup();
    a = open_acct(3600 * 1000); /* keep one hour raw */
    parse(&res, "cpus:1;mem:1024");
    acct_task_start(a, H(0), "fw", "r", "p", "", "t1", "a1", &res);
    /* a sample every 10 minutes for 6 hours: 0.5 cpu, 512 MiB */
    for (int i = 1; i <= 36; i++) {
        user += 300;
        acct_usage(a, H(0) + 600 * i, "fw", "t1", user, 0, GIB / 2, GIB / 2 + (uint64_t)i);
    }
    CHECK_EQ_INT(acct_flush(a), 0);

    db = reader();
    /* newest event H(6): cutoff H(5); hours 0..4 rolled, 5..6 raw */
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM usage WHERE hourly = 1"), 5);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM usage WHERE hourly = 0"), 6);
    CHECK_EQ_INT(q_int(db, "SELECT max(end_ms) FROM usage WHERE hourly = 1"), MS(H(5)));
    CHECK_EQ_INT(q_int(db, "SELECT min(start_ms) FROM usage WHERE hourly = 0"), MS(H(5)));
    CHECK_EQ_INT(q_int(db, "SELECT sum(cpu_ms) FROM usage"), 36 * 300000);
    CHECK_EQ_INT(q_int(db, "SELECT cpu_ms FROM usage WHERE hourly = 1 LIMIT 1"), 1800000);
    CHECK_EQ_INT(q_int(db, "SELECT cum_cpu_ms FROM usage WHERE end_ms = 1700017200000"),
                 5 * 1800000);
    CHECK_EQ_INT(q_int(db, "SELECT sum(mem_kib_ms) FROM usage"), 524288LL * 6 * 3600000);
    CHECK_EQ_INT(q_int(db, "SELECT mem_rss FROM usage WHERE hourly = 1 LIMIT 1"), GIB / 2);
    CHECK_EQ_INT(q_int(db, "SELECT mem_peak FROM usage WHERE hourly = 1 AND end_ms = "
                           "1700006400000"),
                 GIB / 2 + 12);
    CHECK_EQ_INT(q_int(db, "SELECT cpu_ms FROM tasks"), 36 * 300000);
    adb_close(db);

    /* more samples: the next hour rolls up too */
    for (int i = 37; i <= 42; i++) {
        user += 300;
        acct_usage(a, H(0) + 600 * i, "fw", "t1", user, 0, GIB / 2, GIB / 2);
    }
    CHECK_EQ_INT(acct_flush(a), 0);
    db = reader();
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM usage WHERE hourly = 1"), 6);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM usage WHERE hourly = 0"), 6);
    CHECK_EQ_INT(q_int(db, "SELECT sum(cpu_ms) FROM usage"), 42 * 300000);
    adb_close(db);
    {
        struct acct_stats st;
        acct_get_stats(a, &st);
        CHECK(st.rollups >= 2);
    }
    acct_close(a);
    res_fini(&res);
    teardown();
}

/* The data stays bounded: raw rows never exceed the retention (plus the hour
 * being filled) however long a task runs, and with a history retention old
 * tasks and capacity intervals go away. */
static void
test_bounded(void)
{
    struct acct *a;
    struct resources res, cap;
    struct adb *db;
    long long raw_max = 0;

    setup();
    a = open_acct(3600 * 1000);
    acct_set_history_retention(a, 24LL * 3600 * 1000);
    parse(&res, "cpus:1;mem:1024");
    parse(&cap, "cpus:8;mem:8192");
    acct_agent_capacity(a, H(0), "old", "h", &cap);
    acct_agent_capacity(a, H(1), "old", "h", NULL);
    acct_task_start(a, H(0), "fw", "r", "p", "", "short", "a1", &res);
    acct_task_end(a, H(1), "fw", "short", "TASK_FINISHED");
    acct_task_start(a, H(0), "fw", "r", "p", "", "long", "a1", &res);
    for (int day = 0; day < 3; day++) {
        for (int i = 1; i <= 24 * 60; i++) {
            double t = H(24 * day) + 60 * i;
            acct_usage(a, t, "fw", "long", (t - H(0)) / 2, 0, GIB / 2, GIB / 2);
            acct_usage(a, t, "fw", "short", 1, 0, GIB / 2, GIB / 2); /* ended: not newer */
        }
        CHECK_EQ_INT(acct_flush(a), 0);
        db = reader();
        long long raw = q_int(db, "SELECT count(*) FROM usage WHERE hourly = 0");
        if (raw > raw_max)
            raw_max = raw;
        adb_close(db);
    }
    CHECK(raw_max <= 120); /* at most two hours of minute samples */
    db = reader();
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM tasks"), 1);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM tasks WHERE task_id = 'long'"), 1);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM capacity"), 0);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM usage WHERE hourly = 1"), 71);
    CHECK_EQ_INT(q_int(db, "SELECT sum(cpu_ms) FROM usage"), 72LL * 3600 * 500);
    adb_close(db);
    acct_close(a);
    res_fini(&res);
    res_fini(&cap);
    teardown();
}

/* NULL handles and strings are accepted; close flushes. */
static void
test_null_and_close_flushes(void)
{
    struct acct *a;
    struct resources res;
    struct adb *db;
    char err[128];

    acct_task_start(NULL, 1, "f", "r", "p", "", "t", "a", NULL);
    acct_close(NULL);
    CHECK_EQ_INT(acct_flush(NULL), 0);
    CHECK_EQ_INT(acct_open(&a, "", 0, err, sizeof(err)), -AG_EINVAL);
    CHECK(a == NULL);
    if (!pg)
        CHECK(acct_open(&a, "/nonexistent-dir/x/acct.db", 0, err, sizeof(err)) < 0);

    setup();
    a = open_acct(0);
    parse(&res, "cpus:1");
    acct_task_start(a, H(0), NULL, NULL, NULL, NULL, "t", NULL, &res);
    acct_task_end(a, H(1), NULL, "t", NULL);
    {
        /* a string larger than a chunk's string area */
        char *app = malloc(200001);
        memset(app, 'x', 200000);
        app[200000] = '\0';
        acct_task_start(a, H(2), "f", "r", "p", app, "big", "a", &res);
        free(app);
    }
    /* text that is not UTF-8 (PostgreSQL stores it with '?' for those bytes) */
    acct_task_start(a, H(3), "f", "r\xff", "p", "/app\xc3", "bytes", "a", &res);
    acct_close(a);
    db = reader();
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM tasks WHERE framework_id = '' AND "
                           "end_ms IS NOT NULL"),
                 1);
    CHECK_EQ_INT(q_int(db, "SELECT length(app_id) FROM tasks WHERE task_id = 'big'"), 200000);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM tasks WHERE task_id = 'bytes'"), 1);
    if (pg)
        CHECK_EQ_STR(q_text(db, "SELECT role || ' ' || app_id FROM tasks WHERE task_id = 'bytes'",
                            err, sizeof(err)),
                     "r? /app?");
    adb_close(db);
    res_fini(&res);
    teardown();
}

/* `uri` with its password replaced by `pw` (NULL: left out). */
static void
with_password(const char *uri, const char *pw, char *out, size_t len)
{
    const char *user = strstr(uri, "://") + 3, *colon = strchr(user, ':'), *at = strchr(user, '@');

    CHECK(colon != NULL && at != NULL && colon < at);
    snprintf(out, len, "%.*s%s%s%s", (int)(colon - uri), uri, pw ? ":" : "", pw ? pw : "", at);
}

/* PostgreSQL: a wrong password or an unreachable server is a clear error at
 * open that never shows the password; the password may come from PGPASSWORD
 * or PGPASSFILE instead of the URI. */
static void
test_pg_open_errors(void)
{
    char bad[700], nopw[700], err[1024], pwfile[128], pw[64];
    const char *p;
    struct adb *st;
    struct acct *a;
    FILE *f;

    pg = true;
    setup();
    with_password(path, "Wrong-Secret-123", bad, sizeof(bad));
    CHECK_EQ_INT(acct_open(&a, bad, 0, err, sizeof(err)), -AG_EIO);
    CHECK(a == NULL);
    fprintf(stderr, "wrong password: %s\n", err);
    with_password(path, NULL, nopw, sizeof(nopw));
    CHECK(strstr(err, "cannot connect to the accounting database ") != NULL);
    CHECK(strstr(err, nopw) != NULL); /* named, without the password */
    CHECK(strstr(err, "password authentication failed") != NULL);
    CHECK(strstr(err, "Wrong-Secret-123") == NULL);

    CHECK_EQ_INT(report_open(&st, bad, err, sizeof(err)), -AG_EIO);
    CHECK(st == NULL);
    CHECK(strstr(err, "Wrong-Secret-123") == NULL);

    CHECK_EQ_INT(
        acct_open(&a, "postgresql://agora:Secret-456@127.0.0.1:1/agora", 0, err, sizeof(err)),
        -AG_EIO);
    fprintf(stderr, "unreachable: %s\n", err);
    CHECK(strstr(err, "cannot connect to the accounting database "
                      "postgresql://agora@127.0.0.1:1/agora: ") != NULL);
    CHECK(strstr(err, "Secret-456") == NULL);

    /* the password from PGPASSWORD, then from PGPASSFILE */
    p = strstr(path, "://agora:") + 9;
    snprintf(pw, sizeof(pw), "%.*s", (int)(strchr(p, '@') - p), p);
    CHECK_EQ_INT(acct_open(&a, nopw, 0, err, sizeof(err)), -AG_EIO); /* none given */
    setenv("PGPASSWORD", pw, 1);
    CHECK_EQ_INT(acct_open(&a, nopw, 0, err, sizeof(err)), 0);
    acct_close(a);
    unsetenv("PGPASSWORD");
    snprintf(pwfile, sizeof(pwfile), "%s/pgpass", dir);
    CHECK((f = fopen(pwfile, "w")) != NULL);
    fprintf(f, "127.0.0.1:*:agora:agora:%s\n", pw);
    fclose(f);
    CHECK_EQ_INT(chmod(pwfile, 0600), 0);
    setenv("PGPASSFILE", pwfile, 1);
    CHECK_EQ_INT(acct_open(&a, nopw, 0, err, sizeof(err)), 0);
    acct_close(a);
    unsetenv("PGPASSFILE");
    unlink(pwfile);
    teardown();
}

/* PostgreSQL: two masters, one after the other (a leader change), record
 * into one database: their rows do not collide, a task running across the
 * change keeps one interval, and one report over the whole window covers
 * both. */
static void
test_pg_two_masters(void)
{
    struct report_query q;
    struct resources cap, res;
    struct adb *db;
    struct acct *a;
    json_t *rep = NULL;
    char err[512];

    pg = true;
    setup();
    parse(&cap, "cpus:4;mem:4096");
    parse(&res, "cpus:1;mem:1024");
    a = open_acct(0); /* master A leads */
    acct_agent_capacity(a, H(0), "a1", "h1", &cap);
    acct_task_start(a, H(0), "fw", "r", "p", "", "ta", "a1", &res);
    acct_task_start(a, H(0), "fw", "r", "p", "", "across", "a1", &res);
    acct_task_end(a, H(1), "fw", "ta", "TASK_FINISHED");
    acct_close(a);
    a = open_acct(0); /* master B takes over: the agent re-registers, reports its task */
    acct_agent_capacity(a, H(2), "a1", "h1", &cap);
    acct_task_start(a, H(2), "fw", "r", "p", "", "across", "a1", &res);
    acct_task_start(a, H(2), "fw", "r", "p", "", "tb", "a1", &res);
    acct_task_end(a, H(3), "fw", "tb", "TASK_FINISHED");
    acct_task_end(a, H(4), "fw", "across", "TASK_FINISHED");
    CHECK_EQ_INT(acct_flush(a), 0);
    acct_close(a);

    db = reader();
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM tasks"), 3);
    CHECK_EQ_INT(q_int(db, "SELECT count(DISTINCT id) FROM tasks"), 3);
    CHECK_EQ_INT(q_int(db, "SELECT start_ms FROM tasks WHERE task_id = 'across'"), MS(H(0)));
    CHECK_EQ_INT(q_int(db, "SELECT end_ms FROM tasks WHERE task_id = 'across'"), MS(H(4)));
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM capacity"), 1);
    memset(&q, 0, sizeof(q));
    q.since_ms = MS(H(0));
    q.until_ms = MS(H(5));
    q.now_ms = MS(H(5));
    q.by = REPORT_BY_TASK;
    CHECK_EQ_INT(report_compute(db, &q, &rep, err, sizeof(err)), 0);
    /* ta 1 h + across 4 h + tb 1 h of one cpu; 5 h of four cpus */
    CHECK(fabs(json_real_value(json_object_get(
                   json_object_get(json_object_get(rep, "cluster"), "cpus"), "allocated")) -
               6.0) < 1e-9);
    CHECK(fabs(json_real_value(json_object_get(
                   json_object_get(json_object_get(rep, "cluster"), "cpus"), "capacity")) -
               20.0) < 1e-9);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(rep, "cluster"), "tasks")), 3);
    json_decref(rep);
    adb_close(db);
    res_fini(&cap);
    res_fini(&res);
    teardown();
}

/* PostgreSQL: a connection the server drops between two batches is made
 * again and the next batch is written whole (nothing lost, no error). */
static void
test_pg_reconnect(void)
{
    struct resources res;
    struct acct_stats st;
    struct adb *other, *db;
    struct acct *a;
    char err[512];

    pg = true;
    setup();
    parse(&res, "cpus:1;mem:128");
    a = open_acct(0);
    acct_task_start(a, H(0), "fw", "r", "p", "", "before", "a1", &res);
    CHECK_EQ_INT(acct_flush(a), 0);
    CHECK_EQ_INT(adb_open(&other, path, ADB_WRITE, err, sizeof(err)), 0);
    CHECK_EQ_INT(adb_exec(other,
                          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE application_name = 'agora-accounting' AND pid <> pg_backend_pid()",
                          NULL),
                 1); /* the recorder's connection, killed */
    adb_close(other);
    acct_task_start(a, H(1), "fw", "r", "p", "", "after", "a1", &res);
    acct_task_end(a, H(2), "fw", "after", "TASK_FINISHED");
    CHECK_EQ_INT(acct_flush(a), 0);
    acct_get_stats(a, &st);
    CHECK_EQ_INT(st.errors, 0);
    CHECK_EQ_INT(st.written, 3);
    acct_close(a);
    db = reader();
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM tasks"), 2);
    CHECK_EQ_INT(q_int(db, "SELECT end_ms FROM tasks WHERE task_id = 'after'"), MS(H(2)));
    adb_close(db);
    res_fini(&res);
    teardown();
}

/* The cases above on PostgreSQL. */
PG_FIXTURE_CASE(pg, record_and_read_back)
PG_FIXTURE_CASE(pg, capacity_and_agent_removal)
PG_FIXTURE_CASE(pg, batching_off_thread)
PG_FIXTURE_CASE(pg, rollup)
PG_FIXTURE_CASE(pg, bounded)
PG_FIXTURE_CASE(pg, null_and_close_flushes)

TEST_LIST(TEST_ENTRY(record_and_read_back), TEST_ENTRY(capacity_and_agent_removal),
          TEST_ENTRY(batching_off_thread), TEST_ENTRY(rollup), TEST_ENTRY(bounded),
          TEST_ENTRY(null_and_close_flushes), TEST_ENTRY(pg_record_and_read_back),
          TEST_ENTRY(pg_capacity_and_agent_removal), TEST_ENTRY(pg_batching_off_thread),
          TEST_ENTRY(pg_rollup), TEST_ENTRY(pg_bounded), TEST_ENTRY(pg_null_and_close_flushes),
          TEST_ENTRY(pg_open_errors), TEST_ENTRY(pg_two_masters), TEST_ENTRY(pg_reconnect));
TEST_MAIN()
