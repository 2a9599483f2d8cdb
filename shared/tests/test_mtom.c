/* test_mtom.c: streaming MTOM/XOP parsing and writing. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "dbuf.h"
#include "http.h"
#include "mtom.h"
#include "tap.h"
#include "xmalloc.h"

#define COLL_MAX	16

/* What the callbacks saw, checked against the parser's own table. */
struct coll {
	struct dbuf	 data[COLL_MAX];
	int		 open;		/* index of the open part, -1 */
	int		 begins, ends;
	int		 misuse;	/* callbacks called out of order */
	int		 fail;		/* 1 begin, 2 data, 3 end: refuse */
	int		 handles_freed;
};

/* Independent SHA-1 of a buffer, as lower-case hex. */
static void
sha1_hex(const void *b, size_t n, char hex[41])
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	len = 0, i;

	EVP_Digest(b, n, md, &len, EVP_sha1(), NULL);
	for (i = 0; i < len; i++)
		snprintf(hex + i * 2, 3, "%02x", md[i]);
}

/* An attachment starts: remember it, hand back a handle. */
static int
coll_begin(const struct mtom_part *part, void **handle, void *arg,
    char **cause)
{
	struct coll	*c = arg;

	if (c->open != -1 || part->root || part->index >= COLL_MAX)
		c->misuse = 1;
	if (c->fail == 1) {
		xasprintf(cause, "sink: no space left");
		return (-1);
	}
	c->open = (int)part->index;
	c->begins++;
	*handle = xstrdup("/tmp/blob");
	dbuf_init(&c->data[part->index], 1 << 20);
	return (0);
}

/* Attachment bytes: keep them for comparison. */
static int
coll_data(const struct mtom_part *part, const void *b, size_t n, void *arg,
    char **cause)
{
	struct coll	*c = arg;

	if (c->open != (int)part->index || n == 0)
		c->misuse = 1;
	if (c->fail == 2)
		return (-1);
	if (part->index < COLL_MAX)
		dbuf_add(&c->data[part->index], b, n);
	return (0);
}

/* An attachment ends: its handle and order must hold. */
static int
coll_end(const struct mtom_part *part, void *arg, char **cause)
{
	struct coll	*c = arg;

	if (c->open != (int)part->index || !part->complete ||
	    part->handle == NULL || strcmp(part->handle, "/tmp/blob") != 0)
		c->misuse = 1;
	c->open = -1;
	c->ends++;
	if (c->fail == 3) {
		xasprintf(cause, "sink: rename failed");
		return (-1);
	}
	return (0);
}

/* The parser releases a handle. */
static void
coll_handle_free(void *h, void *arg)
{
	struct coll	*c = arg;

	c->handles_freed++;
	free(h);
}

static const struct mtom_callbacks coll_cb = {
	coll_begin, coll_data, coll_end, coll_handle_free
};

/* Describe a finished parse (or its error) as text for comparisons. */
static void
describe(struct mtom_parser *p, struct coll *c, int rv, const char *cause,
    struct dbuf *out)
{
	const struct mtom_part	*part;
	const char		*root;
	size_t			 i, rlen;
	char			 hex[41];

	if (rv == -1) {
		dbuf_printf(out, "error: %s\n", cause != NULL ? cause :
		    "(no cause)");
		return;
	}
	dbuf_printf(out, "parts=%zu\n", mtom_parser_nparts(p));
	for (i = 0; i < mtom_parser_nparts(p); i++) {
		part = mtom_parser_part(p, i);
		dbuf_printf(out, "%zu%s cid=%s type=%s cte=%s size=%llu "
		    "sha1=%s\n", part->index, part->root ? " root" : "",
		    part->cid ? part->cid : "-",
		    part->content_type ? part->content_type : "-",
		    part->cte ? part->cte : "-",
		    (unsigned long long)part->size, part->sha1);
		if (part->root) {
			root = mtom_parser_root(p, &rlen);
			sha1_hex(root, rlen, hex);
			if (rlen != part->size || strcmp(hex, part->sha1) != 0)
				dbuf_printf(out, "ROOT BUFFER MISMATCH\n");
		} else if (i < COLL_MAX) {
			sha1_hex(c->data[i].data, c->data[i].len, hex);
			if (c->data[i].len != part->size ||
			    strcmp(hex, part->sha1) != 0)
				dbuf_printf(out, "CALLBACK BYTES MISMATCH\n");
		}
	}
	if (c->misuse)
		dbuf_printf(out, "CALLBACK ORDER MISUSE\n");
}

/* Release the collected bytes. */
static void
coll_free(struct coll *c)
{
	int	i;

	for (i = 0; i < COLL_MAX; i++)
		dbuf_free(&c->data[i]);
}

/* Slice sizes: 0 whole, n fixed, -1 pseudo-random from a fixed seed. */
static size_t
slice_next(int mode, unsigned int *seed, size_t left)
{
	size_t	n;

	if (mode == 0)
		return (left);
	if (mode > 0)
		n = (size_t)mode;
	else
		n = 1 + (size_t)(rand_r(seed) % 97);
	return (n < left ? n : left);
}

/*
 * Parse body under ct with the given slicing; append the description to
 * out. The parser is returned when keep is set (the caller frees it).
 */
