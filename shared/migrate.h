/*
 * migrate.h: bring a database schema up to date at start-up.
 *
 * Migrations are files NNNN-name.sql (NNNN: 0001, 0002, ... without gaps)
 * read from a directory given by the caller (the daemon's configured
 * schema directory: schemas/clearinghouse/ or schemas/edge/ in the source
 * tree).
 * Each file runs in its own transaction together with the insertion of
 * its row in schema_version, all under a session advisory lock, so several
 * processes starting together apply each migration exactly once.
 *
 * This is blocking libpq: it runs before the event loop starts, never
 * inside it.
 */
#ifndef ISN_MIGRATE_H
#define ISN_MIGRATE_H

/* pg_advisory_lock key: "ISNM". */
#define MIGRATE_LOCK_KEY	1230197325
#define MIGRATE_MAX_FILES	1000
#define MIGRATE_MAX_SIZE	(4 * 1024 * 1024)

/*
 * Applies the missing migrations.  0 on success (*applied, when not NULL,
 * is the number applied, *version the resulting version); -1 and *cause
 * (malloc'd) on failure, including a database whose schema_version is newer
 * than the highest migration in dir.
 */
int	migrate_run(const char *conninfo, const char *dir, int *applied,
	    int *version, char **cause);

#endif
