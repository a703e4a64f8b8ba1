/*
 * The master's registry, ZooKeeper backend (see registry.h): the same records
 * as the SQLite backend, one znode each, replicated by the ZooKeeper ensemble
 * so that the next leader reads what the last one wrote.
 *
 * Layout under ROOT (all persistent, open ACL):
 *
 *   ROOT/agents/<id>      JSON object: id, hostname, http_address, resources,
 *                         attributes, registered_time, draining (boolean),
 *                         principal
 *   ROOT/frameworks/<id>  one line of JSON (id, registered_time, principal,
 *                         info_len), a '\n', then the info_len bytes of the
 *                         row's `info` as they are (binary, zero bytes too)
 *   ROOT/meta/<key>       the value's bytes (text, no terminating zero)
 *
 * A node's name is its id or key with every byte other than [A-Za-z0-9_:.-]
 * written %XX (so a role's '/' in "quota/eng/web" is %2F), and a leading '.'
 * written %2E ("." and ".." are not znode names).
 *
 * Limits: a record's data is at most ZK_RECORD_MAX (1,000,000) bytes, under
 * ZooKeeper's 1 MB node limit (jute.maxbuffer, which bounds a whole request);
 * a larger one is refused with -AG_EINVAL and nothing is stored.
 *
 * Writes: each is one zoo_multi transaction. With a fence, its first op is a
 * check that the fence znode exists (version -1), so a deposed leader, whose
 * ephemeral znode is gone, stores nothing. A put is a set-data op, or, when
 * the node does not exist yet, a create op. The synchronous API returns once
 * the ensemble's quorum has committed the transaction: durable on return.
 *
 * Errors: ZooKeeper codes are translated once, in zk_error(). A missing fence
 * and a lost or expired session are -REGISTRY_ENOTLEADER: after a connection
 * loss a write's fate is unknown and the session may be expiring, so the
 * master must stop acting as the leader either way.
 *
 * Reads: load and load_meta first sync the server the session is connected
 * to with the leader of the ensemble (zoo_async), so they see every write
 * committed before. A record that cannot be decoded is skipped with a
 * warning, like the master's own unreadable rows.
 *
 * Threads: called on the master's loop thread only; the calls block. The
 * session's own threads only run the sync's completion.
 */
#include "registry.h"

#include "error.h"
#include "log.h"

#include <ctype.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* The synchronous API of zookeeper_mt is declared for THREADED builds only. */
#define THREADED 1
#include <zookeeper/zookeeper.h>

#define ZK_RECORD_MAX 1000000
#define ZK_PATH_MAX 4096

struct registry_zk {
    struct registry base; /* first: a struct registry * is one of these */
    zhandle_t *zh;        /* the caller's */
    char *root;
    char *fence; /* NULL: writes are not fenced */
};

static const struct registry_ops zk_ops;

/* ---- errors and names ---- */

/* A ZooKeeper error as a negative AG_E* code. */
static int
zk_error(int zrc)
{
    switch (zrc) {
    case ZOK:
        return 0;
    case ZCONNECTIONLOSS:
    case ZSESSIONEXPIRED:
    case ZSESSIONMOVED:
    case ZINVALIDSTATE:
        return -REGISTRY_ENOTLEADER;
    case ZOPERATIONTIMEOUT:
        return -AG_ETIMEDOUT;
    case ZNONODE:
        return -AG_ENOENT;
    case ZNODEEXISTS:
        return -AG_EEXIST;
    case ZNOAUTH:
    case ZAUTHFAILED:
        return -AG_EPERM;
    case ZBADARGUMENTS:
    case ZINVALIDACL:
        return -AG_EINVAL;
    case ZCLOSING:
        return -AG_ECLOSED;
    case ZTHROTTLEDOP:
    case ZNEWCONFIGNOQUORUM:
    case ZRECONFIGINPROGRESS:
        return -AG_EAGAIN;
    default:
        return -AG_EIO;
    }
}

/* Logs a failed operation `what` on `path` once, and returns its code. */
static int
zk_fail(int zrc, const char *what, const char *path)
{
    int rc = zk_error(zrc);

    if (rc == -REGISTRY_ENOTLEADER)
        log_error("registry: cannot %s %s: not the leader any more (ZooKeeper: %s)", what, path,
                  zerror(zrc));
    else
        log_error("registry: cannot %s %s: ZooKeeper: %s", what, path, zerror(zrc));
    return rc;
}

