/*
 * http-fuzzer.c: the HTTP head parser and body framing must accept or
 * reject any bytes without crashing, give the same result (status, head,
 * body bytes) however the input is sliced, never deliver more body bytes
 * than it was given, and every Content-Type value that parses must survive
 * format -> parse unchanged.
 *
 * Input: one byte choosing the mode and slicing, then the message.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "http.h"
#include "mtom.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct hz {
	struct mtom_digest	 body;
	int			 heads, dones;
};

/* The head callback runs once, first. */
static int
hz_head(const struct http_msg *m, void *arg, char **cause)
{
	struct hz	*h = arg;

	if (h->heads++ != 0)
		abort();
	return (0);
}

/* Body bytes only after the head and before done. */
static int
hz_body(const void *b, size_t n, void *arg, char **cause)
{
	struct hz	*h = arg;

	if (h->heads != 1 || h->dones != 0 || n == 0)
		abort();
	mtom_digest_update(&h->body, b, n);
	return (0);
}

/* Done runs once, after the head. */
static int
hz_done(const struct http_msg *m, void *arg, char **cause)
{
	struct hz	*h = arg;

	if (h->heads != 1 || h->dones++ != 0)
		abort();
	return (0);
}

static const struct http_callbacks hz_cb = { hz_head, hz_body, hz_done };

/* One parse; returns a text summary in out. */
static void
hz_parse(int flags, const uint8_t *b, size_t len, unsigned seed,
    struct dbuf *out)
{
	struct http_parser	*p;
	const struct http_msg	*m;
	struct hz		 h;
	size_t			 off = 0, n, used, i;
	char			*cause = NULL, hex[41];
	int			 rv = 0;

	memset(&h, 0, sizeof(h));
	mtom_digest_init(&h.body);
	p = http_parser_new(flags, NULL, &hz_cb, &h);
	while (off < len && rv == 0 && !http_parser_done(p)) {
		if (seed == 0)
			n = len - off;
		else {
			seed = seed * 1103515245 + 12345;
			n = 1 + (seed >> 16) % 11;
			if (n > len - off)
				n = len - off;
		}
		rv = http_parser_feed(p, b + off, n, &used, &cause);
		if (used > n)
			abort();
		off += used;
	}
	if (rv == 0 && !http_parser_done(p))
		rv = http_parser_finish(p, &cause);
	if (rv == -1 && cause == NULL)
		abort();
	if (http_parser_body_size(p) > len || h.body.size !=
	    http_parser_body_size(p))
		abort();
	mtom_digest_final(&h.body, hex);
	dbuf_printf(out, "rv=%d status=%d used=%zu body=%llu %s\n", rv,
	    rv == -1 ? http_parser_status(p) : 0, rv == 0 ? off : 0,
	    (unsigned long long)h.body.size, hex);
	if ((m = http_parser_msg(p)) != NULL) {
		dbuf_printf(out, "%s %s %d %d\n", m->method ? m->method : "-",
		    m->target ? m->target : "-", m->status, m->minor);
		for (i = 0; i < m->nheaders; i++)
			dbuf_printf(out, "%s: %s\n", m->headers[i].name,
			    m->headers[i].value);
	}
	free(cause);
	mtom_digest_free(&h.body);
	http_parser_free(p);
}

/* Content-Type values: parse -> format -> parse is a fixed point. */
static void
hz_ct(const char *v)
{
	struct http_ct	 a, b;
	struct dbuf	 fa, fb;
	char		*cause = NULL;
	size_t		 i;

	if (http_ct_parse(v, &a, &cause) == -1) {
		if (cause == NULL)
			abort();
		free(cause);
		return;
	}
	dbuf_init(&fa, SIZE_MAX - 1);
	dbuf_init(&fb, SIZE_MAX - 1);
	if (http_ct_format(&a, &fa) == -1 ||
	    http_ct_parse(dbuf_str(&fa), &b, &cause) == -1)
		abort();
	if (strcmp(a.type, b.type) != 0 || a.nparams != b.nparams)
		abort();
	for (i = 0; i < a.nparams; i++) {
		if (strcmp(a.params[i].name, b.params[i].name) != 0 ||
		    strcmp(a.params[i].value, b.params[i].value) != 0)
			abort();
	}
	if (http_ct_format(&b, &fb) == -1 ||
	    strcmp(dbuf_str(&fa), dbuf_str(&fb)) != 0)
		abort();
	http_ct_free(&a);
	http_ct_free(&b);
	dbuf_free(&fa);
	dbuf_free(&fb);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dbuf	 a, b;
	char		*s;
	int		 flags;

	if (size < 1)
		return (0);
	flags = (data[0] & 3) == 0 ? 3 : (data[0] & 3);
	if (data[0] & 4)
		flags |= HTTP_F_LAX;
	dbuf_init(&a, SIZE_MAX - 1);
	dbuf_init(&b, SIZE_MAX - 1);
	hz_parse(flags, data + 1, size - 1, 0, &a);
	hz_parse(flags, data + 1, size - 1, (data[0] >> 3) + 1, &b);
	if (strcmp(dbuf_str(&a), dbuf_str(&b)) != 0)
		abort();
	dbuf_free(&a);
	dbuf_free(&b);

	if (size < 4096) {
		s = malloc(size);
		memcpy(s, data + 1, size - 1);
		s[size - 1] = '\0';
		hz_ct(s);
		free(s);
	}
	return (0);
}
