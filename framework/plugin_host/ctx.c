/*
 * The functions <agora/plugin.h> gives plugins. They are exported from the
 * agora-scheduler executable (plugin_host.dynlist) and bound when a plugin is
 * loaded.
 */
#include "host.h"

#include "log.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t
host_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
host_leave(struct ag_plugin_ctx *h, const char *what)
{
    if (h->store != NULL && store_in_txn(h->store)) {
        log_warn("plugin %s: a key-value transaction was left open by %s; rolled back", h->p->name,
                 what);
        store_rollback(h->store);
    }
    pthread_mutex_unlock(&h->plugin_lock);
}

void
host_timers_free(struct ag_plugin_ctx *h)
{
    struct host_timer *t, *next;

    pthread_mutex_lock(&h->lock);
    for (t = h->timers; t != NULL; t = next) {
        next = t->next;
        free(t);
    }
    h->timers = NULL;
    h->closed = true;
    pthread_mutex_unlock(&h->lock);
}

/* ---- the run ---- */

struct ag_driver *
ag_plugin_driver(struct ag_plugin_ctx *ctx)
{
    return ctx != NULL ? ctx->driver : NULL;
}

const char *
ag_plugin_name(struct ag_plugin_ctx *ctx)
{
    return ctx != NULL ? ctx->name : "";
}

void
ag_plugin_exit(struct ag_plugin_ctx *ctx, int code)
{
    if (ctx == NULL)
        return;
    if (code < 0 || code > 125) {
        log_warn("plugin %s: exit code %d out of range 0..125; using 1", ctx->p->name, code);
        code = 1;
    }
    pthread_mutex_lock(&ctx->plugin_lock);
    ctx->quiet = true;
    pthread_mutex_unlock(&ctx->plugin_lock);
    pthread_mutex_lock(&ctx->lock);
    if (!ctx->exit_requested) {
        ctx->exit_requested = true;
        ctx->exit_code = code;
        pthread_cond_broadcast(&ctx->cond);
    }
    pthread_mutex_unlock(&ctx->lock);
}

/* ---- logging ---- */

void
ag_plugin_log(struct ag_plugin_ctx *ctx, enum ag_plugin_log_level level, const char *fmt, ...)
{
    static const enum ag_log_level map[] = {AG_LOG_DEBUG, AG_LOG_INFO, AG_LOG_WARN, AG_LOG_ERROR};
    char buf[4096];
    va_list ap;

    if (fmt == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if ((unsigned)level > AG_PLUGIN_LOG_ERROR)
        level = AG_PLUGIN_LOG_ERROR;
    log_write(map[level], "plugin %s: %s", ctx != NULL ? ctx->p->name : "?", buf);
}

/* ---- timers ---- */

int
ag_plugin_after(struct ag_plugin_ctx *ctx, uint64_t ms, ag_plugin_timer_fn fn, void *arg,
                uint64_t *id)
{
    struct host_timer *t, **pp;

    if (ctx == NULL || fn == NULL)
        return -AG_EINVAL;
    if (ms > (uint64_t)1 << 40)
        ms = (uint64_t)1 << 40; /* about 35 years */
    if ((t = calloc(1, sizeof(*t))) == NULL)
        return -AG_ENOMEM;
    t->due_ms = host_now_ms() + ms;
    t->fn = fn;
    t->arg = arg;
    pthread_mutex_lock(&ctx->lock);
    if (ctx->closed) {
        pthread_mutex_unlock(&ctx->lock);
        free(t);
        return -AG_ECLOSED;
    }
    t->id = ++ctx->next_timer_id;
    /* After the timers due at the same time: they run in the order made. */
    for (pp = &ctx->timers; *pp != NULL && (*pp)->due_ms <= t->due_ms; pp = &(*pp)->next)
        ;
    t->next = *pp;
    *pp = t;
    if (id != NULL)
        *id = t->id;
    pthread_cond_broadcast(&ctx->cond);
    pthread_mutex_unlock(&ctx->lock);
    return 0;
}

int
ag_plugin_cancel(struct ag_plugin_ctx *ctx, uint64_t id)
{
    struct host_timer **pp, *t;
    int rv = -AG_ENOENT;

    if (ctx == NULL)
        return -AG_EINVAL;
    pthread_mutex_lock(&ctx->lock);
    for (pp = &ctx->timers; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            t = *pp;
            *pp = t->next;
            free(t);
            rv = 0;
            break;
        }
    }
    pthread_mutex_unlock(&ctx->lock);
    return rv;
}

/* ---- configuration ---- */

/* The value at dotted path `key`, or NULL. */
static json_t *
config_lookup(struct ag_plugin_ctx *ctx, const char *key)
{
    json_t *v = ctx->config;
    const char *p = key, *dot;
    char part[256];

    while (v != NULL && json_is_object(v)) {
        dot = strchr(p, '.');
        if (dot == NULL)
            return json_object_get(v, p);
        if ((size_t)(dot - p) >= sizeof(part))
            return NULL;
        memcpy(part, p, (size_t)(dot - p));
        part[dot - p] = '\0';
        v = json_object_get(v, part);
        p = dot + 1;
    }
    return NULL;
}

/* Looks `key` up under plugin_lock; NULL (with the lock released) when absent. */
static json_t *
config_enter(struct ag_plugin_ctx *ctx, const char *key)
{
    json_t *v;

    pthread_mutex_lock(&ctx->plugin_lock);
    v = key != NULL ? config_lookup(ctx, key) : NULL;
    if (v == NULL || json_is_null(v)) {
        pthread_mutex_unlock(&ctx->plugin_lock);
        return NULL;
    }
    return v;
}

