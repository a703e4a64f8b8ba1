/*
 * `agora cluster up|down|status`: a local cluster in one directory.
 *
 *   DIR/cluster.json        the layout: {"port", "agents", "services_port"}
 *   DIR/NAME.pid, NAME.log  per component: master, agent1..agentN, services
 *   DIR/master/             the master's --work_dir (registry.db, accounting.db)
 *   DIR/agentI/             agent I's --work_dir (meta/agent.db, sandboxes/)
 *   DIR/services/           agora-services' --work_dir
 *
 * The master listens on 127.0.0.1:PORT, agent I on PORT+I with hostname
 * "agentI", attribute rack:rI and 1/N of this machine's cpus, memory (less
 * 1 GiB) and free disk (less 5 GiB), ports [31000+1000(I-1), 31999+1000(I-1)];
 * agora-services (when built beside this binary) on SERVICES_PORT. Daemons are
 * found next to this executable, started detached (own session, stdin
 * /dev/null, output appended to the log) and recognised later by their pid
 * file and /proc/PID/cmdline (program name and --work_dir), so a reused pid is
 * never taken for a component.
 */
#define _GNU_SOURCE
#include "agora.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "file.h"
#include "http.h"

#define HOST "127.0.0.1"
#define MAX_AGENTS 64

static char *opt_dir, *opt_resources;
static int64_t opt_agents = -1, opt_port = -1, opt_services_port = -1;
static int64_t opt_timeout_ms, opt_grace_ms;
static bool opt_purge, opt_keep_tasks, opt_tls;
static const struct flag cluster_flags[] = {
    CLI_FLAG_JSON,
    {"dir", FLAG_STRING, &opt_dir, NULL,
     "Directory of the cluster: state, logs, pid files (default: ~/.agora/cluster)."},
    {"agents", FLAG_INT64, &opt_agents, NULL,
     "up: number of agents, splitting this machine's resources (default 2)."},
    {"port", FLAG_INT64, &opt_port, NULL,
     "up: the master's port; agent I listens on PORT+I (default 5050)."},
    {"services_port", FLAG_INT64, &opt_services_port, NULL,
     "up: agora-services' port (default 8080)."},
    {"resources", FLAG_STRING, &opt_resources, NULL,
     "up: resources of each agent instead of a share of the machine, e.g. "
     "\"cpus:2;mem:2048;disk:8192;ports:[31000-31999]\"."},
    {"timeout", FLAG_DURATION, &opt_timeout_ms, "60secs",
     "up: how long to wait for the master to report every agent active."},
    {"grace", FLAG_DURATION, &opt_grace_ms, "10secs",
     "down: how long a component may take to stop after SIGTERM before SIGKILL."},
    {"keep_tasks", FLAG_BOOL, &opt_keep_tasks, "false",
     "down: leave running tasks alone (the agents recover them on the next up)."},
    {"purge", FLAG_BOOL, &opt_purge, "false", "down: also delete the directory with all state."},
    {"tls", FLAG_BOOL, &opt_tls, "false",
     "up: every port serves only TLS (https://, wss://) with certificates from DIR/tls, made "
     "by agora-tls-init (tools/tls-init) when missing; kept for later ups until --purge."},
    {NULL},
};
static const struct cli_help cluster_help = {
    "cluster up [--dir=DIR] [--agents=2] [--port=5050] [--services_port=8080] [--tls]\n"
    "cluster status [--dir=DIR] [--json]\n"
    "cluster down [--dir=DIR] [--purge] [--keep_tasks]",
    "Runs a cluster on this machine: one master, N agents that split its resources and,\n"
    "when it is built, agora-services. up starts what is not running (healthy components are\n"
    "left alone), waits until the master reports every agent active and prints the addresses.\n"
    "status shows each component's pid, state and health (exit 1 unless all are healthy).\n"
    "down stops the services, the agents, their tasks and the master (SIGTERM, then SIGKILL\n"
    "after --grace) and keeps the state unless --purge. The layout chosen by up is kept in\n"
    "DIR/cluster.json, so status and down need only --dir. With --tls the master, agents and\n"
    "agora-services serve only TLS and are reached over it; up prints the AGORA_TLS_CA to\n"
    "export for the other commands.",
};

struct layout {
    char dir[PATH_MAX];
    char bin[PATH_MAX];
    int port, agents, services_port;
    bool services; /* agora-services is built */
    bool tls;      /* every port serves TLS, certificates in DIR/tls */
};

struct component {
    char name[32];
    char prog[32]; /* the daemon's file name */
    char work_dir[PATH_MAX + 64];
    int port;
};

/* ---- layout ---- */

