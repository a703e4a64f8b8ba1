/*
 * The master's top: its life cycle (start, listen, stop, free, loading the
 * registry), the message dispatch from the transport, the periodic work, the
 * books check and the operator operations of master.h. Agents, frameworks,
 * framework calls, tasks, offers and allocation live in their own files (see
 * master_int.h for the layers); this file may call all of them, none calls it.
 * Every function here runs on the loop thread. See master.h for the state
 * machines and docs/protocol-flows.md for the message flows.
 */
#include "master_int.h"

#include "registry.h"
#include "recorder.h"
#include "allocator.h"
#include "error.h"
#include "file.h"
#include "ids.h"
#include "log.h"
#include "xalloc.h"
#include "metrics.h"
#include "transport.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>


/* ---- authentication ---- */



/* ---- dispatch ---- */

static void
on_tp_connect(void *arg, uint32_t id)
{
    struct master *m = arg;
    struct peer *p = xcalloc(1, sizeof(*p));
    char key[16];

    core_touch(m);
    p->id = id;
    p->kind = PEER_NEW;
    if (m->tp != NULL)
        tp_server_peer_addr(m->tp, id, p->addr, sizeof(p->addr));
    snprintf(key, sizeof(key), "%u", id);
    hmap_put(&m->peers, key, p);
}

static void
on_tp_disconnect(void *arg, uint32_t id)
{
    struct master *m = arg;
    char key[16];
    struct peer *p;

    core_touch(m);
    snprintf(key, sizeof(key), "%u", id);
    p = hmap_del(&m->peers, key);
    if (p == NULL)
        return;
    if (p->kind == PEER_AGENT) {
        struct agent *a = core_agent(m, p->owner);
        if (a && a->peer == id) {
            log_info("agent disconnected agent_id=%s; waiting for it to come back", a->id);
            a->peer = 0;
            offer_rescind_where(m, NULL, a->id, true);
            alloc_set_agent_active(m->alloc, a->id, false);
        }
    } else if (p->kind == PEER_FRAMEWORK) {
        struct framework *fw = core_framework(m, p->owner);
        if (fw && fw->peer == id)
            framework_disconnected(m, fw);
    }
    free(p);
}

