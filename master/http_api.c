/*
 * The master's operator HTTP API (JSON, Mesos field names). Handlers run on
 * the loop thread; every answer is built from in-memory state without I/O.
 */
#include "http_api.h"
#include "master.h"

#include "acl.h"

#include "allocator.h" /* struct alloc_role_info */
#include "recorder.h"
#include "assets.h"
#include "report.h"
#include "task_json.h"
#include "error.h"
#include "flags.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "standby.h"
#include "xalloc.h"
#include <arpa/inet.h>
#include <netdb.h>

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

/* Sums the outstanding offers per agent, in one pass over the offers (an agent
 * looked up in it has offers when it is there): agent_id -> struct resources *. */
static void
offered_cb(void *arg, const struct offer *o)
{
    struct hmap *by_agent = arg;
    struct resources *r = hmap_get(by_agent, o->agent_id);

    if (r == NULL) {
        r = xcalloc(1, sizeof(*r));
        res_init(r);
        if (hmap_put(by_agent, o->agent_id, r) != 0)
            xalloc_die(0);
    }
    res_add(r, &o->resources);
}

static void
offered_free(struct hmap *by_agent)
{
    void *val;

    for (size_t it = 0; hmap_next(by_agent, &it, NULL, &val);) {
        res_fini(val);
        free(val);
    }
    hmap_fini(by_agent);
}

static json_t *
agent_json(const struct master *m, const struct agent *a, const struct hmap *offered_by_agent)
{
    const struct resources *offered_sum = hmap_get(offered_by_agent, a->id);
    struct resources used, offered, reserved, unreserved;
    json_t *o;

    res_init(&used);
    res_init(&offered);
    res_init(&reserved);
    res_init(&unreserved);
    agent_used(a, &used);
    if (offered_sum != NULL)
        res_copy(&offered, offered_sum);
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
    /* The user a task naming none runs as there ("": an agent too old to say). */
    json_object_set_new(o, "task_user", json_string(a->task_user));
    json_object_set_new(o, "task_user_only", json_boolean(a->task_user_only));
    json_object_set_new(o, "task_count", json_integer((json_int_t)hmap_size(&a->tasks)));
    res_fini(&used);
    res_fini(&offered);
    res_fini(&reserved);
    res_fini(&unreserved);
    return o;
}

/* Who is asking, for view_frameworks and view_tasks (--acls): a caller sees
 * the frameworks and tasks whose user it may view. */
struct viewer {
    const struct acls *acls;
    const char *who; /* the request's principal; NULL: anonymous */
};

static struct viewer
viewer_of(const struct master *m, struct http_req *req)
{
    return (struct viewer){.acls = master_acls(m), .who = http_req_principal(req)};
}

/* The user a task runs as: its own, else its framework's (`fw_user`, NULL when
 * unknown); NULL when neither is known. */
static const char *
task_user(const struct msg_task_info *info, const char *fw_user)
{
    if (info->command.user && info->command.user[0])
        return info->command.user;
    return fw_user && fw_user[0] ? fw_user : NULL;
}

static bool
may_view(const struct viewer *v, enum acl_action action, const char *user)
{
    return acl_authorized(v->acls, action, v->who, user);
}

/* Filters for task lists: NULL matches all. */
struct tasks_ctx {
    json_t *arr;
    const char *fwid, *state;
    const struct viewer *v;
    const char *fw_user; /* with fwid: the framework's user */
};

static void
completed_task_cb(void *arg, const struct completed_task *t)
{
    struct tasks_ctx *c = arg;
    if (c->fwid && strcmp(c->fwid, t->framework_id) != 0)
        return;
    if (!may_view(c->v, ACL_VIEW_TASKS, task_user(&t->info, c->fw_user)))
        return;
    if (c->state && strcmp(c->state, msg_task_state_name(t->status.state)) != 0)
        return;
    json_array_append_new(c->arr, task_json(&t->info, &t->status, t->status.state,
                                            t->framework_id, t->info.agent_id));
}

