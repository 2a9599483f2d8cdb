/* test_sq.c: stored-query parameters, query rules, errors and the builder. */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "sq.h"
#include "tap.h"
#include "xmalloc.h"
#include "xml.h"

#define PID	"'c4d77e21d0dd487^^^&1.3.6.1.4.1.21367.2005.3.7&ISO'"
#define PIDV	"c4d77e21d0dd487^^^&1.3.6.1.4.1.21367.2005.3.7&ISO"
#define APPROVED "('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')"

/* A test case's slots, owned. */
struct tcase {
	char		*id;
	int		 noid;
	struct sq_slot	*slots;
	size_t		 nslots;
	char		**names;
	char		***values;
};

/* The dump of a query, with warnings, allocated. */
static char *
dump(const struct sq_query *q)
{
	struct dbuf	b;

	dbuf_init(&b, 1 << 22);
	if (sq_dump(q, &b, 1) == -1)
		return (xstrdup("(dump failed)"));
	if (b.data == NULL)
		return (xstrdup(""));
	return (dbuf_take(&b, NULL));
}

/* Parse slots given as name, value, value, NULL, name, ..., NULL, NULL. */
static struct sq_query *
parse_va(const char *id, const char *const *spec)
{
	struct sq_slot	 slots[32];
	size_t		 n = 0;
	const char	*const *p = spec;

	while (*p != NULL) {
		slots[n].name = *p++;
		slots[n].values = p;
		slots[n].nvalues = 0;
		slots[n].line = (long)n + 1;
		while (*p != NULL) {
			slots[n].nvalues++;
			p++;
		}
		p++;
		n++;
	}
	return (sq_parse(id, slots, n));
}

/* First error code of a query, or "none". */
static const char *
err0(const struct sq_query *q)
{
	return (sq_nerrors(q) > 0 ? sq_error(q, 0)->code : "none");
}

/* Release a golden case's slots. */
static void
tcase_free(struct tcase *t)
{
	size_t	i, j;

	for (i = 0; i < t->nslots; i++) {
		for (j = 0; j < t->slots[i].nvalues; j++)
			free(t->values[i][j]);
		free(t->values[i]);
		free(t->names[i]);
	}
	free(t->values);
	free(t->names);
	free(t->slots);
	free(t->id);
	memset(t, 0, sizeof(*t));
}

/* Add an input line of a golden case. */
static int
tcase_line(struct tcase *t, const char *line, long lineno)
{
	struct sq_slot	*s;
	size_t		 i;
	int		 k;

	if (strncmp(line, "query ", 6) == 0) {
		for (k = SQ_UNKNOWN + 1; k < SQ_NKINDS; k++) {
			if (strcmp(line + 6, sq_query_name(k)) == 0)
				break;
		}
		if (k == SQ_NKINDS)
			return (-1);
		free(t->id);
		t->id = xstrdup(sq_query_uuid(k));
	} else if (strncmp(line, "id ", 3) == 0 || strcmp(line, "id") == 0) {
		free(t->id);
		t->id = xstrdup(line[2] == '\0' ? "" : line + 3);
	} else if (strcmp(line, "noid") == 0)
		t->noid = 1;
	else if (strncmp(line, "slot", 4) == 0 &&
	    (line[4] == ' ' || line[4] == '\0')) {
		i = t->nslots++;
		t->slots = xreallocarray(t->slots, t->nslots,
		    sizeof(*t->slots));
		t->names = xreallocarray(t->names, t->nslots,
		    sizeof(*t->names));
		t->values = xreallocarray(t->values, t->nslots,
		    sizeof(*t->values));
		t->names[i] = xstrdup(line[4] == '\0' ? "" : line + 5);
		t->values[i] = NULL;
		s = &t->slots[i];
		s->name = t->names[i];
		s->nvalues = 0;
		s->values = NULL;
		s->line = lineno;
	} else if (strncmp(line, "value", 5) == 0 &&
	    (line[5] == ' ' || line[5] == '\0') && t->nslots > 0) {
		i = t->nslots - 1;
		s = &t->slots[i];
		t->values[i] = xreallocarray(t->values[i], s->nvalues + 1,
		    sizeof(**t->values));
		t->values[i][s->nvalues++] = xstrdup(line[5] == '\0' ? "" :
		    line + 6);
	} else
		return (-1);
	return (0);
}

/* Run one golden case and compare its dump. */
static void
tcase_run(struct tcase *t, const char *file, const char *name,
    const char *expect, FILE *regen)
{
	struct sq_query	*q;
	size_t		 i;
	char		*got;

	for (i = 0; i < t->nslots; i++)
		t->slots[i].values = (const char *const *)t->values[i];
	q = sq_parse(t->noid ? NULL : t->id, t->slots, t->nslots);
	got = dump(q);
	if (regen != NULL)
		fprintf(regen, "%s\n", got);
	else if (!ok(strcmp(got, expect) == 0, "%s: %s", file, name))
		tap_diag("got:\n%s# expected:\n%s", got, expect);
	free(got);
	sq_query_free(q);
}

/*
 * A golden file: cases "=== name", input lines (query NAME | id UUID |
 * noid | slot NAME | value TEXT), "---", then the expected dump. Slot
 * lines are numbered from the "===" line. SQ_REGEN=1 writes FILE.new.
 */
