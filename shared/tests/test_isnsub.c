/*
 * test_isnsub.c: submissions built by isnsub, read back with the MTOM
 * parser, the ebRIM parser, the validator, the envelope decoder and the
 * KOS parser, under isn2 and a plain scheme; and the refusals.
 */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbuf.h"
#include "dicom.h"
#include "envelope.h"
#include "isnsub.h"
#include "mtom.h"
#include "rsnaid.h"
#include "tap.h"
#include "xdsmeta.h"
#include "xdsvalid.h"
#include "xmalloc.h"

#define STUDY	"1.2.826.0.1.3680043.10.7"

/* The condition is evaluated before the cause is printed. */
#define okc(cond, fmt, ...) do {					\
	int okc_ = !!(cond);						\
	ok(okc_, fmt, __VA_ARGS__);					\
} while (0)
#define REPORT	"FINAL REPORT\r\nNothing to see.\r\n"

static const char *
C(const char *c)
{
	return (c != NULL ? c : "-");
}

/* The parts of a message, collected. */
struct parts {
	struct dbuf	 body[8];
	char		*cid[8];
	size_t		 n;
};

static int
p_begin(const struct mtom_part *mp, void **h, void *arg, char **cause)
{
	struct parts	*ps = arg;

	if (ps->n == 8) {
		xcause(cause, "too many parts");
		return (-1);
	}
	dbuf_init(&ps->body[ps->n], 64 * 1024 * 1024);
	ps->cid[ps->n] = xstrdup(mp->cid != NULL ? mp->cid : "");
	*h = &ps->body[ps->n++];
	return (0);
}

static int
p_data(const struct mtom_part *mp, const void *buf, size_t len, void *arg,
    char **cause)
{
	(void)arg;
	(void)cause;
	return (dbuf_add(mp->handle, buf, len));
}

static void
parts_free(struct parts *ps)
{
	size_t	i;

	for (i = 0; i < ps->n; i++) {
		dbuf_free(&ps->body[i]);
		free(ps->cid[i]);
	}
	ps->n = 0;
}

/* The whole message through isnsub_read in odd slices, then parsed. */
static char *
read_back(struct isnsub *s, struct parts *ps, size_t *rootlen)
{
	static const struct mtom_callbacks cb = { p_begin, p_data, NULL,
	    NULL };
	struct mtom_parser	*mp;
	char			 buf[7777], *cause = NULL, *root = NULL;
	ssize_t			 n;

	memset(ps, 0, sizeof(*ps));
	if ((mp = mtom_parser_new(isnsub_content_type(s), &cb, ps, NULL,
	    &cause)) == NULL) {
		printf("# %s\n", cause);
		free(cause);
		return (NULL);
	}
	while ((n = isnsub_read(s, buf, sizeof(buf), &cause)) > 0)
		if (mtom_parser_feed(mp, buf, (size_t)n, &cause) == -1)
			break;
	if (cause == NULL && mtom_parser_finish(mp, &cause) == 0)
		root = mtom_parser_take_root(mp, rootlen);
	if (cause != NULL)
		printf("# %s\n", cause);
	free(cause);
	mtom_parser_free(mp);
	return (root);
}

static int
dec_sink(void *arg, const void *buf, size_t len)
{
	return (dbuf_add(arg, buf, len));
}

static int
decrypt(const uint8_t *key, const char *uid, const struct dbuf *in,
    struct dbuf *out)
{
	struct envelope_dec	*d;
	int			 rc = -1;

	dbuf_init(out, 64 * 1024 * 1024);
	if ((d = envelope_dec_new(key, uid, dec_sink, out, NULL)) == NULL)
		return (-1);
	if (envelope_dec_update(d, in->data, in->len, NULL) == 0 &&
	    envelope_dec_final(d, NULL) == 0)
		rc = 0;
	envelope_dec_free(d);
	return (rc);
}

static void
synth(struct dicom_instance_params *ip, const char *series, const char *sop,
    size_t bytes, uint64_t seed)
{
	memset(ip, 0, sizeof(*ip));
	ip->patient_id = "P";
	ip->study_uid = STUDY;
	ip->series_uid = series;
	ip->sop_instance_uid = sop;
	ip->pixel_bytes = bytes;
	ip->seed = seed;
	ip->accession_number = "ACC-7";
	ip->date = "20261128";
	ip->time = "010203";
}

