/* agora-master: flags, logging and the loop (daemon_run). */
#include "http_api.h"
#include "master.h"

#include "daemon.h"
#include "error.h"
#include "flags.h"
#include "http_auth.h"
#include "http_guard.h"
#include "ids.h"
#include "log.h"
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct master_flags mf;

static const struct flag flag_table[] = {
    {"ip", FLAG_STRING, &mf.ip, "0.0.0.0", "IP address to listen on (HTTP API and message stream)."},
    {"port", FLAG_INT64, &mf.port, "5050", "Port to listen on."},
    {"hostname", FLAG_STRING, &mf.hostname, NULL,
     "The name clients reach the master by, allowed in the Host header of HTTP requests along "
     "with --http_allowed_hosts (default: the system's hostname)."},
    {"work_dir", FLAG_STRING, &mf.work_dir, "/var/lib/agora/master",
     "Directory for the registry (registry.db, SQLite)."},
    {"agent_ping_timeout", FLAG_DURATION, &mf.agent_ping_timeout_ms, "15secs",
     "How often the master pings each agent; a ping not answered before the next one counts as "
     "missed."},
    {"max_agent_ping_timeouts", FLAG_INT64, &mf.max_agent_ping_timeouts, "5",
     "Missed pings after which an agent is unreachable."},
    {"offer_timeout", FLAG_DURATION, &mf.offer_timeout_ms, "0secs",
     "How long an offer stays valid before it is rescinded (0: forever)."},
    {"agent_reregister_timeout", FLAG_DURATION, &mf.agent_reregister_timeout_ms, "10mins",
     "How long an agent may stay away (unreachable, or after a master restart) before it is "
     "removed and its tasks are LOST."},
    {"allocation_interval", FLAG_DURATION, &mf.allocation_interval_ms, "1secs",
     "Period of the full allocation pass (offers also go out at once when resources free up)."},
    {"credentials", FLAG_STRING, &mf.credentials, NULL,
     "JSON file {\"credentials\": [{\"principal\": ..., \"secret\": ...}]}; when given, agents "
     "and frameworks must authenticate."},
    {"acls", FLAG_STRING, &mf.acls, NULL,
     "Authorization: Mesos's ACL JSON, or a file holding it (see docs/security.md); when "
     "given, each request is checked against it and a denied one gets 403 or ERROR \"not "
     "permitted\". Tasks run as root only where a run_tasks rule allows it."},
    HTTP_AUTH_FLAGS(&mf.http_auth),
    TLS_FLAGS(&mf.tls),
    HTTP_GUARD_FLAGS(&mf.http_guard),
    {"role_sorter", FLAG_STRING, &mf.roles_sorter, "drf", "Sorter across roles: drf or random."},
    {"framework_sorter", FLAG_STRING, &mf.framework_sorter, "drf",
     "Sorter across frameworks in a role: drf or random."},
    {"weights", FLAG_STRING, &mf.weights, "", "Role weights, e.g. \"eng=2,ops=1.5\"."},
    {"min_allocatable_resources", FLAG_STRING, &mf.min_allocatable_resources, "",
     "Smallest offer worth making, e.g. \"cpus:0.01|mem:32\" (alternatives separated by |)."},
    {"max_completed_tasks", FLAG_INT64, &mf.max_completed_tasks, "1000",
     "Completed tasks kept for /state."},
    {"max_frameworks_per_principal", FLAG_INT64, &mf.max_frameworks_per_principal, "1000",
     "Frameworks one principal may have registered at once (active or failing over; "
     "unauthenticated frameworks count as one principal); a SUBSCRIBE beyond it gets ERROR "
     "(0: no cap)."},
    {"max_roles_per_framework", FLAG_INT64, &mf.max_roles_per_framework, "100",
     "Roles one framework may subscribe to; more gets ERROR (0: no cap)."},
    {"max_roles", FLAG_INT64, &mf.max_roles, "1000",
     "Distinct roles the registered frameworks may use in all; a SUBSCRIBE that would add more "
     "gets ERROR (0: no cap)."},
    {"max_completed_frameworks", FLAG_INT64, &mf.max_completed_frameworks, "50",
     "Removed (torn down or timed out) frameworks kept for /state's completed_frameworks."},
    {"accounting_db", FLAG_STRING, &mf.accounting_db, "",
     "Resource accounting database: an SQLite file (default: <work_dir>/accounting.db), or a "
     "PostgreSQL database that every master of the cluster writes, "
     "postgresql://USER@HOST:PORT/DB (the password from PGPASSWORD or PGPASSFILE, or in the "
     "URI; never shown in /flags, logs or ps)."},
    {"accounting_raw_retention", FLAG_DURATION, &mf.accounting_raw_retention_ms, "1days",
     "Raw usage samples older than this are rolled up into hourly rows."},
    {"logging_level", FLAG_STRING, &mf.logging_level, "INFO",
     "DEBUG, INFO, WARNING or ERROR."},
    {NULL},
};

