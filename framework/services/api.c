/* The Marathon v2 REST API. See api.h. */
#define _GNU_SOURCE
#include "api.h"

#include "app.h"
#include "assets.h"
#include "error.h"
#include "events.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "svc.h"
#include "svc_deployments.h"
#include "svc_render.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The app view, generated from framework/services/webui/ at build time. */
extern const struct asset services_webui[];
extern const size_t services_webui_count;

/* ---- helpers ---- */

static bool
query_true(struct http_req *req, const char *key)
{
    const char *v = http_req_query(req, key);
    return v != NULL && (v[0] == '\0' || strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

static bool
query_false(struct http_req *req, const char *key)
{
    const char *v = http_req_query(req, key);
    return v != NULL && (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0);
}

static void
reply_conflict(struct http_req *req, const struct svc_dep *dep)
{
    char msg[512];

    snprintf(msg, sizeof(msg),
             "App is locked by one or more deployments. Override with the option "
             "'?force=true'. View details at '/v2/deployments/%s'.",
             dep->id);
    http_reply_json(req, 409,
                    json_pack("{s:s,s:[{s:s}]}", "message", msg, "deployments", "id", dep->id));
}

static void
reply_no_app(struct http_req *req, const char *id)
{
    char msg[APP_ID_MAX + 64];
    snprintf(msg, sizeof(msg), "App '%s' does not exist", id);
    http_reply_json(req, 404, json_pack("{s:s}", "message", msg));
}

static void
reply_deployment(struct http_req *req, int status, const struct svc_dep *dep)
{
    http_reply_json(req, status,
                    json_pack("{s:s,s:s}", "version", dep->version, "deploymentId", dep->id));
}

/* Parses the body as a JSON object; on failure replies 400 and returns NULL. */
static json_t *
body_json(struct http_req *req)
{
    char err[256];
    json_t *j;
    size_t len;

    http_req_body(req, &len);
    if (len == 0) {
        http_reply_json(req, 400,
                        json_pack("{s:s,s:[{s:s,s:[s]}]}", "message", "Invalid JSON", "details",
                                  "path", "/", "errors", "the request has no body"));
        return NULL;
    }
    j = http_req_json(req, err, sizeof(err));
    if (j == NULL) {
        http_reply_json(req, 400,
                        json_pack("{s:s,s:[{s:s,s:[s]}]}", "message", "Invalid JSON", "details",
                                  "path", "/", "errors", err));
        return NULL;
    }
    return j;
}

static void
post_event(struct svc *s, struct http_req *req, const json_t *app)
{
    const char *ip = http_req_header(req, "X-Forwarded-For");

    svc_emit(s, json_pack("{s:s,s:s,s:s,s:O}", "eventType", "api_post_event", "clientIp",
                          ip ? ip : "", "uri", http_req_path(req), "appDefinition", app));
}

/*
 * Checks that an app id fits the group tree: no app may be the group of
 * another (an existing "/a" forbids "/a/b"; an existing "/a/b" forbids "/a").
 */
static bool
id_fits_tree(struct svc *s, const char *id, struct app_errors *err)
{
    char prefix[APP_ID_MAX];
    size_t n, len = strlen(id);
    struct svc_app **apps = svc_apps_sorted(s, &n);
    bool ok = true;

    for (size_t i = 0; i < n && ok; i++) {
        const char *other = apps[i]->spec->id;
        size_t ol = strlen(other);
        if (ol < len && strncmp(id, other, ol) == 0 && id[ol] == '/') {
            app_errors_add(err, "/id", "%s is an app, so it cannot hold the app %s", other, id);
            ok = false;
        } else if (ol > len && strncmp(other, id, len) == 0 && other[len] == '/') {
            snprintf(prefix, sizeof(prefix), "%s", id);
            app_errors_add(err, "/id", "%s is a group holding %s; an app cannot have its id",
                           prefix, other);
            ok = false;
        }
    }
    free(apps);
    return ok;
}

/* manage_apps of app `id` (--acls): false after a 403 {"message": ...}; call
 * it before changing anything. */
static bool
may_manage(struct svc *s, struct http_req *req, const char *id)
{
    return http_req_authorized(req, s->f->acl_rules, ACL_MANAGE_APPS, id);
}

/* view_apps of app `id` (--acls): apps the caller may not view are left out
 * of lists and answered as missing. */
static bool
may_view(struct svc *s, struct http_req *req, const char *id)
{
    return acl_authorized(s->f->acl_rules, ACL_VIEW_APPS, http_req_principal(req), id);
}

/* Room left in a store record beside the app's definition (its id, its
 * lastTaskFailure, the record's own fields; a deployment's record holds one
 * definition and its own few fields). */
#define RECORD_SLACK 16384

/* Whether the definition of `spec` fits in the store's records (ZooKeeper's
 * ~1 MB nodes under --zk; SQLite has no limit): else replies 422 and returns
 * false. Call it before changing anything. */
static bool
app_fits_store(struct svc *s, struct http_req *req, const struct app_spec *spec)
{
    size_t max = store_record_max(s->store), len;
    char *text, msg[256];

    if (max == 0)
        return true;
    text = json_dumps(spec->json, JSON_COMPACT);
    len = text ? strlen(text) : SIZE_MAX / 2;
    free(text);
    if (len + RECORD_SLACK <= max)
        return true;
    snprintf(msg, sizeof(msg),
             "the app's definition takes %zu bytes in the store, over the %zu bytes a record may "
             "hold (ZooKeeper's node limit)",
             len, max - RECORD_SLACK);
    http_reply_json(req, 422,
                    json_pack("{s:s,s:[{s:s,s:[s]}]}", "message", "Object is not valid", "details",
                              "path", "/", "errors", msg));
    return false;
}

static void
reply_invalid(struct http_req *req, struct app_errors *err)
{
    http_reply_json(req, app_errors_status(err), app_errors_body(err));
}

/* ---- simple endpoints ---- */

static void
get_ping(void *arg, struct http_req *req)
{
    (void)arg;
    http_reply_text(req, 200, "text/plain", "pong\n", 5);
}

/* GET /metrics: JSON as Marathon serves it (Prometheus text with
 * ?format=prometheus); GET /metrics/snapshot: JSON, as the master and agent. */
static void
get_metrics(void *arg, struct http_req *req)
{
    metrics_reply(((struct svc *)arg)->metrics, req, http_req_query(req, "format"), false);
}

static void
get_info(void *arg, struct http_req *req)
{
    struct svc *s = arg;
    const struct svc_flags *f = s->f;

    http_reply_json(
        req, 200,
        json_pack("{s:s,s:s,s:s,s:b,s:s,s:s?,s:{s:s,s:f,s:s,s:s,s:s?,s:I,s:b,s:I,s:f,s:I},"
                  "s:{s:I},s:{s:s?,s:I,s:b}}",
                  "name", "agora-services", "version", AGORA_VERSION, "buildref", "", "elected",
                  true, "leader", s->leader, "frameworkId",
                  s->framework_id[0] ? s->framework_id : NULL, "marathon_config", "master",
                  f->master, "failover_timeout", f->failover_timeout_ms / 1000.0, "framework_name",
                  f->framework_name, "mesos_role", f->role, "mesos_user",
                  f->user && f->user[0] ? f->user : NULL, "decline_offer_duration",
                  (json_int_t)f->decline_ms, "auto_rollback", f->auto_rollback, "rollback_failures",
                  (json_int_t)f->rollback_failures, "unhealthy_kill_rate", f->unhealthy_kill_rate,
                  "max_versions", (json_int_t)f->max_versions, "http_config", "http_port",
                  (json_int_t)http_server_port(s->http), "zookeeper_config", "zk",
                  f->zk && f->zk[0] ? f->zk : NULL, "zk_session_timeout",
                  (json_int_t)f->zk_session_timeout_ms, "ha", f->zk && f->zk[0] && f->ha));
}

static void
get_leader(void *arg, struct http_req *req)
{
    struct svc *s = arg;
    http_reply_json(req, 200, json_pack("{s:s}", "leader", s->leader));
}

/* DELETE /v2/leader: this leader leaves the election (another instance leads)
 * and contends again. Allowed to who may manage every app. */
static void
delete_leader(void *arg, struct http_req *req)
{
    struct svc *s = arg;

    if (s->abdicate == NULL) {
        http_reply_json(req, 400,
                        json_pack("{s:s}", "message",
                                  "not in high availability (--zk): there is no other instance "
                                  "to hand leadership to"));
        return;
    }
    if (!may_manage(s, req, "/"))
        return;
    log_info("leadership abdicated through the API (principal %s)",
             http_req_principal(req) ? http_req_principal(req) : "none");
    http_reply_json(req, 200, json_pack("{s:s}", "message", "Leadership abdicated"));
    s->abdicate(s->abdicate_arg);
}

static void
get_events(void *arg, struct http_req *req)
{
    struct svc *s = arg;
    const char *types = http_req_query(req, "event_type");

    events_subscribe(s->events, req, types, http_req_header(req, "X-Forwarded-For"));
}

/* ---- /v2/apps ---- */

struct embed {
    bool tasks, failure;
};

static struct embed
parse_embed(struct http_req *req, bool single)
{
    struct embed e = {single, single};
    const char *v = http_req_query(req, "embed");

    if (v != NULL) {
        /* Given: exactly what it names (e.g. embed=none for counts only). */
        e.tasks = e.failure = false;
        if (strstr(v, "tasks") != NULL)
            e.tasks = true;
        if (strstr(v, "lastTaskFailure") != NULL)
            e.failure = true;
    }
    return e;
}

static void
reply_buf(struct http_req *req, struct svcr_buf *b)
{
    http_reply_text(req, 200, "application/json", b->p, b->len);
    free(b->p);
}

static void
get_apps(void *arg, struct http_req *req)
{
    struct svc *s = arg;
    const char *idf = http_req_query(req, "id"), *cmdf = http_req_query(req, "cmd");
    struct embed e = parse_embed(req, false);
    struct svcr_buf b = {0};
    struct svc_app **apps;
    size_t n;
    bool first = true;

    svcr_lit(&b, "{\"apps\":[");
    apps = svc_apps_sorted(s, &n);
    for (size_t i = 0; i < n; i++) {
        const struct app_spec *sp = apps[i]->spec;
        if (idf && idf[0] && strstr(sp->id, idf) == NULL)
            continue;
        if (cmdf && cmdf[0] && (sp->cmd == NULL || strstr(sp->cmd, cmdf) == NULL))
            continue;
        if (!may_view(s, req, sp->id))
            continue;
        if (!first)
            svcr_lit(&b, ",");
        first = false;
        svcr_app_text(apps[i], e.tasks, e.failure, &b);
    }
    free(apps);
    svcr_lit(&b, "]}");
    reply_buf(req, &b);
}

static void
post_apps(void *arg, struct http_req *req)
{
    struct svc *s = arg;
    struct app_errors err;
    struct app_spec *spec;
    struct svc_dep *dep = NULL, *conflict = NULL;
    struct svc_app *app;
    json_t *body = body_json(req), *out;
    char loc[APP_ID_MAX + 16];
    int rc;

    if (body == NULL)
        return;
    app_errors_init(&err);
    spec = app_parse(body, NULL, &err);
    if (spec != NULL && !may_manage(s, req, spec->id)) {
        app_free(spec);
        goto out;
    }
    if (spec != NULL && svc_app_get(s, spec->id) != NULL) {
        char msg[APP_ID_MAX + 64];
        snprintf(msg, sizeof(msg), "An app with id [%s] already exists.", spec->id);
        http_reply_json(req, 409, json_pack("{s:s}", "message", msg));
        app_free(spec);
        goto out;
    }
    if (spec == NULL || !id_fits_tree(s, spec->id, &err)) {
        app_free(spec);
        reply_invalid(req, &err);
        goto out;
    }
    if (!app_fits_store(s, req, spec)) {
        app_free(spec);
        goto out;
    }
    rc = svc_app_apply(s, spec, false, query_true(req, "force"), &dep, &conflict);
    if (rc != 0) {
        http_reply_error(req, 500, "%s", ag_strerror(rc));
        goto out;
    }
    svc_flush(s);
    app = dep->app;
    post_event(s, req, app->spec->json);
    out = svcr_app_json(app, false);
    snprintf(loc, sizeof(loc), "/v2/apps%s", app->spec->id);
    http_req_add_header(req, "Location", loc);
    http_reply_json(req, 201, out);
out:
    app_errors_fini(&err);
    json_decref(body);
}

/* PUT and PATCH of one app. */
static void
put_app(struct svc *s, struct http_req *req, const char *id, bool patch)
{
    struct svc_app *app = svc_app_get(s, id);
    struct app_errors err;
    struct app_spec *spec = NULL;
    struct svc_dep *dep = NULL, *conflict = NULL;
    json_t *body, *merged = NULL;
    const char *bid, *ver;
    bool partial = patch || !query_false(req, "partialUpdate");
    bool created = app == NULL;
    int rc;

    if (!may_manage(s, req, id) || (body = body_json(req)) == NULL)
        return;
    app_errors_init(&err);
    if (!json_is_object(body)) {
        err.type_error = true;
        app_errors_add(&err, "/", "error.expected.jsobject");
        reply_invalid(req, &err);
        goto out;
    }
    bid = json_string_value(json_object_get(body, "id"));
    if (bid != NULL) {
        char nid[APP_ID_MAX];
        if (app_id_normalize(bid, nid, NULL, 0) != 0 || strcmp(nid, id) != 0) {
            app_errors_add(&err, "/id", "the id in the body (%s) must match the path (%s)", bid,
                           id);
            reply_invalid(req, &err);
            goto out;
        }
    }
    ver = json_string_value(json_object_get(body, "version"));
    if (ver != NULL && app != NULL &&
        json_object_size(body) == (size_t)(1 + (json_object_get(body, "id") != NULL))) {
        /* {"version": V}: back to a stored version. */
        char *text = store_version_get(s->store, id, ver);
        json_t *old = text ? json_loads(text, 0, NULL) : NULL;
        free(text);
        if (old == NULL) {
            http_reply_json(req, 404, json_pack("{s:s}", "message", "no such version of the app"));
            goto out;
        }
        json_t *none = json_object();
        merged = app_merge(old, none);
        json_decref(none);
        json_decref(old);
    } else if (app != NULL && partial) {
        merged = app_merge(app->spec->json, body);
    } else {
        merged = json_incref(body);
    }
    if (patch && app == NULL) {
        reply_no_app(req, id);
        goto out;
    }
    spec = app_parse(merged, id, &err);
    if (spec == NULL || (created && !id_fits_tree(s, id, &err))) {
        app_free(spec);
        reply_invalid(req, &err);
        goto out;
    }
    if (!app_fits_store(s, req, spec)) {
        app_free(spec);
        goto out;
    }
    rc = svc_app_apply(s, spec, false, query_true(req, "force"), &dep, &conflict);
    if (rc == -AG_EEXIST) {
        reply_conflict(req, conflict);
        goto out;
    }
    svc_flush(s);
    post_event(s, req, dep->app->spec->json);
    reply_deployment(req, created ? 201 : 200, dep);
out:
    app_errors_fini(&err);
    json_decref(merged);
    json_decref(body);
}

static void
delete_app(struct svc *s, struct http_req *req, struct svc_app *app)
{
    struct svc_dep *dep, *conflict;

    if (!may_manage(s, req, app->spec->id))
        return;
    if (svc_app_remove(s, app, query_true(req, "force"), &dep, &conflict) != 0) {
        reply_conflict(req, conflict);
        return;
    }
    svc_flush(s);
    reply_deployment(req, 200, dep);
}

static void
restart_app(struct svc *s, struct http_req *req, struct svc_app *app)
{
    struct svc_dep *dep, *conflict;
    struct app_spec *spec;

    if (!may_manage(s, req, app->spec->id))
        return;
    spec = app_dup(app->spec);
    if (svc_app_apply(s, spec, true, query_true(req, "force"), &dep, &conflict) != 0) {
        reply_conflict(req, conflict);
        return;
    }
    svc_flush(s);
    reply_deployment(req, 200, dep);
}

/* Kills tasks; replies with the deployment (scale) or the tasks as they were
 * before the kill. */
static void
kill_tasks(struct svc *s, struct http_req *req, struct svc_task **tasks, size_t n, bool one)
{
    bool scale = query_true(req, "scale");
    struct svc_dep *dep = NULL, *conflict = NULL;
    struct svcr_buf b = {0};
    int rc;

    for (size_t i = 0; i < n; i++) /* all or nothing */
        if (!may_manage(s, req, tasks[i]->app ? tasks[i]->app->spec->id : NULL))
            return;
    if (one) {
        svcr_lit(&b, "{\"task\":");
        svcr_task_text(tasks[0], &b);
        svcr_lit(&b, "}");
    } else {
        svcr_lit(&b, "{\"tasks\":");
        svcr_tasks_text(tasks, n, &b);
        svcr_lit(&b, "}");
    }
    rc = svc_tasks_kill(s, tasks, n, scale, query_true(req, "force"), &dep, &conflict);
    if (rc == -AG_EEXIST) {
        free(b.p);
        reply_conflict(req, conflict);
        return;
    }
    svc_flush(s);
    if (scale && dep != NULL) {
        free(b.p);
        reply_deployment(req, 200, dep);
        return;
    }
    reply_buf(req, &b);
}

/* App `id`, or NULL when missing or when a GET comes from a caller who may
 * not view it (answered as missing, so nothing tells that it exists). */
static struct svc_app *
app_lookup(struct svc *s, struct http_req *req, const char *id)
{
    struct svc_app *app = svc_app_get(s, id);

    if (app != NULL && strcmp(http_req_method(req), "GET") == 0 && !may_view(s, req, id))
        return NULL;
    return app;
}

/* Routes /v2/apps/<rest>. */
static void
any_app(void *arg, struct http_req *req)
{
    struct svc *s = arg;
    const char *method = http_req_method(req);
    char sub[2048], id[APP_ID_MAX];
    struct svc_app *app;
    char *p;
    size_t len;

    snprintf(sub, sizeof(sub), "%s", http_req_subpath(req));
    len = strlen(sub);
    while (len > 0 && sub[len - 1] == '/')
        sub[--len] = '\0';

    /* Suffix routes, when what precedes them is an app. */
    if ((p = strstr(sub, "/restart")) != NULL && p[8] == '\0') {
        *p = '\0';
        if (app_id_normalize(sub, id, NULL, 0) == 0 && (app = app_lookup(s, req, id)) != NULL) {
            if (strcmp(method, "POST") != 0) {
                http_req_add_header(req, "Allow", "POST");
                http_reply_error(req, 405, "use POST to restart an app");
                return;
            }
            restart_app(s, req, app);
            return;
        }
        *p = '/';
    }
    if ((p = strstr(sub, "/tasks")) != NULL) {
        char *rest = p + 6;
        if (*rest == '\0' || (*rest == '/' && strchr(rest + 1, '/') == NULL)) {
            *p = '\0';
            if (app_id_normalize(sub, id, NULL, 0) == 0 && (app = app_lookup(s, req, id)) != NULL) {
                if (*rest == '\0') {
                    if (strcmp(method, "GET") == 0) {
                        struct svcr_buf b = {0};
                        svcr_lit(&b, "{\"tasks\":");
                        svcr_tasks_text(app->tasks, app->ntasks, &b);
                        svcr_lit(&b, "}");
                        reply_buf(req, &b);
                    } else if (strcmp(method, "DELETE") == 0) {
                        const char *host = http_req_query(req, "host");
                        struct svc_task **v = calloc(app->ntasks + 1, sizeof(*v));
                        size_t n = 0;
                        if (v == NULL)
                            abort();
                        for (size_t i = 0; i < app->ntasks; i++)
                            if (host == NULL || host[0] == '\0' ||
                                strcmp(app->tasks[i]->host, host) == 0)
                                v[n++] = app->tasks[i];
                        kill_tasks(s, req, v, n, false);
                        free(v);
                    } else {
                        http_req_add_header(req, "Allow", "GET, DELETE");
                        http_reply_error(req, 405, "method %s not allowed", method);
                    }
                    return;
                }
                /* /tasks/<taskId> */
                {
                    struct svc_task *t = hmap_get(&s->tasks, rest + 1);
                    if (t == NULL || t->app != app) {
                        http_reply_json(req, 404,
                                        json_pack("{s:s}", "message", "Task does not exist"));
                        return;
                    }
                    if (strcmp(method, "GET") == 0) {
                        struct svcr_buf b = {0};
                        svcr_lit(&b, "{\"task\":");
                        svcr_task_text(t, &b);
                        svcr_lit(&b, "}");
                        reply_buf(req, &b);
                    } else if (strcmp(method, "DELETE") == 0) {
                        kill_tasks(s, req, &t, 1, true);
                    } else {
                        http_req_add_header(req, "Allow", "GET, DELETE");
                        http_reply_error(req, 405, "method %s not allowed", method);
                    }
                    return;
                }
            }
            *p = '/';
        }
    }
    if ((p = strstr(sub, "/versions")) != NULL) {
        char *rest = p + 9;
        if (*rest == '\0' || (*rest == '/' && strchr(rest + 1, '/') == NULL)) {
            *p = '\0';
            if (app_id_normalize(sub, id, NULL, 0) == 0 && (app = app_lookup(s, req, id)) != NULL) {
                if (strcmp(method, "GET") != 0) {
                    http_req_add_header(req, "Allow", "GET");
                    http_reply_error(req, 405, "method %s not allowed", method);
                    return;
                }
                if (*rest == '\0') {
                    http_reply_json(
                        req, 200, json_pack("{s:o}", "versions", store_version_list(s->store, id)));
                } else {
                    char *text = store_version_get(s->store, id, rest + 1);
                    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
                    free(text);
                    if (j == NULL)
                        http_reply_json(req, 404, json_pack("{s:s}", "message", "no such version"));
                    else
                        http_reply_json(req, 200, j);
                }
                return;
            }
            *p = '/';
        }
    }

    if (app_id_normalize(sub, id, NULL, 0) != 0) {
        reply_no_app(req, sub);
        return;
    }
    app = app_lookup(s, req, id);
    if (strcmp(method, "GET") == 0) {
        struct embed e = parse_embed(req, true);
        if (app == NULL) {
            reply_no_app(req, id);
            return;
        }
        struct svcr_buf b = {0};
        svcr_lit(&b, "{\"app\":");
        svcr_app_text(app, e.tasks, e.failure, &b);
        svcr_lit(&b, "}");
        reply_buf(req, &b);
    } else if (strcmp(method, "PUT") == 0) {
        put_app(s, req, id, false);
    } else if (strcmp(method, "PATCH") == 0) {
        put_app(s, req, id, true);
    } else if (strcmp(method, "DELETE") == 0) {
        if (app == NULL) {
            reply_no_app(req, id);
            return;
        }
        delete_app(s, req, app);
    } else {
        http_req_add_header(req, "Allow", "GET, PUT, PATCH, DELETE");
        http_reply_error(req, 405, "method %s not allowed on an app", method);
    }
}

/* ---- /v2/tasks ---- */

static bool
status_matches(const char *filter, enum ag_task_state st)
{
    if (filter == NULL || filter[0] == '\0')
        return true;
    if (strcasecmp(filter, "running") == 0)
        return st == AG_TASK_RUNNING;
    if (strcasecmp(filter, "staging") == 0)
        return st == AG_TASK_STAGING || st == AG_TASK_STARTING;
    if (strcasecmp(filter, "unreachable") == 0)
        return st == AG_TASK_UNREACHABLE || st == AG_TASK_UNKNOWN;
    return strcasecmp(filter, ag_task_state_name(st) + 5) == 0;
}

static void
get_tasks(void *arg, struct http_req *req)
{
    struct svc *s = arg;
    const char *status = http_req_query(req, "status");
    struct svcr_buf b = {0};
    struct svc_app **apps;
    size_t n;
    bool first = true;

    svcr_lit(&b, "{\"tasks\":[");
    apps = svc_apps_sorted(s, &n);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < apps[i]->ntasks; k++)
            if (status_matches(status, apps[i]->tasks[k]->state) &&
                may_view(s, req, apps[i]->spec->id)) {
                if (!first)
                    svcr_lit(&b, ",");
                first = false;
                svcr_task_text(apps[i]->tasks[k], &b);
            }
    free(apps);
    svcr_lit(&b, "]}");
    reply_buf(req, &b);
}

static void
post_tasks_delete(void *arg, struct http_req *req)
{
    struct svc *s = arg;
    json_t *body = body_json(req), *ids;
    struct svc_task **v;
    size_t n = 0;

    if (body == NULL)
        return;
    ids = json_object_get(body, "ids");
    if (!json_is_array(ids)) {
        http_reply_json(req, 400,
                        json_pack("{s:s,s:[{s:s,s:[s]}]}", "message", "Invalid JSON", "details",
                                  "path", "/ids", "errors", "error.expected.jsarray"));
        json_decref(body);
        return;
    }
    v = calloc(json_array_size(ids) + 1, sizeof(*v));
    if (v == NULL)
        abort();
    for (size_t i = 0; i < json_array_size(ids); i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        struct svc_task *t = id ? hmap_get(&s->tasks, id) : NULL;
        bool dup = false;
        for (size_t k = 0; k < n && t; k++)
            dup = dup || v[k] == t;
        if (t != NULL && !dup)
            v[n++] = t;
    }
    kill_tasks(s, req, v, n, false);
    free(v);
    json_decref(body);
}

/* ---- /v2/deployments ---- */

static void
get_deployments(void *arg, struct http_req *req)
{
    struct svc *s = arg;
    json_t *arr = json_array();
    struct svc_app **apps;
    size_t n;

    apps = svc_apps_sorted(s, &n);
    for (size_t i = 0; i < n; i++)
        if (apps[i]->dep && may_view(s, req, apps[i]->spec->id))
            json_array_append_new(arr, svcd_json(apps[i]->dep));
    free(apps);
    http_reply_json(req, 200, arr);
}

static void
any_deployment(void *arg, struct http_req *req)
{
    struct svc *s = arg;
    const char *id = http_req_subpath(req), *method = http_req_method(req);
    struct svc_dep *dep = hmap_get(&s->deps, id), *rb = NULL;
    const char *app_id = dep != NULL && dep->app != NULL ? dep->app->spec->id : NULL;

    if (dep == NULL || (strcmp(method, "GET") == 0 && !may_view(s, req, app_id))) {
        http_reply_json(req, 404, json_pack("{s:s}", "message", "DeploymentPlan does not exist"));
        return;
    }
    if (strcmp(method, "GET") == 0) {
        http_reply_json(req, 200, svcd_json(dep));
        return;
    }
    if (strcmp(method, "DELETE") != 0) {
        http_req_add_header(req, "Allow", "GET, DELETE");
        http_reply_error(req, 405, "method %s not allowed", method);
        return;
    }
    if (!may_manage(s, req, app_id))
        return;
    if (query_true(req, "force")) {
        svc_dep_cancel(s, dep, true, &rb);
        svc_flush(s);
        http_reply_json(req, 202, NULL);
        return;
    }
    svc_dep_cancel(s, dep, false, &rb);
    svc_flush(s);
    if (rb == NULL) {
        http_reply_json(req, 202, NULL);
        return;
    }
    http_reply_json(req, 200,
                    json_pack("{s:s,s:s}", "deploymentId", rb->id, "version", rb->version));
}

/* ---- /v2/queue ---- */

static void
get_queue(void *arg, struct http_req *req)
{
    http_reply_json(req, 200, svcr_queue_json(arg));
}

static void
any_queue(void *arg, struct http_req *req)
{
    struct svc *s = arg;
    char sub[1024], id[APP_ID_MAX];
    struct svc_app *app;
    size_t len;

    snprintf(sub, sizeof(sub), "%s", http_req_subpath(req));
    len = strlen(sub);
    if (strcmp(http_req_method(req), "DELETE") != 0 || len < 6 ||
        strcmp(sub + len - 6, "/delay") != 0) {
        http_reply_error(req, 404, "use DELETE /v2/queue/{appId}/delay");
        return;
    }
    sub[len - 6] = '\0';
    if (app_id_normalize(sub, id, NULL, 0) != 0 || (app = svc_app_get(s, id)) == NULL) {
        reply_no_app(req, sub);
        return;
    }
    if (!may_manage(s, req, id))
        return;
    svc_reset_delay(s, app);
    http_reply_json(req, 204, NULL);
}

/* ---- /v2/groups ---- */

static json_t *
group_json(struct svc *s, const char *gid, struct svc_app **apps, size_t n)
{
    json_t *g = json_object(), *gapps = json_array(), *groups = json_array();
    size_t glen = strcmp(gid, "/") == 0 ? 0 : strlen(gid);
    char version[APP_VERSION_LEN + 1] = "";
    char last_child[APP_ID_MAX] = "";

    for (size_t i = 0; i < n; i++) {
        const char *id = apps[i]->spec->id;
        const char *rest, *slash;
        if (strncmp(id, gid, glen) != 0 || id[glen] != '/')
            continue;
        rest = id + glen + 1;
        if (strcmp(apps[i]->spec->version, version) > 0)
            snprintf(version, sizeof(version), "%s", apps[i]->spec->version);
        slash = strchr(rest, '/');
        if (slash == NULL) {
            json_array_append_new(gapps, svcr_app_json(apps[i], false));
            continue;
        }
        {
            char child[APP_ID_MAX];
            snprintf(child, sizeof(child), "%.*s", (int)(slash - id), id);
            if (strcmp(child, last_child) == 0)
                continue;
            snprintf(last_child, sizeof(last_child), "%s", child);
            json_array_append_new(groups, group_json(s, child, apps, n));
        }
    }
    json_object_set_new(g, "id", json_string(gid));
    json_object_set_new(g, "apps", gapps);
    json_object_set_new(g, "groups", groups);
    json_object_set_new(g, "pods", json_array());
    json_object_set_new(g, "dependencies", json_array());
    json_object_set_new(g, "version", version[0] ? json_string(version) : json_null());
    return g;
}

static void
get_group(struct svc *s, struct http_req *req, const char *gid)
{
    struct svc_app **apps;
    size_t n, glen = strlen(gid);
    bool any = strcmp(gid, "/") == 0;

    apps = svc_apps_sorted(s, &n);
    for (size_t i = 0; i < n && !any; i++)
        any = strncmp(apps[i]->spec->id, gid, glen) == 0 && apps[i]->spec->id[glen] == '/';
    if (!any) {
        char msg[APP_ID_MAX + 32];
        snprintf(msg, sizeof(msg), "Group '%s' does not exist", gid);
        http_reply_json(req, 404, json_pack("{s:s}", "message", msg));
    } else {
        http_reply_json(req, 200, group_json(s, gid, apps, n));
    }
    free(apps);
}

static void
get_groups(void *arg, struct http_req *req)
{
    get_group(arg, req, "/");
}

static void
any_group(void *arg, struct http_req *req)
{
    char id[APP_ID_MAX];
    const char *sub = http_req_subpath(req);

    if (sub[0] == '\0') {
        get_group(arg, req, "/");
        return;
    }
    if (app_id_normalize(sub, id, NULL, 0) != 0) {
        http_reply_json(req, 404, json_pack("{s:s}", "message", "no such group"));
        return;
    }
    get_group(arg, req, id);
}

/* ---- registration ---- */

int
api_register(struct svc *s)
{
    static const struct {
        const char *method, *path;
        http_handler_fn fn;
        int flags;
    } routes[] = {
        {"GET", "/ping", get_ping, 0},
        {"GET", "/metrics", get_metrics, 0},
        {"GET", "/metrics/snapshot", get_metrics, 0},
        {"GET", "/v2/info", get_info, 0},
        {"GET", "/v2/leader", get_leader, 0},
        {"DELETE", "/v2/leader", delete_leader, 0},
        {"GET", "/v2/events", get_events, 0},
        {"GET", "/v2/apps", get_apps, 0},
        {"POST", "/v2/apps", post_apps, 0},
        {NULL, "/v2/apps/", any_app, HTTP_ROUTE_PREFIX},
        {"GET", "/v2/tasks", get_tasks, 0},
        {"POST", "/v2/tasks/delete", post_tasks_delete, 0},
        {"GET", "/v2/deployments", get_deployments, 0},
        {NULL, "/v2/deployments/", any_deployment, HTTP_ROUTE_PREFIX},
        {"GET", "/v2/queue", get_queue, 0},
        {NULL, "/v2/queue/", any_queue, HTTP_ROUTE_PREFIX},
        {"GET", "/v2/groups", get_groups, 0},
        {"GET", "/v2/groups/", any_group, HTTP_ROUTE_PREFIX},
    };
    /* Marathon's /ping is what load balancers and health checks poll. */
    static const char *const open_paths[] = {"/ping", NULL};
    char err[512];
    int rc;

    if ((rc = http_server_authenticate(s->http, &s->f->http_auth, open_paths, err, sizeof(err))) !=
        0) {
        log_error("%s", err);
        return rc;
    }
    if ((rc = http_server_guard(s->http, &s->f->http_guard, NULL, NULL)) != 0) {
        log_error("bad --http_request_timeout, --http_idle_timeout or --http_max_connections");
        return rc;
    }
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        rc =
            http_route(s->http, routes[i].method, routes[i].path, routes[i].fn, s, routes[i].flags);
        if (rc != 0) {
            log_error("cannot register route %s: %s", routes[i].path, ag_strerror(rc));
            return rc;
        }
    }
    if ((rc = assets_route(s->http, services_webui, services_webui_count)) != 0)
        log_error("cannot register the web UI's routes: %s", ag_strerror(rc));
    return rc;
}
