#include "simagents.h"

#include "attributes.h"
#include "clock.h"
#include "detector.h"
#include "error.h"
#include "hmap.h"
#include "ids.h"
#include "log.h"
#include "msg.h"
#include "resources.h"
#include "status_updates.h"
#include "transport.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SIM_TICK_MS 100
#define SIM_MISSED_PINGS 5         /* as agora-agent: silence before redialing */
#define SIM_DEFAULT_PING_MS 15000  /* until the master tells its interval */
#define SIM_MAX_BACKOFF_MS 60000   /* registration backoff cap */
#define SIM_RUN_LABEL "sim_run_ms" /* a task's own run time, overriding the flags */
#define SIM_SOURCE "SOURCE_EXECUTOR"

enum sa_conn { SA_DISCONNECTED, SA_CONNECTED, SA_REGISTERING, SA_REGISTERED };

struct sframework {
    struct msg_framework_info info;
    size_t ntasks;
};

struct stask {
    char key[2 * AG_ID_MAX + 2];
    struct msg_task_info info;
    enum msg_task_state state;
    char uuid[IDS_UUID_LEN + 1]; /* of the latest update */
    double timestamp;            /* of the latest update */
    int64_t due_ms;              /* next transition (RUNNING or FINISHED); 0: none */
    int64_t run_ms;              /* RUNNING to FINISHED (0: until killed) */
};

struct sagent {
    struct sim *sim;
    int64_t index;
    struct tp_client *cli;
    enum sa_conn conn;
    char id[AG_ID_MAX];
    char hostname[96];
    char http_address[128];
    struct attributes attributes;
    int64_t handshake_at_ms;
    int64_t backoff_ms;
    int64_t last_master_ms;
    int64_t next_due_ms; /* earliest stask due_ms (INT64_MAX: none) */
    uint32_t ping_interval_ms;
    struct hmap tasks;      /* "framework_id/task_id" -> struct stask * */
    struct hmap frameworks; /* framework_id -> struct sframework * */
    struct su su;
};

struct sim {
    uv_loop_t *loop;
    struct sim_config cfg;
    struct detector_master master;
    struct resources resources;
    struct sagent *agents; /* cfg.agents of them; [0, nopen) opened */
    int64_t nopen;
    int64_t started_ms;
    int64_t stats_at_ms;
    uv_timer_t tick;
    msgpack_sbuffer buf; /* encoding scratch */
    uint64_t registrations, launched, finished, reconnects;
    bool closing;
};

static const struct tp_client_ops sa_tp_ops;

static int64_t
sim_now(const struct sim *s)
{
    return (int64_t)uv_now(s->loop);
}

static int64_t
rand_between(int64_t lo, int64_t hi)
{
    if (hi <= lo)
        return lo;
    return lo +
           (int64_t)(((uint64_t)random() << 31 ^ (uint64_t)random()) % (uint64_t)(hi - lo + 1));
}

/* Encodes `m` as agent `a` and queues it. 0 or a negative code. */
static int
sa_send(struct sagent *a, struct msg *m)
{
    struct sim *s = a->sim;
    int rv;

    if (a->cli == NULL)
        return -AG_ECLOSED;
    m->sender = a->id;
    s->buf.size = 0;
    if ((rv = msg_encode(m, &s->buf)) != 0) {
        log_error("cannot encode %s: %s", msg_type_name(m->type), ag_strerror(rv));
        return rv;
    }
    return tp_client_send(a->cli, s->buf.data, s->buf.size);
}

static int
su_send_cb(void *arg, const struct msg_task_status *status)
{
    struct sagent *a = arg;
    struct msg m;

    if (a->conn != SA_REGISTERED)
        return -AG_ECLOSED;
    msg_init(&m, MSG_STATUS_UPDATE);
    m.u.status_update.status = *status;
    return sa_send(a, &m);
}

static const struct su_ops sa_su_ops = {
    .send = su_send_cb,
};

/* ---- tasks ---- */

static void
stask_free(struct sagent *a, struct stask *t)
{
    struct sframework *f = hmap_get(&a->frameworks, t->info.framework_id);

    if (f != NULL && --f->ntasks == 0) {
        hmap_del(&a->frameworks, t->info.framework_id);
        msg_framework_info_fini(&f->info);
        free(f);
    }
    msg_task_info_fini(&t->info);
    free(t);
}

