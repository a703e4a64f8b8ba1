/*
 * Tests of common/msg: every message round-trips, unknown keys are skipped,
 * absent keys default, wrong types, truncation, garbage, huge headers and
 * version mismatches are rejected without leaks, and docs/protocol.md matches.
 *
 * The fill and compare helpers are generated here from msg.def with their own
 * macros, independently of msg.c's descriptors, so a descriptor bug in msg.c
 * cannot hide itself.
 */
#include <math.h>
#include <stdarg.h>
#include <time.h>

#include "error.h"
#include "msg.h"
#include "test.h"

static char *
xstrdup(const char *s)
{
    char *d = strdup(s);
    CHECK(d != NULL);
    return d;
}

static char *
xfmt(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return xstrdup(buf);
}

static void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    CHECK(p != NULL);
    return p;
}

/* ---- fill every field with a non-default value, generated from msg.def ---- */

#define FILL_STR(name, a) x->name = xfmt("%s-%d-\xc3\xbc", #name, seed);
#define FILL_BIN(name, a)                                                                          \
    x->name##_len = 5;                                                                             \
    x->name = xcalloc(1, 5);                                                                       \
    memcpy(x->name, "\x00\x01\xff\x00z", 5);                                                       \
    x->name[4] = (uint8_t)seed;
#define FILL_BOOL(name, a) x->name = !(a);
#define FILL_TRI(name, a) x->name = seed % 2 ? MSG_TRI_TRUE : MSG_TRI_FALSE;
#define FILL_U32(name, a) x->name = 4000000000u - (uint32_t)seed;
#define FILL_U64(name, a) x->name = UINT64_MAX - (uint64_t)seed;
#define FILL_I32(name, a) x->name = -123456 - seed;
#define FILL_I64(name, a) x->name = INT64_MIN + seed;
#define FILL_DBL(name, a) x->name = 1.25 + seed;
#define FILL_STATE(name, a) x->name = (enum msg_task_state)((seed + 2) % MSG_TASK_STATE_COUNT);
#define FILL_RES(name, a)                                                                          \
    CHECK(res_parse(&x->name, "cpus:2.5;mem:1024;ports:[31000-31005,32000-32000];disk(web):7",     \
                    NULL, 0) == 0);
