/*
 * The accounting report: query parsing, the computation over the accounting
 * database (report_compute), the four output formats and `agora report`.
 *
 * The computation makes one pass over the task intervals that overlap the
 * window (indexed by end time), one over the capacity intervals, and probes
 * the usage table (clustered by task and sample end) only for tasks that
 * cross an edge of the window: two index lookups at most per task.
 */
#define _GNU_SOURCE /* timegm */
#include "report.h"

#include "accounting.h"
#include "db.h"
#include "error.h"
#include "flags.h"
#include "hmap.h"
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#define MS_PER_HOUR 3600000.0
#define TIMELINE_MAX 1000
#define TIMELINE_ROLES 8 /* roles drawn by name; the rest as "(other)" */
#define MAX_STATES 24    /* distinct final states counted per group */

static const char *const res_names[REPORT_NRES] = {"cpus", "mem", "disk", "gpus"};
static const char *const res_units[REPORT_NRES] = {"cpu-hours", "GiB-hours", "GiB-hours",
                                                   "gpu-hours"};
/* Stored milli-units times ms into unit-hours (mem and disk are MiB -> GiB). */
static const double res_div[REPORT_NRES] = {1000.0 * MS_PER_HOUR, 1024000.0 * MS_PER_HOUR,
                                            1024000.0 * MS_PER_HOUR, 1000.0 * MS_PER_HOUR};
static const char *const by_names[] = {"cluster", "role", "framework", "app", "agent", "task"};

/* ---- query parsing ---- */

static int
parse_date(const char *s, int64_t *ms)
{
    struct tm tm;
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    char sep;

    memset(&tm, 0, sizeof(tm));
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return -AG_EINVAL;
    s += n;
    if (*s == 'T' || *s == ' ') {
        sep = *s++;
        (void)sep;
        n = 0;
        if (sscanf(s, "%2d:%2d%n", &h, &mi, &n) != 2 || n != 5)
            return -AG_EINVAL;
        s += n;
        if (*s == ':') {
            n = 0;
            if (sscanf(s + 1, "%2d%n", &sec, &n) != 1 || n != 2)
                return -AG_EINVAL;
            s += 3;
        }
        if (*s == 'Z')
            s++;
    }
    if (*s != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -AG_EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *ms = (int64_t)timegm(&tm) * 1000;
    return 0;
}

static int
parse_time(const char *s, int64_t now_ms, int64_t *out)
{
    int64_t d;
    char *end;

    if (strcmp(s, "now") == 0) {
        *out = now_ms;
        return 0;
    }
    if (s[0] == '@') {
        double v;
        errno = 0;
        v = strtod(s + 1, &end);
        if (end == s + 1 || *end != '\0' || errno != 0 || !(v >= 0) || v > 9e12)
            return -AG_EINVAL;
        *out = llround(v * 1000.0);
        return 0;
    }
    if (isdigit((unsigned char)s[0]) && strlen(s) >= 10 && s[4] == '-')
        return parse_date(s, out);
    if (flags_parse_duration(s, &d) == 0) {
        *out = now_ms - d;
        return 0;
    }
    return -AG_EINVAL;
}

static int
parse_prices(struct report_query *q, const char *s, char *err, size_t errlen)
{
    char *copy = strdup(s), *save = NULL, *tok;
    int rc = 0;

    if (copy == NULL)
        return -AG_ENOMEM;
    for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '='), *end;
        double v;
        int i;

        while (*tok == ' ')
            tok++;
        if (eq == NULL) {
            rc = -AG_EINVAL;
            break;
        }
        *eq = '\0';
        for (i = 0; i < REPORT_NRES; i++)
            if (strcmp(tok, res_names[i]) == 0)
                break;
        errno = 0;
        v = strtod(eq + 1, &end);
        if (i == REPORT_NRES || end == eq + 1 || *end != '\0' || errno != 0 || !(v >= 0) ||
            !isfinite(v)) {
            rc = -AG_EINVAL;
            break;
        }
        q->price[i] = v;
        q->priced = true;
    }
    free(copy);
    if (rc != 0)
        snprintf(err, errlen, "bad --price \"%s\" (want cpus=X,mem=Y,disk=Z,gpus=W per hour)", s);
    return rc;
}

int
report_query_parse(struct report_query *q, int64_t now_ms, const char *since, const char *until,
                   const char *by, const char *top, const char *price, const char *timeline,
                   char *err, size_t errlen)
{
    char *end;
    long v;

    memset(q, 0, sizeof(*q));
    q->now_ms = now_ms;
    if (parse_time(since && *since ? since : "7days", now_ms, &q->since_ms) != 0) {
        snprintf(err, errlen,
                 "bad since \"%s\" (want 7d, 12h, 2025-01-31, "
                 "2025-01-31T12:00Z, now or @SECONDS)",
                 since);
        return -AG_EINVAL;
    }
    if (parse_time(until && *until ? until : "now", now_ms, &q->until_ms) != 0) {
        snprintf(err, errlen,
                 "bad until \"%s\" (want 7d, 12h, 2025-01-31, "
                 "2025-01-31T12:00Z, now or @SECONDS)",
                 until);
        return -AG_EINVAL;
    }
    if (q->until_ms <= q->since_ms) {
        snprintf(err, errlen, "empty window: until is not after since");
        return -AG_EINVAL;
    }
    q->by = REPORT_BY_CLUSTER;
    if (by && *by) {
        size_t i;
        for (i = 0; i < sizeof(by_names) / sizeof(by_names[0]); i++)
            if (strcmp(by, by_names[i]) == 0)
                break;
        if (i == sizeof(by_names) / sizeof(by_names[0])) {
            snprintf(err, errlen,
                     "bad by \"%s\" (want cluster, role, framework, app, agent "
                     "or task)",
                     by);
            return -AG_EINVAL;
        }
        q->by = (enum report_by)i;
    }
    if (top && *top) {
        errno = 0;
        v = strtol(top, &end, 10);
        if (*end != '\0' || errno != 0 || v < 0 || v > 1000000000) {
            snprintf(err, errlen, "bad top \"%s\" (want a number >= 0)", top);
            return -AG_EINVAL;
        }
        q->top = (int)v;
    }
    if (timeline && *timeline) {
        errno = 0;
        v = strtol(timeline, &end, 10);
        if (*end != '\0' || errno != 0 || v < 0 || v > TIMELINE_MAX) {
            snprintf(err, errlen, "bad timeline \"%s\" (want 0 to %d buckets)", timeline,
                     TIMELINE_MAX);
            return -AG_EINVAL;
        }
        q->timeline = (int)v;
    }
    if (price && *price)
        return parse_prices(q, price, err, errlen);
    return 0;
}

int
report_open(sqlite3 **out, const char *path, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    struct stat sb;
    int rc, version = -1;

    *out = NULL;
    if (stat(path, &sb) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? -AG_ENOENT : ag_from_errno(errno);
    }
    rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return db_from_sqlite(rc);
    }
    sqlite3_busy_timeout(db, 5000);
    rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    else
        rc = sqlite3_errcode(db);
    sqlite3_finalize(st);
    if (version < 0) {
        snprintf(err, errlen, "%s: not an accounting database: %s", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return -AG_EDB;
    }
    if (version != ACCT_SCHEMA_VERSION) {
        snprintf(err, errlen, "%s: accounting schema version %d, this report reads version %d",
                 path, version, ACCT_SCHEMA_VERSION);
        sqlite3_close(db);
        return version == 0 ? -AG_EDB : -AG_EVERSION;
    }
    *out = db;
    return 0;
}

/* ---- computation ---- */

struct acc {
    double alloc[REPORT_NRES]; /* milli-units x ms */
    double used_cpu;           /* cpu-ms */
    double used_mem;           /* KiB x ms */
    double unused_cpu;         /* cpu-ms, per task max(0, allocated - used) */
    double unused_mem;         /* MiB x ms */
    double peak;               /* bytes */
    int64_t tasks;
    int nstates;
    const char *state[MAX_STATES]; /* interned in the computation's state table */
    int64_t count[MAX_STATES];
};

struct group {
    char *key;
    struct acc acc;
    double cost, wasted; /* filled before sorting */
};

/* A timeline series: amounts (rate x ms) per bucket plus a difference array of
 * rates for buckets covered entirely. */
struct series {
    double *amt;
    double *diff;
};

struct tl_role {
    char *role;
    struct series cpu, mem;
    double total;
};

struct calc {
    sqlite3 *db;
    const struct report_query *q;
    int64_t since, until; /* effective window */
    sqlite3_stmt *probe;
    struct hmap groups; /* key -> struct group* */
    struct acc cluster;
    double cap[REPORT_NRES]; /* milli-units x ms */
    int64_t agents;
    /* states are interned here so the group tables hold stable pointers */
    char *states[MAX_STATES * 4];
    int nstates;
    /* timeline */
    int nb;
    int64_t bucket_ms;
    struct series cap_cpu, cap_mem;
    struct hmap roles; /* role -> struct tl_role* */
    char *err;
    size_t errlen;
};

static int
series_init(struct series *s, int nb)
{
    s->amt = calloc((size_t)nb, sizeof(double));
    s->diff = calloc((size_t)nb + 1, sizeof(double));
    return s->amt && s->diff ? 0 : -AG_ENOMEM;
}

static void
series_fini(struct series *s)
{
    free(s->amt);
    free(s->diff);
}

/* Adds rate x (overlap of [a, b) with each bucket); a, b inside the window. */
static void
series_add(struct calc *c, struct series *s, int64_t a, int64_t b, double rate)
{
    int64_t bm = c->bucket_ms, ba, bb;

    if (b <= a || rate == 0)
        return;
    ba = (a - c->since) / bm;
    bb = (b - c->since) / bm;
    if (ba == bb) {
        s->amt[ba] += rate * (double)(b - a);
        return;
    }
    s->amt[ba] += rate * (double)(c->since + (ba + 1) * bm - a);
    if (bb < c->nb)
        s->amt[bb] += rate * (double)(b - (c->since + bb * bm));
    if (bb > ba + 1) {
        s->diff[ba + 1] += rate;
        s->diff[bb] -= rate;
    }
}

/* Turns amounts into averages per bucket, divided by `div`. */
static json_t *
series_json(struct calc *c, struct series *s, double div)
{
    json_t *arr = json_array();
    double run = 0;

    for (int i = 0; i < c->nb; i++) {
        int64_t b0 = c->since + (int64_t)i * c->bucket_ms;
        int64_t b1 = b0 + c->bucket_ms < c->until ? b0 + c->bucket_ms : c->until;
        run += s->diff[i];
        double v = s->amt[i] + run * (double)c->bucket_ms;
        json_array_append_new(arr, json_real(b1 > b0 ? v / (double)(b1 - b0) / div : 0));
    }
    return arr;
}

