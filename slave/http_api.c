#define _GNU_SOURCE
#include "http_api.h"

#include "agent_int.h"
#include "agent_launch.h"
#include "agent_usage.h"
#include "isolators/cgroups.h"
#include "clock.h"
#include "containerizer.h"
#include "error.h"
#include "flags.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "task_json.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- JSON shapes ---- */

/* The Mesos task JSON (task_json.h) and what only the agent knows. */
static json_t *
task_json(const struct agent *a, const struct agent_task *t)
{
    const struct msg_task_info *info = &t->st.info;
    json_t *o = task_json_new(info, t->st.status.state != MSG_TASK_STAGING ? &t->st.status : NULL,
                              t->st.status.state, info->framework_id, a->id);

    if (o == NULL)
        return NULL;
    json_object_set_new(o, "container_id", json_string(t->st.container_id));
    json_object_set_new(o, "directory", json_string(t->sandbox));
    json_object_set_new(o, "executor_pid", json_integer(t->st.pid));
    json_object_set_new(o, "pid", json_integer(t->task_pid));
    json_object_set_new(
        o, "unacknowledged_updates",
        json_integer((json_int_t)su_pending(&a->su, info->framework_id, info->task_id)));
    return o;
}

/* A command task runs in its own executor whose id is the task id (as in Mesos). */
static json_t *
executor_json(const struct agent *a, const struct agent_task *t)
{
    json_t *o = json_object(), *tasks = json_array(), *done = json_array();

    json_object_set_new(o, "id", json_string(t->st.info.task_id));
    json_object_set_new(o, "name", json_string(t->st.info.name));
    json_object_set_new(o, "source", json_string(t->st.info.task_id));
    json_object_set_new(o, "framework_id", json_string(t->st.info.framework_id));
    json_object_set_new(o, "container", json_string(t->st.container_id));
    json_object_set_new(o, "directory", json_string(t->sandbox));
    json_object_set_new(o, "resources", res_to_json(&t->st.info.resources));
    json_array_append_new(msg_task_state_terminal(t->st.status.state) ? done : tasks,
                          task_json(a, t));
    json_object_set_new(o, "tasks", tasks);
    json_object_set_new(o, "queued_tasks", json_array());
    json_object_set_new(o, "completed_tasks", done);
    return o;
}

static json_t *
strs_json(char **v, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(v[i]));
    return arr;
}

static const char *
conn_name(enum agent_conn c)
{
    switch (c) {
    case AGENT_DISCONNECTED:
        return "DISCONNECTED";
    case AGENT_CONNECTED:
        return "CONNECTED";
    case AGENT_AUTHENTICATING:
        return "AUTHENTICATING";
    case AGENT_REGISTERING:
        return "REGISTERING";
    case AGENT_REGISTERED:
        return "REGISTERED";
    }
    return "UNKNOWN";
}

