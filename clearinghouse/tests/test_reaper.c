/*
 * test_reaper.c: retention runs and the sweeper glue (reaper.c) against a
 * throwaway PostgreSQL started by test_reaper.sh (tests/pg.sh), which
 * passes ISN_PG_CONNINFO.  Without it the test skips.  Setup and checks
 * use a blocking libpq connection (tests only); the reaper runs on the
 * asynchronous pool.
 */
#include <sys/types.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "blob.h"
#include "db.h"
#include "log.h"
#include "migrate.h"
#include "reaper.h"
#include "tap.h"
#include "xmalloc.h"

#define APPROVED	"urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
#define STABLE		"urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
#define T0		((time_t)2000000000)	/* the fake "now" */
#define NEXPIRED	5
#define NLIVE		3
#define NDOCS		2

static struct event_base	*base;
static PGconn			*pg;
static struct blob_store	*bs;
static char			 blobs[NEXPIRED + NLIVE][NDOCS][BLOB_ID_LEN + 1];
static char			 orphan[BLOB_ID_LEN + 1];
static const char		*storedir;

static time_t
fake_clock(void *arg)
{
	(void)arg;
	return (T0);
}

static void
tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static long long
sql_ll(const char *sql)
{
	PGresult	*res = PQexec(pg, sql);
	long long	 v = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	else
		tap_diag("%s: %s", sql, PQresultErrorMessage(res));
	PQclear(res);
	return (v);
}

static int
sql_exec(const char *sql, int n, const char *const *values)
{
	PGresult	*res = PQexecParams(pg, sql, n, NULL, values, NULL,
			    NULL, 0);
	int		 rc = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK) {
		tap_diag("%s: %s", sql, PQresultErrorMessage(res));
		rc = -1;
	}
	PQclear(res);
	return (rc);
}

static int
put_blob(const char *content, char id[BLOB_ID_LEN + 1])
{
	struct blob_writer	*w;
	struct blob_info	 info;
	char			*cause = NULL;

	if ((w = blob_write_begin(bs, &cause)) == NULL ||
	    blob_write(w, content, strlen(content), &cause) == -1 ||
	    blob_write_commit(w, id, &info, &cause) == -1) {
		tap_diag("blob: %s", cause);
		free(cause);
		return (-1);
	}
	return (0);
}

static int
blob_exists(const char *id)
{
	uint64_t	 size;
	char		*cause = NULL;
	int		 fd;

	if ((fd = blob_open(bs, id, &size, &cause)) == -1) {
		free(cause);
		return (0);
	}
	close(fd);
	return (1);
}

/* Sets 0..NEXPIRED-1 expired (oldest first), the rest one day ahead. */
static int
populate(void)
{
	char		 sid[32], exp[32], rec[32], uid[64], duid[64], euuid[64];
	char		 content[64], size[16];
	const char	*v[8];
	int		 i, j;

	if (sql_exec("INSERT INTO patients (pid, domain_oid) VALUES "
	    "('RSNA1', '1.2.3')", 0, NULL) == -1)
		return (-1);
	for (i = 0; i < NEXPIRED + NLIVE; i++) {
		snprintf(exp, sizeof(exp), "%lld", (long long)(i < NEXPIRED ?
		    T0 - (NEXPIRED - i) * 3600 : T0 + 86400));
		snprintf(rec, sizeof(rec), "%lld", (long long)(T0 - 40 * 86400));
		snprintf(uid, sizeof(uid), "1.2.3.%d", i);
		snprintf(euuid, sizeof(euuid), "urn:uuid:ss-%d", i);
		v[0] = euuid; v[1] = uid; v[2] = rec; v[3] = exp;
		if (sql_exec("INSERT INTO submission_sets (entry_uuid, "
		    "unique_id, source_id, patient_id, status, "
		    "submission_time, ebrim, received_at, expires_at) VALUES "
		    "($1, $2, '1.2.3.100', (SELECT id FROM patients), '"
		    APPROVED "', '20330518000000', '<x/>', to_timestamp($3), "
		    "to_timestamp($4))", 4, v) == -1)
			return (-1);
		snprintf(sid, sizeof(sid), "%lld", sql_ll("SELECT max(id) FROM "
		    "submission_sets"));
		for (j = 0; j < NDOCS; j++) {
			snprintf(content, sizeof(content), "document %d.%d",
			    i, j);
			if (put_blob(content, blobs[i][j]) == -1)
				return (-1);
			snprintf(duid, sizeof(duid), "1.2.3.%d.%d", i, j);
			snprintf(euuid, sizeof(euuid), "urn:uuid:doc-%d-%d",
			    i, j);
			snprintf(size, sizeof(size), "%zu", strlen(content));
			v[0] = euuid; v[1] = duid; v[2] = sid;
			v[3] = blobs[i][j]; v[4] = size;
			if (sql_exec("INSERT INTO documents (entry_uuid, "
			    "unique_id, repository_unique_id, "
			    "submission_set_id, patient_id, status, "
			    "object_type, mime_type, blob_id, size, ebrim) "
			    "VALUES ($1, $2, '1.2.3.200', $3, (SELECT id FROM "
			    "patients), '" APPROVED "', '" STABLE "', "
			    "'text/plain', $4, $5, '<x/>')", 5, v) == -1)
				return (-1);
		}
	}
	return (put_blob("nobody names me", orphan));
}

