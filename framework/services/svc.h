/*
 * svc: the agora-services core: the daemon's state (apps, their tasks and
 * deployments, agents seen in offers) and everything that converges it:
 * status updates, kills and task ends, relaunch backoff, health-based
 * replacement, the convergence pass (deploy.h's conv_run per app), the
 * operations the API asks for, loading from the store, and the effects that
 * wait for the commit. It has no socket, no driver and no timer of its own:
 * the effects go out through `struct svc_fx` (the driver bridge, or a test),
 * and its callers drive it (see the module picture in docs/architecture.md):
 *
 *   main.c        wiring: flags, the loop, its handles, start and stop order
 *   api.c         the REST API (common/http) -> svc, svc_render, svc_deployments
 *   svc_driver.c  the driver-thread bridge: driver callbacks -> evq -> svc,
 *                 svc_offers; implements svc_fx with ag_driver_*
 *   svc_offers.c  offers -> placements (planner.h) -> launches
 *   svc_render.c  JSON views of apps, tasks and the launch queue
 *   svc.c         this core; calls svc_deployments, deploy, app, store, events
 *   svc_deployments.c  deployment records, rollback, app definitions
 *
 * Threads. Everything here runs on the one loop thread that owns the state
 * (the driver's callbacks reach it through svc_driver's evq; HTTP requests
 * through common/http). Nothing here is thread-safe.
 *
 * Persistence and the order of effects. Every change is written to the store
 * (SQLite) in the transaction of the current loop turn; at the end of the
 * turn (svc_end_turn, or svc_flush() before an HTTP reply) the transaction
 * commits and only then are the effects that depend on it sent: task
 * launches (ACCEPT), kills, and status acknowledgements (automatic
 * acknowledgement is off, so an update the store has not recorded is resent
 * by its agent). A crash at any point therefore restarts from a state that
 * covers everything the outside world has seen: no task runs that the store
 * does not know. A failed write or commit is fatal (the process exits and
 * restarts from the last commit). Declines, revive/suppress and the kill of
 * an unknown task depend on nothing stored and go out at once.
 *
 * Task life as svc sees it (states are Mesos'):
 *
 *   (offer fits, svco_handle) -> STAGING --persist--> ACCEPT sent -> STARTING
 *        -> RUNNING                                       (svc_status_update)
 *        RUNNING -(healthy 0/1)-> health verdicts (health_status_changed_event)
 *        any -> UNREACHABLE/UNKNOWN (agent away) -> RUNNING (agent back)
 *        any -> terminal: the record is deleted; unless svc asked for the
 *                 kill, the app's launch delay grows (backoff) and
 *                 lastTaskFailure is set.
 *   A kill sets `kill` (the reason) first; the task keeps its capacity until
 *   its terminal update.
 *
 * After a restart svc resumes its framework id, reconciles every task it has
 * on record plus an implicit reconciliation (unknown tasks are killed), and
 * makes no launch or kill decision until the explicit reconciliation answered
 * (or --reconciliation_timeout passed): `reconciled` below, kept by the
 * driver bridge.
 */
#ifndef AGORA_SERVICES_SVC_H
#define AGORA_SERVICES_SVC_H

#include "error.h" /* before <agora/scheduler.h> */
#include "app.h"
#include "clock.h"
#include "deploy.h"
#include "hmap.h"
#include "http_auth.h"
#include "http_guard.h"
#include "tls.h"
#include "log.h"
#include "xalloc.h"

#include <agora/scheduler.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

struct store;
struct events;
struct metrics;
struct http_server;

struct acls;

struct svc_flags {
    char *master;
    char *ip;
    int64_t http_port;
    char *hostname;
    char *work_dir;
    char *principal;
    char *secret;      /* deprecated: argv is readable by every local user */
    char *secret_file; /* first line: the secret */
    int64_t failover_timeout_ms;
    char *framework_name;
    char *role;
    char *user;
    char *secrets_dir;        /* --secrets_dir: the secret store, a file per source */
    int64_t decline_ms;       /* filter for offers nothing needs */
    int64_t decline_unfit_ms; /* filter for offers that did not fit what waits */
    int64_t max_versions;
    bool auto_rollback;
    int64_t rollback_failures;
    double unhealthy_kill_rate; /* kills of unhealthy tasks per second, all apps */
    int64_t unhealthy_kill_burst;
    int64_t reconciliation_timeout_ms;
    int64_t max_tasks_per_offer;
    char *logging_level;
    struct http_auth_flags http_auth;   /* --http_credentials, --authenticate_http_* */
    struct http_guard_flags http_guard; /* --http_request_timeout, ... */
    struct tls_flags tls;               /* --tls_*: its port on https://, the master over wss:// */
    char *acls;                         /* --acls: a file, file://FILE or the JSON */
    char *zk;                           /* --zk: zk://HOSTS/PATH, NULL or "": no HA */
    int64_t zk_session_timeout_ms;
    bool ha;                            /* --ha: non-leaders proxy the API to the leader */
    const struct acls *acl_rules;       /* --acls parsed (main.c); NULL: none */
};

