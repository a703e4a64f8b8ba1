/* App definitions: parse, validate, default, canonical JSON. See app.h. */
#define _GNU_SOURCE
#include "app.h"

#include "error.h"
#include "resources.h"
#include "xalloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Marathon's defaults. */
#define DEF_CPUS 1.0
#define DEF_MEM 128.0
#define DEF_BACKOFF_S 1.0
#define DEF_BACKOFF_FACTOR 1.15
#define DEF_MAX_DELAY_S 300.0
#define DEF_INACTIVE_S 300.0
#define DEF_EXPUNGE_S 600.0
#define DEF_HC_GRACE_S 300.0
#define DEF_HC_INTERVAL_S 60.0
#define DEF_HC_TIMEOUT_S 20.0
#define DEF_HC_DELAY_S 15.0
#define DEF_HC_FAILURES 3

#define MAX_CMD_LEN (256 * 1024)
#define MAX_KV 1000
#define MAX_REGEX_LEN 256   /* LIKE / UNLIKE patterns: characters */
#define MAX_REGEX_DEPTH 16  /* nested groups */
#define MAX_REGEX_BOUND 255 /* largest m or n in {m,n} */
#define MAX_REGEX_SIZE 5000 /* estimated automaton size, see regex_too_costly() */

/* ---- small helpers ---- */

static void
type_error(struct app_errors *err, const char *path, const char *expected)
{
    err->type_error = true;
    app_errors_add(err, path, "error.expected.js%s", expected);
}

/* Reads a number field: absent or null gives `def`. Returns false on a type error. */
static bool
get_num(const json_t *o, const char *key, const char *path, double def, double *out,
        struct app_errors *err)
{
    json_t *v = json_object_get(o, key);

    *out = def;
    if (v == NULL || json_is_null(v))
        return true;
    if (!json_is_number(v)) {
        type_error(err, path, "number");
        return false;
    }
    *out = json_number_value(v);
    return true;
}

static bool
get_bool(const json_t *o, const char *key, const char *path, bool def, bool *out,
         struct app_errors *err)
{
    json_t *v = json_object_get(o, key);

    *out = def;
    if (v == NULL || json_is_null(v))
        return true;
    if (!json_is_boolean(v)) {
        type_error(err, path, "boolean");
        return false;
    }
    *out = json_is_true(v);
    return true;
}

/* A string field or NULL when absent/null. */
static const char *
get_str(const json_t *o, const char *key, const char *path, struct app_errors *err)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        type_error(err, path, "string");
        return NULL;
    }
    return json_string_value(v);
}

/* An array field, or NULL when absent/null (type errors reported). */
static json_t *
get_arr(const json_t *o, const char *key, const char *path, struct app_errors *err)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_array(v)) {
        type_error(err, path, "array");
        return NULL;
    }
    return v;
}

static json_t *
get_obj(const json_t *o, const char *key, const char *path, struct app_errors *err)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_object(v)) {
        type_error(err, path, "object");
        return NULL;
    }
    return v;
}

static bool
is_integer(double v)
{
    return isfinite(v) && floor(v) == v;
}

/* A string -> string map (env, labels): copied into a new object. With
 * `secret_refs` (env), a value may be Marathon's {"secret": "NAME"} instead. */
static json_t *
get_kv(const json_t *o, const char *key, bool secret_refs, struct app_errors *err)
{
    char path[64];
    json_t *v, *out = json_object(), *val;
    const char *k;

    snprintf(path, sizeof(path), "/%s", key);
    v = get_obj(o, key, path, err);
    if (v == NULL)
        return out;
    if (json_object_size(v) > MAX_KV)
        app_errors_add(err, path, "at most %d entries", MAX_KV);
    json_object_foreach(v, k, val)
    {
        char p[512];
        snprintf(p, sizeof(p), "/%s/%s", key, k);
        if (json_is_object(val) && json_object_get(val, "secret") != NULL) {
            const json_t *ref = json_object_get(val, "secret");
            if (!secret_refs)
                app_errors_add(err, p, "secrets are only allowed in env");
            else if (!json_is_string(ref) || json_string_length(ref) == 0 ||
                     json_object_size(val) != 1)
                app_errors_add(err, p, "must be {\"secret\": NAME}");
            else
                json_object_set_new(out, k, json_pack("{s:O}", "secret", ref));
            continue;
        }
        if (!json_is_string(val)) {
            type_error(err, p, "string");
            continue;
        }
        if (k[0] == '\0' || strchr(k, '=') != NULL) {
            app_errors_add(err, p, "names must be non-empty and must not contain '='");
            continue;
        }
        json_object_set(out, k, val);
    }
    return out;
}

/* ---- ids and times ---- */

static bool
segment_valid(const char *s, size_t n)
{
    /* Marathon: ^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$
     */
    size_t start = 0;

    if (n == 0)
        return false;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            size_t len = i - start;
            if (len == 0 || s[start] == '-' || s[i - 1] == '-')
                return false;
            for (size_t j = start; j < i; j++) {
                char c = s[j];
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
                    return false;
            }
            start = i + 1;
        }
    }
    return true;
}

int
app_id_normalize(const char *in, char *out, char *why, size_t whylen)
{
    size_t n, o = 0;
    const char *p;

    if (why && whylen)
        why[0] = '\0';
    if (in == NULL || in[0] == '\0') {
        if (why)
            snprintf(why, whylen, "an app id is required");
        return -AG_EINVAL;
    }
    n = strlen(in);
    while (n > 1 && in[n - 1] == '/')
        n--;
    /* The limit applies to the normalized id, so that it normalizes again. */
    if ((in[0] != '/') + n + 1 > APP_ID_MAX) {
        if (why)
            snprintf(why, whylen, "an app id has at most %d characters (with its leading '/')",
                     APP_ID_MAX - 1);
        return -AG_EINVAL;
    }
    if (in[0] != '/')
        out[o++] = '/';
    memcpy(out + o, in, n);
    out[o + n] = '\0';
    if (strcmp(out, "/") == 0) {
        if (why)
            snprintf(why, whylen, "the root group \"/\" is not an app id");
        return -AG_EINVAL;
    }
    p = out + 1;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (!segment_valid(p, len)) {
            if (why)
                snprintf(why, whylen,
                         "path segments must be lowercase letters, digits, '-' and '.' "
                         "(not starting or ending with '-' or '.'), e.g. /prod/web-1; got "
                         "'%.*s'",
                         (int)len, p);
            return -AG_EINVAL;
        }
        p += len;
        if (*p == '/')
            p++;
    }
    return 0;
}

