#include "tp_conn.h"

#include "error.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

#define TP_FRAME_START 4096 /* first allocation of a frame being filled */

/* A DATA frame: being filled (pending) or sent and not yet acknowledged. */
struct frame {
    struct frame *next;
    nng_msg *msg; /* header + records; the header is written when sent */
    uint32_t count;
    size_t bytes; /* payload bytes, for the queue accounting */
    uint64_t seq; /* 0 while pending */
    bool sent;    /* nng accepted a copy at least once */
};

/* ---- little-endian helpers ---- */

static void
put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void
put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t
get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void
hdr_put(uint8_t *h, uint8_t type, uint32_t count, uint64_t session, uint64_t seq, uint64_t ack)
{
    h[0] = TP_MAGIC;
    h[1] = TP_VERSION;
    h[2] = type;
    h[3] = 0;
    put32(h + 4, count);
    put64(h + 8, session);
    put64(h + 16, seq);
    put64(h + 24, ack);
}

/* ---- frames ---- */

static void
frame_free(struct frame *f)
{
    if (f != NULL) {
        nng_msg_free(f->msg);
        free(f);
    }
}

static void
frame_list_free(struct frame *f)
{
    while (f != NULL) {
        struct frame *next = f->next;

        frame_free(f);
        f = next;
    }
}

static struct frame *
frame_new(size_t reserve)
{
    struct frame *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return NULL;
    if (nng_msg_alloc(&f->msg, TP_HDR_LEN) != 0 || nng_msg_reserve(f->msg, reserve) != 0) {
        if (f->msg != NULL)
            nng_msg_free(f->msg);
        free(f);
        return NULL;
    }
    return f;
}

/* Appends one record; grows the message geometrically up to `target`. */
static int
frame_append(struct frame *f, const void *data, size_t len, size_t target)
{
    size_t need = nng_msg_len(f->msg) + TP_REC_LEN + len;
    uint8_t lenbuf[TP_REC_LEN];

    if (need > nng_msg_capacity(f->msg)) {
        size_t cap = nng_msg_capacity(f->msg) * 2;

        if (cap > target)
            cap = target;
        if (cap < need)
            cap = need;
        if (nng_msg_reserve(f->msg, cap) != 0)
            return -AG_ENOMEM;
    }
    put32(lenbuf, (uint32_t)len);
    if (nng_msg_append(f->msg, lenbuf, sizeof(lenbuf)) != 0 ||
        (len > 0 && nng_msg_append(f->msg, data, len) != 0))
        return -AG_ENOMEM;
    f->count++;
    f->bytes += len;
    return 0;
}

static void
fq_push(struct frame_queue *q, struct frame *f)
{
    f->next = NULL;
    if (q->tail != NULL)
        q->tail->next = f;
    else
        q->head = f;
    q->tail = f;
}

/* Removes and returns the oldest frame, or NULL. */
static struct frame *
fq_pop(struct frame_queue *q)
{
    struct frame *f = q->head;

    if (f != NULL) {
        q->head = f->next;
        if (q->head == NULL)
            q->tail = NULL;
        f->next = NULL;
    }
    return f;
}

/* ---- sending ---- */

/* Hands `m` to nng. Returns 0 (nng owns m), -AG_EAGAIN or another error (caller keeps m). */
static int
sock_xmit(struct tp_sock *ts, uint32_t pipe, nng_msg *m)
{
    int rv;

    if (ts->server) {
        nng_pipe p = NNG_PIPE_INITIALIZER;

        p.id = pipe;
        nng_msg_set_pipe(m, p);
    }
    rv = nng_sendmsg(ts->sock, m, NNG_FLAG_NONBLOCK);
    if (rv == NNG_EAGAIN)
        return -AG_EAGAIN;
    return ag_from_nng(rv);
}

/* nng has room again: retry the conns it refused, oldest first. */
static void
spoll_cb(uv_poll_t *h, int status, int events)
{
    struct tp_sock *ts = h->data;
    struct link todo;

    link_init(&todo);
    if (link_linked(&ts->blocked)) {
        todo.next = ts->blocked.next;
        todo.prev = ts->blocked.prev;
        todo.next->prev = &todo;
        todo.prev->next = &todo;
        link_init(&ts->blocked);
    }
    while (link_linked(&todo) && !ts->closing) {
        struct conn *c = CONTAINER(todo.next, struct conn, blocked);

        link_remove(&c->blocked);
        tp_conn_pump(c);
    }
    /* Anything left (closing) goes back so that conn_lost can unlink it. */
    while (link_linked(&todo)) {
        struct link *l = todo.next;

        link_remove(l);
        link_insert_tail(&ts->blocked, l);
    }
    if (!link_linked(&ts->blocked) && ts->spoll_on) {
        uv_poll_stop(&ts->spoll);
        ts->spoll_on = false;
    }
}

