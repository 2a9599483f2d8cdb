/* rsnaid.c: tokens, access codes and RSNA-ID derivation. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "rsnaid.h"
#include "xmalloc.h"

static const char rsnaid_zbase32[] = "ybndrfg8ejkmcpqxot1uwisza345h769";
static const char rsnaid_access_alphabet[] =
    "rpshnaf39wBUDNEGHJKLM4PQRST7VWXYZ2bcdeCg65jkm8oFqi1tuvAxyz";

/* isn2 parameters: see docs/protocol.md, "RSNA-ID schemes". */
#define ISN2_SCRYPT_N		32768
#define ISN2_SCRYPT_R		8
#define ISN2_SCRYPT_P		1
#define ISN2_SCRYPT_MAXMEM	(64 * 1024 * 1024)
#define ISN2_LABEL		"urn:rsna:isn:isn2:v1"
#define ISN2_SEP		'\x1f'
#define ISN2_INFO_ID		"isn2 rsna-id"
#define ISN2_INFO_KEY		"isn2 content key"
#define ISN2_ID_BYTES		16

static const struct {
	const char		*name;
	enum rsnaid_scheme	 scheme;
} rsnaid_schemes[] = {
	{ "isn2", RSNAID_ISN2 },
	{ "rsna-token", RSNAID_RSNA_TOKEN },
	{ "rsna-access-code", RSNAID_RSNA_ACCESS_CODE },
};

int
rsnaid_scheme_parse(const char *name, enum rsnaid_scheme *out)
{
	size_t	i;

	for (i = 0; i < sizeof(rsnaid_schemes) / sizeof(*rsnaid_schemes); i++) {
		if (strcmp(name, rsnaid_schemes[i].name) == 0) {
			*out = rsnaid_schemes[i].scheme;
			return (0);
		}
	}
	return (-1);
}

const char *
rsnaid_scheme_name(enum rsnaid_scheme s)
{
	size_t	i;

	for (i = 0; i < sizeof(rsnaid_schemes) / sizeof(*rsnaid_schemes); i++)
		if (rsnaid_schemes[i].scheme == s)
			return (rsnaid_schemes[i].name);
	return ("unknown");
}

/* 8 characters x 5 bits = 40 bits from the CSPRNG. */
int
rsnaid_token_new(char out[RSNAID_TOKEN_LEN + 1])
{
	uint8_t		r[5];
	uint64_t	v = 0;
	int		i;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return (-1);
	for (i = 0; i < 5; i++)
		v = (v << 8) | r[i];
	for (i = RSNAID_TOKEN_LEN - 1; i >= 0; i--) {
		out[i] = rsnaid_zbase32[v & 31];
		v >>= 5;
	}
	out[RSNAID_TOKEN_LEN] = '\0';
	explicit_bzero(r, sizeof(r));
	return (0);
}

/* Readers drop dashes and spaces and fold case; exact_len 0 takes any length. */
int
rsnaid_token_normalise(const char *in, size_t exact_len,
    char out[RSNAID_TOKEN_MAX + 1], char **cause)
{
	size_t	n = 0;
	char	c;

	for (; *in != '\0'; in++) {
		if (*in == '-' || *in == ' ')
			continue;
		c = (char)tolower((unsigned char)*in);
		if (strchr(rsnaid_zbase32, c) == NULL) {
			xcause(cause, "token has a character outside the "
			    "z-base-32 alphabet (%s)", rsnaid_zbase32);
			goto fail;
		}
		if (n == RSNAID_TOKEN_MAX) {
			xcause(cause, "token is longer than %d characters",
			    RSNAID_TOKEN_MAX);
			goto fail;
		}
		out[n++] = c;
	}
	out[n] = '\0';
	if (n == 0) {
		xcause(cause, "token is empty");
		goto fail;
	}
	if (exact_len != 0 && n != exact_len) {
		xcause(cause, "token must have %zu characters, not %zu",
		    exact_len, n);
		goto fail;
	}
	return (0);
fail:
	explicit_bzero(out, RSNAID_TOKEN_MAX + 1);
	return (-1);
}

/* Print in groups of four (abcd-efgh) for people to copy. */
void
rsnaid_token_format(const char *tok, char *buf, size_t size)
{
	size_t	i, o = 0;

	for (i = 0; tok[i] != '\0' && o + 2 < size; i++) {
		if (i != 0 && i % 4 == 0)
			buf[o++] = '-';
		buf[o++] = tok[i];
	}
	if (size > 0)
		buf[o < size ? o : size - 1] = '\0';
}

