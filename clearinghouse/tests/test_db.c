/*
 * test_db.c: migrations (migrate.c) and the asynchronous pool (db.c)
 * against a throwaway PostgreSQL started by test_db.sh (tests/pg.sh),
 * which passes ISN_PG_CONNINFO.  Without it the test skips.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "db.h"
#include "log.h"
#include "migrate.h"
#include "tap.h"
#include "xmalloc.h"

#define APPROVED	"urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
#define DOMAIN		"1.3.6.1.4.1.19376.3.840.1.1.1"

static struct event_base *base;
static const char	*conninfo;
static char		 schemadir[4096];

/* A synchronous view of one asynchronous request, for the tests only. */
struct cap {
	int	 done;
	char	*cause;
	int	 status;
	int	 ntuples;
	char	*v0;		/* first column of the first row */
	int	 v0len;
	char	*sqlstate;
	char	*all;		/* every row's first column, '\n'-joined */
};

static void
cap_reset(struct cap *c)
{
	free(c->cause);
	free(c->v0);
	free(c->sqlstate);
	free(c->all);
	memset(c, 0, sizeof(*c));
}

static void
cap_cb(PGresult *res, const char *cause, void *arg)
{
	struct cap	*c = arg;
	const char	*s;
	size_t		 len = 0;
	int		 i;

	c->done++;
	c->cause = cause != NULL ? xstrdup(cause) : NULL;
	if (res == NULL)
		return;
	c->status = PQresultStatus(res);
	if ((s = PQresultErrorField(res, PG_DIAG_SQLSTATE)) != NULL)
		c->sqlstate = xstrdup(s);
	c->ntuples = PQntuples(res);
	if (c->ntuples > 0 && PQnfields(res) > 0 && !PQgetisnull(res, 0, 0)) {
		c->v0len = PQgetlength(res, 0, 0);
		c->v0 = xmalloc(c->v0len + 1);
		memcpy(c->v0, PQgetvalue(res, 0, 0), c->v0len);
		c->v0[c->v0len] = '\0';
	}
	if (PQnfields(res) > 0) {
		for (i = 0; i < c->ntuples; i++)
			len += strlen(PQgetvalue(res, i, 0)) + 1;
		c->all = xcalloc(1, len + 1);
		for (i = 0; i < c->ntuples; i++) {
			strlcat(c->all, PQgetvalue(res, i, 0), len + 1);
			strlcat(c->all, "\n", len + 1);
		}
	}
}

static void
tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Run the loop until *flag >= want or 20 s pass; 0 on success. */
static int
wait_for(const int *flag, int want)
{
	time_t	deadline = time(NULL) + 20;

	while (*flag < want) {
		if (time(NULL) > deadline)
			return (-1);
		event_base_loop(base, EVLOOP_ONCE);
	}
	return (0);
}

