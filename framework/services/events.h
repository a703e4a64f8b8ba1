/*
 * events: Marathon's event stream (/v2/events, server-sent events).
 *
 * Each event is a JSON object with "eventType" and "timestamp"; it is
 * rendered once and written to every subscriber whose filter accepts it, as
 *
 *   event: <eventType>\n
 *   data: <JSON>\n\n
 *
 * Subscribers are HTTP streams (common/http); a subscriber that cannot keep
 * up is dropped by the stream's queue limit. Loop thread only.
 */
#ifndef AGORA_SERVICES_EVENTS_H
#define AGORA_SERVICES_EVENTS_H

#include <jansson.h>
#include <stddef.h>

struct http_req;
struct events;

struct events *events_new(void);
/* Closes every stream. Accepts NULL. */
void events_free(struct events *ev);

/*
 * Takes `req` over as an event stream. `types` (may be NULL or "") is a
 * comma-separated list of event types to send; empty means all. Sends
 * event_stream_attached first. Returns 0 or -AG_ENOMEM (req answered).
 */
int events_subscribe(struct events *ev, struct http_req *req, const char *types,
                     const char *remote);

/* Sends `event` (stolen) to every subscriber. Adds "timestamp" when absent. */
void events_emit(struct events *ev, json_t *event);

/* Writes an SSE comment to every subscriber (keeps proxies from timing out). */
void events_keepalive(struct events *ev);

/* Number of subscribers. */
size_t events_count(const struct events *ev);

#endif
