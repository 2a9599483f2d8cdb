/*
 * db.c: asynchronous libpq pool on libevent (see db.h, docs/design/db.md).
 *
 * Each connection owns one event on PQsocket() (re-assigned when the
 * socket or the interest changes) and one timer (connect timeout, then
 * reconnect backoff).  One statement runs per connection at a time; a
 * db_query_prepared request may take up to three steps on it back to back
 * (DEALLOCATE an evicted statement, PREPARE, EXECUTE: conn_next_step),
 * with the connection's statement table (struct db_stmt) emptied whenever
 * the session ends.
 * Completed requests go to a "done" list drained by a deferred event, so
 * callbacks never run inside the call that queued them.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <libpq-fe.h>

#include "db.h"
#include "log.h"
#include "xmalloc.h"

#define DB_MAX_POOL		256
#define DB_BACKOFF_MIN_MS	100
#define DB_PREPARED_DEFAULT	64	/* named statements per connection */
#define DB_PREPARED_MAX		1024
#define DB_STMT_NAME		24	/* "isn_" + 16 hex + NUL, rounded */
#define DB_PIPE_MAX		1000	/* statements in one pipeline */

enum conn_state {
	C_DOWN,			/* closed, nothing scheduled (pool closing) */
	C_CONNECTING,		/* PQconnectPoll in progress */
	C_READY,		/* idle, watching the socket for a loss */
	C_BUSY,			/* one statement in flight */
	C_BACKOFF		/* waiting for the reconnect timer */
};

enum req_kind { R_QUERY, R_BEGIN, R_COMMIT, R_ROLLBACK };

/* What the connection's current request is waiting for. */
enum conn_step {
	S_EXEC,			/* the statement itself */
	S_DEALLOC,		/* DEALLOCATE of the slot's previous statement */
	S_PREPARE		/* PQsendPrepare of the slot's statement */
};

/*
 * One named prepared statement of a connection: the slot's name is
 * "isn_" + the 64-bit FNV-1a hash of its text (the text is kept: a hash
 * collision runs unnamed).  A slot is S_EMPTY, being prepared, ready, or
 * stale (the server may still hold the name: DEALLOCATE before reuse).
 */
enum stmt_state { ST_EMPTY, ST_PREPARING, ST_READY, ST_STALE };

struct db_stmt {
	enum stmt_state		 state;
	uint64_t		 hash;
	char			*sql;
	unsigned long long	 used;	/* LRU tick */
};

struct db_req {
	TAILQ_ENTRY(db_req)	 entry;
	enum req_kind		 kind;
	struct db_txn		*txn;
	char			*sql;
	int			 nparams;
	char			**values;
	int			*lengths;
	int			*formats;
	int			 resfmt;
	int			 prepared; /* db_query_prepared */
	db_cb			 cb;
	db_txn_cb		 tcb;
	void			*arg;
	PGresult		*res;	/* outcome, set at completion */
	char			*cause;
};
TAILQ_HEAD(db_reqs, db_req);

struct db_conn {
	struct db		*db;
	int			 idx;
	enum conn_state		 state;
	PGconn			*pg;
	int			 fd;
	short			 what;	/* interest of ev, 0 when not added */
	struct event		 ev;
	struct event		 timer;
	int			 failures; /* consecutive failed attempts */
	int			 ever_connected;
	int			 flushing;
	struct db_req		*cur;
	PGresult		*res;
	char			*err;
	struct db_txn		*txn;	/* reserved by this transaction */
	enum conn_step		 step;
	int			 slot;	/* stmts[] of cur, or -1: unnamed */
	int			 retried; /* cur re-prepared once already */
	uint64_t		 dealloc; /* hash of the name to DEALLOCATE */
	int			 piping; /* pipeline of txn statements in flight */
	int			 aborted; /* cur got PGRES_PIPELINE_ABORTED */
	struct db_reqs		 pipe;	/* in flight after cur (pipeline) */
	struct db_reqs		 redo;	/* aborted in the pipeline: re-send */
	struct db_stmt		*stmts;	/* db->nstmts slots */
	unsigned long long	 tick;
};

struct db_txn {
	struct db		*db;
	LIST_ENTRY(db_txn)	 entry;
	struct db_conn		*conn;
	struct db_reqs		 reqs;	/* statements waiting for conn */
	char			*dead;	/* cause once the connection is gone */
	int			 failed; /* a statement failed: no pipelining */
	int			 ended;
};

struct db {
	struct event_base	*base;
	char			*conninfo;
	char			**keys;		/* conninfo + options, or NULL */
	char			**vals;
	int			 nconn;
	struct db_conn		*conns;
	int			 max_queue;
	int			 connect_timeout_ms;
	int			 backoff_max_ms;
	int			 nstmts;	/* prepared slots per conn */
	struct db_reqs		 queue;
	int			 nqueued;
	struct db_reqs		 done;
	struct event		*done_ev;
	LIST_HEAD(, db_txn)	 txns;
	char			*last_error;
	int			 closing;
	int			 dispatching;
	int			 outstanding; /* submitted, not yet delivered */
	unsigned long long	 reconnects;
	unsigned long long	 prepares;
	unsigned long long	 evictions;
};

static void	conn_start(struct db_conn *);
static void	conn_io(evutil_socket_t, short, void *);
static void	conn_lost(struct db_conn *, const char *);
static void	db_kick(struct db *);
static void	conn_pipeline(struct db_conn *);
static void	params_free(char **, char **);
static void	stmts_forget(struct db_conn *);

