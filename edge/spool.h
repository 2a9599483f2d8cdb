/*
 * spool.h: removing the edge's spool directories off the event loop
 * (docs/design/edge.md "Spool").
 */
#ifndef ISN_EDGE_SPOOL_H
#define ISN_EDGE_SPOOL_H

#define SPOOL_TRASH	"trash"		/* spool_dir/trash */

struct spool;

/*
 * A janitor for spool_dir: it makes spool_dir/trash and removes what a
 * previous run left there. 0/-1 style: NULL with *cause.
 */
struct spool	*spool_new(const char *spool_dir, char **cause);
/*
 * dir (under spool_dir) is gone from its path when this returns: it was
 * renamed into the trash, which a worker thread empties. NULL spool, or
 * a failed rename: removed here and now.
 */
void		 spool_discard(struct spool *, const char *dir);
/* Waits until the trash is empty (tests, a clean stop). */
void		 spool_drain(struct spool *);
/* Stops the worker after the directory it removes; the rest waits. */
void		 spool_free(struct spool *);
/* Removes a tree of files and directories, synchronously. */
void		 spool_rmtree(const char *dir);

#endif
