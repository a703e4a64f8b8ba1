/*
 * Unit tests for the agora-services core (framework/services/svc.c with
 * svc_offers.c and svc_deployments.c), without sockets, driver or master:
 * apps are changed through the core's operations, offers and status updates
 * are fed through svco_handle and svc_status_update, and the effects (launch,
 * decline, kill, acknowledgement, revive, suppress) are recorded through a
 * struct svc_fx. Checks launches, kills and deployment steps, that launches
 * and acknowledgements leave only after the commit, backoff, automatic
 * rollback, and a restart from the store.
 */
#define _GNU_SOURCE
#include "svc.h"
#include "svc_deployments.h"
#include "svc_offers.h"
#include "svc_render.h"
#include "planner.h"
#include "store.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXREC 64

/* What the core sent, in order. */
struct rec {
    struct svc *s;
    struct {
        char offer[64];
        char ids[MAXREC][64];
        size_t n;
        double refuse;
        bool committed; /* the store had no open transaction when it was sent */
    } acc[MAXREC];
    size_t nacc;
    struct {
        char offer[64];
        double refuse;
    } dec[MAXREC];
    size_t ndec;
    char kills[MAXREC][64];
    size_t nkills;
    int acks_sent, acks_released, acks_committed;
    int revives, suppresses;
    int accept_rc; /* what accept returns */
};

static int
fx_accept(void *arg, const char *offer_id, struct ag_task *const *tasks, size_t n, double refuse_s)
{
    struct rec *r = arg;

    CHECK(r->nacc < MAXREC && n <= MAXREC);
    snprintf(r->acc[r->nacc].offer, sizeof(r->acc[r->nacc].offer), "%s", offer_id);
    for (size_t i = 0; i < n; i++)
        snprintf(r->acc[r->nacc].ids[i], 64, "%s", ag_task_id(tasks[i]));
    r->acc[r->nacc].n = n;
    r->acc[r->nacc].refuse = refuse_s;
    r->acc[r->nacc].committed = !store_in_txn(r->s->store);
    r->nacc++;
    return r->accept_rc;
}

static void
fx_decline(void *arg, const char *offer_id, double refuse_s)
{
    struct rec *r = arg;

    CHECK(r->ndec < MAXREC);
    snprintf(r->dec[r->ndec].offer, sizeof(r->dec[r->ndec].offer), "%s", offer_id);
    r->dec[r->ndec].refuse = refuse_s;
    r->ndec++;
}

static void
fx_kill(void *arg, const char *task_id, const char *agent_id)
{
    struct rec *r = arg;

    (void)agent_id;
    CHECK(r->nkills < MAXREC);
    snprintf(r->kills[r->nkills++], 64, "%s", task_id);
}

static void
fx_ack(void *arg, void *token, bool send)
{
    struct rec *r = arg;

    if (send) {
        r->acks_sent++;
        if (!store_in_txn(r->s->store))
            r->acks_committed++;
    }
    r->acks_released++;
    free(token);
}

static void
fx_revive(void *arg)
{
    ((struct rec *)arg)->revives++;
}

static void
fx_suppress(void *arg)
{
    ((struct rec *)arg)->suppresses++;
}

static const struct svc_fx rec_fx = {
    .accept = fx_accept,
    .decline = fx_decline,
    .kill = fx_kill,
    .ack = fx_ack,
    .revive = fx_revive,
    .suppress = fx_suppress,
};

/* ---- the harness ---- */

struct h {
    struct svc s;
    struct svc_flags f;
    struct rec r;
    char dir[64];
};

static void
h_open(struct h *h)
{
    memset(&h->r, 0, sizeof(h->r));
    CHECK_EQ_INT(svc_open(&h->s, &h->f, NULL), 0);
    h->s.fx = &rec_fx;
    h->s.fx_arg = &h->r;
    h->r.s = &h->s;
}

