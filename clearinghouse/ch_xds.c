/*
 * ch_xds.c: the XDS HTTPS listener of isn-clearinghouse: httpd over the
 * daemon's TLS context (client certificate required), POST
 * /services/xdsrepositoryb to the ITI-41 handler (iti41.c, role source)
 * or, for ITI-43, to retrieve.c (role consumer) behind a head-callback
 * shim, POST /services/ImagingDocumentSource (RAD-69) to retrieve.c, POST
 * /services/xdsregistryb to ITI-18 (query.c) for peers with role consumer,
 * and the ITI-41 and ITI-18 counters as metrics. See
 * docs/design/clearinghouse.md.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "audit.h"
#include "blobq.h"
#include "ch.h"
#include "ch_auth.h"
#include "dbuf.h"
#include "httpd.h"
#include "iti41.h"
#include "log.h"
#include "query.h"
#include "ratelimit.h"
#include "retrieve.h"
#include "soap.h"
#include "sq.h"
#include "xdsmsg.h"
#include "xmalloc.h"
#include "xml.h"

#define CH_XDS_METRIC		"isn_ch_iti41_requests_total"
#define CH_XDS_REFUSED_METRIC	"isn_ch_xds_refused_total"
#define CH_XDS_QUERY_METRIC	"isn_ch_iti18_requests_total"
#define CH_XDS_LOOKUP_METRIC	"isn_ch_failed_lookups_total"
#define CH_XDS_BUSY_METRIC	"isn_ch_rate_limited_total"
#define CH_XDS_IN_METRIC	"isn_ch_xds_bytes_in_total"
#define CH_XDS_OUT_METRIC	"isn_ch_xds_bytes_out_total"
#define CH_XDS_TIME_METRIC	"isn_ch_xds_request_duration_seconds"
#define CH_XDS_DOCS_METRIC	"isn_ch_documents_stored_total"
#define CH_XDS_REGISTRY_BUSY	"XDSRegistryBusy"
#define CH_XDS_SOAP_CTYPE	"application/soap+xml; charset=UTF-8"
#define CH_XDS_MAX_SOAP		(64 * 1024 * 1024)
#define CH_XDS_MAX_RESPONSE	(80 * 1024 * 1024)
#define CH_XDS_FAULT_CTYPE	"application/soap+xml; charset=UTF-8; " \
				"action=\"" SOAP_FAULT_ACTION "\""

struct ch_xds {
	struct ch		*ch;
	struct httpd		*httpd;
	struct iti41_ctx	 ctx;
	struct iti41_stats	 seen;		/* already exported */
	struct retrieve		*retrieve;	/* ITI-43, RAD-69 */
	char			*repository_unique_id;
	char			*affinity_domain;
	int			 stopping;
};

static int	ch_xds_metric_defined;

/* The ITI-41 counters not exported yet become metric increments. */
void
ch_xds_metrics(struct ch_xds *x)
{
	const struct iti41_stats	*s;

	if (x == NULL)
		return;
	s = &x->ctx.stats;
	ch_metric_inc(CH_XDS_METRIC, "outcome=\"success\"",
	    s->success - x->seen.success);
	ch_metric_inc(CH_XDS_METRIC, "outcome=\"failure\"",
	    s->failure - x->seen.failure);
	ch_metric_inc(CH_XDS_METRIC, "outcome=\"fault\"",
	    s->faults - x->seen.faults);
	ch_metric_inc(CH_XDS_METRIC, "outcome=\"aborted\"",
	    s->aborted - x->seen.aborted);
	ch_metric_inc(CH_XDS_DOCS_METRIC, "", s->documents - x->seen.documents);
	x->seen = *s;
}

