/*
 * Agents: registration and re-registration, loss and removal, pongs, and
 * the status updates they send.
 * Runs on the loop thread; see docs/architecture.md for who calls whom.
 */
#include "master_int.h"

#include "metrics.h"

#include "allocator.h"
#include "error.h"
#include "ids.h"
#include "log.h"
#include "xalloc.h"
#include "recorder.h"
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- agents ---- */

void
agent_free(struct agent *a)
{
    if (a == NULL)
        return;
    free(a->hostname);
    free(a->http_address);
    free(a->version);
    res_fini(&a->total);
    attr_fini(&a->attributes);
    hmap_fini(&a->tasks);
    free(a);
}

struct agent *
agent_new(const char *id)
{
    struct agent *a = xcalloc(1, sizeof(*a));
    snprintf(a->id, sizeof(a->id), "%s", id);
    res_init(&a->total);
    attr_init(&a->attributes);
    hmap_init(&a->tasks);
    a->hostname = strdup("");
    a->http_address = strdup("");
    a->version = strdup("");
    return a;
}

/* Stores the agent's row in the registry (durable on return). */
int
agent_store(struct master *m, const struct agent *a)
{
    char *res = res_to_string(&a->total);
    char attrs[4096];
    int rc;

    if (res == NULL)
        return -AG_ENOMEM;
    attr_format(&a->attributes, attrs, sizeof(attrs));
    rc = registry_put_agent(m->reg, &(struct registry_agent_row){
                                        .id = a->id,
                                        .hostname = a->hostname,
                                        .http_address = a->http_address,
                                        .resources = res,
                                        .attributes = attrs,
                                        .registered_time = a->registered_time,
                                        .draining = a->draining,
                                        .principal = a->principal,
                                    });
    free(res);
    return rc;
}

static void
agent_send_registered(struct master *m, struct agent *a)
{
    struct msg r;
    msg_init(&r, MSG_AGENT_REGISTERED);
    r.u.agent_registered.agent_id = a->id;
    r.u.agent_registered.ping_interval_ms = (uint32_t)m->flags.agent_ping_timeout_ms;
    master_send(m, a->peer, &r);
}

static int
agent_set_info(struct agent *a, const struct msg_agent_register *reg)
{
    char *h = strdup(reg->hostname), *hp = strdup(reg->http_address), *v = strdup(reg->version);
    if (!h || !hp || !v) {
        free(h);
        free(hp);
        free(v);
        return -AG_ENOMEM;
    }
    free(a->hostname);
    free(a->http_address);
    free(a->version);
    a->hostname = h;
    a->http_address = hp;
    a->version = v;
    snprintf(a->task_user, sizeof(a->task_user), "%s", reg->task_user);
    a->task_user_only = reg->task_user_only;
    if (res_copy(&a->total, &reg->resources) != 0 ||
        attr_copy(&a->attributes, &reg->attributes) != 0)
        return -AG_ENOMEM;
    return 0;
}

/* Whether a registration declares another hostname, HTTP address, resources or
 * attributes than agent `a` has (what its registry row holds besides the id,
 * registration time, drain flag and principal). */
static bool
agent_row_differs(const struct agent *a, const struct msg_agent_register *reg)
{
    char x[4096], y[4096];

    if (strcmp(a->hostname, reg->hostname) != 0 ||
        strcmp(a->http_address, reg->http_address) != 0 || !res_equal(&a->total, &reg->resources))
        return true;
    attr_format(&a->attributes, x, sizeof(x));
    attr_format(&reg->attributes, y, sizeof(y));
    return strcmp(x, y) != 0;
}

/* Whether a re-registration on peer `p` comes from elsewhere than agent `a`'s
 * connection `old`: another remote IP (when both are known) or another
 * declared HTTP address. */
static bool
agent_moved(const struct peer *old, const struct agent *a, const struct peer *p,
            const struct msg_agent_register *reg)
{
    if (old->addr[0] && p->addr[0] && strcmp(old->addr, p->addr) != 0)
        return true;
    return strcmp(a->http_address, reg->http_address) != 0;
}

