/*
 * svc_render: the JSON views of the agora-services state that the REST API
 * serves (Marathon's shapes): apps with their counts, deployments and
 * lastTaskFailure, tasks, the launch queue.
 *
 * Tasks are written straight as JSON text into a growing buffer (a task list
 * of 10,000 tasks in a few ms); nothing is printed to be parsed back. App
 * bodies are built with jansson (svcr_app_json) and, for the list endpoints,
 * written into the same buffer with their tasks (svcr_app_text).
 *
 * Caller: api.c. Reads the state (svc.h) and never changes it; calls only
 * svc_apps_sorted of svc.c. Loop thread only.
 */
#ifndef AGORA_SERVICES_SVC_RENDER_H
#define AGORA_SERVICES_SVC_RENDER_H

#include "svc.h"

/* A growing text buffer (p is NUL-terminated; free(p) when done). */
struct svcr_buf {
    char *p;
    size_t len, cap;
};
void svcr_put(struct svcr_buf *b, const char *data, size_t len);
/* Appends a NUL-terminated string as it is. */
void svcr_lit(struct svcr_buf *b, const char *lit);

/* Appends a task / a JSON array of tasks. */
void svcr_task_text(const struct svc_task *t, struct svcr_buf *b);
void svcr_tasks_text(struct svc_task *const *tasks, size_t n, struct svcr_buf *b);

/* The app's counts: staged, running, healthy, unhealthy. */
void svcr_app_counts(const struct svc_app *app, int *staged, int *running, int *healthy,
                     int *unhealthy);
/* A new reference: the app's definition with counts and deployments, and its
 * lastTaskFailure when `failure`. */
json_t *svcr_app_json(struct svc_app *app, bool failure);
/* Appends the app as svcr_app_json shows it, with "tasks" when `tasks`. */
void svcr_app_text(struct svc_app *app, bool tasks, bool failure, struct svcr_buf *b);

/* The launch queue (/v2/queue): {"queue": [...]}, a new reference. */
json_t *svcr_queue_json(struct svc *s);

#endif
