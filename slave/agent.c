#define _GNU_SOURCE
#include "agent.h"

#include "auth.h"
#include "clock.h"
#include "containerizer.h"
#include "error.h"
#include "health.h"
#include "http.h"
#include "http_api.h"
#include "isolator.h"
#include "isolators/cgroups.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "transport.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <unistd.h>

#ifndef AGORA_VERSION
#define AGORA_VERSION "0.0.0"
#endif

#define AGENT_TICK_MS 100
#define USAGE_BUDGET_MS 2           /* longest a tick spends sampling usage */
#define AGENT_MISSED_PINGS 5        /* pings missed before the agent redials */
#define AGENT_DEFAULT_PING_MS 15000 /* until the master tells us its interval */
#define AGENT_MAX_BACKOFF_MS 60000  /* handshake retry backoff cap */
#define AGENT_KILL_SLACK_MS 2000    /* backstop after the executor's own escalation */
#define AGENT_MAX_PORT_VARS 1024    /* PORT0..PORTn variables at most */

#define SOURCE_AGENT "SOURCE_AGENT"
#define SOURCE_EXECUTOR "SOURCE_EXECUTOR"

static void agent_update(struct agent *a, struct agent_task *t, enum msg_task_state state,
                         const char *reason, const char *message, const char *source);
static void remove_later(struct agent *a, const char *path);

/* ---- small helpers ---- */

static int64_t
now_ms(const struct agent *a)
{
    return (int64_t)uv_now(a->loop);
}

/* Replaces the malloc'd string *dst with a copy of `s`. */
static void
set_str(char **dst, const char *s)
{
    char *p = xstrdup(s);
    free(*dst);
    *dst = p;
}

static void
task_key(char *out, size_t len, const char *framework_id, const char *task_id)
{
    snprintf(out, len, "%s/%s", framework_id, task_id);
}

static struct agent_task *
task_get(const struct agent *a, const char *framework_id, const char *task_id)
{
    char key[2 * AG_ID_MAX + 2];

    if (!ids_valid(framework_id) || !ids_valid(task_id))
        return NULL;
    task_key(key, sizeof(key), framework_id, task_id);
    return hmap_get(&a->tasks, key);
}

static bool
task_terminal(const struct agent_task *t)
{
    return msg_task_state_terminal(t->st.status.state);
}

/* The grace period written into launch.json (the executor's own escalation). */
static int64_t
task_launch_grace(const struct agent *a, const struct agent_task *t)
{
    return t->st.info.kill_grace_ms > 0 ? t->st.info.kill_grace_ms : a->cfg.kill_grace_ms;
}

/* ---- resources ---- */

static bool
res_has(const struct resources *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->items[i].name, name) == 0)
            return true;
    return false;
}

int
agent_resolve_resources(const char *text, const char *work_dir, struct resources *out, char *err,
                        size_t errlen)
{
    struct resources r, def;
    struct sysinfo si;
    struct statvfs sv;
    char buf[256], perr[200];
    long cpus;
    int64_t total, mem = 0, disk = 0;
    int rv;

    res_init(&r);
    res_init(&def);
    if (text != NULL && *text != '\0' && res_parse(&r, text, perr, sizeof(perr)) != 0) {
        snprintf(err, errlen, "bad --resources '%s': %s", text, perr);
        return -AG_EINVAL;
    }
    cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        cpus = 1;
    if (sysinfo(&si) == 0) {
        total = (int64_t)((uint64_t)si.totalram * si.mem_unit / (1024 * 1024));
        mem = total - 1024 > total / 2 ? total - 1024 : total / 2;
    }
    if (statvfs(work_dir, &sv) == 0) {
        total = (int64_t)((uint64_t)sv.f_blocks * sv.f_frsize / (1024 * 1024));
        disk = total - 5120 > total / 2 ? total - 5120 : total / 2;
    }
    snprintf(buf, sizeof(buf), "%s%ld;%s%lld;%s%lld;%s%s",
             res_has(&r, "cpus") ? "x_cpus:" : "cpus:", cpus,
             res_has(&r, "mem") ? "x_mem:" : "mem:", (long long)mem,
             res_has(&r, "disk") ? "x_disk:" : "disk:", (long long)disk,
             res_has(&r, "ports") ? "x_ports:" : "ports:", AGENT_DEFAULT_PORTS);
    if ((rv = res_parse(&def, buf, perr, sizeof(perr))) != 0) {
        snprintf(err, errlen, "cannot build default resources: %s", perr);
        res_fini(&r);
        return rv;
    }
    /* Keep only the defaults the flag did not give. */
    for (size_t i = 0; i < def.n; i++) {
        struct resources one = {.items = &def.items[i], .n = 1, .cap = 1};
        if (strncmp(def.items[i].name, "x_", 2) == 0)
            continue;
        if ((rv = res_add(&r, &one)) != 0) {
            snprintf(err, errlen, "cannot combine --resources with defaults: %s", ag_strerror(rv));
            res_fini(&r);
            res_fini(&def);
            return rv;
        }
    }
    res_fini(&def);
    res_fini(out);
    *out = r;
    return 0;
}

/* ---- sending ---- */

/* Encodes and sends `m` (whose pointers may be borrowed; sender set here). */
static int
agent_send(struct agent *a, struct msg *m)
{
    void *buf;
    size_t len;
    int rv;

    if (a->cli == NULL)
        return -AG_ECLOSED;
    m->sender = a->id;
    if ((rv = msg_encode_alloc(m, &buf, &len)) != 0) {
        log_error("cannot encode %s: %s", msg_type_name(m->type), ag_strerror(rv));
        return rv;
    }
    rv = tp_client_send(a->cli, buf, len);
    free(buf);
    if (rv == 0)
        a->stats.messages_sent++;
    return rv;
}

static int
send_status(struct agent *a, const struct msg_task_status *status)
{
    struct msg m;

    msg_init(&m, MSG_STATUS_UPDATE);
    m.u.status_update.status = *status;
    return agent_send(a, &m);
}

/*
 * Group commit. Every checkpoint write of one loop turn goes into one SQLite
 * transaction (each event in its own savepoint, so a failed event undoes only
 * itself), committed by a uv_check handle at the end of the turn (a launch
 * commits at once: ckpt_flush). A commit does not wait for the disk: the fsync
 * runs on a thread of the checkpoint's own and covers every commit made before
 * it started (state_sync), so the loop goes on launching and watching
 * meanwhile. Status
 * updates wait in their streams for the commit that holds them to be durable
 * (su_add_after, su_set_durable), so nothing leaves the agent before it is
 * checkpointed on disk.
 */
static void ckpt_commit_cb(uv_check_t *h);

static int
ckpt_begin(struct agent *a)
{
    int rv;

    if (!a->txn) {
        if ((rv = state_begin(a->state)) != 0)
            return rv;
        a->txn = true;
        if (a->has_commit_check)
            uv_check_start(&a->commit_check, ckpt_commit_cb);
    }
    return state_savepoint(a->state);
}

/* Ends one event's changes: kept when rv is 0, undone otherwise. Returns rv. */
static int
ckpt_end(struct agent *a, int rv)
{
    if (rv == 0)
        rv = state_release(a->state);
    else
        state_rollback_to(a->state);
    return rv;
}