/* PQerrorMessage is multi-line with a trailing newline: make it one line. */
static char *
pq_cause(const char *prefix, const char *msg)
{
	char	*s, *p, *q;

	if (msg == NULL || *msg == '\0')
		msg = "unknown error";
	xasprintf(&s, "%s%s", prefix, msg);
	while ((p = strchr(s, '\n')) != NULL) {
		q = p + 1;
		while (*q == ' ' || *q == '\t' || *q == '\n')
			q++;
		if (*q == '\0') {
			*p = '\0';
			break;
		}
		*p++ = ' ';
		memmove(p, q, strlen(q) + 1);
	}
	return (s);
}

/*
 * A server error as "ERROR 23505: primary message".  DETAIL and the
 * rest stay in the PGresult: they may quote row values (patient data).
 */
static char *
res_cause(const PGresult *res)
{
	const char	*sev, *state, *prim;
	char		*s;

	sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	prim = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (prim == NULL)
		return (pq_cause("", PQresultErrorMessage(res)));
	xasprintf(&s, "%s %s: %s", sev != NULL ? sev : "ERROR",
	    state != NULL ? state : "?????", prim);
	return (s);
}

static struct db_req *
req_new(enum req_kind kind, const char *sql, int n, const char *const *values,
    const int *lengths, const int *formats, int resfmt)
{
	struct db_req	*r;
	int		 i, len;

	r = xcalloc(1, sizeof(*r));
	r->kind = kind;
	r->sql = xstrdup(sql);
	r->resfmt = resfmt ? 1 : 0;
	if (n <= 0 || values == NULL)
		return (r);
	r->nparams = n;
	r->values = xcalloc(n, sizeof(*r->values));
	r->lengths = xcalloc(n, sizeof(*r->lengths));
	r->formats = xcalloc(n, sizeof(*r->formats));
	for (i = 0; i < n; i++) {
		r->formats[i] = formats != NULL && formats[i] ? 1 : 0;
		if (values[i] == NULL)
			continue;
		if (r->formats[i]) {
			len = lengths != NULL ? lengths[i] : 0;
			if (len < 0)
				len = 0;
			/* One spare byte so a zero-length value is not NULL. */
			r->values[i] = xmalloc((size_t)len + 1);
			memcpy(r->values[i], values[i], len);
			r->lengths[i] = len;
		} else
			r->values[i] = xstrdup(values[i]);
	}
	return (r);
}

static void
req_free(struct db_req *r)
{
	int	i;

	for (i = 0; i < r->nparams; i++)
		free(r->values[i]);
	free(r->values);
	free(r->lengths);
	free(r->formats);
	free(r->sql);
	PQclear(r->res);
	free(r->cause);
	free(r);
}

/* Queue r for delivery; takes res and cause (either may be NULL). */
static void
req_complete(struct db *db, struct db_req *r, PGresult *res, char *cause)
{
	r->res = res;
	r->cause = cause;
	TAILQ_INSERT_TAIL(&db->done, r, entry);
	event_active(db->done_ev, EV_TIMEOUT, 0);
}

static void printflike(3, 4)
req_fail(struct db *db, struct db_req *r, const char *fmt, ...)
{
	va_list	 ap;
	char	*cause;

	va_start(ap, fmt);
	xvasprintf(&cause, fmt, ap);
	va_end(ap);
	req_complete(db, r, NULL, cause);
}

static void
txn_free(struct db_txn *t)
{
	struct db_req	*r;

	while ((r = TAILQ_FIRST(&t->reqs)) != NULL) {
		TAILQ_REMOVE(&t->reqs, r, entry);
		req_free(r);
	}
	LIST_REMOVE(t, entry);
	free(t->dead);
	free(t);
}

static void
req_deliver(struct db_req *r)
{
	struct db_txn	*t = r->txn;

	switch (r->kind) {
	case R_QUERY:
		if (r->cb != NULL)
			r->cb(r->res, r->cause, r->arg);
		break;
	case R_BEGIN:
		if (r->cause != NULL) {
			if (t->conn != NULL) {
				t->conn->txn = NULL;
				t->conn = NULL;
			}
			r->tcb(NULL, r->cause, r->arg);
			txn_free(t);
		} else
			r->tcb(t, NULL, r->arg);
		break;
	case R_COMMIT:
	case R_ROLLBACK:
		if (r->cb != NULL)
			r->cb(r->res, r->cause, r->arg);
		txn_free(t);
		break;
	}
}

static void
db_dispatch(struct db *db)
{
	struct db_reqs	 batch;
	struct db_req	*r;

	TAILQ_INIT(&batch);
	TAILQ_CONCAT(&batch, &db->done, entry);
	db->dispatching++;
	while ((r = TAILQ_FIRST(&batch)) != NULL) {
		TAILQ_REMOVE(&batch, r, entry);
		db->outstanding--;
		req_deliver(r);
		req_free(r);
	}
	db->dispatching--;
}

static void
db_destroy(struct db *db)
{
	int	i;

	while (!LIST_EMPTY(&db->txns))
		txn_free(LIST_FIRST(&db->txns));
	for (i = 0; i < db->nconn; i++) {
		evtimer_del(&db->conns[i].timer);
		stmts_forget(&db->conns[i]);
		free(db->conns[i].stmts);
	}
	event_free(db->done_ev);
	free(db->conns);
	free(db->conninfo);
	params_free(db->keys, db->vals);
	free(db->last_error);
	free(db);
}

static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db	*db = arg;

	(void)fd;
	(void)what;
	db_dispatch(db);
	if (db->closing) {
		while (!TAILQ_EMPTY(&db->done))
			db_dispatch(db);
		db_destroy(db);
		return;
	}
	if (!TAILQ_EMPTY(&db->done))
		event_active(db->done_ev, EV_TIMEOUT, 0);
}

static void
notice_cb(void *arg, const char *msg)
{
	struct db_conn	*c = arg;

	log_debug("db notice conn=%d %.*s", c->idx,
	    (int)strcspn(msg, "\n"), msg);
}

