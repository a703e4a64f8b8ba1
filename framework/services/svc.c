/* agora-services state machine and driver glue. See svc.h. */
#define _GNU_SOURCE
#include "svc.h"

#include "api.h"
#include "error.h"
#include "events.h"
#include "http.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "planner.h"
#include "resources.h"
#include "store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define TICK_MS 1000
#define KEEPALIVE_TICKS 15
#define KILL_RESEND_S 30.0

enum reject { REJ_CONSTRAINT, REJ_CPUS, REJ_MEM, REJ_DISK, REJ_PORTS, REJ_OTHER, REJ_MAX };
static const char *const svc_reject_names[REJ_MAX] = {"UnfulfilledConstraint", "InsufficientCpus",
                                                      "InsufficientMemory",    "InsufficientDisk",
                                                      "InsufficientPorts",     "Other"};

/* ---- small helpers ---- */

static void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL)
        abort();
    return p;
}

static char *
xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (d == NULL)
        abort();
    return d;
}

double
svc_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv.tv_sec + tv.tv_usec / 1e6;
}

static void
fmt_time(double t, char out[APP_VERSION_LEN + 1])
{
    app_format_time(t, out);
}

/* A version string later than any handed out before. */
static void
next_version(struct svc *s, char out[APP_VERSION_LEN + 1])
{
    double now = floor(svc_now() * 1000.0) / 1000.0;

    if (now <= s->last_version)
        now = s->last_version + 0.001;
    s->last_version = now;
    fmt_time(now, out);
}

static bool
state_unreachable(enum ag_task_state st)
{
    return st == AG_TASK_UNREACHABLE || st == AG_TASK_UNKNOWN;
}

static void
fatal_store(struct svc *s, int rc, const char *what)
{
    (void)s;
    log_error("store: %s failed: %s; exiting to restart from the last commit", what,
              ag_strerror(rc));
    exit(1);
}

#define STORE(s, call)                                                                             \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != 0)                                                                              \
            fatal_store((s), rc_, #call);                                                          \
    } while (0)

/* ---- effects waiting for the commit ---- */

enum out_kind { OUT_ACCEPT, OUT_KILL, OUT_ACK };

struct out_item {
    enum out_kind kind;
    char offer_id[64];
    struct ag_task **tasks;
    char **task_ids;
    size_t ntasks;
    double refuse_s;
    char task_id[64];
    char agent_id[64];
    struct ag_task_status *status;
};

struct svc_out {
    struct out_item *v;
    size_t n, cap;
};

static struct out_item *
out_push(struct svc *s, enum out_kind kind)
{
    struct svc_out *o = s->out;
    struct out_item *it;

    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 64;
        o->v = realloc(o->v, o->cap * sizeof(*o->v));
        if (o->v == NULL)
            abort();
    }
    it = &o->v[o->n++];
    memset(it, 0, sizeof(*it));
    it->kind = kind;
    return it;
}

static void task_end(struct svc *s, struct svc_task *t, enum ag_task_state state,
                     const char *reason, const char *message, bool count_failure);

/* ---- tasks ---- */

static void
task_free(struct svc_task *t)
{
    if (t == NULL)
        return;
    free(t->host);
    free(t->attrs_text);
    attr_fini(&t->attrs);
    free(t);
}

static void
app_add_task(struct svc_app *app, struct svc_task *t)
{
    if (app->ntasks == app->cap) {
        app->cap = app->cap ? app->cap * 2 : 16;
        app->tasks = realloc(app->tasks, app->cap * sizeof(*app->tasks));
        if (app->tasks == NULL)
            abort();
    }
    t->app = app;
    t->slot = app->ntasks;
    app->tasks[app->ntasks++] = t;
}

static void
app_remove_task(struct svc_app *app, struct svc_task *t)
{
    size_t i = t->slot;

    app->tasks[i] = app->tasks[--app->ntasks];
    app->tasks[i]->slot = i;
}

static void
ports_text(const struct svc_task *t, char *buf, size_t len)
{
    size_t o = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < t->nports && o < len; i++)
        o += snprintf(buf + o, len - o, "%s%u", i ? "," : "", t->ports[i]);
}

static void
task_persist(struct svc *s, const struct svc_task *t)
{
    char ports[APP_MAX_PORTS * 7 + 1];
    struct store_task row;

    ports_text(t, ports, sizeof(ports));
    row = (struct store_task){
        .id = t->id,
        .app_id = t->app->spec->id,
        .agent_id = t->agent_id,
        .host = t->host,
        .attrs = t->attrs_text,
        .ports = ports,
        .version = t->version,
        .cfg_version = t->cfg_version,
        .state = t->state,
        .healthy = t->healthy,
        .kill = t->kill,
        .returned = t->returned,
        .staged_at = t->staged_at,
        .started_at = t->started_at,
        .unreachable_since = t->unreachable_since,
        .seq = t->seq,
    };
    STORE(s, store_task_put(s->store, &row));
}

/* ---- apps ---- */

static struct svc_app *
app_new(struct svc *s, struct app_spec *spec)
{
    struct svc_app *app = xcalloc(1, sizeof(*app));

    app->spec = spec;
    app_task_prefix(spec->id, app->prefix, sizeof(app->prefix) > 27 ? 27 : sizeof(app->prefix));
    if (hmap_put(&s->apps, spec->id, app) != 0)
        abort();
    return app;
}

static void
app_persist(struct svc *s, struct svc_app *app)
{
    char *json = json_dumps(app->spec->json, JSON_COMPACT);
    char *lf = app->last_failure ? json_dumps(app->last_failure, JSON_COMPACT) : NULL;

    STORE(s, store_app_put(s->store, app->spec->id, json, lf));
    free(json);
    free(lf);
}

static void
app_destroy(struct svc *s, struct svc_app *app)
{
    hmap_del(&s->apps, app->spec->id);
    for (size_t i = 0; i < app->ntasks; i++) {
        hmap_del(&s->tasks, app->tasks[i]->id);
        task_free(app->tasks[i]);
    }
    free(app->tasks);
    json_decref(app->last_failure);
    app_free(app->spec);
    free(app);
}

struct svc_app *
svc_app_get(struct svc *s, const char *id)
{
    return hmap_get(&s->apps, id);
}

static int
app_cmp(const void *a, const void *b)
{
    const struct svc_app *x = *(const struct svc_app *const *)a;
    const struct svc_app *y = *(const struct svc_app *const *)b;
    return strcmp(x->spec->id, y->spec->id);
}

struct svc_app **
svc_apps_sorted(struct svc *s, size_t *n)
{
    struct svc_app **v = xcalloc(hmap_size(&s->apps), sizeof(*v));
    size_t it = 0, k = 0;
    void *val;

    while (hmap_next(&s->apps, &it, NULL, &val))
        v[k++] = val;
    qsort(v, k, sizeof(*v), app_cmp);
    *n = k;
    return v;
}

void
svc_emit(struct svc *s, json_t *event)
{
    events_emit(s->events, event);
}

