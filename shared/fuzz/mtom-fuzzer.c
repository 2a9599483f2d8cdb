/*
 * mtom-fuzzer.c: the multipart/related parser must accept or reject any
 * bytes without crashing, give the same result however the input is
 * sliced, never report more part bytes than it was given, and a parsed
 * message written again by mtom_writer must parse back to the same parts.
 *
 * Input: one byte choosing the slicing, then (when its top bit is clear)
 * the Content-Type value up to a LF, then the body.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "mtom.h"
#include "xmalloc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FZ_MAXP	64

struct fz {
	struct dbuf	data[FZ_MAXP];
	size_t		n;
	int		open;
};

/* Collect attachment bytes (bounded by the input size anyway). */
static int
fz_begin(const struct mtom_part *part, void **h, void *arg, char **cause)
{
	struct fz	*f = arg;

	if (f->open)
		abort();
	f->open = 1;
	if (part->index < FZ_MAXP) {
		dbuf_init(&f->data[part->index], SIZE_MAX - 1);
		if (part->index + 1 > f->n)
			f->n = part->index + 1;
	}
	return (0);
}

/* Attachment bytes, only between begin and end. */
static int
fz_data(const struct mtom_part *part, const void *b, size_t n, void *arg,
    char **cause)
{
	struct fz	*f = arg;

	if (!f->open || n == 0)
		abort();
	if (part->index < FZ_MAXP)
		dbuf_add(&f->data[part->index], b, n);
	return (0);
}

/* An attachment ends with all its bytes seen. */
static int
fz_end(const struct mtom_part *part, void *arg, char **cause)
{
	struct fz	*f = arg;

	if (!f->open || !part->complete ||
	    (part->index < FZ_MAXP && f->data[part->index].len != part->size))
		abort();
	f->open = 0;
	return (0);
}

static const struct mtom_callbacks fz_cb = { fz_begin, fz_data, fz_end, NULL };

/* Release the collected bytes. */
static void
fz_free(struct fz *f)
{
	size_t	i;

	for (i = 0; i < f->n && i < FZ_MAXP; i++)
		dbuf_free(&f->data[i]);
	memset(f, 0, sizeof(*f));
}

/* Parse with slices from a small LCG (seed 0: all at once). */
static struct mtom_parser *
fz_parse(const char *ct, const uint8_t *b, size_t len, unsigned seed,
    struct fz *f, int *rv)
{
	struct mtom_parser	*p;
	size_t			 off = 0, n;
	char			*cause = NULL;

	memset(f, 0, sizeof(*f));
	*rv = -1;
	if ((p = mtom_parser_new(ct, &fz_cb, f, NULL, &cause)) == NULL) {
		if (cause == NULL)
			abort();
		free(cause);
		return (NULL);
	}
	*rv = 0;
	while (off < len && *rv == 0) {
		if (seed == 0)
			n = len - off;
		else {
			seed = seed * 1103515245 + 12345;
			n = 1 + (seed >> 16) % 13;
			if (n > len - off)
				n = len - off;
		}
		*rv = mtom_parser_feed(p, b + off, n, &cause);
		off += n;
	}
	if (*rv == 0)
		*rv = mtom_parser_finish(p, &cause);
	if (*rv == -1 && cause == NULL)
		abort();
	free(cause);
	return (p);
}

/* Two parses of the same input must agree. */
static void
fz_same(struct mtom_parser *a, int ra, struct mtom_parser *b, int rb)
{
	const struct mtom_part	*x, *y;
	size_t			 i, la, lb;
	const char		*sa, *sb;

	if ((a == NULL) != (b == NULL) || ra != rb)
		abort();
	if (a == NULL || ra == -1)
		return;
	if (mtom_parser_nparts(a) != mtom_parser_nparts(b))
		abort();
	for (i = 0; i < mtom_parser_nparts(a); i++) {
		x = mtom_parser_part(a, i);
		y = mtom_parser_part(b, i);
		if (x->size != y->size || strcmp(x->sha1, y->sha1) != 0 ||
		    x->root != y->root || (x->cid == NULL) != (y->cid == NULL) ||
		    (x->cid != NULL && strcmp(x->cid, y->cid) != 0))
			abort();
	}
	sa = mtom_parser_root(a, &la);
	sb = mtom_parser_root(b, &lb);
	if (la != lb || memcmp(sa, sb, la) != 0)
		abort();
}

