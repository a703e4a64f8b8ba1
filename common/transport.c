#include "transport.h"

#include "error.h"
#include "evq.h"
#include "log.h"

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/supplemental/util/platform.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define TP_MAGIC 0xA6
#define TP_VERSION 1
#define TP_HDR_LEN 32
#define TP_REC_LEN 4
#define TP_HELLO_LEN 8
#define TP_RECV_BURST 64      /* frames read per poll callback, for fairness */
#define TP_FRAME_START 4096   /* first allocation of a frame being filled */
#define TP_RECV_SLACK 64      /* room for pair1's own header in RECVMAXSZ */
#define TP_CLOSE_GRACE_MS 100 /* delay between dropping a conn and closing its pipe */

enum tp_type { TP_HELLO = 1, TP_DATA = 2, TP_ACK = 3 };

enum conn_state { CONN_HANDSHAKE, CONN_OPEN, CONN_CLOSING };

/* An intrusive circular doubly-linked list. */
struct link {
    struct link *prev, *next;
};

#define CONTAINER(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static void
link_init(struct link *l)
{
    l->prev = l->next = l;
}

static bool
link_linked(const struct link *l)
{
    return l->next != l;
}

static void
link_insert_tail(struct link *head, struct link *l)
{
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}

static void
link_remove(struct link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    link_init(l);
}

/* A DATA frame: being filled (pending) or sent and not yet acknowledged. */
struct frame {
    struct frame *next;
    nng_msg *msg; /* header + records; the header is written when sent */
    uint32_t count;
    size_t bytes; /* payload bytes, for the queue accounting */
    uint64_t seq; /* 0 while pending */
    bool sent;    /* nng accepted a copy at least once */
};

struct tp_sock;

struct conn {
    struct tp_sock *ts;
    uint32_t pipe;
    enum conn_state state;
    bool reported;  /* on_connect was called */
    bool hello_due; /* our HELLO still has to be sent */
    bool ack_due;   /* the peer is owed an ack for rx_seq */
    uint64_t session;
    size_t peer_max_frame;
    uint64_t tx_seq;   /* last seq given to a frame */
    uint64_t tx_acked; /* highest seq the peer acknowledged */
    struct frame *fly_head, *fly_tail;
    int nfly;
    struct frame *pend_head, *pend_tail;
    size_t q_bytes, q_msgs; /* pending payloads */
    uint64_t deadline;      /* loop time (ms) for a retransmission, 0 = none */
    int rto;
    int retries;
    uint64_t rx_seq;   /* highest DATA seq received in order */
    uint64_t born;     /* loop time of creation, for the handshake timeout */
    uint64_t close_at; /* CLOSING: loop time to close the nng pipe, 0 once done */
    struct link all;
    struct link blocked; /* on ts->blocked while nng refused a send */
};

/* Open-addressing map from pipe id to conn (linear probing, backward-shift delete). */
struct ctab {
    struct conn **slots;
    size_t cap; /* 0 or a power of two */
    size_t n;
};

struct tp_sock {
    bool server;
    bool closing;
    uv_loop_t *loop;
    nng_socket sock;
    struct tp_options o;
    size_t recv_max; /* our NNG_OPT_RECVMAXSZ, announced in HELLO */
    struct tp_stats st;
    struct evq evq;
    uv_poll_t rpoll;
    uv_poll_t spoll;
    bool spoll_on;
    uv_timer_t tick;
    int handles; /* handles still to be closed before the free */
    uint32_t salt;
    int port;
    struct ctab tab; /* server: every conn */
    struct conn *cc; /* client: the current conn, or NULL */
    struct link all; /* every conn */
    struct link blocked;
    size_t nopen;
    const struct tp_server_ops *sops;
    const struct tp_client_ops *cops;
    void *arg;
};

struct tp_server {
    struct tp_sock ts;
};

struct tp_client {
    struct tp_sock ts;
};

struct pipe_ev {
    struct tp_sock *ts;
    uint32_t pipe;
    bool add;
};

static void conn_pump(struct conn *c);
static void conn_close(struct conn *c, const char *why);
static void spoll_cb(uv_poll_t *h, int status, int events);

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

/* ---- pipe table ---- */