/* ---- deployments ---- */

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
svc_dep_json(struct svc *s, const struct svc_dep *dep)
{
    const char *id = dep->app->spec->id;
    json_t *steps = json_array(), *cur;
    int total;

    (void)s;
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
dep_plan(struct svc *s, const struct svc_dep *dep)
{
    json_t *d = svc_dep_json(s, dep);
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

static void
dep_persist(struct svc *s, const struct svc_dep *dep)
{
    json_t *j = json_pack("{s:s,s:s,s:i,s:s,s:O?,s:i,s:f,s:s}", "id", dep->id, "appId",
                          dep->app->spec->id, "kind", (int)dep->kind, "version", dep->version,
                          "original", dep->original, "failures", dep->failures, "started",
                          dep->started, "rollbackOf", dep->rollback_of);
    char *text = json_dumps(j, JSON_COMPACT);

    STORE(s, store_dep_put(s->store, dep->id, dep->app->spec->id, text));
    free(text);
    json_decref(j);
}

static struct svc_dep *
dep_new(struct svc *s, struct svc_app *app, enum svc_dep_kind kind, json_t *original)
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
    dep->started = svc_now();
    if (s->rollback_of != NULL) {
        snprintf(dep->rollback_of, sizeof(dep->rollback_of), "%s", s->rollback_of);
        s->rollback_of = NULL;
    }
    app->dep = dep;
    if (hmap_put(&s->deps, dep->id, dep) != 0)
        abort();
    dep_persist(s, dep);
    svc_emit(s, json_pack("{s:s,s:o,s:{s:[{s:s,s:s}]}}", "eventType", "deployment_info", "plan",
                          dep_plan(s, dep), "currentStep", "actions", "action", dep_action(kind),
                          "app", app->spec->id));
    s->dirty = true;
    return dep;
}

static void
dep_drop(struct svc *s, struct svc_dep *dep)
{
    STORE(s, store_dep_del(s->store, dep->id));
    hmap_del(&s->deps, dep->id);
    if (dep->app->dep == dep)
        dep->app->dep = NULL;
    json_decref(dep->original);
    free(dep);
}

static void
dep_failed(struct svc *s, struct svc_dep *dep, const char *reason)
{
    log_info("deployment failed id=%s app=%s reason=\"%s\"", dep->id, dep->app->spec->id, reason);
    metrics_inc(s->m_dep_failed);
    svc_emit(s, json_pack("{s:s,s:s,s:o,s:s}", "eventType", "deployment_failed", "id", dep->id,
                          "plan", dep_plan(s, dep), "reason", reason));
    dep_drop(s, dep);
}

static void
dep_succeeded(struct svc *s, struct svc_dep *dep)
{
    struct svc_app *app = dep->app;
    json_t *plan = dep_plan(s, dep);

    log_info("deployment finished id=%s app=%s", dep->id, app->spec->id);
    metrics_inc(s->m_dep_ok);
    svc_emit(s, json_pack("{s:s,s:O,s:{s:[{s:s,s:s}]}}", "eventType", "deployment_step_success",
                          "plan", plan, "currentStep", "actions", "action", dep_action(dep->kind),
                          "app", app->spec->id));
    svc_emit(s, json_pack("{s:s,s:s,s:o}", "eventType", "deployment_success", "id", dep->id, "plan",
                          plan));
    if (dep->kind == DEP_STOP) {
        char id[APP_ID_MAX];
        snprintf(id, sizeof(id), "%s", app->spec->id);
        for (size_t i = 0; i < app->ntasks; i++)
            STORE(s, store_task_del(s->store, app->tasks[i]->id));
        dep_drop(s, dep);
        STORE(s, store_app_del(s->store, id));
        app_destroy(s, app);
        svc_emit(s, json_pack("{s:s,s:s}", "eventType", "app_terminated_event", "appId", id));
        return;
    }
    dep_drop(s, dep);
}

/* Replaces the app's definition (taking `spec`) and records the version. */
static void
app_replace_spec(struct svc *s, struct svc_app *app, struct app_spec *spec)
{
    char *json = json_dumps(spec->json, JSON_COMPACT);

    if (app->spec != spec) {
        app_free(app->spec);
        app->spec = spec;
    }
    STORE(s, store_version_put(s->store, spec->id, spec->version, json));
    STORE(s, store_version_trim(s->store, spec->id, (int)s->f->max_versions));
    free(json);
    app_persist(s, app);
}

/* Automatic (or requested) rollback: back to the definition before `dep`. */
static struct svc_dep *
rollback(struct svc *s, struct svc_dep *dep, const char *reason)
{
    struct svc_app *app = dep->app;
    struct app_errors err;
    struct app_spec *orig;
    json_t *current;
    enum svc_dep_kind kind;
    char dep_id[40];

    snprintf(dep_id, sizeof(dep_id), "%s", dep->id);
    if (dep->original == NULL) {
        /* A new app: rolling back removes it. */
        dep_failed(s, dep, reason);
        return dep_new(s, app, DEP_STOP, json_incref(app->spec->json));
    }
    app_errors_init(&err);
    orig = app_parse(dep->original, NULL, &err);
    app_errors_fini(&err);
    if (orig == NULL)
        abort();
    kind = app_config_differs(orig, app->spec) ? DEP_ROLLBACK : DEP_SCALE;
    current = json_incref(app->spec->json);
    dep_failed(s, dep, reason);
    app_replace_spec(s, app, orig);
    app->delay_s = 0;
    app->backoff_until = 0;
    metrics_inc(s->m_rollbacks);
    s->rollback_of = dep_id; /* dep_new records it (and puts it in the event) */
    {
        struct svc_dep *nd = dep_new(s, app, kind, current);
        log_info("rolling back app=%s to version=%s deployment=%s", app->spec->id,
                 app->spec->version, nd->id);
        return nd;
    }
}

static void
maybe_auto_rollback(struct svc *s, struct svc_app *app)
{
    struct svc_dep *dep = app->dep;
    char reason[256];

    if (dep == NULL || !s->f->auto_rollback || dep->rollback_of[0] || dep->original == NULL ||
        (dep->kind != DEP_UPGRADE && dep->kind != DEP_RESTART) ||
        dep->failures < s->f->rollback_failures)
        return;
    snprintf(reason, sizeof(reason),
             "automatic rollback: %d tasks of version %s failed or failed their health check",
             dep->failures, dep->version);
    rollback(s, dep, reason);
}

/* ---- kills and task ends ---- */

static void
send_kill(struct svc *s, struct svc_task *t)
{
    struct out_item *it = out_push(s, OUT_KILL);

    snprintf(it->task_id, sizeof(it->task_id), "%s", t->id);
    snprintf(it->agent_id, sizeof(it->agent_id), "%s", t->agent_id);
    t->kill_sent = true;
    t->kill_at = svc_now();
}

static void
task_kill(struct svc *s, struct svc_task *t, enum conv_reason reason)
{
    if (t->kill != 0)
        return;
    t->kill = reason;
    task_persist(s, t);
    metrics_inc(s->m_killed);
    if (s->subscribed)
        send_kill(s, t);
    if (reason == CONV_KILL_UNHEALTHY) {
        metrics_inc(s->m_unhealthy_kills);
        svc_emit(s, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "eventType",
                              "unhealthy_instance_kill_event", "appId", t->app->spec->id, "taskId",
                              t->id, "instanceId", t->id, "version", t->version, "reason",
                              "failed its health check", "host", t->host, "slaveId", t->agent_id));
    }
    log_info("killing task=%s app=%s reason=%d", t->id, t->app->spec->id, (int)reason);
}

static void
bump_backoff(struct svc_app *app, double now)
{
    const struct app_spec *sp = app->spec;

    if (app->delay_s <= 0)
        app->delay_s = sp->backoff_s;
    else
        app->delay_s *= sp->backoff_factor;
    if (app->delay_s > sp->max_delay_s)
        app->delay_s = sp->max_delay_s;
    app->backoff_until = now + app->delay_s;
}

/*
 * A task reached a terminal state (or was expunged). `count_failure`: an end
 * svc did not ask for; sets lastTaskFailure and, for failures of the task's
 * own making, grows the launch delay.
 */
static void
task_end(struct svc *s, struct svc_task *t, enum ag_task_state state, const char *reason,
         const char *message, bool count_failure)
{
    struct svc_app *app = t->app;
    double now = svc_now();

    if (count_failure && t->kill == 0) {
        char ts[APP_VERSION_LEN + 1];
        bool own = state == AG_TASK_FAILED || state == AG_TASK_FINISHED || state == AG_TASK_ERROR ||
                   state == AG_TASK_KILLED;
        metrics_inc(s->m_failed);
        fmt_time(now, ts);
        json_decref(app->last_failure);
        app->last_failure = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "appId", app->spec->id,
                                      "host", t->host, "message", message ? message : "", "state",
                                      ag_task_state_name(state), "taskId", t->id, "timestamp", ts,
                                      "version", t->version, "slaveId", t->agent_id);
        if (reason && reason[0])
            json_object_set_new(app->last_failure, "reason", json_string(reason));
        if (own)
            bump_backoff(app, now);
        app_persist(s, app);
        if (app->dep && strcmp(t->cfg_version, app->spec->last_config_change_at) == 0 &&
            (app->dep->kind == DEP_UPGRADE || app->dep->kind == DEP_RESTART)) {
            app->dep->failures++;
            dep_persist(s, app->dep);
            maybe_auto_rollback(s, app);
        }
    }
    STORE(s, store_task_del(s->store, t->id));
    hmap_del(&s->tasks, t->id);
    app_remove_task(app, t);
    task_free(t);
    s->dirty = true;
}

/* ---- convergence ---- */

static void
converge_app(struct svc *s, struct svc_app *app, double now)
{
    const struct app_spec *sp = app->spec;
    struct conv_task *ct;
    struct conv_kill *kills;
    struct svc_task **snap;
    struct conv_in in;
    struct conv_out out;
    size_t n;

    /* Expunge tasks unreachable for too long. */
    for (size_t i = 0; i < app->ntasks;) {
        struct svc_task *t = app->tasks[i];
        if (state_unreachable(t->state) && t->unreachable_since > 0 &&
            now - t->unreachable_since >= sp->expunge_after_s) {
            log_info("expunging task=%s app=%s (unreachable for %.0fs)", t->id, sp->id,
                     now - t->unreachable_since);
            task_end(s, t, AG_TASK_GONE, "", "expunged: unreachable too long", false);
            continue;
        }
        i++;
    }
    n = app->ntasks;
    ct = xcalloc(n, sizeof(*ct));
    kills = xcalloc(n, sizeof(*kills));
    snap = xcalloc(n, sizeof(*snap));
    for (size_t i = 0; i < n; i++) {
        struct svc_task *t = app->tasks[i];
        bool unreach = state_unreachable(t->state);
        snap[i] = t;
        ct[i].current = strcmp(t->cfg_version, sp->last_config_change_at) == 0;
        ct[i].killing = t->kill != 0;
        ct[i].running = t->state == AG_TASK_RUNNING;
        ct[i].unreachable = unreach;
        ct[i].inactive = unreach && t->unreachable_since > 0 &&
                         now - t->unreachable_since >= sp->inactive_after_s;
        ct[i].returned = t->returned;
        ct[i].healthy = t->healthy;
        ct[i].staged_at = (double)t->seq; /* launch order; stagedAt ties within an offer */
    }
    in = (struct conv_in){
        .instances = (int)sp->instances,
        .min_health = sp->min_health,
        .max_over = sp->max_over,
        .youngest_first = sp->kill_selection == APP_YOUNGEST_FIRST,
        .has_checks = sp->hc != NULL,
        .replace_unhealthy = sp->hc != NULL && sp->hc->max_failures > 0,
        .kind = CONV_KEEP,
        .kill_tokens = (int)floor(s->tokens),
    };
    if (app->dep != NULL) {
        switch (app->dep->kind) {
        case DEP_UPGRADE:
        case DEP_RESTART:
        case DEP_ROLLBACK:
            in.kind = CONV_REPLACE;
            break;
        case DEP_STOP:
            in.kind = CONV_STOP;
            break;
        default:
            break;
        }
    }
    out.kills = kills;
    conv_run(&in, ct, n, &out);
    s->tokens -= out.tokens_used;
    for (size_t k = 0; k < out.nkills; k++)
        task_kill(s, snap[kills[k].idx], kills[k].reason);
    app->launch = out.launch;
    if (app->launch > 0 && app->queued_since == 0)
        app->queued_since = now;
    else if (app->launch == 0)
        app->queued_since = 0;
    free(ct);
    free(kills);
    free(snap);
    if (app->dep != NULL && out.unhealthy_new_killed > 0 &&
        (app->dep->kind == DEP_UPGRADE || app->dep->kind == DEP_RESTART)) {
        app->dep->failures += out.unhealthy_new_killed;
        dep_persist(s, app->dep);
        maybe_auto_rollback(s, app);
        return;
    }
    if (app->dep != NULL && out.done)
        dep_succeeded(s, app->dep); /* may free `app` (STOP) */
}

