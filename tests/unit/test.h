/*
 * A tiny unit-test harness. A test file defines functions `static void
 * test_NAME(void)`, lists them at the bottom with TEST_LIST(TEST_ENTRY(NAME), ...)
 * and ends with TEST_MAIN(). tests/CMakeLists.txt registers every TEST_ENTRY as
 * its own ctest case ("unit.FILE.NAME"), which runs `test_FILE NAME`.
 *
 * CHECK() failures print the file, line and expression and end the case with
 * exit status 1. Running the binary without arguments runs every case.
 */
#ifndef AGORA_TEST_H
#define AGORA_TEST_H

#include <inttypes.h>
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

#define TEST_ENTRY(name) {#name, test_##name}
#define TEST_LIST(...) static const struct test_case test_cases_[] = {__VA_ARGS__, {NULL, NULL}}

#define TEST_MAIN()                                                                    \
    int main(int argc, char **argv)                                                    \
    {                                                                                  \
        int ran = 0;                                                                   \
        for (const struct test_case *t = test_cases_; t->name; t++) {                  \
            if (argc > 1 && strcmp(argv[1], t->name) != 0)                             \
                continue;                                                              \
            fprintf(stderr, "== %s\n", t->name);                                       \
            t->fn();                                                                   \
            ran++;                                                                     \
        }                                                                              \
        if (ran == 0) {                                                                \
            fprintf(stderr, "no test case named %s\n", argc > 1 ? argv[1] : "(any)");  \
            return 2;                                                                  \
        }                                                                              \
        return 0;                                                                      \
    }

#endif
