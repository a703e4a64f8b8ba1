/* ZooKeeper sessions and groups handed to a libuv loop (zk.h). */
#include "zk.h"

#include "error.h"
#include "evq.h"
#include "log.h"
#include "xalloc.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define THREADED /* the synchronous calls of libzookeeper-mt */
#include <zookeeper/zookeeper.h>

/* What the ZooKeeper threads hand to the loop. */
enum zk_ev_kind { EV_SESSION, EV_CHILDREN_CHANGED, EV_CHILDREN, EV_DATA, EV_CREATED };

struct zk_ev {
    struct zk *z;
    enum zk_ev_kind kind;
    uint64_t gen; /* the session generation it belongs to */
    int rc;       /* ZooKeeper's return code (completions) */
    int state;    /* EV_SESSION: ZooKeeper's state */
    char **names; /* EV_CHILDREN */
    size_t nnames;
    char node[64]; /* EV_DATA: which member's data */
    char *data;    /* EV_DATA (NUL-terminated), EV_CREATED (the path) */
    size_t len;
};

struct zk {
    uv_loop_t *loop;
    struct evq q;
    zhandle_t *zh;
    uint64_t gen; /* bumped by every new session: older events are stale */
    char *hosts;
    int timeout_ms;
    zk_state_fn state_fn;
    void *state_arg;
    bool closing;
    /* the group */
    char *path;
    void *data; /* our member's data, or NULL when only following */
    size_t len;
    zk_leader_fn leader_fn;
    void *leader_arg;
    bool created;    /* our member znode exists (this session) */
    bool reading;    /* a children read is in flight */
    bool read_again; /* the children changed while it was */
    int64_t seq;
    char member[600];
    struct zk_ctx *sctx;  /* the session watcher's context (this session's generation) */
    char leader_node[64]; /* the leader announced last ("": none yet / none) */
    bool announced;
};

static void
zk_log(const char *message)
{
    /* libzookeeper's own lines (warnings and errors only: see zk_open). */
    log_warn("zookeeper: %s", message);
}

int
zk_error(int zrc)
{
    switch (zrc) {
    case ZOK:
        return 0;
    case ZNONODE:
        return -AG_ENOENT;
    case ZNODEEXISTS:
        return -AG_EEXIST;
    case ZBADARGUMENTS:
        return -AG_EINVAL;
    case ZOPERATIONTIMEOUT:
        return -AG_ETIMEDOUT;
    case ZCONNECTIONLOSS:
    case ZSESSIONEXPIRED:
    case ZCLOSING:
    case ZINVALIDSTATE:
        return -AG_ECLOSED;
    case ZNOAUTH:
    case ZAUTHFAILED:
        return -AG_EPERM;
    case ZSYSTEMERROR:
        return errno ? ag_from_errno(errno) : -AG_EIO;
    default:
        return -AG_EIO;
    }
}

/* ---- the handoff from ZooKeeper's threads ---- */

static void on_ev(void *arg, int status);

static void
ev_free(struct zk_ev *e)
{
    for (size_t i = 0; i < e->nnames; i++)
        free(e->names[i]);
    free(e->names);
    free(e->data);
    free(e);
}

static void
ev_post(struct zk_ev *e)
{
    if (evq_post(&e->z->q, on_ev, e) != 0)
        ev_free(e);
}

static struct zk_ev *
ev_new(struct zk *z, enum zk_ev_kind kind, uint64_t gen)
{
    struct zk_ev *e = calloc(1, sizeof(*e));

    if (e != NULL) {
        e->z = z;
        e->kind = kind;
        e->gen = gen;
    }
    return e;
}

/* Completions and watchers get a context that names the session generation
 * they were issued under; it is a small heap object they free. */
struct zk_ctx {
    struct zk *z;
    uint64_t gen;
    char node[64];
};

