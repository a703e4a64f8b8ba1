/*
 * Mesos's ACL file and its decisions (acl.h): parse once, decide many times.
 */
#include "acl.h"

#include "error.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACL_MAX_RULES 10000  /* per action */
#define ACL_MAX_VALUES 10000 /* per entity */
#define ACL_MAX_FILE (16 << 20) /* --acls larger than this is refused */

enum ent_type { ENT_SOME, ENT_ANY, ENT_NONE };

struct acl_entity {
    enum ent_type type;
    char **values;
    size_t nvalues;
};

struct acl_rule {
    struct acl_entity subject, object;
};

struct acls {
    bool permissive;
    struct acl_rule *rules[ACL_NACTIONS];
    size_t nrules[ACL_NACTIONS];
};

/* Each action's name in the file and its object's key. */
static const struct {
    const char *name, *object;
} actions[ACL_NACTIONS] = {
    [ACL_REGISTER_FRAMEWORKS] = {"register_frameworks", "roles"},
    [ACL_RUN_TASKS] = {"run_tasks", "users"},
    [ACL_TEARDOWN_FRAMEWORKS] = {"teardown_frameworks", "framework_principals"},
    [ACL_RESERVE_RESOURCES] = {"reserve_resources", "roles"},
    [ACL_UNRESERVE_RESOURCES] = {"unreserve_resources", "reserver_principals"},
    [ACL_UPDATE_QUOTAS] = {"update_quotas", "roles"},
    [ACL_UPDATE_WEIGHTS] = {"update_weights", "roles"},
    [ACL_GET_ENDPOINTS] = {"get_endpoints", "paths"},
    [ACL_VIEW_FRAMEWORKS] = {"view_frameworks", "users"},
    [ACL_VIEW_TASKS] = {"view_tasks", "users"},
    [ACL_ACCESS_SANDBOXES] = {"access_sandboxes", "users"},
    [ACL_REGISTER_AGENTS] = {"register_agents", "agents"},
    [ACL_DRAIN_AGENTS] = {"drain_agents", "agents"},
    [ACL_REACTIVATE_AGENTS] = {"reactivate_agents", "agents"},
    [ACL_VIEW_ROLES] = {"view_roles", "roles"},
    [ACL_MANAGE_APPS] = {"manage_apps", "app_ids"},
    [ACL_VIEW_APPS] = {"view_apps", "app_ids"},
};

const char *
acl_action_name(enum acl_action action)
{
    return (unsigned)action < ACL_NACTIONS ? actions[action].name : "?";
}

static void
entity_fini(struct acl_entity *e)
{
    for (size_t i = 0; i < e->nvalues; i++)
        free(e->values[i]);
    free(e->values);
    e->values = NULL;
    e->nvalues = 0;
}

void
acl_free(struct acls *acls)
{
    if (acls == NULL)
        return;
    for (size_t a = 0; a < ACL_NACTIONS; a++) {
        for (size_t i = 0; i < acls->nrules[a]; i++) {
            entity_fini(&acls->rules[a][i].subject);
            entity_fini(&acls->rules[a][i].object);
        }
        free(acls->rules[a]);
    }
    free(acls);
}

static int
fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -AG_EINVAL;
}

/* Parses entity `j` (the value of `key` in rule `where`) into `e`. */
static int
entity_parse(struct acl_entity *e, const json_t *j, const char *where, const char *key,
             char *err, size_t errlen)
{
    const char *k;
    json_t *v, *type = NULL, *values = NULL;

    if (j == NULL)
        return fail(err, errlen, "%s: needs \"%s\"", where, key);
    if (!json_is_object(j))
        return fail(err, errlen,
                    "%s: \"%s\" must be an object: {\"values\": [...]} or {\"type\": \"ANY\" | "
                    "\"NONE\"}",
                    where, key);
    json_object_foreach((json_t *)j, k, v)
    {
        if (strcmp(k, "type") == 0)
            type = v;
        else if (strcmp(k, "values") == 0)
            values = v;
        else
            return fail(err, errlen, "%s: \"%s\" has an unknown key (only \"type\" and "
                        "\"values\")", where, key);
    }
    e->type = ENT_SOME;
    if (type != NULL) {
        const char *t = json_string_value(type);
        if (t != NULL && strcmp(t, "ANY") == 0)
            e->type = ENT_ANY;
        else if (t != NULL && strcmp(t, "NONE") == 0)
            e->type = ENT_NONE;
        else if (t == NULL || strcmp(t, "SOME") != 0)
            return fail(err, errlen, "%s: \"%s\".type must be \"ANY\" or \"NONE\"", where, key);
    }
    if (e->type != ENT_SOME) {
        if (values != NULL)
            return fail(err, errlen, "%s: \"%s\" has both a type and values", where, key);
        return 0;
    }
    if (!json_is_array(values))
        return fail(err, errlen, "%s: \"%s\" needs \"values\": an array of strings, or a "
                    "\"type\"", where, key);
    if (json_array_size(values) > ACL_MAX_VALUES)
        return fail(err, errlen, "%s: \"%s\" has more than %d values", where, key,
                    ACL_MAX_VALUES);
    if (json_array_size(values) > 0 &&
        (e->values = calloc(json_array_size(values), sizeof(*e->values))) == NULL)
        return -AG_ENOMEM;
    for (size_t i = 0; i < json_array_size(values); i++) {
        const char *s = json_string_value(json_array_get(values, i));
        if (s == NULL || s[0] == '\0')
            return fail(err, errlen, "%s: \"%s\".values[%zu] must be a non-empty string", where,
                        key, i);
        if ((e->values[e->nvalues] = strdup(s)) == NULL)
            return -AG_ENOMEM;
        e->nvalues++;
    }
    return 0;
}

