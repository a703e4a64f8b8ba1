/*
 * libagora-scheduler: the C API for writing Agora frameworks (schedulers).
 *
 * A framework creates a driver with its framework info and a set of callbacks,
 * starts it, and from then on receives resource offers and task status updates
 * and answers with calls (accept, decline, kill, ...). docs/scheduler-api.md
 * explains the concepts and has a complete example; this header is the
 * reference for each function.
 *
 * Threads. The driver runs its own thread (started by ag_driver_start) with its
 * own event loop. Every callback runs on that driver thread, one at a time, in
 * the order the master's messages arrived. Every ag_driver_* call is safe from
 * any thread, including from inside a callback:
 *   - on the driver thread (inside a callback) a call is carried out at once;
 *   - on any other thread it is handed to the driver thread, which carries out
 *     calls in the order they were made by that thread.
 * Callbacks must not block for long: nothing else (heartbeats, other updates)
 * is processed while one runs. ag_driver_join and ag_driver_free must not be
 * called from a callback (they wait for the driver thread to end).
 *
 * Errors. Every function that can fail returns 0 or a negative error code
 * (-AG_EINVAL, -AG_ENOMEM, ...; the list is below, ag_strerror names them).
 * Nothing in this library aborts the host program, out of memory included:
 * a call that cannot get memory returns -AG_ENOMEM and changes nothing.
 * ag_last_error() gives a one-line detail of the last failure in the calling
 * thread when there is one (e.g. which resource text was malformed).
 *
 * Objects. Framework info, offers, task statuses, tasks and operations are
 * opaque and reached through functions, so that they can grow without breaking
 * programs or plugins built against an older version of this header. Strings
 * given to the library are copied; strings returned by accessors are owned by
 * the object and live as long as it does. Functions that free accept NULL.
 *
 * Delivery. A call returning 0 was accepted by the driver: it is sent as soon
 * as the framework is subscribed and the rate limit allows, in the order calls
 * were made, and is reliable while the connection lasts. Offers die with the
 * connection, so accept and decline calls still unsent when it drops are
 * discarded (tasks they would have launched are reported TASK_DROPPED by the
 * driver itself); every other call stays queued and is sent after the driver
 * has resubscribed. A call in flight when the connection drops may be lost:
 * use reconciliation to learn what the master knows.
 */
#ifndef AGORA_SCHEDULER_H
#define AGORA_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef AG_API
#if defined(AGORA_SCHEDULER_BUILD)
#define AG_API __attribute__((visibility("default")))
#else
#define AG_API
#endif
#endif

/* Version of this API. Additions keep the major version. */
#define AG_SCHEDULER_VERSION_MAJOR 1
#define AG_SCHEDULER_VERSION_MINOR 3

/* Error codes (AG_OK, AG_EINVAL, ...; AG_ERRNO_MAP lists them) and ag_strerror. */
#include <agora/error.h>

/*
 * The detail of the last failure of an ag_ call in the calling thread (e.g.
 * `bad value "x2" for resource "cpus"`), or "" when there is none. Valid until
 * the next ag_ call in the same thread.
 */
AG_API const char *ag_last_error(void);

/* Sets the level of the library's log lines on stderr: "DEBUG", "INFO",
 * "WARNING" or "ERROR". Process-wide. Returns 0 or -AG_EINVAL. */
AG_API int ag_log_level(const char *level);

/* ---- task states ---- */

/* Task states as Mesos defines them. The wire name is "TASK_" + the suffix. */
enum ag_task_state {
    AG_TASK_STAGING,
    AG_TASK_STARTING,
    AG_TASK_RUNNING,
    AG_TASK_FINISHED,
    AG_TASK_FAILED,
    AG_TASK_KILLING,
    AG_TASK_KILLED,
    AG_TASK_LOST,
    AG_TASK_ERROR,
    AG_TASK_DROPPED,
    AG_TASK_UNREACHABLE,
    AG_TASK_GONE,
    AG_TASK_UNKNOWN,
};

/* "TASK_RUNNING", ...; "TASK_UNKNOWN" for values out of range. */
AG_API const char *ag_task_state_name(enum ag_task_state state);

/* True for states a task never leaves: FINISHED, FAILED, KILLED, LOST, ERROR,
 * DROPPED, GONE. */
AG_API bool ag_task_state_terminal(enum ag_task_state state);

/* ---- framework info (builder) ---- */

