/* Deployment records, rollback and app definitions. See svc_deployments.h. */
#define _GNU_SOURCE
#include "svc_deployments.h"

#include "events.h"
#include "ids.h"
#include "metrics.h"
#include "store.h"

#include <stdio.h>
#include <string.h>

static const char *
dep_action(enum svc_dep_kind k)
{
    switch (k) {
    case DEP_START:
        return "StartApplication";
    case DEP_SCALE:
        return "ScaleApplication";
    case DEP_STOP:
        return "StopApplication";
    default:
        return "RestartApplication";
    }
}

json_t *
svcd_json(const struct svc_dep *dep)
{
    const char *id = dep->app->spec->id;
    json_t *steps = json_array(), *cur;
    int total;

    if (dep->kind == DEP_START) {
        json_array_append_new(steps, json_pack("{s:[{s:s,s:s}]}", "actions", "action",
                                               "StartApplication", "app", id));
        json_array_append_new(steps, json_pack("{s:[{s:s,s:s}]}", "actions", "action",
                                               "ScaleApplication", "app", id));
    } else {
        json_array_append_new(steps, json_pack("{s:[{s:s,s:s}]}", "actions", "action",
                                               dep_action(dep->kind), "app", id));
    }
    total = (int)json_array_size(steps);
    cur = json_pack("[{s:s,s:s,s:[]}]", "action",
                    dep->kind == DEP_START ? "ScaleApplication" : dep_action(dep->kind), "app", id,
                    "readinessCheckResults");
    return json_pack("{s:s,s:s,s:[s],s:[],s:o,s:o,s:i,s:i}", "id", dep->id, "version", dep->version,
                     "affectedApps", id, "affectedPods", "steps", steps, "currentActions", cur,
                     "currentStep", total, "totalSteps", total);
}

/* The plan as events carry it. */
static json_t *
dep_plan(const struct svc_dep *dep)
{
    json_t *d = svcd_json(dep);
    json_t *orig = json_array(), *target = json_array();

    if (dep->original)
        json_array_append(orig, dep->original);
    if (dep->kind != DEP_STOP)
        json_array_append(target, dep->app->spec->json);
    json_object_set_new(d, "original", json_pack("{s:s,s:o}", "id", "/", "apps", orig));
    json_object_set_new(d, "target", json_pack("{s:s,s:o}", "id", "/", "apps", target));
    if (dep->rollback_of[0])
        json_object_set_new(d, "rollbackOf", json_string(dep->rollback_of));
    return d;
}

void
svcd_persist(struct svc *s, const struct svc_dep *dep)
{
    json_t *j = json_pack("{s:s,s:s,s:i,s:s,s:O?,s:i,s:f,s:s}", "id", dep->id, "appId",
                          dep->app->spec->id, "kind", (int)dep->kind, "version", dep->version,
                          "original", dep->original, "failures", dep->failures, "started",
                          dep->started, "rollbackOf", dep->rollback_of);
    char *text = json_dumps(j, JSON_COMPACT);

    SVC_STORE(store_dep_put(s->store, dep->id, dep->app->spec->id, text));
    free(text);
    json_decref(j);
}

struct svc_dep *
svcd_new(struct svc *s, struct svc_app *app, enum svc_dep_kind kind, json_t *original,
         const char *rollback_of)
{
    struct svc_dep *dep = xcalloc(1, sizeof(*dep));
    char uuid[IDS_UUID_LEN + 1];

    if (ids_new_uuid(uuid) != 0)
        abort();
    snprintf(dep->id, sizeof(dep->id), "%s", uuid);
    dep->app = app;
    dep->kind = kind;
    snprintf(dep->version, sizeof(dep->version), "%s", app->spec->version);
    dep->original = original;
    dep->started = clock_wall();
    if (rollback_of != NULL)
        snprintf(dep->rollback_of, sizeof(dep->rollback_of), "%s", rollback_of);
    app->dep = dep;
    if (hmap_put(&s->deps, dep->id, dep) != 0)
        xalloc_die(0);
    svcd_persist(s, dep);
    events_emit(s->events, json_pack("{s:s,s:o,s:{s:[{s:s,s:s}]}}", "eventType", "deployment_info",
                                     "plan", dep_plan(dep), "currentStep", "actions", "action",
                                     dep_action(kind), "app", app->spec->id));
    s->dirty = true;
    return dep;
}

void
svcd_free(struct svc_dep *dep)
{
    if (dep == NULL)
        return;
    json_decref(dep->original);
    free(dep);
}

static void
dep_drop(struct svc *s, struct svc_dep *dep)
{
    SVC_STORE(store_dep_del(s->store, dep->id));
    hmap_del(&s->deps, dep->id);
    if (dep->app->dep == dep)
        dep->app->dep = NULL;
    svcd_free(dep);
}

void
svcd_failed(struct svc *s, struct svc_dep *dep, const char *reason)
{
    log_info("deployment failed id=%s app=%s reason=\"%s\"", dep->id, dep->app->spec->id, reason);
    metrics_inc(s->m_dep_failed);
    events_emit(s->events, json_pack("{s:s,s:s,s:o,s:s}", "eventType", "deployment_failed", "id",
                                     dep->id, "plan", dep_plan(dep), "reason", reason));
    dep_drop(s, dep);
}

