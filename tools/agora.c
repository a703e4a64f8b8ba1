/*
 * agora: the operator's command-line tool. Dispatches to the command modules
 * (agora.h) and holds what they share: flag parsing with help, HTTP and JSON
 * helpers, tables, formatting.
 */
#define _GNU_SOURCE
#include "agora.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "detector.h"
#include "error.h"
#include "http.h"
#include "report.h"

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

int
cli_parse(const struct flag *table, const struct cli_help *help, int *argc, char **argv)
{
    char err[512];
    int rc = flags_parse(table, argc, argv, err, sizeof(err));

    if (rc == FLAGS_HELP) {
        cli_print_help(table, help, stdout);
        return -1;
    }
    if (rc != 0) {
        const char *cmd = argv[0];
        if (strncmp(cmd, "agora ", 6) == 0)
            cmd += 6;
        return cli_usage_error(cmd, "%s", err);
    }
    return CLI_OK;
}

static int
base_url(const char *spec, int default_port, const char *flag, char *buf, size_t len)
{
    struct detector_master m;
    char err[256], tmp[512];
    const char *p = spec;

    if (strncmp(p, "http://", 7) == 0)
        p += 7;
    /* The detector defaults the port to 5050; other servers have their own default. */
    if (strchr(p, ':') == NULL && default_port != DETECTOR_DEFAULT_PORT) {
        snprintf(tmp, sizeof(tmp), "%s:%d", p, default_port);
        p = tmp;
    }
    if (detector_resolve(p, &m, err, sizeof(err)) != 0) {
        fprintf(stderr, "agora: bad --%s \"%s\": %s\n", flag, spec, err);
        return CLI_USAGE;
    }
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
    if (rv == -AG_ECLOSED || rv == -AG_EIO)
        return cli_error("cannot reach %s at %s (%s): is it running?", what, base,
                         rv == -AG_ECLOSED ? "connection refused" : ag_strerror(rv));
    if (rv != 0)
        return cli_error("%s %s: %s", method, url, ag_strerror(rv));
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
cli_get_json(const char *base, const char *path, const char *what, json_t **out)
{
    char msg[1024];
    int status, rc;

    if ((rc = cli_request("GET", base, path, NULL, what, 0, &status, out)) != 0)
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
    for (size_t c = 0; c < t->ncols; c++)
        t->cells[t->nrows * t->ncols + c] = xstrdup(row[c] != NULL && row[c][0] ? row[c] : "-");
    t->nrows++;
}

void
cli_table_print(struct cli_table *t, FILE *f)
{
    size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof(*w));

    for (size_t r = 0; r < t->nrows && w; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t n = strlen(t->cells[r * t->ncols + c]);
            if (n > w[c])
                w[c] = n;
        }
    for (size_t r = 0; r < t->nrows && f != NULL; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            if (c + 1 == t->ncols || w == NULL)
                fprintf(f, "%s", s);
            else
                fprintf(f, "%-*s  ", (int)w[c], s);
        }
        fputc('\n', f);
    }
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(w);
    memset(t, 0, sizeof(*t));
}

/* ---- version, help, dispatch ---- */

static const struct flag version_flags[] = {CLI_FLAG_MASTER, CLI_FLAG_JSON, {NULL}};
static const struct cli_help version_help = {
    "version [--master=HOST:PORT] [--json]",
    "Prints the version of this tool and, when it answers, of the master (GET /version).\n"
    "Exits 0 even when the master cannot be reached.",
};