/* Runs the loop until the pool has n connections, at most 20 s. */
static void
wait_connected(struct db *db, int n)
{
	struct db_stats	 st;
	struct timeval	 tv = { 0, 50000 };
	time_t		 deadline = time(NULL) + 20;

	for (;;) {
		db_stats(db, &st);
		if (st.connected >= n || time(NULL) > deadline)
			return;
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

static int
q(struct db *db, struct cap *c, const char *sql, int n,
    const char *const *v)
{
	cap_reset(c);
	db_query(db, sql, n, v, NULL, NULL, 0, cap_cb, c);
	if (c->done != 0)
		return (-2);	/* ran inside the call: forbidden */
	return (wait_for(&c->done, 1));
}

static struct db *
pool(const char *ci, int size)
{
	struct db_settings	 s;
	struct db		*db;
	char			*cause = NULL;

	memset(&s, 0, sizeof(s));
	s.conninfo = ci;
	s.pool_size = size;
	if ((db = db_new(base, &s, &cause)) == NULL)
		fatalx("db_new: %s", cause);
	return (db);
}

static void
quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* Blocking helper for set-up only (not on the loop under test). */
static void
exec_blocking(const char *ci, const char *sql)
{
	PGconn		*pg = PQconnectdb(ci);
	PGresult	*res;

	if (PQstatus(pg) != CONNECTION_OK)
		fatalx("connect: %s", PQerrorMessage(pg));
	PQsetNoticeProcessor(pg, quiet, NULL);
	res = PQexec(pg, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		fatalx("%s: %s", sql, PQerrorMessage(pg));
	PQclear(res);
	PQfinish(pg);
}

static void
test_migrate(void)
{
	char	*ci, *cause = NULL, tmpl[] = "/tmp/isn-mig.XXXXXX", path[256];
	pid_t	 pids[2];
	int	 i, st, sum = 0, okc = 0, applied = -1, version = 0;
	struct db *db;
	struct cap c;
	FILE	*f;

	/* A fresh database so the race starts from nothing. */
	exec_blocking(conninfo, "DROP DATABASE IF EXISTS isn_race");
	exec_blocking(conninfo, "CREATE DATABASE isn_race");
	xasprintf(&ci, "%s dbname=isn_race", conninfo);
	fflush(stdout);
	for (i = 0; i < 2; i++) {
		if ((pids[i] = fork()) == -1)
			fatal("fork");
		if (pids[i] == 0) {
			int n = -1;

			if (migrate_run(ci, schemadir, &n, NULL, &cause) != 0) {
				fprintf(stderr, "child: %s\n", cause);
				_exit(100);
			}
			_exit(n);
		}
	}
	for (i = 0; i < 2; i++) {
		if (waitpid(pids[i], &st, 0) == -1 || !WIFEXITED(st))
			continue;
		if (WEXITSTATUS(st) < 100) {
			okc++;
			sum += WEXITSTATUS(st);
		}
	}
	is_int(okc, 2, "two racing migrators both succeed");
	is_int(sum, 2, "exactly one of them applied 0001 and 0002");

	memset(&c, 0, sizeof(c));
	db = pool(ci, 1);
	q(db, &c, "SELECT count(*) || ':' || max(version) FROM schema_version",
	    0, NULL);
	is_str(c.v0, "2:2", "race: one schema_version row per migration");
	q(db, &c, "SELECT count(*) FROM pg_tables WHERE tablename IN "
	    "('patients','submission_sets','documents','folders',"
	    "'associations','document_codes','document_instances')", 0, NULL);
	is_str(c.v0, "7", "race: registry tables exist");
	cap_reset(&c);
	db_free(db);
	free(ci);

	/* The test database proper: apply, then a no-op. */
	ok(migrate_run(conninfo, schemadir, &applied, &version, &cause) == 0,
	    "migrations apply on an empty database");
	is_int(applied, 2, "two migrations applied");
	is_int(version, 2, "schema version 2");
	free(cause);
	cause = NULL;
	applied = -1;
	ok(migrate_run(conninfo, schemadir, &applied, NULL, &cause) == 0 &&
	    applied == 0, "second run is a no-op");
	free(cause);
	cause = NULL;

	/* A database newer than the program. */
	exec_blocking(conninfo, "INSERT INTO schema_version (version, name) "
	    "VALUES (3, '0003-future.sql')");
	i = migrate_run(conninfo, schemadir, NULL, NULL, &cause);
	ok(i == -1 && cause != NULL && strstr(cause, "newer") != NULL,
	    "refuses a newer schema: %s", cause ? cause : "(none)");
	free(cause);
	cause = NULL;
	exec_blocking(conninfo, "DELETE FROM schema_version WHERE version = 3");

	/* A directory with a gap. */
	if (mkdtemp(tmpl) == NULL)
		fatal("mkdtemp");
	snprintf(path, sizeof(path), "%s/0002-x.sql", tmpl);
	if ((f = fopen(path, "w")) == NULL)
		fatal("%s", path);
	fputs("SELECT 1;\n", f);
	fclose(f);
	ok(migrate_run(conninfo, tmpl, NULL, NULL, &cause) == -1 &&
	    cause != NULL && strstr(cause, "gaps") != NULL,
	    "refuses numbering with a gap");
	free(cause);
	unlink(path);
	rmdir(tmpl);
}

struct many {
	int	done;
	int	bad;
};

static void
many_cb(PGresult *res, const char *cause, void *arg)
{
	struct many	*m = arg;

	m->done++;
	if (cause != NULL || res == NULL || PQntuples(res) != 1)
		m->bad++;
}

static struct db *fdb;

static void
free_cb(PGresult *res, const char *cause, void *arg)
{
	struct many	*m = arg;

	m->done++;
	if (cause != NULL)
		m->bad++;
	db_free(fdb);
	fdb = NULL;
}

static void
test_pool(void)
{
	struct db	*db;
	struct db_stats	 st;
	struct many	 m = { 0, 0 };
	char		 buf[16];
	const char	*v[1];
	int		 i;

	db = pool(conninfo, 4);
	for (i = 0; i < 200; i++) {
		snprintf(buf, sizeof(buf), "%d", i);
		v[0] = buf;
		db_query(db, "SELECT $1::int * 2, pg_backend_pid()", 1, v,
		    NULL, NULL, 0, many_cb, &m);
	}
	db_stats(db, &st);
	ok(st.queued >= 196 && m.done == 0,
	    "200 queries queued on a pool of 4 (queued=%d)", st.queued);
	ok(wait_for(&m.done, 200) == 0, "all 200 complete");
	is_int(m.bad, 0, "none failed");
	/*
	 * A connection whose connect timed out on a loaded machine (the
	 * others ran every query meanwhile) is retried: give it time.
	 */
	wait_connected(db, 4);
	db_stats(db, &st);
	ok(st.connected == 4 && st.queued == 0 && st.busy == 0 &&
	    st.outstanding == 0, "pool idle with 4 connections");
	db_free(db);

	/* db_free fails what is still pending, before it returns. */
	memset(&m, 0, sizeof(m));
	db = pool(conninfo, 2);
	for (i = 0; i < 10; i++)
		db_query(db, "SELECT pg_sleep(0)", 0, NULL, NULL, NULL, 0,
		    many_cb, &m);
	db_free(db);
	ok(m.done == 10 && m.bad == 10, "db_free fails 10 pending queries");

	/* db_free from inside a callback, with more work queued. */
	memset(&m, 0, sizeof(m));
	fdb = pool(conninfo, 1);
	db_query(fdb, "SELECT 1", 0, NULL, NULL, NULL, 0, free_cb, &m);
	for (i = 0; i < 5; i++)
		db_query(fdb, "SELECT 2", 0, NULL, NULL, NULL, 0, many_cb, &m);
	ok(wait_for(&m.done, 6) == 0 && m.bad == 5 && fdb == NULL,
	    "db_free inside a callback fails the rest and frees");
}

static void
test_hostile(struct db *db)
{
	static const char *hostile[] = {
		"'' and 611=611--",
		"' OR '1'='1",
		"x'); DROP TABLE patients; --",
		"\\'\"; SELECT pg_sleep(10); --",
		"$1 $2 %s %n",
		"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac",
	};
	struct cap	 c;
	const char	*v[2];
	char		 bin[255];
	int		 len[1], fmt[1], i, good = 0;

	memset(&c, 0, sizeof(c));
	for (i = 0; i < (int)(sizeof(hostile) / sizeof(hostile[0])); i++) {
		v[0] = hostile[i];
		v[1] = DOMAIN;
		q(db, &c, "INSERT INTO patients (pid, domain_oid) "
		    "VALUES ($1, $2) RETURNING pid", 2, v);
		if (c.cause == NULL && c.v0 != NULL &&
		    strcmp(c.v0, hostile[i]) == 0)
			good++;
		else
			tap_diag("hostile %d: %s", i, c.cause ? c.cause : "?");
	}
	is_int(good, 6, "hostile strings stored and returned as data");
	v[0] = hostile[0];
	q(db, &c, "SELECT count(*) FROM patients WHERE pid = $1", 1, v);
	is_str(c.v0, "1", "IPF injection text matches only itself");
	q(db, &c, "SELECT count(*) FROM pg_tables WHERE tablename = 'patients'",
	    0, NULL);
	is_str(c.v0, "1", "patients table still there");

	for (i = 0; i < 255; i++)
		bin[i] = (char)(i + 1);
	v[0] = bin;
	len[0] = sizeof(bin);
	fmt[0] = 1;
	cap_reset(&c);
	db_query(db, "SELECT $1::bytea", 1, v, len, fmt, 1, cap_cb, &c);
	wait_for(&c.done, 1);
	ok(c.cause == NULL && c.v0len == 255 && memcmp(c.v0, bin, 255) == 0,
	    "NUL-free binary parameter round-trips byte for byte");
	v[0] = NULL;
	q(db, &c, "SELECT $1::text IS NULL", 1, v);
	is_str(c.v0, "t", "NULL parameter is SQL NULL");
	q(db, &c, "SELEC 1", 0, NULL);
	ok(c.cause != NULL && c.sqlstate != NULL &&
	    strcmp(c.sqlstate, "42601") == 0 &&
	    strncmp(c.cause, "ERROR 42601: ", 13) == 0,
	    "syntax error: cause \"%s\", SQLSTATE 42601",
	    c.cause ? c.cause : "");
	v[0] = hostile[0];
	v[1] = DOMAIN;
	q(db, &c, "INSERT INTO patients (pid, domain_oid) VALUES ($1, $2)",
	    2, v);
	ok(c.sqlstate != NULL && strcmp(c.sqlstate, "23505") == 0,
	    "duplicate: unique_violation reaches the caller");
	ok(c.cause != NULL && strstr(c.cause, "611") == NULL,
	    "cause does not quote the row (no DETAIL)");
	cap_reset(&c);
}

struct txnt {
	struct db_txn	*txn;
	int		 begun;
	char		*cause;
};

static void
txn_cb(struct db_txn *txn, const char *cause, void *arg)
{
	struct txnt	*t = arg;

	t->begun++;
	t->txn = txn;
	t->cause = cause ? xstrdup(cause) : NULL;
}

static struct db_txn *
begin(struct db *db)
{
	struct txnt	t = { NULL, 0, NULL };

	db_txn_begin(db, txn_cb, &t);
	if (wait_for(&t.begun, 1) != 0 || t.txn == NULL) {
		tap_diag("begin: %s", t.cause ? t.cause : "timeout");
		free(t.cause);
		return (NULL);
	}
	return (t.txn);
}

static void
tq(struct db_txn *txn, struct cap *c, const char *sql, int n,
    const char *const *v)
{
	cap_reset(c);
	db_txn_query(txn, sql, n, v, NULL, NULL, 0, cap_cb, c);
	wait_for(&c->done, 1);
}

static void
test_txn(struct db *db)
{
	struct db_txn	*txn;
	struct cap	 c, e;
	const char	*v[2] = { "txn-patient", DOMAIN };
	struct db_stats	 st;

	memset(&c, 0, sizeof(c));
	memset(&e, 0, sizeof(e));
	if ((txn = begin(db)) == NULL) {
		ok(0, "begin");
		return;
	}
	db_stats(db, &st);
	is_int(st.reserved, 1, "transaction reserves one connection");
	tq(txn, &c, "INSERT INTO patients (pid, domain_oid) VALUES ($1, $2)",
	    2, v);
	ok(c.cause == NULL, "insert inside the transaction");
	tq(txn, &c, "SELECT count(*) FROM patients WHERE pid = $1", 1, v);
	is_str(c.v0, "1", "visible inside the transaction");
	q(db, &e, "SELECT count(*) FROM patients WHERE pid = $1", 1, v);
	is_str(e.v0, "0", "invisible outside before commit");
	cap_reset(&c);
	db_txn_rollback(txn, cap_cb, &c);
	wait_for(&c.done, 1);
	ok(c.cause == NULL, "rollback succeeds");
	q(db, &e, "SELECT count(*) FROM patients WHERE pid = $1", 1, v);
	is_str(e.v0, "0", "rollback leaves nothing");
	db_stats(db, &st);
	is_int(st.reserved, 0, "connection released");

	/* Commit. */
	txn = begin(db);
	tq(txn, &c, "INSERT INTO patients (pid, domain_oid) VALUES ($1, $2)",
	    2, v);
	cap_reset(&c);
	db_txn_commit(txn, cap_cb, &c);
	wait_for(&c.done, 1);
	ok(c.cause == NULL, "commit succeeds");
	q(db, &e, "SELECT count(*) FROM patients WHERE pid = $1", 1, v);
	is_str(e.v0, "1", "committed row visible");

	/* A failed statement aborts: commit reports it. */
	txn = begin(db);
	tq(txn, &c, "INSERT INTO patients (pid, domain_oid) VALUES ($1, $2)",
	    2, v);
	ok(c.sqlstate != NULL && strcmp(c.sqlstate, "23505") == 0,
	    "duplicate inside the transaction fails");
	tq(txn, &c, "SELECT 1", 0, NULL);
	ok(c.sqlstate != NULL && strcmp(c.sqlstate, "25P02") == 0,
	    "later statement refused (transaction aborted)");
	cap_reset(&c);
	db_txn_commit(txn, cap_cb, &c);
	wait_for(&c.done, 1);
	ok(c.cause != NULL && strstr(c.cause, "rolled back") != NULL,
	    "commit of an aborted transaction fails: %s",
	    c.cause ? c.cause : "(none)");
	cap_reset(&c);
	cap_reset(&e);
}

/* Statements queued without waiting go out pipelined, answered in order. */
#define PIPE_N	100
static int	 pipe_order[PIPE_N + 1];
static int	 pipe_n;

struct pcap {
	struct cap	 c;
	int		 i;
};

static void
pcap_cb(PGresult *res, const char *cause, void *arg)
{
	struct pcap	*p = arg;

	if (pipe_n < PIPE_N)
		pipe_order[pipe_n] = p->i;
	pipe_n++;
	cap_cb(res, cause, &p->c);
}

static void
test_pipeline(struct db *db)
{
	static struct pcap	 p[PIPE_N];
	struct db_txn		*txn;
	struct cap		 c, e;
	struct db_stats		 st;
	char			 pid[32], num[16];
	const char		*v[2];
	int			 i, inorder, good, bad;

	memset(&c, 0, sizeof(c));
	memset(&e, 0, sizeof(e));
	memset(p, 0, sizeof(p));
	pipe_n = 0;
	if ((txn = begin(db)) == NULL) {
		ok(0, "pipeline: begin");
		return;
	}
	for (i = 0; i < PIPE_N; i++) {
		p[i].i = i;
		if (i % 2 == 0) {
			snprintf(pid, sizeof(pid), "pipe-a-%d", i);
			v[0] = pid;
			v[1] = DOMAIN;
			db_txn_query(txn, "INSERT INTO patients (pid, "
			    "domain_oid) VALUES ($1, $2)", 2, v, NULL, NULL,
			    0, pcap_cb, &p[i]);
		} else {
			snprintf(num, sizeof(num), "%d", i);
			v[0] = num;
			db_txn_query(txn, "SELECT $1::int", 1, v, NULL, NULL,
			    0, pcap_cb, &p[i]);
		}
	}
	db_txn_commit(txn, cap_cb, &c);
	wait_for(&c.done, 1);
	is_int(pipe_n, PIPE_N, "pipeline: every queued statement answered");
	for (i = 0, inorder = 1, good = 0; i < PIPE_N && i < pipe_n; i++) {
		if (pipe_order[i] != i)
			inorder = 0;
		if (p[i].c.done != 1 || p[i].c.cause != NULL)
			continue;
		if (i % 2 == 1) {
			snprintf(num, sizeof(num), "%d", i);
			if (p[i].c.v0 == NULL || strcmp(p[i].c.v0, num) != 0)
				continue;
		}
		good++;
	}
	ok(inorder, "pipeline: callbacks in order");
	is_int(good, PIPE_N, "pipeline: every result right");
	ok(c.cause == NULL, "pipeline: commit after pipelined statements");
	q(db, &e, "SELECT count(*) FROM patients WHERE pid LIKE 'pipe-a-%'",
	    0, NULL);
	is_str(e.v0, "50", "pipeline: committed rows stored");
	for (i = 0; i < PIPE_N; i++)
		cap_reset(&p[i].c);
	cap_reset(&c);

	/* An error in the middle: the rest fail, nothing is stored. */
	memset(p, 0, sizeof(p));
	pipe_n = 0;
	if ((txn = begin(db)) == NULL) {
		ok(0, "pipeline: begin");
		return;
	}
	for (i = 0; i < 30; i++) {
		p[i].i = i;
		snprintf(pid, sizeof(pid), "pipe-b-%d", i == 10 ? 0 : i);
		v[0] = pid;
		v[1] = DOMAIN;
		db_txn_query(txn, "INSERT INTO patients (pid, domain_oid) "
		    "VALUES ($1, $2)", 2, v, NULL, NULL, 0, pcap_cb, &p[i]);
	}
	db_txn_commit(txn, cap_cb, &c);
	wait_for(&c.done, 1);
	is_int(pipe_n, 30, "pipeline error: every statement answered");
	for (i = 0, inorder = 1, good = 0, bad = 0; i < 30 && i < pipe_n;
	    i++) {
		if (pipe_order[i] != i)
			inorder = 0;
		if (i < 10 && p[i].c.cause == NULL)
			good++;
		if (i > 10 && p[i].c.cause != NULL && p[i].c.sqlstate != NULL &&
		    strcmp(p[i].c.sqlstate, "25P02") == 0)
			bad++;
	}
	ok(inorder, "pipeline error: callbacks in order");
	is_int(good, 10, "pipeline error: statements before it succeed");
	ok(p[10].c.sqlstate != NULL && strcmp(p[10].c.sqlstate, "23505") == 0,
	    "pipeline error: the failing statement gets its error");
	is_int(bad, 19, "pipeline error: later statements get 25P02");
	ok(c.cause != NULL && strstr(c.cause, "rolled back") != NULL,
	    "pipeline error: commit reports the rollback");
	q(db, &e, "SELECT count(*) FROM patients WHERE pid LIKE 'pipe-b-%'",
	    0, NULL);
	is_str(e.v0, "0", "pipeline error: nothing stored");
	db_stats(db, &st);
	is_int(st.reserved, 0, "pipeline: connection released");
	for (i = 0; i < 30; i++)
		cap_reset(&p[i].c);
	cap_reset(&c);
	cap_reset(&e);
}

struct killer {
	struct db	*db;
	struct event	*retry;
	int		 killed;
	int		 tries;
	int		 failed;
};

static void kill_try(evutil_socket_t, short, void *);

static void
kill_cb(PGresult *res, const char *cause, void *arg)
{
	struct killer	*k = arg;
	struct timeval	 tv = { 0, 20000 };

	if (cause == NULL && res != NULL && PQntuples(res) == 1 &&
	    strcmp(PQgetvalue(res, 0, 0), "0") != 0) {
		k->killed = 1;
		return;
	}
	if (++k->tries > 500) {
		k->failed = 1;
		k->killed = 1;
		return;
	}
	/* The victim is not running yet: look again shortly. */
	evtimer_add(k->retry, &tv);
}

static void
kill_try(evutil_socket_t fd, short what, void *arg)
{
	struct killer	*k = arg;

	(void)fd;
	(void)what;
	db_query(k->db, "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
	    "FROM pg_stat_activity WHERE query LIKE '%isn-victim%' "
	    "AND pid <> pg_backend_pid()", 0, NULL, NULL, NULL, 0, kill_cb, k);
}

/* A loopback port: closed (listen 0) or listening but never served. */
static int
free_port(int *fdp, int listening)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			fd;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		fatal("socket");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		fatal("bind");
	if (listening) {
		if (listen(fd, 8) == -1)
			fatal("listen");
		*fdp = fd;
	} else {
		/* Bound, not listening: connections are refused. */
		*fdp = -1;
		close(fd);
	}
	return (ntohs(sin.sin_port));
}

static void
test_kill(void)
{
	struct db	*victim, *other;
	struct cap	 a, b, c, pid0;
	struct killer	 k;
	struct db_stats	 st;
	struct db_settings set;
	char		 ci[256], *cause = NULL;
	int		 port, lfd;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	memset(&pid0, 0, sizeof(pid0));
	memset(&k, 0, sizeof(k));
	victim = pool(conninfo, 1);
	other = pool(conninfo, 1);
	q(victim, &pid0, "SELECT pg_backend_pid()", 0, NULL);
	db_query(victim, "SELECT /* isn-victim */ pg_sleep(60)", 0, NULL, NULL,
	    NULL, 0, cap_cb, &a);
	db_query(victim, "SELECT 42", 0, NULL, NULL, NULL, 0, cap_cb, &b);
	k.db = other;
	k.retry = evtimer_new(base, kill_try, &k);
	kill_try(-1, 0, &k);
	ok(wait_for(&k.killed, 1) == 0 && !k.failed,
	    "backend terminated with pg_terminate_backend");
	wait_for(&a.done, 1);
	ok(a.cause != NULL, "pending query fails with a cause: %s",
	    a.cause ? a.cause : "-");
	wait_for(&b.done, 1);
	ok(b.cause == NULL && b.v0 != NULL &&
	    strcmp(b.v0, "42") == 0, "query queued behind it runs after the "
	    "reconnect%s%s", b.cause ? ": " : "", b.cause ? b.cause : "");
	q(victim, &c, "SELECT pg_backend_pid()", 0, NULL);
	ok(c.cause == NULL && c.v0 != NULL && pid0.v0 != NULL &&
	    strcmp(c.v0, pid0.v0) != 0, "next query on a new backend");
	db_stats(victim, &st);
	is_int((long long)st.reconnects, 1, "one reconnect counted");
	event_free(k.retry);
	db_free(victim);
	db_free(other);
	cap_reset(&a);
	cap_reset(&b);
	cap_reset(&c);
	cap_reset(&pid0);

	/* Nothing listening: requests fail with a cause, they do not hang. */
	port = free_port(&lfd, 0);
	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d user=isn dbname=isn",
	    port);
	victim = pool(ci, 2);
	db_query(victim, "SELECT 1", 0, NULL, NULL, NULL, 0, cap_cb, &a);
	wait_for(&a.done, 1);
	ok(a.cause != NULL && strstr(a.cause, "unavailable") != NULL,
	    "unreachable server: %s", a.cause ? a.cause : "(hang)");
	cap_reset(&a);
	q(victim, &a, "SELECT 1", 0, NULL);
	ok(a.cause != NULL, "later query fails at once as well");
	cap_reset(&a);
	db_free(victim);

	/* A listener that never answers: our connect timeout fires. */
	port = free_port(&lfd, 1);
	memset(&set, 0, sizeof(set));
	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d user=isn dbname=isn",
	    port);
	set.conninfo = ci;
	set.pool_size = 1;
	set.connect_timeout_ms = 200;
	if ((victim = db_new(base, &set, &cause)) == NULL)
		fatalx("db_new: %s", cause);
	db_query(victim, "SELECT 1", 0, NULL, NULL, NULL, 0, cap_cb, &a);
	wait_for(&a.done, 1);
	ok(a.cause != NULL && strstr(a.cause, "timed out") != NULL,
	    "silent server: %s", a.cause ? a.cause : "(hang)");
	cap_reset(&a);
	db_free(victim);
	close(lfd);
}

