/*
 * Resource usage of the agent's live tasks, on the loop thread: sampled from
 * their containers' cgroups, or from /proc for the main process of a task
 * without cgroups, and sent to the master in USAGE_REPORT messages (only while
 * registered; samples are not kept or retried).
 */
#ifndef AGORA_SLAVE_AGENT_USAGE_H
#define AGORA_SLAVE_AGENT_USAGE_H

#include <stdbool.h>
#include <stdint.h>

struct agent;
struct agent_task;
struct cg_stats;

/*
 * Resource usage of a live task: from its container's cgroups (*cgroups set
 * true), else cpu times and rss of its main process from /proc. Limits not
 * known from cgroups are the task's resources. Returns false when there is no
 * figure (the task has no process yet).
 */
bool usage_task(struct agent *a, const struct agent_task *t, struct cg_stats *out, bool *cgroups);

/*
 * From the tick (with --usage_report_interval): samples the live tasks whose
 * turn has come and sends them in one USAGE_REPORT. Each task is sampled once
 * per interval at a phase of its own, and one call spends at most a couple of
 * milliseconds (what is left waits for the next tick).
 */
void usage_report(struct agent *a, int64_t now);

/* Sends the last sample of a task whose container just ended (`counters`, its
 * cgroups' final figures), which would be lost with its cgroups otherwise. */
void usage_final(struct agent *a, const struct agent_task *t, const struct cg_stats *counters);

#endif
