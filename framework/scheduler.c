/*
 * The scheduler driver: one thread with one libuv loop that owns the
 * connection to the master (common/transport), the queue of outgoing calls and
 * every piece of protocol state. Calls made on other threads are handed to the
 * loop through an evq; calls made inside callbacks run at once.
 *
 * Connection states (d->conn), on the driver thread:
 *
 *   DOWN --on_connect--> AUTH (secret set: AUTH_START sent)
 *                        SUBSCRIBING (SUBSCRIBE sent)
 *   AUTH --AUTH_RESULT ok--> SUBSCRIBING          (drv_on_message)
 *   SUBSCRIBING --SUBSCRIBED--> SUBSCRIBED        (drv_subscribed)
 *   any --on_disconnect / heartbeat or subscribe timeout--> DOWN  (drv_conn_lost)
 *   AUTH, SUBSCRIBING --ERROR, AUTH_RESULT !ok--> driver stops     (drv_fatal)
 *   SUBSCRIBED --ERROR with fatal set (framework removed)--> driver stops (drv_fatal)
 *
 * Driver states (d->state, under d->lock, read by any thread):
 *
 *   NEW --ag_driver_start--> STARTING --loop set up--> RUNNING
 *   RUNNING --stop, teardown done, fatal error--> STOPPING (drv_shutdown)
 *   STOPPING --every handle closed, thread ends--> DONE
 *   STARTING --set-up failed--> DONE
 *
 * Outgoing calls wait in d->q (FIFO) until the framework is subscribed and the
 * token bucket grants one (drv_pump). When the connection drops, ACCEPT and
 * DECLINE calls still queued are discarded (their offers died with the
 * connection; tasks being launched are reported TASK_DROPPED); other calls stay
 * queued for the next subscription.
 *
 * This file is the driver thread. The calls are built in driver_calls.c
 * (call.h), the driver is created, started and stopped in driver_api.c, and
 * the reconciliation helper keeps its tasks in recon.c.
 */
#include "error.h"

#include "driver_int.h"

#include "auth.h"
#include "clock.h"
#include "log.h"
#include "msg.h"

#include <stdlib.h>
#include <string.h>

#define TICK_MS 100                /* the driver's periodic tick */
#define SUBSCRIBE_TIMEOUT_MS 30000 /* AUTH or SUBSCRIBING longer than this: reconnect */
#define STOP_LINGER_MS 100         /* on stop, time for the last calls to leave */
#define TEARDOWN_LINGER_MS 1000    /* after TEARDOWN, stop at the latest after this */
#define MAX_QUEUED 1000000         /* calls waiting to be sent */

/* The driver whose thread this is, or NULL. */
static __thread struct ag_driver *tls_driver;

static void drv_pump(struct ag_driver *d);
static int drv_open_client(struct ag_driver *d);

#define HAS_CB(d, f) ((d)->cb.f != NULL && !(d)->closing && !(d)->quiet)

/* ---- small helpers ---- */

static uint64_t
drv_now(struct ag_driver *d)
{
    return uv_now(&d->loop);
}

/* Disposes of a call that was counted in nqueued. */
static void
call_done(struct ag_driver *d, struct call *c)
{
    __atomic_sub_fetch(&d->nqueued, 1, __ATOMIC_RELAXED);
    call_free(c);
}

static void
drv_set_recon_count(struct ag_driver *d)
{
    pthread_mutex_lock(&d->lock);
    d->recon_count = recon_pending(&d->recon);
    pthread_mutex_unlock(&d->lock);
}

/* ---- sending ---- */

/* Encodes `m` and hands it to the transport (no queue, no rate limit). */
static int
drv_send_msg(struct ag_driver *d, struct msg *m)
{
    void *buf;
    size_t len;
    int rv;

    if (d->cli == NULL)
        return -AG_ECLOSED;
    m->corr = ++d->corr;
    if ((rv = msg_encode_alloc(m, &buf, &len)) != 0)
        return rv;
    rv = tp_client_send(d->cli, buf, len);
    free(buf);
    if (rv == 0)
        d->sent_any = true;
    return rv;
}

/* Reports a non-fatal error to the framework. */
static void
drv_error(struct ag_driver *d, int code, const char *message)
{
    log_warn("scheduler: %s err=%s", message, ag_strerror(code));
    if (HAS_CB(d, error))
        d->cb.error(d, d->arg, code, message, false);
}