static void
converge_all(struct svc *s)
{
    double now = svc_now();
    size_t n;
    struct svc_app **apps;

    if (!s->reconciled)
        return;
    for (int round = 0; round < 3 && s->dirty; round++) {
        s->dirty = false;
        apps = svc_apps_sorted(s, &n);
        for (size_t i = 0; i < n; i++)
            converge_app(s, apps[i], now);
        free(apps);
    }
}

/* Whether any app has tasks to start now. */
static int
pending_launches(struct svc *s, double now)
{
    size_t it = 0;
    void *val;
    int n = 0;

    while (hmap_next(&s->apps, &it, NULL, &val)) {
        struct svc_app *app = val;
        if (app->launch > 0 && app->backoff_until <= now)
            n += app->launch;
    }
    return n;
}

static void
update_offer_interest(struct svc *s)
{
    int pending;

    if (!s->subscribed || s->driver == NULL)
        return;
    pending = s->reconciled ? pending_launches(s, svc_now()) : 0;
    if (pending > 0 && (s->offers_wanted != 1 || pending > s->last_pending)) {
        ag_driver_revive(s->driver, NULL);
        s->offers_wanted = 1;
    } else if (pending == 0 && s->offers_wanted != 0) {
        ag_driver_suppress(s->driver, NULL);
        s->offers_wanted = 0;
    }
    s->last_pending = pending;
}

/* ---- launching ---- */

static void
env_add_num(struct ag_task *t, const char *name, double v)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%g", v);
    ag_task_add_env(t, name, buf);
}

/* Builds the ag_task for a placed task. Returns NULL (logged) on failure. */
static struct ag_task *
build_task(struct svc *s, struct svc_app *app, const struct svc_task *st,
           const struct plan_fit *fit)
{
    const struct app_spec *sp = app->spec;
    const struct app_health_check *hc = sp->hc;
    struct ag_task *t;
    char *res, name[APP_ID_MAX];
    json_t *v;
    const char *k;
    int rc = 0;

    (void)s;
    snprintf(name, sizeof(name), "%s", sp->id + 1);
    for (char *p = name; *p; p++)
        if (*p == '/')
            *p = '.';
    t = ag_task_new(st->id, name, NULL);
    res = res_to_string(&fit->res);
    if (t == NULL || res == NULL)
        goto fail;
    rc = ag_task_set_resources(t, res);
    if (rc == 0 && sp->cmd != NULL)
        rc = ag_task_set_command(t, sp->cmd);
    else if (rc == 0)
        rc = ag_task_set_argv(t, sp->nargs, (const char *const *)sp->args);
    json_object_foreach(json_object_get(sp->json, "env"), k, v)
    {
        if (rc == 0)
            rc = ag_task_add_env(t, k, json_string_value(v));
    }
    if (rc == 0) {
        ag_task_add_env(t, "MARATHON_APP_ID", sp->id);
        ag_task_add_env(t, "MARATHON_APP_VERSION", sp->version);
        env_add_num(t, "MARATHON_APP_RESOURCE_CPUS", sp->cpus);
        env_add_num(t, "MARATHON_APP_RESOURCE_MEM", sp->mem);
        env_add_num(t, "MARATHON_APP_RESOURCE_DISK", sp->disk);
    }
    json_object_foreach(json_object_get(sp->json, "labels"), k, v)
    {
        if (rc == 0)
            rc = ag_task_add_label(t, k, json_string_value(v));
    }
    if (rc == 0)
        rc = ag_task_add_label(t, "AGORA_APP_ID", sp->id);
    if (rc == 0)
        rc = ag_task_add_label(t, "MARATHON_APP_ID", sp->id);
    if (rc == 0 && sp->user)
        rc = ag_task_set_user(t, sp->user);
    if (rc == 0 && sp->image)
        rc = ag_task_set_image(t, sp->image);
    if (rc == 0 && sp->network && strcmp(sp->network, "host") != 0)
        rc = ag_task_set_network(t, sp->network);
    if (rc == 0 && sp->kill_grace_s >= 0)
        rc = ag_task_set_kill_grace(t, (int64_t)(sp->kill_grace_s * 1000));
    if (rc == 0 && hc != NULL) {
        if (hc->protocol == APP_HC_COMMAND)
            rc = ag_task_set_health_check_command(t, hc->command);
        else if (hc->protocol == APP_HC_HTTP)
            rc = ag_task_set_health_check_http(t, hc->port, hc->port_index, hc->path);
        else
            rc = ag_task_set_health_check_tcp(t, hc->port, hc->port_index);
        if (rc == 0)
            rc = ag_task_set_health_check_timing(t, hc->delay_s, hc->interval_s, hc->timeout_s,
                                                 hc->max_failures > 0 ? hc->max_failures : 1,
                                                 hc->grace_s);
    }
    if (rc != 0)
        goto fail;
    free(res);
    return t;
fail:
    log_error("cannot build task %s of app %s: %s", st->id, sp->id, ag_last_error());
    free(res);
    ag_task_free(t);
    return NULL;
}

static enum reject
reject_of(const char *why)
{
    if (why == NULL)
        return REJ_OTHER;
    if (strcmp(why, "cpus") == 0)
        return REJ_CPUS;
    if (strcmp(why, "mem") == 0)
        return REJ_MEM;
    if (strcmp(why, "disk") == 0)
        return REJ_DISK;
    if (strcmp(why, "ports") == 0)
        return REJ_PORTS;
    return REJ_CONSTRAINT;
}

struct placed_list {
    struct plan_placed *v;
    size_t n, cap;
};

static void
placed_add(struct placed_list *p, const char *host, const struct attributes *attrs)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->v = realloc(p->v, p->cap * sizeof(*p->v));
        if (p->v == NULL)
            abort();
    }
    p->v[p->n].hostname = host;
    p->v[p->n].attrs = attrs;
    p->n++;
}

static void
decline(struct svc *s, const char *offer_id, double refuse_s)
{
    metrics_inc(s->m_declined);
    ag_driver_decline(s->driver, &offer_id, 1, refuse_s);
}

/* Remembers the agent of an offer (hostname, attributes) for GROUP_BY. */
static void
note_agent(struct svc *s, const struct ag_offer *o)
{
    struct svc_agent *a = hmap_get(&s->agents, ag_offer_agent_id(o));

    if (a == NULL) {
        a = xcalloc(1, sizeof(*a));
        attr_init(&a->attrs);
        if (hmap_put(&s->agents, ag_offer_agent_id(o), a) != 0)
            abort();
    }
    if (a->hostname == NULL || strcmp(a->hostname, ag_offer_hostname(o)) != 0) {
        free(a->hostname);
        a->hostname = xstrdup(ag_offer_hostname(o));
    }
    attr_parse(&a->attrs, ag_offer_attributes(o), NULL, 0);
}

/* One offer being filled. */
struct offer_ctx {
    const struct ag_offer *o;
    struct plan_agent a;
    struct attributes attrs;
    bool ok;
    long acc; /* index of its OUT_ACCEPT in s->out, -1 = none yet */
    size_t cap;
};

