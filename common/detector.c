#define _GNU_SOURCE /* strcasestr */
#include "detector.h"

#include "error.h"
#include "http_client.h"
#include "log.h"
#include "zk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
detector_resolve(const char *spec, struct detector_master *out, char *err, size_t errlen)
{
    const char *p = spec, *colon;
    size_t hlen;
    char *end;
    long port = DETECTOR_DEFAULT_PORT;

    memset(out, 0, sizeof(*out));
    if (spec == NULL || *spec == '\0') {
        snprintf(err, errlen, "no master given: use --master=HOST:PORT (e.g. 127.0.0.1:5050)");
        return -AG_EINVAL;
    }
    if (strncmp(p, "zk://", 5) == 0) {
        snprintf(err, errlen, "zk:// masters are followed, not resolved (detector_open)");
        return -AG_EINVAL;
    }
    if (strncmp(p, "http://", 7) == 0) {
        p += 7;
    } else if (strncmp(p, "https://", 8) == 0) {
        p += 8;
        out->tls = 1;
    }
    if (*p == '[') {
        const char *close = strchr(p, ']');
        if (close == NULL) {
            snprintf(err, errlen, "bad master address '%s': missing ']'", spec);
            return -AG_EINVAL;
        }
        hlen = (size_t)(close - p + 1);
        colon = close[1] == ':' ? close + 1 : NULL;
        if (close[1] != '\0' && colon == NULL) {
            snprintf(err, errlen, "bad master address '%s'", spec);
            return -AG_EINVAL;
        }
    } else {
        colon = strrchr(p, ':');
        hlen = colon ? (size_t)(colon - p) : strlen(p);
    }
    if (hlen == 0 || hlen >= sizeof(out->host)) {
        snprintf(err, errlen, "bad master address '%s': expected HOST:PORT", spec);
        return -AG_EINVAL;
    }
    if (colon) {
        port = strtol(colon + 1, &end, 10);
        if (colon[1] == '\0' || *end != '\0' || port <= 0 || port > 65535) {
            snprintf(err, errlen, "bad port in master address '%s': expected 1-65535", spec);
            return -AG_EINVAL;
        }
    }
    memcpy(out->host, p, hlen);
    out->host[hlen] = '\0';
    if (strpbrk(out->host, "/ ?#") != NULL) {
        snprintf(err, errlen, "bad host in master address '%s'", spec);
        return -AG_EINVAL;
    }
    out->port = (int)port;
    detector_set_tls(out, out->tls);
    return 0;
}

void
detector_set_tls(struct detector_master *m, int tls)
{
    m->tls = tls != 0;
    snprintf(m->stream_url, sizeof(m->stream_url), "%s://%s:%d%s", m->tls ? "wss" : "ws", m->host,
             m->port, DETECTOR_STREAM_PATH);
    snprintf(m->http_url, sizeof(m->http_url), "%s://%s:%d", m->tls ? "https" : "http", m->host,
             m->port);
}

bool
detector_is_zk(const char *spec)
{
    return spec != NULL && strncmp(spec, "zk://", 5) == 0;
}

bool
detector_follows(const char *spec)
{
    return detector_is_zk(spec) || (spec != NULL && strchr(spec, ',') != NULL);
}

/* How long a follower's ZooKeeper session lasts without contact (Mesos's
 * default); a follower holds no znode, so this only bounds how long a
 * silent ensemble goes unnoticed. */
#define DETECTOR_ZK_SESSION_MS 10000

/* A list of masters is asked (on the loop's thread pool) which one leads:
 * every second while the follower has no link up. */
#define DETECTOR_LIST_MAX 16
#define DETECTOR_LIST_POLL_MS 1000

struct detector {
    uv_timer_t once; /* a fixed master: reported from the loop; a list: the poll */
    struct zk *zk;
    struct zk_url url;
    struct detector_master fixed;
    bool tls;
    detector_fn fn;
    void *arg;
    /* a list of masters */
    struct detector_master list[DETECTOR_LIST_MAX];
    size_t nlist;
    uv_work_t work;
    bool working, up, closing, timer_closed;
    char found[300];   /* the worker's answer: "HOST:PORT" of the leader, or "" */
    char current[320]; /* the stream URL reported last */
};

