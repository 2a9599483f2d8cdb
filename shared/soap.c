/* soap.c: SOAP 1.2 envelopes, WS-Addressing headers, faults, XDS actions. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>
#include <openssl/rand.h>

#include "log.h"
#include "soap.h"
#include "xmalloc.h"
#include "xml.h"

#define SOAP_ROLE_NONE	"http://www.w3.org/2003/05/soap-envelope/role/none"
#define SOAP_ROLE_NEXT	"http://www.w3.org/2003/05/soap-envelope/role/next"
#define SOAP_ROLE_ULTIMATE \
	"http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver"
#define SOAP_WSA_REPLY	"http://www.w3.org/2005/08/addressing/reply"
#define SOAP_NS_RMD	"urn:ihe:iti:rmd:2017"
/* How much of a peer's value goes into a fault reason. */
#define SOAP_ECHO_MAX	200

static const struct soap_action soap_actions[] = {
	{ SOAP_TXN_ITI41, "ITI-41", SOAP_ACTION_ITI41,
	  SOAP_ACTION_ITI41 "Response", SOAP_PATH_REPOSITORY,
	  XML_NS_XDSB, "ProvideAndRegisterDocumentSetRequest",
	  XML_NS_RS, "RegistryResponse" },
	{ SOAP_TXN_ITI42, "ITI-42", SOAP_ACTION_ITI42,
	  SOAP_ACTION_ITI42 "Response", SOAP_PATH_REGISTRY,
	  XML_NS_LCM, "SubmitObjectsRequest",
	  XML_NS_RS, "RegistryResponse" },
	{ SOAP_TXN_ITI18, "ITI-18", SOAP_ACTION_ITI18,
	  SOAP_ACTION_ITI18 "Response", SOAP_PATH_REGISTRY,
	  XML_NS_QUERY, "AdhocQueryRequest",
	  XML_NS_QUERY, "AdhocQueryResponse" },
	{ SOAP_TXN_ITI43, "ITI-43", SOAP_ACTION_ITI43,
	  SOAP_ACTION_ITI43 "Response", SOAP_PATH_REPOSITORY,
	  XML_NS_XDSB, "RetrieveDocumentSetRequest",
	  XML_NS_XDSB, "RetrieveDocumentSetResponse" },
	{ SOAP_TXN_RAD69, "RAD-69", SOAP_ACTION_RAD69,
	  SOAP_ACTION_ITI43 "Response", SOAP_PATH_IDS,
	  XML_NS_XDSI, "RetrieveImagingDocumentSetRequest",
	  XML_NS_XDSB, "RetrieveDocumentSetResponse" },
	{ SOAP_TXN_ITI51, "ITI-51", SOAP_ACTION_ITI51,
	  SOAP_ACTION_ITI51 "Response", NULL,
	  XML_NS_QUERY, "AdhocQueryRequest",
	  XML_NS_QUERY, "AdhocQueryResponse" },
	{ SOAP_TXN_ITI57, "ITI-57", SOAP_ACTION_ITI57,
	  SOAP_ACTION_ITI57 "Response", NULL,
	  XML_NS_LCM, "SubmitObjectsRequest",
	  XML_NS_RS, "RegistryResponse" },
	{ SOAP_TXN_ITI62, "ITI-62", SOAP_ACTION_ITI62,
	  SOAP_ACTION_ITI62 "Response", NULL,
	  XML_NS_LCM, "RemoveObjectsRequest",
	  XML_NS_RS, "RegistryResponse" },
	{ SOAP_TXN_ITI86, "ITI-86", SOAP_ACTION_ITI86,
	  SOAP_ACTION_ITI86 "Response", NULL,
	  SOAP_NS_RMD, "RemoveDocumentsRequest",
	  XML_NS_RS, "RegistryResponse" },
};
#define SOAP_NACTIONS (sizeof(soap_actions) / sizeof(soap_actions[0]))