static const char *fill[] = {
	"INSERT INTO patients (pid, domain_oid) "
	"SELECT 'P' || g, '" DOMAIN "' FROM generate_series(1, 1000) g",
	"INSERT INTO submission_sets (entry_uuid, unique_id, source_id, "
	" patient_id, status, submission_time, ebrim) "
	"SELECT 'urn:uuid:ss-' || g, '1.2.840.99.1.' || g, '1.2.840.99', p.id, "
	" '" APPROVED "', to_char(timestamp '2026-01-01' + g * interval '1h', "
	" 'YYYYMMDDHH24MISS'), '<rim:RegistryPackage/>' "
	"FROM generate_series(1, 3000) g "
	"JOIN patients p ON p.pid = 'P' || (g % 1000 + 1)",
	"INSERT INTO documents (entry_uuid, unique_id, repository_unique_id, "
	" submission_set_id, patient_id, status, object_type, mime_type, "
	" creation_time, class_code, class_scheme, type_code, type_scheme, ebrim) "
	"SELECT 'urn:uuid:de-' || s.id || '-' || k, '1.2.840.99.2.' || s.id "
	" || '.' || k, '1.2.840.99.9', s.id, s.patient_id, s.status, "
	" 'urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1', 'application/dicom', "
	" s.submission_time, 'IMG' || (k % 3), '1.2.3', 'T' || k, '1.2.4', "
	" '<rim:ExtrinsicObject/>' "
	"FROM submission_sets s, generate_series(1, 3) k",
	"INSERT INTO document_codes (document_id, kind, code, scheme) "
	"SELECT id, 'event', 'CT', 'DCM' FROM documents",
};

