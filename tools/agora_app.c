/*
 * `agora app ...`: long-running apps on agora-services through its Marathon
 * REST API (v2):
 *
 *   deploy FILE   GET /v2/apps/{id}: 404 -> POST /v2/apps, else PUT /v2/apps/{id}
 *   list          GET /v2/apps
 *   show ID       GET /v2/apps/{id}
 *   scale ID N    PUT /v2/apps/{id} {"instances": N} (a partial update, as Marathon)
 *   restart ID    POST /v2/apps/{id}/restart
 *   rm ID         DELETE /v2/apps/{id}
 *
 * Every change is followed (unless --no-wait) by polling /v2/apps/{id} until
 * the app has no deployment left and runs its instances (healthy, when it has
 * health checks), or for rm until the app is gone; it gives up after
 * --timeout or after --max_failures task failures newer than the change
 * (Marathon's lastTaskFailure), and says why.
 */
#define _GNU_SOURCE
#include "agora.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POLL_MS 500

static int64_t opt_timeout_ms;
static int64_t opt_max_failures;
static bool opt_force, opt_wait;
static const struct flag app_flags[] = {
    CLI_FLAG_SERVICES,
    CLI_FLAG_JSON,
    {"timeout", FLAG_DURATION, &opt_timeout_ms, "120secs",
     "How long deploy, scale, restart and rm wait for the deployment to finish."},
    {"wait", FLAG_BOOL, &opt_wait, "true",
     "Wait for the deployment and show its progress (--no-wait: return once it started)."},
    {"max_failures", FLAG_INT64, &opt_max_failures, "3",
     "Give up waiting after this many task failures during the deployment (0: never)."},
    {"force", FLAG_BOOL, &opt_force, "false",
     "Override a deployment in progress (?force=true) instead of failing with 409."},
    {NULL},
};
static const struct cli_help app_help = {
    "app deploy FILE.json [--timeout=120secs] [--no-wait] [--force]\n"
    "app list [--json]\n"
    "app show ID [--json]\n"
    "app scale ID INSTANCES\n"
    "app restart ID\n"
    "app rm ID",
    "Manages apps on agora-services (the Marathon API, --services). deploy creates the app\n"
    "described by FILE.json (Marathon app JSON; '-' reads stdin) or updates it when it\n"
    "exists, then shows \"running/healthy of N\" until the deployment finishes. It fails (exit 1)\n"
    "on --timeout or when tasks keep failing, with the last task failure. scale, restart and\n"
    "rm wait the same way.",
};

/* "/v2/apps/ID[SUFFIX][?force=true]" for an app id with or without its leading '/'. */
static int
app_path(const char *id, const char *suffix, bool force, char *buf, size_t len)
{
    char enc[1024];

    while (*id == '/')
        id++;
    if (*id == '\0' || cli_urlencode(id, true, enc, sizeof(enc)) != 0)
        return -1;
    snprintf(buf, len, "/v2/apps/%s%s%s", enc, suffix ? suffix : "", force ? "?force=true" : "");
    return 0;
}

/* Reports a failed change: 409 (locked), validation errors, anything else. */
static int
change_failed(const char *what, const char *id, int status, json_t *body)
{
    char msg[2048];

    cli_body_message(body, msg, sizeof(msg));
    if (status == 409)
        return cli_error("%s %s: the app is locked by a deployment in progress%s%s (wait for it, "
                         "or use --force)",
                         what, id, msg[0] ? ": " : "", msg);
    if (status == 404)
        return cli_error("%s %s: no such app", what, id);
    return cli_error("%s %s failed: %d%s%s", what, id, status, msg[0] ? " " : "", msg);
}

/* A counter of an app ("tasksRunning") as an integer. */
static long long
app_int(json_t *app, const char *key)
{
    return (long long)json_number_value(json_object_get(app, key));
}

/* "taskId@timestamp" identifying a lastTaskFailure, "" if none. */
static void
failure_key(json_t *app, char *buf, size_t len)
{
    json_t *f = json_object_get(app, "lastTaskFailure");
    const char *t = json_string_value(json_object_get(f, "taskId"));
    const char *ts = json_string_value(json_object_get(f, "timestamp"));

    if (!json_is_object(f))
        buf[0] = '\0';
    else
        snprintf(buf, len, "%s@%s", t ? t : "", ts ? ts : "");
}

