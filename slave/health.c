#define _GNU_SOURCE
#include "health.h"

#include "clock.h"
#include "error.h"
#include "hmap.h"
#include "ids.h"
#include "log.h"
#include "xalloc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define HEALTH_KILL_SLACK_MS 1000 /* the probe enforces the timeout itself; this is the backstop   \
                                   */

struct hcheck {
    struct health *h;
    char id[AG_ID_MAX];
    char type[16];
    char *command, *path;
    int pid, port;
    double started;
    double interval_s, timeout_s;
    struct msg_health_check hc; /* scalar fields only (strings above) */
    struct health_state st;
    uv_timer_t timer;
    uv_process_t proc;
    bool running, has_proc, stopped;
    int nhandles;
};

struct health {
    uv_loop_t *loop;
    const char *exe;
    const struct health_callbacks *cb;
    void *arg;
    struct hmap checks; /* container id -> struct hcheck * */
    size_t live;        /* checks not yet freed */
    bool closing;
};

bool
health_judge(struct health_state *s, const struct msg_health_check *hc, bool ok,
             double since_start_s)
{
    int max = hc->consecutive_failures > 0 ? hc->consecutive_failures : 1;

    if (ok) {
        s->consecutive_failures = 0;
        s->ever_healthy = true;
        if (s->verdict != HEALTH_HEALTHY) {
            s->verdict = HEALTH_HEALTHY;
            return true;
        }
        return false;
    }
    if (!s->ever_healthy && since_start_s < hc->grace_period_s)
        return false;
    s->consecutive_failures++;
    if (s->consecutive_failures >= max && s->verdict != HEALTH_UNHEALTHY) {
        s->verdict = HEALTH_UNHEALTHY;
        return true;
    }
    return false;
}

static uint64_t
ms_of(double s)
{
    return s <= 0 ? 0 : (uint64_t)(s * 1000.0 + 0.5);
}

static void
health_free(struct health *h)
{
    hmap_fini(&h->checks);
    free(h);
}

static void
check_handle_closed(uv_handle_t *hd)
{
    struct hcheck *k = hd->data;
    struct health *h = k->h;

    if (--k->nhandles > 0)
        return;
    free(k->command);
    free(k->path);
    free(k);
    if (--h->live == 0 && h->closing)
        health_free(h);
}

static void
check_close(struct hcheck *k)
{
    k->stopped = true;
    if (k->running) /* probe_exit closes the process handle once it is reaped */
        uv_process_kill(&k->proc, SIGKILL);
    else if (k->has_proc && !uv_is_closing((uv_handle_t *)&k->proc))
        uv_close((uv_handle_t *)&k->proc, check_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&k->timer))
        uv_close((uv_handle_t *)&k->timer, check_handle_closed);
}

static void run_probe(uv_timer_t *t);

static void
probe_timeout(uv_timer_t *t)
{
    struct hcheck *k = t->data;

    if (k->running)
        uv_process_kill(&k->proc, SIGKILL); /* its exit counts as a failure */
}

static void
probe_exit(uv_process_t *p, int64_t exit_status, int term_signal)
{
    struct hcheck *k = p->data;
    char why[128];
    bool ok = exit_status == 0 && term_signal == 0;

    k->running = false;
    uv_close((uv_handle_t *)&k->proc, check_handle_closed);
    k->has_proc = false;
    if (k->stopped)
        return;
    if (exit_status == 2)
        log_warn("health: the %s probe of container_id=%s could not run", k->type, k->id);
    if (term_signal != 0)
        snprintf(why, sizeof(why), "%s health check timed out after %.3g s", k->type, k->timeout_s);
    else
        snprintf(why, sizeof(why), "%s health check %s", k->type, ok ? "passed" : "failed");
    log_debug("health: container_id=%s %s", k->id, why);
    if (health_judge(&k->st, &k->hc, ok, clock_wall() - k->started))
        k->h->cb->on_verdict(k->h->arg, k->id, k->st.verdict == HEALTH_HEALTHY, why);
    if (!k->stopped)
        uv_timer_start(&k->timer, run_probe, ms_of(k->interval_s), 0);
}