/*
 * Watch the socket for what (EV_READ and/or EV_WRITE); 0 stops watching.
 * While connecting, always re-arm: libpq may close its socket and open
 * another (next address, SSL fallback) that can reuse the same number,
 * which epoll would silently have dropped.
 */
static void
conn_watch(struct db_conn *c, short what)
{
	int	fd = c->pg != NULL ? PQsocket(c->pg) : -1;

	if (c->what != 0 && c->fd == fd && c->what == what &&
	    c->state != C_CONNECTING)
		return;
	if (c->what != 0)
		event_del(&c->ev);
	c->what = 0;
	c->fd = fd;
	if (what == 0 || fd < 0)
		return;
	event_assign(&c->ev, c->db->base, fd, what | EV_PERSIST, conn_io, c);
	event_add(&c->ev, NULL);
	c->what = what;
}

/* 64-bit FNV-1a: the statement's name; the text settles collisions. */
static uint64_t
stmt_hash(const char *sql)
{
	uint64_t	 h = 0xcbf29ce484222325ULL;

	for (; *sql != '\0'; sql++) {
		h ^= (unsigned char)*sql;
		h *= 0x100000001b3ULL;
	}
	return (h);
}

static void
stmt_name(uint64_t hash, char *name)
{
	snprintf(name, DB_STMT_NAME, "isn_%016llx", (unsigned long long)hash);
}

static void
stmt_clear(struct db_stmt *st)
{
	free(st->sql);
	memset(st, 0, sizeof(*st));
}

/* The server forgot every statement of c (new session, DISCARD ALL). */
static void
stmts_forget(struct db_conn *c)
{
	int	i;

	if (c->stmts == NULL)
		return;
	for (i = 0; i < c->db->nstmts; i++)
		stmt_clear(&c->stmts[i]);
	c->slot = -1;
}

/*
 * Decide how c runs its current request r (db_query_prepared): execute
 * the ready statement; or take a slot (empty, else the least recently
 * used one, DEALLOCATEd first) and prepare it; or run unnamed (a hash
 * collision, every slot busy).  Sets c->step and c->slot.
 */
static void
stmt_plan(struct db_conn *c, struct db_req *r)
{
	struct db	*db = c->db;
	struct db_stmt	*st, *victim = NULL;
	uint64_t	 h = stmt_hash(r->sql);
	int		 i;

	c->step = S_EXEC;
	c->slot = -1;
	for (i = 0; i < db->nstmts; i++) {
		st = &c->stmts[i];
		if (st->state == ST_EMPTY || st->hash != h)
			continue;
		if (strcmp(st->sql, r->sql) != 0)
			return;		/* collision: unnamed */
		c->slot = i;
		st->used = ++c->tick;
		if (st->state == ST_READY)
			return;
		/* Stale: the server may still know the name. */
		c->dealloc = h;
		c->step = S_DEALLOC;
		st->state = ST_PREPARING;
		return;
	}
	for (i = 0; i < db->nstmts; i++) {
		st = &c->stmts[i];
		if (st->state == ST_EMPTY) {
			victim = st;
			break;
		}
		if (st->state != ST_PREPARING &&
		    (victim == NULL || st->used < victim->used))
			victim = st;
	}
	if (victim == NULL)
		return;
	c->step = S_PREPARE;
	if (victim->state != ST_EMPTY) {
		c->dealloc = victim->hash;
		c->step = S_DEALLOC;
		db->evictions++;
		stmt_clear(victim);
	}
	c->slot = (int)(victim - c->stmts);
	victim->state = ST_PREPARING;
	victim->hash = h;
	victim->sql = xstrdup(r->sql);
	victim->used = ++c->tick;
}

static void
conn_close(struct db_conn *c)
{
	conn_watch(c, 0);
	evtimer_del(&c->timer);
	if (c->pg != NULL)
		PQfinish(c->pg);
	c->pg = NULL;
	c->fd = -1;
	PQclear(c->res);
	c->res = NULL;
	free(c->err);
	c->err = NULL;
	c->flushing = 0;
	c->state = C_DOWN;
	c->step = S_EXEC;
	stmts_forget(c);
}

static int
db_alive(struct db *db)
{
	int	i;

	for (i = 0; i < db->nconn; i++)
		switch (db->conns[i].state) {
		case C_CONNECTING:
		case C_READY:
		case C_BUSY:
			return (1);
		default:
			break;
		}
	return (0);
}

/* No connection is up or coming: waiting requests must not hang. */
static void
db_fail_queue(struct db *db, const char *why)
{
	struct db_req	*r;

	while ((r = TAILQ_FIRST(&db->queue)) != NULL) {
		TAILQ_REMOVE(&db->queue, r, entry);
		db->nqueued--;
		req_fail(db, r, "%s", why);
	}
}

static void
conn_failed(struct db_conn *c, const char *cause)
{
	struct db	*db = c->db;
	struct timeval	 tv;
	long		 ms;
	char		*why;
	int		 i;

	log_warnx("db connect failed conn=%d attempt=%d: %s", c->idx,
	    c->failures + 1, cause);
	free(db->last_error);
	db->last_error = xstrdup(cause);
	conn_close(c);
	if (c->failures < 30)
		c->failures++;
	/* 100 ms, 200 ms, 400 ms ... up to backoff_max_ms. */
	ms = DB_BACKOFF_MIN_MS;
	for (i = 1; i < c->failures && ms < db->backoff_max_ms; i++)
		ms *= 2;
	if (ms > db->backoff_max_ms)
		ms = db->backoff_max_ms;
	c->state = C_BACKOFF;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(&c->timer, &tv);
	if (!db_alive(db)) {
		xasprintf(&why, "database unavailable: %s", cause);
		db_fail_queue(db, why);
		free(why);
	}
}

static void
conn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn	*c = arg;

	(void)fd;
	(void)what;
	if (c->state == C_CONNECTING)
		conn_failed(c, "connection timed out");
	else if (c->state == C_BACKOFF)
		conn_start(c);
}

