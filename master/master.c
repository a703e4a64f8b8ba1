/*
 * The master's core: peers, agents, frameworks, offers, tasks and status
 * updates. Every function here runs on the loop thread. See master.h for the
 * state machines and docs/protocol-flows.md for the message flows.
 */
#include "master_int.h"

#include "registry.h"
#include "validate.h"
#include "recorder.h"
#include "allocator.h"
#include "error.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "transport.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define MAX_TASKS_PER_ACCEPT 10000

static void agent_lost(struct master *m, struct agent *a, const char *why);
static void framework_remove(struct master *m, struct framework *fw, const char *why, bool tell);
static void schedule_allocation(struct master *m);
static void agent_shrink_overcommit(struct master *m, struct agent *a);

double
master_clock(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

static void
touch(struct master *m)
{
    m->now = master_clock();
}

static void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL) {
        log_error("out of memory");
        abort();
    }
    return p;
}

int
master_send(struct master *m, uint32_t peer, struct msg *msg)
{
    void *buf;
    size_t len;
    int rc;

    if (peer == 0)
        return -AG_ECLOSED;
    msg->sender = m->id;
    rc = msg_encode_alloc(msg, &buf, &len);
    msg->sender = NULL;
    if (rc != 0) {
        log_error("cannot encode %s: %s", msg_type_name(msg->type), ag_strerror(rc));
        return rc;
    }
    rc = m->send_hook ? m->send_hook(m->send_hook_arg, peer, buf, len)
                      : tp_server_send(m->tp, peer, buf, len);
    free(buf);
    if (rc != 0)
        log_warn("cannot send %s to peer=%u: %s", msg_type_name(msg->type), peer,
                 ag_strerror(rc));
    else
        m->msgs_out++;
    return rc;
}