/* A fresh core on an empty store, as if just subscribed and reconciled. */
static void
h_init(struct h *h)
{
    memset(h, 0, sizeof(*h));
    snprintf(h->dir, sizeof(h->dir), "/tmp/test_services_core.XXXXXX");
    CHECK(mkdtemp(h->dir) != NULL);
    h->f = (struct svc_flags){
        .master = "127.0.0.1:5050",
        .ip = "127.0.0.1",
        .hostname = "localhost",
        .work_dir = h->dir,
        .framework_name = "agora-services",
        .role = "*",
        .user = "",
        .decline_ms = 120000,
        .decline_unfit_ms = 5000,
        .max_versions = 10,
        .auto_rollback = true,
        .rollback_failures = 3,
        .unhealthy_kill_rate = 1,
        .unhealthy_kill_burst = 10,
        .reconciliation_timeout_ms = 30000,
    };
    plan_seed(1);
    h_open(h);
    h->s.subscribed = true;
    h->s.reconciled = true;
}

static void
h_fini(struct h *h)
{
    char cmd[128];

    svc_fini(&h->s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", h->dir);
    CHECK_EQ_INT(system(cmd), 0);
}

/* Applies an app definition (JSON text); returns its deployment. */
static struct svc_dep *
apply(struct h *h, const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    struct app_errors err;
    struct app_spec *spec;
    struct svc_dep *dep = NULL, *conflict = NULL;

    CHECK(j != NULL);
    app_errors_init(&err);
    spec = app_parse(j, NULL, &err);
    CHECK(spec != NULL);
    app_errors_fini(&err);
    json_decref(j);
    CHECK_EQ_INT(svc_app_apply(&h->s, spec, false, false, &dep, &conflict), 0);
    CHECK(dep != NULL);
    return dep;
}

static void
offer(struct h *h, const char *id, const char *agent, const char *res)
{
    struct svco_offer o = {id, agent, agent, res, ""};
    svco_handle(&h->s, &o, 1);
}

/* A status update for a task, acknowledged with a token. */
static void
update(struct h *h, const char *task_id, enum ag_task_state st, int healthy)
{
    struct svc_update u = {task_id, "", "", "", "SOURCE_EXECUTOR", st, healthy};
    void *token = malloc(1);

    CHECK(token != NULL);
    svc_status_update(&h->s, &u, token);
}

static struct svc_task *
task(struct h *h, const char *id)
{
    return hmap_get(&h->s.tasks, id);
}

#define APP                                                                                        \
    "{\"id\": \"/web\", \"cmd\": \"sleep 100\", \"cpus\": 1, \"mem\": 10, "                        \
    "\"portDefinitions\": []"

/* ---- cases ---- */

/* Offers before the reconciliation are declined for a second; then tasks spread over the
 * offers one at a time, launch after the commit, and the deployment ends once all run. */
static void
test_launch_and_deploy(void)
{
    struct h h;
    struct svc_app *app;

    h_init(&h);
    h.s.reconciled = false;
    apply(&h, APP ", \"instances\": 3}");
    svc_end_turn(&h.s);
    CHECK_EQ_INT(h.r.revives, 0); /* nothing pending before the reconciliation */
    CHECK_EQ_INT(h.r.suppresses, 1);
    offer(&h, "o0", "a0", "cpus:8;mem:100");
    CHECK_EQ_INT(h.r.ndec, 1);
    CHECK(h.r.dec[0].refuse == 1.0);
    h.s.reconciled = true;
    h.s.dirty = true;
    svc_end_turn(&h.s);
    app = svc_app_get(&h.s, "/web");
    CHECK(app != NULL);
    CHECK_EQ_INT(app->launch, 3);
    CHECK_EQ_INT(h.r.revives, 1);

    struct svco_offer o[2] = {{"o1", "a1", "h1", "cpus:2;mem:100", ""},
                              {"o2", "a2", "h2", "cpus:5;mem:100", ""}};
    svco_handle(&h.s, o, 2);
    CHECK_EQ_INT(h.r.nacc, 0); /* nothing leaves before the commit */
    CHECK_EQ_INT(app->ntasks, 3);
    svc_end_turn(&h.s);
    CHECK_EQ_INT(h.r.nacc, 2);
    CHECK_EQ_STR(h.r.acc[0].offer, "o1");
    CHECK_EQ_INT(h.r.acc[0].n, 2); /* one per offer in turn: o1, o2, o1 */
    CHECK_EQ_STR(h.r.acc[1].offer, "o2");
    CHECK_EQ_INT(h.r.acc[1].n, 1);
    CHECK(h.r.acc[0].committed && h.r.acc[1].committed);
    CHECK(h.r.acc[0].refuse == 120.0); /* nothing else waits */
    CHECK_EQ_INT(h.r.suppresses, 2);   /* all placed */
    CHECK(app->dep != NULL && app->dep->kind == DEP_START);
    CHECK_EQ_STR(task(&h, h.r.acc[1].ids[0])->host, "h2");
    CHECK_EQ_INT(task(&h, h.r.acc[1].ids[0])->state, AG_TASK_STAGING);

    /* Two run: still deploying; the third runs: done. */
    update(&h, h.r.acc[0].ids[0], AG_TASK_RUNNING, -1);
    update(&h, h.r.acc[0].ids[1], AG_TASK_RUNNING, -1);
    svc_end_turn(&h.s);
    CHECK(app->dep != NULL);
    CHECK_EQ_INT(h.r.acks_sent, 2);
    CHECK_EQ_INT(h.r.acks_committed, 2);
    update(&h, h.r.acc[1].ids[0], AG_TASK_RUNNING, -1);
    svc_end_turn(&h.s);
    CHECK(app->dep == NULL);
    CHECK_EQ_INT(hmap_size(&h.s.deps), 0);
    CHECK_EQ_INT(h.r.acks_sent, 3);
    CHECK_EQ_INT(h.r.nkills, 0);

    /* Nothing waits: a new offer gets the long filter. */
    offer(&h, "o3", "a1", "cpus:8;mem:100");
    CHECK_EQ_INT(h.r.ndec, 2);
    CHECK(h.r.dec[1].refuse == 120.0);
    h_fini(&h);
}

/* Starts `n` tasks of APP (plus the fields `extra`) and runs them; returns the app. */
static struct svc_app *
running(struct h *h, int n, const char *extra)
{
    char def[512];
    struct svc_app *app;

    snprintf(def, sizeof(def), APP ", \"instances\": %d%s}", n, extra);
    apply(h, def);
    svc_end_turn(&h->s);
    offer(h, "big", "a1", "cpus:64;mem:10000");
    svc_end_turn(&h->s);
    app = svc_app_get(&h->s, "/web");
    CHECK_EQ_INT(app->ntasks, n);
    for (size_t i = 0; i < app->ntasks; i++)
        update(h, app->tasks[i]->id, AG_TASK_RUNNING, -1);
    svc_end_turn(&h->s);
    CHECK(app->dep == NULL);
    return app;
}

/* Scaling down kills the youngest tasks; their end is no failure. */
static void
test_scale_down_kills(void)
{
    struct h h;
    struct svc_app *app;
    struct svc_task *old;
    struct svc_dep *dep;
    size_t kills;

    h_init(&h);
    app = running(&h, 3, "");
    old = app->tasks[0];
    for (size_t i = 1; i < app->ntasks; i++)
        if (app->tasks[i]->seq < old->seq)
            old = app->tasks[i];
    kills = h.r.nkills;
    dep = apply(&h, APP ", \"instances\": 1}");
    CHECK_EQ_INT(dep->kind, DEP_SCALE);
    svc_end_turn(&h.s);
    CHECK_EQ_INT(h.r.nkills - kills, 2);
    for (size_t k = kills; k < h.r.nkills; k++) {
        CHECK(strcmp(h.r.kills[k], old->id) != 0); /* the oldest stays */
        CHECK_EQ_INT(task(&h, h.r.kills[k])->kill, CONV_KILL_SCALE);
    }
    CHECK(app->dep != NULL); /* until the killed ones end */
    update(&h, h.r.kills[kills], AG_TASK_KILLED, -1);
    update(&h, h.r.kills[kills + 1], AG_TASK_KILLED, -1);
    svc_end_turn(&h.s);
    CHECK_EQ_INT(app->ntasks, 1);
    CHECK(app->tasks[0] == old);
    CHECK(app->dep == NULL);
    CHECK(app->last_failure == NULL);
    CHECK(app->delay_s == 0);
    h_fini(&h);
}

/* A task that fails is replaced after the launch delay, which grows. */
static void
test_failure_backoff(void)
{
    struct h h;
    struct svc_app *app;
    size_t dec, acc;

    h_init(&h);
    /* A delay far longer than the test, however slow the machine. */
    app = running(&h, 2, ", \"backoffSeconds\": 100, \"maxLaunchDelaySeconds\": 3600");
    update(&h, app->tasks[0]->id, AG_TASK_FAILED, -1);
    svc_end_turn(&h.s);
    CHECK_EQ_INT(app->ntasks, 1);
    CHECK(app->last_failure != NULL);
    CHECK_EQ_STR(json_string_value(json_object_get(app->last_failure, "state")), "TASK_FAILED");
    CHECK(app->delay_s == app->spec->backoff_s);
    CHECK(app->backoff_until > clock_wall());
    CHECK_EQ_INT(app->launch, 1);
    CHECK_EQ_INT(svc_pending_launches(&h.s, clock_wall()), 0);
    /* During the delay an offer takes nothing. */
    dec = h.r.ndec;
    acc = h.r.nacc;
    offer(&h, "o1", "a1", "cpus:8;mem:100");
    svc_end_turn(&h.s);
    CHECK_EQ_INT(h.r.ndec, dec + 1);
    CHECK_EQ_INT(h.r.nacc, acc);
    /* A second failure grows it. */
    update(&h, app->tasks[0]->id, AG_TASK_FAILED, -1);
    svc_end_turn(&h.s);
    CHECK(app->delay_s > app->spec->backoff_s);
    /* Reset: launched at once. */
    svc_reset_delay(&h.s, app);
    svc_end_turn(&h.s);
    offer(&h, "o2", "a1", "cpus:8;mem:100");
    svc_end_turn(&h.s);
    CHECK_EQ_INT(h.r.nacc, acc + 1);
    CHECK_EQ_INT(h.r.acc[acc].n, 2);
    h_fini(&h);
}

/* New-version tasks that keep failing roll the upgrade back. */
static void
test_auto_rollback(void)
{
    struct h h;
    struct svc_app *app;
    struct svc_dep *dep;
    char old_version[APP_VERSION_LEN + 1], dep_id[40];

    h_init(&h);
    app = running(&h, 2, "");
    snprintf(old_version, sizeof(old_version), "%s", app->spec->last_config_change_at);
    dep = apply(&h, "{\"id\": \"/web\", \"cmd\": \"sleep 200\", \"cpus\": 1, \"mem\": 10, "
                    "\"portDefinitions\": [], \"instances\": 2, \"backoffSeconds\": 0}");
    CHECK_EQ_INT(dep->kind, DEP_UPGRADE);
    snprintf(dep_id, sizeof(dep_id), "%s", dep->id);
    svc_end_turn(&h.s);
    for (int round = 0; round < 3; round++) {
        size_t acc = h.r.nacc;
        CHECK(app->dep != NULL && app->dep->kind == DEP_UPGRADE);
        offer(&h, "o", "a2", "cpus:64;mem:10000");
        svc_end_turn(&h.s);
        CHECK(h.r.nacc > acc);
        CHECK_EQ_INT(app->dep->failures, round);
        update(&h, h.r.acc[acc].ids[0], AG_TASK_FAILED, -1);
        svc_end_turn(&h.s);
    }
    /* The third failure rolled it back: the old definition, a rollback deployment. */
    CHECK(app->dep != NULL);
    CHECK_EQ_INT(app->dep->kind, DEP_ROLLBACK);
    CHECK_EQ_STR(app->dep->rollback_of, dep_id);
    CHECK_EQ_STR(app->spec->cmd, "sleep 100");
    CHECK_EQ_STR(app->spec->last_config_change_at, old_version);
    CHECK(hmap_get(&h.s.deps, dep_id) == NULL);
    h_fini(&h);
}

/* A task the core does not know is killed at once; kills wait for a subscription. */
static void
test_unknown_and_unsubscribed_kills(void)
{
    struct h h;
    struct svc_app *app;
    struct svc_task *t[2];
    struct svc_dep *dep, *conflict;

    h_init(&h);
    update(&h, "nobody.1", AG_TASK_RUNNING, -1);
    CHECK_EQ_INT(h.r.nkills, 1); /* not waiting for a commit */
    CHECK_EQ_STR(h.r.kills[0], "nobody.1");
    app = running(&h, 2, "");
    h.s.subscribed = false;
    t[0] = app->tasks[0];
    CHECK_EQ_INT(svc_tasks_kill(&h.s, t, 1, false, false, &dep, &conflict), 0);
    svc_end_turn(&h.s);
    CHECK_EQ_INT(h.r.nkills, 1);
    CHECK_EQ_INT(t[0]->kill, CONV_KILL_USER);
    h.s.subscribed = true;
    svc_subscribed(&h.s);
    svc_end_turn(&h.s);
    CHECK_EQ_INT(h.r.nkills, 2);
    CHECK_EQ_STR(h.r.kills[1], t[0]->id);
    /* A scaling kill while a deployment runs is a conflict and changes nothing. */
    apply(&h, APP ", \"instances\": 5}");
    t[1] = app->tasks[1];
    CHECK_EQ_INT(svc_tasks_kill(&h.s, &t[1], 1, true, false, &dep, &conflict), -AG_EEXIST);
    CHECK(conflict == app->dep);
    CHECK_EQ_INT(t[1]->kill, 0);
    h_fini(&h);
}

/* A launch that cannot be sent drops its tasks; they are launched again. */
static void
test_accept_failure_drops(void)
{
    struct h h;
    struct svc_app *app;

    h_init(&h);
    apply(&h, APP ", \"instances\": 2}");
    svc_end_turn(&h.s);
    h.r.accept_rc = -AG_ECLOSED;
    offer(&h, "o1", "a1", "cpus:8;mem:100");
    app = svc_app_get(&h.s, "/web");
    CHECK_EQ_INT(app->ntasks, 2);
    svc_end_turn(&h.s);
    CHECK_EQ_INT(h.r.nacc, 1);
    CHECK_EQ_INT(app->ntasks, 0);
    CHECK(app->last_failure == NULL); /* not a failure of the task */
    h.r.accept_rc = 0;
    svc_end_turn(&h.s);
    CHECK_EQ_INT(app->launch, 2);
    offer(&h, "o2", "a1", "cpus:8;mem:100");
    svc_end_turn(&h.s);
    CHECK_EQ_INT(h.r.nacc, 2);
    CHECK_EQ_INT(app->ntasks, 2);
    h_fini(&h);
}

/* After a restart the store gives back the tasks, the deployment in progress
 * and the version order; removing the app ends with the app gone. */
static void
test_restart_and_remove(void)
{
    struct h h;
    struct svc_app *app;
    struct svc_dep *dep, *conflict;
    char version[APP_VERSION_LEN + 1], dep_id[40], task_id[64];

    h_init(&h);
    app = running(&h, 2, "");
    apply(&h, APP ", \"instances\": 3}");
    snprintf(version, sizeof(version), "%s", app->spec->version);
    snprintf(dep_id, sizeof(dep_id), "%s", app->dep->id);
    snprintf(task_id, sizeof(task_id), "%s", app->tasks[0]->id);
    svc_end_turn(&h.s);
    svc_fini(&h.s);

    h_open(&h);
    CHECK(!h.s.reconciled);
    app = svc_app_get(&h.s, "/web");
    CHECK(app != NULL);
    CHECK_EQ_INT(app->ntasks, 2);
    CHECK(task(&h, task_id) != NULL);
    CHECK_EQ_INT(task(&h, task_id)->state, AG_TASK_RUNNING);
    CHECK(app->dep != NULL);
    CHECK_EQ_STR(app->dep->id, dep_id);
    CHECK_EQ_STR(app->spec->version, version);
    h.s.subscribed = h.s.reconciled = true;
    h.s.dirty = true;
    svc_end_turn(&h.s);
    CHECK_EQ_INT(app->launch, 1);

    /* Removal: a conflict without force, then STOP kills everything. */
    CHECK_EQ_INT(svc_app_remove(&h.s, app, false, &dep, &conflict), -AG_EEXIST);
    CHECK_EQ_INT(svc_app_remove(&h.s, app, true, &dep, &conflict), 0);
    CHECK_EQ_INT(dep->kind, DEP_STOP);
    svc_end_turn(&h.s);
    CHECK_EQ_INT(h.r.nkills, 2);
    update(&h, h.r.kills[0], AG_TASK_KILLED, -1);
    update(&h, h.r.kills[1], AG_TASK_KILLED, -1);
    svc_end_turn(&h.s);
    CHECK(svc_app_get(&h.s, "/web") == NULL);
    CHECK_EQ_INT(hmap_size(&h.s.deps), 0);
    svc_fini(&h.s);
    h_open(&h);
    CHECK_EQ_INT(hmap_size(&h.s.apps), 0);
    CHECK_EQ_INT(hmap_size(&h.s.tasks), 0);
    h_fini(&h);
}

/* The task text the API serves is JSON, escapes included; an app embeds its tasks. */
static void
test_render(void)
{
    struct h h;
    struct svc_app *app;
    struct svcr_buf b = {0};
    json_t *j, *t;

    h_init(&h);
    app = running(&h, 1, "");
    free(app->tasks[0]->host);
    app->tasks[0]->host = strdup("h\"1\\\n\x01");
    svcr_tasks_text(app->tasks, app->ntasks, &b);
    j = json_loads(b.p, 0, NULL);
    CHECK(j != NULL && json_array_size(j) == 1);
    t = json_array_get(j, 0);
    CHECK_EQ_STR(json_string_value(json_object_get(t, "host")), "h\"1\\\n\x01");
    CHECK_EQ_STR(json_string_value(json_object_get(t, "id")), app->tasks[0]->id);
    CHECK_EQ_STR(json_string_value(json_object_get(t, "appId")), "/web");
    CHECK_EQ_STR(json_string_value(json_object_get(t, "state")), "TASK_RUNNING");
    CHECK(json_is_string(json_object_get(t, "startedAt")));
    CHECK(json_object_get(t, "killing") == NULL);
    json_decref(j);
    free(b.p);
    b = (struct svcr_buf){0};
    svcr_app_text(app, true, true, &b);
    j = json_loads(b.p, 0, NULL);
    CHECK(j != NULL);
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "tasksRunning")), 1);
    CHECK_EQ_INT(json_array_size(json_object_get(j, "tasks")), 1);
    CHECK_EQ_STR(json_string_value(json_object_get(j, "id")), "/web");
    json_decref(j);
    free(b.p);
    h_fini(&h);
}

TEST_LIST(TEST_ENTRY(launch_and_deploy), TEST_ENTRY(scale_down_kills), TEST_ENTRY(failure_backoff),
          TEST_ENTRY(auto_rollback), TEST_ENTRY(unknown_and_unsubscribed_kills),
          TEST_ENTRY(accept_failure_drops), TEST_ENTRY(restart_and_remove), TEST_ENTRY(render));
TEST_MAIN()