/* Parses action `a`'s rule list `list` into acls. */
static int
rules_parse(struct acls *acls, enum acl_action a, const json_t *list, char *err, size_t errlen)
{
    const char *name = actions[a].name, *okey = actions[a].object;
    size_t n = json_array_size(list);
    char where[96];
    int rc;

    if (!json_is_array(list))
        return fail(err, errlen, "\"%s\" must be an array of rules", name);
    if (n > ACL_MAX_RULES)
        return fail(err, errlen, "\"%s\" has more than %d rules", name, ACL_MAX_RULES);
    if (n == 0)
        return 0;
    if ((acls->rules[a] = calloc(n, sizeof(*acls->rules[a]))) == NULL)
        return -AG_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(list, i), *v;
        struct acl_rule *rule = &acls->rules[a][i];
        const char *k;

        acls->nrules[a] = i + 1; /* freed by acl_free from here on */
        snprintf(where, sizeof(where), "%s[%zu]", name, i);
        if (!json_is_object(r))
            return fail(err, errlen, "%s: a rule must be an object", where);
        json_object_foreach(r, k, v)
        {
            if (strcmp(k, "principals") != 0 && strcmp(k, okey) != 0)
                return fail(err, errlen, "%s: unknown key (a rule has \"principals\" and \"%s\")",
                            where, okey);
        }
        if ((rc = entity_parse(&rule->subject, json_object_get(r, "principals"), where,
                               "principals", err, errlen)) != 0 ||
            (rc = entity_parse(&rule->object, json_object_get(r, okey), where, okey, err,
                               errlen)) != 0)
            return rc;
        if ((a == ACL_REGISTER_AGENTS || a == ACL_DRAIN_AGENTS || a == ACL_REACTIVATE_AGENTS) &&
            rule->object.type == ENT_SOME)
            return fail(err, errlen, "%s: \"agents\" must be {\"type\": \"ANY\"} or "
                        "{\"type\": \"NONE\"}", where);
    }
    return 0;
}

int
acl_parse(const char *text, struct acls **out, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root, *v;
    struct acls *acls;
    bool seen[ACL_NACTIONS] = {false};
    const char *k;
    int rc = 0;

    *out = NULL;
    if (errlen > 0)
        err[0] = '\0';
    root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return fail(err, errlen, "malformed JSON at line %d, column %d: %s", jerr.line,
                    jerr.column, jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return fail(err, errlen, "the ACLs must be a JSON object");
    }
    if ((acls = calloc(1, sizeof(*acls))) == NULL) {
        json_decref(root);
        return -AG_ENOMEM;
    }
    acls->permissive = true;
    json_object_foreach(root, k, v)
    {
        enum acl_action a = ACL_NACTIONS;

        if (strcmp(k, "permissive") == 0) {
            if (!json_is_boolean(v)) {
                rc = fail(err, errlen, "\"permissive\" must be true or false");
                break;
            }
            acls->permissive = json_is_true(v);
            continue;
        }
        for (size_t i = 0; i < ACL_NACTIONS; i++)
            if (strcmp(k, actions[i].name) == 0)
                a = (enum acl_action)i;
        if (a == ACL_NACTIONS && strcmp(k, "set_quotas") == 0)
            a = ACL_UPDATE_QUOTAS; /* Mesos's older name */
        if (a == ACL_NACTIONS) {
            rc = fail(err, errlen,
                      "unknown action \"%.64s\" (known: permissive, register_frameworks, "
                      "run_tasks, teardown_frameworks, reserve_resources, unreserve_resources, "
                      "update_quotas, set_quotas, update_weights, get_endpoints, "
                      "view_frameworks, view_tasks, access_sandboxes, register_agents, "
                      "drain_agents, reactivate_agents, view_roles, manage_apps, view_apps)",
                      k);
            break;
        }
        if (seen[a]) {
            rc = fail(err, errlen, "\"%s\" given twice (set_quotas is update_quotas)",
                      actions[a].name);
            break;
        }
        seen[a] = true;
        if ((rc = rules_parse(acls, a, v, err, errlen)) != 0)
            break;
    }
    json_decref(root);
    if (rc != 0) {
        if (rc == -AG_ENOMEM && errlen > 0)
            snprintf(err, errlen, "out of memory");
        acl_free(acls);
        return rc;
    }
    *out = acls;
    return 0;
}

