/*
 * The agent's metrics (agent_metrics.h).
 */
#include "agent_metrics.h"

#include "agent_int.h"
#include "clock.h"
#include "containerizer.h"
#include "error.h"
#include "metrics.h"

/* Sets `name` (a gauge of a->metrics) to v. */
static void
ametrics_set(struct agent *a, const char *name, double v)
{
    metrics_set(metrics_gauge(a->metrics, name), v);
}

/* The collector: sets the gauges computed from the agent's state. */
static void
ametrics_collect(void *arg)
{
    struct agent *a = arg;
    size_t running = 0, staging = 0, starting = 0, killing = 0;
    const char *key;
    void *val;

    for (size_t it = 0; hmap_next(&a->tasks, &it, &key, &val);) {
        const struct agent_task *t = val;
        switch (t->st.status.state) {
        case MSG_TASK_RUNNING:
            running++;
            break;
        case MSG_TASK_STAGING:
            staging++;
            break;
        case MSG_TASK_STARTING:
            starting++;
            break;
        case MSG_TASK_KILLING:
            killing++;
            break;
        default:
            break;
        }
    }
    ametrics_set(a, "slave/registered", a->conn == AGENT_REGISTERED);
    ametrics_set(a, "slave/uptime_secs", clock_wall() - a->start_time);
    ametrics_set(a, "slave/tasks_running", (double)running);
    ametrics_set(a, "slave/tasks_staging", (double)staging);
    ametrics_set(a, "slave/tasks_starting", (double)starting);
    ametrics_set(a, "slave/tasks_killing", (double)killing);
    ametrics_set(a, "slave/executors_running", (double)ctr_count(a->ctr));
    ametrics_set(a, "slave/frameworks_active", (double)hmap_size(&a->frameworks));
    ametrics_set(a, "slave/status_updates_pending", (double)su_total(&a->su));
}

/* Registers the agent's counters (handles in a->stats), those of a->su (read
 * at each rendering) and the collector of its gauges. */
int
ametrics_register(struct agent *a)
{
    const struct {
        const char *name;
        struct metrics_counter **c;
    } counters[] = {
        {"slave/tasks_finished", &a->stats.finished},
        {"slave/tasks_failed", &a->stats.failed},
        {"slave/tasks_killed", &a->stats.killed},
        {"slave/tasks_lost", &a->stats.lost},
        {"slave/registrations", &a->stats.registrations},
        {"slave/reconnects", &a->stats.reconnects},
        {"slave/tasks_launched", &a->stats.launched},
        {"slave/messages_received", &a->stats.messages_received},
        {"slave/messages_sent", &a->stats.messages_sent},
    };
    const struct metrics_u64 su_counters[] = {
        {"slave/status_updates_sent", &a->su.sent},
        {"slave/status_updates_retried", &a->su.retries},
        {"slave/status_updates_acknowledged", &a->su.acked},
    };
    int rc;

    if (a->metrics == NULL && (a->metrics = metrics_new()) == NULL)
        return -AG_ENOMEM;
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
        if ((*counters[i].c = metrics_counter(a->metrics, counters[i].name)) == NULL)
            return -AG_ENOMEM;
    rc =
        metrics_counters_u64(a->metrics, su_counters, sizeof(su_counters) / sizeof(su_counters[0]));
    if (rc == 0)
        rc = metrics_collector(a->metrics, ametrics_collect, a);
    if (rc == 0)
        ametrics_collect(a); /* creates the gauges */
    return rc;
}