static bool
name_byte_plain(unsigned char c, size_t pos)
{
    if (c == '.')
        return pos > 0;
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == ':' || c == '-';
}

/* Writes ROOT/<dir>/<name encoded> into `out`. 0, or -AG_EINVAL (logged) for
 * an empty name or a path longer than ZK_PATH_MAX. */
static int
record_path(const struct registry_zk *r, const char *dir, const char *name, char *out)
{
    size_t n = (size_t)snprintf(out, ZK_PATH_MAX, "%s/%s/", r->root, dir);

    for (size_t i = 0; name[i] && n + 4 < ZK_PATH_MAX; i++) {
        unsigned char c = (unsigned char)name[i];
        if (name_byte_plain(c, i))
            out[n++] = (char)c;
        else
            n += (size_t)snprintf(out + n, 4, "%%%02X", c);
    }
    out[n] = '\0';
    if (name[0] == '\0' || n + 4 >= ZK_PATH_MAX) {
        log_error("registry: refused a %s record: its name is empty or too long", dir);
        return -AG_EINVAL;
    }
    return 0;
}

/* Decodes a node name into `out` (of `len` bytes). 0, or -AG_EPROTO for a
 * name this backend did not write. */
static int
name_decode(const char *node, char *out, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; node[i]; i++) {
        int c = (unsigned char)node[i];
        if (c == '%') {
            char hex[3] = {node[i + 1], node[i + 1] ? node[i + 2] : '\0', '\0'};
            if (!isxdigit((unsigned char)hex[0]) || !isxdigit((unsigned char)hex[1]))
                return -AG_EPROTO;
            c = (int)strtol(hex, NULL, 16);
            i += 2;
        }
        if (c == 0 || n + 1 >= len)
            return -AG_EPROTO;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return n > 0 ? 0 : -AG_EPROTO;
}

/* ---- open and close ---- */

/* Creates the persistent znode `path` unless it exists. */
static int
ensure_node(zhandle_t *zh, const char *path)
{
    int zrc = zoo_create(zh, path, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0);

    if (zrc != ZOK && zrc != ZNODEEXISTS)
        return zk_fail(zrc, "create", path);
    return 0;
}

int
registry_zk_open(struct registry **out, zhandle_t *zh, const char *root, const char *fence)
{
    static const char *const dirs[] = {"agents", "frameworks", "meta"};
    char path[ZK_PATH_MAX];
    struct registry_zk *r;
    size_t len;
    int rc;

    *out = NULL;
    len = root ? strlen(root) : 0;
    if (zh == NULL || len < 2 || root[0] != '/' || root[len - 1] == '/' || len > 1024 ||
        (fence != NULL && fence[0] != '/')) {
        log_error("registry: bad ZooKeeper registry root %s or fence %s", root ? root : "(null)",
                  fence ? fence : "(none)");
        return -AG_EINVAL;
    }
    /* The root's ancestors, then the root and its directories. */
    for (size_t i = 1; i <= len; i++) {
        if (i < len && root[i] != '/')
            continue;
        snprintf(path, sizeof(path), "%.*s", (int)i, root);
        if ((rc = ensure_node(zh, path)) != 0)
            return rc;
    }
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
        if ((rc = ensure_node(zh, path)) != 0)
            return rc;
    }
    if ((r = calloc(1, sizeof(*r))) == NULL)
        return -AG_ENOMEM;
    r->base.ops = &zk_ops;
    r->zh = zh;
    r->root = strdup(root);
    r->fence = fence ? strdup(fence) : NULL;
    if (r->root == NULL || (fence && r->fence == NULL)) {
        free(r->root);
        free(r->fence);
        free(r);
        return -AG_ENOMEM;
    }
    *out = &r->base;
    return 0;
}

static void
zk_close(struct registry *base)
{
    struct registry_zk *r = (struct registry_zk *)base;

    free(r->root);
    free(r->fence);
    free(r);
}

/* ---- writes ---- */

/* Runs `op` as one transaction behind the fence check. Returns ZOK or the
 * ZooKeeper code of the op that failed (or of the session, when none ran);
 * sets *fence_failed when it was the fence check. */
static int
zk_multi(struct registry_zk *r, const zoo_op_t *op, bool *fence_failed)
{
    zoo_op_t ops[2];
    zoo_op_result_t res[2];
    int n = 0, zrc;

    *fence_failed = false;
    if (r->fence)
        zoo_check_op_init(&ops[n++], r->fence, -1);
    ops[n++] = *op;
    memset(res, 0, sizeof(res));
    zrc = zoo_multi(r->zh, n, ops, res);
    if (zrc == ZOK)
        return ZOK;
    for (int i = 0; i < n; i++) {
        if (res[i].err != ZOK && res[i].err != ZRUNTIMEINCONSISTENCY) {
            *fence_failed = r->fence != NULL && i == 0;
            return res[i].err;
        }
    }
    return zrc;
}

