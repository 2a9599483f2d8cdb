/* test_http.c: incremental HTTP head parsing, body framing, Content-Type. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "http.h"
#include "tap.h"
#include "xmalloc.h"

struct run {
	struct dbuf	 body;
	int		 heads;
	int		 dones;
	int		 fail_body;	/* make the body sink fail */
	char		*method, *target, *ctype;
	int		 status;
	int		 rv;		/* of feed/finish */
	int		 http_status;	/* parser status on failure */
	char		*cause;
	size_t		 used;		/* bytes consumed */
};

/* Head callback: copy what the tests look at. */
static int
run_head(const struct http_msg *m, void *arg, char **cause)
{
	struct run	*r = arg;
	const char	*ct;

	r->heads++;
	r->method = m->method != NULL ? xstrdup(m->method) : NULL;
	r->target = m->target != NULL ? xstrdup(m->target) : NULL;
	r->status = m->status;
	ct = http_msg_header(m, "content-type");
	r->ctype = ct != NULL ? xstrdup(ct) : NULL;
	return (0);
}

/* Body callback: collect. */
static int
run_body(const void *b, size_t n, void *arg, char **cause)
{
	struct run	*r = arg;

	if (r->fail_body) {
		xasprintf(cause, "sink refused");
		return (-1);
	}
	if (n == 0)
		abort();
	dbuf_add(&r->body, b, n);
	return (0);
}

/* Done callback: count. */
static int
run_done(const struct http_msg *m, void *arg, char **cause)
{
	struct run	*r = arg;

	r->dones++;
	return (0);
}

static const struct http_callbacks run_cb = { run_head, run_body, run_done };

/* Release what a run collected. */
static void
run_free(struct run *r)
{
	dbuf_free(&r->body);
	free(r->method);
	free(r->target);
	free(r->ctype);
	free(r->cause);
	memset(r, 0, sizeof(*r));
}

/*
 * Parse a whole message fed in slices of the given size (0 = at once),
 * then finish. With keep set, bytes after the end are not an error.
 */
static void
run_parse(struct run *r, int flags, const struct http_limits *lim,
    const char *msg, size_t len, size_t slice, int keep)
{
	struct http_parser	*p;
	size_t			 off = 0, n, used;

	memset(r, 0, sizeof(*r));
	dbuf_init(&r->body, 1 << 30);
	p = http_parser_new(flags, lim, &run_cb, r);
	r->rv = 0;
	while (off < len && r->rv == 0 && (!keep || !http_parser_done(p))) {
		n = slice == 0 || slice > len - off ? len - off : slice;
		r->rv = http_parser_feed(p, msg + off, n, keep ? &used : NULL,
		    &r->cause);
		off += keep ? used : n;
	}
	r->used = off;
	if (r->rv == 0)
		r->rv = http_parser_finish(p, &r->cause);
	r->http_status = http_parser_status(p);
	http_parser_free(p);
}

/* Expect a failure with this HTTP status, whatever the slicing. */
static void
expect_fail(int flags, const struct http_limits *lim, const char *msg,
    int status, const char *what)
{
	struct run	r;
	size_t		slices[] = { 0, 1, 3 };
	size_t		i;
	int		good = 1;

	for (i = 0; i < sizeof(slices) / sizeof(slices[0]); i++) {
		run_parse(&r, flags, lim, msg, strlen(msg), slices[i], 0);
		if (r.rv != -1 || r.http_status != status || r.cause == NULL) {
			tap_diag("slice %zu: rv %d status %d cause %s",
			    slices[i], r.rv, r.http_status,
			    r.cause ? r.cause : "(none)");
			good = 0;
		}
		run_free(&r);
	}
	ok(good, "%s -> %d", what, status);
}