static int
default_dir(char *buf, size_t len)
{
    const char *home = getenv("HOME");

    if (home == NULL || home[0] == '\0')
        return cli_usage_error("cluster", "HOME is not set: give --dir");
    snprintf(buf, len, "%s/.agora/cluster", home);
    return 0;
}

static void
component_at(const struct layout *l, int idx, struct component *c)
{
    memset(c, 0, sizeof(*c));
    if (idx == 0) {
        snprintf(c->name, sizeof(c->name), "master");
        snprintf(c->prog, sizeof(c->prog), "agora-master");
        c->port = l->port;
    } else if (idx <= l->agents) {
        snprintf(c->name, sizeof(c->name), "agent%d", idx);
        snprintf(c->prog, sizeof(c->prog), "agora-agent");
        c->port = l->port + idx;
    } else {
        snprintf(c->name, sizeof(c->name), "services");
        snprintf(c->prog, sizeof(c->prog), "agora-services");
        c->port = l->services_port;
    }
    snprintf(c->work_dir, sizeof(c->work_dir), "%s/%s", l->dir, c->name);
}

/* Components: master, agents, services (when built or found running). */
static int
ncomponents(const struct layout *l)
{
    return 1 + l->agents + (l->services ? 1 : 0);
}

static int
load_layout(struct layout *l, bool *found)
{
    char path[PATH_MAX + 32];
    json_t *o;

    snprintf(path, sizeof(path), "%s/cluster.json", l->dir);
    *found = false;
    if ((o = json_load_file(path, 0, NULL)) == NULL)
        return 0;
    *found = true;
    l->port = (int)json_integer_value(json_object_get(o, "port"));
    l->agents = (int)json_integer_value(json_object_get(o, "agents"));
    l->services_port = (int)json_integer_value(json_object_get(o, "services_port"));
    l->tls = json_is_true(json_object_get(o, "tls"));
    json_decref(o);
    if (l->port <= 0 || l->port > 65535 || l->agents < 0 || l->agents > MAX_AGENTS ||
        l->services_port <= 0 || l->services_port > 65535)
        return cli_error("%s: bad layout; fix it or remove it", path);
    return 0;
}

static int
save_layout(const struct layout *l)
{
    char path[PATH_MAX + 32], tmp[PATH_MAX + 40];
    json_t *o = json_pack("{s:i, s:i, s:i, s:b}", "port", l->port, "agents", l->agents,
                          "services_port", l->services_port, "tls", l->tls);
    int rc;

    snprintf(path, sizeof(path), "%s/cluster.json", l->dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    rc = json_dump_file(o, tmp, JSON_INDENT(2));
    json_decref(o);
    if (rc != 0 || rename(tmp, path) != 0)
        return cli_error("cannot write %s: %s", path, strerror(errno));
    return 0;
}

/* Resolves symlinks and ".." in l->dir when it exists, so that the daemons'
 * command lines name it the same way whatever path the user gave. */
static void
canonical_dir(struct layout *l)
{
    char real[PATH_MAX];

    if (realpath(l->dir, real) != NULL)
        snprintf(l->dir, sizeof(l->dir), "%s", real);
}

static bool
file_executable(const char *dir, const char *prog)
{
    char path[PATH_MAX + 64];

    snprintf(path, sizeof(path), "%s/%s", dir, prog);
    return access(path, X_OK) == 0;
}

/* ---- processes ---- */

static void
pid_path(const struct layout *l, const struct component *c, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s.pid", l->dir, c->name);
}

/* Reads /proc/PID/cmdline into buf (NUL-separated); returns its length or -1. */
static ssize_t
read_cmdline(pid_t pid, char *buf, size_t len)
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

static bool
process_zombie(pid_t pid)
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

/* Whether `pid` is the component: program name and --work_dir in its command line. */
static bool
is_component(pid_t pid, const struct component *c)
{
    char cmd[16384], want[PATH_MAX + 80];
    const char *base;
    ssize_t n;

    if (pid <= 0 || (n = read_cmdline(pid, cmd, sizeof(cmd))) <= 0 || process_zombie(pid))
        return false;
    /* The program is argv[0], or argv[1] for a script run by its interpreter. */
    base = strrchr(cmd, '/');
    base = base ? base + 1 : cmd;
    if (strcmp(base, c->prog) != 0) {
        const char *a1 = cmd + strlen(cmd) + 1;
        if (a1 >= cmd + n)
            return false;
        base = strrchr(a1, '/');
        base = base ? base + 1 : a1;
        if (strcmp(base, c->prog) != 0)
            return false;
    }
    snprintf(want, sizeof(want), "--work_dir=%s", c->work_dir);
    for (const char *a = cmd + strlen(cmd) + 1; a < cmd + n; a += strlen(a) + 1)
        if (strcmp(a, want) == 0)
            return true;
    return false;
}

/* The component's pid from its pid file when that process is the component; else 0. */
static pid_t
running_pid(const struct layout *l, const struct component *c)
{
    char path[PATH_MAX + 64];
    FILE *f;
    long pid = 0;

    pid_path(l, c, path, sizeof(path));
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = 0;
    fclose(f);
    return is_component((pid_t)pid, c) ? (pid_t)pid : 0;
}

static bool
port_in_use(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool used;

    if (fd < 0)
        return false;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, HOST, &sa.sin_addr);
    used = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return used;
}

