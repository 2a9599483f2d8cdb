/*
 * isn-validate.c: check a saved ITI-41/42, ITI-18, ITI-43, RAD-69 or ITI-8
 * message with the clearinghouse's own code and print every problem as
 * "errorCode location: message".
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbuf.h"
#include "http.h"
#include "iti8.h"
#include "mtom.h"
#include "soap.h"
#include "sq.h"
#include "xdsmeta.h"
#include "xdsmsg.h"
#include "xdsvalid.h"
#include "xml.h"
#include "xmalloc.h"

#define VALIDATE_READ	(64 * 1024)
#define VALIDATE_MAX_HL7 (1024 * 1024)

enum vkind {
	VK_UNKNOWN,
	VK_ITI41,
	VK_ITI42,
	VK_ITI18,
	VK_ITI18_RESP,
	VK_ITI43,
	VK_ITI43_RESP,
	VK_RAD69,
	VK_RESPONSE,
	VK_ITI8
};

static const struct {
	const char	*name;
	enum vkind	 kind;
	const char	*ns, *elem;	/* the body element */
} validate_kinds[] = {
	{ "iti41", VK_ITI41, XML_NS_XDSB, "ProvideAndRegisterDocumentSetRequest" },
	{ "iti42", VK_ITI42, XML_NS_LCM, "SubmitObjectsRequest" },
	{ "iti18", VK_ITI18, XML_NS_QUERY, "AdhocQueryRequest" },
	{ "iti18-response", VK_ITI18_RESP, XML_NS_QUERY, "AdhocQueryResponse" },
	{ "iti43", VK_ITI43, XML_NS_XDSB, "RetrieveDocumentSetRequest" },
	{ "iti43-response", VK_ITI43_RESP, XML_NS_XDSB,
	  "RetrieveDocumentSetResponse" },
	{ "rad69", VK_RAD69, XML_NS_XDSI, "RetrieveImagingDocumentSetRequest" },
	{ "response", VK_RESPONSE, XML_NS_RS, "RegistryResponse" },
	{ "iti8", VK_ITI8, NULL, NULL },
};

struct validate {
	/* Options. */
	enum vkind		 want;
	const char		*content_type;
	const char		*oid;
	const char		*repository;
	int			 isn2;
	int			 quiet;

	/* Input: an HTTP message, a MIME body, or bytes kept whole. */
	struct http_parser	*http;
	struct mtom_parser	*mtom;
	struct dbuf		 whole;
	int			 input_failed;

	struct xdsmsg_errors	 problems;
};

static void
validate_usage(FILE *f)
{
	fprintf(f, "usage: isn-validate [-q] [--kind kind] [--content-type "
	    "type] [--oid oid]\n\t[--repository-uid uid] [--profile isn2] "
	    "file\nkinds: iti41 iti42 iti18 iti18-response iti43 "
	    "iti43-response rad69 response iti8\n");
}

static void printflike(4, 5)
validate_problem(struct validate *v, const char *code, const char *location,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	xdsmsg_error_add(&v->problems, XDSMSG_ERROR, code, location, 0, "%s",
	    msg);
	free(msg);
}

/* Merge another module's errors into the problem list. */
static void
validate_merge(struct validate *v, struct xdsmsg_errors *e)
{
	size_t	i;

	for (i = 0; i < e->n; i++)
		xdsmsg_error_add(&v->problems, e->v[i].severity, e->v[i].code,
		    e->v[i].location, e->v[i].line, "%s", e->v[i].context);
	xdsmsg_errors_clear(e);
}

static void
validate_merge_xds(struct validate *v, const struct xds_errors *e)
{
	size_t	i;

	for (i = 0; i < e->n; i++)
		xdsmsg_error_add(&v->problems, XDSMSG_ERROR, e->v[i].code,
		    e->v[i].location, e->v[i].line, "%s", e->v[i].message);
}

/* HTTP head: a multipart body goes to the MTOM parser, any other is kept. */
static int
validate_http_head(const struct http_msg *m, void *arg, char **cause)
{
	struct validate	*v = arg;
	const char	*ct = http_msg_header(m, "Content-Type");

	if (ct != NULL && strncasecmp(ct, "multipart/", 10) == 0) {
		v->mtom = mtom_parser_new(ct, NULL, NULL, NULL, cause);
		if (v->mtom == NULL)
			return (-1);
	}
	return (0);
}