/* Forgets every task and framework (the master removed the agent). */
static void
sa_forget_tasks(struct sagent *a)
{
    void *val;

    for (size_t it = 0; hmap_next(&a->tasks, &it, NULL, &val);) {
        struct stask *t = val;
        hmap_del(&a->tasks, t->key);
        stask_free(a, t);
    }
    su_clear(&a->su);
}

static void
sa_due(struct sagent *a, int64_t due_ms)
{
    if (due_ms > 0 && due_ms < a->next_due_ms)
        a->next_due_ms = due_ms;
}

/* Moves `t` to `state` and queues the reliable update that says so. */
static void
stask_update(struct sagent *a, struct stask *t, enum msg_task_state state, const char *reason,
             const char *message)
{
    struct msg_task_status st;

    msg_task_status_init(&st);
    if (ids_new_uuid(t->uuid) != 0)
        abort();
    t->state = state;
    t->timestamp = clock_wall();
    st.task_id = t->info.task_id;
    st.agent_id = a->id;
    st.framework_id = t->info.framework_id;
    st.state = state;
    st.reason = (char *)reason;
    st.message = (char *)message;
    st.source = SIM_SOURCE;
    st.uuid = t->uuid;
    st.timestamp = t->timestamp;
    if (su_add(&a->su, &st, sim_now(a->sim)) != 0)
        log_error("cannot queue the update of task %s", t->key);
    if (msg_task_state_terminal(state))
        a->sim->finished++;
}

/* The run time of a new task: its label, else the configured range. */
static int64_t
stask_run_ms(const struct sim *s, const struct msg_task_info *info)
{
    for (size_t i = 0; i < info->nlabels; i++)
        if (strcmp(info->labels[i].key, SIM_RUN_LABEL) == 0)
            return strtoll(info->labels[i].value, NULL, 10);
    return s->cfg.run_min_ms > 0 ? rand_between(s->cfg.run_min_ms, s->cfg.run_max_ms) : 0;
}

static void
sa_run_task(struct sagent *a, const struct msg_run_task *r)
{
    struct sim *s = a->sim;
    const struct msg_task_info *info = &r->task;
    const char *fwid = info->framework_id[0] ? info->framework_id : r->framework.framework_id;
    struct sframework *f;
    struct stask *t;
    char key[2 * AG_ID_MAX + 2];
    int64_t now = sim_now(s);

    if (!ids_valid(fwid) || !ids_valid(info->task_id)) {
        log_warn("RUN_TASK with invalid ids ignored");
        return;
    }
    snprintf(key, sizeof(key), "%s/%s", fwid, info->task_id);
    if (hmap_get(&a->tasks, key) != NULL) {
        log_warn("RUN_TASK for known task %s ignored", key);
        return;
    }
    if ((f = hmap_get(&a->frameworks, fwid)) == NULL) {
        f = xcalloc(1, sizeof(*f));
        msg_framework_info_init(&f->info);
        if (hmap_put(&a->frameworks, fwid, f) != 0)
            xalloc_die(0);
    }
    if (msg_framework_info_copy(&f->info, &r->framework) != 0)
        xalloc_die(0);
    if (strcmp(f->info.framework_id, fwid) != 0) {
        free(f->info.framework_id);
        f->info.framework_id = xstrdup(fwid);
    }
    f->ntasks++;
    t = xcalloc(1, sizeof(*t));
    snprintf(t->key, sizeof(t->key), "%s", key);
    msg_task_info_init(&t->info);
    if (msg_task_info_copy(&t->info, info) != 0)
        xalloc_die(0);
    if (strcmp(t->info.framework_id, fwid) != 0) {
        free(t->info.framework_id);
        t->info.framework_id = xstrdup(fwid);
    }
    if (t->info.agent_id[0] == '\0') {
        free(t->info.agent_id);
        t->info.agent_id = xstrdup(a->id);
    }
    t->state = MSG_TASK_STAGING;
    t->run_ms = stask_run_ms(s, info);
    if (hmap_put(&a->tasks, t->key, t) != 0)
        xalloc_die(0);
    s->launched++;
    if (s->cfg.running_delay_ms <= 0) {
        stask_update(a, t, MSG_TASK_RUNNING, "", "");
        t->due_ms = t->run_ms > 0 ? now + t->run_ms : 0;
    } else {
        t->due_ms = now + s->cfg.running_delay_ms;
    }
    sa_due(a, t->due_ms);
}

