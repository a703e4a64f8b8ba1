/*
 * The master's figures in its metrics registry (m->metrics): its counters,
 * the transport's, and the gauges computed from its state at each rendering.
 * Served by the HTTP API through master_metrics() (/metrics, /metrics/snapshot).
 */
#include "master_int.h"

#include "error.h"
#include "metrics.h"
#include "transport.h"

#include <stdio.h>
#include <string.h>

/* ---- metrics: every figure of the master in its registry (m->metrics) ---- */

/* Sets `name` (a gauge of m->metrics) to v. */
static void
mmetrics_set(struct master *m, const char *name, double v)
{
    metrics_set(metrics_gauge(m->metrics, name), v);
}

/* The collector: sets the gauges computed from the master's state. */
static void
mmetrics_collect(void *arg)
{
    struct master *m = arg;
    size_t active, inactive, refused = 0, tasks_by_state[MSG_TASK_STATE_COUNT] = {0};
    size_t it = 0;
    void *val;

    master_agent_counts(m, &active, &inactive);
    while (hmap_next(&m->frameworks, &it, NULL, &val)) {
        const struct framework *fw = val;
        size_t jt = 0;
        void *tv;
        while (hmap_next(&fw->tasks, &jt, NULL, &tv))
            tasks_by_state[((const struct task *)tv)->state]++;
    }
    for (it = 0; hmap_next(&m->agents, &it, NULL, &val);)
        if (((const struct agent *)val)->alloc_error[0])
            refused++;
    mmetrics_set(m, "master/uptime_secs", m->now - m->start_time);
    mmetrics_set(m, "master/elected", 1);
    mmetrics_set(m, "master/slaves_active", (double)active);
    mmetrics_set(m, "master/slaves_inactive", (double)inactive);
    mmetrics_set(m, "master/frameworks", (double)hmap_size(&m->frameworks));
    mmetrics_set(m, "master/outstanding_offers", (double)hmap_size(&m->offers));
    for (int s = 0; s < MSG_TASK_STATE_COUNT; s++) {
        char key[64], lower[32];
        const char *name = msg_task_state_name(s) + 5;
        size_t k;
        for (k = 0; name[k] && k < sizeof(lower) - 1; k++)
            lower[k] = (char)(name[k] >= 'A' && name[k] <= 'Z' ? name[k] + 32 : name[k]);
        lower[k] = '\0';
        snprintf(key, sizeof(key), "master/tasks_%s", lower);
        mmetrics_set(m, key, (double)tasks_by_state[s]);
    }
    mmetrics_set(m, "master/agents_overcommitted", (double)m->novercommitted);
    mmetrics_set(m, "master/agents_refused_by_allocator", (double)refused);
    mmetrics_set(m, "master/frameworks_completed", (double)m->ncompleted_fws);
    mmetrics_set(m, "allocator/allocation_run_ms/last", m->alloc_last_ms);
    mmetrics_set(m, "allocator/allocation_run_ms/max", m->alloc_max_ms);
    mmetrics_set(m, "transport/peers", (double)(m->tp ? tp_server_peers(m->tp) : 0));
}

static struct tp_stats
mmetrics_tp(struct master *m)
{
    struct tp_stats ts;

    memset(&ts, 0, sizeof(ts));
    if (m->tp)
        tp_server_stats(m->tp, &ts);
    return ts;
}

static uint64_t
mmetrics_retransmits(void *arg)
{
    return mmetrics_tp(arg).retransmits;
}

static uint64_t
mmetrics_dropped_peers(void *arg)
{
    return mmetrics_tp(arg).dropped_peers;
}

static uint64_t
mmetrics_malformed(void *arg)
{
    return mmetrics_tp(arg).malformed;
}

/* Registers the master's counters (handles in m->ctr), the transport's and
 * the collector of its gauges. */
int
mmetrics_register(struct master *m)
{
    const struct {
        const char *name;
        struct metrics_counter **c;
    } counters[] = {
        {"master/messages_received", &m->ctr.msgs_in},
        {"master/messages_sent", &m->ctr.msgs_out},
        {"master/invalid_messages", &m->ctr.msgs_invalid},
        {"master/tasks_launched", &m->ctr.tasks_launched},
        {"master/tasks_invalid", &m->ctr.tasks_error},
        {"master/offers_sent", &m->ctr.offers_sent},
        {"master/offers_rescinded", &m->ctr.offers_rescinded},
        {"master/offers_declined", &m->ctr.offers_declined},
        {"master/status_updates_forwarded", &m->ctr.updates_forwarded},
        {"master/agents_overcommitted_total", &m->ctr.agents_overcommitted},
        {"master/agents_refused_by_allocator_total", &m->ctr.agents_refused},
        {"master/orphan_tasks_killed", &m->ctr.orphans_killed},
        {"master/books_checks", &m->ctr.books_checks},
        {"master/books_discrepancies", &m->ctr.books_problems},
        {"allocator/allocation_runs", &m->ctr.alloc_runs},
    };
    int rc;

    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
        if ((*counters[i].c = metrics_counter(m->metrics, counters[i].name)) == NULL)
            return -AG_ENOMEM;
    rc = metrics_counter_fn(m->metrics, "transport/retransmits", mmetrics_retransmits, m);
    if (rc == 0)
        rc = metrics_counter_fn(m->metrics, "transport/dropped_peers", mmetrics_dropped_peers, m);
    if (rc == 0)
        rc = metrics_counter_fn(m->metrics, "transport/malformed_frames", mmetrics_malformed, m);
    if (rc == 0)
        rc = metrics_collector(m->metrics, mmetrics_collect, m);
    if (rc == 0)
        mmetrics_collect(m); /* creates the gauges */
    return rc;
}