static int
validate_http_body(const void *buf, size_t len, void *arg, char **cause)
{
	struct validate	*v = arg;

	if (v->mtom != NULL)
		return (mtom_parser_feed(v->mtom, buf, len, cause));
	if (dbuf_add(&v->whole, buf, len) == -1) {
		xasprintf(cause, "body is larger than %d bytes", XML_MAX_SIZE);
		return (-1);
	}
	return (0);
}

/* A MIME body saved alone: its type comes from --content-type or line 1. */
static int
validate_mime_start(struct validate *v, const char *buf, size_t len,
    char **cause)
{
	char	*ct, *boundary;
	size_t	 n;

	if (v->content_type != NULL) {
		v->mtom = mtom_parser_new(v->content_type, NULL, NULL, NULL,
		    cause);
		return (v->mtom == NULL ? -1 : 0);
	}
	n = strcspn(buf + 2, "\r\n");
	if (n == 0 || n > MTOM_MAX_BOUNDARY || 2 + n >= len) {
		xasprintf(cause, "a MIME body without --content-type must "
		    "start with its boundary line");
		return (-1);
	}
	boundary = xstrndup(buf + 2, n);
	while (n > 0 && boundary[n - 1] == ' ')
		boundary[--n] = '\0';
	xasprintf(&ct, "multipart/related; type=\"application/xop+xml\"; "
	    "boundary=\"%s\"", boundary);
	v->mtom = mtom_parser_new(ct, NULL, NULL, NULL, cause);
	free(boundary);
	free(ct);
	return (v->mtom == NULL ? -1 : 0);
}

static int
validate_is_http(const char *p, size_t len)
{
	static const char *starts[] = { "POST ", "PUT ", "GET ", "HTTP/1." };
	size_t		   i, n;

	for (i = 0; i < sizeof(starts) / sizeof(*starts); i++) {
		n = strlen(starts[i]);
		if (len >= n && memcmp(p, starts[i], n) == 0)
			return (1);
	}
	return (0);
}

/* Feed the input, whatever its form, in bounded reads. */
static int
validate_read(struct validate *v, int fd, char **cause)
{
	char	 buf[VALIDATE_READ];
	ssize_t	 n;
	size_t	 used, skip;
	int	 first = 1, rc;
	static const struct http_callbacks cbs = {
		validate_http_head, validate_http_body, NULL
	};

	for (;;) {
		if ((n = read(fd, buf, sizeof(buf) - 1)) == -1) {
			if (errno == EINTR)
				continue;
			xasprintf(cause, "read: %s", strerror(errno));
			return (-1);
		}
		if (n == 0)
			break;
		buf[n] = '\0';
		if (first) {
			first = 0;
			skip = strspn(buf, " \t\r\n");
			if (validate_is_http(buf + skip, (size_t)n - skip))
				v->http = http_parser_new(HTTP_F_REQUEST |
				    HTTP_F_RESPONSE | HTTP_F_LAX, NULL, &cbs, v);
			else if (strncmp(buf + skip, "--", 2) == 0 &&
			    validate_mime_start(v, buf + skip, (size_t)n - skip,
			    cause) == -1)
				return (-1);
		}
		if (v->http != NULL)
			rc = http_parser_feed(v->http, buf, (size_t)n, &used,
			    cause);
		else if (v->mtom != NULL)
			rc = mtom_parser_feed(v->mtom, buf, (size_t)n, cause);
		else if ((rc = dbuf_add(&v->whole, buf, (size_t)n)) == -1)
			xasprintf(cause, "input is larger than %d bytes",
			    XML_MAX_SIZE);
		if (rc == -1)
			return (-1);
	}
	if (v->http != NULL && http_parser_finish(v->http, cause) == -1)
		return (-1);
	if (v->mtom != NULL && mtom_parser_finish(v->mtom, cause) == -1)
		return (-1);
	return (0);
}

