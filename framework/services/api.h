/*
 * api: the Marathon REST API (v2) of agora-services on common/http.
 *
 *   GET  /ping  /metrics  /v2/info  /v2/leader
 *   GET POST         /v2/apps
 *   GET PUT PATCH DELETE /v2/apps/{id}          (ids may be nested: /prod/web/api)
 *   POST             /v2/apps/{id}/restart
 *   GET DELETE       /v2/apps/{id}/tasks[/{taskId}]   (?scale=true, ?host=)
 *   GET              /v2/apps/{id}/versions[/{version}]
 *   GET              /v2/tasks         POST /v2/tasks/delete
 *   GET              /v2/deployments   DELETE /v2/deployments/{id} (?force=true)
 *   GET              /v2/queue         DELETE /v2/queue/{appId}/delay
 *   GET              /v2/groups[/{id}]
 *   GET              /v2/events        (text/event-stream; ?event_type=a,b)
 *
 * Changing requests validate everything before changing anything, and reply
 * only after svc_flush() committed the change. Errors are {"message": ...}
 * (plus "details" for invalid definitions: 400 for malformed JSON and wrong
 * types, 422 for invalid values; "deployments" for 409 conflicts).
 *
 * Caller: main.c, once s->http is open. Handlers run on the loop thread
 * (common/http) and call the core's queries and operations (svc.h), the views
 * (svc_render.h, svcd_json), the store's version history and the event
 * stream; nothing below calls api.c.
 */
#ifndef AGORA_SERVICES_API_H
#define AGORA_SERVICES_API_H

struct svc;

/* Turns on HTTP authentication as s->f->http_auth says (/ping stays open)
 * and registers every route (and the web UI) on s->http, with `s` as the
 * handlers' argument. Returns 0 or a negative AG_E* code (logged). */
int api_register(struct svc *s);

#endif
