/*
 * httpd.c: a streaming HTTP/1.1 server on evconnlistener + bufferevents,
 * request heads and body framing by shared/http.c.
 *
 * Each connection runs one request at a time. Input is fed to the parser
 * in slices of at most HTTPD_SLICE bytes, and only while the handler is
 * not paused; the rest stays in the bufferevent, whose read high
 * watermark (and EV_READ disabled while paused) bounds memory. Body bytes
 * the parser produces after a pause within the same slice wait in
 * req->held (at most one slice). Every state change that may need work
 * outside a callback goes through conn_kick(), a deferred event, so
 * handlers can reply, pause and resume from any callback.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/rand.h>

#include "dbuf.h"
#include "http.h"
#include "httpd.h"
#include "log.h"
#include "tls.h"
#include "xmalloc.h"

#define HTTPD_SLICE		(64 * 1024)
#define HTTPD_LOG_PATH_MAX	200
#define HTTPD_LINGER_MS		2000	/* discard unread input this long */

enum conn_state {
	C_HANDSHAKE,	/* TLS handshake */
	C_HEAD,		/* waiting for or reading a head */
	C_BODY,		/* reading the body */
	C_WAIT,		/* no more reading for this request */
	C_CLOSING,	/* flush the output, then close */
	C_TLSFAIL	/* handshake refused: alert sent, discard input */
};

struct httpd_route {
	char				*prefix;
	size_t				 len;
	const struct httpd_handler	*h;
	void				*arg;
};

struct httpd_conn;

struct httpd_req {
	struct httpd_conn		*c;
	const struct httpd_handler	*h;
	void				*harg;
	const struct http_msg		*msg;
	char				*path;
	unsigned			 seq;
	void				*data;
	struct timeval			 start;

	int				 paused;
	int				 body_done;	/* parser done */
	int				 done_sent;	/* handler told */
	int				 continue_pending;
	int				 is_head;
	struct evbuffer			*held;
	uint64_t			 bytes_in;

	int				 replied;	/* head queued */
	int				 ended;
	int				 chunked;
	int				 to_close;	/* body to the close */
	int64_t				 length;
	uint64_t			 sent;		/* body bytes */
	uint64_t			 bytes_out;	/* on the wire */
	int				 status;
	httpd_source_cb			 src;
	void				*src_arg;
	int				 src_paused;
	int				 keep;
	int				 aborted;	/* server cut it */
};

struct httpd_conn {
	struct httpd			*srv;
	TAILQ_ENTRY(httpd_conn)		 entry;
	char				 id[17];
	struct bufferevent		*bev;
	struct event			*timer;
	struct event			*kick;
	struct http_parser		*parser;
	struct tls_peer			 peer;
	int				 have_peer;
	char				 addr[NI_MAXHOST]; /* IP, numeric */
	enum conn_state			 state;
	unsigned			 nreq;
	int				 started;	/* bytes of this head */
	int				 stop_reading;
	int				 in_pump;
	int				 linger;	/* input may be unread */
	int				 lingering;
	struct tls_refused		*refused;	/* in C_TLSFAIL */
	struct httpd_req		*req;
};
TAILQ_HEAD(httpd_conns, httpd_conn);

struct httpd {
	struct event_base		*base;
	struct httpd_conf		 conf;
	struct evconnlistener		*lev;
	int				 port;
	int				 lev_disabled;
	struct httpd_route		*routes;
	size_t				 nroutes;
	struct httpd_conns		 conns;
	size_t				 nconns;
	size_t				 nrefused;	/* in C_TLSFAIL */

	int				 stopping;
	struct event			*sweep;		/* deferred stop work */
	struct event			*drain;
	void				(*stop_cb)(struct httpd *, void *);
	void				*stop_arg;
};

static void	conn_pump(struct httpd_conn *);
static void	conn_close(struct httpd_conn *, const char *);
static void	conn_kick(struct httpd_conn *);
static int	parser_head(const struct http_msg *, void *, char **);
static int	parser_body(const void *, size_t, void *, char **);
static int	parser_done(const struct http_msg *, void *, char **);

static const struct http_callbacks httpd_parser_cb = {
	parser_head, parser_body, parser_done
};

const char *
httpd_reason(int status)
{
	switch (status) {
	case 100: return ("Continue");
	case 200: return ("OK");
	case 201: return ("Created");
	case 202: return ("Accepted");
	case 204: return ("No Content");
	case 206: return ("Partial Content");
	case 301: return ("Moved Permanently");
	case 302: return ("Found");
	case 304: return ("Not Modified");
	case 400: return ("Bad Request");
	case 401: return ("Unauthorized");
	case 403: return ("Forbidden");
	case 404: return ("Not Found");
	case 405: return ("Method Not Allowed");
	case 408: return ("Request Timeout");
	case 411: return ("Length Required");
	case 413: return ("Content Too Large");
	case 414: return ("URI Too Long");
	case 415: return ("Unsupported Media Type");
	case 417: return ("Expectation Failed");
	case 429: return ("Too Many Requests");
	case 431: return ("Request Header Fields Too Large");
	case 500: return ("Internal Server Error");
	case 501: return ("Not Implemented");
	case 502: return ("Bad Gateway");
	case 503: return ("Service Unavailable");
	case 505: return ("HTTP Version Not Supported");
	default: return ("Unknown");
	}
}

