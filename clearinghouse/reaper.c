/*
 * reaper.c: retention runs and the blob sweeper glue.  See reaper.h and
 * docs/design/reaper.md.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "blob.h"
#include "db.h"
#include "dbuf.h"
#include "log.h"
#include "reaper.h"
#include "xmalloc.h"

/*
 * One batch: the oldest expired sets (locked, skipping those another
 * reaper holds), the blob ids of their documents that no surviving
 * document names, and the delete (the cascade takes the rest).  All CTEs
 * see one snapshot; the statement is its own transaction.
 */
#define DELETE_TAIL \
    " docs AS (" \
    " SELECT d.blob_id FROM documents d" \
    " JOIN doomed ON d.submission_set_id = doomed.id)," \
    " gone AS (" \
    " DELETE FROM submission_sets s USING doomed WHERE s.id = doomed.id" \
    " RETURNING s.id)" \
    " SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM docs)," \
    " (SELECT string_agg(DISTINCT k.blob_id, ' ') FROM docs k" \
    "  WHERE k.blob_id IS NOT NULL AND NOT EXISTS (" \
    "  SELECT 1 FROM documents o WHERE o.blob_id = k.blob_id" \
    "  AND o.submission_set_id NOT IN (SELECT id FROM doomed)))"

static const char delete_sql[] =
    "WITH doomed AS ("
    " SELECT id FROM submission_sets WHERE expires_at <= to_timestamp($1)"
    " ORDER BY expires_at, id LIMIT $2 FOR UPDATE SKIP LOCKED),"
    DELETE_TAIL;

/* The admin's purge of one set: the same statement, chosen by uniqueId. */
static const char delete_uid_sql[] =
    "WITH doomed AS ("
    " SELECT id FROM submission_sets WHERE unique_id = $1 FOR UPDATE),"
    DELETE_TAIL;

/* Which of the sweep candidates a committed row names. */
static const char referenced_sql[] =
    "SELECT DISTINCT blob_id FROM documents"
    " WHERE blob_id = ANY($1::text[])";

/* $1 expiry cutoff or NULL (every set), $2 row id cursor, $3 limit. */
static const char list_sql[] =
    "SELECT s.id, s.unique_id, s.source_id, coalesce(s.submitter, ''),"
    " left(encode(sha256(convert_to(p.pid || '^^^&' || p.domain_oid ||"
    " '&ISO', 'UTF8')), 'hex'), 12),"
    " floor(extract(epoch FROM s.received_at))::bigint,"
    " floor(extract(epoch FROM s.expires_at))::bigint,"
    " (SELECT count(*) FROM documents d WHERE d.submission_set_id = s.id),"
    " (SELECT coalesce(sum(d.size), 0) FROM documents d"
    "  WHERE d.submission_set_id = s.id)"
    " FROM submission_sets s JOIN patients p ON p.id = s.patient_id"
    " WHERE s.id > $2::bigint AND ($1::bigint IS NULL OR"
    " s.expires_at <= to_timestamp($1::bigint))"
    " ORDER BY s.id LIMIT $3::int";

struct idset {
	char	**v;
	size_t	  n;
	size_t	  cap;
};

struct reaper {
	struct event_base	*base;
	struct db		*db;
	struct blob_store	*bs;
	struct reaper_settings	 set;
	struct event		*timer;

	int			 running;
	int			 dying;
	int			 purge;
	char			*uid;		/* purge of one set */
	time_t			 tmp_grace;	/* effective */
	uint64_t		 young2;	/* second walk: kept young */
	time_t			 cutoff;
	int			 nbatches;
	reaper_done_cb		 done;
	void			*done_arg;

	struct reaper_stats	 run;
	struct reaper_stats	 total;

	struct blob_sweep_stats	 sweep;		/* carried between steps */
	struct blob_sweep_stats	 saved;		/* before the first walk */
	struct idset		 cand;		/* first walk's candidates */
	struct idset		 refd;		/* of which referenced */
	struct idset		 young;		/* first walk: too young */
};