static json_t *
framework_json(const struct master *m, const struct framework *fw, bool with_tasks,
               const struct viewer *v)
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
        if (with_tasks && may_view(v, ACL_VIEW_TASKS, task_user(&t->info, fw->info.user)))
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
        struct tasks_ctx c = {.arr = completed, .fwid = fw->id, .v = v, .fw_user = fw->info.user};
        master_foreach_completed_task(m, completed_task_cb, &c);
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

struct list_ctx {
    const struct master *m;
    json_t *arr;
    bool with_tasks;
    const struct viewer *v;
    struct hmap offered; /* agents_json: see offered_cb */
};

static void
agent_list_cb(void *arg, const struct agent *a)
{
    struct list_ctx *c = arg;
    json_array_append_new(c->arr, agent_json(c->m, a, &c->offered));
}

static json_t *
agents_json(const struct master *m)
{
    struct list_ctx c = {.m = m, .arr = json_array()};

    hmap_init(&c.offered);
    master_foreach_offer(m, offered_cb, &c.offered);
    master_foreach_agent(m, agent_list_cb, &c);
    offered_free(&c.offered);
    return c.arr;
}

static void
framework_list_cb(void *arg, const struct framework *fw)
{
    struct list_ctx *c = arg;
    if (may_view(c->v, ACL_VIEW_FRAMEWORKS, fw->info.user))
        json_array_append_new(c->arr, framework_json(c->m, fw, c->with_tasks, c->v));
}

static json_t *
frameworks_json(const struct master *m, bool with_tasks, const struct viewer *v)
{
    struct list_ctx c = {.m = m, .arr = json_array(), .with_tasks = with_tasks, .v = v};
    master_foreach_framework(m, framework_list_cb, &c);
    return c.arr;
}

/* Removed frameworks, oldest first (at most --max_completed_frameworks). */
static json_t *
completed_frameworks_json(const struct master *m, bool with_tasks, const struct viewer *v)
{
    struct list_ctx c = {.m = m, .arr = json_array(), .with_tasks = with_tasks, .v = v};
    master_foreach_completed_framework(m, framework_list_cb, &c);
    return c.arr;
}

char *
mhttp_master_info(const char *id, const struct master_flags *f)
{
    char hostname[256] = "", ip[INET_ADDRSTRLEN] = "";
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    struct in_addr a = {0};
    json_t *o, *addr;
    char *s;

    if (f->hostname && f->hostname[0])
        snprintf(hostname, sizeof(hostname), "%s", f->hostname);
    else
        gethostname(hostname, sizeof(hostname) - 1);
    if (f->advertise_ip && f->advertise_ip[0])
        snprintf(ip, sizeof(ip), "%s", f->advertise_ip);
    else if (strcmp(f->ip, "0.0.0.0") != 0)
        snprintf(ip, sizeof(ip), "%s", f->ip);
    else if (getaddrinfo(hostname, NULL, &hints, &ai) == 0 && ai != NULL)
        inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, ip, sizeof(ip));
    if (ai != NULL)
        freeaddrinfo(ai);
    if (ip[0] == '\0')
        snprintf(ip, sizeof(ip), "127.0.0.1");
    inet_pton(AF_INET, ip, &a);
    o = json_object();
    addr = json_object();
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "ip", json_integer((json_int_t)a.s_addr));
    json_object_set_new(o, "port", json_integer((json_int_t)f->port));
    json_object_set_new(o, "pid", json_sprintf("master@%s:%d", ip, (int)f->port));
    json_object_set_new(o, "hostname", json_string(hostname));
    json_object_set_new(o, "version", json_string(AGORA_VERSION));
    json_object_set_new(addr, "hostname", json_string(hostname));
    json_object_set_new(addr, "ip", json_string(ip));
    json_object_set_new(addr, "port", json_integer((json_int_t)f->port));
    json_object_set_new(o, "address", addr);
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* This master's info: the one it published in ZooKeeper, else made now. */
static json_t *
self_info(const struct master *m)
{
    const char *given = master_leader_info(m);
    char *made = given ? NULL : mhttp_master_info(master_id(m), master_flags(m));
    json_t *o = json_loads(given ? given : made ? made : "{}", 0, NULL);

    free(made);
    return o ? o : json_object();
}

