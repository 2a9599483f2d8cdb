/*
 * iti41.c: ITI-41 Provide and Register into the clearinghouse's repository
 * and registry, and ITI-42 Register (metadata only, no blobs) into the
 * registry, with RPLC/APND/XFRM checks (docs/design/iti41.md).
 *
 * Life of a request: head (Content-Type picks MTOM or plain SOAP) -> body
 * chunks (attachments stream into blobs, the envelope into a bounded
 * buffer) -> done (SOAP checks, metadata parse and validation, inline
 * documents into blobs, UUIDs) -> one db transaction (patient, duplicate
 * uniqueIds, then every insert) -> commit -> RegistryResponse. On any
 * failure the transaction is rolled back and every blob this request wrote
 * is removed. The state outlives the httpd request when the peer goes away
 * while the transaction runs (fini before the db callbacks): it is freed
 * by whichever of the two finishes last.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libpq-fe.h>

#include "audit.h"
#include "blob.h"
#include "blobq.h"
#include "db.h"
#include "dbuf.h"
#include "httpd.h"
#include "iti41.h"
#include "log.h"
#include "mtom.h"
#include "soap.h"
#include "xdsmeta.h"
#include "xdsmsg.h"
#include "xdsvalid.h"
#include "xmalloc.h"
#include "xml.h"

#define ITI41_MAX_SOAP		(64 * 1024 * 1024)
#define ITI41_RETENTION		(30L * 24 * 3600)
#define ITI41_MAX_RESPONSE	(16 * 1024 * 1024)
#define ITI41_UNKNOWN_PATIENT	"XDSUnknownPatientId"
#define ITI41_NONIDENTICAL	"XDSNonIdenticalHash"
#define ITI41_REGISTRY_ERROR	"XDSRegistryError"
#define ITI41_REPO_ERROR	"XDSRepositoryError"
#define ITI41_DEPRECATED	"XDSRegistryDeprecatedDocumentError"
#define ITI41_RPLC	"urn:ihe:iti:2007:AssociationType:RPLC"
#define ITI41_XFRM_RPLC	"urn:ihe:iti:2007:AssociationType:XFRM_RPLC"
/* merged_into steps followed to a target's surviving patient (query.c). */
#define ITI41_MERGE_DEPTH	16

/* A blob this request wrote (an attachment or an inline document). */
struct iti41_blob {
	struct blob_writer	*w;		/* open while streaming */
	char			 id[BLOB_ID_LEN + 1];	/* "" until committed */
	struct blob_info	 info;
	int			 used;		/* named by a stored row */
	uint8_t			*chunk;		/* bytes for the writer thread */
	size_t			 clen;
};

/*
 * With ctx->writer, a blob's file is created, written, hashed and
 * finished on that thread, in jobs of ITI41_CHUNK bytes: the loop only
 * decrypts and parses (bench.md). At most ITI41_QUEUE_HI bytes wait for
 * the writer before the body pauses; it resumes below ITI41_QUEUE_LO.
 * Nothing of the blobs (b->w, b->id, the batch) is touched by the loop
 * while jobs are pending: st->wpending counts them, and every path that
 * drops, commits or frees waits for it to reach 0.
 */
#define ITI41_CHUNK		(256 * 1024)
#define ITI41_QUEUE_HI		(8 * 1024 * 1024)
#define ITI41_QUEUE_LO		(2 * 1024 * 1024)

enum iti41_wop { ITI41_W_BEGIN, ITI41_W_DATA, ITI41_W_END };

struct iti41_wjob {
	struct iti41_state	*st;
	struct iti41_blob	*b;
	enum iti41_wop		 op;
	uint8_t			*data;
	size_t			 len;
};

struct iti41_state {
	struct iti41_ctx	*ctx;
	struct httpd_req	*req;		/* NULL once fini ran */
	enum soap_txn		 action;	/* ITI41, or ITI42 (no blobs) */
	const char		*path;		/* the service path */
	int			 audited;
	int			 in_txn;	/* db callbacks outstanding */
	int			 mtom;
	struct mtom_parser	*mp;
	struct dbuf		 soap;		/* plain SOAP body */
	char			*body_err;	/* why the body was refused */
	struct iti41_blob	**blobs;
	size_t			 nblobs;
	struct blob_batch	*batch;		/* the blobs' durable commit */
	size_t			 wpending;	/* writer jobs not yet done */
	size_t			 wqueued;	/* and their bytes */
	char			*werr;		/* the writer's first failure */
	int			 wpaused;	/* the body waits for the writer */
	int			 wdone;		/* the body ended: finish on drain */
	char			*peer;		/* TLS identity, or NULL */
	char			*addr;		/* the peer's IP (audit) */

	struct soap_msg		 msg;
	struct xdsmsg_pnr	 pnr;
	struct xds_submission	*sub;
	struct xdsmsg_errors	 errs;
	struct iti41_blob	**pb;		/* per pnr.docs entry */
	struct iti41_blob	**docblob;	/* per sub->docs entry (ITI-41) */
	char			**dup_of;	/* per doc: existing entryUUID */
	char			**lid;		/* per doc: the replaced lineage */
	int			*ver;		/* per doc: its version, 0: 1 */
	char			**deprecate;	/* per assoc: replaced entryUUID */
	char			**fmem;		/* replaced entryUUID, folder, ... */
	size_t			 nfmem;		/* pairs in fmem */
	char			*pid;		/* CX.1 */
	char			*oid;		/* CX.4.2 */
	char			 patient_row[24];
	int			 ss_exists;
	int			 db_failed;
	char			*db_cause;
	struct db_txn		*txn;
	void			*dstate;	/* the delegate's request */
	int			 delegated;
};

static void	iti41_state_free(struct iti41_state *);

/* ------------------------------------------------------------------ */
/* Blobs. */

static void	iti41_after_body(struct iti41_state *);
static void	iti41_blobs_drop(struct iti41_state *, int);

/*
 * Finish a blob: id, size and SHA-1 known, the file still in tmp/ without
 * fsync; iti41_blobs_sync makes the whole request's set durable at once.
 * On the loop, or on the writer thread.
 */
static int
iti41_blob_add(struct blob_batch *batch, struct iti41_blob *b, char **cause)
{
	struct blob_writer	*w = b->w;

	b->w = NULL;
	return (blob_batch_add(batch, w, b->id, &b->info, cause));
}

/* The writer thread's side of a job (blobq_work_cb). */
static int
iti41_wwork(void *arg, char **cause)
{
	struct iti41_wjob	*j = arg;
	struct iti41_blob	*b = j->b;

	/* Only this thread touches b->w: a failed begin leaves it NULL. */
	if (j->op != ITI41_W_BEGIN && b->w == NULL)
		return (0);	/* failed already: the loop knows */
	switch (j->op) {
	case ITI41_W_BEGIN:
		b->w = blob_batch_begin(j->st->batch, cause);
		return (b->w == NULL ? -1 : 0);
	case ITI41_W_DATA:
		return (blob_write(b->w, j->data, j->len, cause));
	case ITI41_W_END:
		return (iti41_blob_add(j->st->batch, b, cause));
	}
	return (0);
}

/* Back on the loop: count it off, resume the body, finish on the drain. */
static void
iti41_wdone(int rc, const char *cause, void *arg)
{
	struct iti41_wjob	*j = arg;
	struct iti41_state	*st = j->st;
	struct blobq		*q;

	st->wpending--;
	st->wqueued -= j->len;
	if (rc != BLOBQ_DONE && st->werr == NULL)
		st->werr = xstrdup(cause != NULL ? cause : "the blob writer "
		    "stopped");
	/* Its pages start for the disk while the next parts stream in. */
	if (rc == BLOBQ_DONE && j->op == ITI41_W_END && j->b->id[0] != '\0' &&
	    (q = blobq_of(st->ctx->blobs)) != NULL)
		blobq_writeback(q, st->ctx->blobs, j->b->id);
	free(j->data);
	free(j);
	if (st->wpaused && st->wqueued < ITI41_QUEUE_LO && st->req != NULL) {
		st->wpaused = 0;
		httpd_req_resume(st->req);
	}
	if (st->wpending > 0)
		return;
	if (st->req == NULL) {		/* the request went away meanwhile */
		iti41_blobs_drop(st, 0);
		iti41_state_free(st);
	} else if (st->wdone) {
		st->wdone = 0;
		iti41_after_body(st);
	}
}

/* Queue one job; the body pauses while too much waits. */
static void
iti41_wqueue(struct iti41_state *st, struct iti41_blob *b, enum iti41_wop op,
    uint8_t *data, size_t len)
{
	struct iti41_wjob	*j;

	j = xcalloc(1, sizeof(*j));
	j->st = st;
	j->b = b;
	j->op = op;
	j->data = data;
	j->len = len;
	st->wpending++;
	st->wqueued += len;
	blobq_run(st->ctx->writer, iti41_wwork, j, iti41_wdone, j);
	if (st->wqueued > ITI41_QUEUE_HI && !st->wpaused && st->req != NULL) {
		st->wpaused = 1;
		httpd_req_pause(st->req);
	}
}

/* The chunk filled so far goes to the writer. */
static void
iti41_wflush(struct iti41_state *st, struct iti41_blob *b)
{
	if (b->clen == 0)
		return;
	iti41_wqueue(st, b, ITI41_W_DATA, b->chunk, b->clen);
	b->chunk = NULL;
	b->clen = 0;
}

/* A new blob, written on the writer thread when async (else here). */
static struct iti41_blob *
iti41_blob_new(struct iti41_state *st, int async, char **cause)
{
	struct iti41_blob	*b;

	b = xcalloc(1, sizeof(*b));
	if (st->batch == NULL &&
	    (st->batch = blob_batch_new(st->ctx->blobs, cause)) == NULL) {
		free(b);
		return (NULL);
	}
	if (async)
		iti41_wqueue(st, b, ITI41_W_BEGIN, NULL, 0);
	else if ((b->w = blob_batch_begin(st->batch, cause)) == NULL) {
		free(b);
		return (NULL);
	}
	st->blobs = xreallocarray(st->blobs, st->nblobs + 1,
	    sizeof(*st->blobs));
	st->blobs[st->nblobs++] = b;
	return (b);
}


