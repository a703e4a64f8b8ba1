/*
 * The master's registry: storage only. It keeps one row per admitted agent and
 * per subscribed framework so that a restarted master knows who may come back;
 * it knows nothing of the master (the master builds its agents and frameworks
 * from the rows it loads, with its own constructors). Tasks are not stored:
 * agents report them when they re-register, as in Mesos.
 *
 * Besides the rows, a backend keeps meta records: short text values under
 * text keys (the master stores "quota/<role>" and "weight/<role>" there).
 *
 * A backend is a `struct registry_ops`; every write is durable before it
 * returns, and a failed write stores nothing. registry_sqlite_open() is the
 * embedded default (SQLite, synchronous=FULL, <work_dir>/registry.db);
 * registry_zk_open() keeps the same records in ZooKeeper (registry_zk.c), for
 * high availability. Both are called on the master's loop thread and block
 * until the write is durable.
 */
#ifndef AGORA_MASTER_REGISTRY_H
#define AGORA_MASTER_REGISTRY_H

#include <stddef.h>

#include "error.h"

struct registry;
typedef struct _zhandle zhandle_t; /* <zookeeper/zookeeper.h> */

/* The error of a write refused because this master is not, or may no longer
 * be, the leader (the ZooKeeper backend: its fence znode is gone, or its
 * session expired or lost its connection). The master must stop acting as
 * the leader: log it as "not the leader any more". Returned negated, as every
 * AG_E* code. No other registry error is -AG_ESTATE, except a programming
 * error of the SQLite backend (a nested transaction). */
#define REGISTRY_ENOTLEADER AG_ESTATE

struct registry_agent_row {
    const char *id, *hostname, *http_address;
    const char *resources;  /* res_to_string() text */
    const char *attributes; /* attr_format() text */
    double registered_time;
    int draining; /* 1: an operator drained it (no offers until undrained) */
    const char *principal; /* who registered it ("" or NULL: unauthenticated) */
};

struct registry_framework_row {
    const char *id;
    const void *info; /* a SUBSCRIBE message (msg_encode) holding the framework info */
    size_t info_len;
    double registered_time;
    const char *principal; /* who registered it ("" or NULL: unauthenticated) */
};

/* Called once per stored row by load; a nonzero return stops the load and is
 * returned by it. The row's pointers are valid during the call only. */
typedef int (*registry_agent_fn)(void *arg, const struct registry_agent_row *row);
typedef int (*registry_framework_fn)(void *arg, const struct registry_framework_row *row);
/* Called once per meta record by load_meta, in no particular order; the same
 * rules as above. */
typedef int (*registry_meta_fn)(void *arg, const char *key, const char *value);

struct registry_ops {
    int (*load)(struct registry *r, registry_agent_fn agent_fn, registry_framework_fn fw_fn,
                void *arg);
    int (*put_agent)(struct registry *r, const struct registry_agent_row *row);
    int (*remove_agent)(struct registry *r, const char *id);
    int (*put_framework)(struct registry *r, const struct registry_framework_row *row);
    int (*remove_framework)(struct registry *r, const char *id);
    int (*set_meta)(struct registry *r, const char *key, const char *value);
    int (*remove_meta)(struct registry *r, const char *key);
    int (*load_meta)(struct registry *r, registry_meta_fn fn, void *arg);
    void (*close)(struct registry *r);
};

/* Every backend's handle starts with its ops. */
struct registry {
    const struct registry_ops *ops;
};

/* Opens (creating) the SQLite registry in `work_dir`. 0 or -AG_E* (logged). */
int registry_sqlite_open(struct registry **out, const char *work_dir);

/*
 * Opens the ZooKeeper registry under the znode `root` (an absolute path such
 * as "/agora/registry"; it and its parents are created, persistent, when
 * missing). `zh` is a connected session owned by the caller, which must
 * outlive the registry (registry_close does not close it). `fence`, when not
 * NULL, is the path of the caller's own ephemeral election znode: every write
 * is a transaction that first checks that it exists, so a deposed leader
 * cannot write (-REGISTRY_ENOTLEADER). The registry copies both strings.
 * 0 or -AG_E* (logged); *out is NULL after a failure.
 */
int registry_zk_open(struct registry **out, zhandle_t *zh, const char *root, const char *fence);

/* Dispatch to the backend. Each returns 0 or a negative AG_E* code (logged). */
int registry_load(struct registry *r, registry_agent_fn agent_fn, registry_framework_fn fw_fn,
                  void *arg);
int registry_put_agent(struct registry *r, const struct registry_agent_row *row);
int registry_remove_agent(struct registry *r, const char *id);
int registry_put_framework(struct registry *r, const struct registry_framework_row *row);
int registry_remove_framework(struct registry *r, const char *id);
/* Stores (replaces) the meta record `key`. */
int registry_set_meta(struct registry *r, const char *key, const char *value);
/* Deletes the meta record `key`; 0 when there is none. */
int registry_remove_meta(struct registry *r, const char *key);
/* Calls `fn` for every meta record. */
int registry_load_meta(struct registry *r, registry_meta_fn fn, void *arg);
/* NULL is a no-op. */
void registry_close(struct registry *r);

#endif
