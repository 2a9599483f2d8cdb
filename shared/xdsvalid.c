/* xdsvalid.c: XDS submission rules and value formats. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xdsvalid.h"
#include "xmalloc.h"

#define KOS_FORMAT	"1.2.840.10008.5.1.4.1.1.88.59"
#define DICOM_SCHEME	"1.2.840.10008.2.6.1"
#define DOC_CLASS	"urn:uuid:abd807a3-4432-4053-87b4-fd82c643d1f3"
#define REF_ACCESSION	"urn:ihe:iti:xds:2013:accession"
#define REF_STUDY	"urn:ihe:iti:xds:2016:studyInstanceUID"
#define MAX_VALUE	256	/* ebRIM LongName, in characters */
#define MAX_TITLE	128

/* State of one check: the submission, its flags and the output. */
struct valid {
	const struct xds_submission	*sub;
	int				 flags;
	struct xds_errors		*errs;
	const struct xds_subset		*ss;	/* the one SubmissionSet */
};

/* ------------------------------------------------------------------ */
/* Value formats. */

/* Count of decimal digits at s. */
static size_t
valid_digits(const char *s)
{
	size_t	n = 0;

	while (s[n] >= '0' && s[n] <= '9')
		n++;
	return (n);
}

/* Two digits at s as a number. */
static int
valid_2(const char *s)
{
	return ((s[0] - '0') * 10 + (s[1] - '0'));
}

/* DTM: YYYY[MM[DD[hh[mm[ss]]]]] in UTC, with ranges checked. */
const char *
xdsvalid_dtm(const char *s)
{
	size_t	n = strlen(s);

	if (n == 0 || valid_digits(s) != n)
		return ("is not a DTM (YYYY[MM[DD[hh[mm[ss]]]]], digits only)");
	if (n != 4 && n != 6 && n != 8 && n != 10 && n != 12 && n != 14)
		return ("is not a DTM: it must have 4, 6, 8, 10, 12 or 14 "
		    "digits");
	if (n >= 6 && (valid_2(s + 4) < 1 || valid_2(s + 4) > 12))
		return ("is not a DTM: month out of range");
	if (n >= 8 && (valid_2(s + 6) < 1 || valid_2(s + 6) > 31))
		return ("is not a DTM: day out of range");
	if (n >= 10 && valid_2(s + 8) > 23)
		return ("is not a DTM: hour out of range");
	if (n >= 12 && valid_2(s + 10) > 59)
		return ("is not a DTM: minute out of range");
	if (n >= 14 && valid_2(s + 12) > 59)
		return ("is not a DTM: second out of range");
	return (NULL);
}

/* SHA-1 in hex, either case (NIST 11981). */
const char *
xdsvalid_hash(const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++)
		if (!isxdigit((unsigned char)s[i]))
			break;
	if (s[i] != '\0' || i != 40)
		return ("is not a SHA-1 hash (40 hexadecimal digits)");
	return (NULL);
}

/* A decimal byte count that fits an int64. */
const char *
xdsvalid_size(const char *s)
{
	size_t	n = strlen(s);

	if (n == 0 || valid_digits(s) != n)
		return ("is not a size (a non-negative decimal integer)");
	if (n > 18)
		return ("is not a size: too large");
	return (NULL);
}

/* Dotted decimal arcs, at least two, no leading zeros, at most 64. */
const char *
xdsvalid_oid(const char *s)
{
	const char	*p = s;
	size_t		 n, arcs = 0;

	if (strlen(s) > 64)
		return ("is not an OID: longer than 64 characters");
	for (;;) {
		if ((n = valid_digits(p)) == 0)
			return ("is not an OID (digits separated by dots)");
		if (n > 1 && *p == '0')
			return ("is not an OID: an arc has a leading zero");
		arcs++;
		p += n;
		if (*p == '\0')
			break;
		if (*p++ != '.')
			return ("is not an OID (digits separated by dots)");
	}
	if (arcs < 2)
		return ("is not an OID: it needs at least two arcs");
	return (NULL);
}

/* OID or OID^extension, at most 128 characters. */
const char *
xdsvalid_uniqueid(const char *s)
{
	const char	*ext, *why;
	char		 root[80];
	size_t		 n;

	if (strlen(s) > 128)
		return ("is not a uniqueId: longer than 128 characters");
	if ((ext = strchr(s, '^')) == NULL)
		return (xdsvalid_oid(s));
	n = (size_t)(ext - s);
	if (n >= sizeof(root))
		return ("is not a uniqueId: the OID root is longer than 64 "
		    "characters");
	memcpy(root, s, n);
	root[n] = '\0';
	if ((why = xdsvalid_oid(root)) != NULL)
		return ("is not a uniqueId: the root is not an OID");
	if (ext[1] == '\0' || strlen(ext + 1) > 16 || strchr(ext + 1, '^'))
		return ("is not a uniqueId: the extension after ^ must be 1 "
		    "to 16 characters");
	return (NULL);
}

/* RFC 5646 as IPF checks it. */
const char *
xdsvalid_langcode(const char *s)
{
	size_t	n;

	for (n = 0; isalpha((unsigned char)s[n]); n++)
		;
	if (n < 1 || n > 8)
		return ("is not an RFC 5646 language tag");
	for (s += n; *s == '-'; s += n) {
		for (n = 0; isalnum((unsigned char)s[n + 1]); n++)
			;
		if (n < 1 || n > 8)
			return ("is not an RFC 5646 language tag");
		n++;
	}
	if (*s != '\0')
		return ("is not an RFC 5646 language tag");
	return (NULL);
}