static void
conn_connected(struct db_conn *c)
{
	evtimer_del(&c->timer);
	if (PQsetnonblocking(c->pg, 1) != 0) {
		char *cause = pq_cause("", PQerrorMessage(c->pg));

		conn_failed(c, cause);
		free(cause);
		return;
	}
	PQsetNoticeProcessor(c->pg, notice_cb, c);
	if (c->ever_connected)
		c->db->reconnects++;
	c->ever_connected = 1;
	c->failures = 0;
	c->state = C_READY;
	log_debug("db connected conn=%d backend=%d", c->idx,
	    PQbackendPID(c->pg));
	conn_watch(c, EV_READ);
	db_kick(c->db);
}

static void
conn_poll(struct db_conn *c)
{
	char	*cause;

	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_READING:
		conn_watch(c, EV_READ);
		break;
	case PGRES_POLLING_WRITING:
		conn_watch(c, EV_WRITE);
		break;
	case PGRES_POLLING_OK:
		conn_connected(c);
		break;
	default:
		cause = pq_cause("", PQerrorMessage(c->pg));
		conn_failed(c, cause);
		free(cause);
		break;
	}
}

static void
conn_start(struct db_conn *c)
{
	struct db	*db = c->db;
	struct timeval	 tv;
	char		*cause;

	conn_close(c);
	c->state = C_CONNECTING;
	if (db->keys != NULL)
		c->pg = PQconnectStartParams((const char *const *)db->keys,
		    (const char *const *)db->vals, 0);
	else
		c->pg = PQconnectStart(db->conninfo);
	if (c->pg == NULL) {
		conn_failed(c, "out of memory");
		return;
	}
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		cause = pq_cause("", PQerrorMessage(c->pg));
		conn_failed(c, cause);
		free(cause);
		return;
	}
	tv.tv_sec = db->connect_timeout_ms / 1000;
	tv.tv_usec = (db->connect_timeout_ms % 1000) * 1000;
	evtimer_add(&c->timer, &tv);
	/* libpq: behave as if PQconnectPoll had returned WRITING. */
	conn_watch(c, EV_WRITE);
}

/* Fails every request of a list, in order. */
static void
reqs_fail(struct db *db, struct db_reqs *q, const char *cause)
{
	struct db_req	*r;

	while ((r = TAILQ_FIRST(q)) != NULL) {
		TAILQ_REMOVE(q, r, entry);
		req_fail(db, r, "%s", cause);
	}
}

static void
txn_kill(struct db_txn *t, const char *cause)
{
	if (t->dead == NULL)
		t->dead = xstrdup(cause);
	if (t->conn != NULL)
		t->conn->txn = NULL;
	t->conn = NULL;
	reqs_fail(t->db, &t->reqs, cause);
}

/*
 * A connection's pipelined statements, in order: those aborted earlier
 * than cur (redo), then those after it; the pipeline is over.
 */
static void
pipe_fail_redo(struct db_conn *c, const char *cause)
{
	reqs_fail(c->db, &c->redo, cause);
}

static void
pipe_fail_rest(struct db_conn *c, const char *cause)
{
	reqs_fail(c->db, &c->pipe, cause);
	c->piping = 0;
	c->aborted = 0;
}

/* An established connection is gone: fail what it held, reconnect now. */
static void
conn_lost(struct db_conn *c, const char *msg)
{
	struct db	*db = c->db;
	struct db_req	*r;
	char		*cause;

	cause = pq_cause("connection lost: ", c->err != NULL ? c->err : msg);
	log_warnx("db conn=%d %s", c->idx, cause);
	pipe_fail_redo(c, cause);
	if ((r = c->cur) != NULL) {
		c->cur = NULL;
		if (r->kind == R_COMMIT)
			req_fail(db, r, "%s (COMMIT outcome unknown)", cause);
		else
			req_fail(db, r, "%s", cause);
	}
	pipe_fail_rest(c, cause);
	if (c->txn != NULL)
		txn_kill(c->txn, cause);
	free(cause);
	conn_close(c);
	if (db->closing)
		return;
	/* The first attempt is immediate; failures then back off. */
	c->failures = 0;
	conn_start(c);
}

/* Send the current step of c->cur (see stmt_plan) and flush. */
static void
conn_issue(struct db_conn *c)
{
	struct db	*db = c->db;
	struct db_req	*r = c->cur;
	struct db_stmt	*st = c->slot >= 0 ? &c->stmts[c->slot] : NULL;
	char		 name[DB_STMT_NAME], sql[64], *cause;
	int		 rc;

	switch (c->step) {
	case S_DEALLOC:
		stmt_name(c->dealloc, name);
		snprintf(sql, sizeof(sql), "DEALLOCATE %s", name);
		rc = PQsendQuery(c->pg, sql);
		break;
	case S_PREPARE:
		stmt_name(st->hash, name);
		db->prepares++;
		log_debug("db conn=%d prepare %s", c->idx, name);
		rc = PQsendPrepare(c->pg, name, r->sql, 0, NULL);
		break;
	default:
		if (st != NULL) {
			stmt_name(st->hash, name);
			rc = PQsendQueryPrepared(c->pg, name, r->nparams,
			    (const char *const *)r->values, r->lengths,
			    r->formats, r->resfmt);
		} else
			rc = PQsendQueryParams(c->pg, r->sql, r->nparams, NULL,
			    (const char *const *)r->values, r->lengths,
			    r->formats, r->resfmt);
		break;
	}
	if (rc == 0) {
		if (PQstatus(c->pg) == CONNECTION_BAD) {
			conn_lost(c, PQerrorMessage(c->pg));
			return;
		}
		/* Not sent: a slot being prepared is not prepared. */
		if (st != NULL && st->state == ST_PREPARING)
			st->state = ST_STALE;
		c->cur = NULL;
		c->state = C_READY;
		c->step = S_EXEC;
		c->slot = -1;
		if (r->kind == R_BEGIN) {
			c->txn = NULL;
			r->txn->conn = NULL;
		}
		cause = pq_cause("could not send query: ",
		    PQerrorMessage(c->pg));
		req_complete(db, r, NULL, cause);
		return;
	}
	switch (PQflush(c->pg)) {
	case -1:
		conn_lost(c, PQerrorMessage(c->pg));
		break;
	case 1:
		c->flushing = 1;
		conn_watch(c, EV_READ | EV_WRITE);
		break;
	default:
		conn_watch(c, EV_READ);
		break;
	}
}

