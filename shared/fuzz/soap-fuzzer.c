/*
 * soap-fuzzer.c: any bytes as a SOAP 1.2 envelope and as every XDS message
 * body. Nothing may crash or leak; a failure must come with a reason; a
 * fault built from any failure must parse back to the same fault; an
 * envelope rebuilt from parsed headers must read back the same; and for
 * every message type parse -> build -> parse -> build must give the same
 * bytes (build(parse(x)) is a fixed point).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "dbuf.h"
#include "soap.h"
#include "xdsmsg.h"
#include "xml.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_MAX	(8 * 1024 * 1024)

static const struct xml_limits fuzz_lim = { 1024 * 1024, 32 };

/* Same string or both NULL. */
static int
same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

/* Trimmed copy for comparing texts that parsing trims. */
static int
same_trimmed(const char *a, const char *b)
{
	size_t	la, lb;

	if (a == NULL || b == NULL)
		return (a == b);
	a += strspn(a, " \t\r\n");
	b += strspn(b, " \t\r\n");
	la = strlen(a);
	lb = strlen(b);
	while (la > 0 && strchr(" \t\r\n", a[la - 1]) != NULL)
		la--;
	while (lb > 0 && strchr(" \t\r\n", b[lb - 1]) != NULL)
		lb--;
	return (la == lb && memcmp(a, b, la) == 0);
}

/* A fault must serialise and read back as itself. */
static void
fuzz_fault(const struct soap_fault *f, const char *relates_to)
{
	struct soap_msg		 m;
	struct soap_fault	 f2;
	struct dbuf		 b;

	if (f->reason == NULL || *f->reason == '\0')
		abort();
	memset(&f2, 0, sizeof(f2));
	dbuf_init(&b, FUZZ_MAX);
	if (soap_fault_build(&b, f, relates_to) == -1)
		abort();
	if (soap_msg_parse_buf(b.data, b.len, NULL, &m, &f2) == -1 ||
	    !m.is_fault)
		abort();
	if (m.fault.code != f->code || !same(m.fault.subcode, f->subcode) ||
	    !same_trimmed(m.fault.reason, f->reason))
		abort();
	if (f->code == SOAP_MUST_UNDERSTAND && f->nu_name != NULL &&
	    (!same(m.fault.nu_name, f->nu_name) ||
	    !same(m.fault.nu_ns, f->nu_ns)))
		abort();
	soap_msg_clear(&m);
	soap_fault_clear(&f2);
	dbuf_free(&b);
}

/* Rebuild an envelope from the parsed headers and body. */
static void
fuzz_envelope(xmlDoc *doc, const struct soap_msg *m)
{
	struct soap_hdr		 h;
	struct soap_msg		 m2;
	struct soap_fault	 f;
	struct dbuf		 b;

	memset(&h, 0, sizeof(h));
	memset(&f, 0, sizeof(f));
	h.action = m->action;
	h.message_id = m->message_id;
	h.to = m->to;
	h.relates_to = m->relates_to;
	h.reply_to_anon = m->reply_to != NULL;
	dbuf_init(&b, FUZZ_MAX);
	if (soap_build_node(&b, &h, doc, m->body) == -1)
		abort();
	if (soap_msg_parse_buf(b.data, b.len, NULL, &m2, &f) == -1)
		abort();
	if (!same(m2.action, m->action) || !same(m2.message_id,
	    m->message_id) || !same(m2.to, m->to) ||
	    !same(m2.relates_to, m->relates_to))
		abort();
	if ((m->body == NULL) != (m2.body == NULL) || (m->body != NULL &&
	    strcmp((const char *)m->body->name, (const char *)m2.body->name)
	    != 0))
		abort();
	soap_msg_clear(&m2);
	soap_fault_clear(&f);
	dbuf_free(&b);
}