/* type/subtype, parameters allowed. */
const char *
xdsvalid_mimetype(const char *s)
{
	const char	*slash = strchr(s, '/');
	size_t		 i;

	if (slash == NULL || slash == s || slash[1] == '\0' ||
	    strchr(slash + 1, '/') != NULL)
		return ("is not a MIME type (type/subtype)");
	for (i = 0; s[i] != '\0' && s[i] != ';'; i++)
		if (isspace((unsigned char)s[i]) ||
		    iscntrl((unsigned char)s[i]))
			return ("is not a MIME type (type/subtype)");
	return (NULL);
}

/* Component i (0-based) of a '^' separated value into buf; -1 if absent. */
static int
valid_comp(const char *s, size_t i, char sep, char *buf, size_t len)
{
	const char	*e;
	size_t		 n;

	while (i-- > 0) {
		if ((s = strchr(s, sep)) == NULL) {
			if (len > 0)
				buf[0] = '\0';
			return (-1);
		}
		s++;
	}
	e = strchr(s, sep);
	n = e == NULL ? strlen(s) : (size_t)(e - s);
	if (n >= len)
		n = len - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return (0);
}

/* Number of sep-separated components. */
static size_t
valid_ncomp(const char *s, char sep)
{
	size_t	n = 1;

	for (; *s != '\0'; s++)
		n += *s == sep;
	return (n);
}

/* An HD assigning authority "&OID&ISO": NULL when good. */
static const char *
valid_hd(const char *hd, int lenient)
{
	char	ns[256], oid[256], type[256];

	if (*hd == '\0')
		return ("has no assigning authority (^^^&OID&ISO)");
	valid_comp(hd, 0, '&', ns, sizeof(ns));
	valid_comp(hd, 1, '&', oid, sizeof(oid));
	valid_comp(hd, 2, '&', type, sizeof(type));
	if (ns[0] != '\0')
		return ("has an assigning authority with a namespace ID; "
		    "only &OID&ISO is allowed");
	if (strcmp(type, "ISO") != 0 && !(lenient &&
	    strcmp(type, "ISO^") == 0))
		return ("has an assigning authority whose universal ID type "
		    "is not ISO");
	if (xdsvalid_oid(oid) != NULL)
		return ("has an assigning authority that is not an OID");
	if (valid_ncomp(hd, '&') > 3)
		return ("has an assigning authority with too many parts");
	return (NULL);
}

/* id^^^&OID&ISO and nothing else (IPF CX rules). */
const char *
xdsvalid_cx(const char *s)
{
	char	c[256];

	if (strlen(s) > MAX_VALUE)
		return ("is not a CX: longer than 256 characters");
	valid_comp(s, 0, '^', c, sizeof(c));
	if (c[0] == '\0')
		return ("is not a CX: it has no ID (id^^^&OID&ISO)");
	if (valid_ncomp(s, '^') > 4)
		return ("is not a CX: only the ID and the assigning "
		    "authority are allowed");
	if (valid_comp(s, 1, '^', c, sizeof(c)) == 0 && c[0] != '\0')
		return ("is not a CX: only the ID and the assigning "
		    "authority are allowed");
	if (valid_comp(s, 2, '^', c, sizeof(c)) == 0 && c[0] != '\0')
		return ("is not a CX: only the ID and the assigning "
		    "authority are allowed");
	valid_comp(s, 3, '^', c, sizeof(c));
	return (valid_hd(c, 0) == NULL ? NULL : "is not a CX: it is not "
	    "id^^^&OID&ISO with an ISO-typed OID assigning authority");
}

/* Where the referenceIdList type sits, tolerating the edge's "ISO^". */
const char *
xdsvalid_cxi_type(const char *s, char *buf, size_t len)
{
	size_t	i, n = valid_ncomp(s, '^');

	/* CX.5, or CX.6 when "ISO^" pushed it along (the RSNA edge). */
	for (i = 4; i < n && i < 6; i++)
		if (valid_comp(s, i, '^', buf, len) == 0 && buf[0] != '\0')
			return (buf);
	return (NULL);
}

/* referenceIdList value: an ID and a type, authority &OID&ISO if given. */
const char *
xdsvalid_cxi(const char *s)
{
	char	c[256];

	if (strlen(s) > MAX_VALUE)
		return ("is not a CXi: longer than 256 characters");
	valid_comp(s, 0, '^', c, sizeof(c));
	if (c[0] == '\0')
		return ("is not a CXi: it has no ID");
	if (xdsvalid_cxi_type(s, c, sizeof(c)) == NULL)
		return ("is not a CXi: it has no identifier type (CXi.5)");
	valid_comp(s, 3, '^', c, sizeof(c));
	if (c[0] != '\0' && valid_hd(c, 1) != NULL)
		return ("is not a CXi: the assigning authority is not "
		    "&OID&ISO");
	return (NULL);
}

/* A person needs an ID or a family name. */
const char *
xdsvalid_xcn(const char *s)
{
	char	id[256], family[256];

	valid_comp(s, 0, '^', id, sizeof(id));
	valid_comp(s, 1, '^', family, sizeof(family));
	if (id[0] == '\0' && family[0] == '\0')
		return ("is not an XCN: it has neither an ID (XCN.1) nor a "
		    "family name (XCN.2)");
	return (NULL);
}

/* An organization needs a name. */
const char *
xdsvalid_xon(const char *s)
{
	char	name[256];

	valid_comp(s, 0, '^', name, sizeof(name));
	if (name[0] == '\0')
		return ("is not an XON: it has no organization name (XON.1)");
	return (NULL);
}