/* Remove every blob of the request (keep: those stored rows name). */
static void
iti41_blobs_drop(struct iti41_state *st, int keep_used)
{
	char	*cause = NULL;
	size_t	 i;

	for (i = 0; i < st->nblobs; i++) {
		struct iti41_blob *b = st->blobs[i];

		if (b->w != NULL) {
			blob_write_abort(b->w);
			b->w = NULL;
		}
		free(b->chunk);
		b->chunk = NULL;
		b->clen = 0;
		if (b->id[0] != '\0' && !(keep_used && b->used)) {
			if (blob_remove(st->ctx->blobs, b->id, &cause) == -1) {
				log_warnx("iti41: blob %s: %s", b->id, cause);
				free(cause);
				cause = NULL;
			}
			b->id[0] = '\0';
		}
	}
	blob_batch_free(st->batch);	/* temp files never committed */
	st->batch = NULL;
}

/* ------------------------------------------------------------------ */
/* MTOM attachment callbacks: each part into its own blob. */

static int
iti41_part_begin(const struct mtom_part *p, void **handle, void *arg,
    char **cause)
{
	struct iti41_state	*st = arg;

	(void)p;
	if ((*handle = iti41_blob_new(st, 1, cause)) == NULL)
		return (-1);
	return (0);
}

/* Bytes into the blob's chunk, full chunks to the writer. */
static int
iti41_part_data(const struct mtom_part *p, const void *data, size_t len,
    void *arg, char **cause)
{
	struct iti41_state	*st = arg;
	struct iti41_blob	*b = p->handle;
	const uint8_t		*buf = data;
	size_t			 n;

	if (st->werr != NULL) {		/* stop reading a doomed upload */
		*cause = xstrdup(st->werr);
		return (-1);
	}
	while (len > 0) {
		if (b->chunk == NULL)
			b->chunk = xmalloc(ITI41_CHUNK);
		n = ITI41_CHUNK - b->clen;
		if (n > len)
			n = len;
		memcpy(b->chunk + b->clen, buf, n);
		b->clen += n;
		buf += n;
		len -= n;
		if (b->clen == ITI41_CHUNK)
			iti41_wflush(st, b);
	}
	return (0);
}

/* The last chunk, then the blob's finish (iti41_wdone starts writeback). */
static int
iti41_part_end(const struct mtom_part *p, void *arg, char **cause)
{
	struct iti41_state	*st = arg;
	struct iti41_blob	*b = p->handle;

	(void)cause;
	iti41_wflush(st, b);
	iti41_wqueue(st, b, ITI41_W_END, NULL, 0);
	return (0);
}

static const struct mtom_callbacks iti41_mtom_cb = {
	iti41_part_begin, iti41_part_data, iti41_part_end, NULL
};

/* ------------------------------------------------------------------ */
/* Replies. */

static void
iti41_send(struct iti41_state *st, int status, const char *ctype,
    const char *body, size_t len)
{
	if (st->req == NULL)
		return;
	if (httpd_reply(st->req, status, ctype, body, len) == -1)
		log_warnx("iti41: %s: reply failed", httpd_req_conn_id(st->req));
}

/* An envelope, as MTOM when the request was MTOM (xds.md 1). */
static void
iti41_send_envelope(struct iti41_state *st, int status, const char *env,
    size_t len, const char *action)
{
	struct mtom_writer	*w;
	struct dbuf		 out;
	char			 buf[MTOM_CHUNK], *cause = NULL, *ct;
	ssize_t			 n;

	if (!st->mtom) {
		xasprintf(&ct, "application/soap+xml; charset=UTF-8; "
		    "action=\"%s\"", action);
		iti41_send(st, status, ct, env, len);
		free(ct);
		return;
	}
	w = mtom_writer_new(NULL, action);
	dbuf_init(&out, ITI41_MAX_RESPONSE);
	if (mtom_writer_set_root(w, env, len, NULL, &cause) == -1)
		goto fail;
	while ((n = mtom_writer_read(w, buf, sizeof(buf), &cause)) > 0)
		if (dbuf_add(&out, buf, (size_t)n) == -1) {
			cause = xstrdup("response too large");
			goto fail;
		}
	if (n == -1)
		goto fail;
	iti41_send(st, status, mtom_writer_content_type(w),
	    out.len ? out.data : "", out.len);
	dbuf_free(&out);
	mtom_writer_free(w);
	return;
fail:
	log_warnx("iti41: MTOM response: %s", cause);
	free(cause);
	dbuf_free(&out);
	mtom_writer_free(w);
	iti41_send(st, 500, "text/plain", "internal error\n", 15);
}

static void
iti41_fault(struct iti41_state *st, struct soap_fault *f)
{
	struct dbuf	b;

	st->ctx->stats.faults++;
	dbuf_init(&b, ITI41_MAX_RESPONSE);
	if (soap_fault_build(&b, f, st->msg.message_id) == -1)
		iti41_send(st, 500, "text/plain", "internal error\n", 15);
	else
		iti41_send_envelope(st, soap_fault_http_status(f),
		    b.data, b.len, SOAP_FAULT_ACTION);
	dbuf_free(&b);
	soap_fault_clear(f);
}

/*
 * The ATNA Import record of an ITI-41 or ITI-42 that got as far as a
 * RegistryResponse (answered, or committed with the peer gone): once.
 * Only the SubmissionSet's patient CX and uniqueId are recorded.
 */
static void
iti41_audit(struct iti41_state *st, enum xdsmsg_status s)
{
	struct audit_event	 ev;
	const struct xds_subset	*ss;

	if (st->ctx->audit == NULL || st->audited)
		return;
	st->audited = 1;
	memset(&ev, 0, sizeof(ev));
	ev.kind = AUDIT_IMPORT;
	ev.outcome = s == XDSMSG_SUCCESS ? AUDIT_SUCCESS :
	    s == XDSMSG_PARTIAL ? AUDIT_MINOR_FAILURE : AUDIT_SERIOUS_FAILURE;
	ev.peer_user = st->peer;
	ev.peer_addr = st->addr;
	ev.local_user = st->path;
	if (st->sub != NULL && st->sub->nsubsets == 1) {
		ss = &st->sub->subsets[0];
		if (ss->patient_id.set)
			ev.patient_id = ss->patient_id.value;
		if (ss->unique_id.set)
			ev.submission_set_uid = ss->unique_id.value;
	}
	st->ctx->audit(&ev, st->ctx->audit_arg);
}

/* The RegistryResponse for st->errs (Success when empty). */
static void
iti41_respond(struct iti41_state *st)
{
	const struct soap_action	*act;
	struct dbuf			 rr, env;
	enum xdsmsg_status		 s;

	s = xdsmsg_errors_status(&st->errs);
	if (s == XDSMSG_SUCCESS)
		st->ctx->stats.success++;
	else
		st->ctx->stats.failure++;
	iti41_audit(st, s);
	act = soap_action_get(st->action);
	dbuf_init(&rr, ITI41_MAX_RESPONSE);
	dbuf_init(&env, ITI41_MAX_RESPONSE);
	if (xdsmsg_regresp_build(&rr, s, &st->errs) == -1 ||
	    soap_response(&env, act->response, st->msg.message_id,
	    rr.data, rr.len) == -1)
		iti41_send(st, 500, "text/plain", "internal error\n", 15);
	else
		iti41_send_envelope(st, 200, env.data, env.len,
		    act->response);
	dbuf_free(&rr);
	dbuf_free(&env);
}

static void printflike(3, 4)
iti41_error(struct iti41_state *st, const char *code, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	xdsmsg_error_add(&st->errs, XDSMSG_ERROR, code, NULL, 0, "%s", msg);
	free(msg);
}

/* Failure: no rows (rolled back or never begun), no blobs. */
static void
iti41_fail(struct iti41_state *st)
{
	iti41_blobs_drop(st, 0);
	iti41_respond(st);
}

/* ------------------------------------------------------------------ */
/* Helpers on the metadata model. */

static void
iti41_vals_set(struct xds_vals *v, const char *s)
{
	size_t	i;

	for (i = 0; i < v->values.n; i++)
		free(v->values.v[i]);
	free(v->values.v);
	v->values.v = xcalloc(1, sizeof(*v->values.v));
	v->values.v[0] = xstrdup(s);
	v->values.n = 1;
	v->set = 1;
}

/* Sets a slot of an object to one value, replacing what a peer sent. */
static void
iti41_slot_set(struct xds_slotv *sv, const char *name, const char *value)
{
	struct xds_slot	*sl = NULL;
	size_t		 i;

	for (i = 0; i < sv->n && sl == NULL; i++)
		if (strcmp(sv->v[i].name, name) == 0)
			sl = &sv->v[i];
	if (sl == NULL) {
		sv->v = xreallocarray(sv->v, sv->n + 1, sizeof(*sv->v));
		sl = &sv->v[sv->n++];
		memset(sl, 0, sizeof(*sl));
		sl->name = xstrdup(name);
	}
	for (i = 0; i < sl->values.n; i++)
		free(sl->values.v[i]);
	free(sl->values.v);
	sl->values.v = xcalloc(1, sizeof(*sl->values.v));
	sl->values.v[0] = xstrdup(value);
	sl->values.n = 1;
}

static const char *
iti41_slot(const struct xds_slotv *sv, const char *name)
{
	size_t	i;

	for (i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i].name, name) == 0 && sv->v[i].values.n > 0)
			return (sv->v[i].values.v[0]);
	return (NULL);
}

/* "pid^^^&oid&ISO" -> pid, oid; -1 if not of that shape. */
static int
iti41_cx(const char *cx, char **pid, char **oid)
{
	const char	*p, *a, *e;

	if (cx == NULL || (p = strstr(cx, "^^^&")) == NULL || p == cx)
		return (-1);
	a = p + 4;
	if ((e = strchr(a, '&')) == NULL || e == a)
		return (-1);
	*pid = xstrndup(cx, (size_t)(p - cx));
	*oid = xstrndup(a, (size_t)(e - a));
	return (0);
}

/* A DTM normalised to 14 digits (PROFILE.md 7), or NULL. */
static char *
iti41_dtm(const char *s)
{
	char	 buf[15];
	size_t	 i;

	if (s == NULL)
		return (NULL);
	for (i = 0; i < 14 && s[i] >= '0' && s[i] <= '9'; i++)
		buf[i] = s[i];
	if (i < 4)
		return (NULL);
	for (; i < 14; i++)
		buf[i] = i == 5 || i == 7 ? '1' : '0';
	buf[14] = '\0';
	return (xstrdup(buf));
}