struct ag_framework_info;

/* A new framework info with no name, no roles (meaning role "*"), no
 * failover timeout (tasks are killed when the framework disconnects) and
 * checkpointing off. Returns NULL when out of memory. */
AG_API struct ag_framework_info *ag_framework_info_new(void);
AG_API void ag_framework_info_free(struct ag_framework_info *fi);

/* Setters: return 0, -AG_EINVAL (NULL or invalid value), or -AG_ENOMEM; on
 * failure the info is unchanged. Strings are copied. */
AG_API int ag_framework_info_set_name(struct ag_framework_info *fi, const char *name);
AG_API int ag_framework_info_set_user(struct ag_framework_info *fi, const char *user);
AG_API int ag_framework_info_set_hostname(struct ag_framework_info *fi, const char *hostname);
AG_API int ag_framework_info_set_webui_url(struct ag_framework_info *fi, const char *url);
/* Adds a role to receive offers for (Mesos role syntax, e.g. "web" or "eng/ml").
 * Adding a role twice is a no-op. */
AG_API int ag_framework_info_add_role(struct ag_framework_info *fi, const char *role);
/* Adds a capability, e.g. "PARTITION_AWARE" (TASK_UNREACHABLE instead of
 * TASK_LOST when an agent is cut off). */
AG_API int ag_framework_info_add_capability(struct ag_framework_info *fi, const char *cap);
/* Authenticate as `principal` with the shared `secret` (NULL secret: send the
 * principal only, without authentication). */
AG_API int ag_framework_info_set_principal(struct ag_framework_info *fi, const char *principal,
                                           const char *secret);
/* As ag_framework_info_set_principal with the secret read from the first line
 * of the file `path` (trailing blanks cut): a secret passed on a command line
 * is visible to every local user in /proc/PID/cmdline. Since 1.2. */
AG_API int ag_framework_info_set_secret_file(struct ag_framework_info *fi, const char *principal,
                                             const char *path);
/* Reach the master over TLS (wss://) even when given as "HOST:PORT": verify
 * its certificate, and its name against the host of the master address,
 * with the PEM CA certificates of `ca_file` (NULL: the system's CAs), and
 * present the PEM certificate `cert_file` with its key `key_file` (both NULL:
 * none; both needed by a master started with --tls_verify_peer). The files
 * are read now (-AG_EINVAL with the file and reason in ag_last_error()) and
 * again at each connection. A master given as "https://HOST:PORT" is reached
 * over TLS without this call, with the system's CAs. Since 1.3. */
AG_API int ag_framework_info_set_tls(struct ag_framework_info *fi, const char *ca_file,
                                     const char *cert_file, const char *key_file);
/* How long, in seconds, the master keeps the framework's tasks after it
 * disconnects (>= 0). */
AG_API int ag_framework_info_set_failover_timeout(struct ag_framework_info *fi, double seconds);
/* Whether agents checkpoint the framework's tasks (so they survive an agent
 * restart). */
AG_API int ag_framework_info_set_checkpoint(struct ag_framework_info *fi, bool checkpoint);
/* Resume the framework with this id (failover) instead of registering anew. */
AG_API int ag_framework_info_set_framework_id(struct ag_framework_info *fi, const char *id);

/* ---- offers (read-only, delivered to the offers callback) ---- */

struct ag_offer;

AG_API const char *ag_offer_id(const struct ag_offer *o);
AG_API const char *ag_offer_agent_id(const struct ag_offer *o);
AG_API const char *ag_offer_hostname(const struct ag_offer *o);
/* The agent's HTTP address "host:port" ("" when unknown). */
AG_API const char *ag_offer_agent_http(const struct ag_offer *o);
/* The role the offered resources are allocated to. */
AG_API const char *ag_offer_allocation_role(const struct ag_offer *o);
/* The offered resources in Mesos text form, e.g. "cpus:2;mem:1024;ports:[31000-32000]"
 * (reserved ones as "cpus(web):1"). */
AG_API const char *ag_offer_resources(const struct ag_offer *o);
/* The agent's attributes in text form, e.g. "rack:r1;zone:a" ("" when none). */
AG_API const char *ag_offer_attributes(const struct ag_offer *o);
/* Amount of scalar resource `name` (e.g. "cpus", "mem" in MB), summed over
 * roles; 0 when absent. */
