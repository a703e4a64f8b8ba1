/*
 * Accounting: the master's event calls append to a batch under a mutex; a
 * writer thread swaps the batch for an empty one and applies it to the
 * database (adb.h: SQLite or PostgreSQL) in one transaction. See recorder.h
 * for the rules, schema.h for the tables and docs/accounting.md. The SQL here
 * is the same on both backends.
 *
 * Writer states (one thread, acct_writer()):
 *
 *   WAITING --1 s passed, ACCT_BATCH_EVENTS waiting, acct_flush or stop--> SWAPPING
 *   SWAPPING (lock held: take the filled batch, leave the spare one empty) --> WRITING
 *   WRITING (no lock: write_batch(), then rollup() when a new hour became due)
 *       --> WAITING, or EXIT when stopping and nothing waits.
 */
#include "recorder.h"

#include "error.h"
#include "schema.h"
#include "adb.h"
#include "log.h"
#include "xalloc.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum acct_kind { EV_START, EV_END, EV_CAPACITY, EV_USAGE };

/* String slots of an event, offsets into its batch's string arena. */
enum { S_FW, S_TASK, S_ROLE, S_PRINCIPAL, S_APP, S_AGENT, S_RES, S_NSTR };
#define S_STATE S_ROLE /* EV_END */
#define S_HOST S_ROLE  /* EV_CAPACITY */

struct acct_ev {
    enum acct_kind kind;
    int64_t t; /* ms */
    size_t str[S_NSTR];
    int64_t sc[4]; /* cpus, mem, disk, gpus in milli-units */
    double user, sys;
    uint64_t rss, peak;
};

/* Events are appended to fixed-size chunks, so an append never copies what
 * is already queued: its worst case is taking a chunk from the spare list (or
 * one allocation). An event's strings live in its chunk; offset 0 is "". */
#define CHUNK_EVENTS 1024
#define CHUNK_STR (64 * 1024)
#define SPARE_CHUNKS 16

struct chunk {
    struct chunk *next;
    size_t n;          /* events used */
    size_t slen, scap; /* string bytes used and available */
    char *str;
    struct acct_ev ev[CHUNK_EVENTS];
};

struct batch {
    struct chunk *head, *tail;
    size_t n; /* events */
};

struct acct {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* the writer waits here */
    pthread_cond_t done; /* acct_flush waits here */
    pthread_t thread;
    bool thread_started;
    struct batch fill;   /* appended to by the event calls (lock) */
    struct batch drain;  /* being written (writer only) */
    struct chunk *spare; /* emptied chunks kept for reuse (lock) */
    size_t nspare;
    uint64_t submitted; /* events appended so far (lock) */
    uint64_t applied;   /* events written so far (lock) */
    bool flush_req, stop;
    int last_err;
    struct acct_stats st;
    /* writer thread only */
    struct adb *db;
    int64_t raw_retention;
    int64_t history_retention; /* (lock) */
    int64_t history_w;         /* the writer's copy */
    int64_t max_t;             /* newest event time written */
    int64_t rolled_to;         /* cutoff of the last roll-up */
};

static const char *const scalar_names[4] = {"cpus", "mem", "disk", "gpus"};

static int64_t
to_ms(double t)
{
    if (!(t > 0))
        return 0;
    if (t > 9.0e15)
        return (int64_t)9.0e18;
    return llround(t * 1000.0);
}

/* ---- batches (the caller holds a->lock) ---- */

static void
chunk_free(struct chunk *c)
{
    if (c != NULL)
        free(c->str);
    free(c);
}

/* An empty chunk with room for `need` string bytes. */
static struct chunk *
chunk_get(struct acct *a, size_t need)
{
    struct chunk *c = a->spare;

    if (c != NULL && c->scap >= need + 1) {
        a->spare = c->next;
        a->nspare--;
    } else {
        c = xrealloc(NULL, sizeof(*c));
        c->scap = need + 1 > CHUNK_STR ? need + 1 : CHUNK_STR;
        c->str = xrealloc(NULL, c->scap);
    }
    c->next = NULL;
    c->n = 0;
    c->str[0] = '\0';
    c->slen = 1;
    return c;
}