static void
explain(struct db *db, const char *sql, int n, const char *const *v,
    const char *idx, const char *what)
{
	struct cap	c;

	memset(&c, 0, sizeof(c));
	q(db, &c, sql, n, v);
	ok(c.cause == NULL && c.all != NULL && strstr(c.all, "Index") != NULL &&
	    strstr(c.all, idx) != NULL, "%s uses %s", what, idx);
	if (c.all == NULL || strstr(c.all, idx) == NULL)
		tap_diag("plan: %s", c.all ? c.all : c.cause);
	cap_reset(&c);
}

static void
test_explain(struct db *db)
{
	struct db_txn	*txn;
	struct cap	 c;
	size_t		 i;
	int		 fails = 0;
	const char	*v[6] = { "P42", DOMAIN, "{" APPROVED "}",
			    "20260101000000", "20270101000000", "{IMG1}" };

	memset(&c, 0, sizeof(c));
	txn = begin(db);
	for (i = 0; i < sizeof(fill) / sizeof(fill[0]); i++) {
		tq(txn, &c, fill[i], 0, NULL);
		if (c.cause != NULL) {
			tap_diag("fill %zu: %s", i, c.cause);
			fails++;
		}
	}
	cap_reset(&c);
	db_txn_commit(txn, cap_cb, &c);
	wait_for(&c.done, 1);
	ok(fails == 0 && c.cause == NULL, "9000 documents loaded in one "
	    "transaction");
	q(db, &c, "ANALYZE", 0, NULL);
	cap_reset(&c);

	explain(db, "EXPLAIN SELECT d.ebrim FROM documents d "
	    "JOIN patients p ON p.id = d.patient_id "
	    "WHERE p.pid = $1 AND p.domain_oid = $2 "
	    "AND d.status = ANY ($3::text[]) "
	    "AND d.creation_time >= $4 AND d.creation_time < $5 "
	    "AND d.class_code = ANY ($6::text[]) "
	    "AND EXISTS (SELECT 1 FROM document_codes e WHERE "
	    "e.document_id = d.id AND e.kind = 'event' AND e.code = 'CT')",
	    6, v, "documents_patient", "FindDocuments");
	explain(db, "EXPLAIN SELECT s.ebrim FROM submission_sets s "
	    "JOIN patients p ON p.id = s.patient_id "
	    "WHERE p.pid = $1 AND p.domain_oid = $2 "
	    "AND s.status = ANY ($3::text[]) "
	    "AND s.submission_time >= $4 AND s.submission_time < $5",
	    5, v, "submission_sets_patient_idx", "FindSubmissionSets");
	v[0] = "1.2.840.99.2.17.1";
	explain(db, "EXPLAIN SELECT ebrim FROM documents WHERE unique_id = $1",
	    1, v, "unique_id", "GetDocuments by uniqueId");
}

