/*
 * Binary search over any sorted sequence, for modules that keep arrays sorted
 * by a key (resource items by name and role, metrics by name).
 *
 * Header-only and `static inline` on purpose: with a constant comparison
 * function the compiler inlines both, so a lookup costs what a hand-written
 * loop costs. No state, no allocation, cannot fail.
 */
#ifndef AGORA_SORTED_H
#define AGORA_SORTED_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Searches the `n` elements that `cmp(ctx, i)` compares with the key sought
 * (negative: element i sorts before the key; 0: it is the key; positive:
 * after), which must be sorted by that order. Returns the index of the key
 * with `*found` true, or the index where it would be inserted with `*found`
 * false.
 */
static inline size_t
sorted_find(size_t n, int (*cmp)(const void *ctx, size_t i), const void *ctx, bool *found)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp(ctx, mid);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

#endif