static const char *
scheme(const struct layout *l)
{
    return l->tls ? "https" : "http";
}

/* GET http(s)://HOST:PORT/PATH answered with `want` (0: any status below 500). */
static bool
http_ok(const struct layout *l, int port, const char *path, int want)
{
    char url[128];
    int status = 0;

    snprintf(url, sizeof(url), "%s://%s:%d%s", scheme(l), HOST, port, path);
    if (http_request("GET", url, NULL, NULL, 0, 2000, &status, NULL, NULL) != 0)
        return false;
    return want ? status == want : status < 500;
}

/* Starts argv detached; writes the pid file. Returns the pid or -1 (printed). */
static pid_t
spawn(const struct layout *l, const struct component *c, char **argv)
{
    char log[PATH_MAX + 64], pidf[PATH_MAX + 64], tmp[PATH_MAX + 80];
    pid_t pid;
    FILE *f;
    int fd;

    snprintf(log, sizeof(log), "%s/%s.log", l->dir, c->name);
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
    pid_path(l, c, pidf, sizeof(pidf));
    snprintf(tmp, sizeof(tmp), "%s.tmp", pidf);
    if ((f = fopen(tmp, "w")) == NULL || fprintf(f, "%d\n", (int)pid) < 0 || fclose(f) != 0 ||
        rename(tmp, pidf) != 0) {
        cli_error("cannot write %s: %s", pidf, strerror(errno));
        return pid; /* it runs; status will not know it */
    }
    return pid;
}

static void
print_log_tail(const struct layout *l, const struct component *c, int lines)
{
    char path[PATH_MAX + 64], buf[65536];
    ssize_t n;
    int fd, seen = 0;
    off_t size;
    char *p;

    snprintf(path, sizeof(path), "%s/%s.log", l->dir, c->name);
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
    for (p = buf + n - 1; p > buf; p--)
        if (*p == '\n' && p != buf + n - 1 && ++seen == lines)
            break;
    fprintf(stderr, "----- last lines of %s:\n%s%s", path, *p == '\n' ? p + 1 : p,
            buf[n - 1] == '\n' ? "" : "\n");
}

/* The per-agent resources: 1/n of the machine, or --resources. */
static void
agent_resources(const struct layout *l, int i, char *buf, size_t len)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long long mem_mb = (long long)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE) / (1 << 20);
    long long disk_mb = 4096, mem;
    struct statvfs vfs;
    char c[32];
    int lo = 31000 + (i - 1) * 1000;

    if (opt_resources != NULL) {
        snprintf(buf, len, "%s", opt_resources);
        return;
    }
    if (cpus < 1)
        cpus = 1;
    cli_fmt_num((double)cpus / l->agents, c, sizeof(c));
    if (strcmp(c, "0") == 0)
        snprintf(c, sizeof(c), "0.01");
    mem = (mem_mb - 1024) / l->agents;
    if (mem < 256)
        mem = 256;
    if (statvfs(l->dir, &vfs) == 0) {
        disk_mb =
            ((long long)vfs.f_bavail * (long long)vfs.f_frsize / (1 << 20) - 5120) / l->agents;
        if (disk_mb < 1024)
            disk_mb = 1024;
    }
    snprintf(buf, len, "cpus:%s;mem:%lld;disk:%lld;ports:[%d-%d]", c, mem, disk_mb, lo, lo + 999);
}

/* ---- TLS ---- */

static void
tls_file(const struct layout *l, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/tls/%s", l->dir, name);
}

/* Makes DIR/tls with agora-tls-init unless its files are there. */
static int
tls_certificates(const struct layout *l)
{
    static const char *const files[] = {"ca.pem", "server.pem", "server-key.pem"};
    char path[PATH_MAX + 64], exe[PATH_MAX + 64], dir[PATH_MAX + 8];
    bool have = true;
    int status;
    pid_t pid;

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        tls_file(l, files[i], path, sizeof(path));
        if (access(path, R_OK) != 0)
            have = false;
    }
    if (have)
        return CLI_OK;
    snprintf(exe, sizeof(exe), "%s/agora-tls-init", l->bin);
    snprintf(dir, sizeof(dir), "%s/tls", l->dir);
    if (access(exe, X_OK) != 0)
        return cli_error("--tls needs %s (tools/tls-init, installed beside agora) or the "
                         "certificates of tools/tls-init in %s",
                         exe, dir);
    printf("making a CA and certificates in %s (agora-tls-init)\n", dir);
    fflush(NULL);
    if ((pid = fork()) < 0)
        return cli_error("fork: %s", strerror(errno));
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 1);
        execl(exe, exe, dir, (char *)NULL);
        dprintf(2, "agora cluster: cannot run %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return cli_error("%s %s failed (its error is above)", exe, dir);
    return CLI_OK;
}

