/*
 * Unit tests of the plugin host's modules: the store (framework/plugin_host/
 * store.c), the loader's descriptor checks (loader.c) and the functions given
 * to plugins (ctx.c: key-value store, configuration getters, timers). The
 * host is an executable, not a library, so its sources are compiled in here.
 */
#include "ctx.c"
#include "loader.c"
#include "store.c"

#include "test.h"

#include <unistd.h>

static char tmpdir[64];

static void
make_tmpdir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/agora-plugin-test.XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL);
}

static void
remove_tmpdir(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    CHECK(system(cmd) == 0);
}

static struct store *
open_store(void)
{
    char path[128], err[256];
    struct store *s;

    snprintf(path, sizeof(path), "%s/plugin.db", tmpdir);
    CHECK_EQ_INT(store_open(&s, path, err, sizeof(err)), 0);
    return s;
}

/* A context as main.c sets it up, without a driver. */
static struct ag_plugin_ctx *
ctx_new(const char *config)
{
    struct ag_plugin_ctx *c = calloc(1, sizeof(*c));
    pthread_mutexattr_t ma;

    CHECK(c != NULL);
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&c->plugin_lock, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->lp.desc.name = "test";
    c->p = &c->lp.desc;
    c->config = json_loads(config, 0, NULL);
    CHECK(c->config != NULL);
    c->store = open_store();
    return c;
}

static void
ctx_free(struct ag_plugin_ctx *c)
{
    host_timers_free(c);
    store_close(c->store);
    json_decref(c->config);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->plugin_lock);
    free(c);
}

/* ---- store ---- */

struct seen {
    char text[512];
    struct ag_plugin_ctx *ctx; /* when set, the visitor writes to the store */
};

static int
visit(void *arg, const char *key, const void *value, size_t len)
{
    struct seen *s = arg;
    size_t n = strlen(s->text);

    snprintf(s->text + n, sizeof(s->text) - n, "%s=%.*s;", key, (int)len, (const char *)value);
    if (s->ctx != NULL)
        CHECK_EQ_INT(ag_kv_put_str(s->ctx, "a/zz-added", "x"), 0);
    return strcmp(key, "stop") == 0 ? 42 : 0;
}

static void
test_kv_basics(void)
{
    struct ag_plugin_ctx *c;
    struct seen seen = {{0}, NULL};
    char *v;
    size_t len;

    make_tmpdir();
    c = ctx_new("{}");
    CHECK_EQ_INT(ag_kv_get(c, "missing", &v, &len), -AG_ENOENT);
    CHECK(v == NULL);
    CHECK_EQ_INT(ag_kv_put_str(c, "a/2", "two"), 0);
    CHECK_EQ_INT(ag_kv_put_str(c, "a/1", "one"), 0);
    CHECK_EQ_INT(ag_kv_put_str(c, "b/1", "other"), 0);
    CHECK_EQ_INT(ag_kv_put(c, "bin", "x\0y", 3), 0);
    CHECK_EQ_INT(ag_kv_put(c, "empty", NULL, 0), 0);
    CHECK_EQ_INT(ag_kv_put_str(c, "a/1", "uno"), 0); /* replaces */
    CHECK_EQ_INT(ag_kv_get(c, "a/1", &v, &len), 0);
    CHECK_EQ_STR(v, "uno");
    CHECK_EQ_INT(len, 3);
    free(v);
    CHECK_EQ_INT(ag_kv_get(c, "bin", &v, &len), 0);
    CHECK_EQ_INT(len, 3);
    CHECK(memcmp(v, "x\0y", 4) == 0); /* NUL-terminated too */
    free(v);
    CHECK_EQ_INT(ag_kv_get(c, "empty", &v, &len), 0);
    CHECK_EQ_INT(len, 0);
    CHECK_EQ_STR(v, "");
    free(v);
    /* Prefix listing in key order; the visitor may write (it sees a snapshot). */
    seen.ctx = c;
    CHECK_EQ_INT(ag_kv_list(c, "a/", visit, &seen), 0);
    CHECK_EQ_STR(seen.text, "a/1=uno;a/2=two;");
    seen.ctx = NULL;
    seen.text[0] = '\0';
    CHECK_EQ_INT(ag_kv_list(c, "a/", visit, &seen), 0);
    CHECK_EQ_STR(seen.text, "a/1=uno;a/2=two;a/zz-added=x;");
    CHECK_EQ_INT(ag_kv_put_str(c, "stop", "!"), 0);
    seen.text[0] = '\0';
    CHECK_EQ_INT(ag_kv_list(c, NULL, visit, &seen), 42); /* stops at the first non-zero */
    CHECK_EQ_STR(seen.text, "a/1=uno;a/2=two;a/zz-added=x;b/1=other;bin=x;empty=;stop=!;");
    CHECK_EQ_INT(ag_kv_del(c, "a/1"), 0);
    CHECK_EQ_INT(ag_kv_del(c, "a/1"), 0); /* absent is fine */
    CHECK_EQ_INT(ag_kv_get(c, "a/1", &v, NULL), -AG_ENOENT);
    /* Bad arguments. */
    CHECK_EQ_INT(ag_kv_put_str(c, "", "x"), -AG_EINVAL);
    CHECK_EQ_INT(ag_kv_put(c, "k", NULL, 3), -AG_EINVAL);
    CHECK_EQ_INT(ag_kv_get(c, NULL, &v, NULL), -AG_EINVAL);
    ctx_free(c);
    remove_tmpdir();
}

