/*
 * test_query.c: ITI-18 stored queries (query.c) against a throwaway
 * PostgreSQL started by test_query.sh (tests/pg.sh), which passes
 * ISN_PG_CONNINFO.  Without it the test skips.
 *
 * Fixtures (object numbers are the last digits of their entryUUIDs):
 *   patients p1, p2 (domain 1.2.3);
 *   submission sets 01 (p1, 20240101120000, source 1.1.1, ct1),
 *   02 (p1, 20240201120000, source 1.1.2, author Smith^John, ct2),
 *   03 (p2), 04 (p1, expired on 2025-01-01);
 *   documents 11, 12 (on-demand) in 01; 13 (deprecated), 14 in 02;
 *   15 (p2) in 03; 16 in 04;  folder 21 in 01;
 *   associations 31 (01->11), 32 (01->12), 33 (01->21), 34 (21->11),
 *   35 (02->13), 36 (02->14).
 * The clock (now) is 2026-06-01.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "db.h"
#include "dbuf.h"
#include "log.h"
#include "migrate.h"
#include "query.h"
#include "sq.h"
#include "tap.h"
#include "xdsmeta.h"
#include "xml.h"
#include "xmalloc.h"

#define RIM	"urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
#define APP	"urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
#define DEP	"urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
#define STABLE	"urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
#define ONDEM	"urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248"
#define HASMEM	"urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
#define SSNODE	"urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
#define FOLNODE	"urn:uuid:d9d542f3-6cc4-48b6-8870-ea235fbc94c2"
#define HOME	"urn:oid:1.2.840.99"
#define UUID(n)	"urn:uuid:00000000-0000-4000-8000-0000000000" n

#define Q_FIND_DOCS	sq_query_uuid(SQ_FIND_DOCUMENTS)
#define Q_FIND_SS	sq_query_uuid(SQ_FIND_SUBMISSION_SETS)
#define Q_GET_SSC	sq_query_uuid(SQ_GET_SUBMISSION_SET_AND_CONTENTS)
#define Q_GET_DOCS	sq_query_uuid(SQ_GET_DOCUMENTS)

#define P1	"'p1^^^&1.2.3&ISO'"
#define P2	"'p2^^^&1.2.3&ISO'"
/* shared/xds-samples/negative/ipf-iti18-sql-injection-request.xml */
#define IPF_PROBE "'593603^^^&2.16.756.5.33.2.5.1.5.1&ISO''%20and%20" \
	"611%3d611--%20'"
#define S_APP	"('" APP "')"
#define S_ALL	"('" APP "','" DEP "')"
#define T_BOTH	"('" STABLE "','" ONDEM "')"

static struct event_base *base;
static struct db	*db;
static time_t		 now;		/* 2026-06-01 */

/* The last answer. */
static char		*body;
static char		*status;	/* Success, Failure ... (last word) */
static char		*code;		/* first errorCode or "" */
static char		*ids;		/* object numbers, sorted, ',' joined */
static char		*cause;
static int		 done;

static void
pq(PGconn *c, const char *sql)
{
	PGresult	*r;

	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK) {
		printf("# fixture failed: %s# %s\n", PQerrorMessage(c), sql);
		exit(1);
	}
	PQclear(r);
}

