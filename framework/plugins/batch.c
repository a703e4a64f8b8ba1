/*
 * batch: runs a list of jobs to completion, then exits 0; exits 1 as soon as
 * one instance of a job has failed more times than its retries allow.
 *
 * Configuration:
 *   {
 *     "jobs": [
 *       {"name": "prepare",                 [A-Za-z0-9_-], at most 40 characters
 *        "command": "make -C /src all",     run with /bin/sh -c
 *        "resources": "cpus:0.5;mem:256",   resources of one instance
 *        "instances": 2,                    default 1
 *        "retries": 3,                      failures retried per instance, default 0
 *        "backoff_s": 1, "max_backoff_s": 60,   delay before retry k: backoff * 2^(k-1), capped
 *        "constraint": "rack:r1",           optional: only agents with this attribute value
 *        "env": {"KEY": "value"}}           optional
 *     ],
 *     "progress_interval_s": 30             a progress line every so often (0: only on changes)
 *   }
 * Each task gets BATCH_JOB, BATCH_INSTANCE and BATCH_ATTEMPT (1 for the first
 * launch) in its environment.
 *
 * Every instance moves WAITING -> LAUNCHED -> DONE, or back to WAITING after
 * a failure (with a backoff deadline), or to FAILED when its retries are used
 * up. Each transition is written to the key-value store ("inst/JOB/INDEX",
 * JSON) before it is acted upon, so a restarted host resumes exactly: on
 * subscription batch reconciles its LAUNCHED tasks. A task the master does
 * not know (the launch never reached it) or that the driver dropped is
 * launched again without counting as a failure.
 */
#include <agora/plugin.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example_util.h"

#define NAME_MAX_LEN 40

enum inst_state { I_WAITING, I_LAUNCHED, I_DONE, I_FAILED };
static const char *const state_names[] = {"waiting", "launched", "done", "failed"};

struct job;

struct inst {
    struct job *job;
    int index;
    enum inst_state state;
    int attempt;       /* launches so far; the task id ends with it */
    int failures;      /* failed attempts, counted against the job's retries */
    double not_before; /* wall clock: the earliest relaunch (backoff) */
    char task_id[64];
    char agent_id[128];
};

struct job {
    const char *name, *command;
    char resources[256];
    struct ag_resources *need; /* of one instance, parsed from `resources` */
    int instances, retries;
    double backoff_s, max_backoff_s;
    char constraint_attr[64];
    const char *constraint_value; /* NULL: any agent */
    json_t *env;
    struct inst *inst;
};

struct batch {
    struct ag_plugin_ctx *ctx;
    json_t *config;
    struct job *jobs;
    size_t njobs;
    double progress_s;
    bool finished;
};

/* ---- persistence ---- */

static void
inst_key(const struct inst *in, char *buf, size_t len)
{
    snprintf(buf, len, "inst/%s/%d", in->job->name, in->index);
}

/* Writes the instance's state. Returns 0 or the store's error (logged). */
static int
inst_save(struct batch *b, const struct inst *in)
{
    char key[96];

    inst_key(in, key, sizeof(key));
    return example_kv_save(b->ctx, key, "{s:s,s:i,s:i,s:f,s:s,s:s}", "state",
                           state_names[in->state], "attempt", in->attempt, "failures",
                           in->failures, "not_before", in->not_before, "task_id", in->task_id,
                           "agent_id", in->agent_id);
}

static void
inst_load(struct batch *b, struct inst *in)
{
    char key[96];
    const char *state = "waiting", *task_id = "", *agent_id = "";
    json_t *o;

    inst_key(in, key, sizeof(key));
    if (example_kv_load(b->ctx, key, &o, "{s:s,s:i,s:i,s:F,s:s,s:s}", "state", &state, "attempt",
                        &in->attempt, "failures", &in->failures, "not_before", &in->not_before,
                        "task_id", &task_id, "agent_id", &agent_id) != 0)
        return;
    for (int s = I_WAITING; s <= I_FAILED; s++)
        if (strcmp(state, state_names[s]) == 0)
            in->state = (enum inst_state)s;
    snprintf(in->task_id, sizeof(in->task_id), "%s", task_id);
    snprintf(in->agent_id, sizeof(in->agent_id), "%s", agent_id);
    json_decref(o);
}

/* ---- progress ---- */