static void
ms_to_tv(int ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

static long long
us_since(const struct timeval *t0)
{
	struct timeval	now, d;

	evutil_gettimeofday(&now, NULL);
	evutil_timersub(&now, t0, &d);
	return ((long long)d.tv_sec * 1000000 + d.tv_usec);
}

static long long
ms_since(const struct timeval *t0)
{
	return (us_since(t0) / 1000);
}

/* The path of a request-target: origin-form or absolute-form, no query. */
static char *
target_path(const char *t)
{
	const char	*p, *e;

	p = t;
	if (*t != '/' && (p = strstr(t, "://")) != NULL) {
		p += 3;
		if ((p = strchr(p, '/')) == NULL)
			return (xstrdup("/"));
	} else if (p == NULL)
		p = t;
	e = p + strcspn(p, "?#");
	return (xstrndup(p, e - p));
}

/* Longest matching prefix on a segment boundary. */
static const struct httpd_route *
route_find(const struct httpd *srv, const char *path)
{
	const struct httpd_route	*r, *best = NULL;
	size_t				 i;

	for (i = 0; i < srv->nroutes; i++) {
		r = &srv->routes[i];
		if (strncmp(path, r->prefix, r->len) != 0)
			continue;
		if (path[r->len] != '\0' && path[r->len] != '/' &&
		    path[r->len] != '?' && (r->len == 0 ||
		    r->prefix[r->len - 1] != '/'))
			continue;
		if (best == NULL || r->len > best->len)
			best = r;
	}
	return (best);
}

/* Does a comma-separated header hold this token (case-insensitive)? */
static int
header_has_token(const struct http_msg *m, const char *name, const char *tok)
{
	const char	*v, *p;
	size_t		 i, n, tl = strlen(tok);

	for (i = 0; i < m->nheaders; i++) {
		if (strcasecmp(m->headers[i].name, name) != 0)
			continue;
		v = m->headers[i].value;
		while (*v != '\0') {
			while (*v == ' ' || *v == '\t' || *v == ',')
				v++;
			p = v;
			n = strcspn(p, ",");
			v += n;
			while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
				n--;
			if (n == tl && strncasecmp(p, tok, n) == 0)
				return (1);
		}
	}
	return (0);
}

/* Connection timers. */
static void
conn_timer(struct httpd_conn *c, int ms)
{
	struct timeval	tv;

	if (ms <= 0) {
		evtimer_del(c->timer);
		return;
	}
	ms_to_tv(ms, &tv);
	evtimer_add(c->timer, &tv);
}

static void
conn_kick(struct httpd_conn *c)
{
	event_active(c->kick, EV_TIMEOUT, 1);
}

static void
conn_write(struct httpd_conn *c, const void *buf, size_t len)
{
	if (len == 0)
		return;
	bufferevent_write(c->bev, buf, len);
	if (c->req != NULL)
		c->req->bytes_out += len;
}

/* Log the request and let the handler go; the req is freed. */
static void
req_free(struct httpd_conn *c, int completed, const char *why)
{
	struct httpd_req	*r = c->req;
	char			 path[HTTPD_LOG_PATH_MAX + 1];

	if (r == NULL)
		return;
	c->req = NULL;
	strlcpy(path, r->path, sizeof(path));
	log_info("httpd conn=%s event=%s seq=%u method=%s path=%s status=%d "
	    "in=%llu out=%llu ms=%lld%s%s", c->id,
	    completed ? "request" : "request-aborted", r->seq,
	    r->msg->method, path, r->status,
	    (unsigned long long)r->bytes_in, (unsigned long long)r->bytes_out,
	    ms_since(&r->start), why != NULL ? " reason=" : "",
	    why != NULL ? why : "");
	if (c->srv->conf.observe != NULL) {
		struct httpd_req_stats	rs;

		rs.path = r->path;
		rs.status = r->status;
		rs.completed = completed;
		rs.bytes_in = r->bytes_in;
		rs.bytes_out = r->bytes_out;
		rs.seconds = (double)us_since(&r->start) / 1e6;
		c->srv->conf.observe(&rs, c->srv->conf.observe_arg);
	}
	if (r->h != NULL && r->h->fini != NULL)
		r->h->fini(r, completed, r->harg);
	evbuffer_free(r->held);
	free(r->path);
	free(r);
}

static void
conn_free(struct httpd_conn *c)
{
	struct httpd	*srv = c->srv;

	TAILQ_REMOVE(&srv->conns, c, entry);
	srv->nconns--;
	if (c->state == C_TLSFAIL)
		srv->nrefused--;
	tls_refused_free(c->refused);
	bufferevent_free(c->bev);
	event_free(c->timer);
	event_free(c->kick);
	http_parser_free(c->parser);
	if (c->have_peer)
		tls_peer_clear(&c->peer);
	free(c);
	if (srv->lev != NULL && srv->lev_disabled &&
	    srv->nconns < srv->conf.max_conns && !srv->stopping) {
		evconnlistener_enable(srv->lev);
		srv->lev_disabled = 0;
	}
	if (srv->stopping && srv->nconns == 0 && srv->sweep != NULL)
		event_active(srv->sweep, EV_TIMEOUT, 1);
}

/* Close at once: aborts the request in flight. */
static void
conn_close(struct httpd_conn *c, const char *why)
{
	if (why != NULL)
		log_debug("httpd conn=%s event=close reason=%s", c->id, why);
	req_free(c, 0, why);
	conn_free(c);
}

/*
 * Stop reading; close once the output is flushed. With input possibly
 * left unread (an early reply, an error), first half-close and discard
 * input for a while, so the peer's kernel does not answer our unread data
 * with a reset that destroys the reply in flight.
 */
static void
conn_linger(struct httpd_conn *c, int linger)
{
	c->linger |= linger;
	c->state = C_CLOSING;
	bufferevent_disable(c->bev, EV_READ);
	evtimer_del(c->timer);
	conn_kick(c);
}

/* The refused peer closed, or its time is up. */
static void
conn_refused_done(void *arg)
{
	conn_close(arg, NULL);
}

/*
 * The handshake failed (a certificate refused): linger so that the client
 * reads the alert rather than a reset (tls_refused_new), as for an early
 * reply, else it reports a broken pipe instead of the certificate problem.
 */
static void
conn_tls_refused(struct httpd_conn *c)
{
	evutil_socket_t	 fd = bufferevent_getfd(c->bev);

	if (c->srv->nrefused >= TLS_REFUSED_MAX) {
		conn_close(c, "tls refused");	/* a flood: no lingering */
		return;
	}
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	req_free(c, 0, "tls refused");
	c->state = C_TLSFAIL;
	c->srv->nrefused++;
	evtimer_del(c->timer);
	if ((c->refused = tls_refused_new(c->srv->base, fd, HTTPD_LINGER_MS,
	    conn_refused_done, c)) == NULL)
		conn_close(c, "tls refused");
}

/* A server-made error reply (parser failure, timeout, no handler...). */
static void
conn_error_reply(struct httpd_conn *c, int status, const char *text)
{
	struct dbuf	b;

	dbuf_init(&b, 4096);
	dbuf_printf(&b, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n", status,
	    httpd_reason(status), strlen(text) + 1, text);
	conn_write(c, b.data, b.len);
	dbuf_free(&b);
}

/* The head of a request failed or timed out: answer, then close. */
static void
conn_fail(struct httpd_conn *c, int status, const char *cause)
{
	log_warnx("httpd conn=%s event=bad-request status=%d reason=\"%s\"",
	    c->id, status, cause != NULL ? cause : "");
	if (c->req != NULL && c->req->replied) {
		conn_linger(c, 1);
		return;
	}
	if (status != 0) {
		if (c->req != NULL)
			c->req->status = status;
		conn_error_reply(c, status, httpd_reason(status));
	}
	if (c->req != NULL) {
		c->req->replied = c->req->ended = 1;
		c->req->keep = 0;
		c->req->aborted = 1;
	}
	conn_linger(c, 1);
}

/* The handler gave up: 500 unless it answered. */
static void
req_handler_error(struct httpd_req *r)
{
	struct httpd_conn	*c = r->c;

	c->stop_reading = 1;
	if (!r->replied) {
		r->status = 500;
		conn_error_reply(c, 500, httpd_reason(500));
		r->replied = r->ended = 1;
		r->keep = 0;
	}
	conn_kick(c);
}

/* Deliver body bytes to the handler, honouring pauses. */
static void
req_deliver(struct httpd_req *r, const void *buf, size_t len)
{
	int	rv;

	if (r->paused || evbuffer_get_length(r->held) != 0) {
		evbuffer_add(r->held, buf, len);
		return;
	}
	if (r->h == NULL || r->h->body == NULL)
		return;
	rv = r->h->body(r, buf, len, r->harg);
	if (rv == HTTPD_PAUSE)
		httpd_req_pause(r);
	else if (rv == HTTPD_ERROR)
		req_handler_error(r);
}

static void
req_send_done(struct httpd_req *r)
{
	if (r->done_sent || !r->body_done || r->paused ||
	    evbuffer_get_length(r->held) != 0)
		return;
	r->done_sent = 1;
	if (r->replied && r->ended)
		return;
	if (r->h == NULL || r->h->done == NULL) {
		if (!r->replied)
			httpd_reply(r, 500, "text/plain", "no handler\n", 11);
		return;
	}
	r->h->done(r, r->harg);
}

/* OPTIONS: answered here once its body (if any) is read and dropped. */
static int
options_body(struct httpd_req *r, const void *buf, size_t len, void *arg)
{
	(void)r;
	(void)buf;
	(void)len;
	(void)arg;
	return (HTTPD_OK);
}

static void
options_done(struct httpd_req *r, void *arg)
{
	const struct httpd_handler	*h = arg;
	struct httpd_hdr		 hdr[2] = { { NULL, NULL },
					    { NULL, NULL } };
	char				 allow[128];

	if (h->allow != NULL) {
		snprintf(allow, sizeof(allow), "OPTIONS, %s", h->allow);
		hdr[0].name = "Allow";
		hdr[0].value = allow;
	}
	if (httpd_reply_start(r, 204, hdr, 0) == 0)
		httpd_reply_end(r);
}

static const struct httpd_handler options_handler = {
	NULL, options_body, options_done, NULL, NULL
};

static void
req_send_continue(struct httpd_req *r)
{
	static const char	cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	if (!r->continue_pending || r->paused)
		return;
	r->continue_pending = 0;
	if (!r->replied)
		conn_write(r->c, cont, sizeof(cont) - 1);
}

/* Parser callbacks (inside http_parser_feed). */
static int
parser_head(const struct http_msg *m, void *arg, char **cause)
{
	struct httpd_conn		*c = arg;
	struct httpd			*srv = c->srv;
	struct httpd_req		*r;
	const struct httpd_route	*rt;
	const char			*expect;
	int				 rv, has_body;

	r = xcalloc(1, sizeof(*r));
	r->c = c;
	r->msg = m;
	r->path = target_path(m->target);
	r->seq = ++c->nreq;
	r->held = evbuffer_new();
	r->length = -1;
	r->is_head = strcmp(m->method, "HEAD") == 0;
	evutil_gettimeofday(&r->start, NULL);
	c->req = r;
	has_body = m->chunked || (m->has_length && m->length > 0);
	c->state = has_body ? C_BODY : C_WAIT;
	if (has_body)
		conn_timer(c, srv->conf.body_timeout_ms);
	else
		evtimer_del(c->timer);

	expect = http_msg_header(m, "Expect");
	if (expect != NULL && (m->minor == 0 ||
	    strcasecmp(expect, "100-continue") != 0)) {
		r->status = 417;
		conn_error_reply(c, 417, httpd_reason(417));
		r->replied = r->ended = 1;
		c->stop_reading = 1;
		return (0);
	}
	if ((rt = route_find(srv, r->path)) == NULL) {
		r->status = 404;
		conn_error_reply(c, 404, httpd_reason(404));
		r->replied = r->ended = 1;
		if (has_body)
			c->stop_reading = 1;
		return (0);
	}
	r->h = rt->h;
	r->harg = rt->arg;
	if (strcmp(m->method, "OPTIONS") == 0) {
		r->h = &options_handler;
		r->harg = (void *)(uintptr_t)rt->h;
	}
	if (expect != NULL && has_body)
		r->continue_pending = 1;
	rv = r->h->head != NULL ? r->h->head(r, r->harg) : HTTPD_OK;
	if (rv == HTTPD_PAUSE)
		httpd_req_pause(r);
	else if (rv == HTTPD_ERROR) {
		req_handler_error(r);
		return (0);
	}
	if (r->replied) {
		if (has_body)
			c->stop_reading = 1;
		return (0);
	}
	req_send_continue(r);
	(void)cause;
	return (0);
}

static int
parser_body(const void *buf, size_t len, void *arg, char **cause)
{
	struct httpd_conn	*c = arg;
	struct httpd_req	*r = c->req;

	r->bytes_in += len;
	if (c->stop_reading || r->replied) {
		c->stop_reading = 1;
		xasprintf(cause, "body not read");
		return (-1);
	}
	req_deliver(r, buf, len);
	return (0);
}

static int
parser_done(const struct http_msg *m, void *arg, char **cause)
{
	struct httpd_conn	*c = arg;
	struct httpd_req	*r = c->req;

	if (c->state != C_CLOSING)
		c->state = C_WAIT;
	evtimer_del(c->timer);
	r->body_done = 1;
	r->continue_pending = 0;
	req_send_done(r);
	return (0);
}

/* The response is flushed: next request or close. */
static void
conn_req_finished(struct httpd_conn *c)
{
	struct httpd_req	*r = c->req;
	int			 keep;

	keep = r->keep && r->body_done && !c->stop_reading &&
	    !c->srv->stopping && c->state == C_WAIT;
	req_free(c, 1, NULL);
	if (!keep) {
		conn_close(c, NULL);
		return;
	}
	http_parser_reset(c->parser);
	c->state = C_HEAD;
	c->started = 0;
	bufferevent_enable(c->bev, EV_READ);
	conn_timer(c, c->srv->conf.keepalive_timeout_ms);
	conn_kick(c);
}

/* Pull from the reply source while the output is low. */
static int
conn_pull(struct httpd_conn *c)
{
	struct httpd_req	*r = c->req;
	struct evbuffer		*out = bufferevent_get_output(c->bev);
	struct evbuffer		*tmp;
	size_t			 have, want, n;
	int			 rv;
	char			 line[32];

	tmp = evbuffer_new();
	while (r->src != NULL && !r->src_paused && !r->ended &&
	    (have = evbuffer_get_length(out)) < c->srv->conf.write_hiwat) {
		want = c->srv->conf.write_hiwat - have;
		if (r->length >= 0 && want > (uint64_t)r->length - r->sent)
			want = (size_t)((uint64_t)r->length - r->sent);
		rv = r->src(r, tmp, want, r->src_arg);
		if (rv == HTTPD_ERROR) {
			evbuffer_free(tmp);
			return (-1);
		}
		n = evbuffer_get_length(tmp);
		if (r->length >= 0 && n > (uint64_t)r->length - r->sent) {
			evbuffer_free(tmp);
			return (-1);
		}
		if (n > 0) {
			r->sent += n;
			if (!r->is_head) {
				if (r->chunked) {
					snprintf(line, sizeof(line), "%zx\r\n",
					    n);
					conn_write(c, line, strlen(line));
				}
				r->bytes_out += n;
				evbuffer_add_buffer(out, tmp);
				if (r->chunked)
					conn_write(c, "\r\n", 2);
			} else
				evbuffer_drain(tmp, n);
		}
		if (rv == HTTPD_END) {
			r->src = NULL;
			if (httpd_reply_end(r) == -1) {
				evbuffer_free(tmp);
				return (-1);
			}
		} else if (rv == HTTPD_PAUSE)
			r->src_paused = 1;
	}
	evbuffer_free(tmp);
	return (0);
}

/* Feed one slice of input to the parser. */
static int
conn_feed(struct httpd_conn *c)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	struct evbuffer_iovec	 v;
	size_t			 n, used = 0;
	char			*cause = NULL;
	int			 st;

	if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
		return (0);
	n = v.iov_len > HTTPD_SLICE ? HTTPD_SLICE : v.iov_len;
	if (http_parser_feed(c->parser, v.iov_base, n, &used, &cause) == -1) {
		st = http_parser_status(c->parser);
		if (st == 0 && c->stop_reading) {
			/* A reply came before the body: leave it unread. */
			free(cause);
			c->state = C_WAIT;
			if (c->req != NULL)
				c->req->keep = 0;
			evbuffer_drain(in, evbuffer_get_length(in));
			bufferevent_disable(c->bev, EV_READ);
			evtimer_del(c->timer);
			return (-1);
		}
		conn_fail(c, st == 0 ? 500 : st, cause);
		free(cause);
		return (-1);
	}
	evbuffer_drain(in, used);
	if (c->stop_reading && c->state != C_WAIT) {
		c->state = C_WAIT;
		if (c->req != NULL)
			c->req->keep = 0;
	}
	return (0);
}

