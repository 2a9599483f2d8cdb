/* tls.c: OpenSSL contexts, peer identity and TLS bufferevents. */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dbuf.h"
#include "tls.h"
#include "xmalloc.h"

/* TLS 1.2 suites: forward secrecy and AEAD only. TLS 1.3 keeps its own. */
#define TLS_CIPHERS_12 \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

#define TLS_SUBJECT_MAX	4096
#define TLS_CN_MAX	1024
#define TLS_SESSION_CONTEXT	"isn"

/* Append an OpenSSL error's reason unless the string already has it. */
static void
tls_error_add(struct dbuf *b, unsigned long e)
{
	const char	*r;
	char		 tmp[256];

	if ((r = ERR_reason_error_string(e)) == NULL) {
		ERR_error_string_n(e, tmp, sizeof(tmp));
		r = tmp;
	}
	if (strstr(dbuf_str(b), r) != NULL)
		return;
	if (b->len != 0)
		dbuf_addstr(b, ": ");
	dbuf_addstr(b, r);
}

/* OpenSSL's queued reasons as one string, emptying the queue. */
static char *
tls_errors(void)
{
	struct dbuf	 b;
	unsigned long	 e;

	dbuf_init(&b, 1024);
	while ((e = ERR_get_error()) != 0)
		tls_error_add(&b, e);
	if (b.len == 0)
		dbuf_addstr(&b, "unknown OpenSSL error");
	return (dbuf_take(&b, NULL));
}

/* Fills *cause with "what file: reason" from the OpenSSL error queue. */
static void
tls_fail(char **cause, const char *what, const char *file)
{
	char	*why;

	why = tls_errors();
	if (file != NULL)
		xasprintf(cause, "%s %s: %s", what, file, why);
	else
		xasprintf(cause, "%s: %s", what, why);
	free(why);
}

/* Checks a file can be read, so that the cause gives the errno text. */
static int
tls_readable(const char *what, const char *file, char **cause)
{
	if (access(file, R_OK) == -1) {
		xasprintf(cause, "%s %s: %s", what, file, strerror(errno));
		return (-1);
	}
	return (0);
}

/* Settings shared by both sides: versions, ciphers, options. */
static SSL_CTX *
tls_ctx_new(const SSL_METHOD *method, char **cause)
{
	SSL_CTX	*ctx;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(method)) == NULL) {
		tls_fail(cause, "cannot create TLS context", NULL);
		return (NULL);
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, 0) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12) != 1) {
		tls_fail(cause, "cannot set TLS versions and ciphers", NULL);
		SSL_CTX_free(ctx);
		return (NULL);
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return (ctx);
}

/* Loads certificate chain and key and checks that they belong together. */
static int
tls_load_identity(SSL_CTX *ctx, const struct tls_conf *tc, char **cause)
{
	if (tc->key_file == NULL || *tc->key_file == '\0') {
		xasprintf(cause, "certificate %s given without a key file",
		    tc->cert_file);
		return (-1);
	}
	if (tls_readable("cannot read certificate", tc->cert_file, cause) ||
	    tls_readable("cannot read key", tc->key_file, cause))
		return (-1);
	if (SSL_CTX_use_certificate_chain_file(ctx, tc->cert_file) != 1) {
		tls_fail(cause, "cannot load certificate", tc->cert_file);
		return (-1);
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, tc->key_file,
	    SSL_FILETYPE_PEM) != 1) {
		tls_fail(cause, "cannot load key", tc->key_file);
		return (-1);
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_fail(cause, "key does not match certificate", tc->key_file);
		return (-1);
	}
	return (0);
}

