#include "db.h"

#include "error.h"
#include "file.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DB_BUSY_TIMEOUT_MS 5000

struct db_cached {
    char *sql;
    sqlite3_stmt *stmt;
};

struct db {
    sqlite3 *h;
    char *path;
    int version;
    struct db_cached *cache;
    size_t ncache;
    size_t capcache;
};

int
db_from_sqlite(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_NOMEM:
        return -AG_ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -AG_EAGAIN;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            return -AG_EEXIST;
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
            return -AG_ENOENT;
        return -AG_EINVAL;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -AG_EPERM;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
        return -AG_EIO;
    case SQLITE_FULL:
        return -AG_ENOSPC;
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
        return -AG_ERANGE;
    case SQLITE_MISUSE:
    case SQLITE_MISMATCH:
        return -AG_EINVAL;
    default:
        return -AG_EDB;
    }
}

/* Runs `sql`; on failure returns the translated code and, when `what` is not
 * NULL, logs it. */
static int
run_sql(struct db *db, const char *sql, const char *what)
{
    int rc = sqlite3_exec(db->h, sql, NULL, NULL, NULL);

    if (rc == SQLITE_OK)
        return 0;
    if (what != NULL)
        log_warn("db: %s failed path=%s error=\"%s\"", what, db->path, sqlite3_errmsg(db->h));
    return db_from_sqlite(sqlite3_extended_errcode(db->h));
}

/* Reads the single-value result of `sql` (a PRAGMA) as text into `buf`. */
static int
db_pragma_text(struct db *db, const char *sql, char *buf, size_t len)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->h, sql, -1, &st, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(buf, len, "%s", t != NULL ? (const char *)t : "");
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_ERROR;
    }
    rc = rc == SQLITE_OK ? 0 : db_from_sqlite(sqlite3_extended_errcode(db->h));
    sqlite3_finalize(st);
    return rc;
}

static int
db_configure(struct db *db, int flags, char *err, size_t errlen)
{
    char mode[32];
    bool memory = strcmp(db->path, ":memory:") == 0 || db->path[0] == '\0';
    int rc;

    sqlite3_extended_result_codes(db->h, 1);
    sqlite3_busy_timeout(db->h, DB_BUSY_TIMEOUT_MS);
    /* Switching a new file to WAL needs an exclusive lock, and SQLite reports
     * BUSY at once (without the busy handler) when another handle is doing
     * the same: retry for as long as the busy timeout. */
    for (int waited = 0;; waited += 10) {
        rc = db_pragma_text(db, "PRAGMA journal_mode=WAL", mode, sizeof(mode));
        if (rc != -AG_EAGAIN || waited >= DB_BUSY_TIMEOUT_MS)
            break;
        usleep(10 * 1000);
    }
    if (rc != 0) {
        ag_errf(err, errlen, "database %s: cannot set journal_mode=WAL: %s", db->path,
               sqlite3_errmsg(db->h));
        return rc;
    }
    if (strcmp(mode, "wal") != 0 && !(memory && strcmp(mode, "memory") == 0)) {
        ag_errf(err, errlen,
               "database %s: journal_mode is '%s', not 'wal' (unsupported filesystem?)", db->path,
               mode);
        return -AG_EDB;
    }
    rc = run_sql(db,
                 (flags & DB_SYNC_FULL) ? "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON"
                                        : "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON",
                 NULL);
    if (rc != 0) {
        ag_errf(err, errlen, "database %s: cannot configure: %s", db->path, sqlite3_errmsg(db->h));
        return rc;
    }
    return 0;
}

static int
db_read_version(struct db *db, int *version)
{
    char buf[32];
    int rc = db_pragma_text(db, "PRAGMA user_version", buf, sizeof(buf));

    if (rc == 0)
        *version = atoi(buf);
    return rc;
}

