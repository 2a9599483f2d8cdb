/*
 * tap.h: a small Test Anything Protocol emitter for the unit tests.
 * Each test program includes it once; the plan is printed by tap_done().
 */
#ifndef ISN_TAP_H
#define ISN_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count;
static int tap_failed;

static inline int
tap_okv(int pass, const char *file, int line, const char *fmt, va_list ap)
{
	tap_count++;
	printf("%sok %d - ", pass ? "" : "not ", tap_count);
	vprintf(fmt, ap);
	printf("\n");
	if (!pass) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return (pass);
}

static inline int __attribute__((__format__(__printf__, 4, 5)))
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list	ap;
	int	r;

	va_start(ap, fmt);
	r = tap_okv(pass, file, line, fmt, ap);
	va_end(ap);
	return (r);
}

static inline int __attribute__((__format__(__printf__, 5, 6)))
tap_is_str(const char *got, const char *want, const char *file, int line,
    const char *fmt, ...)
{
	va_list	ap;
	int	pass, r;

	pass = got != NULL && want != NULL ? strcmp(got, want) == 0 :
	    got == want;
	va_start(ap, fmt);
	r = tap_okv(pass, file, line, fmt, ap);
	va_end(ap);
	if (!pass)
		printf("#        got: \"%s\"\n#   expected: \"%s\"\n",
		    got ? got : "(null)", want ? want : "(null)");
	return (r);
}

static inline int __attribute__((__format__(__printf__, 5, 6)))
tap_is_int(long long got, long long want, const char *file, int line,
    const char *fmt, ...)
{
	va_list	ap;
	int	r;

	va_start(ap, fmt);
	r = tap_okv(got == want, file, line, fmt, ap);
	va_end(ap);
	if (got != want)
		printf("#        got: %lld\n#   expected: %lld\n", got, want);
	return (r);
}

#define ok(cond, ...)		tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(g, w, ...)	tap_is_str((g), (w), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(g, w, ...)	tap_is_int((g), (w), __FILE__, __LINE__, __VA_ARGS__)

static inline void
tap_diag(const char *fmt, ...)
{
	va_list	ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Skip n test points with a reason (for instance ../shared absent). */
static inline void
tap_skip(int n, const char *why)
{
	while (n-- > 0)
		printf("ok %d # SKIP %s\n", ++tap_count, why);
}

static inline int
tap_done(void)
{
	printf("1..%d\n", tap_count);
	return (tap_failed == 0 ? 0 : 1);
}

/*
 * Read a whole file into a malloc'd buffer with a NUL after the data;
 * NULL if it cannot be read. *lenp, when lenp is not NULL, is the length.
 */
static inline char *
tap_slurp(const char *path, size_t *lenp)
{
	FILE	*f;
	char	*buf, *nbuf;
	size_t	 len = 0, size = 4096, n;

	if ((f = fopen(path, "rb")) == NULL)
		return (NULL);
	if ((buf = malloc(size)) == NULL) {
		fclose(f);
		return (NULL);
	}
	for (;;) {
		n = fread(buf + len, 1, size - len - 1, f);
		len += n;
		if (len < size - 1)
			break;
		if (size > ((size_t)-1) / 2 ||
		    (nbuf = realloc(buf, size * 2)) == NULL) {
			free(buf);
			fclose(f);
			return (NULL);
		}
		buf = nbuf;
		size *= 2;
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		return (NULL);
	}
	fclose(f);
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return (buf);
}

/*
 * Paths for test data: the source tree (top_srcdir, set by make check)
 * and the network's shared folder beside it (../shared), which may be absent.
 */
static inline const char *
tap_srcdir(void)
{
	const char *s = getenv("top_srcdir");

	return (s != NULL && *s != '\0' ? s : ".");
}

/* Returns the shared/ folder beside the repository, or NULL when absent. */
static inline const char *
tap_shareddir(void)
{
	static char	 path[4096];
	const char	*env = getenv("ISN_SHARED");
	FILE		*f;
	char		 probe[4200];

	if (env != NULL && *env != '\0')
		snprintf(path, sizeof(path), "%s", env);
	else
		snprintf(path, sizeof(path), "%s/../shared", tap_srcdir());
	snprintf(probe, sizeof(probe), "%s/design/PROFILE.md", path);
	if ((f = fopen(probe, "r")) == NULL)
		return (NULL);
	fclose(f);
	return (path);
}

#endif
