/*
 * test_blob.c: the filesystem blob store (clearinghouse/blob.c), its
 * batches and its worker thread (clearinghouse/blobq.c).
 *
 * BLOB_TEST_BIG_MIB sets the size of the large streaming test (default
 * 1024, i.e. 1 GiB; use a small value under valgrind).
 */
#include "config.h"

#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "blob.h"
#include "blobq.h"
#include "tap.h"
#include "xmalloc.h"

static char	 basedir[4096];
static char	 shmdir[4096];
static pid_t	 child_pid = -1;

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return (0);
}

static void
cleanup(void)
{
	if (child_pid > 0) {
		kill(child_pid, SIGKILL);
		waitpid(child_pid, NULL, 0);
		child_pid = -1;
	}
	if (basedir[0] != '\0')
		nftw(basedir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (shmdir[0] != '\0')
		nftw(shmdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static char *
subdir(const char *name)
{
	char	*p;

	xasprintf(&p, "%s/%s", basedir, name);
	return (p);
}

static void
hex(const unsigned char *md, unsigned int len, char *out)
{
	unsigned int	i;

	for (i = 0; i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void
sha1_hex(const void *buf, size_t len, char out[BLOB_SHA1_LEN + 1])
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	mdlen;

	EVP_Digest(buf, len, md, &mdlen, EVP_sha1(), NULL);
	hex(md, mdlen, out);
}

/* Reads a blob back: 0 with its size and SHA-1, -1 (and a diag) if not. */
static int
read_back(struct blob_store *bs, const char *id, uint64_t *size,
    char out[BLOB_SHA1_LEN + 1])
{
	static unsigned char	 buf[65536];
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen;
	EVP_MD_CTX		*ctx;
	uint64_t		 total = 0;
	ssize_t			 n;
	char			*cause = NULL;
	int			 fd;

	if ((fd = blob_open(bs, id, size, &cause)) == -1) {
		tap_diag("blob_open %s: %s", id, cause);
		free(cause);
		return (-1);
	}
	ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha1(), NULL);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		total += (uint64_t)n;
	}
	close(fd);
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	hex(md, mdlen, out);
	if (n == -1 || total != *size)
		return (-1);
	return (0);
}

/* Regular files in DIR (not . and ..). */
static int
count_files(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return (n);
}

static int
commit_buf(struct blob_store *bs, const void *buf, size_t len, size_t chunk,
    char id[BLOB_ID_LEN + 1], struct blob_info *info)
{
	struct blob_writer	*w;
	const char		*p = buf;
	char			*cause = NULL;
	size_t			 off, n;

	if ((w = blob_write_begin(bs, &cause)) == NULL)
		goto fail;
	for (off = 0; off < len; off += n) {
		n = len - off < chunk ? len - off : chunk;
		if (blob_write(w, p + off, n, &cause) == -1) {
			blob_write_abort(w);
			goto fail;
		}
	}
	if (blob_write_commit(w, id, info, &cause) == -1)
		goto fail;
	return (0);
fail:
	tap_diag("commit: %s", cause);
	free(cause);
	return (-1);
}

static void
test_roundtrip(struct blob_store *bs)
{
	static const size_t	 sizes[] = { 0, 1, 1024 * 1024 };
	unsigned char		*buf;
	struct blob_info	 info;
	struct stat		 st;
	uint64_t		 size;
	char			 id[BLOB_ID_LEN + 1], want[BLOB_SHA1_LEN + 1];
	char			 got[BLOB_SHA1_LEN + 1], *path, *tmp;
	size_t			 i;

	buf = xmalloc(1024 * 1024);
	RAND_bytes(buf, 1024 * 1024);
	tmp = subdir("store/tmp");
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		sha1_hex(buf, sizes[i], want);
		memset(&info, 0, sizeof(info));
		if (!ok(commit_buf(bs, buf, sizes[i], 7777, id, &info) == 0,
		    "size %zu: commit", sizes[i])) {
			tap_skip(6, "commit failed");
			continue;
		}
		ok(blob_id_valid(id), "size %zu: id %s is well-formed",
		    sizes[i], id);
		is_int(info.size, sizes[i], "size %zu: info size", sizes[i]);
		is_str(info.sha1, want, "size %zu: info SHA-1 is the "
		    "independent one", sizes[i]);
		ok(read_back(bs, id, &size, got) == 0 && size == sizes[i],
		    "size %zu: reads back whole", sizes[i]);
		is_str(got, want, "size %zu: read-back SHA-1", sizes[i]);
		xasprintf(&path, "%s/store/data/%.2s/%.2s/%s", basedir, id,
		    id + 2, id);
		ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0400 &&
		    st.st_nlink == 1, "size %zu: stored at data/ab/cd/id, "
		    "mode 0400, one link", sizes[i]);
		free(path);
	}
	is_int(count_files(tmp), 0, "no temp files left after commits");
	free(tmp);
	free(buf);
}

static void
test_abort_and_ids(struct blob_store *bs)
{
	struct blob_writer	*w;
	uint64_t		 c0, b0, c1, b1;
	char			 ids[48][BLOB_ID_LEN + 1], *cause = NULL, *tmp;
	int			 i, j, wellformed = 1, unique = 1, okall = 1;

	tmp = subdir("store/tmp");
	blob_store_stats(bs, &c0, &b0, &cause);
	w = blob_write_begin(bs, &cause);
	ok(w != NULL && blob_write(w, "partial", 7, &cause) == 0,
	    "begin and write before abort");
	is_int(blob_write_size(w), 7, "writer counts its bytes");
	is_int(count_files(tmp), 1, "a writer has one temp file");
	blob_write_abort(w);
	is_int(count_files(tmp), 0, "abort removes the temp file");
	ok(blob_store_stats(bs, &c1, &b1, &cause) == 0 && c1 == c0 &&
	    b1 == b0, "abort adds nothing under data/");

	for (i = 0; i < 48; i++) {
		if (commit_buf(bs, "x", 1, 1, ids[i], NULL) == -1)
			okall = 0;
		if (!blob_id_valid(ids[i]))
			wellformed = 0;
		for (j = 0; j < i; j++)
			if (strcmp(ids[i], ids[j]) == 0)
				unique = 0;
	}
	ok(okall && wellformed, "48 commits give well-formed ids");
	ok(okall && unique, "48 ids are distinct");
	ok(blob_store_stats(bs, &c1, &b1, &cause) == 0 && c1 == c0 + 48 &&
	    b1 == b0 + 48, "stats count 48 more blobs and bytes");
	free(tmp);
}