/* The result of zk_multi as 0 or -AG_E* (logged); `absent_ok`: a missing
 * node is success (a delete of nothing). */
static int
zk_result(const struct registry_zk *r, int zrc, bool fence_failed, const char *what,
          const char *path, bool absent_ok)
{
    if (fence_failed) {
        log_error("registry: cannot %s %s: not the leader any more (fence %s: %s)", what, path,
                  r->fence, zerror(zrc));
        return -REGISTRY_ENOTLEADER;
    }
    if (zrc == ZOK || (absent_ok && zrc == ZNONODE))
        return 0;
    return zk_fail(zrc, what, path);
}

/* Refuses (logged) a record of `len` bytes over the limit. */
static int
check_size(const char *path, size_t len)
{
    if (len <= ZK_RECORD_MAX)
        return 0;
    log_error("registry: refused to store %s: %zu bytes, over the limit of %d", path, len,
              ZK_RECORD_MAX);
    return -AG_EINVAL;
}

/* Stores `len` bytes at `path`: replaces the node's data, or creates it.
 * 0 or -AG_E* (logged); nothing is stored after a failure. */
static int
zk_put(struct registry_zk *r, const char *path, const char *data, size_t len)
{
    zoo_op_t op;
    bool fence_failed;
    int zrc;

    if ((zrc = check_size(path, len)) != 0)
        return zrc;
    /* An update first; a new record when there is no node. The leader is the
     * only writer, so nothing creates the node in between. */
    zoo_set_op_init(&op, path, data, (int)len, -1, NULL);
    zrc = zk_multi(r, &op, &fence_failed);
    if (zrc == ZNONODE && !fence_failed) {
        zoo_create_op_init(&op, path, data, (int)len, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL,
                           0);
        zrc = zk_multi(r, &op, &fence_failed);
    }
    return zk_result(r, zrc, fence_failed, "store", path, false);
}

/* Deletes the record `name` of `dir`; 0 when there is none. */
static int
zk_remove(struct registry_zk *r, const char *dir, const char *name)
{
    char path[ZK_PATH_MAX];
    zoo_op_t op;
    bool fence_failed;
    int zrc, rc;

    if ((rc = record_path(r, dir, name, path)) != 0)
        return rc;
    zoo_delete_op_init(&op, path, -1);
    zrc = zk_multi(r, &op, &fence_failed);
    return zk_result(r, zrc, fence_failed, "delete", path, true);
}

static int
zk_put_agent(struct registry *base, const struct registry_agent_row *a)
{
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:b, s:s}", "id", a->id, "hostname", a->hostname,
                  "http_address", a->http_address, "resources", a->resources, "attributes",
                  a->attributes, "registered_time", a->registered_time, "draining",
                  a->draining != 0, "principal", a->principal ? a->principal : "");
    char path[ZK_PATH_MAX], *text;
    int rc;

    if (j == NULL) {
        log_error("registry: cannot store agent %s: a field is missing or not UTF-8", a->id);
        return -AG_EINVAL;
    }
    text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (text == NULL)
        abort(); /* jansson fails only when out of memory */
    rc = record_path((struct registry_zk *)base, "agents", a->id, path);
    if (rc == 0)
        rc = zk_put((struct registry_zk *)base, path, text, strlen(text));
    free(text);
    return rc;
}

static int
zk_remove_agent(struct registry *base, const char *id)
{
    return zk_remove((struct registry_zk *)base, "agents", id);
}