static void
get_state(void *arg, struct http_req *req)
{
    struct agent *a = arg;
    json_t *o = json_object(), *fws = json_array();
    const char *key, *tkey;
    void *val, *tval;
    char buf[4096];

    json_object_set_new(o, "id", json_string(a->id));
    json_object_set_new(o, "hostname", json_string(a->hostname));
    json_object_set_new(o, "http_address", json_string(a->http_address));
    json_object_set_new(o, "version", json_string(AGORA_VERSION));
    json_object_set_new(o, "start_time", json_real(a->start_time));
    json_object_set_new(o, "registered_time", json_real(a->registered_time));
    json_object_set_new(o, "master_hostname", json_string(a->master.host));
    json_object_set_new(o, "master", json_string(a->master.stream_url));
    json_object_set_new(o, "connection", json_string(conn_name(a->conn)));
    json_object_set_new(o, "work_dir", json_string(a->paths.work_dir));
    json_object_set_new(o, "isolation", json_string(ctr_isolation(a->ctr)));
    json_object_set_new(o, "cgroup_layout", json_string(ctr_cgroup_layout(a->ctr)));
    json_object_set_new(o, "cgroups_root", json_string(a->cgroups_root));
    json_object_set_new(o, "resources", res_to_json(&a->resources));
    res_format(&a->resources, buf, sizeof(buf));
    json_object_set_new(o, "resources_text", json_string(buf));
    json_object_set_new(o, "attributes", attr_to_json(&a->attributes));
    if (a->cfg.flags != NULL)
        json_object_set_new(o, "flags", flags_to_json(a->cfg.flags));
    for (size_t it = 0; hmap_next(&a->frameworks, &it, &key, &val);) {
        const struct agent_framework *f = val;
        json_t *fo = json_object(), *ex = json_array(), *done = json_array();

        json_object_set_new(fo, "id", json_string(key));
        json_object_set_new(fo, "name", json_string(f->info.name));
        json_object_set_new(fo, "user", json_string(f->info.user));
        json_object_set_new(fo, "roles", strs_json(f->info.roles, f->info.nroles));
        json_object_set_new(fo, "principal", json_string(f->info.principal));
        json_object_set_new(fo, "checkpoint", json_boolean(f->info.checkpoint));
        json_object_set_new(fo, "hostname", json_string(f->info.hostname));
        for (size_t jt = 0; hmap_next(&a->tasks, &jt, &tkey, &tval);) {
            const struct agent_task *t = tval;
            if (strcmp(t->st.info.framework_id, key) == 0)
                json_array_append_new(t->live ? ex : done, executor_json(a, t));
        }
        json_object_set_new(fo, "executors", ex);
        json_object_set_new(fo, "completed_executors", done);
        json_array_append_new(fws, fo);
    }
    json_object_set_new(o, "frameworks", fws);
    json_object_set_new(o, "completed_frameworks", json_array());
    json_object_set_new(o, "unacknowledged_updates", json_integer((json_int_t)su_total(&a->su)));
    http_reply_json(req, 200, o);
}

static void
get_flags(void *arg, struct http_req *req)
{
    struct agent *a = arg;
    json_t *o;

    if (!http_req_authorized(req, a->cfg.acls, ACL_GET_ENDPOINTS, http_req_path(req)))
        return;
    o = json_object();
    json_object_set_new(o, "flags", a->cfg.flags ? flags_to_json(a->cfg.flags) : json_object());
    http_reply_json(req, 200, o);
}

static void
get_health(void *arg, struct http_req *req)
{
    (void)arg;
    http_reply_text(req, 200, "text/plain", "", 0);
}

static void
get_statistics(void *arg, struct http_req *req)
{
    struct agent *a = arg;
    json_t *arr = json_array();
    const char *key;
    void *val;

    for (size_t it = 0; hmap_next(&a->tasks, &it, &key, &val);) {
        const struct agent_task *t = val;
        struct cg_stats s;
        json_t *o, *st;
        bool cg;

        if (!t->live)
            continue;
        o = json_object();
        st = json_object();
        json_object_set_new(o, "executor_id", json_string(t->st.info.task_id));
        json_object_set_new(o, "executor_name", json_string(t->st.info.name));
        json_object_set_new(o, "framework_id", json_string(t->st.info.framework_id));
        json_object_set_new(o, "source", json_string(t->st.info.task_id));
        json_object_set_new(o, "container_id", json_string(t->st.container_id));
        json_object_set_new(o, "executor_pid", json_integer(t->st.pid));
        json_object_set_new(o, "task_pid", json_integer(t->task_pid));
        json_object_set_new(st, "timestamp", json_real(clock_wall()));
        if (usage_task(a, t, &s, &cg)) {
            json_object_set_new(st, "cpus_user_time_secs", json_real(s.cpu_user_s));
            json_object_set_new(st, "cpus_system_time_secs", json_real(s.cpu_system_s));
            json_object_set_new(st, "mem_rss_bytes", json_integer((json_int_t)s.mem_rss));
        }
        json_object_set_new(st, "cpus_limit", json_real(s.cpu_limit));
        json_object_set_new(st, "mem_limit_bytes", json_integer((json_int_t)s.mem_limit));
        if (cg) {
            json_object_set_new(st, "cpus_nr_periods", json_integer((json_int_t)s.cpu_periods));
            json_object_set_new(st, "cpus_nr_throttled",
                                json_integer((json_int_t)s.cpu_throttled_periods));
            json_object_set_new(st, "cpus_throttled_time_secs", json_real(s.cpu_throttled_s));
            json_object_set_new(st, "cpus_shares", json_integer((json_int_t)s.cpu_shares));
            if (s.cpu_weight != 0) /* cgroup v2 */
                json_object_set_new(st, "cpus_weight", json_integer((json_int_t)s.cpu_weight));
            json_object_set_new(st, "mem_anon_bytes", json_integer((json_int_t)s.mem_rss));
            json_object_set_new(st, "mem_cache_bytes", json_integer((json_int_t)s.mem_cache));
            json_object_set_new(st, "mem_file_bytes", json_integer((json_int_t)s.mem_cache));
            json_object_set_new(st, "mem_total_bytes", json_integer((json_int_t)s.mem_usage));
            json_object_set_new(st, "mem_peak_bytes", json_integer((json_int_t)s.mem_peak));
            json_object_set_new(st, "mem_oom_kills", json_integer((json_int_t)s.oom_kills));
            json_object_set_new(st, "processes", json_integer((json_int_t)s.pids));
            json_object_set_new(st, "processes_limit", json_integer((json_int_t)s.pids_max));
        }
        json_object_set_new(o, "statistics", st);
        json_array_append_new(arr, o);
    }
    http_reply_json(req, 200, arr);
}