static void
test_bad_ids(struct blob_store *bs)
{
	static const char *bad[] = {
		"../etc/passwd",
		"0123456789ABCDEF0123456789abcdef",
		"0123456789abcdef0123456789abcde",
		"0123456789abcdef0123456789abcdef0",
		"",
		"0123456789abcdef0123456789abcdeg",
		"01/3456789abcdef0123456789abcdef",
		"../../../../../../../etc/passwd0",
	};
	uint64_t	 size;
	char		*cause, id[BLOB_ID_LEN + 1];
	size_t		 i;
	int		 fd;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cause = NULL;
		fd = blob_open(bs, bad[i], &size, &cause);
		ok(fd == -1 && cause != NULL &&
		    strcmp(cause, "malformed blob id") == 0,
		    "blob_open refuses \"%s\"", bad[i]);
		free(cause);
		cause = NULL;
		ok(blob_remove(bs, bad[i], &cause) == -1,
		    "blob_remove refuses \"%s\"", bad[i]);
		free(cause);
	}
	ok(!blob_id_valid(NULL), "NULL is not an id");
	cause = NULL;
	ok(blob_open(bs, "0123456789abcdef0123456789abcdef", &size,
	    &cause) == -1 && cause != NULL && strstr(cause, "no such blob"),
	    "a well-formed absent id: no such blob");
	free(cause);

	if (commit_buf(bs, "gone", 4, 4, id, NULL) == 0) {
		cause = NULL;
		is_int(blob_remove(bs, id, &cause), 0, "blob_remove removes");
		is_int(blob_remove(bs, id, &cause), 1,
		    "blob_remove again: there was none");
		ok(blob_open(bs, id, &size, &cause) == -1,
		    "a removed blob does not open");
		free(cause);
	} else
		tap_skip(3, "commit failed");
}

/* Opens a store at path in a child running as nobody when we are root. */
static void
test_not_writable(void)
{
	struct blob_store	*bs;
	char			*dir, *cause = NULL, *file, msg[512];
	int			 p[2], status, fd;
	ssize_t			 n;
	pid_t			 pid;

	dir = subdir("ro");
	mkdir(dir, 0755);
	xasprintf(&file, "%s/data", dir);
	mkdir(file, 0755);
	free(file);
	xasprintf(&file, "%s/tmp", dir);
	mkdir(file, 0755);
	if (pipe(p) == -1)
		abort();
	if ((pid = fork()) == 0) {
		close(p[0]);
		if (geteuid() == 0) {
			/* basedir is 0700: let nobody reach dir. */
			chmod(basedir, 0711);
			if (setgid(65534) == -1 || setuid(65534) == -1)
				_exit(2);
		} else {
			chmod(file, 0555);
			chmod(dir, 0555);
		}
		bs = blob_store_open(dir, &cause);
		if (bs != NULL)
			_exit(1);
		n = write(p[1], cause, strlen(cause));
		(void)n;
		_exit(0);
	}
	close(p[1]);
	n = read(p[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(p[0]);
	waitpid(pid, &status, 0);
	chmod(basedir, 0700);
	chmod(file, 0755);	/* undo the non-root case, for the cleanup */
	chmod(dir, 0755);
	free(file);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "a store that is not writable does not open");
	ok(strstr(msg, "is not writable") != NULL &&
	    strstr(msg, "Permission denied") != NULL, "clear cause: %s", msg);

	xasprintf(&file, "%s/plainfile", basedir);
	fd = open(file, O_WRONLY | O_CREAT, 0600);
	close(fd);
	cause = NULL;
	bs = blob_store_open(file, &cause);
	ok(bs == NULL && cause != NULL && strstr(cause, file) != NULL,
	    "a regular file is not a store: %s", cause ? cause : "");
	free(cause);
	free(file);
	free(dir);
}

static void
test_cross_fs(void)
{
	struct blob_store	*bs;
	struct stat		 a, b;
	char			*dir, *link, *cause = NULL;

	if (stat("/dev/shm", &a) == -1 || stat(basedir, &b) == -1 ||
	    a.st_dev == b.st_dev) {
		tap_skip(1, "no second filesystem at /dev/shm");
		return;
	}
	snprintf(shmdir, sizeof(shmdir), "/dev/shm/blobtest.XXXXXX");
	if (mkdtemp(shmdir) == NULL) {
		shmdir[0] = '\0';
		tap_skip(1, "cannot create a directory in /dev/shm");
		return;
	}
	dir = subdir("xfs");
	mkdir(dir, 0700);
	xasprintf(&link, "%s/tmp", dir);
	if (symlink(shmdir, link) == -1)
		abort();
	bs = blob_store_open(dir, &cause);
	ok(bs == NULL && cause != NULL &&
	    strstr(cause, "different filesystems") != NULL,
	    "tmp and data on two filesystems refused: %s", cause ? cause : "");
	blob_store_close(bs);
	free(cause);
	free(link);
	free(dir);
}

/* The reference set of the sweep test: ids in an array. */
struct refset {
	char	(*ids)[BLOB_ID_LEN + 1];
	int	  n;
	int	  calls;
	int	  fail;
};

static int
is_ref(const char *id, void *arg)
{
	struct refset	*rs = arg;
	int		 i;

	rs->calls++;
	if (rs->fail)
		return (-1);
	for (i = 0; i < rs->n; i++)
		if (strcmp(rs->ids[i], id) == 0)
			return (1);
	return (0);
}

static void
test_sweep(void)
{
	struct blob_store	*bs;
	struct blob_writer	*w;
	struct blob_sweep_stats	 st;
	struct refset		 rs;
	struct stat		 sb;
	char			 ids[10][BLOB_ID_LEN + 1], refs[4][BLOB_ID_LEN + 1];
	char			 id[BLOB_ID_LEN + 1], *dir, *cause = NULL;
	char			*foreign, *foreign2;
	uint64_t		 count, bytes, size;
	size_t			 removed = 0, referenced = 0, busy = 0;
	int			 i, calls = 0, bounded = 1, present, absent, fd;
	int			 rc;

	dir = subdir("sweep");
	if ((bs = blob_store_open(dir, &cause)) == NULL) {
		tap_diag("%s", cause);
		abort();
	}
	for (i = 0; i < 10; i++)
		if (commit_buf(bs, "0123456789", 10, 3, ids[i], NULL) == -1)
			abort();
	for (i = 0; i < 4; i++)
		memcpy(refs[i], ids[i * 3], sizeof(refs[i]));
	rs.ids = refs;
	rs.n = 4;
	rs.calls = 0;
	rs.fail = 0;
	/* Names that are not ours: left alone. */
	xasprintf(&foreign, "%s/data/README", dir);
	fd = open(foreign, O_WRONLY | O_CREAT, 0600);
	close(fd);
	xasprintf(&foreign2, "%s/data/%.2s/%.2s/notanid", dir, ids[1],
	    ids[1] + 2);
	fd = open(foreign2, O_WRONLY | O_CREAT, 0600);
	close(fd);
	/* An in-flight writer. */
	w = blob_write_begin(bs, &cause);
	if (w == NULL || blob_write(w, "inflight", 8, &cause) == -1)
		abort();

	memset(&st, 0, sizeof(st));
	ok(blob_sweep(bs, is_ref, &rs, 3600, 0, &st, &cause) == 0 &&
	    st.done, "sweep with an hour's grace completes");
	ok(st.removed == 0 && st.tmp_removed == 0 && st.young == 11 &&
	    rs.calls == 0, "grace: nothing young is removed or looked up "
	    "(young %zu)", st.young);

	memset(&st, 0, sizeof(st));
	do {
		if (blob_sweep(bs, is_ref, &rs, 0, 3, &st, &cause) == -1) {
			tap_diag("sweep: %s", cause);
			break;
		}
		calls++;
		if (st.examined > 3)
			bounded = 0;
		removed += st.removed;
		referenced += st.referenced;
		busy += st.tmp_busy;
	} while (!st.done && calls < 100);
	ok(st.done && bounded, "batches of 3 examine at most 3 each");
	ok(calls >= 4, "11 entries take at least 4 batches (%d)", calls);
	is_int(removed, 6, "the 6 unreferenced blobs are removed");
	is_int(referenced, 4, "the 4 referenced blobs are kept");
	is_int(busy, 1, "the in-flight temp file is busy, not removed");
	present = absent = 0;
	for (i = 0; i < 10; i++) {
		fd = blob_open(bs, ids[i], &size, &cause);
		if (fd != -1) {
			close(fd);
			present += i % 3 == 0;
		} else {
			free(cause);
			cause = NULL;
			absent += i % 3 != 0;
		}
	}
	ok(present == 4 && absent == 6, "exactly the referenced blobs remain");
	ok(blob_store_stats(bs, &count, &bytes, &cause) == 0 && count == 4 &&
	    bytes == 40, "stats: 4 blobs, 40 bytes");
	ok(stat(foreign, &sb) == 0 && stat(foreign2, &sb) == 0,
	    "names that are not blob ids are left alone");
	ok(blob_write_commit(w, id, NULL, &cause) == 0,
	    "the in-flight writer still commits after the sweep");

	/* A lookup failure stops the sweep and deletes nothing. */
	rs.fail = 1;
	rs.calls = 0;
	memset(&st, 0, sizeof(st));
	rc = blob_sweep(bs, is_ref, &rs, 0, 0, &st, &cause);
	ok(rc == -1 && cause != NULL && rs.calls == 1 && st.removed == 0,
	    "is_referenced -1 stops the sweep: %s", cause ? cause : "");
	free(cause);
	cause = NULL;
	fd = blob_open(bs, id, &size, &cause);
	ok(fd != -1, "the blob is still there");
	if (fd != -1)
		close(fd);
	rs.fail = 0;
	ok(blob_sweep(bs, is_ref, &rs, 0, 0, &st, &cause) == 0 && st.done &&
	    st.removed == 1, "the next call resumes and removes it");

	free(foreign);
	free(foreign2);
	blob_store_close(bs);
	free(dir);
}

/* Deterministic content: xorshift64 from a seed. */
static void
fill(unsigned char *buf, size_t len, uint64_t *state)
{
	uint64_t	x = *state;
	size_t		i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)x;
	}
	*state = x;
}

