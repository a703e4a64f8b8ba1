/*
 * The agent's figures in its metrics registry (a->metrics): its counters
 * (handles in a->stats, incremented where the events happen), those of its
 * status-update streams (kept by status_updates.c, read at each rendering)
 * and the gauges computed from its state at each rendering. Served by the
 * HTTP API (/metrics, /metrics/snapshot).
 */
#ifndef AGORA_SLAVE_AGENT_METRICS_H
#define AGORA_SLAVE_AGENT_METRICS_H

struct agent;

/* Creates a->metrics and registers every figure in it; a->su and a->ctr must
 * be open (the gauges are created at once). Call before anything counts (the
 * recovery does). Returns 0 or -AG_ENOMEM (what was registered stays in
 * a->metrics, which agent_free releases). */
int ametrics_register(struct agent *a);

#endif
