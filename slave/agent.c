#include "agent.h"

#include "agent_ckpt.h"
#include "agent_int.h"
#include "agent_launch.h"
#include "agent_link.h"
#include "agent_metrics.h"
#include "agent_recover.h"
#include "agent_tasks.h"
#include "agent_trash.h"
#include "agent_usage.h"
#include "agent_gc.h"
#include "auth.h"
#include "clock.h"
#include "containerizer.h"
#include "error.h"
#include "health.h"
#include "http.h"
#include "http_api.h"
#include "isolator.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "tls.h"
#include "transport.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#define AGENT_TICK_MS 100

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

/* ---- the transport's events ---- */

/* Routes a message from the master: the handshake's and the connection's to
 * agent_link.c, the task messages (only while registered) to agent_launch.c
 * and agent_tasks.c. */
static void
on_message(void *arg, const void *data, size_t len)
{
    struct agent *a = arg;
    struct msg m;
    char err[256];
    int rv;

    a->last_master_ms = agent_now_ms(a);
    if ((rv = msg_decode(&m, data, len, err, sizeof(err))) != 0) {
        log_warn("undecodable message from the master: %s (%s)", err, ag_strerror(rv));
        return;
    }
    if (m.epoch < a->master_epoch) {
        log_warn("dropped %s from a deposed leading master (epoch %llu, the leader's is %llu)",
                 msg_type_name(m.type), (unsigned long long)m.epoch,
                 (unsigned long long)a->master_epoch);
        msg_free(&m);
        return;
    }
    a->master_epoch = m.epoch;
    metrics_inc(a->stats.messages_received);
    switch (m.type) {
    case MSG_RUN_TASK:
    case MSG_KILL_TASK:
    case MSG_SHUTDOWN_FRAMEWORK:
    case MSG_STATUS_ACK:
        if (a->conn != AGENT_REGISTERED) {
            log_warn("%s before registration ignored", msg_type_name(m.type));
            break;
        }
        if (m.type == MSG_RUN_TASK) {
            launch_task(a, &m.u.run_task);
            /* Its own commit: TASK_STARTING need not wait for the other
             * launches of this turn (the fsyncs still group on the syncer). */
            ckpt_flush(a);
        } else if (m.type == MSG_KILL_TASK)
            launch_kill(a, m.u.kill_task.framework_id, m.u.kill_task.task_id,
                        m.u.kill_task.grace_ms);
        else if (m.type == MSG_SHUTDOWN_FRAMEWORK)
            launch_shutdown_framework(a, m.u.shutdown_framework.framework_id);
        else
            atask_ack(a, &m.u.status_ack);
        break;
    case MSG_FRAMEWORK_MESSAGE:
        log_debug("FRAMEWORK_MESSAGE ignored (command tasks have no executor to receive it)");
        break;
    default:
        alink_handle(a, &m);
        break;
    }
    msg_free(&m);
}

static void
on_connect(void *arg)
{
    struct agent *a = arg;

    detector_connected(a->detector, true);
    alink_connected(a);
}

static void
on_disconnect(void *arg)
{
    struct agent *a = arg;

    detector_connected(a->detector, false);
    alink_disconnected(a);
}

static const struct tp_client_ops agent_tp_ops = {
    .on_connect = on_connect,
    .on_message = on_message,
    .on_disconnect = on_disconnect,
};

/*
 * Dials the master, over TLS when a->master.tls (the master's certificate
 * verified against --tls_ca for the host of --master). 0, or a negative code
 * with the reason in `err`.
 */
static int
agent_dial(struct agent *a, char *err, size_t errlen)
{
    struct tp_options o;
    nng_tls_config *tls = NULL;
    int rv;

    tp_options_init(&o);
    /* A new leader opens its port a few ms after ZooKeeper names it: redial
     * soon. */
    if (a->detector != NULL)
        o.reconnect_min_ms = 20;
    if (a->master.tls) {
        if ((rv = tls_client_config(&tls, a->cfg.tls, a->master.host, err, errlen)) != 0)
            return rv;
        o.tls = tls;
    }
    rv = tp_client_open_opts(&a->cli, a->loop, a->master.stream_url, &agent_tp_ops, a, &o);
    if (tls != NULL)
        nng_tls_config_free(tls);
    if (rv != 0)
        snprintf(err, errlen, "cannot dial the master at %s: %s", a->master.stream_url,
                 ag_strerror(rv));
    return rv;
}

/* Drops the connection and dials again (the master went silent). */
static void
agent_reconnect(struct agent *a, const char *why)
{
    char err[512];

    log_warn("reconnecting to the master master=%s: %s", a->master.stream_url, why);
    metrics_inc(a->stats.reconnects);
    detector_connected(a->detector, false);
    tp_client_close(a->cli);
    a->cli = NULL;
    a->conn = AGENT_DISCONNECTED;
    su_set_online(&a->su, false, agent_now_ms(a));
    if (agent_dial(a, err, sizeof(err)) != 0)
        log_error("%s (retrying)", err);
}

/* --master=zk://: a new leader (or none). The link to the old one is dropped
 * at once; the agent re-registers with the new one. */
