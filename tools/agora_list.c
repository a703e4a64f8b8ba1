/*
 * `agora agents`, `agora frameworks`, `agora tasks`: the master's /slaves,
 * /frameworks and /tasks as tables, or with --json as the endpoint's array
 * unchanged.
 */
#define _GNU_SOURCE
#include "agora.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* "used/total" of one scalar of two resource objects; mem and disk in MiB. */
static void
used_total(json_t *used, json_t *total, const char *name, bool mib, char *buf, size_t len)
{
    double u = json_number_value(json_object_get(used, name));
    double t = json_number_value(json_object_get(total, name));
    char a[32], b[32];

    if (mib) {
        cli_fmt_mib(u, a, sizeof(a));
        cli_fmt_mib(t, b, sizeof(b));
    } else {
        cli_fmt_num(u, a, sizeof(a));
        cli_fmt_num(t, b, sizeof(b));
    }
    snprintf(buf, len, "%s/%s", a, b);
}

/* "rack:r1;zone:a" from an attribute object. */
static void
attrs_text(json_t *attrs, char *buf, size_t len)
{
    const char *key;
    json_t *v;
    size_t n = 0;

    buf[0] = '\0';
    json_object_foreach(attrs, key, v)
    {
        char num[32];
        const char *s = json_string_value(v);
        if (s == NULL) {
            cli_fmt_num(json_number_value(v), num, sizeof(num));
            s = num;
        }
        if (n < len)
            n += (size_t)snprintf(buf + n, len - n, "%s%s:%s", n ? ";" : "", key, s);
    }
}

static const struct flag agents_flags[] = {CLI_FLAG_MASTER, CLI_FLAG_JSON, {NULL}};
static const struct cli_help agents_help = {
    "agents [--json]",
    "Lists the agents the master knows (GET /slaves): id, hostname, HTTP address, state,\n"
    "used/total cpus, mem and disk (MiB as M, GiB as G), tasks and attributes.\n"
    "With --json: the endpoint's \"slaves\" array.",
};

int
cmd_agents(int argc, char **argv)
{
    char base[512];
    json_t *resp = NULL, *arr, *a;
    struct cli_table t;
    size_t i;
    int rc;

    if ((rc = cli_parse(agents_flags, &agents_help, &argc, argv)) != 0)
        return rc < 0 ? CLI_OK : rc;
    if (argc > 1)
        return cli_usage_error("agents", "unexpected argument \"%s\"", argv[1]);
    if ((rc = cli_master_url(base, sizeof(base))) != 0 ||
        (rc = cli_get_json(base, "/slaves", "the master", &resp)) != 0)
        goto out;
    arr = json_object_get(resp, "slaves");
    if (!json_is_array(arr)) {
        rc = cli_error("GET %s/slaves: no \"slaves\" array in the answer", base);
        goto out;
    }
    if (cli_opt.json) {
        cli_print_json(arr);
        goto out;
    }
    cli_table_init(&t, (const char *const[]){"ID", "HOSTNAME", "ADDRESS", "STATE", "CPUS", "MEM",
                                             "DISK", "TASKS", "ATTRIBUTES", NULL});
    json_array_foreach(arr, i, a)
    {
        char cpus[64], mem[64], disk[64], tasks[32], attrs[512], state[64];
        json_t *used = json_object_get(a, "used_resources");
        json_t *total = json_object_get(a, "resources");
        const char *st = json_string_value(json_object_get(a, "state"));

        used_total(used, total, "cpus", false, cpus, sizeof(cpus));
        used_total(used, total, "mem", true, mem, sizeof(mem));
        used_total(used, total, "disk", true, disk, sizeof(disk));
        snprintf(tasks, sizeof(tasks), "%lld",
                 (long long)json_integer_value(json_object_get(a, "task_count")));
        attrs_text(json_object_get(a, "attributes"), attrs, sizeof(attrs));
        /* An agent ACTIVE in the registry whose connection dropped is not active. */
        if (st == NULL ||
            (strcmp(st, "ACTIVE") == 0 && !json_is_true(json_object_get(a, "active"))))
            st = json_is_true(json_object_get(a, "active")) ? "ACTIVE" : "DISCONNECTED";
        snprintf(state, sizeof(state), "%s%s", st,
                 json_is_true(json_object_get(a, "draining")) ? ",DRAINING" : "");
        cli_table_add(&t,
                      (const char *const[]){json_string_value(json_object_get(a, "id")),
                                            json_string_value(json_object_get(a, "hostname")),
                                            json_string_value(json_object_get(a, "http_address")),
                                            state, cpus, mem, disk, tasks, attrs});
    }
    cli_table_print(&t, stdout);
out:
    json_decref(resp);
    flags_free(agents_flags);
    return rc;
}