static struct zk_ctx *
ctx_new(struct zk *z, const char *node)
{
    struct zk_ctx *c = xcalloc(1, sizeof(*c));

    c->z = z;
    c->gen = z->gen;
    if (node != NULL)
        snprintf(c->node, sizeof(c->node), "%s", node);
    return c;
}

static void
session_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    struct zk_ctx *c = ctx;
    struct zk_ev *e;

    (void)zh;
    (void)path;
    if (type != ZOO_SESSION_EVENT || (e = ev_new(c->z, EV_SESSION, c->gen)) == NULL)
        return;
    e->state = state;
    ev_post(e);
}

static void
children_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    struct zk *z = ctx;
    struct zk_ev *e;

    (void)zh;
    (void)state;
    (void)path;
    /* A watch fires once; session events reach it too (it stays set across a
     * reconnection, and is dropped with its session). */
    if (type == ZOO_SESSION_EVENT)
        return;
    if ((e = ev_new(z, EV_CHILDREN_CHANGED, __atomic_load_n(&z->gen, __ATOMIC_ACQUIRE))) != NULL)
        ev_post(e);
}

static void
children_done(int rc, const struct String_vector *sv, const void *data)
{
    struct zk_ctx *c = (struct zk_ctx *)data;
    struct zk_ev *e = ev_new(c->z, EV_CHILDREN, c->gen);

    if (e != NULL) {
        e->rc = rc;
        if (rc == ZOK && sv != NULL && sv->count > 0) {
            e->names = calloc((size_t)sv->count, sizeof(char *));
            for (int i = 0; e->names != NULL && i < sv->count; i++)
                if ((e->names[e->nnames] = strdup(sv->data[i])) != NULL)
                    e->nnames++;
        }
        ev_post(e);
    }
    free(c);
}

static void
data_done(int rc, const char *value, int len, const struct Stat *stat, const void *data)
{
    struct zk_ctx *c = (struct zk_ctx *)data;
    struct zk_ev *e = ev_new(c->z, EV_DATA, c->gen);

    (void)stat;
    if (e != NULL) {
        e->rc = rc;
        memcpy(e->node, c->node, sizeof(e->node));
        if (rc == ZOK && (e->data = malloc(len > 0 ? (size_t)len + 1 : 1)) != NULL) {
            if (len > 0)
                memcpy(e->data, value, (size_t)len);
            e->len = len > 0 ? (size_t)len : 0;
            e->data[e->len] = '\0';
        }
        ev_post(e);
    }
    free(c);
}

static void
created(int rc, const char *value, const void *data)
{
    struct zk_ctx *c = (struct zk_ctx *)data;
    struct zk_ev *e = ev_new(c->z, EV_CREATED, c->gen);

    if (e != NULL) {
        e->rc = rc;
        if (rc == ZOK && value != NULL)
            e->data = strdup(value);
        ev_post(e);
    }
    free(c);
}

static void
parent_created(int rc, const char *value, const void *data)
{
    (void)value;
    if (rc != ZOK && rc != ZNODEEXISTS)
        log_warn("zookeeper: cannot create %s: %s", ((struct zk_ctx *)data)->node, zerror(rc));
    free((void *)data);
}

/* ---- the group, on the loop ---- */

/* The sequence number of a member's name, or -1 when it is not a member. */
static int64_t
member_seq(const char *name)
{
    size_t n = strlen(ZK_MEMBER_PREFIX);
    char *end;
    long long v;

    if (strncmp(name, ZK_MEMBER_PREFIX, n) != 0 || name[n] == '\0')
        return -1;
    errno = 0;
    v = strtoll(name + n, &end, 10);
    if (*end != '\0' || errno != 0 || v < 0)
        return -1;
    return v;
}

static void
read_children(struct zk *z)
{
    struct zk_ctx *c;
    int rc;

    if (z->zh == NULL || z->path == NULL)
        return;
    if (z->reading) {
        z->read_again = true;
        return;
    }
    c = ctx_new(z, NULL);
    z->reading = true;
    z->read_again = false;
    rc = zoo_awget_children(z->zh, z->path, children_watcher, z, children_done, c);
    if (rc != ZOK) {
        log_warn("zookeeper: cannot read the members of %s: %s", z->path, zerror(rc));
        z->reading = false;
        free(c);
    }
}

