#include "agent_link.h"

#include "agent_ckpt.h"
#include "agent_int.h"
#include "agent_launch.h"
#include "agent_tasks.h"
#include "auth.h"
#include "clock.h"
#include "error.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "transport.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AGENT_MISSED_PINGS 5        /* pings missed before the agent redials */
#define AGENT_DEFAULT_PING_MS 15000 /* until the master tells us its interval */
#define AGENT_MAX_BACKOFF_MS 60000  /* handshake retry backoff cap */

int
alink_send(struct agent *a, struct msg *m)
{
    void *buf;
    size_t len;
    int rv;

    if (a->cli == NULL)
        return -AG_ECLOSED;
    m->sender = a->id;
    if ((rv = msg_encode_alloc(m, &buf, &len)) != 0) {
        log_error("cannot encode %s: %s", msg_type_name(m->type), ag_strerror(rv));
        return rv;
    }
    rv = tp_client_send(a->cli, buf, len);
    free(buf);
    if (rv == 0)
        metrics_inc(a->stats.messages_sent);
    return rv;
}

static int
su_send_cb(void *arg, const struct msg_task_status *status)
{
    struct agent *a = arg;
    struct msg m;

    if (a->conn != AGENT_REGISTERED)
        return -AG_ECLOSED;
    msg_init(&m, MSG_STATUS_UPDATE);
    m.u.status_update.status = *status;
    return alink_send(a, &m); /* durable already: su waits for that */
}

const struct su_ops alink_su_ops = {
    .send = su_send_cb,
};

/* ---- the handshake ---- */

static void
send_register(struct agent *a)
{
    struct msg m;
    struct msg_agent_register *r;
    struct msg_agent_task *tasks;
    struct msg_framework_info *fws;
    const char *key;
    void *val;
    char user[256];
    size_t n = 0;
    int rv;

    msg_init(&m, MSG_AGENT_REGISTER);
    r = &m.u.agent_register;
    r->agent_id = a->id;
    r->hostname = a->hostname;
    r->http_address = a->http_address;
    r->resources = a->resources; /* borrowed: m is never msg_free'd */
    r->attributes = a->attributes;
    r->version = AGORA_VERSION;
    r->task_user = (char *)launch_task_user(a, user, sizeof(user), &r->task_user_only);
    tasks = xcalloc(hmap_size(&a->tasks) + 1, sizeof(*tasks));
    fws = xcalloc(hmap_size(&a->frameworks) + 1, sizeof(*fws));
    for (size_t it = 0; hmap_next(&a->tasks, &it, &key, &val);) {
        struct agent_task *t = val;
        if (t->st.status.state == MSG_TASK_STAGING)
            continue; /* launching right now; reported by its first update */
        tasks[n].task = t->st.info;
        tasks[n].status = t->st.status;
        n++;
    }
    r->tasks = tasks;
    r->ntasks = n;
    n = 0;
    for (size_t it = 0; hmap_next(&a->frameworks, &it, &key, &val);)
        fws[n++] = ((struct agent_framework *)val)->info;
    r->framework_infos = fws;
    r->nframework_infos = n;
    a->conn = AGENT_REGISTERING;
    rv = alink_send(a, &m);
    log_info("%s with the master master=%s agent_id=%s tasks=%zu%s%s",
             a->id[0] ? "re-registering" : "registering", a->master.stream_url,
             a->id[0] ? a->id : "(new)", r->ntasks, rv ? " send_error=" : "",
             rv ? ag_strerror(rv) : "");
    free(tasks);
    free(fws);
}

static void
handshake_start(struct agent *a)
{
    struct msg m;

    if (a->principal == NULL) {
        send_register(a);
        return;
    }
    msg_init(&m, MSG_AUTH_START);
    m.u.auth_start.principal = a->principal;
    m.u.auth_start.mechanism = MSG_AUTH_MECHANISM;
    a->conn = AGENT_AUTHENTICATING;
    alink_send(a, &m);
    log_info("authenticating with the master principal=%s", a->principal);
}

/* Doubles the handshake backoff (first step: --registration_backoff_factor). */
static void
backoff_grow(struct agent *a)
{
    int64_t first = a->cfg.registration_backoff_ms > 0 ? a->cfg.registration_backoff_ms : 1000;

    a->backoff_ms = a->backoff_ms == 0 ? first : a->backoff_ms * 2;
    if (a->backoff_ms > AGENT_MAX_BACKOFF_MS)
        a->backoff_ms = AGENT_MAX_BACKOFF_MS;
}

/* The handshake failed: try again on this connection after the backoff. */
static void
handshake_failed(struct agent *a)
{
    backoff_grow(a);
    if (a->conn != AGENT_DISCONNECTED)
        a->conn = AGENT_CONNECTED;
    a->handshake_at_ms = agent_now_ms(a) + a->backoff_ms;
    su_set_online(&a->su, false, agent_now_ms(a));
    log_info("retrying the handshake with the master in %lld ms", (long long)a->backoff_ms);
}

/* ---- messages from the master ---- */