static void
on_tp_message(void *arg, uint32_t id, const void *data, size_t len)
{
    struct master *m = arg;
    struct peer *p = core_peer(m, id);
    struct msg msg;
    char err[256];
    int rc;

    core_touch(m);
    metrics_inc(m->ctr.msgs_in);
    if (p == NULL)
        return;
    rc = msg_decode(&msg, data, len, err, sizeof(err));
    if (rc != 0) {
        metrics_inc(m->ctr.msgs_invalid);
        log_warn("undecodable message from peer=%u (%s): %s", id, p->owner, err);
        core_send_error(m, id, rc, "undecodable message: %s", err);
        return;
    }
    if (m->flags.authenticate && !p->authenticated && msg.type != MSG_AUTH_START &&
        msg.type != MSG_AUTH_RESPONSE) {
        log_warn("refusing %s from unauthenticated peer=%u", msg_type_name(msg.type), id);
        core_send_error(m, id, -AG_EPERM,
                   "authentication required: this master runs with --credentials");
        core_peer_close(m, id);
        msg_free(&msg);
        return;
    }
    switch (msg.type) {
    case MSG_AUTH_START:
        mauth_start(m, p, &msg);
        break;
    case MSG_AUTH_RESPONSE:
        mauth_response(m, p, &msg);
        break;
    case MSG_AGENT_REGISTER:
        if (p->kind == PEER_FRAMEWORK)
            core_send_error(m, id, -AG_ESTATE, "a framework connection cannot register an agent");
        else
            agent_handle_register(m, p, &msg);
        break;
    case MSG_SUBSCRIBE:
        if (p->kind == PEER_AGENT)
            core_send_error(m, id, -AG_ESTATE, "an agent connection cannot subscribe");
        else
            framework_handle_subscribe(m, p, &msg);
        break;
    case MSG_PONG:
        if (p->kind == PEER_AGENT)
            agent_handle_pong(m, p, &msg);
        break;
    case MSG_STATUS_UPDATE:
        if (p->kind == PEER_AGENT)
            agent_handle_status_update(m, p, &msg);
        else
            core_send_error(m, id, -AG_ESTATE, "STATUS_UPDATE is for registered agents");
        break;
    case MSG_USAGE_REPORT:
        if (p->kind == PEER_AGENT) {
            struct msg_usage_report *ur = &msg.u.usage_report;
            /* Samples are dated by the master's clock, as the task intervals
             * they fall into: an agent's clock may be off. */
            for (size_t i = 0; i < ur->nsamples; i++) {
                struct msg_usage_sample *u = &ur->samples[i];
                acct_usage(m->acct, m->now, u->framework_id, u->task_id, u->cpus_user_s,
                           u->cpus_system_s, u->mem_rss_bytes, u->mem_peak_bytes);
            }
        }
        break;
    case MSG_FRAMEWORK_MESSAGE:
        if (p->kind == PEER_FRAMEWORK) {
            struct framework *fw = core_framework(m, p->owner);
            if (fw == NULL || !core_peer_owns(m, p, fw->principal, false)) {
                core_send_error(m, id, -AG_EPERM, "FRAMEWORK_MESSAGE: framework %s is not "
                                "this principal's", p->owner);
                break;
            }
        }
        if (p->kind != PEER_NEW)
            call_framework_message(m, p, &msg);
        break;
    case MSG_ACCEPT:
    case MSG_DECLINE:
    case MSG_REVIVE:
    case MSG_SUPPRESS:
    case MSG_KILL:
    case MSG_RECONCILE:
    case MSG_TEARDOWN:
    case MSG_STATUS_ACK: {
        struct framework *fw =
            p->kind == PEER_FRAMEWORK ? core_framework(m, p->owner) : NULL;
        if (fw == NULL || fw->peer != id) {
            core_send_error(m, id, -AG_ESTATE, "%s needs a subscribed framework",
                       msg_type_name(msg.type));
            break;
        }
        if (!core_peer_owns(m, p, fw->principal, false)) {
            log_warn("refusing %s on framework %s from principal '%s': it belongs to '%s'",
                     msg_type_name(msg.type), fw->id, p->principal, fw->principal);
            core_send_error(m, id, -AG_EPERM, "%s: framework %s belongs to another principal",
                            msg_type_name(msg.type), fw->id);
            break;
        }
        switch (msg.type) {
        case MSG_ACCEPT:
            call_accept(m, fw, &msg);
            break;
        case MSG_DECLINE:
            call_decline(m, fw, &msg);
            break;
        case MSG_REVIVE:
            call_roles_change(m, fw, &msg, true);
            break;
        case MSG_SUPPRESS:
            call_roles_change(m, fw, &msg, false);
            break;
        case MSG_KILL:
            call_kill(m, fw, &msg);
            break;
        case MSG_RECONCILE:
            call_reconcile(m, fw, &msg);
            break;
        case MSG_TEARDOWN:
            framework_remove(m, fw, "teardown requested by the framework", false);
            break;
        default:
            call_status_ack(m, fw, &msg);
            break;
        }
        break;
    }
    default:
        metrics_inc(m->ctr.msgs_invalid);
        core_send_error(m, id, -AG_EPROTO, "unexpected message %s", msg_type_name(msg.type));
        break;
    }
    msg_free(&msg);
}

static const struct tp_server_ops master_tp_ops = {
    .on_connect = on_tp_connect,
    .on_message = on_tp_message,
    .on_disconnect = on_tp_disconnect,
};

/* ---- periodic work ---- */