static void
test_scheme(enum rsnaid_scheme scheme, const char *report, int own)
{
	struct isnsub_params		 p;
	struct dicom_instance_params	 ip[2];
	struct isnsub			*s;
	struct parts			 ps;
	struct xds_submission		*sub = NULL;
	struct xds_errors		 errs = { NULL, 0 };
	struct xdsvalid_doc		 vd[4];
	struct rsnaid			 id;
	struct dicom_kos		*kos = NULL;
	struct dbuf			 plain, want;
	const char			*name = rsnaid_scheme_name(scheme);
	char				*cause = NULL, *root;
	size_t				 rootlen, i, nerr, good = 0;
	size_t				 nenv = 0;
	int				 isn2 = scheme == RSNAID_ISN2;

	memset(&p, 0, sizeof(p));
	p.scheme = scheme;
	p.secret = isn2 ? "ybndrfg8" : "fpzddg";
	p.dob = "19460201";
	p.password = "quackquack";
	p.oid = "1.2.260";
	p.repository_uid = "1.2.3";
	p.submission_uid = "1.2.260.1.1";
	p.sop_uids = !own;
	s = isnsub_new(&p, &cause);
	okc(s != NULL, "%s: isnsub_new: %s", name, C(cause));
	if (s == NULL)
		return;
	rsnaid_compute(scheme, p.secret, p.dob, p.password, &id, NULL);
	is_str(isnsub_rsnaid(s), id.id, "%s: the RSNA-ID", name);
	synth(&ip[0], STUDY ".1", STUDY ".1.1", 70000, 1);
	synth(&ip[1], STUDY ".2", STUDY ".2.1", 10, 2);
	ok(isnsub_add_synthetic(s, &ip[0], NULL) == 0 &&
	    isnsub_add_synthetic(s, &ip[1], NULL) == 0 &&
	    (report == NULL || isnsub_set_report(s, report, NULL) == 0) &&
	    isnsub_finish(s, &cause) == 0, "%s: built", name);
	root = read_back(s, &ps, &rootlen);
	ok(root != NULL && ps.n == (report != NULL ? 4u : 3u),
	    "%s: the message parses with %zu attachments", name, ps.n);
	if (root == NULL)
		goto out;
	sub = xdsmeta_parse_buf(root, rootlen, &cause);
	ok(sub != NULL && sub->ndocs == ps.n && sub->nsubsets == 1,
	    "%s: the metadata parses", name);
	if (sub == NULL)
		goto out;
	for (i = 0; i < sub->ndocs; i++) {
		vd[i].id = sub->docs[i].o.id;
		vd[i].size = -1;
		vd[i].sha1 = NULL;
	}
	nerr = xdsvalid_check(sub, XDSVALID_ITI41 | (isn2 ? XDSVALID_ISN2 : 0),
	    vd, sub->ndocs, &errs);
	for (i = 0; i < errs.n; i++)
		printf("# %s %s\n", errs.v[i].code, errs.v[i].message);
	ok(nerr == 0, "%s: the metadata passes xdsvalid", name);
	ok((strstr(root, "urn:rsna:isn:encryption") != NULL) == isn2 &&
	    strstr(root, "name=\"hash\"") == NULL &&
	    strstr(root, "name=\"size\"") == NULL &&
	    (strstr(root, "ACC-7") != NULL) == !isn2,
	    "%s: isn2 slot, no hash/size, accession only when plain", name);
	if (own) {
		char	uid[DICOM_UID_BUF];

		dicom_uid_derive(p.submission_uid, STUDY ".1.1", uid);
		ok(strcmp(sub->docs[0].unique_id.value, uid) == 0 &&
		    strstr(root, "urn:rsna:isn:sopInstanceUID") != NULL &&
		    strstr(root, STUDY ".1.1<") != NULL &&
		    strcmp(sub->docs[2].unique_id.value, isnsub_kos_uid(s)) ==
		    0, "%s: own uniqueIds, derived, the SOP UID in its slot",
		    name);
	} else
		ok(xdsmeta_find_doc(sub, sub->docs[0].o.id) != NULL &&
		    strcmp(sub->docs[0].unique_id.value, STUDY ".1.1") == 0 &&
		    strstr(root, STUDY ".1.1") != NULL &&
		    strstr(root, "urn:rsna:isn:sopInstanceUID") == NULL &&
		    strcmp(sub->docs[2].unique_id.value, isnsub_kos_uid(s)) ==
		    0, "%s, sop_uids: uniqueIds are the SOP and KOS UIDs", name);

	/* The parts, in order: instances, KOS, report. */
	for (i = 0; i < ps.n; i++) {
		const char *uid = sub->docs[i].unique_id.value;

		dbuf_init(&want, 64 * 1024 * 1024);
		if (i < 2)
			dicom_instance_build(&ip[i], &want, NULL);
		else if (i == 3)
			dbuf_addstr(&want, REPORT);
		if (isn2) {
			if (decrypt(id.key, uid, &ps.body[i], &plain) == -1) {
				dbuf_free(&plain);
				dbuf_free(&want);
				continue;
			}
			if (ps.body[i].len == envelope_size(plain.len))
				nenv++;
		} else {
			dbuf_init(&plain, 64 * 1024 * 1024);
			dbuf_add(&plain, ps.body[i].data, ps.body[i].len);
		}
		if (i == 2) {
			if (dicom_kos_parse(plain.data, plain.len, &kos,
			    &cause) == 0 && kos->ninstances == 2 &&
			    strcmp(kos->studies[0].uid, STUDY) == 0 &&
			    strcmp(kos->studies[0].series[0].retrieve_location,
			    "1.2.3") == 0 &&
			    strcmp(kos->ids.patient_id, id.id) == 0)
				good++;
			dicom_kos_free(kos);
			kos = NULL;
		} else if (plain.len == want.len &&
		    memcmp(plain.data, want.data, want.len) == 0)
			good++;
		dbuf_free(&plain);
		dbuf_free(&want);
	}
	ok(good == ps.n, "%s: every document is the original (%zu of %zu)",
	    name, good, ps.n);
	if (isn2)
		ok(nenv == ps.n, "isn2: every part is an envelope of its "
		    "document's size");
out:
	free(cause);
	free(root);
	parts_free(&ps);
	xdsmeta_errors_free(&errs);
	xdsmeta_free(sub);
	rsnaid_clear(&id);
	isnsub_free(s);
}