static void
report_progress(struct batch *b, const char *why)
{
    char line[1024];
    size_t off = 0;
    int total = 0, done = 0, running = 0, waiting = 0, failed = 0;

    for (size_t j = 0; j < b->njobs; j++) {
        struct job *jb = &b->jobs[j];
        int jd = 0;

        for (int i = 0; i < jb->instances; i++) {
            total++;
            switch (jb->inst[i].state) {
            case I_DONE:
                done++;
                jd++;
                break;
            case I_LAUNCHED:
                running++;
                break;
            case I_WAITING:
                waiting++;
                break;
            case I_FAILED:
                failed++;
                break;
            }
        }
        if (off < sizeof(line))
            off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%s %d/%d", j ? ", " : "",
                                    jb->name, jd, jb->instances);
    }
    ag_plugin_info(b->ctx, "progress (%s): %d/%d done, %d running, %d waiting, %d failed [%s]", why,
                   done, total, running, waiting, failed, line);
}

/* ---- scheduling ---- */

/* Whether an instance may be launched now. */
static bool
inst_due(const struct inst *in, double now)
{
    return in->state == I_WAITING && in->not_before <= now;
}

static bool
any_waiting(struct batch *b)
{
    for (size_t j = 0; j < b->njobs; j++)
        for (int i = 0; i < b->jobs[j].instances; i++)
            if (b->jobs[j].inst[i].state == I_WAITING)
                return true;
    return false;
}

/* Arms a timer that revives offers when `in`'s backoff ends. */
static void
arm_retry(struct batch *b, const struct inst *in)
{
    example_revive_at(b->ctx, in->not_before);
}

static void
check_finished(struct batch *b)
{
    for (size_t j = 0; j < b->njobs; j++)
        for (int i = 0; i < b->jobs[j].instances; i++)
            if (b->jobs[j].inst[i].state != I_DONE)
                return;
    if (!b->finished) {
        b->finished = true;
        report_progress(b, "finished");
        ag_plugin_info(b->ctx, "all jobs succeeded");
        ag_plugin_exit(b->ctx, 0);
    }
}

static struct ag_task *
make_task(struct batch *b, struct inst *in)
{
    struct job *jb = in->job;
    char index[16], attempt[16];
    const char *vars[] = {"BATCH_JOB",     jb->name, "BATCH_INSTANCE", index,
                          "BATCH_ATTEMPT", attempt,  NULL};

    snprintf(index, sizeof(index), "%d", in->index);
    snprintf(attempt, sizeof(attempt), "%d", in->attempt);
    return example_task_new(b->ctx, in->task_id, jb->resources, jb->command, vars, jb->env);
}

#define MAX_PER_OFFER 64

static void
batch_offers(struct ag_plugin_ctx *ctx, void *state, const struct ag_offer *const *offers, size_t n)
{
    struct batch *b = state;
    struct ag_driver *d = ag_plugin_driver(ctx);
    double now = example_wall_now();

    for (size_t o = 0; o < n; o++) {
        const struct ag_offer *of = offers[o];
        const char *offer_id = ag_offer_id(of);
        struct ag_task *tasks[MAX_PER_OFFER];
        struct inst *launched[MAX_PER_OFFER];
        struct ag_resources *avail = NULL; /* what is left of the offer */
        size_t nt = 0;
        bool due_left = false;

        if (ag_resources_from_offer(&avail, of) != 0) {
            ag_driver_decline(d, &offer_id, 1, 5);
            continue;
        }

        /* Record every launch before making it: one transaction per offer. */
        ag_kv_begin(ctx);
        for (size_t j = 0; j < b->njobs && !b->finished; j++) {
            struct job *jb = &b->jobs[j];

            if (jb->constraint_value != NULL &&
                !ag_offer_attribute_matches(of, jb->constraint_attr, jb->constraint_value)) {
                for (int i = 0; i < jb->instances; i++)
                    due_left = due_left || inst_due(&jb->inst[i], now);
                continue;
            }
            for (int i = 0; i < jb->instances; i++) {
                struct inst *in = &jb->inst[i];

                if (!inst_due(in, now))
                    continue;
                if (nt == MAX_PER_OFFER || !ag_resources_contains(avail, jb->need)) {
                    due_left = true;
                    continue;
                }
                in->attempt++;
                snprintf(in->task_id, sizeof(in->task_id), "%s.%d.%d", jb->name, in->index,
                         in->attempt);
                snprintf(in->agent_id, sizeof(in->agent_id), "%s", ag_offer_agent_id(of));
                if ((tasks[nt] = make_task(b, in)) == NULL) {
                    in->attempt--;
                    continue;
                }
                in->state = I_LAUNCHED;
                inst_save(b, in);
                launched[nt] = in;
                nt++;
                ag_resources_subtract(avail, jb->need); /* contained: cannot fail */
            }
        }
        ag_resources_free(avail);
        if (ag_kv_commit(ctx) != 0) {
            /* Not recorded: do not launch what a restart would not know about. */
            for (size_t t = 0; t < nt; t++) {
                launched[t]->state = I_WAITING;
                ag_task_free(tasks[t]);
            }
            nt = 0;
        }
        if (ag_driver_accept(d, &offer_id, 1, tasks, nt, due_left ? 5 : 60) != 0 && nt > 0) {
            ag_plugin_warn(ctx, "launch on offer %s failed: %s; will retry", offer_id,
                           ag_last_error());
            for (size_t t = 0; t < nt; t++) {
                launched[t]->state = I_WAITING;
                inst_save(b, launched[t]);
            }
        }
        for (size_t t = 0; t < nt; t++) {
            ag_plugin_info(ctx, "launched %s on %s", launched[t]->task_id, ag_offer_hostname(of));
            ag_task_free(tasks[t]);
        }
        if (nt > 0)
            report_progress(b, "launched");
    }
    ag_driver_want_offers(d, any_waiting(b));
}

