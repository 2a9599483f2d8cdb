/*
 * test_spool.c: the spool janitor (spool.h): a discarded tree leaves its
 * path at once and the worker empties the trash; a tree left in the
 * trash by an earlier run is removed after the next start; a missing
 * directory is no error; without a janitor the removal is immediate.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"
#include "tap.h"

static int
exists(const char *path)
{
	struct stat	st;

	return (lstat(path, &st) == 0);
}

/* dir with n files and a subdirectory holding one more. */
static int
make_tree(const char *dir, int n)
{
	char	p[512];
	int	i, fd;

	if (mkdir(dir, 0700) == -1)
		return (-1);
	for (i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/%d.dcm", dir, i);
		if ((fd = open(p, O_WRONLY | O_CREAT, 0600)) == -1 ||
		    write(fd, "DICM", 4) != 4 || close(fd) == -1)
			return (-1);
	}
	snprintf(p, sizeof(p), "%s/series", dir);
	if (mkdir(p, 0700) == -1)
		return (-1);
	snprintf(p, sizeof(p), "%s/series/x.dcm", dir);
	if ((fd = open(p, O_WRONLY | O_CREAT, 0600)) == -1 || close(fd) == -1)
		return (-1);
	return (0);
}

/* Entries in dir, "." and ".." not counted; -1 when it cannot be read. */
static int
entries(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return (n);
}

int
main(void)
{
	char		 dir[] = "/tmp/test_spool.XXXXXX";
	char		 a[1024], b[256], trash[256], left[1024];
	char		*cause = NULL;
	struct spool	*s;

	if (mkdtemp(dir) == NULL)
		return (1);
	snprintf(trash, sizeof(trash), "%s/spool/" SPOOL_TRASH, dir);
	snprintf(a, sizeof(a), "%s/spool/a", dir);
	snprintf(b, sizeof(b), "%s/spool/b", dir);

	/* An earlier run's leftover, already in the trash. */
	snprintf(left, sizeof(left), "%s/spool", dir);
	ok(mkdir(left, 0700) == 0 && mkdir(trash, 0700) == 0,
	    "a spool with a trash");
	snprintf(left, sizeof(left), "%s/123.4", trash);
	ok(make_tree(left, 20) == 0, "a tree left in the trash");
	s = spool_new(b, &cause);
	snprintf(a, sizeof(a), "%s/" SPOOL_TRASH, b);
	ok(s != NULL && exists(a), "spool_new makes the spool and its trash");
	spool_free(s);
	spool_rmtree(b);
	snprintf(a, sizeof(a), "%s/spool/a", dir);
	snprintf(left, sizeof(left), "%s/none/spool", dir);
	s = spool_new(left, &cause);
	ok(s == NULL && cause != NULL,
	    "a spool whose parent is missing: refused (%s)", cause);

	snprintf(left, sizeof(left), "%s/spool", dir);
	ok((s = spool_new(left, &cause)) != NULL, "a janitor for the spool");
	spool_drain(s);
	ok(entries(trash) == 0, "the leftover is removed after the start");

	ok(make_tree(a, 200) == 0, "a study of 200 files");
	spool_discard(s, a);
	ok(!exists(a), "discarded: the path is free at once");
	ok(make_tree(a, 3) == 0, "and can be used again at once");
	spool_discard(s, a);
	spool_discard(s, a);	/* nothing there: no error */
	spool_drain(s);
	ok(!exists(a) && entries(trash) == 0,
	    "the worker emptied the trash");
	spool_free(s);

	ok(make_tree(a, 5) == 0, "a tree");
	spool_discard(NULL, a);
	ok(!exists(a), "without a janitor it is removed here and now");
	ok(make_tree(a, 5) == 0, "a tree");
	ok((s = spool_new(left, &cause)) != NULL, "a new janitor");
	ok(make_tree(b, 50) == 0 && (spool_discard(s, b), !exists(b)),
	    "discarded");
	spool_free(s);		/* may stop before the tree is gone */
	ok((s = spool_new(left, &cause)) != NULL, "started again");
	spool_drain(s);
	ok(entries(trash) == 0, "and the trash is empty");
	spool_free(s);

	spool_rmtree(dir);
	ok(!exists(dir), "spool_rmtree removes a tree");
	free(cause);
	return (tap_done());
}
