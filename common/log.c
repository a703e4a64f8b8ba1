#include "log.h"

#include "error.h"

#include <pthread.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

static const char *log_component = "agora";
static enum ag_log_level log_level = AG_LOG_INFO;
static FILE *log_file;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const log_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void
log_set_component(const char *name)
{
    log_component = name ? name : "agora";
}

void
log_set_level(enum ag_log_level level)
{
    log_level = level;
}

void
log_set_file(FILE *f)
{
    log_file = f;
}

int
log_parse_level(const char *text, enum ag_log_level *out)
{
    if (strcasecmp(text, "DEBUG") == 0)
        *out = AG_LOG_DEBUG;
    else if (strcasecmp(text, "INFO") == 0)
        *out = AG_LOG_INFO;
    else if (strcasecmp(text, "WARN") == 0 || strcasecmp(text, "WARNING") == 0)
        *out = AG_LOG_WARN;
    else if (strcasecmp(text, "ERROR") == 0)
        *out = AG_LOG_ERROR;
    else
        return -AG_EINVAL;
    return 0;
}

void
log_write(enum ag_log_level level, const char *fmt, ...)
{
    char line[2048];
    struct timeval tv;
    struct tm tm;
    size_t n;
    int k;
    va_list ap;

    if (level < log_level)
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    k = snprintf(line + n, sizeof(line) - n, ".%03dZ %s %s: ", (int)(tv.tv_usec / 1000),
                 log_names[level], log_component);
    if (k > 0)
        n += (size_t)k;
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (k > 0)
        n += (size_t)k < sizeof(line) - n - 1 ? (size_t)k : sizeof(line) - n - 2;
    line[n++] = '\n';
    pthread_mutex_lock(&log_lock);
    fwrite(line, 1, n, log_file ? log_file : stderr);
    fflush(log_file ? log_file : stderr);
    pthread_mutex_unlock(&log_lock);
}
