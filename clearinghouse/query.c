/*
 * query.c: ITI-18 stored queries on the PostgreSQL registry (query.h,
 * docs/design/query.md).
 *
 * The SQL text is made only of the fixed fragments below (table and column
 * names come from static tables, never from the request) and "$N"
 * placeholders; every request value travels as a bound text parameter.
 * OR-ed lists are bound as one PostgreSQL array literal per list (the
 * array syntax is data, parsed by the server's array input function).
 */
#include "config.h"

#include <sys/time.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <libpq-fe.h>
#include <libxml/tree.h>

#include "db.h"
#include "dbuf.h"
#include "query.h"
#include "sq.h"
#include "xdsmeta.h"
#include "xdsmsg.h"
#include "xmalloc.h"
#include "xml.h"

/* Kinds of object in a result row (column 0). */
#define K_SUBSET	1
#define K_DOC		2
#define K_FOLDER	3
#define K_ASSOC		4

struct qreq {
	struct event_base	*base;
	enum xdsmsg_return	 rtype;
	int			 cap;		/* objects allowed */
	size_t			 max_body;
	char			*home;
	query_cb		 cb;
	long			 nfound;	/* -1 until matched */
	void			*arg;
	struct dbuf		 out;
	char			*cause;
	struct xdsmsg_errors	 errs;
};

/* An SQL statement being assembled and its bound values. */
struct qb {
	struct dbuf	 sql;
	char		**v;
	int		 n;
};

static void
qb_init(struct qb *b)
{
	memset(b, 0, sizeof(*b));
	dbuf_init(&b->sql, SIZE_MAX);
}

static void
qb_free(struct qb *b)
{
	int	i;

	for (i = 0; i < b->n; i++)
		free(b->v[i]);
	free(b->v);
	dbuf_free(&b->sql);
}

/* Binds a value (taken over); returns its placeholder number. */
static int
qb_bind(struct qb *b, char *value)
{
	b->v = xreallocarray(b->v, b->n + 1, sizeof(*b->v));
	b->v[b->n++] = value;
	return (b->n);
}

static void printflike(2, 3)
qb_sql(struct qb *b, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	(void)dbuf_vprintf(&b->sql, fmt, ap);
	va_end(ap);
}

/* One element of a text[] literal: always quoted, \ and " escaped. */
static void
array_elem(struct dbuf *a, const char *s)
{
	if (a->len > 1)
		dbuf_addc(a, ',');
	dbuf_addc(a, '"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			dbuf_addc(a, '\\');
		dbuf_addc(a, *s);
	}
	dbuf_addc(a, '"');
}

/*
 * The items of one group of a parameter as a text[] literal: their values
 * (what 0), their schemes (what 1, "" when none) or their values cut at
 * the first '^' (what 2: CX.1).
 */
static char *
array_of(const struct sq_param *p, size_t g, int what)
{
	const struct sq_item	*it;
	struct dbuf		 a;
	size_t			 i;
	char			*cx;

	dbuf_init(&a, SIZE_MAX);
	dbuf_addc(&a, '{');
	for (i = 0; i < sq_param_nitems(p, g); i++) {
		it = sq_param_item(p, g, i);
		if (what == 1)
			array_elem(&a, it->scheme != NULL ? it->scheme : "");
		else if (what == 2) {
			cx = xstrndup(it->value, strcspn(it->value, "^"));
			array_elem(&a, cx);
			free(cx);
		} else
			array_elem(&a, it->value);
	}
	dbuf_addc(&a, '}');
	return (dbuf_take(&a, NULL));
}

/* A DTM padded with zeros to 14 digits (YYYYMMDDhhmmss). */
static char *
dtm14(const char *v)
{
	char	t[15];
	size_t	n;

	n = strlen(v);
	if (n > 14)
		n = 14;
	memcpy(t, v, n);
	memset(t + n, '0', 14 - n);
	t[14] = '\0';
	return (xstrdup(t));
}

/* Every group AND-ed, each an OR of its items: "= ANY" over one column. */
static void
f_any(struct qb *b, const struct sq_query *q, enum sq_param_id id,
    const char *column)
{
	const struct sq_param	*p;
	size_t			 g;

	if ((p = sq_param_get(q, id)) == NULL)
		return;
	for (g = 0; g < sq_param_ngroups(p); g++)
		qb_sql(b, " AND %s = ANY($%d::text[])", column,
		    qb_bind(b, array_of(p, g, 0)));
}

/* Code lists on a single-valued (code, scheme) column pair. */
static void
f_code(struct qb *b, const struct sq_query *q, enum sq_param_id id,
    const char *code, const char *scheme)
{
	const struct sq_param	*p;
	size_t			 g;
	int			 c, s;

	if ((p = sq_param_get(q, id)) == NULL)
		return;
	for (g = 0; g < sq_param_ngroups(p); g++) {
		c = qb_bind(b, array_of(p, g, 0));
		s = qb_bind(b, array_of(p, g, 1));
		qb_sql(b, " AND EXISTS (SELECT 1 FROM unnest($%d::text[], "
		    "$%d::text[]) AS c(code, scheme) WHERE c.code = %s AND "
		    "c.scheme = COALESCE(%s, ''))", c, s, code, scheme);
	}
}

/* Multi-valued document codes (document_codes.kind): AND of ORs. */
static void
f_doc_codes(struct qb *b, const struct sq_query *q, enum sq_param_id id,
    const char *kind)
{
	const struct sq_param	*p;
	size_t			 g;
	int			 c, s;

	if ((p = sq_param_get(q, id)) == NULL)
		return;
	for (g = 0; g < sq_param_ngroups(p); g++) {
		c = qb_bind(b, array_of(p, g, 0));
		s = qb_bind(b, array_of(p, g, 1));
		qb_sql(b, " AND EXISTS (SELECT 1 FROM document_codes dc, "
		    "unnest($%d::text[], $%d::text[]) AS c(code, scheme) "
		    "WHERE dc.document_id = d.id AND dc.kind = '%s' AND "
		    "dc.code = c.code AND dc.scheme = c.scheme)", c, s, kind);
	}
}

/* A time bound: From inclusive, To exclusive, on 14-digit DTM text. */
static void
f_time(struct qb *b, const struct sq_query *q, enum sq_param_id id,
    const char *column)
{
	const char	*v;

	if ((v = sq_param_value(q, id)) == NULL)
		return;
	qb_sql(b, " AND %s %s $%d", column,
	    sq_param_bound(id) == SQ_BOUND_TO ? "<" : ">=",
	    qb_bind(b, dtm14(v)));
}