static void
announce(struct zk *z, const struct zk_leader *leader)
{
    const char *node = leader ? leader->node : "";

    if (z->announced && strcmp(node, z->leader_node) == 0)
        return;
    z->announced = true;
    snprintf(z->leader_node, sizeof(z->leader_node), "%s", node);
    if (z->leader_fn != NULL)
        z->leader_fn(z->leader_arg, leader, leader != NULL && z->created && leader->seq == z->seq);
}

static void
on_children(struct zk *z, struct zk_ev *e)
{
    const char *best = NULL;
    int64_t best_seq = -1;
    char path[700];
    int rc;

    z->reading = false;
    if (e->rc != ZOK) {
        if (e->rc != ZCLOSING)
            log_warn("zookeeper: cannot read the members of %s: %s", z->path, zerror(e->rc));
        return; /* read again on the next (re)connection */
    }
    for (size_t i = 0; i < e->nnames; i++) {
        int64_t s = member_seq(e->names[i]);

        if (s >= 0 && (best_seq < 0 || s < best_seq)) {
            best_seq = s;
            best = e->names[i];
        }
    }
    if (z->read_again) {
        read_children(z);
        return;
    }
    if (best == NULL) {
        announce(z, NULL);
        return;
    }
    if (z->announced && strcmp(best, z->leader_node) == 0)
        return;
    snprintf(path, sizeof(path), "%s/%s", strcmp(z->path, "/") == 0 ? "" : z->path, best);
    rc = zoo_aget(z->zh, path, 0, data_done, ctx_new(z, best));
    if (rc != ZOK)
        log_warn("zookeeper: cannot read %s: %s", path, zerror(rc));
}

static void
on_data(struct zk *z, struct zk_ev *e)
{
    struct zk_leader l = {0};

    if (e->rc == ZNONODE) { /* it left before we read it */
        read_children(z);
        return;
    }
    if (e->rc != ZOK || e->data == NULL) {
        if (e->rc != ZCLOSING)
            log_warn("zookeeper: cannot read the leader %s: %s", e->node, zerror(e->rc));
        return;
    }
    l.seq = member_seq(e->node);
    l.epoch = (uint64_t)l.seq + 1;
    snprintf(l.node, sizeof(l.node), "%s", e->node);
    l.data = e->data;
    l.len = e->len;
    announce(z, &l);
}

static void
on_created(struct zk *z, struct zk_ev *e)
{
    const char *name;

    if (e->rc != ZOK || e->data == NULL) {
        log_error("zookeeper: cannot join the group %s: %s", z->path, zerror(e->rc));
        return;
    }
    snprintf(z->member, sizeof(z->member), "%s", e->data);
    name = strrchr(z->member, '/');
    z->seq = member_seq(name ? name + 1 : z->member);
    z->created = true;
    log_info("joined the group %s as %s (sequence %lld)", z->path, z->member, (long long)z->seq);
    z->announced = false; /* tell again: the leader may now be us */
    read_children(z);
}

/* Creates the group's znode and its parents (ignoring those that exist), then
 * our member: ZooKeeper runs a session's requests in order. */
static void
join(struct zk *z)
{
    char prefix[600];
    int rc;

    for (const char *p = strchr(z->path + 1, '/');; p = strchr(p + 1, '/')) {
        size_t n = p ? (size_t)(p - z->path) : strlen(z->path);

        if (n <= 1)
            break;
        snprintf(prefix, sizeof(prefix), "%.*s", (int)n, z->path);
        if (zoo_acreate(z->zh, prefix, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, parent_created,
                        ctx_new(z, prefix)) != ZOK)
            break;
        if (p == NULL)
            break;
    }
    if (z->data == NULL)
        return;
    snprintf(prefix, sizeof(prefix), "%s/%s", strcmp(z->path, "/") == 0 ? "" : z->path,
             ZK_MEMBER_PREFIX);
    rc = zoo_acreate(z->zh, prefix, z->data, (int)z->len, &ZOO_OPEN_ACL_UNSAFE,
                     ZOO_EPHEMERAL | ZOO_SEQUENCE, created, ctx_new(z, NULL));
    if (rc != ZOK)
        log_error("zookeeper: cannot join the group %s: %s", z->path, zerror(rc));
}