AG_API double ag_offer_scalar(const struct ag_offer *o, const char *name);
/* Amount of scalar `name` reserved for `role` (NULL or "*": unreserved). */
AG_API double ag_offer_scalar_role(const struct ag_offer *o, const char *name, const char *role);
/* Number of values in ranges resource `name` (e.g. available ports). */
AG_API uint64_t ag_offer_range_count(const struct ag_offer *o, const char *name);
/* The `index`th range of ranges resource `name` (over all roles, in order) in
 * [*begin, *end] (inclusive). Returns 0 or -AG_ENOENT past the last range. */
AG_API int ag_offer_range(const struct ag_offer *o, const char *name, size_t index, uint64_t *begin,
                          uint64_t *end);
/* The text value of attribute `name`, or NULL when the agent has none. */
AG_API const char *ag_offer_attribute(const struct ag_offer *o, const char *name);
/* True when attribute `name` equals `value` (numerically when both are numbers). */
AG_API bool ag_offer_attribute_matches(const struct ag_offer *o, const char *name,
                                       const char *value);
/* A copy that the caller owns and frees with ag_offer_free (offers passed to a
 * callback are only valid during the call). NULL when out of memory. */
AG_API struct ag_offer *ag_offer_dup(const struct ag_offer *o);
AG_API void ag_offer_free(struct ag_offer *o);

/* ---- resources (parsing and arithmetic on resource text) ---- */

/*
 * A set of resources, parsed with the master's own rules: scalars are fixed
 * point with three decimals (0.1 + 0.2 is exactly 0.3), items are kept per
 * (name, role) ("cpus:1" and "cpus(web):1" are different resources), ranges
 * ("ports:[31000-31005]") and sets ("{a,b}") are compared value by value.
 * Opaque; not thread-safe (one thread at a time per object).
 */
struct ag_resources;

/* Parses resource text (e.g. "cpus:0.5;mem:64;ports:[31000-31000]"; "" is the
 * empty set) into a new object the caller frees with ag_resources_free.
 * Returns 0 and sets *out, -AG_EINVAL for malformed text (ag_last_error()
 * quotes the offending part, e.g. `bad value "x2" for resource "cpus"`) or
 * -AG_ENOMEM. */
AG_API int ag_resources_parse(struct ag_resources **out, const char *text);
/* A copy of an offer's resources (to subtract what each task uses from).
 * Returns 0 and sets *out, -AG_EINVAL or -AG_ENOMEM. */
AG_API int ag_resources_from_offer(struct ag_resources **out, const struct ag_offer *o);
AG_API void ag_resources_free(struct ag_resources *r);
/* True when `a` holds all of `b` (each name and role of `b` within the same
 * name and role of `a`). False when either is NULL. */
AG_API bool ag_resources_contains(const struct ag_resources *a, const struct ag_resources *b);
/* a -= b. Returns 0; -AG_ERANGE when `a` does not contain `b`; -AG_EINVAL
 * (NULL) or -AG_ENOMEM (splitting a range). On failure `a` is unchanged. */
AG_API int ag_resources_subtract(struct ag_resources *a, const struct ag_resources *b);
/* a += b (ranges and sets: union). Returns 0; -AG_EINVAL when a name has a
 * different type in `a` and `b` (or NULL); -AG_ERANGE on overflow;
 * -AG_ENOMEM. On failure `a` is unchanged. */
AG_API int ag_resources_add(struct ag_resources *a, const struct ag_resources *b);
/* True when `r` holds nothing (or is NULL). */
AG_API bool ag_resources_empty(const struct ag_resources *r);
/* Amount of scalar `name` summed over roles; 0 when absent. */
AG_API double ag_resources_scalar(const struct ag_resources *r, const char *name);
/* The canonical text of `r` (sorted, e.g. "cpus:0.5;mem:64"), as snprintf:
 * writes at most `len` bytes including the NUL and returns the length of the
 * whole text. NULL prints as "". */
AG_API size_t ag_resources_format(const struct ag_resources *r, char *buf, size_t len);
/* Whether the offer holds `resources` (text, as for ag_resources_parse):
 * 1 when it does, 0 when it does not, -AG_EINVAL for malformed text or a NULL
 * offer, -AG_ENOMEM. To place several tasks on one offer, take
 * ag_resources_from_offer and subtract each task's resources instead. */
AG_API int ag_offer_fits(const struct ag_offer *o, const char *resources);

/* ---- task status (read-only, delivered to the status_update callback) ---- */

