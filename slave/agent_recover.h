/*
 * Recovery of an agent restarted on the same work directory, on the loop
 * thread, once, before it dials the master: the agent id, frameworks, tasks and
 * pending status updates come back from the checkpoint; each live task is
 * re-attached to its running executor (ctr_recover), and one whose container
 * is gone becomes TASK_FAILED (REASON_AGENT_RESTARTED). Terminal tasks whose
 * updates were all acknowledged are forgotten, container directories of no
 * task removed. Rows with invalid ids are dropped from the checkpoint.
 */
#ifndef AGORA_SLAVE_AGENT_RECOVER_H
#define AGORA_SLAVE_AGENT_RECOVER_H

#include <stddef.h>

struct agent;

/* Fills the agent's empty tables from its checkpoint (writes go into the open
 * transaction; ckpt_start commits them). Returns 0, or the error of reading
 * the checkpoint with a message in `err` (the tables stay empty). */
int recover_load(struct agent *a, char *err, size_t errlen);

#endif
