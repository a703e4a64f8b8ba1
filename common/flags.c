#define _GNU_SOURCE /* asprintf */
#include "flags.h"

#include "error.h"
#include "text.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FLAGS_NAME_MAX 128 /* longest flag name accepted in a table */
#define FLAGS_WIDTH 100    /* usage text width */
#define FLAGS_LEFT_MAX 32  /* widest left column before help moves to its own line */

struct flags_unit {
    const char *suffix;
    uint64_t mult;
};

#define NS_PER_SEC 1000000000ULL
#define NS_PER_MS 1000000ULL

static const struct flags_unit flags_duration_units[] = {
    {"ns", 1ULL},
    {"us", 1000ULL},
    {"ms", NS_PER_MS},
    {"secs", NS_PER_SEC},
    {"sec", NS_PER_SEC},
    {"s", NS_PER_SEC},
    {"mins", 60 * NS_PER_SEC},
    {"min", 60 * NS_PER_SEC},
    {"m", 60 * NS_PER_SEC},
    {"hrs", 3600 * NS_PER_SEC},
    {"hr", 3600 * NS_PER_SEC},
    {"h", 3600 * NS_PER_SEC},
    {"days", 86400 * NS_PER_SEC},
    {"day", 86400 * NS_PER_SEC},
    {"d", 86400 * NS_PER_SEC},
    {"weeks", 604800 * NS_PER_SEC},
    {"week", 604800 * NS_PER_SEC},
    {"w", 604800 * NS_PER_SEC},
    {NULL, 0},
};

static const struct flags_unit flags_bytes_units[] = {
    {"", 1ULL},         {"B", 1ULL},        {"KB", 1ULL << 10}, {"MB", 1ULL << 20},
    {"GB", 1ULL << 30}, {"TB", 1ULL << 40}, {"PB", 1ULL << 50}, {NULL, 0},
};

/* Largest unit first; used to print values exactly. */
static const struct flags_unit flags_duration_out[] = {
    {"weeks", 604800000ULL}, {"days", 86400000ULL}, {"hrs", 3600000ULL},
    {"mins", 60000ULL},      {"secs", 1000ULL},     {NULL, 0},
};

static const struct flags_unit flags_bytes_out[] = {
    {"PB", 1ULL << 50}, {"TB", 1ULL << 40}, {"GB", 1ULL << 30},
    {"MB", 1ULL << 20}, {"KB", 1ULL << 10}, {NULL, 0},
};

const char flags_required[] = "(required)";

enum flags_origin { FLAGS_FROM_DEFAULT, FLAGS_FROM_ENV, FLAGS_FROM_ARGV };

/*
 * Parses "<digits>[.<digits>]" (the first `n` bytes of `s`) times `mult` into
 * an exact integer. Returns 0, -AG_EINVAL for bad syntax or an inexact result,
 * -AG_ERANGE when the result exceeds INT64_MAX units.
 */
static int
flags_scaled(const char *s, size_t n, uint64_t mult, unsigned __int128 *out)
{
    unsigned __int128 ip = 0, fp = 0, fden = 1;
    size_t i = 0;
    bool digits = false;

    for (; i < n && isdigit((unsigned char)s[i]); i++) {
        ip = ip * 10 + (unsigned)(s[i] - '0');
        if (ip > INT64_MAX)
            return -AG_ERANGE; /* also keeps ip * mult within 128 bits */
        digits = true;
    }
    if (i < n && s[i] == '.') {
        i++;
        if (i == n || !isdigit((unsigned char)s[i]))
            return -AG_EINVAL;
        for (; i < n && isdigit((unsigned char)s[i]); i++) {
            if (fden >= 1000000000000000000ULL)
                return -AG_EINVAL; /* more precision than any unit needs */
            fp = fp * 10 + (unsigned)(s[i] - '0');
            fden *= 10;
            digits = true;
        }
    }
    if (!digits || i != n)
        return -AG_EINVAL;
    if (fp * mult % fden != 0)
        return -AG_EINVAL;
    *out = ip * mult + fp * mult / fden;
    return 0;
}

static const struct flags_unit *
flags_find_unit(const struct flags_unit *units, const char *suffix)
{
    for (const struct flags_unit *u = units; u->suffix != NULL; u++) {
        if (strcasecmp(u->suffix, suffix) == 0)
            return u;
    }
    return NULL;
}

/*
 * Parses a number followed by one of `units` into the number times the unit,
 * exactly. Returns 0, -AG_EINVAL (no such unit, not a number, or not a whole
 * multiple of the smallest unit) or -AG_ERANGE (negative).
 */
