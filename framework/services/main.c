/*
 * agora-services: flags, logging, the loop and the wiring of the modules
 * (see svc.h and docs/architecture.md): the core (svc), the driver bridge
 * (svc_driver) and the REST API (api) on common/http. main owns the loop's
 * handles and the order of start and stop; nothing calls back into it but the
 * bridge's stop hook.
 */
#define _GNU_SOURCE /* close_range */
#include "api.h"
#include "proxy.h"
#include "store.h"
#include "svc.h"
#include "svc_driver.h"

#include "acl.h"
#include "daemon.h"
#include "error.h"
#include "flags.h"
#include "http.h"
#include "log.h"
#include "planner.h"
#include "zk.h"

#include <errno.h>
#include <linux/close_range.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct svc_flags sf;

static const struct flag svc_flag_table[] = {
    {"master", FLAG_STRING, &sf.master, FLAG_REQUIRED,
     "The master, HOST:PORT (port 5050 when left out)."},
    {"ip", FLAG_STRING, &sf.ip, "0.0.0.0", "IP address the REST API listens on."},
    {"http_port", FLAG_INT64, &sf.http_port, "8080", "Port of the REST API (Marathon's v2 API)."},
    {"hostname", FLAG_STRING, &sf.hostname, "",
     "Name this instance is reached by (shown as the leader and the framework's web UI; default: "
     "the host's name)."},
    {"work_dir", FLAG_STRING, &sf.work_dir, "/var/lib/agora/services",
     "Directory for the state (services.db, SQLite)."},
    {"principal", FLAG_STRING, &sf.principal, "", "Principal to authenticate with."},
    {"secret_file", FLAG_STRING, &sf.secret_file, "",
     "File whose first line is the principal's secret."},
    {"secret", FLAG_STRING, &sf.secret, "",
     "Secret of the principal (deprecated: visible in /proc/PID/cmdline; use --secret_file)."},
    HTTP_AUTH_FLAGS(&sf.http_auth),
    HTTP_GUARD_FLAGS(&sf.http_guard),
    TLS_FLAGS(&sf.tls),
    {"acls", FLAG_STRING, &sf.acls, "",
     "Authorization of the REST API in Mesos's ACL JSON (the JSON itself, a file or "
     "file://FILE) with Agora's actions manage_apps and view_apps: which principals may create, "
     "change, delete and kill the tasks of, or see, the apps under which app id prefixes "
     "(\"app_ids\": {\"values\": [\"/team-a\"]}; docs/security.md)."},
    {"failover_timeout", FLAG_DURATION, &sf.failover_timeout_ms, "1weeks",
     "How long the master keeps the framework's tasks while agora-services is away."},
    {"framework_name", FLAG_STRING, &sf.framework_name, "agora-services", "Framework name."},
    {"role", FLAG_STRING, &sf.role, "*",
     "Role to receive offers for (apps accept \"*\" and this role unless they set "
     "acceptedResourceRoles)."},
    {"user", FLAG_STRING, &sf.user, "", "Default user tasks run as (\"\": the agent's choice)."},
    {"secrets_dir", FLAG_STRING, &sf.secrets_dir, "",
     "The secret store: the value of an app's secret {\"source\": NAME} is the file NAME in "
     "this directory (mode 0600 or 0400, one trailing newline dropped), read at each launch "
     "into the task's environment and never shown by the REST API (docs/services.md)."},
    {"decline_offer_duration", FLAG_DURATION, &sf.decline_ms, "120secs",
     "Filter for offers declined while nothing waits to be launched."},
    {"decline_unfit_duration", FLAG_DURATION, &sf.decline_unfit_ms, "5secs",
     "Filter for offers declined because what waits does not fit them."},
    {"max_versions", FLAG_INT64, &sf.max_versions, "50", "App versions kept per app."},
    {"auto_rollback", FLAG_BOOL, &sf.auto_rollback, "true",
     "Roll an upgrade back when tasks of the new version keep failing."},
    {"rollback_failures", FLAG_INT64, &sf.rollback_failures, "3",
     "Failures (or failed health checks) of new-version tasks during an upgrade that trigger the "
     "automatic rollback."},
    {"unhealthy_kill_rate", FLAG_DOUBLE, &sf.unhealthy_kill_rate, "1",
     "Kills of unhealthy tasks per second, over all apps (a token bucket)."},
    {"unhealthy_kill_burst", FLAG_INT64, &sf.unhealthy_kill_burst, "10",
     "Burst of the unhealthy-kill token bucket."},
    {"reconciliation_timeout", FLAG_DURATION, &sf.reconciliation_timeout_ms, "30secs",
     "After a restart, how long launches and kills wait for the master's answer about every "
     "task on record."},
    {"max_tasks_per_offer", FLAG_INT64, &sf.max_tasks_per_offer, "0",
     "Tasks launched per offer at most (0: as many as fit)."},
    {"zk", FLAG_STRING, &sf.zk, "",
     "High availability: zk://HOST:PORT[,HOST:PORT...]/PATH (Marathon's --zk). The instances "
     "given the same URL elect a leader through ZooKeeper (PATH/leader); only the leader runs "
     "the framework, the others proxy the REST API to it and one of them takes over when it "
     "goes. The state then lives in ZooKeeper (PATH/state) instead of --work_dir."},
    {"zk_session_timeout", FLAG_DURATION, &sf.zk_session_timeout_ms, "10secs",
     "ZooKeeper session timeout: how long a leader may stay out of touch before another "
     "instance takes over (at least 1secs)."},
    {"ha", FLAG_BOOL, &sf.ha, "true",
     "With --zk: instances that do not lead proxy the REST API to the leader (false: they "
     "answer 503 and only wait to take over)."},
    {"logging_level", FLAG_STRING, &sf.logging_level, "INFO", "DEBUG, INFO, WARNING or ERROR."},
    {NULL},
};