static void
fixtures(const char *conninfo)
{
	PGconn	*c;
	char	 sql[4096];
	static const struct {
		const char *n, *pat, *time, *src, *ct, *exp;
	} ss[] = {
		{ "01", "p1", "20240101120000", "1.1.1", "ct1", "2030-01-01" },
		{ "02", "p1", "20240201120000", "1.1.2", "ct2", "2030-01-01" },
		{ "03", "p2", "20240301120000", "1.1.1", "ct1", "2030-01-01" },
		{ "04", "p1", "20241201120000", "1.1.1", "ct1", "2025-01-01" },
	};
	static const struct {
		const char *n, *ss, *pat, *st, *ot, *cls, *csch, *typ, *fmt;
		const char *ct, *sstart, *sstop, *lid;
	} docs[] = {
		{ "11", "01", "p1", APP, STABLE, "c1", "s1", "t1", "f1",
		    "20240101000000", "20231231000000", "20240101000000", NULL },
		{ "12", "01", "p1", APP, ONDEM, "c2", "s1", "t2", "f2",
		    "20240102000000", "20240101000000", "20240102000000", NULL },
		{ "13", "02", "p1", DEP, STABLE, "c1", "s1", "t1", "f1",
		    "20240103000000", "20240102000000", "20240103000000", NULL },
		{ "14", "02", "p1", APP, STABLE, "c1", "s2", "t1", "f1",
		    "20240104000000", "20240103000000", "20240104000000",
		    UUID("13") },
		{ "15", "03", "p2", APP, STABLE, "c1", "s1", "t1", "f1",
		    "20240101000000", "20231231000000", "20240101000000", NULL },
		{ "16", "04", "p1", APP, STABLE, "c1", "s1", "t1", "f1",
		    "20240101000000", "20231231000000", "20240101000000", NULL },
	};
	static const struct {
		const char *doc, *kind, *code;
	} codes[] = {
		{ "11", "event", "e1" }, { "11", "event", "e2" },
		{ "12", "event", "e1" }, { "13", "event", "e2" },
		{ "14", "event", "e3" }, { "15", "event", "e1" },
		{ "16", "event", "e1" },
		{ "11", "confidentiality", "N" },
		{ "12", "confidentiality", "R" },
		{ "13", "confidentiality", "N" },
		{ "14", "confidentiality", "N" },
		{ "14", "confidentiality", "R" },
	};
	static const struct {
		const char *n, *ss, *src, *dst;
	} assocs[] = {
		{ "31", "01", "01", "11" }, { "32", "01", "01", "12" },
		{ "33", "01", "01", "21" }, { "34", "01", "21", "11" },
		{ "35", "02", "02", "13" }, { "36", "02", "02", "14" },
	};
	size_t	 i;

	if ((c = PQconnectdb(conninfo)) == NULL ||
	    PQstatus(c) != CONNECTION_OK) {
		printf("# cannot connect: %s\n", PQerrorMessage(c));
		exit(1);
	}
	pq(c, "INSERT INTO patients (pid, domain_oid) VALUES "
	    "('p1', '1.2.3'), ('p2', '1.2.3')");
	for (i = 0; i < sizeof(ss) / sizeof(ss[0]); i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO submission_sets "
		    "(entry_uuid, unique_id, source_id, patient_id, status, "
		    "submission_time, content_type_code, content_type_scheme, "
		    "ebrim, received_at, expires_at) VALUES ('" UUID("%s")
		    "', '1.9.%s', '%s', (SELECT id FROM patients WHERE "
		    "pid = '%s'), '" APP "', '%s', '%s', 's', "
		    "'<rim:RegistryPackage xmlns:rim=\"" RIM "\" id=\""
		    UUID("%s") "\"><rim:Classification classifiedObject=\""
		    UUID("%s") "\" classificationNode=\"" SSNODE "\" "
		    "id=\"urn:uuid:00000000-0000-4000-8000-0000000009%s\"/>"
		    "</rim:RegistryPackage>', '2024-01-01', '%s')",
		    ss[i].n, ss[i].n, ss[i].src, ss[i].pat, ss[i].time,
		    ss[i].ct, ss[i].n, ss[i].n, ss[i].n, ss[i].exp);
		pq(c, sql);
	}
	pq(c, "INSERT INTO submission_set_authors (submission_set_id, person) "
	    "SELECT id, 'Smith^John' FROM submission_sets WHERE unique_id = "
	    "'1.9.02'");
	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		/* 12 relies on the rim prefix being declared by the reader. */
		snprintf(sql, sizeof(sql), "INSERT INTO documents (entry_uuid, "
		    "unique_id, logical_id, repository_unique_id, "
		    "submission_set_id, patient_id, status, object_type, "
		    "mime_type, creation_time, service_start_time, "
		    "service_stop_time, class_code, class_scheme, type_code, "
		    "type_scheme, format_code, format_scheme, "
		    "practice_setting_code, practice_setting_scheme, hcft_code, "
		    "hcft_scheme, ebrim) VALUES ('" UUID("%s") "', '1.8.%s', "
		    "%s%s%s, '1.7', (SELECT id FROM submission_sets WHERE "
		    "unique_id = '1.9.%s'), (SELECT id FROM patients WHERE "
		    "pid = '%s'), '%s', '%s', 'text/plain', '%s', '%s', '%s', "
		    "'%s', '%s', '%s', 's1', '%s', 's1', 'pr%s', 's1', 'h%s', "
		    "'s1', '<rim:ExtrinsicObject%s id=\"" UUID("%s") "\" "
		    "objectType=\"%s\" mimeType=\"text/plain\" status=\"old\"/>')",
		    docs[i].n, docs[i].n, docs[i].lid ? "'" : "",
		    docs[i].lid ? docs[i].lid : "NULL", docs[i].lid ? "'" : "",
		    docs[i].ss, docs[i].pat, docs[i].st, docs[i].ot,
		    docs[i].ct, docs[i].sstart, docs[i].sstop, docs[i].cls,
		    docs[i].csch, docs[i].typ, docs[i].fmt, docs[i].n,
		    docs[i].n, strcmp(docs[i].n, "12") == 0 ? "" :
		    " xmlns:rim=\"" RIM "\"", docs[i].n, docs[i].ot);
		pq(c, sql);
	}
	pq(c, "INSERT INTO document_authors (document_id, person) SELECT id, "
	    "'Smith^John' FROM documents WHERE unique_id = '1.8.11'");
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO document_codes "
		    "(document_id, kind, code, scheme) SELECT id, '%s', '%s', "
		    "'s' FROM documents WHERE unique_id = '1.8.%s'",
		    codes[i].kind, codes[i].code, codes[i].doc);
		pq(c, sql);
	}
	pq(c, "INSERT INTO document_refs (document_id, ref_id) SELECT id, "
	    "'acc1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:accession' FROM "
	    "documents WHERE unique_id IN ('1.8.11', '1.8.14')");
	pq(c, "INSERT INTO folders (entry_uuid, unique_id, submission_set_id, "
	    "patient_id, status, last_update_time, ebrim) SELECT '" UUID("21")
	    "', '1.6.21', s.id, s.patient_id, '" APP "', '20240101120000', "
	    "'<rim:RegistryPackage xmlns:rim=\"" RIM "\" id=\"" UUID("21")
	    "\"><rim:Classification classifiedObject=\"" UUID("21") "\" "
	    "classificationNode=\"" FOLNODE "\" id=\"urn:uuid:00000000-0000-"
	    "4000-8000-000000000921\"/></rim:RegistryPackage>' FROM "
	    "submission_sets s WHERE s.unique_id = '1.9.01'");
	for (i = 0; i < sizeof(assocs) / sizeof(assocs[0]); i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO associations "
		    "(entry_uuid, assoc_type, source_uuid, target_uuid, status, "
		    "submission_set_id, ebrim) SELECT '" UUID("%s") "', '"
		    HASMEM "', '" UUID("%s") "', '" UUID("%s") "', '" APP "', "
		    "id, '<rim:Association xmlns:rim=\"" RIM "\" id=\""
		    UUID("%s") "\" associationType=\"" HASMEM "\" "
		    "sourceObject=\"" UUID("%s") "\" targetObject=\""
		    UUID("%s") "\"/>' FROM submission_sets WHERE unique_id = "
		    "'1.9.%s'", assocs[i].n, assocs[i].src, assocs[i].dst,
		    assocs[i].n, assocs[i].src, assocs[i].dst, assocs[i].ss);
		pq(c, sql);
	}
	PQfinish(c);
}

