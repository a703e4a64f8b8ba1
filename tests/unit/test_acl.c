/* Unit tests for common/acl.c: Mesos's ACL file and the decisions it makes. */
#include "test.h"

#include "acl.h"
#include "error.h"

#include <unistd.h>

static struct acls *
parse_ok(const char *text)
{
    struct acls *acls = NULL;
    char err[512];
    int rc = acl_parse(text, &acls, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "acl_parse: %s\n", err);
    CHECK_EQ_INT(rc, 0);
    CHECK(acls != NULL);
    return acls;
}

/* Parsing `text` fails with -AG_EINVAL and an error holding `needle`. */
static void
parse_bad(const char *text, const char *needle)
{
    struct acls *acls = (struct acls *)1;
    char err[512] = "";
    int rc = acl_parse(text, &acls, err, sizeof(err));
    if (rc != -AG_EINVAL)
        fprintf(stderr, "accepted: %s\n", text);
    CHECK_EQ_INT(rc, -AG_EINVAL);
    CHECK(acls == NULL);
    if (strstr(err, needle) == NULL) {
        fprintf(stderr, "error \"%s\" lacks \"%s\"\n", err, needle);
        CHECK(0);
    }
}

/* Each action, both ways: alice may act on "yes" only (and nobody else has a
 * rule), with permissive false. */
static void
test_each_action(void)
{
    static const struct {
        enum acl_action a;
        const char *name, *object;
    } cases[] = {
        {ACL_REGISTER_FRAMEWORKS, "register_frameworks", "roles"},
        {ACL_RUN_TASKS, "run_tasks", "users"},
        {ACL_TEARDOWN_FRAMEWORKS, "teardown_frameworks", "framework_principals"},
        {ACL_RESERVE_RESOURCES, "reserve_resources", "roles"},
        {ACL_UNRESERVE_RESOURCES, "unreserve_resources", "reserver_principals"},
        {ACL_UPDATE_QUOTAS, "update_quotas", "roles"},
        {ACL_UPDATE_WEIGHTS, "update_weights", "roles"},
        {ACL_GET_ENDPOINTS, "get_endpoints", "paths"},
        {ACL_VIEW_FRAMEWORKS, "view_frameworks", "users"},
        {ACL_VIEW_TASKS, "view_tasks", "users"},
        {ACL_ACCESS_SANDBOXES, "access_sandboxes", "users"},
        {ACL_VIEW_ROLES, "view_roles", "roles"},
        {ACL_MANAGE_APPS, "manage_apps", "app_ids"},
        {ACL_VIEW_APPS, "view_apps", "app_ids"},
    };
    char text[512];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text),
                 "{\"permissive\": false, \"%s\": [{\"principals\": {\"values\": [\"alice\"]}, "
                 "\"%s\": {\"values\": [\"yes\"]}}]}",
                 cases[i].name, cases[i].object);
        struct acls *acls = parse_ok(text);
        CHECK_EQ_STR(acl_action_name(cases[i].a), cases[i].name);
        CHECK_EQ_INT(acl_rule_count(acls, cases[i].a), 1);
        CHECK(acl_authorized(acls, cases[i].a, "alice", "yes"));
        CHECK(!acl_authorized(acls, cases[i].a, "alice", "no"));
        CHECK(!acl_authorized(acls, cases[i].a, "bob", "yes"));
        CHECK(!acl_authorized(acls, cases[i].a, NULL, "yes"));
        /* Another action has no rule: permissive (false) decides. */
        enum acl_action other = cases[i].a == ACL_RUN_TASKS ? ACL_UPDATE_WEIGHTS : ACL_RUN_TASKS;
        CHECK(!acl_authorized(acls, other, "alice", "yes"));
        acl_free(acls);
    }
    /* register_agents: the object is only ever ANY or NONE. */
    struct acls *acls = parse_ok(
        "{\"permissive\": false, \"register_agents\": ["
        "{\"principals\": {\"values\": [\"agent\"]}, \"agents\": {\"type\": \"ANY\"}},"
        "{\"principals\": {\"values\": [\"fw\"]}, \"agents\": {\"type\": \"NONE\"}}]}");
    CHECK(acl_authorized(acls, ACL_REGISTER_AGENTS, "agent", NULL));
    CHECK(!acl_authorized(acls, ACL_REGISTER_AGENTS, "fw", NULL));
    CHECK(!acl_authorized(acls, ACL_REGISTER_AGENTS, "other", NULL));
    acl_free(acls);
    /* drain_agents and reactivate_agents (undrain): the agent is absent too. */
    acls = parse_ok("{\"permissive\": false, \"drain_agents\": ["
                    "{\"principals\": {\"values\": [\"ops\"]}, \"agents\": {\"type\": \"ANY\"}}],"
                    "\"reactivate_agents\": ["
                    "{\"principals\": {\"values\": [\"ops\"]}, \"agents\": {\"type\": \"NONE\"}},"
                    "{\"principals\": {\"values\": [\"ci\"]}, \"agents\": {\"type\": \"ANY\"}}]}");
    CHECK_EQ_STR(acl_action_name(ACL_DRAIN_AGENTS), "drain_agents");
    CHECK_EQ_STR(acl_action_name(ACL_REACTIVATE_AGENTS), "reactivate_agents");
    CHECK(acl_authorized(acls, ACL_DRAIN_AGENTS, "ops", NULL));
    CHECK(!acl_authorized(acls, ACL_DRAIN_AGENTS, "ci", NULL));
    CHECK(!acl_authorized(acls, ACL_DRAIN_AGENTS, NULL, NULL));
    CHECK(!acl_authorized(acls, ACL_REACTIVATE_AGENTS, "ops", NULL));
    CHECK(acl_authorized(acls, ACL_REACTIVATE_AGENTS, "ci", NULL));
    acl_free(acls);
    /* Mesos's older name for update_quotas. */
    acls = parse_ok("{\"set_quotas\": [{\"principals\": {\"type\": \"ANY\"}, \"roles\": "
                    "{\"type\": \"NONE\"}}]}");
    CHECK(!acl_authorized(acls, ACL_UPDATE_QUOTAS, "ops", "web"));
    acl_free(acls);
}