#define TICK_MS 1000

/* The daemon: the core, its driver bridge and the loop's handles; with --zk
 * also the ZooKeeper session and, until elected, the proxy. */
struct daemon {
    struct svc s;
    struct svcdrv drv;
    uv_prepare_t prepare;
    uv_timer_t tick;
    bool handles; /* the two handles above are initialized */
    bool opened;  /* daemon_open ran: s and drv are initialized */
    bool stopped;
    /* --zk */
    uv_loop_t *loop;
    struct zk_url zk_url;
    struct zk *zk;
    struct proxy *proxy;
    char *info;   /* this instance's member data (JSON) */
    bool leading; /* elected and started */
    bool restart; /* leadership lost or given up: start over after the loop */
    uv_timer_t abdication;
    bool abdication_init;
};

/* The end of every loop turn: the offers of the turn, convergence, the commit
 * and what waited for it. */
static void
on_prepare(uv_prepare_t *h)
{
    struct daemon *d = h->data;

    if (d->s.stopping)
        return;
    svcdrv_turn(&d->drv);
    svc_end_turn(&d->s);
}

static void
on_tick(uv_timer_t *h)
{
    struct daemon *d = h->data;

    svcdrv_tick(&d->drv);
    svc_tick(&d->s);
}

static void
handle_closed(uv_handle_t *h)
{
    (void)h;
}

/* Stops the driver (the framework stays registered for its failover
 * timeout), the API and the handles; the loop then ends. Idempotent. Also
 * daemon_run's stop after a failed start. */
static void
daemon_stop(void *arg)
{
    struct daemon *d = arg;

    if (d->stopped)
        return;
    d->stopped = true;
    if (d->opened) {
        d->s.stopping = true;
        svcdrv_stop(&d->drv);
        http_server_close(d->s.http);
        d->s.http = NULL;
        svc_stop(&d->s);
        if (d->handles) {
            d->handles = false;
            uv_prepare_stop(&d->prepare);
            uv_timer_stop(&d->tick);
            uv_close((uv_handle_t *)&d->prepare, handle_closed);
            uv_close((uv_handle_t *)&d->tick, handle_closed);
        }
        svcdrv_close(&d->drv);
        /* The ZooKeeper store writes through the session: closed before it. */
        if (d->zk != NULL) {
            store_close(d->s.store);
            d->s.store = NULL;
        }
    }
    if (d->abdication_init) {
        d->abdication_init = false;
        uv_close((uv_handle_t *)&d->abdication, handle_closed);
    }
    proxy_close(d->proxy);
    d->proxy = NULL;
    /* With --zk: ends the session, so the member znode goes at once and
     * another instance leads without waiting for the session timeout. */
    zk_close(d->zk);
    d->zk = NULL;
}

