/* alloc: the project's one allocation-failure policy.
 *
 * Every buffer fed from outside has a hard cap (see buf.h), so an allocation can only fail when
 * the machine itself is out of memory. Then there is nothing sensible left to do for a server
 * process: we log the size and abort (the redis zmalloc policy) rather than half-handle NULL in
 * hundreds of places. */
#ifndef NOVA_ALLOC_H
#define NOVA_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
