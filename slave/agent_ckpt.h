/*
 * Group commit of the agent's checkpoint (state.h), on the loop thread.
 *
 * Every checkpoint write of one loop turn goes into one SQLite transaction,
 * each event in a savepoint of its own (ckpt_begin ... ckpt_end), so a failed
 * event undoes only itself. A uv_check handle commits the transaction at the
 * end of the turn (ckpt_flush commits at once: a launch does). A commit does
 * not wait for the disk: the fsync runs on the checkpoint's own thread and
 * covers every commit made before it started (state_sync), so the loop goes on
 * launching and watching meanwhile. Status updates wait in their streams for
 * the commit that holds them to be durable (su_add_after, su_set_durable), so
 * nothing leaves the agent before it is checkpointed on disk.
 */
#ifndef AGORA_SLAVE_AGENT_CKPT_H
#define AGORA_SLAVE_AGENT_CKPT_H

struct agent;

/* Opens the turn's transaction if none is and a savepoint for one event in it.
 * Returns 0 or the checkpoint's error (no savepoint then: skip ckpt_end). */
int ckpt_begin(struct agent *a);

/* Ends one event's changes: kept when rv is 0, undone otherwise. Returns rv,
 * or the error of keeping them. */
int ckpt_end(struct agent *a, int rv);

/* Commits the turn's transaction (a failed commit is logged and rolled back)
 * and starts syncing it to disk; status updates follow once it is durable. */
void ckpt_flush(struct agent *a);

/* Makes sure the turn ends with ckpt_flush (for writes outside a transaction). */
void ckpt_kick(struct agent *a);

/* Creates the end-of-turn commit handle (a->commit_check; agent_close closes
 * it) and commits at the end of this turn what recovery wrote. */
void ckpt_start(struct agent *a);

#endif
