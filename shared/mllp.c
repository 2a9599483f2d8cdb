/* mllp.c: MLLP framing, and servers and clients that carry it. */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/rand.h>

#include "log.h"
#include "mllp.h"
#include "tls.h"
#include "xmalloc.h"

/* evbuffer_remove_buffer counts in int: no frame may come near that. */
#define MLLP_MAX_LIMIT	((size_t)INT_MAX - 16)

enum mllp_conn_state {
	MLLP_C_READ,		/* waiting for a frame */
	MLLP_C_PENDING,		/* message handed over, waiting for reply */
	MLLP_C_FLUSH,		/* last reply being written, then close */
	MLLP_C_REFUSED		/* handshake refused: alert sent, draining */
};

struct mllp_conn {
	struct mllp_server	*srv;
	struct bufferevent	*bev;	/* NULL once the peer has gone */
	struct evbuffer		*msg;
	char			 id[17];
	enum mllp_conn_state	 state;
	size_t			 scan;
	struct tls_peer		 peer;
	char			 addr[64];	/* the peer's IP address */
	int			 peer_checked;
	int			 have_peer;
	int			 in_cb;
	int			 dead;	/* free once the callback returns */
	struct tls_refused	*refused;	/* in MLLP_C_REFUSED */
	TAILQ_ENTRY(mllp_conn)	 entry;
};
TAILQ_HEAD(mllp_conns, mllp_conn);

struct mllp_server {
	struct event_base	*base;
	struct evconnlistener	*lev;
	SSL_CTX			*ctx;
	size_t			 max;
	struct timeval		 tv;
	int			 has_tv;
	int			 port;
	int			 stopping;
	unsigned int		 count;
	unsigned int		 max_conns;	/* then stop accepting */
	int			 lev_disabled;
	unsigned int		 nrefused;	/* in MLLP_C_REFUSED */
	mllp_message_cb		 cb;
	void			*arg;
	struct mllp_conns	 conns;
};

struct mllp_client {
	struct event_base	*base;
	struct sockaddr_storage	 ss;
	int			 sslen;	/* 0: resolve host by name */
	char			*host;
	int			 port;
	SSL_CTX			*ctx;
	char			*tls_host;
	size_t			 max;
	struct timeval		 tv;
	int			 has_tv;
	char			 id[17];
	struct bufferevent	*bev;
	struct evbuffer		*reply;
	size_t			 scan;
	int			 busy;
	int			 in_cb;
	int			 freed;
	mllp_reply_cb		 cb;
	void			*arg;
};

static int
mllp_is_space(unsigned char c)
{
	return (c == ' ' || c == '\t' || c == '\r' || c == '\n');
}

/* Drops whitespace at the front of in; returns its first other byte or -1. */
static int
mllp_skip_space(struct evbuffer *in)
{
	unsigned char	buf[64];
	ev_ssize_t	got;
	size_t		n;

	while ((got = evbuffer_copyout(in, buf, sizeof(buf))) > 0) {
		for (n = 0; n < (size_t)got && mllp_is_space(buf[n]); n++)
			;
		evbuffer_drain(in, n);
		if (n < (size_t)got)
			return (buf[n]);
	}
	return (-1);
}