static int
cmpstr(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* Reads status, first errorCode and the sorted object numbers of body. */
static void
digest(const char *b, size_t len)
{
	xmlDoc		*doc;
	xmlNode		*root, *n, *list, *e;
	const char	*s, *id;
	char		*v[256], *why = NULL;
	size_t		 nv = 0, i;
	struct dbuf	 out;

	free(status);
	free(code);
	free(ids);
	status = code = ids = NULL;
	if ((doc = xml_parse(b, len, NULL, &why)) == NULL) {
		status = xstrdup("unparsable");
		free(why);
		return;
	}
	root = xmlDocGetRootElement(doc);
	s = xml_attr(root, "status");
	s = s != NULL && strrchr(s, ':') != NULL ? strrchr(s, ':') + 1 : "";
	status = xstrdup(s);
	code = xstrdup("");
	if ((list = xml_child(root, XML_NS_RS, "RegistryErrorList")) != NULL &&
	    (e = xml_child(list, XML_NS_RS, "RegistryError")) != NULL &&
	    (s = xml_attr(e, "errorCode")) != NULL) {
		free(code);
		code = xstrdup(s);
	}
	dbuf_init(&out, 1 << 20);
	list = xml_child(root, XML_NS_RIM, "RegistryObjectList");
	for (n = xml_first(list); n != NULL && nv < 256; n = xml_next(n)) {
		id = xml_attr(n, "id");
		v[nv++] = xstrdup(id != NULL && strlen(id) > 2 ?
		    id + strlen(id) - 2 : "?");
	}
	qsort(v, nv, sizeof(v[0]), cmpstr);
	for (i = 0; i < nv; i++) {
		dbuf_printf(&out, "%s%s", i ? "," : "", v[i]);
		free(v[i]);
	}
	ids = xstrdup(dbuf_str(&out));
	dbuf_free(&out);
	xml_free(doc);
}

static void
answer(const char *b, size_t len, const char *c, void *arg)
{
	(void)arg;
	done++;
	free(body);
	free(cause);
	body = xstrndup(b, len);
	cause = c != NULL ? xstrdup(c) : NULL;
	digest(b, len);
}

static void
tick(evutil_socket_t fd, short what, void *arg)
{
}

/*
 * Runs query id with (name, value) slot pairs, NULL-terminated; one slot
 * per pair.  0 when the callback ran once, from the loop.
 */
static int
run(enum xdsmsg_return rt, time_t clock, int limit, const char *id, ...)
{
	struct sq_slot		 slots[32];
	const char		*vals[32];
	struct sq_query		*q;
	struct query_settings	 set;
	va_list			 ap;
	size_t			 n = 0;
	const char		*name;
	time_t			 deadline = time(NULL) + 20;

	va_start(ap, id);
	while ((name = va_arg(ap, const char *)) != NULL && n < 32) {
		vals[n] = va_arg(ap, const char *);
		slots[n].name = name;
		slots[n].values = &vals[n];
		slots[n].nvalues = 1;
		slots[n].line = 0;
		n++;
	}
	va_end(ap);
	q = sq_parse(id, slots, n);
	memset(&set, 0, sizeof(set));
	set.limit = limit;
	set.home = HOME;
	done = 0;
	query_run(base, db, &set, q, rt, clock, answer, NULL);
	sq_query_free(q);
	if (done != 0)
		return (-2);
	while (done == 0 && time(NULL) <= deadline)
		event_base_loop(base, EVLOOP_ONCE);
	return (done == 1 ? 0 : -1);
}

#define LEAF	XDSMSG_LEAFCLASS
#define REFS	XDSMSG_OBJECTREF
#define DE(x)	"$XDSDocumentEntry" x
#define SS(x)	"$XDSSubmissionSet" x

/* Runs and checks Success with exactly the ids want. */
#define EXPECT(want, what, ...) do {					\
	int r_ = run(__VA_ARGS__, NULL);				\
	ok(r_ == 0 && strcmp(status, "Success") == 0 &&			\
	    strcmp(ids, want) == 0, "%s: %s", what, want);		\
	if (r_ != 0 || strcmp(status, "Success") != 0 ||		\
	    strcmp(ids, want) != 0)					\
		printf("#   run %d status %s code %s ids %s cause %s\n",	\
		    r_, status ? status : "-", code ? code : "-",	\
		    ids ? ids : "-", cause ? cause : "-");		\
} while (0)

