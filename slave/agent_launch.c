#define _GNU_SOURCE /* strsignal */
#include "agent_launch.h"
#include "zk.h"

#include "agent_int.h"
#include "agent_tasks.h"
#include "agent_trash.h"
#include "agent_usage.h"
#include "clock.h"
#include "containerizer.h"
#include "error.h"
#include "health.h"
#include "log.h"
#include "msg.h"
#include "xalloc.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define AGENT_MAX_PORT_VARS 1024 /* PORT0..PORTn variables at most */

/* ---- container and health events ---- */

/* The task's `index`th port (PORT<index>), 0 when it has fewer. */
static int
task_port(const struct agent_task *t, int index)
{
    const struct resources *r = &t->st.info.resources;
    int n = 0;

    for (size_t i = 0; i < r->n; i++) {
        const struct res_item *it = &r->items[i];
        if (strcmp(it->name, "ports") != 0 || it->type != RES_RANGES)
            continue;
        for (size_t k = 0; k < it->nranges; k++) {
            uint64_t count = it->ranges[k].end - it->ranges[k].begin + 1;
            if (index - n < (int64_t)count)
                return (int)(it->ranges[k].begin + (uint64_t)(index - n));
            n += (int)count;
        }
    }
    return 0;
}

static void
start_health_check(struct agent *a, struct agent_task *t)
{
    const struct msg_health_check *hc = &t->st.info.health_check;
    int port, rv;

    if (!t->st.info.has_health_check || a->health == NULL || t->task_pid <= 0)
        return;
    port = hc->port > 0 ? hc->port : task_port(t, hc->port_index);
    if ((rv = health_start(a->health, t->st.container_id, hc, t->task_pid, port, t->launched)) !=
            0 &&
        rv != -AG_EEXIST)
        log_warn("health check of task_id=%s not started: %s (type %s, port %d)",
                 t->st.info.task_id, ag_strerror(rv), hc->type ? hc->type : "", port);
}

static void
on_health_verdict(void *arg, const char *container_id, bool healthy, const char *why)
{
    struct agent *a = arg;
    struct agent_task *t = hmap_get(&a->containers, container_id);

    if (t == NULL || atask_terminal(t) || t->st.killing)
        return;
    t->healthy = healthy ? MSG_TRI_TRUE : MSG_TRI_FALSE;
    if (t->st.status.state != MSG_TASK_RUNNING)
        return; /* the next update carries it */
    atask_update(a, t, MSG_TASK_RUNNING, "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED", why,
                 SOURCE_EXECUTOR);
}

const struct health_callbacks launch_health_callbacks = {
    .on_verdict = on_health_verdict,
};

static void
on_container_running(void *arg, const char *container_id, int task_pid)
{
    struct agent *a = arg;
    struct agent_task *t = hmap_get(&a->containers, container_id);

    if (t == NULL)
        return;
    t->task_pid = task_pid;
    if (t->st.status.state == MSG_TASK_STARTING || t->st.status.state == MSG_TASK_STAGING)
        atask_update(a, t, MSG_TASK_RUNNING, NULL, NULL, SOURCE_EXECUTOR);
    start_health_check(a, t);
}

static void unfence(struct agent *a, struct agent_task *t);

