/*
 * Text scanning and bounded printing for the `NAME:VALUE;...` syntaxes
 * (resources, attributes).
 */
#include "text.h"

#include <string.h>

void
txt_trim(const char **s, size_t *n)
{
    while (*n > 0 && txt_is_space(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && txt_is_space((*s)[*n - 1]))
        (*n)--;
}

bool
txt_next_item(const char **cursor, char sep, const char **item, size_t *n)
{
    const char *s = *cursor;

    while (*s != '\0') {
        const char *end = strchr(s, sep);

        if (end == NULL)
            end = s + strlen(s);
        *item = s;
        *n = (size_t)(end - s);
        s = *end == sep ? end + 1 : end;
        txt_trim(item, n);
        if (*n > 0) {
            *cursor = s;
            return true;
        }
    }
    *cursor = s;
    return false;
}

const char *
txt_quote(char buf[TXT_QUOTE_BUF], const char *s, size_t n)
{
    size_t m = n > TXT_QUOTE_MAX ? TXT_QUOTE_MAX : n;

    for (size_t i = 0; i < m; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = (c < 0x20 || c >= 0x7f || c == '"') ? '?' : (char)c;
    }
    if (m < n)
        memcpy(buf + m, "...", 4);
    else
        buf[m] = '\0';
    return buf;
}

void
txt_put(struct txt_buf *w, const char *s, size_t n)
{
    if (w->pos + 1 < w->len) {
        size_t room = w->len - 1 - w->pos;
        memcpy(w->buf + w->pos, s, n < room ? n : room);
    }
    w->pos += n;
}

void
txt_put_pct(struct txt_buf *w, const char *s, const char *keep)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (txt_is_alnum(*s) || strchr(keep, *s) != NULL) {
            txt_put(w, s, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            txt_put(w, e, 3);
        }
    }
}

void
txt_puts(struct txt_buf *w, const char *s)
{
    txt_put(w, s, strlen(s));
}

void
txt_put_u64(struct txt_buf *w, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);

    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    txt_put(w, tmp + i, sizeof(tmp) - i);
}

size_t
txt_finish(struct txt_buf *w)
{
    if (w->len > 0)
        w->buf[w->pos < w->len ? w->pos : w->len - 1] = '\0';
    return w->pos;
}