static const char *soap_code_names[] = {
	"VersionMismatch", "MustUnderstand", "DataEncodingUnknown", "Sender",
	"Receiver"
};

static soap_uuid_cb	 soap_uuid_hook;
static void		*soap_uuid_arg;

/* Request actions are what a server dispatches on. */
const struct soap_action *
soap_action_find(const char *uri)
{
	size_t	i;

	if (uri == NULL)
		return (NULL);
	for (i = 0; i < SOAP_NACTIONS; i++)
		if (strcmp(soap_actions[i].request, uri) == 0)
			return (&soap_actions[i]);
	return (NULL);
}

/* Clients check the answer's action against the table. */
const struct soap_action *
soap_action_find_response(const char *uri)
{
	size_t	i;

	if (uri == NULL)
		return (NULL);
	for (i = 0; i < SOAP_NACTIONS; i++)
		if (strcmp(soap_actions[i].response, uri) == 0)
			return (&soap_actions[i]);
	return (NULL);
}

/* Builders name their transaction rather than its URIs. */
const struct soap_action *
soap_action_get(enum soap_txn txn)
{
	size_t	i;

	for (i = 0; i < SOAP_NACTIONS; i++)
		if (soap_actions[i].txn == txn)
			return (&soap_actions[i]);
	return (NULL);
}

/* The clearinghouse answers an action on the wrong path with a fault. */
int
soap_action_allowed(const struct soap_action *act, const char *path)
{
	size_t	len, want;

	if (act == NULL || act->path == NULL || path == NULL)
		return (0);
	len = strcspn(path, "?#");
	if (len > 1 && path[len - 1] == '/')
		len--;
	want = strlen(act->path);
	return (len == want && strncmp(path, act->path, len) == 0);
}

/* Faults carry their own strings; the previous ones are dropped. */
void
soap_fault_set(struct soap_fault *f, enum soap_code code, const char *subcode,
    const char *fmt, ...)
{
	va_list	ap;

	if (f == NULL)
		return;
	soap_fault_clear(f);
	f->code = code;
	f->subcode = subcode != NULL ? xstrdup(subcode) : NULL;
	va_start(ap, fmt);
	xvasprintf(&f->reason, fmt, ap);
	va_end(ap);
	/* Echoed values may be cut inside a UTF-8 sequence. */
	xml_sanitize(f->reason);
	if (f->subcode != NULL)
		xml_sanitize(f->subcode);
}

/* Safe on a zeroed or already cleared fault. */
void
soap_fault_clear(struct soap_fault *f)
{
	if (f == NULL)
		return;
	free(f->subcode);
	free(f->reason);
	free(f->nu_ns);
	free(f->nu_name);
	memset(f, 0, sizeof(*f));
	f->code = SOAP_SENDER;
}

/* The local part of env:Value. */
const char *
soap_code_name(enum soap_code code)
{
	if ((size_t)code >= sizeof(soap_code_names) / sizeof(soap_code_names[0]))
		return ("Receiver");
	return (soap_code_names[code]);
}

/* SOAP 1.2 part 2, 7.5.1.2: a Sender fault is the client's error. */
int
soap_fault_http_status(const struct soap_fault *f)
{
	return (f != NULL && f->code == SOAP_SENDER ? 400 : 500);
}

/* Tests need fixed MessageIDs for golden files. */
void
soap_set_uuid_cb(soap_uuid_cb cb, void *arg)
{
	soap_uuid_hook = cb;
	soap_uuid_arg = arg;
}

/* RFC 4122 version 4 from the OpenSSL CSPRNG. */
void
soap_uuid(char *buf, size_t len)
{
	unsigned char	r[16];

	if (soap_uuid_hook != NULL) {
		soap_uuid_hook(buf, len, soap_uuid_arg);
		return;
	}
	if (RAND_bytes(r, sizeof(r)) != 1)
		fatalx("RAND_bytes failed");
	r[6] = (r[6] & 0x0f) | 0x40;
	r[8] = (r[8] & 0x3f) | 0x80;
	snprintf(buf, len, "urn:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3],
	    r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
	    r[14], r[15]);
}