void
app_task_prefix(const char *app_id, char *out, size_t len)
{
    size_t o = 0;

    if (len == 0)
        return;
    while (*app_id == '/')
        app_id++;
    for (; *app_id && o + 1 < len; app_id++)
        out[o++] = *app_id == '/' ? '_' : *app_id;
    out[o] = '\0';
}

void
app_format_time(double t, char out[APP_VERSION_LEN + 1])
{
    long long total = llround(t * 1000.0);
    time_t secs = (time_t)(total / 1000);
    int ms = (int)(total % 1000);
    struct tm tm;

    gmtime_r(&secs, &tm);
    snprintf(out, APP_VERSION_LEN + 1, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

static const char *const cons_names[] = {"UNIQUE", "CLUSTER", "GROUP_BY", "LIKE",
                                         "UNLIKE", "MAX_PER", "IS"};

const char *
app_cons_op_name(enum app_cons_op op)
{
    return (size_t)op < sizeof(cons_names) / sizeof(cons_names[0]) ? cons_names[op] : "?";
}

/* ---- parse pieces ---- */

static void
parse_command(struct app_spec *s, const json_t *in, json_t *c, struct app_errors *err)
{
    const char *cmd = get_str(in, "cmd", "/cmd", err);
    json_t *args = get_arr(in, "args", "/args", err);

    if (cmd != NULL && args != NULL && json_array_size(args) > 0) {
        app_errors_add(err, "/", "an app has either 'cmd' or 'args', not both");
        return;
    }
    if (cmd != NULL) {
        if (cmd[0] == '\0')
            app_errors_add(err, "/cmd", "must not be empty");
        else if (strlen(cmd) > MAX_CMD_LEN)
            app_errors_add(err, "/cmd", "at most %d bytes", MAX_CMD_LEN);
        s->cmd = xstrdup(cmd);
        json_object_set_new(c, "cmd", json_string(cmd));
        json_object_set_new(c, "args", json_null());
        return;
    }
    json_object_set_new(c, "cmd", json_null());
    if (args == NULL || json_array_size(args) == 0) {
        app_errors_add(err, "/", "an app needs 'cmd' (a shell command) or 'args' (argv)");
        json_object_set_new(c, "args", json_null());
        return;
    }
    s->args = xcalloc(json_array_size(args) + 1, sizeof(char *));
    for (size_t i = 0; i < json_array_size(args); i++) {
        json_t *a = json_array_get(args, i);
        char p[32];
        snprintf(p, sizeof(p), "/args(%zu)", i);
        if (!json_is_string(a)) {
            type_error(err, p, "string");
            continue;
        }
        s->args[s->nargs++] = xstrdup(json_string_value(a));
    }
    if (s->nargs > 0 && s->args[0][0] == '\0')
        app_errors_add(err, "/args(0)", "the program must not be empty");
    json_object_set(c, "args", args);
}

static void
parse_ports(struct app_spec *s, const json_t *in, json_t *c, struct app_errors *err)
{
    json_t *ports = get_arr(in, "ports", "/ports", err);
    json_t *defs = get_arr(in, "portDefinitions", "/portDefinitions", err);
    json_t *out_ports = json_array(), *out_defs = json_array();
    uint32_t from_ports[APP_MAX_PORTS];
    size_t nfrom_ports = 0;
    bool have_ports = ports != NULL, have_defs = defs != NULL;

    if (have_ports) {
        if (json_array_size(ports) > APP_MAX_PORTS)
            app_errors_add(err, "/ports", "at most %d ports", APP_MAX_PORTS);
        for (size_t i = 0; i < json_array_size(ports) && i < APP_MAX_PORTS; i++) {
            json_t *p = json_array_get(ports, i);
            char path[32];
            snprintf(path, sizeof(path), "/ports(%zu)", i);
            if (!json_is_integer(p)) {
                type_error(err, path, "number");
                continue;
            }
            if (json_integer_value(p) < 0 || json_integer_value(p) > 65535) {
                app_errors_add(err, path, "must be between 0 and 65535");
                continue;
            }
            from_ports[nfrom_ports++] = (uint32_t)json_integer_value(p);
        }
    }
    if (have_defs) {
        if (json_array_size(defs) > APP_MAX_PORTS)
            app_errors_add(err, "/portDefinitions", "at most %d ports", APP_MAX_PORTS);
        for (size_t i = 0; i < json_array_size(defs) && i < APP_MAX_PORTS; i++) {
            json_t *d = json_array_get(defs, i), *labels, *o;
            char path[64];
            double port;
            const char *proto, *name;

            snprintf(path, sizeof(path), "/portDefinitions(%zu)", i);
            if (!json_is_object(d)) {
                type_error(err, path, "object");
                continue;
            }
            snprintf(path, sizeof(path), "/portDefinitions(%zu)/port", i);
            if (!get_num(d, "port", path, 0, &port, err))
                continue;
            if (!is_integer(port) || port < 0 || port > 65535) {
                app_errors_add(err, path, "must be an integer between 0 and 65535");
                continue;
            }
            snprintf(path, sizeof(path), "/portDefinitions(%zu)/protocol", i);
            proto = get_str(d, "protocol", path, err);
            if (proto == NULL)
                proto = "tcp";
            if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0 &&
                strcmp(proto, "udp,tcp") != 0 && strcmp(proto, "tcp,udp") != 0)
                app_errors_add(err, path, "must be tcp, udp or udp,tcp");
            snprintf(path, sizeof(path), "/portDefinitions(%zu)/name", i);
            name = get_str(d, "name", path, err);
            snprintf(path, sizeof(path), "/portDefinitions(%zu)/labels", i);
            labels = get_obj(d, "labels", path, err);
            o = json_pack("{s:I,s:s}", "port", (json_int_t)port, "protocol", proto);
            if (name != NULL)
                json_object_set_new(o, "name", json_string(name));
            json_object_set_new(o, "labels", labels ? json_incref(labels) : json_object());
            json_array_append_new(out_defs, o);
            s->ports[s->nports++] = (uint32_t)port;
        }
    }
    if (have_ports && have_defs) {
        /* Both come back in stored definitions; they must agree. */
        bool same = nfrom_ports == s->nports;
        for (size_t i = 0; same && i < nfrom_ports; i++)
            same = from_ports[i] == s->ports[i];
        if (!same)
            app_errors_add(err, "/", "give either 'ports' or 'portDefinitions', not both");
    } else if (have_ports) {
        for (size_t i = 0; i < nfrom_ports; i++) {
            s->ports[s->nports++] = from_ports[i];
            json_array_append_new(out_defs, json_pack("{s:i,s:s,s:{}}", "port", from_ports[i],
                                                      "protocol", "tcp", "labels"));
        }
    } else if (!have_defs) {
        /* Marathon's default: one port, any number. */
        s->ports[s->nports++] = 0;
        json_array_append_new(out_defs,
                              json_pack("{s:i,s:s,s:{}}", "port", 0, "protocol", "tcp", "labels"));
    }
    for (size_t i = 0; i < s->nports; i++) {
        json_array_append_new(out_ports, json_integer(s->ports[i]));
        for (size_t j = 0; j < i; j++)
            if (s->ports[i] != 0 && s->ports[i] == s->ports[j]) {
                app_errors_add(err, "/portDefinitions", "port %u is given twice",
                               (unsigned)s->ports[i]);
                j = i;
            }
    }
    json_object_set_new(c, "ports", out_ports);
    json_object_set_new(c, "portDefinitions", out_defs);
}

static bool
parse_op(const char *name, enum app_cons_op *op)
{
    for (size_t i = 0; i < sizeof(cons_names) / sizeof(cons_names[0]); i++)
        if (strcmp(name, cons_names[i]) == 0) {
            *op = (enum app_cons_op)i;
            return true;
        }
    return false;
}

/*
 * glibc compiles a regular expression into an automaton whose size can grow
 * exponentially with stacked quantifiers ("a.*++++++++++++" takes seconds and
 * close to 1 GB) or multiplied bounds ("((a{100}){100}){100}"). Constraint
 * values come from API users, so a pattern is refused unless its estimated
 * size is small: every atom counts 1, a group the sum of its contents, `*`,
 * `+` and `?` double what they apply to, {m,n} multiplies it by max(m, n).
 */
/* The length of the bound "{m}", "{m,}", "{,n}" or "{m,n}" at `p`, or 0 when
 * `p` starts none (then the brace is an ordinary character to us). */
static size_t
bound_len(const char *p)
{
    size_t i = 1, digits = 0;

    while (p[i] >= '0' && p[i] <= '9')
        i++, digits++;
    if (p[i] == ',') {
        i++;
        while (p[i] >= '0' && p[i] <= '9')
            i++, digits++;
    }
    return p[i] == '}' && digits > 0 ? i + 1 : 0;
}

static bool
regex_too_costly(const char *re)
{
    double size[MAX_REGEX_DEPTH + 1] = {0}, last[MAX_REGEX_DEPTH + 1] = {0};
    int depth = 0;
    bool after_quant = false;
    size_t n = strlen(re), blen;

    if (n > MAX_REGEX_LEN)
        return true;
    for (size_t i = 0; i < n; i++) {
        char c = re[i];
        double atom = 1;

        if (c == '*' || c == '+' || c == '?' || (c == '{' && (blen = bound_len(re + i)) > 0)) {
            double mult = 2;
            if (after_quant)
                return true;
            if (c == '{') {
                char *end;
                long lo = strtol(re + i + 1, &end, 10), hi = lo;
                if (*end == ',' && end[1] != '}')
                    hi = strtol(end + 1, NULL, 10);
                if (lo > MAX_REGEX_BOUND || hi > MAX_REGEX_BOUND)
                    return true;
                mult = (double)(lo > hi ? lo : hi);
                if (mult < 1)
                    mult = 1;
                i += blen - 1;
            }
            size[depth] += last[depth] * (mult - 1);
            last[depth] *= mult;
            after_quant = true;
            continue;
        }
        after_quant = false;
        if (c == '\\') {
            if (i + 1 < n && re[i + 1] >= '1' && re[i + 1] <= '9')
                return true; /* back references make matching exponential */
            i++;
        } else if (c == '[') {
            size_t j = i + 1;
            if (j < n && re[j] == '^')
                j++;
            if (j < n && re[j] == ']')
                j++;
            while (j < n && re[j] != ']')
                j++;
            i = j;
        } else if (c == '(') {
            if (++depth > MAX_REGEX_DEPTH)
                return true;
            size[depth] = last[depth] = 0;
            continue;
        } else if (c == ')' && depth > 0) {
            atom = size[depth--];
        } else if (c == '|') {
            last[depth] = 0;
            continue;
        }
        size[depth] += atom;
        last[depth] = atom;
        if (size[depth] > MAX_REGEX_SIZE)
            return true;
    }
    for (int d = 0; d <= depth; d++)
        if (size[d] > MAX_REGEX_SIZE)
            return true;
    return false;
}

static void
parse_constraints(struct app_spec *s, const json_t *in, json_t *c, struct app_errors *err)
{
    json_t *arr = get_arr(in, "constraints", "/constraints", err), *out = json_array();
    size_t n = json_array_size(arr);

    s->cons = xcalloc(n, sizeof(*s->cons));
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        struct app_constraint *k = &s->cons[s->ncons];
        char path[48];
        const char *field, *opname, *value = NULL;
        char *end;

        snprintf(path, sizeof(path), "/constraints(%zu)", i);
        if (!json_is_array(e)) {
            type_error(err, path, "array");
            continue;
        }
        if (json_array_size(e) < 2 || json_array_size(e) > 3 ||
            !json_is_string(json_array_get(e, 0)) || !json_is_string(json_array_get(e, 1)) ||
            (json_array_size(e) == 3 && !json_is_string(json_array_get(e, 2)))) {
            app_errors_add(err, path,
                           "a constraint is [field, operator] or [field, operator, "
                           "value], all strings");
            continue;
        }
        field = json_string_value(json_array_get(e, 0));
        opname = json_string_value(json_array_get(e, 1));
        if (json_array_size(e) == 3)
            value = json_string_value(json_array_get(e, 2));
        if (field[0] == '\0') {
            app_errors_add(err, path, "the field must not be empty");
            continue;
        }
        if (!parse_op(opname, &k->op)) {
            app_errors_add(err, path,
                           "unknown operator %s: use UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, "
                           "MAX_PER or IS",
                           opname);
            continue;
        }
        switch (k->op) {
        case APP_CONS_UNIQUE:
            if (value != NULL && value[0] != '\0') {
                app_errors_add(err, path, "UNIQUE takes no value");
                continue;
            }
            value = NULL;
            break;
        case APP_CONS_CLUSTER:
            if (value != NULL && value[0] == '\0')
                value = NULL;
            break;
        case APP_CONS_GROUP_BY:
            if (value != NULL && value[0] != '\0') {
                k->num = strtol(value, &end, 10);
                if (*end != '\0' || k->num < 1) {
                    app_errors_add(err, path, "GROUP_BY takes a positive integer (or nothing)");
                    continue;
                }
            } else {
                value = NULL;
            }
            break;
        case APP_CONS_MAX_PER:
            k->num = value ? strtol(value, &end, 10) : 0;
            if (value == NULL || *end != '\0' || k->num < 1) {
                app_errors_add(err, path, "MAX_PER takes a positive integer");
                continue;
            }
            break;
        case APP_CONS_LIKE:
        case APP_CONS_UNLIKE: {
            char *anchored;
            if (value == NULL) {
                app_errors_add(err, path, "%s takes a regular expression", opname);
                continue;
            }
            if (regex_too_costly(value)) {
                app_errors_add(err, path,
                               "'%s' is too costly a regular expression: use at most %d "
                               "characters, no quantifier right after another, no back "
                               "references and small {m,n} bounds",
                               value, MAX_REGEX_LEN);
                continue;
            }
            if (asprintf(&anchored, "^(%s)$", value) < 0)
                xalloc_die(0);
            if (regcomp(&k->re, anchored, REG_EXTENDED | REG_NOSUB) != 0) {
                free(anchored);
                app_errors_add(err, path, "'%s' is not a valid regular expression", value);
                continue;
            }
            free(anchored);
            k->has_re = true;
            break;
        }
        case APP_CONS_IS:
            if (value == NULL || value[0] == '\0') {
                app_errors_add(err, path, "IS takes a value");
                continue;
            }
            break;
        }
        k->field = xstrdup(strcmp(field, "@hostname") == 0 ? "hostname" : field);
        k->value = value ? xstrdup(value) : NULL;
        s->ncons++;
        json_array_append(out, e);
    }
    json_object_set_new(c, "constraints", out);
}

