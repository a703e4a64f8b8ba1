/*
 * libFuzzer harness for common/msg: decode the input; when it decodes, encode
 * it again, decode that, and require an equal message and a byte-identical
 * second encoding (the encoder is deterministic). Aborts on any mismatch.
 * Seed corpus: tests/fuzz/corpus/msg (one message per type, written by
 * `AGORA_WRITE_SEEDS=DIR test_msg seed_corpus`).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct msg a, b;
    char err[256];
    void *buf1, *buf2;
    size_t len1, len2;

    if (msg_decode(&a, data, size, err, sizeof(err)) < 0) {
        if (err[0] == '\0')
            abort(); /* every failure must say why */
        return 0;
    }
    int rc = msg_encode_alloc(&a, &buf1, &len1);
    if (rc == -AG_ERANGE) {
        /* normalized resources text may grow past MSG_MAX_STR; not a bug */
        msg_free(&a);
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "re-encode failed: %s\n", ag_strerror(rc));
        abort();
    }
    if (msg_decode(&b, buf1, len1, err, sizeof(err)) < 0) {
        fprintf(stderr, "re-decode failed: %s\n", err);
        abort();
    }
    if (!msg_equal(&a, &b)) {
        fprintf(stderr, "round trip changed a %s message\n", msg_type_name(a.type));
        abort();
    }
    if (msg_encode_alloc(&b, &buf2, &len2) < 0 || len1 != len2 || memcmp(buf1, buf2, len1) != 0)
        abort();
    msg_free(&a);
    msg_free(&b);
    free(buf1);
    free(buf2);
    return 0;
}
