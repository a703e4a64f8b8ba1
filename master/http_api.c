/*
 * The master's operator HTTP API (JSON, Mesos field names). Handlers run on
 * the loop thread; every answer is built from in-memory state without I/O.
 */
#include "master.h"

#include "allocator.h"
#include "recorder.h"
#include "assets.h"
#include "report.h"
#include "error.h"
#include "flags.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "task_json.h"
#include "transport.h"

#include <jansson.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The dashboard, generated from master/webui/ at build time (master/CMakeLists.txt). */
extern const struct asset master_webui[];
extern const size_t master_webui_count;

static const char *
agent_state_name(enum agent_state s)
{
    switch (s) {
    case AGENT_ACTIVE:
        return "ACTIVE";
    case AGENT_UNREACHABLE:
        return "UNREACHABLE";
    case AGENT_RECOVERED:
        return "RECOVERED";
    default:
        return "REMOVED";
    }
}

/* The Mesos task JSON (task_json.h); `st` is the latest status, if any. */
static json_t *
task_json(const struct msg_task_info *info, const struct msg_task_status *st,
          enum msg_task_state state, const char *framework_id, const char *agent_id)
{
    return task_json_new(info, st->task_id && st->task_id[0] ? st : NULL, state, framework_id,
                         agent_id);
}

static json_t *
live_task_json(const struct task *t)
{
    return task_json(&t->info, &t->status, t->state, t->framework_id, t->agent_id);
}

/* Sums the resources of an agent's non-terminal tasks. */
static void
agent_used(const struct agent *a, struct resources *used)
{
    size_t it = 0;
    void *val;
    while (hmap_next(&a->tasks, &it, NULL, &val)) {
        const struct task *t = val;
        if (!msg_task_state_terminal(t->state) && t->state != MSG_TASK_UNREACHABLE)
            res_add(used, &t->info.resources);
    }
}

static void
agent_offered(const struct master *m, const char *agent_id, const char *fwid,
              struct resources *out)
{
    size_t it = 0;
    void *val;
    while (hmap_next(&m->offers, &it, NULL, &val)) {
        const struct offer *o = val;
        if ((agent_id == NULL || strcmp(o->agent_id, agent_id) == 0) &&
            (fwid == NULL || strcmp(o->framework_id, fwid) == 0))
            res_add(out, &o->resources);
    }
}

static json_t *
agent_json(const struct master *m, const struct agent *a)
{
    struct resources used, offered, reserved, unreserved;
    json_t *o;

    res_init(&used);
    res_init(&offered);
    res_init(&reserved);
    res_init(&unreserved);
    agent_used(a, &used);
    agent_offered(m, a->id, NULL, &offered);
    res_filter_role(&unreserved, &a->total, "*");
    res_copy(&reserved, &a->total);
    res_sub(&reserved, &unreserved);
    o = json_object();
    json_object_set_new(o, "id", json_string(a->id));
    json_object_set_new(o, "hostname", json_string(a->hostname));
    json_object_set_new(o, "pid", json_sprintf("slave(1)@%s", a->http_address));
    json_object_set_new(o, "http_address", json_string(a->http_address));
    json_object_set_new(o, "registered_time", json_real(a->registered_time));
    if (a->reregistered_time > 0)
        json_object_set_new(o, "reregistered_time", json_real(a->reregistered_time));
    json_object_set_new(o, "resources", res_to_json(&a->total));
    json_object_set_new(o, "used_resources", res_to_json(&used));
    json_object_set_new(o, "offered_resources", res_to_json(&offered));
    json_object_set_new(o, "reserved_resources", res_to_json(&reserved));
    json_object_set_new(o, "unreserved_resources", res_to_json(&unreserved));
    char *text = res_to_string(&a->total);
    json_object_set_new(o, "resources_text", json_string(text ? text : ""));
    free(text);
    json_object_set_new(o, "attributes", attr_to_json(&a->attributes));
    json_object_set_new(o, "active", json_boolean(a->state == AGENT_ACTIVE && a->peer != 0));
    json_object_set_new(o, "state", json_string(agent_state_name(a->state)));
    json_object_set_new(o, "draining", json_boolean(a->draining));
    /* OK, OVERCOMMITTED (its tasks hold more than its total: what is over is not
     * offered) or REFUSED (not in the allocator: no offers; see allocator_error). */
    json_object_set_new(o, "allocator_state",
                        json_string(a->alloc_error[0] ? "REFUSED"
                                    : a->overcommitted ? "OVERCOMMITTED"
                                                       : "OK"));
    if (a->alloc_error[0])
        json_object_set_new(o, "allocator_error", json_string(a->alloc_error));
    json_object_set_new(o, "version", json_string(a->version));
    json_object_set_new(o, "task_count", json_integer((json_int_t)hmap_size(&a->tasks)));
    res_fini(&used);
    res_fini(&offered);
    res_fini(&reserved);
    res_fini(&unreserved);
    return o;
}

