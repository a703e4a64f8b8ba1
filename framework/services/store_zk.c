/*
 * agora-services' state in ZooKeeper (store.h, store_zk_open): the store of
 * instances in high availability (--zk), replicated by the ensemble.
 *
 * Layout under ROOT (PATH/state of --zk), one znode per record, each holding
 * JSON (the definitions in it as JSON values, not escaped text); names are
 * the record's key percent-encoded (all but A-Za-z0-9._-):
 *
 *   ROOT/meta/KEY                 the value itself ("framework_id")
 *   ROOT/apps/ID                  {"id", "json", "last_failure"}
 *   ROOT/versions/ID/VERSION      {"app_id", "version", "json"}
 *   ROOT/deployments/ID           {"id", "app_id", "json"}
 *   ROOT/tasks/APP_ID/ID          a task record's fields (store_task)
 *
 * Versions and tasks are grouped by app (ROOT/versions/ID and
 * ROOT/tasks/APP_ID hold no data), so that no znode has more children than
 * one listing can carry (a reply is bounded by jute.maxbuffer too): a group
 * is created in the multi that writes its first record and deleted with the
 * app (the tasks' group once it is empty).
 *
 * The whole state is read once at open and kept in memory (reads never reach
 * ZooKeeper). Writes change the memory copy at once and wait in the batch of
 * the open transaction, coalesced per znode; store_commit sends the batch as
 * one zoo_multi that the quorum has applied when it returns. Every multi
 * starts with a check that the member znode given at open (the leader's own,
 * zk_member_path) exists: a leader whose session ended, or that left the
 * group, can no longer write. A batch over STORE_ZK_MULTI_MAX bytes is sent
 * as several multis (each fenced), records before deletions, apps and
 * versions before deployments before tasks: a leader that dies between two
 * of them leaves a prefix of the batch, nothing that depends on which was
 * sent yet (the daemon sends effects after the commit). After a failed
 * commit the store refuses every later write (the memory copy may be ahead
 * of ZooKeeper): the daemon restarts from what ZooKeeper holds.
 */
#include "store_int.h"

#include "error.h"
#include "log.h"
#include "text.h"
#include "xalloc.h"
#include "zk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define THREADED /* the synchronous calls of libzookeeper-mt */
#include <zookeeper/zookeeper.h>

/* Bytes of one record (ZooKeeper refuses a znode over ~1 MB) and of one multi
 * (a request over jute.maxbuffer, 1 MB by default, is refused too). */
#define STORE_ZK_RECORD_MAX 1000000
#define STORE_ZK_MULTI_MAX 1000000

static const char *const dirs[] = {"meta", "apps", "versions", "deployments", "tasks"};

struct store_zk {
    struct store base; /* first: the ops table */
    struct zk *z;
    char root[512];
    char fence[600];
    json_t *meta;     /* key -> value */
    json_t *apps;     /* id -> {"json", "last_failure"} */
    json_t *versions; /* app id -> {version -> json text} */
    json_t *deps;     /* id -> {"app_id", "json"} */
    json_t *tasks;    /* id -> record */
    json_t *exists;   /* znode name (relative) -> true: in ZooKeeper at the last commit */
    json_t *pending;  /* znode name (relative) -> data text, or null: delete */
    bool txn;
    bool failed; /* a commit failed: no more writes */
};

#define ZS(st) ((struct store_zk *)(st))

static const struct store_ops zk_ops;

/* ---- names and the batch ---- */

static void
encode(const char *in, char *out, size_t outlen)
{
    struct txt_buf w = {out, outlen, 0};

    txt_put_pct(&w, in, "._-");
    txt_finish(&w);
}

/* "DIR/ENC(a)", or "DIR/ENC(a)/ENC(b)" (the record b in a's group). */
static void
node_name(char *out, size_t outlen, const char *dir, const char *a, const char *b)
{
    char ea[1024], eb[256] = "";

    encode(a, ea, sizeof(ea));
    if (b != NULL)
        encode(b, eb, sizeof(eb));
    snprintf(out, outlen, "%s/%s%s%s", dir, ea, b ? "/" : "", eb);
}

