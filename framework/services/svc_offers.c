/* Offers -> placements -> launches. See svc_offers.h. */
#define _GNU_SOURCE
#include "svc_offers.h"

#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "planner.h"
#include "resources.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET_MAX 65536

static void
env_add_num(struct ag_task *t, const char *name, double v)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%g", v);
    ag_task_add_env(t, name, buf);
}

/*
 * The value of the app's secret `name` from the file store (--secrets_dir/SOURCE,
 * one trailing newline dropped), malloc'd; NULL, logged without any value, when
 * there is no store, no such file, or a file others than its owner may read.
 */
static char *
secret_value(const char *dir, const struct app_spec *sp, const char *name)
{
    const char *src =
        json_string_value(json_object_get(json_object_get(json_object_get(sp->json, "secrets"),
                                                          name),
                                          "source"));
    char path[4096], *buf = NULL;
    struct stat sb;
    ssize_t n;
    int fd;

    if (dir == NULL || dir[0] == '\0' || src == NULL || app_secret_source_bad(src)) {
        log_warn("app %s: secret '%s' cannot be resolved (%s)", sp->id, name,
                 dir == NULL || dir[0] == '\0' ? "no --secrets_dir" : "no valid source");
        return NULL;
    }
    while (*src == '/')
        src++;
    snprintf(path, sizeof(path), "%s/%s", dir, src);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 || fstat(fd, &sb) != 0 ||
        !S_ISREG(sb.st_mode) || (sb.st_mode & 077) != 0 || sb.st_size > SECRET_MAX) {
        log_warn("app %s: secret '%s': %s is %s", sp->id, name, path,
                 fd < 0 ? strerror(errno)
                        : "not a regular file of mode 0600 (or 0400) under 64 KiB");
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    buf = xmalloc((size_t)sb.st_size + 1);
    n = read(fd, buf, (size_t)sb.st_size);
    close(fd);
    if (n < 0) {
        log_warn("app %s: secret '%s': reading %s: %s", sp->id, name, path, strerror(errno));
        free(buf);
        return NULL;
    }
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    buf[n] = '\0';
    return buf;
}

/* The task's env: plain values, and secrets resolved from the store. */
static int
add_env(struct ag_task *t, const struct svc *s, const struct app_spec *sp)
{
    const char *k;
    json_t *v;
    int rc = 0;

    json_object_foreach(json_object_get(sp->json, "env"), k, v)
    {
        if (json_is_string(v)) {
            rc = ag_task_add_env(t, k, json_string_value(v));
        } else {
            char *val = secret_value(s->f->secrets_dir, sp,
                                     json_string_value(json_object_get(v, "secret")));
            if (val == NULL)
                return -1;
            rc = ag_task_add_env(t, k, val);
            explicit_bzero(val, strlen(val));
            free(val);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Builds the ag_task for a placed task. Returns NULL (logged) on failure. */
static struct ag_task *
build_task(const struct svc *s, struct svc_app *app, const struct svc_task *st,
           const struct plan_fit *fit)
{
    const struct app_spec *sp = app->spec;
    const struct app_health_check *hc = sp->hc;
    struct ag_task *t;
    char *res, name[APP_ID_MAX];
    json_t *v;
    const char *k;
    int rc = 0;

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
    if (rc == 0)
        rc = add_env(t, s, sp);
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

static enum svc_reject
reject_of(const char *why)
{
    if (why == NULL)
        return SVC_REJ_OTHER;
    if (strcmp(why, "cpus") == 0)
        return SVC_REJ_CPUS;
    if (strcmp(why, "mem") == 0)
        return SVC_REJ_MEM;
    if (strcmp(why, "disk") == 0)
        return SVC_REJ_DISK;
    if (strcmp(why, "ports") == 0)
        return SVC_REJ_PORTS;
    return SVC_REJ_CONSTRAINT;
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
        p->v = xrealloc(p->v, p->cap * sizeof(*p->v));
    }
    p->v[p->n].hostname = host;
    p->v[p->n].attrs = attrs;
    p->n++;
}

/* Remembers the agent of an offer (hostname, attributes) for GROUP_BY. */
static void
note_agent(struct svc *s, const struct svco_offer *o)
{
    struct svc_agent *a = hmap_get(&s->agents, o->agent_id);

    if (a == NULL) {
        a = xcalloc(1, sizeof(*a));
        attr_init(&a->attrs);
        if (hmap_put(&s->agents, o->agent_id, a) != 0)
            xalloc_die(0);
    }
    if (a->hostname == NULL || strcmp(a->hostname, o->hostname) != 0) {
        free(a->hostname);
        a->hostname = xstrdup(o->hostname);
    }
    attr_parse(&a->attrs, o->attributes, NULL, 0);
}

/* One offer being filled: what is left of it and the tasks it launches. */
struct offer_ctx {
    const struct svco_offer *o;
    struct plan_agent a;
    struct attributes attrs;
    bool ok;
    struct ag_task **tasks;
    char **task_ids;
    size_t ntasks, cap;
};

/* Creates the task record for a placement and adds it to the offer's launch. */
static bool
place_task(struct svc *s, struct svc_app *app, struct offer_ctx *c, const struct plan_fit *fit,
           double now)
{
    struct svc_task *t = xcalloc(1, sizeof(*t));
    struct ag_task *task;
    char uuid[IDS_UUID_LEN + 1];

    ids_new_uuid(uuid);
    snprintf(t->id, sizeof(t->id), "%s.%s", app->prefix, uuid);
    snprintf(t->agent_id, sizeof(t->agent_id), "%s", c->o->agent_id);
    t->host = xstrdup(c->a.hostname);
    t->attrs_text = xstrdup(c->o->attributes);
    attr_init(&t->attrs);
    if (attr_copy(&t->attrs, &c->attrs) != 0)
        xalloc_die(0);
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
        svc_task_free(t);
        return false;
    }
    svc_task_add(s, app, t);
    if (c->ntasks == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->tasks = xrealloc(c->tasks, c->cap * sizeof(*c->tasks));
        c->task_ids = xrealloc(c->task_ids, c->cap * sizeof(*c->task_ids));
    }
    c->tasks[c->ntasks] = task;
    c->task_ids[c->ntasks] = xstrdup(t->id);
    c->ntasks++;
    app->launch--;
    metrics_inc(s->m_launched);
    return true;
}

/*
 * Fills the offers of one loop turn with the tasks that wait, app by app, one
 * task per offer in turn. `order` receives the offers in the order of their
 * first launch (*norder of them).
 */
static void
fill_offers(struct svc *s, struct offer_ctx *ctx, size_t n, double now,
            const struct plan_placed *known, size_t nknown, size_t *order, size_t *norder)
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
                if (!c->ok || (max > 0 && (int64_t)c->ntasks >= max))
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
                if (c->ntasks == 1)
                    order[(*norder)++] = i;
                if (app->spec->ncons > 0)
                    placed_add(&placed, app->tasks[app->ntasks - 1]->host,
                               &app->tasks[app->ntasks - 1]->attrs);
                progress = true;
            }
        }
        for (size_t i = 0; i < n; i++)
            if (tried[i] && ctx[i].ntasks == 0)
                app->offers_unused++;
        plan_fit_fini(&fit);
        free(placed.v);
        free(tried);
    }
    free(apps);
}