static const char *
intern_state(struct calc *c, const char *s)
{
    for (int i = 0; i < c->nstates; i++)
        if (strcmp(c->states[i], s) == 0)
            return c->states[i];
    if (c->nstates == (int)(sizeof(c->states) / sizeof(c->states[0])))
        return "OTHER";
    c->states[c->nstates] = strdup(s);
    if (c->states[c->nstates] == NULL)
        return "OTHER";
    return c->states[c->nstates++];
}

static void
acc_state(struct acc *a, const char *state, int64_t n)
{
    int i;

    for (i = 0; i < a->nstates; i++)
        if (a->state[i] == state)
            break;
    if (i == a->nstates) {
        if (a->nstates == MAX_STATES)
            i = MAX_STATES - 1; /* lumped into the last one; never seen in practice */
        else
            a->state[a->nstates++] = state;
    }
    a->count[i] += n;
}

static void
acc_merge(struct acc *dst, const struct acc *src)
{
    for (int i = 0; i < REPORT_NRES; i++)
        dst->alloc[i] += src->alloc[i];
    dst->used_cpu += src->used_cpu;
    dst->used_mem += src->used_mem;
    dst->unused_cpu += src->unused_cpu;
    dst->unused_mem += src->unused_mem;
    if (src->peak > dst->peak)
        dst->peak = src->peak;
    dst->tasks += src->tasks;
    for (int i = 0; i < src->nstates; i++)
        acc_state(dst, src->state[i], src->count[i]);
}

/* Cumulative usage of task `id` at time x (start < x < last sample time). */
static int
usage_at(struct calc *c, int64_t id, int64_t x, double *cpu, double *mem, double *peak)
{
    sqlite3_stmt *st = c->probe;
    int rc;

    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, x);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        int64_t s = sqlite3_column_int64(st, 0), e = sqlite3_column_int64(st, 1);
        double dcpu = (double)sqlite3_column_int64(st, 2);
        double dmem = (double)sqlite3_column_int64(st, 3);
        double f = 1.0; /* share of the sample's interval after x */

        if (x >= e)
            f = 0;
        else if (x > s)
            f = (double)(e - x) / (double)(e - s);
        *cpu = (double)sqlite3_column_int64(st, 4) - dcpu * f;
        *mem = (double)sqlite3_column_int64(st, 5) - dmem * f;
        *peak = (double)sqlite3_column_int64(st, 6);
        sqlite3_reset(st);
        return 0;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return 1; /* no sample ends at or after x */
    snprintf(c->err, c->errlen, "usage lookup: %s", sqlite3_errmsg(c->db));
    return -AG_EDB;
}

static struct group *
group_get(struct calc *c, const char *key)
{
    struct group *g = hmap_get(&c->groups, key);

    if (g != NULL)
        return g;
    if ((g = calloc(1, sizeof(*g))) == NULL || (g->key = strdup(key)) == NULL) {
        free(g);
        return NULL;
    }
    if (hmap_put(&c->groups, key, g) != 0) {
        free(g->key);
        free(g);
        return NULL;
    }
    return g;
}

static struct tl_role *
role_get(struct calc *c, const char *role)
{
    struct tl_role *r = hmap_get(&c->roles, role);

    if (r != NULL)
        return r;
    if ((r = calloc(1, sizeof(*r))) == NULL || (r->role = strdup(role)) == NULL)
        goto fail;
    if (series_init(&r->cpu, c->nb) != 0 || series_init(&r->mem, c->nb) != 0)
        goto fail;
    if (hmap_put(&c->roles, role, r) != 0)
        goto fail;
    return r;
fail:
    if (r) {
        series_fini(&r->cpu);
        series_fini(&r->mem);
        free(r->role);
        free(r);
    }
    return NULL;
}

static int
scan_capacity(struct calc *c)
{
    sqlite3_stmt *st;
    struct hmap seen;
    int rc;

    rc = sqlite3_prepare_v2(c->db,
                            "SELECT agent_id, start_ms, end_ms, cpus, mem, disk, gpus "
                            "FROM capacity WHERE start_ms < ?2 AND (end_ms IS NULL OR "
                            "end_ms > ?1)",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) {
        snprintf(c->err, c->errlen, "capacity query: %s", sqlite3_errmsg(c->db));
        return -AG_EDB;
    }
    sqlite3_bind_int64(st, 1, c->since);
    sqlite3_bind_int64(st, 2, c->until);
    hmap_init(&seen);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *agent = (const char *)sqlite3_column_text(st, 0);
        int64_t a = sqlite3_column_int64(st, 1), b;

        b = sqlite3_column_type(st, 2) == SQLITE_NULL ? c->until : sqlite3_column_int64(st, 2);
        if (a < c->since)
            a = c->since;
        if (b > c->until)
            b = c->until;
        if (b <= a)
            continue;
        for (int i = 0; i < REPORT_NRES; i++)
            c->cap[i] += (double)sqlite3_column_int64(st, 3 + i) * (double)(b - a);
        if (c->nb > 0) {
            series_add(c, &c->cap_cpu, a, b, (double)sqlite3_column_int64(st, 3));
            series_add(c, &c->cap_mem, a, b, (double)sqlite3_column_int64(st, 4));
        }
        if (agent && hmap_get(&seen, agent) == NULL) {
            hmap_put(&seen, agent, &seen);
            c->agents++;
        }
    }
    hmap_fini(&seen);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        snprintf(c->err, c->errlen, "capacity query: %s", sqlite3_errmsg(c->db));
        return -AG_EDB;
    }
    return 0;
}

enum {
    T_ID,
    T_FW,
    T_TASK,
    T_ROLE,
    T_APP,
    T_AGENT,
    T_START,
    T_END,
    T_STATE,
    T_CPUS,
    T_MEM,
    T_DISK,
    T_GPUS,
    T_USAGE_MS,
    T_CPU_MS,
    T_MEM_KIB_MS,
    T_PEAK
};

#define TASK_COLUMNS                                                                               \
    "SELECT id, framework_id, task_id, role, app_id, agent_id, start_ms, end_ms, state, cpus, "    \
    "mem, disk, gpus, usage_ms, cpu_ms, mem_kib_ms, mem_peak FROM tasks "

static int scan_task_rows(struct calc *c, sqlite3_stmt *st);

/*
 * The task intervals that overlap the window. A window covering most of the
 * history reads the table in order (a full scan is several times faster than
 * as many index lookups); a shorter one reads the tasks that ended after
 * `since` through the end-time index and the open ones through their partial
 * index. "Most" is judged on time: the window against the span from the
 * oldest task start to now.
 */
static int
scan_tasks(struct calc *c)
{
    static const char *const full_sql =
        TASK_COLUMNS "NOT INDEXED WHERE (end_ms IS NULL OR end_ms >= ?1) AND start_ms < ?2";
    static const char *const part_sql[2] = {
        TASK_COLUMNS "INDEXED BY tasks_by_end WHERE end_ms >= ?1 AND start_ms < ?2",
        TASK_COLUMNS "INDEXED BY tasks_open_by_agent WHERE end_ms IS NULL AND start_ms < ?2"};
    const char *sql[2] = {full_sql, NULL};
    sqlite3_stmt *st;
    int64_t oldest = c->since;
    int rc = 0;

    if (sqlite3_prepare_v2(c->db, "SELECT min(start_ms) FROM tasks", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
            oldest = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    if (oldest < c->since &&
        (double)(c->until - c->since) < 0.5 * (double)(c->q->now_ms - oldest)) {
        sql[0] = part_sql[0];
        sql[1] = part_sql[1];
    }
    for (int i = 0; i < 2 && sql[i] && rc == 0; i++) {
        if (sqlite3_prepare_v2(c->db, sql[i], -1, &st, NULL) != SQLITE_OK) {
            snprintf(c->err, c->errlen, "task query: %s", sqlite3_errmsg(c->db));
            return -AG_EDB;
        }
        sqlite3_bind_int64(st, 1, c->since);
        sqlite3_bind_int64(st, 2, c->until);
        rc = scan_task_rows(c, st);
        sqlite3_finalize(st);
    }
    return rc;
}

/* Adds the intervals `st` returns to the groups, the cluster and the timeline. */
static int
scan_task_rows(struct calc *c, sqlite3_stmt *st)
{
    char keybuf[1024];
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, T_ID);
        int64_t start = sqlite3_column_int64(st, T_START), end, a, b;
        int64_t last = sqlite3_column_int64(st, T_USAGE_MS);
        bool open = sqlite3_column_type(st, T_END) == SQLITE_NULL;
        double cpu_a = 0, mem_a = 0, cpu_b, mem_b, peak_b, peak_tmp, sc[REPORT_NRES];
        const char *key, *state;
        struct group *g;
        struct acc t;

        end = open ? c->q->now_ms : sqlite3_column_int64(st, T_END);
        if (end < start)
            end = start;
        /* Intervals ending exactly at `since` belong to the previous window,
         * except empty ones that start there. */
        if (end <= c->since && !(start == end && start >= c->since))
            continue;
        a = start > c->since ? start : c->since;
        b = end < c->until ? end : c->until;
        if (b < a)
            b = a;

        /* usage at the clipped ends */
        cpu_b = (double)sqlite3_column_int64(st, T_CPU_MS);
        mem_b = (double)sqlite3_column_int64(st, T_MEM_KIB_MS);
        peak_b = (double)sqlite3_column_int64(st, T_PEAK);
        if (last > 0 && b < last) {
            if ((rc = usage_at(c, id, b, &cpu_b, &mem_b, &peak_b)) < 0)
                goto out;
        }
        if (last > 0 && a > start) {
            if (a >= last) {
                cpu_a = cpu_b;
                mem_a = mem_b;
            } else if ((rc = usage_at(c, id, a, &cpu_a, &mem_a, &peak_tmp)) < 0) {
                goto out;
            }
        }

        memset(&t, 0, sizeof(t));
        for (int i = 0; i < REPORT_NRES; i++) {
            sc[i] = (double)sqlite3_column_int64(st, T_CPUS + i);
            t.alloc[i] = sc[i] * (double)(b - a);
        }
        t.used_cpu = cpu_b - cpu_a > 0 ? cpu_b - cpu_a : 0;
        t.used_mem = mem_b - mem_a > 0 ? mem_b - mem_a : 0;
        t.unused_cpu = t.alloc[REPORT_CPUS] / 1000.0 - t.used_cpu;
        if (t.unused_cpu < 0)
            t.unused_cpu = 0;
        t.unused_mem = t.alloc[REPORT_MEM] / 1000.0 - t.used_mem / 1024.0;
        if (t.unused_mem < 0)
            t.unused_mem = 0;
        t.peak = last > 0 && start < c->until ? peak_b : 0;
        t.tasks = 1;
        state =
            !open && end <= c->until ? (const char *)sqlite3_column_text(st, T_STATE) : "RUNNING";
        acc_state(&t, intern_state(c, state ? state : "UNKNOWN"), 1);

        switch (c->q->by) {
        case REPORT_BY_CLUSTER:
            key = "cluster";
            break;
        case REPORT_BY_ROLE:
            key = (const char *)sqlite3_column_text(st, T_ROLE);
            break;
        case REPORT_BY_FRAMEWORK:
            key = (const char *)sqlite3_column_text(st, T_FW);
            break;
        case REPORT_BY_APP:
            key = (const char *)sqlite3_column_text(st, T_APP);
            if (key && key[0] == '\0')
                key = "(no app)";
            break;
        case REPORT_BY_AGENT:
            key = (const char *)sqlite3_column_text(st, T_AGENT);
            break;
        default:
            snprintf(keybuf, sizeof(keybuf), "%s/%s", (const char *)sqlite3_column_text(st, T_FW),
                     (const char *)sqlite3_column_text(st, T_TASK));
            key = keybuf;
            break;
        }
        if ((g = group_get(c, key ? key : "")) == NULL) {
            rc = -AG_ENOMEM;
            goto out;
        }
        acc_merge(&g->acc, &t);
        acc_merge(&c->cluster, &t);
        if (c->nb > 0 && b > a) {
            const char *role = (const char *)sqlite3_column_text(st, T_ROLE);
            struct tl_role *r = role_get(c, role ? role : "");
            if (r == NULL) {
                rc = -AG_ENOMEM;
                goto out;
            }
            series_add(c, &r->cpu, a, b, sc[REPORT_CPUS]);
            series_add(c, &r->mem, a, b, sc[REPORT_MEM]);
            r->total += t.alloc[REPORT_CPUS];
        }
    }
    if (rc != SQLITE_DONE) {
        snprintf(c->err, c->errlen, "task query: %s", sqlite3_errmsg(c->db));
        rc = -AG_EDB;
        goto out;
    }
    rc = 0;
out:
    return rc;
}