/* statement_timeout on every pool connection, the conninfo's options kept. */
static void
test_timeout(void)
{
	struct db_settings	 s;
	struct db		*db;
	struct cap		 c;
	char			*ci, *cause = NULL;
	int			 i;

	memset(&c, 0, sizeof(c));
	memset(&s, 0, sizeof(s));
	xasprintf(&ci, "%s options='-c application_name=isn-timeout'",
	    conninfo);
	s.conninfo = ci;
	s.pool_size = 2;
	s.statement_timeout_ms = 300;
	db = db_new(base, &s, &cause);
	ok(db != NULL, "db_new with a statement timeout");
	if (db == NULL) {
		free(cause);
		free(ci);
		return;
	}
	for (i = 0; i < 2; i++) {
		q(db, &c, "SHOW statement_timeout", 0, NULL);
		ok(c.cause == NULL && c.v0 != NULL &&
		    strcmp(c.v0, "300ms") == 0,
		    "connection %d: statement_timeout is 300ms (%s)", i,
		    c.v0 != NULL ? c.v0 : "null");
	}
	q(db, &c, "SELECT current_setting('application_name')", 0, NULL);
	ok(c.v0 != NULL && strcmp(c.v0, "isn-timeout") == 0,
	    "the conninfo's own options are kept");
	q(db, &c, "SELECT pg_sleep(5)", 0, NULL);
	ok(c.cause != NULL && c.sqlstate != NULL &&
	    strcmp(c.sqlstate, "57014") == 0,
	    "a statement above the timeout fails with 57014 (%s)",
	    c.cause != NULL ? c.cause : "no cause");
	q(db, &c, "SELECT 1", 0, NULL);
	ok(c.cause == NULL && c.v0 != NULL && strcmp(c.v0, "1") == 0,
	    "the connection still works after the timeout");
	cap_reset(&c);
	db_free(db);
	free(ci);

	memset(&s, 0, sizeof(s));
	s.conninfo = "host='unterminated";
	s.statement_timeout_ms = 300;
	db = db_new(base, &s, &cause);
	ok(db == NULL && cause != NULL &&
	    strstr(cause, "unterminated") == NULL,
	    "a malformed conninfo is refused without quoting it");
	free(cause);
}