/* Element text with XML whitespace trimmed at both ends; caller frees. */
static char *
soap_text(const xmlNode *n)
{
	char	*s, *p, *e;
	size_t	 len;

	s = xml_text(n);
	p = s + strspn(s, " \t\r\n");
	len = strlen(p);
	e = p + len;
	while (e > p && strchr(" \t\r\n", e[-1]) != NULL)
		e--;
	len = (size_t)(e - p);
	memmove(s, p, len);
	s[len] = '\0';
	return (s);
}

/* A namespaced attribute's value, trimmed; caller frees; NULL if absent. */
static char *
soap_nsattr(const xmlNode *n, const char *ns, const char *name)
{
	xmlChar	*v;
	char	*s, *p;
	size_t	 len;

	v = xmlGetNsProp(n, (const xmlChar *)name, (const xmlChar *)ns);
	if (v == NULL)
		return (NULL);
	p = (char *)v + strspn((char *)v, " \t\r\n");
	len = strlen(p);
	while (len > 0 && strchr(" \t\r\n", p[len - 1]) != NULL)
		len--;
	s = xstrndup(p, len);
	xmlFree(v);
	return (s);
}

/* Resolve a QName written in content ("env:Sender") against n's scope. */
static int
soap_qname(xmlDoc *doc, xmlNode *n, const char *qname, const char **nsp,
    const char **localp)
{
	const char	*colon;
	char		*prefix;
	xmlNs		*ns;

	colon = strchr(qname, ':');
	if (colon == NULL) {
		ns = xmlSearchNs(doc, n, NULL);
		*localp = qname;
	} else {
		prefix = xstrndup(qname, (size_t)(colon - qname));
		ns = xmlSearchNs(doc, n, (const xmlChar *)prefix);
		free(prefix);
		*localp = colon + 1;
		if (ns == NULL)
			return (-1);
	}
	*nsp = ns != NULL ? (const char *)ns->href : "";
	return (0);
}

/* A received env:Fault, read leniently: it is the peer's report. */
static void
soap_parse_fault(xmlDoc *doc, xmlNode *fn, xmlNode *hdr, struct soap_fault *f)
{
	xmlNode		*code, *val, *sub, *reason, *text, *nu;
	const char	*ns, *local;
	char		*s, *q;
	size_t		 i;

	soap_fault_clear(f);
	f->code = SOAP_RECEIVER;
	code = xml_child(fn, XML_NS_SOAP12, "Code");
	val = xml_child(code, XML_NS_SOAP12, "Value");
	if (val != NULL) {
		s = soap_text(val);
		if (soap_qname(doc, val, s, &ns, &local) == 0 &&
		    strcmp(ns, XML_NS_SOAP12) == 0) {
			for (i = 0; i < sizeof(soap_code_names) /
			    sizeof(soap_code_names[0]); i++)
				if (strcmp(local, soap_code_names[i]) == 0)
					f->code = (enum soap_code)i;
		}
		free(s);
	}
	sub = xml_child(code, XML_NS_SOAP12, "Subcode");
	if ((val = xml_child(sub, XML_NS_SOAP12, "Value")) != NULL)
		f->subcode = soap_text(val);
	reason = xml_child(fn, XML_NS_SOAP12, "Reason");
	if ((text = xml_child(reason, XML_NS_SOAP12, "Text")) != NULL)
		f->reason = soap_text(text);
	else
		f->reason = xstrdup("");
	nu = xml_child(hdr, XML_NS_SOAP12, "NotUnderstood");
	if (nu != NULL && (q = soap_nsattr(nu, NULL, "qname")) != NULL) {
		if (soap_qname(doc, nu, q, &ns, &local) == 0) {
			f->nu_ns = xstrdup(ns);
			f->nu_name = xstrdup(local);
		}
		free(q);
	}
}

