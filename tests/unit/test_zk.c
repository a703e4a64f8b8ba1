/* ZooKeeper URLs and leader info (common/zk.h); sessions and groups against a
 * real ZooKeeper are exercised by tests/integration/test_ha_*.sh. */
#include "detector.h"
#include "error.h"
#include "test.h"
#include "zk.h"

#include <string.h>

static void
test_parse_url(void)
{
    struct zk_url u;
    char err[256];

    CHECK_EQ_INT(zk_parse_url("zk://z1:2181,z2:2181,10.0.0.3:2181/agora", &u, err, sizeof(err)), 0);
    CHECK_EQ_STR(u.hosts, "z1:2181,z2:2181,10.0.0.3:2181");
    CHECK_EQ_STR(u.path, "/agora");
    CHECK_EQ_INT(zk_parse_url("zk://127.0.0.1:2181/a/b/", &u, err, sizeof(err)), 0);
    CHECK_EQ_STR(u.path, "/a/b");
    CHECK(detector_is_zk("zk://h:1/p"));
    CHECK(!detector_is_zk("127.0.0.1:5050"));
    CHECK(!detector_is_zk(NULL));
}

static void
test_bad_url(void)
{
    struct zk_url u;
    char err[256];

    CHECK_EQ_INT(zk_parse_url("127.0.0.1:2181/agora", &u, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "zk://") != NULL);
    CHECK_EQ_INT(zk_parse_url("zk://h:2181", &u, err, sizeof(err)), -AG_EINVAL); /* no path */
    CHECK_EQ_INT(zk_parse_url("zk://h:2181/", &u, err, sizeof(err)), -AG_EINVAL);
    CHECK_EQ_INT(zk_parse_url("zk:///agora", &u, err, sizeof(err)), -AG_EINVAL);
    CHECK_EQ_INT(zk_parse_url("zk://h:2181/a//b", &u, err, sizeof(err)), -AG_EINVAL);
    CHECK_EQ_INT(zk_parse_url("zk://h 1:2181/a", &u, err, sizeof(err)), -AG_EINVAL);
    /* Credentials are refused rather than put in argv and logs. */
    CHECK_EQ_INT(zk_parse_url("zk://user:secret@h:2181/a", &u, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "credentials") != NULL);
}

static void
test_leader_address(void)
{
    char info[] = "{\"id\":\"x\",\"pid\":\"master@10.0.0.1:5050\",\"hostname\":\"m1\",\"port\":5050,"
                  "\"address\":{\"hostname\":\"m1\",\"ip\":\"10.0.0.1\",\"port\":5051}}";
    char bare[] = "{\"hostname\":\"m2.example\",\"port\":6000}";
    char v6[] = "{\"address\":{\"ip\":\"::1\",\"port\":5050}}";
    char bad[] = "{\"address\":{\"ip\":\"10.0.0.1\"}}";
    struct zk_leader l = {.data = info, .len = sizeof(info) - 1};
    char out[300];

    CHECK_EQ_INT(zk_leader_address(&l, out, sizeof(out)), 0);
    CHECK_EQ_STR(out, "10.0.0.1:5051"); /* address wins over the top-level fields */
    l.data = bare;
    l.len = sizeof(bare) - 1;
    CHECK_EQ_INT(zk_leader_address(&l, out, sizeof(out)), 0);
    CHECK_EQ_STR(out, "m2.example:6000");
    l.data = v6;
    l.len = sizeof(v6) - 1;
    CHECK_EQ_INT(zk_leader_address(&l, out, sizeof(out)), 0);
    CHECK_EQ_STR(out, "[::1]:5050");
    l.data = bad;
    l.len = sizeof(bad) - 1;
    CHECK_EQ_INT(zk_leader_address(&l, out, sizeof(out)), -AG_EINVAL);
    l.data = (char *)"not json";
    l.len = 8;
    CHECK_EQ_INT(zk_leader_address(&l, out, sizeof(out)), -AG_EINVAL);
    CHECK_EQ_INT(zk_leader_address(NULL, out, sizeof(out)), -AG_EINVAL);
}

static void
test_lookup_unreachable(void)
{
    struct detector_master m;
    char err[256];

    /* Nothing listens on port 1: a clear error within the timeout. */
    CHECK_EQ_INT(detector_lookup("zk://127.0.0.1:1/agora", 1500, &m, err, sizeof(err)),
                 -AG_ETIMEDOUT);
    CHECK(strstr(err, "cannot reach ZooKeeper") != NULL);
    CHECK_EQ_INT(detector_lookup("127.0.0.1:6000", 1500, &m, err, sizeof(err)), 0);
    CHECK_EQ_INT(m.port, 6000);
    /* A list: nobody answers /master/redirect on ports 1 and 2. */
    CHECK(detector_follows("127.0.0.1:1,127.0.0.1:2"));
    CHECK(!detector_follows("127.0.0.1:1"));
    CHECK_EQ_INT(detector_lookup("127.0.0.1:1,127.0.0.1:2", 1500, &m, err, sizeof(err)),
                 -AG_ENOENT);
    CHECK(strstr(err, "names a leader") != NULL);
    CHECK_EQ_INT(detector_lookup("127.0.0.1:1,h:0", 1500, &m, err, sizeof(err)), -AG_EINVAL);
}

TEST_LIST(TEST_ENTRY(parse_url), TEST_ENTRY(bad_url), TEST_ENTRY(leader_address),
          TEST_ENTRY(lookup_unreachable));
TEST_MAIN()