static void
ckpt_durable_cb(void *arg, uint64_t durable)
{
    struct agent *a = arg;

    su_set_durable(&a->su, durable, now_ms(a));
}

/* Commits the turn's transaction and starts syncing it to disk. */
static void
ckpt_flush(struct agent *a)
{
    int rv;

    if (a->txn) {
        a->txn = false;
        if ((rv = state_commit(a->state)) != 0) {
            log_error("cannot commit the checkpoint: %s (updates sent anyway)", ag_strerror(rv));
            state_rollback(a->state);
        }
    }
    if (!a->closing && (rv = state_sync(a->state, a->loop, ckpt_durable_cb, a)) != 0)
        log_error("cannot sync the checkpoint: %s", ag_strerror(rv));
}

/* Makes sure the turn ends with ckpt_flush (writes outside a transaction). */
static void
ckpt_kick(struct agent *a)
{
    if (a->has_commit_check && !a->closing)
        uv_check_start(&a->commit_check, ckpt_commit_cb);
}

static void
ckpt_commit_cb(uv_check_t *h)
{
    struct agent *a = h->data;

    uv_check_stop(h);
    ckpt_flush(a);
}

static int
su_send_cb(void *arg, const struct msg_task_status *status)
{
    struct agent *a = arg;

    if (a->conn != AGENT_REGISTERED)
        return -AG_ECLOSED;
    return send_status(a, status); /* durable already: su waits for that */
}

static const struct su_ops agent_su_ops = {
    .send = su_send_cb,
};

/* ---- registration ---- */

static void
send_register(struct agent *a)
{
    struct msg m;
    struct msg_agent_register *r;
    struct msg_agent_task *tasks;
    struct msg_framework_info *fws;
    const char *key;
    void *val;
    size_t n = 0;
    int rv;

    msg_init(&m, MSG_AGENT_REGISTER);
    r = &m.u.agent_register;
    r->agent_id = a->id;
    r->hostname = a->hostname;
    r->http_address = a->http_address;
    r->resources = a->resources; /* borrowed: m is never msg_free'd */
    r->attributes = a->attributes;
    r->version = AGORA_VERSION;
    tasks = xcalloc(hmap_size(&a->tasks) + 1, sizeof(*tasks));
    fws = xcalloc(hmap_size(&a->frameworks) + 1, sizeof(*fws));
    for (size_t it = 0; hmap_next(&a->tasks, &it, &key, &val);) {
        struct agent_task *t = val;
        if (t->st.status.state == MSG_TASK_STAGING)
            continue; /* launching right now; reported by its first update */
        tasks[n].task = t->st.info;
        tasks[n].status = t->st.status;
        n++;
    }
    r->tasks = tasks;
    r->ntasks = n;
    n = 0;
    for (size_t it = 0; hmap_next(&a->frameworks, &it, &key, &val);)
        fws[n++] = ((struct agent_framework *)val)->info;
    r->framework_infos = fws;
    r->nframework_infos = n;
    a->conn = AGENT_REGISTERING;
    rv = agent_send(a, &m);
    log_info("%s with the master master=%s agent_id=%s tasks=%zu%s%s",
             a->id[0] ? "re-registering" : "registering", a->master.stream_url,
             a->id[0] ? a->id : "(new)", r->ntasks, rv ? " send_error=" : "",
             rv ? ag_strerror(rv) : "");
    free(tasks);
    free(fws);
}

static void
handshake_start(struct agent *a)
{
    struct msg m;

    if (a->principal == NULL) {
        send_register(a);
        return;
    }
    msg_init(&m, MSG_AUTH_START);
    m.u.auth_start.principal = a->principal;
    m.u.auth_start.mechanism = MSG_AUTH_MECHANISM;
    a->conn = AGENT_AUTHENTICATING;
    agent_send(a, &m);
    log_info("authenticating with the master principal=%s", a->principal);
}

/* Doubles the handshake backoff (first step: --registration_backoff_factor). */
static void
backoff_grow(struct agent *a)
{
    int64_t first = a->cfg.registration_backoff_ms > 0 ? a->cfg.registration_backoff_ms : 1000;

    a->backoff_ms = a->backoff_ms == 0 ? first : a->backoff_ms * 2;
    if (a->backoff_ms > AGENT_MAX_BACKOFF_MS)
        a->backoff_ms = AGENT_MAX_BACKOFF_MS;
}

/* The handshake failed: try again on this connection after the backoff. */
static void
handshake_failed(struct agent *a)
{
    backoff_grow(a);
    if (a->conn != AGENT_DISCONNECTED)
        a->conn = AGENT_CONNECTED;
    a->handshake_at_ms = now_ms(a) + a->backoff_ms;
    su_set_online(&a->su, false, now_ms(a));
    log_info("retrying the handshake with the master in %lld ms", (long long)a->backoff_ms);
}

/* ---- task bookkeeping ---- */

static struct agent_framework *
framework_get_or_add(struct agent *a, const char *framework_id,
                     const struct msg_framework_info *info)
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

/*
 * Drops a terminal task whose updates are all acknowledged: checkpoint row,
 * container metadata, memory, and its framework when it was the last task.
 */
static void
agent_forget_task(struct agent *a, struct agent_task *t)
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
        remove_later(a, t->meta);
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

/*
 * Records a new state of `t`: a fresh status with a uuid, checkpointed with
 * the task in one transaction, then queued for reliable delivery.
 */
static void
agent_update(struct agent *a, struct agent_task *t, enum msg_task_state state, const char *reason,
             const char *message, const char *source)
{
    struct msg_task_status s;
    char uuid[IDS_UUID_LEN + 1];
    int rv;

    if (ids_new_uuid(uuid) != 0)
        abort();
    msg_task_status_init(&s);
    s.task_id = t->st.info.task_id;
    s.agent_id = a->id;
    s.framework_id = t->st.info.framework_id;
    s.state = state;
    s.reason = (char *)(reason ? reason : "");
    s.message = (char *)(message ? message : "");
    s.source = (char *)source;
    s.uuid = uuid;
    s.timestamp = clock_wall();
    s.healthy = t->healthy;
    if (msg_task_status_copy(&t->st.status, &s) != 0)
        xalloc_die(0);
    if ((rv = ckpt_begin(a)) == 0) {
        rv = state_put_task(a->state, &t->st);
        if (rv == 0)
            rv = state_add_update(a->state, &t->st.status);
        rv = ckpt_end(a, rv);
    }
    if (rv != 0)
        log_error("cannot checkpoint the update of task_id=%s: %s (sent anyway)",
                  t->st.info.task_id, ag_strerror(rv));
    switch (state) {
    case MSG_TASK_FINISHED:
        a->stats.finished++;
        break;
    case MSG_TASK_FAILED:
        a->stats.failed++;
        break;
    case MSG_TASK_KILLED:
        a->stats.killed++;
        break;
    case MSG_TASK_LOST:
        a->stats.lost++;
        break;
    default:
        break;
    }
    log_info("task %s framework_id=%s task_id=%s%s%s%s%s uuid=%s", msg_task_state_name(state),
             t->st.info.framework_id, t->st.info.task_id, reason && *reason ? " reason=" : "",
             reason ? reason : "", message && *message ? " message=" : "", message ? message : "",
             uuid);
    if (su_add_after(&a->su, &t->st.status, state_seq(a->state), now_ms(a)) != 0)
        log_error("cannot queue the update of task_id=%s", t->st.info.task_id);
    ckpt_kick(a);
}

