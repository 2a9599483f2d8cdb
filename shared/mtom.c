/* mtom.c: streaming multipart/related (MTOM/XOP) parser and writer. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "dbuf.h"
#include "http.h"
#include "log.h"
#include "mtom.h"
#include "xmalloc.h"

/* Digests. */

void
mtom_digest_init(struct mtom_digest *d)
{
	if ((d->ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(d->ctx, EVP_sha1(), NULL) != 1)
		fatalx("mtom: cannot initialise SHA-1");
	d->size = 0;
}

void
mtom_digest_update(struct mtom_digest *d, const void *b, size_t n)
{
	if (n == 0)
		return;
	if (EVP_DigestUpdate(d->ctx, b, n) != 1)
		fatalx("mtom: SHA-1 update failed");
	d->size += n;
}

void
mtom_digest_final(struct mtom_digest *d, char hex[41])
{
	static const char	 digits[] = "0123456789abcdef";
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 len = 0, i;

	if (EVP_DigestFinal_ex(d->ctx, md, &len) != 1 || len != 20 ||
	    EVP_DigestInit_ex(d->ctx, EVP_sha1(), NULL) != 1)
		fatalx("mtom: SHA-1 final failed");
	for (i = 0; i < len; i++) {
		hex[i * 2] = digits[md[i] >> 4];
		hex[i * 2 + 1] = digits[md[i] & 0xf];
	}
	hex[40] = '\0';
}

void
mtom_digest_free(struct mtom_digest *d)
{
	EVP_MD_CTX_free(d->ctx);
	d->ctx = NULL;
}

/* Base64. */

#define MTOM_B64_BAD	-1
#define MTOM_B64_WS	-2
#define MTOM_B64_PAD	-3

/* Value of one base64 character, or one of the MTOM_B64_ classes. */
static int
mtom_b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return (c - 'A');
	if (c >= 'a' && c <= 'z')
		return (c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (c - '0' + 52);
	if (c == '+')
		return (62);
	if (c == '/')
		return (63);
	if (c == '=')
		return (MTOM_B64_PAD);
	if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
		return (MTOM_B64_WS);
	return (MTOM_B64_BAD);
}

void
mtom_b64_init(struct mtom_b64 *b)
{
	memset(b, 0, sizeof(*b));
	mtom_digest_init(&b->digest);
}

void
mtom_b64_free(struct mtom_b64 *b)
{
	mtom_digest_free(&b->digest);
}

/* Hash decoded bytes and pass them on. */
static int
mtom_b64_flush(struct mtom_b64 *b, const uint8_t *out, size_t n,
    mtom_sink_cb sink, void *arg, char **cause)
{
	if (n == 0)
		return (0);
	mtom_digest_update(&b->digest, out, n);
	if (sink != NULL)
		return (sink(out, n, arg, cause));
	return (0);
}

int
mtom_b64_update(struct mtom_b64 *b, const void *in, size_t len,
    mtom_sink_cb sink, void *arg, char **cause)
{
	const unsigned char	*s = in;
	uint8_t			 out[3 * 1024];
	size_t			 i, o = 0;
	int			 v;

	for (i = 0; i < len; i++, b->pos++) {
		v = mtom_b64_value(s[i]);
		if (v == MTOM_B64_WS)
			continue;
		if (v == MTOM_B64_BAD) {
			xasprintf(cause, "invalid base64 character 0x%02x at "
			    "offset %llu", s[i], (unsigned long long)b->pos);
			return (-1);
		}
		if (b->done) {
			xasprintf(cause, "base64 data after the padding at "
			    "offset %llu", (unsigned long long)b->pos);
			return (-1);
		}
		if (v == MTOM_B64_PAD) {
			if (b->nacc < 2) {
				xasprintf(cause, "misplaced base64 padding at "
				    "offset %llu", (unsigned long long)b->pos);
				return (-1);
			}
			if (b->nacc + ++b->pad < 4)
				continue;
			if (b->nacc == 2)
				out[o++] = (b->acc >> 4) & 0xff;
			else {
				out[o++] = (b->acc >> 10) & 0xff;
				out[o++] = (b->acc >> 2) & 0xff;
			}
			b->nacc = 0;
			b->acc = 0;
			b->done = 1;
			continue;
		}
		if (b->pad != 0) {
			xasprintf(cause, "base64 data inside the padding at "
			    "offset %llu", (unsigned long long)b->pos);
			return (-1);
		}
		b->acc = (b->acc << 6) | (uint32_t)v;
		if (++b->nacc == 4) {
			out[o++] = (b->acc >> 16) & 0xff;
			out[o++] = (b->acc >> 8) & 0xff;
			out[o++] = b->acc & 0xff;
			b->nacc = 0;
			b->acc = 0;
		}
		if (o > sizeof(out) - 3) {
			if (mtom_b64_flush(b, out, o, sink, arg, cause) == -1)
				return (-1);
			o = 0;
		}
	}
	return (mtom_b64_flush(b, out, o, sink, arg, cause));
}

int
mtom_b64_final(struct mtom_b64 *b, char hex[41], uint64_t *size, char **cause)
{
	if (!b->done && (b->nacc != 0 || b->pad != 0)) {
		xasprintf(cause, "truncated base64 (%d characters left over)",
		    b->nacc + b->pad);
		return (-1);
	}
	if (size != NULL)
		*size = b->digest.size;
	mtom_digest_final(&b->digest, hex);
	return (0);
}

/* Content-IDs. */

char *
mtom_cid_strip(const char *s)
{
	const char	*e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (e - s >= 2 && *s == '<' && e[-1] == '>') {
		s++;
		e--;
	}
	return (xstrndup(s, e - s));
}

/* One hex digit's value, or -1. */
static int
mtom_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	return (-1);
}