static void
parse_health_checks(struct app_spec *s, const json_t *in, json_t *c, struct app_errors *err)
{
    json_t *arr = get_arr(in, "healthChecks", "/healthChecks", err), *out = json_array(), *h, *o;
    struct app_health_check *hc;
    const char *proto, *path, *cmd = NULL;
    double v;
    bool ign;

    if (json_array_size(arr) > 1)
        app_errors_add(err, "/healthChecks", "at most one health check per app is supported");
    if (json_array_size(arr) == 0 || (h = json_array_get(arr, 0)) == NULL) {
        json_object_set_new(c, "healthChecks", out);
        return;
    }
    if (!json_is_object(h)) {
        type_error(err, "/healthChecks(0)", "object");
        json_object_set_new(c, "healthChecks", out);
        return;
    }
    hc = s->hc = xcalloc(1, sizeof(*hc));
    proto = get_str(h, "protocol", "/healthChecks(0)/protocol", err);
    if (proto == NULL)
        proto = "HTTP";
    if (strcmp(proto, "HTTP") == 0 || strcmp(proto, "MESOS_HTTP") == 0) {
        hc->protocol = APP_HC_HTTP;
    } else if (strcmp(proto, "TCP") == 0 || strcmp(proto, "MESOS_TCP") == 0) {
        hc->protocol = APP_HC_TCP;
    } else if (strcmp(proto, "COMMAND") == 0) {
        hc->protocol = APP_HC_COMMAND;
    } else {
        app_errors_add(err, "/healthChecks(0)/protocol",
                       "unsupported protocol %s: use HTTP, TCP or COMMAND (MESOS_HTTP and "
                       "MESOS_TCP are the same here)",
                       proto);
    }
    o = json_pack("{s:s}", "protocol", proto);
    if (hc->protocol == APP_HC_COMMAND) {
        json_t *co = get_obj(h, "command", "/healthChecks(0)/command", err);
        cmd = co ? get_str(co, "value", "/healthChecks(0)/command/value", err) : NULL;
        if (cmd == NULL || cmd[0] == '\0')
            app_errors_add(err, "/healthChecks(0)/command",
                           "a COMMAND health check needs {\"value\": \"shell command\"}");
        hc->command = xstrdup(cmd);
        json_object_set_new(o, "command", json_pack("{s:s}", "value", cmd ? cmd : ""));
    } else {
        double port, idx;
        bool have_port = json_is_number(json_object_get(h, "port"));
        get_num(h, "port", "/healthChecks(0)/port", 0, &port, err);
        get_num(h, "portIndex", "/healthChecks(0)/portIndex", 0, &idx, err);
        bool port_ok = is_integer(port) && port >= 0 && port <= 65535;
        bool idx_ok = is_integer(idx) && idx >= 0 && idx <= APP_MAX_PORTS;
        if (!port_ok)
            app_errors_add(err, "/healthChecks(0)/port", "must be between 0 and 65535");
        if (!idx_ok)
            app_errors_add(err, "/healthChecks(0)/portIndex", "must be an integer between 0 and %d",
                           APP_MAX_PORTS);
        /* Out-of-range values are rejected above; they are never converted. */
        hc->port = port_ok ? (int)port : 0;
        hc->port_index = idx_ok ? (int)idx : 0;
        if (hc->port == 0 && idx_ok && (size_t)hc->port_index >= s->nports)
            app_errors_add(err, "/healthChecks(0)/portIndex",
                           "health check port indices must address an element of the ports "
                           "array (the app has %zu port%s)",
                           s->nports, s->nports == 1 ? "" : "s");
        if (have_port && hc->port > 0)
            json_object_set_new(o, "port", json_integer(hc->port));
        else
            json_object_set_new(o, "portIndex", json_integer(hc->port_index));
        if (hc->protocol == APP_HC_HTTP) {
            path = get_str(h, "path", "/healthChecks(0)/path", err);
            if (path == NULL)
                path = "/";
            if (path[0] != '/')
                app_errors_add(err, "/healthChecks(0)/path", "must start with '/'");
            hc->path = xstrdup(path);
            json_object_set_new(o, "path", json_string(path));
        }
    }
    get_num(h, "gracePeriodSeconds", "/healthChecks(0)/gracePeriodSeconds", DEF_HC_GRACE_S,
            &hc->grace_s, err);
    get_num(h, "intervalSeconds", "/healthChecks(0)/intervalSeconds", DEF_HC_INTERVAL_S,
            &hc->interval_s, err);
    get_num(h, "timeoutSeconds", "/healthChecks(0)/timeoutSeconds", DEF_HC_TIMEOUT_S,
            &hc->timeout_s, err);
    get_num(h, "delaySeconds", "/healthChecks(0)/delaySeconds", DEF_HC_DELAY_S, &hc->delay_s, err);
    get_num(h, "maxConsecutiveFailures", "/healthChecks(0)/maxConsecutiveFailures", DEF_HC_FAILURES,
            &v, err);
    get_bool(h, "ignoreHttp1xx", "/healthChecks(0)/ignoreHttp1xx", false, &ign, err);
    if (!is_integer(v) || v < 0 || v > 1000)
        app_errors_add(err, "/healthChecks(0)/maxConsecutiveFailures",
                       "must be an integer between 0 and 1000");
    hc->max_failures = is_integer(v) && v >= 0 && v <= 1000 ? (int)v : 0;
    if (hc->grace_s < 0 || hc->grace_s > 86400)
        app_errors_add(err, "/healthChecks(0)/gracePeriodSeconds", "must be 0 to 86400");
    if (hc->interval_s <= 0 || hc->interval_s > 86400)
        app_errors_add(err, "/healthChecks(0)/intervalSeconds", "must be > 0 and <= 86400");
    if (hc->timeout_s <= 0 || hc->timeout_s > 86400)
        app_errors_add(err, "/healthChecks(0)/timeoutSeconds", "must be > 0 and <= 86400");
    if (hc->delay_s < 0 || hc->delay_s > 86400)
        app_errors_add(err, "/healthChecks(0)/delaySeconds", "must be 0 to 86400");
    json_object_set_new(o, "gracePeriodSeconds", json_real(hc->grace_s));
    json_object_set_new(o, "intervalSeconds", json_real(hc->interval_s));
    json_object_set_new(o, "timeoutSeconds", json_real(hc->timeout_s));
    json_object_set_new(o, "maxConsecutiveFailures", json_integer(hc->max_failures));
    json_object_set_new(o, "delaySeconds", json_real(hc->delay_s));
    json_object_set_new(o, "ignoreHttp1xx", json_boolean(ign));
    json_array_append_new(out, o);
    json_object_set_new(c, "healthChecks", out);
}