static void
validate_iti8(struct validate *v)
{
	struct hl7_msg		*m;
	struct iti8_feed	 f;
	char			*cause = NULL, code[8];
	size_t			 i;

	if (v->whole.len > VALIDATE_MAX_HL7 ||
	    (m = hl7_parse(v->whole.data, v->whole.len, NULL, &cause)) ==
	    NULL) {
		validate_problem(v, "102", "message", "%s", cause != NULL ?
		    cause : "HL7 message is larger than 1 MiB");
		free(cause);
		return;
	}
	iti8_check(m, v->oid, &f);
	for (i = 0; i < f.nproblems; i++) {
		snprintf(code, sizeof(code), "%d", f.problems[i].code);
		xdsmsg_error_add(&v->problems, f.problems[i].warning ?
		    XDSMSG_WARNING : XDSMSG_ERROR, code, f.problems[i].location,
		    0, "%s", f.problems[i].message);
	}
	iti8_feed_clear(&f);
	hl7_msg_free(m);
}

/* Size and SHA-1 of a document, inline or an xop:Include of a MIME part. */
static int
validate_content(struct validate *v, const struct xdsmsg_content *c,
    const char *code, const char *id, int64_t *size, const char **sha1)
{
	const struct mtom_part	*part;

	if (c->href == NULL) {
		*size = (int64_t)c->size;
		*sha1 = c->sha1;
		return (0);
	}
	part = v->mtom != NULL ? mtom_parser_lookup(v->mtom, c->href) : NULL;
	if (part == NULL) {
		validate_problem(v, code, id, "xop:Include href \"%.80s\" "
		    "names no MIME part of the message", c->href);
		return (-1);
	}
	*size = (int64_t)part->size;
	*sha1 = part->sha1;
	return (0);
}

static void
validate_submission(struct validate *v, const xmlNode *node,
    const struct xdsmsg_pnr *pnr, int flags)
{
	struct xds_submission	*sub;
	struct xdsvalid_doc	*docs = NULL;
	struct xds_errors	 xe = { NULL, 0 };
	char			*cause = NULL;
	size_t			 i, n = 0;

	if ((sub = xdsmeta_parse(node, &cause)) == NULL) {
		validate_problem(v, XDS_ERR_METADATA, "SubmitObjectsRequest",
		    "%s", cause);
		free(cause);
		return;
	}
	if (pnr != NULL && pnr->ndocs > 0) {
		docs = xcalloc(pnr->ndocs, sizeof(*docs));
		for (i = 0; i < pnr->ndocs; i++) {
			docs[n].id = pnr->docs[i].id;
			if (validate_content(v, &pnr->docs[i].content,
			    XDS_ERR_MISSING_DOC, pnr->docs[i].id, &docs[n].size,
			    &docs[n].sha1) == 0)
				n++;
		}
	}
	xdsvalid_check(sub, flags | (v->isn2 ? XDSVALID_ISN2 : 0), docs, n,
	    &xe);
	validate_merge_xds(v, &xe);
	xdsmeta_errors_free(&xe);
	free(docs);
	xdsmeta_free(sub);
}

static void
validate_iti41(struct validate *v, const xmlNode *body)
{
	struct xdsmsg_pnr	pnr;
	struct xdsmsg_errors	e = { NULL, 0 };

	memset(&pnr, 0, sizeof(pnr));
	xdsmsg_pnr_parse(body, &pnr, &e);
	validate_merge(v, &e);
	if (pnr.submit != NULL)
		validate_submission(v, pnr.submit, &pnr, XDSVALID_ITI41);
	xdsmsg_pnr_clear(&pnr);
}

static void
validate_iti18(struct validate *v, const xmlNode *body)
{
	struct xdsmsg_query_req	 q;
	struct xdsmsg_errors	 e = { NULL, 0 };
	struct sq_slot		*slots;
	struct sq_query		*sq;
	const struct sq_error	*err;
	size_t			 i;

	memset(&q, 0, sizeof(q));
	if (xdsmsg_query_req_parse(body, &q, &e) == -1 || q.id == NULL) {
		validate_merge(v, &e);
		xdsmsg_query_req_clear(&q);
		return;
	}
	validate_merge(v, &e);
	slots = xcalloc(q.nslots + 1, sizeof(*slots));
	for (i = 0; i < q.nslots; i++) {
		slots[i].name = q.slots[i].name;
		slots[i].values = (const char *const *)q.slots[i].values;
		slots[i].nvalues = q.slots[i].nvalues;
		slots[i].line = q.slots[i].line;
	}
	sq = sq_parse(q.id, slots, q.nslots);
	for (i = 0; i < sq_nerrors(sq); i++) {
		err = sq_error(sq, i);
		xdsmsg_error_add(&v->problems, XDSMSG_ERROR, err->code,
		    err->location, err->line, "%s", err->message);
	}
	for (i = 0; i < sq_nwarnings(sq); i++)
		xdsmsg_error_add(&v->problems, XDSMSG_WARNING,
		    "XDSStoredQueryParam", "AdhocQuery", 0, "%s",
		    sq_warning(sq, i));
	sq_query_free(sq);
	free(slots);
	xdsmsg_query_req_clear(&q);
}