/* Check character: sum of index x weight (1 at even, 2 at odd positions). */
char
rsnaid_access_code_check(const char *data, size_t len)
{
	unsigned	sum = 0;
	size_t		i;
	const char	*p;

	for (i = 0; i < len; i++) {
		if ((p = strchr(rsnaid_access_alphabet, data[i])) == NULL ||
		    data[i] == '\0')
			return ('\0');
		sum += (unsigned)(p - rsnaid_access_alphabet) * (i % 2 ? 2 : 1);
	}
	return (rsnaid_access_alphabet[sum % 58]);
}

/* Access codes keep their case; only dashes and spaces are dropped. */
int
rsnaid_access_code_normalise(const char *in, char out[RSNAID_ACCESS_LEN + 1],
    char **cause)
{
	size_t	n = 0;

	for (; *in != '\0'; in++) {
		if (*in == '-' || *in == ' ')
			continue;
		if (strchr(rsnaid_access_alphabet, *in) == NULL) {
			xcause(cause, "access code has a character outside "
			    "its alphabet");
			goto fail;
		}
		if (n == RSNAID_ACCESS_LEN) {
			xcause(cause, "access code must have %d characters",
			    RSNAID_ACCESS_LEN);
			goto fail;
		}
		out[n++] = *in;
	}
	out[n] = '\0';
	if (n != RSNAID_ACCESS_LEN) {
		xcause(cause, "access code must have %d characters, not %zu",
		    RSNAID_ACCESS_LEN, n);
		goto fail;
	}
	if (rsnaid_access_code_check(out, n - 1) != out[n - 1]) {
		xcause(cause, "access code check character does not match "
		    "(mistyped?)");
		goto fail;
	}
	return (0);
fail:
	explicit_bzero(out, RSNAID_ACCESS_LEN + 1);
	return (-1);
}

static int
rsnaid_leap(int y)
{
	return ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0);
}

int
rsnaid_dob_parse(const char *in, char out[RSNAID_DOB_LEN + 1], char **cause)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	size_t	 len = strlen(in), i, n = 0;
	int	 y, m, d, max;

	if (len != 8 && len != 10)
		goto bad;
	for (i = 0; i < len; i++) {
		if (len == 10 && (i == 4 || i == 7)) {
			if (in[i] != '-')
				goto bad;
			continue;
		}
		if (!isdigit((unsigned char)in[i]))
			goto bad;
		out[n++] = in[i];
	}
	out[n] = '\0';
	y = (out[0] - '0') * 1000 + (out[1] - '0') * 100 + (out[2] - '0') * 10 +
	    (out[3] - '0');
	m = (out[4] - '0') * 10 + (out[5] - '0');
	d = (out[6] - '0') * 10 + (out[7] - '0');
	if (y < 1800 || m < 1 || m > 12)
		goto bad;
	max = mdays[m - 1] + (m == 2 && rsnaid_leap(y));
	if (d < 1 || d > max)
		goto bad;
	return (0);
bad:
	xcause(cause, "date of birth must be a real date written "
	    "YYYY-MM-DD or YYYYMMDD");
	return (-1);
}

static void
rsnaid_hex(const uint8_t *p, size_t n, char *out)
{
	static const char	hex[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* SHA-256 over the concatenation of up to three strings, as hex. */
static int
rsnaid_sha256_hex(const char *a, const char *b, const char *c, char *out)
{
	EVP_MD_CTX	*ctx;
	uint8_t		 md[32];
	unsigned	 mdlen;
	int		 rc = -1;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return (-1);
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, a, strlen(a)) == 1 &&
	    EVP_DigestUpdate(ctx, b, strlen(b)) == 1 &&
	    (c == NULL || EVP_DigestUpdate(ctx, c, strlen(c)) == 1) &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1) {
		rsnaid_hex(md, mdlen, out);
		rc = 0;
	}
	EVP_MD_CTX_free(ctx);
	return (rc);
}

static int
rsnaid_hkdf(const uint8_t *ikm, size_t ikmlen, const char *info,
    uint8_t *out, size_t outlen)
{
	EVP_KDF		*kdf;
	EVP_KDF_CTX	*kctx;
	OSSL_PARAM	 params[4], *p = params;
	int		 rc;

	if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) == NULL)
		return (-1);
	kctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (kctx == NULL)
		return (-1);
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)(uintptr_t)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
	    (void *)(uintptr_t)ikm, ikmlen);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
	    (void *)(uintptr_t)info, strlen(info));
	*p = OSSL_PARAM_construct_end();
	rc = EVP_KDF_derive(kctx, out, outlen, params) == 1 ? 0 : -1;
	EVP_KDF_CTX_free(kctx);
	return (rc);
}

