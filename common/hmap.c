#include "hmap.h"

#include "error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char hmap_tombstone_;
#define HMAP_TOMBSTONE (&hmap_tombstone_)

static unsigned
hmap_hash(const char *s)
{
    /* FNV-1a */
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

void
hmap_init(struct hmap *m)
{
    memset(m, 0, sizeof(*m));
}

void
hmap_fini(struct hmap *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key && m->slots[i].key != HMAP_TOMBSTONE)
            free(m->slots[i].key);
    free(m->slots);
    hmap_init(m);
}

static struct hmap_slot *
hmap_find(const struct hmap *m, const char *key, unsigned h)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        struct hmap_slot *s = &m->slots[i];
        if (s->key == NULL)
            return NULL;
        if (s->key != HMAP_TOMBSTONE && s->hash == h && strcmp(s->key, key) == 0)
            return s;
    }
}

void *
hmap_get(const struct hmap *m, const char *key)
{
    struct hmap_slot *s = hmap_find(m, key, hmap_hash(key));
    return s ? s->val : NULL;
}

static int
hmap_grow(struct hmap *m)
{
    size_t ncap = m->cap ? m->cap : 16;
    struct hmap_slot *ns;

    while (m->n * 2 + 2 > ncap)
        ncap *= 2;
    ns = calloc(ncap, sizeof(*ns));
    if (ns == NULL)
        return -AG_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        struct hmap_slot *s = &m->slots[i];
        if (s->key == NULL || s->key == HMAP_TOMBSTONE)
            continue;
        size_t j = s->hash & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    m->used = m->n;
    return 0;
}

int
hmap_put(struct hmap *m, const char *key, void *val)
{
    unsigned h = hmap_hash(key);
    struct hmap_slot *s = hmap_find(m, key, h);
    char *k;
    size_t i;

    if (s) {
        s->val = val;
        return 0;
    }
    if ((m->used + 1) * 4 >= m->cap * 3) {
        int rc = hmap_grow(m);
        if (rc)
            return rc;
    }
    k = strdup(key);
    if (k == NULL)
        return -AG_ENOMEM;
    for (i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        s = &m->slots[i];
        if (s->key == NULL || s->key == HMAP_TOMBSTONE)
            break;
    }
    if (s->key == NULL)
        m->used++;
    s->key = k;
    s->val = val;
    s->hash = h;
    m->n++;
    return 0;
}

void *
hmap_del(struct hmap *m, const char *key)
{
    struct hmap_slot *s = hmap_find(m, key, hmap_hash(key));
    void *v;

    if (s == NULL)
        return NULL;
    v = s->val;
    free(s->key);
    s->key = HMAP_TOMBSTONE;
    s->val = NULL;
    m->n--;
    return v;
}

size_t
hmap_size(const struct hmap *m)
{
    return m->n;
}

bool
hmap_next(const struct hmap *m, size_t *it, const char **key, void **val)
{
    while (*it < m->cap) {
        struct hmap_slot *s = &m->slots[(*it)++];
        if (s->key && s->key != HMAP_TOMBSTONE) {
            if (key)
                *key = s->key;
            if (val)
                *val = s->val;
            return true;
        }
    }
    return false;
}

int
hmap_put_str(struct hmap *m, const char *key, const char *val)
{
    char *v = strdup(val != NULL ? val : "");
    void *old = hmap_get(m, key);
    int rv;

    if (v == NULL)
        return -AG_ENOMEM;
    if ((rv = hmap_put(m, key, v)) != 0) {
        free(v);
        return rv;
    }
    free(old);
    return 0;
}

void
hmap_clear_free(struct hmap *m)
{
    const char *key;
    void *val;

    for (size_t it = 0; hmap_next(m, &it, &key, &val);) {
        hmap_del(m, key);
        free(val);
    }
}
