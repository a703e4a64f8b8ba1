/* The high-availability parts of `agora cluster`: see cluster_ha.h. */
#define _GNU_SOURCE
#include "cluster_ha.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "file.h"
#include "http_client.h"

#define HOST "127.0.0.1"
#define PROBE_MS 2000

void
cha_zk_ports(int port, struct cha_zk *z)
{
    for (int i = 0; i < CHA_ZKS; i++) {
        z->client[i] = port + 100 + i;
        z->peer[i] = port + 110 + i;
        z->election[i] = port + 120 + i;
    }
}

void
cha_zk_url(const struct cha_zk *z, const char *path, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "zk://");

    for (int i = 0; i < CHA_ZKS && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%s:%d", i ? "," : "", HOST, z->client[i]);
    if (n < len)
        snprintf(buf + n, len - n, "%s", path);
}

int
cha_java(char *java, size_t len)
{
    const char *path = getenv("PATH");
    char *copy, *save = NULL;
    bool found = false;

    copy = strdup(path && path[0] ? path : "/usr/bin:/bin");
    if (copy == NULL)
        return cli_error("out of memory");
    for (char *d = strtok_r(copy, ":", &save); d != NULL && !found;
         d = strtok_r(NULL, ":", &save)) {
        snprintf(java, len, "%s/java", d[0] ? d : ".");
        found = access(java, X_OK) == 0;
    }
    free(copy);
    if (!found)
        return cli_error("--ha needs java and ZooKeeper: no java on PATH (install them with "
                         "tools/deps: the zookeeper package)");
    if (access(CHA_ZK_JAR, R_OK) != 0)
        return cli_error("--ha needs ZooKeeper: no %s (install it with tools/deps: the zookeeper "
                         "package)",
                         CHA_ZK_JAR);
    return 0;
}

static int
write_text(const char *path, const char *text)
{
    char tmp[PATH_MAX + 80];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if ((f = fopen(tmp, "w")) == NULL || fputs(text, f) < 0 || fclose(f) != 0 ||
        rename(tmp, path) != 0)
        return cli_error("cannot write %s: %s", path, strerror(errno));
    return 0;
}

int
cha_zk_config(const char *zkdir, int id, const struct cha_zk *z)
{
    char path[PATH_MAX + 64], text[PATH_MAX + 2048];
    size_t n;
    int rc;

    snprintf(path, sizeof(path), "%s/data", zkdir);
    if (file_mkdirs(path, 0755) != 0)
        return cli_error("cannot create %s: %s", path, strerror(errno));
    n = (size_t)snprintf(text, sizeof(text),
                         "# Written by agora cluster up --ha (rewritten at every up).\n"
                         "tickTime=500\ninitLimit=20\nsyncLimit=10\n"
                         "dataDir=%s/data\nclientPort=%d\nclientPortAddress=%s\n"
                         "admin.enableServer=false\n"
                         "minSessionTimeout=1000\nmaxSessionTimeout=10000\n"
                         "4lw.commands.whitelist=ruok,srvr,mntr\n"
                         "autopurge.snapRetainCount=3\nautopurge.purgeInterval=1\n",
                         zkdir, z->client[id - 1], HOST);
    for (int i = 0; i < CHA_ZKS && n < sizeof(text); i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "server.%d=%s:%d:%d\n", i + 1, HOST,
                              z->peer[i], z->election[i]);
    snprintf(path, sizeof(path), "%s/zoo.cfg", zkdir);
    if ((rc = write_text(path, text)) != 0)
        return rc;
    snprintf(path, sizeof(path), "%s/data/myid", zkdir);
    snprintf(text, sizeof(text), "%d\n", id);
    if ((rc = write_text(path, text)) != 0)
        return rc;
    snprintf(path, sizeof(path), "%s/log4j.properties", zkdir);
    return write_text(path, "log4j.rootLogger=INFO, C\n"
                            "log4j.appender.C=org.apache.log4j.ConsoleAppender\n"
                            "log4j.appender.C.layout=org.apache.log4j.PatternLayout\n"
                            "log4j.appender.C.layout.ConversionPattern=%d %p %c{1}: %m%n\n");
}

void
cha_zk_mark(const char *zkdir, char *buf, size_t len)
{
    snprintf(buf, len, "%s/zoo.cfg", zkdir);
}

