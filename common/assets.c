#include "assets.h"

#include "error.h"
#include "http.h"

#include <stdint.h>
#include <string.h>

static const struct {
    const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".json", "application/json"},
};

const char *
assets_content_type(const char *path)
{
    size_t plen = strlen(path);

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        size_t elen = strlen(types[i].ext);
        if (plen >= elen && strcmp(path + plen - elen, types[i].ext) == 0)
            return types[i].type;
    }
    return "application/octet-stream";
}

static void
serve(void *arg, struct http_req *req)
{
    const struct asset *a = arg;

    http_req_add_header(req, "Cache-Control", "no-cache");
    http_reply_text(req, 200, assets_content_type(a->path), a->data, a->len);
}

int
assets_route(struct http_server *srv, const struct asset *table, size_t n)
{
    int rc;

    for (size_t i = 0; i < n; i++) {
        /* http_route borrows arg: the tables are static. */
        void *arg = (void *)(uintptr_t)&table[i];
        if ((rc = http_route(srv, "GET", table[i].path, serve, arg, 0)) != 0)
            return rc;
        if (strcmp(table[i].path, "/index.html") == 0 &&
            (rc = http_route(srv, "GET", "/", serve, arg, 0)) != 0)
            return rc;
    }
    return 0;
}