/* Our own probes of a TLS cluster trust its CA. */
static int
tls_client(const struct layout *l)
{
    static struct tls_flags f; /* borrowed by the HTTP client until exit */
    static char ca[PATH_MAX + 64];
    char err[512];

    if (!l->tls)
        return CLI_OK;
    memset(&f, 0, sizeof(f));
    tls_file(l, "ca.pem", ca, sizeof(ca));
    f.ca = ca;
    if (http_client_tls(&f, err, sizeof(err)) != 0)
        return cli_error("%s (make them again: remove %s/tls, then agora cluster up --tls)", err,
                         l->dir);
    return CLI_OK;
}

/* Starts component `c`. Returns its pid or -1. */
static pid_t
start_component(const struct layout *l, const struct component *c, int idx)
{
    char exe[PATH_MAX + 64], a[12][PATH_MAX + 128], res[512];
    char *argv[16];
    int n = 0;

    snprintf(exe, sizeof(exe), "%s/%s", l->bin, c->prog);
    if (file_mkdirs(c->work_dir, 0755) != 0) {
        cli_error("cannot create %s: %s", c->work_dir, strerror(errno));
        return -1;
    }
    argv[n++] = exe;
    snprintf(a[0], sizeof(a[0]), "--work_dir=%s", c->work_dir);
    if (idx == 0) {
        snprintf(a[1], sizeof(a[1]), "--ip=%s", HOST);
        snprintf(a[2], sizeof(a[2]), "--port=%d", c->port);
        argv[n++] = a[1];
        argv[n++] = a[2];
        argv[n++] = a[0];
    } else if (idx <= l->agents) {
        agent_resources(l, idx, res, sizeof(res));
        snprintf(a[1], sizeof(a[1]), "--master=%s:%d", HOST, l->port);
        snprintf(a[2], sizeof(a[2]), "--ip=%s", HOST);
        snprintf(a[3], sizeof(a[3]), "--port=%d", c->port);
        snprintf(a[4], sizeof(a[4]), "--hostname=%s", c->name);
        snprintf(a[5], sizeof(a[5]), "--resources=%s", res);
        snprintf(a[6], sizeof(a[6]), "--attributes=rack:r%d", idx);
        for (int k = 1; k <= 3; k++)
            argv[n++] = a[k];
        argv[n++] = a[0];
        for (int k = 4; k <= 6; k++)
            argv[n++] = a[k];
    } else {
        snprintf(a[1], sizeof(a[1]), "--master=%s:%d", HOST, l->port);
        snprintf(a[2], sizeof(a[2]), "--ip=%s", HOST);
        snprintf(a[3], sizeof(a[3]), "--http_port=%d", c->port);
        for (int k = 1; k <= 3; k++)
            argv[n++] = a[k];
        argv[n++] = a[0];
    }
    if (l->tls) {
        char f[PATH_MAX + 64];
        /* The daemons' certificate; agents and agora-services verify the master's with the CA
         * (--master=HOST:PORT with --tls_ca is wss://). */
        tls_file(l, "server.pem", f, sizeof(f));
        snprintf(a[8], sizeof(a[8]), "--tls_cert=%s", f);
        tls_file(l, "server-key.pem", f, sizeof(f));
        snprintf(a[9], sizeof(a[9]), "--tls_key=%s", f);
        tls_file(l, "ca.pem", f, sizeof(f));
        snprintf(a[10], sizeof(a[10]), "--tls_ca=%s", f);
        snprintf(a[11], sizeof(a[11]), "--tls_required");
        for (int k = 8; k <= 11; k++)
            argv[n++] = a[k];
    }
    argv[n] = NULL;
    return spawn(l, c, argv);
}

static bool
component_healthy(const struct component *c, int idx, const struct layout *l)
{
    if (idx == 0 || idx <= l->agents)
        return http_ok(l, c->port, "/health", 200);
    return http_ok(l, c->port, "/ping", 200) || http_ok(l, c->port, "/v2/apps", 200);
}