static int
qp(struct db *db, struct cap *c, const char *sql, int n,
    const char *const *v)
{
	cap_reset(c);
	db_query_prepared(db, sql, n, v, NULL, NULL, 0, cap_cb, c);
	if (c->done != 0)
		return (-2);
	return (wait_for(&c->done, 1));
}

/* Run the loop until every connection is up and reconnects >= min. */
static int
wait_up(struct db *db, int conns, unsigned long long min_reconnects)
{
	struct db_stats	 st;
	time_t		 deadline = time(NULL) + 20;

	for (;;) {
		db_stats(db, &st);
		if (st.connected == conns && st.reconnects >= min_reconnects)
			return (0);
		if (time(NULL) > deadline)
			return (-1);
		event_base_loop(base, EVLOOP_ONCE);
	}
}

static struct db *
pool_prep(const char *app, int size, int prepared_max, int timeout_ms)
{
	struct db_settings	 s;
	struct db		*db;
	char			*ci, *cause = NULL;

	xasprintf(&ci, "%s options='-c application_name=%s'", conninfo, app);
	memset(&s, 0, sizeof(s));
	s.conninfo = ci;
	s.pool_size = size;
	s.prepared_max = prepared_max;
	s.statement_timeout_ms = timeout_ms;
	if ((db = db_new(base, &s, &cause)) == NULL)
		fatalx("db_new: %s", cause);
	free(ci);
	if (wait_up(db, size, 0) == -1)
		fatalx("pool %s did not connect", app);
	return (db);
}