static size_t
ctab_slot(uint32_t pipe, size_t cap)
{
    return (size_t)((pipe * 2654435761u) & (cap - 1));
}

static struct conn *
ctab_get(const struct ctab *t, uint32_t pipe)
{
    if (t->cap == 0)
        return NULL;
    for (size_t i = ctab_slot(pipe, t->cap);; i = (i + 1) & (t->cap - 1)) {
        if (t->slots[i] == NULL)
            return NULL;
        if (t->slots[i]->pipe == pipe)
            return t->slots[i];
    }
}

static void
ctab_insert(struct conn **slots, size_t cap, struct conn *c)
{
    size_t i = ctab_slot(c->pipe, cap);

    while (slots[i] != NULL)
        i = (i + 1) & (cap - 1);
    slots[i] = c;
}

/* Adds `c` (its pipe must be absent). Returns 0 or -AG_ENOMEM. */
static int
ctab_put(struct ctab *t, struct conn *c)
{
    if ((t->n + 1) * 2 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct conn **slots = calloc(cap, sizeof(*slots));

        if (slots == NULL)
            return -AG_ENOMEM;
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i] != NULL)
                ctab_insert(slots, cap, t->slots[i]);
        free(t->slots);
        t->slots = slots;
        t->cap = cap;
    }
    ctab_insert(t->slots, t->cap, c);
    t->n++;
    return 0;
}

static void
ctab_del(struct ctab *t, uint32_t pipe)
{
    size_t mask = t->cap - 1, i, j;

    if (t->cap == 0)
        return;
    for (i = ctab_slot(pipe, t->cap);; i = (i + 1) & mask) {
        if (t->slots[i] == NULL)
            return;
        if (t->slots[i]->pipe == pipe)
            break;
    }
    t->slots[i] = NULL;
    t->n--;
    /* Shift back later entries of the run that would become unreachable. */
    for (j = (i + 1) & mask; t->slots[j] != NULL; j = (j + 1) & mask) {
        size_t k = ctab_slot(t->slots[j]->pipe, t->cap);
        bool stays = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);

        if (!stays) {
            t->slots[i] = t->slots[j];
            t->slots[j] = NULL;
            i = j;
        }
    }
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
    conn_close(c, NULL);
}

/*
 * Moves as much as the window allows onto the wire: our HELLO, frames nng
 * refused earlier, new frames, then an ack-only frame if one is still owed.
 */