/* httpd's observer: bytes and latency of every request by endpoint. */
static void
ch_xds_observe(const struct httpd_req_stats *rs, void *arg)
{
	const char	*lab;

	(void)arg;
	if (strcmp(rs->path, SOAP_PATH_REPOSITORY) == 0)
		lab = "endpoint=\"repository\"";
	else if (strcmp(rs->path, SOAP_PATH_REGISTRY) == 0)
		lab = "endpoint=\"registry\"";
	else if (strcmp(rs->path, SOAP_PATH_IDS) == 0)
		lab = "endpoint=\"ids\"";
	else
		lab = "endpoint=\"other\"";
	ch_metric_inc(CH_XDS_IN_METRIC, lab, rs->bytes_in);
	ch_metric_inc(CH_XDS_OUT_METRIC, lab, rs->bytes_out);
	ch_metric_observe(CH_XDS_TIME_METRIC, lab, rs->seconds);
}

/* 1 when the peer has the role; otherwise refused (403) and 0. */
static int
ch_xds_authorise(struct ch_xds *x, struct httpd_req *req, int role,
    const char *what)
{
	if (ch_peer_authorise(x->ch->conf, httpd_req_peer(req), role) != NULL)
		return (1);
	ch_auth_refuse(x->ch, req, NULL, what);
	return (0);
}

/*
 * The repository path serves ITI-41 (role source) and ITI-43 (role
 * consumer), told apart by the action inside the body. A peer with role
 * source goes to iti41, which hands ITI-43 over to retrieve.c (the
 * delegate checks role consumer); a peer with role consumer only goes to
 * retrieve_handler, which reads the envelope without storing anything and
 * refuses ITI-41 with the same 403 fault; anyone else is refused now.
 */
static int
ch_xds_head(struct httpd_req *req, void *arg)
{
	struct ch_xds		*x = arg;
	const struct tls_peer	*id = httpd_req_peer(req);

	if (ch_peer_authorise(x->ch->conf, id, CH_ROLE_SOURCE) != NULL)
		return (iti41_handler.head(req, &x->ctx));
	if (ch_peer_authorise(x->ch->conf, id, CH_ROLE_CONSUMER) != NULL)
		return (retrieve_handler.head(req, x->retrieve));
	ch_xds_authorise(x, req, CH_ROLE_SOURCE,
	    "submit documents (role source)");
	return (HTTPD_OK);
}

static int
ch_xds_body(struct httpd_req *req, const void *buf, size_t len, void *arg)
{
	struct ch_xds	*x = arg;

	if (retrieve_owns(x->retrieve, req))
		return (retrieve_handler.body(req, buf, len, x->retrieve));
	return (iti41_handler.body(req, buf, len, &x->ctx));
}

static void
ch_xds_done(struct httpd_req *req, void *arg)
{
	struct ch_xds	*x = arg;

	if (retrieve_owns(x->retrieve, req))
		retrieve_handler.done(req, x->retrieve);
	else
		iti41_handler.done(req, &x->ctx);
}

/* Also after a refusal: iti41's fini then finds no state and returns. */
static void
ch_xds_fini(struct httpd_req *req, int completed, void *arg)
{
	struct ch_xds	*x = arg;

	if (retrieve_owns(x->retrieve, req))
		retrieve_handler.fini(req, completed, x->retrieve);
	else
		iti41_handler.fini(req, completed, &x->ctx);
	ch_xds_metrics(x);
}

static const struct httpd_handler ch_xds_handler = {
	ch_xds_head, ch_xds_body, ch_xds_done, ch_xds_fini, "POST"
};

/* ------------------------------------------------------------------ */
/*
 * /services/xdsregistryb: the envelope into a bounded buffer (peers with
 * role consumer or source), then the action decides: ITI-18 (consumer)
 * goes to query_run, ITI-42 (source) to iti41_register_start; the other
 * role gets the 403 SOAP fault then. The state outlives the httpd request
 * when the peer goes away while the query runs (fini before the
 * callback): whichever of the two comes last frees it. A running query
 * holds the daemon (ch_hold). Each answered query is audited (ATNA Query).
 */
