/*
 * The agent's state, for the agent's own files (agent.c, agent_*.c and
 * http_api.c); main.c and other programs use agent.h. One loop thread owns
 * everything here and runs every function of these modules; callbacks of
 * other threads (nng, the checkpoint's syncer) reach them through the loop.
 *
 * The modules, each calling only those below it in this list (callbacks
 * registered through ops tables do not count):
 *
 *   agent.c          open and close, the tick, the transport's callbacks; routes
 *                    each message from the master to the module that handles it
 *   http_api.c       the HTTP endpoints, reading this state
 *   agent_metrics.c  the counters and gauges of /metrics
 *   agent_recover.c  rebuilds the tables from the checkpoint at start
 *   agent_launch.c   launches and kills tasks; container and health events
 *   agent_usage.c    usage samples of live tasks, USAGE_REPORT
 *   agent_link.c     the connection to the master: handshake, registration,
 *                    watchdog; sends messages and forwards status updates
 *   agent_gc.c       removes sandboxes and container directories of no task
 *   agent_tasks.c    the task and framework tables and their status updates
 *   agent_ckpt.c     group commit of the checkpoint writes of a loop turn
 *   agent_trash.c    removes directory trees off the loop thread
 */
#ifndef AGORA_SLAVE_AGENT_INT_H
#define AGORA_SLAVE_AGENT_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "agent.h"
#include "attributes.h"
#include "detector.h"
#include "hmap.h"
#include "ids.h"
#include "paths.h"
#include "task_firewall.h"
#include "resources.h"
#include "state.h"
#include "status_updates.h"

struct ctr;
struct health;
struct http_server;
struct metrics;
struct metrics_counter;
struct tp_client;

#ifndef AGORA_VERSION
#define AGORA_VERSION "0.0.0"
#endif

#define AGENT_KILL_SLACK_MS 2000 /* backstop after the executor's own escalation */

/* The `source` of the updates the agent makes. */
#define SOURCE_AGENT "SOURCE_AGENT"
#define SOURCE_EXECUTOR "SOURCE_EXECUTOR"

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
    bool fenced;              /* its user is in the task firewall (uid) */
    uid_t uid;
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
    struct tfw *tfw; /* --task_firewall; NULL: off */
    struct su su;
    struct tp_client *cli;
    struct http_server *http;
    struct detector_master master; /* port 0: none known yet (zk://, no leader) */
    struct detector *detector;     /* --master=zk://: follows the leader */
    uint64_t master_epoch; /* the leader's epoch: messages stamped lower are a deposed leader's */
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
    bool txn;                   /* a checkpoint transaction is open */
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
    struct { /* counters in a->metrics (agent_metrics.c): metrics_inc(a->stats.x) */
        struct metrics_counter *registrations, *reconnects, *launched;
        struct metrics_counter *finished, *failed, *killed, *lost;
        struct metrics_counter *messages_received, *messages_sent;
    } stats;
};

/* The loop's time in milliseconds. */
static inline int64_t
agent_now_ms(const struct agent *a)
{
    return (int64_t)uv_now(a->loop);
}

#endif