/* A failed parse must say why with an Error. */
static void
fuzz_failed(int r, const struct xdsmsg_errors *e)
{
	if (r == -1 && xdsmsg_errors_count(e, XDSMSG_ERROR) == 0)
		abort();
	if (r == 0 && xdsmsg_errors_count(e, XDSMSG_ERROR) != 0)
		abort();
}

/* Parse built bytes as a bare message element. */
static xmlNode *
fuzz_reparse(const struct dbuf *b, xmlDoc **docp)
{
	char	*cause = NULL;

	if ((*docp = xml_parse(b->data, b->len, NULL, &cause)) == NULL)
		abort();
	return (xmlDocGetRootElement(*docp));
}

#define FUZZ_FIXED_POINT(T, parse, clear, BUILD)			\
do {									\
	T		 v1, v2;					\
	struct dbuf	 b1, b2;					\
	xmlDoc		*d2;						\
	int		 r_;						\
									\
	memset(&e, 0, sizeof(e));					\
	r_ = parse(n, &v1, &e);						\
	fuzz_failed(r_, &e);						\
	xdsmsg_errors_clear(&e);					\
	if (r_ == 0) {							\
		dbuf_init(&b1, FUZZ_MAX);				\
		dbuf_init(&b2, FUZZ_MAX);				\
		if (BUILD(&b1, &v1) == -1)				\
			abort();					\
		if (parse(fuzz_reparse(&b1, &d2), &v2, &e) != 0)	\
			abort();					\
		if (BUILD(&b2, &v2) == -1 || b1.len != b2.len ||	\
		    memcmp(b1.data, b2.data, b1.len) != 0)		\
			abort();					\
		clear(&v2);						\
		xml_free(d2);						\
		dbuf_free(&b1);						\
		dbuf_free(&b2);						\
	}								\
	clear(&v1);							\
} while (0)

#define B_REGRESP(b, v)	xdsmsg_regresp_build((b), (v)->status, &(v)->errors)
#define B_RETREQ(b, v)	xdsmsg_retrieve_req_build((b), (v)->docs, (v)->ndocs)
#define B_RETRESP(b, v)	xdsmsg_retrieve_resp_build((b), (v))
#define B_RAD69(b, v)	xdsmsg_rad69_req_build((b), (v))
#define B_QREQ(b, v)	xdsmsg_query_req_build((b), (v))
#define B_QRESP(b, v)	xdsmsg_query_resp_build((b), (v), NULL, 0)

/* The PnR: documents must survive build and parse. */
static void
fuzz_pnr(const xmlNode *n)
{
	struct xdsmsg_pnr	 p, p2;
	struct xdsmsg_errors	 e;
	struct dbuf		 b, sub;
	xmlDoc			*d2, *nd;
	xmlNode			*copy;
	size_t			 i;
	int			 r;

	memset(&e, 0, sizeof(e));
	r = xdsmsg_pnr_parse(n, &p, &e);
	fuzz_failed(r, &e);
	xdsmsg_errors_clear(&e);
	if (r == 0) {
		dbuf_init(&sub, FUZZ_MAX);
		dbuf_init(&b, FUZZ_MAX);
		nd = xmlNewDoc((const xmlChar *)"1.0");
		copy = xmlDocCopyNode(p.submit, nd, 1);
		xmlDocSetRootElement(nd, copy);
		if (xml_write(&sub, nd, copy) == -1)
			abort();
		xmlFreeDoc(nd);
		if (xdsmsg_pnr_build(&b, sub.data, sub.len, p.docs, p.ndocs)
		    == -1)
			abort();
		if (xdsmsg_pnr_parse(fuzz_reparse(&b, &d2), &p2, &e) != 0 ||
		    p2.ndocs != p.ndocs)
			abort();
		for (i = 0; i < p.ndocs; i++) {
			if (strcmp(p.docs[i].id, p2.docs[i].id) != 0 ||
			    !same(p.docs[i].content.href,
			    p2.docs[i].content.href) ||
			    p.docs[i].content.size != p2.docs[i].content.size ||
			    strcmp(p.docs[i].content.sha1,
			    p2.docs[i].content.sha1) != 0)
				abort();
		}
		xdsmsg_pnr_clear(&p2);
		xml_free(d2);
		dbuf_free(&b);
		dbuf_free(&sub);
	}
	xdsmsg_pnr_clear(&p);
}

