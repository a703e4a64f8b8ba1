/*
 * transport_int.h: the layout shared by the transport's own files, and nothing
 * else may include it. transport.c owns the sockets (struct tp_sock: nng
 * socket, poll handles, tick, pipe table) and the life of each struct conn
 * (created on pipe add, freed on pipe removal or at close); tp_conn.c runs the
 * protocol of one conn (handshake, sequence numbers, acks, window,
 * retransmission, batching). Both run on the loop thread only.
 */
#ifndef AGORA_TRANSPORT_INT_H
#define AGORA_TRANSPORT_INT_H

#include "evq.h"
#include "hmap.h"
#include "transport.h"

#include <nng/nng.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Wire format, see transport.h. */
#define TP_MAGIC 0xA6
#define TP_VERSION 1
#define TP_HDR_LEN 32
#define TP_REC_LEN 4
#define TP_HELLO_LEN 8

enum tp_type { TP_HELLO = 1, TP_DATA = 2, TP_ACK = 3 };

enum conn_state { CONN_HANDSHAKE, CONN_OPEN, CONN_CLOSING };

/* An intrusive circular doubly-linked list. */
struct link {
    struct link *prev, *next;
};

#define CONTAINER(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void
link_init(struct link *l)
{
    l->prev = l->next = l;
}

static inline bool
link_linked(const struct link *l)
{
    return l->next != l;
}

static inline void
link_insert_tail(struct link *head, struct link *l)
{
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}

static inline void
link_remove(struct link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    link_init(l);
}

struct frame;

/* A FIFO of frames (singly linked through frame.next). */
struct frame_queue {
    struct frame *head, *tail;
};

struct tp_sock;

struct conn {
    struct tp_sock *ts;
    uint32_t pipe;
    char addr[64]; /* server: the peer's "IP:PORT" ("[IPv6]:PORT"), "" when unknown */
    enum conn_state state;
    bool reported;  /* on_connect was called */
    bool hello_due; /* our HELLO still has to be sent */
    bool ack_due;   /* the peer is owed an ack for rx_seq */
    uint64_t session;
    size_t peer_max_frame;
    uint64_t tx_seq;        /* last seq given to a frame */
    uint64_t tx_acked;      /* highest seq the peer acknowledged */
    struct frame_queue fly; /* sent and not yet acknowledged */
    int nfly;
    struct frame_queue pend; /* being filled, waiting for the window */
    size_t q_bytes, q_msgs;  /* pending payloads */
    uint64_t deadline;       /* loop time (ms) for a retransmission, 0 = none */
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
    uv_poll_t spoll; /* started by tp_conn.c while ts->blocked is not empty */
    bool spoll_on;
    uv_timer_t tick;
    int handles; /* handles still to be closed before the free */
    uint32_t salt;
    int port;
    struct ctab tab;     /* server: every conn */
    struct hmap by_addr; /* server: conn->addr -> conn, for conns with an address */
    struct conn *cc;     /* client: the current conn, or NULL */
    struct link all;     /* every conn */
    struct link blocked;
    size_t nopen;
    const struct tp_server_ops *sops;
    const struct tp_client_ops *cops;
    void *arg;
};

#endif
