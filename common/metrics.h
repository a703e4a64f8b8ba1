/*
 * Metrics in the manner of Mesos' /metrics/snapshot, also rendered in the
 * Prometheus text format.
 *
 * A registry maps names ("master/messages_received", '/' separating parts)
 * to counters (uint64, only grow), gauges (double, set or adjusted, or
 * computed on demand by a callback) and timers (durations in nanoseconds).
 * metrics_counter() etc. create a metric on first use and return the same
 * handle afterwards; keep the handle rather than looking the name up per
 * event. A figure the daemon already keeps in its own state (a uint64_t it
 * increments, a count of tasks) is registered as a computed counter or gauge
 * (metrics_counter_fn, metrics_gauge_fn) read at each rendering, or set by a
 * collector (metrics_collector) that runs before each rendering: every figure
 * a daemon reports goes through this one registry and its two renderers, and
 * metrics_reply() serves them the same way in every daemon.
 *
 * Threads: the registry (creating, removing, rendering) belongs to one thread,
 * the daemon's loop thread, and takes no locks. Counter and gauge updates are
 * C11 atomics, so other threads (nng callbacks) may update a counter or gauge
 * whose handle they were given, as long as it is not removed meanwhile.
 * Timers are updated by the owning thread only.
 *
 * Timers keep a lifetime count and sum and a window of the last
 * METRICS_WINDOW samples, from which the last value, min, max and the 50th,
 * 90th and 99th percentiles (nearest rank) are computed when rendering. Timers
 * are rendered in milliseconds; name them "..._ms".
 *
 * Rendering (keys sorted by name):
 *   JSON         counter  "a/b": 12
 *                gauge    "a/b": 0.5               (null when not finite)
 *                timer    "a/b_ms/count": 3, "a/b_ms/sum": 4.5 and, when it
 *                         has samples, "a/b_ms" (last), "/min", "/max", "/p50",
 *                         "/p90", "/p99"
 *   Prometheus   "agora_" + the name with every character outside
 *                [A-Za-z0-9_] replaced by '_'; a "# TYPE" line per metric;
 *                timers as summaries (quantile="0.5"|"0.9"|"0.99", _sum,
 *                _count).
 * Two names that sanitize to the same Prometheus name cannot both be
 * registered.
 */
#ifndef AGORA_METRICS_H
#define AGORA_METRICS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define METRICS_NAME_MAX 128 /* longest name, without the NUL */
#define METRICS_WINDOW 1024  /* timer samples kept for percentiles */

struct metrics;
struct metrics_counter;
struct metrics_gauge;
struct metrics_timer;

/* A new, empty registry, or NULL when out of memory. */
struct metrics *metrics_new(void);

/* Frees the registry and every metric in it; handles become invalid. Accepts
 * NULL. */
void metrics_free(struct metrics *reg);

/* The counter, gauge or timer called `name`, created (zero, no samples) on
 * first use. Returns NULL, after logging a warning, when `name` is invalid
 * (1 to METRICS_NAME_MAX characters of [A-Za-z0-9_./-], not starting or ending
 * with '/'), is taken by a metric of another kind or clashes with another
 * name once sanitized, or when out of memory. Update functions accept a NULL
 * handle and do nothing, so a failed registration never crashes a daemon. */
struct metrics_counter *metrics_counter(struct metrics *reg, const char *name);
struct metrics_gauge *metrics_gauge(struct metrics *reg, const char *name);
struct metrics_timer *metrics_timer(struct metrics *reg, const char *name);

/* Registers a gauge whose value is `fn(arg)`, called on the registry thread
 * at each rendering. Returns 0, -AG_EEXIST when the name is taken, -AG_EINVAL
 * for a bad name or NULL fn, -AG_ENOMEM. */
int metrics_gauge_fn(struct metrics *reg, const char *name, double (*fn)(void *arg), void *arg);

/* Registers a counter whose value is `fn(arg)`, called on the registry thread
 * at each rendering (for a count the daemon keeps itself; the value must only
 * grow). metrics_read_u64 reads a uint64_t the registry thread owns: pass its
 * address as `arg`. Returns as metrics_gauge_fn. */
int metrics_counter_fn(struct metrics *reg, const char *name, uint64_t (*fn)(void *arg), void *arg);
uint64_t metrics_read_u64(void *p);

/* Registers each of `n` counts a daemon keeps as a computed counter
 * (metrics_counter_fn with metrics_read_u64). Returns 0 or the first error. */
struct metrics_u64 {
    const char *name;
    uint64_t *count;
};
int metrics_counters_u64(struct metrics *reg, const struct metrics_u64 *v, size_t n);

/* Registers `fn(arg)` to run on the registry thread at the start of each
 * rendering, before any value is read: it may set gauges from the daemon's
 * state (one pass over the tasks setting several gauges, say). At most
 * METRICS_COLLECTORS; returns 0, -AG_EINVAL (NULL fn), -AG_ENOSPC. */
#define METRICS_COLLECTORS 4
int metrics_collector(struct metrics *reg, void (*fn)(void *arg), void *arg);

/* Removes the metric called `name`; its handle becomes invalid. Returns 0 or
 * -AG_ENOENT. */
int metrics_remove(struct metrics *reg, const char *name);

/* Counter updates and reads (atomic, relaxed ordering). */
void metrics_inc(struct metrics_counter *c);
void metrics_add(struct metrics_counter *c, uint64_t n);
uint64_t metrics_counter_value(const struct metrics_counter *c);

/* Gauge updates and reads (atomic). */
void metrics_set(struct metrics_gauge *g, double v);
void metrics_gauge_add(struct metrics_gauge *g, double delta);
double metrics_gauge_value(const struct metrics_gauge *g);

/* Records one duration in nanoseconds (owning thread only). */
void metrics_record(struct metrics_timer *t, uint64_t ns);

/* The number of samples a timer has recorded in its lifetime. */
uint64_t metrics_timer_count(const struct metrics_timer *t);

/* CLOCK_MONOTONIC in nanoseconds, for timing: record(t, now() - start). */
uint64_t metrics_now_ns(void);

/* A new JSON object with every metric (see above), or NULL when out of
 * memory. The caller owns the reference. */
json_t *metrics_to_json(struct metrics *reg);

/* Renders the Prometheus text exposition format into a malloc'd string in
 * *out (the caller frees it). Returns 0 or -AG_ENOMEM (*out is then NULL). */
int metrics_to_prometheus(struct metrics *reg, char **out);

/* Replies to `req` with every metric of `reg`: Prometheus text ("text/plain;
 * version=0.0.4") when `prometheus`, else the JSON object; `format` (the
 * request's query parameter "format", NULL when absent) "prometheus" or
 * "json" overrides. Every daemon serves GET /metrics (Prometheus by default,
 * JSON for agora-services as Marathon does) and GET /metrics/snapshot (JSON)
 * through this. */
struct http_req;
void metrics_reply(struct metrics *reg, struct http_req *req, const char *format, bool prometheus);

#endif
