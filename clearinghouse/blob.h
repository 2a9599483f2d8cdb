/*
 * blob.h: the clearinghouse's filesystem blob store (docs/design/blob.md).
 *
 * Documents are streamed into DIR/tmp/<id>, fsynced at commit and linked
 * into DIR/data/<ab>/<cd>/<id> (the id's first two and next two hex digits)
 * before the caller's database transaction names them. A blob under data/ is
 * therefore always complete; the sweeper removes what no committed row names.
 *
 * Every failing call returns -1 (or NULL) and sets *cause to a malloc'd
 * message for a person (caller frees). Nothing here touches an event loop:
 * blob_write() is one plain write(2) of the chunk given, so it can be called
 * from a libevent callback; commit (fsync), sweep and stats block and belong
 * in a worker or a janitor with a small batch.
 */
#ifndef ISN_BLOB_H
#define ISN_BLOB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* A blob id: 32 lower-case hex digits (128 bits from the OpenSSL CSPRNG). */
#define BLOB_ID_LEN	32
/* A SHA-1 digest in lower-case hex (the XDS hash attribute). */
#define BLOB_SHA1_LEN	40

struct blob_store;
struct blob_writer;

struct blob_info {
	uint64_t	size;
	char		sha1[BLOB_SHA1_LEN + 1];
};

/*
 * Opens the store rooted at dir: creates dir (not its parents), dir/tmp and
 * dir/data with mode 0700 when missing, proves that tmp is writable by
 * creating and removing a file, and refuses tmp and data on different
 * filesystems.
 */
struct blob_store	*blob_store_open(const char *dir, char **cause);
void			 blob_store_close(struct blob_store *);

/*
 * An opaque worker attached to the store (blobq_attach in blobq.h): closing
 * the store calls worker_free(worker) first, while the store still works.
 */
void	 blob_store_set_worker(struct blob_store *, void *worker,
	    void (*worker_free)(void *));
void	*blob_store_worker(const struct blob_store *);

/* 1 if s is a well-formed blob id (32 lower-case hex digits), else 0. */
int	blob_id_valid(const char *s);

/*
 * Streaming writes. begin creates DIR/tmp/<id> (O_EXCL) and holds an
 * exclusive flock on it so no sweeper removes it while it is open. write
 * appends one chunk, updating size and SHA-1. commit fsyncs the file, links
 * it into data/, fsyncs the directories it changed, removes the temp name,
 * and writes the id and info; abort removes the temp file. commit and abort
 * always free the writer (on a commit failure nothing is left under data/).
 * After a failed write, only abort (or a commit that fails) is possible.
 */
struct blob_writer	*blob_write_begin(struct blob_store *, char **cause);
int	blob_write(struct blob_writer *, const void *buf, size_t len,
	    char **cause);
int	blob_write_commit(struct blob_writer *, char id[BLOB_ID_LEN + 1],
	    struct blob_info *, char **cause);
void	blob_write_abort(struct blob_writer *);
/* Bytes written so far (the caller enforces its own size limit). */
uint64_t blob_write_size(const struct blob_writer *);

/*
 * Batches: the durability cost per submission, not per blob. A batch picks
 * a random 4-hex-digit prefix; its writers (blob_batch_begin) get ids that
 * start with it (the other 112 bits stay random), so all its blobs land in
 * one data/ab/cd directory. blob_batch_add finishes a writer without fsync:
 * SHA-1, mode 0400, close; the file stays in tmp/ (no flock any more: the
 * sweeper's grace protects it) and the id and info are written. Always
 * frees the writer (on failure the temp file is removed).
 *
 * blob_batch_commit makes the whole set durable and visible: every file
 * fsynced (or one syncfs(2) of the store), then each linked into data/,
 * then each directory it linked into (and its parent, and data/) fsynced
 * once (or one more syncfs), then the temp names removed. It blocks for
 * the disk: run it on a worker (blobq.h). It touches only the batch and the
 * store's read-only fds, so the loop may use the store meanwhile, but not
 * this batch. On failure nothing this batch linked stays under data/; the
 * temp files stay until blob_batch_free. BLOB_SYNC_AUTO picks syncfs from
 * BLOB_SYNCFS_MIN blobs on (docs/design/blob.md has the figures).
 *
 * blob_batch_unlink removes the data/ entries a committed batch made (the
 * transaction naming them failed): the number removed. blob_batch_free
 * removes the temp files of blobs not committed; committed blobs stay.
 */
