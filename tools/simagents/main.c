/* agora-simagents: flags, logging, signals and the loop (daemon_run) around simagents.h. */
#include "simagents.h"

#include "daemon.h"
#include "flags.h"
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char *f_master, *f_prefix, *f_resources, *f_attributes, *f_logging_level;
static int64_t f_agents, f_first, f_racks, f_delay_ms, f_run_ms, f_run_max_ms, f_su_retry_ms,
    f_su_retry_max_ms, f_backoff_ms, f_jitter_ms, f_start_rate, f_stats_ms;

static const struct flag sim_flag_table[] = {
    {"master", FLAG_STRING, &f_master, FLAG_REQUIRED,
     "The master, HOST:PORT (port 5050 when left out), as agora-agent --master."},
    {"agents", FLAG_INT64, &f_agents, "100",
     "Number of agents to simulate; each holds its own connection to the master (about 5 file "
     "descriptors: mind ulimit -n)."},
    {"first_index", FLAG_INT64, &f_first, "0",
     "Number of the first agent: agent i is named <hostname_prefix>-<i> (six "
     "digits), so several processes with disjoint ranges can share a master."},
    {"hostname_prefix", FLAG_STRING, &f_prefix, "sim", "Prefix of the agents' hostnames."},
    {"resources", FLAG_STRING, &f_resources, "cpus:8;mem:32768;disk:65536;ports:[31000-32000]",
     "Resources of every agent."},
    {"attributes", FLAG_STRING, &f_attributes, NULL,
     "Attributes added to every agent's own \"rack:r<i % racks>\", e.g. \"zone:a\"."},
    {"racks", FLAG_INT64, &f_racks, "100", "Distinct values of the rack attribute."},
    {"running_delay", FLAG_DURATION, &f_delay_ms, "0ms",
     "Delay between RUN_TASK and TASK_RUNNING (0: at once)."},
    {"task_run", FLAG_DURATION, &f_run_ms, "0ms",
     "How long a task runs before TASK_FINISHED (0: until killed). A task's label "
     "sim_run_ms=<ms> overrides it."},
    {"task_run_max", FLAG_DURATION, &f_run_max_ms, "0ms",
     "When above --task_run, each task runs a uniform random time in [task_run, task_run_max]."},
    {"status_update_retry_interval", FLAG_DURATION, &f_su_retry_ms, "10secs",
     "First retry interval of an unacknowledged status update; it doubles at each retry."},
    {"status_update_retry_max", FLAG_DURATION, &f_su_retry_max_ms, "10mins",
     "Longest interval between retries of a status update."},
    {"registration_backoff_factor", FLAG_DURATION, &f_backoff_ms, "1secs",
     "First delay before retrying a refused registration; it doubles up to one minute."},
    {"registration_jitter", FLAG_DURATION, &f_jitter_ms, "0ms",
     "Each agent waits a uniform random time below this after every (re)connection before it "
     "(re-)registers (0: at once, as agora-agent does)."},
    {"start_rate", FLAG_INT64, &f_start_rate, "0",
     "Agents opened per second at start (0: all at once)."},
    {"stats_interval", FLAG_DURATION, &f_stats_ms, "10secs",
     "How often a line of counters is logged (0: never)."},
    {"logging_level", FLAG_STRING, &f_logging_level, "INFO", "DEBUG, INFO, WARNING or ERROR."},
    {NULL},
};

struct sim_daemon {
    struct sim_config cfg;
    struct sim *sim;
};

static int
sim_daemon_start(void *arg, uv_loop_t *loop)
{
    struct sim_daemon *sd = arg;
    char err[1024];
    int rc;

    if ((rc = sim_open(&sd->sim, loop, &sd->cfg, err, sizeof(err))) != 0)
        fprintf(stderr, "agora-simagents: %s\n", err);
    return rc;
}

static void
sim_daemon_signal(void *arg, int signum)
{
    struct sim_daemon *sd = arg;

    /* Closing thousands of nng sockets one by one takes nng 1.5.2 minutes (its
     * aio expiry thread spins over every pending aio), and nothing here needs a
     * goodbye: the kernel closes the connections, the master sees them drop. A
     * small simulation closes cleanly (sanitizer builds check it for leaks). */
    if (sd->cfg.agents > 100) {
        log_info("received %s, exiting", strsignal(signum));
        fflush(NULL);
        _exit(0);
    }
    log_info("received %s, stopping", strsignal(signum));
    sim_close(sd->sim);
    sd->sim = NULL;
}

static int
sim_daemon_finish(void *arg, bool started)
{
    (void)arg;
    if (started)
        log_info("simulator stopped");
    return 0;
}

static const struct daemon_ops sim_daemon_ops = {
    .start = sim_daemon_start,
    .on_signal = sim_daemon_signal,
    .finish = sim_daemon_finish,
};

int
main(int argc, char **argv)
{
    static struct sim_daemon sd;
    enum ag_log_level level;
    int rc;

    rc = daemon_flags(sim_flag_table, &argc, argv, "agora-simagents",
                      "Simulates many Agora agents in one process, for scale tests of a real "
                      "master: each agent has its own connection, id, hostname, resources and "
                      "rack attribute, and speaks the real agent protocol (registration, pings, "
                      "status updates retried until acknowledged, re-registration with its tasks "
                      "after the connection drops). Tasks run no process: TASK_RUNNING after "
                      "--running_delay, TASK_FINISHED after --task_run (or when killed). See "
                      "docs/performance.md.",
                      &f_logging_level, &level);
    if (rc != DAEMON_RUN)
        return rc;
    daemon_logging("simagents", level);
    sd.cfg = (struct sim_config){
        .master = f_master,
        .agents = f_agents,
        .first_index = f_first,
        .hostname_prefix = f_prefix,
        .resources = f_resources,
        .attributes = f_attributes,
        .racks = f_racks,
        .running_delay_ms = f_delay_ms,
        .run_min_ms = f_run_ms,
        .run_max_ms = f_run_max_ms,
        .su_retry_ms = f_su_retry_ms,
        .su_retry_max_ms = f_su_retry_max_ms,
        .backoff_ms = f_backoff_ms,
        .jitter_ms = f_jitter_ms,
        .start_rate = f_start_rate,
        .stats_ms = f_stats_ms,
    };
    return daemon_run(&sim_daemon_ops, &sd, sim_flag_table);
}