/* Reports every task of a discarded ACCEPT as TASK_DROPPED (made up here). */
static void
drv_report_dropped(struct ag_driver *d, const struct msg *m, const char *why)
{
    if (m->type != MSG_ACCEPT)
        return;
    for (size_t i = 0; i < m->u.accept.noperations; i++) {
        const struct msg_operation *op = &m->u.accept.operations[i];

        if (op->type == NULL || strcmp(op->type, "LAUNCH") != 0)
            continue;
        for (size_t j = 0; j < op->ntasks && HAS_CB(d, status_update); j++) {
            struct ag_task_status st;

            msg_task_status_init(&st.s);
            st.s.task_id = op->tasks[j].task_id;
            st.s.agent_id = op->tasks[j].agent_id;
            st.s.framework_id = d->framework_id;
            st.s.state = MSG_TASK_DROPPED;
            st.s.reason = "REASON_MASTER_DISCONNECTED";
            st.s.message = (char *)why;
            st.s.source = SCHED_SOURCE_DRIVER;
            st.s.uuid = "";
            st.s.timestamp = clock_wall();
            d->cb.status_update(d, d->arg, &st);
        }
    }
}

/* Fills the ids a message needs that only the driver thread knows. */
static void
drv_fill_ids(struct ag_driver *d, struct msg *m)
{
    char **fid = NULL;

    if (m->type == MSG_STATUS_ACK)
        fid = &m->u.status_ack.framework_id;
    else if (m->type == MSG_FRAMEWORK_MESSAGE)
        fid = &m->u.framework_message.framework_id;
    if (fid != NULL && (*fid == NULL || **fid == '\0'))
        sched_set_str(fid, d->framework_id); /* on ENOMEM the master rejects it */
}

/* Sends queued calls while subscribed and the rate limit allows. */
static void
drv_pump(struct ag_driver *d)
{
    struct call *c;
    int rv;

    if (d->pumping)
        return;
    d->pumping = true;
    while (d->q.head != NULL && d->conn == CONN_SUBSCRIBED && !d->closing) {
        if (!rl_take(&d->rl, drv_now(d)))
            break;
        c = call_queue_pop(&d->q);
        drv_fill_ids(d, &c->m);
        rv = drv_send_msg(d, &c->m);
        if (rv == -AG_ECLOSED) {
            /* The connection is going; on_disconnect sorts the queue out. */
            call_queue_push_front(&d->q, c);
            break;
        }
        if (rv != 0) {
            char why[160];

            snprintf(why, sizeof(why), "could not send %s", msg_type_name(c->m.type));
            drv_error(d, rv, why);
            drv_report_dropped(d, &c->m, why);
        } else if (c->m.type == MSG_TEARDOWN && !d->torn_down) {
            d->torn_down = true;
            d->teardown_deadline = drv_now(d) + TEARDOWN_LINGER_MS;
        }
        call_done(d, c);
    }
    d->pumping = false;
}

/* ---- reconciliation helper ---- */

/* Sends RECONCILE for every task still awaiting an answer, when due. */
static void
drv_recon_tick(struct ag_driver *d)
{
    struct call *c;

    if (d->conn != CONN_SUBSCRIBED || d->closing)
        return;
    if ((c = recon_take(&d->recon, drv_now(d))) == NULL)
        return; /* not due, or out of memory: try again at the next tick */
    __atomic_add_fetch(&d->nqueued, 1, __ATOMIC_RELAXED);
    call_queue_push(&d->q, c);
    drv_pump(d);
}

static int
drv_recon_add(struct ag_driver *d, struct call *c)
{
    int rv = recon_add(&d->recon, &c->m.u.reconcile, c->initial_s, c->max_s, drv_now(d));

    drv_set_recon_count(d);
    drv_recon_tick(d);
    return rv;
}

/* A status update for `task_id` arrived: the helper stops asking for it. */
static void
drv_recon_answered(struct ag_driver *d, const char *task_id)
{
    if (!recon_answered(&d->recon, task_id))
        return;
    drv_set_recon_count(d);
    if (recon_pending(&d->recon) == 0) {
        log_info("scheduler: reconciliation complete");
        if (HAS_CB(d, reconciled))
            d->cb.reconciled(d, d->arg);
    }
}

/* ---- carrying out calls on the driver thread ---- */

/* Fills missing task agent ids of an ACCEPT from its first offer and forgets
 * the offers it uses (ACCEPT and DECLINE). */
