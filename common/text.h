/*
 * Scanning and printing of the small `NAME...:VALUE;...` texts that resources,
 * attributes and similar settings use. Pure functions on the caller's memory:
 * nothing here allocates, keeps state or fails.
 *
 * Scanning works on (pointer, length) slices of the input, never copies it
 * and never writes to it. Printing goes through a `struct txt_buf`, which
 * behaves like snprintf: it writes what fits (always NUL-terminated once
 * txt_finish ran, when the buffer has room for the NUL) and counts the full
 * length, so a caller can size a buffer with a first pass over NULL, 0.
 */
#ifndef AGORA_TEXT_H
#define AGORA_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TXT_QUOTE_MAX 48                   /* input characters quoted in an error message */
#define TXT_QUOTE_BUF (TXT_QUOTE_MAX + 4) /* room for those, "..." and the NUL */

/* The whitespace the texts may hold around tokens: space, tab, CR, LF. */
static inline bool
txt_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline bool
txt_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* ASCII letters and digits. */
static inline bool
txt_is_alnum(char c)
{
    return txt_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Narrows the slice `*s`, `*n` to leave out leading and trailing whitespace. */
void txt_trim(const char **s, size_t *n);

/*
 * Steps through the items of the NUL-terminated text at `*cursor`, separated
 * by `sep`. Returns true with the next item, trimmed and not empty, in
 * `*item`, `*n`, and `*cursor` moved past it and its separator; returns false
 * when no such item is left. Empty items ("a;;b", "a; ;") are skipped.
 */
bool txt_next_item(const char **cursor, char sep, const char **item, size_t *n);

/*
 * Copies up to TXT_QUOTE_MAX bytes of `s`, `n` into `buf` for an error message
 * (to be put between double quotes): unprintable bytes and '"' become '?', and
 * "..." marks a longer input. Returns `buf`, NUL-terminated.
 */
const char *txt_quote(char buf[TXT_QUOTE_BUF], const char *s, size_t n);

/* A bounded output buffer: `buf` of `len` bytes (NULL, 0 to only count);
 * `pos` is the length of the full text so far. */
struct txt_buf {
    char *buf;
    size_t len;
    size_t pos;
};

/* Appends the `n` bytes at `s` (what fits) and counts them all. */
void txt_put(struct txt_buf *w, const char *s, size_t n);

/* Appends the NUL-terminated `s`. */
void txt_puts(struct txt_buf *w, const char *s);

/* Appends `v` in decimal. */
void txt_put_u64(struct txt_buf *w, uint64_t v);

/* Appends `s` percent-encoded (RFC 3986: "%2F"): every byte but ASCII letters,
 * digits and those in `keep` (e.g. "-._~" for URL path segments, "-._~/" for
 * whole paths). */
void txt_put_pct(struct txt_buf *w, const char *s, const char *keep);

/* Terminates the text (truncated when it did not fit). Returns w->pos, the
 * length of the full text without the NUL, as snprintf does. */
size_t txt_finish(struct txt_buf *w);

#endif
