/* Unit tests for master/registry.c: the SQLite backend behind registry_ops
 * stores rows, and a reopened registry loads them back through callbacks. */
#include "test.h"

#include "registry.h"

#include "error.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

struct loaded {
    char agents[8][256];
    size_t nagents;
    char frameworks[8][256];
    size_t nframeworks;
    int stop_after; /* return -AG_EIO after this many rows (0: never) */
};

static int
on_agent(void *arg, const struct registry_agent_row *row)
{
    struct loaded *l = arg;
    CHECK(l->nagents < 8);
    snprintf(l->agents[l->nagents++], 256, "%s|%s|%s|%s|%s|%.1f", row->id, row->hostname,
             row->http_address, row->resources, row->attributes, row->registered_time);
    if (l->stop_after && (int)l->nagents >= l->stop_after)
        return -AG_EIO;
    return 0;
}

static int
on_framework(void *arg, const struct registry_framework_row *row)
{
    struct loaded *l = arg;
    CHECK(l->nframeworks < 8);
    snprintf(l->frameworks[l->nframeworks++], 256, "%s|%.*s|%.1f", row->id, (int)row->info_len,
             (const char *)row->info, row->registered_time);
    return 0;
}

static void
make_dir(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/agora-test-registry.XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
}

static void
remove_dir(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK_EQ_INT(system(cmd), 0);
}

static void
test_put_load_remove(void)
{
    char dir[64];
    struct registry *r;
    struct loaded l;
    struct registry_agent_row a1 = {"A1",      "host1", "10.0.0.1:5051", "cpus:4;mem:1024",
                                    "rack:r1", 100.0};
    struct registry_agent_row a2 = {"A2", "host2", "10.0.0.2:5051", "cpus:2", "", 200.0};
    struct registry_framework_row f1 = {"F1", "blob-1", 6, 300.0};

    log_set_level(AG_LOG_ERROR);
    make_dir(dir, sizeof(dir));
    CHECK_EQ_INT(registry_sqlite_open(&r, dir), 0);
    CHECK_EQ_INT(registry_put_agent(r, &a1), 0);
    CHECK_EQ_INT(registry_put_agent(r, &a2), 0);
    a2.resources = "cpus:2;mem:512"; /* a put replaces the row */
    CHECK_EQ_INT(registry_put_agent(r, &a2), 0);
    CHECK_EQ_INT(registry_put_framework(r, &f1), 0);
    CHECK_EQ_INT(registry_set_meta(r, "k", "v"), 0);
    registry_close(r);

    /* Another instance of the backend sees what the first stored. */
    CHECK_EQ_INT(registry_sqlite_open(&r, dir), 0);
    memset(&l, 0, sizeof(l));
    CHECK_EQ_INT(registry_load(r, on_agent, on_framework, &l), 0);
    CHECK_EQ_INT(l.nagents, 2);
    CHECK_EQ_INT(l.nframeworks, 1);
    CHECK(strcmp(l.agents[0], "A1|host1|10.0.0.1:5051|cpus:4;mem:1024|rack:r1|100.0") == 0 ||
          strcmp(l.agents[1], "A1|host1|10.0.0.1:5051|cpus:4;mem:1024|rack:r1|100.0") == 0);
    CHECK(strcmp(l.agents[0], "A2|host2|10.0.0.2:5051|cpus:2;mem:512||200.0") == 0 ||
          strcmp(l.agents[1], "A2|host2|10.0.0.2:5051|cpus:2;mem:512||200.0") == 0);
    CHECK_EQ_STR(l.frameworks[0], "F1|blob-1|300.0");

    CHECK_EQ_INT(registry_remove_agent(r, "A1"), 0);
    CHECK_EQ_INT(registry_remove_framework(r, "F1"), 0);
    memset(&l, 0, sizeof(l));
    CHECK_EQ_INT(registry_load(r, on_agent, on_framework, &l), 0);
    CHECK_EQ_INT(l.nagents, 1);
    CHECK_EQ_INT(l.nframeworks, 0);
    CHECK(strncmp(l.agents[0], "A2|", 3) == 0);

    /* A callback's error stops the load and is returned. */
    CHECK_EQ_INT(registry_put_agent(r, &a1), 0);
    memset(&l, 0, sizeof(l));
    l.stop_after = 1;
    CHECK_EQ_INT(registry_load(r, on_agent, on_framework, &l), -AG_EIO);
    CHECK_EQ_INT(l.nagents, 1);
    CHECK_EQ_INT(l.nframeworks, 0);
    registry_close(r);
    registry_close(NULL);
    remove_dir(dir);
}

static int
on_meta(void *arg, const char *key, const char *value)
{
    struct loaded *l = arg;
    CHECK(l->nagents < 8);
    snprintf(l->agents[l->nagents++], 256, "%s=%s", key, value);
    return 0;
}

/* Meta records: set replaces, remove deletes (none is no error), a reopened
 * registry loads them back. */
static void
test_meta(void)
{
    char dir[64];
    struct registry *r;
    struct loaded l;

    log_set_level(AG_LOG_ERROR);
    make_dir(dir, sizeof(dir));
    CHECK_EQ_INT(registry_sqlite_open(&r, dir), 0);
    CHECK_EQ_INT(registry_set_meta(r, "weight/eng", "2"), 0);
    CHECK_EQ_INT(registry_set_meta(r, "weight/eng", "2.5"), 0);
    CHECK_EQ_INT(registry_set_meta(r, "quota/eng/web", "{}"), 0);
    CHECK_EQ_INT(registry_set_meta(r, "quota/dev", "{}"), 0);
    CHECK_EQ_INT(registry_remove_meta(r, "quota/dev"), 0);
    CHECK_EQ_INT(registry_remove_meta(r, "quota/none"), 0);
    registry_close(r);

    CHECK_EQ_INT(registry_sqlite_open(&r, dir), 0);
    memset(&l, 0, sizeof(l));
    CHECK_EQ_INT(registry_load_meta(r, on_meta, &l), 0);
    CHECK_EQ_INT(l.nagents, 2);
    CHECK(strcmp(l.agents[0], "weight/eng=2.5") == 0 || strcmp(l.agents[1], "weight/eng=2.5") == 0);
    CHECK(strcmp(l.agents[0], "quota/eng/web={}") == 0 ||
          strcmp(l.agents[1], "quota/eng/web={}") == 0);
    registry_close(r);
    remove_dir(dir);
}

/* A work_dir that cannot be created is an error, nothing opened. */
static void
test_open_error(void)
{
    struct registry *r = (struct registry *)1;

    log_set_level(AG_LOG_ERROR);
    CHECK(registry_sqlite_open(&r, "/proc/no-such-dir/registry") < 0);
    CHECK(r == NULL);
}

TEST_LIST(TEST_ENTRY(put_load_remove), TEST_ENTRY(meta), TEST_ENTRY(open_error));
TEST_MAIN()
