/*
 * A tiny unit-test harness. A test file defines functions `static void
 * test_NAME(void)`, lists them at the bottom with TEST_LIST(TEST_ENTRY(NAME), ...)
 * and ends with TEST_MAIN(). tests/CMakeLists.txt registers every TEST_ENTRY as
 * its own ctest case ("unit.FILE.NAME"), which runs `test_FILE NAME`.
 *
 * CHECK() failures print the file, line and expression and end the case with
 * exit status 1. TEST_SKIP("needs root (cgroups)") ends the case as skipped:
 * it prints "SKIP: " and the reason, and exits with status 77, which ctest
 * reports as skipped (SKIP_RETURN_CODE). Skip only when a prerequisite of the
 * test is missing, and name it in the reason; a failure of the code under test
 * is a CHECK failure, never a skip. Running the binary without arguments runs
 * every case (a skipped one is reported and the others go on) and exits 0
 * when none failed.
 */
#ifndef AGORA_TEST_H
#define AGORA_TEST_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct test_case {
    const char *name;
    void (*fn)(void);
};

#define CHECK(expr)                                                                    \
    do {                                                                               \
        if (!(expr)) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr);   \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                             \
    do {                                                                               \
        long long _a = (long long)(a), _b = (long long)(b);                            \
        if (_a != _b) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", __FILE__, \
                    __LINE__, #a, #b, _a, _b);                                         \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                             \
    do {                                                                               \
        const char *_a = (a), *_b = (b);                                               \
        if (_a == NULL || _b == NULL || strcmp(_a, _b) != 0) {                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n",      \
                    __FILE__, __LINE__, #a, #b, _a ? _a : "(null)", _b ? _b : "(null)"); \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

#define TEST_SKIP_STATUS 77

/* Set while TEST_MAIN runs every case in one process: a skip jumps back. */
static jmp_buf test_skip_jmp_;
static int test_skip_all_;

#define TEST_SKIP(...)                                                                 \
    do {                                                                               \
        fprintf(stderr, "SKIP: ");                                                     \
        fprintf(stderr, __VA_ARGS__);                                                  \
        fputc('\n', stderr);                                                           \
        if (test_skip_all_)                                                            \
            longjmp(test_skip_jmp_, 1);                                                \
        exit(TEST_SKIP_STATUS);                                                        \
    } while (0)

#define TEST_ENTRY(name) {#name, test_##name}
#define TEST_LIST(...) static const struct test_case test_cases_[] = {__VA_ARGS__, {NULL, NULL}}

#define TEST_MAIN()                                                                    \
    int main(int argc, char **argv)                                                    \
    {                                                                                  \
        volatile int ran = 0;                                                          \
        volatile int skipped = 0;                                                      \
        test_skip_all_ = argc <= 1;                                                    \
        for (const struct test_case *volatile t = test_cases_; t->name; t++) {         \
            if (argc > 1 && strcmp(argv[1], t->name) != 0)                             \
                continue;                                                              \
            fprintf(stderr, "== %s\n", t->name);                                       \
            ran++;                                                                     \
            if (setjmp(test_skip_jmp_) != 0) {                                         \
                skipped++;                                                             \
                continue;                                                              \
            }                                                                          \
            t->fn();                                                                   \
        }                                                                              \
        if (ran == 0) {                                                                \
            fprintf(stderr, "no test case named %s\n", argc > 1 ? argv[1] : "(any)");  \
            return 2;                                                                  \
        }                                                                              \
        if (skipped > 0)                                                               \
            fprintf(stderr, "%d of %d cases skipped\n", (int)skipped, (int)ran);       \
        return 0;                                                                      \
    }

#endif
