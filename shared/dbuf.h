/*
 * dbuf.h: a growable byte buffer with a hard maximum (curl's dynbuf idea).
 * The contents are always followed by a NUL so they can be used as a string.
 */
#ifndef ISN_DBUF_H
#define ISN_DBUF_H

#include <stdarg.h>
#include <stddef.h>

#include "compat.h"

struct dbuf {
	char	*data;
	size_t	 len;
	size_t	 cap;
	size_t	 max;	/* adds that would pass this fail */
};

void	 dbuf_init(struct dbuf *, size_t max);
void	 dbuf_free(struct dbuf *);
void	 dbuf_reset(struct dbuf *);
int	 dbuf_add(struct dbuf *, const void *, size_t);
int	 dbuf_addstr(struct dbuf *, const char *);
int	 dbuf_addc(struct dbuf *, char);
int	 dbuf_printf(struct dbuf *, const char *, ...) printflike(2, 3);
int	 dbuf_vprintf(struct dbuf *, const char *, va_list) printflike(2, 0);
const char *dbuf_str(const struct dbuf *);
/* Hand the contents to the caller (who frees them); the buffer is emptied. */
char	*dbuf_take(struct dbuf *, size_t *lenp);

#endif
