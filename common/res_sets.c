/*
 * Set values: sort and deduplicate, union, difference, containment and
 * equality, each a merge walk over two sorted arrays.
 */
#include "res_sets.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "res_int.h"

static int
cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void
rset_normalize(struct res_item *it)
{
    size_t w = 0;

    if (it->nset == 0)
        return;
    qsort(it->set, it->nset, sizeof(*it->set), cmp_str_ptr);
    for (size_t i = 1; i < it->nset; i++) {
        if (strcmp(it->set[i], it->set[w]) == 0)
            free(it->set[i]);
        else
            it->set[++w] = it->set[i];
    }
    it->nset = w + 1;
}

int
rset_union(struct res_item *x, const struct res_item *y)
{
    size_t cap = res_vec_cap(x->nset + y->nset), i = 0, j = 0, w = 0, ndup = 0;
    char **v = malloc(cap * sizeof(*v));
    char **dups = NULL;

    if (v == NULL)
        return -AG_ENOMEM;
    dups = malloc(y->nset * sizeof(*dups));
    if (dups == NULL)
        goto fail;
    while (i < x->nset || j < y->nset) {
        int c = i == x->nset ? 1 : j == y->nset ? -1 : strcmp(x->set[i], y->set[j]);
        if (c <= 0) {
            v[w++] = x->set[i++];
            j += c == 0;
        } else {
            char *s = strdup(y->set[j++]);
            if (s == NULL)
                goto fail;
            dups[ndup++] = s;
            v[w++] = s;
        }
    }
    free(dups);
    free(x->set);
    x->set = v;
    x->nset = w;
    return 0;
fail:
    for (size_t k = 0; k < ndup; k++)
        free(dups[k]);
    free(dups);
    free(v);
    return -AG_ENOMEM;
}

void
rset_subtract(struct res_item *x, const struct res_item *y)
{
    size_t j = 0, w = 0;

    for (size_t i = 0; i < x->nset; i++) {
        int c = 1;
        while (j < y->nset && (c = strcmp(y->set[j], x->set[i])) < 0)
            j++;
        if (j < y->nset && c == 0)
            free(x->set[i]);
        else
            x->set[w++] = x->set[i];
    }
    x->nset = w;
}

bool
rset_contains(const struct res_item *x, const struct res_item *y)
{
    size_t i = 0;

    for (size_t j = 0; j < y->nset; j++) {
        int c = -1;
        while (i < x->nset && (c = strcmp(x->set[i], y->set[j])) < 0)
            i++;
        if (i == x->nset || c != 0)
            return false;
    }
    return true;
}

bool
rset_equal(const struct res_item *x, const struct res_item *y)
{
    if (x->nset != y->nset)
        return false;
    for (size_t i = 0; i < x->nset; i++)
        if (strcmp(x->set[i], y->set[i]) != 0)
            return false;
    return true;
}
