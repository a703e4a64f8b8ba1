/*
 * Unit tests for framework/services/app.c: Marathon defaults, validation
 * (422 with per-field details, 400 for wrong types), ids, merging partial
 * updates, config-change detection and versions.
 */
#include "app.h"
#include "error.h"
#include "test.h"

static struct app_spec *
parse_text(const char *text, struct app_errors *err)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    struct app_spec *s;

    CHECK(j != NULL);
    s = app_parse(j, NULL, err);
    json_decref(j);
    return s;
}

static struct app_spec *
parse_ok(const char *text)
{
    struct app_errors err;
    struct app_spec *s;

    app_errors_init(&err);
    s = parse_text(text, &err);
    if (s == NULL) {
        char *d = json_dumps(err.details, 0);
        fprintf(stderr, "unexpected errors for %s: %s\n", text, d);
        free(d);
    }
    CHECK(s != NULL);
    app_errors_fini(&err);
    return s;
}

/* Parses `text`, which must fail with `status` and an error at `path`. */
static void
check_bad(const char *text, int status, const char *path)
{
    struct app_errors err;
    struct app_spec *s;
    bool found = false;
    size_t i;
    json_t *d;

    app_errors_init(&err);
    s = parse_text(text, &err);
    CHECK(s == NULL);
    CHECK_EQ_INT(app_errors_status(&err), status);
    json_array_foreach(err.details, i, d)
    {
        if (strcmp(json_string_value(json_object_get(d, "path")), path) == 0)
            found = true;
    }
    if (!found) {
        char *dd = json_dumps(err.details, 0);
        fprintf(stderr, "no error at %s for %s: %s\n", path, text, dd);
        free(dd);
    }
    CHECK(found);
    {
        json_t *body = app_errors_body(&err);
        CHECK_EQ_STR(json_string_value(json_object_get(body, "message")),
                     status == 400 ? "Invalid JSON" : "Object is not valid");
        json_decref(body);
    }
    app_errors_fini(&err);
}

static void
test_defaults(void)
{
    struct app_spec *s = parse_ok("{\"id\": \"web\", \"cmd\": \"sleep 10\"}");

    CHECK_EQ_STR(s->id, "/web");
    CHECK(s->cpus == 1.0 && s->mem == 128.0 && s->disk == 0);
    CHECK_EQ_INT(s->instances, 1);
    CHECK(s->backoff_s == 1.0 && s->backoff_factor == 1.15 && s->max_delay_s == 300);
    CHECK(s->min_health == 1.0 && s->max_over == 1.0);
    CHECK(s->inactive_after_s == 300 && s->expunge_after_s == 600);
    CHECK_EQ_INT(s->kill_selection, APP_YOUNGEST_FIRST);
    CHECK_EQ_INT(s->nports, 1); /* Marathon's default: one port, any number */
    CHECK_EQ_INT(s->ports[0], 0);
    CHECK(s->hc == NULL && s->roles == NULL && s->image == NULL);
    CHECK(s->kill_grace_s < 0);
    CHECK(json_is_null(json_object_get(s->json, "args")));
    CHECK_EQ_STR(json_string_value(json_object_get(s->json, "killSelection")), "YOUNGEST_FIRST");
    CHECK_EQ_INT(json_array_size(json_object_get(s->json, "portDefinitions")), 1);
    app_free(s);
}