/* Names of the agents the master reports active (a set of "agentI" flags). */
static int
active_agents(const struct layout *l, bool active[MAX_AGENTS + 1])
{
    char url[128], *resp = NULL;
    json_t *o, *a;
    size_t i;
    int status = 0, count = 0;

    memset(active, 0, sizeof(bool) * (MAX_AGENTS + 1));
    snprintf(url, sizeof(url), "%s://%s:%d/slaves", scheme(l), HOST, l->port);
    if (http_request("GET", url, NULL, NULL, 0, 2000, &status, &resp, NULL) != 0)
        return -1;
    o = status == 200 ? json_loads(resp, 0, NULL) : NULL;
    free(resp);
    json_array_foreach(json_object_get(o, "slaves"), i, a)
    {
        const char *h = json_string_value(json_object_get(a, "hostname"));
        int k;
        if (h && json_is_true(json_object_get(a, "active")) && sscanf(h, "agent%d", &k) == 1 &&
            k >= 1 && k <= l->agents && !active[k]) {
            active[k] = true;
            count++;
        }
    }
    json_decref(o);
    return o ? count : -1;
}

/* ---- up ---- */

static void
print_addresses(const struct layout *l)
{
    const char *sch = scheme(l);

    printf("\nAgora is running (%s%s):\n", l->dir, l->tls ? ", TLS only" : "");
    printf("  master    %s://%s:%d   (web dashboard; agora agents | frameworks | tasks)\n", sch,
           HOST, l->port);
    for (int i = 1; i <= l->agents; i++)
        printf("  agent%-3d  %s://%s:%d\n", i, sch, HOST, l->port + i);
    if (l->services)
        printf("  services  %s://%s:%d   (apps page; agora app deploy FILE.json)\n", sch, HOST,
               l->services_port);
    printf("  logs      %s/*.log\n", l->dir);
    if (l->tls)
        printf("  CA        %s/tls/ca.pem   (curl --cacert; import it in a browser)\n", l->dir);
    if (l->tls || l->port != 5050 || (l->services && l->services_port != 8080)) {
        printf("Point the CLI at it:\n  export AGORA_MASTER=%s%s:%d", l->tls ? "https://" : "",
               HOST, l->port);
        if (l->services)
            printf(" AGORA_SERVICES=%s%s:%d", l->tls ? "https://" : "", HOST, l->services_port);
        if (l->tls)
            printf(" AGORA_TLS_CA=%s/tls/ca.pem", l->dir);
        printf("\n");
    }
    printf("Stop it with: agora cluster down%s%s\n", opt_dir ? " --dir=" : "",
           opt_dir ? l->dir : "");
}

