#include "metrics.h"

#include "error.h"
#include "http.h"
#include "log.h"
#include "sorted.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define METRICS_PREFIX "agora_"

enum metrics_kind {
    METRICS_COUNTER,
    METRICS_GAUGE,
    METRICS_GAUGE_FN,
    METRICS_TIMER,
    METRICS_COUNTER_FN
};

struct metrics_counter {
    _Atomic uint64_t v;
};

struct metrics_gauge {
    _Atomic uint64_t bits; /* the double's bit pattern: always lock-free */
};

struct metrics_timer {
    uint64_t count;  /* lifetime */
    uint64_t sum_ns; /* lifetime; wraps after 584 years of samples */
    uint64_t last_ns;
    uint64_t window[METRICS_WINDOW]; /* ring of the last samples */
};

struct metrics_entry {
    char *name;
    char *prom; /* sanitized Prometheus name */
    enum metrics_kind kind;
    union {
        struct metrics_counter counter;
        struct metrics_gauge gauge;
        struct metrics_timer *timer;
        struct {
            double (*fn)(void *);
            void *arg;
        } gfn;
        struct {
            uint64_t (*fn)(void *);
            void *arg;
        } cfn;
    } u;
};

struct metrics {
    struct metrics_entry **v; /* sorted by name */
    size_t n;
    size_t cap;
    struct {
        void (*fn)(void *);
        void *arg;
    } collectors[METRICS_COLLECTORS];
    size_t ncollectors;
};

/* Percentiles rendered for timers, in per mille, with their labels. */
static const struct {
    unsigned permille;
    const char *key;
    const char *quantile;
} metrics_quantiles[] = {
    {500, "p50", "0.5"},
    {900, "p90", "0.9"},
    {990, "p99", "0.99"},
};

#define METRICS_NQ (sizeof(metrics_quantiles) / sizeof(metrics_quantiles[0]))

static uint64_t
metrics_dbits(double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof(u));
    return u;
}

static double
metrics_bitsd(uint64_t u)
{
    double d;

    memcpy(&d, &u, sizeof(d));
    return d;
}

struct metrics *
metrics_new(void)
{
    return calloc(1, sizeof(struct metrics));
}

static void
metrics_entry_free(struct metrics_entry *e)
{
    if (e == NULL)
        return;
    if (e->kind == METRICS_TIMER)
        free(e->u.timer);
    free(e->name);
    free(e->prom);
    free(e);
}

void
metrics_free(struct metrics *reg)
{
    if (reg == NULL)
        return;
    for (size_t i = 0; i < reg->n; i++)
        metrics_entry_free(reg->v[i]);
    free(reg->v);
    free(reg);
}

struct metrics_key {
    const struct metrics *reg;
    const char *name;
};

static int
metrics_key_cmp(const void *ctx, size_t i)
{
    const struct metrics_key *k = ctx;

    return strcmp(k->reg->v[i]->name, k->name);
}

/* Index of `name`, or of where it would be inserted (with *found false). */
static size_t
metrics_search(const struct metrics *reg, const char *name, bool *found)
{
    struct metrics_key k = {reg, name};

    return sorted_find(reg->n, metrics_key_cmp, &k, found);
}

static bool
metrics_valid_name(const char *name)
{
    size_t n;

    if (name == NULL)
        return false;
    n = strlen(name);
    return n > 0 && n <= METRICS_NAME_MAX &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-") ==
               n &&
           name[0] != '/' && name[n - 1] != '/';
}

static char *
metrics_sanitize(const char *name)
{
    size_t p = strlen(METRICS_PREFIX), n = strlen(name);
    char *s = malloc(p + n + 1);

    if (s == NULL)
        return NULL;
    memcpy(s, METRICS_PREFIX, p);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        s[p + i] = ok ? c : '_';
    }
    s[p + n] = '\0';
    return s;
}

/*
 * Finds or creates the entry for `name` of `kind`. Returns 0 and the entry;
 * -AG_EINVAL (bad name), -AG_EEXIST (taken by another kind, or a sanitized
 * clash), -AG_ENOMEM. *created tells whether it is new.
 */
static int
metrics_get(struct metrics *reg, const char *name, enum metrics_kind kind,
            struct metrics_entry **out, bool *created)
{
    struct metrics_entry *e;
    bool found;
    size_t at;

