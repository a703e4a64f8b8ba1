/*
 * Text scanning and bounded printing for the `NAME:VALUE;...` syntaxes
 * (resources, attributes).
 */
#include "text.h"

#include <stdint.h>
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

const char *
txt_utf8_problem(const char *text, size_t n)
{
    const uint8_t *s = (const uint8_t *)text;
    const uint64_t lo = 0x0101010101010101ull, hi = 0x8080808080808080ull;
    size_t i = 0;
    while (i < n) {
        uint64_t w;
        if (n - i >= 8) {
            /* eight ASCII bytes, none of them NUL, at once */
            memcpy(&w, s + i, 8);
            if (!(w & hi) && !((w - lo) & ~w & hi)) {
                i += 8;
                continue;
            }
        }
        uint8_t c = s[i];
        if (c == 0)
            return "contains a NUL byte";
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return "is not valid UTF-8";
        }
        if (n - i < len)
            return "is not valid UTF-8";
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return "is not valid UTF-8";
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return "is not valid UTF-8";
        i += len;
    }
    return NULL;
}
