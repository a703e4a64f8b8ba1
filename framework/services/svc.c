/* The agora-services core: state and convergence. See svc.h. */
#define _GNU_SOURCE
#include "svc.h"

#include "error.h"
#include "events.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "svc_deployments.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void (*svc_fatal_hook)(void);

#define KEEPALIVE_TICKS 15
#define KILL_RESEND_S 30.0

/* A version string later than any handed out before. */
static void
next_version(struct svc *s, char out[APP_VERSION_LEN + 1])
{
    double now = floor(clock_wall() * 1000.0) / 1000.0;

    if (now <= s->last_version)
        now = s->last_version + 0.001;
    s->last_version = now;
    app_format_time(now, out);
}

static bool
state_unreachable(enum ag_task_state st)
{
    return st == AG_TASK_UNREACHABLE || st == AG_TASK_UNKNOWN;
}

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
    void *ack;
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
        o->v = xrealloc(o->v, o->cap * sizeof(*o->v));
    }
    it = &o->v[o->n++];
    memset(it, 0, sizeof(*it));
    it->kind = kind;
    return it;
}

/* Releases what an effect holds (after sending it, or unsent). */
static void
out_release(struct svc *s, struct out_item *it, bool sent)
{
    for (size_t k = 0; k < it->ntasks; k++) {
        ag_task_free(it->tasks[k]);
        free(it->task_ids[k]);
    }
    free(it->tasks);
    free(it->task_ids);
    if (it->kind == OUT_ACK && s->fx != NULL)
        s->fx->ack(s->fx_arg, it->ack, sent);
}

static void task_end(struct svc *s, struct svc_task *t, enum ag_task_state state,
                     const char *reason, const char *message, bool count_failure);

/* ---- tasks ---- */

void
svc_task_free(struct svc_task *t)
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
        app->tasks = xrealloc(app->tasks, app->cap * sizeof(*app->tasks));
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
    SVC_STORE(store_task_put(s->store, &row));
}

void
svc_task_add(struct svc *s, struct svc_app *app, struct svc_task *t)
{
    app_add_task(app, t);
    if (hmap_put(&s->tasks, t->id, t) != 0)
        xalloc_die(0);
    task_persist(s, t);
}

/* ---- apps ---- */

static struct svc_app *
app_new(struct svc *s, struct app_spec *spec)
{
    struct svc_app *app = xcalloc(1, sizeof(*app));

    app->spec = spec;
    app_task_prefix(spec->id, app->prefix, sizeof(app->prefix) > 27 ? 27 : sizeof(app->prefix));
    if (hmap_put(&s->apps, spec->id, app) != 0)
        xalloc_die(0);
    return app;
}

static void
app_destroy(struct svc *s, struct svc_app *app)
{
    hmap_del(&s->apps, app->spec->id);
    for (size_t i = 0; i < app->ntasks; i++) {
        hmap_del(&s->tasks, app->tasks[i]->id);
        svc_task_free(app->tasks[i]);
    }
    free(app->tasks);
    json_decref(app->last_failure);
    app_free(app->spec);
    free(app);
}

/* A STOP deployment finished: the app and its records go. */
static void
app_terminated(struct svc *s, struct svc_app *app)
{
    char id[APP_ID_MAX];

    snprintf(id, sizeof(id), "%s", app->spec->id);
    for (size_t i = 0; i < app->ntasks; i++)
        SVC_STORE(store_task_del(s->store, app->tasks[i]->id));
    SVC_STORE(store_app_del(s->store, id));
    app_destroy(s, app);
    svc_emit(s, json_pack("{s:s,s:s}", "eventType", "app_terminated_event", "appId", id));
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

/* ---- kills and task ends ---- */

static void
send_kill(struct svc *s, struct svc_task *t)
{
    struct out_item *it = out_push(s, OUT_KILL);

    snprintf(it->task_id, sizeof(it->task_id), "%s", t->id);
    snprintf(it->agent_id, sizeof(it->agent_id), "%s", t->agent_id);
    t->kill_sent = true;
    t->kill_at = clock_wall();
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
    double now = clock_wall();

    if (count_failure && t->kill == 0) {
        char ts[APP_VERSION_LEN + 1];
        bool own = state == AG_TASK_FAILED || state == AG_TASK_FINISHED || state == AG_TASK_ERROR ||
                   state == AG_TASK_KILLED;
        metrics_inc(s->m_failed);
        app_format_time(now, ts);
        json_decref(app->last_failure);
        app->last_failure = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "appId", app->spec->id,
                                      "host", t->host, "message", message ? message : "", "state",
                                      ag_task_state_name(state), "taskId", t->id, "timestamp", ts,
                                      "version", t->version, "slaveId", t->agent_id);
        if (reason && reason[0])
            json_object_set_new(app->last_failure, "reason", json_string(reason));
        if (own)
            bump_backoff(app, now);
        svcd_app_persist(s, app);
        if (app->dep && strcmp(t->cfg_version, app->spec->last_config_change_at) == 0 &&
            (app->dep->kind == DEP_UPGRADE || app->dep->kind == DEP_RESTART))
            svcd_add_failures(s, app->dep, 1);
    }
    SVC_STORE(store_task_del(s->store, t->id));
    hmap_del(&s->tasks, t->id);
    app_remove_task(app, t);
    svc_task_free(t);
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
        svcd_add_failures(s, app->dep, out.unhealthy_new_killed);
        return;
    }
    if (app->dep != NULL && out.done && svcd_succeeded(s, app->dep))
        app_terminated(s, app);
}