char *
mtom_cid_from_href(const char *href)
{
	struct dbuf	 b;
	const char	*s;
	int		 hi, lo;

	while (*href == ' ' || *href == '\t' || *href == '\r' ||
	    *href == '\n')
		href++;
	if (strncasecmp(href, "cid:", 4) != 0 || href[4] == '\0')
		return (NULL);
	dbuf_init(&b, strlen(href));
	for (s = href + 4; *s != '\0'; s++) {
		if (*s == '%') {
			if ((hi = mtom_hexval(s[1])) == -1 ||
			    (lo = mtom_hexval(s[2])) == -1 ||
			    (hi == 0 && lo == 0)) {
				dbuf_free(&b);
				return (NULL);
			}
			dbuf_addc(&b, (char)(hi << 4 | lo));
			s += 2;
		} else if (*s == ' ' || *s == '\t' || *s == '\r' ||
		    *s == '\n') {
			if (strspn(s, " \t\r\n") != strlen(s)) {
				dbuf_free(&b);
				return (NULL);
			}
			break;
		} else
			dbuf_addc(&b, *s);
	}
	dbuf_add(&b, "", 0);	/* dbuf_take of an empty dbuf: no NUL */
	return (dbuf_take(&b, NULL));
}

/* The parser. */

enum mtom_state {
	MTOM_S_PREAMBLE,
	MTOM_S_DELIM,		/* after "--boundary": "--", padding, EOL */
	MTOM_S_HEADERS,
	MTOM_S_BODY,
	MTOM_S_EPILOGUE,
	MTOM_S_ERROR
};

#define MTOM_DELIM_MAX	(MTOM_MAX_BOUNDARY + 3)	/* "\n--" boundary */
#define MTOM_MAX_PADDING 256			/* blanks after a boundary */

struct mtom_parser {
	struct http_ct		 ct;
	struct mtom_callbacks	 cb;
	void			*arg;
	struct mtom_limits	 lim;
	char			*start;		/* root cid, NULL: first part */

	char			 delim[MTOM_DELIM_MAX + 1];
	size_t			 dlen;
	uint8_t			 hold[MTOM_DELIM_MAX + 1];
	size_t			 holdlen;

	enum mtom_state		 state;
	int			 ad;		/* MTOM_S_DELIM sub-state */
	size_t			 adpad;
	struct dbuf		 hdr;		/* part header block */
	size_t			 hdrline;	/* offset of its last line */

	struct mtom_part	*parts;
	size_t			 nparts;
	int			 inpart;	/* parts[nparts - 1] is open */
	struct dbuf		 root;
	int			 haveroot;
	struct mtom_digest	 digest;
	int			 nohash;	/* mtom_parser_nohash */
	struct mtom_b64		 b64;
	int			 b64open;
};

/* Record a failure. */
static int printflike(3, 4)
mtom_fail(struct mtom_parser *p, char **cause, const char *fmt, ...)
{
	va_list	ap;

	p->state = MTOM_S_ERROR;
	va_start(ap, fmt);
	xvcause(cause, fmt, ap);
	va_end(ap);
	return (-1);
}

/* A callback failed: keep its cause, or give one. */
static int
mtom_cbfail(struct mtom_parser *p, char **cause, const char *what)
{
	p->state = MTOM_S_ERROR;
	if (cause != NULL && *cause == NULL)
		xasprintf(cause, "%s callback failed", what);
	return (-1);
}

/* RFC 2046 boundary: 1-70 bchars, not ending in a space. */
static int
mtom_boundary_ok(const char *b)
{
	size_t	n = strlen(b), i;

	if (n == 0 || n > MTOM_MAX_BOUNDARY || b[n - 1] == ' ')
		return (0);
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)b[i]) &&
		    strchr("'()+_,-./:=? ", b[i]) == NULL)
			return (0);
	}
	return (1);
}