static void
h_redirect(void *arg, struct http_req *req)
{
    struct master *m = arg;
    json_t *info = self_info(m);
    json_t *addr = json_object_get(info, "address");
    char hostport[300], loc[1024];

    snprintf(hostport, sizeof(hostport), "%s:%d",
             json_string_value(json_object_get(addr, "ip")) ?: "127.0.0.1",
             (int)json_integer_value(json_object_get(addr, "port")));
    json_decref(info);
    standby_location(loc, sizeof(loc), tls_serving(&master_flags(m)->tls) ? "https" : "http",
                     hostport, standby_redirect_path(http_req_path(req)), http_req_raw_query(req));
    http_req_add_header(req, "Location", loc);
    http_reply_error(req, 307, "this is the leading master");
}

static json_t *
state_common(struct master *m)
{
    size_t active, inactive;
    json_t *o = json_object();
    char hostname[256] = "";

    gethostname(hostname, sizeof(hostname) - 1);
    master_agent_counts(m, &active, &inactive);
    json_object_set_new(o, "version", json_string(AGORA_VERSION));
    json_object_set_new(o, "id", json_string(master_id(m)));
    json_object_set_new(o, "hostname", json_string(hostname));
    json_object_set_new(o, "pid", json_sprintf("master@%s:%d", master_flags(m)->ip,
                                               (int)master_flags(m)->port));
    json_object_set_new(o, "start_time", json_real(master_start_time(m)));
    json_object_set_new(o, "elected_time", json_real(master_start_time(m)));
    json_object_set_new(o, "elected", json_true());
    {
        json_t *info = self_info(m);

        json_object_set(o, "leader", json_object_get(info, "pid"));
        json_object_set_new(o, "leader_info", info);
    }
    if (master_epoch(m) != 0)
        json_object_set_new(o, "leader_epoch", json_integer((json_int_t)master_epoch(m)));
    json_object_set_new(o, "activated_slaves", json_integer((json_int_t)active));
    json_object_set_new(o, "deactivated_slaves", json_integer((json_int_t)inactive));
    return o;
}

/* Tasks of removed frameworks that agents still ran when they re-registered:
 * being killed, booked until they end. */
static void
orphan_tasks_cb(void *arg, const struct agent *a)
{
    struct tasks_ctx *c = arg;
    size_t it = 0;
    void *tv;
    while (hmap_next(&a->tasks, &it, NULL, &tv)) {
        const struct task *t = tv;
        if (t->orphan && may_view(c->v, ACL_VIEW_TASKS, task_user(&t->info, NULL)))
            json_array_append_new(c->arr, live_task_json(t));
    }
}

/* Tasks of removed frameworks that agents still ran when they re-registered:
 * being killed, booked until they end. */
static json_t *
orphan_tasks_json(const struct master *m, const struct viewer *v)
{
    struct tasks_ctx c = {.arr = json_array(), .v = v};
    master_foreach_agent(m, orphan_tasks_cb, &c);
    return c.arr;
}

static void
h_state(void *arg, struct http_req *req)
{
    struct master *m = arg;
    struct viewer v = viewer_of(m, req);
    json_t *o = state_common(m);

    json_object_set_new(o, "leader_info",
                        json_pack("{s:s, s:I}", "hostname", master_flags(m)->ip, "port",
                                  (json_int_t)master_flags(m)->port));
    json_object_set_new(o, "flags", flags_to_json(master_flag_table(m)));
    json_object_set_new(o, "slaves", agents_json(m));
    json_object_set_new(o, "frameworks", frameworks_json(m, true, &v));
    json_object_set_new(o, "completed_frameworks", completed_frameworks_json(m, true, &v));
    json_object_set_new(o, "orphan_tasks", orphan_tasks_json(m, &v));
    json_object_set_new(o, "unregistered_frameworks", json_array());
    http_reply_json(req, 200, o);
}

static void
h_state_summary(void *arg, struct http_req *req)
{
    struct master *m = arg;
    struct viewer v = viewer_of(m, req);
    json_t *o = state_common(m);
    json_object_set_new(o, "slaves", agents_json(m));
    json_object_set_new(o, "frameworks", frameworks_json(m, false, &v));
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
    struct viewer v = viewer_of(m, req);
    http_reply_json(req, 200, json_pack("{s:o, s:o}", "frameworks", frameworks_json(m, true, &v),
                                        "completed_frameworks",
                                        completed_frameworks_json(m, true, &v)));
}