#define PREP_N		30
#define PREP_SQL	"SELECT $1::int + 1, pg_backend_pid()"

struct prepcap {
	int	 done;
	int	 bad;
	int	 want;
	int	 pids[8];
	int	 npids;
};

struct prepone {
	struct prepcap	*pc;
	int		 v;
};

static void
prep_cb(PGresult *res, const char *cause, void *arg)
{
	struct prepone	*o = arg;
	struct prepcap	*pc = o->pc;
	int		 pid, i;

	pc->done++;
	if (cause != NULL || res == NULL || PQntuples(res) != 1 ||
	    atoi(PQgetvalue(res, 0, 0)) != o->v + 1) {
		pc->bad++;
		return;
	}
	pid = atoi(PQgetvalue(res, 0, 1));
	for (i = 0; i < pc->npids; i++)
		if (pc->pids[i] == pid)
			return;
	if (pc->npids < 8)
		pc->pids[pc->npids++] = pid;
}

/* PREP_N prepared runs of PREP_SQL at once; distinct backends seen. */
static int
prep_round(struct db *db, int *bad)
{
	struct prepcap	 pc;
	struct prepone	 one[PREP_N];
	char		 buf[PREP_N][16];
	const char	*v[1];
	int		 i;

	memset(&pc, 0, sizeof(pc));
	for (i = 0; i < PREP_N; i++) {
		one[i].pc = &pc;
		one[i].v = i * 7;
		snprintf(buf[i], sizeof(buf[i]), "%d", i * 7);
		v[0] = buf[i];
		db_query_prepared(db, PREP_SQL, 1, v, NULL, NULL, 0,
		    prep_cb, &one[i]);
	}
	if (pc.done != 0 || wait_for(&pc.done, PREP_N) == -1)
		pc.bad++;
	*bad = pc.bad;
	return (pc.npids);
}

/* The named statements of the (single) connection of db, by text. */
static int
server_stmts(struct db *db, struct cap *c)
{
	q(db, c, "SELECT count(*) FROM pg_prepared_statements "
	    "WHERE name LIKE 'isn\\_%'", 0, NULL);
	return (c->v0 != NULL ? atoi(c->v0) : -1);
}