static void
on_signal(void *d, int signum)
{
    log_info("received signal %d, stopping (the framework stays registered)", signum);
    daemon_stop(d);
}

/* Loads the state, starts the handles, the REST API and the driver. On
 * failure returns a negative code after logging why; daemon_stop + uv_run +
 * daemon_fini clean up. */
static int
daemon_open(struct daemon *d, uv_loop_t *loop, const struct svc_flags *f, struct store *st)
{
    nng_tls_config *tls = NULL;
    char err[512];
    int rc;

    d->opened = true;
    if ((rc = svc_open(&d->s, f, st)) != 0)
        return rc;
    if ((rc = svcdrv_init(&d->drv, loop, &d->s, daemon_stop, d)) != 0)
        return rc;
    uv_prepare_init(loop, &d->prepare);
    uv_timer_init(loop, &d->tick);
    d->prepare.data = d->tick.data = d;
    d->handles = true;
    uv_prepare_start(&d->prepare, on_prepare);
    uv_timer_start(&d->tick, on_tick, TICK_MS, TICK_MS);

    if (tls_serving(&f->tls) && (rc = tls_server_config(&tls, &f->tls, err, sizeof(err))) != 0) {
        log_error("cannot serve TLS: %s", err);
        return rc;
    }
    rc = http_server_open_tls(&d->s.http, loop, f->ip, (uint16_t)f->http_port, 1 << 20, tls);
    if (tls != NULL)
        nng_tls_config_free(tls);
    if (rc != 0) {
        log_error("cannot listen on %s:%lld: %s", f->ip, (long long)f->http_port, ag_strerror(rc));
        return rc;
    }
    if ((rc = api_register(&d->s)) != 0)
        return rc;
    log_info("REST API on %s://%s:%d", tls_serving(&f->tls) ? "https" : "http", f->ip,
             http_server_port(d->s.http));
    return svcdrv_start(&d->drv);
}

/* ---- high availability (--zk) ---- */

/* Leadership lost, or the session it stood on: stop at once (no launch, kill
 * or store write after this returns: the store's writes are fenced anyway),
 * then start over as a new process (main). */
static void
lose(struct daemon *d, const char *why)
{
    if (d->stopped || d->restart)
        return;
    log_error("%s: %s; stopping at once and contending again",
              d->leading ? "lost leadership" : "left the election", why);
    d->restart = true;
    daemon_stop(d);
}

static void
on_abdication(uv_timer_t *h)
{
    struct daemon *d = h->data;

    lose(d, "abdicated (DELETE /v2/leader)");
}

/* DELETE /v2/leader: gives its reply a moment to leave, then leaves. */
static void
abdicate(void *arg)
{
    struct daemon *d = arg;

    if (d->abdication_init)
        return;
    uv_timer_init(d->loop, &d->abdication);
    d->abdication.data = d;
    d->abdication_init = true;
    uv_timer_start(&d->abdication, on_abdication, 200, 0);
}

/* A fatal store failure under --zk: the session may be gone, so the process
 * starts over as a contender at once (svc_fatal_hook). */
static char **restart_args;

static void
restart_now(void)
{
    log_error("restarting as a contender for leadership");
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    execv("/proc/self/exe", restart_args);
    fprintf(stderr, "agora-services: cannot start again: %s\n", strerror(errno));
}

static void
on_zk_state(void *arg, enum zk_state state)
{
    struct daemon *d = arg;

    if (state == ZK_CONNECTED) {
        log_info("connected to ZooKeeper %s", d->zk_url.hosts);
    } else if (state == ZK_EXPIRED) {
        lose(d, "the ZooKeeper session expired");
    } else if (d->leading) {
        /* Another instance may lead once the session times out in the
         * ensemble, and nothing here can tell when: stop now. */
        lose(d, "the connection to ZooKeeper was lost");
    } else {
        log_warn("the connection to ZooKeeper %s was lost; reconnecting", d->zk_url.hosts);
    }
}