static void
test_refusals(const char *dir)
{
	struct isnsub_params		 p;
	struct dicom_instance_params	 ip;
	struct isnsub			*s;
	char				*cause = NULL, path[512];

	memset(&p, 0, sizeof(p));
	p.scheme = RSNAID_RSNA_TOKEN;
	p.secret = "fpzddg";
	p.dob = "19460201";
	p.password = "quackquack";
	p.repository_uid = "1.2.3";
	s = isnsub_new(&p, NULL);
	okc(isnsub_finish(s, &cause) == -1 && cause != NULL,
	    "no instances: %s", C(cause));
	free(cause);
	cause = NULL;
	isnsub_free(s);

	s = isnsub_new(&p, NULL);
	synth(&ip, STUDY ".1", STUDY ".1.1", 10, 1);
	isnsub_add_synthetic(s, &ip, NULL);
	okc(isnsub_add_synthetic(s, &ip, &cause) == -1 && cause != NULL,
	    "an instance twice: %s", C(cause));
	free(cause);
	cause = NULL;
	ip.study_uid = STUDY "9";
	ip.sop_instance_uid = STUDY ".1.2";
	okc(isnsub_add_synthetic(s, &ip, &cause) == -1 && cause != NULL,
	    "a second study: %s", C(cause));
	free(cause);
	cause = NULL;
	snprintf(path, sizeof(path), "%s/not.dcm", dir);
	close(open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600));
	okc(isnsub_add_file(s, path, &cause) == -1 && cause != NULL,
	    "an empty file: %s", C(cause));
	free(cause);
	cause = NULL;
	/* Plain scheme, instances without an accession number. */
	isnsub_free(s);
	s = isnsub_new(&p, NULL);
	synth(&ip, STUDY ".1", STUDY ".1.1", 10, 1);
	ip.accession_number = NULL;
	isnsub_add_synthetic(s, &ip, NULL);
	okc(isnsub_finish(s, &cause) == -1 && cause != NULL,
	    "plain without accession: %s", C(cause));
	free(cause);
	cause = NULL;
	okc(isnsub_add_synthetic(s, &ip, &cause) == -1 && cause != NULL,
	    "nothing added after finish: %s", C(cause));
	free(cause);
	cause = NULL;
	isnsub_free(s);

	/* An RSNA-ID computed earlier: the same id and CX, scheme checked. */
	{
		struct rsnaid	 id;
		char		 cx[256];

		rsnaid_compute(p.scheme, p.secret, p.dob, p.password, &id,
		    NULL);
		p.id = &id;
		s = isnsub_new(&p, &cause);
		okc(s != NULL && strcmp(isnsub_rsnaid(s), id.id) == 0,
		    "a given RSNA-ID is used as is: %s", C(cause));
		rsnaid_cx(id.id, RSNAID_DEFAULT_OID, cx, sizeof(cx));
		ok(s != NULL && strcmp(isnsub_patient_cx(s), cx) == 0,
		    "and makes the same CX");
		isnsub_free(s);
		id.scheme = RSNAID_ISN2;
		s = isnsub_new(&p, &cause);
		okc(s == NULL && cause != NULL, "an RSNA-ID of another scheme "
		    "is refused: %s", C(cause));
		free(cause);
		cause = NULL;
		p.id = NULL;
	}

	p.scheme = RSNAID_ISN2;
	p.secret = "x";
	okc(isnsub_new(&p, &cause) == NULL && cause != NULL,
	    "a bad isn2 token: %s", C(cause));
	free(cause);
	cause = NULL;
	p.scheme = RSNAID_RSNA_TOKEN;
	p.secret = "fpzddg";
	p.oid = "not an oid";
	okc(isnsub_new(&p, &cause) == NULL && cause != NULL,
	    "a bad OID: %s", C(cause));
	free(cause);
}

int
main(void)
{
	char	dir[] = "/tmp/test_isnsub.XXXXXX", path[512], cmd[600];
	FILE	*f;

	if (mkdtemp(dir) == NULL)
		return (1);
	snprintf(path, sizeof(path), "%s/report.txt", dir);
	if ((f = fopen(path, "w")) == NULL)
		return (1);
	fputs(REPORT, f);
	fclose(f);
	test_scheme(RSNAID_ISN2, path, 1);
	test_scheme(RSNAID_RSNA_TOKEN, path, 1);
	test_scheme(RSNAID_RSNA_TOKEN, NULL, 0);
	test_scheme(RSNAID_ISN2, path, 0);
	test_refusals(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)system(cmd);
	return (tap_done());
}
