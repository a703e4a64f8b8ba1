/*
 * The daemons' out-of-memory policy: an allocation that fails ends the
 * process at once (a message on stderr, then abort(), so that a core shows
 * where), rather than every caller checking for NULL and unwinding. Used by
 * agora-master, agora-agent, agora-services and the plugin host. The public
 * scheduler library (framework/include/agora) does not use it: it returns
 * -AG_ENOMEM to its caller instead.
 *
 * Each returns memory that is never NULL. A size of 0 is taken as 1 (so the
 * result is always a distinct pointer the caller frees). xstrdup(NULL)
 * returns a copy of "".
 */
#ifndef AGORA_XALLOC_H
#define AGORA_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);

/* Ends the process for an allocation of `size` bytes that failed (for
 * allocations made by other libraries: json_pack, hmap_put, asprintf, ...;
 * `size` 0 when unknown). */
_Noreturn void xalloc_die(size_t size);

#endif
