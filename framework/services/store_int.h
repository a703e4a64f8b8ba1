/*
 * store_int: the layout behind store.h, for its backends only (store.c
 * dispatches, store_sqlite.c and store_zk.c implement). A backend's struct
 * begins with `struct store`, whose ops table its open function sets; every
 * operation has store.h's contract.
 */
#ifndef AGORA_SERVICES_STORE_INT_H
#define AGORA_SERVICES_STORE_INT_H

#include "store.h"

#include <stddef.h>

struct store_ops {
    size_t record_max; /* bytes of one record at most (0: no limit) */
    void (*close)(struct store *st);
    int (*begin)(struct store *st);
    int (*commit)(struct store *st);
    bool (*in_txn)(const struct store *st);
    int (*meta_put)(struct store *st, const char *key, const char *value);
    char *(*meta_get)(struct store *st, const char *key);
    int (*app_put)(struct store *st, const char *id, const char *json, const char *last_failure);
    int (*app_del)(struct store *st, const char *id);
    int (*app_load)(struct store *st,
                    void (*fn)(void *arg, const char *id, const char *json,
                               const char *last_failure),
                    void *arg);
    int (*version_put)(struct store *st, const char *app_id, const char *version, const char *json);
    json_t *(*version_list)(struct store *st, const char *app_id);
    char *(*version_get)(struct store *st, const char *app_id, const char *version);
    int (*version_trim)(struct store *st, const char *app_id, int keep);
    int (*dep_put)(struct store *st, const char *id, const char *app_id, const char *json);
    int (*dep_del)(struct store *st, const char *id);
    int (*dep_load)(struct store *st, void (*fn)(void *arg, const char *id, const char *json),
                    void *arg);
    int (*task_put)(struct store *st, const struct store_task *t);
    int (*task_del)(struct store *st, const char *id);
    int (*task_load)(struct store *st, void (*fn)(void *arg, const struct store_task *t),
                     void *arg);
};

struct store {
    const struct store_ops *ops;
};

#endif