static void
parse_container(struct app_spec *s, const json_t *in, json_t *c, struct app_errors *err)
{
    json_t *co = get_obj(in, "container", "/container", err), *docker, *vols, *out;
    json_t *nets = get_arr(in, "networks", "/networks", err);
    const char *type, *image, *net;

    s->network = xstrdup("host");
    for (size_t i = 0; i < json_array_size(nets); i++) {
        json_t *n = json_array_get(nets, i);
        const char *mode = json_string_value(json_object_get(n, "mode"));
        if (mode == NULL || strcmp(mode, "host") != 0)
            app_errors_add(err, "/networks", "only host networking is supported");
    }
    json_object_set_new(c, "networks", json_pack("[{s:s}]", "mode", "host"));
    if (co == NULL) {
        json_object_set_new(c, "container", json_null());
        return;
    }
    type = get_str(co, "type", "/container/type", err);
    if (type == NULL)
        type = "MESOS";
    if (strcmp(type, "MESOS") != 0 && strcmp(type, "DOCKER") != 0)
        app_errors_add(err, "/container/type", "must be MESOS or DOCKER");
    vols = get_arr(co, "volumes", "/container/volumes", err);
    if (json_array_size(vols) > 0)
        app_errors_add(err, "/container/volumes", "volumes are not supported");
    if (json_array_size(get_arr(co, "portMappings", "/container/portMappings", err)) > 0)
        app_errors_add(err, "/container/portMappings",
                       "port mappings need bridge networking, which is not supported");
    docker = get_obj(co, "docker", "/container/docker", err);
    image = docker ? get_str(docker, "image", "/container/docker/image", err) : NULL;
    net = docker ? get_str(docker, "network", "/container/docker/network", err) : NULL;
    if (docker != NULL &&
        json_array_size(get_arr(docker, "portMappings", "/container/docker/portMappings", err)) > 0)
        app_errors_add(err, "/container/docker/portMappings",
                       "port mappings need bridge networking, which is not supported");
    if (net != NULL && strcmp(net, "HOST") != 0 && strcmp(net, "NONE") != 0)
        app_errors_add(err, "/container/docker/network", "must be HOST or NONE");
    if (net != NULL && strcmp(net, "NONE") == 0) {
        free(s->network);
        s->network = xstrdup("none");
    }
    if (image != NULL && image[0] != '\0')
        s->image = xstrdup(image);
    out = json_pack("{s:s,s:[]}", "type", type, "volumes");
    if (docker != NULL) {
        json_t *d = json_object();
        if (image != NULL)
            json_object_set_new(d, "image", json_string(image));
        if (net != NULL)
            json_object_set_new(d, "network", json_string(net));
        json_object_set_new(out, "docker", d);
    }
    json_object_set_new(c, "container", out);
}

