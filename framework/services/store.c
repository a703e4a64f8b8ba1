/* store.h's operations, dispatched to the backend chosen at open. */
#include "store_int.h"

size_t
store_record_max(const struct store *st)
{
    return st->ops->record_max;
}

void
store_close(struct store *st)
{
    if (st != NULL)
        st->ops->close(st);
}

int
store_begin(struct store *st)
{
    return st->ops->begin(st);
}

int
store_commit(struct store *st)
{
    return st->ops->commit(st);
}

bool
store_in_txn(const struct store *st)
{
    return st->ops->in_txn(st);
}

int
store_meta_put(struct store *st, const char *key, const char *value)
{
    return st->ops->meta_put(st, key, value);
}

char *
store_meta_get(struct store *st, const char *key)
{
    return st->ops->meta_get(st, key);
}

int
store_app_put(struct store *st, const char *id, const char *json, const char *last_failure)
{
    return st->ops->app_put(st, id, json, last_failure);
}

int
store_app_del(struct store *st, const char *id)
{
    return st->ops->app_del(st, id);
}

int
store_app_load(struct store *st,
               void (*fn)(void *arg, const char *id, const char *json, const char *last_failure),
               void *arg)
{
    return st->ops->app_load(st, fn, arg);
}

int
store_version_put(struct store *st, const char *app_id, const char *version, const char *json)
{
    return st->ops->version_put(st, app_id, version, json);
}

json_t *
store_version_list(struct store *st, const char *app_id)
{
    return st->ops->version_list(st, app_id);
}

char *
store_version_get(struct store *st, const char *app_id, const char *version)
{
    return st->ops->version_get(st, app_id, version);
}

int
store_version_trim(struct store *st, const char *app_id, int keep)
{
    return st->ops->version_trim(st, app_id, keep);
}

int
store_dep_put(struct store *st, const char *id, const char *app_id, const char *json)
{
    return st->ops->dep_put(st, id, app_id, json);
}

int
store_dep_del(struct store *st, const char *id)
{
    return st->ops->dep_del(st, id);
}

int
store_dep_load(struct store *st, void (*fn)(void *arg, const char *id, const char *json), void *arg)
{
    return st->ops->dep_load(st, fn, arg);
}

int
store_task_put(struct store *st, const struct store_task *t)
{
    return st->ops->task_put(st, t);
}

int
store_task_del(struct store *st, const char *id)
{
    return st->ops->task_del(st, id);
}

int
store_task_load(struct store *st, void (*fn)(void *arg, const struct store_task *t), void *arg)
{
    return st->ops->task_load(st, fn, arg);
}
