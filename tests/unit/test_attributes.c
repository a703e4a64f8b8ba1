/*
 * Unit tests for common/attributes.c: parsing (text vs scalar), errors,
 * lookup and matching, printing, and a seeded round-trip property test.
 */
#include "attributes.h"
#include "text.h"
#include "error.h"
#include "test.h"

static void
parse_ok(struct attributes *a, const char *text)
{
    char err[256];
    int rc = attr_parse(a, text, err, sizeof(err));

    if (rc != 0)
        fprintf(stderr, "parse \"%s\": %s\n", text, err);
    CHECK_EQ_INT(rc, 0);
}

static void
check_bad(const char *text, const char *want)
{
    struct attributes a;
    char err[256], buf[64];

    attr_init(&a);
    parse_ok(&a, "rack:r1");
    CHECK_EQ_INT(attr_parse(&a, text, err, sizeof(err)), -AG_EINVAL);
    CHECK_EQ_STR(err, want);
    attr_format(&a, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "rack:r1"); /* untouched on failure */
    attr_fini(&a);
}

static void
test_parse_basic(void)
{
    struct attributes a;
    const struct attr *at;

    attr_init(&a);
    parse_ok(&a, "rack:r1;zone:a;level:3");
    CHECK_EQ_INT(a.n, 3);
    at = attr_find(&a, "rack");
    CHECK(at != NULL);
    CHECK_EQ_INT(at->type, ATTR_TEXT);
    CHECK_EQ_STR(at->text, "r1");
    at = attr_find(&a, "level");
    CHECK(at != NULL);
    CHECK_EQ_INT(at->type, ATTR_SCALAR);
    CHECK_EQ_INT(at->scalar, 3000);
    CHECK_EQ_STR(at->text, "3");
    CHECK(attr_find(&a, "nope") == NULL);
    CHECK(attr_find(&a, "Rack") == NULL);
    /* order is kept as written */
    CHECK_EQ_STR(a.v[0].name, "rack");
    CHECK_EQ_STR(a.v[2].name, "level");
    attr_fini(&a);
    attr_fini(NULL);
}

static void
test_parse_values(void)
{
    struct attributes a;

    attr_init(&a);
    parse_ok(&a, " rack : r1 ; ; zone:a b ;weight:-0.5;ver:1.2.3;big:99999999999999999999;"
                 "addr:10.0.0.1:80;f:2.5e1;pct:0.0005;");
    CHECK_EQ_INT(a.n, 8);
    CHECK_EQ_STR(attr_find(&a, "rack")->text, "r1");
    CHECK_EQ_STR(attr_find(&a, "zone")->text, "a b");
    CHECK_EQ_INT(attr_find(&a, "zone")->type, ATTR_TEXT);
    CHECK_EQ_INT(attr_find(&a, "weight")->type, ATTR_SCALAR);
    CHECK_EQ_INT(attr_find(&a, "weight")->scalar, -500);
    CHECK_EQ_INT(attr_find(&a, "ver")->type, ATTR_TEXT);
    CHECK_EQ_INT(attr_find(&a, "big")->type, ATTR_TEXT);
    CHECK_EQ_STR(attr_find(&a, "addr")->text, "10.0.0.1:80");
    CHECK_EQ_INT(attr_find(&a, "f")->scalar, 25000);
    CHECK_EQ_INT(attr_find(&a, "pct")->scalar, 1);
    parse_ok(&a, "");
    CHECK_EQ_INT(a.n, 0);
    parse_ok(&a, " ; ");
    CHECK_EQ_INT(a.n, 0);
    CHECK_EQ_INT(attr_parse(&a, NULL, NULL, 0), -AG_EINVAL);
    attr_fini(&a);
}

static void
test_parse_bad(void)
{
    char txt[600];

    check_bad("rack", "missing ':' in attribute \"rack\"");
    check_bad("rack:r1;zone", "missing ':' in attribute \"zone\"");
    check_bad(":x", "empty attribute name at \":x\"");
    check_bad("rack:", "empty value for attribute \"rack\"");
    check_bad("rack: ;", "empty value for attribute \"rack\"");
    check_bad("rack:a;rack:b", "duplicate attribute \"rack\"");
    check_bad("ra ck:1", "bad attribute name \"ra ck\"");
    check_bad("rack:\x01", "bad value \"?\" for attribute \"rack\"");
    check_bad("r\xc3\xa9:1", "bad attribute name \"r??\"");
    memset(txt, 'n', 64);
    memcpy(txt + 64, ":1", 3);
    check_bad(txt, "attribute name \"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...\" too "
                   "long (max 63)");
    memcpy(txt, "rack:", 5);
    memset(txt + 5, 'v', 256);
    txt[261] = '\0';
    check_bad(txt, "value \"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv...\" too long for "
                   "attribute \"rack\" (max 255)");
    txt[260] = '\0';
    {
        struct attributes a;
        attr_init(&a);
        parse_ok(&a, txt);
        CHECK_EQ_INT(strlen(a.v[0].text), 255);
        attr_fini(&a);
    }
}

static void
test_matches(void)
{
    struct attributes a;

    attr_init(&a);
    parse_ok(&a, "rack:r1;zone:a;level:3;w:-1.5;v:007");
    CHECK(attr_matches(&a, "level", "3"));
    CHECK(attr_matches(&a, "level", "3.0"));
    CHECK(attr_matches(&a, "level", "3.000"));
    CHECK(attr_matches(&a, "level", "0.3e1"));
    CHECK(!attr_matches(&a, "level", "3.001"));
    CHECK(!attr_matches(&a, "level", "4"));
    CHECK(!attr_matches(&a, "level", "three"));
    CHECK(attr_matches(&a, "w", "-1.50"));
    CHECK(attr_matches(&a, "v", "7"));
    CHECK(attr_matches(&a, "rack", "r1"));
    CHECK(!attr_matches(&a, "rack", "R1"));
    CHECK(!attr_matches(&a, "rack", "r1 "));
    CHECK(!attr_matches(&a, "rack", NULL));
    CHECK(!attr_matches(&a, "missing", "r1"));
    attr_fini(&a);
}