/* The ebRIM XML of one object, without the list wrapper. */
static char *
iti41_ebrim(int kind, void *obj)
{
	struct xds_submission	 one;
	struct dbuf		 b;

	memset(&one, 0, sizeof(one));
	switch (kind) {
	case 0: one.subsets = obj; one.nsubsets = 1; break;
	case 1: one.folders = obj; one.nfolders = 1; break;
	case 2: one.docs = obj; one.ndocs = 1; break;
	default: one.assocs = obj; one.nassocs = 1; break;
	}
	dbuf_init(&b, ITI41_MAX_RESPONSE);
	if (xdsmeta_write(&b, &one, XDSMETA_W_BARE) == -1) {
		dbuf_free(&b);
		return (NULL);
	}
	return (dbuf_take(&b, NULL));
}

/* ------------------------------------------------------------------ */
/* The transaction. */

static void	iti41_txn_end(struct iti41_state *, int commit);

/* Any statement's failure is remembered; the commit step sees it. */
static void
iti41_q_check(PGresult *res, const char *cause, void *arg)
{
	struct iti41_state	*st = arg;

	(void)res;
	if (cause != NULL && !st->db_failed) {
		st->db_failed = 1;
		st->db_cause = xstrdup(cause);
	}
}

static void
iti41_q(struct iti41_state *st, const char *sql, int n,
    const char *const *v)
{
	db_txn_query(st->txn, sql, n, v, NULL, NULL, 0, iti41_q_check, st);
}

/*
 * Rows of one multi-row statement: each column collects a text[] literal
 * that the statement unnests, so the 500 entries of a study cost one
 * statement per table instead of thousands parsed and planned one by one
 * (bench.md: 0.5 s of PostgreSQL time per 500-instance submission).
 */
#define ITI41_BATCH_COLS	26

struct iti41_batch {
	int		 ncols;
	int		 failed;	/* a literal reached its bound */
	size_t		 nrows;
	struct dbuf	 col[ITI41_BATCH_COLS];
};

static void
iti41_batch_init(struct iti41_batch *b, int ncols)
{
	int	i;

	b->ncols = ncols;
	b->failed = 0;
	b->nrows = 0;
	for (i = 0; i < ncols; i++) {
		dbuf_init(&b->col[i], ITI41_MAX_SOAP);
		dbuf_addc(&b->col[i], '{');
	}
}

/* One array element: NULL, or the value quoted for array_in; -1 full. */
static int
iti41_batch_elem(struct dbuf *d, const char *v)
{
	size_t	n;
	int	rc = 0;

	if (v == NULL)
		return (dbuf_addstr(d, "NULL"));
	rc |= dbuf_addc(d, '"');
	while (*v != '\0') {
		n = strcspn(v, "\"\\");
		rc |= dbuf_add(d, v, n);
		v += n;
		if (*v != '\0') {
			rc |= dbuf_addc(d, '\\');
			rc |= dbuf_addc(d, *v++);
		}
	}
	rc |= dbuf_addc(d, '"');
	return (rc);
}

static void
iti41_batch_add(struct iti41_batch *b, const char *const *v)
{
	int	i;

	for (i = 0; i < b->ncols; i++) {
		if ((b->nrows > 0 && dbuf_addc(&b->col[i], ',') == -1) ||
		    iti41_batch_elem(&b->col[i], v[i]) == -1)
			b->failed = 1;
	}
	b->nrows++;
}

/*
 * Queues sql with the scalars as $1..$nscalar and the columns after them
 * (nothing when the batch is empty), and frees the batch.  A literal past
 * its bound (the SOAP envelope's, which holds all the metadata) is an
 * error, never a truncated list.
 */
static void
iti41_batch_send(struct iti41_state *st, struct iti41_batch *b,
    const char *sql, int nscalar, const char *const *scalar)
{
	const char	*v[ITI41_BATCH_COLS + 4];
	int		 i;

	for (i = 0; i < b->ncols; i++)
		if (dbuf_addc(&b->col[i], '}') == -1)
			b->failed = 1;
	if (b->failed)
		iti41_q_check(NULL, "metadata too large for one statement",
		    st);
	else if (b->nrows > 0) {
		for (i = 0; i < nscalar; i++)
			v[i] = scalar[i];
		for (i = 0; i < b->ncols; i++)
			v[nscalar + i] = dbuf_str(&b->col[i]);
		iti41_q(st, sql, nscalar + b->ncols, v);
	}
	for (i = 0; i < b->ncols; i++)
		dbuf_free(&b->col[i]);
}

/* The batches of one submission's DocumentEntries. */
struct iti41_docrows {
	struct iti41_batch	docs;	/* 26 columns, as iti41_ins_doc */
	struct iti41_batch	codes;	/* entry, kind, code, scheme */
	struct iti41_batch	authors;	/* entry, person */
	struct iti41_batch	refs;	/* entry, ref_id */
	struct iti41_batch	insts;	/* entry, study, series, sop, class */
};

static void
iti41_q_patient(PGresult *res, const char *cause, void *arg)
{
	struct iti41_state	*st = arg;

	if (cause != NULL) {
		iti41_q_check(res, cause, arg);
		return;
	}
	if (PQntuples(res) != 1) {
		iti41_error(st, ITI41_UNKNOWN_PATIENT, "patient %s in domain "
		    "%s is not known to this affinity domain", st->pid,
		    st->oid);
		return;
	}
	if (!PQgetisnull(res, 0, 1)) {
		iti41_error(st, ITI41_UNKNOWN_PATIENT, "patient %s in domain "
		    "%s has been merged into another patient", st->pid,
		    st->oid);
		return;
	}
	snprintf(st->patient_row, sizeof(st->patient_row), "%s",
	    PQgetvalue(res, 0, 0));
}

static void
iti41_q_dups(PGresult *res, const char *cause, void *arg)
{
	struct iti41_state	*st = arg;
	struct xds_submission	*sub = st->sub;
	const char		*uid, *hash, *entry, *repo, *h;
	int			 r;
	size_t			 i, j;

	if (cause != NULL) {
		iti41_q_check(res, cause, arg);
		return;
	}
	for (r = 0; r < PQntuples(res); r++) {
		uid = PQgetvalue(res, r, 0);
		hash = PQgetvalue(res, r, 1);
		entry = PQgetvalue(res, r, 2);
		repo = PQgetvalue(res, r, 3);
		for (i = 0; i < sub->ndocs; i++) {
			if (strcmp(sub->docs[i].unique_id.value, uid) != 0 ||
			    strcmp(xdsmeta_val(&sub->docs[i].
			    repository_unique_id), repo) != 0)
				continue;
			h = xdsmeta_val(&sub->docs[i].hash);
			if (h == NULL || strcasecmp(hash, h) != 0) {
				iti41_error(st, ITI41_NONIDENTICAL, "document "
				    "uniqueId %s is already stored with "
				    "another hash", uid);
				continue;
			}
			/* A resubmission: the stored entry stands. */
			free(st->dup_of[i]);
			st->dup_of[i] = xstrdup(entry);
			for (j = 0; j < sub->nassocs; j++)
				if (strcmp(sub->assocs[j].target,
				    sub->docs[i].o.id) == 0) {
					free(sub->assocs[j].target);
					sub->assocs[j].target = xstrdup(entry);
				}
		}
	}
}

/* 1 for the document relationship types (xds.md 2.1). */
static int
iti41_relation(const char *type, int *replace)
{
	static const char	*rel[] = {
		ITI41_RPLC, ITI41_XFRM_RPLC,
		"urn:ihe:iti:2007:AssociationType:XFRM",
		"urn:ihe:iti:2007:AssociationType:APND",
		"urn:ihe:iti:2007:AssociationType:signs"
	};
	size_t			 i;

	for (i = 0; type != NULL && i < sizeof(rel) / sizeof(rel[0]); i++)
		if (strcmp(type, rel[i]) == 0) {
			if (replace != NULL)
				*replace = i < 2;
			return (1);
		}
	return (0);
}

/* The index of the DocumentEntry with that id, or -1. */
static long
iti41_doc_index(const struct xds_submission *sub, const char *id)
{
	size_t	i;

	for (i = 0; id != NULL && i < sub->ndocs; i++)
		if (strcmp(sub->docs[i].o.id, id) == 0)
			return ((long)i);
	return (-1);
}

/* 1 when id names an object of the submission. */
static int
iti41_in_sub(const struct xds_submission *sub, const char *id)
{
	size_t	i;

	if (iti41_doc_index(sub, id) != -1)
		return (1);
	for (i = 0; i < sub->nsubsets; i++)
		if (strcmp(sub->subsets[i].o.id, id) == 0)
			return (1);
	for (i = 0; i < sub->nfolders; i++)
		if (strcmp(sub->folders[i].o.id, id) == 0)
			return (1);
	for (i = 0; i < sub->nassocs; i++)
		if (sub->assocs[i].o.id != NULL &&
		    strcmp(sub->assocs[i].o.id, id) == 0)
			return (1);
	return (0);
}

/*
 * An association whose target must already be in the registry, visible
 * and of the same patient: a relation above, or a HasMember adding an
 * earlier document by reference (SubmissionSetStatus Reference, or a new
 * folder holding an earlier document).
 */
static int
iti41_external(const struct xds_submission *sub, const struct xds_assoc *a,
    int *replace)
{
	if (replace != NULL)
		*replace = 0;
	if (a->target == NULL || iti41_in_sub(sub, a->target))
		return (0);
	return (iti41_relation(a->type, replace) || (a->type != NULL &&
	    strcmp(a->type, XDS_ASSOC_HASMEMBER) == 0));
}

/*
 * The stored targets of RPLC, XFRM, APND, XFRM_RPLC and signs (rows:
 * entry_uuid, status, surviving patient row, logical id, version; locked
 * FOR UPDATE): each must exist (unexpired) and belong to the submission's
 * patient (the survivor of the target's patient's merge chain, so that a
 * merged patient's documents can be replaced under the surviving id); a
 * replaced one must be Approved. A replacement continues the
 * original's logical id with version + 1; the original is deprecated at
 * the inserts.
 */