static void
live_tasks_cb(void *arg, const struct framework *fw)
{
    struct tasks_ctx *c = arg;
    size_t it = 0;
    void *tv;

    if (c->fwid && strcmp(c->fwid, fw->id) != 0)
        return;
    while (hmap_next(&fw->tasks, &it, NULL, &tv)) {
        const struct task *t = tv;
        if (c->state && strcmp(c->state, msg_task_state_name(t->state)) != 0)
            continue;
        if (!may_view(c->v, ACL_VIEW_TASKS, task_user(&t->info, fw->info.user)))
            continue;
        json_array_append_new(c->arr, live_task_json(t));
    }
}

static void
h_tasks(void *arg, struct http_req *req)
{
    struct master *m = arg;
    struct viewer v = viewer_of(m, req);
    struct tasks_ctx c = {.arr = json_array(),
                          .fwid = http_req_query(req, "framework_id"),
                          .state = http_req_query(req, "state"),
                          .v = &v};

    master_foreach_framework(m, live_tasks_cb, &c);
    master_foreach_completed_task(m, completed_task_cb, &c);
    http_reply_json(req, 200, json_pack("{s:o}", "tasks", c.arr));
}

/* http_req_authorized with the master's --acls: 403 when not (call it before
 * the operation). */
static bool
authorized(const struct master *m, struct http_req *req, enum acl_action action,
           const char *object)
{
    return http_req_authorized(req, master_acls(m), action, object);
}

struct roles_ctx {
    json_t *arr;
    struct viewer v; /* view_roles (--acls): roles the caller may not view are left out */
};