static struct mtom_parser *
run_mime(const char *ct, const void *body, size_t len, int mode,
    const struct mtom_limits *lim, struct coll *c, struct dbuf *out,
    int keep)
{
	struct mtom_parser	*p;
	const uint8_t		*b = body;
	size_t			 off = 0, n;
	unsigned int		 seed = 12345;
	char			*cause = NULL;
	int			 rv = 0, freed;

	memset(c, 0, sizeof(*c));
	c->open = -1;
	if ((p = mtom_parser_new(ct, &coll_cb, c, lim, &cause)) == NULL) {
		describe(NULL, c, -1, cause, out);
		free(cause);
		return (NULL);
	}
	while (off < len && rv == 0) {
		n = slice_next(mode, &seed, len - off);
		rv = mtom_parser_feed(p, b + off, n, &cause);
		off += n;
	}
	if (rv == 0)
		rv = mtom_parser_finish(p, &cause);
	describe(p, c, rv, cause, out);
	free(cause);
	if (keep)
		return (p);
	mtom_parser_free(p);
	freed = c->handles_freed;
	if (freed != c->begins)
		dbuf_printf(out, "HANDLES NOT FREED %d/%d\n", freed, c->begins);
	coll_free(c);
	return (NULL);
}

/* Parse with 4 slicings; 1 if all four descriptions agree. */
static int
run_slicings(const char *ct, const void *body, size_t len,
    const struct mtom_limits *lim, struct dbuf *first)
{
	static const int	 modes[] = { 0, 1, 7, -1 };
	struct coll		 c;
	struct dbuf		 d;
	size_t			 i;
	int			 same = 1;

	dbuf_init(first, 1 << 20);
	run_mime(ct, body, len, 0, lim, &c, first, 0);
	for (i = 1; i < sizeof(modes) / sizeof(modes[0]); i++) {
		dbuf_init(&d, 1 << 20);
		run_mime(ct, body, len, modes[i], lim, &c, &d, 0);
		if (strcmp(dbuf_str(&d), dbuf_str(first)) != 0) {
			tap_diag("slicing %d differs:\n%s", modes[i],
			    dbuf_str(&d));
			same = 0;
		}
		dbuf_free(&d);
	}
	return (same);
}

/* Our own cases: data/mtom/NAME.mime (first line = Content-Type). */
static void
test_cases(void)
{
	static const struct {
		const char	*name;
		size_t		 max_parts, max_headers, max_root;
		uint64_t	 max_part;
	} cases[] = {
		{ "ok-no-start", 0, 0, 0, 0 },
		{ "ok-start-no-brackets", 0, 0, 0, 0 },
		{ "ok-cid-no-brackets", 0, 0, 0, 0 },
		{ "ok-urlencoded-cid", 0, 0, 0, 0 },
		{ "ok-missing-cte", 0, 0, 0, 0 },
		{ "ok-bare-lf", 0, 0, 0, 0 },
		{ "ok-base64-part", 0, 0, 0, 0 },
		{ "ok-preamble-epilogue", 0, 0, 0, 0 },
		{ "ok-padding-folding", 0, 0, 0, 0 },
		{ "ok-empty-parts", 0, 0, 0, 0 },
		{ "ok-wcf-style", 0, 0, 0, 0 },
		{ "err-no-boundary", 0, 0, 0, 0 },
		{ "err-bad-boundary", 0, 0, 0, 0 },
		{ "err-boundary-char", 0, 0, 0, 0 },
		{ "err-not-multipart", 0, 0, 0, 0 },
		{ "err-no-parts", 0, 0, 0, 0 },
		{ "err-close-only", 0, 0, 0, 0 },
		{ "err-missing-root", 0, 0, 0, 0 },
		{ "err-duplicate-cid", 0, 0, 0, 0 },
		{ "err-unterminated", 0, 0, 0, 0 },
		{ "err-unterminated-headers", 0, 0, 0, 0 },
		{ "err-too-many-parts", 2, 0, 0, 0 },
		{ "err-headers-too-big", 0, 1024, 0, 0 },
		{ "err-base64-garbage", 0, 0, 0, 0 },
		{ "err-base64-truncated", 0, 0, 0, 0 },
		{ "err-base64-after-pad", 0, 0, 0, 0 },
		{ "err-quoted-printable", 0, 0, 0, 0 },
		{ "err-unknown-cte", 0, 0, 0, 0 },
		{ "err-text-after-delimiter", 0, 0, 0, 0 },
		{ "err-root-too-big", 0, 0, 64, 0 },
		{ "err-part-too-big", 0, 0, 0, 16 },
		{ "err-duplicate-header", 0, 0, 0, 0 },
		{ "err-malformed-header", 0, 0, 0, 0 },
		{ "err-empty-cid", 0, 0, 0, 0 },
		{ "err-empty-start", 0, 0, 0, 0 },
		{ "err-cr-in-header", 0, 0, 0, 0 },
		{ "err-folded-first-line", 0, 0, 0, 0 },
	};
	struct mtom_limits	 lim;
	struct dbuf		 d;
	char			 path[4200], *file, *exp, *nl, *ct;
	size_t			 i, len, elen;
	FILE			*f;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(path, sizeof(path), "%s/shared/tests/data/mtom/%s.mime",
		    tap_srcdir(), cases[i].name);
		if ((file = tap_slurp(path, &len)) == NULL ||
		    (nl = memchr(file, '\n', len)) == NULL) {
			ok(0, "%s: cannot read %s", cases[i].name, path);
			free(file);
			continue;
		}
		ct = xstrndup(file, nl - file);
		memset(&lim, 0, sizeof(lim));
		lim.max_parts = cases[i].max_parts;
		lim.max_part_headers = cases[i].max_headers;
		lim.max_root = cases[i].max_root;
		lim.max_part = cases[i].max_part;
		ok(run_slicings(ct, nl + 1, len - (nl + 1 - file), &lim, &d),
		    "%s: same result for whole, 1-byte, 7-byte, random slices",
		    cases[i].name);
		snprintf(path, sizeof(path), "%s/shared/tests/data/mtom/"
		    "%s.expected", tap_srcdir(), cases[i].name);
		if (getenv("MTOM_BLESS") != NULL &&
		    (f = fopen(path, "w")) != NULL) {
			fputs(dbuf_str(&d), f);
			fclose(f);
		}
		exp = tap_slurp(path, &elen);
		is_str(dbuf_str(&d), exp != NULL ? exp : "(missing)",
		    "%s: matches %s.expected", cases[i].name, cases[i].name);
		free(exp);
		dbuf_free(&d);
		free(ct);
		free(file);
	}
}