struct ch_xds_q {
	struct ch_xds		*x;
	struct httpd_req	*req;		/* NULL once fini ran */
	struct dbuf		 body;
	struct soap_msg		 msg;
	int			 too_large;
	int			 running;	/* query_run callback pending */
	int			 counted;	/* outcome in the metrics */
	void			*reg;		/* ITI-42: iti41's state */
	char			*addr;		/* the peer's IP, for the audit */
	char			*peer;		/* for the audit record: */
	char			*query_id;
	char			*patient;	/* CX of the query, or NULL */
	char			*query;		/* the AdhocQueryRequest */
	size_t			 query_len;
	char			*fp;		/* peer certificate, rate limit */
};

static void
ch_xds_q_count(struct ch_xds_q *q, const char *outcome)
{
	char	lab[64];

	if (q->counted)
		return;
	q->counted = 1;
	snprintf(lab, sizeof(lab), "outcome=\"%s\"", outcome);
	ch_metric_inc(CH_XDS_QUERY_METRIC, lab, 1);
}

static void
ch_xds_q_free(struct ch_xds_q *q)
{
	dbuf_free(&q->body);
	soap_msg_clear(&q->msg);
	free(q->peer);
	free(q->addr);
	free(q->query_id);
	free(q->patient);
	free(q->query);
	free(q->fp);
	free(q);
}

/* iti41's audit hook (ITI-41 and ITI-42 imports): arg is the ch. */
static void
ch_xds_q_audit_import(const struct audit_event *ev, void *arg)
{
	ch_audit(arg, ev);
}

/* The ATNA Query record of an answered ITI-18 (xds.md section 7). */
static void
ch_xds_q_audit(struct ch_xds_q *q, int outcome)
{
	struct audit_event	ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = AUDIT_QUERY;
	ev.outcome = outcome;
	ev.peer_user = q->peer;
	ev.peer_addr = q->addr;
	ev.local_user = SOAP_PATH_REGISTRY;
	ev.patient_id = q->patient;
	ev.query_id = q->query_id;
	ev.query = q->query;
	ev.query_len = q->query_len;
	ch_audit(q->x->ch, &ev);
}

/* What the audit record names: query id, patient CX, request bytes. */
static void
ch_xds_q_audit_keep(struct ch_xds_q *q, const struct xdsmsg_query_req *qr)
{
	xmlBuffer	*xb;
	const char	*v, *e;
	size_t		 i, n;

	if (qr->id != NULL)
		q->query_id = xstrdup(qr->id);
	for (i = 0; q->patient == NULL && i < qr->nslots; i++) {
		n = strlen(qr->slots[i].name);
		if (n < 9 || strcasecmp(qr->slots[i].name + n - 9,
		    "PatientId") != 0 || qr->slots[i].nvalues == 0)
			continue;
		/* 'cx' or ('cx'): the first quoted value. */
		v = qr->slots[i].values[0];
		if ((v = strchr(v, '\'')) != NULL &&
		    (e = strchr(v + 1, '\'')) != NULL)
			q->patient = xstrndup(v + 1, (size_t)(e - v - 1));
		else
			q->patient = xstrdup(qr->slots[i].values[0]);
	}
	if (q->msg.body != NULL && (xb = xmlBufferCreate()) != NULL) {
		if (xmlNodeDump(xb, q->msg.doc, q->msg.body, 0, 0) > 0) {
			q->query_len = (size_t)xmlBufferLength(xb);
			q->query = xstrndup((const char *)xmlBufferContent(xb),
			    q->query_len);
		}
		xmlBufferFree(xb);
	}
}

static void
ch_xds_q_fault(struct ch_xds_q *q, struct soap_fault *f)
{
	struct dbuf	b;

	ch_xds_q_count(q, "fault");
	dbuf_init(&b, 64 * 1024);
	if (soap_fault_build(&b, f, q->msg.message_id) == -1)
		httpd_reply(q->req, 500, "text/plain", "internal error\n", 15);
	else
		httpd_reply(q->req, soap_fault_http_status(f),
		    CH_XDS_FAULT_CTYPE, b.data, b.len);
	dbuf_free(&b);
	soap_fault_clear(f);
}

