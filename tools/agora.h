/*
 * The `agora` command-line tool: its commands.
 *
 * One binary, one module per command group (agora.c: dispatch, help, version;
 * agora_list.c: agents, frameworks, tasks; agora_task.c: task logs;
 * agora_app.c: app; agora_cluster.c: cluster; agora_report.c: report, with
 * its renderers in report_render.c and report_html.c). What they share (flags,
 * HTTP, tables, formatting) is cli.h. Every command is a
 * function `int cmd(int argc, char **argv)` that gets the arguments after the
 * command word (argv[0] is "agora CMD") and returns the process exit status:
 *
 *   CLI_OK (0)     success
 *   CLI_FAIL (1)   the operation failed or a server could not be reached
 *   CLI_USAGE (2)  bad command line (unknown command or flag, missing argument)
 *
 * Output: results on stdout, diagnostics on stderr, each prefixed "agora: ".
 */
#ifndef AGORA_CLI_H
#define AGORA_CLI_H

#include "cli.h"

/* ---- commands ---- */

int cmd_agents(int argc, char **argv);
int cmd_frameworks(int argc, char **argv);
int cmd_tasks(int argc, char **argv);
int cmd_task(int argc, char **argv);
int cmd_app(int argc, char **argv);
int cmd_cluster(int argc, char **argv);
int cmd_report(int argc, char **argv);

#endif
