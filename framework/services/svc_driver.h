/*
 * svc_driver: the bridge between the scheduler driver (libagora-scheduler,
 * its own thread) and the agora-services core on the loop thread.
 *
 * Threads. The driver's callbacks run on the driver's thread: they only copy
 * what they get (offers, status updates, errors) and post it to the loop
 * through an evq. Everything else here runs on the loop thread: the events
 * are handled there (an event of a driver already replaced, or arriving
 * while stopping, is only released; its offers declined), and the effects
 * the core sends (struct svc_fx: accept, decline, kill, acknowledge,
 * revive, suppress) call ag_driver_* (thread-safe). Without a driver (before
 * the start, after the stop) the effects are dropped and an ACCEPT fails
 * with -AG_ECLOSED.
 *
 * What it does with the events:
 *   subscribed      records the framework id (durable before anything else
 *                   is sent), reconciles every task on record
 *                   (ag_driver_reconcile_until_known) plus an implicit
 *                   reconciliation, and has the core resend its kills;
 *                   `reconciled` is set once the explicit reconciliation is
 *                   answered (or svcdrv_tick finds --reconciliation_timeout
 *                   passed, or nothing was on record)
 *   offers          kept for the end of the loop turn: svcdrv_turn hands
 *                   all of them to svco_handle together
 *   status update   svc_status_update; acknowledged after the commit
 *   error (fatal)   authentication refused: exit status 1 and the `stop`
 *                   hook; otherwise the framework was removed: every task
 *                   is forgotten (TASK_LOST), a new framework registers
 *   disconnected    not subscribed until the driver resubscribes
 *
 * Caller: main.c. Calls svc.c, svc_offers.c, store.c and the driver API.
 * Ownership: `struct svcdrv` is the caller's; it owns the driver, the evq and
 * the offers of the current turn.
 */
#ifndef AGORA_SERVICES_SVC_DRIVER_H
#define AGORA_SERVICES_SVC_DRIVER_H

#include "evq.h"
#include "svc.h"

#include <uv.h>

struct svcdrv {
    struct svc *s;
    struct ag_driver *driver;
    struct evq q;
    bool q_open;
    struct ag_offer **offers; /* offers of this loop turn, handled together */
    size_t noffers, capoffers;
    void (*stop)(void *arg); /* after a fatal error */
    void *stop_arg;
};

/* Opens the evq on `loop` and makes this bridge the effects of `s`. `stop`
 * is called (on the loop thread) when the master refuses the credentials. */
int svcdrv_init(struct svcdrv *d, uv_loop_t *loop, struct svc *s, void (*stop)(void *arg),
                void *stop_arg);
/* Creates and starts the driver (registering with s->framework_id when set).
 * Returns 0 or a negative AG_E* code (logged). */
int svcdrv_start(struct svcdrv *d);
/* The end of a loop turn: the offers that arrived go to svco_handle. */
void svcdrv_turn(struct svcdrv *d);
/* Once a second: gives up waiting for the reconciliation after
 * --reconciliation_timeout. */
void svcdrv_tick(struct svcdrv *d);
/* Sends what waits (svc_flush) and stops the driver; the framework stays
 * registered for its failover timeout. */
void svcdrv_stop(struct svcdrv *d);
/* Closes the evq (events still queued are released). */
void svcdrv_close(struct svcdrv *d);
/* Frees the offers still held. */
void svcdrv_fini(struct svcdrv *d);

#endif
