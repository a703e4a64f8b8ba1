#include "detector.h"

#include "error.h"

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
        snprintf(err, errlen, "zk:// masters are not supported yet: use --master=HOST:PORT");
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
    snprintf(m->stream_url, sizeof(m->stream_url), "%s://%s:%d%s", m->tls ? "wss" : "ws",
             m->host, m->port, DETECTOR_STREAM_PATH);
    snprintf(m->http_url, sizeof(m->http_url), "%s://%s:%d", m->tls ? "https" : "http", m->host,
             m->port);
}