static void
conn_pump(struct conn *c)
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
    for (f = c->fly_head; f != NULL; f = f->next) {
        if (f->sent)
            continue;
        if ((rv = conn_send_frame(c, f)) != 0) {
            conn_send_failed(c, rv);
            return;
        }
        f->sent = true;
        ts->st.frames_sent++;
        ts->st.msgs_sent += f->count;
        ts->st.bytes_sent += f->bytes;
    }
    while (c->nfly < ts->o.window && (f = c->pend_head) != NULL) {
        c->pend_head = f->next;
        if (c->pend_head == NULL)
            c->pend_tail = NULL;
        f->next = NULL;
        c->q_bytes -= f->bytes;
        c->q_msgs -= f->count;
        f->seq = ++c->tx_seq;
        if (c->fly_tail != NULL)
            c->fly_tail->next = f;
        else
            c->fly_head = f;
        c->fly_tail = f;
        c->nfly++;
        if ((rv = conn_send_frame(c, f)) != 0) {
            conn_send_failed(c, rv);
            return;
        }
        f->sent = true;
        ts->st.frames_sent++;
        ts->st.msgs_sent += f->count;
        ts->st.bytes_sent += f->bytes;
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
static void
conn_retransmit(struct conn *c, uint64_t now)
{
    struct tp_sock *ts = c->ts;
    int rv;

    if (c->retries >= ts->o.max_retries) {
        ts->st.timeouts++;
        log_warn("transport: peer stopped acknowledging, disconnecting pipe=%u retries=%d", c->pipe,
                 c->retries);
        conn_close(c, NULL);
        return;
    }
    c->retries++;
    c->rto = c->rto * 2 > ts->o.rto_max_ms ? ts->o.rto_max_ms : c->rto * 2;
    c->deadline = now + (uint64_t)c->rto;
    if (link_linked(&c->blocked))
        return; /* nng has no room anyway; the frames go out when it has */
    for (struct frame *f = c->fly_head; f != NULL; f = f->next) {
        if (!f->sent)
            break;
        if ((rv = conn_send_frame(c, f)) != 0) {
            conn_send_failed(c, rv);
            return;
        }
        ts->st.retransmits++;
    }
}

/* ---- connection lifecycle ---- */

static struct conn *
sock_find(const struct tp_sock *ts, uint32_t pipe)
{
    if (ts->server)
        return ctab_get(&ts->tab, pipe);
    return (ts->cc != NULL && ts->cc->pipe == pipe) ? ts->cc : NULL;
}

static struct conn *
conn_new(struct tp_sock *ts, uint32_t pipe)
{
    struct conn *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->ts = ts;
    c->pipe = pipe;
    c->state = CONN_HANDSHAKE;
    c->rto = ts->o.rto_ms;
    c->born = uv_now(ts->loop);
    link_init(&c->blocked);
    if (ts->server) {
        if (ctab_put(&ts->tab, c) != 0) {
            free(c);
            return NULL;
        }
        c->session = (uint64_t)ts->salt << 32 | pipe;
        c->hello_due = true;
    } else {
        ts->cc = c;
    }
    link_insert_tail(&ts->all, &c->all);
    return c;
}

static void
conn_free_queues(struct conn *c)
{
    frame_list_free(c->fly_head);
    frame_list_free(c->pend_head);
    c->fly_head = c->fly_tail = c->pend_head = c->pend_tail = NULL;
    c->nfly = 0;
    c->q_bytes = c->q_msgs = 0;
}

static void
conn_free(struct conn *c)
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
 * The pipe of `c` is gone: unlinks and frees the conn, then reports
 * on_disconnect if on_connect was reported. Never called while `c` is in use
 * further up the stack (only from pipe events and client pipe changes).
 */
static void
conn_lost(struct conn *c)
{
    struct tp_sock *ts = c->ts;
    uint32_t pipe = c->pipe;
    bool report = c->reported;

    if (c->state == CONN_OPEN)
        ts->nopen--;
    if (ts->server)
        ctab_del(&ts->tab, pipe);
    else if (ts->cc == c)
        ts->cc = NULL;
    link_remove(&c->all);
    if (link_linked(&c->blocked))
        link_remove(&c->blocked);
    conn_free(c);
    if (!report || ts->closing)
        return;
    ts->st.disconnects++;
    if (ts->server) {
        if (ts->sops->on_disconnect != NULL)
            ts->sops->on_disconnect(ts->arg, pipe);
    } else if (ts->cops->on_disconnect != NULL) {
        ts->cops->on_disconnect(ts->arg);
    }
}

/* Closes the nng pipe of a CLOSING conn; its pipe-removed event frees the conn. */
static void
conn_close_pipe(struct conn *c)
{
    nng_pipe p = NNG_PIPE_INITIALIZER;
    int rv;

    c->close_at = 0;
    p.id = c->pipe;
    if ((rv = nng_pipe_close(p)) != 0 && rv != NNG_ENOENT && rv != NNG_ECLOSED)
        log_warn("transport: nng_pipe_close failed pipe=%u err=%s", c->pipe, nng_strerror(rv));
}

/*
 * Starts closing `c`: drops its queues and refuses sends at once, and closes
 * the nng pipe TP_CLOSE_GRACE_MS later from the tick. The delay lets frames
 * already handed to nng leave first: nng 1.5.2 leaks such a message, and can
 * later hang in nng_close, when a pair1 pipe is closed with one in flight.
 * The conn stays (state CLOSING) until the pipe-removed event frees it.
 */
static void
conn_close(struct conn *c, const char *why)
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

static void
sock_pipe_added(struct tp_sock *ts, uint32_t pipe)
{
    struct conn *c;

    if (sock_find(ts, pipe) != NULL)
        return;
    if (!ts->server && ts->cc != NULL) {
        conn_lost(ts->cc);
        if (ts->closing)
            return; /* closed from on_disconnect */
    }
    if ((c = conn_new(ts, pipe)) == NULL) {
        nng_pipe p = NNG_PIPE_INITIALIZER;

        log_error("transport: out of memory for a new pipe pipe=%u", pipe);
        p.id = pipe;
        nng_pipe_close(p);
        return;
    }
    conn_pump(c); /* the server's HELLO */
}

static void
pipe_ev_cb(void *arg, int status)
{
    struct pipe_ev *e = arg;
    struct tp_sock *ts = e->ts;
    struct conn *c;

    if (status == 0 && !ts->closing) {
        if (e->add)
            sock_pipe_added(ts, e->pipe);
        else if ((c = sock_find(ts, e->pipe)) != NULL)
            conn_lost(c);
    }
    free(e);
}

/* nng thread: hands the pipe event to the loop. */
static void
pipe_notify(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    struct tp_sock *ts = arg;
    struct pipe_ev *e = malloc(sizeof(*e));

    if (e != NULL) {
        e->ts = ts;
        e->pipe = nng_pipe_id(p);
        e->add = ev == NNG_PIPE_EV_ADD_POST;
        if (evq_post(&ts->evq, pipe_ev_cb, e) == 0)
            return;
        free(e);
    }
    if (ev == NNG_PIPE_EV_ADD_POST)
        nng_pipe_close(p); /* the loop would never learn about it */
}

/* ---- receiving ---- */

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
    conn_close(c, NULL);
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
    while ((f = c->fly_head) != NULL && f->seq <= ack) {
        c->fly_head = f->next;
        if (c->fly_head == NULL)
            c->fly_tail = NULL;
        c->nfly--;
        frame_free(f);
    }
    c->retries = 0;
    c->rto = c->ts->o.rto_ms;
    c->deadline = c->fly_head != NULL ? uv_now(c->ts->loop) + (uint64_t)c->rto : 0;
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
        conn_pump(c);
}