static void
test_full(void)
{
    struct app_spec *s = parse_ok(
        "{\"id\": \"/prod/web/api\", \"args\": [\"/bin/echo\", \"hi\"], \"cpus\": 0.5,"
        " \"mem\": 64, \"disk\": 10, \"instances\": 3, \"env\": {\"A\": \"1\"},"
        " \"labels\": {\"team\": \"x\"}, \"portDefinitions\": [{\"port\": 8080, \"name\": "
        "\"http\"},"
        " {\"port\": 0}], \"requirePorts\": true,"
        " \"constraints\": [[\"hostname\", \"UNIQUE\"], [\"rack\", \"GROUP_BY\", \"3\"],"
        "   [\"hostname\", \"LIKE\", \"a[0-9]+\"], [\"zone\", \"MAX_PER\", \"2\"],"
        "   [\"rack\", \"CLUSTER\"], [\"level\", \"IS\", \"3\"], [\"hostname\", \"UNLIKE\", "
        "\"b.*\"]],"
        " \"acceptedResourceRoles\": [\"*\", \"web\"],"
        " \"healthChecks\": [{\"protocol\": \"HTTP\", \"path\": \"/health\", \"portIndex\": 1,"
        "   \"gracePeriodSeconds\": 5, \"intervalSeconds\": 2, \"maxConsecutiveFailures\": 2}],"
        " \"container\": {\"type\": \"MESOS\", \"docker\": {\"image\": \"busybox\"}},"
        " \"upgradeStrategy\": {\"minimumHealthCapacity\": 0.5, \"maximumOverCapacity\": 0.2},"
        " \"unreachableStrategy\": {\"inactiveAfterSeconds\": 10, \"expungeAfterSeconds\": 20},"
        " \"killSelection\": \"OLDEST_FIRST\", \"taskKillGracePeriodSeconds\": 3, \"user\": "
        "\"nobody\","
        " \"backoffSeconds\": 2, \"backoffFactor\": 2, \"maxLaunchDelaySeconds\": 60,"
        " \"someUnknownField\": 1}");

    CHECK_EQ_STR(s->id, "/prod/web/api");
    CHECK(s->cmd == NULL);
    CHECK_EQ_INT(s->nargs, 2);
    CHECK_EQ_STR(s->args[1], "hi");
    CHECK_EQ_INT(s->nports, 2);
    CHECK_EQ_INT(s->ports[0], 8080);
    CHECK(s->require_ports);
    CHECK_EQ_INT(s->ncons, 7);
    CHECK_EQ_INT(s->cons[1].op, APP_CONS_GROUP_BY);
    CHECK_EQ_INT(s->cons[1].num, 3);
    CHECK_EQ_INT(s->cons[3].num, 2);
    CHECK(s->cons[2].has_re);
    CHECK_EQ_INT(s->nroles, 2);
    CHECK(s->hc != NULL && s->hc->protocol == APP_HC_HTTP && s->hc->port_index == 1);
    CHECK_EQ_STR(s->hc->path, "/health");
    CHECK(s->hc->interval_s == 2 && s->hc->timeout_s == 20 && s->hc->max_failures == 2);
    CHECK_EQ_STR(s->image, "busybox");
    CHECK(s->min_health == 0.5 && s->max_over == 0.2);
    CHECK(s->inactive_after_s == 10 && s->expunge_after_s == 20);
    CHECK_EQ_INT(s->kill_selection, APP_OLDEST_FIRST);
    CHECK(s->kill_grace_s == 3);
    CHECK_EQ_STR(s->user, "nobody");
    CHECK(json_object_get(s->json, "someUnknownField") == NULL);
    /* The canonical form parses to the same definition. */
    {
        struct app_spec *d = app_dup(s);
        CHECK(json_equal(d->json, s->json));
        CHECK(!app_config_differs(d, s));
        app_free(d);
    }
    app_free(s);
}

