/*
 * The agent's side of its connection to the master, on the loop thread: the
 * handshake (authentication when --credential is given, then AGENT_REGISTER
 * with every task the agent has), the answers to it, the backoff between
 * attempts, PING/PONG and the watchdog that notices a silent master. The
 * connection states and their moves are drawn in agent.h; agent.c owns the
 * transport client and passes its events here.
 *
 * Also the one way out to the master: alink_send, and alink_su_ops, through
 * which status updates leave once durable (only while REGISTERED).
 */
#ifndef AGORA_SLAVE_AGENT_LINK_H
#define AGORA_SLAVE_AGENT_LINK_H

#include <stdint.h>

struct agent;
struct msg;
struct su_ops;

/* Status-update delivery (su_init's ops): sends while registered, else
 * -AG_ECLOSED (the update waits). */
extern const struct su_ops alink_su_ops;

/* Encodes and sends `m` (whose pointers may be borrowed; the sender is set
 * here). Returns 0, -AG_ECLOSED without a connection, or the error of encoding
 * (logged) or sending. */
int alink_send(struct agent *a, struct msg *m);

/* The transport connected: CONNECTED, and the handshake starts now or once the
 * backoff of a failed one has passed (alink_tick). */
void alink_connected(struct agent *a);

/* The transport lost the connection: DISCONNECTED, updates held back. */
void alink_disconnected(struct agent *a);

/* Handles a message of the handshake or the connection (AGENT_REGISTERED,
 * PING, AUTH_CHALLENGE, AUTH_RESULT, ERROR); logs and ignores any other. */
void alink_handle(struct agent *a, const struct msg *m);

/* From the tick, with a connection: starts a handshake whose backoff has
 * passed; returns why to redial when the master has been silent for 5 ping
 * intervals, else NULL. */
const char *alink_tick(struct agent *a, int64_t now);

#endif