/* Takes one frame off the front of in into msg (see mllp.h). */
int
mllp_frame_get(struct evbuffer *in, size_t max, struct evbuffer *msg,
    size_t *scan, char **cause)
{
	struct evbuffer_ptr	 p;
	size_t			 total, from, len;
	unsigned char		 c;
	int			 first;

	if (max > MLLP_MAX_LIMIT)
		max = MLLP_MAX_LIMIT;
	if ((first = mllp_skip_space(in)) == -1) {
		if (scan != NULL)
			*scan = 0;
		return (0);
	}
	if (first != MLLP_SB) {
		if (scan != NULL)
			*scan = 0;
		xasprintf(cause, "byte 0x%02x before the start block", first);
		return (-1);
	}
	total = evbuffer_get_length(in);
	from = scan != NULL ? *scan : 0;
	if (from < 1 || from > total)
		from = 1;
	if (evbuffer_ptr_set(in, &p, from, EVBUFFER_PTR_SET) == -1)
		goto more;
	p = evbuffer_search(in, "\x1c", 1, &p);
	if (p.pos == -1) {
		if (total - 1 > max) {
			xasprintf(cause, "message longer than %zu bytes", max);
			goto fail;
		}
		from = total;
		goto more;
	}
	len = (size_t)p.pos - 1;
	if (len > max) {
		xasprintf(cause, "message longer than %zu bytes", max);
		goto fail;
	}
	if ((size_t)p.pos + 1 >= total) {
		from = (size_t)p.pos;
		goto more;
	}
	if (evbuffer_ptr_set(in, &p, 1, EVBUFFER_PTR_ADD) == -1 ||
	    evbuffer_copyout_from(in, &p, &c, 1) != 1) {
		xasprintf(cause, "cannot read the frame end");
		goto fail;
	}
	if (c != MLLP_CR) {
		xasprintf(cause, "end block followed by 0x%02x, not CR", c);
		goto fail;
	}
	evbuffer_drain(in, 1);
	if (len > 0 && evbuffer_remove_buffer(in, msg, len) != (int)len) {
		xasprintf(cause, "cannot move the message");
		goto fail;
	}
	evbuffer_drain(in, 2);
	if (scan != NULL)
		*scan = 0;
	return (1);

more:
	if (scan != NULL)
		*scan = from;
	return (0);
fail:
	if (scan != NULL)
		*scan = 0;
	return (-1);
}

/* Appends <VT> msg <FS><CR> to out. */
int
mllp_frame_put(struct evbuffer *out, const void *msg, size_t len)
{
	static const unsigned char	sb = MLLP_SB;
	static const unsigned char	eb[2] = { MLLP_EB, MLLP_CR };

	if (evbuffer_add(out, &sb, 1) == -1 ||
	    (len > 0 && evbuffer_add(out, msg, len) == -1) ||
	    evbuffer_add(out, eb, sizeof(eb)) == -1)
		return (-1);
	return (0);
}

/*
 * Splits "host:port" or "[v6]:port" (port 0-65535). Fills ss when host is
 * an IP literal ("*" or empty means any IPv4 address), else sets *sslen 0.
 */
static int
mllp_parse_addr(const char *addr, char **hostp, int *portp,
    struct sockaddr_storage *ss, int *sslen)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;
	const char		*colon;
	char			*host, *end;
	long			 port;
	size_t			 n;

	if ((colon = strrchr(addr, ':')) == NULL || colon[1] == '\0')
		return (-1);
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || errno != 0 || port < 0 || port > 65535)
		return (-1);
	n = (size_t)(colon - addr);
	if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']')
		host = xstrndup(addr + 1, n - 2);
	else if (memchr(addr, ':', n) != NULL)
		return (-1);	/* an IPv6 address needs brackets */
	else
		host = xstrndup(addr, n);
	memset(ss, 0, sizeof(*ss));
	*sslen = 0;
	if (*host == '\0' || strcmp(host, "*") == 0) {
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sin->sin_port = htons((uint16_t)port);
		*sslen = sizeof(*sin);
	} else if (evutil_inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*sslen = sizeof(*sin);
	} else if (evutil_inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof(*sin6);
	}
	*hostp = host;
	*portp = (int)port;
	return (0);
}

/* Tears down one server connection. */
static void
mllp_conn_free(struct mllp_conn *c)
{
	TAILQ_REMOVE(&c->srv->conns, c, entry);
	c->srv->count--;
	if (c->state == MLLP_C_REFUSED)
		c->srv->nrefused--;
	if (c->srv->lev_disabled && c->srv->lev != NULL &&
	    c->srv->count < c->srv->max_conns && !c->srv->stopping) {
		evconnlistener_enable(c->srv->lev);
		c->srv->lev_disabled = 0;
	}
	tls_refused_free(c->refused);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	evbuffer_free(c->msg);
	tls_peer_clear(&c->peer);
	free(c);
}

