/*
 * The master's state, for the master core only (the files in master/ other than
 * the front ends http_api.c and main.c, which use master.h). One loop thread
 * owns everything here; see master.h for the state diagrams and
 * docs/architecture.md for which file may call which.
 */
#ifndef AGORA_MASTER_INT_H
#define AGORA_MASTER_INT_H

#include "acl.h"
#include "master.h"

struct registry;
struct tp_server;
struct alloc;
struct metrics;
struct acct;

enum peer_kind { PEER_NEW, PEER_AGENT, PEER_FRAMEWORK };

struct peer {
    uint32_t id; /* transport peer (nng pipe id) */
    enum peer_kind kind;
    char owner[AG_ID_MAX]; /* agent or framework id once known */
    char addr[64];         /* remote IP address; "" when unknown (ipc, tests) */
    bool authenticated;
    char principal[128];
    uint8_t nonce[32];
    bool challenged;
};

struct master {
    uv_loop_t *loop;
    struct master_flags flags;
    char id[AG_ID_MAX]; /* this master's UUID, base of the ids it makes */
    double start_time;
    double now; /* refreshed at the start of each callback */
    uint64_t next_agent, next_framework, next_offer;
    struct registry *reg;
    uint64_t epoch;    /* leader epoch stamped on every message (0: no high availability) */
    char *leader_info; /* this master's info as it stands in ZooKeeper (JSON), or NULL */
    struct tp_server *tp;
    void (*on_stop)(void *arg); /* master_on_stop */
    void *on_stop_arg;
    int (*send_hook)(void *arg, uint32_t peer, const void *buf, size_t len); /* the seam */
    void *send_hook_arg;
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
    struct acls *acls;       /* --acls (master/acl.h); NULL: none */
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
    bool stopping;
    bool handles_open;
    /* counters in m->metrics (mmetrics_register): metrics_inc(m->ctr.x) */
    struct {
        struct metrics_counter *msgs_in, *msgs_out, *msgs_invalid;
        struct metrics_counter *tasks_launched, *tasks_error;
        struct metrics_counter *offers_sent, *offers_rescinded, *offers_declined;
        struct metrics_counter *updates_forwarded, *alloc_runs;
        struct metrics_counter *orphans_killed;       /* tasks of removed frameworks killed */
        struct metrics_counter *agents_overcommitted; /* admitted with more in use than total */
        struct metrics_counter *agents_refused;       /* refused by the allocator outright */
        struct metrics_counter *books_checks, *books_problems;
    } ctr;
    double alloc_last_ms, alloc_max_ms;
};

/* ---- the core files, lowest layer first: a file calls only those above it ---- */