static void
golden_file(const char *dir, const char *file)
{
	struct tcase	 t;
	struct dbuf	 expect;
	FILE		*regen = NULL;
	char		 path[8192], *buf, *line, *next, name[256];
	long		 lineno = 0;
	int		 state = 0;	/* 0 none, 1 input, 2 expected */

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((buf = tap_slurp(path, NULL)) == NULL) {
		ok(0, "read %s", path);
		return;
	}
	if (getenv("SQ_REGEN") != NULL) {
		snprintf(path, sizeof(path), "%s/%s.new", dir, file);
		regen = fopen(path, "w");
	}
	memset(&t, 0, sizeof(t));
	dbuf_init(&expect, 1 << 22);
	name[0] = '\0';
	for (line = buf; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		else if (*line == '\0')
			break;
		if (strncmp(line, "=== ", 4) == 0) {
			if (state == 2)
				tcase_run(&t, file, name, dbuf_str(&expect),
				    regen);
			tcase_free(&t);
			dbuf_reset(&expect);
			strlcpy(name, line + 4, sizeof(name));
			state = 1;
			lineno = 0;
			if (regen != NULL)
				fprintf(regen, "%s\n", line);
			continue;
		}
		if (state == 1) {
			if (regen != NULL)
				fprintf(regen, "%s\n", line);
			lineno++;
			if (strcmp(line, "---") == 0) {
				state = 2;
				continue;
			}
			if (*line == '#' || *line == '\0')
				continue;
			if (tcase_line(&t, line, lineno) == -1)
				ok(0, "%s: %s: bad input line %s", file, name,
				    line);
		} else if (state == 2) {
			if (*line != '\0')
				dbuf_printf(&expect, "%s\n", line);
		} else if (regen != NULL)
			fprintf(regen, "%s\n", line);
	}
	if (state == 2)
		tcase_run(&t, file, name, dbuf_str(&expect), regen);
	tcase_free(&t);
	dbuf_free(&expect);
	if (regen != NULL)
		fclose(regen);
	free(buf);
}

/* qsort order for file names. */
static int
cmpstr(const void *a, const void *b)
{
	return (strcmp(*(const char *const *)a, *(const char *const *)b));
}

/* Every *.txt under tests/data/sq, in name order. */
static void
test_golden(void)
{
	DIR		*d;
	struct dirent	*de;
	char		 dir[4096], **names = NULL;
	size_t		 n = 0, i, len;

	snprintf(dir, sizeof(dir), "%s/shared/tests/data/sq", tap_srcdir());
	if ((d = opendir(dir)) == NULL) {
		ok(0, "open %s", dir);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len > 4 && strcmp(de->d_name + len - 4, ".txt") == 0) {
			names = xreallocarray(names, n + 1, sizeof(*names));
			names[n++] = xstrdup(de->d_name);
		}
	}
	closedir(d);
	ok(n >= 5, "golden files found (%zu)", n);
	qsort(names, n, sizeof(*names), cmpstr);
	for (i = 0; i < n; i++) {
		golden_file(dir, names[i]);
		free(names[i]);
	}
	free(names);
}

/* Names, UUIDs, lookups and the parameter table. */
static void
test_tables(void)
{
	int	k, ok_all = 1, i;
	char	up[64];
	size_t	j;

	for (k = SQ_UNKNOWN + 1; k < SQ_NKINDS; k++) {
		if ((int)sq_query_lookup(sq_query_uuid(k)) != k ||
		    sq_query_name(k) == NULL)
			ok_all = 0;
	}
	ok(ok_all, "every query's UUID looks itself up");
	is_str(sq_query_name(SQ_FIND_DOCUMENTS), "FindDocuments", "name");
	is_str(sq_query_uuid(SQ_GET_SUBMISSION_SET_AND_CONTENTS),
	    "urn:uuid:e8e3cb2c-e39c-46b9-99e4-c12f57260b83", "uuid");
	is_str(sq_query_uuid(SQ_GET_RELATED_DOCUMENTS),
	    "urn:uuid:d90e5407-b356-4d91-a89f-873917b4b0e6",
	    "GetRelatedDocuments uuid");
	is_str(sq_query_uuid(SQ_FIND_FOLDERS_MPQ),
	    "urn:uuid:50d3f5ac-39a2-11de-a1ca-b366239e58df", "ITI-51 uuid");
	ok(sq_query_name(SQ_UNKNOWN) == NULL &&
	    sq_query_uuid(SQ_UNKNOWN) == NULL &&
	    sq_query_name(SQ_NKINDS) == NULL &&
	    sq_query_uuid((enum sq_kind)-1) == NULL,
	    "no name or uuid out of range");
	strlcpy(up, sq_query_uuid(SQ_GET_ALL), sizeof(up));
	for (j = 0; up[j] != '\0'; j++)
		if (up[j] >= 'a' && up[j] <= 'z')
			up[j] = (char)(up[j] - 'a' + 'A');
	is_int(sq_query_lookup(up), SQ_GET_ALL, "lookup ignores case");
	is_int(sq_query_lookup(NULL), SQ_UNKNOWN, "lookup NULL");
	is_int(sq_query_lookup("14d4debf-8f97-4251-9a74-a90016b0af0d"),
	    SQ_UNKNOWN, "lookup needs urn:uuid:");
	is_int(sq_query_lookup("urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d "),
	    SQ_UNKNOWN, "lookup is exact");
	ok_all = 1;
	for (k = SQ_UNKNOWN; k < SQ_NKINDS; k++) {
		if (sq_query_supported(k) != (k >= SQ_FIND_DOCUMENTS &&
		    k <= SQ_GET_RELATED_DOCUMENTS))
			ok_all = 0;
	}
	ok(ok_all, "exactly the 14 ITI-18 queries are supported");
	ok_all = 1;
	for (i = 0; i < SQ_NPARAMS; i++) {
		if (sq_param_name(i) == NULL ||
		    sq_param_lookup(sq_param_name(i)) != i)
			ok_all = 0;
	}
	ok(ok_all, "every parameter name looks itself up");
	is_int(sq_param_lookup("$xdsdocumententrypatientid"), -1,
	    "parameter names are case-sensitive");
	is_int(sq_param_lookup(NULL), -1, "parameter lookup NULL");
	ok(sq_param_name(SQ_NPARAMS) == NULL, "parameter name out of range");
	is_int(sq_param_type(SQ_P_DE_EVENT_CODE_LIST), SQ_T_CODE, "code type");
	is_int(sq_param_type(SQ_P_FOL_PATIENT_ID), SQ_T_CX, "cx type");
	is_int(sq_param_bound(SQ_P_DE_CREATION_TIME_FROM), SQ_BOUND_FROM,
	    "From is inclusive lower bound");
	is_int(sq_param_bound(SQ_P_SS_SUBMISSION_TIME_TO), SQ_BOUND_TO,
	    "To is exclusive upper bound");
	is_int(sq_param_bound(SQ_P_DE_STATUS), SQ_BOUND_NONE, "no bound");
}

