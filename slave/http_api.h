/*
 * The agent's HTTP endpoints (common/http.h server on --ip:--port), answered
 * on the loop thread from the agent's state; all GET except the last:
 *
 *   /health                    200, empty body
 *   /flags                     {"flags": {name: value}}
 *   /state                     the agent, its frameworks, executors and tasks (Mesos shape)
 *   /monitor/statistics        one entry per running executor with its pids and usage
 *                              (the container's cgroups when it has them)
 *   /metrics/snapshot          counters and gauges, Mesos names ("slave/tasks_running")
 *   /files/browse?path=P       entries of directory P: [{path, size, mode, mtime, nlink, uid, gid}]
 *   /files/read?path=P&offset=O&length=L   {"data": "...", "offset": O}; offset=-1 gives
 *                              the file size in "offset"; at most 1 MiB per call
 *
 * The /files endpoints serve only what lies inside <work_dir>/sandboxes: a path that
 * resolves elsewhere (.., symlinks) is 403, a missing one 404. The ".json"
 * spellings of the Mesos endpoints are accepted too.
 */
#ifndef AGORA_SLAVE_HTTP_API_H
#define AGORA_SLAVE_HTTP_API_H

#include <stddef.h>

struct agent;

#define AHTTP_MAX_READ (1u << 20) /* bytes one /files/read returns at most */

/* Opens the HTTP server of `a` on a->cfg.ip:a->cfg.port (a->http) and adds the
 * routes. Returns 0, or a negative code with a message in `err` (nothing left
 * open). */
int ahttp_start(struct agent *a, char *err, size_t errlen);

#endif
