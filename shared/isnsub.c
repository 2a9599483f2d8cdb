/*
 * isnsub.c: one network submission as a streamed ITI-41 request (see
 * isnsub.h and docs/design/isnsub.md).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dbuf.h"
#include "dicom.h"
#include "fdio.h"
#include "envelope.h"
#include "isnsub.h"
#include "mtom.h"
#include "rsnaid.h"
#include "soap.h"
#include "xdsmeta.h"
#include "xdsmsg.h"
#include "xmalloc.h"

#define SRC_CHUNK	ENVELOPE_CHUNK

enum doc_src {
	SRC_FILE,	/* path */
	SRC_SYNTH,	/* dicom_instance_* from ip */
	SRC_MEM		/* the KOS */
};

struct doc {
	int			 kind;		/* XDSMETA_DOC_* */
	enum doc_src		 src;
	char			*path;
	struct dicom_ids	 ids;
	char			 uid[DICOM_UID_BUF];	/* XDS uniqueId */
	char			 cid[96];
	char			 href[100];

	/* A synthetic instance: its parameters and owned strings. */
	struct dicom_instance_params ip;
	char			*strs[8];
	struct dbuf		 hdr;		/* its header, once built */
	uint64_t		 total;

	/* Streaming state. */
	int			 fd;
	uint64_t		 off;
	int			 src_eof;
	int			 done;
	struct envelope_enc	*enc;
	struct dbuf		 out;		/* sealed bytes pending */
	size_t			 outpos;
	uint8_t			*chunk;
	struct isnsub		*sub;
};

struct isnsub {
	struct isnsub_params	 p;
	char			*strs[10]; /* owned copies of p's strings */
	char			 accession[17];
	struct rsnaid		 id;
	char			 cx[256];
	char			 ss_uid[DICOM_UID_BUF];
	char			 study[DICOM_UID_BUF];
	char			 kos_series[DICOM_UID_BUF];
	char			 kos_uid[DICOM_UID_BUF];
	char			 report_uid[DICOM_UID_BUF];
	char			 time[16];
	struct doc		*docs;	/* instances, then KOS, report */
	size_t			 ndocs;
	size_t			 ninstances;
	char			*report_path;
	struct dbuf		 kos;
	struct dbuf		 env;		/* the SOAP envelope (root) */
	struct mtom_writer	*w;
	int			 finished;
};

static char *
dupnull(const char *s)
{
	return (s != NULL ? xstrdup(s) : NULL);
}

struct isnsub *
isnsub_new(const struct isnsub_params *p, char **cause)
{
	struct isnsub	*s;
	time_t		 t = time(NULL);
	struct tm	 tm;

	s = xcalloc(1, sizeof(*s));
	s->p = *p;
	s->p.secret = s->strs[0] = dupnull(p->secret);
	s->p.dob = s->strs[1] = dupnull(p->dob);
	s->p.password = s->strs[2] = dupnull(p->password);
	s->p.oid = s->strs[3] = xstrdup(p->oid != NULL ? p->oid :
	    RSNAID_DEFAULT_OID);
	s->p.source_id = s->strs[4] = xstrdup(p->source_id != NULL ?
	    p->source_id : ISNSUB_SOURCE_ID);
	s->p.repository_uid = s->strs[5] = dupnull(p->repository_uid);
	s->p.kos_patient_name = s->strs[6] = xstrdup(p->kos_patient_name !=
	    NULL ? p->kos_patient_name : "RSNA ISN");
	s->p.accession_number = s->strs[7] = dupnull(p->accession_number);
	s->p.accession_issuer = s->strs[8] = xstrdup(p->accession_issuer !=
	    NULL ? p->accession_issuer : ISNSUB_ACCESSION_ISSUER);
	dbuf_init(&s->kos, 64 * 1024 * 1024);
	dbuf_init(&s->env, 256 * 1024 * 1024);

	if (!dicom_uid_valid(s->p.oid) || !dicom_uid_valid(s->p.source_id) ||
	    !dicom_uid_valid(s->p.accession_issuer) ||
	    (s->p.repository_uid != NULL &&
	    !dicom_uid_valid(s->p.repository_uid))) {
		xcause(cause, "the affinity domain, source and repository ids "
		    "must be OIDs");
		goto fail;
	}
	if (p->id != NULL) {
		if (p->id->scheme != p->scheme ||
		    rsnaid_valid(p->id->id, NULL) == -1) {
			xcause(cause, "the given RSNA-ID is not one of the "
			    "scheme %s", rsnaid_scheme_name(p->scheme));
			goto fail;
		}
		s->id = *p->id;
	} else if (rsnaid_compute(p->scheme, p->secret, p->dob, p->password,
	    &s->id, cause) == -1)
		goto fail;
	/* The secrets are needed no more. */
	s->p.secret = s->strs[0] = xstrzero(s->strs[0]);
	s->p.password = s->strs[2] = xstrzero(s->strs[2]);
	if (p->scheme == RSNAID_ISN2 && !s->id.has_key) {
		xcause(cause, "isn2 without a content key");
		goto fail;
	}
	if (rsnaid_cx(s->id.id, s->p.oid, s->cx, sizeof(s->cx)) == -1) {
		xcause(cause, "cannot make the patient CX");
		goto fail;
	}
	if (p->submission_uid != NULL) {
		if (!dicom_uid_valid(p->submission_uid)) {
			xcause(cause, "the submission set uniqueId must be an "
			    "OID");
			goto fail;
		}
		strlcpy(s->ss_uid, p->submission_uid, sizeof(s->ss_uid));
	} else
		dicom_uid_generate(s->ss_uid);
	s->p.submission_uid = s->ss_uid;
	if (p->submission_time != NULL)
		strlcpy(s->time, p->submission_time, sizeof(s->time));
	else {
		gmtime_r(&t, &tm);
		strftime(s->time, sizeof(s->time), "%Y%m%d%H%M%S", &tm);
	}
	s->p.submission_time = s->time;
	return (s);
fail:
	isnsub_free(s);
	return (NULL);
}

