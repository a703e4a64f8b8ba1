/* Validation and type errors of one request. See app_errors.h. */
#include "app_errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
app_errors_init(struct app_errors *e)
{
    e->details = json_array();
    e->type_error = false;
}

void
app_errors_fini(struct app_errors *e)
{
    json_decref(e->details);
    e->details = NULL;
}

void
app_errors_add(struct app_errors *e, const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    size_t i;
    json_t *d;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_array_foreach(e->details, i, d)
    {
        if (strcmp(json_string_value(json_object_get(d, "path")), path) == 0) {
            json_array_append_new(json_object_get(d, "errors"), json_string(msg));
            return;
        }
    }
    json_array_append_new(e->details, json_pack("{s:s,s:[s]}", "path", path, "errors", msg));
}

bool
app_errors_any(const struct app_errors *e)
{
    return json_array_size(e->details) > 0;
}

json_t *
app_errors_body(const struct app_errors *e)
{
    return json_pack("{s:s,s:O}", "message", e->type_error ? "Invalid JSON" : "Object is not valid",
                     "details", e->details);
}

int
app_errors_status(const struct app_errors *e)
{
    return e->type_error ? 400 : 422;
}