/* Whether `name` is a record in a group ("DIR/GROUP/RECORD"); its group's
 * name ("DIR/GROUP") into `group` then. */
static bool
group_of(const char *name, char *group, size_t len)
{
    const char *first = strchr(name, '/'), *last = strrchr(name, '/');

    if (first == NULL || first == last)
        return false;
    snprintf(group, len, "%.*s", (int)(last - name), name);
    return true;
}

/* The fields of a record that hold JSON text (definitions, failures): in a
 * znode they are JSON values, not strings, so that they take no escaping. */
static const char *const json_fields[] = {"json", "last_failure"};

/* A record as a znode holds it: a copy with the JSON text fields parsed. */
static json_t *
to_node(json_t *rec)
{
    json_t *node = json_copy(rec);

    for (size_t i = 0; i < sizeof(json_fields) / sizeof(json_fields[0]); i++) {
        const char *text = json_string_value(json_object_get(node, json_fields[i]));
        json_t *v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;

        if (v != NULL)
            json_object_set_new(node, json_fields[i], v);
    }
    return node;
}

/* The other way (in place), on load: the JSON values as compact text again,
 * as the daemon wrote it. */
static void
from_node(json_t *node)
{
    for (size_t i = 0; i < sizeof(json_fields) / sizeof(json_fields[0]); i++) {
        json_t *v = json_object_get(node, json_fields[i]);
        char *text;

        if (v == NULL || json_is_string(v) || json_is_null(v))
            continue;
        if ((text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) != NULL)
            json_object_set_new(node, json_fields[i], json_string(text));
        free(text);
    }
}

/* Queues writing `data` (stolen JSON, dumped here; a JSON string is written
 * as its text; a record's JSON text fields as JSON, to_node) to the znode
 * `name`. */
static int
queue_put(struct store_zk *zs, const char *name, json_t *data)
{
    json_t *node = json_is_object(data) ? to_node(data) : json_incref(data);
    char *text =
        json_is_string(node) ? xstrdup(json_string_value(node)) : json_dumps(node, JSON_COMPACT);
    size_t len = text ? strlen(text) : 0;
    char group[1200];

    json_decref(data);
    json_decref(node);
    if (text == NULL)
        return -AG_ENOMEM;
    if (len > STORE_ZK_RECORD_MAX) {
        log_error("store: the record %s is %zu bytes, over the %d bytes a ZooKeeper node may "
                  "hold: not stored",
                  name, len, STORE_ZK_RECORD_MAX);
        free(text);
        return -AG_ERANGE;
    }
    json_object_set_new(zs->pending, name, json_string(text));
    free(text);
    if (group_of(name, group, sizeof(group)) && json_is_null(json_object_get(zs->pending, group)))
        json_object_del(zs->pending, group); /* the group is needed again */
    zs->txn = true;
    return 0;
}

static void
queue_del(struct store_zk *zs, const char *name)
{
    json_object_set_new(zs->pending, name, json_null());
    zs->txn = true;
}

static int
writable(struct store_zk *zs)
{
    return zs->failed ? -AG_ECLOSED : 0;
}

/* ---- transactions ---- */

static int
zs_begin(struct store *st)
{
    ZS(st)->txn = true;
    return writable(ZS(st));
}

static bool
zs_in_txn(const struct store *st)
{
    return ZS(st)->txn;
}

/* The order of the batch's operations: records (by directory, in `dirs`'s
 * order; a group before its records) before deletions (the other way round;
 * a group after its records). */
static int
op_rank(const char *name, bool del)
{
    int d = 0, n = (int)(sizeof(dirs) / sizeof(dirs[0]));
    char group[1200];
    bool in_group = group_of(name, group, sizeof(group));

    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        if (strncmp(name, dirs[i], strlen(dirs[i])) == 0 && name[strlen(dirs[i])] == '/')
            d = (int)i;
    return del ? 4 * n + 2 * (n - d) + !in_group : 2 * d + in_group;
}

/* Whether the group `name` ("DIR/GROUP") keeps a record after the batch:
 * one in ZooKeeper not deleted by the batch, or one the batch writes. */
