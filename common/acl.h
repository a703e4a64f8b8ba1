/*
 * Authorization: Mesos's ACL file (--acls) and the decisions it makes, for the
 * master, the agents and agora-services. Pure but for acl_load (which reads the
 * file): no logging, no clock, no daemon state; a parsed `struct acls` is
 * immutable, so one may be shared freely.
 *
 * The format is Mesos's (docs/security.md#authorization-acls):
 *
 *   {"permissive": true,
 *    "register_frameworks": [{"principals": {"values": ["alice"]},
 *                             "roles": {"values": ["web"]}}],
 *    "run_tasks": [{"principals": {"type": "ANY"}, "users": {"type": "NONE"}}], ...}
 *
 * Each action holds a list of rules, each with a subject (the principals) and an
 * object (roles, users, paths, ...), each an entity: {"values": [..]} (SOME),
 * {"type": "ANY"} or {"type": "NONE"}. Decisions follow Mesos's local
 * authorizer: a request is a principal and an object, each a value or absent
 * (an unauthenticated request has no principal; an object the request cannot
 * name, such as an agent, is absent). The rules of the action are tried in order
 * and the first that *matches* decides: a present value matches ANY, NONE, and
 * a SOME holding it; an absent one matches only ANY and NONE. That rule allows
 * when both its entities *allow* the request (ANY allows everything, SOME allows
 * the values it holds, NONE nothing) and denies otherwise. When no rule
 * matches, "permissive" decides (default true).
 */
#ifndef AGORA_COMMON_ACL_H
#define AGORA_COMMON_ACL_H

#include <stdbool.h>
#include <stddef.h>

/* The actions, in Mesos's names (acl_action_name); the comment names the
 * object's key in a rule. */
enum acl_action {
    ACL_REGISTER_FRAMEWORKS, /* "roles": each role a framework subscribes with */
    ACL_RUN_TASKS,           /* "users": the user a task runs as */
    ACL_TEARDOWN_FRAMEWORKS, /* "framework_principals": the framework's principal */
    ACL_RESERVE_RESOURCES,   /* "roles": the role reserved for */
    ACL_UNRESERVE_RESOURCES, /* "reserver_principals": who reserved (absent: unknown) */
    ACL_UPDATE_QUOTAS,       /* "roles" (also read from Mesos's older "set_quotas") */
    ACL_UPDATE_WEIGHTS,      /* "roles" */
    ACL_GET_ENDPOINTS,       /* "paths": an HTTP path such as /flags */
    ACL_VIEW_FRAMEWORKS,     /* "users": a framework's user */
    ACL_VIEW_TASKS,          /* "users": a task's user */
    ACL_ACCESS_SANDBOXES,    /* "users": the sandbox's task user */
    ACL_REGISTER_AGENTS,     /* "agents": only {"type": "ANY"} (the object is absent) */
    ACL_DRAIN_AGENTS,        /* "agents": only ANY/NONE, as register_agents */
    ACL_REACTIVATE_AGENTS,   /* "agents": only ANY/NONE (undrain) */
    ACL_VIEW_ROLES,          /* "roles": a role shown by GET /roles */
    /* Agora's extension for agora-services (Mesos has no such action): a
     * value of "app_ids" is an app id prefix (acl_app_id_under). */
    ACL_MANAGE_APPS,         /* "app_ids": an app created, changed, deleted, its tasks killed */
    ACL_VIEW_APPS,           /* "app_ids": an app shown by a GET */
    ACL_NACTIONS
};

/* What the rules say about one request, before "permissive" is applied. */
enum acl_decision { ACL_NO_MATCH, ACL_ALLOW, ACL_DENY };

struct acls;

/*
 * Parses the ACL JSON `text` (NUL-terminated). On success returns 0 with *out
 * a new object (acl_free). On failure returns -AG_EINVAL (malformed JSON, an
 * unknown action or key, an entity that is not {"values": [strings]} or
 * {"type": "ANY"|"NONE"}, a rule missing its principals or object) or
 * -AG_ENOMEM, *out is NULL and `err` says where and why (it never quotes more
 * than a key or a position of the input).
 */
int acl_parse(const char *text, struct acls **out, char *err, size_t errlen);

/*
 * --acls as Mesos takes it: `arg` is the JSON itself (it starts with `{`), a
 * path, or "file://" and a path (at most 16 MiB). NULL or "": *out = NULL and 0
 * (no ACLs). On success `err` holds where they came from ("(inline JSON)" or
 * the path), for a log line; on failure returns -AG_EINVAL (or -AG_ENOMEM) and
 * `err` says why, starting with "--acls=WHERE: ".
 */
int acl_load(const char *arg, struct acls **out, char *err, size_t errlen);

/* The first matching rule's verdict (see above) for `principal` (NULL or "":
 * unauthenticated) doing `action` on `object` (NULL or "": absent). A NULL
 * `acls` has no rules. */
enum acl_decision acl_decide(const struct acls *acls, enum acl_action action,
                             const char *principal, const char *object);

/* acl_decide, with "permissive" deciding when no rule matches. A NULL `acls`
 * (no --acls) authorizes everything. */
bool acl_authorized(const struct acls *acls, enum acl_action action, const char *principal,
                    const char *object);

/* Whether the file sets "permissive" (true when absent). */
bool acl_permissive(const struct acls *acls);

/* The number of rules of `action`. */
size_t acl_rule_count(const struct acls *acls, enum acl_action action);

/*
 * Whether app id `id` lies under `prefix` (an "app_ids" value) at a segment
 * boundary: "/team-a" holds "/team-a" and "/team-a/web", not "/team-ab"; a
 * trailing "/" is ignored, so "/" holds every id that starts with "/".
 */
bool acl_app_id_under(const char *id, const char *prefix);

/* Mesos's name of `action` ("run_tasks"), for logs and errors. */
const char *acl_action_name(enum acl_action action);

/* Frees `acls`; NULL is a no-op. */
void acl_free(struct acls *acls);

#endif