#define NSLOT	4

struct slot {
	struct blob_writer	*w;
	EVP_MD_CTX		*md;
	size_t			 size, done;
	uint64_t		 state;
};

/* The child of the crash test: reports commits, then "M" mid-write. */
static __dead void
crash_child(const char *dir, int out, int in, int kill_step, uint64_t seed)
{
	struct blob_store	*bs;
	struct slot		 slots[NSLOT];
	struct blob_info	 info;
	unsigned char		 buf[32768], md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen;
	char			 id[BLOB_ID_LEN + 1], sha[BLOB_SHA1_LEN + 1];
	char			 line[256], *cause = NULL;
	size_t			 n;
	int			 step, seq = 0;
	struct slot		*s;

	if ((bs = blob_store_open(dir, &cause)) == NULL)
		_exit(2);
	memset(slots, 0, sizeof(slots));
	for (step = 0;; step++) {
		s = &slots[step % NSLOT];
		if (s->w == NULL) {
			if ((s->w = blob_write_begin(bs, &cause)) == NULL)
				_exit(3);
			s->md = EVP_MD_CTX_new();
			EVP_DigestInit_ex(s->md, EVP_sha1(), NULL);
			s->state = seed + (uint64_t)seq * 0x9e3779b97f4a7c15ULL;
			s->size = (size_t)(s->state % (3 * sizeof(buf)));
			s->state |= 1;
			s->done = 0;
			seq++;
		}
		n = s->size - s->done < sizeof(buf) ? s->size - s->done :
		    sizeof(buf);
		fill(buf, n, &s->state);
		if (blob_write(s->w, buf, n, &cause) == -1)
			_exit(4);
		EVP_DigestUpdate(s->md, buf, n);
		s->done += n;
		if (s->done < s->size) {
			if (step >= kill_step && s->done > 0) {
				/* Mid-write: tell the parent and wait. */
				if (write(out, "M\n", 2) != 2)
					_exit(5);
				for (;;)
					if (read(in, buf, 1) <= 0)
						_exit(6);
			}
			continue;
		}
		EVP_DigestFinal_ex(s->md, md, &mdlen);
		EVP_MD_CTX_free(s->md);
		hex(md, mdlen, sha);
		if (seq % 3 == 2) {
			blob_write_abort(s->w);
		} else {
			if (blob_write_commit(s->w, id, &info, &cause) == -1)
				_exit(7);
			if (strcmp(info.sha1, sha) != 0 || info.size != s->size)
				_exit(8);
			n = (size_t)snprintf(line, sizeof(line),
			    "C %s %s %zu\n", id, sha, s->size);
			if (write(out, line, n) != (ssize_t)n)
				_exit(9);
		}
		s->w = NULL;
	}
}

