/* dbuf.c: bounded growable buffers. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "xmalloc.h"

void
dbuf_init(struct dbuf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void
dbuf_free(struct dbuf *b)
{
	free(b->data);
	dbuf_init(b, b->max);
}

void
dbuf_reset(struct dbuf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

/* Make room for n more bytes plus the NUL; -1 if that passes the maximum. */
static int
dbuf_grow(struct dbuf *b, size_t n)
{
	size_t	need, cap;

	if (n > b->max || b->len > b->max - n)
		return (-1);
	need = b->len + n + 1;
	if (need <= b->cap)
		return (0);
	cap = b->cap == 0 ? 64 : b->cap;
	while (cap < need)
		cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
	b->data = xreallocarray(b->data, 1, cap);
	b->cap = cap;
	return (0);
}

int
dbuf_add(struct dbuf *b, const void *p, size_t n)
{
	if (dbuf_grow(b, n) == -1)
		return (-1);
	if (n != 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return (0);
}

int
dbuf_addstr(struct dbuf *b, const char *s)
{
	return (dbuf_add(b, s, strlen(s)));
}

int
dbuf_addc(struct dbuf *b, char c)
{
	return (dbuf_add(b, &c, 1));
}

int
dbuf_vprintf(struct dbuf *b, const char *fmt, va_list ap)
{
	va_list	 ap2;
	int	 n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || dbuf_grow(b, (size_t)n) == -1)
		return (-1);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return (0);
}

int
dbuf_printf(struct dbuf *b, const char *fmt, ...)
{
	va_list	ap;
	int	r;

	va_start(ap, fmt);
	r = dbuf_vprintf(b, fmt, ap);
	va_end(ap);
	return (r);
}

const char *
dbuf_str(const struct dbuf *b)
{
	return (b->data == NULL ? "" : b->data);
}

char *
dbuf_take(struct dbuf *b, size_t *lenp)
{
	char	*p;

	if (b->data == NULL) {
		dbuf_grow(b, 0);
		b->data[0] = '\0';
	}
	p = b->data;
	if (lenp != NULL)
		*lenp = b->len;
	dbuf_init(b, b->max);
	return (p);
}
