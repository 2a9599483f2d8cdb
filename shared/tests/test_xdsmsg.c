/* test_xdsmsg.c: the XDS message wrappers, parsed from samples and built. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "soap.h"
#include "tap.h"
#include "xdsmsg.h"
#include "xmalloc.h"
#include "xml.h"

#define SHA1_EMPTY	"da39a3ee5e6b4b0d3255bfef95601890afd80709"

/*
 * A sample's message element: the SOAP body of an envelope (for MIME
 * bodies, of the root part's envelope), else the root element.
 */
static xmlNode *
sample(const char *rel, xmlDoc **docp)
{
	struct soap_msg		 m;
	struct soap_fault	 f;
	char			 path[8192], *buf, *start, *end, *cause = NULL;
	size_t			 len;
	xmlNode			*root, *body;

	*docp = NULL;
	snprintf(path, sizeof(path), "%s/xds-samples/%s", tap_shareddir(),
	    rel);
	if ((buf = tap_slurp(path, &len)) == NULL)
		return (NULL);
	start = buf;
	if (strstr(rel, ".txt") != NULL) {
		start = strstr(buf, "Envelope") - 1;
		while (start > buf && *start != '<')
			start--;
		for (end = buf + len - 9; end > start; end--)
			if (memcmp(end, "Envelope>", 9) == 0)
				break;
		len = (size_t)(end + 9 - start);
	}
	*docp = xml_parse(start, len, NULL, &cause);
	free(buf);
	free(cause);
	if (*docp == NULL)
		return (NULL);
	root = xmlDocGetRootElement(*docp);
	if (!xml_is(root, XML_NS_SOAP12, "Envelope"))
		return (root);
	memset(&f, 0, sizeof(f));
	if (soap_msg_parse(*docp, &m, &f) == -1) {
		soap_fault_clear(&f);
		return (NULL);
	}
	body = m.body;
	soap_msg_clear(&m);
	return (body);
}

/* The first element named name anywhere below n (testplan wrappers). */
static xmlNode *
find(xmlNode *n, const char *ns, const char *name)
{
	xmlNode	*c, *r;

	for (c = xml_first(n); c != NULL; c = xml_next(c)) {
		if (xml_is(c, ns, name))
			return (c);
		if ((r = find(c, ns, name)) != NULL)
			return (r);
	}
	return (NULL);
}

/* Root element of an inline document (kept in *docp). */
static xmlNode *
inline_doc(const char *s, xmlDoc **docp)
{
	char	*cause = NULL;

	*docp = xml_parse(s, strlen(s), NULL, &cause);
	if (*docp == NULL) {
		tap_diag("inline XML: %s", cause);
		free(cause);
		return (NULL);
	}
	return (xmlDocGetRootElement(*docp));
}

/* Compare with, or (ISN_GOLDEN_WRITE=1) write, a golden file. */
static void
golden(const char *name, const struct dbuf *b)
{
	char	 path[8192], *want;
	size_t	 len;
	FILE	*f;

	snprintf(path, sizeof(path), "%s/shared/tests/data/xdsmsg/%s",
	    tap_srcdir(), name);
	if (getenv("ISN_GOLDEN_WRITE") != NULL &&
	    (f = fopen(path, "wb")) != NULL) {
		fwrite(b->data, 1, b->len, f);
		fclose(f);
	}
	want = tap_slurp(path, &len);
	ok(want != NULL && len == b->len && memcmp(want, b->data, len) == 0,
	    "golden %s matches byte for byte", name);
	if (want == NULL || len != b->len || memcmp(want, b->data, len) != 0)
		tap_diag("built: %s", dbuf_str(b));
	free(want);
}

/* Print what a parser reported (helps when a test fails). */
static void
show(const struct xdsmsg_errors *e)
{
	size_t	i;

	for (i = 0; i < e->n; i++)
		tap_diag("%s %s: %s", e->v[i].code, e->v[i].location ?
		    e->v[i].location : "-", e->v[i].context);
}

/* 1 when some entry has code and a context containing text. */
static int
has_text(const struct xdsmsg_errors *e, const char *code, const char *text)
{
	size_t	i;

	for (i = 0; i < e->n; i++)
		if (strcmp(e->v[i].code, code) == 0 &&
		    strstr(e->v[i].context, text) != NULL)
			return (1);
	return (0);
}

static void
test_basics(void)
{
	struct xdsmsg_errors	 e;
	enum xdsmsg_status	 st;
	unsigned char		 raw[300], *out;
	size_t			 len, i, n;
	struct dbuf		 b;
	char			 sha[41];
	int			 good = 1;

	memset(&e, 0, sizeof(e));
	is_str(xdsmsg_status_urn(XDSMSG_PARTIAL),
	    "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess",
	    "PartialSuccess URN");
	ok(xdsmsg_status_parse(XDSMSG_STATUS_FAILURE, &st) == 0 &&
	    st == XDSMSG_FAILURE, "Failure URN parses");
	ok(xdsmsg_status_parse("Success", &st) == -1 &&
	    xdsmsg_status_parse(NULL, &st) == -1, "bare or NULL status refused");
	is_str(xdsmsg_severity_urn(XDSMSG_WARNING),
	    "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning",
	    "Warning URN");
	ok(xdsmsg_errors_status(&e) == XDSMSG_SUCCESS, "no errors: Success");
	xdsmsg_error_add(&e, XDSMSG_WARNING, "XDSExtraMetadataNotSaved", NULL,
	    0, "slot %s", "urn:acuo:x");
	ok(xdsmsg_errors_status(&e) == XDSMSG_SUCCESS, "warnings: Success");
	xdsmsg_error_add(&e, XDSMSG_ERROR, "XDSRegistryError", "here", 3,
	    "%d%%", 5);
	ok(xdsmsg_errors_status(&e) == XDSMSG_FAILURE &&
	    xdsmsg_errors_count(&e, XDSMSG_ERROR) == 1 &&
	    xdsmsg_errors_count(&e, XDSMSG_WARNING) == 1, "counts and status");
	ok(xdsmsg_errors_has(&e, "XDSRegistryError") &&
	    !xdsmsg_errors_has(&e, "XDSRepositoryError"), "has by code");
	is_str(e.v[1].context, "5%", "context is formatted once");
	xdsmsg_errors_clear(&e);
	ok(e.n == 0 && e.v == NULL, "clear empties the list");

	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(i * 37 + 11);
	dbuf_init(&b, 1 << 20);
	for (n = 0; n <= sizeof(raw) && good; n++) {
		dbuf_reset(&b);
		if (xdsmsg_base64_encode(&b, raw, n) == -1 ||
		    xdsmsg_base64_decode(dbuf_str(&b), &out, &len) == -1 ||
		    len != n || memcmp(out, raw, n) != 0)
			good = 0;
		free(out);
	}
	ok(good, "base64 round trip for 0..300 bytes");
	ok(xdsmsg_base64_decode(" QU\nJD\r\n\tRA== ", &out, &len) == 0 &&
	    len == 4 && memcmp(out, "ABCD", 4) == 0, "white space in base64");
	free(out);
	ok(xdsmsg_base64_decode("", &out, &len) == 0 && len == 0,
	    "empty base64 is zero bytes");
	free(out);
	ok(xdsmsg_base64_decode("QUJD!", &out, &len) == -1, "bad character");
	ok(xdsmsg_base64_decode("QUJDR", &out, &len) == -1, "length not a "
	    "multiple of four");
	ok(xdsmsg_base64_decode("QU==QUJD", &out, &len) == -1, "data after "
	    "padding");
	ok(xdsmsg_base64_decode("Q===", &out, &len) == -1 &&
	    xdsmsg_base64_decode("====", &out, &len) == -1, "too much padding");
	ok(xdsmsg_base64_decode("QUI=", &out, &len) == 0 && len == 2,
	    "one pad character");
	free(out);
	ok(xdsmsg_base64_decode("QUJ=", &out, &len) == -1 &&
	    xdsmsg_base64_decode("QR==", &out, &len) == -1,
	    "non-zero padding bits refused");
	ok(xdsmsg_base64_decode("QQ=A", &out, &len) == -1, "pad then data");
	xdsmsg_sha1_hex("", 0, sha);
	is_str(sha, SHA1_EMPTY, "SHA-1 of nothing");
	dbuf_free(&b);
}

