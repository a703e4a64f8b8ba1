#define _GNU_SOURCE
#include "health_probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
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

#define PROBE_ENV_MAX (256 * 1024)

static int
verdict(bool healthy, const char *fmt, const char *detail)
{
    printf(fmt, detail);
    printf("\n");
    fflush(stdout);
    return healthy ? 0 : 1;
}

/* Opens /proc/PID/ns/NAME when it differs from ours; -1 when the same. */
static int
ns_fd(int pid, const char *name)
{
    char path[64], self[64];
    struct stat a, b;

    snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, name);
    snprintf(self, sizeof(self), "/proc/self/ns/%s", name);
    if (stat(path, &a) != 0 || stat(self, &b) != 0 || a.st_ino == b.st_ino)
        return -1;
    return open(path, O_RDONLY | O_CLOEXEC);
}

static int
join(int fd, int type)
{
    int rv;

    if (fd < 0)
        return 0;
    rv = setns(fd, type);
    close(fd);
    return rv;
}

/* NUL-separated environ file -> NULL-terminated array (in one buffer). */
static char **
read_environ(const char *path, char **buf_out)
{
    char *buf = malloc(PROBE_ENV_MAX), **env;
    size_t n = 0, count = 0, k = 0;
    ssize_t r;
    int fd;

    *buf_out = buf;
    if (buf == NULL || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return NULL;
    while (n < PROBE_ENV_MAX - 1 && (r = read(fd, buf + n, PROBE_ENV_MAX - 1 - n)) > 0)
        n += (size_t)r;
    close(fd);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            count++;
    if ((env = calloc(count + 2, sizeof(*env))) == NULL)
        return NULL;
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
        if (buf[i] != '\0')
            env[k++] = buf + i;
    return env;
}

static int
probe_command(int pid, const char *cmd, int timeout_ms)
{
    int fds[5], status = 0;
    const char *names[5] = {"ipc", "uts", "net", "pid", "mnt"};
    const int types[5] = {CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET, CLONE_NEWPID, CLONE_NEWNS};
    char proc[64], *envbuf = NULL, **env;
    bool own_pid_ns;
    struct stat st;
    pid_t child;

    for (int i = 0; i < 5; i++)
        fds[i] = ns_fd(pid, names[i]);
    own_pid_ns = fds[3] >= 0;
    for (int i = 0; i < 5; i++) {
        if (join(fds[i], types[i]) != 0) {
            fprintf(stderr, "probe: setns %s of pid %d: %s\n", names[i], pid, strerror(errno));
            for (int j = i + 1; j < 5; j++)
                if (fds[j] >= 0)
                    close(fds[j]);
            return 2;
        }
    }
    /* In the container's /proc the task is pid 2 (its init's first child). */
    snprintf(proc, sizeof(proc), "/proc/%d", own_pid_ns ? 2 : pid);
    if (stat(proc, &st) != 0) {
        snprintf(proc, sizeof(proc), "/proc/%d", own_pid_ns ? 1 : pid);
        if (stat(proc, &st) != 0)
            return verdict(false, "the task is gone%s", "");
    }
    strcat(proc, "/environ");
    env = read_environ(proc, &envbuf);
    child = fork();
    if (child < 0)
        return 2;
    if (child == 0) {
        int null = open("/dev/null", O_RDWR);
        sigset_t none;
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        for (char **e = env; e != NULL && *e != NULL; e++) {
            if (strncmp(*e, "MESOS_SANDBOX=", 14) == 0 && chdir(*e + 14) != 0) {
                /* stay where setns left us */
            }
        }
        if (st.st_uid != 0 || st.st_gid != 0) {
            if (setgroups(0, NULL) != 0 || setgid(st.st_gid) != 0 || setuid(st.st_uid) != 0)
                _exit(126);
        }
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (env != NULL)
            execle("/bin/sh", "sh", "-c", cmd, (char *)NULL, env);
        else
            execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    for (int waited = 0;; waited += 10) {
        pid_t w = waitpid(child, &status, WNOHANG);
        struct timespec ts = {0, 10 * 1000000L};
        if (w == child)
            break;
        if (waited >= timeout_ms) {
            kill(child, SIGKILL);
            waitpid(child, &status, 0);
            free(env);
            free(envbuf);
            return verdict(false, "command timed out%s", "");
        }
        nanosleep(&ts, NULL);
    }
    free(env);
    free(envbuf);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return verdict(true, "command succeeded%s", "");
    return verdict(false, "command failed%s", "");
}

static int
connect_local(int port, int timeout_ms, char *why, size_t len)
{
    struct sockaddr_in sa;
    struct pollfd p;
    int s, err = 0;
    socklen_t elen = sizeof(err);

    if ((s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
        snprintf(why, len, "socket: %s", strerror(errno));
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS) {
        snprintf(why, len, "connect 127.0.0.1:%d: %s", port, strerror(errno));
        close(s);
        return -1;
    }
    p.fd = s;
    p.events = POLLOUT;
    if (poll(&p, 1, timeout_ms) != 1 || getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 ||
        err != 0) {
        snprintf(why, len, "connect 127.0.0.1:%d: %s", port, err ? strerror(err) : "timed out");
        close(s);
        return -1;
    }
    return s;
}

static int
probe_net(int pid, bool http, int port, const char *path, int timeout_ms)
{
    char why[256], req[1200], resp[256];
    struct pollfd p;
    size_t got = 0;
    int s, code = 0;

    if (join(ns_fd(pid, "net"), CLONE_NEWNET) != 0) {
        fprintf(stderr, "probe: setns net of pid %d: %s\n", pid, strerror(errno));
        return 2;
    }
    if ((s = connect_local(port, timeout_ms, why, sizeof(why))) < 0)
        return verdict(false, "%s", why);
    if (!http) {
        close(s);
        return verdict(true, "connected%s", "");
    }
    snprintf(req, sizeof(req),
             "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: agora-health\r\nConnection: "
             "close\r\n\r\n",
             path && path[0] ? path : "/", port);
    if (send(s, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
        close(s);
        return verdict(false, "cannot send the request%s", "");
    }
    p.fd = s;
    p.events = POLLIN;
    while (got < sizeof(resp) - 1 && memchr(resp, '\n', got) == NULL) {
        ssize_t r;
        if (poll(&p, 1, timeout_ms) != 1)
            break;
        if ((r = recv(s, resp + got, sizeof(resp) - 1 - got, 0)) <= 0)
            break;
        got += (size_t)r;
    }
    close(s);
    resp[got] = '\0';
    if (sscanf(resp, "HTTP/%*s %d", &code) != 1)
        return verdict(false, "no HTTP status line%s", "");
    snprintf(why, sizeof(why), "HTTP %d", code);
    return verdict(code >= 200 && code < 400, "%s", why);
}

int
probe_main(int argc, char **argv)
{
    const char *type = "", *command = NULL, *path = "/";
    int pid = 0, port = 0, timeout_ms = 20000;

    for (int i = 2; i < argc; i++) {
        if (strncmp(argv[i], "--pid=", 6) == 0)
            pid = atoi(argv[i] + 6);
        else if (strncmp(argv[i], "--type=", 7) == 0)
            type = argv[i] + 7;
        else if (strncmp(argv[i], "--command=", 10) == 0)
            command = argv[i] + 10;
        else if (strncmp(argv[i], "--port=", 7) == 0)
            port = atoi(argv[i] + 7);
        else if (strncmp(argv[i], "--path=", 7) == 0)
            path = argv[i] + 7;
        else if (strncmp(argv[i], "--timeout_ms=", 13) == 0)
            timeout_ms = atoi(argv[i] + 13);
    }
    if (timeout_ms <= 0)
        timeout_ms = 1;
    if (pid <= 0) {
        fprintf(stderr, "probe: --pid is required\n");
        return 2;
    }
    if (strcmp(type, "COMMAND") == 0 && command != NULL)
        return probe_command(pid, command, timeout_ms);
    if ((strcmp(type, "HTTP") == 0 || strcmp(type, "TCP") == 0) && port > 0 && port < 65536)
        return probe_net(pid, strcmp(type, "HTTP") == 0, port, path, timeout_ms);
    fprintf(stderr, "probe: bad arguments (type %s, port %d)\n", type, port);
    return 2;
}
