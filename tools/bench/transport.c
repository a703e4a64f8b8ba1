/*
 * bench-transport: throughput and latency of common/transport between two
 * processes on one machine.
 *
 *   bench-transport [-u URL] [-n COUNT] [-s SIZE] [-w WINDOW] [-f MAX_FRAME] [-l]
 *
 * The program forks before touching nng (nng is not fork-safe). The parent
 * runs a transport server, the child a client. Throughput mode (default): the
 * client sends COUNT payloads of SIZE bytes as fast as the transport accepts
 * them (pacing itself on tp_client_pending) and the server reports messages
 * per second between the first and the last payload. Latency mode (-l): the
 * client sends one payload at a time and waits for the server's echo; it
 * reports the median and 99th percentile round trip.
 *
 * URL defaults to tcp://127.0.0.1:0 (the server's port is passed to the
 * client through a pipe); ws://127.0.0.1:0/agora/stream and ipc:///tmp/x work.
 *
 * The last line of the output is one JSON object with the parameters and the
 * figures (the client hands its latency figures to the parent through a
 * second pipe): {"bench": "transport", "url", "mode": "throughput" or
 * "latency", "count", "size_bytes", "window", "max_frame_bytes", then for
 * throughput "elapsed_s", "msgs_per_s", "mb_per_s", "frames",
 * "msgs_per_frame"; for latency "round_trips", "p50_us", "p99_us", "max_us"}.
 */
#include "error.h"
#include "log.h"
#include "transport.h"

#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PACE_BYTES (8u << 20) /* the client keeps at most this much queued */

/* The figures: throughput's on the server, latency's on the client. */
struct figures {
    double secs, msgs_per_s, mb_per_s, msgs_per_frame;
    unsigned long long frames;
    long round_trips;
    double p50_us, p99_us, max_us;
};

struct bench {
    uv_loop_t loop;
    struct tp_options opts;
    long count;
    size_t size;
    bool latency;
    /* server */
    struct tp_server *srv;
    long received;
    uint64_t t_first, t_last;
    bool done;
    struct figures fig;
    int result_fd; /* client: where its figures go */
    /* client */
    struct tp_client *cli;
    uv_idle_t pump;
    long sent;
    uint64_t t_sent;
    uint64_t *rtt;
    long nrtt;
    char *payload;
};

/* ---- server (parent) ---- */

static void
srv_message(void *arg, uint32_t peer, const void *data, size_t len)
{
    struct bench *b = arg;
    uint64_t now = uv_hrtime();

    if (b->latency) {
        if (tp_server_send(b->srv, peer, data, len) != 0)
            fprintf(stderr, "server: echo failed\n");
        return;
    }
    if (b->received++ == 0)
        b->t_first = now;
    b->t_last = now;
    if (b->received == b->count) {
        double secs = (double)(b->t_last - b->t_first) / 1e9;
        struct tp_stats st;

        tp_server_stats(b->srv, &st);
        b->fig.secs = secs;
        b->fig.msgs_per_s = (double)(b->count - 1) / secs;
        b->fig.mb_per_s = (double)(b->count - 1) * (double)b->size / secs / 1e6;
        b->fig.frames = (unsigned long long)st.frames_recv;
        b->fig.msgs_per_frame = (double)b->count / (double)st.frames_recv;
        printf("throughput: %ld msgs of %zu B in %.3f s: %.0f msgs/s, %.1f MB/s "
               "(frames %llu, %.0f msgs/frame, window %d, max_frame %zu)\n",
               b->count, b->size, secs, b->fig.msgs_per_s, b->fig.mb_per_s, b->fig.frames,
               b->fig.msgs_per_frame, b->opts.window, b->opts.max_frame);
        fflush(stdout);
        tp_server_send(b->srv, peer, "done", 4);
    }
}

static void
srv_disconnect(void *arg, uint32_t peer)
{
    struct bench *b = arg;

    b->done = true;
    tp_server_close(b->srv);
}

