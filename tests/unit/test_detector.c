#include "detector.h"
#include "error.h"
#include "test.h"

static void
test_host_port(void)
{
    struct detector_master m;
    char err[256];
    CHECK_EQ_INT(detector_resolve("10.0.0.1:6000", &m, err, sizeof(err)), 0);
    CHECK_EQ_STR(m.host, "10.0.0.1");
    CHECK_EQ_INT(m.port, 6000);
    CHECK_EQ_STR(m.stream_url, "ws://10.0.0.1:6000/agora/v1/stream");
    CHECK_EQ_STR(m.http_url, "http://10.0.0.1:6000");
    CHECK_EQ_INT(detector_resolve("http://localhost", &m, err, sizeof(err)), 0);
    CHECK_EQ_STR(m.host, "localhost");
    CHECK_EQ_INT(m.port, 5050);
    CHECK_EQ_INT(detector_resolve("[::1]:5051", &m, err, sizeof(err)), 0);
    CHECK_EQ_STR(m.host, "[::1]");
    CHECK_EQ_INT(m.port, 5051);
    CHECK_EQ_INT(m.tls, 0);
}

static void
test_tls(void)
{
    struct detector_master m;
    char err[256];
    CHECK_EQ_INT(detector_resolve("https://master.example:6000", &m, err, sizeof(err)), 0);
    CHECK_EQ_STR(m.host, "master.example");
    CHECK_EQ_INT(m.port, 6000);
    CHECK_EQ_INT(m.tls, 1);
    CHECK_EQ_STR(m.stream_url, "wss://master.example:6000/agora/v1/stream");
    CHECK_EQ_STR(m.http_url, "https://master.example:6000");
    CHECK_EQ_INT(detector_resolve("127.0.0.1", &m, err, sizeof(err)), 0);
    detector_set_tls(&m, 1);
    CHECK_EQ_STR(m.stream_url, "wss://127.0.0.1:5050/agora/v1/stream");
    CHECK_EQ_STR(m.http_url, "https://127.0.0.1:5050");
    detector_set_tls(&m, 0);
    CHECK_EQ_STR(m.stream_url, "ws://127.0.0.1:5050/agora/v1/stream");
    CHECK_EQ_INT(detector_resolve("https://", &m, err, sizeof(err)), -AG_EINVAL);
}

static void
test_bad(void)
{
    struct detector_master m;
    char err[256];
    CHECK_EQ_INT(detector_resolve("", &m, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "--master") != NULL);
    CHECK_EQ_INT(detector_resolve("h:0", &m, err, sizeof(err)), -AG_EINVAL);
    CHECK_EQ_INT(detector_resolve("h:99999", &m, err, sizeof(err)), -AG_EINVAL);
    CHECK_EQ_INT(detector_resolve("h:12x", &m, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "port") != NULL);
    CHECK_EQ_INT(detector_resolve("zk://a:2181/agora", &m, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "zk://") != NULL);
    CHECK_EQ_INT(detector_resolve(":5050", &m, err, sizeof(err)), -AG_EINVAL);
}

TEST_LIST(TEST_ENTRY(host_port), TEST_ENTRY(tls), TEST_ENTRY(bad));
TEST_MAIN()