/* Requests and responses that parse. */
static void
test_good(void)
{
	struct run	 r;
	const char	*req, *chunked;
	size_t		 s;
	int		 good;

	req = "POST /services/xdsrepositoryb?x=1 HTTP/1.1\r\n"
	    "Host: ch.example\r\n"
	    "CONTENT-TYPE:   multipart/related; boundary=b  \r\n"
	    "Content-Length: 11\r\n"
	    "\r\n"
	    "hello world";
	run_parse(&r, HTTP_F_REQUEST, NULL, req, strlen(req), 0, 0);
	is_int(r.rv, 0, "request with Content-Length parses");
	is_str(r.method, "POST", "method");
	is_str(r.target, "/services/xdsrepositoryb?x=1", "target");
	is_str(r.ctype, "multipart/related; boundary=b",
	    "header lookup is case-insensitive, value trimmed");
	is_str(dbuf_str(&r.body), "hello world", "body by Content-Length");
	ok(r.heads == 1 && r.dones == 1, "head and done called once");
	run_free(&r);

	good = 1;
	for (s = 1; s < 20; s++) {
		run_parse(&r, HTTP_F_REQUEST, NULL, req, strlen(req), s, 0);
		if (r.rv != 0 || strcmp(dbuf_str(&r.body), "hello world") != 0 ||
		    strcmp(r.target, "/services/xdsrepositoryb?x=1") != 0)
			good = 0;
		run_free(&r);
	}
	ok(good, "same result for every slice size 1..19");

	chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"
	    "5\r\nhello\r\n6;name=\"v\"\r\n world\r\nA \r\n0123456789\r\n"
	    "0\r\nX-Trailer: skipped\r\nOther: too\r\n\r\n";
	good = 1;
	for (s = 0; s < 12; s++) {
		run_parse(&r, HTTP_F_REQUEST, NULL, chunked, strlen(chunked),
		    s, 0);
		if (r.rv != 0 || strcmp(dbuf_str(&r.body),
		    "hello world0123456789") != 0 || r.dones != 1)
			good = 0;
		run_free(&r);
	}
	ok(good, "chunked body with extensions and trailers, any slicing");

	req = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
	    "POST /b HTTP/1.0\r\nContent-Length: 3\r\n\r\nxyzGET";
	run_parse(&r, HTTP_F_REQUEST, NULL, req, strlen(req), 0, 1);
	ok(r.rv == 0 && strcmp(r.target, "/a") == 0 && r.body.len == 0,
	    "request without length has no body");
	is_int(r.used, strlen("GET /a HTTP/1.1\r\nHost: h\r\n\r\n"),
	    "parser stops at the end of the first message");
	run_free(&r);
	{
		struct http_parser	*p;
		size_t			 used, off;
		char			*cause = NULL;

		memset(&r, 0, sizeof(r));
		dbuf_init(&r.body, 100);
		p = http_parser_new(HTTP_F_REQUEST, NULL, &run_cb, &r);
		http_parser_feed(p, req, strlen(req), &used, &cause);
		off = used;
		ok(http_parser_done(p), "first message done");
		http_parser_reset(p);
		free(r.method);
		free(r.target);
		r.method = r.target = NULL;
		ok(http_parser_feed(p, req + off, strlen(req) - off, &used,
		    &cause) == 0 && http_parser_done(p), "keep-alive: second "
		    "message after reset");
		is_str(r.target, "/b", "second target");
		is_str(dbuf_str(&r.body), "xyz", "second body");
		is_int(off + used, strlen(req) - 3, "leftover belongs to the "
		    "next message");
		is_int(http_parser_msg(p)->minor, 0, "HTTP/1.0 version");
		http_parser_free(p);
		free(cause);
		run_free(&r);
	}

	req = "HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\n\r\n"
	    "<x/>";
	run_parse(&r, HTTP_F_RESPONSE, NULL, req, strlen(req), 0, 0);
	ok(r.rv == 0 && r.status == 200 && strcmp(dbuf_str(&r.body),
	    "<x/>") == 0, "response without length runs to EOF");
	run_free(&r);
	req = "HTTP/1.1 204 No Content\r\n\r\n";
	run_parse(&r, HTTP_F_RESPONSE | HTTP_F_REQUEST, NULL, req,
	    strlen(req), 0, 0);
	ok(r.rv == 0 && r.status == 204 && r.dones == 1 && r.body.len == 0,
	    "204 has no body (auto-detected response)");
	run_free(&r);
	req = "HTTP/1.1 500\r\nContent-Length: 0\r\n\r\n";
	run_parse(&r, HTTP_F_RESPONSE, NULL, req, strlen(req), 0, 0);
	ok(r.rv == 0 && r.status == 500 && r.dones == 1,
	    "status line without reason");
	run_free(&r);

	req = "\r\nGET / HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\nok";
	run_parse(&r, HTTP_F_REQUEST, NULL, req, strlen(req), 0, 0);
	ok(r.rv == 0 && strcmp(dbuf_str(&r.body), "ok") == 0,
	    "leading CRLF ignored, equal Content-Length list accepted");
	run_free(&r);

	req = "POST /x HTTP/1.1\nHost: a\nContent-Type: text/plain \n\n"
	    "saved body\n";
	run_parse(&r, HTTP_F_REQUEST | HTTP_F_LAX, NULL, req, strlen(req), 0,
	    0);
	ok(r.rv == 0 && strcmp(dbuf_str(&r.body), "saved body\n") == 0 &&
	    strcmp(r.ctype, "text/plain") == 0,
	    "lax mode: bare LF, body to end of input");
	run_free(&r);
	req = "POST /x HTTP/1.1\nContent-Length: 3\n\nabc\n\n";
	run_parse(&r, HTTP_F_LAX, NULL, req, strlen(req), 0, 0);
	ok(r.rv == 0 && strcmp(dbuf_str(&r.body), "abc") == 0,
	    "lax mode: trailing blank lines after Content-Length body");
	run_free(&r);
}