struct mtom_parser *
mtom_parser_new(const char *ctype, const struct mtom_callbacks *cb,
    void *arg, const struct mtom_limits *lim, char **cause)
{
	struct mtom_parser	*p;
	const char		*b, *s;

	p = xcalloc(1, sizeof(*p));
	if (http_ct_parse(ctype, &p->ct, cause) == -1) {
		free(p);
		return (NULL);
	}
	if (strcmp(p->ct.type, "multipart/related") != 0) {
		xasprintf(cause, "Content-Type is %s, not multipart/related",
		    p->ct.type);
		goto fail;
	}
	if ((b = http_ct_param(&p->ct, "boundary")) == NULL) {
		xasprintf(cause, "Content-Type has no boundary parameter");
		goto fail;
	}
	if (!mtom_boundary_ok(b)) {
		xasprintf(cause, "invalid multipart boundary (RFC 2046: 1 to "
		    "%d characters of the allowed set)", MTOM_MAX_BOUNDARY);
		goto fail;
	}
	if ((s = http_ct_param(&p->ct, "start")) != NULL) {
		p->start = mtom_cid_strip(s);
		if (*p->start == '\0') {
			xasprintf(cause, "empty start parameter");
			goto fail;
		}
	}
	p->dlen = (size_t)snprintf(p->delim, sizeof(p->delim), "\n--%s", b);
	if (cb != NULL)
		p->cb = *cb;
	p->arg = arg;
	if (lim != NULL)
		p->lim = *lim;
	if (p->lim.max_parts == 0)
		p->lim.max_parts = MTOM_MAX_PARTS;
	if (p->lim.max_part_headers == 0)
		p->lim.max_part_headers = MTOM_MAX_PART_HEADERS;
	if (p->lim.max_root == 0)
		p->lim.max_root = MTOM_MAX_ROOT;
	if (p->lim.max_part == 0)
		p->lim.max_part = UINT64_MAX;
	dbuf_init(&p->hdr, p->lim.max_part_headers);
	dbuf_init(&p->root, p->lim.max_root);
	mtom_digest_init(&p->digest);
	/* The body starts at a line start: a virtual LF before it. */
	p->hold[0] = '\n';
	p->holdlen = 1;
	p->state = MTOM_S_PREAMBLE;
	return (p);
fail:
	http_ct_free(&p->ct);
	free(p->start);
	free(p);
	return (NULL);
}

void
mtom_parser_nohash(struct mtom_parser *p)
{
	p->nohash = 1;
}

void
mtom_parser_free(struct mtom_parser *p)
{
	size_t	i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nparts; i++) {
		if (p->parts[i].handle != NULL && p->cb.handle_free != NULL)
			p->cb.handle_free(p->parts[i].handle, p->arg);
		free(p->parts[i].cid);
		free(p->parts[i].content_type);
		free(p->parts[i].cte);
	}
	free(p->parts);
	if (p->b64open)
		mtom_b64_free(&p->b64);
	mtom_digest_free(&p->digest);
	dbuf_free(&p->hdr);
	dbuf_free(&p->root);
	http_ct_free(&p->ct);
	free(p->start);
	free(p);
}

const struct http_ct *
mtom_parser_ct(const struct mtom_parser *p)
{
	return (&p->ct);
}

size_t
mtom_parser_nparts(const struct mtom_parser *p)
{
	return (p->nparts);
}

const struct mtom_part *
mtom_parser_part(const struct mtom_parser *p, size_t i)
{
	return (i < p->nparts ? &p->parts[i] : NULL);
}

const struct mtom_part *
mtom_parser_root_part(const struct mtom_parser *p)
{
	size_t	i;

	for (i = 0; i < p->nparts; i++) {
		if (p->parts[i].root)
			return (&p->parts[i]);
	}
	return (NULL);
}

const char *
mtom_parser_root(const struct mtom_parser *p, size_t *len)
{
	if (len != NULL)
		*len = p->root.len;
	return (dbuf_str(&p->root));
}

char *
mtom_parser_take_root(struct mtom_parser *p, size_t *len)
{
	dbuf_add(&p->root, "", 0);	/* terminated even when empty */
	return (dbuf_take(&p->root, len));
}

const struct mtom_part *
mtom_parser_lookup(const struct mtom_parser *p, const char *href)
{
	const struct mtom_part	*found = NULL;
	char			*cid;
	size_t			 i;

	if ((cid = mtom_cid_from_href(href)) == NULL)
		return (NULL);
	for (i = 0; i < p->nparts && found == NULL; i++) {
		if (p->parts[i].cid != NULL && strcmp(p->parts[i].cid, cid) == 0)
			found = &p->parts[i];
	}
	free(cid);
	return (found);
}

/* Decoded bytes of the open part: count, check limits, store or pass on. */
static int
mtom_deliver(const void *b, size_t n, void *arg, char **cause)
{
	struct mtom_parser	*p = arg;
	struct mtom_part	*part = &p->parts[p->nparts - 1];

	if (part->root) {
		if (dbuf_add(&p->root, b, n) == -1)
			return (mtom_fail(p, cause, "root part larger than %zu "
			    "bytes", p->lim.max_root));
		part->size += n;
		return (0);
	}
	if (n > p->lim.max_part - part->size)
		return (mtom_fail(p, cause, "part %zu larger than %llu bytes",
		    part->index, (unsigned long long)p->lim.max_part));
	part->size += n;
	if (p->cb.part_data != NULL &&
	    p->cb.part_data(part, b, n, p->arg, cause) == -1)
		return (mtom_cbfail(p, cause, "part_data"));
	return (0);
}