/* Runs and checks Failure with error code want. */
#define EXPECT_ERR(want, what, ...) do {				\
	int r_ = run(__VA_ARGS__, NULL);				\
	ok(r_ == 0 && strcmp(status, "Failure") == 0 &&			\
	    strcmp(code, want) == 0 && strcmp(ids, "") == 0,		\
	    "%s: %s", what, want);					\
	if (r_ != 0 || strcmp(code, want) != 0)				\
		printf("#   run %d status %s code %s ids %s\n", r_,	\
		    status ? status : "-", code ? code : "-",		\
		    ids ? ids : "-");					\
} while (0)

static void
test_find_documents(void)
{
	EXPECT("11,14", "approved, default objectType", LEAF, now, 0,
	    Q_FIND_DOCS, DE("PatientId"), P1, DE("Status"), S_APP);
	EXPECT("11,12,14", "approved, both objectTypes", LEAF, now, 0,
	    Q_FIND_DOCS, DE("PatientId"), P1, DE("Status"), S_APP,
	    DE("Type"), T_BOTH);
	EXPECT("12", "on-demand only", LEAF, now, 0, Q_FIND_DOCS,
	    DE("PatientId"), P1, DE("Status"), S_APP, DE("Type"),
	    "('" ONDEM "')");
	EXPECT("11,13,14", "approved or deprecated", LEAF, now, 0,
	    Q_FIND_DOCS, DE("PatientId"), P1, DE("Status"), S_ALL);
	EXPECT("13", "deprecated only", LEAF, now, 0, Q_FIND_DOCS,
	    DE("PatientId"), P1, DE("Status"), "('" DEP "')");
	EXPECT("15", "other patient", LEAF, now, 0, Q_FIND_DOCS,
	    DE("PatientId"), P2, DE("Status"), S_APP);
	EXPECT("", "unknown patient", LEAF, now, 0, Q_FIND_DOCS,
	    DE("PatientId"), "'p9^^^&1.2.3&ISO'", DE("Status"), S_APP);
	EXPECT("", "patient in another domain", LEAF, now, 0, Q_FIND_DOCS,
	    DE("PatientId"), "'p1^^^&1.2.4&ISO'", DE("Status"), S_APP);
	EXPECT("11", "classCode with scheme", LEAF, now, 0, Q_FIND_DOCS,
	    DE("PatientId"), P1, DE("Status"), S_APP, DE("ClassCode"),
	    "('c1^^s1')");
	EXPECT("11,14", "classCode OR in a slot", LEAF, now, 0, Q_FIND_DOCS,
	    DE("PatientId"), P1, DE("Status"), S_APP, DE("ClassCode"),
	    "('c1^^s1','c1^^s2')");
	EXPECT("12", "typeCode", LEAF, now, 0, Q_FIND_DOCS,
	    DE("PatientId"), P1, DE("Status"), S_APP, DE("Type"), T_BOTH,
	    DE("TypeCode"), "('t2^^s1')");
	EXPECT("11,14", "formatCode", LEAF, now, 0, Q_FIND_DOCS,
	    DE("PatientId"), P1, DE("Status"), S_APP, DE("FormatCode"),
	    "('f1^^s1','f9^^s1')");
	EXPECT("14", "practiceSettingCode", LEAF, now, 0, Q_FIND_DOCS,
	    DE("PatientId"), P1, DE("Status"), S_ALL,
	    DE("PracticeSettingCode"), "('pr14^^s1')");
	EXPECT("13", "healthcareFacilityTypeCode", LEAF, now, 0,
	    Q_FIND_DOCS, DE("PatientId"), P1, DE("Status"), S_ALL,
	    DE("HealthcareFacilityTypeCode"), "('h13^^s1')");
	EXPECT("", "code with wrong scheme", LEAF, now, 0, Q_FIND_DOCS,
	    DE("PatientId"), P1, DE("Status"), S_APP, DE("FormatCode"),
	    "('f1^^s9')");
	EXPECT("11,12", "eventCode OR in a slot", LEAF, now, 0, Q_FIND_DOCS,
	    DE("PatientId"), P1, DE("Status"), S_APP, DE("Type"), T_BOTH,
	    DE("EventCodeList"), "('e1^^s','e2^^s')");
	EXPECT("11", "eventCode AND across slots", LEAF, now, 0,
	    Q_FIND_DOCS, DE("PatientId"), P1, DE("Status"), S_ALL,
	    DE("Type"), T_BOTH, DE("EventCodeList"), "('e1^^s')",
	    DE("EventCodeList"), "('e2^^s')");
	EXPECT("11,13,14", "eventCode AND of ORs", LEAF, now, 0,
	    Q_FIND_DOCS, DE("PatientId"), P1, DE("Status"), S_ALL,
	    DE("Type"), T_BOTH, DE("EventCodeList"), "('e2^^s','e3^^s')",
	    DE("EventCodeList"), "('e1^^s','e2^^s','e3^^s')");
	EXPECT("14", "confidentiality AND across slots", LEAF, now, 0,
	    Q_FIND_DOCS, DE("PatientId"), P1, DE("Status"), S_ALL,
	    DE("Type"), T_BOTH, DE("ConfidentialityCode"), "('N^^s')",
	    DE("ConfidentialityCode"), "('R^^s')");
	EXPECT("11,12,14", "confidentiality OR", LEAF, now, 0, Q_FIND_DOCS,
	    DE("PatientId"), P1, DE("Status"), S_APP, DE("Type"), T_BOTH,
	    DE("ConfidentialityCode"), "('N^^s','R^^s')");
	EXPECT("11", "creationTime To exclusive", LEAF, now, 0, Q_FIND_DOCS,
	    DE("PatientId"), P1, DE("Status"), S_ALL,
	    DE("CreationTimeTo"), "20240102000000");
	EXPECT("11,13", "creationTime range", LEAF, now, 0, Q_FIND_DOCS,
	    DE("PatientId"), P1, DE("Status"), S_ALL,
	    DE("CreationTimeFrom"), "20240101000000", DE("CreationTimeTo"),
	    "20240104000000");
	EXPECT("14", "creationTime From short DTM", LEAF, now, 0,
	    Q_FIND_DOCS, DE("PatientId"), P1, DE("Status"), S_ALL,
	    DE("CreationTimeFrom"), "2024010400");
	EXPECT("", "creationTime To year (exclusive)", LEAF, now, 0,
	    Q_FIND_DOCS, DE("PatientId"), P1, DE("Status"), S_ALL,
	    DE("CreationTimeTo"), "2024");
	EXPECT("13,14", "serviceStartTime From", LEAF, now, 0, Q_FIND_DOCS,
	    DE("PatientId"), P1, DE("Status"), S_ALL,
	    DE("ServiceStartTimeFrom"), "20240102000000");
	EXPECT("11", "serviceStartTime To", LEAF, now, 0, Q_FIND_DOCS,
	    DE("PatientId"), P1, DE("Status"), S_ALL, DE("Type"), T_BOTH,
	    DE("ServiceStartTimeTo"), "20240101000000");
	EXPECT("12,13", "serviceStopTime range", LEAF, now, 0, Q_FIND_DOCS,
	    DE("PatientId"), P1, DE("Status"), S_ALL, DE("Type"), T_BOTH,
	    DE("ServiceStopTimeFrom"), "20240102000000",
	    DE("ServiceStopTimeTo"), "20240104000000");
	EXPECT("11", "authorPerson LIKE", LEAF, now, 0, Q_FIND_DOCS,
	    DE("PatientId"), P1, DE("Status"), S_ALL,
	    DE("AuthorPerson"), "('Smi%')");
	EXPECT("11,14", "ObjectRef", REFS, now, 0, Q_FIND_DOCS,
	    DE("PatientId"), P1, DE("Status"), S_APP);
	ok(body != NULL && strstr(body, "<rim:ObjectRef id=\"" UUID("11")
	    "\"/>") != NULL, "ObjectRef element");
	EXPECT("11,14", "FindDocumentsByReferenceId", LEAF, now, 0,
	    sq_query_uuid(SQ_FIND_DOCUMENTS_BY_REFERENCE_ID),
	    DE("PatientId"), P1, DE("Status"), S_ALL,
	    DE("ReferenceIdList"),
	    "('acc1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:accession')");
}