/* Writer output into memory. */
static int
fz_sink(const void *b, size_t n, void *arg, char **cause)
{
	return (dbuf_add(arg, b, n));
}

/* Write the parsed parts again and parse the result: same parts. */
static void
fz_roundtrip(struct mtom_parser *p, struct fz *f)
{
	struct mtom_writer	*w;
	struct mtom_parser	*q;
	const struct mtom_part	*part, *root, *back;
	struct dbuf		 out;
	struct fz		 g;
	const char		*r;
	char			*cause = NULL;
	size_t			 i, j, rlen, rlen2;
	int			 rv;

	if (mtom_parser_nparts(p) > FZ_MAXP)
		return;
	root = mtom_parser_root_part(p);
	w = mtom_writer_new(NULL, "urn:x");
	r = mtom_parser_root(p, &rlen);
	if (mtom_writer_set_root(w, r, rlen, root->cid, &cause) == -1)
		goto skip;
	for (i = 0; i < mtom_parser_nparts(p); i++) {
		part = mtom_parser_part(p, i);
		if (part->root)
			continue;
		if (part->cid == NULL || mtom_writer_add_buf(w, part->cid,
		    part->content_type != NULL ? part->content_type :
		    "application/octet-stream", f->data[i].data,
		    f->data[i].len, &cause) == -1)
			goto skip;
	}
	dbuf_init(&out, SIZE_MAX - 1);
	if (mtom_writer_write(w, fz_sink, &out, &cause) == -1)
		abort();
	q = fz_parse(mtom_writer_content_type(w), (uint8_t *)out.data,
	    out.len, 0, &g, &rv);
	if (q == NULL || rv == -1 ||
	    mtom_parser_nparts(q) != mtom_parser_nparts(p))
		abort();
	r = mtom_parser_root(p, &rlen);
	if (memcmp(mtom_parser_root(q, &rlen2), r, rlen) != 0 || rlen != rlen2)
		abort();
	for (i = 0; i < mtom_parser_nparts(p); i++) {
		part = mtom_parser_part(p, i);
		if (part->root)
			continue;
		back = NULL;
		for (j = 0; j < mtom_parser_nparts(q); j++) {
			if (mtom_parser_part(q, j)->cid != NULL &&
			    strcmp(mtom_parser_part(q, j)->cid, part->cid) == 0)
				back = mtom_parser_part(q, j);
		}
		if (back == NULL || back->size != part->size ||
		    strcmp(back->sha1, part->sha1) != 0 ||
		    (part->content_type != NULL &&
		    strcmp(back->content_type, part->content_type) != 0))
			abort();
	}
	mtom_parser_free(q);
	fz_free(&g);
	dbuf_free(&out);
skip:
	free(cause);
	mtom_writer_free(w);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mtom_parser	*a, *b;
	const struct mtom_part	*part;
	const uint8_t		*nl, *body;
	struct fz		 fa, fb;
	char			*ct;
	size_t			 blen, i, blim;
	uint64_t		 total = 0;
	int			 ra, rb;

	if (size < 1)
		return (0);
	if (data[0] & 0x80) {
		ct = xstrdup("multipart/related; boundary=b");
		body = data + 1;
		blen = size - 1;
	} else {
		if ((nl = memchr(data + 1, '\n', size - 1)) == NULL ||
		    nl - data > 512)
			return (0);
		ct = xstrndup((const char *)data + 1, nl - data - 1);
		if (strlen(ct) != (size_t)(nl - data - 1)) {
			free(ct);
			return (0);
		}
		body = nl + 1;
		blen = size - (nl + 1 - data);
	}
	a = fz_parse(ct, body, blen, 0, &fa, &ra);
	b = fz_parse(ct, body, blen, (data[0] & 0x7f) + 1, &fb, &rb);
	fz_same(a, ra, b, rb);
	if (a != NULL && ra == 0) {
		blim = strlen(http_ct_param(mtom_parser_ct(a), "boundary"));
		for (i = 0; i < mtom_parser_nparts(a); i++) {
			part = mtom_parser_part(a, i);
			total += part->size + blim + 4;
		}
		if (total > blen + 1)
			abort();
		fz_roundtrip(a, &fa);
	}
	mtom_parser_free(a);
	mtom_parser_free(b);
	fz_free(&fa);
	fz_free(&fb);
	free(ct);
	return (0);
}