/* scrypt(token SEP dob SEP password, label), then HKDF to id and key. */
static int
rsnaid_isn2(const char *tok, const char *dob, const char *pw, struct rsnaid *r)
{
	uint8_t		 master[32], id[ISN2_ID_BYTES];
	size_t		 tl = strlen(tok), dl = strlen(dob), pl = strlen(pw);
	size_t		 inlen = tl + 1 + dl + 1 + pl;
	char		*in = xmalloc(inlen);
	int		 rc = -1;

	memcpy(in, tok, tl);
	in[tl] = ISN2_SEP;
	memcpy(in + tl + 1, dob, dl);
	in[tl + 1 + dl] = ISN2_SEP;
	memcpy(in + tl + 1 + dl + 1, pw, pl);
	if (EVP_PBE_scrypt(in, inlen, (const unsigned char *)ISN2_LABEL,
	    strlen(ISN2_LABEL), ISN2_SCRYPT_N, ISN2_SCRYPT_R, ISN2_SCRYPT_P,
	    ISN2_SCRYPT_MAXMEM, master, sizeof(master)) != 1)
		goto out;
	if (rsnaid_hkdf(master, sizeof(master), ISN2_INFO_ID, id,
	    sizeof(id)) == -1 ||
	    rsnaid_hkdf(master, sizeof(master), ISN2_INFO_KEY, r->key,
	    sizeof(r->key)) == -1)
		goto out;
	rsnaid_hex(id, sizeof(id), r->id);
	r->has_key = 1;
	rc = 0;
out:
	freezero(in, inlen);
	explicit_bzero(master, sizeof(master));
	explicit_bzero(id, sizeof(id));
	return (rc);
}

int
rsnaid_compute(enum rsnaid_scheme scheme, const char *secret, const char *dob,
    const char *password, struct rsnaid *r, char **cause)
{
	char	tok[RSNAID_TOKEN_MAX + 1], code[RSNAID_ACCESS_LEN + 1];
	char	d[RSNAID_DOB_LEN + 1];
	int	rc = -1;

	memset(r, 0, sizeof(*r));
	r->scheme = scheme;
	if (rsnaid_dob_parse(dob, d, cause) == -1)
		return (-1);
	if (scheme != RSNAID_RSNA_ACCESS_CODE) {
		if (password == NULL || *password == '\0') {
			xcause(cause, "a password is needed");
			return (-1);
		}
		if (strlen(password) > RSNAID_PASSWORD_MAX) {
			xcause(cause, "password is longer than %d bytes",
			    RSNAID_PASSWORD_MAX);
			return (-1);
		}
	}
	switch (scheme) {
	case RSNAID_ISN2:
		if (rsnaid_token_normalise(secret, RSNAID_TOKEN_LEN, tok,
		    cause) == -1)
			return (-1);
		rc = rsnaid_isn2(tok, d, password, r);
		break;
	case RSNAID_RSNA_TOKEN:
		if (rsnaid_token_normalise(secret, 0, tok, cause) == -1)
			return (-1);
		rc = rsnaid_sha256_hex(tok, d, password, r->id);
		break;
	case RSNAID_RSNA_ACCESS_CODE:
		if (password != NULL) {
			xcause(cause, "the rsna-access-code scheme takes no "
			    "password");
			return (-1);
		}
		if (rsnaid_access_code_normalise(secret, code, cause) == -1)
			return (-1);
		rc = rsnaid_sha256_hex(d, code, NULL, r->id);
		break;
	}
	explicit_bzero(tok, sizeof(tok));
	explicit_bzero(code, sizeof(code));
	if (rc == -1) {
		rsnaid_clear(r);
		xcause(cause, "key derivation failed (out of memory?)");
	}
	return (rc);
}

void
rsnaid_clear(struct rsnaid *r)
{
	explicit_bzero(r, sizeof(*r));
}

/* An RSNA-ID is 32 (isn2) or 64 (legacy) lower-case hex characters. */
int
rsnaid_valid(const char *id, char **cause)
{
	size_t	len = strlen(id), i;

	if (len != 32 && len != 64) {
		xcause(cause, "RSNA-ID must have 32 or 64 hex characters");
		return (-1);
	}
	for (i = 0; i < len; i++) {
		if (!isdigit((unsigned char)id[i]) &&
		    (id[i] < 'a' || id[i] > 'f')) {
			xcause(cause, "RSNA-ID must be lower-case hex");
			return (-1);
		}
	}
	return (0);
}

/* Constant-time comparison: the length is not secret, the content is. */
int
rsnaid_equal(const char *a, const char *b)
{
	size_t	la = strlen(a), lb = strlen(b);

	if (la != lb)
		return (0);
	return (CRYPTO_memcmp(a, b, la) == 0);
}

/* The patient ID as HL7 and XDS carry it: id^^^&oid&ISO. */
int
rsnaid_cx(const char *id, const char *oid, char *buf, size_t size)
{
	int	n;

	n = snprintf(buf, size, "%s^^^&%s&ISO", id,
	    oid != NULL ? oid : RSNAID_DEFAULT_OID);
	return (n < 0 || (size_t)n >= size ? -1 : 0);
}
