#include "status_updates.h"

#include "error.h"
#include "ids.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "framework_id/task_id": unambiguous because ids never contain '/'. */
static int
stream_key(char *out, size_t len, const char *framework_id, const char *task_id)
{
    int n;

    if (!ids_valid(framework_id) || !ids_valid(task_id))
        return -AG_EINVAL;
    n = snprintf(out, len, "%s/%s", framework_id, task_id);
    return n < 0 || (size_t)n >= len ? -AG_ERANGE : 0;
}

static struct su_stream *
stream_get(const struct su *s, const char *framework_id, const char *task_id)
{
    char key[2 * AG_ID_MAX + 2];

    if (stream_key(key, sizeof(key), framework_id, task_id) != 0)
        return NULL;
    return hmap_get(&s->streams, key);
}

static void
update_free(struct su_update *u)
{
    msg_task_status_fini(&u->status);
    free(u);
}

static void
stream_free(struct su *s, struct su_stream *st)
{
    struct su_update *u, *next;

    if (st->waiting)
        s->nwaiting--;
    for (u = st->head; u != NULL; u = next) {
        next = u->next;
        update_free(u);
    }
    free(st);
}

/* Sends the head of `st` (if online) and schedules its next retry. */
static void
stream_send_head(struct su *s, struct su_stream *st, int64_t now_ms, int64_t backoff_ms)
{
    bool waiting;

    st->backoff_ms = backoff_ms;
    st->retry_at_ms = now_ms + backoff_ms;
    waiting = st->head != NULL && st->head->seq > s->durable;
    if (waiting != st->waiting) {
        st->waiting = waiting;
        if (waiting)
            s->nwaiting++;
        else
            s->nwaiting--;
    }
    if (!s->online || st->head == NULL || waiting)
        return;
    st->sends++;
    s->sent++;
    if (s->ops->send(s->arg, &st->head->status) != 0)
        log_debug("status update not sent, will retry task_id=%s uuid=%s", st->task_id,
                  st->head->status.uuid);
}

void
su_init(struct su *s, int64_t initial_ms, int64_t max_ms, const struct su_ops *ops, void *arg)
{
    memset(s, 0, sizeof(*s));
    hmap_init(&s->streams);
    s->initial_ms = initial_ms > 0 ? initial_ms : 1;
    s->max_ms = max_ms >= s->initial_ms ? max_ms : s->initial_ms;
    s->ops = ops;
    s->arg = arg;
}

void
su_clear(struct su *s)
{
    const char *key;
    void *val;

    for (size_t it = 0; hmap_next(&s->streams, &it, &key, &val);) {
        hmap_del(&s->streams, key);
        stream_free(s, val);
    }
}

void
su_fini(struct su *s)
{
    if (s == NULL)
        return;
    su_clear(s);
    hmap_fini(&s->streams);
}

int
su_add(struct su *s, const struct msg_task_status *status, int64_t now_ms)
{
    return su_add_after(s, status, 0, now_ms);
}

int
su_add_after(struct su *s, const struct msg_task_status *status, uint64_t seq, int64_t now_ms)
{
    char key[2 * AG_ID_MAX + 2];
    struct su_stream *st;
    struct su_update *u;
    bool created = false;

    if (stream_key(key, sizeof(key), status->framework_id, status->task_id) != 0 ||
        status->uuid == NULL || status->uuid[0] == '\0')
        return -AG_EINVAL;
    if ((u = calloc(1, sizeof(*u))) == NULL)
        return -AG_ENOMEM;
    u->seq = seq;
    msg_task_status_init(&u->status);
    if (msg_task_status_copy(&u->status, status) != 0) {
        free(u);
        return -AG_ENOMEM;
    }
    if ((st = hmap_get(&s->streams, key)) == NULL) {
        if ((st = calloc(1, sizeof(*st))) == NULL || hmap_put(&s->streams, key, st) != 0) {
            free(st);
            update_free(u);
            return -AG_ENOMEM;
        }
        snprintf(st->framework_id, sizeof(st->framework_id), "%s", status->framework_id);
        snprintf(st->task_id, sizeof(st->task_id), "%s", status->task_id);
        created = true;
    }
    if (st->tail != NULL)
        st->tail->next = u;
    else
        st->head = u;
    st->tail = u;
    st->n++;
    if (created || st->head == u) {
        st->sends = 0;
        stream_send_head(s, st, now_ms, s->initial_ms);
    }
    return 0;
}