static void
send_error(struct master *m, uint32_t peer, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
send_error(struct master *m, uint32_t peer, int code, const char *fmt, ...)
{
    struct msg e;
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    msg_init(&e, MSG_ERROR);
    e.u.error.message = text;
    e.u.error.code = code;
    master_send(m, peer, &e);
}

/* Drops the connection of transport peer `id` (no-op without a transport). */
static void
peer_close(struct master *m, uint32_t id)
{
    if (m->tp)
        tp_server_close_peer(m->tp, id);
}

static struct peer *
peer_get(struct master *m, uint32_t id)
{
    char key[16];
    snprintf(key, sizeof(key), "%u", id);
    return hmap_get(&m->peers, key);
}

/* ---- tasks ---- */

static void
task_key(char *out, size_t len, const char *fwid, const char *tid)
{
    snprintf(out, len, "%s/%s", fwid, tid);
}

static struct framework *
framework_get(struct master *m, const char *id)
{
    return hmap_get(&m->frameworks, id);
}

/* The app a task belongs to, from its AGORA_APP_ID or MARATHON_APP_ID label. */
static const char *
task_app_id(const struct msg_task_info *ti)
{
    for (size_t i = 0; i < ti->nlabels; i++)
        if (strcmp(ti->labels[i].key, "AGORA_APP_ID") == 0 ||
            strcmp(ti->labels[i].key, "MARATHON_APP_ID") == 0)
            return ti->labels[i].value;
    return "";
}

/* Records the start of a task's allocation interval. */
static void
record_task_start(struct master *m, const struct msg_task_info *ti, const char *role)
{
    struct framework *fw = framework_get(m, ti->framework_id);
    acct_task_start(m->acct, m->now, ti->framework_id, role, fw ? fw->info.principal : "",
                    task_app_id(ti), ti->task_id, ti->agent_id, &ti->resources);
}

static const char *
fw_role(struct framework *fw)
{
    return fw && fw->info.nroles > 0 ? fw->info.roles[0] : "*";
}

static struct agent *
agent_get(struct master *m, const char *id)
{
    return hmap_get(&m->agents, id);
}

static void
task_free(struct task *t)
{
    if (t == NULL)
        return;
    msg_task_info_fini(&t->info);
    msg_task_status_fini(&t->status);
    free(t);
}

static void
completed_add(struct master *m, struct task *t)
{
    struct completed_task *c;

    if (m->flags.max_completed_tasks <= 0)
        return;
    if (m->completed == NULL)
        m->completed = xcalloc((size_t)m->flags.max_completed_tasks, sizeof(*m->completed));
    c = &m->completed[m->completed_head];
    if (m->ncompleted == (size_t)m->flags.max_completed_tasks) {
        msg_task_info_fini(&c->info);
        msg_task_status_fini(&c->status);
    } else {
        m->ncompleted++;
    }
    msg_task_info_init(&c->info);
    msg_task_status_init(&c->status);
    msg_task_info_copy(&c->info, &t->info);
    msg_task_status_copy(&c->status, &t->status);
    snprintf(c->framework_id, sizeof(c->framework_id), "%s", t->framework_id);
    m->completed_head = (m->completed_head + 1) % (size_t)m->flags.max_completed_tasks;
}

/* Returns the resources of a task to the allocator once (it ended or its agent went away). */
static void
task_recover_resources(struct master *m, struct task *t)
{
    int rc;

    if (t->resources_recovered)
        return;
    t->resources_recovered = true;
    rc = alloc_recover_resources(m->alloc, t->framework_id, t->agent_id,
                                 t->role[0] ? t->role : NULL, &t->info.resources, 0, m->now);
    if (rc != 0 && rc != -AG_ENOENT)
        log_warn("cannot recover resources of task %s: %s", t->key, ag_strerror(rc));
    schedule_allocation(m);
}

/* Removes a task from every index and frees it. */
static void
task_forget(struct master *m, struct task *t)
{
    struct framework *fw = framework_get(m, t->framework_id);
    struct agent *a = agent_get(m, t->agent_id);

    task_recover_resources(m, t);
    if (fw)
        hmap_del(&fw->tasks, t->info.task_id);
    if (a)
        hmap_del(&a->tasks, t->key);
    if (msg_task_state_terminal(t->state))
        completed_add(m, t);
    task_free(t);
}

/* Sends the task's latest status to its framework, if connected. */
static void
task_forward_status(struct master *m, struct task *t)
{
    struct framework *fw = framework_get(m, t->framework_id);
    struct msg u;

    if (fw == NULL || fw->peer == 0)
        return;
    msg_init(&u, MSG_STATUS_UPDATE);
    u.u.status_update.status = t->status; /* borrowed */
    if (master_send(m, fw->peer, &u) == 0)
        m->updates_forwarded++;
}

/*
 * Records a state change made by the master itself (ERROR, LOST, UNREACHABLE,
 * GONE, reconciliation) and forwards it. Master-generated updates carry no uuid
 * and need no acknowledgement.
 */
static void
task_master_update(struct master *m, struct task *t, enum msg_task_state state,
                   const char *reason, const char *message)
{
    msg_task_status_fini(&t->status);
    t->status.task_id = strdup(t->info.task_id);
    t->status.agent_id = strdup(t->agent_id);
    t->status.framework_id = strdup(t->framework_id);
    t->status.state = state;
    t->status.reason = strdup(reason ? reason : "");
    t->status.message = strdup(message ? message : "");
    t->status.source = strdup("SOURCE_MASTER");
    t->status.uuid = strdup("");
    t->status.timestamp = m->now;
    if (!t->status.task_id || !t->status.agent_id || !t->status.framework_id ||
        !t->status.reason || !t->status.message || !t->status.source || !t->status.uuid) {
        log_error("out of memory");
        abort();
    }
    t->state = state;
    t->acked = true;
    task_forward_status(m, t);
    if (msg_task_state_terminal(state) || state == MSG_TASK_UNREACHABLE)
        acct_task_end(m->acct, m->now, t->framework_id, t->info.task_id,
                      msg_task_state_name(state));
    if (msg_task_state_terminal(state))
        task_recover_resources(m, t);
}

/* Sends a one-off status for a task the master does not track. */
static void
send_untracked_status(struct master *m, struct framework *fw, const char *task_id,
                      const char *agent_id, enum msg_task_state state, const char *reason,
                      const char *message)
{
    struct msg u;
    struct msg_task_status *s;

    if (fw->peer == 0)
        return;
    msg_init(&u, MSG_STATUS_UPDATE);
    s = &u.u.status_update.status;
    s->task_id = (char *)task_id;
    s->agent_id = (char *)agent_id;
    s->framework_id = fw->id;
    s->state = state;
    s->reason = (char *)reason;
    s->message = (char *)message;
    s->source = "SOURCE_MASTER";
    s->uuid = "";
    s->timestamp = m->now;
    master_send(m, fw->peer, &u);
}

/* ---- allocation and offers ---- */

struct offer_batch {
    struct master *m;
    struct hmap per_fw; /* framework id -> struct msg* (OFFERS) */
};

static void
offer_free(struct offer *o)
{
    if (o == NULL)
        return;
    res_fini(&o->resources);
    free(o);
}

static void
emit_offer(void *arg, const char *framework_id, const char *agent_id, const char *role,
           const struct resources *offered)
{
    struct offer_batch *b = arg;
    struct master *m = b->m;
    struct framework *fw = framework_get(m, framework_id);
    struct agent *a = agent_get(m, agent_id);
    struct offer *o;
    struct msg *msg;
    struct msg_offer *mo;

    if (fw == NULL || a == NULL || fw->peer == 0) {
        /* The allocator only offers to active frameworks and agents; give it back. */
        alloc_recover_resources(m->alloc, framework_id, agent_id, role, offered, 0, m->now);
        return;
    }
    if (a->freed_ns != 0) {
        /* From the task's terminal update to the offer of what it freed. */
        metrics_record(metrics_timer(m->metrics, "allocator/reoffer_latency_ms"),
                       uv_hrtime() - a->freed_ns);
        a->freed_ns = 0;
    }
    o = xcalloc(1, sizeof(*o));
    ids_new(o->id, m->id, "O", ++m->next_offer);
    snprintf(o->framework_id, sizeof(o->framework_id), "%s", framework_id);
    snprintf(o->agent_id, sizeof(o->agent_id), "%s", agent_id);
    snprintf(o->role, sizeof(o->role), "%s", role);
    res_init(&o->resources);
    if (res_copy(&o->resources, offered) != 0)
        abort();
    o->created = m->now;
    o->expires = m->flags.offer_timeout_ms > 0 ? m->now + m->flags.offer_timeout_ms / 1000.0 : 0;
    hmap_put(&m->offers, o->id, o);
    hmap_put(&fw->offers, o->id, o);

    msg = hmap_get(&b->per_fw, framework_id);
    if (msg == NULL) {
        msg = xcalloc(1, sizeof(*msg));
        msg_init(msg, MSG_OFFERS);
        hmap_put(&b->per_fw, framework_id, msg);
    }
    struct msg_offers *ofs = &msg->u.offers;
    ofs->offers = realloc(ofs->offers, (ofs->noffers + 1) * sizeof(*ofs->offers));
    if (ofs->offers == NULL)
        abort();
    mo = &ofs->offers[ofs->noffers++];
    memset(mo, 0, sizeof(*mo));
    /* Borrowed fields: the message is only encoded, never passed to msg_free. */
    mo->offer_id = o->id;
    mo->framework_id = fw->id;
    mo->agent_id = a->id;
    mo->hostname = a->hostname;
    mo->resources = o->resources;
    mo->attributes = a->attributes;
    mo->allocation_role = o->role;
    mo->agent_http = a->http_address;
    m->offers_sent++;
}

static void
run_allocation(struct master *m, bool full)
{
    struct offer_batch b = {.m = m};
    uint64_t t0 = uv_hrtime();
    size_t it = 0;
    const char *key;
    void *val;
    int rc;

    if (m->novercommitted > 0) {
        size_t ait = 0;
        void *aval;
        while (hmap_next(&m->agents, &ait, NULL, &aval))
            if (((struct agent *)aval)->overcommitted)
                agent_shrink_overcommit(m, aval);
    }
    hmap_init(&b.per_fw);
    if (full)
        rc = alloc_run(m->alloc, m->now, NULL, 0, emit_offer, &b);
    else
        rc = alloc_run_pending(m->alloc, m->now, emit_offer, &b);
    if (rc < 0)
        log_warn("allocation failed: %s", ag_strerror(rc));
    m->alloc_runs++;
    m->alloc_last_ms = (uv_hrtime() - t0) / 1e6;
    if (m->alloc_last_ms > m->alloc_max_ms)
        m->alloc_max_ms = m->alloc_last_ms;
    while (hmap_next(&b.per_fw, &it, &key, &val)) {
        struct msg *msg = val;
        struct framework *fw = framework_get(m, key);
        if (fw)
            master_send(m, fw->peer, msg);
        free(msg->u.offers.offers);
        free(msg);
    }
    hmap_fini(&b.per_fw);
}

static void
on_alloc_idle(uv_idle_t *h)
{
    struct master *m = h->data;

    uv_idle_stop(h);
    m->alloc_pending = false;
    touch(m);
    if (m->alloc_full) {
        m->alloc_full = false;
        run_allocation(m, true);
    } else if (alloc_pending(m->alloc)) {
        run_allocation(m, false);
    }
}

/* Allocation for whatever became pending runs once, at the end of this loop turn. */
static void
schedule_allocation(struct master *m)
{
    if (m->alloc_pending || m->stopping)
        return;
    m->alloc_pending = true;
    uv_idle_start(&m->alloc_idle, on_alloc_idle);
}

/* An allocation over every agent at the end of this loop turn: after an
 * operator's change (reservation, weight, drain) that no agent is pending for. */
static void
schedule_full_allocation(struct master *m)
{
    if (m->stopping)
        return;
    m->alloc_full = true;
    schedule_allocation(m);
}

/* Takes an offer out of every index; returns it (caller frees) or NULL. */
static struct offer *
offer_take(struct master *m, const char *id)
{
    struct offer *o = hmap_del(&m->offers, id);
    struct framework *fw;

    if (o == NULL)
        return NULL;
    fw = framework_get(m, o->framework_id);
    if (fw)
        hmap_del(&fw->offers, id);
    return o;
}

/* Withdraws an offer: tells the framework (if `tell`) and gives the resources back. */
static void
offer_rescind(struct master *m, const char *id, bool tell, double refuse_seconds)
{
    struct offer *o = offer_take(m, id);
    struct framework *fw;
    struct msg r;

    if (o == NULL)
        return;
    fw = framework_get(m, o->framework_id);
    if (tell && fw && fw->peer) {
        msg_init(&r, MSG_RESCIND);
        r.u.rescind.offer_id = o->id;
        master_send(m, fw->peer, &r);
    }
    alloc_recover_resources(m->alloc, o->framework_id, o->agent_id, o->role, &o->resources,
                            refuse_seconds, m->now);
    m->offers_rescinded++;
    offer_free(o);
    schedule_allocation(m);
}

static void
rescind_offers_where(struct master *m, const char *framework_id, const char *agent_id, bool tell)
{
    size_t it = 0;
    const char *key;
    void *val;
    char **ids = NULL;
    size_t n = 0;

    while (hmap_next(&m->offers, &it, &key, &val)) {
        struct offer *o = val;
        if ((framework_id && strcmp(o->framework_id, framework_id) != 0) ||
            (agent_id && strcmp(o->agent_id, agent_id) != 0))
            continue;
        ids = realloc(ids, (n + 1) * sizeof(*ids));
        if (ids == NULL)
            abort();
        ids[n++] = strdup(o->id);
    }
    for (size_t i = 0; i < n; i++) {
        offer_rescind(m, ids[i], tell, 0);
        free(ids[i]);
    }
    free(ids);
}

/* ---- agents ---- */

static void
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

static struct agent *
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
static int
store_agent(struct master *m, const struct agent *a)
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
                                    });
    free(res);
    return rc;
}