/* Typed accessors on a parsed FindDocuments. */
static void
test_accessors(void)
{
	static const char *const spec[] = {
		"$XDSDocumentEntryPatientId", PID, NULL,
		"$XDSDocumentEntryStatus", "('urn:oasis:names:tc:ebxml-regrep:"
		    "StatusType:Approved', 'urn:oasis:names:tc:ebxml-regrep:"
		    "StatusType:Deprecated')", NULL,
		"$XDSDocumentEntryEventCodeList", "('T-D3000^^2.16.840.1."
		    "113883.6.96')", NULL,
		"$XDSDocumentEntryEventCodeList", "('CT^^1.2.840.10008.2.6.1')",
		    "('MR^^1.2.840.10008.2.6.1')", NULL,
		"$XDSDocumentEntryCreationTimeFrom", "20200101", NULL,
		"$Unknown", "'x'", NULL,
		NULL
	};
	struct sq_query		*q;
	const struct sq_param	*p;
	const struct sq_item	*it;

	q = parse_va(sq_query_uuid(SQ_FIND_DOCUMENTS), spec);
	is_int(sq_query_kind(q), SQ_FIND_DOCUMENTS, "kind");
	is_int(sq_nerrors(q), 0, "no errors");
	ok(sq_error(q, 0) == NULL, "no error 0");
	is_int(sq_nwarnings(q), 1, "one warning (unknown parameter)");
	ok(sq_warning(q, 0) != NULL &&
	    strstr(sq_warning(q, 0), "$Unknown") != NULL,
	    "warning names the parameter");
	ok(sq_warning(q, 1) == NULL, "no warning 1");
	is_str(sq_param_value(q, SQ_P_DE_PATIENT_ID), PIDV, "patient id");
	it = sq_param_item(sq_param_get(q, SQ_P_DE_PATIENT_ID), 0, 0);
	is_str(it != NULL ? it->scheme : NULL, "1.3.6.1.4.1.21367.2005.3.7",
	    "patient id assigning authority");
	p = sq_param_get(q, SQ_P_DE_STATUS);
	is_int(sq_param_ngroups(p), 1, "status: one group");
	is_int(sq_param_nitems(p, 0), 2, "status: two items OR-ed");
	is_str(sq_param_item(p, 0, 1)->value, SQ_STATUS_DEPRECATED,
	    "status item 2");
	p = sq_param_get(q, SQ_P_DE_EVENT_CODE_LIST);
	is_int(sq_param_ngroups(p), 2, "eventCodeList: two AND groups");
	is_int(sq_param_nitems(p, 0), 1, "group 1 has one code");
	is_int(sq_param_nitems(p, 1), 2, "group 2 has two codes (2 Values)");
	it = sq_param_item(p, 1, 1);
	ok(it != NULL && strcmp(it->value, "MR") == 0 &&
	    strcmp(it->scheme, "1.2.840.10008.2.6.1") == 0, "code and scheme");
	ok(sq_param_item(p, 2, 0) == NULL && sq_param_item(p, 1, 2) == NULL &&
	    sq_param_nitems(p, 5) == 0, "items out of range");
	is_str(sq_param_value(q, SQ_P_DE_CREATION_TIME_FROM), "20200101",
	    "time value");
	p = sq_param_get(q, SQ_P_DE_TYPE);
	ok(sq_param_defaulted(p), "$XDSDocumentEntryType defaulted");
	is_str(sq_param_value(q, SQ_P_DE_TYPE), SQ_OBJTYPE_STABLE,
	    "default objectType is stable");
	ok(!sq_param_defaulted(sq_param_get(q, SQ_P_DE_STATUS)),
	    "status not defaulted");
	ok(sq_param_get(q, SQ_P_DE_CLASS_CODE) == NULL &&
	    sq_param_value(q, SQ_P_DE_CLASS_CODE) == NULL &&
	    sq_param_ngroups(NULL) == 0 && sq_param_get(q, SQ_NPARAMS) == NULL,
	    "absent parameter");
	sq_query_free(q);
	sq_query_free(NULL);
}

