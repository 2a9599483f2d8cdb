/*
 * test_audit.c: ATNA audit messages (audit.c): XML per kind, RFC 5424
 * header, escaping, file destination.  No database.
 */
#include <sys/time.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "dbuf.h"
#include "tap.h"
#include "xdsmsg.h"
#include "xml.h"
#include "xmalloc.h"

static struct audit	*a;

/* The csd-code of the first <name> below node (depth first), or NULL. */
static const xmlNode *
find(const xmlNode *n, const char *name)
{
	const xmlNode	*c, *r;

	for (c = xml_first(n); c != NULL; c = xml_next(c)) {
		if (xml_is(c, NULL, name))
			return (c);
		if ((r = find(c, name)) != NULL)
			return (r);
	}
	return (NULL);
}

static const char *
attr_of(const xmlNode *root, const char *elem, const char *attr)
{
	const xmlNode	*n = find(root, elem);

	return (n != NULL ? xml_attr(n, attr) : NULL);
}

/* Parses the XML of ev; returns the doc (caller frees) or NULL. */
static xmlDoc *
build(const struct audit_event *ev, struct dbuf *b)
{
	char	*cause = NULL;
	xmlDoc	*doc;

	dbuf_init(b, AUDIT_MAX_MESSAGE);
	if (audit_xml(b, a, ev, &cause) == -1) {
		tap_diag("audit_xml: %s", cause);
		free(cause);
		return (NULL);
	}
	if ((doc = xml_parse(b->data, b->len, NULL, &cause)) == NULL) {
		tap_diag("xml_parse: %s", cause);
		free(cause);
	}
	return (doc);
}

static void
check_kind(const char *what, const struct audit_event *ev,
    const char *event_id, const char *txn, const char *action,
    const char *outcome, size_t nobjects, const char *srcreq)
{
	struct dbuf	 b;
	xmlDoc		*doc;
	xmlNode		*root;
	const xmlNode	*ap;

	doc = build(ev, &b);
	ok(doc != NULL, "%s: well-formed XML", what);
	if (doc == NULL) {
		dbuf_free(&b);
		return;
	}
	root = xmlDocGetRootElement(doc);
	ok(xml_is(root, NULL, "AuditMessage"), "%s: AuditMessage root", what);
	is_str(attr_of(root, "EventID", "csd-code"), event_id,
	    "%s: EventID", what);
	is_str(attr_of(root, "EventID", "codeSystemName"), "DCM",
	    "%s: EventID system", what);
	is_str(attr_of(root, "EventTypeCode", "csd-code"), txn,
	    "%s: EventTypeCode", what);
	is_str(attr_of(root, "EventIdentification", "EventActionCode"),
	    action, "%s: action", what);
	is_str(attr_of(root, "EventIdentification", "EventOutcomeIndicator"),
	    outcome, "%s: outcome", what);
	is_int((int)xml_count(root, NULL, "ActiveParticipant"), 2,
	    "%s: two participants", what);
	ap = xml_child(root, NULL, "ActiveParticipant");
	is_str(attr_of(ap, "RoleIDCode", "csd-code"), "110153",
	    "%s: source first", what);
	is_str(xml_attr(ap, "UserIsRequestor"), srcreq,
	    "%s: source requestor", what);
	ok(xml_child(root, NULL, "AuditSourceIdentification") != NULL &&
	    strcmp(attr_of(root, "AuditSourceIdentification",
	    "AuditSourceID"), "ch.test") == 0, "%s: audit source", what);
	is_int((int)xml_count(root, NULL, "ParticipantObjectIdentification"),
	    (int)nobjects, "%s: participant objects", what);
	xml_free(doc);
	dbuf_free(&b);
}

static const char *PID = "RSNA1234^^^&1.3.6.1.4.1.19376.3.840.1.1.1&ISO";