static void
test_limits(void)
{
	EXPECT_ERR(QUERY_ERR_TOO_MANY, "LeafClass over the limit", LEAF, now,
	    2, Q_FIND_DOCS, DE("PatientId"), P1, DE("Status"), S_APP,
	    DE("Type"), T_BOTH);
	EXPECT("11,12,14", "LeafClass at the limit", LEAF, now, 3,
	    Q_FIND_DOCS, DE("PatientId"), P1, DE("Status"), S_APP,
	    DE("Type"), T_BOTH);
	EXPECT("11,12,14", "ObjectRef ignores the LeafClass limit", REFS,
	    now, 1, Q_FIND_DOCS, DE("PatientId"), P1, DE("Status"), S_APP,
	    DE("Type"), T_BOTH);
	/* Expiry: the clock is an argument. */
	EXPECT("11,14,16", "before 04 expires", LEAF,
	    (time_t)1734220800 /* 2024-12-15 */, 0, Q_FIND_DOCS,
	    DE("PatientId"), P1, DE("Status"), S_APP);
	EXPECT("", "after everything expired", LEAF,
	    (time_t)1924992000 /* 2031-01-01 */, 0, Q_FIND_DOCS,
	    DE("PatientId"), P1, DE("Status"), S_APP);
	EXPECT("", "expired document by UUID", LEAF, now, 0, Q_GET_DOCS,
	    DE("EntryUUID"), "('" UUID("16") "')");
	EXPECT("", "expired submission set", LEAF, now, 0, Q_GET_SSC,
	    SS("EntryUUID"), "'" UUID("04") "'");
	EXPECT("01,02", "expired set not found", REFS, now, 0, Q_FIND_SS,
	    SS("PatientId"), P1, SS("Status"), S_APP);
	EXPECT_ERR(QUERY_ERR_NOT_SINGLE, "two patients in LeafClass", LEAF,
	    now, 0, Q_GET_DOCS, DE("EntryUUID"),
	    "('" UUID("11") "','" UUID("15") "')");
	EXPECT("11,15", "two patients as ObjectRef", REFS, now, 0,
	    Q_GET_DOCS, DE("EntryUUID"), "('" UUID("11") "','" UUID("15")
	    "')");
}