/* Do everything that can be done now. */
static void
conn_pump(struct httpd_conn *c)
{
	struct httpd_req	*r;
	struct evbuffer		*in, *out;
	struct evbuffer_iovec	 v;
	size_t			 n;
	char			 buf[HTTPD_SLICE];

	if (c->in_pump)
		return;
	c->in_pump = 1;
	in = bufferevent_get_input(c->bev);
	out = bufferevent_get_output(c->bev);
again:
	if (c->state == C_HANDSHAKE || c->state == C_TLSFAIL)
		goto out;
	if (c->state == C_CLOSING) {
		if (evbuffer_get_length(out) != 0)
			goto out;
		if (c->req != NULL && c->req->ended)
			req_free(c, !c->req->aborted, NULL);
		if (!c->linger) {
			c->in_pump = 0;
			conn_close(c, NULL);
			return;
		}
		if (!c->lingering) {
			c->lingering = 1;
			if (c->srv->conf.tls == NULL)
				shutdown(bufferevent_getfd(c->bev), SHUT_WR);
			bufferevent_enable(c->bev, EV_READ);
			conn_timer(c, HTTPD_LINGER_MS);
		}
		evbuffer_drain(in, evbuffer_get_length(in));
		goto out;
	}
	r = c->req;
	/* Held body bytes first, then done, then 100 Continue. */
	while (r != NULL && !r->paused && !c->stop_reading &&
	    evbuffer_peek(r->held, -1, NULL, &v, 1) >= 1) {
		n = v.iov_len > sizeof(buf) ? sizeof(buf) : v.iov_len;
		memcpy(buf, v.iov_base, n);
		evbuffer_drain(r->held, n);
		if (r->h != NULL && r->h->body != NULL) {
			switch (r->h->body(r, buf, n, r->harg)) {
			case HTTPD_PAUSE:
				httpd_req_pause(r);
				break;
			case HTTPD_ERROR:
				req_handler_error(r);
				break;
			}
		}
	}
	if (r != NULL) {
		req_send_continue(r);
		req_send_done(r);
	}
	/* Input. */
	while ((c->state == C_HEAD || c->state == C_BODY) &&
	    !(c->req != NULL && c->req->paused) &&
	    evbuffer_get_length(in) != 0) {
		if (c->state == C_HEAD && !c->started) {
			/* The first head's deadline runs from the accept. */
			c->started = 1;
			if (c->nreq > 0)
				conn_timer(c, c->srv->conf.header_timeout_ms);
		}
		if (conn_feed(c) == -1)
			break;
	}
	if (c->state == C_CLOSING)
		goto again;
	r = c->req;
	if (c->state == C_HEAD || c->state == C_BODY) {
		if (r != NULL && r->paused) {
			bufferevent_disable(c->bev, EV_READ);
			evtimer_del(c->timer);
		} else
			bufferevent_enable(c->bev, EV_READ);
	} else if (c->state == C_WAIT)
		bufferevent_disable(c->bev, EV_READ);
	/* Output. */
	if (r != NULL && r->replied && !r->ended && r->src != NULL &&
	    conn_pull(c) == -1) {
		c->in_pump = 0;
		conn_close(c, "reply source failed");
		return;
	}
	if (r != NULL && r->ended && evbuffer_get_length(out) == 0) {
		if (c->state == C_WAIT && r->body_done) {
			c->in_pump = 0;
			conn_req_finished(c);
			return;
		}
		if (c->state == C_WAIT && c->stop_reading) {
			conn_linger(c, 1);
			goto again;
		}
	}
out:
	c->in_pump = 0;
}