static int
flags_parse_units(const char *text, const struct flags_unit *units, unsigned __int128 *out)
{
    const struct flags_unit *u;
    size_t n;

    if (text == NULL || text[0] == '\0')
        return -AG_EINVAL;
    if (text[0] == '-')
        return -AG_ERANGE;
    n = strspn(text, "0123456789.");
    u = flags_find_unit(units, text + n);
    if (u == NULL)
        return -AG_EINVAL;
    return flags_scaled(text, n, u->mult, out);
}

int
flags_parse_duration(const char *text, int64_t *ms)
{
    unsigned __int128 ns;
    int rc;

    if (text != NULL && strcmp(text, "0") == 0) {
        *ms = 0; /* zero needs no unit ("0" turns a period off) */
        return 0;
    }
    rc = flags_parse_units(text, flags_duration_units, &ns);
    if (rc != 0)
        return rc;
    if (ns % NS_PER_MS != 0)
        return -AG_EINVAL;
    if (ns / NS_PER_MS > INT64_MAX)
        return -AG_ERANGE;
    *ms = (int64_t)(ns / NS_PER_MS);
    return 0;
}

int
flags_parse_bytes(const char *text, int64_t *bytes)
{
    unsigned __int128 v;
    int rc;

    rc = flags_parse_units(text, flags_bytes_units, &v);
    if (rc != 0)
        return rc;
    if (v > INT64_MAX)
        return -AG_ERANGE;
    *bytes = (int64_t)v;
    return 0;
}

static size_t
flags_format_units(int64_t v, const struct flags_unit *units, const char *base, char *buf,
                   size_t len)
{
    int n;

    for (const struct flags_unit *u = units; v != 0 && u->suffix != NULL; u++) {
        if (v % (int64_t)u->mult == 0) {
            n = snprintf(buf, len, "%lld%s", (long long)(v / (int64_t)u->mult), u->suffix);
            return n < 0 ? 0 : (size_t)n;
        }
    }
    n = snprintf(buf, len, "%lld%s", (long long)v, base);
    return n < 0 ? 0 : (size_t)n;
}

size_t
flags_format_duration(int64_t ms, char *buf, size_t len)
{
    return flags_format_units(ms, flags_duration_out, "ms", buf, len);
}

size_t
flags_format_bytes(int64_t bytes, char *buf, size_t len)
{
    return flags_format_units(bytes, flags_bytes_out, "B", buf, len);
}

static int
flags_parse_bool(const char *text, bool *out)
{
    if (strcasecmp(text, "true") == 0 || strcasecmp(text, "yes") == 0 || strcmp(text, "1") == 0)
        *out = true;
    else if (strcasecmp(text, "false") == 0 || strcasecmp(text, "no") == 0 ||
             strcmp(text, "0") == 0)
        *out = false;
    else
        return -AG_EINVAL;
    return 0;
}

/* Shortest "%g" text that reads back as the same double. */
static void
flags_format_double(double v, char *buf, size_t len)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static const char *
flags_expected(enum flag_type type)
{
    switch (type) {
    case FLAG_INT64:
        return "a whole number";
    case FLAG_DOUBLE:
        return "a number such as 0.5";
    case FLAG_BOOL:
        return "true or false";
    case FLAG_DURATION:
        return "a duration such as 500ms, 15secs, 10mins or 2hrs (whole milliseconds)";
    case FLAG_BYTES:
        return "a size such as 4096, 512MB or 1GB (whole bytes)";
    case FLAG_STRING:
        break;
    }
    return "text";
}

static const char *
flags_placeholder(enum flag_type type)
{
    switch (type) {
    case FLAG_INT64:
        return "INT";
    case FLAG_DOUBLE:
        return "NUMBER";
    case FLAG_BOOL:
        return "BOOL";
    case FLAG_DURATION:
        return "DURATION";
    case FLAG_BYTES:
        return "BYTES";
    case FLAG_STRING:
        break;
    }
    return "VALUE";
}

/* AGORA_<NAME> for flag `name` (names are checked to fit by flags_check). */
static void
flags_env_name(const char *name, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "AGORA_");

    for (; *name != '\0' && o + 1 < len; name++)
        buf[o++] = *name == '-' ? '_' : (char)toupper((unsigned char)*name);
    buf[o] = '\0';
}

/* Parses `text` into the storage of `f`; on failure the storage is unchanged
 * and `err` says which flag, which value and what was expected. */
