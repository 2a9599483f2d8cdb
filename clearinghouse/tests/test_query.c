/*
 * test_query.c: ITI-18 stored queries (query.c) against a throwaway
 * PostgreSQL started by test_query.sh (tests/pg.sh), which passes
 * ISN_PG_CONNINFO.  Without it the test skips.
 *
 * Fixtures (object numbers are the last digits of their entryUUIDs):
 *   patients p1, p2, p5 (domain 1.2.3); p3 merged into p4, p4 merged into
 *   p5 (a chain of two merges: p5 survives);
 *   submission sets 01 (p1, 20240101120000, source 1.1.1, ct1),
 *   02 (p1, 20240201120000, source 1.1.2, author Smith^John, ct2),
 *   03 (p2), 04 (p1, expired on 2025-01-01), 05 (p3), 06 (p4), 07 (p5);
 *   documents 11, 12 (on-demand) in 01; 13 (deprecated), 14 in 02;
 *   15 (p2) in 03; 16 in 04; 17 in 05; 18 in 06; 19 in 07;
 *   folders 21 (lastUpdate 20240101120000, codes fc1 fc2) in 01,
 *   23 (deprecated, 20240201120000, fc2) in 02, 24 (fc1) in 04,
 *   22 (p3, fc1) in 05;
 *   HasMember associations 31 (01->11), 32 (01->12), 33 (01->21),
 *   34 (21->11), 35 (02->13), 36 (02->14), 37 (05->17), 38 (05->22),
 *   39 (22->17), 40 (06->18), 41 (07->19), 42 (02->23), 43 (21->14, filed
 *   with 02), 44 (23->13), 48 (24->16, in 04), 49 (04->24), 51 (03->15),
 *   and from a set to a folder membership 52 (01->34), 53 (02->43);
 *   relations 45 (14 RPLC 13, in 02), 46 (12 XFRM 11, in 01), 47 (16 APND
 *   11, in 04: expired), 50 (14 APND 16, in 02: its target expired).
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
#define AT(x)	"urn:ihe:iti:2007:AssociationType:" x
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
#define P3	"'p3^^^&1.2.3&ISO'"
#define P4	"'p4^^^&1.2.3&ISO'"
#define P5	"'p5^^^&1.2.3&ISO'"
#define S_DEP	"('" DEP "')"
#define FOL(x)	"$XDSFolder" x
#define Q_FIND_FOL	sq_query_uuid(SQ_FIND_FOLDERS)
#define Q_GET_FOL	sq_query_uuid(SQ_GET_FOLDERS)
#define Q_GET_ASSOC	sq_query_uuid(SQ_GET_ASSOCIATIONS)
#define Q_GET_DA	sq_query_uuid(SQ_GET_DOCUMENTS_AND_ASSOCIATIONS)
#define Q_GET_SETS	sq_query_uuid(SQ_GET_SUBMISSION_SETS)
#define Q_GET_FC	sq_query_uuid(SQ_GET_FOLDER_AND_CONTENTS)
#define Q_GET_FFD	sq_query_uuid(SQ_GET_FOLDERS_FOR_DOCUMENT)
#define Q_GET_REL	sq_query_uuid(SQ_GET_RELATED_DOCUMENTS)
#define Q_GET_ALL	sq_query_uuid(SQ_GET_ALL)
/* A list of entryUUIDs by object number. */
#define U1(a)		"('" UUID(a) "')"
#define U2(a, b)	"('" UUID(a) "','" UUID(b) "')"
#define U3(a, b, c)	"('" UUID(a) "','" UUID(b) "','" UUID(c) "')"
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
		{ "05", "p3", "20240501120000", "1.1.1", "ct1", "2030-01-01" },
		{ "06", "p4", "20240601120000", "1.1.1", "ct1", "2030-01-01" },
		{ "07", "p5", "20240701120000", "1.1.1", "ct1", "2030-01-01" },
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
		{ "17", "05", "p3", APP, STABLE, "c1", "s1", "t1", "f1",
		    "20240501000000", "20240501000000", "20240501000000", NULL },
		{ "18", "06", "p4", APP, STABLE, "c1", "s1", "t1", "f1",
		    "20240601000000", "20240601000000", "20240601000000", NULL },
		{ "19", "07", "p5", APP, STABLE, "c1", "s1", "t1", "f1",
		    "20240701000000", "20240701000000", "20240701000000", NULL },
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
		const char *n, *ss, *src, *dst, *type;
	} assocs[] = {
		{ "31", "01", "01", "11", HASMEM },
		{ "32", "01", "01", "12", HASMEM },
		{ "33", "01", "01", "21", HASMEM },
		{ "34", "01", "21", "11", HASMEM },
		{ "35", "02", "02", "13", HASMEM },
		{ "36", "02", "02", "14", HASMEM },
		{ "37", "05", "05", "17", HASMEM },
		{ "38", "05", "05", "22", HASMEM },
		{ "39", "05", "22", "17", HASMEM },
		{ "40", "06", "06", "18", HASMEM },
		{ "41", "07", "07", "19", HASMEM },
		{ "42", "02", "02", "23", HASMEM },
		{ "43", "02", "21", "14", HASMEM },
		{ "44", "02", "23", "13", HASMEM },
		{ "45", "02", "14", "13", AT("RPLC") },
		{ "46", "01", "12", "11", AT("XFRM") },
		{ "47", "04", "16", "11", AT("APND") },
		{ "48", "04", "24", "16", HASMEM },
		{ "49", "04", "04", "24", HASMEM },
		{ "50", "02", "14", "16", AT("APND") },
		{ "51", "03", "03", "15", HASMEM },
		{ "52", "01", "01", "34", HASMEM },
		{ "53", "02", "02", "43", HASMEM },
	};
	static const struct {
		const char *n, *ss, *st, *lut, *pat;
	} folders[] = {
		{ "21", "01", APP, "20240101120000", "p1" },
		{ "22", "05", APP, "20240501120000", "p3" },
		{ "23", "02", DEP, "20240201120000", "p1" },
		{ "24", "04", APP, "20241201120000", "p1" },
	};
	static const struct {
		const char *folder, *code;
	} fcodes[] = {
		{ "21", "fc1" }, { "21", "fc2" }, { "23", "fc2" },
		{ "22", "fc1" }, { "24", "fc1" },
	};
	size_t	 i;

	if ((c = PQconnectdb(conninfo)) == NULL ||
	    PQstatus(c) != CONNECTION_OK) {
		printf("# cannot connect: %s\n", PQerrorMessage(c));
		exit(1);
	}
	pq(c, "INSERT INTO patients (pid, domain_oid) VALUES "
	    "('p1', '1.2.3'), ('p2', '1.2.3'), ('p3', '1.2.3'), "
	    "('p4', '1.2.3'), ('p5', '1.2.3')");
	/* As ITI-8 A40 leaves them (pixfeed.c): p3 -> p4 -> p5. */
	pq(c, "UPDATE patients SET merged_into = (SELECT id FROM patients "
	    "WHERE pid = 'p4') WHERE pid = 'p3'");
	pq(c, "UPDATE patients SET merged_into = (SELECT id FROM patients "
	    "WHERE pid = 'p5') WHERE pid = 'p4'");
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
		    "<rim:ExternalIdentifier id=\"urn:uuid:00000000-0000-"
		    "4000-8000-0000000007%s\" registryObject=\"" UUID("%s")
		    "\" identificationScheme=\"" XDS_SS_PATIENTID "\" "
		    "value=\"%s^^^&amp;1.2.3&amp;ISO\"/>"
		    "</rim:RegistryPackage>', '2024-01-01', '%s')",
		    ss[i].n, ss[i].n, ss[i].src, ss[i].pat, ss[i].time,
		    ss[i].ct, ss[i].n, ss[i].n, ss[i].n, ss[i].n, ss[i].n,
		    ss[i].pat, ss[i].exp);
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
		    "objectType=\"%s\" mimeType=\"text/plain\" status=\"old\">"
		    "<rim:ExternalIdentifier id=\"urn:uuid:00000000-0000-4000-"
		    "8000-0000000008%s\" registryObject=\"" UUID("%s") "\" "
		    "identificationScheme=\"" XDS_DE_PATIENTID "\" "
		    "value=\"%s^^^&amp;1.2.3&amp;ISO\"/></rim:ExtrinsicObject>')",
		    docs[i].n, docs[i].n, docs[i].lid ? "'" : "",
		    docs[i].lid ? docs[i].lid : "NULL", docs[i].lid ? "'" : "",
		    docs[i].ss, docs[i].pat, docs[i].st, docs[i].ot,
		    docs[i].ct, docs[i].sstart, docs[i].sstop, docs[i].cls,
		    docs[i].csch, docs[i].typ, docs[i].fmt, docs[i].n,
		    docs[i].n, strcmp(docs[i].n, "12") == 0 ? "" :
		    " xmlns:rim=\"" RIM "\"", docs[i].n, docs[i].ot,
		    docs[i].n, docs[i].n, docs[i].pat);
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
	for (i = 0; i < sizeof(folders) / sizeof(folders[0]); i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO folders (entry_uuid, "
		    "unique_id, submission_set_id, patient_id, status, "
		    "last_update_time, ebrim) SELECT '" UUID("%s") "', "
		    "'1.6.%s', s.id, s.patient_id, '%s', '%s', "
		    "'<rim:RegistryPackage xmlns:rim=\"" RIM "\" id=\""
		    UUID("%s") "\"><rim:Classification classifiedObject=\""
		    UUID("%s") "\" classificationNode=\"" FOLNODE "\" "
		    "id=\"urn:uuid:00000000-0000-4000-8000-0000000009%s\"/>"
		    "<rim:ExternalIdentifier id=\"urn:uuid:00000000-0000-"
		    "4000-8000-0000000006%s\" registryObject=\"" UUID("%s")
		    "\" identificationScheme=\"" XDS_FD_PATIENTID "\" "
		    "value=\"%s^^^&amp;1.2.3&amp;ISO\"/>"
		    "</rim:RegistryPackage>' FROM submission_sets s WHERE "
		    "s.unique_id = '1.9.%s'", folders[i].n, folders[i].n,
		    folders[i].st, folders[i].lut, folders[i].n, folders[i].n,
		    folders[i].n, folders[i].n, folders[i].n, folders[i].pat,
		    folders[i].ss);
		pq(c, sql);
	}
	for (i = 0; i < sizeof(fcodes) / sizeof(fcodes[0]); i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO folder_codes "
		    "(folder_id, code, scheme) SELECT id, '%s', 's' FROM "
		    "folders WHERE unique_id = '1.6.%s'", fcodes[i].code,
		    fcodes[i].folder);
		pq(c, sql);
	}
	for (i = 0; i < sizeof(assocs) / sizeof(assocs[0]); i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO associations "
		    "(entry_uuid, assoc_type, source_uuid, target_uuid, status, "
		    "submission_set_id, ebrim) SELECT '" UUID("%s") "', '%s', '"
		    UUID("%s") "', '" UUID("%s") "', '" APP "', "
		    "id, '<rim:Association xmlns:rim=\"" RIM "\" id=\""
		    UUID("%s") "\" associationType=\"%s\" "
		    "sourceObject=\"" UUID("%s") "\" targetObject=\""
		    UUID("%s") "\"/>' FROM submission_sets WHERE unique_id = "
		    "'1.9.%s'", assocs[i].n, assocs[i].type, assocs[i].src,
		    assocs[i].dst, assocs[i].n, assocs[i].type, assocs[i].src,
		    assocs[i].dst, assocs[i].ss);
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

