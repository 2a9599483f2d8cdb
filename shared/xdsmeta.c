/* xdsmeta.c: the XDS metadata model, read from and written to ebRIM 3.0. */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "log.h"
#include "xdsmeta.h"
#include "xmalloc.h"
#include "xml.h"

/* Grow a (pointer, count) array by one zeroed element and return it. */
#define META_PUSH(arr, cnt) \
	((arr) = xreallocarray((arr), (cnt) + 1, sizeof(*(arr))), \
	memset(&(arr)[(cnt)], 0, sizeof(*(arr))), &(arr)[(cnt)++])

#define META_FIELD(base, off, type) ((type *)(void *)((char *)(base) + (off)))
#define META_CFIELD(base, off, type) \
	((const type *)(const void *)((const char *)(base) + (off)))

/* The kinds of registry object the tables describe. */
enum meta_kind {
	META_DOC,
	META_SUBSET,
	META_FOLDER,
	META_ASSOC
};

struct meta_slotdef {
	const char	*name;
	size_t		 off;		/* struct xds_vals */
};

struct meta_codedef {
	const char	*scheme;
	const char	*attr;		/* for messages */
	size_t		 off;		/* struct xds_codev */
};

struct meta_iddef {
	const char	*scheme;
	const char	*name;		/* rim:Name of the identifier */
	size_t		 off;		/* struct xds_extid */
};

/* What one kind of object holds, for parsing, writing, comparing, freeing. */
struct meta_type {
	const char			*what;
	const struct meta_slotdef	*slots;
	const struct meta_codedef	*codes;
	const struct meta_iddef		*ids;
	const char			*author_scheme;
	size_t				 author_off;	/* struct xds_authorv */
	const char			*limited_node;
	size_t				 limited_off;	/* int */
	size_t				 size;
};

#define DE(f)	offsetof(struct xds_docentry, f)
#define SS(f)	offsetof(struct xds_subset, f)
#define FD(f)	offsetof(struct xds_folder, f)
#define AS(f)	offsetof(struct xds_assoc, f)

static const struct meta_slotdef meta_de_slots[] = {
	{ "creationTime", DE(creation_time) },
	{ "languageCode", DE(language_code) },
	{ "sourcePatientId", DE(source_patient_id) },
	{ "sourcePatientInfo", DE(source_patient_info) },
	{ "serviceStartTime", DE(service_start_time) },
	{ "serviceStopTime", DE(service_stop_time) },
	{ "hash", DE(hash) },
	{ "size", DE(size) },
	{ "repositoryUniqueId", DE(repository_unique_id) },
	{ "legalAuthenticator", DE(legal_authenticator) },
	{ XDS_SLOT_REFIDLIST, DE(reference_id_list) },
	{ "URI", DE(uri) },
	{ "documentAvailability", DE(document_availability) },
	{ NULL, 0 }
};
static const struct meta_codedef meta_de_codes[] = {
	{ XDS_DE_CLASSCODE, "classCode", DE(class_code) },
	{ XDS_DE_CONFCODE, "confidentialityCode", DE(conf_code) },
	{ XDS_DE_EVENTCODE, "eventCodeList", DE(event_code) },
	{ XDS_DE_FORMATCODE, "formatCode", DE(format_code) },
	{ XDS_DE_HCFTCODE, "healthcareFacilityTypeCode", DE(hcft_code) },
	{ XDS_DE_PRACTICECODE, "practiceSettingCode", DE(practice_code) },
	{ XDS_DE_TYPECODE, "typeCode", DE(type_code) },
	{ NULL, NULL, 0 }
};
static const struct meta_iddef meta_de_ids[] = {
	{ XDS_DE_PATIENTID, "XDSDocumentEntry.patientId", DE(patient_id) },
	{ XDS_DE_UNIQUEID, "XDSDocumentEntry.uniqueId", DE(unique_id) },
	{ NULL, NULL, 0 }
};
static const struct meta_slotdef meta_ss_slots[] = {
	{ "submissionTime", SS(submission_time) },
	{ "intendedRecipient", SS(intended_recipient) },
	{ NULL, 0 }
};
static const struct meta_codedef meta_ss_codes[] = {
	{ XDS_SS_CONTENTTYPE, "contentTypeCode", SS(content_type) },
	{ NULL, NULL, 0 }
};
static const struct meta_iddef meta_ss_ids[] = {
	{ XDS_SS_UNIQUEID, "XDSSubmissionSet.uniqueId", SS(unique_id) },
	{ XDS_SS_SOURCEID, "XDSSubmissionSet.sourceId", SS(source_id) },
	{ XDS_SS_PATIENTID, "XDSSubmissionSet.patientId", SS(patient_id) },
	{ NULL, NULL, 0 }
};
static const struct meta_slotdef meta_fd_slots[] = {
	{ "lastUpdateTime", FD(last_update_time) },
	{ NULL, 0 }
};
static const struct meta_codedef meta_fd_codes[] = {
	{ XDS_FD_CODELIST, "codeList", FD(code_list) },
	{ NULL, NULL, 0 }
};
static const struct meta_iddef meta_fd_ids[] = {
	{ XDS_FD_PATIENTID, "XDSFolder.patientId", FD(patient_id) },
	{ XDS_FD_UNIQUEID, "XDSFolder.uniqueId", FD(unique_id) },
	{ NULL, NULL, 0 }
};
static const struct meta_slotdef meta_as_slots[] = {
	{ "SubmissionSetStatus", AS(subset_status) },
	{ NULL, 0 }
};
static const struct meta_codedef meta_no_codes[] = { { NULL, NULL, 0 } };
static const struct meta_iddef meta_no_ids[] = { { NULL, NULL, 0 } };

static const struct meta_type meta_types[] = {
	[META_DOC] = { "DocumentEntry", meta_de_slots, meta_de_codes,
	    meta_de_ids, XDS_DE_AUTHOR, DE(authors), XDS_LIMITED_DE,
	    DE(limited), sizeof(struct xds_docentry) },
	[META_SUBSET] = { "SubmissionSet", meta_ss_slots, meta_ss_codes,
	    meta_ss_ids, XDS_SS_AUTHOR, SS(authors), XDS_LIMITED_SUBSET,
	    SS(limited), sizeof(struct xds_subset) },
	[META_FOLDER] = { "Folder", meta_fd_slots, meta_fd_codes,
	    meta_fd_ids, NULL, 0, XDS_LIMITED_FOLDER, FD(limited),
	    sizeof(struct xds_folder) },
	[META_ASSOC] = { "Association", meta_as_slots, meta_no_codes,
	    meta_no_ids, NULL, 0, NULL, 0, sizeof(struct xds_assoc) },
};

/* Author slot names and where they go. */
static const struct {
	const char	*name;
	size_t		 off;
} meta_author_slots[] = {
	{ "authorPerson", offsetof(struct xds_author, person) },
	{ "authorInstitution", offsetof(struct xds_author, institution) },
	{ "authorRole", offsetof(struct xds_author, role) },
	{ "authorSpecialty", offsetof(struct xds_author, specialty) },
	{ "authorTelecommunication", offsetof(struct xds_author, telecom) },
	{ NULL, 0 }
};

/* Parser state: the result, counters against the limits, a hard failure. */
struct meta_parse {
	struct xds_submission	*sub;
	size_t			 nobjects;
	char			*fail;
	/* Package id -> kind from the marker classifications. */
	struct meta_mark {
		const char	*pkg;
		const char	*node;
		const char	*id;
		long		 line;
	}			*marks;
	size_t			 nmarks;
};

/* ------------------------------------------------------------------ */
/* Errors. */

/* Record one problem with its location and full sentence. */
void
xdsmeta_error(struct xds_errors *e, const char *code, const char *what,
    const char *id, long line, const char *fmt, ...)
{
	struct xds_error	*x;
	va_list			 ap;
	char			*text;

	x = META_PUSH(e->v, e->n);
	x->code = code;
	x->line = line;
	if (id != NULL && line > 0)
		xasprintf(&x->location, "%s \"%s\" (line %ld)", what, id, line);
	else if (id != NULL)
		xasprintf(&x->location, "%s \"%s\"", what, id);
	else if (line > 0)
		xasprintf(&x->location, "%s (line %ld)", what, line);
	else
		xasprintf(&x->location, "%s", what);
	va_start(ap, fmt);
	xvasprintf(&text, fmt, ap);
	va_end(ap);
	xasprintf(&x->message, "%s: %s", x->location, text);
	free(text);
}

/* The line a validator prints: code, then the sentence. */
char *
xdsmeta_error_str(const struct xds_error *x)
{
	char	*s;

	xasprintf(&s, "%s %s", x->code, x->message);
	return (s);
}

/* Append copies of src to dst (the validator starts from the parser's list). */
void
xdsmeta_errors_copy(struct xds_errors *dst, const struct xds_errors *src)
{
	struct xds_error	*x;
	size_t			 i;

	for (i = 0; i < src->n; i++) {
		x = META_PUSH(dst->v, dst->n);
		x->code = src->v[i].code;
		x->line = src->v[i].line;
		x->location = xstrdup(src->v[i].location);
		x->message = xstrdup(src->v[i].message);
	}
}

