/*
 * `agora task logs TASK_ID`: prints a task's stdout (or stderr) from its
 * sandbox, optionally following it.
 *
 * The way there: the master's /tasks gives the task's agent id, /slaves the
 * agent's HTTP address, the agent's /state the sandbox directory (the
 * `directory` of the executor whose id is the task id); when the agent no
 * longer lists the task (forgotten after its last update was acknowledged)
 * the sandbox is "<framework_id>/<task_id>" relative to the agent's sandboxes
 * directory, which /files/read accepts as well. The file is read through
 * /files/read in chunks of at most 1 MiB.
 */
#define _GNU_SOURCE
#include "agora.h"

#include <stdlib.h>
#include <string.h>

#define READ_CHUNK (1 << 20)
#define FOLLOW_POLL_MS 500

static char *opt_framework;
static bool opt_stderr, opt_follow;
static const struct flag task_flags[] = {
    CLI_FLAG_MASTER,
    {"framework", FLAG_STRING, &opt_framework, NULL,
     "The task's framework id (needed when several frameworks use the same task id)."},
    {"stderr", FLAG_BOOL, &opt_stderr, "false", "Print the task's stderr instead of its stdout."},
    {"follow", FLAG_BOOL, &opt_follow, "false",
     "Keep printing new output until the task ends or the command is interrupted."},
    {NULL},
};
static const struct cli_help task_help = {
    "task logs TASK_ID [--stderr] [--follow] [--framework=ID]",
    "Prints the stdout (or stderr) of a task, read from its sandbox on its agent. With\n"
    "--follow, new output is printed as it comes (polled every 0.5 s) until the task reaches\n"
    "a terminal state or the command is interrupted (Ctrl-C, exit status 0).",
};

static bool
state_terminal(const char *s)
{
    static const char *const terminal[] = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED",
                                           "TASK_LOST",     "TASK_ERROR",  "TASK_DROPPED",
                                           "TASK_GONE",     NULL};
    for (size_t i = 0; s != NULL && terminal[i] != NULL; i++)
        if (strcmp(s, terminal[i]) == 0)
            return true;
    return false;
}

/*
 * Finds the task: its framework (when not given), agent id and state. Returns
 * 0 and a new reference to the task's JSON in *out; -1 when the master does
 * not know it (said on stderr unless `quiet`); CLI_FAIL after printing any
 * other problem. A live task wins over a completed one with the same id.
 */
static int
find_task(const char *base, const char *task_id, const char *fwid, bool quiet, json_t **out)
{
    char path[1024], enc[512];
    json_t *resp, *tk, *found = NULL;
    size_t i;
    int rc;

    *out = NULL;
    if (fwid != NULL) {
        if (cli_urlencode(fwid, false, enc, sizeof(enc)) != 0)
            return cli_error("--framework is too long");
        snprintf(path, sizeof(path), "/tasks?framework_id=%s", enc);
    } else {
        snprintf(path, sizeof(path), "/tasks");
    }
    if ((rc = cli_get_json(base, path, quiet ? NULL : "the master", &resp)) != 0)
        return rc;
    json_array_foreach(json_object_get(resp, "tasks"), i, tk)
    {
        const char *id = json_string_value(json_object_get(tk, "id"));
        const char *f = json_string_value(json_object_get(tk, "framework_id"));
        if (id == NULL || f == NULL || strcmp(id, task_id) != 0)
            continue;
        if (found == NULL) {
            found = tk;
        } else if (strcmp(f, json_string_value(json_object_get(found, "framework_id"))) != 0) {
            cli_error("task %s exists in several frameworks (%s, %s, ...): give --framework=ID",
                      task_id, json_string_value(json_object_get(found, "framework_id")), f);
            json_decref(resp);
            return CLI_FAIL;
        }
    }
    if (found == NULL) {
        json_decref(resp);
        if (!quiet)
            cli_error("no task %s%s%s known to the master (see 'agora tasks')", task_id,
                      fwid ? " in framework " : "", fwid ? fwid : "");
        return -1;
    }
    *out = json_incref(found);
    json_decref(resp);
    return 0;
}

/* The agent's "http://ADDRESS" from the master's /slaves; https:// when the
 * master is reached over TLS (a cluster serves TLS on every port or none). */
static int
agent_url(const char *base, const char *agent_id, char *buf, size_t len)
{
    json_t *resp, *a;
    size_t i;
    int rc;

    if ((rc = cli_get_json(base, "/slaves", "the master", &resp)) != 0)
        return rc;
    json_array_foreach(json_object_get(resp, "slaves"), i, a)
    {
        const char *id = json_string_value(json_object_get(a, "id"));
        const char *addr = json_string_value(json_object_get(a, "http_address"));
        if (id != NULL && addr != NULL && addr[0] && strcmp(id, agent_id) == 0) {
            snprintf(buf, len, "%s://%s", strncmp(base, "https://", 8) == 0 ? "https" : "http",
                     addr);
            json_decref(resp);
            return 0;
        }
    }
    json_decref(resp);
    return cli_error("the task's agent %s is no longer known to the master", agent_id);
}

