/*
 * The agent: one loop thread owns everything below. It keeps one connection
 * to the master (common/transport), runs tasks through the containerizer,
 * checkpoints to <work_dir>/meta/agent.db (state.h) and sends status updates
 * reliably (status_updates.h). docs/agent.md describes it for operators and
 * docs/protocol-flows.md is the contract with the master.
 *
 * Connection states (agent->conn) and the function that performs each move:
 *
 *                 on_connect()                       handshake_start()
 *   DISCONNECTED -------------> CONNECTED (waiting) ------------------> AUTHENTICATING
 *        ^                          |  (no --credential)                      | AUTH_RESULT ok
 *        |                          +------------------> REGISTERING <--------+
 *        |                                                  | AGENT_REGISTERED
 *        |  on_disconnect() / watchdog (no PING for         v
 *        +----- 5 ping intervals: agent_reconnect()) --- REGISTERED
 *
 *   ERROR in answer to AGENT_REGISTER: -AG_ESTATE -> agent_reset() (kill every
 *   task, forget the id) and register anew; anything else -> CONNECTED, retried
 *   after a backoff (1 s doubling to 1 min). Status updates flow only while
 *   REGISTERED (su_set_online).
 *
 * Task lifecycle on this agent (task->st.status.state), one update each:
 *
 *   RUN_TASK --agent_run_task()--> STAGING (checkpointed, not reported)
 *     --ctr_launch ok--> STARTING --"running PID"--> RUNNING
 *     --ctr_launch failed--> FAILED (REASON_CONTAINER_LAUNCH_FAILED)
 *   STARTING/RUNNING --KILL_TASK/SHUTDOWN_FRAMEWORK: agent_kill_task()--> KILLING
 *   any live state --container gone: on_container_exit()--> FINISHED | FAILED | KILLED
 *   terminal + every update acknowledged --agent_forget_task()--> removed
 */
#ifndef AGORA_SLAVE_AGENT_H
#define AGORA_SLAVE_AGENT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "attributes.h"
#include "detector.h"
#include "hmap.h"
#include "ids.h"
#include "paths.h"
#include "resources.h"
#include "state.h"
#include "status_updates.h"

struct cg_stats;
struct ctr;
struct flag;
struct health;
struct http_server;
struct metrics;
struct tp_client;

#define AGENT_DEFAULT_PORT 5051
#define AGENT_DEFAULT_PORTS "[31000-32000]"

/* What the agent is started with (main.c fills it from flags). Strings are
 * borrowed and must outlive the agent. */
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
    int64_t usage_report_ms;         /* --usage_report_interval (0: none) */
    int64_t gc_delay_ms;             /* --gc_delay (0: 1 week) */
    bool http;                       /* serve HTTP (tests may turn it off) */
    const struct flag *flags;        /* for /flags; may be NULL */
};

enum agent_conn {
    AGENT_DISCONNECTED,
    AGENT_CONNECTED, /* handshake not started (waiting for the backoff) */
    AGENT_AUTHENTICATING,
    AGENT_REGISTERING,
    AGENT_REGISTERED
};

struct agent_task {
    char key[2 * AG_ID_MAX + 2]; /* "framework_id/task_id" */
    struct state_task st;        /* what is checkpointed */
    char sandbox[PATH_MAX];
    char meta[PATH_MAX];
    int task_pid;             /* 0 until running */
    bool live;                /* its container is watched */
    int64_t kill_deadline_ms; /* loop time of the SIGKILL to the task's group; 0 = none */
    enum msg_tri healthy;     /* latest health verdict, carried by its updates */
    double launched;          /* wall-clock seconds */
    int64_t next_usage_ms;    /* loop time of its next usage sample; 0 = not yet planned */
};

struct agent_framework {
    struct msg_framework_info info;
    size_t ntasks;
};

struct agent {
    uv_loop_t *loop;
    struct agent_config cfg;
    struct paths paths;
    struct state *state;
    struct ctr *ctr;
    struct su su;
    struct tp_client *cli;
    struct http_server *http;
    struct detector_master master;
    char id[AG_ID_MAX]; /* "" until registered the first time */
    enum agent_conn conn;
    struct resources resources;
    struct attributes attributes;
    char hostname[256];
    char advertise_ip[64];
    char http_address[320];
    char *principal, *secret; /* --credential */
    struct hmap tasks;        /* key -> struct agent_task * */
    struct hmap frameworks;   /* framework id -> struct agent_framework * */
    struct hmap containers;   /* container id -> struct agent_task * */
    uv_timer_t tick;
    uv_check_t commit_check; /* group commit at the end of a loop turn */
    bool has_commit_check;
    bool txn;                     /* a checkpoint transaction is open */
    int open_handles;           /* tick and commit_check until closed */
    int64_t last_master_ms;     /* loop time of the last message from the master */
    uint32_t ping_interval_ms;  /* from AGENT_REGISTERED */
    int64_t handshake_at_ms;    /* CONNECTED: when to start the handshake */
    int64_t backoff_ms;         /* handshake retry backoff; 0 after a success */
    int64_t redial_at_ms;       /* when to retry a tp_client_open that failed */
    char image_cache[PATH_MAX]; /* <work_dir>/images */
    char cgroups_root[300];     /* <--cgroups_root>/<hash of work_dir> ("" without isolation) */
    uint64_t usage_phases;      /* containers given a usage sampling phase so far */
    int64_t next_gc_ms;         /* loop time of the next sandbox GC sweep */
    struct health *health;      /* health checks (health.h) */
    struct metrics *metrics;    /* /metrics registry (http_api.c creates it) */
    double start_time;
    double registered_time;
    bool closing;
    struct {
        uint64_t registrations;
        uint64_t reconnects;
        uint64_t launched;
        uint64_t finished, failed, killed, lost;
        uint64_t messages_received, messages_sent;
    } stats;
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


/*
 * Resource usage of a live task: from its container's cgroups (*cgroups set
 * true), else cpu times and rss of its main process from /proc. Limits not
 * known from cgroups are the task's resources. Returns false when there is no
 * figure (the task has no process yet).
 */
bool agent_task_usage(struct agent *a, const struct agent_task *t, struct cg_stats *out,
                      bool *cgroups);

/*
 * Changes the cpus and/or memory limits of a running task (cpus <= 0, mem_mb
 * <= 0: unchanged). Returns 0, -AG_ENOENT (no such running task), -AG_ESTATE
 * (no cgroups) or the kernel's refusal, with a message in `err`.
 */
int agent_resize_task(struct agent *a, const char *framework_id, const char *task_id, double cpus,
                      double mem_mb, char *err, size_t errlen);

#endif