struct ag_task_status;

AG_API const char *ag_status_task_id(const struct ag_task_status *s);
AG_API const char *ag_status_agent_id(const struct ag_task_status *s);
AG_API enum ag_task_state ag_status_state(const struct ag_task_status *s);
/* Why, e.g. "REASON_CONTAINER_LIMITATION_MEMORY", "REASON_RECONCILIATION" ("" = none). */
AG_API const char *ag_status_reason(const struct ag_task_status *s);
AG_API const char *ag_status_message(const struct ag_task_status *s);
/* "SOURCE_MASTER", "SOURCE_AGENT", "SOURCE_EXECUTOR" or "SOURCE_SCHEDULER_DRIVER"
 * (updates the driver made up itself, e.g. TASK_DROPPED). */
AG_API const char *ag_status_source(const struct ag_task_status *s);
/* Identifies the update for acknowledgement; "" when it needs none. */
AG_API const char *ag_status_uuid(const struct ag_task_status *s);
/* Seconds since the epoch. */
AG_API double ag_status_timestamp(const struct ag_task_status *s);
/* Health-check verdict: 1 healthy, 0 unhealthy, -1 no verdict. */
AG_API int ag_status_healthy(const struct ag_task_status *s);
/* A copy owned by the caller (ag_status_free), or NULL when out of memory. */
AG_API struct ag_task_status *ag_status_dup(const struct ag_task_status *s);
AG_API void ag_status_free(struct ag_task_status *s);

/* ---- tasks (builder, for launching) ---- */

struct ag_task;

/*
 * A new task description. `task_id` must be unique within the framework and
 * made of [A-Za-z0-9._-] (at most 63 characters); `name` may be NULL (= the
 * id); `agent_id` may be NULL, in which case the agent of the offer it is
 * launched with is filled in. Returns NULL on invalid arguments or out of
 * memory (ag_last_error() tells which).
 */
AG_API struct ag_task *ag_task_new(const char *task_id, const char *name, const char *agent_id);
AG_API void ag_task_free(struct ag_task *t);
/* A deep copy, or NULL when out of memory. */
AG_API struct ag_task *ag_task_dup(const struct ag_task *t);

AG_API const char *ag_task_id(const struct ag_task *t);
AG_API const char *ag_task_agent_id(const struct ag_task *t);

/* Setters: return 0, -AG_EINVAL or -AG_ENOMEM; on failure the task is unchanged. */

/* Resources in Mesos text form, e.g. "cpus:0.1;mem:32" or "cpus(web):1;ports:[31000-31000]". */
AG_API int ag_task_set_resources(struct ag_task *t, const char *text);
/* Run `command` with /bin/sh -c. */
AG_API int ag_task_set_command(struct ag_task *t, const char *command);
/* Execute argv[0] directly with arguments argv[0..argc-1] (no shell). */
AG_API int ag_task_set_argv(struct ag_task *t, size_t argc, const char *const *argv);
/* Adds (or replaces) an environment variable of the task. */
AG_API int ag_task_add_env(struct ag_task *t, const char *name, const char *value);
/* Run as this user ("" or NULL = the framework's user). */
AG_API int ag_task_set_user(struct ag_task *t, const char *user);
/* Root filesystem image ("" or NULL = the host's filesystem). */
AG_API int ag_task_set_image(struct ag_task *t, const char *image);
/* Network mode: "host" or "none". */
AG_API int ag_task_set_network(struct ag_task *t, const char *network);
/* Adds (or replaces) a free-form label. */
AG_API int ag_task_add_label(struct ag_task *t, const char *key, const char *value);
/* Delay between SIGTERM and SIGKILL when the task is killed (0 = the agent's default). */
AG_API int ag_task_set_kill_grace(struct ag_task *t, int64_t milliseconds);
/* Health check run by the agent: a shell command (healthy when it exits 0). */
AG_API int ag_task_set_health_check_command(struct ag_task *t, const char *command);
/* Health check: HTTP GET `path` (2xx/3xx healthy) on `port`, or when `port` is 0
 * on the task's `port_index`th port resource. */
AG_API int ag_task_set_health_check_http(struct ag_task *t, int port, int port_index,
                                         const char *path);