/* Creates the task record for a placement and adds it to the offer's accept. */
static bool
place_task(struct svc *s, struct svc_app *app, struct offer_ctx *c, const struct plan_fit *fit,
           double now)
{
    struct svc_task *t = xcalloc(1, sizeof(*t));
    struct out_item *acc;
    struct ag_task *task;
    char uuid[IDS_UUID_LEN + 1];

    ids_new_uuid(uuid);
    snprintf(t->id, sizeof(t->id), "%s.%s", app->prefix, uuid);
    snprintf(t->agent_id, sizeof(t->agent_id), "%s", ag_offer_agent_id(c->o));
    t->host = xstrdup(c->a.hostname);
    t->attrs_text = xstrdup(ag_offer_attributes(c->o));
    attr_init(&t->attrs);
    if (attr_copy(&t->attrs, &c->attrs) != 0)
        abort();
    memcpy(t->ports, fit->ports, fit->nports * sizeof(uint32_t));
    t->nports = fit->nports;
    snprintf(t->version, sizeof(t->version), "%s", app->spec->version);
    snprintf(t->cfg_version, sizeof(t->cfg_version), "%s", app->spec->last_config_change_at);
    t->state = AG_TASK_STAGING;
    t->healthy = -1;
    t->staged_at = now;
    t->seq = ++s->seq;
    task = build_task(s, app, t, fit);
    if (task == NULL) {
        task_free(t);
        return false;
    }
    app_add_task(app, t);
    if (hmap_put(&s->tasks, t->id, t) != 0)
        abort();
    task_persist(s, t);
    if (c->acc < 0) {
        acc = out_push(s, OUT_ACCEPT);
        snprintf(acc->offer_id, sizeof(acc->offer_id), "%s", ag_offer_id(c->o));
        c->acc = (long)(acc - s->out->v);
    }
    acc = &s->out->v[c->acc];
    if (acc->ntasks == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        acc->tasks = realloc(acc->tasks, c->cap * sizeof(*acc->tasks));
        acc->task_ids = realloc(acc->task_ids, c->cap * sizeof(*acc->task_ids));
        if (acc->tasks == NULL || acc->task_ids == NULL)
            abort();
    }
    acc->tasks[acc->ntasks] = task;
    acc->task_ids[acc->ntasks] = xstrdup(t->id);
    acc->ntasks++;
    app->launch--;
    metrics_inc(s->m_launched);
    return true;
}

/*
 * Fills the offers of one loop turn with the tasks that wait, app by app, one
 * task per offer in turn, so that an app spreads over the agents offered.
 */
static void
fill_offers(struct svc *s, struct offer_ctx *ctx, size_t n, double now,
            const struct plan_placed *known, size_t nknown)
{
    int64_t max = s->f->max_tasks_per_offer;
    struct svc_app **apps;
    size_t napps;

    apps = svc_apps_sorted(s, &napps);
    for (size_t k = 0; k < napps; k++) {
        struct svc_app *app = apps[k];
        struct placed_list placed = {0};
        struct plan_fit fit;
        bool progress = true, *tried = xcalloc(n, sizeof(bool));

        if (app->launch <= 0 || app->backoff_until > now) {
            free(tried);
            continue;
        }
        if (app->spec->ncons > 0)
            for (size_t i = 0; i < app->ntasks; i++)
                if (app->tasks[i]->kill == 0)
                    placed_add(&placed, app->tasks[i]->host, &app->tasks[i]->attrs);
        plan_fit_init(&fit);
        while (app->launch > 0 && progress) {
            progress = false;
            for (size_t i = 0; i < n && app->launch > 0; i++) {
                struct offer_ctx *c = &ctx[i];
                const char *why = NULL;
                if (!c->ok || (max > 0 && c->acc >= 0 && (int64_t)s->out->v[c->acc].ntasks >= max))
                    continue;
                if (!tried[i]) {
                    tried[i] = true;
                    app->offers_processed++;
                }
                if (plan_fit(app->spec, s->default_roles, &c->a, placed.v, placed.n, known, nknown,
                             &fit, &why) != 0) {
                    app->rejects[reject_of(why)]++;
                    continue;
                }
                if (!place_task(s, app, c, &fit, now)) {
                    app->launch = 0; /* cannot be built: retried at the next convergence */
                    break;
                }
                if (app->spec->ncons > 0)
                    placed_add(&placed, app->tasks[app->ntasks - 1]->host,
                               &app->tasks[app->ntasks - 1]->attrs);
                progress = true;
            }
        }
        for (size_t i = 0; i < n; i++)
            if (tried[i] && ctx[i].acc < 0)
                app->offers_unused++;
        plan_fit_fini(&fit);
        free(placed.v);
        free(tried);
    }
    free(apps);
}

static void
handle_offers(struct svc *s, struct ag_offer **offers, size_t n)
{
    double now = svc_now();
    struct plan_placed *known;
    struct offer_ctx *ctx;
    size_t nknown = 0, it = 0;
    void *val;
    char err[256];
    int pending;

    for (size_t i = 0; i < n; i++) {
        note_agent(s, offers[i]);
        metrics_inc(s->m_offers);
    }
    converge_all(s);
    if (!s->reconciled || s->stopping || pending_launches(s, now) == 0) {
        for (size_t i = 0; i < n; i++)
            decline(s, ag_offer_id(offers[i]), s->reconciled ? s->f->decline_ms / 1000.0 : 1.0);
        return;
    }
    known = xcalloc(hmap_size(&s->agents), sizeof(*known));
    while (hmap_next(&s->agents, &it, NULL, &val)) {
        struct svc_agent *a = val;
        known[nknown].hostname = a->hostname;
        known[nknown].attrs = &a->attrs;
        nknown++;
    }
    ctx = xcalloc(n, sizeof(*ctx));
    for (size_t i = 0; i < n; i++) {
        struct offer_ctx *c = &ctx[i];
        c->o = offers[i];
        c->acc = -1;
        attr_init(&c->attrs);
        res_init(&c->a.avail);
        c->a.hostname = ag_offer_hostname(c->o);
        c->a.attrs = &c->attrs;
        c->ok = res_parse(&c->a.avail, ag_offer_resources(c->o), err, sizeof(err)) == 0 &&
                attr_parse(&c->attrs, ag_offer_attributes(c->o), err, sizeof(err)) == 0;
        if (!c->ok)
            log_warn("offer %s: cannot parse: %s", ag_offer_id(c->o), err);
    }
    fill_offers(s, ctx, n, now, known, nknown);
    pending = pending_launches(s, now);
    for (size_t i = 0; i < n; i++) {
        struct offer_ctx *c = &ctx[i];
        if (c->acc >= 0)
            s->out->v[c->acc].refuse_s = pending > 0 ? 0 : s->f->decline_ms / 1000.0;
        else
            decline(s, ag_offer_id(c->o),
                    pending > 0 ? s->f->decline_unfit_ms / 1000.0 : s->f->decline_ms / 1000.0);
        res_fini(&c->a.avail);
        attr_fini(&c->attrs);
    }
    free(ctx);
    free(known);
}

/* ---- status updates ---- */

struct update {
    const char *task_id, *agent_id, *reason, *message, *source;
    enum ag_task_state state;
    int healthy;
};

static void
apply_update(struct svc *s, const struct update *u)
{
    struct svc_task *t = hmap_get(&s->tasks, u->task_id);
    enum ag_task_state prev;
    int prev_healthy;
    double now = svc_now();
    json_t *ports;

    metrics_inc(s->m_updates);
    if (t == NULL) {
        if (!ag_task_state_terminal(u->state) && s->driver != NULL) {
            log_info("killing unknown task=%s state=%s", u->task_id, ag_task_state_name(u->state));
            ag_driver_kill(s->driver, u->task_id, u->agent_id[0] ? u->agent_id : NULL);
        }
        return;
    }
    prev = t->state;
    prev_healthy = t->healthy;
    if (u->agent_id[0] && strcmp(t->agent_id, u->agent_id) != 0)
        snprintf(t->agent_id, sizeof(t->agent_id), "%s", u->agent_id);
    ports = json_array();
    for (size_t i = 0; i < t->nports; i++)
        json_array_append_new(ports, json_integer(t->ports[i]));
    if (u->state != prev || strcmp(u->reason, "REASON_RECONCILIATION") != 0)
        svc_emit(s, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:[],s:o,s:s}", "eventType",
                              "status_update_event", "slaveId", t->agent_id, "taskId", t->id,
                              "taskStatus", ag_task_state_name(u->state), "message", u->message,
                              "appId", t->app->spec->id, "host", t->host, "ipAddresses", "ports",
                              ports, "version", t->version));
    else
        json_decref(ports);
    if (ag_task_state_terminal(u->state)) {
        bool own_drop =
            u->state == AG_TASK_DROPPED && strcmp(u->source, "SOURCE_SCHEDULER_DRIVER") == 0;
        log_info("task ended task=%s app=%s state=%s reason=%s message=\"%s\"", t->id,
                 t->app->spec->id, ag_task_state_name(u->state), u->reason, u->message);
        task_end(s, t, u->state, u->reason, u->message, !own_drop);
        return;
    }
    t->state = u->state;
    if (u->state == AG_TASK_RUNNING && t->started_at == 0)
        t->started_at = now;
    if (state_unreachable(u->state)) {
        if (t->unreachable_since == 0)
            t->unreachable_since = now;
    } else if (t->unreachable_since > 0) {
        if (now - t->unreachable_since >= t->app->spec->inactive_after_s) {
            t->returned = true;
            log_info("task came back after being replaced task=%s app=%s", t->id, t->app->spec->id);
        }
        t->unreachable_since = 0;
    }
    if (u->healthy >= 0)
        t->healthy = u->healthy;
    if (t->healthy != prev_healthy && t->healthy >= 0) {
        t->health_at = now;
        svc_emit(s,
                 json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "eventType", "health_status_changed_event",
                           "appId", t->app->spec->id, "taskId", t->id, "instanceId", t->id,
                           "version", t->version, "alive", t->healthy == 1));
    }
    if (t->state != prev || t->healthy != prev_healthy || t->returned)
        task_persist(s, t);
    s->dirty = true;
}

/* ---- driver events (driver thread -> loop) ---- */

