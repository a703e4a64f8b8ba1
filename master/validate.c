/*
 * Validation of a task in an ACCEPT (validate.h): pure, no master state.
 */
#include "validate.h"

#include "ids.h"

#include <stdio.h>
#include <string.h>

const char *
validate_task(const struct msg_task_info *ti, bool id_in_use, const struct resources *remaining,
              char *why, size_t len)
{
    if (!ids_valid(ti->task_id)) {
        snprintf(why, len, "invalid task id '%.64s': use 1-63 characters of [A-Za-z0-9._-]",
                 ti->task_id);
        return why;
    }
    if (id_in_use) {
        snprintf(why, len, "task id '%s' is already used by a task of this framework", ti->task_id);
        return why;
    }
    if (strlen(ti->name) > MAX_TASK_NAME) {
        snprintf(why, len, "task name longer than %d bytes", MAX_TASK_NAME);
        return why;
    }
    if (res_empty(&ti->resources) || res_scalar(&ti->resources, "cpus") <= 0 ||
        res_scalar(&ti->resources, "mem") <= 0) {
        snprintf(why, len, "a task needs cpus > 0 and mem > 0");
        return why;
    }
    if (!res_contains(remaining, &ti->resources)) {
        char want[256], have[256];
        res_format(&ti->resources, want, sizeof(want));
        res_format(remaining, have, sizeof(have));
        snprintf(why, len, "task uses more than the offers hold: asks %.200s, offers have %.200s",
                 want, have);
        return why;
    }
    if (ti->command.shell ? ti->command.value[0] == '\0'
                          : (ti->command.value[0] == '\0' && ti->command.narguments == 0)) {
        snprintf(why, len, "the task has no command");
        return why;
    }
    if (strlen(ti->command.value) > MAX_COMMAND_LEN) {
        snprintf(why, len, "command longer than %d bytes", MAX_COMMAND_LEN);
        return why;
    }
    if (ti->command.nenvironment > MAX_TASK_ENV || ti->nlabels > MAX_TASK_LABELS) {
        snprintf(why, len, "too many environment variables or labels (at most %d)", MAX_TASK_ENV);
        return why;
    }
    if (ti->kill_grace_ms < 0 || ti->kill_grace_ms > 3600 * 1000) {
        snprintf(why, len, "kill_grace_ms must be between 0 and 3600000");
        return why;
    }
    if (ti->container.network[0] && strcmp(ti->container.network, "host") &&
        strcmp(ti->container.network, "none")) {
        snprintf(why, len, "container.network must be \"host\" or \"none\"");
        return why;
    }
    return NULL;
}
