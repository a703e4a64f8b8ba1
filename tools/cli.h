/*
 * What every `agora` command shares (the CLI's conventions): the common flags
 * (--master, $AGORA_MASTER, default 127.0.0.1:5050; --services; --json;
 * --principal and --secret_file, --tls_ca, --tls_cert, --tls_key and
 * --tls_required, which cli_parse adds to every command; https:// servers,
 * or any server given as HOST:PORT with --tls_ca, are reached over TLS),
 * flag parsing with help, the HTTP client (base URLs, requests, JSON answers,
 * error messages), URL encoding, aligned tables and number formatting.
 *
 * Output: results on stdout, diagnostics on stderr, each prefixed "agora: ".
 * Exit statuses: CLI_OK (0) success; CLI_FAIL (1) the operation failed or a
 * server could not be reached; CLI_USAGE (2) bad command line.
 */
#ifndef AGORA_CLI_HELPERS_H
#define AGORA_CLI_HELPERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "flags.h"
#include "tls.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

#define CLI_DEFAULT_MASTER "127.0.0.1:5050"
#define CLI_DEFAULT_SERVICES "127.0.0.1:8080"

/* Options every command understands; filled by cli_parse. */
struct cli_opts {
    char *master;   /* HOST:PORT of the master */
    char *services; /* HOST:PORT of agora-services */
    bool json;      /* machine-readable output */
    char *principal;   /* HTTP Basic credentials sent with every request, or NULL */
    char *secret_file; /* file holding the principal's secret */
    struct tls_flags tls; /* --tls_ca, --tls_cert, --tls_key, --tls_required */
};
extern struct cli_opts cli_opt;

/* The entries of cli_opt, to put at the start of a command's flag table. */
#define CLI_FLAG_MASTER                                                                            \
    {                                                                                              \
        "master", FLAG_STRING, &cli_opt.master, CLI_DEFAULT_MASTER,                                \
            "The master, [https://]HOST:PORT (environment: AGORA_MASTER)."                                 \
    }
#define CLI_FLAG_SERVICES                                                                          \
    {                                                                                              \
        "services", FLAG_STRING, &cli_opt.services, CLI_DEFAULT_SERVICES,                          \
            "agora-services (the Marathon API), HOST:PORT (environment: AGORA_SERVICES)."          \
    }
#define CLI_FLAG_JSON                                                                              \
    {                                                                                              \
        "json", FLAG_BOOL, &cli_opt.json, "false",                                                 \
            "Print JSON (the endpoint's objects, unchanged) instead of a table."                   \
    }

/* A command's help: `usage` is one or more synopsis lines (without "agora "),
 * `text` the explanation; the flags of `table` follow. */
struct cli_help {
    const char *usage;
    const char *text;
};

/*
 * Parses argv (argv[0] names the command) against `table` and the
 * credentials flags (--principal, --secret_file; $AGORA_PRINCIPAL,
 * $AGORA_SECRET_FILE), leaving the positional arguments in argv[1 .. *argc -
 * 1]. With a principal, reads its secret and makes every later request send
 * it (HTTP Basic). Returns CLI_OK; CLI_USAGE after printing the problem; or -1
 * when --help was given and the help was printed (the command then returns
 * CLI_OK).
 */
int cli_parse(const struct flag *table, const struct cli_help *help, int *argc, char **argv);

/* Prints the help of a command to `f`. */
void cli_print_help(const struct flag *table, const struct cli_help *help, FILE *f);

/* Prints "agora: <message>" and a newline to stderr; returns CLI_FAIL. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* As cli_error, returns CLI_USAGE and adds a hint to run `agora help CMD`. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Base URLs ("http://HOST:PORT") from cli_opt.master / cli_opt.services (a
 * zk:// master: the leader ZooKeeper names now). Return 0, or print the
 * problem and return CLI_USAGE (CLI_FAIL: no leader found). */
int cli_master_url(char *buf, size_t len);
int cli_services_url(char *buf, size_t len);

