#include "test.h"

#include "sha256.h"

/* FIPS 180-4 example messages, and one of several blocks fed in pieces. */
static void
test_vectors(void)
{
    char hex[65];
    struct sha256 s;
    char million[1001];

    sha256_hex("", 0, hex);
    CHECK_EQ_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256_hex("abc", 3, hex);
    CHECK_EQ_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
    CHECK_EQ_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    memset(million, 'a', sizeof(million));
    sha256_init(&s);
    for (int i = 0; i < 1000; i++)
        sha256_update(&s, million, i % 2 ? 999 : 1001); /* uneven pieces: 1,000,000 in all */
    sha256_final(&s, hex);
    CHECK_EQ_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_LIST(TEST_ENTRY(vectors));
TEST_MAIN()