static const struct flag frameworks_flags[] = {CLI_FLAG_MASTER, CLI_FLAG_JSON, {NULL}};
static const struct cli_help frameworks_help = {
    "frameworks [--json]",
    "Lists the frameworks the master knows (GET /frameworks): id, name, role, state\n"
    "(ACTIVE; DISCONNECTED while within its failover timeout), live tasks and the\n"
    "cpus, mem and disk its tasks use. With --json: the endpoint's \"frameworks\" array.",
};

int
cmd_frameworks(int argc, char **argv)
{
    char base[512];
    json_t *resp = NULL, *arr, *f;
    struct cli_table t;
    size_t i;
    int rc;

    if ((rc = cli_parse(frameworks_flags, &frameworks_help, &argc, argv)) != 0)
        return rc < 0 ? CLI_OK : rc;
    if (argc > 1)
        return cli_usage_error("frameworks", "unexpected argument \"%s\"", argv[1]);
    if ((rc = cli_master_url(base, sizeof(base))) != 0 ||
        (rc = cli_get_json(base, "/frameworks", "the master", &resp)) != 0)
        goto out;
    arr = json_object_get(resp, "frameworks");
    if (!json_is_array(arr)) {
        rc = cli_error("GET %s/frameworks: no \"frameworks\" array in the answer", base);
        goto out;
    }
    if (cli_opt.json) {
        cli_print_json(arr);
        goto out;
    }
    cli_table_init(&t, (const char *const[]){"ID", "NAME", "ROLE", "STATE", "TASKS", "CPUS", "MEM",
                                             "DISK", "REGISTERED", NULL});
    json_array_foreach(arr, i, f)
    {
        char cpus[32], mem[32], disk[32], tasks[32], reg[64];
        json_t *used = json_object_get(f, "used_resources");
        const char *state;

        if (used == NULL)
            used = json_object_get(f, "resources");
        cli_fmt_num(json_number_value(json_object_get(used, "cpus")), cpus, sizeof(cpus));
        cli_fmt_mib(json_number_value(json_object_get(used, "mem")), mem, sizeof(mem));
        cli_fmt_mib(json_number_value(json_object_get(used, "disk")), disk, sizeof(disk));
        snprintf(tasks, sizeof(tasks), "%lld",
                 (long long)json_integer_value(json_object_get(f, "task_count")));
        cli_fmt_time(json_number_value(json_object_get(f, "registered_time")), reg, sizeof(reg));
        if (json_is_true(json_object_get(f, "active")))
            state = "ACTIVE";
        else if (json_is_false(json_object_get(f, "connected")))
            state = "DISCONNECTED";
        else
            state = "INACTIVE";
        cli_table_add(&t, (const char *const[]){json_string_value(json_object_get(f, "id")),
                                                json_string_value(json_object_get(f, "name")),
                                                json_string_value(json_object_get(f, "role")),
                                                state, tasks, cpus, mem, disk, reg});
    }
    cli_table_print(&t, stdout);
out:
    json_decref(resp);
    flags_free(frameworks_flags);
    return rc;
}

static char *opt_framework, *opt_state;
static const struct flag tasks_flags[] = {
    CLI_FLAG_MASTER,
    CLI_FLAG_JSON,
    {"framework", FLAG_STRING, &opt_framework, NULL, "Only the tasks of this framework id."},
    {"state", FLAG_STRING, &opt_state, NULL,
     "Only tasks in this state: TASK_RUNNING, or short and in any case: running."},
    {NULL},
};
static const struct cli_help tasks_help = {
    "tasks [--framework=ID] [--state=STATE] [--json]",
    "Lists live and recently completed tasks (GET /tasks): id, name, framework, agent\n"
    "(hostname when the agent is known), state, cpus, mem and the last status message.\n"
    "With --json: the endpoint's \"tasks\" array.",
};

