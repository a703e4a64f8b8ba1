#include "test.h"

#include "daemon.h"

#include <stdio.h>
#include <unistd.h>

static char *f_level;
static const struct flag table[] = {
    {"logging_level", FLAG_STRING, &f_level, "INFO", "DEBUG, INFO, WARNING or ERROR."},
    {NULL},
};

/* Runs daemon_flags on argv (stdout and stderr to /dev/null). */
static int
run(int argc, char **argv, enum ag_log_level *level)
{
    int rc;

    fflush(stdout);
    fflush(stderr);
    int o = dup(1), e = dup(2);
    FILE *null = freopen("/dev/null", "w", stdout);
    (void)null;
    dup2(1, 2);
    rc = daemon_flags(table, &argc, argv, "agora-test", "A test.", &f_level, level);
    fflush(stdout);
    fflush(stderr);
    dup2(o, 1);
    dup2(e, 2);
    close(o);
    close(e);
    return rc;
}

static void
test_flags(void)
{
    enum ag_log_level level = AG_LOG_ERROR;
    char *ok[] = {"agora-test", "--logging_level=DEBUG", NULL};
    char *help[] = {"agora-test", "--help", NULL};
    char *bad[] = {"agora-test", "--nope", NULL};
    char *extra[] = {"agora-test", "extra", NULL};
    char *level_bad[] = {"agora-test", "--logging_level=LOUD", NULL};

    CHECK_EQ_INT(run(2, ok, &level), DAEMON_RUN);
    CHECK_EQ_INT(level, AG_LOG_DEBUG);
    flags_free(table);
    CHECK_EQ_INT(run(2, help, &level), 0);
    CHECK(f_level == NULL); /* freed on the way out */
    CHECK_EQ_INT(run(2, bad, &level), 1);
    CHECK_EQ_INT(run(2, extra, &level), 1);
    CHECK_EQ_INT(run(2, level_bad, &level), 1);
    CHECK(f_level == NULL);
}

TEST_LIST(TEST_ENTRY(flags));
TEST_MAIN()