static void
on_leader(void *arg, const struct zk_leader *leader, bool self)
{
    struct detector *d = arg;
    struct detector_master m;
    char addr[300], err[256];

    (void)self;
    if (leader == NULL) {
        log_warn("no leading master in %s", d->url.path);
        d->fn(d->arg, NULL, 0);
        return;
    }
    if (zk_leader_address(leader, addr, sizeof(addr)) != 0 ||
        detector_resolve(addr, &m, err, sizeof(err)) != 0) {
        log_error("unreadable leader info in %s/%s", d->url.path, leader->node);
        return;
    }
    if (d->tls)
        detector_set_tls(&m, 1);
    log_info("leading master is %s (epoch %llu)", addr, (unsigned long long)leader->epoch);
    d->fn(d->arg, &m, leader->epoch);
}

static void
on_once(uv_timer_t *t)
{
    struct detector *d = t->data;

    d->fn(d->arg, &d->fixed, 0);
}

/* The thread pool: asks each master in turn where /master/redirect points. */
static void
list_work(uv_work_t *w)
{
    struct detector *d = w->data;

    d->found[0] = '\0';
    for (size_t i = 0; i < d->nlist && d->found[0] == '\0'; i++) {
        char url[400];
        struct http_exchange x = {
            .method = "GET", .url = url, .timeout_ms = 1000, .want_headers = true};
        const char *loc, *host;

        snprintf(url, sizeof(url), "%s/master/redirect", d->list[i].http_url);
        if (http_exchange(&x) != 0)
            continue;
        if (x.status == 307 && x.resp_headers != NULL &&
            ((loc = strcasestr(x.resp_headers, "\nLocation:")) != NULL)) {
            loc += strlen("\nLocation:");
            loc += strspn(loc, " ");
            host = strstr(loc, "://");
            host = host ? host + 3 : loc;
            snprintf(d->found, sizeof(d->found), "%.*s", (int)strcspn(host, "/\r\n"), host);
        }
        free(x.resp);
        free(x.resp_headers);
    }
}

static void list_poll(uv_timer_t *t);

static void
list_done(uv_work_t *w, int status)
{
    struct detector *d = w->data;
    struct detector_master m;
    char err[256];

    d->working = false;
    if (d->closing) {
        if (d->timer_closed)
            free(d);
        return;
    }
    if (status != 0 || d->found[0] == '\0' || detector_resolve(d->found, &m, err, sizeof(err)) != 0)
        return; /* none answered: the next poll asks again */
    if (d->tls)
        detector_set_tls(&m, 1);
    if (strcmp(m.stream_url, d->current) == 0)
        return;
    snprintf(d->current, sizeof(d->current), "%s", m.stream_url);
    log_info("leading master is %s", d->found);
    d->fn(d->arg, &m, 0);
}

static void
list_poll(uv_timer_t *t)
{
    struct detector *d = t->data;

    if (d->working || d->up)
        return;
    d->working = true;
    d->work.data = d;
    if (uv_queue_work(t->loop, &d->work, list_work, list_done) != 0)
        d->working = false;
}

/* A list "HOST:PORT,HOST:PORT,...": each resolved into d->list. */
static int
list_parse(struct detector *d, const char *spec, char *err, size_t errlen)
{
    char one[300];
    int rc;

    for (const char *p = spec; *p != '\0';) {
        size_t n = strcspn(p, ",");

        if (d->nlist == DETECTOR_LIST_MAX) {
            snprintf(err, errlen, "too many masters in '%s' (at most %d)", spec, DETECTOR_LIST_MAX);
            return -AG_EINVAL;
        }
        snprintf(one, sizeof(one), "%.*s", (int)n, p);
        if ((rc = detector_resolve(one, &d->list[d->nlist], err, errlen)) != 0)
            return rc;
        if (d->tls)
            detector_set_tls(&d->list[d->nlist], 1);
        d->nlist++;
        p += n + (p[n] == ',');
    }
    return 0;
}

