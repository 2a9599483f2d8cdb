/*
 * retrieve.c: ITI-43 Retrieve Document Set and RAD-69 Retrieve Imaging
 * Document Set: the request's documents are looked up in the registry
 * (one db_query), then the answer is an MTOM message pulled by httpd as
 * the socket drains, each document read from its blob in MTOM_CHUNK
 * pieces. See retrieve.h and docs/design/retrieve.md.
 */
#include "config.h"

#include <sys/queue.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <libpq-fe.h>

#include "audit.h"
#include "blob.h"
#include "ch.h"
#include "ch_auth.h"
#include "db.h"
#include "dbuf.h"
#include "http.h"
#include "httpd.h"
#include "iti41.h"
#include "log.h"
#include "mtom.h"
#include "ratelimit.h"
#include "retrieve.h"
#include "soap.h"
#include "xdsmsg.h"
#include "xmalloc.h"
#include "xml.h"

#define RT_ITI43_METRIC		"isn_ch_iti43_requests_total"
#define RT_RAD69_METRIC		"isn_ch_rad69_requests_total"
#define RT_BYTES_METRIC		"isn_ch_retrieve_bytes_out_total"

#define RT_ERR_DOC		"XDSDocumentUniqueIdError"
#define RT_ERR_BUSY		"XDSRepositoryBusy"
#define RT_ERR_REPO		"XDSUnknownRepositoryId"
#define RT_ERR_REPOSITORY	"XDSRepositoryError"
#define RT_STATUS_APPROVED	"urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"

#define RT_MAX_SOAP		(64 * 1024 * 1024)
#define RT_MAX_RESPONSE		(256 * 1024 * 1024)	/* the root part */
#define RT_MAX_REQ_PART		(1024 * 1024)	/* stray request attachments */
#define RT_MAX_REQ_PARTS	16
#define RT_INLINE_MAX		(1024 * 1024)	/* plain SOAP: inline total */
#define RT_FAULT_CTYPE		"application/soap+xml; charset=UTF-8; " \
				"action=\"" SOAP_FAULT_ACTION "\""

struct rt_req;

/* One requested document and, once looked up, where its bytes are. */
struct rt_doc {
	struct rt_req	*rq;
	char		*home;		/* in the parsed request; may be NULL */
	char		*repository;
	char		*document;
	char		*study;		/* RAD-69 */
	char		*series;
	int		 found;
	char		*mime;
	char		*blob_id;
	char		 cid[64];
	int		 fd;		/* open while streaming */
	uint64_t	 left;
	unsigned char	*data;		/* inline answers only */
	size_t		 size;
};

struct rt_req {
	TAILQ_ENTRY(rt_req)	 entry;
	struct retrieve		*r;
	struct httpd_req	*req;		/* NULL once fini ran */
	int			 linked;	/* in r->reqs (retrieve_handler) */
	int			 ids;		/* on the IDS path */
	int			 mtom;		/* the request was MTOM */
	/* body */
	struct mtom_parser	*mp;
	struct dbuf		 body;
	char			*body_err;
	int			 too_large;
	/* transaction */
	enum soap_txn		 txn;
	struct soap_msg		 msg;
	char			*peer;		/* certificate subject */
	char			*addr;		/* the peer's IP (audit) */
	char			*fp;		/* its fingerprint (rate limit) */
	long			 retry_after;	/* > 0: answered busy */
	struct xdsmsg_retrieve_req iti43;
	struct xdsmsg_rad69_req	 rad69;
	struct xdsmsg_errors	 errs;
	struct rt_doc		*docs;
	size_t			 ndocs;
	int			 querying;	/* db callback pending */
	/* answer */
	const char		*outcome;	/* counted at the end */
	int			 counted;
	struct dbuf		 env;		/* the MTOM root lives here */
	struct mtom_writer	*w;
	uint64_t		 bytes;
	uint64_t		 bytes_counted;
};

struct retrieve {
	struct ch		*ch;
	struct iti41_delegate	 delegate;
	TAILQ_HEAD(, rt_req)	 reqs;
};

static int	rt_metric_defined;

static void	rt_free(struct rt_req *);
static void	rt_respond(struct rt_req *);
static void	rt_lookup_failed(struct rt_req *);

static const char *
rt_metric(const struct rt_req *rq)
{
	return (rq->txn == SOAP_TXN_RAD69 ? RT_RAD69_METRIC :
	    RT_ITI43_METRIC);
}

static const char *
rt_txn_name(const struct rt_req *rq)
{
	return (rq->txn == SOAP_TXN_RAD69 ? "RAD-69" : "ITI-43");
}

static const char *
rt_conn(const struct rt_req *rq)
{
	return (rq->req != NULL ? httpd_req_conn_id(rq->req) : "-");
}

/* The outcome once per request; bytes as they go. */
static void
rt_count(struct rt_req *rq, const char *outcome)
{
	char	lab[64];

	if (rq->bytes > rq->bytes_counted) {
		snprintf(lab, sizeof(lab), "transaction=\"%s\"",
		    rt_txn_name(rq));
		ch_metric_inc(RT_BYTES_METRIC, lab,
		    rq->bytes - rq->bytes_counted);
		rq->bytes_counted = rq->bytes;
	}
	if (rq->counted || outcome == NULL)
		return;
	rq->counted = 1;
	snprintf(lab, sizeof(lab), "outcome=\"%s\"", outcome);
	ch_metric_inc(rt_metric(rq), lab, 1);
}

/* ------------------------------------------------------------------ */
/* Small answers: faults, refusals. */