/* The error list itself: code, location, line, message. */
static void
test_errors(void)
{
	static const char *const spec[] = {
		"$XDSDocumentEntryPatientId",
		"c4d77e21d0dd487^^^&1.3.6.1.4.1.21367.2005.3.7&ISO", NULL,
		"$XDSDocumentEntryStatus", APPROVED, NULL,
		"$XDSDocumentEntryStatus", APPROVED, NULL,
		NULL
	};
	struct sq_query		*q;
	const struct sq_error	*e;

	q = parse_va(sq_query_uuid(SQ_FIND_DOCUMENTS), spec);
	is_int(sq_nerrors(q), 2, "two errors");
	e = sq_error(q, 0);
	is_str(e->code, SQ_ERR_REGISTRY, "malformed value code");
	is_str(e->location, "$XDSDocumentEntryPatientId", "location");
	is_int(e->line, 1, "line of the slot");
	ok(strstr(e->message, "FindDocuments") != NULL &&
	    strstr(e->message, "not quoted") != NULL,
	    "message names the query and the problem");
	ok(strstr(e->message, "c4d77e21d0dd487") == NULL,
	    "message does not echo the patient id");
	e = sq_error(q, 1);
	is_str(e->code, SQ_ERR_PARAM_NUMBER, "repeated status");
	is_int(e->line, 3, "line of the repeat");
	ok(sq_param_get(q, SQ_P_DE_PATIENT_ID) == NULL &&
	    sq_param_get(q, SQ_P_DE_STATUS) == NULL,
	    "erroneous parameters are dropped");
	sq_query_free(q);

	q = sq_parse("urn:uuid:00000000-0000-0000-0000-000000000000", NULL, 0);
	is_str(err0(q), SQ_ERR_UNKNOWN_QUERY, "unknown query");
	is_int(sq_query_kind(q), SQ_UNKNOWN, "unknown kind");
	ok(sq_build_from_query(q) == NULL, "no builder for an unknown query");
	sq_query_free(q);
	q = sq_parse("\x01\x02 evil", NULL, 0);
	is_str(sq_error(q, 0)->location, "(unprintable name)",
	    "unprintable id not echoed");
	sq_query_free(q);
}

/* Values with control characters, limits on counts and sizes. */
static void
test_limits(void)
{
	struct sq_slot	 *slots, s[2];
	struct sq_query	 *q;
	const char	**vals;
	char		 *big;
	struct dbuf	  b;
	size_t		  i;
	const char	 *pid = PID, *st = APPROVED, *v[2];

	/* Too many slots. */
	slots = xcalloc(SQ_MAX_SLOTS + 1, sizeof(*slots));
	for (i = 0; i < SQ_MAX_SLOTS + 1; i++) {
		slots[i].name = "$Unknown";
		slots[i].values = &pid;
		slots[i].nvalues = 1;
	}
	q = sq_parse(sq_query_uuid(SQ_FIND_DOCUMENTS), slots, SQ_MAX_SLOTS);
	is_int(sq_nwarnings(q), SQ_MAX_SLOTS, "slots at the limit are read");
	sq_query_free(q);
	q = sq_parse(sq_query_uuid(SQ_FIND_DOCUMENTS), slots,
	    SQ_MAX_SLOTS + 1);
	is_str(err0(q), SQ_ERR_REGISTRY, "too many slots");
	is_int(sq_nerrors(q), 1, "too many slots: one error only");
	sq_query_free(q);
	free(slots);

	/* Too many Values in one slot. */
	vals = xcalloc(SQ_MAX_VALUES + 1, sizeof(*vals));
	for (i = 0; i < SQ_MAX_VALUES + 1; i++)
		vals[i] = st;
	s[0].name = "$XDSDocumentEntryPatientId";
	s[0].values = &pid;
	s[0].nvalues = 1;
	s[0].line = 1;
	s[1].name = "$XDSDocumentEntryStatus";
	s[1].values = vals;
	s[1].nvalues = SQ_MAX_VALUES;
	s[1].line = 2;
	q = sq_parse(sq_query_uuid(SQ_FIND_DOCUMENTS), s, 2);
	is_int(sq_nerrors(q), 0, "values at the limit");
	is_int(sq_param_nitems(sq_param_get(q, SQ_P_DE_STATUS), 0),
	    SQ_MAX_VALUES, "every Value OR-ed");
	sq_query_free(q);
	s[1].nvalues = SQ_MAX_VALUES + 1;
	q = sq_parse(sq_query_uuid(SQ_FIND_DOCUMENTS), s, 2);
	is_str(err0(q), SQ_ERR_REGISTRY, "too many values");
	sq_query_free(q);
	free(vals);

	/* A Value past SQ_MAX_VALUE_LEN. */
	big = xmalloc(SQ_MAX_VALUE_LEN + 8);
	big[0] = '\'';
	memset(big + 1, 'a', SQ_MAX_VALUE_LEN);
	memcpy(big + 1 + SQ_MAX_VALUE_LEN, "'", 2);
	v[0] = big;
	s[0].values = v;
	q = sq_parse(sq_query_uuid(SQ_FIND_DOCUMENTS), s, 1);
	is_str(err0(q), SQ_ERR_REGISTRY, "value too long");
	ok(strstr(sq_error(q, 0)->message, "too long") != NULL,
	    "value too long: message");
	sq_query_free(q);
	free(big);

	/* Too many items in one parameter across Values. */
	dbuf_init(&b, 1 << 20);
	dbuf_addc(&b, '(');
	for (i = 0; i < SQ_MAX_ITEMS / 2 + 1; i++)
		dbuf_printf(&b, "%s'1.2.%zu'", i > 0 ? "," : "", i);
	dbuf_addc(&b, ')');
	v[0] = v[1] = dbuf_str(&b);
	s[0].name = "$XDSDocumentEntryUniqueId";
	s[0].values = v;
	s[0].nvalues = 1;
	q = sq_parse(sq_query_uuid(SQ_GET_DOCUMENTS), s, 1);
	is_int(sq_nerrors(q), 0, "half the item limit");
	sq_query_free(q);
	s[0].nvalues = 2;
	q = sq_parse(sq_query_uuid(SQ_GET_DOCUMENTS), s, 1);
	is_str(err0(q), SQ_ERR_REGISTRY, "too many items across Values");
	sq_query_free(q);
	dbuf_free(&b);

	/* Control characters and NULL values. */
	v[0] = "'abc\x01'";
	s[0].name = "$XDSDocumentEntryPatientId";
	s[0].nvalues = 1;
	q = sq_parse(sq_query_uuid(SQ_FIND_DOCUMENTS), s, 1);
	ok(sq_nerrors(q) >= 1 &&
	    strstr(sq_error(q, 0)->message, "control character") != NULL,
	    "control character rejected");
	sq_query_free(q);
	v[0] = NULL;
	q = sq_parse(sq_query_uuid(SQ_FIND_DOCUMENTS), s, 1);
	is_str(err0(q), SQ_ERR_REGISTRY, "NULL value is empty");
	sq_query_free(q);
	s[0].name = NULL;
	s[0].values = &pid;
	q = sq_parse(sq_query_uuid(SQ_FIND_DOCUMENTS), s, 1);
	ok(sq_nwarnings(q) == 1 &&
	    strstr(sq_warning(q, 0), "(no name)") != NULL,
	    "slot without a name is ignored");
	sq_query_free(q);
}