static void	reaper_arm(struct reaper *);
static void	reaper_batch(struct reaper *);
static void	reaper_sweep(struct reaper *);
static void	reaper_end(struct reaper *, const char *);

static void
idset_clear(struct idset *s)
{
	size_t	i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static void
idset_add(struct idset *s, const char *id)
{
	if (s->n == s->cap) {
		s->cap = s->cap == 0 ? 64 : s->cap * 2;
		s->v = xreallocarray(s->v, s->cap, sizeof(*s->v));
	}
	s->v[s->n++] = xstrdup(id);
}

static int
idset_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

static void
idset_sort(struct idset *s)
{
	if (s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), idset_cmp);
}

static int
idset_has(const struct idset *s, const char *id)
{
	return (s->n != 0 && bsearch(&id, s->v, s->n, sizeof(*s->v),
	    idset_cmp) != NULL);
}

static void
stats_add(struct reaper_stats *d, const struct reaper_stats *s)
{
	d->runs += s->runs;
	d->batches += s->batches;
	d->sets_deleted += s->sets_deleted;
	d->documents_deleted += s->documents_deleted;
	d->blobs_removed += s->blobs_removed;
	d->blobs_missing += s->blobs_missing;
	d->blob_errors += s->blob_errors;
	d->sweep_steps += s->sweep_steps;
	d->sweep_passes += s->sweep_passes;
	d->sweep_removed += s->sweep_removed;
	d->sweep_referenced += s->sweep_referenced;
	d->sweep_young += s->sweep_young;
	d->sweep_tmp_removed += s->sweep_tmp_removed;
	d->sweep_bytes_removed += s->sweep_bytes_removed;
	d->errors += s->errors;
}

static void
reaper_release(struct reaper *r)
{
	if (r->timer != NULL)
		event_free(r->timer);
	idset_clear(&r->cand);
	idset_clear(&r->refd);
	idset_clear(&r->young);
	free(r->uid);
	free(r);
}

static time_t
reaper_now(struct reaper *r)
{
	return (r->set.clock != NULL ? r->set.clock(r->set.clock_arg) :
	    time(NULL));
}

static void
reaper_start(struct reaper *r, int purge, time_t before)
{
	r->running = 1;
	r->purge = purge;
	r->cutoff = before != 0 ? before : reaper_now(r);
	r->nbatches = 0;
	memset(&r->run, 0, sizeof(r->run));
	r->run.runs = 1;
	reaper_batch(r);
}

static void
reaper_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reaper	*r = arg;

	(void)fd;
	(void)what;
	if (!r->running)
		reaper_start(r, 0, 0);
}

static void
reaper_arm(struct reaper *r)
{
	struct timeval	tv;

	tv.tv_sec = r->set.interval_ms / 1000;
	tv.tv_usec = (r->set.interval_ms % 1000) * 1000;
	evtimer_add(r->timer, &tv);
}

static long long
col_ll(PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return (0);
	return (strtoll(PQgetvalue(res, row, col), NULL, 10));
}

static void
reaper_batch_cb(PGresult *res, const char *cause, void *arg)
{
	struct reaper	*r = arg;
	long long	 sets, docs;
	char		*ids, *id, *next, *bcause = NULL;
	int		 rc;

	if (r->dying) {
		reaper_release(r);
		return;
	}
	if (cause != NULL) {
		reaper_end(r, cause);
		return;
	}
	if (PQntuples(res) != 1 || PQnfields(res) != 3) {
		reaper_end(r, "unexpected result from the delete");
		return;
	}
	/* Committed: the rows are gone for every query from now on. */
	sets = col_ll(res, 0, 0);
	docs = col_ll(res, 0, 1);
	r->run.batches++;
	r->run.sets_deleted += (uint64_t)sets;
	r->run.documents_deleted += (uint64_t)docs;
	r->nbatches++;
	if (!PQgetisnull(res, 0, 2)) {
		ids = xstrdup(PQgetvalue(res, 0, 2));
		for (id = ids; id != NULL && *id != '\0'; id = next) {
			if ((next = strchr(id, ' ')) != NULL)
				*next++ = '\0';
			rc = blob_remove(r->bs, id, &bcause);
			if (rc == 0)
				r->run.blobs_removed++;
			else if (rc == 1)
				r->run.blobs_missing++;
			else {
				/* Left for the sweeper. */
				log_warnx("reaper blob-remove-failed id=%s "
				    "cause=\"%s\"", id, bcause);
				free(bcause);
				bcause = NULL;
				r->run.blob_errors++;
			}
		}
		free(ids);
	}
	if (r->uid != NULL)
		reaper_end(r, NULL);
	else if (sets >= r->set.batch && (r->purge ||
	    r->nbatches < r->set.max_batches))
		reaper_batch(r);
	else
		reaper_sweep(r);
}