static struct inst *
find_inst(struct batch *b, const char *task_id)
{
    for (size_t j = 0; j < b->njobs; j++)
        for (int i = 0; i < b->jobs[j].instances; i++)
            if (strcmp(b->jobs[j].inst[i].task_id, task_id) == 0)
                return &b->jobs[j].inst[i];
    return NULL;
}

static void
batch_status_update(struct ag_plugin_ctx *ctx, void *state, const struct ag_task_status *s)
{
    struct batch *b = state;
    enum ag_task_state st = ag_status_state(s);
    struct inst *in = find_inst(b, ag_status_task_id(s));
    bool not_launched;

    if (in == NULL || in->state != I_LAUNCHED) {
        /* A task of an earlier attempt or run that still runs: nobody wants it. */
        if (!ag_task_state_terminal(st) && st != AG_TASK_KILLING)
            ag_driver_kill(ag_plugin_driver(ctx), ag_status_task_id(s), ag_status_agent_id(s));
        return;
    }
    if (!ag_task_state_terminal(st))
        return;
    if (st == AG_TASK_FINISHED) {
        in->state = I_DONE;
        inst_save(b, in);
        ag_plugin_info(ctx, "%s finished", in->task_id);
        report_progress(b, "task finished");
        check_finished(b);
        return;
    }
    /* Launches that never reached the master are not the job's fault. */
    not_launched =
        st == AG_TASK_DROPPED ||
        (st == AG_TASK_LOST && strcmp(ag_status_reason(s), "REASON_RECONCILIATION") == 0 &&
         strcmp(ag_status_message(s), "task unknown") == 0);
    if (!not_launched)
        in->failures++;
    ag_plugin_warn(ctx, "%s ended %s: %s (failure %d of %d allowed retries)", in->task_id,
                   ag_task_state_name(st), ag_status_message(s), in->failures, in->job->retries);
    if (in->failures > in->job->retries) {
        in->state = I_FAILED;
        inst_save(b, in);
        report_progress(b, "failed");
        ag_plugin_error(ctx, "job %s instance %d failed for good after %d attempts", in->job->name,
                        in->index, in->attempt);
        b->finished = true;
        ag_plugin_exit(ctx, 1);
        return;
    }
    in->state = I_WAITING;
    in->not_before = 0;
    if (!not_launched) {
        double delay = in->job->backoff_s * pow(2, in->failures - 1);

        if (delay > in->job->max_backoff_s)
            delay = in->job->max_backoff_s;
        in->not_before = example_wall_now() + delay;
        ag_plugin_info(ctx, "retrying %s/%d in %.1f s", in->job->name, in->index, delay);
    }
    inst_save(b, in);
    report_progress(b, "retry");
    arm_retry(b, in);
}