/* Parse a built query; its dump without warnings, allocated. */
static char *
reparse(struct sq_build *b, struct sq_query **qp)
{
	const struct sq_slot	*slots;
	struct sq_query		*q;
	size_t			 n;
	struct dbuf		 d;

	slots = sq_build_slots(b, &n);
	q = sq_parse(sq_build_id(b), slots, n);
	dbuf_init(&d, 1 << 22);
	sq_dump(q, &d, 0);
	if (qp != NULL)
		*qp = q;
	else
		sq_query_free(q);
	return (d.data == NULL ? xstrdup("") : dbuf_take(&d, NULL));
}

/* Builder: quoting, the consumer queries, build(parse(x)) == x. */
static void
test_builder(void)
{
	static const char *const spec[] = {
		"$XDSDocumentEntryPatientId", PID, NULL,
		"$XDSDocumentEntryStatus", APPROVED, NULL,
		"$XDSDocumentEntryEventCodeList", "('a^^s')", "('b''q^^s, (x)')",
		    NULL,
		"$XDSDocumentEntryEventCodeList", " ( 'c^Disp^s' ) ", NULL,
		"$XDSDocumentEntryAuthorPerson", "('O''Brien%', '_x')", NULL,
		"$XDSDocumentEntryCreationTimeTo", "'2004'", NULL,
		"$XDSDocumentEntryType", "('URN:UUID:34268E47-FDF5-41A6-BA33-"
		    "82133C465248')", NULL,
		"$Ignored", "x", NULL,
		NULL
	};
	struct sq_build		*b;
	struct sq_query		*q, *q2;
	const struct sq_slot	*slots;
	const char		*uuids[2];
	char			*d1, *d2;
	size_t			 n;
	struct dbuf		 d;

	b = sq_build_find_submission_sets("pat'ient^^^&1.2.3&ISO", NULL);
	is_str(sq_build_id(b), sq_query_uuid(SQ_FIND_SUBMISSION_SETS),
	    "FindSubmissionSets id");
	slots = sq_build_slots(b, &n);
	is_int(n, 2, "two slots");
	is_str(slots[0].name, "$XDSSubmissionSetPatientId", "slot 1 name");
	is_str(slots[0].values[0], "'pat''ient^^^&1.2.3&ISO'",
	    "a quote is doubled");
	is_str(slots[1].values[0], APPROVED, "status defaults to Approved");
	d1 = reparse(b, &q);
	is_int(sq_nerrors(q), 0, "FindSubmissionSets re-parses");
	is_str(sq_param_value(q, SQ_P_SS_PATIENT_ID), "pat'ient^^^&1.2.3&ISO",
	    "patient id with a quote round-trips");
	free(d1);
	sq_query_free(q);
	sq_build_free(b);

	b = sq_build_find_submission_sets(PIDV, SQ_STATUS_DEPRECATED);
	d1 = reparse(b, &q);
	is_str(sq_param_value(q, SQ_P_SS_STATUS), SQ_STATUS_DEPRECATED,
	    "explicit status");
	free(d1);
	sq_query_free(q);
	sq_build_free(b);

	b = sq_build_get_ss_and_contents(
	    "urn:uuid:e2f9f3b4-24b6-4b4b-8b4c-0c47c2f5d0a1");
	d1 = reparse(b, &q);
	is_str(d1, "query GetSubmissionSetAndContents "
	    "urn:uuid:e8e3cb2c-e39c-46b9-99e4-c12f57260b83\n"
	    "param $XDSDocumentEntryType objecttype default\n"
	    "  ('urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1')\n"
	    "param $XDSSubmissionSetEntryUUID uuid\n"
	    "  'urn:uuid:e2f9f3b4-24b6-4b4b-8b4c-0c47c2f5d0a1'\n",
	    "GetSubmissionSetAndContents round-trip");
	free(d1);
	sq_query_free(q);
	sq_build_free(b);

	b = sq_build_find_documents(PIDV, NULL);
	d1 = reparse(b, &q);
	is_int(sq_nerrors(q), 0, "FindDocuments builder");
	is_str(sq_param_value(q, SQ_P_DE_PATIENT_ID), PIDV, "its patient");
	free(d1);
	sq_query_free(q);
	sq_build_free(b);

	uuids[0] = "urn:uuid:e2f9f3b4-24b6-4b4b-8b4c-0c47c2f5d0a1";
	uuids[1] = "urn:uuid:11111111-2222-3333-4444-555555555555";
	b = sq_build_get_documents(uuids, 2);
	d1 = reparse(b, &q);
	is_int(sq_param_nitems(sq_param_get(q, SQ_P_DE_ENTRY_UUID), 0), 2,
	    "GetDocuments with two uuids");
	free(d1);
	sq_query_free(q);
	sq_build_free(b);

	/* Lower-level builder calls. */
	b = sq_build_new(SQ_GET_DOCUMENTS);
	{
		const char *codes[] = { "c'1", "c2" };
		const char *schemes[] = { "s1", "s,2)" };

		sq_build_list(b, SQ_P_DE_UNIQUE_ID, uuids, 1);
		sq_build_raw(b, SQ_P_METADATA_LEVEL, "2");
		sq_build_string(b, SQ_P_HOME_COMMUNITY_ID, "urn:oid:1.2.3");
		sq_build_codes(b, SQ_P_DE_FORMAT_CODE, codes, schemes, 2);
	}
	slots = sq_build_slots(b, &n);
	is_int(n, 4, "four slots built");
	is_str(slots[3].values[0], "('c''1^^s1','c2^^s,2)')",
	    "codes quoted");
	is_str(slots[1].values[0], "2", "raw value");
	d1 = reparse(b, &q);
	is_int(sq_nerrors(q), 0, "built GetDocuments parses");
	is_str(sq_param_value(q, SQ_P_METADATA_LEVEL), "2", "metadata level");
	ok(sq_nwarnings(q) == 1, "format code is not a GetDocuments param");
	free(d1);
	sq_query_free(q);
	sq_build_free(b);
	sq_build_free(NULL);

	/* parse -> build -> parse gives the same typed values. */
	q = parse_va(sq_query_uuid(SQ_FIND_DOCUMENTS), spec);
	is_int(sq_nerrors(q), 0, "complex FindDocuments parses");
	b = sq_build_from_query(q);
	dbuf_init(&d, 1 << 22);
	sq_dump(q, &d, 0);
	d1 = dbuf_take(&d, NULL);
	d2 = reparse(b, &q2);
	is_str(d2, d1, "build(parse(x)) re-parses to the same values");
	is_int(sq_nwarnings(q2), 0, "and without warnings");
	ok(strstr(d1, "('b''q^^s, (x)','a^^s')") == NULL &&
	    strstr(d1, "('a^^s','b''q^^s, (x)')") != NULL,
	    "OR items kept in order, quote kept");
	free(d1);
	free(d2);
	sq_query_free(q2);
	sq_build_free(b);
	sq_query_free(q);
}