static int
list_open(struct detector *d, uv_loop_t *loop, const char *spec, char *err, size_t errlen)
{
    int rc;

    if ((rc = list_parse(d, spec, err, errlen)) != 0)
        return rc;
    uv_timer_init(loop, &d->once);
    d->once.data = d;
    uv_timer_start(&d->once, list_poll, 0, DETECTOR_LIST_POLL_MS);
    return 0;
}

void
detector_connected(struct detector *d, bool up)
{
    if (d != NULL && d->nlist > 0)
        d->up = up;
}

int
detector_open(struct detector **out, uv_loop_t *loop, const char *spec, bool tls, detector_fn fn,
              void *arg, char *err, size_t errlen)
{
    struct detector *d;
    int rc;

    *out = NULL;
    if (errlen > 0)
        err[0] = '\0';
    if ((d = calloc(1, sizeof(*d))) == NULL)
        return -AG_ENOMEM;
    d->tls = tls;
    d->fn = fn;
    d->arg = arg;
    if (!detector_is_zk(spec) && strchr(spec, ',') != NULL) {
        if ((rc = list_open(d, loop, spec, err, errlen)) != 0) {
            free(d);
            return rc;
        }
        *out = d;
        return 0;
    }
    if (!detector_is_zk(spec)) {
        if ((rc = detector_resolve(spec, &d->fixed, err, errlen)) != 0) {
            free(d);
            return rc;
        }
        if (tls && !d->fixed.tls)
            detector_set_tls(&d->fixed, 1);
        uv_timer_init(loop, &d->once);
        d->once.data = d;
        uv_timer_start(&d->once, on_once, 0, 0);
        *out = d;
        return 0;
    }
    if ((rc = zk_parse_url(spec, &d->url, err, errlen)) != 0 ||
        (rc = zk_open(&d->zk, loop, d->url.hosts, DETECTOR_ZK_SESSION_MS, NULL, NULL)) != 0 ||
        (rc = zk_group(d->zk, d->url.path, NULL, 0, on_leader, d)) != 0) {
        if (rc != -AG_EINVAL || err[0] == '\0')
            snprintf(err, errlen, "cannot follow the masters of %s: %s", spec, ag_strerror(rc));
        zk_close(d->zk);
        free(d);
        return rc;
    }
    *out = d;
    return 0;
}

static void
on_once_closed(uv_handle_t *h)
{
    struct detector *d = h->data;

    d->timer_closed = true;
    if (!d->working)
        free(d); /* else list_done frees it */
}

void
detector_close(struct detector *d)
{
    if (d == NULL)
        return;
    if (d->zk != NULL) {
        zk_close(d->zk);
        free(d);
        return;
    }
    d->closing = true;
    uv_close((uv_handle_t *)&d->once, on_once_closed);
}

int
detector_lookup(const char *spec, int64_t timeout_ms, struct detector_master *out, char *err,
                size_t errlen)
{
    struct zk_leader l;
    char addr[300];
    int rc;

    if (!detector_follows(spec))
        return detector_resolve(spec, out, err, errlen);
    if (!detector_is_zk(spec)) { /* a list: asked in turn, here */
        struct detector *d = calloc(1, sizeof(*d));

        if (d == NULL)
            return -AG_ENOMEM;
        if ((rc = list_parse(d, spec, err, errlen)) == 0) {
            d->work.data = d;
            list_work(&d->work);
            if (d->found[0] == '\0') {
                snprintf(err, errlen, "none of the masters %s names a leader", spec);
                rc = -AG_ENOENT;
            } else {
                rc = detector_resolve(d->found, out, err, errlen);
            }
        }
        free(d);
        return rc;
    }
    if ((rc = zk_leader_once(spec, timeout_ms, &l, err, errlen)) != 0)
        return rc;
    rc = zk_leader_address(&l, addr, sizeof(addr));
    if (rc != 0)
        snprintf(err, errlen, "unreadable leader info in %s", l.node);
    else
        rc = detector_resolve(addr, out, err, errlen);
    free(l.data);
    return rc;
}