/* Health check: a TCP connect to `port` (or the `port_index`th port when 0). */
AG_API int ag_task_set_health_check_tcp(struct ag_task *t, int port, int port_index);
/* Timing of the health check set before (negative values keep the defaults:
 * delay 15 s, interval 10 s, timeout 20 s, 3 failures, grace period 10 s).
 * -AG_ESTATE when no health check was set. */
AG_API int ag_task_set_health_check_timing(struct ag_task *t, double delay_s, double interval_s,
                                           double timeout_s, int consecutive_failures,
                                           double grace_period_s);
/* Removes the health check. */
AG_API void ag_task_clear_health_check(struct ag_task *t);

/* ---- operations (for ag_driver_accept_operations) ---- */

struct ag_operation;

/* LAUNCH of `n` tasks (copied). NULL on invalid arguments or out of memory. */
AG_API struct ag_operation *ag_operation_launch(struct ag_task *const *tasks, size_t n);
/* RESERVE (dynamic reservation) of resources given in text form with their
 * role, e.g. "cpus(web):1;mem(web):128". */
AG_API struct ag_operation *ag_operation_reserve(const char *resources);
/* UNRESERVE of reserved resources, e.g. "cpus(web):1". */
AG_API struct ag_operation *ag_operation_unreserve(const char *resources);
AG_API void ag_operation_free(struct ag_operation *op);

/* ---- the driver ---- */

struct ag_driver;

/*
 * Callbacks. Set `size` to sizeof(struct ag_scheduler_callbacks) so that the
 * library knows which members your program has; any member may be NULL. Each
 * runs on the driver thread; pointers passed in are valid only during the call.
 * `arg` is the pointer given to ag_driver_new.
 */
struct ag_scheduler_callbacks {
    size_t size;
    /* Subscribed (after every (re)connection). `framework_id` is the id to
     * resume with later; `resubscribed` is true when it was already known. */
    void (*subscribed)(struct ag_driver *d, void *arg, const char *framework_id, bool resubscribed);
    /* New offers. Answer each with accept or decline (or it stays allocated to
     * the framework until the master rescinds it). */
    void (*offers)(struct ag_driver *d, void *arg, const struct ag_offer *const *offers, size_t n);
    /* The master took back an offer; accepting it now fails. */
    void (*rescind)(struct ag_driver *d, void *arg, const char *offer_id);
    /* A task changed state (or a reconciliation answer). With automatic
     * acknowledgement (the default) the driver acknowledges it when the
     * callback returns; otherwise call ag_driver_acknowledge. */
    void (*status_update)(struct ag_driver *d, void *arg, const struct ag_task_status *status);
    /* Data from an executor. */
    void (*framework_message)(struct ag_driver *d, void *arg, const char *agent_id,
                              const char *executor_id, const void *data, size_t len);
    /* Something failed. `code` is a negative AG_E* code. When `fatal` is true
     * the driver has stopped (no further callbacks; ag_driver_join returns
     * `code`): the master refused the subscription or authentication, or it
     * removed the framework (operator teardown: the message starts with
     * "Framework removed"; its tasks are killed and its id cannot subscribe
     * again). */
    void (*error)(struct ag_driver *d, void *arg, int code, const char *message, bool fatal);
    /* The connection to the master was lost; the driver reconnects and
     * resubscribes by itself. Outstanding offers are invalid from now on. */
    void (*disconnected)(struct ag_driver *d, void *arg);
    /* Every task given to ag_driver_reconcile_until_known got an answer. */
    void (*reconciled)(struct ag_driver *d, void *arg);
};

/*
 * Creates a driver (not yet running) for the master at `master` ("HOST:PORT"
 * or "HOST" for port 5050). `info` is copied; `callbacks` is copied (up to its
 * `size`); `arg` is passed to every callback. Returns 0 and sets *out, or
 * -AG_EINVAL (bad master address, missing size, ...) or -AG_ENOMEM.
 */
AG_API int ag_driver_new(struct ag_driver **out, const char *master,
                         const struct ag_framework_info *info,
                         const struct ag_scheduler_callbacks *callbacks, void *arg);

/* Options, before ag_driver_start (-AG_ESTATE afterwards). */

/* Automatic acknowledgement of status updates (default true). */
AG_API int ag_driver_set_auto_ack(struct ag_driver *d, bool on);
/* Rate limit of outgoing calls: a token bucket of `burst` calls refilled at
 * `per_second`. Calls beyond it wait in order; none is dropped. per_second 0
 * means no limit. Default 1000/s, burst 1000. */
