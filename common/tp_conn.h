/*
 * tp_conn: the reliability protocol of one transport connection (see
 * transport.h for the wire format and the states): the HELLO handshake,
 * sequence-numbered DATA frames batching queued payloads, cumulative acks, a
 * window of unacknowledged frames, retransmission with a doubling timeout,
 * duplicate suppression, and the per-connection queue limits.
 *
 * Threads: loop thread only, like the rest of the transport.
 *
 * Ownership: a struct conn (transport_int.h) belongs to its tp_sock;
 * transport.c creates it when nng adds a pipe and frees it (tp_conn_free) when
 * nng removes the pipe or the socket is released. Nothing here frees a conn:
 * tp_conn_close only moves it to CLOSING (queues dropped, sends refused), and
 * transport.c's tick closes the nng pipe once close_at has passed. Functions
 * that run the user's callbacks (tp_conn_input) may see the socket closed from
 * inside one (ts->closing); they stop touching the conn then.
 *
 * Sending: frames go to nng without blocking; when nng refuses one, the conn is
 * parked on ts->blocked and ts->spoll is started, and its callback (here)
 * pumps the parked conns again once nng has room.
 */
#ifndef AGORA_TP_CONN_H
#define AGORA_TP_CONN_H

#include "transport_int.h"

/*
 * Moves as much as the window allows onto the wire: our HELLO, frames nng
 * refused earlier, new frames, then an ack-only frame if one is still owed.
 * A send failure other than nng being full closes the conn.
 */
void tp_conn_pump(struct conn *c);

/*
 * Queues a copy of `data` on `c` (which may be NULL), then pumps. Returns 0;
 * -AG_ECLOSED if `c` is NULL or not OPEN or the socket is closing; -AG_ERANGE if
 * too large for us or the peer (the conn stays up); -AG_ENOSPC if the queue
 * limits are exceeded (the conn is then closed); -AG_ENOMEM.
 */
int tp_conn_send(struct conn *c, const void *data, size_t len);

/* One received frame `m` (borrowed) for `c`: handshake, acks, delivery, then a pump. */
void tp_conn_input(struct conn *c, nng_msg *m);

/* Whether `m` is a HELLO frame (the server's can arrive before nng's pipe event). */
bool tp_conn_is_hello(nng_msg *m);

/* The retransmission deadline passed: sends the in-flight frames again, or gives up. */
void tp_conn_retransmit(struct conn *c, uint64_t now);

/*
 * Starts closing `c` (no-op when CLOSING): drops its queues, refuses sends at
 * once and sets close_at, TP_CLOSE_GRACE_MS ahead, for transport.c to close
 * the nng pipe. `why`, if not NULL, is logged.
 */
void tp_conn_close(struct conn *c, const char *why);

/* Frees `c` and its queues (it must be unlinked from its socket already). */
void tp_conn_free(struct conn *c);

/* Delay between dropping a conn and closing its pipe, see tp_conn_close. */
#define TP_CLOSE_GRACE_MS 100

#endif