static void
sa_kill(struct sagent *a, struct stask *t)
{
    if (msg_task_state_terminal(t->state))
        return; /* its end is reported already */
    t->due_ms = 0;
    stask_update(a, t, MSG_TASK_KILLED, "", "killed");
}

static void
sa_kill_task(struct sagent *a, const struct msg_kill_task *k)
{
    char key[2 * AG_ID_MAX + 2];
    struct stask *t;

    snprintf(key, sizeof(key), "%s/%s", k->framework_id, k->task_id);
    if ((t = hmap_get(&a->tasks, key)) != NULL) {
        sa_kill(a, t);
        return;
    }
    /* Unknown: the real agent answers TASK_LOST so that the master stops asking. */
    if (ids_valid(k->framework_id) && ids_valid(k->task_id)) {
        struct msg_task_status st;
        char uuid[IDS_UUID_LEN + 1];

        msg_task_status_init(&st);
        if (ids_new_uuid(uuid) != 0)
            abort();
        st.task_id = k->task_id;
        st.agent_id = a->id;
        st.framework_id = k->framework_id;
        st.state = MSG_TASK_LOST;
        st.reason = "REASON_TASK_UNKNOWN";
        st.message = "unknown task";
        st.source = "SOURCE_AGENT";
        st.uuid = uuid;
        st.timestamp = clock_wall();
        su_add(&a->su, &st, sim_now(a->sim));
    }
}

static void
sa_shutdown_framework(struct sagent *a, const char *framework_id)
{
    void *val;

    for (size_t it = 0; hmap_next(&a->tasks, &it, NULL, &val);) {
        struct stask *t = val;
        if (strcmp(t->info.framework_id, framework_id) == 0)
            sa_kill(a, t);
    }
}

static void
sa_ack(struct sagent *a, const struct msg_status_ack *ack)
{
    char key[2 * AG_ID_MAX + 2];
    struct stask *t;

    if (su_ack(&a->su, ack->framework_id, ack->task_id, ack->uuid, sim_now(a->sim)) != 0)
        return;
    snprintf(key, sizeof(key), "%s/%s", ack->framework_id, ack->task_id);
    t = hmap_get(&a->tasks, key);
    if (t != NULL && msg_task_state_terminal(t->state) &&
        su_pending(&a->su, ack->framework_id, ack->task_id) == 0) {
        hmap_del(&a->tasks, key);
        stask_free(a, t);
    }
}

/* Moves the tasks of `a` whose time has come. */
static void
sa_tasks_tick(struct sagent *a, int64_t now)
{
    void *val;

    if (now < a->next_due_ms)
        return;
    a->next_due_ms = INT64_MAX;
    for (size_t it = 0; hmap_next(&a->tasks, &it, NULL, &val);) {
        struct stask *t = val;
        if (t->due_ms == 0 || msg_task_state_terminal(t->state))
            continue;
        if (t->due_ms <= now) {
            if (t->state == MSG_TASK_STAGING) {
                stask_update(a, t, MSG_TASK_RUNNING, "", "");
                t->due_ms = t->run_ms > 0 ? now + t->run_ms : 0;
            } else {
                stask_update(a, t, MSG_TASK_FINISHED, "", "simulated run time over");
                t->due_ms = 0;
            }
        }
        sa_due(a, t->due_ms);
    }
}

/* ---- the handshake ---- */