static void
test_prepared(void)
{
	struct db	*db;
	struct db_stats	 st;
	struct cap	 c;
	const char	*v[1];
	char		*sql;
	int		 i, bad, npids, allbad = 0, okc;
	unsigned long long prepares;

	memset(&c, 0, sizeof(c));

	/* The same statement many times on every connection. */
	db = pool_prep("isn-prep", 3, 0, 0);
	for (i = 0; i < 5; i++) {
		npids = prep_round(db, &bad);
		allbad += bad;
	}
	db_stats(db, &st);
	ok(allbad == 0 && npids == 3,
	    "5 x %d prepared runs on 3 connections: all right (%d bad), "
	    "%d backends", PREP_N, allbad, npids);
	ok(st.prepares == 3 && st.prepared == 3 && st.evictions == 0,
	    "prepared once per connection (%llu prepares, %d ready)",
	    st.prepares, st.prepared);

	/* A reconnect: the new sessions have no statements. */
	exec_blocking(conninfo, "SELECT pg_terminate_backend(pid) FROM "
	    "pg_stat_activity WHERE application_name = 'isn-prep'");
	ok(wait_up(db, 3, 3) == 0, "the pool reconnects after "
	    "pg_terminate_backend");
	db_stats(db, &st);
	ok(st.prepared == 0, "a new connection has no statements (%d)",
	    st.prepared);
	npids = prep_round(db, &bad);
	db_stats(db, &st);
	ok(bad == 0 && npids == 3 && st.prepares == 6 && st.prepared == 3,
	    "after the reconnect: all right (%d bad) on %d backends, "
	    "prepared again on each (%llu prepares)", bad, npids,
	    st.prepares);
	db_free(db);

	/* Eviction: 2 slots on one connection, 3 texts. */
	db = pool_prep("isn-prep1", 1, 2, 0);
	okc = 1;
	for (i = 0; i < 12; i++) {
		xasprintf(&sql, "SELECT $1::int * %d", i % 3 + 2);
		v[0] = "5";
		qp(db, &c, sql, 1, v);
		if (c.cause != NULL || c.v0 == NULL ||
		    atoi(c.v0) != 5 * (i % 3 + 2))
			okc = 0;
		free(sql);
		if (server_stmts(db, &c) > 2)
			okc = 0;
	}
	db_stats(db, &st);
	ok(okc && st.prepared == 2, "3 texts in 2 slots: all right, never "
	    "more than 2 statements on the server (%d ready)", st.prepared);
	ok(st.evictions == 10 && st.prepares == 12,
	    "round-robin over 3 texts evicts the least recently used "
	    "(%llu evictions, %llu prepares)", st.evictions, st.prepares);
	v[0] = "5";
	qp(db, &c, "SELECT $1::int * 4", 1, v);
	db_stats(db, &st);
	prepares = st.prepares;
	for (i = 0; i < 8; i++)
		qp(db, &c, "SELECT $1::int * 4", 1, v);
	db_stats(db, &st);
	ok(c.cause == NULL && c.v0 != NULL && strcmp(c.v0, "20") == 0 &&
	    st.prepares == prepares, "a cached text is not prepared again "
	    "(%llu prepares)", st.prepares);
	q(db, &c, "SELECT generic_plans FROM pg_prepared_statements WHERE "
	    "statement = 'SELECT $1::int * 4'", 0, NULL);
	ok(c.v0 != NULL && atoi(c.v0) > 0, "the server runs it with a "
	    "generic plan (%s generic runs)", c.v0 != NULL ? c.v0 : "no");

	/* A statement that fails to prepare is not kept. */
	prepares = st.prepares;
	for (i = 0; i < 2; i++) {
		v[0] = "1";
		qp(db, &c, "SELECT no_such_column FROM pg_class WHERE "
		    "oid = $1", 1, v);
		ok(c.cause != NULL && c.sqlstate != NULL &&
		    strcmp(c.sqlstate, "42703") == 0,
		    "failed prepare %d: the server's error (%s)", i + 1,
		    c.cause != NULL ? c.cause : "none");
	}
	db_stats(db, &st);
	ok(st.prepares == prepares + 2 && server_stmts(db, &c) == 1,
	    "it was tried each time and is not on the server "
	    "(%llu prepares)", st.prepares - prepares);
	v[0] = "6";
	qp(db, &c, "SELECT $1::int * 4", 1, v);
	ok(c.cause == NULL && c.v0 != NULL && strcmp(c.v0, "24") == 0,
	    "the cache still works after the failed prepare");
	/* An execution error keeps the statement. */
	prepares = st.prepares;
	v[0] = "0";
	qp(db, &c, "SELECT 10 / $1::int", 1, v);
	ok(c.sqlstate != NULL && strcmp(c.sqlstate, "22012") == 0,
	    "an execution error is delivered (%s)",
	    c.cause != NULL ? c.cause : "none");
	v[0] = "5";
	qp(db, &c, "SELECT 10 / $1::int", 1, v);
	db_stats(db, &st);
	ok(c.cause == NULL && c.v0 != NULL && strcmp(c.v0, "2") == 0 &&
	    st.prepares == prepares + 1,
	    "and the statement stays prepared (%llu prepares)",
	    st.prepares - prepares);

	/* The server forgets behind our back: DEALLOCATE name, ALL. */
	q(db, &c, "SELECT name FROM pg_prepared_statements WHERE "
	    "statement = 'SELECT 10 / $1::int'", 0, NULL);
	xasprintf(&sql, "DEALLOCATE %s", c.v0 != NULL ? c.v0 : "x");
	q(db, &c, sql, 0, NULL);
	free(sql);
	ok(c.cause == NULL, "DEALLOCATE of one statement by hand");
	v[0] = "2";
	qp(db, &c, "SELECT 10 / $1::int", 1, v);
	ok(c.cause == NULL && c.v0 != NULL && strcmp(c.v0, "5") == 0,
	    "its next run re-prepares it (%s)",
	    c.cause != NULL ? c.cause : "ok");
	q(db, &c, "DEALLOCATE ALL", 0, NULL);
	db_stats(db, &st);
	ok(c.cause == NULL && st.prepared == 0,
	    "DEALLOCATE ALL empties the cache (%d)", st.prepared);
	qp(db, &c, "SELECT 10 / $1::int", 1, v);
	ok(c.cause == NULL && c.v0 != NULL && strcmp(c.v0, "5") == 0,
	    "and the statement works after it");
	db_free(db);

	/* statement_timeout applies; the statement survives it. */
	db = pool_prep("isn-prep2", 1, 0, 300);
	v[0] = "5";
	qp(db, &c, "SELECT pg_sleep($1::float8)", 1, v);
	ok(c.sqlstate != NULL && strcmp(c.sqlstate, "57014") == 0,
	    "a prepared statement above the timeout fails with 57014");
	v[0] = "0";
	qp(db, &c, "SELECT pg_sleep($1::float8)", 1, v);
	db_stats(db, &st);
	ok(c.cause == NULL && st.prepares == 1 && st.prepared == 1,
	    "then runs again without a new prepare (%llu prepares)",
	    st.prepares);
	db_free(db);

	/* prepared_max -1: unnamed. */
	db = pool_prep("isn-prep3", 1, -1, 0);
	v[0] = "3";
	qp(db, &c, PREP_SQL, 1, v);
	db_stats(db, &st);
	ok(c.cause == NULL && c.v0 != NULL && strcmp(c.v0, "4") == 0 &&
	    st.prepares == 0 && server_stmts(db, &c) == 0,
	    "prepared_max -1 runs db_query_prepared unnamed");
	db_free(db);
	cap_reset(&c);
}

int
main(void)
{
	struct event	*t;
	struct timeval	 tv = { 0, 100000 };
	struct db	*db;

	if ((conninfo = getenv("ISN_PG_CONNINFO")) == NULL ||
	    *conninfo == '\0') {
		printf("1..0 # SKIP ISN_PG_CONNINFO not set (run test_db.sh)\n");
		return (0);
	}
	log_init(1, "test_db", LOG_USER);
	snprintf(schemadir, sizeof(schemadir), "%s/schemas/clearinghouse",
	    tap_srcdir());
	signal(SIGPIPE, SIG_IGN);
	alarm(120);
	base = event_base_new();
	/* Wakes EVLOOP_ONCE so wait_for can check its deadline. */
	t = event_new(base, -1, EV_PERSIST, tick, NULL);
	event_add(t, &tv);

	test_migrate();
	test_pool();
	db = pool(conninfo, 4);
	test_hostile(db);
	test_txn(db);
	test_pipeline(db);
	test_explain(db);
	db_free(db);
	test_timeout();
	test_kill();
	test_prepared();

	event_free(t);
	event_base_free(base);
	return (tap_done());
}
