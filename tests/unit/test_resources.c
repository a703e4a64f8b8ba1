#include <jansson.h>
/*
 * Unit tests for common/resources.c: parsing (good and bad text, with the
 * error messages), printing, arithmetic per type, roles and hierarchy, DRF
 * share, and seeded model-based property tests (set AGORA_TEST_SEED to replay).
 */
#include "error.h"
#include "resources.h"
#include "test.h"

#include <stdarg.h>
#include <time.h>

/* ---- helpers ---- */

static void
parse_ok(struct resources *r, const char *text)
{
    char err[256];
    int rc = res_parse(r, text, err, sizeof(err));

    if (rc != 0)
        fprintf(stderr, "parse \"%s\": %s\n", text, err);
    CHECK_EQ_INT(rc, 0);
}

/* Parses `text` and checks that it prints as `want`. */
static void
check_print(const char *text, const char *want)
{
    struct resources r;
    char buf[512];

    res_init(&r);
    parse_ok(&r, text);
    res_format(&r, buf, sizeof(buf));
    CHECK_EQ_STR(buf, want);
    res_fini(&r);
}

/* Parses `text`, expects failure with exactly `want` as the message. */
static void
check_bad(const char *text, const char *want)
{
    struct resources r;
    char err[256], buf[64];

    res_init(&r);
    parse_ok(&r, "cpus:1");
    CHECK_EQ_INT(res_parse(&r, text, err, sizeof(err)), -AG_EINVAL);
    CHECK_EQ_STR(err, want);
    res_format(&r, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "cpus:1"); /* output untouched on failure */
    res_fini(&r);
}

static char *
str(const struct resources *r)
{
    static char buf[4096];

    res_format(r, buf, sizeof(buf));
    return buf;
}

/* ---- parsing ---- */

static void
test_parse_agent(void)
{
    struct resources r;

    res_init(&r);
    parse_ok(&r, "cpus:2;mem:1024;disk:4096;ports:[31000-32000]");
    CHECK_EQ_INT(r.n, 4);
    CHECK_EQ_INT(res_scalar(&r, "cpus"), 2000);
    CHECK_EQ_INT(res_scalar(&r, "mem"), 1024000);
    CHECK_EQ_INT(res_scalar(&r, "disk"), 4096000);
    CHECK_EQ_INT(res_range_count(&r, "ports"), 1001);
    CHECK_EQ_INT(res_scalar(&r, "gpus"), 0);
    /* sorted by name */
    CHECK_EQ_STR(r.items[0].name, "cpus");
    CHECK_EQ_STR(r.items[1].name, "disk");
    CHECK_EQ_STR(r.items[2].name, "mem");
    CHECK_EQ_STR(r.items[3].name, "ports");
    CHECK_EQ_STR(r.items[0].role, "*");
    res_fini(&r);
}

static void
test_parse_scalars_exact(void)
{
    static const struct {
        const char *text;
        int64_t milli;
    } cases[] = {
        {"0.1", 100},
        {"0.5", 500},
        {"2", 2000},
        {"0.125", 125},
        {"1.001", 1001},
        {"0.0005", 1},
        {"0.00049", 0},
        {"1.2345", 1235},
        {"1.23449", 1234},
        {"0.9995", 1000},
        {".5", 500},
        {"5.", 5000},
        {"1e3", 1000000},
        {"2.5E-1", 250},
        {"5e-4", 1},
        {"5e-5", 0},
        {"0e999999", 0},
        {"007", 7000},
        {"9223372036854775.807", INT64_MAX},
        {"0.1000000000000000000001", 100},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v = -1;
        int rc = res_parse_scalar(cases[i].text, strlen(cases[i].text), &v);
        if (rc != 0 || v != cases[i].milli)
            fprintf(stderr, "case \"%s\"\n", cases[i].text);
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(v, cases[i].milli);
    }
    static const char *bad[] = {"",    ".",    "-1",  "+1", "1e", "1e+",   "e3",       "nan",
                                "inf", "0x10", "1,5", "1 ", " 1", "1.2.3", "infinity", "1e3.5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v = 42;
        CHECK_EQ_INT(res_parse_scalar(bad[i], strlen(bad[i]), &v), -AG_EINVAL);
        CHECK_EQ_INT(v, 42);
    }
    int64_t v = 0;
    CHECK_EQ_INT(res_parse_scalar("9223372036854775.808", 20, &v), -AG_ERANGE);
    CHECK_EQ_INT(res_parse_scalar("9223372036854775.8075", 21, &v), -AG_ERANGE);
    CHECK_EQ_INT(res_parse_scalar("1e400", 5, &v), -AG_ERANGE);
    CHECK_EQ_INT(res_parse_scalar("1e99999999999999999999", 22, &v), -AG_ERANGE);
}

static void
test_parse_syntax(void)
{
    struct resources r;

    res_init(&r);
    parse_ok(&r, "");
    CHECK(res_empty(&r));
    parse_ok(&r, " cpus : 2 ; mem:1 ;; ports: [ 1 - 2 , 5 ] ; ");
    CHECK_EQ_STR(str(&r), "cpus:2;mem:1;ports:[1-2,5-5]");
    /* same (name, role) summed; ranges coalesced; set members sorted, unique */
    parse_ok(&r, "cpus:1;cpus:0.5;ports:[10-20,1-5,6-9,15-30];zones:{b,a,b}");
    CHECK_EQ_STR(str(&r), "cpus:1.5;ports:[1-30];zones:{a,b}");
    /* zero and empty items dropped */
    parse_ok(&r, "cpus:0;ports:[];s:{};mem:0.0001");
    CHECK(res_empty(&r));
    /* roles; (*) is unreserved */
    parse_ok(&r, "cpus(*):1;cpus:1;cpus(eng/web):2;cpus(eng):3");
    CHECK_EQ_STR(str(&r), "cpus:2;cpus(eng):3;cpus(eng/web):2");
    CHECK_EQ_INT(res_scalar(&r, "cpus"), 7000);
    /* extremes of the ranges domain */
    parse_ok(&r, "ports:[18446744073709551615,0-0,18446744073709551614]");
    CHECK_EQ_STR(str(&r), "ports:[0-0,18446744073709551614-18446744073709551615]");
    CHECK_EQ_INT(res_range_count(&r, "ports"), 3);
    parse_ok(&r, "ports:[0-18446744073709551615]");
    CHECK(res_range_count(&r, "ports") == UINT64_MAX);
    /* custom names */
    parse_ok(&r, "nvidia.com/gpu:1;my_res-2:3");
    CHECK_EQ_STR(str(&r), "my_res-2:3;nvidia.com/gpu:1");
    CHECK_EQ_INT(res_parse(&r, NULL, NULL, 0), -AG_EINVAL);
    res_fini(&r);
}

