#include "transport.h"

#include "error.h"
#include "evq.h"
#include "log.h"
#include "tp_conn.h"
#include "transport_int.h"

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/supplemental/util/platform.h>
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define TP_RECV_BURST 64 /* frames read per poll callback, for fairness */
#define TP_RECV_SLACK 64 /* room for pair1's own header in RECVMAXSZ */

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

/* ---- connection lifecycle ---- */

static struct conn *
sock_find(const struct tp_sock *ts, uint32_t pipe)
{
    if (ts->server)
        return ctab_get(&ts->tab, pipe);
    return (ts->cc != NULL && ts->cc->pipe == pipe) ? ts->cc : NULL;
}

/* Records a server conn's peer address in ts->by_addr (nothing if unknown). */
static void
conn_set_addr(struct conn *c)
{
    nng_pipe p = NNG_PIPE_INITIALIZER;
    char ip[INET6_ADDRSTRLEN] = "";
    nng_sockaddr sa;

    p.id = c->pipe;
    if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
        return;
    if (sa.s_family == NNG_AF_INET) {
        inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof(ip));
        snprintf(c->addr, sizeof(c->addr), "%s:%u", ip, ntohs(sa.s_in.sa_port));
    } else if (sa.s_family == NNG_AF_INET6) {
        inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, sizeof(ip));
        snprintf(c->addr, sizeof(c->addr), "[%s]:%u", ip, ntohs(sa.s_in6.sa_port));
    } else {
        return;
    }
    if (hmap_put(&c->ts->by_addr, c->addr, c) != 0)
        c->addr[0] = '\0';
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
        conn_set_addr(c);
    } else {
        ts->cc = c;
    }
    link_insert_tail(&ts->all, &c->all);
    return c;
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
    if (ts->server) {
        ctab_del(&ts->tab, pipe);
        if (c->addr[0] && hmap_get(&ts->by_addr, c->addr) == c)
            hmap_del(&ts->by_addr, c->addr);
    } else if (ts->cc == c)
        ts->cc = NULL;
    link_remove(&c->all);
    if (link_linked(&c->blocked))
        link_remove(&c->blocked);
    tp_conn_free(c);
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
    tp_conn_pump(c); /* the server's HELLO */
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
    if (c == NULL && !ts->server && tp_conn_is_hello(m)) {
        /* The server's HELLO can beat nng's pipe-added notification. */
        sock_pipe_added(ts, pipe);
        c = sock_find(ts, pipe);
    }
    if (c == NULL) {
        ts->st.stale++;
        return;
    }
    tp_conn_input(c, m);
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
            tp_conn_close(c, "handshake timeout");
        else if (c->state == CONN_OPEN && c->deadline != 0 && now >= c->deadline)
            tp_conn_retransmit(c, now);
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
    o->tls = NULL;
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
        tp_conn_free(c);
    }
    free(ts->tab.slots);
    hmap_fini(&ts->by_addr);
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
 * later so that frames already handed to nng leave first (see tp_conn_close).
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

/* Starts dialing `url` in the background, over TLS with ts->o.tls when given. */
static int
client_dial(struct tp_sock *ts, const char *url)
{
    nng_dialer d;
    int rv;

    if (ts->o.tls == NULL)
        return nng_dial(ts->sock, url, NULL, NNG_FLAG_NONBLOCK);
    if ((rv = nng_dialer_create(&d, ts->sock, url)) != 0)
        return rv;
    if ((rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, ts->o.tls)) != 0 ||
        (rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) != 0)
        nng_dialer_close(d);
    ts->o.tls = NULL; /* borrowed for this call only */
    return rv;
}

/*
 * Creates a server (`sops` given) or a client (`cops` given): socket and
 * options, evq, poll handles and tick, then listens or dials. On failure
 * nothing is left open (handles already initialised close asynchronously and
 * free `ts` from the loop).
 */
static int
sock_open(struct tp_sock **out, uv_loop_t *loop, const char *url, const struct tp_server_ops *sops,
          const struct tp_client_ops *cops, void *arg, const struct tp_options *opts)
{
    struct tp_sock *ts;
    bool server = sops != NULL;
    int rv, rfd, sfd;
    uint64_t tick;

    if (loop == NULL || url == NULL)
        return -AG_EINVAL;
    if ((ts = calloc(1, sizeof(*ts))) == NULL)
        return -AG_ENOMEM;
    hmap_init(&ts->by_addr);
    ts->server = server;
    ts->loop = loop;
    ts->sops = sops;
    ts->cops = cops;
    ts->arg = arg;
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
            rv = client_dial(ts, url);
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
    if ((rv = sock_open(&ts, loop, url, ops, NULL, arg, opts)) == 0)
        *out = (struct tp_server *)ts;
    return rv;
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

int
tp_server_send(struct tp_server *srv, uint32_t peer, const void *data, size_t len)
{
    return tp_conn_send(ctab_get(&srv->ts.tab, peer), data, len);
}

int
tp_server_close_peer(struct tp_server *srv, uint32_t peer)
{
    struct conn *c = ctab_get(&srv->ts.tab, peer);

    if (srv->ts.closing || c == NULL || c->state == CONN_CLOSING)
        return -AG_ECLOSED;
    tp_conn_close(c, NULL);
    return 0;
}

size_t
tp_server_pending(const struct tp_server *srv, uint32_t peer)
{
    const struct conn *c = ctab_get(&srv->ts.tab, peer);

    return c != NULL ? c->q_bytes : 0;
}

int
tp_server_peer_addr(const struct tp_server *srv, uint32_t peer, char *out, size_t len)
{
    nng_pipe p = NNG_PIPE_INITIALIZER;
    nng_sockaddr sa;
    int rv;

    if (len > 0)
        out[0] = '\0';
    if (srv == NULL || ctab_get(&srv->ts.tab, peer) == NULL)
        return -AG_ECLOSED;
    p.id = peer;
    if ((rv = nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa)) != 0)
        return ag_from_nng(rv);
    if (sa.s_family == NNG_AF_INET)
        inet_ntop(AF_INET, &sa.s_in.sa_addr, out, (socklen_t)len);
    else if (sa.s_family == NNG_AF_INET6)
        inet_ntop(AF_INET6, sa.s_in6.sa_addr, out, (socklen_t)len);
    return 0;
}

bool
tp_server_has_addr(const struct tp_server *srv, const char *addr)
{
    return srv != NULL && hmap_get(&srv->ts.by_addr, addr) != NULL;
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
    if ((rv = sock_open(&ts, loop, url, NULL, ops, arg, opts)) == 0)
        *out = (struct tp_client *)ts;
    return rv;
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
    return tp_conn_send(cli->ts.cc, data, len);
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