/* Elected: the proxy gives way to the framework and its REST API. */
static int
lead(struct daemon *d, const struct zk_leader *self)
{
    struct store *st = NULL;
    char path[600], err[512];
    int rc;

    proxy_close(d->proxy);
    d->proxy = NULL;
    snprintf(path, sizeof(path), "%s/state",
             strcmp(d->zk_url.path, "/") == 0 ? "" : d->zk_url.path);
    if ((rc = store_zk_open(&st, d->zk, path, zk_member_path(d->zk), err, sizeof(err))) != 0) {
        log_error("%s", err);
        return rc;
    }
    d->leading = true;
    log_info("elected leader (member %s, epoch %llu): loading the state from ZooKeeper %s",
             zk_member_path(d->zk), (unsigned long long)self->epoch, path);
    d->s.abdicate = abdicate;
    d->s.abdicate_arg = d;
    if ((rc = daemon_open(d, d->loop, &sf, st)) != 0)
        return rc;
    d->s.abdicate = abdicate;
    d->s.abdicate_arg = d;
    return 0;
}

static void
on_leader(void *arg, const struct zk_leader *leader, bool self)
{
    struct daemon *d = arg;
    char addr[300] = "none";

    if (d->stopped || d->restart)
        return;
    if (leader != NULL && zk_leader_address(leader, addr, sizeof(addr)) != 0)
        snprintf(addr, sizeof(addr), "(unreadable info in %s)", leader->node);
    if (d->leading) {
        if (!self)
            lose(d, "another instance leads now");
        return;
    }
    proxy_set_leader(d->proxy, leader != NULL && !self ? addr : NULL);
    if (!self) {
        log_info("the leader is %s%s", addr,
                 leader ? "; this instance proxies the REST API to it" : "");
        return;
    }
    if (lead(d, leader) != 0)
        lose(d, "cannot start as the leader");
}

/* This instance's member data: where it serves, Mesos's MasterInfo fields
 * (zk_leader_address reads them) and Marathon's "host:port". */
static char *
member_info(const struct svc_flags *f)
{
    char hp[300];
    json_t *j;
    char *text;

    snprintf(hp, sizeof(hp), "%s:%lld", f->hostname, (long long)f->http_port);
    j = json_pack("{s:s,s:I,s:{s:s,s:I},s:s,s:s,s:s,s:I}", "hostname", f->hostname, "port",
                  (json_int_t)f->http_port, "address", "hostname", f->hostname, "port",
                  (json_int_t)f->http_port, "leader", hp, "scheme",
                  tls_serving(&f->tls) ? "https" : "http", "version", AGORA_VERSION, "pid",
                  (json_int_t)getpid());
    text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return text;
}

static int
ha_start(struct daemon *d)
{
    char path[600];
    int rc;

    if ((d->info = member_info(&sf)) == NULL)
        return -AG_ENOMEM;
    if ((rc = proxy_open(&d->proxy, d->loop, &sf)) != 0)
        return rc;
    if ((rc = zk_open(&d->zk, d->loop, d->zk_url.hosts, sf.zk_session_timeout_ms, on_zk_state,
                      d)) != 0)
        return rc;
    snprintf(path, sizeof(path), "%s/leader",
             strcmp(d->zk_url.path, "/") == 0 ? "" : d->zk_url.path);
    log_info("contending for leadership in %s%s (ZooKeeper session timeout %lldms); REST API "
             "on port %lld meanwhile %s",
             d->zk_url.hosts, path, (long long)sf.zk_session_timeout_ms, (long long)sf.http_port,
             sf.ha ? "proxied to the leader" : "answering 503 (--ha=false)");
    return zk_group(d->zk, path, d->info, strlen(d->info), on_leader, d);
}

static int
daemon_start(void *arg, uv_loop_t *loop)
{
    struct daemon *d = arg;
    int rc;

    d->loop = loop;
    if (sf.zk != NULL && sf.zk[0] != '\0')
        rc = ha_start(d);
    else
        rc = daemon_open(d, loop, &sf, NULL);
    if (rc != 0)
        fprintf(stderr, "agora-services: cannot start: %s (see the log above)\n", ag_strerror(rc));
    return rc;
}

/* Frees the daemon; the exit status is the core's. */
static int
daemon_fini(void *arg, bool started)
{
    struct daemon *d = arg;
    int code = d->s.exit_code;

    if (d->opened) {
        svcdrv_fini(&d->drv);
        svc_fini(&d->s);
    }
    free(d->info);
    (void)started;
    return d->restart ? 3 : code;
}

static const struct daemon_ops svc_daemon_ops = {
    .start = daemon_start,
    .stop = daemon_stop,
    .on_signal = on_signal,
    .finish = daemon_fini,
};