static void
sa_register(struct sagent *a)
{
    struct sim *s = a->sim;
    struct msg m;
    struct msg_agent_register *r;
    struct msg_agent_task *tasks;
    struct msg_framework_info *fws;
    struct msg_task_status *sts;
    void *val;
    size_t n = 0;
    int rv;

    msg_init(&m, MSG_AGENT_REGISTER);
    r = &m.u.agent_register;
    r->agent_id = a->id;
    r->hostname = a->hostname;
    r->http_address = a->http_address;
    r->resources = s->resources; /* borrowed: m is never msg_free'd */
    r->attributes = a->attributes;
    r->version = AGORA_VERSION;
    r->task_user = "";
    tasks = xcalloc(hmap_size(&a->tasks) + 1, sizeof(*tasks));
    sts = xcalloc(hmap_size(&a->tasks) + 1, sizeof(*sts));
    fws = xcalloc(hmap_size(&a->frameworks) + 1, sizeof(*fws));
    for (size_t it = 0; hmap_next(&a->tasks, &it, NULL, &val);) {
        struct stask *t = val;
        if (t->state == MSG_TASK_STAGING)
            continue; /* reported by its first update, as the real agent does */
        msg_task_status_init(&sts[n]);
        sts[n].task_id = t->info.task_id;
        sts[n].agent_id = a->id;
        sts[n].framework_id = t->info.framework_id;
        sts[n].state = t->state;
        sts[n].source = SIM_SOURCE;
        sts[n].uuid = t->uuid;
        sts[n].timestamp = t->timestamp;
        tasks[n].task = t->info;
        tasks[n].status = sts[n];
        n++;
    }
    r->tasks = tasks;
    r->ntasks = n;
    n = 0;
    for (size_t it = 0; hmap_next(&a->frameworks, &it, NULL, &val);)
        fws[n++] = ((struct sframework *)val)->info;
    r->framework_infos = fws;
    r->nframework_infos = n;
    a->conn = SA_REGISTERING;
    if ((rv = sa_send(a, &m)) != 0)
        log_warn("agent %s: cannot send AGENT_REGISTER: %s", a->hostname, ag_strerror(rv));
    log_debug("agent %s %s agent_id=%s tasks=%zu", a->hostname,
              a->id[0] ? "re-registering" : "registering", a->id[0] ? a->id : "(new)", r->ntasks);
    free(tasks);
    free(sts);
    free(fws);
}

static void
sa_backoff_grow(struct sagent *a)
{
    int64_t first = a->sim->cfg.backoff_ms > 0 ? a->sim->cfg.backoff_ms : 1000;

    a->backoff_ms = a->backoff_ms == 0 ? first : a->backoff_ms * 2;
    if (a->backoff_ms > SIM_MAX_BACKOFF_MS)
        a->backoff_ms = SIM_MAX_BACKOFF_MS;
}

/* When to start the handshake after (re)connecting or a refusal. */
static void
sa_schedule_handshake(struct sagent *a, int64_t now)
{
    int64_t jitter = a->sim->cfg.jitter_ms > 0 ? rand_between(0, a->sim->cfg.jitter_ms - 1) : 0;

    a->handshake_at_ms = now + a->backoff_ms + jitter;
}

static void
handle_registered(struct sagent *a, const struct msg_agent_registered *r)
{
    if (a->conn != SA_REGISTERING)
        return;
    if (!ids_valid(r->agent_id)) {
        log_error("agent %s: the master gave an invalid id", a->hostname);
        sa_backoff_grow(a);
        a->conn = SA_CONNECTED;
        sa_schedule_handshake(a, sim_now(a->sim));
        return;
    }
    if (a->id[0] != '\0' && strcmp(a->id, r->agent_id) != 0)
        log_warn("agent %s: the master gave a new id old=%s new=%s", a->hostname, a->id,
                 r->agent_id);
    snprintf(a->id, sizeof(a->id), "%s", r->agent_id);
    a->conn = SA_REGISTERED;
    a->ping_interval_ms = r->ping_interval_ms;
    a->backoff_ms = 0;
    a->sim->registrations++;
    su_set_online(&a->su, true, sim_now(a->sim));
}

