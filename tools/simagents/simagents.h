/*
 * simagents: many simulated agents in one process, each speaking the real
 * agent protocol (common/msg.def) over its own transport connection
 * (common/transport.h) to a real master. The master cannot tell them from
 * agora-agent: they register with resources, attributes and a hostname of
 * their own, answer pings, send status updates that they retry until
 * acknowledged (slave/status_updates.h, the real agent's module), re-register
 * with their tasks after the connection drops (backoff and jitter), and redial
 * when the master stays silent for five ping intervals.
 *
 * Tasks are simulated: no process runs. A RUN_TASK becomes TASK_RUNNING after
 * `running_delay_ms` (0: at once), then TASK_FINISHED after its run time (the
 * task's label "sim_run_ms" when present, else uniform in [run_min_ms,
 * run_max_ms]; 0: it runs until killed). KILL_TASK and SHUTDOWN_FRAMEWORK end
 * tasks with TASK_KILLED at once. A task is forgotten once its terminal update
 * is acknowledged.
 *
 * One agent's connection states, and the functions that move it:
 *
 *   DISCONNECTED --on_connect (transport)--> CONNECTED
 *   CONNECTED --sim_tick, handshake_at_ms reached (jitter, backoff)--> REGISTERING
 *   REGISTERING --AGENT_REGISTERED (handle_registered)--> REGISTERED
 *   REGISTERING --ERROR (handle_error): -AG_ESTATE with an id: tasks and id
 *       forgotten, registers anew; otherwise CONNECTED after a doubled backoff
 *   REGISTERED --ERROR -AG_ESTATE (handle_error)--> REGISTERING (registers again)
 *   any --on_disconnect--> DISCONNECTED (the transport redials by itself)
 *   any --5 ping intervals of silence (sim_tick)--> DISCONNECTED, client reopened
 *
 * Threads: everything runs on the one loop thread that calls sim_open; the
 * transport's nng threads only post to it.
 */
#ifndef AGORA_SIMAGENTS_H
#define AGORA_SIMAGENTS_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct sim_config {
    const char *master;          /* as agora-agent --master (detector_resolve) */
    int64_t agents;              /* how many agents */
    int64_t first_index;         /* index of the first one (hostnames, several processes) */
    const char *hostname_prefix; /* agent i is "<prefix>-<i>" */
    const char *resources;       /* every agent's resources */
    const char *attributes;      /* added to every agent's "rack:r<i % racks>" */
    int64_t racks;               /* distinct rack attribute values */
    int64_t running_delay_ms;    /* RUN_TASK to TASK_RUNNING */
    int64_t run_min_ms;          /* TASK_RUNNING to TASK_FINISHED (0: until killed) */
    int64_t run_max_ms;          /* upper bound of the uniform run time (< min: = min) */
    int64_t su_retry_ms;         /* first status update retry interval */
    int64_t su_retry_max_ms;     /* its cap */
    int64_t backoff_ms;          /* first delay after a refused registration */
    int64_t jitter_ms;           /* each (re-)registration waits uniform [0, jitter) */
    int64_t start_rate;          /* agents opened per second at start (0: all at once) */
    int64_t stats_ms;            /* period of the stats line in the log (0: none) */
};

struct sim_stats {
    uint64_t agents;          /* agents opened so far */
    uint64_t registered;      /* agents in REGISTERED now */
    uint64_t registrations;   /* AGENT_REGISTERED received (first or again) */
    uint64_t tasks;           /* tasks known now (running or awaiting an ack) */
    uint64_t running;         /* tasks in TASK_RUNNING now */
    uint64_t launched;        /* RUN_TASKs accepted */
    uint64_t finished;        /* tasks ended (FINISHED or KILLED) */
    uint64_t updates_sent;    /* status updates put on the wire, retries included */
    uint64_t updates_pending; /* unacknowledged status updates now */
    uint64_t reconnects;      /* redials after the master went silent */
};

struct sim;

/*
 * Resolves the master, then opens the agents on `loop` (at cfg->start_rate per
 * second, or all at once). `cfg` is copied (its strings are borrowed and must
 * outlive the sim). Returns 0 and sets *out, or a negative AG_E* code with the
 * reason in `err` (nothing left open).
 */
int sim_open(struct sim **out, uv_loop_t *loop, const struct sim_config *cfg, char *err,
             size_t errlen);

/* Fills `out` with the counters (computed now; O(agents)). */
void sim_stats(struct sim *s, struct sim_stats *out);

/* Closes every connection and timer; the memory is released from the loop,
 * which must run on until it ends. Accepts NULL. */
void sim_close(struct sim *s);

#endif
