/*
 * blobq.c: the blob store's worker thread. See blobq.h and
 * docs/design/blob.md.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "blob.h"
#include "blobq.h"
#include "log.h"
#include "xmalloc.h"

struct blobq_job {
	struct blobq_job	*next;
	blobq_work_cb		 work;
	void			*work_arg;
	blobq_done_cb		 done;
	void			*done_arg;
	int			 rc;
	char			*cause;
};

struct blobq {
	struct event		*ev;		/* pipe[0] readable */
	int			 pipe[2];
	pthread_t		 thread;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	/* under mtx */
	struct blobq_job	*queue, **queue_tail;
	struct blobq_job	*ready, **ready_tail;
	int			 stop;
	int			 signalled;	/* a byte is in the pipe */
	size_t			 pending;
};

static void
blobq_lock(struct blobq *q)
{
	if (pthread_mutex_lock(&q->mtx) != 0)
		fatalx("blobq: mutex lock");
}

static void
blobq_unlock(struct blobq *q)
{
	if (pthread_mutex_unlock(&q->mtx) != 0)
		fatalx("blobq: mutex unlock");
}

static void *
blobq_main(void *arg)
{
	struct blobq		*q = arg;
	struct blobq_job	*j;
	ssize_t			 n;

	blobq_lock(q);
	for (;;) {
		while (!q->stop && q->queue == NULL)
			pthread_cond_wait(&q->cond, &q->mtx);
		if (q->stop)
			break;		/* queued jobs: blobq_free stops them */
		j = q->queue;
		if ((q->queue = j->next) == NULL)
			q->queue_tail = &q->queue;
		blobq_unlock(q);

		j->cause = NULL;
		j->rc = j->work(j->work_arg, &j->cause) == 0 ? BLOBQ_DONE :
		    BLOBQ_FAILED;

		blobq_lock(q);
		j->next = NULL;
		*q->ready_tail = j;
		q->ready_tail = &j->next;
		if (!q->signalled) {
			q->signalled = 1;
			do
				n = write(q->pipe[1], "", 1);
			while (n == -1 && errno == EINTR);
		}
	}
	blobq_unlock(q);
	return (NULL);
}

static void
blobq_deliver(struct blobq_job *list, int force_rc)
{
	struct blobq_job	*j, *next;
	int			 rc;

	for (j = list; j != NULL; j = next) {
		next = j->next;
		rc = force_rc != 0 ? force_rc : j->rc;
		j->done(rc, rc == BLOBQ_FAILED ? (j->cause != NULL ?
		    j->cause : "failed") : NULL, j->done_arg);
		free(j->cause);
		free(j);
	}
}

/* The loop side: take every finished job and call its callback. */
static void
blobq_ready(evutil_socket_t fd, short what, void *arg)
{
	struct blobq		*q = arg;
	struct blobq_job	*list, *j;
	char			 buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	blobq_lock(q);
	list = q->ready;
	q->ready = NULL;
	q->ready_tail = &q->ready;
	q->signalled = 0;
	for (j = list; j != NULL; j = j->next)
		q->pending--;
	blobq_unlock(q);
	blobq_deliver(list, 0);
}

struct blobq *
blobq_new(struct event_base *base, char **cause)
{
	struct blobq	*q;
	int		 e;

	q = xcalloc(1, sizeof(*q));
	q->pipe[0] = q->pipe[1] = -1;
	q->queue_tail = &q->queue;
	q->ready_tail = &q->ready;
	if (pipe2(q->pipe, O_CLOEXEC | O_NONBLOCK) == -1) {
		xasprintf(cause, "blob worker: pipe: %s", strerror(errno));
		free(q);
		return (NULL);
	}
	if ((q->ev = event_new(base, q->pipe[0], EV_READ | EV_PERSIST,
	    blobq_ready, q)) == NULL || event_add(q->ev, NULL) == -1) {
		xasprintf(cause, "blob worker: could not add its event");
		goto fail;
	}
	if (pthread_mutex_init(&q->mtx, NULL) != 0 ||
	    pthread_cond_init(&q->cond, NULL) != 0) {
		xasprintf(cause, "blob worker: mutex or condition");
		goto fail;
	}
	if ((e = pthread_create(&q->thread, NULL, blobq_main, q)) != 0) {
		xasprintf(cause, "blob worker: thread: %s", strerror(e));
		pthread_cond_destroy(&q->cond);
		pthread_mutex_destroy(&q->mtx);
		goto fail;
	}
	return (q);

fail:
	if (q->ev != NULL)
		event_free(q->ev);
	close(q->pipe[0]);
	close(q->pipe[1]);
	free(q);
	return (NULL);
}