static void
conn_input(struct conn *c, nng_msg *m)
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
    conn_pump(c);
}

static void
sock_input(struct tp_sock *ts, nng_msg *m)
{
    uint32_t pipe = nng_pipe_id(nng_msg_get_pipe(m));
    struct conn *c = sock_find(ts, pipe);

    if (c == NULL) {
        /* The pipe event may still be queued: the loop polls both independently. */
        evq_run(&ts->evq);
        if (ts->closing)
            return;
        c = sock_find(ts, pipe);
    }
    if (c == NULL && !ts->server && nng_msg_len(m) >= TP_HDR_LEN &&
        ((const uint8_t *)nng_msg_body(m))[2] == TP_HELLO) {
        /* The server's HELLO can beat nng's pipe-added notification. */
        sock_pipe_added(ts, pipe);
        c = sock_find(ts, pipe);
    }
    if (c == NULL) {
        ts->st.stale++;
        return;
    }
    conn_input(c, m);
}

static void
rpoll_cb(uv_poll_t *h, int status, int events)
{
    struct tp_sock *ts = h->data;

    if (status < 0) {
        log_warn("transport: poll error err=%s", uv_strerror(status));
        return;
    }
    for (int i = 0; i < TP_RECV_BURST && !ts->closing; i++) {
        nng_msg *m;
        int rv = nng_recvmsg(ts->sock, &m, NNG_FLAG_NONBLOCK);

        if (rv == NNG_EAGAIN)
            break;
        if (rv != 0) {
            if (rv != NNG_ECLOSED)
                log_warn("transport: receive failed err=%s", nng_strerror(rv));
            break;
        }
        sock_input(ts, m);
        nng_msg_free(m);
    }
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
        conn_pump(c);
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
tick_cb(uv_timer_t *t)
{
    struct tp_sock *ts = t->data;
    uint64_t now = uv_now(ts->loop);
    struct link *l, *next;

    for (l = ts->all.next; l != &ts->all && !ts->closing; l = next) {
        struct conn *c = CONTAINER(l, struct conn, all);

        next = l->next; /* conns are only freed by pipe events, never here */
        if (c->state == CONN_CLOSING && c->close_at != 0 && now >= c->close_at)
            conn_close_pipe(c);
        else if (c->state == CONN_HANDSHAKE && now - c->born >= (uint64_t)ts->o.handshake_ms)
            conn_close(c, "handshake timeout");
        else if (c->state == CONN_OPEN && c->deadline != 0 && now >= c->deadline)
            conn_retransmit(c, now);
    }
}

/* ---- open / close ---- */

void
tp_options_init(struct tp_options *o)
{
    o->max_msg = 8u << 20;
    o->max_frame = 256u << 10;
    o->max_queue_bytes = 64u << 20;
    o->max_queue_msgs = 1u << 20;
    o->window = 1;
    o->rto_ms = 1000;
    o->rto_max_ms = 8000;
    o->max_retries = 8;
    o->handshake_ms = 10000;
    o->reconnect_min_ms = 100;
    o->reconnect_max_ms = 2000;
    o->sockbuf = 1024;
}

static int
options_check(const struct tp_options *o)
{
    if (o->max_msg == 0 || o->max_msg > (1u << 30) || o->max_frame < 1024 ||
        o->max_frame > (1u << 30) || o->window < 1 || o->window > 4 || o->rto_ms < 1 ||
        o->rto_max_ms < o->rto_ms || o->max_retries < 0 || o->handshake_ms < 1 ||
        o->reconnect_min_ms < 1 || o->reconnect_max_ms < o->reconnect_min_ms || o->sockbuf < 1 ||
        o->sockbuf > 8192 || o->max_queue_bytes == 0 || o->max_queue_msgs == 0)
        return -AG_EINVAL;
    return 0;
}

static void
sock_handle_closed(struct tp_sock *ts)
{
    struct link *l;

    if (--ts->handles > 0)
        return;
    while ((l = ts->all.next) != &ts->all) {
        struct conn *c = CONTAINER(l, struct conn, all);

        link_remove(l);
        conn_free(c);
    }
    free(ts->tab.slots);
    free(ts);
}

static void
uv_handle_closed(uv_handle_t *h)
{
    sock_handle_closed(h->data);
}

static void
evq_closed(struct evq *q)
{
    sock_handle_closed(CONTAINER(q, struct tp_sock, evq));
}

/* Grace period over: closes the socket, the evq and the timer (see sock_close). */
static void
sock_close_late(uv_timer_t *t)
{
    struct tp_sock *ts = t->data;

    /* Waits for nng's pipe callbacks; events they posted are dropped by evq_close. */
    nng_close(ts->sock);
    evq_close(&ts->evq, evq_closed);
    uv_close((uv_handle_t *)&ts->tick, uv_handle_closed);
}

/*
 * Stops every callback at once, then closes the nng socket TP_CLOSE_GRACE_MS
 * later so that frames already handed to nng leave first (see conn_close).
 */
static void
sock_close(struct tp_sock *ts)
{
    if (ts == NULL || ts->closing)
        return;
    ts->closing = true;
    /* The poll handles go before nng_close (their fds belong to nng). */
    if (ts->rpoll.data != NULL)
        uv_close((uv_handle_t *)&ts->rpoll, uv_handle_closed);
    if (ts->spoll.data != NULL)
        uv_close((uv_handle_t *)&ts->spoll, uv_handle_closed);
    uv_timer_stop(&ts->tick);
    uv_timer_start(&ts->tick, sock_close_late, TP_CLOSE_GRACE_MS, 0);
}

static int
sock_setopts(struct tp_sock *ts)
{
    int rv;

    if ((rv = nng_socket_set_size(ts->sock, NNG_OPT_RECVMAXSZ, ts->recv_max + TP_RECV_SLACK)) !=
            0 ||
        (rv = nng_socket_set_int(ts->sock, NNG_OPT_SENDBUF, ts->o.sockbuf)) != 0 ||
        (rv = nng_socket_set_int(ts->sock, NNG_OPT_RECVBUF, ts->o.sockbuf)) != 0 ||
        (rv = nng_socket_set_ms(ts->sock, NNG_OPT_RECONNMINT, ts->o.reconnect_min_ms)) != 0 ||
        (rv = nng_socket_set_ms(ts->sock, NNG_OPT_RECONNMAXT, ts->o.reconnect_max_ms)) != 0 ||
        (rv = nng_pipe_notify(ts->sock, NNG_PIPE_EV_ADD_POST, pipe_notify, ts)) != 0 ||
        (rv = nng_pipe_notify(ts->sock, NNG_PIPE_EV_REM_POST, pipe_notify, ts)) != 0)
        return ag_from_nng(rv);
    return 0;
}

/*
 * Creates the shared part of a server or client: socket and options, evq, poll
 * handles and tick, then listens or dials. On failure nothing is left open
 * (handles already initialised close asynchronously and free `ts` from the loop).
 */
static int
sock_open(struct tp_sock **out, uv_loop_t *loop, const char *url, bool server,
          const struct tp_options *opts)
{
    struct tp_sock *ts;
    int rv, rfd, sfd;
    uint64_t tick;

    if (loop == NULL || url == NULL)
        return -AG_EINVAL;
    if ((ts = calloc(1, sizeof(*ts))) == NULL)
        return -AG_ENOMEM;
    ts->server = server;
    ts->loop = loop;
    if (opts != NULL)
        ts->o = *opts;
    else
        tp_options_init(&ts->o);
    if ((rv = options_check(&ts->o)) != 0) {
        free(ts);
        return rv;
    }
    ts->recv_max = ts->o.max_frame;
    if (ts->o.max_msg + TP_HDR_LEN + TP_REC_LEN > ts->recv_max)
        ts->recv_max = ts->o.max_msg + TP_HDR_LEN + TP_REC_LEN;
    ts->salt = nng_random();
    link_init(&ts->all);
    link_init(&ts->blocked);
    rv = server ? nng_pair1_open_poly(&ts->sock) : nng_pair1_open(&ts->sock);
    if (rv != 0) {
        free(ts);
        return ag_from_nng(rv);
    }
    if ((rv = sock_setopts(ts)) != 0 ||
        (rv = ag_from_nng(nng_socket_get_int(ts->sock, NNG_OPT_RECVFD, &rfd))) != 0 ||
        (rv = ag_from_nng(nng_socket_get_int(ts->sock, NNG_OPT_SENDFD, &sfd))) != 0 ||
        (rv = evq_init(&ts->evq, loop)) != 0) {
        nng_close(ts->sock);
        free(ts);
        return rv;
    }
    /* From here on, failures go through sock_close; handles counts what it closes. */
    ts->handles = 2; /* evq and tick */
    uv_timer_init(loop, &ts->tick);
    ts->tick.data = ts;
    if ((rv = ag_from_uv(uv_poll_init(loop, &ts->rpoll, rfd))) == 0) {
        ts->rpoll.data = ts;
        ts->handles++;
        if ((rv = ag_from_uv(uv_poll_init(loop, &ts->spoll, sfd))) == 0) {
            ts->spoll.data = ts;
            ts->handles++;
        }
    }
    if (rv == 0) {
        uv_poll_start(&ts->rpoll, UV_READABLE, rpoll_cb);
        tick = (uint64_t)(ts->o.rto_ms < 400 ? ts->o.rto_ms / 4 : 100);
        if (tick == 0)
            tick = 1;
        uv_timer_start(&ts->tick, tick_cb, tick, tick);
        if (server) {
            nng_listener l;

            if ((rv = nng_listen(ts->sock, url, &l, 0)) == 0 &&
                nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &ts->port) != 0)
                ts->port = 0;
        } else {
            rv = nng_dial(ts->sock, url, NULL, NNG_FLAG_NONBLOCK);
        }
        if (rv != 0) {
            log_error("transport: cannot %s url=%s err=%s", server ? "listen on" : "dial", url,
                      nng_strerror(rv));
            rv = ag_from_nng(rv);
        }
    }
    if (rv != 0) {
        sock_close(ts);
        return rv;
    }
    *out = ts;
    return 0;
}

