/*
 * app: Marathon app definitions (REST API v2 field names): parsing with
 * validation, Marathon's defaults, the canonical JSON form, app ids and
 * versions.
 *
 * An app definition lives in two forms. The canonical JSON (`spec->json`) has
 * every field Marathon returns, defaults filled in, unknown fields dropped; it
 * is what the API shows and what the store keeps. The parsed fields below are
 * derived from it for the scheduler. app_parse() goes from any user JSON to
 * both; loading a stored definition goes through the same function, so there
 * is one validator.
 *
 * Errors follow Marathon: a field of the wrong JSON type makes the request
 * "Invalid JSON" (HTTP 400); a well-typed but invalid value makes it "Object
 * is not valid" (HTTP 422). Both carry details [{path, errors[]}] with JSON
 * pointer-like paths ("/cpus", "/healthChecks(0)/portIndex").
 */
#ifndef AGORA_SERVICES_APP_H
#define AGORA_SERVICES_APP_H

#include "app_errors.h"
#include "attributes.h"

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define APP_ID_MAX 256     /* longest app id, including the NUL */
#define APP_VERSION_LEN 24 /* "2024-01-02T03:04:05.678Z" */
#define APP_MAX_PORTS 64
#define APP_MAX_INSTANCES 100000

enum app_kill_selection { APP_YOUNGEST_FIRST = 0, APP_OLDEST_FIRST = 1 };

enum app_hc_protocol { APP_HC_COMMAND, APP_HC_HTTP, APP_HC_TCP };

enum app_cons_op {
    APP_CONS_UNIQUE,
    APP_CONS_CLUSTER,
    APP_CONS_GROUP_BY,
    APP_CONS_LIKE,
    APP_CONS_UNLIKE,
    APP_CONS_MAX_PER,
    APP_CONS_IS,
};

struct app_constraint {
    char *field; /* "hostname" or an agent attribute name */
    enum app_cons_op op;
    char *value; /* NULL when not given */
    regex_t re;  /* LIKE, UNLIKE: the value, anchored */
    bool has_re;
    long num; /* GROUP_BY (0 = not given), MAX_PER */
};

struct app_health_check {
    enum app_hc_protocol protocol;
    char *command;  /* COMMAND */
    char *path;     /* HTTP */
    int port_index; /* HTTP, TCP (when port is 0) */
    int port;       /* HTTP, TCP: explicit port, 0 = port_index */
    double grace_s, interval_s, timeout_s, delay_s;
    int max_failures;
};

struct app_spec {
    char *id;    /* absolute: "/prod/web" */
    char *cmd;   /* NULL when args are used */
    char **args; /* NULL-terminated; NULL when cmd is used */
    size_t nargs;
    char *user; /* NULL = the framework's */
    double cpus, mem, disk, gpus;
    int64_t instances;
    uint32_t ports[APP_MAX_PORTS]; /* portDefinitions[].port (0 = any) */
    size_t nports;
    bool require_ports;
    struct app_constraint *cons;
    size_t ncons;
    char **roles; /* acceptedResourceRoles, NULL-terminated; NULL = any role */
    size_t nroles;
    struct app_health_check *hc; /* at most one; NULL when none */
    char *image;                 /* container image, NULL = host filesystem */
    char *network;               /* "host" or "none" */
    double min_health, max_over;
    double backoff_s, backoff_factor, max_delay_s;
    enum app_kill_selection kill_selection;
    double inactive_after_s, expunge_after_s;
    double kill_grace_s; /* < 0: not given (agent default) */
    char version[APP_VERSION_LEN + 1];
    char last_scaling_at[APP_VERSION_LEN + 1];
    char last_config_change_at[APP_VERSION_LEN + 1];
    json_t *json; /* the canonical definition (owned) */
};

/*
 * Parses and validates an app definition. `in` is the user's JSON object (not
 * changed). `id` (may be NULL) overrides the "id" of `in` (PUT on a path).
 * Returns a new spec, or NULL after adding to `err` (or, for lack of memory,
 * with nothing added: the daemon aborts on out of memory). The version
 * fields are copied from `in` when present (stored definitions) and left
 * empty otherwise; app_set_version() fills them in.
 */
struct app_spec *app_parse(const json_t *in, const char *id, struct app_errors *err);

void app_free(struct app_spec *s);

/* A deep copy (parsed again from the canonical JSON). */
struct app_spec *app_dup(const struct app_spec *s);

/*
 * Sets the version of `s` to `version` and its versionInfo: a change of only
 * the instance count (`scale_only`) moves lastScalingAt, any other change
 * moves lastConfigChangeAt too. `prev` (may be NULL) is the definition it
 * replaces, whose timestamps are kept where they do not move.
 */
void app_set_version(struct app_spec *s, const struct app_spec *prev, const char *version,
                     bool scale_only);

/*
 * Whether `a` and `b` differ in more than the instance count and version
 * fields (a "config change" that restarts tasks).
 */
bool app_config_differs(const struct app_spec *a, const struct app_spec *b);

/*
 * Merges a partial update into a definition: a copy of `base` with every
 * top-level field of `patch` replacing the same field (and "cmd"/"args",
 * "ports"/"portDefinitions" replacing each other). The version fields are
 * dropped. Returns a new reference.
 */
json_t *app_merge(const json_t *base, const json_t *patch);

/*
 * Normalizes a user-given app id into `out` (APP_ID_MAX bytes): a relative id
 * gets a leading '/', a trailing '/' is dropped. Returns 0, or -AG_EINVAL
 * with a reason in `why` (may be NULL) when a segment is not made of
 * lowercase letters, digits, '-' and '.' as Marathon requires.
 */
int app_id_normalize(const char *in, char *out, char *why, size_t whylen);

/* True when `src`, a secret's source, is no name in the secret store: empty,
 * over 255 bytes, or with an empty, "." or ".." segment. */
bool app_secret_source_bad(const char *src);

/* The task id prefix of an app: "/prod/web" -> "prod_web" (at most `len` - 1 bytes). */
void app_task_prefix(const char *app_id, char *out, size_t len);

/* Formats a time (seconds since the epoch) as Marathon does: "2024-01-02T03:04:05.678Z". */
void app_format_time(double t, char out[APP_VERSION_LEN + 1]);

/* The constraint operator's name ("UNIQUE", ...). */
const char *app_cons_op_name(enum app_cons_op op);

#endif