static void
on_container_exit(void *arg, const char *container_id, const struct ctr_outcome *o)
{
    struct agent *a = arg;
    struct agent_task *t = hmap_del(&a->containers, container_id);
    enum msg_task_state state;
    const char *reason = NULL, *source = SOURCE_EXECUTOR;
    char message[600], meta[PATH_MAX];

    health_stop(a->health, container_id);

    if (t == NULL) { /* a container of a forgotten task (after a reset) */
        if (paths_container(&a->paths, container_id, meta, sizeof(meta)) == 0)
            trash_remove(a->loop, &a->paths, meta);
        return;
    }
    t->live = false;
    unfence(a, t);
    t->kill_deadline_ms = 0;
    if (o->usage != NULL && a->cfg.usage_report_ms > 0)
        usage_final(a, t, o->usage);
    if (atask_terminal(t))
        return;
    switch (o->how) {
    case CTR_EXITED:
        snprintf(message, sizeof(message), "Command exited with status %d", o->code);
        break;
    case CTR_SIGNALED:
        snprintf(message, sizeof(message), "Command terminated with signal %s", strsignal(o->code));
        break;
    default:
        snprintf(message, sizeof(message), "%s", o->message);
        break;
    }
    if (o->how == CTR_START_FAILED) {
        state = MSG_TASK_FAILED;
        reason = "REASON_CONTAINER_LAUNCH_FAILED";
    } else if (t->st.killing || o->killed) {
        state = MSG_TASK_KILLED;
        source = o->how == CTR_LOST ? SOURCE_AGENT : SOURCE_EXECUTOR;
    } else if (o->oom) {
        state = MSG_TASK_FAILED;
        reason = "REASON_CONTAINER_LIMITATION_MEMORY";
        source = SOURCE_AGENT;
        snprintf(message, sizeof(message), "%s", o->message);
    } else if (o->how == CTR_EXITED && o->code == 0) {
        state = MSG_TASK_FINISHED;
    } else if (o->how == CTR_LOST) {
        state = MSG_TASK_FAILED;
        reason = "REASON_EXECUTOR_TERMINATED";
        source = SOURCE_AGENT;
    } else {
        state = MSG_TASK_FAILED;
        reason = "REASON_COMMAND_EXECUTOR_FAILED";
    }
    atask_update(a, t, state, reason, message, source);
}

const struct ctr_callbacks launch_ctr_callbacks = {
    .on_running = on_container_running,
    .on_exit = on_container_exit,
};

/* ---- launching ---- */

static void
kv_add(struct msg_kv **env, size_t *n, size_t *cap, const char *key, const char *value)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *env = xrealloc(*env, *cap * sizeof(**env));
    }
    (*env)[*n].key = xstrdup(key);
    (*env)[*n].value = xstrdup(value);
    (*n)++;
}

/* The environment the agent adds to a task: ids, host, ports, then the task's own. */
static size_t
task_env(const struct agent *a, const struct agent_task *t, struct msg_kv **out)
{
    struct msg_kv *env = NULL;
    size_t n = 0, cap = 0, nports = 0;
    char name[32], value[32], *ports = NULL;
    size_t plen = 0;
    const struct msg_task_info *info = &t->st.info;

    kv_add(&env, &n, &cap, "AGORA_TASK_ID", info->task_id);
    kv_add(&env, &n, &cap, "MESOS_TASK_ID", info->task_id);
    kv_add(&env, &n, &cap, "AGORA_FRAMEWORK_ID", info->framework_id);
    kv_add(&env, &n, &cap, "MESOS_FRAMEWORK_ID", info->framework_id);
    kv_add(&env, &n, &cap, "AGORA_AGENT_ID", a->id);
    kv_add(&env, &n, &cap, "MESOS_AGENT_ID", a->id);
    kv_add(&env, &n, &cap, "HOST", a->hostname);
    for (size_t i = 0; i < info->resources.n; i++) {
        const struct res_item *it = &info->resources.items[i];
        if (strcmp(it->name, "ports") != 0 || it->type != RES_RANGES)
            continue;
        for (size_t r = 0; r < it->nranges; r++) {
            for (uint64_t p = it->ranges[r].begin;
                 p <= it->ranges[r].end && nports < AGENT_MAX_PORT_VARS; p++) {
                snprintf(name, sizeof(name), "PORT%zu", nports);
                snprintf(value, sizeof(value), "%llu", (unsigned long long)p);
                kv_add(&env, &n, &cap, name, value);
                if (nports == 0)
                    kv_add(&env, &n, &cap, "PORT", value);
                ports = xrealloc(ports, plen + strlen(value) + 2);
                plen += (size_t)sprintf(ports + plen, "%s%s", plen ? "," : "", value);
                nports++;
                if (p == UINT64_MAX)
                    break;
            }
        }
    }
    if (ports != NULL) {
        kv_add(&env, &n, &cap, "PORTS", ports);
        free(ports);
    }
    for (size_t i = 0; i < info->command.nenvironment; i++)
        kv_add(&env, &n, &cap, info->command.environment[i].key,
               info->command.environment[i].value);
    *out = env;
    return n;
}

static void
env_free(struct msg_kv *env, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(env[i].key);
        free(env[i].value);
    }
    free(env);
}

/*
 * The user `t` runs as, Mesos's --switch_user: its command's user, else its
 * framework's (`f`, NULL when unknown), else --default_task_user when the
 * agent runs as root; NULL (the agent's own user) with --switch_user=false.
 */