static json_t *
framework_json(const struct master *m, const struct framework *fw, bool with_tasks)
{
    struct resources used, offered;
    json_t *o = json_object(), *roles = json_array(), *tasks = json_array(),
           *offers = json_array();
    size_t it = 0;
    void *val;

    res_init(&used);
    res_init(&offered);
    for (size_t i = 0; i < fw->info.nroles; i++)
        json_array_append_new(roles, json_string(fw->info.roles[i]));
    while (hmap_next(&fw->tasks, &it, NULL, &val)) {
        const struct task *t = val;
        if (!msg_task_state_terminal(t->state) && t->state != MSG_TASK_UNREACHABLE)
            res_add(&used, &t->info.resources);
        if (with_tasks)
            json_array_append_new(tasks, live_task_json(t));
    }
    it = 0;
    while (hmap_next(&fw->offers, &it, NULL, &val)) {
        const struct offer *of = val;
        res_add(&offered, &of->resources);
        if (with_tasks)
            json_array_append_new(offers,
                                  json_pack("{s:s, s:s, s:s, s:o}", "id", of->id, "framework_id",
                                            of->framework_id, "slave_id", of->agent_id,
                                            "resources", res_to_json(&of->resources)));
    }
    json_object_set_new(o, "id", json_string(fw->id));
    json_object_set_new(o, "name", json_string(fw->info.name));
    json_object_set_new(o, "user", json_string(fw->info.user));
    json_object_set_new(o, "principal", json_string(fw->info.principal));
    json_object_set_new(o, "hostname", json_string(fw->info.hostname));
    json_object_set_new(o, "webui_url", json_string(fw->info.webui_url));
    json_object_set_new(o, "roles", roles);
    json_object_set_new(o, "role", json_string(fw->info.nroles ? fw->info.roles[0] : "*"));
    json_object_set_new(o, "active", json_boolean(fw->state == FW_ACTIVE));
    json_object_set_new(o, "connected", json_boolean(fw->peer != 0));
    json_object_set_new(o, "checkpoint", json_boolean(fw->info.checkpoint));
    json_object_set_new(o, "failover_timeout", json_real(fw->info.failover_timeout_s));
    json_object_set_new(o, "registered_time", json_real(fw->registered_time));
    if (fw->state == FW_DISCONNECTED || fw->state == FW_REMOVED)
        json_object_set_new(o, "unregistered_time", json_real(fw->disconnected_time));
    json_object_set_new(o, "resources", res_to_json(&used));
    json_object_set_new(o, "used_resources", res_to_json(&used));
    json_object_set_new(o, "offered_resources", res_to_json(&offered));
    json_object_set_new(o, "task_count", json_integer((json_int_t)hmap_size(&fw->tasks)));
    if (with_tasks) {
        json_t *completed = json_array();
        for (size_t i = 0; i < m->ncompleted; i++) {
            const struct completed_task *c = &m->completed[i];
            if (strcmp(c->framework_id, fw->id) == 0)
                json_array_append_new(completed,
                                      task_json(&c->info, &c->status, c->status.state,
                                                c->framework_id, c->info.agent_id));
        }
        json_object_set_new(o, "tasks", tasks);
        json_object_set_new(o, "completed_tasks", completed);
        json_object_set_new(o, "offers", offers);
    } else {
        json_decref(tasks);
        json_decref(offers);
    }
    res_fini(&used);
    res_fini(&offered);
    return o;
}

static json_t *
agents_json(const struct master *m)
{
    json_t *arr = json_array();
    size_t it = 0;
    void *val;
    while (hmap_next(&m->agents, &it, NULL, &val))
        json_array_append_new(arr, agent_json(m, val));
    return arr;
}

static json_t *
frameworks_json(const struct master *m, bool with_tasks)
{
    json_t *arr = json_array();
    size_t it = 0;
    void *val;
    while (hmap_next(&m->frameworks, &it, NULL, &val))
        json_array_append_new(arr, framework_json(m, val, with_tasks));
    return arr;
}