static bool
group_used(struct store_zk *zs, const char *name)
{
    size_t n = strlen(name);
    const char *k;
    json_t *v;

    json_object_foreach(zs->exists, k, v)
    {
        if (strncmp(k, name, n) == 0 && k[n] == '/' &&
            !json_is_null(json_object_get(zs->pending, k)))
            return true;
    }
    json_object_foreach(zs->pending, k, v)
    {
        if (strncmp(k, name, n) == 0 && k[n] == '/' && !json_is_null(v))
            return true;
    }
    return false;
}

struct zop {
    char name[1200];
    const char *data; /* NULL: delete */
    char path[1200];
    int rank;
};

static int
zop_cmp(const void *a, const void *b)
{
    const struct zop *x = a, *y = b;

    return x->rank != y->rank ? x->rank - y->rank : strcmp(x->name, y->name);
}

/* Sends ops[0..n) as one multi after the fence check. */
static int
send_multi(struct store_zk *zs, zhandle_t *zh, struct zop *ops, size_t n)
{
    zoo_op_t *v = xcalloc(n + 1, sizeof(*v));
    zoo_op_result_t *res = xcalloc(n + 1, sizeof(*res));
    struct Stat *stats = xcalloc(n + 1, sizeof(*stats));
    char(*created)[8] = xcalloc(n + 1, sizeof(*created));
    int zrc, rc = 0;

    zoo_check_op_init(&v[0], zs->fence, -1);
    for (size_t i = 0; i < n; i++) {
        bool exists = json_object_get(zs->exists, ops[i].name) != NULL;

        if (ops[i].data == NULL)
            zoo_delete_op_init(&v[i + 1], ops[i].path, -1);
        else if (exists)
            zoo_set_op_init(&v[i + 1], ops[i].path, ops[i].data, (int)strlen(ops[i].data), -1,
                            &stats[i + 1]);
        else
            zoo_create_op_init(&v[i + 1], ops[i].path, ops[i].data, (int)strlen(ops[i].data),
                               &ZOO_OPEN_ACL_UNSAFE, 0, created[i + 1], sizeof(created[i + 1]));
    }
    zrc = zoo_multi(zh, (int)n + 1, v, res);
    if (zrc != ZOK) {
        if (res[0].err == ZNONODE)
            log_error("store: not written: this instance's member znode %s is gone (it no "
                      "longer leads)",
                      zs->fence);
        else
            for (size_t i = 0; i <= n; i++)
                if (res[i].err != ZOK && res[i].err != ZRUNTIMEINCONSISTENCY) {
                    log_error("store: not written: %s: %s", i ? ops[i - 1].path : zs->fence,
                              zerror(res[i].err));
                    break;
                }
        log_error("store: the ZooKeeper commit of %zu records failed: %s", n, zerror(zrc));
        rc = res[0].err == ZNONODE ? -AG_EPERM : zk_error(zrc);
        if (rc == 0)
            rc = -AG_EIO;
    } else {
        for (size_t i = 0; i < n; i++) {
            if (ops[i].data == NULL)
                json_object_del(zs->exists, ops[i].name);
            else
                json_object_set_new(zs->exists, ops[i].name, json_true());
        }
    }
    free(created);
    free(stats);
    free(res);
    free(v);
    return rc;
}

