/*
 * The opaque objects of the public API: framework info, offers, task statuses,
 * tasks and operations. Each wraps the struct that msg.def defines for it, so
 * copying, freeing and encoding reuse the codec's generic functions.
 */
#include "error.h"

#include "sched_internal.h"

#include "attributes.h"
#include "auth.h"
#include "ids.h"
#include "log.h"
#include "msg.h"
#include "resources.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(AG_TASK_UNKNOWN == (int)MSG_TASK_UNKNOWN, "task states out of step with msg.def");
_Static_assert(AG_TASK_STAGING == (int)MSG_TASK_STAGING, "task states out of step with msg.def");
_Static_assert(AG_TASK_GONE == (int)MSG_TASK_GONE, "task states out of step with msg.def");

/* ---- errors and small helpers ---- */

static __thread char sched_errbuf[256];

int
sched_err(int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sched_errbuf, sizeof(sched_errbuf), fmt, ap);
    va_end(ap);
    return err;
}

AG_API const char *
ag_last_error(void)
{
    return sched_errbuf;
}

AG_API int
ag_log_level(const char *level)
{
    enum ag_log_level l;

    if (level == NULL || log_parse_level(level, &l) != 0)
        return sched_err(-AG_EINVAL, "unknown log level \"%s\"", sched_str(level));
    log_set_level(l);
    return 0;
}

AG_API const char *
ag_task_state_name(enum ag_task_state state)
{
    return msg_task_state_name((int)state);
}

AG_API bool
ag_task_state_terminal(enum ag_task_state state)
{
    return msg_task_state_terminal((int)state);
}

int
sched_set_str(char **dst, const char *src)
{
    char *s = strdup(src != NULL ? src : "");

    if (s == NULL)
        return sched_err(-AG_ENOMEM, "out of memory");
    free(*dst);
    *dst = s;
    return 0;
}

/* Appends a copy of `s` to the array (*v, *n). 0 or -AG_ENOMEM (unchanged). */
static int
strs_add(char ***v, size_t *n, const char *s)
{
    char **nv;
    char *c;

    if ((c = strdup(s)) == NULL)
        return sched_err(-AG_ENOMEM, "out of memory");
    if ((nv = realloc(*v, (*n + 1) * sizeof(*nv))) == NULL) {
        free(c);
        return sched_err(-AG_ENOMEM, "out of memory");
    }
    nv[*n] = c;
    *v = nv;
    (*n)++;
    return 0;
}

static bool
strs_has(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

/* Sets key to value in the map (*kv, *n), replacing an existing key. */
static int
kv_set(struct msg_kv **kv, size_t *n, const char *key, const char *value)
{
    struct msg_kv *nkv;
    char *k, *v;

    if (key == NULL || *key == '\0' || value == NULL)
        return sched_err(-AG_EINVAL, "empty key or NULL value");
    if ((v = strdup(value)) == NULL)
        return sched_err(-AG_ENOMEM, "out of memory");
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*kv)[i].key, key) == 0) {
            free((*kv)[i].value);
            (*kv)[i].value = v;
            return 0;
        }
    }
    if ((k = strdup(key)) == NULL) {
        free(v);
        return sched_err(-AG_ENOMEM, "out of memory");
    }
    if ((nkv = realloc(*kv, (*n + 1) * sizeof(*nkv))) == NULL) {
        free(k);
        free(v);
        return sched_err(-AG_ENOMEM, "out of memory");
    }
    nkv[*n].key = k;
    nkv[*n].value = v;
    *kv = nkv;
    (*n)++;
    return 0;
}

/* The start of every *_dup: a zeroed wrapper of `size` bytes for a copy of
 * `src`, or NULL with ag_last_error set (NULL `src`, out of memory). */
static void *
obj_dup_alloc(const void *src, size_t size, const char *what)
{
    void *o;

    if (src == NULL) {
        sched_err(-AG_EINVAL, "NULL %s", what);
        return NULL;
    }
    if ((o = calloc(1, size)) == NULL)
        sched_err(-AG_ENOMEM, "out of memory");
    return o;
}

/* The end of every *_dup: `o` when copying into it succeeded (copy_rv 0),
 * else frees it and returns NULL with ag_last_error set. */
static void *
obj_dup_done(void *o, int copy_rv)
{
    if (copy_rv == 0)
        return o;
    free(o);
    sched_err(-AG_ENOMEM, "out of memory");
    return NULL;
}

