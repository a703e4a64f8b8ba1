#include "error.h"
#include "test.h"
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A directory with tools/tls-init's files, made once per process (skips
 * without the openssl CLI). */
static const char *
certs(void)
{
    static char tmp[] = "/tmp/agora-test-tls-XXXXXX";
    static char dir[sizeof(tmp) + 2];
    char cmd[1024];

    if (dir[0] != '\0')
        return dir;
    if (system("command -v openssl >/dev/null 2>&1") != 0)
        TEST_SKIP("needs the openssl CLI (tools/deps installs it)");
    CHECK(mkdtemp(tmp) != NULL);
    snprintf(cmd, sizeof(cmd), "%s/tools/tls-init %s/c >/dev/null", AGORA_SOURCE_DIR, tmp);
    CHECK_EQ_INT(system(cmd), 0);
    snprintf(dir, sizeof(dir), "%s/c", tmp);
    return dir;
}

static char *
path(const char *name)
{
    static char buf[16][512]; /* enough for one case's paths */
    static int i;

    i = (i + 1) % 16;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", certs(), name);
    return buf[i];
}

static void
write_file(const char *p, const char *text)
{
    FILE *f = fopen(p, "w");

    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
}

static void
test_shape(void)
{
    struct tls_flags f = {0};
    char err[512];

    CHECK_EQ_INT(tls_check(NULL, true, err, sizeof(err)), 0);
    CHECK_EQ_INT(tls_check(&f, true, err, sizeof(err)), 0);
    CHECK(!tls_serving(&f));
    CHECK(!tls_client_wanted(&f));
    CHECK_EQ_INT(tls_server_check(&f, err, sizeof(err)), 0);
    f.cert = "/x/cert.pem";
    CHECK_EQ_INT(tls_check(&f, true, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "--tls_cert given without --tls_key") != NULL);
    f.cert = NULL;
    f.key = "/x/key.pem";
    CHECK_EQ_INT(tls_check(&f, false, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "--tls_key given without --tls_cert") != NULL);
    f.key = NULL;
    f.verify_peer = true;
    CHECK_EQ_INT(tls_check(&f, true, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "--tls_verify_peer needs --tls_ca") != NULL);
    f.verify_peer = false;
    f.required = true;
    CHECK(tls_client_wanted(&f));
    CHECK_EQ_INT(tls_check(&f, false, err, sizeof(err)), 0);
    CHECK_EQ_INT(tls_check(&f, true, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "--tls_required needs --tls_cert") != NULL);
    CHECK_EQ_INT(tls_server_check(&f, err, sizeof(err)), -AG_EINVAL);
}

static void
test_bad_files(void)
{
    struct tls_flags f = {0};
    nng_tls_config *cfg = (nng_tls_config *)1;
    char err[512];

    f.cert = path("missing.pem");
    f.key = path("server-key.pem");
    CHECK_EQ_INT(tls_server_config(&cfg, &f, err, sizeof(err)), -AG_EINVAL);
    CHECK(cfg == NULL);
    CHECK(strstr(err, "--tls_cert") != NULL && strstr(err, "missing.pem: cannot read: No such "
                                                            "file") != NULL);
    write_file(path("junk.pem"), "not a certificate\n");
    f.cert = path("junk.pem");
    CHECK_EQ_INT(tls_server_config(&cfg, &f, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "junk.pem: no PEM certificate") != NULL);
    f.cert = path("server.pem");
    f.key = path("server.pem"); /* a certificate where the key should be */
    CHECK_EQ_INT(tls_server_config(&cfg, &f, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "--tls_key") != NULL && strstr(err, "no PEM private key") != NULL);
    f.key = path("client-key.pem"); /* another certificate's key */
    CHECK_EQ_INT(tls_server_config(&cfg, &f, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "does the key belong to the certificate") != NULL);
    write_file(path("bad-ca.pem"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    f.key = path("server-key.pem");
    f.ca = path("bad-ca.pem");
    f.verify_peer = true;
    CHECK_EQ_INT(tls_server_config(&cfg, &f, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "--tls_ca") != NULL && strstr(err, "bad-ca.pem: not usable CA") != NULL);
    CHECK_EQ_INT(tls_client_config(&cfg, &f, "localhost", err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "bad-ca.pem") != NULL);
    f.ca = (char *)certs(); /* a directory */
    CHECK_EQ_INT(tls_client_config(&cfg, &f, "localhost", err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "not a PEM file") != NULL);
    CHECK(cfg == NULL);
}

static void
test_good(void)
{
    struct tls_flags f = {0};
    nng_tls_config *cfg;
    char err[512];

    f.cert = path("server.pem");
    f.key = path("server-key.pem");
    CHECK(tls_serving(&f));
    CHECK_EQ_INT(tls_server_config(&cfg, &f, err, sizeof(err)), 0);
    nng_tls_config_free(cfg);
    f.ca = path("ca.pem");
    f.verify_peer = true;
    CHECK_EQ_INT(tls_server_check(&f, err, sizeof(err)), 0);
    CHECK(tls_client_wanted(&f));
    CHECK_EQ_INT(tls_client_config(&cfg, &f, "127.0.0.1", err, sizeof(err)), 0);
    nng_tls_config_free(cfg);
    f.cert = f.key = NULL;
    CHECK_EQ_INT(tls_client_config(&cfg, &f, "localhost", err, sizeof(err)), 0);
    nng_tls_config_free(cfg);
    CHECK_EQ_INT(tls_client_config(&cfg, &f, "", err, sizeof(err)), -AG_EINVAL);
}

TEST_LIST(TEST_ENTRY(shape), TEST_ENTRY(bad_files), TEST_ENTRY(good));
TEST_MAIN()
