/*
 * test_tls.c: TLS contexts, peer identity and fingerprints, and mutual TLS
 * over real MLLP connections on 127.0.0.1. A throwaway CA, server and
 * client certificates and a CRL are made here with the OpenSSL API.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "mllp.h"
#include "tap.h"
#include "testpki.h"
#include "tls.h"
#include "xmalloc.h"

static char	 tt_dir[64];

/* A path inside the temporary folder (static buffer per slot). */
static char *
tt_path(const char *name)
{
	static char	buf[8][256];
	static int	slot;

	slot = (slot + 1) % 8;
	snprintf(buf[slot], sizeof(buf[slot]), "%s/%s", tt_dir, name);
	return (buf[slot]);
}

/* A CRL from ca revoking one serial number. */
static void
tt_crl(struct testpki *ca, long serial, const char *name)
{
	X509_CRL	*crl;
	X509_REVOKED	*rev;
	ASN1_INTEGER	*sn;
	ASN1_TIME	*t0, *t1;
	FILE		*f;

	crl = X509_CRL_new();
	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert));
	t0 = X509_time_adj_ex(NULL, 0, -3600, NULL);
	t1 = X509_time_adj_ex(NULL, 1, 0, NULL);
	X509_CRL_set1_lastUpdate(crl, t0);
	X509_CRL_set1_nextUpdate(crl, t1);
	rev = X509_REVOKED_new();
	sn = ASN1_INTEGER_new();
	ASN1_INTEGER_set(sn, serial);
	X509_REVOKED_set_serialNumber(rev, sn);
	X509_REVOKED_set_revocationDate(rev, t0);
	X509_CRL_add0_revoked(crl, rev);
	X509_CRL_sort(crl);
	if (X509_CRL_sign(crl, ca->key, EVP_sha256()) == 0)
		fatalx("cannot sign CRL");
	if ((f = fopen(tt_path(name), "w")) == NULL ||
	    PEM_write_X509_CRL(f, crl) != 1 || fclose(f) != 0)
		fatal("cannot write %s", name);
	ASN1_INTEGER_free(sn);
	ASN1_TIME_free(t0);
	ASN1_TIME_free(t1);
	X509_CRL_free(crl);
}

/* One exchange: what the server saw and what the client got. */
struct tt_run {
	struct event_base	*base;
	int			 server_calls;
	int			 had_peer;
	char			*subject;
	char			*cn;
	char			 fp[TLS_FP_HEX_LEN + 1];
	char			 fpc[TLS_FP_COLON_LEN + 1];
	int			 replied;
	char			*reply;
	char			*cause;
};

static void
tt_server_cb(struct mllp_conn *conn, const struct tls_peer *peer,
    const char *msg, size_t len, void *arg)
{
	struct tt_run	*r = arg;

	(void)msg;
	(void)len;
	r->server_calls++;
	if (peer != NULL) {
		r->had_peer = 1;
		r->subject = xstrdup(peer->subject);
		r->cn = xstrdup(peer->common_name);
		strlcpy(r->fp, peer->fingerprint, sizeof(r->fp));
		strlcpy(r->fpc, peer->fingerprint_colon, sizeof(r->fpc));
	}
	mllp_conn_reply(conn, "ACK", 3);
}

static void
tt_client_cb(struct mllp_client *cl, const char *reply, size_t len,
    const char *cause, void *arg)
{
	struct tt_run	*r = arg;

	(void)cl;
	if (reply != NULL) {
		r->replied = 1;
		r->reply = xstrndup(reply, len);
	} else
		r->cause = xstrdup(cause);
	event_base_loopbreak(r->base);
}