/*
 * An AdhocQueryResponse body in its envelope, HTTP 200; with a
 * Retry-After header when retry_after > 0 (XDSRegistryBusy).
 */
static void
ch_xds_q_reply(struct ch_xds_q *q, const char *body, size_t len,
    long retry_after)
{
	const struct soap_action	*act = soap_action_get(SOAP_TXN_ITI18);
	struct httpd_hdr		 h[3];
	struct dbuf			 env;
	char				*ct, ra[24];

	dbuf_init(&env, CH_XDS_MAX_RESPONSE);
	if (soap_response(&env, act->response, q->msg.message_id, body,
	    len) == -1) {
		log_warnx("xds conn=%s iti18: the response envelope is too "
		    "large", httpd_req_conn_id(q->req));
		httpd_reply(q->req, 500, "text/plain", "internal error\n", 15);
	} else {
		xasprintf(&ct, CH_XDS_SOAP_CTYPE "; action=\"%s\"",
		    act->response);
		if (retry_after <= 0)
			httpd_reply(q->req, 200, ct, env.data, env.len);
		else {
			snprintf(ra, sizeof(ra), "%ld", retry_after);
			h[0].name = "Content-Type";
			h[0].value = ct;
			h[1].name = "Retry-After";
			h[1].value = ra;
			h[2].name = h[2].value = NULL;
			if (httpd_reply_start(q->req, 200, h,
			    (int64_t)env.len) == 0 &&
			    httpd_reply_chunk(q->req, env.data, env.len) == 0)
				httpd_reply_end(q->req);
		}
		free(ct);
	}
	dbuf_free(&env);
}

static const char *
ch_xds_q_outcome(const char *body, size_t len)
{
	static const char	 s[] = "ResponseStatusType:Success\"";
	size_t			 n = len < 1024 ? len : 1024;
	size_t			 i;

	/* The status attribute is on the root element, near the start. */
	for (i = 0; i + sizeof(s) - 1 <= n; i++)
		if (memcmp(body + i, s, sizeof(s) - 1) == 0)
			return ("success");
	return ("failure");
}

static void
ch_xds_q_done(const char *body, size_t len, long nfound, const char *cause,
    void *arg)
{
	struct ch_xds_q	*q = arg;
	struct ch	*ch = q->x->ch;

	q->running = 0;
	if (cause != NULL)
		log_warnx("xds iti18: %s", cause);
	if (nfound == 0 && q->fp != NULL) {
		/* Nothing for these parameters: a failed lookup. */
		ch_metric_inc(CH_XDS_LOOKUP_METRIC, "transaction=\"ITI-18\"",
		    1);
		if (!ratelimit_fail(ch->lookups, q->fp, time(NULL)))
			log_info("xds iti18 event=lookups-exhausted "
			    "fingerprint=%s", q->fp);
	}
	ch_xds_q_audit(q, cause == NULL && strcmp(ch_xds_q_outcome(body, len),
	    "success") == 0 ? AUDIT_SUCCESS : AUDIT_SERIOUS_FAILURE);
	if (q->req == NULL) {
		ch_xds_q_count(q, "aborted");
		ch_xds_q_free(q);
	} else {
		ch_xds_q_count(q, cause != NULL ? "failure" :
		    ch_xds_q_outcome(body, len));
		ch_xds_q_reply(q, body, len, 0);	/* fini may free q */
	}
	ch_release(ch);
}

/*
 * A Failure AdhocQueryResponse for request errors found before sq, or
 * with retry_after > 0 for a peer over its failed-lookup limit.
 */