static void
batch_subscribed(struct ag_plugin_ctx *ctx, void *state, const char *framework_id,
                 bool resubscribed)
{
    struct batch *b = state;
    const char **ids = NULL, **agents = NULL;
    size_t n = 0, cap = 0;

    for (size_t j = 0; j < b->njobs; j++)
        cap += (size_t)b->jobs[j].instances;
    ids = calloc(cap + 1, sizeof(*ids));
    agents = calloc(cap + 1, sizeof(*agents));
    if (ids != NULL && agents != NULL) {
        for (size_t j = 0; j < b->njobs; j++) {
            for (int i = 0; i < b->jobs[j].instances; i++) {
                struct inst *in = &b->jobs[j].inst[i];

                if (in->state != I_LAUNCHED)
                    continue;
                ids[n] = in->task_id;
                agents[n] = in->agent_id[0] ? in->agent_id : NULL;
                n++;
            }
        }
    }
    if (n > 0) {
        ag_plugin_info(ctx, "reconciling %zu launched tasks", n);
        ag_driver_reconcile_until_known(ag_plugin_driver(ctx), ids, agents, n, 1, 30);
    }
    free(ids);
    free(agents);
    /* Every task the master knows: ones of earlier attempts still running are killed. */
    ag_driver_reconcile(ag_plugin_driver(ctx), NULL, NULL, 0);
    ag_driver_want_offers(ag_plugin_driver(ctx), any_waiting(b));
    report_progress(b, resubscribed ? "resumed" : "started");
}

static void
batch_reconciled(struct ag_plugin_ctx *ctx, void *state)
{
    ag_plugin_info(ctx, "every launched task reconciled");
}

static void
progress_tick(struct ag_plugin_ctx *ctx, void *state, void *arg)
{
    struct batch *b = state;

    report_progress(b, "periodic");
    ag_plugin_after(ctx, (uint64_t)(b->progress_s * 1000), progress_tick, NULL, NULL);
}

/* ---- configuration ---- */

static int
parse_resources(struct ag_plugin_ctx *ctx, struct job *jb)
{
    int rv = ag_resources_parse(&jb->need, jb->resources);

    if (rv != 0)
        ag_plugin_error(ctx, "job %s: bad resources \"%s\": %s (want e.g. \"cpus:0.5;mem:128\")",
                        jb->name, jb->resources, ag_last_error());
    return rv;
}

static int
parse_job(struct ag_plugin_ctx *ctx, json_t *o, struct job *jb)
{
    const char *resources = "cpus:0.1;mem:32", *constraint = NULL;
    json_error_t e;

    jb->instances = 1;
    jb->backoff_s = 1;
    jb->max_backoff_s = 60;
    if (json_unpack_ex(o, &e, JSON_STRICT, "{s:s,s:s,s?s,s?i,s?i,s?F,s?F,s?s,s?o}", "name",
                       &jb->name, "command", &jb->command, "resources", &resources, "instances",
                       &jb->instances, "retries", &jb->retries, "backoff_s", &jb->backoff_s,
                       "max_backoff_s", &jb->max_backoff_s, "constraint", &constraint, "env",
                       &jb->env) != 0) {
        ag_plugin_error(ctx, "config: a job: %s", e.text);
        return -AG_EINVAL;
    }
    if (!example_name_ok(jb->name, NAME_MAX_LEN)) {
        ag_plugin_error(ctx, "config: job name \"%s\": use 1..%d of [A-Za-z0-9_-]", jb->name,
                        NAME_MAX_LEN);
        return -AG_EINVAL;
    }
    if (jb->instances < 1 || jb->instances > 10000 || jb->retries < 0 || jb->backoff_s < 0 ||
        jb->max_backoff_s < jb->backoff_s) {
        ag_plugin_error(ctx,
                        "config: job %s: instances 1..10000, retries >= 0, 0 <= backoff_s <= "
                        "max_backoff_s",
                        jb->name);
        return -AG_EINVAL;
    }
    if (!example_env_ok(jb->env)) {
        ag_plugin_error(ctx, "config: job %s: env must map names to strings", jb->name);
        return -AG_EINVAL;
    }
    if (constraint != NULL) {
        const char *colon = strchr(constraint, ':');

        if (colon == NULL || colon == constraint || colon[1] == '\0' ||
            (size_t)(colon - constraint) >= sizeof(jb->constraint_attr)) {
            ag_plugin_error(ctx, "config: job %s: constraint \"%s\" should be ATTRIBUTE:VALUE",
                            jb->name, constraint);
            return -AG_EINVAL;
        }
        memcpy(jb->constraint_attr, constraint, (size_t)(colon - constraint));
        jb->constraint_attr[colon - constraint] = '\0';
        jb->constraint_value = colon + 1;
    }
    snprintf(jb->resources, sizeof(jb->resources), "%s", resources);
    return parse_resources(ctx, jb);
}