static void
role_cb(void *arg, const struct alloc_role_info *info)
{
    struct roles_ctx *c = arg;
    json_t *fws, *o;

    if (!may_view(&c->v, ACL_VIEW_ROLES, info->role))
        return;
    fws = json_array();
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
    struct roles_ctx c = {.arr = json_array(), .v = viewer_of(m, req)};
    master_foreach_role(m, role_cb, &c);
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
        master_foreach_role(m, weights_cb, arr);
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
        if (!authorized(m, req, ACL_UPDATE_WEIGHTS, json_string_value(json_object_get(w, "role")))) {
            json_decref(body);
            return;
        }
    }
    json_array_foreach(body, i, w)
    {
        master_set_weight(m, json_string_value(json_object_get(w, "role")),
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
        master_foreach_role(m, quota_cb, arr);
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
        if (!authorized(m, req, ACL_UPDATE_QUOTAS, role))
            return;
        rc = master_set_quota(m, role, &guarantee, &limit);
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
    if (!authorized(m, req, ACL_UPDATE_QUOTAS, role)) {
        json_decref(body);
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
    rc = master_set_quota(m, role, &guarantee, &limit);
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
    struct resources want;
    int rc;

    if (body == NULL) {
        http_reply_error(req, 400, "malformed JSON: %s", err);
        return;
    }
    agent_id = json_string_value(json_object_get(body, "agent_id"));
    if (agent_id == NULL)
        agent_id = json_string_value(json_object_get(body, "slaveId"));
    text = json_string_value(json_object_get(body, "resources"));
    if (agent_id == NULL || text == NULL) {
        json_decref(body);
        http_reply_error(req, 400, "needs \"agent_id\" and \"resources\"");
        return;
    }
    res_init(&want);
    if (res_parse(&want, text, err, sizeof(err)) != 0) {
        json_decref(body);
        http_reply_error(req, 400, "bad resources: %s", err);
        return;
    }
    /* reserve_resources: each role reserved for; unreserve_resources: who made
     * the reservation, which is not recorded (absent: only ANY and NONE match). */
    for (size_t i = 0; i < (reserve ? want.n : 1); i++) {
        if (!authorized(m, req, reserve ? ACL_RESERVE_RESOURCES : ACL_UNRESERVE_RESOURCES,
                        reserve ? want.items[i].role : NULL)) {
            json_decref(body);
            res_fini(&want);
            return;
        }
    }
    rc = reserve ? master_reserve(m, agent_id, &want, err, sizeof(err))
                 : master_unreserve(m, agent_id, &want, err, sizeof(err));
    json_decref(body);
    res_fini(&want);
    if (rc == 0)
        http_reply_json(req, 202, NULL);
    else if (rc == -AG_ENOENT)
        http_reply_error(req, 404, "unknown agent");
    else if (rc == -AG_EINVAL)
        http_reply_error(req, 400, "%s", err);
    else
        http_reply_error(req, 409, "cannot %s: %s", reserve ? "reserve" : "unreserve", err);
}

/* POST /drain and /undrain: {"agent_id": ID}. A draining agent gets no new
 * offers (its outstanding ones are rescinded); its tasks keep running.
 * --acls: drain_agents and reactivate_agents (Mesos's names), agent absent. */
static void
h_drain(void *arg, struct http_req *req)
{
    struct master *m = arg;
    bool drain = strcmp(http_req_path(req), "/drain") == 0;
    char err[512];
    json_t *body;
    const char *agent_id;
    int rc;

    if (!authorized(m, req, drain ? ACL_DRAIN_AGENTS : ACL_REACTIVATE_AGENTS, NULL))
        return;
    if ((body = http_req_json(req, err, sizeof(err))) == NULL) {
        http_reply_error(req, 400, "malformed JSON: %s", err);
        return;
    }
    agent_id = json_string_value(json_object_get(body, "agent_id"));
    if (agent_id == NULL) {
        json_decref(body);
        http_reply_error(req, 400, "needs \"agent_id\"");
        return;
    }
    if ((rc = master_drain_agent(m, agent_id, drain)) == -AG_ENOENT)
        http_reply_error(req, 404, "unknown agent %s", agent_id);
    else if (rc != 0)
        http_reply_error(req, 503, "cannot %s agent %s: the registry write failed: %s",
                         drain ? "drain" : "undrain", agent_id, ag_strerror(rc));
    else
        http_reply_json(req, 200, NULL);
    json_decref(body);
}

static void
h_flags(void *arg, struct http_req *req)
{
    struct master *m = arg;
    if (!authorized(m, req, ACL_GET_ENDPOINTS, http_req_path(req)))
        return;
    http_reply_json(req, 200, json_pack("{s:o}", "flags", flags_to_json(master_flag_table(m))));
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

static void
h_metrics_snapshot(void *arg, struct http_req *req)
{
    if (!authorized(arg, req, ACL_GET_ENDPOINTS, http_req_path(req)))
        return;
    metrics_reply(master_metrics(arg), req, http_req_query(req, "format"), false);
}

/* Prometheus text exposition of the same figures. */
static void
h_metrics(void *arg, struct http_req *req)
{
    if (!authorized(arg, req, ACL_GET_ENDPOINTS, http_req_path(req)))
        return;
    metrics_reply(master_metrics(arg), req, http_req_query(req, "format"), true);
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
    json_t *problems;
    size_t n;

    if (!authorized(m, req, ACL_GET_ENDPOINTS, http_req_path(req)))
        return;
    problems = json_array();
    n = master_check_books(m, books_problem_json, problems);

    http_reply_json(req, 200,
                    json_pack("{s:b, s:I, s:I, s:o}", "consistent", n == 0, "agents",
                              (json_int_t)master_agent_count(m), "discrepancies", (json_int_t)n,
                              "problems", problems));
}

struct find_fw_ctx {
    const char *id;
    const struct framework *fw;
};

static void
find_fw_cb(void *arg, const struct framework *fw)
{
    struct find_fw_ctx *c = arg;
    if (strcmp(fw->id, c->id) == 0)
        c->fw = fw;
}

static void
h_teardown(void *arg, struct http_req *req)
{
    struct master *m = arg;
    size_t len;
    const char *body = http_req_body(req, &len);
    char id[AG_ID_MAX] = "";
    const char *q = http_req_query(req, "frameworkId");

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
    struct find_fw_ctx f = {.id = id};
    master_foreach_framework(m, find_fw_cb, &f);
    if (f.fw && !authorized(m, req, ACL_TEARDOWN_FRAMEWORKS, f.fw->principal))
        return;
    if (master_teardown(m, id, "teardown requested by an operator") != 0) {
        http_reply_error(req, 404, "no framework %s", id);
        return;
    }
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
    struct adb *db = NULL;

    j->rc = report_open(&db, j->path, j->err, sizeof(j->err));
    if (j->rc == 0)
        j->rc = report_compute(db, &j->q, &j->out, j->err, sizeof(j->err));
    adb_close(db);
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
    struct report_job *j;
    int rc;

    if (!authorized(m, req, ACL_GET_ENDPOINTS, http_req_path(req)))
        return;
    if ((j = calloc(1, sizeof(*j))) == NULL) {
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
    snprintf(j->path, sizeof(j->path), "%s", master_accounting_path(m));
    j->req = req;
    j->work.data = j;
    http_req_on_abort(req, report_abort, j);
    if (uv_queue_work(master_loop(m), &j->work, report_work, report_done) != 0) {
        http_reply_error(req, 503, "cannot schedule the report");
        free(j);
    }
}

struct mhttp {
    struct http_server *http;
};

static void
on_master_stop(void *arg)
{
    mhttp_close(arg);
}

int
mhttp_open(struct mhttp **out, struct master *m)
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
        {"POST", "/drain", h_drain},
        {"POST", "/undrain", h_drain},
        {"GET", "/flags", h_flags},
        {"GET", "/health", h_health},
        {NULL, "/master/redirect", h_redirect},
        {NULL, "/redirect", h_redirect},
        {"GET", "/version", h_version},
        {"GET", "/metrics/snapshot", h_metrics_snapshot},
        {"GET", "/metrics", h_metrics},
        {"POST", "/teardown", h_teardown},
        {"GET", "/books", h_books},
        {"GET", "/accounting/report", h_accounting_report},
    };
    /* For load balancers, and clients looking for the leader. */
    static const char *const open_paths[] = {"/health", "/master/redirect", "/redirect", NULL};
    const struct master_flags *f = master_flags(m);
    struct mhttp *h;
    nng_tls_config *tls = NULL;
    char err[512];
    int rc;

    *out = NULL;
    if ((h = calloc(1, sizeof(*h))) == NULL)
        return -AG_ENOMEM;
    if (tls_serving(&f->tls)) {
        if ((rc = tls_server_config(&tls, &f->tls, err, sizeof(err))) != 0) {
            log_error("cannot serve TLS: %s", err);
            free(h);
            return rc;
        }
    }
    rc = http_server_open_tls(&h->http, master_loop(m), f->ip, (uint16_t)f->port, 0, tls);
    if (tls != NULL)
        nng_tls_config_free(tls);
    if (rc != 0) {
        log_error("cannot serve HTTP on %s:%d: %s (is another master running there?)", f->ip,
                  (int)f->port, ag_strerror(rc));
        free(h);
        return rc;
    }
    *out = h;
    if ((rc = http_server_authenticate(h->http, &f->http_auth, open_paths, err, sizeof(err))) !=
        0) {
        log_error("%s", err);
        return rc;
    }
    /* The agents' and frameworks' websocket links on this port are the transport's. */
    if ((rc = http_server_guard(h->http, &f->http_guard, master_is_stream_link, m)) != 0) {
        log_error("bad --http_request_timeout, --http_idle_timeout or --http_max_connections");
        return rc;
    }
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        rc = http_route(h->http, routes[i].method, routes[i].path, routes[i].fn, m,
                        routes[i].fn == h_redirect ? HTTP_ROUTE_PREFIX : 0);
        if (rc != 0)
            return rc;
    }
    if ((rc = assets_route(h->http, master_webui, master_webui_count)) != 0)
        return rc;
    master_on_stop(m, on_master_stop, h);
    return 0;
}

void
mhttp_close(struct mhttp *h)
{
    if (h == NULL)
        return;
    http_server_close(h->http);
    h->http = NULL;
}

void
mhttp_free(struct mhttp *h)
{
    free(h);
}