static int
zs_commit(struct store *st)
{
    struct store_zk *zs = ZS(st);
    zhandle_t *zh = zk_handle(zs->z);
    size_t n = 0, first = 0, bytes = 0;
    struct zop *ops;
    const char *name;
    json_t *val, *groups;
    char group[1200];
    int rc = 0;

    if (!zs->txn)
        return 0;
    zs->txn = false;
    if (json_object_size(zs->pending) == 0)
        return writable(zs);
    if (zs->failed)
        return -AG_ECLOSED;
    /* A disconnected client would queue the request until it reconnects:
     * the daemon must not wait that long, nor act on it. */
    if (zh == NULL || zoo_state(zh) != ZOO_CONNECTED_STATE) {
        log_error("store: not connected to ZooKeeper: %zu records not written",
                  json_object_size(zs->pending));
        zs->failed = true;
        return -AG_ECLOSED;
    }
    /* Room for every pending write and the group each may need. */
    ops = xcalloc(2 * json_object_size(zs->pending), sizeof(*ops));
    groups = json_object();
    json_object_foreach(zs->pending, name, val)
    {
        const char *data = json_string_value(val);

        if (data == NULL && json_object_get(zs->exists, name) == NULL)
            continue; /* never written: nothing to delete */
        if (data == NULL && !group_of(name, group, sizeof(group)) && group_used(zs, name))
            continue; /* a group that still holds records */
        if (data != NULL && group_of(name, group, sizeof(group)) &&
            json_object_get(zs->exists, group) == NULL && json_object_get(groups, group) == NULL) {
            json_object_set_new(groups, group, json_true()); /* created first */
            snprintf(ops[n].name, sizeof(ops[n].name), "%s", group);
            ops[n].data = "";
            n++;
        }
        snprintf(ops[n].name, sizeof(ops[n].name), "%s", name);
        ops[n].data = data;
        n++;
    }
    json_decref(groups);
    for (size_t i = 0; i < n; i++) {
        ops[i].rank = op_rank(ops[i].name, ops[i].data == NULL);
        snprintf(ops[i].path, sizeof(ops[i].path), "%s/%s", zs->root, ops[i].name);
    }
    qsort(ops, n, sizeof(*ops), zop_cmp);
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t len = strlen(ops[i].path) + 32 + (ops[i].data ? strlen(ops[i].data) : 0);

        if (i > first && bytes + len > STORE_ZK_MULTI_MAX) {
            rc = send_multi(zs, zh, ops + first, i - first);
            first = i;
            bytes = 0;
        }
        bytes += len;
    }
    if (rc == 0 && first < n)
        rc = send_multi(zs, zh, ops + first, n - first);
    free(ops);
    json_object_clear(zs->pending);
    if (rc != 0)
        zs->failed = true;
    return rc;
}

/* ---- records ---- */

static int
zs_meta_put(struct store *st, const char *key, const char *value)
{
    char name[1200];
    int rc;

    if ((rc = writable(ZS(st))) != 0)
        return rc;
    node_name(name, sizeof(name), "meta", key, NULL);
    if ((rc = queue_put(ZS(st), name, json_string(value))) == 0)
        json_object_set_new(ZS(st)->meta, key, json_string(value));
    return rc;
}

static char *
zs_meta_get(struct store *st, const char *key)
{
    const char *v = json_string_value(json_object_get(ZS(st)->meta, key));

    return v ? xstrdup(v) : NULL;
}

/* Writes the record `rec` (stolen; NULL: a bad argument) of `key` to the
 * znode DIR/KEY, or DIR/GROUP/KEY when `group` is not NULL, and to the memory
 * copy `cache`. */
static int
put_record(struct store_zk *zs, const char *dir, const char *group, const char *key, json_t *cache,
           json_t *rec)
{
    char name[1200];
    int rc;

    if ((rc = writable(zs)) != 0 || rec == NULL) {
        json_decref(rec);
        return rc != 0 ? rc : -AG_EINVAL;
    }
    node_name(name, sizeof(name), dir, group ? group : key, group ? key : NULL);
    if ((rc = queue_put(zs, name, json_incref(rec))) == 0)
        json_object_set(cache, key, rec);
    json_decref(rec);
    return rc;
}

/* Deletes the record of `key`: the znode DIR/KEY (DIR/GROUP/KEY) and its
 * memory copy in `cache`. */
static int
del_record(struct store_zk *zs, const char *dir, const char *group, const char *key, json_t *cache)
{
    char name[1200];
    int rc;

    if ((rc = writable(zs)) != 0)
        return rc;
    node_name(name, sizeof(name), dir, group ? group : key, group ? key : NULL);
    queue_del(zs, name);
    json_object_del(cache, key);
    return 0;
}

static int
zs_app_put(struct store *st, const char *id, const char *json, const char *last_failure)
{
    return put_record(
        ZS(st), "apps", NULL, id, ZS(st)->apps,
        json_pack("{s:s,s:s,s:s?}", "id", id, "json", json, "last_failure", last_failure));
}