static void
doc_free(struct doc *d)
{
	size_t	i;

	free(d->path);
	for (i = 0; i < sizeof(d->strs) / sizeof(d->strs[0]); i++)
		free(d->strs[i]);
	dbuf_free(&d->hdr);
	dbuf_free(&d->out);
	if (d->fd != -1)
		close(d->fd);
	envelope_enc_free(d->enc);
	free(d->chunk);
}

void
isnsub_free(struct isnsub *s)
{
	size_t	i;

	if (s == NULL)
		return;
	for (i = 0; i < s->ndocs; i++)
		doc_free(&s->docs[i]);
	free(s->docs);
	for (i = 0; i < sizeof(s->strs) / sizeof(s->strs[0]); i++)
		xstrzero(s->strs[i]);
	rsnaid_clear(&s->id);
	free(s->report_path);
	dbuf_free(&s->kos);
	dbuf_free(&s->env);
	mtom_writer_free(s->w);
	free(s);
}

static struct doc *
doc_new(struct isnsub *s, int kind, enum doc_src src)
{
	struct doc	*d;

	s->docs = xreallocarray(s->docs, s->ndocs + 1, sizeof(*s->docs));
	d = &s->docs[s->ndocs++];
	memset(d, 0, sizeof(*d));
	d->kind = kind;
	d->src = src;
	d->fd = -1;
	dbuf_init(&d->hdr, 1024 * 1024);
	dbuf_init(&d->out, 2 * (ENVELOPE_CHUNK + ENVELOPE_HEADER_LEN +
	    ENVELOPE_TAG_LEN));
	return (d);
}

static int
add_check(struct isnsub *s, char **cause)
{
	if (s->finished) {
		xcause(cause, "the submission is already built");
		return (-1);
	}
	if (s->ninstances >= ISNSUB_MAX_INSTANCES) {
		xcause(cause, "more than %d instances in one submission",
		    ISNSUB_MAX_INSTANCES);
		return (-1);
	}
	return (0);
}

/* An instance's uniqueId: its SOP Instance UID, or one of its own. */
static void
doc_uid(struct isnsub *s, struct doc *d)
{
	if (s->p.sop_uids)
		strlcpy(d->uid, d->ids.sop_instance, sizeof(d->uid));
	else
		dicom_uid_derive(s->ss_uid, d->ids.sop_instance, d->uid);
}