/* LIKE patterns (authorPerson) against an author table. */
static void
f_author(struct qb *b, const struct sq_query *q, enum sq_param_id id,
    const char *table, const char *key, const char *owner)
{
	const struct sq_param	*p;
	size_t			 g;

	if ((p = sq_param_get(q, id)) == NULL)
		return;
	for (g = 0; g < sq_param_ngroups(p); g++)
		qb_sql(b, " AND EXISTS (SELECT 1 FROM %s au WHERE au.%s = "
		    "%s AND au.person LIKE ANY($%d::text[]))", table, key,
		    owner, qb_bind(b, array_of(p, g, 0)));
}

/*
 * The patient of a query (CX.1 and assigning authority OID) on a
 * patient_id column: the patient itself and every patient merged into it
 * (patients.merged_into chains followed up to QUERY_MERGE_DEPTH steps),
 * but nothing when the patient has itself been merged into another.  The
 * ids are computed once (an InitPlan array), so the column's index is used
 * with "= ANY".
 */
static void
f_patient(struct qb *b, const struct sq_query *q, enum sq_param_id id,
    const char *column)
{
	const struct sq_item	*it;
	int			 c, o;

	it = sq_param_item(sq_param_get(q, id), 0, 0);
	c = qb_bind(b, xstrndup(it->value, strcspn(it->value, "^")));
	o = qb_bind(b, xstrdup(it->scheme != NULL ? it->scheme : ""));
	qb_sql(b, " AND %s = ANY(ARRAY(WITH RECURSIVE pp (id, depth) AS ("
	    "SELECT p.id, 0 FROM patients p WHERE p.pid = $%d AND "
	    "p.domain_oid = $%d AND p.merged_into IS NULL UNION ALL "
	    "SELECT c.id, pp.depth + 1 FROM patients c JOIN pp ON "
	    "c.merged_into = pp.id WHERE pp.depth < %d) SELECT id FROM pp))",
	    column, c, o, QUERY_MERGE_DEPTH);
}

static void
f_expiry(struct qb *b, time_t now)
{
	char	*v;

	xasprintf(&v, "%lld", (long long)now);
	qb_sql(b, " AND s.expires_at > to_timestamp($%d::double precision)",
	    qb_bind(b, v));
}

/* The document filters shared by FindDocuments and the "contents" ones. */
static const struct {
	enum sq_param_id	 id;
	const char		*code, *scheme;
} doc_code_cols[] = {
	{ SQ_P_DE_CLASS_CODE, "d.class_code", "d.class_scheme" },
	{ SQ_P_DE_TYPE_CODE, "d.type_code", "d.type_scheme" },
	{ SQ_P_DE_PRACTICE_SETTING_CODE, "d.practice_setting_code",
	    "d.practice_setting_scheme" },
	{ SQ_P_DE_HEALTHCARE_FACILITY_TYPE_CODE, "d.hcft_code",
	    "d.hcft_scheme" },
	{ SQ_P_DE_FORMAT_CODE, "d.format_code", "d.format_scheme" },
};

static const struct {
	enum sq_param_id	 id;
	const char		*column;
} doc_time_cols[] = {
	{ SQ_P_DE_CREATION_TIME_FROM, "d.creation_time" },
	{ SQ_P_DE_CREATION_TIME_TO, "d.creation_time" },
	{ SQ_P_DE_SERVICE_START_TIME_FROM, "d.service_start_time" },
	{ SQ_P_DE_SERVICE_START_TIME_TO, "d.service_start_time" },
	{ SQ_P_DE_SERVICE_STOP_TIME_FROM, "d.service_stop_time" },
	{ SQ_P_DE_SERVICE_STOP_TIME_TO, "d.service_stop_time" },
};

static void
f_doc_filters(struct qb *b, const struct sq_query *q)
{
	size_t	i;

	for (i = 0; i < sizeof(doc_code_cols) / sizeof(doc_code_cols[0]); i++)
		f_code(b, q, doc_code_cols[i].id, doc_code_cols[i].code,
		    doc_code_cols[i].scheme);
	for (i = 0; i < sizeof(doc_time_cols) / sizeof(doc_time_cols[0]); i++)
		f_time(b, q, doc_time_cols[i].id, doc_time_cols[i].column);
	f_doc_codes(b, q, SQ_P_DE_EVENT_CODE_LIST, "event");
	f_doc_codes(b, q, SQ_P_DE_CONFIDENTIALITY_CODE, "confidentiality");
	f_author(b, q, SQ_P_DE_AUTHOR_PERSON, "document_authors",
	    "document_id", "d.id");
	f_any(b, q, SQ_P_DE_TYPE, "d.object_type");
	f_any(b, q, SQ_P_DE_STATUS, "d.status");
	if (sq_param_get(q, SQ_P_DE_REFERENCE_ID_LIST) != NULL) {
		qb_sql(b, " AND EXISTS (SELECT 1 FROM document_refs dr WHERE "
		    "dr.document_id = d.id");
		f_any(b, q, SQ_P_DE_REFERENCE_ID_LIST, "dr.ref_id");
		qb_sql(b, ")");
	}
}

/*
 * Columns: kind, row id, entryUUID, ebrim (LeafClass only), status, lid,
 * patient, survivor.  The patient column is what the single-patient rule
 * compares: NULL for associations and for queries scoped to one patient
 * (every row is that patient's by construction), else (LeafClass) the CX
 * of the surviving patient at the end of the row patient's merge chain,
 * so that objects filed under a patient and under the patients merged
 * into it count as one patient.  The survivor column (LeafClass) is that
 * CX when the row's patient has been merged, else NULL: query_leaf_add
 * then writes it as the object's patientId.
 */
#define COLS(k, a, lid)							\
	"SELECT " k " AS k, " a ".id AS rid, " a ".entry_uuid, %s, "	\
	a ".status, " lid ", %s"