/* sourcePatientInfo: PID-n|value without the prohibited fields. */
const char *
xdsvalid_pid(const char *s)
{
	size_t	n;
	int	field;

	if (strncmp(s, "PID-", 4) != 0 || (n = valid_digits(s + 4)) == 0 ||
	    n > 2 || s[4 + n] != '|')
		return ("is not of the form PID-n|value");
	field = (n == 1) ? s[4] - '0' : valid_2(s + 4);
	if (field == 2 || field == 4 || field == 12 || field == 19)
		return ("uses a PID field that is not allowed (PID-2, PID-4, "
		    "PID-12 and PID-19 are prohibited)");
	if (field < 1 || field > 39)
		return ("names a PID field outside PID-1 to PID-39");
	return (NULL);
}

/* ------------------------------------------------------------------ */
/* Rules. */

/* Characters of a UTF-8 string. */
static size_t
valid_chars(const char *s)
{
	size_t	n = 0;

	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return (n);
}

/* One error against an object. */
#define VERR(v, code, what, o, line, ...) \
	xdsmeta_error((v)->errs, (code), (what), (o)->id, (line), __VA_ARGS__)

/* Every value of a slot list fits a LongName. */
static void
valid_slot_lengths(struct valid *v, const char *what,
    const struct xds_object *o, const struct xds_slotv *sl)
{
	size_t	i, j;

	for (i = 0; i < sl->n; i++)
		for (j = 0; j < sl->v[i].values.n; j++)
			if (valid_chars(sl->v[i].values.v[j]) > MAX_VALUE)
				VERR(v, XDS_ERR_METADATA, what, o,
				    sl->v[i].line, "slot \"%s\" has a value "
				    "longer than %d characters",
				    sl->v[i].name, MAX_VALUE);
}

/* A well-known slot: presence, single value, format. */
static void
valid_slot(struct valid *v, const char *what, const struct xds_object *o,
    const struct xds_vals *s, const char *name, int required, int multi,
    const char *(*fmt)(const char *), int echo)
{
	const char	*why;
	size_t		 i;

	/*
	 * echo: 0 keeps the value out of the message (patient data), 1
	 * quotes it, 2 quotes what comes before a '|' (sourcePatientInfo).
	 */
	if (!s->set || s->values.n == 0) {
		if (required)
			VERR(v, XDS_ERR_METADATA, what, o, s->set ? s->line :
			    o->line, "slot \"%s\" is missing", name);
		return;
	}
	if (!multi && s->values.n != 1)
		VERR(v, XDS_ERR_METADATA, what, o, s->line, "slot \"%s\" has "
		    "%zu values; exactly one is allowed", name, s->values.n);
	for (i = 0; i < s->values.n; i++) {
		if (valid_chars(s->values.v[i]) > MAX_VALUE) {
			VERR(v, XDS_ERR_METADATA, what, o, s->line, "slot "
			    "\"%s\" has a value longer than %d characters",
			    name, MAX_VALUE);
			continue;
		}
		if (fmt == NULL || (why = fmt(s->values.v[i])) == NULL)
			continue;
		if (echo == 1)
			VERR(v, XDS_ERR_METADATA, what, o, s->line, "%s \"%s\" "
			    "%s", name, s->values.v[i], why);
		else if (echo == 2)	/* the field name only, not the data */
			VERR(v, XDS_ERR_METADATA, what, o, s->line, "%s value "
			    "\"%.*s\" %s", name, (int)strcspn(s->values.v[i],
			    "|"), s->values.v[i], why);
		else
			VERR(v, XDS_ERR_METADATA, what, o, s->line, "%s %s",
			    name, why);
	}
}

/* A coded attribute: how many, and each one's code, scheme and name. */
static void
valid_codes(struct valid *v, const char *what, const struct xds_object *o,
    const struct xds_codev *cv, const char *attr, const char *scheme,
    size_t min, size_t max)
{
	const struct xds_code	*c;
	size_t			 i;

	if (cv->n < min)
		VERR(v, XDS_ERR_METADATA, what, o, o->line, "%s (%s) is "
		    "missing", attr, scheme);
	else if (max != 0 && cv->n > max)
		VERR(v, XDS_ERR_METADATA, what, o, cv->v[max].line, "%s (%s) "
		    "appears %zu times; at most %zu is allowed", attr, scheme,
		    cv->n, max);
	for (i = 0; i < cv->n; i++) {
		c = &cv->v[i];
		if (c->code == NULL || *c->code == '\0') {
			VERR(v, XDS_ERR_METADATA, what, o, c->line, "%s (%s) "
			    "has no code (nodeRepresentation)", attr, scheme);
			continue;
		}
		if (c->nschemes == 0 || c->scheme == NULL || *c->scheme == '\0')
			VERR(v, XDS_ERR_METADATA, what, o, c->line, "%s \"%s\" "
			    "(%s) has no codingScheme", attr, c->code, scheme);
		else if (c->nschemes > 1)
			VERR(v, XDS_ERR_METADATA, what, o, c->line, "%s \"%s\" "
			    "(%s) has %zu codingScheme values; exactly one is "
			    "allowed", attr, c->code, scheme, c->nschemes);
		if (c->display == NULL)
			VERR(v, XDS_ERR_METADATA, what, o, c->line, "%s \"%s\" "
			    "(%s) has no display name (rim:Name)", attr,
			    c->code, scheme);
		valid_slot_lengths(v, what, o, &c->extra);
	}
}