enum drv_type {
    DRV_SUBSCRIBED,
    DRV_OFFERS,
    DRV_STATUS,
    DRV_ERROR,
    DRV_DISCONNECTED,
    DRV_RECONCILED
};

struct drv_ev {
    enum drv_type type;
    struct svc *s;
    struct ag_driver *d;
    char text[512];
    bool flag;
    int code;
    struct ag_offer **offers;
    size_t n;
    struct ag_task_status *status;
};

static void drv_handle(void *arg, int status);

static void
drv_post(struct svc *s, struct drv_ev *e)
{
    if (evq_post(&s->q, drv_handle, e) != 0) {
        for (size_t i = 0; i < e->n; i++)
            ag_offer_free(e->offers[i]);
        free(e->offers);
        ag_status_free(e->status);
        free(e);
    }
}

static struct drv_ev *
drv_ev_new(struct svc *s, struct ag_driver *d, enum drv_type type)
{
    struct drv_ev *e = xcalloc(1, sizeof(*e));
    e->s = s;
    e->d = d;
    e->type = type;
    return e;
}

static void
cb_subscribed(struct ag_driver *d, void *arg, const char *framework_id, bool resubscribed)
{
    struct drv_ev *e = drv_ev_new(arg, d, DRV_SUBSCRIBED);
    snprintf(e->text, sizeof(e->text), "%s", framework_id);
    e->flag = resubscribed;
    drv_post(arg, e);
}

static void
cb_offers(struct ag_driver *d, void *arg, const struct ag_offer *const *offers, size_t n)
{
    struct drv_ev *e = drv_ev_new(arg, d, DRV_OFFERS);

    e->offers = xcalloc(n, sizeof(*e->offers));
    for (size_t i = 0; i < n; i++) {
        e->offers[e->n] = ag_offer_dup(offers[i]);
        if (e->offers[e->n] == NULL)
            abort();
        e->n++;
    }
    drv_post(arg, e);
}

static void
cb_status(struct ag_driver *d, void *arg, const struct ag_task_status *st)
{
    struct drv_ev *e = drv_ev_new(arg, d, DRV_STATUS);

    e->status = ag_status_dup(st);
    if (e->status == NULL)
        abort();
    drv_post(arg, e);
}

static void
cb_error(struct ag_driver *d, void *arg, int code, const char *message, bool fatal)
{
    struct drv_ev *e = drv_ev_new(arg, d, DRV_ERROR);

    snprintf(e->text, sizeof(e->text), "%s", message);
    e->code = code;
    e->flag = fatal;
    drv_post(arg, e);
}

static void
cb_disconnected(struct ag_driver *d, void *arg)
{
    drv_post(arg, drv_ev_new(arg, d, DRV_DISCONNECTED));
}

static void
cb_reconciled(struct ag_driver *d, void *arg)
{
    drv_post(arg, drv_ev_new(arg, d, DRV_RECONCILED));
}

static int driver_start(struct svc *s);

static void
on_subscribed(struct svc *s, const char *fid, bool resub)
{
    const char **ids, **agents;
    size_t n = 0, it = 0;
    void *val;

    log_info("subscribed framework_id=%s resubscribed=%d", fid, resub);
    if (strcmp(s->framework_id, fid) != 0) {
        snprintf(s->framework_id, sizeof(s->framework_id), "%s", fid);
        STORE(s, store_meta_put(s->store, "framework_id", fid));
        svc_flush(s);
    }
    s->subscribed = true;
    s->offers_wanted = -1;
    /* Reconcile every task on record, then ask for all the master knows. */
    ids = xcalloc(hmap_size(&s->tasks), sizeof(*ids));
    agents = xcalloc(hmap_size(&s->tasks), sizeof(*agents));
    while (hmap_next(&s->tasks, &it, NULL, &val)) {
        struct svc_task *t = val;
        t->kill_sent = false;
        ids[n] = t->id;
        agents[n] = t->agent_id[0] ? t->agent_id : NULL;
        n++;
    }
    if (n > 0) {
        ag_driver_reconcile_until_known(s->driver, ids, agents, n, 1.0, 30.0);
        if (!s->reconciled)
            s->reconcile_started = svc_now();
    } else if (!s->reconciled) {
        s->reconciled = true;
        log_info("nothing to reconcile");
    }
    ag_driver_reconcile(s->driver, NULL, NULL, 0);
    free(ids);
    free(agents);
    /* Kills that were waiting for the connection. */
    it = 0;
    while (hmap_next(&s->tasks, &it, NULL, &val)) {
        struct svc_task *t = val;
        if (t->kill != 0)
            send_kill(s, t);
    }
    s->dirty = true;
}

/* The master removed the framework (operator teardown, or its failover timeout
 * passed) or refuses its id: its tasks are gone. Deliberately start anew. */
static void
on_framework_removed(struct svc *s, const char *message)
{
    size_t it = 0;
    void *val;
    struct ag_driver *old = s->driver;

    log_error("FRAMEWORK REMOVED: the master removed or refused framework %s (%s); all its "
              "tasks are killed; registering as a new framework and relaunching every app",
              s->framework_id, message);
    s->driver = NULL;
    ag_driver_free(old);
    while (s->tasks.n > 0) {
        it = 0;
        if (!hmap_next(&s->tasks, &it, NULL, &val))
            break;
        task_end(s, val, AG_TASK_LOST, "REASON_FRAMEWORK_REMOVED", "framework removed", false);
    }
    s->framework_id[0] = '\0';
    STORE(s, store_meta_put(s->store, "framework_id", ""));
    svc_flush(s);
    s->subscribed = false;
    s->reconciled = true;
    if (driver_start(s) != 0) {
        log_error("cannot start a new driver; exiting");
        exit(1);
    }
}

static void
drv_handle(void *arg, int status)
{
    struct drv_ev *e = arg;
    struct svc *s = e->s;

    if (status != 0 || e->d != s->driver || s->stopping) {
        /* Queue closed, or an event of a driver already replaced: only release. */
        for (size_t i = 0; i < e->n; i++) {
            if (status == 0 && s->driver != NULL && e->d == s->driver) {
                const char *id = ag_offer_id(e->offers[i]);
                ag_driver_decline(s->driver, &id, 1, 1.0);
            }
            ag_offer_free(e->offers[i]);
        }
        free(e->offers);
        ag_status_free(e->status);
        free(e);
        return;
    }
    switch (e->type) {
    case DRV_SUBSCRIBED:
        on_subscribed(s, e->text, e->flag);
        break;
    case DRV_OFFERS:
        /* Kept for the end of the loop turn: all offers of a turn are filled together. */
        for (size_t i = 0; i < e->n; i++) {
            if (s->noffers == s->capoffers) {
                s->capoffers = s->capoffers ? s->capoffers * 2 : 16;
                s->offers = realloc(s->offers, s->capoffers * sizeof(*s->offers));
                if (s->offers == NULL)
                    abort();
            }
            s->offers[s->noffers++] = e->offers[i];
        }
        e->n = 0;
        break;
    case DRV_STATUS: {
        struct update u = {
            .task_id = ag_status_task_id(e->status),
            .agent_id = ag_status_agent_id(e->status),
            .reason = ag_status_reason(e->status),
            .message = ag_status_message(e->status),
            .source = ag_status_source(e->status),
            .state = ag_status_state(e->status),
            .healthy = ag_status_healthy(e->status),
        };
        struct out_item *it;
        apply_update(s, &u);
        /* Acknowledge after the commit. */
        it = out_push(s, OUT_ACK);
        it->status = e->status;
        e->status = NULL;
        break;
    }
    case DRV_ERROR:
        if (e->flag) {
            if (e->code == -AG_EPERM) {
                log_error("the master refused our authentication: %s", e->text);
                s->exit_code = 1;
                svc_stop(s);
            } else {
                on_framework_removed(s, e->text);
            }
        } else {
            log_warn("driver error: %s (%s)", e->text, ag_strerror(e->code));
        }
        break;
    case DRV_DISCONNECTED:
        log_warn("disconnected from the master; the driver reconnects");
        s->subscribed = false;
        break;
    case DRV_RECONCILED:
        if (!s->reconciled)
            log_info("reconciliation done after %.1fs", svc_now() - s->reconcile_started);
        s->reconciled = true;
        s->dirty = true;
        break;
    }
    for (size_t i = 0; i < e->n; i++)
        ag_offer_free(e->offers[i]);
    free(e->offers);
    ag_status_free(e->status);
    free(e);
}

/* ---- flush, tick ---- */

