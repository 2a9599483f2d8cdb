/* http.c: incremental HTTP/1.1 head parsing, body framing, Content-Type. */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dbuf.h"
#include "http.h"
#include "xmalloc.h"

enum http_state {
	HTTP_S_START,		/* request or status line */
	HTTP_S_HEADERS,
	HTTP_S_BODY_LENGTH,
	HTTP_S_BODY_EOF,
	HTTP_S_CHUNK_SIZE,
	HTTP_S_CHUNK_DATA,
	HTTP_S_CHUNK_END,	/* the CRLF after chunk data */
	HTTP_S_TRAILERS,
	HTTP_S_DONE,
	HTTP_S_ERROR
};

struct http_parser {
	int				 flags;
	struct http_limits		 lim;
	struct http_callbacks		 cb;
	void				*arg;

	enum http_state			 state;
	struct dbuf			 line;		/* the line being read */
	size_t				 head_bytes;	/* head + trailers */
	size_t				 ntrailers;
	int				 have_head;
	struct http_msg			 msg;
	uint64_t			 remain;	/* of length or chunk */
	uint64_t			 body;		/* body bytes so far */
	int				 status;
};

static int	http_complete(struct http_parser *, char **);

/* Record a failure with its HTTP status. */
static int printflike(4, 5)
http_fail(struct http_parser *p, char **cause, int status, const char *fmt,
    ...)
{
	va_list	ap;

	p->state = HTTP_S_ERROR;
	p->status = status;
	va_start(ap, fmt);
	xvcause(cause, fmt, ap);
	va_end(ap);
	return (-1);
}