static void
reaper_batch(struct reaper *r)
{
	char		 cut[32], lim[32];
	const char	*values[2] = { cut, lim };

	if (r->uid != NULL) {
		values[0] = r->uid;
		db_query(r->db, delete_uid_sql, 1, values, NULL, NULL, 0,
		    reaper_batch_cb, r);
		return;
	}
	snprintf(cut, sizeof(cut), "%lld", (long long)r->cutoff);
	snprintf(lim, sizeof(lim), "%d", r->set.batch);
	db_query(r->db, delete_sql, 2, values, NULL, NULL, 0,
	    reaper_batch_cb, r);
}

/*
 * blob_sweep runs with the (short) temp-file grace: a committed blob is
 * a candidate only once its own ctime is sweep_grace old, checked here.
 * 1 when younger, or gone meanwhile (nothing to decide).
 */
static int
reaper_blob_young(struct reaper *r, const char *id)
{
	struct stat	 sb;
	uint64_t	 size;
	char		*cause = NULL;
	int		 fd, young;

	if ((fd = blob_open(r->bs, id, &size, &cause)) == -1) {
		free(cause);
		return (1);
	}
	young = fstat(fd, &sb) == -1 ||
	    time(NULL) - sb.st_ctim.tv_sec < r->set.sweep_grace;
	close(fd);
	return (young);
}

/* First walk: remember the candidates, keep everything. */
static int
reaper_collect(const char *id, void *arg)
{
	struct reaper	*r = arg;

	if (r->set.sweep_grace > r->tmp_grace && reaper_blob_young(r, id))
		idset_add(&r->young, id);
	else
		idset_add(&r->cand, id);
	return (1);
}

/* Second walk: remove a candidate no row names; keep anything else. */
static int
reaper_answer(const char *id, void *arg)
{
	struct reaper	*r = arg;

	if (idset_has(&r->refd, id))
		return (1);
	if (idset_has(&r->cand, id))
		return (0);
	if (idset_has(&r->young, id))
		r->young2++;	/* counted as referenced by blob_sweep */
	return (1);
}

static void
sweep_account(struct reaper *r, const struct blob_sweep_stats *st)
{
	r->run.sweep_removed += st->removed;
	r->run.sweep_referenced += st->referenced - r->young2;
	r->run.sweep_young += st->young + r->young2;
	r->run.sweep_tmp_removed += st->tmp_removed;
	r->run.sweep_bytes_removed += st->bytes_removed;
}

static void
reaper_ref_cb(PGresult *res, const char *cause, void *arg)
{
	struct reaper	*r = arg;
	char		*scause = NULL;
	int		 i, rc;

	if (r->dying) {
		reaper_release(r);
		return;
	}
	if (cause != NULL) {
		r->sweep = r->saved;	/* retry these entries next time */
		reaper_end(r, cause);
		return;
	}
	for (i = 0; i < PQntuples(res); i++)
		idset_add(&r->refd, PQgetvalue(res, i, 0));
	idset_sort(&r->refd);

	r->sweep = r->saved;
	r->young2 = 0;
	rc = blob_sweep(r->bs, reaper_answer, r, r->tmp_grace,
	    r->set.sweep_limit, &r->sweep, &scause);
	sweep_account(r, &r->sweep);
	if (rc == -1) {
		reaper_end(r, scause);
		free(scause);
		return;
	}
	if (r->sweep.done)
		r->run.sweep_passes++;
	reaper_end(r, NULL);
}