void
svc_flush(struct svc *s)
{
    struct svc_out *o = s->out;
    int rc;

    if (store_in_txn(s->store) && (rc = store_commit(s->store)) != 0)
        fatal_store(s, rc, "commit");
    for (size_t i = 0; i < o->n; i++) {
        struct out_item *it = &o->v[i];
        switch (it->kind) {
        case OUT_ACCEPT: {
            const char *id = it->offer_id;
            rc = s->driver
                     ? ag_driver_accept(s->driver, &id, 1, it->tasks, it->ntasks, it->refuse_s)
                     : -AG_ECLOSED;
            if (rc != 0) {
                /* Not sent: the tasks never started. */
                log_warn("accept of offer %s failed: %s; %zu tasks dropped", id, ag_strerror(rc),
                         it->ntasks);
                for (size_t k = 0; k < it->ntasks; k++) {
                    struct svc_task *t = hmap_get(&s->tasks, it->task_ids[k]);
                    if (t != NULL)
                        task_end(s, t, AG_TASK_DROPPED, "", "launch not sent", false);
                }
            }
            for (size_t k = 0; k < it->ntasks; k++) {
                ag_task_free(it->tasks[k]);
                free(it->task_ids[k]);
            }
            free(it->tasks);
            free(it->task_ids);
            break;
        }
        case OUT_KILL:
            if (s->driver)
                ag_driver_kill(s->driver, it->task_id, it->agent_id[0] ? it->agent_id : NULL);
            break;
        case OUT_ACK:
            if (s->driver)
                ag_driver_acknowledge_status(s->driver, it->status);
            ag_status_free(it->status);
            break;
        }
    }
    o->n = 0;
    /* Drops above may have written. */
    if (store_in_txn(s->store) && (rc = store_commit(s->store)) != 0)
        fatal_store(s, rc, "commit");
}

static void
on_prepare(uv_prepare_t *h)
{
    struct svc *s = h->data;

    if (s->stopping)
        return;
    if (s->noffers > 0) {
        size_t n = s->noffers;
        s->noffers = 0;
        handle_offers(s, s->offers, n);
        for (size_t i = 0; i < n; i++)
            ag_offer_free(s->offers[i]);
    }
    if (s->dirty)
        converge_all(s);
    update_offer_interest(s);
    if (s->out->n > 0 || store_in_txn(s->store))
        svc_flush(s);
}

static void
on_tick(uv_timer_t *h)
{
    struct svc *s = h->data;
    double now = svc_now();
    size_t it = 0;
    void *val;

    s->tokens += (now - s->tokens_at) * s->f->unhealthy_kill_rate;
    if (s->tokens > s->f->unhealthy_kill_burst)
        s->tokens = (double)s->f->unhealthy_kill_burst;
    s->tokens_at = now;
    if (!s->reconciled && s->subscribed &&
        now - s->reconcile_started > s->f->reconciliation_timeout_ms / 1000.0) {
        log_warn("reconciliation still waits for %zu tasks after %.0fs; going on",
                 s->driver ? ag_driver_reconcile_pending(s->driver) : 0,
                 now - s->reconcile_started);
        s->reconciled = true;
    }
    if (s->subscribed) {
        while (hmap_next(&s->tasks, &it, NULL, &val)) {
            struct svc_task *t = val;
            if (t->kill != 0 && (!t->kill_sent || now - t->kill_at > KILL_RESEND_S))
                send_kill(s, t);
        }
    }
    if (++s->ticks % KEEPALIVE_TICKS == 0)
        events_keepalive(s->events);
    s->dirty = true;
}

static void
on_signal(uv_signal_t *h, int signum)
{
    struct svc *s = h->data;

    log_info("received signal %d, stopping (the framework stays registered)", signum);
    svc_stop(s);
}

/* ---- loading ---- */

static void
load_app(void *arg, const char *id, const char *json, const char *last_failure)
{
    struct svc *s = arg;
    struct app_errors err;
    struct app_spec *spec;
    struct svc_app *app;
    json_t *j = json_loads(json, 0, NULL);

    app_errors_init(&err);
    spec = j ? app_parse(j, NULL, &err) : NULL;
    if (spec == NULL) {
        char *d = json_dumps(err.details, JSON_COMPACT);
        log_error("stored app %s does not parse (%s); skipped", id, d ? d : "");
        free(d);
        app_errors_fini(&err);
        json_decref(j);
        return;
    }
    app_errors_fini(&err);
    json_decref(j);
    app = app_new(s, spec);
    if (last_failure)
        app->last_failure = json_loads(last_failure, 0, NULL);
}