static void
config_bad(struct ag_plugin_ctx *ctx, const char *key, const char *want)
{
    ctx->config_error = true;
    log_error("plugin %s: config: \"%s\" must be %s", ctx->p->name, key, want);
    pthread_mutex_unlock(&ctx->plugin_lock);
}

const char *
ag_plugin_config_string(struct ag_plugin_ctx *ctx, const char *key, const char *def)
{
    json_t *v;
    const char *s;

    if (ctx == NULL || (v = config_enter(ctx, key)) == NULL)
        return def;
    if (!json_is_string(v)) {
        config_bad(ctx, key, "a string");
        return def;
    }
    s = json_string_value(v); /* lives as long as the config, which outlives fini */
    pthread_mutex_unlock(&ctx->plugin_lock);
    return s;
}

int64_t
ag_plugin_config_int(struct ag_plugin_ctx *ctx, const char *key, int64_t def)
{
    json_t *v;
    int64_t r;

    if (ctx == NULL || (v = config_enter(ctx, key)) == NULL)
        return def;
    if (json_is_integer(v)) {
        r = json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
               fabs(json_real_value(v)) < 9e15) {
        r = (int64_t)json_real_value(v);
    } else {
        config_bad(ctx, key, "a whole number");
        return def;
    }
    pthread_mutex_unlock(&ctx->plugin_lock);
    return r;
}

double
ag_plugin_config_double(struct ag_plugin_ctx *ctx, const char *key, double def)
{
    json_t *v;
    double r;

    if (ctx == NULL || (v = config_enter(ctx, key)) == NULL)
        return def;
    if (!json_is_number(v)) {
        config_bad(ctx, key, "a number");
        return def;
    }
    r = json_number_value(v);
    pthread_mutex_unlock(&ctx->plugin_lock);
    return r;
}

bool
ag_plugin_config_bool(struct ag_plugin_ctx *ctx, const char *key, bool def)
{
    json_t *v;
    bool r;

    if (ctx == NULL || (v = config_enter(ctx, key)) == NULL)
        return def;
    if (!json_is_boolean(v)) {
        config_bad(ctx, key, "true or false");
        return def;
    }
    r = json_is_true(v);
    pthread_mutex_unlock(&ctx->plugin_lock);
    return r;
}

/* ---- the key-value store ---- */

/* Takes plugin_lock and checks the common arguments; on failure the lock is not held. */
static int
kv_enter(struct ag_plugin_ctx *ctx, const char *key, bool need_key)
{
    if (ctx == NULL || (need_key && (key == NULL || key[0] == '\0')))
        return -AG_EINVAL;
    pthread_mutex_lock(&ctx->plugin_lock);
    if (ctx->store == NULL) {
        pthread_mutex_unlock(&ctx->plugin_lock);
        return -AG_ECLOSED;
    }
    return 0;
}

int
ag_kv_get(struct ag_plugin_ctx *ctx, const char *key, char **value, size_t *len)
{
    int rv;

    if (value == NULL)
        return -AG_EINVAL;
    *value = NULL;
    if ((rv = kv_enter(ctx, key, true)) != 0)
        return rv;
    rv = store_kv_get(ctx->store, key, value, len);
    pthread_mutex_unlock(&ctx->plugin_lock);
    return rv;
}

int
ag_kv_put(struct ag_plugin_ctx *ctx, const char *key, const void *value, size_t len)
{
    int rv;

    if (value == NULL && len > 0)
        return -AG_EINVAL;
    if ((rv = kv_enter(ctx, key, true)) != 0)
        return rv;
    rv = store_kv_put(ctx->store, key, value, len);
    pthread_mutex_unlock(&ctx->plugin_lock);
    return rv;
}

int
ag_kv_put_str(struct ag_plugin_ctx *ctx, const char *key, const char *value)
{
    if (value == NULL)
        return -AG_EINVAL;
    return ag_kv_put(ctx, key, value, strlen(value));
}

int
ag_kv_del(struct ag_plugin_ctx *ctx, const char *key)
{
    int rv;

    if ((rv = kv_enter(ctx, key, true)) != 0)
        return rv;
    rv = store_kv_del(ctx->store, key);
    pthread_mutex_unlock(&ctx->plugin_lock);
    return rv;
}

int
ag_kv_list(struct ag_plugin_ctx *ctx, const char *prefix,
           int (*fn)(void *arg, const char *key, const void *value, size_t len), void *arg)
{
    int rv;

    if (fn == NULL)
        return -AG_EINVAL;
    if ((rv = kv_enter(ctx, NULL, false)) != 0)
        return rv;
    rv = store_kv_list(ctx->store, prefix, fn, arg);
    pthread_mutex_unlock(&ctx->plugin_lock);
    return rv;
}

int
ag_kv_begin(struct ag_plugin_ctx *ctx)
{
    int rv;

    if ((rv = kv_enter(ctx, NULL, false)) != 0)
        return rv;
    rv = store_in_txn(ctx->store) ? -AG_ESTATE : store_begin(ctx->store);
    pthread_mutex_unlock(&ctx->plugin_lock);
    return rv;
}

int
ag_kv_commit(struct ag_plugin_ctx *ctx)
{
    int rv;

    if ((rv = kv_enter(ctx, NULL, false)) != 0)
        return rv;
    rv = store_in_txn(ctx->store) ? store_commit(ctx->store) : -AG_ESTATE;
    pthread_mutex_unlock(&ctx->plugin_lock);
    return rv;
}

int
ag_kv_rollback(struct ag_plugin_ctx *ctx)
{
    int rv;

    if ((rv = kv_enter(ctx, NULL, false)) != 0)
        return rv;
    rv = store_rollback(ctx->store);
    pthread_mutex_unlock(&ctx->plugin_lock);
    return rv;
}
