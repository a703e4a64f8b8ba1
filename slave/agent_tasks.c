#include "agent_tasks.h"

#include "agent_ckpt.h"
#include "agent_int.h"
#include "agent_trash.h"
#include "clock.h"
#include "containerizer.h"
#include "error.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "xalloc.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Replaces the malloc'd string *dst with a copy of `s`. */
static void
set_str(char **dst, const char *s)
{
    char *p = xstrdup(s);
    free(*dst);
    *dst = p;
}

void
atask_key(char *out, size_t len, const char *framework_id, const char *task_id)
{
    snprintf(out, len, "%s/%s", framework_id, task_id);
}

struct agent_task *
atask_get(const struct agent *a, const char *framework_id, const char *task_id)
{
    char key[2 * AG_ID_MAX + 2];

    if (!ids_valid(framework_id) || !ids_valid(task_id))
        return NULL;
    atask_key(key, sizeof(key), framework_id, task_id);
    return hmap_get(&a->tasks, key);
}

bool
atask_terminal(const struct agent_task *t)
{
    return msg_task_state_terminal(t->st.status.state);
}

int64_t
atask_launch_grace(const struct agent *a, const struct agent_task *t)
{
    return t->st.info.kill_grace_ms > 0 ? t->st.info.kill_grace_ms : a->cfg.kill_grace_ms;
}

struct agent_framework *
atask_framework(struct agent *a, const char *framework_id, const struct msg_framework_info *info)
{
    struct agent_framework *f = hmap_get(&a->frameworks, framework_id);

    if (f == NULL) {
        f = xcalloc(1, sizeof(*f));
        msg_framework_info_init(&f->info);
        if (hmap_put(&a->frameworks, framework_id, f) != 0)
            xalloc_die(0);
    }
    if (info != NULL && msg_framework_info_copy(&f->info, info) != 0)
        xalloc_die(0);
    if (strcmp(f->info.framework_id, framework_id) != 0)
        set_str(&f->info.framework_id, framework_id);
    return f;
}

static void
framework_free(struct agent_framework *f)
{
    msg_framework_info_fini(&f->info);
    free(f);
}

static void
task_free(struct agent_task *t)
{
    state_task_fini(&t->st);
    free(t);
}

struct agent_task *
atask_add(struct agent *a, const char *framework_id, const struct msg_framework_info *fw,
          const struct msg_task_info *info)
{
    struct agent_framework *f = atask_framework(a, framework_id, fw);
    struct agent_task *t = xcalloc(1, sizeof(*t));
    char cid[IDS_UUID_LEN + 1];
    int rv;

    state_task_init(&t->st);
    if (msg_task_info_copy(&t->st.info, info) != 0)
        xalloc_die(0);
    if (strcmp(t->st.info.framework_id, framework_id) != 0)
        set_str(&t->st.info.framework_id, framework_id);
    if (t->st.info.agent_id[0] == '\0')
        set_str(&t->st.info.agent_id, a->id);
    atask_key(t->key, sizeof(t->key), framework_id, info->task_id);
    if (ids_new_uuid(cid) != 0)
        abort();
    snprintf(t->st.container_id, sizeof(t->st.container_id), "%s", cid);
    t->launched = clock_wall();
    if (hmap_put(&a->tasks, t->key, t) != 0 || hmap_put(&a->containers, cid, t) != 0)
        xalloc_die(0);
    f->ntasks++;
    metrics_inc(a->stats.launched);

    if ((rv = ckpt_begin(a)) == 0) {
        rv = state_put_framework(a->state, &f->info);
        if (rv == 0)
            rv = state_put_task(a->state, &t->st);
        rv = ckpt_end(a, rv);
    }
    if (rv != 0)
        log_error("cannot checkpoint task task_id=%s: %s", info->task_id, ag_strerror(rv));
    return t;
}

