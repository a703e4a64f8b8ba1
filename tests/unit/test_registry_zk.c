/*
 * Unit tests for master/registry_zk.c against real ZooKeeper servers
 * (zk_server.h: a standalone server per case, an ensemble of 3 in one): the
 * records round-trip, a fenced write fails once the leader's znode is gone
 * and stores nothing, another session (a new leader) reads what the first
 * wrote, and the master's quota and weights go through it. Skipped when java
 * or ZooKeeper's jar is missing.
 */
#include "test.h"

#include "master_int.h"
#include "registry.h"
#include "zk_server.h"

#include "allocator.h"
#include "error.h"
#include "log.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>
/* The synchronous API of zookeeper_mt is declared for THREADED builds only. */
#define THREADED 1
#include <zookeeper/zookeeper.h>

#define ROOT "/agora/registry"
#define MAX_ROWS 8

/* ---- fixture ---- */

static struct zk_server *
start_servers(int n)
{
    struct zk_server *s;
    char why[512] = "";
    int rc;

    log_set_level(getenv("TEST_LOG") ? AG_LOG_DEBUG : AG_LOG_ERROR);
    zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
    rc = zk_server_start(&s, n, why, sizeof(why));
    if (rc == -AG_ENOENT)
        TEST_SKIP("%s", why);
    if (rc != 0)
        fprintf(stderr, "zk_server_start: %s: %s\n", ag_strerror(rc), why);
    CHECK_EQ_INT(rc, 0);
    return s;
}

/* A session connected to `hosts` (waits up to 20 s). */
static zhandle_t *
connect_zk(const char *hosts)
{
    zhandle_t *zh = zookeeper_init(hosts, NULL, 10000, NULL, NULL, 0);
    struct timespec pause = {0, 20 * 1000 * 1000};

    CHECK(zh != NULL);
    for (int i = 0; i < 1000 && zoo_state(zh) != ZOO_CONNECTED_STATE; i++)
        nanosleep(&pause, NULL);
    CHECK(zoo_state(zh) == ZOO_CONNECTED_STATE);
    return zh;
}

/* A standalone server, a session and an unfenced registry at ROOT. */
struct fixture {
    struct zk_server *s;
    zhandle_t *zh;
    struct registry *r;
};

static void
fixture_start(struct fixture *f)
{
    f->s = start_servers(1);
    f->zh = connect_zk(zk_server_hosts(f->s));
    CHECK_EQ_INT(registry_zk_open(&f->r, f->zh, ROOT, NULL), 0);
}

static void
fixture_stop(struct fixture *f)
{
    registry_close(f->r);
    zookeeper_close(f->zh);
    zk_server_stop(f->s);
}

/* ---- what a load saw ---- */

struct loaded {
    char agents[MAX_ROWS][512];
    size_t nagents;
    char fw_ids[MAX_ROWS][64];
    unsigned char fw_info[MAX_ROWS][64];
    size_t fw_len[MAX_ROWS];
    char fw_rest[MAX_ROWS][128];
    size_t nframeworks;
    char meta[MAX_ROWS][256];
    size_t nmeta;
};

static int
on_agent(void *arg, const struct registry_agent_row *row)
{
    struct loaded *l = arg;

    CHECK(l->nagents < MAX_ROWS);
    snprintf(l->agents[l->nagents++], 512, "%s|%s|%s|%s|%s|%.1f|%d|%s", row->id, row->hostname,
             row->http_address, row->resources, row->attributes, row->registered_time,
             row->draining, row->principal);
    return 0;
}

static int
on_framework(void *arg, const struct registry_framework_row *row)
{
    struct loaded *l = arg;
    size_t i = l->nframeworks++;

    CHECK(i < MAX_ROWS && row->info_len <= sizeof(l->fw_info[i]));
    snprintf(l->fw_ids[i], sizeof(l->fw_ids[i]), "%s", row->id);
    memcpy(l->fw_info[i], row->info, row->info_len);
    l->fw_len[i] = row->info_len;
    snprintf(l->fw_rest[i], sizeof(l->fw_rest[i]), "%.1f|%s", row->registered_time, row->principal);
    return 0;
}