static int
zk_put_framework(struct registry *base, const struct registry_framework_row *fw)
{
    struct registry_zk *r = (struct registry_zk *)base;
    json_t *j = json_pack("{s:s, s:f, s:s, s:I}", "id", fw->id, "registered_time",
                          fw->registered_time, "principal", fw->principal ? fw->principal : "",
                          "info_len", (json_int_t)fw->info_len);
    char path[ZK_PATH_MAX], *head, *data;
    size_t hlen;
    int rc;

    if (j == NULL) {
        log_error("registry: cannot store framework %s: its id or principal is not UTF-8", fw->id);
        return -AG_EINVAL;
    }
    head = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (head == NULL)
        abort();
    hlen = strlen(head);
    if ((rc = record_path(r, "frameworks", fw->id, path)) != 0 ||
        (rc = check_size(path, hlen + 1 + fw->info_len)) != 0) {
        free(head);
        return rc;
    }
    if ((data = malloc(hlen + 1 + fw->info_len)) == NULL)
        abort();
    memcpy(data, head, hlen);
    data[hlen] = '\n';
    if (fw->info_len)
        memcpy(data + hlen + 1, fw->info, fw->info_len);
    free(head);
    rc = zk_put(r, path, data, hlen + 1 + fw->info_len);
    free(data);
    return rc;
}

static int
zk_remove_framework(struct registry *base, const char *id)
{
    return zk_remove((struct registry_zk *)base, "frameworks", id);
}

static int
zk_set_meta(struct registry *base, const char *key, const char *value)
{
    struct registry_zk *r = (struct registry_zk *)base;
    char path[ZK_PATH_MAX];
    int rc;

    if ((rc = record_path(r, "meta", key, path)) != 0)
        return rc;
    return zk_put(r, path, value, strlen(value));
}

static int
zk_remove_meta(struct registry *base, const char *key)
{
    return zk_remove((struct registry_zk *)base, "meta", key);
}

/* ---- reads ---- */

struct zk_sync {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int zrc;
};

/* On one of the session's threads. */
static void
sync_done(int zrc, const char *value, const void *data)
{
    struct zk_sync *s = (struct zk_sync *)data;

    (void)value;
    pthread_mutex_lock(&s->mu);
    s->zrc = zrc;
    s->done = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Brings the session's server up to date with the ensemble's leader, so that
 * the reads that follow see every committed write. The library completes
 * every request, with an error when the connection is lost or closed. */
static int
zk_sync(struct registry_zk *r)
{
    struct zk_sync s = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, ZOK};
    int zrc = zoo_async(r->zh, r->root, sync_done, &s);

    if (zrc == ZOK) {
        pthread_mutex_lock(&s.mu);
        while (!s.done)
            pthread_cond_wait(&s.cv, &s.mu);
        pthread_mutex_unlock(&s.mu);
        zrc = s.zrc;
    }
    pthread_cond_destroy(&s.cv);
    pthread_mutex_destroy(&s.mu);
    return zrc == ZOK ? 0 : zk_fail(zrc, "sync", r->root);
}

/* Called with a record's decoded name and data (`len` bytes, followed by a
 * '\0' not counted); returns the user callback's result, or sets *bad for a
 * record it cannot decode. */
typedef int (*record_fn)(void *ctx, const char *name, char *data, size_t len, bool *bad);

/* Reads the data of `path` into *buf (of *cap bytes, grown as needed).
 * Returns ZOK or the ZooKeeper error; *len is the data's length. */
static int
read_node(zhandle_t *zh, const char *path, char **buf, size_t *cap, size_t *len)
{
    struct Stat st;

    for (;;) {
        int blen = (int)*cap - 1, zrc = zoo_get(zh, path, 0, *buf, &blen, &st);
        if (zrc != ZOK)
            return zrc;
        if ((size_t)st.dataLength < *cap) {
            *len = blen < 0 ? 0 : (size_t)blen;
            (*buf)[*len] = '\0';
            return ZOK;
        }
        *cap = (size_t)st.dataLength + 1;
        free(*buf);
        if ((*buf = malloc(*cap)) == NULL)
            abort();
    }
}

/* Calls `fn` for every record of `dir`. A record deleted meanwhile, or whose
 * name this backend did not write, is skipped. */
static int
load_dir(struct registry_zk *r, const char *dir, record_fn fn, void *ctx)
{
    char path[ZK_PATH_MAX], name[ZK_PATH_MAX];
    struct String_vector kids = {0, NULL};
    size_t cap = (size_t)ZK_RECORD_MAX + 1, len;
    char *buf = malloc(cap);
    int zrc, rc = 0;

    if (buf == NULL)
        abort();
    snprintf(path, sizeof(path), "%s/%s", r->root, dir);
    if ((zrc = zoo_get_children(r->zh, path, 0, &kids)) != ZOK) {
        free(buf);
        return zk_fail(zrc, "list", path);
    }
    for (int i = 0; i < kids.count && rc == 0; i++) {
        snprintf(path, sizeof(path), "%s/%s/%s", r->root, dir, kids.data[i]);
        if (name_decode(kids.data[i], name, sizeof(name)) != 0) {
            log_warn("registry: skipped %s: not a name this registry writes", path);
            continue;
        }
        zrc = read_node(r->zh, path, &buf, &cap, &len);
        if (zrc == ZNONODE)
            continue;
        if (zrc != ZOK)
            rc = zk_fail(zrc, "read", path);
        else {
            bool bad = false;
            rc = fn(ctx, name, buf, len, &bad);
            if (bad)
                log_warn("registry: skipped %s: unreadable record", path);
        }
    }
    deallocate_String_vector(&kids);
    free(buf);
    return rc;
}