static void
run_probe(uv_timer_t *t)
{
    struct hcheck *k = t->data;
    struct health *h = k->h;
    char a_pid[32], a_type[32], a_port[32], a_timeout[48], *a_cmd = NULL, *a_path = NULL;
    char *args[8];
    int n = 0, rv;
    uv_process_options_t o;
    uv_stdio_container_t stdio[3];

    if (k->running || k->stopped)
        return;
    snprintf(a_pid, sizeof(a_pid), "--pid=%d", k->pid);
    snprintf(a_type, sizeof(a_type), "--type=%s", k->type);
    snprintf(a_port, sizeof(a_port), "--port=%d", k->port);
    snprintf(a_timeout, sizeof(a_timeout), "--timeout_ms=%llu",
             (unsigned long long)ms_of(k->timeout_s));
    args[n++] = (char *)h->exe;
    args[n++] = "--probe";
    args[n++] = a_pid;
    args[n++] = a_type;
    args[n++] = a_timeout;
    if (strcmp(k->type, "COMMAND") == 0) {
        if (asprintf(&a_cmd, "--command=%s", k->command) < 0)
            xalloc_die(0);
        args[n++] = a_cmd;
    } else {
        args[n++] = a_port;
        if (asprintf(&a_path, "--path=%s", k->path ? k->path : "/") < 0)
            xalloc_die(0);
        args[n++] = a_path;
    }
    args[n] = NULL;
    memset(&o, 0, sizeof(o));
    memset(stdio, 0, sizeof(stdio));
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_IGNORE;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    o.file = h->exe;
    o.args = args;
    o.exit_cb = probe_exit;
    o.stdio = stdio;
    o.stdio_count = 3;
    k->proc.data = k;
    rv = uv_spawn(h->loop, &k->proc, &o);
    free(a_cmd);
    free(a_path);
    k->has_proc = true;
    k->nhandles++;
    if (rv != 0) {
        log_warn("health: cannot spawn a probe for container_id=%s: %s", k->id, uv_strerror(rv));
        uv_close((uv_handle_t *)&k->proc, check_handle_closed);
        k->has_proc = false;
        uv_timer_start(&k->timer, run_probe, ms_of(k->interval_s), 0);
        return;
    }
    k->running = true;
    uv_timer_start(&k->timer, probe_timeout, ms_of(k->timeout_s) + HEALTH_KILL_SLACK_MS, 0);
}

int
health_open(struct health **out, uv_loop_t *loop, const char *executor,
            const struct health_callbacks *cb, void *arg)
{
    struct health *h = calloc(1, sizeof(*h));

    *out = NULL;
    if (h == NULL)
        return -AG_ENOMEM;
    h->loop = loop;
    h->exe = executor;
    h->cb = cb;
    h->arg = arg;
    hmap_init(&h->checks);
    *out = h;
    return 0;
}

void
health_close(struct health *h)
{
    const char *key;
    void *val;

    if (h == NULL)
        return;
    h->closing = true;
    for (size_t it = 0; hmap_next(&h->checks, &it, &key, &val);) {
        hmap_del(&h->checks, key);
        check_close(val);
    }
    if (h->live == 0)
        health_free(h);
}

int
health_start(struct health *h, const char *container_id, const struct msg_health_check *hc, int pid,
             int port, double started)
{
    struct hcheck *k;
    bool command = hc->type != NULL && strcmp(hc->type, "COMMAND") == 0;
    bool net = hc->type != NULL && (strcmp(hc->type, "HTTP") == 0 || strcmp(hc->type, "TCP") == 0);

    if (hmap_get(&h->checks, container_id) != NULL)
        return -AG_EEXIST;
    if ((!command && !net) || (command && (hc->command == NULL || hc->command[0] == '\0')) ||
        (net && (port <= 0 || port > 65535)) || pid <= 0)
        return -AG_EINVAL;
    if ((k = calloc(1, sizeof(*k))) == NULL)
        return -AG_ENOMEM;
    k->h = h;
    snprintf(k->id, sizeof(k->id), "%s", container_id);
    snprintf(k->type, sizeof(k->type), "%s", hc->type);
    k->command = command ? strdup(hc->command) : NULL;
    k->path = hc->path ? strdup(hc->path) : NULL;
    k->pid = pid;
    k->port = port;
    k->started = started;
    k->hc.consecutive_failures = hc->consecutive_failures;
    k->hc.grace_period_s = hc->grace_period_s;
    k->interval_s = hc->interval_s > 0 ? hc->interval_s : 10;
    k->timeout_s = hc->timeout_s > 0 ? hc->timeout_s : 20;
    k->st.verdict = HEALTH_UNKNOWN;
    if (hmap_put(&h->checks, k->id, k) != 0) {
        free(k->command);
        free(k->path);
        free(k);
        return -AG_ENOMEM;
    }
    uv_timer_init(h->loop, &k->timer);
    k->timer.data = k;
    k->nhandles = 1;
    h->live++;
    uv_timer_start(&k->timer, run_probe, ms_of(hc->delay_s), 0);
    log_info("health: checking container_id=%s type=%s every %.3g s (first after %.3g s)", k->id,
             k->type, k->interval_s, hc->delay_s);
    return 0;
}

void
health_stop(struct health *h, const char *container_id)
{
    struct hcheck *k;

    if (h == NULL || (k = hmap_del(&h->checks, container_id)) == NULL)
        return;
    check_close(k);
}

size_t
health_count(const struct health *h)
{
    return h ? hmap_size(&h->checks) : 0;
}