/* Same study, and no SOP Instance UID twice. */
static int
add_ids(struct isnsub *s, const struct dicom_ids *ids, char **cause)
{
	size_t	i;

	if (s->study[0] == '\0')
		strlcpy(s->study, ids->study, sizeof(s->study));
	else if (strcmp(s->study, ids->study) != 0) {
		xcause(cause, "instance %s is in study %s, not %s: one "
		    "submission holds one study", ids->sop_instance, ids->study,
		    s->study);
		return (-1);
	}
	for (i = 0; i < s->ndocs; i++)
		if (strcmp(s->docs[i].ids.sop_instance, ids->sop_instance) ==
		    0) {
			xcause(cause, "SOP instance %s given twice",
			    ids->sop_instance);
			return (-1);
		}
	return (0);
}

int
isnsub_add_file(struct isnsub *s, const char *path, char **cause)
{
	struct dicom_ids	 ids;
	struct doc		*d;

	if (add_check(s, cause) == -1 ||
	    dicom_read_ids_file(path, &ids, cause) == -1 ||
	    add_ids(s, &ids, cause) == -1)
		return (-1);
	d = doc_new(s, XDSMETA_DOC_IMAGE, SRC_FILE);
	d->path = xstrdup(path);
	d->ids = ids;
	doc_uid(s, d);
	s->ninstances++;
	return (0);
}

int
isnsub_add_synthetic(struct isnsub *s, const struct dicom_instance_params *ip,
    char **cause)
{
	struct dicom_ids	 ids;
	struct doc		*d;
	struct dbuf		 hdr;

	if (add_check(s, cause) == -1)
		return (-1);
	/* Build the header once to check it and learn the sizes. */
	dbuf_init(&hdr, 1024 * 1024);
	if (dicom_instance_header(ip, &hdr, cause) == -1 ||
	    dicom_read_ids(hdr.data, hdr.len, &ids, cause) != 0) {
		if (cause != NULL && *cause == NULL)
			xcause(cause, "synthetic instance unreadable");
		dbuf_free(&hdr);
		return (-1);
	}
	if (add_ids(s, &ids, cause) == -1) {
		dbuf_free(&hdr);
		return (-1);
	}
	d = doc_new(s, XDSMETA_DOC_IMAGE, SRC_SYNTH);
	d->ip = *ip;
	d->ip.patient_id = d->strs[0] = xstrdup(ip->patient_id);
	d->ip.patient_name = d->strs[1] = dupnull(ip->patient_name);
	d->ip.study_uid = d->strs[2] = xstrdup(ip->study_uid);
	d->ip.series_uid = d->strs[3] = xstrdup(ip->series_uid);
	d->ip.sop_instance_uid = d->strs[4] = xstrdup(ip->sop_instance_uid);
	d->ip.accession_number = d->strs[5] = dupnull(ip->accession_number);
	/* Fixed now, so that every generation gives the same bytes. */
	d->ip.date = d->strs[6] = ip->date != NULL ? xstrdup(ip->date) :
	    xstrndup(s->time, 8);
	d->ip.time = d->strs[7] = ip->time != NULL ? xstrdup(ip->time) :
	    xstrndup(s->time + 8, 6);
	d->ip.sop_class_uid = NULL;
	d->ip.modality = NULL;
	if (!ip->ct && ip->sop_class_uid != NULL &&
	    strcmp(ip->sop_class_uid, DICOM_SC_CLASS) != 0) {
		xcause(cause, "synthetic instances are Secondary Capture or "
		    "CT");
		s->ndocs--;
		doc_free(d);
		dbuf_free(&hdr);
		return (-1);
	}
	d->total = hdr.len + dicom_instance_plen(ip);
	dbuf_free(&hdr);
	d->ids = ids;
	doc_uid(s, d);
	s->ninstances++;
	return (0);
}

int
isnsub_set_report(struct isnsub *s, const char *path, char **cause)
{
	if (s->finished) {
		xcause(cause, "the submission is already built");
		return (-1);
	}
	if (access(path, R_OK) == -1) {
		xcause(cause, "%s: %s", path, strerror(errno));
		return (-1);
	}
	free(s->report_path);
	s->report_path = xstrdup(path);
	return (0);
}

