/*
 * http_stream: server-sent event streams, the replies of http.h that take an
 * HTTP connection over from nng (nng_http_hijack) and write to it for as long
 * as their owner wants. http.c builds the reply head and hands the connection
 * here (http_reply_stream); the owner then uses http_stream_write and
 * http_stream_close (declared in http.h).
 *
 * Threads: nng completes the stream's reads and writes on its own threads; those
 * callbacks only post to the server's evq, and everything else, including
 * every function here, runs on the loop thread.
 *
 * Ownership: a stream allocated by http_stream_alloc belongs to the caller
 * until http_stream_start (or http_stream_discard). Started, it is on the
 * server's list and is released by http_stream_close, by its end (peer gone,
 * write failed, queue overflow: on_close reports it, see http.h) or by
 * http_stream_close_all when the server closes. Its memory lives on until the
 * evq calls that point at it have run.
 */
#ifndef AGORA_HTTP_STREAM_H
#define AGORA_HTTP_STREAM_H

#include "evq.h"
#include "http.h"

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

/*
 * Allocates a stream whose I/O completions go to `evq`, with the `len` bytes
 * of `head` (status line and headers) queued as its first write. Returns NULL
 * when out of memory.
 */
struct http_stream *http_stream_alloc(struct evq *evq, const void *head, size_t len);

/* Frees a stream that was never started. Accepts NULL. */
void http_stream_discard(struct http_stream *st);

/*
 * Starts `st` on the hijacked connection `conn` (taking it over): links it at
 * the head of `*list`, sends what is queued and watches for the peer going
 * away. `on_close` and `arg` as for http_reply_stream.
 */
void http_stream_start(struct http_stream *st, nng_http_conn *conn, struct http_stream **list,
                       void (*on_close)(void *arg, struct http_stream *st), void *arg);

/* Ends every stream on `*list`: each owner hears on_close, then the stream is released. */
void http_stream_close_all(struct http_stream **list);

#endif
