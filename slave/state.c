#include "state.h"

#include "db.h"
#include "error.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_CKPT_COMMITS 256 /* commits between checkpoints of the WAL (~1000 pages) */

struct state {
    struct db *db;
    char path[PATH_MAX];
    char wal_path[PATH_MAX + 8];
    int wal_fd;         /* the WAL, for fdatasync off the loop (-1 until the first sync) */
    bool in_txn;        /* between state_begin and state_commit/state_rollback */
    uint64_t committed; /* commits so far (autocommitted writes included) */
    uint64_t durable;   /* commits known to be on disk */
    bool blocking;      /* the WAL could not be opened: commits fsync themselves */
    /* The syncer: a thread of its own (not libuv's pool, where slow
     * removals of old sandboxes would queue ahead of it) doing one fdatasync
     * at a time, and an async handle that brings the result to the loop. */
    uv_loop_t *loop;
    uv_async_t async;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool has_async, has_thread;
    bool requested, finished, quit; /* under mu */
    int sync_errno;                 /* under mu */
    /* The checkpointer: copies the WAL into the database file (two fsyncs)
     * through a connection of its own, so that no commit on the loop does. */
    pthread_t ckpt_thread;
    pthread_cond_t ckpt_cv;
    bool has_ckpt_thread, ckpt_requested; /* under mu */
    uint64_t ckpt_seq;                    /* loop thread: durable at the last request */
    bool syncing;                         /* loop thread: a sync is in flight */
    uint64_t syncing_seq;
    state_durable_cb done;
    void *done_arg;
};

/* A write outside a transaction commits at once. */
static void
autocommitted(struct state *st)
{
    if (!st->in_txn)
        st->committed++;
}

static const struct db_migration state_migrations[] = {
    {"agent checkpoint",
     "CREATE TABLE agent (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
     "CREATE TABLE frameworks (framework_id TEXT PRIMARY KEY, info BLOB NOT NULL);"
     "CREATE TABLE tasks (framework_id TEXT NOT NULL, task_id TEXT NOT NULL,"
     "  info BLOB NOT NULL, status BLOB NOT NULL, container_id TEXT NOT NULL,"
     "  pid INTEGER NOT NULL, pid_start INTEGER NOT NULL, killing INTEGER NOT NULL,"
     "  PRIMARY KEY (framework_id, task_id));"
     "CREATE TABLE updates (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
     "  framework_id TEXT NOT NULL, task_id TEXT NOT NULL, uuid TEXT NOT NULL UNIQUE,"
     "  status BLOB NOT NULL);"},
};

void
state_task_init(struct state_task *t)
{
    memset(t, 0, sizeof(*t));
    msg_task_info_init(&t->info);
    msg_task_status_init(&t->status);
    t->status.state = MSG_TASK_STAGING;
}

void
state_task_fini(struct state_task *t)
{
    if (t == NULL)
        return;
    msg_task_info_fini(&t->info);
    msg_task_status_fini(&t->status);
    state_task_init(t);
}

int
state_open(struct state **out, const char *path, char *err, size_t errlen)
{
    struct state *st;
    int rv;

    *out = NULL;
    if ((st = calloc(1, sizeof(*st))) == NULL)
        return -AG_ENOMEM;
    st->wal_fd = -1;
    /* synchronous=NORMAL: a commit writes the WAL without fsync; state_sync()
     * fsyncs it (see state.h). Checkpoints of the WAL into the database file
     * stay synchronized by SQLite itself. */
    rv = db_open(&st->db, path, state_migrations,
                 sizeof(state_migrations) / sizeof(state_migrations[0]), 0, err, errlen);
    if (rv != 0) {
        free(st);
        return rv;
    }
    snprintf(st->path, sizeof(st->path), "%s", path);
    snprintf(st->wal_path, sizeof(st->wal_path), "%s-wal", path);
    /* Checkpoints are SQLite's own (at commit) until the first state_sync
     * starts the checkpointer thread. */
    *out = st;
    return 0;
}

