/*
 * The master's registry, SQLite backend (see registry.h): admitted agents and
 * subscribed frameworks in <work_dir>/registry.db, meta records in its table
 * meta. Every write is one transaction (synchronous=FULL). The dispatch
 * functions of registry.h are at the end of this file.
 */
#include "registry.h"

#include "db.h"
#include "error.h"
#include "file.h"
#include "log.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct registry_sqlite {
    struct registry base; /* first: a struct registry * is one of these */
    struct db *db;
};

static const struct db_migration registry_migrations[] = {
    {"agents and frameworks",
     "CREATE TABLE agents ("
     "  id TEXT PRIMARY KEY, hostname TEXT NOT NULL, http_address TEXT NOT NULL,"
     "  resources TEXT NOT NULL, attributes TEXT NOT NULL, registered_time REAL NOT NULL);"
     "CREATE TABLE frameworks ("
     "  id TEXT PRIMARY KEY, info BLOB NOT NULL, registered_time REAL NOT NULL);"
     "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"},
    {"agents: draining", "ALTER TABLE agents ADD COLUMN draining INTEGER NOT NULL DEFAULT 0;"},
    {"principals own their ids",
     "ALTER TABLE agents ADD COLUMN principal TEXT NOT NULL DEFAULT '';"
     "ALTER TABLE frameworks ADD COLUMN principal TEXT NOT NULL DEFAULT '';"},
};

static const struct registry_ops sqlite_ops;

int
registry_sqlite_open(struct registry **out, const char *work_dir)
{
    char path[4096], err[512];
    struct registry_sqlite *r;
    int rc;

    *out = NULL;
    if ((rc = file_mkdirs(work_dir, 0755)) != 0) {
        log_error("cannot create --work_dir=%s: %s", work_dir, ag_strerror(rc));
        return rc;
    }
    if ((r = calloc(1, sizeof(*r))) == NULL)
        return -AG_ENOMEM;
    r->base.ops = &sqlite_ops;
    snprintf(path, sizeof(path), "%s/registry.db", work_dir);
    rc = db_open(&r->db, path, registry_migrations,
                 sizeof(registry_migrations) / sizeof(registry_migrations[0]), DB_SYNC_FULL, err,
                 sizeof(err));
    if (rc != 0) {
        log_error("cannot open the registry: %s", err);
        free(r);
        return rc;
    }
    *out = &r->base;
    return 0;
}

static void
sqlite_close(struct registry *base)
{
    struct registry_sqlite *r = (struct registry_sqlite *)base;
    db_close(r->db);
    free(r);
}

/* Runs one statement with text bindings inside its own transaction. */
static int
registry_write(struct registry *base, const char *sql, int nbind, const char *const *texts)
{
    struct db *db = ((struct registry_sqlite *)base)->db;
    sqlite3_stmt *st;
    int rc;

    if ((rc = db_begin(db)) != 0)
        return rc;
    if ((rc = db_stmt(db, sql, &st)) != 0)
        goto fail;
    for (int i = 0; i < nbind; i++)
        sqlite3_bind_text(st, i + 1, texts[i], -1, SQLITE_TRANSIENT);
    if ((rc = db_step(db, st)) < 0)
        goto fail;
    return db_commit(db);
fail:
    db_rollback(db);
    log_error("registry write failed: %s", db_errmsg(db));
    return rc;
}

static int
sqlite_put_agent(struct registry *base, const struct registry_agent_row *a)
{
    struct db *db = ((struct registry_sqlite *)base)->db;
    sqlite3_stmt *st;
    int rc;

    if ((rc = db_begin(db)) != 0)
        return rc;
    rc = db_stmt(db,
                 "INSERT OR REPLACE INTO agents (id, hostname, http_address, resources, "
                 "attributes, registered_time, draining, principal) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 &st);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, a->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, a->hostname, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, a->http_address, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, a->resources, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, a->attributes, -1, SQLITE_TRANSIENT);
        sqlite3_bind_double(st, 6, a->registered_time);
        sqlite3_bind_int(st, 7, a->draining != 0);
        sqlite3_bind_text(st, 8, a->principal ? a->principal : "", -1, SQLITE_TRANSIENT);
        rc = db_step(db, st);
    }
    if (rc < 0) {
        db_rollback(db);
        log_error("registry: cannot store agent %s: %s", a->id, db_errmsg(db));
        return rc;
    }
    return db_commit(db);
}

static int
sqlite_remove_agent(struct registry *r, const char *id)
{
    const char *texts[] = {id};
    return registry_write(r, "DELETE FROM agents WHERE id = ?", 1, texts);
}

static int
sqlite_put_framework(struct registry *base, const struct registry_framework_row *fw)
{
    struct db *db = ((struct registry_sqlite *)base)->db;
    sqlite3_stmt *st;
    int rc;

    if ((rc = db_begin(db)) != 0)
        return rc;
    rc = db_stmt(
        db,
        "INSERT OR REPLACE INTO frameworks (id, info, registered_time, principal) "
        "VALUES (?, ?, ?, ?)",
        &st);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, fw->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 2, fw->info, (int)fw->info_len, SQLITE_TRANSIENT);
        sqlite3_bind_double(st, 3, fw->registered_time);
        sqlite3_bind_text(st, 4, fw->principal ? fw->principal : "", -1, SQLITE_TRANSIENT);
        rc = db_step(db, st);
    }
    if (rc < 0) {
        db_rollback(db);
        log_error("registry: cannot store framework %s: %s", fw->id, db_errmsg(db));
        return rc;
    }
    return db_commit(db);
}

