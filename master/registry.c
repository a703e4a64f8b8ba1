/*
 * The master's registry: admitted agents and subscribed frameworks, kept in
 * SQLite (<work_dir>/registry.db) so that a restarted master knows who may
 * come back. Tasks are not stored: agents report them when they re-register,
 * as in Mesos. Every write is one transaction (synchronous=FULL).
 */
#include "master.h"

#include "allocator.h"

#include "db.h"
#include "error.h"
#include "log.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const struct db_migration registry_migrations[] = {
    {"agents and frameworks",
     "CREATE TABLE agents ("
     "  id TEXT PRIMARY KEY, hostname TEXT NOT NULL, http_address TEXT NOT NULL,"
     "  resources TEXT NOT NULL, attributes TEXT NOT NULL, registered_time REAL NOT NULL);"
     "CREATE TABLE frameworks ("
     "  id TEXT PRIMARY KEY, info BLOB NOT NULL, registered_time REAL NOT NULL);"
     "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"},
};

static int
mkdir_p(const char *path)
{
    char buf[4096];
    size_t len = strlen(path);

    if (len >= sizeof(buf))
        return -AG_ERANGE;
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return ag_from_errno(errno);
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return ag_from_errno(errno);
    return 0;
}

int
registry_open(struct master *m)
{
    char path[4096], err[512];
    int rc;

    if ((rc = mkdir_p(m->flags.work_dir)) != 0) {
        log_error("cannot create --work_dir=%s: %s", m->flags.work_dir, ag_strerror(rc));
        return rc;
    }
    snprintf(path, sizeof(path), "%s/registry.db", m->flags.work_dir);
    rc = db_open(&m->db, path, registry_migrations,
                 sizeof(registry_migrations) / sizeof(registry_migrations[0]), DB_SYNC_FULL, err,
                 sizeof(err));
    if (rc != 0)
        log_error("cannot open the registry: %s", err);
    return rc;
}

void
registry_close(struct master *m)
{
    db_close(m->db);
    m->db = NULL;
}

/* Runs one statement with text bindings inside its own transaction. */
static int
registry_write(struct master *m, const char *sql, int nbind, const char *const *texts)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = db_begin(m->db)) != 0)
        return rc;
    if ((rc = db_stmt(m->db, sql, &st)) != 0)
        goto fail;
    for (int i = 0; i < nbind; i++)
        sqlite3_bind_text(st, i + 1, texts[i], -1, SQLITE_TRANSIENT);
    if ((rc = db_step(m->db, st)) < 0)
        goto fail;
    return db_commit(m->db);
fail:
    db_rollback(m->db);
    log_error("registry write failed: %s", db_errmsg(m->db));
    return rc;
}

int
registry_put_agent(struct master *m, const struct agent *a)
{
    char *res = res_to_string(&a->total);
    char attrs[4096];
    sqlite3_stmt *st;
    int rc;

    if (res == NULL)
        return -AG_ENOMEM;
    attr_format(&a->attributes, attrs, sizeof(attrs));
    if ((rc = db_begin(m->db)) != 0) {
        free(res);
        return rc;
    }
    rc = db_stmt(m->db,
                 "INSERT OR REPLACE INTO agents (id, hostname, http_address, resources, "
                 "attributes, registered_time) VALUES (?, ?, ?, ?, ?, ?)",
                 &st);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, a->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, a->hostname, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, a->http_address, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, res, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, attrs, -1, SQLITE_TRANSIENT);
        sqlite3_bind_double(st, 6, a->registered_time);
        rc = db_step(m->db, st);
    }
    free(res);
    if (rc < 0) {
        db_rollback(m->db);
        log_error("registry: cannot store agent %s: %s", a->id, db_errmsg(m->db));
        return rc;
    }
    return db_commit(m->db);
}

int
registry_remove_agent(struct master *m, const char *id)
{
    const char *texts[] = {id};
    return registry_write(m, "DELETE FROM agents WHERE id = ?", 1, texts);
}

int
registry_put_framework(struct master *m, const struct framework *fw)
{
    struct msg sub;
    void *buf;
    size_t len;
    sqlite3_stmt *st;
    int rc;

    msg_init(&sub, MSG_SUBSCRIBE);
    sub.u.subscribe.framework = fw->info;
    sub.u.subscribe.framework.framework_id = (char *)fw->id;
    if ((rc = msg_encode_alloc(&sub, &buf, &len)) != 0)
        return rc;
    if ((rc = db_begin(m->db)) != 0) {
        free(buf);
        return rc;
    }
    rc = db_stmt(m->db,
                 "INSERT OR REPLACE INTO frameworks (id, info, registered_time) VALUES (?, ?, ?)",
                 &st);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, fw->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 2, buf, (int)len, SQLITE_TRANSIENT);
        sqlite3_bind_double(st, 3, fw->registered_time);
        rc = db_step(m->db, st);
    }
    free(buf);
    if (rc < 0) {
        db_rollback(m->db);
        log_error("registry: cannot store framework %s: %s", fw->id, db_errmsg(m->db));
        return rc;
    }
    return db_commit(m->db);
}