/* RFC 9110 tchar. */
static int
http_is_tchar(unsigned char c)
{
	if (isalnum(c))
		return (1);
	return (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Free the parsed head. */
static void
http_msg_clear(struct http_msg *m)
{
	size_t	i;

	free(m->method);
	free(m->target);
	free(m->reason);
	for (i = 0; i < m->nheaders; i++) {
		free(m->headers[i].name);
		free(m->headers[i].value);
	}
	free(m->headers);
	memset(m, 0, sizeof(*m));
}

struct http_parser *
http_parser_new(int flags, const struct http_limits *lim,
    const struct http_callbacks *cb, void *arg)
{
	struct http_parser	*p;

	p = xcalloc(1, sizeof(*p));
	if ((flags & (HTTP_F_REQUEST | HTTP_F_RESPONSE)) == 0)
		flags |= HTTP_F_REQUEST | HTTP_F_RESPONSE;
	p->flags = flags;
	if (lim != NULL)
		p->lim = *lim;
	if (p->lim.max_header_bytes == 0)
		p->lim.max_header_bytes = HTTP_MAX_HEADER_BYTES;
	if (p->lim.max_headers == 0)
		p->lim.max_headers = HTTP_MAX_HEADERS;
	if (p->lim.max_target == 0)
		p->lim.max_target = HTTP_MAX_TARGET;
	if (p->lim.max_body == 0)
		p->lim.max_body = UINT64_MAX;
	if (cb != NULL)
		p->cb = *cb;
	p->arg = arg;
	dbuf_init(&p->line, p->lim.max_header_bytes);
	http_parser_reset(p);
	return (p);
}

void
http_parser_free(struct http_parser *p)
{
	if (p == NULL)
		return;
	http_msg_clear(&p->msg);
	dbuf_free(&p->line);
	free(p);
}

void
http_parser_reset(struct http_parser *p)
{
	http_msg_clear(&p->msg);
	dbuf_reset(&p->line);
	p->state = HTTP_S_START;
	p->head_bytes = 0;
	p->ntrailers = 0;
	p->have_head = 0;
	p->remain = 0;
	p->body = 0;
	p->status = 0;
}

const struct http_msg *
http_parser_msg(const struct http_parser *p)
{
	return (p->have_head ? &p->msg : NULL);
}

int
http_parser_done(const struct http_parser *p)
{
	return (p->state == HTTP_S_DONE);
}

uint64_t
http_parser_body_size(const struct http_parser *p)
{
	return (p->body);
}

int
http_parser_status(const struct http_parser *p)
{
	return (p->status);
}

const char *
http_msg_header(const struct http_msg *m, const char *name)
{
	size_t	i;

	for (i = 0; i < m->nheaders; i++) {
		if (strcasecmp(m->headers[i].name, name) == 0)
			return (m->headers[i].value);
	}
	return (NULL);
}

size_t
http_msg_header_count(const struct http_msg *m, const char *name)
{
	size_t	i, n = 0;

	for (i = 0; i < m->nheaders; i++)
		n += strcasecmp(m->headers[i].name, name) == 0;
	return (n);
}

/* Parse "HTTP/1.x" into the message; 0, or an HTTP status on failure. */
static int
http_parse_version(struct http_msg *m, const char *s, size_t len)
{
	if (len != 8 || strncmp(s, "HTTP/", 5) != 0 || !isdigit((unsigned char)s[5]) ||
	    s[6] != '.' || !isdigit((unsigned char)s[7]))
		return (400);
	m->major = s[5] - '0';
	m->minor = s[7] - '0';
	if (m->major != 1 || m->minor > 1)
		return (505);
	return (0);
}

/* The request line: method SP target SP version. */
static int
http_parse_request_line(struct http_parser *p, const char *l, char **cause)
{
	const char	*sp1, *sp2;
	size_t		 i;
	int		 st;

	if ((sp1 = strchr(l, ' ')) == NULL || sp1 == l)
		return (http_fail(p, cause, 400, "malformed request line"));
	for (i = 0; l + i < sp1; i++) {
		if (!http_is_tchar((unsigned char)l[i]))
			return (http_fail(p, cause, 400,
			    "invalid character in request method"));
	}
	if ((sp2 = strchr(sp1 + 1, ' ')) == NULL || sp2 == sp1 + 1)
		return (http_fail(p, cause, 400, "malformed request line"));
	if ((size_t)(sp2 - sp1 - 1) > p->lim.max_target)
		return (http_fail(p, cause, 414,
		    "request target longer than %zu bytes", p->lim.max_target));
	for (i = 1; sp1 + i < sp2; i++) {
		if ((unsigned char)sp1[i] <= 0x20 || sp1[i] == 0x7f)
			return (http_fail(p, cause, 400,
			    "invalid character in request target"));
	}
	p->msg.request = 1;
	if ((st = http_parse_version(&p->msg, sp2 + 1, strlen(sp2 + 1))) != 0)
		return (http_fail(p, cause, st, "unsupported HTTP version"));
	p->msg.method = xstrndup(l, sp1 - l);
	p->msg.target = xstrndup(sp1 + 1, sp2 - sp1 - 1);
	return (0);
}

/* The status line: version SP 3DIGIT [SP reason]. */
static int
http_parse_status_line(struct http_parser *p, const char *l, char **cause)
{
	const char	*sp;
	int		 st;

	if ((sp = strchr(l, ' ')) == NULL)
		return (http_fail(p, cause, 400, "malformed status line"));
	p->msg.request = 0;
	if ((st = http_parse_version(&p->msg, l, sp - l)) != 0)
		return (http_fail(p, cause, st, "unsupported HTTP version"));
	if (!isdigit((unsigned char)sp[1]) || !isdigit((unsigned char)sp[2]) ||
	    !isdigit((unsigned char)sp[3]) || (sp[4] != '\0' && sp[4] != ' ') ||
	    sp[1] == '0')
		return (http_fail(p, cause, 400, "malformed status code"));
	p->msg.status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 +
	    (sp[3] - '0');
	p->msg.reason = xstrdup(sp[4] == ' ' ? sp + 5 : "");
	return (0);
}

/* The first line: which kind depends on the flags and on "HTTP/". */
static int
http_parse_start(struct http_parser *p, const char *l, char **cause)
{
	int	resp;

	resp = strncmp(l, "HTTP/", 5) == 0;
	if (resp && (p->flags & HTTP_F_RESPONSE))
		return (http_parse_status_line(p, l, cause));
	if (p->flags & HTTP_F_REQUEST)
		return (http_parse_request_line(p, l, cause));
	return (http_fail(p, cause, 400, "malformed status line"));
}

/* One header line "name: value"; folding is refused. */
static int
http_parse_header(struct http_parser *p, const char *l, char **cause)
{
	struct http_header	*h;
	const char		*colon, *v, *e;

	if (*l == ' ' || *l == '\t')
		return (http_fail(p, cause, 400,
		    "folded header line (obs-fold) refused"));
	if ((colon = strchr(l, ':')) == NULL || colon == l)
		return (http_fail(p, cause, 400, "malformed header line"));
	for (v = l; v < colon; v++) {
		if (!http_is_tchar((unsigned char)*v))
			return (http_fail(p, cause, 400,
			    "invalid character in header name"));
	}
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	for (e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t'); e--)
		;
	for (colon = v; colon < e; colon++) {
		if (((unsigned char)*colon < 0x20 && *colon != '\t') ||
		    *colon == 0x7f)
			return (http_fail(p, cause, 400,
			    "invalid character in header value"));
	}
	if (p->msg.nheaders >= p->lim.max_headers)
		return (http_fail(p, cause, 431, "more than %zu header lines",
		    p->lim.max_headers));
	p->msg.headers = xreallocarray(p->msg.headers, p->msg.nheaders + 1,
	    sizeof(*p->msg.headers));
	h = &p->msg.headers[p->msg.nheaders++];
	h->name = xstrndup(l, strchr(l, ':') - l);
	h->value = xstrndup(v, e - v);
	return (0);
}

/* Content-Length headers: all must agree; lists of equal values allowed. */
static int
http_content_length(struct http_parser *p, char **cause)
{
	const char	*s;
	uint64_t	 v;
	size_t		 i;
	int		 have = 0, digits;

	for (i = 0; i < p->msg.nheaders; i++) {
		if (strcasecmp(p->msg.headers[i].name, "Content-Length") != 0)
			continue;
		s = p->msg.headers[i].value;
		for (;;) {
			v = 0;
			digits = 0;
			while (isdigit((unsigned char)*s)) {
				if (v > (UINT64_MAX - 9) / 10)
					return (http_fail(p, cause, 413,
					    "Content-Length too large"));
				v = v * 10 + (uint64_t)(*s++ - '0');
				digits++;
			}
			if (digits == 0)
				return (http_fail(p, cause, 400,
				    "invalid Content-Length"));
			if (have && v != p->msg.length)
				return (http_fail(p, cause, 400,
				    "conflicting Content-Length values"));
			have = 1;
			p->msg.length = v;
			while (*s == ' ' || *s == '\t')
				s++;
			if (*s == '\0')
				break;
			if (*s++ != ',')
				return (http_fail(p, cause, 400,
				    "invalid Content-Length"));
			while (*s == ' ' || *s == '\t')
				s++;
		}
	}
	p->msg.has_length = have;
	if (have && p->msg.length > p->lim.max_body)
		return (http_fail(p, cause, 413,
		    "body of %llu bytes exceeds the limit",
		    (unsigned long long)p->msg.length));
	return (0);
}

/* Transfer-Encoding: only a lone "chunked" is understood. */
static int
http_transfer_encoding(struct http_parser *p, char **cause)
{
	const char	*v;
	size_t		 i;
	int		 n = 0;

	for (i = 0; i < p->msg.nheaders; i++) {
		if (strcasecmp(p->msg.headers[i].name,
		    "Transfer-Encoding") != 0)
			continue;
		v = p->msg.headers[i].value;
		if (n++ > 0 || strcasecmp(v, "chunked") != 0)
			return (http_fail(p, cause, 501,
			    "unsupported transfer-coding"));
	}
	p->msg.chunked = n > 0;
	return (0);
}

/* The head is complete: decide the framing and tell the caller. */
static int
http_head_done(struct http_parser *p, char **cause)
{
	struct http_msg	*m = &p->msg;

	if (http_transfer_encoding(p, cause) == -1 ||
	    http_content_length(p, cause) == -1)
		return (-1);
	if (m->chunked && m->has_length)
		return (http_fail(p, cause, 400,
		    "both Transfer-Encoding and Content-Length"));
	if (m->request && m->major == 1 && m->minor == 1 &&
	    http_msg_header_count(m, "Host") > 1)
		return (http_fail(p, cause, 400, "more than one Host header"));
	p->have_head = 1;
	if (m->chunked)
		p->state = HTTP_S_CHUNK_SIZE;
	else if (m->has_length) {
		p->remain = m->length;
		p->state = HTTP_S_BODY_LENGTH;
	} else if (!m->request && (m->status < 200 || m->status == 204 ||
	    m->status == 304))
		p->state = HTTP_S_DONE;
	else if (!m->request || (p->flags & HTTP_F_LAX)) {
		m->to_eof = 1;
		p->state = HTTP_S_BODY_EOF;
	} else
		p->state = HTTP_S_DONE;
	if (p->cb.head != NULL && p->cb.head(m, p->arg, cause) == -1) {
		p->state = HTTP_S_ERROR;
		p->status = 0;
		return (-1);
	}
	if (p->state == HTTP_S_DONE ||
	    (p->state == HTTP_S_BODY_LENGTH && p->remain == 0))
		return (http_complete(p, cause));
	return (0);
}

/* Hand body bytes to the sink. */
static int
http_emit(struct http_parser *p, const uint8_t *b, size_t n, char **cause)
{
	if (n == 0)
		return (0);
	if (n > p->lim.max_body - p->body)
		return (http_fail(p, cause, 413, "body exceeds the limit"));
	p->body += n;
	if (p->cb.body != NULL && p->cb.body(b, n, p->arg, cause) == -1) {
		p->state = HTTP_S_ERROR;
		p->status = 0;
		return (-1);
	}
	return (0);
}

/* The message is complete. */
static int
http_complete(struct http_parser *p, char **cause)
{
	p->state = HTTP_S_DONE;
	if (p->cb.done != NULL && p->cb.done(&p->msg, p->arg, cause) == -1) {
		p->state = HTTP_S_ERROR;
		p->status = 0;
		return (-1);
	}
	return (0);
}

/* A chunk-size line: hex digits, optional extensions (ignored). */
static int
http_chunk_size(struct http_parser *p, const char *l, char **cause)
{
	uint64_t	v = 0;
	int		digits = 0, c;

	for (; isxdigit((unsigned char)*l); l++) {
		if (++digits > 15)
			return (http_fail(p, cause, 413, "chunk too large"));
		c = (unsigned char)*l;
		v = v * 16 + (uint64_t)(isdigit(c) ? c - '0' :
		    tolower(c) - 'a' + 10);
	}
	while (*l == ' ' || *l == '\t')
		l++;
	if (digits == 0 || (*l != '\0' && *l != ';'))
		return (http_fail(p, cause, 400, "malformed chunk size"));
	if (v > p->lim.max_body - p->body)
		return (http_fail(p, cause, 413, "body exceeds the limit"));
	p->remain = v;
	p->state = v == 0 ? HTTP_S_TRAILERS : HTTP_S_CHUNK_DATA;
	return (0);
}

/* A complete line (without its end) in a line-oriented state. */
static int
http_line(struct http_parser *p, const char *l, size_t len, char **cause)
{
	if (memchr(l, '\0', len) != NULL || memchr(l, '\r', len) != NULL)
		return (http_fail(p, cause, 400, "control character in %s",
		    p->state == HTTP_S_CHUNK_SIZE ? "chunk size" : "head"));
	switch (p->state) {
	case HTTP_S_START:
		if (len == 0)
			return (0);	/* RFC 9112 2.2: ignore a leading CRLF */
		if (http_parse_start(p, l, cause) == -1)
			return (-1);
		p->state = HTTP_S_HEADERS;
		return (0);
	case HTTP_S_HEADERS:
		if (len == 0)
			return (http_head_done(p, cause));
		return (http_parse_header(p, l, cause));
	case HTTP_S_CHUNK_SIZE:
		return (http_chunk_size(p, l, cause));
	case HTTP_S_CHUNK_END:
		if (len != 0)
			return (http_fail(p, cause, 400,
			    "chunk data longer than its size"));
		p->state = HTTP_S_CHUNK_SIZE;
		return (0);
	case HTTP_S_TRAILERS:
		if (len == 0)
			return (http_complete(p, cause));
		if (++p->ntrailers > p->lim.max_headers)
			return (http_fail(p, cause, 431, "too many trailers"));
		return (0);	/* trailer fields are skipped */
	default:
		return (http_fail(p, cause, 400, "internal parser state"));
	}
}

/* Bytes belonging to a line state: accumulate up to the LF. */
static size_t
http_feed_line(struct http_parser *p, const uint8_t *b, size_t n,
    char **cause, int *err)
{
	const uint8_t	*lf;
	size_t		 take, max, len;
	int		 head;

	head = p->state != HTTP_S_CHUNK_SIZE && p->state != HTTP_S_CHUNK_END;
	lf = memchr(b, '\n', n);
	take = lf != NULL ? (size_t)(lf - b) + 1 : n;
	if (head) {
		max = p->lim.max_header_bytes;
		if (take > max - p->head_bytes) {
			if (p->state == HTTP_S_START && p->flags & HTTP_F_REQUEST)
				http_fail(p, cause, 414,
				    "request line longer than %zu bytes", max);
			else
				http_fail(p, cause, 431,
				    "head longer than %zu bytes", max);
			*err = 1;
			return (0);
		}
		p->head_bytes += take;
	} else if (p->line.len + take > HTTP_MAX_CHUNK_LINE) {
		http_fail(p, cause, 400, "chunk-size line too long");
		*err = 1;
		return (0);
	}
	if (p->state == HTTP_S_START && p->line.len + take >
	    p->lim.max_target + 64 && (p->flags & HTTP_F_RESPONSE) == 0) {
		http_fail(p, cause, 414, "request target longer than %zu bytes",
		    p->lim.max_target);
		*err = 1;
		return (0);
	}
	if (dbuf_add(&p->line, b, take) == -1) {
		http_fail(p, cause, 431, "head too large");
		*err = 1;
		return (0);
	}
	if (lf == NULL)
		return (take);
	len = p->line.len - 1;
	if (len > 0 && p->line.data[len - 1] == '\r')
		len--;
	else if (!(p->flags & HTTP_F_LAX)) {
		http_fail(p, cause, 400, "bare LF line ending");
		*err = 1;
		return (0);
	}
	p->line.data[len] = '\0';
	if (http_line(p, p->line.data, len, cause) == -1)
		*err = 1;
	dbuf_reset(&p->line);
	return (take);
}

int
http_parser_feed(struct http_parser *p, const void *buf, size_t len,
    size_t *used, char **cause)
{
	const uint8_t	*b = buf;
	size_t		 off = 0, n;
	int		 err = 0;

	if (used != NULL)
		*used = 0;
	if (p->state == HTTP_S_ERROR)
		return (http_fail(p, cause, p->status, "parser already failed"));
	while (off < len && p->state != HTTP_S_DONE) {
		switch (p->state) {
		case HTTP_S_BODY_EOF:
			if (http_emit(p, b + off, len - off, cause) == -1)
				return (-1);
			off = len;
			break;
		case HTTP_S_BODY_LENGTH:
		case HTTP_S_CHUNK_DATA:
			n = len - off;
			if (n > p->remain)
				n = (size_t)p->remain;
			if (http_emit(p, b + off, n, cause) == -1)
				return (-1);
			off += n;
			p->remain -= n;
			if (p->remain == 0) {
				if (p->state == HTTP_S_CHUNK_DATA)
					p->state = HTTP_S_CHUNK_END;
				else if (http_complete(p, cause) == -1)
					return (-1);
			}
			break;
		default:
			off += http_feed_line(p, b + off, len - off, cause,
			    &err);
			if (err)
				return (-1);
			break;
		}
	}
	if (used != NULL)
		*used = off;
	else if (off < len) {
		for (n = off; n < len; n++) {
			if (!(p->flags & HTTP_F_LAX) ||
			    (b[n] != '\r' && b[n] != '\n'))
				return (http_fail(p, cause, 400,
				    "data after the end of the message"));
		}
	}
	return (0);
}

int
http_parser_finish(struct http_parser *p, char **cause)
{
	switch (p->state) {
	case HTTP_S_DONE:
		return (0);
	case HTTP_S_BODY_EOF:
		return (http_complete(p, cause));
	case HTTP_S_ERROR:
		return (http_fail(p, cause, p->status, "parser already failed"));
	case HTTP_S_START:
		if (p->line.len == 0)
			return (http_fail(p, cause, 400, "empty message"));
		/* FALLTHROUGH */
	default:
		return (http_fail(p, cause, 400, "message truncated (%s)",
		    p->have_head ? "in the body" : "in the head"));
	}
}

/* Content-Type values. */

/* Skip blanks. */
static const char *
http_ct_skip(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return (s);
}

/* Read a token into a new lower-cased string, NULL when empty. */
static char *
http_ct_token(const char **sp, int lower)
{
	const char	*s = *sp;
	char		*t;
	size_t		 i, n;

	for (n = 0; http_is_tchar((unsigned char)s[n]); n++)
		;
	if (n == 0)
		return (NULL);
	t = xstrndup(s, n);
	for (i = 0; lower && i < n; i++)
		t[i] = tolower((unsigned char)t[i]);
	*sp = s + n;
	return (t);
}

/*
 * An unquoted parameter value. Tolerant: any visible character but ';'
 * and '"' (senders write start=<a@b> without the quotes RFC 2045 wants).
 */
static char *
http_ct_bare(const char **sp)
{
	const char	*s = *sp;
	size_t		 n;

	for (n = 0; (unsigned char)s[n] > 0x20 && s[n] != 0x7f &&
	    s[n] != ';' && s[n] != '"'; n++)
		;
	if (n == 0)
		return (NULL);
	*sp = s + n;
	return (xstrndup(s, n));
}

/* Read a quoted-string, unescaping; NULL when unterminated. */
static char *
http_ct_quoted(const char **sp)
{
	const char	*s = *sp + 1;
	struct dbuf	 b;

	dbuf_init(&b, strlen(s) + 1);
	for (; *s != '"'; s++) {
		if (*s == '\0' || *s == '\r' || *s == '\n' ||
		    (*s == '\\' && (s[1] == '\0' || s[1] == '\r' ||
		    s[1] == '\n'))) {
			dbuf_free(&b);
			return (NULL);
		}
		if (*s == '\\')
			s++;
		dbuf_addc(&b, *s);
	}
	*sp = s + 1;
	dbuf_add(&b, "", 0);	/* dbuf_take of an empty dbuf: no NUL */
	return (dbuf_take(&b, NULL));
}

int
http_ct_parse(const char *v, struct http_ct *ct, char **cause)
{
	struct http_ct_param	*pp;
	const char		*s = v;
	char			*type = NULL, *sub = NULL, *name, *val;
	size_t			 i;

	memset(ct, 0, sizeof(*ct));
	s = http_ct_skip(s);
	if ((type = http_ct_token(&s, 1)) == NULL || *s++ != '/' ||
	    (sub = http_ct_token(&s, 1)) == NULL) {
		free(type);
		xasprintf(cause, "malformed media type in Content-Type");
		return (-1);
	}
	xasprintf(&ct->type, "%s/%s", type, sub);
	free(type);
	free(sub);
	for (;;) {
		s = http_ct_skip(s);
		if (*s == '\0')
			return (0);
		if (*s++ != ';') {
			xasprintf(cause, "unexpected character after Content-Type "
			    "%s", ct->nparams == 0 ? "media type" : "parameter");
			goto fail;
		}
		s = http_ct_skip(s);
		if (*s == '\0' || *s == ';')
			continue;	/* tolerate empty parameters */
		if ((name = http_ct_token(&s, 1)) == NULL) {
			xasprintf(cause, "malformed Content-Type parameter name");
			goto fail;
		}
		s = http_ct_skip(s);
		if (*s++ != '=') {
			xasprintf(cause, "Content-Type parameter %s has no value",
			    name);
			free(name);
			goto fail;
		}
		s = http_ct_skip(s);
		val = *s == '"' ? http_ct_quoted(&s) : http_ct_bare(&s);
		if (val == NULL) {
			xasprintf(cause, "Content-Type parameter %s: bad value",
			    name);
			free(name);
			goto fail;
		}
		for (i = 0; i < ct->nparams; i++) {
			if (strcmp(ct->params[i].name, name) == 0) {
				xasprintf(cause, "duplicate Content-Type "
				    "parameter %s", name);
				free(name);
				free(val);
				goto fail;
			}
		}
		if (ct->nparams >= HTTP_MAX_CT_PARAMS) {
			xasprintf(cause, "more than %d Content-Type parameters",
			    HTTP_MAX_CT_PARAMS);
			free(name);
			free(val);
			goto fail;
		}
		ct->params = xreallocarray(ct->params, ct->nparams + 1,
		    sizeof(*ct->params));
		pp = &ct->params[ct->nparams++];
		pp->name = name;
		pp->value = val;
	}
fail:
	http_ct_free(ct);
	return (-1);
}

void
http_ct_free(struct http_ct *ct)
{
	size_t	i;

	for (i = 0; i < ct->nparams; i++) {
		free(ct->params[i].name);
		free(ct->params[i].value);
	}
	free(ct->params);
	free(ct->type);
	memset(ct, 0, sizeof(*ct));
}

const char *
http_ct_param(const struct http_ct *ct, const char *name)
{
	size_t	i;

	for (i = 0; i < ct->nparams; i++) {
		if (strcasecmp(ct->params[i].name, name) == 0)
			return (ct->params[i].value);
	}
	return (NULL);
}

int
http_quote(struct dbuf *b, const char *s)
{
	if (strpbrk(s, "\r\n") != NULL || dbuf_addc(b, '"') == -1)
		return (-1);
	for (; *s != '\0'; s++) {
		if ((*s == '"' || *s == '\\') && dbuf_addc(b, '\\') == -1)
			return (-1);
		if (dbuf_addc(b, *s) == -1)
			return (-1);
	}
	return (dbuf_addc(b, '"'));
}

int
http_ct_format(const struct http_ct *ct, struct dbuf *b)
{
	const char	*v;
	size_t		 i;

	if (dbuf_addstr(b, ct->type) == -1)
		return (-1);
	for (i = 0; i < ct->nparams; i++) {
		if (dbuf_printf(b, "; %s=", ct->params[i].name) == -1)
			return (-1);
		for (v = ct->params[i].value; http_is_tchar((unsigned char)*v); v++)
			;
		if (*v == '\0' && v != ct->params[i].value) {
			if (dbuf_addstr(b, ct->params[i].value) == -1)
				return (-1);
		} else if (http_quote(b, ct->params[i].value) == -1)
			return (-1);
	}
	return (0);
}