static void
ch_xds_q_fail(struct ch_xds_q *q, struct xdsmsg_errors *e, long retry_after)
{
	struct xdsmsg_query_resp	 r;
	struct dbuf			 b;

	if (e->n == 0)
		xdsmsg_error_add(e, XDSMSG_ERROR, SQ_ERR_REGISTRY, NULL, 0,
		    "malformed AdhocQueryRequest");
	memset(&r, 0, sizeof(r));
	r.status = XDSMSG_FAILURE;
	r.errors = *e;
	dbuf_init(&b, SIZE_MAX);
	ch_xds_q_count(q, retry_after > 0 ? "busy" : "failure");
	ch_xds_q_audit(q, AUDIT_SERIOUS_FAILURE);
	if (xdsmsg_query_resp_build(&b, &r, NULL, 0) == -1)
		httpd_reply(q->req, 500, "text/plain", "internal error\n", 15);
	else
		ch_xds_q_reply(q, b.data, b.len, retry_after);
	dbuf_free(&b);
}

/*
 * A peer whose failed lookups are over the limit (ratelimit.h) gets a
 * Failure with XDSRegistryBusy and Retry-After, before any registry work.
 */
static int
ch_xds_q_limited(struct ch_xds_q *q)
{
	struct ch		*ch = q->x->ch;
	const struct tls_peer	*id = httpd_req_peer(q->req);
	struct xdsmsg_errors	 e = { NULL, 0 };
	time_t			 now = time(NULL);
	long			 ra;

	if (id == NULL)
		return (0);
	q->fp = xstrdup(id->fingerprint);
	if (ratelimit_allowed(ch->lookups, q->fp, now))
		return (0);
	ra = (long)ratelimit_retry_after(ch->lookups, q->fp, now);
	ch_metric_inc(CH_XDS_BUSY_METRIC, "transaction=\"ITI-18\"", 1);
	log_warnx("xds conn=%s iti18 event=rate-limited fingerprint=%s "
	    "retry-after=%ld", httpd_req_conn_id(q->req), q->fp, ra);
	xdsmsg_error_add(&e, XDSMSG_ERROR, CH_XDS_REGISTRY_BUSY, NULL, 0,
	    "too many failed lookups from this certificate: retry in %ld s",
	    ra);
	ch_xds_q_fail(q, &e, ra > 0 ? ra : 1);
	xdsmsg_errors_clear(&e);
	return (1);
}

static void
ch_xds_q_run(struct ch_xds_q *q)
{
	struct ch_xds			*x = q->x;
	const struct ch_conf		*c = x->ch->conf;
	const struct soap_action	*act;
	struct soap_fault		 f;
	struct xml_limits		 xl;
	struct xdsmsg_query_req		 qr;
	struct xdsmsg_errors		 e = { NULL, 0 };
	struct query_settings		 set;
	struct sq_slot			*slots;
	struct sq_query			*sq;
	size_t				 i;

	memset(&f, 0, sizeof(f));
	memset(&xl, 0, sizeof(xl));
	xl.max_size = c->limits.max_soap_size ? c->limits.max_soap_size :
	    CH_XDS_MAX_SOAP;
	if (soap_msg_parse_buf(q->body.len ? q->body.data : "", q->body.len,
	    &xl, &q->msg, &f) == -1 ||
	    soap_check_request(&q->msg, SOAP_PATH_REGISTRY, &act, &f) == -1) {
		ch_xds_q_fault(q, &f);
		return;
	}
	/* The head let sources and consumers in: the action decides. */
	if (act->txn == SOAP_TXN_ITI42) {
		q->counted = 1;		/* counted with ITI-41 (iti41_stats) */
		if (ch_xds_authorise(x, q->req, CH_ROLE_SOURCE,
		    "register documents (role source)"))
			iti41_register_start(&x->ctx, q->req, &q->msg,
			    &q->reg);
		return;
	}
	if (act->txn != SOAP_TXN_ITI18) {
		soap_fault_set(&f, SOAP_SENDER, "wsa:ActionNotSupported",
		    "%s is not served here", act->name);
		ch_xds_q_fault(q, &f);
		return;
	}
	if (!ch_xds_authorise(x, q->req, CH_ROLE_CONSUMER,
	    "query the registry (role consumer)")) {
		q->counted = 1;		/* in isn_ch_xds_refused_total */
		return;
	}
	memset(&qr, 0, sizeof(qr));
	if (xdsmsg_query_req_parse(q->msg.body, &qr, &e) == -1 ||
	    qr.id == NULL) {
		ch_xds_q_audit_keep(q, &qr);
		ch_xds_q_fail(q, &e, 0);
		xdsmsg_errors_clear(&e);
		xdsmsg_query_req_clear(&qr);
		return;
	}
	xdsmsg_errors_clear(&e);
	ch_xds_q_audit_keep(q, &qr);
	if (ch_xds_q_limited(q)) {
		xdsmsg_query_req_clear(&qr);
		return;
	}
	slots = xcalloc(qr.nslots + 1, sizeof(*slots));
	for (i = 0; i < qr.nslots; i++) {
		slots[i].name = qr.slots[i].name;
		slots[i].values = (const char *const *)qr.slots[i].values;
		slots[i].nvalues = qr.slots[i].nvalues;
		slots[i].line = qr.slots[i].line;
	}
	sq = sq_parse(qr.id, slots, qr.nslots);
	memset(&set, 0, sizeof(set));
	set.limit = c->limits.query_result_limit;
	set.home = c->home_community_id;
	q->running = 1;
	ch_hold(x->ch);
	query_run(x->ch->base, x->ch->db, &set, sq, qr.rtype, time(NULL),
	    ch_xds_q_done, q);
	sq_query_free(sq);
	free(slots);
	xdsmsg_query_req_clear(&qr);
}

