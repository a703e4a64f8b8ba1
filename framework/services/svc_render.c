/* JSON views of apps, tasks and the launch queue. See svc_render.h. */
#include "svc_render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const reject_names[SVC_REJ_MAX] = {"UnfulfilledConstraint", "InsufficientCpus",
                                                      "InsufficientMemory",    "InsufficientDisk",
                                                      "InsufficientPorts",     "Other"};

void
svcr_app_counts(const struct svc_app *app, int *staged, int *running, int *healthy, int *unhealthy)
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

/* ---- a small JSON text writer ---- */

void
svcr_put(struct svcr_buf *b, const char *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + len + 1 > cap)
            cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
}

void
svcr_lit(struct svcr_buf *b, const char *lit)
{
    svcr_put(b, lit, strlen(lit));
}

/* A JSON string with the escapes it needs. */
static void
buf_str(struct svcr_buf *b, const char *str)
{
    const char *run = str;

    svcr_put(b, "\"", 1);
    for (const char *c = str; *c; c++) {
        unsigned char ch = (unsigned char)*c;
        char esc[8];
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        svcr_put(b, run, (size_t)(c - run));
        if (ch == '"' || ch == '\\')
            snprintf(esc, sizeof(esc), "\\%c", ch);
        else
            snprintf(esc, sizeof(esc), "\\u%04x", ch);
        svcr_lit(b, esc);
        run = c + 1;
    }
    svcr_put(b, run, strlen(run));
    svcr_put(b, "\"", 1);
}

static void
buf_key_str(struct svcr_buf *b, const char *key, const char *val)
{
    svcr_lit(b, key);
    buf_str(b, val);
}

void
svcr_task_text(const struct svc_task *t, struct svcr_buf *b)
{
    char ts[APP_VERSION_LEN + 1], num[32];

    buf_key_str(b, "{\"id\":", t->id);
    buf_key_str(b, ",\"appId\":", t->app->spec->id);
    buf_key_str(b, ",\"slaveId\":", t->agent_id);
    buf_key_str(b, ",\"host\":", t->host);
    buf_key_str(b, ",\"state\":", ag_task_state_name(t->state));
    app_format_time(t->staged_at, ts);
    buf_key_str(b, ",\"stagedAt\":", ts);
    if (t->started_at > 0) {
        app_format_time(t->started_at, ts);
        buf_key_str(b, ",\"startedAt\":", ts);
    } else {
        svcr_lit(b, ",\"startedAt\":null");
    }
    buf_key_str(b, ",\"version\":", t->version);
    svcr_lit(b, ",\"ports\":[");
    for (size_t i = 0; i < t->nports; i++) {
        int n = snprintf(num, sizeof(num), "%s%u", i ? "," : "", t->ports[i]);
        svcr_put(b, num, (size_t)n);
    }
    svcr_lit(b, "],\"servicePorts\":[],\"ipAddresses\":[],\"localVolumes\":[]");
    if (t->app->spec->hc != NULL && t->healthy >= 0) {
        svcr_lit(b, t->healthy == 1 ? ",\"healthCheckResults\":[{\"alive\":true"
                                    : ",\"healthCheckResults\":[{\"alive\":false");
        buf_key_str(b, ",\"taskId\":", t->id);
        buf_key_str(b, ",\"instanceId\":", t->id);
        snprintf(num, sizeof(num), ",\"consecutiveFailures\":%d}]",
                 t->healthy == 1 ? 0 : t->app->spec->hc->max_failures);
        svcr_lit(b, num);
    }
    if (t->kill != 0)
        svcr_lit(b, ",\"killing\":true");
    if ((t->state == AG_TASK_UNREACHABLE || t->state == AG_TASK_UNKNOWN) &&
        t->unreachable_since > 0) {
        app_format_time(t->unreachable_since, ts);
        buf_key_str(b, ",\"unreachableSince\":", ts);
    }
    svcr_lit(b, "}");
}

void
svcr_tasks_text(struct svc_task *const *tasks, size_t n, struct svcr_buf *b)
{
    svcr_lit(b, "[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            svcr_lit(b, ",");
        svcr_task_text(tasks[i], b);
    }
    svcr_lit(b, "]");
}

/* ---- apps ---- */

json_t *
svcr_app_json(struct svc_app *app, bool failure)
{
    json_t *o = json_copy(app->spec->json);
    int staged, running, healthy, unhealthy;

    svcr_app_counts(app, &staged, &running, &healthy, &unhealthy);
    json_object_set_new(o, "tasksStaged", json_integer(staged));
    json_object_set_new(o, "tasksRunning", json_integer(running));
    json_object_set_new(o, "tasksHealthy", json_integer(healthy));
    json_object_set_new(o, "tasksUnhealthy", json_integer(unhealthy));
    json_object_set_new(o, "deployments",
                        app->dep ? json_pack("[{s:s}]", "id", app->dep->id) : json_array());
    if (failure && app->last_failure)
        json_object_set(o, "lastTaskFailure", app->last_failure);
    return o;
}

void
svcr_app_text(struct svc_app *app, bool tasks, bool failure, struct svcr_buf *b)
{
    json_t *o = svcr_app_json(app, failure);
    char *text = json_dumps(o, JSON_COMPACT);
    size_t len;

    json_decref(o);
    if (text == NULL)
        xalloc_die(0);
    len = strlen(text);
    if (!tasks) {
        svcr_put(b, text, len);
    } else {
        svcr_put(b, text, len - 1); /* without the closing brace */
        svcr_lit(b, ",\"tasks\":");
        svcr_tasks_text(app->tasks, app->ntasks, b);
        svcr_lit(b, "}");
    }
    free(text);
}

/* ---- the launch queue ---- */

json_t *
svcr_queue_json(struct svc *s)
{
    json_t *q = json_array();
    double now = clock_wall();
    struct svc_app **apps;
    size_t n;

    apps = svc_apps_sorted(s, &n);
    for (size_t i = 0; i < n; i++) {
        struct svc_app *app = apps[i];
        char since[APP_VERSION_LEN + 1];
        double left = app->backoff_until > now ? app->backoff_until - now : 0;
        json_t *rej = json_array();

        if (app->launch <= 0) {
            json_decref(rej);
            continue;
        }
        app_format_time(app->queued_since > 0 ? app->queued_since : now, since);
        for (int r = 0; r < SVC_REJ_MAX; r++)
            json_array_append_new(rej, json_pack("{s:s,s:I}", "reason", reject_names[r], "declined",
                                                 (json_int_t)app->rejects[r]));
        json_array_append_new(
            q, json_pack("{s:i,s:{s:f,s:b},s:s,s:o,s:{s:I,s:I,s:o},s:[]}", "count", app->launch,
                         "delay", "timeLeftSeconds", left, "overdue", left <= 0, "since", since,
                         "app", svcr_app_json(app, true), "processedOffersSummary",
                         "processedOffersCount", (json_int_t)app->offers_processed,
                         "unusedOffersCount", (json_int_t)app->offers_unused,
                         "rejectSummaryLastOffers", rej, "lastUnusedOffers"));
    }
    free(apps);
    return json_pack("{s:o}", "queue", q);
}