static void
state_free(struct state *st)
{
    if (st->wal_fd >= 0)
        close(st->wal_fd);
    free(st);
}

static void
async_closed_cb(uv_handle_t *h)
{
    state_free(h->data);
}

void
state_close(struct state *st)
{
    if (st == NULL)
        return;
    if (st->has_thread) {
        pthread_mutex_lock(&st->mu);
        st->quit = true;
        pthread_cond_signal(&st->cv);
        pthread_cond_signal(&st->ckpt_cv);
        pthread_mutex_unlock(&st->mu);
        pthread_join(st->thread, NULL);
        if (st->has_ckpt_thread)
            pthread_join(st->ckpt_thread, NULL);
        pthread_mutex_destroy(&st->mu);
        pthread_cond_destroy(&st->cv);
        pthread_cond_destroy(&st->ckpt_cv);
    }
    if (st->wal_fd >= 0 && st->durable < st->committed && fdatasync(st->wal_fd) != 0)
        log_error("state: cannot sync %s: %s", st->wal_path, strerror(errno));
    db_close(st->db);
    st->db = NULL;
    if (st->has_async) { /* freed once the async handle is closed */
        st->async.data = st;
        uv_close((uv_handle_t *)&st->async, async_closed_cb);
        return;
    }
    state_free(st);
}

int
state_begin(struct state *st)
{
    int rv = db_begin(st->db);
    if (rv == 0)
        st->in_txn = true;
    return rv;
}

int
state_commit(struct state *st)
{
    int rv = db_commit(st->db);
    /* Counted also when it failed (the caller rolls back): who waits for this
     * commit is not held forever. */
    if (st->in_txn)
        st->committed++;
    st->in_txn = false; /* a failed COMMIT is rolled back by db_commit */
    return rv;
}

uint64_t
state_seq(const struct state *st)
{
    return st->in_txn ? st->committed + 1 : st->committed;
}

uint64_t
state_durable(const struct state *st)
{
    return st->durable;
}