#define EBRIM(r, a)	((r) == XDSMSG_LEAFCLASS ? a ".ebrim" : "NULL")
#define XSTR(x)		#x
#define STR(x)		XSTR(x)
#define PCX	"p.pid || '^^^&' || p.domain_oid || '&ISO'"
#define ROOT(a)								\
	"(WITH RECURSIVE r (next, depth, cx) AS (SELECT p.merged_into, 0, "	\
	PCX " FROM patients p WHERE p.id = " a ".patient_id UNION ALL "	\
	"SELECT p.merged_into, r.depth + 1, " PCX " FROM patients p JOIN r "	\
	"ON p.id = r.next WHERE r.depth < " STR(QUERY_MERGE_DEPTH) ") "	\
	"SELECT cx FROM r ORDER BY depth DESC LIMIT 1)"
#define SURV(a)								\
	"CASE WHEN (SELECT pm.merged_into FROM patients pm WHERE pm.id = "	\
	a ".patient_id) IS NOT NULL THEN " ROOT(a) " END"
/* The last two columns: PAT any query, SCOPED one by patient. */
#define PAT(r, a)							\
	((r) == XDSMSG_LEAFCLASS ? ROOT(a) ", " SURV(a) : "NULL, NULL")
#define SCOPED(r, a)							\
	((r) == XDSMSG_LEAFCLASS ? "NULL, " SURV(a) : "NULL, NULL")
#define ASSOC_COLS							\
	"SELECT 4, x.id, x.entry_uuid, %s, x.status, x.entry_uuid, NULL, "	\
	"NULL"
#define DOC_LID		"COALESCE(x.logical_id, x.entry_uuid)"
#define HASMEMBER							\
	"'urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember'"
/*
 * Associations x from or to an object of CTE c, as two index lookups (an
 * OR of two IN subqueries would scan the table).
 */
#define TOUCHING(c)							\
	"x.id IN (SELECT y.id FROM associations y JOIN " c " ON "		\
	"y.source_uuid = " c ".entry_uuid UNION SELECT y.id FROM "	\
	"associations y JOIN " c " ON y.target_uuid = " c ".entry_uuid)"
/* Visible rows of a table with alias a: their submission set joined. */
#define VISIBLE(t, a)							\
	t " " a " JOIN submission_sets s ON s.id = " a ".submission_set_id " \
	"WHERE true"

static void
sql_find_documents(struct qb *b, const struct sq_query *q,
    enum xdsmsg_return r, time_t now)
{
	qb_sql(b, COLS("2", "d", "COALESCE(d.logical_id, d.entry_uuid)")
	    " FROM " VISIBLE("documents", "d"), EBRIM(r, "d"),
	    SCOPED(r, "d"));
	f_patient(b, q, SQ_P_DE_PATIENT_ID, "d.patient_id");
	f_expiry(b, now);
	f_doc_filters(b, q);
}

static void
sql_find_submission_sets(struct qb *b, const struct sq_query *q,
    enum xdsmsg_return r, time_t now)
{
	qb_sql(b, COLS("1", "s", "s.entry_uuid") " FROM submission_sets s "
	    "WHERE true", EBRIM(r, "s"), SCOPED(r, "s"));
	f_patient(b, q, SQ_P_SS_PATIENT_ID, "s.patient_id");
	f_expiry(b, now);
	f_any(b, q, SQ_P_SS_STATUS, "s.status");
	f_any(b, q, SQ_P_SS_SOURCE_ID, "s.source_id");
	f_time(b, q, SQ_P_SS_SUBMISSION_TIME_FROM, "s.submission_time");
	f_time(b, q, SQ_P_SS_SUBMISSION_TIME_TO, "s.submission_time");
	f_author(b, q, SQ_P_SS_AUTHOR_PERSON, "submission_set_authors",
	    "submission_set_id", "s.id");
	f_code(b, q, SQ_P_SS_CONTENT_TYPE, "s.content_type_code",
	    "s.content_type_scheme");
}

static void
sql_get_documents(struct qb *b, const struct sq_query *q,
    enum xdsmsg_return r, time_t now)
{
	qb_sql(b, COLS("2", "d", "COALESCE(d.logical_id, d.entry_uuid)")
	    " FROM " VISIBLE("documents", "d"), EBRIM(r, "d"), PAT(r, "d"));
	f_expiry(b, now);
	f_any(b, q, SQ_P_DE_ENTRY_UUID, "d.entry_uuid");
	f_any(b, q, SQ_P_DE_UNIQUE_ID, "d.unique_id");
	f_any(b, q, SQ_P_DE_LOGICAL_ID, "d.logical_id");
}

/*
 * The submission set, its documents (filtered; also earlier ones it holds
 * by reference, still visible), its folders, the HasMember associations
 * of that submission between the objects returned, and the set's
 * HasMember associations to those associations (as NIST's registry).
 */
static void
sql_get_ss_and_contents(struct qb *b, const struct sq_query *q,
    enum xdsmsg_return r, time_t now)
{
	const char	*e = EBRIM(r, "x"), *pat = PAT(r, "x");

	qb_sql(b, "WITH s AS (SELECT s.* FROM submission_sets s WHERE true");
	f_expiry(b, now);
	f_any(b, q, SQ_P_SS_ENTRY_UUID, "s.entry_uuid");
	f_any(b, q, SQ_P_SS_UNIQUE_ID, "s.unique_id");
	qb_sql(b, "), dd AS (SELECT d.* FROM documents d JOIN s ON "
	    "d.submission_set_id = s.id WHERE true");
	f_doc_filters(b, q);
	/* Earlier documents the set holds by reference (HasMember). */
	qb_sql(b, " UNION ALL SELECT d.* FROM s AS o JOIN associations a ON "
	    "a.submission_set_id = o.id AND a.source_uuid = o.entry_uuid AND "
	    "a.assoc_type = " HASMEMBER " JOIN documents d ON d.entry_uuid = "
	    "a.target_uuid AND d.submission_set_id <> o.id JOIN "
	    "submission_sets s ON s.id = d.submission_set_id WHERE true");
	f_expiry(b, now);
	f_doc_filters(b, q);
	qb_sql(b, "), ff AS (SELECT f.* FROM folders f JOIN s ON "
	    "f.submission_set_id = s.id");
	qb_sql(b, "), aa AS (SELECT x.* FROM associations x JOIN s ON "
	    "x.submission_set_id = s.id WHERE x.assoc_type = " HASMEMBER
	    " AND ((x.source_uuid = s.entry_uuid AND (x.target_uuid IN (SELECT "
	    "entry_uuid FROM dd) OR x.target_uuid IN (SELECT entry_uuid FROM "
	    "ff))) OR (x.source_uuid IN (SELECT entry_uuid FROM ff) AND "
	    "x.target_uuid IN (SELECT entry_uuid FROM dd)))) ");
	qb_sql(b, COLS("1", "x", "x.entry_uuid") " FROM s x", e, pat);
	qb_sql(b, " UNION ALL " COLS("2", "x", DOC_LID) " FROM dd x", e, pat);
	qb_sql(b, " UNION ALL " COLS("3", "x", "x.entry_uuid") " FROM ff x",
	    e, pat);
	qb_sql(b, " UNION ALL " ASSOC_COLS " FROM aa x", e);
	/* The set's HasMember to a returned (folder membership) one. */
	qb_sql(b, " UNION ALL " ASSOC_COLS " FROM associations x JOIN s ON "
	    "x.submission_set_id = s.id WHERE x.assoc_type = " HASMEMBER
	    " AND x.source_uuid = s.entry_uuid AND x.target_uuid IN (SELECT "
	    "entry_uuid FROM aa)", e);
}