static void
on_master(void *arg, const struct detector_master *m, uint64_t epoch)
{
    struct agent *a = arg;

    if (m == NULL) {
        if (a->cli != NULL)
            log_warn("no leading master: disconnecting from %s", a->master.stream_url);
        tp_client_close(a->cli);
        a->cli = NULL;
        a->conn = AGENT_DISCONNECTED;
        su_set_online(&a->su, false, agent_now_ms(a));
        a->master.port = 0;
        return;
    }
    if (epoch > a->master_epoch)
        a->master_epoch = epoch;
    if (a->cli != NULL && strcmp(m->stream_url, a->master.stream_url) == 0)
        return;
    a->master = *m;
    agent_reconnect(a, "a new leading master was elected");
}

/* ---- the tick ---- */

static void
tick_cb(uv_timer_t *h)
{
    struct agent *a = h->data;
    int64_t now = agent_now_ms(a);
    const char *why;

    su_tick(&a->su, now);
    gc_tick(a, now);
    if (a->cfg.usage_report_ms > 0 && a->conn == AGENT_REGISTERED)
        usage_report(a, now);
    launch_tick(a, now);
    if (a->cli == NULL) { /* a failed redial: try again once a second */
        if (a->master.port != 0 && now >= a->redial_at_ms) {
            a->redial_at_ms = now + 1000;
            agent_reconnect(a, "no connection");
        }
        return;
    }
    if ((why = alink_tick(a, now)) != NULL)
        agent_reconnect(a, why);
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

/* Stops talking to the outside: closes the connection to the master, the
 * HTTP server and the health checks, and stops watching executors (which run
 * on). What is not open is NULL. */
static void
agent_stop(struct agent *a)
{
    detector_close(a->detector);
    a->detector = NULL;
    tp_client_close(a->cli);
    a->cli = NULL;
    http_server_close(a->http);
    a->http = NULL;
    health_close(a->health);
    a->health = NULL;
    ctr_close(a->ctr);
    a->ctr = NULL;
}

/* Releases the agent and what it still holds, once stopped (agent_stop) and
 * its handles closed or never opened. */
static void
agent_free(struct agent *a)
{
    atask_free_all(a);
    tfw_close(a->tfw); /* the table stays: running tasks stay fenced */
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

static void
agent_free_cb(uv_handle_t *h)
{
    struct agent *a = h->data;

    if (--a->open_handles == 0)
        agent_free(a);
}

int
agent_open(struct agent **out, uv_loop_t *loop, const struct agent_config *cfg, char *err,
           size_t errlen)
{
    struct agent *a;
    char path[PATH_MAX + 32], perr[1024];
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
            cfg->su_retry_max_ms > 0 ? cfg->su_retry_max_ms : 600000, &alink_su_ops, a);
    if (a->cfg.kill_grace_ms <= 0)
        a->cfg.kill_grace_ms = 3000;

    if (!detector_follows(cfg->master) &&
        (rv = detector_resolve(cfg->master, &a->master, err, errlen)) != 0)
        goto fail;
    if (!a->master.tls && tls_client_wanted(cfg->tls))
        detector_set_tls(&a->master, 1);
    if ((rv = tls_check(cfg->tls, true, err, errlen)) != 0)
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
    if ((rv = ctr_open(&a->ctr, loop, cfg->launcher_dir, &launch_ctr_callbacks, a, err, errlen)) !=
        0)
        goto fail;
    if ((rv = health_open(&a->health, loop, ctr_executor_path(a->ctr), &launch_health_callbacks,
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
    if ((rv = ametrics_register(a)) != 0) { /* before recovery counts */
        snprintf(err, errlen, "cannot register the metrics: %s", ag_strerror(rv));
        goto fail;
    }
    trash_empty(a->loop, &a->paths); /* before recovery adds to it */
    if ((rv = recover_load(a, err, errlen)) != 0)
        goto fail;
    ctr_orphans(a->ctr);
    if (cfg->http) {
        if ((rv = ahttp_start(a, err, errlen)) != 0)
            goto fail;
    }
    snprintf(a->http_address, sizeof(a->http_address), "%s:%d", a->advertise_ip,
             a->http ? http_server_port(a->http) : cfg->port);
    if ((rv = launch_firewall_start(a, a->http ? http_server_port(a->http) : cfg->port, err,
                                    errlen)) != 0)
        goto fail;
    if (detector_follows(cfg->master))
        rv = detector_open(&a->detector, loop, cfg->master, tls_client_wanted(cfg->tls),
                           on_master, a, err, errlen);
    else
        rv = agent_dial(a, err, errlen);
    if (rv != 0)
        goto fail;
    uv_timer_init(loop, &a->tick);
    a->tick.data = a;
    uv_timer_start(&a->tick, tick_cb, AGENT_TICK_MS, AGENT_TICK_MS);
    ckpt_start(a);
    a->open_handles = 2;
    res_format(&a->resources, perr, sizeof(perr));
    log_info("agent started version=%s hostname=%s http=%s work_dir=%s master=%s resources=%s",
             AGORA_VERSION, a->hostname, a->http_address, a->paths.work_dir, a->master.host, perr);
    *out = a;
    return 0;

fail:
    agent_stop(a);
    agent_free(a);
    return rv;
}

void
agent_close(struct agent *a)
{
    if (a == NULL || a->closing)
        return;
    a->closing = true;
    agent_stop(a);
    ckpt_flush(a);
    uv_timer_stop(&a->tick);
    uv_close((uv_handle_t *)&a->tick, agent_free_cb);
    uv_close((uv_handle_t *)&a->commit_check, agent_free_cb);
}