static long	nfound;

static void
answer(const char *b, size_t len, long n, const char *c, void *arg)
{
	(void)arg;
	done++;
	nfound = n;
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
	is_int(nfound, 2, "the callback says two objects matched");
	EXPECT("03", "FindSubmissionSets p2", LEAF, now, 0, Q_FIND_SS,
	    SS("PatientId"), P2, SS("Status"), S_APP);
	EXPECT("", "FindSubmissionSets deprecated", LEAF, now, 0, Q_FIND_SS,
	    SS("PatientId"), P1, SS("Status"), "('" DEP "')");
	is_int(nfound, 0, "nothing matched: the callback says 0");
	EXPECT_ERR(SQ_ERR_MISSING_PARAM, "FindSubmissionSets without status", LEAF,
	    now, 0, Q_FIND_SS, SS("PatientId"), P1);
	is_int(nfound, -1, "a parameter error: the callback says -1");
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

	EXPECT("01,11,21,31,33,34,52", "GetSubmissionSetAndContents (stable)",
	    LEAF, now, 0, Q_GET_SSC, SS("EntryUUID"), "'" UUID("01") "'");
	EXPECT("01,11,12,21,31,32,33,34,52", "GetSubmissionSetAndContents",
	    LEAF, now, 0, Q_GET_SSC, SS("EntryUUID"), "'" UUID("01") "'",
	    DE("Type"), T_BOTH);
	m = xdsmeta_parse_buf(body, strlen(body), &why);
	ok(m != NULL && m->nsubsets == 1 && m->ndocs == 2 &&
	    m->nfolders == 1 && m->nassocs == 5, "contents parse as ebRIM");
	if (m == NULL)
		printf("#   %s\n", why);
	xdsmeta_free(m);
	free(why);
	why = NULL;
	EXPECT("01,12,21,32,33", "contents filtered by formatCode", LEAF,
	    now, 0, Q_GET_SSC, SS("EntryUUID"), "'" UUID("01") "'",
	    DE("FormatCode"), "('f2^^s1')", DE("Type"), T_BOTH);
	EXPECT("02,13,14,23,35,36,42,44", "contents by uniqueId, ObjectRef", REFS,
	    now, 0, Q_GET_SSC, SS("UniqueId"), "'1.9.02'");
	EXPECT("02,14,23,36,42", "contents, confidentiality AND", LEAF, now, 0,
	    Q_GET_SSC, SS("UniqueId"), "'1.9.02'",
	    DE("ConfidentialityCode"), "('N^^s')",
	    DE("ConfidentialityCode"), "('R^^s')");
	/* 52, 53: a set's HasMember to a returned folder membership. */
	EXPECT("01,02,11,12,13,14,21,31,32,33,34,35,36,43,45,46,52,53",
	    "GetAll", LEAF, now, 0, sq_query_uuid(SQ_GET_ALL), "$patientId",
	    P1, DE("Status"),
	    S_ALL, SS("Status"), S_APP, "$XDSFolderStatus", S_APP,
	    DE("Type"), T_BOTH);
	m = xdsmeta_parse_buf(body, strlen(body), &why);
	ok(m != NULL && m->nsubsets == 2 && m->ndocs == 4 &&
	    m->nfolders == 1 && m->nassocs == 11, "GetAll parses as ebRIM");
	xdsmeta_free(m);
	free(why);
	why = NULL;
	EXPECT("01,02,11,14,21,31,33,34,36,43,52,53",
	    "GetAll approved, stable", REFS, now, 0, sq_query_uuid(SQ_GET_ALL),
	    "$patientId", P1,
	    DE("Status"), S_APP, SS("Status"), S_APP, "$XDSFolderStatus",
	    S_APP);
	EXPECT("01,02,14,23,36,42", "GetAll confidentiality AND, "
	    "deprecated folders", REFS, now, 0, Q_GET_ALL, "$patientId", P1,
	    DE("Status"), S_APP, SS("Status"), S_APP, "$XDSFolderStatus",
	    "('" DEP "')", DE("ConfidentialityCode"), "('N^^s')",
	    DE("ConfidentialityCode"), "('R^^s')");
	EXPECT("03,15,51", "GetAll other patient", LEAF, now, 0,
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

/* query_leaf_add of one text, or NULL (the cause printed). */
static char *
leaf_one(const char *ebrim, const char *lid, const char *home,
    const char *survivor, size_t max)
{
	struct dbuf	 b;
	char		*why = NULL;

	dbuf_init(&b, max);
	if (query_leaf_add(&b, ebrim, strlen(ebrim), APP, lid, home, survivor,
	    &why) == -1) {
		printf("# query_leaf_add: %s\n", why);
		free(why);
		dbuf_free(&b);
		return (NULL);
	}
	return (dbuf_take(&b, NULL));
}

/* A LeafClass answer around leaf, read back as ebRIM (NULL: unreadable). */
static struct xds_submission *
leaf_parse(const char *leaf)
{
	struct xdsmsg_query_resp	 resp;
	struct xds_submission		*m;
	struct dbuf			 b;
	char				*why = NULL;

	if (leaf == NULL)
		return (NULL);
	memset(&resp, 0, sizeof(resp));
	resp.status = XDSMSG_SUCCESS;
	dbuf_init(&b, SIZE_MAX);
	xdsmsg_query_resp_build(&b, &resp, leaf, strlen(leaf));
	if ((m = xdsmeta_parse_buf(b.data, b.len, &why)) == NULL)
		printf("# %s\n", why);
	free(why);
	dbuf_free(&b);
	return (m);
}

/*
 * Stored text as iti41 writes it is copied with status, lid and home set
 * in its start tag (exact bytes); any other text goes through a tree, and
 * both read back the same.
 */
#define LEAF_DOC(decl, st)						\
	"<rim:ExtrinsicObject" decl " id=\"urn:uuid:a\" objectType=\""	\
	STABLE "\"" st " mimeType=\"text/plain\"><rim:Name>"		\
	"<rim:LocalizedString value=\"a &amp; &quot;b&quot; &lt;c&gt;\"/>"	\
	"</rim:Name><rim:ExternalIdentifier id=\"urn:uuid:x\" "		\
	"registryObject=\"urn:uuid:a\" identificationScheme=\""		\
	XDS_DE_PATIENTID "\" value=\"p1^^^&amp;1.2.3&amp;ISO\"/>"		\
	"</rim:ExtrinsicObject>"
static void
test_leaf(void)
{
	struct xds_submission	*fast, *slow;
	char			*a, *b;

	a = leaf_one(LEAF_DOC("", " status=\"old\""), "urn:uuid:a",
	    "urn:oid:1&2", NULL, SIZE_MAX);
	is_str(a, "<rim:ExtrinsicObject id=\"urn:uuid:a\" objectType=\""
	    STABLE "\" status=\"" APP "\" mimeType=\"text/plain\" "
	    "lid=\"urn:uuid:a\" home=\"urn:oid:1&amp;2\"><rim:Name>"
	    "<rim:LocalizedString value=\"a &amp; &quot;b&quot; &lt;c&gt;\"/>"
	    "</rim:Name><rim:ExternalIdentifier id=\"urn:uuid:x\" "
	    "registryObject=\"urn:uuid:a\" identificationScheme=\""
	    XDS_DE_PATIENTID "\" value=\"p1^^^&amp;1.2.3&amp;ISO\"/>"
	    "</rim:ExtrinsicObject>", "stored text: status in place, lid and "
	    "home appended, escaped");
	b = leaf_one(LEAF_DOC(" xmlns:rim=\"" RIM "\"", " status=\"old\""),
	    "urn:uuid:a", "urn:oid:1&2", NULL, SIZE_MAX);
	ok(b != NULL && strstr(b, "xmlns") != NULL,
	    "a namespace declaration takes the tree path");
	fast = leaf_parse(a);
	slow = leaf_parse(b);
	ok(fast != NULL && slow != NULL && xdsmeta_equal(fast, slow),
	    "both paths read back the same");
	ok(fast != NULL && fast->ndocs == 1 &&
	    strcmp(fast->docs[0].o.status, APP) == 0 &&
	    strcmp(fast->docs[0].o.home, "urn:oid:1&2") == 0 &&
	    strcmp(fast->docs[0].o.title, "a & \"b\" <c>") == 0,
	    "status, home and the name read back");
	xdsmeta_free(fast);
	xdsmeta_free(slow);
	free(a);
	free(b);

	a = leaf_one("<rim:RegistryPackage id=\"urn:uuid:s\" "
	    "lid=\"urn:uuid:old\" home=\"urn:oid:9\"></rim:RegistryPackage>"
	    "<rim:Classification classifiedObject=\"urn:uuid:s\" "
	    "classificationNode=\"" SSNODE "\" id=\"urn:uuid:c\"/>",
	    "urn:uuid:s", NULL, NULL, SIZE_MAX);
	is_str(a, "<rim:RegistryPackage id=\"urn:uuid:s\" "
	    "lid=\"urn:uuid:s\" home=\"urn:oid:9\" status=\"" APP "\">"
	    "</rim:RegistryPackage><rim:Classification classifiedObject=\""
	    "urn:uuid:s\" classificationNode=\"" SSNODE "\" "
	    "id=\"urn:uuid:c\"/>", "lid in place, no home given: the "
	    "stored one stays; the marker untouched");
	free(a);
	a = leaf_one("<rim:Association id=\"urn:uuid:as\" associationType=\""
	    HASMEM "\" sourceObject=\"urn:uuid:s\" targetObject=\"urn:uuid:a\"/>",
	    "urn:uuid:as", NULL, NULL, SIZE_MAX);
	is_str(a, "<rim:Association id=\"urn:uuid:as\" associationType=\""
	    HASMEM "\" sourceObject=\"urn:uuid:s\" targetObject=\"urn:uuid:a\" "
	    "status=\"" APP "\" lid=\"urn:uuid:as\"/>", "empty element");
	free(a);

	/* Other forms: the tree path, read back right. */
	a = leaf_one("<ExtrinsicObject id=\"urn:uuid:a\" objectType=\""
	    STABLE "\"/>", "urn:uuid:a", NULL, NULL, SIZE_MAX);
	fast = leaf_parse(a);
	ok(fast != NULL && fast->ndocs == 1 &&
	    strcmp(fast->docs[0].o.status, APP) == 0,
	    "unprefixed elements");
	xdsmeta_free(fast);
	free(a);
	a = leaf_one("<rim:ExtrinsicObject id='urn:uuid:a' objectType='"
	    STABLE "' status='old'/>", "urn:uuid:a", NULL, NULL, SIZE_MAX);
	fast = leaf_parse(a);
	ok(fast != NULL && fast->ndocs == 1 &&
	    strcmp(fast->docs[0].o.status, APP) == 0 &&
	    strcmp(fast->docs[0].o.lid, "urn:uuid:a") == 0,
	    "single-quoted attributes");
	xdsmeta_free(fast);
	free(a);
	a = leaf_one(LEAF_DOC("", ""), "urn:uuid:a", NULL,
	    "p9^^^&1.2.3&ISO", SIZE_MAX);
	fast = leaf_parse(a);
	ok(fast != NULL && fast->ndocs == 1 &&
	    strcmp(fast->docs[0].patient_id.value, "p9^^^&1.2.3&ISO") == 0 &&
	    strcmp(fast->docs[0].o.status, APP) == 0,
	    "a merged patient's survivor as patientId");
	xdsmeta_free(fast);
	free(a);
	ok(leaf_one(LEAF_DOC("", ""), "urn:uuid:a", NULL, NULL, 64) == NULL,
	    "over the answer's limit: an error");
}

static void
test_errors(void)
{
	EXPECT_ERR(SQ_ERR_MISSING_PARAM, "missing status", LEAF, now, 0,
	    Q_FIND_DOCS, DE("PatientId"), P1);
	EXPECT_ERR(SQ_ERR_UNKNOWN_QUERY, "unknown query", LEAF, now, 0,
	    "urn:uuid:00000000-0000-0000-0000-000000000000");
	EXPECT_ERR(SQ_ERR_MISSING_PARAM, "FindFolders without status", LEAF,
	    now, 0, Q_FIND_FOL, FOL("PatientId"), P1);
	EXPECT_ERR(SQ_ERR_MISSING_PARAM, "GetRelatedDocuments without types",
	    LEAF, now, 0, Q_GET_REL, DE("EntryUUID"), "'" UUID("14") "'");
	EXPECT_ERR(SQ_ERR_PARAM_NUMBER, "GetFolders with two selectors", LEAF,
	    now, 0, Q_GET_FOL, FOL("EntryUUID"), U1("21"), FOL("UniqueId"),
	    "('1.6.21')");
	EXPECT_ERR(SQ_ERR_UNKNOWN_QUERY, "ITI-51 refused", LEAF, now, 0,
	    sq_query_uuid(SQ_FIND_FOLDERS_MPQ), FOL("PatientId"), P1,
	    FOL("Status"), S_APP);
}

static void
test_find_folders(void)
{
	EXPECT("21", "FindFolders approved", LEAF, now, 0, Q_FIND_FOL,
	    FOL("PatientId"), P1, FOL("Status"), S_APP);
	EXPECT("23", "FindFolders deprecated", LEAF, now, 0, Q_FIND_FOL,
	    FOL("PatientId"), P1, FOL("Status"), S_DEP);
	EXPECT("21,23", "FindFolders both statuses, ObjectRef", REFS, now, 0,
	    Q_FIND_FOL, FOL("PatientId"), P1, FOL("Status"), S_ALL);
	EXPECT("21,23,24", "FindFolders before 04 expires", LEAF,
	    (time_t)1734220800 /* 2024-12-15 */, 0, Q_FIND_FOL,
	    FOL("PatientId"), P1, FOL("Status"), S_ALL);
	EXPECT("", "FindFolders other patient", LEAF, now, 0, Q_FIND_FOL,
	    FOL("PatientId"), P2, FOL("Status"), S_ALL);
	EXPECT("23", "lastUpdateTime From inclusive", LEAF, now, 0,
	    Q_FIND_FOL, FOL("PatientId"), P1, FOL("Status"), S_ALL,
	    FOL("LastUpdateTimeFrom"), "20240201120000");
	EXPECT("21", "lastUpdateTime To exclusive", LEAF, now, 0, Q_FIND_FOL,
	    FOL("PatientId"), P1, FOL("Status"), S_ALL,
	    FOL("LastUpdateTimeTo"), "20240201120000");
	EXPECT("21,23", "lastUpdateTime range", LEAF, now, 0, Q_FIND_FOL,
	    FOL("PatientId"), P1, FOL("Status"), S_ALL,
	    FOL("LastUpdateTimeFrom"), "2024", FOL("LastUpdateTimeTo"),
	    "202403");
	EXPECT("21,23", "codeList", LEAF, now, 0, Q_FIND_FOL,
	    FOL("PatientId"), P1, FOL("Status"), S_ALL, FOL("CodeList"),
	    "('fc2^^s')");
	EXPECT("21", "codeList OR in a slot", LEAF, now, 0, Q_FIND_FOL,
	    FOL("PatientId"), P1, FOL("Status"), S_ALL, FOL("CodeList"),
	    "('fc1^^s','fc9^^s')");
	EXPECT("21", "codeList AND across slots", LEAF, now, 0, Q_FIND_FOL,
	    FOL("PatientId"), P1, FOL("Status"), S_ALL, FOL("CodeList"),
	    "('fc1^^s')", FOL("CodeList"), "('fc2^^s')");
	EXPECT("21,23", "codeList AND of ORs", LEAF, now, 0, Q_FIND_FOL,
	    FOL("PatientId"), P1, FOL("Status"), S_ALL, FOL("CodeList"),
	    "('fc1^^s','fc2^^s')", FOL("CodeList"), "('fc2^^s','fc9^^s')");
	EXPECT("", "codeList wrong scheme", LEAF, now, 0, Q_FIND_FOL,
	    FOL("PatientId"), P1, FOL("Status"), S_ALL, FOL("CodeList"),
	    "('fc1^^s1')");
	EXPECT_ERR(QUERY_ERR_TOO_MANY, "FindFolders over the limit", LEAF, now,
	    1, Q_FIND_FOL, FOL("PatientId"), P1, FOL("Status"), S_ALL);
}

static void
test_get_folders(void)
{
	struct xds_submission	*m;
	char			*why = NULL;

	EXPECT("21,23", "GetFolders by entryUUID", LEAF, now, 0, Q_GET_FOL,
	    FOL("EntryUUID"), U3("21", "23", "99"));
	m = xdsmeta_parse_buf(body, strlen(body), &why);
	ok(m != NULL && m->nfolders == 2 && m->ndocs == 0,
	    "folders parse as ebRIM");
	if (m != NULL && m->nfolders == 2) {
		is_str(m->folders[1].o.status, DEP, "folder status from row");
		is_str(m->folders[0].o.lid, UUID("21"), "folder lid");
	} else
		printf("#   %s\n", why ? why : "");
	xdsmeta_free(m);
	free(why);
	EXPECT("21", "GetFolders by uniqueId", LEAF, now, 0, Q_GET_FOL,
	    FOL("UniqueId"), "('1.6.21','1.6.99')");
	EXPECT("23", "GetFolders by logicalID", REFS, now, 0, Q_GET_FOL,
	    FOL("LogicalID"), U1("23"));
	EXPECT("", "GetFolders expired", LEAF, now, 0, Q_GET_FOL,
	    FOL("EntryUUID"), U1("24"));
	EXPECT("24", "GetFolders before expiry", LEAF,
	    (time_t)1734220800, 0, Q_GET_FOL, FOL("EntryUUID"), U1("24"));
	EXPECT_ERR(QUERY_ERR_NOT_SINGLE, "GetFolders two patients", LEAF,
	    now, 0, Q_GET_FOL, FOL("EntryUUID"), U2("21", "22"));
	EXPECT("21,22", "GetFolders two patients, ObjectRef", REFS, now, 0,
	    Q_GET_FOL, FOL("EntryUUID"), U2("21", "22"));
	EXPECT_ERR(QUERY_ERR_TOO_MANY, "GetFolders over the limit", LEAF, now,
	    1, Q_GET_FOL, FOL("EntryUUID"), U2("21", "23"));
}

static void
test_associations(void)
{
	EXPECT("31,34,46", "GetAssociations of a document", LEAF, now, 0,
	    Q_GET_ASSOC, "$uuid", U1("11"));
	EXPECT("36,43,45,50", "GetAssociations both directions", LEAF, now,
	    0, Q_GET_ASSOC, "$uuid", U1("14"));
	EXPECT("33,34,42,43,44", "GetAssociations of folders", REFS, now, 0,
	    Q_GET_ASSOC, "$uuid", U2("21", "23"));
	EXPECT("50", "GetAssociations: expired ones invisible", LEAF, now, 0,
	    Q_GET_ASSOC, "$uuid", U1("16"));
	EXPECT("47,48,50", "GetAssociations before 04 expires", LEAF,
	    (time_t)1734220800, 0, Q_GET_ASSOC, "$uuid", U1("16"));
	EXPECT("", "GetAssociations unknown", LEAF, now, 0, Q_GET_ASSOC,
	    "$uuid", U1("99"));
	EXPECT_ERR(QUERY_ERR_TOO_MANY, "GetAssociations over the limit", LEAF,
	    now, 3, Q_GET_ASSOC, "$uuid", U1("14"));

	EXPECT("13,35,44,45", "GetDocumentsAndAssociations", LEAF, now, 0,
	    Q_GET_DA, DE("EntryUUID"), U1("13"));
	EXPECT("11,31,34,46", "GetDocumentsAndAssociations by uniqueId",
	    LEAF, now, 0, Q_GET_DA, DE("UniqueId"), "('1.8.11')");
	EXPECT("", "GetDocumentsAndAssociations expired", LEAF, now, 0,
	    Q_GET_DA, DE("EntryUUID"), U1("16"));
	EXPECT_ERR(QUERY_ERR_NOT_SINGLE, "GetDocumentsAndAssociations two "
	    "patients", LEAF, now, 0, Q_GET_DA, DE("EntryUUID"),
	    U2("11", "15"));
	EXPECT("11,15,31,34,46,51", "GetDocumentsAndAssociations ObjectRef",
	    REFS, now, 0, Q_GET_DA, DE("EntryUUID"), U2("11", "15"));
	EXPECT_ERR(QUERY_ERR_TOO_MANY, "GetDocumentsAndAssociations over "
	    "the limit", LEAF, now, 3, Q_GET_DA, DE("EntryUUID"), U1("13"));

	EXPECT("01,31,32", "GetSubmissionSets of documents", LEAF, now, 0,
	    Q_GET_SETS, "$uuid", U2("11", "12"));
	EXPECT("01,02,33,36", "GetSubmissionSets of a folder and a document",
	    LEAF, now, 0, Q_GET_SETS, "$uuid", U2("14", "21"));
	EXPECT("02,35", "GetSubmissionSets ObjectRef", REFS, now, 0,
	    Q_GET_SETS, "$uuid", U1("13"));
	EXPECT("", "GetSubmissionSets expired", LEAF, now, 0, Q_GET_SETS,
	    "$uuid", U2("16", "24"));
	EXPECT("04,49", "GetSubmissionSets before expiry", LEAF,
	    (time_t)1734220800, 0, Q_GET_SETS, "$uuid", U2("16", "24"));
	EXPECT_ERR(QUERY_ERR_NOT_SINGLE, "GetSubmissionSets two patients",
	    LEAF, now, 0, Q_GET_SETS, "$uuid", U2("11", "15"));
	EXPECT("01,03,31,51", "GetSubmissionSets two patients, ObjectRef",
	    REFS, now, 0, Q_GET_SETS, "$uuid", U2("11", "15"));
	EXPECT_ERR(QUERY_ERR_TOO_MANY, "GetSubmissionSets over the limit",
	    LEAF, now, 2, Q_GET_SETS, "$uuid", U2("11", "12"));
}

static void
test_folder_contents(void)
{
	struct xds_submission	*m;
	char			*why = NULL;

	EXPECT("11,14,21,34,43", "GetFolderAndContents", LEAF, now, 0,
	    Q_GET_FC, FOL("EntryUUID"), "'" UUID("21") "'");
	m = xdsmeta_parse_buf(body, strlen(body), &why);
	ok(m != NULL && m->nfolders == 1 && m->ndocs == 2 &&
	    m->nassocs == 2, "folder contents parse as ebRIM");
	if (m == NULL)
		printf("#   %s\n", why);
	xdsmeta_free(m);
	free(why);
	EXPECT("14,21,43", "folder contents, confidentiality", LEAF, now, 0,
	    Q_GET_FC, FOL("UniqueId"), "'1.6.21'", DE("ConfidentialityCode"),
	    "('R^^s')");
	EXPECT("14,21,43", "folder contents, confidentiality AND", LEAF, now,
	    0, Q_GET_FC, FOL("UniqueId"), "'1.6.21'",
	    DE("ConfidentialityCode"), "('N^^s')",
	    DE("ConfidentialityCode"), "('R^^s')");
	EXPECT("21", "folder contents, formatCode", LEAF, now, 0, Q_GET_FC,
	    FOL("EntryUUID"), "'" UUID("21") "'", DE("FormatCode"),
	    "('f2^^s1')", DE("Type"), T_BOTH);
	EXPECT("11,14,21,34,43", "folder contents, formatCode matches", REFS,
	    now, 0, Q_GET_FC, FOL("EntryUUID"), "'" UUID("21") "'",
	    DE("FormatCode"), "('f1^^s1')");
	EXPECT("21", "folder contents, association status", LEAF, now, 0,
	    Q_GET_FC, FOL("EntryUUID"), "'" UUID("21") "'",
	    "$XDSAssociationStatus", S_DEP);
	EXPECT("13,23,44", "deprecated folder, deprecated member", LEAF, now,
	    0, Q_GET_FC, FOL("EntryUUID"), "'" UUID("23") "'");
	EXPECT("", "expired folder", LEAF, now, 0, Q_GET_FC,
	    FOL("EntryUUID"), "'" UUID("24") "'");
	EXPECT("16,24,48", "folder before expiry", LEAF, (time_t)1734220800,
	    0, Q_GET_FC, FOL("EntryUUID"), "'" UUID("24") "'");
	EXPECT_ERR(QUERY_ERR_TOO_MANY, "folder contents over the limit", LEAF,
	    now, 4, Q_GET_FC, FOL("EntryUUID"), "'" UUID("21") "'");

	EXPECT("21", "GetFoldersForDocument", LEAF, now, 0, Q_GET_FFD,
	    DE("EntryUUID"), "'" UUID("11") "'");
	EXPECT("21", "GetFoldersForDocument, added later", REFS, now, 0,
	    Q_GET_FFD, DE("EntryUUID"), "'" UUID("14") "'");
	EXPECT("23", "GetFoldersForDocument by uniqueId", LEAF, now, 0,
	    Q_GET_FFD, DE("UniqueId"), "'1.8.13'");
	EXPECT("", "GetFoldersForDocument, in no folder", LEAF, now, 0,
	    Q_GET_FFD, DE("EntryUUID"), "'" UUID("12") "'");
	EXPECT("", "GetFoldersForDocument expired", LEAF, now, 0, Q_GET_FFD,
	    DE("EntryUUID"), "'" UUID("16") "'");
	EXPECT("24", "GetFoldersForDocument before expiry", LEAF,
	    (time_t)1734220800, 0, Q_GET_FFD, DE("EntryUUID"),
	    "'" UUID("16") "'");
}

static void
test_related(void)
{
	EXPECT("13,14,45", "GetRelatedDocuments RPLC (source)", LEAF, now, 0,
	    Q_GET_REL, DE("EntryUUID"), "'" UUID("14") "'",
	    "$AssociationTypes", "('" AT("RPLC") "')");
	EXPECT("13,14,45", "GetRelatedDocuments RPLC (target)", LEAF, now, 0,
	    Q_GET_REL, DE("EntryUUID"), "'" UUID("13") "'",
	    "$AssociationTypes", "('" AT("RPLC") "')");
	EXPECT("13,14,45", "GetRelatedDocuments short type name", REFS, now,
	    0, Q_GET_REL, DE("UniqueId"), "'1.8.13'", "$AssociationTypes",
	    "('RPLC')");
	EXPECT("", "GetRelatedDocuments other type", LEAF, now, 0, Q_GET_REL,
	    DE("EntryUUID"), "'" UUID("14") "'", "$AssociationTypes",
	    "('" AT("XFRM") "','" AT("signs") "')");
	EXPECT("", "related on-demand filtered by default", LEAF, now, 0,
	    Q_GET_REL, DE("EntryUUID"), "'" UUID("11") "'",
	    "$AssociationTypes", "('" AT("XFRM") "')");
	EXPECT("11,12,46", "related with both objectTypes", LEAF, now, 0,
	    Q_GET_REL, DE("EntryUUID"), "'" UUID("11") "'",
	    "$AssociationTypes", "('" AT("RPLC") "','" AT("XFRM") "','"
	    AT("APND") "','" AT("XFRM_RPLC") "','" AT("signs") "')",
	    DE("Type"), T_BOTH);
	EXPECT("", "related through an expired association", LEAF, now, 0,
	    Q_GET_REL, DE("EntryUUID"), "'" UUID("11") "'",
	    "$AssociationTypes", "('" AT("APND") "')", DE("Type"), T_BOTH);
	EXPECT("11,16,47", "related before it expires", LEAF,
	    (time_t)1734220800, 0, Q_GET_REL, DE("EntryUUID"),
	    "'" UUID("11") "'", "$AssociationTypes", "('" AT("APND") "')");
	EXPECT("", "related document expired", LEAF, now, 0, Q_GET_REL,
	    DE("EntryUUID"), "'" UUID("14") "'", "$AssociationTypes",
	    "('" AT("APND") "')");
	EXPECT("13,14,45", "RPLC and APND, APND target expired", LEAF, now,
	    0, Q_GET_REL, DE("EntryUUID"), "'" UUID("14") "'",
	    "$AssociationTypes", "('" AT("RPLC") "','" AT("APND") "')");
	EXPECT("", "expired origin", LEAF, now, 0, Q_GET_REL,
	    DE("EntryUUID"), "'" UUID("16") "'", "$AssociationTypes",
	    "('" AT("APND") "')");
	EXPECT_ERR(QUERY_ERR_TOO_MANY, "related over the limit", LEAF, now, 2,
	    Q_GET_REL, DE("EntryUUID"), "'" UUID("14") "'",
	    "$AssociationTypes", "('" AT("RPLC") "')");
}

/*
 * The patientIds of the last LeafClass answer's documents, sets and
 * folders: n objects, all of them want.
 */
static void
patients_are(size_t n, const char *want, const char *what)
{
	struct xds_submission	*m;
	char			*why = NULL;
	size_t			 i, seen = 0, bad = 0;

	if ((m = xdsmeta_parse_buf(body, strlen(body), &why)) != NULL) {
		for (i = 0; i < m->ndocs; i++, seen++)
			bad += strcmp(m->docs[i].patient_id.value ?
			    m->docs[i].patient_id.value : "", want) != 0;
		for (i = 0; i < m->nsubsets; i++, seen++)
			bad += strcmp(m->subsets[i].patient_id.value ?
			    m->subsets[i].patient_id.value : "", want) != 0;
		for (i = 0; i < m->nfolders; i++, seen++)
			bad += strcmp(m->folders[i].patient_id.value ?
			    m->folders[i].patient_id.value : "", want) != 0;
	}
	ok(m != NULL && seen == n && bad == 0, "%s: patientId %s", what,
	    want);
	if (m == NULL || seen != n || bad != 0)
		printf("#   %s seen %zu bad %zu\n", why ? why : "", seen, bad);
	xdsmeta_free(m);
	free(why);
}

/* p3 -> p4 -> p5: the survivor sees all three, the merged ones nothing. */
static void
test_merged(void)
{
	EXPECT("17,18,19", "FindDocuments survivor of two merges", LEAF, now,
	    0, Q_FIND_DOCS, DE("PatientId"), P5, DE("Status"), S_APP);
	patients_are(3, "p5^^^&1.2.3&ISO", "FindDocuments survivor");
	EXPECT("", "FindDocuments merged patient", LEAF, now, 0, Q_FIND_DOCS,
	    DE("PatientId"), P4, DE("Status"), S_APP);
	EXPECT("", "FindDocuments first merged patient", REFS, now, 0,
	    Q_FIND_DOCS, DE("PatientId"), P3, DE("Status"), S_APP);
	EXPECT("05,06,07", "FindSubmissionSets survivor", LEAF, now, 0,
	    Q_FIND_SS, SS("PatientId"), P5, SS("Status"), S_APP);
	patients_are(3, "p5^^^&1.2.3&ISO", "FindSubmissionSets survivor");
	EXPECT("", "FindSubmissionSets merged", LEAF, now, 0, Q_FIND_SS,
	    SS("PatientId"), P3, SS("Status"), S_APP);
	EXPECT("22", "FindFolders survivor", LEAF, now, 0, Q_FIND_FOL,
	    FOL("PatientId"), P5, FOL("Status"), S_APP);
	EXPECT("", "FindFolders merged", LEAF, now, 0, Q_FIND_FOL,
	    FOL("PatientId"), P3, FOL("Status"), S_APP);
	EXPECT("05,06,07,17,18,19,22,37,38,39,40,41", "GetAll survivor", LEAF,
	    now, 0, Q_GET_ALL, "$patientId", P5, DE("Status"), S_APP,
	    SS("Status"), S_APP, FOL("Status"), S_APP);
	patients_are(7, "p5^^^&1.2.3&ISO", "GetAll survivor");
	EXPECT("", "GetAll merged", LEAF, now, 0, Q_GET_ALL, "$patientId",
	    P4, DE("Status"), S_APP, SS("Status"), S_APP, FOL("Status"),
	    S_APP);
	EXPECT_ERR(QUERY_ERR_TOO_MANY, "survivor over the limit", LEAF, now,
	    2, Q_FIND_DOCS, DE("PatientId"), P5, DE("Status"), S_APP);
	/* By id: one patient after the merges, not three. */
	EXPECT("17,18,19", "GetDocuments across a merge chain", LEAF, now, 0,
	    Q_GET_DOCS, DE("EntryUUID"), U3("17", "18", "19"));
	patients_are(3, "p5^^^&1.2.3&ISO", "GetDocuments across merges");
	EXPECT("22", "GetFolders of a merged patient", LEAF, now, 0,
	    Q_GET_FOL, FOL("EntryUUID"), U1("22"));
	patients_are(1, "p5^^^&1.2.3&ISO", "GetFolders merged");
	EXPECT("11,13", "GetDocuments unmerged", LEAF, now, 0, Q_GET_DOCS,
	    DE("EntryUUID"), U2("11", "13"));
	patients_are(2, "p1^^^&1.2.3&ISO", "unmerged patient unchanged");
	EXPECT("05,07,37,41", "GetSubmissionSets across a merge", LEAF, now,
	    0, Q_GET_SETS, "$uuid", U2("17", "19"));
	EXPECT("17,22,39", "GetFolderAndContents of a merged patient", LEAF,
	    now, 0, Q_GET_FC, FOL("EntryUUID"), "'" UUID("22") "'");
	patients_are(2, "p5^^^&1.2.3&ISO", "folder contents merged");
	EXPECT_ERR(QUERY_ERR_NOT_SINGLE, "merged and unrelated patients",
	    LEAF, now, 0, Q_GET_DOCS, DE("EntryUUID"), U2("11", "17"));
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
	EXPECT("", "injection in associationTypes", LEAF, now, 0, Q_GET_REL,
	    DE("EntryUUID"), "'" UUID("14") "'", "$AssociationTypes",
	    "('x'') OR true --','\"},{\\')");
	EXPECT("", "injection in folder codeList", LEAF, now, 0, Q_FIND_FOL,
	    FOL("PatientId"), P1, FOL("Status"), S_ALL, FOL("CodeList"),
	    "('fc1''); DELETE FROM folders; --^^s')");
	EXPECT("", "injection in folder uniqueId", LEAF, now, 0, Q_GET_FOL,
	    FOL("UniqueId"), "('1.6.21'' OR ''1''=''1')");
	EXPECT("11,14", "tables intact afterwards", LEAF, now, 0,
	    Q_FIND_DOCS, DE("PatientId"), P1, DE("Status"), S_APP);
	EXPECT("21,23", "folders intact afterwards", REFS, now, 0, Q_FIND_FOL,
	    FOL("PatientId"), P1, FOL("Status"), S_ALL);
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
	test_find_folders();
	test_get_folders();
	test_associations();
	test_folder_contents();
	test_related();
	test_merged();
	test_errors();
	test_hostile();
	test_leaf();

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
