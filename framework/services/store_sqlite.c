/* agora-services' state in SQLite: the default backend of store.h. */
#include "store_int.h"

#include "db.h"
#include "error.h"
#include "log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct store_sqlite {
    struct store base; /* first: the ops table */
    struct db *db;
    bool txn;
};

#define SQ(st) ((struct store_sqlite *)(st))

static const struct store_ops sqlite_ops;
static int sq_commit(struct store *st);

static const struct db_migration migrations[] = {
    {"initial schema",
     "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
     "CREATE TABLE apps (id TEXT PRIMARY KEY, json TEXT NOT NULL, last_failure TEXT);"
     "CREATE TABLE app_versions (app_id TEXT NOT NULL, version TEXT NOT NULL,"
     "  json TEXT NOT NULL, PRIMARY KEY (app_id, version));"
     "CREATE TABLE deployments (id TEXT PRIMARY KEY, app_id TEXT NOT NULL, json TEXT NOT NULL);"
     "CREATE TABLE tasks (id TEXT PRIMARY KEY, app_id TEXT NOT NULL, agent_id TEXT NOT NULL,"
     "  host TEXT NOT NULL, attrs TEXT NOT NULL, ports TEXT NOT NULL, version TEXT NOT NULL,"
     "  cfg_version TEXT NOT NULL, state INTEGER NOT NULL, healthy INTEGER NOT NULL,"
     "  kill INTEGER NOT NULL, returned INTEGER NOT NULL, staged_at REAL NOT NULL,"
     "  started_at REAL NOT NULL, unreachable_since REAL NOT NULL, seq INTEGER NOT NULL);"},
};

int
store_open(struct store **out, const char *path, char *err, size_t errlen)
{
    struct store_sqlite *sq = calloc(1, sizeof(*sq));
    struct store *st = &sq->base;
    int rc;

    *out = NULL;
    if (sq == NULL)
        return -AG_ENOMEM;
    st->ops = &sqlite_ops;
    /* synchronous=FULL: a commit returns once it is on disk, and the daemon
     * acts on it right after (store.h). */
    rc = db_open(&SQ(st)->db, path, migrations, sizeof(migrations) / sizeof(migrations[0]),
                 DB_SYNC_FULL, err, errlen);
    if (rc != 0) {
        free(sq);
        return rc;
    }
    *out = st;
    return 0;
}

static void
sq_close(struct store *st)
{
    if (st == NULL)
        return;
    if (SQ(st)->txn)
        sq_commit(st);
    db_close(SQ(st)->db);
    free(st);
}

static int
sq_begin(struct store *st)
{
    int rc;

    if (SQ(st)->txn)
        return 0;
    rc = db_begin(SQ(st)->db);
    if (rc == 0)
        SQ(st)->txn = true;
    return rc;
}

static int
sq_commit(struct store *st)
{
    if (!SQ(st)->txn)
        return 0;
    SQ(st)->txn = false;
    return db_commit(SQ(st)->db);
}

static bool
sq_in_txn(const struct store *st)
{
    return SQ(st)->txn;
}

/* Runs a cached write statement with text/double/int bindings given as a format:
 * 's' text (NULL -> NULL), 'd' double, 'i' int64. */
static int
write_stmt(struct store *st, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *s;
    va_list ap;
    int rc, i = 1;

    if ((rc = sq_begin(st)) != 0)
        return rc;
    if ((rc = db_stmt(SQ(st)->db, sql, &s)) != 0)
        return rc;
    va_start(ap, fmt);
    for (const char *f = fmt; *f; f++, i++) {
        if (*f == 's') {
            const char *v = va_arg(ap, const char *);
            if (v == NULL)
                sqlite3_bind_null(s, i);
            else
                sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
        } else if (*f == 'd') {
            sqlite3_bind_double(s, i, va_arg(ap, double));
        } else {
            sqlite3_bind_int64(s, i, va_arg(ap, int64_t));
        }
    }
    va_end(ap);
    rc = db_step(SQ(st)->db, s);
    return rc < 0 ? rc : 0;
}

