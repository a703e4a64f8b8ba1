/*
 * transport: reliable, ordered message channels between the master and its
 * peers (agents, frameworks), over nng pair1 sockets driven by a libuv loop.
 *
 * The master opens one server (nng_pair1_open_poly: one socket, many peers,
 * each peer identified by its nng pipe id); agents and frameworks open a client
 * (nng_pair1_open, dialing in the background and reconnecting on its own).
 * Payloads are opaque byte strings; the message codec lives elsewhere.
 *
 * Guarantees for the life of one connection: every payload accepted by a send
 * call is delivered once, complete and in order, or the connection is closed
 * (and on_disconnect reported). Nothing is dropped silently: pair1 poly drops
 * messages to a pipe whose queue (2 messages) is full, so each connection runs
 * its own flow control: sequence-numbered frames, cumulative acks, a window of
 * `window` unacknowledged frames, retransmission after `rto_ms` without an ack
 * (doubling, at most `max_retries` times, then the peer is disconnected), and
 * duplicate suppression. Payloads sent while a frame is unacknowledged are
 * batched into the next frame (up to `max_frame` bytes).
 *
 * A peer whose outbound queue exceeds `max_queue_bytes` or `max_queue_msgs` is
 * disconnected (a warning is logged and stats.dropped_peers bumped); the send
 * that overflowed returns -AG_ENOSPC.
 *
 * Threads: every function must be called on the loop thread, and every callback
 * runs on it. nng's threads only post pipe events to the loop (see evq.h).
 *
 * URLs: "tcp://HOST:PORT", "ipc:///path", "ws://HOST:PORT/PATH",
 * "wss://HOST:PORT/PATH". A ws server may share its HOST:PORT with an http.h
 * server, see http.h for the scheme; a wss server must, and serves with the
 * HTTP server's TLS config (http_server_open_tls). A wss client verifies the
 * server with tp_options.tls (tls.h: tls_client_config).
 *
 * Wire format (all integers little-endian), one nng message per frame:
 *
 *   u8 magic 0xA6 | u8 version 1 | u8 type | u8 flags 0 | u32 count
 *   u64 session | u64 seq | u64 ack                      (32-byte header)
 *
 *   HELLO (type 1): body u32 max_frame, u32 max_msg. The server sends it first
 *     on every new pipe with a fresh session id; the client answers with its
 *     own HELLO carrying the same session. Only then does either side report
 *     the connection (on_connect) and send data.
 *   DATA (type 2): `count` records of u32 length + bytes; seq = 1, 2, ...
 *   ACK (type 3): no body.
 *   Every frame carries in `ack` the highest DATA seq received in order.
 *   Frames with another session (left over from an earlier connection) are
 *   dropped and counted in stats.stale; undecodable frames close the pipe.
 *
 * Connection states of a server peer (client side alike, without the table):
 *
 *   HANDSHAKE --HELLO ok--> OPEN --close_peer/overflow/timeout/bad frame--> CLOSING
 *       |                    |                                                |
 *       +--pipe removed------+--pipe removed--> (on_disconnect if OPEN) <------+
 *
 *   conn_new() creates HANDSHAKE on pipe add; conn_hello() moves to OPEN;
 *   tp_conn_close() moves to CLOSING (sends refused at once, the nng pipe
 *   closed by the tick 100 ms later); conn_lost() frees the conn on the
 *   pipe-removed event and reports on_disconnect for a conn that reached OPEN.
 *   A HANDSHAKE that lasts handshake_ms is closed by the tick.
 *
 * Files: transport.c (this API, the nng sockets, pipe events, the loop's poll
 * handles and tick, the life of each connection), tp_conn.c (the protocol of
 * one connection: handshake, sequence numbers, acks, window, retransmission,
 * batching), transport_int.h (the layout the two share).
 */
#ifndef AGORA_TRANSPORT_H
#define AGORA_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct tp_options {
    size_t max_msg;         /* largest payload accepted by a send (8 MiB) */
    size_t max_frame;       /* batching target for one frame (256 KiB) */
    size_t max_queue_bytes; /* per-peer outbound queue limit in bytes (64 MiB) */
    size_t max_queue_msgs;  /* per-peer outbound queue limit in messages (1M) */
    int window;             /* unacknowledged frames per connection, 1..4 (1) */
    int rto_ms;             /* first retransmission timeout (1000) */
    int rto_max_ms;         /* retransmission timeout cap (8000) */
    int max_retries;        /* retransmissions before disconnecting (8) */
    int handshake_ms;       /* a pipe must complete HELLO within this (10000) */
    int reconnect_min_ms;   /* client: NNG_OPT_RECONNMINT (100) */
    int reconnect_max_ms;   /* client: NNG_OPT_RECONNMAXT (2000) */
    int sockbuf;            /* NNG_OPT_SENDBUF and NNG_OPT_RECVBUF, messages (1024) */
    struct nng_tls_config *tls; /* client, wss:// only: its TLS config (NULL); borrowed for
                                 * the open call, nng keeps its own reference */
};

struct tp_stats {
    uint64_t frames_sent;   /* DATA frames, first transmissions */
    uint64_t frames_recv;   /* DATA frames accepted in order */
    uint64_t msgs_sent;     /* payloads put on the wire */
    uint64_t msgs_recv;     /* payloads delivered to on_message */
    uint64_t bytes_sent;    /* payload bytes put on the wire */
    uint64_t bytes_recv;    /* payload bytes delivered */
    uint64_t acks_sent;     /* ACK-only frames */
    uint64_t retransmits;   /* DATA frames sent again after a timeout */
    uint64_t duplicates;    /* DATA frames received twice (dropped) */
    uint64_t stale;         /* frames of an earlier connection (dropped) */
    uint64_t malformed;     /* undecodable frames (pipe closed) */
    uint64_t dropped_peers; /* connections closed because their queue overflowed */
    uint64_t timeouts;      /* connections closed after max_retries */
    uint64_t connects;      /* on_connect events */
    uint64_t disconnects;   /* on_disconnect events */
};

