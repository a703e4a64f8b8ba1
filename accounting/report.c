/*
 * The accounting report engine (report.h): report_open and report_compute.
 *
 * The computation makes one pass over the task intervals that overlap the
 * window (indexed by end time), one over the capacity intervals, and probes
 * the usage table (clustered by task and sample end) only for tasks that
 * cross an edge of the window: two index lookups at most per task.
 */
#include "report.h"

#include "error.h"
#include "hmap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MS_PER_HOUR 3600000.0
#define TIMELINE_ROLES 8 /* roles drawn by name; the rest as "(other)" */
#define MAX_STATES 24    /* distinct final states counted per group */

static const char *const res_units[REPORT_NRES] = {"cpu-hours", "GiB-hours", "GiB-hours",
                                                   "gpu-hours"};
/* Stored milli-units times ms into unit-hours (mem and disk are MiB -> GiB). */
static const double res_div[REPORT_NRES] = {1000.0 * MS_PER_HOUR, 1024000.0 * MS_PER_HOUR,
                                            1024000.0 * MS_PER_HOUR, 1000.0 * MS_PER_HOUR};

int
report_open(struct adb **out, const char *target, char *err, size_t errlen)
{
    return adb_open(out, target, ADB_READ, err, errlen);
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
    struct adb *db;
    const struct report_query *q;
    int64_t since, until; /* effective window */
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
    struct adb_rows *r;
    int rc;

    rc = adb_query(c->db, &r,
                   "SELECT start_ms, end_ms, cpu_ms, mem_kib_ms, cum_cpu_ms, cum_mem_kib_ms, "
                   "mem_peak FROM usage WHERE task = $1 AND end_ms >= $2 "
                   "ORDER BY end_ms LIMIT 1",
                   "ii", id, x);
    if (rc == 0 && (rc = adb_next(r)) == 1) {
        int64_t s = adb_int(r, 0), e = adb_int(r, 1);
        double dcpu = (double)adb_int(r, 2);
        double dmem = (double)adb_int(r, 3);
        double f = 1.0; /* share of the sample's interval after x */

        if (x >= e)
            f = 0;
        else if (x > s)
            f = (double)(e - x) / (double)(e - s);
        *cpu = (double)adb_int(r, 4) - dcpu * f;
        *mem = (double)adb_int(r, 5) - dmem * f;
        *peak = (double)adb_int(r, 6);
        adb_rows_free(r);
        return 0;
    }
    adb_rows_free(r);
    if (rc == 0)
        return 1; /* no sample ends at or after x */
    snprintf(c->err, c->errlen, "usage lookup: %s", adb_errmsg(c->db));
    return rc == -AG_ENOMEM ? rc : -AG_EDB;
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
    struct adb_rows *r;
    struct hmap seen;
    int rc;

    rc = adb_query(c->db, &r,
                   "SELECT agent_id, start_ms, end_ms, cpus, mem, disk, gpus "
                   "FROM capacity WHERE start_ms < $2 AND (end_ms IS NULL OR end_ms > $1)",
                   "ii", c->since, c->until);
    if (rc != 0) {
        snprintf(c->err, c->errlen, "capacity query: %s", adb_errmsg(c->db));
        return -AG_EDB;
    }
    hmap_init(&seen);
    while ((rc = adb_next(r)) == 1) {
        const char *agent = adb_text(r, 0);
        int64_t a = adb_int(r, 1), b;

        b = adb_is_null(r, 2) ? c->until : adb_int(r, 2);
        if (a < c->since)
            a = c->since;
        if (b > c->until)
            b = c->until;
        if (b <= a)
            continue;
        for (int i = 0; i < REPORT_NRES; i++)
            c->cap[i] += (double)adb_int(r, 3 + i) * (double)(b - a);
        if (c->nb > 0) {
            series_add(c, &c->cap_cpu, a, b, (double)adb_int(r, 3));
            series_add(c, &c->cap_mem, a, b, (double)adb_int(r, 4));
        }
        if (agent && hmap_get(&seen, agent) == NULL) {
            hmap_put(&seen, agent, &seen);
            c->agents++;
        }
    }
    hmap_fini(&seen);
    adb_rows_free(r);
    if (rc != 0) {
        snprintf(c->err, c->errlen, "capacity query: %s", adb_errmsg(c->db));
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

static int scan_task_rows(struct calc *c, struct adb_rows *r);

/*
 * The task intervals that overlap the window. A window covering most of the
 * history reads the table in order (a full scan is several times faster than
 * as many index lookups); a shorter one reads the tasks that ended after
 * `since` through the end-time index and the open ones through their partial
 * index. "Most" is judged on time: the window against the span from the
 * oldest task start to now. The index choices are SQLite's hints
 * (adb_phrase); PostgreSQL's planner makes its own.
 */
static int
scan_tasks(struct calc *c)
{
    char sql[2][512];
    int nsql = 1;
    struct adb_rows *r;
    int64_t oldest = c->since;
    int rc = 0;

    if (adb_query(c->db, &r, "SELECT min(start_ms) FROM tasks", NULL) == 0) {
        if (adb_next(r) == 1 && !adb_is_null(r, 0))
            oldest = adb_int(r, 0);
        adb_rows_free(r);
    }
    if (oldest < c->since &&
        (double)(c->until - c->since) < 0.5 * (double)(c->q->now_ms - oldest)) {
        snprintf(sql[0], sizeof(sql[0]), TASK_COLUMNS "%s WHERE end_ms >= $1 AND start_ms < $2",
                 adb_phrase(c->db, ADB_BY_END_INDEX));
        snprintf(sql[1], sizeof(sql[1]), TASK_COLUMNS "%s WHERE end_ms IS NULL AND start_ms < $1",
                 adb_phrase(c->db, ADB_BY_OPEN_INDEX));
        nsql = 2;
    } else {
        snprintf(sql[0], sizeof(sql[0]),
                 TASK_COLUMNS "%s WHERE (end_ms IS NULL OR end_ms >= $1) AND start_ms < $2",
                 adb_phrase(c->db, ADB_NOT_INDEXED));
    }
    for (int i = 0; i < nsql && rc == 0; i++) {
        /* every parameter must appear in its statement: the second has only `until` */
        if ((i == 0 ? adb_query(c->db, &r, sql[i], "ii", c->since, c->until)
                    : adb_query(c->db, &r, sql[i], "i", c->until)) != 0) {
            snprintf(c->err, c->errlen, "task query: %s", adb_errmsg(c->db));
            return -AG_EDB;
        }
        rc = scan_task_rows(c, r);
        adb_rows_free(r);
    }
    return rc;
}

/* Adds the intervals `st` returns to the groups, the cluster and the timeline. */
static int
scan_task_rows(struct calc *c, struct adb_rows *st)
{
    char keybuf[1024];
    int rc;

    while ((rc = adb_next(st)) == 1) {
        int64_t id = adb_int(st, T_ID);
        int64_t start = adb_int(st, T_START), end, a, b;
        int64_t last = adb_int(st, T_USAGE_MS);
        bool open = adb_is_null(st, T_END);
        double cpu_a = 0, mem_a = 0, cpu_b, mem_b, peak_b, peak_tmp, sc[REPORT_NRES];
        const char *key, *state;
        struct group *g;
        struct acc t;

        end = open ? c->q->now_ms : adb_int(st, T_END);
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
        cpu_b = (double)adb_int(st, T_CPU_MS);
        mem_b = (double)adb_int(st, T_MEM_KIB_MS);
        peak_b = (double)adb_int(st, T_PEAK);
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
            sc[i] = (double)adb_int(st, T_CPUS + i);
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
        state = !open && end <= c->until ? adb_text(st, T_STATE) : "RUNNING";
        acc_state(&t, intern_state(c, state ? state : "UNKNOWN"), 1);

        switch (c->q->by) {
        case REPORT_BY_CLUSTER:
            key = "cluster";
            break;
        case REPORT_BY_ROLE:
            key = adb_text(st, T_ROLE);
            break;
        case REPORT_BY_FRAMEWORK:
            key = adb_text(st, T_FW);
            break;
        case REPORT_BY_APP:
            key = adb_text(st, T_APP);
            if (key && key[0] == '\0')
                key = "(no app)";
            break;
        case REPORT_BY_AGENT:
            key = adb_text(st, T_AGENT);
            break;
        default:
            snprintf(keybuf, sizeof(keybuf), "%s/%s", adb_text(st, T_FW), adb_text(st, T_TASK));
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
            const char *role = adb_text(st, T_ROLE);
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
    if (rc != 0) {
        snprintf(c->err, c->errlen, "task query: %s", adb_errmsg(c->db));
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
    json_object_set_new(rep, "by", json_string(report_by_names[q->by]));
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
        json_object_set_new(cl, report_res_names[i], r);
        if (alloc > cap * (1 + 1e-9) + 1e-9) {
            snprintf(buf, sizeof(buf), "%s allocated exceeds capacity", report_res_names[i]);
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
            json_object_set_new(p, report_res_names[i], json_real(q->price[i]));
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
}

int
report_compute(struct adb *db, const struct report_query *q, json_t **out, char *err, size_t errlen)
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
    /* One read transaction, so both scans see the same state. */
    if ((rc = adb_begin_read(db)) != 0) {
        snprintf(err, errlen, "%s", adb_errmsg(db));
        goto out;
    }
    rc = scan_capacity(&c);
    if (rc == 0)
        rc = scan_tasks(&c);
    adb_end_read(db);
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