static int
on_meta(void *arg, const char *key, const char *value)
{
    struct loaded *l = arg;

    CHECK(l->nmeta < MAX_ROWS);
    snprintf(l->meta[l->nmeta++], 256, "%s=%s", key, value);
    return 0;
}

static void
load_all(struct registry *r, struct loaded *l)
{
    memset(l, 0, sizeof(*l));
    CHECK_EQ_INT(registry_load(r, on_agent, on_framework, l), 0);
    CHECK_EQ_INT(registry_load_meta(r, on_meta, l), 0);
}

/* Whether `want` is one of the `n` strings of `rows`. */
static bool
has_row(const char (*rows)[512], size_t n, const char *want)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i], want) == 0)
            return true;
    return false;
}

static bool
has_meta(const struct loaded *l, const char *want)
{
    for (size_t i = 0; i < l->nmeta; i++)
        if (strcmp(l->meta[i], want) == 0)
            return true;
    return false;
}

static const struct registry_agent_row agent1 = {
    "A1", "host1", "10.0.0.1:5051", "cpus:4;mem:1024", "rack:r1", 100.0, 1, "ops"};
static const struct registry_agent_row agent2 = {
    "A2", "host2", "10.0.0.2:5051", "cpus:2", "", 200.0, 0, NULL};
#define AGENT1_ROW "A1|host1|10.0.0.1:5051|cpus:4;mem:1024|rack:r1|100.0|1|ops"
#define AGENT2_ROW "A2|host2|10.0.0.2:5051|cpus:2||200.0|0|"
/* A framework's info with zero bytes and a newline: kept as it is. */
static const unsigned char fw_info[] = {0x81, 0x00, 0x0a, 'x', 0x00, 0xff, 0x00};
static const struct registry_framework_row framework1 = {"F1", fw_info, sizeof(fw_info), 300.0,
                                                         "alice"};

/* Stores agent1, agent2, framework1 and two meta records. */
static void
put_sample(struct registry *r)
{
    CHECK_EQ_INT(registry_put_agent(r, &agent1), 0);
    CHECK_EQ_INT(registry_put_agent(r, &agent2), 0);
    CHECK_EQ_INT(registry_put_framework(r, &framework1), 0);
    CHECK_EQ_INT(registry_set_meta(r, "weight/eng", "2.5"), 0);
    CHECK_EQ_INT(registry_set_meta(r, "quota/eng/web", "{\"guarantee\":\"cpus:1\"}"), 0);
}

/* Checks that `l` holds exactly what put_sample stored. */
static void
check_sample(const struct loaded *l)
{
    CHECK_EQ_INT(l->nagents, 2);
    CHECK(has_row(l->agents, l->nagents, AGENT1_ROW));
    CHECK(has_row(l->agents, l->nagents, AGENT2_ROW));
    CHECK_EQ_INT(l->nframeworks, 1);
    CHECK_EQ_STR(l->fw_ids[0], "F1");
    CHECK_EQ_INT(l->fw_len[0], sizeof(fw_info));
    CHECK(memcmp(l->fw_info[0], fw_info, sizeof(fw_info)) == 0);
    CHECK_EQ_STR(l->fw_rest[0], "300.0|alice");
    CHECK_EQ_INT(l->nmeta, 2);
    CHECK(has_meta(l, "weight/eng=2.5"));
    CHECK(has_meta(l, "quota/eng/web={\"guarantee\":\"cpus:1\"}"));
}

/* ---- cases ---- */

/* Agents, a framework with binary info and meta records come back as they
 * were stored, in the documented layout. */
static void
test_round_trip(void)
{
    struct fixture f;
    struct loaded l;
    char buf[256];
    int len = sizeof(buf) - 1;

    fixture_start(&f);
    put_sample(f.r);
    load_all(f.r, &l);
    check_sample(&l);
    /* The layout of registry_zk.c's top comment. */
    CHECK_EQ_INT(zoo_get(f.zh, ROOT "/agents/A1", 0, buf, &len, NULL), ZOK);
    buf[len] = '\0';
    CHECK(buf[0] == '{' && strstr(buf, "\"hostname\":\"host1\"") != NULL);
    CHECK_EQ_INT(zoo_exists(f.zh, ROOT "/frameworks/F1", 0, NULL), ZOK);
    CHECK_EQ_INT(zoo_exists(f.zh, ROOT "/meta/quota%2Feng%2Fweb", 0, NULL), ZOK);
    fixture_stop(&f);
}

