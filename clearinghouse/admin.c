/*
 * admin.c: isn-clearinghouse -m, -l and -P (admin.h): the registry pool
 * and the reaper's statements on a private event loop, run to completion.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "admin.h"
#include "blob.h"
#include "ch.h"
#include "db.h"
#include "log.h"
#include "migrate.h"
#include "reaper.h"
#include "xmalloc.h"

#define ADMIN_PAGE	1000

struct admin {
	const struct ch_conf	*conf;
	struct event_base	*base;
	struct db		*db;
	struct blob_store	*bs;
	struct reaper		*reaper;
};

static void
admin_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
admin_err(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "%s: ", CH_NAME);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int
admin_migrate(const struct ch_conf *c, int *version)
{
	char	*cause = NULL;
	int	 applied = 0;

	if (migrate_run(c->database.conninfo, c->database.schema_dir,
	    &applied, version, &cause) == -1) {
		admin_err("database: %s", cause);
		free(cause);
		return (-1);
	}
	return (applied);
}

/* Migrations, then a pool of one connection with the statement timeout. */
static int
admin_open(struct admin *a, const struct ch_conf *c)
{
	struct db_settings	 ds;
	char			*cause = NULL;
	int			 version;

	memset(a, 0, sizeof(*a));
	a->conf = c;
	if (admin_migrate(c, &version) == -1)
		return (-1);
	if ((a->base = event_base_new()) == NULL) {
		admin_err("could not create the event base");
		return (-1);
	}
	memset(&ds, 0, sizeof(ds));
	ds.conninfo = c->database.conninfo;
	ds.pool_size = 1;
	ds.statement_timeout_ms = (int)(c->timeouts.database * 1000);
	if ((a->db = db_new(a->base, &ds, &cause)) == NULL) {
		admin_err("database: %s", cause);
		free(cause);
		return (-1);
	}
	return (0);
}

static void
admin_close(struct admin *a)
{
	reaper_free(a->reaper);		/* before db_free: see reaper.h */
	if (a->db != NULL)
		db_free(a->db);
	blob_store_close(a->bs);
	if (a->base != NULL)
		event_base_free(a->base);
}

/* Run the loop until *flag is set (db callbacks always come). */
static void
admin_wait(struct admin *a, const int *flag)
{
	while (!*flag)
		if (event_base_loop(a->base, EVLOOP_ONCE) == -1)
			fatalx("event loop failed");
}

int
ch_admin_migrate(const struct ch_conf *c)
{
	int	applied, version = 0;

	if ((applied = admin_migrate(c, &version)) == -1)
		return (1);
	printf("schema version %d (%d migration%s applied)\n", version,
	    applied, applied == 1 ? "" : "s");
	return (0);
}

static const char *
admin_time(time_t t, char *buf, size_t len)
{
	struct tm	tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
	return (buf);
}

struct list_state {
	int		 done;
	int		 rows;
	long long	 last;
	char		*cause;
};

static void
admin_list_cb(const struct reaper_set_info *e, const char *cause, void *arg)
{
	struct list_state	*ls = arg;
	char			 rec[32], exp[32];

	if (e == NULL) {
		if (cause != NULL)
			ls->cause = xstrdup(cause);
		ls->done = 1;
		return;
	}
	ls->rows++;
	ls->last = e->id;
	printf("%s %s %s %lld %lld %s\n", e->unique_id,
	    admin_time(e->received_at, rec, sizeof(rec)),
	    admin_time(e->expires_at, exp, sizeof(exp)), e->documents,
	    e->bytes, e->patient);
}

