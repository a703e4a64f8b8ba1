/*
 * The master's side of the allocator: scheduling and running allocation
 * passes (offers are made here), and adding agents and frameworks to the
 * allocator (overcommitted agents included).
 * Runs on the loop thread; see docs/architecture.md for who calls whom.
 */
#include "master_int.h"

#include "allocator.h"
#include "error.h"
#include "ids.h"
#include "log.h"
#include "xalloc.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The OFFERS messages of one allocation pass, one per framework. */
struct offer_batch {
    struct master *m;
    struct hmap per_fw; /* framework id -> struct msg* (OFFERS) */
};

static void allocation_shrink_overcommit(struct master *m, struct agent *a);

static void
allocation_emit_offer(void *arg, const char *framework_id, const char *agent_id, const char *role,
           const struct resources *offered)
{
    struct offer_batch *b = arg;
    struct master *m = b->m;
    struct framework *fw = core_framework(m, framework_id);
    struct agent *a = core_agent(m, agent_id);
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
    ofs->offers = xrealloc(ofs->offers, (ofs->noffers + 1) * sizeof(*ofs->offers));
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
    metrics_inc(m->ctr.offers_sent);
}

void
allocation_run(struct master *m, bool full)
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
                allocation_shrink_overcommit(m, aval);
    }
    hmap_init(&b.per_fw);
    if (full)
        rc = alloc_run(m->alloc, m->now, NULL, 0, allocation_emit_offer, &b);
    else
        rc = alloc_run_pending(m->alloc, m->now, allocation_emit_offer, &b);
    if (rc < 0)
        log_warn("allocation failed: %s", ag_strerror(rc));
    metrics_inc(m->ctr.alloc_runs);
    m->alloc_last_ms = (uv_hrtime() - t0) / 1e6;
    if (m->alloc_last_ms > m->alloc_max_ms)
        m->alloc_max_ms = m->alloc_last_ms;
    while (hmap_next(&b.per_fw, &it, &key, &val)) {
        struct msg *msg = val;
        struct framework *fw = core_framework(m, key);
        if (fw)
            master_send(m, fw->peer, msg);
        free(msg->u.offers.offers);
        free(msg);
    }
    hmap_fini(&b.per_fw);
}

static void
allocation_on_idle(uv_idle_t *h)
{
    struct master *m = h->data;

    uv_idle_stop(h);
    m->alloc_pending = false;
    core_touch(m);
    if (m->alloc_full) {
        m->alloc_full = false;
        allocation_run(m, true);
    } else if (alloc_pending(m->alloc)) {
        allocation_run(m, false);
    }
}

/* Allocation for whatever became pending runs once, at the end of this loop turn. */
void
allocation_schedule(struct master *m)
{
    if (m->alloc_pending || m->stopping)
        return;
    m->alloc_pending = true;
    uv_idle_start(&m->alloc_idle, allocation_on_idle);
}

/* An allocation over every agent at the end of this loop turn: after an
 * operator's change (reservation, weight, drain) that no agent is pending for. */
void
allocation_schedule_full(struct master *m)
{
    if (m->stopping)
        return;
    m->alloc_full = true;
    allocation_schedule(m);
}

/* Raises `total` so that it holds `used`: each scalar of `used` above the same
 * name and role in `total` is added; ranges and sets are merged in. */
static void
allocation_raise_to(struct resources *total, const struct resources *used)
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
allocation_set_overcommitted(struct master *m, struct agent *a, bool on)
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
void
allocation_agent_left(struct master *m, struct agent *a)
{
    allocation_set_overcommitted(m, a, false);
    a->alloc_error[0] = '\0';
}

/*
 * Builds the allocator's view of what is in use on an agent (its booked tasks)
 * and adds it. Tasks holding more than the agent's total (it was double-booked
 * earlier, or it came back smaller) cannot be refused: they run. The agent is
 * then admitted with its total raised to what is in use, so nothing of what is
 * over is offered, and shrunk back as tasks end (allocation_shrink_overcommit).
 * That is an error for the operator: logged, counted and shown in /agents.
 */
int
allocation_add_agent(struct master *m, struct agent *a)
{
    struct alloc_used *used = NULL;
    struct resources sum;
    size_t n = 0, it = 0;
    void *val;
    int rc;

    allocation_agent_left(m, a);
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
        allocation_raise_to(&raised, &sum);
        rc = alloc_add_agent(m->alloc, a->id, &raised, used, n);
        res_format(&sum, in_use, sizeof(in_use));
        res_format(&a->total, total, sizeof(total));
        if (rc == 0) {
            allocation_set_overcommitted(m, a, true);
            metrics_inc(m->ctr.agents_overcommitted);
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
        metrics_inc(m->ctr.agents_refused);
        log_error("allocator refused agent %s (%s): %s; it gets no offers", a->id, a->hostname,
                  ag_strerror(rc));
    }
    if (rc == 0 && a->draining)
        alloc_set_agent_draining(m->alloc, a->id, true);
    allocation_schedule(m);
    return rc;
}

/* An overcommitted agent: lowers its total in the allocator to its real total
 * raised to what is still allocated on it (tasks that ended free nothing until
 * the agent is back within its total). */
static void
allocation_shrink_overcommit(struct master *m, struct agent *a)
{
    const struct resources *total, *avail;
    struct resources used, raised;
    bool same, done;
    int rc;

    if (alloc_agent_resources(m->alloc, a->id, &total, &avail) != 0) {
        allocation_agent_left(m, a);
        return;
    }
    res_init(&used);
    res_init(&raised);
    if (res_copy(&used, total) != 0 || res_sub(&used, avail) != 0 ||
        res_copy(&raised, &a->total) != 0)
        abort();
    allocation_raise_to(&raised, &used);
    same = res_equal(&raised, total);
    done = res_equal(&raised, &a->total);
    if (!same && (rc = alloc_update_agent_total(m->alloc, a->id, &raised)) != 0)
        log_error("cannot lower the total of overcommitted agent %s: %s", a->id,
                  ag_strerror(rc));
    else if (done) {
        allocation_set_overcommitted(m, a, false);
        log_info("agent %s is within its total again; all of it is offered", a->id);
    }
    res_fini(&used);
    res_fini(&raised);
}

/* The framework's roles for the allocator: "*" when it names none. */
static const char *const *
allocation_framework_roles(const struct framework *fw, size_t *n)
{
    static const char *const star[] = {"*"};

    if (fw->info.nroles == 0) {
        *n = 1;
        return star;
    }
    *n = fw->info.nroles;
    return (const char *const *)fw->info.roles;
}

int
allocation_add_framework(struct master *m, struct framework *fw, bool active)
{
    size_t n;
    const char *const *roles = allocation_framework_roles(fw, &n);
    int rc = alloc_add_framework(m->alloc, fw->id, roles, n, NULL, 0);

    if (rc == 0 && !active)
        alloc_set_framework_active(m->alloc, fw->id, false);
    return rc;
}

/* A framework that subscribes again: its roles may change, its allocations
 * (running tasks) stay where they are. */
int
allocation_update_framework(struct master *m, struct framework *fw)
{
    size_t n;
    const char *const *roles = allocation_framework_roles(fw, &n);
    int rc = alloc_update_framework_roles(m->alloc, fw->id, roles, n, NULL, 0);

    if (rc == -AG_ENOENT)
        return allocation_add_framework(m, fw, true);
    if (rc == 0)
        rc = alloc_set_framework_active(m->alloc, fw->id, true);
    return rc;
}
