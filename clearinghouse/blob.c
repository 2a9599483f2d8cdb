/*
 * blob.c: the filesystem blob store. See blob.h and docs/design/blob.md.
 *
 * Layout under the store directory:
 *	tmp/<id>		a blob being written (flocked by its writer)
 *	data/<ab>/<cd>/<id>	a committed blob, mode 0400, never partial
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "blob.h"
#include "xmalloc.h"

struct blob_store {
	char	*dir;
	int	 dirfd;
	int	 tmpfd;
	int	 datafd;
	void	*worker;			/* blobq.c's, or NULL */
	void	(*worker_free)(void *);
};

struct blob_writer {
	struct blob_store	*bs;
	int			 fd;
	int			 failed;
	uint64_t		 size;
	EVP_MD_CTX		*md;
	char			 id[BLOB_ID_LEN + 1];
};

static const char hexdigits[] = "0123456789abcdef";

static void
hexify(const unsigned char *in, size_t len, char *out)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hexdigits[in[i] >> 4];
		out[2 * i + 1] = hexdigits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

static int
random_id(char id[BLOB_ID_LEN + 1])
{
	unsigned char	raw[BLOB_ID_LEN / 2];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return (-1);
	hexify(raw, sizeof(raw), id);
	return (0);
}

static int
ishex(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return (0);
	return (1);
}

int
blob_id_valid(const char *s)
{
	return (s != NULL && strnlen(s, BLOB_ID_LEN + 1) == BLOB_ID_LEN &&
	    ishex(s, BLOB_ID_LEN));
}

/* "ab/cd/<id>" relative to data/. */
static void
blob_relpath(const char *id, char *buf, size_t size)
{
	snprintf(buf, size, "%.2s/%.2s/%s", id, id + 2, id);
}

static int
mkdirat_ok(int fd, const char *name)
{
	if (mkdirat(fd, name, 0700) == -1 && errno != EEXIST)
		return (-1);
	return (0);
}