/* Mesos's own example: foo and bar may run as alice; foo as nobody else; bar,
 * matched by no rule for other users, is left to permissive. */
static void
test_ordering(void)
{
    const char *rules =
        "\"run_tasks\": ["
        "{\"principals\": {\"values\": [\"foo\", \"bar\"]}, \"users\": {\"values\": [\"alice\"]}},"
        "{\"principals\": {\"values\": [\"foo\"]}, \"users\": {\"type\": \"NONE\"}},"
        "{\"principals\": {\"values\": [\"foo\"]}, \"users\": {\"values\": [\"bob\"]}}]";
    char text[1024];

    snprintf(text, sizeof(text), "{%s}", rules);
    struct acls *acls = parse_ok(text);
    CHECK(acl_permissive(acls));
    CHECK_EQ_INT(acl_decide(acls, ACL_RUN_TASKS, "foo", "alice"), ACL_ALLOW);
    CHECK_EQ_INT(acl_decide(acls, ACL_RUN_TASKS, "bar", "alice"), ACL_ALLOW);
    /* The NONE rule comes before the one allowing bob: the first match wins. */
    CHECK_EQ_INT(acl_decide(acls, ACL_RUN_TASKS, "foo", "bob"), ACL_DENY);
    CHECK(!acl_authorized(acls, ACL_RUN_TASKS, "foo", "bob"));
    CHECK_EQ_INT(acl_decide(acls, ACL_RUN_TASKS, "bar", "bob"), ACL_NO_MATCH);
    CHECK(acl_authorized(acls, ACL_RUN_TASKS, "bar", "bob"));
    acl_free(acls);

    snprintf(text, sizeof(text), "{\"permissive\": false, %s}", rules);
    acls = parse_ok(text);
    CHECK(!acl_permissive(acls));
    CHECK(acl_authorized(acls, ACL_RUN_TASKS, "bar", "alice"));
    CHECK(!acl_authorized(acls, ACL_RUN_TASKS, "bar", "bob"));
    acl_free(acls);
}