static void
test_query_samples(void)
{
	struct xdsmsg_query_req		 q;
	struct xdsmsg_query_resp	 r;
	struct xdsmsg_errors		 e;
	xmlDoc				*doc;
	xmlNode				*n;

	memset(&e, 0, sizeof(e));
	n = sample("iti18/soap-sq-finddocuments-req.xml", &doc);
	ok(xdsmsg_query_req_parse(n, &q, &e) == 0 && e.n == 0,
	    "FindDocuments request parses");
	ok(q.rtype == XDSMSG_LEAFCLASS && q.composed == 1, "LeafClass, "
	    "composed objects");
	is_str(q.id, "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d",
	    "FindDocuments query id");
	ok(q.home == NULL && q.nslots == 3, "no home, three slots");
	is_str(q.slots[0].name, "$XDSDocumentEntryPatientId", "slot 1 name");
	ok(q.slots[0].nvalues == 1 && strcmp(q.slots[0].values[0],
	    "'c4d77e21d0dd487^^^&1.3.6.1.4.1.21367.2005.3.7&ISO'") == 0,
	    "slot 1 value with entities decoded");
	is_str(q.slots[2].values[0], "('value^^scheme')", "slot 3 value");
	ok(q.slots[1].line > q.slots[0].line && q.slots[0].line > 1,
	    "slots carry their lines");
	xdsmsg_query_req_clear(&q);
	xml_free(doc);

	n = sample("iti18/finddocuments-eventcode-AND-11897.xml", &doc);
	ok(xdsmsg_query_req_parse(n, &q, &e) == 0, "11897 AND query parses");
	ok(q.rtype == XDSMSG_OBJECTREF && q.nslots == 4, "ObjectRef, four "
	    "slots");
	ok(strcmp(q.slots[2].name, "$XDSDocumentEntryEventCodeList") == 0 &&
	    strcmp(q.slots[3].name, "$XDSDocumentEntryEventCodeList") == 0 &&
	    q.slots[2].nvalues == 1 && q.slots[3].nvalues == 1,
	    "two same-named slots kept separate");
	ok(strstr(q.slots[2].values[0], "foundational") != NULL &&
	    strstr(q.slots[3].values[0], "full-access") != NULL,
	    "each keeps its own value");
	xdsmsg_query_req_clear(&q);
	xml_free(doc);

	n = sample("negative/ipf-iti18-sql-injection-request.xml", &doc);
	ok(xdsmsg_query_req_parse(n, &q, &e) == 0 && q.nslots == 4 &&
	    strstr(q.slots[0].values[0], "611%3d611") != NULL,
	    "SQL-injection query is parsed as data (the sq module rejects it)");
	xdsmsg_query_req_clear(&q);
	xml_free(doc);

	n = sample("iti18/sq-resp-leafclass.xml", &doc);
	ok(xdsmsg_query_resp_parse(n, &r, &e) == 0 &&
	    r.status == XDSMSG_SUCCESS, "LeafClass response: Success");
	ok(r.nleaf == 2 && r.nrefs == 0 && xml_is(r.objects, XML_NS_RIM,
	    "RegistryObjectList"), "two LeafClass objects, list exposed");
	ok(xml_count(r.objects, XML_NS_RIM, "ExtrinsicObject") == 2,
	    "both are ExtrinsicObjects");
	xdsmsg_query_resp_clear(&r);
	xml_free(doc);

	n = sample("iti18/sq-resp-objectref.xml", &doc);
	ok(xdsmsg_query_resp_parse(n, &r, &e) == 0 && r.nrefs == 6 &&
	    r.nleaf == 0, "ObjectRef response: six refs");
	is_str(r.refs[0], "urn:uuid:22c85315-12cd-4d52-97a9-8d827f03ddc5",
	    "first ObjectRef id");
	is_str(r.refs[5], "urn:uuid:44b9abc1-c4dc-4b95-b099-9415baaf3880",
	    "last ObjectRef id");
	xdsmsg_query_resp_clear(&r);
	xml_free(doc);
	show(&e);
	xdsmsg_errors_clear(&e);
}

