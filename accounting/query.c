/*
 * Parsing of the report's query (query.h): times, grouping, prices, timeline.
 */
#define _GNU_SOURCE /* timegm */
#include "query.h"

#include "error.h"
#include "flags.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const report_res_names[REPORT_NRES] = {"cpus", "mem", "disk", "gpus"};
const char *const report_by_names[REPORT_NBY] = {"cluster", "role",  "framework",
                                                 "app",     "agent", "task"};

static int
parse_date(const char *s, int64_t *ms)
{
    struct tm tm;
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    char sep;

    memset(&tm, 0, sizeof(tm));
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return -AG_EINVAL;
    s += n;
    if (*s == 'T' || *s == ' ') {
        sep = *s++;
        (void)sep;
        n = 0;
        if (sscanf(s, "%2d:%2d%n", &h, &mi, &n) != 2 || n != 5)
            return -AG_EINVAL;
        s += n;
        if (*s == ':') {
            n = 0;
            if (sscanf(s + 1, "%2d%n", &sec, &n) != 1 || n != 2)
                return -AG_EINVAL;
            s += 3;
        }
        if (*s == 'Z')
            s++;
    }
    if (*s != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -AG_EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *ms = (int64_t)timegm(&tm) * 1000;
    return 0;
}

static int
parse_time(const char *s, int64_t now_ms, int64_t *out)
{
    int64_t d;
    char *end;

    if (strcmp(s, "now") == 0) {
        *out = now_ms;
        return 0;
    }
    if (s[0] == '@') {
        double v;
        errno = 0;
        v = strtod(s + 1, &end);
        if (end == s + 1 || *end != '\0' || errno != 0 || !(v >= 0) || v > 9e12)
            return -AG_EINVAL;
        *out = llround(v * 1000.0);
        return 0;
    }
    if (isdigit((unsigned char)s[0]) && strlen(s) >= 10 && s[4] == '-')
        return parse_date(s, out);
    if (flags_parse_duration(s, &d) == 0) {
        *out = now_ms - d;
        return 0;
    }
    return -AG_EINVAL;
}

static int
parse_prices(struct report_query *q, const char *s, char *err, size_t errlen)
{
    char *copy = strdup(s), *save = NULL, *tok;
    int rc = 0;

    if (copy == NULL)
        return -AG_ENOMEM;
    for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '='), *end;
        double v;
        int i;

        while (*tok == ' ')
            tok++;
        if (eq == NULL) {
            rc = -AG_EINVAL;
            break;
        }
        *eq = '\0';
        for (i = 0; i < REPORT_NRES; i++)
            if (strcmp(tok, report_res_names[i]) == 0)
                break;
        errno = 0;
        v = strtod(eq + 1, &end);
        if (i == REPORT_NRES || end == eq + 1 || *end != '\0' || errno != 0 || !(v >= 0) ||
            !isfinite(v)) {
            rc = -AG_EINVAL;
            break;
        }
        q->price[i] = v;
        q->priced = true;
    }
    free(copy);
    if (rc != 0)
        snprintf(err, errlen, "bad --price \"%s\" (want cpus=X,mem=Y,disk=Z,gpus=W per hour)", s);
    return rc;
}

int
report_query_parse(struct report_query *q, int64_t now_ms, const char *since, const char *until,
                   const char *by, const char *top, const char *price, const char *timeline,
                   char *err, size_t errlen)
{
    char *end;
    long v;

    memset(q, 0, sizeof(*q));
    q->now_ms = now_ms;
    if (parse_time(since && *since ? since : "7days", now_ms, &q->since_ms) != 0) {
        snprintf(err, errlen,
                 "bad since \"%s\" (want 7d, 12h, 2025-01-31, "
                 "2025-01-31T12:00Z, now or @SECONDS)",
                 since);
        return -AG_EINVAL;
    }
    if (parse_time(until && *until ? until : "now", now_ms, &q->until_ms) != 0) {
        snprintf(err, errlen,
                 "bad until \"%s\" (want 7d, 12h, 2025-01-31, "
                 "2025-01-31T12:00Z, now or @SECONDS)",
                 until);
        return -AG_EINVAL;
    }
    if (q->until_ms <= q->since_ms) {
        snprintf(err, errlen, "empty window: until is not after since");
        return -AG_EINVAL;
    }
    q->by = REPORT_BY_CLUSTER;
    if (by && *by) {
        size_t i;
        for (i = 0; i < REPORT_NBY; i++)
            if (strcmp(by, report_by_names[i]) == 0)
                break;
        if (i == REPORT_NBY) {
            snprintf(err, errlen,
                     "bad by \"%s\" (want cluster, role, framework, app, agent "
                     "or task)",
                     by);
            return -AG_EINVAL;
        }
        q->by = (enum report_by)i;
    }
    if (top && *top) {
        errno = 0;
        v = strtol(top, &end, 10);
        if (*end != '\0' || errno != 0 || v < 0 || v > 1000000000) {
            snprintf(err, errlen, "bad top \"%s\" (want a number >= 0)", top);
            return -AG_EINVAL;
        }
        q->top = (int)v;
    }
    if (timeline && *timeline) {
        errno = 0;
        v = strtol(timeline, &end, 10);
        if (*end != '\0' || errno != 0 || v < 0 || v > REPORT_TIMELINE_MAX) {
            snprintf(err, errlen, "bad timeline \"%s\" (want 0 to %d buckets)", timeline,
                     REPORT_TIMELINE_MAX);
            return -AG_EINVAL;
        }
        q->timeline = (int)v;
    }
    if (price && *price)
        return parse_prices(q, price, err, errlen);
    return 0;
}
