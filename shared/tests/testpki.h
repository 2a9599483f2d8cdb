/*
 * testpki.h: a throwaway PKI for the C tests (test_tls, test_httpd):
 * EC P-256 keys and certificates made with the OpenSSL API, written as
 * PEM files. Subjects are "CN=<cn>,O=ISN Test"; valid from an hour ago
 * for a day. Every failure is fatal (the test cannot go on).
 */
#ifndef ISN_TESTPKI_H
#define ISN_TESTPKI_H

#include <openssl/evp.h>
#include <openssl/x509.h>

struct testpki {
	EVP_PKEY	*key;
	X509		*cert;
};

/*
 * A key and a certificate signed by issuer (NULL: self-signed). ca makes
 * a CA (keyCertSign, cRLSign); otherwise a leaf for serverAuth and
 * clientAuth. san is a subjectAltName value ("IP:127.0.0.1") or NULL.
 */
void	testpki_make(struct testpki *, const char *cn,
	    const struct testpki *issuer, int ca, const char *san,
	    long serial);
/* dir/certname and, when keyname is not NULL, dir/keyname. */
void	testpki_write(const struct testpki *, const char *dir,
	    const char *certname, const char *keyname);
void	testpki_free(struct testpki *);

#endif
