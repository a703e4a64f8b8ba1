/* agora-agent: flags, logging, signals and the loop (daemon_run). */
#include "agent.h"

#include "acl.h"
#include "daemon.h"
#include "error.h"
#include "flags.h"
#include "http_auth.h"
#include "http_guard.h"
#include "tls.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *f_cors_origins, *f_acls;
static char *f_master, *f_ip, *f_advertise_ip, *f_hostname, *f_work_dir, *f_runtime_dir;
static char *f_resources;
static char *f_attributes, *f_credential, *f_launcher_dir, *f_logging_level;
static int64_t f_port, f_grace_ms, f_su_retry_ms, f_su_retry_max_ms, f_backoff_ms;
static char *f_isolation, *f_cgroups_root, *f_default_task_user;
static int64_t f_pids_max, f_usage_ms, f_gc_delay_ms;
static bool f_cfs, f_switch_user, f_task_firewall;
static char *f_task_firewall_deny;
static struct http_auth_flags f_http_auth;
static struct http_guard_flags f_http_guard;
static struct tls_flags f_tls;

static const struct flag agent_flag_table[] = {
    {"master", FLAG_STRING, &f_master, FLAG_REQUIRED,
     "The master, HOST:PORT (port 5050 when left out)."},
    {"ip", FLAG_STRING, &f_ip, "0.0.0.0", "IP address the agent's HTTP endpoints listen on."},
    {"port", FLAG_INT64, &f_port, "5051", "Port the agent's HTTP endpoints listen on."},
    {"advertise_ip", FLAG_STRING, &f_advertise_ip, NULL,
     "IP address given to the master for the agent's HTTP endpoints (default: --ip, or when "
     "that is 0.0.0.0 the first non-loopback IPv4 address of --hostname, else 127.0.0.1)."},
    {"hostname", FLAG_STRING, &f_hostname, NULL,
     "Hostname reported to the master (default: the system's hostname)."},
    {"work_dir", FLAG_STRING, &f_work_dir, "/var/lib/agora/agent",
     "Directory for the checkpoint (meta/) and the task sandboxes (sandboxes/). Restart with "
     "the same directory to recover running tasks."},
    {"runtime_dir", FLAG_STRING, &f_runtime_dir, NULL,
     "Directory for the containers' runtime metadata (pids, outcomes, launch specs, mount "
     "points), which must survive an agent restart but not a reboot: a tmpfs such as "
     "/run/agora makes launches cheaper (default: <work_dir>/meta). One per agent."},
    {"resources", FLAG_STRING, &f_resources, NULL,
     "Total resources, e.g. \"cpus:4;mem:8192;disk:100000;ports:[31000-32000]\"; cpus, mem "
     "(MB), disk (MB) and ports left out are detected."},
    {"attributes", FLAG_STRING, &f_attributes, NULL, "Attributes, e.g. \"rack:r1;zone:a\"."},
    {"credential", FLAG_STRING, &f_credential, NULL,
     "File with {\"principal\": ..., \"secret\": ...} (JSON) or \"principal secret\" on its "
     "first line, to authenticate with the master."},
    {"launcher_dir", FLAG_STRING, &f_launcher_dir, NULL,
     "Directory holding agora-executor (default: the directory of agora-agent)."},
    {"executor_shutdown_grace_period", FLAG_DURATION, &f_grace_ms, "3secs",
     "Default delay between SIGTERM and SIGKILL when a task is killed (a task's kill_grace_ms "
     "overrides it)."},
    {"status_update_retry_interval", FLAG_DURATION, &f_su_retry_ms, "10secs",
     "First retry interval of an unacknowledged status update; it doubles at each retry."},
    {"status_update_retry_max", FLAG_DURATION, &f_su_retry_max_ms, "10mins",
     "Longest interval between retries of a status update."},
    {"registration_backoff_factor", FLAG_DURATION, &f_backoff_ms, "1secs",
     "First delay before retrying a refused registration or authentication; it doubles up to "
     "one minute."},
    {"isolation", FLAG_STRING, &f_isolation, "auto",
     "Isolators, comma separated: cgroups/cpu, cgroups/mem, cgroups/pids, namespaces/pid, "
     "namespaces/ipc, namespaces/uts, namespaces/net, filesystem/linux; \"posix\" for plain "
     "processes; \"auto\" for every isolator the kernel supports when running as root "
     "(docs/isolation.md)."},
    {"cgroups_root", FLAG_STRING, &f_cgroups_root, "agora",
     "Name of the agent's cgroup subtree in each hierarchy; containers get "
     "<hierarchy>/<cgroups_root>/<hash of work_dir>/<container id>, so agents with different "
     "work directories on one machine never share a subtree."},
    {"container_pids_max", FLAG_INT64, &f_pids_max, "4096",
     "Most processes and threads one container may have (cgroups/pids); 0 = no limit."},
    {"cgroups_enable_cfs", FLAG_BOOL, &f_cfs, "true",
     "Limit a container's cpu time to its cpus with a CFS quota (shares are always set)."},
    {"switch_user", FLAG_BOOL, &f_switch_user, "true",
     "Run each task as its command's user, else its framework's user, else "
     "--default_task_user; false: every task runs as the agent's own user."},
    {"default_task_user", FLAG_STRING, &f_default_task_user, "nobody",
     "With --switch_user, the user of a task whose command and framework name none (\"\": the "
     "agent's own user). Applies only to an agent running as root, the one that can switch "
     "users; a task runs as root only when it asks for \"root\" (docs/security.md)."},
    {"task_firewall", FLAG_BOOL, &f_task_firewall, "false",
     "Keep tasks from connecting to the master, this agent's API and --task_firewall_deny, "
     "with an nftables table (inet agora_agent_PORT) that refuses TCP connections from the "
     "users tasks run as (not root) to those addresses; needs root (docs/security.md)."},
    {"task_firewall_deny", FLAG_STRING, &f_task_firewall_deny, NULL,
     "More HOST:PORT ([IPv6]:PORT) that tasks may not connect to with --task_firewall, "
     "comma-separated (e.g. agora-services' address, ZooKeeper)."},
    {"usage_report_interval", FLAG_DURATION, &f_usage_ms, "10secs",
     "How often the agent reports its tasks' resource usage to the master (0 = never)."},
    {"gc_delay", FLAG_DURATION, &f_gc_delay_ms, "1weeks",
     "How long the sandbox of a finished task is kept."},
    HTTP_AUTH_FLAGS(&f_http_auth),
    HTTP_GUARD_FLAGS(&f_http_guard),
    TLS_FLAGS(&f_tls),
    {"cors_allowed_origins", FLAG_STRING, &f_cors_origins, NULL,
     "Origins (comma-separated, e.g. http://master.example:5050; \"*\" for any) whose pages may "
     "read this agent's endpoints with the browser's credentials, for the master's dashboard "
     "(default: the --master address as http:// and https:// origins; \"\" for none)."},
    {"acls", FLAG_STRING, &f_acls, NULL,
     "Authorization of the HTTP API, in Mesos's ACL JSON (the JSON itself, a file or "
     "file://FILE): access_sandboxes for /files/* (users: the task's user), get_endpoints for "
     "/flags, /metrics and /metrics/snapshot (docs/security.md). The principal is the one of "
     "--http_credentials."},
    {"logging_level", FLAG_STRING, &f_logging_level, "INFO", "DEBUG, INFO, WARNING or ERROR."},
    {NULL},
};

