/*
 * phr_list.c: what the clearinghouse holds for the patient. ITI-18
 * FindSubmissionSets (Approved) for the patient's CX, then
 * GetSubmissionSetAndContents for each set; the entries become phr_doc
 * records (uniqueId, hash, size, repository, study, series, kind).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libxml/tree.h>

#include "phr_int.h"
#include "soap.h"
#include "sq.h"
#include "xdsmeta.h"
#include "xdsmsg.h"
#include "xmalloc.h"
#include "xml.h"

struct phr_q {
	struct phr_rx		 rx;
	struct xds_submission	*sub;
};

static int
phr_q_begin(void *arg, const char *ct)
{
	struct phr_q	*q = arg;

	return (phr_rx_begin(&q->rx, ct));
}

static int
phr_q_data(void *arg, const void *buf, size_t len)
{
	struct phr_q	*q = arg;

	return (phr_rx_data(&q->rx, buf, len));
}

static void
phr_q_reset(void *arg)
{
	struct phr_q	*q = arg;

	phr_rx_reset(&q->rx);
	xdsmeta_free(q->sub);
	q->sub = NULL;
}

static int
phr_q_finish(void *arg)
{
	struct phr_q			*q = arg;
	struct isnphr			*h = q->rx.h;
	struct xdsmsg_query_resp	 resp;
	struct xdsmsg_errors		 errs;
	char				*cause = NULL;
	int				 r;

	if (phr_rx_finish(&q->rx) == -1)
		return (-1);
	memset(&resp, 0, sizeof(resp));
	memset(&errs, 0, sizeof(errs));
	if (xdsmsg_query_resp_parse(q->rx.body, &resp, &errs) == -1) {
		phr_err(h, "the clearinghouse's query answer is malformed: %s",
		    errs.n > 0 && errs.v[0].context != NULL ?
		    errs.v[0].context : "unreadable");
		r = -1;
		goto out;
	}
	r = phr_rx_errors(h, &resp.errors, resp.status == XDSMSG_FAILURE);
	if (r != 0)
		goto out;
	if (resp.objects == NULL || resp.nrefs > 0) {
		q->sub = xcalloc(1, sizeof(*q->sub));
		if (resp.nrefs > 0) {
			q->sub->objectrefs.v = resp.refs;
			q->sub->objectrefs.n = resp.nrefs;
			resp.refs = NULL;
			resp.nrefs = 0;
		}
		goto out;
	}
	if ((q->sub = xdsmeta_parse(resp.objects, &cause)) == NULL) {
		phr_err(h, "the clearinghouse's metadata is unreadable: %s",
		    cause);
		free(cause);
		r = -1;
	}
out:
	xdsmsg_query_resp_clear(&resp);
	xdsmsg_errors_clear(&errs);
	return (r);
}

static const struct phr_resp_ops phr_q_ops = {
	phr_q_begin, phr_q_data, phr_q_finish, phr_q_reset
};

/* A stored query's SOAP body (the caller frees it). */
static int
phr_query_body(struct isnphr *h, struct sq_build *b, enum xdsmsg_return rtype,
    struct dbuf *body)
{
	dbuf_init(body, PHR_MAX_RESPONSE_XML);
	if (xdsmsg_query_req_build_sq(body, b, rtype) == -1) {
		phr_err(h, "the query is too large");
		return (-1);
	}
	return (0);
}

/* Ask it; the objects it returned in *subp. */
static int
phr_query_post(struct isnphr *h, const struct dbuf *body,
    struct xds_submission **subp)
{
	struct phr_q	q;
	int		rc = -1;

	h->last_code[0] = '\0';
	memset(&q, 0, sizeof(q));
	phr_rx_init(&q.rx, h, NULL, NULL);
	if (phr_post(h, SOAP_PATH_REGISTRY, SOAP_ACTION_ITI18, 0, body->data,
	    body->len, &phr_q_ops, &q) == 0) {
		*subp = q.sub;
		q.sub = NULL;
		rc = 0;
	}
	phr_q_reset(&q);
	dbuf_free(&q.rx.plain);
	return (rc);
}

