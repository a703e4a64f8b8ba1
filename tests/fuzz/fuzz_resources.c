/*
 * libFuzzer harness for res_parse: the input bytes, as a NUL-terminated
 * string, must either be rejected with a message or parse into a collection
 * whose printed text parses back to an equal collection and prints the same.
 * Any mismatch aborts. Arithmetic on the parsed value is exercised as well
 * (contains, add, sub, flatten), since fuzzed collections reach corners
 * the unit tests do not.
 */
#include "error.h"
#include "resources.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
fail(const char *what, const char *text)
{
    fprintf(stderr, "fuzz_resources: %s for input \"%s\"\n", what, text);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct resources a, b, c;
    char err[256], *text, *s1 = NULL, *s2 = NULL;

    text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    res_init(&a);
    res_init(&b);
    res_init(&c);
    err[0] = 'x';
    if (res_parse(&a, text, err, sizeof(err)) != 0) {
        if (err[0] == '\0' || strlen(err) >= sizeof(err))
            fail("parse failed without a message", text);
        goto out;
    }
    s1 = res_to_string(&a);
    if (s1 == NULL)
        goto out;
    if (res_parse(&b, s1, err, sizeof(err)) != 0)
        fail("printed text does not parse", s1);
    if (!res_equal(&a, &b))
        fail("re-parsed collection differs", s1);
    s2 = res_to_string(&b);
    if (s2 != NULL && strcmp(s1, s2) != 0)
        fail("printing is not stable", s1);
    if (res_format(&a, NULL, 0) != strlen(s1))
        fail("res_format length", s1);

    /* arithmetic on whatever the fuzzer built */
    if (!res_contains(&a, &b) || !res_contains(&b, &a))
        fail("contains(a, a)", s1);
    if (res_copy(&c, &a) == 0 && res_add(&c, &a) == 0) {
        /* scalars double, ranges and sets stay: (a + a) - a keeps the scalars only */
        if (!res_contains(&c, &a))
            fail("a + a does not contain a", s1);
        if (res_sub(&c, &a) != 0 || !res_contains(&a, &c))
            fail("(a + a) - a is not within a", s1);
    }
    if (res_flatten(&c, &a) == 0 && res_scalar(&c, "cpus") != res_scalar(&a, "cpus"))
        fail("flatten changed the cpus total", s1);
    if (res_sub(&b, &a) != 0 || !res_empty(&b))
        fail("a - a is not empty", s1);
out:
    free(s1);
    free(s2);
    res_fini(&a);
    res_fini(&b);
    res_fini(&c);
    free(text);
    return 0;
}