/* Frees now, or after the message callback when inside it. */
static void
mllp_conn_drop(struct mllp_conn *c)
{
	if (c->in_cb)
		c->dead = 1;
	else
		mllp_conn_free(c);
}

/* Reads the TLS client certificate once, when there is one. */
static void
mllp_conn_check_peer(struct mllp_conn *c)
{
	SSL	*ssl;
	char	*cause = NULL;

	if (c->peer_checked || c->srv->ctx == NULL || c->bev == NULL)
		return;
	c->peer_checked = 1;
	if ((ssl = bufferevent_openssl_get_ssl(c->bev)) == NULL)
		return;
	if (tls_peer_identity(ssl, &c->peer, &cause) == 0) {
		c->have_peer = 1;
		log_info("mllp conn=%s event=tls-peer fingerprint=%s", c->id,
		    c->peer.fingerprint);
	} else {
		log_debug("mllp conn=%s event=tls-no-peer reason=\"%s\"",
		    c->id, cause);
		free(cause);
	}
}

/* Hands every complete frame to the callback, one at a time. */
static void
mllp_conn_process(struct mllp_conn *c)
{
	struct evbuffer	*in;
	char		*cause, *p;
	size_t		 len;
	int		 r;

	in = bufferevent_get_input(c->bev);
	while (c->state == MLLP_C_READ && c->bev != NULL) {
		cause = NULL;
		r = mllp_frame_get(in, c->srv->max, c->msg, &c->scan, &cause);
		if (r == 0)
			break;
		if (r == -1) {
			log_warnx("mllp conn=%s event=protocol-error "
			    "reason=\"%s\"", c->id, cause);
			free(cause);
			mllp_conn_free(c);
			return;
		}
		len = evbuffer_get_length(c->msg);
		evbuffer_add(c->msg, "", 1);
		p = (char *)evbuffer_pullup(c->msg, -1);
		c->state = MLLP_C_PENDING;
		bufferevent_disable(c->bev, EV_READ);
		mllp_conn_check_peer(c);
		log_debug("mllp conn=%s event=received size=%zu", c->id, len);
		c->in_cb = 1;
		c->srv->cb(c, c->have_peer ? &c->peer : NULL, p, len,
		    c->srv->arg);
		c->in_cb = 0;
		if (c->dead) {
			mllp_conn_free(c);
			return;
		}
	}
	if (c->state == MLLP_C_READ && c->srv->stopping &&
	    evbuffer_get_length(in) == 0)
		mllp_conn_free(c);
}

/* Input arrived on a server connection. */
static void
mllp_conn_readcb(struct bufferevent *bev, void *arg)
{
	struct mllp_conn	*c = arg;

	(void)bev;
	mllp_conn_process(c);
}