/* "running" -> "TASK_RUNNING". */
static void
normalize_state(const char *in, char *out, size_t len)
{
    size_t o = 0;

    if (strncasecmp(in, "TASK_", 5) != 0) {
        snprintf(out, len, "TASK_");
        o = 5;
    }
    for (; *in != '\0' && o + 1 < len; in++)
        out[o++] = (char)toupper((unsigned char)*in);
    out[o] = '\0';
}

int
cmd_tasks(int argc, char **argv)
{
    char base[512], path[1024], enc[512], state[64];
    json_t *resp = NULL, *agents = NULL, *arr, *tk;
    struct cli_table t;
    size_t i, n;
    int rc;

    if ((rc = cli_parse(tasks_flags, &tasks_help, &argc, argv)) != 0)
        return rc < 0 ? CLI_OK : rc;
    if (argc > 1) {
        rc = cli_usage_error("tasks", "unexpected argument \"%s\"", argv[1]);
        goto out;
    }
    if ((rc = cli_master_url(base, sizeof(base))) != 0)
        goto out;
    n = (size_t)snprintf(path, sizeof(path), "/tasks");
    if (opt_framework != NULL) {
        if (cli_urlencode(opt_framework, false, enc, sizeof(enc)) != 0) {
            rc = cli_usage_error("tasks", "--framework is too long");
            goto out;
        }
        n += (size_t)snprintf(path + n, sizeof(path) - n, "?framework_id=%s", enc);
    }
    if (opt_state != NULL) {
        normalize_state(opt_state, state, sizeof(state));
        if (cli_urlencode(state, false, enc, sizeof(enc)) != 0) {
            rc = cli_usage_error("tasks", "--state is too long");
            goto out;
        }
        snprintf(path + n, sizeof(path) - n, "%sstate=%s", opt_framework ? "&" : "?", enc);
    }
    if ((rc = cli_get_json(base, path, "the master", &resp)) != 0)
        goto out;
    arr = json_object_get(resp, "tasks");
    if (!json_is_array(arr)) {
        rc = cli_error("GET %s/tasks: no \"tasks\" array in the answer", base);
        goto out;
    }
    if (cli_opt.json) {
        cli_print_json(arr);
        goto out;
    }
    /* Hostnames read better than agent ids; without them the ids do. */
    if (json_array_size(arr) > 0 && cli_get_json(base, "/slaves", "the master", &agents) != 0)
        agents = NULL;
    cli_table_init(&t, (const char *const[]){"ID", "NAME", "FRAMEWORK", "AGENT", "STATE", "CPUS",
                                             "MEM", "MESSAGE", NULL});
    json_array_foreach(arr, i, tk)
    {
        char cpus[32], mem[32];
        const char *agent = json_string_value(json_object_get(tk, "slave_id"));
        json_t *res = json_object_get(tk, "resources");
        json_t *statuses = json_object_get(tk, "statuses");
        json_t *last = json_array_get(statuses, json_array_size(statuses) - 1);
        json_t *a;
        size_t j;

        json_array_foreach(json_object_get(agents, "slaves"), j, a)
        {
            const char *id = json_string_value(json_object_get(a, "id"));
            if (id && agent && strcmp(id, agent) == 0) {
                agent = json_string_value(json_object_get(a, "hostname"));
                break;
            }
        }
        cli_fmt_num(json_number_value(json_object_get(res, "cpus")), cpus, sizeof(cpus));
        cli_fmt_mib(json_number_value(json_object_get(res, "mem")), mem, sizeof(mem));
        cli_table_add(
            &t, (const char *const[]){json_string_value(json_object_get(tk, "id")),
                                      json_string_value(json_object_get(tk, "name")),
                                      json_string_value(json_object_get(tk, "framework_id")), agent,
                                      json_string_value(json_object_get(tk, "state")), cpus, mem,
                                      json_string_value(json_object_get(last, "message"))});
    }
    cli_table_print(&t, stdout);
out:
    json_decref(resp);
    json_decref(agents);
    flags_free(tasks_flags);
    return rc;
}