static void
iti41_q_targets(PGresult *res, const char *cause, void *arg)
{
	struct iti41_state	*st = arg;
	struct xds_submission	*sub = st->sub;
	struct xds_assoc	*a;
	int			 r, replace = 0, dup;
	long			 di;
	size_t			 i, j;

	if (cause != NULL) {
		iti41_q_check(res, cause, arg);
		return;
	}
	for (i = 0; i < sub->nassocs; i++) {
		a = &sub->assocs[i];
		if (!iti41_external(sub, a, &replace))
			continue;
		for (j = 0, dup = 0; j < sub->ndocs; j++)
			if (st->dup_of[j] != NULL &&
			    strcmp(st->dup_of[j], a->target) == 0)
				dup = 1;
		if (dup)
			continue;	/* rewritten to a resubmitted entry */
		for (r = 0; r < PQntuples(res); r++)
			if (strcmp(PQgetvalue(res, r, 0), a->target) == 0)
				break;
		if (r == PQntuples(res)) {
			iti41_error(st, ITI41_REGISTRY_ERROR, "the target %s of "
			    "association %s (%s) is not a document of the "
			    "registry", a->target, a->o.id, a->type);
			continue;
		}
		if (st->patient_row[0] != '\0' &&
		    strcmp(PQgetvalue(res, r, 2), st->patient_row) != 0) {
			iti41_error(st, XDS_ERR_PATIENT, "the target %s of "
			    "association %s belongs to another patient",
			    a->target, a->o.id);
			continue;
		}
		if (!replace)
			continue;
		if (strcmp(PQgetvalue(res, r, 1), XDS_STATUS_APPROVED) != 0) {
			iti41_error(st, ITI41_DEPRECATED, "the document %s "
			    "replaced by association %s is not Approved",
			    a->target, a->o.id);
			continue;
		}
		if ((di = iti41_doc_index(sub, a->source)) == -1) {
			iti41_error(st, XDS_ERR_METADATA, "the source %s of "
			    "replacement %s is not a DocumentEntry of the "
			    "submission", a->source, a->o.id);
			continue;
		}
		free(st->lid[di]);
		st->lid[di] = xstrdup(PQgetvalue(res, r, 3));
		st->ver[di] = atoi(PQgetvalue(res, r, 4)) + 1;
		free(st->deprecate[i]);
		st->deprecate[i] = xstrdup(a->target);
	}
}

/*
 * The text id of the patient at the end of d.patient_id's merge chain
 * (patients.merged_into followed up to ITI41_MERGE_DEPTH steps).
 */
#define XSTR(x)		#x
#define STR(x)		XSTR(x)
#define ITI41_SURVIVOR							\
	"(WITH RECURSIVE r (id, next, depth) AS (SELECT p.id, "		\
	"p.merged_into, 0 FROM patients p WHERE p.id = d.patient_id "	\
	"UNION ALL SELECT p.id, p.merged_into, r.depth + 1 FROM patients p "	\
	"JOIN r ON p.id = r.next WHERE r.depth < " STR(ITI41_MERGE_DEPTH)	\
	") SELECT id::text FROM r ORDER BY depth DESC LIMIT 1)"

/* Rows (target entryUUID, folder entryUUID): kept for the inserts. */
static void
iti41_q_folders(PGresult *res, const char *cause, void *arg)
{
	struct iti41_state	*st = arg;
	int			 r, n;

	if (cause != NULL) {
		iti41_q_check(res, cause, arg);
		return;
	}
	n = PQntuples(res);
	if (n == 0)
		return;
	st->fmem = xreallocarray(st->fmem, st->nfmem + (size_t)n,
	    2 * sizeof(*st->fmem));
	for (r = 0; r < n; r++) {
		st->fmem[2 * st->nfmem] = xstrdup(PQgetvalue(res, r, 0));
		st->fmem[2 * st->nfmem + 1] = xstrdup(PQgetvalue(res, r, 1));
		st->nfmem++;
	}
}

/*
 * Folder membership follows a replacement (RPLC, XFRM_RPLC; NIST 12327):
 * for every visible folder holding a replaced document, a HasMember
 * association folder -> replacement, filed with this submission, unless
 * the submission makes it itself.
 */
static void
iti41_ins_fmem(struct iti41_state *st)
{
	struct xds_submission	*sub = st->sub;
	struct xds_assoc	 fa, *a;
	const char		*v[7];
	char			 uuid[64], *ebrim;
	size_t			 i, j, k;
	int			 have;

	for (i = 0; i < sub->nassocs; i++) {
		if (st->deprecate[i] == NULL)
			continue;
		for (j = 0; j < st->nfmem; j++) {
			if (strcmp(st->fmem[2 * j], st->deprecate[i]) != 0)
				continue;
			for (k = 0, have = 0; k < sub->nassocs && !have; k++) {
				a = &sub->assocs[k];
				have = a->type != NULL &&
				    strcmp(a->type, XDS_ASSOC_HASMEMBER) == 0 &&
				    strcmp(a->source, st->fmem[2 * j + 1]) == 0 &&
				    strcmp(a->target, sub->assocs[i].source) == 0;
			}
			/* Two replacements by one entry: one membership. */
			for (k = 0; k < i && !have; k++)
				have = st->deprecate[k] != NULL &&
				    strcmp(st->deprecate[k], st->deprecate[i]) ==
				    0 && strcmp(sub->assocs[k].source,
				    sub->assocs[i].source) == 0;
			if (have)
				continue;
			if (xdsmeta_new_uuid(uuid, sizeof(uuid)) == -1) {
				iti41_q_check(NULL, "no random UUIDs", st);
				return;
			}
			memset(&fa, 0, sizeof(fa));
			fa.o.id = uuid;
			fa.o.status = (char *)XDS_STATUS_APPROVED;
			fa.o.object_type = (char *)XDS_OT_ASSOCIATION;
			fa.type = (char *)XDS_ASSOC_HASMEMBER;
			fa.source = st->fmem[2 * j + 1];
			fa.target = sub->assocs[i].source;
			if ((ebrim = iti41_ebrim(3, &fa)) == NULL) {
				iti41_q_check(NULL, "cannot serialise an "
				    "Association", st);
				return;
			}
			v[0] = fa.o.id;
			v[1] = fa.type;
			v[2] = fa.source;
			v[3] = fa.target;
			v[4] = XDS_STATUS_APPROVED;
			v[5] = sub->subsets[0].o.id;
			v[6] = ebrim;
			iti41_q(st, "INSERT INTO associations (entry_uuid, "
			    "assoc_type, source_uuid, target_uuid, status, "
			    "submission_set_id, ebrim) VALUES ($1, $2, $3, $4, "
			    "$5, (SELECT id FROM submission_sets WHERE "
			    "entry_uuid = $6), $7)", 7, v);
			free(ebrim);
		}
	}
}

/* Targets to look up: a text[] literal, or NULL when there is none. */
static char *
iti41_targets(struct iti41_state *st)
{
	struct xds_submission	*sub = st->sub;
	struct dbuf		 arr;
	const char		*u;
	size_t			 i, n = 0;

	dbuf_init(&arr, ITI41_MAX_RESPONSE);
	dbuf_addc(&arr, '{');
	for (i = 0; i < sub->nassocs; i++) {
		if (!iti41_external(sub, &sub->assocs[i], NULL))
			continue;
		dbuf_addstr(&arr, n++ ? ",\"" : "\"");
		for (u = sub->assocs[i].target; *u != '\0'; u++) {
			if (*u == '"' || *u == '\\')
				dbuf_addc(&arr, '\\');
			dbuf_addc(&arr, *u);
		}
		dbuf_addc(&arr, '"');
	}
	dbuf_addc(&arr, '}');
	dbuf_addc(&arr, '\0');
	if (n == 0) {
		dbuf_free(&arr);
		return (NULL);
	}
	return (dbuf_take(&arr, NULL));
}

static void
iti41_q_ss(PGresult *res, const char *cause, void *arg)
{
	struct iti41_state	*st = arg;
	size_t			 i, ndup = 0;

	if (cause != NULL) {
		iti41_q_check(res, cause, arg);
		return;
	}
	if (PQntuples(res) > 0) {
		for (i = 0; i < st->sub->ndocs; i++)
			if (st->dup_of[i] != NULL)
				ndup++;
		if (ndup < st->sub->ndocs)
			iti41_error(st, ITI41_REGISTRY_ERROR, "submission set "
			    "uniqueId %s is already registered",
			    st->sub->subsets[0].unique_id.value);
		st->ss_exists = 1;
	}
}

/* Codes of one kind of a document. */
static void
iti41_ins_codes(struct iti41_docrows *rows, const char *entry,
    const char *kind, const struct xds_codev *cv)
{
	const char	*v[4];
	size_t		 i;

	for (i = 0; i < cv->n; i++) {
		v[0] = entry;
		v[1] = kind;
		v[2] = cv->v[i].code != NULL ? cv->v[i].code : "";
		v[3] = cv->v[i].scheme != NULL ? cv->v[i].scheme : "";
		iti41_batch_add(&rows->codes, v);
	}
}

#define CODE(cv)	((cv).n > 0 ? (cv).v[0].code : NULL)
#define SCHEME(cv)	((cv).n > 0 ? (cv).v[0].scheme : NULL)

