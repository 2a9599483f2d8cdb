/*
 * spool.c: removal of spool directories off the event loop. A study's
 * spool holds hundreds of files; unlinking them on the daemon's loop
 * took 0.15-0.2 s after each 500-instance submission (the benchmark,
 * docs/design/jobs.md), during which the RIS feed, the API and every
 * other job waited. A directory to discard is renamed into
 * spool_dir/trash (one rename on the loop: the path is free at once)
 * and a worker thread removes it. What a stop leaves in the trash is
 * removed after the next start.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "spool.h"
#include "xmalloc.h"

struct spool_item {
	struct spool_item	*next;
	char			*path;
};

struct spool {
	char			*trash;
	unsigned long		 seq;		/* the loop's only */
	pthread_t		 thread;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;		/* queued, or stop */
	pthread_cond_t		 idle;		/* the queue ran dry */
	/* under mtx */
	struct spool_item	*queue, **tail;
	int			 busy;		/* the worker removes one */
	int			 stop;
};

void
spool_rmtree(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	char		*p;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		xasprintf(&p, "%s/%s", dir, de->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			spool_rmtree(p);
		else if (unlink(p) == -1 && errno != ENOENT)
			log_warn("spool: could not remove a file");
		free(p);
	}
	closedir(d);
	if (rmdir(dir) == -1 && errno != ENOENT)
		log_warn("spool: could not remove a directory");
}

static void
spool_lock(struct spool *s)
{
	if (pthread_mutex_lock(&s->mtx) != 0)
		fatalx("spool: mutex lock");
}

static void
spool_unlock(struct spool *s)
{
	if (pthread_mutex_unlock(&s->mtx) != 0)
		fatalx("spool: mutex unlock");
}

static void *
spool_main(void *arg)
{
	struct spool		*s = arg;
	struct spool_item	*it;

	spool_lock(s);
	for (;;) {
		while (s->queue == NULL && !s->stop)
			pthread_cond_wait(&s->cond, &s->mtx);
		if (s->stop)
			break;
		it = s->queue;
		if ((s->queue = it->next) == NULL)
			s->tail = &s->queue;
		s->busy = 1;
		spool_unlock(s);
		spool_rmtree(it->path);
		free(it->path);
		free(it);
		spool_lock(s);
		s->busy = 0;
		if (s->queue == NULL)
			pthread_cond_broadcast(&s->idle);
	}
	spool_unlock(s);
	return (NULL);
}

static void
spool_queue(struct spool *s, char *path)
{
	struct spool_item	*it;

	it = xcalloc(1, sizeof(*it));
	it->path = path;
	spool_lock(s);
	*s->tail = it;
	s->tail = &it->next;
	pthread_cond_signal(&s->cond);
	spool_unlock(s);
}

struct spool *
spool_new(const char *spool_dir, char **cause)
{
	struct spool	*s;
	struct dirent	*de;
	DIR		*d;
	char		*p;

	s = xcalloc(1, sizeof(*s));
	xasprintf(&s->trash, "%s/" SPOOL_TRASH, spool_dir);
	if ((mkdir(spool_dir, 0700) == -1 && errno != EEXIST) ||
	    (mkdir(s->trash, 0700) == -1 && errno != EEXIST) ||
	    (d = opendir(s->trash)) == NULL) {
		xcause(cause, "spool %s: %s", s->trash, strerror(errno));
		free(s->trash);
		free(s);
		return (NULL);
	}
	s->tail = &s->queue;
	if (pthread_mutex_init(&s->mtx, NULL) != 0 ||
	    pthread_cond_init(&s->cond, NULL) != 0 ||
	    pthread_cond_init(&s->idle, NULL) != 0 ||
	    pthread_create(&s->thread, NULL, spool_main, s) != 0)
		fatalx("spool: cannot start the worker thread");
	/* What the previous run left. */
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		xasprintf(&p, "%s/%s", s->trash, de->d_name);
		spool_queue(s, p);
	}
	closedir(d);
	return (s);
}

void
spool_discard(struct spool *s, const char *dir)
{
	char	*to;
	int	 tries;

	if (s == NULL) {
		spool_rmtree(dir);
		return;
	}
	for (tries = 0; tries < 8; tries++) {
		xasprintf(&to, "%s/%ld.%lu", s->trash, (long)getpid(),
		    s->seq++);
		if (rename(dir, to) == 0) {
			spool_queue(s, to);
			return;
		}
		free(to);
		if (errno == ENOENT)
			return;		/* nothing there */
		if (errno != EEXIST && errno != ENOTEMPTY)
			break;		/* e.g. another file system */
	}
	spool_rmtree(dir);
}

void
spool_drain(struct spool *s)
{
	if (s == NULL)
		return;
	spool_lock(s);
	while (s->queue != NULL || s->busy)
		pthread_cond_wait(&s->idle, &s->mtx);
	spool_unlock(s);
}

void
spool_free(struct spool *s)
{
	struct spool_item	*it;

	if (s == NULL)
		return;
	spool_lock(s);
	s->stop = 1;
	pthread_cond_signal(&s->cond);
	spool_unlock(s);
	pthread_join(s->thread, NULL);
	while ((it = s->queue) != NULL) {
		s->queue = it->next;
		free(it->path);
		free(it);
	}
	pthread_mutex_destroy(&s->mtx);
	pthread_cond_destroy(&s->cond);
	pthread_cond_destroy(&s->idle);
	free(s->trash);
	free(s);
}