/* A LeafClass result must not mix patients (XDSResultNotSinglePatient). */
static void
validate_iti18_response(struct validate *v, const xmlNode *body)
{
	struct xdsmsg_query_resp r;
	struct xdsmsg_errors	 e = { NULL, 0 };
	struct xds_submission	*sub;
	const char		*first = NULL, *pid;
	char			*cause = NULL;
	size_t			 i;

	memset(&r, 0, sizeof(r));
	xdsmsg_query_resp_parse(body, &r, &e);
	validate_merge(v, &e);
	if (r.objects != NULL && r.nleaf > 0) {
		if ((sub = xdsmeta_parse(r.objects, &cause)) == NULL) {
			validate_problem(v, "XDSRegistryError",
			    "RegistryObjectList", "%s", cause);
			free(cause);
		} else {
			validate_merge_xds(v, &sub->errors);
			for (i = 0; i < sub->ndocs; i++) {
				pid = sub->docs[i].patient_id.value;
				if (pid == NULL)
					continue;
				if (first == NULL)
					first = pid;
				else if (strcmp(first, pid) != 0) {
					validate_problem(v,
					    "XDSResultNotSinglePatient",
					    sub->docs[i].o.id, "a LeafClass "
					    "result holds documents of more "
					    "than one patient");
					break;
				}
			}
			xdsmeta_free(sub);
		}
	}
	xdsmsg_query_resp_clear(&r);
}

static void
validate_repository(struct validate *v, const struct xdsmsg_docreq *d)
{
	if (v->repository != NULL && d->repository != NULL &&
	    strcmp(d->repository, v->repository) != 0)
		validate_problem(v, "XDSUnknownRepositoryId", d->document != NULL ?
		    d->document : "DocumentRequest", "RepositoryUniqueId "
		    "\"%.64s\" is not this repository (%s)", d->repository,
		    v->repository);
}

static void
validate_iti43(struct validate *v, const xmlNode *body)
{
	struct xdsmsg_retrieve_req	r;
	struct xdsmsg_errors		e = { NULL, 0 };
	size_t				i;

	memset(&r, 0, sizeof(r));
	xdsmsg_retrieve_req_parse(body, &r, &e);
	validate_merge(v, &e);
	for (i = 0; i < r.ndocs; i++)
		validate_repository(v, &r.docs[i]);
	xdsmsg_retrieve_req_clear(&r);
}

static void
validate_iti43_response(struct validate *v, const xmlNode *body)
{
	struct xdsmsg_retrieve_resp	r;
	struct xdsmsg_errors		e = { NULL, 0 };
	const char			*sha1;
	int64_t				 size;
	size_t				 i;

	memset(&r, 0, sizeof(r));
	xdsmsg_retrieve_resp_parse(body, &r, &e);
	validate_merge(v, &e);
	for (i = 0; i < r.ndocs; i++)
		validate_content(v, &r.docs[i].content, "XDSRepositoryError",
		    r.docs[i].document != NULL ? r.docs[i].document :
		    "DocumentResponse", &size, &sha1);
	xdsmsg_retrieve_resp_clear(&r);
}

static void
validate_rad69(struct validate *v, const xmlNode *body)
{
	struct xdsmsg_rad69_req	r;
	struct xdsmsg_errors	e = { NULL, 0 };
	size_t			i, j, k;

	memset(&r, 0, sizeof(r));
	xdsmsg_rad69_req_parse(body, &r, &e);
	validate_merge(v, &e);
	for (i = 0; i < r.nstudies; i++)
		for (j = 0; j < r.studies[i].nseries; j++)
			for (k = 0; k < r.studies[i].series[j].ndocs; k++)
				validate_repository(v,
				    &r.studies[i].series[j].docs[k]);
	xdsmsg_rad69_req_clear(&r);
}

