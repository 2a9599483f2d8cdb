/*
 * xds-tool.c: the XDS message helper of the daemon's shell tests
 * (test_admin.sh, test_crash.sh, test_negative.sh, test_retrieve.sh).
 *
 *   xds-tool pnr [-HU] [-c seed] [-n count] [-S study] [-u uid-prefix]
 *       [-z size[,size...]] -p patient-cx -s ss-uid out ctfile
 *       [series:sop:file ...]
 *	an isn2 ITI-41 Provide and Register as MTOM: SubmissionSet ss-uid
 *	for the patient, one image DocumentEntry per document (study -S,
 *	default ss-uid.9; no size, no hash: the repository computes them).
 *	With file operands, uniqueId sop in that series, the file streamed
 *	as its part; with -U, uniqueId ss-uid.N and the sop in the slot
 *	urn:rsna:isn:sopInstanceUID (protocol.md 7: a study sent twice).
 *	Without, count synthetic documents (default: one per
 *	size given) of the sizes given (the last one repeats; default 100),
 *	uniqueId prefix.1, prefix.2 ... (default prefix ss-uid), series
 *	study.1, pseudo-random bytes from the seed (1), ss-uid and their
 *	index. -H declares a wrong SHA-1 hash in every entry.
 *   xds-tool wrap envelope out ctfile action
 *	the envelope as the root of an MTOM message
 *   xds-tool parts ctfile body dir
 *	split an MTOM message: dir/root.xml and dir/N (1-based) for each
 *	attachment; prints "N cid content-type size sha1" per attachment
 *
 * Messages are streamed in bounded memory; out "-" is stdout (for curl
 * -T -). The HTTP Content-Type goes to ctfile before the message is
 * written; for pnr it depends on ss-uid and the seed only (the MIME
 * boundary is made from them, the Content-IDs are fixed), so a run with
 * small documents gives the Content-Type of a huge one.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
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

#define WRONG_SHA1	"0123456789abcdef0123456789abcdef01234567"

/* A document: a file, or size pseudo-random bytes (xorshift64). */
struct doc {
	char		*spec;		/* owns the strings below */
	char		*series, *uid, *file;	/* file NULL: synthetic */
	char		*cid, *href;
	uint64_t	 size, pos, state;
};