static void
test_invalid(void)
{
    check_bad("{\"cmd\": \"x\"}", 422, "/id");
    check_bad("{\"id\": \"/Web\", \"cmd\": \"x\"}", 422, "/id");
    check_bad("{\"id\": \"/a/-b\", \"cmd\": \"x\"}", 422, "/id");
    check_bad("{\"id\": \"/\", \"cmd\": \"x\"}", 422, "/id");
    check_bad("{\"id\": \"/a\"}", 422, "/");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"args\": [\"y\"]}", 422, "/");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"cpus\": 0}", 422, "/cpus");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"mem\": -1}", 422, "/mem");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"instances\": -1}", 422, "/instances");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"instances\": 1.5}", 422, "/instances");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"gpus\": 1}", 422, "/gpus");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"backoffFactor\": 0.5}", 422, "/backoffFactor");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"killSelection\": \"RANDOM\"}", 422,
              "/killSelection");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"upgradeStrategy\": "
              "{\"minimumHealthCapacity\": 1.5}}",
              422, "/upgradeStrategy/minimumHealthCapacity");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"unreachableStrategy\": "
              "{\"inactiveAfterSeconds\": 10, \"expungeAfterSeconds\": 5}}",
              422, "/unreachableStrategy/expungeAfterSeconds");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"constraints\": [[\"hostname\", \"NEAR\"]]}", 422,
              "/constraints(0)");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"constraints\": [[\"h\", \"LIKE\", \"([\"]]}", 422,
              "/constraints(0)");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"constraints\": [[\"h\", \"MAX_PER\", \"x\"]]}",
              422, "/constraints(0)");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"constraints\": [[\"h\", \"UNIQUE\", \"v\"]]}",
              422, "/constraints(0)");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"constraints\": [\"hostname:UNIQUE\"]}", 400,
              "/constraints(0)");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"healthChecks\": [{\"portIndex\": 2}]}", 422,
              "/healthChecks(0)/portIndex");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"healthChecks\": [{\"protocol\": \"HTTPS\"}]}",
              422, "/healthChecks(0)/protocol");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"healthChecks\": [{\"protocol\": \"COMMAND\"}]}",
              422, "/healthChecks(0)/command");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"healthChecks\": [{}, {}]}", 422, "/healthChecks");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"ports\": [80, 80], \"requirePorts\": true}", 422,
              "/portDefinitions");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"ports\": [70000]}", 422, "/ports(0)");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"acceptedResourceRoles\": []}", 422,
              "/acceptedResourceRoles");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"acceptedResourceRoles\": [\"..\"]}", 422,
              "/acceptedResourceRoles(0)");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"uris\": [\"http://x\"]}", 422, "/uris");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"container\": {\"docker\": "
              "{\"network\": \"BRIDGE\"}}}",
              422, "/container/docker/network");
    /* Wrong JSON types: 400 as Marathon. */
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"cpus\": \"1\"}", 400, "/cpus");
    check_bad("{\"id\": \"/a\", \"cmd\": 5}", 400, "/cmd");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"env\": {\"A\": 1}}", 400, "/env/A");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"requirePorts\": \"yes\"}", 400, "/requirePorts");
    check_bad("[1]", 400, "/");
}

static void
test_ids(void)
{
    char out[APP_ID_MAX], why[256];

    CHECK_EQ_INT(app_id_normalize("a/b/", out, why, sizeof(why)), 0);
    CHECK_EQ_STR(out, "/a/b");
    CHECK_EQ_INT(app_id_normalize("/x.y-z/0", out, why, sizeof(why)), 0);
    CHECK_EQ_STR(out, "/x.y-z/0");
    CHECK_EQ_INT(app_id_normalize("/a//b", out, why, sizeof(why)), -AG_EINVAL);
    CHECK_EQ_INT(app_id_normalize("/a/b.", out, why, sizeof(why)), -AG_EINVAL);
    CHECK_EQ_INT(app_id_normalize("", out, why, sizeof(why)), -AG_EINVAL);
    {
        /* The longest relative id normalizes into an id that normalizes again. */
        char in[APP_ID_MAX + 1], again[APP_ID_MAX];
        memset(in, 'a', APP_ID_MAX - 2);
        in[APP_ID_MAX - 2] = '\0';
        CHECK_EQ_INT(app_id_normalize(in, out, why, sizeof(why)), 0);
        CHECK_EQ_INT(strlen(out), APP_ID_MAX - 1);
        CHECK_EQ_INT(app_id_normalize(out, again, why, sizeof(why)), 0);
        CHECK_EQ_STR(again, out);
        in[APP_ID_MAX - 2] = 'a';
        in[APP_ID_MAX - 1] = '\0';
        CHECK_EQ_INT(app_id_normalize(in, out, why, sizeof(why)), -AG_EINVAL);
        CHECK(strstr(why, "at most") != NULL);
    }
    app_task_prefix("/prod/web", out, sizeof(out));
    CHECK_EQ_STR(out, "prod_web");
    app_task_prefix("/abcdefghij", out, 5);
    CHECK_EQ_STR(out, "abcd");
}