/* ---- usage ---- */

/* utime, stime (clock ticks) and rss (pages) of one process from /proc/PID/stat. */
static bool
proc_usage(int pid, struct cg_stats *s)
{
    char path[64], buf[1024], *p;
    unsigned long long utime, stime;
    long long rss;
    ssize_t n;
    int fd;
    long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if (pid <= 0 || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return false;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    if ((p = strrchr(buf, ')')) == NULL)
        return false;
    /* After ") ": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
     * utime(14) stime(15) cutime cstime priority nice threads itrealvalue starttime vsize
     * rss(24). */
    if (sscanf(p + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
               "%*u %*u %lld",
               &utime, &stime, &rss) != 3)
        return false;
    s->cpu_user_s = hz > 0 ? (double)utime / (double)hz : 0;
    s->cpu_system_s = hz > 0 ? (double)stime / (double)hz : 0;
    s->mem_rss = rss > 0 ? (uint64_t)rss * (uint64_t)page : 0;
    s->mem_usage = s->mem_rss;
    return true;
}

/* Limits a sample reports when the counters have none: the task's resources. */
static void
usage_limits(const struct agent_task *t, struct cg_stats *s)
{
    if (s->cpu_limit <= 0)
        s->cpu_limit = (double)res_scalar(&t->st.info.resources, "cpus") / RES_SCALE;
    if (s->mem_limit == 0 || s->mem_limit >= (UINT64_C(1) << 62))
        s->mem_limit = (uint64_t)(res_scalar(&t->st.info.resources, "mem") / RES_SCALE) << 20;
}

bool
agent_task_usage(struct agent *a, const struct agent_task *t, struct cg_stats *out, bool *cgroups)
{
    bool ok;

    memset(out, 0, sizeof(*out));
    *cgroups = false;
    if (!t->live)
        return false;
    if (ctr_usage(a->ctr, t->st.container_id, out) == 0) {
        *cgroups = true;
        ok = true;
    } else {
        ok = proc_usage(t->task_pid, out);
    }
    usage_limits(t, out);
    return ok;
}

int
agent_resize_task(struct agent *a, const char *framework_id, const char *task_id, double cpus,
                  double mem_mb, char *err, size_t errlen)
{
    struct agent_task *t = task_get(a, framework_id, task_id);
    int rv;

    if (t == NULL || !t->live || task_terminal(t)) {
        snprintf(err, errlen, "no running task %s of framework %s", task_id, framework_id);
        return -AG_ENOENT;
    }
    rv = ctr_update(a->ctr, t->st.container_id, cpus,
                    mem_mb > 0 ? (uint64_t)(mem_mb * 1024 * 1024) : 0, err, errlen);
    log_info("resize task_id=%s cpus=%g mem=%g: %s%s%s", task_id, cpus, mem_mb,
             rv ? "refused (" : "done", rv ? err : "", rv ? ")" : "");
    return rv;
}

static void
usage_sample(const struct agent_task *t, const struct cg_stats *s, double now,
             struct msg_usage_sample *out)
{
    msg_usage_sample_init(out);
    out->framework_id = t->st.info.framework_id;
    out->task_id = t->st.info.task_id;
    out->executor_id = "";
    out->timestamp = now;
    out->cpus_user_s = s->cpu_user_s;
    out->cpus_system_s = s->cpu_system_s;
    out->cpus_throttled_s = s->cpu_throttled_s;
    out->cpus_limit = s->cpu_limit;
    out->mem_rss_bytes = s->mem_rss;
    out->mem_cache_bytes = s->mem_cache;
    out->mem_peak_bytes = s->mem_peak ? s->mem_peak : s->mem_usage;
    out->mem_limit_bytes = s->mem_limit;
    out->pids = (uint32_t)s->pids;
}

static void
send_usage_samples(struct agent *a, struct msg_usage_sample *samples, size_t n)
{
    struct msg m;

    if (n == 0 || a->conn != AGENT_REGISTERED)
        return;
    msg_init(&m, MSG_USAGE_REPORT);
    m.u.usage_report.agent_id = a->id;
    m.u.usage_report.samples = samples;
    m.u.usage_report.nsamples = n;
    agent_send(a, &m); /* borrowed pointers: m is never msg_free'd */
}

/*
 * Samples the live tasks whose turn has come and sends them in one
 * USAGE_REPORT. Each task is sampled once per --usage_report_interval, at a
 * phase of its own, and one tick spends at most USAGE_BUDGET_MS on it (what
 * is left waits for the next tick): reading a container's cgroup files takes
 * 0.15 ms, over 1 ms while the kernel tears other cgroups down, and reading a
 * thousand in one turn of the loop held every launch behind it for over
 * 100 ms. Phases follow the golden ratio, so even tasks started in one burst
 * spread evenly over the interval.
 */
static void
send_usage_report(struct agent *a, int64_t now)
{
    struct msg_usage_sample *samples = NULL;
    const char *key;
    void *val;
    size_t n = 0, cap = 0;
    double wall = clock_wall();
    int64_t every = a->cfg.usage_report_ms;
    uint64_t t0 = uv_hrtime();

    for (size_t it = 0; hmap_next(&a->containers, &it, &key, &val);) {
        struct agent_task *t = val;
        struct cg_stats s;
        bool cg;

        if (t->next_usage_ms == 0) {
            double phase = fmod((double)a->usage_phases++ * 0.6180339887498949, 1.0);
            t->next_usage_ms = now + 1 + (int64_t)(phase * (double)every);
            continue;
        }
        if (now < t->next_usage_ms)
            continue;
        if (uv_hrtime() - t0 > USAGE_BUDGET_MS * 1000000)
            break;
        t->next_usage_ms += every;
        if (t->next_usage_ms <= now)
            t->next_usage_ms = now + every;
        if (!agent_task_usage(a, t, &s, &cg))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            samples = xrealloc(samples, cap * sizeof(*samples));
        }
        usage_sample(t, &s, wall, &samples[n++]);
    }
    if (n == 0)
        return;
    send_usage_samples(a, samples, n);
    free(samples);
    log_debug("usage report samples=%zu took_ms=%.2f", n, (double)(uv_hrtime() - t0) / 1e6);
}

/* The last sample of a task whose container just ended: what it used since
 * the previous report would be lost with its cgroups otherwise. */
static void
send_final_usage(struct agent *a, const struct agent_task *t, const struct cg_stats *counters)
{
    struct msg_usage_sample sample;
    struct cg_stats s = *counters;

    usage_limits(t, &s);
    usage_sample(t, &s, clock_wall(), &sample);
    send_usage_samples(a, &sample, 1);
}

/* ---- containerizer callbacks ---- */

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

    if (t == NULL || task_terminal(t) || t->st.killing)
        return;
    t->healthy = healthy ? MSG_TRI_TRUE : MSG_TRI_FALSE;
    if (t->st.status.state != MSG_TASK_RUNNING)
        return; /* the next update carries it */
    agent_update(a, t, MSG_TASK_RUNNING, "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED", why,
                 SOURCE_EXECUTOR);
}