/* One stored query; the objects it returned in *subp. */
static int
phr_query(struct isnphr *h, struct sq_build *b, enum xdsmsg_return rtype,
    struct xds_submission **subp)
{
	struct dbuf	body;
	int		rc = -1;

	if (phr_query_body(h, b, rtype, &body) == 0)
		rc = phr_query_post(h, &body, subp);
	dbuf_free(&body);
	return (rc);
}

/*
 * GetDocuments (LeafClass) on the entryUUIDs from i on, PHR_GETDOCS_CHUNK
 * at most: its SOAP body.
 */
#define PHR_GETDOCS_CHUNK	100
static int
phr_getdocs_body(struct isnphr *h, const struct xds_strv *uuids, size_t i,
    struct dbuf *body)
{
	struct sq_build	*b;
	size_t		 n = uuids->n - i;
	int		 rc;

	if (n > PHR_GETDOCS_CHUNK)
		n = PHR_GETDOCS_CHUNK;
	b = sq_build_get_documents((const char *const *)(uintptr_t)
	    (uuids->v + i), n);
	rc = phr_query_body(h, b, XDSMSG_LEAFCLASS, body);
	sq_build_free(b);
	return (rc);
}

static const char *
phr_slot(const struct xds_slotv *sv, const char *name)
{
	size_t	i;

	for (i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i].name, name) == 0 &&
		    sv->v[i].values.n > 0)
			return (sv->v[i].values.v[0]);
	return (NULL);
}

/* The Study Instance UID of a referenceIdList, as a new string. */
static char *
phr_study_of(const struct xds_docentry *de)
{
	const struct xds_strv	*v = &de->reference_id_list.values;
	const char		*s, *caret;
	size_t			 i;

	for (i = 0; i < v->n; i++) {
		s = v->v[i];
		if (strstr(s, "studyInstanceUID") == NULL)
			continue;
		if ((caret = strchr(s, '^')) == NULL)
			continue;
		return (xstrndup(s, (size_t)(caret - s)));
	}
	return (NULL);
}

static void
phr_doc_from_entry(struct phr_doc *d, const struct xds_docentry *de,
    const char *repo_default)
{
	const char	*v;

	memset(d, 0, sizeof(*d));
	d->uid = xstrdup(de->unique_id.value != NULL ? de->unique_id.value :
	    "");
	v = xdsmeta_val(&de->hash);
	d->hash = xstrdup(v != NULL ? v : "");
	v = xdsmeta_val(&de->size);
	d->size = v != NULL ? strtoull(v, NULL, 10) : 0;
	v = xdsmeta_val(&de->repository_unique_id);
	d->repo = xstrdup(v != NULL ? v : repo_default);
	d->home = de->o.home != NULL ? xstrdup(de->o.home) : NULL;
	d->mime = xstrdup(de->mime_type != NULL ? de->mime_type : "");
	d->study = phr_study_of(de);
	if (d->study == NULL)
		d->study = xstrdup("");
	if ((v = phr_slot(&de->o.extra, XDS_SLOT_ISN_SERIES)) != NULL)
		d->series = xstrdup(v);
	v = phr_slot(&de->o.extra, XDS_SLOT_ISN_SOP);
	d->sop = xstrdup(v != NULL ? v : d->uid);
	if (de->format_code.n > 0 && de->format_code.v[0].code != NULL &&
	    strcmp(de->format_code.v[0].code, PHR_KOS_CLASS) == 0)
		d->kind = PHR_KOS;
	else if (strcasecmp(d->mime, "text/plain") == 0)
		d->kind = PHR_REPORT;
	else
		d->kind = PHR_IMAGE;
	if (d->kind == PHR_IMAGE && d->series == NULL)
		d->series = xstrdup("");
}