static void
iti41_ins_doc(struct iti41_state *st, struct iti41_docrows *rows, size_t i)
{
	struct xds_docentry	*d = &st->sub->docs[i];
	struct iti41_blob	*b = st->docblob != NULL ? st->docblob[i] :
				    NULL;
	const char		*v[ITI41_BATCH_COLS];
	const char		*study = NULL, *series, *sop;
	char			 ver[16], *ct, *sst, *spt, *ebrim, *p;
	char			*study_buf = NULL;
	size_t			 j;

	snprintf(ver, sizeof(ver), "%d", st->ver[i] > 0 ? st->ver[i] : 1);
	if (st->lid[i] != NULL) {	/* a replacement: the original's lid */
		free(d->o.lid);
		d->o.lid = xstrdup(st->lid[i]);
	}
	ct = iti41_dtm(xdsmeta_val(&d->creation_time));
	sst = iti41_dtm(xdsmeta_val(&d->service_start_time));
	spt = iti41_dtm(xdsmeta_val(&d->service_stop_time));
	if ((ebrim = iti41_ebrim(2, d)) == NULL) {
		iti41_q_check(NULL, "cannot serialise a DocumentEntry", st);
		goto out;
	}
	v[0] = d->o.id;
	v[1] = d->unique_id.value;
	v[2] = d->o.lid != NULL ? d->o.lid : d->o.id;
	v[3] = xdsmeta_val(&d->repository_unique_id);
	v[4] = d->o.object_type != NULL ? d->o.object_type : XDS_DE_STABLE;
	v[5] = d->mime_type;
	v[6] = xdsmeta_val(&d->hash);
	v[7] = xdsmeta_val(&d->size);
	v[8] = b != NULL ? b->id : NULL;	/* ITI-42: another repository */
	v[9] = ct;
	v[10] = sst;
	v[11] = spt;
	v[12] = CODE(d->class_code);
	v[13] = SCHEME(d->class_code);
	v[14] = CODE(d->type_code);
	v[15] = SCHEME(d->type_code);
	v[16] = CODE(d->format_code);
	v[17] = SCHEME(d->format_code);
	v[18] = CODE(d->practice_code);
	v[19] = SCHEME(d->practice_code);
	v[20] = CODE(d->hcft_code);
	v[21] = SCHEME(d->hcft_code);
	v[22] = xdsmeta_val(&d->language_code);
	v[23] = d->o.title;
	v[24] = ebrim;
	v[25] = ver;
	iti41_batch_add(&rows->docs, v);
	if (b != NULL)
		b->used = 1;
	iti41_ins_codes(rows, d->o.id, "confidentiality", &d->conf_code);
	iti41_ins_codes(rows, d->o.id, "event", &d->event_code);
	for (j = 0; j < d->authors.n; j++) {
		if (d->authors.v[j].person.n == 0)
			continue;
		v[0] = d->o.id;
		v[1] = d->authors.v[j].person.v[0];
		iti41_batch_add(&rows->authors, v);
	}
	for (j = 0; j < d->reference_id_list.values.n; j++) {
		v[0] = d->o.id;
		v[1] = d->reference_id_list.values.v[j];
		iti41_batch_add(&rows->refs, v);
		if (study == NULL && strstr(v[1], "studyInstanceUID") &&
		    (p = strchr(v[1], '^')) != NULL) {
			study_buf = xstrndup(v[1], (size_t)(p - v[1]));
			study = study_buf;
		}
	}
	/*
	 * RAD-69: the instance this entry carries (PROFILE.md 5); its SOP
	 * Instance UID is the uniqueId unless a slot says otherwise
	 * (protocol.md 7: a study sent twice).
	 */
	series = iti41_slot(&d->o.extra, XDS_SLOT_ISN_SERIES);
	sop = iti41_slot(&d->o.extra, XDS_SLOT_ISN_SOP);
	if (study != NULL && series != NULL) {
		v[0] = d->o.id;
		v[1] = study;
		v[2] = series;
		v[3] = sop != NULL ? sop : d->unique_id.value;
		v[4] = CODE(d->format_code);
		iti41_batch_add(&rows->insts, v);
	}
out:
	free(study_buf);
	free(ct);
	free(sst);
	free(spt);
	free(ebrim);
}

/* Rows of the child tables name their document by entryUUID. */
#define ITI41_BY_ENTRY(t)	" FROM " t " JOIN documents d ON " \
	"d.entry_uuid = u.e ORDER BY u.n"

/* The DocumentEntries not already stored, in a few statements. */
static void
iti41_ins_docs(struct iti41_state *st)
{
	struct iti41_docrows	 rows;
	const char		*v[3];
	size_t			 i;

	iti41_batch_init(&rows.docs, 26);
	iti41_batch_init(&rows.codes, 4);
	iti41_batch_init(&rows.authors, 2);
	iti41_batch_init(&rows.refs, 2);
	iti41_batch_init(&rows.insts, 5);
	for (i = 0; i < st->sub->ndocs; i++)
		if (st->dup_of[i] == NULL)
			iti41_ins_doc(st, &rows, i);
	v[0] = st->sub->subsets[0].o.id;
	v[1] = st->patient_row;
	v[2] = XDS_STATUS_APPROVED;
	iti41_batch_send(st, &rows.docs, "INSERT INTO documents (entry_uuid, "
	    "unique_id, logical_id, repository_unique_id, submission_set_id, "
	    "patient_id, status, object_type, mime_type, hash, size, blob_id, "
	    "creation_time, service_start_time, service_stop_time, "
	    "class_code, class_scheme, type_code, type_scheme, format_code, "
	    "format_scheme, practice_setting_code, practice_setting_scheme, "
	    "hcft_code, hcft_scheme, language_code, title, ebrim, version) "
	    "SELECT u.c1, u.c2, u.c3, u.c4, (SELECT id FROM submission_sets "
	    "WHERE entry_uuid = $1), $2::bigint, $3, u.c5, u.c6, u.c7, "
	    "u.c8::bigint, u.c9, u.c10, u.c11, u.c12, u.c13, u.c14, u.c15, "
	    "u.c16, u.c17, u.c18, u.c19, u.c20, u.c21, u.c22, u.c23, u.c24, "
	    "u.c25, u.c26::integer FROM unnest($4::text[], $5::text[], "
	    "$6::text[], $7::text[], $8::text[], $9::text[], $10::text[], "
	    "$11::text[], $12::text[], $13::text[], $14::text[], $15::text[], "
	    "$16::text[], $17::text[], $18::text[], $19::text[], $20::text[], "
	    "$21::text[], $22::text[], $23::text[], $24::text[], $25::text[], "
	    "$26::text[], $27::text[], $28::text[], $29::text[]) WITH "
	    "ORDINALITY AS u(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, "
	    "c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, c22, c23, c24, "
	    "c25, c26, n) ORDER BY u.n", 3, v);
	iti41_batch_send(st, &rows.codes, "INSERT INTO document_codes "
	    "(document_id, kind, code, scheme) SELECT d.id, u.k, u.c, u.s"
	    ITI41_BY_ENTRY("unnest($1::text[], $2::text[], $3::text[], "
	    "$4::text[]) WITH ORDINALITY AS u(e, k, c, s, n)"), 0, NULL);
	iti41_batch_send(st, &rows.authors, "INSERT INTO document_authors "
	    "(document_id, person) SELECT d.id, u.p"
	    ITI41_BY_ENTRY("unnest($1::text[], $2::text[]) WITH ORDINALITY "
	    "AS u(e, p, n)"), 0, NULL);
	iti41_batch_send(st, &rows.refs, "INSERT INTO document_refs "
	    "(document_id, ref_id) SELECT d.id, u.r"
	    ITI41_BY_ENTRY("unnest($1::text[], $2::text[]) WITH ORDINALITY "
	    "AS u(e, r, n)"), 0, NULL);
	iti41_batch_send(st, &rows.insts, "INSERT INTO document_instances "
	    "(document_id, study_uid, series_uid, sop_uid, sop_class_uid) "
	    "SELECT d.id, u.st, u.se, u.so, u.cl"
	    ITI41_BY_ENTRY("unnest($1::text[], $2::text[], $3::text[], "
	    "$4::text[], $5::text[]) WITH ORDINALITY AS u(e, st, se, so, cl, "
	    "n)"), 0, NULL);
}