void
agent_handle_register(struct master *m, struct peer *p, struct msg *msg)
{
    struct msg_agent_register *reg = &msg->u.agent_register;
    struct agent *a;
    char err[256];
    int rc;

    if (reg->hostname[0] == '\0' || res_empty(&reg->resources)) {
        core_send_error(m, p->id, -AG_EINVAL, "registration needs a hostname and resources");
        return;
    }
    if (!core_authorized(m, core_peer_principal(m, p), ACL_REGISTER_AGENTS, NULL)) {
        core_send_error(m, p->id, -AG_EPERM,
                        "not permitted: principal '%s' may not register agents (--acls)",
                        p->principal);
        return;
    }
    if (reg->agent_id[0] == '\0') {
        char id[AG_ID_MAX];
        ids_new(id, m->id, "S", ++m->next_agent);
        a = agent_new(id);
        if (agent_set_info(a, reg) != 0)
            abort();
        if (m->flags.authenticate)
            snprintf(a->principal, sizeof(a->principal), "%s", p->principal);
        a->registered_time = m->now;
        a->state = AGENT_ACTIVE;
        a->peer = p->id;
        if ((rc = agent_store(m, a)) != 0) {
            core_send_error(m, p->id, rc, "cannot admit the agent: registry write failed");
            agent_free(a);
            return;
        }
        hmap_put(&m->agents, a->id, a);
        p->kind = PEER_AGENT;
        snprintf(p->owner, sizeof(p->owner), "%s", a->id);
        allocation_add_agent(m, a);
        acct_agent_capacity(m->acct, m->now, a->id, a->hostname, &a->total);
        log_info("agent registered agent_id=%s hostname=%s resources=%s", a->id, a->hostname,
                 (res_format(&a->total, err, sizeof(err)), err));
        agent_send_registered(m, a);
        return;
    }

    /* Re-registration. */
    if (!ids_valid(reg->agent_id)) {
        core_send_error(m, p->id, -AG_EINVAL, "invalid agent id");
        return;
    }
    a = core_agent(m, reg->agent_id);
    if (a == NULL || a->state == AGENT_REMOVED) {
        log_warn("refusing re-registration of removed agent agent_id=%s hostname=%s",
                 reg->agent_id, reg->hostname);
        core_send_error(m, p->id, -AG_ESTATE,
                   "agent %s was removed (it stayed away longer than the re-registration "
                   "timeout): register again as a new agent",
                   reg->agent_id);
        return;
    }
    if (!core_peer_owns(m, p, a->principal, true)) {
        log_warn("refusing re-registration of agent %s by principal '%s': it belongs to '%s'",
                 a->id, p->principal, a->principal);
        core_send_error(m, p->id, -AG_EPERM, "agent %s belongs to another principal", a->id);
        return;
    }
    if (a->peer != 0 && a->peer != p->id) {
        struct peer *old = core_peer(m, a->peer);
        if (old && agent_moved(old, a, p, reg)) {
            log_warn("refusing re-registration of agent %s from %s (%s): it is connected from "
                     "%s (%s)",
                     a->id, p->addr[0] ? p->addr : "?", reg->http_address,
                     old->addr[0] ? old->addr : "?", a->http_address);
            core_send_error(m, p->id, -AG_EEXIST,
                            "agent %s is connected from another address: register as a new "
                            "agent, or wait until it disconnects",
                            a->id);
            return;
        }
        if (old)
            old->kind = PEER_NEW;
        core_peer_close(m, a->peer);
    }
    /* Only a changed row is written: after a master restart every agent re-registers with
     * the row the registry already holds, and each write is a durable transaction. */
    bool row_changed = agent_row_differs(a, reg);
    if (m->flags.authenticate && a->principal[0] == '\0') {
        log_warn("agent %s registered without authentication is claimed by principal '%s'",
                 a->id, p->principal);
        snprintf(a->principal, sizeof(a->principal), "%s", p->principal);
        row_changed = true;
    }
    bool was_in_allocator = a->state == AGENT_ACTIVE;
    if (was_in_allocator) {
        offer_rescind_where(m, NULL, a->id, true);
        alloc_remove_agent(m->alloc, a->id);
    }
    if (agent_set_info(a, reg) != 0)
        abort();
    a->peer = p->id;
    a->missed_pings = 0;
    a->reregistered_time = m->now;
    p->kind = PEER_AGENT;
    snprintf(p->owner, sizeof(p->owner), "%s", a->id);

    /* Reconcile the tasks: the agent's word wins for tasks it reports. */
    struct task **to_kill = NULL;
    size_t nkill = 0;
    struct hmap reported;
    hmap_init(&reported);
    for (size_t i = 0; i < reg->ntasks; i++) {
        struct msg_agent_task *at = &reg->tasks[i];
        char key[2 * AG_ID_MAX + 2];
        struct task *t;
        core_task_key(key, sizeof(key), at->task.framework_id, at->task.task_id);
        hmap_put(&reported, key, at);
        t = hmap_get(&a->tasks, key);
        if (t == NULL) {
            t = task_adopt(m, a, at);
            if (t == NULL || !t->orphan)
                continue; /* a task the master lost track of (master restart) is known again */
        }
        if (t->orphan && msg_task_state_terminal(at->status.state)) {
            task_forget(m, t); /* the orphan's kill is done */
            continue;
        }
        if (msg_task_state_terminal(at->status.state))
            continue;
        if (t->orphan) {
            /* Its framework was removed or torn down (the registry keeps every framework
             * that is not): kill it, as Mesos kills the tasks of completed frameworks.
             * It stays booked until the agent reports its end. */
            t->state = at->status.state;
            t->status.state = at->status.state;
            t->resources_recovered = false;
            to_kill = xrealloc(to_kill, (nkill + 1) * sizeof(*to_kill));
            to_kill[nkill++] = t;
            metrics_inc(m->ctr.orphans_killed);
            log_warn("killing orphan task %s on agent %s (%s): its framework is gone "
                     "(removed or torn down)",
                     t->key, a->id, a->hostname);
            continue;
        }
        if (t->state == MSG_TASK_UNREACHABLE) {
            /* Partition-aware frameworks learn that the task is back. */
            task_master_update(m, t, at->status.state, "REASON_AGENT_REREGISTERED",
                               "agent re-registered");
            t->resources_recovered = false;
        } else if (msg_task_state_terminal(t->state)) {
            /* The framework was told it is gone (TASK_LOST): kill it, as Mesos does. Its
             * resources stay allocated until the agent reports the kill. */
            to_kill = xrealloc(to_kill, (nkill + 1) * sizeof(*to_kill));
            to_kill[nkill++] = t;
            t->resources_recovered = false;
            log_info("killing task %s: its framework was told it is lost", t->key);
            continue;
        }
        if (t->kill_pending) {
            /* The framework asked to kill it while the agent was away. */
            to_kill = xrealloc(to_kill, (nkill + 1) * sizeof(*to_kill));
            to_kill[nkill++] = t;
            log_info("killing task %s: killed while its agent was away", t->key);
        }
    }
    /* Tasks the master knew but the agent does not: gone while it was away. */
    size_t it = 0;
    void *val;
    char **gone = NULL;
    size_t ngone = 0;
    while (hmap_next(&a->tasks, &it, NULL, &val)) {
        struct task *t = val;
        if (hmap_get(&reported, t->key) == NULL) {
            gone = xrealloc(gone, (ngone + 1) * sizeof(*gone));
            gone[ngone++] = xstrdup(t->key);
        }
    }
    for (size_t i = 0; i < ngone; i++) {
        struct task *t = hmap_get(&a->tasks, gone[i]);
        if (t && !msg_task_state_terminal(t->state)) {
            struct framework *fw = core_framework(m, t->framework_id);
            task_master_update(m, t,
                               fw && fw->partition_aware ? MSG_TASK_GONE : MSG_TASK_LOST,
                               "REASON_AGENT_REREGISTERED",
                               "the agent re-registered without this task");
        }
        if (t)
            task_forget(m, t);
        free(gone[i]);
    }
    free(gone);
    hmap_fini(&reported);

    /* Unreachable tasks that came back count as allocated again. */
    a->state = AGENT_ACTIVE;
    if (row_changed)
        agent_store(m, a);
    allocation_add_agent(m, a);
    acct_agent_capacity(m->acct, m->now, a->id, a->hostname, &a->total);
    log_info("agent re-registered agent_id=%s hostname=%s tasks=%zu", a->id, a->hostname,
             reg->ntasks);
    agent_send_registered(m, a);
    for (size_t i = 0; i < nkill; i++) {
        struct msg k;
        msg_init(&k, MSG_KILL_TASK);
        k.u.kill_task.framework_id = to_kill[i]->framework_id;
        k.u.kill_task.task_id = to_kill[i]->info.task_id;
        if (to_kill[i]->kill_pending)
            k.u.kill_task.grace_ms = to_kill[i]->kill_grace_ms;
        to_kill[i]->kill_pending = false;
        master_send(m, a->peer, &k);
    }
    free(to_kill);
}