static const struct tp_server_ops srv_ops = {
    .on_message = srv_message,
    .on_disconnect = srv_disconnect,
};

/* ---- client (child) ---- */

static void
cli_pump(uv_idle_t *h)
{
    struct bench *b = h->data;

    while (b->sent < b->count && tp_client_pending(b->cli) < PACE_BYTES) {
        if (tp_client_send(b->cli, b->payload, b->size) != 0) {
            fprintf(stderr, "client: send failed\n");
            exit(1);
        }
        b->sent++;
    }
    if (b->sent == b->count)
        uv_idle_stop(h);
}

static void
cli_send_one(struct bench *b)
{
    b->t_sent = uv_hrtime();
    if (tp_client_send(b->cli, b->payload, b->size) != 0) {
        fprintf(stderr, "client: send failed\n");
        exit(1);
    }
}

static void
cli_connect(void *arg)
{
    struct bench *b = arg;

    if (b->latency)
        cli_send_one(b);
    else
        uv_idle_start(&b->pump, cli_pump);
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static void
cli_message(void *arg, const void *data, size_t len)
{
    struct bench *b = arg;

    if (!b->latency) {
        if (len == 4 && memcmp(data, "done", 4) == 0) {
            uv_close((uv_handle_t *)&b->pump, NULL);
            tp_client_close(b->cli);
        }
        return;
    }
    b->rtt[b->nrtt++] = uv_hrtime() - b->t_sent;
    if (b->nrtt < b->count) {
        cli_send_one(b);
        return;
    }
    qsort(b->rtt, (size_t)b->nrtt, sizeof(*b->rtt), cmp_u64);
    b->fig.round_trips = b->nrtt;
    b->fig.p50_us = (double)b->rtt[b->nrtt / 2] / 1e3;
    b->fig.p99_us = (double)b->rtt[b->nrtt * 99 / 100] / 1e3;
    b->fig.max_us = (double)b->rtt[b->nrtt - 1] / 1e3;
    printf("latency: %ld round trips of %zu B: median %.1f us, p99 %.1f us, max %.1f us\n", b->nrtt,
           b->size, b->fig.p50_us, b->fig.p99_us, b->fig.max_us);
    fflush(stdout);
    if (write(b->result_fd, &b->fig, sizeof(b->fig)) != (ssize_t)sizeof(b->fig))
        fprintf(stderr, "client: cannot hand over the figures\n");
    uv_close((uv_handle_t *)&b->pump, NULL);
    tp_client_close(b->cli);
}

static const struct tp_client_ops cli_ops = {
    .on_connect = cli_connect,
    .on_message = cli_message,
};

static int
run_client(struct bench *b, const char *url)
{
    int rv;

    b->payload = malloc(b->size ? b->size : 1);
    b->rtt = calloc((size_t)b->count, sizeof(*b->rtt));
    if (b->payload == NULL || b->rtt == NULL)
        return 1;
    for (size_t i = 0; i < b->size; i++)
        b->payload[i] = (char)i;
    uv_loop_init(&b->loop);
    uv_idle_init(&b->loop, &b->pump);
    b->pump.data = b;
    if ((rv = tp_client_open_opts(&b->cli, &b->loop, url, &cli_ops, b, &b->opts)) != 0) {
        fprintf(stderr, "client: %s\n", ag_strerror(rv));
        return 1;
    }
    uv_run(&b->loop, UV_RUN_DEFAULT);
    uv_loop_close(&b->loop);
    free(b->payload);
    free(b->rtt);
    return 0;
}

/* The last line of the output: the parameters and the figures. */
static int
print_json(const struct bench *b, const char *url)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:i, s:I}", "bench", "transport", "url", url,
                          "mode", b->latency ? "latency" : "throughput", "count",
                          (json_int_t)b->count, "size_bytes", (json_int_t)b->size, "window",
                          b->opts.window, "max_frame_bytes", (json_int_t)b->opts.max_frame);
    json_t *fig;
    char *line;

    if (b->latency)
        fig = json_pack("{s:I, s:f, s:f, s:f}", "round_trips", (json_int_t)b->fig.round_trips,
                        "p50_us", b->fig.p50_us, "p99_us", b->fig.p99_us, "max_us", b->fig.max_us);
    else
        fig =
            json_pack("{s:f, s:I, s:f, s:I, s:f}", "elapsed_s", b->fig.secs, "msgs_per_s",
                      (json_int_t)(b->fig.msgs_per_s + 0.5), "mb_per_s", b->fig.mb_per_s, "frames",
                      (json_int_t)b->fig.frames, "msgs_per_frame", b->fig.msgs_per_frame);
    if (o == NULL || fig == NULL || json_object_update(o, fig) != 0 ||
        (line = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10))) == NULL) {
        fprintf(stderr, "bench-transport: cannot build the JSON line\n");
        json_decref(o);
        json_decref(fig);
        return 1;
    }
    puts(line);
    free(line);
    json_decref(o);
    json_decref(fig);
    return 0;
}