/* Removed frameworks, newest last (at most --max_completed_frameworks). */
static json_t *
completed_frameworks_json(const struct master *m, bool with_tasks)
{
    json_t *arr = json_array();
    size_t max = (size_t)m->flags.max_completed_frameworks;
    size_t first = m->ncompleted_fws < max ? 0 : m->completed_fws_head;

    for (size_t i = 0; i < m->ncompleted_fws; i++)
        json_array_append_new(arr,
                              framework_json(m, m->completed_fws[(first + i) % max], with_tasks));
    return arr;
}

static void
counts(const struct master *m, size_t *active, size_t *inactive)
{
    size_t it = 0;
    void *val;
    *active = *inactive = 0;
    while (hmap_next(&m->agents, &it, NULL, &val)) {
        const struct agent *a = val;
        if (a->state == AGENT_ACTIVE && a->peer)
            (*active)++;
        else
            (*inactive)++;
    }
}

static json_t *
state_common(struct master *m)
{
    size_t active, inactive;
    json_t *o = json_object();
    char hostname[256] = "";

    gethostname(hostname, sizeof(hostname) - 1);
    counts(m, &active, &inactive);
    json_object_set_new(o, "version", json_string(AGORA_VERSION));
    json_object_set_new(o, "id", json_string(m->id));
    json_object_set_new(o, "hostname", json_string(hostname));
    json_object_set_new(o, "pid", json_sprintf("master@%s:%d", m->flags.ip, (int)m->flags.port));
    json_object_set_new(o, "start_time", json_real(m->start_time));
    json_object_set_new(o, "elected_time", json_real(m->start_time));
    json_object_set_new(o, "activated_slaves", json_integer((json_int_t)active));
    json_object_set_new(o, "deactivated_slaves", json_integer((json_int_t)inactive));
    return o;
}

/* Tasks of removed frameworks that agents still ran when they re-registered:
 * being killed, booked until they end. */
static json_t *
orphan_tasks_json(const struct master *m)
{
    json_t *arr = json_array();
    size_t it = 0;
    void *val;

    while (hmap_next(&m->agents, &it, NULL, &val)) {
        const struct agent *a = val;
        size_t jt = 0;
        void *tv;
        while (hmap_next(&a->tasks, &jt, NULL, &tv))
            if (((const struct task *)tv)->orphan)
                json_array_append_new(arr, live_task_json(tv));
    }
    return arr;
}

static void
h_state(void *arg, struct http_req *req)
{
    struct master *m = arg;
    json_t *o = state_common(m);

    json_object_set_new(o, "leader_info", json_pack("{s:s, s:I}", "hostname", m->flags.ip,
                                                     "port", (json_int_t)m->flags.port));
    json_object_set_new(o, "flags", flags_to_json(m->flag_table));
    json_object_set_new(o, "slaves", agents_json(m));
    json_object_set_new(o, "frameworks", frameworks_json(m, true));
    json_object_set_new(o, "completed_frameworks", completed_frameworks_json(m, true));
    json_object_set_new(o, "orphan_tasks", orphan_tasks_json(m));
    json_object_set_new(o, "unregistered_frameworks", json_array());
    http_reply_json(req, 200, o);
}

static void
h_state_summary(void *arg, struct http_req *req)
{
    struct master *m = arg;
    json_t *o = state_common(m);
    json_object_set_new(o, "slaves", agents_json(m));
    json_object_set_new(o, "frameworks", frameworks_json(m, false));
    http_reply_json(req, 200, o);
}

static void
h_slaves(void *arg, struct http_req *req)
{
    struct master *m = arg;
    const char *key = strcmp(http_req_path(req), "/agents") == 0 ? "agents" : "slaves";
    http_reply_json(req, 200, json_pack("{s:o}", key, agents_json(m)));
}

static void
h_frameworks(void *arg, struct http_req *req)
{
    struct master *m = arg;
    http_reply_json(req, 200, json_pack("{s:o, s:o}", "frameworks", frameworks_json(m, true),
                                        "completed_frameworks",
                                        completed_frameworks_json(m, true)));
}