static void
phr_set_free(struct phr_set *s)
{
	size_t	i;

	for (i = 0; i < s->ndocs; i++) {
		free(s->docs[i].uid);
		free(s->docs[i].sop);
		free(s->docs[i].hash);
		free(s->docs[i].repo);
		free(s->docs[i].home);
		free(s->docs[i].study);
		free(s->docs[i].series);
		free(s->docs[i].mime);
		free(s->docs[i].path);
	}
	free(s->docs);
	free(s->uuid);
	free(s->uid);
}

void
phr_list_free(struct isnphr_list *l)
{
	size_t	i, j;

	if (l == NULL)
		return;
	for (i = 0; i < l->nsets; i++) {
		if (l->series != NULL && l->series[i] != NULL) {
			for (j = 0; j < l->info[i].nstudies; j++)
				free(l->series[i][j]);
			free(l->series[i]);
		}
		if (l->studies != NULL)
			free(l->studies[i]);
		phr_set_free(&l->sets[i]);
	}
	free(l->series);
	free(l->studies);
	free(l->info);
	free(l->sets);
	free(l);
}

/* The Approved entries of got, appended to the set. */
static void
phr_set_add_docs(struct phr_set *s, const struct xds_submission *got)
{
	size_t	j;

	if (got->ndocs == 0)
		return;
	s->docs = xreallocarray(s->docs, s->ndocs + got->ndocs,
	    sizeof(*s->docs));
	for (j = 0; j < got->ndocs; j++) {
		if (got->docs[j].o.status != NULL && strcmp(
		    got->docs[j].o.status, XDS_STATUS_APPROVED) != 0)
			continue;
		phr_doc_from_entry(&s->docs[s->ndocs++], &got->docs[j], "");
	}
}

static int
phr_strcmp(const void *a, const void *b)
{
	return (strcmp(*(const char *const *)a, *(const char *const *)b));
}

/*
 * The patient's Approved DocumentEntries as ObjectRefs (FindDocuments),
 * sorted: which of a set's members are documents. NULL (every member is
 * asked for) when the registry would not say.
 */
static struct xds_submission *
phr_doc_refs(struct isnphr *h)
{
	struct xds_submission	*refs = NULL;
	struct sq_build		*b;

	b = sq_build_find_documents(h->cx, NULL);
	if (phr_query(h, b, XDSMSG_OBJECTREF, &refs) == -1) {
		h->err[0] = '\0';
		refs = NULL;
	} else if (refs->objectrefs.n > 1)
		qsort(refs->objectrefs.v, refs->objectrefs.n,
		    sizeof(*refs->objectrefs.v), phr_strcmp);
	sq_build_free(b);
	return (refs);
}

/*
 * The entries of a set: its members as ObjectRefs (GetSubmissionSet-
 * AndContents), then GetDocuments on those that are documents (docs, from
 * phr_doc_refs) PHR_GETDOCS_CHUNK at a time. One LeafClass answer for the
 * whole set would be refused past the clearinghouse's query_result_limit
 * (1000 objects: a 500-instance study), and would be parsed whole in
 * memory (tens of MB of DOM); chunks keep the list's memory to the
 * entries' strings plus one small answer. The members also include the
 * set's associations: a GetDocuments on those alone answers nothing, and
 * the clearinghouse counts a query that matched nothing as a failed lookup
 * (ratelimit.md): five of them for a 500-instance study.
 */