static void
test_kv_transactions(void)
{
    struct ag_plugin_ctx *c;
    char *v;

    make_tmpdir();
    c = ctx_new("{}");
    CHECK_EQ_INT(ag_kv_commit(c), -AG_ESTATE);
    CHECK_EQ_INT(ag_kv_begin(c), 0);
    CHECK_EQ_INT(ag_kv_begin(c), -AG_ESTATE);
    CHECK_EQ_INT(ag_kv_put_str(c, "k", "v"), 0);
    CHECK_EQ_INT(ag_kv_rollback(c), 0);
    CHECK_EQ_INT(ag_kv_get(c, "k", &v, NULL), -AG_ENOENT);
    CHECK_EQ_INT(ag_kv_begin(c), 0);
    CHECK_EQ_INT(ag_kv_put_str(c, "k", "v"), 0);
    CHECK_EQ_INT(ag_kv_put_str(c, "k2", "v2"), 0);
    CHECK_EQ_INT(ag_kv_commit(c), 0);
    CHECK_EQ_INT(ag_kv_get(c, "k2", &v, NULL), 0);
    free(v);
    /* A transaction left open by a callback is rolled back by host_leave. */
    pthread_mutex_lock(&c->plugin_lock);
    CHECK_EQ_INT(ag_kv_begin(c), 0);
    CHECK_EQ_INT(ag_kv_del(c, "k"), 0);
    host_leave(c, "a test");
    CHECK(!store_in_txn(c->store));
    CHECK_EQ_INT(ag_kv_get(c, "k", &v, NULL), 0);
    free(v);
    ctx_free(c);
    remove_tmpdir();
}

static void
test_store_persists_and_clears(void)
{
    struct store *s;
    char *v;

    make_tmpdir();
    s = open_store();
    CHECK_EQ_INT(store_host_get(s, "framework_id", &v), -AG_ENOENT);
    CHECK_EQ_INT(store_host_put(s, "framework_id", "fw-1"), 0);
    CHECK_EQ_INT(store_kv_put(s, "k", "v", 1), 0);
    store_close(s);
    s = open_store(); /* as a restarted host */
    CHECK_EQ_INT(store_host_get(s, "framework_id", &v), 0);
    CHECK_EQ_STR(v, "fw-1");
    free(v);
    CHECK_EQ_INT(store_kv_get(s, "k", &v, NULL), 0);
    free(v);
    CHECK_EQ_INT(store_host_put(s, "framework_id", NULL), 0);
    CHECK_EQ_INT(store_host_get(s, "framework_id", &v), -AG_ENOENT);
    CHECK_EQ_INT(store_host_put(s, "plugin", "p"), 0);
    CHECK_EQ_INT(store_clear(s), 0);
    CHECK_EQ_INT(store_host_get(s, "plugin", &v), -AG_ENOENT);
    CHECK_EQ_INT(store_kv_get(s, "k", &v, NULL), -AG_ENOENT);
    store_close(s);
    remove_tmpdir();
}

/* ---- loader ---- */

static void
test_loader_checks(void)
{
    struct ag_plugin p = {.abi_version = AG_PLUGIN_ABI_VERSION,
                          .size = sizeof(struct ag_plugin),
                          .name = "p"},
                     out;
    struct {
        struct ag_plugin v1;
        void *later_member;
    } newer = {.v1 = p, .later_member = &p};
    char err[512];

    CHECK_EQ_INT(loader_check("p.so", &p, &out, err, sizeof(err)), 0);
    CHECK_EQ_STR(out.name, "p");
    /* A plugin built against a newer minor version (larger struct) is accepted. */
    newer.v1.size = sizeof(newer);
    CHECK_EQ_INT(loader_check("p.so", &newer.v1, &out, err, sizeof(err)), 0);
    p.abi_version = 2;
    CHECK_EQ_INT(loader_check("p.so", &p, &out, err, sizeof(err)), -AG_EVERSION);
    CHECK(strstr(err, "plugin p.so: ABI version 2, this host supports 1; rebuild the plugin "
                      "against agora-scheduler") != NULL);
    p.abi_version = AG_PLUGIN_ABI_VERSION;
    p.size = 16;
    CHECK_EQ_INT(loader_check("p.so", &p, &out, err, sizeof(err)), -AG_EVERSION);
    CHECK(strstr(err, "descriptor of 16 bytes") != NULL);
    p.size = sizeof(p);
    p.name = "";
    CHECK_EQ_INT(loader_check("p.so", &p, &out, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "has no name") != NULL);
}