/* ---- framework info ---- */

AG_API struct ag_framework_info *
ag_framework_info_new(void)
{
    struct ag_framework_info *fi = calloc(1, sizeof(*fi));

    if (fi == NULL) {
        sched_err(-AG_ENOMEM, "out of memory");
        return NULL;
    }
    msg_framework_info_init(&fi->fi);
    return fi;
}

AG_API void
ag_framework_info_free(struct ag_framework_info *fi)
{
    if (fi == NULL)
        return;
    msg_framework_info_fini(&fi->fi);
    if (fi->secret != NULL) {
        /* The secret should not linger in freed memory. */
        volatile char *p = fi->secret;
        while (*p)
            *p++ = 0;
        free(fi->secret);
    }
    free(fi->tls_files.ca);
    free(fi->tls_files.cert);
    free(fi->tls_files.key);
    free(fi);
}

/* Copies the TLS files of `src` into `dst` (which has none). */
static int
tls_files_copy(struct tls_flags *dst, const struct tls_flags *src)
{
    if ((src->ca != NULL && (dst->ca = strdup(src->ca)) == NULL) ||
        (src->cert != NULL && (dst->cert = strdup(src->cert)) == NULL) ||
        (src->key != NULL && (dst->key = strdup(src->key)) == NULL))
        return -AG_ENOMEM;
    return 0;
}

struct ag_framework_info *
sched_framework_info_dup(const struct ag_framework_info *src)
{
    struct ag_framework_info *fi = ag_framework_info_new();

    if (fi == NULL)
        return NULL;
    if (src == NULL)
        return fi;
    fi->tls = src->tls;
    if (msg_framework_info_copy(&fi->fi, &src->fi) != 0 ||
        (src->secret != NULL && (fi->secret = strdup(src->secret)) == NULL) ||
        tls_files_copy(&fi->tls_files, &src->tls_files) != 0) {
        ag_framework_info_free(fi);
        sched_err(-AG_ENOMEM, "out of memory");
        return NULL;
    }
    return fi;
}

static int
fi_set(struct ag_framework_info *fi, char **field, const char *value)
{
    if (fi == NULL || value == NULL)
        return sched_err(-AG_EINVAL, "NULL argument");
    return sched_set_str(field, value);
}

AG_API int
ag_framework_info_set_name(struct ag_framework_info *fi, const char *name)
{
    return fi_set(fi, fi ? &fi->fi.name : NULL, name);
}

AG_API int
ag_framework_info_set_user(struct ag_framework_info *fi, const char *user)
{
    return fi_set(fi, fi ? &fi->fi.user : NULL, user);
}

AG_API int
ag_framework_info_set_hostname(struct ag_framework_info *fi, const char *hostname)
{
    return fi_set(fi, fi ? &fi->fi.hostname : NULL, hostname);
}

AG_API int
ag_framework_info_set_webui_url(struct ag_framework_info *fi, const char *url)
{
    return fi_set(fi, fi ? &fi->fi.webui_url : NULL, url);
}

AG_API int
ag_framework_info_add_role(struct ag_framework_info *fi, const char *role)
{
    if (fi == NULL || role == NULL)
        return sched_err(-AG_EINVAL, "NULL argument");
    if (!res_role_valid(role))
        return sched_err(-AG_EINVAL, "invalid role \"%s\"", role);
    if (strs_has(fi->fi.roles, fi->fi.nroles, role))
        return 0;
    return strs_add(&fi->fi.roles, &fi->fi.nroles, role);
}

AG_API int
ag_framework_info_add_capability(struct ag_framework_info *fi, const char *cap)
{
    if (fi == NULL || cap == NULL || *cap == '\0')
        return sched_err(-AG_EINVAL, "NULL or empty capability");
    if (strs_has(fi->fi.capabilities, fi->fi.ncapabilities, cap))
        return 0;
    return strs_add(&fi->fi.capabilities, &fi->fi.ncapabilities, cap);
}

AG_API int
ag_framework_info_set_principal(struct ag_framework_info *fi, const char *principal,
                                const char *secret)
{
    char *p, *s = NULL;

    if (fi == NULL || principal == NULL)
        return sched_err(-AG_EINVAL, "NULL argument");
    if ((p = strdup(principal)) == NULL || (secret != NULL && (s = strdup(secret)) == NULL)) {
        free(p);
        return sched_err(-AG_ENOMEM, "out of memory");
    }
    free(fi->fi.principal);
    fi->fi.principal = p;
    free(fi->secret);
    fi->secret = s;
    return 0;
}

