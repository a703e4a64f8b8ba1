/*
 * The plugin host's shared state, which is also the `struct ag_plugin_ctx`
 * plugins receive (one per process). main.c runs the host; ctx.c implements
 * the functions <agora/plugin.h> gives plugins.
 *
 * Locks. `plugin_lock` (recursive) serializes everything that touches the
 * plugin or the store: init, each callback, each timer, fini, and the ag_kv_*
 * and ag_plugin_config_* functions. `lock` guards the control state below it
 * (timers, exit and stop requests) and is taken after `plugin_lock`, never
 * before: the main thread takes `plugin_lock` before it pops a due timer, so
 * that a cancel from inside a callback is never overtaken.
 *
 * States of a run (main.c):
 *   LOADED --init ok--> RUNNING --exit requested--> TEARING_DOWN --> done (state cleared)
 *                          |----signal------------> STOPPING -----> done (state kept)
 *                          |----fatal driver error-> FAILED -------> done (state kept)
 *                          '----driver stopped-----> FAILED -------> done (state kept)
 *   (host_run picks the transition, main() performs it.)
 * `quiet` is set on leaving RUNNING: callbacks and timers no longer reach the plugin.
 */
#ifndef AGORA_PLUGIN_HOST_HOST_H
#define AGORA_PLUGIN_HOST_HOST_H

#include "error.h"
#include "loader.h"
#include "store.h"

#include <agora/plugin.h>

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct host_timer {
    struct host_timer *next;
    uint64_t id;
    uint64_t due_ms; /* monotonic clock */
    ag_plugin_timer_fn fn;
    void *arg;
};

struct ag_plugin_ctx {
    /* Set up by main before any thread starts; read-only afterwards. */
    struct loaded_plugin lp;
    const struct ag_plugin *p; /* &lp.desc */
    struct ag_driver *driver;
    char *name;     /* framework name */
    json_t *config; /* the --config value */
    char *work_dir;

    /* Under plugin_lock. */
    pthread_mutex_t plugin_lock;
    void *state;         /* the plugin's, from init */
    struct store *store; /* NULL once closed */
    bool config_error;   /* a config getter met a value of the wrong type */
    bool quiet;          /* no more callbacks or timers */

    /* Under lock. */
    pthread_mutex_t lock;
    pthread_cond_t cond;       /* CLOCK_MONOTONIC; signalled on any change below */
    struct host_timer *timers; /* sorted by due_ms */
    uint64_t next_timer_id;
    bool closed;         /* no new timers */
    bool exit_requested; /* ag_plugin_exit */
    int exit_code;
    int signal;         /* a stop signal that arrived, or 0 */
    bool driver_failed; /* fatal driver error */
    int driver_error;
};

/* Milliseconds of the monotonic clock. */
uint64_t host_now_ms(void);

/* Leaves a plugin call: rolls back a transaction it left open (with a
 * warning naming `what`) and releases plugin_lock. */
void host_leave(struct ag_plugin_ctx *h, const char *what);

/* Frees every timer (at the end of the run). */
void host_timers_free(struct ag_plugin_ctx *h);

#endif