/* Runs one message from a client context to a server context. */
static void
tt_exchange(struct tt_run *r, SSL_CTX *sctx, SSL_CTX *cctx, const char *host)
{
	struct mllp_server	*srv;
	struct mllp_client	*cl;
	struct timeval		 guard = { 20, 0 };
	char			*cause = NULL, addr[64];

	memset(r, 0, sizeof(*r));
	if ((r->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	srv = mllp_server_new(r->base, "127.0.0.1:0", sctx, 65536, 10,
	    tt_server_cb, r, &cause);
	if (srv == NULL)
		fatalx("server: %s", cause);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", mllp_server_port(srv));
	if ((cl = mllp_client_new(r->base, addr, cctx, host, 65536, 10,
	    &cause)) == NULL ||
	    mllp_client_send(cl, "MSH|^~\\&|T", 10, tt_client_cb, r,
	    &cause) == -1)
		fatalx("client: %s", cause);
	/* A safety net against a hang, not a synchronisation. */
	event_base_loopexit(r->base, &guard);
	event_base_dispatch(r->base);
	mllp_client_free(cl);
	mllp_server_free(srv);
	event_base_free(r->base);
}

static void
tt_clear(struct tt_run *r)
{
	free(r->subject);
	free(r->cn);
	free(r->reply);
	free(r->cause);
}

/* A client context from files in the temporary folder. */
static SSL_CTX *
tt_client(const char *cert, const char *key, const char *ca)
{
	struct tls_conf	 tc;
	SSL_CTX		*ctx;
	char		*cause = NULL;

	memset(&tc, 0, sizeof(tc));
	tc.cert_file = cert != NULL ? tt_path(cert) : NULL;
	tc.key_file = key != NULL ? tt_path(key) : NULL;
	tc.ca_file = tt_path(ca);
	tc.verify_peer = 1;
	if ((ctx = tls_client_ctx(&tc, &cause)) == NULL)
		fatalx("client ctx: %s", cause);
	return (ctx);
}

static void
tt_sink(int pri, const char *line, void *arg)
{
	(void)pri;
	(void)arg;
	printf("# log: %s\n", line);
}

static void
test_fingerprints(void)
{
	const char	*a =
	    "5d41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c592";
	const char	*a_up =
	    "5D41402ABC4B2A76B9719D911017C5925D41402ABC4B2A76B9719D911017C592";
	const char	*a_colon = "5d:41:40:2a:bc:4b:2a:76:b9:71:9d:91:10:17:"
	    "c5:92:5d:41:40:2a:bc:4b:2a:76:b9:71:9d:91:10:17:c5:92";
	const char	*b =
	    "5d41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c593";

	ok(tls_fingerprint_equal(a, a), "fingerprint equals itself");
	ok(tls_fingerprint_equal(a, a_up), "fingerprint compare ignores case");
	ok(tls_fingerprint_equal(a_colon, a_up),
	    "fingerprint compare ignores colons");
	ok(!tls_fingerprint_equal(a, b), "last digit differs");
	ok(!tls_fingerprint_equal(a, "5d41"), "short fingerprint never equal");
	ok(!tls_fingerprint_equal("", ""), "empty fingerprints not equal");
	ok(!tls_fingerprint_equal(a, NULL), "NULL never equal");
	ok(!tls_fingerprint_equal(
	    "zz41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c592",
	    "zz41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c592"),
	    "non-hex fingerprints not equal even to themselves");
	ok(!tls_fingerprint_equal("00:" "5d41402abc4b2a76b9719d911017c592"
	    "5d41402abc4b2a76b9719d911017c592", "00:" "5d41402abc4b2a76b9719d9"
	    "11017c5925d41402abc4b2a76b9719d911017c592"),
	    "long fingerprints not equal");
}

static void
test_contexts(void)
{
	struct tls_conf	 tc;
	SSL_CTX		*ctx;
	char		*cause = NULL;

	memset(&tc, 0, sizeof(tc));
	tc.cert_file = tt_path("missing.pem");
	tc.key_file = tt_path("server.key");
	ctx = tls_server_ctx(&tc, &cause);
	ok(ctx == NULL && cause != NULL &&
	    strstr(cause, "missing.pem") != NULL &&
	    strstr(cause, "No such file") != NULL,
	    "missing certificate file named with its reason");
	tap_diag("cause: %s", cause ? cause : "(null)");
	free(cause);
	cause = NULL;

	tc.cert_file = tt_path("server.pem");
	tc.key_file = tt_path("client1.key");
	ctx = tls_server_ctx(&tc, &cause);
	ok(ctx == NULL && cause != NULL &&
	    strstr(cause, "client1.key") != NULL &&
	    strstr(cause, "mismatch") != NULL,
	    "key not matching the certificate is refused");
	tap_diag("cause: %s", cause ? cause : "(null)");
	free(cause);
	cause = NULL;

	tc.key_file = tt_path("ca.pem");
	ctx = tls_server_ctx(&tc, &cause);
	ok(ctx == NULL && cause != NULL && strstr(cause, "ca.pem") != NULL,
	    "a certificate given as key is refused");
	tap_diag("cause: %s", cause ? cause : "(null)");
	free(cause);
	cause = NULL;

	tc.key_file = tt_path("server.key");
	tc.verify_peer = 1;
	ctx = tls_server_ctx(&tc, &cause);
	ok(ctx == NULL && cause != NULL && strstr(cause, "CA file") != NULL,
	    "verifying clients without a CA file is refused");
	free(cause);
	cause = NULL;

	tc.ca_file = tt_path("ca.pem");
	tc.crl_file = tt_path("nocrl.pem");
	ctx = tls_server_ctx(&tc, &cause);
	ok(ctx == NULL && cause != NULL &&
	    strstr(cause, "nocrl.pem") != NULL, "missing CRL file named");
	free(cause);
	cause = NULL;

	tc.crl_file = tt_path("ca.pem");
	ctx = tls_server_ctx(&tc, &cause);
	ok(ctx == NULL && cause != NULL && strstr(cause, "CRL") != NULL,
	    "a file without CRLs is refused as CRL file");
	tap_diag("cause: %s", cause ? cause : "(null)");
	free(cause);
	cause = NULL;

	tc.crl_file = tt_path("crl.pem");
	ctx = tls_server_ctx(&tc, &cause);
	ok(ctx != NULL && cause == NULL, "full server context");
	SSL_CTX_free(ctx);

	memset(&tc, 0, sizeof(tc));
	ctx = tls_server_ctx(&tc, &cause);
	ok(ctx == NULL && cause != NULL, "server without certificate");
	free(cause);
	cause = NULL;

	tc.cert_file = tt_path("client1.pem");
	ctx = tls_client_ctx(&tc, &cause);
	ok(ctx == NULL && cause != NULL && strstr(cause, "key") != NULL,
	    "client certificate without key");
	free(cause);
	cause = NULL;
}

int
main(void)
{
	struct testpki	 ca, other_ca, server, client1, client2, other;
	struct tls_conf	 tc;
	struct tt_run	 r;
	SSL_CTX		*sctx, *cctx;
	FILE		*f;
	X509		*x;
	char		 fp[TLS_FP_HEX_LEN + 1], fp2[TLS_FP_HEX_LEN + 1];
	char		*cause = NULL;
	const char	*files[] = { "ca.pem", "other-ca.pem", "server.pem",
	    "server.key", "client1.pem", "client1.key", "client2.pem",
	    "client2.key", "other.pem", "other.key", "crl.pem" };
	size_t		 i;

	log_set_sink(tt_sink, NULL);
	snprintf(tt_dir, sizeof(tt_dir), "/tmp/isn-test-tls-XXXXXX");
	if (mkdtemp(tt_dir) == NULL)
		fatal("mkdtemp");

	testpki_make(&ca, "ISN Test CA", NULL, 1, NULL, 1);
	testpki_make(&other_ca, "Other CA", NULL, 1, NULL, 1);
	testpki_make(&server, "isn-server", &ca, 0,
	    "IP:127.0.0.1,DNS:localhost", 2);
	testpki_make(&client1, "edge-1", &ca, 0, NULL, 3);
	testpki_make(&client2, "edge-2", &ca, 0, NULL, 4);
	testpki_make(&other, "edge-1", &other_ca, 0, NULL, 3);
	testpki_write(&ca, tt_dir, "ca.pem", NULL);
	testpki_write(&other_ca, tt_dir, "other-ca.pem", NULL);
	testpki_write(&server, tt_dir, "server.pem", "server.key");
	testpki_write(&client1, tt_dir, "client1.pem", "client1.key");
	testpki_write(&client2, tt_dir, "client2.pem", "client2.key");
	testpki_write(&other, tt_dir, "other.pem", "other.key");
	tt_crl(&ca, 4, "crl.pem");

	test_fingerprints();
	test_contexts();

	memset(&tc, 0, sizeof(tc));
	tc.cert_file = tt_path("server.pem");
	tc.key_file = tt_path("server.key");
	tc.ca_file = tt_path("ca.pem");
	tc.crl_file = tt_path("crl.pem");
	tc.verify_peer = 1;
	if ((sctx = tls_server_ctx(&tc, &cause)) == NULL)
		fatalx("server ctx: %s", cause);

	/* Mutual TLS: the server sees client1's identity. */
	cctx = tt_client("client1.pem", "client1.key", "ca.pem");
	tt_exchange(&r, sctx, cctx, "127.0.0.1");
	ok(r.replied && r.reply != NULL && strcmp(r.reply, "ACK") == 0,
	    "mutual TLS round trip");
	if (r.cause != NULL)
		tap_diag("cause: %s", r.cause);
	ok(r.server_calls == 1 && r.had_peer, "server saw a peer");
	is_str(r.subject, "CN=edge-1,O=ISN Test", "peer subject (RFC 2253)");
	is_str(r.cn, "edge-1", "peer common name");
	if (tls_fingerprint(client1.cert, fp) == -1)
		fatalx("fingerprint");
	is_str(r.fp, fp, "peer fingerprint is the client certificate's");
	is_int(strlen(r.fp), 64, "fingerprint is 64 hex digits");
	ok(tls_fingerprint_equal(r.fpc, fp) && strlen(r.fpc) == 95 &&
	    r.fpc[2] == ':', "colon fingerprint matches");
	tt_clear(&r);

	/* The server name check, by DNS name and by IP. */
	tt_exchange(&r, sctx, cctx, "localhost");
	ok(r.replied, "server accepted under its DNS name");
	tt_clear(&r);
	tt_exchange(&r, sctx, cctx, "other.example");
	ok(!r.replied && r.cause != NULL && r.server_calls == 0,
	    "client refuses a server whose name does not match");
	ok(r.cause != NULL && strstr(r.cause, "mismatch") != NULL,
	    "cause says hostname mismatch");
	tap_diag("cause: %s", r.cause ? r.cause : "(null)");
	tt_clear(&r);
	tt_exchange(&r, sctx, cctx, "127.0.0.2");
	ok(!r.replied && r.cause != NULL && strstr(r.cause, "mismatch"),
	    "client refuses a server whose IP does not match");
	tt_clear(&r);
	SSL_CTX_free(cctx);

	/* A client that does not trust the server's CA. */
	cctx = tt_client("client1.pem", "client1.key", "other-ca.pem");
	tt_exchange(&r, sctx, cctx, "127.0.0.1");
	ok(!r.replied && r.cause != NULL && r.server_calls == 0,
	    "client refuses a server from an unknown CA");
	tap_diag("cause: %s", r.cause ? r.cause : "(null)");
	tt_clear(&r);
	SSL_CTX_free(cctx);

	/* Clients the server must refuse. */
	cctx = tt_client(NULL, NULL, "ca.pem");
	tt_exchange(&r, sctx, cctx, "127.0.0.1");
	ok(!r.replied && r.cause != NULL && r.server_calls == 0,
	    "client without a certificate refused");
	tap_diag("cause: %s", r.cause ? r.cause : "(null)");
	tt_clear(&r);
	SSL_CTX_free(cctx);

	cctx = tt_client("other.pem", "other.key", "ca.pem");
	tt_exchange(&r, sctx, cctx, "127.0.0.1");
	ok(!r.replied && r.cause != NULL && r.server_calls == 0,
	    "client certificate from another CA refused");
	tap_diag("cause: %s", r.cause ? r.cause : "(null)");
	tt_clear(&r);
	SSL_CTX_free(cctx);

	cctx = tt_client("client2.pem", "client2.key", "ca.pem");
	tt_exchange(&r, sctx, cctx, "127.0.0.1");
	ok(!r.replied && r.cause != NULL && r.server_calls == 0,
	    "revoked client refused through the CRL");
	tap_diag("cause: %s", r.cause ? r.cause : "(null)");
	tt_clear(&r);
	SSL_CTX_free(cctx);

	cctx = tt_client("client1.pem", "client1.key", "ca.pem");
	SSL_CTX_set_security_level(cctx, 0);
	SSL_CTX_set_min_proto_version(cctx, TLS1_VERSION);
	SSL_CTX_set_max_proto_version(cctx, TLS1_1_VERSION);
	SSL_CTX_set_cipher_list(cctx, "DEFAULT:@SECLEVEL=0");
	tt_exchange(&r, sctx, cctx, "127.0.0.1");
	ok(!r.replied && r.cause != NULL && r.server_calls == 0,
	    "TLS 1.1 client refused");
	tap_diag("cause: %s", r.cause ? r.cause : "(null)");
	tt_clear(&r);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);

	/* A server that does not ask for certificates gives no peer. */
	memset(&tc, 0, sizeof(tc));
	tc.cert_file = tt_path("server.pem");
	tc.key_file = tt_path("server.key");
	if ((sctx = tls_server_ctx(&tc, &cause)) == NULL)
		fatalx("server ctx: %s", cause);
	cctx = tt_client(NULL, NULL, "ca.pem");
	tt_exchange(&r, sctx, cctx, "localhost");
	ok(r.replied && r.server_calls == 1 && !r.had_peer,
	    "server-only TLS: round trip without a peer identity");
	tt_clear(&r);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);

	/* tls_fingerprint agrees with the certificate file. */
	if ((f = fopen(tt_path("client1.pem"), "r")) == NULL ||
	    (x = PEM_read_X509(f, NULL, NULL, NULL)) == NULL)
		fatalx("read client1.pem");
	fclose(f);
	ok(tls_fingerprint(x, fp2) == 0 && strcmp(fp, fp2) == 0,
	    "fingerprint of the certificate file is the same");
	X509_free(x);

	testpki_free(&ca);
	testpki_free(&other_ca);
	testpki_free(&server);
	testpki_free(&client1);
	testpki_free(&client2);
	testpki_free(&other);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlink(tt_path(files[i]));
	rmdir(tt_dir);
	return (tap_done());
}