/* The agent is unreachable: its offers go, its tasks become UNREACHABLE or LOST. */
void
agent_lost(struct master *m, struct agent *a, const char *why)
{
    size_t it = 0;
    void *val;

    if (a->state != AGENT_ACTIVE)
        return;
    log_warn("agent unreachable agent_id=%s hostname=%s reason=\"%s\"", a->id, a->hostname, why);
    offer_rescind_where(m, NULL, a->id, true);
    a->state = AGENT_UNREACHABLE;
    a->unreachable_time = m->now;
    if (a->peer) {
        struct peer *p = core_peer(m, a->peer);
        if (p)
            p->kind = PEER_NEW;
        core_peer_close(m, a->peer);
        a->peer = 0;
    }
    while (hmap_next(&a->tasks, &it, NULL, &val)) {
        struct task *t = val;
        struct framework *fw = core_framework(m, t->framework_id);
        if (msg_task_state_terminal(t->state))
            continue;
        t->resources_recovered = true; /* the agent leaves the allocator below */
        task_master_update(m, t,
                           fw && fw->partition_aware ? MSG_TASK_UNREACHABLE : MSG_TASK_LOST,
                           "REASON_AGENT_UNREACHABLE", why);
    }
    alloc_remove_agent(m->alloc, a->id);
    allocation_agent_left(m, a);
    acct_agent_capacity(m->acct, m->now, a->id, a->hostname, NULL);
    agent_store(m, a);
}

