/*
 * libFuzzer harness for agora-services' app definitions (framework/services/app.c):
 * the input bytes, as JSON, must either be rejected (malformed JSON, or
 * app_parse errors with a 400 or 422 body) or parse into a definition whose
 * canonical JSON parses again into an equal definition (the store relies on
 * it). Merging the definition into itself must change nothing.
 */
#include "app.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct app_errors err;
    struct app_spec *s, *d;
    json_t *in = json_loadb((const char *)data, size, 0, NULL), *m, *body;

    if (in == NULL)
        return 0;
    app_errors_init(&err);
    s = app_parse(in, NULL, &err);
    if (s == NULL) {
        body = app_errors_body(&err);
        if (json_array_size(err.details) == 0 || body == NULL)
            abort(); /* a rejection always says why */
        json_decref(body);
    } else {
        app_set_version(s, NULL, "2024-01-01T00:00:00.000Z", false);
        d = app_dup(s);
        if (!json_equal(s->json, d->json) || app_config_differs(s, d))
            abort();
        m = app_merge(s->json, s->json);
        app_free(d);
        d = app_parse(m, NULL, &err);
        if (d == NULL || app_config_differs(s, d))
            abort();
        app_free(d);
        json_decref(m);
        app_free(s);
    }
    app_errors_fini(&err);
    json_decref(in);
    return 0;
}
