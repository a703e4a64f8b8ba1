/*
 * hello: the smallest complete Agora scheduler plugin. It runs `instances`
 * copies of a shell command and ends when all of them have ended: exit status
 * 0 when every one finished, 1 otherwise. docs/writing-a-scheduler.md explains
 * it line by line.
 *
 * Configuration (every key optional):
 *   {"instances": 3, "command": "echo hello from $(hostname)", "cpus": 0.1, "mem": 32}
 *
 * hello keeps its counts in memory only: a restarted hello starts over. The
 * batch plugin shows how to keep state across restarts.
 */
#include <agora/plugin.h>

#include <stdio.h>
#include <stdlib.h>

#define MAX_INSTANCES 1000

struct hello {
    int instances;                  /* how many tasks to run */
    const char *command;            /* what each runs (/bin/sh -c) */
    char resources[64];             /* what each needs, "cpus:C;mem:M" */
    struct ag_resources *need;      /* the same, parsed */
    int launched;                   /* tasks hello-0 .. hello-<launched - 1> were launched */
    int ended, failed;              /* how many ended, and how many of those did not finish */
    char ended_flag[MAX_INSTANCES]; /* per task: its end was counted */
};

static int
hello_init(struct ag_plugin_ctx *ctx, const char *config_json, void **state)
{
    struct hello *h = calloc(1, sizeof(*h));
    double cpus, mem;

    if (h == NULL)
        return -AG_ENOMEM;
    h->instances = (int)ag_plugin_config_int(ctx, "instances", 3);
    h->command = ag_plugin_config_string(ctx, "command", "echo hello from $(hostname)");
    cpus = ag_plugin_config_double(ctx, "cpus", 0.1);
    mem = ag_plugin_config_double(ctx, "mem", 32);
    snprintf(h->resources, sizeof(h->resources), "cpus:%g;mem:%g", cpus, mem);
    if (h->instances < 1 || h->instances > MAX_INSTANCES || !(cpus > 0) || !(mem > 0) ||
        ag_resources_parse(&h->need, h->resources) != 0) {
        ag_plugin_error(ctx, "instances must be 1..%d, cpus and mem above 0", MAX_INSTANCES);
        free(h);
        return -AG_EINVAL;
    }
    *state = h;
    return 0;
}

static void
hello_fini(struct ag_plugin_ctx *ctx, void *state)
{
    struct hello *h = state;

    ag_resources_free(h->need);
    free(h);
}

static void
hello_offers(struct ag_plugin_ctx *ctx, void *state, const struct ag_offer *const *offers, size_t n)
{
    struct hello *h = state;
    struct ag_driver *d = ag_plugin_driver(ctx);

    for (size_t i = 0; i < n; i++) {
        const char *offer_id = ag_offer_id(offers[i]);
        struct ag_resources *left = NULL; /* what is left of the offer */
        struct ag_task *tasks[16];
        size_t ntasks = 0;
        char id[32];

        ag_resources_from_offer(&left, offers[i]); /* NULL (nothing fits) when out of memory */
        while (h->launched + (int)ntasks < h->instances && ntasks < 16 &&
               ag_resources_contains(left, h->need)) {
            struct ag_task *t;

            snprintf(id, sizeof(id), "hello-%d", h->launched + (int)ntasks);
            t = ag_task_new(id, NULL, NULL);
            if (t == NULL || ag_task_set_resources(t, h->resources) != 0 ||
                ag_task_set_command(t, h->command) != 0) {
                ag_plugin_error(ctx, "cannot build task %s: %s", id, ag_last_error());
                ag_task_free(t);
                break;
            }
            tasks[ntasks++] = t;
            ag_resources_subtract(left, h->need);
        }
        ag_resources_free(left);
        /* With no task this is a decline; the rest of the offer is filtered for 60 s. */
        if (ag_driver_accept(d, &offer_id, 1, tasks, ntasks, 60) == 0)
            h->launched += (int)ntasks;
        for (size_t k = 0; k < ntasks; k++)
            ag_task_free(tasks[k]);
    }
}

static void
hello_status_update(struct ag_plugin_ctx *ctx, void *state, const struct ag_task_status *s)
{
    struct hello *h = state;
    enum ag_task_state st = ag_status_state(s);
    int index;

    ag_plugin_info(ctx, "%s is %s %s", ag_status_task_id(s), ag_task_state_name(st),
                   ag_status_message(s));
    if (!ag_task_state_terminal(st) || sscanf(ag_status_task_id(s), "hello-%d", &index) != 1 ||
        index < 0 || index >= h->launched || h->ended_flag[index])
        return;
    h->ended_flag[index] = 1;
    h->ended++;
    if (st != AG_TASK_FINISHED)
        h->failed++;
    if (h->ended == h->instances) {
        ag_plugin_info(ctx, "all %d tasks ended, %d failed", h->instances, h->failed);
        ag_plugin_exit(ctx, h->failed == 0 ? 0 : 1);
    }
}

AG_PLUGIN_EXPORT const struct ag_plugin agora_plugin = {
    .abi_version = AG_PLUGIN_ABI_VERSION,
    .size = sizeof(struct ag_plugin),
    .name = "hello",
    .version = "1.0",
    .init = hello_init,
    .fini = hello_fini,
    .offers = hello_offers,
    .status_update = hello_status_update,
};