/* Keeps one value of a header that may appear once. */
static int
soap_take(char **slot, const xmlNode *n, const char *what,
    struct soap_fault *f)
{
	char	*v;

	if (*slot != NULL) {
		soap_fault_set(f, SOAP_SENDER, "wsa:InvalidAddressingHeader",
		    "more than one wsa:%s header (line %ld)", what,
		    xml_line(n));
		return (-1);
	}
	v = soap_text(n);
	if (*v == '\0') {
		free(v);
		soap_fault_set(f, SOAP_SENDER, "wsa:InvalidAddressingHeader",
		    "wsa:%s is empty (line %ld)", what, xml_line(n));
		return (-1);
	}
	*slot = v;
	return (0);
}

/* Is a header block aimed at this node (the ultimate receiver)? */
static int
soap_for_us(const xmlNode *n)
{
	char	*role;
	int	 ours;

	if ((role = soap_nsattr(n, XML_NS_SOAP12, "role")) == NULL)
		return (1);
	ours = *role == '\0' || strcmp(role, SOAP_ROLE_NEXT) == 0 ||
	    strcmp(role, SOAP_ROLE_ULTIMATE) == 0;
	free(role);
	return (ours);
}

/* One header block: a WS-Addressing header we know, or judged by mU. */
static int
soap_header_block(struct soap_msg *m, xmlNode *n, int *seen_from,
    int *seen_faultto, struct soap_fault *f)
{
	char		*mu, *rel;
	const char	*name = (const char *)n->name;
	xmlNode		*addr;
	int		 must = 0, r;

	if ((mu = soap_nsattr(n, XML_NS_SOAP12, "mustUnderstand")) != NULL) {
		if (strcmp(mu, "true") == 0 || strcmp(mu, "1") == 0)
			must = 1;
		else if (strcmp(mu, "false") != 0 && strcmp(mu, "0") != 0) {
			soap_fault_set(f, SOAP_SENDER, NULL, "header %s has "
			    "mustUnderstand \"%.*s\"; it must be true, false, "
			    "1 or 0 (line %ld)", name, SOAP_ECHO_MAX, mu,
			    xml_line(n));
			free(mu);
			return (-1);
		}
		free(mu);
	}
	if (strchr(name, ':') != NULL) {
		/* libxml2 keeps an undeclared prefix in the name. */
		soap_fault_set(f, SOAP_SENDER, NULL, "header block %.*s uses "
		    "an undeclared namespace prefix (line %ld)", SOAP_ECHO_MAX,
		    name, xml_line(n));
		return (-1);
	}
	if (!soap_for_us(n))
		return (0);
	if (xml_is(n, XML_NS_WSA, "Action"))
		return (soap_take(&m->action, n, "Action", f));
	if (xml_is(n, XML_NS_WSA, "MessageID"))
		return (soap_take(&m->message_id, n, "MessageID", f));
	if (xml_is(n, XML_NS_WSA, "To"))
		return (soap_take(&m->to, n, "To", f));
	if (xml_is(n, XML_NS_WSA, "ReplyTo")) {
		if ((addr = xml_child(n, XML_NS_WSA, "Address")) == NULL) {
			soap_fault_set(f, SOAP_SENDER,
			    "wsa:InvalidAddressingHeader", "wsa:ReplyTo has "
			    "no wsa:Address (line %ld)", xml_line(n));
			return (-1);
		}
		return (soap_take(&m->reply_to, addr, "ReplyTo", f));
	}
	if (xml_is(n, XML_NS_WSA, "RelatesTo")) {
		rel = soap_nsattr(n, NULL, "RelationshipType");
		r = 0;
		if (rel == NULL || strcmp(rel, SOAP_WSA_REPLY) == 0)
			r = soap_take(&m->relates_to, n, "RelatesTo", f);
		free(rel);
		return (r);
	}
	if (xml_is(n, XML_NS_WSA, "From") || xml_is(n, XML_NS_WSA, "FaultTo")) {
		r = xml_is(n, NULL, "From") ? (*seen_from)++ :
		    (*seen_faultto)++;
		if (r != 0) {
			soap_fault_set(f, SOAP_SENDER,
			    "wsa:InvalidAddressingHeader", "more than one "
			    "wsa:%s header (line %ld)", name, xml_line(n));
			return (-1);
		}
		return (0);
	}
	if (!must)
		return (0);
	soap_fault_set(f, SOAP_MUST_UNDERSTAND, NULL, "header block %s%s%s "
	    "(line %ld) has mustUnderstand set and is not understood",
	    n->ns != NULL ? "{" : "", n->ns != NULL ?
	    (const char *)n->ns->href : "", n->ns != NULL ? "}" : "",
	    xml_line(n));
	f->nu_ns = xstrdup(n->ns != NULL ? (const char *)n->ns->href : "");
	f->nu_name = xstrdup(name);
	return (-1);
}

