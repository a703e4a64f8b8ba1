/*
 * The agent: one loop thread owns everything below. It keeps one connection
 * to the master (common/transport), runs tasks through the containerizer,
 * checkpoints to <work_dir>/meta/agent.db (state.h) and sends status updates
 * reliably (status_updates.h). docs/agent.md describes it for operators and
 * docs/protocol-flows.md is the contract with the master.
 *
 * Connection states (agent->conn) and the function that performs each move:
 *
 *                 alink_connected()                  alink_handshake()
 *   DISCONNECTED -------------> CONNECTED (waiting) ------------------> AUTHENTICATING
 *        ^                          |  (no --credential)                      | AUTH_RESULT ok
 *        |                          +------------------> REGISTERING <--------+
 *        |                                                  | AGENT_REGISTERED
 *        |  alink_disconnected() / watchdog (no PING for    v
 *        +----- 5 ping intervals: agent_reconnect()) --- REGISTERED
 *
 *   ERROR in answer to AGENT_REGISTER: -AG_ESTATE -> atask_reset() (kill every
 *   task, forget the id) and register anew; anything else -> CONNECTED, retried
 *   after a backoff (1 s doubling to 1 min). Status updates flow only while
 *   REGISTERED (su_set_online).
 *
 * Task lifecycle on this agent (task->st.status.state), one update each:
 *
 *   RUN_TASK --launch_task()--> STAGING (checkpointed, not reported)
 *     --ctr_launch ok--> STARTING --"running PID"--> RUNNING
 *     --ctr_launch failed--> FAILED (REASON_CONTAINER_LAUNCH_FAILED)
 *   STARTING/RUNNING --KILL_TASK/SHUTDOWN_FRAMEWORK: launch_kill()--> KILLING
 *   any live state --container gone: launch's on_container_exit()--> FINISHED | FAILED |
 *   KILLED; terminal + every update acknowledged --atask_forget()--> removed
 *
 * The layout of struct agent and the modules that share it are in agent_int.h.
 */
#ifndef AGORA_SLAVE_AGENT_H
#define AGORA_SLAVE_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct http_auth_flags;
struct http_guard_flags;

struct agent;
struct flag;
struct resources;

#define AGENT_DEFAULT_PORT 5051
#define AGENT_DEFAULT_PORTS "[31000-32000]"

/* What the agent is started with (main.c fills it from flags). Strings are
 * borrowed and must outlive the agent. */
struct acls;

struct tls_flags;

struct agent_config {
    const char *master;              /* --master HOST:PORT */
    const char *ip;                  /* --ip to listen on for HTTP */
    int port;                        /* --port */
    const char *advertise_ip;        /* --advertise_ip (NULL/"": derived, see agent_open) */
    const char *hostname;            /* --hostname (NULL/"": gethostname) */
    const char *work_dir;            /* --work_dir */
    const char *runtime_dir;         /* --runtime_dir; NULL = <work_dir>/meta */
    const char *resources;           /* --resources (NULL/"": detected) */
    const char *attributes;          /* --attributes */
    const char *credential;          /* --credential file (NULL: no authentication) */
    const char *launcher_dir;        /* --launcher_dir (NULL: next to the agent binary) */
    int64_t kill_grace_ms;           /* --executor_shutdown_grace_period */
    int64_t su_retry_ms;             /* --status_update_retry_interval */
    int64_t su_retry_max_ms;         /* --status_update_retry_max */
    int64_t registration_backoff_ms; /* --registration_backoff_factor */
    const char *isolation;           /* --isolation (NULL: "posix") */
    const char *cgroups_root;        /* --cgroups_root (NULL: "agora") */
    int64_t container_pids_max;      /* --container_pids_max (0: no limit) */
    bool cgroups_enable_cfs;         /* --cgroups_enable_cfs */
    bool switch_user;                /* --switch_user */
    const char *default_task_user;   /* --default_task_user (NULL/"": the agent's) */
    bool task_firewall;              /* --task_firewall */
    const char *task_firewall_deny;  /* --task_firewall_deny HOST:PORT,... (NULL: none) */
    int64_t usage_report_ms;         /* --usage_report_interval (0: none) */
    int64_t gc_delay_ms;             /* --gc_delay (0: 1 week) */
    bool http;                       /* serve HTTP (tests may turn it off) */
    const struct flag *flags;        /* for /flags; may be NULL */
    const struct http_auth_flags *http_auth; /* --http_credentials, ...; NULL: none */
    const struct http_guard_flags *http_guard; /* --http_request_timeout, ...; NULL: none */
    const char *cors_origins;    /* --cors_allowed_origins; NULL: the master's origin */
    const struct acls *acls;     /* --acls (common/acl.h), owned by the caller; NULL: none */
    const struct tls_flags *tls; /* --tls_* (common/tls.h), borrowed; NULL: no TLS. With a
                                  * certificate the HTTP port serves only TLS; with --tls_ca
                                  * (or an https:// --master) the master is reached over wss:// */
};

/*
 * Computes the agent's total resources: `text` (Mesos syntax) where given,
 * and for each of cpus, mem, disk and ports that `text` leaves out, the
 * detected value: cpus = online processors, mem = total RAM minus 1 GB (at
 * least half of it), disk = size of the filesystem of `work_dir` minus 5 GB (at
 * least half of it), ports = [31000-32000]. Returns 0 or -AG_EINVAL with a
 * message in `err`.
 */
int agent_resolve_resources(const char *text, const char *work_dir, struct resources *out,
                            char *err, size_t errlen);

/*
 * Creates the agent: prepares the work directory, opens the checkpoint and
 * recovers from it (re-attaching to executors still running), starts the HTTP
 * server and dials the master. Returns 0 and sets *out; or a negative code with
 * a message in `err` (bad flags, work dir or checkpoint unusable, port in
 * use...) and nothing left open.
 */
int agent_open(struct agent **out, uv_loop_t *loop, const struct agent_config *cfg, char *err,
               size_t errlen);

/*
 * Stops the agent: closes the connection and the HTTP server and stops
 * watching executors, which keep running (a restarted agent recovers them).
 * Memory is released from the loop, so the loop must run on. Accepts NULL.
 */
void agent_close(struct agent *a);

#endif