static int
flags_set(const struct flag *f, const char *text, enum flags_origin origin, char *err,
          size_t errlen)
{
    char env[FLAGS_NAME_MAX + 16];
    char *end, *copy;
    long long ll;
    double d;
    bool b;
    int64_t v;
    int rc = 0;

    switch (f->type) {
    case FLAG_STRING:
        copy = strdup(text);
        if (copy == NULL) {
            ag_errf(err, errlen, "out of memory");
            return -AG_ENOMEM;
        }
        free(*(char **)f->value);
        *(char **)f->value = copy;
        return 0;
    case FLAG_INT64:
        errno = 0;
        ll = strtoll(text, &end, 10);
        if (!(isdigit((unsigned char)text[0]) || text[0] == '-' || text[0] == '+') ||
            *end != '\0' || errno != 0)
            rc = -AG_EINVAL;
        else
            *(int64_t *)f->value = ll;
        break;
    case FLAG_DOUBLE:
        errno = 0;
        d = strtod(text, &end);
        if (text[0] == '\0' || isspace((unsigned char)text[0]) || *end != '\0' || errno != 0 ||
            !isfinite(d))
            rc = -AG_EINVAL;
        else
            *(double *)f->value = d;
        break;
    case FLAG_BOOL:
        rc = flags_parse_bool(text, &b);
        if (rc == 0)
            *(bool *)f->value = b;
        break;
    case FLAG_DURATION:
        rc = flags_parse_duration(text, &v);
        if (rc == 0)
            *(int64_t *)f->value = v;
        break;
    case FLAG_BYTES:
        rc = flags_parse_bytes(text, &v);
        if (rc == 0)
            *(int64_t *)f->value = v;
        break;
    }
    if (rc == 0)
        return 0;
    switch (origin) {
    case FLAGS_FROM_DEFAULT:
        ag_errf(err, errlen, "invalid default '%s' for flag '--%s': expected %s", text, f->name,
                  flags_expected(f->type));
        break;
    case FLAGS_FROM_ENV:
        flags_env_name(f->name, env, sizeof(env));
        ag_errf(err, errlen,
                  "invalid value '%s' in environment variable %s for flag '--%s': expected %s",
                  text, env, f->name, flags_expected(f->type));
        break;
    case FLAGS_FROM_ARGV:
        ag_errf(err, errlen, "invalid value '%s' for flag '--%s': expected %s", text, f->name,
                  flags_expected(f->type));
        break;
    }
    return -AG_EINVAL;
}

/* True when the first `n` bytes of `s` name flag `name` ('-' equals '_'). */
static bool
flags_name_eq(const char *name, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char a = name[i] == '-' ? '_' : name[i];
        char b = s[i] == '-' ? '_' : s[i];
        if (a == '\0' || a != b)
            return false;
    }
    return name[n] == '\0';
}

static const struct flag *
flags_find(const struct flag *table, const char *s, size_t n)
{
    for (const struct flag *f = table; f->name != NULL; f++) {
        if (flags_name_eq(f->name, s, n))
            return f;
    }
    return NULL;
}

