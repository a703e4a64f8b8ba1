/*
 * Framework calls on the message stream: ACCEPT, DECLINE, KILL, RECONCILE,
 * ACKNOWLEDGE, SUPPRESS/REVIVE/UPDATE_FRAMEWORK and framework messages.
 * Runs on the loop thread; see docs/architecture.md for who calls whom.
 */
#include "master_int.h"

#include "metrics.h"

#include "allocator.h"
#include "error.h"
#include "log.h"
#include "xalloc.h"
#include "recorder.h"
#include "validate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TASKS_PER_ACCEPT 10000

/*
 * run_tasks: whether framework `fw` may run task `ti` on agent `a` as the user
 * it will run as there: the agent's task user when every task runs as it
 * (--switch_user=false or an agent not running as root), else the task's user,
 * else the framework's, else the agent's task user (its --default_task_user or
 * its own user); an agent that does not say (older versions) counts as root.
 * With --acls, root needs a rule that allows it: "permissive" does not.
 * When refused, `why` says so.
 */
static bool
task_user_permitted(struct master *m, struct framework *fw, const struct agent *a,
                    const struct msg_task_info *ti, char *why, size_t len)
{
    const char *fallback = a->task_user[0] ? a->task_user : "root";
    const char *user = a->task_user_only && a->task_user[0]        ? a->task_user
                       : ti->command.user && ti->command.user[0] ? ti->command.user
                       : fw->info.user[0]                        ? fw->info.user
                                                                 : fallback;
    const char *principal = fw->principal[0] ? fw->principal : NULL;

    if (m->acls == NULL)
        return true;
    if (strcmp(user, "root") == 0
            ? acl_decide(m->acls, ACL_RUN_TASKS, principal, user) == ACL_ALLOW
            : core_authorized(m, principal, ACL_RUN_TASKS, user))
        return true;
    if (strcmp(user, "root") == 0)
        log_warn("not permitted by --acls: task %s of framework %s runs as root and no "
                 "run_tasks rule allows it", ti->task_id, fw->id);
    snprintf(why, len, "not permitted: principal '%s' may not run tasks as user '%s' (--acls%s)",
             principal ? principal : "", user,
             strcmp(user, "root") == 0 ? ": root needs a run_tasks rule that allows it" : "");
    return false;
}

