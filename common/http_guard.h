/*
 * http_guard: request (header and body) timeouts, idle timeouts and a cap on
 * connections for an HTTP server whose connections nng owns. nng 1.5.2's HTTP
 * server has none of these and hands a request over only once its headers and
 * body are read, so the guard watches the server's TCP connections from the
 * outside.
 *
 * Every scan (a timer on the daemon's loop, a quarter of the shorter timeout,
 * at most a second apart) it lists the process's descriptors, keeps the
 * connected TCP sockets whose local port is the server's, reads each one's
 * TCP_INFO (milliseconds since the last data received and since the last data
 * sent) and ends, with shutdown(2) on a duplicate of the descriptor (nng then
 * sees the end and frees the connection itself; the duplicate cannot name
 * another socket if nng closes the descriptor meanwhile):
 *   - a connection on which the client has sent data more recently than the
 *     server has (a request arriving or waiting for its answer) for longer
 *     than the request timeout: headers or a body that do not arrive in time
 *     (slow or half-sent requests), or a connection that never sends one.
 *     While any request is in a handler (an answer that takes long, e.g. a
 *     report), this rule waits;
 *   - a connection with no data either way for the idle timeout (keep-alive);
 *   - the newest connections beyond the cap.
 * Connections that `exempt` names (the websocket links of a transport sharing
 * the port) are neither ended nor counted.
 *
 * The decision for one connection is the pure hguard_decide(); hguard_scan()
 * applies it to every connection; the HTTP server (http.c) runs the scans
 * from a timer on its loop. One thread at a time.
 */
#ifndef AGORA_HTTP_GUARD_H
#define AGORA_HTTP_GUARD_H

#include <stdbool.h>
#include <stdint.h>

/* The flags' storage; a daemon keeps one and lists HTTP_GUARD_FLAGS(&it) in its table. */
struct http_guard_flags {
    int64_t request_timeout_ms; /* --http_request_timeout; 0: none */
    int64_t idle_timeout_ms;    /* --http_idle_timeout; 0: none */
    int64_t max_connections;    /* --http_max_connections; 0: no cap */
};

#define HTTP_GUARD_FLAGS(gf)                                                                       \
    {"http_request_timeout", FLAG_DURATION, &(gf)->request_timeout_ms, "30secs",                   \
     "Time a client has to send a whole HTTP request (headers and body) once it starts one, or "   \
     "its first request once connected; the connection is closed after it. 0: no limit."},         \
        {"http_idle_timeout", FLAG_DURATION, &(gf)->idle_timeout_ms, "2mins",                      \
         "HTTP connections with no traffic either way for this long are closed. 0: never."},       \
    {                                                                                              \
        "http_max_connections", FLAG_INT64, &(gf)->max_connections, "1000",                        \
            "Most HTTP connections open at once (agents' and frameworks' links not counted); "     \
            "the newest beyond it are closed. 0: no cap."                                          \
    }

/* What the kernel says of one connection (TCP_INFO). */
struct hguard_sample {
    int64_t recv_age;  /* ms since data was last received */
    int64_t send_age;  /* ms since data was last sent */
    uint64_t received; /* bytes received so far */
    uint64_t sent;     /* bytes sent so far */
};

/* What hguard_decide() keeps of one connection between scans. */
struct hguard_conn {
    int64_t first_seen;      /* ms, loop clock */
    int64_t waiting_since;   /* ms: since when the client is ahead of the server; -1: it is not */
    uint64_t received, sent; /* the counters at the last scan */
    bool fresh;              /* not decided on yet */
};

enum hguard_verdict { HGUARD_KEEP, HGUARD_REQUEST_TIMEOUT, HGUARD_IDLE };

/*
 * Decides on connection `c` at `now` (ms) from its sample `s`; `busy`: a
 * request is in a handler; `max_age`: how long a connection seen for the first
 * time may have existed (the time since the previous scan). Updates `c`.
 *
 * The client is ahead when it sent the last data: its counter moved and the
 * server's did not, or both moved and its data is the newer (the ages have the
 * kernel's tick as resolution: a tie is the server answering). A new
 * connection on which the server never sent is ahead since its accept. The
 * idle rule comes first.
 */
enum hguard_verdict hguard_decide(struct hguard_conn *c, int64_t now, const struct hguard_sample *s,
                                  int64_t max_age, bool busy, const struct http_guard_flags *f);

struct hguard;

/* Whether the connection from `peer` ("IP:PORT", "[IPv6]:PORT") is not the guard's. */
typedef bool (*hguard_exempt_fn)(void *arg, const char *peer);

/*
 * A guard for the TCP connections accepted on `port`, as `f` says (copied).
 * Returns 0, -AG_EINVAL (negative limits, bad port) or -AG_ENOMEM.
 */
int hguard_open(struct hguard **out, int port, const struct http_guard_flags *f);

/* How often to scan (ms): a quarter of the shorter timeout, 100 ms to 1 s;
 * 0 when every limit is off (no need to scan). */
int64_t hguard_interval(const struct hguard *g);

/* Sets the exemption callback (NULL: none). */
void hguard_set_exempt(struct hguard *g, hguard_exempt_fn exempt, void *arg);

/* One scan at `now` (ms, a monotonic clock); `busy`: a request is in a handler. */
void hguard_scan(struct hguard *g, int64_t now, bool busy);

/* Connections ended so far, by reason. */
struct hguard_stats {
    uint64_t request_timeouts;
    uint64_t idle_timeouts;
    uint64_t over_cap;
    uint64_t open; /* guarded connections at the last scan */
};
void hguard_stats(const struct hguard *g, struct hguard_stats *out);

/* Frees the guard. Accepts NULL. */
void hguard_close(struct hguard *g);

#endif