static void
rt_fault(struct rt_req *rq, struct soap_fault *f)
{
	struct dbuf	b;

	rq->outcome = "fault";
	dbuf_init(&b, 64 * 1024);
	if (soap_fault_build(&b, f, rq->msg.message_id) == -1)
		httpd_reply(rq->req, 500, "text/plain", "internal error\n", 15);
	else
		httpd_reply(rq->req, soap_fault_http_status(f),
		    RT_FAULT_CTYPE, b.data, b.len);
	dbuf_free(&b);
	soap_fault_clear(f);
}

static int
rt_is_consumer(struct retrieve *r, struct httpd_req *req)
{
	return (ch_peer_authorise(r->ch->conf, httpd_req_peer(req),
	    CH_ROLE_CONSUMER) != NULL);
}

/* ------------------------------------------------------------------ */
/* Streaming the documents. */

/* mtom_writer source of one document: its blob, opened when first read. */
static ssize_t
rt_doc_read(void *buf, size_t len, void *arg, char **cause)
{
	struct rt_doc	*d = arg;
	uint64_t	 size;
	ssize_t		 n;

	if (d->fd == -2)
		return (0);	/* done; never reopened */
	if (d->fd == -1) {
		if ((d->fd = blob_open(d->rq->r->ch->blobs, d->blob_id, &size,
		    cause)) == -1)
			return (-1);
		d->left = size;
	}
	if (d->left == 0) {
		close(d->fd);
		d->fd = -2;
		return (0);
	}
	if (len > d->left)
		len = (size_t)d->left;
	do {
		n = read(d->fd, buf, len);
	} while (n == -1 && errno == EINTR);
	if (n == -1) {
		xasprintf(cause, "blob %s: %s", d->blob_id, strerror(errno));
		return (-1);
	}
	if (n == 0) {
		xasprintf(cause, "blob %s is shorter than it was", d->blob_id);
		return (-1);
	}
	d->left -= (uint64_t)n;
	return (n);
}

/* httpd reply source: the MTOM message, as much as the socket takes. */
static int
rt_source(struct httpd_req *req, struct evbuffer *out, size_t want,
    void *arg)
{
	struct rt_req		*rq = arg;
	struct evbuffer_iovec	 v;
	char			*cause = NULL;
	size_t			 n;
	ssize_t			 got;

	(void)req;
	while (want > 0) {
		n = want < MTOM_CHUNK ? want : MTOM_CHUNK;
		if (evbuffer_reserve_space(out, (ev_ssize_t)n, &v, 1) < 1)
			return (HTTPD_ERROR);
		if ((got = mtom_writer_read(rq->w, v.iov_base, n,
		    &cause)) == -1) {
			log_warnx("retrieve conn=%s txn=%s event=stream-failed:"
			    " %s", rt_conn(rq), rt_txn_name(rq), cause);
			free(cause);
			rt_count(rq, NULL);
			return (HTTPD_ERROR);
		}
		v.iov_len = (size_t)got;
		evbuffer_commit_space(out, &v, 1);
		rq->bytes += (uint64_t)got;
		want -= (size_t)got;
		if (got == 0) {
			rt_count(rq, NULL);
			return (HTTPD_END);
		}
	}
	rt_count(rq, NULL);
	return (HTTPD_OK);
}

/* ------------------------------------------------------------------ */
/* The answer. */

/* Whole small documents for an inline (plain SOAP) answer. */
static int
rt_doc_load(struct rt_doc *d, char **cause)
{
	uint64_t	size;
	size_t		off = 0;
	ssize_t		n;
	int		fd;

	if ((fd = blob_open(d->rq->r->ch->blobs, d->blob_id, &size,
	    cause)) == -1)
		return (-1);
	if (size > RT_INLINE_MAX) {
		close(fd);
		xasprintf(cause, "blob %s grew", d->blob_id);
		return (-1);
	}
	d->data = xmalloc(size + 1);
	while (off < size) {
		n = read(fd, d->data + off, (size_t)size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			xasprintf(cause, "blob %s: %s", d->blob_id, n == 0 ?
			    "short read" : strerror(errno));
			close(fd);
			return (-1);
		}
		off += (size_t)n;
	}
	close(fd);
	d->size = (size_t)size;
	return (0);
}

static void
rt_audit(struct rt_req *rq, int success)
{
	struct audit_event	 ev;
	struct audit_doc	*ad;
	const char		**studies = NULL;
	size_t			 i, j, n = 0, ns = 0;

	ad = xcalloc(rq->ndocs + 1, sizeof(*ad));
	for (i = 0; i < rq->ndocs; i++) {
		if (rq->docs[i].found != success)
			continue;
		ad[n].unique_id = rq->docs[i].document;
		ad[n].repository_uid = rq->docs[i].repository;
		ad[n].home_community_id = rq->docs[i].home;
		n++;
	}
	if (n == 0 && !(success == 0 && rq->ndocs == 0)) {
		free(ad);
		return;
	}
	memset(&ev, 0, sizeof(ev));
	if (rq->txn == SOAP_TXN_RAD69) {
		ev.kind = AUDIT_RETRIEVE_IMAGING;
		studies = xcalloc(rq->rad69.nstudies + 1, sizeof(*studies));
		for (i = 0; i < rq->rad69.nstudies; i++) {
			if (rq->rad69.studies[i].uid == NULL)
				continue;
			for (j = 0; j < ns; j++)
				if (strcmp(studies[j],
				    rq->rad69.studies[i].uid) == 0)
					break;
			if (j == ns)
				studies[ns++] = rq->rad69.studies[i].uid;
		}
		ev.studies = studies;
		ev.nstudies = ns;
	} else
		ev.kind = AUDIT_RETRIEVE;
	ev.outcome = success ? AUDIT_SUCCESS : AUDIT_SERIOUS_FAILURE;
	ev.peer_user = rq->peer;
	ev.peer_addr = rq->addr;
	ev.local_user = rq->ids ? SOAP_PATH_IDS : SOAP_PATH_REPOSITORY;
	ev.docs = ad;
	ev.ndocs = n;
	ch_audit(rq->r->ch, &ev);
	free(studies);
	free(ad);
}