static void
test_crash(void)
{
	struct blob_store	*bs;
	struct blob_sweep_stats	 st;
	struct refset		 rs;
	char			 (*ids)[BLOB_ID_LEN + 1];
	char			 (*shas)[BLOB_SHA1_LEN + 1];
	size_t			*sizes, sz;
	char			 line[256], got[BLOB_SHA1_LEN + 1];
	char			*dir, *tmp, *cause = NULL;
	uint64_t		 seed, count, bytes, size;
	int			 c2p[2], p2c[2], status, kill_step, n = 0;
	int			 mid = 0, good = 1, leftovers, tmp_removed = 0;
	int			 removed = 0, calls = 0;
	FILE			*f;

	dir = subdir("crash");
	tmp = subdir("crash/tmp");
	if ((bs = blob_store_open(dir, &cause)) == NULL) {
		tap_diag("%s", cause);
		abort();
	}
	RAND_bytes((unsigned char *)&seed, sizeof(seed));
	kill_step = 20 + (int)(seed % 60);
	tap_diag("crash test: seed %llu, kill from step %d",
	    (unsigned long long)seed, kill_step);
	ids = xcalloc(200, sizeof(*ids));
	shas = xcalloc(200, sizeof(*shas));
	sizes = xcalloc(200, sizeof(*sizes));

	if (pipe(c2p) == -1 || pipe(p2c) == -1)
		abort();
	fflush(stdout);
	if ((child_pid = fork()) == -1)
		abort();
	if (child_pid == 0) {
		close(c2p[0]);
		close(p2c[1]);
		crash_child(dir, c2p[1], p2c[0], kill_step, seed);
	}
	close(c2p[1]);
	close(p2c[0]);
	f = fdopen(c2p[0], "r");
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strcmp(line, "M\n") == 0) {
			mid = 1;
			break;
		}
		if (n < 200 && sscanf(line, "C %32s %40s %zu", ids[n], shas[n],
		    &sz) == 3)
			sizes[n++] = sz;
	}
	/* The child is blocked in read(2) with a partial temp file. */
	kill(child_pid, SIGKILL);
	waitpid(child_pid, &status, 0);
	child_pid = -1;
	fclose(f);
	close(p2c[1]);
	ok(mid && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	    "child killed mid-write after %d commits", n);
	ok(n > 0, "the child committed some blobs");

	for (int i = 0; i < n; i++) {
		if (read_back(bs, ids[i], &size, got) == -1 ||
		    size != sizes[i] || strcmp(got, shas[i]) != 0) {
			tap_diag("blob %s: size %llu/%zu sha %s/%s", ids[i],
			    (unsigned long long)size, sizes[i], got, shas[i]);
			good = 0;
		}
	}
	ok(good, "every reported blob is complete with its SHA-1");
	ok(blob_store_stats(bs, &count, &bytes, &cause) == 0 &&
	    count == (uint64_t)n, "data/ holds exactly the reported blobs, "
	    "nothing partial");
	leftovers = count_files(tmp);
	ok(leftovers >= 1, "the kill left temp files (%d)", leftovers);

	rs.ids = ids;
	rs.n = n;
	rs.calls = 0;
	rs.fail = 0;
	memset(&st, 0, sizeof(st));
	do {
		if (blob_sweep(bs, is_ref, &rs, 0, 5, &st, &cause) == -1) {
			tap_diag("sweep: %s", cause);
			break;
		}
		tmp_removed += (int)st.tmp_removed;
		removed += (int)st.removed;
	} while (!st.done && ++calls < 1000);
	ok(st.done && tmp_removed == leftovers && removed == 0,
	    "sweep (grace 0) removes the %d temp files and no blob",
	    tmp_removed);
	is_int(count_files(tmp), 0, "tmp/ is empty");
	ok(blob_store_stats(bs, &count, &bytes, &cause) == 0 &&
	    count == (uint64_t)n, "the committed blobs are all still there");

	free(ids);
	free(shas);
	free(sizes);
	blob_store_close(bs);
	free(tmp);
	free(dir);
}

static long
maxrss_kib(void)
{
	struct rusage	ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_maxrss);
}

static void
test_big(struct blob_store *bs)
{
	struct blob_writer	*w;
	struct blob_info	 info;
	EVP_MD_CTX		*md;
	unsigned char		*buf, dig[EVP_MAX_MD_SIZE];
	unsigned int		 diglen;
	const char		*env = getenv("BLOB_TEST_BIG_MIB");
	char			 want[BLOB_SHA1_LEN + 1], got[BLOB_SHA1_LEN + 1];
	char			 id[BLOB_ID_LEN + 1], *cause = NULL;
	uint64_t		 total, i, nchunks, size;
	size_t			 chunk = 256 * 1024;
	long			 rss0, rss1;
	int			 okw = 1;

	total = (uint64_t)(env != NULL ? strtoull(env, NULL, 10) : 1024) *
	    1024 * 1024;
	nchunks = total / chunk;
	buf = xmalloc(chunk);
	RAND_bytes(buf, (int)chunk);
	md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(md, EVP_sha1(), NULL);
	rss0 = maxrss_kib();

	if ((w = blob_write_begin(bs, &cause)) == NULL)
		abort();
	for (i = 0; i < nchunks; i++) {
		memcpy(buf, &i, sizeof(i));	/* every chunk differs */
		EVP_DigestUpdate(md, buf, chunk);
		if (blob_write(w, buf, chunk, &cause) == -1) {
			tap_diag("%s", cause);
			okw = 0;
			break;
		}
	}
	EVP_DigestFinal_ex(md, dig, &diglen);
	hex(dig, diglen, want);
	ok(okw && blob_write_commit(w, id, &info, &cause) == 0,
	    "%llu MiB streamed in %zu KiB chunks and committed",
	    (unsigned long long)(total >> 20), chunk / 1024);
	rss1 = maxrss_kib();
	is_int(info.size, total, "size of the big blob");
	is_str(info.sha1, want, "its SHA-1 is the independent one");
	ok(rss1 - rss0 < 16 * 1024, "peak RSS grew by %ld KiB (< 16 MiB)",
	    rss1 - rss0);
	ok(read_back(bs, id, &size, got) == 0 && size == total &&
	    strcmp(got, want) == 0, "it reads back with the same SHA-1");
	ok(blob_remove(bs, id, &cause) == 0, "and is removed");
	EVP_MD_CTX_free(md);
	free(buf);
}