/* Constraint patterns that would make regcomp() take seconds and gigabytes are
 * refused. They go into JSON text, so a backslash is written four times. */
static void
test_costly_regex(void)
{
    static const char *const bad[] = {
        "a.*++++++++++++",
        "a**",
        "x+?",
        "((a{100}){100}){100}",
        "(a{255}){255}",
        "a{300}",
        "a{x}.*++",
        "(a)\\\\1",
        "((((((((((((((((((a))))))))))))))))))",
    };
    static const char *const good[] = {
        "a[0-9]+", "(web|api)-[a-z]{1,20}\\\\.example\\\\.com",
        "[*+?]+x", "rack-(1|2|3)?",
        "a{255}",  "(ab){10,20}",
        "[{]x",
    };
    char text[512];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text),
                 "{\"id\": \"/a\", \"cmd\": \"x\", \"constraints\": [[\"h\", \"LIKE\", \"%s\"]]}",
                 bad[i]);
        check_bad(text, 422, "/constraints(0)");
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct app_spec *s;
        snprintf(text, sizeof(text),
                 "{\"id\": \"/a\", \"cmd\": \"x\", \"constraints\": [[\"h\", \"UNLIKE\", \"%s\"]]}",
                 good[i]);
        s = parse_ok(text);
        CHECK_EQ_INT(s->ncons, 1);
        CHECK(s->cons[0].has_re);
        app_free(s);
    }
    {
        /* Long but flat patterns are refused by length alone. */
        char long_re[400];
        memset(long_re, 'a', sizeof(long_re) - 1);
        long_re[sizeof(long_re) - 1] = '\0';
        snprintf(
            text, sizeof(text),
            "{\"id\": \"/a\", \"cmd\": \"x\", \"constraints\": [[\"h\", \"LIKE\", \"%.300s\"]]}",
            long_re);
        check_bad(text, 422, "/constraints(0)");
    }
}

/* Numbers far out of range are rejected, never converted (that would be undefined). */
static void
test_huge_numbers(void)
{
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"instances\": 1e300}", 422, "/instances");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"healthChecks\": [{\"portIndex\": 1e300}]}", 422,
              "/healthChecks(0)/portIndex");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"healthChecks\": [{\"port\": -1e300}]}", 422,
              "/healthChecks(0)/port");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"healthChecks\": "
              "[{\"maxConsecutiveFailures\": 1e300}]}",
              422, "/healthChecks(0)/maxConsecutiveFailures");
}