#define BLOB_PREFIX_LEN		4
#define BLOB_SYNCFS_MIN		8

enum blob_sync {
	BLOB_SYNC_AUTO = 0,
	BLOB_SYNC_FSYNC,	/* writeback of all, fsync each file, each dir */
	BLOB_SYNC_SYNCFS	/* syncfs(2) twice: before and after linking */
};

struct blob_batch;

struct blob_batch	*blob_batch_new(struct blob_store *, char **cause);
const char		*blob_batch_prefix(const struct blob_batch *);
size_t			 blob_batch_count(const struct blob_batch *);
struct blob_writer	*blob_batch_begin(struct blob_batch *, char **cause);
int	blob_batch_add(struct blob_batch *, struct blob_writer *,
	    char id[BLOB_ID_LEN + 1], struct blob_info *, char **cause);
int	blob_batch_commit(struct blob_batch *, enum blob_sync, char **cause);
/*
 * Starts writeback of a finished temp blob (sync_file_range WRITE, no
 * wait), so that the commit's sync finds little left to write: 0, or -1
 * (no such temp file; harmless). May block on a busy disk or journal:
 * for the worker (blobq_writeback), not the loop.
 */
int	blob_tmp_writeback(struct blob_store *, const char *id);
size_t	blob_batch_unlink(struct blob_batch *);
void	blob_batch_free(struct blob_batch *);

/*
 * Returns a read-only fd (O_CLOEXEC) on a committed blob and its size, or -1
 * with *cause: malformed id (no path is ever built from one), no such blob,
 * not a regular file. The caller closes the fd.
 */
int	blob_open(struct blob_store *, const char *id, uint64_t *size,
	    char **cause);

/*
 * Removes a committed blob: 0 removed, 1 there was none, -1 with *cause
 * (malformed id or an unlink error). For the reaper, after its rows are gone.
 */
int	blob_remove(struct blob_store *, const char *id, char **cause);

/*
 * Is this committed blob named by a committed row? 1 yes, 0 no, -1 could not
 * tell (the sweep stops at once and deletes nothing more).
 */
typedef int (*blob_referenced_cb)(const char *id, void *arg);

/*
 * Sweep state and counters. Zero the struct before the first call; keep it
 * between calls. Each call resets the counters, examines at most `limit`
 * entries (0: no limit) in a fixed order (tmp/ first, then data/ by id),
 * and remembers where it stopped; `done` is 1 when a whole pass is
 * complete, and the next call starts a new pass.
 */
struct blob_sweep_stats {
	/* state, carried between calls */
	int		phase;		/* 0 tmp/, 1 data/ */
	char		cursor[BLOB_ID_LEN + 1];	/* last id examined */
	/* this call */
	int		done;
	size_t		examined;	/* entries looked at (the limit) */
	size_t		removed;	/* unreferenced committed blobs removed */
	size_t		referenced;	/* committed blobs kept: referenced */
	size_t		young;		/* kept: changed less than grace ago */
	size_t		tmp_removed;	/* stale temp files removed */
	size_t		tmp_busy;	/* temp files kept: a writer holds them */
	uint64_t	bytes_removed;	/* size of everything removed */
};

/*
 * Removes committed blobs that is_referenced says no row names and temp
 * files that no writer holds, in both cases only when their ctime is at
 * least `grace` seconds old: a blob committed by a submission whose
 * transaction has not committed yet must be younger than grace. Names that
 * are not blob ids are left alone. 0, or -1 with *cause (a directory could
 * not be read, an unlink failed, or is_referenced returned -1); the state is
 * kept, so the next call retries from the same point.
 */
int	blob_sweep(struct blob_store *, blob_referenced_cb is_referenced,
	    void *arg, time_t grace, size_t limit, struct blob_sweep_stats *,
	    char **cause);

/* Committed blobs and their total size, by a full walk of data/: O(n). */
int	blob_store_stats(struct blob_store *, uint64_t *count, uint64_t *bytes,
	    char **cause);

#endif
