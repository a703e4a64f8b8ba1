/*
 * Reliable status updates: one ordered stream of updates per task, of which
 * only the head (the oldest unacknowledged update) is in flight.
 *
 *   su_add()   appends an update (the caller has checkpointed it); when it is
 *              the head and the agent is online it is sent at once.
 *   su_tick()  resends every head whose retry time has passed; the interval
 *              starts at `initial_ms` and doubles up to `max_ms`.
 *   su_ack()   drops the head when the uuid matches and sends the next update
 *              of that stream at once; any other ack (a duplicate, an old
 *              uuid) is ignored, so duplicates on either side are harmless.
 *   su_set_online(true) resends every head at once (after (re-)registration)
 *              and restarts their backoff; while offline nothing is sent.
 *   su_set_durable() tells which checkpoint commits are on disk: an update
 *              added with su_add_after(seq) is not put on the wire before
 *              commit `seq` is (state.h); once it is, it goes at once.
 *
 * Time is passed in (milliseconds on any monotonic clock), so the module does
 * no I/O of its own: sending is the `send` callback, persistence is the
 * caller's. Streams are keyed by (framework_id, task_id); both must be valid
 * ids (ids_valid), which the agent checks before creating updates.
 */
#ifndef AGORA_SLAVE_STATUS_UPDATES_H
#define AGORA_SLAVE_STATUS_UPDATES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hmap.h"
#include "ids.h"
#include "msg.h"

struct su_ops {
    /* Puts one update on the wire. Returns 0, or a negative code when it could
     * not be sent (it is retried at the next retry time anyway). */
    int (*send)(void *arg, const struct msg_task_status *status);
};

struct su_update {
    struct su_update *next;
    uint64_t seq; /* the checkpoint commit it waits for (0: none) */
    struct msg_task_status status;
};

struct su_stream {
    char framework_id[AG_ID_MAX];
    char task_id[AG_ID_MAX];
    struct su_update *head, *tail;
    size_t n;
    int64_t retry_at_ms; /* when the head is sent again */
    int64_t backoff_ms;  /* the interval that led to retry_at_ms */
    uint64_t sends;      /* times the current head was put on the wire */
    bool waiting;        /* the head waits for its commit to be durable */
};

struct su {
    struct hmap streams; /* "framework_id/task_id" -> struct su_stream * */
    int64_t initial_ms;
    int64_t max_ms;
    bool online;
    uint64_t durable; /* checkpoint commits known to be on disk */
    size_t nwaiting;  /* streams whose head waits for durability */
    const struct su_ops *ops;
    void *arg;
    uint64_t sent;    /* updates put on the wire, retries included */
    uint64_t retries; /* resends after a timeout */
    uint64_t acked;   /* heads acknowledged */
};

/* Initializes `s` offline with no streams. `ops` and `arg` are borrowed. */
void su_init(struct su *s, int64_t initial_ms, int64_t max_ms, const struct su_ops *ops, void *arg);

/* Frees every stream. Accepts NULL. */
void su_fini(struct su *s);

/* Appends a copy of `status` to its task's stream and sends it if it is the
 * head and `s` is online. Returns 0, -AG_EINVAL (bad ids or no uuid) or
 * -AG_ENOMEM (nothing queued). */
int su_add(struct su *s, const struct msg_task_status *status, int64_t now_ms);

/* su_add for an update that must not be sent before checkpoint commit `seq`
 * is durable (see su_set_durable). */
int su_add_after(struct su *s, const struct msg_task_status *status, uint64_t seq, int64_t now_ms);

/* The checkpoint commits up to `seq` are durable: heads that waited for them
 * are sent now (when online). */
void su_set_durable(struct su *s, uint64_t seq, int64_t now_ms);

/* Handles an acknowledgement. Returns 0 when it matched the head of the stream
 * (dropped; the next update, if any, is sent), -AG_ENOENT otherwise. */
int su_ack(struct su *s, const char *framework_id, const char *task_id, const char *uuid,
           int64_t now_ms);

/* Goes online (resending every head now, backoff restarted) or offline. */
void su_set_online(struct su *s, bool online, int64_t now_ms);

/* Resends the heads whose retry time has come (only when online). */
void su_tick(struct su *s, int64_t now_ms);

/* Number of unacknowledged updates of a task (0 when it has no stream). */
size_t su_pending(const struct su *s, const char *framework_id, const char *task_id);

/* The update in flight for a task, or NULL. */
const struct msg_task_status *su_head(const struct su *s, const char *framework_id,
                                      const char *task_id);

/* Drops a task's stream and its updates. */
void su_drop(struct su *s, const char *framework_id, const char *task_id);

/* Drops every stream. */
void su_clear(struct su *s);

/* Number of unacknowledged updates over all streams. */
size_t su_total(const struct su *s);

#endif
