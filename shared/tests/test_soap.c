/* test_soap.c: SOAP 1.2 envelopes, WS-Addressing, faults and the actions. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "soap.h"
#include "tap.h"
#include "xmalloc.h"
#include "xml.h"

#define ENV_OPEN "<env:Envelope xmlns:env=\"" XML_NS_SOAP12 "\" " \
	"xmlns:wsa=\"" XML_NS_WSA "\">"
#define BODY_ITI43 "<env:Body><RetrieveDocumentSetRequest xmlns=\"" \
	XML_NS_XDSB "\"/></env:Body></env:Envelope>"

/* A sample from ../shared/xds-samples, parsed as an envelope. */
static int
parse_sample(const char *rel, struct soap_msg *m, struct soap_fault *f)
{
	char	 path[8192], *buf, *start, *end;
	size_t	 len;
	int	 r;

	snprintf(path, sizeof(path), "%s/xds-samples/%s", tap_shareddir(),
	    rel);
	if ((buf = tap_slurp(path, &len)) == NULL) {
		soap_fault_set(f, SOAP_RECEIVER, NULL, "cannot read %s", path);
		return (-1);
	}
	/* MIME bodies: the root part's envelope only (MTOM is elsewhere). */
	start = buf;
	if (strstr(rel, ".txt") != NULL) {
		start = strstr(buf, "<?xml");
		if (start == NULL || start > strstr(buf, "Envelope"))
			start = strstr(buf, "Envelope") - 1;
		while (start > buf && *start != '<')
			start--;
		for (end = buf + len - 9; end > start; end--)
			if (memcmp(end, "Envelope>", 9) == 0)
				break;
		len = (size_t)(end + 9 - start);
	}
	r = soap_msg_parse_buf(start, len, NULL, m, f);
	free(buf);
	return (r);
}