static void
h_tasks(void *arg, struct http_req *req)
{
    struct master *m = arg;
    json_t *arr = json_array();
    const char *fwid = http_req_query(req, "framework_id");
    const char *state = http_req_query(req, "state");
    size_t it = 0;
    void *val;

    while (hmap_next(&m->frameworks, &it, NULL, &val)) {
        const struct framework *fw = val;
        size_t jt = 0;
        void *tv;
        if (fwid && strcmp(fwid, fw->id) != 0)
            continue;
        while (hmap_next(&fw->tasks, &jt, NULL, &tv)) {
            const struct task *t = tv;
            if (state && strcmp(state, msg_task_state_name(t->state)) != 0)
                continue;
            json_array_append_new(arr, live_task_json(t));
        }
    }
    for (size_t i = 0; i < m->ncompleted; i++) {
        const struct completed_task *c = &m->completed[i];
        if (fwid && strcmp(fwid, c->framework_id) != 0)
            continue;
        if (state && strcmp(state, msg_task_state_name(c->status.state)) != 0)
            continue;
        json_array_append_new(arr, task_json(&c->info, &c->status, c->status.state,
                                             c->framework_id, c->info.agent_id));
    }
    http_reply_json(req, 200, json_pack("{s:o}", "tasks", arr));
}

struct roles_ctx {
    json_t *arr;
};

static void
role_cb(void *arg, const struct alloc_role_info *info)
{
    struct roles_ctx *c = arg;
    json_t *fws = json_array();
    json_t *o;
    for (size_t i = 0; i < info->nframeworks; i++)
        json_array_append_new(fws, json_string(info->frameworks[i]));
    o = json_pack("{s:s, s:f, s:o, s:o}", "name", info->role, "weight", info->weight,
                  "frameworks", fws, "resources",
                  info->allocated ? res_to_json(info->allocated) : json_object());
    json_object_set_new(o, "allocated", info->allocated ? res_to_json(info->allocated) : json_object());
    json_object_set_new(o, "reserved", info->reserved ? res_to_json(info->reserved) : json_object());
    if (info->guarantee || info->limit) {
        json_t *q = json_object();
        json_object_set_new(q, "role", json_string(info->role));
        json_object_set_new(q, "guarantee",
                            info->guarantee ? res_to_json(info->guarantee) : json_object());
        json_object_set_new(q, "limit", info->limit ? res_to_json(info->limit) : json_object());
        json_object_set_new(q, "consumed",
                            info->consumed ? res_to_json(info->consumed) : json_object());
        json_object_set_new(o, "quota", q);
    }
    json_array_append_new(c->arr, o);
}

static void
h_roles(void *arg, struct http_req *req)
{
    struct master *m = arg;
    struct roles_ctx c = {.arr = json_array()};
    alloc_foreach_role(m->alloc, role_cb, &c);
    http_reply_json(req, 200, json_pack("{s:o}", "roles", c.arr));
}

static void
weights_cb(void *arg, const struct alloc_role_info *info)
{
    json_t *arr = arg;
    json_array_append_new(arr, json_pack("{s:s, s:f}", "role", info->role, "weight",
                                         info->weight));
}

static void
h_weights(void *arg, struct http_req *req)
{
    struct master *m = arg;
    char err[256];

    if (strcmp(http_req_method(req), "GET") == 0) {
        json_t *arr = json_array();
        alloc_foreach_role(m->alloc, weights_cb, arr);
        http_reply_json(req, 200, arr);
        return;
    }
    /* PUT [{"role": "eng", "weight": 2.0}, ...]: all or nothing. */
    json_t *body = http_req_json(req, err, sizeof(err)), *w;
    size_t i;
    if (body == NULL) {
        http_reply_error(req, 400, "malformed JSON: %s", err);
        return;
    }
    if (!json_is_array(body)) {
        json_decref(body);
        http_reply_error(req, 400, "expected a JSON array of {\"role\", \"weight\"}");
        return;
    }
    json_array_foreach(body, i, w)
    {
        const char *role = json_string_value(json_object_get(w, "role"));
        json_t *wv = json_object_get(w, "weight");
        if (role == NULL || !res_role_valid(role) || strcmp(role, "*") == 0 ||
            !json_is_number(wv) || json_number_value(wv) <= 0) {
            json_decref(body);
            http_reply_error(req, 400, "entry %zu: needs a valid role and a weight > 0", i);
            return;
        }
    }
    json_array_foreach(body, i, w)
    {
        alloc_set_weight(m->alloc, json_string_value(json_object_get(w, "role")),
                         json_number_value(json_object_get(w, "weight")));
    }
    json_decref(body);
    http_reply_json(req, 200, NULL);
}

