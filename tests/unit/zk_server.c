/* ZooKeeper servers for tests: see zk_server.h. */
#define _GNU_SOURCE
#include "zk_server.h"

#include "error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ZK_MAX_SERVERS 5
#define ZK_START_TIMEOUT_S 60

struct zk_server {
    char dir[256];
    int n;
    pid_t pid[ZK_MAX_SERVERS];
    int client_port[ZK_MAX_SERVERS];
    char host[ZK_MAX_SERVERS][32];
    char hosts[ZK_MAX_SERVERS * 32];
};

/* Servers still running, stopped at exit (a failed CHECK exits at once). */
static struct zk_server *live[8];

static void
stop_live(void)
{
    for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
        zk_server_stop(live[i]);
}

static void
track(struct zk_server *s, bool on)
{
    static bool registered;

    if (!registered) {
        atexit(stop_live);
        registered = true;
    }
    for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
        if (on && live[i] == NULL) {
            live[i] = s;
            return;
        }
        if (!on && live[i] == s)
            live[i] = NULL;
    }
}

/* A loopback TCP port nobody listens on now (the kernel's choice), or -1.
 * The socket bound to it stays open in *fd so that the next call picks
 * another; the caller closes it before the server binds the port. */
static int
free_port(int *fd)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);

    if ((*fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
        return -1;
    if (bind(*fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(*fd, (struct sockaddr *)&a, &al) == 0)
        return ntohs(a.sin_port);
    return -1;
}

/* Sends a four-letter word to 127.0.0.1:port; the answer in `out`. 0 or -1. */
static int
four_letters(int port, const char *word, char *out, size_t len)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 2};
    size_t n = 0;
    ssize_t got;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        write(fd, word, strlen(word)) != (ssize_t)strlen(word)) {
        close(fd);
        return -1;
    }
    while (n + 1 < len && (got = read(fd, out + n, len - 1 - n)) > 0)
        n += (size_t)got;
    out[n] = '\0';
    close(fd);
    return n > 0 ? 0 : -1;
}

static bool
server_ready(int port)
{
    char buf[4096];

    return four_letters(port, "ruok", buf, sizeof(buf)) == 0 && strcmp(buf, "imok") == 0 &&
           four_letters(port, "srvr", buf, sizeof(buf)) == 0 && strstr(buf, "Mode: ") != NULL;
}

static int
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL)
        return -1;
    fputs(text, f);
    return fclose(f) == 0 ? 0 : -1;
}

/* Whether `name` is an executable in $PATH. */
static bool
in_path(const char *name)
{
    const char *path = getenv("PATH");
    char buf[4096];

    while (path && *path) {
        size_t len = strcspn(path, ":");
        snprintf(buf, sizeof(buf), "%.*s/%s", (int)len, path, name);
        if (access(buf, X_OK) == 0)
            return true;
        path += len + (path[len] == ':');
    }
    return false;
}

/* Writes server i's directory (zoo.cfg, myid) under s->dir. */
static int
configure(struct zk_server *s, int i, const int (*peer)[2])
{
    char path[512], cfg[4096];
    size_t n;

    snprintf(path, sizeof(path), "%s/s%d", s->dir, i + 1);
    if (mkdir(path, 0755) != 0)
        return -1;
    n = (size_t)snprintf(cfg, sizeof(cfg),
                         "tickTime=500\ninitLimit=20\nsyncLimit=10\ndataDir=%s\n"
                         "clientPort=%d\nclientPortAddress=127.0.0.1\n"
                         "admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr\n",
                         path, s->client_port[i]);
    for (int k = 0; s->n > 1 && k < s->n; k++)
        n += (size_t)snprintf(cfg + n, sizeof(cfg) - n, "server.%d=127.0.0.1:%d:%d\n", k + 1,
                              peer[k][0], peer[k][1]);
    if (s->n > 1) {
        char id[16];
        snprintf(path, sizeof(path), "%s/s%d/myid", s->dir, i + 1);
        snprintf(id, sizeof(id), "%d\n", i + 1);
        if (write_file(path, id) != 0)
            return -1;
    }
    snprintf(path, sizeof(path), "%s/s%d/zoo.cfg", s->dir, i + 1);
    return write_file(path, cfg);
}

/* Starts server i: java with its logs in s->dir/s<i>/. */
static int
spawn(struct zk_server *s, int i, const char *jar)
{
    char cp[1024], logdir[512], log4j[600], cfg[512], out[512];
    char *argv[] = {"java",
                    "-Xmx128m",
                    "-XX:+UseSerialGC",
                    "-XX:TieredStopAtLevel=1",
                    logdir,
                    log4j,
                    "-cp",
                    cp,
                    "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                    cfg,
                    NULL};
    pid_t parent = getpid(), pid;

    snprintf(cp, sizeof(cp), "%s/conf:%s", s->dir, jar);
    snprintf(logdir, sizeof(logdir), "-Dzookeeper.log.dir=%s/s%d", s->dir, i + 1);
    snprintf(log4j, sizeof(log4j), "-Dlog4j.configuration=file:%s/conf/log4j.properties", s->dir);
    snprintf(cfg, sizeof(cfg), "%s/s%d/zoo.cfg", s->dir, i + 1);
    snprintf(out, sizeof(out), "%s/s%d/server.log", s->dir, i + 1);
    if ((pid = fork()) < 0)
        return -1;
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    s->pid[i] = pid;
    return 0;
}