static void
parse_strategies(struct app_spec *s, const json_t *in, json_t *c, struct app_errors *err)
{
    json_t *us = get_obj(in, "upgradeStrategy", "/upgradeStrategy", err);
    json_t *ur = json_object_get(in, "unreachableStrategy");
    const char *ks;

    get_num(us, "minimumHealthCapacity", "/upgradeStrategy/minimumHealthCapacity", 1.0,
            &s->min_health, err);
    get_num(us, "maximumOverCapacity", "/upgradeStrategy/maximumOverCapacity", 1.0, &s->max_over,
            err);
    if (s->min_health < 0 || s->min_health > 1)
        app_errors_add(err, "/upgradeStrategy/minimumHealthCapacity", "must be between 0 and 1");
    if (s->max_over < 0 || s->max_over > 1)
        app_errors_add(err, "/upgradeStrategy/maximumOverCapacity", "must be between 0 and 1");
    json_object_set_new(c, "upgradeStrategy",
                        json_pack("{s:f,s:f}", "minimumHealthCapacity", s->min_health,
                                  "maximumOverCapacity", s->max_over));

    s->inactive_after_s = DEF_INACTIVE_S;
    s->expunge_after_s = DEF_EXPUNGE_S;
    if (json_is_string(ur) && strcmp(json_string_value(ur), "disabled") == 0) {
        s->inactive_after_s = INFINITY;
        s->expunge_after_s = INFINITY;
        json_object_set_new(c, "unreachableStrategy", json_string("disabled"));
    } else {
        if (ur != NULL && !json_is_null(ur) && !json_is_object(ur)) {
            type_error(err, "/unreachableStrategy", "object");
            ur = NULL;
        }
        get_num(ur, "inactiveAfterSeconds", "/unreachableStrategy/inactiveAfterSeconds",
                DEF_INACTIVE_S, &s->inactive_after_s, err);
        get_num(ur, "expungeAfterSeconds", "/unreachableStrategy/expungeAfterSeconds",
                DEF_EXPUNGE_S, &s->expunge_after_s, err);
        if (s->inactive_after_s < 0)
            app_errors_add(err, "/unreachableStrategy/inactiveAfterSeconds", "must be >= 0");
        if (s->expunge_after_s < s->inactive_after_s)
            app_errors_add(err, "/unreachableStrategy/expungeAfterSeconds",
                           "must be >= inactiveAfterSeconds");
        json_object_set_new(c, "unreachableStrategy",
                            json_pack("{s:f,s:f}", "inactiveAfterSeconds", s->inactive_after_s,
                                      "expungeAfterSeconds", s->expunge_after_s));
    }
    ks = get_str(in, "killSelection", "/killSelection", err);
    if (ks == NULL || strcmp(ks, "YOUNGEST_FIRST") == 0)
        s->kill_selection = APP_YOUNGEST_FIRST;
    else if (strcmp(ks, "OLDEST_FIRST") == 0)
        s->kill_selection = APP_OLDEST_FIRST;
    else
        app_errors_add(err, "/killSelection", "must be YOUNGEST_FIRST or OLDEST_FIRST");
}

