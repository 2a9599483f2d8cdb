/*
 * phr-mksub.c: a network submission for the PHR tests, as an edge would
 * send it (PROFILE.md section 5): synthetic DICOM instances in series, a
 * KOS listing them, a text report, encrypted with the isn2 envelope when
 * the scheme is isn2, in an ITI-41 MTOM message.
 *
 *   phr-mksub [-s scheme] (-t token -p password | -a code) -d dob
 *	[-o oid] [-R repository] [-S study] [-n] [-k plaindir]
 *	set-uid out ctfile series:count...
 *
 * The plaintext of each document goes to plaindir/<uid> for byte-for-byte
 * comparisons; -n leaves the report out.
 */
#include "config.h"

#include <sys/stat.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dbuf.h"
#include "dicom.h"
#include "envelope.h"
#include "log.h"
#include "mtom.h"
#include "rsnaid.h"
#include "soap.h"
#include "xdsmeta.h"
#include "xdsmsg.h"
#include "xmalloc.h"

struct mk_doc {
	char		 uid[DICOM_UID_BUF];
	char		 series[DICOM_UID_BUF];
	int		 kind;
	struct dbuf	 plain;
	struct dbuf	 stored;
	char		 sha1[41];
	char		 cid[96];
	char		 href[104];
};

static void
usage(void)
{
	fprintf(stderr, "usage: phr-mksub [-s scheme] (-t token -p password "
	    "| -a code) -d dob [-o oid] [-R repo] [-S study] [-n] "
	    "[-k plaindir] set-uid out ctfile series:count...\n");
	exit(2);
}

static int
mk_sink(void *arg, const void *buf, size_t len)
{
	return (dbuf_add(arg, buf, len));
}

static int
mk_file_sink(const void *buf, size_t len, void *arg, char **cause)
{
	return (fwrite(buf, 1, len, arg) == len ? 0 : -1);
}

static void
mk_store(struct mk_doc *d, const struct rsnaid *id, const char *plaindir)
{
	struct envelope_enc	*e;
	char			*cause = NULL, *p;
	FILE			*f;

	dbuf_init(&d->stored, SIZE_MAX - 1);
	if (id->has_key) {
		if ((e = envelope_enc_new(id->key, d->uid, mk_sink, &d->stored,
		    &cause)) == NULL ||
		    envelope_enc_update(e, d->plain.data, d->plain.len,
		    &cause) == -1 || envelope_enc_final(e, &cause) == -1)
			fatalx("envelope: %s", cause);
		envelope_enc_free(e);
	} else
		dbuf_add(&d->stored, d->plain.data, d->plain.len);
	xdsmsg_sha1_hex(d->stored.data, d->stored.len, d->sha1);
	if (plaindir != NULL) {
		xasprintf(&p, "%s/%s", plaindir, d->uid);
		if ((f = fopen(p, "w")) == NULL ||
		    fwrite(d->plain.data, 1, d->plain.len, f) != d->plain.len ||
		    fclose(f) != 0)
			fatalx("cannot write %s", p);
		free(p);
	}
}