void
atask_insert(struct agent *a, struct agent_task *t)
{
    if (hmap_put(&a->tasks, t->key, t) != 0)
        xalloc_die(0);
    atask_framework(a, t->st.info.framework_id, NULL)->ntasks++;
}

/* Counts a new state in the agent's statistics. */
static void
count_state(struct agent *a, enum msg_task_state state)
{
    switch (state) {
    case MSG_TASK_FINISHED:
        metrics_inc(a->stats.finished);
        break;
    case MSG_TASK_FAILED:
        metrics_inc(a->stats.failed);
        break;
    case MSG_TASK_KILLED:
        metrics_inc(a->stats.killed);
        break;
    case MSG_TASK_LOST:
        metrics_inc(a->stats.lost);
        break;
    default:
        break;
    }
}

/*
 * Makes a new status of task `task_id` of `framework_id` with a fresh uuid,
 * checkpoints it (with `t`, the agent's task or NULL for one it does not
 * have, in the same savepoint) and queues it for reliable delivery.
 */
static void
update_record(struct agent *a, struct agent_task *t, const char *framework_id, const char *task_id,
              enum msg_task_state state, const char *reason, const char *message,
              const char *source)
{
    struct msg_task_status s, *status = &s;
    char uuid[IDS_UUID_LEN + 1];
    int rv;

    if (ids_new_uuid(uuid) != 0)
        abort();
    msg_task_status_init(&s);
    s.task_id = (char *)task_id;
    s.agent_id = a->id;
    s.framework_id = (char *)framework_id;
    s.state = state;
    s.reason = (char *)(reason ? reason : "");
    s.message = (char *)(message ? message : "");
    s.source = (char *)source;
    s.uuid = uuid;
    s.timestamp = clock_wall();
    if (t != NULL) {
        s.healthy = t->healthy;
        if (msg_task_status_copy(&t->st.status, &s) != 0)
            xalloc_die(0);
        status = &t->st.status;
        count_state(a, state);
    }
    if ((rv = ckpt_begin(a)) == 0) {
        rv = t != NULL ? state_put_task(a->state, &t->st) : 0;
        if (rv == 0)
            rv = state_add_update(a->state, status);
        rv = ckpt_end(a, rv);
    }
    if (rv != 0)
        log_error("cannot checkpoint the update of task_id=%s: %s (sent anyway)", task_id,
                  ag_strerror(rv));
    log_info("task %s framework_id=%s task_id=%s%s%s%s%s uuid=%s", msg_task_state_name(state),
             framework_id, task_id, reason && *reason ? " reason=" : "", reason ? reason : "",
             message && *message ? " message=" : "", message ? message : "", uuid);
    if (su_add_after(&a->su, status, state_seq(a->state), agent_now_ms(a)) != 0)
        log_error("cannot queue the update of task_id=%s", task_id);
    ckpt_kick(a);
}

void
atask_update(struct agent *a, struct agent_task *t, enum msg_task_state state, const char *reason,
             const char *message, const char *source)
{
    update_record(a, t, t->st.info.framework_id, t->st.info.task_id, state, reason, message,
                  source);
}

void
atask_update_unknown(struct agent *a, const char *framework_id, const char *task_id)
{
    update_record(a, NULL, framework_id, task_id, MSG_TASK_LOST, "REASON_TASK_UNKNOWN",
                  "unknown task", SOURCE_AGENT);
}