/* The RetrieveDocumentSetResponse for rq->docs and rq->errs. */
static void
rt_respond(struct rt_req *rq)
{
	const struct soap_action	*act;
	struct xdsmsg_retrieve_resp	 resp;
	struct xdsmsg_docresp		*dr;
	struct httpd_hdr		 h[3];
	struct dbuf			 body;
	char				*cause = NULL, *ct, ra[24];
	uint64_t			 total = 0;
	size_t				 i, nfound = 0;
	int				 inline_ok;

	/* A plain SOAP request gets small documents inline (retrieve.md). */
	for (i = 0; i < rq->ndocs; i++)
		if (rq->docs[i].found)
			total += rq->docs[i].size;
	inline_ok = !rq->mtom && total <= RT_INLINE_MAX;
	for (i = 0; i < rq->ndocs; i++) {
		struct rt_doc *d = &rq->docs[i];

		if (!d->found)
			continue;
		if (inline_ok && rt_doc_load(d, &cause) == -1) {
			log_warnx("retrieve conn=%s txn=%s event=blob-missing:"
			    " %s", rt_conn(rq), rt_txn_name(rq), cause);
			free(cause);
			cause = NULL;
			d->found = 0;
			xdsmsg_error_add(&rq->errs, XDSMSG_ERROR,
			    RT_ERR_REPOSITORY, d->document, 0, "the document "
			    "%s cannot be read", d->document);
			continue;
		}
		nfound++;
	}
	memset(&resp, 0, sizeof(resp));
	resp.errors = rq->errs;
	if (nfound == 0) {
		resp.status = XDSMSG_FAILURE;
		if (rq->errs.n == 0)
			xdsmsg_error_add(&rq->errs, XDSMSG_ERROR,
			    RT_ERR_REPOSITORY, NULL, 0, "no document "
			    "requested");
		resp.errors = rq->errs;
		rq->outcome = "failure";
	} else if (xdsmsg_errors_count(&rq->errs, XDSMSG_ERROR) > 0) {
		resp.status = XDSMSG_PARTIAL;
		rq->outcome = "partial";
	} else {
		resp.status = XDSMSG_SUCCESS;
		rq->outcome = "success";
	}
	dr = resp.docs = xcalloc(nfound + 1, sizeof(*resp.docs));
	for (i = 0; i < rq->ndocs; i++) {
		struct rt_doc *d = &rq->docs[i];

		if (!d->found)
			continue;
		dr->home = d->home;
		dr->repository = d->repository;
		dr->document = d->document;
		dr->mime = d->mime;
		if (inline_ok) {
			dr->content.data = d->data;
			dr->content.size = d->size;
		} else {
			snprintf(d->cid, sizeof(d->cid), "doc%zu@isn-"
			    "clearinghouse", i + 1);
			xasprintf(&dr->content.href, "cid:%s", d->cid);
		}
		dr++;
	}
	resp.ndocs = nfound;
	act = soap_action_get(rq->txn);
	dbuf_init(&body, RT_MAX_RESPONSE);
	dbuf_init(&rq->env, RT_MAX_RESPONSE);
	if (xdsmsg_retrieve_resp_build(&body, &resp) == -1 ||
	    soap_response(&rq->env, act->response, rq->msg.message_id,
	    body.data, body.len) == -1) {
		cause = xstrdup("the response envelope is too large");
		goto fail;
	}
	log_info("retrieve conn=%s txn=%s event=answer status=%s docs=%zu "
	    "errors=%zu mtom=%d", rt_conn(rq), rt_txn_name(rq), rq->outcome,
	    nfound, rq->errs.n, !inline_ok);
	rt_audit(rq, 1);
	rt_audit(rq, 0);
	/* A busy answer (rate limit) says when to come back. */
	snprintf(ra, sizeof(ra), "%ld", rq->retry_after);
	h[1].name = rq->retry_after > 0 ? "Retry-After" : NULL;
	h[1].value = ra;
	h[2].name = h[2].value = NULL;
	if (inline_ok) {
		xasprintf(&ct, "application/soap+xml; charset=UTF-8; "
		    "action=\"%s\"", act->response);
		h[0].name = "Content-Type";
		h[0].value = ct;
		if (httpd_reply_start(rq->req, 200, h,
		    (int64_t)rq->env.len) == 0 && httpd_reply_chunk(rq->req,
		    rq->env.data, rq->env.len) == 0)
			httpd_reply_end(rq->req);
		rq->bytes += rq->env.len;
		rt_count(rq, NULL);
		free(ct);
		goto out;
	}
	rq->w = mtom_writer_new(NULL, act->response);
	if (mtom_writer_set_root(rq->w, rq->env.data, rq->env.len, NULL,
	    &cause) == -1)
		goto fail;
	for (i = 0; i < rq->ndocs; i++) {
		struct rt_doc *d = &rq->docs[i];

		if (d->found && mtom_writer_add_cb(rq->w, d->cid, d->mime,
		    rt_doc_read, d, &cause) == -1)
			goto fail;
	}
	h[0].name = "Content-Type";
	h[0].value = mtom_writer_content_type(rq->w);
	if (httpd_reply_start(rq->req, 200, h, -1) == -1 ||
	    httpd_reply_source(rq->req, rt_source, rq) == -1) {
		cause = xstrdup("cannot start the reply");
		goto fail;
	}
	goto out;
fail:
	log_warnx("retrieve conn=%s txn=%s: %s", rt_conn(rq), rt_txn_name(rq),
	    cause);
	free(cause);
	rq->outcome = "failure";
	httpd_reply(rq->req, 500, "text/plain", "internal error\n", 15);
out:
	for (i = 0; i < nfound; i++)
		free(resp.docs[i].content.href);
	free(resp.docs);
	dbuf_free(&body);
}

