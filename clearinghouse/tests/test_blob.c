/*
 * test_blob.c: the filesystem blob store (clearinghouse/blob.c).
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

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "blob.h"
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
	return (tap_done());
}