/* Sources: the plain document bytes. */
static ssize_t
src_read(struct doc *d, void *buf, size_t len, char **cause)
{
	struct isnsub	*s = d->sub;
	ssize_t		 n;
	size_t		 take;

	switch (d->src) {
	case SRC_MEM:
		take = s->kos.len - (size_t)d->off;
		if (take > len)
			take = len;
		memcpy(buf, s->kos.data + d->off, take);
		d->off += take;
		return ((ssize_t)take);
	case SRC_SYNTH:
		if (d->off == 0 && d->hdr.len == 0 &&
		    dicom_instance_header(&d->ip, &d->hdr, cause) == -1)
			return (-1);
		if (d->off >= d->total) {
			dbuf_free(&d->hdr);
			return (0);
		}
		if (d->off < d->hdr.len) {
			take = d->hdr.len - (size_t)d->off;
			if (take > len)
				take = len;
			memcpy(buf, d->hdr.data + d->off, take);
		} else {
			take = d->total - d->off < len ?
			    (size_t)(d->total - d->off) : len;
			dicom_instance_pixels(d->ip.seed, d->off - d->hdr.len,
			    buf, take);
		}
		d->off += take;
		return ((ssize_t)take);
	case SRC_FILE:
		if (d->fd == -1 && d->off == 0 && !d->src_eof &&
		    (d->fd = open(d->path, O_RDONLY | O_CLOEXEC)) == -1) {
			xcause(cause, "%s: %s", d->path, strerror(errno));
			return (-1);
		}
		if (d->fd == -1)
			return (0);
		do
			n = read(d->fd, buf, len);
		while (n == -1 && errno == EINTR);
		if (n == -1) {
			xcause(cause, "%s: %s", d->path, strerror(errno));
			return (-1);
		}
		if (n == 0) {
			close(d->fd);
			d->fd = -1;
			d->src_eof = 1;
		}
		d->off += (uint64_t)n;
		return (n);
	}
	return (-1);
}

static int
enc_sink(void *arg, const void *buf, size_t len)
{
	struct doc	*d = arg;

	return (dbuf_add(&d->out, buf, len));
}

/* The MIME part: plain bytes, or the envelope around them. */
static ssize_t
part_read(void *buf, size_t len, void *arg, char **cause)
{
	struct doc	*d = arg;
	ssize_t		 n;
	size_t		 take;

	if (d->sub->p.scheme != RSNAID_ISN2)
		return (src_read(d, buf, len, cause));
	for (;;) {
		if (d->outpos < d->out.len) {
			take = d->out.len - d->outpos;
			if (take > len)
				take = len;
			memcpy(buf, d->out.data + d->outpos, take);
			d->outpos += take;
			if (d->outpos == d->out.len) {
				dbuf_reset(&d->out);
				d->outpos = 0;
			}
			return ((ssize_t)take);
		}
		if (d->done)
			return (0);
		if (d->enc == NULL) {
			d->enc = envelope_enc_new(d->sub->id.key, d->uid,
			    enc_sink, d, cause);
			if (d->enc == NULL)
				return (-1);
			d->chunk = xmalloc(SRC_CHUNK);
		}
		if ((n = src_read(d, d->chunk, SRC_CHUNK, cause)) == -1)
			return (-1);
		if (n > 0) {
			if (envelope_enc_update(d->enc, d->chunk, (size_t)n,
			    cause) == -1)
				return (-1);
			continue;
		}
		if (envelope_enc_final(d->enc, cause) == -1)
			return (-1);
		envelope_enc_free(d->enc);
		d->enc = NULL;
		free(d->chunk);
		d->chunk = NULL;
		d->done = 1;
	}
}

/* Letters, digits, '-' and '.': safe in a CXi and in DICOM SH. */
static int
accession_valid(const char *a)
{
	size_t	i;

	for (i = 0; a[i] != '\0'; i++)
		if (!((a[i] >= '0' && a[i] <= '9') ||
		    (a[i] >= 'A' && a[i] <= 'Z') ||
		    (a[i] >= 'a' && a[i] <= 'z') || a[i] == '-' || a[i] == '.'))
			return (0);
	return (i > 0 && i <= 16);
}

/* The accession number: given, else the first instance's. */
static int
find_accession(struct isnsub *s, char **cause)
{
	size_t	i;

	if (s->p.accession_number != NULL)
		strlcpy(s->accession, s->p.accession_number,
		    sizeof(s->accession));
	else
		for (i = 0; i < s->ninstances && s->accession[0] == '\0'; i++)
			strlcpy(s->accession, s->docs[i].ids.accession,
			    sizeof(s->accession));
	if (s->accession[0] == '\0') {
		if (s->p.scheme == RSNAID_ISN2)
			return (0);
		xcause(cause, "no accession number: the instances carry "
		    "none, give one");
		return (-1);
	}
	if (!accession_valid(s->accession)) {
		xcause(cause, "accession number \"%s\" is not 1-16 letters, "
		    "digits, '-' or '.'", s->accession);
		return (-1);
	}
	return (0);
}