static void
test_permissive(void)
{
    struct acls *acls = parse_ok("{}");
    CHECK(acl_permissive(acls));
    for (int a = 0; a < ACL_NACTIONS; a++) {
        CHECK(acl_authorized(acls, (enum acl_action)a, "anyone", "anything"));
        CHECK(acl_authorized(acls, (enum acl_action)a, NULL, NULL));
        CHECK_EQ_INT(acl_decide(acls, (enum acl_action)a, "anyone", "x"), ACL_NO_MATCH);
    }
    acl_free(acls);
    acls = parse_ok("{\"permissive\": false}");
    for (int a = 0; a < ACL_NACTIONS; a++)
        CHECK(!acl_authorized(acls, (enum acl_action)a, "anyone", "anything"));
    acl_free(acls);
    /* No --acls at all: everything is authorized, no rule matches. */
    CHECK(acl_authorized(NULL, ACL_RUN_TASKS, "x", "root"));
    CHECK_EQ_INT(acl_decide(NULL, ACL_RUN_TASKS, "x", "root"), ACL_NO_MATCH);
    CHECK(acl_permissive(NULL));
}

static void
test_any_none(void)
{
    struct acls *acls = parse_ok(
        "{\"permissive\": false,"
        " \"update_weights\": [{\"principals\": {\"type\": \"ANY\"}, \"roles\": {\"values\": "
        "[\"open\"]}},"
        "                      {\"principals\": {\"values\": [\"ops\"]}, \"roles\": {\"type\": "
        "\"ANY\"}}],"
        " \"update_quotas\": [{\"principals\": {\"type\": \"NONE\"}, \"roles\": {\"type\": "
        "\"ANY\"}}]}");
    CHECK(acl_authorized(acls, ACL_UPDATE_WEIGHTS, "ci", "open"));
    CHECK(!acl_authorized(acls, ACL_UPDATE_WEIGHTS, "ci", "closed"));
    CHECK(acl_authorized(acls, ACL_UPDATE_WEIGHTS, "ops", "closed"));
    /* A NONE subject matches every principal, and denies. */
    CHECK_EQ_INT(acl_decide(acls, ACL_UPDATE_QUOTAS, "ops", "web"), ACL_DENY);
    CHECK_EQ_INT(acl_decide(acls, ACL_UPDATE_QUOTAS, NULL, "web"), ACL_DENY);
    acl_free(acls);
}

/* An unauthenticated request (no principal) matches only ANY and NONE subjects. */
static void
test_unauthenticated(void)
{
    struct acls *acls = parse_ok(
        "{\"get_endpoints\": ["
        "{\"principals\": {\"values\": [\"ops\"]}, \"paths\": {\"values\": [\"/flags\"]}},"
        "{\"principals\": {\"type\": \"ANY\"}, \"paths\": {\"values\": [\"/metrics\"]}},"
        "{\"principals\": {\"type\": \"ANY\"}, \"paths\": {\"type\": \"NONE\"}}]}");
    CHECK(acl_authorized(acls, ACL_GET_ENDPOINTS, "ops", "/flags"));
    CHECK(!acl_authorized(acls, ACL_GET_ENDPOINTS, NULL, "/flags"));
    CHECK(!acl_authorized(acls, ACL_GET_ENDPOINTS, "", "/flags"));
    CHECK(!acl_authorized(acls, ACL_GET_ENDPOINTS, "ci", "/flags"));
    CHECK(acl_authorized(acls, ACL_GET_ENDPOINTS, NULL, "/metrics"));
    CHECK(acl_authorized(acls, ACL_GET_ENDPOINTS, "ci", "/metrics"));
    acl_free(acls);
    /* SOME subjects only: an anonymous caller matches nothing, permissive decides. */
    acls = parse_ok("{\"permissive\": false, \"teardown_frameworks\": [{\"principals\": "
                    "{\"values\": [\"ops\"]}, \"framework_principals\": {\"type\": \"ANY\"}}]}");
    CHECK_EQ_INT(acl_decide(acls, ACL_TEARDOWN_FRAMEWORKS, NULL, "alice"), ACL_NO_MATCH);
    CHECK(!acl_authorized(acls, ACL_TEARDOWN_FRAMEWORKS, NULL, "alice"));
    /* An absent object (a framework without a principal) matches ANY. */
    CHECK(acl_authorized(acls, ACL_TEARDOWN_FRAMEWORKS, "ops", NULL));
    acl_free(acls);
}