/* Applies the pending migrations, one transaction each; see db.h. */
static int
db_migrate(struct db *db, const struct db_migration *migs, size_t nmigs, char *err, size_t errlen)
{
    char sql[64];
    int rc, v;

    /* Usually nothing is pending: check without taking the write lock, so an
     * open does not wait for another handle's transaction. */
    rc = db_read_version(db, &v);
    if (rc != 0) {
        ag_errf(err, errlen, "database %s: cannot read the schema version: %s", db->path,
               sqlite3_errmsg(db->h));
        return rc;
    }
    if (v >= 0 && (size_t)v == nmigs) {
        db->version = v;
        return 0;
    }
    for (;;) {
        rc = run_sql(db, "BEGIN IMMEDIATE", NULL);
        if (rc != 0) {
            ag_errf(err, errlen, "database %s: cannot lock for the schema check: %s", db->path,
                   sqlite3_errmsg(db->h));
            return rc;
        }
        rc = db_read_version(db, &v);
        if (rc != 0) {
            ag_errf(err, errlen, "database %s: cannot read the schema version: %s", db->path,
                   sqlite3_errmsg(db->h));
            goto fail;
        }
        if (v < 0 || (size_t)v > nmigs) {
            ag_errf(err, errlen,
                   "database %s has schema version %d but this build knows versions up to %zu; "
                   "refusing to use it (was it written by a newer Agora?)",
                   db->path, v, nmigs);
            rc = -AG_EVERSION;
            goto fail;
        }
        if ((size_t)v == nmigs)
            break;
        rc = run_sql(db, migs[v].sql != NULL ? migs[v].sql : "", NULL);
        if (rc != 0) {
            ag_errf(err, errlen, "database %s: migration %d (%s) failed: %s", db->path, v + 1,
                   migs[v].name != NULL ? migs[v].name : "unnamed", sqlite3_errmsg(db->h));
            goto fail;
        }
        snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", v + 1);
        rc = run_sql(db, sql, NULL);
        if (rc == 0)
            rc = run_sql(db, "COMMIT", NULL);
        if (rc != 0) {
            ag_errf(err, errlen, "database %s: cannot record schema version %d: %s", db->path, v + 1,
                   sqlite3_errmsg(db->h));
            goto fail;
        }
        log_info("db: applied migration path=%s version=%d name=\"%s\"", db->path, v + 1,
                 migs[v].name != NULL ? migs[v].name : "");
    }
    run_sql(db, "COMMIT", NULL); /* read-only transaction: cannot fail in a way that matters */
    db->version = v;
    return 0;
fail:
    if (!sqlite3_get_autocommit(db->h))
        run_sql(db, "ROLLBACK", NULL);
    return rc;
}

int
db_open(struct db **out, const char *path, const struct db_migration *migs, size_t nmigs, int flags,
        char *err, size_t errlen)
{
    struct db *db;
    bool fresh;
    int rc;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (out == NULL) {
        ag_errf(err, errlen, "db_open: no result pointer");
        return -AG_EINVAL;
    }
    *out = NULL;
    if (path == NULL || (migs == NULL && nmigs > 0) || nmigs > INT_MAX ||
        (flags & ~DB_SYNC_FULL) != 0) {
        ag_errf(err, errlen, "db_open: invalid arguments");
        return -AG_EINVAL;
    }
    db = calloc(1, sizeof(*db));
    if (db == NULL || (db->path = strdup(path)) == NULL) {
        free(db);
        ag_errf(err, errlen, "database %s: out of memory", path);
        return -AG_ENOMEM;
    }
    fresh = strcmp(path, ":memory:") != 0 && path[0] != '\0' && access(path, F_OK) != 0 &&
            errno == ENOENT;
    rc = sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        ag_errf(err, errlen, "cannot open database %s: %s", path,
               db->h != NULL ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
        rc = db_from_sqlite(rc);
        goto fail;
    }
    rc = db_configure(db, flags, err, errlen);
    if (rc == 0)
        rc = db_migrate(db, migs, nmigs, err, errlen);
    if (rc != 0)
        goto fail;
    /* SQLite syncs the directory of a file it creates, not the directories
     * above, which mkdir -p may have just made (a first start). */
    if (fresh && (rc = file_sync_ancestors(path)) != 0)
        log_warn("db: cannot sync the directories above a new database path=%s error=\"%s\"",
                 path, ag_strerror(rc));
    *out = db;
    return 0;
fail:
    db_close(db);
    return rc;
}

void
db_close(struct db *db)
{
    sqlite3_stmt *left;

    if (db == NULL)
        return;
    for (size_t i = 0; i < db->ncache; i++) {
        sqlite3_finalize(db->cache[i].stmt);
        free(db->cache[i].sql);
    }
    free(db->cache);
    if (db->h != NULL) {
        if (!sqlite3_get_autocommit(db->h))
            run_sql(db, "ROLLBACK", "rollback on close");
        left = sqlite3_next_stmt(db->h, NULL);
        if (left != NULL)
            log_warn("db: closing with unfinalized statements path=%s sql=\"%s\"", db->path,
                     sqlite3_sql(left));
        sqlite3_close_v2(db->h);
    }
    free(db->path);
    free(db);
}

int
db_version(struct db *db)
{
    return db->version;
}

sqlite3 *
db_handle(struct db *db)
{
    return db->h;
}

const char *
db_errmsg(struct db *db)
{
    return sqlite3_errmsg(db->h);
}

int
db_exec(struct db *db, const char *sql)
{
    if (sql == NULL)
        return -AG_EINVAL;
    return run_sql(db, sql, "exec");
}

int
db_begin(struct db *db)
{
    if (!sqlite3_get_autocommit(db->h))
        return -AG_ESTATE;
    return run_sql(db, "BEGIN IMMEDIATE", "begin");
}

int
db_commit(struct db *db)
{
    int rc;

    if (sqlite3_get_autocommit(db->h))
        return -AG_ESTATE;
    rc = run_sql(db, "COMMIT", "commit");
    if (rc != 0 && !sqlite3_get_autocommit(db->h))
        run_sql(db, "ROLLBACK", "rollback after failed commit");
    return rc;
}

int
db_rollback(struct db *db)
{
    if (sqlite3_get_autocommit(db->h))
        return 0;
    return run_sql(db, "ROLLBACK", "rollback");
}