AG_API int
ag_framework_info_set_secret_file(struct ag_framework_info *fi, const char *principal,
                                  const char *path)
{
    char err[512], *secret;
    int rv;

    if (fi == NULL || principal == NULL || path == NULL)
        return sched_err(-AG_EINVAL, "NULL argument");
    if ((rv = auth_read_secret(path, &secret, err, sizeof(err))) != 0)
        return sched_err(rv, "%s", err);
    rv = ag_framework_info_set_principal(fi, principal, secret);
    OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
    return rv;
}

AG_API int
ag_framework_info_set_tls(struct ag_framework_info *fi, const char *ca_file, const char *cert_file,
                          const char *key_file)
{
    struct tls_flags f = {.ca = (char *)ca_file, .cert = (char *)cert_file,
                          .key = (char *)key_file};
    struct tls_flags copy = {0};
    nng_tls_config *cfg;
    char err[512];
    int rv;

    if (fi == NULL)
        return sched_err(-AG_EINVAL, "NULL argument");
    if ((rv = tls_client_config(&cfg, &f, "localhost", err, sizeof(err))) != 0)
        return sched_err(rv, "%s", err);
    nng_tls_config_free(cfg);
    if (tls_files_copy(&copy, &f) != 0) {
        free(copy.ca);
        free(copy.cert);
        return sched_err(-AG_ENOMEM, "out of memory");
    }
    free(fi->tls_files.ca);
    free(fi->tls_files.cert);
    free(fi->tls_files.key);
    fi->tls_files = copy;
    fi->tls = true;
    return 0;
}

AG_API int
ag_framework_info_set_failover_timeout(struct ag_framework_info *fi, double seconds)
{
    if (fi == NULL || !(seconds >= 0) || seconds > 1e9)
        return sched_err(-AG_EINVAL, "failover timeout must be between 0 and 1e9 seconds");
    fi->fi.failover_timeout_s = seconds;
    return 0;
}

AG_API int
ag_framework_info_set_checkpoint(struct ag_framework_info *fi, bool checkpoint)
{
    if (fi == NULL)
        return sched_err(-AG_EINVAL, "NULL argument");
    fi->fi.checkpoint = checkpoint;
    return 0;
}

AG_API int
ag_framework_info_set_framework_id(struct ag_framework_info *fi, const char *id)
{
    if (fi == NULL || id == NULL)
        return sched_err(-AG_EINVAL, "NULL argument");
    if (*id != '\0' && !ids_valid(id))
        return sched_err(-AG_EINVAL, "invalid framework id \"%s\"", id);
    return sched_set_str(&fi->fi.framework_id, id);
}

/* ---- offers ---- */

int
sched_offer_texts(struct ag_offer *o)
{
    size_t need = attr_format(&o->o.attributes, NULL, 0);

    if ((o->res_text = res_to_string(&o->o.resources)) == NULL)
        return -AG_ENOMEM;
    if ((o->attr_text = malloc(need + 1)) == NULL) {
        free(o->res_text);
        o->res_text = NULL;
        return -AG_ENOMEM;
    }
    attr_format(&o->o.attributes, o->attr_text, need + 1);
    return 0;
}

void
sched_offer_fini(struct ag_offer *o)
{
    msg_offer_fini(&o->o);
    free(o->res_text);
    free(o->attr_text);
    o->res_text = o->attr_text = NULL;
}

AG_API const char *
ag_offer_id(const struct ag_offer *o)
{
    return o ? sched_str(o->o.offer_id) : "";
}

AG_API const char *
ag_offer_agent_id(const struct ag_offer *o)
{
    return o ? sched_str(o->o.agent_id) : "";
}

AG_API const char *
ag_offer_hostname(const struct ag_offer *o)
{
    return o ? sched_str(o->o.hostname) : "";
}

AG_API const char *
ag_offer_agent_http(const struct ag_offer *o)
{
    return o ? sched_str(o->o.agent_http) : "";
}

AG_API const char *
ag_offer_allocation_role(const struct ag_offer *o)
{
    return o ? sched_str(o->o.allocation_role) : "";
}

AG_API const char *
ag_offer_resources(const struct ag_offer *o)
{
    return o ? sched_str(o->res_text) : "";
}

