/*
 * Range values: sort, coalesce, union, difference and containment.
 * union and subtract work in place: the caller's reservation leaves room for
 * x's ranges to move to the tail, and the merge writes from the front.
 */
#include "res_ranges.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "res_int.h"

static int
cmp_range(const void *a, const void *b)
{
    const struct res_range *x = a, *y = b;

    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

int
rng_reserve(struct res_item *it, size_t need)
{
    struct res_range *p;

    if (need <= res_vec_cap(it->nranges))
        return 0;
    p = realloc(it->ranges, res_vec_cap(need) * sizeof(*p));
    if (p == NULL)
        return -AG_ENOMEM;
    it->ranges = p;
    return 0;
}

void
rng_normalize(struct res_item *it)
{
    struct res_range *r = it->ranges;
    size_t w = 0;

    if (it->nranges == 0)
        return;
    qsort(r, it->nranges, sizeof(*r), cmp_range);
    for (size_t i = 1; i < it->nranges; i++) {
        if (r[w].end == UINT64_MAX || r[i].begin <= r[w].end + 1) {
            if (r[i].end > r[w].end)
                r[w].end = r[i].end;
        } else {
            r[++w] = r[i];
        }
    }
    it->nranges = w + 1;
}

void
rng_union(struct res_item *x, const struct res_range *b, size_t nb)
{
    struct res_range *a = x->ranges;
    size_t na = x->nranges, i = 0, j = 0, w = 0;

    memmove(a + nb, a, na * sizeof(*a));
    while (i < na || j < nb) {
        struct res_range r;
        if (j >= nb || (i < na && a[nb + i].begin <= b[j].begin))
            r = a[nb + i++];
        else
            r = b[j++];
        if (w > 0 && (a[w - 1].end == UINT64_MAX || r.begin <= a[w - 1].end + 1)) {
            if (r.end > a[w - 1].end)
                a[w - 1].end = r.end;
        } else {
            a[w++] = r;
        }
    }
    x->nranges = w;
}

void
rng_subtract(struct res_item *x, const struct res_range *b, size_t nb)
{
    struct res_range *a = x->ranges;
    size_t na = x->nranges, j = 0, w = 0;

    memmove(a + nb, a, na * sizeof(*a));
    for (size_t i = 0; i < na; i++) {
        struct res_range cur = a[nb + i];
        uint64_t lo = cur.begin;
        bool alive = true;
        size_t k;

        while (j < nb && b[j].end < cur.begin)
            j++;
        for (k = j; k < nb && b[k].begin <= cur.end; k++) {
            if (b[k].begin > lo)
                a[w++] = (struct res_range){lo, b[k].begin - 1};
            if (b[k].end >= cur.end) {
                alive = false;
                break;
            }
            lo = b[k].end + 1;
        }
        if (alive)
            a[w++] = (struct res_range){lo, cur.end};
        j = k;
    }
    x->nranges = w;
}

bool
rng_contain(const struct res_range *a, size_t na, const struct res_range *b, size_t nb)
{
    size_t i = 0;

    for (size_t j = 0; j < nb; j++) {
        while (i < na && a[i].end < b[j].begin)
            i++;
        if (i == na || a[i].begin > b[j].begin || a[i].end < b[j].end)
            return false;
    }
    return true;
}