/* The SQL injection attempt of IPF's iti18request.xml. */
static void
test_injection(void)
{
	static const char *const spec[] = {
		"$XDSDocumentEntryPatientId", "'593603^^^&2.16.756.5.33.2.5.1.5."
		    "1&ISO''%20and%20611%3d611--%20", NULL,
		"$XDSDocumentEntryStatus", APPROVED, NULL,
		"$XDSDocumentEntryCreationTimeFrom", "'20221015151515'", NULL,
		"$XDSDocumentEntryCreationTimeTo", "20221016161616", NULL,
		NULL
	};
	static const char *const spec2[] = {
		"$XDSDocumentEntryPatientId", "'593603^^^&2.16.756.5.33.2.5.1.5."
		    "1&ISO'' and 611=611-- '", NULL,
		"$XDSDocumentEntryStatus", APPROVED, NULL,
		NULL
	};
	static const char *const spec3[] = {
		"$XDSDocumentEntryPatientId", "'x'' OR ''1''=''1;--^^^&1.2.3&"
		    "ISO'", NULL,
		"$XDSDocumentEntryStatus", APPROVED, NULL,
		NULL
	};
	struct sq_query	*q;

	q = parse_va(sq_query_uuid(SQ_FIND_DOCUMENTS), spec);
	is_int(sq_nerrors(q), 1, "IPF injection: one error");
	is_str(err0(q), SQ_ERR_REGISTRY, "IPF injection: XDSRegistryError");
	ok(strstr(sq_error(q, 0)->message, "unbalanced quote") != NULL,
	    "IPF injection: the quote is never closed");
	ok(sq_param_get(q, SQ_P_DE_PATIENT_ID) == NULL,
	    "IPF injection: no patient value comes out");
	is_str(sq_param_value(q, SQ_P_DE_CREATION_TIME_FROM), "20221015151515",
	    "quoted time accepted");
	is_int(sq_nwarnings(q), 1, "quoted time warned");
	is_str(sq_param_value(q, SQ_P_DE_CREATION_TIME_TO), "20221016161616",
	    "unquoted time");
	sq_query_free(q);

	q = parse_va(sq_query_uuid(SQ_FIND_DOCUMENTS), spec2);
	is_str(err0(q), SQ_ERR_REGISTRY, "closed injection is not a CX");
	sq_query_free(q);

	q = parse_va(sq_query_uuid(SQ_FIND_DOCUMENTS), spec3);
	is_int(sq_nerrors(q), 0, "injection inside a CX id parses");
	is_str(sq_param_value(q, SQ_P_DE_PATIENT_ID),
	    "x' OR '1'='1;--^^^&1.2.3&ISO", "as an inert literal");
	sq_query_free(q);
}

