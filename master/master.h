/*
 * The master: one loop thread owns everything below.
 *
 * Agent states (agent->state), and the function that performs each move:
 *
 *                 master_agent_register()                 ping_check() (missed pongs)
 *   (new) -------------------------------> ACTIVE -------------------------------> UNREACHABLE
 *                                           ^  |                                       |
 *       agent_reregister() (same id) -------+  | drain (operator)                      |
 *                                              v                                       |
 *   RECOVERED (loaded from the registry after a master restart, not yet back)          |
 *       |  agent_reregister() -> ACTIVE                                                |
 *       +--- --agent_reregister_timeout passes -> REMOVED <----------------------------+
 *                                                (unreachable for --agent_reregister_timeout)
 *
 * Framework states (fw->state):
 *
 *   SUBSCRIBE -> ACTIVE --peer lost--> DISCONNECTED --failover_timeout--> REMOVED
 *                  ^                        |                      (tasks killed)
 *                  +---- SUBSCRIBE (same id) +
 *   RECOVERED (from the registry after a master restart) behaves as DISCONNECTED.
 *   TEARDOWN from ACTIVE -> REMOVED at once (an operator's teardown first sends
 *   the framework a fatal ERROR). SUBSCRIBE (same id) keeps the framework's
 *   allocations: only its roles and activity change in the allocator. A REMOVED
 *   framework leaves m->frameworks for the bounded m->completed_fws; its id is
 *   refused from then on, and tasks of it that agents report later are orphans
 *   (killed, booked until they end).
 *
 * Task states follow Mesos (see docs/master.md for the diagram): a task is
 * created STAGING when its ACCEPT is valid (or ERROR when not), then follows
 * the agent's updates; UNREACHABLE and LOST come from the master when an agent
 * is lost; terminal states are never left. A task is forgotten once it is
 * terminal and its last update acknowledged (it is kept in a bounded list of
 * completed tasks for /state).
 */
#ifndef AGORA_MASTER_H
#define AGORA_MASTER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "hmap.h"
#include "ids.h"
#include "msg.h"
#include "resources.h"

struct db;
struct tp_server;
struct http_server;
struct alloc;
struct metrics;
struct acct;
struct flag;

enum agent_state { AGENT_ACTIVE, AGENT_UNREACHABLE, AGENT_RECOVERED, AGENT_REMOVED };
enum fw_state { FW_ACTIVE, FW_DISCONNECTED, FW_REMOVED };
enum peer_kind { PEER_NEW, PEER_AGENT, PEER_FRAMEWORK };

struct master_flags {
    char *ip;
    int64_t port;
    char *work_dir;
    int64_t agent_ping_timeout_ms;
    int64_t max_agent_ping_timeouts;
    int64_t offer_timeout_ms; /* 0 = offers never time out */
    int64_t agent_reregister_timeout_ms;
    int64_t allocation_interval_ms;
    char *credentials;
    char *roles_sorter;
    char *framework_sorter;
    char *weights;
    char *min_allocatable_resources;
    int64_t max_completed_tasks;
    int64_t max_completed_frameworks;
    char *logging_level;
    char *accounting_db;
    int64_t accounting_raw_retention_ms;
    bool authenticate; /* derived: credentials given */
};

struct peer {
    uint32_t id; /* transport peer (nng pipe id) */
    enum peer_kind kind;
    char owner[AG_ID_MAX]; /* agent or framework id once known */
    bool authenticated;
    char principal[128];
    uint8_t nonce[32];
    bool challenged;
};

struct task;

struct agent {
    char id[AG_ID_MAX];
    enum agent_state state;
    uint32_t peer; /* 0 when not connected */
    char *hostname;
    char *http_address;
    char *version;
    struct resources total;
    struct attributes attributes;
    double registered_time;
    double reregistered_time;
    double unreachable_time;
    double reregister_deadline; /* RECOVERED: when to give up */
    uint64_t ping_seq;
    uint64_t pong_seq;
    int missed_pings;
    bool draining;
    /* The allocator's view: the tasks booked on it hold more than its total
     * (admitted with a total raised to what is in use, shrunk back as tasks end),
     * or it refused the agent outright (alloc_error set; no offers). */
    bool overcommitted;
    char alloc_error[160];
    uint64_t freed_ns; /* when a task's end freed resources here, until re-offered */
    struct hmap tasks; /* "fwid/taskid" -> struct task* */
};

struct framework {
    char id[AG_ID_MAX];
    enum fw_state state;
    uint32_t peer;
    struct msg_framework_info info;
    bool partition_aware;
    double registered_time;
    double disconnected_time;
    double failover_deadline;
    struct hmap tasks;  /* task id -> struct task* */
    struct hmap offers; /* offer id -> struct offer* */
};

struct task {
    char key[2 * AG_ID_MAX + 2]; /* "fwid/taskid" */
    struct msg_task_info info;
    struct msg_task_status status; /* latest known */
    char framework_id[AG_ID_MAX];
    char agent_id[AG_ID_MAX];
    enum msg_task_state state;
    char role[RES_ROLE_MAX]; /* the role its resources are allocated to */
    bool orphan;              /* its framework is gone: killed, booked until it ends */
    bool resources_recovered; /* returned to the allocator */
    bool acked;               /* latest update acknowledged */
    bool kill_pending;        /* killed while its agent was away: sent when it is back */
    int64_t kill_grace_ms;    /* with kill_pending: the kill's grace (-1 = the task's) */
};