int
main(int argc, char **argv)
{
    static struct daemon d;
    char host[256], err[1024];
    struct acls *acls;
    enum ag_log_level level;
    int rc, nargs = argc;

    /* With --zk an instance that loses leadership starts over as a new
     * process with the same arguments (below): nothing of its state survives. */
    restart_args = xcalloc((size_t)argc + 1, sizeof(char *));
    for (int i = 0; i < argc; i++)
        restart_args[i] = xstrdup(argv[i]);
    rc = daemon_flags(svc_flag_table, &argc, argv, "agora-services",
                      "Long-running services on Agora with Marathon's REST API (v2): apps, "
                      "deployments, health-based replacement, rolling upgrades.",
                      &sf.logging_level, &level);
    if (rc != DAEMON_RUN)
        return rc;
    if (sf.http_port < 0 || sf.http_port > 65535 || sf.max_versions < 1 ||
        sf.rollback_failures < 1 || sf.unhealthy_kill_rate < 0 || sf.unhealthy_kill_burst < 1) {
        fprintf(stderr, "agora-services: --http_port must be 0-65535, --max_versions, "
                        "--rollback_failures and --unhealthy_kill_burst >= 1, "
                        "--unhealthy_kill_rate >= 0\n");
        return 1;
    }
    /* /v2/events sends a keep-alive every 15 s (svc.c); a shorter idle timeout cuts it. */
    if (sf.http_guard.idle_timeout_ms > 0 && sf.http_guard.idle_timeout_ms < 30000) {
        fprintf(stderr, "agora-services: --http_idle_timeout must be 0 (none) or at least 30secs: "
                        "/v2/events streams are quiet for up to 15 s between keep-alives\n");
        return 1;
    }
    if (sf.zk != NULL && sf.zk[0] != '\0') {
        if (zk_parse_url(sf.zk, &d.zk_url, err, sizeof(err)) != 0) {
            fprintf(stderr, "agora-services: --zk: %s\n", err);
            return 1;
        }
        if (sf.zk_session_timeout_ms < 1000 || sf.http_port == 0) {
            fprintf(stderr, "agora-services: with --zk, --zk_session_timeout must be at least "
                            "1secs and --http_port given (the others proxy to it)\n");
            return 1;
        }
        svc_fatal_hook = restart_now;
    }
    if (sf.hostname[0] == '\0') {
        if (gethostname(host, sizeof(host)) != 0)
            snprintf(host, sizeof(host), "localhost");
        host[sizeof(host) - 1] = '\0';
        free(sf.hostname);
        sf.hostname = xstrdup(host);
    }
    if (mkdir(sf.work_dir, 0755) != 0 && access(sf.work_dir, W_OK) != 0) {
        fprintf(stderr, "agora-services: cannot use --work_dir=%s\n", sf.work_dir);
        return 1;
    }
    daemon_logging("services", level);
    sf.http_auth.hostname = sf.hostname;
    if (tls_server_check(&sf.tls, err, sizeof(err)) != 0) {
        fprintf(stderr, "agora-services: %s\n", err);
        return 1;
    }
    if (svc_fatal_hook != NULL && tls_serving(&sf.tls) &&
        http_client_tls(&sf.tls, err, sizeof(err)) != 0) {
        fprintf(stderr, "agora-services: proxying to the leader over TLS: %s\n", err);
        return 1;
    }
    if (sf.secret[0] && !sf.secret_file[0])
        log_warn("--secret is visible to every local user in /proc/PID/cmdline: use --secret_file");
    ag_log_level(level == AG_LOG_DEBUG ? "DEBUG" : level == AG_LOG_INFO ? "INFO" : "WARNING");

    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
        seed = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
    plan_seed(seed);
    if (acl_load(sf.acls, &acls, err, sizeof(err)) != 0) {
        log_error("%s", err);
        return 1;
    }
    if (acls != NULL)
        log_info("authorization: ACLs loaded from %s (permissive %s)", err,
                 acl_permissive(acls) ? "true" : "false");
    sf.acl_rules = acls;
    rc = daemon_run(&svc_daemon_ops, &d, svc_flag_table);
    acl_free(acls);
    if (rc == 3 && d.restart) {
        restart_now();
        return 1;
    }
    for (int i = 0; i < nargs; i++)
        free(restart_args[i]);
    free(restart_args);
    return rc;
}
