/*
 * The helpers every `agora` command shares (cli.h).
 */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "detector.h"
#include "error.h"
#include "http.h"

struct cli_opts cli_opt;
volatile int cli_interrupted;

/* ---- helpers ---- */

int
cli_error(const char *fmt, ...)
{
    va_list ap;

    fputs("agora: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_FAIL;
}

int
cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fputs("agora: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nRun 'agora help%s%s' for usage.\n", cmd ? " " : "", cmd ? cmd : "");
    return CLI_USAGE;
}

void
cli_print_help(const struct flag *table, const struct cli_help *help, FILE *f)
{
    char *buf = NULL, *flags_part;
    size_t len = 0;
    FILE *mem;
    const char *line = help->usage;

    /* Every synopsis line gets the "agora " prefix. */
    fputs("Usage:\n", f);
    while (*line != '\0') {
        size_t n = strcspn(line, "\n");
        fprintf(f, "  agora %.*s\n", (int)n, line);
        line += n;
        if (*line == '\n')
            line++;
    }
    if (help->text != NULL && help->text[0] != '\0')
        fprintf(f, "\n%s\n", help->text);
    /* flags_usage prints its own "Usage:" line first; keep what follows it. */
    mem = open_memstream(&buf, &len);
    if (mem == NULL)
        return;
    flags_usage(table, "agora", NULL, mem);
    fclose(mem);
    flags_part = buf != NULL ? strstr(buf, "\nFlags:") : NULL;
    if (flags_part != NULL)
        fputs(flags_part, f);
    free(buf);
}

/* The flags cli_parse adds to every command's table. */
static const struct flag auth_flags[] = {
    {"principal", FLAG_STRING, &cli_opt.principal, NULL,
     "Principal to authenticate as to the master, agents and agora-services (HTTP Basic; "
     "environment: AGORA_PRINCIPAL)."},
    {"secret_file", FLAG_STRING, &cli_opt.secret_file, NULL,
     "File holding the principal's secret (one line; environment: AGORA_SECRET_FILE)."},
    {"tls_ca", FLAG_STRING, &cli_opt.tls.ca, NULL,
     "PEM CA certificates the servers' certificates are verified against; with it, HOST:PORT "
     "servers are reached over https:// (default for https:// ones: the system's CAs)."},
    {"tls_cert", FLAG_STRING, &cli_opt.tls.cert, NULL,
     "PEM client certificate sent to servers that require one (--tls_verify_peer)."},
    {"tls_key", FLAG_STRING, &cli_opt.tls.key, NULL, "PEM private key of --tls_cert."},
    {"tls_required", FLAG_BOOL, &cli_opt.tls.required, "false",
     "Never talk to a server in clear text: HOST:PORT and http:// servers are refused."},
};

/* Hands the TLS flags to the HTTP client, the files checked. */
static int
tls_setup(const char *cmd)
{
    char err[512];

    if (http_client_tls(&cli_opt.tls, err, sizeof(err)) != 0)
        return cli_usage_error(cmd, "%s", err);
    return CLI_OK;
}

/* Reads the secret of --secret_file and hands the credentials to the HTTP client. */
static int
auth_setup(const char *cmd)
{
    char secret[512];
    size_t n;
    FILE *f;
    int rc;

    if (cli_opt.principal == NULL || cli_opt.principal[0] == '\0') {
        if (cli_opt.secret_file != NULL && cli_opt.secret_file[0] != '\0')
            return cli_usage_error(cmd, "--secret_file needs --principal (or $AGORA_PRINCIPAL)");
        return CLI_OK;
    }
    if (cli_opt.secret_file == NULL || cli_opt.secret_file[0] == '\0')
        return cli_usage_error(cmd, "--principal needs --secret_file=FILE (or $AGORA_SECRET_FILE)");
    if ((f = fopen(cli_opt.secret_file, "r")) == NULL)
        return cli_usage_error(cmd, "cannot read --secret_file=%s: %s", cli_opt.secret_file,
                               strerror(errno));
    n = fread(secret, 1, sizeof(secret) - 1, f);
    fclose(f);
    secret[n] = '\0';
    secret[strcspn(secret, "\r\n")] = '\0'; /* the first line */
    rc = http_client_auth(cli_opt.principal, secret);
    memset(secret, 0, sizeof(secret));
    if (rc != 0)
        return cli_usage_error(cmd, "bad credentials for --principal=%s: %s", cli_opt.principal,
                               rc == -AG_EINVAL ? "a principal holds no ':', and principal and "
                                                  "secret are under 500 characters"
                                                : ag_strerror(rc));
    return CLI_OK;
}

