#include "test.h"

#include "error.h"
#include "ids.h"

static void
test_uuid_shape(void)
{
    char u[IDS_UUID_LEN + 1];

    CHECK_EQ_INT(ids_new_uuid(u), 0);
    CHECK_EQ_INT(strlen(u), 36);
    CHECK(ids_valid_uuid(u));
    CHECK(ids_valid(u));
    CHECK_EQ_INT(u[14], '4');             /* version nibble */
    CHECK(strchr("89ab", u[19]) != NULL); /* variant bits 10xx */
    for (size_t i = 0; i < 36; i++)
        CHECK(u[i] == '-' || (u[i] >= '0' && u[i] <= '9') || (u[i] >= 'a' && u[i] <= 'f'));
}

static void
test_uuid_unique(void)
{
    enum { N = 1000 };
    static char u[N][IDS_UUID_LEN + 1];

    for (int i = 0; i < N; i++) {
        CHECK_EQ_INT(ids_new_uuid(u[i]), 0);
        for (int j = 0; j < i; j++)
            CHECK(strcmp(u[i], u[j]) != 0);
    }
}

static void
test_valid_uuid(void)
{
    CHECK(ids_valid_uuid("123e4567-e89b-12d3-a456-426614174000"));
    CHECK(ids_valid_uuid("123E4567-E89B-12D3-A456-426614174000"));
    CHECK(!ids_valid_uuid(NULL));
    CHECK(!ids_valid_uuid(""));
    CHECK(!ids_valid_uuid("123e4567-e89b-12d3-a456-42661417400"));   /* short */
    CHECK(!ids_valid_uuid("123e4567-e89b-12d3-a456-4266141740000")); /* long */
    CHECK(!ids_valid_uuid("123e4567ae89b-12d3-a456-426614174000"));  /* dash misplaced */
    CHECK(!ids_valid_uuid("123e4567-e89b-12d3-a456-42661417400g"));  /* not hex */
}

static void
test_valid(void)
{
    char longest[AG_ID_MAX], too_long[AG_ID_MAX + 1];

    memset(longest, 'a', AG_ID_MAX - 1);
    longest[AG_ID_MAX - 1] = '\0';
    memset(too_long, 'a', AG_ID_MAX);
    too_long[AG_ID_MAX] = '\0';

    CHECK(ids_valid("a"));
    CHECK(ids_valid("web.server_1-2"));
    CHECK(ids_valid("..."));
    CHECK(ids_valid(longest));
    CHECK(!ids_valid(too_long));
    CHECK(!ids_valid(NULL));
    CHECK(!ids_valid(""));
    CHECK(!ids_valid("."));
    CHECK(!ids_valid(".."));
    CHECK(!ids_valid("../etc"));
    CHECK(!ids_valid("a/b"));
    CHECK(!ids_valid("a b"));
    CHECK(!ids_valid("a\nb"));
    CHECK(!ids_valid("caf\xc3\xa9"));
}

static void
test_new_and_format(void)
{
    char u[IDS_UUID_LEN + 1], id[AG_ID_MAX], expect[128], small[8];

    CHECK_EQ_INT(ids_new_uuid(u), 0);
    CHECK_EQ_INT(ids_new(id, u, "S", 3), 0);
    snprintf(expect, sizeof(expect), "%s-S3", u);
    CHECK_EQ_STR(id, expect);
    CHECK(ids_valid(id));

    CHECK_EQ_INT(ids_new(id, u, "O", 18446744073709551615ULL), 0);
    snprintf(expect, sizeof(expect), "%s-O18446744073709551615", u);
    CHECK_EQ_STR(id, expect);

    CHECK_EQ_INT(ids_format(id, sizeof(id), "%s-%04llu", u, 7ULL), 0);
    snprintf(expect, sizeof(expect), "%s-0007", u);
    CHECK_EQ_STR(id, expect);

    /* Too long for the buffer, too long for an id, or bad characters. */
    CHECK_EQ_INT(ids_format(small, sizeof(small), "%s", "abcdefgh"), -AG_ERANGE);
    CHECK_EQ_STR(small, "");
    CHECK_EQ_INT(ids_format(expect, sizeof(expect), "%s-%s", u, u), -AG_ERANGE);
    CHECK_EQ_STR(expect, "");
    CHECK_EQ_INT(ids_new(id, "a/b", "S", 1), -AG_EINVAL);
    CHECK_EQ_STR(id, "");
    CHECK_EQ_INT(ids_new(id, u, "", 5), 0);
    CHECK_EQ_INT(ids_new(id, NULL, "S", 5), -AG_EINVAL);
}

TEST_LIST(TEST_ENTRY(uuid_shape), TEST_ENTRY(uuid_unique), TEST_ENTRY(valid_uuid),
          TEST_ENTRY(valid), TEST_ENTRY(new_and_format));
TEST_MAIN()