/* The master and its HTTP API on daemon_run's loop. */
struct master_daemon {
    struct master *m;
    struct mhttp *http;
};

/* The HTTP server opens before the message stream: they share --port. */
static int
master_daemon_start(void *arg, uv_loop_t *loop)
{
    struct master_daemon *md = arg;
    int rc;

    rc = master_start(md->m, loop, &mf);
    if (rc == 0)
        rc = mhttp_open(&md->http, md->m);
    if (rc == 0)
        rc = master_listen(md->m);
    if (rc != 0)
        fprintf(stderr, "agora-master: cannot start: %s (see the log above)\n", ag_strerror(rc));
    return rc;
}

static void
master_daemon_stop(void *arg)
{
    struct master_daemon *md = arg;

    master_stop(md->m);
    mhttp_close(md->http);
}

static void
master_daemon_signal(void *arg, int signum)
{
    struct master_daemon *md = arg;

    log_info("received signal %d, shutting down", signum);
    master_stop(md->m);
}

static int
master_daemon_finish(void *arg, bool started)
{
    struct master_daemon *md = arg;

    mhttp_free(md->http);
    master_free(md->m);
    (void)started;
    return 0;
}

static const struct daemon_ops master_daemon_ops = {
    .start = master_daemon_start,
    .stop = master_daemon_stop,
    .on_signal = master_daemon_signal,
    .finish = master_daemon_finish,
};

int
main(int argc, char **argv)
{
    struct master_daemon md = {0};
    char uuid[IDS_UUID_LEN + 1], err[512];
    char **args = calloc((size_t)argc + 1, sizeof(*args));
    enum ag_log_level level;
    int rc, nargs = argc;

    if (args == NULL) {
        fprintf(stderr, "agora-master: out of memory\n");
        return 1;
    }
    memcpy(args, argv, (size_t)argc * sizeof(*args));
    rc = daemon_flags(flag_table, &argc, argv, "agora-master",
                      "The Agora master: aggregates agents' resources, offers them to frameworks "
                      "and tracks every task. Operator HTTP API and the agent/framework message "
                      "stream share --port.",
                      &mf.logging_level, &level);
    /* The flags hold copies: mask a database password in the command line
     * that ps and /proc/PID/cmdline show. */
    for (int i = 1; i < nargs; i++)
        txt_mask_uri(args[i]);
    free(args);
    if (rc != DAEMON_RUN)
        return rc;
    if (mf.port <= 0 || mf.port > 65535 || mf.max_agent_ping_timeouts < 1 ||
        mf.agent_ping_timeout_ms <= 0) {
        fprintf(stderr, "agora-master: --port must be 1-65535, --agent_ping_timeout > 0 and "
                        "--max_agent_ping_timeouts >= 1\n");
        return 1;
    }
    daemon_logging("master", level);
    if (tls_server_check(&mf.tls, err, sizeof(err)) != 0) {
        fprintf(stderr, "agora-master: %s\n", err);
        return 1;
    }
    mf.http_auth.hostname = mf.hostname;
    mf.authenticate = mf.credentials != NULL && mf.credentials[0] != '\0';

    if (ids_new_uuid(uuid) != 0) {
        fprintf(stderr, "agora-master: cannot generate an id\n");
        return 1;
    }
    if ((md.m = master_new(uuid, flag_table)) == NULL) {
        fprintf(stderr, "agora-master: out of memory\n");
        return 1;
    }
    return daemon_run(&master_daemon_ops, &md, flag_table);
}