/* Removes delete one record each; removing what is not there is no error. */
static void
test_remove(void)
{
    struct fixture f;
    struct registry *r;
    struct loaded l;

    fixture_start(&f);
    r = f.r;
    put_sample(r);
    CHECK_EQ_INT(registry_remove_agent(r, "A1"), 0);
    CHECK_EQ_INT(registry_remove_framework(r, "F1"), 0);
    CHECK_EQ_INT(registry_remove_meta(r, "quota/eng/web"), 0);
    load_all(r, &l);
    CHECK_EQ_INT(l.nagents, 1);
    CHECK_EQ_STR(l.agents[0], AGENT2_ROW);
    CHECK_EQ_INT(l.nframeworks, 0);
    CHECK_EQ_INT(l.nmeta, 1);
    CHECK_EQ_STR(l.meta[0], "weight/eng=2.5");
    CHECK_EQ_INT(registry_remove_agent(r, "A1"), 0);
    CHECK_EQ_INT(registry_remove_framework(r, "nobody"), 0);
    CHECK_EQ_INT(registry_remove_meta(r, "quota/none"), 0);
    fixture_stop(&f);
}

/* A put of an existing id replaces the record. */
static void
test_overwrite(void)
{
    struct registry_agent_row a = agent1;
    struct registry_framework_row fw = framework1;
    struct fixture f;
    struct registry *r;
    struct loaded l;

    fixture_start(&f);
    r = f.r;
    put_sample(r);
    a.resources = "cpus:8";
    a.draining = 0;
    CHECK_EQ_INT(registry_put_agent(r, &a), 0);
    fw.info = "new";
    fw.info_len = 3;
    fw.principal = "";
    CHECK_EQ_INT(registry_put_framework(r, &fw), 0);
    CHECK_EQ_INT(registry_set_meta(r, "weight/eng", "4"), 0);
    load_all(r, &l);
    CHECK_EQ_INT(l.nagents, 2);
    CHECK(has_row(l.agents, l.nagents, "A1|host1|10.0.0.1:5051|cpus:8|rack:r1|100.0|0|ops"));
    CHECK_EQ_INT(l.nframeworks, 1);
    CHECK_EQ_INT(l.fw_len[0], 3);
    CHECK(memcmp(l.fw_info[0], "new", 3) == 0);
    CHECK_EQ_STR(l.fw_rest[0], "300.0|");
    CHECK_EQ_INT(l.nmeta, 2);
    CHECK(has_meta(&l, "weight/eng=4"));
    fixture_stop(&f);
}

/* A record over 1,000,000 bytes is refused and nothing is stored; one of
 * exactly 1,000,000 bytes fits under the server's own limit. */
static void
test_size_limit(void)
{
    struct registry_framework_row fw = framework1;
    char *big = malloc(1000002);
    struct fixture f;
    struct registry *r;
    struct loaded l;
    struct Stat st;

    CHECK(big != NULL);
    memset(big, 'x', 1000001);
    big[1000001] = '\0';
    fixture_start(&f);
    r = f.r;
    CHECK_EQ_INT(registry_set_meta(r, "big", big), -AG_EINVAL);
    fw.info = big;
    fw.info_len = 1000001;
    CHECK_EQ_INT(registry_put_framework(r, &fw), -AG_EINVAL);
    fw.info_len = 999990; /* with its header line, over the limit too */
    CHECK_EQ_INT(registry_put_framework(r, &fw), -AG_EINVAL);
    load_all(r, &l);
    CHECK_EQ_INT(l.nframeworks + l.nmeta + l.nagents, 0);
    CHECK_EQ_INT(zoo_exists(f.zh, ROOT "/meta/big", 0, NULL), ZNONODE);

    big[1000000] = '\0';
    CHECK_EQ_INT(registry_set_meta(r, "big", big), 0);
    CHECK_EQ_INT(zoo_exists(f.zh, ROOT "/meta/big", 0, &st), ZOK);
    CHECK_EQ_INT(st.dataLength, 1000000);
    free(big);
    fixture_stop(&f);
}

