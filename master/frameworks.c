/*
 * Frameworks: subscription, disconnection and removal.
 * Runs on the loop thread; see docs/architecture.md for who calls whom.
 */
#include "master_int.h"

#include "allocator.h"
#include "error.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "xalloc.h"
#include "recorder.h"
#include "registry.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- frameworks ---- */

void
framework_free(struct framework *fw)
{
    if (fw == NULL)
        return;
    msg_framework_info_fini(&fw->info);
    hmap_fini(&fw->tasks);
    hmap_fini(&fw->offers);
    free(fw);
}

static bool
framework_has_capability(const struct msg_framework_info *info, const char *cap)
{
    for (size_t i = 0; i < info->ncapabilities; i++)
        if (strcmp(info->capabilities[i], cap) == 0)
            return true;
    return false;
}

/* A framework record with id `id` and a copy of `info` (its framework_id set
 * to `id`); not in any map yet. */
struct framework *
framework_new(const char *id, const struct msg_framework_info *info)
{
    struct framework *fw = xcalloc(1, sizeof(*fw));

    snprintf(fw->id, sizeof(fw->id), "%s", id);
    msg_framework_info_init(&fw->info);
    if (msg_framework_info_copy(&fw->info, info) != 0)
        abort();
    free(fw->info.framework_id);
    fw->info.framework_id = strdup(fw->id);
    if (fw->info.framework_id == NULL)
        abort();
    fw->partition_aware = framework_has_capability(info, "PARTITION_AWARE");
    hmap_init(&fw->tasks);
    hmap_init(&fw->offers);
    return fw;
}

/* Stores the framework's row in the registry (durable on return). */
static int
framework_store(struct master *m, const struct framework *fw)
{
    struct msg sub;
    void *buf;
    size_t len;
    int rc;

    msg_init(&sub, MSG_SUBSCRIBE);
    sub.u.subscribe.framework = fw->info;
    sub.u.subscribe.framework.framework_id = (char *)fw->id;
    if ((rc = msg_encode_alloc(&sub, &buf, &len)) != 0)
        return rc;
    rc = registry_put_framework(m->reg, &(struct registry_framework_row){
                                            .id = fw->id,
                                            .info = buf,
                                            .info_len = len,
                                            .registered_time = fw->registered_time,
                                            .principal = fw->principal,
                                        });
    free(buf);
    return rc;
}

/* Whether `url` may be shown as a link: "" or an http:// or https:// URL. */
static bool
webui_url_valid(const char *url)
{
    return url[0] == '\0' || strncasecmp(url, "http://", 7) == 0 ||
           strncasecmp(url, "https://", 8) == 0;
}

/* Refuses a SUBSCRIBE beyond a limit (ERROR, counted in the metric, logged). */
static void __attribute__((format(printf, 3, 4)))
limit_refuse(struct master *m, struct peer *p, const char *fmt, ...)
{
    char text[300];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    log_warn("refusing SUBSCRIBE from principal '%s': %s", p->principal, text);
    metrics_inc(metrics_counter(m->metrics, "master/subscribes_refused_by_limits"));
    core_send_error(m, p->id, -AG_ENOSPC, "%s", text);
}

/*
 * --max_frameworks_per_principal, --max_roles_per_framework, --max_roles:
 * whether the SUBSCRIBE of `info` (a new framework when `fw` is NULL, else a
 * failover of `fw`) stays within them. Answers ERROR and returns false if not.
 */