void
svc_converge(struct svc *s)
{
    double now = clock_wall();
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

int
svc_pending_launches(struct svc *s, double now)
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

    if (!s->subscribed || s->fx == NULL)
        return;
    pending = s->reconciled ? svc_pending_launches(s, clock_wall()) : 0;
    if (pending > 0 && (s->offers_wanted != 1 || pending > s->last_pending)) {
        s->fx->revive(s->fx_arg);
        s->offers_wanted = 1;
    } else if (pending == 0 && s->offers_wanted != 0) {
        s->fx->suppress(s->fx_arg);
        s->offers_wanted = 0;
    }
    s->last_pending = pending;
}

/* ---- launches and declines ---- */

void
svc_accept(struct svc *s, const char *offer_id, struct ag_task **tasks, char **task_ids, size_t n,
           double refuse_s)
{
    struct out_item *it = out_push(s, OUT_ACCEPT);

    snprintf(it->offer_id, sizeof(it->offer_id), "%s", offer_id);
    it->tasks = tasks;
    it->task_ids = task_ids;
    it->ntasks = n;
    it->refuse_s = refuse_s;
}

void
svc_decline(struct svc *s, const char *offer_id, double refuse_s)
{
    metrics_inc(s->m_declined);
    if (s->fx != NULL)
        s->fx->decline(s->fx_arg, offer_id, refuse_s);
}

/* ---- status updates ---- */