static int session_start(struct zk *z);
static void zk_free(struct evq *q);

static void
on_session(struct zk *z, int state)
{
    if (state == ZOO_CONNECTED_STATE) {
        if (z->state_fn != NULL)
            z->state_fn(z->state_arg, ZK_CONNECTED);
        if (z->closing)
            return;
        if (z->path != NULL && !z->created && z->seq == -1 && z->data != NULL) {
            z->seq = -2; /* joining: once per session */
            join(z);
        }
        read_children(z);
    } else if (state == ZOO_CONNECTING_STATE || state == ZOO_ASSOCIATING_STATE) {
        if (z->state_fn != NULL)
            z->state_fn(z->state_arg, ZK_DISCONNECTED);
    } else if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE) {
        log_warn("zookeeper: session %s", state == ZOO_EXPIRED_SESSION_STATE
                                              ? "expired"
                                              : "refused (authentication failed)");
        if (z->state_fn != NULL)
            z->state_fn(z->state_arg, ZK_EXPIRED);
        if (z->closing)
            return;
        /* A new session; a member is not created again (zk.h). */
        zookeeper_close(z->zh);
        z->zh = NULL;
        z->created = false;
        z->reading = false;
        z->announced = false;
        z->leader_node[0] = '\0';
        free(z->data);
        z->data = NULL;
        if (session_start(z) != 0)
            log_error("zookeeper: cannot open a new session to %s", z->hosts);
    }
}

static void
on_ev(void *arg, int status)
{
    struct zk_ev *e = arg;
    struct zk *z = e->z;

    if (status != 0 || z->closing || e->gen != z->gen) {
        ev_free(e);
        return;
    }
    switch (e->kind) {
    case EV_SESSION:
        on_session(z, e->state);
        break;
    case EV_CHILDREN_CHANGED:
        read_children(z);
        break;
    case EV_CHILDREN:
        on_children(z, e);
        break;
    case EV_DATA:
        on_data(z, e);
        break;
    case EV_CREATED:
        on_created(z, e);
        break;
    }
    ev_free(e);
}

static int
session_start(struct zk *z)
{
    __atomic_store_n(&z->gen, z->gen + 1, __ATOMIC_RELEASE);
    free(z->sctx);
    z->sctx = ctx_new(z, NULL);
    z->zh = zookeeper_init2(z->hosts, session_watcher, z->timeout_ms, NULL, z->sctx, 0, zk_log);
    if (z->zh == NULL)
        return ag_from_errno(errno ? errno : EINVAL);
    return 0;
}

int
zk_open(struct zk **out, uv_loop_t *loop, const char *hosts, int64_t session_timeout_ms,
        zk_state_fn fn, void *arg)
{
    struct zk *z;
    int rc;

    *out = NULL;
    z = xcalloc(1, sizeof(*z));
    z->loop = loop;
    z->hosts = xstrdup(hosts);
    z->timeout_ms = (int)session_timeout_ms;
    z->state_fn = fn;
    z->state_arg = arg;
    z->seq = -1;
    zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
    if ((rc = evq_init(&z->q, loop)) != 0) {
        free(z->hosts);
        free(z);
        return rc;
    }
    if ((rc = session_start(z)) != 0) {
        log_error("zookeeper: cannot start a session to %s: %s", hosts, ag_strerror(rc));
        z->closing = true;
        evq_close(&z->q, zk_free);
        return rc;
    }
    *out = z;
    return 0;
}