/* The envelope: optional Header, then Body, nothing after. */
int
soap_msg_parse(xmlDoc *doc, struct soap_msg *m, struct soap_fault *f)
{
	xmlNode		*root, *c, *hdr = NULL, *body = NULL;
	int		 seen_from = 0, seen_faultto = 0;

	memset(m, 0, sizeof(*m));
	m->doc = doc;
	root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
	if (root == NULL) {
		soap_fault_set(f, SOAP_SENDER, NULL, "the message is empty");
		goto fail;
	}
	if (xml_is(root, SOAP_NS_SOAP11, "Envelope")) {
		soap_fault_set(f, SOAP_VERSION_MISMATCH, NULL, "this is a "
		    "SOAP 1.1 envelope; only SOAP 1.2 (%s) is supported",
		    XML_NS_SOAP12);
		goto fail;
	}
	if (xml_is(root, NULL, "Envelope") &&
	    !xml_is(root, XML_NS_SOAP12, "Envelope")) {
		soap_fault_set(f, SOAP_VERSION_MISMATCH, NULL, "the Envelope "
		    "is not in the SOAP 1.2 namespace %s", XML_NS_SOAP12);
		goto fail;
	}
	if (!xml_is(root, XML_NS_SOAP12, "Envelope")) {
		soap_fault_set(f, SOAP_SENDER, NULL, "the message is not a "
		    "SOAP envelope: its root element is %.*s", SOAP_ECHO_MAX,
		    (const char *)root->name);
		goto fail;
	}
	for (c = xml_first(root); c != NULL; c = xml_next(c)) {
		if (xml_is(c, XML_NS_SOAP12, "Header") && hdr == NULL &&
		    body == NULL)
			hdr = c;
		else if (xml_is(c, XML_NS_SOAP12, "Body") && body == NULL)
			body = c;
		else {
			soap_fault_set(f, SOAP_SENDER, NULL, "unexpected "
			    "element %.*s in the SOAP Envelope (line %ld)",
			    SOAP_ECHO_MAX, (const char *)c->name, xml_line(c));
			goto fail;
		}
	}
	if (body == NULL) {
		soap_fault_set(f, SOAP_SENDER, NULL, "the SOAP Envelope has no "
		    "Body");
		goto fail;
	}
	for (c = xml_first(hdr); c != NULL; c = xml_next(c))
		if (soap_header_block(m, c, &seen_from, &seen_faultto, f) == -1)
			goto fail;
	m->body = xml_first(body);
	if (xml_is(m->body, XML_NS_SOAP12, "Fault")) {
		m->is_fault = 1;
		soap_parse_fault(doc, m->body, hdr, &m->fault);
	}
	return (0);

fail:
	m->doc = NULL;
	soap_msg_clear(m);
	return (-1);
}