static void
failure_text(json_t *app, char *buf, size_t len)
{
    json_t *f = json_object_get(app, "lastTaskFailure");
    const char *t = json_string_value(json_object_get(f, "taskId"));
    const char *st = json_string_value(json_object_get(f, "state"));
    const char *msg = json_string_value(json_object_get(f, "message"));
    const char *host = json_string_value(json_object_get(f, "host"));

    snprintf(buf, len, "task %s %s%s%s: %s", t ? t : "?", st ? st : "failed", host ? " on " : "",
             host ? host : "", msg && msg[0] ? msg : "(no message)");
}

/* Whether the app's "deployments" lists `dep`. */
static bool
has_deployment(json_t *app, const char *dep)
{
    json_t *d;
    size_t i;

    json_array_foreach(json_object_get(app, "deployments"), i, d)
    {
        const char *id = json_string_value(json_object_get(d, "id"));
        if (id != NULL && strcmp(id, dep) == 0)
            return true;
    }
    return false;
}

/* What a change started: the deployment id and the app version it deploys. */
struct change {
    char dep[128];     /* "" when the answer named none */
    char version[128]; /* "" when the answer named none */
    char failure[512]; /* lastTaskFailure before the change (older failures are not news) */
};

enum wait_goal { GOAL_RUNNING, GOAL_GONE };

/* After a failure message: where to see the failed task's output. Returns `rc`. */
static int
failed_hint(const char *task_id, int rc)
{
    if (task_id[0])
        fprintf(stderr, "agora: the last failed task's output: agora task logs %s --stderr\n",
                task_id);
    return rc;
}

/*
 * Polls the app until `goal` is reached: GOAL_RUNNING when the change's
 * deployment is over and the app runs its instances (healthy, with health
 * checks) at the change's version; GOAL_GONE when the app is gone. Stops with
 * a failure when the deployment is replaced by another (an automatic rollback
 * or someone else's change), when the app ends at another version (rolled
 * back), after --max_failures new task failures, on timeout or interruption.
 * Prints progress (one \r-updated line on a terminal); returns the exit status.
 */