/* Release every error and empty the list. */
void
xdsmeta_errors_free(struct xds_errors *e)
{
	size_t	i;

	for (i = 0; i < e->n; i++) {
		free(e->v[i].location);
		free(e->v[i].message);
	}
	free(e->v);
	e->v = NULL;
	e->n = 0;
}

/* ------------------------------------------------------------------ */
/* Freeing. */

/* Release a list of strings and empty it. */
static void
meta_strv_free(struct xds_strv *sv)
{
	size_t	i;

	for (i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

/* Release slots and their values. */
static void
meta_slotv_free(struct xds_slotv *sl)
{
	size_t	i;

	for (i = 0; i < sl->n; i++) {
		free(sl->v[i].name);
		meta_strv_free(&sl->v[i].values);
	}
	free(sl->v);
}

/* Release coded values. */
static void
meta_codev_free(struct xds_codev *cv)
{
	size_t	i;

	for (i = 0; i < cv->n; i++) {
		free(cv->v[i].id);
		free(cv->v[i].code);
		free(cv->v[i].scheme);
		free(cv->v[i].display);
		meta_slotv_free(&cv->v[i].extra);
	}
	free(cv->v);
}

/* Release authors and all their slots. */
static void
meta_authorv_free(struct xds_authorv *av)
{
	struct xds_author	*a;
	size_t			 i, j;

	for (i = 0; i < av->n; i++) {
		a = &av->v[i];
		free(a->id);
		for (j = 0; meta_author_slots[j].name != NULL; j++)
			meta_strv_free(META_FIELD(a, meta_author_slots[j].off,
			    struct xds_strv));
		meta_slotv_free(&a->extra);
	}
	free(av->v);
}

/* Everything an object of the given kind owns (not the object itself). */
static void
meta_object_free(enum meta_kind kind, void *obj)
{
	const struct meta_type	*t = &meta_types[kind];
	struct xds_object	*o = obj;
	struct xds_extid	*x;
	size_t			 i;

	free(o->id);
	free(o->lid);
	free(o->status);
	free(o->home);
	free(o->object_type);
	free(o->title);
	free(o->comments);
	meta_slotv_free(&o->extra);
	for (i = 0; i < o->other.n; i++) {
		free(o->other.v[i].id);
		free(o->other.v[i].scheme);
		free(o->other.v[i].node);
		free(o->other.v[i].value);
		free(o->other.v[i].name);
		meta_slotv_free(&o->other.v[i].slots);
	}
	free(o->other.v);
	for (i = 0; t->slots[i].name != NULL; i++)
		meta_strv_free(&META_FIELD(obj, t->slots[i].off,
		    struct xds_vals)->values);
	for (i = 0; t->codes[i].scheme != NULL; i++)
		meta_codev_free(META_FIELD(obj, t->codes[i].off,
		    struct xds_codev));
	for (i = 0; t->ids[i].scheme != NULL; i++) {
		x = META_FIELD(obj, t->ids[i].off, struct xds_extid);
		free(x->id);
		free(x->value);
	}
	if (t->author_scheme != NULL)
		meta_authorv_free(META_FIELD(obj, t->author_off,
		    struct xds_authorv));
	switch (kind) {
	case META_DOC:
		free(((struct xds_docentry *)obj)->mime_type);
		break;
	case META_SUBSET:
		free(((struct xds_subset *)obj)->node_id);
		break;
	case META_FOLDER:
		free(((struct xds_folder *)obj)->node_id);
		break;
	case META_ASSOC:
		free(((struct xds_assoc *)obj)->type);
		free(((struct xds_assoc *)obj)->source);
		free(((struct xds_assoc *)obj)->target);
		break;
	}
}

/* Release a submission and everything it owns. */
void
xdsmeta_free(struct xds_submission *sub)
{
	size_t	i;

	if (sub == NULL)
		return;
	for (i = 0; i < sub->ndocs; i++)
		meta_object_free(META_DOC, &sub->docs[i]);
	for (i = 0; i < sub->nsubsets; i++)
		meta_object_free(META_SUBSET, &sub->subsets[i]);
	for (i = 0; i < sub->nfolders; i++)
		meta_object_free(META_FOLDER, &sub->folders[i]);
	for (i = 0; i < sub->nassocs; i++)
		meta_object_free(META_ASSOC, &sub->assocs[i]);
	free(sub->docs);
	free(sub->subsets);
	free(sub->folders);
	free(sub->assocs);
	meta_strv_free(&sub->objectrefs);
	xdsmeta_errors_free(&sub->errors);
	free(sub);
}

/* ------------------------------------------------------------------ */
/* Parsing. */

/* xstrdup that passes NULL through (absent attributes). */
static char *
meta_dup(const char *s)
{
	return (s == NULL ? NULL : xstrdup(s));
}

/* Text of an element with surrounding whitespace removed. */
static char *
meta_trimmed(const xmlNode *n)
{
	char	*s, *p, *e;

	s = xml_text(n);
	for (p = s; *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'; p++)
		;
	e = p + strlen(p);
	while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
	    e[-1] == '\r'))
		e--;
	*e = '\0';
	if (p != s)
		memmove(s, p, (size_t)(e - p) + 1);
	return (s);
}

/* The value attribute of the first LocalizedString of a Name/Description. */
static char *
meta_intl(const xmlNode *n)
{
	xmlNode	*ls;

	if (n == NULL || (ls = xml_child(n, XML_NS_RIM,
	    "LocalizedString")) == NULL)
		return (NULL);
	return (meta_dup(xml_attr(ls, "value")));
}

/* An object's Name or Description: ebRIM allows one (a second leaked). */
static void
meta_intl_once(struct meta_parse *mp, char **dst, const xmlNode *n,
    const char *what, const char *id)
{
	if (*dst != NULL) {
		xdsmeta_error(&mp->sub->errors, XDS_ERR_METADATA, what, id,
		    xml_line(n), "more than one %s", n->name);
		return;
	}
	*dst = meta_intl(n);
}

/*
 * A scheme or node URI compared with whitespace removed and without case
 * (IPF's sample has "...-92fd- a8ff..."): 1 when it is that constant.
 */
static int
meta_uri_is(const char *got, const char *want)
{
	if (got == NULL)
		return (0);
	for (;;) {
		while (isspace((unsigned char)*got))
			got++;
		if (*got == '\0' || *want == '\0')
			return (*got == *want);
		if (tolower((unsigned char)*got) !=
		    tolower((unsigned char)*want))
			return (0);
		got++;
		want++;
	}
}

/* Report a known URI written with whitespace or in upper case. */
static void
meta_uri_note(struct xds_submission *sub, const char *what, const char *id,
    long line, const char *attr, const char *got, const char *want)
{
	if (strcmp(got, want) != 0)
		xdsmeta_error(&sub->errors, XDS_ERR_METADATA, what, id, line,
		    "%s \"%s\" is malformed; read as %s", attr, got, want);
}

/* Count an object against the limits; 0 when the limit is passed. */
static int
meta_count(struct meta_parse *mp, size_t *children)
{
	if (mp->fail != NULL)
		return (0);
	if (children != NULL && ++*children > XDSMETA_MAX_CHILDREN) {
		xasprintf(&mp->fail, "an object has more than %d slots or "
		    "classifications", XDSMETA_MAX_CHILDREN);
		return (0);
	}
	if (children == NULL && ++mp->nobjects > XDSMETA_MAX_OBJECTS) {
		xasprintf(&mp->fail, "more than %d registry objects",
		    XDSMETA_MAX_OBJECTS);
		return (0);
	}
	return (1);
}

/* Read the values of a rim:Slot. */
static int
meta_values(struct meta_parse *mp, const xmlNode *slot, struct xds_strv *sv)
{
	xmlNode	*vl, *v;

	if ((vl = xml_child(slot, XML_NS_RIM, "ValueList")) == NULL)
		return (0);
	for (v = xml_first(vl); v != NULL; v = xml_next(v)) {
		if (!xml_is(v, XML_NS_RIM, "Value"))
			continue;
		if (sv->n >= XDSMETA_MAX_VALUES) {
			xasprintf(&mp->fail, "a slot has more than %d values",
			    XDSMETA_MAX_VALUES);
			return (-1);
		}
		*META_PUSH(sv->v, sv->n) = meta_trimmed(v);
	}
	return (0);
}

/* Add a slot to a list of free slots, flagging a repeated name. */
static void
meta_slot_extra(struct meta_parse *mp, struct xds_slotv *sl, const char *name,
    const xmlNode *n, const char *what, const char *id)
{
	struct xds_slot	*s;
	size_t		 i;

	for (i = 0; i < sl->n; i++)
		if (strcmp(sl->v[i].name, name) == 0)
			xdsmeta_error(&mp->sub->errors, XDS_ERR_METADATA, what,
			    id, xml_line(n), "slot \"%s\" appears more than "
			    "once", name);
	s = META_PUSH(sl->v, sl->n);
	s->name = xstrdup(name);
	s->line = xml_line(n);
	meta_values(mp, n, &s->values);
}

/* Slots of a classification: codingScheme or author slots, else extra. */
static void
meta_class_slots(struct meta_parse *mp, const xmlNode *cl, struct xds_code *c,
    struct xds_author *a, struct xds_slotv *extra, const char *id)
{
	struct xds_strv	 sv, *dst;
	xmlNode		*n;
	const char	*name;
	size_t		 i, children = 0;

	for (n = xml_child(cl, XML_NS_RIM, "Slot"); n != NULL;
	    n = xml_next_named(n, XML_NS_RIM, "Slot")) {
		if (!meta_count(mp, &children))
			return;
		if ((name = xml_attr(n, "name")) == NULL) {
			xdsmeta_error(&mp->sub->errors, XDS_ERR_METADATA,
			    "Classification", id, xml_line(n),
			    "a slot has no name");
			continue;
		}
		dst = NULL;
		if (c != NULL && strcmp(name, "codingScheme") == 0) {
			memset(&sv, 0, sizeof(sv));
			meta_values(mp, n, &sv);
			c->nschemes += sv.n;
			if (c->scheme == NULL && sv.n > 0) {
				c->scheme = sv.v[0];
				sv.v[0] = NULL;
			}
			meta_strv_free(&sv);
			continue;
		}
		for (i = 0; a != NULL && meta_author_slots[i].name != NULL; i++)
			if (strcmp(name, meta_author_slots[i].name) == 0)
				dst = META_FIELD(a, meta_author_slots[i].off,
				    struct xds_strv);
		if (dst != NULL) {
			if (dst->n != 0)
				xdsmeta_error(&mp->sub->errors,
				    XDS_ERR_METADATA, "Classification", id,
				    xml_line(n), "slot \"%s\" appears more "
				    "than once", name);
			meta_values(mp, n, dst);
			continue;
		}
		meta_slot_extra(mp, extra, name, n, "Classification", id);
	}
}

/* A Classification on an object of the given kind. */
static void
meta_classification(struct meta_parse *mp, enum meta_kind kind, void *obj,
    const xmlNode *n)
{
	const struct meta_type	*t = &meta_types[kind];
	struct xds_object	*o = obj;
	struct xds_authorv	*av;
	struct xds_author	*a;
	struct xds_codev	*cv;
	struct xds_code		*c;
	struct xds_other	*x;
	const char		*scheme, *node, *id;
	size_t			 i;

	scheme = xml_attr(n, "classificationScheme");
	node = xml_attr(n, "classificationNode");
	id = xml_attr(n, "id");
	if (node != NULL && t->limited_node != NULL &&
	    meta_uri_is(node, t->limited_node)) {
		*META_FIELD(obj, t->limited_off, int) = 1;
		return;
	}
	if (node != NULL && scheme == NULL && kind != META_DOC &&
	    kind != META_ASSOC && (meta_uri_is(node, XDS_NODE_SUBSET) ||
	    meta_uri_is(node, XDS_NODE_FOLDER)))
		return;		/* marker, taken in the first pass */
	if (scheme != NULL && t->author_scheme != NULL &&
	    meta_uri_is(scheme, t->author_scheme)) {
		meta_uri_note(mp->sub, "Classification", id, xml_line(n),
		    "classificationScheme", scheme, t->author_scheme);
		av = META_FIELD(obj, t->author_off, struct xds_authorv);
		a = META_PUSH(av->v, av->n);
		a->id = meta_dup(id);
		a->line = xml_line(n);
		meta_class_slots(mp, n, NULL, a, &a->extra, id);
		return;
	}
	for (i = 0; scheme != NULL && t->codes[i].scheme != NULL; i++) {
		if (!meta_uri_is(scheme, t->codes[i].scheme))
			continue;
		meta_uri_note(mp->sub, "Classification", id, xml_line(n),
		    "classificationScheme", scheme, t->codes[i].scheme);
		cv = META_FIELD(obj, t->codes[i].off, struct xds_codev);
		c = META_PUSH(cv->v, cv->n);
		c->id = meta_dup(id);
		c->code = meta_dup(xml_attr(n, "nodeRepresentation"));
		c->display = meta_intl(xml_child(n, XML_NS_RIM, "Name"));
		c->line = xml_line(n);
		meta_class_slots(mp, n, c, NULL, &c->extra, id);
		return;
	}
	x = META_PUSH(o->other.v, o->other.n);
	x->id = meta_dup(id);
	x->scheme = meta_dup(scheme);
	x->node = meta_dup(node);
	x->value = meta_dup(xml_attr(n, "nodeRepresentation"));
	x->name = meta_intl(xml_child(n, XML_NS_RIM, "Name"));
	x->line = xml_line(n);
	meta_class_slots(mp, n, NULL, NULL, &x->slots, id);
}

/* An ExternalIdentifier on an object of the given kind. */
static void
meta_extid(struct meta_parse *mp, enum meta_kind kind, void *obj,
    const xmlNode *n)
{
	const struct meta_type	*t = &meta_types[kind];
	struct xds_object	*o = obj;
	struct xds_extid	*e;
	struct xds_other	*x;
	const char		*scheme, *id;
	size_t			 i;

	scheme = xml_attr(n, "identificationScheme");
	id = xml_attr(n, "id");
	for (i = 0; scheme != NULL && t->ids[i].scheme != NULL; i++) {
		if (!meta_uri_is(scheme, t->ids[i].scheme))
			continue;
		meta_uri_note(mp->sub, "ExternalIdentifier", id, xml_line(n),
		    "identificationScheme", scheme, t->ids[i].scheme);
		e = META_FIELD(obj, t->ids[i].off, struct xds_extid);
		if (e->set) {
			xdsmeta_error(&mp->sub->errors, XDS_ERR_METADATA,
			    t->what, o->id, xml_line(n), "%s (%s) appears "
			    "more than once", t->ids[i].name,
			    t->ids[i].scheme);
			return;
		}
		e->set = 1;
		e->id = meta_dup(id);
		e->value = meta_dup(xml_attr(n, "value"));
		e->line = xml_line(n);
		return;
	}
	x = META_PUSH(o->other.v, o->other.n);
	x->extid = 1;
	x->id = meta_dup(id);
	x->scheme = meta_dup(scheme);
	x->value = meta_dup(xml_attr(n, "value"));
	x->name = meta_intl(xml_child(n, XML_NS_RIM, "Name"));
	x->line = xml_line(n);
	meta_class_slots(mp, n, NULL, NULL, &x->slots, id);
}

/* One registry object and what it nests. */
static void
meta_object(struct meta_parse *mp, enum meta_kind kind, void *obj,
    const xmlNode *el)
{
	const struct meta_type	*t = &meta_types[kind];
	struct xds_object	*o = obj;
	struct xds_vals		*v;
	xmlNode			*n;
	const char		*name, *ref;
	size_t			 i, children = 0;

	o->id = meta_dup(xml_attr(el, "id"));
	o->lid = meta_dup(xml_attr(el, "lid"));
	o->status = meta_dup(xml_attr(el, "status"));
	o->home = meta_dup(xml_attr(el, "home"));
	o->object_type = meta_dup(xml_attr(el, "objectType"));
	o->line = xml_line(el);
	if (o->id == NULL || *o->id == '\0')
		xdsmeta_error(&mp->sub->errors, XDS_ERR_METADATA, t->what,
		    NULL, o->line, "%s has no id", el->name);
	for (n = xml_first(el); n != NULL; n = xml_next(n)) {
		if (!meta_count(mp, &children))
			return;
		if (xml_is(n, XML_NS_RIM, "Name"))
			meta_intl_once(mp, &o->title, n, t->what, o->id);
		else if (xml_is(n, XML_NS_RIM, "Description"))
			meta_intl_once(mp, &o->comments, n, t->what, o->id);
		else if (xml_is(n, XML_NS_RIM, "Slot")) {
			if ((name = xml_attr(n, "name")) == NULL) {
				xdsmeta_error(&mp->sub->errors,
				    XDS_ERR_METADATA, t->what, o->id,
				    xml_line(n), "a slot has no name");
				continue;
			}
			v = NULL;
			for (i = 0; t->slots[i].name != NULL; i++)
				if (strcmp(name, t->slots[i].name) == 0)
					v = META_FIELD(obj, t->slots[i].off,
					    struct xds_vals);
			if (v == NULL) {
				meta_slot_extra(mp, &o->extra, name, n,
				    t->what, o->id);
				continue;
			}
			if (v->set) {
				xdsmeta_error(&mp->sub->errors,
				    XDS_ERR_METADATA, t->what, o->id,
				    xml_line(n), "slot \"%s\" appears more "
				    "than once", name);
				continue;
			}
			v->set = 1;
			v->line = xml_line(n);
			meta_values(mp, n, &v->values);
		} else if (xml_is(n, XML_NS_RIM, "Classification")) {
			ref = xml_attr(n, "classifiedObject");
			if (ref != NULL && o->id != NULL &&
			    strcmp(ref, o->id) != 0)
				xdsmeta_error(&mp->sub->errors,
				    XDS_ERR_METADATA, "Classification",
				    xml_attr(n, "id"), xml_line(n),
				    "classifiedObject \"%s\" is not the "
				    "enclosing %s \"%s\"", ref, t->what, o->id);
			meta_classification(mp, kind, obj, n);
		} else if (xml_is(n, XML_NS_RIM, "ExternalIdentifier")) {
			ref = xml_attr(n, "registryObject");
			if (ref != NULL && o->id != NULL &&
			    strcmp(ref, o->id) != 0)
				xdsmeta_error(&mp->sub->errors,
				    XDS_ERR_METADATA, "ExternalIdentifier",
				    xml_attr(n, "id"), xml_line(n),
				    "registryObject \"%s\" is not the "
				    "enclosing %s \"%s\"", ref, t->what, o->id);
			meta_extid(mp, kind, obj, n);
		}
	}
}

/* Find an object of any kind by id; returns its kind or -1. */
static int
meta_lookup(struct xds_submission *sub, const char *id, void **objp)
{
	size_t	i;

	for (i = 0; i < sub->ndocs; i++)
		if (sub->docs[i].o.id != NULL &&
		    strcmp(sub->docs[i].o.id, id) == 0) {
			*objp = &sub->docs[i];
			return (META_DOC);
		}
	for (i = 0; i < sub->nsubsets; i++)
		if (sub->subsets[i].o.id != NULL &&
		    strcmp(sub->subsets[i].o.id, id) == 0) {
			*objp = &sub->subsets[i];
			return (META_SUBSET);
		}
	for (i = 0; i < sub->nfolders; i++)
		if (sub->folders[i].o.id != NULL &&
		    strcmp(sub->folders[i].o.id, id) == 0) {
			*objp = &sub->folders[i];
			return (META_FOLDER);
		}
	for (i = 0; i < sub->nassocs; i++)
		if (sub->assocs[i].o.id != NULL &&
		    strcmp(sub->assocs[i].o.id, id) == 0) {
			*objp = &sub->assocs[i];
			return (META_ASSOC);
		}
	return (-1);
}

/* 1 if a SubmissionSet or Folder has that id. */
static int
meta_is_package(const struct xds_submission *sub, const char *id)
{
	size_t	i;

	for (i = 0; i < sub->nsubsets; i++)
		if (sub->subsets[i].o.id != NULL &&
		    strcmp(sub->subsets[i].o.id, id) == 0)
			return (1);
	for (i = 0; i < sub->nfolders; i++)
		if (sub->folders[i].o.id != NULL &&
		    strcmp(sub->folders[i].o.id, id) == 0)
			return (1);
	return (0);
}

/* The entry a document id names (xdsb:Document/@id), or NULL. */
struct xds_docentry *
xdsmeta_find_doc(const struct xds_submission *sub, const char *id)
{
	size_t	i;

	for (i = 0; id != NULL && i < sub->ndocs; i++)
		if (sub->docs[i].o.id != NULL &&
		    strcmp(sub->docs[i].o.id, id) == 0)
			return (&sub->docs[i]);
	return (NULL);
}

/* Remember marker classifications (top level or in a package). */
static void
meta_mark(struct meta_parse *mp, const xmlNode *n, const char *pkg)
{
	struct meta_mark	*m;
	const char		*node, *ref;

	node = xml_attr(n, "classificationNode");
	if (node == NULL || xml_attr(n, "classificationScheme") != NULL)
		return;
	if (!meta_uri_is(node, XDS_NODE_SUBSET) &&
	    !meta_uri_is(node, XDS_NODE_FOLDER))
		return;
	ref = xml_attr(n, "classifiedObject");
	if (ref == NULL)
		ref = pkg;
	if (ref == NULL)
		return;
	m = META_PUSH(mp->marks, mp->nmarks);
	m->pkg = ref;
	m->node = meta_uri_is(node, XDS_NODE_SUBSET) ? XDS_NODE_SUBSET :
	    XDS_NODE_FOLDER;
	m->id = xml_attr(n, "id");
	m->line = xml_line(n);
	meta_uri_note(mp->sub, "Classification", m->id, m->line,
	    "classificationNode", node, m->node);
}

/* A RegistryPackage: SubmissionSet or Folder according to its markers. */
static void
meta_package(struct meta_parse *mp, const xmlNode *el)
{
	struct xds_submission	*sub = mp->sub;
	struct xds_subset	*ss;
	struct xds_folder	*fd;
	const char		*id = xml_attr(el, "id"), *node = NULL;
	const char		*nid = NULL;
	size_t			 i;

	for (i = 0; id != NULL && i < mp->nmarks; i++) {
		if (strcmp(mp->marks[i].pkg, id) != 0)
			continue;
		if (node != NULL && strcmp(node, mp->marks[i].node) != 0)
			xdsmeta_error(&sub->errors, XDS_ERR_METADATA,
			    "RegistryPackage", id, xml_line(el), "is "
			    "classified both as SubmissionSet (%s) and as "
			    "Folder (%s); taken as SubmissionSet",
			    XDS_NODE_SUBSET, XDS_NODE_FOLDER);
		if (node == NULL ||
		    strcmp(mp->marks[i].node, XDS_NODE_SUBSET) == 0) {
			node = mp->marks[i].node;
			nid = mp->marks[i].id;
		}
	}
	if (node == NULL) {
		xdsmeta_error(&sub->errors, XDS_ERR_METADATA,
		    "RegistryPackage", id, xml_line(el), "is neither a "
		    "SubmissionSet (%s) nor a Folder (%s): no classification "
		    "node names it", XDS_NODE_SUBSET, XDS_NODE_FOLDER);
		return;
	}
	if (strcmp(node, XDS_NODE_SUBSET) == 0) {
		ss = META_PUSH(sub->subsets, sub->nsubsets);
		meta_object(mp, META_SUBSET, ss, el);
		ss->node_id = meta_dup(nid);
	} else {
		fd = META_PUSH(sub->folders, sub->nfolders);
		meta_object(mp, META_FOLDER, fd, el);
		fd->node_id = meta_dup(nid);
	}
}

/* A top-level Classification or ExternalIdentifier: attach to its object. */
static void
meta_toplevel(struct meta_parse *mp, const xmlNode *n, int extid)
{
	struct xds_submission	*sub = mp->sub;
	const char		*ref, *what, *node;
	void			*obj;
	int			 kind;

	what = extid ? "ExternalIdentifier" : "Classification";
	ref = xml_attr(n, extid ? "registryObject" : "classifiedObject");
	node = xml_attr(n, "classificationNode");
	if (ref == NULL || *ref == '\0') {
		xdsmeta_error(&sub->errors, XDS_ERR_METADATA, what,
		    xml_attr(n, "id"), xml_line(n), "has no %s",
		    extid ? "registryObject" : "classifiedObject");
		return;
	}
	if ((kind = meta_lookup(sub, ref, &obj)) == -1) {
		if (!extid && node != NULL &&
		    xml_attr(n, "classificationScheme") == NULL &&
		    (meta_uri_is(node, XDS_NODE_SUBSET) ||
		    meta_uri_is(node, XDS_NODE_FOLDER))) {
			xdsmeta_error(&sub->errors, XDS_ERR_METADATA, what,
			    xml_attr(n, "id"), xml_line(n), "classifiedObject "
			    "\"%s\" names no RegistryPackage in the "
			    "submission", ref);
			return;
		}
		xdsmeta_error(&sub->errors, XDS_ERR_METADATA, what,
		    xml_attr(n, "id"), xml_line(n), "%s \"%s\" names no "
		    "object in the submission",
		    extid ? "registryObject" : "classifiedObject", ref);
		return;
	}
	if (extid)
		meta_extid(mp, kind, obj, n);
	else
		meta_classification(mp, kind, obj, n);
}

struct meta_idref {
	const char	*id;
	const char	*what;
	long		 line;
};

/* qsort order of object ids. */
static int
meta_idref_cmp(const void *a, const void *b)
{
	const struct meta_idref	*x = a, *y = b;
	int			 r;

	if ((r = strcmp(x->id, y->id)) != 0)
		return (r);
	return (x->line < y->line ? -1 : x->line > y->line);
}

/* Flag ids that more than one registry object uses. */
static void
meta_check_ids(struct xds_submission *sub)
{
	struct meta_idref	*v = NULL;
	size_t			 n = 0, i, j;
	const struct xds_object	*o;

	for (i = 0; i < sub->ndocs + sub->nsubsets + sub->nfolders +
	    sub->nassocs; i++) {
		j = i;
		if (j < sub->ndocs)
			o = &sub->docs[j].o;
		else if ((j -= sub->ndocs) < sub->nsubsets)
			o = &sub->subsets[j].o;
		else if ((j -= sub->nsubsets) < sub->nfolders)
			o = &sub->folders[j].o;
		else
			o = &sub->assocs[j - sub->nfolders].o;
		if (o->id == NULL || *o->id == '\0')
			continue;
		v = xreallocarray(v, n + 1, sizeof(*v));
		v[n].id = o->id;
		v[n].line = o->line;
		v[n++].what = i < sub->ndocs ? "DocumentEntry" :
		    i < sub->ndocs + sub->nsubsets ? "SubmissionSet" :
		    i < sub->ndocs + sub->nsubsets + sub->nfolders ? "Folder" :
		    "Association";
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), meta_idref_cmp);
	for (i = 1; i < n; i++)
		if (strcmp(v[i].id, v[i - 1].id) == 0)
			xdsmeta_error(&sub->errors, XDS_ERR_METADATA,
			    v[i].what, v[i].id, v[i].line, "id is already "
			    "used by the %s at line %ld", v[i - 1].what,
			    v[i - 1].line);
	free(v);
}

