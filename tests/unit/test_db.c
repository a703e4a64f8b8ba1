#define _GNU_SOURCE /* mkdtemp */
#include "test.h"

#include "db.h"
#include "error.h"
#include "log.h"

#include <pthread.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

static const struct db_migration migs[] = {
    {"jobs", "CREATE TABLE jobs (id TEXT PRIMARY KEY, n INTEGER NOT NULL);"
             "CREATE TABLE applied (version INTEGER);"
             "INSERT INTO applied VALUES (1);"},
    {"tasks", "CREATE TABLE tasks (id TEXT PRIMARY KEY, job TEXT NOT NULL REFERENCES jobs(id));"
              "INSERT INTO applied VALUES (2);"},
    {"jobs.note", "ALTER TABLE jobs ADD COLUMN note TEXT; INSERT INTO applied VALUES (3);"},
};

static char dir[64];
static char path[128];

static void
setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/agora-test-db-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/state.db", dir);
    log_set_level(AG_LOG_ERROR);
}

static void
teardown(void)
{
    char p[160];
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};

    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
        unlink(p);
    }
    snprintf(p, sizeof(p), "%s/junk", dir);
    unlink(p);
    CHECK_EQ_INT(rmdir(dir), 0);
}

static long long
query_int(struct db *db, const char *sql)
{
    sqlite3_stmt *st;
    long long v;

    CHECK_EQ_INT(db_prepare(db, sql, &st), 0);
    CHECK_EQ_INT(db_step(db, st), 1);
    v = sqlite3_column_int64(st, 0);
    CHECK_EQ_INT(db_step(db, st), 0);
    sqlite3_finalize(st);
    return v;
}

static void
test_migrations_once(void)
{
    struct db *db;
    char err[512];

    setup();
    CHECK_EQ_INT(db_open(&db, path, migs, 2, 0, err, sizeof(err)), 0);
    CHECK_EQ_INT(db_version(db), 2);
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM applied"), 2);
    CHECK_EQ_INT(db_exec(db, "INSERT INTO jobs VALUES ('a', 1)"), 0);
    db_close(db);

    /* Reopening with the same list applies nothing; a longer list applies the rest. */
    CHECK_EQ_INT(db_open(&db, path, migs, 2, 0, err, sizeof(err)), 0);
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM applied"), 2);
    db_close(db);
    CHECK_EQ_INT(db_open(&db, path, migs, 3, 0, err, sizeof(err)), 0);
    CHECK_EQ_INT(db_version(db), 3);
    CHECK_EQ_INT(query_int(db, "SELECT sum(version) FROM applied"), 6);
    CHECK_EQ_INT(query_int(db, "SELECT n FROM jobs WHERE id = 'a'"), 1); /* data kept */
    CHECK_EQ_INT(query_int(db, "PRAGMA user_version"), 3);
    db_close(db);
    teardown();
}