static int
key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of `o`, sorted (a malloc'd array of borrowed strings). */
static const char **
sorted_keys(json_t *o, size_t *n)
{
    const char **keys = xcalloc(json_object_size(o) + 1, sizeof(*keys));
    const char *k;
    json_t *v;

    *n = 0;
    json_object_foreach(o, k, v)
    {
        (void)v;
        keys[(*n)++] = k;
    }
    qsort(keys, *n, sizeof(*keys), key_cmp);
    return keys;
}

/* The versions of an app object, newest first (as SQLite's ORDER BY version
 * DESC: the text sorts by time). */
static json_t *
newest_first(json_t *vs)
{
    size_t n;
    const char **keys = sorted_keys(vs, &n);
    json_t *a = json_array();

    for (size_t i = n; i-- > 0;)
        json_array_append_new(a, json_string(keys[i]));
    free(keys);
    return a;
}

static void
del_versions(struct store_zk *zs, const char *app_id, int keep)
{
    json_t *vs = json_object_get(zs->versions, app_id);
    json_t *list;
    size_t i;
    json_t *v;
    char name[1200];

    if (vs == NULL)
        return;
    list = newest_first(vs);
    json_array_foreach(list, i, v)
    {
        if ((int)i < keep)
            continue;
        node_name(name, sizeof(name), "versions", app_id, json_string_value(v));
        queue_del(zs, name);
        json_object_del(vs, json_string_value(v));
    }
    json_decref(list);
    if (json_object_size(vs) == 0)
        json_object_del(zs->versions, app_id);
}

static int
zs_app_del(struct store *st, const char *id)
{
    struct store_zk *zs = ZS(st);
    const char *dep_id;
    json_t *dep, *tmp;
    int rc;

    char name[1200], group[1200];
    size_t n;
    const char *k;
    json_t *v;

    if ((rc = del_record(zs, "apps", NULL, id, zs->apps)) != 0)
        return rc;
    del_versions(zs, id, 0);
    /* The groups of its versions and tasks, and whatever else ZooKeeper holds
     * in the first (records that did not load). The tasks' group goes only
     * once it is empty (zs_commit). */
    node_name(group, sizeof(group), "versions", id, NULL);
    n = strlen(group);
    json_object_foreach(zs->exists, k, v)
    {
        if (strncmp(k, group, n) == 0 && k[n] == '/')
            queue_del(zs, k);
    }
    queue_del(zs, group);
    node_name(name, sizeof(name), "tasks", id, NULL);
    queue_del(zs, name);
    json_object_foreach_safe(zs->deps, tmp, dep_id, dep)
    {
        const char *app = json_string_value(json_object_get(dep, "app_id"));

        if (app != NULL && strcmp(app, id) == 0)
            del_record(zs, "deployments", NULL, dep_id, zs->deps);
    }
    return 0;
}

static int
zs_app_load(struct store *st,
            void (*fn)(void *arg, const char *id, const char *json, const char *last_failure),
            void *arg)
{
    size_t n;
    const char **ids = sorted_keys(ZS(st)->apps, &n);

    for (size_t i = 0; i < n; i++) {
        json_t *rec = json_object_get(ZS(st)->apps, ids[i]);

        fn(arg, ids[i], json_string_value(json_object_get(rec, "json")),
           json_string_value(json_object_get(rec, "last_failure")));
    }
    free(ids);
    return 0;
}

static int
zs_version_put(struct store *st, const char *app_id, const char *version, const char *json)
{
    struct store_zk *zs = ZS(st);
    char name[1200];
    json_t *vs;
    int rc;

    if ((rc = writable(zs)) != 0)
        return rc;
    node_name(name, sizeof(name), "versions", app_id, version);
    rc = queue_put(zs, name,
                   json_pack("{s:s,s:s,s:s}", "app_id", app_id, "version", version, "json", json));
    if (rc != 0)
        return rc;
    if ((vs = json_object_get(zs->versions, app_id)) == NULL)
        json_object_set_new(zs->versions, app_id, vs = json_object());
    json_object_set_new(vs, version, json_string(json));
    return 0;
}

static json_t *
zs_version_list(struct store *st, const char *app_id)
{
    json_t *vs = json_object_get(ZS(st)->versions, app_id);

    return vs ? newest_first(vs) : json_array();
}

static char *
zs_version_get(struct store *st, const char *app_id, const char *version)
{
    const char *v =
        json_string_value(json_object_get(json_object_get(ZS(st)->versions, app_id), version));

    return v ? xstrdup(v) : NULL;
}

static int
zs_version_trim(struct store *st, const char *app_id, int keep)
{
    int rc;

    if ((rc = writable(ZS(st))) != 0)
        return rc;
    del_versions(ZS(st), app_id, keep);
    return 0;
}

static int
zs_dep_put(struct store *st, const char *id, const char *app_id, const char *json)
{
    return put_record(ZS(st), "deployments", NULL, id, ZS(st)->deps,
                      json_pack("{s:s,s:s,s:s}", "id", id, "app_id", app_id, "json", json));
}

static int
zs_dep_del(struct store *st, const char *id)
{
    return del_record(ZS(st), "deployments", NULL, id, ZS(st)->deps);
}

static int
zs_dep_load(struct store *st, void (*fn)(void *arg, const char *id, const char *json), void *arg)
{
    size_t n;
    const char **ids = sorted_keys(ZS(st)->deps, &n);

    for (size_t i = 0; i < n; i++)
        fn(arg, ids[i],
           json_string_value(json_object_get(json_object_get(ZS(st)->deps, ids[i]), "json")));
    free(ids);
    return 0;
}

static int
zs_task_put(struct store *st, const struct store_task *t)
{
    return put_record(
        ZS(st), "tasks", t->app_id, t->id, ZS(st)->tasks,
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:f,s:f,s:f,s:I}", "id", t->id,
                  "app_id", t->app_id, "agent_id", t->agent_id, "host", t->host, "attrs", t->attrs,
                  "ports", t->ports, "version", t->version, "cfg_version", t->cfg_version, "state",
                  t->state, "healthy", t->healthy, "kill", t->kill, "returned", t->returned,
                  "staged_at", t->staged_at, "started_at", t->started_at, "unreachable_since",
                  t->unreachable_since, "seq", (json_int_t)t->seq));
}