static void
iti41_inserts(struct iti41_state *st)
{
	struct xds_submission	*sub = st->sub;
	struct xds_subset	*ss = &sub->subsets[0];
	struct iti41_batch	 assocs;
	const char		*v[12];
	char			*ebrim, *stime, expires[24], *now;
	time_t			 t, exp;
	struct tm		 tm;
	char			 nowbuf[16], expdtm[16];
	size_t			 i, j;

	/*
	 * The expiry, also as a slot of the stored SubmissionSet so that a
	 * consumer sees it in LeafClass answers (docs/protocol.md 6).
	 */
	exp = time(NULL) + (st->ctx->retention > 0 ? st->ctx->retention :
	    ITI41_RETENTION);
	snprintf(expires, sizeof(expires), "%lld", (long long)exp);
	gmtime_r(&exp, &tm);
	strftime(expdtm, sizeof(expdtm), "%Y%m%d%H%M%S", &tm);
	iti41_slot_set(&ss->o.extra, XDS_SLOT_ISN_EXPIRES, expdtm);
	stime = iti41_dtm(xdsmeta_val(&ss->submission_time));
	ebrim = iti41_ebrim(0, ss);
	v[0] = ss->o.id;
	v[1] = ss->unique_id.value;
	v[2] = ss->source_id.value;
	v[3] = st->patient_row;
	v[4] = XDS_STATUS_APPROVED;
	v[5] = stime != NULL ? stime : "";
	v[6] = CODE(ss->content_type);
	v[7] = SCHEME(ss->content_type);
	v[8] = st->peer;
	v[9] = ebrim;
	v[10] = expires;
	if (ebrim == NULL) {
		iti41_q_check(NULL, "cannot serialise the SubmissionSet", st);
		free(stime);
		return;
	}
	iti41_q(st, "INSERT INTO submission_sets (entry_uuid, unique_id, "
	    "source_id, patient_id, status, submission_time, "
	    "content_type_code, content_type_scheme, submitter, ebrim, "
	    "expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
	    "to_timestamp($11::bigint))", 11, v);
	free(stime);
	free(ebrim);
	for (i = 0; i < ss->authors.n; i++) {
		if (ss->authors.v[i].person.n == 0)
			continue;
		v[0] = ss->o.id;
		v[1] = ss->authors.v[i].person.v[0];
		iti41_q(st, "INSERT INTO submission_set_authors "
		    "(submission_set_id, person) SELECT id, $2 FROM "
		    "submission_sets WHERE entry_uuid = $1", 2, v);
	}
	/* RPLC, XFRM_RPLC: the originals, locked by iti41_q_targets. */
	for (i = 0; i < sub->nassocs; i++) {
		if (st->deprecate[i] == NULL)
			continue;
		v[0] = st->deprecate[i];
		v[1] = XDS_STATUS_DEPRECATED;
		iti41_q(st, "UPDATE documents SET status = $2 WHERE "
		    "entry_uuid = $1", 2, v);
	}
	iti41_ins_docs(st);
	t = time(NULL);
	gmtime_r(&t, &tm);
	strftime(nowbuf, sizeof(nowbuf), "%Y%m%d%H%M%S", &tm);
	now = nowbuf;
	for (i = 0; i < sub->nfolders; i++) {
		struct xds_folder *f = &sub->folders[i];

		iti41_vals_set(&f->last_update_time, now);
		if ((ebrim = iti41_ebrim(1, f)) == NULL) {
			iti41_q_check(NULL, "cannot serialise a Folder", st);
			return;
		}
		v[0] = f->o.id;
		v[1] = f->unique_id.value;
		v[2] = ss->o.id;
		v[3] = st->patient_row;
		v[4] = XDS_STATUS_APPROVED;
		v[5] = now;
		v[6] = ebrim;
		iti41_q(st, "INSERT INTO folders (entry_uuid, unique_id, "
		    "submission_set_id, patient_id, status, last_update_time, "
		    "ebrim) VALUES ($1, $2, (SELECT id FROM submission_sets "
		    "WHERE entry_uuid = $3), $4, $5, $6, $7)", 7, v);
		free(ebrim);
		for (j = 0; j < f->code_list.n; j++) {
			v[0] = f->o.id;
			v[1] = f->code_list.v[j].code;
			v[2] = f->code_list.v[j].scheme != NULL ?
			    f->code_list.v[j].scheme : "";
			iti41_q(st, "INSERT INTO folder_codes (folder_id, code, "
			    "scheme) SELECT id, $2, $3 FROM folders WHERE "
			    "entry_uuid = $1", 3, v);
		}
	}
	iti41_batch_init(&assocs, 5);
	for (i = 0; i < sub->nassocs; i++) {
		struct xds_assoc *a = &sub->assocs[i];

		if ((ebrim = iti41_ebrim(3, a)) == NULL) {
			iti41_q_check(NULL, "cannot serialise an Association",
			    st);
			break;
		}
		v[0] = a->o.id;
		v[1] = a->type;
		v[2] = a->source;
		v[3] = a->target;
		v[4] = ebrim;
		iti41_batch_add(&assocs, v);
		free(ebrim);
	}
	v[0] = XDS_STATUS_APPROVED;
	v[1] = ss->o.id;
	iti41_batch_send(st, &assocs, "INSERT INTO associations (entry_uuid, "
	    "assoc_type, source_uuid, target_uuid, status, submission_set_id, "
	    "ebrim) SELECT u.e, u.t, u.s, u.g, $1, (SELECT id FROM "
	    "submission_sets WHERE entry_uuid = $2), u.x FROM unnest("
	    "$3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) WITH "
	    "ORDINALITY AS u(e, t, s, g, x, n) ORDER BY u.n", 2, v);
	if (st->db_failed)
		return;
	iti41_ins_fmem(st);
	/*
	 * Earlier folders this submission adds members to (by its own
	 * HasMember or by a replacement above): lastUpdateTime = now, in
	 * the column and in the stored slot (NIST 12323).
	 */
	v[0] = ss->o.id;
	v[1] = now;
	iti41_q(st, "UPDATE folders f SET last_update_time = $2, ebrim = "
	    "regexp_replace(f.ebrim, '(<rim:Slot name=\"lastUpdateTime\">"
	    "<rim:ValueList><rim:Value>)[^<]*(</rim:Value>)', '\\1' || $2 || "
	    "'\\2') WHERE f.entry_uuid IN (SELECT a.source_uuid FROM "
	    "associations a JOIN submission_sets s ON s.id = "
	    "a.submission_set_id WHERE s.entry_uuid = $1 AND a.assoc_type = '"
	    XDS_ASSOC_HASMEMBER "') AND f.submission_set_id <> (SELECT id FROM "
	    "submission_sets WHERE entry_uuid = $1)", 2, v);
}

static void
iti41_txn_done(PGresult *res, const char *cause, void *arg)
{
	struct iti41_state	*st = arg;

	(void)res;
	st->txn = NULL;
	st->in_txn = 0;
	if (cause != NULL && !st->db_failed) {
		st->db_failed = 1;
		st->db_cause = xstrdup(cause);
	}
	if (st->db_failed) {
		log_warnx("iti41: database: %s", st->db_cause);
		xdsmsg_errors_clear(&st->errs);
		iti41_error(st, ITI41_REGISTRY_ERROR, "the registry could not "
		    "store the submission");
	}
	if (xdsmsg_errors_status(&st->errs) != XDSMSG_SUCCESS)
		iti41_blobs_drop(st, 0);
	else {
		iti41_blobs_drop(st, 1);	/* resubmitted or unnamed parts */
		st->ctx->stats.documents += st->sub->ndocs;
	}
	if (st->req != NULL)
		iti41_respond(st);
	else {
		iti41_audit(st, xdsmsg_errors_status(&st->errs));
		iti41_state_free(st);
	}
}

static void
iti41_txn_end(struct iti41_state *st, int commit)
{
	if (commit)
		db_txn_commit(st->txn, iti41_txn_done, st);
	else
		db_txn_rollback(st->txn, iti41_txn_done, st);
}

/* After the checks: store, or roll back on any problem. */
static void
iti41_q_decide(PGresult *res, const char *cause, void *arg)
{
	struct iti41_state	*st = arg;

	(void)res;
	iti41_q_check(res, cause, arg);
	if (st->db_failed || st->errs.n > 0 || st->ss_exists) {
		iti41_txn_end(st, 0);
		return;
	}
	iti41_inserts(st);
	iti41_txn_end(st, 1);
}

static void
iti41_txn_begun(struct db_txn *txn, const char *cause, void *arg)
{
	struct iti41_state	*st = arg;
	struct dbuf		 arr;
	const char		*v[3];
	char			*targets;
	size_t			 i;

	if (txn == NULL) {
		st->in_txn = 0;
		if (st->req == NULL) {
			iti41_blobs_drop(st, 0);
			iti41_state_free(st);
			return;
		}
		log_warnx("iti41: database: %s", cause);
		iti41_error(st, ITI41_REGISTRY_ERROR, "the registry is not "
		    "available");
		iti41_fail(st);
		return;
	}
	st->txn = txn;
	v[0] = st->pid;
	v[1] = st->oid;
	db_txn_query(txn, "SELECT id, merged_into FROM patients WHERE "
	    "pid = $1 AND domain_oid = $2 FOR SHARE", 2, v, NULL, NULL, 0,
	    iti41_q_patient, st);
	/* uniqueIds as a text[] literal, each element quoted. */
	dbuf_init(&arr, ITI41_MAX_RESPONSE);
	dbuf_addc(&arr, '{');
	for (i = 0; i < st->sub->ndocs; i++) {
		const char *u = st->sub->docs[i].unique_id.value;

		dbuf_addstr(&arr, i ? ",\"" : "\"");
		for (; *u != '\0'; u++) {
			if (*u == '"' || *u == '\\')
				dbuf_addc(&arr, '\\');
			dbuf_addc(&arr, *u);
		}
		dbuf_addc(&arr, '"');
	}
	dbuf_addc(&arr, '}');
	dbuf_addc(&arr, '\0');
	/* Each entry's repository is compared by iti41_q_dups. */
	v[0] = arr.data;
	db_txn_query(txn, "SELECT unique_id, hash, entry_uuid, "
	    "repository_unique_id FROM documents WHERE unique_id = "
	    "ANY($1::text[]) FOR SHARE", 1, v, NULL, NULL, 0, iti41_q_dups,
	    st);
	dbuf_free(&arr);
	v[0] = st->sub->subsets[0].unique_id.value;
	db_txn_query(txn, "SELECT 1 FROM submission_sets WHERE unique_id = $1",
	    1, v, NULL, NULL, 0, iti41_q_ss, st);
	if ((targets = iti41_targets(st)) != NULL) {
		v[0] = targets;
		db_txn_query(txn, "SELECT d.entry_uuid, d.status, "
		    ITI41_SURVIVOR ", coalesce(d.logical_id, d.entry_uuid), "
		    "d.version FROM documents d JOIN submission_sets s ON "
		    "s.id = d.submission_set_id WHERE d.entry_uuid = "
		    "ANY($1::text[]) AND s.expires_at > now() FOR UPDATE OF d",
		    1, v, NULL, NULL, 0, iti41_q_targets, st);
		/* Visible folder memberships of the targets (NIST 12327). */
		db_txn_query(txn, "SELECT DISTINCT a.target_uuid, "
		    "f.entry_uuid FROM associations a JOIN submission_sets sa "
		    "ON sa.id = a.submission_set_id JOIN folders f ON "
		    "f.entry_uuid = a.source_uuid JOIN submission_sets sf ON "
		    "sf.id = f.submission_set_id WHERE a.target_uuid = "
		    "ANY($1::text[]) AND a.assoc_type = '" XDS_ASSOC_HASMEMBER "' "
		    "AND sa.expires_at > now() AND sf.expires_at > now() "
		    "ORDER BY 1, 2", 1, v, NULL, NULL, 0, iti41_q_folders, st);
		free(targets);
	}
	db_txn_query(txn, "SELECT 1", 0, NULL, NULL, NULL, 0, iti41_q_decide,
	    st);
}

/* ------------------------------------------------------------------ */
/* After the body: everything up to the transaction. */

static void
iti41_merge_xds(struct iti41_state *st, const struct xds_errors *e)
{
	size_t	i;

	for (i = 0; i < e->n; i++)
		xdsmsg_error_add(&st->errs, XDSMSG_ERROR, e->v[i].code,
		    e->v[i].location, e->v[i].line, "%s", e->v[i].message);
}

static void
iti41_rename(const char *oldid, const char *newid, void *arg)
{
	struct iti41_state	*st = arg;
	size_t			 i;

	for (i = 0; i < st->pnr.ndocs; i++)
		if (strcmp(st->pnr.docs[i].id, oldid) == 0) {
			free(st->pnr.docs[i].id);
			st->pnr.docs[i].id = xstrdup(newid);
		}
}

/*
 * The blobs are durable (or not): begin the transaction that names them.
 * With the peer gone meanwhile, or at shutdown (BLOBQ_STOPPED: the
 * database and maybe ctx are gone), no row will name them: removed.
 */
