/*
 * blobq.h: one worker thread for the blocking part of the blob store (the
 * fsyncs of a batch commit), with results delivered on the event loop
 * (docs/design/blob.md, "Worker").
 *
 * Jobs run one at a time, in submission order, on the worker; each job's
 * done callback then runs on the loop (from a pipe event), never on the
 * worker and never from inside blobq_run. The loop side only takes a mutex
 * for a few pointer moves and writes or reads one byte: it never waits for
 * a job.
 *
 * blobq_free stops the worker: the job running finishes (it is not
 * interrupted: a half-done commit cleans up after itself), queued jobs are
 * not started, and every job not yet delivered gets its done callback with
 * BLOBQ_STOPPED, synchronously, before blobq_free returns: the callback
 * must then release its state without starting new work (no database, no
 * new jobs). Not from inside a done callback.
 */
#ifndef ISN_BLOBQ_H
#define ISN_BLOBQ_H

#include <stddef.h>

struct event_base;
struct blob_store;
struct blob_batch;
struct blobq;

#define BLOBQ_DONE	0	/* work returned 0 */
#define BLOBQ_FAILED	(-1)	/* work returned -1; cause says why */
#define BLOBQ_STOPPED	(-2)	/* blobq_free: the work may or may not have run */

/* On the worker thread: 0, or -1 with *cause (malloc'd; blobq frees it). */
typedef int	(*blobq_work_cb)(void *arg, char **cause);
/* On the loop: rc is one of the above, cause non-NULL only for FAILED. */
typedef void	(*blobq_done_cb)(int rc, const char *cause, void *arg);

struct blobq	*blobq_new(struct event_base *, char **cause);
void		 blobq_free(struct blobq *);
void		 blobq_run(struct blobq *, blobq_work_cb, void *work_arg,
		    blobq_done_cb, void *done_arg);
/* blob_batch_commit(batch, BLOB_SYNC_AUTO) on the worker. */
void		 blobq_commit(struct blobq *, struct blob_batch *,
		    blobq_done_cb, void *arg);
/*
 * blob_tmp_writeback(store, id) on the worker, fire and forget (nothing is
 * called back): a finished blob's pages start going to disk while the
 * rest of the request streams in.
 */
void		 blobq_writeback(struct blobq *, struct blob_store *,
		    const char *id);
/* Jobs submitted and not yet delivered. */
size_t		 blobq_pending(struct blobq *);
/* 1 once blobq_free has begun (a long work function may give up early). */
int		 blobq_stopping(struct blobq *);

/*
 * The store's worker: blobq_attach starts one for the store on base and
 * hands it to the store, whose blob_store_close stops it (blobq_free,
 * before anything of the store is closed). blobq_of returns it, or NULL
 * when none was attached (callers then commit on the loop).
 */
int		 blobq_attach(struct blob_store *, struct event_base *,
		    char **cause);
struct blobq	*blobq_of(struct blob_store *);

#endif