/* ------------------------------------------------------------------ */
/* The lookup. */

/* Row index whose column 0 equals uid in rows sorted COLLATE "C". */
static int
rt_row_find(PGresult *res, const char *uid)
{
	int	lo = 0, hi = PQntuples(res) - 1, mid, c;

	while (lo <= hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(PQgetvalue(res, mid, 0), uid);
		if (c == 0) {
			while (mid > 0 && strcmp(PQgetvalue(res, mid - 1, 0),
			    uid) == 0)
				mid--;
			return (mid);
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return (-1);
}

static int
rt_tsuid_ok(const struct rt_req *rq, const char *ts)
{
	size_t	i;

	for (i = 0; i < rq->rad69.ntsuids; i++)
		if (rq->rad69.tsuids[i] != NULL &&
		    strcmp(rq->rad69.tsuids[i], ts) == 0)
			return (1);
	return (0);
}

static void
rt_looked_up(PGresult *res, const char *cause, void *arg)
{
	struct rt_req	*rq = arg;
	struct ch	*ch = rq->r->ch;
	size_t		 i;
	int		 row, nrows;

	rq->querying = 0;
	if (rq->req == NULL) {
		rt_count(rq, "aborted");
		rt_free(rq);
		ch_release(ch);
		return;
	}
	if (cause != NULL) {
		log_warnx("retrieve conn=%s txn=%s event=registry-error: %s",
		    rt_conn(rq), rt_txn_name(rq), cause);
		xdsmsg_error_add(&rq->errs, XDSMSG_ERROR, RT_ERR_REPOSITORY,
		    NULL, 0, "the registry is unavailable");
		for (i = 0; i < rq->ndocs; i++)
			rq->docs[i].found = 0;
		rt_respond(rq);
		ch_release(ch);
		return;
	}
	nrows = PQntuples(res);
	for (i = 0; i < rq->ndocs; i++) {
		struct rt_doc *d = &rq->docs[i];
		const char *ts = NULL;
		int hit = -1, badts = 0;

		if (d->found == -1) {	/* another repository: error added */
			d->found = 0;
			continue;
		}
		if ((row = rt_row_find(res, d->document)) != -1) {
			for (; row < nrows && strcmp(PQgetvalue(res, row, 0),
			    d->document) == 0; row++) {
				if (rq->txn != SOAP_TXN_RAD69) {
					hit = row;
					break;
				}
				if (strcmp(PQgetvalue(res, row, 4),
				    d->study) != 0 || strcmp(PQgetvalue(res,
				    row, 5), d->series) != 0)
					continue;
				ts = PQgetisnull(res, row, 6) ? NULL :
				    PQgetvalue(res, row, 6);
				if (ts != NULL && !rt_tsuid_ok(rq, ts)) {
					badts = 1;
					continue;
				}
				hit = row;
				break;
			}
		}
		if (hit == -1 && badts) {
			xdsmsg_error_add(&rq->errs, XDSMSG_ERROR,
			    RT_ERR_REPOSITORY, d->document, 0, "No valid Xfer "
			    "Syntax for composite UID [%s:%s:%s]", d->study,
			    d->series, d->document);
			continue;
		}
		if (hit == -1) {
			if (rq->txn == SOAP_TXN_RAD69)
				xdsmsg_error_add(&rq->errs, XDSMSG_ERROR,
				    RT_ERR_DOC, d->document, 0, "No document "
				    "matching composite UID [%s:%s:%s]",
				    d->study, d->series, d->document);
			else
				xdsmsg_error_add(&rq->errs, XDSMSG_ERROR,
				    RT_ERR_DOC, d->document, 0, "unknown "
				    "document %s", d->document);
			continue;
		}
		d->found = 1;
		d->mime = xstrdup(PQgetvalue(res, hit, 1));
		d->blob_id = xstrdup(PQgetvalue(res, hit, 2));
		d->size = (size_t)strtoull(PQgetvalue(res, hit, 3), NULL, 10);
	}
	for (i = 0; i < rq->ndocs; i++)
		if (!rq->docs[i].found) {
			rt_lookup_failed(rq);
			break;
		}
	rt_respond(rq);
	ch_release(ch);
}

/* A PostgreSQL text[] literal of the documents we look up. */
static void
rt_uid_array(struct rt_req *rq, struct dbuf *b)
{
	const char	*p;
	size_t		 i;
	int		 first = 1;

	dbuf_addc(b, '{');
	for (i = 0; i < rq->ndocs; i++) {
		if (rq->docs[i].found == -1)
			continue;
		if (!first)
			dbuf_addc(b, ',');
		first = 0;
		dbuf_addc(b, '"');
		for (p = rq->docs[i].document; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				dbuf_addc(b, '\\');
			dbuf_addc(b, *p);
		}
		dbuf_addc(b, '"');
	}
	dbuf_addc(b, '}');
	dbuf_addc(b, '\0');
}

static const char rt_sql_iti43[] =
    "SELECT d.unique_id, d.mime_type, d.blob_id, d.size "
    "FROM documents d JOIN submission_sets s ON s.id = d.submission_set_id "
    "WHERE d.repository_unique_id = $1 AND d.unique_id = ANY ($2::text[]) "
    "AND d.status = $3 AND d.blob_id IS NOT NULL "
    "AND s.expires_at > to_timestamp($4::double precision) "
    "ORDER BY d.unique_id COLLATE \"C\"";

/*
 * RAD-69 names an instance by its SOP Instance UID (XDS-I.b) or, in this
 * network, by the uniqueId of the DocumentEntry carrying it (protocol.md
 * 7: one study sent twice has one SOP UID and two documents).  Rows come
 * sorted by the requested key, the newest document first: a SOP UID
 * named by two submissions gives the latest (an entry's own uniqueId is
 * a new UID, never another instance's SOP UID).
 */
static const char rt_sql_rad69[] =
    "SELECT x.key, x.mime_type, x.blob_id, x.size, x.study_uid, "
    "x.series_uid, x.transfer_syntax FROM ("
    "SELECT d.unique_id AS key, d.id, d.mime_type, d.blob_id, "
    "d.size, i.study_uid, i.series_uid, i.transfer_syntax, "
    "d.submission_set_id, d.repository_unique_id, d.status "
    "FROM documents d JOIN document_instances i ON i.document_id = d.id "
    "WHERE d.unique_id = ANY ($2::text[]) "
    "UNION ALL "
    "SELECT i.sop_uid, d.id, d.mime_type, d.blob_id, d.size, "
    "i.study_uid, i.series_uid, i.transfer_syntax, d.submission_set_id, "
    "d.repository_unique_id, d.status "
    "FROM document_instances i JOIN documents d ON d.id = i.document_id "
    "WHERE i.sop_uid = ANY ($2::text[])) x "
    "JOIN submission_sets s ON s.id = x.submission_set_id "
    "WHERE x.repository_unique_id = $1 AND x.status = $3 "
    "AND x.blob_id IS NOT NULL "
    "AND s.expires_at > to_timestamp($4::double precision) "
    "ORDER BY x.key COLLATE \"C\", x.id DESC";

static void
rt_doc_add(struct rt_req *rq, const struct xdsmsg_docreq *dq, char *study,
    char *series)
{
	struct rt_doc	*d;

	rq->docs = xreallocarray(rq->docs, rq->ndocs + 1, sizeof(*rq->docs));
	d = &rq->docs[rq->ndocs++];
	memset(d, 0, sizeof(*d));
	d->rq = rq;
	d->fd = -1;
	d->home = dq->home;
	d->repository = dq->repository;
	d->document = dq->document;
	d->study = study;
	d->series = series;
}

/* The parsed envelope of an ITI-43 or RAD-69 request: check and look up. */
/*
 * A peer over its failed-lookup limit (ratelimit.h) gets Failure with
 * XDSRepositoryBusy and Retry-After, before the registry is asked.
 */
static int
rt_limited(struct rt_req *rq)
{
	struct ch	*ch = rq->r->ch;
	time_t		 now = time(NULL);
	size_t		 i;

	if (rq->fp == NULL || ratelimit_allowed(ch->lookups, rq->fp, now))
		return (0);
	rq->retry_after = (long)ratelimit_retry_after(ch->lookups, rq->fp,
	    now);
	if (rq->retry_after <= 0)
		rq->retry_after = 1;
	ch_metric_inc("isn_ch_rate_limited_total", rq->txn == SOAP_TXN_RAD69 ?
	    "transaction=\"RAD-69\"" : "transaction=\"ITI-43\"", 1);
	log_warnx("retrieve conn=%s txn=%s event=rate-limited fingerprint=%s "
	    "retry-after=%ld", rt_conn(rq), rt_txn_name(rq), rq->fp,
	    rq->retry_after);
	xdsmsg_errors_clear(&rq->errs);
	xdsmsg_error_add(&rq->errs, XDSMSG_ERROR, RT_ERR_BUSY, NULL, 0,
	    "too many failed lookups from this certificate: retry in %ld s",
	    rq->retry_after);
	for (i = 0; i < rq->ndocs; i++)
		rq->docs[i].found = 0;
	rt_respond(rq);
	return (1);
}

/* Unknown documents asked for: one failed lookup for the peer. */
static void
rt_lookup_failed(struct rt_req *rq)
{
	struct ch	*ch = rq->r->ch;

	if (rq->fp == NULL)
		return;
	ch_metric_inc("isn_ch_failed_lookups_total", rq->txn ==
	    SOAP_TXN_RAD69 ? "transaction=\"RAD-69\"" :
	    "transaction=\"ITI-43\"", 1);
	if (!ratelimit_fail(ch->lookups, rq->fp, time(NULL)))
		log_info("retrieve conn=%s txn=%s event=lookups-exhausted "
		    "fingerprint=%s", rt_conn(rq), rt_txn_name(rq), rq->fp);
}

static void
rt_start(struct rt_req *rq)
{
	const struct ch_conf	*c = rq->r->ch->conf;
	const char		*repo = c->repository_unique_id;
	const char		*v[4];
	struct dbuf		 arr;
	size_t			 i, j, k, nlook = 0;
	char			 now[32];
	int			 bad;

	if (rq->txn == SOAP_TXN_RAD69) {
		bad = xdsmsg_rad69_req_parse(rq->msg.body, &rq->rad69,
		    &rq->errs) == -1;
		for (i = 0; !bad && i < rq->rad69.nstudies; i++) {
			struct xdsmsg_study *st = &rq->rad69.studies[i];

			for (j = 0; j < st->nseries; j++)
				for (k = 0; k < st->series[j].ndocs; k++)
					rt_doc_add(rq, &st->series[j].docs[k],
					    st->uid, st->series[j].uid);
		}
	} else {
		bad = xdsmsg_retrieve_req_parse(rq->msg.body, &rq->iti43,
		    &rq->errs) == -1;
		for (i = 0; !bad && i < rq->iti43.ndocs; i++)
			rt_doc_add(rq, &rq->iti43.docs[i], NULL, NULL);
	}
	if (bad || xdsmsg_errors_count(&rq->errs, XDSMSG_ERROR) > 0) {
		for (i = 0; i < rq->ndocs; i++)
			rq->docs[i].found = 0;
		rq->ndocs = 0;
		rt_respond(rq);
		return;
	}
	if (c->limits.max_documents > 0 &&
	    rq->ndocs > (size_t)c->limits.max_documents) {
		xdsmsg_error_add(&rq->errs, XDSMSG_ERROR, RT_ERR_REPOSITORY,
		    NULL, 0, "%zu documents requested, at most %d at once",
		    rq->ndocs, c->limits.max_documents);
		rq->ndocs = 0;
		rt_respond(rq);
		return;
	}
	for (i = 0; i < rq->ndocs; i++) {
		struct rt_doc *d = &rq->docs[i];

		if (d->repository == NULL || strcmp(d->repository, repo) != 0) {
			d->found = -1;
			xdsmsg_error_add(&rq->errs, XDSMSG_ERROR, RT_ERR_REPO,
			    d->repository, 0, "unknown repository %s (this "
			    "repository is %s)", d->repository != NULL ?
			    d->repository : "", repo);
		} else
			nlook++;
	}
	if (nlook == 0) {
		for (i = 0; i < rq->ndocs; i++)
			rq->docs[i].found = 0;
		rt_respond(rq);
		return;
	}
	if (rt_limited(rq))
		return;
	dbuf_init(&arr, SIZE_MAX - 1);
	rt_uid_array(rq, &arr);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	v[0] = repo;
	v[1] = arr.data;
	v[2] = RT_STATUS_APPROVED;
	v[3] = now;
	rq->querying = 1;
	ch_hold(rq->r->ch);
	db_query(rq->r->ch->db, rq->txn == SOAP_TXN_RAD69 ? rt_sql_rad69 :
	    rt_sql_iti43, 4, v, NULL, NULL, 0, rt_looked_up, rq);
	dbuf_free(&arr);
}

/* ------------------------------------------------------------------ */
/* States. */

static struct rt_req *
rt_new(struct retrieve *r, struct httpd_req *req)
{
	const struct tls_peer	*peer = httpd_req_peer(req);
	struct rt_req		*rq;

	rq = xcalloc(1, sizeof(*rq));
	rq->r = r;
	rq->req = req;
	rq->ids = strcmp(httpd_req_path(req), SOAP_PATH_IDS) == 0;
	rq->txn = rq->ids ? SOAP_TXN_RAD69 : SOAP_TXN_ITI43;
	if (peer != NULL && peer->subject != NULL)
		rq->peer = xstrdup(peer->subject);
	rq->addr = xstrdup(httpd_req_peer_addr(req));
	if (peer != NULL)
		rq->fp = xstrdup(peer->fingerprint);
	dbuf_init(&rq->body, 0);
	dbuf_init(&rq->env, 0);
	return (rq);
}

static void
rt_free(struct rt_req *rq)
{
	size_t	i;

	if (rq->linked)
		TAILQ_REMOVE(&rq->r->reqs, rq, entry);
	if (rq->w != NULL)
		mtom_writer_free(rq->w);
	for (i = 0; i < rq->ndocs; i++) {
		if (rq->docs[i].fd >= 0)
			close(rq->docs[i].fd);
		free(rq->docs[i].mime);
		free(rq->docs[i].blob_id);
		free(rq->docs[i].data);
	}
	free(rq->docs);
	if (rq->mp != NULL)
		mtom_parser_free(rq->mp);
	dbuf_free(&rq->body);
	dbuf_free(&rq->env);
	free(rq->body_err);
	free(rq->peer);
	free(rq->addr);
	free(rq->fp);
	soap_msg_clear(&rq->msg);
	xdsmsg_retrieve_req_clear(&rq->iti43);
	xdsmsg_rad69_req_clear(&rq->rad69);
	xdsmsg_errors_clear(&rq->errs);
	free(rq);
}

/* The request is over: count it, free unless the lookup is pending. */
static void
rt_fini(struct rt_req *rq, int completed)
{
	rq->req = NULL;
	if (rq->linked) {
		TAILQ_REMOVE(&rq->r->reqs, rq, entry);
		rq->linked = 0;
	}
	if (rq->querying)
		return;		/* rt_looked_up counts and frees */
	rt_count(rq, completed && rq->outcome != NULL ? rq->outcome :
	    "aborted");
	if (!completed && rq->w != NULL)
		log_warnx("retrieve txn=%s event=stream-aborted bytes=%llu",
		    rt_txn_name(rq), (unsigned long long)rq->bytes);
	rt_free(rq);
}

/* ------------------------------------------------------------------ */
/* retrieve_handler: the whole request. */

static int
rt_head(struct httpd_req *req, void *arg)
{
	struct retrieve		*r = arg;
	struct rt_req		*rq;
	struct mtom_limits	 ml;
	struct http_ct		 hct;
	const char		*ct, *a;
	char			*cause = NULL;
	size_t			 max;
	int			 ids;

	ids = strcmp(httpd_req_path(req), SOAP_PATH_IDS) == 0;
	if (!rt_is_consumer(r, req)) {
		ch_auth_refuse(r->ch, req, NULL,
		    "retrieve documents (role consumer)");
		return (HTTPD_OK);
	}
	if (strcmp(httpd_req_method(req), "POST") != 0) {
		httpd_reply(req, 405, "text/plain", "POST only\n", 10);
		return (HTTPD_OK);
	}
	if (!ids && strcmp(httpd_req_path(req), SOAP_PATH_REPOSITORY) != 0) {
		httpd_reply(req, 404, "text/plain", "not found\n", 10);
		return (HTTPD_OK);
	}
	ct = httpd_req_header(req, "Content-Type");
	/* A submission announced in the Content-Type: refused unread. */
	if (!ids && ct != NULL && http_ct_parse(ct, &hct, &cause) == 0) {
		a = http_ct_param(&hct, "action");
		if (a != NULL && strcmp(a, SOAP_ACTION_ITI41) == 0) {
			http_ct_free(&hct);
			ch_auth_refuse(r->ch, req, NULL,
			    "submit documents (role source)");
			return (HTTPD_OK);
		}
		http_ct_free(&hct);
	}
	free(cause);
	cause = NULL;
	max = r->ch->conf->limits.max_soap_size ?
	    r->ch->conf->limits.max_soap_size : RT_MAX_SOAP;
	rq = rt_new(r, req);
	rq->linked = 1;
	TAILQ_INSERT_TAIL(&r->reqs, rq, entry);
	httpd_req_set_data(req, rq);
	if (ct != NULL && strncasecmp(ct, "multipart/related", 17) == 0) {
		rq->mtom = 1;
		memset(&ml, 0, sizeof(ml));
		ml.max_root = max;
		ml.max_part = RT_MAX_REQ_PART;
		ml.max_parts = RT_MAX_REQ_PARTS;
		if ((rq->mp = mtom_parser_new(ct, NULL, rq, &ml,
		    &cause)) == NULL)
			rq->body_err = cause;
	} else if (ct != NULL &&
	    strncasecmp(ct, "application/soap+xml", 20) == 0) {
		dbuf_free(&rq->body);
		dbuf_init(&rq->body, max);
	} else {
		static const char m[] = "expected multipart/related or "
		    "application/soap+xml\n";

		rq->outcome = "fault";
		httpd_reply(req, 415, "text/plain", m, sizeof(m) - 1);
	}
	return (HTTPD_OK);
}

/*
 * The MTOM body broke a limit (a retrieve request carries no large
 * attachments): answer now, leaving the rest unread. A submission by a
 * peer without role source is refused as such when its root part, which
 * comes first, names ITI-41.
 */
static void
rt_body_failed(struct rt_req *rq)
{
	const struct mtom_part		*rp = mtom_parser_root_part(rq->mp);
	const struct soap_action	*act;
	struct soap_fault		 f;
	struct xml_limits		 xl;
	const char			*root;
	size_t				 len;

	memset(&f, 0, sizeof(f));
	memset(&xl, 0, sizeof(xl));
	if (!rq->ids && rp != NULL && rp->complete &&
	    (root = mtom_parser_root(rq->mp, &len)) != NULL &&
	    soap_msg_parse_buf(root, len, &xl, &rq->msg, &f) == 0 &&
	    soap_check_request(&rq->msg, SOAP_PATH_REPOSITORY, &act,
	    &f) == 0 && act->txn == SOAP_TXN_ITI41) {
		rq->outcome = "refused";
		rq->counted = 1;
		ch_auth_refuse(rq->r->ch, rq->req, rq->msg.message_id,
		    "submit documents (role source)");
		return;
	}
	soap_fault_clear(&f);
	soap_fault_set(&f, SOAP_SENDER, NULL, "%s", rq->body_err);
	rt_fault(rq, &f);
}

static int
rt_body(struct httpd_req *req, const void *buf, size_t len, void *arg)
{
	struct rt_req	*rq = httpd_req_data(req);
	char		*cause = NULL;

	(void)arg;
	if (rq == NULL || rq->body_err != NULL || rq->too_large ||
	    rq->outcome != NULL)
		return (HTTPD_OK);
	if (rq->mtom) {
		if (mtom_parser_feed(rq->mp, buf, len, &cause) == -1) {
			rq->body_err = cause;
			rt_body_failed(rq);
		}
	} else if (dbuf_add(&rq->body, buf, len) == -1) {
		static const char m[] = "the SOAP envelope is too large\n";

		rq->too_large = 1;
		rq->outcome = "fault";
		httpd_reply(req, 413, "text/plain", m, sizeof(m) - 1);
	}
	return (HTTPD_OK);
}

static void
rt_done(struct httpd_req *req, void *arg)
{
	struct rt_req			*rq = httpd_req_data(req);
	const struct soap_action	*act;
	struct soap_fault		 f;
	struct xml_limits		 xl;
	const char			*root;
	char				*cause = NULL;
	size_t				 len;

	(void)arg;
	if (rq == NULL || rq->too_large || rq->outcome != NULL)
		return;
	memset(&f, 0, sizeof(f));
	if (rq->body_err == NULL && rq->mtom &&
	    mtom_parser_finish(rq->mp, &cause) == -1)
		rq->body_err = cause;
	if (rq->body_err != NULL) {
		soap_fault_set(&f, SOAP_SENDER, NULL, "%s", rq->body_err);
		rt_fault(rq, &f);
		return;
	}
	if (rq->mtom)
		root = mtom_parser_root(rq->mp, &len);
	else {
		root = rq->body.len ? rq->body.data : "";
		len = rq->body.len;
	}
	memset(&xl, 0, sizeof(xl));
	xl.max_size = rq->r->ch->conf->limits.max_soap_size ?
	    rq->r->ch->conf->limits.max_soap_size : RT_MAX_SOAP;
	if (soap_msg_parse_buf(root, len, &xl, &rq->msg, &f) == -1 ||
	    soap_check_request(&rq->msg, httpd_req_path(req), &act,
	    &f) == -1) {
		rt_fault(rq, &f);
		return;
	}
	if (act->txn == SOAP_TXN_ITI41) {
		/* Only peers without role source come here. */
		rq->outcome = "refused";
		rq->counted = 1;	/* not a retrieval: refused_total */
		ch_auth_refuse(rq->r->ch, req, rq->msg.message_id,
		    "submit documents (role source)");
		return;
	}
	if (act->txn != (rq->ids ? SOAP_TXN_RAD69 : SOAP_TXN_ITI43)) {
		soap_fault_set(&f, SOAP_SENDER, "wsa:ActionNotSupported",
		    "%s is not served here", act->name);
		rt_fault(rq, &f);
		return;
	}
	rq->txn = act->txn;
	rt_start(rq);
}

static void
rt_handler_fini(struct httpd_req *req, int completed, void *arg)
{
	struct rt_req	*rq = httpd_req_data(req);

	(void)arg;
	if (rq == NULL)
		return;
	rt_fini(rq, completed);
}

const struct httpd_handler retrieve_handler = {
	rt_head, rt_body, rt_done, rt_handler_fini, "POST"
};

int
retrieve_owns(struct retrieve *r, struct httpd_req *req)
{
	struct rt_req	*rq;
	void		*data = httpd_req_data(req);

	if (r == NULL || data == NULL)
		return (0);
	TAILQ_FOREACH(rq, &r->reqs, entry)
		if (rq == data && rq->req == req)
			return (1);
	return (0);
}

/* ------------------------------------------------------------------ */
/* The iti41 delegate: ITI-43 from a peer with role source. */

static void *
rt_delegate_start(struct httpd_req *req, int mtom, struct soap_msg *msg,
    void *arg)
{
	struct retrieve	*r = arg;
	struct rt_req	*rq;

	rq = rt_new(r, req);
	rq->mtom = mtom;
	rq->msg = *msg;
	memset(msg, 0, sizeof(*msg));
	rq->txn = SOAP_TXN_ITI43;
	if (!rt_is_consumer(r, req)) {
		rq->outcome = "refused";
		ch_auth_refuse(r->ch, req, rq->msg.message_id,
		    "retrieve documents (role consumer)");
		return (rq);
	}
	rt_start(rq);
	return (rq);
}

static void
rt_delegate_fini(void *state, int completed, void *arg)
{
	(void)arg;
	if (state != NULL)
		rt_fini(state, completed);
}

const struct iti41_delegate *
retrieve_delegate(struct retrieve *r)
{
	return (&r->delegate);
}

struct retrieve *
retrieve_new(struct ch *ch)
{
	static const char	*outcomes[] = { "success", "partial",
				    "failure", "fault", "refused", "aborted" };
	struct retrieve		*r;
	char			 lab[64];
	size_t			 i;

	if (!rt_metric_defined) {
		ch_metric_define(RT_ITI43_METRIC, CH_METRIC_COUNTER,
		    "ITI-43 Retrieve Document Set requests by outcome.");
		ch_metric_define(RT_RAD69_METRIC, CH_METRIC_COUNTER,
		    "RAD-69 Retrieve Imaging Document Set requests by "
		    "outcome.");
		for (i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++) {
			snprintf(lab, sizeof(lab), "outcome=\"%s\"",
			    outcomes[i]);
			ch_metric_inc(RT_ITI43_METRIC, lab, 0);
			ch_metric_inc(RT_RAD69_METRIC, lab, 0);
		}
		ch_metric_define(RT_BYTES_METRIC, CH_METRIC_COUNTER,
		    "Bytes of ITI-43 and RAD-69 responses sent.");
		ch_metric_inc(RT_BYTES_METRIC, "transaction=\"ITI-43\"", 0);
		ch_metric_inc(RT_BYTES_METRIC, "transaction=\"RAD-69\"", 0);
		rt_metric_defined = 1;
	}
	r = xcalloc(1, sizeof(*r));
	r->ch = ch;
	TAILQ_INIT(&r->reqs);
	r->delegate.txn = SOAP_TXN_ITI43;
	r->delegate.start = rt_delegate_start;
	r->delegate.fini = rt_delegate_fini;
	r->delegate.arg = r;
	return (r);
}

void
retrieve_free(struct retrieve *r)
{
	struct rt_req	*rq;

	if (r == NULL)
		return;
	while ((rq = TAILQ_FIRST(&r->reqs)) != NULL) {
		TAILQ_REMOVE(&r->reqs, rq, entry);
		rq->linked = 0;
	}
	free(r);
}