/*
 * GetAll: the patient's submission sets, documents and folders (each with
 * its status list; documents filtered) and the associations of the
 * patient's visible submissions whose both ends are returned, an end
 * being one of those objects or such an association.
 */
static void
sql_get_all(struct qb *b, const struct sq_query *q, enum xdsmsg_return r,
    time_t now)
{
	const char	*e = EBRIM(r, "x"), *pat = SCOPED(r, "x");

	qb_sql(b, "WITH s AS (SELECT s.* FROM submission_sets s WHERE true");
	f_patient(b, q, SQ_P_PATIENT_ID, "s.patient_id");
	f_expiry(b, now);
	qb_sql(b, "), ss AS (SELECT s.* FROM s WHERE true");
	f_any(b, q, SQ_P_SS_STATUS, "s.status");
	qb_sql(b, "), dd AS (SELECT d.* FROM documents d JOIN s ON "
	    "d.submission_set_id = s.id WHERE true");
	f_doc_filters(b, q);
	qb_sql(b, "), ff AS (SELECT f.* FROM folders f JOIN s ON "
	    "f.submission_set_id = s.id WHERE true");
	f_any(b, q, SQ_P_FOL_STATUS, "f.status");
	/*
	 * ids: the returned sets, documents and folders; aa: the
	 * associations between them; ids2: both.  The associations returned
	 * are those with both ends in ids2 (one level of association to
	 * association, e.g. a set's HasMember to a folder membership).
	 */
	qb_sql(b, "), ids AS (SELECT entry_uuid FROM ss UNION ALL SELECT "
	    "entry_uuid FROM dd UNION ALL SELECT entry_uuid FROM ff), aa AS ("
	    "SELECT x.entry_uuid FROM associations x JOIN s ON "
	    "x.submission_set_id = s.id WHERE x.source_uuid IN (SELECT "
	    "entry_uuid FROM ids) AND x.target_uuid IN (SELECT entry_uuid "
	    "FROM ids)), ids2 AS (SELECT entry_uuid FROM ids UNION ALL SELECT "
	    "entry_uuid FROM aa) ");
	qb_sql(b, COLS("1", "x", "x.entry_uuid") " FROM ss x", e, pat);
	qb_sql(b, " UNION ALL " COLS("2", "x", DOC_LID) " FROM dd x", e, pat);
	qb_sql(b, " UNION ALL " COLS("3", "x", "x.entry_uuid") " FROM ff x",
	    e, pat);
	qb_sql(b, " UNION ALL " ASSOC_COLS " FROM associations x JOIN s ON "
	    "x.submission_set_id = s.id WHERE x.source_uuid IN (SELECT "
	    "entry_uuid FROM ids2) AND x.target_uuid IN (SELECT entry_uuid "
	    "FROM ids2)", e);
}

/* FindFolders: the patient's folders by status, lastUpdateTime, codes. */
static void
sql_find_folders(struct qb *b, const struct sq_query *q,
    enum xdsmsg_return r, time_t now)
{
	const struct sq_param	*p;
	size_t			 g;
	int			 c, sc;

	qb_sql(b, COLS("3", "x", "x.entry_uuid") " FROM "
	    VISIBLE("folders", "x"), EBRIM(r, "x"), SCOPED(r, "x"));
	f_patient(b, q, SQ_P_FOL_PATIENT_ID, "x.patient_id");
	f_expiry(b, now);
	f_any(b, q, SQ_P_FOL_STATUS, "x.status");
	f_time(b, q, SQ_P_FOL_LAST_UPDATE_TIME_FROM, "x.last_update_time");
	f_time(b, q, SQ_P_FOL_LAST_UPDATE_TIME_TO, "x.last_update_time");
	/* $XDSFolderCodeList: AND of ORs over folder_codes. */
	if ((p = sq_param_get(q, SQ_P_FOL_CODE_LIST)) == NULL)
		return;
	for (g = 0; g < sq_param_ngroups(p); g++) {
		c = qb_bind(b, array_of(p, g, 0));
		sc = qb_bind(b, array_of(p, g, 1));
		qb_sql(b, " AND EXISTS (SELECT 1 FROM folder_codes fc, "
		    "unnest($%d::text[], $%d::text[]) AS c(code, scheme) "
		    "WHERE fc.folder_id = x.id AND fc.code = c.code AND "
		    "fc.scheme = c.scheme)", c, sc);
	}
}

/*
 * GetFolders: by entryUUID, uniqueId or logicalID (folders are not
 * versioned here: a folder's lid is its entryUUID).
 */
static void
sql_get_folders(struct qb *b, const struct sq_query *q,
    enum xdsmsg_return r, time_t now)
{
	qb_sql(b, COLS("3", "x", "x.entry_uuid") " FROM "
	    VISIBLE("folders", "x"), EBRIM(r, "x"), PAT(r, "x"));
	f_expiry(b, now);
	f_any(b, q, SQ_P_FOL_ENTRY_UUID, "x.entry_uuid");
	f_any(b, q, SQ_P_FOL_UNIQUE_ID, "x.unique_id");
	f_any(b, q, SQ_P_FOL_LOGICAL_ID, "x.entry_uuid");
}