static int
wait_app(const char *base, const char *id, enum wait_goal goal, const struct change *ch)
{
    char path[1200], line[512], last_line[512] = "", fkey[512], seen_fkey[512], ftext[1024] = "";
    char ftask[256] = "";
    FILE *out = cli_opt.json ? stderr : stdout; /* with --json, stdout holds JSON only */
    bool tty = isatty(fileno(out)), printed = false;
    int64_t deadline = cli_now_ms() + opt_timeout_ms;
    long long failures = 0;

#define END_LINE()                                                                                 \
    do {                                                                                           \
        if (printed && tty)                                                                        \
            fputs("\n", out);                                                                      \
        printed = false;                                                                           \
    } while (0)
    snprintf(seen_fkey, sizeof(seen_fkey), "%s", ch->failure);
    app_path(id, NULL, false, path, sizeof(path));
    cli_catch_signals();
    for (;;) {
        json_t *resp = NULL, *app;
        long long n, running, healthy, staged;
        bool checks, deploying, ours, at_version, done;
        const char *version;
        char now_version[128];
        int status;

        if (cli_request("GET", base, path, NULL, NULL, 0, &status, &resp) != 0)
            goto next; /* transient: keep trying until the deadline */
        if (status == 404) {
            json_decref(resp);
            END_LINE();
            if (goal == GOAL_GONE) {
                fprintf(out, "%s: removed\n", id);
                return CLI_OK;
            }
            return failed_hint(
                ftask,
                cli_error("%s: the app is gone: its deployment failed and was rolled back, or "
                          "it was removed%s%s",
                          id, ftext[0] ? "; last task failure: " : "", ftext));
        }
        if (status != 200 || (app = json_object_get(resp, "app")) == NULL) {
            json_decref(resp);
            goto next;
        }
        n = app_int(app, "instances");
        running = app_int(app, "tasksRunning");
        healthy = app_int(app, "tasksHealthy");
        staged = app_int(app, "tasksStaged");
        checks = json_array_size(json_object_get(app, "healthChecks")) > 0;
        deploying = json_array_size(json_object_get(app, "deployments")) > 0;
        ours = ch->dep[0] && has_deployment(app, ch->dep);
        version = json_string_value(json_object_get(app, "version"));
        at_version = !ch->version[0] || version == NULL || strcmp(version, ch->version) == 0;
        snprintf(now_version, sizeof(now_version), "%s", version ? version : "");

        failure_key(app, fkey, sizeof(fkey));
        if (fkey[0] && strcmp(fkey, seen_fkey) != 0) {
            snprintf(seen_fkey, sizeof(seen_fkey), "%s", fkey);
            failure_text(app, ftext, sizeof(ftext));
            snprintf(ftask, sizeof(ftask), "%s",
                     json_string_value(
                         json_object_get(json_object_get(app, "lastTaskFailure"), "taskId"))
                         ?: "");
            failures++;
            END_LINE();
            fprintf(out, "%s: %s\n", id, ftext);
            last_line[0] = '\0';
        }
        if (checks)
            snprintf(line, sizeof(line), "%s: %lld running, %lld healthy of %lld instances%s", id,
                     running, healthy, n, deploying ? " (deploying)" : "");
        else
            snprintf(line, sizeof(line), "%s: %lld running of %lld instances%s", id, running, n,
                     deploying ? " (deploying)" : "");
        if (staged > 0 && strlen(line) + 32 < sizeof(line))
            snprintf(line + strlen(line), sizeof(line) - strlen(line), ", %lld staged", staged);
        if (strcmp(line, last_line) != 0) {
            if (tty)
                fprintf(out, "\r%s\033[K", line);
            else
                fprintf(out, "%s\n", line);
            fflush(out);
            printed = true;
            snprintf(last_line, sizeof(last_line), "%s", line);
        }
        json_decref(resp);
        if (goal == GOAL_RUNNING && !ours && deploying && ch->dep[0]) {
            /* Our deployment is over and another one runs: a rollback or someone else's change. */
            END_LINE();
            return failed_hint(
                ftask,
                cli_error("%s: deployment %s was replaced by another deployment (an automatic "
                          "rollback after failed tasks, or another change)%s%s",
                          id, ch->dep, ftext[0] ? "; last task failure: " : "", ftext));
        }
        if (goal == GOAL_RUNNING && !deploying && !at_version) {
            END_LINE();
            return failed_hint(
                ftask, cli_error("%s: the deployment was rolled back: the app runs version %s, not "
                                 "%s%s%s",
                                 id, now_version, ch->version,
                                 ftext[0] ? "; last task failure: " : "", ftext));
        }
        done = goal == GOAL_RUNNING && !deploying && running >= n && (!checks || healthy >= n);
        if (done) {
            END_LINE();
            fprintf(out, "%s: deployed, %lld instance%s running%s\n", id, n, n == 1 ? "" : "s",
                    checks ? " and healthy" : "");
            return CLI_OK;
        }
        if (opt_max_failures > 0 && failures >= opt_max_failures) {
            END_LINE();
            return failed_hint(
                ftask,
                cli_error(
                    "%s: giving up, tasks keep failing (%lld failures); last: %s (agora-services "
                    "keeps trying; see 'agora app show %s')",
                    id, failures, ftext, id));
        }
    next:
        if (cli_now_ms() >= deadline) {
            END_LINE();
            return failed_hint(
                ftask, cli_error("%s: timed out after %llds: %s%s%s (the deployment continues; see "
                                 "'agora app show %s')",
                                 id, (long long)(opt_timeout_ms / 1000),
                                 last_line[0] ? last_line + strlen(id) + 2 : "no answer",
                                 ftext[0] ? "; last task failure: " : "", ftext, id));
        }
        if (!cli_sleep_ms(POLL_MS)) {
            END_LINE();
            return cli_error("%s: stopped waiting; the deployment continues", id);
        }
    }
#undef END_LINE
}

/* Reads what a change answered: {"deploymentId", "version"} (PUT, restart,
 * DELETE) or the app with "deployments" and "version" (POST). */
static void
change_read(json_t *body, struct change *ch)
{
    const char *dep = json_string_value(json_object_get(body, "deploymentId"));
    const char *version = json_string_value(json_object_get(body, "version"));

    if (dep == NULL)
        dep = json_string_value(
            json_object_get(json_array_get(json_object_get(body, "deployments"), 0), "id"));
    snprintf(ch->dep, sizeof(ch->dep), "%s", dep ? dep : "");
    snprintf(ch->version, sizeof(ch->version), "%s", version ? version : "");
}

