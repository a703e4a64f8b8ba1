/*
 * `agora cluster up|down|status`: a local cluster in one directory.
 *
 *   DIR/cluster.json        the layout: {"port", "agents", "services_port", "tls", "ha"}
 *   DIR/NAME.pid, NAME.log  per component (cluster_proc.h)
 *   DIR/NAME/               the component's --work_dir (a ZooKeeper server's directory)
 *
 * Components, in the order up starts them (down stops them in reverse):
 *
 *   without --ha: master, agent1..agentN, services
 *   with --ha:    zk1..zk3, master1..master3, agent1..agentN, services1..services2
 *
 * Ports: master I (1 without --ha) listens on 127.0.0.1:PORT+I-1, agent I on
 * the port after the last master's plus I-1 (PORT+I without --ha, PORT+2+I
 * with), agora-services instance I (when built beside this binary) on
 * SERVICES_PORT+I-1; the ZooKeeper servers as in cluster_ha.h (PORT+100..).
 * Agent I has hostname "agentI", attribute rack:rI and 1/N of this machine's
 * cpus, memory (less 1 GiB) and free disk (less 5 GiB), ports
 * [31000+1000(I-1), 31999+1000(I-1)]. Daemons are found next to this
 * executable. With --ha, masters elect a leader in zk://.../agora, agents and
 * agora-services follow it there, and the two agora-services elect theirs in
 * zk://.../agora-services.
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
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster_ha.h"
#include "cluster_proc.h"
#include "file.h"
#include "http.h"

#define HOST "127.0.0.1"
#define MAX_AGENTS 64
#define MAX_COMPONENTS (CHA_ZKS + CHA_MASTERS + MAX_AGENTS + CHA_SERVICES)

static char *opt_dir, *opt_resources;
static int64_t opt_agents = -1, opt_port = -1, opt_services_port = -1;
static int64_t opt_timeout_ms, opt_grace_ms;
static bool opt_purge, opt_keep_tasks, opt_tls, opt_ha;
static const struct flag cluster_flags[] = {
    CLI_FLAG_JSON,
    {"dir", FLAG_STRING, &opt_dir, NULL,
     "Directory of the cluster: state, logs, pid files (default: ~/.agora/cluster)."},
    {"agents", FLAG_INT64, &opt_agents, NULL,
     "up: number of agents, splitting this machine's resources (default 2)."},
    {"port", FLAG_INT64, &opt_port, NULL,
     "up: the master's port; agent I listens on PORT+I (default 5050). With --ha: masters on "
     "PORT..PORT+2, agent I on PORT+2+I, ZooKeeper on PORT+100..PORT+102 (peers PORT+110.., "
     "elections PORT+120..)."},
    {"services_port", FLAG_INT64, &opt_services_port, NULL,
     "up: agora-services' port (default 8080; with --ha the second instance uses the next)."},
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
    {"ha", FLAG_BOOL, &opt_ha, "false",
     "up: high availability: a 3-server ZooKeeper ensemble (java, Debian's zookeeper package), "
     "3 masters electing a leader in it, the agents following the leader and 2 agora-services "
     "(one leads); kept for later ups until --purge."},
    {NULL},
};
static const struct cli_help cluster_help = {
    "cluster up [--dir=DIR] [--agents=2] [--port=5050] [--services_port=8080] [--tls | --ha]\n"
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
    "export for the other commands. With --ha up also runs a ZooKeeper ensemble of 3, three\n"
    "masters and two agora-services, waits until one master leads, and status shows who\n"
    "leads (ZooKeeper's mode, leading/standby masters, leader/standby agora-services).",
};

struct layout {
    char dir[PATH_MAX];
    char bin[PATH_MAX];
    int port, agents, services_port;
    bool services; /* agora-services is built */
    bool tls;      /* every port serves TLS, certificates in DIR/tls */
    bool ha;       /* ZooKeeper ensemble, 3 masters, 2 agora-services */
};

enum kind { K_ZK, K_MASTER, K_AGENT, K_SERVICES };