static double
acc_cost(const struct report_query *q, const struct acc *a)
{
    double cost = 0;

    for (int i = 0; i < REPORT_NRES; i++)
        cost += a->alloc[i] / res_div[i] * q->price[i];
    return cost;
}

static double
acc_wasted(const struct report_query *q, const struct acc *a)
{
    return a->unused_cpu / MS_PER_HOUR * q->price[REPORT_CPUS] +
           a->unused_mem / 1024.0 / MS_PER_HOUR * q->price[REPORT_MEM];
}

/* Sort rank of a final state: Mesos' terminal states first, then others by
 * name, tasks still running last. */
static int
state_rank(const char *s)
{
    static const char *const order[] = {
        "TASK_FINISHED",    "TASK_FAILED",  "TASK_KILLED", "TASK_LOST",
        "TASK_ERROR",       "TASK_DROPPED", "TASK_GONE",   "TASK_GONE_BY_OPERATOR",
        "TASK_UNREACHABLE", "TASK_UNKNOWN"};
    size_t n = sizeof(order) / sizeof(order[0]);

    if (strcmp(s, "RUNNING") == 0)
        return (int)n + 1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, order[i]) == 0)
            return (int)i;
    return (int)n;
}

static json_t *
states_json(const struct acc *a)
{
    json_t *o = json_object();
    int idx[MAX_STATES];

    for (int i = 0; i < a->nstates; i++)
        idx[i] = i;
    /* insertion sort: a handful of states */
    for (int i = 1; i < a->nstates; i++) {
        for (int j = i; j > 0; j--) {
            const char *x = a->state[idx[j - 1]], *y = a->state[idx[j]];
            int rx = state_rank(x), ry = state_rank(y);
            if (rx < ry || (rx == ry && strcmp(x, y) <= 0))
                break;
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    }
    for (int i = 0; i < a->nstates; i++)
        json_object_set_new(o, a->state[idx[i]], json_integer(a->count[idx[i]]));
    return o;
}

/* A JSON string of `s`, with bytes that are not UTF-8 replaced by '?'. */
static json_t *
safe_string(const char *s)
{
    json_t *j = json_string(s);
    char *copy;

    if (j != NULL || (copy = strdup(s)) == NULL)
        return j;
    for (unsigned char *p = (unsigned char *)copy; *p; p++)
        if (*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

static void
set_real(json_t *o, const char *key, double v)
{
    json_object_set_new_nocheck(o, key, json_real(v));
}

/* A group's figures as one flat object (cheap enough for 100,000 groups). */
static json_t *
group_json(const struct report_query *q, const char *key, const struct acc *a)
{
    json_t *g = json_object();

    json_object_set_new_nocheck(g, "key", safe_string(key));
    json_object_set_new_nocheck(g, "tasks", json_integer(a->tasks));
    json_object_set_new_nocheck(g, "states", states_json(a));
    set_real(g, "cpus_allocated", a->alloc[REPORT_CPUS] / res_div[REPORT_CPUS]);
    set_real(g, "cpus_used", a->used_cpu / MS_PER_HOUR);
    set_real(g, "cpus_unused", a->unused_cpu / MS_PER_HOUR);
    set_real(g, "mem_allocated", a->alloc[REPORT_MEM] / res_div[REPORT_MEM]);
    set_real(g, "mem_used", a->used_mem / 1048576.0 / MS_PER_HOUR);
    set_real(g, "mem_unused", a->unused_mem / 1024.0 / MS_PER_HOUR);
    set_real(g, "mem_peak_bytes", a->peak);
    set_real(g, "disk_allocated", a->alloc[REPORT_DISK] / res_div[REPORT_DISK]);
    set_real(g, "gpus_allocated", a->alloc[REPORT_GPUS] / res_div[REPORT_GPUS]);
    if (q->priced) {
        set_real(g, "cost", acc_cost(q, a));
        set_real(g, "cost_wasted", acc_wasted(q, a));
    }
    return g;
}

static int
group_cmp(const void *pa, const void *pb)
{
    const struct group *a = *(struct group *const *)pa, *b = *(struct group *const *)pb;

    if (a->cost != b->cost)
        return a->cost > b->cost ? -1 : 1;
    if (a->acc.alloc[REPORT_CPUS] != b->acc.alloc[REPORT_CPUS])
        return a->acc.alloc[REPORT_CPUS] > b->acc.alloc[REPORT_CPUS] ? -1 : 1;
    if (a->acc.alloc[REPORT_MEM] != b->acc.alloc[REPORT_MEM])
        return a->acc.alloc[REPORT_MEM] > b->acc.alloc[REPORT_MEM] ? -1 : 1;
    return strcmp(a->key, b->key);
}

static int
role_cmp(const void *pa, const void *pb)
{
    const struct tl_role *a = *(struct tl_role *const *)pa, *b = *(struct tl_role *const *)pb;

    if (a->total != b->total)
        return a->total > b->total ? -1 : 1;
    return strcmp(a->role, b->role);
}

static void
fmt_iso(int64_t ms, char *buf, size_t len)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&s, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *
timeline_json(struct calc *c)
{
    json_t *tl = json_object(), *cap = json_object(), *roles = json_array();
    struct tl_role **list, *other = NULL;
    size_t n = hmap_size(&c->roles), k = 0;
    const char *key;
    void *val;

    json_object_set_new(tl, "start_ms", json_integer(c->since));
    json_object_set_new(tl, "bucket_ms", json_integer(c->bucket_ms));
    json_object_set_new(tl, "buckets", json_integer(c->nb));
    json_object_set_new(cap, "cpus", series_json(c, &c->cap_cpu, 1000.0));
    json_object_set_new(cap, "mem", series_json(c, &c->cap_mem, 1024000.0));
    json_object_set_new(tl, "capacity", cap);
    json_object_set_new(tl, "roles", roles);
    list = calloc(n ? n : 1, sizeof(*list));
    if (list == NULL)
        return tl;
    for (size_t it = 0; hmap_next(&c->roles, &it, &key, &val);)
        list[k++] = val;
    qsort(list, n, sizeof(*list), role_cmp);
    for (size_t i = 0; i < n; i++) {
        struct tl_role *r = list[i];
        json_t *o;

        if (i >= TIMELINE_ROLES && n > TIMELINE_ROLES + 1) {
            /* Fold the smaller roles into the first of them. */
            if (other == NULL) {
                other = r;
                continue;
            }
            for (int j = 0; j < c->nb; j++) {
                other->cpu.amt[j] += r->cpu.amt[j];
                other->mem.amt[j] += r->mem.amt[j];
            }
            for (int j = 0; j <= c->nb; j++) {
                other->cpu.diff[j] += r->cpu.diff[j];
                other->mem.diff[j] += r->mem.diff[j];
            }
            continue;
        }
        o = json_object();
        json_object_set_new(o, "role", safe_string(r->role));
        json_object_set_new(o, "cpus", series_json(c, &r->cpu, 1000.0));
        json_object_set_new(o, "mem", series_json(c, &r->mem, 1024000.0));
        json_array_append_new(roles, o);
    }
    if (other != NULL) {
        json_t *o = json_object();
        json_object_set_new(o, "role", json_string("(other)"));
        json_object_set_new(o, "cpus", series_json(c, &other->cpu, 1000.0));
        json_object_set_new(o, "mem", series_json(c, &other->mem, 1024000.0));
        json_array_append_new(roles, o);
    }
    free(list);
    return tl;
}

static json_t *
build_json(struct calc *c)
{
    const struct report_query *q = c->q;
    json_t *rep = json_object(), *win = json_object(), *cl = json_object(), *arr, *warn;
    struct group **list;
    struct acc other, total;
    size_t n = hmap_size(&c->groups), k = 0, shown;
    char buf[64];
    const char *key;
    void *val;

    fmt_iso(c->since, buf, sizeof(buf));
    json_object_set_new(win, "since", json_string(buf));
    fmt_iso(c->until, buf, sizeof(buf));
    json_object_set_new(win, "until", json_string(buf));
    json_object_set_new(win, "since_ms", json_integer(c->since));
    json_object_set_new(win, "until_ms", json_integer(c->until));
    json_object_set_new(win, "hours", json_real((double)(c->until - c->since) / MS_PER_HOUR));
    json_object_set_new(rep, "window", win);
    json_object_set_new(rep, "by", json_string(by_names[q->by]));
    json_object_set_new(rep, "top", json_integer(q->top));

    warn = json_array();
    json_object_set_new(cl, "agents", json_integer(c->agents));
    for (int i = 0; i < REPORT_NRES; i++) {
        json_t *r = json_object();
        double cap = c->cap[i] / res_div[i], alloc = c->cluster.alloc[i] / res_div[i];

        json_object_set_new(r, "unit", json_string(res_units[i]));
        json_object_set_new(r, "capacity", json_real(cap));
        json_object_set_new(r, "allocated", json_real(alloc));
        if (i == REPORT_CPUS) {
            json_object_set_new(r, "used", json_real(c->cluster.used_cpu / MS_PER_HOUR));
            json_object_set_new(r, "unused", json_real(c->cluster.unused_cpu / MS_PER_HOUR));
        } else if (i == REPORT_MEM) {
            json_object_set_new(r, "used",
                                json_real(c->cluster.used_mem / 1048576.0 / MS_PER_HOUR));
            json_object_set_new(r, "unused",
                                json_real(c->cluster.unused_mem / 1024.0 / MS_PER_HOUR));
        } else {
            json_object_set_new(r, "used", json_null());
            json_object_set_new(r, "unused", json_null());
        }
        json_object_set_new(r, "idle", json_real(cap - alloc));
        json_object_set_new(cl, res_names[i], r);
        if (alloc > cap * (1 + 1e-9) + 1e-9) {
            snprintf(buf, sizeof(buf), "%s allocated exceeds capacity", res_names[i]);
            json_array_append_new(warn, json_string(buf));
        }
    }
    json_object_set_new(cl, "mem_peak_bytes", json_real(c->cluster.peak));
    json_object_set_new(cl, "tasks", json_integer(c->cluster.tasks));
    json_object_set_new(cl, "states", states_json(&c->cluster));
    json_object_set_new(rep, "cluster", cl);

    list = calloc(n ? n : 1, sizeof(*list));
    if (list == NULL) {
        json_decref(warn);
        json_decref(rep);
        return NULL;
    }
    for (size_t it = 0; hmap_next(&c->groups, &it, &key, &val);) {
        struct group *g = val;
        g->cost = q->priced ? acc_cost(q, &g->acc) : 0;
        list[k++] = g;
    }
    qsort(list, n, sizeof(*list), group_cmp);
    shown = q->top > 0 && (size_t)q->top < n ? (size_t)q->top : n;
    arr = json_array();
    memset(&other, 0, sizeof(other));
    memset(&total, 0, sizeof(total));
    for (size_t i = 0; i < n; i++) {
        if (i < shown)
            json_array_append_new(arr, group_json(q, list[i]->key, &list[i]->acc));
        else
            acc_merge(&other, &list[i]->acc);
        acc_merge(&total, &list[i]->acc);
    }
    json_object_set_new(rep, "groups", arr);
    if (shown < n) {
        json_t *o = group_json(q, "(other)", &other);
        json_object_set_new(o, "groups", json_integer((json_int_t)(n - shown)));
        json_object_set_new(rep, "other", o);
    } else {
        json_object_set_new(rep, "other", json_null());
    }
    json_object_set_new(rep, "total", group_json(q, "(total)", &total));
    free(list);

    if (q->priced) {
        json_t *p = json_object(), *cost = json_object();
        double capc = 0, alloc = acc_cost(q, &c->cluster);

        for (int i = 0; i < REPORT_NRES; i++) {
            json_object_set_new(p, res_names[i], json_real(q->price[i]));
            capc += c->cap[i] / res_div[i] * q->price[i];
        }
        json_object_set_new(rep, "prices", p);
        json_object_set_new(cost, "capacity", json_real(capc));
        json_object_set_new(cost, "allocated", json_real(alloc));
        json_object_set_new(cost, "idle", json_real(capc - alloc));
        json_object_set_new(cost, "wasted", json_real(acc_wasted(q, &c->cluster)));
        json_object_set_new(rep, "cost", cost);
    } else {
        json_object_set_new(rep, "prices", json_null());
        json_object_set_new(rep, "cost", json_null());
    }
    json_object_set_new(rep, "timeline", c->nb > 0 ? timeline_json(c) : json_null());
    json_object_set_new(rep, "warnings", warn);
    return rep;
}

static void
calc_fini(struct calc *c)
{
    const char *key;
    void *val;

    for (size_t it = 0; hmap_next(&c->groups, &it, &key, &val);) {
        struct group *g = val;
        free(g->key);
        free(g);
    }
    hmap_fini(&c->groups);
    for (size_t it = 0; hmap_next(&c->roles, &it, &key, &val);) {
        struct tl_role *r = val;
        series_fini(&r->cpu);
        series_fini(&r->mem);
        free(r->role);
        free(r);
    }
    hmap_fini(&c->roles);
    series_fini(&c->cap_cpu);
    series_fini(&c->cap_mem);
    for (int i = 0; i < c->nstates; i++)
        free(c->states[i]);
    sqlite3_finalize(c->probe);
}

int
report_compute(sqlite3 *db, const struct report_query *q, json_t **out, char *err, size_t errlen)
{
    struct calc c;
    int rc;

    *out = NULL;
    memset(&c, 0, sizeof(c));
    c.db = db;
    c.q = q;
    c.err = err;
    c.errlen = errlen;
    c.since = q->since_ms;
    c.until = q->until_ms < q->now_ms ? q->until_ms : q->now_ms;
    hmap_init(&c.groups);
    hmap_init(&c.roles);
    if (c.until <= c.since) {
        snprintf(err, errlen, "empty window: it starts at or after now");
        return -AG_EINVAL;
    }
    if (q->timeline > 0) {
        int64_t span = c.until - c.since;
        c.bucket_ms = (span + q->timeline - 1) / q->timeline;
        if (c.bucket_ms < 1)
            c.bucket_ms = 1;
        c.nb = (int)((span + c.bucket_ms - 1) / c.bucket_ms);
        if (series_init(&c.cap_cpu, c.nb) != 0 || series_init(&c.cap_mem, c.nb) != 0) {
            rc = -AG_ENOMEM;
            goto out;
        }
    }
    rc = sqlite3_prepare_v2(db,
                            "SELECT start_ms, end_ms, cpu_ms, mem_kib_ms, cum_cpu_ms, "
                            "cum_mem_kib_ms, mem_peak FROM usage WHERE task = ?1 AND "
                            "end_ms >= ?2 ORDER BY end_ms LIMIT 1",
                            -1, &c.probe, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "usage query: %s", sqlite3_errmsg(db));
        rc = -AG_EDB;
        goto out;
    }
    /* One read transaction, so both scans see the same state. */
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    rc = scan_capacity(&c);
    if (rc == 0)
        rc = scan_tasks(&c);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != 0)
        goto out;
    if ((*out = build_json(&c)) == NULL)
        rc = -AG_ENOMEM;
out:
    if (rc == -AG_ENOMEM)
        snprintf(err, errlen, "out of memory");
    calc_fini(&c);
    return rc;
}

/* ---- rendering helpers ---- */

/* The number at a dotted path of `o` ("cpus.allocated"), 0 when absent. */
static double
jnum(json_t *o, const char *path)
{
    char part[64];

    while (o && *path) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);

        if (len >= sizeof(part))
            return 0;
        memcpy(part, path, len);
        part[len] = '\0';
        o = json_object_get(o, part);
        path += len + (dot ? 1 : 0);
    }
    return o && json_is_number(o) ? json_number_value(o) : 0;
}

