/*
 * admin-pnr: write one ITI-41 Provide and Register (MTOM/XOP) for the
 * admin and crash tests (test_admin.sh, test_crash.sh).
 *
 * usage: admin-pnr out-file ct-file doc-bytes patient-cx ss-uid
 *
 * One isn2 SubmissionSet (uniqueId ss-uid) for patient-cx with one image
 * entry (uniqueId ss-uid.1) whose MIME part is doc-bytes pseudo-random
 * bytes (seeded by ss-uid), built with xdsmeta_build_* and streamed by
 * mtom_writer in bounded memory; no hash or size in the metadata (the
 * repository computes them). out-file "-" is stdout (for curl -T -). The
 * HTTP Content-Type goes to ct-file; it depends on ss-uid only (the MIME
 * boundary is made from it, the root's Content-ID is fixed), so a run
 * with doc-bytes 1 gives the Content-Type of a larger one.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbuf.h"
#include "log.h"
#include "mtom.h"
#include "soap.h"
#include "xdsmeta.h"
#include "xdsmsg.h"
#include "xmalloc.h"

struct synth {
	uint64_t	size, pos, state;
};

static ssize_t
synth_read(void *buf, size_t len, void *arg, char **cause)
{
	struct synth	*s = arg;
	unsigned char	*p = buf;
	uint64_t	 x;
	size_t		 i, k;

	(void)cause;
	if (len > s->size - s->pos)
		len = (size_t)(s->size - s->pos);
	for (i = 0; i < len; i += 8) {
		x = s->state;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		s->state = x;
		k = len - i < 8 ? len - i : 8;
		memcpy(p + i, &x, k);
	}
	s->pos += len;
	return ((ssize_t)len);
}

static int
out_sink(const void *buf, size_t len, void *arg, char **cause)
{
	int		 fd = *(int *)arg;
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			xasprintf(cause, "write: %s", strerror(errno));
			return (-1);
		}
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

int
main(int argc, char **argv)
{
	struct xdsmeta_subset_spec	 ss;
	struct xdsmeta_doc_spec		 ds;
	struct xds_submission		*sub;
	struct xds_docentry		*de;
	struct xdsmsg_document		 doc;
	struct synth			 syn;
	struct mtom_writer		*w;
	struct dbuf			 sor, pnr, env;
	char				*cause = NULL, *uid, *study, *series;
	char				 boundary[64];
	const char			*p;
	FILE				*ct;
	int				 fd;

	if (argc != 6) {
		fprintf(stderr, "usage: admin-pnr out-file ct-file doc-bytes "
		    "patient-cx ss-uid\n");
		return (2);
	}
	log_init(1, "admin-pnr", 0);
	memset(&syn, 0, sizeof(syn));
	syn.size = strtoull(argv[3], NULL, 10);
	syn.state = 0x9e3779b97f4a7c15ULL;
	for (p = argv[5]; *p != '\0'; p++)
		syn.state = syn.state * 31 + (unsigned char)*p;
	if (syn.size < 1)
		fatalx("bad doc-bytes");

	memset(&ss, 0, sizeof(ss));
	ss.patient_id = argv[4];
	ss.source_id = "1.3.6.1.4.1.19376.3.840.1.1.4.1";
	ss.unique_id = argv[5];
	ss.submission_time = "20261127120000";
	ss.isn2 = 1;
	if ((sub = xdsmeta_build_subset(&ss)) == NULL)
		fatalx("xdsmeta_build_subset failed");
	xasprintf(&uid, "%s.1", argv[5]);
	xasprintf(&study, "%s.9", argv[5]);
	xasprintf(&series, "%s.9.1", argv[5]);
	memset(&ds, 0, sizeof(ds));
	ds.kind = XDSMETA_DOC_IMAGE;
	ds.unique_id = uid;
	ds.sop_class = "1.2.840.10008.5.1.4.1.1.2";
	ds.study_uid = study;
	ds.series_uid = series;
	ds.creation_time = "20261127110000";
	ds.service_start_time = "20261127100000";
	ds.size = -1;
	if ((de = xdsmeta_build_doc(sub, &ds)) == NULL)
		fatalx("xdsmeta_build_doc failed");
	memset(&doc, 0, sizeof(doc));
	doc.id = de->o.id;
	doc.content.href = (char *)"cid:doc1@admin.isn";
	dbuf_init(&sor, 1 << 24);
	dbuf_init(&pnr, 1 << 24);
	dbuf_init(&env, 1 << 24);
	if (xdsmeta_write(&sor, sub, XDSMETA_W_SOR) == -1 ||
	    xdsmsg_pnr_build(&pnr, sor.data, sor.len, &doc, 1) == -1 ||
	    soap_request(&env, SOAP_ACTION_ITI41, NULL, pnr.data, pnr.len,
	    NULL) == -1)
		fatalx("building the envelope failed");
	snprintf(boundary, sizeof(boundary), "MIMEBoundary_admin_pnr_%016llx",
	    (unsigned long long)syn.state);
	w = mtom_writer_new(boundary, SOAP_ACTION_ITI41);
	if (mtom_writer_set_root(w, env.data, env.len, "root@admin.isn",
	    &cause) == -1 ||
	    mtom_writer_add_cb(w, "doc1@admin.isn", "application/dicom",
	    synth_read, &syn, &cause) == -1)
		fatalx("writer: %s", cause);
	if ((ct = fopen(argv[2], "w")) == NULL ||
	    fprintf(ct, "%s\n", mtom_writer_content_type(w)) < 0 ||
	    fclose(ct) == EOF)
		fatalx("%s: %s", argv[2], strerror(errno));
	if (strcmp(argv[1], "-") == 0)
		fd = STDOUT_FILENO;
	else if ((fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600)) ==
	    -1)
		fatalx("%s: %s", argv[1], strerror(errno));
	if (mtom_writer_write(w, out_sink, &fd, &cause) == -1)
		fatalx("writing %s: %s", argv[1], cause);
	if (fd != STDOUT_FILENO && close(fd) == -1)
		fatalx("%s: %s", argv[1], strerror(errno));

	mtom_writer_free(w);
	dbuf_free(&env);
	dbuf_free(&pnr);
	dbuf_free(&sor);
	xdsmeta_free(sub);
	free(uid);
	free(study);
	free(series);
	return (0);
}