/* Writes behind a fence: they succeed while the fence znode exists; once it
 * is deleted, or the session that owned it ends (a deposed leader), every
 * write fails with -REGISTRY_ENOTLEADER and stores nothing. */
static void
test_fence(void)
{
    struct registry_agent_row a = agent1;
    struct fixture f;
    zhandle_t *zh, *owner;
    struct registry *r;
    struct loaded l;

    fixture_start(&f);
    zh = f.zh;
    owner = connect_zk(zk_server_hosts(f.s));
    CHECK_EQ_INT(
        zoo_create(zh, "/agora/leader", NULL, -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0),
        ZOK);
    CHECK_EQ_INT(registry_zk_open(&r, zh, ROOT, "/agora/leader"), 0);
    put_sample(r);

    CHECK_EQ_INT(zoo_delete(zh, "/agora/leader", -1), ZOK);
    a.hostname = "changed";
    CHECK_EQ_INT(registry_put_agent(r, &a), -REGISTRY_ENOTLEADER);
    CHECK_EQ_INT(registry_put_agent(r, &(struct registry_agent_row){"A3", "h", "a", "", "", 1}),
                 -REGISTRY_ENOTLEADER);
    CHECK_EQ_INT(registry_remove_agent(r, "A2"), -REGISTRY_ENOTLEADER);
    CHECK_EQ_INT(registry_put_framework(r, &framework1), -REGISTRY_ENOTLEADER);
    CHECK_EQ_INT(registry_remove_framework(r, "F1"), -REGISTRY_ENOTLEADER);
    CHECK_EQ_INT(registry_set_meta(r, "weight/eng", "9"), -REGISTRY_ENOTLEADER);
    CHECK_EQ_INT(registry_remove_meta(r, "quota/eng/web"), -REGISTRY_ENOTLEADER);
    load_all(r, &l);
    check_sample(&l);
    registry_close(r);

    /* The fence of another session, which then ends: its ephemeral znode
     * goes with it. */
    CHECK_EQ_INT(
        zoo_create(owner, "/agora/leader2", NULL, -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0),
        ZOK);
    CHECK_EQ_INT(registry_zk_open(&r, zh, ROOT, "/agora/leader2"), 0);
    CHECK_EQ_INT(registry_set_meta(r, "weight/ops", "3"), 0);
    zookeeper_close(owner);
    CHECK_EQ_INT(registry_set_meta(r, "weight/ops", "5"), -REGISTRY_ENOTLEADER);
    CHECK_EQ_INT(registry_put_agent(r, &a), -REGISTRY_ENOTLEADER);
    load_all(r, &l);
    CHECK_EQ_INT(l.nmeta, 3);
    CHECK(has_meta(&l, "weight/ops=3"));
    CHECK(has_row(l.agents, l.nagents, AGENT1_ROW));
    registry_close(r);
    fixture_stop(&f);
}

/* A lost connection (the server crashed): the write's fate is unknown, the
 * session may be expiring, so the master is told it is not the leader any
 * more; a load fails too. */
static void
test_connection_lost(void)
{
    struct fixture f;
    struct loaded l;

    fixture_start(&f);
    put_sample(f.r);
    zk_server_kill(f.s, 0);
    CHECK_EQ_INT(registry_set_meta(f.r, "weight/ops", "1"), -REGISTRY_ENOTLEADER);
    CHECK_EQ_INT(registry_load_meta(f.r, on_meta, &l), -REGISTRY_ENOTLEADER);
    fixture_stop(&f);
}

/* A registry on another session (a new leader) loads what the first wrote;
 * its own writes are seen by the first. */
static void
test_new_leader_sees(void)
{
    struct fixture f;
    zhandle_t *zh2;
    struct registry *r2;
    struct loaded l;

    fixture_start(&f);
    put_sample(f.r);
    zh2 = connect_zk(zk_server_hosts(f.s));
    CHECK_EQ_INT(registry_zk_open(&r2, zh2, ROOT, NULL), 0);
    load_all(r2, &l);
    check_sample(&l);
    CHECK_EQ_INT(registry_remove_agent(r2, "A2"), 0);
    load_all(f.r, &l);
    CHECK_EQ_INT(l.nagents, 1);
    registry_close(r2);
    zookeeper_close(zh2);
    fixture_stop(&f);
}