static void
get_metrics_snapshot(void *arg, struct http_req *req)
{
    if (!http_req_authorized(req, ((struct agent *)arg)->cfg.acls, ACL_GET_ENDPOINTS,
                             http_req_path(req)))
        return;
    metrics_reply(((struct agent *)arg)->metrics, req, http_req_query(req, "format"), false);
}

static void
get_metrics(void *arg, struct http_req *req)
{
    if (!http_req_authorized(req, ((struct agent *)arg)->cfg.acls, ACL_GET_ENDPOINTS,
                             http_req_path(req)))
        return;
    metrics_reply(((struct agent *)arg)->metrics, req, http_req_query(req, "format"), true);
}

/* ---- /files ---- */

/*
 * The status for a failed sandbox lookup. A path outside the sandboxes gets
 * the 404 and the message a missing one gets (files_refuse), so /files does
 * not tell whether a host path exists.
 */
static int
files_status(int rv)
{
    switch (rv) {
    case -AG_EINVAL:
    case -AG_ERANGE:
        return 400;
    default:
        return 404;
    }
}

/* Parses an optional integer query parameter; false when present but malformed. */
static bool
query_int(struct http_req *req, const char *name, int64_t def, int64_t *out)
{
    const char *v = http_req_query(req, name);
    char *end;
    long long n;

    *out = def;
    if (v == NULL || *v == '\0')
        return true;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = n;
    return true;
}

/*
 * Makes buf[0..n) valid UTF-8 in place, byte for byte (every byte that does
 * not belong to a valid sequence becomes '?', so offsets stay file offsets).
 * Returns how many bytes to send: n, or less when the buffer ends inside a
 * sequence that the next read would complete (unless `at_eof`).
 */
static size_t
utf8_clean(char *buf, size_t n, bool at_eof)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c = (unsigned char)buf[i];
        size_t len, k;
        unsigned char lo = 0x80, hi = 0xBF;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            len = 2;
        else if (c >= 0xE0 && c <= 0xEF)
            len = 3;
        else if (c >= 0xF0 && c <= 0xF4)
            len = 4;
        else {
            buf[i++] = '?';
            continue;
        }
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
        else if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
        for (k = 1; k < len && i + k < n; k++) {
            unsigned char d = (unsigned char)buf[i + k];
            if (d < (k == 1 ? lo : 0x80) || d > (k == 1 ? hi : 0xBF))
                break;
        }
        if (k == len) {
            i += len;
        } else if (i + k == n && !at_eof) {
            return i; /* an incomplete sequence at the end: the next read gets it */
        } else {
            buf[i++] = '?';
        }
    }
    return n;
}

