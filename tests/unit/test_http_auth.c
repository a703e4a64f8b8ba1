#include "http.h"
#include "http_auth.h"

#include "error.h"
#include "log.h"
#include "test.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <unistd.h>

/* ---- helpers ---- */

/* "Basic " + base64(text). */
static const char *
basic(const char *text)
{
    static char buf[2048];

    memcpy(buf, "Basic ", 6);
    EVP_EncodeBlock((unsigned char *)buf + 6, (const unsigned char *)text, (int)strlen(text));
    return buf;
}

/* Writes `text` to a new temporary file; its path is in `path` (char[32]). */
static void
write_tmp(char *path, const char *text)
{
    int fd;
    FILE *f;

    strcpy(path, "/tmp/agora-hauth-XXXXXX");
    fd = mkstemp(path);
    CHECK(fd >= 0);
    f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
}

static const char *creds_json = "{\"credentials\": [{\"principal\": \"ops\", \"secret\": \"s3cret\"},"
                                " {\"principal\": \"ci\", \"secret\": \"t0ken\"}]}";

/* Loads `json` with the given flags; returns hauth_load's code. */
static int
load(const char *json, bool rw, bool ro, struct hauth **out, char *err, size_t errlen)
{
    char path[32];
    struct http_auth_flags f = {.readwrite = rw, .readonly = ro};
    int rc;

    write_tmp(path, json);
    f.credentials = path;
    rc = hauth_load(out, &f, err, errlen);
    unlink(path);
    return rc;
}

/* ---- parsing ---- */

static void
test_parse_basic(void)
{
    char p[HAUTH_FIELD_MAX], s[HAUTH_FIELD_MAX];
    enum hauth_scheme sc;

    /* base64("ops:s3cret") has one '=' of padding; "a:b" none; "ab:c" two ('YWI6Yw=='). */
    CHECK_EQ_INT(hauth_parse(basic("ops:s3cret"), &sc, p, s), 0);
    CHECK_EQ_INT(sc, HAUTH_BASIC);
    CHECK_EQ_STR(p, "ops");
    CHECK_EQ_STR(s, "s3cret");
    CHECK_EQ_INT(hauth_parse("Basic YTpi", &sc, p, s), 0);
    CHECK_EQ_STR(p, "a");
    CHECK_EQ_STR(s, "b");
    CHECK_EQ_INT(hauth_parse("basic   YWI6Yw==  ", &sc, p, s), 0); /* any case, spaces */
    CHECK_EQ_STR(p, "ab");
    CHECK_EQ_STR(s, "c");
    /* The secret may hold ':' (only the first one splits) and may be empty. */
    CHECK_EQ_INT(hauth_parse(basic("u:a:b"), &sc, p, s), 0);
    CHECK_EQ_STR(p, "u");
    CHECK_EQ_STR(s, "a:b");
    CHECK_EQ_INT(hauth_parse(basic("u:"), &sc, p, s), 0);
    CHECK_EQ_STR(s, "");
}

static void
test_parse_bearer(void)
{
    char p[HAUTH_FIELD_MAX], s[HAUTH_FIELD_MAX];
    enum hauth_scheme sc;

    CHECK_EQ_INT(hauth_parse("Bearer t0ken", &sc, p, s), 0);
    CHECK_EQ_INT(sc, HAUTH_BEARER);
    CHECK_EQ_STR(p, "");
    CHECK_EQ_STR(s, "t0ken");
    CHECK_EQ_INT(hauth_parse("bearer  abc.DEF-_~+/=  ", &sc, p, s), 0);
    CHECK_EQ_STR(s, "abc.DEF-_~+/=");
}

