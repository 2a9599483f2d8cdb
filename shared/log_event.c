/*
 * log_event.c: libevent's own messages into our log (log.h). Apart from
 * log.c so that a program or library without libevent (libisnphr) can
 * use the log.
 */
#include "config.h"

#include <event2/event.h>

#include "log.h"

static void
log_libevent_cb(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent %s", msg);
		break;
	default:
		log_warnx("libevent %s", msg);
		break;
	}
}

void
log_libevent(void)
{
	event_set_log_callback(log_libevent_cb);
}