/* Extract the text of the first element whose start tag begins with tag. */
static char *
element_text(const char *xml, const char *tag, const char *end)
{
	const char	*s, *e;

	if ((s = strstr(xml, tag)) == NULL || (s = strchr(s, '>')) == NULL ||
	    (e = strstr(s, end)) == NULL)
		return (NULL);
	return (xstrndup(s + 1, e - s - 1));
}

/* Decode inline base64 in slices of 5 characters. */
static int
b64_sliced(const char *text, char hex[41], uint64_t *size)
{
	struct mtom_b64	 b;
	size_t		 off, n, len = strlen(text);
	char		*cause = NULL;
	int		 rv = 0;

	mtom_b64_init(&b);
	for (off = 0; off < len && rv == 0; off += n) {
		n = len - off < 5 ? len - off : 5;
		rv = mtom_b64_update(&b, text + off, n, NULL, NULL, &cause);
	}
	if (rv == 0)
		rv = mtom_b64_final(&b, hex, size, &cause);
	if (cause != NULL)
		tap_diag("%s", cause);
	free(cause);
	mtom_b64_free(&b);
	return (rv);
}

/* The NIST PnrXop bodies with their saved HTTP headers. */
static void
test_samples(const char *dir)
{
	static const char	*names[] = { "pnr-mtom-xop",
	    "pnr-mtom-xop-urlencoded-cid", "pnr-mtom-noxop-inline-base64",
	    "rad68-wcf-inline-kos" };
	struct mtom_parser	*p;
	const struct mtom_part	*part;
	struct coll		 c;
	struct dbuf		 d;
	char			 path[4200], *hdr, *body, *ct, *e, *text;
	char			 hex[41];
	size_t			 i, hlen, blen;
	uint64_t		 size;

	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/xds-samples/iti41/%s."
		    "http-headers.txt", dir, names[i]);
		hdr = tap_slurp(path, &hlen);
		snprintf(path, sizeof(path), "%s/xds-samples/iti41/%s.body.txt",
		    dir, names[i]);
		body = tap_slurp(path, &blen);
		if (hdr == NULL || body == NULL ||
		    strncasecmp(hdr, "Content-Type:", 13) != 0) {
			ok(0, "%s: sample files readable", names[i]);
			free(hdr);
			free(body);
			continue;
		}
		for (e = hdr + strlen(hdr); e > hdr && (e[-1] == '\n' ||
		    e[-1] == '\r'); e--)
			*--e = '\0', e++;
		ct = hdr + 13;
		ok(run_slicings(ct, body, blen, NULL, &d),
		    "%s: identical for whole, 1-byte, 7-byte, random slices",
		    names[i]);
		dbuf_free(&d);
		dbuf_init(&d, 1 << 20);
		p = run_mime(ct, body, blen, -1, NULL, &c, &d, 1);
		part = mtom_parser_root_part(p);
		ok(strncmp(dbuf_str(&d), "parts=", 6) == 0 && part != NULL &&
		    part->index == 0, "%s: parses, root is the first part",
		    names[i]);
		if (i < 2) {
			is_int(mtom_parser_nparts(p), 2, "%s: two parts",
			    names[i]);
			part = mtom_parser_lookup(p, i == 0 ?
			    "cid:1.b5b57d7287e4fa4b528a8f050c41f8ad829c20332f23b48d@apache.org" :
			    "cid:fdf975cc-9f08-4d94-b7f6-99f4807f3654-1@urn%3Aihe%3Aiti%3Axds-b%3A2007");
			ok(part != NULL && part->index == 1,
			    "%s: the xop:Include href resolves to part 1",
			    names[i]);
			ok(part != NULL && part->size == 36 && strcmp(part->sha1,
			    "e543712c0e10501972de13a5bfcbe826c49feb75") == 0,
			    "%s: attachment 36 bytes, SHA-1 e543712c...",
			    names[i]);
			ok(c.begins == 1 && c.ends == 1 && c.data[1].len == 36 &&
			    memcmp(c.data[1].data, "This is my document.", 20) ==
			    0, "%s: attachment streamed to the callbacks",
			    names[i]);
			ok(strstr(mtom_parser_root(p, NULL), "xop:Include") !=
			    NULL && mtom_parser_root(p, NULL)[0] == '<',
			    "%s: root holds the envelope", names[i]);
		} else {
			is_int(mtom_parser_nparts(p), 1, "%s: root only",
			    names[i]);
			if (i == 3)
				is_str(part->cid, "http://tempuri.org/0",
				    "WCF root Content-ID <http://tempuri.org/0>");
			else
				is_str(part->cid, "0.85b57d7287e4fa4b528a8f050"
				    "c41f8ad829c20332f23b48d@apache.org",
				    "NoXop root Content-ID");
			text = element_text(mtom_parser_root(p, NULL), i == 2 ?
			    "<xdsb:Document " : "<Document ", i == 2 ?
			    "</xdsb:Document>" : "</Document>");
			ok(text != NULL && b64_sliced(text, hex, &size) == 0,
			    "%s: inline base64 decodes", names[i]);
			if (i == 2)
				ok(size == 38 && strcmp(hex, "27e60f9f5173903c2fa9"
				    "07baaaeb7af819913116") == 0,
				    "NoXop inline document: 38 bytes, SHA-1 "
				    "27e60f9f...");
			else
				ok(size == 6090 && strcmp(hex, "353853d3e6b76cec1d"
				    "08c88c2c503925a260c93c") == 0,
				    "WCF inline KOS: 6090 bytes, SHA-1 353853d3...");
			free(text);
		}
		mtom_parser_free(p);
		coll_free(&c);
		dbuf_free(&d);
		free(hdr);
		free(body);
	}
}

