/*
 * httpd.h: the clearinghouse's streaming HTTP/1.1 server on libevent
 * (style.md 9.1: evhttp in 2.1.12 buffers whole bodies). Request bodies
 * reach the handler chunk by chunk as they arrive, with back-pressure
 * (HTTPD_PAUSE stops reading from the socket); replies are small buffers or
 * streams pulled from a source as the socket drains. Plain or TLS
 * (shared/tls.c); with TLS the verified peer identity is on every request.
 * See docs/design/httpd.md.
 */
#ifndef ISN_HTTPD_H
#define ISN_HTTPD_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "http.h"
#include "tls.h"

/* Handler and source return values. */
#define HTTPD_ERROR	-1	/* give up: 500 unless replied, then close */
#define HTTPD_OK	0	/* go on */
#define HTTPD_PAUSE	1	/* stop until httpd_req_resume / _reply_resume */
#define HTTPD_END	2	/* source only: the reply body is complete */

struct httpd_req_stats;

struct httpd_conf {
	SSL_CTX		*tls;		/* NULL: plain HTTP; not owned */
	int		 require_peer;	/* TLS: no verified peer, no handler */
	size_t		 max_conns;	/* 0 = 512 */
	unsigned	 max_requests;	/* per connection, 0 = 100 */
	struct http_limits limits;	/* http.c defaults; max_body 0 = none */
	int		 header_timeout_ms;	/* whole head (and TLS), 10 s */
	int		 body_timeout_ms;	/* no body byte for this, 60 s */
	int		 keepalive_timeout_ms;	/* idle between requests, 15 s */
	int		 write_timeout_ms;	/* no write progress, 60 s */
	size_t		 read_hiwat;	/* input buffered at most, 256 KiB */
	size_t		 write_hiwat;	/* source refill level, 256 KiB */
	/* Called once per request as it ends, before the handler's fini. */
	void		(*observe)(const struct httpd_req_stats *, void *);
	void		*observe_arg;
};

struct httpd;
struct httpd_req;

/* What an ended request did (httpd_conf.observe). */
struct httpd_req_stats {
	const char	*path;		/* request path, no query */
	int		 status;	/* 0: no reply started */
	int		 completed;	/* as fini's */
	uint64_t	 bytes_in;	/* decoded body */
	uint64_t	 bytes_out;	/* reply, on the wire */
	double		 seconds;	/* from the head to the end */
};

/*
 * A handler, chosen by the longest path prefix ("/a" matches "/a", "/a/b",
 * "/a?q", not "/ab"). Callbacks run on the loop and must not block.
 * head: the head is parsed; reply now to refuse (the body is then not
 *   read and the connection closes after the reply).
 * body: decoded body bytes (Content-Length or chunked), in order. After
 *   HTTPD_PAUSE no more body arrives until httpd_req_resume().
 * done: the whole body has been delivered; reply now or later.
 * fini: the request is over (completed 1: the reply was sent in full;
 *   0: aborted by the peer, a timeout, an error or httpd_free). The req
 *   pointer is invalid afterwards. Always called once after head.
 * Any may be NULL (done NULL: 500).
 */
struct httpd_handler {
	int	(*head)(struct httpd_req *, void *);
	int	(*body)(struct httpd_req *, const void *, size_t, void *);
	void	(*done)(struct httpd_req *, void *);
	void	(*fini)(struct httpd_req *, int completed, void *);
	/*
	 * The route's methods besides OPTIONS ("POST"), for the Allow header
	 * of httpd's own answer to OPTIONS, which never reaches the handler:
	 * 204, the connection kept (a client may open it ahead of its first
	 * real request).
	 */
	const char *allow;
};

/* One extra reply header; arrays end with name NULL. */
struct httpd_hdr {
	const char	*name;
	const char	*value;
};

/*
 * A reply body source: append up to want bytes to out (evbuffer_add,
 * evbuffer_add_file...) and return HTTPD_OK, HTTPD_END (may append too),
 * HTTPD_PAUSE (nothing now: call httpd_reply_resume later) or HTTPD_ERROR
 * (the connection is cut). Called whenever the output has drained.
 */
typedef int (*httpd_source_cb)(struct httpd_req *, struct evbuffer *out,
	    size_t want, void *);

/* Server. */
struct httpd	*httpd_new(struct event_base *, const struct httpd_conf *);
/* Listen on "host:port" (IP literal, port may be 0); -1 and *cause. */
int		 httpd_listen(struct httpd *, const char *, char **cause);
int		 httpd_port(const struct httpd *);	/* bound port */
void		 httpd_route(struct httpd *, const char *prefix,
		    const struct httpd_handler *, void *arg);
size_t		 httpd_conn_count(const struct httpd *);
/*
 * Graceful stop: close the listener and idle connections, let requests
 * in flight finish (no keep-alive), cut what is left after drain_ms, then
 * call cb once (from the loop). Safe to call from a handler.
 */
void		 httpd_stop(struct httpd *, int drain_ms,
		    void (*cb)(struct httpd *, void *), void *);
/* Immediate: aborts every request (fini 0). Not from a handler. */
void		 httpd_free(struct httpd *);

/* Request accessors (valid until fini returns). */
const char	*httpd_req_method(const struct httpd_req *);
const char	*httpd_req_target(const struct httpd_req *);
const char	*httpd_req_path(const struct httpd_req *);	/* no query */
const char	*httpd_req_header(const struct httpd_req *, const char *);
const struct http_msg *httpd_req_msg(const struct httpd_req *);
/* The verified TLS peer, NULL on plain connections. */
const struct tls_peer *httpd_req_peer(const struct httpd_req *);
const char	*httpd_req_conn_id(const struct httpd_req *);
/* The client's IP address, numeric ("?" when unknown): for audit records. */
const char	*httpd_req_peer_addr(const struct httpd_req *);
unsigned	 httpd_req_seq(const struct httpd_req *);	/* 1, 2... */
uint64_t	 httpd_req_body_bytes(const struct httpd_req *);
void		 httpd_req_set_data(struct httpd_req *, void *);
void		*httpd_req_data(const struct httpd_req *);
/* Back-pressure on the request body (also: return HTTPD_PAUSE). */
void		 httpd_req_pause(struct httpd_req *);
void		 httpd_req_resume(struct httpd_req *);

/*
 * Replies. httpd_reply sends a whole small reply. A streamed reply is
 * httpd_reply_start (length >= 0: Content-Length; -1: chunked, or to the
 * close for HTTP/1.0), then httpd_reply_chunk and/or one source, then
 * httpd_reply_end (a source ends by returning HTTPD_END). 0 or -1 (no
 * reply allowed now, bad header, length overrun).
 */
int		 httpd_reply(struct httpd_req *, int status, const char *ctype,
		    const void *, size_t);
int		 httpd_reply_start(struct httpd_req *, int status,
		    const struct httpd_hdr *, int64_t length);
int		 httpd_reply_chunk(struct httpd_req *, const void *, size_t);
int		 httpd_reply_source(struct httpd_req *, httpd_source_cb,
		    void *);
void		 httpd_reply_resume(struct httpd_req *);
int		 httpd_reply_end(struct httpd_req *);
/* Bytes queued on the connection, not yet written. */
size_t		 httpd_reply_pending(const struct httpd_req *);

const char	*httpd_reason(int status);

#endif