int
db_prepare(struct db *db, const char *sql, sqlite3_stmt **stmt)
{
    int rc;

    *stmt = NULL;
    if (sql == NULL)
        return -AG_EINVAL;
    rc = sqlite3_prepare_v2(db->h, sql, -1, stmt, NULL);
    if (rc != SQLITE_OK) {
        log_warn("db: prepare failed path=%s sql=\"%s\" error=\"%s\"", db->path, sql,
                 sqlite3_errmsg(db->h));
        sqlite3_finalize(*stmt);
        *stmt = NULL;
        return db_from_sqlite(sqlite3_extended_errcode(db->h));
    }
    if (*stmt == NULL) { /* only whitespace or comments */
        log_warn("db: prepare found no statement path=%s sql=\"%s\"", db->path, sql);
        return -AG_EINVAL;
    }
    return 0;
}

int
db_stmt(struct db *db, const char *sql, sqlite3_stmt **stmt)
{
    struct db_cached *c;
    sqlite3_stmt *st;
    char *copy;
    int rc;

    *stmt = NULL;
    if (sql == NULL)
        return -AG_EINVAL;
    for (size_t i = 0; i < db->ncache; i++) {
        if (strcmp(db->cache[i].sql, sql) == 0) {
            sqlite3_reset(db->cache[i].stmt);
            sqlite3_clear_bindings(db->cache[i].stmt);
            *stmt = db->cache[i].stmt;
            return 0;
        }
    }
    if (db->ncache == db->capcache) {
        size_t cap = db->capcache ? db->capcache * 2 : 16;
        c = realloc(db->cache, cap * sizeof(*c));
        if (c == NULL)
            return -AG_ENOMEM;
        db->cache = c;
        db->capcache = cap;
    }
    copy = strdup(sql);
    if (copy == NULL)
        return -AG_ENOMEM;
    rc = db_prepare(db, sql, &st);
    if (rc != 0) {
        free(copy);
        return rc;
    }
    db->cache[db->ncache].sql = copy;
    db->cache[db->ncache].stmt = st;
    db->ncache++;
    *stmt = st;
    return 0;
}

int
db_step(struct db *db, sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);

    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE) {
        sqlite3_reset(stmt);
        return 0;
    }
    rc = sqlite3_extended_errcode(db->h);
    log_warn("db: step failed path=%s sql=\"%s\" error=\"%s\"", db->path, sqlite3_sql(stmt),
             sqlite3_errmsg(db->h));
    sqlite3_reset(stmt);
    return db_from_sqlite(rc);
}

static int
bind_va(sqlite3_stmt *stmt, const char *types, va_list ap)
{
    int rc = SQLITE_OK;

    for (int i = 1; types[i - 1] != '\0' && rc == SQLITE_OK; i++) {
        switch (types[i - 1]) {
        case 't': {
            const char *s = va_arg(ap, const char *);
            rc = sqlite3_bind_text(stmt, i, s ? s : "", -1, SQLITE_STATIC);
            break;
        }
        case 'i':
            rc = sqlite3_bind_int64(stmt, i, va_arg(ap, int64_t));
            break;
        case 'd':
            rc = sqlite3_bind_double(stmt, i, va_arg(ap, double));
            break;
        case 'n':
            rc = sqlite3_bind_null(stmt, i);
            break;
        default:
            log_error("db: bad bind type '%c' for \"%s\"", types[i - 1], sqlite3_sql(stmt));
            return -AG_EINVAL;
        }
    }
    if (rc != SQLITE_OK)
        log_warn("db: bind failed sql=\"%s\" error=\"%s\"", sqlite3_sql(stmt), sqlite3_errstr(rc));
    return db_from_sqlite(rc);
}

int
db_bind(sqlite3_stmt *stmt, const char *types, ...)
{
    va_list ap;
    int rc;

    va_start(ap, types);
    rc = bind_va(stmt, types, ap);
    va_end(ap);
    return rc;
}

static int
query_va(struct db *db, sqlite3_stmt **stmt, const char *sql, const char *types, va_list ap)
{
    int rc = db_stmt(db, sql, stmt);

    if (rc != 0)
        return rc;
    if ((rc = bind_va(*stmt, types, ap)) != 0) {
        sqlite3_clear_bindings(*stmt);
        *stmt = NULL;
    }
    return rc;
}

int
db_query(struct db *db, sqlite3_stmt **stmt, const char *sql, const char *types, ...)
{
    va_list ap;
    int rc;

    va_start(ap, types);
    rc = query_va(db, stmt, sql, types, ap);
    va_end(ap);
    return rc;
}

int
db_run(struct db *db, const char *sql, const char *types, ...)
{
    sqlite3_stmt *stmt;
    va_list ap;
    int rc;

    va_start(ap, types);
    rc = query_va(db, &stmt, sql, types, ap);
    va_end(ap);
    if (rc != 0)
        return rc;
    rc = db_step(db, stmt);
    if (rc == 1) {
        sqlite3_reset(stmt);
        rc = 0;
    }
    return rc;
}