/* HTTP then MTOM: the head callback opens the multipart parser. */
struct pipe {
	struct mtom_parser	*mp;
	struct coll		 c;
};

/* Head parsed: open the multipart parser on its Content-Type. */
static int
pipe_head(const struct http_msg *m, void *arg, char **cause)
{
	struct pipe	*pp = arg;
	const char	*ct;

	if ((ct = http_msg_header(m, "Content-Type")) == NULL) {
		xasprintf(cause, "no Content-Type");
		return (-1);
	}
	pp->mp = mtom_parser_new(ct, &coll_cb, &pp->c, NULL, cause);
	return (pp->mp == NULL ? -1 : 0);
}

/* Body bytes go straight into the multipart parser. */
static int
pipe_body(const void *b, size_t n, void *arg, char **cause)
{
	struct pipe	*pp = arg;

	return (mtom_parser_feed(pp->mp, b, n, cause));
}

/* End of the HTTP body ends the multipart message. */
static int
pipe_done(const struct http_msg *m, void *arg, char **cause)
{
	struct pipe	*pp = arg;

	return (mtom_parser_finish(pp->mp, cause));
}

/* The saved Axis2 request, through http.c then mtom.c. */
static void
test_axis2(const char *dir)
{
	static const struct http_callbacks pcb = { pipe_head, pipe_body,
	    pipe_done };
	static const int	 modes[] = { 0, 1, 7, -1 };
	struct http_parser	*hp;
	struct pipe		 pp;
	const struct mtom_part	*part;
	struct dbuf		 d, first;
	char			 path[4200], *file, *cause = NULL;
	size_t			 len, off, n, i;
	unsigned int		 seed = 99;
	int			 rv, same = 1;

	snprintf(path, sizeof(path), "%s/xds-samples/iti41/"
	    "http-mtom-pnr-axis2-full-request.txt", dir);
	if ((file = tap_slurp(path, &len)) == NULL) {
		ok(0, "Axis2 sample readable");
		return;
	}
	dbuf_init(&first, 1 << 20);
	for (i = 0; i < 4; i++) {
		memset(&pp, 0, sizeof(pp));
		pp.c.open = -1;
		hp = http_parser_new(HTTP_F_REQUEST | HTTP_F_LAX, NULL, &pcb,
		    &pp);
		rv = 0;
		for (off = 0; off < len && rv == 0; off += n) {
			n = slice_next(modes[i], &seed, len - off);
			rv = http_parser_feed(hp, file + off, n, NULL, &cause);
		}
		if (rv == 0)
			rv = http_parser_finish(hp, &cause);
		dbuf_init(&d, 1 << 20);
		describe(pp.mp, &pp.c, rv, cause, &d);
		free(cause);
		cause = NULL;
		if (i == 0) {
			dbuf_add(&first, d.data, d.len);
			ok(rv == 0 && mtom_parser_nparts(pp.mp) == 2,
			    "Axis2 request through http then mtom: 2 parts");
			part = mtom_parser_root_part(pp.mp);
			ok(part != NULL && part->index == 0 && strcmp(part->cid,
			    "0.urn:uuid:3D4B161591CD1DEC0C1286850962203@apache.org")
			    == 0 && part->size == 16845,
			    "root found by start=\"<0.urn:uuid:...203@apache.org>\"");
			part = mtom_parser_lookup(pp.mp, "cid:1.urn:uuid:"
			    "3D4B161591CD1DEC0C1286850962319@apache.org");
			ok(part != NULL && part->size == 1465 && strcmp(part->sha1,
			    "a2ffd43a4557af4174f11323928480a83f05d222") == 0,
			    "Axis2 attachment: 1465 bytes, SHA-1 a2ffd43a... "
			    "(computed independently)");
			ok(strstr(mtom_parser_ct(pp.mp)->params[0].value,
			    "MIMEBoundaryurn") != NULL && strcmp(http_ct_param(
			    mtom_parser_ct(pp.mp), "action"),
			    "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b") ==
			    0, "message Content-Type parameters available");
		} else if (strcmp(dbuf_str(&d), dbuf_str(&first)) != 0)
			same = 0;
		dbuf_free(&d);
		mtom_parser_free(pp.mp);
		coll_free(&pp.c);
		http_parser_free(hp);
	}
	ok(same, "Axis2 pipeline identical for whole, 1, 7, random slices");
	dbuf_free(&first);
	free(file);
}