void
atask_forget(struct agent *a, struct agent_task *t)
{
    struct agent_framework *f = hmap_get(&a->frameworks, t->st.info.framework_id);
    bool drop_fw = f != NULL && f->ntasks <= 1;
    int rv;

    if ((rv = ckpt_begin(a)) == 0) {
        rv = state_del_task(a->state, t->st.info.framework_id, t->st.info.task_id);
        if (rv == 0 && drop_fw)
            rv = state_del_framework(a->state, t->st.info.framework_id);
        rv = ckpt_end(a, rv);
    }
    if (rv != 0)
        log_error("cannot remove task task_id=%s from the checkpoint: %s", t->st.info.task_id,
                  ag_strerror(rv));
    if (!t->live && t->meta[0] != '\0')
        trash_remove(a->loop, &a->paths, t->meta);
    if (t->sandbox[0] != '\0')
        utimensat(AT_FDCWD, t->sandbox, NULL, 0); /* --gc_delay counts from now */
    if (t->st.container_id[0] != '\0' && hmap_get(&a->containers, t->st.container_id) == t)
        hmap_del(&a->containers, t->st.container_id);
    hmap_del(&a->tasks, t->key);
    log_debug("task forgotten framework_id=%s task_id=%s", t->st.info.framework_id,
              t->st.info.task_id);
    if (f != NULL) {
        f->ntasks--;
        if (drop_fw) {
            hmap_del(&a->frameworks, t->st.info.framework_id);
            framework_free(f);
        }
    }
    task_free(t);
}

void
atask_framework_gc(struct agent *a, const char *framework_id)
{
    struct agent_framework *f = hmap_get(&a->frameworks, framework_id);

    if (f == NULL || f->ntasks != 0)
        return;
    if (ckpt_begin(a) == 0)
        ckpt_end(a, state_del_framework(a->state, framework_id));
    hmap_del(&a->frameworks, framework_id);
    framework_free(f);
}

void
atask_ack(struct agent *a, const struct msg_status_ack *ack)
{
    struct agent_task *t;
    int rv;

    if (su_ack(&a->su, ack->framework_id, ack->task_id, ack->uuid, agent_now_ms(a)) != 0) {
        log_debug("acknowledgement of no update in flight ignored task_id=%.64s uuid=%.64s",
                  ack->task_id, ack->uuid);
        return;
    }
    if ((rv = ckpt_begin(a)) == 0)
        rv = ckpt_end(a, state_del_update(a->state, ack->uuid));
    if (rv != 0)
        log_error("cannot remove an acknowledged update from the checkpoint: %s", ag_strerror(rv));
    t = atask_get(a, ack->framework_id, ack->task_id);
    if (t != NULL && atask_terminal(t) && !t->live &&
        su_pending(&a->su, ack->framework_id, ack->task_id) == 0)
        atask_forget(a, t);
}

void
atask_reset(struct agent *a, const char *why)
{
    const char *key;
    void *val;
    int rv;

    log_warn("the master refused agent_id=%s (%s): killing its %zu tasks and registering as a "
             "new agent",
             a->id, why, hmap_size(&a->tasks));
    for (size_t it = 0; hmap_next(&a->tasks, &it, &key, &val);) {
        struct agent_task *t = val;
        if (t->live)
            ctr_kill(a->ctr, t->st.container_id); /* the executor escalates to SIGKILL */
        hmap_del(&a->tasks, key);
        task_free(t);
    }
    /* Containers still running stay watched; their end finds no task and is ignored. */
    for (size_t it = 0; hmap_next(&a->containers, &it, &key, &val);) {
        health_stop(a->health, key);
        hmap_del(&a->containers, key);
    }
    for (size_t it = 0; hmap_next(&a->frameworks, &it, &key, &val);) {
        hmap_del(&a->frameworks, key);
        framework_free(val);
    }
    su_clear(&a->su);
    if ((rv = ckpt_begin(a)) == 0)
        rv = ckpt_end(a, state_reset(a->state));
    if (rv != 0)
        log_error("cannot clear the checkpoint: %s", ag_strerror(rv));
    a->id[0] = '\0';
}

void
atask_free_all(struct agent *a)
{
    const char *key;
    void *val;

    for (size_t it = 0; hmap_next(&a->tasks, &it, &key, &val);)
        task_free(val);
    for (size_t it = 0; hmap_next(&a->frameworks, &it, &key, &val);)
        framework_free(val);
}
