/*
 * Task records: adoption, status forwarding, master-made updates, recovery of
 * their resources and the bounded list of completed tasks.
 * Runs on the loop thread; see docs/architecture.md for who calls whom.
 */
#include "master_int.h"

#include "metrics.h"

#include "allocator.h"
#include "error.h"
#include "ids.h"
#include "log.h"
#include "xalloc.h"
#include "recorder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The app a task belongs to, from its AGORA_APP_ID or MARATHON_APP_ID label. */
static const char *
task_app_id(const struct msg_task_info *ti)
{
    for (size_t i = 0; i < ti->nlabels; i++)
        if (strcmp(ti->labels[i].key, "AGORA_APP_ID") == 0 ||
            strcmp(ti->labels[i].key, "MARATHON_APP_ID") == 0)
            return ti->labels[i].value;
    return "";
}

/* Records the start of a task's allocation interval. */
void
task_record_start(struct master *m, const struct msg_task_info *ti, const char *role)
{
    struct framework *fw = core_framework(m, ti->framework_id);
    acct_task_start(m->acct, m->now, ti->framework_id, role, fw ? fw->info.principal : "",
                    task_app_id(ti), ti->task_id, ti->agent_id, &ti->resources);
}

void
task_free(struct task *t)
{
    if (t == NULL)
        return;
    msg_task_info_fini(&t->info);
    msg_task_status_fini(&t->status);
    free(t);
}

static void
task_complete(struct master *m, struct task *t)
{
    struct completed_task *c;

    if (m->flags.max_completed_tasks <= 0)
        return;
    if (m->completed == NULL)
        m->completed = xcalloc((size_t)m->flags.max_completed_tasks, sizeof(*m->completed));
    c = &m->completed[m->completed_head];
    if (m->ncompleted == (size_t)m->flags.max_completed_tasks) {
        msg_task_info_fini(&c->info);
        msg_task_status_fini(&c->status);
    } else {
        m->ncompleted++;
    }
    msg_task_info_init(&c->info);
    msg_task_status_init(&c->status);
    msg_task_info_copy(&c->info, &t->info);
    msg_task_status_copy(&c->status, &t->status);
    snprintf(c->framework_id, sizeof(c->framework_id), "%s", t->framework_id);
    m->completed_head = (m->completed_head + 1) % (size_t)m->flags.max_completed_tasks;
}

/* Returns the resources of a task to the allocator once (it ended or its agent went away). */
void
task_recover_resources(struct master *m, struct task *t)
{
    int rc;

    if (t->resources_recovered)
        return;
    t->resources_recovered = true;
    rc = alloc_recover_resources(m->alloc, t->framework_id, t->agent_id,
                                 t->role[0] ? t->role : NULL, &t->info.resources, 0, m->now);
    if (rc != 0 && rc != -AG_ENOENT)
        log_warn("cannot recover resources of task %s: %s", t->key, ag_strerror(rc));
    allocation_schedule(m);
}

/* Removes a task from every index and frees it. */
void
task_forget(struct master *m, struct task *t)
{
    struct framework *fw = core_framework(m, t->framework_id);
    struct agent *a = core_agent(m, t->agent_id);

    task_recover_resources(m, t);
    if (fw)
        hmap_del(&fw->tasks, t->info.task_id);
    if (a)
        hmap_del(&a->tasks, t->key);
    if (msg_task_state_terminal(t->state))
        task_complete(m, t);
    task_free(t);
}

/* Sends the task's latest status to its framework, if connected. */
void
task_forward_status(struct master *m, struct task *t)
{
    struct framework *fw = core_framework(m, t->framework_id);
    struct msg u;

    if (fw == NULL || fw->peer == 0)
        return;
    msg_init(&u, MSG_STATUS_UPDATE);
    u.u.status_update.status = t->status; /* borrowed */
    if (master_send(m, fw->peer, &u) == 0)
        metrics_inc(m->ctr.updates_forwarded);
}

/*
 * Records a state change made by the master itself (ERROR, LOST, UNREACHABLE,
 * GONE, reconciliation) and forwards it. Master-generated updates carry no uuid
 * and need no acknowledgement.
 */