/* Helpers: href decoding, Content-ID stripping, base64 edge cases. */
static void
test_helpers(void)
{
	struct mtom_b64	 b;
	char		*s, *cause = NULL, hex[41];
	uint64_t	 size;
	struct dbuf	 out;

#define HREF(in, want) do {						\
	s = mtom_cid_from_href(in);					\
	is_str(s, want, "href %s", in);					\
	free(s);							\
} while (0)
	HREF("cid:abc%40x", "abc@x");
	HREF("CID:a%3a%3Ab", "a::b");
	HREF(" cid:plain@host ", "plain@host");
	HREF("cid:", NULL);
	HREF("http://x/y", NULL);
	HREF("cid:a%4", NULL);
	HREF("cid:a%zz", NULL);
	HREF("cid:a%00b", NULL);
	HREF("cid:a b", NULL);
#undef HREF
	s = mtom_cid_strip("  <a@b> ");
	is_str(s, "a@b", "cid strip brackets and blanks");
	free(s);
	s = mtom_cid_strip("a@b");
	is_str(s, "a@b", "cid without brackets kept");
	free(s);
	s = mtom_cid_strip("<");
	is_str(s, "<", "lone bracket kept");
	free(s);

	dbuf_init(&out, 100);
	mtom_b64_init(&b);
	ok(mtom_b64_update(&b, " SGVs\r\nbG8g\td29y", 16,
	    (mtom_sink_cb)NULL, NULL, &cause) == 0 &&
	    mtom_b64_update(&b, "bGQ=\n", 5, NULL, NULL, &cause) == 0 &&
	    mtom_b64_final(&b, hex, &size, &cause) == 0 && size == 11,
	    "base64 with whitespace across slices");
	sha1_hex("Hello world", 11, out.data = xmalloc(41));
	is_str(hex, out.data, "base64 SHA-1 of the decoded bytes");
	free(out.data);
	mtom_b64_free(&b);
	mtom_b64_init(&b);
	ok(mtom_b64_update(&b, "SG", 2, NULL, NULL, &cause) == 0 &&
	    mtom_b64_update(&b, "=", 1, NULL, NULL, &cause) == 0 &&
	    mtom_b64_final(&b, hex, &size, &cause) == -1,
	    "half padding is truncated base64");
	free(cause);
	cause = NULL;
	mtom_b64_free(&b);
	mtom_b64_init(&b);
	ok(mtom_b64_update(&b, "S===", 4, NULL, NULL, &cause) == -1 &&
	    strstr(cause, "padding") != NULL, "padding after one sextet");
	free(cause);
	cause = NULL;
	mtom_b64_free(&b);
	mtom_b64_init(&b);
	ok(mtom_b64_final(&b, hex, &size, &cause) == 0 && size == 0 &&
	    strcmp(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709") == 0,
	    "empty base64: empty SHA-1");
	mtom_b64_free(&b);
}

/* Writer output collected in memory. */
static int
sink_dbuf(const void *b, size_t n, void *arg, char **cause)
{
	return (dbuf_add(arg, b, n));
}

/* A read callback over a string, a few bytes at a time. */
struct src {
	const char	*s;
	size_t		 len, off;
	int		 fail;
};

/* A read callback over a string, 3 bytes at a time. */
static ssize_t
src_read(void *buf, size_t len, void *arg, char **cause)
{
	struct src	*s = arg;
	size_t		 n = s->len - s->off;

	if (s->fail) {
		xasprintf(cause, "source broke");
		return (-1);
	}
	if (n > 3)
		n = 3;
	if (n > len)
		n = len;
	memcpy(buf, s->s + s->off, n);
	s->off += n;
	return ((ssize_t)n);
}