static const struct health_callbacks agent_health_callbacks = {
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
        agent_update(a, t, MSG_TASK_RUNNING, NULL, NULL, SOURCE_EXECUTOR);
    start_health_check(a, t);
}

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
            remove_later(a, meta);
        return;
    }
    t->live = false;
    t->kill_deadline_ms = 0;
    if (o->usage != NULL && a->cfg.usage_report_ms > 0)
        send_final_usage(a, t, o->usage);
    if (task_terminal(t))
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
    agent_update(a, t, state, reason, message, source);
}

static const struct ctr_callbacks agent_ctr_callbacks = {
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

static void
agent_run_task(struct agent *a, struct msg_run_task *rt)
{
    const char *fid = rt->task.framework_id[0] ? rt->task.framework_id : rt->framework.framework_id;
    const char *tid = rt->task.task_id;
    struct agent_framework *f;
    struct agent_task *t;
    struct msg_kv *env;
    struct ctr_launch l;
    char err[600], cid[IDS_UUID_LEN + 1];
    size_t nenv;
    int rv, pid;
    uint64_t start;

    if (!ids_valid(fid) || !ids_valid(tid)) {
        log_warn("RUN_TASK with an invalid framework or task id ignored framework_id=%.64s "
                 "task_id=%.64s",
                 fid, tid);
        return;
    }
    if ((t = task_get(a, fid, tid)) != NULL) {
        log_warn("RUN_TASK for a task this agent already has ignored framework_id=%s task_id=%s "
                 "state=%s",
                 fid, tid, msg_task_state_name(t->st.status.state));
        return;
    }
    f = framework_get_or_add(a, fid, &rt->framework);
    t = xcalloc(1, sizeof(*t));
    state_task_init(&t->st);
    if (msg_task_info_copy(&t->st.info, &rt->task) != 0)
        xalloc_die(0);
    if (strcmp(t->st.info.framework_id, fid) != 0)
        set_str(&t->st.info.framework_id, fid);
    if (t->st.info.agent_id[0] == '\0')
        set_str(&t->st.info.agent_id, a->id);
    task_key(t->key, sizeof(t->key), fid, tid);
    if (ids_new_uuid(cid) != 0)
        abort();
    snprintf(t->st.container_id, sizeof(t->st.container_id), "%s", cid);
    t->launched = clock_wall();
    if (hmap_put(&a->tasks, t->key, t) != 0 || hmap_put(&a->containers, cid, t) != 0)
        xalloc_die(0);
    f->ntasks++;
    a->stats.launched++;

    if ((rv = ckpt_begin(a)) == 0) {
        rv = state_put_framework(a->state, &f->info);
        if (rv == 0)
            rv = state_put_task(a->state, &t->st);
        rv = ckpt_end(a, rv);
    }
    if (rv != 0)
        log_error("cannot checkpoint task task_id=%s: %s", tid, ag_strerror(rv));

    if ((rv = paths_sandbox(&a->paths, fid, tid, t->sandbox, sizeof(t->sandbox))) != 0 ||
        (rv = paths_container(&a->paths, cid, t->meta, sizeof(t->meta))) != 0) {
        hmap_del(&a->containers, cid);
        agent_update(a, t, MSG_TASK_FAILED, "REASON_CONTAINER_LAUNCH_FAILED",
                     "the sandbox path is too long", SOURCE_AGENT);
        return;
    }
    if ((rv = paths_mkdirs(t->sandbox, 0755)) != 0 || (rv = paths_mkdirs(t->meta, 0700)) != 0) {
        snprintf(err, sizeof(err), "cannot create the sandbox: %s", strerror(errno));
        hmap_del(&a->containers, cid);
        agent_update(a, t, MSG_TASK_FAILED, "REASON_CONTAINER_LAUNCH_FAILED", err, SOURCE_AGENT);
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
    l.kill_grace_ms = task_launch_grace(a, t);
    l.task = &t->st.info;
    if (a->cfg.switch_user)
        l.user = t->st.info.command.user && t->st.info.command.user[0] ? t->st.info.command.user
                                                                       : f->info.user;
    rv = ctr_launch(a->ctr, &l, &pid, &start, err, sizeof(err));
    env_free(env, nenv);
    if (rv != 0) {
        hmap_del(&a->containers, cid);
        agent_update(a, t, MSG_TASK_FAILED, "REASON_CONTAINER_LAUNCH_FAILED", err, SOURCE_AGENT);
        return;
    }
    t->live = true;
    t->st.pid = pid;
    t->st.pid_start = start;
    log_info("launched task framework_id=%s task_id=%s container_id=%s executor_pid=%d "
             "sandbox=%s",
             fid, tid, cid, pid, t->sandbox);
    agent_update(a, t, MSG_TASK_STARTING, NULL, NULL, SOURCE_AGENT);
}

/* ---- killing ---- */

/* Sends an update for a task the agent does not know (answer to KILL_TASK). */
static void
agent_update_unknown(struct agent *a, const char *framework_id, const char *task_id)
{
    struct msg_task_status s;
    char uuid[IDS_UUID_LEN + 1];
    int rv;

    if (ids_new_uuid(uuid) != 0)
        abort();
    msg_task_status_init(&s);
    s.task_id = (char *)task_id;
    s.agent_id = a->id;
    s.framework_id = (char *)framework_id;
    s.state = MSG_TASK_LOST;
    s.reason = "REASON_TASK_UNKNOWN";
    s.message = "unknown task";
    s.source = SOURCE_AGENT;
    s.uuid = uuid;
    s.timestamp = clock_wall();
    if ((rv = ckpt_begin(a)) == 0)
        rv = ckpt_end(a, state_add_update(a->state, &s));
    if (rv != 0)
        log_error("cannot checkpoint an update: %s", ag_strerror(rv));
    log_info("task TASK_LOST framework_id=%s task_id=%s message=unknown task", framework_id,
             task_id);
    su_add_after(&a->su, &s, state_seq(a->state), now_ms(a));
    ckpt_kick(a);
}

static void
agent_kill_task(struct agent *a, const char *framework_id, const char *task_id, int64_t grace_ms)
{
    struct agent_task *t;
    int64_t launch_grace, grace, deadline;

    if (!ids_valid(framework_id) || !ids_valid(task_id)) {
        log_warn("KILL_TASK with an invalid id ignored");
        return;
    }
    if ((t = task_get(a, framework_id, task_id)) == NULL) {
        agent_update_unknown(a, framework_id, task_id);
        return;
    }
    if (task_terminal(t) || !t->live) {
        log_info("KILL_TASK for a task that is over ignored framework_id=%s task_id=%s state=%s",
                 framework_id, task_id, msg_task_state_name(t->st.status.state));
        return;
    }
    launch_grace = task_launch_grace(a, t);
    grace = grace_ms >= 0 ? grace_ms : launch_grace;
    deadline = now_ms(a) + grace + (grace >= launch_grace ? AGENT_KILL_SLACK_MS : 0);
    if (t->kill_deadline_ms == 0 || deadline < t->kill_deadline_ms)
        t->kill_deadline_ms = deadline;
    ctr_kill(a->ctr, t->st.container_id);
    if (!t->st.killing) {
        t->st.killing = true;
        agent_update(a, t, MSG_TASK_KILLING, NULL, NULL, SOURCE_AGENT);
    }
}

static void
agent_shutdown_framework(struct agent *a, const char *framework_id)
{
    const char *key;
    void *val;
    struct agent_framework *f = hmap_get(&a->frameworks, framework_id);

    log_info("shutting down framework framework_id=%s", framework_id);
    if (f == NULL)
        return;
    for (size_t it = 0; hmap_next(&a->tasks, &it, &key, &val);) {
        struct agent_task *t = val;
        if (strcmp(t->st.info.framework_id, framework_id) == 0 && !task_terminal(t))
            agent_kill_task(a, t->st.info.framework_id, t->st.info.task_id, -1);
    }
    if (f->ntasks == 0) {
        if (ckpt_begin(a) == 0)
            ckpt_end(a, state_del_framework(a->state, framework_id));
        hmap_del(&a->frameworks, framework_id);
        framework_free(f);
    }
}

/* ---- reset (the master removed this agent) ---- */

static void
agent_reset(struct agent *a, const char *why)
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

/* ---- messages from the master ---- */

static void
handle_registered(struct agent *a, const struct msg_agent_registered *r)
{
    int rv;

    if (a->conn != AGENT_REGISTERING) {
        log_debug("unexpected AGENT_REGISTERED ignored");
        return;
    }
    if (!ids_valid(r->agent_id)) {
        log_error("the master gave an invalid agent id");
        handshake_failed(a);
        return;
    }
    if (strcmp(a->id, r->agent_id) != 0) {
        if (a->id[0] != '\0')
            log_warn("the master gave a new agent id old=%s new=%s", a->id, r->agent_id);
        snprintf(a->id, sizeof(a->id), "%s", r->agent_id);
        if ((rv = ckpt_begin(a)) == 0)
            rv = ckpt_end(a, state_set_agent_id(a->state, a->id));
        if (rv != 0)
            log_error("cannot checkpoint the agent id: %s", ag_strerror(rv));
    }
    a->conn = AGENT_REGISTERED;
    a->ping_interval_ms = r->ping_interval_ms;
    a->backoff_ms = 0;
    a->registered_time = clock_wall();
    a->stats.registrations++;
    log_info("registered with the master agent_id=%s master=%s ping_interval_ms=%u "
             "pending_updates=%zu",
             a->id, a->master.stream_url, r->ping_interval_ms, su_total(&a->su));
    su_set_online(&a->su, true, now_ms(a));
}

static void
handle_error(struct agent *a, const struct msg_error *e)
{
    log_warn("error from the master code=%d (%s) message=%s", e->code, ag_strerror(e->code),
             e->message);
    switch (a->conn) {
    case AGENT_REGISTERING:
        if (e->code == -AG_ESTATE && a->id[0] != '\0') {
            agent_reset(a, e->message);
            send_register(a);
        } else {
            handshake_failed(a);
        }
        break;
    case AGENT_AUTHENTICATING:
        handshake_failed(a);
        break;
    case AGENT_REGISTERED:
        if (e->code == -AG_ESTATE) { /* the master does not see us as registered here */
            su_set_online(&a->su, false, now_ms(a));
            send_register(a);
        }
        break;
    default:
        break;
    }
}

static void
handle_auth_challenge(struct agent *a, const struct msg_auth_challenge *c)
{
    uint8_t proof[AUTH_PROOF_LEN];
    struct msg m;

    if (a->conn != AGENT_AUTHENTICATING || a->secret == NULL)
        return;
    if (auth_proof(a->secret, c->nonce, c->nonce_len, proof) != 0) {
        log_error("cannot compute the authentication proof");
        handshake_failed(a);
        return;
    }
    msg_init(&m, MSG_AUTH_RESPONSE);
    m.u.auth_response.principal = a->principal;
    m.u.auth_response.proof = proof;
    m.u.auth_response.proof_len = sizeof(proof);
    agent_send(a, &m);
}

static void
handle_auth_result(struct agent *a, const struct msg_auth_result *r)
{
    if (a->conn != AGENT_AUTHENTICATING)
        return;
    if (!r->ok) {
        log_error("authentication failed principal=%s: %s", a->principal, r->message);
        handshake_failed(a);
        return;
    }
    log_info("authenticated principal=%s", a->principal);
    send_register(a);
}

static void
handle_status_ack(struct agent *a, const struct msg_status_ack *ack)
{
    struct agent_task *t;
    int rv;

    if (su_ack(&a->su, ack->framework_id, ack->task_id, ack->uuid, now_ms(a)) != 0) {
        log_debug("acknowledgement of no update in flight ignored task_id=%.64s uuid=%.64s",
                  ack->task_id, ack->uuid);
        return;
    }
    if ((rv = ckpt_begin(a)) == 0)
        rv = ckpt_end(a, state_del_update(a->state, ack->uuid));
    if (rv != 0)
        log_error("cannot remove an acknowledged update from the checkpoint: %s", ag_strerror(rv));
    t = task_get(a, ack->framework_id, ack->task_id);
    if (t != NULL && task_terminal(t) && !t->live &&
        su_pending(&a->su, ack->framework_id, ack->task_id) == 0)
        agent_forget_task(a, t);
}

static void
on_message(void *arg, const void *data, size_t len)
{
    struct agent *a = arg;
    struct msg m;
    char err[256];
    int rv;

    a->last_master_ms = now_ms(a);
    if ((rv = msg_decode(&m, data, len, err, sizeof(err))) != 0) {
        log_warn("undecodable message from the master: %s (%s)", err, ag_strerror(rv));
        return;
    }
    a->stats.messages_received++;
    switch (m.type) {
    case MSG_AGENT_REGISTERED:
        handle_registered(a, &m.u.agent_registered);
        break;
    case MSG_PING: {
        struct msg pong;
        msg_init(&pong, MSG_PONG);
        pong.u.pong.seq = m.u.ping.seq;
        agent_send(a, &pong);
        break;
    }
    case MSG_AUTH_CHALLENGE:
        handle_auth_challenge(a, &m.u.auth_challenge);
        break;
    case MSG_AUTH_RESULT:
        handle_auth_result(a, &m.u.auth_result);
        break;
    case MSG_ERROR:
        handle_error(a, &m.u.error);
        break;
    case MSG_RUN_TASK:
    case MSG_KILL_TASK:
    case MSG_SHUTDOWN_FRAMEWORK:
    case MSG_STATUS_ACK:
        if (a->conn != AGENT_REGISTERED) {
            log_warn("%s before registration ignored", msg_type_name(m.type));
            break;
        }
        if (m.type == MSG_RUN_TASK) {
            agent_run_task(a, &m.u.run_task);
            /* Its own commit: TASK_STARTING need not wait for the other
             * launches of this turn (the fsyncs still group on the syncer). */
            ckpt_flush(a);
        } else if (m.type == MSG_KILL_TASK)
            agent_kill_task(a, m.u.kill_task.framework_id, m.u.kill_task.task_id,
                            m.u.kill_task.grace_ms);
        else if (m.type == MSG_SHUTDOWN_FRAMEWORK)
            agent_shutdown_framework(a, m.u.shutdown_framework.framework_id);
        else
            handle_status_ack(a, &m.u.status_ack);
        break;
    case MSG_FRAMEWORK_MESSAGE:
        log_debug("FRAMEWORK_MESSAGE ignored (command tasks have no executor to receive it)");
        break;
    default:
        log_debug("unexpected %s from the master ignored", msg_type_name(m.type));
        break;
    }
    msg_free(&m);
}

static void
on_connect(void *arg)
{
    struct agent *a = arg;

    a->conn = AGENT_CONNECTED;
    a->last_master_ms = now_ms(a);
    a->ping_interval_ms = 0;
    log_info("connected to the master master=%s", a->master.stream_url);
    a->handshake_at_ms = now_ms(a) + a->backoff_ms;
    if (a->backoff_ms == 0)
        handshake_start(a);
}

static void
on_disconnect(void *arg)
{
    struct agent *a = arg;

    log_warn("disconnected from the master master=%s", a->master.stream_url);
    if (a->conn == AGENT_AUTHENTICATING) /* refused: the master closes at once */
        backoff_grow(a);
    a->conn = AGENT_DISCONNECTED;
    su_set_online(&a->su, false, now_ms(a));
}

static const struct tp_client_ops agent_tp_ops = {
    .on_connect = on_connect,
    .on_message = on_message,
    .on_disconnect = on_disconnect,
};

/* Drops the connection and dials again (the master went silent). */
static void
agent_reconnect(struct agent *a, const char *why)
{
    int rv;

    log_warn("reconnecting to the master master=%s: %s", a->master.stream_url, why);
    a->stats.reconnects++;
    tp_client_close(a->cli);
    a->cli = NULL;
    a->conn = AGENT_DISCONNECTED;
    su_set_online(&a->su, false, now_ms(a));
    if ((rv = tp_client_open(&a->cli, a->loop, a->master.stream_url, &agent_tp_ops, a)) != 0)
        log_error("cannot dial the master %s: %s (retrying)", a->master.stream_url,
                  ag_strerror(rv));
}

/* ---- removing directories off the loop thread ---- */

struct removal {
    uv_work_t req;
    char path[PATH_MAX];
};

static void
removal_work(uv_work_t *req)
{
    paths_remove_tree(((struct removal *)req->data)->path);
}

static void
removal_done(uv_work_t *req, int status)
{
    (void)status;
    free(req->data);
}

/*
 * Removes a directory tree (a container's metadata, a sandbox) without
 * blocking the loop: it is renamed into <work_dir>/trash at once and deleted
 * by libuv's thread pool, which touches nothing but that directory. Falls back
 * to removing it here when it cannot be moved.
 */
static void
remove_later(struct agent *a, const char *path)
{
    struct removal *r = xcalloc(1, sizeof(*r));

    if (paths_trash(&a->paths, path, r->path, sizeof(r->path)) != 0) {
        free(r);
        paths_remove_tree(path);
        return;
    }
    r->req.data = r;
    if (uv_queue_work(a->loop, &r->req, removal_work, removal_done) != 0) {
        paths_remove_tree(r->path);
        free(r);
    }
}

/* Empties a trash directory (left by an agent that stopped mid-removal). */
static void
empty_trash_dir(struct agent *a, const char *dir)
{
    char path[2 * PATH_MAX];
    struct dirent *e;
    DIR *d;

    if ((d = opendir(dir)) == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        struct removal *r;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        r = xcalloc(1, sizeof(*r));
        snprintf(r->path, sizeof(r->path), "%s", path);
        r->req.data = r;
        if (uv_queue_work(a->loop, &r->req, removal_work, removal_done) != 0) {
            paths_remove_tree(path);
            free(r);
        }
    }
    closedir(d);
}

/* Empties <work_dir>/trash and, with --runtime_dir, <runtime_dir>/trash. */
static void
empty_trash(struct agent *a)
{
    char dir[PATH_MAX + 16];

    snprintf(dir, sizeof(dir), "%s/trash", a->paths.work_dir);
    empty_trash_dir(a, dir);
    if (strcmp(dir, a->paths.runtime_trash) != 0)
        empty_trash_dir(a, a->paths.runtime_trash);
}

/* ---- sandbox garbage collection ---- */

static int64_t
gc_delay_ms(const struct agent *a)
{
    return a->cfg.gc_delay_ms > 0 ? a->cfg.gc_delay_ms : 7 * 24 * 3600 * 1000LL;
}

/*
 * Removes the sandboxes of tasks this agent no longer knows whose directory
 * was last modified more than --gc_delay ago (a forgotten task's sandbox is
 * touched when it is forgotten, so the delay counts from then), and framework
 * directories left empty. Runs from the tick; survives restarts because the
 * clock is the directory's mtime.
 */
static void
gc_sweep(struct agent *a)
{
    double now = clock_wall(), delay = (double)gc_delay_ms(a) / 1000.0;
    char fdir[PATH_MAX + 256], tdir[2 * PATH_MAX];
    struct dirent *fe, *te;
    struct stat st;
    DIR *fd, *td;
    int removed = 0;

    if ((fd = opendir(a->paths.sandboxes)) == NULL)
        return;
    while ((fe = readdir(fd)) != NULL) {
        bool empty = true;
        if (fe->d_name[0] == '.' || !ids_valid(fe->d_name))
            continue;
        snprintf(fdir, sizeof(fdir), "%s/%s", a->paths.sandboxes, fe->d_name);
        if ((td = opendir(fdir)) == NULL)
            continue;
        while ((te = readdir(td)) != NULL) {
            if (te->d_name[0] == '.')
                continue;
            empty = false;
            if (task_get(a, fe->d_name, te->d_name) != NULL)
                continue;
            snprintf(tdir, sizeof(tdir), "%s/%s", fdir, te->d_name);
            if (lstat(tdir, &st) != 0 || (double)st.st_mtime + delay > now)
                continue;
            log_info("gc: removing the sandbox of finished task framework_id=%s task_id=%s",
                     fe->d_name, te->d_name);
            remove_later(a, tdir);
            removed++;
        }
        closedir(td);
        if (empty && lstat(fdir, &st) == 0 && (double)st.st_mtime + delay <= now)
            rmdir(fdir);
    }
    closedir(fd);
    if (removed > 0)
        log_debug("gc: %d sandboxes removed", removed);
}

/* ---- the tick ---- */

static void
tick_cb(uv_timer_t *h)
{
    struct agent *a = h->data;
    int64_t now = now_ms(a), silence;
    const char *key;
    void *val;

    su_tick(&a->su, now);
    if (now >= a->next_gc_ms) {
        int64_t every = gc_delay_ms(a) / 4;
        a->next_gc_ms = now + (every < 1000 ? 1000 : every > 60000 ? 60000 : every);
        gc_sweep(a);
    }
    if (a->cfg.usage_report_ms > 0 && a->conn == AGENT_REGISTERED)
        send_usage_report(a, now);
    for (size_t it = 0; hmap_next(&a->tasks, &it, &key, &val);) {
        struct agent_task *t = val;
        if (t->kill_deadline_ms != 0 && now >= t->kill_deadline_ms && t->live) {
            log_info("kill grace period over, SIGKILL task_id=%s", t->st.info.task_id);
            ctr_kill_now(a->ctr, t->st.container_id);
            t->kill_deadline_ms = 0;
        }
    }
    if (a->cli == NULL) { /* a failed redial: try again once a second */
        if (now >= a->redial_at_ms) {
            a->redial_at_ms = now + 1000;
            agent_reconnect(a, "no connection");
        }
        return;
    }
    if (a->conn == AGENT_CONNECTED && now >= a->handshake_at_ms)
        handshake_start(a);
    if (a->conn != AGENT_DISCONNECTED) {
        silence = (int64_t)(a->ping_interval_ms ? a->ping_interval_ms : AGENT_DEFAULT_PING_MS) *
                  AGENT_MISSED_PINGS;
        if (now - a->last_master_ms > silence)
            agent_reconnect(a, "no message from the master for 5 ping intervals");
    }
}

/* ---- recovery ---- */

/* Removes container metadata directories no task refers to. */
static void
remove_stale_containers(struct agent *a)
{
    char dir[PATH_MAX + 32], path[PATH_MAX + 320];
    struct dirent *e;
    DIR *d;

    snprintf(dir, sizeof(dir), "%s", a->paths.containers);
    if ((d = opendir(dir)) == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        const char *key;
        void *val;
        bool used = false;

        if (e->d_name[0] == '.')
            continue;
        for (size_t it = 0; hmap_next(&a->tasks, &it, &key, &val);)
            if (strcmp(((struct agent_task *)val)->st.container_id, e->d_name) == 0)
                used = true;
        if (!used) {
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            remove_later(a, path);
        }
    }
    closedir(d);
}

static int
agent_recover(struct agent *a, char *err, size_t errlen)
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
            framework_get_or_add(a, snap.frameworks[i].framework_id, &snap.frameworks[i]);
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
        task_key(t->key, sizeof(t->key), t->st.info.framework_id, t->st.info.task_id);
        paths_sandbox(&a->paths, t->st.info.framework_id, t->st.info.task_id, t->sandbox,
                      sizeof(t->sandbox));
        paths_container(&a->paths, t->st.container_id, t->meta, sizeof(t->meta));
        t->launched = t->st.status.timestamp;
        t->healthy = t->st.status.healthy;
        if (hmap_put(&a->tasks, t->key, t) != 0)
            xalloc_die(0);
        framework_get_or_add(a, t->st.info.framework_id, NULL)->ntasks++;
        if (task_terminal(t))
            continue;
        if (t->meta[0] == '\0' ||
            ctr_recover(a->ctr, t->st.container_id, t->meta, t->st.pid, t->st.pid_start) != 0) {
            agent_update(a, t, MSG_TASK_FAILED, "REASON_AGENT_RESTARTED",
                         "the agent restarted before the task's container existed", SOURCE_AGENT);
            continue;
        }
        if (hmap_put(&a->containers, t->st.container_id, t) != 0)
            xalloc_die(0);
        t->live = true;
        live++;
        if (t->st.killing) { /* the executor escalates; keep a backstop */
            ctr_kill(a->ctr, t->st.container_id);
            t->kill_deadline_ms = now_ms(a) + task_launch_grace(a, t) + AGENT_KILL_SLACK_MS;
        }
    }
    for (size_t i = 0; i < snap.nupdates; i++) {
        if (su_add(&a->su, &snap.updates[i], now_ms(a)) != 0) {
            log_warn("checkpointed update with invalid ids dropped uuid=%s", snap.updates[i].uuid);
            if (ckpt_begin(a) == 0)
                ckpt_end(a, state_del_update(a->state, snap.updates[i].uuid));
        }
    }
    /* Terminal tasks whose updates were all acknowledged before the crash. */
    for (size_t it = 0; hmap_next(&a->tasks, &it, &key, &val);) {
        struct agent_task *t = val;
        if (task_terminal(t) &&
            su_pending(&a->su, t->st.info.framework_id, t->st.info.task_id) == 0)
            agent_forget_task(a, t);
    }
    for (size_t it = 0; hmap_next(&a->frameworks, &it, &key, &val);) {
        struct agent_framework *f = val;
        if (f->ntasks == 0) {
            if (ckpt_begin(a) == 0)
                ckpt_end(a, state_del_framework(a->state, key));
            hmap_del(&a->frameworks, key);
            framework_free(f);
        }
    }
    remove_stale_containers(a);
    log_info("recovered agent_id=%s frameworks=%zu tasks=%zu live_containers=%zu "
             "pending_updates=%zu",
             a->id[0] ? a->id : "(none)", hmap_size(&a->frameworks), hmap_size(&a->tasks), live,
             su_total(&a->su));
    state_snapshot_fini(&snap);
    return 0;
}