static void
wait_for(volatile int *flag)
{
	while (!*flag)
		event_base_loop(base, EVLOOP_ONCE);
}

struct done {
	int			 done;
	int			 failed;
	struct reaper_stats	 st;
};

static void
done_cb(const struct reaper_stats *st, const char *cause, void *arg)
{
	struct done	*d = arg;

	d->done = 1;
	d->failed = cause != NULL;
	if (cause != NULL)
		tap_diag("run failed: %s", cause);
	d->st = *st;
}

struct list {
	int	 done;
	int	 rows;
	int	 failed;
	long long docs;
	long long bytes;
	long long last;
	char	 first[64];
	char	 patient[16];
};

static void
list_cb(const struct reaper_set_info *e, const char *cause, void *arg)
{
	struct list	*l = arg;

	if (e == NULL) {
		l->done = 1;
		l->failed = cause != NULL;
		if (cause != NULL)
			tap_diag("list: %s", cause);
		return;
	}
	if (l->rows++ == 0) {
		snprintf(l->first, sizeof(l->first), "%s", e->unique_id);
		snprintf(l->patient, sizeof(l->patient), "%s", e->patient);
	}
	l->docs += e->documents;
	l->bytes += e->bytes;
	l->last = e->id;
}

static void
test_reaper(struct db *db)
{
	struct reaper_settings	 set;
	struct reaper_stats	 st;
	struct reaper		*r;
	struct done		 d;
	struct list		 l;
	char			*cause = NULL;
	int			 i, j, gone, kept;

	/* Run 1, from the timer: 2 batches of 2, orphan still young. */
	memset(&set, 0, sizeof(set));
	set.interval_ms = 10;
	set.batch = 2;
	set.max_batches = 2;
	set.sweep_grace = 3600;
	set.clock = fake_clock;
	r = reaper_new(base, db, bs, &set, &cause);
	ok(r != NULL, "reaper_new");
	memset(&st, 0, sizeof(st));
	while (st.runs == 0) {
		event_base_loop(base, EVLOOP_ONCE);
		reaper_stats(r, &st);
	}
	reaper_free(r);
	is_int((int)st.errors, 0, "timer run: no error");
	is_int((int)st.batches, 2, "timer run: max_batches bounds the run");
	is_int((int)st.sets_deleted, 4, "timer run: 4 sets deleted");
	is_int((int)st.documents_deleted, 8, "timer run: 8 documents deleted");
	is_int((int)st.blobs_removed, 8, "timer run: their 8 blobs removed");
	is_int((int)st.sweep_young, (NLIVE + 1) * NDOCS + 1,
	    "timer run: sweep keeps blobs younger than the grace");
	is_int((int)st.sweep_removed, 0, "timer run: nothing swept");
	is_int((int)sql_ll("SELECT count(*) FROM submission_sets"),
	    NEXPIRED + NLIVE - 4, "timer run: 4 sets left the database");
	is_int((int)sql_ll("SELECT count(*) FROM submission_sets WHERE "
	    "unique_id = '1.2.3.4'"), 1, "timer run: the newest expired set "
	    "waits for the next run (oldest first)");

	/* Listing (admin). */
	memset(&l, 0, sizeof(l));
	reaper_list(db, T0 + 2 * 86400, 0, 0, list_cb, &l);
	wait_for(&l.done);
	ok(!l.failed && l.rows == 1 + NLIVE && l.docs == (1 + NLIVE) * NDOCS &&
	    strcmp(l.first, "1.2.3.4") == 0 && l.bytes == (1 + NLIVE) * NDOCS *
	    (long long)strlen("document 0.0"),
	    "list: rows, oldest first, document counts and bytes");
	/* printf 'RSNA1^^^&1.2.3&ISO' | sha256sum | cut -c1-12 */
	ok(strcmp(l.patient, "ffdf719a3f06") == 0,
	    "list: the patient as 12 hex of SHA-256 of its CX (%s)",
	    l.patient);
	memset(&l, 0, sizeof(l));
	reaper_list(db, T0, 0, 0, list_cb, &l);
	wait_for(&l.done);
	ok(!l.failed && l.rows == 1 && strcmp(l.first, "1.2.3.4") == 0,
	    "list: only the expired set before the clock");
	memset(&l, 0, sizeof(l));
	reaper_list(db, 0, 0, 2, list_cb, &l);
	wait_for(&l.done);
	{
		long long	after = l.last;
		int		first_rows = l.rows;

		memset(&l, 0, sizeof(l));
		reaper_list(db, 0, after, 2, list_cb, &l);
		wait_for(&l.done);
		ok(first_rows == 2 && !l.failed && l.rows == 2 &&
		    strcmp(l.first, "1.2.3.6") == 0,
		    "list: every set, in pages of 2 from the row id cursor");
	}

	/* Run 2, purge now, grace 0: the last expired set and the orphan. */
	set.interval_ms = 3600 * 1000;
	set.sweep_grace = 0;
	set.max_batches = 1;
	r = reaper_new(base, db, bs, &set, &cause);
	memset(&d, 0, sizeof(d));
	ok(reaper_purge_now(r, 0, done_cb, &d, &cause) == 0, "purge_now");
	ok(reaper_purge_now(r, 0, done_cb, &d, &cause) == -1 &&
	    cause != NULL, "purge_now refuses a second run in flight");
	free(cause);
	cause = NULL;
	wait_for(&d.done);
	ok(!d.failed, "purge: no error");
	is_int((int)d.st.sets_deleted, 1, "purge: the last expired set");
	is_int((int)d.st.blobs_removed, NDOCS, "purge: its blobs");
	is_int((int)d.st.sweep_removed, 1, "sweep: the orphan removed");
	is_int((int)d.st.sweep_referenced, NLIVE * NDOCS,
	    "sweep: referenced blobs kept");
	is_int((int)d.st.sweep_passes, 1, "sweep: one whole pass");
	ok(!blob_exists(orphan), "orphan blob gone");
	gone = kept = 0;
	for (i = 0; i < NEXPIRED + NLIVE; i++)
		for (j = 0; j < NDOCS; j++) {
			if (i < NEXPIRED && !blob_exists(blobs[i][j]))
				gone++;
			if (i >= NEXPIRED && blob_exists(blobs[i][j]))
				kept++;
		}
	is_int(gone, NEXPIRED * NDOCS, "every expired blob removed");
	is_int(kept, NLIVE * NDOCS, "every live blob kept");
	is_int((int)sql_ll("SELECT count(*) FROM submission_sets WHERE "
	    "expires_at <= to_timestamp(2000000000)"), 0,
	    "no expired set left");
	is_int((int)sql_ll("SELECT count(*) FROM submission_sets"), NLIVE,
	    "live sets left alone");
	is_int((int)sql_ll("SELECT count(*) FROM documents d JOIN "
	    "submission_sets s ON s.id = d.submission_set_id WHERE "
	    "d.patient_id = (SELECT id FROM patients) AND d.status = '"
	    APPROVED "' AND d.unique_id IN ('1.2.3.0.0', '1.2.3.4.1')"), 0,
	    "a FindDocuments-like query finds no expired document");
	is_int((int)sql_ll("SELECT count(*) FROM documents"), NLIVE * NDOCS,
	    "documents of live sets remain");
	is_int((int)sql_ll("SELECT count(*) FROM patients"), 1,
	    "patients are not reaped");
	reaper_stats(r, &st);
	is_int((int)st.runs, 1, "cumulative stats count the purge run");

	/* Nothing left: a second purge is a no-op. */
	memset(&d, 0, sizeof(d));
	reaper_purge_now(r, 0, done_cb, &d, &cause);
	wait_for(&d.done);
	ok(!d.failed && d.st.sets_deleted == 0 && d.st.sweep_removed == 0 &&
	    d.st.sweep_referenced == NLIVE * NDOCS, "idempotent second purge");

	/* One live set by uniqueId: its rows and blobs, nothing else. */
	memset(&d, 0, sizeof(d));
	ok(reaper_purge_set(r, "1.2.3.5", done_cb, &d, &cause) == 0,
	    "purge_set");
	wait_for(&d.done);
	ok(!d.failed && d.st.sets_deleted == 1 && d.st.documents_deleted ==
	    NDOCS && d.st.blobs_removed == NDOCS && d.st.sweep_steps == 0,
	    "purge_set: one set, its documents and blobs, no sweep");
	ok(!blob_exists(blobs[5][0]) && !blob_exists(blobs[5][1]) &&
	    blob_exists(blobs[6][0]) && sql_ll("SELECT count(*) FROM "
	    "submission_sets WHERE unique_id = '1.2.3.5'") == 0 &&
	    sql_ll("SELECT count(*) FROM submission_sets") == NLIVE - 1,
	    "purge_set: the others are kept");
	memset(&d, 0, sizeof(d));
	reaper_purge_set(r, "1.2.3.5", done_cb, &d, &cause);
	wait_for(&d.done);
	ok(!d.failed && d.st.sets_deleted == 0,
	    "purge_set of an unknown uniqueId deletes nothing");

	/* Purge with an explicit cutoff ahead of the clock. */
	memset(&d, 0, sizeof(d));
	reaper_purge_now(r, T0 + 2 * 86400, done_cb, &d, &cause);
	wait_for(&d.done);
	ok(!d.failed && d.st.sets_deleted == NLIVE - 1 &&
	    d.st.blobs_removed == (NLIVE - 1) * NDOCS,
	    "purge before a later date takes the rest");

	/* Sweep in steps of one entry: 3 orphans and a stale temp file. */
	reaper_free(r);
	set.sweep_limit = 1;
	r = reaper_new(base, db, bs, &set, &cause);
	{
		char	 ids[3][BLOB_ID_LEN + 1], path[4300];
		FILE	*f;
		int	 steps = 0;

		for (i = 0; i < 3; i++)
			put_blob("orphan", ids[i]);
		snprintf(path, sizeof(path), "%s/tmp/"
		    "0123456789abcdef0123456789abcdef", storedir);
		if ((f = fopen(path, "w")) != NULL)
			fclose(f);
		do {
			memset(&d, 0, sizeof(d));
			reaper_purge_now(r, 0, done_cb, &d, &cause);
			wait_for(&d.done);
			steps++;
		} while (!d.failed && d.st.sweep_passes == 0 && steps < 20);
		reaper_stats(r, &st);
		ok(steps == 4 || steps == 5, "sweep_limit 1: a pass in %d steps",
		    steps);
		ok(st.sweep_removed == 3 && st.sweep_tmp_removed == 1 &&
		    st.sweep_steps == (uint64_t)steps && st.errors == 0,
		    "stepwise sweep removes the orphans and the stale temp "
		    "file (removed %d, tmp %d)", (int)st.sweep_removed,
		    (int)st.sweep_tmp_removed);
		ok(!blob_exists(ids[0]) && !blob_exists(ids[2]) &&
		    access(path, F_OK) == -1, "orphans and temp file gone");
	}

	/* Temp files and committed blobs have their own grace. */
	reaper_free(r);
	set.sweep_limit = 0;
	set.sweep_grace = 3600;
	set.tmp_grace = -1;
	r = reaper_new(base, db, bs, &set, &cause);
	{
		char	 id[BLOB_ID_LEN + 1], path[4300];
		FILE	*f;

		put_blob("a fresh orphan", id);
		snprintf(path, sizeof(path), "%s/tmp/"
		    "fedcba9876543210fedcba9876543210", storedir);
		if ((f = fopen(path, "w")) != NULL)
			fclose(f);
		memset(&d, 0, sizeof(d));
		reaper_purge_now(r, 0, done_cb, &d, &cause);
		wait_for(&d.done);
		ok(!d.failed && d.st.sweep_tmp_removed == 1 &&
		    d.st.sweep_removed == 0 && d.st.sweep_young == 1 &&
		    access(path, F_OK) == -1 && blob_exists(id),
		    "tmp_grace 0, sweep_grace 1 h: the stale temp file goes, "
		    "the young orphan stays (young %d)", (int)d.st.sweep_young);
		blob_remove(bs, id, &cause);
	}

	/* Freed with a run in flight: the db callback releases it. */
	memset(&d, 0, sizeof(d));
	reaper_purge_now(r, 0, done_cb, &d, &cause);
	reaper_free(r);
	{
		struct db_stats	dst;

		do {
			event_base_loop(base, EVLOOP_ONCE);
			db_stats(db, &dst);
		} while (dst.outstanding > 0);
	}
	ok(!d.done, "free in flight: done not called");
}