/*
 * Performs METHOD base+path with an optional JSON body (borrowed) and parses
 * the answer. `what` names the server in messages ("the master"). Returns 0
 * with *status and *out (a new reference, or NULL when the body is empty or
 * not JSON); otherwise prints why the server could not be reached (unless
 * `what` is NULL: polling loops retry quietly) and returns CLI_FAIL. A 401
 * answer prints which flags or variables give credentials (once per process)
 * and returns CLI_FAIL.
 * `timeout_ms` <= 0 means 10 s.
 */
int cli_request(const char *method, const char *base, const char *path, json_t *body,
                const char *what, int timeout_ms, int *status, json_t **out);

/*
 * GET base+path that must answer 200 with JSON. Returns 0 and *out (new
 * reference), or prints the problem ("GET URL: 404 message") and returns
 * CLI_FAIL.
 */
int cli_get_json(const char *base, const char *path, const char *what, json_t **out);

/* As cli_get_json, waiting up to `timeout_ms` (<= 0: 10 s) for the answer. */
int cli_get_json_timeout(const char *base, const char *path, const char *what, int timeout_ms,
                         json_t **out);

/* The number at a dotted path of `o` ("cpus.allocated"), 0 when absent or not
 * a number; the string at key `key`, "" when absent or not a string. */
double cli_json_num(json_t *o, const char *path);
const char *cli_json_str(json_t *o, const char *key);

/* The "message" of an error body (and its "details", Marathon style) or "". */
void cli_body_message(json_t *body, char *buf, size_t len);

/* Prints `v` as indented JSON and a newline on stdout. */
void cli_print_json(json_t *v);

/* Percent-encodes `s` for a query string value or a path (keeping '/' when
 * `keep_slash`). Returns 0 or -1 when `buf` is too small. */
int cli_urlencode(const char *s, bool keep_slash, char *buf, size_t len);

/* Formats a scalar (cpus, "0.5"; no trailing zeros) and an amount of MiB
 * ("512M", "3.9G"). */
void cli_fmt_num(double v, char *buf, size_t len);
void cli_fmt_mib(double mib, char *buf, size_t len);

/* Formats `v` with `dec` decimals and thousands separators ("1,234,567.9");
 * a percentage a/b ("42.0%", "-" when b <= 0); a byte count ("512 B",
 * "3.9 GiB"). Each returns `buf`. */
char *cli_fmt_grouped(double v, int dec, char *buf, size_t len);
char *cli_fmt_pct(double a, double b, char *buf, size_t len);
char *cli_fmt_bytes(double b, char *buf, size_t len);

/* Seconds since the epoch as "2025-01-31 12:00:00" (local time). */
void cli_fmt_time(double secs, char *buf, size_t len);

/* The directory holding this executable (for the daemons installed beside it). */
int cli_bin_dir(char *buf, size_t len);

/* Monotonic milliseconds. */
int64_t cli_now_ms(void);

/* Sleeps `ms` milliseconds; returns early (false) once cli_interrupted is set. */
bool cli_sleep_ms(int64_t ms);

/* Set by SIGINT/SIGTERM once cli_catch_signals was called. */
extern volatile int cli_interrupted;
void cli_catch_signals(void);

/* ---- tables ---- */

struct cli_table {
    size_t ncols, nrows, cap;
    char **cells;     /* row-major, the header first */
    uint64_t right;   /* bit c set: column c is right-aligned (numbers) */
    bool blank_empty; /* print NULL and "" cells blank instead of "-" */
};

/* Starts a table with the given header (NULL-terminated list; columns past
 * the 64th are left-aligned); set `right` and `blank_empty` after if needed.
 * A table without a header: a zeroed struct with ncols (and `right`,
 * `blank_empty`) set, then cli_table_add. */
void cli_table_init(struct cli_table *t, const char *const *header);
/* Adds a row of t->ncols strings (copied; NULL and "" print as "-" unless
 * blank_empty). */
void cli_table_add(struct cli_table *t, const char *const *row);
/* Prints the table aligned to `f` (NULL: nothing), two spaces between columns
 * and none at the ends of lines, and releases it. */
void cli_table_print(struct cli_table *t, FILE *f);

#endif