static void
drv_use_offers(struct ag_driver *d, struct msg *m)
{
    char **ids = m->type == MSG_ACCEPT ? m->u.accept.offer_ids : m->u.decline.offer_ids;
    size_t n = m->type == MSG_ACCEPT ? m->u.accept.noffer_ids : m->u.decline.noffer_ids;
    const char *agent = n > 0 ? hmap_get(&d->offers, ids[0]) : NULL;

    if (m->type == MSG_ACCEPT && agent != NULL) {
        for (size_t i = 0; i < m->u.accept.noperations; i++) {
            struct msg_operation *op = &m->u.accept.operations[i];

            for (size_t j = 0; j < op->ntasks; j++)
                if (op->tasks[j].agent_id == NULL || op->tasks[j].agent_id[0] == '\0')
                    sched_set_str(&op->tasks[j].agent_id, agent);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(hmap_del(&d->offers, ids[i]));
}

/* Carries out `c` (counted in nqueued) on the driver thread. `direct`: called
 * from the API on this thread, so failures go back to the caller. */
static int
drv_exec(struct ag_driver *d, struct call *c, bool direct)
{
    int rv;

    if (d->closing) {
        call_done(d, c);
        return -AG_ECLOSED;
    }
    if (d->teardown_queued) {
        call_done(d, c);
        return sched_err(-AG_ECLOSED, "the framework is being torn down");
    }
    if (c->kind == CALL_RECONCILE_UNTIL) {
        rv = drv_recon_add(d, c);
        call_done(d, c);
        return rv;
    }
    if (c->offers && (d->conn != CONN_SUBSCRIBED || c->session != d->session)) {
        if (!direct)
            drv_report_dropped(d, &c->m, "master disconnected before the call was sent");
        call_done(d, c);
        return -AG_ECLOSED;
    }
    if (c->offers)
        drv_use_offers(d, &c->m);
    if (c->m.type == MSG_TEARDOWN) {
        d->teardown_queued = true;
        pthread_mutex_lock(&d->lock);
        d->teardown_requested = true;
        pthread_mutex_unlock(&d->lock);
    }
    call_queue_push(&d->q, c);
    drv_pump(d);
    return 0;
}

static void
drv_exec_cb(void *arg, int status)
{
    struct call *c = arg;
    struct ag_driver *d = tls_driver;

    if (status != 0 || d == NULL) {
        /* The queue is closing: d is being shut down (see drv_shutdown). */
        if (d != NULL)
            call_done(d, c);
        else
            call_free(c);
        return;
    }
    drv_exec(d, c, false);
}

int
drv_submit(struct ag_driver *d, struct call *c)
{
    int rv;

    if ((rv = call_check(c)) != 0) {
        call_free(c);
        return rv;
    }
    if (tls_driver == d) {
        if (__atomic_load_n(&d->nqueued, __ATOMIC_RELAXED) >= MAX_QUEUED) {
            call_free(c);
            return sched_err(-AG_ENOSPC, "too many calls waiting to be sent");
        }
        __atomic_add_fetch(&d->nqueued, 1, __ATOMIC_RELAXED);
        c->session = d->session;
        rv = drv_exec(d, c, true);
        if (rv == -AG_ECLOSED)
            sched_err(rv, "not subscribed to the master");
        return rv;
    }
    pthread_mutex_lock(&d->lock);
    if (d->state != DRV_RUNNING) {
        rv = sched_err(-AG_ECLOSED,
                       d->state < DRV_RUNNING ? "driver not started" : "driver stopped");
    } else if (d->teardown_requested) {
        rv = sched_err(-AG_ECLOSED, "the framework is being torn down");
    } else if (c->offers && !d->subscribed) {
        rv = sched_err(-AG_ECLOSED, "not subscribed to the master");
    } else if (__atomic_load_n(&d->nqueued, __ATOMIC_RELAXED) >= MAX_QUEUED) {
        rv = sched_err(-AG_ENOSPC, "too many calls waiting to be sent");
    } else {
        bool teardown = c->kind == CALL_SEND && c->m.type == MSG_TEARDOWN;

        c->session = d->session;
        __atomic_add_fetch(&d->nqueued, 1, __ATOMIC_RELAXED);
        /* From here on c may be carried out (and freed) by the driver thread. */
        if ((rv = evq_post(&d->evq, drv_exec_cb, c)) != 0) {
            __atomic_sub_fetch(&d->nqueued, 1, __ATOMIC_RELAXED);
            sched_err(rv, "out of memory");
        } else if (teardown) {
            d->teardown_requested = true;
        }
    }
    pthread_mutex_unlock(&d->lock);
    if (rv != 0)
        call_free(c);
    return rv;
}

/* ---- the connection ---- */

static void
drv_send_subscribe(struct ag_driver *d)
{
    struct msg m;
    int rv;

    msg_init(&m, MSG_SUBSCRIBE);
    /* Borrowed strings: encoded only, never freed. */
    m.u.subscribe.framework = d->info->fi;
    m.u.subscribe.framework.framework_id = d->framework_id;
    m.u.subscribe.force = d->force;
    d->conn = CONN_SUBSCRIBING;
    if ((rv = drv_send_msg(d, &m)) != 0)
        log_warn("scheduler: cannot send SUBSCRIBE err=%s", ag_strerror(rv));
    d->subscribe_corr = m.corr;
    log_info("scheduler: subscribing master=%s framework_id=%s", d->master.stream_url,
             d->framework_id[0] ? d->framework_id : "(new)");
}

static void
drv_on_connect(void *arg)
{
    struct ag_driver *d = arg;
    struct msg m;
    int rv;

    if (d->closing)
        return;
    detector_connected(d->detector, true);
    d->conn_since = d->last_recv = drv_now(d);
    d->sent_any = false;
    if (d->info->secret == NULL) {
        drv_send_subscribe(d);
        return;
    }
    msg_init(&m, MSG_AUTH_START);
    m.u.auth_start.principal = d->info->fi.principal;
    m.u.auth_start.mechanism = MSG_AUTH_MECHANISM;
    d->conn = CONN_AUTH;
    if ((rv = drv_send_msg(d, &m)) != 0)
        log_warn("scheduler: cannot send AUTH_START err=%s", ag_strerror(rv));
}

/*
 * The connection is gone (reported by the transport or dropped by us): offers
 * die, queued ACCEPT/DECLINE calls are discarded, the framework is told.
 */
static void
drv_conn_lost(struct ag_driver *d)
{
    bool was_subscribed = d->conn == CONN_SUBSCRIBED;
    struct call *dropped, *c, *next;

    d->conn = CONN_DOWN;
    pthread_mutex_lock(&d->lock);
    d->subscribed = false;
    pthread_mutex_unlock(&d->lock);
    hmap_clear_free(&d->offers);
    dropped = call_queue_take_offers(&d->q);
    if (d->torn_down) {
        for (c = dropped; c != NULL; c = next) {
            next = c->next;
            call_done(d, c);
        }
        log_info("scheduler: connection closed after teardown");
        drv_shutdown(d, 0);
        return;
    }
    if (was_subscribed) {
        log_warn("scheduler: disconnected from the master master=%s", d->master.stream_url);
        if (HAS_CB(d, disconnected))
            d->cb.disconnected(d, d->arg);
    }
    for (c = dropped; c != NULL; c = next) {
        next = c->next;
        drv_report_dropped(d, &c->m, "master disconnected before the call was sent");
        call_done(d, c);
    }
}

static void
drv_on_disconnect(void *arg)
{
    struct ag_driver *d = arg;

    detector_connected(d->detector, false);
    if (!d->closing)
        drv_conn_lost(d);
}

/* Drops the connection and dials again (the master may be gone silently). */
static void
drv_reconnect(struct ag_driver *d, const char *why)
{
    log_warn("scheduler: reconnecting to the master reason=\"%s\"", why);
    detector_connected(d->detector, false);
    tp_client_close(d->cli);
    d->cli = NULL;
    if (d->conn != CONN_DOWN)
        drv_conn_lost(d);
    if (!d->closing && d->master.port != 0)
        drv_open_client(d); /* on failure the tick tries again */
}

/* zk://: a new leader (or none): drop the link to the old one at once and
 * subscribe again with the new one (the framework hears disconnected, then
 * subscribed, and reconciles). */
static void
drv_on_master(void *arg, const struct detector_master *m, uint64_t epoch)
{
    struct ag_driver *d = arg;

    if (d->closing)
        return;
    if (m == NULL) {
        d->master.port = 0;
        if (d->cli != NULL)
            drv_reconnect(d, "no leading master");
        return;
    }
    if (epoch > d->master_epoch)
        d->master_epoch = epoch;
    if (d->cli != NULL && strcmp(m->stream_url, d->master.stream_url) == 0)
        return;
    d->master = *m;
    if (d->info->tls)
        detector_set_tls(&d->master, 1);
    drv_reconnect(d, "a new leading master was elected");
}

/* The master refused us: stop, then tell the framework. */
static void
drv_fatal(struct ag_driver *d, int code, const char *message)
{
    if (code >= 0)
        code = -AG_EPROTO;
    log_error("scheduler: %s err=%s", message, ag_strerror(code));
    drv_shutdown(d, code);
    if (d->cb.error != NULL)
        d->cb.error(d, d->arg, code, message, true);
}

static void
drv_subscribed(struct ag_driver *d, const struct msg_subscribed *s)
{
    bool resub = d->framework_id[0] != '\0';
    bool suppressed;

    if (d->conn != CONN_SUBSCRIBING) {
        log_warn("scheduler: unexpected SUBSCRIBED ignored");
        return;
    }
    if (!ids_valid(s->framework_id)) {
        drv_fatal(d, -AG_EPROTO, "the master sent an invalid framework id");
        return;
    }
    pthread_mutex_lock(&d->lock);
    snprintf(d->framework_id, sizeof(d->framework_id), "%s", s->framework_id);
    d->subscribed = true;
    d->session++;
    pthread_mutex_unlock(&d->lock);
    d->conn = CONN_SUBSCRIBED;
    d->hb_ms = s->heartbeat_interval_s > 0 ? (uint64_t)(s->heartbeat_interval_s * 1000) : 0;
    recon_restart(&d->recon, drv_now(d));
    log_info("scheduler: subscribed framework_id=%s heartbeat_interval_s=%g", d->framework_id,
             s->heartbeat_interval_s);
    /* Every subscription starts unsuppressed: suppress again what stays suppressed. */
    pthread_mutex_lock(&d->lock);
    suppressed = d->suppressed;
    pthread_mutex_unlock(&d->lock);
    if (suppressed)
        drv_roles_call(d, MSG_SUPPRESS, NULL);
    if (HAS_CB(d, subscribed))
        d->cb.subscribed(d, d->arg, d->framework_id, resub);
    drv_pump(d);
    drv_recon_tick(d);
}

static void
drv_offers(struct ag_driver *d, struct msg_offers *m)
{
    size_t n = m->noffers;
    struct ag_offer *arr;
    const struct ag_offer **ptrs;
    size_t ok = 0;

    if (n == 0)
        return;
    arr = calloc(n, sizeof(*arr));
    ptrs = calloc(n, sizeof(*ptrs));
    if (arr == NULL || ptrs == NULL) {
        free(arr);
        free(ptrs);
        drv_error(d, -AG_ENOMEM, "out of memory: offers could not be delivered");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        /* Steal the offer out of the message. */
        arr[i].o = m->offers[i];
        msg_offer_init(&m->offers[i]);
        if (sched_offer_texts(&arr[i]) != 0)
            continue;
        if (hmap_put_str(&d->offers, arr[i].o.offer_id, arr[i].o.agent_id) != 0)
            continue;
        ptrs[ok++] = &arr[i];
    }
    if (ok < n)
        drv_error(d, -AG_ENOMEM, "out of memory: some offers could not be delivered");
    if (ok > 0 && HAS_CB(d, offers))
        d->cb.offers(d, d->arg, ptrs, ok);
    for (size_t i = 0; i < n; i++)
        sched_offer_fini(&arr[i]);
    free(arr);
    free(ptrs);
}

static void
drv_ack(struct ag_driver *d, const struct msg_task_status *s)
{
    struct call *c = call_new(MSG_STATUS_ACK);

    if (c == NULL || sched_set_str(&c->m.u.status_ack.agent_id, s->agent_id) != 0 ||
        sched_set_str(&c->m.u.status_ack.framework_id, d->framework_id) != 0 ||
        sched_set_str(&c->m.u.status_ack.task_id, s->task_id) != 0 ||
        sched_set_str(&c->m.u.status_ack.uuid, s->uuid) != 0) {
        call_free(c);
        /* The agent sends the update again; it is acknowledged then. */
        log_warn("scheduler: out of memory, status update not acknowledged task_id=%s", s->task_id);
        return;
    }
    __atomic_add_fetch(&d->nqueued, 1, __ATOMIC_RELAXED);
    c->session = d->session;
    drv_exec(d, c, true);
}

static void
drv_status(struct ag_driver *d, struct msg_status_update *u)
{
    struct msg_task_status *s = &u->status;

    log_debug("scheduler: status update task_id=%s state=%s uuid=%s", s->task_id,
              msg_task_state_name(s->state), s->uuid);
    if (HAS_CB(d, status_update))
        d->cb.status_update(d, d->arg, (const struct ag_task_status *)s);
    if (d->auto_ack && s->uuid[0] != '\0' && !d->closing && !d->teardown_queued)
        drv_ack(d, s);
    drv_recon_answered(d, s->task_id);
}

static void
drv_auth_challenge(struct ag_driver *d, const struct msg_auth_challenge *ch)
{
    uint8_t proof[AUTH_PROOF_LEN];
    struct msg m;
    int rv;

    if (d->conn != CONN_AUTH)
        return;
    if ((rv = auth_proof(d->info->secret, ch->nonce, ch->nonce_len, proof)) != 0) {
        drv_fatal(d, rv, "cannot compute the authentication proof");
        return;
    }
    msg_init(&m, MSG_AUTH_RESPONSE);
    m.u.auth_response.principal = d->info->fi.principal;
    m.u.auth_response.proof = proof;
    m.u.auth_response.proof_len = sizeof(proof);
    if ((rv = drv_send_msg(d, &m)) != 0)
        log_warn("scheduler: cannot send AUTH_RESPONSE err=%s", ag_strerror(rv));
    memset(proof, 0, sizeof(proof));
}

static void
drv_on_message(void *arg, const void *data, size_t len)
{
    struct ag_driver *d = arg;
    char err[256];
    struct msg m;
    int rv;

    if (d->closing)
        return;
    d->last_recv = drv_now(d);
    if ((rv = msg_decode(&m, data, len, err, sizeof(err))) != 0) {
        log_warn("scheduler: undecodable message from the master err=%s detail=\"%s\"",
                 ag_strerror(rv), err);
        if (rv == -AG_ENOMEM)
            drv_error(d, rv, "out of memory: a message from the master was lost");
        return;
    }
    if (m.epoch < d->master_epoch) {
        log_warn("scheduler: dropped %s from a deposed leading master (epoch %llu, the "
                 "leader's is %llu)",
                 msg_type_name(m.type), (unsigned long long)m.epoch,
                 (unsigned long long)d->master_epoch);
        msg_free(&m);
        return;
    }
    d->master_epoch = m.epoch;
    switch (m.type) {
    case MSG_AUTH_CHALLENGE:
        drv_auth_challenge(d, &m.u.auth_challenge);
        break;
    case MSG_AUTH_RESULT:
        if (d->conn != CONN_AUTH)
            break;
        if (m.u.auth_result.ok) {
            log_info("scheduler: authenticated principal=%s", d->info->fi.principal);
            drv_send_subscribe(d);
        } else {
            char msg[300];

            snprintf(msg, sizeof(msg), "authentication refused: %s", m.u.auth_result.message);
            drv_fatal(d, -AG_EPERM, msg);
        }
        break;
    case MSG_SUBSCRIBED:
        drv_subscribed(d, &m.u.subscribed);
        break;
    case MSG_OFFERS:
        if (d->conn == CONN_SUBSCRIBED)
            drv_offers(d, &m.u.offers);
        break;
    case MSG_RESCIND:
        free(hmap_del(&d->offers, m.u.rescind.offer_id));
        if (d->conn == CONN_SUBSCRIBED && HAS_CB(d, rescind))
            d->cb.rescind(d, d->arg, m.u.rescind.offer_id);
        break;
    case MSG_STATUS_UPDATE:
        if (d->conn == CONN_SUBSCRIBED)
            drv_status(d, &m.u.status_update);
        break;
    case MSG_FRAMEWORK_MESSAGE:
        if (d->conn == CONN_SUBSCRIBED && HAS_CB(d, framework_message))
            d->cb.framework_message(d, d->arg, m.u.framework_message.agent_id,
                                    m.u.framework_message.executor_id, m.u.framework_message.data,
                                    m.u.framework_message.data_len);
        break;
    case MSG_ERROR:
        /* Fatal: the master refused the subscription, or removed the framework
         * (operator teardown: its id is void and its tasks are being killed). */
        if (d->conn != CONN_SUBSCRIBED || m.u.error.fatal ||
            (m.corr != 0 && m.corr == d->subscribe_corr))
            drv_fatal(d, m.u.error.code,
                      m.u.error.message[0] ? m.u.error.message
                                           : "the master refused the framework");
        else
            drv_error(d, m.u.error.code < 0 ? m.u.error.code : -AG_EPROTO, m.u.error.message);
        break;
    case MSG_HEARTBEAT:
        break;
    default:
        log_debug("scheduler: ignoring message type=%s", msg_type_name(m.type));
        break;
    }
    msg_free(&m);
}

static const struct tp_client_ops drv_tp_ops = {
    .on_connect = drv_on_connect,
    .on_message = drv_on_message,
    .on_disconnect = drv_on_disconnect,
};

static int
drv_open_client(struct ag_driver *d)
{
    struct tp_options o;
    nng_tls_config *tls = NULL;
    char err[512];
    int rv;

    tp_options_init(&o);
    /* A new leader opens its port a few ms after ZooKeeper names it: redial
     * soon. */
    if (d->detector != NULL)
        o.reconnect_min_ms = 20;
    if (d->master.tls) {
        rv = tls_client_config(&tls, d->info->tls ? &d->info->tls_files : NULL, d->master.host,
                               err, sizeof(err));
        if (rv != 0) {
            d->cli = NULL;
            log_warn("scheduler: cannot connect over TLS: %s", err);
            return rv;
        }
        o.tls = tls;
    }
    rv = tp_client_open_opts(&d->cli, &d->loop, d->master.stream_url, &drv_tp_ops, d, &o);
    if (tls != NULL)
        nng_tls_config_free(tls);
    if (rv != 0) {
        d->cli = NULL;
        log_warn("scheduler: cannot open a connection url=%s err=%s", d->master.stream_url,
                 ag_strerror(rv));
    }
    return rv;
}

/* ---- the tick, stopping ---- */

static void
drv_tick_cb(uv_timer_t *t)
{
    struct ag_driver *d = t->data;
    uint64_t now = drv_now(d);

    if (d->closing)
        return;
    if (d->cli == NULL) {
        if (d->master.port != 0)
            drv_open_client(d);
    } else if (d->conn == CONN_SUBSCRIBED && d->hb_ms > 0 && d->hb_misses > 0 &&
               now - d->last_recv > d->hb_ms * (uint64_t)d->hb_misses) {
        drv_reconnect(d, "no heartbeat from the master");
    } else if ((d->conn == CONN_AUTH || d->conn == CONN_SUBSCRIBING) &&
               now - d->conn_since > SUBSCRIBE_TIMEOUT_MS) {
        drv_reconnect(d, "no answer to SUBSCRIBE");
    }
    if (d->closing)
        return;
    if (d->torn_down && now >= d->teardown_deadline) {
        drv_shutdown(d, 0);
        return;
    }
    drv_recon_tick(d);
    drv_pump(d);
}

static void
drv_handle_closed(uv_handle_t *h)
{
    (void)h;
}

static void
drv_close_transport(struct ag_driver *d)
{
    detector_close(d->detector);
    d->detector = NULL;
    tp_client_close(d->cli);
    d->cli = NULL;
    if (d->tick_ok) {
        uv_timer_stop(&d->tick);
        uv_close((uv_handle_t *)&d->tick, drv_handle_closed);
        d->tick_ok = false;
    }
}

static void
drv_linger_cb(uv_timer_t *t)
{
    drv_close_transport(t->data);
}

void
drv_shutdown(struct ag_driver *d, int code)
{
    struct call *c;
    bool linger;

    if (d->closing || d->quiet)
        return;
    d->quiet = true;
    pthread_mutex_lock(&d->lock);
    d->state = DRV_STOPPING;
    d->subscribed = false;
    d->exit_code = code;
    pthread_mutex_unlock(&d->lock);
    /* Best effort for what the framework asked before stopping: calls posted
     * by other threads join the queue, which is sent without rate limit. */
    if (d->evq_ok)
        evq_run(&d->evq);
    if (d->conn == CONN_SUBSCRIBED) {
        rl_init(&d->rl, 0, 1, drv_now(d));
        drv_pump(d);
    }
    d->closing = true;
    while ((c = call_queue_pop(&d->q)) != NULL)
        call_done(d, c);
    if (d->evq_ok) {
        evq_close(&d->evq, NULL);
        d->evq_ok = false;
    }
    if (d->async_ok) {
        uv_close((uv_handle_t *)&d->stop_async, drv_handle_closed);
        d->async_ok = false;
    }
    linger = d->cli != NULL && d->conn != CONN_DOWN && d->sent_any && d->tick_ok;
    if (linger) {
        uv_timer_stop(&d->tick);
        uv_timer_start(&d->tick, drv_linger_cb, STOP_LINGER_MS, 0);
    } else {
        drv_close_transport(d);
    }
}

static void
drv_stop_async_cb(uv_async_t *a)
{
    struct ag_driver *d = a->data;
    bool stop;

    pthread_mutex_lock(&d->lock);
    stop = d->stop_requested;
    pthread_mutex_unlock(&d->lock);
    if (stop)
        drv_shutdown(d, 0);
}

/* ---- the driver thread ---- */

/* Sets up the loop and its handles. On failure closes what was opened. */
static int
drv_setup(struct ag_driver *d)
{
    int rv;

    if ((rv = ag_from_uv(uv_loop_init(&d->loop))) != 0)
        return rv;
    d->loop_ok = true;
    if ((rv = evq_init(&d->evq, &d->loop)) != 0)
        return rv;
    d->evq_ok = true;
    if ((rv = ag_from_uv(uv_async_init(&d->loop, &d->stop_async, drv_stop_async_cb))) != 0)
        return rv;
    d->stop_async.data = d;
    d->async_ok = true;
    if ((rv = ag_from_uv(uv_timer_init(&d->loop, &d->tick))) != 0)
        return rv;
    d->tick.data = d;
    d->tick_ok = true;
    rl_init(&d->rl, d->rate, d->burst, uv_now(&d->loop));
    if ((rv = uv_timer_start(&d->tick, drv_tick_cb, TICK_MS, TICK_MS)) != 0)
        return ag_from_uv(rv);
    if (detector_follows(d->master_spec)) {
        char err[512];

        rv = detector_open(&d->detector, &d->loop, d->master_spec, d->info->tls, drv_on_master,
                           d, err, sizeof(err));
        if (rv != 0)
            log_error("scheduler: %s", err);
        return rv;
    }
    return drv_open_client(d);
}

static void
drv_teardown_loop(struct ag_driver *d)
{
    struct call *c;

    if (!d->loop_ok)
        return;
    d->closing = true;
    if (d->evq_ok)
        evq_close(&d->evq, NULL);
    if (d->async_ok)
        uv_close((uv_handle_t *)&d->stop_async, drv_handle_closed);
    d->evq_ok = d->async_ok = false;
    drv_close_transport(d);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&d->loop) != 0)
        log_warn("scheduler: event loop closed with handles still open");
    d->loop_ok = false;
    while ((c = call_queue_pop(&d->q)) != NULL)
        call_done(d, c);
    hmap_clear_free(&d->offers);
}