static bool
jnull(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return v == NULL || json_is_null(v);
}

static const char *
jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* used / allocated of resource `res` ("cpus", "mem") in a group, 0 when none allocated. */
static double
efficiency(json_t *g, const char *res)
{
    char a[32], u[32];
    double alloc;

    snprintf(a, sizeof(a), "%s_allocated", res);
    snprintf(u, sizeof(u), "%s_used", res);
    alloc = jnum(g, a);
    return alloc > 0 ? jnum(g, u) / alloc : 0;
}

/* 1234567.891 -> "1,234,567.9" with `dec` decimals. */
static char *
fmt_num(double v, int dec, char *buf, size_t len)
{
    char raw[64], *dot, *p = buf;
    size_t ndig, i;
    int neg = v < 0;

    snprintf(raw, sizeof(raw), "%.*f", dec, neg ? -v : v);
    dot = strchr(raw, '.');
    ndig = dot ? (size_t)(dot - raw) : strlen(raw);
    if (ndig + ndig / 3 + strlen(raw) + 3 > len || fabs(v) > 1e18) {
        snprintf(buf, len, "%.*g", 6, v);
        return buf;
    }
    if (neg && strtod(raw, NULL) != 0)
        *p++ = '-';
    for (i = 0; i < ndig; i++) {
        *p++ = raw[i];
        if ((ndig - i - 1) % 3 == 0 && i + 1 < ndig)
            *p++ = ',';
    }
    strcpy(p, raw + ndig);
    return buf;
}

/* Decimals for unit-hour figures whose largest is `largest`: one for reports
 * of real clusters, more for short windows on small ones (a minute on one
 * agent is a few thousandths of a cpu-hour, which one decimal shows as 0.0). */
static int
hours_dec(double largest)
{
    return largest >= 10 ? 1 : largest >= 1 ? 2 : largest >= 0.1 ? 3 : 4;
}

/* hours_dec for the figures of report `rep`: its capacity and allocation. */
static int
report_dec(json_t *rep)
{
    json_t *cl = json_object_get(rep, "cluster");
    double m = 0;

    for (int i = 0; i < REPORT_NRES; i++) {
        json_t *x = json_object_get(cl, res_names[i]);
        m = fmax(m, fmax(jnum(x, "capacity"), jnum(x, "allocated")));
    }
    return hours_dec(m);
}

static char *
fmt_bytes(double b, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;

    while (b >= 1024 && u < 5) {
        b /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%.0f B", b);
    else
        snprintf(buf, len, "%.1f %s", b, units[u]);
    return buf;
}

static char *
fmt_pct(double a, double b, char *buf, size_t len)
{
    if (b > 0)
        snprintf(buf, len, "%.1f%%", 100.0 * a / b);
    else
        snprintf(buf, len, "-");
    return buf;
}

static void
fmt_short_time(int64_t ms, char *buf, size_t len)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&s, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
}