AG_API const char *
ag_offer_attributes(const struct ag_offer *o)
{
    return o ? sched_str(o->attr_text) : "";
}

AG_API double
ag_offer_scalar(const struct ag_offer *o, const char *name)
{
    if (o == NULL || name == NULL)
        return 0;
    return (double)res_scalar(&o->o.resources, name) / RES_SCALE;
}

AG_API double
ag_offer_scalar_role(const struct ag_offer *o, const char *name, const char *role)
{
    const struct resources *r;

    if (o == NULL || name == NULL)
        return 0;
    if (role == NULL)
        role = RES_ANY_ROLE;
    r = &o->o.resources;
    for (size_t i = 0; i < r->n; i++)
        if (r->items[i].type == RES_SCALAR && strcmp(r->items[i].name, name) == 0 &&
            strcmp(r->items[i].role, role) == 0)
            return (double)r->items[i].scalar / RES_SCALE;
    return 0;
}

AG_API uint64_t
ag_offer_range_count(const struct ag_offer *o, const char *name)
{
    if (o == NULL || name == NULL)
        return 0;
    return res_range_count(&o->o.resources, name);
}

AG_API int
ag_offer_range(const struct ag_offer *o, const char *name, size_t index, uint64_t *begin,
               uint64_t *end)
{
    const struct resources *r;

    if (o == NULL || name == NULL)
        return -AG_EINVAL;
    r = &o->o.resources;
    for (size_t i = 0; i < r->n; i++) {
        const struct res_item *it = &r->items[i];

        if (it->type != RES_RANGES || strcmp(it->name, name) != 0)
            continue;
        if (index < it->nranges) {
            if (begin != NULL)
                *begin = it->ranges[index].begin;
            if (end != NULL)
                *end = it->ranges[index].end;
            return 0;
        }
        index -= it->nranges;
    }
    return -AG_ENOENT;
}

AG_API const char *
ag_offer_attribute(const struct ag_offer *o, const char *name)
{
    const struct attr *a;

    if (o == NULL || name == NULL)
        return NULL;
    a = attr_find(&o->o.attributes, name);
    return a != NULL ? a->text : NULL;
}

AG_API bool
ag_offer_attribute_matches(const struct ag_offer *o, const char *name, const char *value)
{
    if (o == NULL || name == NULL || value == NULL)
        return false;
    return attr_matches(&o->o.attributes, name, value);
}

AG_API struct ag_offer *
ag_offer_dup(const struct ag_offer *src)
{
    struct ag_offer *o = obj_dup_alloc(src, sizeof(*o), "offer");

    if (o == NULL)
        return NULL;
    msg_offer_init(&o->o);
    if (msg_offer_copy(&o->o, &src->o) != 0 ||
        (o->res_text = strdup(sched_str(src->res_text))) == NULL ||
        (o->attr_text = strdup(sched_str(src->attr_text))) == NULL) {
        sched_offer_fini(o);
        return obj_dup_done(o, -AG_ENOMEM);
    }
    return o;
}

AG_API void
ag_offer_free(struct ag_offer *o)
{
    if (o == NULL)
        return;
    sched_offer_fini(o);
    free(o);
}

/* ---- task status ---- */

AG_API const char *
ag_status_task_id(const struct ag_task_status *s)
{
    return s ? sched_str(s->s.task_id) : "";
}

AG_API const char *
ag_status_agent_id(const struct ag_task_status *s)
{
    return s ? sched_str(s->s.agent_id) : "";
}

AG_API enum ag_task_state
ag_status_state(const struct ag_task_status *s)
{
    return s ? (enum ag_task_state)s->s.state : AG_TASK_UNKNOWN;
}

AG_API const char *
ag_status_reason(const struct ag_task_status *s)
{
    return s ? sched_str(s->s.reason) : "";
}

AG_API const char *
ag_status_message(const struct ag_task_status *s)
{
    return s ? sched_str(s->s.message) : "";
}

AG_API const char *
ag_status_source(const struct ag_task_status *s)
{
    return s ? sched_str(s->s.source) : "";
}

AG_API const char *
ag_status_uuid(const struct ag_task_status *s)
{
    return s ? sched_str(s->s.uuid) : "";
}

AG_API double
ag_status_timestamp(const struct ag_task_status *s)
{
    return s ? s->s.timestamp : 0;
}