/* Writer round trips: every source kind, tricky bytes, errors. */
static void
test_writer(void)
{
	static const char	 root[] = "<s:Envelope>\r\n<x/></s:Envelope>";
	static const char	 tricky[] = "\r\n--MIMEBoundary_\r\n--b\r\n";
	static const char	 cbdata[] = "from a callback\r\n";
	struct mtom_writer	*w;
	struct mtom_parser	*p;
	struct dbuf		 msg, one, d;
	struct http_ct		 ct;
	struct coll		 c;
	struct src		 src = { cbdata, sizeof(cbdata) - 1, 0, 0 };
	const struct mtom_part	*part;
	char			 tmpl[] = "/tmp/test_mtom.XXXXXX", *cause = NULL;
	char			 bin[300];
	const char		*r;
	size_t			 i, rlen;
	ssize_t			 n;
	int			 fd, fd2, good;

	for (i = 0; i < sizeof(bin); i++)
		bin[i] = (char)(i * 7);
	if ((fd = mkstemp(tmpl)) == -1 || write(fd, bin, sizeof(bin)) !=
	    (ssize_t)sizeof(bin)) {
		ok(0, "temp file");
		return;
	}
	fd2 = open(tmpl, O_RDONLY);
	w = mtom_writer_new(NULL, "urn:ihe:iti:2007:RetrieveDocumentSetResponse");
	ok(mtom_writer_set_root(w, root, strlen(root), "root@isn",
	    &cause) == 0, "writer root");
	ok(mtom_writer_add_buf(w, "tricky@isn", "application/octet-stream",
	    tricky, strlen(tricky), &cause) == 0 &&
	    mtom_writer_add_buf(w, "empty@isn", "text/plain", "", 0,
	    &cause) == 0 &&
	    mtom_writer_add_path(w, "file@isn", "application/dicom", tmpl,
	    &cause) == 0 &&
	    mtom_writer_add_fd(w, "fd@isn", "application/dicom", fd2,
	    &cause) == 0 &&
	    mtom_writer_add_cb(w, "cb@isn", "text/plain", src_read, &src,
	    &cause) == 0, "five attachments from buffer, path, fd, callback");
	ok(mtom_writer_add_buf(w, "tricky@isn", "text/plain", "", 0,
	    &cause) == -1 && strstr(cause, "duplicate") != NULL,
	    "duplicate Content-ID refused");
	free(cause);
	cause = NULL;
	ok(mtom_writer_add_buf(w, "a>b", "text/plain", "", 0, &cause) == -1,
	    "Content-ID with '>' refused");
	free(cause);
	cause = NULL;
	ok(mtom_writer_add_buf(w, "ok@x", "text/plain\r\nX-Evil: 1", "", 0,
	    &cause) == -1, "Content-Type with CRLF refused");
	free(cause);
	cause = NULL;
	ok(http_ct_parse(mtom_writer_content_type(w), &ct, &cause) == 0 &&
	    strcmp(ct.type, "multipart/related") == 0 &&
	    strcmp(http_ct_param(&ct, "start"), "<root@isn>") == 0 &&
	    strcmp(http_ct_param(&ct, "type"), "application/xop+xml") == 0 &&
	    strcmp(http_ct_param(&ct, "start-info"),
	    "application/soap+xml") == 0 && strcmp(http_ct_param(&ct,
	    "action"), "urn:ihe:iti:2007:RetrieveDocumentSetResponse") == 0 &&
	    strcmp(http_ct_param(&ct, "boundary"), mtom_writer_boundary(w)) ==
	    0, "Content-Type: boundary, type, start, start-info, action");
	http_ct_free(&ct);
	dbuf_init(&msg, 1 << 20);
	ok(mtom_writer_write(w, sink_dbuf, &msg, &cause) == 0,
	    "writer streams the message");
	ok(mtom_writer_read(w, bin, 1, &cause) == 0, "then reads 0: the end");

	dbuf_init(&d, 1 << 20);
	p = run_mime(mtom_writer_content_type(w), msg.data, msg.len, 1, NULL,
	    &c, &d, 1);
	ok(strncmp(dbuf_str(&d), "parts=6\n", 8) == 0 && strstr(dbuf_str(&d),
	    "MISMATCH") == NULL, "round trip: 6 parts");
	r = mtom_parser_root(p, &rlen);
	ok(rlen == strlen(root) && memcmp(r, root, rlen) == 0 &&
	    mtom_parser_root_part(p)->index == 0, "root bytes identical");
	part = mtom_parser_lookup(p, "cid:tricky%40isn");
	ok(part != NULL && c.data[1].len == strlen(tricky) &&
	    memcmp(c.data[1].data, tricky, strlen(tricky)) == 0 &&
	    strcmp(part->content_type, "application/octet-stream") == 0,
	    "buffer attachment with CRLF and delimiter-like text identical");
	ok(c.data[2].len == 0 && mtom_parser_part(p, 2)->size == 0,
	    "empty attachment stays empty");
	ok(c.data[3].len == sizeof(bin) && c.data[4].len == sizeof(bin),
	    "path and fd attachments: sizes");
	for (i = 0, good = 1; i < sizeof(bin); i++) {
		if (c.data[3].data[i] != (char)(i * 7) ||
		    c.data[4].data[i] != (char)(i * 7))
			good = 0;
	}
	ok(good, "path and fd attachments identical");
	ok(c.data[5].len == strlen(cbdata) && memcmp(c.data[5].data, cbdata,
	    strlen(cbdata)) == 0, "callback attachment identical");
	{
		char	*taken;
		size_t	 tlen;

		taken = mtom_parser_take_root(p, &tlen);
		ok(tlen == strlen(root) && strcmp(taken, root) == 0 &&
		    mtom_parser_root(p, &rlen)[0] == '\0' && rlen == 0,
		    "take_root hands over the root, leaves it empty");
		free(taken);
		taken = mtom_parser_take_root(p, &tlen);
		ok(tlen == 0 && taken[0] == '\0', "empty root taken as \"\"");
		free(taken);
	}
	mtom_parser_free(p);
	coll_free(&c);
	dbuf_free(&d);
	mtom_writer_free(w);

	/* Pull in 1-byte reads: same bytes as the push. */
	src.off = 0;
	lseek(fd2, 0, SEEK_SET);
	w = mtom_writer_new("fixed-boundary", NULL);
	mtom_writer_set_root(w, root, strlen(root), NULL, &cause);
	mtom_writer_add_path(w, "file@isn", "application/dicom", tmpl, &cause);
	mtom_writer_add_cb(w, "cb@isn", "text/plain", src_read, &src, &cause);
	dbuf_init(&one, 1 << 20);
	while ((n = mtom_writer_read(w, bin, 1, &cause)) == 1)
		dbuf_add(&one, bin, 1);
	ok(n == 0 && one.len > 300 && strncmp(one.data, "--fixed-boundary\r\n",
	    18) == 0 && one.len >= 24 && memcmp(one.data + one.len - 22,
	    "\r\n--fixed-boundary--\r\n", 22) == 0,
	    "1-byte pulls give a whole message, given boundary used");
	ok(strstr(mtom_writer_content_type(w), "action") == NULL &&
	    strstr(mtom_writer_content_type(w), "start=\"<root.") != NULL,
	    "no action parameter; generated root Content-ID");
	dbuf_init(&d, 1 << 20);
	run_mime(mtom_writer_content_type(w), one.data, one.len, -1, NULL, &c,
	    &d, 0);
	ok(strncmp(dbuf_str(&d), "parts=3\n", 8) == 0, "pulled message parses");
	dbuf_free(&d);
	dbuf_free(&one);
	mtom_writer_free(w);

	/* Failures. */
	w = mtom_writer_new(NULL, NULL);
	ok(mtom_writer_read(w, bin, 10, &cause) == -1 && strstr(cause,
	    "root") != NULL, "no root: read fails");
	free(cause);
	cause = NULL;
	mtom_writer_set_root(w, root, strlen(root), "r@x", &cause);
	mtom_writer_add_path(w, "gone@x", "text/plain", "/nonexistent/x",
	    &cause);
	dbuf_reset(&msg);
	ok(mtom_writer_write(w, sink_dbuf, &msg, &cause) == -1 &&
	    strstr(cause, "cannot open attachment <gone@x>") != NULL,
	    "missing file: cause names the part");
	free(cause);
	cause = NULL;
	mtom_writer_free(w);
	w = mtom_writer_new(NULL, NULL);
	mtom_writer_set_root(w, root, strlen(root), "r@x", &cause);
	src.fail = 1;
	mtom_writer_add_cb(w, "cb@x", "text/plain", src_read, &src, &cause);
	ok(mtom_writer_write(w, sink_dbuf, &msg, &cause) == -1 &&
	    strcmp(cause, "source broke") == 0, "callback failure propagates");
	free(cause);
	mtom_writer_free(w);
	dbuf_free(&msg);
	close(fd);
	close(fd2);
	unlink(tmpl);
}