int
cli_parse(const struct flag *table, const struct cli_help *help, int *argc, char **argv)
{
    static struct flag *all;
    const size_t nauth = sizeof(auth_flags) / sizeof(auth_flags[0]);
    const char *cmd = argv[0];
    char err[512];
    size_t n = 0;
    int rc;

    if (strncmp(cmd, "agora ", 6) == 0)
        cmd += 6;
    while (table[n].name != NULL)
        n++;
    free(all);
    if ((all = calloc(n + nauth + 1, sizeof(*all))) == NULL)
        return cli_error("out of memory");
    memcpy(all, table, n * sizeof(*all));
    memcpy(all + n, auth_flags, sizeof(auth_flags));
    rc = flags_parse(all, argc, argv, err, sizeof(err));
    if (rc == FLAGS_HELP) {
        cli_print_help(all, help, stdout);
        return -1;
    }
    if (rc != 0)
        return cli_usage_error(cmd, "%s", err);
    if ((rc = auth_setup(cmd)) != CLI_OK)
        return rc;
    return tls_setup(cmd);
}

static int
base_url(const char *spec, int default_port, const char *flag, char *buf, size_t len)
{
    struct detector_master m;
    char err[256], tmp[512];
    const char *p = spec;
    int tls = -1; /* -1: no scheme given */

    if (strncmp(p, "http://", 7) == 0) {
        p += 7;
        tls = 0;
    } else if (strncmp(p, "https://", 8) == 0) {
        p += 8;
        tls = 1;
    }
    if (tls == -1)
        tls = tls_client_wanted(&cli_opt.tls);
    if (!tls && cli_opt.tls.required) {
        fprintf(stderr, "agora: --%s \"%s\" is not https:// and --tls_required is given\n", flag,
                spec);
        return CLI_USAGE;
    }
    /* The detector defaults the port to 5050; other servers have their own default. */
    if (strchr(p, ':') == NULL && default_port != DETECTOR_DEFAULT_PORT) {
        snprintf(tmp, sizeof(tmp), "%s:%d", p, default_port);
        p = tmp;
    }
    if (detector_follows(p)) {
        /* The leading master, asked of ZooKeeper once. */
        if (detector_lookup(p, 5000, &m, err, sizeof(err)) != 0) {
            fprintf(stderr, "agora: cannot find the leading master of --%s \"%s\": %s\n", flag,
                    spec, err);
            return CLI_FAIL;
        }
    } else if (detector_resolve(p, &m, err, sizeof(err)) != 0) {
        fprintf(stderr, "agora: bad --%s \"%s\": %s\n", flag, spec, err);
        return CLI_USAGE;
    }
    detector_set_tls(&m, tls);
    snprintf(buf, len, "%s", m.http_url);
    return 0;
}

int
cli_master_url(char *buf, size_t len)
{
    return base_url(cli_opt.master ? cli_opt.master : CLI_DEFAULT_MASTER, DETECTOR_DEFAULT_PORT,
                    "master", buf, len);
}

int
cli_services_url(char *buf, size_t len)
{
    return base_url(cli_opt.services ? cli_opt.services : CLI_DEFAULT_SERVICES, 8080, "services",
                    buf, len);
}

int
cli_request(const char *method, const char *base, const char *path, json_t *body, const char *what,
            int timeout_ms, int *status, json_t **out)
{
    char url[4096], *resp = NULL, *data = NULL;
    size_t resp_len = 0;
    int rv;

    *out = NULL;
    snprintf(url, sizeof(url), "%s%s", base, path);
    if (body != NULL && (data = json_dumps(body, JSON_COMPACT)) == NULL)
        return cli_error("out of memory");
    rv = http_request(method, url, data ? "application/json" : NULL, data, data ? strlen(data) : 0,
                      timeout_ms, status, &resp, &resp_len);
    free(data);
    if (rv != 0 && what == NULL)
        return CLI_FAIL;
    if ((rv == -AG_ECLOSED || rv == -AG_EIO) && strncmp(base, "https://", 8) == 0)
        return cli_error("cannot reach %s at %s (%s): is it running, and do --tls_ca (and "
                         "--tls_cert/--tls_key, for --tls_verify_peer) match its certificate?",
                         what, base, rv == -AG_ECLOSED ? "refused or TLS handshake failed"
                                                       : ag_strerror(rv));
    if (rv == -AG_ECLOSED || rv == -AG_EIO)
        return cli_error("cannot reach %s at %s (%s): is it running?", what, base,
                         rv == -AG_ECLOSED ? "connection refused" : ag_strerror(rv));
    if (rv != 0)
        return cli_error("%s %s: %s", method, url, ag_strerror(rv));
    if (*status == 401) {
        static bool told;

        free(resp);
        if (!told)
            cli_error("%s %s: 401 Unauthorized: %s", method, url,
                      cli_opt.principal != NULL && cli_opt.principal[0] != '\0'
                          ? "the server refused the credentials of --principal (check it and "
                            "--secret_file, or $AGORA_PRINCIPAL and $AGORA_SECRET_FILE)"
                          : "the server requires authentication: give --principal=NAME and "
                            "--secret_file=FILE (or set $AGORA_PRINCIPAL and "
                            "$AGORA_SECRET_FILE)");
        told = true;
        return CLI_FAIL;
    }
    if (resp_len > 0)
        *out = json_loadb(resp, resp_len, 0, NULL);
    free(resp);
    return 0;
}