/* Creates the master's record of a task reported by a re-registering agent. */
static struct task *
task_adopt(struct master *m, struct agent *a, const struct msg_agent_task *at)
{
    struct framework *fw = framework_get(m, at->task.framework_id);
    struct task *t;

    if (!ids_valid(at->task.framework_id) || !ids_valid(at->task.task_id))
        return NULL;
    if (fw == NULL && msg_task_state_terminal(at->status.state))
        return NULL; /* over, and nobody to tell */
    t = xcalloc(1, sizeof(*t));
    task_key(t->key, sizeof(t->key), at->task.framework_id, at->task.task_id);
    msg_task_info_init(&t->info);
    msg_task_status_init(&t->status);
    if (msg_task_info_copy(&t->info, &at->task) != 0 ||
        msg_task_status_copy(&t->status, &at->status) != 0)
        abort();
    snprintf(t->framework_id, sizeof(t->framework_id), "%s", at->task.framework_id);
    snprintf(t->agent_id, sizeof(t->agent_id), "%s", a->id);
    snprintf(t->role, sizeof(t->role), "%s", fw_role(fw));
    t->state = at->status.state;
    t->acked = true;
    t->resources_recovered = msg_task_state_terminal(t->state);
    t->orphan = fw == NULL;
    hmap_put(&a->tasks, t->key, t);
    if (fw)
        hmap_put(&fw->tasks, t->info.task_id, t);
    if (fw && !msg_task_state_terminal(t->state))
        record_task_start(m, &t->info, t->role);
    return t;
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
    if (res_copy(&a->total, &reg->resources) != 0 ||
        attr_copy(&a->attributes, &reg->attributes) != 0)
        return -AG_ENOMEM;
    return 0;
}

/* Raises `total` so that it holds `used`: each scalar of `used` above the same
 * name and role in `total` is added; ranges and sets are merged in. */
static void
res_raise_to(struct resources *total, const struct resources *used)
{
    for (size_t i = 0; i < used->n; i++) {
        const struct res_item *u = &used->items[i];
        if (u->type == RES_SCALAR) {
            int64_t have = 0;
            for (size_t j = 0; j < total->n; j++)
                if (total->items[j].type == RES_SCALAR &&
                    strcmp(total->items[j].name, u->name) == 0 &&
                    strcmp(total->items[j].role, u->role) == 0)
                    have = total->items[j].scalar;
            if (u->scalar > have && res_add_scalar(total, u->name, u->role, u->scalar - have) != 0)
                abort();
        } else {
            struct resources one = {.items = (struct res_item *)u, .n = 1, .cap = 1};
            if (res_add(total, &one) == -AG_ENOMEM)
                abort();
        }
    }
}

static void
agent_set_overcommitted(struct master *m, struct agent *a, bool on)
{
    if (a->overcommitted == on)
        return;
    a->overcommitted = on;
    if (on)
        m->novercommitted++;
    else
        m->novercommitted--;
}

/* An agent that is not (or no longer) in the allocator. */
static void
agent_left_allocator(struct master *m, struct agent *a)
{
    agent_set_overcommitted(m, a, false);
    a->alloc_error[0] = '\0';
}

/*
 * Builds the allocator's view of what is in use on an agent (its booked tasks)
 * and adds it. Tasks holding more than the agent's total (it was double-booked
 * earlier, or it came back smaller) cannot be refused: they run. The agent is
 * then admitted with its total raised to what is in use, so nothing of what is
 * over is offered, and shrunk back as tasks end (agent_shrink_overcommit).
 * That is an error for the operator: logged, counted and shown in /agents.
 */
static int
agent_add_to_allocator(struct master *m, struct agent *a)
{
    struct alloc_used *used = NULL;
    struct resources sum;
    size_t n = 0, it = 0;
    void *val;
    int rc;

    agent_left_allocator(m, a);
    res_init(&sum);
    used = xcalloc(hmap_size(&a->tasks) + 1, sizeof(*used));
    while (hmap_next(&a->tasks, &it, NULL, &val)) {
        struct task *t = val;
        if (t->resources_recovered)
            continue;
        used[n].framework_id = t->framework_id;
        used[n].role = t->role[0] ? t->role : "*";
        used[n].resources = &t->info.resources;
        res_add(&sum, &t->info.resources);
        n++;
    }
    rc = alloc_add_agent(m->alloc, a->id, &a->total, used, n);
    if (rc == -AG_ERANGE) {
        struct resources raised;
        char in_use[256], total[256];
        res_init(&raised);
        if (res_copy(&raised, &a->total) != 0)
            abort();
        res_raise_to(&raised, &sum);
        rc = alloc_add_agent(m->alloc, a->id, &raised, used, n);
        res_format(&sum, in_use, sizeof(in_use));
        res_format(&a->total, total, sizeof(total));
        if (rc == 0) {
            agent_set_overcommitted(m, a, true);
            m->agents_overcommitted++;
            log_error("agent %s (%s) runs more than its total: tasks use %s of %s; it gets no "
                      "offers of what is over until enough of them end",
                      a->id, a->hostname, in_use, total);
        }
        res_fini(&raised);
    }
    res_fini(&sum);
    free(used);
    if (rc != 0) {
        snprintf(a->alloc_error, sizeof(a->alloc_error), "allocator refused the agent: %s",
                 ag_strerror(rc));
        m->agents_refused++;
        log_error("allocator refused agent %s (%s): %s; it gets no offers", a->id, a->hostname,
                  ag_strerror(rc));
    }
    if (rc == 0 && a->draining)
        alloc_set_agent_draining(m->alloc, a->id, true);
    schedule_allocation(m);
    return rc;
}

/* An overcommitted agent: lowers its total in the allocator to its real total
 * raised to what is still allocated on it (tasks that ended free nothing until
 * the agent is back within its total). */
static void
agent_shrink_overcommit(struct master *m, struct agent *a)
{
    const struct resources *total, *avail;
    struct resources used, raised;
    bool same, done;
    int rc;

    if (alloc_agent_resources(m->alloc, a->id, &total, &avail) != 0) {
        agent_left_allocator(m, a);
        return;
    }
    res_init(&used);
    res_init(&raised);
    if (res_copy(&used, total) != 0 || res_sub(&used, avail) != 0 ||
        res_copy(&raised, &a->total) != 0)
        abort();
    res_raise_to(&raised, &used);
    same = res_equal(&raised, total);
    done = res_equal(&raised, &a->total);
    if (!same && (rc = alloc_update_agent_total(m->alloc, a->id, &raised)) != 0)
        log_error("cannot lower the total of overcommitted agent %s: %s", a->id,
                  ag_strerror(rc));
    else if (done) {
        agent_set_overcommitted(m, a, false);
        log_info("agent %s is within its total again; all of it is offered", a->id);
    }
    res_fini(&used);
    res_fini(&raised);
}