/* The RegistryObjectList at or below n (bounded depth), any namespace. */
static const xmlNode *
meta_find_list(const xmlNode *n, int depth)
{
	const xmlNode	*c, *r;

	if (xml_is(n, NULL, "RegistryObjectList"))
		return (n);
	if (depth == 0)
		return (NULL);
	for (c = xml_first(n); c != NULL; c = xml_next(c))
		if ((r = meta_find_list(c, depth - 1)) != NULL)
			return (r);
	return (NULL);
}

/* 1 when an element is in an ebXML RegRep 2.1 namespace. */
static int
meta_is_ebxml21(const xmlNode *n)
{
	const char	*href;

	if (n == NULL || n->type != XML_ELEMENT_NODE || n->ns == NULL ||
	    n->ns->href == NULL)
		return (0);
	href = (const char *)n->ns->href;
	return (strncmp(href, "urn:oasis:names:tc:ebxml-regrep:", 32) == 0 &&
	    strstr(href, "2.1") != NULL);
}

/* Read every object of the list; only missing or unsafe input fails. */
struct xds_submission *
xdsmeta_parse(const xmlNode *top, char **cause)
{
	struct meta_parse	 mp;
	struct xds_submission	*sub;
	const xmlNode		*list, *n, *c;
	const char		*ref;

	if (top == NULL || (list = meta_find_list(top, 6)) == NULL) {
		if (meta_is_ebxml21(top))
			goto ebxml21;
		xasprintf(cause, "no rim:RegistryObjectList in the message");
		return (NULL);
	}
	if (meta_is_ebxml21(list) || meta_is_ebxml21(list->parent))
		goto ebxml21;
	if (!xml_is(list, XML_NS_RIM, NULL)) {
		xasprintf(cause, "RegistryObjectList (line %ld) is not in the "
		    "ebRIM 3.0 namespace %s", xml_line(list), XML_NS_RIM);
		return (NULL);
	}

	memset(&mp, 0, sizeof(mp));
	mp.sub = sub = xcalloc(1, sizeof(*sub));

	/* First pass: which packages are SubmissionSets or Folders. */
	for (n = xml_first(list); n != NULL; n = xml_next(n)) {
		if (xml_is(n, XML_NS_RIM, "Classification"))
			meta_mark(&mp, n, NULL);
		else if (xml_is(n, XML_NS_RIM, "RegistryPackage"))
			for (c = xml_child(n, XML_NS_RIM, "Classification");
			    c != NULL; c = xml_next_named(c, XML_NS_RIM,
			    "Classification"))
				meta_mark(&mp, c, xml_attr(n, "id"));
	}

	/* Second pass: the objects. */
	for (n = xml_first(list); n != NULL && mp.fail == NULL;
	    n = xml_next(n)) {
		if (meta_is_ebxml21(n)) {
			free(mp.marks);
			xdsmeta_free(sub);
			goto ebxml21;
		}
		if (!xml_is(n, XML_NS_RIM, NULL) || !meta_count(&mp, NULL))
			continue;
		if (xml_is(n, XML_NS_RIM, "ExtrinsicObject")) {
			struct xds_docentry *de = META_PUSH(sub->docs,
			    sub->ndocs);

			meta_object(&mp, META_DOC, de, n);
			de->mime_type = meta_dup(xml_attr(n, "mimeType"));
		}
		else if (xml_is(n, XML_NS_RIM, "RegistryPackage"))
			meta_package(&mp, n);
		else if (xml_is(n, XML_NS_RIM, "Association")) {
			struct xds_assoc *a = META_PUSH(sub->assocs,
			    sub->nassocs);

			meta_object(&mp, META_ASSOC, a, n);
			a->type = meta_dup(xml_attr(n, "associationType"));
			a->source = meta_dup(xml_attr(n, "sourceObject"));
			a->target = meta_dup(xml_attr(n, "targetObject"));
		} else if (xml_is(n, XML_NS_RIM, "ObjectRef") &&
		    (ref = xml_attr(n, "id")) != NULL)
			*META_PUSH(sub->objectrefs.v, sub->objectrefs.n) =
			    xstrdup(ref);
	}

	/* Third pass: classifications and identifiers given at top level. */
	for (n = xml_first(list); n != NULL && mp.fail == NULL;
	    n = xml_next(n)) {
		if (xml_is(n, XML_NS_RIM, "Classification")) {
			ref = xml_attr(n, "classifiedObject");
			if (ref != NULL && xml_attr(n,
			    "classificationScheme") == NULL &&
			    (meta_uri_is(xml_attr(n, "classificationNode"),
			    XDS_NODE_SUBSET) || meta_uri_is(xml_attr(n,
			    "classificationNode"), XDS_NODE_FOLDER)) &&
			    meta_is_package(sub, ref))
				continue;	/* a marker, used above */
			meta_toplevel(&mp, n, 0);
		} else if (xml_is(n, XML_NS_RIM, "ExternalIdentifier"))
			meta_toplevel(&mp, n, 1);
	}
	free(mp.marks);
	if (mp.fail != NULL) {
		*cause = mp.fail;
		xdsmeta_free(sub);
		return (NULL);
	}
	meta_check_ids(sub);
	return (sub);

ebxml21:
	xasprintf(cause, "ebXML RegRep 2.1 namespaces are XDS.a legacy and "
	    "are not accepted; use ebRIM 3.0 (%s)", XML_NS_RIM);
	return (NULL);
}