/* Loads the trusted CAs and, when given, the CRLs checked for the leaf. */
static int
tls_load_trust(SSL_CTX *ctx, const struct tls_conf *tc, int server,
    char **cause)
{
	X509_STORE		*st;
	X509_LOOKUP		*lu;
	STACK_OF(X509_NAME)	*names;

	if (tc->ca_file == NULL || *tc->ca_file == '\0') {
		if (server) {
			xasprintf(cause, "verifying clients needs a CA file");
			return (-1);
		}
		if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
			tls_fail(cause, "cannot load the system CAs", NULL);
			return (-1);
		}
	} else {
		if (tls_readable("cannot read CA file", tc->ca_file, cause))
			return (-1);
		if (SSL_CTX_load_verify_locations(ctx, tc->ca_file,
		    NULL) != 1) {
			tls_fail(cause, "cannot load CA file", tc->ca_file);
			return (-1);
		}
		if (server) {
			if ((names = SSL_load_client_CA_file(tc->ca_file)) ==
			    NULL) {
				tls_fail(cause, "cannot load CA names",
				    tc->ca_file);
				return (-1);
			}
			SSL_CTX_set_client_CA_list(ctx, names);
		}
	}
	if (tc->crl_file != NULL && *tc->crl_file != '\0') {
		if (tls_readable("cannot read CRL file", tc->crl_file, cause))
			return (-1);
		st = SSL_CTX_get_cert_store(ctx);
		if ((lu = X509_STORE_add_lookup(st, X509_LOOKUP_file())) ==
		    NULL || X509_load_crl_file(lu, tc->crl_file,
		    X509_FILETYPE_PEM) <= 0) {
			tls_fail(cause, "cannot load CRL file", tc->crl_file);
			return (-1);
		}
		X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK);
	}
	return (0);
}

/* Verify the peer if configured; a server then requires a certificate. */
static int
tls_set_verify(SSL_CTX *ctx, const struct tls_conf *tc, int server,
    char **cause)
{
	if (!tc->verify_peer) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return (0);
	}
	if (tls_load_trust(ctx, tc, server, cause) == -1)
		return (-1);
	SSL_CTX_set_verify(ctx, server ? SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER, NULL);
	return (0);
}

/* A server context: certificate required, client certificates optional. */
SSL_CTX *
tls_server_ctx(const struct tls_conf *tc, char **cause)
{
	SSL_CTX	*ctx;

	if (tc->cert_file == NULL || *tc->cert_file == '\0') {
		xasprintf(cause, "a TLS server needs a certificate file");
		return (NULL);
	}
	if ((ctx = tls_ctx_new(TLS_server_method(), cause)) == NULL)
		return (NULL);
	if (tls_load_identity(ctx, tc, cause) == -1)
		goto fail;
	if (tls_set_verify(ctx, tc, 1, cause) == -1)
		goto fail;
	/*
	 * A server that verifies peers must name its session context, or
	 * OpenSSL fails every resumed handshake ("session id context
	 * uninitialized"). A reload builds a new context: sessions of the
	 * old one (and its CRL) are not resumed.
	 */
	if (SSL_CTX_set_session_id_context(ctx, (const unsigned char *)
	    TLS_SESSION_CONTEXT, sizeof(TLS_SESSION_CONTEXT) - 1) != 1) {
		tls_fail(cause, "cannot set the session id context", NULL);
		goto fail;
	}
	return (ctx);

fail:
	SSL_CTX_free(ctx);
	return (NULL);
}

/* A client context: verifies the server unless told not to. */
SSL_CTX *
tls_client_ctx(const struct tls_conf *tc, char **cause)
{
	SSL_CTX	*ctx;

	if ((ctx = tls_ctx_new(TLS_client_method(), cause)) == NULL)
		return (NULL);
	if (tc->cert_file != NULL && *tc->cert_file != '\0' &&
	    tls_load_identity(ctx, tc, cause) == -1)
		goto fail;
	if (tls_set_verify(ctx, tc, 0, cause) == -1)
		goto fail;
	return (ctx);

fail:
	SSL_CTX_free(ctx);
	return (NULL);
}

/* Names the server the client expects: an IP literal or a DNS name. */
int
tls_client_set_host(SSL *ssl, const char *host)
{
	X509_VERIFY_PARAM	*vp;
	unsigned char		 addr[sizeof(struct in6_addr)];
	int			 ip;

	vp = SSL_get0_param(ssl);
	ip = inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1;
	if (ip)
		return (X509_VERIFY_PARAM_set1_ip_asc(vp, host) == 1 ? 0 : -1);
	X509_VERIFY_PARAM_set_hostflags(vp,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (X509_VERIFY_PARAM_set1_host(vp, host, 0) != 1)
		return (-1);
	if (SSL_set_tlsext_host_name(ssl, host) != 1)
		return (-1);
	return (0);
}

/* Writes the SHA-256 of the DER certificate as lower-case hex. */
int
tls_fingerprint(X509 *x, char out[TLS_FP_HEX_LEN + 1])
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 len, i;

	if (X509_digest(x, EVP_sha256(), md, &len) != 1 || len != 32)
		return (-1);
	for (i = 0; i < len; i++) {
		out[i * 2] = hex[md[i] >> 4];
		out[i * 2 + 1] = hex[md[i] & 0xf];
	}
	out[len * 2] = '\0';
	return (0);
}

