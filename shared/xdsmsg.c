/* xdsmsg.c: XDS.b / XDS-I.b message wrappers, parsed and built. */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>
#include <openssl/evp.h>

#include "log.h"
#include "sq.h"
#include "xdsmsg.h"
#include "xmalloc.h"
#include "xml.h"

#define XDSMSG_WS	" \t\r\n"
/* How much of a peer's value goes into an error text. */
#define XDSMSG_ECHO	128

#define XDSMSG_REGISTRY		"XDSRegistryError"
#define XDSMSG_REPOSITORY	"XDSRepositoryError"
#define XDSMSG_REPO_META	"XDSRepositoryMetadataError"
#define XDSMSG_XDSI		"XDSIRequestError"
#define XDSMSG_UNKNOWN_REPO	"XDSUnknownRepositoryId"
#define XDSMSG_DOC_UID		"XDSDocumentUniqueIdError"
#define XDSMSG_UNKNOWN_SQ	"XDSUnknownStoredQuery"
#define XDSMSG_XFER		"No valid Xfer Syntax"

static const char *xdsmsg_status_urns[] = {
	XDSMSG_STATUS_SUCCESS, XDSMSG_STATUS_PARTIAL, XDSMSG_STATUS_FAILURE
};

/* The wire form of a status. */
const char *
xdsmsg_status_urn(enum xdsmsg_status s)
{
	if ((size_t)s > 2)
		return (XDSMSG_STATUS_FAILURE);
	return (xdsmsg_status_urns[s]);
}

/* Exact URN match: peers that invent statuses are flagged. */
int
xdsmsg_status_parse(const char *urn, enum xdsmsg_status *sp)
{
	size_t	i;

	for (i = 0; urn != NULL && i < 3; i++) {
		if (strcmp(urn, xdsmsg_status_urns[i]) == 0) {
			*sp = (enum xdsmsg_status)i;
			return (0);
		}
	}
	return (-1);
}

/* The wire form of a severity. */
const char *
xdsmsg_severity_urn(enum xdsmsg_severity s)
{
	return (s == XDSMSG_WARNING ? XDSMSG_SEVERITY_WARNING :
	    XDSMSG_SEVERITY_ERROR);
}

/* Append one entry; the text is formatted, never the peer's data. */
void
xdsmsg_error_add(struct xdsmsg_errors *e, enum xdsmsg_severity sev,
    const char *code, const char *location, long line, const char *fmt, ...)
{
	struct xdsmsg_error	*x;
	va_list			 ap;

	if (e == NULL || e->n >= XDSMSG_MAX_ITEMS)
		return;
	e->v = xreallocarray(e->v, e->n + 1, sizeof(*e->v));
	x = &e->v[e->n++];
	x->code = xstrdup(code);
	x->location = location != NULL ? xstrdup(location) : NULL;
	x->severity = sev;
	x->line = line;
	va_start(ap, fmt);
	xvasprintf(&x->context, fmt, ap);
	va_end(ap);
	/* These go on the wire: echoed values may be cut mid-character. */
	xml_sanitize(x->code);
	xml_sanitize(x->context);
	if (x->location != NULL)
		xml_sanitize(x->location);
}

/* Entries of one severity. */
size_t
xdsmsg_errors_count(const struct xdsmsg_errors *e, enum xdsmsg_severity sev)
{
	size_t	i, n = 0;

	for (i = 0; e != NULL && i < e->n; i++)
		n += e->v[i].severity == sev;
	return (n);
}

/* Tests and callers look for a given code. */
int
xdsmsg_errors_has(const struct xdsmsg_errors *e, const char *code)
{
	size_t	i;

	for (i = 0; e != NULL && i < e->n; i++)
		if (strcmp(e->v[i].code, code) == 0)
			return (1);
	return (0);
}

/* Frees every entry; the list is empty and reusable afterwards. */
void
xdsmsg_errors_clear(struct xdsmsg_errors *e)
{
	size_t	i;

	if (e == NULL)
		return;
	for (i = 0; i < e->n; i++) {
		free(e->v[i].code);
		free(e->v[i].context);
		free(e->v[i].location);
	}
	free(e->v);
	e->v = NULL;
	e->n = 0;
}

/* Any Error means Failure; partial success is the caller's decision. */
enum xdsmsg_status
xdsmsg_errors_status(const struct xdsmsg_errors *e)
{
	return (xdsmsg_errors_count(e, XDSMSG_ERROR) > 0 ? XDSMSG_FAILURE :
	    XDSMSG_SUCCESS);
}

/* Problems found while parsing: an Error with the line as location. */
static void
xdsmsg_bad(struct xdsmsg_errors *errs, const char *code, const xmlNode *n,
    const char *fmt, ...) printflike(4, 5);

static void
xdsmsg_bad(struct xdsmsg_errors *errs, const char *code, const xmlNode *n,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*msg, loc[32];
	long	 line = xml_line(n);

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	snprintf(loc, sizeof(loc), "line %ld", line);
	xdsmsg_error_add(errs, XDSMSG_ERROR, code, loc, line, "%s", msg);
	free(msg);
}