void
cha_zk_cmd(const char *java, const char *zkdir, struct cha_cmd *cmd)
{
    int n = 0;

    snprintf(cmd->buf[0], sizeof(cmd->buf[0]), "%s", java);
    snprintf(cmd->buf[1], sizeof(cmd->buf[1]), "%s:%s", zkdir, CHA_ZK_JAR);
    cha_zk_mark(zkdir, cmd->buf[2], sizeof(cmd->buf[2]));
    cmd->argv[n++] = cmd->buf[0];
    cmd->argv[n++] = "-Xmx256m";
    cmd->argv[n++] = "-XX:+UseSerialGC";
    cmd->argv[n++] = "-cp";
    cmd->argv[n++] = cmd->buf[1];
    cmd->argv[n++] = "org.apache.zookeeper.server.quorum.QuorumPeerMain";
    cmd->argv[n++] = cmd->buf[2];
    cmd->argv[n] = NULL;
}

/* Sends a four-letter command and reads the answer until the server closes. */
static int
four_letters(int port, const char *cmd, char *buf, size_t len)
{
    struct sockaddr_in sa;
    struct pollfd pfd;
    int64_t until = cli_now_ms() + PROBE_MS;
    size_t n = 0;
    int fd, rc = -1;

    if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, HOST, &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int err = 0;
        socklen_t el = sizeof(err);
        pfd = (struct pollfd){.fd = fd, .events = POLLOUT};
        if (errno != EINPROGRESS || poll(&pfd, 1, PROBE_MS) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0)
            goto out;
    }
    if (write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd))
        goto out;
    for (;;) {
        int64_t left = until - cli_now_ms();
        ssize_t r;
        pfd = (struct pollfd){.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, (int)left) != 1)
            goto out;
        r = read(fd, buf + n, len - 1 - n);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r <= 0 || (n += (size_t)r) == len - 1)
            break;
    }
    buf[n] = '\0';
    rc = 0;
out:
    close(fd);
    return rc;
}

int
cha_zk_mode(int port, char *mode, size_t len)
{
    char buf[4096];
    const char *m;

    if (four_letters(port, "srvr", buf, sizeof(buf)) != 0 || (m = strstr(buf, "Mode: ")) == NULL)
        return -1;
    m += strlen("Mode: ");
    snprintf(mode, len, "%.*s", (int)strcspn(m, "\r\n"), m);
    return 0;
}

/* GET SCHEME://HOST:PORT/PATH answered 200 with JSON: 0 and *out, or -1. */
static int
get_json(const char *scheme, int port, const char *path, json_t **out)
{
    char url[128], *body = NULL;
    int status = 0;

    *out = NULL;
    snprintf(url, sizeof(url), "%s://%s:%d%s", scheme, HOST, port, path);
    if (http_request("GET", url, NULL, NULL, 0, PROBE_MS, &status, &body, NULL) != 0)
        return -1;
    if (status == 200)
        *out = json_loads(body, 0, NULL);
    free(body);
    return *out ? 0 : -1;
}

int
cha_master_state(const char *scheme, int port, bool *elected, int *leader_port)
{
    json_t *o;

    *elected = false;
    *leader_port = 0;
    if (get_json(scheme, port, "/state", &o) != 0)
        return -1;
    *elected = json_is_true(json_object_get(o, "elected"));
    *leader_port =
        (int)json_integer_value(json_object_get(json_object_get(o, "leader_info"), "port"));
    json_decref(o);
    return 0;
}

int
cha_master_leader(const char *scheme, const int *ports, int n)
{
    for (int i = 0; i < n; i++) {
        bool elected;
        int lp;
        if (cha_master_state(scheme, ports[i], &elected, &lp) == 0 && elected)
            return i;
    }
    return -1;
}

int
cha_services_leading(const char *scheme, int port, bool *leading)
{
    char url[128], self[64], *body = NULL;
    int status = 0;
    json_t *o;

    *leading = false;
    snprintf(url, sizeof(url), "%s://%s:%d/v2/leader", scheme, HOST, port);
    if (http_request("GET", url, NULL, NULL, 0, PROBE_MS, &status, &body, NULL) != 0)
        return -1;
    o = status == 200 ? json_loads(body, 0, NULL) : NULL;
    free(body);
    if (status != 200 && status != 404)
        return -1;
    snprintf(self, sizeof(self), "%s:%d", HOST, port);
    *leading = o != NULL && strcmp(cli_json_str(o, "leader"), self) == 0;
    json_decref(o);
    return 0;
}