static void
conn_kick_cb(evutil_socket_t fd, short ev, void *arg)
{
	conn_pump(arg);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct httpd_conn	*c = arg;

	if (c->state == C_BODY && !(c->req != NULL && c->req->paused))
		conn_timer(c, c->srv->conf.body_timeout_ms);
	conn_pump(c);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	conn_pump(arg);
}

static void
conn_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct httpd_conn	*c = arg;

	switch (c->state) {
	case C_HANDSHAKE:
		conn_close(c, "handshake timeout");
		break;
	case C_HEAD:
		if (!c->started) {
			conn_close(c, NULL);	/* idle keep-alive */
			break;
		}
		log_warnx("httpd conn=%s event=timeout phase=head", c->id);
		conn_error_reply(c, 408, httpd_reason(408));
		conn_linger(c, 1);
		break;
	case C_BODY:
		log_warnx("httpd conn=%s event=timeout phase=body", c->id);
		conn_close(c, "body timeout");
		break;
	case C_CLOSING:
		conn_close(c, "linger timeout");
		break;
	default:
		break;
	}
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct httpd_conn	*c = arg;
	struct httpd		*srv = c->srv;
	SSL			*ssl;
	char			*cause = NULL;

	if (what & BEV_EVENT_CONNECTED) {
		if (c->state != C_HANDSHAKE)
			return;
		ssl = bufferevent_openssl_get_ssl(bev);
		if (ssl != NULL && tls_peer_identity(ssl, &c->peer,
		    &cause) == 0) {
			c->have_peer = 1;
			log_info("httpd conn=%s event=tls-peer fingerprint=%s",
			    c->id, c->peer.fingerprint);
		} else if (srv->conf.require_peer) {
			log_warnx("httpd conn=%s event=tls-refused reason=\"%s\"",
			    c->id, cause != NULL ? cause : "no peer");
			free(cause);
			conn_tls_refused(c);
			return;
		}
		free(cause);
		c->state = C_HEAD;
		conn_kick(c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		log_warnx("httpd conn=%s event=timeout phase=write", c->id);
		conn_close(c, "write timeout");
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		if (c->state == C_HANDSHAKE && srv->conf.tls != NULL) {
			cause = tls_bufferevent_cause(bev);
			log_warnx("httpd conn=%s event=tls-error reason=\"%s\"",
			    c->id, cause);
			free(cause);
			conn_tls_refused(c);
			return;
		}
		conn_close(c, "connection error");
		return;
	}
	if (what & BEV_EVENT_EOF) {
		/*
		 * While writing, EOF is a reset (a TLS peer gone without
		 * close_notify), not a half-close: nobody reads the rest.
		 */
		if (what & BEV_EVENT_WRITING) {
			conn_close(c, "peer gone while writing");
			return;
		}
		if (c->state == C_HEAD && !c->started)
			conn_close(c, NULL);
		else if (c->state == C_CLOSING && c->lingering)
			conn_close(c, NULL);
		else if (c->state == C_WAIT || c->state == C_CLOSING) {
			if (c->req != NULL)
				c->req->keep = 0;
		} else
			conn_close(c, "peer closed mid-request");
	}
}

