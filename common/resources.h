/*
 * Resources as Mesos defines them: named scalars (cpus, mem, disk, gpus or any
 * custom name), ranges (ports) and sets, each either unreserved (role "*") or
 * reserved for a role ("cpus(web):2").
 *
 * Scalars are fixed point with three decimals (RES_SCALE = 1000 milli-units),
 * as Mesos rounds them, so fractional cpus never drift: 0.1 cpus is stored as
 * 100 and a million additions and subtractions of it are exact.
 *
 * A `struct resources` is kept normalized: at most one item per (name, role),
 * items sorted by name then role, no zero scalars, no empty ranges or sets,
 * ranges sorted and coalesced, set members sorted and unique. Every function
 * that changes a collection keeps it normalized. On failure a function leaves
 * its output unchanged unless it says otherwise. Exception: res_copy,
 * res_filter_role and res_allocatable_to reuse the memory of `out` (no
 * allocation for scalar-only collections) and leave it empty on -AG_ENOMEM.
 * A name has one type in a collection, whatever the roles.
 *
 * Text syntax (parse and print): items separated by ';', each
 * `NAME[(ROLE)]:VALUE` where VALUE is a number ("2", "0.5"), ranges
 * ("[31000-32000,33000-33010]") or a set ("{a,b,c}").
 *
 * Parsing details: spaces around tokens are ignored and empty items skipped
 * ("cpus: 2; mem:1;"). Names are 1..RES_NAME_MAX-1 characters of
 * [A-Za-z0-9_.-/]. "(*)" means unreserved. A scalar is DIGITS[.DIGITS] with an
 * optional exponent ("1e3"); with more than three decimals it is rounded to
 * the nearest milli-unit, ties away from zero (as Mesos' llround(v * 1000)),
 * computed exactly on the decimal digits ("0.0005" -> 1, "0.00049" -> 0).
 * A range is "B-E" (inclusive, B <= E) or a single "N" (printed "N-N");
 * overlapping or adjacent ranges are coalesced. Set members are printable
 * ASCII without ",;{}" and shorter than RES_SET_MEMBER_MAX. Items that end up
 * empty ("cpus:0", "ports:[]") are dropped, but still count for the
 * one-type-per-name rule. Printing is canonical: sorted items, no spaces,
 * scalars without trailing zeros ("2", "0.5", "0.125").
 */
#ifndef AGORA_RESOURCES_H
#define AGORA_RESOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RES_SCALE 1000
#define RES_NAME_MAX 32 /* including the terminating NUL */
#define RES_ROLE_MAX 64 /* including the terminating NUL */
#define RES_ANY_ROLE "*"
#define RES_SET_MEMBER_MAX 256 /* including the terminating NUL */

enum res_type { RES_SCALAR = 0, RES_RANGES = 1, RES_SET = 2 };

struct res_range {
    uint64_t begin; /* inclusive */
    uint64_t end;   /* inclusive */
};

struct res_item {
    char name[RES_NAME_MAX];
    char role[RES_ROLE_MAX]; /* "*" when unreserved */
    enum res_type type;
    int64_t scalar;           /* RES_SCALAR: milli-units (value * RES_SCALE) */
    struct res_range *ranges; /* RES_RANGES: sorted, coalesced */
    size_t nranges;
    char **set; /* RES_SET: sorted, unique, each malloc'd */
    size_t nset;
};

struct resources {
    struct res_item *items;
    size_t n;
    size_t cap;
};

/* Initializes an empty collection. Never fails. */
void res_init(struct resources *r);

/* Frees everything `r` holds and leaves it empty (usable again). Accepts NULL. */
void res_fini(struct resources *r);

/* Replaces `dst` with a deep copy of `src`. Returns 0 or -AG_ENOMEM. */
int res_copy(struct resources *dst, const struct resources *src);

/*
 * Parses Mesos resource text into `out` (which must be initialized; its old
 * contents are replaced on success). An empty string is an empty collection.
 * Returns 0, or -AG_EINVAL with a message in `err` (if not NULL) that quotes
 * the offending part, e.g. `bad value "x2" for resource "cpus"`.
 * Same (name, role) pairs are added together; a name used with two types is an
 * error; negative values, unknown syntax and names/roles too long are errors.
 */
int res_parse(struct resources *out, const char *text, char *err, size_t errlen);

/*
 * Prints `r` in the text syntax accepted by res_parse (round-trips exactly),
 * like snprintf: writes at most `len` bytes including the NUL and returns the
 * length the full text needs (excluding the NUL).
 */
