/*
 * example_util.h: helpers the example plugins batch and spread share. It is
 * part of the examples, not of the plugin ABI: nothing here is installed or
 * exported, and a plugin built out of tree uses it by copying this file beside
 * its source (`#include "example_util.h"`). Everything is `static inline`, so
 * a plugin carries only what it calls. It needs <agora/plugin.h> and jansson.
 *
 *   example_wall_now      the wall clock, in seconds (deadlines kept in the store)
 *   example_name_ok       a name of 1..max characters of [A-Za-z0-9_-]
 *   example_env_ok        a JSON "env" is absent or maps names to strings
 *   example_task_new      a task with resources, command and environment
 *   example_kv_save       a JSON record written to the plugin's key-value store
 *   example_kv_load       a JSON record read back from it
 *   example_revive        a timer callback that revives offers
 *   example_revive_at     arms it for a wall-clock deadline
 */
#ifndef AGORA_EXAMPLE_UTIL_H
#define AGORA_EXAMPLE_UTIL_H

#include <agora/plugin.h>

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The wall clock (CLOCK_REALTIME) in seconds. Deadlines that must survive a
 * restart of the host are kept in this clock, not a monotonic one. */
static inline double
example_wall_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Whether `s` is 1..`max` characters of [A-Za-z0-9_-] (safe in task ids and keys). */
static inline bool
example_name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n == 0 || n > max)
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

/* Whether `env` (a configuration's "env", NULL when absent) is NULL or an
 * object whose every value is a string. */
static inline bool
example_env_ok(json_t *env)
{
    const char *k;
    json_t *v;

    if (env == NULL)
        return true;
    if (!json_is_object(env))
        return false;
    json_object_foreach(env, k, v)
    {
        if (!json_is_string(v))
            return false;
    }
    return true;
}

/* A new task `id` that runs `command` (/bin/sh -c) with `resources`. Its
 * environment is `vars` (NULL-terminated name, value pairs; NULL for none),
 * then the members of `env` (an object checked by example_env_ok, or NULL).
 * Returns the task (the caller frees it with ag_task_free), or NULL when it
 * cannot be built (logged as "cannot build task ID: why", except running out
 * of memory for the task itself). */
static inline struct ag_task *
example_task_new(struct ag_plugin_ctx *ctx, const char *id, const char *resources,
                 const char *command, const char *const *vars, json_t *env)
{
    struct ag_task *t = ag_task_new(id, NULL, NULL);
    const char *k;
    json_t *v;
    int rv;

    if (t == NULL)
        return NULL;
    rv = ag_task_set_resources(t, resources);
    if (rv == 0)
        rv = ag_task_set_command(t, command);
    for (size_t i = 0; vars != NULL && vars[i] != NULL && rv == 0; i += 2)
        rv = ag_task_add_env(t, vars[i], vars[i + 1]);
    json_object_foreach(env, k, v)
    {
        if (rv == 0)
            rv = ag_task_add_env(t, k, json_string_value(v));
    }
    if (rv != 0) {
        ag_plugin_error(ctx, "cannot build task %s: %s", id, ag_last_error());
        ag_task_free(t);
        return NULL;
    }
    return t;
}

/* Writes the JSON object built by json_pack(`fmt`, ...) as the compact text
 * value of `key` (inside the caller's transaction, if one is open). Returns 0,
 * -AG_ENOMEM, or the store's error; a failure is logged ("cannot save KEY"). */
static inline int
example_kv_save(struct ag_plugin_ctx *ctx, const char *key, const char *fmt, ...)
{
    char *text;
    va_list ap;
    json_t *o;
    int rv;

    va_start(ap, fmt);
    o = json_vpack_ex(NULL, 0, fmt, ap);
    va_end(ap);
    text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    rv = text != NULL ? ag_kv_put_str(ctx, key, text) : -AG_ENOMEM;
    free(text);
    if (rv != 0)
        ag_plugin_error(ctx, "cannot save %s: %s", key, ag_strerror(rv));
    return rv;
}

/* Reads `key` as a JSON object and unpacks it with json_unpack(`fmt`, ...).
 * On success returns 0 and sets *obj to the object, which the caller must
 * json_decref once done with the strings unpacked from it. Returns the
 * store's error when the key is absent or unreadable (not logged), and
 * -AG_EINVAL when the value does not match `fmt` (logged as "ignoring
 * unreadable KEY"); on failure *obj is NULL, and some of the outputs may
 * have been written. */
static inline int
example_kv_load(struct ag_plugin_ctx *ctx, const char *key, json_t **obj, const char *fmt, ...)
{
    char *text = NULL;
    va_list ap;
    json_t *o;
    int rv;

    *obj = NULL;
    if ((rv = ag_kv_get(ctx, key, &text, NULL)) != 0)
        return rv;
    o = json_loads(text, 0, NULL);
    free(text);
    if (o != NULL) {
        va_start(ap, fmt);
        rv = json_vunpack_ex(o, NULL, 0, fmt, ap);
        va_end(ap);
    }
    if (o == NULL || rv != 0) {
        ag_plugin_warn(ctx, "ignoring unreadable %s", key);
        json_decref(o);
        return -AG_EINVAL;
    }
    *obj = o;
    return 0;
}

/* A timer callback (ag_plugin_timer_fn) that revives offers: a revive, not
 * ag_driver_want_offers, because it also clears the filters of declined offers. */
static inline void
example_revive(struct ag_plugin_ctx *ctx, void *state, void *arg)
{
    (void)state;
    (void)arg;
    ag_driver_revive(ag_plugin_driver(ctx), NULL);
}

/* Arms example_revive for just after wall-clock time `when` (at once if it
 * has passed). Returns ag_plugin_after's result. */
static inline int
example_revive_at(struct ag_plugin_ctx *ctx, double when)
{
    double delay = when - example_wall_now();

    if (delay < 0)
        delay = 0;
    return ag_plugin_after(ctx, (uint64_t)(delay * 1000) + 1, example_revive, NULL, NULL);
}

#endif /* AGORA_EXAMPLE_UTIL_H */
