/*
 * The master's public interface, for its front ends (the operator HTTP API in
 * http_api.c, main.c, tests). The master's state is owned by the master core
 * (the files in master/ that include master_int.h); a front end sees it only
 * through the operations and the read-only iterators below, and every change
 * goes through an operation, which schedules an allocation pass at once.
 *
 * Agent states (agent->state), and the core function that makes each move:
 *
 *               agent_handle_register()                on_tick(): missed pongs -> agent_lost()
 *   (new) -------------------------------> ACTIVE -------------------------------> UNREACHABLE
 *                                           ^  |                                       |
 *   agent_handle_register() (same id) ------+  | master_drain_agent() sets draining:    |
 *                                              | no new offers, its tasks keep running |
 *   RECOVERED (registry rows loaded by master_start(), not yet back)                   |
 *       |  agent_handle_register() -> ACTIVE                                           |
 *       +--- on_tick(): --agent_reregister_timeout passes -> agent_remove() -> REMOVED <+
 *                          (unreachable for --agent_reregister_timeout: on_tick() too)
 *
 * Framework states (fw->state):
 *
 *   framework_handle_subscribe() -> ACTIVE
 *     ACTIVE --peer lost: framework_disconnected()--> DISCONNECTED
 *     DISCONNECTED --framework_handle_subscribe() (same id)--> ACTIVE
 *   DISCONNECTED --on_tick(): failover timeout--> framework_remove() -> REMOVED (tasks killed)
 *   RECOVERED (from the registry after a master restart) behaves as DISCONNECTED.
 *   TEARDOWN from ACTIVE -> framework_remove() -> REMOVED at once (an operator's
 *   master_teardown() first sends the framework a fatal ERROR). SUBSCRIBE (same
 *   id) keeps the framework's allocations: only its roles and activity change in
 *   the allocator. A REMOVED framework leaves the live set for the bounded list
 *   of completed frameworks; its id is refused from then on, and tasks of it that
 *   agents report later are orphans (killed, booked until they end).
 *
 * Task states follow Mesos (see docs/master.md for the diagram): a task is
 * created STAGING when its ACCEPT is valid (or ERROR when not: validate.c), then
 * follows the agent's updates; UNREACHABLE and LOST come from the master when an
 * agent is lost; terminal states are never left. A task is forgotten once it is
 * terminal and its last update acknowledged (it is kept in a bounded list of
 * completed tasks for /state).
 */
#ifndef AGORA_MASTER_H
#define AGORA_MASTER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "hmap.h"
#include "http_auth.h"
#include "http_guard.h"
#include "tls.h"
#include "ids.h"
#include "msg.h"
#include "resources.h"

struct master; /* opaque: its layout is in master_int.h, for the core files only */
struct flag;
struct alloc_role_info;
struct metrics;
struct acls;
struct registry;

/*
 * The records below are read-only outside the master core: the iterators hand
 * out const pointers valid until control returns to the loop.
 */
enum agent_state { AGENT_ACTIVE, AGENT_UNREACHABLE, AGENT_RECOVERED, AGENT_REMOVED };
enum fw_state { FW_ACTIVE, FW_DISCONNECTED, FW_REMOVED };

struct master_flags {
    char *ip;
    char *hostname; /* --hostname: a name clients reach the master by (Host allow-list) */
    char *advertise_ip; /* --advertise_ip: the address published in ZooKeeper */
    char *zk;           /* --zk: zk://HOSTS/PATH, high availability; NULL or "": none */
    int64_t zk_session_timeout_ms;
    int64_t port;
    char *work_dir;
    int64_t agent_ping_timeout_ms;
    int64_t max_agent_ping_timeouts;
    int64_t offer_timeout_ms; /* 0 = offers never time out */
    int64_t agent_reregister_timeout_ms;
    int64_t allocation_interval_ms;
    char *credentials;
    char *acls; /* --acls: a file, or the JSON itself */
    char *roles_sorter;
    char *framework_sorter;
    char *weights;
    char *min_allocatable_resources;
    int64_t max_completed_tasks;
    int64_t max_completed_frameworks;
    int64_t max_frameworks_per_principal; /* frameworks not removed, per principal; 0: no cap */
    int64_t max_roles_per_framework;      /* roles one SUBSCRIBE may name; 0: no cap */
    int64_t max_roles;                    /* distinct roles of frameworks; 0: no cap */
    char *logging_level;
    char *accounting_db;
    int64_t accounting_raw_retention_ms;
    bool authenticate;                  /* derived: credentials given */
    struct http_auth_flags http_auth;   /* --http_credentials, --authenticate_http_* */
    struct http_guard_flags http_guard; /* --http_request_timeout, ... */
    struct tls_flags tls;               /* --tls_*: with a certificate, --port serves only TLS */
};

struct task;

