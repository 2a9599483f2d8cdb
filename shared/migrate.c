/*
 * migrate.c: numbered SQL migrations under an advisory lock (migrate.h).
 *
 * Blocking libpq (PQconnectdb, PQexec) is deliberate and acceptable here:
 * migrate_run runs once at start-up, before the event loop exists.  Never
 * call it from the loop; db.c is the asynchronous path.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "log.h"
#include "migrate.h"
#include "xmalloc.h"

struct migration {
	int	 version;
	char	*name;		/* file name, e.g. 0001-registry.sql */
};

static int
mig_cmp(const void *a, const void *b)
{
	const struct migration *ma = a, *mb = b;

	return (ma->version < mb->version ? -1 : ma->version > mb->version);
}

/* NNNN-[a-z0-9_-]+.sql; returns the version or -1. */
static int
mig_version(const char *name)
{
	size_t	len = strlen(name), i;
	int	v = 0;

	if (len < 10 || strcmp(name + len - 4, ".sql") != 0 || name[4] != '-')
		return (-1);
	for (i = 0; i < 4; i++) {
		if (!isdigit((unsigned char)name[i]))
			return (-1);
		v = v * 10 + (name[i] - '0');
	}
	for (i = 5; i < len - 4; i++)
		if (!islower((unsigned char)name[i]) &&
		    !isdigit((unsigned char)name[i]) &&
		    name[i] != '-' && name[i] != '_')
			return (-1);
	return (v > 0 ? v : -1);
}

static void
mig_free(struct migration *m, int n)
{
	int	i;

	for (i = 0; i < n; i++)
		free(m[i].name);
	free(m);
}

static int
mig_scan(const char *dir, struct migration **out, int *np, char **cause)
{
	DIR		*d;
	struct dirent	*de;
	struct migration *m = NULL;
	int		 n = 0, v, i;

	if ((d = opendir(dir)) == NULL) {
		xasprintf(cause, "could not open migrations directory \"%s\": %s",
		    dir, strerror(errno));
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		if ((v = mig_version(de->d_name)) < 0)
			continue;
		if (n == MIGRATE_MAX_FILES) {
			xasprintf(cause, "more than %d migrations in \"%s\"",
			    MIGRATE_MAX_FILES, dir);
			closedir(d);
			mig_free(m, n);
			return (-1);
		}
		m = xreallocarray(m, n + 1, sizeof(*m));
		m[n].version = v;
		m[n].name = xstrdup(de->d_name);
		n++;
	}
	closedir(d);
	qsort(m, n, sizeof(*m), mig_cmp);
	for (i = 0; i < n; i++)
		if (m[i].version != i + 1) {
			xasprintf(cause, "migrations in \"%s\" are not numbered "
			    "1..%d without gaps or duplicates (found %s)", dir, n,
			    m[i].name);
			mig_free(m, n);
			return (-1);
		}
	if (n == 0) {
		xasprintf(cause, "no migrations in \"%s\"", dir);
		free(m);
		return (-1);
	}
	*out = m;
	*np = n;
	return (0);
}

static char *
mig_read(const char *dir, const char *name, char **cause)
{
	char		*path, *buf;
	FILE		*f;
	struct stat	 st;
	size_t		 len;

	xasprintf(&path, "%s/%s", dir, name);
	if ((f = fopen(path, "r")) == NULL || fstat(fileno(f), &st) != 0) {
		xasprintf(cause, "could not open \"%s\": %s", path,
		    strerror(errno));
		if (f != NULL)
			fclose(f);
		free(path);
		return (NULL);
	}
	if (st.st_size > MIGRATE_MAX_SIZE) {
		xasprintf(cause, "\"%s\" is larger than %d bytes", path,
		    MIGRATE_MAX_SIZE);
		fclose(f);
		free(path);
		return (NULL);
	}
	buf = xmalloc((size_t)st.st_size + 1);
	len = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f) || len != (size_t)st.st_size) {
		xasprintf(cause, "could not read \"%s\"", path);
		free(buf);
		fclose(f);
		free(path);
		return (NULL);
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL) {
		xasprintf(cause, "\"%s\" contains a NUL byte", path);
		free(buf);
		buf = NULL;
	}
	fclose(f);
	free(path);
	return (buf);
}