static int
cluster_up(struct layout *l)
{
    pid_t started[MAX_AGENTS + 2] = {0};
    bool found, any_running = false, active[MAX_AGENTS + 1];
    int64_t deadline;
    struct layout old;
    int rc, n;

    if (!file_executable(l->bin, "agora-master") || !file_executable(l->bin, "agora-agent"))
        return cli_error("agora-master and agora-agent are not in %s (build them first)", l->bin);
    if (file_mkdirs(l->dir, 0755) != 0)
        return cli_error("cannot create %s: %s", l->dir, strerror(errno));
    canonical_dir(l);
    old = *l;
    if ((rc = load_layout(&old, &found)) != 0)
        return rc;
    if (found) {
        old.services = true; /* look for a running services too */
        for (int i = 0; i < ncomponents(&old); i++) {
            struct component c;
            component_at(&old, i, &c);
            if (running_pid(&old, &c) > 0)
                any_running = true;
        }
    }
    l->port = opt_port >= 0 ? (int)opt_port : found ? old.port : 5050;
    l->agents = opt_agents >= 0 ? (int)opt_agents : found ? old.agents : 2;
    l->services_port = opt_services_port >= 0 ? (int)opt_services_port
                       : found                ? old.services_port
                                              : 8080;
    l->tls = opt_tls || (found && old.tls);
    if (l->port < 1 || l->port + l->agents > 65535 || l->services_port < 1 ||
        l->services_port > 65535)
        return cli_usage_error("cluster", "ports out of range");
    if (l->agents < 1 || l->agents > MAX_AGENTS)
        return cli_usage_error("cluster", "--agents must be between 1 and %d", MAX_AGENTS);
    if (l->services_port >= l->port && l->services_port <= l->port + l->agents)
        return cli_usage_error("cluster",
                               "--services_port %d collides with the agents' ports "
                               "%d..%d",
                               l->services_port, l->port + 1, l->port + l->agents);
    if (any_running && (l->port != old.port || l->agents != old.agents ||
                        l->services_port != old.services_port || l->tls != old.tls))
        return cli_error("the cluster in %s runs with --port=%d --agents=%d --services_port=%d%s; "
                         "run 'agora cluster down' first to change them",
                         l->dir, old.port, old.agents, old.services_port,
                         old.tls ? " --tls" : "");
    if (l->tls && ((rc = tls_certificates(l)) != 0 || (rc = tls_client(l)) != 0))
        return rc;
    if ((rc = save_layout(l)) != 0)
        return rc;

    n = ncomponents(l);
    for (int i = 0; i < n; i++) {
        struct component c;
        pid_t pid;

        component_at(l, i, &c);
        if ((pid = running_pid(l, &c)) > 0) {
            printf("%-9s running (pid %d)\n", c.name, (int)pid);
            continue;
        }
        if (port_in_use(c.port))
            return cli_error("port %d (for %s) is in use by another program; choose other ports "
                             "with --port / --services_port",
                             c.port, c.name);
        if ((pid = start_component(l, &c, i)) < 0)
            return CLI_FAIL;
        started[i] = pid;
        printf("%-9s started (pid %d, log %s/%s.log)\n", c.name, (int)pid, l->dir, c.name);
        if (i == 0) {
            /* Agents retry, but a master that cannot start is best reported now. */
            int64_t until = cli_now_ms() + opt_timeout_ms;
            while (!http_ok(l, l->port, "/health", 200)) {
                if (waitpid(pid, NULL, WNOHANG) == pid) {
                    print_log_tail(l, &c, 15);
                    return cli_error("the master exited at start (see %s/master.log)", l->dir);
                }
                if (cli_now_ms() > until)
                    return cli_error("the master did not answer within %llds (see %s/master.log)",
                                     (long long)(opt_timeout_ms / 1000), l->dir);
                cli_sleep_ms(100);
            }
        }
    }

    /* Wait for every agent to be active and the services to answer. */
    deadline = cli_now_ms() + opt_timeout_ms;
    cli_catch_signals();
    for (;;) {
        int count = active_agents(l, active);
        bool services_ok = !l->services || http_ok(l, l->services_port, "/ping", 200) ||
                           http_ok(l, l->services_port, "/v2/apps", 200);

        for (int i = 0; i < n; i++) {
            struct component c;
            component_at(l, i, &c);
            if (started[i] > 0 && waitpid(started[i], NULL, WNOHANG) == started[i]) {
                print_log_tail(l, &c, 15);
                return cli_error("%s exited at start (see %s/%s.log)", c.name, l->dir, c.name);
            }
        }
        if (count == l->agents && services_ok)
            break;
        if (cli_now_ms() > deadline || cli_interrupted) {
            char missing[512] = "";
            size_t m = 0;
            for (int k = 1; k <= l->agents && m < sizeof(missing); k++)
                if (!active[k])
                    m += (size_t)snprintf(missing + m, sizeof(missing) - m, " agent%d", k);
            return cli_error(
                "the cluster did not come up within %llds: %d of %d agents active%s%s%s"
                " (logs in %s)",
                (long long)(opt_timeout_ms / 1000), count < 0 ? 0 : count, l->agents,
                m ? ", missing:" : "", missing,
                services_ok ? "" : "; agora-services does not answer", l->dir);
        }
        cli_sleep_ms(100);
    }
    print_addresses(l);
    return CLI_OK;
}

/* ---- down ---- */

/* Sends `sig` to the component, waits up to `wait_ms` for it to go. True when gone. */
static bool
stop_pid(pid_t pid, const struct component *c, int sig, int64_t wait_ms)
{
    int64_t until = cli_now_ms() + wait_ms;

    if (kill(pid, sig) != 0 && errno == ESRCH)
        return true;
    while (is_component(pid, c)) {
        if (cli_now_ms() > until)
            return false;
        cli_sleep_ms(50);
    }
    return true;
}