size_t res_format(const struct resources *r, char *buf, size_t len);

/* Returns the text of `r` in a malloc'd string, or NULL when out of memory. */
char *res_to_string(const struct resources *r);

/* a += b (ranges and sets: union). Returns 0, -AG_ERANGE on scalar overflow,
 * -AG_EINVAL when a name has a different type in `a` and `b`, or -AG_ENOMEM.
 * On failure `a` is unchanged. Scalars and ranges already present in `a` are
 * added in place without allocating. */
int res_add(struct resources *a, const struct resources *b);

/* a -= b. Returns 0, or -AG_ERANGE if `a` does not contain `b`, or -AG_ENOMEM
 * (a range split needs more room); on failure `a` is unchanged. */
int res_sub(struct resources *a, const struct resources *b);

/* True when every item of `b` is within `a` (same name and role). */
bool res_contains(const struct resources *a, const struct resources *b);

/* True when both hold exactly the same resources. */
bool res_equal(const struct resources *a, const struct resources *b);

/* True when `r` holds nothing. */
bool res_empty(const struct resources *r);

/* Sum of the scalar `name` over every role, in milli-units (0 when absent). */
int64_t res_scalar(const struct resources *r, const char *name);

/* Adds `milli` (may be negative as long as the result is >= 0) of scalar `name`
 * reserved for `role` ("*" or NULL for unreserved). 0, -AG_ERANGE, -AG_EINVAL
 * (name used with another type), -AG_ENOMEM. */
int res_add_scalar(struct resources *r, const char *name, const char *role, int64_t milli);

/* out = the items of `r` whose role is `role` ("*" or NULL selects unreserved).
 * `out` may be `r`. Returns 0, -AG_EINVAL (invalid role) or -AG_ENOMEM. */
int res_filter_role(struct resources *out, const struct resources *r, const char *role);

/* out = the items of `r` usable by `role`: unreserved ones plus those reserved
 * for `role` or for one of its ancestors ("eng" for "eng/web"). `out` may be
 * `r`. Returns 0, -AG_EINVAL (invalid role) or -AG_ENOMEM. */
int res_allocatable_to(struct resources *out, const struct resources *r, const char *role);

/* out = `r` with every item's role replaced by `role` ("*" or NULL to
 * unreserve), same names summed. `out` may be `r`. Returns 0, -AG_EINVAL
 * (invalid role), -AG_ERANGE (sum overflows) or -AG_ENOMEM. */
int res_set_role(struct resources *out, const struct resources *r, const char *role);

/* out = `r` with roles dropped (all items unreserved, same names summed).
 * Same returns as res_set_role. */
int res_flatten(struct resources *out, const struct resources *r);

/*
 * Dominant share of `alloc` against `total`: the largest alloc/total over the
 * scalar names present in `total` with total > 0 (roles ignored). 0 when
 * nothing is allocated.
 */
double res_drf_share(const struct resources *alloc, const struct resources *total);

/* Number of individual values in ranges item `name` summed over roles (e.g.
 * port count), saturating at UINT64_MAX. */
uint64_t res_range_count(const struct resources *r, const char *name);

/* Validates a role name as Mesos does ("*", or path segments of [A-Za-z0-9_.-],
 * not starting with '.' or '-', no "." or ".." segments, '/' separated), and
 * shorter than RES_ROLE_MAX. */
bool res_role_valid(const char *role);

/*
 * Parses the `len` bytes at `text` as a non-negative decimal scalar (syntax and
 * rounding as in res_parse; no sign, no spaces) into milli-units. Returns 0,
 * -AG_EINVAL when it is not a number, or -AG_ERANGE when it exceeds INT64_MAX
 * milli-units; `*milli` is only written on success.
 */
int res_parse_scalar(const char *text, size_t len, int64_t *milli);

/* Prints milli-units as res_format does ("2", "0.5", "-0.125"); snprintf-like. */
size_t res_format_scalar(int64_t milli, char *buf, size_t len);

/* Renders `r` as Mesos does in JSON: roles summed, scalars as numbers, ranges
 * and sets in their text form, and cpus, mem, disk and gpus always present:
 * {"cpus": 2.0, "mem": 1024.0, "disk": 0.0, "gpus": 0.0, "ports": "[31000-32000]"}.
 * Returns a new reference (an empty object when out of memory while copying). */
struct json_t;
struct json_t *res_to_json(const struct resources *r);

#endif