/* Callback failures stop the parser with their cause. */
static void
test_callback_failures(void)
{
	static const char	 ct[] = "multipart/related; boundary=b";
	static const char	 body[] = "--b\r\n\r\nroot\r\n--b\r\n"
	    "Content-ID: <a>\r\n\r\ndata\r\n--b--\r\n";
	struct coll		 c;
	struct dbuf		 d;
	int			 f;
	const char		*want[] = { "", "sink: no space left",
	    "part_data callback failed", "sink: rename failed" };

	for (f = 1; f <= 3; f++) {
		struct mtom_parser	*p;
		char			*cause = NULL;
		int			 rv;

		memset(&c, 0, sizeof(c));
		c.open = -1;
		c.fail = f;
		p = mtom_parser_new(ct, &coll_cb, &c, NULL, &cause);
		rv = mtom_parser_feed(p, body, sizeof(body) - 1, &cause);
		ok(rv == -1 && cause != NULL && strcmp(cause, want[f]) == 0,
		    "callback %d failure: %s", f, want[f]);
		free(cause);
		cause = NULL;
		ok(mtom_parser_feed(p, "x", 1, &cause) == -1 &&
		    mtom_parser_finish(p, NULL) == -1, "parser stays failed");
		free(cause);
		mtom_parser_free(p);
		coll_free(&c);
	}
	dbuf_init(&d, 1000);
	run_mime(ct, body, sizeof(body) - 1, 0, NULL, &c, &d, 0);
	ok(strstr(dbuf_str(&d), "HANDLES") == NULL,
	    "handle_free called once per attachment handle");
	dbuf_free(&d);
}

