#include "task_json.h"

#include "resources.h"

#include <stdbool.h>
#include <string.h>

static const char *
task_json_str(const char *s)
{
    return s != NULL ? s : "";
}

static bool
task_json_set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

json_t *
task_json_status(const struct msg_task_status *st)
{
    json_t *o = json_object();

    if (o == NULL)
        return NULL;
    json_object_set_new(o, "state", json_string(msg_task_state_name(st->state)));
    json_object_set_new(o, "timestamp", json_real(st->timestamp));
    json_object_set_new(o, "source", json_string(task_json_str(st->source)));
    json_object_set_new(o, "uuid", json_string(task_json_str(st->uuid)));
    if (task_json_set(st->reason))
        json_object_set_new(o, "reason", json_string(st->reason));
    if (task_json_set(st->message))
        json_object_set_new(o, "message", json_string(st->message));
    if (st->healthy != MSG_TRI_UNSET)
        json_object_set_new(o, "healthy", json_boolean(st->healthy == MSG_TRI_TRUE));
    return o;
}

static json_t *
task_json_health_check(const struct msg_health_check *hc)
{
    const char *type = task_json_str(hc->type);
    json_t *o = json_pack("{s:s, s:f, s:f, s:f, s:i, s:f}", "type", type, "delay_seconds",
                          hc->delay_s, "interval_seconds", hc->interval_s, "timeout_seconds",
                          hc->timeout_s, "consecutive_failures", (int)hc->consecutive_failures,
                          "grace_period_seconds", hc->grace_period_s);

    if (o == NULL)
        return NULL;
    if (strcmp(type, "COMMAND") == 0)
        json_object_set_new(o, "command", json_pack("{s:s}", "value", task_json_str(hc->command)));
    else if (strcmp(type, "HTTP") == 0)
        json_object_set_new(o, "http",
                            json_pack("{s:i, s:i, s:s}", "port", (int)hc->port, "port_index",
                                      (int)hc->port_index, "path", task_json_str(hc->path)));
    else if (strcmp(type, "TCP") == 0)
        json_object_set_new(
            o, "tcp",
            json_pack("{s:i, s:i}", "port", (int)hc->port, "port_index", (int)hc->port_index));
    return o;
}

json_t *
task_json_new(const struct msg_task_info *info, const struct msg_task_status *latest,
              enum msg_task_state state, const char *framework_id, const char *agent_id)
{
    json_t *t = json_object(), *statuses = json_array(), *labels = json_array();

    if (t == NULL || statuses == NULL || labels == NULL) {
        json_decref(t);
        json_decref(statuses);
        json_decref(labels);
        return NULL;
    }
    json_object_set_new(t, "id", json_string(task_json_str(info->task_id)));
    json_object_set_new(t, "name", json_string(task_json_str(info->name)));
    json_object_set_new(t, "framework_id", json_string(task_json_str(framework_id)));
    json_object_set_new(t, "executor_id", json_string(task_json_str(info->executor_id)));
    json_object_set_new(t, "slave_id", json_string(task_json_str(agent_id)));
    json_object_set_new(t, "agent_id", json_string(task_json_str(agent_id)));
    json_object_set_new(t, "state", json_string(msg_task_state_name(state)));
    json_object_set_new(t, "resources", res_to_json(&info->resources));
    if (latest != NULL) {
        json_array_append_new(statuses, task_json_status(latest));
        if (latest->healthy != MSG_TRI_UNSET)
            json_object_set_new(t, "healthy", json_boolean(latest->healthy == MSG_TRI_TRUE));
    }
    json_object_set_new(t, "statuses", statuses);
    for (size_t i = 0; i < info->nlabels; i++)
        json_array_append_new(labels,
                              json_pack("{s:s, s:s}", "key", task_json_str(info->labels[i].key),
                                        "value", task_json_str(info->labels[i].value)));
    json_object_set_new(t, "labels", labels);
    if (task_json_set(info->command.user))
        json_object_set_new(t, "user", json_string(info->command.user));
    if (task_json_set(info->container.image))
        json_object_set_new(
            t, "container",
            json_pack("{s:s, s:s, s:s}", "type", "MESOS", "image", info->container.image, "network",
                      task_json_set(info->container.network) ? info->container.network : "host"));
    if (info->has_health_check)
        json_object_set_new(t, "health_check", task_json_health_check(&info->health_check));
    return t;
}
