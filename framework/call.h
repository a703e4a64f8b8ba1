/*
 * The calls of libagora-scheduler: one API call (accept, decline, kill, ...)
 * as the message it sends, built on the caller's thread and carried out on the
 * driver thread, and the FIFO of calls waiting to be sent.
 *
 * A call owns its message. Nothing here is thread-safe: a call belongs to one
 * thread at a time (the caller's until submitted, then the driver's), and a
 * queue to the driver thread. Functions that allocate return NULL or
 * -AG_ENOMEM when out of memory and leave nothing behind.
 */
#ifndef AGORA_SCHED_CALL_H
#define AGORA_SCHED_CALL_H

#include "msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum call_kind {
    CALL_SEND,            /* send `m` */
    CALL_RECONCILE_UNTIL, /* hand the tasks of the RECONCILE `m` to the reconciliation helper */
};

/* One call of the API: a message to send (owned), or a reconcile-helper request. */
struct call {
    struct call *next;
    enum call_kind kind;
    bool offers;      /* ACCEPT or DECLINE: valid only within `session` */
    uint64_t session; /* the driver's session when the call was made */
    double initial_s; /* CALL_RECONCILE_UNTIL: backoff */
    double max_s;
    struct msg m;
};

/* A new CALL_SEND of an empty message of `type`, or NULL. */
struct call *call_new(enum msg_type type);

/* Frees the call and its message. Accepts NULL. */
void call_free(struct call *c);

/* A RECONCILE call listing `n` tasks (agent_ids and its entries may be NULL),
 * or NULL. */
struct call *call_reconcile(const char *const *task_ids, const char *const *agent_ids, size_t n);

/* Copies `n` strings (NULL entries become "") into a new array set in *out and
 * *nout (NULL and 0 when n is 0). 0 or -AG_ENOMEM (*out NULL). */
int call_strs_dup(char ***out, size_t *nout, const char *const *v, size_t n);

/* 0 when the codec accepts the call's message and it fits the transport;
 * else -AG_ENOMEM, the codec's error or -AG_ERANGE, with ag_last_error set. */
int call_check(const struct call *c);

/* The FIFO of calls waiting to be sent (zeroed = empty). */
struct call_queue {
    struct call *head, *tail;
};

/* Appends `c` (owned by the queue from here on). */
void call_queue_push(struct call_queue *q, struct call *c);

/* Puts `c` back at the front (a call that could not be sent yet). */
void call_queue_push_front(struct call_queue *q, struct call *c);

/* Removes and returns the first call, or NULL when empty. */
struct call *call_queue_pop(struct call_queue *q);

/* Moves the ACCEPT and DECLINE calls out of `q`, in order, into a list
 * linked by `next`, which is returned; the other calls stay queued in order. */
struct call *call_queue_take_offers(struct call_queue *q);

#endif