void
cli_body_message(json_t *body, char *buf, size_t len)
{
    const char *msg = json_string_value(json_object_get(body, "message"));
    json_t *details = json_object_get(body, "details");
    size_t n;

    snprintf(buf, len, "%s", msg ? msg : "");
    /* Marathon: "details": [{"path": "/cmd", "errors": ["..."]}]. */
    if (json_is_array(details)) {
        size_t i;
        json_t *d;
        json_array_foreach(details, i, d)
        {
            const char *dp = json_string_value(json_object_get(d, "path"));
            json_t *errs = json_object_get(d, "errors");
            size_t j;
            json_t *e;
            json_array_foreach(errs, j, e)
            {
                n = strlen(buf);
                if (n + 1 < len && json_is_string(e))
                    snprintf(buf + n, len - n, "%s%s%s%s", n ? "; " : "", dp ? dp : "",
                             dp ? ": " : "", json_string_value(e));
            }
        }
    }
}

int
cli_get_json_timeout(const char *base, const char *path, const char *what, int timeout_ms,
                     json_t **out)
{
    char msg[1024];
    int status, rc;

    if ((rc = cli_request("GET", base, path, NULL, what, timeout_ms, &status, out)) != 0)
        return rc;
    if (status != 200 || *out == NULL) {
        cli_body_message(*out, msg, sizeof(msg));
        json_decref(*out);
        *out = NULL;
        if (status == 200)
            return cli_error("GET %s%s: the answer is not JSON", base, path);
        return cli_error("GET %s%s: %d%s%s", base, path, status, msg[0] ? " " : "", msg);
    }
    return 0;
}

int
cli_get_json(const char *base, const char *path, const char *what, json_t **out)
{
    return cli_get_json_timeout(base, path, what, 0, out);
}

double
cli_json_num(json_t *o, const char *path)
{
    char part[64];

    while (o && *path) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);

        if (len >= sizeof(part))
            return 0;
        memcpy(part, path, len);
        part[len] = '\0';
        o = json_object_get(o, part);
        path += len + (dot ? 1 : 0);
    }
    return o && json_is_number(o) ? json_number_value(o) : 0;
}

const char *
cli_json_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

void
cli_print_json(json_t *v)
{
    json_dumpf(v, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
    fputc('\n', stdout);
}

int
cli_urlencode(const char *s, bool keep_slash, char *buf, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/');
        if (o + (plain ? 1 : 3) >= len)
            return -1;
        if (plain) {
            buf[o++] = (char)c;
        } else {
            buf[o++] = '%';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        }
    }
    if (o >= len)
        return -1;
    buf[o] = '\0';
    return 0;
}

void
cli_fmt_num(double v, char *buf, size_t len)
{
    char *p;

    snprintf(buf, len, "%.2f", v);
    if ((p = strchr(buf, '.')) != NULL) {
        char *end = buf + strlen(buf) - 1;
        while (end > p && *end == '0')
            *end-- = '\0';
        if (end == p)
            *end = '\0';
    }
}

void
cli_fmt_mib(double mib, char *buf, size_t len)
{
    char num[32];

    if (mib >= 1024 * 1024) {
        cli_fmt_num(mib / (1024 * 1024), num, sizeof(num));
        snprintf(buf, len, "%sT", num);
    } else if (mib >= 1024) {
        snprintf(num, sizeof(num), "%.1f", mib / 1024);
        if (strlen(num) > 2 && strcmp(num + strlen(num) - 2, ".0") == 0)
            num[strlen(num) - 2] = '\0';
        snprintf(buf, len, "%sG", num);
    } else {
        cli_fmt_num(mib, num, sizeof(num));
        snprintf(buf, len, "%sM", num);
    }
}

