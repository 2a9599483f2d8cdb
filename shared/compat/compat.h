/* compat.h: replacements for functions glibc 2.36 lacks. */
#ifndef ISN_COMPAT_H
#define ISN_COMPAT_H

#include <stddef.h>

#ifndef HAVE_STRLCPY
size_t	strlcpy(char *, const char *, size_t);
#endif
#ifndef HAVE_STRLCAT
size_t	strlcat(char *, const char *, size_t);
#endif

#ifndef __dead
#define __dead __attribute__((__noreturn__))
#endif
#ifndef printflike
#define printflike(a, b) __attribute__((__format__(__printf__, a, b)))
#endif

#endif