static void *
sync_thread(void *arg)
{
    struct state *st = arg;
    int rv;

    pthread_mutex_lock(&st->mu);
    for (;;) {
        while (!st->requested && !st->quit)
            pthread_cond_wait(&st->cv, &st->mu);
        if (st->quit)
            break;
        st->requested = false;
        pthread_mutex_unlock(&st->mu);
        rv = fdatasync(st->wal_fd) == 0 ? 0 : errno;
        pthread_mutex_lock(&st->mu);
        st->sync_errno = rv;
        st->finished = true;
        uv_async_send(&st->async);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

static void *
ckpt_thread(void *arg)
{
    struct state *st = arg;
    sqlite3 *h = NULL;
    int rc, nlog = 0, nckpt = 0;

    rc = sqlite3_open_v2(st->path, &h, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(h, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        log_error("state: checkpointer cannot open %s: %s", st->path,
                  h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
    pthread_mutex_lock(&st->mu);
    for (;;) {
        while (!st->ckpt_requested && !st->quit)
            pthread_cond_wait(&st->ckpt_cv, &st->mu);
        if (st->quit)
            break;
        pthread_mutex_unlock(&st->mu);
        /* PASSIVE: never blocks the loop's writes; SQLite syncs the WAL before
         * and the database file after copying, and the next write restarts
         * the WAL from its beginning. */
        if (rc == SQLITE_OK && sqlite3_wal_checkpoint_v2(h, NULL, SQLITE_CHECKPOINT_PASSIVE, &nlog,
                                                         &nckpt) != SQLITE_OK)
            log_warn("state: checkpoint of %s: %s", st->path, sqlite3_errmsg(h));
        pthread_mutex_lock(&st->mu);
        st->ckpt_requested = false;
    }
    pthread_mutex_unlock(&st->mu);
    sqlite3_close(h);
    return NULL;
}

static int sync_start(struct state *st);

static void
sync_done_cb(uv_async_t *h)
{
    struct state *st = h->data;
    bool finished;
    int err;

    pthread_mutex_lock(&st->mu);
    finished = st->finished;
    st->finished = false;
    err = st->sync_errno;
    pthread_mutex_unlock(&st->mu);
    if (!finished || !st->syncing)
        return;
    st->syncing = false;
    if (err != 0) /* as a failed commit: logged, and what waited for it goes on */
        log_error("state: cannot sync the checkpoint %s: %s", st->wal_path, strerror(err));
    if (st->syncing_seq > st->durable)
        st->durable = st->syncing_seq;
    if (st->has_ckpt_thread && st->durable - st->ckpt_seq >= STATE_CKPT_COMMITS) {
        st->ckpt_seq = st->durable;
        pthread_mutex_lock(&st->mu);
        st->ckpt_requested = true;
        pthread_cond_signal(&st->ckpt_cv);
        pthread_mutex_unlock(&st->mu);
    }
    if (st->done != NULL)
        st->done(st->done_arg, st->durable);
    if (st->durable < st->committed && !st->syncing)
        sync_start(st);
}

/* Starts the syncer thread on the first sync. */
static int
thread_start(struct state *st)
{
    int rv;

    if (st->has_thread)
        return 0;
    if (!st->has_async) {
        if ((rv = uv_async_init(st->loop, &st->async, sync_done_cb)) != 0)
            return rv;
        st->async.data = st;
        st->has_async = true;
    }
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    pthread_cond_init(&st->ckpt_cv, NULL);
    if ((rv = pthread_create(&st->thread, NULL, sync_thread, st)) != 0) {
        pthread_mutex_destroy(&st->mu);
        pthread_cond_destroy(&st->cv);
        pthread_cond_destroy(&st->ckpt_cv);
        return uv_translate_sys_error(rv);
    }
    st->has_thread = true;
    if (pthread_create(&st->ckpt_thread, NULL, ckpt_thread, st) == 0) {
        pthread_mutex_lock(&st->mu);
        st->has_ckpt_thread = true;
        pthread_mutex_unlock(&st->mu);
        /* From now on no commit on the loop checkpoints. */
        db_exec(st->db, "PRAGMA wal_autocheckpoint=0");
    }
    return 0;
}

/* Opens the WAL once; false (and blocking mode from now on) when it cannot. */
static bool
wal_open(struct state *st)
{
    if (st->wal_fd >= 0)
        return true;
    if (!st->blocking && (st->wal_fd = open(st->wal_path, O_RDONLY | O_CLOEXEC)) >= 0)
        return true;
    if (!st->blocking) {
        log_warn("state: cannot open %s (%s): every commit syncs on the loop from now on",
                 st->wal_path, strerror(errno));
        st->blocking = true;
        db_exec(st->db, "PRAGMA synchronous=FULL");
        /* What was committed before: a FULL checkpoint syncs the WAL and the
         * database file. */
        db_exec(st->db, "PRAGMA wal_checkpoint(FULL)");
    }
    return false;
}

static int
sync_start(struct state *st)
{
    int rv;

    if (st->syncing || st->durable >= st->committed)
        return 0;
    if (!wal_open(st)) { /* commits are synchronous now */
        st->durable = st->committed;
        if (st->done != NULL)
            st->done(st->done_arg, st->durable);
        return 0;
    }
    st->syncing_seq = st->committed;
    if ((rv = thread_start(st)) != 0) {
        log_error("state: cannot start the syncer: %s; syncing on the loop", uv_strerror(rv));
        if (fdatasync(st->wal_fd) != 0)
            log_error("state: cannot sync %s: %s", st->wal_path, strerror(errno));
        st->durable = st->syncing_seq;
        if (st->done != NULL)
            st->done(st->done_arg, st->durable);
        return 0;
    }
    st->syncing = true;
    pthread_mutex_lock(&st->mu);
    st->requested = true;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    return 0;
}

int
state_sync(struct state *st, uv_loop_t *loop, state_durable_cb done, void *arg)
{
    st->loop = loop;
    st->done = done;
    st->done_arg = arg;
    return sync_start(st);
}

int
state_savepoint(struct state *st)
{
    return db_exec(st->db, "SAVEPOINT ev");
}

int
state_release(struct state *st)
{
    return db_exec(st->db, "RELEASE ev");
}

int
state_rollback_to(struct state *st)
{
    int rv = db_exec(st->db, "ROLLBACK TO ev");
    int rv2 = db_exec(st->db, "RELEASE ev");
    return rv ? rv : rv2;
}

int
state_rollback(struct state *st)
{
    if (st->in_txn) {
        st->in_txn = false;
        st->committed++; /* nothing to wait for: see state_commit */
    }
    return db_rollback(st->db);
}

/* Runs a cached statement with text parameters (NULL ends the list). */
static int
exec_text(struct state *st, const char *sql, const char *a, const char *b)
{
    sqlite3_stmt *s;
    int rv;

    if ((rv = db_stmt(st->db, sql, &s)) != 0)
        return rv;
    if (a != NULL)
        sqlite3_bind_text(s, 1, a, -1, SQLITE_TRANSIENT);
    if (b != NULL)
        sqlite3_bind_text(s, 2, b, -1, SQLITE_TRANSIENT);
    rv = db_step(st->db, s);
    autocommitted(st);
    return rv < 0 ? rv : 0;
}

int
state_set_agent_id(struct state *st, const char *agent_id)
{
    if (agent_id == NULL || *agent_id == '\0')
        return exec_text(st, "DELETE FROM agent WHERE key = 'agent_id'", NULL, NULL);
    return exec_text(st, "INSERT OR REPLACE INTO agent (key, value) VALUES ('agent_id', ?1)",
                     agent_id, NULL);
}

/* Encodes `m` into a malloc'd buffer. */
static int
encode(const struct msg *m, void **buf, size_t *len)
{
    int rv = msg_encode_alloc(m, buf, len);
    if (rv != 0)
        log_error("state: cannot encode %s: %s", msg_type_name(m->type), ag_strerror(rv));
    return rv;
}

static int
encode_task_info(const struct msg_task_info *info, void **buf, size_t *len)
{
    struct msg m;

    msg_init(&m, MSG_RUN_TASK);
    m.u.run_task.task = *info; /* borrowed: never msg_free'd */
    return encode(&m, buf, len);
}

static int
encode_status(const struct msg_task_status *status, void **buf, size_t *len)
{
    struct msg m;

    msg_init(&m, MSG_STATUS_UPDATE);
    m.u.status_update.status = *status;
    return encode(&m, buf, len);
}

static int
encode_framework(const struct msg_framework_info *info, void **buf, size_t *len)
{
    struct msg m;

    msg_init(&m, MSG_RUN_TASK);
    m.u.run_task.framework = *info;
    return encode(&m, buf, len);
}

/* Decodes a blob of `type` into `m`. */
static int
decode(struct msg *m, enum msg_type type, const void *buf, int len)
{
    char err[256];
    int rv;

    if (buf == NULL || len <= 0)
        return -AG_EPROTO;
    rv = msg_decode(m, buf, (size_t)len, err, sizeof(err));
    if (rv == 0 && m->type != type) {
        msg_free(m);
        return -AG_EPROTO;
    }
    if (rv != 0)
        log_warn("state: cannot decode a checkpointed %s: %s", msg_type_name(type), err);
    return rv;
}

int
state_put_framework(struct state *st, const struct msg_framework_info *info)
{
    sqlite3_stmt *s;
    void *buf;
    size_t len;
    int rv;

    if ((rv = encode_framework(info, &buf, &len)) != 0)
        return rv;
    rv = db_stmt(st->db, "INSERT OR REPLACE INTO frameworks (framework_id, info) VALUES (?1, ?2)",
                 &s);
    if (rv == 0) {
        sqlite3_bind_text(s, 1, info->framework_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(s, 2, buf, (int)len, SQLITE_TRANSIENT);
        rv = db_step(st->db, s);
    }
    free(buf);
    autocommitted(st);
    return rv < 0 ? rv : 0;
}

int
state_del_framework(struct state *st, const char *framework_id)
{
    return exec_text(st, "DELETE FROM frameworks WHERE framework_id = ?1", framework_id, NULL);
}

int
state_put_task(struct state *st, const struct state_task *t)
{
    sqlite3_stmt *s;
    void *ibuf = NULL, *sbuf = NULL;
    size_t ilen, slen;
    int rv;

    if ((rv = encode_task_info(&t->info, &ibuf, &ilen)) != 0)
        goto out;
    if ((rv = encode_status(&t->status, &sbuf, &slen)) != 0)
        goto out;
    rv = db_stmt(st->db,
                 "INSERT OR REPLACE INTO tasks (framework_id, task_id, info, status, "
                 "container_id, pid, pid_start, killing) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                 &s);
    if (rv != 0)
        goto out;
    sqlite3_bind_text(s, 1, t->info.framework_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, t->info.task_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 3, ibuf, (int)ilen, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 4, sbuf, (int)slen, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 5, t->container_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 6, t->pid);
    sqlite3_bind_int64(s, 7, (sqlite3_int64)t->pid_start);
    sqlite3_bind_int(s, 8, t->killing ? 1 : 0);
    rv = db_step(st->db, s);
out:
    free(ibuf);
    free(sbuf);
    autocommitted(st);
    return rv < 0 ? rv : 0;
}

int
state_del_task(struct state *st, const char *framework_id, const char *task_id)
{
    return exec_text(st, "DELETE FROM tasks WHERE framework_id = ?1 AND task_id = ?2", framework_id,
                     task_id);
}

int
state_add_update(struct state *st, const struct msg_task_status *status)
{
    sqlite3_stmt *s;
    void *buf;
    size_t len;
    int rv;

    if ((rv = encode_status(status, &buf, &len)) != 0)
        return rv;
    rv = db_stmt(st->db,
                 "INSERT INTO updates (framework_id, task_id, uuid, status) "
                 "VALUES (?1, ?2, ?3, ?4)",
                 &s);
    if (rv == 0) {
        sqlite3_bind_text(s, 1, status->framework_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, status->task_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 3, status->uuid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(s, 4, buf, (int)len, SQLITE_TRANSIENT);
        rv = db_step(st->db, s);
    }
    free(buf);
    autocommitted(st);
    return rv < 0 ? rv : 0;
}

int
state_del_update(struct state *st, const char *uuid)
{
    return exec_text(st, "DELETE FROM updates WHERE uuid = ?1", uuid, NULL);
}

int
state_reset(struct state *st)
{
    int rv = db_exec(st->db, "DELETE FROM agent; DELETE FROM frameworks; DELETE FROM tasks;"
                             "DELETE FROM updates;");
    autocommitted(st);
    return rv;
}

/* Grows an array of `size`-byte elements to hold one more. */
static int
grow(void **arr, size_t n, size_t size)
{
    void *p;

    if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
        return 0; /* capacity is 4, then doubles at each power of two */
    p = realloc(*arr, (n == 0 ? 4 : n * 2) * size);
    if (p == NULL)
        return -AG_ENOMEM;
    *arr = p;
    return 0;
}

static int
load_agent(struct state *st, struct state_snapshot *out)
{
    sqlite3_stmt *s;
    int rv;

    if ((rv = db_stmt(st->db, "SELECT value FROM agent WHERE key = 'agent_id'", &s)) != 0)
        return rv;
    while ((rv = db_step(st->db, s)) == 1) {
        const char *v = (const char *)sqlite3_column_text(s, 0);
        snprintf(out->agent_id, sizeof(out->agent_id), "%s", v ? v : "");
    }
    return rv;
}

static int
load_frameworks(struct state *st, struct state_snapshot *out)
{
    sqlite3_stmt *s;
    struct msg m;
    int rv;

    if ((rv = db_stmt(st->db, "SELECT info FROM frameworks ORDER BY framework_id", &s)) != 0)
        return rv;
    while ((rv = db_step(st->db, s)) == 1) {
        if (decode(&m, MSG_RUN_TASK, sqlite3_column_blob(s, 0), sqlite3_column_bytes(s, 0)) != 0)
            continue;
        if (grow((void **)&out->frameworks, out->nframeworks, sizeof(*out->frameworks)) != 0) {
            msg_free(&m);
            sqlite3_reset(s);
            return -AG_ENOMEM;
        }
        out->frameworks[out->nframeworks++] = m.u.run_task.framework;
        msg_framework_info_init(&m.u.run_task.framework);
        msg_free(&m);
    }
    return rv;
}

static int
load_tasks(struct state *st, struct state_snapshot *out)
{
    sqlite3_stmt *s;
    struct msg mi, ms;
    int rv;

    rv = db_stmt(st->db,
                 "SELECT info, status, container_id, pid, pid_start, killing FROM tasks "
                 "ORDER BY framework_id, task_id",
                 &s);
    if (rv != 0)
        return rv;
    while ((rv = db_step(st->db, s)) == 1) {
        struct state_task *t;
        const char *cid;

        if (decode(&mi, MSG_RUN_TASK, sqlite3_column_blob(s, 0), sqlite3_column_bytes(s, 0)) != 0)
            continue;
        if (decode(&ms, MSG_STATUS_UPDATE, sqlite3_column_blob(s, 1), sqlite3_column_bytes(s, 1)) !=
            0) {
            msg_free(&mi);
            continue;
        }
        if (grow((void **)&out->tasks, out->ntasks, sizeof(*out->tasks)) != 0) {
            msg_free(&mi);
            msg_free(&ms);
            sqlite3_reset(s);
            return -AG_ENOMEM;
        }
        t = &out->tasks[out->ntasks++];
        state_task_init(t);
        t->info = mi.u.run_task.task;
        msg_task_info_init(&mi.u.run_task.task);
        msg_free(&mi);
        msg_task_status_fini(&t->status);
        t->status = ms.u.status_update.status;
        msg_task_status_init(&ms.u.status_update.status);
        msg_free(&ms);
        cid = (const char *)sqlite3_column_text(s, 2);
        snprintf(t->container_id, sizeof(t->container_id), "%s", cid ? cid : "");
        t->pid = sqlite3_column_int64(s, 3);
        t->pid_start = (uint64_t)sqlite3_column_int64(s, 4);
        t->killing = sqlite3_column_int(s, 5) != 0;
    }
    return rv;
}

static int
load_updates(struct state *st, struct state_snapshot *out)
{
    sqlite3_stmt *s;
    struct msg m;
    int rv;

    if ((rv = db_stmt(st->db, "SELECT status FROM updates ORDER BY seq", &s)) != 0)
        return rv;
    while ((rv = db_step(st->db, s)) == 1) {
        if (decode(&m, MSG_STATUS_UPDATE, sqlite3_column_blob(s, 0), sqlite3_column_bytes(s, 0)) !=
            0)
            continue;
        if (grow((void **)&out->updates, out->nupdates, sizeof(*out->updates)) != 0) {
            msg_free(&m);
            sqlite3_reset(s);
            return -AG_ENOMEM;
        }
        out->updates[out->nupdates++] = m.u.status_update.status;
        msg_task_status_init(&m.u.status_update.status);
        msg_free(&m);
    }
    return rv;
}

int
state_load(struct state *st, struct state_snapshot *out)
{
    int rv;

    memset(out, 0, sizeof(*out));
    if ((rv = load_agent(st, out)) != 0 || (rv = load_frameworks(st, out)) != 0 ||
        (rv = load_tasks(st, out)) != 0 || (rv = load_updates(st, out)) != 0)
        return rv;
    return 0;
}

void
state_snapshot_fini(struct state_snapshot *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nframeworks; i++)
        msg_framework_info_fini(&s->frameworks[i]);
    for (size_t i = 0; i < s->ntasks; i++)
        state_task_fini(&s->tasks[i]);
    for (size_t i = 0; i < s->nupdates; i++)
        msg_task_status_fini(&s->updates[i]);
    free(s->frameworks);
    free(s->tasks);
    free(s->updates);
    memset(s, 0, sizeof(*s));
}