static void
on_tick(uv_timer_t *h)
{
    struct master *m = h->data;
    size_t it = 0;
    const char *key;
    void *val;
    char **todo = NULL;
    size_t n = 0;

    core_touch(m);
    /* Pings: one per ping interval; a missing pong counts as a miss. */
    static double last_ping;
    if (m->now - last_ping >= m->flags.agent_ping_timeout_ms / 1000.0) {
        last_ping = m->now;
        while (hmap_next(&m->agents, &it, &key, &val)) {
            struct agent *a = val;
            if (a->state != AGENT_ACTIVE)
                continue;
            if (a->ping_seq > a->pong_seq)
                a->missed_pings++;
            if (a->missed_pings >= m->flags.max_agent_ping_timeouts) {
                todo = xrealloc(todo, (n + 1) * sizeof(*todo));
                todo[n++] = xstrdup(a->id);
                continue;
            }
            if (a->peer) {
                struct msg p;
                msg_init(&p, MSG_PING);
                p.u.ping.seq = ++a->ping_seq;
                master_send(m, a->peer, &p);
            } else {
                a->ping_seq++;
            }
        }
        for (size_t i = 0; i < n; i++) {
            struct agent *a = core_agent(m, todo[i]);
            if (a)
                agent_lost(m, a, "missed too many pings");
            free(todo[i]);
        }
        n = 0;
    }
    /* Agents that did not come back in time are removed. */
    it = 0;
    while (hmap_next(&m->agents, &it, &key, &val)) {
        struct agent *a = val;
        double deadline = a->state == AGENT_RECOVERED ? a->reregister_deadline
                          : a->state == AGENT_UNREACHABLE
                              ? a->unreachable_time + m->flags.agent_reregister_timeout_ms / 1000.0
                              : 0;
        if (deadline > 0 && m->now >= deadline) {
            todo = xrealloc(todo, (n + 1) * sizeof(*todo));
            todo[n++] = xstrdup(a->id);
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct agent *a = core_agent(m, todo[i]);
        if (a)
            agent_remove(m, a, "did not re-register within --agent_reregister_timeout");
        free(todo[i]);
    }
    n = 0;
    /* Frameworks past their failover timeout. */
    it = 0;
    while (hmap_next(&m->frameworks, &it, &key, &val)) {
        struct framework *fw = val;
        if (fw->state == FW_DISCONNECTED && m->now >= fw->failover_deadline) {
            todo = xrealloc(todo, (n + 1) * sizeof(*todo));
            todo[n++] = xstrdup(fw->id);
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct framework *fw = core_framework(m, todo[i]);
        if (fw)
            framework_remove(m, fw, "failover timeout passed", false);
        free(todo[i]);
    }
    n = 0;
    /* Offer timeouts. */
    it = 0;
    while (hmap_next(&m->offers, &it, &key, &val)) {
        struct offer *o = val;
        if (o->expires > 0 && m->now >= o->expires) {
            todo = xrealloc(todo, (n + 1) * sizeof(*todo));
            todo[n++] = xstrdup(o->id);
        }
    }
    for (size_t i = 0; i < n; i++) {
        offer_rescind(m, todo[i], true, 0);
        free(todo[i]);
    }
    free(todo);
    /* Heartbeats to frameworks. */
    static double last_heartbeat;
    if (m->now - last_heartbeat >= 15) {
        last_heartbeat = m->now;
        it = 0;
        while (hmap_next(&m->frameworks, &it, &key, &val)) {
            struct framework *fw = val;
            struct msg hb;
            if (fw->peer == 0)
                continue;
            msg_init(&hb, MSG_HEARTBEAT);
            master_send(m, fw->peer, &hb);
        }
    }
    /* Periodic full allocation for filters that expired. */
    if (m->now - m->last_full_alloc >= m->flags.allocation_interval_ms / 1000.0) {
        m->last_full_alloc = m->now;
        allocation_run(m, true);
    }
}

/* ---- start and stop ---- */

/* A registry row of an agent: RECOVERED, it has --agent_reregister_timeout to
 * come back. */
static int
load_agent(void *arg, const struct registry_agent_row *row)
{
    struct master *m = arg;
    struct agent *a = agent_new(row->id);
    char err[256];

    free(a->hostname);
    free(a->http_address);
    a->hostname = strdup(row->hostname);
    a->http_address = strdup(row->http_address);
    if (a->hostname == NULL || a->http_address == NULL)
        abort();
    if (res_parse(&a->total, row->resources, err, sizeof(err)) ||
        attr_parse(&a->attributes, row->attributes, err, sizeof(err)))
        log_warn("registry: agent %s has unreadable resources: %s", a->id, err);
    a->registered_time = row->registered_time;
    a->draining = row->draining != 0;
    snprintf(a->principal, sizeof(a->principal), "%s", row->principal ? row->principal : "");
    a->state = AGENT_RECOVERED;
    a->reregister_deadline = m->now + m->flags.agent_reregister_timeout_ms / 1000.0;
    hmap_put(&m->agents, a->id, a);
    return 0;
}

/* A registry row of a framework: DISCONNECTED, its failover timeout starts now. */
static int
load_framework(void *arg, const struct registry_framework_row *row)
{
    struct master *m = arg;
    struct framework *fw;
    struct msg sub;
    char err[256];

    if (msg_decode(&sub, row->info, row->info_len, err, sizeof(err)) != 0) {
        log_warn("registry: unreadable framework %s skipped: %s", row->id, err);
        return 0;
    }
    if (sub.type != MSG_SUBSCRIBE) {
        log_warn("registry: unreadable framework %s skipped: not a SUBSCRIBE", row->id);
        msg_free(&sub);
        return 0;
    }
    fw = framework_new(row->id, &sub.u.subscribe.framework);
    msg_free(&sub);
    /* Rows stored before principals were kept: the principal its info names
     * (checked against the authenticated one when it subscribed). */
    snprintf(fw->principal, sizeof(fw->principal), "%s",
             row->principal && row->principal[0] ? row->principal : fw->info.principal);
    fw->registered_time = row->registered_time;
    fw->state = FW_DISCONNECTED;
    fw->disconnected_time = m->now;
    /* A master restart is not the framework's fault: it gets at least as long as
     * agents do to come back. */
    fw->failover_deadline =
        m->now + fmax(fw->info.failover_timeout_s, m->flags.agent_reregister_timeout_ms / 1000.0);
    hmap_put(&m->frameworks, fw->id, fw);
    /* Nothing is allocated yet: no agent is in the allocator before it
     * re-registers, and then its tasks are booked to their frameworks
     * (allocation_add_agent). */
    allocation_add_framework(m, fw, false);
    return 0;
}

/* The registry's meta records of quota and weights: "quota/<role>" holds
 * {"guarantee": res text, "limit": res text}, "weight/<role>" the weight in
 * %.17g text. Stored by master_set_quota and master_set_weight. */
#define QUOTA_KEY "quota/"
#define WEIGHT_KEY "weight/"

/* A registry meta record: a quota or a weight an operator set (master_set_quota,
 * master_set_weight), given to the allocator again; an unreadable one is
 * skipped with a warning. Other keys are not the master's business here. */
static int
restore_policy(void *arg, const char *key, const char *value)
{
    struct master *m = arg;
    const char *role;
    char err[256] = "";
    int rc = -AG_EINVAL;

    if (strncmp(key, WEIGHT_KEY, strlen(WEIGHT_KEY)) == 0) {
        char *end;
        double w = strtod(value, &end);
        role = key + strlen(WEIGHT_KEY);
        if (*end == '\0' && end != value)
            rc = alloc_set_weight(m->alloc, role, w);
        if (rc != 0)
            log_warn("registry: weight %s of role %s skipped: %s", value, role, ag_strerror(rc));
    } else if (strncmp(key, QUOTA_KEY, strlen(QUOTA_KEY)) == 0) {
        json_t *j = json_loads(value, 0, NULL);
        const char *g = json_string_value(json_object_get(j, "guarantee"));
        const char *l = json_string_value(json_object_get(j, "limit"));
        struct resources guarantee, limit;
        role = key + strlen(QUOTA_KEY);
        res_init(&guarantee);
        res_init(&limit);
        if (g && l && res_parse(&guarantee, g, err, sizeof(err)) == 0 &&
            res_parse(&limit, l, err, sizeof(err)) == 0)
            rc = alloc_set_quota(m->alloc, role, &guarantee, &limit);
        if (rc != 0)
            log_warn("registry: quota %s of role %s skipped: %s", value, role,
                     err[0] ? err : ag_strerror(rc));
        res_fini(&guarantee);
        res_fini(&limit);
        json_decref(j);
    }
    return 0;
}

struct master *
master_new(const char *id, const struct flag *flag_table)
{
    struct master *m = calloc(1, sizeof(*m));

    if (m == NULL)
        return NULL;
    snprintf(m->id, sizeof(m->id), "%s", id);
    m->flag_table = flag_table;
    hmap_init(&m->peers);
    hmap_init(&m->agents);
    hmap_init(&m->frameworks);
    hmap_init(&m->offers);
    hmap_init(&m->credentials);
    hmap_init(&m->dirty_agents);
    return m;
}

/* Reads --acls (a path, "file://" and a path, or the JSON itself, as Mesos
 * takes it) into m->acls. 0, or -AG_EINVAL with the reason logged. */
static int
load_acls(struct master *m)
{
    char err[1024];

    if (acl_load(m->flags.acls, &m->acls, err, sizeof(err)) != 0) {
        log_error("%s", err);
        return -AG_EINVAL;
    }
    if (m->acls == NULL)
        return 0;
    if (!m->flags.authenticate)
        log_warn("--acls without --credentials: agents and frameworks are anonymous to the "
                 "ACLs (they match only rules whose principals are ANY or NONE)");
    log_info("authorization: ACLs loaded from %s (permissive %s)", err,
             acl_permissive(m->acls) ? "true" : "false");
    return 0;
}

int
master_start(struct master *m, uv_loop_t *loop, struct master_flags *flags)
{
    struct alloc_config cfg = {0};
    char err[512];
    int rc;

    m->loop = loop;
    m->flags = *flags;
    core_touch(m);
    m->start_time = m->now;

    m->metrics = metrics_new();
    if ((rc = mmetrics_register(m)) != 0) {
        log_error("cannot register the metrics: %s", ag_strerror(rc));
        return rc;
    }
    cfg.role_sorter = flags->roles_sorter;
    cfg.framework_sorter = flags->framework_sorter;
    cfg.weights = flags->weights;
    cfg.min_allocatable = flags->min_allocatable_resources;
    cfg.seed = (uint64_t)(m->now * 1e6);
    if ((rc = alloc_create(&m->alloc, &cfg, err, sizeof(err))) != 0) {
        log_error("bad allocator configuration: %s", err);
        return rc;
    }
    if (m->reg == NULL && (rc = registry_sqlite_open(&m->reg, flags->work_dir)) != 0)
        return rc;
    /* With a registry in ZooKeeper, --work_dir still holds accounting.db. */
    if ((rc = file_mkdirs(flags->work_dir, 0755)) != 0) {
        log_error("cannot create --work_dir %s: %s", flags->work_dir, ag_strerror(rc));
        return rc;
    }
    if (flags->accounting_db && flags->accounting_db[0])
        snprintf(m->acct_path, sizeof(m->acct_path), "%s", flags->accounting_db);
    else
        snprintf(m->acct_path, sizeof(m->acct_path), "%s/accounting.db", flags->work_dir);
    if ((rc = acct_open(&m->acct, m->acct_path, flags->accounting_raw_retention_ms, err,
                        sizeof(err))) != 0) {
        log_error("cannot open the accounting database: %s", err);
        return rc;
    }
    if ((rc = registry_load(m->reg, load_agent, load_framework, m)) != 0 ||
        (rc = registry_load_meta(m->reg, restore_policy, m)) != 0)
        return rc;
    if (hmap_size(&m->agents) || hmap_size(&m->frameworks))
        log_info("registry recovered agents=%zu frameworks=%zu; agents have %llds to "
                 "re-register",
                 hmap_size(&m->agents), hmap_size(&m->frameworks),
                 (long long)(m->flags.agent_reregister_timeout_ms / 1000));
    if (m->flags.authenticate) {
        if ((rc = mauth_load_credentials(m)) != 0)
            return rc;
    } else {
        log_warn("no --credentials given: agents and frameworks are not authenticated");
    }
    return load_acls(m);
}

void
master_start_timers(struct master *m)
{
    uv_idle_init(m->loop, &m->alloc_idle);
    m->alloc_idle.data = m;
    uv_timer_init(m->loop, &m->tick);
    m->tick.data = m;
    uv_timer_start(&m->tick, on_tick, 100, 100);
    m->handles_open = true;
}

int
master_listen(struct master *m)
{
    char url[512];
    int rc;

    snprintf(url, sizeof(url), "%s://%s:%d/agora/v1/stream",
             tls_serving(&m->flags.tls) ? "wss" : "ws", m->flags.ip, (int)m->flags.port);
    if ((rc = tp_server_open(&m->tp, m->loop, url, &master_tp_ops, m)) != 0) {
        log_error("cannot listen on %s: %s", url, ag_strerror(rc));
        return rc;
    }
    master_start_timers(m);
    log_info("master started master_id=%s listening=%s:%d%s", m->id, m->flags.ip,
             (int)m->flags.port, tls_serving(&m->flags.tls) ? " (TLS only: https://, wss://)" : "");
    return 0;
}

void
master_set_send_hook(struct master *m, master_send_fn fn, void *arg)
{
    m->send_hook = fn;
    m->send_hook_arg = arg;
}

void
master_peer_connect(struct master *m, uint32_t id)
{
    on_tp_connect(m, id);
}

void
master_peer_set_addr(struct master *m, uint32_t id, const char *addr)
{
    struct peer *p = core_peer(m, id);
    if (p != NULL)
        snprintf(p->addr, sizeof(p->addr), "%s", addr);
}

void
master_peer_message(struct master *m, uint32_t id, const void *data, size_t len)
{
    on_tp_message(m, id, data, len);
}

void
master_peer_disconnect(struct master *m, uint32_t id)
{
    on_tp_disconnect(m, id);
}

void
master_set_leadership(struct master *m, struct registry *reg, uint64_t epoch,
                      const char *info_json)
{
    registry_close(m->reg);
    m->reg = reg;
    m->epoch = epoch;
    free(m->leader_info);
    m->leader_info = info_json ? xstrdup(info_json) : NULL;
}

uint64_t
master_epoch(const struct master *m)
{
    return m->epoch;
}

const char *
master_leader_info(const struct master *m)
{
    return m->leader_info;
}

void
master_on_stop(struct master *m, void (*fn)(void *arg), void *arg)
{
    m->on_stop = fn;
    m->on_stop_arg = arg;
}

void
master_stop(struct master *m)
{
    if (m->stopping)
        return;
    m->stopping = true;
    if (m->handles_open) {
        uv_close((uv_handle_t *)&m->tick, NULL);
        uv_close((uv_handle_t *)&m->alloc_idle, NULL);
        m->handles_open = false;
    }
    tp_server_close(m->tp);
    m->tp = NULL;
    if (m->on_stop)
        m->on_stop(m->on_stop_arg);
}

/* Frees the master's memory once the loop has finished. */
void
master_free(struct master *m)
{
    size_t it = 0;
    void *val;

    while (hmap_next(&m->offers, &it, NULL, &val))
        offer_free(val);
    it = 0;
    while (hmap_next(&m->agents, &it, NULL, &val)) {
        struct agent *a = val;
        size_t jt = 0;
        void *tv;
        while (hmap_next(&a->tasks, &jt, NULL, &tv))
            task_free(tv);
        agent_free(a);
    }
    it = 0;
    while (hmap_next(&m->frameworks, &it, NULL, &val))
        framework_free(val);
    it = 0;
    while (hmap_next(&m->peers, &it, NULL, &val))
        free(val);
    it = 0;
    while (hmap_next(&m->credentials, &it, NULL, &val))
        free(val);
    for (size_t i = 0; i < m->ncompleted; i++) {
        msg_task_info_fini(&m->completed[i].info);
        msg_task_status_fini(&m->completed[i].status);
    }
    free(m->completed);
    for (size_t i = 0; i < m->ncompleted_fws; i++)
        framework_free(m->completed_fws[i]);
    free(m->completed_fws);
    hmap_fini(&m->peers);
    hmap_fini(&m->agents);
    hmap_fini(&m->frameworks);
    hmap_fini(&m->offers);
    hmap_fini(&m->credentials);
    hmap_fini(&m->dirty_agents);
    acl_free(m->acls);
    alloc_destroy(m->alloc);
    acct_close(m->acct);
    metrics_free(m->metrics);
    registry_close(m->reg);
    free(m->leader_info);
    free(m);
}

/* ---- books check ---- */

/* Adds `r` to the entry "framework_id role" of `h` (values: struct resources*). */
static void
books_add(struct hmap *h, const char *framework_id, const char *role, const struct resources *r)
{
    char key[AG_ID_MAX + RES_ROLE_MAX + 2];
    struct resources *x;

    snprintf(key, sizeof(key), "%s %s", framework_id, role);
    x = hmap_get(h, key);
    if (x == NULL) {
        x = xcalloc(1, sizeof(*x));
        res_init(x);
        if (hmap_put(h, key, x) != 0)
            abort();
    }
    if (res_add(x, r) == -AG_ENOMEM)
        abort();
}

static void
books_add_alloc(void *arg, const char *framework_id, const char *role, const struct resources *r)
{
    books_add(arg, framework_id, role, r);
}

static void
books_free(struct hmap *h)
{
    size_t it = 0;
    void *val;

    while (hmap_next(h, &it, NULL, &val)) {
        res_fini(val);
        free(val);
    }
    hmap_fini(h);
}

size_t
master_check_books(struct master *m,
                   void (*fn)(void *arg, const char *agent_id, const char *problem), void *arg)
{
    size_t problems = 0, it = 0;
    void *val;
    char text[768];

#define BOOKS_PROBLEM(agent_id, ...)                                                               \
    do {                                                                                           \
        snprintf(text, sizeof(text), __VA_ARGS__);                                                 \
        problems++;                                                                                \
        if (fn)                                                                                    \
            fn(arg, (agent_id), text);                                                             \
    } while (0)

    core_touch(m);
    while (hmap_next(&m->agents, &it, NULL, &val)) {
        struct agent *a = val;
        struct hmap want, got;
        size_t jt = 0;
        const char *key;
        void *v;
        bool in_alloc;

        hmap_init(&want);
        hmap_init(&got);
        while (hmap_next(&a->tasks, &jt, NULL, &v)) {
            struct task *t = v;
            if (!t->resources_recovered)
                books_add(&want, t->framework_id, t->role[0] ? t->role : "*",
                          &t->info.resources);
        }
        jt = 0;
        while (hmap_next(&m->offers, &jt, NULL, &v)) {
            struct offer *o = v;
            if (strcmp(o->agent_id, a->id) == 0)
                books_add(&want, o->framework_id, o->role, &o->resources);
        }
        in_alloc = alloc_foreach_allocation(m->alloc, a->id, books_add_alloc, &got) == 0;
        if (!in_alloc && a->state == AGENT_ACTIVE && a->alloc_error[0] == '\0')
            BOOKS_PROBLEM(a->id, "active agent missing from the allocator");
        if (!in_alloc && hmap_size(&want) > 0)
            BOOKS_PROBLEM(a->id, "resources booked by tasks or offers, but the agent is not "
                                 "in the allocator");
        if (in_alloc) {
            jt = 0;
            while (hmap_next(&want, &jt, &key, &v)) {
                struct resources *g = hmap_get(&got, key);
                if (g == NULL || !res_equal(g, v)) {
                    char w[256], h[256] = "nothing";
                    res_format(v, w, sizeof(w));
                    if (g)
                        res_format(g, h, sizeof(h));
                    BOOKS_PROBLEM(a->id,
                                  "framework and role \"%s\": tasks and offers hold %s, the "
                                  "allocator %s",
                                  key, w, h);
                }
            }
            jt = 0;
            while (hmap_next(&got, &jt, &key, &v)) {
                if (hmap_get(&want, key) == NULL) {
                    char h[256];
                    res_format(v, h, sizeof(h));
                    BOOKS_PROBLEM(a->id,
                                  "framework and role \"%s\": the allocator holds %s, no task "
                                  "or offer does",
                                  key, h);
                }
            }
        }
        books_free(&want);
        books_free(&got);
    }
#undef BOOKS_PROBLEM
    metrics_inc(m->ctr.books_checks);
    metrics_add(m->ctr.books_problems, problems);
    if (problems > 0)
        log_error("books check: %zu discrepancies between the allocator and the tasks",
                  problems);
    return problems;
}

/* ---- operator operations (master.h) ---- */

/* Moves `r` (every item with a role) between the agent's unreserved ("*")
 * resources and its reservations: `reserve` takes from "*". */
static int
agent_change_reservation(struct master *m, const char *agent_id, const struct resources *r,
                         bool reserve, char *err, size_t errlen)
{
    struct agent *a = core_agent(m, agent_id);
    struct resources from;
    int rc;

    core_touch(m);
    if (a == NULL) {
        snprintf(err, errlen, "unknown agent");
        return -AG_ENOENT;
    }
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->items[i].role, "*") == 0) {
            snprintf(err, errlen, "resources must name their role, e.g. cpus(web):1");
            return -AG_EINVAL;
        }
    }
    res_init(&from);
    res_set_role(&from, r, "*");
    rc = reserve ? alloc_update_available(m->alloc, a->id, &from, r)
                 : alloc_update_available(m->alloc, a->id, r, &from);
    if (rc != 0) {
        snprintf(err, errlen, "%s (the resources must be unallocated on the agent)",
                 ag_strerror(rc));
        res_fini(&from);
        /* Not available, or the agent is not in the allocator (not back yet). */
        return rc == -AG_EINVAL || rc == -AG_ENOENT ? -AG_ESTATE : rc;
    }
    if (reserve) {
        res_sub(&a->total, &from);
        res_add(&a->total, r);
    } else {
        res_sub(&a->total, r);
        res_add(&a->total, &from);
    }
    res_fini(&from);
    agent_store(m, a);
    log_info("agent %s resources %s by an operator agent_id=%s", a->id,
             reserve ? "reserved" : "unreserved", a->id);
    allocation_schedule_full(m);
    return 0;
}