int
su_ack(struct su *s, const char *framework_id, const char *task_id, const char *uuid,
       int64_t now_ms)
{
    char key[2 * AG_ID_MAX + 2];
    struct su_stream *st;
    struct su_update *u;

    if (stream_key(key, sizeof(key), framework_id, task_id) != 0)
        return -AG_ENOENT;
    st = hmap_get(&s->streams, key);
    if (st == NULL || st->head == NULL || uuid == NULL || strcmp(st->head->status.uuid, uuid) != 0)
        return -AG_ENOENT;
    u = st->head;
    st->head = u->next;
    if (st->head == NULL)
        st->tail = NULL;
    st->n--;
    update_free(u);
    s->acked++;
    if (st->head == NULL) {
        hmap_del(&s->streams, key);
        stream_free(s, st);
        return 0;
    }
    st->sends = 0;
    stream_send_head(s, st, now_ms, s->initial_ms);
    return 0;
}

void
su_set_online(struct su *s, bool online, int64_t now_ms)
{
    const char *key;
    void *val;

    s->online = online;
    if (!online)
        return;
    for (size_t it = 0; hmap_next(&s->streams, &it, &key, &val);)
        stream_send_head(s, val, now_ms, s->initial_ms);
}

void
su_tick(struct su *s, int64_t now_ms)
{
    const char *key;
    void *val;

    if (!s->online)
        return;
    for (size_t it = 0; hmap_next(&s->streams, &it, &key, &val);) {
        struct su_stream *st = val;
        int64_t next;

        if (st->waiting || now_ms < st->retry_at_ms)
            continue;
        next = st->backoff_ms * 2;
        if (next > s->max_ms)
            next = s->max_ms;
        s->retries++;
        stream_send_head(s, st, now_ms, next);
    }
}

void
su_set_durable(struct su *s, uint64_t seq, int64_t now_ms)
{
    const char *key;
    void *val;

    if (seq <= s->durable)
        return;
    s->durable = seq;
    for (size_t it = 0; s->nwaiting > 0 && hmap_next(&s->streams, &it, &key, &val);) {
        struct su_stream *st = val;
        if (st->waiting && st->head->seq <= seq) {
            st->sends = 0;
            stream_send_head(s, st, now_ms, s->initial_ms);
        }
    }
}

size_t
su_pending(const struct su *s, const char *framework_id, const char *task_id)
{
    const struct su_stream *st = stream_get(s, framework_id, task_id);
    return st ? st->n : 0;
}

const struct msg_task_status *
su_head(const struct su *s, const char *framework_id, const char *task_id)
{
    const struct su_stream *st = stream_get(s, framework_id, task_id);
    return st && st->head ? &st->head->status : NULL;
}

void
su_drop(struct su *s, const char *framework_id, const char *task_id)
{
    char key[2 * AG_ID_MAX + 2];
    struct su_stream *st;

    if (stream_key(key, sizeof(key), framework_id, task_id) != 0)
        return;
    if ((st = hmap_del(&s->streams, key)) != NULL)
        stream_free(s, st);
}

size_t
su_total(const struct su *s)
{
    const char *key;
    void *val;
    size_t n = 0;

    for (size_t it = 0; hmap_next(&s->streams, &it, &key, &val);)
        n += ((const struct su_stream *)val)->n;
    return n;
}
