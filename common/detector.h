/*
 * The master detector: the one place that turns what a user gave as
 * `--master` into addresses to connect to. Today it accepts a fixed
 * `HOST:PORT` (or `HOST`, meaning port 5050), with an optional scheme that
 * chooses clear text (`http://`, the default) or TLS (`https://`: the stream
 * is then `wss://`); later it will follow a leader
 * elected through ZooKeeper (`zk://...`) and call back when the leader changes.
 */
#ifndef AGORA_DETECTOR_H
#define AGORA_DETECTOR_H

#include <stddef.h>

#define DETECTOR_DEFAULT_PORT 5050
#define DETECTOR_STREAM_PATH "/agora/v1/stream"

struct detector_master {
    char host[256];
    int port;
    int tls;              /* 1: reached over TLS (https:// given, or detector_set_tls) */
    char stream_url[320]; /* "ws[s]://HOST:PORT/agora/v1/stream": the message stream */
    char http_url[300];   /* "http[s]://HOST:PORT": the operator HTTP API */
};

/*
 * Resolves `spec` ("HOST:PORT", "HOST", "[v6addr]:PORT", each with an optional
 * "http://" or "https://" prefix) into `out`. Returns 0, or -AG_EINVAL with a message in
 * `err` naming the problem (e.g. "zk:// masters are not supported yet").
 */
int detector_resolve(const char *spec, struct detector_master *out, char *err, size_t errlen);

/* Switches a resolved master to TLS (tls != 0: wss:// and https://) or back
 * (for a client that has --tls_ca and a bare HOST:PORT). */
void detector_set_tls(struct detector_master *m, int tls);

#endif