static void
validate_response(struct validate *v, const xmlNode *body)
{
	struct xdsmsg_regresp	r;
	struct xdsmsg_errors	e = { NULL, 0 };

	memset(&r, 0, sizeof(r));
	xdsmsg_regresp_parse(body, &r, &e);
	validate_merge(v, &e);
	xdsmsg_regresp_clear(&r);
}

static enum vkind
validate_kind_of(const xmlNode *body)
{
	size_t	i;

	for (i = 0; i < sizeof(validate_kinds) / sizeof(*validate_kinds); i++)
		if (validate_kinds[i].elem != NULL &&
		    xml_is(body, validate_kinds[i].ns, validate_kinds[i].elem))
			return (validate_kinds[i].kind);
	return (VK_UNKNOWN);
}

static const char *
validate_kind_name(enum vkind k)
{
	size_t	i;

	for (i = 0; i < sizeof(validate_kinds) / sizeof(*validate_kinds); i++)
		if (validate_kinds[i].kind == k)
			return (validate_kinds[i].name);
	return ("unknown");
}

/* A SOAP problem is printed as soap:<Code> with the fault's reason. */
static void
validate_fault(struct validate *v, const struct soap_fault *f)
{
	char	code[64];

	snprintf(code, sizeof(code), "soap:%s", soap_code_name(f->code));
	validate_problem(v, code, f->subcode != NULL ? f->subcode : "Envelope",
	    "%s", f->reason != NULL ? f->reason : "SOAP fault");
}

static void
validate_xml(struct validate *v, const char *buf, size_t len)
{
	struct soap_msg			 m;
	struct soap_fault		 f;
	const struct soap_action	*act;
	const xmlNode			*body;
	xmlDoc				*doc;
	char				*cause = NULL;
	enum vkind			 kind;

	memset(&m, 0, sizeof(m));
	memset(&f, 0, sizeof(f));
	if ((doc = xml_parse(buf, len, NULL, &cause)) == NULL) {
		validate_problem(v, "soap:Sender", "message", "%s", cause);
		free(cause);
		return;
	}
	body = xmlDocGetRootElement(doc);
	if (xml_is(body, NULL, "Envelope")) {
		if (soap_msg_parse(doc, &m, &f) == -1) {
			validate_fault(v, &f);
			goto out;
		}
		body = m.body;
		if (m.is_fault) {
			validate_problem(v, "soap:Fault", "Body", "the message "
			    "is a SOAP fault: %s", m.fault.reason != NULL ?
			    m.fault.reason : "");
			goto out;
		}
		/* A request must carry its action and the matching body. */
		if (soap_action_find(m.action != NULL ? m.action : "") != NULL &&
		    soap_check_request(&m, NULL, &act, &f) == -1) {
			validate_fault(v, &f);
			goto out;
		}
	}
	if (body == NULL) {
		validate_problem(v, "soap:Sender", "Body", "the SOAP Body is "
		    "empty");
		goto out;
	}
	if ((kind = validate_kind_of(body)) == VK_UNKNOWN) {
		validate_problem(v, "soap:Sender", "Body", "{%s}%s is not a "
		    "message this validator knows", body->ns != NULL ?
		    (const char *)body->ns->href : "", (const char *)body->name);
		goto out;
	}
	if (v->want != VK_UNKNOWN && v->want != kind &&
	    !(v->want == VK_ITI43 && kind == VK_ITI43_RESP) &&
	    !(v->want == VK_ITI18 && kind == VK_ITI18_RESP)) {
		validate_problem(v, "soap:Sender", "Body", "the message is %s, "
		    "not %s", validate_kind_name(kind),
		    validate_kind_name(v->want));
		goto out;
	}
	switch (kind) {
	case VK_ITI41:
		validate_iti41(v, body);
		break;
	case VK_ITI42:
		validate_submission(v, body, NULL, XDSVALID_ITI42);
		break;
	case VK_ITI18:
		validate_iti18(v, body);
		break;
	case VK_ITI18_RESP:
		validate_iti18_response(v, body);
		break;
	case VK_ITI43:
		validate_iti43(v, body);
		break;
	case VK_ITI43_RESP:
		validate_iti43_response(v, body);
		break;
	case VK_RAD69:
		validate_rad69(v, body);
		break;
	default:
		validate_response(v, body);
		break;
	}
out:
	soap_fault_clear(&f);
	soap_msg_clear(&m);
	xml_free(doc);
}

