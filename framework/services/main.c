/* agora-services: flags, logging and the loop. */
#include "svc.h"

#include "error.h"
#include "flags.h"
#include "log.h"
#include "planner.h"

#include <signal.h>
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
    {"secret", FLAG_STRING, &sf.secret, "", "Secret of the principal."},
    {"failover_timeout", FLAG_DURATION, &sf.failover_timeout_ms, "1weeks",
     "How long the master keeps the framework's tasks while agora-services is away."},
    {"framework_name", FLAG_STRING, &sf.framework_name, "agora-services", "Framework name."},
    {"role", FLAG_STRING, &sf.role, "*",
     "Role to receive offers for (apps accept \"*\" and this role unless they set "
     "acceptedResourceRoles)."},
    {"user", FLAG_STRING, &sf.user, "", "Default user tasks run as (\"\": the agent's choice)."},
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

int
main(int argc, char **argv)
{
    struct svc s;
    uv_loop_t loop;
    char err[512], host[256];
    enum ag_log_level level;
    int rc;

    rc = flags_parse(svc_flag_table, &argc, argv, err, sizeof(err));
    if (rc == FLAGS_HELP) {
        flags_usage(svc_flag_table, "agora-services",
                    "Long-running services on Agora with Marathon's REST API (v2): apps, "
                    "deployments, health-based replacement, rolling upgrades.",
                    stdout);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "agora-services: %s\n", err);
        return 1;
    }
    if (argc > 1) {
        fprintf(stderr, "agora-services: unexpected argument '%s'; see --help\n", argv[1]);
        return 1;
    }
    if (log_parse_level(sf.logging_level, &level) != 0) {
        fprintf(stderr, "agora-services: bad --logging_level '%s'\n", sf.logging_level);
        return 1;
    }
    if (sf.http_port < 0 || sf.http_port > 65535 || sf.max_versions < 1 ||
        sf.rollback_failures < 1 || sf.unhealthy_kill_rate < 0 || sf.unhealthy_kill_burst < 1) {
        fprintf(stderr, "agora-services: --http_port must be 0-65535, --max_versions, "
                        "--rollback_failures and --unhealthy_kill_burst >= 1, "
                        "--unhealthy_kill_rate >= 0\n");
        return 1;
    }
    if (sf.hostname[0] == '\0') {
        if (gethostname(host, sizeof(host)) != 0)
            snprintf(host, sizeof(host), "localhost");
        host[sizeof(host) - 1] = '\0';
        free(sf.hostname);
        sf.hostname = strdup(host);
        if (sf.hostname == NULL)
            abort();
    }
    if (mkdir(sf.work_dir, 0755) != 0 && access(sf.work_dir, W_OK) != 0) {
        fprintf(stderr, "agora-services: cannot use --work_dir=%s\n", sf.work_dir);
        return 1;
    }
    log_set_component("services");
    log_set_level(level);
    ag_log_level(level == AG_LOG_DEBUG ? "DEBUG" : level == AG_LOG_INFO ? "INFO" : "WARNING");
    signal(SIGPIPE, SIG_IGN);

    uv_loop_init(&loop);
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
        seed = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
    plan_seed(seed);
    rc = svc_start(&s, &loop, &sf);
    if (rc != 0) {
        fprintf(stderr, "agora-services: cannot start: %s (see the log above)\n", ag_strerror(rc));
        svc_stop(&s);
        uv_run(&loop, UV_RUN_DEFAULT);
        svc_fini(&s);
        uv_loop_close(&loop);
        flags_free(svc_flag_table);
        return 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = s.exit_code;
    svc_fini(&s);
    uv_loop_close(&loop);
    flags_free(svc_flag_table);
    return rc;
}
