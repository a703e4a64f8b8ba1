/*
 * agora-services: flags, logging, the loop and the wiring of the modules
 * (see svc.h and docs/architecture.md): the core (svc), the driver bridge
 * (svc_driver) and the REST API (api) on common/http. main owns the loop's
 * handles and the order of start and stop; nothing calls back into it but the
 * bridge's stop hook.
 */
#include "api.h"
#include "svc.h"
#include "svc_driver.h"

#include "acl.h"
#include "daemon.h"
#include "error.h"
#include "flags.h"
#include "http.h"
#include "log.h"
#include "planner.h"

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
    {"logging_level", FLAG_STRING, &sf.logging_level, "INFO", "DEBUG, INFO, WARNING or ERROR."},
    {NULL},
};

#define TICK_MS 1000

/* The daemon: the core, its driver bridge and the loop's handles. */
struct daemon {
    struct svc s;
    struct svcdrv drv;
    uv_prepare_t prepare;
    uv_timer_t tick;
    bool handles; /* the two handles above are initialized */
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

    if (d->s.stopping)
        return;
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
daemon_open(struct daemon *d, uv_loop_t *loop, const struct svc_flags *f)
{
    nng_tls_config *tls = NULL;
    char err[512];
    int rc;

    if ((rc = svc_open(&d->s, f)) != 0)
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

static int
daemon_start(void *d, uv_loop_t *loop)
{
    int rc = daemon_open(d, loop, &sf);

    if (rc != 0)
        fprintf(stderr, "agora-services: cannot start: %s (see the log above)\n", ag_strerror(rc));
    return rc;
}

/* Frees the daemon; the exit status is the core's. */
static int
daemon_fini(void *arg, bool started)
{
    struct daemon *d = arg;

    svcdrv_fini(&d->drv);
    svc_fini(&d->s);
    (void)started;
    return d->s.exit_code;
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
    int rc;

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
    return rc;
}