static void
iti41_blobs_synced(int rc, const char *cause, void *arg)
{
	struct iti41_state	*st = arg;

	if (st->req == NULL) {
		blob_batch_unlink(st->batch);
		iti41_state_free(st);
		return;
	}
	if (rc != BLOBQ_DONE) {
		log_warnx("iti41: blobs: %s", cause != NULL ? cause :
		    "the blob worker stopped");
		st->in_txn = 0;
		iti41_error(st, ITI41_REPO_ERROR, "the repository could not "
		    "store the documents");
		iti41_fail(st);
		return;
	}
	db_txn_begin(st->ctx->db, iti41_txn_begun, st);
}

/*
 * PROFILE.md section 7: every blob fsynced and linked into data/ before the
 * transaction naming it begins; one batch commit per request, on the blob
 * store's worker when it has one (else on the loop). st->in_txn is set:
 * the request's fini leaves the state to iti41_blobs_synced.
 */
static void
iti41_blobs_sync(struct iti41_state *st)
{
	struct blobq	*q;
	char		*cause = NULL;
	int		 rc;

	if (st->batch == NULL || blob_batch_count(st->batch) == 0) {
		db_txn_begin(st->ctx->db, iti41_txn_begun, st);
		return;
	}
	if ((q = blobq_of(st->ctx->blobs)) != NULL) {
		blobq_commit(q, st->batch, iti41_blobs_synced, st);
		return;
	}
	rc = blob_batch_commit(st->batch, BLOB_SYNC_AUTO, &cause);
	iti41_blobs_synced(rc == 0 ? BLOBQ_DONE : BLOBQ_FAILED, cause, st);
	free(cause);
}

/* The blob of one xdsb:Document: its MIME part's, or written now. */
static struct iti41_blob *
iti41_doc_blob(struct iti41_state *st, const struct xdsmsg_document *doc,
    char **cause)
{
	const struct mtom_part	*part;
	struct iti41_blob	*b;

	if (doc->content.href != NULL) {
		part = st->mp != NULL ? mtom_parser_lookup(st->mp,
		    doc->content.href) : NULL;
		if (part == NULL || part->root || part->handle == NULL) {
			xasprintf(cause, "xop:Include href \"%.80s\" names no "
			    "MIME part of the message", doc->content.href);
			return (NULL);
		}
		b = part->handle;
		return (b->id[0] != '\0' ? b : NULL);
	}
	if ((b = iti41_blob_new(st, 0, cause)) == NULL)
		return (NULL);
	if (blob_write(b->w, doc->content.data, doc->content.size,
	    cause) == -1 || iti41_blob_add(st->batch, b, cause) == -1)
		return (NULL);
	return (b);
}

static int
iti41_isn2(const struct xds_submission *sub)
{
	const char	*v;

	if (sub->nsubsets == 0)
		return (0);
	v = iti41_slot(&sub->subsets[0].o.extra, XDS_SLOT_ISN_ENCRYPTION);
	return (v != NULL && strcmp(v, "isn2") == 0);
}

static void
iti41_set_status(char **status)
{
	free(*status);
	*status = xstrdup(XDS_STATUS_APPROVED);
}

/*
 * Common to ITI-41 and ITI-42 once the metadata is valid: the patient's
 * shape and domain, UUIDs, registry-assigned values, then the
 * transaction. ITI-41 entries get repositoryUniqueId, hash and size from
 * their blobs (st->pb, per pnr.docs entry); ITI-42 entries carry them.
 */
static void
iti41_submit(struct iti41_state *st)
{
	struct xds_submission	*sub = st->sub;
	struct xds_assoc	*a;
	char			 sz[24], *p;
	int			 replace;
	size_t			 i, j;

	if (sub->nsubsets != 1 || iti41_cx(sub->subsets[0].patient_id.value,
	    &st->pid, &st->oid) == -1) {
		iti41_error(st, ITI41_UNKNOWN_PATIENT, "the submission set's "
		    "patientId is not pid^^^&oid&ISO");
		goto fail;
	}
	if (st->ctx->affinity_domain != NULL &&
	    strcmp(st->oid, st->ctx->affinity_domain) != 0) {
		iti41_error(st, ITI41_UNKNOWN_PATIENT, "patient %s is not in "
		    "the affinity domain %s", st->pid,
		    st->ctx->affinity_domain);
		goto fail;
	}
	for (i = 0; i < sub->nassocs; i++) {
		a = &sub->assocs[i];
		if (iti41_relation(a->type, &replace) && replace &&
		    iti41_in_sub(sub, a->target)) {
			iti41_error(st, ITI41_REGISTRY_ERROR, "replacement %s "
			    "targets an object of the same submission, not a "
			    "registered document", a->o.id);
			goto fail;
		}
	}
	if (xdsmeta_assign_uuids(sub, iti41_rename, st) == -1) {
		iti41_error(st, ITI41_REGISTRY_ERROR, "no random UUIDs");
		goto fail;
	}
	st->dup_of = xcalloc(sub->ndocs + 1, sizeof(*st->dup_of));
	st->lid = xcalloc(sub->ndocs + 1, sizeof(*st->lid));
	st->ver = xcalloc(sub->ndocs + 1, sizeof(*st->ver));
	st->deprecate = xcalloc(sub->nassocs + 1, sizeof(*st->deprecate));
	if (st->action == SOAP_TXN_ITI41)
		st->docblob = xcalloc(sub->ndocs + 1, sizeof(*st->docblob));
	for (i = 0; i < sub->ndocs; i++) {
		struct xds_docentry *d = &sub->docs[i];

		if (st->action == SOAP_TXN_ITI41) {
			for (j = 0; j < st->pnr.ndocs; j++)
				if (strcmp(st->pnr.docs[j].id, d->o.id) == 0)
					st->docblob[i] = st->pb[j];
			if (st->docblob[i] == NULL) {	/* xdsvalid caught it */
				iti41_error(st, XDS_ERR_MISSING_DOC,
				    "DocumentEntry %s has no document",
				    d->o.id);
				goto fail;
			}
			snprintf(sz, sizeof(sz), "%llu", (unsigned long long)
			    st->docblob[i]->info.size);
			iti41_vals_set(&d->repository_unique_id,
			    st->ctx->repository_unique_id);
			iti41_vals_set(&d->hash, st->docblob[i]->info.sha1);
			iti41_vals_set(&d->size, sz);
		} else {
			/* Blob-less rows name another repository (ITI-43). */
			if (strcmp(xdsmeta_val(&d->repository_unique_id),
			    st->ctx->repository_unique_id) == 0) {
				iti41_error(st, XDS_ERR_METADATA,
				    "DocumentEntry %s: repositoryUniqueId %s "
				    "is this repository's; its documents come "
				    "with ITI-41", d->o.id,
				    st->ctx->repository_unique_id);
				goto fail;
			}
			/* Validated as present; the column is lower case. */
			p = xstrdup(xdsmeta_val(&d->hash));
			for (j = 0; p[j] != '\0'; j++)
				if (p[j] >= 'A' && p[j] <= 'F')
					p[j] = (char)(p[j] - 'A' + 'a');
			iti41_vals_set(&d->hash, p);
			free(p);
		}
		iti41_set_status(&d->o.status);
	}
	for (i = 0; i < sub->nsubsets; i++)
		iti41_set_status(&sub->subsets[i].o.status);
	for (i = 0; i < sub->nfolders; i++)
		iti41_set_status(&sub->folders[i].o.status);
	for (i = 0; i < sub->nassocs; i++)
		iti41_set_status(&sub->assocs[i].o.status);
	st->in_txn = 1;
	iti41_blobs_sync(st);
	return;
fail:
	iti41_fail(st);
}

/* ITI-41: the documents into blobs, checks with their sizes and hashes. */
static void
iti41_pnr(struct iti41_state *st)
{
	struct xdsvalid_doc		*vd = NULL;
	struct xds_errors		 xe = { NULL, 0 };
	char				*cause = NULL;
	size_t				 i, j;

	if (xdsmsg_pnr_parse(st->msg.body, &st->pnr, &st->errs) == -1 ||
	    st->pnr.submit == NULL || st->errs.n > 0) {
		if (st->errs.n == 0)
			iti41_error(st, ITI41_REPO_ERROR, "malformed "
			    "ProvideAndRegisterDocumentSetRequest");
		goto fail;
	}
	if ((st->sub = xdsmeta_parse(st->pnr.submit, &cause)) == NULL) {
		iti41_error(st, XDS_ERR_METADATA, "%s", cause);
		free(cause);
		goto fail;
	}
	/* Documents: sizes and hashes from the blobs. */
	vd = xcalloc(st->pnr.ndocs + 1, sizeof(*vd));
	st->pb = xcalloc(st->pnr.ndocs + 1, sizeof(*st->pb));
	for (i = j = 0; i < st->pnr.ndocs; i++) {
		if ((st->pb[i] = iti41_doc_blob(st, &st->pnr.docs[i],
		    &cause)) == NULL) {
			iti41_error(st, cause != NULL && strstr(cause,
			    "xop:Include") != NULL ? XDS_ERR_MISSING_DOC :
			    ITI41_REPO_ERROR, "document %s: %s",
			    st->pnr.docs[i].id, cause != NULL ? cause :
			    "no content");
			free(cause);
			cause = NULL;
			continue;
		}
		vd[j].id = st->pnr.docs[i].id;
		vd[j].size = (int64_t)st->pb[i]->info.size;
		vd[j].sha1 = st->pb[i]->info.sha1;
		j++;
	}
	if (st->errs.n > 0)
		goto fail;
	if (xdsvalid_check(st->sub, XDSVALID_ITI41 | (iti41_isn2(st->sub) ?
	    XDSVALID_ISN2 : 0), vd, j, &xe) > 0) {
		iti41_merge_xds(st, &xe);
		goto fail;
	}
	free(vd);
	xdsmeta_errors_free(&xe);
	iti41_submit(st);
	return;
fail:
	free(vd);
	xdsmeta_errors_free(&xe);
	iti41_fail(st);
}

/*
 * ITI-42: metadata only (lcm:SubmitObjectsRequest). Each DocumentEntry
 * carries repositoryUniqueId, hash and size (XDSVALID_ITI42); no blob,
 * the document lives in the repository it names.
 */
