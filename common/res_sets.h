/*
 * Set values: the algebra on the sorted arrays of unique, malloc'd strings
 * that a RES_SET item holds. Pure: no I/O. Part of the resources modules
 * (see res_int.h for the array capacity rule); parsing and printing are in
 * res_text.c.
 */
#ifndef AGORA_RES_SETS_H
#define AGORA_RES_SETS_H

#include <stdbool.h>

#include "resources.h"

/* Sorts the members of `it` and frees duplicates. */
void rset_normalize(struct res_item *it);

/* x->set = x->set U y->set, copying y's new members. Returns 0 or
 * -AG_ENOMEM; builds a new array first, so on failure `x` is unchanged. */
int rset_union(struct res_item *x, const struct res_item *y);

/* x->set = x->set \ y->set, freeing removed members. Cannot fail. */
void rset_subtract(struct res_item *x, const struct res_item *y);

/* True when every member of `y` is in `x`. */
bool rset_contains(const struct res_item *x, const struct res_item *y);

/* True when `x` and `y` hold the same members. */
bool rset_equal(const struct res_item *x, const struct res_item *y);

#endif