static const char *
task_user(const struct agent *a, const struct agent_task *t, const struct agent_framework *f)
{
    const char *u = t->st.info.command.user;

    if (!a->cfg.switch_user)
        return NULL;
    if (u != NULL && u[0] != '\0')
        return u;
    if (f != NULL && f->info.user != NULL && f->info.user[0] != '\0')
        return f->info.user;
    return launch_default_user(a);
}

const char *
launch_default_user(const struct agent *a)
{
    const char *u = a->cfg.default_task_user;

    return a->cfg.switch_user && geteuid() == 0 && u != NULL && u[0] != '\0' ? u : NULL;
}

/* The uid of user `name` (a name or a decimal uid); NULL: the agent's own. */
static int
user_uid(const char *name, uid_t *out)
{
    struct passwd pw, *res = NULL;
    char buf[1024], *end;
    unsigned long v;

    if (name == NULL) {
        *out = geteuid();
        return 0;
    }
    if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) == 0 && res != NULL) {
        *out = res->pw_uid;
        return 0;
    }
    v = strtoul(name, &end, 10);
    if (name[0] >= '0' && name[0] <= '9' && *end == '\0' && v < (unsigned long)(uid_t)-1) {
        *out = (uid_t)v;
        return 0;
    }
    return -AG_ENOENT;
}

/*
 * Puts the user of task `t` (framework `f`, may be NULL) in the task firewall
 * before its container starts. Returns 0 (also with no firewall, or a user it
 * cannot resolve: the launch fails on that by itself), or the firewall's error.
 */
static int
fence(struct agent *a, struct agent_task *t, const struct agent_framework *f, char *err,
      size_t errlen)
{
    uid_t uid;
    int rv;

    if (a->tfw == NULL || user_uid(task_user(a, t, f), &uid) != 0)
        return 0;
    if ((rv = tfw_user_add(a->tfw, uid, err, errlen)) != 0)
        return rv;
    t->uid = uid;
    t->fenced = true;
    return 0;
}

static void
unfence(struct agent *a, struct agent_task *t)
{
    if (t->fenced && a->tfw != NULL)
        tfw_user_del(a->tfw, t->uid);
    t->fenced = false;
}

int
launch_firewall_start(struct agent *a, int port, char *err, size_t errlen)
{
    struct tfw_dest d[TFW_MAX_DESTS];
    char spec[300], perr[300];
    uid_t *uids;
    size_t n = 0, nuids = 0;
    const char *key;
    void *val;
    int rv;

    if (!a->cfg.task_firewall) {
        if (geteuid() == 0)
            tfw_remove_stale(port);
        return 0;
    }
    if (geteuid() != 0) {
        ag_errf(err, errlen, "--task_firewall needs an agent running as root");
        return -AG_EPERM;
    }
    /* The master (with zk://, the ZooKeeper servers: which master leads
     * changes, so operators list the masters in --task_firewall_deny), this
     * agent's API, and what the operator lists. */
    if (detector_is_zk(a->cfg.master)) {
        struct zk_url u;

        if ((rv = zk_parse_url(a->cfg.master, &u, perr, sizeof(perr))) != 0) {
            ag_errf(err, errlen, "--master: %s", perr);
            return rv;
        }
        for (const char *p = u.hosts; *p != '\0';) {
            size_t k = strcspn(p, ",");

            snprintf(spec, sizeof(spec), "%.*s", (int)k, p);
            if ((rv = tfw_parse_dest(spec, d, &n, perr, sizeof(perr))) != 0) {
                ag_errf(err, errlen, "--task_firewall: the ZooKeeper server %s", perr);
                return rv;
            }
            p += k + (p[k] == ',');
        }
    } else {
        snprintf(spec, sizeof(spec), strchr(a->master.host, ':') ? "[%s]:%d" : "%s:%d",
                 a->master.host, a->master.port);
        if ((rv = tfw_parse_dest(spec, d, &n, perr, sizeof(perr))) != 0) {
            ag_errf(err, errlen, "--task_firewall: the master %s", perr);
            return rv;
        }
    }
    if (n >= TFW_MAX_DESTS) {
        ag_errf(err, errlen, "--task_firewall: the master resolves to too many addresses");
        return -AG_EINVAL;
    }
    snprintf(d[n].addr, sizeof(d[n].addr), "local");
    d[n++].port = port;
    for (const char *p = a->cfg.task_firewall_deny; p != NULL && *p != '\0';) {
        size_t k = strcspn(p, ",");

        snprintf(spec, sizeof(spec), "%.*s", (int)k, p);
        if (spec[0] != '\0' && (rv = tfw_parse_dest(spec, d, &n, perr, sizeof(perr))) != 0) {
            ag_errf(err, errlen, "bad --task_firewall_deny: %s", perr);
            return rv;
        }
        p += k + (p[k] == ',');
    }
    /* The users of the tasks that run on, recovered, in the same transaction. */
    uids = xcalloc(hmap_size(&a->tasks) + 1, sizeof(*uids));
    for (size_t it = 0; hmap_next(&a->tasks, &it, &key, &val);) {
        struct agent_task *t = val;
        const struct agent_framework *f = hmap_get(&a->frameworks, t->st.info.framework_id);

        if (t->live && user_uid(task_user(a, t, f), &t->uid) == 0 && t->uid != 0) {
            uids[nuids++] = t->uid;
            t->fenced = true;
        }
    }
    rv = tfw_open(&a->tfw, port, d, n, uids, nuids, perr, sizeof(perr));
    free(uids);
    if (rv != 0) {
        ag_errf(err, errlen, "--task_firewall: cannot install %s (is nftables in the kernel?)",
                perr);
        return rv;
    }
    log_info("task firewall: %s denies tasks' users %zu destination(s), %zu user(s) now",
             tfw_table(a->tfw), n, nuids);
    return 0;
}