#define FILL_ATTR(name, a) CHECK(attr_parse(&x->name, "rack:r1;zone:a;level:3", NULL, 0) == 0);
#define FILL_STRS(name, a)                                                                         \
    x->n##name = 3;                                                                                \
    x->name = xcalloc(3, sizeof(char *));                                                          \
    for (int i_ = 0; i_ < 3; i_++)                                                                 \
        x->name[i_] = xfmt("%s[%d]-%d", #name, i_, seed);
#define FILL_KV(name, a)                                                                           \
    x->n##name = 2;                                                                                \
    x->name = xcalloc(2, sizeof(struct msg_kv));                                                   \
    for (int i_ = 0; i_ < 2; i_++) {                                                               \
        x->name[i_].key = xfmt("K%d", i_);                                                         \
        x->name[i_].value = xfmt("v=%d;%d", i_, seed);                                             \
    }
#define FILL_STRUCT(name, a) fill_##a(&x->name, seed + 1);
#define FILL_OPT(name, a)                                                                          \
    x->has_##name = true;                                                                          \
    fill_##a(&x->name, seed + 1);
#define FILL_LIST(name, a)                                                                         \
    x->n##name = 2;                                                                                \
    x->name = xcalloc(2, sizeof(*x->name));                                                        \
    for (int i_ = 0; i_ < 2; i_++) {                                                               \
        msg_##a##_init(&x->name[i_]);                                                              \
        fill_##a(&x->name[i_], seed + 10 * (i_ + 1));                                              \
    }
#define FILL_(S, K, name, a, doc) FILL_##K(name, a)
#define FILL_FN_(tag, ...)                                                                         \
    static void fill_##tag(struct msg_##tag *x, int seed)                                          \
    {                                                                                              \
        (void)x;                                                                                   \
        (void)seed;                                                                                \
        MSG_FIELDS_##tag(FILL_, _)                                                                 \
    }
MSG_NESTED_TYPES(FILL_FN_)
#define FILL_BODY_(num, NAME, tag, dir, doc) FILL_FN_(tag)
MSG_MESSAGES(FILL_BODY_)

/* ---- compare field by field, generated from msg.def ---- */

#define CMP_STR(name, a) CHECK_EQ_STR(x->name, y->name);
#define CMP_BIN(name, a)                                                                           \
    CHECK_EQ_INT(x->name##_len, y->name##_len);                                                    \
    CHECK(x->name##_len == 0 || memcmp(x->name, y->name, x->name##_len) == 0);
#define CMP_BOOL(name, a) CHECK_EQ_INT(x->name, y->name);
#define CMP_TRI(name, a) CHECK_EQ_INT(x->name, y->name);
#define CMP_U32(name, a) CHECK_EQ_INT(x->name, y->name);
#define CMP_U64(name, a) CHECK(x->name == y->name);
#define CMP_I32(name, a) CHECK_EQ_INT(x->name, y->name);
#define CMP_I64(name, a) CHECK(x->name == y->name);
#define CMP_DBL(name, a) CHECK(x->name == y->name);
#define CMP_STATE(name, a) CHECK_EQ_INT(x->name, y->name);
#define CMP_RES(name, a) CHECK(res_equal(&x->name, &y->name));
#define CMP_ATTR(name, a) cmp_attr(&x->name, &y->name);
#define CMP_STRS(name, a)                                                                          \
    CHECK_EQ_INT(x->n##name, y->n##name);                                                          \
    for (size_t i_ = 0; i_ < x->n##name; i_++)                                                     \
        CHECK_EQ_STR(x->name[i_], y->name[i_]);
#define CMP_KV(name, a)                                                                            \
    CHECK_EQ_INT(x->n##name, y->n##name);                                                          \
    for (size_t i_ = 0; i_ < x->n##name; i_++) {                                                   \
        CHECK_EQ_STR(x->name[i_].key, y->name[i_].key);                                            \
        CHECK_EQ_STR(x->name[i_].value, y->name[i_].value);                                        \
    }
#define CMP_STRUCT(name, a) cmp_##a(&x->name, &y->name);
#define CMP_OPT(name, a)                                                                           \
    CHECK_EQ_INT(x->has_##name, y->has_##name);                                                    \
    if (x->has_##name)                                                                             \
        cmp_##a(&x->name, &y->name);
#define CMP_LIST(name, a)                                                                          \
    CHECK_EQ_INT(x->n##name, y->n##name);                                                          \
    for (size_t i_ = 0; i_ < x->n##name; i_++)                                                     \
        cmp_##a(&x->name[i_], &y->name[i_]);
#define CMP_(S, K, name, a, doc) CMP_##K(name, a)
#define CMP_FN_(tag, ...)                                                                          \
    static void cmp_##tag(const struct msg_##tag *x, const struct msg_##tag *y)                    \
    {                                                                                              \
        (void)x;                                                                                   \
        (void)y;                                                                                   \
        MSG_FIELDS_##tag(CMP_, _)                                                                  \
    }

static void
cmp_attr(const struct attributes *x, const struct attributes *y)
{
    CHECK_EQ_INT(x->n, y->n);
    for (size_t i = 0; i < x->n; i++) {
        CHECK_EQ_STR(x->v[i].name, y->v[i].name);
        CHECK_EQ_STR(x->v[i].text, y->v[i].text);
        CHECK_EQ_INT(x->v[i].type, y->v[i].type);
    }
}

MSG_NESTED_TYPES(CMP_FN_)
#define CMP_BODY_(num, NAME, tag, dir, doc) CMP_FN_(tag)
MSG_MESSAGES(CMP_BODY_)

static void
fill_msg(struct msg *m, enum msg_type type, int seed)
{
    CHECK(msg_init(m, type) == 0);
    m->sender = xfmt("sender-%d", seed);
    m->corr = 0xfedcba9876543210ull + (uint64_t)seed;
    switch (type) {
#define FILL_CASE_(num, NAME, tag, dir, doc)                                                       \
    case MSG_##NAME:                                                                               \
        fill_##tag(&m->u.tag, seed);                                                               \
        break;
        MSG_MESSAGES(FILL_CASE_)
    default:
        CHECK(0);
    }
}

static void
cmp_msg(const struct msg *x, const struct msg *y)
{
    CHECK_EQ_INT(x->type, y->type);
    CHECK_EQ_STR(x->sender, y->sender);
    CHECK(x->corr == y->corr);
    switch (x->type) {
#define CMP_CASE_(num, NAME, tag, dir, doc)                                                        \
    case MSG_##NAME:                                                                               \
        cmp_##tag(&x->u.tag, &y->u.tag);                                                           \
        break;
        MSG_MESSAGES(CMP_CASE_)
    default:
        CHECK(0);
    }
    CHECK(msg_equal(x, y));
}

/* The valid message type numbers, in order. */
static const enum msg_type all_types[] = {
#define TYPE_LIST_(num, NAME, tag, dir, doc) MSG_##NAME,
    MSG_MESSAGES(TYPE_LIST_)};
#define NTYPES (sizeof(all_types) / sizeof(all_types[0]))

/* Encodes a fully populated message of `type` into a malloc'd buffer. */
static void *
sample(enum msg_type type, int seed, size_t *len)
{
    struct msg m;
    void *buf;
    fill_msg(&m, type, seed);
    CHECK_EQ_INT(msg_encode_alloc(&m, &buf, len), 0);
    msg_free(&m);
    return buf;
}

/* ---- hand-made encodings ---- */

static msgpack_sbuffer sb;
static msgpack_packer pk;

static void
begin(void)
{
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
}

static void
pstr(const char *s)
{
    msgpack_pack_str(&pk, strlen(s));
    msgpack_pack_str_body(&pk, s, strlen(s));
}

/* Starts an envelope of `type` with `extra` more envelope entries to follow the
 * body, and a body map of `nbody` entries that the caller writes next. */
static void
begin_env(int type, int extra, int nbody)
{
    begin();
    msgpack_pack_map(&pk, 5 + extra);
    pstr("v");
    msgpack_pack_uint64(&pk, MSG_VERSION);
    pstr("t");
    msgpack_pack_uint64(&pk, type);
    pstr("s");
    pstr("me");
    pstr("c");
    msgpack_pack_uint64(&pk, 42);
    pstr("b");
    msgpack_pack_map(&pk, nbody);
}

static int
finish(struct msg *m, char *err, size_t errlen)
{
    int rc = msg_decode(m, sb.data, sb.size, err, errlen);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* Decodes the message being built and expects failure `code` with `what` in the error. */
static void
expect_fail(int code, const char *what)
{
    struct msg m;
    char err[256];
    int rc = finish(&m, err, sizeof(err));
    if (rc != code || (what && !strstr(err, what))) {
        fprintf(stderr, "got %d (%s), want %d with \"%s\"\n", rc, err, code, what ? what : "");
        CHECK(0);
    }
    CHECK_EQ_INT(m.type, 0);
    CHECK(m.sender == NULL);
}

/* ---- tests ---- */

static void
test_roundtrip_all(void)
{
    for (size_t i = 0; i < NTYPES; i++) {
        struct msg a, b, c;
        void *buf, *buf2;
        size_t len, len2;
        char err[256];
        fill_msg(&a, all_types[i], (int)i);
        CHECK_EQ_INT(msg_encode_alloc(&a, &buf, &len), 0);
        int rc = msg_decode(&b, buf, len, err, sizeof(err));
        if (rc != 0)
            fprintf(stderr, "%s: %s\n", msg_type_name(all_types[i]), err);
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(b.version, MSG_VERSION);
        cmp_msg(&a, &b);
        /* the encoding is deterministic */
        CHECK_EQ_INT(msg_encode_alloc(&b, &buf2, &len2), 0);
        CHECK_EQ_INT(len, len2);
        CHECK(memcmp(buf, buf2, len) == 0);
        /* deep copy */
        memset(&c, 0, sizeof(c));
        CHECK_EQ_INT(msg_copy(&c, &b), 0);
        cmp_msg(&a, &c);
        msg_free(&b);
        cmp_msg(&a, &c); /* c owns its own memory */
        msg_free(&a);
        msg_free(&c);
        free(buf);
        free(buf2);
    }
}

static void
test_equal_detects_differences(void)
{
    struct msg a, b;
    fill_msg(&a, MSG_RUN_TASK, 1);
    fill_msg(&b, MSG_RUN_TASK, 1);
    CHECK(msg_equal(&a, &b));
    b.u.run_task.task.command.environment[1].value[0] = 'X';
    CHECK(!msg_equal(&a, &b));
    b.u.run_task.task.command.environment[1].value[0] = 'v';
    CHECK(msg_equal(&a, &b));
    b.u.run_task.task.has_health_check = false;
    CHECK(!msg_equal(&a, &b));
    b.u.run_task.task.has_health_check = true;
    b.u.run_task.task.health_check.timeout_s += 0.5;
    CHECK(!msg_equal(&a, &b));
    b.u.run_task.task.health_check.timeout_s -= 0.5;
    b.u.run_task.framework.nroles--;
    CHECK(!msg_equal(&a, &b));
    b.u.run_task.framework.nroles++;
    b.corr++;
    CHECK(!msg_equal(&a, &b));
    msg_free(&a);
    msg_free(&b);
}

static void
test_defaults(void)
{
    struct msg m;
    char err[256];

    CHECK_EQ_INT(msg_init(&m, MSG_DECLINE), 0);
    CHECK(m.u.decline.refuse_seconds == 5);
    msg_free(&m);
    CHECK_EQ_INT(msg_init(&m, (enum msg_type)999), -AG_EINVAL);

    /* an empty body: every field takes its default, strings are "" */
    begin_env(MSG_ACCEPT, 0, 0);
    CHECK_EQ_INT(finish(&m, err, sizeof(err)), 0);
    CHECK(m.u.accept.refuse_seconds == 5);
    CHECK_EQ_INT(m.u.accept.noffer_ids, 0);
    CHECK(m.u.accept.operations == NULL);
    CHECK_EQ_STR(m.sender, "me");
    CHECK(m.corr == 42);
    msg_free(&m);

    /* refuse_seconds present as 0 stays 0 */
    begin_env(MSG_DECLINE, 0, 1);
    pstr("refuse_seconds");
    msgpack_pack_double(&pk, 0);
    CHECK_EQ_INT(finish(&m, err, sizeof(err)), 0);
    CHECK(m.u.decline.refuse_seconds == 0);
    msg_free(&m);

    begin_env(MSG_KILL, 0, 0);
    CHECK_EQ_INT(finish(&m, err, sizeof(err)), 0);
    CHECK_EQ_INT(m.u.kill.grace_ms, -1);
    CHECK_EQ_STR(m.u.kill.task_id, "");
    msg_free(&m);

    /* a task with only an id: nested defaults, absent optional health check */
    begin_env(MSG_RUN_TASK, 0, 1);
    pstr("task");
    msgpack_pack_map(&pk, 1);
    pstr("task_id");
    pstr("t1");
    CHECK_EQ_INT(finish(&m, err, sizeof(err)), 0);
    struct msg_task_info *t = &m.u.run_task.task;
    CHECK_EQ_STR(t->task_id, "t1");
    CHECK_EQ_STR(t->name, "");
    CHECK(t->command.shell);
    CHECK_EQ_STR(t->command.value, "");
    CHECK_EQ_STR(t->container.network, "");
    CHECK(!t->has_health_check);
    CHECK(res_empty(&t->resources));
    CHECK_EQ_STR(m.u.run_task.framework.name, "");
    msg_free(&m);

    /* health check present but empty: its defaults */
    begin_env(MSG_RUN_TASK, 0, 1);
    pstr("task");
    msgpack_pack_map(&pk, 1);
    pstr("health_check");
    msgpack_pack_map(&pk, 0);
    CHECK_EQ_INT(finish(&m, err, sizeof(err)), 0);
    t = &m.u.run_task.task;
    CHECK(t->has_health_check);
    CHECK(t->health_check.delay_s == 15 && t->health_check.interval_s == 10);
    CHECK(t->health_check.timeout_s == 20 && t->health_check.grace_period_s == 10);
    CHECK_EQ_INT(t->health_check.consecutive_failures, 3);
    CHECK_EQ_STR(t->health_check.type, "");
    msg_free(&m);

    /* nil counts as absent; status without state is TASK_UNKNOWN; healthy unset */
    begin_env(MSG_STATUS_UPDATE, 0, 1);
    pstr("status");
    msgpack_pack_map(&pk, 2);
    pstr("uuid");
    msgpack_pack_nil(&pk);
    pstr("healthy");
    msgpack_pack_nil(&pk);
    CHECK_EQ_INT(finish(&m, err, sizeof(err)), 0);
    CHECK_EQ_INT(m.u.status_update.status.state, MSG_TASK_UNKNOWN);
    CHECK_EQ_INT(m.u.status_update.status.healthy, MSG_TRI_UNSET);
    CHECK_EQ_STR(m.u.status_update.status.uuid, "");
    msg_free(&m);

    /* no body and no sender at all */
    begin();
    msgpack_pack_map(&pk, 2);
    pstr("v");
    msgpack_pack_uint64(&pk, 1);
    pstr("t");
    msgpack_pack_uint64(&pk, MSG_TEARDOWN);
    CHECK_EQ_INT(finish(&m, err, sizeof(err)), 0);
    CHECK_EQ_INT(m.type, MSG_TEARDOWN);
    CHECK_EQ_STR(m.sender, "");
    msg_free(&m);

    /* health check defaults through the nested API */
    struct msg_health_check hc;
    msg_health_check_init(&hc);
    CHECK(hc.interval_s == 10);
    msg_health_check_fini(&hc);
}

static void
test_tri_state(void)
{
    for (int v = MSG_TRI_UNSET; v <= MSG_TRI_TRUE; v++) {
        struct msg a, b;
        void *buf;
        size_t len;
        CHECK_EQ_INT(msg_init(&a, MSG_STATUS_UPDATE), 0);
        a.u.status_update.status.healthy = (enum msg_tri)v;
        CHECK_EQ_INT(msg_encode_alloc(&a, &buf, &len), 0);
        CHECK_EQ_INT(msg_decode(&b, buf, len, NULL, 0), 0);
        CHECK_EQ_INT(b.u.status_update.status.healthy, v);
        CHECK(msg_equal(&a, &b));
        msg_free(&a);
        msg_free(&b);
        free(buf);
    }
}

static void
test_unknown_keys_ignored(void)
{
    struct msg m;
    char err[256];
    begin_env(MSG_RUN_TASK, 1, 3);
    /* body: an unknown key with a nested value */
    pstr("future_field");
    msgpack_pack_array(&pk, 2);
    msgpack_pack_map(&pk, 1);
    pstr("x");
    msgpack_pack_double(&pk, 1.5);
    msgpack_pack_bin(&pk, 3);
    msgpack_pack_bin_body(&pk, "abc", 3);
    pstr("task");
    msgpack_pack_map(&pk, 3);
    pstr("task_id");
    pstr("t7");
    pstr("zz_new");
    msgpack_pack_uint64(&pk, 1);
    pstr("command");
    msgpack_pack_map(&pk, 2);
    pstr("value");
    pstr("sleep 1");
    pstr("ext");
    msgpack_pack_ext(&pk, 2, 5);
    msgpack_pack_ext_body(&pk, "ab", 2);
    pstr("framework");
    msgpack_pack_map(&pk, 1);
    pstr("name");
    pstr("fw");
    /* envelope: an unknown key after the body */
    pstr("trace");
    pstr("abc");
    CHECK_EQ_INT(finish(&m, err, sizeof(err)), 0);
    CHECK_EQ_STR(m.u.run_task.task.task_id, "t7");
    CHECK_EQ_STR(m.u.run_task.task.command.value, "sleep 1");
    CHECK_EQ_STR(m.u.run_task.framework.name, "fw");
    msg_free(&m);

    /* the body may come before the type */
    begin();
    msgpack_pack_map(&pk, 3);
    pstr("b");
    msgpack_pack_map(&pk, 1);
    pstr("seq");
    msgpack_pack_uint64(&pk, 9);
    pstr("t");
    msgpack_pack_uint64(&pk, MSG_PONG);
    pstr("v");
    msgpack_pack_uint64(&pk, 1);
    CHECK_EQ_INT(finish(&m, err, sizeof(err)), 0);
    CHECK_EQ_INT(m.type, MSG_PONG);
    CHECK(m.u.pong.seq == 9);
    msg_free(&m);
}

static void
test_lenient_numbers(void)
{
    struct msg m;
    /* a float32 and an int where a double is expected; small ints in any width */
    begin_env(MSG_SUBSCRIBED, 0, 1);
    pstr("heartbeat_interval_s");
    msgpack_pack_float(&pk, 2.5f);
    CHECK_EQ_INT(finish(&m, NULL, 0), 0);
    CHECK(m.u.subscribed.heartbeat_interval_s == 2.5);
    msg_free(&m);

    begin_env(MSG_DECLINE, 0, 1);
    pstr("refuse_seconds");
    msgpack_pack_int64(&pk, -3);
    CHECK_EQ_INT(finish(&m, NULL, 0), 0);
    CHECK(m.u.decline.refuse_seconds == -3);
    msg_free(&m);

    begin_env(MSG_ERROR, 0, 1);
    pstr("code");
    msgpack_pack_int8(&pk, -12);
    CHECK_EQ_INT(finish(&m, NULL, 0), 0);
    CHECK_EQ_INT(m.u.error.code, -12);
    msg_free(&m);

    /* every integer width, signed and unsigned, as msgpack-c writes them */
    int64_t ints[] = {-1, -32, -33, -128, -129, -32768, -32769, INT32_MIN,
                      0,  127, 128, 255,  256,  65535,  65536,  INT32_MAX};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        begin_env(MSG_ERROR, 0, 1);
        pstr("code");
        msgpack_pack_int64(&pk, ints[i]);
        CHECK_EQ_INT(finish(&m, NULL, 0), 0);
        CHECK_EQ_INT(m.u.error.code, ints[i]);
        msg_free(&m);
    }
    begin_env(MSG_ERROR, 0, 1);
    pstr("code");
    msgpack_pack_int16(&pk, -300);
    CHECK_EQ_INT(finish(&m, NULL, 0), 0);
    CHECK_EQ_INT(m.u.error.code, -300);
    msg_free(&m);
    begin_env(MSG_ERROR, 0, 1);
    pstr("code");
    msgpack_pack_int64(&pk, (int64_t)INT32_MIN - 1);
    CHECK_EQ_INT(finish(&m, NULL, 0), -AG_EPROTO);
    uint64_t uints[] = {0, 200, 60000, 4000000000u, 1ull << 40, UINT64_MAX};
    for (size_t i = 0; i < sizeof(uints) / sizeof(uints[0]); i++) {
        begin_env(MSG_PING, 0, 1);
        pstr("seq");
        msgpack_pack_uint64(&pk, uints[i]);
        CHECK_EQ_INT(finish(&m, NULL, 0), 0);
        CHECK(m.u.ping.seq == uints[i]);
        msg_free(&m);
    }

    begin_env(MSG_PING, 0, 1);
    pstr("seq");
    msgpack_pack_int64(&pk, 77); /* a signed encoding of a positive value */
    CHECK_EQ_INT(finish(&m, NULL, 0), 0);
    CHECK(m.u.ping.seq == 77);
    msg_free(&m);

    /* binary fields accept str */
    begin_env(MSG_AUTH_CHALLENGE, 0, 1);
    pstr("nonce");
    pstr("n0nce");
    CHECK_EQ_INT(finish(&m, NULL, 0), 0);
    CHECK_EQ_INT(m.u.auth_challenge.nonce_len, 5);
    CHECK(memcmp(m.u.auth_challenge.nonce, "n0nce", 5) == 0);
    msg_free(&m);
}

static void
test_wrong_types_rejected(void)
{
    begin_env(MSG_AGENT_REGISTERED, 0, 1);
    pstr("agent_id");
    msgpack_pack_uint64(&pk, 5);
    expect_fail(-AG_EPROTO, "b.agent_id: expected string, got int");

    begin_env(MSG_AGENT_REGISTERED, 0, 1);
    pstr("ping_interval_ms");
    msgpack_pack_int64(&pk, -1);
    expect_fail(-AG_EPROTO, "b.ping_interval_ms: integer out of range");

    begin_env(MSG_AGENT_REGISTERED, 0, 1);
    pstr("ping_interval_ms");
    msgpack_pack_uint64(&pk, 1ull << 32);
    expect_fail(-AG_EPROTO, "out of range");

    begin_env(MSG_AGENT_REGISTERED, 0, 1);
    pstr("ping_interval_ms");
    msgpack_pack_double(&pk, 1.0);
    expect_fail(-AG_EPROTO, "expected int, got float");

    begin_env(MSG_AUTH_RESULT, 0, 1);
    pstr("ok");
    pstr("yes");
    expect_fail(-AG_EPROTO, "b.ok: expected bool, got string");

    begin_env(MSG_SUBSCRIBE, 0, 1);
    pstr("framework");
    msgpack_pack_array(&pk, 0);
    expect_fail(-AG_EPROTO, "b.framework: expected map, got array");

    begin_env(MSG_REVIVE, 0, 1);
    pstr("roles");
    msgpack_pack_array(&pk, 2);
    pstr("a");
    msgpack_pack_true(&pk);
    expect_fail(-AG_EPROTO, "b.roles[1]: expected string, got bool");

    begin_env(MSG_AGENT_REGISTER, 0, 1);
    pstr("tasks");
    msgpack_pack_array(&pk, 2);
    msgpack_pack_map(&pk, 0);
    msgpack_pack_map(&pk, 1);
    pstr("task");
    msgpack_pack_map(&pk, 1);
    pstr("command");
    msgpack_pack_map(&pk, 1);
    pstr("user");
    msgpack_pack_int64(&pk, -4);
    expect_fail(-AG_EPROTO, "b.tasks[1].task.command.user: expected string, got int");

    begin_env(MSG_STATUS_UPDATE, 0, 1);
    pstr("status");
    msgpack_pack_map(&pk, 1);
    pstr("state");
    pstr("TASK_SLEEPING");
    expect_fail(-AG_EPROTO, "unknown task state");

    begin_env(MSG_STATUS_UPDATE, 0, 1);
    pstr("status");
    msgpack_pack_map(&pk, 1);
    pstr("state");
    msgpack_pack_uint64(&pk, 2);
    expect_fail(-AG_EPROTO, "b.status.state: expected string");

    begin_env(MSG_AGENT_REGISTER, 0, 1);
    pstr("resources");
    pstr("cpus:x2");
    expect_fail(-AG_EPROTO, "b.resources: bad resources");

    begin_env(MSG_AGENT_REGISTER, 0, 1);
    pstr("attributes");
    pstr("rack:a;rack:b");
    expect_fail(-AG_EPROTO, "b.attributes: bad attributes");

    begin_env(MSG_PING, 0, 2);
    pstr("seq");
    msgpack_pack_uint64(&pk, 1);
    pstr("seq");
    msgpack_pack_uint64(&pk, 2);
    expect_fail(-AG_EPROTO, "b.seq: duplicate key");

    begin_env(MSG_PING, 0, 1);
    msgpack_pack_uint64(&pk, 1);
    msgpack_pack_uint64(&pk, 2);
    expect_fail(-AG_EPROTO, "map key is a int");

    begin_env(MSG_RUN_TASK, 0, 1);
    pstr("task");
    msgpack_pack_map(&pk, 1);
    pstr("labels");
    msgpack_pack_map(&pk, 1);
    pstr("k");
    msgpack_pack_uint64(&pk, 1);
    expect_fail(-AG_EPROTO, "b.task.labels[0]: expected string, got int");

    /* the envelope */
    begin();
    msgpack_pack_array(&pk, 0);
    expect_fail(-AG_EPROTO, "not a map");

    begin();
    msgpack_pack_map(&pk, 2);
    pstr("v");
    msgpack_pack_uint64(&pk, 1);
    pstr("t");
    pstr("PING");
    expect_fail(-AG_EPROTO, "t: expected unsigned int, got string");

    begin();
    msgpack_pack_map(&pk, 1);
    pstr("v");
    msgpack_pack_uint64(&pk, 1);
    expect_fail(-AG_EPROTO, "no message type");

    begin();
    msgpack_pack_map(&pk, 3);
    pstr("v");
    msgpack_pack_uint64(&pk, 1);
    pstr("t");
    msgpack_pack_uint64(&pk, MSG_PING);
    pstr("b");
    pstr("body");
    expect_fail(-AG_EPROTO, "b: expected map, got string");

    begin();
    msgpack_pack_map(&pk, 3);
    pstr("v");
    msgpack_pack_uint64(&pk, 1);
    pstr("t");
    msgpack_pack_uint64(&pk, MSG_PING);
    pstr("t");
    msgpack_pack_uint64(&pk, MSG_PING);
    expect_fail(-AG_EPROTO, "t: duplicate key");

    begin_env(MSG_PING, 0, 0);
    msgpack_pack_nil(&pk); /* trailing bytes */
    expect_fail(-AG_EPROTO, "1 bytes after the message");

    begin_env(MSG_PING, 0, 0);
    sb.data[0] = (char)0xc1; /* never used byte */
    expect_fail(-AG_EPROTO, "invalid byte 0xc1");

    struct msg m;
    CHECK_EQ_INT(msg_decode(&m, NULL, 0, NULL, 0), -AG_EPROTO);
}

static void
test_bad_strings_rejected(void)
{
    begin_env(MSG_RESCIND, 0, 1);
    pstr("offer_id");
    msgpack_pack_str(&pk, 3);
    msgpack_pack_str_body(&pk, "a\0b", 3);
    expect_fail(-AG_EPROTO, "b.offer_id: string contains a NUL byte");

    const char *bad[] = {"\xff", "\xc3", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "a\x80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        begin_env(MSG_RESCIND, 0, 1);
        pstr("offer_id");
        pstr(bad[i]);
        expect_fail(-AG_EPROTO, "string is not valid UTF-8");
    }

    /* the sender too */
    begin();
    msgpack_pack_map(&pk, 3);
    pstr("v");
    msgpack_pack_uint64(&pk, 1);
    pstr("t");
    msgpack_pack_uint64(&pk, MSG_PING);
    pstr("s");
    pstr("\xfe");
    expect_fail(-AG_EPROTO, "s: string is not valid UTF-8");

    /* valid multi-byte text passes */
    struct msg m;
    begin_env(MSG_RESCIND, 0, 1);
    pstr("offer_id");
    pstr("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    CHECK_EQ_INT(finish(&m, NULL, 0), 0);
    CHECK_EQ_STR(m.u.rescind.offer_id, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    msg_free(&m);

    /* the encoder refuses invalid UTF-8 and keeps the buffer as it was */
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    CHECK_EQ_INT(msg_init(&m, MSG_RESCIND), 0);
    m.u.rescind.offer_id = xstrdup("ok");
    CHECK_EQ_INT(msg_encode(&m, &out), 0);
    size_t size = out.size;
    free(m.u.rescind.offer_id);
    m.u.rescind.offer_id = xstrdup("bad\xff");
    CHECK_EQ_INT(msg_encode(&m, &out), -AG_EINVAL);
    CHECK_EQ_INT(out.size, size);
    msg_free(&m);
    msgpack_sbuffer_destroy(&out);
}

static void
test_truncated_rejected(void)
{
    for (size_t i = 0; i < NTYPES; i++) {
        size_t len;
        uint8_t *buf = sample(all_types[i], 3, &len);
        for (size_t n = 0; n < len; n++) {
            struct msg m;
            /* an exact-size copy so ASan sees any read past the prefix */
            uint8_t *p = malloc(n ? n : 1);
            CHECK(p != NULL);
            memcpy(p, buf, n);
            int rc = msg_decode(&m, p, n, NULL, 0);
            CHECK(rc < 0);
            CHECK_EQ_INT(m.type, 0);
            free(p);
        }
        free(buf);
    }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Decodes `buf`; when it decodes, it must re-encode and decode to an equal message. */
static int
decode_check(const uint8_t *buf, size_t len)
{
    struct msg a, b;
    char err[256];
    void *out;
    size_t outlen;
    int rc = msg_decode(&a, buf, len, err, sizeof(err));
    if (rc < 0) {
        CHECK(err[0] != '\0');
        return rc;
    }
    CHECK_EQ_INT(msg_encode_alloc(&a, &out, &outlen), 0);
    CHECK_EQ_INT(msg_decode(&b, out, outlen, NULL, 0), 0);
    CHECK(msg_equal(&a, &b));
    msg_free(&a);
    msg_free(&b);
    free(out);
    return 0;
}

static void
test_garbage_never_crashes(void)
{
    uint8_t buf[96];
    for (int it = 0; it < 100000; it++) {
        size_t len = rng() % sizeof(buf);
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)rng();
        /* often start with a map header so the decoder gets further */
        if (len && it % 2)
            buf[0] = (uint8_t)(0x80 | (rng() % 6));
        decode_check(buf, len);
    }
}

static void
test_mutations_never_crash(void)
{
    size_t lens[NTYPES];
    uint8_t *bufs[NTYPES];
    int ok = 0;
    for (size_t i = 0; i < NTYPES; i++)
        bufs[i] = sample(all_types[i], (int)i, &lens[i]);
    for (int it = 0; it < 100000; it++) {
        size_t i = rng() % NTYPES, len = lens[i];
        uint8_t *p = malloc(len);
        CHECK(p != NULL);
        memcpy(p, bufs[i], len);
        int flips = 1 + (int)(rng() % 4);
        for (int f = 0; f < flips; f++) {
            size_t at = rng() % len;
            switch (rng() % 3) {
            case 0:
                p[at] ^= (uint8_t)(1u << (rng() % 8));
                break;
            case 1:
                p[at] = (uint8_t)rng();
                break;
            default:
                p[at] = (uint8_t[]){0x00, 0xc0, 0xff, 0xdd, 0xdf, 0xdb, 0x7f}[rng() % 7];
                break;
            }
        }
        if (decode_check(p, len) == 0)
            ok++;
        free(p);
    }
    fprintf(stderr, "%d of 100000 mutated messages still decoded\n", ok);
    for (size_t i = 0; i < NTYPES; i++)
        free(bufs[i]);
}

static void
test_huge_headers_rejected(void)
{
    /* a body list claiming 2^32-1 elements in a tiny buffer */
    begin_env(MSG_AGENT_REGISTER, 0, 1);
    pstr("tasks");
    static const uint8_t arr32[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x80};
    msgpack_sbuffer_write(&sb, (const char *)arr32, sizeof(arr32));
    clock_t t0 = clock();
    expect_fail(-AG_EPROTO, "b.tasks: 4294967295 elements announced");
    CHECK((clock() - t0) < CLOCKS_PER_SEC / 10);

    struct msg m;
    char err[256];
    static const uint8_t cases[][10] = {
        {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'v', 0x01, 0, 0},    /* map32 */
        {0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0, 0xc0, 0, 0},   /* array32 */
        {0x81, 0xdb, 0xff, 0xff, 0xff, 0xff, 'v', 0x01, 0, 0},    /* str32 key */
        {0x81, 0xa1, 'z', 0xc6, 0xff, 0xff, 0xff, 0xf0, 0, 0},    /* bin32 value */
        {0x81, 0xa1, 'z', 0xc9, 0x7f, 0xff, 0xff, 0xff, 0x01, 0}, /* ext32 value */
        {0x81, 0xa1, 'z', 0xde, 0xff, 0xff, 0xc0, 0xc0, 0xc0, 0}, /* map16 value */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_EQ_INT(msg_decode(&m, cases[i], sizeof(cases[i]), err, sizeof(err)), -AG_EPROTO);
        CHECK(strstr(err, "announced") != NULL);
    }

    /* a real list just over the element limit */
    size_t n = MSG_MAX_LIST + 1;
    begin_env(MSG_RECONCILE, 0, 1);
    pstr("tasks");
    msgpack_pack_array(&pk, n);
    for (size_t k = 0; k < n; k++)
        msgpack_pack_map(&pk, 0);
    expect_fail(-AG_ERANGE, "b.tasks: 1000001 elements (limit 1000000)");

    /* many small elements that would expand far beyond the input: memory budget */
    n = 200000;
    begin_env(MSG_AGENT_REGISTER, 0, 1);
    pstr("tasks");
    msgpack_pack_array(&pk, n);
    for (size_t k = 0; k < n; k++)
        msgpack_pack_map(&pk, 0);
    expect_fail(-AG_ERANGE, "more memory than its size allows");
}

static void
test_limits(void)
{
    /* nesting inside an unknown key */
    begin_env(MSG_PING, 0, 1);
    pstr("deep");
    for (int i = 0; i < MSG_MAX_DEPTH; i++)
        msgpack_pack_array(&pk, 1);
    msgpack_pack_nil(&pk);
    expect_fail(-AG_ERANGE, "nested deeper than 32 levels");

    begin_env(MSG_PING, 0, 1);
    pstr("deep");
    for (int i = 0; i < MSG_MAX_DEPTH - 3; i++)
        msgpack_pack_array(&pk, 1);
    msgpack_pack_nil(&pk);
    struct msg m;
    CHECK_EQ_INT(finish(&m, NULL, 0), 0);
    msg_free(&m);

    /* string length, both ways */
    char *big = malloc(MSG_MAX_STR + 2);
    CHECK(big != NULL);
    memset(big, 'a', MSG_MAX_STR + 1);
    big[MSG_MAX_STR + 1] = '\0';
    begin_env(MSG_RESCIND, 0, 1);
    pstr("offer_id");
    pstr(big);
    expect_fail(-AG_ERANGE, "b.offer_id: string of 1048577 bytes (limit 1048576)");
    CHECK_EQ_INT(msg_init(&m, MSG_RESCIND), 0);
    m.u.rescind.offer_id = big;
    void *buf;
    size_t len;
    CHECK_EQ_INT(msg_encode_alloc(&m, &buf, &len), -AG_ERANGE);
    CHECK(buf == NULL && len == 0);
    big[MSG_MAX_STR] = '\0';
    CHECK_EQ_INT(msg_encode_alloc(&m, &buf, &len), 0);
    msg_free(&m); /* frees big */
    CHECK_EQ_INT(msg_decode(&m, buf, len, NULL, 0), 0);
    CHECK_EQ_INT(strlen(m.u.rescind.offer_id), MSG_MAX_STR);
    msg_free(&m);
    free(buf);

    /* encoder sanity checks */
    CHECK_EQ_INT(msg_init(&m, MSG_REVIVE), 0);
    m.u.revive.nroles = 3; /* but no array */
    CHECK_EQ_INT(msg_encode_alloc(&m, &buf, &len), -AG_EINVAL);
    m.u.revive.nroles = 0;
    m.version = 9;
    CHECK_EQ_INT(msg_encode_alloc(&m, &buf, &len), -AG_EVERSION);
    m.version = 0; /* = current */
    CHECK_EQ_INT(msg_encode_alloc(&m, &buf, &len), 0);
    free(buf);
    m.type = (enum msg_type)200;
    CHECK_EQ_INT(msg_encode_alloc(&m, &buf, &len), -AG_EINVAL);
    CHECK_EQ_INT(msg_init(&m, MSG_STATUS_UPDATE), 0);
    m.u.status_update.status.state = (enum msg_task_state)77;
    CHECK_EQ_INT(msg_encode_alloc(&m, &buf, &len), -AG_EINVAL);
    msg_free(&m);
}

static void
test_version_mismatch_rejected(void)
{
    uint64_t versions[] = {0, MSG_VERSION + 1, 1000, UINT64_MAX};
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        begin();
        msgpack_pack_map(&pk, 2);
        pstr("t");
        msgpack_pack_uint64(&pk, MSG_PING);
        pstr("v");
        msgpack_pack_uint64(&pk, versions[i]);
        expect_fail(-AG_EVERSION, "v: protocol version");
    }
    begin();
    msgpack_pack_map(&pk, 1);
    pstr("t");
    msgpack_pack_uint64(&pk, MSG_PING);
    expect_fail(-AG_EVERSION, "no protocol version");

    /* a version we do not speak wins over a broken rest */
    begin();
    msgpack_pack_map(&pk, 3);
    pstr("v");
    msgpack_pack_uint64(&pk, 2);
    pstr("t");
    pstr("x");
    msgpack_sbuffer_write(&sb, "\xc1", 1);
    expect_fail(-AG_EVERSION, NULL);
}

static void
test_unknown_type(void)
{
    begin_env(99, 0, 0);
    expect_fail(-AG_ENOENT, "unknown message type 99");
    begin_env(0, 0, 0);
    expect_fail(-AG_ENOENT, "unknown message type 0");
}

static void
test_names(void)
{
    enum msg_task_state s;
    CHECK_EQ_STR(msg_type_name(MSG_AGENT_REGISTER), "AGENT_REGISTER");
    CHECK_EQ_STR(msg_type_name(MSG_HEARTBEAT), "HEARTBEAT");
    CHECK_EQ_STR(msg_type_name(0), "UNKNOWN");
    CHECK_EQ_STR(msg_type_name(-5), "UNKNOWN");
    CHECK_EQ_INT(msg_type_parse("STATUS_ACK"), MSG_STATUS_ACK);
    CHECK_EQ_INT(msg_type_parse("NOPE"), MSG_NONE);
    for (size_t i = 0; i < NTYPES; i++)
        CHECK_EQ_INT(msg_type_parse(msg_type_name(all_types[i])), all_types[i]);
    CHECK_EQ_INT(MSG_AGENT_REGISTER, 1); /* wire numbers never change */
    CHECK_EQ_INT(MSG_STATUS_UPDATE, 8);
    CHECK_EQ_INT(MSG_HEARTBEAT, 28);

    CHECK_EQ_STR(msg_task_state_name(MSG_TASK_RUNNING), "TASK_RUNNING");
    CHECK_EQ_STR(msg_task_state_name(-1), "TASK_UNKNOWN");
    CHECK_EQ_STR(msg_task_state_name(MSG_TASK_STATE_COUNT), "TASK_UNKNOWN");
    CHECK_EQ_INT(msg_task_state_parse("TASK_KILLING", &s), 0);
    CHECK_EQ_INT(s, MSG_TASK_KILLING);
    CHECK_EQ_INT(msg_task_state_parse("RUNNING", &s), -AG_EINVAL);
    for (int i = 0; i < MSG_TASK_STATE_COUNT; i++) {
        CHECK_EQ_INT(msg_task_state_parse(msg_task_state_name(i), &s), 0);
        CHECK_EQ_INT(s, i);
    }
    int terminal[] = {MSG_TASK_FINISHED, MSG_TASK_FAILED,  MSG_TASK_KILLED, MSG_TASK_LOST,
                      MSG_TASK_ERROR,    MSG_TASK_DROPPED, MSG_TASK_GONE};
    int n = 0;
    for (int i = 0; i < MSG_TASK_STATE_COUNT; i++)
        n += msg_task_state_terminal(i);
    CHECK_EQ_INT(n, 7);
    for (size_t i = 0; i < 7; i++)
        CHECK(msg_task_state_terminal(terminal[i]));
    CHECK(!msg_task_state_terminal(MSG_TASK_UNREACHABLE));
    CHECK(!msg_task_state_terminal(MSG_TASK_KILLING));
    CHECK(!msg_task_state_terminal(99));
}

static void
test_nested_api(void)
{
    struct msg_task_info a, b;
    msg_task_info_init(&a);
    msg_task_info_init(&b);
    CHECK(a.command.shell);
    fill_task_info(&a, 5);
    CHECK(!msg_task_info_equal(&a, &b));
    CHECK_EQ_INT(msg_task_info_copy(&b, &a), 0);
    CHECK(msg_task_info_equal(&a, &b));
    cmp_task_info(&a, &b);
    CHECK_EQ_INT(msg_task_info_copy(&b, &a), 0); /* replaces, no leak */
    msg_task_info_fini(&a);
    CHECK(a.task_id == NULL && a.command.shell); /* re-initialized */
    CHECK(b.has_health_check && b.health_check.port_index == -123456 - 6);
    msg_task_info_fini(&b);
    msg_task_info_fini(NULL);

    /* steal a piece out of a decoded message */
    struct msg m;
    struct msg_framework_info fw;
    fill_msg(&m, MSG_SUBSCRIBE, 2);
    fw = m.u.subscribe.framework;
    msg_framework_info_init(&m.u.subscribe.framework);
    msg_free(&m);
    CHECK_EQ_INT(fw.nroles, 3);
    msg_framework_info_fini(&fw);
    msg_free(NULL);
}

static void
test_encode_appends(void)
{
    msgpack_sbuffer out;
    struct msg a, b;
    msgpack_sbuffer_init(&out);
    fill_msg(&a, MSG_PING, 1);
    CHECK_EQ_INT(msg_encode(&a, &out), 0);
    size_t one = out.size;
    CHECK_EQ_INT(msg_encode(&a, &out), 0);
    CHECK_EQ_INT(out.size, 2 * one);
    CHECK_EQ_INT(msg_decode(&b, out.data + one, one, NULL, 0), 0);
    CHECK(msg_equal(&a, &b));
    msg_free(&b);
    CHECK_EQ_INT(msg_decode(&b, out.data, out.size, NULL, 0), -AG_EPROTO); /* two messages */
    msg_free(&a);
    msgpack_sbuffer_destroy(&out);
}

/* docs/protocol.md, found from this file's path (CMake compiles with absolute paths). */
static char *
docs_path(void)
{
    const char *suffix = "tests/unit/test_msg.c";
    const char *file = __FILE__;
    size_t n = strlen(file), s = strlen(suffix);
    CHECK(n >= s && strcmp(file + n - s, suffix) == 0);
    return xfmt("%.*sdocs/protocol.md", (int)(n - s), file);
}

static char *
read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fwrite(chunk, 1, got, mem);
    fclose(f);
    fclose(mem);
    return buf;
}

/* The envelope's leader epoch: absent when 0, kept through encode, decode,
 * copy and compare. */
static void
test_epoch(void)
{
    struct msg a, b, c;
    void *buf;
    size_t len;
    char err[128];

    msg_init(&a, MSG_PING);
    CHECK_EQ_INT(msg_encode_alloc(&a, &buf, &len), 0);
    CHECK(((unsigned char *)buf)[0] == 0x85); /* a map of 5 keys: no "e" for epoch 0 */
    CHECK_EQ_INT(msg_decode(&b, buf, len, err, sizeof(err)), 0);
    CHECK(b.epoch == 0);
    free(buf);
    msg_free(&b);
    a.epoch = 42;
    CHECK_EQ_INT(msg_encode_alloc(&a, &buf, &len), 0);
    CHECK(((unsigned char *)buf)[0] == 0x86);
    CHECK_EQ_INT(msg_decode(&b, buf, len, err, sizeof(err)), 0);
    CHECK(b.epoch == 42);
    CHECK(msg_equal(&a, &b));
    CHECK_EQ_INT(msg_copy(&c, &b), 0);
    CHECK(c.epoch == 42);
    c.epoch = 41;
    CHECK(!msg_equal(&a, &c));
    free(buf);
    msg_free(&a);
    msg_free(&b);
    msg_free(&c);
}

static void
test_docs_match(void)
{
    static const char begin_mark[] = "<!-- BEGIN GENERATED: msg_write_docs() -->\n";
    static const char end_mark[] = "<!-- END GENERATED -->\n";
    char *path = docs_path();
    char *doc = read_file(path);
    char *gen = NULL;
    size_t genlen = 0;
    FILE *mem = open_memstream(&gen, &genlen);
    CHECK(mem != NULL);
    CHECK_EQ_INT(msg_write_docs(mem), 0);
    fclose(mem);
    if (!doc) {
        fprintf(stderr, "cannot read %s\n", path);
        CHECK(0);
    }
    char *b = strstr(doc, begin_mark), *e = b ? strstr(b, end_mark) : NULL;
    CHECK(b && e);
    b += strlen(begin_mark);
    bool same = (size_t)(e - b) == genlen && memcmp(b, gen, genlen) == 0;
    if (!same && getenv("AGORA_UPDATE_DOCS")) {
        FILE *f = fopen(path, "wb");
        CHECK(f != NULL);
        fwrite(doc, 1, (size_t)(b - doc), f);
        fwrite(gen, 1, genlen, f);
        fputs(e, f);
        CHECK(fclose(f) == 0);
        fprintf(stderr, "updated %s\n", path);
        same = true;
    }
    if (!same)
        fprintf(stderr, "%s is out of date: run AGORA_UPDATE_DOCS=1 test_msg docs_match\n", path);
    CHECK(same);
    free(path);
    free(doc);
    free(gen);
}

/* With AGORA_WRITE_SEEDS=DIR, writes one encoded message per type into DIR
 * (the fuzzer's seed corpus, tests/fuzz/corpus/msg). */
static void
test_seed_corpus(void)
{
    const char *dir = getenv("AGORA_WRITE_SEEDS");
    for (size_t i = 0; i < NTYPES; i++) {
        size_t len;
        void *buf = sample(all_types[i], (int)i, &len);
        CHECK(decode_check(buf, len) == 0);
        if (dir) {
            char *path =
                xfmt("%s/%02d-%s.msgpack", dir, (int)all_types[i], msg_type_name(all_types[i]));
            FILE *f = fopen(path, "wb");
            CHECK(f != NULL);
            CHECK(fwrite(buf, 1, len, f) == len);
            CHECK(fclose(f) == 0);
            free(path);
        }
        free(buf);
    }
}

TEST_LIST(TEST_ENTRY(roundtrip_all), TEST_ENTRY(equal_detects_differences), TEST_ENTRY(defaults),
          TEST_ENTRY(tri_state), TEST_ENTRY(unknown_keys_ignored), TEST_ENTRY(lenient_numbers),
          TEST_ENTRY(wrong_types_rejected), TEST_ENTRY(bad_strings_rejected),
          TEST_ENTRY(truncated_rejected), TEST_ENTRY(garbage_never_crashes),
          TEST_ENTRY(mutations_never_crash), TEST_ENTRY(huge_headers_rejected), TEST_ENTRY(limits),
          TEST_ENTRY(version_mismatch_rejected), TEST_ENTRY(unknown_type), TEST_ENTRY(names),
          TEST_ENTRY(nested_api), TEST_ENTRY(encode_appends), TEST_ENTRY(docs_match), TEST_ENTRY(epoch),
          TEST_ENTRY(seed_corpus));

TEST_MAIN()
