#include "xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void
xalloc_die(size_t size)
{
    /* No log_error: the logger may itself need memory. */
    if (size > 0)
        fprintf(stderr, "agora: out of memory (allocating %zu bytes)\n", size);
    else
        fputs("agora: out of memory\n", stderr);
    abort();
}

void *
xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (p == NULL)
        xalloc_die(size);
    return p;
}

void *
xcalloc(size_t n, size_t size)
{
    void *p;

    if (n == 0 || size == 0)
        n = size = 1;
    p = calloc(n, size);
    if (p == NULL)
        xalloc_die(size > SIZE_MAX / n ? SIZE_MAX : n * size);
    return p;
}

void *
xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);

    if (q == NULL)
        xalloc_die(size);
    return q;
}

char *
xstrdup(const char *s)
{
    size_t n = strlen(s != NULL ? s : "") + 1;
    char *d = xmalloc(n);

    memcpy(d, s != NULL ? s : "", n);
    return d;
}