enum svc_dep_kind { DEP_START, DEP_SCALE, DEP_UPGRADE, DEP_RESTART, DEP_STOP, DEP_ROLLBACK };

/* Why an offer did not take a task of an app (counted per app for /v2/queue). */
enum svc_reject {
    SVC_REJ_CONSTRAINT,
    SVC_REJ_CPUS,
    SVC_REJ_MEM,
    SVC_REJ_DISK,
    SVC_REJ_PORTS,
    SVC_REJ_OTHER,
    SVC_REJ_MAX
};

struct svc_app;

struct svc_task {
    char id[64];
    struct svc_app *app;
    char agent_id[64];
    char *host;
    char *attrs_text;
    struct attributes attrs;
    uint32_t ports[APP_MAX_PORTS];
    size_t nports;
    char version[APP_VERSION_LEN + 1];
    char cfg_version[APP_VERSION_LEN + 1];
    enum ag_task_state state;
    int healthy;    /* -1 no verdict, 0, 1 */
    int kill;       /* enum conv_reason; 0 = not killed */
    bool returned;  /* was inactive, came back */
    bool kill_sent; /* kill sent since the last (re)subscription */
    double staged_at, started_at, unreachable_since;
    double health_at; /* when the last verdict changed */
    double kill_at;   /* when the kill was last sent */
    int64_t seq;
    size_t slot; /* index in app->tasks */
};

struct svc_dep {
    char id[40];
    struct svc_app *app;
    enum svc_dep_kind kind;
    char version[APP_VERSION_LEN + 1];
    json_t *original; /* the definition before (NULL for a new app) */
    int failures;     /* failures of new-version tasks (automatic rollback) */
    double started;
    char rollback_of[40]; /* "" unless this deployment rolls another one back */
};

struct svc_app {
    struct app_spec *spec;
    char prefix[32]; /* task id prefix */
    struct svc_dep *dep;
    struct svc_task **tasks; /* non-terminal tasks */
    size_t ntasks, cap;
    double delay_s; /* current launch delay (0: none) */
    double backoff_until;
    json_t *last_failure;
    int launch; /* tasks to start, from the last convergence */
    double queued_since;
    /* offers seen while tasks waited, for /v2/queue */
    uint64_t offers_processed, offers_unused;
    uint64_t rejects[SVC_REJ_MAX];
};

/* An agent seen in offers (for GROUP_BY); memory only. */
struct svc_agent {
    char *hostname;
    struct attributes attrs;
};

/*
 * The effects svc sends, as a table of functions (svc_driver.c implements it
 * with ag_driver_*; tests record the calls). Called on the loop thread.
 * `accept` returns 0 or a negative AG_E* code when the launch was not sent;
 * it takes nothing. `ack` sends the acknowledgement of the status update
 * whose token svc_status_update was given when `send`, and releases `token`
 * either way.
 */
struct svc_fx {
    int (*accept)(void *arg, const char *offer_id, struct ag_task *const *tasks, size_t n,
                  double refuse_s);
    void (*decline)(void *arg, const char *offer_id, double refuse_s);
    void (*kill)(void *arg, const char *task_id, const char *agent_id /* NULL: unknown */);
    void (*ack)(void *arg, void *token, bool send);
    void (*revive)(void *arg);
    void (*suppress)(void *arg);
};

struct svc_out; /* effects waiting for the commit */

struct svc {
    const struct svc_flags *f;
    struct store *store;
    struct events *events;
    struct metrics *metrics;
    struct http_server *http; /* the REST API's server: set by main.c, used by api.c */
    const struct svc_fx *fx;  /* set before the first loop turn */
    void *fx_arg;
    struct hmap apps;   /* id -> struct svc_app */
    struct hmap tasks;  /* task id -> struct svc_task */
    struct hmap deps;   /* deployment id -> struct svc_dep */
    struct hmap agents; /* agent id -> struct svc_agent, from offers */
    char framework_id[64];
    char leader[300]; /* host:port of this instance */
    const char *default_roles[3];
    bool subscribed; /* the driver bridge's view of the connection */
    bool reconciled; /* launch and kill decisions allowed (see above) */
    double reconcile_started;
    int offers_wanted; /* -1 unknown, 0 suppressed, 1 revived */
    int last_pending;  /* tasks waiting at the last revive/suppress decision */
    bool dirty;        /* some app needs a convergence pass */
    double tokens, tokens_at;
    int64_t seq;
    double last_version;
    double started_at;
    struct svc_out *out;
    int ticks;
    bool stopping;
    int exit_code; /* the process's exit status once the loop ends (1 after a fatal error) */
    /* --zk: DELETE /v2/leader calls it (after its reply) to give leadership
     * up; NULL without --zk */
    void (*abdicate)(void *arg);
    void *abdicate_arg;
    /* metrics handles */
    struct metrics_counter *m_launched, *m_killed, *m_failed, *m_updates, *m_offers, *m_declined,
        *m_dep_ok, *m_dep_failed, *m_rollbacks, *m_unhealthy_kills;
};