bool
acl_app_id_under(const char *id, const char *prefix)
{
    size_t n = strlen(prefix);

    while (n > 0 && prefix[n - 1] == '/')
        n--;
    if (n == 0)
        return id[0] == '/';
    return strncmp(id, prefix, n) == 0 && (id[n] == '\0' || id[n] == '/');
}

/* Whether `e` holds `value`: equal, or for app ids (`prefix`) under one. */
static bool
entity_has(const struct acl_entity *e, const char *value, bool prefix)
{
    for (size_t i = 0; i < e->nvalues; i++)
        if (prefix ? acl_app_id_under(value, e->values[i]) : strcmp(e->values[i], value) == 0)
            return true;
    return false;
}

/* Whether request value `v` (NULL: absent) matches entity `e`. */
static bool
entity_matches(const struct acl_entity *e, const char *v, bool prefix)
{
    if (e->type != ENT_SOME)
        return true;
    return v != NULL && entity_has(e, v, prefix);
}

/* Whether entity `e` allows request value `v` (NULL: absent). */
static bool
entity_allows(const struct acl_entity *e, const char *v, bool prefix)
{
    if (e->type == ENT_ANY)
        return true;
    if (e->type == ENT_NONE)
        return false;
    return v != NULL && entity_has(e, v, prefix);
}

enum acl_decision
acl_decide(const struct acls *acls, enum acl_action action, const char *principal,
           const char *object)
{
    bool ids = action == ACL_MANAGE_APPS || action == ACL_VIEW_APPS; /* prefixes */

    if (acls == NULL || (unsigned)action >= ACL_NACTIONS)
        return ACL_NO_MATCH;
    if (principal != NULL && principal[0] == '\0')
        principal = NULL;
    if (object != NULL && object[0] == '\0')
        object = NULL;
    for (size_t i = 0; i < acls->nrules[action]; i++) {
        const struct acl_rule *r = &acls->rules[action][i];
        if (entity_matches(&r->subject, principal, false) &&
            entity_matches(&r->object, object, ids))
            return entity_allows(&r->subject, principal, false) &&
                           entity_allows(&r->object, object, ids)
                       ? ACL_ALLOW
                       : ACL_DENY;
    }
    return ACL_NO_MATCH;
}

bool
acl_authorized(const struct acls *acls, enum acl_action action, const char *principal,
               const char *object)
{
    enum acl_decision d;

    if (acls == NULL)
        return true;
    d = acl_decide(acls, action, principal, object);
    return d == ACL_ALLOW || (d == ACL_NO_MATCH && acls->permissive);
}

bool
acl_permissive(const struct acls *acls)
{
    return acls == NULL || acls->permissive;
}

size_t
acl_rule_count(const struct acls *acls, enum acl_action action)
{
    return acls == NULL || (unsigned)action >= ACL_NACTIONS ? 0 : acls->nrules[action];
}

int
acl_load(const char *arg, struct acls **out, char *err, size_t errlen)
{
    const char *path;
    char why[512], *text;
    size_t len;
    FILE *f;
    int rc;

    *out = NULL;
    if (errlen > 0)
        err[0] = '\0';
    if (arg == NULL || arg[0] == '\0')
        return 0;
    while (*arg == ' ' || *arg == '\t' || *arg == '\n' || *arg == '\r')
        arg++;
    if (*arg == '{') {
        path = "(inline JSON)";
        rc = acl_parse(arg, out, why, sizeof(why));
    } else {
        path = strncmp(arg, "file://", 7) == 0 ? arg + 7 : arg;
        if ((f = fopen(path, "r")) == NULL)
            return fail(err, errlen, "cannot read --acls=%s: %s", path, strerror(errno));
        if ((text = malloc(ACL_MAX_FILE + 1)) == NULL) {
            fclose(f);
            return -AG_ENOMEM;
        }
        len = fread(text, 1, ACL_MAX_FILE + 1, f);
        fclose(f);
        if (len > ACL_MAX_FILE) {
            free(text);
            return fail(err, errlen, "--acls=%s: larger than %d bytes", path, ACL_MAX_FILE);
        }
        text[len] = '\0';
        rc = acl_parse(text, out, why, sizeof(why));
        free(text);
    }
    if (rc != 0) {
        if (errlen > 0)
            snprintf(err, errlen, "--acls=%s: %s", path, why);
        return rc;
    }
    if (errlen > 0)
        snprintf(err, errlen, "%s", path);
    return 0;
}
