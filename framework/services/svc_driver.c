/* The driver-thread bridge. See svc_driver.h. */
#define _GNU_SOURCE
#include "svc_driver.h"

#include "error.h"
#include "log.h"
#include "store.h"
#include "svc_offers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the effects (struct svc_fx), loop thread ---- */

static int
fx_accept(void *arg, const char *offer_id, struct ag_task *const *tasks, size_t n, double refuse_s)
{
    struct svcdrv *d = arg;
    return d->driver ? ag_driver_accept(d->driver, &offer_id, 1, tasks, n, refuse_s) : -AG_ECLOSED;
}

static void
fx_decline(void *arg, const char *offer_id, double refuse_s)
{
    struct svcdrv *d = arg;
    if (d->driver)
        ag_driver_decline(d->driver, &offer_id, 1, refuse_s);
}

static void
fx_kill(void *arg, const char *task_id, const char *agent_id)
{
    struct svcdrv *d = arg;
    if (d->driver)
        ag_driver_kill(d->driver, task_id, agent_id);
}

static void
fx_ack(void *arg, void *token, bool send)
{
    struct svcdrv *d = arg;
    if (send && d->driver)
        ag_driver_acknowledge_status(d->driver, token);
    ag_status_free(token);
}

static void
fx_revive(void *arg)
{
    struct svcdrv *d = arg;
    if (d->driver)
        ag_driver_revive(d->driver, NULL);
}

static void
fx_suppress(void *arg)
{
    struct svcdrv *d = arg;
    if (d->driver)
        ag_driver_suppress(d->driver, NULL);
}

static const struct svc_fx driver_fx = {
    .accept = fx_accept,
    .decline = fx_decline,
    .kill = fx_kill,
    .ack = fx_ack,
    .revive = fx_revive,
    .suppress = fx_suppress,
};

/* ---- driver events (driver thread -> loop) ---- */

enum drv_type {
    DRV_SUBSCRIBED,
    DRV_OFFERS,
    DRV_STATUS,
    DRV_ERROR,
    DRV_DISCONNECTED,
    DRV_RECONCILED
};

struct drv_ev {
    enum drv_type type;
    struct svcdrv *b;
    struct ag_driver *d;
    char text[512];
    bool flag;
    int code;
    struct ag_offer **offers;
    size_t n;
    struct ag_task_status *status;
};

static void drv_handle(void *arg, int status);

static void
drv_ev_free(struct drv_ev *e)
{
    for (size_t i = 0; i < e->n; i++)
        ag_offer_free(e->offers[i]);
    free(e->offers);
    ag_status_free(e->status);
    free(e);
}

static void
drv_post(struct svcdrv *b, struct drv_ev *e)
{
    if (evq_post(&b->q, drv_handle, e) != 0)
        drv_ev_free(e);
}

static struct drv_ev *
drv_ev_new(struct svcdrv *b, struct ag_driver *d, enum drv_type type)
{
    struct drv_ev *e = xcalloc(1, sizeof(*e));
    e->b = b;
    e->d = d;
    e->type = type;
    return e;
}

static void
cb_subscribed(struct ag_driver *d, void *arg, const char *framework_id, bool resubscribed)
{
    struct drv_ev *e = drv_ev_new(arg, d, DRV_SUBSCRIBED);
    snprintf(e->text, sizeof(e->text), "%s", framework_id);
    e->flag = resubscribed;
    drv_post(arg, e);
}

static void
cb_offers(struct ag_driver *d, void *arg, const struct ag_offer *const *offers, size_t n)
{
    struct drv_ev *e = drv_ev_new(arg, d, DRV_OFFERS);

    e->offers = xcalloc(n, sizeof(*e->offers));
    for (size_t i = 0; i < n; i++) {
        e->offers[e->n] = ag_offer_dup(offers[i]);
        if (e->offers[e->n] == NULL)
            xalloc_die(0);
        e->n++;
    }
    drv_post(arg, e);
}

static void
cb_status(struct ag_driver *d, void *arg, const struct ag_task_status *st)
{
    struct drv_ev *e = drv_ev_new(arg, d, DRV_STATUS);

    e->status = ag_status_dup(st);
    if (e->status == NULL)
        xalloc_die(0);
    drv_post(arg, e);
}

static void
cb_error(struct ag_driver *d, void *arg, int code, const char *message, bool fatal)
{
    struct drv_ev *e = drv_ev_new(arg, d, DRV_ERROR);

    snprintf(e->text, sizeof(e->text), "%s", message);
    e->code = code;
    e->flag = fatal;
    drv_post(arg, e);
}

static void
cb_disconnected(struct ag_driver *d, void *arg)
{
    drv_post(arg, drv_ev_new(arg, d, DRV_DISCONNECTED));
}

static void
cb_reconciled(struct ag_driver *d, void *arg)
{
    drv_post(arg, drv_ev_new(arg, d, DRV_RECONCILED));
}

/* ---- handling, loop thread ---- */

