/*
 * The Mesos /state shape of a task and of a task status, one module for the
 * master's and the agent's HTTP APIs (each adds what only it knows: the agent
 * its sandbox, pids and container id).
 *
 * A task: "id", "name", "framework_id", "executor_id", "slave_id" and
 * "agent_id" (the same), "state", "resources" (res_to_json), "statuses" (the
 * latest status when given, else []), "labels" ([{"key", "value"}]), and when
 * set: "healthy" (the latest verdict), "user" (the command's), "container"
 * ({"type": "MESOS", "image", "network"}, only with an image),
 * "health_check" ({"type", "delay_seconds", "interval_seconds",
 * "timeout_seconds", "consecutive_failures", "grace_period_seconds" and
 * "command": {"value"}, "http": {"port", "path"} or "tcp": {"port"}}).
 * Agora has no discovery info, so no "discovery".
 *
 * A status: "state", "timestamp", "source", "uuid", and when set "reason",
 * "message", "healthy".
 *
 * Strings may be NULL (rendered as ""). Both return a new reference, or NULL
 * when out of memory.
 */
#ifndef AGORA_TASK_JSON_H
#define AGORA_TASK_JSON_H

#include "msg.h"

#include <jansson.h>

json_t *task_json_status(const struct msg_task_status *st);

/* `latest` may be NULL (no status yet); `state` is the task's current state. */
json_t *task_json_new(const struct msg_task_info *info, const struct msg_task_status *latest,
                      enum msg_task_state state, const char *framework_id, const char *agent_id);

#endif