/* nohash: binary attachments are delivered whole, not hashed. */
static void
test_nohash(void)
{
	static const char	 ct[] = "multipart/related; boundary=b";
	static const char	 body[] = "--b\r\n\r\nroot\r\n--b\r\n"
	    "Content-ID: <a>\r\n\r\ndata\r\n--b\r\n"
	    "Content-ID: <c>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	    "ZGF0YQ==\r\n--b--\r\n";
	const struct mtom_part	*a, *b64;
	struct mtom_parser	*p;
	struct coll		 c;
	char			*cause = NULL;

	memset(&c, 0, sizeof(c));
	c.open = -1;
	if ((p = mtom_parser_new(ct, &coll_cb, &c, NULL, &cause)) != NULL)
		mtom_parser_nohash(p);
	ok(p != NULL && mtom_parser_feed(p, body, sizeof(body) - 1,
	    &cause) == 0 && mtom_parser_finish(p, &cause) == 0,
	    "nohash: the message parses");
	a = p != NULL ? mtom_parser_part(p, 1) : NULL;
	b64 = p != NULL ? mtom_parser_part(p, 2) : NULL;
	ok(a != NULL && a->size == 4 && a->sha1[0] == '\0' && c.begins == 2 &&
	    !c.misuse && c.data[1].len == 4 &&
	    memcmp(c.data[1].data, "data", 4) == 0,
	    "nohash: a binary part is delivered whole and not hashed");
	ok(b64 != NULL && b64->size == 4 && strcmp(b64->sha1,
	    "a17c9aaa61e80a1bf71d0d850af4e5baa9800bbd") == 0,
	    "nohash: a base64 part is still hashed as it is decoded");
	free(cause);
	mtom_parser_free(p);
	coll_free(&c);
}

/* A synthetic attachment: xorshift bytes, hashed as they are made. */
struct gen {
	uint64_t	 state;
	uint64_t	 left;
	EVP_MD_CTX	*sha;
};

/* Generate xorshift bytes and hash them independently. */
static ssize_t
gen_read(void *buf, size_t len, void *arg, char **cause)
{
	struct gen	*g = arg;
	uint8_t		*b = buf;
	uint64_t	 x = g->state;
	size_t		 i, n;

	if (len > g->left)
		len = (size_t)g->left;
	for (i = 0; i < len; i += n) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		n = len - i < 8 ? len - i : 8;
		memcpy(b + i, &x, n);
	}
	g->state = x;
	g->left -= len;
	EVP_DigestUpdate(g->sha, buf, len);
	return ((ssize_t)len);
}

/* Parser fed straight from the writer's sink. */
static int
sink_parser(const void *b, size_t n, void *arg, char **cause)
{
	return (mtom_parser_feed(arg, b, n, cause));
}

/* Hash only, never keep: what a blob-store sink does. */
static int
big_data(const struct mtom_part *part, const void *b, size_t n, void *arg,
    char **cause)
{
	return (0);
}

/* Gigabytes through writer and parser in bounded memory. */
static void
test_big(void)
{
	static const struct mtom_callbacks bcb = { NULL, big_data, NULL,
	    NULL };
	struct mtom_writer	*w;
	struct mtom_parser	*p;
	const struct mtom_part	*part;
	struct rusage		 ru;
	struct gen		 g;
	const char		*env;
	char			*cause = NULL, hex[41];
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen, i;
	uint64_t		 total;
	long			 before, after;
	int			 rv;

	total = 3ULL << 30;
	if ((env = getenv("MTOM_BIG_MIB")) != NULL)
		total = strtoull(env, NULL, 10) << 20;
	g.state = 0x9e3779b97f4a7c15ULL;
	g.left = total + 3;	/* not a multiple of 8 */
	g.sha = EVP_MD_CTX_new();
	EVP_DigestInit_ex(g.sha, EVP_sha1(), NULL);

	w = mtom_writer_new(NULL, NULL);
	mtom_writer_set_root(w, "<e/>", 4, "r@x", &cause);
	mtom_writer_add_cb(w, "big@x", "application/dicom", gen_read, &g,
	    &cause);
	p = mtom_parser_new(mtom_writer_content_type(w), &bcb, NULL, NULL,
	    &cause);
	getrusage(RUSAGE_SELF, &ru);
	before = ru.ru_maxrss;
	rv = mtom_writer_write(w, sink_parser, p, &cause);
	if (rv == 0)
		rv = mtom_parser_finish(p, &cause);
	getrusage(RUSAGE_SELF, &ru);
	after = ru.ru_maxrss;
	ok(rv == 0, "%llu MiB attachment streamed writer -> parser%s%s",
	    (unsigned long long)(total >> 20), cause ? ": " : "",
	    cause ? cause : "");
	part = mtom_parser_lookup(p, "cid:big@x");
	EVP_DigestFinal_ex(g.sha, md, &mdlen);
	for (i = 0; i < mdlen; i++)
		snprintf(hex + i * 2, 3, "%02x", md[i]);
	ok(part != NULL && part->size == total + 3 && strcmp(part->sha1, hex) ==
	    0, "size and SHA-1 match the generator's own digest");
	ok(after - before < 16 * 1024, "peak RSS growth %ld KiB < 16 MiB",
	    after - before);
	EVP_MD_CTX_free(g.sha);
	free(cause);
	mtom_parser_free(p);
	mtom_writer_free(w);
}

/* Run every group; the plan is printed at the end. */
int
main(void)
{
	const char	*dir;

	test_cases();
	test_helpers();
	if ((dir = tap_shareddir()) == NULL)
		tap_skip(29, "../shared (xds-samples) not present");
	else {
		test_samples(dir);
		test_axis2(dir);
	}
	test_writer();
	test_callback_failures();
	test_nohash();
	test_big();
	return (tap_done());
}