static void
quota_cb(void *arg, const struct alloc_role_info *info)
{
    json_t *arr = arg;
    if (!info->guarantee && !info->limit)
        return;
    json_array_append_new(
        arr, json_pack("{s:s, s:o, s:o, s:o}", "role", info->role, "guarantee",
                       info->guarantee ? res_to_json(info->guarantee) : json_object(), "limit",
                       info->limit ? res_to_json(info->limit) : json_object(), "consumed",
                       info->consumed ? res_to_json(info->consumed) : json_object()));
}

static void
h_quota(void *arg, struct http_req *req)
{
    struct master *m = arg;
    char err[512];
    json_t *body;
    const char *role, *g, *l;
    struct resources guarantee, limit;
    int rc;

    if (strcmp(http_req_method(req), "GET") == 0) {
        json_t *arr = json_array();
        alloc_foreach_role(m->alloc, quota_cb, arr);
        http_reply_json(req, 200, json_pack("{s:o}", "infos", arr));
        return;
    }
    /* POST {"role": "web", "guarantee": "cpus:2;mem:1024", "limit": "cpus:4"};
     * DELETE ?role=web removes the quota. */
    res_init(&guarantee);
    res_init(&limit);
    if (strcmp(http_req_method(req), "DELETE") == 0) {
        role = http_req_query(req, "role");
        if (role == NULL || !res_role_valid(role)) {
            http_reply_error(req, 400, "DELETE /quota needs ?role=ROLE");
            return;
        }
        rc = alloc_set_quota(m->alloc, role, &guarantee, &limit);
        http_reply_json(req, rc == 0 ? 200 : 400, NULL);
        return;
    }
    body = http_req_json(req, err, sizeof(err));
    if (body == NULL) {
        http_reply_error(req, 400, "malformed JSON: %s", err);
        return;
    }
    role = json_string_value(json_object_get(body, "role"));
    g = json_string_value(json_object_get(body, "guarantee"));
    l = json_string_value(json_object_get(body, "limit"));
    if (role == NULL || !res_role_valid(role) || strcmp(role, "*") == 0) {
        json_decref(body);
        http_reply_error(req, 400, "\"role\" must name a role other than \"*\"");
        return;
    }
    if ((g && res_parse(&guarantee, g, err, sizeof(err)) != 0) ||
        (l && res_parse(&limit, l, err, sizeof(err)) != 0)) {
        json_decref(body);
        res_fini(&guarantee);
        res_fini(&limit);
        http_reply_error(req, 400, "bad resources: %s", err);
        return;
    }
    rc = alloc_set_quota(m->alloc, role, &guarantee, &limit);
    json_decref(body);
    res_fini(&guarantee);
    res_fini(&limit);
    if (rc != 0) {
        http_reply_error(req, 400, "quota refused: %s (a guarantee must not exceed its limit)",
                         ag_strerror(rc));
        return;
    }
    http_reply_json(req, 200, NULL);
}

/* POST /reserve and /unreserve: {"agent_id": ..., "resources": "cpus(web):1;mem(web):128"}. */
static void
h_reserve(void *arg, struct http_req *req)
{
    struct master *m = arg;
    bool reserve = strcmp(http_req_path(req), "/reserve") == 0;
    char err[512];
    json_t *body = http_req_json(req, err, sizeof(err));
    const char *agent_id, *text;
    struct resources want, from;
    struct agent *a;
    int rc;

    if (body == NULL) {
        http_reply_error(req, 400, "malformed JSON: %s", err);
        return;
    }
    agent_id = json_string_value(json_object_get(body, "agent_id"));
    if (agent_id == NULL)
        agent_id = json_string_value(json_object_get(body, "slaveId"));
    text = json_string_value(json_object_get(body, "resources"));
    a = agent_id ? hmap_get(&m->agents, agent_id) : NULL;
    if (a == NULL || text == NULL) {
        json_decref(body);
        http_reply_error(req, a == NULL && agent_id ? 404 : 400,
                         a == NULL && agent_id ? "unknown agent"
                                               : "needs \"agent_id\" and \"resources\"");
        return;
    }
    res_init(&want);
    res_init(&from);
    if (res_parse(&want, text, err, sizeof(err)) != 0) {
        json_decref(body);
        http_reply_error(req, 400, "bad resources: %s", err);
        return;
    }
    json_decref(body);
    for (size_t i = 0; i < want.n; i++) {
        if (strcmp(want.items[i].role, "*") == 0) {
            res_fini(&want);
            http_reply_error(req, 400, "resources must name their role, e.g. cpus(web):1");
            return;
        }
    }
    res_set_role(&from, &want, "*");
    rc = reserve ? alloc_update_available(m->alloc, a->id, &from, &want)
                 : alloc_update_available(m->alloc, a->id, &want, &from);
    if (rc == 0) {
        if (reserve) {
            res_sub(&a->total, &from);
            res_add(&a->total, &want);
        } else {
            res_sub(&a->total, &want);
            res_add(&a->total, &from);
        }
        registry_put_agent(m, a);
        http_reply_json(req, 202, NULL);
    } else {
        http_reply_error(req, 409, "cannot %s: %s (the resources must be unallocated on the agent)",
                         reserve ? "reserve" : "unreserve", ag_strerror(rc));
    }
    res_fini(&want);
    res_fini(&from);
}