void
call_accept(struct master *m, struct framework *fw, struct msg *msg)
{
    struct msg_accept *acc = &msg->u.accept;
    struct resources remaining;
    struct agent *a = NULL;
    char role[RES_ROLE_MAX] = "";
    char why[512];
    struct offer **used;
    size_t nused = 0;
    double refuse = acc->refuse_seconds;

    if (!isfinite(refuse) || refuse < 0)
        refuse = 5;
    res_init(&remaining);
    used = xcalloc(acc->noffer_ids + 1, sizeof(*used));
    for (size_t i = 0; i < acc->noffer_ids; i++) {
        struct offer *o = hmap_get(&m->offers, acc->offer_ids[i]);
        const char *bad = NULL;
        if (o == NULL)
            bad = "unknown or no longer valid offer";
        else if (strcmp(o->framework_id, fw->id) != 0)
            bad = "offer belongs to another framework";
        else if (a != NULL && strcmp(o->agent_id, a->id) != 0)
            bad = "offers of one ACCEPT must come from one agent";
        else if (role[0] && strcmp(o->role, role) != 0)
            bad = "offers of one ACCEPT must have one allocation role";
        if (bad) {
            snprintf(why, sizeof(why), "%s: %.64s", bad, acc->offer_ids[i]);
            log_info("accept refused framework_id=%s: %s", fw->id, why);
            /* Every task of the ACCEPT fails; valid offers in it are given back. */
            for (size_t j = 0; j < acc->noperations; j++)
                for (size_t k = 0; k < acc->operations[j].ntasks; k++)
                    task_send_untracked_status(m, fw, acc->operations[j].tasks[k].task_id,
                                          a ? a->id : "", MSG_TASK_DROPPED,
                                          "REASON_INVALID_OFFERS", why);
            for (size_t j = 0; j < nused; j++) {
                offer_rescind(m, used[j]->id, false, 0);
            }
            free(used);
            res_fini(&remaining);
            return;
        }
        a = core_agent(m, o->agent_id);
        snprintf(role, sizeof(role), "%s", o->role);
        used[nused++] = o;
        res_add(&remaining, &o->resources);
    }
    if (a == NULL || nused == 0) {
        for (size_t j = 0; j < acc->noperations; j++)
            for (size_t k = 0; k < acc->operations[j].ntasks; k++)
                task_send_untracked_status(m, fw, acc->operations[j].tasks[k].task_id, "",
                                      MSG_TASK_DROPPED, "REASON_INVALID_OFFERS",
                                      "ACCEPT names no offers");
        free(used);
        res_fini(&remaining);
        return;
    }
    /* The offers are used up; what is left returns to the allocator below. */
    for (size_t i = 0; i < nused; i++) {
        struct offer *o = offer_take(m, used[i]->id);
        offer_free(o);
    }
    free(used);

    size_t launched = 0;
    for (size_t j = 0; j < acc->noperations; j++) {
        struct msg_operation *op = &acc->operations[j];
        if (strcmp(op->type, "LAUNCH") == 0) {
            for (size_t k = 0; k < op->ntasks; k++) {
                struct msg_task_info *ti = &op->tasks[k];
                if (launched >= MAX_TASKS_PER_ACCEPT) {
                    task_error(m, fw, ti, a->id, "too many tasks in one ACCEPT");
                    continue;
                }
                if (validate_task(ti, hmap_get(&fw->tasks, ti->task_id) != NULL, &remaining, why,
                                  sizeof(why)) ||
                    !task_user_permitted(m, fw, a, ti, why, sizeof(why))) {
                    task_error(m, fw, ti, a->id, why);
                    continue;
                }
                struct task *t = xcalloc(1, sizeof(*t));
                core_task_key(t->key, sizeof(t->key), fw->id, ti->task_id);
                msg_task_info_init(&t->info);
                msg_task_status_init(&t->status);
                if (msg_task_info_copy(&t->info, ti) != 0)
                    abort();
                free(t->info.agent_id);
                free(t->info.framework_id);
                t->info.agent_id = strdup(a->id);
                t->info.framework_id = strdup(fw->id);
                snprintf(t->framework_id, sizeof(t->framework_id), "%s", fw->id);
                snprintf(t->agent_id, sizeof(t->agent_id), "%s", a->id);
                snprintf(t->role, sizeof(t->role), "%s", role);
                t->state = MSG_TASK_STAGING;
                t->status.task_id = strdup(ti->task_id);
                t->status.agent_id = strdup(a->id);
                t->status.framework_id = strdup(fw->id);
                t->status.state = MSG_TASK_STAGING;
                t->status.timestamp = m->now;
                t->acked = true;
                res_sub(&remaining, &ti->resources);
                hmap_put(&fw->tasks, t->info.task_id, t);
                hmap_put(&a->tasks, t->key, t);
                task_record_start(m, &t->info, role);

                struct msg run;
                msg_init(&run, MSG_RUN_TASK);
                run.u.run_task.framework = fw->info;
                run.u.run_task.task = t->info;
                master_send(m, a->peer, &run);
                metrics_inc(m->ctr.tasks_launched);
                launched++;
                log_debug("launching task %s on agent %s", t->key, a->id);
            }
        } else if (strcmp(op->type, "RESERVE") == 0 || strcmp(op->type, "UNRESERVE") == 0) {
            bool reserve = op->type[0] == 'R';
            struct resources from, to;
            const char *target = reserve ? role : "*";
            int rc;
            res_init(&from);
            res_init(&to);
            if (reserve && (strcmp(role, "*") == 0)) {
                log_info("RESERVE refused: offer was not allocated to a role");
                continue;
            }
            /* RESERVE takes unreserved resources; UNRESERVE takes reserved ones. */
            res_set_role(&from, &op->resources, reserve ? "*" : role);
            res_set_role(&to, &op->resources, target);
            if (!res_contains(&remaining, &from)) {
                log_info("%s refused framework_id=%s: resources not in the offers", op->type,
                         fw->id);
            } else if ((rc = alloc_update_allocation(m->alloc, fw->id, a->id, role, &from,
                                                     &to)) != 0) {
                log_info("%s refused framework_id=%s: %s", op->type, fw->id, ag_strerror(rc));
            } else {
                res_sub(&remaining, &from);
                res_add(&remaining, &to);
                res_sub(&a->total, &from);
                res_add(&a->total, &to);
                agent_store(m, a);
                acct_agent_capacity(m->acct, m->now, a->id, a->hostname, &a->total);
                log_info("%s applied agent_id=%s framework_id=%s role=%s", op->type, a->id,
                         fw->id, role);
            }
            res_fini(&from);
            res_fini(&to);
        } else {
            log_info("unknown operation '%.32s' from framework %s ignored", op->type, fw->id);
        }
    }
    if (!res_empty(&remaining)) {
        int rc = alloc_recover_resources(m->alloc, fw->id, a->id, role, &remaining, refuse,
                                         m->now);
        if (rc != 0)
            log_warn("cannot recover unused offer resources: %s", ag_strerror(rc));
    }
    res_fini(&remaining);
    allocation_schedule(m);
}