static int
ch_xds_q_head(struct httpd_req *req, void *arg)
{
	struct ch_xds		*x = arg;
	struct ch_xds_q		*q;
	const struct tls_peer	*peer;
	const char		*ct;
	size_t			 max;

	/* ITI-18 (consumer) or ITI-42 (source): ch_xds_q_run decides. */
	if (!ch_xds_authorise(x, req, CH_ROLE_CONSUMER | CH_ROLE_SOURCE,
	    "use the registry (role consumer or source)"))
		return (HTTPD_OK);
	if (strcmp(httpd_req_method(req), "POST") != 0) {
		httpd_reply(req, 405, "text/plain", "POST only\n", 10);
		return (HTTPD_OK);
	}
	if (strcmp(httpd_req_path(req), SOAP_PATH_REGISTRY) != 0) {
		httpd_reply(req, 404, "text/plain", "not found\n", 10);
		return (HTTPD_OK);
	}
	ct = httpd_req_header(req, "Content-Type");
	if (ct == NULL || strncasecmp(ct, "application/soap+xml", 20) != 0) {
		static const char m[] = "expected application/soap+xml\n";

		httpd_reply(req, 415, "text/plain", m, sizeof(m) - 1);
		return (HTTPD_OK);
	}
	max = x->ch->conf->limits.max_soap_size;
	q = xcalloc(1, sizeof(*q));
	q->x = x;
	q->req = req;
	if ((peer = httpd_req_peer(req)) != NULL)
		q->peer = xstrdup(peer->subject);
	q->addr = xstrdup(httpd_req_peer_addr(req));
	dbuf_init(&q->body, max ? max : CH_XDS_MAX_SOAP);
	httpd_req_set_data(req, q);
	return (HTTPD_OK);
}

static int
ch_xds_q_body(struct httpd_req *req, const void *buf, size_t len, void *arg)
{
	struct ch_xds_q	*q = httpd_req_data(req);
	static const char m[] = "the SOAP envelope is too large\n";

	(void)arg;
	if (q == NULL || q->too_large)
		return (HTTPD_OK);
	if (dbuf_add(&q->body, buf, len) == -1) {
		/* The rest of the body is left unread. */
		q->too_large = 1;
		ch_xds_q_count(q, "too_large");
		httpd_reply(req, 413, "text/plain", m, sizeof(m) - 1);
	}
	return (HTTPD_OK);
}