static void
conn_block(struct conn *c)
{
    struct tp_sock *ts = c->ts;

    if (!link_linked(&c->blocked))
        link_insert_tail(&ts->blocked, &c->blocked);
    if (!ts->spoll_on && !ts->closing) {
        uv_poll_start(&ts->spoll, UV_READABLE, spoll_cb);
        ts->spoll_on = true;
    }
}

/* Sends a frame of header only (plus HELLO body). Returns 0, -AG_EAGAIN or an error. */
static int
conn_send_ctl(struct conn *c, uint8_t type)
{
    struct tp_sock *ts = c->ts;
    nng_msg *m;
    uint8_t *b;
    size_t len = TP_HDR_LEN + (type == TP_HELLO ? TP_HELLO_LEN : 0);
    int rv;

    if (nng_msg_alloc(&m, len) != 0)
        return -AG_ENOMEM;
    b = nng_msg_body(m);
    hdr_put(b, type, 0, c->session, 0, c->rx_seq);
    if (type == TP_HELLO) {
        put32(b + TP_HDR_LEN, (uint32_t)ts->recv_max);
        put32(b + TP_HDR_LEN + 4, (uint32_t)ts->o.max_msg);
    }
    if ((rv = sock_xmit(ts, c->pipe, m)) != 0)
        nng_msg_free(m);
    return rv;
}

/* Sends a copy of an in-flight frame with the current ack. Returns 0, -AG_EAGAIN or an error. */
static int
conn_send_frame(struct conn *c, struct frame *f)
{
    nng_msg *copy;
    int rv;

    hdr_put(nng_msg_body(f->msg), TP_DATA, f->count, c->session, f->seq, c->rx_seq);
    if (nng_msg_dup(&copy, f->msg) != 0)
        return -AG_ENOMEM;
    if ((rv = sock_xmit(c->ts, c->pipe, copy)) != 0) {
        nng_msg_free(copy);
        return rv;
    }
    c->ack_due = false;
    if (c->deadline == 0)
        c->deadline = uv_now(c->ts->loop) + (uint64_t)c->rto;
    return 0;
}

/* Reports a send failure; EAGAIN parks the conn until nng has room again. */
static void
conn_send_failed(struct conn *c, int rv)
{
    if (rv == -AG_EAGAIN) {
        conn_block(c);
        return;
    }
    log_warn("transport: send failed, closing pipe pipe=%u err=%s", c->pipe, ag_strerror(rv));
    tp_conn_close(c, NULL);
}

/*
 * First transmission of an in-flight frame. Returns 0, or the error after
 * reporting it (the conn is then parked or closing).
 */
static int
conn_send_first(struct conn *c, struct frame *f)
{
    struct tp_sock *ts = c->ts;
    int rv;

    if ((rv = conn_send_frame(c, f)) != 0) {
        conn_send_failed(c, rv);
        return rv;
    }
    f->sent = true;
    ts->st.frames_sent++;
    ts->st.msgs_sent += f->count;
    ts->st.bytes_sent += f->bytes;
    return 0;
}

void
tp_conn_pump(struct conn *c)
{
    struct tp_sock *ts = c->ts;
    struct frame *f;
    int rv;

    if (c->state == CONN_CLOSING || ts->closing || link_linked(&c->blocked))
        return;
    if (c->hello_due) {
        if ((rv = conn_send_ctl(c, TP_HELLO)) != 0) {
            conn_send_failed(c, rv);
            return;
        }
        c->hello_due = false;
    }
    if (c->state != CONN_OPEN)
        return;
    for (f = c->fly.head; f != NULL; f = f->next) {
        if (!f->sent && conn_send_first(c, f) != 0)
            return;
    }
    while (c->nfly < ts->o.window && (f = fq_pop(&c->pend)) != NULL) {
        c->q_bytes -= f->bytes;
        c->q_msgs -= f->count;
        f->seq = ++c->tx_seq;
        fq_push(&c->fly, f);
        c->nfly++;
        if (conn_send_first(c, f) != 0)
            return;
    }
    if (c->ack_due) {
        if ((rv = conn_send_ctl(c, TP_ACK)) != 0) {
            conn_send_failed(c, rv);
            return;
        }
        c->ack_due = false;
        ts->st.acks_sent++;
    }
}