static void
test_kinds(void)
{
	struct audit_event	 ev;
	struct audit_doc	 docs[2] = {
		{ "1.2.3.4", "1.3.6.1.4.1.21367.100.1", "urn:oid:1.2.3" },
		{ "1.2.3.5", "1.3.6.1.4.1.21367.100.1", NULL },
	};
	const char		*studies[1] = { "1.2.840.113619.2.1" };
	const char		 q[] = "<query:AdhocQueryRequest/>";
	struct dbuf		 b;
	xmlDoc			*doc;
	xmlNode			*root;
	const xmlNode		*po;
	const char		*s;

	memset(&ev, 0, sizeof(ev));
	ev.peer_user = "CN=edge1,O=Site";
	ev.peer_addr = "127.0.0.1";
	ev.local_user = "https://ch.test/xds";
	ev.local_addr = "ch.test";
	ev.patient_id = PID;

	ev.kind = AUDIT_PATIENT_RECORD;
	ev.msh10 = "MSG00001";
	check_kind("ITI-8", &ev, "110110", "ITI-8", "C", "0", 1, "true");
	ev.action = 'D';
	check_kind("ITI-8 merge", &ev, "110110", "ITI-8", "D", "0", 1,
	    "true");
	ev.action = 0;
	doc = build(&ev, &b);
	root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
	is_str(root != NULL ? attr_of(root, "ParticipantObjectDetail",
	    "value") : NULL, "TVNHMDAwMDE=", "ITI-8: MSH-10 detail base64");
	is_str(root != NULL ? attr_of(root, "ParticipantObjectIdentification",
	    "ParticipantObjectID") : NULL, PID, "ITI-8: patient id recorded");
	xml_free(doc);
	dbuf_free(&b);

	ev.kind = AUDIT_IMPORT;
	ev.submission_set_uid = "1.2.3.99";
	check_kind("ITI-41 import", &ev, "110107", "ITI-41", "C", "0", 2,
	    "true");
	ev.kind = AUDIT_EXPORT_ITI41;
	ev.outcome = AUDIT_SERIOUS_FAILURE;
	check_kind("ITI-41 export", &ev, "110106", "ITI-41", "R", "8", 2,
	    "true");
	ev.outcome = 0;

	ev.kind = AUDIT_QUERY;
	ev.query_id = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d";
	ev.query = q;
	ev.query_len = sizeof(q) - 1;
	check_kind("ITI-18", &ev, "110112", "ITI-18", "E", "0", 2, "true");
	doc = build(&ev, &b);
	root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
	po = root != NULL ? find(root, "ParticipantObjectQuery") : NULL;
	if (po != NULL) {
		char		*t = xml_text(po);
		unsigned char	*dec = NULL;
		size_t		 dlen = 0;

		ok(xdsmsg_base64_decode(t, &dec, &dlen) == 0 &&
		    dlen == sizeof(q) - 1 && memcmp(dec, q, dlen) == 0,
		    "ITI-18: query base64 round trip");
		free(dec);
		free(t);
	} else
		ok(0, "ITI-18: ParticipantObjectQuery present");
	xml_free(doc);
	dbuf_free(&b);

	ev.kind = AUDIT_RETRIEVE;
	ev.docs = docs;
	ev.ndocs = 2;
	check_kind("ITI-43", &ev, "110106", "ITI-43", "R", "0", 3, "false");
	ev.outcome = AUDIT_MINOR_FAILURE;
	check_kind("ITI-43 failure", &ev, "110106", "ITI-43", "R", "4", 3,
	    "false");
	ev.outcome = 0;
	ev.kind = AUDIT_RETRIEVE_IMAGING;
	ev.studies = studies;
	ev.nstudies = 1;
	check_kind("RAD-69", &ev, "110104", "RAD-69", "R", "0", 2, "false");
	doc = build(&ev, &b);
	root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
	s = NULL;
	for (po = root != NULL ? xml_child(root, NULL,
	    "ParticipantObjectIdentification") : NULL; po != NULL;
	    po = xml_next_named(po, NULL, "ParticipantObjectIdentification"))
		if (strcmp(attr_of(po, "ParticipantObjectIDTypeCode",
		    "csd-code"), "110180") == 0)
			s = xml_attr(po, "ParticipantObjectID");
	is_str(s, studies[0], "RAD-69: study object");
	xml_free(doc);
	dbuf_free(&b);

	ev.kind = AUDIT_SECURITY_ALERT;
	ev.outcome = AUDIT_MINOR_FAILURE;
	ev.patient_id = NULL;
	ev.alert_uri = "/services/xdsrepositoryb";
	ev.alert = "submit documents (ITI-41)";
	check_kind("security alert", &ev, "110113", "110132", "E", "4", 1,
	    "true");
	doc = build(&ev, &b);
	root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
	is_str(root != NULL ? attr_of(root, "EventTypeCode",
	    "codeSystemName") : NULL, "DCM", "security alert: type is DCM's");
	is_str(root != NULL ? attr_of(root, "ParticipantObjectIdentification",
	    "ParticipantObjectID") : NULL, "/services/xdsrepositoryb",
	    "security alert: the resource's URI");
	is_str(root != NULL ? attr_of(root, "ParticipantObjectDetail",
	    "type") : NULL, "Alert Description",
	    "security alert: its description");
	xml_free(doc);
	dbuf_free(&b);
}

static void
test_bad(void)
{
	struct audit_event	 ev;
	struct dbuf		 b;
	char			*cause = NULL;

	memset(&ev, 0, sizeof(ev));
	ev.kind = AUDIT_IMPORT;
	ev.outcome = 3;
	dbuf_init(&b, AUDIT_MAX_MESSAGE);
	ok(audit_xml(&b, a, &ev, &cause) == -1 && cause != NULL,
	    "bad outcome refused");
	free(cause);
	cause = NULL;
	ev.outcome = 0;
	ev.kind = (enum audit_kind)42;
	ok(audit_xml(&b, a, &ev, &cause) == -1 && cause != NULL,
	    "unknown kind refused");
	free(cause);
	dbuf_free(&b);
}

