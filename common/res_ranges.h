/*
 * Range values (ports): the algebra on the sorted, coalesced arrays of
 * `struct res_range` that a RES_RANGES item holds. Pure: no I/O; only
 * rng_reserve allocates. Part of the resources modules (see res_int.h for
 * the array capacity rule these functions rely on); parsing and printing
 * are in res_text.c.
 */
#ifndef AGORA_RES_RANGES_H
#define AGORA_RES_RANGES_H

#include <stdbool.h>
#include <stddef.h>

#include "resources.h"

/* Grows it->ranges to hold `need` ranges. 0 or -AG_ENOMEM (unchanged). */
int rng_reserve(struct res_item *it, size_t need);

/* Sorts and coalesces (overlapping or adjacent) the ranges of `it` in place. */
void rng_normalize(struct res_item *it);

/* x->ranges = x->ranges U b, `b` sorted and coalesced. The caller reserved
 * room for x->nranges + nb. Cannot fail. */
void rng_union(struct res_item *x, const struct res_range *b, size_t nb);

/* x->ranges = x->ranges \ b, `b` sorted and coalesced. The caller reserved
 * room for x->nranges + nb (each range of b splits at most one of x in two).
 * Cannot fail. */
void rng_subtract(struct res_item *x, const struct res_range *b, size_t nb);

/* True when every value of `b` is in `a` (both sorted and coalesced). */
bool rng_contain(const struct res_range *a, size_t na, const struct res_range *b, size_t nb);

#endif
