#include "daemon.h"

#include <signal.h>
#include <stdio.h>

int
daemon_flags(const struct flag *table, int *argc, char **argv, const char *prog,
             const char *summary, char *const *logging_level, enum ag_log_level *level)
{
    char err[1024];
    int rc = flags_parse(table, argc, argv, err, sizeof(err));

    if (rc == FLAGS_HELP) {
        flags_usage(table, prog, summary, stdout);
        flags_free(table);
        return 0;
    }
    if (rc != 0)
        fprintf(stderr, "%s: %s\n", prog, err);
    else if (*argc > 1)
        fprintf(stderr, "%s: unexpected argument '%s'; see --help\n", prog, argv[1]);
    else if (log_parse_level(*logging_level, level) != 0)
        fprintf(stderr, "%s: bad --logging_level '%s': use DEBUG, INFO, WARNING or ERROR\n", prog,
                *logging_level != NULL ? *logging_level : "");
    else
        return DAEMON_RUN;
    flags_free(table);
    return 1;
}

void
daemon_logging(const char *component, enum ag_log_level level)
{
    log_set_component(component);
    log_set_level(level);
    signal(SIGPIPE, SIG_IGN);
}