/* Parse bytes too; the message then owns its document. */
int
soap_msg_parse_buf(const void *buf, size_t len, const struct xml_limits *lim,
    struct soap_msg *m, struct soap_fault *f)
{
	xmlDoc	*doc;
	char	*cause = NULL;

	memset(m, 0, sizeof(*m));
	if ((doc = xml_parse(buf, len, lim, &cause)) == NULL) {
		soap_fault_set(f, SOAP_SENDER, NULL, "%s", cause);
		free(cause);
		return (-1);
	}
	if (soap_msg_parse(doc, m, f) == -1) {
		xml_free(doc);
		return (-1);
	}
	m->own = 1;
	return (0);
}

/* Frees the strings, and the document when owned. */
void
soap_msg_clear(struct soap_msg *m)
{
	if (m == NULL)
		return;
	free(m->action);
	free(m->message_id);
	free(m->to);
	free(m->reply_to);
	free(m->relates_to);
	soap_fault_clear(&m->fault);
	if (m->own)
		xml_free(m->doc);
	memset(m, 0, sizeof(*m));
}

/* Dispatch checks shared by every service. */
int
soap_check_request(const struct soap_msg *m, const char *path,
    const struct soap_action **actp, struct soap_fault *f)
{
	const struct soap_action	*act;
	const char			*bns;

	*actp = NULL;
	if (m->action == NULL) {
		soap_fault_set(f, SOAP_SENDER,
		    "wsa:MessageAddressingHeaderRequired",
		    "the request has no wsa:Action header");
		return (-1);
	}
	if ((act = soap_action_find(m->action)) == NULL) {
		if (soap_action_find_response(m->action) != NULL)
			soap_fault_set(f, SOAP_SENDER, "wsa:ActionNotSupported",
			    "%.*s is a response action, not a request",
			    SOAP_ECHO_MAX, m->action);
		else
			soap_fault_set(f, SOAP_SENDER, "wsa:ActionNotSupported",
			    "unknown action %.*s", SOAP_ECHO_MAX, m->action);
		return (-1);
	}
	if (act->path == NULL) {
		soap_fault_set(f, SOAP_SENDER, "wsa:ActionNotSupported",
		    "%s (%s) is recognised but not supported by this service",
		    act->request, act->name);
		return (-1);
	}
	if (path != NULL && !soap_action_allowed(act, path)) {
		soap_fault_set(f, SOAP_SENDER, "wsa:ActionNotSupported",
		    "%s (%s) is served at %s, not at %.*s", act->request,
		    act->name, act->path, SOAP_ECHO_MAX, path);
		return (-1);
	}
	if (m->body == NULL) {
		soap_fault_set(f, SOAP_SENDER, NULL, "the SOAP Body is empty; "
		    "%s expects %s", act->name, act->req_elem);
		return (-1);
	}
	if (!xml_is(m->body, act->req_ns, act->req_elem)) {
		bns = m->body->ns != NULL ? (const char *)m->body->ns->href :
		    "";
		soap_fault_set(f, SOAP_SENDER, NULL, "the body element "
		    "{%.*s}%.*s does not match %s, which expects {%s}%s "
		    "(line %ld)", SOAP_ECHO_MAX, bns, SOAP_ECHO_MAX,
		    (const char *)m->body->name, act->name, act->req_ns,
		    act->req_elem, xml_line(m->body));
		return (-1);
	}
	if (m->reply_to != NULL && strcmp(m->reply_to, SOAP_WSA_ANONYMOUS) != 0 &&
	    strcmp(m->reply_to, SOAP_WSA_NONE) != 0) {
		soap_fault_set(f, SOAP_SENDER,
		    "wsa:OnlyAnonymousAddressSupported", "wsa:ReplyTo must be "
		    "%s; asynchronous replies are not supported",
		    SOAP_WSA_ANONYMOUS);
		return (-1);
	}
	*actp = act;
	return (0);
}