static void
handle_error(struct sagent *a, const struct msg_error *e)
{
    log_warn("agent %s: error from the master code=%d message=%s", a->hostname, e->code,
             e->message);
    switch (a->conn) {
    case SA_REGISTERING:
        if (e->code == -AG_ESTATE && a->id[0] != '\0') {
            /* Removed: its tasks are gone for the master; start afresh. */
            sa_forget_tasks(a);
            a->id[0] = '\0';
            sa_register(a);
        } else {
            sa_backoff_grow(a);
            a->conn = SA_CONNECTED;
            su_set_online(&a->su, false, sim_now(a->sim));
            sa_schedule_handshake(a, sim_now(a->sim));
        }
        break;
    case SA_REGISTERED:
        if (e->code == -AG_ESTATE) {
            su_set_online(&a->su, false, sim_now(a->sim));
            sa_register(a);
        }
        break;
    default:
        break;
    }
}

/* ---- the transport's events ---- */

static void
on_message(void *arg, const void *data, size_t len)
{
    struct sagent *a = arg;
    struct msg m;
    char err[256];
    int rv;

    a->last_master_ms = sim_now(a->sim);
    if ((rv = msg_decode(&m, data, len, err, sizeof(err))) != 0) {
        log_warn("agent %s: undecodable message from the master: %s", a->hostname, err);
        return;
    }
    switch (m.type) {
    case MSG_RUN_TASK:
    case MSG_KILL_TASK:
    case MSG_SHUTDOWN_FRAMEWORK:
    case MSG_STATUS_ACK:
        if (a->conn != SA_REGISTERED)
            break;
        if (m.type == MSG_RUN_TASK)
            sa_run_task(a, &m.u.run_task);
        else if (m.type == MSG_KILL_TASK)
            sa_kill_task(a, &m.u.kill_task);
        else if (m.type == MSG_SHUTDOWN_FRAMEWORK)
            sa_shutdown_framework(a, m.u.shutdown_framework.framework_id);
        else
            sa_ack(a, &m.u.status_ack);
        break;
    case MSG_AGENT_REGISTERED:
        handle_registered(a, &m.u.agent_registered);
        break;
    case MSG_PING: {
        struct msg pong;
        msg_init(&pong, MSG_PONG);
        pong.u.pong.seq = m.u.ping.seq;
        sa_send(a, &pong);
        break;
    }
    case MSG_ERROR:
        handle_error(a, &m.u.error);
        break;
    default:
        log_debug("agent %s: unexpected %s ignored", a->hostname, msg_type_name(m.type));
        break;
    }
    msg_free(&m);
}

static void
on_connect(void *arg)
{
    struct sagent *a = arg;
    int64_t now = sim_now(a->sim);

    a->conn = SA_CONNECTED;
    a->last_master_ms = now;
    a->ping_interval_ms = 0;
    sa_schedule_handshake(a, now);
    if (a->handshake_at_ms <= now)
        sa_register(a);
}

static void
on_disconnect(void *arg)
{
    struct sagent *a = arg;

    log_debug("agent %s: disconnected from the master", a->hostname);
    a->conn = SA_DISCONNECTED;
    su_set_online(&a->su, false, sim_now(a->sim));
}

static const struct tp_client_ops sa_tp_ops = {
    .on_connect = on_connect,
    .on_message = on_message,
    .on_disconnect = on_disconnect,
};

static int
sa_dial(struct sagent *a)
{
    int rv = tp_client_open(&a->cli, a->sim->loop, a->sim->master.stream_url, &sa_tp_ops, a);

    if (rv != 0) {
        a->cli = NULL;
        log_error("agent %s: cannot dial %s: %s", a->hostname, a->sim->master.stream_url,
                  ag_strerror(rv));
    }
    return rv;
}