static void
handle_registered(struct agent *a, const struct msg_agent_registered *r)
{
    int rv;

    if (a->conn != AGENT_REGISTERING) {
        log_debug("unexpected AGENT_REGISTERED ignored");
        return;
    }
    if (!ids_valid(r->agent_id)) {
        log_error("the master gave an invalid agent id");
        handshake_failed(a);
        return;
    }
    if (strcmp(a->id, r->agent_id) != 0) {
        if (a->id[0] != '\0')
            log_warn("the master gave a new agent id old=%s new=%s", a->id, r->agent_id);
        snprintf(a->id, sizeof(a->id), "%s", r->agent_id);
        if ((rv = ckpt_begin(a)) == 0)
            rv = ckpt_end(a, state_set_agent_id(a->state, a->id));
        if (rv != 0)
            log_error("cannot checkpoint the agent id: %s", ag_strerror(rv));
    }
    a->conn = AGENT_REGISTERED;
    a->ping_interval_ms = r->ping_interval_ms;
    a->backoff_ms = 0;
    a->registered_time = clock_wall();
    metrics_inc(a->stats.registrations);
    log_info("registered with the master agent_id=%s master=%s ping_interval_ms=%u "
             "pending_updates=%zu",
             a->id, a->master.stream_url, r->ping_interval_ms, su_total(&a->su));
    su_set_online(&a->su, true, agent_now_ms(a));
}

static void
handle_error(struct agent *a, const struct msg_error *e)
{
    log_warn("error from the master code=%d (%s) message=%s", e->code, ag_strerror(e->code),
             e->message);
    switch (a->conn) {
    case AGENT_REGISTERING:
        if (e->code == -AG_ESTATE && a->id[0] != '\0') {
            atask_reset(a, e->message);
            send_register(a);
        } else {
            handshake_failed(a);
        }
        break;
    case AGENT_AUTHENTICATING:
        handshake_failed(a);
        break;
    case AGENT_REGISTERED:
        if (e->code == -AG_ESTATE) { /* the master does not see us as registered here */
            su_set_online(&a->su, false, agent_now_ms(a));
            send_register(a);
        }
        break;
    default:
        break;
    }
}

static void
handle_auth_challenge(struct agent *a, const struct msg_auth_challenge *c)
{
    uint8_t proof[AUTH_PROOF_LEN];
    struct msg m;

    if (a->conn != AGENT_AUTHENTICATING || a->secret == NULL)
        return;
    if (auth_proof(a->secret, c->nonce, c->nonce_len, proof) != 0) {
        log_error("cannot compute the authentication proof");
        handshake_failed(a);
        return;
    }
    msg_init(&m, MSG_AUTH_RESPONSE);
    m.u.auth_response.principal = a->principal;
    m.u.auth_response.proof = proof;
    m.u.auth_response.proof_len = sizeof(proof);
    alink_send(a, &m);
}

static void
handle_auth_result(struct agent *a, const struct msg_auth_result *r)
{
    if (a->conn != AGENT_AUTHENTICATING)
        return;
    if (!r->ok) {
        log_error("authentication failed principal=%s: %s", a->principal, r->message);
        handshake_failed(a);
        return;
    }
    log_info("authenticated principal=%s", a->principal);
    send_register(a);
}

void
alink_handle(struct agent *a, const struct msg *m)
{
    switch (m->type) {
    case MSG_AGENT_REGISTERED:
        handle_registered(a, &m->u.agent_registered);
        break;
    case MSG_PING: {
        struct msg pong;
        msg_init(&pong, MSG_PONG);
        pong.u.pong.seq = m->u.ping.seq;
        alink_send(a, &pong);
        break;
    }
    case MSG_AUTH_CHALLENGE:
        handle_auth_challenge(a, &m->u.auth_challenge);
        break;
    case MSG_AUTH_RESULT:
        handle_auth_result(a, &m->u.auth_result);
        break;
    case MSG_ERROR:
        handle_error(a, &m->u.error);
        break;
    default:
        log_debug("unexpected %s from the master ignored", msg_type_name(m->type));
        break;
    }
}

/* ---- connection events ---- */

void
alink_connected(struct agent *a)
{
    a->conn = AGENT_CONNECTED;
    a->last_master_ms = agent_now_ms(a);
    a->ping_interval_ms = 0;
    log_info("connected to the master master=%s", a->master.stream_url);
    a->handshake_at_ms = agent_now_ms(a) + a->backoff_ms;
    if (a->backoff_ms == 0)
        handshake_start(a);
}

void
alink_disconnected(struct agent *a)
{
    log_warn("disconnected from the master master=%s", a->master.stream_url);
    if (a->conn == AGENT_AUTHENTICATING) /* refused: the master closes at once */
        backoff_grow(a);
    a->conn = AGENT_DISCONNECTED;
    su_set_online(&a->su, false, agent_now_ms(a));
}

const char *
alink_tick(struct agent *a, int64_t now)
{
    int64_t silence;

    if (a->conn == AGENT_CONNECTED && now >= a->handshake_at_ms)
        handshake_start(a);
    if (a->conn != AGENT_DISCONNECTED) {
        silence = (int64_t)(a->ping_interval_ms ? a->ping_interval_ms : AGENT_DEFAULT_PING_MS) *
                  AGENT_MISSED_PINGS;
        if (now - a->last_master_ms > silence)
            return "no message from the master for 5 ping intervals";
    }
    return NULL;
}