static void
on_subscribed(struct svcdrv *b, const char *fid, bool resub)
{
    struct svc *s = b->s;
    const char **ids, **agents;
    size_t n = 0, it = 0;
    void *val;

    log_info("subscribed framework_id=%s resubscribed=%d", fid, resub);
    if (strcmp(s->framework_id, fid) != 0) {
        snprintf(s->framework_id, sizeof(s->framework_id), "%s", fid);
        SVC_STORE(store_meta_put(s->store, "framework_id", fid));
        svc_flush(s);
    }
    s->subscribed = true;
    s->offers_wanted = -1;
    /* Reconcile every task on record, then ask for all the master knows. */
    ids = xcalloc(hmap_size(&s->tasks), sizeof(*ids));
    agents = xcalloc(hmap_size(&s->tasks), sizeof(*agents));
    while (hmap_next(&s->tasks, &it, NULL, &val)) {
        struct svc_task *t = val;
        ids[n] = t->id;
        agents[n] = t->agent_id[0] ? t->agent_id : NULL;
        n++;
    }
    if (n > 0) {
        ag_driver_reconcile_until_known(b->driver, ids, agents, n, 1.0, 30.0);
        if (!s->reconciled)
            s->reconcile_started = clock_wall();
    } else if (!s->reconciled) {
        s->reconciled = true;
        log_info("nothing to reconcile");
    }
    ag_driver_reconcile(b->driver, NULL, NULL, 0);
    free(ids);
    free(agents);
    svc_subscribed(s);
}

/* The master removed the framework (operator teardown, or its failover timeout
 * passed) or refuses its id: its tasks are gone. Deliberately start anew. */
static void
on_framework_removed(struct svcdrv *b, const char *message)
{
    struct svc *s = b->s;
    struct ag_driver *old = b->driver;

    log_error("FRAMEWORK REMOVED: the master removed or refused framework %s (%s); all its "
              "tasks are killed; registering as a new framework and relaunching every app",
              s->framework_id, message);
    b->driver = NULL;
    ag_driver_free(old);
    svc_tasks_forget(s, "REASON_FRAMEWORK_REMOVED", "framework removed");
    s->framework_id[0] = '\0';
    SVC_STORE(store_meta_put(s->store, "framework_id", ""));
    svc_flush(s);
    s->subscribed = false;
    s->reconciled = true;
    if (svcdrv_start(b) != 0) {
        log_error("cannot start a new driver; exiting");
        exit(1);
    }
}

static void
drv_handle(void *arg, int status)
{
    struct drv_ev *e = arg;
    struct svcdrv *b = e->b;
    struct svc *s = b->s;

    if (status != 0 || e->d != b->driver || s->stopping) {
        /* Queue closed, or an event of a driver already replaced: only release. */
        for (size_t i = 0; i < e->n; i++) {
            if (status == 0 && b->driver != NULL && e->d == b->driver) {
                const char *id = ag_offer_id(e->offers[i]);
                ag_driver_decline(b->driver, &id, 1, 1.0);
            }
        }
        drv_ev_free(e);
        return;
    }
    switch (e->type) {
    case DRV_SUBSCRIBED:
        on_subscribed(b, e->text, e->flag);
        break;
    case DRV_OFFERS:
        /* Kept for the end of the loop turn: all offers of a turn are filled together. */
        for (size_t i = 0; i < e->n; i++) {
            if (b->noffers == b->capoffers) {
                b->capoffers = b->capoffers ? b->capoffers * 2 : 16;
                b->offers = xrealloc(b->offers, b->capoffers * sizeof(*b->offers));
            }
            b->offers[b->noffers++] = e->offers[i];
        }
        e->n = 0;
        break;
    case DRV_STATUS: {
        struct svc_update u = {
            .task_id = ag_status_task_id(e->status),
            .agent_id = ag_status_agent_id(e->status),
            .reason = ag_status_reason(e->status),
            .message = ag_status_message(e->status),
            .source = ag_status_source(e->status),
            .state = ag_status_state(e->status),
            .healthy = ag_status_healthy(e->status),
        };
        svc_status_update(s, &u, e->status); /* acknowledged after the commit */
        e->status = NULL;
        break;
    }
    case DRV_ERROR:
        if (e->flag) {
            if (e->code == -AG_EPERM) {
                log_error("the master refused our authentication: %s", e->text);
                s->exit_code = 1;
                b->stop(b->stop_arg);
            } else {
                on_framework_removed(b, e->text);
            }
        } else {
            log_warn("driver error: %s (%s)", e->text, ag_strerror(e->code));
        }
        break;
    case DRV_DISCONNECTED:
        log_warn("disconnected from the master; the driver reconnects");
        s->subscribed = false;
        break;
    case DRV_RECONCILED:
        if (!s->reconciled)
            log_info("reconciliation done after %.1fs", clock_wall() - s->reconcile_started);
        s->reconciled = true;
        s->dirty = true;
        break;
    }
    drv_ev_free(e);
}

/* ---- life ---- */