static void
iti41_register(struct iti41_state *st)
{
	struct xds_errors	 xe = { NULL, 0 };
	const xmlNode		*b = st->msg.body;
	char			*cause = NULL;

	if (b == NULL || b->ns == NULL || strcmp((const char *)b->ns->href,
	    XML_NS_LCM) != 0 || strcmp((const char *)b->name,
	    "SubmitObjectsRequest") != 0) {
		iti41_error(st, ITI41_REGISTRY_ERROR, "the body of a "
		    "Register Document Set-b is not an lcm:"
		    "SubmitObjectsRequest");
		goto fail;
	}
	if ((st->sub = xdsmeta_parse(b, &cause)) == NULL) {
		iti41_error(st, XDS_ERR_METADATA, "%s", cause);
		free(cause);
		goto fail;
	}
	if (xdsvalid_check(st->sub, XDSVALID_ITI42 | (iti41_isn2(st->sub) ?
	    XDSVALID_ISN2 : 0), NULL, 0, &xe) > 0) {
		iti41_merge_xds(st, &xe);
		goto fail;
	}
	xdsmeta_errors_free(&xe);
	iti41_submit(st);
	return;
fail:
	xdsmeta_errors_free(&xe);
	iti41_fail(st);
}

static void
iti41_process(struct iti41_state *st, const char *env, size_t len)
{
	const struct soap_action	*act;
	struct soap_fault		 f;
	struct xml_limits		 xl;

	memset(&f, 0, sizeof(f));
	memset(&xl, 0, sizeof(xl));
	xl.max_size = st->ctx->limits.max_soap ? st->ctx->limits.max_soap :
	    ITI41_MAX_SOAP;
	if (soap_msg_parse_buf(env, len, &xl, &st->msg, &f) == -1 ||
	    soap_check_request(&st->msg, SOAP_PATH_REPOSITORY, &act,
	    &f) == -1) {
		iti41_blobs_drop(st, 0);
		iti41_fault(st, &f);
		return;
	}
	if (act->txn != SOAP_TXN_ITI41 && st->ctx->delegate != NULL &&
	    act->txn == st->ctx->delegate->txn) {
		struct soap_msg	m = st->msg;

		iti41_blobs_drop(st, 0);	/* no attachments expected */
		memset(&st->msg, 0, sizeof(st->msg));
		st->delegated = 1;
		st->dstate = st->ctx->delegate->start(st->req, st->mtom, &m,
		    st->ctx->delegate->arg);
		return;
	}
	if (act->txn != SOAP_TXN_ITI41) {
		soap_fault_set(&f, SOAP_SENDER, "wsa:ActionNotSupported",
		    "%s is not served here", act->name);
		iti41_blobs_drop(st, 0);
		iti41_fault(st, &f);
		return;
	}
	st->action = SOAP_TXN_ITI41;
	iti41_pnr(st);
}

/* ------------------------------------------------------------------ */
/* httpd callbacks. */

static int
iti41_head(struct httpd_req *req, void *arg)
{
	struct iti41_ctx	*ctx = arg;
	struct iti41_state	*st;
	struct mtom_limits	 ml;
	const struct tls_peer	*peer;
	const char		*ct;
	char			*cause = NULL;

	if (strcmp(httpd_req_method(req), "POST") != 0) {
		httpd_reply(req, 405, "text/plain", "POST only\n", 10);
		return (HTTPD_OK);
	}
	if (strcmp(httpd_req_path(req), SOAP_PATH_REPOSITORY) != 0) {
		httpd_reply(req, 404, "text/plain", "not found\n", 10);
		return (HTTPD_OK);
	}
	st = xcalloc(1, sizeof(*st));
	st->ctx = ctx;
	st->req = req;
	st->action = SOAP_TXN_ITI41;
	st->path = SOAP_PATH_REPOSITORY;
	dbuf_init(&st->soap, ctx->limits.max_soap ? ctx->limits.max_soap :
	    ITI41_MAX_SOAP);
	if ((peer = httpd_req_peer(req)) != NULL)
		st->peer = xstrdup(peer->subject);
	st->addr = xstrdup(httpd_req_peer_addr(req));
	httpd_req_set_data(req, st);
	ct = httpd_req_header(req, "Content-Type");
	if (ct != NULL && strncasecmp(ct, "multipart/related", 17) == 0) {
		st->mtom = 1;
		memset(&ml, 0, sizeof(ml));
		ml.max_root = ctx->limits.max_soap;
		ml.max_part = ctx->limits.max_doc;
		ml.max_parts = ctx->limits.max_parts;
		st->mp = mtom_parser_new(ct, &iti41_mtom_cb, st, &ml, &cause);
		if (st->mp == NULL)
			st->body_err = cause;
		else
			mtom_parser_nohash(st->mp);	/* blobs hash */
	} else if (ct == NULL ||
	    strncasecmp(ct, "application/soap+xml", 20) != 0) {
		static const char m[] = "expected multipart/related or "
		    "application/soap+xml\n";

		httpd_reply(req, 415, "text/plain", m, sizeof(m) - 1);
	}
	return (HTTPD_OK);
}

static int
iti41_body(struct httpd_req *req, const void *buf, size_t len, void *arg)
{
	struct iti41_state	*st = httpd_req_data(req);
	char			*cause = NULL;

	(void)arg;
	if (st == NULL || st->body_err != NULL)
		return (HTTPD_OK);	/* drain; refused at done */
	if (st->mtom) {
		if (mtom_parser_feed(st->mp, buf, len, &cause) == -1) {
			st->body_err = cause;
			if (st->wpending == 0)	/* else at the drain */
				iti41_blobs_drop(st, 0);
		}
	} else if (dbuf_add(&st->soap, buf, len) == -1) {
		st->body_err = xstrdup("the SOAP envelope is too large");
	}
	return (HTTPD_OK);
}

static void
iti41_done(struct httpd_req *req, void *arg)
{
	struct iti41_state	*st = httpd_req_data(req);
	char			*cause = NULL;

	(void)arg;
	if (st == NULL)
		return;
	st->ctx->stats.requests++;
	if (st->body_err == NULL && st->mtom &&
	    mtom_parser_finish(st->mp, &cause) == -1) {
		st->body_err = cause;
	}
	if (st->wpending > 0) {		/* the writer still has parts */
		st->wdone = 1;
		return;
	}
	iti41_after_body(st);
}

/* The body is in and every blob written: refuse, or process. */
static void
iti41_after_body(struct iti41_state *st)
{
	struct soap_fault	 f;
	const char		*root;
	size_t			 len;

	if (st->body_err == NULL && st->werr != NULL)
		st->body_err = xstrdup(st->werr);
	if (st->body_err != NULL) {
		memset(&f, 0, sizeof(f));
		iti41_blobs_drop(st, 0);
		soap_fault_set(&f, SOAP_SENDER, NULL, "%s", st->body_err);
		iti41_fault(st, &f);
		return;
	}
	if (st->mtom)
		root = mtom_parser_root(st->mp, &len);
	else {
		root = st->soap.len ? st->soap.data : "";
		len = st->soap.len;
	}
	iti41_process(st, root, len);
}

/* The request is over: free now, or when the transaction ends. */
static void
iti41_state_fini(struct iti41_state *st, int completed)
{
	st->req = NULL;
	if (!completed)
		st->ctx->stats.aborted++;
	if (st->in_txn || st->wpending > 0)
		return;		/* iti41_txn_done or iti41_wdone frees */
	if (!completed)
		iti41_blobs_drop(st, 1);	/* nothing stored names them */
	iti41_state_free(st);
}

static void
iti41_fini(struct httpd_req *req, int completed, void *arg)
{
	struct iti41_state	*st = httpd_req_data(req);

	(void)arg;
	if (st == NULL)
		return;
	if (st->delegated) {
		st->req = NULL;
		st->ctx->delegate->fini(st->dstate, completed,
		    st->ctx->delegate->arg);
		iti41_state_free(st);
		return;
	}
	iti41_state_fini(st, completed);
}

void
iti41_register_start(struct iti41_ctx *ctx, struct httpd_req *req,
    struct soap_msg *msg, void **statep)
{
	struct iti41_state	*st;
	const struct tls_peer	*peer;

	st = xcalloc(1, sizeof(*st));
	st->ctx = ctx;
	st->req = req;
	st->action = SOAP_TXN_ITI42;
	st->path = SOAP_PATH_REGISTRY;
	dbuf_init(&st->soap, 1);
	if ((peer = httpd_req_peer(req)) != NULL)
		st->peer = xstrdup(peer->subject);
	st->addr = xstrdup(httpd_req_peer_addr(req));
	st->msg = *msg;
	memset(msg, 0, sizeof(*msg));
	ctx->stats.requests++;
	*statep = st;
	iti41_register(st);
}

void
iti41_register_fini(void *state, int completed)
{
	if (state != NULL)
		iti41_state_fini(state, completed);
}

static void
iti41_state_free(struct iti41_state *st)
{
	size_t	i;

	/* Writers left open (an aborted upload) are aborted. */
	for (i = 0; i < st->nblobs; i++) {
		if (st->blobs[i]->w != NULL)
			blob_write_abort(st->blobs[i]->w);
		free(st->blobs[i]->chunk);
		free(st->blobs[i]);
	}
	free(st->blobs);
	blob_batch_free(st->batch);
	if (st->mp != NULL)
		mtom_parser_free(st->mp);
	dbuf_free(&st->soap);
	free(st->body_err);
	free(st->werr);
	free(st->peer);
	free(st->addr);
	xdsmsg_pnr_clear(&st->pnr);
	soap_msg_clear(&st->msg);
	if (st->sub != NULL) {
		for (i = 0; i < st->sub->ndocs; i++) {
			if (st->dup_of != NULL)
				free(st->dup_of[i]);
			if (st->lid != NULL)
				free(st->lid[i]);
		}
		for (i = 0; st->deprecate != NULL && i < st->sub->nassocs; i++)
			free(st->deprecate[i]);
		xdsmeta_free(st->sub);
	}
	for (i = 0; i < 2 * st->nfmem; i++)
		free(st->fmem[i]);
	free(st->fmem);
	free(st->deprecate);
	free(st->lid);
	free(st->ver);
	free(st->pb);
	free(st->dup_of);
	free(st->docblob);
	xdsmsg_errors_clear(&st->errs);
	free(st->pid);
	free(st->oid);
	free(st->db_cause);
	free(st);
}

const struct httpd_handler iti41_handler = {
	iti41_head, iti41_body, iti41_done, iti41_fini, "POST"
};