static void
conn_send(struct db_conn *c, struct db_req *r)
{
	if (r->kind == R_BEGIN) {
		c->txn = r->txn;
		r->txn->conn = c;
	}
	c->cur = r;
	c->state = C_BUSY;
	c->step = S_EXEC;
	c->slot = -1;
	c->retried = 0;
	if (r->prepared && c->stmts != NULL && c->txn == NULL)
		stmt_plan(c, r);
	conn_issue(c);
}

/*
 * Send the statements queued at the head of a transaction in one libpq
 * pipeline (one Sync at the end), without waiting for each result: the
 * first in c->cur, the rest in c->pipe, answered in order by conn_pipe_io.
 * A statement that fails aborts the server's transaction; the statements
 * after it come back PGRES_PIPELINE_ABORTED and are re-sent one at a time
 * once the pipeline is over, so that they fail as they would have
 * without pipelining (25P02).
 */
static void
conn_pipeline(struct db_conn *c)
{
	struct db_txn	*t = c->txn;
	struct db_req	*r;
	int		 n = 0;

	if (!PQenterPipelineMode(c->pg)) {
		/* Not possible now: fall back to one at a time. */
		t->failed = 1;
		return;
	}
	c->piping = 1;
	c->aborted = 0;
	c->state = C_BUSY;
	c->step = S_EXEC;
	c->slot = -1;
	c->retried = 0;
	while ((r = TAILQ_FIRST(&t->reqs)) != NULL && r->kind == R_QUERY &&
	    n < DB_PIPE_MAX) {
		TAILQ_REMOVE(&t->reqs, r, entry);
		if (c->cur == NULL)
			c->cur = r;
		else
			TAILQ_INSERT_TAIL(&c->pipe, r, entry);
		n++;
		if (!PQsendQueryParams(c->pg, r->sql, r->nparams, NULL,
		    (const char *const *)r->values, r->lengths, r->formats,
		    r->resfmt)) {
			conn_lost(c, PQerrorMessage(c->pg));
			return;
		}
	}
	if (!PQpipelineSync(c->pg)) {
		conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	log_debug("db conn=%d pipeline of %d statements", c->idx, n);
	switch (PQflush(c->pg)) {
	case -1:
		conn_lost(c, PQerrorMessage(c->pg));
		break;
	case 1:
		c->flushing = 1;
		conn_watch(c, EV_READ | EV_WRITE);
		break;
	default:
		conn_watch(c, EV_READ);
		break;
	}
}

/* Hand waiting work to every idle connection. */
static void
db_kick(struct db *db)
{
	struct db_conn	*c;
	struct db_req	*r;
	int		 i;

	for (i = 0; i < db->nconn; i++) {
		c = &db->conns[i];
		while (c->state == C_READY) {
			if (c->txn != NULL) {
				if ((r = TAILQ_FIRST(&c->txn->reqs)) == NULL)
					break;
				if (!c->txn->failed && r->kind == R_QUERY &&
				    TAILQ_NEXT(r, entry) != NULL &&
				    TAILQ_NEXT(r, entry)->kind == R_QUERY) {
					conn_pipeline(c);
					continue;
				}
				TAILQ_REMOVE(&c->txn->reqs, r, entry);
			} else {
				if ((r = TAILQ_FIRST(&db->queue)) == NULL)
					break;
				TAILQ_REMOVE(&db->queue, r, entry);
				db->nqueued--;
			}
			conn_send(c, r);
		}
	}
}

static void
conn_step_clear(struct db_conn *c)
{
	PQclear(c->res);
	c->res = NULL;
	free(c->err);
	c->err = NULL;
}

/*
 * After the results of a step of a named statement: send the next step
 * and return 1, or return 0 for conn_finish to deliver the result.
 * A failed PREPARE empties its slot (the request fails with the error an
 * unnamed run would give); an execution the server refuses because it
 * no longer knows the name (26000: DEALLOCATE by someone else) or the
 * plan is obsolete (0A000: result type changed) re-prepares once.  The
 * retry is safe: outside a transaction a failed statement left nothing.
 */
static int
conn_next_step(struct db_conn *c)
{
	struct db_stmt	*st;
	const char	*state = NULL;

	if (c->slot < 0)
		return (0);
	st = &c->stmts[c->slot];
	if (c->err != NULL && c->res != NULL)
		state = PQresultErrorField(c->res, PG_DIAG_SQLSTATE);
	switch (c->step) {
	case S_DEALLOC:
		/* Whatever the outcome (26000: already gone), prepare. */
		c->step = S_PREPARE;
		break;
	case S_PREPARE:
		if (c->err == NULL) {
			st->state = ST_READY;
			c->step = S_EXEC;
			break;
		}
		if (state != NULL && strcmp(state, "42P05") == 0 &&
		    !c->retried) {
			/* The server has the name already: drop, retry. */
			c->retried = 1;
			c->dealloc = st->hash;
			c->step = S_DEALLOC;
			break;
		}
		stmt_clear(st);
		c->slot = -1;
		c->step = S_EXEC;
		return (0);
	default:
		if (c->err == NULL || state == NULL || c->retried ||
		    (strcmp(state, "26000") != 0 &&
		    strcmp(state, "0A000") != 0))
			return (0);
		c->retried = 1;
		st->state = ST_PREPARING;
		if (strcmp(state, "26000") == 0)
			c->step = S_PREPARE;
		else {
			c->dealloc = st->hash;
			c->step = S_DEALLOC;
		}
		break;
	}
	conn_step_clear(c);
	conn_issue(c);
	/* Not sent (the request failed) but still up: serve the queue. */
	if (c->state == C_READY)
		db_kick(c->db);
	return (1);
}

static void
conn_finish(struct db_conn *c)
{
	struct db	*db = c->db;
	struct db_req	*r = c->cur;
	struct db_txn	*t;
	PGresult	*res;
	char		*err;

	if (c->slot >= 0) {
		/* A DEALLOCATE or PREPARE step's result is not the answer. */
		if (c->step != S_EXEC && PQstatus(c->pg) == CONNECTION_BAD) {
			conn_lost(c, PQerrorMessage(c->pg));
			return;
		}
		if (conn_next_step(c))
			return;
	}
	res = c->res;
	err = c->err;
	c->slot = -1;
	c->step = S_EXEC;
	if (res != NULL && err == NULL &&
	    (strcmp(PQcmdStatus(res), "DISCARD ALL") == 0 ||
	    strcmp(PQcmdStatus(res), "DEALLOCATE ALL") == 0))
		stmts_forget(c);
	c->cur = NULL;
	c->res = NULL;
	c->err = NULL;
	c->state = C_READY;
	if (res == NULL && err == NULL)
		err = xstrdup("no result");
	if (r->kind == R_COMMIT && err == NULL &&
	    strcmp(PQcmdStatus(res), "ROLLBACK") == 0)
		err = xstrdup("transaction aborted: rolled back");
	if ((r->kind == R_COMMIT || r->kind == R_ROLLBACK ||
	    (r->kind == R_BEGIN && err != NULL)) && (t = r->txn) != NULL) {
		c->txn = NULL;
		t->conn = NULL;
	}
	req_complete(db, r, res, err);
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	/* A pool statement must not leave a transaction open (BEGIN sent
	 * through db_query): drop the connection rather than leak it. */
	if (c->txn == NULL && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
		log_warnx("db conn=%d left inside a transaction, reconnecting",
		    c->idx);
		conn_lost(c, "statement left a transaction open");
		return;
	}
	conn_watch(c, EV_READ);
	db_kick(db);
}

static void
conn_collect(struct db_conn *c, PGresult *res)
{
	switch (PQresultStatus(res)) {
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
	case PGRES_EMPTY_QUERY:
		if (c->err == NULL) {
			PQclear(c->res);
			c->res = res;
		} else
			PQclear(res);
		break;
	default:
		if (c->err == NULL) {
			c->err = res_cause(res);
			PQclear(c->res);
			c->res = res;
		} else
			PQclear(res);
		break;
	}
}

/* The end of one pipelined statement's results: deliver or re-queue. */
static void
conn_pipe_next(struct db_conn *c)
{
	struct db_req	*r = c->cur;
	PGresult	*res = c->res;
	char		*err = c->err;

	c->res = NULL;
	c->err = NULL;
	c->cur = TAILQ_FIRST(&c->pipe);
	if (c->cur != NULL)
		TAILQ_REMOVE(&c->pipe, c->cur, entry);
	if (c->aborted) {
		c->aborted = 0;
		PQclear(res);
		free(err);
		TAILQ_INSERT_TAIL(&c->redo, r, entry);
		return;
	}
	if (res == NULL && err == NULL)
		err = xstrdup("no result");
	if (err != NULL && c->txn != NULL)
		c->txn->failed = 1;
	req_complete(c->db, r, res, err);
}

/* Results of a pipeline (see conn_pipeline). */
static void
conn_pipe_io(struct db_conn *c)
{
	struct db	*db = c->db;
	struct db_req	*r;
	PGresult	*res;

	while (!PQisBusy(c->pg)) {
		if ((res = PQgetResult(c->pg)) == NULL) {
			if (c->cur == NULL)
				break;
			conn_pipe_next(c);
			continue;
		}
		switch (PQresultStatus(res)) {
		case PGRES_PIPELINE_SYNC:
			PQclear(res);
			if (c->cur != NULL) {
				/* Cannot happen: results missing. */
				conn_lost(c, "pipeline out of step");
				return;
			}
			if (!PQexitPipelineMode(c->pg)) {
				conn_lost(c, PQerrorMessage(c->pg));
				return;
			}
			c->piping = 0;
			c->state = C_READY;
			/* Aborted statements go back first, in order. */
			while ((r = TAILQ_LAST(&c->redo, db_reqs)) != NULL) {
				TAILQ_REMOVE(&c->redo, r, entry);
				if (c->txn != NULL)
					TAILQ_INSERT_HEAD(&c->txn->reqs, r,
					    entry);
				else
					req_fail(db, r, "transaction aborted");
			}
			if (PQstatus(c->pg) == CONNECTION_BAD) {
				conn_lost(c, PQerrorMessage(c->pg));
				return;
			}
			conn_watch(c, EV_READ);
			db_kick(db);
			return;
		case PGRES_PIPELINE_ABORTED:
			PQclear(res);
			c->aborted = 1;
			break;
		case PGRES_COPY_IN:
		case PGRES_COPY_OUT:
		case PGRES_COPY_BOTH:
			PQclear(res);
			conn_lost(c, "COPY is not supported");
			return;
		default:
			if (c->cur == NULL) {
				PQclear(res);
				conn_lost(c, "pipeline out of step");
				return;
			}
			conn_collect(c, res);
			break;
		}
	}
	if (PQstatus(c->pg) == CONNECTION_BAD)
		conn_lost(c, PQerrorMessage(c->pg));
}

static void
conn_io(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn	*c = arg;
	PGresult	*res;
	PGnotify	*n;

	(void)fd;
	switch (c->state) {
	case C_CONNECTING:
		conn_poll(c);
		return;
	case C_READY:
		if (!PQconsumeInput(c->pg) || PQstatus(c->pg) == CONNECTION_BAD) {
			conn_lost(c, PQerrorMessage(c->pg));
			return;
		}
		while ((n = PQnotifies(c->pg)) != NULL)
			PQfreemem(n);
		return;
	case C_BUSY:
		break;
	default:
		conn_watch(c, 0);
		return;
	}
	if ((what & EV_READ) && !PQconsumeInput(c->pg)) {
		conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	if (c->flushing) {
		switch (PQflush(c->pg)) {
		case -1:
			conn_lost(c, PQerrorMessage(c->pg));
			return;
		case 0:
			c->flushing = 0;
			conn_watch(c, EV_READ);
			break;
		default:
			break;
		}
	}
	if (c->piping) {
		conn_pipe_io(c);
		return;
	}
	while (!PQisBusy(c->pg)) {
		if ((res = PQgetResult(c->pg)) == NULL) {
			conn_finish(c);
			return;
		}
		switch (PQresultStatus(res)) {
		case PGRES_COPY_IN:
		case PGRES_COPY_OUT:
		case PGRES_COPY_BOTH:
			/* COPY is not supported here: drop the connection. */
			PQclear(res);
			conn_lost(c, "COPY is not supported");
			return;
		default:
			break;
		}
		conn_collect(c, res);
	}
	if (PQstatus(c->pg) == CONNECTION_BAD)
		conn_lost(c, PQerrorMessage(c->pg));
}

static void
params_free(char **keys, char **vals)
{
	size_t	i;

	if (keys == NULL)
		return;
	for (i = 0; keys[i] != NULL; i++) {
		free(keys[i]);
		free(vals[i]);
	}
	free(keys);
	free(vals);
}

/*
 * The conninfo as keyword/value arrays with " -c statement_timeout=N"
 * appended to its options (PQconnectStartParams, expand_dbname 0).
 */
static int
params_build(struct db *db, const char *conninfo, int timeout_ms,
    char **cause)
{
	PQconninfoOption	*opts, *o;
	char			*err = NULL;
	size_t			 n = 0, i = 0;
	int			 have_options = 0;

	if ((opts = PQconninfoParse(conninfo, &err)) == NULL) {
		/* err may quote the string: a password must not reach logs. */
		*cause = xstrdup("malformed connection string");
		PQfreemem(err);
		return (-1);
	}
	for (o = opts; o->keyword != NULL; o++)
		if (o->val != NULL)
			n++;
	db->keys = xcalloc(n + 2, sizeof(*db->keys));
	db->vals = xcalloc(n + 2, sizeof(*db->vals));
	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL)
			continue;
		db->keys[i] = xstrdup(o->keyword);
		if (strcmp(o->keyword, "options") == 0) {
			have_options = 1;
			xasprintf(&db->vals[i], "%s -c statement_timeout=%d",
			    o->val, timeout_ms);
		} else
			db->vals[i] = xstrdup(o->val);
		i++;
	}
	if (!have_options) {
		db->keys[i] = xstrdup("options");
		xasprintf(&db->vals[i], "-c statement_timeout=%d", timeout_ms);
	}
	PQconninfoFree(opts);
	return (0);
}

