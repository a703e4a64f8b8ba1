#include "agent_usage.h"

#include "agent_int.h"
#include "agent_link.h"
#include "clock.h"
#include "containerizer.h"
#include "isolators/cgroups.h"
#include "log.h"
#include "msg.h"
#include "xalloc.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define USAGE_BUDGET_MS 2 /* longest a tick spends sampling usage */

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
    /* v2 keeps cpu.weight only: the shares of the task's cpus (its CFS quota,
     * else its resources) when the weight is theirs, else the nearest shares
     * the weight stands for. */
    if (s->cpu_shares == 0 && s->cpu_weight != 0) {
        uint64_t mine = cg_cpus_to_shares(s->cpu_limit);
        s->cpu_shares =
            cg_shares_to_weight(mine) == s->cpu_weight ? mine : cg_weight_to_shares(s->cpu_weight);
    }
    if (s->mem_limit == 0 || s->mem_limit >= (UINT64_C(1) << 62))
        s->mem_limit = (uint64_t)(res_scalar(&t->st.info.resources, "mem") / RES_SCALE) << 20;
}

bool
usage_task(struct agent *a, const struct agent_task *t, struct cg_stats *out, bool *cgroups)
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
send_samples(struct agent *a, struct msg_usage_sample *samples, size_t n)
{
    struct msg m;

    if (n == 0 || a->conn != AGENT_REGISTERED)
        return;
    msg_init(&m, MSG_USAGE_REPORT);
    m.u.usage_report.agent_id = a->id;
    m.u.usage_report.samples = samples;
    m.u.usage_report.nsamples = n;
    alink_send(a, &m); /* borrowed pointers: m is never msg_free'd */
}

/*
 * Reading a container's cgroup files takes 0.15 ms, over 1 ms while the kernel
 * tears other cgroups down, and reading a thousand in one turn of the loop held
 * every launch behind it for over 100 ms: hence the budget. Phases follow the
 * golden ratio, so even tasks started in one burst spread evenly over the
 * interval.
 */
void
usage_report(struct agent *a, int64_t now)
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
        if (!usage_task(a, t, &s, &cg))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            samples = xrealloc(samples, cap * sizeof(*samples));
        }
        usage_sample(t, &s, wall, &samples[n++]);
    }
    if (n == 0)
        return;
    send_samples(a, samples, n);
    free(samples);
    log_debug("usage report samples=%zu took_ms=%.2f", n, (double)(uv_hrtime() - t0) / 1e6);
}

void
usage_final(struct agent *a, const struct agent_task *t, const struct cg_stats *counters)
{
    struct msg_usage_sample sample;
    struct cg_stats s = *counters;

    usage_limits(t, &s);
    usage_sample(t, &s, clock_wall(), &sample);
    send_samples(a, &sample, 1);
}
