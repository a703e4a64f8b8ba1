/*
 * A buggy plugin: its offers callback launches a task asking for one cpu more
 * than the offer holds, and leaves a key-value transaction open. The master
 * must answer TASK_ERROR (and stay healthy); the host must roll the
 * transaction back. The plugin exits 0 once it has seen the TASK_ERROR.
 */
#include <agora/plugin.h>

#include <stdio.h>
#include <stdlib.h>

static int tried;

static void
greedy_offers(struct ag_plugin_ctx *ctx, void *state, const struct ag_offer *const *offers,
              size_t n)
{
    struct ag_driver *d = ag_plugin_driver(ctx);

    for (size_t i = 0; i < n; i++) {
        const char *id = ag_offer_id(offers[i]);
        char res[64];
        struct ag_task *t;

        if (tried) {
            ag_driver_decline(d, &id, 1, 60);
            continue;
        }
        tried = 1;
        ag_kv_begin(ctx);
        ag_kv_put_str(ctx, "half-done", "never committed");
        snprintf(res, sizeof(res), "cpus:%g;mem:32", ag_offer_scalar(offers[i], "cpus") + 1);
        t = ag_task_new("too-big", NULL, NULL);
        if (t != NULL && ag_task_set_resources(t, res) == 0 &&
            ag_task_set_command(t, "sleep 1") == 0 && ag_driver_launch(d, id, t) == 0)
            ag_plugin_info(ctx, "launched too-big with %s", res);
        ag_task_free(t);
    }
}

static void
greedy_status_update(struct ag_plugin_ctx *ctx, void *state, const struct ag_task_status *s)
{
    char *v = NULL;

    ag_plugin_info(ctx, "%s %s: %s", ag_status_task_id(s), ag_task_state_name(ag_status_state(s)),
                   ag_status_message(s));
    if (ag_status_state(s) == AG_TASK_ERROR) {
        if (ag_kv_get(ctx, "half-done", &v, NULL) == -AG_ENOENT)
            ag_plugin_info(ctx, "the open transaction was rolled back");
        free(v);
        ag_plugin_exit(ctx, 0);
    }
}

AG_PLUGIN_EXPORT const struct ag_plugin agora_plugin = {
    .abi_version = AG_PLUGIN_ABI_VERSION,
    .size = sizeof(struct ag_plugin),
    .name = "greedy",
    .offers = greedy_offers,
    .status_update = greedy_status_update,
};