int
zk_group(struct zk *z, const char *path, const void *data, size_t len, zk_leader_fn fn, void *arg)
{
    if (z->path != NULL || path == NULL || path[0] != '/')
        return -AG_EINVAL;
    z->path = xstrdup(path);
    if (data != NULL) {
        z->data = xmalloc(len ? len : 1);
        memcpy(z->data, data, len);
        z->len = len;
    }
    z->leader_fn = fn;
    z->leader_arg = arg;
    if (z->zh != NULL && zoo_state(z->zh) == ZOO_CONNECTED_STATE)
        on_session(z, ZOO_CONNECTED_STATE);
    return 0;
}

int64_t
zk_member_seq(const struct zk *z)
{
    return z->created ? z->seq : -1;
}

const char *
zk_member_path(const struct zk *z)
{
    return z->created ? z->member : "";
}

zhandle_t *
zk_handle(struct zk *z)
{
    return z->zh;
}

static void
zk_free(struct evq *q)
{
    struct zk *z = (struct zk *)((char *)q - offsetof(struct zk, q));

    free(z->sctx);
    free(z->hosts);
    free(z->path);
    free(z->data);
    free(z);
}

void
zk_close(struct zk *z)
{
    if (z == NULL || z->closing)
        return;
    z->closing = true;
    if (z->zh != NULL)
        zookeeper_close(z->zh); /* completions of pending calls run now, with ZCLOSING */
    z->zh = NULL;
    evq_close(&z->q, zk_free);
}

/* ---- outside a loop: one read of the leader ---- */

struct once {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int state;
};

static void
once_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    struct once *o = ctx;

    (void)zh;
    (void)path;
    if (type != ZOO_SESSION_EVENT)
        return;
    pthread_mutex_lock(&o->lock);
    o->state = state;
    pthread_cond_signal(&o->cond);
    pthread_mutex_unlock(&o->lock);
}

int
zk_leader_once(const char *url, int64_t timeout_ms, struct zk_leader *out, char *err, size_t errlen)
{
    struct once o = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    struct String_vector sv = {0};
    struct zk_url u;
    struct timespec until;
    const char *best = NULL;
    int64_t best_seq = -1;
    zhandle_t *zh;
    char path[700], buf[65536];
    int rc, zrc, len = (int)sizeof(buf) - 1;

    memset(out, 0, sizeof(*out));
    if ((rc = zk_parse_url(url, &u, err, errlen)) != 0)
        return rc;
    zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
    zh = zookeeper_init2(u.hosts, once_watcher, (int)(timeout_ms < 2000 ? 2000 : timeout_ms), NULL,
                         &o, 0, zk_log);
    if (zh == NULL) {
        snprintf(err, errlen, "cannot start a ZooKeeper session to %s: %s", u.hosts,
                 strerror(errno));
        return -AG_EINVAL;
    }
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&o.lock);
    while (o.state != ZOO_CONNECTED_STATE &&
           pthread_cond_timedwait(&o.cond, &o.lock, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&o.lock);
    if (zoo_state(zh) != ZOO_CONNECTED_STATE) {
        snprintf(err, errlen, "cannot reach ZooKeeper at %s within %lldms", u.hosts,
                 (long long)timeout_ms);
        rc = -AG_ETIMEDOUT;
        goto out;
    }
    if ((zrc = zoo_get_children(zh, u.path, 0, &sv)) != ZOK) {
        snprintf(err, errlen, "cannot read %s in ZooKeeper at %s: %s", u.path, u.hosts,
                 zerror(zrc));
        rc = zrc == ZNONODE ? -AG_ENOENT : zk_error(zrc);
        goto out;
    }
    for (int i = 0; i < sv.count; i++) {
        int64_t s = member_seq(sv.data[i]);

        if (s >= 0 && (best_seq < 0 || s < best_seq)) {
            best_seq = s;
            best = sv.data[i];
        }
    }
    if (best == NULL) {
        snprintf(err, errlen, "no leading master in %s at %s", u.path, u.hosts);
        rc = -AG_ENOENT;
        goto out;
    }
    snprintf(path, sizeof(path), "%s/%s", strcmp(u.path, "/") == 0 ? "" : u.path, best);
    if ((zrc = zoo_get(zh, path, 0, buf, &len, NULL)) != ZOK || len < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, zerror(zrc));
        rc = zk_error(zrc != ZOK ? zrc : ZNONODE);
        goto out;
    }
    buf[len] = '\0';
    out->seq = best_seq;
    out->epoch = (uint64_t)best_seq + 1;
    snprintf(out->node, sizeof(out->node), "%s", best);
    out->data = xstrdup(buf);
    out->len = (size_t)len;
    rc = 0;