/* Sends the in-flight frames again after a timeout. */
void
tp_conn_retransmit(struct conn *c, uint64_t now)
{
    struct tp_sock *ts = c->ts;
    int rv;

    if (c->retries >= ts->o.max_retries) {
        ts->st.timeouts++;
        log_warn("transport: peer stopped acknowledging, disconnecting pipe=%u retries=%d", c->pipe,
                 c->retries);
        tp_conn_close(c, NULL);
        return;
    }
    c->retries++;
    c->rto = c->rto * 2 > ts->o.rto_max_ms ? ts->o.rto_max_ms : c->rto * 2;
    c->deadline = now + (uint64_t)c->rto;
    if (link_linked(&c->blocked))
        return; /* nng has no room anyway; the frames go out when it has */
    for (struct frame *f = c->fly.head; f != NULL; f = f->next) {
        if (!f->sent)
            break;
        if ((rv = conn_send_frame(c, f)) != 0) {
            conn_send_failed(c, rv);
            return;
        }
        ts->st.retransmits++;
    }
}

/* ---- connection states ---- */

static void
conn_free_queues(struct conn *c)
{
    frame_list_free(c->fly.head);
    frame_list_free(c->pend.head);
    c->fly.head = c->fly.tail = c->pend.head = c->pend.tail = NULL;
    c->nfly = 0;
    c->q_bytes = c->q_msgs = 0;
}

void
tp_conn_free(struct conn *c)
{
    conn_free_queues(c);
    free(c);
}

static void
conn_report_connect(struct conn *c)
{
    struct tp_sock *ts = c->ts;

    c->state = CONN_OPEN;
    c->reported = true;
    ts->nopen++;
    ts->st.connects++;
    if (ts->server) {
        if (ts->sops->on_connect != NULL)
            ts->sops->on_connect(ts->arg, c->pipe);
    } else if (ts->cops->on_connect != NULL) {
        ts->cops->on_connect(ts->arg);
    }
}

/*
 * Starts closing `c`: drops its queues and refuses sends at once, and closes
 * the nng pipe TP_CLOSE_GRACE_MS later from the tick. The delay lets frames
 * already handed to nng leave first: nng 1.5.2 leaks such a message, and can
 * later hang in nng_close, when a pair1 pipe is closed with one in flight.
 * The conn stays (state CLOSING) until the pipe-removed event frees it.
 */
void
tp_conn_close(struct conn *c, const char *why)
{
    if (c->state == CONN_CLOSING)
        return;
    if (why != NULL)
        log_info("transport: closing pipe pipe=%u reason=\"%s\"", c->pipe, why);
    if (c->state == CONN_OPEN)
        c->ts->nopen--;
    c->state = CONN_CLOSING;
    conn_free_queues(c);
    if (link_linked(&c->blocked))
        link_remove(&c->blocked);
    c->close_at = uv_now(c->ts->loop) + TP_CLOSE_GRACE_MS;
}

/* ---- receiving ---- */

bool
tp_conn_is_hello(nng_msg *m)
{
    return nng_msg_len(m) >= TP_HDR_LEN && ((const uint8_t *)nng_msg_body(m))[2] == TP_HELLO;
}

static void
conn_deliver(struct conn *c, const uint8_t *data, size_t len)
{
    struct tp_sock *ts = c->ts;

    ts->st.msgs_recv++;
    ts->st.bytes_recv += len;
    if (ts->server) {
        if (ts->sops->on_message != NULL)
            ts->sops->on_message(ts->arg, c->pipe, data, len);
    } else if (ts->cops->on_message != NULL) {
        ts->cops->on_message(ts->arg, data, len);
    }
}

static void
conn_malformed(struct conn *c, const char *what)
{
    c->ts->st.malformed++;
    log_warn("transport: malformed frame, closing pipe pipe=%u error=\"%s\"", c->pipe, what);
    tp_conn_close(c, NULL);
}

/* Checks that a DATA body holds exactly `count` records. Returns NULL or an error text. */
static const char *
data_check(const uint8_t *b, size_t len, uint32_t count)
{
    size_t pos = TP_HDR_LEN;

    if (count == 0)
        return "empty data frame";
    for (uint32_t i = 0; i < count; i++) {
        uint32_t n;

        if (len - pos < TP_REC_LEN)
            return "truncated record header";
        n = get32(b + pos);
        pos += TP_REC_LEN;
        if (n > len - pos)
            return "truncated record";
        pos += n;
    }
    return pos == len ? NULL : "trailing bytes";
}

/* Applies a cumulative ack. Returns false if it acknowledges frames never sent. */
static bool
conn_acked(struct conn *c, uint64_t ack)
{
    struct frame *f;

    if (ack > c->tx_seq)
        return false;
    if (ack <= c->tx_acked)
        return true;
    c->tx_acked = ack;
    while ((f = c->fly.head) != NULL && f->seq <= ack) {
        fq_pop(&c->fly);
        c->nfly--;
        frame_free(f);
    }
    c->retries = 0;
    c->rto = c->ts->o.rto_ms;
    c->deadline = c->fly.head != NULL ? uv_now(c->ts->loop) + (uint64_t)c->rto : 0;
    return true;
}