int
registry_remove_framework(struct master *m, const char *id)
{
    const char *texts[] = {id};
    return registry_write(m, "DELETE FROM frameworks WHERE id = ?", 1, texts);
}

int
registry_set_meta(struct master *m, const char *key, const char *value)
{
    const char *texts[] = {key, value};
    return registry_write(m, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", 2, texts);
}

/*
 * Loads the registry after a start: agents become RECOVERED (they have
 * --agent_reregister_timeout to come back), frameworks DISCONNECTED (their
 * failover timeout starts now).
 */
int
registry_load(struct master *m)
{
    sqlite3_stmt *st;
    char err[256];
    int rc;
    size_t nagents = 0, nframeworks = 0;

    if ((rc = db_stmt(m->db,
                      "SELECT id, hostname, http_address, resources, attributes, "
                      "registered_time FROM agents",
                      &st)) != 0)
        return rc;
    while ((rc = db_step(m->db, st)) == 1) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        struct agent *a = calloc(1, sizeof(*a));
        if (a == NULL)
            return -AG_ENOMEM;
        snprintf(a->id, sizeof(a->id), "%s", id ? id : "");
        res_init(&a->total);
        attr_init(&a->attributes);
        hmap_init(&a->tasks);
        a->hostname = strdup((const char *)sqlite3_column_text(st, 1));
        a->http_address = strdup((const char *)sqlite3_column_text(st, 2));
        a->version = strdup("");
        if (res_parse(&a->total, (const char *)sqlite3_column_text(st, 3), err, sizeof(err)) ||
            attr_parse(&a->attributes, (const char *)sqlite3_column_text(st, 4), err,
                       sizeof(err)))
            log_warn("registry: agent %s has unreadable resources: %s", a->id, err);
        a->registered_time = sqlite3_column_double(st, 5);
        a->state = AGENT_RECOVERED;
        a->reregister_deadline = m->now + m->flags.agent_reregister_timeout_ms / 1000.0;
        hmap_put(&m->agents, a->id, a);
        nagents++;
    }
    if (rc < 0)
        return rc;

    if ((rc = db_stmt(m->db, "SELECT id, info, registered_time FROM frameworks", &st)) != 0)
        return rc;
    while ((rc = db_step(m->db, st)) == 1) {
        struct msg sub;
        const void *blob = sqlite3_column_blob(st, 1);
        int len = sqlite3_column_bytes(st, 1);
        struct framework *fw;
        const char *star = "*";

        if (msg_decode(&sub, blob, (size_t)len, err, sizeof(err)) != 0 ||
            sub.type != MSG_SUBSCRIBE) {
            log_warn("registry: unreadable framework %s skipped: %s",
                     (const char *)sqlite3_column_text(st, 0), err);
            continue;
        }
        fw = calloc(1, sizeof(*fw));
        if (fw == NULL)
            return -AG_ENOMEM;
        snprintf(fw->id, sizeof(fw->id), "%s", (const char *)sqlite3_column_text(st, 0));
        fw->info = sub.u.subscribe.framework;
        msg_framework_info_init(&sub.u.subscribe.framework);
        msg_free(&sub);
        hmap_init(&fw->tasks);
        hmap_init(&fw->offers);
        fw->registered_time = sqlite3_column_double(st, 2);
        fw->state = FW_DISCONNECTED;
        fw->disconnected_time = m->now;
        /* A master restart is not the framework's fault: it gets at least as long as
         * agents do to come back. */
        fw->failover_deadline =
            m->now + fmax(fw->info.failover_timeout_s, m->flags.agent_reregister_timeout_ms / 1000.0);
        for (size_t i = 0; i < fw->info.ncapabilities; i++)
            if (strcmp(fw->info.capabilities[i], "PARTITION_AWARE") == 0)
                fw->partition_aware = true;
        hmap_put(&m->frameworks, fw->id, fw);
        /* Nothing is allocated yet: no agent is in the allocator before it
         * re-registers, and then its tasks are booked to their frameworks
         * (agent_add_to_allocator in master.c). */
        if (fw->info.nroles > 0)
            alloc_add_framework(m->alloc, fw->id, (const char *const *)fw->info.roles,
                                fw->info.nroles, NULL, 0);
        else
            alloc_add_framework(m->alloc, fw->id, &star, 1, NULL, 0);
        alloc_set_framework_active(m->alloc, fw->id, false);
        nframeworks++;
    }
    if (rc < 0)
        return rc;
    if (nagents || nframeworks)
        log_info("registry recovered agents=%zu frameworks=%zu; agents have %llds to "
                 "re-register",
                 nagents, nframeworks, (long long)(m->flags.agent_reregister_timeout_ms / 1000));
    return 0;
}