int
master_reserve(struct master *m, const char *agent_id, const struct resources *resources,
               char *err, size_t errlen)
{
    return agent_change_reservation(m, agent_id, resources, true, err, errlen);
}

int
master_unreserve(struct master *m, const char *agent_id, const struct resources *resources,
                 char *err, size_t errlen)
{
    return agent_change_reservation(m, agent_id, resources, false, err, errlen);
}

/* Stores (both empty: deletes) the quota of `role`. 0 or -AG_E* (logged). */
static int
store_quota(struct master *m, const char *role, const struct resources *guarantee,
            const struct resources *limit)
{
    char key[RES_ROLE_MAX + sizeof(QUOTA_KEY)], *g, *l, *value;
    json_t *j;
    int rc;

    snprintf(key, sizeof(key), QUOTA_KEY "%s", role);
    if ((guarantee == NULL || guarantee->n == 0) && (limit == NULL || limit->n == 0))
        return registry_remove_meta(m->reg, key);
    g = guarantee ? res_to_string(guarantee) : strdup("");
    l = limit ? res_to_string(limit) : strdup("");
    if (g == NULL || l == NULL ||
        (j = json_pack("{s:s, s:s}", "guarantee", g, "limit", l)) == NULL ||
        (value = json_dumps(j, JSON_COMPACT)) == NULL)
        abort();
    rc = registry_set_meta(m->reg, key, value);
    free(value);
    json_decref(j);
    free(g);
    free(l);
    return rc;
}

