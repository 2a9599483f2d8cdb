/* xmalloc.c: allocation wrappers in the OpenSSH/tmux style. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xmalloc.h"

void *
xmalloc(size_t size)
{
	void	*p;

	if (size == 0)
		fatalx("xmalloc: zero size");
	if ((p = malloc(size)) == NULL)
		fatalx("xmalloc: out of memory (allocating %zu bytes)", size);
	return (p);
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void	*p;

	if (nmemb == 0 || size == 0)
		fatalx("xcalloc: zero size");
	if ((p = calloc(nmemb, size)) == NULL)
		fatalx("xcalloc: out of memory (allocating %zu * %zu bytes)",
		    nmemb, size);
	return (p);
}

void *
xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	void	*p;

	if (nmemb == 0 || size == 0)
		fatalx("xreallocarray: zero size");
	if ((p = reallocarray(ptr, nmemb, size)) == NULL)
		fatalx("xreallocarray: out of memory (%zu * %zu bytes)",
		    nmemb, size);
	return (p);
}

char *
xstrdup(const char *s)
{
	return (xmemdup(s, strlen(s) + 1));
}

/* Copy at most n bytes of s and terminate the copy. */
char *
xstrndup(const char *s, size_t n)
{
	size_t	 len = strnlen(s, n);
	char	*p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return (p);
}

void *
xmemdup(const void *src, size_t len)
{
	void	*p = xmalloc(len == 0 ? 1 : len);

	memcpy(p, src, len);
	return (p);
}

int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	ap;
	int	i;

	va_start(ap, fmt);
	i = xvasprintf(ret, fmt, ap);
	va_end(ap);
	return (i);
}

int
xvasprintf(char **ret, const char *fmt, va_list ap)
{
	int	i;

	i = vasprintf(ret, fmt, ap);
	if (i == -1)
		fatalx("xvasprintf: out of memory");
	return (i);
}

/* Set *cause for a caller that wants one; cause may be NULL. */
void
xcause(char **cause, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	xvcause(cause, fmt, ap);
	va_end(ap);
}

/* Set *cause from a va_list for a caller that wants one; cause may be NULL. */
void
xvcause(char **cause, const char *fmt, va_list ap)
{
	if (cause != NULL)
		xvasprintf(cause, fmt, ap);
}

/* Wipe, then free: for buffers that held secrets. */
void
freezero(void *p, size_t len)
{
	if (p == NULL)
		return;
	explicit_bzero(p, len);
	free(p);
}

/* Wipe and free a NUL-terminated secret; returns NULL for assignment. */
char *
xstrzero(char *s)
{
	if (s != NULL)
		freezero(s, strlen(s));
	return (NULL);
}