/* GetAssociations: every visible association from or to a $uuid. */
static void
sql_get_associations(struct qb *b, const struct sq_query *q,
    enum xdsmsg_return r, time_t now)
{
	int	u;

	qb_sql(b, ASSOC_COLS " FROM " VISIBLE("associations", "x"),
	    EBRIM(r, "x"));
	f_expiry(b, now);
	u = qb_bind(b, array_of(sq_param_get(q, SQ_P_UUID), 0, 0));
	qb_sql(b, " AND (x.source_uuid = ANY($%d::text[]) OR x.target_uuid "
	    "= ANY($%d::text[]))", u, u);
}

/* The visible documents named by entryUUID or uniqueId, as CTE "name". */
static void
cte_docs(struct qb *b, const struct sq_query *q, time_t now,
    const char *name)
{
	qb_sql(b, "%s AS (SELECT d.* FROM " VISIBLE("documents", "d"), name);
	f_expiry(b, now);
	f_any(b, q, SQ_P_DE_ENTRY_UUID, "d.entry_uuid");
	f_any(b, q, SQ_P_DE_UNIQUE_ID, "d.unique_id");
	qb_sql(b, ")");
}

/*
 * GetDocumentsAndAssociations: the documents and every visible
 * association from or to one of them.
 */
static void
sql_get_docs_and_assocs(struct qb *b, const struct sq_query *q,
    enum xdsmsg_return r, time_t now)
{
	const char	*e = EBRIM(r, "x");

	qb_sql(b, "WITH ");
	cte_docs(b, q, now, "dd");
	qb_sql(b, " " COLS("2", "x", DOC_LID) " FROM dd x", e, PAT(r, "x"));
	qb_sql(b, " UNION ALL " ASSOC_COLS " FROM "
	    VISIBLE("associations", "x"), e);
	f_expiry(b, now);
	qb_sql(b, " AND " TOUCHING("dd"));
}

/*
 * GetSubmissionSets: the visible submission sets with a HasMember
 * association to one of $uuid, and those associations.
 */
static void
sql_get_submission_sets(struct qb *b, const struct sq_query *q,
    enum xdsmsg_return r, time_t now)
{
	const char	*e = EBRIM(r, "x");

	qb_sql(b, "WITH a AS (SELECT x.* FROM " VISIBLE("associations", "x")
	    " AND x.assoc_type = " HASMEMBER);
	f_expiry(b, now);
	qb_sql(b, " AND x.target_uuid = ANY($%d::text[])",
	    qb_bind(b, array_of(sq_param_get(q, SQ_P_UUID), 0, 0)));
	qb_sql(b, "), ss AS (SELECT s.* FROM submission_sets s WHERE "
	    "s.entry_uuid IN (SELECT source_uuid FROM a)");
	f_expiry(b, now);
	qb_sql(b, ") " COLS("1", "x", "x.entry_uuid") " FROM ss x", e,
	    PAT(r, "x"));
	qb_sql(b, " UNION ALL " ASSOC_COLS " FROM a x WHERE x.source_uuid IN "
	    "(SELECT entry_uuid FROM ss)", e);
}

/*
 * GetFolderAndContents: the folder, the documents it has as members
 * (HasMember from the folder in any visible submission, filtered by
 * formatCode, confidentialityCode, objectType) and those associations
 * ($XDSAssociationStatus filters them when given).
 */
static void
sql_get_folder_and_contents(struct qb *b, const struct sq_query *q,
    enum xdsmsg_return r, time_t now)
{
	const char	*e = EBRIM(r, "x"), *pat = PAT(r, "x");

	qb_sql(b, "WITH ff AS (SELECT x.* FROM " VISIBLE("folders", "x"));
	f_expiry(b, now);
	f_any(b, q, SQ_P_FOL_ENTRY_UUID, "x.entry_uuid");
	f_any(b, q, SQ_P_FOL_UNIQUE_ID, "x.unique_id");
	qb_sql(b, "), a AS (SELECT x.* FROM " VISIBLE("associations", "x")
	    " AND x.assoc_type = " HASMEMBER " AND x.source_uuid IN (SELECT "
	    "entry_uuid FROM ff)");
	f_expiry(b, now);
	f_any(b, q, SQ_P_ASSOCIATION_STATUS, "x.status");
	qb_sql(b, "), dd AS (SELECT d.* FROM " VISIBLE("documents", "d")
	    " AND d.entry_uuid IN (SELECT target_uuid FROM a)");
	f_expiry(b, now);
	f_doc_filters(b, q);
	qb_sql(b, ") " COLS("3", "x", "x.entry_uuid") " FROM ff x", e, pat);
	qb_sql(b, " UNION ALL " COLS("2", "x", DOC_LID) " FROM dd x", e, pat);
	qb_sql(b, " UNION ALL " ASSOC_COLS " FROM a x WHERE x.target_uuid IN "
	    "(SELECT entry_uuid FROM dd)", e);
}

/*
 * GetFoldersForDocument: the visible folders with a visible HasMember
 * association to the document.
 */
static void
sql_get_folders_for_document(struct qb *b, const struct sq_query *q,
    enum xdsmsg_return r, time_t now)
{
	qb_sql(b, "WITH ");
	cte_docs(b, q, now, "dd");
	qb_sql(b, ", a AS (SELECT x.source_uuid FROM "
	    VISIBLE("associations", "x") " AND x.assoc_type = " HASMEMBER
	    " AND x.target_uuid IN (SELECT entry_uuid FROM dd)");
	f_expiry(b, now);
	qb_sql(b, ") " COLS("3", "x", "x.entry_uuid") " FROM "
	    VISIBLE("folders", "x") " AND x.entry_uuid IN (SELECT source_uuid "
	    "FROM a)", EBRIM(r, "x"), PAT(r, "x"));
	f_expiry(b, now);
}

/*
 * $AssociationTypes as a text[]: each value as given and, when it is a
 * bare name (no ':', e.g. RPLC), also as urn:ihe:iti:2007:AssociationType:
 * name.
 */
static char *
assoc_types(const struct sq_param *p)
{
	const struct sq_item	*it;
	struct dbuf		 a;
	size_t			 i;
	char			*urn;

	dbuf_init(&a, SIZE_MAX);
	dbuf_addc(&a, '{');
	for (i = 0; i < sq_param_nitems(p, 0); i++) {
		it = sq_param_item(p, 0, i);
		array_elem(&a, it->value);
		if (strchr(it->value, ':') == NULL) {
			xasprintf(&urn, "urn:ihe:iti:2007:AssociationType:%s",
			    it->value);
			array_elem(&a, urn);
			free(urn);
		}
	}
	dbuf_addc(&a, '}');
	return (dbuf_take(&a, NULL));
}