static void
batch_free(struct batch *b)
{
    if (b == NULL)
        return;
    for (size_t j = 0; j < b->njobs; j++) {
        free(b->jobs[j].inst);
        ag_resources_free(b->jobs[j].need);
    }
    free(b->jobs);
    json_decref(b->config);
    free(b);
}

static int
batch_init(struct ag_plugin_ctx *ctx, const char *config_json, void **state)
{
    struct batch *b = calloc(1, sizeof(*b));
    json_t *jobs;
    json_error_t e;
    int rv = -AG_EINVAL;

    if (b == NULL)
        return -AG_ENOMEM;
    memset(&e, 0, sizeof(e));
    b->ctx = ctx;
    b->progress_s = 30;
    if ((b->config = json_loads(config_json, 0, &e)) == NULL ||
        json_unpack_ex(b->config, &e, 0, "{s:o,s?F}", "jobs", &jobs, "progress_interval_s",
                       &b->progress_s) != 0 ||
        !json_is_array(jobs) || json_array_size(jobs) == 0) {
        ag_plugin_error(ctx, "config: needs a non-empty array \"jobs\"%s%s", e.text[0] ? ": " : "",
                        e.text);
        goto fail;
    }
    b->njobs = json_array_size(jobs);
    if ((b->jobs = calloc(b->njobs, sizeof(*b->jobs))) == NULL) {
        rv = -AG_ENOMEM;
        goto fail;
    }
    for (size_t j = 0; j < b->njobs; j++) {
        struct job *jb = &b->jobs[j];

        if ((rv = parse_job(ctx, json_array_get(jobs, j), jb)) != 0)
            goto fail;
        for (size_t k = 0; k < j; k++) {
            if (strcmp(b->jobs[k].name, jb->name) == 0) {
                ag_plugin_error(ctx, "config: two jobs named %s", jb->name);
                rv = -AG_EINVAL;
                goto fail;
            }
        }
        if ((jb->inst = calloc((size_t)jb->instances, sizeof(*jb->inst))) == NULL) {
            rv = -AG_ENOMEM;
            goto fail;
        }
        for (int i = 0; i < jb->instances; i++) {
            jb->inst[i].job = jb;
            jb->inst[i].index = i;
            inst_load(b, &jb->inst[i]);
            if (jb->inst[i].state == I_WAITING && jb->inst[i].not_before > 0)
                arm_retry(b, &jb->inst[i]);
        }
    }
    if (b->progress_s > 0)
        ag_plugin_after(ctx, (uint64_t)(b->progress_s * 1000), progress_tick, NULL, NULL);
    *state = b;
    /* A run that ended before a restart (e.g. killed right after the last task finished). */
    for (size_t j = 0; j < b->njobs; j++) {
        for (int i = 0; i < b->jobs[j].instances; i++) {
            if (b->jobs[j].inst[i].state == I_FAILED) {
                ag_plugin_error(ctx, "job %s instance %d had failed for good", b->jobs[j].name, i);
                b->finished = true;
                ag_plugin_exit(ctx, 1);
                return 0;
            }
        }
    }
    check_finished(b);
    return 0;
fail:
    batch_free(b);
    return rv;
}

static void
batch_fini(struct ag_plugin_ctx *ctx, void *state)
{
    batch_free(state);
}

AG_PLUGIN_EXPORT const struct ag_plugin agora_plugin = {
    .abi_version = AG_PLUGIN_ABI_VERSION,
    .size = sizeof(struct ag_plugin),
    .name = "batch",
    .version = "1.0",
    .init = batch_init,
    .fini = batch_fini,
    .subscribed = batch_subscribed,
    .offers = batch_offers,
    .status_update = batch_status_update,
    .reconciled = batch_reconciled,
};