/* Runs sql (no parameters) and checks it succeeded; -1 and *cause if not. */
static int
pg_ok(PGconn *pg, const char *what, PGresult *res, char **cause)
{
	ExecStatusType	st = PQresultStatus(res);
	const char	*msg;
	size_t		 len;

	if (res != NULL && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK))
		return (0);
	msg = res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(pg);
	if (msg == NULL || *msg == '\0')
		msg = PQerrorMessage(pg);
	len = strcspn(msg, "\n");
	xasprintf(cause, "%s: %.*s", what, (int)len, msg);
	return (-1);
}

static int
pg_exec(PGconn *pg, const char *what, const char *sql, char **cause)
{
	PGresult	*res = PQexec(pg, sql);
	int		 rc = pg_ok(pg, what, res, cause);

	PQclear(res);
	return (rc);
}

static void
quiet_notice(void *arg, const char *msg)
{
	(void)arg;
	log_debug("migrate notice %.*s", (int)strcspn(msg, "\n"), msg);
}

int
migrate_run(const char *conninfo, const char *dir, int *applied,
    int *version, char **cause)
{
	struct migration *m = NULL;
	PGconn		*pg = NULL;
	PGresult	*res;
	char		*sql, *c2 = NULL, key[32], vbuf[16];
	const char	*params[2];
	int		 n = 0, cur, i, done = 0, rc = -1;

	*cause = NULL;
	if (mig_scan(dir, &m, &n, cause) != 0)
		return (-1);
	pg = PQconnectdb(conninfo);
	if (PQstatus(pg) != CONNECTION_OK) {
		xasprintf(cause, "could not connect to the registry database: "
		    "%.*s", (int)strcspn(PQerrorMessage(pg), "\n"),
		    PQerrorMessage(pg));
		goto out;
	}
	PQsetNoticeProcessor(pg, quiet_notice, NULL);

	/* Session lock: released by PQfinish even when we fail. */
	snprintf(key, sizeof(key), "%d", MIGRATE_LOCK_KEY);
	params[0] = key;
	res = PQexecParams(pg, "SELECT pg_advisory_lock($1::bigint)", 1, NULL,
	    params, NULL, NULL, 0);
	if (pg_ok(pg, "could not take the migration lock", res, cause) != 0) {
		PQclear(res);
		goto out;
	}
	PQclear(res);

	if (pg_exec(pg, "could not create schema_version",
	    "CREATE TABLE IF NOT EXISTS schema_version ("
	    " version integer PRIMARY KEY,"
	    " name text NOT NULL,"
	    " applied_at timestamptz NOT NULL DEFAULT now())", cause) != 0)
		goto out;
	res = PQexec(pg, "SELECT coalesce(max(version), 0) FROM schema_version");
	if (pg_ok(pg, "could not read schema_version", res, cause) != 0) {
		PQclear(res);
		goto out;
	}
	cur = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (cur > n) {
		xasprintf(cause, "database schema version %d is newer than this "
		    "program knows (%d): refusing to run", cur, n);
		goto out;
	}

	for (i = cur; i < n; i++) {
		if ((sql = mig_read(dir, m[i].name, cause)) == NULL)
			goto out;
		if (pg_exec(pg, "could not begin", "BEGIN", cause) != 0) {
			free(sql);
			goto out;
		}
		res = PQexec(pg, sql);
		free(sql);
		xasprintf(&c2, "migration %s failed", m[i].name);
		if (pg_ok(pg, c2, res, cause) != 0) {
			PQclear(res);
			goto rollback;
		}
		PQclear(res);
		snprintf(vbuf, sizeof(vbuf), "%d", m[i].version);
		params[0] = vbuf;
		params[1] = m[i].name;
		res = PQexecParams(pg, "INSERT INTO schema_version "
		    "(version, name) VALUES ($1, $2)", 2, NULL, params, NULL,
		    NULL, 0);
		if (pg_ok(pg, c2, res, cause) != 0) {
			PQclear(res);
			goto rollback;
		}
		PQclear(res);
		if (pg_exec(pg, c2, "COMMIT", cause) != 0)
			goto out;
		free(c2);
		c2 = NULL;
		log_info("migrate applied version=%d file=%s", m[i].version,
		    m[i].name);
		done++;
	}
	if (applied != NULL)
		*applied = done;
	if (version != NULL)
		*version = n;
	rc = 0;
	goto out;

rollback:
	res = PQexec(pg, "ROLLBACK");
	PQclear(res);
out:
	free(c2);
	PQfinish(pg);
	mig_free(m, n);
	return (rc);
}