static bool
subscribe_within_limits(struct master *m, struct peer *p, const struct msg_framework_info *info,
                        const struct framework *fw)
{
    const char *principal = m->flags.authenticate ? p->principal : "";
    int64_t per_principal = 0;
    struct hmap roles;
    size_t it = 0, added = 0;
    const char *key;
    void *val;
    bool ok = true;

    if (m->flags.max_roles_per_framework > 0 &&
        (int64_t)info->nroles > m->flags.max_roles_per_framework) {
        limit_refuse(m, p, "too many roles: %zu, at most %lld (--max_roles_per_framework)",
                     info->nroles, (long long)m->flags.max_roles_per_framework);
        return false;
    }
    if (m->flags.max_frameworks_per_principal <= 0 && m->flags.max_roles <= 0)
        return true;
    hmap_init(&roles);
    while (hmap_next(&m->frameworks, &it, &key, &val)) {
        const struct framework *o = val;

        if (o->state == FW_REMOVED || o == fw)
            continue;
        if (fw == NULL && strcmp(o->principal, principal) == 0)
            per_principal++;
        for (size_t i = 0; i < (o->info.nroles ? o->info.nroles : 1); i++)
            hmap_put(&roles, o->info.nroles ? o->info.roles[i] : "*", (void *)o);
    }
    if (m->flags.max_frameworks_per_principal > 0 &&
        per_principal >= m->flags.max_frameworks_per_principal) {
        limit_refuse(m, p,
                     "too many frameworks: principal '%s' has %lld, at most %lld "
                     "(--max_frameworks_per_principal)",
                     principal, (long long)per_principal,
                     (long long)m->flags.max_frameworks_per_principal);
        ok = false;
    }
    for (size_t i = 0; ok && i < (info->nroles ? info->nroles : 1); i++) {
        const char *role = info->nroles ? info->roles[i] : "*";

        if (hmap_get(&roles, role) == NULL && hmap_put(&roles, role, (void *)info) == 0)
            added++;
    }
    if (ok && added > 0 && m->flags.max_roles > 0 &&
        (int64_t)hmap_size(&roles) > m->flags.max_roles) {
        limit_refuse(m, p,
                     "too many roles: the frameworks would use %zu distinct roles, at most %lld "
                     "(--max_roles)",
                     hmap_size(&roles), (long long)m->flags.max_roles);
        ok = false;
    }
    hmap_fini(&roles);
    return ok;
}

