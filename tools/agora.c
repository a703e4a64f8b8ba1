/*
 * agora: the operator's command-line tool. Dispatches to the command modules
 * (agora.h); what they share is in cli.c.
 */
#define _GNU_SOURCE
#include "agora.h"

#include <stdlib.h>
#include <string.h>

#include "http.h"

/* ---- version, help, dispatch ---- */

static const struct flag version_flags[] = {CLI_FLAG_MASTER, CLI_FLAG_JSON, {NULL}};
static const struct cli_help version_help = {
    "version [--master=HOST:PORT] [--json]",
    "Prints the version of this tool and, when it answers, of the master (GET /version).\n"
    "Exits 0 even when the master cannot be reached.",
};

static int
cmd_version(int argc, char **argv)
{
    char base[512], url[600], *resp = NULL;
    json_t *mv = NULL;
    int rc, status = 0;

    if ((rc = cli_parse(version_flags, &version_help, &argc, argv)) != 0)
        return rc < 0 ? CLI_OK : rc;
    if (argc > 1)
        return cli_usage_error("version", "unexpected argument \"%s\"", argv[1]);
    if ((rc = cli_master_url(base, sizeof(base))) != 0)
        return rc;
    snprintf(url, sizeof(url), "%s/version", base);
    if (http_request("GET", url, NULL, NULL, 0, 3000, &status, &resp, NULL) == 0 && status == 200)
        mv = json_loads(resp, 0, NULL);
    free(resp);
    if (cli_opt.json) {
        json_t *o = json_pack("{s:s, s:s, s:O}", "agora", AGORA_VERSION, "master_address", base,
                              "master", mv ? mv : json_null());
        cli_print_json(o);
        json_decref(o);
    } else {
        const char *v = json_string_value(json_object_get(mv, "version"));
        printf("agora %s\n", AGORA_VERSION);
        if (v != NULL)
            printf("master %s (%s)\n", v, base);
        else if (status == 401)
            printf("master at %s requires authentication (--principal and --secret_file, or "
                   "$AGORA_PRINCIPAL and $AGORA_SECRET_FILE)\n",
                   base);
        else
            printf("master unreachable (%s)\n", base);
    }
    json_decref(mv);
    return CLI_OK;
}

static int cmd_help(int argc, char **argv);

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"cluster", cmd_cluster, "Run a local cluster: cluster up|down|status"},
    {"agents", cmd_agents, "List agents with used and total resources"},
    {"frameworks", cmd_frameworks, "List frameworks"},
    {"tasks", cmd_tasks, "List tasks (--framework=ID, --state=TASK_RUNNING)"},
    {"task", cmd_task, "A task's output: task logs TASK_ID [--stderr] [--follow]"},
    {"app", cmd_app, "Apps on agora-services: app deploy|list|show|scale|restart|rm"},
    {"report", cmd_report, "Accounting report: utilization, usage and cost per group"},
    {"version", cmd_version, "Versions of this tool and of the master"},
    {"help", cmd_help, "Help on a command: help CMD"},
    {NULL},
};

static void
print_overview(FILE *f)
{
    fprintf(f, "Usage: agora COMMAND [ARGS] [FLAGS]\n\n"
               "Commands:\n");
    for (const struct command *c = commands; c->name != NULL; c++)
        fprintf(f, "  %-11s %s\n", c->name, c->summary);
    fprintf(
        f,
        "\nEvery command takes --help. Addresses: --master=HOST:PORT (default $AGORA_MASTER or\n"
        "%s), --services=HOST:PORT (default $AGORA_SERVICES or %s).\n"
        "Listings take --json. Exit status: 0 success, 1 the operation failed or a server\n"
        "could not be reached, 2 usage error.\n",
        CLI_DEFAULT_MASTER, CLI_DEFAULT_SERVICES);
}

static const struct command *
find_command(const char *name)
{
    for (const struct command *c = commands; c->name != NULL; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

static int
run_command(const struct command *c, int argc, char **argv)
{
    char prog[64];

    snprintf(prog, sizeof(prog), "agora %s", c->name);
    argv[0] = prog;
    return c->fn(argc, argv);
}

static int
cmd_help(int argc, char **argv)
{
    const struct command *c;
    char *args[3];

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_overview(stdout);
        return CLI_OK;
    }
    if ((c = find_command(argv[1])) == NULL || c->fn == cmd_help)
        return cli_usage_error(NULL, "unknown command \"%s\"", argv[1]);
    args[0] = NULL;
    args[1] = "--help";
    args[2] = NULL;
    return run_command(c, 2, args);
}

int
main(int argc, char **argv)
{
    const struct command *c;
    int i, rc;

    setvbuf(stdout, NULL, _IOLBF, 0);
    /* The command is the first argument that is not a flag; flags before it
     * (e.g. `agora --master=X agents`) are handed to the command. */
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0 || argv[i][0] != '-' || argv[i][1] == '\0')
            break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_overview(stdout);
            return CLI_OK;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("agora %s\n", AGORA_VERSION);
            return CLI_OK;
        }
    }
    if (i >= argc || strcmp(argv[i], "--") == 0) {
        print_overview(stderr);
        return CLI_USAGE;
    }
    if ((c = find_command(argv[i])) == NULL)
        return cli_usage_error(NULL, "unknown command \"%s\"", argv[i]);
    /* argv without the command word: [prog, flags before it..., args after it...]. */
    memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(*argv));
    rc = run_command(c, argc - 1, argv);
    return rc;
}