/*
 * GetRelatedDocuments: the visible associations of the listed types from
 * or to the document (one step, both directions), the visible documents at
 * their other ends (objectType filtered), those associations, and the
 * document itself, which is returned only when something is related.
 */
static void
sql_get_related_documents(struct qb *b, const struct sq_query *q,
    enum xdsmsg_return r, time_t now)
{
	const char	*e = EBRIM(r, "x"), *pat = PAT(r, "x");

	qb_sql(b, "WITH ");
	cte_docs(b, q, now, "o");
	qb_sql(b, ", a AS (SELECT x.*, CASE WHEN x.source_uuid IN (SELECT "
	    "entry_uuid FROM o) THEN x.target_uuid ELSE x.source_uuid END AS "
	    "other FROM " VISIBLE("associations", "x"));
	f_expiry(b, now);
	qb_sql(b, " AND x.assoc_type = ANY($%d::text[]) AND " TOUCHING("o"),
	    qb_bind(b,
	    assoc_types(sq_param_get(q, SQ_P_ASSOCIATION_TYPES))));
	qb_sql(b, "), rd AS (SELECT d.* FROM " VISIBLE("documents", "d")
	    " AND d.entry_uuid IN (SELECT other FROM a) AND d.entry_uuid NOT "
	    "IN (SELECT entry_uuid FROM o)");
	f_expiry(b, now);
	f_any(b, q, SQ_P_DE_TYPE, "d.object_type");
	qb_sql(b, "), ra AS (SELECT a.* FROM a WHERE a.other IN (SELECT "
	    "entry_uuid FROM rd)) ");
	qb_sql(b, COLS("2", "x", DOC_LID) " FROM o x WHERE EXISTS (SELECT 1 "
	    "FROM ra)", e, pat);
	qb_sql(b, " UNION ALL " COLS("2", "x", DOC_LID) " FROM rd x", e, pat);
	qb_sql(b, " UNION ALL " ASSOC_COLS " FROM ra x", e);
}

/* Response --------------------------------------------------------- */

/* Writes the response for errs (and leaf or refs) into r->out. */
static void
respond(struct qreq *r, const char *leaf, size_t len, char **refs,
    size_t nrefs)
{
	struct xdsmsg_query_resp	 resp;

	memset(&resp, 0, sizeof(resp));
	resp.status = xdsmsg_errors_status(&r->errs);
	resp.errors = r->errs;
	resp.refs = refs;
	resp.nrefs = nrefs;
	dbuf_init(&r->out, r->max_body);
	if (xdsmsg_query_resp_build(&r->out, &resp, leaf, len) == 0)
		return;
	/* Too large: say so instead (this one always fits). */
	xdsmsg_errors_clear(&r->errs);
	xdsmsg_error_add(&r->errs, XDSMSG_ERROR, QUERY_ERR_TOO_MANY, NULL, 0,
	    "the response would exceed %zu bytes", r->max_body);
	if (r->cause == NULL)
		xcause(&r->cause, "query response over %zu bytes",
		    r->max_body);
	memset(&resp, 0, sizeof(resp));
	resp.status = XDSMSG_FAILURE;
	resp.errors = r->errs;
	dbuf_free(&r->out);
	dbuf_init(&r->out, SIZE_MAX);
	(void)xdsmsg_query_resp_build(&r->out, &resp, NULL, 0);
}

static void
finish(struct qreq *r)
{
	r->cb(r->out.data, r->out.len, r->nfound, r->cause, r->arg);
	dbuf_free(&r->out);
	xdsmsg_errors_clear(&r->errs);
	free(r->cause);
	free(r->home);
	free(r);
}

static void
deliver(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	finish(arg);
}

/* Answer now (errors only), from the loop. */
static void
answer_later(struct qreq *r)
{
	struct timeval	tv = { 0, 0 };

	respond(r, NULL, 0, NULL, 0);
	if (event_base_once(r->base, -1, EV_TIMEOUT, deliver, r, &tv) == -1)
		finish(r);	/* cannot happen short of OOM */
}

static void
registry_error(struct qreq *r, const char *cause)
{
	xdsmsg_errors_clear(&r->errs);
	xdsmsg_error_add(&r->errs, XDSMSG_ERROR, SQ_ERR_REGISTRY, NULL, 0,
	    "the registry could not answer the query");
	if (r->cause == NULL)
		r->cause = xstrdup(cause);
}

/*
 * Writes the surviving patient's CX as the value of the object's patientId
 * ExternalIdentifier (DocumentEntry, SubmissionSet or Folder).
 */
static int
set_patient(xmlNode *obj, const char *cx)
{
	xmlNode		*c;
	const char	*sch;

	for (c = xml_first(obj); c != NULL; c = xml_next(c)) {
		if (!xml_is(c, XML_NS_RIM, "ExternalIdentifier") ||
		    (sch = xml_attr(c, "identificationScheme")) == NULL)
			continue;
		if ((strcmp(sch, XDS_DE_PATIENTID) == 0 ||
		    strcmp(sch, XDS_SS_PATIENTID) == 0 ||
		    strcmp(sch, XDS_FD_PATIENTID) == 0) &&
		    xmlSetProp(c, BAD_CAST "value", (const xmlChar *)cx) == NULL)
			return (-1);
	}
	return (0);
}

/*
 * The fast path of query_leaf_add, for text as iti41 stores it
 * (xdsmeta_write): every element rim:-prefixed, no namespace declarations
 * (the answer's RegistryObjectList declares rim:), '<' and '"' only as
 * markup, the object's start tag first with its attributes in double
 * quotes.  That text is copied with status, lid and home set in the start
 * tag, as xmlSetProp would (in place, else appended): parsing each object
 * into a tree, copying and serialising it took 80 us an entry (most of a
 * 500-entry listing's time on the server).  Returns 1 when the text is
 * not of that form (query_leaf_add then parses it), else 0 or -1 (too
 * large).
 */