/*
 * Marathon's secrets: {"NAME": {"source": "SOURCE"}}, SOURCE a name in the
 * secret store (agora-services --secrets_dir: the file of that name; no ".."
 * segment). The definition keeps the references only, never a value; every
 * {"secret": NAME} of env must name one of them.
 */
static void
parse_secrets(const json_t *in, json_t *c, struct app_errors *err)
{
    json_t *v = get_obj(in, "secrets", "/secrets", err), *out = json_object(), *val;
    const char *k;

    json_object_foreach(v, k, val)
    {
        const char *src = json_string_value(json_object_get(val, "source"));
        char p[512];

        snprintf(p, sizeof(p), "/secrets/%s", k);
        if (!json_is_object(val) || src == NULL || src[0] == '\0' || json_object_size(val) != 1) {
            app_errors_add(err, p, "must be {\"source\": NAME}");
            continue;
        }
        if (app_secret_source_bad(src)) {
            app_errors_add(err, p, "source must be a name in the secret store (no \"..\" segment)");
            continue;
        }
        json_object_set_new(out, k, json_pack("{s:s}", "source", src));
    }
    json_object_foreach(json_object_get(c, "env"), k, val)
    {
        const char *ref = json_string_value(json_object_get(val, "secret"));
        char p[512];

        snprintf(p, sizeof(p), "/env/%s", k);
        if (json_is_object(val) && json_object_get(out, ref) == NULL)
            app_errors_add(err, p, "references the undefined secret '%s'", ref ? ref : "");
    }
    json_object_set_new(c, "secrets", out);
}

bool
app_secret_source_bad(const char *src)
{
    const char *p = src;

    while (*p == '/')
        p++;
    if (*p == '\0' || strlen(src) > 255)
        return true;
    for (const char *seg = p; seg != NULL; seg = strchr(seg, '/') ? strchr(seg, '/') + 1 : NULL) {
        size_t n = strcspn(seg, "/");
        if ((n == 2 && seg[0] == '.' && seg[1] == '.') || (n == 1 && seg[0] == '.') || n == 0)
            return true;
    }
    return false;
}

/* Fields Agora keeps for compatibility but does not act on: must be empty. */
static void
parse_unsupported(const json_t *in, json_t *c, struct app_errors *err)
{
    static const char *const empty_arrays[] = {"uris", "fetch", "storeUrls", "readinessChecks"};
    json_t *v, *deps;
    const char *ex;

    for (size_t i = 0; i < sizeof(empty_arrays) / sizeof(empty_arrays[0]); i++) {
        char path[32];
        snprintf(path, sizeof(path), "/%s", empty_arrays[i]);
        if (json_array_size(get_arr(in, empty_arrays[i], path, err)) > 0)
            app_errors_add(err, path, "%s is not supported by agora-services", empty_arrays[i]);
    }
    v = json_object_get(in, "residency");
    if (v != NULL && !json_is_null(v))
        app_errors_add(err, "/residency", "resident apps are not supported");
    v = json_object_get(in, "ipAddress");
    if (v != NULL && !json_is_null(v))
        app_errors_add(err, "/ipAddress", "IP-per-task networking is not supported");
    ex = get_str(in, "executor", "/executor", err);
    if (ex != NULL && ex[0] != '\0' && strcmp(ex, "//cmd") != 0)
        app_errors_add(err, "/executor", "custom executors are not supported");
    deps = get_arr(in, "dependencies", "/dependencies", err);
    for (size_t i = 0; i < json_array_size(deps); i++)
        if (!json_is_string(json_array_get(deps, i))) {
            char p[32];
            snprintf(p, sizeof(p), "/dependencies(%zu)", i);
            type_error(err, p, "string");
        }
    json_object_set_new(c, "executor", json_string(""));
    json_object_set_new(c, "uris", json_array());
    json_object_set_new(c, "fetch", json_array());
    json_object_set_new(c, "storeUrls", json_array());
    json_object_set_new(c, "readinessChecks", json_array());
    json_object_set_new(c, "dependencies", deps ? json_incref(deps) : json_array());
    json_object_set_new(c, "ipAddress", json_null());
    json_object_set_new(c, "residency", json_null());
}

