#include "auth.h"
#include "error.h"
#include "test.h"

#include <unistd.h>

static void
test_proof_verifies(void)
{
    uint8_t nonce[AUTH_NONCE_LEN], proof[AUTH_PROOF_LEN], other[AUTH_NONCE_LEN];
    CHECK_EQ_INT(auth_nonce(nonce, sizeof(nonce)), 0);
    CHECK_EQ_INT(auth_nonce(other, sizeof(other)), 0);
    CHECK(memcmp(nonce, other, sizeof(nonce)) != 0);
    CHECK_EQ_INT(auth_proof("s3cret", nonce, sizeof(nonce), proof), 0);
    CHECK(auth_verify("s3cret", nonce, sizeof(nonce), proof, sizeof(proof)));
    CHECK(!auth_verify("wrong", nonce, sizeof(nonce), proof, sizeof(proof)));
    CHECK(!auth_verify("s3cret", other, sizeof(other), proof, sizeof(proof)));
    CHECK(!auth_verify("s3cret", nonce, sizeof(nonce), proof, sizeof(proof) - 1));
}

static void
test_known_vector(void)
{
    /* RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?" */
    const char *data = "what do ya want for nothing?";
    uint8_t out[AUTH_PROOF_LEN];
    static const uint8_t want[] = {0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e,
                                   0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75, 0xc7,
                                   0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83,
                                   0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
    CHECK_EQ_INT(auth_proof("Jefe", (const uint8_t *)data, strlen(data), out), 0);
    CHECK(memcmp(out, want, sizeof(want)) == 0);
}

static void
test_read_credential(void)
{
    char path[] = "/tmp/agora-cred-XXXXXX", err[256];
    char *p, *s;
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fputs("{\"principal\": \"agent1\", \"secret\": \"pw\"}", f);
    fclose(f);
    CHECK_EQ_INT(auth_read_credential(path, &p, &s, err, sizeof(err)), 0);
    CHECK_EQ_STR(p, "agent1");
    CHECK_EQ_STR(s, "pw");
    free(p);
    free(s);
    f = fopen(path, "w");
    fputs("{\"principal\": 3}", f);
    fclose(f);
    CHECK_EQ_INT(auth_read_credential(path, &p, &s, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "principal") != NULL);
    unlink(path);
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(text, f);
    CHECK_EQ_INT(fclose(f), 0);
}

/* Mesos's text form of a credential: "principal secret" on the first line. */
static void
test_read_credential_text(void)
{
    char path[] = "/tmp/agora-cred-XXXXXX", err[256];
    char *p, *s;
    int fd = mkstemp(path);

    CHECK(fd >= 0);
    close(fd);
    write_file(path, "agent1 pw with blanks \nignored\n");
    CHECK_EQ_INT(auth_read_credential(path, &p, &s, err, sizeof(err)), 0);
    CHECK_EQ_STR(p, "agent1");
    CHECK_EQ_STR(s, "pw with blanks");
    free(p);
    free(s);
    write_file(path, "agent1\n");
    CHECK_EQ_INT(auth_read_credential(path, &p, &s, err, sizeof(err)), -AG_EINVAL);
    unlink(path);
    CHECK_EQ_INT(auth_read_credential(path, &p, &s, err, sizeof(err)), -AG_EINVAL);
}

/* --secret_file: the first line, trailing blanks cut; errors never show it. */
static void
test_read_secret(void)
{
    char path[] = "/tmp/agora-secret-XXXXXX", err[256];
    char *s;
    int fd = mkstemp(path);

    CHECK(fd >= 0);
    close(fd);
    write_file(path, "s3cret \t\r\nsecond line\n");
    CHECK_EQ_INT(auth_read_secret(path, &s, err, sizeof(err)), 0);
    CHECK_EQ_STR(s, "s3cret");
    free(s);
    write_file(path, "\nhidden\n");
    CHECK_EQ_INT(auth_read_secret(path, &s, err, sizeof(err)), -AG_EINVAL);
    CHECK(s == NULL && strstr(err, "hidden") == NULL);
    unlink(path);
    CHECK_EQ_INT(auth_read_secret(path, &s, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, path) != NULL);
}

TEST_LIST(TEST_ENTRY(proof_verifies), TEST_ENTRY(known_vector), TEST_ENTRY(read_credential),
          TEST_ENTRY(read_credential_text), TEST_ENTRY(read_secret));
TEST_MAIN()
