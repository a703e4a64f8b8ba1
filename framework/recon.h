/*
 * The reconciliation helper behind ag_driver_reconcile_until_known: the tasks
 * still awaiting an answer from the master and when to ask again (backoff
 * doubling from `initial` to `max`, in milliseconds of the driver's loop).
 *
 * A pure core: no I/O, no clock (the driver passes `now`), no locks; it
 * belongs to the driver thread. It builds the RECONCILE calls; the driver
 * queues and sends them.
 */
#ifndef AGORA_SCHED_RECON_H
#define AGORA_SCHED_RECON_H

#include "call.h"
#include "hmap.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct recon {
    struct hmap tasks; /* task id -> agent id (malloc'd) awaiting an answer */
    uint64_t due;      /* when to ask next */
    uint64_t backoff;  /* the wait after the next question */
    uint64_t initial;
    uint64_t max;
};

/* An empty helper with the default backoff (1 s doubling to 60 s). */
void recon_init(struct recon *r);

/* Frees what the helper holds. */
void recon_fini(struct recon *r);

/* Adds the tasks of the RECONCILE message `m` (a task already awaited gets the
 * new agent id), takes its backoff (seconds) and makes a question due at
 * `now`. Returns 0, or -AG_ENOMEM when some tasks could not be added (the
 * others and the new backoff are kept). */
int recon_add(struct recon *r, const struct msg_reconcile *m, double initial_s, double max_s,
              uint64_t now);

/* A new subscription: the backoff starts over and a question is due at `now`. */
void recon_restart(struct recon *r, uint64_t now);

/* When a question is due at `now`: a RECONCILE call (owned by the caller)
 * listing every task awaited, and the next question is scheduled. Else, and
 * when out of memory (the question stays due), NULL. */
struct call *recon_take(struct recon *r, uint64_t now);

/* An answer about `task_id` arrived: true when it was awaited (it no longer is). */
bool recon_answered(struct recon *r, const char *task_id);

/* How many tasks await an answer. */
size_t recon_pending(const struct recon *r);

#endif