/* The agent is gone for good (removed after the re-registration timeout). */
void
agent_remove(struct master *m, struct agent *a, const char *why)
{
    size_t it = 0;
    void *val;
    char **keys = NULL;
    size_t n = 0;

    log_warn("agent removed agent_id=%s hostname=%s reason=\"%s\"", a->id, a->hostname, why);
    if (a->state == AGENT_ACTIVE)
        agent_lost(m, a, why);
    while (hmap_next(&a->tasks, &it, NULL, &val)) {
        keys = xrealloc(keys, (n + 1) * sizeof(*keys));
        keys[n++] = xstrdup(((struct task *)val)->key);
    }
    for (size_t i = 0; i < n; i++) {
        struct task *t = hmap_get(&a->tasks, keys[i]);
        if (t) {
            struct framework *fw = core_framework(m, t->framework_id);
            if (!msg_task_state_terminal(t->state) || t->state == MSG_TASK_UNREACHABLE)
                task_master_update(m, t,
                                   fw && fw->partition_aware ? MSG_TASK_GONE : MSG_TASK_LOST,
                                   "REASON_AGENT_REMOVED", why);
            task_forget(m, t);
        }
        free(keys[i]);
    }
    free(keys);
    a->state = AGENT_REMOVED;
    registry_remove_agent(m->reg, a->id);
    hmap_del(&m->agents, a->id);
    agent_free(a);
}

void
agent_handle_pong(struct master *m, struct peer *p, struct msg *msg)
{
    struct agent *a = core_agent(m, p->owner);
    if (a == NULL || a->peer != p->id)
        return;
    if (msg->u.pong.seq > a->pong_seq)
        a->pong_seq = msg->u.pong.seq;
    a->missed_pings = 0;
}

/* ---- status updates ---- */

static void
agent_ack_status(struct master *m, struct agent *a, const struct msg_task_status *s)
{
    struct msg ack;
    if (a == NULL || a->peer == 0 || s->uuid[0] == '\0')
        return;
    msg_init(&ack, MSG_STATUS_ACK);
    ack.u.status_ack.agent_id = a->id;
    ack.u.status_ack.framework_id = s->framework_id;
    ack.u.status_ack.task_id = s->task_id;
    ack.u.status_ack.uuid = s->uuid;
    master_send(m, a->peer, &ack);
}