int
main(int argc, char **argv)
{
	struct xdsmeta_subset_spec	 ss;
	struct xdsmeta_doc_spec		 ds;
	struct dicom_instance_params	 ip;
	struct dicom_kos_params		 kp;
	struct dicom_ref		*refs;
	struct xds_submission		*sub;
	struct xds_docentry		*de;
	struct xds_strv			*v;
	struct xdsmsg_document		*xd;
	struct mtom_writer		*w;
	struct mk_doc			*docs;
	struct rsnaid			 id;
	struct dbuf			 sor, pnr, env;
	enum rsnaid_scheme		 scheme = RSNAID_ISN2;
	const char			*token = NULL, *code = NULL, *pw = NULL;
	const char			*dob = NULL, *oid = RSNAID_DEFAULT_OID;
	const char			*repo = "1.2.3", *plaindir = NULL;
	char				 study[DICOM_UID_BUF] = "", cx[256];
	char				 now[16], *cause = NULL, *c;
	size_t				 ndocs = 0, nimg = 0, i, j, n;
	FILE				*f;
	int				 ch, report = 1;
	time_t				 t;

	while ((ch = getopt(argc, argv, "a:d:k:no:p:R:s:S:t:")) != -1) {
		switch (ch) {
		case 'a': code = optarg; break;
		case 'd': dob = optarg; break;
		case 'k': plaindir = optarg; break;
		case 'n': report = 0; break;
		case 'o': oid = optarg; break;
		case 'p': pw = optarg; break;
		case 'R': repo = optarg; break;
		case 's':
			if (rsnaid_scheme_parse(optarg, &scheme) == -1)
				usage();
			break;
		case 'S': strlcpy(study, optarg, sizeof(study)); break;
		case 't': token = optarg; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 4 || dob == NULL)
		usage();
	if (rsnaid_compute(scheme, code != NULL ? code : token, dob, pw, &id,
	    &cause) == -1)
		fatalx("%s", cause);
	if (rsnaid_cx(id.id, oid, cx, sizeof(cx)) == -1)
		fatalx("oid too long");
	if (study[0] == '\0')
		snprintf(study, sizeof(study), "%s.1", argv[0]);
	t = time(NULL);
	strftime(now, sizeof(now), "%Y%m%d%H%M%S", gmtime(&t));

	for (i = 3; i < (size_t)argc; i++) {
		if ((c = strchr(argv[i], ':')) == NULL)
			usage();
		nimg += strtoul(c + 1, NULL, 10);
	}
	docs = xcalloc(nimg + 2, sizeof(*docs));
	refs = xcalloc(nimg + 1, sizeof(*refs));
	for (i = 3; i < (size_t)argc; i++) {
		c = strchr(argv[i], ':');
		n = strtoul(c + 1, NULL, 10);
		for (j = 0; j < n; j++) {
			struct mk_doc	*d = &docs[ndocs];

			d->kind = XDSMETA_DOC_IMAGE;
			snprintf(d->series, sizeof(d->series), "%.*s",
			    (int)(c - argv[i]), argv[i]);
			snprintf(d->uid, sizeof(d->uid), "%s.%zu", d->series,
			    j + 1);
			memset(&ip, 0, sizeof(ip));
			ip.patient_id = "ISN";
			ip.study_uid = study;
			ip.series_uid = d->series;
			ip.sop_instance_uid = d->uid;
			ip.instance_number = (unsigned)j + 1;
			ip.pixel_bytes = 1000 + 700 * ndocs;
			ip.seed = ndocs + 1;
			dbuf_init(&d->plain, SIZE_MAX - 1);
			if (dicom_instance_build(&ip, &d->plain, &cause) == -1)
				fatalx("instance: %s", cause);
			refs[ndocs].study_uid = study;
			refs[ndocs].series_uid = d->series;
			refs[ndocs].sop_class_uid = DICOM_SC_CLASS;
			refs[ndocs].sop_instance_uid = d->uid;
			ndocs++;
		}
	}
	/* The KOS. */
	memset(&kp, 0, sizeof(kp));
	kp.patient_id = "ISN";
	kp.study_uid = study;
	snprintf(docs[ndocs].series, sizeof(docs[ndocs].series), "%s.999",
	    study);
	snprintf(docs[ndocs].uid, sizeof(docs[ndocs].uid), "%s.999.1", study);
	kp.series_uid = docs[ndocs].series;
	kp.sop_instance_uid = docs[ndocs].uid;
	kp.retrieve_location_uid = repo;
	kp.refs = refs;
	kp.nrefs = ndocs;
	docs[ndocs].kind = XDSMETA_DOC_KOS;
	dbuf_init(&docs[ndocs].plain, SIZE_MAX - 1);
	if (dicom_kos_build(&kp, &docs[ndocs].plain, &cause) == -1)
		fatalx("kos: %s", cause);
	ndocs++;
	if (report) {
		docs[ndocs].kind = XDSMETA_DOC_REPORT;
		snprintf(docs[ndocs].uid, sizeof(docs[ndocs].uid), "%s.998.1",
		    study);
		dbuf_init(&docs[ndocs].plain, SIZE_MAX - 1);
		dbuf_printf(&docs[ndocs].plain, "FINAL REPORT\r\nStudy %s: "
		    "no acute findings.\r\n", study);
		ndocs++;
	}
	for (i = 0; i < ndocs; i++)
		mk_store(&docs[i], &id, plaindir);

	memset(&ss, 0, sizeof(ss));
	ss.patient_id = cx;
	ss.source_id = "1.2.260.7";
	ss.unique_id = argv[0];
	ss.submission_time = now;
	ss.isn2 = id.has_key;
	if ((sub = xdsmeta_build_subset(&ss)) == NULL)
		fatalx("cannot build the submission set");
	for (i = 0; i < ndocs; i++) {
		memset(&ds, 0, sizeof(ds));
		ds.kind = docs[i].kind;
		ds.unique_id = docs[i].uid;
		ds.sop_class = DICOM_SC_CLASS;
		ds.study_uid = study;
		ds.series_uid = docs[i].kind == XDSMETA_DOC_IMAGE ?
		    docs[i].series : NULL;
		ds.creation_time = now;
		ds.service_start_time = now;
		ds.hash = docs[i].sha1;
		ds.size = (int64_t)docs[i].stored.len;
		ds.repository_unique_id = repo;
		if ((de = xdsmeta_build_doc(sub, &ds)) == NULL)
			fatalx("cannot build entry %zu", i);
		/* Without isn2 a KOS carries the accession number too. */
		if (!id.has_key && docs[i].kind == XDSMETA_DOC_KOS) {
			v = &de->reference_id_list.values;
			v->v = xreallocarray(v->v, v->n + 1, sizeof(*v->v));
			v->v[v->n++] = xstrdup("ACC1^^^^"
			    "urn:ihe:iti:xds:2013:accession");
		}
		snprintf(docs[i].cid, sizeof(docs[i].cid), "doc%zu@phr-mksub",
		    i + 1);
		snprintf(docs[i].href, sizeof(docs[i].href), "cid:%s",
		    docs[i].cid);
	}
	xd = xcalloc(ndocs, sizeof(*xd));
	for (i = 0; i < ndocs; i++) {
		xd[i].id = sub->docs[i].o.id;
		xd[i].content.href = docs[i].href;
	}
	dbuf_init(&sor, SIZE_MAX - 1);
	dbuf_init(&pnr, SIZE_MAX - 1);
	dbuf_init(&env, SIZE_MAX - 1);
	if (xdsmeta_write(&sor, sub, XDSMETA_W_SOR) == -1 ||
	    xdsmsg_pnr_build(&pnr, sor.data, sor.len, xd, ndocs) == -1 ||
	    soap_request(&env, SOAP_ACTION_ITI41, NULL, pnr.data, pnr.len,
	    NULL) == -1)
		fatalx("cannot build the envelope");
	w = mtom_writer_new(NULL, SOAP_ACTION_ITI41);
	if (mtom_writer_set_root(w, env.data, env.len, "root@phr-mksub",
	    &cause) == -1)
		fatalx("%s", cause);
	for (i = 0; i < ndocs; i++)
		if (mtom_writer_add_buf(w, docs[i].cid,
		    docs[i].kind == XDSMETA_DOC_REPORT && !id.has_key ?
		    "text/plain" : "application/octet-stream",
		    docs[i].stored.data, docs[i].stored.len, &cause) == -1)
			fatalx("%s", cause);
	if ((f = fopen(argv[1], "w")) == NULL ||
	    mtom_writer_write(w, mk_file_sink, f, &cause) == -1 ||
	    fclose(f) != 0)
		fatalx("cannot write %s", argv[1]);
	if ((f = fopen(argv[2], "w")) == NULL ||
	    fprintf(f, "%s\n", mtom_writer_content_type(w)) < 0 ||
	    fclose(f) != 0)
		fatalx("cannot write %s", argv[2]);
	printf("%s %s\n", id.id, study);

	mtom_writer_free(w);
	for (i = 0; i < ndocs; i++) {
		dbuf_free(&docs[i].plain);
		dbuf_free(&docs[i].stored);
	}
	free(docs);
	free(refs);
	free(xd);
	dbuf_free(&sor);
	dbuf_free(&pnr);
	dbuf_free(&env);
	xdsmeta_free(sub);
	rsnaid_clear(&id);
	return (0);
}