/* Opens agent number `i` of this process. */
static int
sa_open(struct sim *s, int64_t i, char *err, size_t errlen)
{
    struct sagent *a = &s->agents[i];
    int64_t idx = s->cfg.first_index + i;
    char attrs[1024], perr[256];

    a->sim = s;
    a->index = idx;
    a->next_due_ms = INT64_MAX;
    snprintf(a->hostname, sizeof(a->hostname), "%s-%06lld", s->cfg.hostname_prefix, (long long)idx);
    /* Distinct and stable: the master refuses a re-registration from another address. */
    snprintf(a->http_address, sizeof(a->http_address), "%s:5051", a->hostname);
    snprintf(attrs, sizeof(attrs), "rack:r%lld%s%s",
             (long long)(s->cfg.racks > 0 ? idx % s->cfg.racks : 0),
             s->cfg.attributes && *s->cfg.attributes ? ";" : "",
             s->cfg.attributes ? s->cfg.attributes : "");
    attr_init(&a->attributes);
    if (attr_parse(&a->attributes, attrs, perr, sizeof(perr)) != 0) {
        snprintf(err, errlen, "bad --attributes '%s': %s", attrs, perr);
        return -AG_EINVAL;
    }
    hmap_init(&a->tasks);
    hmap_init(&a->frameworks);
    su_init(&a->su, s->cfg.su_retry_ms, s->cfg.su_retry_max_ms, &sa_su_ops, a);
    s->nopen = i + 1;
    if (sa_dial(a) != 0) {
        snprintf(err, errlen, "cannot dial the master at %s", s->master.stream_url);
        return -AG_EIO;
    }
    return 0;
}

/* ---- the tick ---- */

static void
sim_log_stats(struct sim *s)
{
    struct sim_stats st;

    sim_stats(s, &st);
    log_info("agents=%llu registered=%llu tasks=%llu running=%llu launched=%llu finished=%llu "
             "updates_sent=%llu updates_pending=%llu reconnects=%llu",
             (unsigned long long)st.agents, (unsigned long long)st.registered,
             (unsigned long long)st.tasks, (unsigned long long)st.running,
             (unsigned long long)st.launched, (unsigned long long)st.finished,
             (unsigned long long)st.updates_sent, (unsigned long long)st.updates_pending,
             (unsigned long long)st.reconnects);
}

static void
tick_cb(uv_timer_t *h)
{
    struct sim *s = h->data;
    int64_t now = sim_now(s);
    char err[256];

    /* Open more agents, at --start_rate per second. */
    if (s->nopen < s->cfg.agents) {
        int64_t want = s->cfg.start_rate > 0
                           ? (now - s->started_ms + SIM_TICK_MS) * s->cfg.start_rate / 1000
                           : s->cfg.agents;
        if (want > s->cfg.agents)
            want = s->cfg.agents;
        while (s->nopen < want)
            if (sa_open(s, s->nopen, err, sizeof(err)) != 0) {
                log_error("%s", err); /* a failed dial: the tick redials it */
                break;
            }
    }
    for (int64_t i = 0; i < s->nopen; i++) {
        struct sagent *a = &s->agents[i];
        int64_t silence;

        su_tick(&a->su, now);
        sa_tasks_tick(a, now);
        if (a->cli == NULL) { /* a failed redial */
            sa_dial(a);
            continue;
        }
        if (a->conn == SA_CONNECTED && now >= a->handshake_at_ms)
            sa_register(a);
        if (a->conn == SA_DISCONNECTED)
            continue;
        silence = (int64_t)(a->ping_interval_ms ? a->ping_interval_ms : SIM_DEFAULT_PING_MS) *
                  SIM_MISSED_PINGS;
        if (now - a->last_master_ms > silence) {
            log_warn("agent %s: no message from the master for %d ping intervals: redialing",
                     a->hostname, SIM_MISSED_PINGS);
            s->reconnects++;
            tp_client_close(a->cli);
            a->cli = NULL;
            a->conn = SA_DISCONNECTED;
            su_set_online(&a->su, false, now);
            sa_dial(a);
        }
    }
    if (s->cfg.stats_ms > 0 && now >= s->stats_at_ms) {
        s->stats_at_ms = now + s->cfg.stats_ms;
        sim_log_stats(s);
    }
}

/* ---- open / close ---- */

static void
sim_free(struct sim *s)
{
    for (int64_t i = 0; i < s->nopen; i++) {
        struct sagent *a = &s->agents[i];
        sa_forget_tasks(a);
        su_fini(&a->su);
        hmap_fini(&a->tasks);
        hmap_fini(&a->frameworks);
        attr_fini(&a->attributes);
    }
    free(s->agents);
    res_fini(&s->resources);
    msgpack_sbuffer_destroy(&s->buf);
    free(s);
}

static void
sim_tick_closed(uv_handle_t *h)
{
    sim_free(h->data);
}

