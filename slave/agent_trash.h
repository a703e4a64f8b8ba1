/*
 * Removing directory trees (a container's metadata, a sandbox) without
 * blocking the agent's loop. Called on the loop thread; the deletion itself
 * runs on libuv's thread pool and touches nothing but the tree, already moved
 * into a trash directory (paths_trash), so nothing else can reach it.
 */
#ifndef AGORA_SLAVE_AGENT_TRASH_H
#define AGORA_SLAVE_AGENT_TRASH_H

#include <uv.h>

struct paths;

/* Moves `path` into the trash of its filesystem at once and deletes it later.
 * Falls back to deleting it here when it cannot be moved or queued. */
void trash_remove(uv_loop_t *loop, const struct paths *p, const char *path);

/* Empties <work_dir>/trash and, with --runtime_dir, <runtime_dir>/trash (left
 * by an agent that stopped mid-removal). */
void trash_empty(uv_loop_t *loop, const struct paths *p);

#endif
