/* log.c: logging in the OpenBSD style (log_warn/log_warnx/fatal). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "log.h"

static int		 log_foreground = 1;
static int		 log_verbose;
static const char	*log_ident = "isn";
static log_sink_cb	 log_sink;
static void		*log_sink_arg;

void
log_init(int foreground, const char *ident, int facility)
{
	log_foreground = foreground;
	log_ident = ident;
	if (!foreground)
		openlog(ident, LOG_PID | LOG_NDELAY, facility);
	tzset();
}

void
log_setverbose(int v)
{
	log_verbose = v;
}

int
log_getverbose(void)
{
	return (log_verbose);
}

void
log_set_sink(log_sink_cb cb, void *arg)
{
	log_sink = cb;
	log_sink_arg = arg;
}

static const char *
log_level_name(int pri)
{
	switch (pri) {
	case LOG_CRIT:
		return ("fatal");
	case LOG_ERR:
	case LOG_WARNING:
		return ("warn");
	case LOG_INFO:
		return ("info");
	default:
		return ("debug");
	}
}

void
vlog(int pri, const char *fmt, va_list ap)
{
	char		 line[2048], stamp[32];
	struct tm	 tm;
	time_t		 now;

	if (pri == LOG_DEBUG && !log_verbose)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (log_sink != NULL) {
		log_sink(pri, line, log_sink_arg);
		return;
	}
	if (!log_foreground) {
		syslog(pri, "%s", line);
		return;
	}
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s %s[%ld] %s %s\n", stamp, log_ident, (long)getpid(),
	    log_level_name(pri), line);
	fflush(stderr);
}

static void
log_emit(int pri, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(pri, fmt, ap);
	va_end(ap);
}

/* Log fmt with the errno text appended as an err= field. */
static void
vlog_errno(int pri, const char *fmt, va_list ap)
{
	char	 buf[2048];
	int	 saved = errno;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	log_emit(pri, "%s err=\"%s\"", buf, strerror(saved));
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog_errno(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog_errno(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Random ids, so that ids in two processes' logs do not collide. */
void
log_new_id(char id[LOG_ID_LEN])
{
	static unsigned long long	counter;
	unsigned char			r[8];
	unsigned long long		v = 0;
	size_t				i;

	if (RAND_bytes(r, sizeof(r)) == 1) {
		for (i = 0; i < sizeof(r); i++)
			v = (v << 8) | r[i];
	} else
		v = ++counter;
	snprintf(id, LOG_ID_LEN, "%016llx", v);
}