static int
cmd_version(int argc, char **argv)
{
    char base[512], url[600], *resp = NULL;
    json_t *mv = NULL;
    int rc, status = 0;

    if ((rc = cli_parse(version_flags, &version_help, &argc, argv)) != 0)
        return rc < 0 ? CLI_OK : rc;
    if (argc > 1)
        return cli_usage_error("version", "unexpected argument \"%s\"", argv[1]);
    if ((rc = cli_master_url(base, sizeof(base))) != 0)
        return rc;
    snprintf(url, sizeof(url), "%s/version", base);
    if (http_request("GET", url, NULL, NULL, 0, 3000, &status, &resp, NULL) == 0 && status == 200)
        mv = json_loads(resp, 0, NULL);
    free(resp);
    if (cli_opt.json) {
        json_t *o = json_pack("{s:s, s:s, s:O}", "agora", AGORA_VERSION, "master_address", base,
                              "master", mv ? mv : json_null());
        cli_print_json(o);
        json_decref(o);
    } else {
        const char *v = json_string_value(json_object_get(mv, "version"));
        printf("agora %s\n", AGORA_VERSION);
        if (v != NULL)
            printf("master %s (%s)\n", v, base);
        else
            printf("master unreachable (%s)\n", base);
    }
    json_decref(mv);
    return CLI_OK;
}

static int
cmd_report(int argc, char **argv)
{
    return report_main(argc, argv);
}

static int cmd_help(int argc, char **argv);

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"cluster", cmd_cluster, "Run a local cluster: cluster up|down|status"},
    {"agents", cmd_agents, "List agents with used and total resources"},
    {"frameworks", cmd_frameworks, "List frameworks"},
    {"tasks", cmd_tasks, "List tasks (--framework=ID, --state=TASK_RUNNING)"},
    {"task", cmd_task, "A task's output: task logs TASK_ID [--stderr] [--follow]"},
    {"app", cmd_app, "Apps on agora-services: app deploy|list|show|scale|restart|rm"},
    {"report", cmd_report, "Accounting report: utilization, usage and cost per group"},
    {"version", cmd_version, "Versions of this tool and of the master"},
    {"help", cmd_help, "Help on a command: help CMD"},
    {NULL},
};

static void
print_overview(FILE *f)
{
    fprintf(f, "Usage: agora COMMAND [ARGS] [FLAGS]\n\n"
               "Commands:\n");
    for (const struct command *c = commands; c->name != NULL; c++)
        fprintf(f, "  %-11s %s\n", c->name, c->summary);
    fprintf(
        f,
        "\nEvery command takes --help. Addresses: --master=HOST:PORT (default $AGORA_MASTER or\n"
        "%s), --services=HOST:PORT (default $AGORA_SERVICES or %s).\n"
        "Listings take --json. Exit status: 0 success, 1 the operation failed or a server\n"
        "could not be reached, 2 usage error.\n",
        CLI_DEFAULT_MASTER, CLI_DEFAULT_SERVICES);
}

static const struct command *
find_command(const char *name)
{
    for (const struct command *c = commands; c->name != NULL; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

static int
run_command(const struct command *c, int argc, char **argv)
{
    char prog[64];

    snprintf(prog, sizeof(prog), "agora %s", c->name);
    argv[0] = prog;
    return c->fn(argc, argv);
}

static int
cmd_help(int argc, char **argv)
{
    const struct command *c;
    char *args[3];

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_overview(stdout);
        return CLI_OK;
    }
    if ((c = find_command(argv[1])) == NULL || c->fn == cmd_help)
        return cli_usage_error(NULL, "unknown command \"%s\"", argv[1]);
    args[0] = NULL;
    args[1] = "--help";
    args[2] = NULL;
    return run_command(c, 2, args);
}

int
main(int argc, char **argv)
{
    const struct command *c;
    int i, rc;

    setvbuf(stdout, NULL, _IOLBF, 0);
    /* The command is the first argument that is not a flag; flags before it
     * (e.g. `agora --master=X agents`) are handed to the command. */
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0 || argv[i][0] != '-' || argv[i][1] == '\0')
            break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_overview(stdout);
            return CLI_OK;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("agora %s\n", AGORA_VERSION);
            return CLI_OK;
        }
    }
    if (i >= argc || strcmp(argv[i], "--") == 0) {
        print_overview(stderr);
        return CLI_USAGE;
    }
    if ((c = find_command(argv[i])) == NULL)
        return cli_usage_error(NULL, "unknown command \"%s\"", argv[i]);
    /* argv without the command word: [prog, flags before it..., args after it...]. */
    memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(*argv));
    rc = run_command(c, argc - 1, argv);
    return rc;
}