/* ------------------------------------------------------------------ */
/* Batches (blob_batch_*) and the worker (blobq). */

/* One blob of len bytes of seeded content into batch b; its id and info. */
static int
batch_put(struct blob_batch *b, size_t len, uint64_t seed,
    char id[BLOB_ID_LEN + 1], struct blob_info *info,
    char sha[BLOB_SHA1_LEN + 1])
{
	struct blob_writer	*w;
	unsigned char		*buf;
	uint64_t		 state = seed | 1;
	char			*cause = NULL;
	int			 rc = -1;

	buf = xmalloc(len + 1);
	fill(buf, len, &state);
	sha1_hex(buf, len, sha);
	if ((w = blob_batch_begin(b, &cause)) == NULL)
		goto out;
	if (blob_write(w, buf, len, &cause) == -1) {
		blob_write_abort(w);
		goto out;
	}
	rc = blob_batch_add(b, w, id, info, &cause);
out:
	if (rc == -1)
		tap_diag("batch_put: %s", cause);
	free(cause);
	free(buf);
	return (rc);
}

static int
in_data(struct blob_store *bs, const char *id)
{
	char	*cause = NULL;
	int	 fd;

	if ((fd = blob_open(bs, id, NULL, &cause)) == -1) {
		free(cause);
		return (0);
	}
	close(fd);
	return (1);
}

#define NB	6

static void
test_batch_mode(struct blob_store *bs, const char *tmpdir, enum blob_sync how,
    const char *name)
{
	struct blob_batch	*b;
	struct blob_info	 info[NB];
	char			 ids[NB][BLOB_ID_LEN + 1];
	char			 sha[NB][BLOB_SHA1_LEN + 1];
	char			 got[BLOB_SHA1_LEN + 1], *cause = NULL;
	uint64_t		 size, count0, count, bytes;
	int			 i, good = 1, prefixed = 1, absent = 1;

	blob_store_stats(bs, &count0, &bytes, &cause);
	b = blob_batch_new(bs, &cause);
	if (!ok(b != NULL && strlen(blob_batch_prefix(b)) == 4,
	    "%s: a batch with a 4-hex-digit prefix", name))
		return;
	for (i = 0; i < NB; i++) {
		if (batch_put(b, (size_t)i * 40000 + (size_t)i, 77 + (uint64_t)i,
		    ids[i], &info[i], sha[i]) == -1)
			good = 0;
		else if (strncmp(ids[i], blob_batch_prefix(b), 4) != 0 ||
		    !blob_id_valid(ids[i]))
			prefixed = 0;
		else if (strcmp(info[i].sha1, sha[i]) != 0 ||
		    info[i].size != (uint64_t)i * 40001)
			good = 0;
		if (in_data(bs, ids[i]))
			absent = 0;
	}
	ok(good, "%s: %d blobs finished with their sizes and SHA-1s", name,
	    NB);
	ok(prefixed, "%s: every id starts with the batch's prefix", name);
	ok(absent && count_files(tmpdir) == NB,
	    "%s: before the commit they are only in tmp/", name);
	is_int(blob_batch_count(b), NB, "%s: blob_batch_count", name);
	ok(blob_batch_commit(b, how, &cause) == 0, "%s: the batch commits",
	    name);
	for (i = 0; i < NB; i++)
		if (read_back(bs, ids[i], &size, got) == -1 ||
		    size != info[i].size || strcmp(got, sha[i]) != 0)
			good = 0;
	ok(good, "%s: every blob reads back whole", name);
	is_int(count_files(tmpdir), 0, "%s: no temp name is left", name);
	ok(blob_batch_begin(b, &cause) == NULL && cause != NULL,
	    "%s: a committed batch takes no new writer", name);
	free(cause);
	cause = NULL;
	ok(blob_batch_commit(b, how, &cause) == -1,
	    "%s: nor a second commit", name);
	free(cause);
	cause = NULL;
	blob_store_stats(bs, &count, &bytes, &cause);
	is_int(count - count0, NB, "%s: data/ gained %d blobs", name, NB);
	is_int(blob_batch_unlink(b), NB, "%s: blob_batch_unlink removes "
	    "them (a failed transaction)", name);
	blob_store_stats(bs, &count, &bytes, &cause);
	is_int(count, count0, "%s: and data/ is as before", name);
	blob_batch_free(b);
}

static void
test_batch(struct blob_store *bs)
{
	struct blob_batch	*b;
	struct blob_writer	*w;
	struct blob_info	 info;
	char			 ids[3][BLOB_ID_LEN + 1], sha[BLOB_SHA1_LEN + 1];
	char			 id[BLOB_ID_LEN + 1], path[8192];
	char			*tmpdir, *cause = NULL;
	uint64_t		 count0, count, bytes;
	int			 i, fail, good = 1;

	tmpdir = subdir("store/tmp");
	test_batch_mode(bs, tmpdir, BLOB_SYNC_FSYNC, "fsync");
	test_batch_mode(bs, tmpdir, BLOB_SYNC_SYNCFS, "syncfs");
	test_batch_mode(bs, tmpdir, BLOB_SYNC_AUTO, "auto");

	/* Empty batch; a plain writer in a batch (another prefix). */
	b = blob_batch_new(bs, &cause);
	ok(blob_batch_commit(b, BLOB_SYNC_AUTO, &cause) == 0,
	    "an empty batch commits");
	blob_batch_free(b);
	b = blob_batch_new(bs, &cause);
	batch_put(b, 1000, 5, ids[0], &info, sha);
	w = blob_write_begin(bs, &cause);
	blob_write(w, "plain", 5, &cause);
	ok(blob_batch_add(b, w, ids[1], &info, &cause) == 0 &&
	    info.size == 5, "a writer from blob_write_begin joins a batch");
	ok(blob_batch_commit(b, BLOB_SYNC_FSYNC, &cause) == 0 &&
	    in_data(bs, ids[0]) && in_data(bs, ids[1]),
	    "a batch over two directories commits");
	blob_batch_free(b);
	blob_remove(bs, ids[0], &cause);
	blob_remove(bs, ids[1], &cause);

	/* A writer whose write failed is refused and its temp file goes. */
	b = blob_batch_new(bs, &cause);
	w = blob_batch_begin(b, &cause);
	ok(blob_batch_add(b, w, id, &info, &cause) == 0,
	    "an empty blob is fine");
	free(cause);
	cause = NULL;
	blob_batch_free(b);
	is_int(count_files(tmpdir), 0, "blob_batch_free of an uncommitted "
	    "batch removes its temp files");

	/*
	 * A commit failure (a temp file swept away before the commit) leaves
	 * none of the batch's blobs under data/, in both modes.
	 */
	for (fail = 0; fail < 2; fail++) {
		blob_store_stats(bs, &count0, &bytes, &cause);
		b = blob_batch_new(bs, &cause);
		for (i = 0; i < 3; i++)
			batch_put(b, 3000, (uint64_t)i + 9, ids[i], &info, sha);
		snprintf(path, sizeof(path), "%s/%s", tmpdir, ids[2]);
		unlink(path);
		ok(blob_batch_commit(b, fail ? BLOB_SYNC_SYNCFS :
		    BLOB_SYNC_FSYNC, &cause) == -1 && cause != NULL &&
		    strstr(cause, ids[2]) != NULL, "%s: a commit with a "
		    "missing temp file fails, naming it",
		    fail ? "syncfs" : "fsync");
		tap_diag("%s", cause != NULL ? cause : "(none)");
		free(cause);
		cause = NULL;
		for (i = 0; i < 3; i++)
			if (in_data(bs, ids[i]))
				good = 0;
		blob_store_stats(bs, &count, &bytes, &cause);
		ok(good && count == count0, "nothing of the failed batch "
		    "stays under data/");
		blob_batch_free(b);
		is_int(count_files(tmpdir), 0, "its temp files are removed "
		    "by blob_batch_free");
	}
	free(tmpdir);
}

