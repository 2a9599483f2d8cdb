/*
 * retrieve-tool.c: test helper of test_retrieve.sh.
 *
 *   retrieve-tool pnr BODY CTFILE PATIENT SSUID STUDY SERIES:SOP:FILE...
 *	an isn2 ITI-41 as MTOM: one image DocumentEntry per instance
 *	(uniqueId = SOP, the Study UID in referenceIdList, the series in
 *	urn:rsna:isn:seriesInstanceUID), each FILE streamed as its part
 *   retrieve-tool wrap ENVELOPE BODY CTFILE ACTION
 *	the envelope as the root of an MTOM message
 *   retrieve-tool parts CTFILE BODY DIR
 *	split an MTOM message: DIR/root.xml and DIR/N (1-based) for each
 *	attachment; prints "N cid content-type size sha1" per attachment
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

static void
usage(void)
{
	fprintf(stderr, "usage: retrieve-tool pnr BODY CTFILE PATIENT SSUID "
	    "STUDY SERIES:SOP:FILE...\n"
	    "       retrieve-tool wrap ENVELOPE BODY CTFILE ACTION\n"
	    "       retrieve-tool parts CTFILE BODY DIR\n");
	exit(2);
}

static char *
slurp(const char *path, size_t *lenp)
{
	struct dbuf	 b;
	char		 buf[65536];
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		fatal("%s", path);
	dbuf_init(&b, SIZE_MAX - 1);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		dbuf_add(&b, buf, (size_t)n);
	if (n == -1)
		fatal("%s", path);
	close(fd);
	dbuf_addc(&b, '\0');
	*lenp = b.len - 1;
	return (dbuf_take(&b, NULL));
}

static void
write_ct(const char *path, const char *ct)
{
	FILE	*f;

	if ((f = fopen(path, "w")) == NULL)
		fatal("%s", path);
	fprintf(f, "%s\n", ct);
	if (fclose(f) != 0)
		fatal("%s", path);
}

static int
sink_fd(const void *buf, size_t len, void *arg, char **cause)
{
	int	*fd = arg;

	if (write(*fd, buf, len) != (ssize_t)len) {
		xasprintf(cause, "write: %s", strerror(errno));
		return (-1);
	}
	return (0);
}

static void
write_msg(struct mtom_writer *w, const char *body, const char *ctfile)
{
	char	*cause = NULL;
	int	 fd;

	if ((fd = open(body, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
		fatal("%s", body);
	if (mtom_writer_write(w, sink_fd, &fd, &cause) == -1)
		fatalx("%s", cause);
	if (close(fd) == -1)
		fatal("%s", body);
	write_ct(ctfile, mtom_writer_content_type(w));
}

static int
cmd_pnr(int argc, char **argv)
{
	struct xdsmeta_subset_spec	 ss;
	struct xdsmeta_doc_spec		 ds;
	struct xds_submission		*sub;
	struct xds_docentry		*de;
	struct xdsmsg_document		*docs;
	struct mtom_writer		*w;
	struct dbuf			 sor, pnr, env;
	char				**spec, *cause = NULL, *p, *q;
	char				**cids, **files;
	int				 i, n;

	if (argc < 7)
		usage();
	n = argc - 6;
	memset(&ss, 0, sizeof(ss));
	ss.patient_id = argv[3];
	ss.source_id = "1.2.260.7";
	ss.unique_id = argv[4];
	ss.submission_time = "20261127120000";
	ss.isn2 = 1;
	if ((sub = xdsmeta_build_subset(&ss)) == NULL)
		fatalx("cannot build the submission set");
	docs = xcalloc((size_t)n, sizeof(*docs));
	spec = xcalloc((size_t)n, sizeof(*spec));
	cids = xcalloc((size_t)n, sizeof(*cids));
	files = xcalloc((size_t)n, sizeof(*files));
	for (i = 0; i < n; i++) {
		spec[i] = xstrdup(argv[6 + i]);
		if ((p = strchr(spec[i], ':')) == NULL ||
		    (q = strchr(p + 1, ':')) == NULL)
			usage();
		*p++ = '\0';
		*q++ = '\0';
		memset(&ds, 0, sizeof(ds));
		ds.kind = XDSMETA_DOC_IMAGE;
		ds.unique_id = p;
		ds.sop_class = "1.2.840.10008.5.1.4.1.1.2";
		ds.study_uid = argv[5];
		ds.series_uid = spec[i];
		ds.creation_time = "20261127110000";
		ds.service_start_time = "20261127100000";
		ds.size = -1;
		if ((de = xdsmeta_build_doc(sub, &ds)) == NULL)
			fatalx("cannot build entry %d", i);
		xasprintf(&cids[i], "inst%d@retrieve.test", i + 1);
		docs[i].id = de->o.id;
		xasprintf(&docs[i].content.href, "cid:%s", cids[i]);
		files[i] = q;
	}
	dbuf_init(&sor, SIZE_MAX - 1);
	dbuf_init(&pnr, SIZE_MAX - 1);
	dbuf_init(&env, SIZE_MAX - 1);
	if (xdsmeta_write(&sor, sub, XDSMETA_W_SOR) == -1 ||
	    xdsmsg_pnr_build(&pnr, sor.data, sor.len, docs, (size_t)n) == -1 ||
	    soap_request(&env, SOAP_ACTION_ITI41, NULL, pnr.data, pnr.len,
	    NULL) == -1)
		fatalx("cannot build the envelope");
	w = mtom_writer_new(NULL, SOAP_ACTION_ITI41);
	if (mtom_writer_set_root(w, env.data, env.len, NULL, &cause) == -1)
		fatalx("%s", cause);
	for (i = 0; i < n; i++)
		if (mtom_writer_add_path(w, cids[i], "application/dicom",
		    files[i], &cause) == -1)
			fatalx("%s", cause);
	write_msg(w, argv[1], argv[2]);
	mtom_writer_free(w);
	for (i = 0; i < n; i++) {
		free(docs[i].content.href);
		free(cids[i]);
		free(spec[i]);
	}
	free(docs);
	free(cids);
	free(files);
	free(spec);
	dbuf_free(&sor);
	dbuf_free(&pnr);
	dbuf_free(&env);
	xdsmeta_free(sub);
	return (0);
}

static int
cmd_wrap(int argc, char **argv)
{
	struct mtom_writer	*w;
	char			*env, *cause = NULL;
	size_t			 len;

	if (argc != 5)
		usage();
	env = slurp(argv[1], &len);
	w = mtom_writer_new(NULL, argv[4]);
	if (mtom_writer_set_root(w, env, len, NULL, &cause) == -1)
		fatalx("%s", cause);
	write_msg(w, argv[2], argv[3]);
	mtom_writer_free(w);
	free(env);
	return (0);
}

struct parts {
	const char	*dir;
	int		 fd;
};

static int
part_begin(const struct mtom_part *p, void **handle, void *arg, char **cause)
{
	struct parts	*ps = arg;
	char		*path;

	(void)handle;
	xasprintf(&path, "%s/%zu", ps->dir, p->index);
	ps->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (ps->fd == -1)
		xasprintf(cause, "%s: %s", path, strerror(errno));
	free(path);
	return (ps->fd == -1 ? -1 : 0);
}

static int
part_data(const struct mtom_part *p, const void *buf, size_t len, void *arg,
    char **cause)
{
	struct parts	*ps = arg;

	(void)p;
	return (sink_fd(buf, len, &ps->fd, cause));
}

static int
part_end(const struct mtom_part *p, void *arg, char **cause)
{
	struct parts	*ps = arg;

	(void)p;
	(void)cause;
	close(ps->fd);
	ps->fd = -1;
	return (0);
}

static const struct mtom_callbacks parts_cb = {
	part_begin, part_data, part_end, NULL
};

static int
cmd_parts(int argc, char **argv)
{
	struct mtom_parser	*mp;
	struct mtom_limits	 ml;
	struct parts		 ps;
	const struct mtom_part	*p;
	const char		*root;
	char			*ct, *cause = NULL, *path, buf[65536];
	size_t			 len, i;
	ssize_t			 n;
	FILE			*f;
	int			 fd;

	if (argc != 4)
		usage();
	ct = slurp(argv[1], &len);
	ct[strcspn(ct, "\r\n")] = '\0';
	memset(&ml, 0, sizeof(ml));
	ps.dir = argv[3];
	ps.fd = -1;
	if ((mp = mtom_parser_new(ct, &parts_cb, &ps, &ml, &cause)) == NULL)
		fatalx("%s", cause);
	if ((fd = open(argv[2], O_RDONLY)) == -1)
		fatal("%s", argv[2]);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (mtom_parser_feed(mp, buf, (size_t)n, &cause) == -1)
			fatalx("%s", cause);
	close(fd);
	if (mtom_parser_finish(mp, &cause) == -1)
		fatalx("%s", cause);
	root = mtom_parser_root(mp, &len);
	xasprintf(&path, "%s/root.xml", argv[3]);
	if ((f = fopen(path, "w")) == NULL ||
	    fwrite(root, 1, len, f) != len || fclose(f) != 0)
		fatal("%s", path);
	free(path);
	for (i = 0; i < mtom_parser_nparts(mp); i++) {
		p = mtom_parser_part(mp, i);
		if (p->root)
			continue;
		printf("%zu %s %s %llu %s\n", p->index, p->cid != NULL ?
		    p->cid : "-", p->content_type != NULL ? p->content_type :
		    "-", (unsigned long long)p->size, p->sha1);
	}
	mtom_parser_free(mp);
	free(ct);
	return (0);
}

int
main(int argc, char **argv)
{
	log_init(1, "retrieve-tool", 0);
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "pnr") == 0)
		return (cmd_pnr(argc - 1, argv + 1));
	if (strcmp(argv[1], "wrap") == 0)
		return (cmd_wrap(argc - 1, argv + 1));
	if (strcmp(argv[1], "parts") == 0)
		return (cmd_parts(argc - 1, argv + 1));
	usage();
	return (2);
}