void
call_decline(struct master *m, struct framework *fw, struct msg *msg)
{
    double refuse = msg->u.decline.refuse_seconds;
    if (!isfinite(refuse) || refuse < 0)
        refuse = 5;
    for (size_t i = 0; i < msg->u.decline.noffer_ids; i++) {
        struct offer *o = hmap_get(&m->offers, msg->u.decline.offer_ids[i]);
        if (o == NULL || strcmp(o->framework_id, fw->id) != 0)
            continue;
        metrics_inc(m->ctr.offers_declined);
        offer_rescind(m, o->id, false, refuse);
    }
}

void
call_kill(struct master *m, struct framework *fw, struct msg *msg)
{
    struct task *t = hmap_get(&fw->tasks, msg->u.kill.task_id);
    struct agent *a;
    struct msg k;

    if (t == NULL) {
        task_send_untracked_status(m, fw, msg->u.kill.task_id, msg->u.kill.agent_id,
                              fw->partition_aware ? MSG_TASK_UNKNOWN : MSG_TASK_LOST,
                              "REASON_RECONCILIATION", "kill of an unknown task");
        return;
    }
    a = core_agent(m, t->agent_id);
    if (msg_task_state_terminal(t->state)) {
        task_forward_status(m, t);
        return;
    }
    if (a == NULL || a->peer == 0) {
        /* Remembered, and sent when the agent re-registers (as Mesos does);
         * meanwhile report where the task stands. */
        t->kill_pending = true;
        t->kill_grace_ms = msg->u.kill.grace_ms;
        log_info("kill of task %s held until its agent %s is back", t->key, t->agent_id);
        task_forward_status(m, t);
        return;
    }
    msg_init(&k, MSG_KILL_TASK);
    k.u.kill_task.framework_id = fw->id;
    k.u.kill_task.task_id = t->info.task_id;
    k.u.kill_task.grace_ms = msg->u.kill.grace_ms;
    master_send(m, a->peer, &k);
}

static void
call_reconcile_one(struct master *m, struct framework *fw, struct task *t)
{
    struct msg u;
    msg_init(&u, MSG_STATUS_UPDATE);
    u.u.status_update.status = t->status;
    u.u.status_update.status.state = t->state;
    u.u.status_update.status.reason = "REASON_RECONCILIATION";
    u.u.status_update.status.uuid = "";
    master_send(m, fw->peer, &u);
}