struct db *
db_new(struct event_base *base, const struct db_settings *s, char **cause)
{
	struct db	*db;
	struct db_conn	*c;
	int		 i, n;

	n = s->pool_size == 0 ? 4 : s->pool_size;
	if (n < 1 || n > DB_MAX_POOL) {
		xasprintf(cause, "pool size %d out of range 1..%d", n,
		    DB_MAX_POOL);
		return (NULL);
	}
	if (s->conninfo == NULL) {
		*cause = xstrdup("no connection string");
		return (NULL);
	}
	if (s->max_queue < 0 || s->connect_timeout_ms < 0 ||
	    s->backoff_max_ms < 0 || s->statement_timeout_ms < 0) {
		*cause = xstrdup("negative limit");
		return (NULL);
	}
	if (s->prepared_max > DB_PREPARED_MAX) {
		xasprintf(cause, "prepared statements %d above %d",
		    s->prepared_max, DB_PREPARED_MAX);
		return (NULL);
	}
	db = xcalloc(1, sizeof(*db));
	db->base = base;
	db->conninfo = xstrdup(s->conninfo);
	if (s->statement_timeout_ms > 0 && params_build(db, s->conninfo,
	    s->statement_timeout_ms, cause) == -1) {
		free(db->conninfo);
		free(db);
		return (NULL);
	}
	db->nconn = n;
	db->max_queue = s->max_queue ? s->max_queue : 10000;
	db->connect_timeout_ms = s->connect_timeout_ms ?
	    s->connect_timeout_ms : 10000;
	db->backoff_max_ms = s->backoff_max_ms ? s->backoff_max_ms : 5000;
	if (s->prepared_max < 0)
		db->nstmts = 0;
	else
		db->nstmts = s->prepared_max ? s->prepared_max :
		    DB_PREPARED_DEFAULT;
	if (db->backoff_max_ms < DB_BACKOFF_MIN_MS)
		db->backoff_max_ms = DB_BACKOFF_MIN_MS;
	TAILQ_INIT(&db->queue);
	TAILQ_INIT(&db->done);
	LIST_INIT(&db->txns);
	db->done_ev = event_new(base, -1, 0, done_cb, db);
	if (db->done_ev == NULL)
		fatalx("event_new failed");
	db->conns = xcalloc(n, sizeof(*db->conns));
	for (i = 0; i < n; i++) {
		c = &db->conns[i];
		c->db = db;
		c->idx = i;
		c->fd = -1;
		c->slot = -1;
		TAILQ_INIT(&c->pipe);
		TAILQ_INIT(&c->redo);
		if (db->nstmts > 0)
			c->stmts = xcalloc(db->nstmts, sizeof(*c->stmts));
		evtimer_assign(&c->timer, base, conn_timer, c);
	}
	for (i = 0; i < n; i++)
		conn_start(&db->conns[i]);
	return (db);
}

