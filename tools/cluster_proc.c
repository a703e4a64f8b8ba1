/* The processes of `agora cluster`: see cluster_proc.h. */
#define _GNU_SOURCE
#include "cluster_proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"

void
cproc_pid_path(const char *dir, const struct cproc *p, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s.pid", dir, p->name);
}

void
cproc_log_path(const char *dir, const struct cproc *p, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s.log", dir, p->name);
}

ssize_t
cproc_cmdline(pid_t pid, char *buf, size_t len)
{
    char path[64];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

bool
cproc_zombie(pid_t pid)
{
    char path[64], buf[512], *p;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return true;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return true;
    buf[n] = '\0';
    p = strrchr(buf, ')');
    return p == NULL || p[1] == '\0' || p[2] == 'Z' || p[2] == 'X';
}

bool
cproc_is(pid_t pid, const struct cproc *p)
{
    char cmd[16384];
    const char *base;
    ssize_t n;

    if (pid <= 0 || (n = cproc_cmdline(pid, cmd, sizeof(cmd))) <= 0 || cproc_zombie(pid))
        return false;
    /* The program is argv[0], or argv[1] for a script run by its interpreter. */
    base = strrchr(cmd, '/');
    base = base ? base + 1 : cmd;
    if (strcmp(base, p->prog) != 0) {
        const char *a1 = cmd + strlen(cmd) + 1;
        if (a1 >= cmd + n)
            return false;
        base = strrchr(a1, '/');
        base = base ? base + 1 : a1;
        if (strcmp(base, p->prog) != 0)
            return false;
    }
    for (const char *a = cmd + strlen(cmd) + 1; a < cmd + n; a += strlen(a) + 1)
        if (strcmp(a, p->mark) == 0)
            return true;
    return false;
}

pid_t
cproc_running(const char *dir, const struct cproc *p)
{
    char path[PATH_MAX + 64];
    FILE *f;
    long pid = 0;

    cproc_pid_path(dir, p, path, sizeof(path));
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = 0;
    fclose(f);
    return cproc_is((pid_t)pid, p) ? (pid_t)pid : 0;
}

pid_t
cproc_spawn(const char *dir, const struct cproc *p, char *const *argv)
{
    char log[PATH_MAX + 64], pidf[PATH_MAX + 64], tmp[PATH_MAX + 80];
    pid_t pid;
    FILE *f;
    int fd;

    cproc_log_path(dir, p, log, sizeof(log));
    if ((fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0) {
        cli_error("cannot open %s: %s", log, strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        close(fd);
        cli_error("fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        setsid();
        if (null >= 0)
            dup2(null, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        for (int i = 3; i < 1024; i++)
            close(i);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        execv(argv[0], argv);
        dprintf(2, "agora cluster: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fd);
    cproc_pid_path(dir, p, pidf, sizeof(pidf));
    snprintf(tmp, sizeof(tmp), "%s.tmp", pidf);
    if ((f = fopen(tmp, "w")) == NULL || fprintf(f, "%d\n", (int)pid) < 0 || fclose(f) != 0 ||
        rename(tmp, pidf) != 0) {
        cli_error("cannot write %s: %s", pidf, strerror(errno));
        return pid; /* it runs; status will not know it */
    }
    return pid;
}

bool
cproc_stop(pid_t pid, const struct cproc *p, int sig, int64_t wait_ms)
{
    int64_t until = cli_now_ms() + wait_ms;

    if (kill(pid, sig) != 0 && errno == ESRCH)
        return true;
    while (cproc_is(pid, p)) {
        if (cli_now_ms() > until)
            return false;
        cli_sleep_ms(50);
    }
    return true;
}

void
cproc_log_tail(const char *dir, const struct cproc *p, int lines)
{
    char path[PATH_MAX + 64], buf[65536];
    ssize_t n;
    int fd, seen = 0;
    off_t size;
    char *s;

    cproc_log_path(dir, p, path, sizeof(path));
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return;
    size = lseek(fd, 0, SEEK_END);
    if (size > (off_t)sizeof(buf) - 1)
        lseek(fd, size - (off_t)sizeof(buf) + 1, SEEK_SET);
    else
        lseek(fd, 0, SEEK_SET);
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    for (s = buf + n - 1; s > buf; s--)
        if (*s == '\n' && s != buf + n - 1 && ++seen == lines)
            break;
    fprintf(stderr, "----- last lines of %s:\n%s%s", path, *s == '\n' ? s + 1 : s,
            buf[n - 1] == '\n' ? "" : "\n");
}

bool
cproc_port_in_use(const char *host, int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool used;

    if (fd < 0)
        return false;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, host, &sa.sin_addr);
    used = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return used;
}

/* Executors of this cluster's agents: agora-executor with --meta=DIR/agentI/... */
static size_t
find_executors(const char *dir, pid_t *pids, char (*meta)[PATH_MAX], size_t max)
{
    char cmd[16384], prefix[PATH_MAX + 16];
    DIR *d = opendir("/proc");
    struct dirent *e;
    size_t n = 0;

    if (d == NULL)
        return 0;
    snprintf(prefix, sizeof(prefix), "--meta=%s/agent", dir);
    while ((e = readdir(d)) != NULL && n < max) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        ssize_t len;
        const char *base;

        if (*end != '\0' || pid <= 0 || (len = cproc_cmdline((pid_t)pid, cmd, sizeof(cmd))) <= 0)
            continue;
        base = strrchr(cmd, '/');
        base = base ? base + 1 : cmd;
        if (strcmp(base, "agora-executor") != 0 || cproc_zombie((pid_t)pid))
            continue;
        for (const char *a = cmd + strlen(cmd) + 1; a < cmd + len; a += strlen(a) + 1) {
            if (strncmp(a, prefix, strlen(prefix)) == 0) {
                pids[n] = (pid_t)pid;
                snprintf(meta[n], PATH_MAX, "%s", a + strlen("--meta="));
                n++;
                break;
            }
        }
    }
    closedir(d);
    return n;
}

static bool
executor_alive(pid_t pid, const char *dir)
{
    char cmd[16384], prefix[PATH_MAX + 16];
    ssize_t len = cproc_cmdline(pid, cmd, sizeof(cmd));

    if (len <= 0 || cproc_zombie(pid))
        return false;
    snprintf(prefix, sizeof(prefix), "--meta=%s/agent", dir);
    for (const char *a = cmd; a < cmd + len; a += strlen(a) + 1)
        if (strncmp(a, prefix, strlen(prefix)) == 0)
            return true;
    return false;
}

int
cproc_stop_tasks(const char *dir, int64_t grace_ms)
{
    enum { MAXEX = 4096 };
    pid_t *pids = calloc(MAXEX, sizeof(*pids));
    char(*meta)[PATH_MAX] = calloc(MAXEX, sizeof(*meta));
    size_t n;
    int64_t until;
    int left = 0;

    if (pids == NULL || meta == NULL) {
        free(pids);
        free(meta);
        return cli_error("out of memory");
    }
    n = find_executors(dir, pids, meta, MAXEX);
    if (n > 0)
        printf("tasks     stopping %zu\n", n);
    for (size_t i = 0; i < n; i++)
        kill(pids[i], SIGTERM);
    until = cli_now_ms() + grace_ms + 3000; /* the executors' own grace comes first */
    for (size_t i = 0; i < n; i++) {
        while (executor_alive(pids[i], dir) && cli_now_ms() < until)
            cli_sleep_ms(50);
        if (executor_alive(pids[i], dir)) {
            char path[PATH_MAX + 16];
            FILE *f;
            long tp = 0;
            /* The task runs in its own process group led by the pid in task.pid. */
            snprintf(path, sizeof(path), "%s/task.pid", meta[i]);
            if ((f = fopen(path, "r")) != NULL) {
                if (fscanf(f, "%ld", &tp) == 1 && tp > 1)
                    kill(-(pid_t)tp, SIGKILL);
                fclose(f);
            }
            kill(pids[i], SIGKILL);
            left++;
        }
    }
    if (left > 0)
        printf("tasks     %d killed (SIGKILL)\n", left);
    free(pids);
    free(meta);
    return 0;
}