int
master_set_quota(struct master *m, const char *role, const struct resources *guarantee,
                 const struct resources *limit)
{
    struct alloc_role_info old;
    struct resources old_g, old_l;
    int rc;

    core_touch(m);
    res_init(&old_g);
    res_init(&old_l);
    if (role != NULL && alloc_get_role(m->alloc, role, &old) == 0 &&
        ((old.guarantee && res_copy(&old_g, old.guarantee) != 0) ||
         (old.limit && res_copy(&old_l, old.limit) != 0)))
        abort();
    /* The allocator checks the quota; it is stored before any allocation uses
     * it (allocations run later on this loop), and a failed write puts the
     * previous quota back. */
    if ((rc = alloc_set_quota(m->alloc, role, guarantee, limit)) != 0)
        goto out;
    if ((rc = store_quota(m, role, guarantee, limit)) != 0) {
        log_error("quota of role %s not changed: the registry write failed: %s", role,
                  ag_strerror(rc));
        alloc_set_quota(m->alloc, role, &old_g, &old_l);
        goto out;
    }
    log_info("quota of role %s set by an operator", role);
    allocation_schedule(m);
out:
    res_fini(&old_l);
    res_fini(&old_g);
    return rc;
}

int
master_set_weight(struct master *m, const char *role, double weight)
{
    char key[RES_ROLE_MAX + sizeof(WEIGHT_KEY)], value[32];
    int rc;

    core_touch(m);
    /* alloc_set_weight's checks, before the weight is stored: it then cannot
     * refuse it on this loop (it refuses only during alloc_run). */
    if (role == NULL || !res_role_valid(role) || !(weight > 0) || !isfinite(weight))
        return -AG_EINVAL;
    snprintf(key, sizeof(key), WEIGHT_KEY "%s", role);
    snprintf(value, sizeof(value), "%.17g", weight);
    if ((rc = registry_set_meta(m->reg, key, value)) != 0) {
        log_error("weight of role %s not changed: the registry write failed: %s", role,
                  ag_strerror(rc));
        return rc;
    }
    if ((rc = alloc_set_weight(m->alloc, role, weight)) != 0)
        return rc;
    log_info("weight of role %s set to %g by an operator", role, weight);
    allocation_schedule_full(m);
    return 0;
}