#define LEAF_NSET	3
static int
query_leaf_text(struct dbuf *leaf, const char *t, size_t len,
    const char *const set[LEAF_NSET][2])
{
	static const size_t	 pfx = sizeof("<rim:") - 1;
	const char		*p, *end = t + len, *name, *v, *q;
	int			 done[LEAF_NSET] = { 0 }, i, rc = 0;
	size_t			 nl;

	if (len < pfx || strncmp(t, "<rim:", pfx) != 0 ||
	    memmem(t, len, "xmlns", 5) != NULL)
		return (1);
	for (p = t; (p = memchr(p, '<', end - p)) != NULL; p++) {
		q = p + 1 + (p + 1 < end && p[1] == '/');
		if ((size_t)(end - q) < pfx - 1 || strncmp(q, "rim:", 4) != 0)
			return (1);
	}
	/* The start tag: name, then ' a="v"' pairs up to '>' or '/>'. */
	p = t + pfx + strcspn(t + pfx, " />");
	if (p >= end || dbuf_add(leaf, t, p - t) == -1)
		return (p >= end ? 1 : -1);
	while (p < end && *p == ' ') {
		name = p + 1;
		if ((q = memchr(name, '=', end - name)) == NULL ||
		    q + 1 >= end || q[1] != '"' ||
		    (v = memchr(q + 2, '"', end - q - 2)) == NULL)
			return (1);
		nl = q - name;
		for (i = 0; i < LEAF_NSET; i++)
			if (set[i][1] != NULL && !done[i] &&
			    strlen(set[i][0]) == nl &&
			    strncmp(name, set[i][0], nl) == 0)
				break;
		if (i == LEAF_NSET)
			rc |= dbuf_add(leaf, p, v + 1 - p);
		else {
			rc |= dbuf_add(leaf, p, q + 2 - p);
			rc |= xml_escape_value(leaf, set[i][1]);
			rc |= dbuf_addstr(leaf, "\"");
			done[i] = 1;
		}
		p = v + 1;
	}
	if (p >= end || (*p != '>' && *p != '/'))
		return (1);
	for (i = 0; i < LEAF_NSET; i++) {
		if (set[i][1] == NULL || done[i])
			continue;
		rc |= dbuf_printf(leaf, " %s=\"", set[i][0]);
		rc |= xml_escape_value(leaf, set[i][1]);
		rc |= dbuf_addstr(leaf, "\"");
	}
	rc |= dbuf_add(leaf, p, end - p);
	return (rc == 0 ? 0 : -1);
}

/*
 * (query.h.)  Text not of query_leaf_text's form, and objects of merged
 * patients, take the general path: the stored text is rim elements, the
 * object first; it is parsed inside a wrapper declaring the rim namespace
 * (as prefix and default), copied out so that the copy declares the
 * namespaces it uses, and serialised.
 */
int
query_leaf_add(struct dbuf *leaf, const char *ebrim, size_t len,
    const char *status, const char *lid, const char *home,
    const char *survivor, char **cause)
{
	struct dbuf	 w;
	xmlDoc		*doc, *nd = NULL;
	xmlNode		*n, *c;
	size_t		 mark = leaf->len;
	int		 rc = -1;
	const char	*set[LEAF_NSET][2] = {
		{ "status", status }, { "lid", lid }, { "home", home } };

	if (survivor == NULL &&
	    (rc = query_leaf_text(leaf, ebrim, len, set)) != 1) {
		if (rc == -1)
			xcause(cause, "response too large");
		return (rc);
	}
	leaf->len = mark;	/* a partial start tag */
	rc = -1;
	dbuf_init(&w, SIZE_MAX);
	dbuf_addstr(&w, "<w xmlns=\"" XML_NS_RIM "\" xmlns:rim=\""
	    XML_NS_RIM "\">");
	dbuf_add(&w, ebrim, len);
	dbuf_addstr(&w, "</w>");
	doc = xml_parse(w.data, w.len, NULL, cause);
	dbuf_free(&w);
	if (doc == NULL)
		return (-1);
	/*
	 * A RegistryPackage is stored with the Classification that marks it a
	 * SubmissionSet or Folder after it: the first element is the object,
	 * the rest must be rim elements too and are written after it.
	 */
	n = xml_first(xmlDocGetRootElement(doc));
	for (c = n; c != NULL; c = xml_next(c)) {
		if (!xml_is(c, XML_NS_RIM, NULL)) {
			xcause(cause, "stored object is not rim elements");
			goto out;
		}
	}
	if (n == NULL) {
		xcause(cause, "stored object is empty");
		goto out;
	}
	if (xmlSetProp(n, BAD_CAST "status", (const xmlChar *)status) == NULL ||
	    xmlSetProp(n, BAD_CAST "lid", (const xmlChar *)lid) == NULL ||
	    (home != NULL &&
	    xmlSetProp(n, BAD_CAST "home", (const xmlChar *)home) == NULL) ||
	    (survivor != NULL && set_patient(n, survivor) == -1)) {
		xcause(cause, "out of memory");
		goto out;
	}
	for (; n != NULL; n = xml_next(n)) {
		if (nd != NULL)
			xmlFreeDoc(nd);
		if ((nd = xmlNewDoc(BAD_CAST "1.0")) == NULL ||
		    (c = xmlDocCopyNode(n, nd, 1)) == NULL) {
			xcause(cause, "out of memory");
			goto out;
		}
		xmlDocSetRootElement(nd, c);
		if (xml_write(leaf, nd, c) == -1) {
			xcause(cause, "response too large");
			goto out;
		}
	}
	rc = 0;
out:
	if (nd != NULL)
		xmlFreeDoc(nd);
	xml_free(doc);
	return (rc);
}

