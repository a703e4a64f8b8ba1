/*
 * The master detector: the one place that turns what a user gave as
 * `--master` into addresses to connect to. Today it accepts a fixed
 * `HOST:PORT` (or `HOST`, meaning port 5050), with an optional scheme that
 * chooses clear text (`http://`, the default) or TLS (`https://`: the stream
 * is then `wss://`), or follows the leader elected through ZooKeeper
 * (`zk://HOST:PORT[,HOST:PORT...]/PATH`, common/zk.h) and calls back when the
 * leader changes (detector_open).
 */
#ifndef AGORA_DETECTOR_H
#define AGORA_DETECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define DETECTOR_DEFAULT_PORT 5050
#define DETECTOR_STREAM_PATH "/agora/v1/stream"

struct detector_master {
    char host[256];
    int port;
    int tls;              /* 1: reached over TLS (https:// given, or detector_set_tls) */
    char stream_url[320]; /* "ws[s]://HOST:PORT/agora/v1/stream": the message stream */
    char http_url[300];   /* "http[s]://HOST:PORT": the operator HTTP API */
};

/*
 * Resolves `spec` ("HOST:PORT", "HOST", "[v6addr]:PORT", each with an optional
 * "http://" or "https://" prefix) into `out`. Returns 0, or -AG_EINVAL with a message in
 * `err` naming the problem (e.g. "zk:// masters are not supported yet").
 */
int detector_resolve(const char *spec, struct detector_master *out, char *err, size_t errlen);

/* Switches a resolved master to TLS (tls != 0: wss:// and https://) or back
 * (for a client that has --tls_ca and a bare HOST:PORT). */
void detector_set_tls(struct detector_master *m, int tls);

/* Whether `spec` names masters through ZooKeeper (zk://...). */
bool detector_is_zk(const char *spec);

/* Whether `spec` names several masters to follow (zk://..., or a list
 * "HOST:PORT,HOST:PORT,..."): then detector_open, not detector_resolve. */
bool detector_follows(const char *spec);

/*
 * A follower of the leading master, on `loop` (its callback runs there).
 * With a fixed `spec` it reports that master once, from the loop, soon after
 * the call; with a list "HOST:PORT,HOST:PORT,..." it asks the masters in turn
 * where `/master/redirect` points (a standby answers with the leader), every
 * second while the follower says its link is down (detector_connected), and
 * reports each new answer (epoch 0: lists carry no epoch; fencing by epoch
 * needs zk://); with zk:// it reports the leader each time it changes: `m` is
 * NULL while no master leads, and `epoch` is the leader's (its ZooKeeper
 * sequence number; 0 for a fixed master). Messages stamped with a lower epoch
 * come from a deposed leader: drop them. `tls` as detector_set_tls (a zk://
 * leader's address carries no scheme). Returns 0, or -AG_EINVAL with the
 * reason in `err`.
 */
struct detector;
typedef void (*detector_fn)(void *arg, const struct detector_master *m, uint64_t epoch);
int detector_open(struct detector **out, uv_loop_t *loop, const char *spec, bool tls,
                  detector_fn fn, void *arg, char *err, size_t errlen);

/* The follower's link to the reported master is up (`up`) or down: a list
 * is asked again every second while it is down. No-op for the others and NULL. */
void detector_connected(struct detector *d, bool up);

/* Stops following; no callback after it. NULL is a no-op. */
void detector_close(struct detector *d);

/*
 * For tools: the master `spec` names right now: a fixed one as
 * detector_resolve, a zk:// one by asking ZooKeeper once (waiting at most
 * `timeout_ms`). 0, or -AG_E* with the reason in `err`.
 */
int detector_lookup(const char *spec, int64_t timeout_ms, struct detector_master *out,
                    char *err, size_t errlen);

#endif