static void
test_find_submission_sets(void)
{
	EXPECT("01,02", "FindSubmissionSets", LEAF, now, 0, Q_FIND_SS,
	    SS("PatientId"), P1, SS("Status"), S_APP);
	EXPECT("03", "FindSubmissionSets p2", LEAF, now, 0, Q_FIND_SS,
	    SS("PatientId"), P2, SS("Status"), S_APP);
	EXPECT("", "FindSubmissionSets deprecated", LEAF, now, 0, Q_FIND_SS,
	    SS("PatientId"), P1, SS("Status"), "('" DEP "')");
	EXPECT("02", "sourceId", LEAF, now, 0, Q_FIND_SS, SS("PatientId"),
	    P1, SS("Status"), S_APP, SS("SourceId"), "('1.1.2','1.1.9')");
	EXPECT("02", "submissionTime From inclusive", LEAF, now, 0,
	    Q_FIND_SS, SS("PatientId"), P1, SS("Status"), S_APP,
	    SS("SubmissionTimeFrom"), "20240201120000");
	EXPECT("01", "submissionTime To exclusive", LEAF, now, 0, Q_FIND_SS,
	    SS("PatientId"), P1, SS("Status"), S_APP,
	    SS("SubmissionTimeTo"), "20240201120000");
	EXPECT("02", "authorPerson", LEAF, now, 0, Q_FIND_SS,
	    SS("PatientId"), P1, SS("Status"), S_APP, SS("AuthorPerson"),
	    "'%^John'");
	EXPECT("01", "contentType", LEAF, now, 0, Q_FIND_SS, SS("PatientId"),
	    P1, SS("Status"), S_APP, SS("ContentType"), "('ct1^^s')");
	EXPECT_ERR(SQ_ERR_REGISTRY, "intendedRecipient unsupported", LEAF,
	    now, 0, Q_FIND_SS, SS("PatientId"), P1, SS("Status"), S_APP,
	    SS("IntendedRecipient"), "('x')");
}