static int
sq_meta_put(struct store *st, const char *key, const char *value)
{
    return write_stmt(st, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", "ss", key,
                      value);
}

/* The first column of the first row of the bound query `s` as a malloc'd
 * string; NULL when there is no row. */
static char *
read_text(struct store *st, sqlite3_stmt *s)
{
    char *v = NULL;

    if (db_step(SQ(st)->db, s) == 1) {
        v = strdup((const char *)sqlite3_column_text(s, 0));
        sqlite3_reset(s);
    }
    return v;
}

static char *
sq_meta_get(struct store *st, const char *key)
{
    sqlite3_stmt *s;

    if (db_query(SQ(st)->db, &s, "SELECT value FROM meta WHERE key = ?", "t", key) != 0)
        return NULL;
    return read_text(st, s);
}

static int
sq_app_put(struct store *st, const char *id, const char *json, const char *last_failure)
{
    return write_stmt(st, "INSERT OR REPLACE INTO apps (id, json, last_failure) VALUES (?, ?, ?)",
                      "sss", id, json, last_failure);
}

static int
sq_app_del(struct store *st, const char *id)
{
    int rc;

    if ((rc = write_stmt(st, "DELETE FROM apps WHERE id = ?", "s", id)) != 0 ||
        (rc = write_stmt(st, "DELETE FROM app_versions WHERE app_id = ?", "s", id)) != 0 ||
        (rc = write_stmt(st, "DELETE FROM deployments WHERE app_id = ?", "s", id)) != 0)
        return rc;
    return 0;
}

static int
sq_app_load(struct store *st,
            void (*fn)(void *arg, const char *id, const char *json, const char *last_failure),
            void *arg)
{
    sqlite3_stmt *s;
    int rc;

    if ((rc = db_prepare(SQ(st)->db, "SELECT id, json, last_failure FROM apps ORDER BY id", &s)) !=
        0)
        return rc;
    while ((rc = db_step(SQ(st)->db, s)) == 1)
        fn(arg, (const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1),
           (const char *)sqlite3_column_text(s, 2));
    sqlite3_finalize(s);
    return rc < 0 ? rc : 0;
}

static int
sq_version_put(struct store *st, const char *app_id, const char *version, const char *json)
{
    return write_stmt(
        st, "INSERT OR REPLACE INTO app_versions (app_id, version, json) VALUES (?, ?, ?)", "sss",
        app_id, version, json);
}

static json_t *
sq_version_list(struct store *st, const char *app_id)
{
    sqlite3_stmt *s;
    json_t *a = json_array();

    if (db_stmt(SQ(st)->db,
                "SELECT version FROM app_versions WHERE app_id = ? ORDER BY version DESC", &s) != 0)
        return a;
    sqlite3_bind_text(s, 1, app_id, -1, SQLITE_TRANSIENT);
    while (db_step(SQ(st)->db, s) == 1)
        json_array_append_new(a, json_string((const char *)sqlite3_column_text(s, 0)));
    return a;
}

static char *
sq_version_get(struct store *st, const char *app_id, const char *version)
{
    sqlite3_stmt *s;

    if (db_query(SQ(st)->db, &s, "SELECT json FROM app_versions WHERE app_id = ? AND version = ?",
                 "tt", app_id, version) != 0)
        return NULL;
    return read_text(st, s);
}

static int
sq_version_trim(struct store *st, const char *app_id, int keep)
{
    return write_stmt(st,
                      "DELETE FROM app_versions WHERE app_id = ?1 AND version NOT IN (SELECT "
                      "version FROM app_versions WHERE app_id = ?1 ORDER BY version DESC LIMIT ?2)",
                      "si", app_id, (int64_t)keep);
}

static int
sq_dep_put(struct store *st, const char *id, const char *app_id, const char *json)
{
    return write_stmt(st, "INSERT OR REPLACE INTO deployments (id, app_id, json) VALUES (?, ?, ?)",
                      "sss", id, app_id, json);
}