static void
test_escape(void)
{
	struct audit_event	 ev;
	struct dbuf		 b;
	xmlDoc			*doc;
	xmlNode			*root;
	const char		*weird = "CN=<evil> & \"q\" 'a'\nO=x\x01y";

	memset(&ev, 0, sizeof(ev));
	ev.kind = AUDIT_IMPORT;
	ev.peer_user = weird;
	ev.patient_id = "A&B<C>";
	doc = build(&ev, &b);
	ok(doc != NULL, "special characters: still well-formed");
	ok(strchr(b.data, '\n') == NULL, "no raw newline in the XML");
	root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
	is_str(root != NULL ? attr_of(root, "ActiveParticipant", "UserID") :
	    NULL, "CN=<evil> & \"q\" 'a'\nO=x?y",
	    "escaped value round-trips (control byte replaced)");
	is_str(root != NULL ? attr_of(root, "ParticipantObjectIdentification",
	    "ParticipantObjectID") : NULL, "A&B<C>", "patient id escaped");
	xml_free(doc);
	dbuf_free(&b);
}

static void
test_header(void)
{
	struct audit_event	 ev;
	struct dbuf		 b;
	char			*cause = NULL, want[128], *p;
	const char		*msg;

	memset(&ev, 0, sizeof(ev));
	ev.kind = AUDIT_QUERY;
	ev.when.tv_sec = 1700000000;	/* 2023-11-14T22:13:20Z */
	ev.when.tv_usec = 123456;
	dbuf_init(&b, AUDIT_MAX_MESSAGE);
	ok(audit_line(&b, a, &ev, &cause) == 0, "audit_line");
	snprintf(want, sizeof(want), "<85>1 2023-11-14T22:13:20.123Z "
	    "ch_host isn-clearinghouse %ld IHE+RFC-3881 - \xef\xbb\xbf<?xml ",
	    (long)getpid());
	ok(strncmp(b.data, want, strlen(want)) == 0,
	    "RFC 5424 header: PRI, version, UTC time, host, app, pid, MSGID, "
	    "no SD, BOM");
	if (strncmp(b.data, want, strlen(want)) != 0)
		tap_diag("got %.120s", b.data);
	p = strstr(b.data, "EventDateTime=\"");
	ok(p != NULL && strncmp(p + 15, "2023-11-14T22:13:20.123Z\"", 25) == 0,
	    "EventDateTime in UTC");
	msg = strstr(b.data, "\xef\xbb\xbf");
	ok(msg != NULL && strchr(msg, '\n') == NULL, "one line");
	dbuf_free(&b);
	free(cause);
}

static void
test_file(void)
{
	struct audit_settings	 set;
	struct audit		*f;
	struct audit_event	 ev;
	char			 dir[] = "/tmp/test_audit.XXXXXX", path[256];
	char			*cause = NULL, *data, *line, *save = NULL;
	int			 i, n = 0, good = 0;

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	memset(&set, 0, sizeof(set));
	set.source_id = "ch.test";
	set.hostname = "ch.test";
	set.file = path;
	f = audit_open(&set, &cause);
	ok(f != NULL, "audit_open file");
	memset(&ev, 0, sizeof(ev));
	ev.patient_id = PID;
	ev.peer_user = "CN=a\nb";
	for (i = 0; i < 3 && f != NULL; i++) {
		ev.kind = i == 0 ? AUDIT_IMPORT : i == 1 ? AUDIT_QUERY :
		    AUDIT_RETRIEVE;
		if (audit_log(f, &ev, &cause) != 0) {
			tap_diag("audit_log: %s", cause);
			free(cause);
			cause = NULL;
		}
		if (i == 1)
			ok(audit_reopen(f, &cause) == 0, "reopen");
	}
	audit_close(f);
	f = audit_open(&set, &cause);	/* appends, does not truncate */
	if (f != NULL) {
		ev.kind = AUDIT_PATIENT_RECORD;
		audit_log(f, &ev, &cause);
		audit_close(f);
	}
	data = tap_slurp(path, NULL);
	for (line = data != NULL ? strtok_r(data, "\n", &save) : NULL;
	    line != NULL; line = strtok_r(NULL, "\n", &save)) {
		const char	*x = strstr(line, "<?xml");
		xmlDoc		*doc;

		n++;
		if (strncmp(line, "<85>1 ", 6) == 0 && x != NULL &&
		    (doc = xml_parse(x, strlen(x), NULL, NULL)) != NULL) {
			good++;
			xml_free(doc);
		}
	}
	is_int(n, 4, "file: one line per event, appended across opens");
	is_int(good, 4, "file: every line is a syslog line with parseable XML");
	free(data);
	free(cause);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	struct audit_settings	 set;
	char			*cause = NULL;

	memset(&set, 0, sizeof(set));
	set.source_id = "ch.test";
	set.hostname = "ch host";	/* space: becomes '_' */
	if ((a = audit_open(&set, &cause)) == NULL) {
		printf("Bail out! %s\n", cause);
		return (1);
	}
	test_kinds();
	test_bad();
	test_escape();
	test_header();
	test_file();
	audit_close(a);
	return (tap_done());
}