/* ---- server API ---- */

int
tp_server_open_opts(struct tp_server **out, uv_loop_t *loop, const char *url,
                    const struct tp_server_ops *ops, void *arg, const struct tp_options *opts)
{
    struct tp_sock *ts;
    int rv;

    if (out == NULL || ops == NULL)
        return -AG_EINVAL;
    if ((rv = sock_open(&ts, loop, url, true, opts)) != 0)
        return rv;
    ts->sops = ops;
    ts->arg = arg;
    *out = (struct tp_server *)ts;
    return 0;
}

int
tp_server_open(struct tp_server **out, uv_loop_t *loop, const char *url,
               const struct tp_server_ops *ops, void *arg)
{
    return tp_server_open_opts(out, loop, url, ops, arg, NULL);
}

int
tp_server_port(const struct tp_server *srv)
{
    return srv->ts.port;
}

/* Queues a copy of `data` on `c`, then pumps. See tp_server_send for the returns. */
static int
conn_send(struct conn *c, const void *data, size_t len)
{
    struct tp_sock *ts = c->ts;
    struct frame *f = c->pend_tail;
    size_t target = ts->o.max_frame < c->peer_max_frame ? ts->o.max_frame : c->peer_max_frame;

    if (len > ts->o.max_msg || TP_HDR_LEN + TP_REC_LEN + len > c->peer_max_frame)
        return -AG_ERANGE;
    if (c->q_bytes + len > ts->o.max_queue_bytes || c->q_msgs + 1 > ts->o.max_queue_msgs) {
        ts->st.dropped_peers++;
        log_warn("transport: outbound queue full, disconnecting peer pipe=%u queued_msgs=%zu "
                 "queued_bytes=%zu",
                 c->pipe, c->q_msgs, c->q_bytes);
        conn_close(c, NULL);
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
        if (c->pend_tail != NULL)
            c->pend_tail->next = f;
        else
            c->pend_head = f;
        c->pend_tail = f;
    } else if (frame_append(f, data, len, target) != 0) {
        return -AG_ENOMEM;
    }
    c->q_bytes += len;
    c->q_msgs++;
    conn_pump(c);
    return 0;
}