static void
httpd_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct httpd		*srv = arg;
	struct httpd_conn	*c;
	struct bufferevent	*bev;
	struct timeval		 tv;
	int			 one = 1;

	if (srv->stopping) {
		evutil_closesocket(fd);
		return;
	}
	/*
	 * Replies are written as they are ready: without this, Nagle's
	 * algorithm holds a small answer back for the peer's delayed ACK
	 * (tens of milliseconds per query).
	 */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (srv->conf.tls != NULL)
		bev = tls_bufferevent_server(srv->base, fd, srv->conf.tls);
	else
		bev = bufferevent_socket_new(srv->base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		log_warnx("httpd event=accept-failed");
		evutil_closesocket(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->srv = srv;
	c->bev = bev;
	if (getnameinfo(sa, (socklen_t)salen, c->addr, sizeof(c->addr), NULL,
	    0, NI_NUMERICHOST) != 0)
		strlcpy(c->addr, "?", sizeof(c->addr));
	log_new_id(c->id);
	c->timer = evtimer_new(srv->base, conn_timer_cb, c);
	c->kick = event_new(srv->base, -1, 0, conn_kick_cb, c);
	c->parser = http_parser_new(HTTP_F_REQUEST, &srv->conf.limits,
	    &httpd_parser_cb, c);
	c->state = srv->conf.tls != NULL ? C_HANDSHAKE : C_HEAD;
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	if (++srv->nconns >= srv->conf.max_conns && !srv->lev_disabled) {
		evconnlistener_disable(srv->lev);
		srv->lev_disabled = 1;
		log_warnx("httpd event=conn-limit conns=%zu", srv->nconns);
	}
	bufferevent_setcb(bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(bev, EV_READ, 0, srv->conf.read_hiwat);
	ms_to_tv(srv->conf.write_timeout_ms, &tv);
	bufferevent_set_timeouts(bev, NULL, &tv);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	/* The first head (and the handshake) get the header timeout. */
	conn_timer(c, srv->conf.header_timeout_ms);
	log_debug("httpd conn=%s event=accept", c->id);
}

struct httpd *
httpd_new(struct event_base *base, const struct httpd_conf *conf)
{
	struct httpd	*srv;
	struct httpd_conf *cf;

	srv = xcalloc(1, sizeof(*srv));
	srv->base = base;
	cf = &srv->conf;
	if (conf != NULL)
		*cf = *conf;
	if (cf->max_conns == 0)
		cf->max_conns = 512;
	if (cf->max_requests == 0)
		cf->max_requests = 100;
	if (cf->header_timeout_ms <= 0)
		cf->header_timeout_ms = 10000;
	if (cf->body_timeout_ms <= 0)
		cf->body_timeout_ms = 60000;
	if (cf->keepalive_timeout_ms <= 0)
		cf->keepalive_timeout_ms = 15000;
	if (cf->write_timeout_ms <= 0)
		cf->write_timeout_ms = 60000;
	if (cf->read_hiwat == 0)
		cf->read_hiwat = 256 * 1024;
	if (cf->write_hiwat == 0)
		cf->write_hiwat = 256 * 1024;
	TAILQ_INIT(&srv->conns);
	return (srv);
}

static void
httpd_sweep_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct httpd		*srv = arg;
	struct httpd_conn	*c, *next;
	void			(*cb)(struct httpd *, void *);

	if (!srv->stopping)
		return;
	for (c = TAILQ_FIRST(&srv->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->req == NULL && (c->state == C_HEAD ||
		    c->state == C_HANDSHAKE || c->state == C_TLSFAIL) &&
		    !c->started)
			conn_close(c, "stopping");
	}
	if (srv->nconns == 0 && srv->stop_cb != NULL) {
		cb = srv->stop_cb;
		srv->stop_cb = NULL;
		evtimer_del(srv->drain);
		log_info("httpd event=stopped");
		cb(srv, srv->stop_arg);
	}
}

static void
httpd_drain_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct httpd		*srv = arg;
	struct httpd_conn	*c;

	log_warnx("httpd event=drain-timeout conns=%zu", srv->nconns);
	while ((c = TAILQ_FIRST(&srv->conns)) != NULL)
		conn_close(c, "drain timeout");
	httpd_sweep_cb(-1, 0, srv);
}