/* Content bytes of the open part (still encoded). */
static int
mtom_content(struct mtom_parser *p, const uint8_t *b, size_t n, char **cause)
{
	struct mtom_part	*part;

	if (n == 0 || !p->inpart)
		return (0);
	part = &p->parts[p->nparts - 1];
	if (part->base64) {
		if (mtom_b64_update(&p->b64, b, n, mtom_deliver, p,
		    cause) == -1) {
			if (p->state != MTOM_S_ERROR) {
				/* The decoder's own cause: name the part. */
				char *c = cause != NULL ? *cause : NULL;

				if (c != NULL) {
					xasprintf(cause, "part %zu: %s",
					    part->index, c);
					free(c);
				}
				p->state = MTOM_S_ERROR;
			}
			return (-1);
		}
		return (0);
	}
	if (!p->nohash)
		mtom_digest_update(&p->digest, b, n);
	return (mtom_deliver(b, n, p, cause));
}

/* The open part's closing delimiter was seen. */
static int
mtom_part_end(struct mtom_parser *p, char **cause)
{
	struct mtom_part	*part = &p->parts[p->nparts - 1];
	char			*c = NULL;

	p->inpart = 0;
	if (part->base64) {
		p->b64open = 0;
		if (mtom_b64_final(&p->b64, part->sha1, NULL, &c) == -1) {
			mtom_b64_free(&p->b64);
			mtom_fail(p, cause, "part %zu: %s", part->index, c);
			free(c);
			return (-1);
		}
		mtom_b64_free(&p->b64);
	} else if (!p->nohash)
		mtom_digest_final(&p->digest, part->sha1);
	part->complete = 1;
	if (!part->root && p->cb.part_end != NULL &&
	    p->cb.part_end(part, p->arg, cause) == -1)
		return (mtom_cbfail(p, cause, "part_end"));
	return (0);
}

/* Set a part header once; a repeat is an error. */
static int
mtom_part_set(struct mtom_parser *p, char **field, const char *name,
    const char *v, char **cause)
{
	if (*field != NULL)
		return (mtom_fail(p, cause, "part %zu: duplicate %s header",
		    p->nparts - 1, name));
	*field = xstrdup(v);
	return (0);
}