int
tp_server_send(struct tp_server *srv, uint32_t peer, const void *data, size_t len)
{
    struct conn *c = ctab_get(&srv->ts.tab, peer);

    if (srv->ts.closing || c == NULL || c->state != CONN_OPEN)
        return -AG_ECLOSED;
    return conn_send(c, data, len);
}

int
tp_server_close_peer(struct tp_server *srv, uint32_t peer)
{
    struct conn *c = ctab_get(&srv->ts.tab, peer);

    if (srv->ts.closing || c == NULL || c->state == CONN_CLOSING)
        return -AG_ECLOSED;
    conn_close(c, NULL);
    return 0;
}

size_t
tp_server_pending(const struct tp_server *srv, uint32_t peer)
{
    const struct conn *c = ctab_get(&srv->ts.tab, peer);

    return c != NULL ? c->q_bytes : 0;
}

size_t
tp_server_peers(const struct tp_server *srv)
{
    return srv->ts.nopen;
}

void
tp_server_stats(const struct tp_server *srv, struct tp_stats *out)
{
    *out = srv->ts.st;
}

void
tp_server_close(struct tp_server *srv)
{
    if (srv != NULL)
        sock_close(&srv->ts);
}

/* ---- client API ---- */

int
tp_client_open_opts(struct tp_client **out, uv_loop_t *loop, const char *url,
                    const struct tp_client_ops *ops, void *arg, const struct tp_options *opts)
{
    struct tp_sock *ts;
    int rv;

    if (out == NULL || ops == NULL)
        return -AG_EINVAL;
    if ((rv = sock_open(&ts, loop, url, false, opts)) != 0)
        return rv;
    ts->cops = ops;
    ts->arg = arg;
    *out = (struct tp_client *)ts;
    return 0;
}

int
tp_client_open(struct tp_client **out, uv_loop_t *loop, const char *url,
               const struct tp_client_ops *ops, void *arg)
{
    return tp_client_open_opts(out, loop, url, ops, arg, NULL);
}

int
tp_client_send(struct tp_client *cli, const void *data, size_t len)
{
    struct conn *c = cli->ts.cc;

    if (cli->ts.closing || c == NULL || c->state != CONN_OPEN)
        return -AG_ECLOSED;
    return conn_send(c, data, len);
}

size_t
tp_client_pending(const struct tp_client *cli)
{
    return cli->ts.cc != NULL ? cli->ts.cc->q_bytes : 0;
}

int
tp_client_connected(const struct tp_client *cli)
{
    return cli->ts.cc != NULL && cli->ts.cc->state == CONN_OPEN;
}

void
tp_client_stats(const struct tp_client *cli, struct tp_stats *out)
{
    *out = cli->ts.st;
}

void
tp_client_close(struct tp_client *cli)
{
    if (cli != NULL)
        sock_close(&cli->ts);
}