static void
h_flags(void *arg, struct http_req *req)
{
    struct master *m = arg;
    http_reply_json(req, 200, json_pack("{s:o}", "flags", flags_to_json(m->flag_table)));
}

static void
h_health(void *arg, struct http_req *req)
{
    (void)arg;
    http_reply_text(req, 200, "text/plain", "", 0);
}

static void
h_version(void *arg, struct http_req *req)
{
    (void)arg;
    http_reply_json(req, 200, json_pack("{s:s, s:s}", "version", AGORA_VERSION, "build_user",
                                        "agora"));
}

/* ---- metrics: every figure of the master in its registry (m->metrics) ---- */

/* Sets `name` (a gauge of m->metrics) to v. */
static void
mmetrics_set(struct master *m, const char *name, double v)
{
    metrics_set(metrics_gauge(m->metrics, name), v);
}

/* The collector: sets the gauges computed from the master's state. */
static void
mmetrics_collect(void *arg)
{
    struct master *m = arg;
    size_t active, inactive, refused = 0, tasks_by_state[MSG_TASK_STATE_COUNT] = {0};
    size_t it = 0;
    void *val;

    counts(m, &active, &inactive);
    while (hmap_next(&m->frameworks, &it, NULL, &val)) {
        const struct framework *fw = val;
        size_t jt = 0;
        void *tv;
        while (hmap_next(&fw->tasks, &jt, NULL, &tv))
            tasks_by_state[((const struct task *)tv)->state]++;
    }
    for (it = 0; hmap_next(&m->agents, &it, NULL, &val);)
        if (((const struct agent *)val)->alloc_error[0])
            refused++;
    mmetrics_set(m, "master/uptime_secs", m->now - m->start_time);
    mmetrics_set(m, "master/elected", 1);
    mmetrics_set(m, "master/slaves_active", (double)active);
    mmetrics_set(m, "master/slaves_inactive", (double)inactive);
    mmetrics_set(m, "master/frameworks", (double)hmap_size(&m->frameworks));
    mmetrics_set(m, "master/outstanding_offers", (double)hmap_size(&m->offers));
    for (int s = 0; s < MSG_TASK_STATE_COUNT; s++) {
        char key[64], lower[32];
        const char *name = msg_task_state_name(s) + 5;
        size_t k;
        for (k = 0; name[k] && k < sizeof(lower) - 1; k++)
            lower[k] = (char)(name[k] >= 'A' && name[k] <= 'Z' ? name[k] + 32 : name[k]);
        lower[k] = '\0';
        snprintf(key, sizeof(key), "master/tasks_%s", lower);
        mmetrics_set(m, key, (double)tasks_by_state[s]);
    }
    mmetrics_set(m, "master/agents_overcommitted", (double)m->novercommitted);
    mmetrics_set(m, "master/agents_refused_by_allocator", (double)refused);
    mmetrics_set(m, "master/frameworks_completed", (double)m->ncompleted_fws);
    mmetrics_set(m, "allocator/allocation_run_ms/last", m->alloc_last_ms);
    mmetrics_set(m, "allocator/allocation_run_ms/max", m->alloc_max_ms);
    mmetrics_set(m, "transport/peers", (double)(m->tp ? tp_server_peers(m->tp) : 0));
}

static struct tp_stats
mmetrics_tp(struct master *m)
{
    struct tp_stats ts;

    memset(&ts, 0, sizeof(ts));
    if (m->tp)
        tp_server_stats(m->tp, &ts);
    return ts;
}

static uint64_t
mmetrics_retransmits(void *arg)
{
    return mmetrics_tp(arg).retransmits;
}

static uint64_t
mmetrics_dropped_peers(void *arg)
{
    return mmetrics_tp(arg).dropped_peers;
}

static uint64_t
mmetrics_malformed(void *arg)
{
    return mmetrics_tp(arg).malformed;
}