static void
reaper_sweep(struct reaper *r)
{
	struct dbuf	 arr;
	const char	*values[1];
	char		*scause = NULL;
	size_t		 i;
	int		 rc;

	if (r->set.no_sweep) {
		reaper_end(r, NULL);
		return;
	}
	r->run.sweep_steps++;
	idset_clear(&r->cand);
	idset_clear(&r->refd);
	idset_clear(&r->young);
	r->saved = r->sweep;
	rc = blob_sweep(r->bs, reaper_collect, r, r->tmp_grace,
	    r->set.sweep_limit, &r->sweep, &scause);
	/* Stale temp files removed by the first walk are gone for good. */
	r->run.sweep_tmp_removed += r->sweep.tmp_removed;
	r->run.sweep_bytes_removed += r->sweep.bytes_removed;
	if (rc == -1) {
		r->sweep = r->saved;
		reaper_end(r, scause);
		free(scause);
		return;
	}
	idset_sort(&r->young);
	if (r->cand.n == 0) {
		/* Nothing to decide: the first walk was the step. */
		r->run.sweep_young += r->sweep.young + r->young.n;
		if (r->sweep.done)
			r->run.sweep_passes++;
		reaper_end(r, NULL);
		return;
	}
	idset_sort(&r->cand);
	dbuf_init(&arr, (size_t)64 << 20);
	dbuf_addc(&arr, '{');
	for (i = 0; i < r->cand.n; i++) {
		if (i > 0)
			dbuf_addc(&arr, ',');
		dbuf_addstr(&arr, r->cand.v[i]);	/* hex: no quoting */
	}
	dbuf_addc(&arr, '}');
	values[0] = dbuf_str(&arr);
	db_query(r->db, referenced_sql, 1, values, NULL, NULL, 0,
	    reaper_ref_cb, r);
	dbuf_free(&arr);
}

static void
reaper_end(struct reaper *r, const char *cause)
{
	struct reaper_stats	 run;
	reaper_done_cb		 done = r->done;
	void			*done_arg = r->done_arg;

	if (cause != NULL)
		r->run.errors++;
	run = r->run;
	stats_add(&r->total, &run);
	idset_clear(&r->cand);
	idset_clear(&r->refd);
	idset_clear(&r->young);
	free(r->uid);
	r->uid = NULL;
	r->running = 0;
	r->done = NULL;
	r->done_arg = NULL;

	if (cause != NULL)
		log_warnx("reaper run-failed sets=%" PRIu64 " cause=\"%s\"",
		    run.sets_deleted, cause);
	else if (run.sets_deleted != 0 || run.sweep_removed != 0 ||
	    run.sweep_tmp_removed != 0)
		log_info("reaper run sets=%" PRIu64 " documents=%" PRIu64
		    " blobs=%" PRIu64 " blob-errors=%" PRIu64 " swept=%"
		    PRIu64 " swept-tmp=%" PRIu64, run.sets_deleted,
		    run.documents_deleted, run.blobs_removed, run.blob_errors,
		    run.sweep_removed, run.sweep_tmp_removed);

	/* Before done: it may call reaper_free. */
	reaper_arm(r);
	if (done != NULL)
		done(&run, cause, done_arg);
}

