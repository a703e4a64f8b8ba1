/*
 * spread: keeps `count` copies of a task running, each on an agent with a
 * different value of an attribute (e.g. one per rack), and replaces copies
 * that end or are lost. It runs until stopped.
 *
 * Configuration:
 *   {"name": "web",                       task name prefix, [A-Za-z0-9_-], default "spread"
 *    "command": "python3 -m http.server", run with /bin/sh -c (required)
 *    "resources": "cpus:0.1;mem:64",      resources of one copy
 *    "count": 2,                          copies (default 2)
 *    "attribute": "rack",                 the attribute whose values must differ (required)
 *    "values": ["r1", "r2"],              optional: only agents with one of these values
 *    "env": {"KEY": "value"}}             optional
 * Each copy gets SPREAD_SLOT and SPREAD_VALUE (its attribute value) in its
 * environment.
 *
 * The copies are slots 0..count-1, each EMPTY, LAUNCHED or RUNNING, kept in the
 * key-value store as "slot/N" (JSON) and written before a launch. A slot whose
 * task ends becomes EMPTY and is filled from the next offer with a value no
 * other copy holds; after repeated quick failures the refill waits (1 s,
 * doubling up to 60 s). On subscription spread reconciles its copies and asks
 * the master for every task of the framework: a running task that is in no
 * slot (e.g. left from a larger `count`) is killed.
 */
#include <agora/plugin.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example_util.h"

#define MAX_COUNT 1000
#define STABLE_S 10.0 /* a copy running this long resets its slot's failure count */

enum slot_state { S_EMPTY, S_LAUNCHED, S_RUNNING };
static const char *const state_names[] = {"empty", "launched", "running"};

struct slot {
    enum slot_state state;
    char task_id[64];
    char agent_id[128];
    char value[128];      /* the attribute value of its agent */
    int fails;            /* quick failures in a row */
    double not_before;    /* wall clock: earliest refill */
    double running_since; /* wall clock, in memory only */
};

struct spread {
    struct ag_plugin_ctx *ctx;
    json_t *config;
    const char *name, *command, *attribute;
    char resources[256]; /* of one copy */
    json_t *values, *env;
    int count;
    long long gen; /* task id generation, persisted as "gen" */
    struct slot *slots;
};

/* ---- persistence ---- */

static void
slot_save(struct spread *sp, int i)
{
    struct slot *s = &sp->slots[i];
    char key[32];

    snprintf(key, sizeof(key), "slot/%d", i);
    example_kv_save(sp->ctx, key, "{s:s,s:s,s:s,s:s,s:i,s:f}", "state", state_names[s->state],
                    "task_id", s->task_id, "agent_id", s->agent_id, "value", s->value, "fails",
                    s->fails, "not_before", s->not_before);
}

static void
slot_load(struct spread *sp, int i)
{
    struct slot *s = &sp->slots[i];
    const char *state = "empty", *task_id = "", *agent_id = "", *value = "";
    char key[32];
    json_t *o;

    snprintf(key, sizeof(key), "slot/%d", i);
    if (example_kv_load(sp->ctx, key, &o, "{s:s,s:s,s:s,s:s,s:i,s:F}", "state", &state,
                        "task_id", &task_id, "agent_id", &agent_id, "value", &value, "fails",
                        &s->fails, "not_before", &s->not_before) != 0)
        return;
    for (int k = S_EMPTY; k <= S_RUNNING; k++)
        if (strcmp(state, state_names[k]) == 0)
            s->state = (enum slot_state)k;
    snprintf(s->task_id, sizeof(s->task_id), "%s", task_id);
    snprintf(s->agent_id, sizeof(s->agent_id), "%s", agent_id);
    snprintf(s->value, sizeof(s->value), "%s", value);
    if (s->state == S_RUNNING)
        s->running_since = example_wall_now();
    json_decref(o);
}

/* ---- scheduling ---- */

static void
report(struct spread *sp)
{
    char line[1024];
    size_t off = 0;
    int running = 0;

    line[0] = '\0';
    for (int i = 0; i < sp->count; i++) {
        struct slot *s = &sp->slots[i];

        running += s->state == S_RUNNING;
        if (off < sizeof(line))
            off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%d:%s%s%s", i ? ", " : "", i,
                                    state_names[s->state], s->value[0] ? "@" : "", s->value);
    }
    ag_plugin_info(sp->ctx, "%d/%d copies running [%s]", running, sp->count, line);
}

static bool
any_empty(struct spread *sp)
{
    for (int i = 0; i < sp->count; i++)
        if (sp->slots[i].state == S_EMPTY)
            return true;
    return false;
}

static bool
value_allowed(struct spread *sp, const char *v)
{
    size_t i;
    json_t *x;

    if (sp->values == NULL)
        return true;
    json_array_foreach(sp->values, i, x)
    {
        if (strcmp(json_string_value(x), v) == 0)
            return true;
    }
    return false;
}

static bool
value_taken(struct spread *sp, const char *v)
{
    for (int i = 0; i < sp->count; i++)
        if (sp->slots[i].state != S_EMPTY && strcmp(sp->slots[i].value, v) == 0)
            return true;
    return false;
}