/* The KOS entry's accession CXi (plain schemes, xdsvalid requires it). */
static void
add_accession_ref(struct isnsub *s, struct xds_docentry *de)
{
	struct xds_strv	*v = &de->reference_id_list.values;

	v->v = xreallocarray(v->v, v->n + 1, sizeof(*v->v));
	xasprintf(&v->v[v->n++], "%s^^^&%s&ISO^urn:ihe:iti:xds:2013:accession",
	    s->accession, s->p.accession_issuer);
	de->reference_id_list.set = 1;
}

static int
build_kos(struct isnsub *s, char **cause)
{
	struct dicom_kos_params	 kp;
	struct dicom_ref	*refs;
	size_t			 i;
	int			 rc;

	refs = xcalloc(s->ninstances, sizeof(*refs));
	for (i = 0; i < s->ninstances; i++) {
		refs[i].study_uid = s->docs[i].ids.study;
		refs[i].series_uid = s->docs[i].ids.series;
		refs[i].sop_class_uid = s->docs[i].ids.sop_class;
		refs[i].sop_instance_uid = s->docs[i].ids.sop_instance;
	}
	dicom_uid_generate(s->kos_series);
	dicom_uid_generate(s->kos_uid);
	memset(&kp, 0, sizeof(kp));
	kp.patient_id = s->id.id;
	kp.patient_name = s->p.kos_patient_name;
	kp.study_uid = s->study;
	kp.series_uid = s->kos_series;
	kp.sop_instance_uid = s->kos_uid;
	kp.retrieve_location_uid = s->p.repository_uid;
	kp.accession_number = s->accession[0] != '\0' ? s->accession : NULL;
	kp.refs = refs;
	kp.nrefs = s->ninstances;
	rc = dicom_kos_build(&kp, &s->kos, cause);
	free(refs);
	return (rc);
}