/* Replication in an ensemble of 3: written through a follower, read through
 * the leader; with the other follower killed, the two left (a quorum) still
 * write and read. Each session talks to one server only. */
static void
test_ensemble(void)
{
    struct zk_server *s = start_servers(3);
    int leader = -1, follower, other;
    zhandle_t *zf, *zl;
    struct registry *rf, *rl;
    struct loaded l;

    for (int i = 0; i < 3; i++)
        if (zk_server_leads(s, i))
            leader = i;
    CHECK(leader >= 0);
    follower = (leader + 1) % 3;
    other = (leader + 2) % 3;
    zf = connect_zk(zk_server_host(s, follower));
    zl = connect_zk(zk_server_host(s, leader));
    CHECK_EQ_INT(registry_zk_open(&rf, zf, ROOT, NULL), 0);
    put_sample(rf);
    CHECK_EQ_INT(registry_zk_open(&rl, zl, ROOT, NULL), 0);
    load_all(rl, &l);
    check_sample(&l);

    zk_server_kill(s, other);
    CHECK_EQ_INT(registry_set_meta(rl, "weight/ops", "7"), 0);
    CHECK_EQ_INT(registry_remove_agent(rf, "A2"), 0);
    load_all(rf, &l);
    CHECK(has_meta(&l, "weight/ops=7"));
    load_all(rl, &l);
    CHECK(has_meta(&l, "weight/ops=7"));
    CHECK_EQ_INT(l.nagents, 1);
    registry_close(rf);
    registry_close(rl);
    zookeeper_close(zf);
    zookeeper_close(zl);
    zk_server_stop(s);
}

/* A new root, with missing parents, is created and loads empty. */
static void
test_empty_root(void)
{
    struct fixture f;
    struct registry *r;
    struct loaded l;
    zhandle_t *zh;

    fixture_start(&f);
    zh = f.zh;
    load_all(f.r, &l);
    CHECK_EQ_INT(l.nagents + l.nframeworks + l.nmeta, 0);
    CHECK_EQ_INT(registry_zk_open(&r, zh, "/a/b/c", NULL), 0);
    load_all(r, &l);
    CHECK_EQ_INT(l.nagents + l.nframeworks + l.nmeta, 0);
    CHECK_EQ_INT(zoo_exists(zh, "/a/b/c/agents", 0, NULL), ZOK);
    registry_close(r);
    /* Opening again finds it in place. */
    CHECK_EQ_INT(registry_zk_open(&r, zh, "/a/b/c", NULL), 0);
    load_all(r, &l);
    CHECK_EQ_INT(l.nagents + l.nframeworks + l.nmeta, 0);
    registry_close(r);
    r = (struct registry *)1;
    CHECK_EQ_INT(registry_zk_open(&r, zh, "relative", NULL), -AG_EINVAL);
    CHECK(r == NULL);
    CHECK_EQ_INT(registry_zk_open(&r, zh, "/", NULL), -AG_EINVAL);
    fixture_stop(&f);
}

/* ---- the master's quota and weights through this backend ---- */

struct mini_master {
    uv_loop_t loop;
    struct master *m;
    struct master_flags flags;
    char dir[64];
};

/* A master on its own work_dir whose registry is then replaced by `r`, as the
 * master does when it uses ZooKeeper. */
static void
mini_start(struct mini_master *mm, struct registry *r)
{
    memset(mm, 0, sizeof(*mm));
    snprintf(mm->dir, sizeof(mm->dir), "/tmp/agora-test-registry-zk.XXXXXX");
    CHECK(mkdtemp(mm->dir) != NULL);
    mm->flags = (struct master_flags){.work_dir = mm->dir,
                                      .agent_reregister_timeout_ms = 60000,
                                      .allocation_interval_ms = 3600000};
    CHECK_EQ_INT(uv_loop_init(&mm->loop), 0);
    CHECK((mm->m = master_new("0a1b2c3d-0000-4000-8000-0000000000aa", NULL)) != NULL);
    CHECK_EQ_INT(master_start(mm->m, &mm->loop, &mm->flags), 0);
    master_start_timers(mm->m);
    registry_close(mm->m->reg);
    mm->m->reg = r;
}