/* The child of the batch crash test. */
static __dead void
batch_crash_child(const char *dir, int out, int kill_batch, uint64_t seed)
{
	struct blob_store	*bs;
	struct blob_batch	*b;
	struct blob_info	 info;
	char			 id[BLOB_ID_LEN + 1], sha[BLOB_SHA1_LEN + 1];
	char			 line[256], *cause = NULL;
	size_t			 n, size;
	int			 k, i, nblobs;

	if ((bs = blob_store_open(dir, &cause)) == NULL)
		_exit(2);
	for (k = 0;; k++) {
		if ((b = blob_batch_new(bs, &cause)) == NULL)
			_exit(3);
		nblobs = k >= kill_batch ? 48 : 1 + (int)((seed + (uint64_t)k)
		    % 6);
		for (i = 0; i < nblobs; i++) {
			size = (size_t)((seed >> (i % 32)) % 60000) + 1;
			if (batch_put(b, size, seed + (uint64_t)k * 1000 +
			    (uint64_t)i, id, &info, sha) == -1)
				_exit(4);
			n = (size_t)snprintf(line, sizeof(line),
			    "P %s %s %zu\n", id, sha, size);
			if (write(out, line, n) != (ssize_t)n)
				_exit(5);
		}
		if (k >= kill_batch) {
			/*
			 * Every other run, the files' data is flushed first:
			 * the commit's first sync is then quick and the kill
			 * lands among the links or the directory syncs.
			 */
			if ((seed & 2) && (i = open(dir, O_RDONLY)) != -1) {
				syncfs(i);
				close(i);
			}
			if (write(out, "M\n", 2) != 2)
				_exit(6);
		}
		if (blob_batch_commit(b, (k & 1) ? BLOB_SYNC_SYNCFS :
		    BLOB_SYNC_FSYNC, &cause) == -1)
			_exit(7);
		blob_batch_free(b);
		if (write(out, "C\n", 2) != 2)
			_exit(8);
	}
}

#define NCRASH	1000

/*
 * kill -9 of a process committing batches, at whatever point of the commit
 * the signal lands: every file under data/ is a whole blob, the batches
 * reported committed are all there, and the sweep removes the rest.
 */
static void
test_batch_crash(void)
{
	struct blob_store	*bs;
	struct blob_sweep_stats	 st;
	struct refset		 rs;
	char			 (*ids)[BLOB_ID_LEN + 1];
	char			 (*shas)[BLOB_SHA1_LEN + 1];
	char			 (*committed)[BLOB_ID_LEN + 1];
	size_t			*sizes, sz;
	char			 line[256], got[BLOB_SHA1_LEN + 1];
	char			*dir, *tmp, *cause = NULL;
	uint64_t		 seed, count, bytes, size;
	int			 c2p[2], status, kill_batch, n = 0, ncommitted = 0;
	int			 batch_start = 0, mid = 0, good = 1, found = 0;
	int			 i, calls = 0;
	FILE			*f;

	dir = subdir("bcrash");
	tmp = subdir("bcrash/tmp");
	if ((bs = blob_store_open(dir, &cause)) == NULL) {
		tap_diag("%s", cause);
		abort();
	}
	RAND_bytes((unsigned char *)&seed, sizeof(seed));
	kill_batch = 3 + (int)(seed % 8);
	tap_diag("batch crash test: seed %llu, kill in batch %d",
	    (unsigned long long)seed, kill_batch);
	ids = xcalloc(NCRASH, sizeof(*ids));
	shas = xcalloc(NCRASH, sizeof(*shas));
	committed = xcalloc(NCRASH, sizeof(*committed));
	sizes = xcalloc(NCRASH, sizeof(*sizes));

	if (pipe(c2p) == -1)
		abort();
	fflush(stdout);
	if ((child_pid = fork()) == -1)
		abort();
	if (child_pid == 0) {
		close(c2p[0]);
		batch_crash_child(dir, c2p[1], kill_batch, seed);
	}
	close(c2p[1]);
	f = fdopen(c2p[0], "r");
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strcmp(line, "M\n") == 0) {
			mid = 1;
			break;
		}
		if (strcmp(line, "C\n") == 0) {
			for (i = batch_start; i < n; i++)
				memcpy(committed[ncommitted++], ids[i],
				    BLOB_ID_LEN + 1);
			batch_start = n;
		} else if (n < NCRASH && sscanf(line, "P %32s %40s %zu",
		    ids[n], shas[n], &sz) == 3)
			sizes[n++] = sz;
	}
	/* The child is somewhere in (or just past) its last commit. */
	kill(child_pid, SIGKILL);
	waitpid(child_pid, &status, 0);
	child_pid = -1;
	fclose(f);
	ok(mid && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	    "child killed during a batch commit after %d committed blobs",
	    ncommitted);

	/* Every blob under data/ is a whole one the child wrote. */
	for (i = 0; i < n; i++) {
		if (!in_data(bs, ids[i]))
			continue;
		found++;
		if (read_back(bs, ids[i], &size, got) == -1 ||
		    size != sizes[i] || strcmp(got, shas[i]) != 0) {
			tap_diag("blob %s: size %llu/%zu sha %s/%s", ids[i],
			    (unsigned long long)size, sizes[i], got, shas[i]);
			good = 0;
		}
	}
	ok(good, "every blob under data/ is complete with its SHA-1");
	for (i = 0; i < ncommitted; i++)
		if (!in_data(bs, committed[i]))
			good = 0;
	ok(good, "every blob of a committed batch is there");
	ok(blob_store_stats(bs, &count, &bytes, &cause) == 0 &&
	    count == (uint64_t)found, "data/ holds nothing else (%d blobs, "
	    "%d of the batch killed)", found, found - ncommitted);

	rs.ids = committed;
	rs.n = ncommitted;
	rs.calls = 0;
	rs.fail = 0;
	memset(&st, 0, sizeof(st));
	do {
		if (blob_sweep(bs, is_ref, &rs, 0, 16, &st, &cause) == -1) {
			tap_diag("sweep: %s", cause);
			break;
		}
	} while (!st.done && ++calls < 1000);
	is_int(count_files(tmp), 0, "the sweep empties tmp/");
	ok(blob_store_stats(bs, &count, &bytes, &cause) == 0 &&
	    count == (uint64_t)ncommitted, "and leaves exactly the committed "
	    "blobs in data/");

	free(ids);
	free(shas);
	free(committed);
	free(sizes);
	blob_store_close(bs);
	free(tmp);
	free(dir);
}

