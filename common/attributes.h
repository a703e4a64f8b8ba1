/*
 * Agent attributes, as Mesos spells them: `rack:r1;zone:a;level:3`. A value
 * that parses as a number is a scalar (fixed point, three decimals), anything
 * else is text. Used by constraints (hostname and attributes) in schedulers.
 *
 * Syntax: items separated by ';' (empty items and spaces around tokens are
 * ignored), each NAME:VALUE split at the first ':'. Names are printable ASCII
 * without spaces, ':' or ';'; values are printable ASCII without ';'. Numbers
 * use res_parse_scalar's syntax with an optional leading '-' ("3", "-0.5",
 * "1e3"), rounded to milli-units; numbers too large for int64 milli-units are
 * text. Order is kept as written.
 */
#ifndef AGORA_ATTRIBUTES_H
#define AGORA_ATTRIBUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ATTR_NAME_MAX 64
#define ATTR_TEXT_MAX 256

enum attr_type { ATTR_TEXT = 0, ATTR_SCALAR = 1 };

struct attr {
    char name[ATTR_NAME_MAX];
    enum attr_type type;
    char text[ATTR_TEXT_MAX]; /* the value as written (both types) */
    int64_t scalar;           /* ATTR_SCALAR: milli-units */
};

struct attributes {
    struct attr *v;
    size_t n;
};

/* Initializes an empty set of attributes. Never fails. */
void attr_init(struct attributes *a);

/* Frees what `a` holds and leaves it empty. Accepts NULL. */
void attr_fini(struct attributes *a);

/* Replaces `dst` with a copy of `src`. Returns 0 or -AG_ENOMEM (dst unchanged). */
int attr_copy(struct attributes *dst, const struct attributes *src);

/* Parses `text` into `out` (replaced on success). Duplicate names, empty names
 * or values, and over-long parts are -AG_EINVAL with a message in `err`. */
int attr_parse(struct attributes *out, const char *text, char *err, size_t errlen);

/* Prints in the syntax attr_parse reads; snprintf-like return. */
size_t attr_format(const struct attributes *a, char *buf, size_t len);

/* The attribute called `name`, or NULL. */
const struct attr *attr_find(const struct attributes *a, const char *name);

/* True when attribute `name` exists and equals `value` (numerically for
 * scalars: "3" matches "3.0"; textually otherwise, also when the attribute is
 * a scalar but `value` is not a number). */
bool attr_matches(const struct attributes *a, const char *name, const char *value);

/* Renders `a` as a JSON object: scalars as numbers, text as strings (Mesos
 * shape). Returns a new reference. */
struct json_t;
struct json_t *attr_to_json(const struct attributes *a);

#endif