char *
cli_fmt_grouped(double v, int dec, char *buf, size_t len)
{
    char raw[64], *dot, *p = buf;
    size_t ndig, i;
    int neg = v < 0;

    snprintf(raw, sizeof(raw), "%.*f", dec, neg ? -v : v);
    dot = strchr(raw, '.');
    ndig = dot ? (size_t)(dot - raw) : strlen(raw);
    if (ndig + ndig / 3 + strlen(raw) + 3 > len || fabs(v) > 1e18) {
        snprintf(buf, len, "%.*g", 6, v);
        return buf;
    }
    if (neg && strtod(raw, NULL) != 0)
        *p++ = '-';
    for (i = 0; i < ndig; i++) {
        *p++ = raw[i];
        if ((ndig - i - 1) % 3 == 0 && i + 1 < ndig)
            *p++ = ',';
    }
    strcpy(p, raw + ndig);
    return buf;
}

char *
cli_fmt_pct(double a, double b, char *buf, size_t len)
{
    if (b > 0)
        snprintf(buf, len, "%.1f%%", 100.0 * a / b);
    else
        snprintf(buf, len, "-");
    return buf;
}

char *
cli_fmt_bytes(double b, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;

    while (b >= 1024 && u < 5) {
        b /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%.0f B", b);
    else
        snprintf(buf, len, "%.1f %s", b, units[u]);
    return buf;
}

void
cli_fmt_time(double secs, char *buf, size_t len)
{
    time_t t = (time_t)secs;
    struct tm tm;

    if (secs <= 0 || localtime_r(&t, &tm) == NULL) {
        snprintf(buf, len, "-");
        return;
    }
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

int
cli_bin_dir(char *buf, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;

    if (n <= 0)
        return -1;
    exe[n] = '\0';
    if ((slash = strrchr(exe, '/')) == NULL)
        return -1;
    *slash = '\0';
    snprintf(buf, len, "%s", exe[0] ? exe : "/");
    return 0;
}

int64_t
cli_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool
cli_sleep_ms(int64_t ms)
{
    while (ms > 0 && !cli_interrupted) {
        int64_t step = ms > 100 ? 100 : ms;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)step * 1000000};
        nanosleep(&ts, NULL);
        ms -= step;
    }
    return !cli_interrupted;
}

static void
on_signal(int sig)
{
    (void)sig;
    cli_interrupted = 1;
}

void
cli_catch_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* ---- tables ---- */

static char *
xstrdup(const char *s)
{
    char *d = strdup(s);
    if (d == NULL) {
        fputs("agora: out of memory\n", stderr);
        exit(CLI_FAIL);
    }
    return d;
}

void
cli_table_init(struct cli_table *t, const char *const *header)
{
    memset(t, 0, sizeof(*t));
    while (header[t->ncols] != NULL)
        t->ncols++;
    cli_table_add(t, header);
}

void
cli_table_add(struct cli_table *t, const char *const *row)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **cells = realloc(t->cells, cap * t->ncols * sizeof(*cells));
        if (cells == NULL) {
            fputs("agora: out of memory\n", stderr);
            exit(CLI_FAIL);
        }
        t->cells = cells;
        t->cap = cap;
    }
    for (size_t c = 0; c < t->ncols; c++) {
        const char *s = row[c] != NULL && row[c][0] ? row[c] : t->blank_empty ? "" : "-";
        t->cells[t->nrows * t->ncols + c] = xstrdup(s);
    }
    t->nrows++;
}

void
cli_table_print(struct cli_table *t, FILE *f)
{
    size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof(*w));
    char *line = NULL;
    size_t cap = 0;

    for (size_t r = 0; r < t->nrows && w; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t n = strlen(t->cells[r * t->ncols + c]);
            if (n > w[c])
                w[c] = n;
        }
    for (size_t r = 0; r < t->nrows && f != NULL && w != NULL; r++) {
        size_t off = 0, need = 1;

        for (size_t c = 0; c < t->ncols; c++)
            need += w[c] + 2;
        if (need > cap) {
            char *p = realloc(line, need);
            if (p == NULL)
                break;
            line = p;
            cap = need;
        }
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            size_t n = strlen(s), pad = w[c] - n;
            bool right = c < 64 && (t->right >> c & 1);

            if (right) {
                memset(line + off, ' ', pad);
                off += pad;
            }
            memcpy(line + off, s, n);
            off += n;
            if (!right) {
                memset(line + off, ' ', pad);
                off += pad;
            }
            memcpy(line + off, "  ", 2);
            off += 2;
        }
        while (off > 0 && line[off - 1] == ' ')
            off--;
        line[off++] = '\n';
        fwrite(line, 1, off, f);
    }
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(line);
    free(w);
    memset(t, 0, sizeof(*t));
}