const char *
launch_task_user(const struct agent *a, char *buf, size_t len, bool *only)
{
    const char *u = launch_default_user(a);
    struct passwd pw, *res = NULL;
    char pwbuf[1024];

    *only = !a->cfg.switch_user || geteuid() != 0;
    if (u != NULL)
        snprintf(buf, len, "%s", u);
    else if (getpwuid_r(geteuid(), &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res != NULL)
        snprintf(buf, len, "%s", res->pw_name);
    else
        snprintf(buf, len, "%u", (unsigned)geteuid());
    return buf;
}

void
launch_task(struct agent *a, struct msg_run_task *rt)
{
    const char *fid = rt->task.framework_id[0] ? rt->task.framework_id : rt->framework.framework_id;
    const char *tid = rt->task.task_id;
    struct agent_framework *f;
    struct agent_task *t;
    struct msg_kv *env;
    struct ctr_launch l;
    char err[600];
    const char *cid;
    size_t nenv;
    int rv, pid;
    uint64_t start;

    if (!ids_valid(fid) || !ids_valid(tid)) {
        log_warn("RUN_TASK with an invalid framework or task id ignored framework_id=%.64s "
                 "task_id=%.64s",
                 fid, tid);
        return;
    }
    if ((t = atask_get(a, fid, tid)) != NULL) {
        log_warn("RUN_TASK for a task this agent already has ignored framework_id=%s task_id=%s "
                 "state=%s",
                 fid, tid, msg_task_state_name(t->st.status.state));
        return;
    }
    t = atask_add(a, fid, &rt->framework, &rt->task);
    f = hmap_get(&a->frameworks, fid);
    cid = t->st.container_id;

    if ((rv = paths_sandbox(&a->paths, fid, tid, t->sandbox, sizeof(t->sandbox))) != 0 ||
        (rv = paths_container(&a->paths, cid, t->meta, sizeof(t->meta))) != 0) {
        hmap_del(&a->containers, cid);
        atask_update(a, t, MSG_TASK_FAILED, "REASON_CONTAINER_LAUNCH_FAILED",
                     "the sandbox path is too long", SOURCE_AGENT);
        return;
    }
    /* The sandbox is the task's alone: 0700, given to its user by the executor. */
    if ((rv = paths_mkdirs(t->sandbox, 0755)) != 0 || (rv = chmod(t->sandbox, 0700)) != 0 ||
        (rv = paths_mkdirs(t->meta, 0700)) != 0) {
        snprintf(err, sizeof(err), "cannot create the sandbox: %s", strerror(errno));
        hmap_del(&a->containers, cid);
        atask_update(a, t, MSG_TASK_FAILED, "REASON_CONTAINER_LAUNCH_FAILED", err, SOURCE_AGENT);
        return;
    }
    nenv = task_env(a, t, &env);
    memset(&l, 0, sizeof(l));
    l.container_id = cid;
    l.meta_dir = t->meta;
    l.sandbox_dir = t->sandbox;
    l.command = &t->st.info.command;
    l.env = env;
    l.nenv = nenv;
    l.kill_grace_ms = atask_launch_grace(a, t);
    l.task = &t->st.info;
    l.user = task_user(a, t, f);
    if ((rv = fence(a, t, f, err, sizeof(err))) != 0) {
        env_free(env, nenv);
        hmap_del(&a->containers, cid);
        log_error("task firewall: task_id=%s not launched: %s", tid, err);
        atask_update(a, t, MSG_TASK_FAILED, "REASON_CONTAINER_LAUNCH_FAILED", err, SOURCE_AGENT);
        return;
    }
    rv = ctr_launch(a->ctr, &l, &pid, &start, err, sizeof(err));
    env_free(env, nenv);
    if (rv != 0) {
        unfence(a, t);
        hmap_del(&a->containers, cid);
        atask_update(a, t, MSG_TASK_FAILED, "REASON_CONTAINER_LAUNCH_FAILED", err, SOURCE_AGENT);
        return;
    }
    t->live = true;
    t->st.pid = pid;
    t->st.pid_start = start;
    log_info("launched task framework_id=%s task_id=%s container_id=%s executor_pid=%d "
             "sandbox=%s",
             fid, tid, cid, pid, t->sandbox);
    atask_update(a, t, MSG_TASK_STARTING, NULL, NULL, SOURCE_AGENT);
}

/* ---- killing ---- */

void
launch_kill(struct agent *a, const char *framework_id, const char *task_id, int64_t grace_ms)
{
    struct agent_task *t;
    int64_t launch_grace, grace, deadline;

    if (!ids_valid(framework_id) || !ids_valid(task_id)) {
        log_warn("KILL_TASK with an invalid id ignored");
        return;
    }
    if ((t = atask_get(a, framework_id, task_id)) == NULL) {
        atask_update_unknown(a, framework_id, task_id);
        return;
    }
    if (atask_terminal(t) || !t->live) {
        log_info("KILL_TASK for a task that is over ignored framework_id=%s task_id=%s state=%s",
                 framework_id, task_id, msg_task_state_name(t->st.status.state));
        return;
    }
    launch_grace = atask_launch_grace(a, t);
    grace = grace_ms >= 0 ? grace_ms : launch_grace;
    deadline = agent_now_ms(a) + grace + (grace >= launch_grace ? AGENT_KILL_SLACK_MS : 0);
    if (t->kill_deadline_ms == 0 || deadline < t->kill_deadline_ms)
        t->kill_deadline_ms = deadline;
    ctr_kill(a->ctr, t->st.container_id);
    if (!t->st.killing) {
        t->st.killing = true;
        atask_update(a, t, MSG_TASK_KILLING, NULL, NULL, SOURCE_AGENT);
    }
}

void
launch_shutdown_framework(struct agent *a, const char *framework_id)
{
    const char *key;
    void *val;
    struct agent_framework *f = hmap_get(&a->frameworks, framework_id);

    log_info("shutting down framework framework_id=%s", framework_id);
    if (f == NULL)
        return;
    for (size_t it = 0; hmap_next(&a->tasks, &it, &key, &val);) {
        struct agent_task *t = val;
        if (strcmp(t->st.info.framework_id, framework_id) == 0 && !atask_terminal(t))
            launch_kill(a, t->st.info.framework_id, t->st.info.task_id, -1);
    }
    atask_framework_gc(a, framework_id);
}

void
launch_tick(struct agent *a, int64_t now)
{
    const char *key;
    void *val;

    for (size_t it = 0; hmap_next(&a->tasks, &it, &key, &val);) {
        struct agent_task *t = val;
        if (t->kill_deadline_ms != 0 && now >= t->kill_deadline_ms && t->live) {
            log_info("kill grace period over, SIGKILL task_id=%s", t->st.info.task_id);
            ctr_kill_now(a->ctr, t->st.container_id);
            t->kill_deadline_ms = 0;
        }
    }
}
