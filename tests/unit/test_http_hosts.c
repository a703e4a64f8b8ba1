#include "test.h"

#include "error.h"
#include "http_hosts.h"

#include <string.h>
#include <unistd.h>

/* The default list: localhost, the daemon's name, the system's; IP literals always. */
static void
test_defaults(void)
{
    struct hhosts *h;
    char err[256], sys[256], upper[300];

    CHECK_EQ_INT(hhosts_load(&h, NULL, "master.example", err, sizeof(err)), 0);
    CHECK(h != NULL);
    CHECK(hhosts_allowed(h, "localhost:5050"));
    CHECK(hhosts_allowed(h, "LocalHost."));
    CHECK(hhosts_allowed(h, "master.example:5050"));
    CHECK(hhosts_allowed(h, "127.0.0.1:5050"));
    CHECK(hhosts_allowed(h, "10.1.2.3"));
    CHECK(hhosts_allowed(h, "[::1]:5050"));
    CHECK(hhosts_allowed(h, NULL)); /* HTTP/1.0, no Host */
    CHECK(gethostname(sys, sizeof(sys)) == 0);
    snprintf(upper, sizeof(upper), "%s:1", sys);
    CHECK(hhosts_allowed(h, upper));
    /* A rebound name, and garbage. */
    CHECK(!hhosts_allowed(h, "evil.example:5050"));
    CHECK(!hhosts_allowed(h, "localhost.evil.example"));
    CHECK(!hhosts_allowed(h, "127.0.0.1.evil.example"));
    CHECK(!hhosts_allowed(h, ""));
    CHECK(!hhosts_allowed(h, "localhost:"));
    CHECK(!hhosts_allowed(h, "localhost:99999"));
    CHECK(!hhosts_allowed(h, "[::1"));
    hhosts_free(h);

    CHECK_EQ_INT(hhosts_load(&h, "", "", err, sizeof(err)), 0);
    CHECK(hhosts_allowed(h, "localhost"));
    CHECK(!hhosts_allowed(h, "master.example"));
    hhosts_free(h);
}

/* An explicit list replaces the default; ports bind when given; "*" allows any. */
static void
test_list(void)
{
    struct hhosts *h;
    char err[256];

    CHECK_EQ_INT(hhosts_load(&h, "agora.example, ui.example:8080", "ignored", err, sizeof(err)),
                 0);
    CHECK(hhosts_allowed(h, "AGORA.example:5050"));
    CHECK(hhosts_allowed(h, "agora.example"));
    CHECK(hhosts_allowed(h, "ui.example:8080"));
    CHECK(!hhosts_allowed(h, "ui.example:5050"));
    CHECK(!hhosts_allowed(h, "ui.example"));
    CHECK(!hhosts_allowed(h, "localhost"));
    CHECK(!hhosts_allowed(h, "ignored"));
    CHECK(hhosts_allowed(h, "192.168.0.1:5050"));
    CHECK(strcmp(hhosts_describe(h), "agora.example,ui.example:8080") == 0);
    hhosts_free(h);

    CHECK_EQ_INT(hhosts_load(&h, "*", NULL, err, sizeof(err)), 0);
    CHECK(h == NULL);
    CHECK(hhosts_allowed(h, "evil.example"));

    CHECK_EQ_INT(hhosts_load(&h, "a.example,", NULL, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "bad entry ''") != NULL);
    CHECK_EQ_INT(hhosts_load(&h, "a.example:0", NULL, err, sizeof(err)), -AG_EINVAL);
    CHECK_EQ_INT(hhosts_load(&h, "a/b", NULL, err, sizeof(err)), -AG_EINVAL);
    CHECK_EQ_INT(hhosts_load(&h, "http://a", NULL, err, sizeof(err)), -AG_EINVAL);
}

TEST_LIST(TEST_ENTRY(defaults), TEST_ENTRY(list));
TEST_MAIN()