/* Makes room at the batch's tail for one event with `need` string bytes. */
static struct chunk *
batch_reserve(struct acct *a, struct batch *b, size_t need)
{
    struct chunk *c = b->tail;

    if (c == NULL || c->n == CHUNK_EVENTS || c->scap - c->slen < need) {
        c = chunk_get(a, need);
        if (b->tail)
            b->tail->next = c;
        else
            b->head = c;
        b->tail = c;
    }
    return c;
}

/* Copies `s` (NULL: "") into chunk `c`, which has room; returns its offset. */
static size_t
chunk_str(struct chunk *c, const char *s)
{
    size_t len = s ? strlen(s) : 0, off = c->slen;

    if (len == 0)
        return 0;
    memcpy(c->str + off, s, len + 1);
    c->slen += len + 1;
    return off;
}

/* Empties `b`, keeping a few chunks for reuse. */
static void
batch_release(struct acct *a, struct batch *b)
{
    struct chunk *c = b->head, *next;

    for (; c != NULL; c = next) {
        next = c->next;
        if (a->nspare < SPARE_CHUNKS && c->scap == CHUNK_STR) {
            c->next = a->spare;
            a->spare = c;
            a->nspare++;
        } else {
            chunk_free(c);
        }
    }
    memset(b, 0, sizeof(*b));
}

static const char *
ev_str(const struct chunk *c, const struct acct_ev *e, int slot)
{
    return c->str + e->str[slot];
}

static size_t
slen(const char *s)
{
    return (s ? strlen(s) : 0) + 1;
}

/* Appends an event with room for `need` string bytes and returns it with the
 * lock held (ev_end releases it), or NULL when a usage sample is refused. */
static struct acct_ev *
ev_begin(struct acct *a, enum acct_kind kind, double t, size_t need, struct chunk **cp)
{
    struct acct_ev *e;
    struct chunk *c;

    pthread_mutex_lock(&a->lock);
    if (kind == EV_USAGE && a->fill.n >= ACCT_MAX_PENDING) {
        if (a->st.dropped++ == 0)
            log_warn("accounting: writer behind, dropping usage samples pending=%zu", a->fill.n);
        pthread_mutex_unlock(&a->lock);
        return NULL;
    }
    c = batch_reserve(a, &a->fill, need);
    e = &c->ev[c->n++];
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->t = to_ms(t);
    a->fill.n++;
    *cp = c;
    return e;
}

static void
ev_end(struct acct *a)
{
    a->submitted++;
    a->st.events++;
    if (a->fill.n == ACCT_BATCH_EVENTS)
        pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->lock);
}

/* The scalars and text of `res`, computed before taking the lock. The text is
 * in `buf` or malloc'd (free it when it is not `buf`). */
struct res_info {
    int64_t sc[4];
    char buf[512];
    char *text;
};

static void
res_info_init(struct res_info *ri, const struct resources *res)
{
    size_t need;

    memset(ri->sc, 0, sizeof(ri->sc));
    ri->buf[0] = '\0';
    ri->text = ri->buf;
    if (res == NULL)
        return;
    for (int i = 0; i < 4; i++)
        ri->sc[i] = res_scalar(res, scalar_names[i]);
    need = res_format(res, ri->buf, sizeof(ri->buf));
    if (need >= sizeof(ri->buf) && (ri->text = res_to_string(res)) == NULL)
        ri->text = ri->buf; /* out of memory: keep the truncated text */
}

static void
res_info_fini(struct res_info *ri)
{
    if (ri->text != ri->buf)
        free(ri->text);
}