/* Registers the master's counters (the uint64_t it keeps in struct master,
 * read at each rendering), the transport's and the collector of its gauges. */
static int
mmetrics_register(struct master *m)
{
    const struct metrics_u64 counters[] = {
        {"master/messages_received", &m->msgs_in},
        {"master/messages_sent", &m->msgs_out},
        {"master/invalid_messages", &m->msgs_invalid},
        {"master/tasks_launched", &m->tasks_launched},
        {"master/tasks_invalid", &m->tasks_error},
        {"master/offers_sent", &m->offers_sent},
        {"master/offers_rescinded", &m->offers_rescinded},
        {"master/offers_declined", &m->offers_declined},
        {"master/status_updates_forwarded", &m->updates_forwarded},
        {"master/agents_overcommitted_total", &m->agents_overcommitted},
        {"master/agents_refused_by_allocator_total", &m->agents_refused},
        {"master/orphan_tasks_killed", &m->orphans_killed},
        {"master/books_checks", &m->books_checks},
        {"master/books_discrepancies", &m->books_problems},
        {"allocator/allocation_runs", &m->alloc_runs},
    };
    int rc = metrics_counters_u64(m->metrics, counters, sizeof(counters) / sizeof(counters[0]));

    if (rc == 0)
        rc = metrics_counter_fn(m->metrics, "transport/retransmits", mmetrics_retransmits, m);
    if (rc == 0)
        rc = metrics_counter_fn(m->metrics, "transport/dropped_peers", mmetrics_dropped_peers, m);
    if (rc == 0)
        rc = metrics_counter_fn(m->metrics, "transport/malformed_frames", mmetrics_malformed, m);
    if (rc == 0)
        rc = metrics_collector(m->metrics, mmetrics_collect, m);
    if (rc == 0)
        mmetrics_collect(m); /* creates the gauges */
    return rc;
}

static void
h_metrics_snapshot(void *arg, struct http_req *req)
{
    metrics_reply(((struct master *)arg)->metrics, req, http_req_query(req, "format"), false);
}

/* Prometheus text exposition of the same figures. */
static void
h_metrics(void *arg, struct http_req *req)
{
    metrics_reply(((struct master *)arg)->metrics, req, http_req_query(req, "format"), true);
}

/* POST /teardown with form or JSON body frameworkId=ID. */
static void
books_problem_json(void *arg, const char *agent_id, const char *problem)
{
    json_array_append_new(arg, json_pack("{s:s, s:s}", "agent_id", agent_id, "problem", problem));
}

/* GET /books: the allocator's books against the tasks' (master_check_books). */
static void
h_books(void *arg, struct http_req *req)
{
    struct master *m = arg;
    json_t *problems = json_array();
    size_t n = master_check_books(m, books_problem_json, problems);

    http_reply_json(req, 200,
                    json_pack("{s:b, s:I, s:I, s:o}", "consistent", n == 0, "agents",
                              (json_int_t)hmap_size(&m->agents), "discrepancies", (json_int_t)n,
                              "problems", problems));
}

static void
h_teardown(void *arg, struct http_req *req)
{
    struct master *m = arg;
    size_t len;
    const char *body = http_req_body(req, &len);
    char id[AG_ID_MAX] = "";
    const char *q = http_req_query(req, "frameworkId");
    struct framework *fw;

    if (q)
        snprintf(id, sizeof(id), "%s", q);
    else if (body && strncmp(body, "frameworkId=", 12) == 0)
        snprintf(id, sizeof(id), "%.*s", (int)(len - 12 < sizeof(id) - 1 ? len - 12 : sizeof(id) - 1),
                 body + 12);
    else if (body && len > 0) {
        json_t *j = json_loadb(body, len, 0, NULL);
        const char *v = json_string_value(json_object_get(j, "framework_id"));
        if (v)
            snprintf(id, sizeof(id), "%s", v);
        json_decref(j);
    }
    if (id[0] == '\0') {
        http_reply_error(req, 400, "needs frameworkId=ID");
        return;
    }
    fw = hmap_get(&m->frameworks, id);
    if (fw == NULL) {
        http_reply_error(req, 404, "no framework %s", id);
        return;
    }
    master_teardown(m, fw, "teardown requested by an operator");
    http_reply_json(req, 200, NULL);
}

/* GET /accounting/report: computed on libuv's thread pool with a read-only
 * handle of its own, so a long report never stalls the loop. */