/* Checks the table itself (a programming error, reported like a bad flag). */
static int
flags_check(const struct flag *table, size_t *count, char *err, size_t errlen)
{
    size_t n = 0;

    for (const struct flag *f = table; f->name != NULL; f++, n++) {
        size_t len = strlen(f->name);
        if (len == 0 || len > FLAGS_NAME_MAX ||
            strspn(f->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
                len ||
            f->value == NULL || f->type > FLAG_BYTES || flags_name_eq(f->name, "help", 4)) {
            ag_errf(err, errlen, "bad flag table entry '%s'", f->name);
            return -AG_EINVAL;
        }
        if (flags_find(table, f->name, len) != f) {
            ag_errf(err, errlen, "flag '--%s' declared twice", f->name);
            return -AG_EINVAL;
        }
    }
    *count = n;
    return 0;
}

/* An argument that is not a flag: "-", anything without a leading '-', and
 * negative numbers. */
static bool
flags_is_positional(const char *a)
{
    return a[0] != '-' || a[1] == '\0' || isdigit((unsigned char)a[1]) || a[1] == '.';
}

static bool
flags_is_help(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

/* Handles one argument that starts with "--" (not "--" itself). */
static int
flags_one(const struct flag *table, const char *a, bool *seen, char *err, size_t errlen)
{
    const char *body = a + 2, *eq = strchr(body, '=');
    size_t n = eq != NULL ? (size_t)(eq - body) : strlen(body);
    const struct flag *f = n > 0 ? flags_find(table, body, n) : NULL;
    bool neg = false;

    if (f == NULL && n > 3 && (strncmp(body, "no-", 3) == 0 || strncmp(body, "no_", 3) == 0)) {
        f = flags_find(table, body + 3, n - 3);
        if (f != NULL && f->type != FLAG_BOOL)
            f = NULL;
        neg = f != NULL;
    }
    if (f == NULL) {
        ag_errf(err, errlen, "unknown flag '--%.*s'; see --help", (int)n, body);
        return -AG_EINVAL;
    }
    if (seen[f - table]) {
        ag_errf(err, errlen, "flag '--%s' given more than once", f->name);
        return -AG_EINVAL;
    }
    seen[f - table] = true;
    if (neg) {
        if (eq != NULL) {
            ag_errf(err, errlen, "flag '--%.*s' takes no value", (int)n, body);
            return -AG_EINVAL;
        }
        *(bool *)f->value = false;
        return 0;
    }
    if (eq == NULL) {
        if (f->type == FLAG_BOOL) {
            *(bool *)f->value = true;
            return 0;
        }
        ag_errf(err, errlen, "flag '--%s' needs a value: --%s=%s", f->name, f->name,
                  flags_placeholder(f->type));
        return -AG_EINVAL;
    }
    return flags_set(f, eq + 1, FLAGS_FROM_ARGV, err, errlen);
}

int
flags_parse(const struct flag *table, int *argc, char **argv, char *err, size_t errlen)
{
    char env[FLAGS_NAME_MAX + 16];
    bool help = false, ended = false;
    bool *seen = NULL;
    size_t n;
    int i, j = 1, rc;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (table == NULL || argc == NULL || *argc < 1 || argv == NULL) {
        ag_errf(err, errlen, "no flag table or arguments");
        return -AG_EINVAL;
    }
    rc = flags_check(table, &n, err, errlen);
    if (rc != 0)
        return rc;
    for (i = 1; i < *argc && strcmp(argv[i], "--") != 0; i++)
        help = help || flags_is_help(argv[i]);

    seen = calloc(n + 1, sizeof(*seen));
    if (seen == NULL) {
        ag_errf(err, errlen, "out of memory");
        return -AG_ENOMEM;
    }
    for (size_t k = 0; k < n && !help; k++) {
        if (table[k].def != NULL && table[k].def != FLAG_REQUIRED) {
            rc = flags_set(&table[k], table[k].def, FLAGS_FROM_DEFAULT, err, errlen);
            if (rc != 0)
                goto out;
        }
    }
    for (i = 1; i < *argc; i++) {
        const char *a = argv[i];
        if (ended || flags_is_positional(a)) {
            argv[j++] = argv[i];
        } else if (strcmp(a, "--") == 0) {
            ended = true;
        } else if (help) {
            continue; /* flags are not applied when help is asked for */
        } else if (a[1] != '-') {
            ag_errf(err, errlen, "unknown flag '%s'; flags start with two dashes, see --help", a);
            rc = -AG_EINVAL;
            goto out;
        } else {
            rc = flags_one(table, a, seen, err, errlen);
            if (rc != 0)
                goto out;
        }
    }
    if (j < *argc)
        argv[j] = NULL;
    *argc = j;
    if (help) {
        rc = FLAGS_HELP;
        goto out;
    }
    for (size_t k = 0; k < n; k++) {
        const char *v;
        if (seen[k])
            continue;
        flags_env_name(table[k].name, env, sizeof(env));
        v = getenv(env);
        if (v != NULL) {
            rc = flags_set(&table[k], v, FLAGS_FROM_ENV, err, errlen);
            if (rc != 0)
                goto out;
            seen[k] = true;
        }
    }
    for (size_t k = 0; k < n; k++) {
        if (table[k].def == FLAG_REQUIRED && !seen[k]) {
            ag_errf(err, errlen, "missing required flag '--%s=%s'; see --help", table[k].name,
                      flags_placeholder(table[k].type));
            rc = -AG_EINVAL;
            goto out;
        }
    }
    rc = 0;
out:
    free(seen);
    return rc;
}

void
flags_free(const struct flag *table)
{
    if (table == NULL)
        return;
    for (const struct flag *f = table; f->name != NULL; f++) {
        if (f->type == FLAG_STRING && f->value != NULL) {
            free(*(char **)f->value);
            *(char **)f->value = NULL;
        }
    }
}

/* Prints `text` word by word, wrapping at FLAGS_WIDTH; continuation lines
 * start at column `indent`; the cursor is at column `col` on entry. A '\n' in
 * `text` starts a new line. */
static void
flags_wrap(FILE *f, const char *text, size_t indent, size_t col)
{
    bool first = true;

    while (*text != '\0') {
        size_t w;
        if (*text == ' ') {
            text++;
            continue;
        }
        if (*text == '\n') {
            fprintf(f, "\n%*s", (int)indent, "");
            col = indent;
            first = true;
            text++;
            continue;
        }
        w = strcspn(text, " \n");
        if (!first && col + 1 + w > FLAGS_WIDTH) {
            fprintf(f, "\n%*s", (int)indent, "");
            col = indent;
            first = true;
        }
        if (!first) {
            fputc(' ', f);
            col++;
        }
        fwrite(text, 1, w, f);
        col += w;
        text += w;
        first = false;
    }
    fputc('\n', f);
}

static void
flags_left(const struct flag *fl, char *buf, size_t len)
{
    if (fl->type == FLAG_BOOL)
        snprintf(buf, len, "--[no-]%s", fl->name);
    else
        snprintf(buf, len, "--%s=%s", fl->name, flags_placeholder(fl->type));
}

static void
flags_entry(FILE *f, const char *left, const char *help, size_t width)
{
    size_t len = strlen(left);

    fprintf(f, "  %s", left);
    if (len > width)
        fprintf(f, "\n%*s", (int)(width + 4), "");
    else
        fprintf(f, "%*s", (int)(width - len + 2), "");
    flags_wrap(f, help, width + 4, width + 4);
}

void
flags_usage(const struct flag *table, const char *prog, const char *summary, FILE *f)
{
    char left[FLAGS_NAME_MAX + 32], env[FLAGS_NAME_MAX + 16];
    size_t width = strlen("--help");

    fprintf(f, "Usage: %s [flags]\n", prog != NULL ? prog : "agora");
    if (summary != NULL && summary[0] != '\0') {
        fputc('\n', f);
        flags_wrap(f, summary, 0, 0);
    }
    fprintf(f, "\nFlags:\n");
    for (const struct flag *fl = table; fl != NULL && fl->name != NULL; fl++) {
        flags_left(fl, left, sizeof(left));
        if (strlen(left) <= FLAGS_LEFT_MAX && strlen(left) > width)
            width = strlen(left);
    }
    for (const struct flag *fl = table; fl != NULL && fl->name != NULL; fl++) {
        const char *help = fl->help != NULL ? fl->help : "";
        char *text = NULL;
        int k;
        flags_left(fl, left, sizeof(left));
        if (fl->def == FLAG_REQUIRED)
            k = asprintf(&text, "%s (required)", help);
        else if (fl->def != NULL && fl->def[0] != '\0')
            k = asprintf(&text, "%s (default: %s)", help, fl->def);
        else
            k = asprintf(&text, "%s", help);
        flags_entry(f, left, k < 0 ? help : text, width);
        if (k >= 0)
            free(text);
    }
    flags_entry(f, "--help", "Print this help and exit.", width);
    if (table != NULL && table[0].name != NULL) {
        flags_env_name(table[0].name, env, sizeof(env));
        fputc('\n', f);
        fprintf(f,
                "Each flag may also be set through the environment as AGORA_<NAME> (e.g. %s);\n"
                "the command line wins.\n",
                env);
    }
}

json_t *
flags_to_json(const struct flag *table)
{
    json_t *obj = json_object();
    char buf[64];

    if (obj == NULL)
        return NULL;
    for (const struct flag *f = table; f != NULL && f->name != NULL; f++) {
        const char *text = buf;
        json_t *v;
        switch (f->type) {
        case FLAG_STRING:
            text = *(char **)f->value;
            break;
        case FLAG_INT64:
            snprintf(buf, sizeof(buf), "%lld", (long long)*(int64_t *)f->value);
            break;
        case FLAG_DOUBLE:
            flags_format_double(*(double *)f->value, buf, sizeof(buf));
            break;
        case FLAG_BOOL:
            text = *(bool *)f->value ? "true" : "false";
            break;
        case FLAG_DURATION:
            flags_format_duration(*(int64_t *)f->value, buf, sizeof(buf));
            break;
        case FLAG_BYTES:
            flags_format_bytes(*(int64_t *)f->value, buf, sizeof(buf));
            break;
        }
        if (text == NULL)
            continue;
        if (f->type == FLAG_STRING && strstr(text, "://") != NULL) {
            /* A URI's password is never shown (a database URI's, e.g.). */
            size_t n = txt_redact_uri(text, NULL, 0);
            char *safe = malloc(n + 1);

            if (safe == NULL) {
                json_decref(obj);
                return NULL;
            }
            txt_redact_uri(text, safe, n + 1);
            v = json_string(safe);
            free(safe);
        } else {
            v = json_string(text);
        }
        if (v == NULL) /* not UTF-8: show it, replaced, rather than drop it */
            v = json_string("(not valid UTF-8)");
        if (v == NULL || json_object_set_new(obj, f->name, v) != 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}