static void
test_parse_malformed(void)
{
    char p[HAUTH_FIELD_MAX], s[HAUTH_FIELD_MAX], big[1200];
    enum hauth_scheme sc;
    static const char *const bad[] = {
        "",
        "Basic",
        "Basic ",
        "Basic\tb3BzOnMzY3JldA==",
        "Basicb3BzOnMzY3JldA==",
        "Digest username=\"ops\"",
        "Basic b3BzOnMzY3JldA",   /* not a multiple of 4 */
        "Basic b3BzOn*zY3JldA==", /* not base64 */
        "Basic b3=zOnMzY3JldA==", /* '=' inside */
        "Basic b3BzOnMzY3JldA== x",
        "Basic b3BzczNjcmV0", /* "opss3cret": no ':' */
        "Basic OnMzY3JldA==", /* ":s3cret": empty principal */
        "Basic dQA6cw==",     /* "u\0:s": NUL */
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Bearer a\tb",
        "Bearer\x01x",
        NULL,
    };

    for (size_t i = 0; bad[i] != NULL; i++) {
        if (hauth_parse(bad[i], &sc, p, s) != -AG_EINVAL) {
            fprintf(stderr, "accepted: \"%s\"\n", bad[i]);
            CHECK(0);
        }
        CHECK_EQ_INT(sc, HAUTH_NONE);
    }
    CHECK_EQ_INT(hauth_parse(NULL, &sc, p, s), -AG_EINVAL);
    /* Too long: a 300-byte principal, a 300-byte token. */
    memset(big, 'a', 300);
    strcpy(big + 300, ":x");
    CHECK_EQ_INT(hauth_parse(basic(big), &sc, p, s), -AG_EINVAL);
    memcpy(big, "Bearer ", 7);
    memset(big + 7, 'a', 300);
    big[307] = '\0';
    CHECK_EQ_INT(hauth_parse(big, &sc, p, s), -AG_EINVAL);
    /* A header far longer than any credential. */
    memcpy(big, "Basic ", 6);
    memset(big + 6, 'A', 1100);
    big[1106] = '\0';
    CHECK_EQ_INT(hauth_parse(big, &sc, p, s), -AG_EINVAL);
}

/* ---- loading and deciding ---- */

static void
test_load(void)
{
    struct hauth *a;
    char err[512];
    struct http_auth_flags none = {0}, rw_only = {.readwrite = true};

    CHECK_EQ_INT(hauth_load(&a, &none, err, sizeof(err)), 0);
    CHECK(a == NULL);
    CHECK_EQ_INT(hauth_load(&a, &rw_only, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "--http_credentials") != NULL);
    CHECK_EQ_INT(load(creds_json, true, false, &a, err, sizeof(err)), 0);
    CHECK(a != NULL);
    hauth_free(a);

    CHECK_EQ_INT(load("{broken", true, false, &a, err, sizeof(err)), -AG_EINVAL);
    CHECK_EQ_INT(load("{\"credentials\": []}", true, false, &a, err, sizeof(err)), -AG_EINVAL);
    CHECK_EQ_INT(load("{\"credentials\": [{\"principal\": \"a:b\", \"secret\": \"x\"}]}", true,
                      false, &a, err, sizeof(err)),
                 -AG_EINVAL);
    CHECK_EQ_INT(
        load("{\"credentials\": [{\"principal\": \"a\"}]}", true, false, &a, err, sizeof(err)),
        -AG_EINVAL);
    CHECK_EQ_INT(load("{\"credentials\": [{\"principal\": \"a\", \"secret\": \"x\"}, "
                      "{\"principal\": \"a\", \"secret\": \"y\"}]}",
                      true, false, &a, err, sizeof(err)),
                 -AG_EINVAL);
    CHECK(strstr(err, "twice") != NULL);
    CHECK_EQ_INT(load("{\"credentials\": [{\"principal\": \"a\", \"secret\": \"same\"}, "
                      "{\"principal\": \"b\", \"secret\": \"same\"}]}",
                      true, false, &a, err, sizeof(err)),
                 -AG_EINVAL);
    CHECK(strstr(err, "same secret") != NULL);
    CHECK(strstr(err, "\"same\"") == NULL); /* the secret is never echoed */
    CHECK(a == NULL);
}

