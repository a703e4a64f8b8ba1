/*
 * The layout of struct ag_driver, for the files of the driver only:
 * scheduler.c (the driver thread: connection, queue, messages), driver_api.c
 * (creating, starting, stopping and reading a driver from any thread) and
 * driver_calls.c (the calls a framework makes). The public operations are in
 * <agora/scheduler.h>.
 *
 * Who calls whom: driver_api.c and driver_calls.c call the drv_* functions
 * below (defined in scheduler.c); scheduler.c calls neither of them.
 *
 * Which thread touches what is written next to each group of members: the
 * options are set before the start and read-only after it; the members
 * under `lock` are shared; the rest belongs to the driver thread.
 */
#ifndef AGORA_SCHED_DRIVER_INT_H
#define AGORA_SCHED_DRIVER_INT_H

#include "sched_internal.h"

#include "call.h"
#include "detector.h"
#include "evq.h"
#include "hmap.h"
#include "ids.h"
#include "ratelimit.h"
#include "recon.h"
#include "transport.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

enum drv_state { DRV_NEW, DRV_STARTING, DRV_RUNNING, DRV_STOPPING, DRV_DONE };
enum conn_state { CONN_DOWN, CONN_AUTH, CONN_SUBSCRIBING, CONN_SUBSCRIBED };

struct ag_driver {
    /* Set by ag_driver_new and the option setters, read-only once started. */
    struct detector_master master; /* port 0: none known yet (zk://, no leader) */
    char *master_spec;             /* what ag_driver_new was given */
    struct detector *detector;     /* zk://: follows the leader (driver thread) */
    uint64_t master_epoch; /* the leader's epoch: messages stamped lower are a deposed leader's */
    struct ag_framework_info *info;
    struct ag_scheduler_callbacks cb;
    void *arg;
    bool auto_ack;
    bool force;
    double rate;
    double burst;
    int hb_misses;

    /* Shared between threads, under lock. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    enum drv_state state;
    int start_rv;
    int exit_code;
    bool stop_requested;
    bool subscribed;
    bool teardown_requested; /* ag_driver_teardown accepted: refuse later calls */
    bool suppressed;         /* the last of suppress(every role) / revive accepted was suppress */
    uint64_t session;        /* bumped on every SUBSCRIBED (written by the driver thread) */
    char framework_id[AG_ID_MAX];
    size_t recon_count;
    bool join_claimed;
    bool joined;
    pthread_t thread;
    size_t nqueued; /* calls made and not yet sent or dropped (atomic) */

    /* Driver thread only. */
    uv_loop_t loop;
    struct evq evq;
    uv_async_t stop_async;
    uv_timer_t tick;
    bool loop_ok, evq_ok, async_ok, tick_ok;
    struct tp_client *cli;
    enum conn_state conn;
    bool closing;
    bool quiet; /* stopping: no more callbacks */
    bool pumping;
    bool teardown_queued; /* TEARDOWN accepted: later calls are refused */
    bool torn_down;       /* TEARDOWN sent */
    uint64_t teardown_deadline;
    uint64_t corr;
    uint64_t subscribe_corr;
    uint64_t conn_since; /* loop time of the last on_connect */
    uint64_t last_recv;  /* loop time of the last message from the master */
    uint64_t hb_ms;      /* heartbeat interval announced by the master (0 = none) */
    bool sent_any;       /* something was sent on this connection */
    struct rl rl;
    struct call_queue q;
    struct hmap offers; /* offer id -> agent id (malloc'd) of outstanding offers */
    struct recon recon; /* ag_driver_reconcile_until_known */
};

/* The driver thread's body (pthread_create's start routine): sets the loop
 * up, reports the outcome in d->start_rv and d->state (STARTING -> RUNNING or
 * STOPPING), runs the loop until the driver stops, and ends in DONE. */
void *drv_main(void *arg);

/* Whether this is the thread of `d`. */
bool drv_on_thread(const struct ag_driver *d);

/*
 * Stops the driver, on its thread: no more calls are accepted, queued ones are
 * sent if possible, then the connection and every handle are closed and the
 * loop ends. `code` becomes ag_driver_join's result (the first one wins).
 */
void drv_shutdown(struct ag_driver *d, int code);

/*
 * Hands a call (owned from here on, also on failure) to the driver thread, or
 * carries it out at once when called on it. Returns 0 or a negative AG_E* code
 * with ag_last_error set.
 */
int drv_submit(struct ag_driver *d, struct call *c);

/* Submits a REVIVE or SUPPRESS of `role` (NULL: every role) and, once
 * accepted, records whether offers of every role are now suppressed.
 * Returns as drv_submit, or -AG_EINVAL / -AG_ENOMEM before submitting. */
int drv_roles_call(struct ag_driver *d, enum msg_type type, const char *role);

#endif