/* Parse an inline envelope. */
static int
parse_str(const char *s, struct soap_msg *m, struct soap_fault *f)
{
	soap_fault_clear(f);
	return (soap_msg_parse_buf(s, strlen(s), NULL, m, f));
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

static int uuid_counter;

/* Deterministic MessageIDs for golden files. */
static void
fixed_uuid(char *buf, size_t len, void *arg)
{
	(void)arg;
	snprintf(buf, len, "urn:uuid:00000000-0000-4000-8000-%012d",
	    ++uuid_counter);
}

static void
test_actions(void)
{
	const struct soap_action	*a;

	a = soap_action_find(SOAP_ACTION_ITI41);
	ok(a != NULL && a->txn == SOAP_TXN_ITI41 &&
	    strcmp(a->name, "ITI-41") == 0, "ITI-41 request action");
	is_str(a->response, "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-"
	    "bResponse", "ITI-41 response action");
	a = soap_action_find(SOAP_ACTION_RAD69);
	ok(a != NULL && a->txn == SOAP_TXN_RAD69, "RAD-69 request action");
	is_str(a->response, "urn:ihe:iti:2007:RetrieveDocumentSetResponse",
	    "RAD-69 answers with the ITI-43 response action");
	is_str(a->path, SOAP_PATH_IDS, "RAD-69 is served by the IDS path");
	a = soap_action_find("urn:ihe:iti:2007:RegistryStoredQuery");
	ok(a != NULL && a->txn == SOAP_TXN_ITI18 &&
	    strcmp(a->path, "/services/xdsregistryb") == 0,
	    "ITI-18 on the registry path");
	a = soap_action_find(SOAP_ACTION_ITI42);
	ok(a != NULL && strcmp(a->path, SOAP_PATH_REGISTRY) == 0,
	    "ITI-42 on the registry path");
	a = soap_action_find(SOAP_ACTION_ITI43);
	ok(a != NULL && strcmp(a->path, SOAP_PATH_REPOSITORY) == 0,
	    "ITI-43 on the repository path");
	ok(soap_action_find(SOAP_ACTION_ITI41 "Response") == NULL,
	    "a response action is not a request action");
	a = soap_action_find_response(SOAP_ACTION_ITI41 "Response");
	ok(a != NULL && a->txn == SOAP_TXN_ITI41, "find by response action");
	a = soap_action_find_response(
	    "urn:ihe:iti:2007:RetrieveDocumentSetResponse");
	ok(a != NULL && a->txn == SOAP_TXN_ITI43,
	    "the shared retrieve response action gives ITI-43");
	ok(soap_action_find("urn:ihe:iti:2007:Nothing") == NULL &&
	    soap_action_find(NULL) == NULL, "unknown and NULL actions");
	ok(soap_action_get(SOAP_TXN_ITI51) != NULL &&
	    soap_action_get(SOAP_TXN_ITI51)->path == NULL &&
	    soap_action_get(SOAP_TXN_ITI57)->path == NULL &&
	    soap_action_get(SOAP_TXN_ITI62)->path == NULL &&
	    soap_action_get(SOAP_TXN_ITI86)->path == NULL,
	    "ITI-51/57/62/86 are recognised but have no serving path");
	is_str(soap_action_get(SOAP_TXN_ITI86)->request,
	    "urn:ihe:iti:2017:RemoveDocuments", "ITI-86 request action");
	a = soap_action_find(SOAP_ACTION_ITI43);
	ok(soap_action_allowed(a, "/services/xdsrepositoryb"),
	    "allowed on its path");
	ok(soap_action_allowed(a, "/services/xdsrepositoryb/"),
	    "a trailing slash is the same path");
	ok(soap_action_allowed(a, "/services/xdsrepositoryb?wsdl=1"),
	    "a query string is ignored");
	ok(!soap_action_allowed(a, "/services/xdsregistryb"),
	    "not allowed on the registry path");
	ok(!soap_action_allowed(a, "/services/xdsrepositorybX") &&
	    !soap_action_allowed(a, "/services/xdsrepository") &&
	    !soap_action_allowed(a, "/") && !soap_action_allowed(a, ""),
	    "prefixes and extensions of the path are other paths");
	ok(!soap_action_allowed(soap_action_get(SOAP_TXN_ITI51),
	    "/services/xdsregistryb"), "an unsupported action is never "
	    "allowed");
	ok(!soap_action_allowed(NULL, "/x") && !soap_action_allowed(a, NULL),
	    "NULL action or path");
}

static void
test_samples(void)
{
	struct soap_msg			 m;
	struct soap_fault		 f;
	const struct soap_action	*a;

	memset(&f, 0, sizeof(f));
	if (tap_shareddir() == NULL) {
		tap_skip(31, "../shared (xds-samples) is absent");
		return;
	}
	ok(parse_sample("iti18/soap-sq-finddocuments-req.xml", &m, &f) == 0,
	    "iti18 sample request parses");
	is_str(m.action, SOAP_ACTION_ITI18, "iti18 Action");
	ok(m.message_id == NULL, "iti18 sample has no MessageID");
	is_str(m.relates_to, "urn:uuid:F9C98547B63C44C3521268408833497",
	    "iti18 RelatesTo kept");
	ok(xml_is(m.body, XML_NS_QUERY, "AdhocQueryRequest"),
	    "iti18 body is the AdhocQueryRequest");
	ok(soap_check_request(&m, SOAP_PATH_REGISTRY, &a, &f) == 0 &&
	    a->txn == SOAP_TXN_ITI18, "ITI-18 accepted on the registry path");
	ok(soap_check_request(&m, SOAP_PATH_REPOSITORY, &a, &f) == -1 &&
	    f.code == SOAP_SENDER && a == NULL &&
	    strcmp(f.subcode, "wsa:ActionNotSupported") == 0,
	    "ITI-18 on the repository path is an ActionNotSupported fault");
	ok(strstr(f.reason, "/services/xdsregistryb") != NULL &&
	    soap_fault_http_status(&f) == 400, "the fault names the right "
	    "path and is HTTP 400");
	soap_msg_clear(&m);

	ok(parse_sample("iti43/soap-ret-req.xml", &m, &f) == 0,
	    "iti43 request parses");
	is_str(m.message_id, "urn:uuid:0fbfdced-6c01-4d09-a110-2201afedaa02",
	    "iti43 MessageID");
	is_str(m.reply_to, SOAP_WSA_ANONYMOUS, "iti43 ReplyTo anonymous "
	    "(with mustUnderstand=1 on ReplyTo)");
	is_str(m.to, "http://localhost:2647/XdsService/IHEXDSRepository.svc",
	    "iti43 To");
	ok(soap_check_request(&m, SOAP_PATH_REPOSITORY, &a, &f) == 0 &&
	    a->txn == SOAP_TXN_ITI43, "ITI-43 accepted on the repository");
	ok(soap_check_request(&m, SOAP_PATH_IDS, &a, &f) == -1,
	    "ITI-43 refused on the IDS path");
	soap_msg_clear(&m);

	ok(parse_sample("iti43/soap-ret-resp.xml", &m, &f) == 0,
	    "iti43 response parses (a:mustUnderstand is not SOAP's)");
	is_str(m.relates_to, "urn:uuid:0fbfdced-6c01-4d09-a110-2201afedaa02",
	    "iti43 response RelatesTo");
	ok(soap_action_find_response(m.action) ==
	    soap_action_get(SOAP_TXN_ITI43), "iti43 response action");
	ok(xml_is(m.body, XML_NS_XDSB, "RetrieveDocumentSetResponse") &&
	    !m.is_fault, "iti43 response body");
	soap_msg_clear(&m);

	ok(parse_sample("iti41/soap-pnr-resp-success.xml", &m, &f) == 0,
	    "PnR response parses");
	is_str(m.relates_to, "urn:uuid:6d296e90-e5dc-43d0-b455-7c1f3eb35d83",
	    "PnR response RelatesTo");
	ok(soap_action_find_response(m.action) ==
	    soap_action_get(SOAP_TXN_ITI41), "PnR response action");
	ok(xml_is(m.body, XML_NS_RS, "RegistryResponse"), "PnR response body");
	soap_msg_clear(&m);

	ok(parse_sample("iti41/pnr-mtom-xop.body.txt", &m, &f) == 0,
	    "MTOM PnR root part parses (mustUnderstand=true on To, "
	    "MessageID, Action)");
	is_str(m.action, SOAP_ACTION_ITI41, "PnR Action");
	is_str(m.message_id, "urn:uuid:A51311F0AFB3EBCF891467743286288",
	    "PnR MessageID (value after a newline inside the tag)");
	ok(soap_check_request(&m, SOAP_PATH_REPOSITORY, &a, &f) == 0 &&
	    a->txn == SOAP_TXN_ITI41, "ITI-41 accepted on the repository");
	soap_msg_clear(&m);

	ok(parse_sample("iti41/rad68-wcf-inline-kos.body.txt", &m, &f) == 0,
	    "WCF RAD-68 parses (ActivityId header without mustUnderstand)");
	is_str(m.message_id, "urn:uuid:2d79d030-91c0-4533-b011-92bdaa03c433",
	    "WCF MessageID");
	ok(soap_check_request(&m, SOAP_PATH_REPOSITORY, &a, &f) == 0,
	    "WCF RAD-68 accepted as ITI-41");
	soap_msg_clear(&m);

	ok(parse_sample("iti41/http-mtom-pnr-axis2-full-request.txt", &m, &f)
	    == 0, "Axis2 full HTTP request's root part parses");
	is_str(m.action, SOAP_ACTION_ITI41, "Axis2 Action");
	soap_msg_clear(&m);
	soap_fault_clear(&f);
}

static void
test_parse_errors(void)
{
	struct soap_msg			 m;
	struct soap_fault		 f;
	const struct soap_action	*a;

	memset(&f, 0, sizeof(f));
	ok(parse_str("<e:Envelope xmlns:e=\"" SOAP_NS_SOAP11 "\"><e:Body/>"
	    "</e:Envelope>", &m, &f) == -1 && f.code == SOAP_VERSION_MISMATCH,
	    "SOAP 1.1 envelope: VersionMismatch");
	ok(strstr(f.reason, "SOAP 1.1") != NULL, "reason says SOAP 1.1: %s",
	    f.reason);
	ok(parse_str("<e:Envelope xmlns:e=\"urn:other\"><e:Body/></e:Envelope>",
	    &m, &f) == -1 && f.code == SOAP_VERSION_MISMATCH,
	    "unknown envelope namespace: VersionMismatch");
	ok(parse_str("<Envelope><Body/></Envelope>", &m, &f) == -1 &&
	    f.code == SOAP_VERSION_MISMATCH, "Envelope without namespace: "
	    "VersionMismatch");
	ok(parse_str("<x:Foo xmlns:x=\"" XML_NS_SOAP12 "\"/>", &m, &f) == -1 &&
	    f.code == SOAP_SENDER && strstr(f.reason, "Foo") != NULL,
	    "another root element: Sender");
	ok(parse_str("<env:Envelope", &m, &f) == -1 && f.code == SOAP_SENDER &&
	    strstr(f.reason, "well-formed") != NULL, "broken XML: Sender");
	ok(parse_str(ENV_OPEN "</env:Envelope>", &m, &f) == -1 &&
	    f.code == SOAP_SENDER && strstr(f.reason, "no Body") != NULL,
	    "no Body: Sender");
	ok(parse_str(ENV_OPEN "<env:Body/><env:Header/></env:Envelope>", &m,
	    &f) == -1 && f.code == SOAP_SENDER, "Header after Body: Sender");
	ok(parse_str(ENV_OPEN "<env:Header/><env:Header/><env:Body/>"
	    "</env:Envelope>", &m, &f) == -1, "two Headers: Sender");
	ok(parse_str(ENV_OPEN "<env:Body/><env:Body/></env:Envelope>", &m,
	    &f) == -1, "two Bodies: Sender");
	ok(parse_str(ENV_OPEN "<env:Body/><x/></env:Envelope>", &m, &f) == -1,
	    "an element after Body: Sender");
	ok(parse_str(ENV_OPEN "<env:Header><x:Sec xmlns:x=\"urn:sec\" "
	    "env:mustUnderstand=\"true\"/></env:Header>" BODY_ITI43, &m, &f)
	    == -1 && f.code == SOAP_MUST_UNDERSTAND,
	    "unknown header with mustUnderstand=true: MustUnderstand");
	is_str(f.nu_ns, "urn:sec", "the fault names the block's namespace");
	is_str(f.nu_name, "Sec", "and its name");
	ok(soap_fault_http_status(&f) == 500, "MustUnderstand is HTTP 500");
	ok(parse_str(ENV_OPEN "<env:Header><Sec env:mustUnderstand=\"1\"/>"
	    "</env:Header>" BODY_ITI43, &m, &f) == -1 &&
	    f.code == SOAP_MUST_UNDERSTAND && strcmp(f.nu_ns, "") == 0,
	    "mustUnderstand=1 on a block without namespace");
	ok(parse_str(ENV_OPEN "<env:Header><wsa:Unknown "
	    "env:mustUnderstand=\"true\"/></env:Header>" BODY_ITI43, &m, &f)
	    == -1 && f.code == SOAP_MUST_UNDERSTAND,
	    "an unknown WS-Addressing header with mustUnderstand");
	ok(parse_str(ENV_OPEN "<env:Header><x:Sec xmlns:x=\"urn:sec\" "
	    "env:mustUnderstand=\"false\"/><y:T xmlns:y=\"urn:y\" "
	    "env:mustUnderstand=\" 0 \"/></env:Header>" BODY_ITI43, &m, &f)
	    == 0, "mustUnderstand false and 0 are ignored");
	soap_msg_clear(&m);
	ok(parse_str(ENV_OPEN "<env:Header><x:Sec xmlns:x=\"urn:sec\" "
	    "env:mustUnderstand=\"true\" env:role=\"http://www.w3.org/2003/05/"
	    "soap-envelope/role/none\"/><x:Other xmlns:x=\"urn:sec\" "
	    "env:mustUnderstand=\"true\" env:role=\"urn:some:intermediary\"/>"
	    "</env:Header>" BODY_ITI43, &m, &f) == 0,
	    "blocks for role none or another role are not ours");
	soap_msg_clear(&m);
	ok(parse_str(ENV_OPEN "<env:Header><x:Sec xmlns:x=\"urn:sec\" "
	    "env:mustUnderstand=\"true\" env:role=\"http://www.w3.org/2003/05/"
	    "soap-envelope/role/ultimateReceiver\"/></env:Header>" BODY_ITI43,
	    &m, &f) == -1 && f.code == SOAP_MUST_UNDERSTAND,
	    "role ultimateReceiver is ours");
	ok(parse_str(ENV_OPEN "<env:Header><wsa:Action env:mustUnderstand="
	    "\"yes\">" SOAP_ACTION_ITI43 "</wsa:Action></env:Header>"
	    BODY_ITI43, &m, &f) == -1 && f.code == SOAP_SENDER &&
	    strstr(f.reason, "yes") != NULL, "mustUnderstand=yes: Sender");
	ok(parse_str(ENV_OPEN "<env:Header><wsa:Action>a</wsa:Action>"
	    "<wsa:Action>b</wsa:Action></env:Header>" BODY_ITI43, &m, &f)
	    == -1 && strcmp(f.subcode, "wsa:InvalidAddressingHeader") == 0,
	    "two Actions: InvalidAddressingHeader");
	ok(parse_str(ENV_OPEN "<env:Header><wsa:MessageID> </wsa:MessageID>"
	    "</env:Header>" BODY_ITI43, &m, &f) == -1 &&
	    strcmp(f.subcode, "wsa:InvalidAddressingHeader") == 0,
	    "empty MessageID: InvalidAddressingHeader");
	ok(parse_str(ENV_OPEN "<env:Header><wsa:ReplyTo/></env:Header>"
	    BODY_ITI43, &m, &f) == -1 && strstr(f.reason, "Address") != NULL,
	    "ReplyTo without Address: InvalidAddressingHeader");
	ok(parse_str(ENV_OPEN "<env:Header><wsa:From><wsa:Address>x"
	    "</wsa:Address></wsa:From><wsa:From/></env:Header>" BODY_ITI43, &m,
	    &f) == -1, "two From headers: InvalidAddressingHeader");
	ok(parse_str(ENV_OPEN "<env:Header><wsa:RelatesTo RelationshipType="
	    "\"urn:other\">urn:uuid:1</wsa:RelatesTo><wsa:RelatesTo>"
	    "urn:uuid:2</wsa:RelatesTo><wsa:FaultTo><wsa:Address>x"
	    "</wsa:Address></wsa:FaultTo></env:Header>" BODY_ITI43, &m, &f)
	    == 0 && strcmp(m.relates_to, "urn:uuid:2") == 0,
	    "the reply RelatesTo is kept, other relationships skipped");
	soap_msg_clear(&m);
	ok(parse_str(ENV_OPEN "<env:Header><wsa:Action>\n  "
	    SOAP_ACTION_ITI43 "\n</wsa:Action></env:Header>" BODY_ITI43, &m,
	    &f) == 0 && strcmp(m.action, SOAP_ACTION_ITI43) == 0,
	    "header values are trimmed");
	ok(soap_check_request(&m, NULL, &a, &f) == 0,
	    "a NULL path skips the path check");
	soap_msg_clear(&m);
	ok(parse_str(ENV_OPEN "<env:Body/></env:Envelope>", &m, &f) == 0 &&
	    m.body == NULL, "an empty Body parses with a NULL body");

	ok(soap_check_request(&m, SOAP_PATH_REGISTRY, &a, &f) == -1 &&
	    strcmp(f.subcode, "wsa:MessageAddressingHeaderRequired") == 0,
	    "no Action: MessageAddressingHeaderRequired");
	soap_msg_clear(&m);
	ok(parse_str(ENV_OPEN "<env:Header><wsa:Action>urn:x</wsa:Action>"
	    "</env:Header>" BODY_ITI43, &m, &f) == 0 &&
	    soap_check_request(&m, SOAP_PATH_REGISTRY, &a, &f) == -1 &&
	    strcmp(f.subcode, "wsa:ActionNotSupported") == 0 &&
	    strstr(f.reason, "unknown action") != NULL,
	    "unknown action: ActionNotSupported");
	soap_msg_clear(&m);
	ok(parse_str(ENV_OPEN "<env:Header><wsa:Action>" SOAP_ACTION_ITI43
	    "Response</wsa:Action></env:Header>" BODY_ITI43, &m, &f) == 0 &&
	    soap_check_request(&m, SOAP_PATH_REPOSITORY, &a, &f) == -1 &&
	    strstr(f.reason, "response action") != NULL,
	    "a response action sent as a request");
	soap_msg_clear(&m);
	ok(parse_str(ENV_OPEN "<env:Header><wsa:Action>" SOAP_ACTION_ITI51
	    "</wsa:Action></env:Header>" BODY_ITI43, &m, &f) == 0 &&
	    soap_check_request(&m, SOAP_PATH_REGISTRY, &a, &f) == -1 &&
	    strstr(f.reason, "ITI-51") != NULL &&
	    strstr(f.reason, "not supported") != NULL,
	    "ITI-51 is recognised but not supported");
	soap_msg_clear(&m);
	ok(parse_str(ENV_OPEN "<env:Header><wsa:Action>" SOAP_ACTION_ITI18
	    "</wsa:Action></env:Header>" BODY_ITI43, &m, &f) == 0 &&
	    soap_check_request(&m, SOAP_PATH_REGISTRY, &a, &f) == -1 &&
	    f.subcode == NULL && strstr(f.reason, "AdhocQueryRequest") != NULL,
	    "ITI-18 action with a retrieve body: Sender fault");
	soap_msg_clear(&m);
	ok(parse_str(ENV_OPEN "<env:Header><wsa:Action>" SOAP_ACTION_ITI43
	    "</wsa:Action></env:Header><env:Body/></env:Envelope>", &m, &f)
	    == 0 && soap_check_request(&m, SOAP_PATH_REPOSITORY, &a, &f) == -1 &&
	    strstr(f.reason, "empty") != NULL, "empty Body for ITI-43");
	soap_msg_clear(&m);
	ok(parse_str(ENV_OPEN "<env:Header><wsa:Action>" SOAP_ACTION_ITI43
	    "</wsa:Action><wsa:ReplyTo><wsa:Address>http://client/cb"
	    "</wsa:Address></wsa:ReplyTo></env:Header>" BODY_ITI43, &m, &f)
	    == 0 && soap_check_request(&m, SOAP_PATH_REPOSITORY, &a, &f) == -1 &&
	    strcmp(f.subcode, "wsa:OnlyAnonymousAddressSupported") == 0,
	    "a non-anonymous ReplyTo: OnlyAnonymousAddressSupported");
	soap_msg_clear(&m);
	soap_fault_clear(&f);
}

static void
test_build(void)
{
	struct dbuf		 b;
	struct soap_msg		 m;
	struct soap_fault	 f, f2;
	struct soap_hdr		 h;
	char			 id[SOAP_UUID_LEN + 1], id2[SOAP_UUID_LEN + 1];
	char			*mid = NULL;
	const char		*body = "<xdsb:RetrieveDocumentSetRequest "
	    "xmlns:xdsb=\"" XML_NS_XDSB "\"/>";
	xmlDoc			*doc;
	char			*cause = NULL;

	memset(&f, 0, sizeof(f));
	memset(&f2, 0, sizeof(f2));
	soap_set_uuid_cb(NULL, NULL);
	soap_uuid(id, sizeof(id));
	soap_uuid(id2, sizeof(id2));
	ok(strlen(id) == SOAP_UUID_LEN && strncmp(id, "urn:uuid:", 9) == 0 &&
	    id[9 + 14] == '4' && strchr("89ab", id[9 + 19]) != NULL &&
	    id[9 + 8] == '-' && id[9 + 13] == '-',
	    "random UUID is a version 4 urn:uuid: %s", id);
	ok(strcmp(id, id2) != 0, "two UUIDs differ");

	soap_set_uuid_cb(fixed_uuid, NULL);
	uuid_counter = 0;
	dbuf_init(&b, 1 << 20);
	ok(soap_request(&b, SOAP_ACTION_ITI43,
	    "https://ch.example/services/xdsrepositoryb?a=1&b=2", body,
	    strlen(body), &mid) == 0, "build a request");
	is_str(mid, "urn:uuid:00000000-0000-4000-8000-000000000001",
	    "the request's MessageID is returned");
	golden("soap-request.xml", &b);
	ok(parse_str(dbuf_str(&b), &m, &f) == 0, "built request parses");
	ok(m.action != NULL && strcmp(m.action, SOAP_ACTION_ITI43) == 0 &&
	    strcmp(m.message_id, mid) == 0 &&
	    strcmp(m.to, "https://ch.example/services/xdsrepositoryb?a=1&b=2")
	    == 0 && strcmp(m.reply_to, SOAP_WSA_ANONYMOUS) == 0,
	    "built request headers read back");
	ok(xml_is(m.body, XML_NS_XDSB, "RetrieveDocumentSetRequest"),
	    "built request body reads back");
	soap_msg_clear(&m);

	dbuf_reset(&b);
	ok(soap_response(&b, "urn:ihe:iti:2007:RetrieveDocumentSetResponse",
	    mid, "\xef\xbb\xbf<?xml version=\"1.0\"?>\n<r:x xmlns:r=\"urn:r\">"
	    "&amp;</r:x>", strlen("\xef\xbb\xbf<?xml version=\"1.0\"?>\n<r:x "
	    "xmlns:r=\"urn:r\">&amp;</r:x>")) == 0,
	    "a body's BOM and declaration are dropped");
	golden("soap-response.xml", &b);
	ok(parse_str(dbuf_str(&b), &m, &f) == 0 &&
	    strcmp(m.relates_to, mid) == 0 && m.message_id == NULL &&
	    xml_is(m.body, "urn:r", "x"), "built response reads back");
	soap_msg_clear(&m);
	free(mid);

	/* A body node whose namespace is declared on an ancestor. */
	body = "<a xmlns:q=\"urn:q\"><q:Body><q:c>t</q:c></q:Body></a>";
	doc = xml_parse(body, strlen(body), NULL, &cause);
	ok(doc != NULL, "node source parses");
	dbuf_reset(&b);
	memset(&h, 0, sizeof(h));
	h.action = SOAP_ACTION_ITI18;
	ok(soap_build_node(&b, &h, doc, xml_first(xmlDocGetRootElement(doc)))
	    == 0, "build around a node");
	ok(parse_str(dbuf_str(&b), &m, &f) == 0 &&
	    xml_is(m.body, "urn:q", "Body") &&
	    xml_is(xml_first(m.body), "urn:q", "c"),
	    "the node's namespace is declared in the copy");
	soap_msg_clear(&m);
	xml_free(doc);

	/* Faults. */
	soap_fault_set(&f, SOAP_SENDER, "wsa:ActionNotSupported", "action %s "
	    "is served at %s <&>", "urn:x", "/p");
	dbuf_reset(&b);
	ok(soap_fault_build(&b, &f, "urn:uuid:r1") == 0, "build a fault");
	golden("soap-fault-sender.xml", &b);
	ok(parse_str(dbuf_str(&b), &m, &f2) == 0 && m.is_fault,
	    "fault reads back as a fault");
	ok(m.fault.code == SOAP_SENDER &&
	    strcmp(m.fault.subcode, "wsa:ActionNotSupported") == 0 &&
	    strcmp(m.fault.reason, f.reason) == 0 &&
	    strcmp(m.relates_to, "urn:uuid:r1") == 0 &&
	    strcmp(m.action, SOAP_WSA_FAULT_ACTION) == 0,
	    "fault code, subcode, reason, RelatesTo and action read back");
	soap_msg_clear(&m);

	soap_fault_set(&f, SOAP_MUST_UNDERSTAND, NULL, "not understood");
	f.nu_ns = xstrdup("urn:sec");
	f.nu_name = xstrdup("Security");
	dbuf_reset(&b);
	ok(soap_fault_build(&b, &f, NULL) == 0, "build a MustUnderstand fault");
	golden("soap-fault-mustunderstand.xml", &b);
	ok(parse_str(dbuf_str(&b), &m, &f2) == 0 && m.is_fault &&
	    m.fault.code == SOAP_MUST_UNDERSTAND &&
	    strcmp(m.fault.nu_ns, "urn:sec") == 0 &&
	    strcmp(m.fault.nu_name, "Security") == 0 &&
	    strcmp(m.action, SOAP_FAULT_ACTION) == 0,
	    "NotUnderstood header reads back");
	soap_msg_clear(&m);

	soap_fault_set(&f, SOAP_VERSION_MISMATCH, NULL, "SOAP 1.2 only");
	dbuf_reset(&b);
	ok(soap_fault_build(&b, &f, NULL) == 0 &&
	    strstr(dbuf_str(&b), "<env:Upgrade><env:SupportedEnvelope "
	    "qname=\"env:Envelope\"/>") != NULL,
	    "VersionMismatch fault carries an Upgrade header");
	ok(parse_str(dbuf_str(&b), &m, &f2) == 0 &&
	    m.fault.code == SOAP_VERSION_MISMATCH, "VersionMismatch reads back");
	soap_msg_clear(&m);
	is_str(soap_code_name(SOAP_RECEIVER), "Receiver", "code names");
	is_str(soap_code_name(SOAP_DATA_ENCODING_UNKNOWN),
	    "DataEncodingUnknown", "code names (2)");

	ok(parse_str(ENV_OPEN "<env:Body><env:Fault><env:Code><env:Value>"
	    "bogus:Sender</env:Value></env:Code></env:Fault></env:Body>"
	    "</env:Envelope>", &m, &f2) == 0 && m.is_fault &&
	    m.fault.code == SOAP_RECEIVER && strcmp(m.fault.reason, "") == 0,
	    "a malformed received fault is read leniently as Receiver");
	soap_msg_clear(&m);
	ok(parse_str("<s:Envelope xmlns:s=\"" XML_NS_SOAP12 "\"><s:Body>"
	    "<s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code><s:Reason>"
	    "<s:Text xml:lang=\"en\"> bad </s:Text></s:Reason></s:Fault>"
	    "</s:Body></s:Envelope>", &m, &f2) == 0 &&
	    m.fault.code == SOAP_SENDER && strcmp(m.fault.reason, "bad") == 0 &&
	    m.fault.subcode == NULL, "a peer's fault with another prefix");
	soap_msg_clear(&m);

	/* Limits. */
	body = "<xdsb:RetrieveDocumentSetRequest/>";
	dbuf_free(&b);
	dbuf_init(&b, 100);
	ok(soap_request(&b, SOAP_ACTION_ITI43, NULL, body, strlen(body), &mid)
	    == -1, "a request past the buffer limit fails");
	soap_fault_set(&f, SOAP_RECEIVER, NULL, "x");
	dbuf_reset(&b);
	ok(soap_fault_build(&b, &f, NULL) == -1, "a fault past the limit "
	    "fails");
	dbuf_free(&b);
	soap_fault_clear(&f);
	soap_fault_clear(&f2);
	soap_set_uuid_cb(NULL, NULL);
}

int
main(void)
{
	test_actions();
	test_samples();
	test_parse_errors();
	test_build();
	return (tap_done());
}