static void
test_check(void)
{
    struct hauth *a;
    const char *who;
    char err[512];

    CHECK_EQ_INT(hauth_check(NULL, NULL, true, &who), 0);
    CHECK(who == NULL);
    CHECK_EQ_INT(load(creds_json, true, false, &a, err, sizeof(err)), 0);
    /* Read-write required, read-only not. */
    CHECK_EQ_INT(hauth_check(a, NULL, true, &who), -AG_EPERM);
    CHECK_EQ_INT(hauth_check(a, NULL, false, &who), 0);
    CHECK(who == NULL);
    CHECK_EQ_INT(hauth_check(a, basic("ops:s3cret"), true, &who), 0);
    CHECK_EQ_STR(who, "ops");
    CHECK_EQ_INT(hauth_check(a, basic("ci:t0ken"), true, &who), 0);
    CHECK_EQ_STR(who, "ci");
    CHECK_EQ_INT(hauth_check(a, "Bearer t0ken", true, &who), 0);
    CHECK_EQ_STR(who, "ci");
    CHECK_EQ_INT(hauth_check(a, "Bearer s3cret", false, &who), 0);
    CHECK_EQ_STR(who, "ops");
    /* Wrong: another principal's secret, a prefix, an unknown principal, bad header. */
    CHECK_EQ_INT(hauth_check(a, basic("ops:t0ken"), true, &who), -AG_EPERM);
    CHECK(who == NULL);
    CHECK_EQ_INT(hauth_check(a, basic("ops:s3cre"), true, &who), -AG_EPERM);
    CHECK_EQ_INT(hauth_check(a, basic("ops:s3cretx"), true, &who), -AG_EPERM);
    CHECK_EQ_INT(hauth_check(a, basic("nobody:s3cret"), true, &who), -AG_EPERM);
    CHECK_EQ_INT(hauth_check(a, "Bearer wrong", true, &who), -AG_EPERM);
    CHECK_EQ_INT(hauth_check(a, "Basic !!!!", true, &who), -AG_EPERM);
    /* Wrong credentials are refused even where none are required. */
    CHECK_EQ_INT(hauth_check(a, basic("ops:bad"), false, &who), -AG_EPERM);
    hauth_free(a);

    CHECK_EQ_INT(load(creds_json, false, true, &a, err, sizeof(err)), 0);
    CHECK_EQ_INT(hauth_check(a, NULL, true, &who), 0);
    CHECK_EQ_INT(hauth_check(a, NULL, false, &who), -AG_EPERM);
    hauth_free(a);

    CHECK(hauth_method_readwrite("POST"));
    CHECK(hauth_method_readwrite("DELETE"));
    CHECK(hauth_method_readwrite("PATCH"));
    CHECK(hauth_method_readwrite("PUT"));
    CHECK(!hauth_method_readwrite("GET"));
    CHECK(!hauth_method_readwrite("HEAD"));
    CHECK(!hauth_method_readwrite("OPTIONS"));
}

/* ---- through a server: before routing, the principal, open paths, the client ---- */

static uv_loop_t loop;

struct call {
    uv_work_t work;
    const char *method;
    char url[256];
    int rv, status;
    char *resp;
    bool done;
};

static void
call_work(uv_work_t *w)
{
    struct call *c = (struct call *)w;

    c->rv = http_request(c->method, c->url, NULL, NULL, 0, 5000, &c->status, &c->resp, NULL);
}

static void
call_after(uv_work_t *w, int status)
{
    ((struct call *)w)->done = true;
}

/* Performs one request while the loop serves; returns the status, *resp the body. */
static int
call(const char *method, int port, const char *path, char **resp)
{
    struct call c;

    memset(&c, 0, sizeof(c));
    c.method = method;
    snprintf(c.url, sizeof(c.url), "http://127.0.0.1:%d%s", port, path);
    CHECK(uv_queue_work(&loop, &c.work, call_work, call_after) == 0);
    while (!c.done)
        uv_run(&loop, UV_RUN_ONCE);
    CHECK_EQ_INT(c.rv, 0);
    if (resp != NULL)
        *resp = c.resp;
    else
        free(c.resp);
    return c.status;
}