static int
zs_task_del(struct store *st, const char *id)
{
    const char *app =
        json_string_value(json_object_get(json_object_get(ZS(st)->tasks, id), "app_id"));

    if (app == NULL) /* not on record: nothing to delete */
        return writable(ZS(st));
    return del_record(ZS(st), "tasks", app, id, ZS(st)->tasks);
}

static const char *
field(json_t *rec, const char *key)
{
    const char *v = json_string_value(json_object_get(rec, key));

    return v ? v : "";
}

static int
task_seq_cmp(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "seq"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "seq"));

    return x < y ? -1 : x > y;
}

static int
zs_task_load(struct store *st, void (*fn)(void *arg, const struct store_task *t), void *arg)
{
    json_t **recs = xcalloc(json_object_size(ZS(st)->tasks) + 1, sizeof(*recs));
    size_t n = 0;
    const char *id;
    json_t *rec;

    /* fn may delete records: take references first. */
    json_object_foreach(ZS(st)->tasks, id, rec) recs[n++] = json_incref(rec);
    qsort(recs, n, sizeof(*recs), task_seq_cmp);
    for (size_t i = 0; i < n; i++) {
        struct store_task t = {
            .id = field(recs[i], "id"),
            .app_id = field(recs[i], "app_id"),
            .agent_id = field(recs[i], "agent_id"),
            .host = field(recs[i], "host"),
            .attrs = field(recs[i], "attrs"),
            .ports = field(recs[i], "ports"),
            .version = field(recs[i], "version"),
            .cfg_version = field(recs[i], "cfg_version"),
            .state = (int)json_integer_value(json_object_get(recs[i], "state")),
            .healthy = (int)json_integer_value(json_object_get(recs[i], "healthy")),
            .kill = (int)json_integer_value(json_object_get(recs[i], "kill")),
            .returned = (int)json_integer_value(json_object_get(recs[i], "returned")),
            .staged_at = json_number_value(json_object_get(recs[i], "staged_at")),
            .started_at = json_number_value(json_object_get(recs[i], "started_at")),
            .unreachable_since = json_number_value(json_object_get(recs[i], "unreachable_since")),
            .seq = json_integer_value(json_object_get(recs[i], "seq")),
        };
        fn(arg, &t);
    }
    for (size_t i = 0; i < n; i++)
        json_decref(recs[i]);
    free(recs);
    return 0;
}

