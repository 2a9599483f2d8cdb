/*
 * testpki.c: a throwaway PKI for the C tests (testpki.h).
 */
#include "config.h"

#include <stdio.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "testpki.h"

static void
testpki_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION	*ext;

	if ((ext = X509V3_EXT_conf_nid(NULL, v3, nid, value)) == NULL ||
	    X509_add_ext(x, ext, -1) != 1)
		fatalx("cannot add extension %d", nid);
	X509_EXTENSION_free(ext);
}

void
testpki_make(struct testpki *p, const char *cn, const struct testpki *issuer,
    int ca, const char *san, long serial)
{
	X509_NAME	*name;
	X509V3_CTX	 v3;
	X509		*x;

	if ((p->key = EVP_EC_gen("P-256")) == NULL || (x = X509_new()) == NULL)
		fatalx("cannot make a key");
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, p->key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
	    (const unsigned char *)"ISN Test", -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer != NULL ?
	    X509_get_subject_name(issuer->cert) : name);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer != NULL ? issuer->cert : x, x, NULL, NULL,
	    0);
	testpki_ext(x, &v3, NID_basic_constraints,
	    ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	testpki_ext(x, &v3, NID_key_usage, ca ?
	    "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	testpki_ext(x, &v3, NID_subject_key_identifier, "hash");
	if (!ca)
		testpki_ext(x, &v3, NID_ext_key_usage, "serverAuth,clientAuth");
	if (san != NULL)
		testpki_ext(x, &v3, NID_subject_alt_name, san);
	if (X509_sign(x, issuer != NULL ? issuer->key : p->key,
	    EVP_sha256()) == 0)
		fatalx("cannot sign");
	p->cert = x;
}

static void
testpki_file(const char *dir, const char *name, const struct testpki *p,
    int key)
{
	char	 path[1024];
	FILE	*f;
	int	 r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL)
		fatal("cannot write %s", path);
	r = key ? PEM_write_PrivateKey(f, p->key, NULL, NULL, 0, NULL, NULL) :
	    PEM_write_X509(f, p->cert);
	if (r != 1 || fclose(f) != 0)
		fatal("cannot write %s", path);
}

void
testpki_write(const struct testpki *p, const char *dir, const char *certname,
    const char *keyname)
{
	testpki_file(dir, certname, p, 0);
	if (keyname != NULL)
		testpki_file(dir, keyname, p, 1);
}

void
testpki_free(struct testpki *p)
{
	EVP_PKEY_free(p->key);
	X509_free(p->cert);
	p->key = NULL;
	p->cert = NULL;
}