static void
apply_update(struct svc *s, const struct svc_update *u)
{
    struct svc_task *t = hmap_get(&s->tasks, u->task_id);
    enum ag_task_state prev;
    int prev_healthy;
    double now = clock_wall();
    json_t *ports;

    metrics_inc(s->m_updates);
    if (t == NULL) {
        if (!ag_task_state_terminal(u->state) && s->fx != NULL) {
            log_info("killing unknown task=%s state=%s", u->task_id, ag_task_state_name(u->state));
            s->fx->kill(s->fx_arg, u->task_id, u->agent_id[0] ? u->agent_id : NULL);
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

void
svc_status_update(struct svc *s, const struct svc_update *u, void *ack)
{
    apply_update(s, u);
    if (ack != NULL)
        out_push(s, OUT_ACK)->ack = ack; /* acknowledged after the commit */
}

void
svc_subscribed(struct svc *s)
{
    size_t it = 0;
    void *val;

    /* Kills that were waiting for the connection, or not confirmed before it. */
    while (hmap_next(&s->tasks, &it, NULL, &val)) {
        struct svc_task *t = val;
        t->kill_sent = false;
        if (t->kill != 0)
            send_kill(s, t);
    }
    s->dirty = true;
}

void
svc_tasks_forget(struct svc *s, const char *reason, const char *message)
{
    size_t it;
    void *val;

    while (s->tasks.n > 0) {
        it = 0;
        if (!hmap_next(&s->tasks, &it, NULL, &val))
            break;
        task_end(s, val, AG_TASK_LOST, reason, message, false);
    }
}

/* ---- the end of a loop turn, the tick ---- */

void
svc_flush(struct svc *s)
{
    struct svc_out *o = s->out;
    int rc;

    if (store_in_txn(s->store) && (rc = store_commit(s->store)) != 0)
        svc_store_check(rc, "commit");
    for (size_t i = 0; i < o->n; i++) {
        struct out_item *it = &o->v[i];
        switch (it->kind) {
        case OUT_ACCEPT: {
            const char *id = it->offer_id;
            rc = s->fx ? s->fx->accept(s->fx_arg, id, it->tasks, it->ntasks, it->refuse_s)
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
            break;
        }
        case OUT_KILL:
            if (s->fx)
                s->fx->kill(s->fx_arg, it->task_id, it->agent_id[0] ? it->agent_id : NULL);
            break;
        case OUT_ACK:
            break;
        }
        out_release(s, it, true);
    }
    o->n = 0;
    /* Drops above may have written. */
    if (store_in_txn(s->store) && (rc = store_commit(s->store)) != 0)
        svc_store_check(rc, "commit");
}

void
svc_end_turn(struct svc *s)
{
    if (s->stopping)
        return;
    if (s->dirty)
        svc_converge(s);
    update_offer_interest(s);
    if (s->out->n > 0 || store_in_txn(s->store))
        svc_flush(s);
}

void
svc_tick(struct svc *s)
{
    double now = clock_wall();
    size_t it = 0;
    void *val;

    s->tokens += (now - s->tokens_at) * s->f->unhealthy_kill_rate;
    if (s->tokens > s->f->unhealthy_kill_burst)
        s->tokens = (double)s->f->unhealthy_kill_burst;
    s->tokens_at = now;
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
    svcd_load(arg, id, json);
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
        SVC_STORE(store_task_del(s->store, r->id));
        svc_task_free(t);
        return;
    }
    app_add_task(app, t);
    hmap_put(&s->tasks, t->id, t);
}

/* Versions are handed out after the newest one on record. */
static void
load_last_version(struct svc *s)
{
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
    return clock_wall() - ((struct svc *)arg)->started_at;
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

/* ---- open, stop, fini ---- */

int
svc_open(struct svc *s, const struct svc_flags *f, struct store *st)
{
    char path[4096], err[512];
    char *fid;
    int rc;

    memset(s, 0, sizeof(*s));
    s->f = f;
    s->out = xcalloc(1, sizeof(*s->out));
    s->offers_wanted = -1;
    s->started_at = clock_wall();
    s->tokens = (double)f->unhealthy_kill_burst;
    s->tokens_at = s->started_at;
    hmap_init(&s->apps);
    hmap_init(&s->tasks);
    hmap_init(&s->deps);
    hmap_init(&s->agents);
    s->events = events_new();
    s->metrics = metrics_new();
    if (s->metrics == NULL)
        xalloc_die(0);
    metrics_setup(s);
    s->default_roles[0] = "*";
    if (f->role && strcmp(f->role, "*") != 0)
        s->default_roles[1] = f->role;
    snprintf(s->leader, sizeof(s->leader), "%s:%lld", f->hostname, (long long)f->http_port);

    snprintf(path, sizeof(path), "%s/services.db", f->work_dir);
    if (st != NULL) {
        s->store = st;
        snprintf(path, sizeof(path), "ZooKeeper");
    } else if ((rc = store_open(&s->store, path, err, sizeof(err))) != 0) {
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
    load_last_version(s);
    return 0;
}

void
svc_stop(struct svc *s)
{
    s->stopping = true;
    if (s->store != NULL && store_in_txn(s->store))
        store_commit(s->store);
    events_free(s->events);
    s->events = NULL;
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
        svcd_free(apps[i]->dep);
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
    for (size_t i = 0; s->out && i < s->out->n; i++)
        out_release(s, &s->out->v[i], false);
    if (s->out)
        free(s->out->v);
    free(s->out);
    events_free(s->events);
    s->events = NULL;
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
        svcd_failed(s, app->dep, "cancelled by a newer change (force=true)");
    if (app == NULL) {
        app = app_new(s, spec);
    } else {
        original = json_incref(app->spec->json);
        if (kind != DEP_SCALE)
            reset_delay(app);
    }
    svcd_app_set_spec(s, app, spec);
    *dep = svcd_new(s, app, kind, original, NULL);
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
        svcd_failed(s, app->dep, "cancelled: the app is being removed (force=true)");
    *dep = svcd_new(s, app, DEP_STOP, json_incref(app->spec->json), NULL);
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
        svcd_failed(s, dep, "stopped by the user (force=true)");
        s->dirty = true;
        return 0;
    }
    if (dep->kind == DEP_STOP) {
        /* Undoing a removal: keep the app as it is. */
        struct svc_app *app = dep->app;
        struct app_spec *spec = app_dup(app->spec);
        struct svc_dep *c;
        svcd_failed(s, dep, "cancelled: rolled back by the user");
        return svc_app_apply(s, spec, false, true, rb, &c);
    }
    *rb = svcd_rollback(s, dep, "cancelled: rolled back by the user");
    return 0;
}