/* One unfolded part header line. */
static int
mtom_part_header(struct mtom_parser *p, char *l, char **cause)
{
	struct mtom_part	*part = &p->parts[p->nparts - 1];
	char			*colon, *v, *e;

	if ((colon = strchr(l, ':')) == NULL || colon == l)
		return (mtom_fail(p, cause, "part %zu: malformed header line",
		    part->index));
	*colon = '\0';
	for (e = colon; e > l && (e[-1] == ' ' || e[-1] == '\t'); e--)
		;
	*e = '\0';
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	for (e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t'); e--)
		;
	*e = '\0';
	if (strcasecmp(l, "Content-ID") == 0) {
		if (part->cid != NULL)
			return (mtom_fail(p, cause, "part %zu: duplicate "
			    "Content-ID header", part->index));
		part->cid = mtom_cid_strip(v);
		if (*part->cid == '\0')
			return (mtom_fail(p, cause, "part %zu: empty "
			    "Content-ID", part->index));
		return (0);
	}
	if (strcasecmp(l, "Content-Type") == 0)
		return (mtom_part_set(p, &part->content_type, "Content-Type",
		    v, cause));
	if (strcasecmp(l, "Content-Transfer-Encoding") == 0)
		return (mtom_part_set(p, &part->cte,
		    "Content-Transfer-Encoding", v, cause));
	return (0);
}

/* The part's header block is complete: parse it and open the part. */
static int
mtom_part_begin(struct mtom_parser *p, char **cause)
{
	struct mtom_part	*part = &p->parts[p->nparts - 1];
	char			*s, *e, *nl, *line = NULL;
	size_t			 i, len;

	/* Split into lines, unfold continuations (RFC 5322 2.2.3). */
	for (s = p->hdr.data; s != NULL && *s != '\0'; s = nl) {
		if ((nl = strchr(s, '\n')) != NULL)
			*nl++ = '\0';
		len = strlen(s);
		if (len > 0 && s[len - 1] == '\r')
			s[--len] = '\0';
		if (memchr(s, '\r', len) != NULL)
			return (mtom_fail(p, cause, "part %zu: stray CR in "
			    "headers", part->index));
		if (len == 0)
			break;
		if (*s == ' ' || *s == '\t') {
			if (line == NULL)
				return (mtom_fail(p, cause, "part %zu: "
				    "continuation line without a header",
				    part->index));
			/* Unfold: drop the line break, keep the blanks. */
			e = line + strlen(line);
			memmove(e, s, len + 1);
			continue;
		}
		if (line != NULL && mtom_part_header(p, line, cause) == -1)
			return (-1);
		line = s;
	}
	if (line != NULL && mtom_part_header(p, line, cause) == -1)
		return (-1);
	dbuf_reset(&p->hdr);

	if (part->cte != NULL) {
		if (strcasecmp(part->cte, "base64") == 0)
			part->base64 = 1;
		else if (strcasecmp(part->cte, "binary") != 0 &&
		    strcasecmp(part->cte, "8bit") != 0 &&
		    strcasecmp(part->cte, "7bit") != 0)
			return (mtom_fail(p, cause, "part %zu: "
			    "Content-Transfer-Encoding %s not supported%s",
			    part->index, part->cte,
			    strcasecmp(part->cte, "quoted-printable") == 0 ?
			    " (quoted-printable is refused)" : ""));
	}
	if (part->cid != NULL) {
		for (i = 0; i + 1 < p->nparts; i++) {
			if (p->parts[i].cid != NULL &&
			    strcmp(p->parts[i].cid, part->cid) == 0)
				return (mtom_fail(p, cause, "parts %zu and %zu "
				    "have the same Content-ID <%s>", i,
				    part->index, part->cid));
		}
	}
	if (p->start != NULL)
		part->root = part->cid != NULL &&
		    strcmp(part->cid, p->start) == 0;
	else
		part->root = part->index == 0;
	if (part->base64) {
		mtom_b64_init(&p->b64);
		p->b64open = 1;
	}
	p->inpart = 1;
	if (part->root)
		p->haveroot = 1;
	else if (p->cb.part_begin != NULL &&
	    p->cb.part_begin(part, &part->handle, p->arg, cause) == -1)
		return (mtom_cbfail(p, cause, "part_begin"));
	p->state = MTOM_S_BODY;
	return (0);
}

/* A new part starts after a delimiter line. */
static int
mtom_new_part(struct mtom_parser *p, char **cause)
{
	struct mtom_part	*part;

	if (p->nparts >= p->lim.max_parts)
		return (mtom_fail(p, cause, "more than %zu parts",
		    p->lim.max_parts));
	p->parts = xreallocarray(p->parts, p->nparts + 1, sizeof(*p->parts));
	part = &p->parts[p->nparts];
	memset(part, 0, sizeof(*part));
	part->index = p->nparts++;
	dbuf_reset(&p->hdr);
	p->hdrline = 0;
	p->state = MTOM_S_HEADERS;
	return (0);
}

/*
 * Find "\n--boundary" in b: its offset, or -1 with *safe set to how many
 * leading bytes cannot be part of a delimiter (the rest could begin one,
 * including a CR just before it).
 */
static ssize_t
mtom_scan(const struct mtom_parser *p, const uint8_t *b, size_t n,
    size_t *safe)
{
	const uint8_t	*m;
	size_t		 i;

	if ((m = memmem(b, n, p->delim, p->dlen)) != NULL)
		return (m - b);
	i = n >= p->dlen ? n - p->dlen + 1 : 0;
	for (; i < n; i++) {
		if (b[i] == '\n' && memcmp(b + i, p->delim, n - i) == 0)
			break;
	}
	if (i > 0 && b[i - 1] == '\r')
		i--;
	*safe = i;
	return (-1);
}

/* Preamble or part content: look for the next delimiter. */
static size_t
mtom_feed_scan(struct mtom_parser *p, const uint8_t *b, size_t n,
    char **cause, int *err)
{
	uint8_t		 work[2 * MTOM_DELIM_MAX + 2];
	const uint8_t	*w = b;
	size_t		 wlen = n, add = 0, safe = 0, end, old;
	ssize_t		 m;

	old = p->holdlen;
	if (old > 0) {
		add = n < p->dlen + 1 ? n : p->dlen + 1;
		memcpy(work, p->hold, old);
		memcpy(work + old, b, add);
		w = work;
		wlen = old + add;
	}
	if ((m = mtom_scan(p, w, wlen, &safe)) == -1) {
		if (p->state == MTOM_S_BODY &&
		    mtom_content(p, w, safe, cause) == -1) {
			*err = 1;
			return (0);
		}
		memmove(p->hold, w + safe, wlen - safe);
		p->holdlen = wlen - safe;
		return (old > 0 ? add : n);
	}
	end = (size_t)m;
	if (end > 0 && w[end - 1] == '\r')
		end--;
	p->holdlen = 0;
	if (p->state == MTOM_S_BODY) {
		if (mtom_content(p, w, end, cause) == -1 ||
		    mtom_part_end(p, cause) == -1) {
			*err = 1;
			return (0);
		}
	}
	p->state = MTOM_S_DELIM;
	p->ad = 0;
	p->adpad = 0;
	return ((size_t)m + p->dlen - old);
}

/* After "--boundary": "--" closes, else blanks and the line end. */
static size_t
mtom_feed_delim(struct mtom_parser *p, const uint8_t *b, size_t n,
    char **cause, int *err)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		switch (p->ad) {
		case 0:
			if (b[i] == '-') {
				p->ad = 1;
				continue;
			}
			/* FALLTHROUGH */
		case 2:
			if (b[i] == ' ' || b[i] == '\t') {
				if (++p->adpad > MTOM_MAX_PADDING)
					goto bad;
				p->ad = 2;
				continue;
			}
			if (b[i] == '\r') {
				p->ad = 3;
				continue;
			}
			if (b[i] == '\n')
				goto next;
			goto bad;
		case 1:
			if (b[i] != '-')
				goto bad;
			p->state = MTOM_S_EPILOGUE;
			return (i + 1);
		case 3:
			if (b[i] == '\n')
				goto next;
			goto bad;
		}
	}
	return (n);
next:
	if (mtom_new_part(p, cause) == -1)
		*err = 1;
	return (i + 1);