static void
print_started(const char *what, const char *id, json_t *body, const struct change *ch)
{
    if (cli_opt.json) {
        cli_print_json(body ? body : json_null());
        return;
    }
    if (ch->dep[0])
        printf("%s: %s, deployment %s\n", id, what, ch->dep);
    else
        printf("%s: %s\n", id, what);
}

static int
load_app(const char *file, json_t **out)
{
    json_error_t jerr;
    json_t *app;

    if (strcmp(file, "-") == 0)
        app = json_loadf(stdin, 0, &jerr);
    else
        app = json_load_file(file, 0, &jerr);
    if (app == NULL) {
        if (jerr.line <= 0)
            return cli_error("%s: %s", file, jerr.text);
        return cli_error("%s:%d:%d: %s", file, jerr.line, jerr.column, jerr.text);
    }
    if (!json_is_object(app) || !json_is_string(json_object_get(app, "id")) ||
        json_string_length(json_object_get(app, "id")) == 0) {
        json_decref(app);
        return cli_error("%s: an app is a JSON object with a string \"id\"", file);
    }
    *out = app;
    return 0;
}

/*
 * Applies one change (METHOD /v2/apps/ID[SUFFIX], optional body) to app `id`
 * and, with --wait, follows it to `goal`. With `create`, a missing app is
 * created instead (POST /v2/apps with the body). Returns the exit status.
 */
static int
app_change(const char *base, const char *verb, const char *id, const char *method,
           const char *suffix, json_t *body, enum wait_goal goal, bool create)
{
    char path[1200], get[1200];
    struct change ch = {0};
    json_t *resp = NULL;
    int status, rc;
    bool exists;

    if (app_path(id, suffix, opt_force, path, sizeof(path)) != 0)
        return cli_error("bad app id \"%s\"", id);
    app_path(id, NULL, false, get, sizeof(get));
    if ((rc = cli_request("GET", base, get, NULL, "agora-services", 0, &status, &resp)) != 0)
        return rc;
    if (status != 200 && !(status == 404 && create)) {
        rc = change_failed(verb, id, status, resp);
        json_decref(resp);
        return rc;
    }
    exists = status == 200;
    if (exists)
        failure_key(json_object_get(resp, "app"), ch.failure, sizeof(ch.failure));
    json_decref(resp);
    if (exists)
        rc = cli_request(method, base, path, body, "agora-services", 0, &status, &resp);
    else
        rc = cli_request("POST", base, opt_force ? "/v2/apps?force=true" : "/v2/apps", body,
                         "agora-services", 0, &status, &resp);
    if (rc != 0)
        return rc;
    if (status < 200 || status > 299) {
        rc = change_failed(exists ? verb : "create", id, status, resp);
        json_decref(resp);
        return rc;
    }
    change_read(resp, &ch);
    print_started(exists ? verb : "created", id, resp, &ch);
    json_decref(resp);
    return opt_wait ? wait_app(base, id, goal, &ch) : CLI_OK;
}

static int
app_deploy(const char *base, const char *file)
{
    json_t *app = NULL;
    const char *id;
    int rc;

    if ((rc = load_app(file, &app)) != 0)
        return rc;
    id = json_string_value(json_object_get(app, "id"));
    rc = app_change(base, "updating", id, "PUT", NULL, app, GOAL_RUNNING, true);
    json_decref(app);
    return rc;
}