void
acct_task_start(struct acct *a, double t, const char *framework_id, const char *role,
                const char *principal, const char *app_id, const char *task_id,
                const char *agent_id, const struct resources *res)
{
    struct res_info ri;
    struct acct_ev *e;
    struct chunk *c;
    size_t need;

    if (a == NULL)
        return;
    res_info_init(&ri, res);
    need = slen(framework_id) + slen(task_id) + slen(role) + slen(principal) + slen(app_id) +
           slen(agent_id) + slen(ri.text);
    if ((e = ev_begin(a, EV_START, t, need, &c)) != NULL) {
        e->str[S_FW] = chunk_str(c, framework_id);
        e->str[S_TASK] = chunk_str(c, task_id);
        e->str[S_ROLE] = chunk_str(c, role);
        e->str[S_PRINCIPAL] = chunk_str(c, principal);
        e->str[S_APP] = chunk_str(c, app_id);
        e->str[S_AGENT] = chunk_str(c, agent_id);
        e->str[S_RES] = chunk_str(c, ri.text);
        memcpy(e->sc, ri.sc, sizeof(e->sc));
        ev_end(a);
    }
    res_info_fini(&ri);
}

void
acct_task_end(struct acct *a, double t, const char *framework_id, const char *task_id,
              const char *final_state)
{
    struct acct_ev *e;
    struct chunk *c;

    if (a == NULL)
        return;
    e = ev_begin(a, EV_END, t, slen(framework_id) + slen(task_id) + slen(final_state), &c);
    if (e == NULL)
        return;
    e->str[S_FW] = chunk_str(c, framework_id);
    e->str[S_TASK] = chunk_str(c, task_id);
    e->str[S_STATE] = chunk_str(c, final_state);
    ev_end(a);
}

void
acct_agent_capacity(struct acct *a, double t, const char *agent_id, const char *hostname,
                    const struct resources *total)
{
    struct res_info ri;
    struct acct_ev *e;
    struct chunk *c;

    if (a == NULL)
        return;
    res_info_init(&ri, total);
    e = ev_begin(a, EV_CAPACITY, t, slen(agent_id) + slen(hostname) + slen(ri.text), &c);
    if (e != NULL) {
        e->str[S_AGENT] = chunk_str(c, agent_id);
        e->str[S_HOST] = chunk_str(c, hostname);
        e->str[S_RES] = chunk_str(c, ri.text);
        memcpy(e->sc, ri.sc, sizeof(e->sc));
        ev_end(a);
    }
    res_info_fini(&ri);
}

void
acct_usage(struct acct *a, double t, const char *framework_id, const char *task_id,
           double cpus_user_s, double cpus_system_s, uint64_t mem_rss_bytes,
           uint64_t mem_peak_bytes)
{
    struct acct_ev *e;
    struct chunk *c;

    if (a == NULL)
        return;
    e = ev_begin(a, EV_USAGE, t, slen(framework_id) + slen(task_id), &c);
    if (e == NULL)
        return;
    e->str[S_FW] = chunk_str(c, framework_id);
    e->str[S_TASK] = chunk_str(c, task_id);
    e->user = isfinite(cpus_user_s) && cpus_user_s > 0 ? cpus_user_s : 0;
    e->sys = isfinite(cpus_system_s) && cpus_system_s > 0 ? cpus_system_s : 0;
    e->rss = mem_rss_bytes;
    e->peak = mem_peak_bytes;
    ev_end(a);
}

/* ---- the writer thread ---- */

/* True when a statement failure is about this event only (bad or duplicate
 * data), so the rest of the batch can go on. */
static bool
soft_error(int rc)
{
    return rc == -AG_EEXIST || rc == -AG_EINVAL || rc == -AG_ENOENT || rc == -AG_ERANGE;
}

static int
apply_start(struct acct *a, const struct chunk *b, const struct acct_ev *e)
{
    const char *fw = ev_str(b, e, S_FW), *task = ev_str(b, e, S_TASK);
    struct adb_rows *r;
    int rc;

    rc = adb_query(a->db, &r,
                   "SELECT 1 FROM tasks WHERE framework_id = $1 AND task_id = $2 "
                   "AND end_ms IS NULL",
                   "tt", fw, task);
    if (rc != 0)
        return rc;
    rc = adb_next(r);
    adb_rows_free(r);
    if (rc != 0)
        return rc < 0 ? rc : 0; /* already open: keep the first start */
    rc = adb_exec(a->db,
                  "INSERT INTO tasks (framework_id, task_id, role, principal, app_id, agent_id, "
                  "start_ms, cpus, mem, disk, gpus, resources) "
                  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                  "ttttttiiiiit", fw, task, ev_str(b, e, S_ROLE), ev_str(b, e, S_PRINCIPAL),
                  ev_str(b, e, S_APP), ev_str(b, e, S_AGENT), e->t, e->sc[0], e->sc[1], e->sc[2],
                  e->sc[3], ev_str(b, e, S_RES));
    return rc < 0 ? rc : 0;
}