/* Parse text with the hardened parser, then the list in it. */
struct xds_submission *
xdsmeta_parse_buf(const void *buf, size_t len, char **cause)
{
	struct xds_submission	*sub;
	xmlDoc			*doc;

	if ((doc = xml_parse(buf, len, NULL, cause)) == NULL)
		return (NULL);
	sub = xdsmeta_parse(xmlDocGetRootElement(doc), cause);
	xml_free(doc);
	return (sub);
}

/* ------------------------------------------------------------------ */
/* Writing. */

struct meta_w {
	struct dbuf	*b;
	int		 err;
};

/* Append literal markup. */
static void
meta_w_str(struct meta_w *w, const char *s)
{
	if (dbuf_addstr(w->b, s) == -1)
		w->err = 1;
}

/* Append escaped data; tabs and line ends too, so a reparse sees them. */
static void
meta_w_esc(struct meta_w *w, const char *s)
{
	if (xml_escape_value(w->b, s) == -1)
		w->err = 1;
}

/* An attribute when the value is present. */
static void
meta_w_attr(struct meta_w *w, const char *name, const char *value)
{
	if (value == NULL)
		return;
	meta_w_str(w, " ");
	meta_w_str(w, name);
	meta_w_str(w, "=\"");
	meta_w_esc(w, value);
	meta_w_str(w, "\"");
}