static int
sqlite_remove_framework(struct registry *r, const char *id)
{
    const char *texts[] = {id};
    return registry_write(r, "DELETE FROM frameworks WHERE id = ?", 1, texts);
}

static int
sqlite_set_meta(struct registry *r, const char *key, const char *value)
{
    const char *texts[] = {key, value};
    return registry_write(r, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", 2, texts);
}

static int
sqlite_remove_meta(struct registry *r, const char *key)
{
    const char *texts[] = {key};
    return registry_write(r, "DELETE FROM meta WHERE key = ?", 1, texts);
}

static int
sqlite_load_meta(struct registry *base, registry_meta_fn fn, void *arg)
{
    struct db *db = ((struct registry_sqlite *)base)->db;
    sqlite3_stmt *st;
    int rc;

    if ((rc = db_stmt(db, "SELECT key, value FROM meta", &st)) != 0)
        return rc;
    while ((rc = db_step(db, st)) == 1) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        const char *value = (const char *)sqlite3_column_text(st, 1);
        if ((rc = fn(arg, key ? key : "", value ? value : "")) != 0)
            return rc;
    }
    return rc < 0 ? rc : 0;
}

/* Calls `agent_fn` for each stored agent, then `fw_fn` for each framework. */
static int
sqlite_load(struct registry *base, registry_agent_fn agent_fn, registry_framework_fn fw_fn,
            void *arg)
{
    struct db *db = ((struct registry_sqlite *)base)->db;
    sqlite3_stmt *st;
    int rc;

    if ((rc = db_stmt(db,
                      "SELECT id, hostname, http_address, resources, attributes, "
                      "registered_time, draining, principal FROM agents",
                      &st)) != 0)
        return rc;
    while ((rc = db_step(db, st)) == 1) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        const char *host = (const char *)sqlite3_column_text(st, 1);
        const char *addr = (const char *)sqlite3_column_text(st, 2);
        const char *res = (const char *)sqlite3_column_text(st, 3);
        const char *attrs = (const char *)sqlite3_column_text(st, 4);
        const char *principal = (const char *)sqlite3_column_text(st, 7);
        struct registry_agent_row row = {
            .id = id ? id : "",
            .hostname = host ? host : "",
            .http_address = addr ? addr : "",
            .resources = res ? res : "",
            .attributes = attrs ? attrs : "",
            .registered_time = sqlite3_column_double(st, 5),
            .draining = sqlite3_column_int(st, 6) != 0,
            .principal = principal ? principal : "",
        };
        if ((rc = agent_fn(arg, &row)) != 0)
            return rc;
    }
    if (rc < 0)
        return rc;

    if ((rc = db_stmt(db, "SELECT id, info, registered_time, principal FROM frameworks", &st)) !=
        0)
        return rc;
    while ((rc = db_step(db, st)) == 1) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        const char *principal = (const char *)sqlite3_column_text(st, 3);
        struct registry_framework_row row = {
            .id = id ? id : "",
            .info = sqlite3_column_blob(st, 1),
            .info_len = (size_t)sqlite3_column_bytes(st, 1),
            .registered_time = sqlite3_column_double(st, 2),
            .principal = principal ? principal : "",
        };
        if ((rc = fw_fn(arg, &row)) != 0)
            return rc;
    }
    return rc < 0 ? rc : 0;
}

static const struct registry_ops sqlite_ops = {
    .load = sqlite_load,
    .put_agent = sqlite_put_agent,
    .remove_agent = sqlite_remove_agent,
    .put_framework = sqlite_put_framework,
    .remove_framework = sqlite_remove_framework,
    .set_meta = sqlite_set_meta,
    .remove_meta = sqlite_remove_meta,
    .load_meta = sqlite_load_meta,
    .close = sqlite_close,
};

/* ---- dispatch ---- */

int
registry_load(struct registry *r, registry_agent_fn agent_fn, registry_framework_fn fw_fn,
              void *arg)
{
    return r->ops->load(r, agent_fn, fw_fn, arg);
}

int
registry_put_agent(struct registry *r, const struct registry_agent_row *row)
{
    return r->ops->put_agent(r, row);
}

int
registry_remove_agent(struct registry *r, const char *id)
{
    return r->ops->remove_agent(r, id);
}

int
registry_put_framework(struct registry *r, const struct registry_framework_row *row)
{
    return r->ops->put_framework(r, row);
}

int
registry_remove_framework(struct registry *r, const char *id)
{
    return r->ops->remove_framework(r, id);
}

int
registry_set_meta(struct registry *r, const char *key, const char *value)
{
    return r->ops->set_meta(r, key, value);
}

int
registry_remove_meta(struct registry *r, const char *key)
{
    return r->ops->remove_meta(r, key);
}

int
registry_load_meta(struct registry *r, registry_meta_fn fn, void *arg)
{
    return r->ops->load_meta(r, fn, arg);
}

void
registry_close(struct registry *r)
{
    if (r)
        r->ops->close(r);
}