static void
test_format_copy(void)
{
    struct attributes a, b;
    char buf[128];

    attr_init(&a);
    attr_init(&b);
    parse_ok(&a, " rack : r1 ;level:3.0;zone:a b");
    CHECK_EQ_INT(attr_format(&a, buf, sizeof(buf)), strlen("rack:r1;level:3.0;zone:a b"));
    CHECK_EQ_STR(buf, "rack:r1;level:3.0;zone:a b");
    CHECK_EQ_INT(attr_format(&a, NULL, 0), strlen(buf));
    CHECK_EQ_INT(attr_format(&a, buf, 6), strlen("rack:r1;level:3.0;zone:a b"));
    CHECK_EQ_STR(buf, "rack:");
    CHECK_EQ_INT(attr_copy(&b, &a), 0);
    CHECK_EQ_INT(b.n, 3);
    CHECK(attr_matches(&b, "level", "3"));
    CHECK_EQ_INT(attr_copy(&b, &b), 0);
    attr_fini(&a);
    CHECK_EQ_INT(attr_copy(&b, &a), 0);
    CHECK_EQ_INT(b.n, 0);
    CHECK_EQ_INT(attr_format(&b, buf, sizeof(buf)), 0);
    CHECK_EQ_STR(buf, "");
    attr_fini(&b);
}

static uint64_t rng_state;

static uint64_t
rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Random attribute sets print and re-parse to the same attributes. */
static void
test_property_round_trip(void)
{
    static const char name_chars[] = "abcXYZ019_-./()[]{}!";
    static const char value_chars[] = "abz0123456789.-e: ,/";
    const char *s = getenv("AGORA_TEST_SEED");
    unsigned seed = s ? (unsigned)strtoul(s, NULL, 0) : 20240601u;
    struct attributes a, b;
    char text[4096], out1[4096], out2[4096];

    fprintf(stderr, "seed=%u (set AGORA_TEST_SEED to replay)\n", seed);
    rng_state = seed * 2654435761ull + 1;
    attr_init(&a);
    attr_init(&b);
    for (int iter = 0; iter < 20000; iter++) {
        size_t pos = 0;
        int n = (int)(rnd() % 6);
        char err[256];

        for (int i = 0; i < n; i++) {
            int nl = (int)(rnd() % 5) + 1, vl = (int)(rnd() % 6) + 1;
            if (i > 0)
                text[pos++] = ';';
            pos += (size_t)sprintf(text + pos, "n%d", i); /* unique names */
            for (int k = 0; k < nl; k++)
                text[pos++] = name_chars[rnd() % (sizeof(name_chars) - 1)];
            text[pos++] = ':';
            for (int k = 0; k < vl; k++)
                text[pos++] = value_chars[rnd() % (sizeof(value_chars) - 1)];
        }
        text[pos] = '\0';
        int rc = attr_parse(&a, text, err, sizeof(err));
        if (rc != 0) {
            /* only values that trim to nothing are refused */
            CHECK(strstr(err, "empty value") != NULL);
            continue;
        }
        attr_format(&a, out1, sizeof(out1));
        parse_ok(&b, out1);
        attr_format(&b, out2, sizeof(out2));
        CHECK_EQ_STR(out1, out2);
        CHECK_EQ_INT(a.n, b.n);
        for (size_t i = 0; i < a.n; i++) {
            CHECK_EQ_STR(a.v[i].name, b.v[i].name);
            CHECK_EQ_STR(a.v[i].text, b.v[i].text);
            CHECK_EQ_INT(a.v[i].type, b.v[i].type);
            CHECK_EQ_INT(a.v[i].scalar, b.v[i].scalar);
            CHECK(attr_matches(&b, a.v[i].name, a.v[i].text));
        }
    }
    attr_fini(&a);
    attr_fini(&b);
}

/* common/text's percent-encoding (node names of agora-services' ZooKeeper
 * store, paths of its proxy): kept bytes as they are, the rest %XX, cut
 * where the buffer ends but counted in full. */
static void
test_text_pct(void)
{
    char out[64];
    struct txt_buf w = {out, sizeof(out), 0};

    txt_put_pct(&w, "/team-a/web 1%", "-._");
    CHECK_EQ_INT((int)txt_finish(&w), 22);
    CHECK_EQ_STR(out, "%2Fteam-a%2Fweb%201%25");
    w = (struct txt_buf){out, sizeof(out), 0};
    txt_put_pct(&w, "/v2/apps/a b\xc3\xa9", "/-._~");
    txt_finish(&w);
    CHECK_EQ_STR(out, "/v2/apps/a%20b%C3%A9");
    w = (struct txt_buf){out, 5, 0};
    txt_put_pct(&w, "a/b/c", "");
    CHECK_EQ_INT((int)txt_finish(&w), 9);
    CHECK_EQ_STR(out, "a%2F");
}

TEST_LIST(TEST_ENTRY(parse_basic), TEST_ENTRY(parse_values), TEST_ENTRY(parse_bad),
          TEST_ENTRY(matches), TEST_ENTRY(format_copy), TEST_ENTRY(property_round_trip),
          TEST_ENTRY(text_pct));
TEST_MAIN()