static void
test_retrieve_samples(void)
{
	struct xdsmsg_retrieve_req	 q;
	struct xdsmsg_retrieve_resp	 r;
	struct xdsmsg_regresp		 rr;
	struct xdsmsg_errors		 e;
	xmlDoc				*doc;
	xmlNode				*n;

	memset(&e, 0, sizeof(e));
	n = sample("iti43/soap-ret-req.xml", &doc);
	ok(xdsmsg_retrieve_req_parse(n, &q, &e) == 0 && q.ndocs == 2,
	    "ITI-43 request: two DocumentRequests");
	ok(q.docs[0].home == NULL && strcmp(q.docs[0].repository,
	    "1.3.6.1.4...1000") == 0 && strcmp(q.docs[1].document,
	    "1.3.6.1.4...2301") == 0, "ITI-43 request fields");
	xdsmsg_retrieve_req_clear(&q);
	xml_free(doc);

	n = sample("iti43/soap-ret-resp.xml", &doc);
	ok(xdsmsg_retrieve_resp_parse(n, &r, &e) == 0 &&
	    r.status == XDSMSG_SUCCESS && r.ndocs == 2,
	    "ITI-43 response: Success, two documents");
	ok(r.docs[0].content.href == NULL && r.docs[0].content.size == 36 &&
	    r.docs[1].content.size == 36, "inline base64 decoded to 36 bytes");
	is_str(r.docs[0].content.sha1,
	    "958e860499e2d694c61345d161a8ae356da7ac3c", "decoded SHA-1");
	ok(memcmp(r.docs[0].content.data, "R0lGODlh", 8) == 0,
	    "decoded bytes");
	is_str(r.docs[1].mime, "text/xml", "mimeType");
	xdsmsg_retrieve_resp_clear(&r);
	xml_free(doc);

	n = sample("rad69/ids_2018-4803a-expected-response.testplan.xml", &doc);
	n = find(n, XML_NS_XDSB, "RetrieveDocumentSetResponse");
	ok(xdsmsg_retrieve_resp_parse(n, &r, &e) == 0 && r.ndocs == 1 &&
	    r.status == XDSMSG_SUCCESS, "RAD-69 gold response parses");
	is_str(r.docs[0].content.href, "cid:docxx@ihexds.nist.gov",
	    "xop:Include href exposed");
	ok(r.docs[0].content.data == NULL &&
	    strcmp(r.docs[0].mime, "application/dicom") == 0 &&
	    strcmp(r.docs[0].repository, "1.3.6.1.4.1.21367.13.80.110") == 0,
	    "gold response fields");
	xdsmsg_retrieve_resp_clear(&r);
	xml_free(doc);

	n = sample("rad69/ids_2018-4811-case-01_Invalid_RepositoryUID."
	    "expected.testplan.xml", &doc);
	n = find(n, XML_NS_XDSB, "RetrieveDocumentSetResponse");
	ok(xdsmsg_retrieve_resp_parse(n, &r, &e) == 0 &&
	    r.status == XDSMSG_FAILURE && r.errors.n == 1 && r.ndocs == 0,
	    "case 01 gold: Failure with one RegistryError");
	ok(strcmp(r.errors.v[0].code, "XDSUnknownRepositoryId") == 0 &&
	    r.errors.v[0].severity == XDSMSG_ERROR &&
	    strcmp(r.errors.v[0].location, "") == 0 &&
	    strstr(r.errors.v[0].context, "Unknown Repository UID") != NULL,
	    "case 01 gold error read back");
	xdsmsg_retrieve_resp_clear(&r);
	xml_free(doc);

	n = sample("rad69/ids_2018-4811-case-05_Empty_Study_Instance_UID."
	    "expected.testplan.xml", &doc);
	n = find(n, XML_NS_XDSB, "RetrieveDocumentSetResponse");
	ok(xdsmsg_retrieve_resp_parse(n, &r, &e) == -1 &&
	    has_text(&e, "XDSRepositoryError", "Failure carries no"),
	    "case 05 gold body (its error list is commented out) is flagged");
	xdsmsg_retrieve_resp_clear(&r);
	xdsmsg_errors_clear(&e);
	xml_free(doc);

	n = sample("rad69/rsnaedge-1001-RAD-69Response-skeleton.xml", &doc);
	ok(xdsmsg_retrieve_resp_parse(n, &r, &e) == -1 &&
	    has_text(&e, "XDSRepositoryError", "not valid base64"),
	    "skeleton response: \"...\" is not base64");
	is_str(r.docs[0].home, "urn:oid:1.3.6.1.4.1.21367.13.70.101",
	    "skeleton HomeCommunityId read");
	xdsmsg_retrieve_resp_clear(&r);
	xdsmsg_errors_clear(&e);
	xml_free(doc);

	n = sample("iti41/soap-pnr-resp-success.xml", &doc);
	ok(xdsmsg_regresp_parse(n, &rr, &e) == 0 &&
	    rr.status == XDSMSG_SUCCESS && rr.errors.n == 0,
	    "PnR response: Success without errors");
	xdsmsg_regresp_clear(&rr);
	xml_free(doc);

	n = sample("negative/regresp-success-with-error.xml", &doc);
	ok(xdsmsg_regresp_parse(n, &rr, &e) == -1 &&
	    has_text(&e, "XDSRegistryError", "Success carries 1"),
	    "Success with an Error-severity entry is flagged");
	ok(rr.errors.n == 1 && strcmp(rr.errors.v[0].code,
	    "XDSUnknownPatientId") == 0 && rr.errors.v[0].location != NULL,
	    "the carried error is still read");
	xdsmsg_regresp_clear(&rr);
	xdsmsg_errors_clear(&e);
	xml_free(doc);

	n = sample("negative/regresp-failure-without-error.xml", &doc);
	ok(xdsmsg_regresp_parse(n, &rr, &e) == -1 &&
	    has_text(&e, "XDSRegistryError", "Failure carries no"),
	    "Failure without RegistryError is flagged");
	ok(e.n == 1 && e.v[0].line == 2 &&
	    strcmp(e.v[0].location, "line 2") == 0,
	    "flagged once, at the line of the start tag's end");
	xdsmsg_regresp_clear(&rr);
	xdsmsg_errors_clear(&e);
	xml_free(doc);
}

static void
test_rad69_samples(void)
{
	struct xdsmsg_rad69_req	 r;
	struct xdsmsg_errors	 e;
	xmlDoc			*doc;
	xmlNode			*n;

	memset(&e, 0, sizeof(e));
	n = sample("rad69/rsnaedge-1001-RAD-69Request.xml", &doc);
	ok(xdsmsg_rad69_req_parse(n, &r, &e) == 0 && r.nstudies == 1 &&
	    r.studies[0].nseries == 1 && r.studies[0].series[0].ndocs == 1,
	    "rsnaedge-1001: one study, series and instance");
	is_str(r.studies[0].series[0].docs[0].home,
	    "urn:oid:1.3.6.1.4.1.21367.13.70.101", "HomeCommunityId");
	is_str(r.studies[0].uid, "1.3.6.1.4.1.21367.201599.1.201606010958036",
	    "studyInstanceUID");
	ok(r.ntsuids == 1 && strcmp(r.tsuids[0], "1.2.840.10008.1.2.1") == 0,
	    "transfer syntax");
	xdsmsg_rad69_req_clear(&r);
	xml_free(doc);

	n = sample("rad69/ids_2018-4803a-rad69-request.xml", &doc);
	ok(xdsmsg_rad69_req_parse(n, &r, &e) == 0 && strcmp(
	    r.studies[0].series[0].docs[0].document, "1.3.6.1.4.1.14519.5.2.1."
	    "2857.3273.393987221165344252190796851776") == 0,
	    "4803a: SOP Instance UID");
	xdsmsg_rad69_req_clear(&r);
	xml_free(doc);

	n = sample("rad69/ids_2018-4811-case-01_Invalid_RepositoryUID."
	    "request.xml", &doc);
	ok(xdsmsg_rad69_req_parse(n, &r, &e) == 0 && strcmp(
	    r.studies[0].series[0].docs[0].repository,
	    "1.3.6.1.4.1.21367.13.80.110.999") == 0,
	    "case 01 parses; the repository id is the repository's to judge");
	xdsmsg_rad69_req_clear(&r);
	xml_free(doc);

	n = sample("rad69/ids_2018-4811-case-02_Unknown_SOP_Instance_UID."
	    "request.xml", &doc);
	ok(xdsmsg_rad69_req_parse(n, &r, &e) == 0 && e.n == 0 &&
	    strstr(r.studies[0].series[0].docs[0].document, "85000") != NULL,
	    "case 02 parses; the SOP lookup is the repository's");
	xdsmsg_rad69_req_clear(&r);
	xml_free(doc);

	n = sample("rad69/ids_2018-4811-case-05_Empty_Study_Instance_UID."
	    "request.xml", &doc);
	ok(xdsmsg_rad69_req_parse(n, &r, &e) == -1 && e.n == 1 &&
	    strcmp(e.v[0].code, "XDSIRequestError") == 0,
	    "case 05: exactly XDSIRequestError");
	ok(strstr(e.v[0].context, "studyInstanceUID") != NULL &&
	    strcmp(e.v[0].location, "line 3") == 0,
	    "names the attribute and the line: %s", e.v[0].context);
	xdsmsg_rad69_req_clear(&r);
	xdsmsg_errors_clear(&e);
	xml_free(doc);

	n = sample("rad69/ids_2018-4811-case-08_Empty_Transfer_Syntax_UID."
	    "request.xml", &doc);
	ok(xdsmsg_rad69_req_parse(n, &r, &e) == -1 && e.n == 1 &&
	    strcmp(e.v[0].code, "XDSRepositoryError") == 0,
	    "case 08: exactly XDSRepositoryError");
	ok(strncmp(e.v[0].context, "No valid Xfer Syntax", 20) == 0,
	    "case 08: \"No valid Xfer Syntax\": %s", e.v[0].context);
	xdsmsg_rad69_req_clear(&r);
	xdsmsg_errors_clear(&e);
	xml_free(doc);
}