/* A rim:Slot with its values. */
static void
meta_w_slot(struct meta_w *w, const char *name, const struct xds_strv *sv)
{
	size_t	i;

	meta_w_str(w, "<rim:Slot");
	meta_w_attr(w, "name", name);
	meta_w_str(w, "><rim:ValueList>");
	for (i = 0; i < sv->n; i++) {
		meta_w_str(w, "<rim:Value>");
		meta_w_esc(w, sv->v[i]);
		meta_w_str(w, "</rim:Value>");
	}
	meta_w_str(w, "</rim:ValueList></rim:Slot>");
}

/* Free slots, in the order they were read. */
static void
meta_w_slots(struct meta_w *w, const struct xds_slotv *sl)
{
	size_t	i;

	for (i = 0; i < sl->n; i++)
		meta_w_slot(w, sl->v[i].name, &sl->v[i].values);
}

/* rim:Name or rim:Description with one LocalizedString. */
static void
meta_w_intl(struct meta_w *w, const char *el, const char *value)
{
	if (value == NULL)
		return;
	meta_w_str(w, "<rim:");
	meta_w_str(w, el);
	meta_w_str(w, "><rim:LocalizedString");
	meta_w_attr(w, "value", value);
	meta_w_str(w, "/></rim:");
	meta_w_str(w, el);
	meta_w_str(w, ">");
}

/* Start of a Classification element. */
static void
meta_w_class(struct meta_w *w, const char *id, const char *scheme,
    const char *owner, const char *node, const char *rep)
{
	meta_w_str(w, "<rim:Classification");
	meta_w_attr(w, "id", id);
	meta_w_attr(w, "objectType", XDS_OT_CLASSIFICATION);
	meta_w_attr(w, "classificationScheme", scheme);
	meta_w_attr(w, "classifiedObject", owner);
	meta_w_attr(w, "classificationNode", node);
	meta_w_attr(w, "nodeRepresentation", rep);
	meta_w_str(w, ">");
}