static void
usage(void)
{
    fprintf(stderr, "usage: bench-transport [-u URL] [-n COUNT] [-s SIZE] [-w WINDOW] "
                    "[-f MAX_FRAME] [-l]\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    struct bench b;
    const char *url = "tcp://127.0.0.1:0";
    char dial[256];
    int fds[2], res[2], opt, rv, port = 0, status;
    pid_t child;

    memset(&b, 0, sizeof(b));
    tp_options_init(&b.opts);
    b.count = -1;
    b.size = 200;
    while ((opt = getopt(argc, argv, "u:n:s:w:f:l")) != -1) {
        switch (opt) {
        case 'u':
            url = optarg;
            break;
        case 'n':
            b.count = atol(optarg);
            break;
        case 's':
            b.size = (size_t)atol(optarg);
            break;
        case 'w':
            b.opts.window = atoi(optarg);
            break;
        case 'f':
            b.opts.max_frame = (size_t)atol(optarg);
            break;
        case 'l':
            b.latency = true;
            break;
        default:
            usage();
        }
    }
    if (b.count < 0)
        b.count = b.latency ? 20000 : 1000000;
    if (b.count < 2)
        usage();
    log_set_component("bench-transport");
    if (pipe(fds) != 0 || pipe(res) != 0 || (child = fork()) < 0) {
        perror("pipe/fork");
        return 1;
    }
    if (child == 0) {
        /* Client: wait for the server's port, then dial. */
        close(fds[1]);
        close(res[0]);
        b.result_fd = res[1];
        if (read(fds[0], &port, sizeof(port)) != (ssize_t)sizeof(port))
            return 1;
        close(fds[0]);
        if (strncmp(url, "tcp://", 6) == 0)
            snprintf(dial, sizeof(dial), "tcp://127.0.0.1:%d", port);
        else if (strncmp(url, "ws://", 5) == 0)
            snprintf(dial, sizeof(dial), "ws://127.0.0.1:%d%s", port, strchr(url + 5, '/'));
        else
            snprintf(dial, sizeof(dial), "%s", url);
        return run_client(&b, dial);
    }
    close(fds[0]);
    close(res[1]);
    uv_loop_init(&b.loop);
    if ((rv = tp_server_open_opts(&b.srv, &b.loop, url, &srv_ops, &b, &b.opts)) != 0) {
        fprintf(stderr, "server: %s\n", ag_strerror(rv));
        kill(child, SIGTERM);
        return 1;
    }
    port = tp_server_port(b.srv);
    if (write(fds[1], &port, sizeof(port)) != (ssize_t)sizeof(port))
        return 1;
    close(fds[1]);
    uv_run(&b.loop, UV_RUN_DEFAULT);
    uv_loop_close(&b.loop);
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    if (b.latency && read(res[0], &b.fig, sizeof(b.fig)) != (ssize_t)sizeof(b.fig)) {
        fprintf(stderr, "bench-transport: the client sent no figures\n");
        return 1;
    }
    close(res[0]);
    return print_json(&b, url);
}