/* The NIST and IPF samples' slot values, as C strings. */
static void
test_sample_strings(void)
{
	static const char *const classcode[] = {
		"$XDSDocumentEntryPatientId", PID, NULL,
		"$XDSDocumentEntryStatus", APPROVED, NULL,
		"$XDSDocumentEntryClassCode", "('value^^scheme')", NULL,
		NULL
	};
	static const char *const and11897[] = {
		"$XDSDocumentEntryStatus", APPROVED, NULL,
		"$XDSDocumentEntryPatientId", PID, NULL,
		"$XDSDocumentEntryEventCodeList", "('urn:connectathon:bppc:"
		    "foundational:policy^^1.3.6.1.4.1.21367.2017.3')", NULL,
		"$XDSDocumentEntryEventCodeList", "('urn:connectathon:policy:"
		    "full-access^^1.3.6.1.4.1.21367.2017.3')", NULL,
		NULL
	};
	static const char *const badpid[] = {
		"$XDSDocumentEntryPatientId", PIDV, NULL,
		"$XDSDocumentEntryStatus", APPROVED, NULL,
		NULL
	};
	static const char *const badstat[] = {
		"$XDSDocumentEntryPatientId", PID, NULL,
		"$XDSDocumentEntryStatus",
		"urn:oasis:names:tc:ebxml-regrep:StatusType:Approved", NULL,
		NULL
	};
	static const char *const missingstat[] = {
		"$XDSDocumentEntryPatientId", PID, NULL,
		NULL
	};
	struct sq_query		*q;
	const struct sq_param	*p;

	q = parse_va(sq_query_uuid(SQ_FIND_DOCUMENTS), classcode);
	is_int(sq_nerrors(q), 0, "soap-sq-finddocuments-req: success");
	p = sq_param_get(q, SQ_P_DE_CLASS_CODE);
	ok(p != NULL && strcmp(sq_param_item(p, 0, 0)->value, "value") == 0 &&
	    strcmp(sq_param_item(p, 0, 0)->scheme, "scheme") == 0,
	    "soap-sq-finddocuments-req: classCode value^^scheme");
	sq_query_free(q);

	q = parse_va(sq_query_uuid(SQ_FIND_DOCUMENTS), and11897);
	is_int(sq_nerrors(q), 0, "11897 AND: success");
	p = sq_param_get(q, SQ_P_DE_EVENT_CODE_LIST);
	is_int(sq_param_ngroups(p), 2, "11897 AND: two AND terms");
	is_str(sq_param_item(p, 1, 0)->value,
	    "urn:connectathon:policy:full-access", "11897 AND: second code");
	sq_query_free(q);

	q = parse_va(sq_query_uuid(SQ_FIND_DOCUMENTS), badpid);
	is_int(sq_nerrors(q), 1, "sq-req-bad-pid-format: one error");
	is_str(err0(q), SQ_ERR_REGISTRY, "sq-req-bad-pid-format: code");
	is_str(sq_error(q, 0)->location, "$XDSDocumentEntryPatientId",
	    "sq-req-bad-pid-format: location");
	sq_query_free(q);

	q = parse_va(sq_query_uuid(SQ_FIND_DOCUMENTS), badstat);
	is_int(sq_nerrors(q), 1, "sq-req-bad-stat-format1: one error");
	is_str(err0(q), SQ_ERR_REGISTRY, "sq-req-bad-stat-format1: code");
	is_str(sq_error(q, 0)->location, "$XDSDocumentEntryStatus",
	    "sq-req-bad-stat-format1: location");
	sq_query_free(q);

	q = parse_va(sq_query_uuid(SQ_FIND_DOCUMENTS), missingstat);
	is_int(sq_nerrors(q), 1, "sq-req-missing-stat: one error");
	is_str(err0(q), SQ_ERR_MISSING_PARAM, "sq-req-missing-stat: code");
	is_str(sq_error(q, 0)->location, "$XDSDocumentEntryStatus",
	    "sq-req-missing-stat: location");
	sq_query_free(q);
}

/* Find the rim:AdhocQuery anywhere below n. */
static xmlNode *
find_adhoc(xmlNode *n)
{
	xmlNode	*c, *r;

	if (xml_is(n, XML_NS_RIM, "AdhocQuery"))
		return (n);
	for (c = xml_first(n); c != NULL; c = xml_next(c)) {
		if ((r = find_adhoc(c)) != NULL)
			return (r);
	}
	return (NULL);
}

/*
 * Read a sample from ../shared/xds-samples, optionally replacing the
 * toolkit placeholder, and parse its AdhocQuery; NULL if unreadable.
 */