/* "FINISHED 10, FAILED 2" from a states object. */
static void
fmt_states(json_t *states, char *buf, size_t len)
{
    const char *k;
    json_t *v;
    size_t off = 0;

    buf[0] = '\0';
    json_object_foreach(states, k, v)
    {
        const char *name = strncmp(k, "TASK_", 5) == 0 ? k + 5 : k;
        int n = snprintf(buf + off, len - off, "%s%s %lld", off ? ", " : "", name,
                         (long long)json_integer_value(v));
        if (n < 0 || (size_t)n >= len - off)
            break;
        off += (size_t)n;
    }
}

/* "cpus 0.031, mem 0.004/GiB" for the prices that are set. */
static void
fmt_prices(json_t *pr, char *buf, size_t len)
{
    size_t off = 0;

    buf[0] = '\0';
    for (int i = 0; i < REPORT_NRES; i++) {
        double p = jnum(pr, res_names[i]);
        int n;

        if (p <= 0)
            continue;
        n = snprintf(buf + off, len - off, "%s%s %g%s", off ? ", " : "", res_names[i], p,
                     i == REPORT_MEM || i == REPORT_DISK ? "/GiB" : "");
        if (n < 0 || (size_t)n >= len - off)
            break;
        off += (size_t)n;
    }
    if (off == 0)
        snprintf(buf, len, "none");
}

/* An aligned text table; the cells live in one growing buffer. */
struct table {
    int ncol;
    size_t nrow, cap;
    size_t *off; /* nrow x ncol offsets into buf */
    char *buf;
    size_t blen, bcap;
    unsigned right; /* bit i: column i right-aligned */
};

static void
table_row(struct table *t, const char *const *cells)
{
    size_t need = 0;

    for (int i = 0; i < t->ncol; i++)
        need += strlen(cells[i] ? cells[i] : "") + 1;
    if (t->nrow == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        size_t *p = realloc(t->off, cap * (size_t)t->ncol * sizeof(size_t));
        if (p == NULL)
            return;
        t->off = p;
        t->cap = cap;
    }
    if (t->blen + need > t->bcap) {
        size_t cap = t->bcap ? t->bcap : 4096;
        char *p;
        while (cap < t->blen + need)
            cap *= 2;
        if ((p = realloc(t->buf, cap)) == NULL)
            return;
        t->buf = p;
        t->bcap = cap;
    }
    for (int i = 0; i < t->ncol; i++) {
        const char *c = cells[i] ? cells[i] : "";
        size_t l = strlen(c);

        t->off[t->nrow * (size_t)t->ncol + (size_t)i] = t->blen;
        memcpy(t->buf + t->blen, c, l + 1);
        t->blen += l + 1;
    }
    t->nrow++;
}

/* Prints the table with aligned columns and releases its memory. */
static void
table_print(FILE *f, struct table *t)
{
    size_t w[32] = {0};

    for (size_t r = 0; r < t->nrow; r++)
        for (int i = 0; i < t->ncol; i++) {
            size_t l = strlen(t->buf + t->off[r * (size_t)t->ncol + (size_t)i]);
            if (l > w[i])
                w[i] = l;
        }
    for (size_t r = 0; r < t->nrow; r++) {
        char line[4096];
        size_t off = 0;

        for (int i = 0; i < t->ncol && off < sizeof(line); i++) {
            const char *s = t->buf + t->off[r * (size_t)t->ncol + (size_t)i];
            int n;

            if (t->right & (1u << i))
                n = snprintf(line + off, sizeof(line) - off, "%*s  ", (int)w[i], s);
            else
                n = snprintf(line + off, sizeof(line) - off, "%-*s  ", (int)w[i], s);
            off += n > 0 ? (size_t)n : 0;
        }
        if (off >= sizeof(line))
            off = sizeof(line) - 1;
        while (off > 0 && line[off - 1] == ' ')
            off--;
        line[off++] = '\n';
        fwrite(line, 1, off, f);
    }
    free(t->off);
    free(t->buf);
    memset(t, 0, sizeof(*t));
}

static bool
resource_present(json_t *cl, int i)
{
    json_t *r = json_object_get(cl, res_names[i]);
    return i < REPORT_DISK || jnum(r, "capacity") > 0 || jnum(r, "allocated") > 0;
}

/* ---- table ---- */

static void
render_group_row(struct table *t, json_t *g, bool priced, int dec, const char *label)
{
    double ca = jnum(g, "cpus_allocated"), cu = jnum(g, "cpus_used");
    double ma = jnum(g, "mem_allocated"), mu = jnum(g, "mem_used");
    char c[12][64], states[512];
    const char *cells[13];

    fmt_num(jnum(g, "tasks"), 0, c[0], 64);
    fmt_num(ca, dec, c[1], 64);
    fmt_num(cu, dec, c[2], 64);
    fmt_pct(cu, ca, c[3], 64);
    fmt_num(ma, dec, c[4], 64);
    fmt_num(mu, dec, c[5], 64);
    fmt_pct(mu, ma, c[6], 64);
    fmt_bytes(jnum(g, "mem_peak_bytes"), c[7], 64);
    if (priced) {
        fmt_num(jnum(g, "cost"), 2, c[8], 64);
        fmt_num(jnum(g, "cost_wasted"), 2, c[9], 64);
    }
    fmt_states(json_object_get(g, "states"), states, sizeof(states));
    cells[0] = label ? label : jstr(g, "key");
    for (int i = 0; i < 8; i++)
        cells[1 + i] = c[i];
    if (priced) {
        cells[9] = c[8];
        cells[10] = c[9];
        cells[11] = states;
    } else {
        cells[9] = states;
    }
    table_row(t, cells);
}

static void
render_table(FILE *f, json_t *rep)
{
    json_t *cl = json_object_get(rep, "cluster"), *cost = json_object_get(rep, "cost");
    const char *by = jstr(rep, "by");
    bool priced = !jnull(rep, "cost");
    char a[64], b[64], c[64], d[64], e[64], p1[32], p2[32], p3[32], states[1024];
    struct table t = {0};
    int dec = report_dec(rep);
    size_t i;
    json_t *g, *w;

    fmt_short_time((int64_t)jnum(rep, "window.since_ms"), a, sizeof(a));
    fmt_short_time((int64_t)jnum(rep, "window.until_ms"), b, sizeof(b));
    fprintf(
        f, "Agora accounting report, %s .. %s UTC (%s hours), by %s\n\n", a, b,
        fmt_num(jnum(rep, "window.hours"), jnum(rep, "window.hours") >= 1 ? 1 : 3, c, sizeof(c)),
        by);

    fprintf(f, "Cluster utilization (%lld agents)\n", (long long)jnum(cl, "agents"));
    t.ncol = 6;
    t.right = 0x3c;
    table_row(&t, (const char *[]){"RESOURCE", "UNIT", "CAPACITY", "ALLOCATED", "USED", "IDLE"});
    for (int r = 0; r < REPORT_NRES; r++) {
        json_t *x = json_object_get(cl, res_names[r]);
        double cap = jnum(x, "capacity");
        char used[96], alloc[96], idle[96];

        if (!resource_present(cl, r))
            continue;
        fmt_num(cap, dec, a, sizeof(a));
        snprintf(alloc, sizeof(alloc), "%s (%s)", fmt_num(jnum(x, "allocated"), dec, b, 64),
                 fmt_pct(jnum(x, "allocated"), cap, p1, sizeof(p1)));
        if (jnull(x, "used"))
            snprintf(used, sizeof(used), "-");
        else
            snprintf(used, sizeof(used), "%s (%s)", fmt_num(jnum(x, "used"), dec, c, 64),
                     fmt_pct(jnum(x, "used"), cap, p2, sizeof(p2)));
        snprintf(idle, sizeof(idle), "%s (%s)", fmt_num(jnum(x, "idle"), dec, d, 64),
                 fmt_pct(jnum(x, "idle"), cap, p3, sizeof(p3)));
        table_row(&t, (const char *[]){res_names[r], jstr(x, "unit"), a, alloc, used, idle});
    }
    table_print(f, &t);
    fmt_states(json_object_get(cl, "states"), states, sizeof(states));
    fprintf(f, "\nTasks: %s%s%s%s; peak task memory %s\n",
            fmt_num(jnum(cl, "tasks"), 0, a, sizeof(a)), states[0] ? " (" : "", states,
            states[0] ? ")" : "", fmt_bytes(jnum(cl, "mem_peak_bytes"), e, sizeof(e)));

    if (strcmp(by, "cluster") != 0) {
        char head[32];
        snprintf(head, sizeof(head), "%s", by);
        for (char *s = head; *s; s++)
            *s = (char)toupper((unsigned char)*s);
        fprintf(f, "\nBy %s\n", by);
        t.ncol = priced ? 12 : 10;
        t.right = 0x1fe | (priced ? 0x600 : 0);
        if (priced)
            table_row(&t, (const char *[]){head, "TASKS", "CPU-H ALLOC", "CPU-H USED", "CPU EFF",
                                           "GiB-H ALLOC", "GiB-H USED", "MEM EFF", "PEAK MEM",
                                           "COST", "WASTED", "FINAL STATES"});
        else
            table_row(&t, (const char *[]){head, "TASKS", "CPU-H ALLOC", "CPU-H USED", "CPU EFF",
                                           "GiB-H ALLOC", "GiB-H USED", "MEM EFF", "PEAK MEM",
                                           "FINAL STATES"});
        json_array_foreach(json_object_get(rep, "groups"), i, g)
        {
            render_group_row(&t, g, priced, dec, NULL);
        }
        g = json_object_get(rep, "other");
        if (g && !json_is_null(g)) {
            snprintf(a, sizeof(a), "(%lld others)", (long long)jnum(g, "groups"));
            render_group_row(&t, g, priced, dec, a);
        }
        render_group_row(&t, json_object_get(rep, "total"), priced, dec, "TOTAL");
        table_print(f, &t);
    }

    if (priced) {
        json_t *pr = json_object_get(rep, "prices");
        double capc = jnum(cost, "capacity"), alloc = jnum(cost, "allocated");

        char prices[256];

        fmt_prices(pr, prices, sizeof(prices));
        fprintf(f, "\nCost (prices per hour: %s)\n", prices);
        t.ncol = 3;
        t.right = 0x6;
        fmt_num(capc, 2, a, sizeof(a));
        table_row(&t, (const char *[]){"capacity", a, ""});
        fmt_num(alloc, 2, b, sizeof(b));
        table_row(&t, (const char *[]){"allocated", b, fmt_pct(alloc, capc, p1, sizeof(p1))});
        fmt_num(jnum(cost, "idle"), 2, c, sizeof(c));
        table_row(&t, (const char *[]){"idle", c, fmt_pct(jnum(cost, "idle"), capc, p2, 32)});
        fmt_num(jnum(cost, "wasted"), 2, d, sizeof(d));
        snprintf(e, sizeof(e), "%s of allocated",
                 fmt_pct(jnum(cost, "wasted"), alloc, p3, sizeof(p3)));
        table_row(&t, (const char *[]){"wasted (allocated, unused)", d, e});
        table_print(f, &t);
    }
    json_array_foreach(json_object_get(rep, "warnings"), i, w)
    {
        fprintf(f, "warning: %s\n", json_string_value(w));
    }
}

