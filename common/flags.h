/*
 * Command-line flags, declared as a table, in the form Mesos daemons use:
 *
 *   static char *work_dir;  static int64_t port;  static int64_t ping_ms;
 *   static const struct flag master_flags[] = {
 *       {"work_dir", FLAG_STRING, &work_dir, "/var/lib/agora", "Where state is kept."},
 *       {"port", FLAG_INT64, &port, "5050", "Port to listen on."},
 *       {"agent_ping_timeout", FLAG_DURATION, &ping_ms, "15secs", "Ping timeout."},
 *       {NULL},
 *   };
 *
 * Accepted syntax: `--name=value`; `--name` and `--no-name` for bools (also
 * `--name=true|false`); `-` and `_` are interchangeable in names; `--help` or
 * `-h`; `--` ends the flags. Every flag may also come from the environment
 * variable AGORA_<NAME> (upper case, `-` as `_`); the command line wins, the
 * environment beats the default. Anything else (including `-` alone and
 * negative numbers) is a positional argument.
 *
 * Value forms: bool true/false/yes/no/1/0; int64 decimal; double decimal;
 * duration a number and a unit (ns, us, ms, secs, mins, hrs, days, weeks; also
 * s, m, h, d, w) stored in whole milliseconds; bytes a number and an optional
 * unit (B, KB, MB, GB, TB, PB, powers of 1024, any case) stored in bytes.
 * Fractions are allowed when the result is whole ("1.5secs", "0.5GB").
 *
 * Storage: `value` points to `char *` (FLAG_STRING), `int64_t` (FLAG_INT64,
 * FLAG_DURATION in milliseconds, FLAG_BYTES in bytes), `double` or `bool`.
 * String storage must start NULL: flags_parse stores malloc'd copies there and
 * frees the value it replaces; flags_free releases them.
 *
 * Not thread-safe; call from main before starting threads (uses getenv).
 */
#ifndef AGORA_FLAGS_H
#define AGORA_FLAGS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum flag_type { FLAG_STRING, FLAG_INT64, FLAG_DOUBLE, FLAG_BOOL, FLAG_DURATION, FLAG_BYTES };

struct flag {
    const char *name; /* without dashes, e.g. "work_dir"; NULL ends the table */
    enum flag_type type;
    void *value;      /* storage, see above */
    const char *def;  /* default in the flag's text form, NULL (storage left as it is) or
                         FLAG_REQUIRED (must come from the command line or environment) */
    const char *help; /* one or more sentences */
};

/* The `def` of a flag without a default that must be given. */
extern const char flags_required[];
#define FLAG_REQUIRED flags_required

/* flags_parse's result when --help or -h was given. */
#define FLAGS_HELP 1

/* Applies defaults, the environment, then the command line to the storage of
 * every flag in `table`. `argv[0]` is the program name and stays; on return
 * argv[1 .. *argc - 1] are the positional arguments in their original order
 * and *argc counts them plus one (argv[*argc] is NULL when argv was
 * NULL-terminated).
 * Returns 0; FLAGS_HELP when --help was given (positional arguments are
 * gathered, flags are not applied, the caller prints flags_usage and exits 0);
 * -AG_EINVAL with a message in `err` for an unknown flag, a bad value, a
 * repeated flag, a missing required flag or a bad table; -AG_ENOMEM.
 * On failure the storage may hold a mix of defaults and parsed values. */
int flags_parse(const struct flag *table, int *argc, char **argv, char *err, size_t errlen);

/* Frees the strings flags_parse stored for `table` and sets them to NULL. */
void flags_free(const struct flag *table);

/* Prints a usage text to `f`: "Usage: PROG [flags]", `summary` (may be NULL)
 * and one aligned, wrapped entry per flag with its default. */
void flags_usage(const struct flag *table, const char *prog, const char *summary, FILE *f);

/* Returns a new JSON object mapping each flag name to its current value as a
 * string in the form flags_parse accepts (unset strings are left out; a URI's
 * password is left out, as txt_redact_uri does), or NULL
 * when out of memory. The caller owns the reference. */
json_t *flags_to_json(const struct flag *table);

/* Parses a duration ("500ms", "15secs", "1.5hrs") into whole milliseconds.
 * Returns 0, -AG_EINVAL for bad syntax, a missing unit or a fraction of a
 * millisecond, -AG_ERANGE for overflow or a negative value. */
int flags_parse_duration(const char *text, int64_t *ms);

/* Parses a size ("512MB", "1GB", "4096") into bytes. Returns as
 * flags_parse_duration. */
int flags_parse_bytes(const char *text, int64_t *bytes);

/* Writes `ms` with the largest unit that keeps it exact ("15secs", "10mins",
 * "500ms", "2hrs"). snprintf-like: returns the length the text needs. */
size_t flags_format_duration(int64_t ms, char *buf, size_t len);

/* Writes `bytes` with the largest exact unit ("1GB", "512MB", "100B").
 * snprintf-like. */
size_t flags_format_bytes(int64_t bytes, char *buf, size_t len);

#endif