static void
load_dep(void *arg, const char *id, const char *json)
{
    struct svc *s = arg;
    json_t *j = json_loads(json, 0, NULL);
    struct svc_app *app = svc_app_get(s, json_string_value(json_object_get(j, "appId")));
    struct svc_dep *dep;

    if (app == NULL || app->dep != NULL) {
        log_warn("stored deployment %s has no app; dropped", id);
        STORE(s, store_dep_del(s->store, id));
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

static void
load_task(void *arg, const struct store_task *r)
{
    struct svc *s = arg;
    struct svc_app *app = svc_app_get(s, r->app_id);
    struct svc_task *t;
    const char *p;

    t = xcalloc(1, sizeof(*t));
    snprintf(t->id, sizeof(t->id), "%s", r->id);
    snprintf(t->agent_id, sizeof(t->agent_id), "%s", r->agent_id);
    t->host = xstrdup(r->host);
    t->attrs_text = xstrdup(r->attrs);
    attr_init(&t->attrs);
    attr_parse(&t->attrs, r->attrs, NULL, 0);
    for (p = r->ports; *p && t->nports < APP_MAX_PORTS;) {
        t->ports[t->nports++] = (uint32_t)strtoul(p, (char **)&p, 10);
        if (*p == ',')
            p++;
        else
            break;
    }
    snprintf(t->version, sizeof(t->version), "%s", r->version);
    snprintf(t->cfg_version, sizeof(t->cfg_version), "%s", r->cfg_version);
    t->state = (enum ag_task_state)r->state;
    t->healthy = r->healthy;
    t->kill = r->kill;
    t->returned = r->returned;
    t->staged_at = r->staged_at;
    t->started_at = r->started_at;
    t->unreachable_since = r->unreachable_since;
    t->seq = r->seq;
    if (t->seq > s->seq)
        s->seq = t->seq;
    if (app == NULL) {
        /* Its app is gone: kill it once connected. */
        log_warn("task %s of unknown app %s: will be killed", r->id, r->app_id);
        STORE(s, store_task_del(s->store, r->id));
        task_free(t);
        return;
    }
    app_add_task(app, t);
    hmap_put(&s->tasks, t->id, t);
}

/* ---- driver ---- */

static int
driver_start(struct svc *s)
{
    const struct svc_flags *f = s->f;
    struct ag_framework_info *fi = ag_framework_info_new();
    struct ag_scheduler_callbacks cb = {
        .size = sizeof(cb),
        .subscribed = cb_subscribed,
        .offers = cb_offers,
        .status_update = cb_status,
        .error = cb_error,
        .disconnected = cb_disconnected,
        .reconciled = cb_reconciled,
    };
    char url[400];
    int rc;

    if (fi == NULL)
        abort();
    snprintf(url, sizeof(url), "http://%s", s->leader);
    ag_framework_info_set_name(fi, f->framework_name);
    if (f->user && f->user[0])
        ag_framework_info_set_user(fi, f->user);
    if (f->role && strcmp(f->role, "*") != 0 && (rc = ag_framework_info_add_role(fi, f->role)) != 0)
        goto out;
    ag_framework_info_add_capability(fi, "PARTITION_AWARE");
    ag_framework_info_set_failover_timeout(fi, f->failover_timeout_ms / 1000.0);
    ag_framework_info_set_checkpoint(fi, true);
    ag_framework_info_set_hostname(fi, f->hostname);
    ag_framework_info_set_webui_url(fi, url);
    if (f->principal && f->principal[0])
        ag_framework_info_set_principal(fi, f->principal,
                                        f->secret && f->secret[0] ? f->secret : NULL);
    if (s->framework_id[0])
        ag_framework_info_set_framework_id(fi, s->framework_id);
    rc = ag_driver_new(&s->driver, f->master, fi, &cb, s);
    if (rc != 0) {
        log_error("cannot create the scheduler driver: %s (%s)", ag_strerror(rc), ag_last_error());
        goto out;
    }
    ag_driver_set_auto_ack(s->driver, false);
    rc = ag_driver_start(s->driver);
    if (rc != 0)
        log_error("cannot start the scheduler driver: %s", ag_strerror(rc));
out:
    ag_framework_info_free(fi);
    return rc;
}

/* ---- metrics gauges ---- */

static double
g_apps(void *arg)
{
    return (double)hmap_size(&((struct svc *)arg)->apps);
}

static double
g_tasks(void *arg)
{
    return (double)hmap_size(&((struct svc *)arg)->tasks);
}

static double
g_running(void *arg)
{
    struct svc *s = arg;
    size_t it = 0, n = 0;
    void *val;
    while (hmap_next(&s->tasks, &it, NULL, &val))
        if (((struct svc_task *)val)->state == AG_TASK_RUNNING)
            n++;
    return (double)n;
}

static double
g_deps(void *arg)
{
    return (double)hmap_size(&((struct svc *)arg)->deps);
}

static double
g_subscribed(void *arg)
{
    return ((struct svc *)arg)->subscribed ? 1 : 0;
}

static double
g_events(void *arg)
{
    return (double)events_count(((struct svc *)arg)->events);
}

static double
g_uptime(void *arg)
{
    return svc_now() - ((struct svc *)arg)->started_at;
}

static void
metrics_setup(struct svc *s)
{
    struct metrics *m = s->metrics;

    s->m_launched = metrics_counter(m, "services/tasks_launched");
    s->m_killed = metrics_counter(m, "services/tasks_killed");
    s->m_failed = metrics_counter(m, "services/tasks_failed");
    s->m_updates = metrics_counter(m, "services/status_updates");
    s->m_offers = metrics_counter(m, "services/offers_received");
    s->m_declined = metrics_counter(m, "services/offers_declined");
    s->m_dep_ok = metrics_counter(m, "services/deployments_succeeded");
    s->m_dep_failed = metrics_counter(m, "services/deployments_failed");
    s->m_rollbacks = metrics_counter(m, "services/rollbacks");
    s->m_unhealthy_kills = metrics_counter(m, "services/unhealthy_kills");
    metrics_gauge_fn(m, "services/apps", g_apps, s);
    metrics_gauge_fn(m, "services/tasks", g_tasks, s);
    metrics_gauge_fn(m, "services/tasks_running", g_running, s);
    metrics_gauge_fn(m, "services/deployments", g_deps, s);
    metrics_gauge_fn(m, "services/subscribed", g_subscribed, s);
    metrics_gauge_fn(m, "services/event_subscribers", g_events, s);
    metrics_gauge_fn(m, "services/uptime_secs", g_uptime, s);
}

/* ---- start, stop ---- */

int
svc_start(struct svc *s, uv_loop_t *loop, const struct svc_flags *f)
{
    char path[4096], err[512];
    char *fid;
    int rc;

    memset(s, 0, sizeof(*s));
    s->loop = loop;
    s->f = f;
    s->out = xcalloc(1, sizeof(*s->out));
    s->offers_wanted = -1;
    s->started_at = svc_now();
    s->tokens = (double)f->unhealthy_kill_burst;
    s->tokens_at = s->started_at;
    hmap_init(&s->apps);
    hmap_init(&s->tasks);
    hmap_init(&s->deps);
    hmap_init(&s->agents);
    s->events = events_new();
    s->metrics = metrics_new();
    if (s->metrics == NULL)
        abort();
    metrics_setup(s);
    s->default_roles[0] = "*";
    if (f->role && strcmp(f->role, "*") != 0)
        s->default_roles[1] = f->role;
    snprintf(s->leader, sizeof(s->leader), "%s:%lld", f->hostname, (long long)f->http_port);

    snprintf(path, sizeof(path), "%s/services.db", f->work_dir);
    rc = store_open(&s->store, path, err, sizeof(err));
    if (rc != 0) {
        log_error("cannot open %s: %s", path, err);
        return rc;
    }
    fid = store_meta_get(s->store, "framework_id");
    if (fid != NULL) {
        snprintf(s->framework_id, sizeof(s->framework_id), "%s", fid);
        free(fid);
    }
    if ((rc = store_app_load(s->store, load_app, s)) != 0 ||
        (rc = store_dep_load(s->store, load_dep, s)) != 0 ||
        (rc = store_task_load(s->store, load_task, s)) != 0) {
        log_error("cannot load the state from %s: %s", path, ag_strerror(rc));
        return rc;
    }
    if ((rc = store_commit(s->store)) != 0)
        return rc;
    log_info("loaded apps=%zu tasks=%zu deployments=%zu framework_id=%s", hmap_size(&s->apps),
             hmap_size(&s->tasks), hmap_size(&s->deps),
             s->framework_id[0] ? s->framework_id : "(new)");
    {
        /* Versions are handed out after the newest one on record. */
        size_t it = 0;
        void *val;
        while (hmap_next(&s->apps, &it, NULL, &val)) {
            struct svc_app *app = val;
            struct tm tm;
            char *end;
            memset(&tm, 0, sizeof(tm));
            end = strptime(app->spec->version, "%Y-%m-%dT%H:%M:%S", &tm);
            if (end != NULL) {
                double t = (double)timegm(&tm) + strtod(end, NULL);
                if (t > s->last_version)
                    s->last_version = t;
            }
        }
    }

    if ((rc = evq_init(&s->q, loop)) != 0)
        return rc;
    uv_prepare_init(loop, &s->prepare);
    s->prepare.data = s;
    uv_prepare_start(&s->prepare, on_prepare);
    uv_timer_init(loop, &s->tick);
    s->tick.data = s;
    uv_timer_start(&s->tick, on_tick, TICK_MS, TICK_MS);
    uv_signal_init(loop, &s->sigint);
    uv_signal_init(loop, &s->sigterm);
    s->sigint.data = s->sigterm.data = s;
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);

    rc = http_server_open(&s->http, loop, f->ip, (uint16_t)f->http_port, 1 << 20);
    if (rc != 0) {
        log_error("cannot listen on %s:%lld: %s", f->ip, (long long)f->http_port, ag_strerror(rc));
        return rc;
    }
    if ((rc = api_register(s)) != 0)
        return rc;
    log_info("REST API on http://%s:%d", f->ip, http_server_port(s->http));
    return driver_start(s);
}

static void
handle_closed(uv_handle_t *h)
{
    (void)h;
}

void
svc_stop(struct svc *s)
{
    if (s->stopping)
        return;
    s->stopping = true;
    if (s->driver != NULL) {
        struct ag_driver *d = s->driver;
        svc_flush(s);
        s->driver = NULL;
        ag_driver_free(d);
    }
    if (s->store != NULL && store_in_txn(s->store))
        store_commit(s->store);
    http_server_close(s->http);
    s->http = NULL;
    events_free(s->events);
    s->events = NULL;
    if (uv_is_active((uv_handle_t *)&s->prepare) || s->prepare.loop) {
        uv_prepare_stop(&s->prepare);
        uv_timer_stop(&s->tick);
        uv_signal_stop(&s->sigint);
        uv_signal_stop(&s->sigterm);
        if (!uv_is_closing((uv_handle_t *)&s->prepare)) {
            uv_close((uv_handle_t *)&s->prepare, handle_closed);
            uv_close((uv_handle_t *)&s->tick, handle_closed);
            uv_close((uv_handle_t *)&s->sigint, handle_closed);
            uv_close((uv_handle_t *)&s->sigterm, handle_closed);
        }
    }
    if (s->q.async.loop != NULL)
        evq_close(&s->q, NULL);
}

void
svc_fini(struct svc *s)
{
    size_t it = 0;
    void *val;
    struct svc_app **apps;
    size_t n;

    apps = svc_apps_sorted(s, &n);
    for (size_t i = 0; i < n; i++) {
        if (apps[i]->dep) {
            json_decref(apps[i]->dep->original);
            free(apps[i]->dep);
        }
        app_destroy(s, apps[i]);
    }
    free(apps);
    hmap_fini(&s->apps);
    hmap_fini(&s->tasks);
    hmap_fini(&s->deps);
    it = 0;
    while (hmap_next(&s->agents, &it, NULL, &val)) {
        struct svc_agent *a = val;
        free(a->hostname);
        attr_fini(&a->attrs);
        free(a);
    }
    hmap_fini(&s->agents);
    for (size_t i = 0; s->out && i < s->out->n; i++) {
        struct out_item *o = &s->out->v[i];
        for (size_t k = 0; k < o->ntasks; k++) {
            ag_task_free(o->tasks[k]);
            free(o->task_ids[k]);
        }
        free(o->tasks);
        free(o->task_ids);
        ag_status_free(o->status);
    }
    for (size_t i = 0; i < s->noffers; i++)
        ag_offer_free(s->offers[i]);
    free(s->offers);
    if (s->out)
        free(s->out->v);
    free(s->out);
    store_close(s->store);
    metrics_free(s->metrics);
}

/* ---- changes through the API ---- */

static void
reset_delay(struct svc_app *app)
{
    app->delay_s = 0;
    app->backoff_until = 0;
}

void
svc_reset_delay(struct svc *s, struct svc_app *app)
{
    reset_delay(app);
    s->dirty = true;
}

int
svc_app_apply(struct svc *s, struct app_spec *spec, bool restart, bool force, struct svc_dep **dep,
              struct svc_dep **conflict)
{
    struct svc_app *app = svc_app_get(s, spec->id);
    enum svc_dep_kind kind;
    char version[APP_VERSION_LEN + 1];
    json_t *original = NULL;

    *dep = NULL;
    if (app != NULL && app->dep != NULL && !force) {
        *conflict = app->dep;
        app_free(spec);
        return -AG_EEXIST;
    }
    next_version(s, version);
    if (app == NULL)
        kind = DEP_START;
    else if (restart)
        kind = DEP_RESTART;
    else if (app_config_differs(spec, app->spec))
        kind = DEP_UPGRADE;
    else
        kind = DEP_SCALE;
    app_set_version(spec, app ? app->spec : NULL, version, kind == DEP_SCALE);
    if (app != NULL && app->dep != NULL)
        dep_failed(s, app->dep, "cancelled by a newer change (force=true)");
    if (app == NULL) {
        app = app_new(s, spec);
    } else {
        original = json_incref(app->spec->json);
        if (kind != DEP_SCALE)
            reset_delay(app);
    }
    app_replace_spec(s, app, spec);
    *dep = dep_new(s, app, kind, original);
    return 0;
}

int
svc_app_remove(struct svc *s, struct svc_app *app, bool force, struct svc_dep **dep,
               struct svc_dep **conflict)
{
    *dep = NULL;
    if (app->dep != NULL && !force) {
        *conflict = app->dep;
        return -AG_EEXIST;
    }
    if (app->dep != NULL)
        dep_failed(s, app->dep, "cancelled: the app is being removed (force=true)");
    *dep = dep_new(s, app, DEP_STOP, json_incref(app->spec->json));
    return 0;
}

int
svc_tasks_kill(struct svc *s, struct svc_task **tasks, size_t n, bool scale, bool force,
               struct svc_dep **dep, struct svc_dep **conflict)
{
    *dep = NULL;
    if (scale) {
        /* All apps involved must be free (or forced) before anything changes. */
        for (size_t i = 0; i < n; i++)
            if (tasks[i]->app->dep != NULL && !force) {
                *conflict = tasks[i]->app->dep;
                return -AG_EEXIST;
            }
        for (size_t i = 0; i < n; i++) {
            struct svc_app *app = tasks[i]->app;
            struct app_spec *spec;
            struct svc_dep *d, *c;
            int64_t count = 0;
            bool seen = false;

            for (size_t j = 0; j < i && !seen; j++)
                seen = tasks[j]->app == app;
            if (seen)
                continue;
            for (size_t j = i; j < n; j++)
                if (tasks[j]->app == app && tasks[j]->kill == 0)
                    count++;
            spec = app_dup(app->spec);
            spec->instances = spec->instances > count ? spec->instances - count : 0;
            json_object_set_new(spec->json, "instances", json_integer(spec->instances));
            for (size_t j = i; j < n; j++)
                if (tasks[j]->app == app)
                    task_kill(s, tasks[j], CONV_KILL_USER);
            svc_app_apply(s, spec, false, true, &d, &c);
            if (*dep == NULL)
                *dep = d;
        }
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        task_kill(s, tasks[i], CONV_KILL_USER);
    s->dirty = true;
    return 0;
}

int
svc_dep_cancel(struct svc *s, struct svc_dep *dep, bool force, struct svc_dep **rb)
{
    *rb = NULL;
    if (force) {
        dep_failed(s, dep, "stopped by the user (force=true)");
        s->dirty = true;
        return 0;
    }
    if (dep->kind == DEP_STOP) {
        /* Undoing a removal: keep the app as it is. */
        struct svc_app *app = dep->app;
        struct app_spec *spec = app_dup(app->spec);
        struct svc_dep *c;
        dep_failed(s, dep, "cancelled: rolled back by the user");
        return svc_app_apply(s, spec, false, true, rb, &c);
    }
    *rb = rollback(s, dep, "cancelled: rolled back by the user");
    return 0;
}

/* ---- JSON views ---- */

void
svc_app_counts(const struct svc_app *app, int *staged, int *running, int *healthy, int *unhealthy)
{
    bool hc = app->spec->hc != NULL;

    *staged = *running = *healthy = *unhealthy = 0;
    for (size_t i = 0; i < app->ntasks; i++) {
        const struct svc_task *t = app->tasks[i];
        if (t->state == AG_TASK_STAGING || t->state == AG_TASK_STARTING)
            (*staged)++;
        else if (t->state == AG_TASK_RUNNING) {
            (*running)++;
            if (hc && t->healthy == 1)
                (*healthy)++;
            else if (hc && t->healthy == 0)
                (*unhealthy)++;
        }
    }
}

/* ---- a small JSON text writer, for task lists (10,000 tasks in a few ms) ---- */

void
svc_buf_put(struct svc_buf *b, const char *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + len + 1 > cap)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (b->p == NULL)
            abort();
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
}

static void
buf_lit(struct svc_buf *b, const char *lit)
{
    svc_buf_put(b, lit, strlen(lit));
}

/* A JSON string with the escapes it needs. */
static void
buf_str(struct svc_buf *b, const char *str)
{
    const char *run = str;

    svc_buf_put(b, "\"", 1);
    for (const char *c = str; *c; c++) {
        unsigned char ch = (unsigned char)*c;
        char esc[8];
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        svc_buf_put(b, run, (size_t)(c - run));
        if (ch == '"' || ch == '\\')
            snprintf(esc, sizeof(esc), "\\%c", ch);
        else
            snprintf(esc, sizeof(esc), "\\u%04x", ch);
        buf_lit(b, esc);
        run = c + 1;
    }
    svc_buf_put(b, run, strlen(run));
    svc_buf_put(b, "\"", 1);
}

static void
buf_key_str(struct svc_buf *b, const char *key, const char *val)
{
    buf_lit(b, key);
    buf_str(b, val);
}

void
svc_task_text(struct svc *s, const struct svc_task *t, struct svc_buf *b)
{
    char ts[APP_VERSION_LEN + 1], num[32];

    (void)s;
    buf_key_str(b, "{\"id\":", t->id);
    buf_key_str(b, ",\"appId\":", t->app->spec->id);
    buf_key_str(b, ",\"slaveId\":", t->agent_id);
    buf_key_str(b, ",\"host\":", t->host);
    buf_key_str(b, ",\"state\":", ag_task_state_name(t->state));
    fmt_time(t->staged_at, ts);
    buf_key_str(b, ",\"stagedAt\":", ts);
    if (t->started_at > 0) {
        fmt_time(t->started_at, ts);
        buf_key_str(b, ",\"startedAt\":", ts);
    } else {
        buf_lit(b, ",\"startedAt\":null");
    }
    buf_key_str(b, ",\"version\":", t->version);
    buf_lit(b, ",\"ports\":[");
    for (size_t i = 0; i < t->nports; i++) {
        int n = snprintf(num, sizeof(num), "%s%u", i ? "," : "", t->ports[i]);
        svc_buf_put(b, num, (size_t)n);
    }
    buf_lit(b, "],\"servicePorts\":[],\"ipAddresses\":[],\"localVolumes\":[]");
    if (t->app->spec->hc != NULL && t->healthy >= 0) {
        buf_lit(b, t->healthy == 1 ? ",\"healthCheckResults\":[{\"alive\":true"
                                   : ",\"healthCheckResults\":[{\"alive\":false");
        buf_key_str(b, ",\"taskId\":", t->id);
        buf_key_str(b, ",\"instanceId\":", t->id);
        snprintf(num, sizeof(num), ",\"consecutiveFailures\":%d}]",
                 t->healthy == 1 ? 0 : t->app->spec->hc->max_failures);
        buf_lit(b, num);
    }
    if (t->kill != 0)
        buf_lit(b, ",\"killing\":true");
    if (state_unreachable(t->state) && t->unreachable_since > 0) {
        fmt_time(t->unreachable_since, ts);
        buf_key_str(b, ",\"unreachableSince\":", ts);
    }
    buf_lit(b, "}");
}

void
svc_tasks_text(struct svc *s, struct svc_task *const *tasks, size_t n, struct svc_buf *b)
{
    buf_lit(b, "[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            buf_lit(b, ",");
        svc_task_text(s, tasks[i], b);
    }
    buf_lit(b, "]");
}

json_t *
svc_task_json(struct svc *s, const struct svc_task *t)
{
    struct svc_buf b = {0};
    json_t *o;

    svc_task_text(s, t, &b);
    o = json_loads(b.p, 0, NULL);
    free(b.p);
    if (o == NULL)
        abort();
    return o;
}

json_t *
svc_app_json(struct svc *s, struct svc_app *app, bool tasks, bool failure)
{
    json_t *o = json_copy(app->spec->json);
    int staged, running, healthy, unhealthy;

    svc_app_counts(app, &staged, &running, &healthy, &unhealthy);
    json_object_set_new(o, "tasksStaged", json_integer(staged));
    json_object_set_new(o, "tasksRunning", json_integer(running));
    json_object_set_new(o, "tasksHealthy", json_integer(healthy));
    json_object_set_new(o, "tasksUnhealthy", json_integer(unhealthy));
    json_object_set_new(o, "deployments",
                        app->dep ? json_pack("[{s:s}]", "id", app->dep->id) : json_array());
    if (tasks) {
        json_t *arr = json_array();
        for (size_t i = 0; i < app->ntasks; i++)
            json_array_append_new(arr, svc_task_json(s, app->tasks[i]));
        json_object_set_new(o, "tasks", arr);
    }
    if (failure && app->last_failure)
        json_object_set(o, "lastTaskFailure", app->last_failure);
    return o;
}

json_t *
svc_queue_json(struct svc *s)
{
    json_t *q = json_array();
    double now = svc_now();
    struct svc_app **apps;
    size_t n;

    apps = svc_apps_sorted(s, &n);
    for (size_t i = 0; i < n; i++) {
        struct svc_app *app = apps[i];
        char since[APP_VERSION_LEN + 1];
        double left = app->backoff_until > now ? app->backoff_until - now : 0;
        json_t *rej = json_array();

        if (app->launch <= 0)
            continue;
        fmt_time(app->queued_since > 0 ? app->queued_since : now, since);
        for (int r = 0; r < REJ_MAX; r++)
            json_array_append_new(rej, json_pack("{s:s,s:I}", "reason", svc_reject_names[r],
                                                 "declined", (json_int_t)app->rejects[r]));
        json_array_append_new(
            q, json_pack("{s:i,s:{s:f,s:b},s:s,s:o,s:{s:I,s:I,s:o},s:[]}", "count", app->launch,
                         "delay", "timeLeftSeconds", left, "overdue", left <= 0, "since", since,
                         "app", svc_app_json(s, app, false, true), "processedOffersSummary",
                         "processedOffersCount", (json_int_t)app->offers_processed,
                         "unusedOffersCount", (json_int_t)app->offers_unused,
                         "rejectSummaryLastOffers", rej, "lastUnusedOffers"));
    }
    free(apps);
    return json_pack("{s:o}", "queue", q);
}