/* One WS-Addressing header element with an escaped value. */
static int
soap_put_hdr(struct dbuf *b, const char *name, const char *value, int must)
{
	if (value == NULL)
		return (0);
	if (dbuf_printf(b, "<wsa:%s%s>", name,
	    must ? " env:mustUnderstand=\"1\"" : "") == -1 ||
	    xml_escape_value(b, value) == -1 ||
	    dbuf_printf(b, "</wsa:%s>", name) == -1)
		return (-1);
	return (0);
}

/* The envelope start and the header blocks, up to the open Body. */
static int
soap_put_head(struct dbuf *b, const struct soap_hdr *h, const char *extra)
{
	if (dbuf_addstr(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<env:Envelope xmlns:env=\"" XML_NS_SOAP12 "\" xmlns:wsa=\""
	    XML_NS_WSA "\"><env:Header>") == -1)
		return (-1);
	if (soap_put_hdr(b, "Action", h->action, 1) == -1 ||
	    soap_put_hdr(b, "MessageID", h->message_id, 0) == -1)
		return (-1);
	if (h->reply_to_anon && dbuf_addstr(b, "<wsa:ReplyTo><wsa:Address>"
	    SOAP_WSA_ANONYMOUS "</wsa:Address></wsa:ReplyTo>") == -1)
		return (-1);
	if (soap_put_hdr(b, "To", h->to, 0) == -1 ||
	    soap_put_hdr(b, "RelatesTo", h->relates_to, 0) == -1)
		return (-1);
	if (extra != NULL && dbuf_addstr(b, extra) == -1)
		return (-1);
	return (dbuf_addstr(b, "</env:Header><env:Body>"));
}