void
task_master_update(struct master *m, struct task *t, enum msg_task_state state,
                   const char *reason, const char *message)
{
    msg_task_status_fini(&t->status);
    t->status.task_id = strdup(t->info.task_id);
    t->status.agent_id = strdup(t->agent_id);
    t->status.framework_id = strdup(t->framework_id);
    t->status.state = state;
    t->status.reason = strdup(reason ? reason : "");
    t->status.message = strdup(message ? message : "");
    t->status.source = strdup("SOURCE_MASTER");
    t->status.uuid = strdup("");
    t->status.timestamp = m->now;
    if (!t->status.task_id || !t->status.agent_id || !t->status.framework_id ||
        !t->status.reason || !t->status.message || !t->status.source || !t->status.uuid) {
        log_error("out of memory");
        abort();
    }
    t->state = state;
    t->acked = true;
    task_forward_status(m, t);
    if (msg_task_state_terminal(state) || state == MSG_TASK_UNREACHABLE)
        acct_task_end(m->acct, m->now, t->framework_id, t->info.task_id,
                      msg_task_state_name(state));
    if (msg_task_state_terminal(state))
        task_recover_resources(m, t);
}

/* Sends a one-off status for a task the master does not track. */
void
task_send_untracked_status(struct master *m, struct framework *fw, const char *task_id,
                      const char *agent_id, enum msg_task_state state, const char *reason,
                      const char *message)
{
    struct msg u;
    struct msg_task_status *s;

    if (fw->peer == 0)
        return;
    msg_init(&u, MSG_STATUS_UPDATE);
    s = &u.u.status_update.status;
    s->task_id = (char *)task_id;
    s->agent_id = (char *)agent_id;
    s->framework_id = fw->id;
    s->state = state;
    s->reason = (char *)reason;
    s->message = (char *)message;
    s->source = "SOURCE_MASTER";
    s->uuid = "";
    s->timestamp = m->now;
    master_send(m, fw->peer, &u);
}

/* Creates the master's record of a task reported by a re-registering agent. */
struct task *
task_adopt(struct master *m, struct agent *a, const struct msg_agent_task *at)
{
    struct framework *fw = core_framework(m, at->task.framework_id);
    struct task *t;

    if (!ids_valid(at->task.framework_id) || !ids_valid(at->task.task_id))
        return NULL;
    if (fw == NULL && msg_task_state_terminal(at->status.state))
        return NULL; /* over, and nobody to tell */
    t = xcalloc(1, sizeof(*t));
    core_task_key(t->key, sizeof(t->key), at->task.framework_id, at->task.task_id);
    msg_task_info_init(&t->info);
    msg_task_status_init(&t->status);
    if (msg_task_info_copy(&t->info, &at->task) != 0 ||
        msg_task_status_copy(&t->status, &at->status) != 0)
        abort();
    snprintf(t->framework_id, sizeof(t->framework_id), "%s", at->task.framework_id);
    snprintf(t->agent_id, sizeof(t->agent_id), "%s", a->id);
    snprintf(t->role, sizeof(t->role), "%s", core_fw_role(fw));
    t->state = at->status.state;
    t->acked = true;
    t->resources_recovered = msg_task_state_terminal(t->state);
    t->orphan = fw == NULL;
    hmap_put(&a->tasks, t->key, t);
    if (fw)
        hmap_put(&fw->tasks, t->info.task_id, t);
    if (fw && !msg_task_state_terminal(t->state))
        task_record_start(m, &t->info, t->role);
    return t;
}

/* ---- ACCEPT and friends ---- */


/* Reports TASK_ERROR for a task that never existed. */
void
task_error(struct master *m, struct framework *fw, const struct msg_task_info *ti,
           const char *agent_id, const char *why)
{
    log_info("task refused framework_id=%s task_id=%.64s reason=\"%s\"", fw->id, ti->task_id,
             why);
    metrics_inc(m->ctr.tasks_error);
    if (ids_valid(ti->task_id)) {
        struct msg_task_info none = *ti;
        struct resources empty;
        res_init(&empty);
        none.resources = empty;
        none.framework_id = fw->id;
        none.agent_id = (char *)agent_id;
        task_record_start(m, &none, core_fw_role(fw));
        acct_task_end(m->acct, m->now, fw->id, ti->task_id, "TASK_ERROR");
    }
    task_send_untracked_status(m, fw, ti->task_id, agent_id, MSG_TASK_ERROR,
                          "REASON_TASK_INVALID", why);
}
