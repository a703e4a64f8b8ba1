/* agora-master: flags, logging and the loop (daemon_run). */
#define _GNU_SOURCE /* close_range */
#include "http_api.h"
#include "master.h"
#include "registry.h"
#include "standby.h"

#include "daemon.h"
#include "error.h"
#include "flags.h"
#include "http_auth.h"
#include "http_guard.h"
#include "ids.h"
#include "log.h"
#include "text.h"
#include "xalloc.h"
#include "zk.h"

#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <linux/close_range.h>
#include <string.h>
#include <unistd.h>

static struct master_flags mf;


static const struct flag flag_table[] = {
    {"ip", FLAG_STRING, &mf.ip, "0.0.0.0", "IP address to listen on (HTTP API and message stream)."},
    {"port", FLAG_INT64, &mf.port, "5050", "Port to listen on."},
    {"hostname", FLAG_STRING, &mf.hostname, NULL,
     "The name clients reach the master by, allowed in the Host header of HTTP requests along "
     "with --http_allowed_hosts (default: the system's hostname)."},
    {"advertise_ip", FLAG_STRING, &mf.advertise_ip, NULL,
     "The IP address agents, frameworks and other masters reach this master at, as "
     "published in ZooKeeper (default: --ip, or what --hostname resolves to when --ip is "
     "0.0.0.0)."},
    {"zk", FLAG_STRING, &mf.zk, NULL,
     "High availability: zk://HOST:PORT[,HOST:PORT...]/PATH. The masters given the same URL "
     "elect a leader through ZooKeeper; the others redirect to it and take over when it goes. "
     "The registry then lives in ZooKeeper (PATH/registry) instead of --work_dir."},
    {"zk_session_timeout", FLAG_DURATION, &mf.zk_session_timeout_ms, "10secs",
     "ZooKeeper session timeout: how long a leader may stay out of touch before another "
     "master takes over (at least 2secs)."},
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

/* The master and its HTTP API on daemon_run's loop; with --zk, also the
 * ZooKeeper session and, until elected, the standby's HTTP server. */
struct master_daemon {
    struct master *m;
    struct mhttp *http;
    uv_loop_t *loop;
    struct zk_url zk_url;
    struct zk *zk;
    struct standby *standby;
    char *info;    /* this master's info (JSON), its member's data */
    bool leading;  /* elected and started */
    bool restart;  /* leadership (or the session) lost: start over after the loop */
    bool stopping; /* a signal: the loop is ending */
};

static void master_daemon_stop(void *arg);

/* Leadership lost, or the session it stood on: stop at once (no offer, launch
 * or registry write after this returns), then start over (main). */
static void
lose(struct master_daemon *md, const char *why)
{
    if (md->stopping || md->restart)
        return;
    log_error("%s: %s; stopping at once and contending again", md->leading
                                                                   ? "lost leadership"
                                                                   : "left the election",
              why);
    md->restart = true;
    master_daemon_stop(md);
}

static void
on_zk_state(void *arg, enum zk_state state)
{
    struct master_daemon *md = arg;

    if (state == ZK_CONNECTED) {
        log_info("connected to ZooKeeper %s", md->zk_url.hosts);
    } else if (state == ZK_EXPIRED) {
        lose(md, "the ZooKeeper session expired");
    } else if (md->leading) {
        /* Another master may lead once the session times out in the
         * ensemble, and nothing here can tell when: stop now (a standby
         * waits for the session to come back). */
        lose(md, "the connection to ZooKeeper was lost");
    } else {
        log_warn("the connection to ZooKeeper %s was lost; reconnecting", md->zk_url.hosts);
    }
}

/* Elected: the standby's server gives way to the master's own. */
static int
lead(struct master_daemon *md, const struct zk_leader *self)
{
    struct registry *reg = NULL;
    char path[600];
    int rc;

    standby_close(md->standby);
    md->standby = NULL;
    snprintf(path, sizeof(path), "%s/registry", strcmp(md->zk_url.path, "/") == 0 ? "" : md->zk_url.path);
    if ((rc = registry_zk_open(&reg, zk_handle(md->zk), path, zk_member_path(md->zk))) != 0) {
        log_error("cannot open the registry in ZooKeeper at %s: %s", path, ag_strerror(rc));
        return rc;
    }
    master_set_leadership(md->m, reg, self->epoch, self->data);
    md->leading = true;
    log_info("elected leading master epoch=%llu", (unsigned long long)self->epoch);
    if ((rc = master_start(md->m, md->loop, &mf)) != 0 ||
        (rc = mhttp_open(&md->http, md->m)) != 0 || (rc = master_listen(md->m)) != 0)
        return rc;
    return 0;
}

static void
on_leader(void *arg, const struct zk_leader *leader, bool self)
{
    struct master_daemon *md = arg;
    char addr[300] = "none";

    if (md->stopping || md->restart)
        return;
    if (leader != NULL && zk_leader_address(leader, addr, sizeof(addr)) != 0)
        snprintf(addr, sizeof(addr), "(unreadable info in %s)", leader->node);
    if (md->leading) {
        if (!self)
            lose(md, "another master leads now");
        return;
    }
    standby_set_leader(md->standby, leader);
    if (!self) {
        log_info("leading master is %s%s", addr,
                 leader ? "; this master stands by and redirects to it" : "");
        return;
    }
    if (lead(md, leader) != 0)
        lose(md, "cannot start as the leader");
}

static int
ha_start(struct master_daemon *md)
{
    char err[512];
    int rc;

    if (zk_parse_url(mf.zk, &md->zk_url, err, sizeof(err)) != 0) {
        fprintf(stderr, "agora-master: --zk: %s\n", err);
        return -AG_EINVAL;
    }
    md->info = mhttp_master_info(master_id(md->m), &mf);
    if (md->info == NULL)
        return -AG_ENOMEM;
    if ((rc = standby_open(&md->standby, md->loop, &mf, md->info)) != 0)
        return rc;
    if ((rc = zk_open(&md->zk, md->loop, md->zk_url.hosts, mf.zk_session_timeout_ms, on_zk_state,
                      md)) != 0)
        return rc;
    log_info("contending for leadership in %s (ZooKeeper session timeout %lldms)", mf.zk,
             (long long)mf.zk_session_timeout_ms);
    return zk_group(md->zk, md->zk_url.path, md->info, strlen(md->info), on_leader, md);
}

/* The HTTP server opens before the message stream: they share --port. */
static int
master_daemon_start(void *arg, uv_loop_t *loop)
{
    struct master_daemon *md = arg;
    int rc;

    md->loop = loop;
    if (mf.zk != NULL && mf.zk[0] != '\0') {
        if ((rc = ha_start(md)) != 0)
            fprintf(stderr, "agora-master: cannot start: %s (see the log above)\n",
                    ag_strerror(rc));
        return rc;
    }
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
    standby_close(md->standby);
    md->standby = NULL;
    /* With --zk: ends the session, so the member znode goes at once and a
     * standby leads without waiting for the session timeout. */
    zk_close(md->zk);
    md->zk = NULL;
}

static void
master_daemon_signal(void *arg, int signum)
{
    struct master_daemon *md = arg;

    log_info("received signal %d, shutting down%s", signum,
             md->leading ? " and handing leadership over" : "");
    md->stopping = true;
    master_daemon_stop(md);
}

static int
master_daemon_finish(void *arg, bool started)
{
    struct master_daemon *md = arg;

    mhttp_free(md->http);
    master_free(md->m);
    free(md->info);
    (void)started;
    return md->restart ? 3 : 0;
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
    char **args = xcalloc((size_t)argc + 1, sizeof(char *));
    char **shown = xcalloc((size_t)argc + 1, sizeof(char *));
    enum ag_log_level level;
    int rc, nargs = argc;
    double started;

    /* With --zk a master that loses leadership starts over as a new process
     * with the same arguments (below): nothing of its old state survives. */
    for (int i = 0; i < argc; i++)
        args[i] = xstrdup(argv[i]);
    memcpy(shown, argv, (size_t)argc * sizeof(*shown));
    rc = daemon_flags(flag_table, &argc, argv, "agora-master",
                      "The Agora master: aggregates agents' resources, offers them to frameworks "
                      "and tracks every task. Operator HTTP API and the agent/framework message "
                      "stream share --port.",
                      &mf.logging_level, &level);
    /* The flags hold copies: mask a database password in the command line
     * that ps and /proc/PID/cmdline show. */
    for (int i = 1; i < nargs; i++)
        txt_mask_uri(shown[i]);
    free(shown);
    if (rc != DAEMON_RUN)
        return rc;
    if (mf.port <= 0 || mf.port > 65535 || mf.max_agent_ping_timeouts < 1 ||
        mf.agent_ping_timeout_ms <= 0) {
        fprintf(stderr, "agora-master: --port must be 1-65535, --agent_ping_timeout > 0 and "
                        "--max_agent_ping_timeouts >= 1\n");
        return 1;
    }
    if (mf.zk != NULL && mf.zk[0] != '\0') {
        if (zk_parse_url(mf.zk, &md.zk_url, err, sizeof(err)) != 0) {
            fprintf(stderr, "agora-master: --zk: %s\n", err);
            return 1;
        }
        if (mf.zk_session_timeout_ms < 1000) {
            fprintf(stderr, "agora-master: --zk_session_timeout must be at least 1secs\n");
            return 1;
        }
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
    started = master_clock();
    rc = daemon_run(&master_daemon_ops, &md, flag_table);
    if (rc == 3 && md.restart) {
        /* Not faster than once a second, should starting as the leader fail
         * again and again. */
        if (master_clock() - started < 1.0)
            usleep(1000000);
        /* Descriptors not marked close-on-exec (libzookeeper's, for one)
         * must not outlive this process image. */
        close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        execv("/proc/self/exe", args);
        fprintf(stderr, "agora-master: cannot start again: %s\n", strerror(errno));
        return 1;
    }
    for (int i = 0; i < nargs; i++)
        free(args[i]);
    free(args);
    return rc;
}