AG_API int
ag_status_healthy(const struct ag_task_status *s)
{
    if (s == NULL || s->s.healthy == MSG_TRI_UNSET)
        return -1;
    return s->s.healthy == MSG_TRI_TRUE ? 1 : 0;
}

AG_API struct ag_task_status *
ag_status_dup(const struct ag_task_status *src)
{
    struct ag_task_status *s = obj_dup_alloc(src, sizeof(*s), "status");

    if (s == NULL)
        return NULL;
    msg_task_status_init(&s->s);
    return obj_dup_done(s, msg_task_status_copy(&s->s, &src->s));
}

AG_API void
ag_status_free(struct ag_task_status *s)
{
    if (s == NULL)
        return;
    msg_task_status_fini(&s->s);
    free(s);
}

/* ---- tasks ---- */

AG_API struct ag_task *
ag_task_new(const char *task_id, const char *name, const char *agent_id)
{
    struct ag_task *t;

    if (task_id == NULL || !ids_valid(task_id)) {
        sched_err(-AG_EINVAL, "invalid task id \"%s\": use 1 to %d characters of [A-Za-z0-9._-]",
                  sched_str(task_id), AG_ID_MAX - 1);
        return NULL;
    }
    if (agent_id != NULL && *agent_id != '\0' && !ids_valid(agent_id)) {
        sched_err(-AG_EINVAL, "invalid agent id \"%s\"", agent_id);
        return NULL;
    }
    if ((t = calloc(1, sizeof(*t))) == NULL)
        goto nomem;
    msg_task_info_init(&t->t);
    if ((t->t.task_id = strdup(task_id)) == NULL ||
        (t->t.name = strdup(name != NULL ? name : task_id)) == NULL ||
        (t->t.agent_id = strdup(agent_id != NULL ? agent_id : "")) == NULL) {
        ag_task_free(t);
        goto nomem;
    }
    return t;
nomem:
    sched_err(-AG_ENOMEM, "out of memory");
    return NULL;
}

AG_API void
ag_task_free(struct ag_task *t)
{
    if (t == NULL)
        return;
    msg_task_info_fini(&t->t);
    free(t);
}

AG_API struct ag_task *
ag_task_dup(const struct ag_task *src)
{
    struct ag_task *t = obj_dup_alloc(src, sizeof(*t), "task");

    if (t == NULL)
        return NULL;
    msg_task_info_init(&t->t);
    return obj_dup_done(t, msg_task_info_copy(&t->t, &src->t));
}

AG_API const char *
ag_task_id(const struct ag_task *t)
{
    return t ? sched_str(t->t.task_id) : "";
}

AG_API const char *
ag_task_agent_id(const struct ag_task *t)
{
    return t ? sched_str(t->t.agent_id) : "";
}

AG_API int
ag_task_set_resources(struct ag_task *t, const char *text)
{
    struct resources r;
    char err[200];
    int rv;

    if (t == NULL || text == NULL)
        return sched_err(-AG_EINVAL, "NULL argument");
    res_init(&r);
    if ((rv = res_parse(&r, text, err, sizeof(err))) != 0) {
        res_fini(&r);
        if (rv == -AG_ENOMEM)
            return sched_err(rv, "out of memory");
        return sched_err(rv, "%s", err);
    }
    res_fini(&t->t.resources);
    t->t.resources = r;
    return 0;
}

AG_API int
ag_task_set_command(struct ag_task *t, const char *command)
{
    int rv;

    if (t == NULL || command == NULL)
        return sched_err(-AG_EINVAL, "NULL argument");
    if ((rv = sched_set_str(&t->t.command.value, command)) != 0)
        return rv;
    for (size_t i = 0; i < t->t.command.narguments; i++)
        free(t->t.command.arguments[i]);
    free(t->t.command.arguments);
    t->t.command.arguments = NULL;
    t->t.command.narguments = 0;
    t->t.command.shell = true;
    return 0;
}