static void
copy_version(struct app_spec *s, const json_t *in)
{
    const char *v = json_string_value(json_object_get(in, "version"));
    json_t *vi = json_object_get(in, "versionInfo");
    const char *ls = json_string_value(json_object_get(vi, "lastScalingAt"));
    const char *lc = json_string_value(json_object_get(vi, "lastConfigChangeAt"));

    if (v != NULL && strlen(v) == APP_VERSION_LEN)
        strcpy(s->version, v);
    if (ls != NULL && strlen(ls) == APP_VERSION_LEN)
        strcpy(s->last_scaling_at, ls);
    if (lc != NULL && strlen(lc) == APP_VERSION_LEN)
        strcpy(s->last_config_change_at, lc);
}

/* Sets the version fields of the canonical JSON from the parsed ones. */
static void
json_set_version(struct app_spec *s)
{
    if (s->version[0] == '\0') {
        json_object_del(s->json, "version");
        json_object_del(s->json, "versionInfo");
        return;
    }
    json_object_set_new(s->json, "version", json_string(s->version));
    json_object_set_new(s->json, "versionInfo",
                        json_pack("{s:s,s:s}", "lastScalingAt", s->last_scaling_at,
                                  "lastConfigChangeAt", s->last_config_change_at));
}

struct app_spec *
app_parse(const json_t *in, const char *id, struct app_errors *err)
{
    struct app_spec *s;
    json_t *c, *roles;
    char nid[APP_ID_MAX], why[256];
    const char *user;
    double inst, kg;
    size_t nerr_before = json_array_size(err->details);

    if (!json_is_object(in)) {
        type_error(err, "/", "object");
        return NULL;
    }
    s = xcalloc(1, sizeof(*s));
    c = s->json = json_object();

    if (id == NULL)
        id = get_str(in, "id", "/id", err);
    if (id == NULL) {
        app_errors_add(err, "/id", "an app needs an id");
        nid[0] = '\0';
    } else if (app_id_normalize(id, nid, why, sizeof(why)) != 0) {
        app_errors_add(err, "/id", "%s", why);
    }
    s->id = xstrdup(nid);
    json_object_set_new(c, "id", json_string(nid));

    parse_command(s, in, c, err);
    user = get_str(in, "user", "/user", err);
    if (user != NULL && user[0] != '\0')
        s->user = xstrdup(user);
    json_object_set_new(c, "user", s->user ? json_string(s->user) : json_null());
    json_object_set_new(c, "env", get_kv(in, "env", true, err));
    parse_secrets(in, c, err);

    get_num(in, "instances", "/instances", 1, &inst, err);
    if (!is_integer(inst) || inst < 0 || inst > APP_MAX_INSTANCES)
        app_errors_add(err, "/instances", "must be an integer between 0 and %d", APP_MAX_INSTANCES);
    s->instances = is_integer(inst) && inst >= 0 && inst <= APP_MAX_INSTANCES ? (int64_t)inst : 0;
    json_object_set_new(c, "instances", json_integer(s->instances));
    get_num(in, "cpus", "/cpus", DEF_CPUS, &s->cpus, err);
    get_num(in, "mem", "/mem", DEF_MEM, &s->mem, err);
    get_num(in, "disk", "/disk", 0, &s->disk, err);
    get_num(in, "gpus", "/gpus", 0, &s->gpus, err);
    if (!(s->cpus >= 0.001) || s->cpus > 1e6)
        app_errors_add(err, "/cpus", "got %g, expected 0.001 or more (tasks need some cpus)",
                       s->cpus);
    if (!(s->mem > 0) || s->mem > 1e9)
        app_errors_add(err, "/mem", "got %g, expected more than 0 (MB)", s->mem);
    if (!(s->disk >= 0) || s->disk > 1e12)
        app_errors_add(err, "/disk", "got %g, expected 0 or more (MB)", s->disk);
    if (s->gpus != 0)
        app_errors_add(err, "/gpus", "GPUs are not supported");
    json_object_set_new(c, "cpus", json_real(s->cpus));
    json_object_set_new(c, "mem", json_real(s->mem));
    json_object_set_new(c, "disk", json_real(s->disk));
    json_object_set_new(c, "gpus", json_integer(0));
    parse_constraints(s, in, c, err);

    get_num(in, "backoffSeconds", "/backoffSeconds", DEF_BACKOFF_S, &s->backoff_s, err);
    get_num(in, "backoffFactor", "/backoffFactor", DEF_BACKOFF_FACTOR, &s->backoff_factor, err);
    get_num(in, "maxLaunchDelaySeconds", "/maxLaunchDelaySeconds", DEF_MAX_DELAY_S, &s->max_delay_s,
            err);
    if (!(s->backoff_s >= 0) || s->backoff_s > 86400)
        app_errors_add(err, "/backoffSeconds", "must be 0 to 86400");
    if (!(s->backoff_factor >= 1.0) || s->backoff_factor > 100)
        app_errors_add(err, "/backoffFactor", "must be 1.0 to 100");
    if (!(s->max_delay_s >= 0) || s->max_delay_s > 86400 * 7)
        app_errors_add(err, "/maxLaunchDelaySeconds", "must be 0 to 604800");
    json_object_set_new(c, "backoffSeconds", json_real(s->backoff_s));
    json_object_set_new(c, "backoffFactor", json_real(s->backoff_factor));
    json_object_set_new(c, "maxLaunchDelaySeconds", json_real(s->max_delay_s));

    /* Ports first: health checks address them by index. */
    {
        json_t *ports_tmp = json_object();
        parse_ports(s, in, ports_tmp, err);
        parse_container(s, in, c, err);
        parse_health_checks(s, in, c, err);
        json_object_set_new(c, "labels", get_kv(in, "labels", false, err));
        parse_strategies(s, in, c, err);

        roles = get_arr(in, "acceptedResourceRoles", "/acceptedResourceRoles", err);
        if (roles != NULL) {
            if (json_array_size(roles) == 0)
                app_errors_add(err, "/acceptedResourceRoles",
                               "must not be empty (leave it out to accept any role)");
            s->roles = xcalloc(json_array_size(roles) + 1, sizeof(char *));
            for (size_t i = 0; i < json_array_size(roles); i++) {
                const char *r = json_string_value(json_array_get(roles, i));
                char p[48];
                snprintf(p, sizeof(p), "/acceptedResourceRoles(%zu)", i);
                if (r == NULL) {
                    type_error(err, p, "string");
                    continue;
                }
                if (!res_role_valid(r)) {
                    app_errors_add(err, p, "'%s' is not a valid role", r);
                    continue;
                }
                s->roles[s->nroles++] = xstrdup(r);
            }
            json_object_set(c, "acceptedResourceRoles", roles);
        } else {
            json_object_set_new(c, "acceptedResourceRoles", json_null());
        }
        parse_unsupported(in, c, err);
        get_num(in, "taskKillGracePeriodSeconds", "/taskKillGracePeriodSeconds", -1, &kg, err);
        if (json_is_number(json_object_get(in, "taskKillGracePeriodSeconds")) &&
            (!(kg >= 0) || kg > 3600))
            app_errors_add(err, "/taskKillGracePeriodSeconds", "must be 0 to 3600");
        s->kill_grace_s = kg;
        json_object_set_new(c, "taskKillGracePeriodSeconds", kg >= 0 ? json_real(kg) : json_null());
        json_object_set_new(
            c, "killSelection",
            json_string(s->kill_selection == APP_OLDEST_FIRST ? "OLDEST_FIRST" : "YOUNGEST_FIRST"));
        json_object_set(c, "ports", json_object_get(ports_tmp, "ports"));
        json_object_set(c, "portDefinitions", json_object_get(ports_tmp, "portDefinitions"));
        json_decref(ports_tmp);
    }
    get_bool(in, "requirePorts", "/requirePorts", false, &s->require_ports, err);
    json_object_set_new(c, "requirePorts", json_boolean(s->require_ports));

    copy_version(s, in);
    json_set_version(s);
    if (json_array_size(err->details) > nerr_before) {
        app_free(s);
        return NULL;
    }
    return s;
}