static struct ag_task *
make_task(struct spread *sp, int i)
{
    struct slot *s = &sp->slots[i];
    char num[16];
    const char *vars[] = {"SPREAD_SLOT", num, "SPREAD_VALUE", s->value, NULL};

    snprintf(num, sizeof(num), "%d", i);
    return example_task_new(sp->ctx, s->task_id, sp->resources, sp->command, vars, sp->env);
}

/* The first empty slot whose backoff is over, or -1. */
static int
free_slot(struct spread *sp, double now)
{
    for (int i = 0; i < sp->count; i++)
        if (sp->slots[i].state == S_EMPTY && sp->slots[i].not_before <= now)
            return i;
    return -1;
}

static void
spread_offers(struct ag_plugin_ctx *ctx, void *state, const struct ag_offer *const *offers,
              size_t n)
{
    struct spread *sp = state;
    struct ag_driver *d = ag_plugin_driver(ctx);
    double now = example_wall_now();
    char gen[32];

    for (size_t o = 0; o < n; o++) {
        const struct ag_offer *of = offers[o];
        const char *offer_id = ag_offer_id(of);
        const char *v = ag_offer_attribute(of, sp->attribute);
        struct ag_task *t;
        struct slot *s;
        int i;

        if (v == NULL || !value_allowed(sp, v) || value_taken(sp, v) ||
            ag_offer_fits(of, sp->resources) != 1 || (i = free_slot(sp, now)) < 0) {
            ag_driver_decline(d, &offer_id, 1, 30);
            continue;
        }
        s = &sp->slots[i];
        snprintf(s->task_id, sizeof(s->task_id), "%s.%d.%lld", sp->name, i, ++sp->gen);
        snprintf(s->agent_id, sizeof(s->agent_id), "%s", ag_offer_agent_id(of));
        snprintf(s->value, sizeof(s->value), "%s", v);
        if ((t = make_task(sp, i)) == NULL) {
            ag_driver_decline(d, &offer_id, 1, 5);
            continue;
        }
        /* Record the launch (and the generation) before making it. */
        s->state = S_LAUNCHED;
        snprintf(gen, sizeof(gen), "%lld", sp->gen);
        ag_kv_begin(ctx);
        ag_kv_put_str(ctx, "gen", gen);
        slot_save(sp, i);
        if (ag_kv_commit(ctx) != 0 || ag_driver_accept(d, &offer_id, 1, &t, 1, 30) != 0) {
            ag_plugin_warn(ctx, "could not launch %s: %s", s->task_id, ag_last_error());
            s->state = S_EMPTY;
            s->value[0] = '\0';
            slot_save(sp, i);
        } else {
            ag_plugin_info(ctx, "launched %s on %s (%s=%s)", s->task_id, ag_offer_hostname(of),
                           sp->attribute, v);
        }
        ag_task_free(t);
    }
    ag_driver_want_offers(d, any_empty(sp));
}

static int
find_slot(struct spread *sp, const char *task_id)
{
    for (int i = 0; i < sp->count; i++)
        if (sp->slots[i].state != S_EMPTY && strcmp(sp->slots[i].task_id, task_id) == 0)
            return i;
    return -1;
}

static void
spread_status_update(struct ag_plugin_ctx *ctx, void *state, const struct ag_task_status *st)
{
    struct spread *sp = state;
    enum ag_task_state ts = ag_status_state(st);
    int i = find_slot(sp, ag_status_task_id(st));
    double now = example_wall_now(), delay;
    struct slot *s;

    if (i < 0) {
        if (!ag_task_state_terminal(ts) && ts != AG_TASK_KILLING) {
            ag_plugin_info(ctx, "killing %s: not one of the copies", ag_status_task_id(st));
            ag_driver_kill(ag_plugin_driver(ctx), ag_status_task_id(st), ag_status_agent_id(st));
        }
        return;
    }
    s = &sp->slots[i];
    if (ts == AG_TASK_RUNNING && s->state != S_RUNNING) {
        s->state = S_RUNNING;
        s->running_since = now;
        slot_save(sp, i);
        report(sp);
        return;
    }
    if (!ag_task_state_terminal(ts))
        return;
    if (s->state == S_RUNNING && now - s->running_since >= STABLE_S)
        s->fails = 0;
    s->fails++;
    /* The first replacement is immediate; quick failures in a row back off. */
    delay = s->fails <= 1 ? 0 : fmin(pow(2, s->fails - 2), 60);
    ag_plugin_warn(ctx, "copy %d (%s on %s=%s) ended %s: %s; replacing%s", i, s->task_id,
                   sp->attribute, s->value, ag_task_state_name(ts), ag_status_message(st),
                   delay > 0 ? " after a backoff" : "");
    s->state = S_EMPTY;
    s->value[0] = '\0';
    s->not_before = now + delay;
    slot_save(sp, i);
    report(sp);
    if (delay > 0)
        ag_plugin_after(ctx, (uint64_t)(delay * 1000) + 1, example_revive, NULL, NULL);
    else
        example_revive(ctx, sp, NULL);
}