/* Skip a BOM, leading white space and an XML declaration. */
static void
soap_skip_decl(const char **bodyp, size_t *lenp)
{
	const char	*p = *bodyp, *end = *bodyp + *lenp, *q;

	if (end - p >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (p < end && strchr(" \t\r\n", *p) != NULL && *p != '\0')
		p++;
	if (end - p >= 5 && memcmp(p, "<?xml", 5) == 0) {
		for (q = p; q + 1 < end; q++) {
			if (q[0] == '?' && q[1] == '>') {
				p = q + 2;
				break;
			}
		}
		while (p < end && strchr(" \t\r\n", *p) != NULL && *p != '\0')
			p++;
	}
	*lenp = (size_t)(end - p);
	*bodyp = p;
}

/* Envelope around a caller-made body element. */
int
soap_build(struct dbuf *b, const struct soap_hdr *h, const char *body,
    size_t len)
{
	if (body == NULL)
		len = 0;
	else
		soap_skip_decl(&body, &len);
	if (soap_put_head(b, h, NULL) == -1 ||
	    (len > 0 && dbuf_add(b, body, len) == -1) ||
	    dbuf_addstr(b, "</env:Body></env:Envelope>\n") == -1)
		return (-1);
	return (0);
}

/*
 * A node from another document: copied into a document of its own first,
 * so that namespaces declared on its ancestors are declared on it.
 */
int
soap_build_node(struct dbuf *b, const struct soap_hdr *h, xmlDoc *doc,
    xmlNode *node)
{
	struct dbuf	 tmp;
	xmlDoc		*nd;
	xmlNode		*copy;
	int		 r;

	(void)doc;
	if (node == NULL)
		return (soap_build(b, h, NULL, 0));
	if ((nd = xmlNewDoc((const xmlChar *)"1.0")) == NULL)
		fatalx("xmlNewDoc failed");
	if ((copy = xmlDocCopyNode(node, nd, 1)) == NULL)
		fatalx("xmlDocCopyNode failed");
	xmlDocSetRootElement(nd, copy);
	dbuf_init(&tmp, b->max);
	r = xml_write(&tmp, nd, copy);
	if (r == 0)
		r = soap_build(b, h, tmp.data, tmp.len);
	dbuf_free(&tmp);
	xmlFreeDoc(nd);
	return (r);
}

/* A request with a fresh MessageID that the caller matches RelatesTo to. */
int
soap_request(struct dbuf *b, const char *action, const char *to,
    const char *body, size_t len, char **message_id)
{
	struct soap_hdr	h;
	char		id[SOAP_UUID_LEN + 1];

	soap_uuid(id, sizeof(id));
	memset(&h, 0, sizeof(h));
	h.action = action;
	h.message_id = id;
	h.to = to;
	h.reply_to_anon = 1;
	if (soap_build(b, &h, body, len) == -1)
		return (-1);
	if (message_id != NULL)
		*message_id = xstrdup(id);
	return (0);
}

/* A response to a request whose MessageID is relates_to. */
int
soap_response(struct dbuf *b, const char *action, const char *relates_to,
    const char *body, size_t len)
{
	struct soap_hdr	h;

	memset(&h, 0, sizeof(h));
	h.action = action;
	h.relates_to = relates_to;
	return (soap_build(b, &h, body, len));
}

/* A fault envelope, with NotUnderstood or Upgrade headers as needed. */
int
soap_fault_build(struct dbuf *b, const struct soap_fault *f,
    const char *relates_to)
{
	struct soap_hdr	 h;
	struct dbuf	 extra;
	int		 r = -1;

	memset(&h, 0, sizeof(h));
	h.action = f->subcode != NULL && strncmp(f->subcode, "wsa:", 4) == 0 ?
	    SOAP_WSA_FAULT_ACTION : SOAP_FAULT_ACTION;
	h.relates_to = relates_to;
	dbuf_init(&extra, b->max);
	if (f->code == SOAP_MUST_UNDERSTAND && f->nu_name != NULL) {
		if (f->nu_ns != NULL && *f->nu_ns != '\0') {
			if (dbuf_addstr(&extra, "<env:NotUnderstood qname=\"nu:")
			    == -1 || xml_escape_value(&extra, f->nu_name) == -1 ||
			    dbuf_addstr(&extra, "\" xmlns:nu=\"") == -1 ||
			    xml_escape_value(&extra, f->nu_ns) == -1 ||
			    dbuf_addstr(&extra, "\"/>") == -1)
				goto out;
		} else if (dbuf_addstr(&extra, "<env:NotUnderstood qname=\"")
		    == -1 || xml_escape_value(&extra, f->nu_name) == -1 ||
		    dbuf_addstr(&extra, "\"/>") == -1)
			goto out;
	}
	if (f->code == SOAP_VERSION_MISMATCH && dbuf_addstr(&extra,
	    "<env:Upgrade><env:SupportedEnvelope qname=\"env:Envelope\"/>"
	    "</env:Upgrade>") == -1)
		goto out;
	if (soap_put_head(b, &h, dbuf_str(&extra)) == -1)
		goto out;
	if (dbuf_printf(b, "<env:Fault><env:Code><env:Value>env:%s"
	    "</env:Value>", soap_code_name(f->code)) == -1)
		goto out;
	if (f->subcode != NULL && (dbuf_addstr(b,
	    "<env:Subcode><env:Value>") == -1 ||
	    xml_escape_value(b, f->subcode) == -1 ||
	    dbuf_addstr(b, "</env:Value></env:Subcode>") == -1))
		goto out;
	if (dbuf_addstr(b, "</env:Code><env:Reason><env:Text xml:lang=\"en\">")
	    == -1 || xml_escape_value(b, f->reason != NULL ? f->reason : "")
	    == -1 || dbuf_addstr(b, "</env:Text></env:Reason></env:Fault>"
	    "</env:Body></env:Envelope>\n") == -1)
		goto out;
	r = 0;
out:
	dbuf_free(&extra);
	return (r);
}
