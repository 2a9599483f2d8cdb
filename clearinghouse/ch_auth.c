/*
 * ch_auth.c: match a TLS peer identity to a configured peer; refuse an
 * XDS request of a peer without the role.
 */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "audit.h"
#include "ch.h"
#include "ch_auth.h"
#include "dbuf.h"
#include "httpd.h"
#include "log.h"
#include "soap.h"
#include "tls.h"

#define CH_AUTH_REFUSED_METRIC	"isn_ch_xds_refused_total"	/* ch_xds.c */
#define CH_AUTH_FAULT_CTYPE	"application/soap+xml; charset=UTF-8; " \
				"action=\"" SOAP_FAULT_ACTION "\""

const struct ch_peer *
ch_peer_find(const struct ch_conf *conf, const struct tls_peer *id)
{
	const struct ch_peer	*p;
	size_t			 i;

	if (conf == NULL || id == NULL)
		return (NULL);
	for (i = 0; i < conf->npeers; i++) {
		p = &conf->peers[i];
		if (p->fingerprint != NULL) {
			if (tls_fingerprint_equal(p->fingerprint,
			    id->fingerprint))
				return (p);
		} else if (p->subject != NULL && id->subject != NULL &&
		    strcmp(p->subject, id->subject) == 0)
			return (p);
	}
	return (NULL);
}

const struct ch_peer *
ch_peer_authorise(const struct ch_conf *conf, const struct tls_peer *id,
    int role)
{
	const struct ch_peer	*p;

	if ((p = ch_peer_find(conf, id)) == NULL || (p->role_mask & role) == 0)
		return (NULL);
	return (p);
}

void
ch_auth_refuse(struct ch *ch, struct httpd_req *req, const char *relates,
    const char *what)
{
	const struct ch_conf	*conf = ch->conf;
	const struct tls_peer	*id = httpd_req_peer(req);
	const struct ch_peer	*p;
	struct audit_event	 ev;
	struct soap_fault	 f;
	struct dbuf		 b;

	memset(&f, 0, sizeof(f));
	soap_fault_set(&f, SOAP_SENDER, NULL, "this certificate is not "
	    "authorised to %s", what);
	dbuf_init(&b, 64 * 1024);
	if (soap_fault_build(&b, &f, relates) == -1)
		httpd_reply(req, 403, "text/plain", "forbidden\n", 10);
	else
		httpd_reply(req, 403, CH_AUTH_FAULT_CTYPE, b.data, b.len);
	dbuf_free(&b);
	soap_fault_clear(&f);
	p = ch_peer_find(conf, id);
	log_warnx("xds conn=%s path=%s event=unauthorised peer=\"%s\"",
	    httpd_req_conn_id(req), httpd_req_path(req), p != NULL ? p->name :
	    id != NULL ? id->fingerprint : "");
	ch_metric_inc(CH_AUTH_REFUSED_METRIC, "", 1);
	memset(&ev, 0, sizeof(ev));
	ev.kind = AUDIT_SECURITY_ALERT;
	ev.outcome = AUDIT_MINOR_FAILURE;
	ev.peer_user = id != NULL ? id->subject : NULL;
	ev.peer_addr = httpd_req_peer_addr(req);
	ev.local_user = httpd_req_path(req);
	ev.alert_uri = httpd_req_path(req);
	ev.alert = what;
	ch_audit(ch, &ev);
}