static void
mini_stop(struct mini_master *mm)
{
    char cmd[128];

    master_stop(mm->m);
    uv_run(&mm->loop, UV_RUN_DEFAULT);
    master_free(mm->m);
    CHECK_EQ_INT(uv_loop_close(&mm->loop), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", mm->dir);
    CHECK_EQ_INT(system(cmd), 0);
}

/* master_set_quota and master_set_weight store their records before they
 * take effect: another session reads them back; a removed quota's record is
 * deleted; when the write fails (the fence is gone) the call returns the
 * error and the allocator keeps the previous values. */
static void
test_master_policy(void)
{
    struct zk_server *s = start_servers(1);
    zhandle_t *zh = connect_zk(zk_server_hosts(s));
    zhandle_t *zh2 = connect_zk(zk_server_hosts(s));
    struct resources g, lim, none;
    struct alloc_role_info info;
    struct mini_master mm;
    struct registry *r, *r2;
    struct loaded l;
    char err[256];

    CHECK_EQ_INT(zoo_create(zh, "/leader", NULL, -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0),
                 ZOK);
    CHECK_EQ_INT(registry_zk_open(&r, zh, ROOT, "/leader"), 0);
    mini_start(&mm, r);
    res_init(&g);
    res_init(&lim);
    res_init(&none);
    CHECK_EQ_INT(res_parse(&g, "cpus:1;mem:128", err, sizeof(err)), 0);
    CHECK_EQ_INT(res_parse(&lim, "cpus:2", err, sizeof(err)), 0);
    CHECK_EQ_INT(master_set_quota(mm.m, "eng/web", &g, &lim), 0);
    CHECK_EQ_INT(master_set_quota(mm.m, "ops", &g, &none), 0);
    CHECK_EQ_INT(master_set_quota(mm.m, "ops", &none, &none), 0);
    CHECK_EQ_INT(master_set_weight(mm.m, "eng", 2.5), 0);
    CHECK_EQ_INT(master_set_weight(mm.m, "eng", -1), -AG_EINVAL);

    CHECK_EQ_INT(registry_zk_open(&r2, zh2, ROOT, NULL), 0);
    load_all(r2, &l);
    CHECK_EQ_INT(l.nmeta, 2);
    CHECK(has_meta(&l, "quota/eng/web={\"guarantee\":\"cpus:1;mem:128\",\"limit\":\"cpus:2\"}"));
    CHECK(has_meta(&l, "weight/eng=2.5"));

    /* Deposed: nothing changes, in ZooKeeper or in the allocator. */
    CHECK_EQ_INT(zoo_delete(zh2, "/leader", -1), ZOK);
    CHECK_EQ_INT(master_set_weight(mm.m, "eng", 4), -REGISTRY_ENOTLEADER);
    CHECK_EQ_INT(master_set_quota(mm.m, "eng/web", &none, &none), -REGISTRY_ENOTLEADER);
    CHECK_EQ_INT(master_set_quota(mm.m, "dev", &g, &none), -REGISTRY_ENOTLEADER);
    CHECK_EQ_INT(alloc_get_role(mm.m->alloc, "eng", &info), 0);
    CHECK(info.weight == 2.5);
    CHECK_EQ_INT(alloc_get_role(mm.m->alloc, "eng/web", &info), 0);
    CHECK(info.guarantee != NULL && info.limit != NULL);
    CHECK(alloc_get_role(mm.m->alloc, "dev", &info) != 0 || info.guarantee == NULL);
    load_all(r2, &l);
    CHECK_EQ_INT(l.nmeta, 2);
    CHECK(has_meta(&l, "weight/eng=2.5"));

    mini_stop(&mm); /* closes r */
    res_fini(&g);
    res_fini(&lim);
    registry_close(r2);
    zookeeper_close(zh);
    zookeeper_close(zh2);
    zk_server_stop(s);
}

TEST_LIST(TEST_ENTRY(round_trip), TEST_ENTRY(remove), TEST_ENTRY(overwrite), TEST_ENTRY(size_limit),
          TEST_ENTRY(fence), TEST_ENTRY(connection_lost), TEST_ENTRY(new_leader_sees),
          TEST_ENTRY(ensemble), TEST_ENTRY(empty_root), TEST_ENTRY(master_policy));
TEST_MAIN()