struct reaper *
reaper_new(struct event_base *base, struct db *db, struct blob_store *bs,
    const struct reaper_settings *set, char **cause)
{
	struct reaper	*r;

	if (set->interval_ms < 0 || set->batch < 0 || set->max_batches < 0) {
		xcause(cause, "reaper: negative interval, batch or max_batches");
		return (NULL);
	}
	if (set->batch > 100000) {
		xcause(cause, "reaper: batch %d above 100000", set->batch);
		return (NULL);
	}
	r = xcalloc(1, sizeof(*r));
	r->base = base;
	r->db = db;
	r->bs = bs;
	r->set = *set;
	if (r->set.interval_ms == 0)
		r->set.interval_ms = 60000;
	if (r->set.batch == 0)
		r->set.batch = 100;
	if (r->set.max_batches == 0)
		r->set.max_batches = 10;
	if (r->set.sweep_grace < 0)
		r->set.sweep_grace = 0;
	r->tmp_grace = r->set.tmp_grace == 0 ? REAPER_TMP_GRACE :
	    r->set.tmp_grace < 0 ? 0 : r->set.tmp_grace;
	if (r->tmp_grace > r->set.sweep_grace)
		r->tmp_grace = r->set.sweep_grace;
	if (r->set.sweep_limit == 0)
		r->set.sweep_limit = 1000;
	r->timer = evtimer_new(base, reaper_timer_cb, r);
	if (r->timer == NULL) {
		xcause(cause, "reaper: could not create the timer");
		free(r);
		return (NULL);
	}
	reaper_arm(r);
	return (r);
}

void
reaper_free(struct reaper *r)
{
	if (r == NULL)
		return;
	if (r->running) {
		evtimer_del(r->timer);
		r->dying = 1;	/* the pending db callback frees */
		return;
	}
	reaper_release(r);
}

void
reaper_stats(struct reaper *r, struct reaper_stats *st)
{
	*st = r->total;
}

int
reaper_purge_now(struct reaper *r, time_t before, reaper_done_cb done,
    void *arg, char **cause)
{
	if (r->running) {
		xcause(cause, "a reaper run is already in progress");
		return (-1);
	}
	evtimer_del(r->timer);
	r->done = done;
	r->done_arg = arg;
	reaper_start(r, 1, before);
	return (0);
}

int
reaper_purge_set(struct reaper *r, const char *unique_id, reaper_done_cb done,
    void *arg, char **cause)
{
	if (r->running) {
		xcause(cause, "a reaper run is already in progress");
		return (-1);
	}
	evtimer_del(r->timer);
	r->done = done;
	r->done_arg = arg;
	r->uid = xstrdup(unique_id);
	reaper_start(r, 1, 0);
	return (0);
}

struct list_req {
	reaper_list_cb	 cb;
	void		*arg;
};

static void
reaper_list_cb_db(PGresult *res, const char *cause, void *arg)
{
	struct list_req		*lr = arg;
	struct reaper_set_info	 e;
	int			 i;

	if (cause == NULL && PQnfields(res) != 9)
		cause = "unexpected result from the listing";
	if (cause == NULL) {
		for (i = 0; i < PQntuples(res); i++) {
			memset(&e, 0, sizeof(e));
			e.id = col_ll(res, i, 0);
			e.unique_id = PQgetvalue(res, i, 1);
			e.source_id = PQgetvalue(res, i, 2);
			e.submitter = PQgetvalue(res, i, 3);
			e.patient = PQgetvalue(res, i, 4);
			e.received_at = (time_t)col_ll(res, i, 5);
			e.expires_at = (time_t)col_ll(res, i, 6);
			e.documents = col_ll(res, i, 7);
			e.bytes = col_ll(res, i, 8);
			lr->cb(&e, NULL, lr->arg);
		}
	}
	lr->cb(NULL, cause, lr->arg);
	free(lr);
}

void
reaper_list(struct db *db, time_t expired_before, long long after,
    int limit, reaper_list_cb cb, void *arg)
{
	struct list_req	*lr;
	char		 cut[32], aft[32], lim[32];
	const char	*values[3] = { NULL, aft, lim };

	lr = xcalloc(1, sizeof(*lr));
	lr->cb = cb;
	lr->arg = arg;
	if (expired_before != 0) {
		snprintf(cut, sizeof(cut), "%lld", (long long)expired_before);
		values[0] = cut;
	}
	snprintf(aft, sizeof(aft), "%lld", after);
	snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 1000);
	db_query(db, list_sql, 3, values, NULL, NULL, 0, reaper_list_cb_db,
	    lr);
}