struct component {
    struct cproc p; /* name, program, identifying argument */
    enum kind kind;
    int num; /* 1-based within its kind */
    char work_dir[PATH_MAX + 64];
    int port; /* HTTP port (a ZooKeeper server's client port) */
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

static int
nof(const struct layout *l, enum kind k)
{
    switch (k) {
    case K_ZK:
        return l->ha ? CHA_ZKS : 0;
    case K_MASTER:
        return l->ha ? CHA_MASTERS : 1;
    case K_AGENT:
        return l->agents;
    case K_SERVICES:
        return !l->services ? 0 : l->ha ? CHA_SERVICES : 1;
    }
    return 0;
}

/* Components: see the top; services when built or found running. */
static int
ncomponents(const struct layout *l)
{
    return nof(l, K_ZK) + nof(l, K_MASTER) + nof(l, K_AGENT) + nof(l, K_SERVICES);
}

static int
master_port(const struct layout *l, int i)
{
    return l->port + i - 1;
}

static int
agent_port(const struct layout *l, int i)
{
    return l->port + nof(l, K_MASTER) - 1 + i;
}

static void
component_at(const struct layout *l, int idx, struct component *c)
{
    static const char *const names[] = {"zk", "master", "agent", "services"};
    static const char *const progs[] = {"java", "agora-master", "agora-agent", "agora-services"};
    int k = 0;

    memset(c, 0, sizeof(*c));
    while (k < K_SERVICES && idx >= nof(l, (enum kind)k))
        idx -= nof(l, (enum kind)k++);
    c->kind = (enum kind)k;
    c->num = idx + 1;
    /* A single master or agora-services keeps its plain name. */
    if (nof(l, c->kind) == 1 && c->kind != K_AGENT)
        snprintf(c->p.name, sizeof(c->p.name), "%s", names[k]);
    else
        snprintf(c->p.name, sizeof(c->p.name), "%s%d", names[k], c->num);
    snprintf(c->p.prog, sizeof(c->p.prog), "%s", progs[k]);
    snprintf(c->work_dir, sizeof(c->work_dir), "%s/%s", l->dir, c->p.name);
    switch (c->kind) {
    case K_ZK: {
        struct cha_zk z;
        cha_zk_ports(l->port, &z);
        c->port = z.client[idx];
        cha_zk_mark(c->work_dir, c->p.mark, sizeof(c->p.mark));
        return;
    }
    case K_MASTER:
        c->port = master_port(l, c->num);
        break;
    case K_AGENT:
        c->port = agent_port(l, c->num);
        break;
    case K_SERVICES:
        c->port = l->services_port + idx;
        break;
    }
    snprintf(c->p.mark, sizeof(c->p.mark), "--work_dir=%s", c->work_dir);
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
    l->ha = json_is_true(json_object_get(o, "ha"));
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
    json_t *o = json_pack("{s:i, s:i, s:i, s:b, s:b}", "port", l->port, "agents", l->agents,
                          "services_port", l->services_port, "tls", l->tls, "ha", l->ha);
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

/* Every port of the layout is in range and used once. Returns 0 or CLI_USAGE. */
static int
check_ports(const struct layout *l)
{
    int ports[MAX_COMPONENTS * 3], n = 0;
    struct cha_zk z;

    for (int i = 0; i < ncomponents(l); i++) {
        struct component c;
        component_at(l, i, &c);
        ports[n++] = c.port;
    }
    if (l->ha) {
        cha_zk_ports(l->port, &z);
        for (int i = 0; i < CHA_ZKS; i++) {
            ports[n++] = z.peer[i];
            ports[n++] = z.election[i];
        }
    }
    for (int i = 0; i < n; i++) {
        if (ports[i] < 1 || ports[i] > 65535)
            return cli_usage_error("cluster", "ports out of range (%d)", ports[i]);
        for (int j = 0; j < i; j++)
            if (ports[i] == ports[j])
                return cli_usage_error("cluster",
                                       "port %d would be used twice: choose --port and "
                                       "--services_port further apart",
                                       ports[i]);
    }
    return 0;
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

/* The port of the master that leads: the only one without --ha; with --ha the
 * one whose /state says it is elected. 0 when none does. */
static int
leader_port(const struct layout *l)
{
    int ports[CHA_MASTERS], i;

    if (!l->ha)
        return l->port;
    for (i = 0; i < CHA_MASTERS; i++)
        ports[i] = master_port(l, i + 1);
    i = cha_master_leader(scheme(l), ports, CHA_MASTERS);
    return i < 0 ? 0 : ports[i];
}

/* --master= of agents and agora-services: the master, or its group in ZooKeeper. */
static void
master_arg(const struct layout *l, char *buf, size_t len)
{
    char url[256];
    struct cha_zk z;

    if (!l->ha) {
        snprintf(buf, len, "--master=%s:%d", HOST, l->port);
        return;
    }
    cha_zk_ports(l->port, &z);
    cha_zk_url(&z, CHA_MASTER_PATH, url, sizeof(url));
    snprintf(buf, len, "--master=%s", url);
}

/* --zk= of a master or agora-services (path CHA_MASTER_PATH or CHA_SERVICES_PATH). */
static void
zk_arg(const struct layout *l, const char *path, char *buf, size_t len)
{
    char url[256];
    struct cha_zk z;

    cha_zk_ports(l->port, &z);
    cha_zk_url(&z, path, url, sizeof(url));
    snprintf(buf, len, "--zk=%s", url);
}

/* Starts ZooKeeper server `c` with `java`. Returns its pid or -1. */
static pid_t
start_zk(const struct layout *l, const struct component *c, const char *java)
{
    struct cha_cmd cmd;
    struct cha_zk z;

    cha_zk_ports(l->port, &z);
    if (cha_zk_config(c->work_dir, c->num, &z) != 0)
        return -1;
    cha_zk_cmd(java, c->work_dir, &cmd);
    return cproc_spawn(l->dir, &c->p, cmd.argv);
}

/* Starts component `c` (java: the java of a ZooKeeper server). Returns its pid or -1. */
static pid_t
start_component(const struct layout *l, const struct component *c, const char *java)
{
    char exe[PATH_MAX + 64], a[16][PATH_MAX + 128], res[512];
    char *argv[24];
    int n = 0;

    if (c->kind == K_ZK)
        return start_zk(l, c, java);
    snprintf(exe, sizeof(exe), "%s/%s", l->bin, c->p.prog);
    if (file_mkdirs(c->work_dir, 0755) != 0) {
        cli_error("cannot create %s: %s", c->work_dir, strerror(errno));
        return -1;
    }
    argv[n++] = exe;
    snprintf(a[0], sizeof(a[0]), "--work_dir=%s", c->work_dir);
    if (c->kind == K_MASTER) {
        snprintf(a[1], sizeof(a[1]), "--ip=%s", HOST);
        snprintf(a[2], sizeof(a[2]), "--port=%d", c->port);
        argv[n++] = a[1];
        argv[n++] = a[2];
        argv[n++] = a[0];
        if (l->ha) {
            zk_arg(l, CHA_MASTER_PATH, a[12], sizeof(a[12]));
            argv[n++] = a[12];
            argv[n++] = "--zk_session_timeout=" CHA_SESSION_TIMEOUT;
        }
    } else if (c->kind == K_AGENT) {
        agent_resources(l, c->num, res, sizeof(res));
        master_arg(l, a[1], sizeof(a[1]));
        snprintf(a[2], sizeof(a[2]), "--ip=%s", HOST);
        snprintf(a[3], sizeof(a[3]), "--port=%d", c->port);
        snprintf(a[4], sizeof(a[4]), "--hostname=%s", c->p.name);
        snprintf(a[5], sizeof(a[5]), "--resources=%s", res);
        snprintf(a[6], sizeof(a[6]), "--attributes=rack:r%d", c->num);
        for (int k = 1; k <= 3; k++)
            argv[n++] = a[k];
        argv[n++] = a[0];
        for (int k = 4; k <= 6; k++)
            argv[n++] = a[k];
    } else {
        master_arg(l, a[1], sizeof(a[1]));
        snprintf(a[2], sizeof(a[2]), "--ip=%s", HOST);
        snprintf(a[3], sizeof(a[3]), "--http_port=%d", c->port);
        for (int k = 1; k <= 3; k++)
            argv[n++] = a[k];
        argv[n++] = a[0];
        if (l->ha) {
            /* The leader names itself HOST:PORT in /v2/leader (cha_services_leading). */
            zk_arg(l, CHA_SERVICES_PATH, a[12], sizeof(a[12]));
            argv[n++] = a[12];
            argv[n++] = "--zk_session_timeout=" CHA_SESSION_TIMEOUT;
            argv[n++] = "--hostname=" HOST;
        }
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
    return cproc_spawn(l->dir, &c->p, argv);
}

/* Whether the component answers: a ZooKeeper server serves (`role`: its
 * mode), a daemon answers its health check (`role`, with --ha: whether it
 * leads). */
static bool
component_healthy(const struct layout *l, const struct component *c, char *role, size_t len)
{
    bool leads = false;
    int lp;

    role[0] = '\0';
    switch (c->kind) {
    case K_ZK:
        return cha_zk_mode(c->port, role, len) == 0;
    case K_MASTER:
        if (!http_ok(l, c->port, "/health", 200))
            return false;
        if (l->ha && cha_master_state(scheme(l), c->port, &leads, &lp) == 0)
            snprintf(role, len, "%s", leads ? "leading" : "standby");
        return true;
    case K_AGENT:
        return http_ok(l, c->port, "/health", 200);
    case K_SERVICES:
        if (!http_ok(l, c->port, "/ping", 200) && !http_ok(l, c->port, "/v2/apps", 200))
            return false;
        if (l->ha && cha_services_leading(scheme(l), c->port, &leads) == 0)
            snprintf(role, len, "%s", leads ? "leader" : "standby");
        return true;
    }
    return false;
}

/* Names of the agents the master on `port` reports active (a set of "agentI"
 * flags). Returns their number, or -1 when it does not answer. */
static int
active_agents(const struct layout *l, int port, bool active[MAX_AGENTS + 1])
{
    char url[128], *resp = NULL;
    json_t *o, *a;
    size_t i;
    int status = 0, count = 0;

    memset(active, 0, sizeof(bool) * (MAX_AGENTS + 1));
    if (port <= 0)
        return -1;
    snprintf(url, sizeof(url), "%s://%s:%d/slaves", scheme(l), HOST, port);
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
    int lead = leader_port(l);

    printf("\nAgora is running (%s%s%s):\n", l->dir, l->tls ? ", TLS only" : "",
           l->ha ? ", high availability" : "");
    for (int i = 0; i < ncomponents(l); i++) {
        struct component c;
        char role[32] = "";
        bool leads;

        component_at(l, i, &c);
        switch (c.kind) {
        case K_ZK:
            cha_zk_mode(c.port, role, sizeof(role));
            printf("  %-9s %s:%d   (ZooKeeper%s%s)\n", c.p.name, HOST, c.port, role[0] ? ", " : "",
                   role);
            break;
        case K_MASTER:
            printf("  %-9s %s://%s:%d   (%s%s)\n", c.p.name, sch, HOST, c.port,
                   !l->ha           ? ""
                   : c.port == lead ? "leading; "
                                    : "standby; ",
                   "web dashboard; agora agents | frameworks | tasks");
            break;
        case K_AGENT:
            printf("  %-9s %s://%s:%d\n", c.p.name, sch, HOST, c.port);
            break;
        case K_SERVICES:
            leads = false;
            if (l->ha)
                cha_services_leading(sch, c.port, &leads);
            printf("  %-9s %s://%s:%d   (%s%s)\n", c.p.name, sch, HOST, c.port,
                   !l->ha  ? ""
                   : leads ? "leader; "
                           : "standby; ",
                   "apps page; agora app deploy FILE.json");
            break;
        }
    }
    printf("  logs      %s/*.log\n", l->dir);
    if (l->tls)
        printf("  CA        %s/tls/ca.pem   (curl --cacert; import it in a browser)\n", l->dir);
    if (l->ha) {
        char m[256];
        master_arg(l, m, sizeof(m));
        printf("Point the CLI at it:\n  export AGORA_MASTER=%s", m + strlen("--master="));
        if (l->services)
            printf(" AGORA_SERVICES=%s:%d", HOST, l->services_port);
        printf("\n");
    } else if (l->tls || l->port != 5050 || (l->services && l->services_port != 8080)) {
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

/* Waits until component `c` (started as `pid`, 0 when it ran already) answers:
 * a master its /health, a ZooKeeper server `srvr` (with a quorum). Returns 0,
 * or prints why not (with the end of its log) and returns CLI_FAIL. */
static int
wait_serving(const struct layout *l, const struct component *c, pid_t pid)
{
    int64_t until = cli_now_ms() + opt_timeout_ms;
    char mode[32];

    for (;;) {
        if (c->kind == K_ZK ? cha_zk_mode(c->port, mode, sizeof(mode)) == 0
                            : http_ok(l, c->port, "/health", 200))
            return 0;
        if (pid > 0 && waitpid(pid, NULL, WNOHANG) == pid) {
            cproc_log_tail(l->dir, &c->p, 15);
            return cli_error("%s exited at start (see %s/%s.log)", c->p.name, l->dir, c->p.name);
        }
        if (cli_now_ms() > until || cli_interrupted)
            return cli_error("%s did not %s within %llds (see %s/%s.log)", c->p.name,
                             c->kind == K_ZK ? "serve (no quorum?)" : "answer",
                             (long long)(opt_timeout_ms / 1000), l->dir, c->p.name);
        cli_sleep_ms(100);
    }
}

/* Whether agora-services is ready: each instance answers, and with --ha one leads. */
static bool
services_ready(const struct layout *l)
{
    int leaders = 0;

    for (int i = 1; i <= nof(l, K_SERVICES); i++) {
        int port = l->services_port + i - 1;
        bool leads = false;
        if (!http_ok(l, port, "/ping", 200) && !http_ok(l, port, "/v2/apps", 200))
            return false;
        if (l->ha && cha_services_leading(scheme(l), port, &leads) == 0 && leads)
            leaders++;
    }
    return !l->ha || !l->services || leaders == 1;
}

static int
cluster_up(struct layout *l)
{
    pid_t started[MAX_COMPONENTS] = {0};
    bool found, any_running = false, active[MAX_AGENTS + 1];
    char java[PATH_MAX] = "";
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
            if (cproc_running(old.dir, &c.p) > 0)
                any_running = true;
        }
    }
    l->port = opt_port >= 0 ? (int)opt_port : found ? old.port : 5050;
    l->agents = opt_agents >= 0 ? (int)opt_agents : found ? old.agents : 2;
    l->services_port = opt_services_port >= 0 ? (int)opt_services_port
                       : found                ? old.services_port
                                              : 8080;
    l->tls = opt_tls || (found && old.tls);
    l->ha = opt_ha || (found && old.ha);
    if (l->agents < 1 || l->agents > MAX_AGENTS)
        return cli_usage_error("cluster", "--agents must be between 1 and %d", MAX_AGENTS);
    if (l->tls && l->ha)
        return cli_usage_error("cluster", "--ha with --tls is not supported yet");
    if ((rc = check_ports(l)) != 0)
        return rc;
    if (any_running &&
        (l->port != old.port || l->agents != old.agents || l->services_port != old.services_port ||
         l->tls != old.tls || l->ha != old.ha))
        return cli_error("the cluster in %s runs with --port=%d --agents=%d --services_port=%d%s; "
                         "run 'agora cluster down' first to change them",
                         l->dir, old.port, old.agents, old.services_port,
                         old.tls  ? " --tls"
                         : old.ha ? " --ha"
                                  : "");
    if (l->ha && (rc = cha_java(java, sizeof(java))) != 0)
        return rc;
    if (l->tls && ((rc = tls_certificates(l)) != 0 || (rc = tls_client(l)) != 0))
        return rc;
    if ((rc = save_layout(l)) != 0)
        return rc;

    n = ncomponents(l);
    cli_catch_signals();
    for (int i = 0; i < n; i++) {
        struct component c;
        pid_t pid;

        component_at(l, i, &c);
        /* The ensemble serves before the masters start, the masters answer
         * before the agents do (agents retry, but a master that cannot start
         * is best reported now). */
        if (i > 0 && c.num == 1 && (c.kind == K_MASTER || c.kind == K_AGENT)) {
            for (int k = 0; k < i; k++) {
                struct component prev;
                component_at(l, k, &prev);
                if ((rc = wait_serving(l, &prev, started[k])) != 0)
                    return rc;
            }
        }
        if ((pid = cproc_running(l->dir, &c.p)) > 0) {
            printf("%-9s running (pid %d)\n", c.p.name, (int)pid);
            continue;
        }
        if (cproc_port_in_use(HOST, c.port))
            return cli_error("port %d (for %s) is in use by another program; choose other ports "
                             "with --port / --services_port",
                             c.port, c.p.name);
        if ((pid = start_component(l, &c, java)) < 0)
            return CLI_FAIL;
        started[i] = pid;
        printf("%-9s started (pid %d, log %s/%s.log)\n", c.p.name, (int)pid, l->dir, c.p.name);
    }

    /* Wait for a leading master with every agent active and the services to answer. */
    deadline = cli_now_ms() + opt_timeout_ms;
    for (;;) {
        int lead = leader_port(l);
        int count = active_agents(l, lead, active);
        bool services_ok = services_ready(l);

        for (int i = 0; i < n; i++) {
            struct component c;
            component_at(l, i, &c);
            if (started[i] > 0 && waitpid(started[i], NULL, WNOHANG) == started[i]) {
                cproc_log_tail(l->dir, &c.p, 15);
                return cli_error("%s exited at start (see %s/%s.log)", c.p.name, l->dir, c.p.name);
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
                "the cluster did not come up within %llds: %s%d of %d agents active%s%s%s"
                " (logs in %s)",
                (long long)(opt_timeout_ms / 1000), lead ? "" : "no master leads, ",
                count < 0 ? 0 : count, l->agents, m ? ", missing:" : "", missing,
                services_ok ? "" : "; agora-services does not answer (or none leads)", l->dir);
        }
        cli_sleep_ms(100);
    }
    print_addresses(l);
    return CLI_OK;
}

/* ---- down ---- */

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
        snprintf(url, sizeof(url), "%s://%s:%d/monitor/statistics", scheme(l), HOST,
                 agent_port(l, i));
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
     * agents still run (they clean up after them), the agents, the masters,
     * the ZooKeeper servers. */
    for (int i = ncomponents(l) - 1; i >= 0; i--) {
        struct component c;
        char pidf[PATH_MAX + 64];
        pid_t pid;

        component_at(l, i, &c);
        if (c.kind != K_SERVICES && !tasks_stopped && !opt_keep_tasks) {
            cproc_stop_tasks(l->dir, opt_grace_ms);
            wait_agents_idle(l);
            tasks_stopped = true;
        }
        cproc_pid_path(l->dir, &c.p, pidf, sizeof(pidf));
        if ((pid = cproc_running(l->dir, &c.p)) <= 0) {
            unlink(pidf);
            continue;
        }
        if (cproc_stop(pid, &c.p, SIGTERM, opt_grace_ms)) {
            printf("%-9s stopped (pid %d)\n", c.p.name, (int)pid);
        } else if (cproc_stop(pid, &c.p, SIGKILL, 5000)) {
            printf("%-9s killed (pid %d did not stop within %llds)\n", c.p.name, (int)pid,
                   (long long)(opt_grace_ms / 1000));
        } else {
            cli_error("%s (pid %d) does not stop", c.p.name, (int)pid);
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
    int rc, count, lead;

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
    lead = leader_port(l);
    count = active_agents(l, lead, active);
    /* The services are shown when built or running. */
    l->services = true;
    {
        struct component c;
        component_at(l, ncomponents(l) - 1, &c);
        l->services = file_executable(l->bin, "agora-services") || cproc_running(l->dir, &c.p) > 0;
    }
    if (l->ha)
        cli_table_init(&t, (const char *const[]){"COMPONENT", "PID", "STATE", "HEALTH", "ROLE",
                                                 "ADDRESS", "LOG", NULL});
    else
        cli_table_init(&t, (const char *const[]){"COMPONENT", "PID", "STATE", "HEALTH", "ADDRESS",
                                                 "LOG", NULL});
    for (int i = 0; i < ncomponents(l); i++) {
        struct component c;
        char pidtxt[16], addr[64], log[PATH_MAX + 64], role[32] = "";
        const char *health;
        json_t *o;
        pid_t pid;
        bool ok;

        component_at(l, i, &c);
        pid = cproc_running(l->dir, &c.p);
        snprintf(pidtxt, sizeof(pidtxt), "%d", (int)pid);
        if (c.kind == K_ZK)
            snprintf(addr, sizeof(addr), "%s:%d", HOST, c.port);
        else
            snprintf(addr, sizeof(addr), "%s://%s:%d", scheme(l), HOST, c.port);
        cproc_log_path(l->dir, &c.p, log, sizeof(log));
        ok = pid > 0 && component_healthy(l, &c, role, sizeof(role));
        if (pid <= 0) {
            health = "-";
        } else if (!ok) {
            health = "unhealthy";
        } else if (c.kind == K_AGENT && (count < 0 || !active[c.num])) {
            health = "not registered";
            ok = false;
        } else {
            health = "healthy";
        }
        if (!ok)
            all_ok = false;
        o = json_pack("{s:s, s:i, s:b, s:b, s:s, s:s, s:s}", "name", c.p.name, "pid", (int)pid,
                      "running", pid > 0, "healthy", ok, "health", health, "address", addr, "log",
                      log);
        if (l->ha) {
            json_object_set_new(o, "role", role[0] ? json_string(role) : json_null());
            cli_table_add(&t, (const char *const[]){c.p.name, pid > 0 ? pidtxt : "-",
                                                    pid > 0 ? "running" : "stopped", health, role,
                                                    addr, log});
        } else {
            cli_table_add(&t, (const char *const[]){c.p.name, pid > 0 ? pidtxt : "-",
                                                    pid > 0 ? "running" : "stopped", health, addr,
                                                    log});
        }
        json_array_append_new(arr, o);
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
