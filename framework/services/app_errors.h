/*
 * app_errors: the validation and type errors of one request, gathered while
 * an app definition is parsed (app.c) or checked against the state (api.c),
 * and Marathon's reply for them. A value owned by its caller; loop thread.
 */
#ifndef AGORA_SERVICES_APP_ERRORS_H
#define AGORA_SERVICES_APP_ERRORS_H

#include <jansson.h>
#include <stdbool.h>

/* Validation and type errors of one request. */
struct app_errors {
    json_t *details; /* [{path, errors[]}] */
    bool type_error; /* some field had the wrong JSON type: 400, else 422 */
};

void app_errors_init(struct app_errors *e);
void app_errors_fini(struct app_errors *e);
/* Adds `msg` for `path` (merged with earlier errors of the same path). */
void app_errors_add(struct app_errors *e, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool app_errors_any(const struct app_errors *e);
/* The reply body: {"message": "Object is not valid" | "Invalid JSON", "details": [...]};
 * a new reference. */
json_t *app_errors_body(const struct app_errors *e);
/* The HTTP status: 400 for type errors, 422 otherwise. */
int app_errors_status(const struct app_errors *e);

#endif