static void
conn_hello(struct conn *c, const uint8_t *b, size_t len, uint64_t session)
{
    uint32_t max_frame;

    if (len < TP_HDR_LEN + TP_HELLO_LEN) {
        conn_malformed(c, "short hello");
        return;
    }
    max_frame = get32(b + TP_HDR_LEN);
    if (max_frame < TP_HDR_LEN + TP_REC_LEN + 1) {
        conn_malformed(c, "hello with a tiny frame limit");
        return;
    }
    if (c->state == CONN_OPEN) {
        if (session != c->session)
            conn_malformed(c, "second hello with another session");
        return;
    }
    if (c->ts->server && session != c->session) {
        c->ts->st.stale++;
        return;
    }
    c->session = session;
    c->peer_max_frame = max_frame;
    if (!c->ts->server)
        c->hello_due = true; /* answer with our own */
    conn_report_connect(c);
    if (c->state == CONN_OPEN && !c->ts->closing)
        tp_conn_pump(c);
}

void
tp_conn_input(struct conn *c, nng_msg *m)
{
    struct tp_sock *ts = c->ts;
    const uint8_t *b = nng_msg_body(m);
    size_t len = nng_msg_len(m);
    uint8_t type;
    uint32_t count;
    uint64_t session, seq, ack;
    const char *err;

    if (c->state == CONN_CLOSING)
        return;
    if (len < TP_HDR_LEN || b[0] != TP_MAGIC) {
        conn_malformed(c, "bad header");
        return;
    }
    if (b[1] != TP_VERSION) {
        conn_malformed(c, "unsupported version");
        return;
    }
    type = b[2];
    count = get32(b + 4);
    session = get64(b + 8);
    seq = get64(b + 16);
    ack = get64(b + 24);
    if (type == TP_HELLO) {
        conn_hello(c, b, len, session);
        return;
    }
    if (type != TP_DATA && type != TP_ACK) {
        conn_malformed(c, "unknown frame type");
        return;
    }
    if (c->state != CONN_OPEN || session != c->session) {
        ts->st.stale++;
        return;
    }
    if (type == TP_ACK && (len != TP_HDR_LEN || count != 0)) {
        conn_malformed(c, "ack with a body");
        return;
    }
    if (type == TP_DATA && (err = data_check(b, len, count)) != NULL) {
        conn_malformed(c, err);
        return;
    }
    if (!conn_acked(c, ack)) {
        conn_malformed(c, "ack beyond the last frame sent");
        return;
    }
    if (type == TP_DATA) {
        c->ack_due = true;
        if (seq != c->rx_seq + 1) {
            ts->st.duplicates++; /* a retransmission, or a gap after a loss */
        } else {
            const uint8_t *p = b + TP_HDR_LEN;

            c->rx_seq = seq;
            ts->st.frames_recv++;
            for (uint32_t i = 0; i < count; i++) {
                uint32_t n = get32(p);

                conn_deliver(c, p + TP_REC_LEN, n);
                p += TP_REC_LEN + n;
                if (ts->closing || c->state != CONN_OPEN)
                    return;
            }
        }
    }
    tp_conn_pump(c);
}

int
tp_conn_send(struct conn *c, const void *data, size_t len)
{
    struct tp_sock *ts;
    struct frame *f;
    size_t target;

    if (c == NULL || c->ts->closing || c->state != CONN_OPEN)
        return -AG_ECLOSED;
    ts = c->ts;
    f = c->pend.tail;
    target = ts->o.max_frame < c->peer_max_frame ? ts->o.max_frame : c->peer_max_frame;
    if (len > ts->o.max_msg || TP_HDR_LEN + TP_REC_LEN + len > c->peer_max_frame)
        return -AG_ERANGE;
    if (c->q_bytes + len > ts->o.max_queue_bytes || c->q_msgs + 1 > ts->o.max_queue_msgs) {
        ts->st.dropped_peers++;
        log_warn("transport: outbound queue full, disconnecting peer pipe=%u queued_msgs=%zu "
                 "queued_bytes=%zu",
                 c->pipe, c->q_msgs, c->q_bytes);
        tp_conn_close(c, NULL);
        return -AG_ENOSPC;
    }
    if (f == NULL || nng_msg_len(f->msg) + TP_REC_LEN + len > target) {
        size_t want = TP_HDR_LEN + TP_REC_LEN + len;

        if ((f = frame_new(want < TP_FRAME_START ? TP_FRAME_START : want)) == NULL)
            return -AG_ENOMEM;
        if (frame_append(f, data, len, target) != 0) {
            frame_free(f);
            return -AG_ENOMEM;
        }
        fq_push(&c->pend, f);
    } else if (frame_append(f, data, len, target) != 0) {
        return -AG_ENOMEM;
    }
    c->q_bytes += len;
    c->q_msgs++;
    tp_conn_pump(c);
    return 0;
}