/* Executors of this cluster's agents: agora-executor with --meta=DIR/agentI/... */
static size_t
find_executors(const struct layout *l, pid_t *pids, char (*meta)[PATH_MAX], size_t max)
{
    char cmd[16384], prefix[PATH_MAX + 16];
    DIR *d = opendir("/proc");
    struct dirent *e;
    size_t n = 0;

    if (d == NULL)
        return 0;
    snprintf(prefix, sizeof(prefix), "--meta=%s/agent", l->dir);
    while ((e = readdir(d)) != NULL && n < max) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        ssize_t len;
        const char *base;

        if (*end != '\0' || pid <= 0 || (len = read_cmdline((pid_t)pid, cmd, sizeof(cmd))) <= 0)
            continue;
        base = strrchr(cmd, '/');
        base = base ? base + 1 : cmd;
        if (strcmp(base, "agora-executor") != 0 || process_zombie((pid_t)pid))
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
executor_alive(pid_t pid, const struct layout *l)
{
    char cmd[16384], prefix[PATH_MAX + 16];
    ssize_t len = read_cmdline(pid, cmd, sizeof(cmd));

    if (len <= 0 || process_zombie(pid))
        return false;
    snprintf(prefix, sizeof(prefix), "--meta=%s/agent", l->dir);
    for (const char *a = cmd; a < cmd + len; a += strlen(a) + 1)
        if (strncmp(a, prefix, strlen(prefix)) == 0)
            return true;
    return false;
}

/* Stops the tasks through their executors (which forward SIGTERM to the task). */
static int
stop_tasks(const struct layout *l)
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
    n = find_executors(l, pids, meta, MAXEX);
    if (n > 0)
        printf("tasks     stopping %zu\n", n);
    for (size_t i = 0; i < n; i++)
        kill(pids[i], SIGTERM);
    until = cli_now_ms() + opt_grace_ms + 3000; /* the executors' own grace comes first */
    for (size_t i = 0; i < n; i++) {
        while (executor_alive(pids[i], l) && cli_now_ms() < until)
            cli_sleep_ms(50);
        if (executor_alive(pids[i], l)) {
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

/*
 * Waits (at most 5 s) until no agent of the cluster lists a live container:
 * each has seen its executors end and removed their cgroups and mounts, which
 * only a running agent does.
 */
static void
wait_agents_idle(const struct layout *l)
{
    int64_t until = cli_now_ms() + 5000;

    for (int i = 1; i <= l->agents; i++) {
        char url[128];
        snprintf(url, sizeof(url), "%s://%s:%d/monitor/statistics", scheme(l), HOST, l->port + i);
        for (;;) {
            char *body = NULL;
            int status = 0;
            bool idle = true;
            if (http_request("GET", url, NULL, NULL, 0, 1000, &status, &body, NULL) == 0) {
                json_t *j = status == 200 ? json_loads(body, 0, NULL) : NULL;
                idle = j == NULL || !json_is_array(j) || json_array_size(j) == 0;
                json_decref(j);
                free(body);
            }
            if (idle || cli_now_ms() >= until)
                break;
            cli_sleep_ms(50);
        }
    }
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT) {
        cli_error("cannot remove %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int
cluster_down(struct layout *l)
{
    bool found, tasks_stopped = false;
    int rc, failed = 0;

    if ((rc = load_layout(l, &found)) != 0)
        return rc;
    if (!found) {
        if (opt_purge)
            return cli_error("no cluster in %s (no cluster.json): nothing to purge", l->dir);
        printf("no cluster in %s\n", l->dir);
        return CLI_OK;
    }
    if (l->tls) {
        char ca[PATH_MAX + 64];
        tls_file(l, "ca.pem", ca, sizeof(ca));
        if (access(ca, R_OK) == 0)
            (void)tls_client(l); /* only to see the agents idle: best effort */
    }
    l->services = true;
    /* services first (it would relaunch tasks), then the tasks while their
     * agents still run (they clean up after them), the agents, the master. */
    for (int i = ncomponents(l) - 1; i >= 0; i--) {
        struct component c;
        char pidf[PATH_MAX + 64];
        pid_t pid;

        component_at(l, i, &c);
        if (i <= l->agents && !tasks_stopped && !opt_keep_tasks) {
            stop_tasks(l);
            wait_agents_idle(l);
            tasks_stopped = true;
        }
        pid_path(l, &c, pidf, sizeof(pidf));
        if ((pid = running_pid(l, &c)) <= 0) {
            unlink(pidf);
            continue;
        }
        if (stop_pid(pid, &c, SIGTERM, opt_grace_ms)) {
            printf("%-9s stopped (pid %d)\n", c.name, (int)pid);
        } else if (stop_pid(pid, &c, SIGKILL, 5000)) {
            printf("%-9s killed (pid %d did not stop within %llds)\n", c.name, (int)pid,
                   (long long)(opt_grace_ms / 1000));
        } else {
            cli_error("%s (pid %d) does not stop", c.name, (int)pid);
            failed++;
            continue;
        }
        unlink(pidf);
    }
    if (failed)
        return CLI_FAIL;
    if (opt_purge) {
        /* The agents' cgroup roots (kept across agent restarts for recovery)
         * go with the state; each is empty once its containers are gone. */
        for (int i = 1; i <= l->agents; i++) {
            char path[PATH_MAX + 96], root[PATH_MAX];
            FILE *f;
            snprintf(path, sizeof(path), "%s/agent%d/meta/cgroups", l->dir, i);
            if ((f = fopen(path, "r")) == NULL)
                continue;
            while (fgets(root, sizeof(root), f) != NULL) {
                root[strcspn(root, "\n")] = '\0';
                if (root[0] == '/' && rmdir(root) != 0 && errno != ENOENT)
                    cli_error("cannot remove the cgroup %s: %s", root, strerror(errno));
            }
            fclose(f);
        }
        if (nftw(l->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
            return CLI_FAIL;
        printf("removed %s\n", l->dir);
    } else {
        printf("state kept in %s (agora cluster up restarts it; --purge removes it)\n", l->dir);
    }
    return CLI_OK;
}

/* ---- status ---- */

static int
cluster_status(struct layout *l)
{
    bool found, active[MAX_AGENTS + 1], all_ok = true;
    struct cli_table t;
    json_t *arr = json_array();
    int rc, count;

    if ((rc = load_layout(l, &found)) != 0)
        return rc;
    if (!found) {
        json_decref(arr);
        return cli_error("no cluster in %s (start one with 'agora cluster up')", l->dir);
    }
    if ((rc = tls_client(l)) != 0) {
        json_decref(arr);
        return rc;
    }
    count = active_agents(l, active);
    /* The services are shown when built or running. */
    l->services = true;
    {
        struct component c;
        component_at(l, 1 + l->agents, &c);
        l->services = file_executable(l->bin, "agora-services") || running_pid(l, &c) > 0;
    }
    cli_table_init(
        &t, (const char *const[]){"COMPONENT", "PID", "STATE", "HEALTH", "ADDRESS", "LOG", NULL});
    for (int i = 0; i < ncomponents(l); i++) {
        struct component c;
        char pidtxt[16], addr[64], log[PATH_MAX + 64];
        const char *health;
        pid_t pid;
        bool ok;

        component_at(l, i, &c);
        pid = running_pid(l, &c);
        snprintf(pidtxt, sizeof(pidtxt), "%d", (int)pid);
        snprintf(addr, sizeof(addr), "%s://%s:%d", scheme(l), HOST, c.port);
        snprintf(log, sizeof(log), "%s/%s.log", l->dir, c.name);
        ok = pid > 0 && component_healthy(&c, i, l);
        if (pid <= 0) {
            health = "-";
        } else if (!ok) {
            health = "unhealthy";
        } else if (i >= 1 && i <= l->agents && (count < 0 || !active[i])) {
            health = "not registered";
            ok = false;
        } else {
            health = "healthy";
        }
        if (!ok)
            all_ok = false;
        json_array_append_new(arr, json_pack("{s:s, s:i, s:b, s:b, s:s, s:s, s:s}", "name", c.name,
                                             "pid", (int)pid, "running", pid > 0, "healthy", ok,
                                             "health", health, "address", addr, "log", log));
        cli_table_add(&t,
                      (const char *const[]){c.name, pid > 0 ? pidtxt : "-",
                                            pid > 0 ? "running" : "stopped", health, addr, log});
    }
    if (cli_opt.json)
        cli_print_json(arr);
    cli_table_print(&t, cli_opt.json ? NULL : stdout);
    json_decref(arr);
    return all_ok ? CLI_OK : CLI_FAIL;
}

int
cmd_cluster(int argc, char **argv)
{
    struct layout l;
    int rc;

    if ((rc = cli_parse(cluster_flags, &cluster_help, &argc, argv)) != 0)
        return rc < 0 ? CLI_OK : rc;
    memset(&l, 0, sizeof(l));
    if (argc < 2) {
        rc = cli_usage_error("cluster", "missing subcommand (up, down, status)");
        goto out;
    }
    if (argc > 2) {
        rc = cli_usage_error("cluster", "unexpected argument \"%s\"", argv[2]);
        goto out;
    }
    if (opt_timeout_ms <= 0 || opt_grace_ms < 0) {
        rc = cli_usage_error("cluster", "--timeout must be positive, --grace not negative");
        goto out;
    }
    if (opt_dir != NULL && opt_dir[0] != '\0') {
        /* Absolute, so that the daemons' command lines name it unambiguously. */
        char cwd[PATH_MAX];
        if (opt_dir[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
            snprintf(l.dir, sizeof(l.dir), "%s", opt_dir);
        else
            snprintf(l.dir, sizeof(l.dir), "%s/%s", cwd, opt_dir);
    } else if ((rc = default_dir(l.dir, sizeof(l.dir))) != 0) {
        goto out;
    }
    for (size_t n = strlen(l.dir); n > 1 && l.dir[n - 1] == '/'; n--)
        l.dir[n - 1] = '\0';
    canonical_dir(&l);
    if (cli_bin_dir(l.bin, sizeof(l.bin)) != 0) {
        rc = cli_error("cannot find the directory of this program");
        goto out;
    }
    l.services = file_executable(l.bin, "agora-services");
    if (strcmp(argv[1], "up") == 0)
        rc = cluster_up(&l);
    else if (strcmp(argv[1], "down") == 0 || strcmp(argv[1], "stop") == 0)
        rc = cluster_down(&l);
    else if (strcmp(argv[1], "status") == 0)
        rc = cluster_status(&l);
    else
        rc = cli_usage_error("cluster", "unknown subcommand \"%s\"", argv[1]);
out:
    flags_free(cluster_flags);
    return rc;
}