static void
test_parse_bad(void)
{
    char name32[40], role64[80], txt[160];

    check_bad("cpus:x2", "bad value \"x2\" for resource \"cpus\"");
    check_bad("foo", "unknown syntax at \"foo\"");
    check_bad("cpus:2;foo;mem:1", "unknown syntax at \"foo\"");
    check_bad("cpus:-1", "negative value \"-1\" for resource \"cpus\"");
    check_bad("cpus:nan", "bad value \"nan\" for resource \"cpus\"");
    check_bad("cpus:inf", "bad value \"inf\" for resource \"cpus\"");
    check_bad("cpus:", "bad value \"\" for resource \"cpus\"");
    check_bad("cpus:2x", "bad value \"2x\" for resource \"cpus\"");
    check_bad("cpus:1.2.3", "bad value \"1.2.3\" for resource \"cpus\"");
    check_bad("cpus:1e400", "value \"1e400\" out of range for resource \"cpus\"");
    check_bad("mem:99999999999999999",
              "value \"99999999999999999\" out of range for resource \"mem\"");
    check_bad("cpus:9223372036854775;cpus:9223372036854775",
              "value overflow for resource \"cpus\"");
    check_bad(":2", "empty resource name at \":2\"");
    check_bad("(web):2", "empty resource name at \"(web):2\"");
    memset(name32, 'n', 32);
    name32[32] = '\0';
    snprintf(txt, sizeof(txt), "%s:1", name32);
    check_bad(txt, "resource name \"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\" too long (max 31)");
    name32[31] = '\0';
    snprintf(txt, sizeof(txt), "%s:1", name32);
    check_print(txt, txt);
    check_bad("c pus:2", "bad resource name \"c pus\"");
    check_bad("cpus(web:2", "unterminated role at \"cpus(web:2\"");
    check_bad("cpus(-web):2", "bad role \"-web\" for resource \"cpus\"");
    check_bad("cpus():2", "bad role \"\" for resource \"cpus\"");
    check_bad("cpus(a b):2", "bad role \"a b\" for resource \"cpus\"");
    check_bad("cpus(web)x:2", "unknown syntax at \"x:2\"");
    check_bad("cpus(web)", "unknown syntax at \"cpus(web)\"");
    memset(role64, 'r', 64);
    role64[64] = '\0';
    snprintf(txt, sizeof(txt), "cpus(%s):1", role64);
    check_bad(txt, "role \"rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr...\" too long for "
                   "resource \"cpus\" (max 63)");
    role64[63] = '\0';
    snprintf(txt, sizeof(txt), "cpus(%s):1", role64);
    check_print(txt, txt);
    check_bad("ports:[1-2", "unterminated ranges \"[1-2\" for resource \"ports\"");
    check_bad("ports:[5-3]", "bad range \"5-3\" for resource \"ports\": begin > end");
    check_bad("ports:[1-2]x", "bad value \"[1-2]x\" for resource \"ports\"");
    check_bad("ports:[1-2,,3]", "bad range \"\" for resource \"ports\"");
    check_bad("ports:[a-2]", "bad range \"a-2\" for resource \"ports\"");
    check_bad("ports:[-2]", "bad range \"-2\" for resource \"ports\"");
    check_bad("ports:[1-2-3]", "bad range \"1-2-3\" for resource \"ports\"");
    check_bad("ports:[1-18446744073709551616]",
              "bad range \"1-18446744073709551616\" for resource \"ports\": out of bounds");
    check_bad("s:{a,b", "unterminated set \"{a,b\" for resource \"s\"");
    check_bad("s:{a,,b}", "empty set member in \"{a,,b}\" for resource \"s\"");
    check_bad("s:{a,{b}", "bad set member \"{b\" for resource \"s\"");
    check_bad("s:{a,{b}}", "bad value \"{a,{b}}\" for resource \"s\"");
    check_bad("s:{a}b", "bad value \"{a}b\" for resource \"s\"");
    check_bad("cpus:2;cpus:[1-2]", "resource \"cpus\" used with two types (scalar and ranges)");
    check_bad("cpus(a):2;cpus(b):{x}", "resource \"cpus\" used with two types (scalar and set)");
    check_bad("cpus:0;cpus:[1-2]", "resource \"cpus\" used with two types (scalar and ranges)");
    check_bad("cpus:\x01", "bad value \"?\" for resource \"cpus\"");
    {
        char set[300] = "s:{a,";
        memset(set + 5, 'm', 256);
        memcpy(set + 261, "}", 2);
        check_bad(set, "set member \"mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm...\" too "
                       "long for resource \"s\"");
        memcpy(set + 260, "}", 2); /* 255 characters fit */
        check_print(set, set);
    }
    /* long offending parts are cut in the message */
    memset(txt, 'x', 100);
    memcpy(txt + 100, ":1", 3);
    check_bad(txt, "resource name \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\" too "
                   "long (max 31)");
}

/* ---- printing ---- */