/* Kills the task of update `s` if it still runs: the master does not book it. */
static void
agent_kill_untracked(struct master *m, struct agent *a, const struct msg_task_status *s,
               const char *why)
{
    struct msg k;

    if (msg_task_state_terminal(s->state) || s->state == MSG_TASK_KILLING)
        return;
    log_warn("killing task %s/%s on agent %s: %s", s->framework_id, s->task_id, a->id, why);
    msg_init(&k, MSG_KILL_TASK);
    k.u.kill_task.framework_id = s->framework_id;
    k.u.kill_task.task_id = s->task_id;
    master_send(m, a->peer, &k);
}

void
agent_handle_status_update(struct master *m, struct peer *p, struct msg *msg)
{
    struct msg_task_status *s = &msg->u.status_update.status;
    struct agent *a = core_agent(m, p->owner);
    struct framework *fw;
    struct task *t;
    char key[2 * AG_ID_MAX + 2];

    if (a == NULL || a->peer != p->id) {
        core_send_error(m, p->id, -AG_ESTATE, "status update from an unregistered agent");
        return;
    }
    if (!ids_valid(s->framework_id) || !ids_valid(s->task_id) || s->uuid[0] == '\0') {
        log_warn("invalid status update from agent %s: bad ids or missing uuid", a->id);
        return;
    }
    fw = core_framework(m, s->framework_id);
    core_task_key(key, sizeof(key), s->framework_id, s->task_id);
    t = hmap_get(&a->tasks, key);
    if (fw == NULL || fw->state == FW_REMOVED) {
        /* Nobody will ever acknowledge it: do it on the framework's behalf. A task of
         * a removed framework that still runs (its kill was lost) is killed again. */
        agent_ack_status(m, a, s);
        if (t && t->orphan && !msg_task_state_terminal(t->state)) {
            t->state = s->state;
            t->status.state = s->state;
            if (msg_task_state_terminal(s->state)) {
                log_info("orphan task %s ended on agent %s (%s)", key, a->id,
                         msg_task_state_name(s->state));
                task_forget(m, t);
                return;
            }
        }
        agent_kill_untracked(m, a, s, "its framework is gone");
        return;
    }
    if (t == NULL) {
        log_warn("status update for unknown task %s from agent %s (%s)", key, a->id,
                 msg_task_state_name(s->state));
        agent_ack_status(m, a, s);
        /* Forgotten by the master (e.g. it was still launching when its agent
         * re-registered without it, and its framework was told it is lost): it
         * must not run unbooked. */
        agent_kill_untracked(m, a, s, "the master does not know it");
        return;
    }
    if (msg_task_state_terminal(t->state) && t->state != s->state) {
        /* The framework already heard a terminal state from the master (e.g. LOST while
         * the agent was unreachable); a later change is not news to it. */
        agent_ack_status(m, a, s);
        if (msg_task_state_terminal(s->state)) {
            task_recover_resources(m, t);
            if (t->acked)
                task_forget(m, t);
        }
        return;
    }
    {
        struct msg_task_status copy;
        msg_task_status_init(&copy);
        if (msg_task_status_copy(&copy, s) != 0)
            abort();
        free(copy.agent_id);
        copy.agent_id = strdup(a->id);
        msg_task_status_fini(&t->status);
        t->status = copy;
        t->state = s->state;
        t->acked = false;
    }
    log_debug("status update task=%s state=%s uuid=%s", key, msg_task_state_name(s->state),
              s->uuid);
    if (msg_task_state_terminal(s->state)) {
        if (a->freed_ns == 0)
            a->freed_ns = uv_hrtime();
        acct_task_end(m->acct, m->now, t->framework_id, t->info.task_id,
                      msg_task_state_name(s->state));
        task_recover_resources(m, t);
    }
    /* Forward this very update (its uuid is what the agent waits for). */
    if (fw->peer) {
        struct msg u;
        msg_init(&u, MSG_STATUS_UPDATE);
        u.u.status_update.status = *s;
        u.u.status_update.status.agent_id = a->id;
        if (master_send(m, fw->peer, &u) == 0)
            metrics_inc(m->ctr.updates_forwarded);
    }
}