/* The agent on daemon_run's loop. */
struct agent_daemon {
    struct agent_config cfg;
    struct agent *agent;
};

static int
agent_daemon_start(void *arg, uv_loop_t *loop)
{
    struct agent_daemon *ad = arg;
    char err[1024];
    int rc;

    if ((rc = agent_open(&ad->agent, loop, &ad->cfg, err, sizeof(err))) != 0)
        fprintf(stderr, "agora-agent: %s\n", err);
    return rc;
}

static void
agent_daemon_signal(void *arg, int signum)
{
    struct agent_daemon *ad = arg;

    log_info("received %s, stopping (tasks keep running)", strsignal(signum));
    agent_close(ad->agent);
    ad->agent = NULL;
}

static int
agent_daemon_finish(void *arg, bool started)
{
    if (started)
        log_info("agent stopped");
    (void)arg;
    return 0;
}

static const struct daemon_ops agent_daemon_ops = {
    .start = agent_daemon_start,
    .on_signal = agent_daemon_signal,
    .finish = agent_daemon_finish,
};

int
main(int argc, char **argv)
{
    static struct agent_daemon ad;
    struct agent_config *cfg = &ad.cfg;
    enum ag_log_level level;
    int rc;

    rc = daemon_flags(agent_flag_table, &argc, argv, "agora-agent",
                      "The Agora agent: registers this machine's resources with the master, runs "
                      "tasks through agora-executor and reports their states reliably. HTTP "
                      "endpoints on --port: /state, /flags, /health, /monitor/statistics, "
                      "/metrics/snapshot, /metrics, /files/read, /files/browse.",
                      &f_logging_level, &level);
    if (rc != DAEMON_RUN)
        return rc;
    if (f_port < 0 || f_port > 65535) {
        fprintf(stderr, "agora-agent: bad --port %lld: expected 0-65535\n", (long long)f_port);
        flags_free(agent_flag_table);
        return 1;
    }
    daemon_logging("agent", level);

    cfg->master = f_master;
    cfg->ip = f_ip;
    cfg->port = (int)f_port;
    cfg->advertise_ip = f_advertise_ip;
    cfg->hostname = f_hostname;
    cfg->work_dir = f_work_dir;
    cfg->runtime_dir = f_runtime_dir;
    cfg->resources = f_resources;
    cfg->attributes = f_attributes;
    cfg->credential = f_credential;
    cfg->launcher_dir = f_launcher_dir;
    cfg->kill_grace_ms = f_grace_ms;
    cfg->su_retry_ms = f_su_retry_ms;
    cfg->su_retry_max_ms = f_su_retry_max_ms;
    cfg->registration_backoff_ms = f_backoff_ms;
    cfg->isolation = f_isolation;
    cfg->cgroups_root = f_cgroups_root;
    cfg->container_pids_max = f_pids_max;
    cfg->cgroups_enable_cfs = f_cfs;
    cfg->switch_user = f_switch_user;
    cfg->default_task_user = f_default_task_user;
    cfg->task_firewall = f_task_firewall;
    cfg->task_firewall_deny = f_task_firewall_deny;
    cfg->usage_report_ms = f_usage_ms;
    cfg->gc_delay_ms = f_gc_delay_ms;
    cfg->http = true;
    cfg->flags = agent_flag_table;
    f_http_auth.hostname = f_hostname;
    cfg->http_auth = &f_http_auth;
    cfg->http_guard = &f_http_guard;
    cfg->tls = &f_tls;
    cfg->cors_origins = f_cors_origins;
    {
        struct acls *acls;
        char err[1024];

        if (acl_load(f_acls, &acls, err, sizeof(err)) != 0) {
            fprintf(stderr, "agora-agent: %s\n", err);
            flags_free(agent_flag_table);
            return 1;
        }
        if (acls != NULL)
            log_info("authorization: ACLs loaded from %s (permissive %s)", err,
                     acl_permissive(acls) ? "true" : "false");
        cfg->acls = acls;
        rc = daemon_run(&agent_daemon_ops, &ad, agent_flag_table);
        acl_free(acls);
    }
    return rc;
}