static int
sq_dep_del(struct store *st, const char *id)
{
    return write_stmt(st, "DELETE FROM deployments WHERE id = ?", "s", id);
}

static int
sq_dep_load(struct store *st, void (*fn)(void *arg, const char *id, const char *json), void *arg)
{
    sqlite3_stmt *s;
    int rc;

    if ((rc = db_prepare(SQ(st)->db, "SELECT id, json FROM deployments", &s)) != 0)
        return rc;
    while ((rc = db_step(SQ(st)->db, s)) == 1)
        fn(arg, (const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1));
    sqlite3_finalize(s);
    return rc < 0 ? rc : 0;
}

static int
sq_task_put(struct store *st, const struct store_task *t)
{
    return write_stmt(st,
                      "INSERT OR REPLACE INTO tasks (id, app_id, agent_id, host, attrs, ports, "
                      "version, cfg_version, state, healthy, kill, returned, staged_at, "
                      "started_at, unreachable_since, seq) VALUES "
                      "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      "ssssssssiiiidddi", t->id, t->app_id, t->agent_id, t->host, t->attrs,
                      t->ports, t->version, t->cfg_version, (int64_t)t->state, (int64_t)t->healthy,
                      (int64_t)t->kill, (int64_t)t->returned, t->staged_at, t->started_at,
                      t->unreachable_since, t->seq);
}

static int
sq_task_del(struct store *st, const char *id)
{
    return write_stmt(st, "DELETE FROM tasks WHERE id = ?", "s", id);
}

static int
sq_task_load(struct store *st, void (*fn)(void *arg, const struct store_task *t), void *arg)
{
    sqlite3_stmt *s;
    int rc;

    if ((rc = db_prepare(SQ(st)->db,
                         "SELECT id, app_id, agent_id, host, attrs, ports, version, cfg_version, "
                         "state, healthy, kill, returned, staged_at, started_at, "
                         "unreachable_since, seq FROM tasks ORDER BY seq",
                         &s)) != 0)
        return rc;
    while ((rc = db_step(SQ(st)->db, s)) == 1) {
        struct store_task t = {
            .id = (const char *)sqlite3_column_text(s, 0),
            .app_id = (const char *)sqlite3_column_text(s, 1),
            .agent_id = (const char *)sqlite3_column_text(s, 2),
            .host = (const char *)sqlite3_column_text(s, 3),
            .attrs = (const char *)sqlite3_column_text(s, 4),
            .ports = (const char *)sqlite3_column_text(s, 5),
            .version = (const char *)sqlite3_column_text(s, 6),
            .cfg_version = (const char *)sqlite3_column_text(s, 7),
            .state = sqlite3_column_int(s, 8),
            .healthy = sqlite3_column_int(s, 9),
            .kill = sqlite3_column_int(s, 10),
            .returned = sqlite3_column_int(s, 11),
            .staged_at = sqlite3_column_double(s, 12),
            .started_at = sqlite3_column_double(s, 13),
            .unreachable_since = sqlite3_column_double(s, 14),
            .seq = sqlite3_column_int64(s, 15),
        };
        fn(arg, &t);
    }
    sqlite3_finalize(s);
    return rc < 0 ? rc : 0;
}

static const struct store_ops sqlite_ops = {
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .in_txn = sq_in_txn,
    .meta_put = sq_meta_put,
    .meta_get = sq_meta_get,
    .app_put = sq_app_put,
    .app_del = sq_app_del,
    .app_load = sq_app_load,
    .version_put = sq_version_put,
    .version_list = sq_version_list,
    .version_get = sq_version_get,
    .version_trim = sq_version_trim,
    .dep_put = sq_dep_put,
    .dep_del = sq_dep_del,
    .dep_load = sq_dep_load,
    .task_put = sq_task_put,
    .task_del = sq_task_del,
    .task_load = sq_task_load,
};