/* Authors: completeness, at most one person, XCN and XON formats. */
static void
valid_authors(struct valid *v, const char *what, const struct xds_object *o,
    const struct xds_authorv *av, const char *scheme)
{
	const struct xds_author	*a;
	const char		*why;
	size_t			 i, j;

	for (i = 0; i < av->n; i++) {
		a = &av->v[i];
		if (a->person.n == 0 && a->institution.n == 0 &&
		    a->telecom.n == 0)
			VERR(v, XDS_ERR_METADATA, what, o, a->line, "author "
			    "(%s) has no authorPerson, authorInstitution or "
			    "authorTelecommunication", scheme);
		if (a->person.n > 1)
			VERR(v, XDS_ERR_METADATA, what, o, a->line, "author "
			    "(%s) has %zu authorPerson values; at most one is "
			    "allowed", scheme, a->person.n);
		for (j = 0; j < a->person.n; j++)
			if ((why = xdsvalid_xcn(a->person.v[j])) != NULL)
				VERR(v, XDS_ERR_METADATA, what, o, a->line,
				    "author (%s) authorPerson \"%s\" %s",
				    scheme, a->person.v[j], why);
		for (j = 0; j < a->institution.n; j++)
			if ((why = xdsvalid_xon(a->institution.v[j])) != NULL)
				VERR(v, XDS_ERR_METADATA, what, o, a->line,
				    "author (%s) authorInstitution \"%s\" %s",
				    scheme, a->institution.v[j], why);
		valid_slot_lengths(v, what, o, &a->extra);
	}
}

/* A well-known ExternalIdentifier: presence and format. */
static void
valid_extid(struct valid *v, const char *what, const struct xds_object *o,
    const struct xds_extid *x, const char *attr, const char *scheme,
    const char *(*fmt)(const char *), int echo)
{
	const char	*why;

	if (!x->set || x->value == NULL || *x->value == '\0') {
		VERR(v, XDS_ERR_METADATA, what, o, x->set ? x->line : o->line,
		    "%s (%s) is missing", attr, scheme);
		return;
	}
	if ((why = fmt(x->value)) == NULL)
		return;
	if (echo)
		VERR(v, XDS_ERR_METADATA, what, o, x->line, "%s (%s) \"%s\" %s",
		    attr, scheme, x->value, why);
	else
		VERR(v, XDS_ERR_METADATA, what, o, x->line, "%s (%s) %s",
		    attr, scheme, why);
}

/* Title and comments: length, and none at all under isn2. */
static void
valid_texts(struct valid *v, const char *what, const struct xds_object *o,
    int isn2)
{
	if (o->title != NULL && valid_chars(o->title) > MAX_TITLE)
		VERR(v, XDS_ERR_METADATA, what, o, o->line, "title (rim:Name) "
		    "is longer than %d characters", MAX_TITLE);
	if (o->comments != NULL && valid_chars(o->comments) > MAX_VALUE)
		VERR(v, XDS_ERR_METADATA, what, o, o->line, "comments "
		    "(rim:Description) are longer than %d characters",
		    MAX_VALUE);
	if (isn2 && o->title != NULL)
		VERR(v, XDS_ERR_METADATA, what, o, o->line, "title (rim:Name) "
		    "is free text, which isn2 metadata must not carry");
	if (isn2 && o->comments != NULL)
		VERR(v, XDS_ERR_METADATA, what, o, o->line, "comments "
		    "(rim:Description) are free text, which isn2 metadata "
		    "must not carry");
	valid_slot_lengths(v, what, o, &o->extra);
}

/* 1 if a referenceIdList holds a value of that type. */
static int
valid_has_ref(const struct xds_vals *s, const char *type)
{
	char	buf[256];
	size_t	i;

	for (i = 0; i < s->values.n; i++)
		if (xdsvalid_cxi_type(s->values.v[i], buf, sizeof(buf)) !=
		    NULL && strcmp(buf, type) == 0)
			return (1);
	return (0);
}

