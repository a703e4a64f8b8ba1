/*
 * One health check probe, run by agora-executor in probe mode for the
 * agent's health checker (health.h):
 *
 *   agora-executor --probe --pid=PID --type=COMMAND --command=CMD --timeout_ms=N
 *   agora-executor --probe --pid=PID --type=HTTP --port=P [--path=/p] --timeout_ms=N
 *   agora-executor --probe --pid=PID --type=TCP --port=P --timeout_ms=N
 *
 * PID is the container's first process (task.pid). COMMAND joins the
 * container's ipc, uts, net, pid and mount namespaces (those that differ from
 * the probe's own) and runs `/bin/sh -c CMD` there with the task's environment
 * and user, capabilities dropped as for the task. HTTP and TCP join only the
 * network namespace and connect to 127.0.0.1:P; HTTP sends a GET and wants a
 * status from 200 to 399. Exit status: 0 healthy, 1 unhealthy (a line on
 * stdout says why), 2 the probe itself could not run.
 */
#ifndef AGORA_SLAVE_HEALTH_PROBE_H
#define AGORA_SLAVE_HEALTH_PROBE_H

/* The probe's main; argv[1] is "--probe". */
int probe_main(int argc, char **argv);

#endif