static void
print_log_tail(const struct zk_server *s, int i)
{
    char path[512], buf[2048];
    FILE *f;
    long size;
    size_t n;

    snprintf(path, sizeof(path), "%s/s%d/server.log", s->dir, i + 1);
    if ((f = fopen(path, "r")) == NULL)
        return;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 : 0, SEEK_SET);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    fprintf(stderr, "--- end of %s:\n%s\n---\n", path, buf);
}

/* Waits until every server is ready, or one exits, or the time is up. */
static int
wait_ready(struct zk_server *s, char *why, size_t whylen)
{
    time_t deadline = time(NULL) + ZK_START_TIMEOUT_S;
    struct timespec pause = {0, 50 * 1000 * 1000};

    for (int i = 0; i < s->n; i++) {
        while (!server_ready(s->client_port[i])) {
            int status;
            if (waitpid(s->pid[i], &status, WNOHANG) == s->pid[i]) {
                s->pid[i] = 0;
                print_log_tail(s, i);
                ag_errf(why, whylen, "ZooKeeper server %d exited (status 0x%x)", i + 1, status);
                return -AG_EIO;
            }
            if (time(NULL) > deadline) {
                print_log_tail(s, i);
                ag_errf(why, whylen, "ZooKeeper server %d not ready after %ds", i + 1,
                        ZK_START_TIMEOUT_S);
                return -AG_ETIMEDOUT;
            }
            nanosleep(&pause, NULL);
        }
    }
    return 0;
}

int
zk_server_start(struct zk_server **out, int n, char *why, size_t whylen)
{
    const char *jar = getenv("ZK_JAR") ? getenv("ZK_JAR") : "/usr/share/java/zookeeper.jar";
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    int peer[ZK_MAX_SERVERS][2], fds[ZK_MAX_SERVERS * 3], nfds = 0;
    char path[512], props[1024];
    struct zk_server *s;
    size_t len = 0;
    int rc = -AG_EIO;

    *out = NULL;
    if (n < 1 || n > ZK_MAX_SERVERS)
        return -AG_EINVAL;
    if (!in_path("java") || access(jar, R_OK) != 0) {
        ag_errf(why, whylen, "needs java and %s (tools/deps: zookeeper)", jar);
        return -AG_ENOENT;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return -AG_ENOMEM;
    s->n = n;
    snprintf(s->dir, sizeof(s->dir), "%s/agora-zk.XXXXXX", tmp);
    if (mkdtemp(s->dir) == NULL) {
        ag_errf(why, whylen, "mkdtemp %s: %s", s->dir, strerror(errno));
        free(s);
        return -AG_EIO;
    }
    track(s, true);
    /* log4j's configuration, found on the classpath (conf/) and named by
     * -Dlog4j.configuration: logs stay in the directory. */
    snprintf(path, sizeof(path), "%s/conf", s->dir);
    snprintf(props, sizeof(props),
             "log4j.rootLogger=INFO, F\n"
             "log4j.appender.F=org.apache.log4j.FileAppender\n"
             "log4j.appender.F.File=${zookeeper.log.dir}/zookeeper.log\n"
             "log4j.appender.F.layout=org.apache.log4j.PatternLayout\n"
             "log4j.appender.F.layout.ConversionPattern=%%d %%-5p [%%t] %%m%%n\n");
    if (mkdir(path, 0755) != 0)
        goto fail;
    snprintf(path, sizeof(path), "%s/conf/log4j.properties", s->dir);
    if (write_file(path, props) != 0)
        goto fail;
    for (int i = 0; i < n; i++) {
        s->client_port[i] = free_port(&fds[nfds++]);
        peer[i][0] = free_port(&fds[nfds++]);
        peer[i][1] = free_port(&fds[nfds++]);
        snprintf(s->host[i], sizeof(s->host[i]), "127.0.0.1:%d", s->client_port[i]);
        len += (size_t)snprintf(s->hosts + len, sizeof(s->hosts) - len, "%s%s", i ? "," : "",
                                s->host[i]);
    }
    for (int i = 0; i < nfds; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    for (int i = 0; i < n; i++)
        if (s->client_port[i] < 0 || peer[i][0] < 0 || peer[i][1] < 0)
            goto fail;
    for (int i = 0; i < n; i++)
        if (configure(s, i, (const int(*)[2])peer) != 0 || spawn(s, i, jar) != 0)
            goto fail;
    if ((rc = wait_ready(s, why, whylen)) != 0)
        goto stop;
    *out = s;
    return 0;
fail:
    ag_errf(why, whylen, "cannot set up the ZooKeeper servers in %s: %s", s->dir, strerror(errno));
stop:
    zk_server_stop(s);
    return rc;
}

const char *
zk_server_hosts(const struct zk_server *s)
{
    return s->hosts;
}

const char *
zk_server_host(const struct zk_server *s, int i)
{
    return s->host[i];
}

int
zk_server_leads(const struct zk_server *s, int i)
{
    char buf[4096];

    return four_letters(s->client_port[i], "srvr", buf, sizeof(buf)) == 0 &&
           strstr(buf, "Mode: leader") != NULL;
}

void
zk_server_kill(struct zk_server *s, int i)
{
    if (s->pid[i] > 0) {
        kill(s->pid[i], SIGKILL);
        waitpid(s->pid[i], NULL, 0);
        s->pid[i] = 0;
    }
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

void
zk_server_stop(struct zk_server *s)
{
    if (s == NULL)
        return;
    track(s, false);
    for (int i = 0; i < s->n; i++)
        zk_server_kill(s, i);
    nftw(s->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(s);
}