/* ---- open / close ---- */

/* Picks the address advertised to the master for our HTTP endpoints. */
static void
pick_advertise_ip(struct agent *a)
{
    struct addrinfo hints, *res = NULL, *ai;

    if (a->cfg.advertise_ip != NULL && *a->cfg.advertise_ip != '\0') {
        snprintf(a->advertise_ip, sizeof(a->advertise_ip), "%s", a->cfg.advertise_ip);
        return;
    }
    if (a->cfg.ip != NULL && *a->cfg.ip != '\0' && strcmp(a->cfg.ip, "0.0.0.0") != 0) {
        snprintf(a->advertise_ip, sizeof(a->advertise_ip), "%s", a->cfg.ip);
        return;
    }
    snprintf(a->advertise_ip, sizeof(a->advertise_ip), "127.0.0.1");
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_INET;
    if (getaddrinfo(a->hostname, NULL, &hints, &res) != 0)
        return;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ai->ai_addr;
        if ((ntohl(sin->sin_addr.s_addr) >> 24) == 127)
            continue;
        inet_ntop(AF_INET, &sin->sin_addr, a->advertise_ip, sizeof(a->advertise_ip));
        break;
    }
    freeaddrinfo(res);
}

static void
agent_free_cb(uv_handle_t *h)
{
    struct agent *a = h->data;
    const char *key;
    void *val;

    if (--a->open_handles > 0)
        return;
    for (size_t it = 0; hmap_next(&a->tasks, &it, &key, &val);)
        task_free(val);
    for (size_t it = 0; hmap_next(&a->frameworks, &it, &key, &val);)
        framework_free(val);
    hmap_fini(&a->tasks);
    hmap_fini(&a->frameworks);
    hmap_fini(&a->containers);
    su_fini(&a->su);
    state_close(a->state);
    res_fini(&a->resources);
    attr_fini(&a->attributes);
    metrics_free(a->metrics);
    free(a->principal);
    free(a->secret);
    free(a);
}

