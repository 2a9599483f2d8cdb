/*
 * reaper.h: retention (PROFILE.md section 7) and the blob sweeper glue.
 * See docs/design/reaper.md.
 *
 * A run, on the caller's event_base and never blocking on the database:
 *  1. batches: one statement (one transaction) deletes at most `batch`
 *     submission sets whose expires_at <= the clock (oldest first, FOR
 *     UPDATE SKIP LOCKED so several clearinghouse processes can reap
 *     together); the cascade takes their documents, and the statement
 *     returns the blob ids those documents named.  Once it has committed,
 *     the blobs are removed with blob_remove.  A crash between the commit
 *     and blob_remove leaves orphan blobs: step 2 removes them later.
 *     Batches repeat until one is short or `max_batches` ran;
 *  2. one sweep step of at most `sweep_limit` entries (blob_sweep): a first
 *     walk collects the candidates (old enough, answered "keep"), one query
 *     fetches which of them documents.blob_id names, and a second walk from
 *     the same state removes the others.  An id the second walk sees that
 *     the first did not is kept (the next pass looks again).  blob_sweep
 *     runs with tmp_grace; a committed blob younger than sweep_grace (its
 *     ctime, by fstat) is never a candidate.
 * Runs never overlap: the timer is re-armed when a run ends.
 *
 * blob_remove and blob_sweep are filesystem calls on the loop: keep batch
 * and sweep_limit small (defaults 100 and 1000).
 */
#ifndef ISN_REAPER_H
#define ISN_REAPER_H

#include <stdint.h>
#include <time.h>

struct event_base;
struct db;
struct blob_store;
struct reaper;

/* The retention clock: seconds since the epoch (tests move it). */
typedef time_t (*reaper_clock_cb)(void *arg);

/*
 * Temp files under tmp/ that no writer holds (flock) are left by a crash
 * (a writer that ends normally commits or aborts them): only the window
 * between a writer's open and its flock needs a grace, so a few seconds.
 */
#define REAPER_TMP_GRACE	5

struct reaper_settings {
	int		 interval_ms;	/* between runs (0: 60000) */
	int		 batch;		/* sets per transaction (0: 100) */
	int		 max_batches;	/* per run (0: 10) */
	/*
	 * Committed blobs no row names are removed once their ctime is
	 * sweep_grace seconds old (< 0: 0); it must exceed the longest time
	 * between a blob's commit and the commit of the transaction naming
	 * it (a whole upload: blobs are committed attachment by attachment).
	 * Stale temp files go after tmp_grace (0: REAPER_TMP_GRACE; < 0:
	 * 0), never later than sweep_grace.
	 */
	time_t		 sweep_grace;
	time_t		 tmp_grace;
	size_t		 sweep_limit;	/* entries per sweep step (0: 1000) */
	int		 no_sweep;	/* 1: skip step 2 */
	reaper_clock_cb	 clock;		/* NULL: time(NULL) */
	void		*clock_arg;
};

/* Counters: per run (done callback) or cumulative (reaper_stats). */
struct reaper_stats {
	uint64_t	runs;
	uint64_t	batches;	/* delete statements committed */
	uint64_t	sets_deleted;
	uint64_t	documents_deleted;
	uint64_t	blobs_removed;	/* by blob_remove after a commit */
	uint64_t	blobs_missing;	/* blob_remove found none */
	uint64_t	blob_errors;	/* blob_remove failed: left to sweep */
	uint64_t	sweep_steps;
	uint64_t	sweep_passes;	/* whole passes completed */
	uint64_t	sweep_removed;	/* orphan blobs removed */
	uint64_t	sweep_referenced;
	uint64_t	sweep_young;
	uint64_t	sweep_tmp_removed;
	uint64_t	sweep_bytes_removed;
	uint64_t	errors;		/* runs that ended with a cause */
};

/* cause is NULL on success; the stats are this run's. */
typedef void (*reaper_done_cb)(const struct reaper_stats *,
    const char *cause, void *arg);

/*
 * Arms the timer (the first run is one interval away).  db and blobs stay
 * the caller's and must outlive the reaper; NULL and *cause on bad
 * settings.
 */
struct reaper	*reaper_new(struct event_base *, struct db *,
		    struct blob_store *, const struct reaper_settings *,
		    char **cause);
/*
 * Stops the timer.  With a run in flight, the memory is released when its
 * database callback runs (at the latest in db_free), which then touches
 * nothing else (no done callback, no blob): the blob store may be closed
 * after reaper_free.
 */
void		 reaper_free(struct reaper *);
void		 reaper_stats(struct reaper *, struct reaper_stats *);

/*
 * Admin (isn-clearinghouse -P expired): a run now, with every set that
 * expires at or before `before` (0: the clock), batches until none is left
 * (max_batches ignored), then one sweep step (none with no_sweep).  done
 * runs once, from the loop.  -1 and *cause when a run is already in
 * flight.
 */
int		 reaper_purge_now(struct reaper *, time_t before,
		    reaper_done_cb, void *arg, char **cause);

/*
 * Admin (isn-clearinghouse -P uniqueId): the submission set with that
 * uniqueId, expired or not, is deleted with the same statement and blob
 * removal as a batch (FOR UPDATE: it waits for a reaper holding the row,
 * then finds it gone); no sweep.  done's stats say sets_deleted 0 when
 * there was no such set.  -1 and *cause when a run is in flight.
 */
int		 reaper_purge_set(struct reaper *, const char *unique_id,
		    reaper_done_cb, void *arg, char **cause);

/*
 * Admin (isn-clearinghouse -l): submission sets in row id (receipt)
 * order after the row id `after` (0: from the first), every set or only
 * those expiring at or before `expired_before` (0: every set), at most
 * `limit` (0: 1000; pass the last id back for the next page).  cb runs
 * once per row with row set, then once with row NULL (cause set on
 * failure).  The patient is given as a short hash only: the first 12
 * hex digits of SHA-256 of its CX (pid^^^&domain&ISO), never the id.
 */
struct reaper_set_info {
	long long	 id;		/* row id: the paging cursor */
	const char	*unique_id;	/* submission set uniqueId */
	const char	*source_id;
	const char	*submitter;	/* peer identity, or "" */
	const char	*patient;	/* 12 hex digits */
	time_t		 received_at;
	time_t		 expires_at;
	long long	 documents;
	long long	 bytes;		/* sum of the documents' size */
};
typedef void (*reaper_list_cb)(const struct reaper_set_info *,
    const char *cause, void *arg);
void		 reaper_list(struct db *, time_t expired_before,
		    long long after, int limit, reaper_list_cb, void *arg);

#endif