static int
apply_end(struct acct *a, const struct chunk *b, const struct acct_ev *e)
{
    const char *fw = ev_str(b, e, S_FW), *task = ev_str(b, e, S_TASK);
    const char *state = ev_str(b, e, S_STATE);
    int rc;

    rc = adb_exec(a->db,
                  "UPDATE tasks SET end_ms = CASE WHEN $3 > start_ms THEN $3 ELSE start_ms END,"
                  " state = $4 WHERE framework_id = $1 AND task_id = $2 AND end_ms IS NULL",
                  "ttit", fw, task, e->t, state);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    /* No open interval: the agent's removal may have closed it first. */
    rc = adb_exec(a->db,
                  "UPDATE tasks SET state = $3, lost_with_agent = 0 WHERE id = "
                  "(SELECT max(id) FROM tasks WHERE framework_id = $1 AND task_id = $2) "
                  "AND lost_with_agent = 1",
                  "ttt", fw, task, state);
    return rc < 0 ? rc : 0;
}

static int
apply_capacity(struct acct *a, const struct chunk *b, const struct acct_ev *e)
{
    const char *agent = ev_str(b, e, S_AGENT), *host = ev_str(b, e, S_HOST);
    const char *res = ev_str(b, e, S_RES);
    bool empty = res[0] == '\0';
    struct adb_rows *r;
    int64_t open_id = 0;
    int rc;

    rc = adb_query(a->db, &r,
                   "SELECT id, CASE WHEN hostname = $2 AND resources = $3 THEN 1 ELSE 0 END "
                   "FROM capacity WHERE agent_id = $1 AND end_ms IS NULL",
                   "ttt", agent, host, res);
    if (rc != 0)
        return rc;
    rc = adb_next(r);
    if (rc == 1) {
        bool same = adb_int(r, 1) != 0;
        open_id = adb_int(r, 0);
        adb_rows_free(r);
        if (same && !empty)
            return 0;
        rc = adb_exec(a->db,
                      "UPDATE capacity SET end_ms = CASE WHEN $2 > start_ms THEN $2 "
                      "ELSE start_ms END WHERE id = $1",
                      "ii", open_id, e->t);
        if (rc < 0)
            return rc;
    } else {
        adb_rows_free(r);
        if (rc < 0)
            return rc;
    }
    if (empty)
        rc = adb_exec(a->db,
                      "UPDATE tasks SET end_ms = CASE WHEN $2 > start_ms THEN $2 ELSE start_ms "
                      "END, state = 'TASK_LOST', lost_with_agent = 1 "
                      "WHERE agent_id = $1 AND end_ms IS NULL",
                      "ti", agent, e->t);
    else
        rc = adb_exec(a->db,
                      "INSERT INTO capacity (agent_id, hostname, start_ms, cpus, mem, disk, gpus, "
                      "resources) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                      "ttiiiiit", agent, host, e->t, e->sc[0], e->sc[1], e->sc[2], e->sc[3], res);
    return rc < 0 ? rc : 0;
}

static int64_t
clamp_i64(double v)
{
    if (!(v > 0))
        return 0;
    if (v > 4.0e18)
        return (int64_t)4.0e18;
    return llround(v);
}

static int
apply_usage(struct acct *a, const struct chunk *b, const struct acct_ev *e)
{
    struct adb_rows *r;
    int64_t id, start, prev, t = e->t, dt, cpu_ms, cpu_tot, mem_tot, peak, d_mem, d_cpu;
    double du, ds;
    int rc;

    rc = adb_query(a->db, &r,
                   "SELECT id, start_ms, end_ms, usage_ms, cpu_ms, mem_kib_ms, mem_peak, "
                   "last_cpu_user, last_cpu_sys FROM tasks "
                   "WHERE framework_id = $1 AND task_id = $2 ORDER BY id DESC LIMIT 1",
                   "tt", ev_str(b, e, S_FW), ev_str(b, e, S_TASK));
    if (rc != 0)
        return rc;
    if ((rc = adb_next(r)) <= 0) {
        adb_rows_free(r);
        return rc; /* unknown task: nothing to charge */
    }
    id = adb_int(r, 0);
    start = adb_int(r, 1);
    if (!adb_is_null(r, 2) && t > adb_int(r, 2))
        t = adb_int(r, 2);
    prev = adb_int(r, 3);
    if (prev == 0)
        prev = start;
    cpu_tot = adb_int(r, 4);
    mem_tot = adb_int(r, 5);
    peak = adb_int(r, 6);
    if (adb_is_null(r, 7)) {
        du = e->user;
        ds = e->sys;
    } else {
        du = e->user - adb_real(r, 7);
        ds = e->sys - adb_real(r, 8);
        if (du < 0) /* the counter restarted */
            du = e->user;
        if (ds < 0)
            ds = e->sys;
    }
    adb_rows_free(r);
    if (t <= prev)
        return 0; /* not newer than the last sample */
    dt = t - prev;
    d_cpu = clamp_i64((du + ds) * 1000.0);
    d_mem = clamp_i64((double)e->rss / 1024.0 * (double)dt);
    cpu_ms = cpu_tot + d_cpu;
    mem_tot += d_mem;
    if ((int64_t)e->peak > peak)
        peak = (int64_t)e->peak;
    if ((int64_t)e->rss > peak)
        peak = (int64_t)e->rss;

    rc = adb_exec(a->db,
                  "INSERT INTO usage (task, end_ms, start_ms, cpu_ms, mem_kib_ms, cum_cpu_ms, "
                  "cum_mem_kib_ms, mem_rss, mem_peak) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                  "iiiiiiiii", id, t, prev, d_cpu, d_mem, cpu_ms, mem_tot, (int64_t)e->rss, peak);
    if (rc < 0)
        return rc;
    rc = adb_exec(a->db,
                  "UPDATE tasks SET usage_ms = $2, cpu_ms = $3, mem_kib_ms = $4, mem_peak = $5, "
                  "last_cpu_user = $6, last_cpu_sys = $7 WHERE id = $1",
                  "iiiiidd", id, t, cpu_ms, mem_tot, peak, e->user, e->sys);
    return rc < 0 ? rc : 0;
}

/* Applies a batch in one transaction. Returns 0 or the error that made it roll
 * back (events with bad data are skipped, the rest is kept). *committing says
 * whether the COMMIT was sent: before it, a failure stored nothing. */
static int
write_batch(struct acct *a, const struct batch *batch, bool *committing)
{
    int rc, erc;

    *committing = false;
    if ((rc = adb_begin(a->db)) != 0)
        return rc;
    for (const struct chunk *b = batch->head; b != NULL; b = b->next) {
        for (size_t i = 0; i < b->n; i++) {
            const struct acct_ev *e = &b->ev[i];

            if ((rc = adb_event_begin(a->db)) != 0) {
                adb_rollback(a->db);
                return rc;
            }
            switch (e->kind) {
            case EV_START:
                rc = apply_start(a, b, e);
                break;
            case EV_END:
                rc = apply_end(a, b, e);
                break;
            case EV_CAPACITY:
                rc = apply_capacity(a, b, e);
                break;
            case EV_USAGE:
                rc = apply_usage(a, b, e);
                break;
            }
            if (rc < 0 && !soft_error(rc)) {
                adb_rollback(a->db);
                return rc;
            }
            if ((erc = adb_event_end(a->db, rc >= 0)) != 0) {
                adb_rollback(a->db);
                return erc;
            }
            if (e->t > a->max_t)
                a->max_t = e->t;
        }
    }
    *committing = true;
    return adb_commit(a->db);
}

/* Rolls raw samples that ended at or before `cutoff` (an hour boundary) into
 * one row per task and hour of their start, and applies the history retention.
 * One transaction. */
static int
rollup(struct acct *a, int64_t cutoff)
{
    /* The rows of an hour are gathered aside first: the hourly row takes the
     * key (task, end_ms) of the last raw one. */
    static const char *const steps[] = {
        "CREATE TEMP TABLE IF NOT EXISTS roll (task BIGINT, end_ms BIGINT, start_ms BIGINT,"
        " cpu_ms BIGINT, mem_kib_ms BIGINT, cum_cpu_ms BIGINT, cum_mem_kib_ms BIGINT,"
        " mem_rss BIGINT, mem_peak BIGINT)",
        "DELETE FROM roll",
        "INSERT INTO roll SELECT task, max(end_ms), min(start_ms), sum(cpu_ms), "
        "sum(mem_kib_ms), max(cum_cpu_ms), max(cum_mem_kib_ms), "
        "CASE WHEN max(end_ms) > min(start_ms) "
        "THEN CAST(sum(mem_kib_ms) * 1024.0 / (max(end_ms) - min(start_ms)) AS BIGINT) "
        "ELSE max(mem_rss) END, max(mem_peak) "
        "FROM usage WHERE hourly = 0 AND end_ms <= $1 GROUP BY task, start_ms / 3600000",
        "DELETE FROM usage WHERE hourly = 0 AND end_ms <= $1",
        "INSERT INTO usage (task, end_ms, start_ms, cpu_ms, mem_kib_ms, cum_cpu_ms, "
        "cum_mem_kib_ms, mem_rss, mem_peak, hourly) SELECT *, 1 FROM roll",
        "DELETE FROM roll",
    };
    int rc;

    if ((rc = adb_begin(a->db)) != 0)
        return rc;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if (strstr(steps[i], "$1") != NULL)
            rc = adb_exec(a->db, steps[i], "i", cutoff);
        else
            rc = adb_exec(a->db, steps[i], NULL);
        if (rc < 0)
            goto fail;
    }
    if (a->history_w > 0) {
        int64_t horizon = a->max_t - a->history_w;

        rc = adb_exec(a->db, "DELETE FROM tasks WHERE end_ms < $1", "i", horizon);
        if (rc >= 0)
            rc = adb_exec(a->db, "DELETE FROM capacity WHERE end_ms < $1", "i", horizon);
        if (rc < 0)
            goto fail;
    }
    return adb_commit(a->db);
fail:
    adb_rollback(a->db);
    return rc;
}

static void
maybe_rollup(struct acct *a)
{
    int64_t cutoff;
    int rc;

    if (a->raw_retention <= 0 || a->max_t <= a->raw_retention)
        return;
    cutoff = (a->max_t - a->raw_retention) / ACCT_HOUR_MS * ACCT_HOUR_MS;
    if (cutoff <= a->rolled_to)
        return;
    rc = rollup(a, cutoff);
    if (rc != 0) {
        log_error("accounting: roll-up failed: %s (%s)", ag_strerror(rc), adb_errmsg(a->db));
        return;
    }
    a->rolled_to = cutoff;
    pthread_mutex_lock(&a->lock);
    a->st.rollups++;
    pthread_mutex_unlock(&a->lock);
}

static double
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void *
acct_writer(void *arg)
{
    struct acct *a = arg;

    pthread_mutex_lock(&a->lock);
    for (;;) {
        struct timespec deadline;
        struct batch tmp;
        uint64_t target;
        double t0, took;
        bool committing;
        int rc;

        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += ACCT_FLUSH_MS / 1000;
        deadline.tv_nsec += (long)(ACCT_FLUSH_MS % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        while (!a->stop && !a->flush_req && a->fill.n < ACCT_BATCH_EVENTS) {
            if (pthread_cond_timedwait(&a->wake, &a->lock, &deadline) == ETIMEDOUT)
                break;
        }
        if (a->stop && a->fill.n == 0 && !a->flush_req)
            break;
        tmp = a->drain;
        a->drain = a->fill;
        a->fill = tmp;
        target = a->submitted;
        a->flush_req = false;
        a->history_w = a->history_retention;
        pthread_mutex_unlock(&a->lock);

        rc = 0;
        t0 = mono_ms();
        if (a->drain.n > 0) {
            rc = write_batch(a, &a->drain, &committing);
            if (rc == -AG_EIO && !committing) {
                /* The connection broke (PostgreSQL) before the commit was
                 * sent: nothing of the batch is stored, so it is written
                 * again, once, on a new connection (adb_begin reconnects). */
                log_warn("accounting: the database connection broke, writing the batch again: %s",
                         adb_errmsg(a->db));
                rc = write_batch(a, &a->drain, &committing);
            }
            if (rc != 0)
                log_error("accounting: lost a batch of %zu events: %s (%s)", a->drain.n,
                          ag_strerror(rc), adb_errmsg(a->db));
        }
        took = mono_ms() - t0;
        maybe_rollup(a);

        pthread_mutex_lock(&a->lock);
        if (a->drain.n > 0) {
            if (rc == 0) {
                a->st.written += a->drain.n;
                a->st.batches++;
                a->st.last_write_ms = took;
            } else {
                a->st.errors++;
                a->last_err = rc;
            }
        }
        batch_release(a, &a->drain);
        a->applied = target;
        pthread_cond_broadcast(&a->done);
        if (a->stop && a->fill.n == 0)
            break;
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

/* ---- public ---- */

int
acct_open(struct acct **out, const char *db_path, int64_t raw_retention_ms, char *err,
          size_t errlen)
{
    struct acct *a;
    pthread_condattr_t ca;
    char buf[64];
    int rc;

    *out = NULL;
    if (db_path == NULL || db_path[0] == '\0') {
        snprintf(err, errlen, "no accounting database given");
        return -AG_EINVAL;
    }
    if ((a = calloc(1, sizeof(*a))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -AG_ENOMEM;
    }
    rc = adb_open(&a->db, db_path, ADB_WRITE, err, errlen);
    if (rc != 0) {
        free(a);
        return rc;
    }
    a->raw_retention = raw_retention_ms;
    snprintf(buf, sizeof(buf), "%lld", (long long)raw_retention_ms);
    adb_exec(a->db,
             "INSERT INTO meta (key, value) VALUES ('raw_retention_ms', $1) "
             "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
             "t", buf);
    pthread_mutex_init(&a->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&a->done, NULL);
    if ((rc = pthread_create(&a->thread, NULL, acct_writer, a)) != 0) {
        snprintf(err, errlen, "cannot start the accounting writer: %s", strerror(rc));
        pthread_cond_destroy(&a->done);
        pthread_cond_destroy(&a->wake);
        pthread_mutex_destroy(&a->lock);
        adb_close(a->db);
        free(a);
        return ag_from_errno(rc);
    }
    a->thread_started = true;
    *out = a;
    return 0;
}

void
acct_set_history_retention(struct acct *a, int64_t ms)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->lock);
    a->history_retention = ms > 0 ? ms : 0;
    pthread_mutex_unlock(&a->lock);
}

int
acct_flush(struct acct *a)
{
    uint64_t target;
    int rc;

    if (a == NULL)
        return 0;
    pthread_mutex_lock(&a->lock);
    target = a->submitted;
    a->flush_req = true;
    pthread_cond_signal(&a->wake);
    while (a->applied < target && a->thread_started)
        pthread_cond_wait(&a->done, &a->lock);
    rc = a->last_err;
    a->last_err = 0;
    pthread_mutex_unlock(&a->lock);
    return rc;
}

void
acct_get_stats(struct acct *a, struct acct_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->lock);
    *st = a->st;
    st->pending = a->fill.n;
    pthread_mutex_unlock(&a->lock);
}

void
acct_close(struct acct *a)
{
    if (a == NULL)
        return;
    if (a->thread_started) {
        pthread_mutex_lock(&a->lock);
        a->stop = true;
        pthread_cond_signal(&a->wake);
        pthread_mutex_unlock(&a->lock);
        pthread_join(a->thread, NULL);
    }
    pthread_cond_destroy(&a->done);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->lock);
    adb_close(a->db);
    batch_release(a, &a->fill);
    batch_release(a, &a->drain);
    while (a->spare != NULL) {
        struct chunk *c = a->spare;
        a->spare = c->next;
        chunk_free(c);
    }
    free(a);
}