/* The subject as one RFC 2253 line, bounded. */
static char *
tls_subject(X509_NAME *name)
{
	BIO	*bio;
	char	*data, *s;
	long	 len;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return (NULL);
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) < 0) {
		BIO_free(bio);
		return (NULL);
	}
	len = BIO_get_mem_data(bio, &data);
	if (len < 0 || len > TLS_SUBJECT_MAX)
		s = NULL;
	else
		s = xstrndup(data, (size_t)len);
	BIO_free(bio);
	return (s);
}

/* The last common name of the subject as UTF-8, "" when there is none. */
static char *
tls_common_name(X509_NAME *name)
{
	X509_NAME_ENTRY	*ne;
	unsigned char	*utf8;
	char		*s;
	int		 i, last = -1, len;

	while ((i = X509_NAME_get_index_by_NID(name, NID_commonName,
	    last)) >= 0)
		last = i;
	if (last < 0)
		return (xstrdup(""));
	ne = X509_NAME_get_entry(name, last);
	len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(ne));
	if (len < 0)
		return (NULL);
	if (len > TLS_CN_MAX || memchr(utf8, '\0', (size_t)len) != NULL)
		s = NULL;
	else
		s = xstrndup((char *)utf8, (size_t)len);
	OPENSSL_free(utf8);
	return (s);
}

/* Reads the identity of a peer whose certificate passed verification. */
int
tls_peer_identity(SSL *ssl, struct tls_peer *p, char **cause)
{
	X509	*x;
	long	 vr;
	int	 i;

	memset(p, 0, sizeof(*p));
	if ((x = SSL_get0_peer_certificate(ssl)) == NULL) {
		xasprintf(cause, "peer sent no certificate");
		return (-1);
	}
	if ((vr = SSL_get_verify_result(ssl)) != X509_V_OK) {
		xasprintf(cause, "peer certificate not verified: %s",
		    X509_verify_cert_error_string(vr));
		return (-1);
	}
	if ((p->subject = tls_subject(X509_get_subject_name(x))) == NULL ||
	    (p->common_name = tls_common_name(X509_get_subject_name(x))) ==
	    NULL || tls_fingerprint(x, p->fingerprint) == -1) {
		xasprintf(cause, "cannot read the peer certificate");
		tls_peer_clear(p);
		ERR_clear_error();
		return (-1);
	}
	for (i = 0; i < TLS_FP_HEX_LEN / 2; i++) {
		p->fingerprint_colon[i * 3] = p->fingerprint[i * 2];
		p->fingerprint_colon[i * 3 + 1] = p->fingerprint[i * 2 + 1];
		p->fingerprint_colon[i * 3 + 2] = ':';
	}
	p->fingerprint_colon[TLS_FP_COLON_LEN] = '\0';
	return (0);
}

/* Frees what tls_peer_identity allocated. */
void
tls_peer_clear(struct tls_peer *p)
{
	free(p->subject);
	free(p->common_name);
	memset(p, 0, sizeof(*p));
}

/* Lower-case hex digits of a fingerprint without separators, or -1. */
static int
tls_fp_normalise(const char *s, unsigned char out[TLS_FP_HEX_LEN])
{
	size_t	n = 0;
	int	c, bad = 0;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c == ':' || c == ' ')
			continue;
		if (c >= 'A' && c <= 'F')
			c += 'a' - 'A';
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			bad = 1;
		if (n < TLS_FP_HEX_LEN)
			out[n] = (unsigned char)c;
		n++;
	}
	return (bad || n != TLS_FP_HEX_LEN ? -1 : 0);
}

/* Equal fingerprints, compared without leaking where they differ. */
int
tls_fingerprint_equal(const char *a, const char *b)
{
	unsigned char	na[TLS_FP_HEX_LEN], nb[TLS_FP_HEX_LEN];
	int		ra, rb;

	if (a == NULL || b == NULL)
		return (0);
	memset(na, 0, sizeof(na));
	memset(nb, 1, sizeof(nb));
	ra = tls_fp_normalise(a, na);
	rb = tls_fp_normalise(b, nb);
	if (CRYPTO_memcmp(na, nb, sizeof(na)) != 0)
		return (0);
	return (ra == 0 && rb == 0);
}