static int
app_list(const char *base)
{
    json_t *resp = NULL, *apps, *app;
    struct cli_table t;
    size_t i;
    int rc;

    if ((rc = cli_get_json(base, "/v2/apps", "agora-services", &resp)) != 0)
        return rc;
    apps = json_object_get(resp, "apps");
    if (!json_is_array(apps)) {
        json_decref(resp);
        return cli_error("GET %s/v2/apps: no \"apps\" array in the answer", base);
    }
    if (cli_opt.json) {
        cli_print_json(apps);
        json_decref(resp);
        return CLI_OK;
    }
    cli_table_init(&t, (const char *const[]){"ID", "INSTANCES", "RUNNING", "HEALTHY", "CPUS", "MEM",
                                             "STATUS", "CMD", NULL});
    json_array_foreach(apps, i, app)
    {
        char inst[32], run[32], healthy[32], cpus[32], mem[32], cmd[64];
        const char *c = json_string_value(json_object_get(app, "cmd"));
        const char *status;
        long long n = app_int(app, "instances"), r = app_int(app, "tasksRunning");

        snprintf(inst, sizeof(inst), "%lld", n);
        snprintf(run, sizeof(run), "%lld", r);
        if (json_array_size(json_object_get(app, "healthChecks")) > 0)
            snprintf(healthy, sizeof(healthy), "%lld", app_int(app, "tasksHealthy"));
        else
            snprintf(healthy, sizeof(healthy), "-");
        cli_fmt_num(json_number_value(json_object_get(app, "cpus")), cpus, sizeof(cpus));
        cli_fmt_mib(json_number_value(json_object_get(app, "mem")), mem, sizeof(mem));
        if (json_array_size(json_object_get(app, "deployments")) > 0)
            status = "DEPLOYING";
        else if (n == 0)
            status = "SUSPENDED";
        else if (r < n)
            status = "WAITING";
        else
            status = "RUNNING";
        snprintf(cmd, sizeof(cmd), "%s", c ? c : "");
        if (c != NULL && strlen(c) >= 40)
            snprintf(cmd + 36, sizeof(cmd) - 36, "...");
        for (char *p = cmd; *p; p++)
            if (*p == '\n' || *p == '\t')
                *p = ' ';
        cli_table_add(&t, (const char *const[]){json_string_value(json_object_get(app, "id")), inst,
                                                run, healthy, cpus, mem, status, cmd});
    }
    cli_table_print(&t, stdout);
    json_decref(resp);
    return CLI_OK;
}

static int
app_show(const char *base, const char *id)
{
    char path[1300], buf[1024];
    json_t *resp = NULL, *app, *tasks, *tk, *deps, *d;
    size_t i;
    int status, rc;

    if (app_path(id, "?embed=app.tasks&embed=app.lastTaskFailure", false, path, sizeof(path)) != 0)
        return cli_usage_error("app", "bad app id \"%s\"", id);
    if ((rc = cli_request("GET", base, path, NULL, "agora-services", 0, &status, &resp)) != 0)
        return rc;
    if (status != 200 || (app = json_object_get(resp, "app")) == NULL) {
        rc = status == 404 ? cli_error("no app %s (see 'agora app list')", id)
                           : change_failed("show", id, status, resp);
        json_decref(resp);
        return rc;
    }
    if (cli_opt.json) {
        cli_print_json(app);
        json_decref(resp);
        return CLI_OK;
    }
    printf("id:          %s\n", json_string_value(json_object_get(app, "id")));
    if (json_is_string(json_object_get(app, "cmd")))
        printf("cmd:         %s\n", json_string_value(json_object_get(app, "cmd")));
    cli_fmt_num(json_number_value(json_object_get(app, "cpus")), buf, sizeof(buf));
    printf("resources:   cpus %s", buf);
    cli_fmt_mib(json_number_value(json_object_get(app, "mem")), buf, sizeof(buf));
    printf(", mem %s", buf);
    cli_fmt_mib(json_number_value(json_object_get(app, "disk")), buf, sizeof(buf));
    printf(", disk %s\n", buf);
    printf("instances:   %lld (running %lld, healthy %lld, staged %lld, unhealthy %lld)\n",
           app_int(app, "instances"), app_int(app, "tasksRunning"), app_int(app, "tasksHealthy"),
           app_int(app, "tasksStaged"), app_int(app, "tasksUnhealthy"));
    if (json_is_string(json_object_get(app, "version")))
        printf("version:     %s\n", json_string_value(json_object_get(app, "version")));
    deps = json_object_get(app, "deployments");
    printf("deployments: %s", json_array_size(deps) ? "" : "none");
    json_array_foreach(deps, i, d)
    {
        printf("%s%s", i ? ", " : "", json_string_value(json_object_get(d, "id")));
    }
    printf("\n");
    if (json_is_object(json_object_get(app, "lastTaskFailure"))) {
        const char *ts = json_string_value(
            json_object_get(json_object_get(app, "lastTaskFailure"), "timestamp"));
        failure_text(app, buf, sizeof(buf));
        printf("last failure: %s%s%s\n", buf, ts ? " at " : "", ts ? ts : "");
    }
    tasks = json_object_get(app, "tasks");
    if (json_array_size(tasks) > 0) {
        struct cli_table t;
        printf("\n");
        cli_table_init(
            &t, (const char *const[]){"TASK", "HOST", "PORTS", "STATE", "HEALTH", "STARTED", NULL});
        json_array_foreach(tasks, i, tk)
        {
            char ports[256] = "";
            const char *health = "-";
            json_t *p, *hc = json_object_get(tk, "healthCheckResults");
            size_t j, n = 0;
            json_array_foreach(json_object_get(tk, "ports"), j, p)
            {
                if (n < sizeof(ports))
                    n += (size_t)snprintf(ports + n, sizeof(ports) - n, "%s%lld", j ? "," : "",
                                          (long long)json_integer_value(p));
            }
            if (json_array_size(hc) > 0) {
                health = "healthy";
                json_array_foreach(hc, j, p)
                {
                    if (!json_is_true(json_object_get(p, "alive")))
                        health = "unhealthy";
                }
            }
            cli_table_add(
                &t, (const char *const[]){json_string_value(json_object_get(tk, "id")),
                                          json_string_value(json_object_get(tk, "host")), ports,
                                          json_string_value(json_object_get(tk, "state")), health,
                                          json_string_value(json_object_get(tk, "startedAt"))});
        }
        cli_table_print(&t, stdout);
    }
    json_decref(resp);
    return CLI_OK;
}