static void
test_format(void)
{
    struct resources r;
    char buf[64];
    size_t n;

    check_print("cpus:2.000", "cpus:2");
    check_print("cpus:0.50", "cpus:0.5");
    check_print("cpus:0.125", "cpus:0.125");
    check_print("cpus:0.05", "cpus:0.05");
    check_print("cpus:10.010", "cpus:10.01");
    check_print("mem:1024;cpus:2;disk(eng):1;zones:{b,a};ports:[5-6]",
                "cpus:2;disk(eng):1;mem:1024;ports:[5-6];zones:{a,b}");
    CHECK_EQ_INT(res_format_scalar(-125, buf, sizeof(buf)), 6);
    CHECK_EQ_STR(buf, "-0.125");
    CHECK_EQ_INT(res_format_scalar(INT64_MIN, buf, sizeof(buf)), 21);
    CHECK_EQ_STR(buf, "-9223372036854775.808");

    res_init(&r);
    parse_ok(&r, "cpus:2;mem:1024");
    n = res_format(&r, NULL, 0);
    CHECK_EQ_INT(n, strlen("cpus:2;mem:1024"));
    CHECK_EQ_INT(res_format(&r, buf, 5), n); /* truncated like snprintf */
    CHECK_EQ_STR(buf, "cpus");
    CHECK_EQ_INT(res_format(&r, buf, 1), n);
    CHECK_EQ_STR(buf, "");
    char *s = res_to_string(&r);
    CHECK_EQ_STR(s, "cpus:2;mem:1024");
    free(s);
    res_fini(&r);
    res_init(&r);
    CHECK_EQ_INT(res_format(&r, buf, sizeof(buf)), 0);
    CHECK_EQ_STR(buf, "");
    res_fini(&r);
}

static void
test_round_trip(void)
{
    static const char *texts[] = {
        "cpus:2;mem:1024;disk:4096;ports:[31000-32000]",
        "cpus(eng/web):0.001;cpus:9223372036854775.807",
        "ports:[0-0,2-2,4-18446744073709551615];ports(a):[1-3]",
        "zones:{a,b c,x:y,[z]};cpus(x.y_z-1/a):1.1",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct resources a, b;
        char s1[512], s2[512];
        res_init(&a);
        res_init(&b);
        parse_ok(&a, texts[i]);
        res_format(&a, s1, sizeof(s1));
        parse_ok(&b, s1);
        res_format(&b, s2, sizeof(s2));
        CHECK(res_equal(&a, &b));
        CHECK_EQ_STR(s1, s2);
        res_fini(&a);
        res_fini(&b);
    }
}

/* ---- arithmetic ---- */

static void
test_add_sub_scalars(void)
{
    struct resources a, b;

    res_init(&a);
    res_init(&b);
    parse_ok(&a, "cpus:2;mem:1024");
    parse_ok(&b, "cpus:0.5;disk:10");
    CHECK_EQ_INT(res_add(&a, &b), 0);
    CHECK_EQ_STR(str(&a), "cpus:2.5;disk:10;mem:1024");
    CHECK(res_contains(&a, &b));
    CHECK_EQ_INT(res_sub(&a, &b), 0);
    CHECK_EQ_STR(str(&a), "cpus:2;mem:1024");
    CHECK(!res_contains(&a, &b));
    CHECK_EQ_INT(res_sub(&a, &b), -AG_ERANGE);
    CHECK_EQ_STR(str(&a), "cpus:2;mem:1024");
    /* exact subtraction removes the item */
    parse_ok(&b, "cpus:2");
    CHECK_EQ_INT(res_sub(&a, &b), 0);
    CHECK_EQ_STR(str(&a), "mem:1024");
    /* overflow leaves a unchanged */
    parse_ok(&a, "cpus:9223372036854775;mem:1");
    parse_ok(&b, "mem:1;cpus:0.807");
    CHECK_EQ_INT(res_add(&a, &b), 0);
    CHECK_EQ_INT(res_add(&a, &b), -AG_ERANGE);
    CHECK_EQ_STR(str(&a), "cpus:9223372036854775.807;mem:2");
    /* a += a, a -= a */
    parse_ok(&a, "cpus:1;ports:[1-2];s:{x}");
    CHECK_EQ_INT(res_add(&a, &a), 0);
    CHECK_EQ_STR(str(&a), "cpus:2;ports:[1-2];s:{x}");
    CHECK_EQ_INT(res_sub(&a, &a), 0);
    CHECK(res_empty(&a));
    /* empty operands */
    res_fini(&b);
    parse_ok(&a, "cpus:1");
    CHECK_EQ_INT(res_add(&a, &b), 0);
    CHECK_EQ_INT(res_sub(&a, &b), 0);
    CHECK(res_contains(&a, &b));
    CHECK(!res_contains(&b, &a));
    CHECK_EQ_STR(str(&a), "cpus:1");
    res_fini(&a);
    res_fini(&b);
}