void
db_free(struct db *db)
{
	struct db_conn	*c;
	struct db_txn	*t;
	int		 i;

	if (db == NULL || db->closing)
		return;
	db->closing = 1;
	for (i = 0; i < db->nconn; i++) {
		c = &db->conns[i];
		pipe_fail_redo(c, "database pool closed");
		if (c->cur != NULL) {
			req_fail(db, c->cur, "database pool closed");
			c->cur = NULL;
		}
		pipe_fail_rest(c, "database pool closed");
		conn_close(c);
	}
	LIST_FOREACH(t, &db->txns, entry)
		txn_kill(t, "database pool closed");
	db_fail_queue(db, "database pool closed");
	if (db->dispatching)
		return;		/* done_cb finishes the job */
	while (!TAILQ_EMPTY(&db->done))
		db_dispatch(db);
	db_destroy(db);
}

void
db_stats(struct db *db, struct db_stats *st)
{
	int	i, j;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < db->nconn; i++) {
		switch (db->conns[i].state) {
		case C_BUSY:
			st->busy++;
			/* FALLTHROUGH */
		case C_READY:
			st->connected++;
			break;
		default:
			break;
		}
		if (db->conns[i].txn != NULL)
			st->reserved++;
	}
	st->queued = db->nqueued;
	st->outstanding = db->outstanding;
	st->reconnects = db->reconnects;
	st->prepares = db->prepares;
	st->evictions = db->evictions;
	for (i = 0; i < db->nconn; i++)
		for (j = 0; j < db->nstmts; j++)
			if (db->conns[i].stmts[j].state == ST_READY)
				st->prepared++;
}

