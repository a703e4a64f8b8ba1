/*
 * Validation of the tasks a framework launches (ACCEPT): pure functions, no
 * master state, no I/O. A task that fails becomes TASK_ERROR with the reason.
 */
#ifndef AGORA_MASTER_VALIDATE_H
#define AGORA_MASTER_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include "msg.h"
#include "resources.h"

#define MAX_TASK_NAME 1024
#define MAX_TASK_ENV 1000
#define MAX_TASK_LABELS 1000
#define MAX_COMMAND_LEN (256 * 1024)

/*
 * Checks task `ti` of a framework (`id_in_use`: the framework already has a
 * task with its id) against `remaining`, what the accepted offers still hold.
 * Returns NULL when the task is valid, else `why` holding the reason (at most
 * `len` bytes, always terminated).
 */
const char *validate_task(const struct msg_task_info *ti, bool id_in_use,
                          const struct resources *remaining, char *why, size_t len);

#endif