static void
db_done(PGresult *res, const char *cause, void *arg)
{
	struct qreq	*r = arg;
	struct dbuf	 leaf;
	const char	*pat = NULL;
	char		**refs = NULL, *why = NULL;
	int		 i, n;

	if (cause != NULL) {
		registry_error(r, cause);
		respond(r, NULL, 0, NULL, 0);
		finish(r);
		return;
	}
	n = PQntuples(res);
	if (n > r->cap) {
		xdsmsg_error_add(&r->errs, XDSMSG_ERROR, QUERY_ERR_TOO_MANY,
		    NULL, 0, "the query matches more than %d objects: narrow "
		    "it", r->cap);
		respond(r, NULL, 0, NULL, 0);
		finish(r);
		return;
	}
	r->nfound = n;
	if (r->rtype == XDSMSG_OBJECTREF) {
		if (n > 0)
			refs = xcalloc(n, sizeof(*refs));
		for (i = 0; i < n; i++)
			refs[i] = PQgetvalue(res, i, 2);
		respond(r, NULL, 0, refs, n);
		free(refs);
		finish(r);
		return;
	}
	for (i = 0; i < n; i++) {
		if (PQgetisnull(res, i, 6))
			continue;
		if (pat == NULL)
			pat = PQgetvalue(res, i, 6);
		else if (strcmp(pat, PQgetvalue(res, i, 6)) != 0) {
			xdsmsg_error_add(&r->errs, XDSMSG_ERROR,
			    QUERY_ERR_NOT_SINGLE, NULL, 0, "the objects found "
			    "belong to more than one patient");
			respond(r, NULL, 0, NULL, 0);
			finish(r);
			return;
		}
	}
	dbuf_init(&leaf, r->max_body);
	for (i = 0; i < n; i++) {
		if (query_leaf_add(&leaf, PQgetvalue(res, i, 3),
		    PQgetlength(res, i, 3), PQgetvalue(res, i, 4),
		    PQgetvalue(res, i, 5), r->home, PQgetisnull(res, i, 7) ?
		    NULL : PQgetvalue(res, i, 7), &why) == -1) {
			/* Row id, never the content (patient data). */
			xcause(&r->cause, "registry object %s: %s",
			    PQgetvalue(res, i, 1), why);
			free(why);
			registry_error(r, r->cause);
			dbuf_free(&leaf);
			respond(r, NULL, 0, NULL, 0);
			finish(r);
			return;
		}
	}
	respond(r, leaf.data != NULL ? leaf.data : "", leaf.len, NULL, 0);
	dbuf_free(&leaf);
	finish(r);
}

void
query_run(struct event_base *base, struct db *db,
    const struct query_settings *set, const struct sq_query *q,
    enum xdsmsg_return rtype, time_t now, query_cb cb, void *arg)
{
	struct qreq		*r;
	struct qb		 b;
	const struct sq_error	*e;
	enum sq_kind		 kind;
	size_t			 i;
	char			*lim;

	r = xcalloc(1, sizeof(*r));
	r->nfound = -1;
	r->base = base;
	r->rtype = rtype;
	r->cb = cb;
	r->arg = arg;
	r->max_body = set->max_body > 0 ? set->max_body :
	    QUERY_DEFAULT_MAX_BODY;
	r->home = set->home != NULL ? xstrdup(set->home) : NULL;
	if (rtype == XDSMSG_LEAFCLASS)
		r->cap = set->limit > 0 ? set->limit : QUERY_DEFAULT_LIMIT;
	else
		r->cap = set->max_refs > 0 ? set->max_refs :
		    QUERY_DEFAULT_MAX_REFS;

	if (sq_nerrors(q) > 0) {
		for (i = 0; i < sq_nerrors(q); i++) {
			e = sq_error(q, i);
			xdsmsg_error_add(&r->errs, XDSMSG_ERROR, e->code,
			    e->location, e->line, "%s", e->message);
		}
		answer_later(r);
		return;
	}
	kind = sq_query_kind(q);
	if (kind == SQ_FIND_SUBMISSION_SETS &&
	    sq_param_get(q, SQ_P_SS_INTENDED_RECIPIENT) != NULL) {
		xdsmsg_error_add(&r->errs, XDSMSG_ERROR, SQ_ERR_REGISTRY,
		    sq_param_name(SQ_P_SS_INTENDED_RECIPIENT), 0, "%s: "
		    "parameter %s is not supported by this registry yet",
		    sq_query_name(kind),
		    sq_param_name(SQ_P_SS_INTENDED_RECIPIENT));
		answer_later(r);
		return;
	}

	qb_init(&b);
	switch (kind) {
	case SQ_FIND_DOCUMENTS:
	case SQ_FIND_DOCUMENTS_BY_REFERENCE_ID:
		sql_find_documents(&b, q, rtype, now);
		break;
	case SQ_FIND_SUBMISSION_SETS:
		sql_find_submission_sets(&b, q, rtype, now);
		break;
	case SQ_GET_DOCUMENTS:
		sql_get_documents(&b, q, rtype, now);
		break;
	case SQ_GET_SUBMISSION_SET_AND_CONTENTS:
		sql_get_ss_and_contents(&b, q, rtype, now);
		break;
	case SQ_GET_ALL:
		sql_get_all(&b, q, rtype, now);
		break;
	case SQ_FIND_FOLDERS:
		sql_find_folders(&b, q, rtype, now);
		break;
	case SQ_GET_FOLDERS:
		sql_get_folders(&b, q, rtype, now);
		break;
	case SQ_GET_ASSOCIATIONS:
		sql_get_associations(&b, q, rtype, now);
		break;
	case SQ_GET_DOCUMENTS_AND_ASSOCIATIONS:
		sql_get_docs_and_assocs(&b, q, rtype, now);
		break;
	case SQ_GET_SUBMISSION_SETS:
		sql_get_submission_sets(&b, q, rtype, now);
		break;
	case SQ_GET_FOLDER_AND_CONTENTS:
		sql_get_folder_and_contents(&b, q, rtype, now);
		break;
	case SQ_GET_FOLDERS_FOR_DOCUMENT:
		sql_get_folders_for_document(&b, q, rtype, now);
		break;
	case SQ_GET_RELATED_DOCUMENTS:
		sql_get_related_documents(&b, q, rtype, now);
		break;
	default:
		qb_free(&b);
		xdsmsg_error_add(&r->errs, XDSMSG_ERROR, SQ_ERR_REGISTRY,
		    sq_query_uuid(kind), 0, "stored query %s is not "
		    "supported by this registry yet",
		    sq_query_name(kind) != NULL ? sq_query_name(kind) :
		    "(unknown)");
		answer_later(r);
		return;
	}
	/* One more than allowed: more rows means too many. */
	xasprintf(&lim, "%d", r->cap + 1);
	qb_sql(&b, " ORDER BY 1, 2 LIMIT $%d", qb_bind(&b, lim));
	db_query_prepared(db, dbuf_str(&b.sql), b.n,
	    (const char *const *)b.v, NULL, NULL, 0, db_done, r);
	qb_free(&b);
}
