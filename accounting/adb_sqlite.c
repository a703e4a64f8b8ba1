/*
 * The SQLite backend of the accounting store (adb.h): the recorder's handle
 * is db.h's (WAL, busy timeout, the migrations of schema.h, BEGIN IMMEDIATE);
 * a report's is a read-only connection that checks PRAGMA user_version.
 * Statements are prepared once per handle and kept, keyed by their text;
 * parameters $N are bound by name, so the SQL is the one PostgreSQL runs.
 */
#include "adb_int.h"

#include "db.h"
#include "error.h"
#include "schema.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct sq_rows {
    struct adb_rows base;
    struct sq *owner;
    char *sql;
    sqlite3_stmt *st;
    int nparams;               /* $1 .. $nparams are in the statement */
    int index[ADB_MAX_PARAMS]; /* SQLite's index of $N at [N - 1] */
};

struct sq {
    struct db *db; /* ADB_WRITE */
    sqlite3 *h;    /* the connection (db's, or a read-only one of its own) */
    struct sq_rows **cache;
    size_t ncache, capcache;
};

static const struct adb_ops *sq_ops(void);

static int
sq_fail(struct adb *s, int rc, const char *what)
{
    struct sq *q = s->impl;

    snprintf(s->errmsg, sizeof(s->errmsg), "%s: %s", what, sqlite3_errmsg(q->h));
    return db_from_sqlite(rc) != 0 ? db_from_sqlite(rc) : -AG_EDB;
}

static int
sq_open_read(struct adb *s, const char *path, char *err, size_t errlen)
{
    struct sq *q = s->impl;
    sqlite3_stmt *st = NULL;
    struct stat sb;
    int rc, version = -1;

    if (stat(path, &sb) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? -AG_ENOENT : ag_from_errno(errno);
    }
    rc = sqlite3_open_v2(path, &q->h, SQLITE_OPEN_READONLY, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, q->h ? sqlite3_errmsg(q->h) : sqlite3_errstr(rc));
        return db_from_sqlite(rc);
    }
    sqlite3_busy_timeout(q->h, 5000);
    rc = sqlite3_prepare_v2(q->h, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version < 0) {
        snprintf(err, errlen, "%s: not an accounting database: %s", path, sqlite3_errmsg(q->h));
        return -AG_EDB;
    }
    if (version != ACCT_SCHEMA_VERSION) {
        snprintf(err, errlen, "%s: accounting schema version %d, this report reads version %d",
                 path, version, ACCT_SCHEMA_VERSION);
        return version == 0 ? -AG_EDB : -AG_EVERSION;
    }
    return 0;
}

static void
sq_close(struct adb *s)
{
    struct sq *q = s->impl;

    if (q == NULL)
        return;
    for (size_t i = 0; i < q->ncache; i++) {
        sqlite3_finalize(q->cache[i]->st);
        free(q->cache[i]->sql);
        free(q->cache[i]);
    }
    free(q->cache);
    if (q->db != NULL)
        db_close(q->db);
    else
        sqlite3_close(q->h);
    free(q);
    s->impl = NULL;
}

