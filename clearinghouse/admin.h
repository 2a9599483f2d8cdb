/*
 * admin.h: the operator's one-shot commands of isn-clearinghouse (-m, -l,
 * -P), run synchronously against the configured registry and blob store
 * while the daemon keeps running. See docs/design/reaper.md ("Admin").
 *
 * Each applies the missing migrations first (migrate.h: a database newer
 * than this program is refused), bounds every statement by
 * timeouts.database, prints its result on stdout and its errors on stderr
 * ("isn-clearinghouse: ..."), and returns the exit status (0 or 1).
 * Nothing printed names a patient: a patient is shown as the first 12 hex
 * digits of SHA-256 of its CX.
 */
#ifndef ISN_ADMIN_H
#define ISN_ADMIN_H

struct ch_conf;

/* -m: apply the migrations; prints the schema version. */
int	ch_admin_migrate(const struct ch_conf *);

/*
 * -l [expired]: one line per submission set, in receipt order:
 * "uniqueId received expires documents bytes patient" (times UTC ISO 8601
 * "YYYY-MM-DDThh:mm:ssZ"); expired_only: those whose expires_at has
 * passed.
 */
int	ch_admin_list(const struct ch_conf *, int expired_only);

/*
 * -P uniqueId|expired: delete one submission set (expired or not) or every
 * expired one now, rows in one transaction per batch, then their blobs
 * (reaper.c's statement and blob removal); prints "purged sets=N
 * documents=N blobs=N". An unknown uniqueId is an error.
 */
int	ch_admin_purge(const struct ch_conf *, const char *what);

#endif