bad:
	mtom_fail(p, cause, "unexpected text after a boundary delimiter");
	*err = 1;
	return (0);
}

/* Part header bytes up to and including the empty line. */
static size_t
mtom_feed_headers(struct mtom_parser *p, const uint8_t *b, size_t n,
    char **cause, int *err)
{
	const uint8_t	*lf;
	size_t		 take, len;

	lf = memchr(b, '\n', n);
	take = lf != NULL ? (size_t)(lf - b) + 1 : n;
	if (memchr(b, '\0', take) != NULL) {
		mtom_fail(p, cause, "part %zu: NUL in headers", p->nparts - 1);
		*err = 1;
		return (0);
	}
	if (dbuf_add(&p->hdr, b, take) == -1) {
		mtom_fail(p, cause, "part %zu: headers longer than %zu bytes",
		    p->nparts - 1, p->lim.max_part_headers);
		*err = 1;
		return (0);
	}
	if (lf == NULL)
		return (take);
	len = p->hdr.len - p->hdrline;
	if (len == 1 || (len == 2 && p->hdr.data[p->hdrline] == '\r')) {
		if (mtom_part_begin(p, cause) == -1)
			*err = 1;
		return (take);
	}
	p->hdrline = p->hdr.len;
	return (take);
}

int
mtom_parser_feed(struct mtom_parser *p, const void *buf, size_t len,
    char **cause)
{
	const uint8_t	*b = buf;
	size_t		 off = 0;
	int		 err = 0;

	if (p->state == MTOM_S_ERROR)
		return (mtom_fail(p, cause, "parser already failed"));
	while (off < len && !err) {
		switch (p->state) {
		case MTOM_S_PREAMBLE:
		case MTOM_S_BODY:
			off += mtom_feed_scan(p, b + off, len - off, cause,
			    &err);
			break;
		case MTOM_S_DELIM:
			off += mtom_feed_delim(p, b + off, len - off, cause,
			    &err);
			break;
		case MTOM_S_HEADERS:
			off += mtom_feed_headers(p, b + off, len - off, cause,
			    &err);
			break;
		case MTOM_S_EPILOGUE:
			off = len;
			break;
		case MTOM_S_ERROR:
			return (-1);
		}
	}
	return (err ? -1 : 0);
}

int
mtom_parser_finish(struct mtom_parser *p, char **cause)
{
	switch (p->state) {
	case MTOM_S_ERROR:
		return (mtom_fail(p, cause, "parser already failed"));
	case MTOM_S_EPILOGUE:
		break;
	case MTOM_S_PREAMBLE:
		if (p->nparts == 0)
			return (mtom_fail(p, cause, "no multipart boundary "
			    "delimiter found: no parts"));
		/* FALLTHROUGH */
	default:
		return (mtom_fail(p, cause, "unterminated multipart: no "
		    "closing boundary delimiter"));
	}
	if (p->nparts == 0)
		return (mtom_fail(p, cause, "multipart message has no parts"));
	if (!p->haveroot)
		return (mtom_fail(p, cause, "no part has the Content-ID <%s> "
		    "named by the start parameter", p->start));
	return (0);
}

/* The writer. */

enum mtom_src {
	MTOM_SRC_BUF,
	MTOM_SRC_FD,
	MTOM_SRC_PATH,
	MTOM_SRC_CB
};

struct mtom_wpart {
	char			*cid;
	char			*ctype;
	enum mtom_src		 src;
	const uint8_t		*buf;
	size_t			 len;
	int			 fd;
	char			*path;
	mtom_read_cb		 rcb;
	void			*rarg;
};

struct mtom_writer {
	char			 boundary[MTOM_MAX_BOUNDARY + 1];
	char			*action;
	char			*ctype;
	struct mtom_wpart	*parts;		/* [0] is the root */
	size_t			 nparts;

	size_t			 next;		/* segment to stage next */
	struct dbuf		 stage;
	size_t			 stageoff;
	struct mtom_wpart	*cur;		/* source being copied */
	size_t			 curoff;
	int			 curfd;
	int			 failed;
};

struct mtom_writer *
mtom_writer_new(const char *boundary, const char *action)
{
	struct mtom_writer	*w;
	unsigned char		 rnd[24];
	size_t			 i;

	w = xcalloc(1, sizeof(*w));
	if (boundary != NULL && mtom_boundary_ok(boundary))
		strlcpy(w->boundary, boundary, sizeof(w->boundary));
	else {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			fatalx("mtom: no random bytes");
		strlcpy(w->boundary, "MIMEBoundary_", sizeof(w->boundary));
		for (i = 0; i < sizeof(rnd); i++)
			snprintf(w->boundary + 13 + i * 2, 3, "%02x", rnd[i]);
	}
	if (action != NULL)
		w->action = xstrdup(action);
	w->parts = xcalloc(1, sizeof(*w->parts));
	w->nparts = 1;
	w->curfd = -1;
	dbuf_init(&w->stage, SIZE_MAX - 1);
	return (w);
}