int
svcdrv_init(struct svcdrv *d, uv_loop_t *loop, struct svc *s, void (*stop)(void *arg),
            void *stop_arg)
{
    int rc;

    memset(d, 0, sizeof(*d));
    d->s = s;
    d->stop = stop;
    d->stop_arg = stop_arg;
    if ((rc = evq_init(&d->q, loop)) != 0)
        return rc;
    d->q_open = true;
    s->fx = &driver_fx;
    s->fx_arg = d;
    return 0;
}

int
svcdrv_start(struct svcdrv *d)
{
    struct svc *s = d->s;
    const struct svc_flags *f = s->f;
    struct ag_framework_info *fi = ag_framework_info_new();
    struct ag_scheduler_callbacks cb = {
        .size = sizeof(cb),
        .subscribed = cb_subscribed,
        .offers = cb_offers,
        .status_update = cb_status,
        .error = cb_error,
        .disconnected = cb_disconnected,
        .reconciled = cb_reconciled,
    };
    char url[400];
    int rc;

    if (fi == NULL)
        xalloc_die(0);
    snprintf(url, sizeof(url), "%s://%s", tls_serving(&f->tls) ? "https" : "http", s->leader);
    ag_framework_info_set_name(fi, f->framework_name);
    if (f->user && f->user[0])
        ag_framework_info_set_user(fi, f->user);
    if (f->role && strcmp(f->role, "*") != 0 && (rc = ag_framework_info_add_role(fi, f->role)) != 0)
        goto out;
    ag_framework_info_add_capability(fi, "PARTITION_AWARE");
    ag_framework_info_set_failover_timeout(fi, f->failover_timeout_ms / 1000.0);
    ag_framework_info_set_checkpoint(fi, true);
    ag_framework_info_set_hostname(fi, f->hostname);
    ag_framework_info_set_webui_url(fi, url);
    if (f->principal && f->principal[0] && f->secret_file && f->secret_file[0]) {
        if ((rc = ag_framework_info_set_secret_file(fi, f->principal, f->secret_file)) != 0) {
            log_error("--secret_file: %s", ag_last_error());
            goto out;
        }
    } else if (f->principal && f->principal[0]) {
        ag_framework_info_set_principal(fi, f->principal,
                                        f->secret && f->secret[0] ? f->secret : NULL);
    }
    if (tls_client_wanted(&f->tls) &&
        (rc = ag_framework_info_set_tls(fi, f->tls.ca, f->tls.cert, f->tls.key)) != 0) {
        log_error("TLS to the master: %s", ag_last_error());
        goto out;
    }
    if (s->framework_id[0])
        ag_framework_info_set_framework_id(fi, s->framework_id);
    rc = ag_driver_new(&d->driver, f->master, fi, &cb, d);
    if (rc != 0) {
        log_error("cannot create the scheduler driver: %s (%s)", ag_strerror(rc), ag_last_error());
        goto out;
    }
    ag_driver_set_auto_ack(d->driver, false);
    rc = ag_driver_start(d->driver);
    if (rc != 0)
        log_error("cannot start the scheduler driver: %s", ag_strerror(rc));
out:
    ag_framework_info_free(fi);
    return rc;
}

void
svcdrv_turn(struct svcdrv *d)
{
    struct svco_offer *v;
    size_t n = d->noffers;

    if (n == 0)
        return;
    d->noffers = 0;
    v = xcalloc(n, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        const struct ag_offer *o = d->offers[i];
        v[i] = (struct svco_offer){
            .id = ag_offer_id(o),
            .agent_id = ag_offer_agent_id(o),
            .hostname = ag_offer_hostname(o),
            .resources = ag_offer_resources(o),
            .attributes = ag_offer_attributes(o),
        };
    }
    svco_handle(d->s, v, n);
    free(v);
    for (size_t i = 0; i < n; i++)
        ag_offer_free(d->offers[i]);
}

void
svcdrv_tick(struct svcdrv *d)
{
    struct svc *s = d->s;
    double now = clock_wall();

    if (!s->reconciled && s->subscribed &&
        now - s->reconcile_started > s->f->reconciliation_timeout_ms / 1000.0) {
        log_warn("reconciliation still waits for %zu tasks after %.0fs; going on",
                 d->driver ? ag_driver_reconcile_pending(d->driver) : 0,
                 now - s->reconcile_started);
        s->reconciled = true;
    }
}

void
svcdrv_stop(struct svcdrv *d)
{
    if (d->driver != NULL) {
        struct ag_driver *drv = d->driver;
        svc_flush(d->s);
        d->driver = NULL;
        ag_driver_free(drv);
    }
}

void
svcdrv_close(struct svcdrv *d)
{
    if (d->q_open) {
        d->q_open = false;
        evq_close(&d->q, NULL);
    }
}

void
svcdrv_fini(struct svcdrv *d)
{
    for (size_t i = 0; i < d->noffers; i++)
        ag_offer_free(d->offers[i]);
    free(d->offers);
    d->offers = NULL;
    d->noffers = 0;
}
