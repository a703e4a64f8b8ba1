/*
 * benchlib: what the benchmark programs that run real daemons share (bench-launch,
 * bench-scale): a monotonic clock, free ports, spawning a daemon with its output in
 * a log file, waiting for an HTTP endpoint, percentiles, and a process's CPU time and
 * resident memory from /proc. Blocking calls for a program's main thread; no state.
 */
#ifndef AGORA_BENCHLIB_H
#define AGORA_BENCHLIB_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

/* Waits on `cv` with `mu` held until `cond` holds; when `secs` pass first, unlocks `mu`
 * and runs the statement `on_timeout` (which should not return, e.g. a die()). */
#define BENCH_WAIT_FOR(cv, mu, cond, secs, on_timeout)                                             \
    do {                                                                                           \
        struct timespec dl_;                                                                       \
        clock_gettime(CLOCK_REALTIME, &dl_);                                                       \
        dl_.tv_sec += (secs);                                                                      \
        while (!(cond))                                                                            \
            if (pthread_cond_timedwait((cv), (mu), &dl_) == ETIMEDOUT) {                           \
                pthread_mutex_unlock(mu);                                                          \
                on_timeout;                                                                        \
            }                                                                                      \
    } while (0)

/* Seconds on the monotonic clock. */
double bench_now(void);

/* A free TCP port on 127.0.0.1, or -1 with errno set. */
int bench_free_port(void);

/* Starts argv[0] with stdin from /dev/null and stdout and stderr appended to
 * `log`. Returns its pid, or -1 with errno set. */
pid_t bench_spawn(char *const argv[], const char *log);

/* Polls GET `url` every 50 ms until it answers 200 or `secs` pass. 0 or -1. */
int bench_wait_ok(const char *url, double secs);

/* Sorts `v` (n values) and returns its p-quantile (0 <= p <= 1); 0 when n is 0. */
double bench_pct(double *v, int n, double p);

/* CPU seconds (user + system) of `pid`, or of its waited-for children. 0 if unknown. */
double bench_cpu_seconds(pid_t pid, bool children);

/* Resident memory of `pid` in KiB (VmRSS), or -1. */
long bench_rss_kb(pid_t pid);

struct ag_driver;

/* A scheduler `error` callback that prints the error on stderr after the program's name. */
void bench_on_error(struct ag_driver *d, void *arg, int code, const char *message, bool fatal);

#endif