bool
svcd_succeeded(struct svc *s, struct svc_dep *dep)
{
    struct svc_app *app = dep->app;
    json_t *plan = dep_plan(dep);
    bool stop = dep->kind == DEP_STOP;

    log_info("deployment finished id=%s app=%s", dep->id, app->spec->id);
    metrics_inc(s->m_dep_ok);
    events_emit(s->events,
                json_pack("{s:s,s:O,s:{s:[{s:s,s:s}]}}", "eventType", "deployment_step_success",
                          "plan", plan, "currentStep", "actions", "action", dep_action(dep->kind),
                          "app", app->spec->id));
    events_emit(s->events, json_pack("{s:s,s:s,s:o}", "eventType", "deployment_success", "id",
                                     dep->id, "plan", plan));
    dep_drop(s, dep);
    return stop;
}

void
svcd_app_persist(struct svc *s, const struct svc_app *app)
{
    char *json = json_dumps(app->spec->json, JSON_COMPACT);
    char *lf = app->last_failure ? json_dumps(app->last_failure, JSON_COMPACT) : NULL;

    SVC_STORE(store_app_put(s->store, app->spec->id, json, lf));
    free(json);
    free(lf);
}

void
svcd_app_set_spec(struct svc *s, struct svc_app *app, struct app_spec *spec)
{
    char *json = json_dumps(spec->json, JSON_COMPACT);

    if (app->spec != spec) {
        app_free(app->spec);
        app->spec = spec;
    }
    SVC_STORE(store_version_put(s->store, spec->id, spec->version, json));
    SVC_STORE(store_version_trim(s->store, spec->id, (int)s->f->max_versions));
    free(json);
    svcd_app_persist(s, app);
}

struct svc_dep *
svcd_rollback(struct svc *s, struct svc_dep *dep, const char *reason)
{
    struct svc_app *app = dep->app;
    struct app_errors err;
    struct app_spec *orig;
    struct svc_dep *nd;
    json_t *current;
    enum svc_dep_kind kind;
    char dep_id[40];

    snprintf(dep_id, sizeof(dep_id), "%s", dep->id);
    if (dep->original == NULL) {
        /* A new app: rolling back removes it. */
        svcd_failed(s, dep, reason);
        return svcd_new(s, app, DEP_STOP, json_incref(app->spec->json), NULL);
    }
    app_errors_init(&err);
    orig = app_parse(dep->original, NULL, &err);
    app_errors_fini(&err);
    if (orig == NULL)
        abort();
    kind = app_config_differs(orig, app->spec) ? DEP_ROLLBACK : DEP_SCALE;
    current = json_incref(app->spec->json);
    svcd_failed(s, dep, reason);
    svcd_app_set_spec(s, app, orig);
    app->delay_s = 0;
    app->backoff_until = 0;
    metrics_inc(s->m_rollbacks);
    nd = svcd_new(s, app, kind, current, dep_id); /* the event names what it rolls back */
    log_info("rolling back app=%s to version=%s deployment=%s", app->spec->id, app->spec->version,
             nd->id);
    return nd;
}

void
svcd_add_failures(struct svc *s, struct svc_dep *dep, int n)
{
    char reason[256];

    dep->failures += n;
    svcd_persist(s, dep);
    if (!s->f->auto_rollback || dep->rollback_of[0] || dep->original == NULL ||
        (dep->kind != DEP_UPGRADE && dep->kind != DEP_RESTART) ||
        dep->failures < s->f->rollback_failures)
        return;
    snprintf(reason, sizeof(reason),
             "automatic rollback: %d tasks of version %s failed or failed their health check",
             dep->failures, dep->version);
    svcd_rollback(s, dep, reason);
}

void
svcd_load(struct svc *s, const char *id, const char *json)
{
    json_t *j = json_loads(json, 0, NULL);
    struct svc_app *app = hmap_get(&s->apps, json_string_value(json_object_get(j, "appId")) ?: "");
    struct svc_dep *dep;

    if (app == NULL || app->dep != NULL) {
        log_warn("stored deployment %s has no app; dropped", id);
        SVC_STORE(store_dep_del(s->store, id));
        json_decref(j);
        return;
    }
    dep = xcalloc(1, sizeof(*dep));
    snprintf(dep->id, sizeof(dep->id), "%s", id);
    dep->app = app;
    dep->kind = (enum svc_dep_kind)json_integer_value(json_object_get(j, "kind"));
    snprintf(dep->version, sizeof(dep->version), "%s",
             json_string_value(json_object_get(j, "version")));
    dep->original = json_object_get(j, "original");
    if (json_is_null(dep->original))
        dep->original = NULL;
    json_incref(dep->original);
    dep->failures = (int)json_integer_value(json_object_get(j, "failures"));
    dep->started = json_number_value(json_object_get(j, "started"));
    snprintf(dep->rollback_of, sizeof(dep->rollback_of), "%s",
             json_string_value(json_object_get(j, "rollbackOf")) ?: "");
    app->dep = dep;
    hmap_put(&s->deps, dep->id, dep);
    json_decref(j);
}
