/*
 * The plugin host's persistent state: one SQLite database in --work_dir
 * holding the host's own values (the framework id, the plugin's name) and the
 * plugin's key-value store.
 *
 *   host(key TEXT PRIMARY KEY, value TEXT)   "framework_id", "plugin"
 *   kv(key TEXT PRIMARY KEY, value BLOB)     the plugin's keys
 *
 * A store is used by one thread at a time (the host serializes it under its
 * plugin lock). Writes outside a transaction commit at once. A commit returns
 * once it is on disk (synchronous=FULL), so it survives a power cut.
 */
#ifndef AGORA_PLUGIN_HOST_STORE_H
#define AGORA_PLUGIN_HOST_STORE_H

#include <stdbool.h>
#include <stddef.h>

struct store;

/* Opens (creating if needed) the store at `path`. Returns 0 and *out, or a
 * negative code with `err` explaining; *out is then NULL. */
int store_open(struct store **out, const char *path, char *err, size_t errlen);

/* Rolls back an open transaction and closes. Accepts NULL. */
void store_close(struct store *s);

/* The host value of `key` as a malloc'd string in *value: 0, -AG_ENOENT when
 * absent (*value NULL), or another negative code. */
int store_host_get(struct store *s, const char *key, char **value);

/* Sets (or with value NULL removes) a host value. Returns 0 or a negative code. */
int store_host_put(struct store *s, const char *key, const char *value);

/* Removes every host value and every key of the plugin, in one transaction. */
int store_clear(struct store *s);

/* The plugin's key-value store: see ag_kv_* in <agora/plugin.h> for the contracts. */
int store_kv_get(struct store *s, const char *key, char **value, size_t *len);
int store_kv_put(struct store *s, const char *key, const void *value, size_t len);
int store_kv_del(struct store *s, const char *key);
int store_kv_list(struct store *s, const char *prefix,
                  int (*fn)(void *arg, const char *key, const void *value, size_t len), void *arg);
int store_begin(struct store *s);
int store_commit(struct store *s);
int store_rollback(struct store *s);

/* Whether a transaction is open. */
bool store_in_txn(struct store *s);

#endif
