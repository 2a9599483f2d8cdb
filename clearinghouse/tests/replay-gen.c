/*
 * replay-gen.c: write an ITI-41 Provide and Register (SOAP 1.2 + MTOM) for
 * the daemon's negative tests (test_negative.sh), built with the shared
 * xdsmeta builders and the MTOM writer; print its Content-Type.
 *
 *   replay-gen [-H] [-c seed] [-n ndocs] [-p patient-cx] [-s ss-uid]
 *       [-u doc-uid-prefix] [-z size] out-file
 *
 * Each document is `size` synthetic bytes (the seed changes them), uniqueId
 * prefix.1, prefix.2 ...; -H declares a wrong SHA-1 hash in the metadata.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbuf.h"
#include "mtom.h"
#include "soap.h"
#include "xdsmeta.h"
#include "xdsmsg.h"

#define GEN_MAX_DOCS	64

struct synth {
	uint64_t	 size;
	uint64_t	 pos;
	unsigned	 seed;
};

static ssize_t
synth_read(void *buf, size_t len, void *arg, char **cause)
{
	struct synth	*s = arg;
	unsigned char	*p = buf;
	size_t		 i;

	(void)cause;
	if (len > s->size - s->pos)
		len = (size_t)(s->size - s->pos);
	for (i = 0; i < len; i++, s->pos++)
		p[i] = (unsigned char)((s->pos * 131) ^ (s->pos >> 9) ^ s->seed);
	return ((ssize_t)len);
}

static int
sink(const void *buf, size_t len, void *arg, char **cause)
{
	(void)cause;
	return (fwrite(buf, 1, len, arg) == len ? 0 : -1);
}

static void
usage(void)
{
	fprintf(stderr, "usage: replay-gen [-H] [-c seed] [-n ndocs] "
	    "[-p patient] [-s ss-uid] [-u doc-uid-prefix] [-z size] out\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct xdsmeta_subset_spec	 ss = {
		"RPAT1^^^&1.2.260&ISO", "1.2.3.77", "1.2.3.77.1",
		"20261127120000", 0
	};
	struct xdsmeta_doc_spec		 d = {
		XDSMETA_DOC_IMAGE, NULL, "1.2.840.10008.5.1.4.1.1.2",
		"1.2.3.77.9", "1.2.3.77.9.1", "20261127110000", "20261127",
		NULL, -1, NULL
	};
	static struct synth		 syn[GEN_MAX_DOCS];
	static struct xdsmsg_document	 docs[GEN_MAX_DOCS];
	static char			 uid[GEN_MAX_DOCS][96];
	static char			 cid[GEN_MAX_DOCS][64];
	static char			 href[GEN_MAX_DOCS][80];
	struct xds_submission		*sub;
	struct dbuf			 sor, pnr, env;
	struct mtom_writer		*w;
	const char			*prefix = "1.2.3.77.100";
	char				*cause = NULL;
	unsigned			 seed = 1;
	uint64_t			 size = 100;
	long				 n = 1, i;
	int				 ch, badhash = 0;
	FILE				*out;

	while ((ch = getopt(argc, argv, "Hc:n:p:s:u:z:")) != -1) {
		switch (ch) {
		case 'H': badhash = 1; break;
		case 'c': seed = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'n': n = strtol(optarg, NULL, 10); break;
		case 'p': ss.patient_id = optarg; break;
		case 's': ss.unique_id = optarg; break;
		case 'u': prefix = optarg; break;
		case 'z': size = strtoull(optarg, NULL, 10); break;
		default: usage();
		}
	}
	if (argc - optind != 1 || n < 1 || n > GEN_MAX_DOCS)
		usage();
	if ((sub = xdsmeta_build_subset(&ss)) == NULL)
		return (1);
	for (i = 0; i < n; i++) {
		snprintf(uid[i], sizeof(uid[i]), "%s.%ld", prefix, i + 1);
		d.unique_id = uid[i];
		d.hash = badhash ?
		    "0123456789abcdef0123456789abcdef01234567" : NULL;
		if (xdsmeta_build_doc(sub, &d) == NULL)
			return (1);
		snprintf(cid[i], sizeof(cid[i]), "doc%ld@replay.test", i + 1);
	}
	dbuf_init(&sor, 1 << 24);
	dbuf_init(&pnr, 1 << 24);
	dbuf_init(&env, 1 << 24);
	/* sub->docs may move while entries are added: ids taken now. */
	for (i = 0; i < n; i++) {
		snprintf(href[i], sizeof(href[i]), "cid:doc%ld@replay.test",
		    i + 1);
		docs[i].id = sub->docs[i].o.id;
		docs[i].content.href = href[i];
	}
	if (xdsmeta_write(&sor, sub, XDSMETA_W_SOR) == -1 ||
	    xdsmsg_pnr_build(&pnr, sor.data, sor.len, docs, (size_t)n) == -1 ||
	    soap_request(&env, SOAP_ACTION_ITI41, NULL, pnr.data, pnr.len,
	    NULL) == -1) {
		fprintf(stderr, "replay-gen: could not build the message\n");
		return (1);
	}
	w = mtom_writer_new(NULL, SOAP_ACTION_ITI41);
	if (mtom_writer_set_root(w, env.data, env.len, NULL, &cause) == -1)
		goto fail;
	for (i = 0; i < n; i++) {
		syn[i].size = size;
		syn[i].seed = seed + (unsigned)i;
		if (mtom_writer_add_cb(w, cid[i], "application/dicom",
		    synth_read, &syn[i], &cause) == -1)
			goto fail;
	}
	if ((out = fopen(argv[optind], "w")) == NULL) {
		perror(argv[optind]);
		return (1);
	}
	if (mtom_writer_write(w, sink, out, &cause) == -1 || fclose(out) != 0)
		goto fail;
	printf("%s\n", mtom_writer_content_type(w));
	mtom_writer_free(w);
	dbuf_free(&sor);
	dbuf_free(&pnr);
	dbuf_free(&env);
	xdsmeta_free(sub);
	return (0);
fail:
	fprintf(stderr, "replay-gen: %s\n", cause ? cause : "failed");
	return (1);
}