int
httpd_listen(struct httpd *srv, const char *addr, char **cause)
{
	struct sockaddr_storage	 ss;
	int			 sslen = sizeof(ss);
	socklen_t		 len;
	const char		*colon;
	char			*host, *end;
	long			 lport;

	if (srv->lev != NULL) {
		xasprintf(cause, "already listening");
		return (-1);
	}
	/* evutil refuses port 0: parse the host, then set the port. */
	memset(&ss, 0, sizeof(ss));
	colon = strrchr(addr, ':');
	if (colon != NULL && (colon == addr || colon[-1] == ']' ||
	    strchr(addr, ':') == colon)) {
		host = xstrndup(addr, colon - addr);
		errno = 0;
		lport = strtol(colon + 1, &end, 10);
		if (colon[1] == '\0' || *end != '\0' || errno != 0 ||
		    lport < 0 || lport > 65535)
			host[0] = '\0';
	} else {
		host = xstrdup(addr);	/* no port: 0 */
		lport = 0;
	}
	if (*host == '\0' || evutil_parse_sockaddr_port(host,
	    (struct sockaddr *)&ss, &sslen) == -1) {
		free(host);
		xasprintf(cause, "invalid listen address \"%s\"", addr);
		return (-1);
	}
	free(host);
	if (ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(lport);
	else
		((struct sockaddr_in *)&ss)->sin_port = htons(lport);
	srv->lev = evconnlistener_new_bind(srv->base, httpd_accept_cb, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    128, (struct sockaddr *)&ss, sslen);
	if (srv->lev == NULL) {
		xasprintf(cause, "cannot listen on %s: %s", addr,
		    strerror(errno));
		return (-1);
	}
	len = sizeof(ss);
	if (getsockname(evconnlistener_get_fd(srv->lev),
	    (struct sockaddr *)&ss, &len) == 0)
		srv->port = ntohs(ss.ss_family == AF_INET6 ?
		    ((struct sockaddr_in6 *)&ss)->sin6_port :
		    ((struct sockaddr_in *)&ss)->sin_port);
	log_info("httpd event=listen addr=%s port=%d tls=%s", addr, srv->port,
	    srv->conf.tls != NULL ? "yes" : "no");
	return (0);
}

int
httpd_port(const struct httpd *srv)
{
	return (srv->port);
}

size_t
httpd_conn_count(const struct httpd *srv)
{
	return (srv->nconns);
}

void
httpd_route(struct httpd *srv, const char *prefix,
    const struct httpd_handler *h, void *arg)
{
	struct httpd_route	*r;

	srv->routes = xreallocarray(srv->routes, srv->nroutes + 1,
	    sizeof(*srv->routes));
	r = &srv->routes[srv->nroutes++];
	r->prefix = xstrdup(prefix);
	r->len = strlen(prefix);
	r->h = h;
	r->arg = arg;
}

void
httpd_stop(struct httpd *srv, int drain_ms,
    void (*cb)(struct httpd *, void *), void *arg)
{
	struct timeval	tv;

	if (srv->stopping)
		return;
	srv->stopping = 1;
	srv->stop_cb = cb;
	srv->stop_arg = arg;
	if (srv->lev != NULL) {
		evconnlistener_free(srv->lev);
		srv->lev = NULL;
	}
	log_info("httpd event=stopping conns=%zu", srv->nconns);
	srv->sweep = event_new(srv->base, -1, 0, httpd_sweep_cb, srv);
	srv->drain = evtimer_new(srv->base, httpd_drain_cb, srv);
	ms_to_tv(drain_ms > 0 ? drain_ms : 1, &tv);
	evtimer_add(srv->drain, &tv);
	event_active(srv->sweep, EV_TIMEOUT, 1);
}

void
httpd_free(struct httpd *srv)
{
	struct httpd_conn	*c;
	size_t			 i;

	if (srv == NULL)
		return;
	srv->stop_cb = NULL;
	srv->stopping = 1;
	while ((c = TAILQ_FIRST(&srv->conns)) != NULL)
		conn_close(c, "server freed");
	if (srv->lev != NULL)
		evconnlistener_free(srv->lev);
	if (srv->sweep != NULL)
		event_free(srv->sweep);
	if (srv->drain != NULL)
		event_free(srv->drain);
	for (i = 0; i < srv->nroutes; i++)
		free(srv->routes[i].prefix);
	free(srv->routes);
	free(srv);
}

/* Request accessors. */
const char *
httpd_req_method(const struct httpd_req *r)
{
	return (r->msg->method);
}

const char *
httpd_req_target(const struct httpd_req *r)
{
	return (r->msg->target);
}

const char *
httpd_req_path(const struct httpd_req *r)
{
	return (r->path);
}

const char *
httpd_req_header(const struct httpd_req *r, const char *name)
{
	return (http_msg_header(r->msg, name));
}

const struct http_msg *
httpd_req_msg(const struct httpd_req *r)
{
	return (r->msg);
}

const struct tls_peer *
httpd_req_peer(const struct httpd_req *r)
{
	return (r->c->have_peer ? &r->c->peer : NULL);
}

const char *
httpd_req_conn_id(const struct httpd_req *r)
{
	return (r->c->id);
}

const char *
httpd_req_peer_addr(const struct httpd_req *r)
{
	return (r->c->addr);
}

unsigned
httpd_req_seq(const struct httpd_req *r)
{
	return (r->seq);
}

uint64_t
httpd_req_body_bytes(const struct httpd_req *r)
{
	return (r->bytes_in);
}

void
httpd_req_set_data(struct httpd_req *r, void *data)
{
	r->data = data;
}

void *
httpd_req_data(const struct httpd_req *r)
{
	return (r->data);
}

void
httpd_req_pause(struct httpd_req *r)
{
	r->paused = 1;
}

void
httpd_req_resume(struct httpd_req *r)
{
	if (!r->paused)
		return;
	r->paused = 0;
	if (r->c->state == C_BODY)
		conn_timer(r->c, r->c->srv->conf.body_timeout_ms);
	conn_kick(r->c);
}

/* Replies. */
static int
hdr_ok(const char *s)
{
	return (s != NULL && strpbrk(s, "\r\n") == NULL);
}

int
httpd_reply_start(struct httpd_req *r, int status,
    const struct httpd_hdr *hdrs, int64_t length)
{
	struct httpd_conn	*c = r->c;
	const struct http_msg	*m = r->msg;
	const struct httpd_hdr	*h;
	struct dbuf		 b;

	if (r->replied || status < 200 || status > 999 ||
	    (status == 204 && length != 0))
		return (-1);
	for (h = hdrs; h != NULL && h->name != NULL; h++) {
		if (!hdr_ok(h->name) || !hdr_ok(h->value) ||
		    *h->name == '\0' || strchr(h->name, ':') != NULL)
			return (-1);
	}
	r->replied = 1;
	r->status = status;
	r->continue_pending = 0;
	r->keep = m->minor >= 1 && !header_has_token(m, "Connection", "close") &&
	    r->seq < c->srv->conf.max_requests && !c->srv->stopping &&
	    r->body_done && !c->stop_reading;
	r->length = length;
	if (length < 0) {
		if (m->minor >= 1)
			r->chunked = 1;
		else {
			r->to_close = 1;
			r->keep = 0;
		}
	}
	dbuf_init(&b, 64 * 1024);
	dbuf_printf(&b, "HTTP/1.1 %d %s\r\n", status, httpd_reason(status));
	for (h = hdrs; h != NULL && h->name != NULL; h++)
		dbuf_printf(&b, "%s: %s\r\n", h->name, h->value);
	/* 204 has no body and no framing header (RFC 9110 8.6). */
	if (length >= 0 && status != 204)
		dbuf_printf(&b, "Content-Length: %lld\r\n", (long long)length);
	else if (r->chunked)
		dbuf_addstr(&b, "Transfer-Encoding: chunked\r\n");
	if (!r->keep)
		dbuf_addstr(&b, "Connection: close\r\n");
	dbuf_addstr(&b, "\r\n");
	conn_write(c, b.data, b.len);
	dbuf_free(&b);
	if (r->is_head)
		r->chunked = 0;
	return (0);
}

int
httpd_reply_chunk(struct httpd_req *r, const void *buf, size_t len)
{
	char	line[32];

	if (!r->replied || r->ended || r->src != NULL)
		return (-1);
	if (r->length >= 0 && len > (uint64_t)r->length - r->sent)
		return (-1);
	if (len == 0)
		return (0);
	r->sent += len;
	if (r->is_head)
		return (0);
	if (r->chunked) {
		snprintf(line, sizeof(line), "%zx\r\n", len);
		conn_write(r->c, line, strlen(line));
	}
	conn_write(r->c, buf, len);
	if (r->chunked)
		conn_write(r->c, "\r\n", 2);
	return (0);
}

int
httpd_reply_source(struct httpd_req *r, httpd_source_cb cb, void *arg)
{
	if (!r->replied || r->ended || r->src != NULL || cb == NULL)
		return (-1);
	r->src = cb;
	r->src_arg = arg;
	conn_kick(r->c);
	return (0);
}

void
httpd_reply_resume(struct httpd_req *r)
{
	r->src_paused = 0;
	conn_kick(r->c);
}

int
httpd_reply_end(struct httpd_req *r)
{
	static const char	last[] = "0\r\n\r\n";

	if (!r->replied || r->ended)
		return (-1);
	r->ended = 1;
	r->src = NULL;
	if (r->chunked)
		conn_write(r->c, last, sizeof(last) - 1);
	if (r->to_close || (r->length >= 0 && r->sent != (uint64_t)r->length &&
	    !r->is_head)) {
		/* The framing cannot be completed: the close ends it. */
		r->keep = 0;
		conn_linger(r->c, 0);
		return (r->to_close ? 0 : -1);
	}
	conn_kick(r->c);
	return (0);
}

int
httpd_reply(struct httpd_req *r, int status, const char *ctype,
    const void *buf, size_t len)
{
	struct httpd_hdr	h[2] = { { "Content-Type", ctype },
				    { NULL, NULL } };

	if (httpd_reply_start(r, status, ctype != NULL ? h : NULL,
	    (int64_t)len) == -1)
		return (-1);
	if (httpd_reply_chunk(r, buf, len) == -1)
		return (-1);
	return (httpd_reply_end(r));
}

size_t
httpd_reply_pending(const struct httpd_req *r)
{
	return (evbuffer_get_length(bufferevent_get_output(r->c->bev)));
}