/* A DocumentEntry on its own. */
static void
valid_doc(struct valid *v, const struct xds_docentry *de)
{
	static const char	*what = "DocumentEntry";
	const struct xds_object	*o = &de->o;
	const char		*why, *start, *stop;
	char			 buf[256];
	size_t			 i, n;
	int			 isn2 = (v->flags & XDSVALID_ISN2) != 0;
	int			 reg = (v->flags & XDSVALID_ITI42) != 0;

	if (o->object_type == NULL)
		VERR(v, XDS_ERR_METADATA, what, o, o->line, "objectType is "
		    "missing (stable %s or on-demand %s)", XDS_DE_STABLE,
		    XDS_DE_ONDEMAND);
	else if (strcmp(o->object_type, XDS_DE_STABLE) != 0 &&
	    strcmp(o->object_type, XDS_DE_ONDEMAND) != 0)
		VERR(v, XDS_ERR_METADATA, what, o, o->line, "objectType \"%s\" "
		    "is neither stable (%s) nor on-demand (%s)",
		    o->object_type, XDS_DE_STABLE, XDS_DE_ONDEMAND);
	if (de->limited)
		VERR(v, XDS_ERR_METADATA, what, o, o->line, "carries the "
		    "limitedMetadata classification (%s), which XDS does not "
		    "accept", XDS_LIMITED_DE);
	if (de->mime_type == NULL || *de->mime_type == '\0')
		VERR(v, XDS_ERR_METADATA, what, o, o->line, "mimeType is "
		    "missing");
	else if ((why = xdsvalid_mimetype(de->mime_type)) != NULL)
		VERR(v, XDS_ERR_METADATA, what, o, o->line, "mimeType \"%s\" "
		    "%s", de->mime_type, why);

	valid_authors(v, what, o, &de->authors, XDS_DE_AUTHOR);
	valid_codes(v, what, o, &de->class_code, "classCode",
	    XDS_DE_CLASSCODE, 1, 1);
	valid_codes(v, what, o, &de->conf_code, "confidentialityCode",
	    XDS_DE_CONFCODE, 1, 0);
	valid_codes(v, what, o, &de->event_code, "eventCodeList",
	    XDS_DE_EVENTCODE, 0, 0);
	valid_codes(v, what, o, &de->format_code, "formatCode",
	    XDS_DE_FORMATCODE, 1, 1);
	valid_codes(v, what, o, &de->hcft_code, "healthcareFacilityTypeCode",
	    XDS_DE_HCFTCODE, 1, 1);
	valid_codes(v, what, o, &de->practice_code, "practiceSettingCode",
	    XDS_DE_PRACTICECODE, 1, 1);
	valid_codes(v, what, o, &de->type_code, "typeCode",
	    XDS_DE_TYPECODE, 1, 1);
	valid_extid(v, what, o, &de->patient_id, "patientId",
	    XDS_DE_PATIENTID, xdsvalid_cx, 0);
	valid_extid(v, what, o, &de->unique_id, "uniqueId",
	    XDS_DE_UNIQUEID, xdsvalid_uniqueid, 1);

	valid_slot(v, what, o, &de->creation_time, "creationTime", 1, 0,
	    xdsvalid_dtm, 1);
	valid_slot(v, what, o, &de->language_code, "languageCode", 1, 0,
	    xdsvalid_langcode, 1);
	valid_slot(v, what, o, &de->source_patient_id, "sourcePatientId", 1,
	    0, xdsvalid_cx, 0);
	valid_slot(v, what, o, &de->source_patient_info, "sourcePatientInfo",
	    0, 1, xdsvalid_pid, 2);
	valid_slot(v, what, o, &de->service_start_time, "serviceStartTime",
	    0, 0, xdsvalid_dtm, 1);
	valid_slot(v, what, o, &de->service_stop_time, "serviceStopTime", 0,
	    0, xdsvalid_dtm, 1);
	valid_slot(v, what, o, &de->hash, "hash", reg, 0, xdsvalid_hash, 1);
	valid_slot(v, what, o, &de->size, "size", reg, 0, xdsvalid_size, 1);
	valid_slot(v, what, o, &de->repository_unique_id,
	    "repositoryUniqueId", reg, 0, xdsvalid_oid, 1);
	valid_slot(v, what, o, &de->legal_authenticator,
	    "legalAuthenticator", 0, 0, xdsvalid_xcn, 0);
	valid_slot(v, what, o, &de->reference_id_list,
	    "referenceIdList", 0, 1, xdsvalid_cxi, 1);
	valid_slot(v, what, o, &de->uri, "URI", 0, 1, NULL, 0);
	valid_slot(v, what, o, &de->document_availability,
	    "documentAvailability", 0, 0, NULL, 0);

	start = xdsmeta_val(&de->service_start_time);
	stop = xdsmeta_val(&de->service_stop_time);
	if (start != NULL && stop != NULL && xdsvalid_dtm(start) == NULL &&
	    xdsvalid_dtm(stop) == NULL) {
		n = strlen(start) < strlen(stop) ? strlen(start) : strlen(stop);
		if (strncmp(start, stop, n) > 0)
			VERR(v, XDS_ERR_METADATA, what, o,
			    de->service_stop_time.line, "serviceStartTime "
			    "\"%s\" is after serviceStopTime \"%s\"", start,
			    stop);
	}
	valid_texts(v, what, o, isn2);

	if (isn2) {
		for (i = 0; i < de->source_patient_info.values.n; i++) {
			if (strncmp(de->source_patient_info.values.v[i],
			    "PID-3|", 6) == 0)
				continue;
			valid_comp(de->source_patient_info.values.v[i], 0,
			    '|', buf, sizeof(buf));
			VERR(v, XDS_ERR_METADATA, what, o,
			    de->source_patient_info.line, "sourcePatientInfo "
			    "carries %s (%s); isn2 metadata holds no names, "
			    "birth dates or other demographics", buf,
			    strcmp(buf, "PID-5") == 0 ? "patient name" :
			    strcmp(buf, "PID-7") == 0 ? "birth date" :
			    "demographics");
		}
		if (valid_has_ref(&de->reference_id_list, REF_ACCESSION))
			VERR(v, XDS_ERR_METADATA, what, o,
			    de->reference_id_list.line, "referenceIdList "
			    "carries an accession number (%s), which isn2 "
			    "metadata must not carry", REF_ACCESSION);
	}

	/* XDS-I.b manifests (xds.md 2.5). */
	if (de->format_code.n == 1 && de->format_code.v[0].code != NULL &&
	    strcmp(de->format_code.v[0].code, KOS_FORMAT) == 0) {
		if (de->mime_type != NULL &&
		    strcmp(de->mime_type, "application/dicom") != 0)
			VERR(v, XDS_ERR_METADATA, what, o, o->line, "KOS "
			    "manifest (formatCode %s) has mimeType \"%s\"; "
			    "XDS-I.b requires application/dicom", KOS_FORMAT,
			    de->mime_type);
		if (de->format_code.v[0].scheme != NULL &&
		    strcmp(de->format_code.v[0].scheme, DICOM_SCHEME) != 0)
			VERR(v, XDS_ERR_METADATA, what, o,
			    de->format_code.v[0].line, "formatCode \"%s\" (%s) "
			    "has codingScheme \"%s\"; XDS-I.b requires %s",
			    KOS_FORMAT, XDS_DE_FORMATCODE,
			    de->format_code.v[0].scheme, DICOM_SCHEME);
		if (!isn2 && !valid_has_ref(&de->reference_id_list,
		    REF_ACCESSION))
			VERR(v, XDS_ERR_METADATA, what, o, o->line, "KOS "
			    "manifest has no referenceIdList value of type %s "
			    "(the DICOM Accession Number)", REF_ACCESSION);
		if (isn2 && !valid_has_ref(&de->reference_id_list, REF_STUDY))
			VERR(v, XDS_ERR_METADATA, what, o, o->line, "KOS "
			    "manifest has no referenceIdList value of type %s",
			    REF_STUDY);
	}
}

