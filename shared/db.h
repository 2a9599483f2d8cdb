/*
 * db.h: asynchronous PostgreSQL on the daemon's event_base (libpq async API).
 *
 * A pool of connections opened with PQconnectStart/PQconnectPoll; queries
 * sent with PQsendQueryParams, or as named prepared statements cached per
 * connection (db_query_prepared); parameters are always out of line, never
 * spliced into the SQL; results delivered to a callback.  Never blocks:
 * nothing here calls PQexec or waits on a socket.
 *
 * Invariants (see docs/design/db.md):
 *  - every db_query, db_txn_begin, db_txn_query, db_txn_commit and
 *    db_txn_rollback runs its callback exactly once, always from the event
 *    loop (never from inside the call that queued it), or from db_free;
 *  - the callback gets (res, NULL) on success (PGRES_TUPLES_OK or
 *    PGRES_COMMAND_OK) and (res or NULL, cause) on failure: res is the
 *    server's error result when there is one (read the SQLSTATE with
 *    PQresultErrorField(res, PG_DIAG_SQLSTATE)), NULL when the connection
 *    was lost, the queue was full, no connection could be opened or the pool
 *    was closed.  A server error's cause is "SEVERITY SQLSTATE: primary
 *    message", never the DETAIL (it may quote row values, i.e. patient
 *    data): log causes, not PQresultErrorMessage.  res and cause belong
 *    to db and are freed when the callback returns: do not PQclear them;
 *  - the SQL text and parameter values are copied: the caller's buffers may
 *    go away as soon as the call returns.
 */
#ifndef ISN_DB_H
#define ISN_DB_H

#include <libpq-fe.h>

struct event_base;
struct db;
struct db_txn;

struct db_settings {
	const char	*conninfo;	/* libpq connection string */
	int		 pool_size;	/* connections, 1..256 (0: 4) */
	int		 max_queue;	/* waiting requests (0: 10000) */
	int		 connect_timeout_ms; /* one attempt (0: 10000) */
	int		 backoff_max_ms; /* reconnect backoff cap (0: 5000) */
	/*
	 * Server-side statement_timeout of every pool connection, in ms
	 * (0: the server's default): added to the conninfo's `options`
	 * (-c statement_timeout=N) at each connect, after any options the
	 * conninfo gives.  A statement that runs longer fails with SQLSTATE
	 * 57014 (query_canceled); in a transaction, the transaction aborts.
	 */
	int		 statement_timeout_ms;
	/*
	 * Named prepared statements kept per connection for
	 * db_query_prepared (0: 64, at most 1024; -1: none, every statement
	 * runs unnamed).  Beyond it the least recently used one is
	 * DEALLOCATEd.
	 */
	int		 prepared_max;
};

struct db_stats {
	int		 connected;	/* ready or busy connections */
	int		 busy;		/* running a statement */
	int		 reserved;	/* held by an open transaction */
	int		 queued;	/* requests waiting for a connection */
	int		 outstanding;	/* requests whose callback has not run */
	unsigned long long reconnects;	/* connections re-opened after a loss */
	int		 prepared;	/* named statements ready, all conns */
	unsigned long long prepares;	/* PREPAREs sent */
	unsigned long long evictions;	/* statements evicted (LRU) */
};

typedef void (*db_cb)(PGresult *res, const char *cause, void *arg);
/* txn is NULL (and cause set) when the transaction could not begin. */
typedef void (*db_txn_cb)(struct db_txn *txn, const char *cause, void *arg);

/*
 * Graceful stop: stop submitting new work, run the loop until
 * db_stats().outstanding is 0 (bounded by a drain timeout), then db_free.
 */
/* Starts connecting at once; NULL and *cause (malloc'd) on bad settings. */
struct db	*db_new(struct event_base *, const struct db_settings *,
		    char **cause);
/*
 * Closes the pool: every request not yet completed fails with cause
 * "database pool closed" (callbacks run before db_free returns, or at the
 * end of the current callback round when called from a db callback) and
 * the connections are closed (the server rolls back open transactions).
 * Open db_txn handles become invalid.
 */
void		 db_free(struct db *);
void		 db_stats(struct db *, struct db_stats *);

/*
 * One statement.  values[i] NULL is SQL NULL; lengths and formats may be
 * NULL (all text); formats[i] 1 marks a binary parameter whose length is
 * lengths[i].  binary_result 1 asks for binary result columns.
 */
void		 db_query(struct db *, const char *sql, int nparams,
		    const char *const *values, const int *lengths,
		    const int *formats, int binary_result, db_cb, void *arg);

/*
 * The same, as a named prepared statement of the connection that runs it:
 * the first run of a text on a connection prepares it (one more round
 * trip, once), later runs skip parsing and, once PostgreSQL settles on a
 * generic plan (after 5 runs, when it costs no more than the custom
 * ones), planning.  For statements run often with the same text and
 * changing parameters; never splice values into such a text, or every
 * call prepares a new statement and evicts a useful one.  Parameter types
 * are inferred by the server as for db_query.  Outcome and callback as
 * db_query; a statement that fails to prepare fails with the server's
 * error and is not kept.  Not for transactions (db_txn_query is unnamed).
 */
void		 db_query_prepared(struct db *, const char *sql, int nparams,
		    const char *const *values, const int *lengths,
		    const int *formats, int binary_result, db_cb, void *arg);

/*
 * Transactions: BEGIN on a connection reserved until db_txn_commit or
 * db_txn_rollback, which must be called exactly once per txn (also after
 * an error); the handle is freed after that call's callback.  Statements
 * of one transaction run in order; those queued together are sent together
 * (libpq pipeline mode) without waiting for each result, and their
 * callbacks still run one per statement, in order.  After a statement fails
 * the server aborts the transaction: commit then fails with a cause.  If
 * the connection is lost, the statements still waiting and the commit fail
 * with a cause.  Avoid waiting on a pool query from inside a transaction:
 * pool_size open transactions doing so would starve the pool.
 */
void		 db_txn_begin(struct db *, db_txn_cb, void *arg);
void		 db_txn_query(struct db_txn *, const char *sql, int nparams,
		    const char *const *values, const int *lengths,
		    const int *formats, int binary_result, db_cb, void *arg);
void		 db_txn_commit(struct db_txn *, db_cb, void *arg);
void		 db_txn_rollback(struct db_txn *, db_cb, void *arg);

#endif