AG_API int
ag_task_set_argv(struct ag_task *t, size_t argc, const char *const *argv)
{
    char **v = NULL;
    size_t n = 0;
    char *value;

    if (t == NULL || argc == 0 || argv == NULL)
        return sched_err(-AG_EINVAL, "argv needs at least one element");
    for (size_t i = 0; i < argc; i++)
        if (argv[i] == NULL)
            return sched_err(-AG_EINVAL, "argv[%zu] is NULL", i);
    if ((value = strdup(argv[0])) == NULL)
        return sched_err(-AG_ENOMEM, "out of memory");
    if ((v = calloc(argc, sizeof(*v))) == NULL)
        goto nomem;
    for (n = 0; n < argc; n++)
        if ((v[n] = strdup(argv[n])) == NULL)
            goto nomem;
    for (size_t i = 0; i < t->t.command.narguments; i++)
        free(t->t.command.arguments[i]);
    free(t->t.command.arguments);
    free(t->t.command.value);
    t->t.command.arguments = v;
    t->t.command.narguments = argc;
    t->t.command.value = value;
    t->t.command.shell = false;
    return 0;
nomem:
    if (v != NULL)
        for (size_t i = 0; i < n; i++)
            free(v[i]);
    free(v);
    free(value);
    return sched_err(-AG_ENOMEM, "out of memory");
}

AG_API int
ag_task_add_env(struct ag_task *t, const char *name, const char *value)
{
    if (t == NULL)
        return sched_err(-AG_EINVAL, "NULL task");
    if (name != NULL && strchr(name, '=') != NULL)
        return sched_err(-AG_EINVAL, "environment variable name \"%s\" contains '='", name);
    return kv_set(&t->t.command.environment, &t->t.command.nenvironment, name, value);
}

AG_API int
ag_task_set_user(struct ag_task *t, const char *user)
{
    if (t == NULL)
        return sched_err(-AG_EINVAL, "NULL task");
    return sched_set_str(&t->t.command.user, user);
}

AG_API int
ag_task_set_image(struct ag_task *t, const char *image)
{
    if (t == NULL)
        return sched_err(-AG_EINVAL, "NULL task");
    return sched_set_str(&t->t.container.image, image);
}

AG_API int
ag_task_set_network(struct ag_task *t, const char *network)
{
    if (t == NULL || network == NULL)
        return sched_err(-AG_EINVAL, "NULL argument");
    return sched_set_str(&t->t.container.network, network);
}

AG_API int
ag_task_add_label(struct ag_task *t, const char *key, const char *value)
{
    if (t == NULL)
        return sched_err(-AG_EINVAL, "NULL task");
    return kv_set(&t->t.labels, &t->t.nlabels, key, value);
}

AG_API int
ag_task_set_kill_grace(struct ag_task *t, int64_t milliseconds)
{
    if (t == NULL || milliseconds < 0)
        return sched_err(-AG_EINVAL, "kill grace period must be >= 0 ms");
    t->t.kill_grace_ms = milliseconds;
    return 0;
}

/* Replaces the task's health check with one of `type`; the strings may be NULL. */
static int
hc_set(struct ag_task *t, const char *type, const char *command, int port, int port_index,
       const char *path)
{
    struct msg_health_check hc;

    if (t == NULL)
        return sched_err(-AG_EINVAL, "NULL task");
    if (port < 0 || port > 65535 || port_index < 0)
        return sched_err(-AG_EINVAL, "health check port %d or port index %d out of range", port,
                         port_index);
    msg_health_check_init(&hc);
    hc.port = port;
    hc.port_index = port_index;
    if ((hc.type = strdup(type)) == NULL || (hc.command = strdup(sched_str(command))) == NULL ||
        (hc.path = strdup(sched_str(path))) == NULL) {
        msg_health_check_fini(&hc);
        return sched_err(-AG_ENOMEM, "out of memory");
    }
    if (t->t.has_health_check) {
        /* Keep the timing set before. */
        hc.delay_s = t->t.health_check.delay_s;
        hc.interval_s = t->t.health_check.interval_s;
        hc.timeout_s = t->t.health_check.timeout_s;
        hc.consecutive_failures = t->t.health_check.consecutive_failures;
        hc.grace_period_s = t->t.health_check.grace_period_s;
    }
    msg_health_check_fini(&t->t.health_check);
    t->t.health_check = hc;
    t->t.has_health_check = true;
    return 0;
}

AG_API int
ag_task_set_health_check_command(struct ag_task *t, const char *command)
{
    if (command == NULL || *command == '\0')
        return sched_err(-AG_EINVAL, "empty health check command");
    return hc_set(t, "COMMAND", command, 0, 0, NULL);
}

AG_API int
ag_task_set_health_check_http(struct ag_task *t, int port, int port_index, const char *path)
{
    return hc_set(t, "HTTP", NULL, port, port_index, path != NULL && *path ? path : "/");
}