static int
phr_set_docs_by_ref(struct isnphr *h, struct phr_set *s, const char *uuid,
    const struct xds_submission *docs)
{
	struct xds_submission	*refs = NULL, *got = NULL;
	struct sq_build		*b;
	struct dbuf		 cur, next;
	size_t			 i, j;
	int			 r;

	memset(&cur, 0, sizeof(cur));
	b = sq_build_get_ss_and_contents(uuid);
	if (phr_query(h, b, XDSMSG_OBJECTREF, &refs) == -1) {
		sq_build_free(b);
		return (-1);
	}
	sq_build_free(b);
	for (i = j = 0; docs != NULL && i < refs->objectrefs.n; i++) {
		if (bsearch(&refs->objectrefs.v[i], docs->objectrefs.v,
		    docs->objectrefs.n, sizeof(*docs->objectrefs.v),
		    phr_strcmp) == NULL) {
			free(refs->objectrefs.v[i]);
			continue;
		}
		refs->objectrefs.v[j++] = refs->objectrefs.v[i];
	}
	if (docs != NULL)
		refs->objectrefs.n = j;
	/* Each chunk's successor is sent ahead while it is parsed. */
	if (refs->objectrefs.n > 0 && phr_getdocs_body(h, &refs->objectrefs,
	    0, &cur) == -1)
		goto fail;
	for (i = 0; i < refs->objectrefs.n; i += PHR_GETDOCS_CHUNK) {
		memset(&next, 0, sizeof(next));
		if (i + PHR_GETDOCS_CHUNK < refs->objectrefs.n) {
			if (phr_getdocs_body(h, &refs->objectrefs,
			    i + PHR_GETDOCS_CHUNK, &next) == -1) {
				dbuf_free(&next);
				goto fail;
			}
			phr_post_ahead(h, SOAP_PATH_REGISTRY,
			    SOAP_ACTION_ITI18, 0, next.data, next.len);
		}
		r = phr_query_post(h, &cur, &got);
		dbuf_free(&cur);
		cur = next;
		if (r == -1)
			goto fail;
		phr_set_add_docs(s, got);
		xdsmeta_free(got);
		got = NULL;
	}
	xdsmeta_free(refs);
	return (0);
fail:
	dbuf_free(&cur);
	xdsmeta_free(refs);
	return (-1);
}

int
phr_list_fetch(struct isnphr *h, struct isnphr_list **lp)
{
	struct isnphr_list	*l;
	struct xds_submission	*found = NULL, *docs;
	struct sq_build		*b;
	struct phr_set		*s;
	const struct xds_subset	*ss;
	const char		*v;
	size_t			 i;
	int			 r;

	*lp = NULL;
	h->err[0] = '\0';
	if (!h->opened) {
		phr_err(h, "no connection profile: call isnphr_open first");
		return (-1);
	}
	if (!h->has_id) {
		phr_err(h, "no patient: call isnphr_set_patient first");
		return (-1);
	}
	b = sq_build_find_submission_sets(h->cx, NULL);
	if (phr_query(h, b, XDSMSG_LEAFCLASS, &found) == -1) {
		sq_build_free(b);
		return (-1);
	}
	sq_build_free(b);
	if (found->nsubsets == 0) {
		xdsmeta_free(found);
		phr_err(h, ISNPHR_NOTHING_FOUND);
		return (-1);
	}
	docs = phr_doc_refs(h);
	l = xcalloc(1, sizeof(*l));
	l->sets = xcalloc(found->nsubsets, sizeof(*l->sets));
	for (i = 0; i < found->nsubsets; i++) {
		ss = &found->subsets[i];
		s = &l->sets[l->nsets];
		r = phr_set_docs_by_ref(h, s, ss->o.id, docs);
		l->nsets++;
		if (r == -1) {
			xdsmeta_free(docs);
			xdsmeta_free(found);
			phr_list_free(l);
			return (-1);
		}
		s->uuid = xstrdup(ss->o.id);
		s->uid = xstrdup(ss->unique_id.value != NULL ?
		    ss->unique_id.value : ss->o.id);
		s->submitted = phr_dtm_time(xdsmeta_val(&ss->submission_time));
		s->expires = phr_dtm_time(phr_slot(&ss->o.extra,
		    PHR_SLOT_EXPIRES));
		v = phr_slot(&ss->o.extra, XDS_SLOT_ISN_ENCRYPTION);
		s->isn2 = v != NULL && strcmp(v, "isn2") == 0;
	}
	xdsmeta_free(docs);
	xdsmeta_free(found);
	phr_list_build_info(l);
	*lp = l;
	return (0);
}

