/*
 * tls.h: OpenSSL contexts, peer identity and TLS bufferevents (PROFILE.md
 * section 6). TLS 1.2 is the minimum and 1.3 is preferred; TLS 1.2 offers
 * only ECDHE key exchange with AEAD ciphers. Protocol code never touches
 * OpenSSL beyond what this header gives it.
 */
#ifndef ISN_TLS_H
#define ISN_TLS_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

/* Filled by the configuration loader; every path is a PEM file. */
struct tls_conf {
	char	*cert_file;	/* certificate chain, leaf first */
	char	*key_file;	/* private key of the leaf */
	char	*ca_file;	/* CAs trusted to issue peer certificates */
	char	*crl_file;	/* optional CRLs, checked for the leaf */
	int	 verify_peer;	/* server: demand a client certificate; */
				/* client: verify the server's */
};

#define TLS_FP_HEX_LEN		64	/* lower-case hex SHA-256 */
#define TLS_FP_COLON_LEN	95	/* "ab:cd:..." */

/* Who the peer is, from its verified certificate. */
struct tls_peer {
	char	*subject;	/* one-line RFC 2253 string */
	char	*common_name;	/* UTF-8, "" when absent */
	char	 fingerprint[TLS_FP_HEX_LEN + 1];
	char	 fingerprint_colon[TLS_FP_COLON_LEN + 1];
};

/*
 * Contexts. The server needs cert_file and key_file; with verify_peer it
 * also needs ca_file and refuses clients without a valid certificate. The
 * client certificate is optional. NULL and *cause (caller frees) on error;
 * causes name the file and OpenSSL's reason.
 */
SSL_CTX	*tls_server_ctx(const struct tls_conf *, char **cause);
SSL_CTX	*tls_client_ctx(const struct tls_conf *, char **cause);

/* Make the client check the server's DNS name or IP address; sets SNI. */
int	 tls_client_set_host(SSL *, const char *host);

/* The verified peer's identity; fails without a verified certificate. */
int	 tls_peer_identity(SSL *, struct tls_peer *, char **cause);
void	 tls_peer_clear(struct tls_peer *);
/* SHA-256 fingerprint of a certificate: 64 lower-case hex digits + NUL. */
int	 tls_fingerprint(X509 *, char out[TLS_FP_HEX_LEN + 1]);
/*
 * Compares two SHA-256 fingerprints in constant time, ignoring case,
 * colons and spaces. Returns 1 when equal, 0 otherwise (also when either
 * is not 64 hex digits).
 */
int	 tls_fingerprint_equal(const char *, const char *);

/*
 * Bufferevents over TLS that free the SSL and close the socket when freed
 * and treat an unclean TCP close after the last record as end of file.
 * The server one takes an accepted socket; the client one has no socket
 * yet (use bufferevent_socket_connect) and checks host when not NULL.
 */
struct bufferevent *tls_bufferevent_server(struct event_base *,
	    evutil_socket_t, SSL_CTX *);
struct bufferevent *tls_bufferevent_client(struct event_base *, SSL_CTX *,
	    const char *host);
/* Why a TLS bufferevent failed: OpenSSL's reasons or the socket error. */
char	*tls_bufferevent_cause(struct bufferevent *);
/*
 * After a refused handshake the alert is in the socket, but under TLS 1.3
 * the client has already sent its first request or frame: closing with
 * that unread makes the kernel answer with a reset, which can reach the
 * client before the alert. So a server half-closes the socket and drops
 * what comes until the peer closes or ms pass, then done(arg) is called
 * once; it must free this (see docs/design/httpd.md). NULL when it cannot
 * be set up: close at once. The socket stays the caller's.
 */
struct tls_refused;
struct tls_refused *tls_refused_new(struct event_base *, evutil_socket_t,
	    int ms, void (*done)(void *), void *arg);
void	 tls_refused_free(struct tls_refused *);
/* At most this many refused connections linger per server; others close. */
#define TLS_REFUSED_MAX	32

#endif