int
isnsub_finish(struct isnsub *s, char **cause)
{
	struct xdsmeta_subset_spec	 ss;
	struct xdsmeta_doc_spec		 ds;
	struct xds_submission		*sub = NULL;
	struct xdsmsg_document		*xd = NULL;
	struct dbuf			 sor, pnr;
	struct doc			*d;
	struct xds_docentry		*de;
	const char			*ct;
	size_t				 i;
	int				 rc = -1;

	if (s->finished) {
		xcause(cause, "the submission is already built");
		return (-1);
	}
	if (s->ninstances == 0) {
		xcause(cause, "a submission holds at least one instance");
		return (-1);
	}
	s->finished = 1;
	if (find_accession(s, cause) == -1 || build_kos(s, cause) == -1)
		return (-1);
	d = doc_new(s, XDSMETA_DOC_KOS, SRC_MEM);
	strlcpy(d->uid, s->kos_uid, sizeof(d->uid));
	if (s->report_path != NULL) {
		d = doc_new(s, XDSMETA_DOC_REPORT, SRC_FILE);
		d->path = xstrdup(s->report_path);
		dicom_uid_generate(s->report_uid);
		strlcpy(d->uid, s->report_uid, sizeof(d->uid));
	}

	memset(&ss, 0, sizeof(ss));
	ss.patient_id = s->cx;
	ss.source_id = s->p.source_id;
	ss.unique_id = s->ss_uid;
	ss.submission_time = s->time;
	ss.isn2 = s->p.scheme == RSNAID_ISN2;
	dbuf_init(&sor, 256 * 1024 * 1024);
	dbuf_init(&pnr, 256 * 1024 * 1024);
	if ((sub = xdsmeta_build_subset(&ss)) == NULL) {
		xcause(cause, "cannot build the submission set");
		goto out;
	}
	xd = xcalloc(s->ndocs, sizeof(*xd));
	for (i = 0; i < s->ndocs; i++) {
		d = &s->docs[i];
		d->sub = s;
		memset(&ds, 0, sizeof(ds));
		ds.kind = d->kind;
		ds.unique_id = d->uid;
		ds.sop_class = d->kind == XDSMETA_DOC_IMAGE ? d->ids.sop_class :
		    NULL;
		ds.study_uid = s->study;
		ds.series_uid = d->kind == XDSMETA_DOC_IMAGE ? d->ids.series :
		    NULL;
		ds.sop_uid = d->kind == XDSMETA_DOC_IMAGE && !s->p.sop_uids ?
		    d->ids.sop_instance : NULL;
		ds.creation_time = s->time;
		ds.size = -1;
		if ((de = xdsmeta_build_doc(sub, &ds)) == NULL) {
			xcause(cause, "cannot build the entry of %s", d->uid);
			goto out;
		}
		if (d->kind == XDSMETA_DOC_KOS && s->p.scheme != RSNAID_ISN2)
			add_accession_ref(s, de);
		snprintf(d->cid, sizeof(d->cid), "doc%zu@isnsub", i + 1);
		snprintf(d->href, sizeof(d->href), "cid:%s", d->cid);
	}
	/* The ids once every entry is in (sub->docs may have moved). */
	for (i = 0; i < s->ndocs; i++) {
		xd[i].id = sub->docs[i].o.id;
		xd[i].content.href = s->docs[i].href;
	}
	if (xdsmeta_write(&sor, sub, XDSMETA_W_SOR) == -1 ||
	    xdsmsg_pnr_build(&pnr, sor.data, sor.len, xd, s->ndocs) == -1 ||
	    soap_request(&s->env, SOAP_ACTION_ITI41, NULL, pnr.data, pnr.len,
	    NULL) == -1) {
		xcause(cause, "cannot build the envelope");
		goto out;
	}
	s->w = mtom_writer_new(NULL, SOAP_ACTION_ITI41);
	if (mtom_writer_set_root(s->w, s->env.data, s->env.len,
	    "root@isnsub", cause) == -1)
		goto out;
	for (i = 0; i < s->ndocs; i++) {
		d = &s->docs[i];
		if (s->p.scheme == RSNAID_ISN2)
			ct = "application/octet-stream";
		else if (d->kind == XDSMETA_DOC_REPORT)
			ct = "text/plain";
		else
			ct = "application/dicom";
		if (mtom_writer_add_cb(s->w, d->cid, ct, part_read, d,
		    cause) == -1)
			goto out;
	}
	rc = 0;
out:
	free(xd);
	xdsmeta_free(sub);
	dbuf_free(&sor);
	dbuf_free(&pnr);
	return (rc);
}

const char *
isnsub_content_type(struct isnsub *s)
{
	return (s->w != NULL ? mtom_writer_content_type(s->w) : NULL);
}

ssize_t
isnsub_read(struct isnsub *s, void *buf, size_t len, char **cause)
{
	if (s->w == NULL) {
		xcause(cause, "the submission is not built");
		return (-1);
	}
	return (mtom_writer_read(s->w, buf, len, cause));
}

static int
fd_sink(const void *buf, size_t len, void *arg, char **cause)
{
	if (fdio_write_all(*(int *)arg, buf, len) == -1) {
		xcause(cause, "write: %s", strerror(errno));
		return (-1);
	}
	return (0);
}

int
isnsub_write_fd(struct isnsub *s, int fd, char **cause)
{
	if (s->w == NULL) {
		xcause(cause, "the submission is not built");
		return (-1);
	}
	return (mtom_writer_write(s->w, fd_sink, &fd, cause));
}

const char *
isnsub_rsnaid(const struct isnsub *s)
{
	return (s->id.id);
}

const char *
isnsub_patient_cx(const struct isnsub *s)
{
	return (s->cx);
}

const char *
isnsub_submission_uid(const struct isnsub *s)
{
	return (s->ss_uid);
}

const char *
isnsub_study_uid(const struct isnsub *s)
{
	return (s->study);
}

const char *
isnsub_kos_uid(const struct isnsub *s)
{
	return (s->kos_uid);
}

const char *
isnsub_report_uid(const struct isnsub *s)
{
	return (s->report_uid[0] != '\0' ? s->report_uid : NULL);
}

const void *
isnsub_kos(const struct isnsub *s, size_t *len)
{
	*len = s->kos.len;
	return (s->kos.data);
}

size_t
isnsub_ninstances(const struct isnsub *s)
{
	return (s->ninstances);
}
