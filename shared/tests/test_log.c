/* test_log.c: log lines reach the sink with the right levels. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "log.h"
#include "tap.h"

static char	last[512];
static int	last_pri = -1, lines;

static void
sink(int pri, const char *line, void *arg)
{
	(void)arg;
	last_pri = pri;
	lines++;
	snprintf(last, sizeof(last), "%s", line);
}

int
main(void)
{
	log_set_sink(sink, NULL);
	log_info("conn=%d event=accepted", 7);
	is_str(last, "conn=7 event=accepted", "info line reaches the sink");
	is_int(last_pri, LOG_INFO, "info priority");
	log_debug("hidden");
	is_int(lines, 1, "debug is dropped unless verbose");
	log_setverbose(1);
	log_debug("shown");
	is_int(lines, 2, "debug is logged when verbose");
	errno = ENOENT;
	log_warn("open blob id=%s", "ab12");
	ok(strstr(last, "err=\"No such file or directory\"") != NULL,
	    "log_warn appends the errno text");
	is_int(last_pri, LOG_WARNING, "warn priority");
	return (tap_done());
}