static const signed char xdsmsg_b64[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6,
	['G'] = 7, ['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12,
	['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17,
	['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22,
	['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27,
	['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
	['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37,
	['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
	['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47,
	['v'] = 48, ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52,
	['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56, ['4'] = 57,
	['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62,
	['+'] = 63, ['/'] = 64
};

/* Strict base64Binary: white space anywhere, '=' only as final padding. */
int
xdsmsg_base64_decode(const char *in, unsigned char **outp, size_t *lenp)
{
	unsigned char	*out;
	unsigned int	 acc = 0;
	size_t		 n = 0, o = 0, pad = 0, len = strlen(in), i;
	int		 v;

	*outp = NULL;
	*lenp = 0;
	out = xmalloc(len / 4 * 3 + 3);
	for (i = 0; i < len; i++) {
		if (strchr(XDSMSG_WS, in[i]) != NULL)
			continue;
		if (in[i] == '=') {
			/* Padding: only in the last two places of a quad. */
			if (n % 4 < 2 || pad == 2)
				goto bad;
			pad++;
			n++;
			acc <<= 6;
			continue;
		}
		if (pad > 0 || (v = xdsmsg_b64[(unsigned char)in[i]]) == 0)
			goto bad;
		acc = (acc << 6) | (unsigned int)(v - 1);
		if (++n % 4 == 0) {
			out[o++] = (acc >> 16) & 0xff;
			out[o++] = (acc >> 8) & 0xff;
			out[o++] = acc & 0xff;
			acc = 0;
		}
	}
	if (n % 4 != 0)
		goto bad;
	if (pad > 0) {
		out[o++] = (acc >> 16) & 0xff;
		out[o++] = (acc >> 8) & 0xff;
		out[o++] = acc & 0xff;
		/* Padding bits must be zero (canonical form). */
		if ((pad == 1 && out[o - 1] != 0) ||
		    (pad == 2 && (out[o - 1] != 0 || out[o - 2] != 0)))
			goto bad;
		o -= pad;
	}
	*outp = out;
	*lenp = o;
	return (0);
bad:
	free(out);
	return (-1);
}

/* One line of base64, in slices EVP_EncodeBlock can take. */
int
xdsmsg_base64_encode(struct dbuf *b, const void *data, size_t len)
{
	const unsigned char	*p = data;
	unsigned char		 out[4 * 4096 + 1];
	size_t			 chunk;
	int			 n;

	while (len > 0) {
		chunk = len > 3 * 4096 ? 3 * 4096 : len;
		n = EVP_EncodeBlock(out, p, (int)chunk);
		if (n < 0 || dbuf_add(b, out, (size_t)n) == -1)
			return (-1);
		p += chunk;
		len -= chunk;
	}
	return (0);
}

/* XDS hash attribute form. */
void
xdsmsg_sha1_hex(const void *data, size_t len, char out[41])
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	mdlen = 0, i;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha1(), NULL) != 1 ||
	    mdlen != 20)
		fatalx("SHA-1 failed");
	for (i = 0; i < 20; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Element text trimmed of XML white space; caller frees. */
static char *
xdsmsg_text(const xmlNode *n)
{
	char	*s, *p;
	size_t	 len;

	s = xml_text(n);
	p = s + strspn(s, XDSMSG_WS);
	len = strlen(p);
	while (len > 0 && strchr(XDSMSG_WS, p[len - 1]) != NULL)
		len--;
	memmove(s, p, len);
	s[len] = '\0';
	return (s);
}

/* Attribute trimmed; NULL when absent. */
static char *
xdsmsg_attr(const xmlNode *n, const char *name)
{
	const char	*v, *p;
	size_t		 len;

	if ((v = xml_attr(n, name)) == NULL)
		return (NULL);
	p = v + strspn(v, XDSMSG_WS);
	len = strlen(p);
	while (len > 0 && strchr(XDSMSG_WS, p[len - 1]) != NULL)
		len--;
	return (xstrndup(p, len));
}

/* A count of children bounded before anything is allocated for them. */
static size_t
xdsmsg_count(const xmlNode *parent, const char *ns, const char *name,
    struct xdsmsg_errors *errs, const char *code)
{
	size_t	n;

	n = xml_count(parent, ns, name);
	if (n > XDSMSG_MAX_ITEMS) {
		xdsmsg_bad(errs, code, parent, "%s has more than %d %s "
		    "elements", (const char *)parent->name, XDSMSG_MAX_ITEMS,
		    name);
		n = XDSMSG_MAX_ITEMS;
	}
	return (n);
}

/* The body element must be the one the message type names. */
static int
xdsmsg_expect(const xmlNode *n, const char *ns, const char *name,
    struct xdsmsg_errors *errs, const char *code)
{
	if (xml_is(n, ns, name))
		return (0);
	if (n == NULL)
		xdsmsg_error_add(errs, XDSMSG_ERROR, code, NULL, 0,
		    "expected %s, found no element", name);
	else
		xdsmsg_bad(errs, code, n, "expected %s in %s, found "
		    "%.*s in %.*s", name, ns, XDSMSG_ECHO,
		    (const char *)n->name, XDSMSG_ECHO, n->ns != NULL &&
		    n->ns->href != NULL ? (const char *)n->ns->href :
		    "no namespace");
	return (-1);
}

/* Severity and status write helpers ---------------------------------- */

/* An escaped value in an attribute or element. */
static int
xdsmsg_put(struct dbuf *b, const char *before, const char *v,
    const char *after)
{
	if (dbuf_addstr(b, before) == -1 ||
	    xml_escape_value(b, v != NULL ? v : "") == -1 ||
	    dbuf_addstr(b, after) == -1)
		return (-1);
	return (0);
}

/* rs:RegistryErrorList, nothing when the list is empty. */
static int
xdsmsg_put_errors(struct dbuf *b, const struct xdsmsg_errors *e)
{
	const struct xdsmsg_error	*x;
	size_t				 i;

	if (e == NULL || e->n == 0)
		return (0);
	if (dbuf_printf(b, "<rs:RegistryErrorList highestSeverity=\"%s\">",
	    xdsmsg_severity_urn(xdsmsg_errors_count(e, XDSMSG_ERROR) > 0 ?
	    XDSMSG_ERROR : XDSMSG_WARNING)) == -1)
		return (-1);
	for (i = 0; i < e->n; i++) {
		x = &e->v[i];
		if (xdsmsg_put(b, "<rs:RegistryError errorCode=\"", x->code,
		    "\"") == -1 ||
		    xdsmsg_put(b, " codeContext=\"", x->context, "\"") == -1 ||
		    (x->location != NULL && xdsmsg_put(b, " location=\"",
		    x->location, "\"") == -1) ||
		    dbuf_printf(b, " severity=\"%s\"/>",
		    xdsmsg_severity_urn(x->severity)) == -1)
			return (-1);
	}
	return (dbuf_addstr(b, "</rs:RegistryErrorList>"));
}

/* RegistryResponse ---------------------------------------------------- */

/* The section 6 rules on what a status may carry, flagged with code. */
static int
xdsmsg_check(enum xdsmsg_status st, const struct xdsmsg_errors *c,
    long line, struct xdsmsg_errors *errs, const char *code)
{
	char	loc[32];
	size_t	nerr = xdsmsg_errors_count(c, XDSMSG_ERROR);
	size_t	n = c != NULL ? c->n : 0;

	snprintf(loc, sizeof(loc), "line %ld", line);
	if (st == XDSMSG_SUCCESS && nerr > 0) {
		xdsmsg_error_add(errs, XDSMSG_ERROR, code, loc,
		    line, "RegistryResponse status Success carries %zu "
		    "RegistryError%s of severity Error", nerr,
		    nerr == 1 ? "" : "s");
		return (-1);
	}
	if (st == XDSMSG_FAILURE && n == 0) {
		xdsmsg_error_add(errs, XDSMSG_ERROR, code, loc,
		    line, "RegistryResponse status Failure carries no "
		    "RegistryError");
		return (-1);
	}
	if (st == XDSMSG_PARTIAL && n == 0) {
		xdsmsg_error_add(errs, XDSMSG_ERROR, code, loc,
		    line, "RegistryResponse status PartialSuccess carries no "
		    "RegistryError");
		return (-1);
	}
	return (0);
}

/* The rules as a registry applies them to an ITI-41/42 answer. */
int
xdsmsg_regresp_check(enum xdsmsg_status st, const struct xdsmsg_errors *c,
    long line, struct xdsmsg_errors *errs)
{
	return (xdsmsg_check(st, c, line, errs, XDSMSG_REGISTRY));
}

/* status attribute and RegistryErrorList of any RegistryResponseType. */
static void
xdsmsg_parse_status(const xmlNode *n, enum xdsmsg_status *st,
    struct xdsmsg_errors *carried, struct xdsmsg_errors *errs,
    const char *code)
{
	xmlNode			*list, *c;
	char			*v, *ecode, *ctx, *loc;
	const char		*sev;
	size_t			 max;
	enum xdsmsg_severity	 s;

	*st = XDSMSG_FAILURE;
	if ((v = xdsmsg_attr(n, "status")) == NULL)
		xdsmsg_bad(errs, code, n, "%s has no status attribute",
		    (const char *)n->name);
	else if (xdsmsg_status_parse(v, st) == -1)
		xdsmsg_bad(errs, code, n, "%s has the unknown status "
		    "\"%.*s\"", (const char *)n->name, XDSMSG_ECHO, v);
	free(v);
	list = xml_child(n, XML_NS_RS, "RegistryErrorList");
	if (list != NULL && xml_next_named(list, XML_NS_RS,
	    "RegistryErrorList") != NULL)
		xdsmsg_bad(errs, code, n, "%s has more than one "
		    "RegistryErrorList", (const char *)n->name);
	max = xdsmsg_count(list, XML_NS_RS, "RegistryError", errs, code);
	for (c = xml_child(list, XML_NS_RS, "RegistryError");
	    c != NULL && carried->n < max;
	    c = xml_next_named(c, XML_NS_RS, "RegistryError")) {
		ecode = xdsmsg_attr(c, "errorCode");
		ctx = xdsmsg_attr(c, "codeContext");
		loc = xdsmsg_attr(c, "location");
		s = XDSMSG_ERROR;
		if (ecode == NULL || *ecode == '\0')
			xdsmsg_bad(errs, code, c, "RegistryError has no "
			    "errorCode");
		if (ctx == NULL)
			xdsmsg_bad(errs, code, c, "RegistryError has no "
			    "codeContext");
		sev = xml_attr(c, "severity");
		if (sev != NULL && strcmp(sev, XDSMSG_SEVERITY_WARNING) == 0)
			s = XDSMSG_WARNING;
		else if (sev != NULL && strcmp(sev, XDSMSG_SEVERITY_ERROR) != 0)
			xdsmsg_bad(errs, code, c, "RegistryError has the "
			    "unknown severity \"%.*s\"", XDSMSG_ECHO, sev);
		xdsmsg_error_add(carried, s, ecode != NULL ? ecode : "",
		    loc, xml_line(c), "%s", ctx != NULL ? ctx : "");
		free(ecode);
		free(ctx);
		free(loc);
	}
}

/* ITI-41/42 answer. */
int
xdsmsg_regresp_parse(const xmlNode *n, struct xdsmsg_regresp *r,
    struct xdsmsg_errors *errs)
{
	size_t	before = xdsmsg_errors_count(errs, XDSMSG_ERROR);

	memset(r, 0, sizeof(*r));
	r->status = XDSMSG_FAILURE;
	if (xdsmsg_expect(n, XML_NS_RS, "RegistryResponse", errs,
	    XDSMSG_REGISTRY) == -1)
		return (-1);
	xdsmsg_parse_status(n, &r->status, &r->errors, errs, XDSMSG_REGISTRY);
	if (xdsmsg_errors_count(errs, XDSMSG_ERROR) == before)
		xdsmsg_regresp_check(r->status, &r->errors, xml_line(n), errs);
	return (xdsmsg_errors_count(errs, XDSMSG_ERROR) > before ? -1 : 0);
}

/* Frees the carried errors. */
void
xdsmsg_regresp_clear(struct xdsmsg_regresp *r)
{
	if (r == NULL)
		return;
	xdsmsg_errors_clear(&r->errors);
	memset(r, 0, sizeof(*r));
}

/* A standalone rs:RegistryResponse. */
int
xdsmsg_regresp_build(struct dbuf *b, enum xdsmsg_status st,
    const struct xdsmsg_errors *e)
{
	if (dbuf_printf(b, "<rs:RegistryResponse xmlns:rs=\"%s\" "
	    "status=\"%s\">", XML_NS_RS, xdsmsg_status_urn(st)) == -1 ||
	    xdsmsg_put_errors(b, e) == -1 ||
	    dbuf_addstr(b, "</rs:RegistryResponse>") == -1)
		return (-1);
	return (0);
}

/* DocumentRequest ----------------------------------------------------- */

/* One child element kept once; a second is a problem. */
static void
xdsmsg_once(char **slot, const xmlNode *c, struct xdsmsg_errors *errs,
    const char *code)
{
	if (*slot != NULL) {
		xdsmsg_bad(errs, code, c, "%s appears more than once in %s",
		    (const char *)c->name, (const char *)c->parent->name);
		return;
	}
	*slot = xdsmsg_text(c);
}

/* HomeCommunityId?, RepositoryUniqueId, DocumentUniqueId. */
static void
xdsmsg_docreq_parse(const xmlNode *n, struct xdsmsg_docreq *d, size_t idx,
    struct xdsmsg_errors *errs)
{
	xmlNode	*c;

	d->line = xml_line(n);
	for (c = xml_first(n); c != NULL; c = xml_next(c)) {
		if (xml_is(c, XML_NS_XDSB, "HomeCommunityId"))
			xdsmsg_once(&d->home, c, errs, XDSMSG_REPOSITORY);
		else if (xml_is(c, XML_NS_XDSB, "RepositoryUniqueId"))
			xdsmsg_once(&d->repository, c, errs,
			    XDSMSG_REPOSITORY);
		else if (xml_is(c, XML_NS_XDSB, "DocumentUniqueId"))
			xdsmsg_once(&d->document, c, errs, XDSMSG_REPOSITORY);
		else
			xdsmsg_bad(errs, XDSMSG_REPOSITORY, c, "DocumentRequest "
			    "%zu has an unexpected element %.*s", idx,
			    XDSMSG_ECHO, (const char *)c->name);
	}
	if (d->repository == NULL)
		xdsmsg_bad(errs, XDSMSG_REPOSITORY, n, "DocumentRequest %zu "
		    "has no RepositoryUniqueId", idx);
	else if (*d->repository == '\0')
		xdsmsg_bad(errs, XDSMSG_UNKNOWN_REPO, n, "DocumentRequest %zu "
		    "has an empty RepositoryUniqueId", idx);
	if (d->document == NULL)
		xdsmsg_bad(errs, XDSMSG_REPOSITORY, n, "DocumentRequest %zu "
		    "has no DocumentUniqueId", idx);
	else if (*d->document == '\0')
		xdsmsg_bad(errs, XDSMSG_DOC_UID, n, "DocumentRequest %zu "
		    "has an empty DocumentUniqueId", idx);
	if (d->home != NULL && *d->home == '\0')
		xdsmsg_bad(errs, XDSMSG_REPOSITORY, n, "DocumentRequest %zu "
		    "has an empty HomeCommunityId", idx);
}

/* Every DocumentRequest child of n; at least one. */
static void
xdsmsg_docreqs_parse(const xmlNode *n, struct xdsmsg_docreq **dp,
    size_t *np, struct xdsmsg_errors *errs, const char *code)
{
	xmlNode	*c;
	size_t	 max;

	max = xdsmsg_count(n, XML_NS_XDSB, "DocumentRequest", errs, code);
	if (max == 0) {
		xdsmsg_bad(errs, code, n, "%s has no DocumentRequest",
		    (const char *)n->name);
		return;
	}
	*dp = xcalloc(max, sizeof(**dp));
	for (c = xml_child(n, XML_NS_XDSB, "DocumentRequest");
	    c != NULL && *np < max;
	    c = xml_next_named(c, XML_NS_XDSB, "DocumentRequest")) {
		xdsmsg_docreq_parse(c, &(*dp)[*np], *np + 1, errs);
		(*np)++;
	}
}

static void
xdsmsg_docreq_free(struct xdsmsg_docreq *d)
{
	free(d->home);
	free(d->repository);
	free(d->document);
}

/* Written with the xdsb prefix, declared by an ancestor. */
static int
xdsmsg_docreq_build(struct dbuf *b, const struct xdsmsg_docreq *d)
{
	if (dbuf_addstr(b, "<xdsb:DocumentRequest>") == -1 ||
	    (d->home != NULL && xdsmsg_put(b, "<xdsb:HomeCommunityId>",
	    d->home, "</xdsb:HomeCommunityId>") == -1) ||
	    xdsmsg_put(b, "<xdsb:RepositoryUniqueId>", d->repository,
	    "</xdsb:RepositoryUniqueId>") == -1 ||
	    xdsmsg_put(b, "<xdsb:DocumentUniqueId>", d->document,
	    "</xdsb:DocumentUniqueId>") == -1 ||
	    dbuf_addstr(b, "</xdsb:DocumentRequest>") == -1)
		return (-1);
	return (0);
}

/* ITI-43 request ------------------------------------------------------- */

/* xdsb:RetrieveDocumentSetRequest. */
int
xdsmsg_retrieve_req_parse(const xmlNode *n, struct xdsmsg_retrieve_req *r,
    struct xdsmsg_errors *errs)
{
	size_t	before = xdsmsg_errors_count(errs, XDSMSG_ERROR);

	memset(r, 0, sizeof(*r));
	if (xdsmsg_expect(n, XML_NS_XDSB, "RetrieveDocumentSetRequest", errs,
	    XDSMSG_REPOSITORY) == -1)
		return (-1);
	xdsmsg_docreqs_parse(n, &r->docs, &r->ndocs, errs, XDSMSG_REPOSITORY);
	return (xdsmsg_errors_count(errs, XDSMSG_ERROR) > before ? -1 : 0);
}

/* Frees the requests. */
void
xdsmsg_retrieve_req_clear(struct xdsmsg_retrieve_req *r)
{
	size_t	i;

	if (r == NULL)
		return;
	for (i = 0; i < r->ndocs; i++)
		xdsmsg_docreq_free(&r->docs[i]);
	free(r->docs);
	memset(r, 0, sizeof(*r));
}

/* The consumer's ITI-43 body. */
int
xdsmsg_retrieve_req_build(struct dbuf *b, const struct xdsmsg_docreq *d,
    size_t n)
{
	size_t	i;

	if (dbuf_addstr(b, "<xdsb:RetrieveDocumentSetRequest xmlns:xdsb=\""
	    XML_NS_XDSB "\">") == -1)
		return (-1);
	for (i = 0; i < n; i++)
		if (xdsmsg_docreq_build(b, &d[i]) == -1)
			return (-1);
	return (dbuf_addstr(b, "</xdsb:RetrieveDocumentSetRequest>"));
}

/* Document content ----------------------------------------------------- */

/* An xop:Include with its href, or inline base64 decoded and hashed. */
static void
xdsmsg_content_parse(const xmlNode *n, struct xdsmsg_content *ct,
    const char *what, struct xdsmsg_errors *errs, const char *code)
{
	xmlNode		*inc, *t;
	const char	*href;
	char		*text;

	memset(ct, 0, sizeof(*ct));
	if ((inc = xml_first(n)) != NULL) {
		if (!xml_is(inc, XML_NS_XOP, "Include") ||
		    xml_next(inc) != NULL) {
			xdsmsg_bad(errs, code, n, "%s must hold base64 text "
			    "or one xop:Include", what);
			return;
		}
		for (t = n->children; t != NULL; t = t->next) {
			if (t->type == XML_TEXT_NODE && t->content != NULL &&
			    ((const char *)t->content)[strspn((const char *)
			    t->content, XDSMSG_WS)] != '\0') {
				xdsmsg_bad(errs, code, n, "%s holds both text "
				    "and an xop:Include", what);
				return;
			}
		}
		href = xml_attr(inc, "href");
		if (href == NULL || *href == '\0') {
			xdsmsg_bad(errs, code, inc, "the xop:Include in %s has "
			    "no href", what);
			return;
		}
		ct->href = xstrdup(href);
		return;
	}
	text = xml_text(n);
	if (xdsmsg_base64_decode(text, &ct->data, &ct->size) == -1) {
		xdsmsg_bad(errs, code, n, "%s is not valid base64", what);
		free(text);
		return;
	}
	free(text);
	xdsmsg_sha1_hex(ct->data, ct->size, ct->sha1);
}

static void
xdsmsg_content_free(struct xdsmsg_content *ct)
{
	free(ct->href);
	free(ct->data);
}

/* The content of an xdsb:Document element (tag written by the caller). */
static int
xdsmsg_content_build(struct dbuf *b, const struct xdsmsg_content *ct)
{
	if (ct->href != NULL)
		return (xdsmsg_put(b, "<xop:Include xmlns:xop=\"" XML_NS_XOP
		    "\" href=\"", ct->href, "\"/>"));
	if (ct->data == NULL)
		return (0);
	return (xdsmsg_base64_encode(b, ct->data, ct->size));
}

/* ITI-43 / RAD-69 response -------------------------------------------- */

/* One xdsb:DocumentResponse. */
static void
xdsmsg_docresp_parse(const xmlNode *n, struct xdsmsg_docresp *d, size_t idx,
    struct xdsmsg_errors *errs)
{
	xmlNode	*c, *doc = NULL;
	char	 what[64];

	d->line = xml_line(n);
	for (c = xml_first(n); c != NULL; c = xml_next(c)) {
		if (xml_is(c, XML_NS_XDSB, "HomeCommunityId"))
			xdsmsg_once(&d->home, c, errs, XDSMSG_REPOSITORY);
		else if (xml_is(c, XML_NS_XDSB, "RepositoryUniqueId"))
			xdsmsg_once(&d->repository, c, errs,
			    XDSMSG_REPOSITORY);
		else if (xml_is(c, XML_NS_XDSB, "DocumentUniqueId"))
			xdsmsg_once(&d->document, c, errs, XDSMSG_REPOSITORY);
		else if (xml_is(c, XML_NS_XDSB, "NewRepositoryUniqueId"))
			xdsmsg_once(&d->new_repository, c, errs,
			    XDSMSG_REPOSITORY);
		else if (xml_is(c, XML_NS_XDSB, "NewDocumentUniqueId"))
			xdsmsg_once(&d->new_document, c, errs,
			    XDSMSG_REPOSITORY);
		else if (xml_is(c, XML_NS_XDSB, "mimeType"))
			xdsmsg_once(&d->mime, c, errs, XDSMSG_REPOSITORY);
		else if (xml_is(c, XML_NS_XDSB, "Document") && doc == NULL)
			doc = c;
		else
			xdsmsg_bad(errs, XDSMSG_REPOSITORY, c, "DocumentResponse "
			    "%zu has an unexpected element %.*s", idx,
			    XDSMSG_ECHO, (const char *)c->name);
	}
	if (d->repository == NULL || *d->repository == '\0')
		xdsmsg_bad(errs, XDSMSG_REPOSITORY, n, "DocumentResponse %zu "
		    "has no RepositoryUniqueId", idx);
	if (d->document == NULL || *d->document == '\0')
		xdsmsg_bad(errs, XDSMSG_REPOSITORY, n, "DocumentResponse %zu "
		    "has no DocumentUniqueId", idx);
	if (d->mime == NULL || *d->mime == '\0')
		xdsmsg_bad(errs, XDSMSG_REPOSITORY, n, "DocumentResponse %zu "
		    "has no mimeType", idx);
	if (doc == NULL) {
		xdsmsg_bad(errs, XDSMSG_REPOSITORY, n, "DocumentResponse %zu "
		    "has no Document", idx);
		return;
	}
	snprintf(what, sizeof(what), "the Document of DocumentResponse %zu",
	    idx);
	xdsmsg_content_parse(doc, &d->content, what, errs, XDSMSG_REPOSITORY);
}

/* xdsb:RetrieveDocumentSetResponse. */
int
xdsmsg_retrieve_resp_parse(const xmlNode *n, struct xdsmsg_retrieve_resp *r,
    struct xdsmsg_errors *errs)
{
	xmlNode	*rr, *c;
	size_t	 before = xdsmsg_errors_count(errs, XDSMSG_ERROR), max;

	memset(r, 0, sizeof(*r));
	r->status = XDSMSG_FAILURE;
	if (xdsmsg_expect(n, XML_NS_XDSB, "RetrieveDocumentSetResponse", errs,
	    XDSMSG_REPOSITORY) == -1)
		return (-1);
	if ((rr = xml_child(n, XML_NS_RS, "RegistryResponse")) == NULL)
		xdsmsg_bad(errs, XDSMSG_REPOSITORY, n, "the "
		    "RetrieveDocumentSetResponse has no RegistryResponse");
	else {
		xdsmsg_parse_status(rr, &r->status, &r->errors, errs,
		    XDSMSG_REPOSITORY);
		xdsmsg_check(r->status, &r->errors, xml_line(rr), errs,
		    XDSMSG_REPOSITORY);
	}
	max = xdsmsg_count(n, XML_NS_XDSB, "DocumentResponse", errs,
	    XDSMSG_REPOSITORY);
	if (max > 0)
		r->docs = xcalloc(max, sizeof(*r->docs));
	for (c = xml_child(n, XML_NS_XDSB, "DocumentResponse");
	    c != NULL && r->ndocs < max;
	    c = xml_next_named(c, XML_NS_XDSB, "DocumentResponse")) {
		xdsmsg_docresp_parse(c, &r->docs[r->ndocs], r->ndocs + 1, errs);
		r->ndocs++;
	}
	if (r->status != XDSMSG_FAILURE && r->ndocs == 0 && rr != NULL)
		xdsmsg_bad(errs, XDSMSG_REPOSITORY, rr, "status %s but no "
		    "DocumentResponse", r->status == XDSMSG_SUCCESS ?
		    "Success" : "PartialSuccess");
	return (xdsmsg_errors_count(errs, XDSMSG_ERROR) > before ? -1 : 0);
}

/* Frees documents and carried errors. */
void
xdsmsg_retrieve_resp_clear(struct xdsmsg_retrieve_resp *r)
{
	struct xdsmsg_docresp	*d;
	size_t			 i;

	if (r == NULL)
		return;
	for (i = 0; i < r->ndocs; i++) {
		d = &r->docs[i];
		free(d->home);
		free(d->repository);
		free(d->document);
		free(d->new_repository);
		free(d->new_document);
		free(d->mime);
		xdsmsg_content_free(&d->content);
	}
	free(r->docs);
	xdsmsg_errors_clear(&r->errors);
	memset(r, 0, sizeof(*r));
}

/* The repository's ITI-43 / RAD-69 body. */
int
xdsmsg_retrieve_resp_build(struct dbuf *b,
    const struct xdsmsg_retrieve_resp *r)
{
	const struct xdsmsg_docresp	*d;
	size_t				 i;

	if (dbuf_printf(b, "<xdsb:RetrieveDocumentSetResponse xmlns:xdsb=\"%s\""
	    " xmlns:rs=\"%s\"><rs:RegistryResponse status=\"%s\">",
	    XML_NS_XDSB, XML_NS_RS, xdsmsg_status_urn(r->status)) == -1 ||
	    xdsmsg_put_errors(b, &r->errors) == -1 ||
	    dbuf_addstr(b, "</rs:RegistryResponse>") == -1)
		return (-1);
	for (i = 0; i < r->ndocs; i++) {
		d = &r->docs[i];
		if (dbuf_addstr(b, "<xdsb:DocumentResponse>") == -1 ||
		    (d->home != NULL && xdsmsg_put(b, "<xdsb:HomeCommunityId>",
		    d->home, "</xdsb:HomeCommunityId>") == -1) ||
		    xdsmsg_put(b, "<xdsb:RepositoryUniqueId>", d->repository,
		    "</xdsb:RepositoryUniqueId>") == -1 ||
		    xdsmsg_put(b, "<xdsb:DocumentUniqueId>", d->document,
		    "</xdsb:DocumentUniqueId>") == -1 ||
		    (d->new_repository != NULL && xdsmsg_put(b,
		    "<xdsb:NewRepositoryUniqueId>", d->new_repository,
		    "</xdsb:NewRepositoryUniqueId>") == -1) ||
		    (d->new_document != NULL && xdsmsg_put(b,
		    "<xdsb:NewDocumentUniqueId>", d->new_document,
		    "</xdsb:NewDocumentUniqueId>") == -1) ||
		    xdsmsg_put(b, "<xdsb:mimeType>", d->mime,
		    "</xdsb:mimeType>") == -1 ||
		    dbuf_addstr(b, "<xdsb:Document>") == -1 ||
		    xdsmsg_content_build(b, &d->content) == -1 ||
		    dbuf_addstr(b, "</xdsb:Document></xdsb:DocumentResponse>")
		    == -1)
			return (-1);
	}
	return (dbuf_addstr(b, "</xdsb:RetrieveDocumentSetResponse>"));
}

/* RAD-69 request ------------------------------------------------------- */

/* DICOM UID syntax (PS3.5 9.1): digits and dots, no empty or 0-led part. */
static int
xdsmsg_uid_ok(const char *s)
{
	size_t	len = strlen(s), i;

	if (len == 0 || len > 64 || s[0] == '.' || s[len - 1] == '.')
		return (0);
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return (0);
			continue;
		}
		if (s[i] < '0' || s[i] > '9')
			return (0);
		if (s[i] == '0' && (i == 0 || s[i - 1] == '.') &&
		    s[i + 1] != '.' && s[i + 1] != '\0')
			return (0);
	}
	return (1);
}

/* studyInstanceUID / seriesInstanceUID: present, non-empty, a UID. */
static char *
xdsmsg_uid_attr(const xmlNode *n, const char *attr, const char *what,
    size_t idx, struct xdsmsg_errors *errs)
{
	char	*v;

	if ((v = xdsmsg_attr(n, attr)) == NULL)
		xdsmsg_bad(errs, XDSMSG_XDSI, n, "RetrieveImagingDocumentSet"
		    "Request %s %zu must have a %s attribute", what, idx, attr);
	else if (*v == '\0')
		xdsmsg_bad(errs, XDSMSG_XDSI, n, "RetrieveImagingDocumentSet"
		    "Request %s %zu has an empty %s attribute", what, idx,
		    attr);
	else if (!xdsmsg_uid_ok(v))
		xdsmsg_bad(errs, XDSMSG_XDSI, n, "RetrieveImagingDocumentSet"
		    "Request %s %zu: %s is not a DICOM UID", what, idx, attr);
	return (v);
}

/* One xdsiB:SeriesRequest. */
static void
xdsmsg_series_parse(const xmlNode *n, struct xdsmsg_series *s, size_t idx,
    struct xdsmsg_errors *errs)
{
	s->line = xml_line(n);
	s->uid = xdsmsg_uid_attr(n, "seriesInstanceUID", "SeriesRequest", idx,
	    errs);
	xdsmsg_docreqs_parse(n, &s->docs, &s->ndocs, errs, XDSMSG_XDSI);
}

/* One xdsiB:StudyRequest. */
static void
xdsmsg_study_parse(const xmlNode *n, struct xdsmsg_study *s, size_t idx,
    struct xdsmsg_errors *errs)
{
	xmlNode	*c;
	size_t	 max;

	s->line = xml_line(n);
	s->uid = xdsmsg_uid_attr(n, "studyInstanceUID", "StudyRequest", idx,
	    errs);
	max = xdsmsg_count(n, XML_NS_XDSI, "SeriesRequest", errs, XDSMSG_XDSI);
	if (max == 0) {
		xdsmsg_bad(errs, XDSMSG_XDSI, n, "StudyRequest %zu has no "
		    "SeriesRequest", idx);
		return;
	}
	s->series = xcalloc(max, sizeof(*s->series));
	for (c = xml_child(n, XML_NS_XDSI, "SeriesRequest");
	    c != NULL && s->nseries < max;
	    c = xml_next_named(c, XML_NS_XDSI, "SeriesRequest")) {
		xdsmsg_series_parse(c, &s->series[s->nseries],
		    s->nseries + 1, errs);
		s->nseries++;
	}
}

/* xdsiB:RetrieveImagingDocumentSetRequest. */
int
xdsmsg_rad69_req_parse(const xmlNode *n, struct xdsmsg_rad69_req *r,
    struct xdsmsg_errors *errs)
{
	xmlNode	*c, *list;
	size_t	 before = xdsmsg_errors_count(errs, XDSMSG_ERROR), max;
	char	*v;

	memset(r, 0, sizeof(*r));
	if (xdsmsg_expect(n, XML_NS_XDSI, "RetrieveImagingDocumentSetRequest",
	    errs, XDSMSG_XDSI) == -1)
		return (-1);
	max = xdsmsg_count(n, XML_NS_XDSI, "StudyRequest", errs, XDSMSG_XDSI);
	if (max == 0)
		xdsmsg_bad(errs, XDSMSG_XDSI, n, "RetrieveImagingDocumentSet"
		    "Request has no StudyRequest");
	else
		r->studies = xcalloc(max, sizeof(*r->studies));
	for (c = xml_child(n, XML_NS_XDSI, "StudyRequest");
	    c != NULL && r->nstudies < max;
	    c = xml_next_named(c, XML_NS_XDSI, "StudyRequest")) {
		xdsmsg_study_parse(c, &r->studies[r->nstudies],
		    r->nstudies + 1, errs);
		r->nstudies++;
	}
	list = xml_child(n, XML_NS_XDSI, "TransferSyntaxUIDList");
	if (list == NULL) {
		xdsmsg_bad(errs, XDSMSG_REPOSITORY, n, XDSMSG_XFER ": the "
		    "request has no TransferSyntaxUIDList");
		goto out;
	}
	max = xdsmsg_count(list, XML_NS_XDSI, "TransferSyntaxUID", errs,
	    XDSMSG_REPOSITORY);
	if (max == 0) {
		xdsmsg_bad(errs, XDSMSG_REPOSITORY, list, XDSMSG_XFER ": the "
		    "TransferSyntaxUIDList is empty");
		goto out;
	}
	r->tsuids = xcalloc(max, sizeof(*r->tsuids));
	for (c = xml_child(list, XML_NS_XDSI, "TransferSyntaxUID");
	    c != NULL && r->ntsuids < max;
	    c = xml_next_named(c, XML_NS_XDSI, "TransferSyntaxUID")) {
		v = xdsmsg_text(c);
		if (*v == '\0')
			xdsmsg_bad(errs, XDSMSG_REPOSITORY, c, XDSMSG_XFER
			    ": TransferSyntaxUID %zu is empty", r->ntsuids + 1);
		else if (!xdsmsg_uid_ok(v))
			xdsmsg_bad(errs, XDSMSG_REPOSITORY, c, XDSMSG_XFER
			    ": TransferSyntaxUID %zu is not a UID",
			    r->ntsuids + 1);
		r->tsuids[r->ntsuids++] = v;
	}
out:
	return (xdsmsg_errors_count(errs, XDSMSG_ERROR) > before ? -1 : 0);
}

/* Frees studies, series, requests and syntaxes. */
void
xdsmsg_rad69_req_clear(struct xdsmsg_rad69_req *r)
{
	struct xdsmsg_study	*st;
	struct xdsmsg_series	*se;
	size_t			 i, j, k;

	if (r == NULL)
		return;
	for (i = 0; i < r->nstudies; i++) {
		st = &r->studies[i];
		for (j = 0; j < st->nseries; j++) {
			se = &st->series[j];
			for (k = 0; k < se->ndocs; k++)
				xdsmsg_docreq_free(&se->docs[k]);
			free(se->docs);
			free(se->uid);
		}
		free(st->series);
		free(st->uid);
	}
	free(r->studies);
	for (i = 0; i < r->ntsuids; i++)
		free(r->tsuids[i]);
	free(r->tsuids);
	memset(r, 0, sizeof(*r));
}

/* The consumer's RAD-69 body. */
int
xdsmsg_rad69_req_build(struct dbuf *b, const struct xdsmsg_rad69_req *r)
{
	const struct xdsmsg_study	*st;
	const struct xdsmsg_series	*se;
	size_t				 i, j, k;

	if (dbuf_addstr(b, "<xdsi:RetrieveImagingDocumentSetRequest "
	    "xmlns:xdsi=\"" XML_NS_XDSI "\" xmlns:xdsb=\"" XML_NS_XDSB "\">")
	    == -1)
		return (-1);
	for (i = 0; i < r->nstudies; i++) {
		st = &r->studies[i];
		if (xdsmsg_put(b, "<xdsi:StudyRequest studyInstanceUID=\"",
		    st->uid, "\">") == -1)
			return (-1);
		for (j = 0; j < st->nseries; j++) {
			se = &st->series[j];
			if (xdsmsg_put(b, "<xdsi:SeriesRequest "
			    "seriesInstanceUID=\"", se->uid, "\">") == -1)
				return (-1);
			for (k = 0; k < se->ndocs; k++)
				if (xdsmsg_docreq_build(b, &se->docs[k]) == -1)
					return (-1);
			if (dbuf_addstr(b, "</xdsi:SeriesRequest>") == -1)
				return (-1);
		}
		if (dbuf_addstr(b, "</xdsi:StudyRequest>") == -1)
			return (-1);
	}
	if (dbuf_addstr(b, "<xdsi:TransferSyntaxUIDList>") == -1)
		return (-1);
	for (i = 0; i < r->ntsuids; i++)
		if (xdsmsg_put(b, "<xdsi:TransferSyntaxUID>", r->tsuids[i],
		    "</xdsi:TransferSyntaxUID>") == -1)
			return (-1);
	return (dbuf_addstr(b, "</xdsi:TransferSyntaxUIDList>"
	    "</xdsi:RetrieveImagingDocumentSetRequest>"));
}

/* ITI-18 request ------------------------------------------------------- */

/* One rim:Slot with its ValueList values. */
static void
xdsmsg_slot_parse(const xmlNode *n, struct xdsmsg_slot *s, size_t idx,
    struct xdsmsg_errors *errs)
{
	xmlNode	*vl, *v;
	size_t	 max;

	s->line = xml_line(n);
	s->name = xdsmsg_attr(n, "name");
	if (s->name == NULL || *s->name == '\0')
		xdsmsg_bad(errs, XDSMSG_REGISTRY, n, "AdhocQuery Slot %zu has "
		    "no name", idx);
	if ((vl = xml_child(n, XML_NS_RIM, "ValueList")) == NULL)
		return;
	if (xml_next_named(vl, XML_NS_RIM, "ValueList") != NULL)
		xdsmsg_bad(errs, XDSMSG_REGISTRY, n, "AdhocQuery Slot %zu has "
		    "more than one ValueList", idx);
	max = xdsmsg_count(vl, XML_NS_RIM, "Value", errs, XDSMSG_REGISTRY);
	if (max == 0)
		return;
	s->values = xcalloc(max, sizeof(*s->values));
	for (v = xml_child(vl, XML_NS_RIM, "Value");
	    v != NULL && s->nvalues < max;
	    v = xml_next_named(v, XML_NS_RIM, "Value"))
		s->values[s->nvalues++] = xdsmsg_text(v);
}

/* query:AdhocQueryRequest. */
int
xdsmsg_query_req_parse(const xmlNode *n, struct xdsmsg_query_req *q,
    struct xdsmsg_errors *errs)
{
	xmlNode	*opt, *aq, *c;
	char	*v;
	size_t	 before = xdsmsg_errors_count(errs, XDSMSG_ERROR), max;

	memset(q, 0, sizeof(*q));
	if (xdsmsg_expect(n, XML_NS_QUERY, "AdhocQueryRequest", errs,
	    XDSMSG_REGISTRY) == -1)
		return (-1);
	q->line = xml_line(n);
	if ((opt = xml_child(n, XML_NS_QUERY, "ResponseOption")) == NULL)
		xdsmsg_bad(errs, XDSMSG_REGISTRY, n, "AdhocQueryRequest has no "
		    "ResponseOption");
	else {
		v = xdsmsg_attr(opt, "returnType");
		if (v != NULL && strcmp(v, "LeafClass") == 0)
			q->rtype = XDSMSG_LEAFCLASS;
		else if (v != NULL && strcmp(v, "ObjectRef") == 0)
			q->rtype = XDSMSG_OBJECTREF;
		else
			xdsmsg_bad(errs, XDSMSG_REGISTRY, opt, "ResponseOption "
			    "returnType must be LeafClass or ObjectRef, not "
			    "\"%.*s\"", XDSMSG_ECHO, v != NULL ? v :
			    "RegistryObject");
		free(v);
		v = xdsmsg_attr(opt, "returnComposedObjects");
		if (v == NULL || strcmp(v, "false") == 0 ||
		    strcmp(v, "0") == 0)
			q->composed = 0;
		else if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
			q->composed = 1;
		else
			xdsmsg_bad(errs, XDSMSG_REGISTRY, opt, "ResponseOption "
			    "returnComposedObjects is not a boolean");
		free(v);
	}
	if ((aq = xml_child(n, XML_NS_RIM, "AdhocQuery")) == NULL) {
		xdsmsg_bad(errs, XDSMSG_REGISTRY, n, "AdhocQueryRequest has no "
		    "AdhocQuery");
		goto out;
	}
	if (xml_next_named(aq, XML_NS_RIM, "AdhocQuery") != NULL)
		xdsmsg_bad(errs, XDSMSG_REGISTRY, n, "AdhocQueryRequest has "
		    "more than one AdhocQuery");
	q->id = xdsmsg_attr(aq, "id");
	if (q->id == NULL || *q->id == '\0')
		xdsmsg_bad(errs, XDSMSG_UNKNOWN_SQ, aq, "AdhocQuery has no id: "
		    "the stored query is not named");
	q->home = xdsmsg_attr(aq, "home");
	max = xdsmsg_count(aq, XML_NS_RIM, "Slot", errs, XDSMSG_REGISTRY);
	if (max > 0)
		q->slots = xcalloc(max, sizeof(*q->slots));
	for (c = xml_child(aq, XML_NS_RIM, "Slot");
	    c != NULL && q->nslots < max;
	    c = xml_next_named(c, XML_NS_RIM, "Slot")) {
		xdsmsg_slot_parse(c, &q->slots[q->nslots], q->nslots + 1,
		    errs);
		q->nslots++;
	}
out:
	return (xdsmsg_errors_count(errs, XDSMSG_ERROR) > before ? -1 : 0);
}

/* Frees slots and strings. */
void
xdsmsg_query_req_clear(struct xdsmsg_query_req *q)
{
	size_t	i, j;

	if (q == NULL)
		return;
	for (i = 0; i < q->nslots; i++) {
		for (j = 0; j < q->slots[i].nvalues; j++)
			free(q->slots[i].values[j]);
		free(q->slots[i].values);
		free(q->slots[i].name);
	}
	free(q->slots);
	free(q->id);
	free(q->home);
	memset(q, 0, sizeof(*q));
}

/* A query made with sq_build_*: its slots as xdsmsg_slots. */
int
xdsmsg_query_req_build_sq(struct dbuf *b, struct sq_build *sb,
    enum xdsmsg_return rtype)
{
	struct xdsmsg_query_req	 req;
	const struct sq_slot	*ss;
	struct xdsmsg_slot	*slots;
	size_t			 n, i;
	int			 rc;

	ss = sq_build_slots(sb, &n);
	slots = xcalloc(n + 1, sizeof(*slots));
	for (i = 0; i < n; i++) {
		slots[i].name = (char *)(uintptr_t)ss[i].name;
		slots[i].values = (char **)(uintptr_t)ss[i].values;
		slots[i].nvalues = ss[i].nvalues;
	}
	memset(&req, 0, sizeof(req));
	req.rtype = rtype;
	req.composed = 1;
	req.id = (char *)(uintptr_t)sq_build_id(sb);
	req.slots = slots;
	req.nslots = n;
	rc = xdsmsg_query_req_build(b, &req);
	free(slots);
	return (rc);
}

/* The consumer's ITI-18 body. */
int
xdsmsg_query_req_build(struct dbuf *b, const struct xdsmsg_query_req *q)
{
	const struct xdsmsg_slot	*s;
	size_t				 i, j;

	if (dbuf_printf(b, "<query:AdhocQueryRequest xmlns:query=\"%s\" "
	    "xmlns:rim=\"%s\"><query:ResponseOption returnComposedObjects="
	    "\"%s\" returnType=\"%s\"/>", XML_NS_QUERY, XML_NS_RIM,
	    q->composed ? "true" : "false", q->rtype == XDSMSG_OBJECTREF ?
	    "ObjectRef" : "LeafClass") == -1 ||
	    xdsmsg_put(b, "<rim:AdhocQuery id=\"", q->id, "\"") == -1 ||
	    (q->home != NULL && xdsmsg_put(b, " home=\"", q->home, "\"") == -1)
	    || dbuf_addc(b, '>') == -1)
		return (-1);
	for (i = 0; i < q->nslots; i++) {
		s = &q->slots[i];
		if (xdsmsg_put(b, "<rim:Slot name=\"", s->name,
		    "\"><rim:ValueList>") == -1)
			return (-1);
		for (j = 0; j < s->nvalues; j++)
			if (xdsmsg_put(b, "<rim:Value>", s->values[j],
			    "</rim:Value>") == -1)
				return (-1);
		if (dbuf_addstr(b, "</rim:ValueList></rim:Slot>") == -1)
			return (-1);
	}
	return (dbuf_addstr(b, "</rim:AdhocQuery></query:AdhocQueryRequest>"));
}

/* ITI-18 response ------------------------------------------------------ */

/* query:AdhocQueryResponse. */
int
xdsmsg_query_resp_parse(const xmlNode *n, struct xdsmsg_query_resp *q,
    struct xdsmsg_errors *errs)
{
	xmlNode	*c;
	char	*id;
	size_t	 before = xdsmsg_errors_count(errs, XDSMSG_ERROR), max;

	memset(q, 0, sizeof(*q));
	q->status = XDSMSG_FAILURE;
	if (xdsmsg_expect(n, XML_NS_QUERY, "AdhocQueryResponse", errs,
	    XDSMSG_REGISTRY) == -1)
		return (-1);
	xdsmsg_parse_status(n, &q->status, &q->errors, errs, XDSMSG_REGISTRY);
	xdsmsg_regresp_check(q->status, &q->errors, xml_line(n), errs);
	q->objects = xml_child(n, XML_NS_RIM, "RegistryObjectList");
	if (q->objects == NULL) {
		if (q->status != XDSMSG_FAILURE)
			xdsmsg_bad(errs, XDSMSG_REGISTRY, n, "AdhocQueryResponse"
			    " has no RegistryObjectList");
		goto out;
	}
	max = xdsmsg_count(q->objects, XML_NS_RIM, "ObjectRef", errs,
	    XDSMSG_REGISTRY);
	if (max > 0)
		q->refs = xcalloc(max, sizeof(*q->refs));
	for (c = xml_first(q->objects); c != NULL; c = xml_next(c)) {
		if (!xml_is(c, XML_NS_RIM, "ObjectRef")) {
			q->nleaf++;
			continue;
		}
		if (q->nrefs >= max)
			continue;
		id = xdsmsg_attr(c, "id");
		if (id == NULL || *id == '\0') {
			xdsmsg_bad(errs, XDSMSG_REGISTRY, c, "ObjectRef %zu has "
			    "no id", q->nrefs + 1);
			free(id);
			id = xstrdup("");
		}
		q->refs[q->nrefs++] = id;
	}
out:
	return (xdsmsg_errors_count(errs, XDSMSG_ERROR) > before ? -1 : 0);
}

/* Frees refs and carried errors (objects belong to the document). */
void
xdsmsg_query_resp_clear(struct xdsmsg_query_resp *q)
{
	size_t	i;

	if (q == NULL)
		return;
	for (i = 0; i < q->nrefs; i++)
		free(q->refs[i]);
	free(q->refs);
	xdsmsg_errors_clear(&q->errors);
	memset(q, 0, sizeof(*q));
}

/* The registry's ITI-18 body. */
int
xdsmsg_query_resp_build(struct dbuf *b, const struct xdsmsg_query_resp *q,
    const char *leaf, size_t len)
{
	size_t	i;

	if (dbuf_printf(b, "<query:AdhocQueryResponse xmlns:query=\"%s\" "
	    "xmlns:rs=\"%s\" status=\"%s\">", XML_NS_QUERY, XML_NS_RS,
	    xdsmsg_status_urn(q->status)) == -1 ||
	    xdsmsg_put_errors(b, &q->errors) == -1 ||
	    dbuf_addstr(b, "<rim:RegistryObjectList xmlns:rim=\"" XML_NS_RIM
	    "\">") == -1)
		return (-1);
	if (leaf != NULL) {
		if (len > 0 && dbuf_add(b, leaf, len) == -1)
			return (-1);
	} else {
		for (i = 0; i < q->nrefs; i++)
			if (xdsmsg_put(b, "<rim:ObjectRef id=\"", q->refs[i],
			    "\"/>") == -1)
				return (-1);
	}
	return (dbuf_addstr(b, "</rim:RegistryObjectList>"
	    "</query:AdhocQueryResponse>"));
}

/* ITI-41 request ------------------------------------------------------- */

/* xdsb:ProvideAndRegisterDocumentSetRequest. */
int
xdsmsg_pnr_parse(const xmlNode *n, struct xdsmsg_pnr *p,
    struct xdsmsg_errors *errs)
{
	struct xdsmsg_document	*d;
	xmlNode			*c;
	size_t			 before, max, i;
	char			 what[64];

	before = xdsmsg_errors_count(errs, XDSMSG_ERROR);
	memset(p, 0, sizeof(*p));
	if (xdsmsg_expect(n, XML_NS_XDSB,
	    "ProvideAndRegisterDocumentSetRequest", errs,
	    XDSMSG_REPOSITORY) == -1)
		return (-1);
	max = xdsmsg_count(n, XML_NS_XDSB, "Document", errs,
	    XDSMSG_REPOSITORY);
	if (max > 0)
		p->docs = xcalloc(max, sizeof(*p->docs));
	for (c = xml_first(n); c != NULL; c = xml_next(c)) {
		if (xml_is(c, XML_NS_LCM, "SubmitObjectsRequest")) {
			if (p->submit != NULL) {
				xdsmsg_bad(errs, XDSMSG_REPOSITORY, c, "more "
				    "than one SubmitObjectsRequest");
				continue;
			}
			if (p->ndocs > 0)
				xdsmsg_bad(errs, XDSMSG_REPOSITORY, c, "the "
				    "SubmitObjectsRequest must come before "
				    "the Documents");
			p->submit = c;
			continue;
		}
		if (!xml_is(c, XML_NS_XDSB, "Document")) {
			xdsmsg_bad(errs, XDSMSG_REPOSITORY, c, "unexpected "
			    "element %.*s in ProvideAndRegisterDocumentSet"
			    "Request", XDSMSG_ECHO, (const char *)c->name);
			continue;
		}
		if (p->ndocs >= max)
			continue;
		d = &p->docs[p->ndocs++];
		d->line = xml_line(c);
		d->id = xdsmsg_attr(c, "id");
		if (d->id == NULL || *d->id == '\0') {
			xdsmsg_bad(errs, XDSMSG_REPO_META, c, "Document %zu has "
			    "no id attribute", p->ndocs);
			free(d->id);
			d->id = xstrdup("");
		} else {
			for (i = 0; i + 1 < p->ndocs; i++)
				if (strcmp(p->docs[i].id, d->id) == 0)
					break;
			if (i + 1 < p->ndocs)
				xdsmsg_bad(errs, XDSMSG_REPO_META, c, "Document "
				    "%zu has the same id as Document %zu",
				    p->ndocs, i + 1);
		}
		snprintf(what, sizeof(what), "Document %zu", p->ndocs);
		xdsmsg_content_parse(c, &d->content, what, errs,
		    XDSMSG_REPOSITORY);
	}
	if (p->submit == NULL)
		xdsmsg_bad(errs, XDSMSG_REPOSITORY, n, "ProvideAndRegister"
		    "DocumentSetRequest has no SubmitObjectsRequest");
	return (xdsmsg_errors_count(errs, XDSMSG_ERROR) > before ? -1 : 0);
}

/* Frees the documents (submit belongs to the document). */
void
xdsmsg_pnr_clear(struct xdsmsg_pnr *p)
{
	size_t	i;

	if (p == NULL)
		return;
	for (i = 0; i < p->ndocs; i++) {
		free(p->docs[i].id);
		xdsmsg_content_free(&p->docs[i].content);
	}
	free(p->docs);
	memset(p, 0, sizeof(*p));
}

/* The source's ITI-41 body around a SubmitObjectsRequest. */
int
xdsmsg_pnr_build(struct dbuf *b, const char *submit, size_t len,
    const struct xdsmsg_document *d, size_t n)
{
	size_t	i;

	if (dbuf_addstr(b, "<xdsb:ProvideAndRegisterDocumentSetRequest "
	    "xmlns:xdsb=\"" XML_NS_XDSB "\">") == -1 ||
	    (len > 0 && dbuf_add(b, submit, len) == -1))
		return (-1);
	for (i = 0; i < n; i++) {
		if (xdsmsg_put(b, "<xdsb:Document id=\"", d[i].id, "\">") == -1 ||
		    xdsmsg_content_build(b, &d[i].content) == -1 ||
		    dbuf_addstr(b, "</xdsb:Document>") == -1)
			return (-1);
	}
	return (dbuf_addstr(b, "</xdsb:ProvideAndRegisterDocumentSetRequest>"));
}
