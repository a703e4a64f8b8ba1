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

/* The password of a URI's userinfo: [*pw, *end), or false when it has none.
 * *auth_end is where its authority ends (the path, query or fragment start). */
static bool
uri_password(const char *s, const char **pw, const char **end, const char **auth_end)
{
    const char *scheme = strstr(s, "://"), *p, *at = NULL;

    if (scheme == NULL)
        return false;
    /* The authority ends at the first '/', '?' or '#'; its userinfo at its last '@'. */
    for (p = scheme + 3; *p && *p != '/' && *p != '?' && *p != '#'; p++)
        if (*p == '@')
            at = p;
    *auth_end = p;
    *pw = NULL;
    for (p = scheme + 3; at != NULL && p < at; p++)
        if (*p == ':') {
            *pw = p + 1;
            *end = at;
            break;
        }
    return true;
}

size_t
txt_redact_uri(const char *s, char *buf, size_t len)
{
    struct txt_buf w = {buf, len, 0};
    const char *pw, *pw_end, *p, *end;

    if (!uri_password(s, &pw, &pw_end, &p)) {
        txt_puts(&w, s);
        return txt_finish(&w);
    }
    if (pw != NULL) {
        txt_put(&w, s, (size_t)(pw - 1 - s));
        txt_put(&w, pw_end, (size_t)(p - pw_end));
    } else {
        txt_put(&w, s, (size_t)(p - s));
    }
    /* The path, then the query's parameters with each password's value hidden. */
    end = p + strcspn(p, "?#");
    txt_put(&w, p, (size_t)(end - p));
    p = end;
    while (*p == '?' || *p == '&') {
        txt_put(&w, p, 1);
        p++;
        end = p + strcspn(p, "&#");
        if (strncmp(p, "password=", 9) == 0)
            txt_puts(&w, "password=***");
        else
            txt_put(&w, p, (size_t)(end - p));
        p = end;
    }
    txt_puts(&w, p);
    return txt_finish(&w);
}

bool
txt_mask_uri(char *s)
{
    const char *pw, *pw_end, *auth_end;
    bool masked = false;
    char *p;

    if (!uri_password(s, &pw, &pw_end, &auth_end))
        return false;
    if (pw != NULL && pw < pw_end) {
        memset(s + (pw - s), '*', (size_t)(pw_end - pw));
        masked = true;
    }
    p = s + (auth_end - s);
    p += strcspn(p, "?#");
    while (*p == '?' || *p == '&') {
        size_t n;

        p++;
        n = strcspn(p, "&#");
        if (strncmp(p, "password=", 9) == 0 && n > 9) {
            memset(p + 9, '*', n - 9);
            masked = true;
        }
        p += n;
    }
    return masked;
}
