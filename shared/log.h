/*
 * log.h: key=value log lines to stderr (foreground) or syslog (daemon).
 * Never pass patient data: log ids, hashes and counts only.
 */
#ifndef ISN_LOG_H
#define ISN_LOG_H

#include <stdarg.h>
#include <syslog.h>

#include "compat.h"

/* Verbosity: 0 logs warnings and info, 1 adds debug (-v). */
void	log_init(int foreground, const char *ident, int facility);
void	log_setverbose(int);
int	log_getverbose(void);
/* Replace the destination (tests capture lines); NULL restores it. */
typedef void (*log_sink_cb)(int priority, const char *line, void *arg);
void	log_set_sink(log_sink_cb, void *);
/* Route libevent's own warnings into this log. */
void	log_libevent(void);

/* A random 16-hex-digit id naming a connection or job in log lines. */
#define LOG_ID_LEN	17
void	log_new_id(char id[LOG_ID_LEN]);

void	log_warn(const char *, ...) printflike(1, 2);
void	log_warnx(const char *, ...) printflike(1, 2);
void	log_info(const char *, ...) printflike(1, 2);
void	log_debug(const char *, ...) printflike(1, 2);
void	vlog(int, const char *, va_list) printflike(2, 0);
__dead void fatal(const char *, ...) printflike(1, 2);
__dead void fatalx(const char *, ...) printflike(1, 2);

#endif