static struct sq_query *
sample_parse(const char *rel, const char *from, const char *to)
{
	char			 path[8192], *buf, *cause = NULL, *at;
	struct dbuf		 text;
	struct sq_slot		 slots[32];
	char			*vals[32][8];
	size_t			 n = 0, i, j, len;
	xmlDoc			*doc;
	xmlNode			*aq, *s, *vl, *v;
	struct sq_query		*q;

	snprintf(path, sizeof(path), "%s/xds-samples/%s", tap_shareddir(),
	    rel);
	if ((buf = tap_slurp(path, &len)) == NULL)
		return (NULL);
	dbuf_init(&text, 1 << 22);
	if (from != NULL && (at = strstr(buf, from)) != NULL) {
		dbuf_add(&text, buf, (size_t)(at - buf));
		dbuf_addstr(&text, to);
		dbuf_addstr(&text, at + strlen(from));
	} else
		dbuf_add(&text, buf, len);
	free(buf);
	doc = xml_parse(text.data, text.len, NULL, &cause);
	dbuf_free(&text);
	if (doc == NULL) {
		tap_diag("%s: %s", rel, cause);
		free(cause);
		return (NULL);
	}
	aq = find_adhoc(xmlDocGetRootElement(doc));
	for (s = xml_child(aq, XML_NS_RIM, "Slot"); s != NULL && n < 32;
	    s = xml_next_named(s, XML_NS_RIM, "Slot")) {
		slots[n].name = xml_attr(s, "name");
		slots[n].line = xml_line(s);
		slots[n].nvalues = 0;
		vl = xml_child(s, XML_NS_RIM, "ValueList");
		for (v = xml_child(vl, XML_NS_RIM, "Value");
		    v != NULL && slots[n].nvalues < 8;
		    v = xml_next_named(v, XML_NS_RIM, "Value"))
			vals[n][slots[n].nvalues++] = xml_text(v);
		slots[n].values = (const char *const *)vals[n];
		n++;
	}
	q = sq_parse(aq != NULL ? xml_attr(aq, "id") : NULL, slots, n);
	for (i = 0; i < n; i++)
		for (j = 0; j < slots[i].nvalues; j++)
			free(vals[i][j]);
	xml_free(doc);
	return (q);
}

/* The same samples read from ../shared/xds-samples when present. */
static void
test_sample_files(void)
{
	struct sq_query	*q;

	if (tap_shareddir() == NULL) {
		tap_skip(12, "../shared absent: xds-samples not read");
		return;
	}
	q = sample_parse("iti18/soap-sq-finddocuments-req.xml", NULL, NULL);
	ok(q != NULL && sq_nerrors(q) == 0 &&
	    sq_query_kind(q) == SQ_FIND_DOCUMENTS,
	    "file soap-sq-finddocuments-req: success");
	ok(q != NULL && sq_param_value(q, SQ_P_DE_CLASS_CODE) != NULL &&
	    strcmp(sq_param_value(q, SQ_P_DE_CLASS_CODE), "value") == 0,
	    "file soap-sq-finddocuments-req: classCode");
	sq_query_free(q);

	q = sample_parse("iti18/finddocuments-eventcode-AND-11897.xml",
	    "$patient_id$",
	    "c4d77e21d0dd487^^^&amp;1.3.6.1.4.1.21367.2005.3.7&amp;ISO");
	ok(q != NULL && sq_nerrors(q) == 0, "file 11897 AND: success");
	is_int(q != NULL ? sq_param_ngroups(sq_param_get(q,
	    SQ_P_DE_EVENT_CODE_LIST)) : 0, 2, "file 11897 AND: two terms");
	sq_query_free(q);
	q = sample_parse("iti18/finddocuments-eventcode-AND-11897.xml",
	    NULL, NULL);
	ok(q != NULL && sq_nerrors(q) == 1 &&
	    strcmp(err0(q), SQ_ERR_REGISTRY) == 0,
	    "file 11897 with its $patient_id$ placeholder: not a CX");
	sq_query_free(q);

	q = sample_parse("negative/sq-req-bad-pid-format.xml", NULL, NULL);
	ok(q != NULL && sq_nerrors(q) == 1 &&
	    strcmp(err0(q), SQ_ERR_REGISTRY) == 0 &&
	    strcmp(sq_error(q, 0)->location, "$XDSDocumentEntryPatientId") == 0,
	    "file sq-req-bad-pid-format: XDSRegistryError on the patient id");
	ok(q != NULL && sq_error(q, 0)->line == 6,
	    "file sq-req-bad-pid-format: line of the slot");
	sq_query_free(q);
	q = sample_parse("negative/sq-req-bad-stat-format1.xml", NULL, NULL);
	ok(q != NULL && sq_nerrors(q) == 1 &&
	    strcmp(err0(q), SQ_ERR_REGISTRY) == 0 &&
	    strcmp(sq_error(q, 0)->location, "$XDSDocumentEntryStatus") == 0,
	    "file sq-req-bad-stat-format1: XDSRegistryError on the status");
	sq_query_free(q);
	q = sample_parse("negative/sq-req-missing-stat.xml", NULL, NULL);
	ok(q != NULL && sq_nerrors(q) == 1 &&
	    strcmp(err0(q), SQ_ERR_MISSING_PARAM) == 0,
	    "file sq-req-missing-stat: XDSStoredQueryMissingParam");
	sq_query_free(q);
	q = sample_parse("negative/ipf-iti18-sql-injection-request.xml",
	    NULL, NULL);
	ok(q != NULL && sq_nerrors(q) == 1 &&
	    strcmp(err0(q), SQ_ERR_REGISTRY) == 0,
	    "file ipf-iti18-sql-injection: fails safely");
	ok(q != NULL && sq_param_get(q, SQ_P_DE_PATIENT_ID) == NULL,
	    "file ipf-iti18-sql-injection: no patient value");
	ok(q != NULL && sq_param_value(q, SQ_P_DE_CREATION_TIME_TO) != NULL,
	    "file ipf-iti18-sql-injection: the times parse");
	sq_query_free(q);
}

int
main(void)
{
	test_tables();
	test_accessors();
	test_errors();
	test_limits();
	test_builder();
	test_injection();
	test_sample_strings();
	test_sample_files();
	test_golden();
	return (tap_done());
}