static void
test_add_sub_ranges(void)
{
    struct resources a, b;

    res_init(&a);
    res_init(&b);
    parse_ok(&a, "ports:[1-5]");
    parse_ok(&b, "ports:[6-10]");
    CHECK_EQ_INT(res_add(&a, &b), 0);
    CHECK_EQ_STR(str(&a), "ports:[1-10]"); /* adjacent ranges coalesce */
    parse_ok(&b, "ports:[3-4,7-7]");
    CHECK(res_contains(&a, &b));
    CHECK_EQ_INT(res_sub(&a, &b), 0);
    CHECK_EQ_STR(str(&a), "ports:[1-2,5-6,8-10]");
    CHECK_EQ_INT(res_range_count(&a, "ports"), 7);
    /* [2-5] spans a hole: not contained, sub fails, a unchanged */
    parse_ok(&b, "ports:[2-5]");
    CHECK(!res_contains(&a, &b));
    CHECK_EQ_INT(res_sub(&a, &b), -AG_ERANGE);
    CHECK_EQ_STR(str(&a), "ports:[1-2,5-6,8-10]");
    /* union fills holes, overlapping ranges merge */
    parse_ok(&b, "ports:[2-9,20-30]");
    CHECK_EQ_INT(res_add(&a, &b), 0);
    CHECK_EQ_STR(str(&a), "ports:[1-10,20-30]");
    /* sub of every range leaves nothing */
    parse_ok(&b, "ports:[1-10,20-30]");
    CHECK_EQ_INT(res_sub(&a, &b), 0);
    CHECK(res_empty(&a));
    /* many splits of one range (needs room to grow) */
    parse_ok(&a, "ports:[0-100]");
    parse_ok(&b, "ports:[1-1,3-3,5-5,7-7,9-9,11-11,13-13,15-15,17-17,19-19]");
    CHECK_EQ_INT(res_sub(&a, &b), 0);
    CHECK_EQ_INT(a.items[0].nranges, 11);
    CHECK_EQ_INT(res_range_count(&a, "ports"), 91);
    CHECK_EQ_INT(res_add(&a, &b), 0);
    CHECK_EQ_STR(str(&a), "ports:[0-100]");
    /* the top of the domain */
    parse_ok(&a, "ports:[18446744073709551610-18446744073709551615]");
    parse_ok(&b, "ports:[18446744073709551615]");
    CHECK_EQ_INT(res_sub(&a, &b), 0);
    CHECK_EQ_STR(str(&a), "ports:[18446744073709551610-18446744073709551614]");
    CHECK_EQ_INT(res_add(&a, &b), 0);
    parse_ok(&b, "ports:[0-18446744073709551609]");
    CHECK_EQ_INT(res_add(&a, &b), 0);
    CHECK_EQ_STR(str(&a), "ports:[0-18446744073709551615]");
    /* new ranges items on the in-place path, and more than it preallocates */
    res_fini(&a);
    parse_ok(&b, "a:[1-2];b:[3-4];cpus:1");
    CHECK_EQ_INT(res_add(&a, &b), 0);
    CHECK(res_equal(&a, &b));
    parse_ok(&b, "b:[1-2];r1:[1];r2:[1];r3:[1];r4:[1];r5:[1];r6:[1];r7:[1];r8:[1];r9:[1]");
    CHECK_EQ_INT(res_add(&a, &b), 0);
    CHECK_EQ_STR(str(&a), "a:[1-2];b:[1-4];cpus:1;r1:[1-1];r2:[1-1];r3:[1-1];r4:[1-1];"
                          "r5:[1-1];r6:[1-1];r7:[1-1];r8:[1-1];r9:[1-1]");
    res_fini(&a);
    res_fini(&b);
}

static void
test_add_sub_sets(void)
{
    struct resources a, b;

    res_init(&a);
    res_init(&b);
    parse_ok(&a, "zones:{a,c}");
    parse_ok(&b, "zones:{b,c,d}");
    CHECK_EQ_INT(res_add(&a, &b), 0);
    CHECK_EQ_STR(str(&a), "zones:{a,b,c,d}");
    CHECK(res_contains(&a, &b));
    CHECK_EQ_INT(res_sub(&a, &b), 0);
    CHECK_EQ_STR(str(&a), "zones:{a}");
    parse_ok(&b, "zones:{a,e}");
    CHECK(!res_contains(&a, &b));
    CHECK_EQ_INT(res_sub(&a, &b), -AG_ERANGE);
    CHECK_EQ_STR(str(&a), "zones:{a}");
    parse_ok(&b, "zones:{a}");
    CHECK_EQ_INT(res_sub(&a, &b), 0);
    CHECK(res_empty(&a));
    res_fini(&a);
    res_fini(&b);
}

static void
test_type_conflict(void)
{
    struct resources a, b;

    res_init(&a);
    res_init(&b);
    parse_ok(&a, "cpus:1;mem:1");
    parse_ok(&b, "mem:1;cpus(eng):[1-2]");
    CHECK_EQ_INT(res_add(&a, &b), -AG_EINVAL);
    CHECK_EQ_STR(str(&a), "cpus:1;mem:1");
    CHECK(!res_contains(&a, &b));
    CHECK_EQ_INT(res_sub(&a, &b), -AG_ERANGE);
    parse_ok(&b, "cpus:[1-2]");
    CHECK(!res_contains(&a, &b));
    CHECK_EQ_INT(res_add_scalar(&b, "cpus", "eng", 1000), -AG_EINVAL);
    CHECK_EQ_STR(str(&b), "cpus:[1-2]");
    res_fini(&a);
    res_fini(&b);
}

static void
test_add_scalar(void)
{
    struct resources r;

    res_init(&r);
    CHECK_EQ_INT(res_add_scalar(&r, "cpus", NULL, 1500), 0);
    CHECK_EQ_INT(res_add_scalar(&r, "cpus", "eng", 500), 0);
    CHECK_EQ_INT(res_add_scalar(&r, "cpus", "*", 500), 0);
    CHECK_EQ_STR(str(&r), "cpus:2;cpus(eng):0.5");
    CHECK_EQ_INT(res_scalar(&r, "cpus"), 2500);
    CHECK_EQ_INT(res_add_scalar(&r, "cpus", "eng", -501), -AG_ERANGE);
    CHECK_EQ_INT(res_add_scalar(&r, "cpus", "eng", -500), 0);
    CHECK_EQ_STR(str(&r), "cpus:2");
    CHECK_EQ_INT(res_add_scalar(&r, "gpus", NULL, -1), -AG_ERANGE);
    CHECK_EQ_INT(res_add_scalar(&r, "gpus", NULL, 0), 0);
    CHECK_EQ_INT(res_add_scalar(&r, "cpus", NULL, INT64_MAX), -AG_ERANGE);
    CHECK_EQ_INT(res_add_scalar(&r, "", NULL, 1), -AG_EINVAL);
    CHECK_EQ_INT(res_add_scalar(&r, "c pus", NULL, 1), -AG_EINVAL);
    CHECK_EQ_INT(res_add_scalar(&r, "cpus", "-bad", 1), -AG_EINVAL);
    CHECK_EQ_INT(res_add_scalar(&r, NULL, NULL, 1), -AG_EINVAL);
    CHECK_EQ_STR(str(&r), "cpus:2");
    res_fini(&r);
    res_fini(NULL);
}