AG_API int ag_driver_set_rate_limit(struct ag_driver *d, double per_second, double burst);
/* When nothing (not even a HEARTBEAT) arrives from the master for `misses`
 * heartbeat intervals, the driver drops the connection and reconnects
 * (default 5; 0 disables). */
AG_API int ag_driver_set_heartbeat_misses(struct ag_driver *d, int misses);
/* Take over from an instance of the framework that is still connected
 * (SUBSCRIBE force flag; default false). */
AG_API int ag_driver_set_force(struct ag_driver *d, bool force);

/*
 * Starts the driver thread, which connects to the master and subscribes.
 * Returns 0, or -AG_ESTATE if already started, or the error that stopped it
 * from starting (-AG_ENOMEM, -AG_EIO, ...). A driver runs once.
 */
AG_API int ag_driver_start(struct ag_driver *d);

/*
 * Asks the driver to stop: calls already made are sent on a best-effort basis,
 * the connection is closed, no callback runs afterwards (except the one
 * running now). The framework stays registered with the master for its
 * failover timeout; use ag_driver_teardown to remove it. Returns 0, or
 * -AG_ESTATE when the driver never started. Safe anywhere, also twice.
 */
AG_API int ag_driver_stop(struct ag_driver *d);

/*
 * Waits until the driver thread has ended. Returns 0 when it ended through
 * ag_driver_stop or teardown, the error code of a fatal error otherwise, or
 * -AG_ESTATE when called on the driver thread or before ag_driver_start.
 */
AG_API int ag_driver_join(struct ag_driver *d);

/* ag_driver_start then ag_driver_join. */
AG_API int ag_driver_run(struct ag_driver *d);

/* Stops (if needed), joins and frees the driver. Must not be called on the
 * driver thread (it then only logs an error and leaks the driver). */
AG_API void ag_driver_free(struct ag_driver *d);

/*
 * Copies the framework id into `buf` (`len` bytes). Returns 0; -AG_ENOENT when
 * the framework has no id yet (not subscribed once and none given);
 * -AG_ERANGE when `len` is too small (`buf` then holds "").
 */
AG_API int ag_driver_framework_id(struct ag_driver *d, char *buf, size_t len);

/* Whether the driver runs: true from a successful ag_driver_start until it
 * stops (ag_driver_stop, teardown or a fatal error). */
AG_API bool ag_driver_running(struct ag_driver *d);

/* Whether the driver is subscribed right now. */
AG_API bool ag_driver_subscribed(struct ag_driver *d);

/*
 * The calls below return 0 once the call is accepted for sending (see
 * "Delivery" above); -AG_EINVAL for invalid arguments (ag_last_error says
 * which), -AG_ERANGE for a message beyond the 8 MiB limit; -AG_ECLOSED when the
 * driver is not running (not started, or stopped) and, for the calls that use
 * offers (accept, launch, reserve, unreserve, decline), also when it is not
 * subscribed right now; -AG_ENOSPC when a million calls already wait to be
 * sent; -AG_ENOMEM. Every argument is copied.
 */

/*
 * Launches `ntasks` tasks on `noffers` offers (all from the same agent) and
 * leaves the rest of the offers filtered for `refuse_seconds` (negative: the
 * default 5 s). ntasks 0 is a decline. Tasks without an agent id get the
 * offers' agent.
 */
AG_API int ag_driver_accept(struct ag_driver *d, const char *const *offer_ids, size_t noffers,
                            struct ag_task *const *tasks, size_t ntasks, double refuse_seconds);

/* Convenience: launches one task on one offer (default filter). */
AG_API int ag_driver_launch(struct ag_driver *d, const char *offer_id, const struct ag_task *task);

/* Accept with any operations (LAUNCH, RESERVE, UNRESERVE), applied in order. */
AG_API int ag_driver_accept_operations(struct ag_driver *d, const char *const *offer_ids,
                                       size_t noffers, struct ag_operation *const *ops, size_t nops,
                                       double refuse_seconds);

/* Dynamically reserves `resources` (text with roles, e.g. "cpus(web):1") out of
 * one offer. The reserved resources come back in a later offer. -AG_EINVAL for
 * malformed or empty resources. */
AG_API int ag_driver_reserve(struct ag_driver *d, const char *offer_id, const char *resources);

/* Unreserves `resources` (text with roles) out of one offer. */
AG_API int ag_driver_unreserve(struct ag_driver *d, const char *offer_id, const char *resources);