static void
test_get(void)
{
	struct xds_submission	*m;
	char			*why = NULL;

	EXPECT("01,11,21,31,33,34", "GetSubmissionSetAndContents (stable)",
	    LEAF, now, 0, Q_GET_SSC, SS("EntryUUID"), "'" UUID("01") "'");
	EXPECT("01,11,12,21,31,32,33,34", "GetSubmissionSetAndContents",
	    LEAF, now, 0, Q_GET_SSC, SS("EntryUUID"), "'" UUID("01") "'",
	    DE("Type"), T_BOTH);
	m = xdsmeta_parse_buf(body, strlen(body), &why);
	ok(m != NULL && m->nsubsets == 1 && m->ndocs == 2 &&
	    m->nfolders == 1 && m->nassocs == 4, "contents parse as ebRIM");
	if (m == NULL)
		printf("#   %s\n", why);
	xdsmeta_free(m);
	free(why);
	why = NULL;
	EXPECT("01,12,21,32,33", "contents filtered by formatCode", LEAF,
	    now, 0, Q_GET_SSC, SS("EntryUUID"), "'" UUID("01") "'",
	    DE("FormatCode"), "('f2^^s1')", DE("Type"), T_BOTH);
	EXPECT("02,13,14,35,36", "contents by uniqueId, ObjectRef", REFS,
	    now, 0, Q_GET_SSC, SS("UniqueId"), "'1.9.02'");
	EXPECT("02,14,36", "contents, confidentiality AND", LEAF, now, 0,
	    Q_GET_SSC, SS("UniqueId"), "'1.9.02'",
	    DE("ConfidentialityCode"), "('N^^s')",
	    DE("ConfidentialityCode"), "('R^^s')");
	EXPECT("01,02,11,12,13,14,21,31,32,33,34,35,36", "GetAll", LEAF, now,
	    0, sq_query_uuid(SQ_GET_ALL), "$patientId", P1, DE("Status"),
	    S_ALL, SS("Status"), S_APP, "$XDSFolderStatus", S_APP,
	    DE("Type"), T_BOTH);
	m = xdsmeta_parse_buf(body, strlen(body), &why);
	ok(m != NULL && m->nsubsets == 2 && m->ndocs == 4 &&
	    m->nfolders == 1 && m->nassocs == 6, "GetAll parses as ebRIM");
	xdsmeta_free(m);
	free(why);
	why = NULL;
	EXPECT("01,02,11,14,21,31,33,34,36", "GetAll approved, stable", REFS,
	    now, 0, sq_query_uuid(SQ_GET_ALL), "$patientId", P1,
	    DE("Status"), S_APP, SS("Status"), S_APP, "$XDSFolderStatus",
	    S_APP);
	EXPECT("01,02,14,36", "GetAll confidentiality AND, no folders", REFS,
	    now, 0, sq_query_uuid(SQ_GET_ALL), "$patientId", P1,
	    DE("Status"), S_APP, SS("Status"), S_APP, "$XDSFolderStatus",
	    "('" DEP "')", DE("ConfidentialityCode"), "('N^^s')",
	    DE("ConfidentialityCode"), "('R^^s')");
	EXPECT("03,15", "GetAll other patient", LEAF, now, 0,
	    sq_query_uuid(SQ_GET_ALL), "$patientId", P2, DE("Status"), S_APP,
	    SS("Status"), S_APP, "$XDSFolderStatus", S_APP);
	EXPECT("11,13", "GetDocuments by UUID (any status)", LEAF, now, 0,
	    Q_GET_DOCS, DE("EntryUUID"), "('" UUID("11") "','" UUID("13")
	    "','" UUID("99") "')");
	EXPECT("12,14", "GetDocuments by uniqueId", LEAF, now, 0, Q_GET_DOCS,
	    DE("UniqueId"), "('1.8.12','1.8.14')");
	EXPECT("14", "GetDocuments by logicalId", LEAF, now, 0, Q_GET_DOCS,
	    DE("LogicalID"), "('" UUID("13") "')");

	/* LeafClass: stored ebRIM with status, lid and home filled. */
	EXPECT("11,12,13,14", "FindDocuments for ebRIM", LEAF, now, 0,
	    Q_FIND_DOCS, DE("PatientId"), P1, DE("Status"), S_ALL,
	    DE("Type"), T_BOTH);
	m = xdsmeta_parse_buf(body, strlen(body), &why);
	ok(m != NULL && m->ndocs == 4, "documents parse as ebRIM");
	if (m != NULL && m->ndocs == 4) {
		is_str(m->docs[0].o.status, APP, "status from the row");
		is_str(m->docs[2].o.status, DEP, "deprecated status");
		is_str(m->docs[0].o.lid, UUID("11"), "lid defaults to id");
		is_str(m->docs[3].o.lid, UUID("13"), "lid from logical_id");
		is_str(m->docs[1].o.home, HOME, "home");
		is_str(m->docs[1].o.id, UUID("12"), "undeclared prefix ok");
	} else
		printf("#   %s\n", why ? why : "");
	xdsmeta_free(m);
	free(why);
}