/* The worker. */

struct gate {
	pthread_mutex_t	mtx;
	pthread_cond_t	cond;
	int		open;
	int		running;	/* the gated work has started */
};

static struct gate	gate = { PTHREAD_MUTEX_INITIALIZER,
			    PTHREAD_COND_INITIALIZER, 0, 0 };

struct wjob {
	int		 n;		/* its number */
	int		 fail;		/* work returns -1 */
	int		 gated;		/* work waits for the gate */
	int		 wait_stop;	/* work waits for blobq_free */
	int		 worked;	/* work ran */
	int		 off_loop;	/* work ran on another thread */
	int		 rc;		/* done's rc; 99 until called */
	int		 on_loop;	/* done ran on the main thread */
	int		 order;		/* done's position */
	char		 cause[64];
};

static pthread_t	main_thread;
static int		done_seq;
static struct event_base *wbase;
static int		wjobs_left;
static struct blobq	*wq;

static int
gate_wait(int secs)
{
	struct timespec	ts;
	int		rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += secs;
	pthread_mutex_lock(&gate.mtx);
	gate.running = 1;
	pthread_cond_broadcast(&gate.cond);
	while (!gate.open && rc == 0)
		rc = pthread_cond_timedwait(&gate.cond, &gate.mtx, &ts);
	pthread_mutex_unlock(&gate.mtx);
	return (rc == 0 ? 0 : -1);
}

static void
gate_set(int open)
{
	pthread_mutex_lock(&gate.mtx);
	gate.open = open;
	if (!open)
		gate.running = 0;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.mtx);
}

/* Waits (bounded) until the gated work has started. */
static int
gate_wait_running(void)
{
	struct timespec	ts;
	int		rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&gate.mtx);
	while (!gate.running && rc == 0)
		rc = pthread_cond_timedwait(&gate.cond, &gate.mtx, &ts);
	pthread_mutex_unlock(&gate.mtx);
	return (rc == 0 ? 0 : -1);
}

static int
wjob_work(void *arg, char **cause)
{
	struct wjob	*j = arg;

	j->worked = 1;
	j->off_loop = !pthread_equal(pthread_self(), main_thread);
	if (j->gated && gate_wait(10) == -1) {
		xasprintf(cause, "the loop never opened the gate");
		return (-1);
	}
	if (j->wait_stop) {
		struct timespec	ts = { 0, 1000000 };
		int		i;

		gate_wait(0);	/* only says "running" */
		for (i = 0; i < 10000 && !blobq_stopping(wq); i++)
			nanosleep(&ts, NULL);
	}
	if (j->fail) {
		xasprintf(cause, "job %d failed on purpose", j->n);
		return (-1);
	}
	return (0);
}

static void
wjob_done(int rc, const char *cause, void *arg)
{
	struct wjob	*j = arg;

	j->rc = rc;
	j->on_loop = pthread_equal(pthread_self(), main_thread);
	j->order = ++done_seq;
	if (cause != NULL)
		strlcpy(j->cause, cause, sizeof(j->cause));
	if (--wjobs_left == 0 && wbase != NULL)
		event_base_loopbreak(wbase);
}

/* A timer on the loop opens the gate: the loop runs during the work. */
static void
open_gate_cb(evutil_socket_t fd, short what, void *arg)
{
	int	*ticks = arg;

	(*ticks)++;
	gate_set(1);
}

