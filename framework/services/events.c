/* The /v2/events stream. See events.h. */
#define _GNU_SOURCE
#include "events.h"

#include "app.h"
#include "clock.h"
#include "error.h"
#include "http.h"
#include "log.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

struct sub {
    struct events *ev;
    struct http_stream *st;
    char *types; /* ",a,b," or NULL for all */
    struct sub *next, *prev;
};

struct events {
    struct sub *subs;
    size_t n;
};

struct events *
events_new(void)
{
    struct events *ev = xcalloc(1, sizeof(*ev));
    return ev;
}

static void
sub_unlink(struct sub *s)
{
    struct events *ev = s->ev;

    if (s->prev)
        s->prev->next = s->next;
    else
        ev->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    ev->n--;
    free(s->types);
    free(s);
}

void
events_free(struct events *ev)
{
    if (ev == NULL)
        return;
    while (ev->subs) {
        struct http_stream *st = ev->subs->st;
        sub_unlink(ev->subs);
        http_stream_close(st);
    }
    free(ev);
}

static void
sub_closed(void *arg, struct http_stream *st)
{
    (void)st;
    sub_unlink(arg);
}

static bool
wants(const struct sub *s, const char *type)
{
    char key[128];

    if (s->types == NULL)
        return true;
    snprintf(key, sizeof(key), ",%s,", type);
    return strstr(s->types, key) != NULL;
}

static void
write_event(struct sub *s, const char *type, const char *data)
{
    char *buf;
    int len;

    if (!wants(s, type))
        return;
    len = asprintf(&buf, "event: %s\ndata: %s\n\n", type, data);
    if (len < 0)
        xalloc_die(0);
    /* On failure the stream's on_close has run (or will): nothing more to do here. */
    http_stream_write(s->st, buf, (size_t)len);
    free(buf);
}

int
events_subscribe(struct events *ev, struct http_req *req, const char *types, const char *remote)
{
    struct sub *s = calloc(1, sizeof(*s));
    json_t *att;
    char ts[APP_VERSION_LEN + 1], *data;

    if (s == NULL)
        xalloc_die(0);
    s->ev = ev;
    if (types != NULL && types[0] != '\0' && asprintf(&s->types, ",%s,", types) < 0)
        xalloc_die(0);
    http_req_add_header(req, "Cache-Control", "no-cache");
    s->st = http_reply_stream(req, 200, "text/event-stream", sub_closed, s);
    if (s->st == NULL) {
        free(s->types);
        free(s);
        return -AG_ECLOSED;
    }
    s->next = ev->subs;
    if (ev->subs)
        ev->subs->prev = s;
    ev->subs = s;
    ev->n++;
    app_format_time(clock_wall(), ts);
    att = json_pack("{s:s,s:s,s:s}", "eventType", "event_stream_attached", "timestamp", ts,
                    "remoteAddress", remote ? remote : "");
    data = json_dumps(att, JSON_COMPACT);
    json_decref(att);
    write_event(s, "event_stream_attached", data);
    free(data);
    return 0;
}

void
events_emit(struct events *ev, json_t *event)
{
    const char *type = json_string_value(json_object_get(event, "eventType"));
    char ts[APP_VERSION_LEN + 1], *data;
    struct sub *s, *next;

    if (ev == NULL || ev->subs == NULL || type == NULL) {
        json_decref(event);
        return;
    }
    if (json_object_get(event, "timestamp") == NULL) {
        app_format_time(clock_wall(), ts);
        json_object_set_new(event, "timestamp", json_string(ts));
    }
    data = json_dumps(event, JSON_COMPACT);
    if (data != NULL) {
        /* A write may close a stream (and unlink it) from inside http_stream_write. */
        for (s = ev->subs; s != NULL; s = next) {
            next = s->next;
            write_event(s, type, data);
        }
    }
    free(data);
    json_decref(event); /* `type` points into it */
}

void
events_keepalive(struct events *ev)
{
    struct sub *s, *next;

    for (s = ev->subs; s != NULL; s = next) {
        next = s->next;
        http_stream_write(s->st, ":\n\n", 3);
    }
}

size_t
events_count(const struct events *ev)
{
    return ev->n;
}
