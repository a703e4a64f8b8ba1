/*
 * A string-keyed hash map (open addressing, linear probing, power-of-two
 * capacity). Keys are copied into the map; values are opaque pointers owned by
 * the caller. Not thread-safe: one loop thread owns each map.
 *
 * Iteration: for (size_t it = 0; hmap_next(m, &it, &key, &val);) { ... }
 * Removing the entry just returned by hmap_next during iteration is allowed.
 */
#ifndef AGORA_HMAP_H
#define AGORA_HMAP_H

#include <stdbool.h>
#include <stddef.h>

struct hmap_slot {
    char *key; /* NULL = empty; HMAP_TOMBSTONE = deleted */
    void *val;
    unsigned hash;
};

struct hmap {
    struct hmap_slot *slots;
    size_t cap;  /* 0 or a power of two */
    size_t n;    /* live entries */
    size_t used; /* live + tombstones */
};

void hmap_init(struct hmap *m);

/* Frees the map's memory (not the values). Accepts NULL. */
void hmap_fini(struct hmap *m);

/* The value stored under `key`, or NULL. */
void *hmap_get(const struct hmap *m, const char *key);

/* Stores `val` under `key`, replacing any old value. Returns 0 or -AG_ENOMEM
 * (map unchanged). */
int hmap_put(struct hmap *m, const char *key, void *val);

/* Removes `key`; returns its value or NULL when absent. */
void *hmap_del(struct hmap *m, const char *key);

/* Number of entries. */
size_t hmap_size(const struct hmap *m);

/* Iterates: returns false when done. `*it` starts at 0. */
bool hmap_next(const struct hmap *m, size_t *it, const char **key, void **val);

/* For maps whose values are malloc'd strings owned by the map. */

/* Stores a copy of `val` (NULL: "") under `key`, freeing the value it
 * replaces. Returns 0 or -AG_ENOMEM (map unchanged). */
int hmap_put_str(struct hmap *m, const char *key, const char *val);

/* Frees every value and empties the map (its memory is kept). */
void hmap_clear_free(struct hmap *m);

#endif