/*
 * The user whose sandbox holds `real` (a resolved path under the sandboxes),
 * the object of access_sandboxes (--acls): the task's user, else its
 * framework's, else the one it runs as by default (launch_default_user). NULL (absent) for the sandboxes' root and a framework's
 * directory (they hold several tasks' sandboxes) and for an unknown task.
 */
static const char *
sandbox_user(const struct agent *a, const char *real)
{
    size_t n = strlen(a->paths.sandboxes), len;
    const char *fid, *tid, *end;
    const struct agent_task *t;
    const struct agent_framework *f;
    char key[sizeof(t->key)];

    if (strncmp(real, a->paths.sandboxes, n) != 0 || real[n] != '/')
        return NULL;
    fid = real + n + 1;
    if ((tid = strchr(fid, '/')) == NULL || *++tid == '\0' || *tid == '/')
        return NULL;
    end = strchrnul(tid, '/');
    len = (size_t)(end - fid);
    if (len >= sizeof(key))
        return NULL;
    memcpy(key, fid, len);
    key[len] = '\0';
    if ((t = hmap_get(&a->tasks, key)) == NULL)
        return NULL;
    if (t->st.info.command.user != NULL && t->st.info.command.user[0] != '\0')
        return t->st.info.command.user;
    f = hmap_get(&a->frameworks, t->st.info.framework_id);
    return f != NULL && f->info.user != NULL && f->info.user[0] != '\0' ? f->info.user
                                                                        : launch_default_user(a);
}

/* access_sandboxes (--acls) for the opened `real`: false (and 403, `fd`
 * closed) when the caller may not read it. */
static bool
sandbox_authorized(const struct agent *a, struct http_req *req, const char *real, int fd)
{
    if (http_req_authorized(req, a->cfg.acls, ACL_ACCESS_SANDBOXES, sandbox_user(a, real)))
        return true;
    close(fd);
    return false;
}

/* Answers a failed lookup of `path` (what: "file" or "directory"). */
static void
files_refuse(struct http_req *req, const char *path, int rv, const char *what)
{
    if (rv == -AG_EPERM)
        log_info("http: refused /files of '%s': outside the sandboxes (answered 404)", path);
    http_reply_error(req, files_status(rv), "%s: no such %s in the sandboxes", path, what);
}

static void
get_files_read(void *arg, struct http_req *req)
{
    struct agent *a = arg;
    const char *path = http_req_query(req, "path");
    char real[PATH_MAX];
    int64_t offset, length;
    struct stat sb;
    json_t *o;
    char *buf;
    ssize_t got;
    size_t send;
    int fd, rv;

    if (path == NULL || *path == '\0') {
        http_reply_error(req, 400, "missing 'path' query parameter");
        return;
    }
    if (!query_int(req, "offset", 0, &offset) || !query_int(req, "length", -1, &length) ||
        offset < -1 || length < -1) {
        http_reply_error(req, 400, "'offset' and 'length' must be integers >= -1");
        return;
    }
    if ((rv = paths_open_sandbox_file(&a->paths, path, O_RDONLY, &fd, real, sizeof(real))) != 0) {
        files_refuse(req, path, rv, "file");
        return;
    }
    if (!sandbox_authorized(a, req, real, fd))
        return;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        http_reply_error(req, 400, "%s is not a regular file", path);
        return;
    }
    o = json_object();
    if (offset == -1) {
        close(fd);
        json_object_set_new(o, "data", json_string(""));
        json_object_set_new(o, "offset", json_integer((json_int_t)sb.st_size));
        http_reply_json(req, 200, o);
        return;
    }
    if (length < 0 || length > (int64_t)AHTTP_MAX_READ)
        length = AHTTP_MAX_READ;
    buf = malloc((size_t)length + 1);
    if (buf == NULL) {
        close(fd);
        json_decref(o);
        http_reply_error(req, 500, "out of memory");
        return;
    }
    got = length > 0 ? pread(fd, buf, (size_t)length, (off_t)offset) : 0;
    close(fd);
    if (got < 0) {
        free(buf);
        json_decref(o);
        http_reply_error(req, 500, "cannot read %s: %s", path, strerror(errno));
        return;
    }
    send = utf8_clean(buf, (size_t)got, offset + got >= (int64_t)sb.st_size);
    json_object_set_new(o, "data", json_stringn(buf, send));
    json_object_set_new(o, "offset", json_integer((json_int_t)offset));
    free(buf);
    http_reply_json(req, 200, o);
}