int
main(void)
{
	const char		*conninfo;
	char			 schemadir[4096], dir[] = "/tmp/test_reaper.XXXXXX";
	char			 cmd[4400], store[4200];
	const char		*blobdir;
	char			*cause = NULL;
	struct db_settings	 ds;
	struct db		*db;
	struct event		*t;
	struct timeval		 tv = { 0, 100000 };

	if ((conninfo = getenv("ISN_PG_CONNINFO")) == NULL ||
	    *conninfo == '\0') {
		printf("1..0 # SKIP ISN_PG_CONNINFO not set (run "
		    "test_reaper.sh)\n");
		return (0);
	}
	log_init(1, "test_reaper", LOG_USER);
	signal(SIGPIPE, SIG_IGN);
	alarm(60);
	snprintf(schemadir, sizeof(schemadir), "%s/schemas/clearinghouse",
	    tap_srcdir());
	if (migrate_run(conninfo, schemadir, NULL, NULL, &cause) != 0) {
		printf("Bail out! migrate: %s\n", cause);
		return (1);
	}
	pg = PQconnectdb(conninfo);
	if (PQstatus(pg) != CONNECTION_OK) {
		printf("Bail out! %s\n", PQerrorMessage(pg));
		return (1);
	}
	/* test_reaper.sh passes a temp dir it removes on exit. */
	if ((blobdir = getenv("REAPER_BLOBDIR")) == NULL &&
	    (blobdir = mkdtemp(dir)) == NULL) {
		printf("Bail out! mkdtemp\n");
		return (1);
	}
	snprintf(store, sizeof(store), "%s/store", blobdir);
	storedir = store;
	if ((bs = blob_store_open(store, &cause)) == NULL) {
		printf("Bail out! blob store: %s\n", cause);
		return (1);
	}
	if (populate() == -1) {
		printf("Bail out! populate\n");
		return (1);
	}
	base = event_base_new();
	t = event_new(base, -1, EV_PERSIST, tick, NULL);
	event_add(t, &tv);
	memset(&ds, 0, sizeof(ds));
	ds.conninfo = conninfo;
	ds.pool_size = 2;
	if ((db = db_new(base, &ds, &cause)) == NULL) {
		printf("Bail out! db_new: %s\n", cause);
		return (1);
	}

	test_reaper(db);

	db_free(db);
	event_free(t);
	event_base_free(base);
	blob_store_close(bs);
	PQfinish(pg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", store);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", store);
	if (blobdir == dir)
		rmdir(dir);
	return (tap_done());
}