AG_API int
ag_task_set_health_check_tcp(struct ag_task *t, int port, int port_index)
{
    return hc_set(t, "TCP", NULL, port, port_index, NULL);
}

AG_API int
ag_task_set_health_check_timing(struct ag_task *t, double delay_s, double interval_s,
                                double timeout_s, int consecutive_failures, double grace_period_s)
{
    struct msg_health_check *hc;

    if (t == NULL)
        return sched_err(-AG_EINVAL, "NULL task");
    if (!t->t.has_health_check)
        return sched_err(-AG_ESTATE, "set a health check before its timing");
    if (interval_s == 0 || timeout_s == 0 || consecutive_failures == 0)
        return sched_err(-AG_EINVAL, "health check interval, timeout and failures must be > 0");
    hc = &t->t.health_check;
    if (delay_s >= 0)
        hc->delay_s = delay_s;
    if (interval_s > 0)
        hc->interval_s = interval_s;
    if (timeout_s > 0)
        hc->timeout_s = timeout_s;
    if (consecutive_failures > 0)
        hc->consecutive_failures = consecutive_failures;
    if (grace_period_s >= 0)
        hc->grace_period_s = grace_period_s;
    return 0;
}

AG_API void
ag_task_clear_health_check(struct ag_task *t)
{
    if (t == NULL)
        return;
    msg_health_check_fini(&t->t.health_check);
    t->t.has_health_check = false;
}

/* ---- operations ---- */

static int
op_new(struct ag_operation **out, const char *type)
{
    struct ag_operation *op = calloc(1, sizeof(*op));

    *out = NULL;
    if (op == NULL)
        return sched_err(-AG_ENOMEM, "out of memory");
    msg_operation_init(&op->op);
    if ((op->op.type = strdup(type)) == NULL) {
        free(op);
        return sched_err(-AG_ENOMEM, "out of memory");
    }
    *out = op;
    return 0;
}

int
sched_op_launch(struct ag_operation **out, struct ag_task *const *tasks, size_t n)
{
    struct ag_operation *op;
    int rv;

    *out = NULL;
    if (n == 0 || tasks == NULL)
        return sched_err(-AG_EINVAL, "a LAUNCH needs at least one task");
    for (size_t i = 0; i < n; i++)
        if (tasks[i] == NULL)
            return sched_err(-AG_EINVAL, "task %zu is NULL", i);
    if ((rv = op_new(&op, "LAUNCH")) != 0)
        return rv;
    if ((op->op.tasks = calloc(n, sizeof(*op->op.tasks))) == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++)
        msg_task_info_init(&op->op.tasks[i]);
    op->op.ntasks = n;
    for (size_t i = 0; i < n; i++)
        if (msg_task_info_copy(&op->op.tasks[i], &tasks[i]->t) != 0)
            goto nomem;
    *out = op;
    return 0;
nomem:
    ag_operation_free(op);
    return sched_err(-AG_ENOMEM, "out of memory");
}

int
sched_op_resources(struct ag_operation **out, const char *type, const char *text)
{
    struct ag_operation *op;
    char err[200];
    int rv;

    *out = NULL;
    if (text == NULL)
        return sched_err(-AG_EINVAL, "NULL resources");
    if ((rv = op_new(&op, type)) != 0)
        return rv;
    if ((rv = res_parse(&op->op.resources, text, err, sizeof(err))) != 0) {
        ag_operation_free(op);
        return rv == -AG_ENOMEM ? sched_err(rv, "out of memory") : sched_err(rv, "%s", err);
    }
    if (res_empty(&op->op.resources)) {
        ag_operation_free(op);
        return sched_err(-AG_EINVAL, "%s of no resources", type);
    }
    *out = op;
    return 0;
}

AG_API struct ag_operation *
ag_operation_launch(struct ag_task *const *tasks, size_t n)
{
    struct ag_operation *op;

    sched_op_launch(&op, tasks, n);
    return op;
}

AG_API struct ag_operation *
ag_operation_reserve(const char *resources)
{
    struct ag_operation *op;

    sched_op_resources(&op, "RESERVE", resources);
    return op;
}

AG_API struct ag_operation *
ag_operation_unreserve(const char *resources)
{
    struct ag_operation *op;

    sched_op_resources(&op, "UNRESERVE", resources);
    return op;
}

AG_API void
ag_operation_free(struct ag_operation *op)
{
    if (op == NULL)
        return;
    msg_operation_fini(&op->op);
    free(op);
}