int
cmd_app(int argc, char **argv)
{
    char base[512];
    const char *sub;
    int rc;

    if ((rc = cli_parse(app_flags, &app_help, &argc, argv)) != 0)
        return rc < 0 ? CLI_OK : rc;
    if (argc < 2) {
        rc = cli_usage_error("app", "missing subcommand (deploy, list, show, scale, restart, rm)");
        goto out;
    }
    sub = argv[1];
#define NEED_ARGS(n, what)                                                                         \
    if (argc < (n) + 2) {                                                                          \
        rc = cli_usage_error("app", "app %s: missing %s", sub, what);                              \
        goto out;                                                                                  \
    }                                                                                              \
    if (argc > (n) + 2) {                                                                          \
        rc = cli_usage_error("app", "app %s: unexpected argument \"%s\"", sub, argv[(n) + 2]);     \
        goto out;                                                                                  \
    }
    if (opt_timeout_ms <= 0 || opt_max_failures < 0) {
        rc = cli_usage_error("app", "--timeout must be positive and --max_failures >= 0");
        goto out;
    }
    if ((rc = cli_services_url(base, sizeof(base))) != 0)
        goto out;
    if (strcmp(sub, "deploy") == 0) {
        NEED_ARGS(1, "FILE.json");
        rc = app_deploy(base, argv[2]);
    } else if (strcmp(sub, "list") == 0 || strcmp(sub, "ls") == 0) {
        NEED_ARGS(0, "");
        rc = app_list(base);
    } else if (strcmp(sub, "show") == 0) {
        NEED_ARGS(1, "ID");
        rc = app_show(base, argv[2]);
    } else if (strcmp(sub, "scale") == 0) {
        char *end;
        long long n;
        json_t *body;
        NEED_ARGS(2, "ID and INSTANCES");
        errno = 0;
        n = strtoll(argv[3], &end, 10);
        if (errno != 0 || *end != '\0' || end == argv[3] || n < 0 || n > 1000000) {
            rc = cli_usage_error("app", "app scale: INSTANCES must be a number >= 0, not \"%s\"",
                                 argv[3]);
            goto out;
        }
        body = json_pack("{s:I}", "instances", (json_int_t)n);
        rc = app_change(base, "scaling", argv[2], "PUT", NULL, body, GOAL_RUNNING, false);
        json_decref(body);
    } else if (strcmp(sub, "restart") == 0) {
        NEED_ARGS(1, "ID");
        rc = app_change(base, "restarting", argv[2], "POST", "/restart", NULL, GOAL_RUNNING, false);
    } else if (strcmp(sub, "rm") == 0 || strcmp(sub, "remove") == 0) {
        NEED_ARGS(1, "ID");
        rc = app_change(base, "removing", argv[2], "DELETE", NULL, NULL, GOAL_GONE, false);
    } else {
        rc = cli_usage_error("app", "unknown subcommand \"%s\"", sub);
    }
#undef NEED_ARGS
out:
    flags_free(app_flags);
    return rc;
}
