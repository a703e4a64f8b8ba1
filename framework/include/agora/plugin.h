/*
 * Agora scheduler plugins: a framework written as a shared object that the
 * plugin host `agora-scheduler` loads, instead of a program of its own.
 *
 *   agora-scheduler --plugin=./myplugin.so --master=HOST:PORT [--config=FILE.json]
 *       [--work_dir=DIR]
 *
 * The host owns the driver (libagora-scheduler, <agora/scheduler.h>), keeps the
 * framework id in --work_dir so that a restarted host resumes the same
 * framework and its tasks, and gives the plugin a persistent key-value store,
 * timers, a logger and a way to end the run. docs/writing-a-scheduler.md walks
 * through a complete plugin.
 *
 * The ABI. A plugin exports one object, `agora_plugin`, of type
 * `struct ag_plugin` (use AG_PLUGIN_EXPORT so that it stays visible when the
 * plugin is built with -fvisibility=hidden). The host refuses a plugin without
 * that symbol, or whose `abi_version` differs from its AG_PLUGIN_ABI_VERSION,
 * or whose `size` is smaller than version 1 of the struct. Members may be added
 * at the end without changing the ABI version: `size` tells the host which
 * ones the plugin knows.
 *
 * Threads. The plugin's init, callbacks, timers and fini never run at the same
 * time: the host runs each under one lock, from the driver thread (callbacks)
 * or the host's main thread (init, timers, fini). Inside them every ag_driver_*
 * call may be made (see <agora/scheduler.h>). The functions below are safe
 * from any thread; called from a thread of the plugin's own they wait until
 * the callback running at the time (if any) has returned.
 *
 * Errors are the AG_E* codes of <agora/error.h>: 0 or a negative code.
 *
 * The ag_plugin_* and ag_kv_* functions are provided by the host program at
 * load time: build the plugin as a shared object that links libagora-scheduler
 * (`cc -shared -fPIC -o p.so p.c $(pkg-config --cflags --libs agora-scheduler)`)
 * and do not link it with -Wl,-z,defs.
 */
#ifndef AGORA_PLUGIN_H
#define AGORA_PLUGIN_H

#include <agora/error.h>
#include <agora/scheduler.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on every incompatible change of struct ag_plugin or of the functions
 * below; the host accepts only plugins built with its own value. */
#define AG_PLUGIN_ABI_VERSION 1

/* The name of the symbol the host looks up. */
#define AG_PLUGIN_SYMBOL "agora_plugin"

/* Put before the definition of `agora_plugin`. */
#define AG_PLUGIN_EXPORT __attribute__((visibility("default")))

/* What the host gives the plugin: opaque, valid from init to fini. */
struct ag_plugin_ctx;

/*
 * The descriptor. Every callback may be NULL (a NULL `offers` declines every
 * offer). `state` is what init stored in *state. Pointers passed in are valid
 * only during the call, as for the driver callbacks.
 */
struct ag_plugin {
    uint32_t abi_version; /* AG_PLUGIN_ABI_VERSION */
    uint32_t size;        /* sizeof(struct ag_plugin) */
    const char *name;     /* plugin and default framework name, e.g. "batch"; required */
    const char *version;  /* the plugin's own version, for logs (may be NULL) */

    /*
     * Called once before the driver starts. `config_json` is the text of
     * --config (a JSON value, "{}" without --config). Store the plugin's state
     * in *state. Driver calls fail here (-AG_ECLOSED): make them from
     * `subscribed`. Return 0, or non-zero after logging why (the host then
     * exits with status 2 without calling fini).
     */
    int (*init)(struct ag_plugin_ctx *ctx, const char *config_json, void **state);
    /* Called once at the end, after the driver has stopped: free the state. */
    void (*fini)(struct ag_plugin_ctx *ctx, void *state);

    /* The driver callbacks of <agora/scheduler.h>, with the plugin's state. */
    void (*subscribed)(struct ag_plugin_ctx *ctx, void *state, const char *framework_id,
                       bool resubscribed);
    void (*offers)(struct ag_plugin_ctx *ctx, void *state, const struct ag_offer *const *offers,
                   size_t n);
    void (*rescind)(struct ag_plugin_ctx *ctx, void *state, const char *offer_id);
    void (*status_update)(struct ag_plugin_ctx *ctx, void *state,
                          const struct ag_task_status *status);
    void (*framework_message)(struct ag_plugin_ctx *ctx, void *state, const char *agent_id,
                              const char *executor_id, const void *data, size_t len);
    void (*error)(struct ag_plugin_ctx *ctx, void *state, int code, const char *message,
                  bool fatal);
    void (*disconnected)(struct ag_plugin_ctx *ctx, void *state);
    void (*reconciled)(struct ag_plugin_ctx *ctx, void *state);
};

/* ---- the run ---- */

/* The driver, to make ag_driver_* calls. Automatic acknowledgement is on. */
struct ag_driver *ag_plugin_driver(struct ag_plugin_ctx *ctx);

/* The framework's name (--name, or the plugin's name). */
const char *ag_plugin_name(struct ag_plugin_ctx *ctx);

/*
 * Ends the run: the plugin's work is over. The host tears the framework down
 * (tasks still running are killed), calls fini, clears the state kept in
 * --work_dir (framework id and key-value store, so the next run starts anew)
 * and exits with `code` (0..125). No callback or timer runs after the current
 * one. Calling it again changes nothing.
 */
void ag_plugin_exit(struct ag_plugin_ctx *ctx, int code);