static void
test_equal_empty_copy(void)
{
    struct resources a, b;

    res_init(&a);
    res_init(&b);
    CHECK(res_empty(&a));
    CHECK(res_equal(&a, &b));
    parse_ok(&a, "cpus:1;ports:[1-5,7-9];s:{x,y}");
    CHECK(!res_equal(&a, &b));
    CHECK_EQ_INT(res_copy(&b, &a), 0);
    CHECK(res_equal(&a, &b));
    /* copying over an existing collection reuses it */
    parse_ok(&a, "cpus:2;ports:[1-2]");
    CHECK_EQ_INT(res_copy(&b, &a), 0);
    CHECK_EQ_STR(str(&b), "cpus:2;ports:[1-2]");
    parse_ok(&a, "ports:[1-2,4-5,7-8,10-11,13-14]");
    CHECK_EQ_INT(res_copy(&b, &a), 0);
    CHECK_EQ_STR(str(&b), str(&a));
    CHECK_EQ_INT(res_copy(&b, &b), 0);
    parse_ok(&b, "ports:[1-2,4-5,7-8,10-11,13-15]");
    CHECK(!res_equal(&a, &b));
    parse_ok(&b, "ports(r):[1-2,4-5,7-8,10-11,13-14]");
    CHECK(!res_equal(&a, &b));
    parse_ok(&a, "s:{a,b}");
    parse_ok(&b, "s:{a,c}");
    CHECK(!res_equal(&a, &b));
    res_fini(&a);
    CHECK_EQ_INT(res_copy(&b, &a), 0);
    CHECK(res_empty(&b));
    res_fini(&b);
}

/* ---- roles ---- */

static void
test_role_valid(void)
{
    static const char *good[] = {"*",  "eng",   "eng/web", "a.b", "a-b",
                                 "_x", "a/b/c", "x..y",    "ab.", "1"};
    static const char *bad[] = {"",     ".",   "..", "-a", ".a",   "a/", "/a",   "a//b", "a/.b",
                                "a/-b", "a b", "a*", "**", "a(b)", "é",  "a/..", "a:b"};
    char longrole[80];

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        CHECK(res_role_valid(good[i]));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (res_role_valid(bad[i]))
            fprintf(stderr, "accepted \"%s\"\n", bad[i]);
        CHECK(!res_role_valid(bad[i]));
    }
    CHECK(!res_role_valid(NULL));
    memset(longrole, 'a', 63);
    longrole[63] = '\0';
    CHECK(res_role_valid(longrole));
    longrole[63] = 'a';
    longrole[64] = '\0';
    CHECK(!res_role_valid(longrole));
}

static void
test_roles_hierarchy(void)
{
    struct resources r, out;

    res_init(&r);
    res_init(&out);
    parse_ok(&r, "cpus:1;cpus(eng):2;cpus(eng/web):3;cpus(engine):4;cpus(ops):5;"
                 "ports(eng):[1-10];mem(eng/web/x):6");
    CHECK_EQ_INT(res_allocatable_to(&out, &r, "eng/web"), 0);
    CHECK_EQ_STR(str(&out), "cpus:1;cpus(eng):2;cpus(eng/web):3;ports(eng):[1-10]");
    CHECK_EQ_INT(res_allocatable_to(&out, &r, "eng"), 0);
    CHECK_EQ_STR(str(&out), "cpus:1;cpus(eng):2;ports(eng):[1-10]");
    CHECK_EQ_INT(res_allocatable_to(&out, &r, "eng/web/x"), 0);
    CHECK_EQ_STR(str(&out), "cpus:1;cpus(eng):2;cpus(eng/web):3;mem(eng/web/x):6;"
                            "ports(eng):[1-10]");
    CHECK_EQ_INT(res_allocatable_to(&out, &r, "engine"), 0);
    CHECK_EQ_STR(str(&out), "cpus:1;cpus(engine):4");
    CHECK_EQ_INT(res_allocatable_to(&out, &r, "*"), 0);
    CHECK_EQ_STR(str(&out), "cpus:1");
    CHECK_EQ_INT(res_allocatable_to(&out, &r, "bad role"), -AG_EINVAL);
    CHECK_EQ_STR(str(&out), "cpus:1");

    CHECK_EQ_INT(res_filter_role(&out, &r, "eng"), 0);
    CHECK_EQ_STR(str(&out), "cpus(eng):2;ports(eng):[1-10]");
    CHECK_EQ_INT(res_filter_role(&out, &r, NULL), 0);
    CHECK_EQ_STR(str(&out), "cpus:1");
    CHECK_EQ_INT(res_filter_role(&out, &r, "nobody"), 0);
    CHECK(res_empty(&out));

    CHECK_EQ_INT(res_flatten(&out, &r), 0);
    CHECK_EQ_STR(str(&out), "cpus:15;mem:6;ports:[1-10]");
    CHECK_EQ_INT(res_set_role(&out, &r, "ops"), 0);
    CHECK_EQ_STR(str(&out), "cpus(ops):15;mem(ops):6;ports(ops):[1-10]");
    CHECK_EQ_INT(res_set_role(&out, &r, "-x"), -AG_EINVAL);
    CHECK_EQ_STR(str(&out), "cpus(ops):15;mem(ops):6;ports(ops):[1-10]");

    /* reserved resources are not interchangeable with unreserved ones */
    struct resources need;
    res_init(&need);
    parse_ok(&need, "cpus:2");
    CHECK(!res_contains(&r, &need));
    CHECK_EQ_INT(res_sub(&r, &need), -AG_ERANGE);
    CHECK_EQ_INT(res_flatten(&out, &r), 0);
    CHECK(res_contains(&out, &need));

    /* out may be the input */
    CHECK_EQ_INT(res_allocatable_to(&r, &r, "eng"), 0);
    CHECK_EQ_STR(str(&r), "cpus:1;cpus(eng):2;ports(eng):[1-10]");
    CHECK_EQ_INT(res_set_role(&r, &r, "eng/web"), 0);
    CHECK_EQ_STR(str(&r), "cpus(eng/web):3;ports(eng/web):[1-10]");
    CHECK_EQ_INT(res_filter_role(&r, &r, "*"), 0);
    CHECK(res_empty(&r));
    /* flatten can overflow */
    parse_ok(&r, "cpus(a):9223372036854775;cpus(b):9223372036854775");
    CHECK_EQ_INT(res_flatten(&out, &r), -AG_ERANGE);
    CHECK_EQ_STR(str(&out), "cpus:15;mem:6;ports:[1-10]");
    res_fini(&need);
    res_fini(&r);
    res_fini(&out);
}