void
blobq_free(struct blobq *q)
{
	struct blobq_job	*ready, *queued;

	if (q == NULL)
		return;
	blobq_lock(q);
	q->stop = 1;
	pthread_cond_signal(&q->cond);
	blobq_unlock(q);
	if (pthread_join(q->thread, NULL) != 0)
		fatalx("blobq: join");
	/* The worker is gone: no lock needed any more. */
	ready = q->ready;
	queued = q->queue;
	q->ready = q->queue = NULL;
	event_free(q->ev);
	close(q->pipe[0]);
	close(q->pipe[1]);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->mtx);
	free(q);
	blobq_deliver(ready, BLOBQ_STOPPED);
	blobq_deliver(queued, BLOBQ_STOPPED);
}

void
blobq_run(struct blobq *q, blobq_work_cb work, void *work_arg,
    blobq_done_cb done, void *done_arg)
{
	struct blobq_job	*j;

	j = xcalloc(1, sizeof(*j));
	j->work = work;
	j->work_arg = work_arg;
	j->done = done;
	j->done_arg = done_arg;
	blobq_lock(q);
	*q->queue_tail = j;
	q->queue_tail = &j->next;
	q->pending++;
	pthread_cond_signal(&q->cond);
	blobq_unlock(q);
}

static int
blobq_commit_work(void *arg, char **cause)
{
	return (blob_batch_commit(arg, BLOB_SYNC_AUTO, cause));
}

void
blobq_commit(struct blobq *q, struct blob_batch *b, blobq_done_cb done,
    void *arg)
{
	blobq_run(q, blobq_commit_work, b, done, arg);
}

struct blobq_wb {
	struct blob_store	*bs;
	char			 id[BLOB_ID_LEN + 1];
};

static int
blobq_wb_work(void *arg, char **cause)
{
	struct blobq_wb	*wb = arg;

	(void)cause;
	blob_tmp_writeback(wb->bs, wb->id);	/* gone: nothing to do */
	return (0);
}

static void
blobq_wb_done(int rc, const char *cause, void *arg)
{
	(void)rc;
	(void)cause;
	free(arg);
}

void
blobq_writeback(struct blobq *q, struct blob_store *bs, const char *id)
{
	struct blobq_wb	*wb;

	wb = xcalloc(1, sizeof(*wb));
	wb->bs = bs;
	strlcpy(wb->id, id, sizeof(wb->id));
	blobq_run(q, blobq_wb_work, wb, blobq_wb_done, wb);
}

size_t
blobq_pending(struct blobq *q)
{
	size_t	n;

	blobq_lock(q);
	n = q->pending;
	blobq_unlock(q);
	return (n);
}

int
blobq_stopping(struct blobq *q)
{
	int	stop;

	blobq_lock(q);
	stop = q->stop;
	blobq_unlock(q);
	return (stop);
}

static void
blobq_detach(void *arg)
{
	blobq_free(arg);
}

int
blobq_attach(struct blob_store *bs, struct event_base *base, char **cause)
{
	struct blobq	*q;

	if (blob_store_worker(bs) != NULL) {
		xasprintf(cause, "the blob store already has a worker");
		return (-1);
	}
	if ((q = blobq_new(base, cause)) == NULL)
		return (-1);
	blob_store_set_worker(bs, q, blobq_detach);
	return (0);
}

struct blobq *
blobq_of(struct blob_store *bs)
{
	return (bs != NULL ? blob_store_worker(bs) : NULL);
}