/* One object with everything nested, then a package's marker. */
static void
meta_w_object(struct meta_w *w, enum meta_kind kind, const void *obj)
{
	const struct meta_type		*t = &meta_types[kind];
	const struct xds_object		*o = obj;
	const struct xds_vals		*v;
	const struct xds_codev		*cv;
	const struct xds_authorv	*av;
	const struct xds_extid		*x;
	const struct xds_other		*ot;
	const struct xds_strv		*sv;
	const char			*el, *node = NULL, *nid = NULL;
	size_t				 i, j, k;

	el = kind == META_DOC ? "ExtrinsicObject" : kind == META_ASSOC ?
	    "Association" : "RegistryPackage";
	meta_w_str(w, "<rim:");
	meta_w_str(w, el);
	meta_w_attr(w, "id", o->id);
	meta_w_attr(w, "lid", o->lid);
	meta_w_attr(w, "home", o->home);
	meta_w_attr(w, "objectType", o->object_type);
	meta_w_attr(w, "status", o->status);
	if (kind == META_DOC)
		meta_w_attr(w, "mimeType",
		    ((const struct xds_docentry *)obj)->mime_type);
	if (kind == META_ASSOC) {
		meta_w_attr(w, "associationType",
		    ((const struct xds_assoc *)obj)->type);
		meta_w_attr(w, "sourceObject",
		    ((const struct xds_assoc *)obj)->source);
		meta_w_attr(w, "targetObject",
		    ((const struct xds_assoc *)obj)->target);
	}
	meta_w_str(w, ">");
	for (i = 0; t->slots[i].name != NULL; i++) {
		v = META_CFIELD(obj, t->slots[i].off, struct xds_vals);
		if (v->set)
			meta_w_slot(w, t->slots[i].name, &v->values);
	}
	meta_w_slots(w, &o->extra);
	meta_w_intl(w, "Name", o->title);
	meta_w_intl(w, "Description", o->comments);
	if (t->limited_node != NULL &&
	    *META_CFIELD(obj, t->limited_off, int)) {
		meta_w_class(w, NULL, NULL, o->id, t->limited_node, NULL);
		meta_w_str(w, "</rim:Classification>");
	}
	if (t->author_scheme != NULL) {
		av = META_CFIELD(obj, t->author_off, struct xds_authorv);
		for (i = 0; i < av->n; i++) {
			meta_w_class(w, av->v[i].id, t->author_scheme, o->id,
			    NULL, "");
			for (j = 0; meta_author_slots[j].name != NULL; j++) {
				sv = META_CFIELD(&av->v[i],
				    meta_author_slots[j].off, struct xds_strv);
				if (sv->n > 0)
					meta_w_slot(w,
					    meta_author_slots[j].name, sv);
			}
			meta_w_slots(w, &av->v[i].extra);
			meta_w_str(w, "</rim:Classification>");
		}
	}
	for (i = 0; t->codes[i].scheme != NULL; i++) {
		cv = META_CFIELD(obj, t->codes[i].off, struct xds_codev);
		for (j = 0; j < cv->n; j++) {
			meta_w_class(w, cv->v[j].id, t->codes[i].scheme, o->id,
			    NULL, cv->v[j].code);
			if (cv->v[j].scheme != NULL) {
				struct xds_strv one = { &cv->v[j].scheme, 1 };

				meta_w_slot(w, "codingScheme", &one);
			}
			meta_w_slots(w, &cv->v[j].extra);
			meta_w_intl(w, "Name", cv->v[j].display);
			meta_w_str(w, "</rim:Classification>");
		}
	}
	for (k = 0; k < 2; k++) {
		if (k == 1) {
			for (i = 0; t->ids[i].scheme != NULL; i++) {
				x = META_CFIELD(obj, t->ids[i].off,
				    struct xds_extid);
				if (!x->set)
					continue;
				meta_w_str(w, "<rim:ExternalIdentifier");
				meta_w_attr(w, "id", x->id);
				meta_w_attr(w, "objectType", XDS_OT_EXTID);
				meta_w_attr(w, "identificationScheme",
				    t->ids[i].scheme);
				meta_w_attr(w, "registryObject", o->id);
				meta_w_attr(w, "value", x->value);
				meta_w_str(w, ">");
				meta_w_intl(w, "Name", t->ids[i].name);
				meta_w_str(w, "</rim:ExternalIdentifier>");
			}
		}
		for (i = 0; i < o->other.n; i++) {
			ot = &o->other.v[i];
			if ((size_t)ot->extid != k)
				continue;
			if (ot->extid) {
				meta_w_str(w, "<rim:ExternalIdentifier");
				meta_w_attr(w, "id", ot->id);
				meta_w_attr(w, "identificationScheme",
				    ot->scheme);
				meta_w_attr(w, "registryObject", o->id);
				meta_w_attr(w, "value", ot->value);
				meta_w_str(w, ">");
			} else
				meta_w_class(w, ot->id, ot->scheme, o->id,
				    ot->node, ot->value);
			meta_w_slots(w, &ot->slots);
			meta_w_intl(w, "Name", ot->name);
			meta_w_str(w, ot->extid ? "</rim:ExternalIdentifier>" :
			    "</rim:Classification>");
		}
	}
	meta_w_str(w, "</rim:");
	meta_w_str(w, el);
	meta_w_str(w, ">");
	if (kind == META_SUBSET) {
		node = XDS_NODE_SUBSET;
		nid = ((const struct xds_subset *)obj)->node_id;
	} else if (kind == META_FOLDER) {
		node = XDS_NODE_FOLDER;
		nid = ((const struct xds_folder *)obj)->node_id;
	}
	if (node != NULL) {
		meta_w_class(w, nid, NULL, o->id, node, NULL);
		meta_w_str(w, "</rim:Classification>");
	}
}

/* Everything the model holds, SubmissionSets first, entries, associations. */
int
xdsmeta_write(struct dbuf *b, const struct xds_submission *sub, int how)
{
	struct meta_w	w = { b, 0 };
	size_t		i;

	if (how == XDSMETA_W_SOR)
		meta_w_str(&w, "<lcm:SubmitObjectsRequest xmlns:lcm=\""
		    XML_NS_LCM "\" xmlns:rim=\"" XML_NS_RIM "\">"
		    "<rim:RegistryObjectList>");
	else if (how == XDSMETA_W_LIST)
		meta_w_str(&w, "<rim:RegistryObjectList xmlns:rim=\""
		    XML_NS_RIM "\">");
	for (i = 0; i < sub->nsubsets; i++)
		meta_w_object(&w, META_SUBSET, &sub->subsets[i]);
	for (i = 0; i < sub->nfolders; i++)
		meta_w_object(&w, META_FOLDER, &sub->folders[i]);
	for (i = 0; i < sub->ndocs; i++)
		meta_w_object(&w, META_DOC, &sub->docs[i]);
	for (i = 0; i < sub->nassocs; i++)
		meta_w_object(&w, META_ASSOC, &sub->assocs[i]);
	for (i = 0; i < sub->objectrefs.n; i++) {
		meta_w_str(&w, "<rim:ObjectRef");
		meta_w_attr(&w, "id", sub->objectrefs.v[i]);
		meta_w_str(&w, "/>");
	}
	if (how != XDSMETA_W_BARE)
		meta_w_str(&w, "</rim:RegistryObjectList>");
	if (how == XDSMETA_W_SOR)
		meta_w_str(&w, "</lcm:SubmitObjectsRequest>");
	return (w.err ? -1 : 0);
}

/* ------------------------------------------------------------------ */
/* Comparing. */

/* Strings equal, NULL equal only to NULL. */
static int
meta_eq_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

/* Lists of strings equal in order. */
static int
meta_eq_strv(const struct xds_strv *a, const struct xds_strv *b)
{
	size_t	i;

	if (a->n != b->n)
		return (0);
	for (i = 0; i < a->n; i++)
		if (!meta_eq_str(a->v[i], b->v[i]))
			return (0);
	return (1);
}

/* Slots equal in name, values and order. */
static int
meta_eq_slotv(const struct xds_slotv *a, const struct xds_slotv *b)
{
	size_t	i;

	if (a->n != b->n)
		return (0);
	for (i = 0; i < a->n; i++)
		if (!meta_eq_str(a->v[i].name, b->v[i].name) ||
		    !meta_eq_strv(&a->v[i].values, &b->v[i].values))
			return (0);
	return (1);
}

/*
 * The unknown Classifications of two objects in order, or (extid) their
 * unknown ExternalIdentifiers: XML keeps each kind's order, but writes
 * every Classification before any ExternalIdentifier (ebRIM's sequence),
 * so the two kinds' interleaving is not kept (found by the fuzzer).
 */
static int
meta_eq_others(const struct xds_otherv *a, const struct xds_otherv *b,
    int extid)
{
	const struct xds_other	*oa, *ob;
	size_t			 i = 0, j = 0;

	for (;;) {
		while (i < a->n && a->v[i].extid != extid)
			i++;
		while (j < b->n && b->v[j].extid != extid)
			j++;
		if (i == a->n || j == b->n)
			return (i == a->n && j == b->n);
		oa = &a->v[i++];
		ob = &b->v[j++];
		if (!meta_eq_str(oa->id, ob->id) ||
		    !meta_eq_str(oa->scheme, ob->scheme) ||
		    !meta_eq_str(oa->node, ob->node) ||
		    !meta_eq_str(oa->value, ob->value) ||
		    !meta_eq_str(oa->name, ob->name) ||
		    !meta_eq_slotv(&oa->slots, &ob->slots))
			return (0);
	}
}

