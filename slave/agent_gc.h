/*
 * Garbage collection of the agent's directories, on the loop thread: the
 * sandboxes of tasks the agent no longer has, once last modified more than
 * --gc_delay ago (a task's sandbox is touched when it is forgotten, so the
 * delay counts from then; the clock is the directory's mtime, so it survives
 * restarts), and container metadata directories of no task. Removal itself
 * runs off the loop (agent_trash.h).
 */
#ifndef AGORA_SLAVE_AGENT_GC_H
#define AGORA_SLAVE_AGENT_GC_H

#include <stdint.h>

struct agent;

/* From the tick: sweeps the sandboxes when the next sweep is due (every
 * quarter of --gc_delay, at least once a minute, at most once a second). */
void gc_tick(struct agent *a, int64_t now);

/* Removes the container metadata directories no task of the tables refers to
 * (after recovery). */
void gc_stale_containers(struct agent *a);

#endif