/* The SubmissionSet on its own. */
static void
valid_subset(struct valid *v, const struct xds_subset *ss)
{
	static const char	*what = "SubmissionSet";
	const struct xds_object	*o = &ss->o;
	const char		*enc = NULL;
	size_t			 i;

	if (ss->limited)
		VERR(v, XDS_ERR_METADATA, what, o, o->line, "carries the "
		    "limitedMetadata classification (%s), which XDS does not "
		    "accept", XDS_LIMITED_SUBSET);
	valid_authors(v, what, o, &ss->authors, XDS_SS_AUTHOR);
	valid_codes(v, what, o, &ss->content_type, "contentTypeCode",
	    XDS_SS_CONTENTTYPE, 1, 1);
	valid_extid(v, what, o, &ss->patient_id, "patientId",
	    XDS_SS_PATIENTID, xdsvalid_cx, 0);
	valid_extid(v, what, o, &ss->source_id, "sourceId", XDS_SS_SOURCEID,
	    xdsvalid_oid, 1);
	valid_extid(v, what, o, &ss->unique_id, "uniqueId", XDS_SS_UNIQUEID,
	    xdsvalid_oid, 1);
	valid_slot(v, what, o, &ss->submission_time, "submissionTime", 1, 0,
	    xdsvalid_dtm, 1);
	valid_slot(v, what, o, &ss->intended_recipient, "intendedRecipient",
	    0, 1, NULL, 0);
	valid_texts(v, what, o, v->flags & XDSVALID_ISN2);
	if ((v->flags & XDSVALID_ISN2) == 0)
		return;
	for (i = 0; i < o->extra.n; i++)
		if (strcmp(o->extra.v[i].name, XDS_SLOT_ISN_ENCRYPTION) == 0 &&
		    o->extra.v[i].values.n == 1)
			enc = o->extra.v[i].values.v[0];
	if (enc == NULL || strcmp(enc, "isn2") != 0)
		VERR(v, XDS_ERR_METADATA, what, o, o->line, "slot \"%s\" must "
		    "be \"isn2\" with the isn2 profile",
		    XDS_SLOT_ISN_ENCRYPTION);
}

/* A Folder on its own. */
static void
valid_folder(struct valid *v, const struct xds_folder *fd)
{
	static const char	*what = "Folder";
	const struct xds_object	*o = &fd->o;

	if (fd->limited)
		VERR(v, XDS_ERR_METADATA, what, o, o->line, "carries the "
		    "limitedMetadata classification (%s), which XDS does not "
		    "accept", XDS_LIMITED_FOLDER);
	valid_codes(v, what, o, &fd->code_list, "codeList", XDS_FD_CODELIST,
	    1, 0);
	valid_extid(v, what, o, &fd->patient_id, "patientId",
	    XDS_FD_PATIENTID, xdsvalid_cx, 0);
	valid_extid(v, what, o, &fd->unique_id, "uniqueId", XDS_FD_UNIQUEID,
	    xdsvalid_uniqueid, 1);
	valid_slot(v, what, o, &fd->last_update_time, "lastUpdateTime", 0, 0,
	    xdsvalid_dtm, 1);
	if (o->title == NULL)
		VERR(v, XDS_ERR_METADATA, what, o, o->line, "title (rim:Name) "
		    "is missing");
	valid_texts(v, what, o, 0);
}

/* Known association types (xds.md 2.1). */
static int
valid_assoc_type(const char *t)
{
	static const char *known[] = {
		XDS_ASSOC_HASMEMBER,
		"urn:ihe:iti:2007:AssociationType:RPLC",
		"urn:ihe:iti:2007:AssociationType:XFRM",
		"urn:ihe:iti:2007:AssociationType:APND",
		"urn:ihe:iti:2007:AssociationType:XFRM_RPLC",
		"urn:ihe:iti:2007:AssociationType:signs",
		"urn:ihe:iti:2010:AssociationType:IsSnapshotOf",
		"urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus",
		"urn:ihe:iti:2010:AssociationType:SubmitAssociation",
		NULL
	};
	size_t	i;

	for (i = 0; known[i] != NULL; i++)
		if (strcmp(t, known[i]) == 0)
			return (1);
	return (0);
}

/* Kind of the object an id names in the submission: 'D', 'S', 'F', 'A'. */
static int
valid_kind(const struct xds_submission *sub, const char *id)
{
	size_t	i;

	if (id == NULL)
		return (0);
	for (i = 0; i < sub->ndocs; i++)
		if (sub->docs[i].o.id && strcmp(sub->docs[i].o.id, id) == 0)
			return ('D');
	for (i = 0; i < sub->nsubsets; i++)
		if (sub->subsets[i].o.id &&
		    strcmp(sub->subsets[i].o.id, id) == 0)
			return ('S');
	for (i = 0; i < sub->nfolders; i++)
		if (sub->folders[i].o.id &&
		    strcmp(sub->folders[i].o.id, id) == 0)
			return ('F');
	for (i = 0; i < sub->nassocs; i++)
		if (sub->assocs[i].o.id && strcmp(sub->assocs[i].o.id, id) == 0)
			return ('A');
	return (0);
}

