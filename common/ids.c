#include "ids.h"

#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

/* Fills `buf` from getrandom(), retrying on interruption and short reads. */
static int
ids_random(unsigned char *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -AG_EIO;
        }
        got += (size_t)n;
    }
    return 0;
}

int
ids_new_uuid(char out[IDS_UUID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    size_t o = 0;

    out[0] = '\0';
    if (ids_random(b, sizeof(b)) != 0)
        return -AG_EIO;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    for (size_t i = 0; i < sizeof(b); i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 0x0f];
    }
    out[o] = '\0';
    return 0;
}

static bool
ids_is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool
ids_valid_uuid(const char *s)
{
    if (s == NULL)
        return false;
    for (size_t i = 0; i < IDS_UUID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!ids_is_hex(s[i])) {
            return false; /* also stops at a NUL in a short string */
        }
    }
    return s[IDS_UUID_LEN] == '\0';
}

static bool
ids_is_id_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

bool
ids_valid(const char *s)
{
    size_t n = 0;

    if (s == NULL)
        return false;
    for (; s[n] != '\0'; n++) {
        if (n >= AG_ID_MAX - 1 || !ids_is_id_char(s[n]))
            return false;
    }
    if (n == 0 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    return true;
}

int
ids_format(char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (out == NULL || len == 0)
        return -AG_ERANGE;
    va_start(ap, fmt);
    n = vsnprintf(out, len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        out[0] = '\0';
        return -AG_EINVAL;
    }
    if ((size_t)n >= len || n >= AG_ID_MAX) {
        out[0] = '\0';
        return -AG_ERANGE;
    }
    if (!ids_valid(out)) {
        out[0] = '\0';
        return -AG_EINVAL;
    }
    return 0;
}

int
ids_new(char out[AG_ID_MAX], const char *base, const char *tag, uint64_t n)
{
    if (base == NULL || tag == NULL) {
        out[0] = '\0';
        return -AG_EINVAL;
    }
    return ids_format(out, AG_ID_MAX, "%s-%s%llu", base, tag, (unsigned long long)n);
}