struct load_ctx {
    registry_agent_fn agent_fn;
    registry_framework_fn fw_fn;
    registry_meta_fn meta_fn;
    void *arg;
};

/* A string member of `j`, "" when missing. */
static const char *
jstr(const json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    return s ? s : "";
}

static int
load_agent(void *ctx, const char *name, char *data, size_t len, bool *bad)
{
    struct load_ctx *c = ctx;
    json_t *j = json_loadb(data, len, 0, NULL);
    struct registry_agent_row row;
    int rc;

    if (!json_is_object(j) || strcmp(jstr(j, "id"), name) != 0) {
        json_decref(j);
        *bad = true;
        return 0;
    }
    row = (struct registry_agent_row){
        .id = jstr(j, "id"),
        .hostname = jstr(j, "hostname"),
        .http_address = jstr(j, "http_address"),
        .resources = jstr(j, "resources"),
        .attributes = jstr(j, "attributes"),
        .registered_time = json_number_value(json_object_get(j, "registered_time")),
        .draining = json_is_true(json_object_get(j, "draining")),
        .principal = jstr(j, "principal"),
    };
    rc = c->agent_fn(c->arg, &row);
    json_decref(j);
    return rc;
}

static int
load_framework(void *ctx, const char *name, char *data, size_t len, bool *bad)
{
    struct load_ctx *c = ctx;
    char *nl = memchr(data, '\n', len);
    struct registry_framework_row row;
    json_int_t info_len;
    json_t *j;
    int rc;

    if (nl == NULL) {
        *bad = true;
        return 0;
    }
    j = json_loadb(data, (size_t)(nl - data), 0, NULL);
    info_len = json_integer_value(json_object_get(j, "info_len"));
    if (!json_is_object(j) || strcmp(jstr(j, "id"), name) != 0 ||
        info_len != (json_int_t)(len - (size_t)(nl + 1 - data))) {
        json_decref(j);
        *bad = true;
        return 0;
    }
    row = (struct registry_framework_row){
        .id = jstr(j, "id"),
        .info = nl + 1,
        .info_len = (size_t)info_len,
        .registered_time = json_number_value(json_object_get(j, "registered_time")),
        .principal = jstr(j, "principal"),
    };
    rc = c->fw_fn(c->arg, &row);
    json_decref(j);
    return rc;
}

static int
load_meta(void *ctx, const char *name, char *data, size_t len, bool *bad)
{
    struct load_ctx *c = ctx;

    if (memchr(data, '\0', len) != NULL) {
        *bad = true;
        return 0;
    }
    return c->meta_fn(c->arg, name, data);
}

static int
zk_load(struct registry *base, registry_agent_fn agent_fn, registry_framework_fn fw_fn, void *arg)
{
    struct registry_zk *r = (struct registry_zk *)base;
    struct load_ctx c = {.agent_fn = agent_fn, .fw_fn = fw_fn, .arg = arg};
    int rc;

    if ((rc = zk_sync(r)) != 0 || (rc = load_dir(r, "agents", load_agent, &c)) != 0)
        return rc;
    return load_dir(r, "frameworks", load_framework, &c);
}

static int
zk_load_meta(struct registry *base, registry_meta_fn fn, void *arg)
{
    struct registry_zk *r = (struct registry_zk *)base;
    struct load_ctx c = {.meta_fn = fn, .arg = arg};
    int rc;

    if ((rc = zk_sync(r)) != 0)
        return rc;
    return load_dir(r, "meta", load_meta, &c);
}

static const struct registry_ops zk_ops = {
    .load = zk_load,
    .put_agent = zk_put_agent,
    .remove_agent = zk_remove_agent,
    .put_framework = zk_put_framework,
    .remove_framework = zk_remove_framework,
    .set_meta = zk_set_meta,
    .remove_meta = zk_remove_meta,
    .load_meta = zk_load_meta,
    .close = zk_close,
};