    *out = NULL;
    *created = false;
    if (reg == NULL || !metrics_valid_name(name))
        return -AG_EINVAL;
    at = metrics_search(reg, name, &found);
    if (found) {
        if (reg->v[at]->kind != kind)
            return -AG_EEXIST;
        *out = reg->v[at];
        return 0;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return -AG_ENOMEM;
    e->kind = kind;
    e->name = strdup(name);
    e->prom = metrics_sanitize(name);
    if (kind == METRICS_TIMER)
        e->u.timer = calloc(1, sizeof(struct metrics_timer));
    if (e->name == NULL || e->prom == NULL || (kind == METRICS_TIMER && e->u.timer == NULL)) {
        metrics_entry_free(e);
        return -AG_ENOMEM;
    }
    for (size_t i = 0; i < reg->n; i++) {
        if (strcmp(reg->v[i]->prom, e->prom) == 0) {
            metrics_entry_free(e);
            return -AG_EEXIST;
        }
    }
    if (reg->n == reg->cap) {
        size_t cap = reg->cap ? reg->cap * 2 : 32;
        struct metrics_entry **v = realloc(reg->v, cap * sizeof(*v));
        if (v == NULL) {
            metrics_entry_free(e);
            return -AG_ENOMEM;
        }
        reg->v = v;
        reg->cap = cap;
    }
    memmove(&reg->v[at + 1], &reg->v[at], (reg->n - at) * sizeof(reg->v[0]));
    reg->v[at] = e;
    reg->n++;
    *out = e;
    *created = true;
    return 0;
}

static struct metrics_entry *
metrics_get_logged(struct metrics *reg, const char *name, enum metrics_kind kind)
{
    static const char *const kinds[] = {"counter", "gauge", "gauge", "timer", "counter"};
    struct metrics_entry *e;
    bool created;
    int rc = metrics_get(reg, name, kind, &e, &created);

    if (rc != 0) {
        log_warn("metrics: cannot register %s name=\"%s\" error=\"%s\"", kinds[kind],
                 name != NULL ? name : "(null)",
                 rc == -AG_EEXIST ? "name taken by another metric" : ag_strerror(rc));
        return NULL;
    }
    return e;
}

struct metrics_counter *
metrics_counter(struct metrics *reg, const char *name)
{
    struct metrics_entry *e = metrics_get_logged(reg, name, METRICS_COUNTER);

    return e != NULL ? &e->u.counter : NULL;
}

struct metrics_gauge *
metrics_gauge(struct metrics *reg, const char *name)
{
    struct metrics_entry *e = metrics_get_logged(reg, name, METRICS_GAUGE);

    return e != NULL ? &e->u.gauge : NULL;
}

struct metrics_timer *
metrics_timer(struct metrics *reg, const char *name)
{
    struct metrics_entry *e = metrics_get_logged(reg, name, METRICS_TIMER);

    return e != NULL ? e->u.timer : NULL;
}

/* Creates the computed metric `name` of `kind` (which must be new).
 * Returns 0 and the entry, or as metrics_gauge_fn. */
static int
metrics_new_fn(struct metrics *reg, const char *name, enum metrics_kind kind, bool fn_set,
               struct metrics_entry **e)
{
    bool created;
    int rc;

    if (!fn_set)
        return -AG_EINVAL;
    rc = metrics_get(reg, name, kind, e, &created);
    if (rc == 0 && !created)
        rc = -AG_EEXIST;
    return rc;
}

int
metrics_gauge_fn(struct metrics *reg, const char *name, double (*fn)(void *arg), void *arg)
{
    struct metrics_entry *e;
    int rc = metrics_new_fn(reg, name, METRICS_GAUGE_FN, fn != NULL, &e);

    if (rc == 0) {
        e->u.gfn.fn = fn;
        e->u.gfn.arg = arg;
    }
    return rc;
}

int
metrics_counter_fn(struct metrics *reg, const char *name, uint64_t (*fn)(void *arg), void *arg)
{
    struct metrics_entry *e;
    int rc = metrics_new_fn(reg, name, METRICS_COUNTER_FN, fn != NULL, &e);

    if (rc == 0) {
        e->u.cfn.fn = fn;
        e->u.cfn.arg = arg;
    }
    return rc;
}

uint64_t
metrics_read_u64(void *p)
{
    return *(const uint64_t *)p;
}

int
metrics_counters_u64(struct metrics *reg, const struct metrics_u64 *v, size_t n)
{
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++)
        rc = metrics_counter_fn(reg, v[i].name, metrics_read_u64, v[i].count);
    return rc;
}

int
metrics_collector(struct metrics *reg, void (*fn)(void *arg), void *arg)
{
    if (reg == NULL || fn == NULL)
        return -AG_EINVAL;
    if (reg->ncollectors == METRICS_COLLECTORS)
        return -AG_ENOSPC;
    reg->collectors[reg->ncollectors].fn = fn;
    reg->collectors[reg->ncollectors].arg = arg;
    reg->ncollectors++;
    return 0;
}

static void
metrics_collect(struct metrics *reg)
{
    for (size_t i = 0; reg != NULL && i < reg->ncollectors; i++)
        reg->collectors[i].fn(reg->collectors[i].arg);
}