void
call_reconcile(struct master *m, struct framework *fw, struct msg *msg)
{
    struct msg_reconcile *rc = &msg->u.reconcile;

    if (rc->ntasks == 0) {
        size_t it = 0;
        void *val;
        while (hmap_next(&fw->tasks, &it, NULL, &val))
            call_reconcile_one(m, fw, val);
        return;
    }
    for (size_t i = 0; i < rc->ntasks; i++) {
        struct task *t = hmap_get(&fw->tasks, rc->tasks[i].task_id);
        struct agent *a;
        if (t) {
            call_reconcile_one(m, fw, t);
            continue;
        }
        a = rc->tasks[i].agent_id[0] ? core_agent(m, rc->tasks[i].agent_id) : NULL;
        if (a && a->state == AGENT_RECOVERED) {
            /* The agent may still come back with it: no answer until it re-registers or
             * its deadline passes, as Mesos drops reconciliation on transitional agents.
             * The framework retries; an answer now (TASK_UNKNOWN) would make it give up
             * on a task that is running. */
            continue;
        }
        if (a && a->state == AGENT_UNREACHABLE) {
            task_send_untracked_status(m, fw, rc->tasks[i].task_id, a->id,
                                  fw->partition_aware ? MSG_TASK_UNREACHABLE : MSG_TASK_LOST,
                                  "REASON_RECONCILIATION", "agent unreachable");
            continue;
        }
        if (a == NULL) {
            /* No such agent (or none given): nobody knows, as Mesos answers. */
            task_send_untracked_status(m, fw, rc->tasks[i].task_id, rc->tasks[i].agent_id,
                                  fw->partition_aware ? MSG_TASK_UNKNOWN : MSG_TASK_LOST,
                                  "REASON_RECONCILIATION", "task and agent unknown");
            continue;
        }
        task_send_untracked_status(m, fw, rc->tasks[i].task_id, rc->tasks[i].agent_id,
                              fw->partition_aware ? MSG_TASK_GONE : MSG_TASK_LOST,
                              "REASON_RECONCILIATION", "task unknown");
    }
}

void
call_status_ack(struct master *m, struct framework *fw, struct msg *msg)
{
    struct msg_status_ack *ack = &msg->u.status_ack;
    struct task *t = hmap_get(&fw->tasks, ack->task_id);
    struct agent *a;
    struct msg fwd;

    if (t == NULL)
        return;
    a = core_agent(m, t->agent_id);
    if (a && a->peer) {
        msg_init(&fwd, MSG_STATUS_ACK);
        fwd.u.status_ack = *ack;
        fwd.u.status_ack.agent_id = a->id;
        fwd.u.status_ack.framework_id = fw->id;
        master_send(m, a->peer, &fwd);
    }
    if (strcmp(t->status.uuid ? t->status.uuid : "", ack->uuid) == 0) {
        t->acked = true;
        if (msg_task_state_terminal(t->state))
            task_forget(m, t);
    }
}

void
call_roles_change(struct master *m, struct framework *fw, struct msg *msg, bool revive)
{
    struct msg_revive *r = revive ? &msg->u.revive : (struct msg_revive *)&msg->u.suppress;
    const char *const *roles = (const char *const *)r->roles;
    size_t n = r->nroles;

    if (n == 0) {
        roles = (const char *const *)fw->info.roles;
        n = fw->info.nroles;
    }
    if (n == 0) {
        static const char *star[] = {"*"};
        roles = star;
        n = 1;
    }
    if (revive)
        alloc_revive(m->alloc, fw->id, roles, n);
    else
        alloc_suppress(m->alloc, fw->id, roles, n);
    allocation_schedule(m);
}

void
call_framework_message(struct master *m, struct peer *p, struct msg *msg)
{
    struct msg_framework_message *fm = &msg->u.framework_message;
    if (p->kind == PEER_FRAMEWORK) {
        struct agent *a = core_agent(m, fm->agent_id);
        if (a && a->peer) {
            free(fm->framework_id);
            fm->framework_id = strdup(p->owner);
            master_send(m, a->peer, msg);
        }
    } else {
        struct framework *fw = core_framework(m, fm->framework_id);
        if (fw && fw->peer)
            master_send(m, fw->peer, msg);
    }
}