int
ch_admin_list(const struct ch_conf *c, int expired_only)
{
	struct admin		 a;
	struct list_state	 ls;
	long long		 after = 0;
	time_t			 now = time(NULL);
	int			 rc = 0;

	if (admin_open(&a, c) == -1) {
		admin_close(&a);
		return (1);
	}
	for (;;) {
		memset(&ls, 0, sizeof(ls));
		reaper_list(a.db, expired_only ? now : 0, after, ADMIN_PAGE,
		    admin_list_cb, &ls);
		admin_wait(&a, &ls.done);
		if (ls.cause != NULL) {
			admin_err("listing failed: %s", ls.cause);
			free(ls.cause);
			rc = 1;
			break;
		}
		if (ls.rows < ADMIN_PAGE)
			break;
		after = ls.last;
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		admin_err("could not write the listing");
		rc = 1;
	}
	admin_close(&a);
	return (rc);
}

/* A uniqueId as XDS has them: 1..256 printable ASCII, no space. */
static int
admin_uid_ok(const char *s)
{
	size_t	n = 0;

	for (; *s != '\0'; s++, n++)
		if (*s <= ' ' || *s > '~' || n >= 256)
			return (0);
	return (n > 0);
}

struct purge_state {
	int			 done;
	char			*cause;
	struct reaper_stats	 st;
};

static void
admin_purge_cb(const struct reaper_stats *st, const char *cause, void *arg)
{
	struct purge_state	*ps = arg;

	ps->st = *st;
	if (cause != NULL)
		ps->cause = xstrdup(cause);
	ps->done = 1;
}

int
ch_admin_purge(const struct ch_conf *c, const char *what)
{
	struct admin		 a;
	struct reaper_settings	 rs;
	struct purge_state	 ps;
	char			*cause = NULL;
	int			 expired, r, rc = 0;

	expired = strcmp(what, "expired") == 0;
	if (!expired && !admin_uid_ok(what)) {
		admin_err("not a submission set uniqueId or \"expired\"");
		return (1);
	}
	if (admin_open(&a, c) == -1) {
		admin_close(&a);
		return (1);
	}
	if ((a.bs = blob_store_open(c->blob_dir, &cause)) == NULL) {
		admin_err("blob store: %s", cause);
		free(cause);
		admin_close(&a);
		return (1);
	}
	/* The daemon's sweeper deals with orphans: rows and their blobs. */
	memset(&rs, 0, sizeof(rs));
	rs.interval_ms = 24 * 3600 * 1000;
	rs.batch = c->reaper.batch_size;
	rs.no_sweep = 1;
	if ((a.reaper = reaper_new(a.base, a.db, a.bs, &rs, &cause)) == NULL) {
		admin_err("%s", cause);
		free(cause);
		admin_close(&a);
		return (1);
	}
	memset(&ps, 0, sizeof(ps));
	r = expired ? reaper_purge_now(a.reaper, 0, admin_purge_cb, &ps,
	    &cause) : reaper_purge_set(a.reaper, what, admin_purge_cb, &ps,
	    &cause);
	if (r == -1) {
		admin_err("%s", cause);
		free(cause);
		admin_close(&a);
		return (1);
	}
	admin_wait(&a, &ps.done);
	if (ps.cause != NULL) {
		admin_err("purge failed after %llu set(s): %s",
		    (unsigned long long)ps.st.sets_deleted, ps.cause);
		free(ps.cause);
		rc = 1;
	} else if (!expired && ps.st.sets_deleted == 0) {
		admin_err("no submission set with uniqueId %s", what);
		rc = 1;
	}
	if (ps.st.sets_deleted != 0 || (expired && ps.cause == NULL))
		printf("purged sets=%llu documents=%llu blobs=%llu\n",
		    (unsigned long long)ps.st.sets_deleted,
		    (unsigned long long)ps.st.documents_deleted,
		    (unsigned long long)ps.st.blobs_removed);
	if (ps.st.blob_errors != 0) {
		admin_err("%llu blob(s) could not be removed: the daemon's "
		    "sweeper removes them later",
		    (unsigned long long)ps.st.blob_errors);
		rc = 1;
	}
	admin_close(&a);
	return (rc);
}