static int
opendirat(int fd, const char *name)
{
	return (openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

/* Proves that tmp/ takes a new file and that it can be linked into data/. */
static int
blob_store_probe(struct blob_store *bs, char **cause)
{
	char	name[8 + BLOB_ID_LEN + 1], id[BLOB_ID_LEN + 1];
	int	fd;

	if (random_id(id) == -1) {
		xasprintf(cause, "blob store %s: no random bytes", bs->dir);
		return (-1);
	}
	snprintf(name, sizeof(name), ".probe-%s", id);
	fd = openat(bs->tmpfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fd == -1) {
		xasprintf(cause, "blob store %s is not writable: could not "
		    "create a file in %s/tmp: %s", bs->dir, bs->dir,
		    strerror(errno));
		return (-1);
	}
	close(fd);
	if (linkat(bs->tmpfd, name, bs->datafd, name, 0) == -1) {
		xasprintf(cause, "blob store %s is not writable: could not "
		    "link a file from %s/tmp into %s/data: %s", bs->dir,
		    bs->dir, bs->dir, strerror(errno));
		unlinkat(bs->tmpfd, name, 0);
		return (-1);
	}
	if (unlinkat(bs->datafd, name, 0) == -1 ||
	    unlinkat(bs->tmpfd, name, 0) == -1) {
		xasprintf(cause, "blob store %s is not writable: could not "
		    "remove a probe file: %s", bs->dir, strerror(errno));
		return (-1);
	}
	return (0);
}

struct blob_store *
blob_store_open(const char *dir, char **cause)
{
	struct blob_store	*bs;
	struct stat		 tst, dst;

	bs = xcalloc(1, sizeof(*bs));
	bs->dir = xstrdup(dir);
	bs->dirfd = bs->tmpfd = bs->datafd = -1;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		xasprintf(cause, "could not create blob store %s: %s", dir,
		    strerror(errno));
		goto fail;
	}
	if ((bs->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		xasprintf(cause, "could not open blob store %s: %s", dir,
		    strerror(errno));
		goto fail;
	}
	if (mkdirat_ok(bs->dirfd, "tmp") == -1 ||
	    mkdirat_ok(bs->dirfd, "data") == -1) {
		xasprintf(cause, "blob store %s is not writable: could not "
		    "create tmp or data: %s", dir, strerror(errno));
		goto fail;
	}
	if ((bs->tmpfd = opendirat(bs->dirfd, "tmp")) == -1 ||
	    (bs->datafd = opendirat(bs->dirfd, "data")) == -1) {
		xasprintf(cause, "could not open blob store %s/%s: %s", dir,
		    bs->tmpfd == -1 ? "tmp" : "data", strerror(errno));
		goto fail;
	}
	if (fstat(bs->tmpfd, &tst) == -1 || fstat(bs->datafd, &dst) == -1) {
		xasprintf(cause, "could not stat blob store %s: %s", dir,
		    strerror(errno));
		goto fail;
	}
	if (tst.st_dev != dst.st_dev) {
		xasprintf(cause, "blob store %s: %s/tmp and %s/data are on "
		    "different filesystems", dir, dir, dir);
		goto fail;
	}
	if (blob_store_probe(bs, cause) == -1)
		goto fail;
	return (bs);

fail:
	blob_store_close(bs);
	return (NULL);
}

void
blob_store_close(struct blob_store *bs)
{
	if (bs == NULL)
		return;
	if (bs->worker_free != NULL)	/* first: its jobs use the store */
		bs->worker_free(bs->worker);
	if (bs->datafd != -1)
		close(bs->datafd);
	if (bs->tmpfd != -1)
		close(bs->tmpfd);
	if (bs->dirfd != -1)
		close(bs->dirfd);
	free(bs->dir);
	free(bs);
}

/* A writer whose id starts with prefix (4 hex digits) when not NULL. */
static struct blob_writer *
writer_begin(struct blob_store *bs, const char *prefix, char **cause)
{
	struct blob_writer	*w;

	w = xcalloc(1, sizeof(*w));
	w->bs = bs;
	w->fd = -1;
	if (random_id(w->id) == -1) {
		xasprintf(cause, "could not start a blob: no random bytes");
		goto fail;
	}
	if (prefix != NULL)
		memcpy(w->id, prefix, BLOB_PREFIX_LEN);
	if ((w->md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(w->md, EVP_sha1(), NULL) != 1) {
		xasprintf(cause, "could not start a blob: SHA-1 unavailable");
		goto fail;
	}
	w->fd = openat(bs->tmpfd, w->id, O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC | O_NOFOLLOW, 0600);
	if (w->fd == -1) {
		xasprintf(cause, "could not create blob temp file %s/tmp/%s: "
		    "%s", bs->dir, w->id, strerror(errno));
		goto fail;
	}
	/* Held until commit or abort: the sweeper skips locked files. */
	if (flock(w->fd, LOCK_EX | LOCK_NB) == -1) {
		xasprintf(cause, "could not lock blob temp file %s/tmp/%s: %s",
		    bs->dir, w->id, strerror(errno));
		unlinkat(bs->tmpfd, w->id, 0);
		goto fail;
	}
	return (w);

fail:
	if (w->fd != -1)
		close(w->fd);
	EVP_MD_CTX_free(w->md);
	free(w);
	return (NULL);
}

void
blob_store_set_worker(struct blob_store *bs, void *worker,
    void (*worker_free)(void *))
{
	bs->worker = worker;
	bs->worker_free = worker_free;
}

void *
blob_store_worker(const struct blob_store *bs)
{
	return (bs->worker);
}

struct blob_writer *
blob_write_begin(struct blob_store *bs, char **cause)
{
	return (writer_begin(bs, NULL, cause));
}

int
blob_write(struct blob_writer *w, const void *buf, size_t len, char **cause)
{
	const char	*p = buf;
	ssize_t		 n;
	size_t		 left = len;

	if (w->failed) {
		xasprintf(cause, "blob %s: an earlier write failed", w->id);
		return (-1);
	}
	while (left > 0) {
		n = write(w->fd, p, left);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			w->failed = 1;
			xasprintf(cause, "could not write blob temp file "
			    "%s/tmp/%s: %s", w->bs->dir, w->id,
			    strerror(errno));
			return (-1);
		}
		p += n;
		left -= (size_t)n;
	}
	if (len > 0 && EVP_DigestUpdate(w->md, buf, len) != 1) {
		w->failed = 1;
		xasprintf(cause, "blob %s: SHA-1 update failed", w->id);
		return (-1);
	}
	w->size += len;
	return (0);
}

uint64_t
blob_write_size(const struct blob_writer *w)
{
	return (w->size);
}

static void
blob_writer_free(struct blob_writer *w)
{
	if (w->fd != -1)
		close(w->fd);	/* releases the flock */
	EVP_MD_CTX_free(w->md);
	free(w);
}

void
blob_write_abort(struct blob_writer *w)
{
	if (w == NULL)
		return;
	unlinkat(w->bs->tmpfd, w->id, 0);
	blob_writer_free(w);
}

/*
 * Opens data/<ab>/<cd>, creating both levels when missing. *abfd is left
 * open so the caller can fsync it.
 */
static int
blob_leafdir(struct blob_store *bs, const char *id, int *abfd)
{
	char	ab[3], cd[3];
	int	fd;

	memcpy(ab, id, 2);
	ab[2] = '\0';
	memcpy(cd, id + 2, 2);
	cd[2] = '\0';
	if (mkdirat_ok(bs->datafd, ab) == -1 ||
	    (*abfd = opendirat(bs->datafd, ab)) == -1)
		return (-1);
	if (mkdirat_ok(*abfd, cd) == -1 || (fd = opendirat(*abfd, cd)) == -1) {
		close(*abfd);
		*abfd = -1;
		return (-1);
	}
	return (fd);
}

int
blob_write_commit(struct blob_writer *w, char id[BLOB_ID_LEN + 1],
    struct blob_info *info, char **cause)
{
	struct blob_store	*bs = w->bs;
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen;
	int			 leaffd = -1, abfd = -1, linked = 0;
	const char		*what;

	if (w->failed) {
		xasprintf(cause, "blob %s: an earlier write failed", w->id);
		goto fail;
	}
	if (EVP_DigestFinal_ex(w->md, md, &mdlen) != 1 || mdlen != 20) {
		xasprintf(cause, "blob %s: SHA-1 final failed", w->id);
		goto fail;
	}
	what = "fsync";
	if (fchmod(w->fd, 0400) == -1 || fsync(w->fd) == -1)
		goto syserr;
	what = "create the directory for";
	if ((leaffd = blob_leafdir(bs, w->id, &abfd)) == -1)
		goto syserr;
	what = "link";
	if (linkat(bs->tmpfd, w->id, leaffd, w->id, 0) == -1)
		goto syserr;
	linked = 1;
	/*
	 * The new entry and any directory made for it (by us or by another
	 * process that has not synced yet) must be durable before the caller
	 * commits a row naming the blob. A clean directory syncs cheaply.
	 */
	what = "fsync the directories of";
	if (fsync(leaffd) == -1 || fsync(abfd) == -1 || fsync(bs->datafd) == -1)
		goto syserr;
	/* A leftover temp name after a crash here is swept: same inode. */
	unlinkat(bs->tmpfd, w->id, 0);
	close(leaffd);
	close(abfd);

	memcpy(id, w->id, BLOB_ID_LEN + 1);
	if (info != NULL) {
		info->size = w->size;
		hexify(md, mdlen, info->sha1);
	}
	blob_writer_free(w);
	return (0);

syserr:
	xasprintf(cause, "could not %s blob %s in %s: %s", what, w->id,
	    bs->dir, strerror(errno));
fail:
	if (linked)
		unlinkat(leaffd, w->id, 0);
	if (leaffd != -1)
		close(leaffd);
	if (abfd != -1)
		close(abfd);
	blob_write_abort(w);
	return (-1);
}

/* ------------------------------------------------------------------ */
/* Batches: one durable commit for a set of blobs (docs/design/blob.md). */

struct blob_batch_ent {
	char	id[BLOB_ID_LEN + 1];
	int	tmp;		/* tmp/<id> is ours to remove */
	int	linked;		/* data/ab/cd/<id> made by this batch */
};

struct blob_batch {
	struct blob_store	*bs;
	char			 prefix[BLOB_PREFIX_LEN + 1];
	struct blob_batch_ent	*v;
	size_t			 n;
	size_t			 cap;
	int			 committed;
};

/* A data/ab/cd directory the commit linked into (and must fsync). */
struct blob_leaf {
	char	prefix[BLOB_PREFIX_LEN + 1];
	int	leaffd;
	int	abfd;
	int	ab_first;	/* first leaf of its ab: fsync ab once */
};

struct blob_batch *
blob_batch_new(struct blob_store *bs, char **cause)
{
	struct blob_batch	*b;
	char			 id[BLOB_ID_LEN + 1];

	if (random_id(id) == -1) {
		xasprintf(cause, "could not start a blob batch: no random "
		    "bytes");
		return (NULL);
	}
	b = xcalloc(1, sizeof(*b));
	b->bs = bs;
	memcpy(b->prefix, id, BLOB_PREFIX_LEN);
	b->prefix[BLOB_PREFIX_LEN] = '\0';
	return (b);
}

const char *
blob_batch_prefix(const struct blob_batch *b)
{
	return (b->prefix);
}

size_t
blob_batch_count(const struct blob_batch *b)
{
	return (b->n);
}

struct blob_writer *
blob_batch_begin(struct blob_batch *b, char **cause)
{
	if (b->committed) {
		xasprintf(cause, "blob batch %s is already committed",
		    b->prefix);
		return (NULL);
	}
	return (writer_begin(b->bs, b->prefix, cause));
}

int
blob_batch_add(struct blob_batch *b, struct blob_writer *w,
    char id[BLOB_ID_LEN + 1], struct blob_info *info, char **cause)
{
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen;
	struct blob_batch_ent	*e;

	if (b->committed || w->bs != b->bs) {
		xasprintf(cause, "blob %s does not belong to batch %s", w->id,
		    b->prefix);
		goto fail;
	}
	if (w->failed) {
		xasprintf(cause, "blob %s: an earlier write failed", w->id);
		goto fail;
	}
	if (EVP_DigestFinal_ex(w->md, md, &mdlen) != 1 || mdlen != 20) {
		xasprintf(cause, "blob %s: SHA-1 final failed", w->id);
		goto fail;
	}
	/* Final mode now: the commit links the inode as it is. */
	if (fchmod(w->fd, 0400) == -1) {
		xasprintf(cause, "could not finish blob %s in %s: %s", w->id,
		    b->bs->dir, strerror(errno));
		goto fail;
	}
	if (b->n == b->cap) {
		b->cap = b->cap == 0 ? 16 : b->cap * 2;
		b->v = xreallocarray(b->v, b->cap, sizeof(*b->v));
	}
	e = &b->v[b->n++];
	memset(e, 0, sizeof(*e));
	memcpy(e->id, w->id, BLOB_ID_LEN + 1);
	e->tmp = 1;
	memcpy(id, w->id, BLOB_ID_LEN + 1);
	if (info != NULL) {
		info->size = w->size;
		hexify(md, mdlen, info->sha1);
	}
	blob_writer_free(w);	/* closes the fd: no fsync, no flock now */
	return (0);

fail:
	blob_write_abort(w);
	return (-1);
}

/* The leaf of prefix p among leaves[0..*nleaves), opened when new. */
static struct blob_leaf *
batch_leaf(struct blob_store *bs, const char *id, struct blob_leaf **leaves,
    size_t *nleaves)
{
	struct blob_leaf	*l;
	size_t			 i;
	int			 abfd, fd;

	for (i = 0; i < *nleaves; i++)
		if (strncmp((*leaves)[i].prefix, id, BLOB_PREFIX_LEN) == 0)
			return (&(*leaves)[i]);
	if ((fd = blob_leafdir(bs, id, &abfd)) == -1)
		return (NULL);
	*leaves = xreallocarray(*leaves, *nleaves + 1, sizeof(**leaves));
	l = &(*leaves)[(*nleaves)++];
	memcpy(l->prefix, id, BLOB_PREFIX_LEN);
	l->prefix[BLOB_PREFIX_LEN] = '\0';
	l->leaffd = fd;
	l->abfd = abfd;
	l->ab_first = 1;
	for (i = 0; i + 1 < *nleaves; i++)
		if (strncmp((*leaves)[i].prefix, id, 2) == 0)
			l->ab_first = 0;
	return (l);
}

static int
batch_syncfs(int fd)
{
#ifdef __linux__
	return (syncfs(fd));
#else
	sync();
	(void)fd;
	return (0);
#endif
}

int
blob_batch_commit(struct blob_batch *b, enum blob_sync how, char **cause)
{
	struct blob_store	*bs = b->bs;
	struct blob_leaf	*leaves = NULL, *l;
	struct blob_batch_ent	*e;
	size_t			 i, nleaves = 0;
	const char		*what, *id = b->prefix;
	int			 fd, rc = -1;

	if (b->committed) {
		xasprintf(cause, "blob batch %s is already committed",
		    b->prefix);
		return (-1);
	}
	if (b->n == 0) {
		b->committed = 1;
		return (0);
	}
	if (how == BLOB_SYNC_AUTO)
		how = b->n >= BLOB_SYNCFS_MIN ? BLOB_SYNC_SYNCFS :
		    BLOB_SYNC_FSYNC;

	/* 1. Every file's data and inode durable (still under tmp/ only). */
	what = "fsync";
	if (how == BLOB_SYNC_SYNCFS) {
		if (batch_syncfs(bs->tmpfd) == -1)
			goto syserr;
	} else {
		/*
		 * Writeback of every file first, then the fsyncs: the blocks
		 * are allocated together, the first fsync's journal commit
		 * covers them all and the others find it done (ext4).
		 */
		for (i = 0; i < b->n && b->n > 1; i++)
			blob_tmp_writeback(bs, b->v[i].id);
		for (i = 0; i < b->n; i++) {
			id = b->v[i].id;
			fd = openat(bs->tmpfd, id, O_RDONLY | O_NOFOLLOW |
			    O_CLOEXEC);
			if (fd == -1)
				goto syserr;
			if (fsync(fd) == -1) {
				close(fd);
				goto syserr;
			}
			close(fd);
		}
	}

	/* 2. Link each into data/ab/cd (never replacing anything). */
	for (i = 0; i < b->n; i++) {
		e = &b->v[i];
		id = e->id;
		what = "create the directory for";
		if ((l = batch_leaf(bs, id, &leaves, &nleaves)) == NULL)
			goto syserr;
		what = "link";
		if (linkat(bs->tmpfd, id, l->leaffd, id, 0) == -1)
			goto syserr;
		e->linked = 1;
	}

	/* 3. The new entries and directories durable: each directory once. */
	what = "fsync the directories of";
	id = b->prefix;
	if (how == BLOB_SYNC_SYNCFS) {
		if (batch_syncfs(bs->datafd) == -1)
			goto syserr;
	} else {
		for (i = 0; i < nleaves; i++) {
			if (fsync(leaves[i].leaffd) == -1 ||
			    (leaves[i].ab_first && fsync(leaves[i].abfd) == -1))
				goto syserr;
		}
		if (fsync(bs->datafd) == -1)
			goto syserr;
	}

	/* 4. The temp names go (a leftover after a crash is swept). */
	for (i = 0; i < b->n; i++) {
		unlinkat(bs->tmpfd, b->v[i].id, 0);
		b->v[i].tmp = 0;
	}
	b->committed = 1;
	rc = 0;
	goto out;

syserr:
	xasprintf(cause, "could not %s blob %s in %s: %s", what, id, bs->dir,
	    strerror(errno));
	/* Nothing the caller would name stays under data/. */
	for (i = 0; i < b->n; i++) {
		e = &b->v[i];
		if (!e->linked)
			continue;
		if ((l = batch_leaf(bs, e->id, &leaves, &nleaves)) != NULL)
			unlinkat(l->leaffd, e->id, 0);
		e->linked = 0;
	}
out:
	for (i = 0; i < nleaves; i++) {
		close(leaves[i].leaffd);
		close(leaves[i].abfd);
	}
	free(leaves);
	return (rc);
}

int
blob_tmp_writeback(struct blob_store *bs, const char *id)
{
	int	fd, rc = 0;

	if (!blob_id_valid(id))
		return (-1);
	if ((fd = openat(bs->tmpfd, id, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return (-1);
#ifdef __linux__
	rc = sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
	close(fd);
	return (rc);
}

size_t
blob_batch_unlink(struct blob_batch *b)
{
	char	path[BLOB_ID_LEN + 8];
	size_t	i, n = 0;

	for (i = 0; i < b->n; i++) {
		if (!b->v[i].linked)
			continue;
		blob_relpath(b->v[i].id, path, sizeof(path));
		if (unlinkat(b->bs->datafd, path, 0) == 0)
			n++;
		b->v[i].linked = 0;
	}
	return (n);
}

void
blob_batch_free(struct blob_batch *b)
{
	size_t	i;

	if (b == NULL)
		return;
	for (i = 0; i < b->n; i++)
		if (b->v[i].tmp)
			unlinkat(b->bs->tmpfd, b->v[i].id, 0);
	free(b->v);
	free(b);
}

int
blob_open(struct blob_store *bs, const char *id, uint64_t *size, char **cause)
{
	char		path[BLOB_ID_LEN + 8];
	struct stat	st;
	int		fd;

	if (!blob_id_valid(id)) {
		xasprintf(cause, "malformed blob id");
		return (-1);
	}
	blob_relpath(id, path, sizeof(path));
	fd = openat(bs->datafd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1) {
		if (errno == ENOENT)
			xasprintf(cause, "no such blob %s", id);
		else
			xasprintf(cause, "could not open blob %s: %s", id,
			    strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == -1) {
		xasprintf(cause, "could not stat blob %s: %s", id,
		    strerror(errno));
		close(fd);
		return (-1);
	}
	if (!S_ISREG(st.st_mode)) {
		xasprintf(cause, "blob %s is not a regular file", id);
		close(fd);
		return (-1);
	}
	if (size != NULL)
		*size = (uint64_t)st.st_size;
	return (fd);
}

int
blob_remove(struct blob_store *bs, const char *id, char **cause)
{
	char	path[BLOB_ID_LEN + 8];

	if (!blob_id_valid(id)) {
		xasprintf(cause, "malformed blob id");
		return (-1);
	}
	blob_relpath(id, path, sizeof(path));
	if (unlinkat(bs->datafd, path, 0) == -1) {
		if (errno == ENOENT)
			return (1);
		xasprintf(cause, "could not remove blob %s: %s", id,
		    strerror(errno));
		return (-1);
	}
	return (0);
}

/*
 * A sorted list of the names in directory fd (which is consumed) that are
 * exactly `len` lower-case hex digits; -1 if it could not be read.
 */
struct namelist {
	char	**v;
	size_t	  n;
};

static int
namecmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

static void
namelist_free(struct namelist *nl)
{
	size_t	i;

	for (i = 0; i < nl->n; i++)
		free(nl->v[i]);
	free(nl->v);
	nl->v = NULL;
	nl->n = 0;
}

static int
namelist_read(int fd, size_t len, struct namelist *nl)
{
	DIR		*d;
	struct dirent	*de;
	size_t		 cap = 0;

	nl->v = NULL;
	nl->n = 0;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return (-1);
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (strlen(de->d_name) != len || !ishex(de->d_name, len))
			continue;
		if (nl->n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			nl->v = xreallocarray(nl->v, cap, sizeof(*nl->v));
		}
		nl->v[nl->n++] = xstrdup(de->d_name);
	}
	if (errno != 0) {
		int saved = errno;

		closedir(d);
		namelist_free(nl);
		errno = saved;
		return (-1);
	}
	closedir(d);
	if (nl->n > 0)
		qsort(nl->v, nl->n, sizeof(*nl->v), namecmp);
	return (0);
}

/* Reads directory `name` under fd (fd itself when name is NULL). */
static int
namelist_at(int fd, const char *name, size_t len, struct namelist *nl)
{
	int	dfd;

	dfd = opendirat(fd, name == NULL ? "." : name);
	if (dfd == -1)
		return (-1);
	return (namelist_read(dfd, len, nl));
}

static int
is_old(const struct stat *st, time_t now, time_t grace)
{
	return (now - st->st_ctim.tv_sec >= grace);
}

/* 1 when the limit is reached and the sweep must stop here. */
static int
sweep_full(const struct blob_sweep_stats *st, size_t limit)
{
	return (limit != 0 && st->examined >= limit);
}

static int
sweep_tmp(struct blob_store *bs, time_t now, time_t grace, size_t limit,
    struct blob_sweep_stats *st, char **cause)
{
	struct namelist	 nl;
	struct stat	 sb;
	size_t		 i;
	int		 fd, rc = 0;

	if (namelist_at(bs->tmpfd, NULL, BLOB_ID_LEN, &nl) == -1) {
		xasprintf(cause, "could not read %s/tmp: %s", bs->dir,
		    strerror(errno));
		return (-1);
	}
	for (i = 0; i < nl.n; i++) {
		const char *id = nl.v[i];

		if (strcmp(id, st->cursor) <= 0)
			continue;
		if (sweep_full(st, limit)) {
			rc = 1;
			break;
		}
		if (fstatat(bs->tmpfd, id, &sb, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISREG(sb.st_mode))
			;	/* gone (committed or aborted), or not ours */
		else if (!is_old(&sb, now, grace))
			st->young++;
		else if ((fd = openat(bs->tmpfd, id, O_RDONLY | O_NOFOLLOW |
		    O_NONBLOCK | O_CLOEXEC)) == -1)
			;
		else if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
			st->tmp_busy++;
			close(fd);
		} else if (unlinkat(bs->tmpfd, id, 0) == 0 || errno == ENOENT) {
			close(fd);
			st->tmp_removed++;
			if (sb.st_nlink <= 1)	/* not also linked in data/ */
				st->bytes_removed += (uint64_t)sb.st_size;
		} else {
			xasprintf(cause, "could not remove %s/tmp/%s: %s",
			    bs->dir, id, strerror(errno));
			close(fd);
			rc = -1;
			break;
		}
		st->examined++;
		strlcpy(st->cursor, id, sizeof(st->cursor));
	}
	namelist_free(&nl);
	return (rc);
}

/* One data/<ab>/<cd> directory; 1 when the limit stopped it. */
static int
sweep_leaf(struct blob_store *bs, int leaffd, const char *prefix,
    blob_referenced_cb cb, void *arg, time_t now, time_t grace, size_t limit,
    struct blob_sweep_stats *st, char **cause)
{
	struct namelist	 nl;
	struct stat	 sb;
	size_t		 i;
	int		 r, rc = 0;

	if (namelist_at(leaffd, NULL, BLOB_ID_LEN, &nl) == -1) {
		xasprintf(cause, "could not read %s/data/%.2s/%.2s: %s",
		    bs->dir, prefix, prefix + 2, strerror(errno));
		return (-1);
	}
	for (i = 0; i < nl.n; i++) {
		const char *id = nl.v[i];

		if (strncmp(id, prefix, 4) != 0 || strcmp(id, st->cursor) <= 0)
			continue;
		if (sweep_full(st, limit)) {
			rc = 1;
			break;
		}
		if (fstatat(leaffd, id, &sb, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISREG(sb.st_mode))
			;	/* gone, or not ours */
		else if (!is_old(&sb, now, grace))
			st->young++;
		else if ((r = cb(id, arg)) == -1) {
			xasprintf(cause, "could not tell whether blob %s is "
			    "referenced", id);
			rc = -1;
			break;
		} else if (r != 0)
			st->referenced++;
		else if (unlinkat(leaffd, id, 0) == 0) {
			st->removed++;
			st->bytes_removed += (uint64_t)sb.st_size;
		} else if (errno != ENOENT) {
			xasprintf(cause, "could not remove blob %s: %s", id,
			    strerror(errno));
			rc = -1;
			break;
		}
		/* Only now: a failed entry is retried by the next call. */
		st->examined++;
		strlcpy(st->cursor, id, sizeof(st->cursor));
	}
	namelist_free(&nl);
	return (rc);
}

static int
sweep_data(struct blob_store *bs, blob_referenced_cb cb, void *arg,
    time_t now, time_t grace, size_t limit, struct blob_sweep_stats *st,
    char **cause)
{
	struct namelist	 abl, cdl;
	char		 prefix[5];
	size_t		 i, j;
	int		 abfd, leaffd, rc = 0;

	if (namelist_at(bs->datafd, NULL, 2, &abl) == -1) {
		xasprintf(cause, "could not read %s/data: %s", bs->dir,
		    strerror(errno));
		return (-1);
	}
	for (i = 0; i < abl.n && rc == 0; i++) {
		if (strncmp(abl.v[i], st->cursor, 2) < 0)
			continue;
		if ((abfd = opendirat(bs->datafd, abl.v[i])) == -1)
			continue;	/* not a directory: not ours */
		if (namelist_at(abfd, NULL, 2, &cdl) == -1) {
			xasprintf(cause, "could not read %s/data/%s: %s",
			    bs->dir, abl.v[i], strerror(errno));
			close(abfd);
			rc = -1;
			break;
		}
		for (j = 0; j < cdl.n && rc == 0; j++) {
			snprintf(prefix, sizeof(prefix), "%s%s", abl.v[i],
			    cdl.v[j]);
			if (strncmp(prefix, st->cursor, 4) < 0)
				continue;
			if ((leaffd = opendirat(abfd, cdl.v[j])) == -1)
				continue;
			rc = sweep_leaf(bs, leaffd, prefix, cb, arg, now,
			    grace, limit, st, cause);
			close(leaffd);
		}
		namelist_free(&cdl);
		close(abfd);
	}
	namelist_free(&abl);
	return (rc);
}

int
blob_sweep(struct blob_store *bs, blob_referenced_cb cb, void *arg,
    time_t grace, size_t limit, struct blob_sweep_stats *st, char **cause)
{
	time_t	now = time(NULL);
	int	rc;

	st->done = 0;
	st->examined = st->removed = st->referenced = st->young = 0;
	st->tmp_removed = st->tmp_busy = 0;
	st->bytes_removed = 0;
	st->cursor[BLOB_ID_LEN] = '\0';
	if (grace < 0)
		grace = 0;

	if (st->phase == 0) {
		rc = sweep_tmp(bs, now, grace, limit, st, cause);
		if (rc != 0)
			return (rc == 1 ? 0 : -1);
		st->phase = 1;
		st->cursor[0] = '\0';
	}
	rc = sweep_data(bs, cb, arg, now, grace, limit, st, cause);
	if (rc != 0)
		return (rc == 1 ? 0 : -1);
	st->phase = 0;
	st->cursor[0] = '\0';
	st->done = 1;
	return (0);
}

int
blob_store_stats(struct blob_store *bs, uint64_t *count, uint64_t *bytes,
    char **cause)
{
	struct namelist	 abl, cdl, idl;
	struct stat	 sb;
	size_t		 i, j, k;
	int		 abfd, leaffd;

	*count = *bytes = 0;
	if (namelist_at(bs->datafd, NULL, 2, &abl) == -1) {
		xasprintf(cause, "could not read %s/data: %s", bs->dir,
		    strerror(errno));
		return (-1);
	}
	for (i = 0; i < abl.n; i++) {
		if ((abfd = opendirat(bs->datafd, abl.v[i])) == -1)
			continue;
		if (namelist_at(abfd, NULL, 2, &cdl) == -1) {
			close(abfd);
			continue;
		}
		for (j = 0; j < cdl.n; j++) {
			if ((leaffd = opendirat(abfd, cdl.v[j])) == -1)
				continue;
			if (namelist_at(leaffd, NULL, BLOB_ID_LEN, &idl) == 0) {
				for (k = 0; k < idl.n; k++) {
					if (fstatat(leaffd, idl.v[k], &sb,
					    AT_SYMLINK_NOFOLLOW) == -1 ||
					    !S_ISREG(sb.st_mode))
						continue;
					(*count)++;
					*bytes += (uint64_t)sb.st_size;
				}
				namelist_free(&idl);
			}
			close(leaffd);
		}
		namelist_free(&cdl);
		close(abfd);
	}
	namelist_free(&abl);
	return (0);
}