static void
ch_xds_q_req_done(struct httpd_req *req, void *arg)
{
	struct ch_xds_q	*q = httpd_req_data(req);

	(void)arg;
	if (q == NULL || q->too_large)
		return;
	ch_xds_q_run(q);
}

static void
ch_xds_q_fini(struct httpd_req *req, int completed, void *arg)
{
	struct ch_xds_q	*q = httpd_req_data(req);

	(void)arg;
	if (q == NULL)
		return;
	q->req = NULL;
	if (q->reg != NULL) {
		iti41_register_fini(q->reg, completed);
		q->reg = NULL;
		ch_xds_metrics(q->x);
	}
	if (q->running)
		return;		/* ch_xds_q_done counts and frees */
	if (!completed)
		ch_xds_q_count(q, "aborted");
	ch_xds_q_free(q);
}

static const struct httpd_handler ch_xds_q_handler = {
	ch_xds_q_head, ch_xds_q_body, ch_xds_q_req_done, ch_xds_q_fini, "POST"
};

/* The reloadable values (retention, limits) from conf. */
void
ch_xds_reconfigure(struct ch_xds *x, const struct ch_conf *c)
{
	if (x == NULL)
		return;
	x->ctx.retention = (long)c->retention;
	x->ctx.limits.max_soap = c->limits.max_soap_size;
	x->ctx.limits.max_doc = c->limits.max_document_size;
	/* The SOAP root part plus one MIME part per document. */
	x->ctx.limits.max_parts = (size_t)c->limits.max_documents + 1;
}