static void
test_drf_share(void)
{
    struct resources total, alloc;

    res_init(&total);
    res_init(&alloc);
    parse_ok(&total, "cpus:10;mem:1000;cpus(eng):10;ports:[1-100]");
    CHECK(res_drf_share(&alloc, &total) == 0.0);
    parse_ok(&alloc, "cpus:2;mem:100");
    CHECK(res_drf_share(&alloc, &total) == 0.1); /* 2/20 cpus and 100/1000 mem */
    parse_ok(&alloc, "cpus(eng):1;mem:500;ports:[1-100];gpus:4");
    CHECK(res_drf_share(&alloc, &total) == 0.5); /* mem dominates; ports, gpus ignored */
    parse_ok(&alloc, "cpus:15;cpus(x):5;mem:1");
    CHECK(res_drf_share(&alloc, &total) == 1.0);
    res_fini(&total);
    CHECK(res_drf_share(&alloc, &total) == 0.0);
    res_fini(&alloc);
}

/* No drift: a million additions then subtractions of 0.1 cpus are exact. */
static void
test_no_drift(void)
{
    struct resources a, b, start;
    struct timespec t0, t1;

    res_init(&a);
    res_init(&b);
    res_init(&start);
    parse_ok(&a, "cpus:0.3;mem:1024");
    parse_ok(&b, "cpus:0.1");
    CHECK_EQ_INT(res_copy(&start, &a), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 1000000; i++)
        CHECK(res_add(&a, &b) == 0);
    CHECK_EQ_INT(res_scalar(&a, "cpus"), 100000300);
    CHECK_EQ_STR(str(&a), "cpus:100000.3;mem:1024");
    for (int i = 0; i < 1000000; i++)
        CHECK(res_sub(&a, &b) == 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(res_equal(&a, &start));
    CHECK_EQ_STR(str(&a), "cpus:0.3;mem:1024");
    fprintf(stderr, "2M add/sub: %.1f ns each\n",
            ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 2e6);
    res_fini(&a);
    res_fini(&b);
    res_fini(&start);
}

/* ---- model-based property tests ---- */

/*
 * A model of a small universe: scalars cpus and mem, ranges ports within
 * [0, 63] (a bit mask), set zones of members a..h (a bit mask), each for roles
 * "*", "eng" and "eng/web".
 */
#define NROLES 3
static const char *roles[NROLES] = {"*", "eng", "eng/web"};

struct model {
    int64_t cpus[NROLES], mem[NROLES];
    uint64_t ports[NROLES];
    unsigned zones[NROLES];
};

static uint64_t rng_state;

static uint64_t
rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static uint64_t
rnd_ports(void)
{
    uint64_t m = 0;
    int n = (int)(rnd() % 4);

    for (int i = 0; i < n; i++) {
        unsigned b = (unsigned)(rnd() % 64), len = (unsigned)(rnd() % 12) + 1;
        for (unsigned k = b; k < b + len && k < 64; k++)
            m |= 1ull << k;
    }
    if (rnd() % 8 == 0)
        m |= 1ull << 63;
    return m;
}

static int64_t
rnd_scalar(void)
{
    switch (rnd() % 4) {
    case 0:
        return 0;
    case 1:
        return (int64_t)(rnd() % 4) * 1000;
    case 2:
        return (int64_t)(rnd() % 50) * 100;
    default:
        return (int64_t)(rnd() % 5000);
    }
}

static void
model_random(struct model *m)
{
    for (int r = 0; r < NROLES; r++) {
        bool on = rnd() % 3 != 0;
        m->cpus[r] = on ? rnd_scalar() : 0;
        m->mem[r] = on ? rnd_scalar() : 0;
        m->ports[r] = on && rnd() % 2 ? rnd_ports() : 0;
        m->zones[r] = on && rnd() % 2 ? (unsigned)(rnd() % 256) : 0;
    }
}

/* A random sub-model of `m`. */
static void
model_part(struct model *p, const struct model *m)
{
    for (int r = 0; r < NROLES; r++) {
        p->cpus[r] = m->cpus[r] ? (int64_t)(rnd() % (uint64_t)(m->cpus[r] + 1)) : 0;
        p->mem[r] = rnd() % 2 ? m->mem[r] : 0;
        p->ports[r] = m->ports[r] & (rnd() % 3 ? rnd() : ~0ull);
        p->zones[r] = m->zones[r] & (unsigned)rnd();
    }
}

static void append(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
append(char *buf, size_t len, const char *fmt, ...)
{
    size_t n = strlen(buf);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf + n, len - n, fmt, ap);
    va_end(ap);
}

/* Text for `m`, items in a scrambled order, scalars split in two tokens. */
static void
model_text(const struct model *m, char *buf, size_t len)
{
    int shift = (int)(rnd() % NROLES);

    buf[0] = '\0';
    for (int k = 0; k < NROLES; k++) {
        int r = (k + shift) % NROLES;
        const char *role = roles[r];
        int64_t half = m->cpus[r] / 2;
        append(buf, len, "cpus(%s):%lld.%03lld;", role, (long long)half / 1000,
               (long long)half % 1000);
        append(buf, len, "mem(%s):%lld.%03lld;", role, (long long)m->mem[r] / 1000,
               (long long)m->mem[r] % 1000);
        append(buf, len, "cpus(%s):%lld.%03lld;", role, (long long)(m->cpus[r] - half) / 1000,
               (long long)(m->cpus[r] - half) % 1000);
        append(buf, len, "ports(%s):[", role);
        for (int p = 63; p >= 0; p--) /* descending, single values */
            if (m->ports[r] >> p & 1)
                append(buf, len, "%d,", p);
        if (buf[strlen(buf) - 1] == ',')
            buf[strlen(buf) - 1] = '\0';
        append(buf, len, "];zones(%s):{", role);
        for (int z = 7; z >= 0; z--)
            if (m->zones[r] >> z & 1)
                append(buf, len, "%c,", 'a' + z);
        if (buf[strlen(buf) - 1] == ',')
            buf[strlen(buf) - 1] = '\0';
        append(buf, len, "};");
    }
}

static int
role_index(const char *role)
{
    for (int r = 0; r < NROLES; r++)
        if (strcmp(roles[r], role) == 0)
            return r;
    CHECK(!"unknown role");
    return -1;
}

/* Reads `res` back into a model, checking it is normalized. */
static void
model_of(const struct resources *res, struct model *m)
{
    memset(m, 0, sizeof(*m));
    for (size_t i = 0; i < res->n; i++) {
        const struct res_item *it = &res->items[i];
        int r = role_index(it->role);
        if (i > 0) {
            const struct res_item *p = &res->items[i - 1];
            int c = strcmp(p->name, it->name);
            CHECK(c < 0 || (c == 0 && strcmp(p->role, it->role) < 0));
        }
        if (strcmp(it->name, "cpus") == 0 || strcmp(it->name, "mem") == 0) {
            CHECK_EQ_INT(it->type, RES_SCALAR);
            CHECK(it->scalar > 0);
            if (it->name[0] == 'c')
                m->cpus[r] = it->scalar;
            else
                m->mem[r] = it->scalar;
        } else if (strcmp(it->name, "ports") == 0) {
            CHECK_EQ_INT(it->type, RES_RANGES);
            CHECK(it->nranges > 0);
            for (size_t j = 0; j < it->nranges; j++) {
                CHECK(it->ranges[j].begin <= it->ranges[j].end);
                CHECK(it->ranges[j].end < 64);
                if (j > 0)
                    CHECK(it->ranges[j].begin > it->ranges[j - 1].end + 1);
                for (uint64_t v = it->ranges[j].begin; v <= it->ranges[j].end; v++)
                    m->ports[r] |= 1ull << v;
            }
        } else if (strcmp(it->name, "zones") == 0) {
            CHECK_EQ_INT(it->type, RES_SET);
            CHECK(it->nset > 0);
            for (size_t j = 0; j < it->nset; j++) {
                CHECK(strlen(it->set[j]) == 1);
                if (j > 0)
                    CHECK(strcmp(it->set[j - 1], it->set[j]) < 0);
                m->zones[r] |= 1u << (it->set[j][0] - 'a');
            }
        } else {
            CHECK(!"unexpected name");
        }
    }
}

static bool
model_contains(const struct model *a, const struct model *b)
{
    for (int r = 0; r < NROLES; r++)
        if (a->cpus[r] < b->cpus[r] || a->mem[r] < b->mem[r] ||
            (a->ports[r] & b->ports[r]) != b->ports[r] ||
            (a->zones[r] & b->zones[r]) != b->zones[r])
            return false;
    return true;
}

static void
check_model(const struct resources *res, const struct model *want)
{
    struct model got;

    model_of(res, &got);
    if (memcmp(&got, want, sizeof(got)) != 0) {
        fprintf(stderr, "resources: %s\n", str(res));
        for (int r = 0; r < NROLES; r++)
            fprintf(stderr, "model %s: cpus %lld/%lld mem %lld/%lld ports %llx/%llx zones %x/%x\n",
                    roles[r], (long long)got.cpus[r], (long long)want->cpus[r],
                    (long long)got.mem[r], (long long)want->mem[r],
                    (unsigned long long)got.ports[r], (unsigned long long)want->ports[r],
                    got.zones[r], want->zones[r]);
    }
    CHECK(memcmp(&got, want, sizeof(got)) == 0);
}

static unsigned
test_seed(void)
{
    const char *s = getenv("AGORA_TEST_SEED");
    unsigned seed = s ? (unsigned)strtoul(s, NULL, 0) : 20240601u;

    fprintf(stderr, "seed=%u (set AGORA_TEST_SEED to replay)\n", seed);
    rng_state = seed * 2654435761ull + 1;
    return seed;
}

static void
test_property_model(void)
{
    struct resources a, b, c, saved;
    char text[4096], s1[4096], s2[4096];

    test_seed();
    res_init(&a);
    res_init(&b);
    res_init(&c);
    res_init(&saved);
    for (int iter = 0; iter < 20000; iter++) {
        struct model ma, mb, mc;
        bool contained;
        int rc;

        model_random(&ma);
        if (rnd() % 2)
            model_part(&mb, &ma);
        else
            model_random(&mb);
        model_text(&ma, text, sizeof(text));
        parse_ok(&a, text);
        check_model(&a, &ma);
        model_text(&mb, text, sizeof(text));
        parse_ok(&b, text);
        check_model(&b, &mb);

        /* print/parse round trip */
        res_format(&a, s1, sizeof(s1));
        parse_ok(&c, s1);
        CHECK(res_equal(&a, &c));
        res_format(&c, s2, sizeof(s2));
        CHECK_EQ_STR(s1, s2);
        CHECK(res_equal(&a, &b) == (memcmp(&ma, &mb, sizeof(ma)) == 0));

        /* contains and sub agree with the model; sub fails exactly when not contained */
        contained = model_contains(&ma, &mb);
        CHECK(res_contains(&a, &b) == contained);
        CHECK_EQ_INT(res_copy(&saved, &a), 0);
        rc = res_sub(&a, &b);
        if (contained) {
            CHECK_EQ_INT(rc, 0);
            mc = ma;
            for (int r = 0; r < NROLES; r++) {
                mc.cpus[r] -= mb.cpus[r];
                mc.mem[r] -= mb.mem[r];
                mc.ports[r] &= ~mb.ports[r];
                mc.zones[r] &= ~mb.zones[r];
            }
            check_model(&a, &mc);
            /* a - b + b == a */
            CHECK_EQ_INT(res_add(&a, &b), 0);
            CHECK(res_equal(&a, &saved));
        } else {
            CHECK_EQ_INT(rc, -AG_ERANGE);
            CHECK(res_equal(&a, &saved));
        }

        /* add is the union; the sum contains both operands */
        CHECK_EQ_INT(res_add(&a, &b), 0);
        mc = ma;
        for (int r = 0; r < NROLES; r++) {
            mc.cpus[r] += mb.cpus[r];
            mc.mem[r] += mb.mem[r];
            mc.ports[r] |= mb.ports[r];
            mc.zones[r] |= mb.zones[r];
        }
        check_model(&a, &mc);
        CHECK(res_contains(&a, &b));
        CHECK(res_contains(&a, &saved));

        /* allocatable_to and flatten agree with the model */
        CHECK_EQ_INT(res_allocatable_to(&c, &a, "eng"), 0);
        {
            struct model mw = mc;
            mw.cpus[2] = mw.mem[2] = 0;
            mw.ports[2] = 0;
            mw.zones[2] = 0;
            check_model(&c, &mw);
        }
        CHECK_EQ_INT(res_flatten(&c, &a), 0);
        {
            struct model mf;
            memset(&mf, 0, sizeof(mf));
            for (int r = 0; r < NROLES; r++) {
                mf.cpus[0] += mc.cpus[r];
                mf.mem[0] += mc.mem[r];
                mf.ports[0] |= mc.ports[r];
                mf.zones[0] |= mc.zones[r];
            }
            check_model(&c, &mf);
            CHECK_EQ_INT(res_scalar(&a, "cpus"), mf.cpus[0]);
            CHECK_EQ_INT(res_range_count(&a, "ports"), __builtin_popcountll(mc.ports[0]) +
                                                           __builtin_popcountll(mc.ports[1]) +
                                                           __builtin_popcountll(mc.ports[2]));
        }
    }
    res_fini(&a);
    res_fini(&b);
    res_fini(&c);
    res_fini(&saved);
}

/* Random ranges over the whole 64-bit domain: a - b + b == a for b within a,
 * and sub fails exactly when b is not within a. */
static void
test_property_wide_ranges(void)
{
    struct resources a, b, saved;
    char text[2048];

    test_seed();
    res_init(&a);
    res_init(&b);
    res_init(&saved);
    for (int iter = 0; iter < 5000; iter++) {
        uint64_t base = rnd() % 3 == 0 ? UINT64_MAX - 200 : rnd() % 3 == 0 ? 0 : rnd();
        text[0] = '\0';
        append(text, sizeof(text), "ports:[");
        for (int k = 0, n = (int)(rnd() % 6) + 1; k < n; k++) {
            uint64_t lo = base + rnd() % 200, hi = lo + rnd() % 20;
            if (lo < base || hi < lo) /* wrapped */
                lo = hi = UINT64_MAX;
            append(text, sizeof(text), "%s%llu-%llu", k ? "," : "", (unsigned long long)lo,
                   (unsigned long long)hi);
        }
        append(text, sizeof(text), "]");
        parse_ok(&a, text);
        /* b: either pieces of a, or random */
        text[0] = '\0';
        append(text, sizeof(text), "ports:[");
        for (int k = 0, n = (int)(rnd() % 4) + 1; k < n; k++) {
            const struct res_range *r = &a.items[0].ranges[rnd() % a.items[0].nranges];
            uint64_t lo = r->begin + rnd() % (r->end - r->begin + 1);
            uint64_t hi = lo + rnd() % (r->end - lo + 1);
            if (rnd() % 4 == 0 && hi < UINT64_MAX - 2)
                hi += rnd() % 3;
            append(text, sizeof(text), "%s%llu-%llu", k ? "," : "", (unsigned long long)lo,
                   (unsigned long long)hi);
        }
        append(text, sizeof(text), "]");
        parse_ok(&b, text);
        CHECK_EQ_INT(res_copy(&saved, &a), 0);
        bool contained = res_contains(&a, &b);
        int rc = res_sub(&a, &b);
        CHECK_EQ_INT(rc, contained ? 0 : -AG_ERANGE);
        CHECK(res_range_count(&a, "ports") ==
              res_range_count(&saved, "ports") - (contained ? res_range_count(&b, "ports") : 0));
        if (contained) {
            CHECK(!res_equal(&a, &saved));
            CHECK(!res_contains(&a, &b));
            CHECK_EQ_INT(res_add(&a, &b), 0);
        }
        CHECK(res_equal(&a, &saved));
    }
    res_fini(&a);
    res_fini(&b);
    res_fini(&saved);
}

static void
test_to_json(void)
{
    struct resources r;
    char err[256];
    json_t *o;

    res_init(&r);
    CHECK_EQ_INT(res_parse(&r, "cpus:1.5;cpus(web):0.5;mem:64;ports:[31000-31002,31005-31005];"
                               "zones:{a,b}",
                           err, sizeof(err)),
                 0);
    o = res_to_json(&r);
    CHECK(json_real_value(json_object_get(o, "cpus")) == 2.0);
    CHECK(json_real_value(json_object_get(o, "mem")) == 64.0);
    CHECK(json_real_value(json_object_get(o, "disk")) == 0.0);
    CHECK_EQ_STR(json_string_value(json_object_get(o, "ports")), "[31000-31002,31005-31005]");
    CHECK_EQ_STR(json_string_value(json_object_get(o, "zones")), "{a,b}");
    json_decref(o);
    res_fini(&r);
}

TEST_LIST(TEST_ENTRY(to_json), TEST_ENTRY(parse_agent), TEST_ENTRY(parse_scalars_exact), TEST_ENTRY(parse_syntax),
          TEST_ENTRY(parse_bad), TEST_ENTRY(format), TEST_ENTRY(round_trip),
          TEST_ENTRY(add_sub_scalars), TEST_ENTRY(add_sub_ranges), TEST_ENTRY(add_sub_sets),
          TEST_ENTRY(type_conflict), TEST_ENTRY(add_scalar), TEST_ENTRY(equal_empty_copy),
          TEST_ENTRY(role_valid), TEST_ENTRY(roles_hierarchy), TEST_ENTRY(drf_share),
          TEST_ENTRY(no_drift), TEST_ENTRY(property_model), TEST_ENTRY(property_wide_ranges));
TEST_MAIN()