struct report_job {
    uv_work_t work;
    struct http_req *req; /* NULL once the server dropped it */
    char path[4096];
    struct report_query q;
    json_t *out;
    int rc;
    char err[512];
};

static void
report_abort(void *arg, struct http_req *req)
{
    struct report_job *j = arg;
    (void)req;
    j->req = NULL;
}

static void
report_work(uv_work_t *w)
{
    struct report_job *j = w->data;
    sqlite3 *db = NULL;

    j->rc = report_open(&db, j->path, j->err, sizeof(j->err));
    if (j->rc == 0)
        j->rc = report_compute(db, &j->q, &j->out, j->err, sizeof(j->err));
    if (db)
        sqlite3_close(db);
}

static void
report_done(uv_work_t *w, int status)
{
    struct report_job *j = w->data;
    if (j->req) {
        if (status != 0)
            http_reply_error(j->req, 503, "report cancelled");
        else if (j->rc != 0)
            http_reply_error(j->req, 500, "report failed: %s", j->err);
        else {
            http_reply_json(j->req, 200, j->out);
            j->out = NULL;
        }
    }
    json_decref(j->out);
    free(j);
}

static void
h_accounting_report(void *arg, struct http_req *req)
{
    struct master *m = arg;
    struct report_job *j = calloc(1, sizeof(*j));
    int rc;

    if (j == NULL) {
        http_reply_error(req, 503, "out of memory");
        return;
    }
    /* The clock now, not m->now (the last message's time): an idle master's
     * m->now lags, and the window would end early. */
    rc = report_query_parse(&j->q, (int64_t)(master_clock() * 1000), http_req_query(req, "since"),
                            http_req_query(req, "until"), http_req_query(req, "by"),
                            http_req_query(req, "top"), http_req_query(req, "price"),
                            http_req_query(req, "timeline"), j->err, sizeof(j->err));
    if (rc != 0) {
        http_reply_error(req, 400, "%s", j->err);
        free(j);
        return;
    }
    /* Events reach the database within about a second (the recorder's batch). */
    snprintf(j->path, sizeof(j->path), "%s", m->acct_path);
    j->req = req;
    j->work.data = j;
    http_req_on_abort(req, report_abort, j);
    if (uv_queue_work(m->loop, &j->work, report_work, report_done) != 0) {
        http_reply_error(req, 503, "cannot schedule the report");
        free(j);
    }
}

int
mhttp_register(struct master *m)
{
    static const struct {
        const char *method, *path;
        http_handler_fn fn;
    } routes[] = {
        {"GET", "/state", h_state},
        {"GET", "/master/state", h_state},
        {"GET", "/state.json", h_state},
        {"GET", "/state-summary", h_state_summary},
        {"GET", "/master/state-summary", h_state_summary},
        {"GET", "/slaves", h_slaves},
        {"GET", "/agents", h_slaves},
        {"GET", "/frameworks", h_frameworks},
        {"GET", "/tasks", h_tasks},
        {"GET", "/roles", h_roles},
        {"GET", "/weights", h_weights},
        {"PUT", "/weights", h_weights},
        {"GET", "/quota", h_quota},
        {"POST", "/quota", h_quota},
        {"DELETE", "/quota", h_quota},
        {"POST", "/reserve", h_reserve},
        {"POST", "/unreserve", h_reserve},
        {"GET", "/flags", h_flags},
        {"GET", "/health", h_health},
        {"GET", "/version", h_version},
        {"GET", "/metrics/snapshot", h_metrics_snapshot},
        {"GET", "/metrics", h_metrics},
        {"POST", "/teardown", h_teardown},
        {"GET", "/books", h_books},
        {"GET", "/accounting/report", h_accounting_report},
    };
    int rc;

    rc = mmetrics_register(m);
    if (rc != 0) {
        log_error("cannot register the metrics: %s", ag_strerror(rc));
        return rc;
    }
    rc = http_server_open(&m->http, m->loop, m->flags.ip, (uint16_t)m->flags.port, 0);
    if (rc != 0) {
        log_error("cannot serve HTTP on %s:%d: %s (is another master running there?)",
                  m->flags.ip, (int)m->flags.port, ag_strerror(rc));
        return rc;
    }
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        rc = http_route(m->http, routes[i].method, routes[i].path, routes[i].fn, m, 0);
        if (rc != 0)
            return rc;
    }
    return assets_route(m->http, master_webui, master_webui_count);
}

void
mhttp_close(struct master *m)
{
    http_server_close(m->http);
    m->http = NULL;
}