void
app_free(struct app_spec *s)
{
    if (s == NULL)
        return;
    free(s->id);
    free(s->cmd);
    for (size_t i = 0; i < s->nargs; i++)
        free(s->args[i]);
    free(s->args);
    free(s->user);
    for (size_t i = 0; i < s->ncons; i++) {
        free(s->cons[i].field);
        free(s->cons[i].value);
        if (s->cons[i].has_re)
            regfree(&s->cons[i].re);
    }
    free(s->cons);
    for (size_t i = 0; i < s->nroles; i++)
        free(s->roles[i]);
    free(s->roles);
    if (s->hc != NULL) {
        free(s->hc->command);
        free(s->hc->path);
        free(s->hc);
    }
    free(s->image);
    free(s->network);
    json_decref(s->json);
    free(s);
}

struct app_spec *
app_dup(const struct app_spec *s)
{
    struct app_errors err;
    struct app_spec *d;

    app_errors_init(&err);
    d = app_parse(s->json, NULL, &err);
    app_errors_fini(&err);
    if (d == NULL)
        abort(); /* a canonical definition always parses */
    return d;
}

void
app_set_version(struct app_spec *s, const struct app_spec *prev, const char *version,
                bool scale_only)
{
    snprintf(s->version, sizeof(s->version), "%s", version);
    snprintf(s->last_scaling_at, sizeof(s->last_scaling_at), "%s", version);
    if (scale_only && prev != NULL && prev->last_config_change_at[0])
        snprintf(s->last_config_change_at, sizeof(s->last_config_change_at), "%s",
                 prev->last_config_change_at);
    else
        snprintf(s->last_config_change_at, sizeof(s->last_config_change_at), "%s", version);
    json_set_version(s);
}

bool
app_config_differs(const struct app_spec *a, const struct app_spec *b)
{
    json_t *x = json_copy(a->json), *y = json_copy(b->json);
    bool differs;

    json_object_del(x, "instances");
    json_object_del(y, "instances");
    json_object_del(x, "version");
    json_object_del(y, "version");
    json_object_del(x, "versionInfo");
    json_object_del(y, "versionInfo");
    differs = !json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return differs;
}

static bool
has_value(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return v != NULL && !json_is_null(v);
}

json_t *
app_merge(const json_t *base, const json_t *patch)
{
    json_t *m = json_deep_copy(base), *v;
    const char *k;

    json_object_del(m, "version");
    json_object_del(m, "versionInfo");
    json_object_foreach((json_t *)patch, k, v)
    {
        if (strcmp(k, "version") == 0 || strcmp(k, "versionInfo") == 0)
            continue;
        json_object_set(m, k, v);
    }
    /* A field given alone replaces its alternative; given together (e.g. a
     * definition read with GET and sent back), both stay for the parser. */
    if (has_value(patch, "cmd") && !has_value(patch, "args"))
        json_object_del(m, "args");
    if (has_value(patch, "args") && !has_value(patch, "cmd"))
        json_object_del(m, "cmd");
    if (has_value(patch, "ports") && !has_value(patch, "portDefinitions"))
        json_object_del(m, "portDefinitions");
    if (has_value(patch, "portDefinitions") && !has_value(patch, "ports"))
        json_object_del(m, "ports");
    return m;
}