void
framework_handle_subscribe(struct master *m, struct peer *p, struct msg *msg)
{
    struct msg_framework_info *info = &msg->u.subscribe.framework;
    struct framework *fw;
    struct msg r;
    int rc;

    if (info->name[0] == '\0') {
        core_send_error(m, p->id, -AG_EINVAL, "SUBSCRIBE needs a framework name");
        return;
    }
    for (size_t i = 0; i < info->nroles; i++) {
        if (!res_role_valid(info->roles[i]) || strlen(info->roles[i]) >= RES_ROLE_MAX) {
            core_send_error(m, p->id, -AG_EINVAL, "invalid role '%s'", info->roles[i]);
            return;
        }
    }
    if (!isfinite(info->failover_timeout_s) || info->failover_timeout_s < 0) {
        core_send_error(m, p->id, -AG_EINVAL, "failover_timeout must be >= 0");
        return;
    }
    if (!webui_url_valid(info->webui_url)) {
        core_send_error(m, p->id, -AG_EINVAL, "webui_url must be an http:// or https:// URL");
        return;
    }
    if (m->flags.authenticate && info->principal[0] && strcmp(info->principal, p->principal)) {
        core_send_error(m, p->id, -AG_EPERM, "principal '%s' differs from the authenticated one",
                   info->principal);
        return;
    }
    for (size_t i = 0; i < (info->nroles ? info->nroles : 1); i++) {
        const char *role = info->nroles ? info->roles[i] : "*";
        if (!core_authorized(m, core_peer_principal(m, p), ACL_REGISTER_FRAMEWORKS, role)) {
            core_send_error(m, p->id, -AG_EPERM,
                            "not permitted: principal '%s' may not register frameworks in role "
                            "'%s' (--acls)",
                            p->principal, role);
            return;
        }
    }
    if (m->flags.authenticate && info->principal[0] == '\0') {
        /* The framework's info names who registered it. */
        free(info->principal);
        if ((info->principal = strdup(p->principal)) == NULL)
            abort();
    }
    if (info->framework_id[0] != '\0') {
        if (!ids_valid(info->framework_id)) {
            core_send_error(m, p->id, -AG_EINVAL, "invalid framework id");
            return;
        }
        fw = core_framework(m, info->framework_id);
        if (fw == NULL || fw->state == FW_REMOVED) {
            core_send_error(m, p->id, -AG_ESTATE,
                       "framework %s has been removed (failover timeout passed or torn down)",
                       info->framework_id);
            return;
        }
        if (!core_peer_owns(m, p, fw->principal, true)) {
            log_warn("refusing SUBSCRIBE of framework %s by principal '%s': it belongs to '%s'",
                     fw->id, p->principal, fw->principal);
            core_send_error(m, p->id, -AG_EPERM,
                            "framework %s belongs to another principal: subscribe without a "
                            "framework id to register a new framework",
                            fw->id);
            return;
        }
        if (m->flags.authenticate && fw->principal[0] == '\0') {
            log_warn("framework %s registered without authentication is claimed by principal "
                     "'%s'",
                     fw->id, p->principal);
            snprintf(fw->principal, sizeof(fw->principal), "%s", p->principal);
        }
        if (!subscribe_within_limits(m, p, info, fw))
            return;
        if (fw->peer && fw->peer != p->id) {
            struct peer *old = core_peer(m, fw->peer);
            core_send_error(m, fw->peer, -AG_ESTATE, "framework failed over to a new connection");
            if (old)
                old->kind = PEER_NEW;
            core_peer_close(m, fw->peer);
        }
        offer_rescind_where(m, fw->id, NULL, false);
        msg_framework_info_fini(&fw->info);
        if (msg_framework_info_copy(&fw->info, info) != 0)
            abort();
        fw->partition_aware = framework_has_capability(info, "PARTITION_AWARE");
        fw->peer = p->id;
        fw->state = FW_ACTIVE;
        /* Its tasks keep their resources: only its roles and activity change. */
        if ((rc = allocation_update_framework(m, fw)) != 0)
            log_error("allocator refused the re-subscription of framework %s: %s", fw->id,
                      ag_strerror(rc));
        framework_store(m, fw);
        log_info("framework re-subscribed framework_id=%s name=%s", fw->id, fw->info.name);
    } else {
        char id[AG_ID_MAX];

        if (!subscribe_within_limits(m, p, info, NULL))
            return;
        ids_format(id, sizeof(id), "%s-%04llu", m->id, (unsigned long long)++m->next_framework);
        fw = framework_new(id, info);
        if (m->flags.authenticate)
            snprintf(fw->principal, sizeof(fw->principal), "%s", p->principal);
        fw->registered_time = m->now;
        fw->peer = p->id;
        fw->state = FW_ACTIVE;
        if ((rc = framework_store(m, fw)) != 0) {
            core_send_error(m, p->id, rc, "cannot admit the framework: registry write failed");
            framework_free(fw);
            return;
        }
        if ((rc = allocation_add_framework(m, fw, true)) != 0) {
            core_send_error(m, p->id, rc, "allocator refused the framework: %s", ag_strerror(rc));
            registry_remove_framework(m->reg, fw->id);
            framework_free(fw);
            return;
        }
        hmap_put(&m->frameworks, fw->id, fw);
        log_info("framework subscribed framework_id=%s name=%s", fw->id, fw->info.name);
    }
    /* Offers now, not at the next periodic pass (up to --allocation_interval
     * later): what a framework that (re-)subscribes waits for first. */
    allocation_schedule_full(m);
    p->kind = PEER_FRAMEWORK;
    snprintf(p->owner, sizeof(p->owner), "%s", fw->id);
    msg_init(&r, MSG_SUBSCRIBED);
    r.u.subscribed.framework_id = fw->id;
    r.u.subscribed.heartbeat_interval_s = 15;
    master_send(m, p->id, &r);
    allocation_schedule(m);
}