/* ---- csv ---- */

static void
csv_str(FILE *f, const char *s)
{
    if (strpbrk(s, ",\"\n\r") == NULL) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void
csv_group(FILE *f, const char *by, json_t *g, const char *key, json_t *allstates, bool priced)
{
    json_t *states = json_object_get(g, "states");
    const char *k;
    json_t *v;

    csv_str(f, by);
    fputc(',', f);
    csv_str(f, key ? key : jstr(g, "key"));
    fprintf(f, ",%lld", (long long)jnum(g, "tasks"));
    json_object_foreach(allstates, k, v)
    {
        fprintf(f, ",%lld", (long long)json_integer_value(json_object_get(states, k)));
    }
    fprintf(f, ",%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.0f,%.4f,%.4f", jnum(g, "cpus_allocated"),
            jnum(g, "cpus_used"), efficiency(g, "cpus"), jnum(g, "mem_allocated"),
            jnum(g, "mem_used"), efficiency(g, "mem"), jnum(g, "mem_peak_bytes"),
            jnum(g, "disk_allocated"), jnum(g, "gpus_allocated"));
    if (priced)
        fprintf(f, ",%.4f,%.4f", jnum(g, "cost"), jnum(g, "cost_wasted"));
    fputc('\n', f);
}

static void
render_csv(FILE *f, json_t *rep)
{
    json_t *cl = json_object_get(rep, "cluster"), *total = json_object_get(rep, "total");
    json_t *allstates, *g, *pr = json_object_get(rep, "prices");
    const char *by = jstr(rep, "by"), *k;
    bool priced = !jnull(rep, "cost");
    json_t *v;
    size_t i;

    if (strcmp(by, "cluster") == 0) {
        fprintf(f, "resource,unit,capacity,allocated,used,idle,unused%s\n",
                priced ? ",capacity_cost,allocated_cost,idle_cost,wasted_cost" : "");
        for (int r = 0; r < REPORT_NRES; r++) {
            json_t *x = json_object_get(cl, res_names[r]);
            double price = jnum(pr, res_names[r]);

            fprintf(f, "%s,%s,%.4f,%.4f,", res_names[r], jstr(x, "unit"), jnum(x, "capacity"),
                    jnum(x, "allocated"));
            if (!jnull(x, "used"))
                fprintf(f, "%.4f", jnum(x, "used"));
            fprintf(f, ",%.4f,", jnum(x, "idle"));
            if (!jnull(x, "unused"))
                fprintf(f, "%.4f", jnum(x, "unused"));
            if (priced)
                fprintf(f, ",%.4f,%.4f,%.4f,%.4f", jnum(x, "capacity") * price,
                        jnum(x, "allocated") * price, jnum(x, "idle") * price,
                        jnum(x, "unused") * price);
            fputc('\n', f);
        }
        return;
    }
    allstates = json_object_get(total, "states");
    fprintf(f, "by,key,tasks");
    json_object_foreach(allstates, k, v)
    {
        fprintf(f, ",tasks_%s", strncmp(k, "TASK_", 5) == 0 ? k + 5 : k);
    }
    fprintf(f,
            ",cpu_hours_allocated,cpu_hours_used,cpu_efficiency,mem_gib_hours_allocated,"
            "mem_gib_hours_used,mem_efficiency,mem_peak_bytes,disk_gib_hours_allocated,"
            "gpu_hours_allocated%s\n",
            priced ? ",cost,cost_wasted" : "");
    json_array_foreach(json_object_get(rep, "groups"), i, g)
    {
        csv_group(f, by, g, NULL, allstates, priced);
    }
    g = json_object_get(rep, "other");
    if (g && !json_is_null(g))
        csv_group(f, by, g, "(other)", allstates, priced);
    csv_group(f, by, total, "(total)", allstates, priced);
}

/* ---- html ---- */

static const char *const palette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                                      "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};

static void
html_esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

/* A round axis maximum >= v and its tick step (1, 2 or 5 x 10^k, 4-5 ticks). */
static double
nice_max(double v, double *step)
{
    double mag, f;

    if (!(v > 0))
        v = 1;
    mag = pow(10, floor(log10(v / 4)));
    f = v / 4 / mag;
    *step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
    return ceil(v / *step) * *step;
}

/* Decimals that tell apart the ticks of an axis with this step. */
static int
step_dec(double step)
{
    int dec = 0;

    while (dec < 6 && step * pow(10, dec) < 0.999)
        dec++;
    return dec;
}

#define SVG_W 960
#define SVG_L 70
#define SVG_R 20

/* Utilization over time: allocation of `res` stacked by role, capacity as a line. */
static void
svg_timeline(FILE *f, json_t *tl, const char *res, const char *unit)
{
    json_t *roles = json_object_get(tl, "roles"), *cap, *role;
    int nb = (int)jnum(tl, "buckets"), H = 300, T = 16, B = 34, ph = H - T - B;
    double pw = SVG_W - SVG_L - SVG_R, ymax = 0, step, *base;
    int64_t start = (int64_t)jnum(tl, "start_ms"), bms = (int64_t)jnum(tl, "bucket_ms");
    size_t ri;

    if (nb <= 0)
        return;
    cap = json_object_get(json_object_get(tl, "capacity"), res);
    base = calloc((size_t)nb, sizeof(double));
    if (base == NULL)
        return;
    for (int j = 0; j < nb; j++) {
        double sum = 0;
        json_array_foreach(roles, ri, role)
        {
            sum += json_number_value(json_array_get(json_object_get(role, res), (size_t)j));
        }
        double c = json_number_value(json_array_get(cap, (size_t)j));
        if (sum > ymax)
            ymax = sum;
        if (c > ymax)
            ymax = c;
    }
    ymax = nice_max(ymax, &step);
#define X(j) (SVG_L + pw * (double)(j) / nb)
#define Y(v) (T + ph - ph * (v) / ymax)
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n",
            SVG_W, H + 24, SVG_W, H + 24);
    for (double v = 0; v <= ymax * 1.0001; v += step) {
        char lab[32];
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>", SVG_L,
                SVG_W - SVG_R, Y(v), Y(v));
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", SVG_L - 6, Y(v) + 4,
                fmt_num(v, step_dec(step), lab, sizeof(lab)));
    }
    json_array_foreach(roles, ri, role)
    {
        json_t *vals = json_object_get(role, res);

        fprintf(f, "<polygon fill=\"%s\" fill-opacity=\"0.85\" points=\"",
                palette[ri % (sizeof(palette) / sizeof(palette[0]))]);
        for (int j = 0; j < nb; j++) {
            double top = base[j] + json_number_value(json_array_get(vals, (size_t)j));
            fprintf(f, "%.1f,%.1f %.1f,%.1f ", X(j), Y(top), X(j + 1), Y(top));
        }
        for (int j = nb - 1; j >= 0; j--)
            fprintf(f, "%.1f,%.1f %.1f,%.1f ", X(j + 1), Y(base[j]), X(j), Y(base[j]));
        fprintf(f, "\"><title>");
        html_esc(f, jstr(role, "role"));
        fprintf(f, "</title></polygon>\n");
        for (int j = 0; j < nb; j++)
            base[j] += json_number_value(json_array_get(vals, (size_t)j));
    }
    fprintf(f, "<polyline fill=\"none\" stroke=\"#222\" stroke-width=\"1.5\" "
               "stroke-dasharray=\"5,3\" points=\"");
    for (int j = 0; j < nb; j++) {
        double c = json_number_value(json_array_get(cap, (size_t)j));
        fprintf(f, "%.1f,%.1f %.1f,%.1f ", X(j), Y(c), X(j + 1), Y(c));
    }
    fprintf(f, "\"/>\n");
    fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#444\"/>\n", SVG_L,
            SVG_W - SVG_R, T + ph, T + ph);
    for (int k = 0; k <= 6; k++) {
        char lab[32];
        int64_t ms = start + (int64_t)((double)bms * nb * k / 6);
        time_t s = (time_t)(ms / 1000);
        struct tm tm;

        gmtime_r(&s, &tm);
        strftime(lab, sizeof(lab), "%m-%d %H:%M", &tm);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">%s</text>", X(nb * k / 6.0),
                T + ph + 16,
                k == 0   ? "start"
                : k == 6 ? "end"
                         : "middle",
                lab);
    }
    fprintf(f,
            "<text x=\"12\" y=\"%d\" transform=\"rotate(-90 12 %d)\" "
            "text-anchor=\"middle\">%s</text>\n",
            T + ph / 2, T + ph / 2, unit);
    /* legend */
    {
        double x = SVG_L;
        json_array_foreach(roles, ri, role)
        {
            fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>", x,
                    H + 8, palette[ri % (sizeof(palette) / sizeof(palette[0]))]);
            fprintf(f, "<text x=\"%.1f\" y=\"%d\">", x + 14, H + 17);
            html_esc(f, jstr(role, "role")[0] ? jstr(role, "role") : "(none)");
            fprintf(f, "</text>");
            x += 24 + 7.0 * (double)strlen(jstr(role, "role"));
        }
        fprintf(f,
                "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#222\" "
                "stroke-dasharray=\"5,3\"/><text x=\"%.1f\" y=\"%d\">capacity</text>\n",
                x, x + 20, H + 13, H + 13, x + 24, H + 17);
    }
    fprintf(f, "</svg>\n");
#undef X
#undef Y
    free(base);
}