static int handled;

static void
too_slow(uv_timer_t *t)
{
    fprintf(stderr, "test_http_auth: timed out\n");
    abort();
}

static void
h_who(void *arg, struct http_req *req)
{
    const char *p = http_req_principal(req);

    handled++;
    http_reply_text(req, 200, "text/plain", p ? p : "-", strlen(p ? p : "-"));
}

static void
test_server(void)
{
    static const char *const open_paths[] = {"/health", NULL};
    struct http_auth_flags f = {.readwrite = true, .readonly = true};
    struct http_server *srv;
    char path[32], err[512], *resp;
    uv_timer_t wake;
    int port;

    log_set_level(AG_LOG_ERROR);
    CHECK(uv_loop_init(&loop) == 0);
    uv_timer_init(&loop, &wake);
    uv_timer_start(&wake, too_slow, 60000, 0);
    CHECK_EQ_INT(http_server_open(&srv, &loop, "127.0.0.1", 0, 0), 0);
    port = http_server_port(srv);
    write_tmp(path, creds_json);
    f.credentials = path;
    CHECK_EQ_INT(http_server_authenticate(srv, &f, open_paths, err, sizeof(err)), 0);
    unlink(path);
    CHECK_EQ_INT(http_route(srv, "GET", "/who", h_who, NULL, 0), 0);
    CHECK_EQ_INT(http_route(srv, "POST", "/who", h_who, NULL, 0), 0);
    CHECK_EQ_INT(http_route(srv, "GET", "/health", h_who, NULL, 0), 0);

    /* Anonymous: 401 on every route and on unknown paths (no 404 to probe with). */
    CHECK_EQ_INT(call("GET", port, "/who", &resp), 401);
    CHECK(strstr(resp, "authentication required") != NULL);
    free(resp);
    CHECK_EQ_INT(call("POST", port, "/who", NULL), 401);
    CHECK_EQ_INT(call("GET", port, "/nope", NULL), 401);
    CHECK_EQ_INT(call("DELETE", port, "/who", NULL), 401);
    CHECK_EQ_INT(handled, 0);
    /* The open path. */
    CHECK_EQ_INT(call("GET", port, "/health", &resp), 200);
    CHECK_EQ_STR(resp, "-");
    free(resp);
    /* The client's credentials: the handler sees the principal. */
    CHECK_EQ_INT(http_client_auth("ops", "wrong"), 0);
    CHECK_EQ_INT(call("POST", port, "/who", NULL), 401);
    CHECK_EQ_INT(handled, 1);
    CHECK_EQ_INT(http_client_auth("ops", "s3cret"), 0);
    CHECK_EQ_INT(call("POST", port, "/who", &resp), 200);
    CHECK_EQ_STR(resp, "ops");
    free(resp);
    CHECK_EQ_INT(call("GET", port, "/nope", NULL), 404);
    CHECK_EQ_INT(http_client_auth("a:b", "x"), -AG_EINVAL);
    CHECK_EQ_INT(http_client_auth(NULL, NULL), 0);
    CHECK_EQ_INT(call("GET", port, "/who", NULL), 401);

    /* Bad flags leave the server as it was. */
    f.credentials = "/nonexistent/creds.json";
    CHECK_EQ_INT(http_server_authenticate(srv, &f, NULL, err, sizeof(err)), -AG_EINVAL);
    CHECK_EQ_INT(call("GET", port, "/health", NULL), 200);

    http_server_close(srv);
    uv_close((uv_handle_t *)&wake, NULL);
    CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
    CHECK(uv_loop_close(&loop) == 0);
}

TEST_LIST(TEST_ENTRY(parse_basic), TEST_ENTRY(parse_bearer), TEST_ENTRY(parse_malformed),
          TEST_ENTRY(load), TEST_ENTRY(check), TEST_ENTRY(server));
TEST_MAIN()