/* Every message parser on one element. */
static void
fuzz_bodies(const xmlNode *n)
{
	struct xdsmsg_errors	 e;
	struct xdsmsg_query_resp q;
	int			 r;

	FUZZ_FIXED_POINT(struct xdsmsg_regresp, xdsmsg_regresp_parse,
	    xdsmsg_regresp_clear, B_REGRESP);
	FUZZ_FIXED_POINT(struct xdsmsg_retrieve_req,
	    xdsmsg_retrieve_req_parse, xdsmsg_retrieve_req_clear, B_RETREQ);
	FUZZ_FIXED_POINT(struct xdsmsg_retrieve_resp,
	    xdsmsg_retrieve_resp_parse, xdsmsg_retrieve_resp_clear, B_RETRESP);
	FUZZ_FIXED_POINT(struct xdsmsg_rad69_req, xdsmsg_rad69_req_parse,
	    xdsmsg_rad69_req_clear, B_RAD69);
	FUZZ_FIXED_POINT(struct xdsmsg_query_req, xdsmsg_query_req_parse,
	    xdsmsg_query_req_clear, B_QREQ);
	/* ObjectRef responses round trip; LeafClass is the metadata's. */
	memset(&e, 0, sizeof(e));
	r = xdsmsg_query_resp_parse(n, &q, &e);
	fuzz_failed(r, &e);
	xdsmsg_errors_clear(&e);
	xdsmsg_query_resp_clear(&q);
	if (r == 0 && q.nleaf == 0)
		FUZZ_FIXED_POINT(struct xdsmsg_query_resp,
		    xdsmsg_query_resp_parse, xdsmsg_query_resp_clear, B_QRESP);
	fuzz_pnr(n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char		*paths[] = { SOAP_PATH_REGISTRY,
	    SOAP_PATH_REPOSITORY, SOAP_PATH_IDS, NULL };
	const struct soap_action	*act;
	struct soap_msg			 m;
	struct soap_fault		 f;
	xmlDoc				*doc;
	char				*cause = NULL;
	size_t				 i;

	memset(&f, 0, sizeof(f));
	if ((doc = xml_parse(data, size, &fuzz_lim, &cause)) == NULL) {
		if (cause == NULL || *cause == '\0')
			abort();
		free(cause);
		if (soap_msg_parse_buf(data, size, &fuzz_lim, &m, &f) != -1 ||
		    f.code != SOAP_SENDER)
			abort();
		fuzz_fault(&f, NULL);
		soap_fault_clear(&f);
		return (0);
	}
	if (soap_msg_parse(doc, &m, &f) == 0) {
		for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
			if (soap_check_request(&m, paths[i], &act, &f) == -1) {
				if (act != NULL)
					abort();
				fuzz_fault(&f, m.message_id);
			} else if (act == NULL || (paths[i] != NULL &&
			    !soap_action_allowed(act, paths[i])))
				abort();
		}
		if (m.is_fault && m.fault.reason != NULL &&
		    *m.fault.reason != '\0')
			fuzz_fault(&m.fault, m.relates_to);
		fuzz_envelope(doc, &m);
		if (m.body != NULL)
			fuzz_bodies(m.body);
		soap_msg_clear(&m);
	} else {
		if (m.action != NULL || m.body != NULL)
			abort();
		fuzz_fault(&f, NULL);
		fuzz_bodies(xmlDocGetRootElement(doc));
	}
	soap_fault_clear(&f);
	xml_free(doc);
	return (0);
}