struct offer {
    char id[AG_ID_MAX];
    char framework_id[AG_ID_MAX];
    char agent_id[AG_ID_MAX];
    char role[RES_ROLE_MAX];
    struct resources resources;
    double created;
    double expires; /* 0 = never */
};

struct completed_task {
    struct msg_task_info info;
    struct msg_task_status status;
    char framework_id[AG_ID_MAX];
};

struct master {
    uv_loop_t *loop;
    struct master_flags flags;
    char id[AG_ID_MAX]; /* this master's UUID, base of the ids it makes */
    double start_time;
    double now; /* refreshed at the start of each callback */
    uint64_t next_agent, next_framework, next_offer;
    struct db *db;
    struct tp_server *tp;
    struct http_server *http;
    struct alloc *alloc;
    struct acct *acct; /* accounting recorder (batched, its own writer thread) */
    char acct_path[4096];
    struct metrics *metrics;
    const struct flag *flag_table; /* for /flags */
    struct hmap peers;      /* "%u" peer id -> struct peer* */
    struct hmap agents;     /* id -> struct agent* */
    struct hmap frameworks; /* id -> struct framework* */
    struct hmap offers;     /* id -> struct offer* */
    struct hmap credentials; /* principal -> secret (char*) */
    struct completed_task *completed; /* ring of max_completed_tasks */
    size_t ncompleted, completed_head;
    struct framework **completed_fws; /* ring of max_completed_frameworks (removed ones) */
    size_t ncompleted_fws, completed_fws_head;
    size_t novercommitted; /* agents with overcommitted set */
    uv_timer_t tick;
    uv_idle_t alloc_idle;
    bool alloc_pending;
    bool alloc_full;
    struct hmap dirty_agents; /* agent ids to allocate at the end of this turn */
    double last_full_alloc;
    uv_signal_t sigint, sigterm;
    bool stopping;
    bool handles_open;
    /* counters for /metrics */
    uint64_t msgs_in, msgs_out, msgs_invalid;
    uint64_t tasks_launched, tasks_error, offers_sent, offers_rescinded, offers_declined;
    uint64_t updates_forwarded, alloc_runs;
    uint64_t orphans_killed;      /* tasks of removed frameworks killed on re-registration */
    uint64_t agents_overcommitted; /* times an agent was admitted with more in use than its total */
    uint64_t agents_refused;       /* times the allocator refused an agent outright */
    uint64_t books_checks, books_problems;
    double alloc_last_ms, alloc_max_ms;
};

/* Starts a master on `loop` with `flags` (copied by reference: they must outlive
 * it). Opens the registry, the transport and HTTP on flags->ip:port. Returns 0,
 * or a negative AG_E* code with the reason logged (nothing left open). */
int master_start(struct master *m, uv_loop_t *loop, struct master_flags *flags);

/* Closes everything; the loop must run on until its handles are closed. */
void master_stop(struct master *m);

/* Seconds since the epoch, wall clock. */
double master_clock(void);

/* Sends `msg` to transport peer `peer` (master is the sender). Logs on failure. */
int master_send(struct master *m, uint32_t peer, struct msg *msg);

/* Registry (master/registry.c): SQLite in work_dir. */
int registry_open(struct master *m);
void registry_close(struct master *m);
int registry_load(struct master *m);
int registry_put_agent(struct master *m, const struct agent *a);
int registry_remove_agent(struct master *m, const char *id);
int registry_put_framework(struct master *m, const struct framework *fw);
int registry_remove_framework(struct master *m, const char *id);
int registry_set_meta(struct master *m, const char *key, const char *value);

/* Frees the master's memory once its loop has finished. */
void master_free(struct master *m);

/* Kills every task of `fw` and removes it (operator teardown); a connected
 * framework first gets a fatal ERROR ("framework removed"). */
void master_teardown(struct master *m, struct framework *fw, const char *why);

/*
 * Compares the allocator's books with the master's: on every agent in the
 * allocator, what it holds allocated to each framework and role must equal
 * that framework's outstanding offers plus its booked tasks (non-terminal
 * tasks, and terminal ones whose kill is not confirmed yet) in that role;
 * an agent outside the allocator books no task. Calls `fn` (may be NULL)
 * once per discrepancy with the agent id and a description. Returns the
 * number of discrepancies (0: consistent).
 */
size_t master_check_books(struct master *m,
                          void (*fn)(void *arg, const char *agent_id, const char *problem),
                          void *arg);

/* Authentication (master/authn.c). */
int mauth_load_credentials(struct master *m);
int mauth_start(struct master *m, struct peer *p, struct msg *msg);
int mauth_response(struct master *m, struct peer *p, struct msg *msg);

/* HTTP API (master/http_api.c): registers the endpoints and starts serving. */
int mhttp_register(struct master *m);
void mhttp_close(struct master *m);

#endif