/* Allocated vs used per group (apps), horizontal bars. */
static void
svg_bars(FILE *f, json_t *groups, const char *res, const char *unit, size_t max)
{
    size_t n = json_array_size(groups), i;
    int row = 26, T = 10, L = 220, H;
    double vmax = 0, step, pw = SVG_W - L - 110;
    char ka[32], ku[32];
    json_t *g;

    snprintf(ka, sizeof(ka), "%s_allocated", res);
    snprintf(ku, sizeof(ku), "%s_used", res);
    if (n > max)
        n = max;
    if (n == 0)
        return;
    for (i = 0; i < n; i++) {
        g = json_array_get(groups, i);
        vmax = fmax(vmax, fmax(jnum(g, ka), jnum(g, ku)));
    }
    vmax = nice_max(vmax, &step);
    H = T + row * (int)n + 40;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n",
            SVG_W, H, SVG_W, H);
    for (i = 0; i < n; i++) {
        char k[40], va[32], vu[32];
        const char *key;
        double alloc, used;
        int y = T + row * (int)i;

        g = json_array_get(groups, i);
        alloc = jnum(g, ka);
        used = jnum(g, ku);
        key = jstr(g, "key");
        snprintf(k, sizeof(k), "%s%s", strlen(key) > 34 ? "..." : "",
                 strlen(key) > 34 ? key + strlen(key) - 31 : key);
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", L - 6, y + 14);
        html_esc(f, k);
        fprintf(f, "<title>");
        html_esc(f, key);
        fprintf(f, "</title></text>");
        fprintf(f,
                "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"10\" fill=\"#a0cbe8\">"
                "<title>allocated</title></rect>",
                L, y + 2, pw * alloc / vmax);
        fprintf(f,
                "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"10\" fill=\"#4e79a7\">"
                "<title>used</title></rect>",
                L, y + 12, pw * used / vmax);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\">%s / %s (%.0f%%)</text>\n",
                L + pw * fmax(alloc, used) / vmax + 6, y + 15,
                fmt_num(alloc, hours_dec(vmax), va, sizeof(va)),
                fmt_num(used, hours_dec(vmax), vu, sizeof(vu)), alloc > 0 ? 100 * used / alloc : 0);
    }
    for (double v = 0; v <= vmax * 1.0001; v += step) {
        char lab[32];
        double x = L + pw * v / vmax;
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#ccc\"/>", x, x, T,
                T + row * (int)n);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", x,
                T + row * (int)n + 14, fmt_num(v, step_dec(step), lab, sizeof(lab)));
    }
    fprintf(f,
            "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"#a0cbe8\"/>"
            "<text x=\"%d\" y=\"%d\">allocated %s</text>"
            "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"#4e79a7\"/>"
            "<text x=\"%d\" y=\"%d\">used %s</text>\n",
            L, H - 16, L + 14, H - 7, unit, L + 200, H - 16, L + 214, H - 7, unit);
    fprintf(f, "</svg>\n");
}

/* Slurm-style utilization bars: used, allocated but unused, idle. */
static void
svg_utilization(FILE *f, json_t *cl)
{
    int row = 30, L = 70, n = 0;
    double pw = SVG_W - L - 260;

    for (int r = 0; r < REPORT_NRES; r++)
        n += resource_present(cl, r);
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n",
            SVG_W, row * n + 30, SVG_W, row * n + 30);
    n = 0;
    for (int r = 0; r < REPORT_NRES; r++) {
        json_t *x = json_object_get(cl, res_names[r]);
        double cap = jnum(x, "capacity"), alloc = jnum(x, "allocated"), used = jnum(x, "used");
        double scale = cap > 0 ? pw / fmax(cap, alloc) : 0;
        int y;
        char p[32];

        if (!resource_present(cl, r))
            continue;
        y = 6 + row * n++;
        if (jnull(x, "used"))
            used = 0;
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>", L - 6, y + 14,
                res_names[r]);
        fprintf(f,
                "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"18\" fill=\"#eee\" "
                "stroke=\"#bbb\"><title>capacity</title></rect>",
                L, y, cap * scale);
        fprintf(f,
                "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"18\" fill=\"#a0cbe8\">"
                "<title>allocated</title></rect>",
                L, y, alloc * scale);
        fprintf(f,
                "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"18\" fill=\"#4e79a7\">"
                "<title>used</title></rect>",
                L, y, fmin(used, alloc) * scale);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\">allocated %s", L + pw + 8, y + 14,
                fmt_pct(alloc, cap, p, sizeof(p)));
        if (!jnull(x, "used"))
            fprintf(f, ", used %s", fmt_pct(used, cap, p, sizeof(p)));
        fprintf(f, "</text>\n");
    }
    fprintf(f,
            "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"#4e79a7\"/>"
            "<text x=\"%d\" y=\"%d\">used</text>"
            "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"#a0cbe8\"/>"
            "<text x=\"%d\" y=\"%d\">allocated, unused</text>"
            "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"#eee\" "
            "stroke=\"#bbb\"/><text x=\"%d\" y=\"%d\">idle</text>\n",
            L, row * n + 12, L + 14, row * n + 21, L + 70, row * n + 12, L + 84, row * n + 21,
            L + 200, row * n + 12, L + 214, row * n + 21);
    fprintf(f, "</svg>\n");
}

static void
html_group_row(FILE *f, json_t *g, bool priced, int dec, const char *label)
{
    char c[10][64], states[512];

    fmt_states(json_object_get(g, "states"), states, sizeof(states));
    fprintf(f, "<tr><td>");
    html_esc(f, label ? label : jstr(g, "key"));
    fprintf(f,
            "</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
            "<td>%s</td><td>%s</td>",
            fmt_num(jnum(g, "tasks"), 0, c[0], 64),
            fmt_num(jnum(g, "cpus_allocated"), dec, c[1], 64),
            fmt_num(jnum(g, "cpus_used"), dec, c[2], 64),
            fmt_pct(jnum(g, "cpus_used"), jnum(g, "cpus_allocated"), c[3], 64),
            fmt_num(jnum(g, "mem_allocated"), dec, c[4], 64),
            fmt_num(jnum(g, "mem_used"), dec, c[5], 64),
            fmt_pct(jnum(g, "mem_used"), jnum(g, "mem_allocated"), c[6], 64),
            fmt_bytes(jnum(g, "mem_peak_bytes"), c[7], 64));
    if (priced)
        fprintf(f, "<td>%s</td><td>%s</td>", fmt_num(jnum(g, "cost"), 2, c[8], 64),
                fmt_num(jnum(g, "cost_wasted"), 2, c[9], 64));
    fprintf(f, "<td class=\"l\">");
    html_esc(f, states);
    fprintf(f, "</td></tr>\n");
}

static void
render_html(FILE *f, json_t *rep, json_t *apps)
{
    json_t *cl = json_object_get(rep, "cluster"), *cost = json_object_get(rep, "cost");
    json_t *tl = json_object_get(rep, "timeline"), *g, *w;
    const char *by = jstr(rep, "by");
    bool priced = !jnull(rep, "cost");
    char a[64], b[64], c[64], d[64], p[32], states[1024];
    int dec = report_dec(rep);
    size_t i;

    fmt_short_time((int64_t)jnum(rep, "window.since_ms"), a, sizeof(a));
    fmt_short_time((int64_t)jnum(rep, "window.until_ms"), b, sizeof(b));
    fprintf(f,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            "<title>Agora accounting %s .. %s UTC</title>\n<style>\n"
            "body{font-family:sans-serif;margin:24px;color:#222;max-width:1000px}\n"
            "table{border-collapse:collapse;margin:8px 0 16px}\n"
            "th,td{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}\n"
            "th{background:#f3f3f3}td.l,th.l,td:first-child{text-align:left}\n"
            "h2{margin-top:28px;font-size:18px}.muted{color:#777}\n"
            "</style></head><body>\n",
            a, b);
    fprintf(
        f,
        "<h1>Agora accounting report</h1>\n<p>%s .. %s UTC (%s hours), by %s, "
        "%lld agents.</p>\n",
        a, b,
        fmt_num(jnum(rep, "window.hours"), jnum(rep, "window.hours") >= 1 ? 1 : 3, c, sizeof(c)),
        by, (long long)jnum(cl, "agents"));

    fprintf(f, "<h2>Cluster utilization</h2>\n<table><tr><th>resource</th><th>unit</th>"
               "<th>capacity</th><th>allocated</th><th>used</th><th>idle</th></tr>\n");
    for (int r = 0; r < REPORT_NRES; r++) {
        json_t *x = json_object_get(cl, res_names[r]);
        double cap = jnum(x, "capacity");

        if (!resource_present(cl, r))
            continue;
        fprintf(f, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s (%s)</td>", res_names[r],
                jstr(x, "unit"), fmt_num(cap, dec, a, 64),
                fmt_num(jnum(x, "allocated"), dec, b, 64),
                fmt_pct(jnum(x, "allocated"), cap, p, sizeof(p)));
        if (jnull(x, "used"))
            fprintf(f, "<td>-</td>");
        else
            fprintf(f, "<td>%s (%s)</td>", fmt_num(jnum(x, "used"), dec, c, 64),
                    fmt_pct(jnum(x, "used"), cap, p, sizeof(p)));
        fprintf(f, "<td>%s (%s)</td></tr>\n", fmt_num(jnum(x, "idle"), dec, d, 64),
                fmt_pct(jnum(x, "idle"), cap, p, sizeof(p)));
    }
    fprintf(f, "</table>\n");
    svg_utilization(f, cl);
    fmt_states(json_object_get(cl, "states"), states, sizeof(states));
    fprintf(f, "<p>Tasks: %s", fmt_num(jnum(cl, "tasks"), 0, a, sizeof(a)));
    if (states[0]) {
        fprintf(f, " (");
        html_esc(f, states);
        fprintf(f, ")");
    }
    fprintf(f, "; peak task memory %s.</p>\n", fmt_bytes(jnum(cl, "mem_peak_bytes"), b, sizeof(b)));

    if (tl && !json_is_null(tl)) {
        fprintf(f, "<h2>Utilization over time: cpus allocated by role</h2>\n");
        svg_timeline(f, tl, "cpus", "cpus");
        fprintf(f, "<h2>Utilization over time: memory allocated by role</h2>\n");
        svg_timeline(f, tl, "mem", "GiB");
    }
    if (apps && json_array_size(json_object_get(apps, "groups")) > 0) {
        fprintf(f, "<h2>Allocated vs used per app: cpu-hours</h2>\n");
        svg_bars(f, json_object_get(apps, "groups"), "cpus", "cpu-hours", 20);
        fprintf(f, "<h2>Allocated vs used per app: memory GiB-hours</h2>\n");
        svg_bars(f, json_object_get(apps, "groups"), "mem", "GiB-hours", 20);
    }

    if (strcmp(by, "cluster") != 0) {
        fprintf(f, "<h2>By ");
        html_esc(f, by);
        fprintf(f, "</h2>\n<table><tr><th class=\"l\">");
        html_esc(f, by);
        fprintf(f,
                "</th><th>tasks</th><th>cpu-h alloc</th><th>cpu-h used</th><th>cpu eff</th>"
                "<th>GiB-h alloc</th><th>GiB-h used</th><th>mem eff</th><th>peak mem</th>"
                "%s<th class=\"l\">final states</th></tr>\n",
                priced ? "<th>cost</th><th>wasted</th>" : "");
        json_array_foreach(json_object_get(rep, "groups"), i, g)
        {
            html_group_row(f, g, priced, dec, NULL);
        }
        g = json_object_get(rep, "other");
        if (g && !json_is_null(g)) {
            snprintf(a, sizeof(a), "(%lld others)", (long long)jnum(g, "groups"));
            html_group_row(f, g, priced, dec, a);
        }
        html_group_row(f, json_object_get(rep, "total"), priced, dec, "total");
        fprintf(f, "</table>\n");
    }
    if (priced) {
        json_t *pr = json_object_get(rep, "prices");
        double capc = jnum(cost, "capacity"), alloc = jnum(cost, "allocated");

        char prices[256];

        fmt_prices(pr, prices, sizeof(prices));
        fprintf(f, "<h2>Cost</h2>\n<p class=\"muted\">Prices per hour: %s.</p>\n<table>", prices);
        fprintf(f, "<tr><td>capacity</td><td>%s</td><td></td></tr>\n", fmt_num(capc, 2, a, 64));
        fprintf(f, "<tr><td>allocated</td><td>%s</td><td>%s</td></tr>\n", fmt_num(alloc, 2, b, 64),
                fmt_pct(alloc, capc, p, sizeof(p)));
        fprintf(f, "<tr><td>idle</td><td>%s</td><td>%s</td></tr>\n",
                fmt_num(jnum(cost, "idle"), 2, c, 64),
                fmt_pct(jnum(cost, "idle"), capc, p, sizeof(p)));
        fprintf(f,
                "<tr><td>wasted (allocated, unused)</td><td>%s</td><td>%s of allocated</td>"
                "</tr>\n</table>\n",
                fmt_num(jnum(cost, "wasted"), 2, d, 64),
                fmt_pct(jnum(cost, "wasted"), alloc, p, sizeof(p)));
    }
    json_array_foreach(json_object_get(rep, "warnings"), i, w)
    {
        fprintf(f, "<p><b>Warning:</b> ");
        html_esc(f, json_string_value(w));
        fprintf(f, "</p>\n");
    }
    fprintf(f, "<p class=\"muted\">Generated by agora report. Allocation is counted from task "
               "start to end, clipped to the window; used is measured by the agents.</p>\n"
               "</body></html>\n");
}