/* The association from the SubmissionSet of that type to id, or NULL. */
static const struct xds_assoc *
valid_member(const struct valid *v, const char *source, const char *id)
{
	const struct xds_submission	*sub = v->sub;
	size_t				 i;

	for (i = 0; source != NULL && id != NULL && i < sub->nassocs; i++)
		if (sub->assocs[i].type != NULL &&
		    strcmp(sub->assocs[i].type, XDS_ASSOC_HASMEMBER) == 0 &&
		    sub->assocs[i].source != NULL &&
		    sub->assocs[i].target != NULL &&
		    strcmp(sub->assocs[i].source, source) == 0 &&
		    strcmp(sub->assocs[i].target, id) == 0)
			return (&sub->assocs[i]);
	return (NULL);
}

/* An Association on its own and what it links. */
static void
valid_assoc(struct valid *v, const struct xds_assoc *as)
{
	static const char	*what = "Association";
	const struct xds_object	*o = &as->o;
	const char		*ssid = v->ss != NULL ? v->ss->o.id : NULL;
	const char		*st;
	int			 sk, tk;
	size_t			 i;

	if (as->type == NULL || *as->type == '\0') {
		VERR(v, XDS_ERR_METADATA, what, o, o->line, "associationType "
		    "is missing");
		return;
	}
	if (!valid_assoc_type(as->type))
		VERR(v, XDS_ERR_METADATA, what, o, o->line, "associationType "
		    "\"%s\" is not an XDS association type", as->type);
	if (as->source == NULL || *as->source == '\0')
		VERR(v, XDS_ERR_METADATA, what, o, o->line, "sourceObject is "
		    "missing");
	if (as->target == NULL || *as->target == '\0')
		VERR(v, XDS_ERR_METADATA, what, o, o->line, "targetObject is "
		    "missing");
	if (as->source == NULL || as->target == NULL)
		return;
	sk = valid_kind(v->sub, as->source);
	tk = valid_kind(v->sub, as->target);
	if (sk == 0 && strncasecmp(as->source, "urn:uuid:", 9) != 0)
		VERR(v, XDS_ERR_METADATA, what, o, o->line, "sourceObject "
		    "\"%s\" names no object in the submission and is not a "
		    "UUID", as->source);
	if (tk == 0 && strncasecmp(as->target, "urn:uuid:", 9) != 0)
		VERR(v, XDS_ERR_METADATA, what, o, o->line, "targetObject "
		    "\"%s\" names no object in the submission and is not a "
		    "UUID", as->target);
	if (strcmp(as->type, XDS_ASSOC_HASMEMBER) != 0)
		return;
	for (i = 0; i < o->other.n; i++)
		if (!o->other.v[i].extid && o->other.v[i].scheme != NULL &&
		    strcmp(o->other.v[i].scheme, DOC_CLASS) == 0)
			VERR(v, XDS_ERR_METADATA, what, o, o->other.v[i].line,
			    "a HasMember association must not carry a "
			    "documentation classification (%s)", DOC_CLASS);
	if (sk == 'S' && tk == 'D') {
		st = xdsmeta_val(&as->subset_status);
		if (st == NULL)
			VERR(v, XDS_ERR_METADATA, what, o, o->line, "HasMember "
			    "from the SubmissionSet to a DocumentEntry has no "
			    "SubmissionSetStatus slot");
		else if (as->subset_status.values.n != 1 ||
		    (strcmp(st, "Original") != 0 &&
		    strcmp(st, "Reference") != 0))
			VERR(v, XDS_ERR_METADATA, what, o,
			    as->subset_status.line, "SubmissionSetStatus "
			    "must be a single \"Original\" or \"Reference\"");
	}
	if (sk == 'F' && tk == 'D' && ssid != NULL && o->id != NULL &&
	    valid_member(v, ssid, o->id) == NULL)
		VERR(v, XDS_ERR_METADATA, what, o, o->line, "HasMember from "
		    "Folder \"%s\" is not itself a member of the "
		    "SubmissionSet (no HasMember from the SubmissionSet to "
		    "this association)", as->source);
}

/* uniqueId number i of entries, then folders, then sets, with its object. */
static const char *
valid_uid(const struct xds_submission *sub, size_t i, const char **whatp,
    const struct xds_object **op, long *linep)
{
	const struct xds_extid	*x;
	const struct xds_object	*o;
	const char		*what;

	if (i < sub->ndocs) {
		x = &sub->docs[i].unique_id;
		o = &sub->docs[i].o;
		what = "DocumentEntry";
	} else if ((i -= sub->ndocs) < sub->nfolders) {
		x = &sub->folders[i].unique_id;
		o = &sub->folders[i].o;
		what = "Folder";
	} else {
		i -= sub->nfolders;
		x = &sub->subsets[i].unique_id;
		o = &sub->subsets[i].o;
		what = "SubmissionSet";
	}
	if (whatp != NULL) {
		*whatp = what;
		*op = o;
		*linep = x->line;
	}
	return (x->set ? x->value : NULL);
}