void
svco_handle(struct svc *s, const struct svco_offer *offers, size_t n)
{
    double now = clock_wall();
    double long_s = s->f->decline_ms / 1000.0, unfit_s = s->f->decline_unfit_ms / 1000.0;
    struct plan_placed *known;
    struct offer_ctx *ctx;
    size_t nknown = 0, it = 0, *order, norder = 0;
    void *val;
    char err[256];
    int pending;

    for (size_t i = 0; i < n; i++) {
        note_agent(s, &offers[i]);
        metrics_inc(s->m_offers);
    }
    svc_converge(s);
    if (!s->reconciled || s->stopping || svc_pending_launches(s, now) == 0) {
        for (size_t i = 0; i < n; i++)
            svc_decline(s, offers[i].id, s->reconciled ? long_s : 1.0);
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
    order = xcalloc(n, sizeof(*order));
    for (size_t i = 0; i < n; i++) {
        struct offer_ctx *c = &ctx[i];
        c->o = &offers[i];
        attr_init(&c->attrs);
        res_init(&c->a.avail);
        c->a.hostname = c->o->hostname;
        c->a.attrs = &c->attrs;
        c->ok = res_parse(&c->a.avail, c->o->resources, err, sizeof(err)) == 0 &&
                attr_parse(&c->attrs, c->o->attributes, err, sizeof(err)) == 0;
        if (!c->ok)
            log_warn("offer %s: cannot parse: %s", c->o->id, err);
    }
    fill_offers(s, ctx, n, now, known, nknown, order, &norder);
    pending = svc_pending_launches(s, now);
    /* Launches in the order the offers were first used; the others declined now. */
    for (size_t k = 0; k < norder; k++) {
        struct offer_ctx *c = &ctx[order[k]];
        svc_accept(s, c->o->id, c->tasks, c->task_ids, c->ntasks, pending > 0 ? 0 : long_s);
    }
    for (size_t i = 0; i < n; i++) {
        struct offer_ctx *c = &ctx[i];
        if (c->ntasks == 0)
            svc_decline(s, c->o->id, pending > 0 ? unfit_s : long_s);
        res_fini(&c->a.avail);
        attr_fini(&c->attrs);
    }
    free(order);
    free(ctx);
    free(known);
}