static void
usage(void)
{
	fprintf(stderr, "usage: xds-tool pnr [-HU] [-c seed] [-n count] "
	    "[-S study] [-u uid-prefix] [-z size[,size...]]\n"
	    "           -p patient-cx -s ss-uid out ctfile "
	    "[series:sop:file ...]\n"
	    "       xds-tool wrap envelope out ctfile action\n"
	    "       xds-tool parts ctfile body dir\n");
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

static int
sink_file(const void *buf, size_t len, void *arg, char **cause)
{
	if (fwrite(buf, 1, len, arg) == len)
		return (0);
	xasprintf(cause, "write: %s", strerror(errno));
	return (-1);
}

/* The Content-Type to ctfile, then the message to out ("-": stdout). */
static void
write_msg(struct mtom_writer *w, const char *out, const char *ctfile)
{
	FILE	*f;
	char	*cause = NULL;

	if ((f = fopen(ctfile, "w")) == NULL ||
	    fprintf(f, "%s\n", mtom_writer_content_type(w)) < 0 ||
	    fclose(f) != 0)
		fatal("%s", ctfile);
	if ((f = strcmp(out, "-") == 0 ? stdout : fopen(out, "w")) == NULL)
		fatal("%s", out);
	if (mtom_writer_write(w, sink_file, f, &cause) == -1)
		fatalx("%s: %s", out, cause);
	if (fclose(f) != 0)
		fatal("%s", out);
}

static ssize_t
synth_read(void *buf, size_t len, void *arg, char **cause)
{
	struct doc	*d = arg;
	unsigned char	*p = buf;
	uint64_t	 x;
	size_t		 i;

	(void)cause;
	if (len > d->size - d->pos)
		len = (size_t)(d->size - d->pos);
	for (i = 0; i < len; i += sizeof(x)) {
		x = d->state;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		d->state = x;
		memcpy(p + i, &x, len - i < sizeof(x) ? len - i : sizeof(x));
	}
	d->pos += len;
	return ((ssize_t)len);
}

/* The next size of a "-z" list (the last one repeats). */
static uint64_t
next_size(const char **list)
{
	char		*end;
	uint64_t	 v;

	v = strtoull(*list, &end, 10);
	if (end == *list || v < 1 || (*end != '\0' && *end != ','))
		fatalx("bad size list");
	if (*end == ',')
		*list = end + 1;
	return (v);
}

static int
cmd_pnr(int argc, char **argv)
{
	struct xdsmeta_subset_spec	 ss = {
		NULL, "1.2.260.7", NULL, "20261127120000", 1
	};
	struct xdsmeta_doc_spec		 ds = {
		XDSMETA_DOC_IMAGE, NULL, "1.2.840.10008.5.1.4.1.1.2", NULL,
		NULL, "20261127110000", "20261127100000", NULL, -1, NULL, NULL
	};
	struct xds_submission		*sub;
	struct xdsmsg_document		*xd;
	struct mtom_writer		*w;
	struct doc			*docs, *d;
	struct dbuf			 sor, pnr, env;
	const char			*prefix = NULL, *sizes = "100", *p;
	char				*study = NULL, *series, *cause = NULL;
	char				*own = NULL;
	char				 boundary[64];
	uint64_t			 seed = 1, base;
	long				 n = 0, i;
	int				 ch, own_uids = 0;

	while ((ch = getopt(argc, argv, "HUc:n:p:S:s:u:z:")) != -1) {
		switch (ch) {
		case 'H': ds.hash = WRONG_SHA1; break;
		case 'U': own_uids = 1; break;
		case 'c': seed = strtoull(optarg, NULL, 10); break;
		case 'n': n = strtol(optarg, NULL, 10); break;
		case 'p': ss.patient_id = optarg; break;
		case 'S': study = xstrdup(optarg); break;
		case 's': ss.unique_id = optarg; break;
		case 'u': prefix = optarg; break;
		case 'z': sizes = optarg; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 2 || ss.patient_id == NULL || ss.unique_id == NULL)
		usage();
	if (argc > 2)
		n = argc - 2;
	else if (n == 0)
		for (n = 1, p = sizes; (p = strchr(p, ',')) != NULL; p++)
			n++;
	if (n < 1 || n > MTOM_MAX_PARTS - 1)
		usage();
	if (prefix == NULL)
		prefix = ss.unique_id;
	if (study == NULL)
		xasprintf(&study, "%s.9", ss.unique_id);
	xasprintf(&series, "%s.1", study);
	base = 0x9e3779b97f4a7c15ULL ^ seed;
	for (p = ss.unique_id; *p != '\0'; p++)
		base = base * 31 + (unsigned char)*p;

	if ((sub = xdsmeta_build_subset(&ss)) == NULL)
		fatalx("cannot build the submission set");
	docs = xcalloc((size_t)n, sizeof(*docs));
	for (i = 0; i < n; i++) {
		d = &docs[i];
		if (argc > 2) {
			d->series = d->spec = xstrdup(argv[2 + i]);
			if ((d->uid = strchr(d->spec, ':')) == NULL ||
			    (d->file = strchr(d->uid + 1, ':')) == NULL)
				usage();
			*d->uid++ = '\0';
			*d->file++ = '\0';
		} else {
			xasprintf(&d->spec, "%s.%ld", prefix, i + 1);
			d->uid = d->spec;
			d->series = series;
			d->size = next_size(&sizes);
			d->state = (base + (uint64_t)i * 0x2545f4914f6cdd1dULL) |
			    1;
		}
		ds.unique_id = d->uid;
		ds.sop_uid = NULL;
		if (own_uids && d->file != NULL) {
			free(own);
			xasprintf(&own, "%s.%ld", ss.unique_id, i + 1);
			ds.unique_id = own;
			ds.sop_uid = d->uid;
		}
		ds.study_uid = study;
		ds.series_uid = d->series;
		if (xdsmeta_build_doc(sub, &ds) == NULL)
			fatalx("cannot build entry %ld", i + 1);
		xasprintf(&d->cid, "doc%ld@xds-tool.test", i + 1);
		xasprintf(&d->href, "cid:%s", d->cid);
	}
	/* The ids once every entry is in (sub->docs may have moved). */
	xd = xcalloc((size_t)n, sizeof(*xd));
	for (i = 0; i < n; i++) {
		xd[i].id = sub->docs[i].o.id;
		xd[i].content.href = docs[i].href;
	}
	dbuf_init(&sor, SIZE_MAX - 1);
	dbuf_init(&pnr, SIZE_MAX - 1);
	dbuf_init(&env, SIZE_MAX - 1);
	if (xdsmeta_write(&sor, sub, XDSMETA_W_SOR) == -1 ||
	    xdsmsg_pnr_build(&pnr, sor.data, sor.len, xd, (size_t)n) == -1 ||
	    soap_request(&env, SOAP_ACTION_ITI41, NULL, pnr.data, pnr.len,
	    NULL) == -1)
		fatalx("cannot build the envelope");

	snprintf(boundary, sizeof(boundary), "MIMEBoundary_xds_tool_%016llx",
	    (unsigned long long)base);
	w = mtom_writer_new(boundary, SOAP_ACTION_ITI41);
	if (mtom_writer_set_root(w, env.data, env.len, "root@xds-tool.test",
	    &cause) == -1)
		fatalx("%s", cause);
	for (i = 0; i < n; i++) {
		d = &docs[i];
		if ((d->file != NULL ? mtom_writer_add_path(w, d->cid,
		    "application/dicom", d->file, &cause) :
		    mtom_writer_add_cb(w, d->cid, "application/dicom",
		    synth_read, d, &cause)) == -1)
			fatalx("%s", cause);
	}
	write_msg(w, argv[0], argv[1]);

	mtom_writer_free(w);
	for (i = 0; i < n; i++) {
		free(docs[i].spec);
		free(docs[i].cid);
		free(docs[i].href);
	}
	free(docs);
	free(xd);
	free(own);
	free(study);
	free(series);
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

static int
part_begin(const struct mtom_part *p, void **handle, void *arg, char **cause)
{
	const char	*dir = arg;
	char		*path;

	xasprintf(&path, "%s/%zu", dir, p->index);
	if ((*handle = fopen(path, "w")) == NULL)
		xasprintf(cause, "%s: %s", path, strerror(errno));
	free(path);
	return (*handle == NULL ? -1 : 0);
}

static int
part_data(const struct mtom_part *p, const void *buf, size_t len, void *arg,
    char **cause)
{
	(void)arg;
	return (sink_file(buf, len, p->handle, cause));
}

static int
part_end(const struct mtom_part *p, void *arg, char **cause)
{
	(void)arg;
	if (fclose(p->handle) == 0)
		return (0);
	xasprintf(cause, "close: %s", strerror(errno));
	return (-1);
}

static const struct mtom_callbacks parts_cb = {
	part_begin, part_data, part_end, NULL
};

static int
cmd_parts(int argc, char **argv)
{
	struct mtom_parser	*mp;
	struct mtom_limits	 ml;
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
	if ((mp = mtom_parser_new(ct, &parts_cb, argv[3], &ml, &cause)) ==
	    NULL)
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
	log_init(1, "xds-tool", 0);
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