/* core.c: helpers every core file may call (calls no other master file) */
void core_touch(struct master *m);
void core_send_error(struct master *m, uint32_t peer, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void core_peer_close(struct master *m, uint32_t id);
struct peer *core_peer(struct master *m, uint32_t id);
void core_task_key(char *out, size_t len, const char *fwid, const char *tid);
struct framework *core_framework(struct master *m, const char *id);
const char *core_fw_role(struct framework *fw);
struct agent *core_agent(struct master *m, const char *id);
/* Whether peer `p` may act on an agent or framework registered by `owner`:
 * always without authentication; with it, only when p authenticated as
 * `owner`, or `owner` is "" (registered before authentication was on: the
 * first principal to come back claims it) and `claim` is set. */
bool core_peer_owns(const struct master *m, const struct peer *p, const char *owner, bool claim);
/* The principal peer `p` proved (NULL without authentication: the peer is
 * anonymous to the ACLs), and whether it may do `action` on `object`
 * (acl_authorized with --acls; true without). A refusal is logged. */
const char *core_peer_principal(const struct master *m, const struct peer *p);
bool core_authorized(const struct master *m, const char *principal, enum acl_action action,
                     const char *object);

/* allocation.c: allocation passes; agents and frameworks in the allocator (calls core.c) */
void allocation_run(struct master *m, bool full);
void allocation_schedule(struct master *m);
void allocation_schedule_full(struct master *m);
void allocation_agent_left(struct master *m, struct agent *a);
int allocation_add_agent(struct master *m, struct agent *a);
int allocation_add_framework(struct master *m, struct framework *fw, bool active);
int allocation_update_framework(struct master *m, struct framework *fw);

/* offers.c: outstanding offers (calls allocation.c, core.c) */
void offer_free(struct offer *o);
struct offer *offer_take(struct master *m, const char *id);
void offer_rescind(struct master *m, const char *id, bool tell, double refuse_seconds);
void offer_rescind_where(struct master *m, const char *framework_id, const char *agent_id,
                         bool tell);

/* tasks.c: task records (calls allocation.c, core.c) */
void task_record_start(struct master *m, const struct msg_task_info *ti, const char *role);
void task_free(struct task *t);
void task_recover_resources(struct master *m, struct task *t);
void task_forget(struct master *m, struct task *t);
void task_forward_status(struct master *m, struct task *t);
void task_master_update(struct master *m, struct task *t, enum msg_task_state state,
                        const char *reason, const char *message);
void task_send_untracked_status(struct master *m, struct framework *fw, const char *task_id,
                                const char *agent_id, enum msg_task_state state, const char *reason,
                                const char *message);
struct task *task_adopt(struct master *m, struct agent *a, const struct msg_agent_task *at);
void task_error(struct master *m, struct framework *fw, const struct msg_task_info *ti,
                const char *agent_id, const char *why);

/* agents.c: agents (calls tasks.c, offers.c, allocation.c, core.c) */
void agent_free(struct agent *a);
struct agent *agent_new(const char *id);
int agent_store(struct master *m, const struct agent *a);
void agent_handle_register(struct master *m, struct peer *p, struct msg *msg);
void agent_lost(struct master *m, struct agent *a, const char *why);
void agent_remove(struct master *m, struct agent *a, const char *why);
void agent_handle_pong(struct master *m, struct peer *p, struct msg *msg);
void agent_handle_status_update(struct master *m, struct peer *p, struct msg *msg);

/* frameworks.c: frameworks (calls tasks.c, offers.c, allocation.c, core.c) */
void framework_free(struct framework *fw);
struct framework *framework_new(const char *id, const struct msg_framework_info *info);
void framework_handle_subscribe(struct master *m, struct peer *p, struct msg *msg);
void framework_disconnected(struct master *m, struct framework *fw);
void framework_remove(struct master *m, struct framework *fw, const char *why, bool tell);

/* calls.c: framework calls (calls agents.c, tasks.c, offers.c, allocation.c, core.c) */
void call_accept(struct master *m, struct framework *fw, struct msg *msg);
void call_decline(struct master *m, struct framework *fw, struct msg *msg);
void call_kill(struct master *m, struct framework *fw, struct msg *msg);
void call_reconcile(struct master *m, struct framework *fw, struct msg *msg);
void call_status_ack(struct master *m, struct framework *fw, struct msg *msg);
void call_roles_change(struct master *m, struct framework *fw, struct msg *msg, bool revive);
void call_framework_message(struct master *m, struct peer *p, struct msg *msg);
/* Sends `msg` to transport peer `peer` (master is the sender). Logs on failure. */
int master_send(struct master *m, uint32_t peer, struct msg *msg);

/* Registers the master's counters and gauges in m->metrics (mmetrics.c).
 * 0 or -AG_E*. */
int mmetrics_register(struct master *m);

/*
 * The transport seam, for tests of the core without sockets (tests/unit/
 * test_master.c). After master_start(), master_start_timers() starts what
 * master_listen() starts except the transport; master_peer_* deliver what the
 * transport would (a connection, a message's bytes, a disconnection). With a
 * send hook set, master_send hands each encoded message to it instead of the
 * transport (its return value is master_send's).
 */
typedef int (*master_send_fn)(void *arg, uint32_t peer, const void *buf, size_t len);
void master_set_send_hook(struct master *m, master_send_fn fn, void *arg);
void master_start_timers(struct master *m);
void master_peer_connect(struct master *m, uint32_t id);
/* Sets the remote address of a connected peer (the transport's job otherwise). */
void master_peer_set_addr(struct master *m, uint32_t id, const char *addr);
void master_peer_message(struct master *m, uint32_t id, const void *data, size_t len);
void master_peer_disconnect(struct master *m, uint32_t id);

/* Authentication (master/authn.c). */
int mauth_load_credentials(struct master *m);
int mauth_start(struct master *m, struct peer *p, struct msg *msg);
int mauth_response(struct master *m, struct peer *p, struct msg *msg);

#endif