static void
mode_string(mode_t m, char out[11])
{
    static const char rwx[] = "rwxrwxrwx";

    out[0] = S_ISDIR(m)    ? 'd'
             : S_ISLNK(m)  ? 'l'
             : S_ISCHR(m)  ? 'c'
             : S_ISBLK(m)  ? 'b'
             : S_ISFIFO(m) ? 'p'
             : S_ISSOCK(m) ? 's'
                           : '-';
    for (int i = 0; i < 9; i++)
        out[1 + i] = (m & (1u << (8 - i))) ? rwx[i] : '-';
    out[10] = '\0';
}

/* The name of a file's owner (its group's with `group`), or the number when
 * it has no name. */
static json_t *
owner_json(const struct stat *sb, bool group)
{
    struct passwd pw, *pw_res = NULL;
    struct group gr, *gr_res = NULL;
    char buf[1024];

    if (group ? getgrgid_r(sb->st_gid, &gr, buf, sizeof(buf), &gr_res) == 0 && gr_res != NULL
              : getpwuid_r(sb->st_uid, &pw, buf, sizeof(buf), &pw_res) == 0 && pw_res != NULL)
        return json_string(group ? gr.gr_name : pw.pw_name);
    snprintf(buf, sizeof(buf), "%u", group ? (unsigned)sb->st_gid : (unsigned)sb->st_uid);
    return json_string(buf);
}

static void
get_files_browse(void *arg, struct http_req *req)
{
    struct agent *a = arg;
    const char *path = http_req_query(req, "path");
    char real[PATH_MAX], full[PATH_MAX + 256], mode[11];
    struct dirent *e;
    json_t *arr;
    DIR *d;
    int fd, rv;

    if (path == NULL || *path == '\0') {
        http_reply_error(req, 400, "missing 'path' query parameter");
        return;
    }
    rv = paths_open_sandbox_file(&a->paths, path, O_RDONLY | O_DIRECTORY, &fd, real, sizeof(real));
    if (rv == -AG_EINVAL) {
        http_reply_error(req, 400, "%s is not a directory", path);
        return;
    }
    if (rv != 0) {
        files_refuse(req, path, rv, "directory");
        return;
    }
    if (!sandbox_authorized(a, req, real, fd))
        return;
    if ((d = fdopendir(fd)) == NULL) {
        close(fd);
        http_reply_error(req, 500, "cannot list %s: %s", path, strerror(errno));
        return;
    }
    arr = json_array();
    while ((e = readdir(d)) != NULL) {
        struct stat sb;
        json_t *o;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        o = json_object();
        snprintf(full, sizeof(full), "%s/%s", real, e->d_name);
        mode_string(sb.st_mode, mode);
        json_object_set_new(o, "path", json_string(full));
        json_object_set_new(o, "size", json_integer((json_int_t)sb.st_size));
        json_object_set_new(o, "mode", json_string(mode));
        json_object_set_new(o, "mtime", json_integer((json_int_t)sb.st_mtime));
        json_object_set_new(o, "nlink", json_integer((json_int_t)sb.st_nlink));
        json_object_set_new(o, "uid", owner_json(&sb, false));
        json_object_set_new(o, "gid", owner_json(&sb, true));
        json_array_append_new(arr, o);
    }
    closedir(d);
    http_reply_json(req, 200, arr);
}


/*
 * The default of --cors_allowed_origins: the origins of the master's dashboard
 * as reached at --master (HOST:PORT, port 5050 when left out), http and
 * https; with a loopback master both "127.0.0.1" and "localhost".
 */