/* Releases what agent_open set up before the tick timer existed. */
static void
agent_abort_open(struct agent *a)
{
    health_close(a->health);
    a->health = NULL;
    ctr_close(a->ctr);
    a->ctr = NULL;
    state_close(a->state);
    a->state = NULL;
    su_fini(&a->su);
    hmap_fini(&a->tasks);
    hmap_fini(&a->frameworks);
    hmap_fini(&a->containers);
    res_fini(&a->resources);
    attr_fini(&a->attributes);
    metrics_free(a->metrics);
    free(a->principal);
    free(a->secret);
    free(a);
}

int
agent_open(struct agent **out, uv_loop_t *loop, const struct agent_config *cfg, char *err,
           size_t errlen)
{
    struct agent *a;
    char path[PATH_MAX + 32], perr[1024];
    const char *key;
    void *val;
    int rv;

    *out = NULL;
    a = xcalloc(1, sizeof(*a));
    a->loop = loop;
    a->cfg = *cfg;
    a->start_time = clock_wall();
    res_init(&a->resources);
    attr_init(&a->attributes);
    hmap_init(&a->tasks);
    hmap_init(&a->frameworks);
    hmap_init(&a->containers);
    su_init(&a->su, cfg->su_retry_ms > 0 ? cfg->su_retry_ms : 10000,
            cfg->su_retry_max_ms > 0 ? cfg->su_retry_max_ms : 600000, &agent_su_ops, a);
    if (a->cfg.kill_grace_ms <= 0)
        a->cfg.kill_grace_ms = 3000;

    if ((rv = detector_resolve(cfg->master, &a->master, err, errlen)) != 0)
        goto fail;
    if ((rv = paths_init(&a->paths, cfg->work_dir, err, errlen)) != 0)
        goto fail;
    if (cfg->runtime_dir != NULL && cfg->runtime_dir[0] != '\0' &&
        (rv = paths_set_runtime_dir(&a->paths, cfg->runtime_dir, err, errlen)) != 0)
        goto fail;
    if ((rv = agent_resolve_resources(cfg->resources, a->paths.work_dir, &a->resources, err,
                                      errlen)) != 0)
        goto fail;
    if (cfg->attributes != NULL && *cfg->attributes != '\0' &&
        attr_parse(&a->attributes, cfg->attributes, perr, sizeof(perr)) != 0) {
        snprintf(err, errlen, "bad --attributes '%s': %s", cfg->attributes, perr);
        rv = -AG_EINVAL;
        goto fail;
    }
    if (cfg->hostname != NULL && *cfg->hostname != '\0')
        snprintf(a->hostname, sizeof(a->hostname), "%s", cfg->hostname);
    else if (gethostname(a->hostname, sizeof(a->hostname) - 1) != 0)
        snprintf(a->hostname, sizeof(a->hostname), "localhost");
    pick_advertise_ip(a);
    if (cfg->credential != NULL && *cfg->credential != '\0' &&
        (rv = auth_read_credential(cfg->credential, &a->principal, &a->secret, perr,
                                   sizeof(perr))) != 0) {
        snprintf(err, errlen, "bad --credential: %s", perr);
        goto fail;
    }
    paths_db(&a->paths, path, sizeof(path));
    if ((rv = state_open(&a->state, path, perr, sizeof(perr))) != 0) {
        snprintf(err, errlen, "cannot open the checkpoint %s: %s", path, perr);
        goto fail;
    }
    if ((rv = ctr_open(&a->ctr, loop, cfg->launcher_dir, &agent_ctr_callbacks, a, err, errlen)) !=
        0)
        goto fail;
    if ((rv = health_open(&a->health, loop, ctr_executor_path(a->ctr), &agent_health_callbacks,
                          a)) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    snprintf(a->image_cache, sizeof(a->image_cache), "%s/images", a->paths.work_dir);
    if (cfg->isolation != NULL && cfg->isolation[0] != '\0') {
        /* One subtree per work directory: several agents on one machine (tests,
         * or one agent per disk) never see each other's containers as orphans. */
        uint64_t h = 1469598103934665603ull;
        for (const char *p = a->paths.work_dir; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        snprintf(a->cgroups_root, sizeof(a->cgroups_root), "%s/%016llx",
                 cfg->cgroups_root && cfg->cgroups_root[0] ? cfg->cgroups_root : "agora",
                 (unsigned long long)h);
        struct iso_config ic = {
            .isolation = cfg->isolation,
            .cgroups_root = a->cgroups_root,
            .pids_max = cfg->container_pids_max > 0 ? (uint64_t)cfg->container_pids_max : 0,
            .cfs_quota = cfg->cgroups_enable_cfs,
            .image_cache = a->image_cache,
        };
        if ((rv = ctr_set_isolation(a->ctr, &ic, perr, sizeof(perr))) != 0) {
            snprintf(err, errlen, "%s", perr);
            goto fail;
        }
    }
    log_info("isolation: %s (cgroup layout %s, cgroups under <hierarchy>/%s)",
             ctr_isolation(a->ctr), ctr_cgroup_layout(a->ctr),
             a->cgroups_root[0] ? a->cgroups_root : "-");
    {
        /* Where our cgroups are, for operators and for tests cleaning up. */
        char roots[2048], rpath[PATH_MAX + 32];
        FILE *f;
        ctr_cgroup_roots(a->ctr, roots, sizeof(roots));
        snprintf(rpath, sizeof(rpath), "%s/meta/cgroups", a->paths.work_dir);
        if (roots[0] == '\0')
            unlink(rpath);
        else if ((f = fopen(rpath, "we")) != NULL) {
            fputs(roots, f);
            fclose(f);
        }
    }
    empty_trash(a); /* before recovery adds to it */
    if ((rv = agent_recover(a, err, errlen)) != 0)
        goto fail;
    ctr_orphans(a->ctr);
    if (cfg->http) {
        if ((rv = ahttp_start(a, err, errlen)) != 0)
            goto fail;
    }
    snprintf(a->http_address, sizeof(a->http_address), "%s:%d", a->advertise_ip,
             a->http ? http_server_port(a->http) : cfg->port);
    if ((rv = tp_client_open(&a->cli, loop, a->master.stream_url, &agent_tp_ops, a)) != 0) {
        snprintf(err, errlen, "cannot dial the master at %s: %s", a->master.stream_url,
                 ag_strerror(rv));
        goto fail;
    }
    uv_timer_init(loop, &a->tick);
    a->tick.data = a;
    uv_timer_start(&a->tick, tick_cb, AGENT_TICK_MS, AGENT_TICK_MS);
    uv_check_init(loop, &a->commit_check);
    a->commit_check.data = a;
    a->has_commit_check = true;
    a->open_handles = 2;
    if (a->txn) /* what recovery wrote */
        uv_check_start(&a->commit_check, ckpt_commit_cb);
    res_format(&a->resources, perr, sizeof(perr));
    log_info("agent started version=%s hostname=%s http=%s work_dir=%s master=%s resources=%s",
             AGORA_VERSION, a->hostname, a->http_address, a->paths.work_dir, a->master.host, perr);
    *out = a;
    return 0;

fail:
    http_server_close(a->http);
    for (size_t it = 0; hmap_next(&a->tasks, &it, &key, &val);)
        task_free(val);
    for (size_t it = 0; hmap_next(&a->frameworks, &it, &key, &val);)
        framework_free(val);
    agent_abort_open(a);
    return rv;
}

void
agent_close(struct agent *a)
{
    if (a == NULL || a->closing)
        return;
    a->closing = true;
    tp_client_close(a->cli);
    a->cli = NULL;
    http_server_close(a->http);
    a->http = NULL;
    health_close(a->health);
    a->health = NULL;
    ctr_close(a->ctr);
    a->ctr = NULL;
    ckpt_flush(a);
    uv_timer_stop(&a->tick);
    uv_close((uv_handle_t *)&a->tick, agent_free_cb);
    uv_close((uv_handle_t *)&a->commit_check, agent_free_cb);
}
