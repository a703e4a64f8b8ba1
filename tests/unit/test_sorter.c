/* Unit tests for the sorters (master/sorter*.c). */
#include "test.h"

#include "sorter.h"

#include <stdlib.h>

/* Collects one pass into `out`; returns its length. */
static int
pass(struct sorter *s, int64_t *out, int max)
{
    struct sorter_iter it;
    int64_t id;
    int n = 0;

    sorter_begin(s, &it);
    while ((id = sorter_next(s, &it)) >= 0 && n < max)
        out[n++] = id;
    return n;
}

static void
test_find(void)
{
    CHECK(sorter_find(NULL) == &sorter_drf);
    CHECK(sorter_find("") == &sorter_drf);
    CHECK(sorter_find("drf") == &sorter_drf);
    CHECK(sorter_find("random") == &sorter_random);
    CHECK(sorter_find("fair") == NULL);
}

static void
test_drf_order(void)
{
    struct sorter *s = sorter_create(&sorter_drf, 1);
    const char *names[] = {"a", "b", "c", "d"};
    int slot[4];
    int64_t out[8];

    for (int i = 0; i < 4; i++) {
        slot[i] = sorter_add(s, 10 + i, names[i], 1.0);
        CHECK(slot[i] >= 0);
    }
    CHECK_EQ_INT(sorter_active(s), 0);
    CHECK_EQ_INT(pass(s, out, 8), 0);
    for (int i = 0; i < 4; i++)
        sorter_set_active(s, slot[i], true);
    /* All at share 0: by name. */
    CHECK_EQ_INT(pass(s, out, 8), 4);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(out[i], 10 + i);
    sorter_update(s, slot[0], 0.5, 1, 0);
    sorter_update(s, slot[1], 0.25, 1, 0);
    CHECK_EQ_INT(pass(s, out, 8), 4);
    CHECK_EQ_INT(out[0], 12);
    CHECK_EQ_INT(out[1], 13);
    CHECK_EQ_INT(out[2], 11);
    CHECK_EQ_INT(out[3], 10);
    /* Weight 4 makes a's key 0.125: before b. */
    sorter_set_weight(s, slot[0], 4.0);
    pass(s, out, 8);
    CHECK_EQ_INT(out[2], 10);
    CHECK_EQ_INT(out[3], 11);
    /* Same share: fewer allocations first. */
    sorter_update(s, slot[2], 0.1, 5, 0);
    sorter_update(s, slot[3], 0.1, 2, 0);
    pass(s, out, 8);
    CHECK_EQ_INT(out[0], 13);
    CHECK_EQ_INT(out[1], 12);
    /* Tier 1 comes after tier 0 whatever the share. */
    sorter_update(s, slot[3], 0.0, 2, 1);
    pass(s, out, 8);
    CHECK_EQ_INT(out[3], 13);
    sorter_update(s, slot[3], 0.1, 2, 0);
    /* Inactive clients are skipped; removal frees the slot. */
    sorter_set_active(s, slot[2], false);
    CHECK_EQ_INT(pass(s, out, 8), 3);
    sorter_remove(s, slot[2]);
    CHECK_EQ_INT(sorter_add(s, 99, "e", 1.0), slot[2]);
    CHECK_EQ_INT(sorter_active(s), 3);
    sorter_destroy(s);
}

/* Random updates keep the DRF order equal to a full sort. */
static void
test_drf_random_updates(void)
{
    enum { N = 300 };
    struct sorter *s = sorter_create(&sorter_drf, 1);
    static char names[N][16];
    double share[N];
    int slot[N];
    bool active[N];
    int64_t out[N];
    uint64_t x = 12345;

    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "c%03d", i);
        slot[i] = sorter_add(s, i, names[i], 1.0);
        share[i] = 0;
        active[i] = true;
        sorter_set_active(s, slot[i], true);
    }
    for (int round = 0; round < 5000; round++) {
        int i;
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        i = (int)((x >> 33) % N);
        if ((x >> 20) % 10 == 0) {
            active[i] = !active[i];
            sorter_set_active(s, slot[i], active[i]);
        } else {
            share[i] = (double)((x >> 40) % 1000) / 1000.0;
            sorter_update(s, slot[i], share[i], 0, 0);
        }
    }
    {
        int n = pass(s, out, N), expect = 0;
        for (int i = 0; i < N; i++)
            expect += active[i];
        CHECK_EQ_INT(n, expect);
        for (int i = 1; i < n; i++) {
            double a = share[out[i - 1]], b = share[out[i]];
            CHECK(a < b || (a == b && strcmp(names[out[i - 1]], names[out[i]]) < 0));
        }
    }
    sorter_destroy(s);
}

/* The random sorter visits every active client once per pass, with
 * frequencies of coming first proportional to the weights. */
static void
test_random_weights(void)
{
    struct sorter *s = sorter_create(&sorter_random, 7);
    int slot[3], first[3] = {0, 0, 0};
    int64_t out[8];

    slot[0] = sorter_add(s, 0, "a", 1.0);
    slot[1] = sorter_add(s, 1, "b", 2.0);
    slot[2] = sorter_add(s, 2, "c", 1.0);
    for (int i = 0; i < 3; i++)
        sorter_set_active(s, slot[i], true);
    sorter_set_weight(s, slot[2], 5.0);
    for (int round = 0; round < 8000; round++) {
        int n = pass(s, out, 8);
        bool seen[3] = {false, false, false};
        CHECK_EQ_INT(n, 3);
        for (int i = 0; i < 3; i++) {
            CHECK(!seen[out[i]]);
            seen[out[i]] = true;
        }
        first[out[0]]++;
    }
    /* Expected shares 1/8, 2/8, 5/8 of 8000: 1000, 2000, 5000. */
    CHECK(abs(first[0] - 1000) < 200);
    CHECK(abs(first[1] - 2000) < 250);
    CHECK(abs(first[2] - 5000) < 300);
    sorter_set_active(s, slot[1], false);
    CHECK_EQ_INT(pass(s, out, 8), 2);
    sorter_remove(s, slot[0]);
    CHECK_EQ_INT(pass(s, out, 8), 1);
    CHECK_EQ_INT(out[0], 2);
    /* Many clients: growth rebuilds the tree. */
    for (int i = 0; i < 100; i++)
        sorter_set_active(s, sorter_add(s, 100 + i, "x", 1.0), true);
    CHECK_EQ_INT(pass(s, out, 8), 8);
    CHECK_EQ_INT(sorter_active(s), 101);
    sorter_destroy(s);
}

TEST_LIST(TEST_ENTRY(find), TEST_ENTRY(drf_order), TEST_ENTRY(drf_random_updates),
          TEST_ENTRY(random_weights));
TEST_MAIN()
