#include "agent_recover.h"

#include "agent_ckpt.h"
#include "agent_gc.h"
#include "agent_int.h"
#include "agent_tasks.h"
#include "containerizer.h"
#include "error.h"
#include "log.h"
#include "xalloc.h"

#include <stdio.h>
#include <string.h>

int
recover_load(struct agent *a, char *err, size_t errlen)
{
    struct state_snapshot snap;
    size_t live = 0;
    const char *key;
    void *val;
    int rv;

    if ((rv = state_load(a->state, &snap)) != 0) {
        snprintf(err, errlen, "cannot read the checkpoint: %s", ag_strerror(rv));
        state_snapshot_fini(&snap);
        return rv;
    }
    snprintf(a->id, sizeof(a->id), "%s", snap.agent_id);
    for (size_t i = 0; i < snap.nframeworks; i++)
        if (ids_valid(snap.frameworks[i].framework_id))
            atask_framework(a, snap.frameworks[i].framework_id, &snap.frameworks[i]);
    for (size_t i = 0; i < snap.ntasks; i++) {
        struct state_task *s = &snap.tasks[i];
        struct agent_task *t;

        if (!ids_valid(s->info.framework_id) || !ids_valid(s->info.task_id)) {
            log_warn("checkpointed task with an invalid id dropped");
            if (ckpt_begin(a) == 0)
                ckpt_end(a, state_del_task(a->state, s->info.framework_id, s->info.task_id));
            continue;
        }
        t = xcalloc(1, sizeof(*t));
        t->st = *s;
        state_task_init(s); /* moved */
        atask_key(t->key, sizeof(t->key), t->st.info.framework_id, t->st.info.task_id);
        paths_sandbox(&a->paths, t->st.info.framework_id, t->st.info.task_id, t->sandbox,
                      sizeof(t->sandbox));
        paths_container(&a->paths, t->st.container_id, t->meta, sizeof(t->meta));
        t->launched = t->st.status.timestamp;
        t->healthy = t->st.status.healthy;
        atask_insert(a, t);
        if (atask_terminal(t))
            continue;
        if (t->meta[0] == '\0' ||
            ctr_recover(a->ctr, t->st.container_id, t->meta, t->st.pid, t->st.pid_start) != 0) {
            atask_update(a, t, MSG_TASK_FAILED, "REASON_AGENT_RESTARTED",
                         "the agent restarted before the task's container existed", SOURCE_AGENT);
            continue;
        }
        if (hmap_put(&a->containers, t->st.container_id, t) != 0)
            xalloc_die(0);
        t->live = true;
        live++;
        if (t->st.killing) { /* the executor escalates; keep a backstop */
            ctr_kill(a->ctr, t->st.container_id);
            t->kill_deadline_ms = agent_now_ms(a) + atask_launch_grace(a, t) + AGENT_KILL_SLACK_MS;
        }
    }
    for (size_t i = 0; i < snap.nupdates; i++) {
        if (su_add(&a->su, &snap.updates[i], agent_now_ms(a)) != 0) {
            log_warn("checkpointed update with invalid ids dropped uuid=%s", snap.updates[i].uuid);
            if (ckpt_begin(a) == 0)
                ckpt_end(a, state_del_update(a->state, snap.updates[i].uuid));
        }
    }
    /* Terminal tasks whose updates were all acknowledged before the crash. */
    for (size_t it = 0; hmap_next(&a->tasks, &it, &key, &val);) {
        struct agent_task *t = val;
        if (atask_terminal(t) &&
            su_pending(&a->su, t->st.info.framework_id, t->st.info.task_id) == 0)
            atask_forget(a, t);
    }
    for (size_t it = 0; hmap_next(&a->frameworks, &it, &key, &val);)
        atask_framework_gc(a, key);
    gc_stale_containers(a);
    log_info("recovered agent_id=%s frameworks=%zu tasks=%zu live_containers=%zu "
             "pending_updates=%zu",
             a->id[0] ? a->id : "(none)", hmap_size(&a->frameworks), hmap_size(&a->tasks), live,
             su_total(&a->su));
    state_snapshot_fini(&snap);
    return 0;
}