int
master_teardown(struct master *m, const char *framework_id, const char *why)
{
    struct framework *fw = core_framework(m, framework_id);

    core_touch(m);
    if (fw == NULL || fw->state == FW_REMOVED)
        return -AG_ENOENT;
    framework_remove(m, fw, why, true);
    allocation_schedule(m);
    return 0;
}

int
master_drain_agent(struct master *m, const char *agent_id, bool on)
{
    struct agent *a = core_agent(m, agent_id);
    int rc;

    core_touch(m);
    if (a == NULL)
        return -AG_ENOENT;
    if (a->draining == on)
        return 0;
    /* Stored first: a restarted master keeps the agent drained. */
    a->draining = on;
    if ((rc = agent_store(m, a)) != 0) {
        a->draining = !on;
        log_error("cannot %s agent %s: the registry write failed: %s", on ? "drain" : "undrain",
                  a->id, ag_strerror(rc));
        return rc;
    }
    /* 0, or -AG_ENOENT when the agent is not in the allocator (yet): it is
     * marked draining when it is added (allocation_add_agent). */
    alloc_set_agent_draining(m->alloc, a->id, on);
    if (on)
        offer_rescind_where(m, NULL, a->id, true);
    log_info("agent %s %s by an operator agent_id=%s", a->id,
             on ? "drained" : "no longer drained", a->id);
    allocation_schedule_full(m);
    return 0;
}