static void
test_malformed(void)
{
    parse_bad("", "malformed JSON at line");
    parse_bad("{\"permissive\": true", "malformed JSON");
    parse_bad("[]", "must be a JSON object");
    parse_bad("{\"permissive\": \"yes\"}", "\"permissive\" must be true or false");
    parse_bad("{\"permissive\": true, \"permissive\": false}", "malformed JSON");
    parse_bad("{\"run_task\": []}", "unknown action \"run_task\"");
    parse_bad("{\"run_tasks\": {}}", "\"run_tasks\" must be an array of rules");
    parse_bad("{\"run_tasks\": [1]}", "run_tasks[0]: a rule must be an object");
    parse_bad("{\"run_tasks\": [{\"principals\": {\"type\": \"ANY\"}}]}",
              "run_tasks[0]: needs \"users\"");
    parse_bad("{\"run_tasks\": [{\"users\": {\"type\": \"ANY\"}}]}",
              "run_tasks[0]: needs \"principals\"");
    parse_bad("{\"run_tasks\": [{\"principals\": {\"type\": \"ANY\"}, \"roles\": {\"type\": "
              "\"ANY\"}}]}",
              "run_tasks[0]: unknown key");
    parse_bad("{\"run_tasks\": [{\"principals\": {\"type\": \"ALL\"}, \"users\": {\"type\": "
              "\"ANY\"}}]}",
              "\"principals\".type must be \"ANY\" or \"NONE\"");
    parse_bad("{\"run_tasks\": [{\"principals\": {\"type\": \"ANY\", \"values\": [\"a\"]}, "
              "\"users\": {\"type\": \"ANY\"}}]}",
              "both a type and values");
    parse_bad("{\"run_tasks\": [{\"principals\": [\"a\"], \"users\": {\"type\": \"ANY\"}}]}",
              "\"principals\" must be an object");
    parse_bad("{\"run_tasks\": [{\"principals\": {\"values\": \"a\"}, \"users\": {\"type\": "
              "\"ANY\"}}]}",
              "needs \"values\": an array of strings");
    parse_bad("{\"run_tasks\": [{\"principals\": {\"values\": [\"a\", 3]}, \"users\": {\"type\": "
              "\"ANY\"}}]}",
              "\"principals\".values[1] must be a non-empty string");
    parse_bad("{\"run_tasks\": [{\"principals\": {\"value\": [\"a\"]}, \"users\": {\"type\": "
              "\"ANY\"}}]}",
              "has an unknown key");
    parse_bad("{\"update_quotas\": [], \"set_quotas\": []}", "given twice");
    parse_bad("{\"register_agents\": [{\"principals\": {\"type\": \"ANY\"}, \"agents\": "
              "{\"values\": [\"a1\"]}}]}",
              "\"agents\" must be {\"type\": \"ANY\"}");
    parse_bad("{\"drain_agents\": [{\"principals\": {\"type\": \"ANY\"}, \"agents\": "
              "{\"values\": [\"a1\"]}}]}",
              "drain_agents[0]: \"agents\" must be");
    parse_bad("{\"reactivate_agents\": [{\"principals\": {\"type\": \"ANY\"}, \"roles\": "
              "{\"type\": \"ANY\"}}]}",
              "reactivate_agents[0]: unknown key");
    /* A later rule's error after earlier good ones frees everything (ASan). */
    parse_bad("{\"run_tasks\": [{\"principals\": {\"values\": [\"a\"]}, \"users\": {\"values\": "
              "[\"b\"]}}, {\"principals\": {\"values\": [\"a\"]}}]}",
              "run_tasks[1]");
    /* A short error buffer is still terminated. */
    struct acls *acls;
    char err[8];
    CHECK_EQ_INT(acl_parse("{\"nope\": 1}", &acls, err, sizeof(err)), -AG_EINVAL);
    CHECK(strlen(err) == sizeof(err) - 1);
}