void
mtom_writer_free(struct mtom_writer *w)
{
	size_t	i;

	if (w == NULL)
		return;
	if (w->curfd != -1 && w->cur != NULL && w->cur->src == MTOM_SRC_PATH)
		close(w->curfd);
	for (i = 0; i < w->nparts; i++) {
		free(w->parts[i].cid);
		free(w->parts[i].ctype);
		free(w->parts[i].path);
	}
	free(w->parts);
	free(w->action);
	free(w->ctype);
	dbuf_free(&w->stage);
	free(w);
}

const char *
mtom_writer_boundary(const struct mtom_writer *w)
{
	return (w->boundary);
}

/* Header values must not break the header block. */
static int
mtom_writer_check(const char *cid, const char *ctype, char **cause)
{
	if (cid == NULL || *cid == '\0' || strpbrk(cid, "<>\r\n\"") != NULL) {
		xasprintf(cause, "invalid Content-ID for an MTOM part");
		return (-1);
	}
	if (ctype == NULL || *ctype == '\0' || strpbrk(ctype, "\r\n") != NULL) {
		xasprintf(cause, "invalid Content-Type for MTOM part <%s>",
		    cid);
		return (-1);
	}
	return (0);
}

/* Append an attachment slot. */
static struct mtom_wpart *
mtom_writer_add(struct mtom_writer *w, const char *cid, const char *ctype,
    enum mtom_src src, char **cause)
{
	struct mtom_wpart	*wp;
	size_t			 i;

	if (mtom_writer_check(cid, ctype, cause) == -1)
		return (NULL);
	for (i = 0; i < w->nparts; i++) {
		if (w->parts[i].cid != NULL && strcmp(w->parts[i].cid, cid) == 0) {
			xasprintf(cause, "duplicate Content-ID <%s>", cid);
			return (NULL);
		}
	}
	w->parts = xreallocarray(w->parts, w->nparts + 1, sizeof(*w->parts));
	wp = &w->parts[w->nparts++];
	memset(wp, 0, sizeof(*wp));
	wp->cid = xstrdup(cid);
	wp->ctype = xstrdup(ctype);
	wp->src = src;
	wp->fd = -1;
	return (wp);
}

int
mtom_writer_set_root(struct mtom_writer *w, const void *xml, size_t len,
    const char *cid, char **cause)
{
	struct mtom_wpart	*r = &w->parts[0];
	unsigned char		 rnd[12];
	char			*gen = NULL;
	size_t			 i;

	if (cid == NULL) {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			fatalx("mtom: no random bytes");
		gen = xcalloc(1, 2 * sizeof(rnd) + 16);
		strlcpy(gen, "root.", 2 * sizeof(rnd) + 16);
		for (i = 0; i < sizeof(rnd); i++)
			snprintf(gen + 5 + i * 2, 3, "%02x", rnd[i]);
		strlcat(gen, "@isn", 2 * sizeof(rnd) + 16);
		cid = gen;
	}
	if (mtom_writer_check(cid, "application/xop+xml", cause) == -1)
		return (-1);
	free(r->cid);
	free(r->ctype);
	r->cid = xstrdup(cid);
	r->ctype = xstrdup("application/xop+xml; charset=UTF-8; "
	    "type=\"application/soap+xml\"");
	free(gen);
	r->src = MTOM_SRC_BUF;
	r->buf = xml;
	r->len = len;
	r->fd = -1;
	free(w->ctype);
	w->ctype = NULL;
	return (0);
}

int
mtom_writer_add_buf(struct mtom_writer *w, const char *cid, const char *ctype,
    const void *buf, size_t len, char **cause)
{
	struct mtom_wpart	*wp;

	if ((wp = mtom_writer_add(w, cid, ctype, MTOM_SRC_BUF, cause)) == NULL)
		return (-1);
	wp->buf = buf;
	wp->len = len;
	return (0);
}

int
mtom_writer_add_fd(struct mtom_writer *w, const char *cid, const char *ctype,
    int fd, char **cause)
{
	struct mtom_wpart	*wp;

	if ((wp = mtom_writer_add(w, cid, ctype, MTOM_SRC_FD, cause)) == NULL)
		return (-1);
	wp->fd = fd;
	return (0);
}

int
mtom_writer_add_path(struct mtom_writer *w, const char *cid,
    const char *ctype, const char *path, char **cause)
{
	struct mtom_wpart	*wp;

	if ((wp = mtom_writer_add(w, cid, ctype, MTOM_SRC_PATH,
	    cause)) == NULL)
		return (-1);
	wp->path = xstrdup(path);
	return (0);
}

int
mtom_writer_add_cb(struct mtom_writer *w, const char *cid, const char *ctype,
    mtom_read_cb cb, void *arg, char **cause)
{
	struct mtom_wpart	*wp;

	if ((wp = mtom_writer_add(w, cid, ctype, MTOM_SRC_CB, cause)) == NULL)
		return (-1);
	wp->rcb = cb;
	wp->rarg = arg;
	return (0);
}