/* Two objects of one kind equal in every field the tables know. */
static int
meta_eq_object(enum meta_kind kind, const void *x, const void *y)
{
	const struct meta_type		*t = &meta_types[kind];
	const struct xds_object		*a = x, *b = y;
	const struct xds_vals		*va, *vb;
	const struct xds_codev		*ca, *cb;
	const struct xds_authorv	*aa, *ab;
	const struct xds_extid		*ea, *eb;
	size_t				 i, j;

	if (!meta_eq_str(a->id, b->id) || !meta_eq_str(a->lid, b->lid) ||
	    !meta_eq_str(a->status, b->status) ||
	    !meta_eq_str(a->home, b->home) ||
	    !meta_eq_str(a->object_type, b->object_type) ||
	    !meta_eq_str(a->title, b->title) ||
	    !meta_eq_str(a->comments, b->comments) ||
	    !meta_eq_slotv(&a->extra, &b->extra) ||
	    !meta_eq_others(&a->other, &b->other, 0) ||
	    !meta_eq_others(&a->other, &b->other, 1))
		return (0);
	for (i = 0; t->slots[i].name != NULL; i++) {
		va = META_CFIELD(x, t->slots[i].off, struct xds_vals);
		vb = META_CFIELD(y, t->slots[i].off, struct xds_vals);
		if (va->set != vb->set ||
		    !meta_eq_strv(&va->values, &vb->values))
			return (0);
	}
	for (i = 0; t->codes[i].scheme != NULL; i++) {
		ca = META_CFIELD(x, t->codes[i].off, struct xds_codev);
		cb = META_CFIELD(y, t->codes[i].off, struct xds_codev);
		if (ca->n != cb->n)
			return (0);
		for (j = 0; j < ca->n; j++)
			if (!meta_eq_str(ca->v[j].id, cb->v[j].id) ||
			    !meta_eq_str(ca->v[j].code, cb->v[j].code) ||
			    !meta_eq_str(ca->v[j].scheme, cb->v[j].scheme) ||
			    !meta_eq_str(ca->v[j].display,
			    cb->v[j].display) ||
			    !meta_eq_slotv(&ca->v[j].extra, &cb->v[j].extra))
				return (0);
	}
	for (i = 0; t->ids[i].scheme != NULL; i++) {
		ea = META_CFIELD(x, t->ids[i].off, struct xds_extid);
		eb = META_CFIELD(y, t->ids[i].off, struct xds_extid);
		if (ea->set != eb->set || !meta_eq_str(ea->id, eb->id) ||
		    !meta_eq_str(ea->value, eb->value))
			return (0);
	}
	if (t->author_scheme != NULL) {
		aa = META_CFIELD(x, t->author_off, struct xds_authorv);
		ab = META_CFIELD(y, t->author_off, struct xds_authorv);
		if (aa->n != ab->n)
			return (0);
		for (i = 0; i < aa->n; i++) {
			if (!meta_eq_str(aa->v[i].id, ab->v[i].id) ||
			    !meta_eq_slotv(&aa->v[i].extra, &ab->v[i].extra))
				return (0);
			for (j = 0; meta_author_slots[j].name != NULL; j++)
				if (!meta_eq_strv(META_CFIELD(&aa->v[i],
				    meta_author_slots[j].off, struct xds_strv),
				    META_CFIELD(&ab->v[i],
				    meta_author_slots[j].off, struct xds_strv)))
					return (0);
		}
	}
	if (t->limited_node != NULL && *META_CFIELD(x, t->limited_off, int) !=
	    *META_CFIELD(y, t->limited_off, int))
		return (0);
	switch (kind) {
	case META_DOC:
		return (meta_eq_str(((const struct xds_docentry *)x)->mime_type,
		    ((const struct xds_docentry *)y)->mime_type));
	case META_SUBSET:
		return (meta_eq_str(((const struct xds_subset *)x)->node_id,
		    ((const struct xds_subset *)y)->node_id));
	case META_FOLDER:
		return (meta_eq_str(((const struct xds_folder *)x)->node_id,
		    ((const struct xds_folder *)y)->node_id));
	case META_ASSOC:
		return (meta_eq_str(((const struct xds_assoc *)x)->type,
		    ((const struct xds_assoc *)y)->type) &&
		    meta_eq_str(((const struct xds_assoc *)x)->source,
		    ((const struct xds_assoc *)y)->source) &&
		    meta_eq_str(((const struct xds_assoc *)x)->target,
		    ((const struct xds_assoc *)y)->target));
	}
	return (1);
}

/* Whole submissions equal (parse errors and lines left aside). */
int
xdsmeta_equal(const struct xds_submission *a, const struct xds_submission *b)
{
	size_t	i;

	if (a->ndocs != b->ndocs || a->nsubsets != b->nsubsets ||
	    a->nfolders != b->nfolders || a->nassocs != b->nassocs ||
	    !meta_eq_strv(&a->objectrefs, &b->objectrefs))
		return (0);
	for (i = 0; i < a->ndocs; i++)
		if (!meta_eq_object(META_DOC, &a->docs[i], &b->docs[i]))
			return (0);
	for (i = 0; i < a->nsubsets; i++)
		if (!meta_eq_object(META_SUBSET, &a->subsets[i],
		    &b->subsets[i]))
			return (0);
	for (i = 0; i < a->nfolders; i++)
		if (!meta_eq_object(META_FOLDER, &a->folders[i],
		    &b->folders[i]))
			return (0);
	for (i = 0; i < a->nassocs; i++)
		if (!meta_eq_object(META_ASSOC, &a->assocs[i], &b->assocs[i]))
			return (0);
	return (1);
}

/* The one value a single-valued slot should have. */
const char *
xdsmeta_val(const struct xds_vals *v)
{
	return (v->set && v->values.n > 0 ? v->values.v[0] : NULL);
}

/* ------------------------------------------------------------------ */
/* Identifiers. */

