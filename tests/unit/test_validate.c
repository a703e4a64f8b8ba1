/* Unit tests for master/validate.c: the checks an ACCEPT's tasks go through. */
#include "test.h"

#include "validate.h"

static void
set_str(char **field, const char *value)
{
    free(*field);
    *field = strdup(value);
    CHECK(*field != NULL);
}

/* A valid task "t1" asking for `res`, running `echo hi`. */
static void
task_make(struct msg_task_info *ti, const char *res)
{
    char err[256];

    msg_task_info_init(ti);
    set_str(&ti->task_id, "t1");
    set_str(&ti->name, "web");
    set_str(&ti->agent_id, "");
    set_str(&ti->framework_id, "");
    set_str(&ti->executor_id, "");
    set_str(&ti->command.value, "echo hi");
    set_str(&ti->command.user, "");
    set_str(&ti->container.image, "");
    set_str(&ti->container.network, "");
    CHECK_EQ_INT(res_parse(&ti->resources, res, err, sizeof(err)), 0);
}

/* Validates `ti` against offers holding `offered`; the reason or NULL. */
static const char *
check(const struct msg_task_info *ti, bool in_use, const char *offered, char *why, size_t len)
{
    struct resources remaining;
    char err[256];
    const char *r;

    res_init(&remaining);
    CHECK_EQ_INT(res_parse(&remaining, offered, err, sizeof(err)), 0);
    r = validate_task(ti, in_use, &remaining, why, len);
    res_fini(&remaining);
    return r;
}

static void
test_valid(void)
{
    struct msg_task_info ti;
    char why[256];

    task_make(&ti, "cpus:1;mem:64");
    CHECK(check(&ti, false, "cpus:1;mem:64", why, sizeof(why)) == NULL);
    CHECK(check(&ti, false, "cpus:4;mem:1024;disk:10", why, sizeof(why)) == NULL);
    set_str(&ti.container.network, "none");
    CHECK(check(&ti, false, "cpus:1;mem:64", why, sizeof(why)) == NULL);
    msg_task_info_fini(&ti);
}

static void
test_ids(void)
{
    struct msg_task_info ti;
    char why[256];
    const char *r;

    task_make(&ti, "cpus:1;mem:64");
    r = check(&ti, true, "cpus:1;mem:64", why, sizeof(why));
    CHECK(r == why && strstr(why, "already used") != NULL);
    set_str(&ti.task_id, "bad id/with slash");
    r = check(&ti, false, "cpus:1;mem:64", why, sizeof(why));
    CHECK(r != NULL && strstr(why, "invalid task id") != NULL);
    /* An invalid id is reported as such even if "in use". */
    r = check(&ti, true, "cpus:1;mem:64", why, sizeof(why));
    CHECK(r != NULL && strstr(why, "invalid task id") != NULL);
    set_str(&ti.task_id, "");
    CHECK(check(&ti, false, "cpus:1;mem:64", why, sizeof(why)) != NULL);
    msg_task_info_fini(&ti);
}

static void
test_resources(void)
{
    struct msg_task_info ti;
    char why[256];

    task_make(&ti, "cpus:2;mem:64");
    CHECK(check(&ti, false, "cpus:1;mem:1024", why, sizeof(why)) != NULL);
    CHECK(strstr(why, "more than the offers hold") != NULL);
    msg_task_info_fini(&ti);
    task_make(&ti, "mem:64");
    CHECK(check(&ti, false, "cpus:1;mem:64", why, sizeof(why)) != NULL);
    CHECK(strstr(why, "cpus > 0 and mem > 0") != NULL);
    msg_task_info_fini(&ti);
    task_make(&ti, "cpus:1");
    CHECK(check(&ti, false, "cpus:1;mem:64", why, sizeof(why)) != NULL);
    msg_task_info_fini(&ti);
    /* A reservation is not the unreserved resource of the same name. */
    task_make(&ti, "cpus(web):1;mem:64");
    CHECK(check(&ti, false, "cpus:1;mem:64", why, sizeof(why)) != NULL);
    CHECK(check(&ti, false, "cpus(web):1;mem:64", why, sizeof(why)) == NULL);
    msg_task_info_fini(&ti);
}

static void
test_command_and_limits(void)
{
    struct msg_task_info ti;
    char why[256];
    char *big;

    task_make(&ti, "cpus:1;mem:64");
    set_str(&ti.command.value, "");
    CHECK(check(&ti, false, "cpus:1;mem:64", why, sizeof(why)) != NULL);
    CHECK(strstr(why, "no command") != NULL);
    /* exec form: arguments without a value are a command too... */
    ti.command.shell = false;
    CHECK(check(&ti, false, "cpus:1;mem:64", why, sizeof(why)) != NULL);
    set_str(&ti.command.value, "/bin/true");
    CHECK(check(&ti, false, "cpus:1;mem:64", why, sizeof(why)) == NULL);
    ti.command.shell = true;

    big = malloc(MAX_COMMAND_LEN + 2);
    CHECK(big != NULL);
    memset(big, 'x', MAX_COMMAND_LEN + 1);
    big[MAX_COMMAND_LEN + 1] = '\0';
    free(ti.command.value);
    ti.command.value = big;
    CHECK(check(&ti, false, "cpus:1;mem:64", why, sizeof(why)) != NULL);
    CHECK(strstr(why, "command longer") != NULL);
    set_str(&ti.command.value, "echo hi");

    ti.kill_grace_ms = -1;
    CHECK(check(&ti, false, "cpus:1;mem:64", why, sizeof(why)) != NULL);
    ti.kill_grace_ms = 3600 * 1000 + 1;
    CHECK(check(&ti, false, "cpus:1;mem:64", why, sizeof(why)) != NULL);
    ti.kill_grace_ms = 3600 * 1000;
    CHECK(check(&ti, false, "cpus:1;mem:64", why, sizeof(why)) == NULL);

    set_str(&ti.container.network, "bridge");
    CHECK(check(&ti, false, "cpus:1;mem:64", why, sizeof(why)) != NULL);
    CHECK(strstr(why, "container.network") != NULL);
    set_str(&ti.container.network, "host");

    big = malloc(MAX_TASK_NAME + 2);
    CHECK(big != NULL);
    memset(big, 'n', MAX_TASK_NAME + 1);
    big[MAX_TASK_NAME + 1] = '\0';
    free(ti.name);
    ti.name = big;
    CHECK(check(&ti, false, "cpus:1;mem:64", why, sizeof(why)) != NULL);
    CHECK(strstr(why, "task name longer") != NULL);
    msg_task_info_fini(&ti);
}

/* The reason is cut to the buffer, always terminated. */
static void
test_short_buffer(void)
{
    struct msg_task_info ti;
    char why[8];

    task_make(&ti, "cpus:1;mem:64");
    CHECK(check(&ti, true, "cpus:1;mem:64", why, sizeof(why)) == why);
    CHECK(strlen(why) == sizeof(why) - 1);
    msg_task_info_fini(&ti);
}

TEST_LIST(TEST_ENTRY(valid), TEST_ENTRY(ids), TEST_ENTRY(resources), TEST_ENTRY(command_and_limits),
          TEST_ENTRY(short_buffer));
TEST_MAIN()