static void
db_submit(struct db *db, struct db_req *r)
{
	db->outstanding++;
	if (db->closing)
		req_fail(db, r, "database pool closed");
	else if (db->nqueued >= db->max_queue)
		req_fail(db, r, "database queue full (%d waiting)",
		    db->nqueued);
	else if (!db_alive(db))
		req_fail(db, r, "database unavailable: %s",
		    db->last_error != NULL ? db->last_error : "no connection");
	else {
		TAILQ_INSERT_TAIL(&db->queue, r, entry);
		db->nqueued++;
		db_kick(db);
	}
}

void
db_query(struct db *db, const char *sql, int n, const char *const *values,
    const int *lengths, const int *formats, int binary_result, db_cb cb,
    void *arg)
{
	struct db_req	*r;

	r = req_new(R_QUERY, sql, n, values, lengths, formats, binary_result);
	r->cb = cb;
	r->arg = arg;
	db_submit(db, r);
}

void
db_query_prepared(struct db *db, const char *sql, int n,
    const char *const *values, const int *lengths, const int *formats,
    int binary_result, db_cb cb, void *arg)
{
	struct db_req	*r;

	r = req_new(R_QUERY, sql, n, values, lengths, formats, binary_result);
	r->prepared = 1;
	r->cb = cb;
	r->arg = arg;
	db_submit(db, r);
}

void
db_txn_begin(struct db *db, db_txn_cb cb, void *arg)
{
	struct db_txn	*t;
	struct db_req	*r;

	t = xcalloc(1, sizeof(*t));
	t->db = db;
	TAILQ_INIT(&t->reqs);
	LIST_INSERT_HEAD(&db->txns, t, entry);
	r = req_new(R_BEGIN, "BEGIN", 0, NULL, NULL, NULL, 0);
	r->txn = t;
	r->tcb = cb;
	r->arg = arg;
	db_submit(db, r);
}

static void
txn_submit(struct db_txn *t, struct db_req *r)
{
	struct db	*db = t->db;

	db->outstanding++;
	if (db->closing)
		req_fail(db, r, "database pool closed");
	else if (t->ended)
		req_fail(db, r, "transaction already ended");
	else if (t->dead != NULL)
		req_fail(db, r, "%s", t->dead);
	else {
		TAILQ_INSERT_TAIL(&t->reqs, r, entry);
		if (t->conn != NULL && t->conn->state == C_READY)
			db_kick(db);
	}
}

void
db_txn_query(struct db_txn *t, const char *sql, int n,
    const char *const *values, const int *lengths, const int *formats,
    int binary_result, db_cb cb, void *arg)
{
	struct db_req	*r;

	r = req_new(R_QUERY, sql, n, values, lengths, formats, binary_result);
	r->cb = cb;
	r->arg = arg;
	txn_submit(t, r);
}

static void
txn_end(struct db_txn *t, enum req_kind kind, db_cb cb, void *arg)
{
	struct db_req	*r;

	if (t->ended)
		fatalx("db: transaction ended twice");
	r = req_new(kind, kind == R_COMMIT ? "COMMIT" : "ROLLBACK", 0, NULL,
	    NULL, NULL, 0);
	r->txn = t;
	r->cb = cb;
	r->arg = arg;
	txn_submit(t, r);
	t->ended = 1;
}

void
db_txn_commit(struct db_txn *t, db_cb cb, void *arg)
{
	txn_end(t, R_COMMIT, cb, arg);
}

void
db_txn_rollback(struct db_txn *t, db_cb cb, void *arg)
{
	txn_end(t, R_ROLLBACK, cb, arg);
}
