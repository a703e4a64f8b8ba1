/*
 * assets: static files (a web UI) compiled into a daemon and served over HTTP.
 *
 * The tables are generated at build time by cmake/Embed.cmake from the UI's
 * source files (agora_embed_assets), so a daemon serves its UI with no files
 * of its own at run time and no front-end build step.
 *
 * Serving: every asset is a GET route at its path; "/index.html" is also
 * served at "/". The content type comes from the file name's extension;
 * replies say "Cache-Control: no-cache" so a browser picks up a new version
 * of the daemon at once (the files are small).
 */
#ifndef AGORA_ASSETS_H
#define AGORA_ASSETS_H

#include <stddef.h>

struct http_server;

struct asset {
    const char *path; /* "/index.html", "/static/agora.js", ... */
    const unsigned char *data;
    size_t len;
};

/* The Content-Type for a path by its extension ("application/octet-stream" if unknown). */
const char *assets_content_type(const char *path);

/*
 * Adds a GET route per asset of `table` (n entries) to `srv`. Returns 0 or
 * the negative code of the first http_route failure (e.g. -AG_EEXIST when a
 * path is already routed).
 */
int assets_route(struct http_server *srv, const struct asset *table, size_t n);

#endif
