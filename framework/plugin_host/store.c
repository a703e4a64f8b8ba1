#include "store.h"

#include "db.h"
#include "error.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

struct store {
    struct db *db;
};

static const struct db_migration store_migrations[] = {
    {"host values and the plugin's key-value store",
     "CREATE TABLE host (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
     "CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB NOT NULL);"},
};

int
store_open(struct store **out, const char *path, char *err, size_t errlen)
{
    struct store *s;
    int rv;

    *out = NULL;
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return -AG_ENOMEM;
    /* synchronous=FULL: a plugin acts on what it committed (a launch after
     * ag_kv_commit), so a commit returns once it is on disk. */
    rv = db_open(&s->db, path, store_migrations,
                 sizeof(store_migrations) / sizeof(store_migrations[0]), DB_SYNC_FULL, err,
                 errlen);
    if (rv != 0) {
        free(s);
        return rv;
    }
    *out = s;
    return 0;
}

void
store_close(struct store *s)
{
    if (s == NULL)
        return;
    db_close(s->db);
    free(s);
}

bool
store_in_txn(struct store *s)
{
    return sqlite3_get_autocommit(db_handle(s->db)) == 0;
}

/* Reads column 0 of the single row of `st` (bound by the caller). */
static int
store_read_one(struct store *s, sqlite3_stmt *st, char **value, size_t *len)
{
    const void *p;
    size_t n;
    char *v;
    int rv;

    *value = NULL;
    if ((rv = db_step(s->db, st)) < 0)
        return rv;
    if (rv == 0)
        return -AG_ENOENT;
    p = sqlite3_column_blob(st, 0);
    n = (size_t)sqlite3_column_bytes(st, 0);
    if ((v = malloc(n + 1)) == NULL) {
        sqlite3_reset(st);
        return -AG_ENOMEM;
    }
    if (n > 0)
        memcpy(v, p, n);
    v[n] = '\0';
    sqlite3_reset(st);
    *value = v;
    if (len != NULL)
        *len = n;
    return 0;
}

/* Runs a statement that returns no rows. */
static int
store_run(struct store *s, sqlite3_stmt *st)
{
    int rv = db_step(s->db, st);

    if (rv > 0) {
        sqlite3_reset(st);
        rv = 0;
    }
    return rv;
}

int
store_host_get(struct store *s, const char *key, char **value)
{
    sqlite3_stmt *st;
    int rv;

    *value = NULL;
    if ((rv = db_stmt(s->db, "SELECT value FROM host WHERE key = ?1", &st)) != 0)
        return rv;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    return store_read_one(s, st, value, NULL);
}

int
store_host_put(struct store *s, const char *key, const char *value)
{
    sqlite3_stmt *st;
    int rv;

    if (value == NULL)
        rv = db_stmt(s->db, "DELETE FROM host WHERE key = ?1", &st);
    else
        rv = db_stmt(s->db, "INSERT OR REPLACE INTO host (key, value) VALUES (?1, ?2)", &st);
    if (rv != 0)
        return rv;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (value != NULL)
        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    return store_run(s, st);
}

int
store_clear(struct store *s)
{
    int rv;

    if (store_in_txn(s))
        db_rollback(s->db);
    if ((rv = db_begin(s->db)) != 0)
        return rv;
    if ((rv = db_exec(s->db, "DELETE FROM host; DELETE FROM kv;")) != 0) {
        db_rollback(s->db);
        return rv;
    }
    return db_commit(s->db);
}

int
store_kv_get(struct store *s, const char *key, char **value, size_t *len)
{
    sqlite3_stmt *st;
    int rv;

    *value = NULL;
    if ((rv = db_stmt(s->db, "SELECT value FROM kv WHERE key = ?1", &st)) != 0)
        return rv;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    return store_read_one(s, st, value, len);
}

int
store_kv_put(struct store *s, const char *key, const void *value, size_t len)
{
    sqlite3_stmt *st;
    int rv;

    if (len > 1000000000)
        return -AG_ERANGE;
    if ((rv = db_stmt(s->db, "INSERT OR REPLACE INTO kv (key, value) VALUES (?1, ?2)", &st)) != 0)
        return rv;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    /* A zero-length blob with a NULL pointer would bind NULL: give SQLite "". */
    sqlite3_bind_blob(st, 2, len > 0 ? value : "", (int)len, SQLITE_STATIC);
    return store_run(s, st);
}

int
store_kv_del(struct store *s, const char *key)
{
    sqlite3_stmt *st;
    int rv;

    if ((rv = db_stmt(s->db, "DELETE FROM kv WHERE key = ?1", &st)) != 0)
        return rv;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    return store_run(s, st);
}

struct kv_row {
    char *key;
    char *value;
    size_t len;
};

static void
rows_free(struct kv_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].key);
        free(rows[i].value);
    }
    free(rows);
}

/*
 * Reads the matching rows into memory first, so that fn sees a snapshot and
 * may change the store while it runs.
 */
int
store_kv_list(struct store *s, const char *prefix,
              int (*fn)(void *arg, const char *key, const void *value, size_t len), void *arg)
{
    struct kv_row *rows = NULL, *grown;
    size_t n = 0, cap = 0, plen = prefix != NULL ? strlen(prefix) : 0;
    sqlite3_stmt *st = NULL;
    int rv;

    if ((rv = db_prepare(s->db, "SELECT key, value FROM kv WHERE key >= ?1 ORDER BY key", &st)) !=
        0)
        return rv;
    sqlite3_bind_text(st, 1, prefix != NULL ? prefix : "", -1, SQLITE_STATIC);
    while ((rv = db_step(s->db, st)) == 1) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        const void *v = sqlite3_column_blob(st, 1);
        size_t vlen = (size_t)sqlite3_column_bytes(st, 1);

        if (k == NULL || strncmp(k, prefix != NULL ? prefix : "", plen) != 0)
            break; /* past the keys that start with the prefix */
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            if ((grown = realloc(rows, cap * sizeof(*rows))) == NULL) {
                rv = -AG_ENOMEM;
                break;
            }
            rows = grown;
        }
        rows[n].key = strdup(k);
        rows[n].value = malloc(vlen + 1);
        rows[n].len = vlen;
        n++;
        if (rows[n - 1].key == NULL || rows[n - 1].value == NULL) {
            rv = -AG_ENOMEM;
            break;
        }
        if (vlen > 0)
            memcpy(rows[n - 1].value, v, vlen);
        rows[n - 1].value[vlen] = '\0';
    }
    sqlite3_finalize(st);
    if (rv < 0) {
        rows_free(rows, n);
        return rv;
    }
    rv = 0;
    for (size_t i = 0; i < n && rv == 0; i++)
        rv = fn(arg, rows[i].key, rows[i].value, rows[i].len);
    rows_free(rows, n);
    return rv;
}

int
store_begin(struct store *s)
{
    return db_begin(s->db);
}

int
store_commit(struct store *s)
{
    return db_commit(s->db);
}

int
store_rollback(struct store *s)
{
    return db_rollback(s->db);
}