void
framework_disconnected(struct master *m, struct framework *fw)
{
    fw->peer = 0;
    fw->state = FW_DISCONNECTED;
    fw->disconnected_time = m->now;
    fw->failover_deadline = m->now + fw->info.failover_timeout_s;
    offer_rescind_where(m, fw->id, NULL, false);
    alloc_set_framework_active(m->alloc, fw->id, false);
    log_info("framework disconnected framework_id=%s failover_timeout=%gs", fw->id,
             fw->info.failover_timeout_s);
}

/* Keeps a removed framework (emptied) in the bounded list of completed ones. */
static void
framework_complete(struct master *m, struct framework *fw)
{
    size_t max = m->flags.max_completed_frameworks > 0 ? (size_t)m->flags.max_completed_frameworks
                                                       : 0;

    if (max == 0) {
        framework_free(fw);
        return;
    }
    if (m->completed_fws == NULL)
        m->completed_fws = xcalloc(max, sizeof(*m->completed_fws));
    if (m->ncompleted_fws == max)
        framework_free(m->completed_fws[m->completed_fws_head]);
    else
        m->ncompleted_fws++;
    m->completed_fws[m->completed_fws_head] = fw;
    m->completed_fws_head = (m->completed_fws_head + 1) % max;
}

/*
 * Kills every task of a framework and forgets it. With `tell`, a connected
 * framework first hears a fatal ERROR. Agents that are not connected now miss
 * the SHUTDOWN_FRAMEWORK: when they re-register, the tasks of the framework
 * they still run are orphans and killed then (agent_handle_register).
 */
void
framework_remove(struct master *m, struct framework *fw, const char *why, bool tell)
{
    size_t it = 0;
    const char *key;
    void *val;

    log_info("framework removed framework_id=%s reason=\"%s\"", fw->id, why);
    if (tell && fw->peer) {
        struct msg e;
        char text[512];
        snprintf(text, sizeof(text), "Framework removed: %s", why);
        msg_init(&e, MSG_ERROR);
        e.u.error.message = text;
        e.u.error.code = -AG_ESTATE;
        e.u.error.fatal = true;
        master_send(m, fw->peer, &e);
    }
    offer_rescind_where(m, fw->id, NULL, fw->peer != 0);
    /* Agents kill the tasks; their updates are acknowledged by the master. */
    while (hmap_next(&m->agents, &it, &key, &val)) {
        struct agent *a = val;
        struct msg s;
        if (a->peer == 0)
            continue;
        msg_init(&s, MSG_SHUTDOWN_FRAMEWORK);
        s.u.shutdown_framework.framework_id = fw->id;
        master_send(m, a->peer, &s);
    }
    it = 0;
    char **ids = NULL;
    size_t n = 0;
    while (hmap_next(&fw->tasks, &it, &key, &val)) {
        ids = xrealloc(ids, (n + 1) * sizeof(*ids));
        ids[n++] = xstrdup(key);
    }
    for (size_t i = 0; i < n; i++) {
        struct task *t = hmap_get(&fw->tasks, ids[i]);
        if (t) {
            if (!msg_task_state_terminal(t->state)) {
                t->state = MSG_TASK_KILLED;
                t->status.state = MSG_TASK_KILLED;
                acct_task_end(m->acct, m->now, t->framework_id, t->info.task_id,
                              "TASK_KILLED");
            }
            task_forget(m, t);
        }
        free(ids[i]);
    }
    free(ids);
    alloc_remove_framework(m->alloc, fw->id);
    fw->state = FW_REMOVED;
    registry_remove_framework(m->reg, fw->id);
    if (fw->peer) {
        struct peer *p = core_peer(m, fw->peer);
        if (p)
            p->kind = PEER_NEW;
    }
    hmap_del(&m->frameworks, fw->id);
    fw->peer = 0;
    fw->disconnected_time = m->now;
    framework_complete(m, fw);
    allocation_schedule(m);
}