static void
spread_subscribed(struct ag_plugin_ctx *ctx, void *state, const char *framework_id,
                  bool resubscribed)
{
    struct spread *sp = state;
    struct ag_driver *d = ag_plugin_driver(ctx);
    const char *ids[MAX_COUNT], *agents[MAX_COUNT];
    size_t n = 0;

    for (int i = 0; i < sp->count; i++) {
        if (sp->slots[i].state == S_EMPTY)
            continue;
        ids[n] = sp->slots[i].task_id;
        agents[n] = sp->slots[i].agent_id[0] ? sp->slots[i].agent_id : NULL;
        n++;
    }
    if (n > 0) {
        ag_plugin_info(ctx, "reconciling %zu copies", n);
        ag_driver_reconcile_until_known(d, ids, agents, n, 1, 30);
    }
    ag_driver_reconcile(d, NULL, NULL, 0); /* every task the master knows: strays are killed */
    ag_driver_want_offers(d, any_empty(sp));
    report(sp);
}

static void
spread_reconciled(struct ag_plugin_ctx *ctx, void *state)
{
    ag_plugin_info(ctx, "every copy reconciled");
    report(state);
}

/* ---- configuration ---- */

static int
parse_resources(struct spread *sp)
{
    struct ag_resources *r = NULL;
    int rv = ag_resources_parse(&r, sp->resources);

    ag_resources_free(r);
    if (rv != 0)
        ag_plugin_error(sp->ctx,
                        "config: bad resources \"%s\": %s (want e.g. \"cpus:0.5;mem:128\")",
                        sp->resources, ag_last_error());
    return rv;
}

static void
spread_free(struct spread *sp)
{
    if (sp == NULL)
        return;
    free(sp->slots);
    json_decref(sp->config);
    free(sp);
}

static int
spread_init(struct ag_plugin_ctx *ctx, const char *config_json, void **state)
{
    struct spread *sp = calloc(1, sizeof(*sp));
    const char *resources = "cpus:0.1;mem:32";
    char *gen = NULL;
    json_error_t e;
    size_t i;
    json_t *v;

    if (sp == NULL)
        return -AG_ENOMEM;
    memset(&e, 0, sizeof(e));
    sp->ctx = ctx;
    sp->name = "spread";
    sp->count = 2;
    if ((sp->config = json_loads(config_json, 0, &e)) == NULL ||
        json_unpack_ex(sp->config, &e, JSON_STRICT, "{s?s,s:s,s?s,s?i,s:s,s?o,s?o}", "name",
                       &sp->name, "command", &sp->command, "resources", &resources, "count",
                       &sp->count, "attribute", &sp->attribute, "values", &sp->values, "env",
                       &sp->env) != 0) {
        ag_plugin_error(ctx, "config: %s", e.text);
        goto fail;
    }
    if (!example_name_ok(sp->name, 40)) {
        ag_plugin_error(ctx, "config: name \"%s\": use 1..40 of [A-Za-z0-9_-]", sp->name);
        goto fail;
    }
    if (sp->count < 1 || sp->count > MAX_COUNT) {
        ag_plugin_error(ctx, "config: count must be 1..%d", MAX_COUNT);
        goto fail;
    }
    if (sp->values != NULL) {
        if (!json_is_array(sp->values))
            goto bad_values;
        json_array_foreach(sp->values, i, v)
        {
            if (!json_is_string(v))
                goto bad_values;
        }
    }
    if (!example_env_ok(sp->env)) {
        ag_plugin_error(ctx, "config: env must map names to strings");
        goto fail;
    }
    snprintf(sp->resources, sizeof(sp->resources), "%s", resources);
    if (parse_resources(sp) != 0)
        goto fail;
    if ((sp->slots = calloc((size_t)sp->count, sizeof(*sp->slots))) == NULL)
        goto fail;
    if (ag_kv_get(ctx, "gen", &gen, NULL) == 0)
        sp->gen = atoll(gen);
    free(gen);
    for (int s = 0; s < sp->count; s++) {
        slot_load(sp, s);
        if (sp->slots[s].state == S_EMPTY && sp->slots[s].not_before > example_wall_now())
            example_revive_at(ctx, sp->slots[s].not_before);
    }
    *state = sp;
    return 0;
bad_values:
    ag_plugin_error(ctx, "config: values must be an array of strings");
fail:
    spread_free(sp);
    return -AG_EINVAL;
}

static void
spread_fini(struct ag_plugin_ctx *ctx, void *state)
{
    spread_free(state);
}

AG_PLUGIN_EXPORT const struct ag_plugin agora_plugin = {
    .abi_version = AG_PLUGIN_ABI_VERSION,
    .size = sizeof(struct ag_plugin),
    .name = "spread",
    .version = "1.0",
    .init = spread_init,
    .fini = spread_fini,
    .subscribed = spread_subscribed,
    .offers = spread_offers,
    .status_update = spread_status_update,
    .reconciled = spread_reconciled,
};
