#include "test.h"

#include "error.h"
#include "task_firewall.h"

#include <string.h>

/* The script: one transaction that replaces the table, a set of user ids and
 * one reject rule per destination; local destinations match every local address. */
static void
test_ruleset(void)
{
    struct tfw_dest d[3] = {{"local", 5050}, {"10.1.2.3", 8080}, {"2001:db8::1", 2181}};
    uid_t uids[2] = {65534, 1001};
    char buf[4096];

    CHECK_EQ_INT(tfw_ruleset("agora_agent_5051", d, 3, uids, 2, buf, sizeof(buf)), 0);
    static const char head[] =
        "add table inet agora_agent_5051\ndelete table inet agora_agent_5051\n";

    CHECK(strncmp(buf, head, sizeof(head) - 1) == 0);
    CHECK(strstr(buf, "elements = { 65534, 1001 }") != NULL);
    CHECK(strstr(buf, "type filter hook output priority 0; policy accept;") != NULL);
    CHECK(strstr(buf, "meta skuid @task_users fib daddr type local  tcp dport 5050 counter "
                      "reject with tcp reset") != NULL);
    CHECK(strstr(buf, "meta skuid @task_users ip daddr 10.1.2.3 tcp dport 8080") != NULL);
    CHECK(strstr(buf, "meta skuid @task_users ip6 daddr 2001:db8::1 tcp dport 2181") != NULL);
    /* No users: an empty set, no elements line. */
    CHECK_EQ_INT(tfw_ruleset("t", d, 1, NULL, 0, buf, sizeof(buf)), 0);
    CHECK(strstr(buf, "elements") == NULL);
    /* Too small a buffer is an error, not a truncated script. */
    CHECK_EQ_INT(tfw_ruleset("t", d, 3, uids, 2, buf, 100), -AG_ERANGE);
}

static void
test_parse_dest(void)
{
    struct tfw_dest d[TFW_MAX_DESTS];
    char err[256];
    size_t n = 0;

    CHECK_EQ_INT(tfw_parse_dest("127.0.0.1:5050", d, &n, err, sizeof(err)), 0);
    CHECK_EQ_INT((int)n, 1);
    CHECK(strcmp(d[0].addr, "local") == 0 && d[0].port == 5050);
    /* Loopback and unspecified addresses are this machine; repeats are dropped. */
    CHECK_EQ_INT(tfw_parse_dest("0.0.0.0:5050", d, &n, err, sizeof(err)), 0);
    CHECK_EQ_INT(tfw_parse_dest("[::1]:5050", d, &n, err, sizeof(err)), 0);
    CHECK_EQ_INT((int)n, 1);
    CHECK_EQ_INT(tfw_parse_dest("192.0.2.7:8080", d, &n, err, sizeof(err)), 0);
    CHECK_EQ_INT((int)n, 2);
    CHECK(strcmp(d[1].addr, "192.0.2.7") == 0 && d[1].port == 8080);
    CHECK_EQ_INT(tfw_parse_dest("[2001:db8::1]:2181", d, &n, err, sizeof(err)), 0);
    CHECK(strcmp(d[2].addr, "2001:db8::1") == 0 && d[2].port == 2181);
    CHECK_EQ_INT(tfw_parse_dest("localhost:9", d, &n, err, sizeof(err)), 0);
    CHECK(strcmp(d[n - 1].addr, "local") == 0 && d[n - 1].port == 9);
    /* Bad input: a clear error, nothing added. */
    size_t before = n;
    CHECK_EQ_INT(tfw_parse_dest("10.0.0.1", d, &n, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "expected HOST:PORT") != NULL);
    CHECK_EQ_INT(tfw_parse_dest("10.0.0.1:0", d, &n, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "1-65535") != NULL);
    CHECK_EQ_INT(tfw_parse_dest("10.0.0.1:80x", d, &n, err, sizeof(err)), -AG_EINVAL);
    CHECK_EQ_INT(tfw_parse_dest("[::1:80", d, &n, err, sizeof(err)), -AG_EINVAL);
    CHECK_EQ_INT(tfw_parse_dest("no-such-host.invalid:80", d, &n, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "cannot resolve") != NULL);
    CHECK_EQ_INT((int)n, (int)before);
}

TEST_LIST(TEST_ENTRY(ruleset), TEST_ENTRY(parse_dest));
TEST_MAIN()