/* ---- logging ---- */

enum ag_plugin_log_level {
    AG_PLUGIN_LOG_DEBUG,
    AG_PLUGIN_LOG_INFO,
    AG_PLUGIN_LOG_WARN,
    AG_PLUGIN_LOG_ERROR,
};

/* Writes one line to the host's log (stderr), prefixed with the plugin's name. */
void ag_plugin_log(struct ag_plugin_ctx *ctx, enum ag_plugin_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define ag_plugin_debug(ctx, ...) ag_plugin_log((ctx), AG_PLUGIN_LOG_DEBUG, __VA_ARGS__)
#define ag_plugin_info(ctx, ...) ag_plugin_log((ctx), AG_PLUGIN_LOG_INFO, __VA_ARGS__)
#define ag_plugin_warn(ctx, ...) ag_plugin_log((ctx), AG_PLUGIN_LOG_WARN, __VA_ARGS__)
#define ag_plugin_error(ctx, ...) ag_plugin_log((ctx), AG_PLUGIN_LOG_ERROR, __VA_ARGS__)

/* ---- timers ---- */

typedef void (*ag_plugin_timer_fn)(struct ag_plugin_ctx *ctx, void *state, void *arg);

/*
 * Runs fn(ctx, state, arg) once, `ms` milliseconds from now (0: as soon as
 * possible), never at the same time as a callback. Sets *id (if not NULL) to a
 * non-zero id for ag_plugin_cancel. Timers do not survive the host: keep
 * deadlines in the key-value store and arm them again in init. Returns 0,
 * -AG_EINVAL, -AG_ENOMEM or -AG_ECLOSED when the run is ending.
 */
int ag_plugin_after(struct ag_plugin_ctx *ctx, uint64_t ms, ag_plugin_timer_fn fn, void *arg,
                    uint64_t *id);

/* Cancels a timer that has not run yet: 0, or -AG_ENOENT (already ran, or unknown). */
int ag_plugin_cancel(struct ag_plugin_ctx *ctx, uint64_t id);

/* ---- configuration ---- */

/*
 * Values of the --config JSON object by key: a member name, or a dotted path
 * into nested objects ("retry.max"). Each returns the value, or `def` when the
 * key is absent (or null). A value of another type is a configuration error:
 * it is logged, `def` is returned, and the host fails the init (exit status 2)
 * even if init returns 0. The string returned lives until fini.
 * ag_plugin_config_int accepts only whole numbers.
 */
const char *ag_plugin_config_string(struct ag_plugin_ctx *ctx, const char *key, const char *def);
int64_t ag_plugin_config_int(struct ag_plugin_ctx *ctx, const char *key, int64_t def);
double ag_plugin_config_double(struct ag_plugin_ctx *ctx, const char *key, double def);
bool ag_plugin_config_bool(struct ag_plugin_ctx *ctx, const char *key, bool def);

/* ---- the key-value store ---- */

/*
 * A persistent store for the plugin's own state, kept in SQLite in
 * --work_dir. A put, del or commit returns once the change is on disk (its
 * write-ahead log fsynced), so it survives kill -9 of the host and a power
 * cut, and the plugin may act on it at once. Keys are non-empty strings; values are
 * byte strings of any length (text or binary). Outside a transaction every
 * put and del is committed at once.
 */

/* Reads `key`: sets *value to a malloc'd copy (the caller frees it with
 * free(); a NUL byte follows the value so text can be used as a string) and
 * *len (may be NULL) to its length. Returns 0, -AG_ENOENT when absent,
 * -AG_EINVAL, -AG_ENOMEM or -AG_EDB (*value is then NULL). */
int ag_kv_get(struct ag_plugin_ctx *ctx, const char *key, char **value, size_t *len);

/* Sets `key` to `len` bytes at `value`. Returns 0, -AG_EINVAL, -AG_ENOMEM or
 * -AG_EDB / -AG_EIO / -AG_ENOSPC (nothing changed). */
int ag_kv_put(struct ag_plugin_ctx *ctx, const char *key, const void *value, size_t len);

/* ag_kv_put of a NUL-terminated string (without the NUL). */
int ag_kv_put_str(struct ag_plugin_ctx *ctx, const char *key, const char *value);

/* Removes `key`. Returns 0 (also when it was absent) or an error as put. */
int ag_kv_del(struct ag_plugin_ctx *ctx, const char *key);

/* Calls fn(arg, key, value, len) for every key starting with `prefix` ("" or
 * NULL: every key), in key order. The value is NUL-terminated and valid during
 * the call. Stops at the first non-zero return of fn and returns it; returns 0
 * when all were visited, or a negative error of the store. fn may read and
 * write the store. */
int ag_kv_list(struct ag_plugin_ctx *ctx, const char *prefix,
               int (*fn)(void *arg, const char *key, const void *value, size_t len), void *arg);

/*
 * Transactions: the puts and dels between begin and commit are applied all
 * together or not at all (also across a crash). Returns 0; begin returns
 * -AG_ESTATE when one is already open, commit -AG_ESTATE when none is. A
 * transaction still open when the callback (or timer) that began it returns
 * is rolled back, with a warning. So a transaction belongs inside one
 * callback, timer, init or fini, not across them or in a thread of the plugin.
 */
int ag_kv_begin(struct ag_plugin_ctx *ctx);
int ag_kv_commit(struct ag_plugin_ctx *ctx);
int ag_kv_rollback(struct ag_plugin_ctx *ctx);

#ifdef __cplusplus
}
#endif

#endif