int
sim_open(struct sim **out, uv_loop_t *loop, const struct sim_config *cfg, char *err, size_t errlen)
{
    struct sim *s;
    char perr[256];
    int rv;

    *out = NULL;
    if (cfg->agents < 1 || cfg->first_index < 0) {
        snprintf(err, errlen, "--agents must be at least 1 and --first_index not negative");
        return -AG_EINVAL;
    }
    s = xcalloc(1, sizeof(*s));
    s->loop = loop;
    s->cfg = *cfg;
    if (s->cfg.run_max_ms < s->cfg.run_min_ms)
        s->cfg.run_max_ms = s->cfg.run_min_ms;
    if (s->cfg.su_retry_ms <= 0)
        s->cfg.su_retry_ms = 10000;
    if (s->cfg.su_retry_max_ms < s->cfg.su_retry_ms)
        s->cfg.su_retry_max_ms = s->cfg.su_retry_ms;
    msgpack_sbuffer_init(&s->buf);
    res_init(&s->resources);
    srandom((unsigned)clock_wall_ms() ^ (unsigned)getpid());
    if ((rv = detector_resolve(cfg->master, &s->master, err, errlen)) != 0)
        goto fail;
    if (s->master.tls) {
        snprintf(err, errlen, "https:// masters are not supported by the simulator yet");
        rv = -AG_EINVAL;
        goto fail;
    }
    if (res_parse(&s->resources, cfg->resources, perr, sizeof(perr)) != 0 ||
        res_empty(&s->resources)) {
        snprintf(err, errlen, "bad --resources '%s': %s", cfg->resources,
                 res_empty(&s->resources) ? "empty" : perr);
        rv = -AG_EINVAL;
        goto fail;
    }
    if (cfg->attributes != NULL && *cfg->attributes != '\0') {
        struct attributes at;

        attr_init(&at);
        rv = attr_parse(&at, cfg->attributes, perr, sizeof(perr));
        attr_fini(&at);
        if (rv != 0) {
            snprintf(err, errlen, "bad --attributes '%s': %s", cfg->attributes, perr);
            rv = -AG_EINVAL;
            goto fail;
        }
    }
    s->agents = xcalloc((size_t)cfg->agents, sizeof(*s->agents));
    s->started_ms = sim_now(s);
    s->stats_at_ms = s->started_ms + cfg->stats_ms;
    uv_timer_init(loop, &s->tick);
    s->tick.data = s;
    if (cfg->start_rate <= 0) {
        for (int64_t i = 0; i < cfg->agents; i++)
            if ((rv = sa_open(s, i, err, errlen)) != 0)
                break;
    }
    if (rv != 0) {
        sim_close(s);
        return rv;
    }
    uv_timer_start(&s->tick, tick_cb, cfg->start_rate > 0 ? 1 : SIM_TICK_MS, SIM_TICK_MS);
    log_info("simulating %lld agents (%s-%06lld ...) master=%s", (long long)cfg->agents,
             cfg->hostname_prefix, (long long)cfg->first_index, s->master.stream_url);
    *out = s;
    return 0;

fail:
    sim_free(s);
    return rv;
}

void
sim_stats(struct sim *s, struct sim_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->agents = (uint64_t)s->nopen;
    out->registrations = s->registrations;
    out->launched = s->launched;
    out->finished = s->finished;
    out->reconnects = s->reconnects;
    for (int64_t i = 0; i < s->nopen; i++) {
        struct sagent *a = &s->agents[i];
        void *val;

        out->registered += a->conn == SA_REGISTERED;
        out->tasks += hmap_size(&a->tasks);
        out->updates_sent += a->su.sent;
        out->updates_pending += su_total(&a->su);
        for (size_t it = 0; hmap_next(&a->tasks, &it, NULL, &val);)
            out->running += ((struct stask *)val)->state == MSG_TASK_RUNNING;
    }
}

void
sim_close(struct sim *s)
{
    if (s == NULL || s->closing)
        return;
    s->closing = true;
    for (int64_t i = 0; i < s->nopen; i++) {
        tp_client_close(s->agents[i].cli);
        s->agents[i].cli = NULL;
    }
    uv_timer_stop(&s->tick);
    uv_close((uv_handle_t *)&s->tick, sim_tick_closed);
}