static void
test_pnr_samples(void)
{
	static const struct {
		const char	*file;
		const char	*href;
		size_t		 size;
		const char	*sha1;
	} c[] = {
		{ "iti41/pnr-mtom-xop.body.txt", "cid:1.b5b57d7287e4fa4b528a8f"
		  "050c41f8ad829c20332f23b48d@apache.org", 0, "" },
		{ "iti41/pnr-mtom-xop-urlencoded-cid.body.txt", "cid:fdf975cc-"
		  "9f08-4d94-b7f6-99f4807f3654-1@urn%3Aihe%3Aiti%3Axds-b%3A2007",
		  0, "" },
		{ "iti41/pnr-mtom-noxop-inline-base64.body.txt", NULL, 38,
		  "27e60f9f5173903c2fa907baaaeb7af819913116" },
		{ "iti41/rad68-wcf-inline-kos.body.txt", NULL, 6090,
		  "353853d3e6b76cec1d08c88c2c503925a260c93c" },
		{ "iti41/http-mtom-pnr-axis2-full-request.txt", "cid:1.urn:uuid:"
		  "3D4B161591CD1DEC0C1286850962319@apache.org", 0, "" },
	};
	struct xdsmsg_pnr	 p;
	struct xdsmsg_errors	 e;
	xmlDoc			*doc;
	xmlNode			*n;
	size_t			 i;

	memset(&e, 0, sizeof(e));
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		n = sample(c[i].file, &doc);
		ok(xdsmsg_pnr_parse(n, &p, &e) == 0 && p.ndocs == 1 &&
		    xml_is(p.submit, XML_NS_LCM, "SubmitObjectsRequest"),
		    "%s: one Document and the SubmitObjectsRequest", c[i].file);
		if (p.ndocs != 1) {
			show(&e);
			xdsmsg_pnr_clear(&p);
			xml_free(doc);
			continue;
		}
		if (c[i].href != NULL)
			ok(p.docs[0].content.href != NULL &&
			    strcmp(p.docs[0].content.href, c[i].href) == 0 &&
			    p.docs[0].content.data == NULL,
			    "%s: xop href exposed verbatim", c[i].file);
		else
			ok(p.docs[0].content.href == NULL &&
			    p.docs[0].content.size == c[i].size &&
			    strcmp(p.docs[0].content.sha1, c[i].sha1) == 0,
			    "%s: inline base64 is %zu bytes, SHA-1 %s",
			    c[i].file, c[i].size, c[i].sha1);
		xdsmsg_pnr_clear(&p);
		xml_free(doc);
	}
	n = sample("iti41/pnr-mtom-xop.body.txt", &doc);
	ok(xdsmsg_pnr_parse(n, &p, &e) == 0 &&
	    strcmp(p.docs[0].id, "Document01") == 0 && p.docs[0].line > 300,
	    "Document id and line");
	xdsmsg_pnr_clear(&p);
	xml_free(doc);

	n = sample("negative/soap-pnr-docentry-without-document.xml", &doc);
	ok(xdsmsg_pnr_parse(n, &p, &e) == 0 && p.ndocs == 0 &&
	    p.submit != NULL, "PnR without Document: no documents listed "
	    "(XDSMissingDocument is the metadata check's)");
	xdsmsg_pnr_clear(&p);
	xml_free(doc);

	n = sample("iti41/ipf-SubmitObjectsRequest_ebrs30.xml", &doc);
	ok(xdsmsg_pnr_parse(n, &p, &e) == -1 &&
	    has_text(&e, "XDSRepositoryError", "ProvideAndRegister"),
	    "a bare SubmitObjectsRequest is not a PnR");
	xdsmsg_pnr_clear(&p);
	xdsmsg_errors_clear(&e);
	xml_free(doc);
}

/* Parse s with fn into a fresh errors list; return the list's size. */
#define PARSE(fn, s, out, e) do {					\
	xmlDoc	*d_;							\
	xdsmsg_errors_clear(e);						\
	(void)fn(inline_doc((s), &d_), (out), (e));			\
	xml_free(d_);							\
} while (0)

#define RAD69_HEAD "<i:RetrieveImagingDocumentSetRequest xmlns:i=\"" \
	XML_NS_XDSI "\" xmlns:b=\"" XML_NS_XDSB "\">"
#define RAD69_DOC "<b:DocumentRequest><b:RepositoryUniqueId>1.2" \
	"</b:RepositoryUniqueId><b:DocumentUniqueId>1.3</b:DocumentUniqueId>" \
	"</b:DocumentRequest>"
#define RAD69_TS "<i:TransferSyntaxUIDList><i:TransferSyntaxUID>1.2.840." \
	"10008.1.2.1</i:TransferSyntaxUID></i:TransferSyntaxUIDList>"
#define RAD69_END "</i:RetrieveImagingDocumentSetRequest>"
#define RET_HEAD "<b:RetrieveDocumentSetRequest xmlns:b=\"" XML_NS_XDSB "\">"
#define Q_HEAD "<q:AdhocQueryRequest xmlns:q=\"" XML_NS_QUERY "\" " \
	"xmlns:r=\"" XML_NS_RIM "\">"
#define PNR_HEAD "<b:ProvideAndRegisterDocumentSetRequest xmlns:b=\"" \
	XML_NS_XDSB "\" xmlns:l=\"" XML_NS_LCM "\" xmlns:x=\"" XML_NS_XOP "\">"
#define PNR_SOR "<l:SubmitObjectsRequest/>"
#define PNR_END "</b:ProvideAndRegisterDocumentSetRequest>"

