/*
 * svc: the agora-services daemon state and everything that changes it: apps,
 * their tasks and deployments, the scheduler driver glue, offers, status
 * updates, relaunch backoff, health-based replacement and failover.
 *
 * Threads. One libuv loop thread owns all of this state. The scheduler
 * driver (libagora-scheduler) runs its own thread; its callbacks copy what
 * they get and hand it to the loop through an evq; the loop calls ag_driver_*
 * (thread-safe) to answer. HTTP requests reach the loop through common/http.
 *
 * Persistence and the order of effects. Every change is written to the store
 * (SQLite) in the transaction of the current loop turn; at the end of the
 * turn (a uv_prepare handle, or svc_flush() before an HTTP reply) the
 * transaction commits and only then are the effects that depend on it sent:
 * task launches (ACCEPT), kills, and status acknowledgements (automatic
 * acknowledgement is off, so an update the store has not recorded is resent
 * by its agent). A crash at any point therefore restarts from a state that
 * covers everything the outside world has seen: no task runs that the store
 * does not know. A failed commit is fatal (the process exits and restarts
 * from the last commit).
 *
 * Task life as svc sees it (states are Mesos'):
 *
 *   (offer fits) -> STAGING --persist--> ACCEPT sent -> STARTING -> RUNNING
 *        RUNNING -(healthy 0/1)-> health verdicts (health_status_changed_event)
 *        any -> UNREACHABLE/UNKNOWN (agent away) -> RUNNING (agent back)
 *        any -> terminal: the record is deleted; unless svc asked for the
 *                 kill, the app's launch delay grows (backoff) and
 *                 lastTaskFailure is set.
 *   A kill sets `kill` (the reason) first; the task keeps its capacity until
 *   its terminal update.
 *
 * After a restart svc resumes its framework id, reconciles every task it has
 * on record (ag_driver_reconcile_until_known) plus an implicit reconciliation
 * (unknown tasks are killed), and makes no launch or kill decision until the
 * explicit reconciliation answered (or --reconciliation_timeout passed).
 */
#ifndef AGORA_SERVICES_SVC_H
#define AGORA_SERVICES_SVC_H

#include "error.h" /* before <agora/scheduler.h> */
#include "app.h"
#include "deploy.h"
#include "evq.h"
#include "hmap.h"

#include <agora/scheduler.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct store;
struct events;
struct metrics;
struct http_server;

struct svc_flags {
    char *master;
    char *ip;
    int64_t http_port;
    char *hostname;
    char *work_dir;
    char *principal;
    char *secret;
    int64_t failover_timeout_ms;
    char *framework_name;
    char *role;
    char *user;
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
};

enum svc_dep_kind { DEP_START, DEP_SCALE, DEP_UPGRADE, DEP_RESTART, DEP_STOP, DEP_ROLLBACK };

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
    uint64_t rejects[8];
};

/* An agent seen in offers (for GROUP_BY); memory only. */
struct svc_agent {
    char *hostname;
    struct attributes attrs;
};

struct svc_out; /* effects waiting for the commit */

struct svc {
    uv_loop_t *loop;
    const struct svc_flags *f;
    struct store *store;
    struct events *events;
    struct metrics *metrics;
    struct http_server *http;
    struct ag_driver *driver;
    struct evq q;
    uv_prepare_t prepare;
    uv_timer_t tick;
    uv_signal_t sigint, sigterm;
    struct hmap apps;   /* id -> struct svc_app */
    struct hmap tasks;  /* task id -> struct svc_task */
    struct hmap deps;   /* deployment id -> struct svc_dep */
    struct hmap agents; /* agent id -> struct svc_agent, from offers */
    char framework_id[64];
    char leader[300]; /* host:port of this instance */
    const char *default_roles[3];
    bool subscribed;
    bool reconciled;
    double reconcile_started;
    int offers_wanted; /* -1 unknown, 0 suppressed, 1 revived */
    int last_pending;  /* tasks waiting at the last revive/suppress decision */
    bool dirty;        /* some app needs a convergence pass */
    double tokens, tokens_at;
    int64_t seq;
    double last_version;
    double started_at;
    struct svc_out *out;
    struct ag_offer **offers; /* offers of this loop turn, handled together */
    size_t noffers, capoffers;
    int ticks;
    bool stopping;
    int exit_code; /* the process's exit status once the loop ends (1 after a fatal error) */
    const char *rollback_of; /* for dep_new: the deployment a rollback undoes */
    /* metrics handles */
    struct metrics_counter *m_launched, *m_killed, *m_failed, *m_updates, *m_offers, *m_declined,
        *m_dep_ok, *m_dep_failed, *m_rollbacks, *m_unhealthy_kills;
};

/* Opens the store, loads state, starts the HTTP API and the driver. On failure
 * returns a negative code after logging why; svc_stop + uv_run + svc_fini
 * clean up. */
int svc_start(struct svc *s, uv_loop_t *loop, const struct svc_flags *f);
/* Stops the driver (the framework stays registered for its failover
 * timeout), the API and timers; the loop then ends. */
void svc_stop(struct svc *s);
void svc_fini(struct svc *s);

/* Commits the store and sends what waited for it. */
void svc_flush(struct svc *s);

/* ---- queries ---- */
struct svc_app *svc_app_get(struct svc *s, const char *id);
/* The apps sorted by id (a malloc'd array the caller frees). */
struct svc_app **svc_apps_sorted(struct svc *s, size_t *n);
double svc_now(void);

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

/* ---- JSON views ---- */

/* A growing text buffer (p is NUL-terminated; free(p) when done). */
struct svc_buf {
    char *p;
    size_t len, cap;
};
void svc_buf_put(struct svc_buf *b, const char *data, size_t len);
/* Appends a task / a JSON array of tasks as JSON text (fast path for big lists). */
void svc_task_text(struct svc *s, const struct svc_task *t, struct svc_buf *b);
void svc_tasks_text(struct svc *s, struct svc_task *const *tasks, size_t n, struct svc_buf *b);

/* New references: */
json_t *svc_task_json(struct svc *s, const struct svc_task *t);
/* `tasks`, `failure`: embed the tasks and lastTaskFailure. */
json_t *svc_app_json(struct svc *s, struct svc_app *app, bool tasks, bool failure);
json_t *svc_dep_json(struct svc *s, const struct svc_dep *dep);
/* The app's counts: staged, running, healthy, unhealthy. */
void svc_app_counts(const struct svc_app *app, int *staged, int *running, int *healthy,
                    int *unhealthy);

/* The launch queue (/v2/queue): {"queue": [...]}. */
json_t *svc_queue_json(struct svc *s);

/* Emits an event (stolen). */
void svc_emit(struct svc *s, json_t *event);

#endif