/* The public view: studies and series of each set, in first-seen order. */
void
phr_list_build_info(struct isnphr_list *l)
{
	struct isnphr_study_info	*st;
	struct isnphr_series_info	*se;
	struct phr_set			*s;
	struct phr_doc			*d;
	size_t				 i, j, a, b;

	l->info = xcalloc(l->nsets + 1, sizeof(*l->info));
	l->studies = xcalloc(l->nsets + 1, sizeof(*l->studies));
	l->series = xcalloc(l->nsets + 1, sizeof(*l->series));
	for (i = 0; i < l->nsets; i++) {
		s = &l->sets[i];
		l->info[i].uid = s->uid;
		l->info[i].submitted = s->submitted;
		l->info[i].expires = s->expires;
		l->info[i].encryption = s->isn2 ? "isn2" : "none";
		l->studies[i] = xcalloc(s->ndocs + 1, sizeof(**l->studies));
		l->series[i] = xcalloc(s->ndocs + 1, sizeof(**l->series));
		for (j = 0; j < s->ndocs; j++) {
			d = &s->docs[j];
			for (a = 0; a < l->info[i].nstudies; a++)
				if (strcmp(l->studies[i][a].uid, d->study) == 0)
					break;
			st = &l->studies[i][a];
			if (a == l->info[i].nstudies) {
				l->info[i].nstudies++;
				st->uid = d->study;
				l->series[i][a] = xcalloc(s->ndocs + 1,
				    sizeof(***l->series));
				st->series = l->series[i][a];
			}
			if (d->kind == PHR_REPORT)
				st->has_report = 1;
			if (d->kind == PHR_KOS)
				st->has_kos = 1;
			if (d->kind != PHR_IMAGE)
				continue;
			st->ninstances++;
			for (b = 0; b < st->nseries; b++)
				if (strcmp(st->series[b].uid, d->series) == 0)
					break;
			se = &l->series[i][a][b];
			if (b == st->nseries) {
				st->nseries++;
				se->uid = d->series;
			}
			se->ninstances++;
			se->bytes += d->size;
		}
		l->info[i].studies = l->studies[i];
	}
}

/*
 * A list of one set from the entries of an AdhocQueryResponse body (bare
 * XML): the list building on hostile metadata, for the fuzzer and tests.
 */
int
phr_list_from_xml(const void *buf, size_t len, struct isnphr_list **lp,
    char **cause)
{
	struct xdsmsg_query_resp	 resp;
	struct xdsmsg_errors		 errs;
	struct xds_submission		*got;
	struct isnphr_list		*l;
	xmlDoc				*doc;
	int				 rc = -1;

	*lp = NULL;
	if ((doc = xml_parse(buf, len, NULL, cause)) == NULL)
		return (-1);
	memset(&resp, 0, sizeof(resp));
	memset(&errs, 0, sizeof(errs));
	xdsmsg_query_resp_parse(xmlDocGetRootElement(doc), &resp, &errs);
	if (resp.objects == NULL)
		xcause(cause, "no RegistryObjectList");
	else if ((got = xdsmeta_parse(resp.objects, cause)) != NULL) {
		l = xcalloc(1, sizeof(*l));
		l->sets = xcalloc(1, sizeof(*l->sets));
		l->nsets = 1;
		l->sets[0].uid = xstrdup("1.2.3");
		l->sets[0].uuid = xstrdup("urn:uuid:x");
		phr_set_add_docs(&l->sets[0], got);
		xdsmeta_free(got);
		phr_list_build_info(l);
		*lp = l;
		rc = 0;
	}
	xdsmsg_query_resp_clear(&resp);
	xdsmsg_errors_clear(&errs);
	xml_free(doc);
	return (rc);
}

int
isnphr_list(struct isnphr *h, struct isnphr_list **lp)
{
	return (phr_list_fetch(h, lp));
}

size_t
isnphr_list_nsets(const struct isnphr_list *l)
{
	return (l != NULL ? l->nsets : 0);
}

const struct isnphr_set_info *
isnphr_list_set(const struct isnphr_list *l, size_t i)
{
	return (l != NULL && i < l->nsets ? &l->info[i] : NULL);
}

void
isnphr_list_free(struct isnphr_list *l)
{
	phr_list_free(l);
}