static void
test_blobq(struct blob_store *bs)
{
	struct blobq		*q;
	struct wjob		 j[4];
	struct event		*tev;
	struct timeval		 tv = { 0, 1000 };
	struct blob_batch	*b;
	struct blob_info	 info;
	char			 id[BLOB_ID_LEN + 1], sha[BLOB_SHA1_LEN + 1];
	char			*cause = NULL;
	int			 i, ticks = 0, good = 1;

	main_thread = pthread_self();
	wbase = event_base_new();
	q = blobq_new(wbase, &cause);
	if (!ok(q != NULL, "the worker starts")) {
		tap_diag("%s", cause);
		return;
	}

	/* Three jobs, one failing: in order, worked off the loop, done on it. */
	memset(j, 0, sizeof(j));
	done_seq = 0;
	wjobs_left = 3;
	for (i = 0; i < 3; i++) {
		j[i].n = i;
		j[i].rc = 99;
		j[i].fail = i == 1;
		blobq_run(q, wjob_work, &j[i], wjob_done, &j[i]);
	}
	is_int(j[0].rc, 99, "no callback from inside blobq_run");
	event_base_dispatch(wbase);
	for (i = 0; i < 3; i++)
		if (!j[i].worked || !j[i].off_loop || !j[i].on_loop ||
		    j[i].order != i + 1)
			good = 0;
	ok(good, "3 jobs: worked on the worker, delivered on the loop, in "
	    "order");
	ok(j[0].rc == BLOBQ_DONE && j[2].rc == BLOBQ_DONE &&
	    j[1].rc == BLOBQ_FAILED && strstr(j[1].cause, "on purpose") !=
	    NULL, "results and the failure's cause are delivered");
	is_int(blobq_pending(q), 0, "nothing pending");

	/* The loop is not blocked while a job works. */
	memset(j, 0, sizeof(j));
	j[0].gated = 1;
	j[0].rc = 99;
	wjobs_left = 1;
	gate_set(0);
	tev = evtimer_new(wbase, open_gate_cb, &ticks);
	evtimer_add(tev, &tv);
	blobq_run(q, wjob_work, &j[0], wjob_done, &j[0]);
	event_base_dispatch(wbase);
	ok(ticks == 1 && j[0].rc == BLOBQ_DONE, "a loop timer fired while "
	    "the job waited for it (the loop is not blocked)");
	event_free(tev);

	/* A batch commit on the worker. */
	b = blob_batch_new(bs, &cause);
	batch_put(b, 70000, 3, id, &info, sha);
	memset(j, 0, sizeof(j));
	j[0].rc = 99;
	wjobs_left = 1;
	blobq_commit(q, b, wjob_done, &j[0]);
	event_base_dispatch(wbase);
	ok(j[0].rc == BLOBQ_DONE && j[0].on_loop && in_data(bs, id),
	    "blobq_commit: the batch is committed, delivered on the loop");
	blob_batch_free(b);
	blob_remove(bs, id, &cause);

	/* Writeback kicks: a finished temp blob, a missing one; then a job. */
	b = blob_batch_new(bs, &cause);
	batch_put(b, 300000, 6, id, &info, sha);
	blobq_writeback(q, bs, id);
	blobq_writeback(q, bs, "0123456789abcdef0123456789abcdef");
	blobq_writeback(q, bs, "../../etc/passwd");
	memset(j, 0, sizeof(j));
	j[0].rc = 99;
	wjobs_left = 1;
	blobq_run(q, wjob_work, &j[0], wjob_done, &j[0]);
	event_base_dispatch(wbase);
	ok(j[0].rc == BLOBQ_DONE && blobq_pending(q) == 0 &&
	    blob_tmp_writeback(bs, id) == 0 &&
	    blob_tmp_writeback(bs, "0123456789abcdef0123456789abcdef") == -1,
	    "writeback kicks run in order and are delivered silently");
	ok(blob_batch_commit(b, BLOB_SYNC_AUTO, &cause) == 0 &&
	    in_data(bs, id), "the kicked blob commits");
	blob_batch_free(b);
	blob_remove(bs, id, &cause);

	/* Shutdown with jobs pending: one running, two queued, one batch. */
	memset(j, 0, sizeof(j));
	for (i = 0; i < 3; i++) {
		j[i].n = i;
		j[i].rc = 99;
	}
	j[3].rc = 99;
	j[0].wait_stop = 1;
	gate_set(0);
	wjobs_left = 4;
	wq = q;
	blobq_run(q, wjob_work, &j[0], wjob_done, &j[0]);
	blobq_run(q, wjob_work, &j[1], wjob_done, &j[1]);
	blobq_run(q, wjob_work, &j[2], wjob_done, &j[2]);
	b = blob_batch_new(bs, &cause);
	batch_put(b, 5000, 4, id, &info, sha);
	blobq_commit(q, b, wjob_done, &j[3]);
	ok(gate_wait_running() == 0, "the first job is running");
	is_int(blobq_pending(q), 4, "4 jobs pending");
	blobq_free(q);
	wq = NULL;
	ok(j[0].worked && !j[1].worked && !j[2].worked,
	    "blobq_free: the running job finished, the queued ones never ran");
	ok(j[0].rc == BLOBQ_STOPPED && j[1].rc == BLOBQ_STOPPED &&
	    j[2].rc == BLOBQ_STOPPED && j[3].rc == BLOBQ_STOPPED &&
	    j[3].on_loop, "every pending job got BLOBQ_STOPPED, "
	    "synchronously, on the calling thread");
	ok(!in_data(bs, id), "the queued batch was not committed");
	blob_batch_free(b);

	/* Attached to a store: blob_store_close stops it. */
	{
		struct blob_store	*bs2;
		char			*d2 = subdir("qstore");

		bs2 = blob_store_open(d2, &cause);
		ok(bs2 != NULL && blobq_of(bs2) == NULL &&
		    blobq_attach(bs2, wbase, &cause) == 0 &&
		    blobq_of(bs2) != NULL, "blobq_attach gives the store a "
		    "worker");
		ok(blobq_attach(bs2, wbase, &cause) == -1,
		    "only one");
		free(cause);
		cause = NULL;
		memset(j, 0, sizeof(j));
		j[0].rc = 99;
		gate_set(1);
		blobq_run(blobq_of(bs2), wjob_work, &j[0], wjob_done, &j[0]);
		blob_store_close(bs2);
		ok(j[0].rc == BLOBQ_STOPPED, "blob_store_close stops it and "
		    "delivers its pending job");
		free(d2);
	}
	event_base_free(wbase);
	wbase = NULL;
}

int
main(void)
{
	struct blob_store	*bs;
	struct stat		 st;
	const char		*t = getenv("TMPDIR");
	char			*dir, *cause = NULL;

	snprintf(basedir, sizeof(basedir), "%s/test_blob.XXXXXX",
	    t != NULL && *t != '\0' ? t : "/tmp");
	if (mkdtemp(basedir) == NULL) {
		basedir[0] = '\0';
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return (1);
	}
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	dir = subdir("store");
	bs = blob_store_open(dir, &cause);
	if (!ok(bs != NULL, "store opens (creating it)")) {
		tap_diag("%s", cause);
		return (tap_done());
	}
	free(dir);
	dir = subdir("store/tmp");
	ok(stat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
	    (st.st_mode & 0777) == 0700, "tmp/ is a 0700 directory");
	free(dir);
	dir = subdir("store/data");
	ok(stat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
	    (st.st_mode & 0777) == 0700, "data/ is a 0700 directory");
	is_int(count_files(dir), 0, "the writability probe left nothing");
	free(dir);

	test_roundtrip(bs);
	test_abort_and_ids(bs);
	test_bad_ids(bs);
	test_big(bs);
	test_batch(bs);
	test_blobq(bs);
	blob_store_close(bs);

	dir = subdir("store");
	bs = blob_store_open(dir, &cause);
	ok(bs != NULL, "an existing store reopens");
	blob_store_close(bs);
	free(dir);

	test_not_writable();
	test_cross_fs();
	test_sweep();
	test_crash();
	test_batch_crash();
	return (tap_done());
}