/*
 * One line per problem: "[warning ]code location[ (line N)]: message".
 * Modules that already name the location at the start of their message, or
 * the line in their location, are not repeated.
 */
static void
validate_print_one(const struct xdsmsg_error *e)
{
	const char	*loc = e->location, *msg = e->context;
	size_t		 n;

	if (msg == NULL)
		msg = "";
	if (loc == NULL || *loc == '\0' || strncmp(loc, "line ", 5) == 0)
		loc = "-";
	n = strlen(loc);
	if (strncmp(msg, loc, n) == 0 && strncmp(msg + n, ": ", 2) == 0)
		msg += n + 2;
	printf("%s%s %s", e->severity == XDSMSG_WARNING ? "warning " : "",
	    e->code, loc);
	if (e->line > 0 && strstr(loc, "(line ") == NULL)
		printf(" (line %ld)", e->line);
	printf(": %s\n", msg);
}

/* Print every problem; returns the number of errors. */
static size_t
validate_print(struct validate *v)
{
	size_t	i, errors = 0;

	for (i = 0; i < v->problems.n; i++) {
		if (v->problems.v[i].severity == XDSMSG_ERROR)
			errors++;
		if (!v->quiet)
			validate_print_one(&v->problems.v[i]);
	}
	return (errors);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kind", required_argument, NULL, 'k' },
		{ "content-type", required_argument, NULL, 'c' },
		{ "oid", required_argument, NULL, 'o' },
		{ "repository-uid", required_argument, NULL, 'r' },
		{ "profile", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct validate	 v;
	const char	*root;
	char		*cause = NULL;
	size_t		 i, rootlen, errors;
	int		 ch, fd;

	memset(&v, 0, sizeof(v));
	dbuf_init(&v.whole, XML_MAX_SIZE);
	while ((ch = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (ch) {
		case 'k':
			for (i = 0; i < sizeof(validate_kinds) /
			    sizeof(*validate_kinds); i++)
				if (strcmp(optarg, validate_kinds[i].name) == 0)
					v.want = validate_kinds[i].kind;
			if (v.want == VK_UNKNOWN) {
				fprintf(stderr, "isn-validate: unknown kind "
				    "\"%s\"\n", optarg);
				validate_usage(stderr);
				return (2);
			}
			break;
		case 'c':
			v.content_type = optarg;
			break;
		case 'o':
			v.oid = optarg;
			break;
		case 'r':
			v.repository = optarg;
			break;
		case 'p':
			if (strcmp(optarg, "isn2") != 0) {
				fprintf(stderr, "isn-validate: unknown profile "
				    "\"%s\" (only isn2)\n", optarg);
				return (2);
			}
			v.isn2 = 1;
			break;
		case 'q':
			v.quiet = 1;
			break;
		case 'h':
			validate_usage(stdout);
			return (0);
		default:
			validate_usage(stderr);
			return (2);
		}
	}
	if (argc - optind != 1) {
		validate_usage(stderr);
		return (2);
	}
	if (strcmp(argv[optind], "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(argv[optind], O_RDONLY)) == -1) {
		fprintf(stderr, "isn-validate: %s: %s\n", argv[optind],
		    strerror(errno));
		return (2);
	}
	if (validate_read(&v, fd, &cause) == -1) {
		validate_problem(&v, v.http != NULL && v.mtom == NULL ?
		    "http" : "soap:Sender", "message", "%s", cause);
		free(cause);
	} else if (v.mtom != NULL) {
		root = mtom_parser_root(v.mtom, &rootlen);
		validate_xml(&v, root, rootlen);
	} else if (v.want == VK_ITI8 || (v.want == VK_UNKNOWN &&
	    v.whole.len >= 3 && memcmp(v.whole.data +
	    strspn(dbuf_str(&v.whole), " \t\r\n"), "MSH", 3) == 0))
		validate_iti8(&v);
	else
		validate_xml(&v, dbuf_str(&v.whole), v.whole.len);
	if (fd != STDIN_FILENO)
		close(fd);
	errors = validate_print(&v);
	xdsmsg_errors_clear(&v.problems);
	if (v.mtom != NULL)
		mtom_parser_free(v.mtom);
	if (v.http != NULL)
		http_parser_free(v.http);
	dbuf_free(&v.whole);
	return (errors == 0 ? 0 : 1);
}