/* Common settings for both bufferevent sides. */
static struct bufferevent *
tls_bufferevent(struct event_base *base, evutil_socket_t fd, SSL *ssl,
    enum bufferevent_ssl_state state)
{
	struct bufferevent	*bev;

	bev = bufferevent_openssl_socket_new(base, fd, ssl, state,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL)
		return (NULL);
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return (bev);
}

/* A bufferevent that runs the server side of the handshake on fd. */
struct bufferevent *
tls_bufferevent_server(struct event_base *base, evutil_socket_t fd,
    SSL_CTX *ctx)
{
	SSL	*ssl;

	if ((ssl = SSL_new(ctx)) == NULL)
		return (NULL);
	return (tls_bufferevent(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING));
}

/* A bufferevent that will run the client handshake once connected. */
struct bufferevent *
tls_bufferevent_client(struct event_base *base, SSL_CTX *ctx,
    const char *host)
{
	SSL	*ssl;

	if ((ssl = SSL_new(ctx)) == NULL)
		return (NULL);
	if (host != NULL && tls_client_set_host(ssl, host) == -1) {
		SSL_free(ssl);
		return (NULL);
	}
	return (tls_bufferevent(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING));
}

/*
 * A refused peer's socket (tls_refused_new): its input dropped until it
 * closes or the deadline passes. The event's timeout would restart at
 * each read, so after one it is re-armed with what is left.
 */
struct tls_refused {
	struct event	*ev;
	struct timeval	 end;
	void		(*done)(void *);
	void		*arg;
};

/* 1 while the peer may send more, 0 once it has closed or failed. */
static int
tls_refused_read(evutil_socket_t fd)
{
	char	buf[4096];
	ssize_t	n;

	n = read(fd, buf, sizeof(buf));
	return (n > 0 || (n == -1 && (errno == EAGAIN || errno == EINTR)));
}

static void
tls_refused_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tls_refused	*t = arg;
	struct timeval		 now, left;

	event_base_gettimeofday_cached(event_get_base(t->ev), &now);
	if ((what & EV_TIMEOUT) || !tls_refused_read(fd) ||
	    !evutil_timercmp(&now, &t->end, <)) {
		t->done(t->arg);	/* frees t */
		return;
	}
	evutil_timersub(&t->end, &now, &left);
	if (event_add(t->ev, &left) == -1)
		t->done(t->arg);
}

struct tls_refused *
tls_refused_new(struct event_base *base, evutil_socket_t fd, int ms,
    void (*done)(void *), void *arg)
{
	struct tls_refused	*t;
	struct timeval		 tv = { ms / 1000, (ms % 1000) * 1000 };

	if (fd == -1 || shutdown(fd, SHUT_WR) == -1)
		return (NULL);
	t = xcalloc(1, sizeof(*t));
	t->done = done;
	t->arg = arg;
	event_base_gettimeofday_cached(base, &t->end);
	evutil_timeradd(&t->end, &tv, &t->end);
	t->ev = event_new(base, fd, EV_READ | EV_PERSIST, tls_refused_cb, t);
	if (t->ev == NULL || event_add(t->ev, &tv) == -1) {
		tls_refused_free(t);
		return (NULL);
	}
	return (t);
}

void
tls_refused_free(struct tls_refused *t)
{
	if (t == NULL)
		return;
	if (t->ev != NULL)
		event_free(t->ev);
	free(t);
}

/* Explains a TLS bufferevent's failure for a cause string. */
char *
tls_bufferevent_cause(struct bufferevent *bev)
{
	struct dbuf	 b;
	SSL		*ssl;
	unsigned long	 e;
	long		 vr;
	int		 serr;

	dbuf_init(&b, 2048);
	ssl = bufferevent_openssl_get_ssl(bev);
	if (ssl != NULL && (vr = SSL_get_verify_result(ssl)) != X509_V_OK)
		dbuf_printf(&b, "certificate verify failed: %s",
		    X509_verify_cert_error_string(vr));
	while ((e = bufferevent_get_openssl_error(bev)) != 0) {
		/* libevent also queues bare SSL_get_error() codes. */
		if (ERR_GET_LIB(e) != 0)
			tls_error_add(&b, e);
	}
	if (b.len == 0) {
		serr = EVUTIL_SOCKET_ERROR();
		if (serr != 0)
			dbuf_addstr(&b, evutil_socket_error_to_string(serr));
		else
			dbuf_addstr(&b, "connection closed during TLS");
	}
	return (dbuf_take(&b, NULL));
}