const char *
mtom_writer_content_type(struct mtom_writer *w)
{
	struct dbuf	b;
	char		*start;

	if (w->ctype != NULL)
		return (w->ctype);
	dbuf_init(&b, SIZE_MAX - 1);
	dbuf_printf(&b, "multipart/related; boundary=");
	http_quote(&b, w->boundary);
	dbuf_addstr(&b, "; type=\"application/xop+xml\"; start=");
	xasprintf(&start, "<%s>", w->parts[0].cid != NULL ?
	    w->parts[0].cid : "");
	http_quote(&b, start);
	free(start);
	dbuf_addstr(&b, "; start-info=\"application/soap+xml\"");
	if (w->action != NULL) {
		dbuf_addstr(&b, "; action=");
		if (http_quote(&b, w->action) == -1)
			dbuf_addstr(&b, "\"\"");
	}
	w->ctype = dbuf_take(&b, NULL);
	return (w->ctype);
}

/* Stage the delimiter and headers of the next part, or the close. */
static int
mtom_writer_stage(struct mtom_writer *w, char **cause)
{
	struct mtom_wpart	*wp;

	dbuf_reset(&w->stage);
	w->stageoff = 0;
	w->cur = NULL;
	if (w->next == w->nparts) {
		dbuf_printf(&w->stage, "\r\n--%s--\r\n", w->boundary);
		w->next++;
		return (0);
	}
	wp = &w->parts[w->next];
	dbuf_printf(&w->stage, "%s--%s\r\nContent-Type: %s\r\n"
	    "Content-Transfer-Encoding: binary\r\nContent-ID: <%s>\r\n\r\n",
	    w->next == 0 ? "" : "\r\n", w->boundary, wp->ctype, wp->cid);
	w->next++;
	w->cur = wp;
	w->curoff = 0;
	if (wp->src == MTOM_SRC_FD)
		w->curfd = wp->fd;
	else if (wp->src == MTOM_SRC_PATH) {
		if ((w->curfd = open(wp->path, O_RDONLY | O_CLOEXEC)) == -1) {
			xasprintf(cause, "cannot open attachment <%s>: %s",
			    wp->cid, strerror(errno));
			return (-1);
		}
	}
	return (0);
}

/* Read from the current part's source: bytes, 0 at its end, -1. */
static ssize_t
mtom_writer_source(struct mtom_writer *w, uint8_t *buf, size_t len,
    char **cause)
{
	struct mtom_wpart	*wp = w->cur;
	ssize_t			 n;
	size_t			 left;

	switch (wp->src) {
	case MTOM_SRC_BUF:
		left = wp->len - w->curoff;
		if (len > left)
			len = left;
		if (len > 0)
			memcpy(buf, wp->buf + w->curoff, len);
		w->curoff += len;
		return ((ssize_t)len);
	case MTOM_SRC_FD:
	case MTOM_SRC_PATH:
		do {
			n = read(w->curfd, buf, len);
		} while (n == -1 && errno == EINTR);
		if (n == -1)
			xasprintf(cause, "cannot read attachment <%s>: %s",
			    wp->cid, strerror(errno));
		return (n);
	case MTOM_SRC_CB:
		n = wp->rcb(buf, len, wp->rarg, cause);
		if (n == -1 && cause != NULL && *cause == NULL)
			xasprintf(cause, "cannot read attachment <%s>",
			    wp->cid);
		return (n);
	}
	return (-1);
}

ssize_t
mtom_writer_read(struct mtom_writer *w, void *buf, size_t len, char **cause)
{
	uint8_t	*out = buf;
	size_t	 o = 0, n;
	ssize_t	 r;

	if (w->failed) {
		xasprintf(cause, "MTOM writer already failed");
		return (-1);
	}
	if (w->parts[0].cid == NULL) {
		xasprintf(cause, "MTOM message without a root part");
		return (-1);
	}
	while (o < len) {
		if (w->stageoff < w->stage.len) {
			n = w->stage.len - w->stageoff;
			if (n > len - o)
				n = len - o;
			memcpy(out + o, w->stage.data + w->stageoff, n);
			w->stageoff += n;
			o += n;
			continue;
		}
		if (w->cur != NULL) {
			if ((r = mtom_writer_source(w, out + o, len - o,
			    cause)) == -1) {
				w->failed = 1;
				return (-1);
			}
			if (r > 0) {
				o += (size_t)r;
				continue;
			}
			if (w->cur->src == MTOM_SRC_PATH && w->curfd != -1)
				close(w->curfd);
			w->curfd = -1;
			w->cur = NULL;
		}
		if (w->next > w->nparts)
			break;
		if (mtom_writer_stage(w, cause) == -1) {
			w->failed = 1;
			return (-1);
		}
	}
	return ((ssize_t)o);
}

int
mtom_writer_write(struct mtom_writer *w, mtom_sink_cb sink, void *arg,
    char **cause)
{
	uint8_t	*buf;
	ssize_t	 n;
	int	 rv = 0;

	buf = xmalloc(MTOM_CHUNK);
	while ((n = mtom_writer_read(w, buf, MTOM_CHUNK, cause)) > 0) {
		if (sink(buf, (size_t)n, arg, cause) == -1) {
			if (cause != NULL && *cause == NULL)
				xasprintf(cause, "MTOM output sink failed");
			rv = -1;
			break;
		}
	}
	if (n == -1)
		rv = -1;
	free(buf);
	return (rv);
}