static void
test_loader_files(void)
{
    struct loaded_plugin lp;
    char err[1024], path[128];
    FILE *f;

    make_tmpdir();
    CHECK_EQ_INT(loader_open(&lp, "/nonexistent/x.so", NULL, err, sizeof(err)), -AG_ENOENT);
    CHECK(strstr(err, "no such file") != NULL);
    CHECK_EQ_INT(loader_open(&lp, "nothing-here", tmpdir, err, sizeof(err)), -AG_ENOENT);
    CHECK(strstr(err, "not found (looked for ") != NULL);
    CHECK(strstr(err, "/nothing-here.so") != NULL);
    snprintf(path, sizeof(path), "%s/junk.so", tmpdir);
    CHECK((f = fopen(path, "w")) != NULL);
    fputs("not an ELF file\n", f);
    fclose(f);
    /* Found by name in the plugin directory, then refused by dlopen. */
    CHECK_EQ_INT(loader_open(&lp, "junk", tmpdir, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "cannot load") != NULL);
    CHECK(lp.handle == NULL && lp.path == NULL);
    loader_close(&lp);
    remove_tmpdir();
}

/* ---- configuration ---- */

static void
test_config_getters(void)
{
    struct ag_plugin_ctx *c;

    make_tmpdir();
    c = ctx_new("{\"n\": 3, \"f\": 3.0, \"half\": 0.5, \"s\": \"text\", \"b\": true,"
                " \"nested\": {\"deep\": {\"x\": 7}}, \"nil\": null}");
    CHECK_EQ_INT(ag_plugin_config_int(c, "n", 0), 3);
    CHECK_EQ_INT(ag_plugin_config_int(c, "f", 0), 3); /* a whole real is fine */
    CHECK_EQ_INT(ag_plugin_config_int(c, "absent", 9), 9);
    CHECK_EQ_INT(ag_plugin_config_int(c, "nil", 9), 9);
    CHECK_EQ_INT(ag_plugin_config_int(c, "nested.deep.x", 0), 7);
    CHECK_EQ_INT(ag_plugin_config_int(c, "nested.absent.x", 1), 1);
    CHECK(ag_plugin_config_double(c, "half", 0) == 0.5);
    CHECK(ag_plugin_config_double(c, "n", 0) == 3.0);
    CHECK_EQ_STR(ag_plugin_config_string(c, "s", NULL), "text");
    CHECK_EQ_STR(ag_plugin_config_string(c, "absent", "def"), "def");
    CHECK(ag_plugin_config_bool(c, "b", false));
    CHECK(!c->config_error);
    /* Wrong types: the default, and the init is failed by the host. */
    CHECK_EQ_INT(ag_plugin_config_int(c, "half", 4), 4);
    CHECK(c->config_error);
    c->config_error = false;
    CHECK_EQ_STR(ag_plugin_config_string(c, "n", "def"), "def");
    CHECK(c->config_error);
    c->config_error = false;
    CHECK(ag_plugin_config_bool(c, "s", true));
    CHECK(c->config_error);
    ctx_free(c);
    remove_tmpdir();
}

/* ---- timers ---- */

static void
noop(struct ag_plugin_ctx *ctx, void *state, void *arg)
{
}

static void
test_timers(void)
{
    struct ag_plugin_ctx *c;
    uint64_t a, b, d;

    make_tmpdir();
    c = ctx_new("{}");
    CHECK_EQ_INT(ag_plugin_after(c, 5000, noop, NULL, &a), 0);
    CHECK_EQ_INT(ag_plugin_after(c, 10, noop, NULL, &b), 0);
    CHECK_EQ_INT(ag_plugin_after(c, 10, noop, NULL, &d), 0);
    CHECK(a != 0 && b != 0 && d != 0 && a != b && b != d);
    /* Sorted by due time; equal times keep the order they were made in. */
    CHECK(c->timers->id == b && c->timers->next->id == d && c->timers->next->next->id == a);
    CHECK_EQ_INT(ag_plugin_cancel(c, d), 0);
    CHECK_EQ_INT(ag_plugin_cancel(c, d), -AG_ENOENT);
    CHECK(c->timers->next->id == a);
    CHECK_EQ_INT(ag_plugin_after(c, 1, NULL, NULL, NULL), -AG_EINVAL);
    host_timers_free(c);
    CHECK(c->timers == NULL);
    CHECK_EQ_INT(ag_plugin_after(c, 1, noop, NULL, NULL), -AG_ECLOSED);
    ctx_free(c);
    remove_tmpdir();
}

TEST_LIST(TEST_ENTRY(kv_basics), TEST_ENTRY(kv_transactions), TEST_ENTRY(store_persists_and_clears),
          TEST_ENTRY(loader_checks), TEST_ENTRY(loader_files), TEST_ENTRY(config_getters),
          TEST_ENTRY(timers));
TEST_MAIN()