static void
test_merge_and_versions(void)
{
    struct app_spec *a = parse_ok("{\"id\": \"/a\", \"cmd\": \"x\", \"instances\": 2, "
                                  "\"ports\": [0, 0]}");
    struct app_spec *b, *c;
    struct app_errors err;
    json_t *patch, *m;

    app_set_version(a, NULL, "2024-01-01T00:00:00.000Z", false);
    CHECK_EQ_STR(a->last_config_change_at, "2024-01-01T00:00:00.000Z");
    /* Only the instance count: a scale, lastConfigChangeAt stays. */
    patch = json_pack("{s:i}", "instances", 5);
    m = app_merge(a->json, patch);
    app_errors_init(&err);
    b = app_parse(m, NULL, &err);
    CHECK(b != NULL);
    CHECK_EQ_INT(b->instances, 5);
    CHECK_EQ_INT(b->nports, 2);
    CHECK(!app_config_differs(a, b));
    app_set_version(b, a, "2024-01-01T00:00:01.000Z", true);
    CHECK_EQ_STR(b->last_config_change_at, "2024-01-01T00:00:00.000Z");
    CHECK_EQ_STR(b->last_scaling_at, "2024-01-01T00:00:01.000Z");
    json_decref(m);
    json_decref(patch);
    /* args replaces cmd, portDefinitions replace ports. */
    patch = json_pack("{s:[s],s:[{s:i}]}", "args", "/bin/true", "portDefinitions", "port", 0);
    m = app_merge(b->json, patch);
    c = app_parse(m, NULL, &err);
    CHECK(c != NULL);
    CHECK(c->cmd == NULL && c->nargs == 1);
    CHECK_EQ_INT(c->nports, 1);
    CHECK(app_config_differs(b, c));
    json_decref(m);
    json_decref(patch);
    /* A definition read back (GET) and sent whole (PUT) merges to itself. */
    m = app_merge(c->json, c->json);
    {
        struct app_spec *d = app_parse(m, NULL, &err);
        CHECK(d != NULL);
        CHECK(!app_config_differs(c, d));
        app_free(d);
    }
    json_decref(m);
    app_errors_fini(&err);
    app_free(a);
    app_free(b);
    app_free(c);
}

static void
test_time_format(void)
{
    char buf[APP_VERSION_LEN + 1];

    app_format_time(0.5, buf);
    CHECK_EQ_STR(buf, "1970-01-01T00:00:00.500Z");
    app_format_time(1700000000.123, buf);
    CHECK_EQ_STR(buf, "2023-11-14T22:13:20.123Z");
}

/* Marathon's secrets: references kept as given, never a value; bad ones refused. */
static void
test_secrets(void)
{
    struct app_spec *s = parse_ok("{\"id\": \"/a\", \"cmd\": \"x\", \"env\": {\"P\": {\"secret\": "
                                  "\"pw\"}, \"Q\": \"q\"}, \"secrets\": {\"pw\": {\"source\": "
                                  "\"/db/pass\"}}}");
    json_t *env = json_object_get(s->json, "env");

    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(env, "P"), "secret")), "pw");
    CHECK_EQ_STR(json_string_value(json_object_get(env, "Q")), "q");
    CHECK_EQ_STR(json_string_value(json_object_get(
                     json_object_get(json_object_get(s->json, "secrets"), "pw"), "source")),
                 "/db/pass");
    app_free(s);
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"env\": {\"P\": {\"secret\": \"no\"}}}", 422,
              "/env/P");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"env\": {\"P\": {\"secret\": 1}}}", 422,
              "/env/P");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"labels\": {\"P\": {\"secret\": \"s\"}}, "
              "\"secrets\": {\"s\": {\"source\": \"s\"}}}",
              422, "/labels/P");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"secrets\": {\"s\": {\"source\": "
              "\"a/../../etc/shadow\"}}}",
              422, "/secrets/s");
    check_bad("{\"id\": \"/a\", \"cmd\": \"x\", \"secrets\": {\"s\": {\"value\": \"v\"}}}",
              422, "/secrets/s");
    CHECK(!app_secret_source_bad("pw"));
    CHECK(!app_secret_source_bad("/db/pass"));
    CHECK(app_secret_source_bad(""));
    CHECK(app_secret_source_bad("/"));
    CHECK(app_secret_source_bad(".."));
    CHECK(app_secret_source_bad("a/./b"));
    CHECK(app_secret_source_bad("a//b"));
    CHECK(app_secret_source_bad("a/"));
}

TEST_LIST(TEST_ENTRY(defaults), TEST_ENTRY(full), TEST_ENTRY(invalid), TEST_ENTRY(ids),
          TEST_ENTRY(costly_regex), TEST_ENTRY(huge_numbers), TEST_ENTRY(merge_and_versions),
          TEST_ENTRY(time_format), TEST_ENTRY(secrets));
TEST_MAIN()