static void
test_settings(void)
{
    struct db *db;
    char err[512];
    sqlite3_stmt *st;

    setup();
    CHECK_EQ_INT(db_open(&db, path, migs, 1, 0, err, sizeof(err)), 0);
    CHECK_EQ_INT(query_int(db, "PRAGMA synchronous"), 1); /* NORMAL */
    CHECK_EQ_INT(query_int(db, "PRAGMA foreign_keys"), 1);
    CHECK_EQ_INT(query_int(db, "PRAGMA busy_timeout"), 5000);
    CHECK_EQ_INT(db_prepare(db, "PRAGMA journal_mode", &st), 0);
    CHECK_EQ_INT(db_step(db, st), 1);
    CHECK_EQ_STR((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    db_close(db);
    CHECK_EQ_INT(db_open(&db, path, migs, 1, DB_SYNC_FULL, err, sizeof(err)), 0);
    CHECK_EQ_INT(query_int(db, "PRAGMA synchronous"), 2); /* FULL */
    db_close(db);
    teardown();

    CHECK_EQ_INT(db_open(&db, ":memory:", migs, 3, 0, err, sizeof(err)), 0);
    CHECK_EQ_INT(db_version(db), 3);
    db_close(db);
}

static void
test_newer_refused(void)
{
    struct db *db = (struct db *)&db;
    char err[512], expect[512];

    setup();
    CHECK_EQ_INT(db_open(&db, path, migs, 3, 0, err, sizeof(err)), 0);
    db_close(db);
    CHECK_EQ_INT(db_open(&db, path, migs, 2, 0, err, sizeof(err)), -AG_EVERSION);
    CHECK(db == NULL);
    snprintf(expect, sizeof(expect),
             "database %s has schema version 3 but this build knows versions up to 2; refusing "
             "to use it (was it written by a newer Agora?)",
             path);
    CHECK_EQ_STR(err, expect);
    /* The refusal changed nothing. */
    CHECK_EQ_INT(db_open(&db, path, migs, 3, 0, err, sizeof(err)), 0);
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM applied"), 3);
    db_close(db);
    teardown();
}

static void
test_failed_migration(void)
{
    static const struct db_migration bad[] = {
        {"first", "CREATE TABLE a (x INTEGER);"},
        {"second", "CREATE TABLE b (x INTEGER); INSERT INTO a VALUES (1); SELEKT 1;"},
    };
    struct db *db;
    char err[512], expect[512];

    setup();
    CHECK_EQ_INT(db_open(&db, path, bad, 2, 0, err, sizeof(err)), -AG_EDB);
    snprintf(expect, sizeof(expect),
             "database %s: migration 2 (second) failed: near \"SELEKT\": syntax error", path);
    CHECK_EQ_STR(err, expect);
    /* Version 1 stays; nothing of migration 2 is left behind. */
    CHECK_EQ_INT(db_open(&db, path, bad, 1, 0, err, sizeof(err)), 0);
    CHECK_EQ_INT(db_version(db), 1);
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM a"), 0);
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'b'"), 0);
    db_close(db);
    teardown();
}

static void
test_transactions(void)
{
    struct db *db;
    char err[512];

    setup();
    CHECK_EQ_INT(db_open(&db, path, migs, 2, 0, err, sizeof(err)), 0);
    CHECK_EQ_INT(db_commit(db), -AG_ESTATE);
    CHECK_EQ_INT(db_rollback(db), 0);
    CHECK_EQ_INT(db_begin(db), 0);
    CHECK_EQ_INT(db_begin(db), -AG_ESTATE);
    CHECK_EQ_INT(db_exec(db, "INSERT INTO jobs VALUES ('a', 1); INSERT INTO jobs VALUES ('b', 2)"),
                 0);
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM jobs"), 2);
    CHECK_EQ_INT(db_rollback(db), 0);
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM jobs"), 0);

    CHECK_EQ_INT(db_begin(db), 0);
    CHECK_EQ_INT(db_exec(db, "INSERT INTO jobs VALUES ('a', 1)"), 0);
    CHECK_EQ_INT(db_commit(db), 0);
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM jobs"), 1);

    /* Errors are translated once. */
    CHECK_EQ_INT(db_exec(db, "INSERT INTO jobs VALUES ('a', 5)"), -AG_EEXIST);
    CHECK(strstr(db_errmsg(db), "UNIQUE constraint failed") != NULL);
    CHECK_EQ_INT(db_exec(db, "INSERT INTO tasks VALUES ('t', 'nojob')"), -AG_ENOENT);
    CHECK_EQ_INT(db_exec(db, "INSERT INTO jobs VALUES ('c', NULL)"), -AG_EINVAL);
    CHECK_EQ_INT(db_exec(db, "SELEKT"), -AG_EDB);
    CHECK_EQ_INT(db_exec(db, NULL), -AG_EINVAL);

    /* Closing with an open transaction rolls it back. */
    CHECK_EQ_INT(db_begin(db), 0);
    CHECK_EQ_INT(db_exec(db, "INSERT INTO jobs VALUES ('z', 9)"), 0);
    db_close(db);
    CHECK_EQ_INT(db_open(&db, path, migs, 2, 0, err, sizeof(err)), 0);
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM jobs"), 1);
    db_close(db);
    teardown();
}

static void
test_statements(void)
{
    struct db *db;
    sqlite3_stmt *a, *b;
    char err[512];

    CHECK_EQ_INT(db_open(&db, ":memory:", migs, 2, 0, err, sizeof(err)), 0);
    CHECK_EQ_INT(db_stmt(db, "INSERT INTO jobs VALUES (?, ?)", &a), 0);
    sqlite3_bind_text(a, 1, "x", -1, SQLITE_STATIC);
    sqlite3_bind_int(a, 2, 7);
    CHECK_EQ_INT(db_step(db, a), 0);
    CHECK_EQ_INT(db_stmt(db, "INSERT INTO jobs VALUES (?, ?)", &b), 0);
    CHECK(a == b);
    sqlite3_bind_text(b, 1, "x", -1, SQLITE_STATIC);
    CHECK_EQ_INT(db_step(db, b), -AG_EINVAL); /* bindings were cleared: n is NULL */
    sqlite3_bind_int(b, 2, 7);
    CHECK_EQ_INT(db_step(db, b), -AG_EEXIST);
    CHECK_EQ_INT(db_stmt(db, "SELECT n FROM jobs WHERE id = ?", &b), 0);
    CHECK(a != b);
    sqlite3_bind_text(b, 1, "x", -1, SQLITE_STATIC);
    CHECK_EQ_INT(db_step(db, b), 1);
    CHECK_EQ_INT(sqlite3_column_int(b, 0), 7);
    CHECK_EQ_INT(db_step(db, b), 0);

    CHECK_EQ_INT(db_prepare(db, "SELECT * FROM nowhere", &a), -AG_EDB);
    CHECK(a == NULL);
    CHECK(strstr(db_errmsg(db), "no such table") != NULL);
    CHECK_EQ_INT(db_stmt(db, "SELECT * FROM nowhere", &a), -AG_EDB);
    CHECK_EQ_INT(db_prepare(db, "  -- nothing", &a), -AG_EINVAL);
    CHECK(db_handle(db) != NULL);
    db_close(db);
}

static void
test_bad_files(void)
{
    struct db *db = (struct db *)&db;
    char err[512], junk[160];
    FILE *f;

    setup();
    snprintf(junk, sizeof(junk), "%s/junk", dir);
    f = fopen(junk, "w");
    CHECK(f != NULL);
    for (int i = 0; i < 100; i++)
        fputs("this is not an SQLite database\n", f);
    fclose(f);
    CHECK_EQ_INT(db_open(&db, junk, migs, 2, 0, err, sizeof(err)), -AG_EDB);
    CHECK(db == NULL);
    CHECK(strstr(err, "file is not a database") != NULL);
    CHECK(strstr(err, junk) != NULL);

    snprintf(junk, sizeof(junk), "%s/missing/dir/state.db", dir);
    CHECK_EQ_INT(db_open(&db, junk, migs, 2, 0, err, sizeof(err)), -AG_EIO);
    CHECK(strstr(err, "cannot open database") != NULL);

    CHECK_EQ_INT(db_open(&db, NULL, migs, 2, 0, err, sizeof(err)), -AG_EINVAL);
    CHECK_EQ_INT(db_open(&db, path, NULL, 2, 0, err, sizeof(err)), -AG_EINVAL);
    CHECK_EQ_INT(db_open(&db, path, migs, 2, 0x100, err, sizeof(err)), -AG_EINVAL);
    CHECK_EQ_INT(db_open(NULL, path, migs, 2, 0, err, sizeof(err)), -AG_EINVAL);
    db_close(NULL);
    teardown();
}

struct writer {
    pid_t tid;          /* the writer thread, set just before its db_begin */
    bool after_commit;  /* its db_begin returned after the main thread began to commit */
    int rc;
};

static bool main_committing;

static void *
writer_main(void *arg)
{
    struct writer *w = arg;
    struct db *db;
    char err[512];

    w->rc = db_open(&db, path, migs, 2, 0, err, sizeof(err));
    if (w->rc != 0)
        return NULL;
    __atomic_store_n(&w->tid, gettid(), __ATOMIC_SEQ_CST);
    w->rc = db_begin(db); /* waits for the main thread's transaction */
    w->after_commit = __atomic_load_n(&main_committing, __ATOMIC_SEQ_CST);
    if (w->rc == 0)
        w->rc = db_exec(db, "INSERT INTO jobs VALUES ('from-thread', 2)");
    if (w->rc == 0)
        w->rc = db_commit(db);
    db_close(db);
    return NULL;
}

/* The scheduling state of thread `tid` of this process ('R', 'S', ...), or 0. */
static char
thread_state(pid_t tid)
{
    char path[64], buf[512], *p;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* after "TID (COMM)" */
    return p != NULL && p[1] == ' ' ? p[2] : 0;
}

static void
test_concurrent_writers(void)
{
    struct writer w = {0, false, -1};
    struct db *db;
    pthread_t t;
    pid_t tid;
    char err[512];
    int tries;

    setup();
    main_committing = false;
    CHECK_EQ_INT(db_open(&db, path, migs, 2, 0, err, sizeof(err)), 0);
    CHECK_EQ_INT(db_begin(db), 0);
    CHECK_EQ_INT(db_exec(db, "INSERT INTO jobs VALUES ('from-main', 1)"), 0);
    CHECK_EQ_INT(pthread_create(&t, NULL, writer_main, &w), 0);
    /* Commit once the writer sleeps in db_begin (SQLite's busy handler), not
     * after a fixed time a loaded machine may not give it. */
    for (tries = 0; tries < 10000; tries++) {
        tid = __atomic_load_n(&w.tid, __ATOMIC_SEQ_CST);
        if (tid != 0 && thread_state(tid) == 'S')
            break;
        usleep(1000);
    }
    CHECK(tries < 10000);
    __atomic_store_n(&main_committing, true, __ATOMIC_SEQ_CST);
    CHECK_EQ_INT(db_commit(db), 0);
    CHECK_EQ_INT(pthread_join(t, NULL), 0);
    CHECK_EQ_INT(w.rc, 0);
    CHECK(w.after_commit); /* it really waited for the lock, then got it */
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM jobs"), 2);
    db_close(db);
    teardown();
}

static void *
opener_main(void *arg)
{
    struct db *db;
    char err[512];
    int *rc = arg;

    *rc = db_open(&db, path, migs, 3, 0, err, sizeof(err));
    if (*rc == 0)
        db_close(db);
    else
        fprintf(stderr, "open failed: %s\n", err);
    return NULL;
}

static void
test_concurrent_open(void)
{
    enum { N = 4 };
    pthread_t t[N];
    int rc[N];
    struct db *db;
    char err[512];

    setup();
    for (int i = 0; i < N; i++)
        CHECK_EQ_INT(pthread_create(&t[i], NULL, opener_main, &rc[i]), 0);
    for (int i = 0; i < N; i++) {
        CHECK_EQ_INT(pthread_join(t[i], NULL), 0);
        CHECK_EQ_INT(rc[i], 0);
    }
    CHECK_EQ_INT(db_open(&db, path, migs, 3, 0, err, sizeof(err)), 0);
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM applied"), 3); /* each applied once */
    db_close(db);
    teardown();
}

/* Typed binding: each letter binds its argument to ?N; db_run steps and
 * resets; a bad letter or a failed step is an error that leaves nothing bound. */
static void
test_typed_binding(void)
{
    struct db *db;
    sqlite3_stmt *st;
    char err[512];

    CHECK_EQ_INT(db_open(&db, ":memory:", migs, 2, 0, err, sizeof(err)), 0);
    CHECK_EQ_INT(db_exec(db, "CREATE TABLE v (t TEXT, i INTEGER, d REAL, n TEXT)"), 0);
    CHECK_EQ_INT(
        db_run(db, "INSERT INTO v VALUES (?1, ?2, ?3, ?4)", "tidn", "a", (int64_t)1 << 40, 2.5), 0);
    CHECK_EQ_INT(
        db_run(db, "INSERT INTO v VALUES (?1, ?2, ?3, ?4)", "tidt", NULL, (int64_t)-3, -0.25, "x"),
        0);
    CHECK_EQ_INT(db_query(db, &st, "SELECT t, i, d, n IS NULL FROM v WHERE i > ?1 ORDER BY i", "i",
                          (int64_t)-10),
                 0);
    CHECK_EQ_INT(db_step(db, st), 1);
    CHECK_EQ_STR((const char *)sqlite3_column_text(st, 0), ""); /* NULL binds "" */
    CHECK(sqlite3_column_int64(st, 1) == -3);
    CHECK(sqlite3_column_double(st, 2) == -0.25);
    CHECK_EQ_INT(sqlite3_column_int(st, 3), 0);
    CHECK_EQ_INT(db_step(db, st), 1);
    CHECK_EQ_STR((const char *)sqlite3_column_text(st, 0), "a");
    CHECK(sqlite3_column_int64(st, 1) == (int64_t)1 << 40);
    CHECK(sqlite3_column_double(st, 2) == 2.5);
    CHECK_EQ_INT(sqlite3_column_int(st, 3), 1);
    CHECK_EQ_INT(db_step(db, st), 0);
    /* A SELECT through db_run: the row is dropped and the statement reset, so
     * the next write is not blocked by an open read. */
    CHECK_EQ_INT(db_run(db, "SELECT * FROM v WHERE t = ?1", "t", "a"), 0);
    CHECK_EQ_INT(db_begin(db), 0);
    CHECK_EQ_INT(db_run(db, "DELETE FROM v WHERE t = ?1", "t", "a"), 0);
    CHECK_EQ_INT(db_commit(db), 0);
    CHECK_EQ_INT(sqlite3_changes(db_handle(db)), 1);
    /* Errors: a constraint, a bad type letter, too many parameters. */
    CHECK_EQ_INT(db_run(db, "INSERT INTO jobs VALUES (?1, ?2)", "tn", "j"), -AG_EINVAL);
    CHECK_EQ_INT(db_run(db, "INSERT INTO jobs VALUES (?1, ?2)", "tx", "j"), -AG_EINVAL);
    CHECK_EQ_INT(db_query(db, &st, "SELECT ?1", "ii", (int64_t)1, (int64_t)2), -AG_ERANGE);
    CHECK(st == NULL);
    CHECK_EQ_INT(db_run(db, "INSERT INTO jobs VALUES (?1, ?2)", "ti", "j", (int64_t)5), 0);
    CHECK_EQ_INT(query_int(db, "SELECT n FROM jobs WHERE id = 'j'"), 5);
    db_close(db);
}

TEST_LIST(TEST_ENTRY(migrations_once), TEST_ENTRY(settings), TEST_ENTRY(newer_refused),
          TEST_ENTRY(failed_migration), TEST_ENTRY(transactions), TEST_ENTRY(statements),
          TEST_ENTRY(bad_files), TEST_ENTRY(concurrent_writers), TEST_ENTRY(concurrent_open),
          TEST_ENTRY(typed_binding));
TEST_MAIN()