int
report_render(FILE *f, enum report_format fmt, json_t *rep, json_t *apps)
{
    switch (fmt) {
    case REPORT_TABLE:
        render_table(f, rep);
        break;
    case REPORT_CSV:
        render_csv(f, rep);
        break;
    case REPORT_JSON:
        if (json_dumpf(rep, f, JSON_INDENT(2) | JSON_REAL_PRECISION(12)) != 0)
            return -AG_EIO;
        fputc('\n', f);
        break;
    case REPORT_HTML:
        render_html(f, rep, apps);
        break;
    }
    return ferror(f) ? -AG_EIO : 0;
}

/* ---- agora report ---- */

static char *opt_db, *opt_work_dir, *opt_master, *opt_since, *opt_until, *opt_by, *opt_format;
static char *opt_price, *opt_output;
static int64_t opt_top, opt_timeline;

static const struct flag report_flags[] = {
    {"db", FLAG_STRING, &opt_db, NULL,
     "The accounting database to read (default: <work_dir>/accounting.db)."},
    {"work_dir", FLAG_STRING, &opt_work_dir, "/var/lib/agora/master",
     "The master's work directory, where accounting.db is by default."},
    {"master", FLAG_STRING, &opt_master, NULL,
     "Ask the master at HOST:PORT (GET /accounting/report) instead of reading the database."},
    {"since", FLAG_STRING, &opt_since, "7d",
     "Window start: a duration back from now (7d, 12h), a UTC date (2025-01-31) or time "
     "(2025-01-31T12:00Z), or @SECONDS."},
    {"until", FLAG_STRING, &opt_until, "now", "Window end (exclusive), same forms as --since."},
    {"by", FLAG_STRING, &opt_by, "cluster",
     "Grouping: cluster, role, framework, app, agent or task."},
    {"format", FLAG_STRING, &opt_format, "table", "Output: table, csv, json or html."},
    {"top", FLAG_INT64, &opt_top, "0",
     "Show the N largest groups and sum the rest as one row (0: all)."},
    {"price", FLAG_STRING, &opt_price, NULL,
     "Prices per unit-hour, e.g. cpus=0.031,mem=0.004,disk=0.0001 (mem and disk per GiB)."},
    {"timeline", FLAG_INT64, &opt_timeline, "-1",
     "Buckets of the allocation timeline (-1: 120 for html, none otherwise)."},
    {"output", FLAG_STRING, &opt_output, "-", "Write to this file instead of stdout (-)."},
    {NULL},
};

static void
url_add(char *url, size_t len, const char *key, const char *val)
{
    size_t off = strlen(url);

    if (val == NULL || val[0] == '\0')
        return;
    off += (size_t)snprintf(url + off, off < len ? len - off : 0,
                            "%s%s=", strchr(url, '?') ? "&" : "?", key);
    for (; *val && off + 4 < len; val++) {
        unsigned char ch = (unsigned char)*val;
        if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~')
            url[off++] = (char)ch;
        else
            off += (size_t)snprintf(url + off, len - off, "%%%02X", ch);
    }
    url[off < len ? off : len - 1] = '\0';
}

/* GET /accounting/report from the master for `q`. */
static int
fetch_report(const char *master, const struct report_query *q, const char *by, int top,
             int timeline, json_t **out, char *err, size_t errlen)
{
    char url[2048], since[48], until[48], topbuf[24], tlbuf[24];
    char *body = NULL;
    json_error_t jerr;
    int status, rc;

    snprintf(url, sizeof(url), "http://%s/accounting/report", master);
    snprintf(since, sizeof(since), "@%lld.%03lld", (long long)(q->since_ms / 1000),
             (long long)(q->since_ms % 1000));
    snprintf(until, sizeof(until), "@%lld.%03lld", (long long)(q->until_ms / 1000),
             (long long)(q->until_ms % 1000));
    snprintf(topbuf, sizeof(topbuf), "%d", top);
    snprintf(tlbuf, sizeof(tlbuf), "%d", timeline);
    url_add(url, sizeof(url), "since", since);
    url_add(url, sizeof(url), "until", until);
    url_add(url, sizeof(url), "by", by);
    url_add(url, sizeof(url), "top", topbuf);
    url_add(url, sizeof(url), "timeline", tlbuf);
    url_add(url, sizeof(url), "price", opt_price);
    rc = http_request("GET", url, NULL, NULL, 0, 60000, &status, &body, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "%.900s: %s", url, ag_strerror(rc));
        return rc;
    }
    *out = json_loads(body, 0, &jerr);
    if (status != 200 || *out == NULL) {
        json_t *msg = *out ? json_object_get(*out, "message") : NULL;
        snprintf(err, errlen, "%.700s: HTTP %d: %.200s", url, status,
                 msg ? json_string_value(msg) : (*out ? "unexpected answer" : jerr.text));
        json_decref(*out);
        *out = NULL;
        free(body);
        return -AG_EPROTO;
    }
    free(body);
    return 0;
}

static int64_t
wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int
report_main(int argc, char **argv)
{
    static const char *const fmts[] = {"table", "csv", "json", "html"};
    struct report_query q;
    enum report_format fmt = REPORT_TABLE;
    json_t *rep = NULL, *apps = NULL;
    sqlite3 *db = NULL;
    FILE *out = stdout;
    char err[1024], path[4096], tl[24], top[24];
    int rc, status = 1;
    size_t i;

    rc = flags_parse(report_flags, &argc, argv, err, sizeof(err));
    if (rc == FLAGS_HELP) {
        flags_usage(report_flags, "agora report",
                    "Accounting report: cluster utilization and, per group, resources "
                    "allocated and used, efficiency and cost.",
                    stdout);
        flags_free(report_flags);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "agora report: %s\n", err);
        goto out;
    }
    if (argc > 1) {
        fprintf(stderr, "agora report: unexpected argument \"%s\"\n", argv[1]);
        goto out;
    }
    for (i = 0; i < 4; i++)
        if (strcmp(opt_format, fmts[i]) == 0)
            break;
    if (i == 4) {
        fprintf(stderr, "agora report: bad --format \"%s\" (want table, csv, json or html)\n",
                opt_format);
        goto out;
    }
    fmt = (enum report_format)i;
    if (opt_timeline < 0)
        opt_timeline = fmt == REPORT_HTML ? 120 : 0;
    snprintf(tl, sizeof(tl), "%lld", (long long)opt_timeline);
    snprintf(top, sizeof(top), "%lld", (long long)opt_top);
    rc = report_query_parse(&q, wall_ms(), opt_since, opt_until, opt_by, top, opt_price, tl, err,
                            sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "agora report: %s\n", err);
        goto out;
    }
    if (opt_master != NULL) {
        rc = fetch_report(opt_master, &q, opt_by, q.top, q.timeline, &rep, err, sizeof(err));
        if (rc == 0 && fmt == REPORT_HTML)
            rc = fetch_report(opt_master, &q, "app", 20, 0, &apps, err, sizeof(err));
    } else {
        if (opt_db != NULL)
            snprintf(path, sizeof(path), "%s", opt_db);
        else
            snprintf(path, sizeof(path), "%s/accounting.db", opt_work_dir);
        rc = report_open(&db, path, err, sizeof(err));
        if (rc == 0)
            rc = report_compute(db, &q, &rep, err, sizeof(err));
        if (rc == 0 && fmt == REPORT_HTML) {
            struct report_query qa = q;
            qa.by = REPORT_BY_APP;
            qa.top = 20;
            qa.timeline = 0;
            rc = report_compute(db, &qa, &apps, err, sizeof(err));
        }
    }
    if (rc != 0) {
        fprintf(stderr, "agora report: %s\n", err);
        goto out;
    }
    if (strcmp(opt_output, "-") != 0 && (out = fopen(opt_output, "w")) == NULL) {
        fprintf(stderr, "agora report: %s: %s\n", opt_output, strerror(errno));
        out = stdout;
        goto out;
    }
    if (report_render(out, fmt, rep, apps) != 0 || fflush(out) != 0) {
        fprintf(stderr, "agora report: write failed: %s\n", strerror(errno));
        goto out;
    }
    status = 0;
out:
    if (out != stdout && fclose(out) != 0 && status == 0) {
        fprintf(stderr, "agora report: %s: %s\n", opt_output, strerror(errno));
        status = 1;
    }
    json_decref(rep);
    json_decref(apps);
    sqlite3_close(db);
    flags_free(report_flags);
    return status;
}