struct ch_xds *
ch_xds_start(struct ch *ch, const char *addr, SSL_CTX *tls, char **cause)
{
	const struct ch_conf	*c = ch->conf;
	struct httpd_conf	 hc;
	struct ch_xds		*x;
	static const char	*outcomes[] = { "success", "failure",
				    "fault", "aborted" };
	static const char	*qoutcomes[] = { "success", "failure",
				    "fault", "too_large", "busy", "aborted" };
	char			 lab[64];
	size_t			 i;

	if (!ch_xds_metric_defined) {
		ch_metric_define(CH_XDS_METRIC, CH_METRIC_COUNTER,
		    "ITI-41 Provide and Register requests by outcome.");
		for (i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++) {
			snprintf(lab, sizeof(lab), "outcome=\"%s\"",
			    outcomes[i]);
			ch_metric_inc(CH_XDS_METRIC, lab, 0);
		}
		ch_metric_define(CH_XDS_REFUSED_METRIC, CH_METRIC_COUNTER,
		    "XDS requests refused: peer not authorised for the role.");
		ch_metric_inc(CH_XDS_REFUSED_METRIC, "", 0);
		ch_metric_define(CH_XDS_QUERY_METRIC, CH_METRIC_COUNTER,
		    "ITI-18 Registry Stored Query requests by outcome.");
		for (i = 0; i < sizeof(qoutcomes) / sizeof(qoutcomes[0]);
		    i++) {
			snprintf(lab, sizeof(lab), "outcome=\"%s\"",
			    qoutcomes[i]);
			ch_metric_inc(CH_XDS_QUERY_METRIC, lab, 0);
		}
		ch_metric_define(CH_XDS_IN_METRIC, CH_METRIC_COUNTER,
		    "Request body bytes received on the XDS listener.");
		ch_metric_define(CH_XDS_OUT_METRIC, CH_METRIC_COUNTER,
		    "Reply bytes sent on the XDS listener.");
		ch_metric_define(CH_XDS_TIME_METRIC, CH_METRIC_HISTOGRAM,
		    "Time from a request's head to the end of its reply.");
		ch_metric_define(CH_XDS_DOCS_METRIC, CH_METRIC_COUNTER,
		    "Documents stored by committed ITI-41 and ITI-42 "
		    "submissions.");
		ch_metric_inc(CH_XDS_DOCS_METRIC, "", 0);
		ch_xds_metric_defined = 1;
	}
	x = xcalloc(1, sizeof(*x));
	x->ch = ch;
	x->repository_unique_id = xstrdup(c->repository_unique_id);
	x->affinity_domain = c->affinity_domain != NULL ?
	    xstrdup(c->affinity_domain) : NULL;
	x->ctx.db = ch->db;
	x->ctx.blobs = ch->blobs;
	/* Attachments are written and hashed off the loop (iti41.c). */
	if ((x->ctx.writer = blobq_new(ch->base, cause)) == NULL)
		goto fail;
	x->ctx.repository_unique_id = x->repository_unique_id;
	x->ctx.affinity_domain = x->affinity_domain;
	x->retrieve = retrieve_new(ch);
	x->ctx.delegate = retrieve_delegate(x->retrieve);
	x->ctx.audit = ch_xds_q_audit_import;
	x->ctx.audit_arg = ch;
	ch_xds_reconfigure(x, c);

	memset(&hc, 0, sizeof(hc));
	hc.tls = tls;
	hc.require_peer = 1;
	hc.max_conns = (size_t)c->limits.max_connections;
	hc.limits.max_header_bytes = c->limits.max_header_bytes;
	hc.header_timeout_ms = (int)(c->timeouts.header * 1000);
	hc.body_timeout_ms = (int)(c->timeouts.io * 1000);
	hc.write_timeout_ms = (int)(c->timeouts.io * 1000);
	hc.keepalive_timeout_ms = (int)(c->timeouts.idle * 1000);
	hc.observe = ch_xds_observe;
	/* Keep-alive connections of busy peers (PHRs polling) live longer. */
	hc.max_requests = 1000;
	if ((x->httpd = httpd_new(ch->base, &hc)) == NULL) {
		*cause = xstrdup("could not create the HTTP server");
		goto fail;
	}
	if (httpd_listen(x->httpd, addr, cause) == -1)
		goto fail;
	httpd_route(x->httpd, SOAP_PATH_REPOSITORY, &ch_xds_handler, x);
	httpd_route(x->httpd, SOAP_PATH_REGISTRY, &ch_xds_q_handler, x);
	httpd_route(x->httpd, SOAP_PATH_IDS, &retrieve_handler, x->retrieve);
	log_info("xds listening addr=%s port=%d endpoints=%s,%s,%s", addr,
	    httpd_port(x->httpd), SOAP_PATH_REPOSITORY, SOAP_PATH_REGISTRY,
	    SOAP_PATH_IDS);
	return (x);
fail:
	if (x->httpd != NULL)
		httpd_free(x->httpd);
	blobq_free(x->ctx.writer);
	retrieve_free(x->retrieve);
	free(x->repository_unique_id);
	free(x->affinity_domain);
	free(x);
	return (NULL);
}

int
ch_xds_port(const struct ch_xds *x)
{
	return (httpd_port(x->httpd));
}

static void
ch_xds_stopped(struct httpd *h, void *arg)
{
	struct ch_xds	*x = arg;

	(void)h;
	log_info("xds drained");
	ch_release(x->ch);
}

/* Graceful: requests in flight finish within drain_s, then ch_release. */
void
ch_xds_stop(struct ch_xds *x, long long drain_s)
{
	if (x == NULL || x->stopping)
		return;
	x->stopping = 1;
	ch_hold(x->ch);
	httpd_stop(x->httpd, (int)(drain_s * 1000), ch_xds_stopped, x);
}

/* After db_free (whose callbacks may still answer on these requests). */
void
ch_xds_free(struct ch_xds *x)
{
	if (x == NULL)
		return;
	httpd_free(x->httpd);
	blobq_free(x->ctx.writer);	/* uploads cut short end here */
	retrieve_free(x->retrieve);
	free(x->repository_unique_id);
	free(x->affinity_domain);
	free(x);
}