static int
sq_open(struct adb *s, const char *path, enum adb_mode mode, char *err, size_t errlen)
{
    struct sq *q;
    int rc;

    if ((q = calloc(1, sizeof(*q))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -AG_ENOMEM;
    }
    s->impl = q;
    if (mode == ADB_WRITE) {
        rc = db_open(&q->db, path, acct_schema_migrations, ACCT_SCHEMA_VERSION, 0, err, errlen);
        if (rc == 0)
            q->h = db_handle(q->db);
    } else {
        rc = sq_open_read(s, path, err, errlen);
    }
    if (rc != 0)
        sq_close(s);
    return rc;
}

static int
sq_begin(struct adb *s)
{
    struct sq *q = s->impl;
    int rc = -AG_EAGAIN;

    for (int attempt = 0; attempt < 3 && rc == -AG_EAGAIN; attempt++)
        rc = db_begin(q->db);
    if (rc != 0)
        snprintf(s->errmsg, sizeof(s->errmsg), "begin: %s", db_errmsg(q->db));
    return rc;
}

static int
sq_commit(struct adb *s)
{
    struct sq *q = s->impl;
    int rc = db_commit(q->db);

    if (rc != 0)
        snprintf(s->errmsg, sizeof(s->errmsg), "commit: %s", db_errmsg(q->db));
    return rc;
}

static int
sq_rollback(struct adb *s)
{
    struct sq *q = s->impl;

    if (q->db != NULL)
        return db_rollback(q->db);
    if (!sqlite3_get_autocommit(q->h))
        sqlite3_exec(q->h, "ROLLBACK", NULL, NULL, NULL);
    return 0;
}

static int
sq_begin_read(struct adb *s)
{
    struct sq *q = s->impl;
    int rc = sqlite3_exec(q->h, "BEGIN", NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : sq_fail(s, rc, "begin");
}

static void
sq_end_read(struct adb *s)
{
    struct sq *q = s->impl;

    if (!sqlite3_get_autocommit(q->h))
        sqlite3_exec(q->h, "COMMIT", NULL, NULL, NULL);
}

/* SQLite undoes a failed statement by itself; the event's earlier ones stay,
 * as they always did. */
static int
sq_event_begin(struct adb *s)
{
    (void)s;
    return 0;
}

static int
sq_event_end(struct adb *s, bool ok)
{
    (void)s;
    (void)ok;
    return 0;
}

/* The cached statement for `sql`, reset, with `p` bound to $1..$n. */
static int
sq_prepare(struct adb *s, const char *sql, const struct adb_param *p, int n, struct sq_rows **out)
{
    struct sq *q = s->impl;
    struct sq_rows *r = NULL;
    char name[8];
    int rc;

    for (size_t i = 0; i < q->ncache; i++)
        if (strcmp(q->cache[i]->sql, sql) == 0) {
            r = q->cache[i];
            break;
        }
    if (r == NULL) {
        if (q->ncache == q->capcache) {
            size_t cap = q->capcache ? 2 * q->capcache : 16;
            struct sq_rows **c = realloc(q->cache, cap * sizeof(*c));
            if (c == NULL)
                return -AG_ENOMEM;
            q->cache = c;
            q->capcache = cap;
        }
        if ((r = calloc(1, sizeof(*r))) == NULL || (r->sql = strdup(sql)) == NULL) {
            free(r);
            return -AG_ENOMEM;
        }
        rc = sqlite3_prepare_v2(q->h, sql, -1, &r->st, NULL);
        if (rc != SQLITE_OK) {
            free(r->sql);
            free(r);
            return sq_fail(s, rc, "prepare");
        }
        r->base.ops = sq_ops();
        r->owner = q;
        /* $N are named parameters to SQLite: look their indexes up once. */
        for (; r->nparams < ADB_MAX_PARAMS; r->nparams++) {
            snprintf(name, sizeof(name), "$%d", r->nparams + 1);
            if ((r->index[r->nparams] = sqlite3_bind_parameter_index(r->st, name)) == 0)
                break;
        }
        q->cache[q->ncache++] = r;
    }
    sqlite3_reset(r->st);
    sqlite3_clear_bindings(r->st);
    for (int i = 0; i < n; i++) {
        int idx = i < r->nparams ? r->index[i] : 0;

        if (idx == 0) {
            snprintf(s->errmsg, sizeof(s->errmsg), "no parameter $%d in \"%s\"", i + 1, sql);
            return -AG_EINVAL;
        }
        if (p[i].type == 't')
            rc = sqlite3_bind_text(r->st, idx, p[i].t, -1, SQLITE_STATIC);
        else if (p[i].type == 'i')
            rc = sqlite3_bind_int64(r->st, idx, p[i].i);
        else
            rc = sqlite3_bind_double(r->st, idx, p[i].d);
        if (rc != SQLITE_OK)
            return sq_fail(s, rc, "bind");
    }
    *out = r;
    return 0;
}

static int
sq_exec(struct adb *s, const char *sql, const struct adb_param *p, int n)
{
    struct sq *q = s->impl;
    struct sq_rows *r;
    int rc;

    if ((rc = sq_prepare(s, sql, p, n, &r)) != 0)
        return rc;
    do
        rc = sqlite3_step(r->st);
    while (rc == SQLITE_ROW);
    sqlite3_reset(r->st);
    if (rc != SQLITE_DONE)
        return sq_fail(s, rc, "statement");
    return sqlite3_changes(q->h);
}

static int
sq_query(struct adb *s, struct adb_rows **out, const char *sql, const struct adb_param *p, int n)
{
    struct sq_rows *r;
    int rc;

    if ((rc = sq_prepare(s, sql, p, n, &r)) != 0)
        return rc;
    *out = &r->base;
    return 0;
}

static int
sq_next(struct adb_rows *base)
{
    struct sq_rows *r = (struct sq_rows *)base;
    int rc = sqlite3_step(r->st);

    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return db_from_sqlite(rc) != 0 ? db_from_sqlite(rc) : -AG_EDB;
}

static bool
sq_is_null(struct adb_rows *base, int col)
{
    return sqlite3_column_type(((struct sq_rows *)base)->st, col) == SQLITE_NULL;
}

static int64_t
sq_int(struct adb_rows *base, int col)
{
    return sqlite3_column_int64(((struct sq_rows *)base)->st, col);
}

static double
sq_real(struct adb_rows *base, int col)
{
    return sqlite3_column_double(((struct sq_rows *)base)->st, col);
}

static const char *
sq_text(struct adb_rows *base, int col)
{
    return (const char *)sqlite3_column_text(((struct sq_rows *)base)->st, col);
}

/* The statement stays cached: only reset it, so it holds no read lock. */
static void
sq_rows_free(struct adb_rows *base)
{
    sqlite3_reset(((struct sq_rows *)base)->st);
}

const struct adb_ops adb_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .begin_read = sq_begin_read,
    .end_read = sq_end_read,
    .event_begin = sq_event_begin,
    .event_end = sq_event_end,
    .exec = sq_exec,
    .query = sq_query,
    .next = sq_next,
    .is_null = sq_is_null,
    .get_int = sq_int,
    .get_real = sq_real,
    .get_text = sq_text,
    .rows_free = sq_rows_free,
    .phrase = {"NOT INDEXED", "INDEXED BY tasks_by_end", "INDEXED BY tasks_open_by_agent"},
};

static const struct adb_ops *
sq_ops(void)
{
    return &adb_sqlite_ops;
}