struct agent {
    char id[AG_ID_MAX];
    enum agent_state state;
    uint32_t peer; /* 0 when not connected */
    char principal[128]; /* who registered it (authentication on); "" = nobody yet */
    char *hostname;
    char *http_address;
    char *version;
    char task_user[128]; /* the user a task naming none runs as; "": unknown */
    bool task_user_only; /* every task runs as task_user */
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
    char principal[128]; /* who registered it (authentication on); "" = nobody yet */
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

/* ---- life cycle ---- */

/* A master with id `id` (its UUID, base of the ids it makes); `flag_table` is
 * served at /flags. NULL when out of memory. */
struct master *master_new(const char *id, const struct flag *flag_table);

/* Starts a master on `loop` with `flags` (copied by reference: they must outlive
 * it): opens the allocator, the registry and the accounting recorder, and loads
 * the registry. Returns 0, or a negative AG_E* code with the reason logged. */
int master_start(struct master *m, uv_loop_t *loop, struct master_flags *flags);

/* Listens for agents and frameworks on flags->ip:port (after the HTTP server
 * on the same port, if any, is open) and starts the timers (main watches the
 * signals). 0 or a negative AG_E* code (logged). */
int master_listen(struct master *m);

/*
 * High availability: before master_start(), a master elected through
 * ZooKeeper is given its registry (`reg`, which it then owns and closes; the
 * SQLite registry in --work_dir is opened otherwise), its leader `epoch`
 * (stamped on every message it sends, so that agents and frameworks drop a
 * deposed leader's; common/msg.h) and its info as it stands in ZooKeeper
 * (`info_json`, copied; /state shows it as leader_info).
 */
void master_set_leadership(struct master *m, struct registry *reg, uint64_t epoch,
                           const char *info_json);
/* The epoch given there (0 without high availability) and the info (NULL). */
uint64_t master_epoch(const struct master *m);
const char *master_leader_info(const struct master *m);

/* Calls `fn(arg)` once when the master stops (master_stop, also on a signal): a
 * front end closes its own server there. */
void master_on_stop(struct master *m, void (*fn)(void *arg), void *arg);

/* Closes everything; the loop must run on until its handles are closed. */
void master_stop(struct master *m);

/* Frees the master (and its memory) once its loop has finished. */
void master_free(struct master *m);

/* Seconds since the epoch, wall clock. */
double master_clock(void);

/* ---- operations (each logged, each schedules an allocation pass at once) ---- */

/*
 * Reserves `resources` (every item names its role, e.g. "cpus(web):1") on agent
 * `agent_id` from its unreserved ("*") resources; master_unreserve does the
 * reverse. The resources must be unallocated on the agent. The new total is
 * stored in the registry. Returns 0; -AG_ENOENT (unknown agent), -AG_EINVAL
 * (bad resources, `err` says why) or another -AG_E* (not available: `err`).
 */
int master_reserve(struct master *m, const char *agent_id, const struct resources *resources,
                   char *err, size_t errlen);
int master_unreserve(struct master *m, const char *agent_id, const struct resources *resources,
                     char *err, size_t errlen);

/* Sets (or, with both empty, removes) the quota of `role`. 0 or -AG_E* (the
 * guarantee exceeds the limit: nothing changed). */
int master_set_quota(struct master *m, const char *role, const struct resources *guarantee,
                     const struct resources *limit);

/* Sets the weight (> 0) of `role`. 0 or -AG_EINVAL. */
int master_set_weight(struct master *m, const char *role, double weight);

/* Kills every task of framework `framework_id` and removes it (operator
 * teardown); a connected framework first gets a fatal ERROR (`why`).
 * 0 or -AG_ENOENT (no such live framework). */
int master_teardown(struct master *m, const char *framework_id, const char *why);

/* Drains agent `agent_id` (`on`) or ends its draining: a draining agent gets
 * no new offers (its outstanding offers are rescinded) and its tasks keep
 * running. The state is stored in the registry before it takes effect, so it
 * survives a master restart. 0, -AG_ENOENT, or the registry's -AG_E* (nothing
 * changed). */
int master_drain_agent(struct master *m, const char *agent_id, bool on);

/* ---- read-only views (master/view.c) ---- */

const char *master_id(const struct master *m);
double master_start_time(const struct master *m);
const struct master_flags *master_flags(const struct master *m);
const struct flag *master_flag_table(const struct master *m);
/* The ACLs of --acls (master/acl.h), or NULL when none were given (everything
 * is authorized). */
const struct acls *master_acls(const struct master *m);
uv_loop_t *master_loop(const struct master *m);
/* The accounting database the recorder writes: a file, or a postgresql:// URI
 * that may hold a password (show it only through txt_redact_uri). */
const char *master_accounting_path(const struct master *m);
/* Whether `peer` ("IP:PORT") is an agent's or framework's link (http_guard.h). */
bool master_is_stream_link(void *m, const char *peer);
size_t master_agent_count(const struct master *m);
/* Agents connected and ACTIVE, and the others. */
void master_agent_counts(const struct master *m, size_t *active, size_t *inactive);

/* Call `fn` for each live agent, live framework, removed framework (oldest
 * first, at most --max_completed_frameworks), completed task (at most
 * --max_completed_tasks) and outstanding offer. `fn` must not change the master. */
void master_foreach_agent(const struct master *m, void (*fn)(void *arg, const struct agent *a),
                          void *arg);
void master_foreach_framework(const struct master *m,
                              void (*fn)(void *arg, const struct framework *fw), void *arg);
void master_foreach_completed_framework(const struct master *m,
                                        void (*fn)(void *arg, const struct framework *fw),
                                        void *arg);
void master_foreach_completed_task(const struct master *m,
                                   void (*fn)(void *arg, const struct completed_task *c),
                                   void *arg);
void master_foreach_offer(const struct master *m, void (*fn)(void *arg, const struct offer *o),
                          void *arg);

/* The allocator's view of each role (weights, quota, allocation). */
void master_foreach_role(const struct master *m,
                         void (*fn)(void *arg, const struct alloc_role_info *info), void *arg);

/* The master's metrics registry (common/metrics.h): its counters and the
 * gauges computed from its state (mmetrics.c), for /metrics and /metrics/snapshot. */
struct metrics *master_metrics(const struct master *m);

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

#endif