/* Declines offers; their resources are not offered to this framework again for
 * `refuse_seconds` (negative: the default 5 s). */
AG_API int ag_driver_decline(struct ag_driver *d, const char *const *offer_ids, size_t n,
                             double refuse_seconds);

/* Clears all filters and resumes offers for `role` (NULL: every role). */
AG_API int ag_driver_revive(struct ag_driver *d, const char *role);

/* Stops offers for `role` (NULL: every role) until the next revive. A
 * suppression of every role lasts across reconnections: the driver suppresses
 * again after it has resubscribed. */
AG_API int ag_driver_suppress(struct ag_driver *d, const char *role);

/*
 * Declares whether the framework wants offers (for every role), sending
 * SUPPRESS or REVIVE only when that changes the state the driver keeps, so it
 * can be called after every offer or status update ("want offers while work
 * is waiting"). The state follows ag_driver_suppress(d, NULL) and every
 * ag_driver_revive as well, and lasts across reconnections. Returns 0 (also
 * when nothing needed sending) or as ag_driver_revive. To clear the filters of
 * declined offers, call ag_driver_revive itself.
 */
AG_API int ag_driver_want_offers(struct ag_driver *d, bool want);

/* True when the last of ag_driver_suppress(d, NULL), ag_driver_revive and
 * ag_driver_want_offers accepted was a suppression of every role. */
AG_API bool ag_driver_offers_suppressed(struct ag_driver *d);

/* Kills a task (SIGTERM, then SIGKILL after its kill grace period). `agent_id`
 * may be NULL when unknown. */
AG_API int ag_driver_kill(struct ag_driver *d, const char *task_id, const char *agent_id);

/* As ag_driver_kill with an explicit grace period in milliseconds. */
AG_API int ag_driver_kill_grace(struct ag_driver *d, const char *task_id, const char *agent_id,
                                int64_t grace_ms);

/* Acknowledges a status update (needed only with automatic acknowledgement
 * off): the agent stops resending it and sends the task's next update. */
AG_API int ag_driver_acknowledge(struct ag_driver *d, const char *agent_id, const char *task_id,
                                 const char *uuid);

/* As ag_driver_acknowledge, with the fields taken from `status`. Updates with
 * an empty uuid need no acknowledgement: returns 0 without sending. */
AG_API int ag_driver_acknowledge_status(struct ag_driver *d, const struct ag_task_status *status);

/*
 * Asks for the latest state of tasks: `n` task ids with their agent ids
 * (`agent_ids` or any of its entries may be NULL). n 0 is implicit
 * reconciliation: the master answers for every task it knows of the
 * framework. Answers arrive as status updates with reason REASON_RECONCILIATION.
 */
AG_API int ag_driver_reconcile(struct ag_driver *d, const char *const *task_ids,
                               const char *const *agent_ids, size_t n);

/*
 * Reconciles `n` (> 0) tasks until every one of them got a status update (any
 * update for the task counts):
 * sends RECONCILE for the tasks still unanswered after `initial_backoff_s`
 * seconds, doubling up to `max_backoff_s` (values <= 0 mean 1 s and 60 s), and
 * again at once after every resubscription. The reconciled callback runs when
 * the last task was answered. Tasks of several calls are merged into one set
 * (and the backoff restarts). Needs a running driver, not a subscription:
 * it starts at the next subscription. Returns as the other calls.
 */
AG_API int ag_driver_reconcile_until_known(struct ag_driver *d, const char *const *task_ids,
                                           const char *const *agent_ids, size_t n,
                                           double initial_backoff_s, double max_backoff_s);

/* Number of tasks ag_driver_reconcile_until_known still waits for. */
AG_API size_t ag_driver_reconcile_pending(struct ag_driver *d);

/* Sends opaque data to an executor. */
AG_API int ag_driver_send_framework_message(struct ag_driver *d, const char *agent_id,
                                            const char *executor_id, const void *data, size_t len);

/*
 * Removes the framework from the master: every task is killed and the
 * framework id becomes unusable. Later calls fail with -AG_ECLOSED and updates
 * are no longer acknowledged. The driver stops by itself (when the master
 * closes the connection, or at the latest one second after sending);
 * ag_driver_join returns 0.
 */
AG_API int ag_driver_teardown(struct ag_driver *d);

#ifdef __cplusplus
}
#endif

#endif
