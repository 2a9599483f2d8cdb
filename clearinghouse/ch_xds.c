/*
 * ch_xds.c: the XDS HTTPS listener of isn-clearinghouse: httpd over the
 * daemon's TLS context (client certificate required), POST
 * /services/xdsrepositoryb to the ITI-41 handler (iti41.c) behind a
 * head-callback shim that lets only peers with role source through, and
 * the ITI-41 counters as metrics. See docs/design/clearinghouse.md.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ch.h"
#include "ch_auth.h"
#include "dbuf.h"
#include "httpd.h"
#include "iti41.h"
#include "log.h"
#include "soap.h"
#include "xmalloc.h"

#define CH_XDS_METRIC		"isn_ch_iti41_requests_total"
#define CH_XDS_REFUSED_METRIC	"isn_ch_xds_refused_total"
#define CH_XDS_FAULT_CTYPE	"application/soap+xml; charset=UTF-8; " \
				"action=\"" SOAP_FAULT_ACTION "\""

struct ch_xds {
	struct ch		*ch;
	struct httpd		*httpd;
	struct iti41_ctx	 ctx;
	struct iti41_stats	 seen;		/* already exported */
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
	x->seen = *s;
}

/* A SOAP Sender fault with HTTP 403; the body is then never read. */
static void
ch_xds_refuse(struct httpd_req *req, const char *who)
{
	struct soap_fault	 f;
	struct dbuf		 b;

	memset(&f, 0, sizeof(f));
	soap_fault_set(&f, SOAP_SENDER, NULL, "this certificate is not "
	    "authorised to submit documents (role source)");
	dbuf_init(&b, 64 * 1024);
	if (soap_fault_build(&b, &f, NULL) == -1)
		httpd_reply(req, 403, "text/plain", "forbidden\n", 10);
	else
		httpd_reply(req, 403, CH_XDS_FAULT_CTYPE, b.data, b.len);
	dbuf_free(&b);
	soap_fault_clear(&f);
	log_warnx("xds conn=%s path=%s event=unauthorised peer=\"%s\"",
	    httpd_req_conn_id(req), httpd_req_path(req), who);
	ch_metric_inc(CH_XDS_REFUSED_METRIC, "", 1);
}

static int
ch_xds_head(struct httpd_req *req, void *arg)
{
	struct ch_xds		*x = arg;
	const struct tls_peer	*id = httpd_req_peer(req);
	const struct ch_peer	*p;

	if (ch_peer_authorise(x->ch->conf, id, CH_ROLE_SOURCE) == NULL) {
		if (id == NULL)
			ch_xds_refuse(req, "");
		else if ((p = ch_peer_find(x->ch->conf, id)) != NULL)
			ch_xds_refuse(req, p->name);
		else
			ch_xds_refuse(req, id->fingerprint);
		return (HTTPD_OK);
	}
	return (iti41_handler.head(req, &x->ctx));
}

static int
ch_xds_body(struct httpd_req *req, const void *buf, size_t len, void *arg)
{
	struct ch_xds	*x = arg;

	return (iti41_handler.body(req, buf, len, &x->ctx));
}

static void
ch_xds_done(struct httpd_req *req, void *arg)
{
	struct ch_xds	*x = arg;

	iti41_handler.done(req, &x->ctx);
}

/* Also after a refusal: iti41's fini then finds no state and returns. */
static void
ch_xds_fini(struct httpd_req *req, int completed, void *arg)
{
	struct ch_xds	*x = arg;

	iti41_handler.fini(req, completed, &x->ctx);
	ch_xds_metrics(x);
}

static const struct httpd_handler ch_xds_handler = {
	ch_xds_head, ch_xds_body, ch_xds_done, ch_xds_fini
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
		ch_xds_metric_defined = 1;
	}
	x = xcalloc(1, sizeof(*x));
	x->ch = ch;
	x->repository_unique_id = xstrdup(c->repository_unique_id);
	x->affinity_domain = c->affinity_domain != NULL ?
	    xstrdup(c->affinity_domain) : NULL;
	x->ctx.db = ch->db;
	x->ctx.blobs = ch->blobs;
	x->ctx.repository_unique_id = x->repository_unique_id;
	x->ctx.affinity_domain = x->affinity_domain;
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
	if ((x->httpd = httpd_new(ch->base, &hc)) == NULL) {
		*cause = xstrdup("could not create the HTTP server");
		goto fail;
	}
	if (httpd_listen(x->httpd, addr, cause) == -1)
		goto fail;
	httpd_route(x->httpd, SOAP_PATH_REPOSITORY, &ch_xds_handler, x);
	log_info("xds listening addr=%s port=%d endpoints=%s", addr,
	    httpd_port(x->httpd), SOAP_PATH_REPOSITORY);
	return (x);
fail:
	if (x->httpd != NULL)
		httpd_free(x->httpd);
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
	free(x->repository_unique_id);
	free(x->affinity_domain);
	free(x);
}