/* Malformed or oversized input, each with its status. */
static void
test_errors(void)
{
	struct http_limits	 lim;
	struct dbuf		 b;
	struct run		 r;
	const char		*req;
	int			 i;

	expect_fail(HTTP_F_REQUEST, NULL, "GET / HTTP/1.1\nHost: a\n\n", 400,
	    "bare LF refused in strict mode");
	expect_fail(HTTP_F_REQUEST, NULL,
	    "GET / HTTP/1.1\r\nA: b\r\n  folded\r\n\r\n", 400,
	    "obs-fold refused");
	expect_fail(HTTP_F_REQUEST, NULL,
	    "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400,
	    "blank before colon refused");
	expect_fail(HTTP_F_REQUEST, NULL,
	    "GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400, "header without colon");
	expect_fail(HTTP_F_REQUEST, NULL,
	    "GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", 400,
	    "control character in value");
	expect_fail(HTTP_F_REQUEST, NULL, "GET /\r\n\r\n", 400,
	    "request line without version");
	expect_fail(HTTP_F_REQUEST, NULL, "G(T / HTTP/1.1\r\n\r\n", 400,
	    "bad method character");
	expect_fail(HTTP_F_REQUEST, NULL, "GET / HTTP/2.0\r\n\r\n", 505,
	    "HTTP/2.0 request line");
	expect_fail(HTTP_F_REQUEST, NULL, "GET / HTTX/1.1\r\n\r\n", 400,
	    "garbage version");
	expect_fail(HTTP_F_RESPONSE, NULL, "HTTP/1.1 20 OK\r\n\r\n", 400,
	    "two-digit status");
	expect_fail(HTTP_F_REQUEST, NULL,
	    "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
	    "unknown transfer-coding");
	expect_fail(HTTP_F_REQUEST, NULL,
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 3\r\n\r\n", 400, "both TE and CL");
	expect_fail(HTTP_F_REQUEST, NULL,
	    "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
	    400, "conflicting Content-Length");
	expect_fail(HTTP_F_REQUEST, NULL,
	    "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400,
	    "negative Content-Length");
	expect_fail(HTTP_F_REQUEST, NULL,
	    "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
	    413, "Content-Length overflow");
	expect_fail(HTTP_F_REQUEST, NULL,
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "1000000000000000\r\n", 413, "chunk size overflow");
	expect_fail(HTTP_F_REQUEST, NULL,
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400,
	    "malformed chunk size");
	expect_fail(HTTP_F_REQUEST, NULL,
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "2\r\nabc\r\n0\r\n\r\n", 400, "chunk longer than its size");
	expect_fail(HTTP_F_REQUEST, NULL,
	    "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort", 400,
	    "truncated body");
	expect_fail(HTTP_F_REQUEST, NULL, "GET / HTTP/1.1\r\nHost: a\r\n",
	    400, "truncated head");
	expect_fail(HTTP_F_REQUEST, NULL, "", 400, "empty input");
	expect_fail(HTTP_F_REQUEST, NULL,
	    "GET / HTTP/1.1\r\nHost: a\r\n\r\nextra", 400,
	    "data after the message");
	expect_fail(HTTP_F_REQUEST, NULL,
	    "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400,
	    "two Host headers");

	memset(&lim, 0, sizeof(lim));
	lim.max_body = 10;
	expect_fail(HTTP_F_REQUEST, &lim,
	    "POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 413,
	    "Content-Length over max_body");
	expect_fail(HTTP_F_REQUEST, &lim,
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n", 413,
	    "chunked body over max_body");
	expect_fail(HTTP_F_REQUEST | HTTP_F_LAX, &lim,
	    "POST / HTTP/1.1\n\n0123456789A", 413, "EOF body over max_body");

	memset(&lim, 0, sizeof(lim));
	lim.max_headers = 3;
	expect_fail(HTTP_F_REQUEST, &lim,
	    "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 431,
	    "more headers than the limit");
	expect_fail(HTTP_F_REQUEST, &lim,
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
	    "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 431,
	    "more trailers than the limit");
	memset(&lim, 0, sizeof(lim));
	lim.max_target = 16;
	expect_fail(HTTP_F_REQUEST, &lim,
	    "GET /0123456789abcdefg HTTP/1.1\r\n\r\n", 414,
	    "target longer than max_target");

	dbuf_init(&b, 1 << 20);
	dbuf_addstr(&b, "GET / HTTP/1.1\r\n");
	for (i = 0; i < 70; i++)
		dbuf_printf(&b, "X-Pad-%d: %01000d\r\n", i, 0);
	dbuf_addstr(&b, "\r\n");
	expect_fail(HTTP_F_REQUEST, NULL, dbuf_str(&b), 431,
	    "head over 64 KiB");
	dbuf_reset(&b);
	dbuf_addstr(&b, "GET /");
	for (i = 0; i < 9000; i++)
		dbuf_addc(&b, 'a');
	dbuf_addstr(&b, " HTTP/1.1\r\n\r\n");
	expect_fail(HTTP_F_REQUEST, NULL, dbuf_str(&b), 414,
	    "target over the default 8192");
	dbuf_reset(&b);
	dbuf_addstr(&b, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1");
	for (i = 0; i < 2000; i++)
		dbuf_addc(&b, ' ');
	dbuf_addstr(&b, "\r\n");
	expect_fail(HTTP_F_REQUEST, NULL, dbuf_str(&b), 400,
	    "chunk-size line too long");
	dbuf_free(&b);

	req = "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab";
	memset(&r, 0, sizeof(r));
	run_parse(&r, HTTP_F_REQUEST, NULL, req, strlen(req), 0, 0);
	run_free(&r);
	{
		struct http_parser	*p;
		char			*cause = NULL;

		memset(&r, 0, sizeof(r));
		dbuf_init(&r.body, 100);
		r.fail_body = 1;
		p = http_parser_new(HTTP_F_REQUEST, NULL, &run_cb, &r);
		ok(http_parser_feed(p, req, strlen(req), NULL, &cause) == -1 &&
		    http_parser_status(p) == 0 && cause != NULL &&
		    strcmp(cause, "sink refused") == 0,
		    "body sink failure: its cause, status 0");
		free(cause);
		cause = NULL;
		ok(http_parser_feed(p, "x", 1, NULL, &cause) == -1,
		    "feeding after a failure fails");
		free(cause);
		http_parser_free(p);
		run_free(&r);
	}
}

/* The Axis2 request saved by NIST: request line, headers, MIME body. */
static void
test_sample(void)
{
	const char	*dir;
	char		 path[4200];
	struct run	 r;
	char		*file;
	size_t		 flen, head;

	if ((dir = tap_shareddir()) == NULL) {
		tap_skip(5, "../shared (xds-samples) not present");
		return;
	}
	snprintf(path, sizeof(path), "%s/xds-samples/iti41/"
	    "http-mtom-pnr-axis2-full-request.txt", dir);
	if ((file = tap_slurp(path, &flen)) == NULL) {
		file = xstrdup("");
		flen = 0;
	}
	run_parse(&r, HTTP_F_REQUEST, NULL, file, flen, 0, 0);
	is_int(r.http_status, 400, "Axis2 saved request: strict mode refuses "
	    "bare LF");
	run_free(&r);
	run_parse(&r, HTTP_F_REQUEST | HTTP_F_LAX, NULL, file, flen,
	    7, 0);
	is_int(r.rv, 0, "Axis2 saved request parses in lax mode");
	is_str(r.target, "/xdstools2/simulator/ec6ea2c0_fb8e_457f_9c67_"
	    "d133482465f9/epsos/prb", "target");
	ok(r.ctype != NULL && strncmp(r.ctype, "multipart/related; "
	    "boundary=MIMEBoundaryurn_uuid_3D4B161591CD1DEC0C1286850962202;",
	    80) == 0 && r.ctype[strlen(r.ctype) - 1] == '"',
	    "Content-Type value, trailing blank removed");
	head = (size_t)(strstr(file, "\n\n") - file) + 2;
	ok(r.body.len == flen - head && memcmp(r.body.data,
	    file + head, r.body.len) == 0, "body runs to the end of file");
	run_free(&r);
	free(file);
}

/* Content-Type values. */
static void
test_ct(void)
{
	struct http_ct	 ct;
	struct dbuf	 b;
	char		*cause = NULL;
	struct http_ct	 back;

	ok(http_ct_parse("Multipart/Related; BOUNDARY=\"MIME_b\"; "
	    "type=\"application/xop+xml\"; start=\"<0.x@a>\"; "
	    "start-info=\"application/soap+xml; action=\\\"urn:a\\\"\"",
	    &ct, &cause) == 0, "MTOM Content-Type parses");
	is_str(ct.type, "multipart/related", "media type lower-cased");
	is_str(http_ct_param(&ct, "boundary"), "MIME_b",
	    "parameter names case-insensitive, value unquoted");
	is_str(http_ct_param(&ct, "Start"), "<0.x@a>", "start kept as is");
	is_str(http_ct_param(&ct, "start-info"),
	    "application/soap+xml; action=\"urn:a\"",
	    "escaped quotes in quoted-string (action inside start-info)");
	ok(http_ct_param(&ct, "action") == NULL, "absent parameter is NULL");
	dbuf_init(&b, 4096);
	ok(http_ct_format(&ct, &b) == 0, "format");
	ok(http_ct_parse(dbuf_str(&b), &back, &cause) == 0 &&
	    back.nparams == ct.nparams && strcmp(http_ct_param(&back,
	    "start-info"), http_ct_param(&ct, "start-info")) == 0,
	    "format then parse gives the same parameters");
	http_ct_free(&back);
	dbuf_free(&b);
	http_ct_free(&ct);

	ok(http_ct_parse("application/xop+xml;charset=utf-8;"
	    "type=\"application/soap+xml\";", &ct, &cause) == 0 &&
	    strcmp(http_ct_param(&ct, "charset"), "utf-8") == 0 &&
	    ct.nparams == 2, "WCF style without blanks, trailing semicolon");
	http_ct_free(&ct);
	ok(http_ct_parse("text/plain", &ct, &cause) == 0 && ct.nparams == 0,
	    "no parameters");
	http_ct_free(&ct);
	ok(http_ct_parse("multipart/related; boundary=\"\"; start=<a@b>",
	    &ct, &cause) == 0 && strcmp(http_ct_param(&ct, "boundary"), "") ==
	    0 && strcmp(http_ct_param(&ct, "start"), "<a@b>") == 0,
	    "empty quoted value; unquoted start=<a@b> tolerated");
	http_ct_free(&ct);

#define CT_BAD(v, want, what) do {					\
	cause = NULL;							\
	ok(http_ct_parse(v, &ct, &cause) == -1 && cause != NULL &&	\
	    strstr(cause, want) != NULL, what);				\
	if (cause != NULL)						\
		tap_diag("cause: %s", cause);				\
	free(cause);							\
} while (0)
	CT_BAD("multipart/related; boundary=a; Boundary=b", "duplicate",
	    "duplicate parameter refused (case-insensitive)");
	CT_BAD("multipart", "media type", "no subtype");
	CT_BAD("/related", "media type", "no type");
	CT_BAD("text/plain; name=\"open", "bad value", "unterminated quote");
	CT_BAD("text/plain; name", "no value", "parameter without value");
	CT_BAD("text/plain; name=", "bad value", "parameter with empty value");
	CT_BAD("text/plain x", "unexpected", "junk after media type");
	CT_BAD("text/plain; a=b c", "unexpected", "junk after a parameter");
	CT_BAD("text/plain; a=\"b\\", "bad value", "escape at end");
	CT_BAD("text/plain; a=1; b=2; c=3; d=4; e=5; f=6; g=7; h=8; i=9; "
	    "j=1; k=2; l=3; m=4; n=5; o=6; p=7; q=8; r=9; s=1; t=2; u=3; v=4; "
	    "w=5; x=6; y=7; z=8; aa=1; ab=2; ac=3; ad=4; ae=5; af=6; ag=7",
	    "more than", "parameter count limit");
#undef CT_BAD
	dbuf_init(&b, 100);
	ok(http_quote(&b, "a\"b\\c") == 0 && strcmp(dbuf_str(&b),
	    "\"a\\\"b\\\\c\"") == 0, "http_quote escapes");
	dbuf_reset(&b);
	ok(http_quote(&b, "a\r\nb") == -1, "http_quote refuses CRLF");
	dbuf_free(&b);
}

/* Run every group; the plan is printed at the end. */
int
main(void)
{
	test_good();
	test_errors();
	test_sample();
	test_ct();
	return (tap_done());
}
