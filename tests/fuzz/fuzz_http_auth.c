/*
 * libFuzzer harness for the Authorization header parser (hauth_parse) and
 * the decision built on it (hauth_check): the input bytes, as a
 * NUL-terminated header value, must be rejected or parse into NUL-terminated
 * fields within HAUTH_FIELD_MAX; Basic credentials that parse must decide the
 * same as re-encoding them, and nothing but the right secret may
 * authenticate. Any mismatch aborts.
 */
#include "error.h"
#include "http_auth.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
fail(const char *what, const char *text)
{
    fprintf(stderr, "fuzz_http_auth: %s for input \"%s\"\n", what, text);
    abort();
}

/* Credentials {"ops": "s3cret"}, both flags on; loaded once. */
static struct hauth *
the_auth(void)
{
    static struct hauth *a;
    char path[] = "/tmp/fuzz-hauth-XXXXXX", err[256];
    struct http_auth_flags f = {.credentials = path, .readwrite = true, .readonly = true};
    int fd;

    if (a != NULL)
        return a;
    if ((fd = mkstemp(path)) < 0)
        abort();
    if (dprintf(fd, "{\"credentials\": [{\"principal\": \"ops\", \"secret\": \"s3cret\"}]}") < 0)
        abort();
    close(fd);
    if (hauth_load(&a, &f, err, sizeof(err)) != 0 || a == NULL)
        fail(err, path);
    unlink(path);
    return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char p[HAUTH_FIELD_MAX], s[HAUTH_FIELD_MAX], *text, *again;
    enum hauth_scheme sc;
    const char *who;
    int rc, ok;

    text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    rc = hauth_parse(text, &sc, p, s);
    ok = hauth_check(the_auth(), text, true, &who);
    if (rc != 0) {
        if (rc != -AG_EINVAL || sc != HAUTH_NONE)
            fail("a rejection without -AG_EINVAL and HAUTH_NONE", text);
        if (ok != -AG_EPERM)
            fail("an unparsable header authenticated", text);
        free(text);
        return 0;
    }
    if (memchr(p, '\0', sizeof(p)) == NULL || memchr(s, '\0', sizeof(s)) == NULL)
        fail("an unterminated field", text);
    if ((ok == 0) != (strcmp(s, "s3cret") == 0 && (sc == HAUTH_BEARER || strcmp(p, "ops") == 0)))
        fail("a decision that does not follow the credentials", text);
    if (ok == 0 && (who == NULL || strcmp(who, "ops") != 0))
        fail("the wrong principal", text);
    if (sc == HAUTH_BASIC) {
        /* Re-encoded, the pair parses to the same fields. */
        char pair[2 * HAUTH_FIELD_MAX + 1], p2[HAUTH_FIELD_MAX], s2[HAUTH_FIELD_MAX];
        int n = snprintf(pair, sizeof(pair), "%s:%s", p, s);

        if ((again = malloc(6 + (size_t)(n + 2) / 3 * 4 + 1)) == NULL)
            abort();
        memcpy(again, "Basic ", 6);
        EVP_EncodeBlock((unsigned char *)again + 6, (const unsigned char *)pair, n);
        if (hauth_parse(again, &sc, p2, s2) != 0 || sc != HAUTH_BASIC || strcmp(p, p2) != 0 ||
            strcmp(s, s2) != 0)
            fail("a Basic pair that does not survive re-encoding", text);
        free(again);
    }
    free(text);
    return 0;
}