/* The output drained: a connection in its last reply can close now. */
static void
mllp_conn_writecb(struct bufferevent *bev, void *arg)
{
	struct mllp_conn	*c = arg;

	if (c->state == MLLP_C_FLUSH &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		mllp_conn_free(c);
}

/* The refused peer closed, or its time is up. */
static void
mllp_conn_refused_done(void *arg)
{
	mllp_conn_free(arg);
}

/*
 * A refused handshake: linger for MLLP_REFUSED_MS so that the client
 * reads the alert rather than a reset (tls_refused_new).
 */
#define MLLP_REFUSED_MS	2000
static void
mllp_conn_refused(struct mllp_conn *c)
{
	evutil_socket_t	fd = bufferevent_getfd(c->bev);

	if (c->srv->nrefused >= TLS_REFUSED_MAX) {
		mllp_conn_free(c);	/* a flood: no lingering */
		return;
	}
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	c->state = MLLP_C_REFUSED;
	c->srv->nrefused++;
	if ((c->refused = tls_refused_new(c->srv->base, fd, MLLP_REFUSED_MS,
	    mllp_conn_refused_done, c)) == NULL)
		mllp_conn_free(c);
}

/* Handshake done, end of file, error or timeout on a server connection. */
static void
mllp_conn_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct mllp_conn	*c = arg;
	char			*cause;

	if (what & BEV_EVENT_CONNECTED) {
		mllp_conn_check_peer(c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		log_info("mllp conn=%s event=timeout", c->id);
	else if (what & BEV_EVENT_ERROR) {
		if (c->srv->ctx != NULL)
			cause = tls_bufferevent_cause(bev);
		else
			cause = xstrdup(evutil_socket_error_to_string(
			    EVUTIL_SOCKET_ERROR()));
		log_warnx("mllp conn=%s event=error reason=\"%s\"", c->id,
		    cause);
		free(cause);
		if (c->srv->ctx != NULL && !c->peer_checked &&
		    c->state == MLLP_C_READ) {
			mllp_conn_refused(c);
			return;
		}
	} else if (c->state == MLLP_C_READ &&
	    evbuffer_get_length(bufferevent_get_input(bev)) != 0)
		log_warnx("mllp conn=%s event=protocol-error "
		    "reason=\"connection closed inside a frame\"", c->id);
	else
		log_debug("mllp conn=%s event=closed", c->id);

	if (c->state == MLLP_C_PENDING) {
		/* The application still holds c: keep it until the reply. */
		bufferevent_free(c->bev);
		c->bev = NULL;
		return;
	}
	mllp_conn_free(c);
}

/* Accepts a connection and starts reading frames (after the handshake). */
static void
mllp_server_acceptcb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct mllp_server	*srv = arg;
	struct mllp_conn	*c;
	struct bufferevent	*bev;
	char			 host[64] = "?";
	int			 port = 0;

	(void)lev;
	(void)salen;
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)sa;

		evutil_inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)sa;

		evutil_inet_ntop(AF_INET6, &sin6->sin6_addr, host,
		    sizeof(host));
		port = ntohs(sin6->sin6_port);
	}
	if (srv->ctx != NULL)
		bev = tls_bufferevent_server(srv->base, fd, srv->ctx);
	else
		bev = bufferevent_socket_new(srv->base, fd,
		    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		log_warnx("mllp event=accept-failed reason=\"cannot create "
		    "bufferevent\"");
		evutil_closesocket(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->srv = srv;
	c->bev = bev;
	c->msg = evbuffer_new();
	if (c->msg == NULL)
		fatalx("evbuffer_new");
	c->state = MLLP_C_READ;
	strlcpy(c->addr, host, sizeof(c->addr));
	log_new_id(c->id);
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	/* At the limit the kernel's backlog holds the rest (as httpd). */
	if (++srv->count >= srv->max_conns && !srv->lev_disabled) {
		evconnlistener_disable(srv->lev);
		srv->lev_disabled = 1;
		log_warnx("mllp event=conn-limit conns=%u", srv->count);
	}
	log_info("mllp conn=%s event=accepted addr=%s port=%d tls=%s", c->id,
	    host, port, srv->ctx != NULL ? "yes" : "no");

	bufferevent_setcb(bev, mllp_conn_readcb, mllp_conn_writecb,
	    mllp_conn_eventcb, c);
	if (srv->has_tv)
		bufferevent_set_timeouts(bev, &srv->tv, &srv->tv);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* The listening socket failed (for instance out of descriptors). */
static void
mllp_server_errorcb(struct evconnlistener *lev, void *arg)
{
	(void)lev;
	(void)arg;
	log_warn("mllp event=accept-error");
}

/* Listens for MLLP connections on addr. */
struct mllp_server *
mllp_server_new(struct event_base *base, const char *addr, SSL_CTX *ctx,
    size_t max_message, int timeout_secs, mllp_message_cb cb, void *arg,
    char **cause)
{
	struct mllp_server	*srv;
	struct sockaddr_storage	 ss;
	char			*host;
	int			 sslen, port;
	socklen_t		 len;

	if (mllp_parse_addr(addr, &host, &port, &ss, &sslen) == -1) {
		xasprintf(cause, "bad listen address \"%s\"", addr);
		return (NULL);
	}
	free(host);
	if (sslen == 0) {
		xasprintf(cause, "listen address \"%s\" is not an IP address",
		    addr);
		return (NULL);
	}
	if (max_message == 0 || max_message > MLLP_MAX_LIMIT) {
		xasprintf(cause, "bad maximum message size %zu", max_message);
		return (NULL);
	}
	srv = xcalloc(1, sizeof(*srv));
	srv->base = base;
	srv->ctx = ctx;
	srv->max = max_message;
	srv->max_conns = MLLP_MAX_CONNS;
	if (timeout_secs > 0) {
		srv->tv.tv_sec = timeout_secs;
		srv->has_tv = 1;
	}
	srv->cb = cb;
	srv->arg = arg;
	TAILQ_INIT(&srv->conns);
	srv->lev = evconnlistener_new_bind(base, mllp_server_acceptcb, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    -1, (struct sockaddr *)&ss, sslen);
	if (srv->lev == NULL) {
		xasprintf(cause, "cannot listen on %s: %s", addr,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		free(srv);
		return (NULL);
	}
	evconnlistener_set_error_cb(srv->lev, mllp_server_errorcb);
	len = sizeof(ss);
	if (getsockname(evconnlistener_get_fd(srv->lev),
	    (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			srv->port =
			    ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			srv->port =
			    ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	log_info("mllp event=listening port=%d tls=%s", srv->port,
	    ctx != NULL ? "yes" : "no");
	return (srv);
}

/* The connection limit (mllp.h). */
void
mllp_server_max_conns(struct mllp_server *srv, unsigned int n)
{
	srv->max_conns = n > 0 ? n : MLLP_MAX_CONNS;
}

/* The port the server is bound to (useful after asking for port 0). */
int
mllp_server_port(struct mllp_server *srv)
{
	return (srv->port);
}

/* Stops accepting; idle connections close now, busy ones after replying. */
void
mllp_server_stop(struct mllp_server *srv)
{
	struct mllp_conn	*c, *next;

	srv->stopping = 1;
	if (srv->lev != NULL) {
		evconnlistener_free(srv->lev);
		srv->lev = NULL;
	}
	for (c = TAILQ_FIRST(&srv->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if ((c->state == MLLP_C_READ && c->bev != NULL &&
		    evbuffer_get_length(bufferevent_get_input(c->bev)) == 0) ||
		    c->state == MLLP_C_REFUSED)
			mllp_conn_free(c);
	}
}

/* How many connections are open (or waiting for their reply). */
unsigned int
mllp_server_count(struct mllp_server *srv)
{
	return (srv->count);
}

/* Closes the listener and every connection. */
void
mllp_server_free(struct mllp_server *srv)
{
	struct mllp_conn	*c;

	if (srv == NULL)
		return;
	if (srv->lev != NULL)
		evconnlistener_free(srv->lev);
	srv->lev = NULL;	/* mllp_conn_free must not enable it */
	while ((c = TAILQ_FIRST(&srv->conns)) != NULL)
		mllp_conn_free(c);
	free(srv);
}

/* Frames and sends the reply, then reads the next message. */
int
mllp_conn_reply(struct mllp_conn *c, const void *buf, size_t len)
{
	struct evbuffer	*out;

	if (c->state != MLLP_C_PENDING)
		return (-1);
	if (c->bev == NULL) {
		log_info("mllp conn=%s event=reply-dropped reason=\"peer "
		    "gone\"", c->id);
		mllp_conn_drop(c);
		return (-1);
	}
	out = bufferevent_get_output(c->bev);
	if (mllp_frame_put(out, buf, len) == -1) {
		log_warnx("mllp conn=%s event=error reason=\"cannot queue "
		    "reply\"", c->id);
		mllp_conn_drop(c);
		return (-1);
	}
	/* Only now: the reply may point into the message (an echo). */
	evbuffer_drain(c->msg, evbuffer_get_length(c->msg));
	log_debug("mllp conn=%s event=replied size=%zu", c->id, len);
	if (c->srv->stopping) {
		c->state = MLLP_C_FLUSH;
		return (0);
	}
	c->state = MLLP_C_READ;
	bufferevent_enable(c->bev, EV_READ);
	if (!c->in_cb &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) != 0)
		bufferevent_trigger(c->bev, EV_READ,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	return (0);
}

/* Drops a connection whose message will not be answered. */
void
mllp_conn_close(struct mllp_conn *c)
{
	log_info("mllp conn=%s event=closed-by-handler", c->id);
	mllp_conn_drop(c);
}

/* The connection's id for the application's own log lines. */
const char *
mllp_conn_id(struct mllp_conn *c)
{
	return (c->id);
}

const char *
mllp_conn_peer_addr(struct mllp_conn *c)
{
	return (c->addr);
}

/* Closes the client's connection without telling anyone. */
static void
mllp_client_disconnect(struct mllp_client *cl)
{
	if (cl->bev != NULL) {
		bufferevent_free(cl->bev);
		cl->bev = NULL;
	}
	evbuffer_drain(cl->reply, evbuffer_get_length(cl->reply));
	cl->scan = 0;
}

/* Runs the reply callback; the client may be freed inside it. */
static void
mllp_client_deliver(struct mllp_client *cl, const char *reply, size_t len,
    const char *cause)
{
	mllp_reply_cb	 cb = cl->cb;
	void		*arg = cl->arg;

	cl->busy = 0;
	cl->cb = NULL;
	cl->arg = NULL;
	cl->in_cb = 1;
	cb(cl, reply, len, cause, arg);
	cl->in_cb = 0;
	if (cl->freed)
		mllp_client_free(cl);
}

/* Fails the outstanding message and closes the connection. */
static void
mllp_client_fail(struct mllp_client *cl, const char *cause)
{
	log_warnx("mllp client=%s event=failed reason=\"%s\"", cl->id, cause);
	mllp_client_disconnect(cl);
	if (cl->busy)
		mllp_client_deliver(cl, NULL, 0, cause);
}

/* The reply (or unexpected bytes) arrived. */
static void
mllp_client_readcb(struct bufferevent *bev, void *arg)
{
	struct mllp_client	*cl = arg;
	struct evbuffer		*in = bufferevent_get_input(bev), *done;
	char			*cause = NULL, *p;
	size_t			 len;
	int			 r;

	if (!cl->busy) {
		log_warnx("mllp client=%s event=protocol-error "
		    "reason=\"data while no message outstanding\"", cl->id);
		mllp_client_disconnect(cl);
		return;
	}
	r = mllp_frame_get(in, cl->max, cl->reply, &cl->scan, &cause);
	if (r == 0)
		return;
	if (r == -1) {
		mllp_client_fail(cl, cause);
		free(cause);
		return;
	}
	if (evbuffer_get_length(in) != 0) {
		log_warnx("mllp client=%s event=protocol-error "
		    "reason=\"data after the reply\"", cl->id);
		bufferevent_free(cl->bev);
		cl->bev = NULL;
	} else if (cl->has_tv)
		bufferevent_set_timeouts(cl->bev, NULL, &cl->tv);
	/* A new send from the callback must not append to this reply. */
	done = cl->reply;
	if ((cl->reply = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	len = evbuffer_get_length(done);
	evbuffer_add(done, "", 1);
	p = (char *)evbuffer_pullup(done, -1);
	log_debug("mllp client=%s event=reply size=%zu", cl->id, len);
	mllp_client_deliver(cl, p, len, NULL);
	evbuffer_free(done);
}

/* Connected, or the connection failed, closed or timed out. */
static void
mllp_client_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct mllp_client	*cl = arg;
	char			*cause;
	int			 dnserr;

	if (what & BEV_EVENT_CONNECTED) {
		log_debug("mllp client=%s event=connected", cl->id);
		return;
	}
	if (!cl->busy) {
		log_debug("mllp client=%s event=closed", cl->id);
		mllp_client_disconnect(cl);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		cause = xstrdup("timed out");
	else if (what & BEV_EVENT_EOF)
		cause = xstrdup("connection closed before the reply");
	else if ((dnserr = bufferevent_socket_get_dns_error(bev)) != 0)
		xasprintf(&cause, "cannot resolve %s: %s", cl->host,
		    evutil_gai_strerror(dnserr));
	else if (cl->ctx != NULL)
		cause = tls_bufferevent_cause(bev);
	else
		cause = xstrdup(evutil_socket_error_to_string(
		    EVUTIL_SOCKET_ERROR()));
	mllp_client_fail(cl, cause);
	free(cause);
}

/* Prepares a client for addr; nothing is connected yet. */
struct mllp_client *
mllp_client_new(struct event_base *base, const char *addr, SSL_CTX *ctx,
    const char *host, size_t max_reply, int timeout_secs, char **cause)
{
	struct mllp_client	*cl;

	if (max_reply == 0 || max_reply > MLLP_MAX_LIMIT) {
		xasprintf(cause, "bad maximum reply size %zu", max_reply);
		return (NULL);
	}
	cl = xcalloc(1, sizeof(*cl));
	if (mllp_parse_addr(addr, &cl->host, &cl->port, &cl->ss,
	    &cl->sslen) == -1 || cl->port == 0) {
		xasprintf(cause, "bad address \"%s\"", addr);
		free(cl->host);
		free(cl);
		return (NULL);
	}
	cl->base = base;
	cl->ctx = ctx;
	cl->tls_host = host != NULL ? xstrdup(host) : NULL;
	cl->max = max_reply;
	if (timeout_secs > 0) {
		cl->tv.tv_sec = timeout_secs;
		cl->has_tv = 1;
	}
	if ((cl->reply = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	log_new_id(cl->id);
	return (cl);
}

/* Opens the connection (the handshake runs in the background). */
static int
mllp_client_connect(struct mllp_client *cl, char **cause)
{
	struct bufferevent	*bev;
	int			 r;

	if (cl->ctx != NULL)
		bev = tls_bufferevent_client(cl->base, cl->ctx, cl->tls_host);
	else
		bev = bufferevent_socket_new(cl->base, -1,
		    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		xasprintf(cause, "cannot create a connection to %s", cl->host);
		return (-1);
	}
	bufferevent_setcb(bev, mllp_client_readcb, NULL, mllp_client_eventcb,
	    cl);
	if (cl->has_tv)
		bufferevent_set_timeouts(bev, &cl->tv, &cl->tv);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	if (cl->sslen != 0)
		r = bufferevent_socket_connect(bev,
		    (struct sockaddr *)&cl->ss, cl->sslen);
	else
		r = bufferevent_socket_connect_hostname(bev, NULL, AF_UNSPEC,
		    cl->host, cl->port);
	if (r == -1) {
		xasprintf(cause, "cannot connect to %s: %s", cl->host,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		bufferevent_free(bev);
		return (-1);
	}
	cl->bev = bev;
	log_debug("mllp client=%s event=connecting tls=%s", cl->id,
	    cl->ctx != NULL ? "yes" : "no");
	return (0);
}

/* Sends one message; the reply or the failure reaches cb. */
int
mllp_client_send(struct mllp_client *cl, const void *msg, size_t len,
    mllp_reply_cb cb, void *arg, char **cause)
{
	if (cl->busy) {
		xasprintf(cause, "a message is already outstanding");
		return (-1);
	}
	if (cl->bev == NULL && mllp_client_connect(cl, cause) == -1)
		return (-1);
	if (mllp_frame_put(bufferevent_get_output(cl->bev), msg, len) == -1) {
		xasprintf(cause, "cannot queue the message");
		mllp_client_disconnect(cl);
		return (-1);
	}
	if (cl->has_tv)
		bufferevent_set_timeouts(cl->bev, &cl->tv, &cl->tv);
	cl->busy = 1;
	cl->cb = cb;
	cl->arg = arg;
	return (0);
}

/* Closes the connection and frees the client (safe inside its callback). */
void
mllp_client_free(struct mllp_client *cl)
{
	if (cl == NULL)
		return;
	if (cl->in_cb) {
		cl->freed = 1;
		return;
	}
	mllp_client_disconnect(cl);
	evbuffer_free(cl->reply);
	free(cl->host);
	free(cl->tls_host);
	free(cl);
}