/* ---- open and close ---- */

/* Creates `path` and its parents, those that exist being fine. */
static int
make_path(zhandle_t *zh, const char *path)
{
    char prefix[1200];
    int zrc;

    for (const char *p = strchr(path + 1, '/');; p = strchr(p + 1, '/')) {
        size_t n = p ? (size_t)(p - path) : strlen(path);

        snprintf(prefix, sizeof(prefix), "%.*s", (int)n, path);
        zrc = zoo_create(zh, prefix, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
        if (zrc != ZOK && zrc != ZNODEEXISTS) {
            log_error("store: cannot create %s in ZooKeeper: %s", prefix, zerror(zrc));
            return zk_error(zrc);
        }
        if (p == NULL)
            return 0;
    }
}

/* Files the record `data` of the znode DIR/NAME in memory. */
static void
load_record(struct store_zk *zs, const char *dir, const char *name, const char *data)
{
    char rel[1200];
    json_t *rec;

    snprintf(rel, sizeof(rel), "%s/%s", dir, name);
    if (strcmp(dir, "meta") == 0) {
        char key[1024];
        size_t k = 0;

        /* meta keys are plain words: decode the few escapes there can be */
        for (const char *p = name; *p && k + 1 < sizeof(key); p++) {
            unsigned int c;
            if (*p == '%' && sscanf(p + 1, "%2x", &c) == 1) {
                key[k++] = (char)c;
                p += 2;
            } else {
                key[k++] = *p;
            }
        }
        key[k] = '\0';
        json_object_set_new(zs->meta, key, json_string(data));
        json_object_set_new(zs->exists, rel, json_true());
        return;
    }
    json_object_set_new(zs->exists, rel, json_true());
    if ((rec = json_loads(data, 0, NULL)) == NULL) {
        log_warn("store: %s/%s does not hold JSON: ignored", zs->root, rel);
        return;
    }
    from_node(rec);
    if (strcmp(dir, "apps") == 0 && json_is_string(json_object_get(rec, "id"))) {
        json_object_set(zs->apps, json_string_value(json_object_get(rec, "id")), rec);
    } else if (strcmp(dir, "versions") == 0 && json_is_string(json_object_get(rec, "app_id"))) {
        const char *app = json_string_value(json_object_get(rec, "app_id"));
        json_t *vs = json_object_get(zs->versions, app);

        if (vs == NULL)
            json_object_set_new(zs->versions, app, vs = json_object());
        json_object_set(vs, field(rec, "version"), json_object_get(rec, "json"));
    } else if (strcmp(dir, "deployments") == 0 && json_is_string(json_object_get(rec, "id"))) {
        json_object_set(zs->deps, json_string_value(json_object_get(rec, "id")), rec);
    } else if (strcmp(dir, "tasks") == 0 && json_is_string(json_object_get(rec, "id"))) {
        json_object_set(zs->tasks, json_string_value(json_object_get(rec, "id")), rec);
    } else {
        log_warn("store: %s/%s is not a record: ignored", zs->root, rel);
    }
    json_decref(rec);
}

/* Reads the records under DIR (`sub` NULL) or DIR/SUB, and with `groups`
 * those of each group under DIR. */
static int
load_dir(struct store_zk *zs, zhandle_t *zh, const char *dir, const char *sub, bool groups,
         char *buf)
{
    struct String_vector sv = {0};
    char path[1200], rel[1200];
    int zrc, rc = 0;

    snprintf(rel, sizeof(rel), "%s%s%s", sub ? sub : "", sub ? "/" : "", "");
    snprintf(path, sizeof(path), "%s/%s%s%s", zs->root, dir, sub ? "/" : "", sub ? sub : "");
    if ((zrc = zoo_get_children(zh, path, 0, &sv)) != ZOK) {
        log_error("store: cannot list %s in ZooKeeper: %s", path, zerror(zrc));
        return zk_error(zrc);
    }
    for (int i = 0; i < sv.count && rc == 0; i++) {
        char node[1200], name[1200];
        int len = STORE_ZK_RECORD_MAX + 64;

        if (groups) {
            snprintf(name, sizeof(name), "%s/%s", dir, sv.data[i]);
            json_object_set_new(zs->exists, name, json_true());
            rc = load_dir(zs, zh, dir, sv.data[i], false, buf);
            continue;
        }
        snprintf(node, sizeof(node), "%s/%s", path, sv.data[i]);
        zrc = zoo_get(zh, node, 0, buf, &len, NULL);
        if (zrc == ZNONODE)
            continue;
        if (zrc != ZOK) {
            log_error("store: cannot read %s in ZooKeeper: %s", node, zerror(zrc));
            rc = zk_error(zrc);
            break;
        }
        buf[len > 0 ? len : 0] = '\0';
        snprintf(name, sizeof(name), "%s%s", rel, sv.data[i]);
        load_record(zs, dir, name, buf);
    }
    deallocate_String_vector(&sv);
    return rc;
}

int
store_zk_open(struct store **out, struct zk *z, const char *root, const char *fence, char *err,
              size_t errlen)
{
    struct store_zk *zs;
    zhandle_t *zh = zk_handle(z);
    char path[1200], *buf;
    int rc = 0;

    *out = NULL;
    if (zh == NULL || root[0] != '/' || strlen(root) >= sizeof(zs->root) ||
        strlen(fence) >= sizeof(zs->fence) || fence[0] != '/') {
        snprintf(err, errlen, "no ZooKeeper session, or a bad root %s or member %s", root, fence);
        return -AG_EINVAL;
    }
    zs = xcalloc(1, sizeof(*zs));
    zs->base.ops = &zk_ops;
    zs->z = z;
    snprintf(zs->root, sizeof(zs->root), "%s", root);
    snprintf(zs->fence, sizeof(zs->fence), "%s", fence);
    zs->meta = json_object();
    zs->apps = json_object();
    zs->versions = json_object();
    zs->deps = json_object();
    zs->tasks = json_object();
    zs->exists = json_object();
    zs->pending = json_object();
    buf = xmalloc(STORE_ZK_RECORD_MAX + 65);
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && rc == 0; i++) {
        snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
        if ((rc = make_path(zh, path)) == 0)
            rc = load_dir(zs, zh, dirs[i], NULL,
                          strcmp(dirs[i], "versions") == 0 || strcmp(dirs[i], "tasks") == 0, buf);
    }
    free(buf);
    if (rc != 0) {
        snprintf(err, errlen, "cannot load the state from ZooKeeper at %s: %s", root,
                 ag_strerror(rc));
        zs->base.ops->close(&zs->base);
        return rc;
    }
    *out = &zs->base;
    return 0;
}

static void
zs_close(struct store *st)
{
    struct store_zk *zs = ZS(st);

    if (zs->txn)
        zs_commit(st);
    json_decref(zs->meta);
    json_decref(zs->apps);
    json_decref(zs->versions);
    json_decref(zs->deps);
    json_decref(zs->tasks);
    json_decref(zs->exists);
    json_decref(zs->pending);
    free(zs);
}

static const struct store_ops zk_ops = {
    .record_max = STORE_ZK_RECORD_MAX,
    .close = zs_close,
    .begin = zs_begin,
    .commit = zs_commit,
    .in_txn = zs_in_txn,
    .meta_put = zs_meta_put,
    .meta_get = zs_meta_get,
    .app_put = zs_app_put,
    .app_del = zs_app_del,
    .app_load = zs_app_load,
    .version_put = zs_version_put,
    .version_list = zs_version_list,
    .version_get = zs_version_get,
    .version_trim = zs_version_trim,
    .dep_put = zs_dep_put,
    .dep_del = zs_dep_del,
    .dep_load = zs_dep_load,
    .task_put = zs_task_put,
    .task_del = zs_task_del,
    .task_load = zs_task_load,
};