static void
test_negatives(void)
{
	struct xdsmsg_rad69_req		 r;
	struct xdsmsg_retrieve_req	 q;
	struct xdsmsg_query_req		 a;
	struct xdsmsg_query_resp	 ar;
	struct xdsmsg_pnr		 p;
	struct xdsmsg_regresp		 rr;
	struct xdsmsg_errors		 e;
	struct dbuf			 big;
	xmlDoc				*doc;
	size_t				 i;

	memset(&e, 0, sizeof(e));
	PARSE(xdsmsg_rad69_req_parse, RAD69_HEAD "<i:StudyRequest "
	    "studyInstanceUID=\"1.2\"><i:SeriesRequest seriesInstanceUID=\"\">"
	    RAD69_DOC "</i:SeriesRequest></i:StudyRequest>" RAD69_TS RAD69_END,
	    &r, &e);
	ok(e.n == 1 && has_text(&e, "XDSIRequestError", "SeriesRequest 1 has "
	    "an empty seriesInstanceUID"), "empty seriesInstanceUID");
	xdsmsg_rad69_req_clear(&r);
	PARSE(xdsmsg_rad69_req_parse, RAD69_HEAD "<i:StudyRequest><i:Series"
	    "Request seriesInstanceUID=\"1.02\">" RAD69_DOC "</i:SeriesRequest>"
	    "</i:StudyRequest>" RAD69_TS RAD69_END, &r, &e);
	ok(e.n == 2 && has_text(&e, "XDSIRequestError", "must have a "
	    "studyInstanceUID") && has_text(&e, "XDSIRequestError",
	    "not a DICOM UID"), "missing study UID, and a series UID with a "
	    "leading zero");
	xdsmsg_rad69_req_clear(&r);
	PARSE(xdsmsg_rad69_req_parse, RAD69_HEAD RAD69_TS RAD69_END, &r, &e);
	ok(has_text(&e, "XDSIRequestError", "no StudyRequest"),
	    "no StudyRequest");
	xdsmsg_rad69_req_clear(&r);
	PARSE(xdsmsg_rad69_req_parse, RAD69_HEAD "<i:StudyRequest "
	    "studyInstanceUID=\"1.2\"/><i:StudyRequest studyInstanceUID=\"1.3\">"
	    "<i:SeriesRequest seriesInstanceUID=\"1.4\"/></i:StudyRequest>"
	    RAD69_TS RAD69_END, &r, &e);
	ok(has_text(&e, "XDSIRequestError", "StudyRequest 1 has no "
	    "SeriesRequest") && has_text(&e, "XDSIRequestError",
	    "SeriesRequest has no DocumentRequest") && r.nstudies == 2,
	    "study without series, series without instances");
	xdsmsg_rad69_req_clear(&r);
	PARSE(xdsmsg_rad69_req_parse, RAD69_HEAD "<i:StudyRequest "
	    "studyInstanceUID=\"1.2\"><i:SeriesRequest seriesInstanceUID="
	    "\"1.3\">" RAD69_DOC "</i:SeriesRequest></i:StudyRequest>"
	    RAD69_END, &r, &e);
	ok(e.n == 1 && has_text(&e, "XDSRepositoryError", "No valid Xfer "
	    "Syntax: the request has no TransferSyntaxUIDList"),
	    "no TransferSyntaxUIDList");
	xdsmsg_rad69_req_clear(&r);
	PARSE(xdsmsg_rad69_req_parse, RAD69_HEAD "<i:StudyRequest "
	    "studyInstanceUID=\"1.2\"><i:SeriesRequest seriesInstanceUID="
	    "\"1.3\">" RAD69_DOC "</i:SeriesRequest></i:StudyRequest>"
	    "<i:TransferSyntaxUIDList/>" RAD69_END, &r, &e);
	ok(e.n == 1 && has_text(&e, "XDSRepositoryError", "No valid Xfer "
	    "Syntax: the TransferSyntaxUIDList is empty"), "empty list");
	xdsmsg_rad69_req_clear(&r);
	PARSE(xdsmsg_rad69_req_parse, RAD69_HEAD "<i:StudyRequest "
	    "studyInstanceUID=\"1.2\"><i:SeriesRequest seriesInstanceUID="
	    "\"1.3\">" RAD69_DOC "</i:SeriesRequest></i:StudyRequest>"
	    "<i:TransferSyntaxUIDList><i:TransferSyntaxUID>1.2.840.10008.1.2.1"
	    "</i:TransferSyntaxUID><i:TransferSyntaxUID>jpeg"
	    "</i:TransferSyntaxUID></i:TransferSyntaxUIDList>" RAD69_END, &r,
	    &e);
	ok(e.n == 1 && has_text(&e, "XDSRepositoryError", "TransferSyntaxUID "
	    "2 is not a UID") && r.ntsuids == 2, "a malformed transfer syntax");
	xdsmsg_rad69_req_clear(&r);
	PARSE(xdsmsg_rad69_req_parse, RET_HEAD "</b:RetrieveDocumentSetRequest>",
	    &r, &e);
	ok(e.n == 1 && has_text(&e, "XDSIRequestError", "expected "
	    "RetrieveImagingDocumentSetRequest"), "an ITI-43 body is not "
	    "RAD-69");
	xdsmsg_rad69_req_clear(&r);
	xdsmsg_errors_clear(&e);
	ok(xdsmsg_rad69_req_parse(NULL, &r, &e) == -1 && e.n == 1,
	    "a NULL body is reported");
	xdsmsg_rad69_req_clear(&r);

	PARSE(xdsmsg_retrieve_req_parse, RET_HEAD "<b:DocumentRequest>"
	    "<b:DocumentUniqueId>1</b:DocumentUniqueId></b:DocumentRequest>"
	    "<b:DocumentRequest><b:RepositoryUniqueId> </b:RepositoryUniqueId>"
	    "<b:DocumentUniqueId/></b:DocumentRequest><b:DocumentRequest>"
	    "<b:HomeCommunityId/><b:RepositoryUniqueId>1</b:RepositoryUniqueId>"
	    "<b:RepositoryUniqueId>2</b:RepositoryUniqueId><b:Other/>"
	    "</b:DocumentRequest></b:RetrieveDocumentSetRequest>", &q, &e);
	ok(has_text(&e, "XDSRepositoryError", "DocumentRequest 1 has no "
	    "RepositoryUniqueId"), "missing RepositoryUniqueId");
	ok(has_text(&e, "XDSUnknownRepositoryId", "DocumentRequest 2 has an "
	    "empty RepositoryUniqueId"), "empty RepositoryUniqueId");
	ok(has_text(&e, "XDSDocumentUniqueIdError", "DocumentRequest 2 has an "
	    "empty DocumentUniqueId"), "empty DocumentUniqueId");
	ok(has_text(&e, "XDSRepositoryError", "appears more than once") &&
	    has_text(&e, "XDSRepositoryError", "unexpected element Other") &&
	    has_text(&e, "XDSRepositoryError", "DocumentRequest 3 has no "
	    "DocumentUniqueId") && has_text(&e, "XDSRepositoryError",
	    "empty HomeCommunityId"), "duplicate, unknown, missing elements");
	ok(e.n == 7 && q.ndocs == 3, "seven problems in three requests");
	xdsmsg_retrieve_req_clear(&q);
	PARSE(xdsmsg_retrieve_req_parse, RET_HEAD
	    "</b:RetrieveDocumentSetRequest>", &q, &e);
	ok(e.n == 1 && has_text(&e, "XDSRepositoryError", "no "
	    "DocumentRequest"), "no DocumentRequest");
	xdsmsg_retrieve_req_clear(&q);

	PARSE(xdsmsg_query_req_parse, Q_HEAD "<r:AdhocQuery id=\"\"/>"
	    "</q:AdhocQueryRequest>", &a, &e);
	ok(has_text(&e, "XDSRegistryError", "no ResponseOption") &&
	    has_text(&e, "XDSUnknownStoredQuery", "no id"),
	    "no ResponseOption, empty query id");
	xdsmsg_query_req_clear(&a);
	PARSE(xdsmsg_query_req_parse, Q_HEAD "<q:ResponseOption/><r:AdhocQuery"
	    " id=\"x\"><r:Slot><r:ValueList><r:Value>1</r:Value></r:ValueList>"
	    "<r:ValueList/></r:Slot><r:Slot name=\"$b\"/></r:AdhocQuery>"
	    "<r:AdhocQuery id=\"y\"/></q:AdhocQueryRequest>", &a, &e);
	ok(has_text(&e, "XDSRegistryError", "not \"RegistryObject\"") &&
	    has_text(&e, "XDSRegistryError", "Slot 1 has no name") &&
	    has_text(&e, "XDSRegistryError", "more than one ValueList") &&
	    has_text(&e, "XDSRegistryError", "more than one AdhocQuery") &&
	    e.n == 4, "default returnType, nameless slot, two lists, two "
	    "queries");
	ok(a.nslots == 2 && a.slots[1].nvalues == 0 &&
	    strcmp(a.slots[1].name, "$b") == 0, "a slot without values");
	xdsmsg_query_req_clear(&a);
	PARSE(xdsmsg_query_req_parse, Q_HEAD "<q:ResponseOption returnType="
	    "\"LeafClassWithRepositoryItem\" returnComposedObjects=\"maybe\"/>"
	    "</q:AdhocQueryRequest>", &a, &e);
	ok(e.n == 3 && has_text(&e, "XDSRegistryError", "not a boolean") &&
	    has_text(&e, "XDSRegistryError", "no AdhocQuery"),
	    "bad returnType and boolean, no AdhocQuery");
	xdsmsg_query_req_clear(&a);

	PARSE(xdsmsg_query_resp_parse, "<q:AdhocQueryResponse xmlns:q=\""
	    XML_NS_QUERY "\" status=\"urn:x\"/>", &ar, &e);
	ok(has_text(&e, "XDSRegistryError", "unknown status \"urn:x\""),
	    "unknown status");
	xdsmsg_query_resp_clear(&ar);
	PARSE(xdsmsg_query_resp_parse, "<q:AdhocQueryResponse xmlns:q=\""
	    XML_NS_QUERY "\" xmlns:r=\"" XML_NS_RIM "\" status=\""
	    XDSMSG_STATUS_SUCCESS "\"><r:RegistryObjectList><r:ObjectRef/>"
	    "</r:RegistryObjectList></q:AdhocQueryResponse>", &ar, &e);
	ok(e.n == 1 && has_text(&e, "XDSRegistryError", "ObjectRef 1 has no "
	    "id") && ar.nrefs == 1, "ObjectRef without id");
	xdsmsg_query_resp_clear(&ar);
	PARSE(xdsmsg_query_resp_parse, "<q:AdhocQueryResponse xmlns:q=\""
	    XML_NS_QUERY "\" status=\"" XDSMSG_STATUS_SUCCESS "\"/>", &ar, &e);
	ok(e.n == 1 && has_text(&e, "XDSRegistryError", "no Registry"
	    "ObjectList"), "Success without RegistryObjectList");
	xdsmsg_query_resp_clear(&ar);

	PARSE(xdsmsg_regresp_parse, "<rs:RegistryResponse xmlns:rs=\""
	    XML_NS_RS "\" status=\"" XDSMSG_STATUS_PARTIAL "\"><rs:Registry"
	    "ErrorList><rs:RegistryError severity=\"urn:bad\"/><rs:Registry"
	    "Error errorCode=\"XDSRegistryBusy\" codeContext=\"busy\" severity="
	    "\"" XDSMSG_SEVERITY_WARNING "\"/></rs:RegistryErrorList>"
	    "</rs:RegistryResponse>", &rr, &e);
	ok(e.n == 3 && has_text(&e, "XDSRegistryError", "no errorCode") &&
	    has_text(&e, "XDSRegistryError", "no codeContext") &&
	    has_text(&e, "XDSRegistryError", "unknown severity"),
	    "RegistryError without code or context, with a bad severity");
	ok(rr.errors.n == 2 && rr.errors.v[1].severity == XDSMSG_WARNING &&
	    rr.errors.v[1].location == NULL, "carried entries read anyway");
	xdsmsg_regresp_clear(&rr);
	PARSE(xdsmsg_regresp_parse, "<rs:RegistryResponse xmlns:rs=\""
	    XML_NS_RS "\" status=\"" XDSMSG_STATUS_PARTIAL "\"/>", &rr, &e);
	ok(e.n == 1 && has_text(&e, "XDSRegistryError", "PartialSuccess "
	    "carries no"), "PartialSuccess without errors is flagged");
	xdsmsg_regresp_clear(&rr);
	PARSE(xdsmsg_regresp_parse, "<rs:RegistryResponse xmlns:rs=\""
	    XML_NS_RS "\"/>", &rr, &e);
	ok(e.n == 1 && has_text(&e, "XDSRegistryError", "no status"),
	    "RegistryResponse without status");
	xdsmsg_regresp_clear(&rr);
	PARSE(xdsmsg_regresp_parse, "<RegistryResponse/>", &rr, &e);
	ok(e.n == 1 && has_text(&e, "XDSRegistryError", "no namespace"),
	    "RegistryResponse without namespace");
	xdsmsg_regresp_clear(&rr);

	PARSE(xdsmsg_pnr_parse, PNR_HEAD "<b:Document id=\"d0\">QQ==</b:"
	    "Document>" PNR_SOR PNR_SOR "<b:Document>QQ==</b:Document><b:"
	    "Document id=\"d1\">Q!==</b:Document><b:Document id=\"d1\"><x:"
	    "Include/></b:Document><b:Document id=\"d2\">a<x:Include href=\"c\""
	    "/></b:Document><b:Document id=\"d3\"><y/></b:Document><b:Document "
	    "id=\"d4\"/><b:Other/>" PNR_END, &p, &e);
	ok(has_text(&e, "XDSRepositoryError", "must come before") &&
	    has_text(&e, "XDSRepositoryError", "more than one Submit"),
	    "SubmitObjectsRequest after a Document, and twice");
	ok(has_text(&e, "XDSRepositoryMetadataError", "Document 2 has no id") &&
	    has_text(&e, "XDSRepositoryMetadataError", "Document 4 has the "
	    "same id as Document 3"), "Document without id, duplicate ids");
	ok(has_text(&e, "XDSRepositoryError", "Document 3 is not valid "
	    "base64") && has_text(&e, "XDSRepositoryError", "has no href") &&
	    has_text(&e, "XDSRepositoryError", "both text and an xop:Include")
	    && has_text(&e, "XDSRepositoryError", "Document 6 must hold") &&
	    has_text(&e, "XDSRepositoryError", "unexpected element Other"),
	    "bad base64, Include without href, mixed, foreign content, "
	    "unknown element");
	ok(e.n == 9 && p.ndocs == 7 && p.docs[6].content.size == 0 &&
	    strcmp(p.docs[6].content.sha1, SHA1_EMPTY) == 0 &&
	    p.docs[6].content.data != NULL, "nine problems; an empty Document "
	    "is zero bytes");
	xdsmsg_pnr_clear(&p);
	PARSE(xdsmsg_pnr_parse, PNR_HEAD PNR_END, &p, &e);
	ok(e.n == 1 && has_text(&e, "XDSRepositoryError", "no SubmitObjects"),
	    "PnR without SubmitObjectsRequest");
	xdsmsg_pnr_clear(&p);

	/* The bound on list sizes. */
	dbuf_init(&big, 64 * 1024 * 1024);
	dbuf_addstr(&big, Q_HEAD "<q:ResponseOption returnType=\"ObjectRef\"/>"
	    "<r:AdhocQuery id=\"x\">");
	for (i = 0; i < XDSMSG_MAX_ITEMS + 1; i++)
		dbuf_addstr(&big, "<r:Slot name=\"a\"/>");
	dbuf_addstr(&big, "</r:AdhocQuery></q:AdhocQueryRequest>");
	xdsmsg_errors_clear(&e);
	ok(xdsmsg_query_req_parse(inline_doc(dbuf_str(&big), &doc), &a, &e)
	    == -1 && a.nslots == XDSMSG_MAX_ITEMS && e.n == 1 &&
	    has_text(&e, "XDSRegistryError", "more than 100000 Slot"),
	    "more than XDSMSG_MAX_ITEMS slots is refused, bounded");
	xdsmsg_query_req_clear(&a);
	xml_free(doc);
	dbuf_free(&big);
	xdsmsg_errors_clear(&e);
}

