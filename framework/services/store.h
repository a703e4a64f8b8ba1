/*
 * store: agora-services' state, in SQLite (<work_dir>/services.db) or, with
 * --zk, in ZooKeeper (store_zk_open; the backends are an ops table chosen at
 * open, store_int.h): the framework id, apps with their version history, deployments, and the
 * record of every task not yet terminal.
 *
 * Writes are batched: every store_*_put/_del opens a transaction when none is
 * open (store_begin), and store_commit() ends it. A commit returns once it is
 * on disk (synchronous=FULL: the write-ahead log is fsynced, and its directory
 * when the log is new), so it survives a power cut. The daemon commits once per
 * loop turn, before it sends anything that depends on the writes (task
 * launches, status acknowledgements, HTTP replies), so what the outside world
 * has seen is always on disk. A failed write or commit is returned; the
 * daemon treats it as fatal and restarts from what was committed.
 *
 * Strings passed in are copied by SQLite; rows given to callbacks are valid
 * during the call only.
 */
#ifndef AGORA_SERVICES_STORE_H
#define AGORA_SERVICES_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

/* A task record. `ports` is "31000,31001"; times are seconds since the epoch
 * (0 = not yet). */
struct store_task {
    const char *id;
    const char *app_id;
    const char *agent_id;
    const char *host;
    const char *attrs;
    const char *ports;
    const char *version;
    const char *cfg_version;
    int state;   /* enum ag_task_state */
    int healthy; /* -1, 0, 1 */
    int kill;    /* kill reason, 0 = none */
    int returned;
    double staged_at, started_at, unreachable_since;
    int64_t seq;
};

/* Opens (creating) `path`: the SQLite backend, the default. Returns 0 or a
 * negative AG_E* code with `err` set. */
int store_open(struct store **out, const char *path, char *err, size_t errlen);

struct zk;
/*
 * The ZooKeeper backend (store_zk.c, for --zk): the state under the znode
 * `root` ("/agora-services/state"), read whole now through the session `z`
 * (synchronous calls: the caller's loop waits for them), every commit fenced
 * by the existence of the znode `fence` (the leader's member znode,
 * zk_member_path). Same contract as SQLite's, except that a commit is durable
 * once the ensemble's quorum has it, and that a record over ZooKeeper's node
 * limit (~1 MB) is refused with -AG_ERANGE. Returns 0 or a negative AG_E* code
 * with `err` set. `z` must outlive the store.
 */
int store_zk_open(struct store **out, struct zk *z, const char *root, const char *fence, char *err,
                  size_t errlen);
void store_close(struct store *st);

/* The size of the largest record the backend stores (0: no limit): an app's
 * definition must fit in it with room to spare (api.c checks). */
size_t store_record_max(const struct store *st);

/* Transactions: store_begin is idempotent while one is open. */
int store_begin(struct store *st);
int store_commit(struct store *st);
bool store_in_txn(const struct store *st);

/* Small key/value metadata ("framework_id"). store_meta_get returns a malloc'd
 * string or NULL. */
int store_meta_put(struct store *st, const char *key, const char *value);
char *store_meta_get(struct store *st, const char *key);

/* Apps: the current definition (canonical JSON text) and the app's
 * lastTaskFailure (JSON text or NULL). */
int store_app_put(struct store *st, const char *id, const char *json, const char *last_failure);
/* Removes the app, its versions and its deployment rows. */
int store_app_del(struct store *st, const char *id);
int store_app_load(struct store *st,
                   void (*fn)(void *arg, const char *id, const char *json,
                              const char *last_failure),
                   void *arg);

/* Version history: one row per (app, version). */
int store_version_put(struct store *st, const char *app_id, const char *version, const char *json);
/* A new JSON array of the app's versions, newest first. */
json_t *store_version_list(struct store *st, const char *app_id);
/* The definition at `version` (malloc'd text) or NULL. */
char *store_version_get(struct store *st, const char *app_id, const char *version);
/* Keeps the newest `keep` versions of the app. */
int store_version_trim(struct store *st, const char *app_id, int keep);

/* Deployments (JSON text of svc's own record). */
int store_dep_put(struct store *st, const char *id, const char *app_id, const char *json);
int store_dep_del(struct store *st, const char *id);
int store_dep_load(struct store *st, void (*fn)(void *arg, const char *id, const char *json),
                   void *arg);

/* Tasks. */
int store_task_put(struct store *st, const struct store_task *t);
int store_task_del(struct store *st, const char *id);
int store_task_load(struct store *st, void (*fn)(void *arg, const struct store_task *t), void *arg);

#endif