/* RFC 4122 version 4 from OpenSSL's generator. */
int
xdsmeta_new_uuid(char *buf, size_t len)
{
	unsigned char	b[16];

	if (len < 46 || RAND_bytes(b, sizeof(b)) != 1)
		return (-1);
	b[6] = (b[6] & 0x0f) | 0x40;	/* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	snprintf(buf, len, "urn:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
	    b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
	    b[14], b[15]);
	return (0);
}

struct meta_rename {
	char	*old;
	char	*new;
};

/* Replace *idp with a fresh UUID unless it is one already. */
static int
meta_renew(char **idp, int always, struct meta_rename **map, size_t *nmap)
{
	struct meta_rename	*r;
	char			 u[64];

	if (!always && *idp != NULL && strncasecmp(*idp, "urn:uuid:", 9) == 0)
		return (0);
	if (xdsmeta_new_uuid(u, sizeof(u)) == -1)
		return (-1);
	if (map != NULL && *idp != NULL) {
		r = META_PUSH(*map, *nmap);
		r->old = *idp;
		r->new = xstrdup(u);
		*idp = xstrdup(u);
	} else {
		free(*idp);
		*idp = xstrdup(u);
	}
	return (0);
}

/* Rewrite a reference through the map. */
static void
meta_reref(char **refp, const struct meta_rename *map, size_t nmap)
{
	size_t	i;

	for (i = 0; *refp != NULL && i < nmap; i++)
		if (strcmp(*refp, map[i].old) == 0) {
			free(*refp);
			*refp = xstrdup(map[i].new);
			return;
		}
}

/* The nested ids of an object (classifications, identifiers). */
static int
meta_renew_nested(enum meta_kind kind, void *obj)
{
	const struct meta_type	*t = &meta_types[kind];
	struct xds_object	*o = obj;
	struct xds_codev	*cv;
	struct xds_authorv	*av;
	struct xds_extid	*x;
	size_t			 i, j;

	for (i = 0; i < o->other.n; i++)
		if (meta_renew(&o->other.v[i].id, 0, NULL, NULL) == -1)
			return (-1);
	for (i = 0; t->codes[i].scheme != NULL; i++) {
		cv = META_FIELD(obj, t->codes[i].off, struct xds_codev);
		for (j = 0; j < cv->n; j++)
			if (meta_renew(&cv->v[j].id, 0, NULL, NULL) == -1)
				return (-1);
	}
	for (i = 0; t->ids[i].scheme != NULL; i++) {
		x = META_FIELD(obj, t->ids[i].off, struct xds_extid);
		if (x->set && meta_renew(&x->id, 0, NULL, NULL) == -1)
			return (-1);
	}
	if (t->author_scheme != NULL) {
		av = META_FIELD(obj, t->author_off, struct xds_authorv);
		for (j = 0; j < av->n; j++)
			if (meta_renew(&av->v[j].id, 0, NULL, NULL) == -1)
				return (-1);
	}
	if (kind == META_SUBSET &&
	    meta_renew(&((struct xds_subset *)obj)->node_id, 0, NULL,
	    NULL) == -1)
		return (-1);
	if (kind == META_FOLDER &&
	    meta_renew(&((struct xds_folder *)obj)->node_id, 0, NULL,
	    NULL) == -1)
		return (-1);
	return (0);
}

/* Registry duty (xds.md 2.1): UUIDs for symbolic ids, references follow. */
int
xdsmeta_assign_uuids(struct xds_submission *sub, xdsmeta_rename_cb cb,
    void *arg)
{
	struct meta_rename	*map = NULL;
	size_t			 nmap = 0, i;
	int			 rc = -1;

	for (i = 0; i < sub->ndocs; i++)
		if (meta_renew(&sub->docs[i].o.id, 0, &map, &nmap) == -1 ||
		    meta_renew_nested(META_DOC, &sub->docs[i]) == -1)
			goto out;
	for (i = 0; i < sub->nsubsets; i++)
		if (meta_renew(&sub->subsets[i].o.id, 0, &map, &nmap) == -1 ||
		    meta_renew_nested(META_SUBSET, &sub->subsets[i]) == -1)
			goto out;
	for (i = 0; i < sub->nfolders; i++)
		if (meta_renew(&sub->folders[i].o.id, 0, &map, &nmap) == -1 ||
		    meta_renew_nested(META_FOLDER, &sub->folders[i]) == -1)
			goto out;
	for (i = 0; i < sub->nassocs; i++)
		if (meta_renew(&sub->assocs[i].o.id, 0, &map, &nmap) == -1 ||
		    meta_renew_nested(META_ASSOC, &sub->assocs[i]) == -1)
			goto out;
	for (i = 0; i < sub->nassocs; i++) {
		meta_reref(&sub->assocs[i].source, map, nmap);
		meta_reref(&sub->assocs[i].target, map, nmap);
	}
	for (i = 0; i < sub->objectrefs.n; i++)
		meta_reref(&sub->objectrefs.v[i], map, nmap);
	for (i = 0; cb != NULL && i < nmap; i++)
		cb(map[i].old, map[i].new, arg);
	rc = 0;
out:
	for (i = 0; i < nmap; i++) {
		free(map[i].old);
		free(map[i].new);
	}
	free(map);
	return (rc);
}

/* ------------------------------------------------------------------ */
/* Builders for this network's submissions. */

/* Append one value to a well-known slot. */
static void
meta_set(struct xds_vals *v, const char *value)
{
	v->set = 1;
	*META_PUSH(v->values.v, v->values.n) = xstrdup(value);
}

/* Append a coded value. */
static void
meta_code(struct xds_codev *cv, const char *id, const char *code,
    const char *scheme, const char *display)
{
	struct xds_code	*c;

	c = META_PUSH(cv->v, cv->n);
	c->id = xstrdup(id);
	c->code = xstrdup(code);
	c->scheme = xstrdup(scheme);
	c->nschemes = 1;
	c->display = xstrdup(display);
}

/* Set a well-known identifier. */
static void
meta_extid_set(struct xds_extid *x, const char *id, const char *value)
{
	x->set = 1;
	x->id = xstrdup(id);
	x->value = xstrdup(value);
}

/* The author every network submission carries. */
static void
meta_author_rsna(struct xds_authorv *av, const char *id)
{
	struct xds_author	*a;

	a = META_PUSH(av->v, av->n);
	a->id = xstrdup(id);
	*META_PUSH(a->institution.v, a->institution.n) = xstrdup("RSNA ISN");
}

/* The SubmissionSet of one network submission (PROFILE.md 5). */
struct xds_submission *
xdsmeta_build_subset(const struct xdsmeta_subset_spec *spec)
{
	struct xds_submission	*sub;
	struct xds_subset	*ss;
	struct xds_slot		*s;

	sub = xcalloc(1, sizeof(*sub));
	ss = META_PUSH(sub->subsets, sub->nsubsets);
	ss->o.id = xstrdup("SubmissionSet01");
	ss->o.object_type = xstrdup(XDS_OT_PACKAGE);
	ss->node_id = xstrdup("SubmissionSet01-node");
	meta_set(&ss->submission_time, spec->submission_time);
	if (spec->isn2) {
		s = META_PUSH(ss->o.extra.v, ss->o.extra.n);
		s->name = xstrdup(XDS_SLOT_ISN_ENCRYPTION);
		*META_PUSH(s->values.v, s->values.n) = xstrdup("isn2");
	}
	meta_author_rsna(&ss->authors, "SubmissionSet01-author");
	meta_code(&ss->content_type, "SubmissionSet01-contentType",
	    "Imaging Exam", "1.3.6.1.4.1.19376.3.840.1.1.3", "Imaging Exam");
	meta_extid_set(&ss->unique_id, "SubmissionSet01-uniqueId",
	    spec->unique_id);
	meta_extid_set(&ss->source_id, "SubmissionSet01-sourceId",
	    spec->source_id);
	meta_extid_set(&ss->patient_id, "SubmissionSet01-patientId",
	    spec->patient_id);
	return (sub);
}

/* One entry with the RSNA affinity-domain codes, a member of the set. */
struct xds_docentry *
xdsmeta_build_doc(struct xds_submission *sub,
    const struct xdsmeta_doc_spec *spec)
{
	struct xds_docentry	*de;
	struct xds_assoc	*as;
	struct xds_slot		*s;
	const struct xds_subset	*ss = &sub->subsets[0];
	char			 id[32], cid[64], *ref;
	const char		*pid = ss->patient_id.value;

	snprintf(id, sizeof(id), "Document%02zu", sub->ndocs + 1);
	de = META_PUSH(sub->docs, sub->ndocs);
	de->o.id = xstrdup(id);
	de->o.object_type = xstrdup(XDS_DE_STABLE);
	de->mime_type = xstrdup(spec->kind == XDSMETA_DOC_REPORT ?
	    "text/plain" : "application/dicom");

	meta_set(&de->creation_time, spec->creation_time);
	meta_set(&de->language_code, "en-US");
	meta_set(&de->source_patient_id, pid);
	if (spec->service_start_time != NULL)
		meta_set(&de->service_start_time, spec->service_start_time);
	if (spec->hash != NULL)
		meta_set(&de->hash, spec->hash);
	if (spec->size >= 0) {
		snprintf(cid, sizeof(cid), "%lld", (long long)spec->size);
		meta_set(&de->size, cid);
	}
	if (spec->repository_unique_id != NULL)
		meta_set(&de->repository_unique_id,
		    spec->repository_unique_id);
	if (spec->study_uid != NULL) {
		xasprintf(&ref, "%s^^^^urn:ihe:iti:xds:2016:studyInstanceUID",
		    spec->study_uid);
		meta_set(&de->reference_id_list, ref);
		free(ref);
	}
	if (spec->series_uid != NULL) {
		s = META_PUSH(de->o.extra.v, de->o.extra.n);
		s->name = xstrdup(XDS_SLOT_ISN_SERIES);
		*META_PUSH(s->values.v, s->values.n) =
		    xstrdup(spec->series_uid);
	}
	if (spec->sop_uid != NULL) {
		s = META_PUSH(de->o.extra.v, de->o.extra.n);
		s->name = xstrdup(XDS_SLOT_ISN_SOP);
		*META_PUSH(s->values.v, s->values.n) = xstrdup(spec->sop_uid);
	}

	snprintf(cid, sizeof(cid), "%s-author", id);
	meta_author_rsna(&de->authors, cid);
	snprintf(cid, sizeof(cid), "%s-classCode", id);
	if (spec->kind == XDSMETA_DOC_REPORT)
		meta_code(&de->class_code, cid, "REPORTS",
		    "1.3.6.1.4.1.19376.1.2.6.1", "Reports");
	else
		meta_code(&de->class_code, cid, "IMAGES",
		    "1.3.6.1.4.1.19376.1.2.6.1", "Images");
	snprintf(cid, sizeof(cid), "%s-confidentialityCode", id);
	meta_code(&de->conf_code, cid, "V", "2.16.840.1.113883.5.25",
	    "very restricted");
	snprintf(cid, sizeof(cid), "%s-eventCode", id);
	meta_code(&de->event_code, cid, "OT", "DCM", "Other");
	snprintf(cid, sizeof(cid), "%s-formatCode", id);
	switch (spec->kind) {
	case XDSMETA_DOC_KOS:
		meta_code(&de->format_code, cid,
		    "1.2.840.10008.5.1.4.1.1.88.59", "1.2.840.10008.2.6.1",
		    "Key Object Selection Document");
		break;
	case XDSMETA_DOC_REPORT:
		meta_code(&de->format_code, cid, "urn:ihe:rad:TEXT",
		    "1.3.6.1.4.1.19376.1.2.3", "Radiology report text");
		break;
	default:
		meta_code(&de->format_code, cid, spec->sop_class,
		    "1.2.840.10008.2.6.1", spec->sop_class);
		break;
	}
	snprintf(cid, sizeof(cid), "%s-healthcareFacilityTypeCode", id);
	meta_code(&de->hcft_code, cid, "33022008",
	    "2.16.840.1.113883.3.88.12.80.67", "Hospital-based outpatient "
	    "clinic or department--OTHER-NOT LISTED");
	snprintf(cid, sizeof(cid), "%s-practiceSettingCode", id);
	meta_code(&de->practice_code, cid, "R-3027B",
	    "2.16.840.1.113883.6.96", "Radiology");
	snprintf(cid, sizeof(cid), "%s-typeCode", id);
	meta_code(&de->type_code, cid, "Imaging Exam",
	    "1.3.6.1.4.1.19376.3.840.1.1.2", "Imaging Exam");
	snprintf(cid, sizeof(cid), "%s-patientId", id);
	meta_extid_set(&de->patient_id, cid, pid);
	snprintf(cid, sizeof(cid), "%s-uniqueId", id);
	meta_extid_set(&de->unique_id, cid, spec->unique_id);

	as = META_PUSH(sub->assocs, sub->nassocs);
	snprintf(cid, sizeof(cid), "Association%02zu", sub->nassocs);
	as->o.id = xstrdup(cid);
	as->o.object_type = xstrdup(XDS_OT_ASSOCIATION);
	as->type = xstrdup(XDS_ASSOC_HASMEMBER);
	as->source = xstrdup(ss->o.id);
	as->target = xstrdup(id);
	meta_set(&as->subset_status, "Original");
	return (de);
}