/* A status update as svc needs it (strings valid during the call). */
struct svc_update {
    const char *task_id, *agent_id, *reason, *message, *source;
    enum ag_task_state state;
    int healthy; /* -1 no verdict */
};

/* What a fatal store failure runs before exit(1) when not NULL (main.c with
 * --zk: the process starts over as a contender); it may not return. */
extern void (*svc_fatal_hook)(void);

/* A store write that failed: fatal (see "Persistence" above). */
static inline void
svc_store_check(int rc, const char *what)
{
    if (rc != 0) {
        log_error("store: %s failed: %s; exiting to restart from the last commit", what,
                  ag_strerror(rc));
        if (svc_fatal_hook != NULL)
            svc_fatal_hook();
        exit(1);
    }
}
#define SVC_STORE(call) svc_store_check((call), #call)

/* ---- life ---- */

/*
 * Initializes `s` (flags `f` kept, not copied), opens <work_dir>/services.db
 * (or takes `st`, an open store, when not NULL: the ZooKeeper store of --zk;
 * closed by svc_fini either way) and loads the state. The effects go to `fx`/`fx_arg` (may be set
 * later, before the first svc_end_turn). On failure returns a negative code after logging why;
 * svc_fini cleans up either way.
 */
int svc_open(struct svc *s, const struct svc_flags *f, struct store *st);
/* Commits what is pending and closes the event streams (the loop can end). */
void svc_stop(struct svc *s);
/* Frees everything svc_open made; effects still queued are released unsent. */
void svc_fini(struct svc *s);

/* The end of a loop turn: converges when something changed, asks for offers
 * or suppresses them, commits and sends what waited. */
void svc_end_turn(struct svc *s);
/* Commits the store and sends what waited for it. */
void svc_flush(struct svc *s);
/* Once a second: the unhealthy-kill budget, kill resends, keepalives. */
void svc_tick(struct svc *s);

/* ---- the driver bridge's entries ---- */

/* A status update; `ack` (may be NULL) is acknowledged through svc_fx.ack
 * after the commit. */
void svc_status_update(struct svc *s, const struct svc_update *u, void *ack);
/* (Re)subscribed: the kills not yet confirmed are sent again. */
void svc_subscribed(struct svc *s);
/* The master removed the framework: every task is gone (TASK_LOST). */
void svc_tasks_forget(struct svc *s, const char *reason, const char *message);

/* ---- the offer module's entries ---- */

/* Runs the convergence pass (once reconciled) while some app changed. */
void svc_converge(struct svc *s);
/* Tasks waiting to be launched now (launch delays passed). */
int svc_pending_launches(struct svc *s, double now);
/* Records a new STAGING task (taken) of `app` and persists it. */
void svc_task_add(struct svc *s, struct svc_app *app, struct svc_task *t);
void svc_task_free(struct svc_task *t);
/* Queues the launch of `tasks` (taken, with their ids) on one offer for the
 * commit; a launch that cannot be sent drops them (TASK_DROPPED). */
void svc_accept(struct svc *s, const char *offer_id, struct ag_task **tasks, char **task_ids,
                size_t n, double refuse_s);
/* Declines an offer now. */
void svc_decline(struct svc *s, const char *offer_id, double refuse_s);

/* ---- queries ---- */
struct svc_app *svc_app_get(struct svc *s, const char *id);
/* The apps sorted by id (a malloc'd array the caller frees). */
struct svc_app **svc_apps_sorted(struct svc *s, size_t *n);

/* ---- changes (API) ---- */

/*
 * Makes `spec` (owned, taken) the app's definition and starts a deployment:
 * START for a new app, SCALE when only the instance count changed (or
 * nothing), UPGRADE otherwise; RESTART when `restart`. With a deployment in
 * progress returns -AG_EEXIST and sets *conflict, unless `force` (the old
 * deployment is then cancelled, reported deployment_failed). Sets *dep.
 * The spec's version fields are filled in here.
 */
int svc_app_apply(struct svc *s, struct app_spec *spec, bool restart, bool force,
                  struct svc_dep **dep, struct svc_dep **conflict);

/* Removes an app: a STOP deployment kills its tasks, then the app is gone. */
int svc_app_remove(struct svc *s, struct svc_app *app, bool force, struct svc_dep **dep,
                   struct svc_dep **conflict);

/*
 * Kills tasks through the API. `scale`: the app's instance count goes down by
 * the number killed (a SCALE deployment, *dep set; conflicts as above) and
 * the tasks are not replaced; otherwise they are replaced as failed ones are
 * (without backoff).
 */
int svc_tasks_kill(struct svc *s, struct svc_task **tasks, size_t n, bool scale, bool force,
                   struct svc_dep **dep, struct svc_dep **conflict);

/* Cancels a deployment: rolls back (a new deployment to the definition before,
 * or a STOP for a new app; *rollback set) or, with `force`, just forgets it. */
int svc_dep_cancel(struct svc *s, struct svc_dep *dep, bool force, struct svc_dep **rollback);

/* Resets the launch delay of an app. */
void svc_reset_delay(struct svc *s, struct svc_app *app);

/* Emits an event (stolen). */
void svc_emit(struct svc *s, json_t *event);

#endif
