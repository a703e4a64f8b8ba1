#include "hmap.h"
#include "test.h"

static void
test_put_get_del(void)
{
    struct hmap m;
    char key[32];
    int vals[5000];

    hmap_init(&m);
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        vals[i] = i;
        CHECK_EQ_INT(hmap_put(&m, key, &vals[i]), 0);
    }
    CHECK_EQ_INT(hmap_size(&m), 5000);
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        int *v = hmap_get(&m, key);
        CHECK(v != NULL && *v == i);
    }
    CHECK(hmap_get(&m, "absent") == NULL);
    for (int i = 0; i < 5000; i += 2) {
        snprintf(key, sizeof(key), "k%d", i);
        CHECK(hmap_del(&m, key) == &vals[i]);
    }
    CHECK_EQ_INT(hmap_size(&m), 2500);
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        CHECK((hmap_get(&m, key) != NULL) == (i % 2 == 1));
    }
    hmap_fini(&m);
}

static void
test_replace_and_iterate(void)
{
    struct hmap m;
    int a = 1, b = 2, c = 3;
    size_t it = 0, count = 0;
    const char *k;
    void *v;

    hmap_init(&m);
    CHECK_EQ_INT(hmap_put(&m, "x", &a), 0);
    CHECK_EQ_INT(hmap_put(&m, "x", &b), 0);
    CHECK_EQ_INT(hmap_put(&m, "y", &c), 0);
    CHECK(hmap_get(&m, "x") == &b);
    CHECK_EQ_INT(hmap_size(&m), 2);
    while (hmap_next(&m, &it, &k, &v)) {
        count++;
        CHECK((strcmp(k, "x") == 0 && v == &b) || (strcmp(k, "y") == 0 && v == &c));
        hmap_del(&m, k);
    }
    CHECK_EQ_INT(count, 2);
    CHECK_EQ_INT(hmap_size(&m), 0);
    hmap_fini(&m);
}

static void
test_churn_tombstones(void)
{
    struct hmap m;
    char key[32];
    int v = 7;

    hmap_init(&m);
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "t%d", i);
        CHECK_EQ_INT(hmap_put(&m, key, &v), 0);
        CHECK(hmap_del(&m, key) == &v);
    }
    CHECK_EQ_INT(hmap_size(&m), 0);
    CHECK(m.cap <= 64);
    hmap_fini(&m);
}

TEST_LIST(TEST_ENTRY(put_get_del), TEST_ENTRY(replace_and_iterate), TEST_ENTRY(churn_tombstones));
TEST_MAIN()