static void
handle_agent_register(struct master *m, struct peer *p, struct msg *msg)
{
    struct msg_agent_register *reg = &msg->u.agent_register;
    struct agent *a;
    char err[256];
    int rc;

    if (reg->hostname[0] == '\0' || res_empty(&reg->resources)) {
        send_error(m, p->id, -AG_EINVAL, "registration needs a hostname and resources");
        return;
    }
    if (reg->agent_id[0] == '\0') {
        char id[AG_ID_MAX];
        ids_new(id, m->id, "S", ++m->next_agent);
        a = agent_new(id);
        if (agent_set_info(a, reg) != 0)
            abort();
        a->registered_time = m->now;
        a->state = AGENT_ACTIVE;
        a->peer = p->id;
        if ((rc = store_agent(m, a)) != 0) {
            send_error(m, p->id, rc, "cannot admit the agent: registry write failed");
            agent_free(a);
            return;
        }
        hmap_put(&m->agents, a->id, a);
        p->kind = PEER_AGENT;
        snprintf(p->owner, sizeof(p->owner), "%s", a->id);
        agent_add_to_allocator(m, a);
        acct_agent_capacity(m->acct, m->now, a->id, a->hostname, &a->total);
        log_info("agent registered agent_id=%s hostname=%s resources=%s", a->id, a->hostname,
                 (res_format(&a->total, err, sizeof(err)), err));
        agent_send_registered(m, a);
        return;
    }

    /* Re-registration. */
    if (!ids_valid(reg->agent_id)) {
        send_error(m, p->id, -AG_EINVAL, "invalid agent id");
        return;
    }
    a = agent_get(m, reg->agent_id);
    if (a == NULL || a->state == AGENT_REMOVED) {
        log_warn("refusing re-registration of removed agent agent_id=%s hostname=%s",
                 reg->agent_id, reg->hostname);
        send_error(m, p->id, -AG_ESTATE,
                   "agent %s was removed (it stayed away longer than the re-registration "
                   "timeout): register again as a new agent",
                   reg->agent_id);
        return;
    }
    if (a->peer != 0 && a->peer != p->id) {
        struct peer *old = peer_get(m, a->peer);
        if (old)
            old->kind = PEER_NEW;
        peer_close(m, a->peer);
    }
    bool was_in_allocator = a->state == AGENT_ACTIVE;
    if (was_in_allocator) {
        rescind_offers_where(m, NULL, a->id, true);
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
        task_key(key, sizeof(key), at->task.framework_id, at->task.task_id);
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
            to_kill = realloc(to_kill, (nkill + 1) * sizeof(*to_kill));
            if (to_kill == NULL)
                abort();
            to_kill[nkill++] = t;
            m->orphans_killed++;
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
            to_kill = realloc(to_kill, (nkill + 1) * sizeof(*to_kill));
            if (to_kill == NULL)
                abort();
            to_kill[nkill++] = t;
            t->resources_recovered = false;
            log_info("killing task %s: its framework was told it is lost", t->key);
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
            gone = realloc(gone, (ngone + 1) * sizeof(*gone));
            gone[ngone++] = strdup(t->key);
        }
    }
    for (size_t i = 0; i < ngone; i++) {
        struct task *t = hmap_get(&a->tasks, gone[i]);
        if (t && !msg_task_state_terminal(t->state)) {
            struct framework *fw = framework_get(m, t->framework_id);
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
    store_agent(m, a);
    agent_add_to_allocator(m, a);
    acct_agent_capacity(m->acct, m->now, a->id, a->hostname, &a->total);
    log_info("agent re-registered agent_id=%s hostname=%s tasks=%zu", a->id, a->hostname,
             reg->ntasks);
    agent_send_registered(m, a);
    for (size_t i = 0; i < nkill; i++) {
        struct msg k;
        msg_init(&k, MSG_KILL_TASK);
        k.u.kill_task.framework_id = to_kill[i]->framework_id;
        k.u.kill_task.task_id = to_kill[i]->info.task_id;
        master_send(m, a->peer, &k);
    }
    free(to_kill);
}

/* The agent is unreachable: its offers go, its tasks become UNREACHABLE or LOST. */
static void
agent_lost(struct master *m, struct agent *a, const char *why)
{
    size_t it = 0;
    void *val;

    if (a->state != AGENT_ACTIVE)
        return;
    log_warn("agent unreachable agent_id=%s hostname=%s reason=\"%s\"", a->id, a->hostname, why);
    rescind_offers_where(m, NULL, a->id, true);
    a->state = AGENT_UNREACHABLE;
    a->unreachable_time = m->now;
    if (a->peer) {
        struct peer *p = peer_get(m, a->peer);
        if (p)
            p->kind = PEER_NEW;
        peer_close(m, a->peer);
        a->peer = 0;
    }
    while (hmap_next(&a->tasks, &it, NULL, &val)) {
        struct task *t = val;
        struct framework *fw = framework_get(m, t->framework_id);
        if (msg_task_state_terminal(t->state))
            continue;
        t->resources_recovered = true; /* the agent leaves the allocator below */
        task_master_update(m, t,
                           fw && fw->partition_aware ? MSG_TASK_UNREACHABLE : MSG_TASK_LOST,
                           "REASON_AGENT_UNREACHABLE", why);
    }
    alloc_remove_agent(m->alloc, a->id);
    agent_left_allocator(m, a);
    acct_agent_capacity(m->acct, m->now, a->id, a->hostname, NULL);
    store_agent(m, a);
}

/* The agent is gone for good (removed after the re-registration timeout). */
static void
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
        keys = realloc(keys, (n + 1) * sizeof(*keys));
        keys[n++] = strdup(((struct task *)val)->key);
    }
    for (size_t i = 0; i < n; i++) {
        struct task *t = hmap_get(&a->tasks, keys[i]);
        if (t) {
            struct framework *fw = framework_get(m, t->framework_id);
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

static void
handle_pong(struct master *m, struct peer *p, struct msg *msg)
{
    struct agent *a = agent_get(m, p->owner);
    if (a == NULL || a->peer != p->id)
        return;
    if (msg->u.pong.seq > a->pong_seq)
        a->pong_seq = msg->u.pong.seq;
    a->missed_pings = 0;
}

/* ---- status updates ---- */

static void
ack_to_agent(struct master *m, struct agent *a, const struct msg_task_status *s)
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
kill_untracked(struct master *m, struct agent *a, const struct msg_task_status *s,
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

static void
handle_status_update(struct master *m, struct peer *p, struct msg *msg)
{
    struct msg_task_status *s = &msg->u.status_update.status;
    struct agent *a = agent_get(m, p->owner);
    struct framework *fw;
    struct task *t;
    char key[2 * AG_ID_MAX + 2];

    if (a == NULL || a->peer != p->id) {
        send_error(m, p->id, -AG_ESTATE, "status update from an unregistered agent");
        return;
    }
    if (!ids_valid(s->framework_id) || !ids_valid(s->task_id) || s->uuid[0] == '\0') {
        log_warn("invalid status update from agent %s: bad ids or missing uuid", a->id);
        return;
    }
    fw = framework_get(m, s->framework_id);
    task_key(key, sizeof(key), s->framework_id, s->task_id);
    t = hmap_get(&a->tasks, key);
    if (fw == NULL || fw->state == FW_REMOVED) {
        /* Nobody will ever acknowledge it: do it on the framework's behalf. A task of
         * a removed framework that still runs (its kill was lost) is killed again. */
        ack_to_agent(m, a, s);
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
        kill_untracked(m, a, s, "its framework is gone");
        return;
    }
    if (t == NULL) {
        log_warn("status update for unknown task %s from agent %s (%s)", key, a->id,
                 msg_task_state_name(s->state));
        ack_to_agent(m, a, s);
        /* Forgotten by the master (e.g. it was still launching when its agent
         * re-registered without it, and its framework was told it is lost): it
         * must not run unbooked. */
        kill_untracked(m, a, s, "the master does not know it");
        return;
    }
    if (msg_task_state_terminal(t->state) && t->state != s->state) {
        /* The framework already heard a terminal state from the master (e.g. LOST while
         * the agent was unreachable); a later change is not news to it. */
        ack_to_agent(m, a, s);
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
            m->updates_forwarded++;
    }
}

/* ---- frameworks ---- */

static void
framework_free(struct framework *fw)
{
    if (fw == NULL)
        return;
    msg_framework_info_fini(&fw->info);
    hmap_fini(&fw->tasks);
    hmap_fini(&fw->offers);
    free(fw);
}

static bool
has_capability(const struct msg_framework_info *info, const char *cap)
{
    for (size_t i = 0; i < info->ncapabilities; i++)
        if (strcmp(info->capabilities[i], cap) == 0)
            return true;
    return false;
}

/* A framework record with id `id` and a copy of `info` (its framework_id set
 * to `id`); not in any map yet. */
static struct framework *
framework_new(const char *id, const struct msg_framework_info *info)
{
    struct framework *fw = xcalloc(1, sizeof(*fw));

    snprintf(fw->id, sizeof(fw->id), "%s", id);
    msg_framework_info_init(&fw->info);
    if (msg_framework_info_copy(&fw->info, info) != 0)
        abort();
    free(fw->info.framework_id);
    fw->info.framework_id = strdup(fw->id);
    if (fw->info.framework_id == NULL)
        abort();
    fw->partition_aware = has_capability(info, "PARTITION_AWARE");
    hmap_init(&fw->tasks);
    hmap_init(&fw->offers);
    return fw;
}

/* Stores the framework's row in the registry (durable on return). */
static int
store_framework(struct master *m, const struct framework *fw)
{
    struct msg sub;
    void *buf;
    size_t len;
    int rc;

    msg_init(&sub, MSG_SUBSCRIBE);
    sub.u.subscribe.framework = fw->info;
    sub.u.subscribe.framework.framework_id = (char *)fw->id;
    if ((rc = msg_encode_alloc(&sub, &buf, &len)) != 0)
        return rc;
    rc = registry_put_framework(m->reg, &(struct registry_framework_row){
                                            .id = fw->id,
                                            .info = buf,
                                            .info_len = len,
                                            .registered_time = fw->registered_time,
                                        });
    free(buf);
    return rc;
}

/* The framework's roles for the allocator: "*" when it names none. */
static const char *const *
framework_alloc_roles(const struct framework *fw, size_t *n)
{
    static const char *const star[] = {"*"};

    if (fw->info.nroles == 0) {
        *n = 1;
        return star;
    }
    *n = fw->info.nroles;
    return (const char *const *)fw->info.roles;
}

static int
framework_add_to_allocator(struct master *m, struct framework *fw, bool active)
{
    size_t n;
    const char *const *roles = framework_alloc_roles(fw, &n);
    int rc = alloc_add_framework(m->alloc, fw->id, roles, n, NULL, 0);

    if (rc == 0 && !active)
        alloc_set_framework_active(m->alloc, fw->id, false);
    return rc;
}

/* A framework that subscribes again: its roles may change, its allocations
 * (running tasks) stay where they are. */
static int
framework_update_in_allocator(struct master *m, struct framework *fw)
{
    size_t n;
    const char *const *roles = framework_alloc_roles(fw, &n);
    int rc = alloc_update_framework_roles(m->alloc, fw->id, roles, n, NULL, 0);

    if (rc == -AG_ENOENT)
        return framework_add_to_allocator(m, fw, true);
    if (rc == 0)
        rc = alloc_set_framework_active(m->alloc, fw->id, true);
    return rc;
}

static void
handle_subscribe(struct master *m, struct peer *p, struct msg *msg)
{
    struct msg_framework_info *info = &msg->u.subscribe.framework;
    struct framework *fw;
    struct msg r;
    int rc;

    if (info->name[0] == '\0') {
        send_error(m, p->id, -AG_EINVAL, "SUBSCRIBE needs a framework name");
        return;
    }
    for (size_t i = 0; i < info->nroles; i++) {
        if (!res_role_valid(info->roles[i]) || strlen(info->roles[i]) >= RES_ROLE_MAX) {
            send_error(m, p->id, -AG_EINVAL, "invalid role '%s'", info->roles[i]);
            return;
        }
    }
    if (!isfinite(info->failover_timeout_s) || info->failover_timeout_s < 0) {
        send_error(m, p->id, -AG_EINVAL, "failover_timeout must be >= 0");
        return;
    }
    if (m->flags.authenticate && info->principal[0] && strcmp(info->principal, p->principal)) {
        send_error(m, p->id, -AG_EPERM, "principal '%s' differs from the authenticated one",
                   info->principal);
        return;
    }
    if (info->framework_id[0] != '\0') {
        if (!ids_valid(info->framework_id)) {
            send_error(m, p->id, -AG_EINVAL, "invalid framework id");
            return;
        }
        fw = framework_get(m, info->framework_id);
        if (fw == NULL || fw->state == FW_REMOVED) {
            send_error(m, p->id, -AG_ESTATE,
                       "framework %s has been removed (failover timeout passed or torn down)",
                       info->framework_id);
            return;
        }
        if (fw->peer && fw->peer != p->id) {
            struct peer *old = peer_get(m, fw->peer);
            send_error(m, fw->peer, -AG_ESTATE, "framework failed over to a new connection");
            if (old)
                old->kind = PEER_NEW;
            peer_close(m, fw->peer);
        }
        rescind_offers_where(m, fw->id, NULL, false);
        msg_framework_info_fini(&fw->info);
        if (msg_framework_info_copy(&fw->info, info) != 0)
            abort();
        fw->partition_aware = has_capability(info, "PARTITION_AWARE");
        fw->peer = p->id;
        fw->state = FW_ACTIVE;
        /* Its tasks keep their resources: only its roles and activity change. */
        if ((rc = framework_update_in_allocator(m, fw)) != 0)
            log_error("allocator refused the re-subscription of framework %s: %s", fw->id,
                      ag_strerror(rc));
        store_framework(m, fw);
        log_info("framework re-subscribed framework_id=%s name=%s", fw->id, fw->info.name);
    } else {
        char id[AG_ID_MAX];
        ids_format(id, sizeof(id), "%s-%04llu", m->id, (unsigned long long)++m->next_framework);
        fw = framework_new(id, info);
        fw->registered_time = m->now;
        fw->peer = p->id;
        fw->state = FW_ACTIVE;
        if ((rc = store_framework(m, fw)) != 0) {
            send_error(m, p->id, rc, "cannot admit the framework: registry write failed");
            framework_free(fw);
            return;
        }
        if ((rc = framework_add_to_allocator(m, fw, true)) != 0) {
            send_error(m, p->id, rc, "allocator refused the framework: %s", ag_strerror(rc));
            registry_remove_framework(m->reg, fw->id);
            framework_free(fw);
            return;
        }
        hmap_put(&m->frameworks, fw->id, fw);
        log_info("framework subscribed framework_id=%s name=%s", fw->id, fw->info.name);
    }
    p->kind = PEER_FRAMEWORK;
    snprintf(p->owner, sizeof(p->owner), "%s", fw->id);
    msg_init(&r, MSG_SUBSCRIBED);
    r.u.subscribed.framework_id = fw->id;
    r.u.subscribed.heartbeat_interval_s = 15;
    master_send(m, p->id, &r);
    schedule_allocation(m);
}

static void
framework_disconnected(struct master *m, struct framework *fw)
{
    fw->peer = 0;
    fw->state = FW_DISCONNECTED;
    fw->disconnected_time = m->now;
    fw->failover_deadline = m->now + fw->info.failover_timeout_s;
    rescind_offers_where(m, fw->id, NULL, false);
    alloc_set_framework_active(m->alloc, fw->id, false);
    log_info("framework disconnected framework_id=%s failover_timeout=%gs", fw->id,
             fw->info.failover_timeout_s);
}

/* Keeps a removed framework (emptied) in the bounded list of completed ones. */
static void
completed_framework_add(struct master *m, struct framework *fw)
{
    size_t max = m->flags.max_completed_frameworks > 0 ? (size_t)m->flags.max_completed_frameworks
                                                       : 0;

    if (max == 0) {
        framework_free(fw);
        return;
    }
    if (m->completed_fws == NULL)
        m->completed_fws = xcalloc(max, sizeof(*m->completed_fws));
    if (m->ncompleted_fws == max)
        framework_free(m->completed_fws[m->completed_fws_head]);
    else
        m->ncompleted_fws++;
    m->completed_fws[m->completed_fws_head] = fw;
    m->completed_fws_head = (m->completed_fws_head + 1) % max;
}

/*
 * Kills every task of a framework and forgets it. With `tell`, a connected
 * framework first hears a fatal ERROR. Agents that are not connected now miss
 * the SHUTDOWN_FRAMEWORK: when they re-register, the tasks of the framework
 * they still run are orphans and killed then (handle_agent_register).
 */
static void
framework_remove(struct master *m, struct framework *fw, const char *why, bool tell)
{
    size_t it = 0;
    const char *key;
    void *val;

    log_info("framework removed framework_id=%s reason=\"%s\"", fw->id, why);
    if (tell && fw->peer) {
        struct msg e;
        char text[512];
        snprintf(text, sizeof(text), "Framework removed: %s", why);
        msg_init(&e, MSG_ERROR);
        e.u.error.message = text;
        e.u.error.code = -AG_ESTATE;
        e.u.error.fatal = true;
        master_send(m, fw->peer, &e);
    }
    rescind_offers_where(m, fw->id, NULL, fw->peer != 0);
    /* Agents kill the tasks; their updates are acknowledged by the master. */
    while (hmap_next(&m->agents, &it, &key, &val)) {
        struct agent *a = val;
        struct msg s;
        if (a->peer == 0)
            continue;
        msg_init(&s, MSG_SHUTDOWN_FRAMEWORK);
        s.u.shutdown_framework.framework_id = fw->id;
        master_send(m, a->peer, &s);
    }
    it = 0;
    char **ids = NULL;
    size_t n = 0;
    while (hmap_next(&fw->tasks, &it, &key, &val)) {
        ids = realloc(ids, (n + 1) * sizeof(*ids));
        ids[n++] = strdup(key);
    }
    for (size_t i = 0; i < n; i++) {
        struct task *t = hmap_get(&fw->tasks, ids[i]);
        if (t) {
            if (!msg_task_state_terminal(t->state)) {
                t->state = MSG_TASK_KILLED;
                t->status.state = MSG_TASK_KILLED;
                acct_task_end(m->acct, m->now, t->framework_id, t->info.task_id,
                              "TASK_KILLED");
            }
            task_forget(m, t);
        }
        free(ids[i]);
    }
    free(ids);
    alloc_remove_framework(m->alloc, fw->id);
    fw->state = FW_REMOVED;
    registry_remove_framework(m->reg, fw->id);
    if (fw->peer) {
        struct peer *p = peer_get(m, fw->peer);
        if (p)
            p->kind = PEER_NEW;
    }
    hmap_del(&m->frameworks, fw->id);
    fw->peer = 0;
    fw->disconnected_time = m->now;
    completed_framework_add(m, fw);
    schedule_allocation(m);
}

/* ---- ACCEPT and friends ---- */


/* Reports TASK_ERROR for a task that never existed. */
static void
task_error(struct master *m, struct framework *fw, const struct msg_task_info *ti,
           const char *agent_id, const char *why)
{
    log_info("task refused framework_id=%s task_id=%.64s reason=\"%s\"", fw->id, ti->task_id,
             why);
    m->tasks_error++;
    if (ids_valid(ti->task_id)) {
        struct msg_task_info none = *ti;
        struct resources empty;
        res_init(&empty);
        none.resources = empty;
        none.framework_id = fw->id;
        none.agent_id = (char *)agent_id;
        record_task_start(m, &none, fw_role(fw));
        acct_task_end(m->acct, m->now, fw->id, ti->task_id, "TASK_ERROR");
    }
    send_untracked_status(m, fw, ti->task_id, agent_id, MSG_TASK_ERROR,
                          "REASON_TASK_INVALID", why);
}

static void
handle_accept(struct master *m, struct framework *fw, struct msg *msg)
{
    struct msg_accept *acc = &msg->u.accept;
    struct resources remaining;
    struct agent *a = NULL;
    char role[RES_ROLE_MAX] = "";
    char why[512];
    struct offer **used;
    size_t nused = 0;
    double refuse = acc->refuse_seconds;

    if (!isfinite(refuse) || refuse < 0)
        refuse = 5;
    res_init(&remaining);
    used = xcalloc(acc->noffer_ids + 1, sizeof(*used));
    for (size_t i = 0; i < acc->noffer_ids; i++) {
        struct offer *o = hmap_get(&m->offers, acc->offer_ids[i]);
        const char *bad = NULL;
        if (o == NULL)
            bad = "unknown or no longer valid offer";
        else if (strcmp(o->framework_id, fw->id) != 0)
            bad = "offer belongs to another framework";
        else if (a != NULL && strcmp(o->agent_id, a->id) != 0)
            bad = "offers of one ACCEPT must come from one agent";
        else if (role[0] && strcmp(o->role, role) != 0)
            bad = "offers of one ACCEPT must have one allocation role";
        if (bad) {
            snprintf(why, sizeof(why), "%s: %.64s", bad, acc->offer_ids[i]);
            log_info("accept refused framework_id=%s: %s", fw->id, why);
            /* Every task of the ACCEPT fails; valid offers in it are given back. */
            for (size_t j = 0; j < acc->noperations; j++)
                for (size_t k = 0; k < acc->operations[j].ntasks; k++)
                    send_untracked_status(m, fw, acc->operations[j].tasks[k].task_id,
                                          a ? a->id : "", MSG_TASK_DROPPED,
                                          "REASON_INVALID_OFFERS", why);
            for (size_t j = 0; j < nused; j++) {
                offer_rescind(m, used[j]->id, false, 0);
            }
            free(used);
            res_fini(&remaining);
            return;
        }
        a = agent_get(m, o->agent_id);
        snprintf(role, sizeof(role), "%s", o->role);
        used[nused++] = o;
        res_add(&remaining, &o->resources);
    }
    if (a == NULL || nused == 0) {
        for (size_t j = 0; j < acc->noperations; j++)
            for (size_t k = 0; k < acc->operations[j].ntasks; k++)
                send_untracked_status(m, fw, acc->operations[j].tasks[k].task_id, "",
                                      MSG_TASK_DROPPED, "REASON_INVALID_OFFERS",
                                      "ACCEPT names no offers");
        free(used);
        res_fini(&remaining);
        return;
    }
    /* The offers are used up; what is left returns to the allocator below. */
    for (size_t i = 0; i < nused; i++) {
        struct offer *o = offer_take(m, used[i]->id);
        offer_free(o);
    }
    free(used);

    size_t launched = 0;
    for (size_t j = 0; j < acc->noperations; j++) {
        struct msg_operation *op = &acc->operations[j];
        if (strcmp(op->type, "LAUNCH") == 0) {
            for (size_t k = 0; k < op->ntasks; k++) {
                struct msg_task_info *ti = &op->tasks[k];
                if (launched >= MAX_TASKS_PER_ACCEPT) {
                    task_error(m, fw, ti, a->id, "too many tasks in one ACCEPT");
                    continue;
                }
                if (validate_task(ti, hmap_get(&fw->tasks, ti->task_id) != NULL, &remaining, why,
                                  sizeof(why))) {
                    task_error(m, fw, ti, a->id, why);
                    continue;
                }
                struct task *t = xcalloc(1, sizeof(*t));
                task_key(t->key, sizeof(t->key), fw->id, ti->task_id);
                msg_task_info_init(&t->info);
                msg_task_status_init(&t->status);
                if (msg_task_info_copy(&t->info, ti) != 0)
                    abort();
                free(t->info.agent_id);
                free(t->info.framework_id);
                t->info.agent_id = strdup(a->id);
                t->info.framework_id = strdup(fw->id);
                snprintf(t->framework_id, sizeof(t->framework_id), "%s", fw->id);
                snprintf(t->agent_id, sizeof(t->agent_id), "%s", a->id);
                snprintf(t->role, sizeof(t->role), "%s", role);
                t->state = MSG_TASK_STAGING;
                t->status.task_id = strdup(ti->task_id);
                t->status.agent_id = strdup(a->id);
                t->status.framework_id = strdup(fw->id);
                t->status.state = MSG_TASK_STAGING;
                t->status.timestamp = m->now;
                t->acked = true;
                res_sub(&remaining, &ti->resources);
                hmap_put(&fw->tasks, t->info.task_id, t);
                hmap_put(&a->tasks, t->key, t);
                record_task_start(m, &t->info, role);

                struct msg run;
                msg_init(&run, MSG_RUN_TASK);
                run.u.run_task.framework = fw->info;
                run.u.run_task.task = t->info;
                master_send(m, a->peer, &run);
                m->tasks_launched++;
                launched++;
                log_debug("launching task %s on agent %s", t->key, a->id);
            }
        } else if (strcmp(op->type, "RESERVE") == 0 || strcmp(op->type, "UNRESERVE") == 0) {
            bool reserve = op->type[0] == 'R';
            struct resources from, to;
            const char *target = reserve ? role : "*";
            int rc;
            res_init(&from);
            res_init(&to);
            if (reserve && (strcmp(role, "*") == 0)) {
                log_info("RESERVE refused: offer was not allocated to a role");
                continue;
            }
            /* RESERVE takes unreserved resources; UNRESERVE takes reserved ones. */
            res_set_role(&from, &op->resources, reserve ? "*" : role);
            res_set_role(&to, &op->resources, target);
            if (!res_contains(&remaining, &from)) {
                log_info("%s refused framework_id=%s: resources not in the offers", op->type,
                         fw->id);
            } else if ((rc = alloc_update_allocation(m->alloc, fw->id, a->id, role, &from,
                                                     &to)) != 0) {
                log_info("%s refused framework_id=%s: %s", op->type, fw->id, ag_strerror(rc));
            } else {
                res_sub(&remaining, &from);
                res_add(&remaining, &to);
                res_sub(&a->total, &from);
                res_add(&a->total, &to);
                store_agent(m, a);
                acct_agent_capacity(m->acct, m->now, a->id, a->hostname, &a->total);
                log_info("%s applied agent_id=%s framework_id=%s role=%s", op->type, a->id,
                         fw->id, role);
            }
            res_fini(&from);
            res_fini(&to);
        } else {
            log_info("unknown operation '%.32s' from framework %s ignored", op->type, fw->id);
        }
    }
    if (!res_empty(&remaining)) {
        int rc = alloc_recover_resources(m->alloc, fw->id, a->id, role, &remaining, refuse,
                                         m->now);
        if (rc != 0)
            log_warn("cannot recover unused offer resources: %s", ag_strerror(rc));
    }
    res_fini(&remaining);
    schedule_allocation(m);
}

static void
handle_decline(struct master *m, struct framework *fw, struct msg *msg)
{
    double refuse = msg->u.decline.refuse_seconds;
    if (!isfinite(refuse) || refuse < 0)
        refuse = 5;
    for (size_t i = 0; i < msg->u.decline.noffer_ids; i++) {
        struct offer *o = hmap_get(&m->offers, msg->u.decline.offer_ids[i]);
        if (o == NULL || strcmp(o->framework_id, fw->id) != 0)
            continue;
        m->offers_declined++;
        offer_rescind(m, o->id, false, refuse);
    }
}

static void
handle_kill(struct master *m, struct framework *fw, struct msg *msg)
{
    struct task *t = hmap_get(&fw->tasks, msg->u.kill.task_id);
    struct agent *a;
    struct msg k;

    if (t == NULL) {
        send_untracked_status(m, fw, msg->u.kill.task_id, msg->u.kill.agent_id,
                              fw->partition_aware ? MSG_TASK_UNKNOWN : MSG_TASK_LOST,
                              "REASON_RECONCILIATION", "kill of an unknown task");
        return;
    }
    a = agent_get(m, t->agent_id);
    if (msg_task_state_terminal(t->state)) {
        task_forward_status(m, t);
        return;
    }
    if (a == NULL || a->peer == 0) {
        /* The agent will be told when it re-registers; meanwhile report where it stands. */
        task_forward_status(m, t);
        return;
    }
    msg_init(&k, MSG_KILL_TASK);
    k.u.kill_task.framework_id = fw->id;
    k.u.kill_task.task_id = t->info.task_id;
    k.u.kill_task.grace_ms = msg->u.kill.grace_ms;
    master_send(m, a->peer, &k);
}

static void
reconcile_one(struct master *m, struct framework *fw, struct task *t)
{
    struct msg u;
    msg_init(&u, MSG_STATUS_UPDATE);
    u.u.status_update.status = t->status;
    u.u.status_update.status.state = t->state;
    u.u.status_update.status.reason = "REASON_RECONCILIATION";
    u.u.status_update.status.uuid = "";
    master_send(m, fw->peer, &u);
}

static void
handle_reconcile(struct master *m, struct framework *fw, struct msg *msg)
{
    struct msg_reconcile *rc = &msg->u.reconcile;

    if (rc->ntasks == 0) {
        size_t it = 0;
        void *val;
        while (hmap_next(&fw->tasks, &it, NULL, &val))
            reconcile_one(m, fw, val);
        return;
    }
    for (size_t i = 0; i < rc->ntasks; i++) {
        struct task *t = hmap_get(&fw->tasks, rc->tasks[i].task_id);
        struct agent *a;
        if (t) {
            reconcile_one(m, fw, t);
            continue;
        }
        a = rc->tasks[i].agent_id[0] ? agent_get(m, rc->tasks[i].agent_id) : NULL;
        if (a && a->state == AGENT_RECOVERED) {
            /* The agent may still come back with it: no answer until it re-registers or
             * its deadline passes, as Mesos drops reconciliation on transitional agents.
             * The framework retries; an answer now (TASK_UNKNOWN) would make it give up
             * on a task that is running. */
            continue;
        }
        if (a && a->state == AGENT_UNREACHABLE) {
            send_untracked_status(m, fw, rc->tasks[i].task_id, a->id,
                                  fw->partition_aware ? MSG_TASK_UNREACHABLE : MSG_TASK_LOST,
                                  "REASON_RECONCILIATION", "agent unreachable");
            continue;
        }
        if (a == NULL) {
            /* No such agent (or none given): nobody knows, as Mesos answers. */
            send_untracked_status(m, fw, rc->tasks[i].task_id, rc->tasks[i].agent_id,
                                  fw->partition_aware ? MSG_TASK_UNKNOWN : MSG_TASK_LOST,
                                  "REASON_RECONCILIATION", "task and agent unknown");
            continue;
        }
        send_untracked_status(m, fw, rc->tasks[i].task_id, rc->tasks[i].agent_id,
                              fw->partition_aware ? MSG_TASK_GONE : MSG_TASK_LOST,
                              "REASON_RECONCILIATION", "task unknown");
    }
}

static void
handle_status_ack(struct master *m, struct framework *fw, struct msg *msg)
{
    struct msg_status_ack *ack = &msg->u.status_ack;
    struct task *t = hmap_get(&fw->tasks, ack->task_id);
    struct agent *a;
    struct msg fwd;

    if (t == NULL)
        return;
    a = agent_get(m, t->agent_id);
    if (a && a->peer) {
        msg_init(&fwd, MSG_STATUS_ACK);
        fwd.u.status_ack = *ack;
        fwd.u.status_ack.agent_id = a->id;
        fwd.u.status_ack.framework_id = fw->id;
        master_send(m, a->peer, &fwd);
    }
    if (strcmp(t->status.uuid ? t->status.uuid : "", ack->uuid) == 0) {
        t->acked = true;
        if (msg_task_state_terminal(t->state))
            task_forget(m, t);
    }
}

static void
handle_roles_change(struct master *m, struct framework *fw, struct msg *msg, bool revive)
{
    struct msg_revive *r = revive ? &msg->u.revive : (struct msg_revive *)&msg->u.suppress;
    const char *const *roles = (const char *const *)r->roles;
    size_t n = r->nroles;

    if (n == 0) {
        roles = (const char *const *)fw->info.roles;
        n = fw->info.nroles;
    }
    if (n == 0) {
        static const char *star[] = {"*"};
        roles = star;
        n = 1;
    }
    if (revive)
        alloc_revive(m->alloc, fw->id, roles, n);
    else
        alloc_suppress(m->alloc, fw->id, roles, n);
    schedule_allocation(m);
}

static void
handle_framework_message(struct master *m, struct peer *p, struct msg *msg)
{
    struct msg_framework_message *fm = &msg->u.framework_message;
    if (p->kind == PEER_FRAMEWORK) {
        struct agent *a = agent_get(m, fm->agent_id);
        if (a && a->peer) {
            free(fm->framework_id);
            fm->framework_id = strdup(p->owner);
            master_send(m, a->peer, msg);
        }
    } else {
        struct framework *fw = framework_get(m, fm->framework_id);
        if (fw && fw->peer)
            master_send(m, fw->peer, msg);
    }
}

/* ---- authentication ---- */



/* ---- dispatch ---- */

static void
on_tp_connect(void *arg, uint32_t id)
{
    struct master *m = arg;
    struct peer *p = xcalloc(1, sizeof(*p));
    char key[16];

    touch(m);
    p->id = id;
    p->kind = PEER_NEW;
    snprintf(key, sizeof(key), "%u", id);
    hmap_put(&m->peers, key, p);
}

static void
on_tp_disconnect(void *arg, uint32_t id)
{
    struct master *m = arg;
    char key[16];
    struct peer *p;

    touch(m);
    snprintf(key, sizeof(key), "%u", id);
    p = hmap_del(&m->peers, key);
    if (p == NULL)
        return;
    if (p->kind == PEER_AGENT) {
        struct agent *a = agent_get(m, p->owner);
        if (a && a->peer == id) {
            log_info("agent disconnected agent_id=%s; waiting for it to come back", a->id);
            a->peer = 0;
            rescind_offers_where(m, NULL, a->id, true);
            alloc_set_agent_active(m->alloc, a->id, false);
        }
    } else if (p->kind == PEER_FRAMEWORK) {
        struct framework *fw = framework_get(m, p->owner);
        if (fw && fw->peer == id)
            framework_disconnected(m, fw);
    }
    free(p);
}

static void
on_tp_message(void *arg, uint32_t id, const void *data, size_t len)
{
    struct master *m = arg;
    struct peer *p = peer_get(m, id);
    struct msg msg;
    char err[256];
    int rc;

    touch(m);
    m->msgs_in++;
    if (p == NULL)
        return;
    rc = msg_decode(&msg, data, len, err, sizeof(err));
    if (rc != 0) {
        m->msgs_invalid++;
        log_warn("undecodable message from peer=%u (%s): %s", id, p->owner, err);
        send_error(m, id, rc, "undecodable message: %s", err);
        return;
    }
    if (m->flags.authenticate && !p->authenticated && msg.type != MSG_AUTH_START &&
        msg.type != MSG_AUTH_RESPONSE) {
        log_warn("refusing %s from unauthenticated peer=%u", msg_type_name(msg.type), id);
        send_error(m, id, -AG_EPERM,
                   "authentication required: this master runs with --credentials");
        peer_close(m, id);
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
            send_error(m, id, -AG_ESTATE, "a framework connection cannot register an agent");
        else
            handle_agent_register(m, p, &msg);
        break;
    case MSG_SUBSCRIBE:
        if (p->kind == PEER_AGENT)
            send_error(m, id, -AG_ESTATE, "an agent connection cannot subscribe");
        else
            handle_subscribe(m, p, &msg);
        break;
    case MSG_PONG:
        if (p->kind == PEER_AGENT)
            handle_pong(m, p, &msg);
        break;
    case MSG_STATUS_UPDATE:
        if (p->kind == PEER_AGENT)
            handle_status_update(m, p, &msg);
        else
            send_error(m, id, -AG_ESTATE, "STATUS_UPDATE is for registered agents");
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
        if (p->kind != PEER_NEW)
            handle_framework_message(m, p, &msg);
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
            p->kind == PEER_FRAMEWORK ? framework_get(m, p->owner) : NULL;
        if (fw == NULL || fw->peer != id) {
            send_error(m, id, -AG_ESTATE, "%s needs a subscribed framework",
                       msg_type_name(msg.type));
            break;
        }
        switch (msg.type) {
        case MSG_ACCEPT:
            handle_accept(m, fw, &msg);
            break;
        case MSG_DECLINE:
            handle_decline(m, fw, &msg);
            break;
        case MSG_REVIVE:
            handle_roles_change(m, fw, &msg, true);
            break;
        case MSG_SUPPRESS:
            handle_roles_change(m, fw, &msg, false);
            break;
        case MSG_KILL:
            handle_kill(m, fw, &msg);
            break;
        case MSG_RECONCILE:
            handle_reconcile(m, fw, &msg);
            break;
        case MSG_TEARDOWN:
            framework_remove(m, fw, "teardown requested by the framework", false);
            break;
        default:
            handle_status_ack(m, fw, &msg);
            break;
        }
        break;
    }
    default:
        m->msgs_invalid++;
        send_error(m, id, -AG_EPROTO, "unexpected message %s", msg_type_name(msg.type));
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

    touch(m);
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
                todo = realloc(todo, (n + 1) * sizeof(*todo));
                todo[n++] = strdup(a->id);
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
            struct agent *a = agent_get(m, todo[i]);
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
            todo = realloc(todo, (n + 1) * sizeof(*todo));
            todo[n++] = strdup(a->id);
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct agent *a = agent_get(m, todo[i]);
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
            todo = realloc(todo, (n + 1) * sizeof(*todo));
            todo[n++] = strdup(fw->id);
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct framework *fw = framework_get(m, todo[i]);
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
            todo = realloc(todo, (n + 1) * sizeof(*todo));
            todo[n++] = strdup(o->id);
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
        run_allocation(m, true);
    }
}

/* ---- start and stop ---- */

static void
on_signal(uv_signal_t *h, int signum)
{
    struct master *m = h->data;
    log_info("received signal %d, shutting down", signum);
    master_stop(m);
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
     * (agent_add_to_allocator). */
    framework_add_to_allocator(m, fw, false);
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

int
master_start(struct master *m, uv_loop_t *loop, struct master_flags *flags)
{
    struct alloc_config cfg = {0};
    char err[512];
    int rc;

    m->loop = loop;
    m->flags = *flags;
    touch(m);
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
    if ((rc = registry_sqlite_open(&m->reg, flags->work_dir)) != 0)
        return rc;
    if (flags->accounting_db && flags->accounting_db[0])
        snprintf(m->acct_path, sizeof(m->acct_path), "%s", flags->accounting_db);
    else
        snprintf(m->acct_path, sizeof(m->acct_path), "%s/accounting.db", flags->work_dir);
    if ((rc = acct_open(&m->acct, m->acct_path, flags->accounting_raw_retention_ms, err,
                        sizeof(err))) != 0) {
        log_error("cannot open the accounting database: %s", err);
        return rc;
    }
    if ((rc = registry_load(m->reg, load_agent, load_framework, m)) != 0)
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
    return 0;
}

void
master_start_timers(struct master *m)
{
    uv_idle_init(m->loop, &m->alloc_idle);
    m->alloc_idle.data = m;
    uv_timer_init(m->loop, &m->tick);
    m->tick.data = m;
    uv_timer_start(&m->tick, on_tick, 100, 100);
    uv_signal_init(m->loop, &m->sigint);
    uv_signal_init(m->loop, &m->sigterm);
    m->sigint.data = m->sigterm.data = m;
    uv_signal_start(&m->sigint, on_signal, SIGINT);
    uv_signal_start(&m->sigterm, on_signal, SIGTERM);
    m->handles_open = true;
}

int
master_listen(struct master *m)
{
    char url[512];
    int rc;

    snprintf(url, sizeof(url), "ws://%s:%d/agora/v1/stream", m->flags.ip, (int)m->flags.port);
    if ((rc = tp_server_open(&m->tp, m->loop, url, &master_tp_ops, m)) != 0) {
        log_error("cannot listen on %s: %s", url, ag_strerror(rc));
        return rc;
    }
    master_start_timers(m);
    log_info("master started master_id=%s listening=%s:%d", m->id, m->flags.ip,
             (int)m->flags.port);
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
        uv_close((uv_handle_t *)&m->sigint, NULL);
        uv_close((uv_handle_t *)&m->sigterm, NULL);
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
    alloc_destroy(m->alloc);
    acct_close(m->acct);
    metrics_free(m->metrics);
    registry_close(m->reg);
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

    touch(m);
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
    m->books_checks++;
    m->books_problems += problems;
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
    struct agent *a = agent_get(m, agent_id);
    struct resources from;
    int rc;

    touch(m);
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
    store_agent(m, a);
    log_info("agent %s resources %s by an operator agent_id=%s", a->id,
             reserve ? "reserved" : "unreserved", a->id);
    schedule_full_allocation(m);
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

int
master_set_quota(struct master *m, const char *role, const struct resources *guarantee,
                 const struct resources *limit)
{
    int rc;

    touch(m);
    if ((rc = alloc_set_quota(m->alloc, role, guarantee, limit)) != 0)
        return rc;
    log_info("quota of role %s set by an operator", role);
    schedule_allocation(m);
    return 0;
}

int
master_set_weight(struct master *m, const char *role, double weight)
{
    int rc;

    touch(m);
    if ((rc = alloc_set_weight(m->alloc, role, weight)) != 0)
        return rc;
    log_info("weight of role %s set to %g by an operator", role, weight);
    schedule_full_allocation(m);
    return 0;
}

int
master_teardown(struct master *m, const char *framework_id, const char *why)
{
    struct framework *fw = framework_get(m, framework_id);

    touch(m);
    if (fw == NULL || fw->state == FW_REMOVED)
        return -AG_ENOENT;
    framework_remove(m, fw, why, true);
    schedule_allocation(m);
    return 0;
}

int
master_drain_agent(struct master *m, const char *agent_id, bool on)
{
    struct agent *a = agent_get(m, agent_id);

    touch(m);
    if (a == NULL)
        return -AG_ENOENT;
    if (a->draining == on)
        return 0;
    a->draining = on;
    /* 0, or -AG_ENOENT when the agent is not in the allocator (yet): it is
     * marked draining when it is added (agent_add_to_allocator). */
    alloc_set_agent_draining(m->alloc, a->id, on);
    if (on)
        rescind_offers_where(m, NULL, a->id, true);
    log_info("agent %s %s by an operator agent_id=%s", a->id,
             on ? "drained" : "no longer drained", a->id);
    schedule_full_allocation(m);
    return 0;
}