static void
test_errors(void)
{
	EXPECT_ERR(SQ_ERR_MISSING_PARAM, "missing status", LEAF, now, 0,
	    Q_FIND_DOCS, DE("PatientId"), P1);
	EXPECT_ERR(SQ_ERR_UNKNOWN_QUERY, "unknown query", LEAF, now, 0,
	    "urn:uuid:00000000-0000-0000-0000-000000000000");
	EXPECT_ERR(SQ_ERR_REGISTRY, "FindFolders not supported", LEAF, now, 0,
	    sq_query_uuid(SQ_FIND_FOLDERS),
	    "$XDSFolderPatientId", P1, "$XDSFolderStatus", S_APP);
	ok(body != NULL && strstr(body, "FindFolders is not supported") !=
	    NULL, "says which query");
}

static void
test_hostile(void)
{
	/* IPF's SQL-injection probe and friends: data, not SQL. */
	EXPECT("", "injection in a code", LEAF, now, 0, Q_FIND_DOCS,
	    DE("PatientId"), P1, DE("Status"), S_APP, DE("ClassCode"),
	    "('c1''); DROP TABLE documents; --^^s1')");
	EXPECT("", "injection in uniqueId", LEAF, now, 0, Q_GET_DOCS,
	    DE("UniqueId"), "('1.8.11'' OR ''1''=''1', '\"}{\\\\''')");
	EXPECT("", "injection in patient", LEAF, now, 0, Q_FIND_DOCS,
	    DE("PatientId"), "'p1'' OR 1=1 --^^^&1.2.3&ISO'",
	    DE("Status"), S_APP);
	EXPECT("", "injection in authorPerson", LEAF, now, 0, Q_FIND_DOCS,
	    DE("PatientId"), P1, DE("Status"), S_APP, DE("AuthorPerson"),
	    "('x'') OR 1=1; SELECT pg_sleep(10) --')");
	EXPECT("", "injection in sourceId", LEAF, now, 0, Q_FIND_SS,
	    SS("PatientId"), P1, SS("Status"), S_APP, SS("SourceId"),
	    "('1.1.1\\'') OR true --')");
	EXPECT_ERR(SQ_ERR_REGISTRY, "IPF probe as a patient id", LEAF, now, 0,
	    Q_FIND_DOCS, DE("PatientId"), IPF_PROBE, DE("Status"), S_APP);
	EXPECT("", "IPF probe as uniqueId", LEAF, now, 0, Q_GET_DOCS,
	    DE("UniqueId"), "(" IPF_PROBE ")");
	EXPECT("", "IPF probe as authorPerson", LEAF, now, 0, Q_FIND_SS,
	    SS("PatientId"), P1, SS("Status"), S_APP, SS("AuthorPerson"),
	    IPF_PROBE);
	EXPECT("11,14", "tables intact afterwards", LEAF, now, 0,
	    Q_FIND_DOCS, DE("PatientId"), P1, DE("Status"), S_APP);
}

int
main(void)
{
	struct event		*t;
	struct timeval		 tv = { 0, 100000 };
	struct db_settings	 ds;
	const char		*conninfo;
	char			 dir[4096], *why = NULL;

	if ((conninfo = getenv("ISN_PG_CONNINFO")) == NULL ||
	    *conninfo == '\0') {
		printf("1..0 # SKIP ISN_PG_CONNINFO not set (run "
		    "test_query.sh)\n");
		return (0);
	}
	log_init(1, "test_query", LOG_USER);
	alarm(120);
	snprintf(dir, sizeof(dir), "%s/schemas/clearinghouse", tap_srcdir());
	if (migrate_run(conninfo, dir, NULL, NULL, &why) != 0) {
		printf("Bail out! migrate: %s\n", why);
		return (1);
	}
	fixtures(conninfo);
	now = (time_t)1780272000;	/* 2026-06-01 */
	base = event_base_new();
	t = event_new(base, -1, EV_PERSIST, tick, NULL);
	event_add(t, &tv);
	memset(&ds, 0, sizeof(ds));
	ds.conninfo = conninfo;
	ds.pool_size = 2;
	if ((db = db_new(base, &ds, &why)) == NULL) {
		printf("Bail out! db_new: %s\n", why);
		return (1);
	}

	test_find_documents();
	test_limits();
	test_find_submission_sets();
	test_get();
	test_errors();
	test_hostile();

	db_free(db);
	event_free(t);
	event_base_free(base);
	free(body);
	free(status);
	free(code);
	free(ids);
	free(cause);
	xmlCleanupParser();
	return (tap_done());
}