int
metrics_remove(struct metrics *reg, const char *name)
{
    bool found;
    size_t at;

    if (reg == NULL || name == NULL)
        return -AG_ENOENT;
    at = metrics_search(reg, name, &found);
    if (!found)
        return -AG_ENOENT;
    metrics_entry_free(reg->v[at]);
    memmove(&reg->v[at], &reg->v[at + 1], (reg->n - at - 1) * sizeof(reg->v[0]));
    reg->n--;
    return 0;
}

void
metrics_inc(struct metrics_counter *c)
{
    if (c != NULL)
        atomic_fetch_add_explicit(&c->v, 1, memory_order_relaxed);
}

void
metrics_add(struct metrics_counter *c, uint64_t n)
{
    if (c != NULL)
        atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}

uint64_t
metrics_counter_value(const struct metrics_counter *c)
{
    return c != NULL ? atomic_load_explicit(&c->v, memory_order_relaxed) : 0;
}

void
metrics_set(struct metrics_gauge *g, double v)
{
    if (g != NULL)
        atomic_store_explicit(&g->bits, metrics_dbits(v), memory_order_relaxed);
}

void
metrics_gauge_add(struct metrics_gauge *g, double delta)
{
    uint64_t old;

    if (g == NULL)
        return;
    old = atomic_load_explicit(&g->bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&g->bits, &old,
                                                  metrics_dbits(metrics_bitsd(old) + delta),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

double
metrics_gauge_value(const struct metrics_gauge *g)
{
    return g != NULL ? metrics_bitsd(atomic_load_explicit(&g->bits, memory_order_relaxed)) : 0;
}

void
metrics_record(struct metrics_timer *t, uint64_t ns)
{
    if (t == NULL)
        return;
    t->window[t->count % METRICS_WINDOW] = ns;
    t->count++;
    t->sum_ns += ns;
    t->last_ns = ns;
}

uint64_t
metrics_timer_count(const struct metrics_timer *t)
{
    return t != NULL ? t->count : 0;
}

uint64_t
metrics_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* A timer's window, summarized. */
struct metrics_summary {
    size_t n; /* samples in the window */
    double min_ms, max_ms, last_ms, sum_ms;
    double q_ms[METRICS_NQ];
};

static int
metrics_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static void
metrics_summarize(const struct metrics_timer *t, struct metrics_summary *s)
{
    uint64_t sorted[METRICS_WINDOW];

    memset(s, 0, sizeof(*s));
    s->sum_ms = (double)t->sum_ns / 1e6;
    s->n = t->count < METRICS_WINDOW ? (size_t)t->count : METRICS_WINDOW;
    if (s->n == 0)
        return;
    memcpy(sorted, t->window, s->n * sizeof(sorted[0]));
    qsort(sorted, s->n, sizeof(sorted[0]), metrics_cmp_u64);
    s->min_ms = (double)sorted[0] / 1e6;
    s->max_ms = (double)sorted[s->n - 1] / 1e6;
    s->last_ms = (double)t->last_ns / 1e6;
    for (size_t q = 0; q < METRICS_NQ; q++) {
        size_t rank = (metrics_quantiles[q].permille * s->n + 999) / 1000; /* nearest rank */
        s->q_ms[q] = (double)sorted[rank > 0 ? rank - 1 : 0] / 1e6;
    }
}

static json_t *
metrics_json_real(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* Adds `key` (built from `name` and `suffix`) = v to obj; steals v. */
static int
metrics_json_put(json_t *obj, const char *name, const char *suffix, json_t *v)
{
    char key[METRICS_NAME_MAX + 16];

    snprintf(key, sizeof(key), "%s%s", name, suffix);
    return v == NULL || json_object_set_new(obj, key, v) != 0 ? -AG_ENOMEM : 0;
}

json_t *
metrics_to_json(struct metrics *reg)
{
    json_t *obj = json_object();
    struct metrics_summary s;
    uint64_t c;
    int rc = 0;

    if (obj == NULL || reg == NULL)
        return obj;
    metrics_collect(reg);
    for (size_t i = 0; i < reg->n && rc == 0; i++) {
        const struct metrics_entry *e = reg->v[i];
        switch (e->kind) {
        case METRICS_COUNTER:
        case METRICS_COUNTER_FN:
            c = e->kind == METRICS_COUNTER ? metrics_counter_value(&e->u.counter)
                                           : e->u.cfn.fn(e->u.cfn.arg);
            rc = metrics_json_put(obj, e->name, "",
                                  json_integer(c > INT64_MAX ? INT64_MAX : (json_int_t)c));
            break;
        case METRICS_GAUGE:
            rc = metrics_json_put(obj, e->name, "",
                                  metrics_json_real(metrics_gauge_value(&e->u.gauge)));
            break;
        case METRICS_GAUGE_FN:
            rc = metrics_json_put(obj, e->name, "", metrics_json_real(e->u.gfn.fn(e->u.gfn.arg)));
            break;
        case METRICS_TIMER:
            metrics_summarize(e->u.timer, &s);
            c = e->u.timer->count;
            rc = metrics_json_put(obj, e->name, "/count",
                                  json_integer(c > INT64_MAX ? INT64_MAX : (json_int_t)c));
            if (rc == 0)
                rc = metrics_json_put(obj, e->name, "/sum", json_real(s.sum_ms));
            if (s.n == 0)
                break;
            if (rc == 0)
                rc = metrics_json_put(obj, e->name, "", json_real(s.last_ms));
            if (rc == 0)
                rc = metrics_json_put(obj, e->name, "/min", json_real(s.min_ms));
            if (rc == 0)
                rc = metrics_json_put(obj, e->name, "/max", json_real(s.max_ms));
            for (size_t q = 0; q < METRICS_NQ && rc == 0; q++) {
                char suffix[8];
                snprintf(suffix, sizeof(suffix), "/%s", metrics_quantiles[q].key);
                rc = metrics_json_put(obj, e->name, suffix, json_real(s.q_ms[q]));
            }
            break;
        }
    }
    if (rc != 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* Prometheus sample value: shortest round-trip text, NaN, +Inf or -Inf. */
static void
metrics_prom_double(FILE *f, double v)
{
    char buf[32];

    if (isnan(v)) {
        fputs("NaN", f);
        return;
    }
    if (isinf(v)) {
        fputs(v > 0 ? "+Inf" : "-Inf", f);
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, f);
}

int
metrics_to_prometheus(struct metrics *reg, char **out)
{
    struct metrics_summary s;
    size_t len = 0;
    FILE *f;

    *out = NULL;
    f = open_memstream(out, &len);
    if (f == NULL)
        return -AG_ENOMEM;
    metrics_collect(reg);
    for (size_t i = 0; reg != NULL && i < reg->n; i++) {
        const struct metrics_entry *e = reg->v[i];
        switch (e->kind) {
        case METRICS_COUNTER:
        case METRICS_COUNTER_FN:
            fprintf(f, "# TYPE %s counter\n%s %llu\n", e->prom, e->prom,
                    (unsigned long long)(e->kind == METRICS_COUNTER
                                             ? metrics_counter_value(&e->u.counter)
                                             : e->u.cfn.fn(e->u.cfn.arg)));
            break;
        case METRICS_GAUGE:
        case METRICS_GAUGE_FN:
            fprintf(f, "# TYPE %s gauge\n%s ", e->prom, e->prom);
            metrics_prom_double(f, e->kind == METRICS_GAUGE ? metrics_gauge_value(&e->u.gauge)
                                                            : e->u.gfn.fn(e->u.gfn.arg));
            fputc('\n', f);
            break;
        case METRICS_TIMER:
            metrics_summarize(e->u.timer, &s);
            fprintf(f, "# TYPE %s summary\n", e->prom);
            for (size_t q = 0; q < METRICS_NQ; q++) {
                fprintf(f, "%s{quantile=\"%s\"} ", e->prom, metrics_quantiles[q].quantile);
                metrics_prom_double(f, s.n > 0 ? s.q_ms[q] : NAN);
                fputc('\n', f);
            }
            fprintf(f, "%s_sum ", e->prom);
            metrics_prom_double(f, s.sum_ms);
            fprintf(f, "\n%s_count %llu\n", e->prom, (unsigned long long)e->u.timer->count);
            break;
        }
    }
    if (ferror(f)) {
        fclose(f);
        free(*out);
        *out = NULL;
        return -AG_ENOMEM;
    }
    if (fclose(f) != 0) {
        free(*out);
        *out = NULL;
        return -AG_ENOMEM;
    }
    return 0;
}

void
metrics_reply(struct metrics *reg, struct http_req *req, const char *fmt, bool prometheus)
{
    char *text = NULL;
    json_t *obj;

    if (fmt != NULL && strcmp(fmt, "prometheus") == 0)
        prometheus = true;
    else if (fmt != NULL && strcmp(fmt, "json") == 0)
        prometheus = false;
    if (!prometheus) {
        obj = metrics_to_json(reg);
        if (obj == NULL)
            http_reply_error(req, 500, "out of memory");
        else
            http_reply_json(req, 200, obj);
        return;
    }
    if (metrics_to_prometheus(reg, &text) != 0) {
        http_reply_error(req, 500, "out of memory");
        return;
    }
    http_reply_text(req, 200, "text/plain; version=0.0.4", text, strlen(text));
    free(text);
}