/* Patients, memberships and uniqueIds across objects. */
static void
valid_cross(struct valid *v)
{
	const struct xds_submission	*sub = v->sub;
	const struct xds_object		*o;
	const char			*ssid, *pid, *uid, *uid2, *what;
	size_t				 i, j, n;
	long				 line;

	ssid = v->ss != NULL ? v->ss->o.id : NULL;
	pid = v->ss != NULL && v->ss->patient_id.set ?
	    v->ss->patient_id.value : NULL;
	for (i = 0; i < sub->ndocs; i++) {
		if (pid != NULL && sub->docs[i].patient_id.value != NULL &&
		    strcmp(pid, sub->docs[i].patient_id.value) != 0)
			VERR(v, XDS_ERR_PATIENT, "DocumentEntry",
			    &sub->docs[i].o, sub->docs[i].patient_id.line,
			    "patientId (%s) does not match the "
			    "SubmissionSet's patientId", XDS_DE_PATIENTID);
		if (ssid != NULL && sub->docs[i].o.id != NULL &&
		    valid_member(v, ssid, sub->docs[i].o.id) == NULL)
			VERR(v, XDS_ERR_METADATA, "DocumentEntry",
			    &sub->docs[i].o, sub->docs[i].o.line, "is not a "
			    "member of SubmissionSet \"%s\" (no HasMember "
			    "association)", ssid);
	}
	for (i = 0; i < sub->nfolders; i++) {
		if (pid != NULL && sub->folders[i].patient_id.value != NULL &&
		    strcmp(pid, sub->folders[i].patient_id.value) != 0)
			VERR(v, XDS_ERR_PATIENT, "Folder", &sub->folders[i].o,
			    sub->folders[i].patient_id.line, "patientId (%s) "
			    "does not match the SubmissionSet's patientId",
			    XDS_FD_PATIENTID);
		if (ssid != NULL && sub->folders[i].o.id != NULL &&
		    valid_member(v, ssid, sub->folders[i].o.id) == NULL)
			VERR(v, XDS_ERR_METADATA, "Folder", &sub->folders[i].o,
			    sub->folders[i].o.line, "is not a member of "
			    "SubmissionSet \"%s\" (no HasMember association)",
			    ssid);
	}

	/* uniqueIds of entries, folders and the set, pairwise. */
	n = sub->ndocs + sub->nfolders + sub->nsubsets;
	for (i = 0; i < n; i++) {
		if ((uid = valid_uid(sub, i, &what, &o, &line)) == NULL)
			continue;
		for (j = 0; j < i; j++) {
			uid2 = valid_uid(sub, j, NULL, NULL, NULL);
			if (uid2 == NULL || strcmp(uid, uid2) != 0)
				continue;
			VERR(v, XDS_ERR_DUP_UNIQUEID, what, o, line, "uniqueId "
			    "\"%s\" is used by another object of the "
			    "submission", uid);
			break;
		}
	}
}

/* Documents of the message against the entries. */
static void
valid_documents(struct valid *v, const struct xdsvalid_doc *docs,
    size_t ndocs)
{
	const struct xds_submission	*sub = v->sub;
	const struct xds_docentry	*de;
	const char			*h, *sz;
	char				 buf[32];
	size_t				 i, j;

	for (i = 0; i < sub->ndocs; i++) {
		de = &sub->docs[i];
		for (j = 0; j < ndocs; j++)
			if (de->o.id != NULL && docs[j].id != NULL &&
			    strcmp(de->o.id, docs[j].id) == 0)
				break;
		if (j == ndocs) {
			VERR(v, XDS_ERR_MISSING_DOC, "DocumentEntry", &de->o,
			    de->o.line, "has no document (xdsb:Document) in "
			    "the message");
			continue;
		}
		h = xdsmeta_val(&de->hash);
		if (h != NULL && docs[j].sha1 != NULL &&
		    strcasecmp(h, docs[j].sha1) != 0)
			VERR(v, XDS_ERR_REPO_METADATA, "DocumentEntry", &de->o,
			    de->hash.line, "hash \"%s\" does not match the "
			    "document's SHA-1 %s", h, docs[j].sha1);
		sz = xdsmeta_val(&de->size);
		if (sz != NULL && docs[j].size >= 0) {
			snprintf(buf, sizeof(buf), "%lld",
			    (long long)docs[j].size);
			if (strcmp(sz, buf) != 0)
				VERR(v, XDS_ERR_REPO_METADATA, "DocumentEntry",
				    &de->o, de->size.line, "size \"%s\" does "
				    "not match the document's size %s", sz,
				    buf);
		}
	}
	for (j = 0; j < ndocs; j++)
		if (xdsmeta_find_doc(sub, docs[j].id) == NULL)
			xdsmeta_error(v->errs, XDS_ERR_MISSING_META, "Document",
			    docs[j].id, 0, "has no DocumentEntry in the "
			    "metadata");
}

/* All rules over one submission, in document order, then across objects. */
size_t
xdsvalid_check(const struct xds_submission *sub, int flags,
    const struct xdsvalid_doc *docs, size_t ndocs, struct xds_errors *errs)
{
	struct valid		 v;
	size_t			 i;

	memset(&v, 0, sizeof(v));
	v.sub = sub;
	v.flags = flags;
	v.errs = errs;
	xdsmeta_errors_copy(errs, &sub->errors);
	if (sub->nsubsets != 1)
		xdsmeta_error(errs, XDS_ERR_METADATA, "RegistryObjectList",
		    NULL, sub->nsubsets > 1 ? sub->subsets[1].o.line : 0,
		    "the submission has %zu SubmissionSets; exactly one is "
		    "required", sub->nsubsets);
	else
		v.ss = &sub->subsets[0];
	for (i = 0; i < sub->nsubsets; i++)
		valid_subset(&v, &sub->subsets[i]);
	for (i = 0; i < sub->nfolders; i++)
		valid_folder(&v, &sub->folders[i]);
	for (i = 0; i < sub->ndocs; i++)
		valid_doc(&v, &sub->docs[i]);
	for (i = 0; i < sub->nassocs; i++)
		valid_assoc(&v, &sub->assocs[i]);
	valid_cross(&v);
	if (flags & XDSVALID_ITI41)
		valid_documents(&v, docs, ndocs);
	return (errs->n);
}