/* App id prefixes (manage_apps, view_apps): at a segment boundary. */
static void
test_app_ids(void)
{
    CHECK(acl_app_id_under("/team-a", "/team-a"));
    CHECK(acl_app_id_under("/team-a/web", "/team-a"));
    CHECK(acl_app_id_under("/team-a/web/api", "/team-a/"));
    CHECK(!acl_app_id_under("/team-ab", "/team-a"));
    CHECK(!acl_app_id_under("/team", "/team-a"));
    CHECK(!acl_app_id_under("/other/team-a", "/team-a"));
    CHECK(acl_app_id_under("/anything", "/"));
    CHECK(!acl_app_id_under("relative", "/"));

    struct acls *acls = parse_ok(
        "{\"permissive\": false, \"manage_apps\": ["
        "{\"principals\": {\"values\": [\"a\"]}, \"app_ids\": {\"values\": [\"/team-a\"]}},"
        "{\"principals\": {\"values\": [\"ops\"]}, \"app_ids\": {\"type\": \"ANY\"}}],"
        "\"view_apps\": [{\"principals\": {\"values\": [\"a\"]}, \"app_ids\": "
        "{\"values\": [\"/team-a\", \"/shared\"]}}]}");
    CHECK(acl_authorized(acls, ACL_MANAGE_APPS, "a", "/team-a"));
    CHECK(acl_authorized(acls, ACL_MANAGE_APPS, "a", "/team-a/web"));
    CHECK(!acl_authorized(acls, ACL_MANAGE_APPS, "a", "/team-ab"));
    CHECK(!acl_authorized(acls, ACL_MANAGE_APPS, "a", "/shared/db"));
    CHECK(acl_authorized(acls, ACL_MANAGE_APPS, "ops", "/team-ab"));
    CHECK(!acl_authorized(acls, ACL_MANAGE_APPS, NULL, "/team-a"));
    CHECK(acl_authorized(acls, ACL_VIEW_APPS, "a", "/shared/db"));
    CHECK(!acl_authorized(acls, ACL_VIEW_APPS, "ops", "/shared/db"));
    /* Other actions compare whole values. */
    acl_free(acls);
    acls = parse_ok("{\"permissive\": false, \"get_endpoints\": [{\"principals\": "
                    "{\"type\": \"ANY\"}, \"paths\": {\"values\": [\"/metrics\"]}}]}");
    CHECK(acl_authorized(acls, ACL_GET_ENDPOINTS, "x", "/metrics"));
    CHECK(!acl_authorized(acls, ACL_GET_ENDPOINTS, "x", "/metrics/snapshot"));
    acl_free(acls);
}

/* --acls as Mesos takes it: inline JSON, a path, file://path; errors name it. */
static void
test_load(void)
{
    struct acls *acls = (struct acls *)1;
    char err[1024], path[] = "/tmp/test_acl_XXXXXX", url[64];
    const char *text = "{\"permissive\": false}";
    int fd;

    CHECK_EQ_INT(acl_load(NULL, &acls, err, sizeof(err)), 0);
    CHECK(acls == NULL);
    CHECK_EQ_INT(acl_load("", &acls, err, sizeof(err)), 0);
    CHECK(acls == NULL);
    CHECK_EQ_INT(acl_load("  {\"permissive\": false}", &acls, err, sizeof(err)), 0);
    CHECK(acls != NULL && !acl_permissive(acls));
    CHECK_EQ_STR(err, "(inline JSON)");
    acl_free(acls);
    fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    CHECK_EQ_INT(acl_load(path, &acls, err, sizeof(err)), 0);
    CHECK(acls != NULL && !acl_permissive(acls));
    CHECK_EQ_STR(err, path);
    acl_free(acls);
    snprintf(url, sizeof(url), "file://%s", path);
    CHECK_EQ_INT(acl_load(url, &acls, err, sizeof(err)), 0);
    CHECK(acls != NULL);
    acl_free(acls);
    unlink(path);
    CHECK_EQ_INT(acl_load(path, &acls, err, sizeof(err)), -AG_EINVAL);
    CHECK(acls == NULL);
    CHECK(strstr(err, "cannot read --acls=") != NULL);
    CHECK_EQ_INT(acl_load("{\"nope\": []}", &acls, err, sizeof(err)), -AG_EINVAL);
    CHECK(acls == NULL);
    CHECK(strncmp(err, "--acls=(inline JSON): unknown action", 36) == 0);
}

TEST_LIST(TEST_ENTRY(each_action), TEST_ENTRY(ordering), TEST_ENTRY(permissive),
          TEST_ENTRY(any_none), TEST_ENTRY(unauthenticated), TEST_ENTRY(malformed), TEST_ENTRY(load),
          TEST_ENTRY(app_ids));
TEST_MAIN()