static void
cors_default(const char *master, char *out, size_t n)
{
    char host[256];
    const char *colon, *port = "5050";
    size_t len;
    int used;

    out[0] = '\0';
    if (master == NULL || *master == '\0' || strstr(master, "://") != NULL)
        return;
    colon = strrchr(master, ':');
    len = colon != NULL ? (size_t)(colon - master) : strlen(master);
    if (colon != NULL)
        port = colon + 1;
    if (len == 0 || len >= sizeof(host))
        return;
    memcpy(host, master, len);
    host[len] = '\0';
    used = snprintf(out, n, "http://%s:%s,https://%s:%s", host, port, host, port);
    if (used > 0 && (size_t)used < n &&
        (strcmp(host, "127.0.0.1") == 0 || strcmp(host, "localhost") == 0)) {
        const char *other = host[0] == 'l' ? "127.0.0.1" : "localhost";

        snprintf(out + used, n - (size_t)used, ",http://%s:%s,https://%s:%s", other, port, other,
                 port);
    }
}

int
ahttp_start(struct agent *a, char *err, size_t errlen)
{
    static const struct {
        const char *path;
        http_handler_fn fn;
    } routes[] = {
        {"/health", get_health},
        {"/flags", get_flags},
        {"/state", get_state},
        {"/state.json", get_state},
        {"/monitor/statistics", get_statistics},
        {"/monitor/statistics.json", get_statistics},
        {"/metrics/snapshot", get_metrics_snapshot},
        {"/metrics", get_metrics},
        {"/files/read", get_files_read},
        {"/files/read.json", get_files_read},
        {"/files/browse", get_files_browse},
        {"/files/browse.json", get_files_browse},
    };
    static const char *const open_paths[] = {"/health", NULL}; /* for load balancers */
    char cors[1200];
    const char *ip = a->cfg.ip && *a->cfg.ip ? a->cfg.ip : "0.0.0.0";
    nng_tls_config *tls = NULL;
    int rv;

    if (a->cfg.port < 0 || a->cfg.port > 65535) {
        snprintf(err, errlen, "bad --port %d: expected 0-65535", a->cfg.port);
        return -AG_EINVAL;
    }
    if (tls_serving(a->cfg.tls) && (rv = tls_server_config(&tls, a->cfg.tls, err, errlen)) != 0)
        return rv;
    rv = http_server_open_tls(&a->http, a->loop, ip, (uint16_t)a->cfg.port, 0, tls);
    if (tls != NULL)
        nng_tls_config_free(tls);
    if (rv != 0) {
        snprintf(err, errlen, "cannot serve HTTP on %s:%d: %s", ip, a->cfg.port,
                 rv == -AG_EIO ? "address in use or not available" : ag_strerror(rv));
        return rv;
    }
    if (a->cfg.http_auth != NULL &&
        (rv = http_server_authenticate(a->http, a->cfg.http_auth, open_paths, err, errlen)) != 0) {
        http_server_close(a->http);
        a->http = NULL;
        return rv;
    }
    if (a->cfg.http_guard != NULL &&
        (rv = http_server_guard(a->http, a->cfg.http_guard, NULL, NULL)) != 0) {
        snprintf(err, errlen,
                 "bad --http_request_timeout, --http_idle_timeout or "
                 "--http_max_connections");
        http_server_close(a->http);
        a->http = NULL;
        return rv;
    }
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if ((rv = http_route(a->http, "GET", routes[i].path, routes[i].fn, a, 0)) != 0) {
            snprintf(err, errlen, "cannot add route %s: %s", routes[i].path, ag_strerror(rv));
            http_server_close(a->http);
            a->http = NULL;
            return rv;
        }
    }
    /* The master's web UI (another origin) reads /state and sandbox files here. */
    cors_default(a->cfg.master, cors, sizeof(cors));
    if ((rv = http_server_allow_origin(
             a->http, a->cfg.cors_origins != NULL ? a->cfg.cors_origins : cors)) != 0) {
        snprintf(err, errlen, "out of memory");
        http_server_close(a->http);
        a->http = NULL;
        return rv;
    }
    return 0;
}
