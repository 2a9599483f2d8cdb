/*
 * mllp.h: HL7 Minimal Lower Layer Protocol framing (<VT> message <FS><CR>)
 * and the connections that carry it, plain TCP or TLS (tls.h).
 *
 * A server hands one message at a time per connection to its callback and
 * reads the next frame only after the reply, which may come later. A
 * client sends one message at a time and delivers the reply frame.
 */
#ifndef ISN_MLLP_H
#define ISN_MLLP_H

#include <stddef.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "tls.h"

#define MLLP_SB		0x0b	/* start block, VT */
#define MLLP_EB		0x1c	/* end block, FS */
#define MLLP_CR		0x0d

/*
 * Takes one frame off the front of in. Whitespace (space, tab, CR, LF)
 * before the start block is dropped. Returns 1 when a whole frame was
 * removed and its content appended to msg; 0 when more bytes are needed
 * (nothing but leading whitespace consumed); -1 with *cause (caller frees)
 * on a protocol error: other bytes before the start block, content longer
 * than max (found without waiting for the end block), or an end block not
 * followed by CR. After -1, in is left as it was past the whitespace.
 *
 * scan, when not NULL, remembers between calls on the same buffer how far
 * the search for the end block got, so that a frame arriving in many
 * pieces costs linear time; start it at 0 and leave it to this function.
 */
int	mllp_frame_get(struct evbuffer *in, size_t max, struct evbuffer *msg,
	    size_t *scan, char **cause);
/* Appends one frame holding msg to out. Returns 0 or -1. */
int	mllp_frame_put(struct evbuffer *out, const void *msg, size_t len);

struct mllp_server;
struct mllp_conn;
struct mllp_client;

/*
 * One received message: msg is NUL-terminated (len excludes the NUL) and
 * valid until mllp_conn_reply returns (it may itself be the reply); peer
 * is the verified client certificate's identity, or NULL on a plain
 * connection or without a client certificate.
 * The callback must later call mllp_conn_reply or mllp_conn_close exactly
 * once; conn stays valid until then even if the peer goes away.
 */
typedef void (*mllp_message_cb)(struct mllp_conn *conn,
    const struct tls_peer *peer, const char *msg, size_t len, void *arg);

/*
 * Listens on addr ("127.0.0.1:20000", "[::1]:0", "0.0.0.0:20000"; port 0
 * picks one). ctx NULL means plain TCP. timeout_secs bounds the wait for
 * the next frame, each read and write (0 means no timeout).
 */
struct mllp_server *mllp_server_new(struct event_base *, const char *addr,
	    SSL_CTX *ctx, size_t max_message, int timeout_secs,
	    mllp_message_cb, void *arg, char **cause);
int	 mllp_server_port(struct mllp_server *);
/*
 * At most n connections at once (0: MLLP_MAX_CONNS); beyond that the
 * listener pauses and the kernel's backlog holds the rest.
 */
#define MLLP_MAX_CONNS	256
void	 mllp_server_max_conns(struct mllp_server *, unsigned int n);
/*
 * Stops accepting and closes idle connections; a connection waiting for
 * its reply closes once the reply is written. mllp_server_count tells how
 * many are still open.
 */
void	 mllp_server_stop(struct mllp_server *);
unsigned int mllp_server_count(struct mllp_server *);
/* Closes everything at once; pending conns are freed, replies dropped. */
void	 mllp_server_free(struct mllp_server *);

/* Sends the reply (framed here) and goes on reading. Returns 0 or -1. */
int	 mllp_conn_reply(struct mllp_conn *, const void *, size_t);
/* Drops the connection instead of replying. */
void	 mllp_conn_close(struct mllp_conn *);
/* 16 hex digits naming the connection in log lines. */
const char *mllp_conn_id(struct mllp_conn *);
/* The peer's IP address, numeric ("?" when unknown): for audit records. */
const char *mllp_conn_peer_addr(struct mllp_conn *);

/*
 * The reply to one message, or reply NULL and cause set on failure (the
 * connection is then closed; the next send reconnects). The client may be
 * freed from inside the callback.
 */
typedef void (*mllp_reply_cb)(struct mllp_client *, const char *reply,
    size_t len, const char *cause, void *arg);

/*
 * A client for addr ("host:port"; a host name is resolved with a blocking
 * lookup). ctx NULL means plain TCP; with ctx, host (when not NULL) is the
 * DNS name or IP address the server certificate must carry. It connects
 * on the first send and keeps the connection for the next.
 */
struct mllp_client *mllp_client_new(struct event_base *, const char *addr,
	    SSL_CTX *ctx, const char *host, size_t max_reply,
	    int timeout_secs, char **cause);
/* Sends one message; -1 with *cause when one is already outstanding. */
int	 mllp_client_send(struct mllp_client *, const void *, size_t,
	    mllp_reply_cb, void *arg, char **cause);
void	 mllp_client_free(struct mllp_client *);

#endif
