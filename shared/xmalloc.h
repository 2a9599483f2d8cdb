/* xmalloc.h: allocation that never fails (it exits through fatal instead). */
#ifndef ISN_XMALLOC_H
#define ISN_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

#include "compat.h"

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
void	*xmemdup(const void *, size_t);
int	 xasprintf(char **, const char *, ...) printflike(2, 3);
int	 xvasprintf(char **, const char *, va_list) printflike(2, 0);
void	 xcause(char **, const char *, ...) printflike(2, 3);
void	 xvcause(char **, const char *, va_list) printflike(2, 0);
void	 freezero(void *, size_t);
char	*xstrzero(char *);

#endif