/* The sandbox directory of the task from the agent's /state, or the relative default. */
static void
sandbox_dir(const char *agent, const char *fwid, const char *task_id, char *buf, size_t len)
{
    static const char *const lists[] = {"executors", "completed_executors"};
    json_t *state = NULL, *fw, *ex;
    size_t i, j;

    snprintf(buf, len, "%s/%s", fwid, task_id);
    if (cli_get_json(agent, "/state", "the agent", &state) != 0)
        return;
    json_array_foreach(json_object_get(state, "frameworks"), i, fw)
    {
        const char *id = json_string_value(json_object_get(fw, "id"));
        if (id == NULL || strcmp(id, fwid) != 0)
            continue;
        for (size_t l = 0; l < 2; l++)
            json_array_foreach(json_object_get(fw, lists[l]), j, ex)
            {
                const char *eid = json_string_value(json_object_get(ex, "id"));
                const char *dir = json_string_value(json_object_get(ex, "directory"));
                if (eid != NULL && dir != NULL && dir[0] && strcmp(eid, task_id) == 0) {
                    snprintf(buf, len, "%s", dir);
                    json_decref(state);
                    return;
                }
            }
    }
    json_decref(state);
}

/*
 * Prints the file from *offset to its end, advancing *offset. Returns 0; 1
 * when the file does not exist (yet) and `quiet_missing`; otherwise prints
 * the problem (a transport error only unless `quiet`) and returns CLI_FAIL.
 */
static int
read_rest(const char *agent, const char *file, int64_t *offset, bool quiet_missing, bool quiet)
{
    char enc[8192], path[8400], msg[512];
    json_t *resp;
    int status, rc;

    if (cli_urlencode(file, true, enc, sizeof(enc)) != 0)
        return cli_error("sandbox path too long: %s", file);
    for (;;) {
        const char *data;
        size_t n;

        snprintf(path, sizeof(path), "/files/read?path=%s&offset=%lld&length=%d", enc,
                 (long long)*offset, READ_CHUNK);
        if ((rc = cli_request("GET", agent, path, NULL, quiet ? NULL : "the agent", 0, &status,
                              &resp)) != 0)
            return rc;
        if (status == 404 && quiet_missing) {
            json_decref(resp);
            return 1;
        }
        if (status != 200) {
            cli_body_message(resp, msg, sizeof(msg));
            json_decref(resp);
            if (status == 404)
                return cli_error("%s: no such file on the agent (the task may not have "
                                 "started, or its sandbox was removed)",
                                 file);
            return cli_error("GET %s/files/read (%s): %d %s", agent, file, status, msg);
        }
        data = json_string_value(json_object_get(resp, "data"));
        n = data ? json_string_length(json_object_get(resp, "data")) : 0;
        if (n > 0) {
            fwrite(data, 1, n, stdout);
            fflush(stdout);
        }
        json_decref(resp);
        *offset += (int64_t)n;
        if (n == 0)
            return 0;
    }
}

static int
task_logs(const char *task_id)
{
    char base[512], agent[600], dir[4096], file[4200];
    json_t *task = NULL;
    const char *fwid, *agent_id;
    int64_t offset = 0;
    bool terminal, warned = false;
    int rc;

    if ((rc = cli_master_url(base, sizeof(base))) != 0)
        return rc;
    if ((rc = find_task(base, task_id, opt_framework, false, &task)) != 0)
        return CLI_FAIL;
    fwid = json_string_value(json_object_get(task, "framework_id"));
    agent_id = json_string_value(json_object_get(task, "slave_id"));
    terminal = state_terminal(json_string_value(json_object_get(task, "state")));
    if (agent_id == NULL || agent_id[0] == '\0') {
        rc = cli_error("task %s has no agent", task_id);
        goto out;
    }
    if ((rc = agent_url(base, agent_id, agent, sizeof(agent))) != 0)
        goto out;
    sandbox_dir(agent, fwid, task_id, dir, sizeof(dir));
    snprintf(file, sizeof(file), "%s/%s", dir, opt_stderr ? "stderr" : "stdout");
    if (!opt_follow) {
        rc = read_rest(agent, file, &offset, false, false);
        goto out;
    }
    cli_catch_signals();
    for (;;) {
        int r = read_rest(agent, file, &offset, !terminal, warned);
        if (r == CLI_FAIL && !terminal) {
            /* The agent may be restarting: keep trying while the task lives. */
            if (!warned)
                fprintf(stderr, "agora: retrying every %d ms\n", FOLLOW_POLL_MS);
            warned = true;
        } else if (r == CLI_FAIL) {
            rc = r;
            break;
        }
        if (terminal || !cli_sleep_ms(FOLLOW_POLL_MS))
            break;
        /* Once the task has ended, one more read picks up its last output. */
        json_t *now = NULL;
        int found = find_task(base, task_id, fwid, true, &now);
        if (found == -1) {
            terminal = true; /* forgotten by the master: it has ended */
        } else if (found == 0) {
            terminal = state_terminal(json_string_value(json_object_get(now, "state")));
            json_decref(now);
        }
    }
out:
    json_decref(task);
    return rc;
}

int
cmd_task(int argc, char **argv)
{
    int rc;

    if ((rc = cli_parse(task_flags, &task_help, &argc, argv)) != 0)
        return rc < 0 ? CLI_OK : rc;
    if (argc < 2) {
        rc = cli_usage_error("task", "missing subcommand (logs)");
    } else if (strcmp(argv[1], "logs") != 0) {
        rc = cli_usage_error("task", "unknown subcommand \"%s\"", argv[1]);
    } else if (argc < 3) {
        rc = cli_usage_error("task", "missing TASK_ID");
    } else if (argc > 3) {
        rc = cli_usage_error("task", "unexpected argument \"%s\"", argv[3]);
    } else {
        rc = task_logs(argv[2]);
    }
    flags_free(task_flags);
    return rc;
}