/* Fills `o` with the defaults listed above. */
void tp_options_init(struct tp_options *o);

/* ---- server (master) ---- */

struct tp_server;

struct tp_server_ops {
    /* A peer completed the handshake; `peer` is its nng pipe id. */
    void (*on_connect)(void *arg, uint32_t peer);
    /* One payload from `peer`; `data` is valid only during the call. */
    void (*on_message)(void *arg, uint32_t peer, const void *data, size_t len);
    /* The connection of a peer reported by on_connect is gone (any reason,
     * including tp_server_close_peer). Not called after tp_server_close. */
    void (*on_disconnect)(void *arg, uint32_t peer);
};

/*
 * Opens a server listening on `url` with default options. `ops` and `arg` are
 * borrowed and must outlive the server. Returns 0 and sets *out, or a negative
 * AG_E* code (nothing left open).
 */
int tp_server_open(struct tp_server **out, uv_loop_t *loop, const char *url,
                   const struct tp_server_ops *ops, void *arg);

/* As tp_server_open with options (`opts` NULL means defaults; it is copied). */
int tp_server_open_opts(struct tp_server **out, uv_loop_t *loop, const char *url,
                        const struct tp_server_ops *ops, void *arg, const struct tp_options *opts);

/* The TCP port the server listens on (useful with port 0), or 0 for ipc. */
int tp_server_port(const struct tp_server *srv);

/*
 * Queues a copy of `data` for `peer`. Returns 0; -AG_ECLOSED if the peer is
 * unknown or closing; -AG_ERANGE if len exceeds the maximum message size (the
 * connection stays up); -AG_ENOSPC if the peer's queue overflowed, in which
 * case the peer has been disconnected (on_disconnect follows).
 */
int tp_server_send(struct tp_server *srv, uint32_t peer, const void *data, size_t len);

/*
 * Closes the connection to `peer`; payloads not yet delivered are lost.
 * on_disconnect follows from the loop. Returns 0 or -AG_ECLOSED if unknown.
 */
int tp_server_close_peer(struct tp_server *srv, uint32_t peer);

/*
 * Payload bytes queued for `peer` and not yet put on the wire (0 if unknown).
 * Senders of bulk data use it to pace themselves below max_queue_bytes.
 */
size_t tp_server_pending(const struct tp_server *srv, uint32_t peer);

/* Writes the remote IP address of `peer` (no port) into `out`; "" for ipc or
 * when unknown. 0, or -AG_ECLOSED if the peer is unknown. */
int tp_server_peer_addr(const struct tp_server *srv, uint32_t peer, char *out, size_t len);

/* Number of peers in the OPEN state. */
size_t tp_server_peers(const struct tp_server *srv);

/* Whether a connection from `addr` ("IP:PORT", "[IPv6]:PORT") is one of the
 * server's (e.g. to exempt it from an HTTP server's limits on a shared port). */
bool tp_server_has_addr(const struct tp_server *srv, const char *addr);

/* Copies the counters into `out`. */
void tp_server_stats(const struct tp_server *srv, struct tp_stats *out);

/*
 * Closes every connection; no callback runs afterwards. The nng socket itself
 * is closed about 100 ms later from the loop (so that frames already handed
 * to nng leave: nng 1.5.2 may leak them, or hang in nng_close, otherwise) and
 * the memory is released after that, so the loop must run on. May be called
 * from a callback. Accepts NULL.
 */
void tp_server_close(struct tp_server *srv);

/* ---- client (agents, frameworks) ---- */

struct tp_client;

struct tp_client_ops {
    /* Connected (handshake done). Re-register / resync state here. */
    void (*on_connect)(void *arg);
    void (*on_message)(void *arg, const void *data, size_t len);
    /* The connection reported by on_connect is gone; reconnection continues in
     * the background. Not called after tp_client_close. */
    void (*on_disconnect)(void *arg);
};

/*
 * Opens a client that dials `url` in the background and redials whenever the
 * connection drops. Returns 0 and sets *out, or a negative AG_E* code.
 */
int tp_client_open(struct tp_client **out, uv_loop_t *loop, const char *url,
                   const struct tp_client_ops *ops, void *arg);

/* As tp_client_open with options (`opts` NULL means defaults; it is copied). */
int tp_client_open_opts(struct tp_client **out, uv_loop_t *loop, const char *url,
                        const struct tp_client_ops *ops, void *arg, const struct tp_options *opts);

/*
 * Queues a copy of `data` for the server. Returns 0; -AG_ECLOSED when not
 * connected (resync after the next on_connect); -AG_ERANGE if too large;
 * -AG_ENOSPC if the queue overflowed (the connection is dropped and redialed).
 */
int tp_client_send(struct tp_client *cli, const void *data, size_t len);

/* Payload bytes queued and not yet put on the wire (0 when not connected). */
size_t tp_client_pending(const struct tp_client *cli);

/* Whether the client is connected (between on_connect and on_disconnect). */
int tp_client_connected(const struct tp_client *cli);

/* Copies the counters into `out`. */
void tp_client_stats(const struct tp_client *cli, struct tp_stats *out);

/* As tp_server_close, for a client. Accepts NULL. */
void tp_client_close(struct tp_client *cli);

#endif