out:
    deallocate_String_vector(&sv);
    zookeeper_close(zh);
    return rc;
}

/* ---- URLs and leader info ---- */

int
zk_parse_url(const char *url, struct zk_url *out, char *err, size_t errlen)
{
    const char *hosts, *slash;
    size_t n;

    memset(out, 0, sizeof(*out));
    if (url == NULL || strncmp(url, "zk://", 5) != 0) {
        snprintf(err, errlen, "'%s' is not a zk:// URL (zk://HOST:PORT[,HOST:PORT...]/PATH)",
                 url ? url : "");
        return -AG_EINVAL;
    }
    hosts = url + 5;
    slash = strchr(hosts, '/');
    n = slash ? (size_t)(slash - hosts) : strlen(hosts);
    if (n == 0 || n >= sizeof(out->hosts) || slash == NULL || slash[1] == '\0' ||
        strchr(hosts, '@') != NULL) {
        snprintf(err, errlen,
                 "bad ZooKeeper URL '%s': expected zk://HOST:PORT[,HOST:PORT...]/PATH%s", url,
                 strchr(hosts, '@') ? " (credentials in the URL are not supported)" : "");
        return -AG_EINVAL;
    }
    memcpy(out->hosts, hosts, n);
    out->hosts[n] = '\0';
    if (strlen(slash) >= sizeof(out->path) || strstr(slash, "//") != NULL) {
        snprintf(err, errlen, "bad ZooKeeper path in '%s'", url);
        return -AG_EINVAL;
    }
    snprintf(out->path, sizeof(out->path), "%s", slash);
    n = strlen(out->path);
    if (n > 1 && out->path[n - 1] == '/')
        out->path[n - 1] = '\0';
    for (const char *h = out->hosts; *h; h++)
        if (!(*h == ',' || *h == ':' || *h == '.' || *h == '-' || *h == '[' || *h == ']' ||
              (*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z'))) {
            snprintf(err, errlen, "bad ZooKeeper host list '%s' in '%s'", out->hosts, url);
            return -AG_EINVAL;
        }
    return 0;
}

int
zk_leader_address(const struct zk_leader *leader, char *out, size_t outlen)
{
    json_t *root, *addr;
    const char *host = NULL;
    json_int_t port = 0;
    int rc = -AG_EINVAL;

    if (leader == NULL || leader->data == NULL ||
        (root = json_loadb(leader->data, leader->len, 0, NULL)) == NULL)
        return -AG_EINVAL;
    addr = json_object_get(root, "address");
    if (json_is_object(addr)) {
        host = json_string_value(json_object_get(addr, "ip"));
        if (host == NULL)
            host = json_string_value(json_object_get(addr, "hostname"));
        port = json_integer_value(json_object_get(addr, "port"));
    }
    if (host == NULL || port <= 0) {
        host = json_string_value(json_object_get(root, "hostname"));
        port = json_integer_value(json_object_get(root, "port"));
    }
    if (host != NULL && host[0] != '\0' && port > 0 && port <= 65535 &&
        (size_t)snprintf(out, outlen, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, (int)port) <
            outlen)
        rc = 0;
    json_decref(root);
    return rc;
}