void *
drv_main(void *arg)
{
    struct ag_driver *d = arg;
    bool stop;
    int rv;

    tls_driver = d;
    rv = drv_setup(d);
    pthread_mutex_lock(&d->lock);
    d->start_rv = rv;
    d->state = rv == 0 ? DRV_RUNNING : DRV_STOPPING;
    stop = d->stop_requested;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
    if (rv == 0) {
        log_info("scheduler: driver started master=%s", d->master.stream_url);
        if (stop)
            drv_shutdown(d, 0);
        uv_run(&d->loop, UV_RUN_DEFAULT);
    }
    drv_teardown_loop(d);
    pthread_mutex_lock(&d->lock);
    d->state = DRV_DONE;
    if (rv != 0)
        d->exit_code = rv;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
    tls_driver = NULL;
    return NULL;
}

bool
drv_on_thread(const struct ag_driver *d)
{
    return tls_driver == d;
}

int
drv_roles_call(struct ag_driver *d, enum msg_type type, const char *role)
{
    struct call *c;
    char ***roles;
    size_t *n;
    int rv;

    if (d == NULL)
        return sched_err(-AG_EINVAL, "NULL driver");
    if (role != NULL && !res_role_valid(role))
        return sched_err(-AG_EINVAL, "invalid role \"%s\"", role);
    if ((c = call_new(type)) == NULL)
        return sched_err(-AG_ENOMEM, "out of memory");
    roles = type == MSG_REVIVE ? &c->m.u.revive.roles : &c->m.u.suppress.roles;
    n = type == MSG_REVIVE ? &c->m.u.revive.nroles : &c->m.u.suppress.nroles;
    if (role != NULL && call_strs_dup(roles, n, &role, 1) != 0) {
        call_free(c);
        return sched_err(-AG_ENOMEM, "out of memory");
    }
    if ((rv = drv_submit(d, c)) == 0 && (type == MSG_REVIVE || role == NULL)) {
        pthread_mutex_lock(&d->lock);
        d->suppressed = type == MSG_SUPPRESS;
        pthread_mutex_unlock(&d->lock);
    }
    return rv;
}