/* Build, compare with the golden file, parse, build again: same bytes. */
static void
test_roundtrips(void)
{
	struct xdsmsg_docreq		 dr[2] = {
		{ NULL, "1.3.6.1.4.1.21367.13.80.110", "1.2.3.4<&>", 0 },
		{ "urn:oid:1.2.3", "1.3.6.1.4.1.21367.13.80.110", "1.2.3.5", 0 },
	};
	struct xdsmsg_series		 se = { "1.2.3.6", dr, 2, 0 };
	struct xdsmsg_study		 st = { "1.2.3.7", &se, 1, 0 };
	char				*ts[] = { "1.2.840.10008.1.2.1",
					    "1.2.840.10008.1.2.4.50" };
	struct xdsmsg_rad69_req		 r69 = { &st, 1, ts, 2 }, r69b;
	struct xdsmsg_retrieve_req	 rq;
	struct xdsmsg_retrieve_resp	 rs, rs2;
	struct xdsmsg_docresp		 docs[2];
	char				*v1[] = { "'id^^^&1.2.3&ISO'" };
	char				*v2[] = { "('a\tb')", "('c\r\nd')" };
	struct xdsmsg_slot		 slots[3] = {
		{ "$XDSDocumentEntryPatientId", v1, 1, 0 },
		{ "$XDSDocumentEntryEventCodeList", v2, 2, 0 },
		{ "$XDSDocumentEntryEventCodeList", v2, 1, 0 },
	};
	struct xdsmsg_query_req		 qq = { XDSMSG_OBJECTREF, 1,
	    "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d", "urn:oid:1.2",
	    slots, 3, 0 }, qq2;
	char				*refs[] = { "urn:uuid:1", "urn:uuid:2" };
	struct xdsmsg_query_resp	 ar, ar2;
	struct xdsmsg_regresp		 rr;
	struct xdsmsg_pnr		 p;
	struct xdsmsg_document		 pd[2];
	struct xdsmsg_errors		 e, carried;
	struct dbuf			 b, b2;
	const char			*leaf = "<rim:ExtrinsicObject id=\"urn:"
	    "uuid:3\"/><rim:RegistryPackage id=\"urn:uuid:4\"/>";
	const char			*sor = "<lcm:SubmitObjectsRequest "
	    "xmlns:lcm=\"" XML_NS_LCM "\"><rim:RegistryObjectList xmlns:rim=\""
	    XML_NS_RIM "\"/></lcm:SubmitObjectsRequest>";

	memset(&e, 0, sizeof(e));
	memset(&carried, 0, sizeof(carried));
	dbuf_init(&b, 1 << 20);
	dbuf_init(&b2, 1 << 20);

	/* ITI-43 request. */
	ok(xdsmsg_retrieve_req_build(&b, dr, 2) == 0, "build ITI-43 request");
	golden("retrieve-req.xml", &b);
	PARSE(xdsmsg_retrieve_req_parse, dbuf_str(&b), &rq, &e);
	ok(e.n == 0 && rq.ndocs == 2 && rq.docs[0].home == NULL &&
	    strcmp(rq.docs[0].document, "1.2.3.4<&>") == 0 &&
	    strcmp(rq.docs[1].home, "urn:oid:1.2.3") == 0,
	    "ITI-43 request reads back");
	dbuf_reset(&b2);
	ok(xdsmsg_retrieve_req_build(&b2, rq.docs, rq.ndocs) == 0 &&
	    strcmp(dbuf_str(&b), dbuf_str(&b2)) == 0, "ITI-43 request: "
	    "build(parse(build)) is stable");
	xdsmsg_retrieve_req_clear(&rq);

	/* RAD-69 request. */
	dbuf_reset(&b);
	ok(xdsmsg_rad69_req_build(&b, &r69) == 0, "build RAD-69 request");
	golden("rad69-req.xml", &b);
	PARSE(xdsmsg_rad69_req_parse, dbuf_str(&b), &r69b, &e);
	ok(e.n == 0 && r69b.nstudies == 1 && r69b.studies[0].nseries == 1 &&
	    r69b.studies[0].series[0].ndocs == 2 && r69b.ntsuids == 2 &&
	    strcmp(r69b.studies[0].series[0].uid, "1.2.3.6") == 0 &&
	    strcmp(r69b.tsuids[1], "1.2.840.10008.1.2.4.50") == 0,
	    "RAD-69 request reads back");
	dbuf_reset(&b2);
	ok(xdsmsg_rad69_req_build(&b2, &r69b) == 0 &&
	    strcmp(dbuf_str(&b), dbuf_str(&b2)) == 0, "RAD-69 request stable");
	xdsmsg_rad69_req_clear(&r69b);

	/* Retrieve response: one inline, one xop, with errors. */
	memset(&rs, 0, sizeof(rs));
	memset(docs, 0, sizeof(docs));
	docs[0].repository = "1.2";
	docs[0].document = "1.3";
	docs[0].mime = "text/plain";
	docs[0].content.data = (unsigned char *)xstrdup("hello, world\n");
	docs[0].content.size = 13;
	docs[1].home = "urn:oid:9";
	docs[1].repository = "1.2";
	docs[1].document = "1.4";
	docs[1].new_repository = "1.5";
	docs[1].new_document = "1.6";
	docs[1].mime = "application/dicom";
	docs[1].content.href = "cid:doc1@isn";
	rs.status = XDSMSG_PARTIAL;
	rs.docs = docs;
	rs.ndocs = 2;
	xdsmsg_error_add(&rs.errors, XDSMSG_ERROR, "XDSDocumentUniqueIdError",
	    "1.7", 0, "No document matching composite UID [%s]", "1:2:1.7");
	dbuf_reset(&b);
	ok(xdsmsg_retrieve_resp_build(&b, &rs) == 0, "build a retrieve "
	    "response");
	golden("retrieve-resp.xml", &b);
	PARSE(xdsmsg_retrieve_resp_parse, dbuf_str(&b), &rs2, &e);
	ok(e.n == 0 && rs2.status == XDSMSG_PARTIAL && rs2.ndocs == 2 &&
	    rs2.errors.n == 1 && strcmp(rs2.errors.v[0].location, "1.7") == 0,
	    "retrieve response status and errors read back");
	ok(rs2.docs[0].content.size == 13 && memcmp(rs2.docs[0].content.data,
	    "hello, world\n", 13) == 0 && strcmp(rs2.docs[1].content.href,
	    "cid:doc1@isn") == 0 && strcmp(rs2.docs[1].new_document, "1.6")
	    == 0 && strcmp(rs2.docs[1].home, "urn:oid:9") == 0,
	    "documents read back (inline bytes, href, new ids)");
	dbuf_reset(&b2);
	ok(xdsmsg_retrieve_resp_build(&b2, &rs2) == 0 &&
	    strcmp(dbuf_str(&b), dbuf_str(&b2)) == 0, "retrieve response "
	    "stable");
	xdsmsg_retrieve_resp_clear(&rs2);
	free(docs[0].content.data);
	xdsmsg_errors_clear(&rs.errors);

	/* AdhocQueryRequest. */
	dbuf_reset(&b);
	ok(xdsmsg_query_req_build(&b, &qq) == 0, "build an AdhocQueryRequest");
	golden("query-req.xml", &b);
	PARSE(xdsmsg_query_req_parse, dbuf_str(&b), &qq2, &e);
	ok(e.n == 0 && qq2.rtype == XDSMSG_OBJECTREF && qq2.composed &&
	    strcmp(qq2.home, "urn:oid:1.2") == 0 && qq2.nslots == 3 &&
	    qq2.slots[1].nvalues == 2 && qq2.slots[2].nvalues == 1,
	    "AdhocQueryRequest reads back");
	ok(strcmp(qq2.slots[1].values[0], "('a\tb')") == 0 &&
	    strcmp(qq2.slots[1].values[1], "('c\r\nd')") == 0 &&
	    strcmp(qq2.slots[0].values[0], v1[0]) == 0,
	    "values keep TAB, CR, LF, & and ^ exactly");
	dbuf_reset(&b2);
	ok(xdsmsg_query_req_build(&b2, &qq2) == 0 &&
	    strcmp(dbuf_str(&b), dbuf_str(&b2)) == 0, "AdhocQueryRequest "
	    "stable");
	xdsmsg_query_req_clear(&qq2);

	/* AdhocQueryResponse: ObjectRef and LeafClass. */
	memset(&ar, 0, sizeof(ar));
	ar.status = XDSMSG_SUCCESS;
	ar.refs = refs;
	ar.nrefs = 2;
	xdsmsg_error_add(&ar.errors, XDSMSG_WARNING, "XDSExtraMetadataNotSaved",
	    NULL, 0, "slot urn:acuo:x ignored");
	dbuf_reset(&b);
	ok(xdsmsg_query_resp_build(&b, &ar, NULL, 0) == 0, "build an ObjectRef "
	    "response");
	golden("query-resp-objectref.xml", &b);
	PARSE(xdsmsg_query_resp_parse, dbuf_str(&b), &ar2, &e);
	ok(e.n == 0 && ar2.nrefs == 2 && strcmp(ar2.refs[1], "urn:uuid:2") == 0
	    && ar2.errors.n == 1 && ar2.errors.v[0].severity == XDSMSG_WARNING,
	    "ObjectRef response reads back (Success with a warning)");
	dbuf_reset(&b2);
	ok(xdsmsg_query_resp_build(&b2, &ar2, NULL, 0) == 0 &&
	    strcmp(dbuf_str(&b), dbuf_str(&b2)) == 0, "ObjectRef response "
	    "stable");
	xdsmsg_query_resp_clear(&ar2);
	xdsmsg_errors_clear(&ar.errors);
	dbuf_reset(&b);
	ok(xdsmsg_query_resp_build(&b, &ar, leaf, strlen(leaf)) == 0,
	    "build a LeafClass response");
	golden("query-resp-leafclass.xml", &b);
	PARSE(xdsmsg_query_resp_parse, dbuf_str(&b), &ar2, &e);
	ok(e.n == 0 && ar2.nleaf == 2 && ar2.nrefs == 0,
	    "LeafClass response reads back");
	xdsmsg_query_resp_clear(&ar2);

	/* RegistryResponse. */
	xdsmsg_error_add(&carried, XDSMSG_ERROR, "XDSUnknownPatientId", NULL,
	    0, "patient id of SubmissionSet %s is not known", "urn:uuid:5");
	dbuf_reset(&b);
	ok(xdsmsg_regresp_build(&b, XDSMSG_FAILURE, &carried) == 0,
	    "build a Failure RegistryResponse");
	golden("regresp-failure.xml", &b);
	PARSE(xdsmsg_regresp_parse, dbuf_str(&b), &rr, &e);
	ok(e.n == 0 && rr.status == XDSMSG_FAILURE && rr.errors.n == 1 &&
	    rr.errors.v[0].location == NULL && strcmp(rr.errors.v[0].context,
	    carried.v[0].context) == 0, "RegistryResponse reads back");
	dbuf_reset(&b2);
	ok(xdsmsg_regresp_build(&b2, rr.status, &rr.errors) == 0 &&
	    strcmp(dbuf_str(&b), dbuf_str(&b2)) == 0,
	    "RegistryResponse stable");
	xdsmsg_regresp_clear(&rr);
	dbuf_reset(&b);
	ok(xdsmsg_regresp_build(&b, XDSMSG_SUCCESS, NULL) == 0 &&
	    strstr(dbuf_str(&b), "ErrorList") == NULL, "Success without a "
	    "list");
	xdsmsg_errors_clear(&carried);

	/* PnR. */
	memset(pd, 0, sizeof(pd));
	pd[0].id = "Document01";
	pd[0].content.href = "cid:1@isn";
	pd[1].id = "urn:uuid:6";
	pd[1].content.data = (unsigned char *)"\0\1\2\3\377";
	pd[1].content.size = 5;
	dbuf_reset(&b);
	ok(xdsmsg_pnr_build(&b, sor, strlen(sor), pd, 2) == 0, "build a PnR");
	golden("pnr.xml", &b);
	PARSE(xdsmsg_pnr_parse, dbuf_str(&b), &p, &e);
	ok(e.n == 0 && p.ndocs == 2 && strcmp(p.docs[0].content.href,
	    "cid:1@isn") == 0 && p.docs[1].content.size == 5 &&
	    memcmp(p.docs[1].content.data, "\0\1\2\3\377", 5) == 0,
	    "PnR reads back (binary inline document)");
	xdsmsg_pnr_clear(&p);

	/* Limits. */
	dbuf_free(&b);
	dbuf_init(&b, 64);
	ok(xdsmsg_retrieve_req_build(&b, dr, 2) == -1 &&
	    xdsmsg_rad69_req_build(&b, &r69) == -1 &&
	    xdsmsg_query_req_build(&b, &qq) == -1 &&
	    xdsmsg_regresp_build(&b, XDSMSG_SUCCESS, NULL) == -1,
	    "builders fail at the buffer limit");
	dbuf_free(&b);
	dbuf_free(&b2);
	xdsmsg_errors_clear(&e);
}

int
main(void)
{
	test_basics();
	if (tap_shareddir() == NULL)
		tap_skip(63, "../shared (xds-samples) is absent");
	else {
		test_query_samples();
		test_retrieve_samples();
		test_rad69_samples();
		test_pnr_samples();
	}
	test_negatives();
	test_roundtrips();
	return (tap_done());
}
