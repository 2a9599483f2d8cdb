/* test_envelope.c: the isn2 envelope: vectors, round trips, every error. */
#include "config.h"

#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "dbuf.h"
#include "envelope.h"
#include "tap.h"
#include "xmalloc.h"

#define C		ENVELOPE_CHUNK
#define SEALED		(ENVELOPE_CHUNK + ENVELOPE_TAG_LEN)
#define HDR		ENVELOPE_HEADER_LEN
#define BIGMAX		((size_t)64 * 1024 * 1024)
#define UID		"1.2.3.4"

/* Test vector 1: key 00..1f, uniqueId 1.2.3.4, salt 32 x 11, prefix 7 x 22. */
static const char vec_hello[] =
    "49534e4501100000"
    "1111111111111111111111111111111111111111111111111111111111111111"
    "2222222222222200"
    "fc789b4f155f1d6d81ab877eaa5340f55d0a6ed269738fcbaf50527b7e6630a6"
    "a66a2d78142f840b32bcc8f7"
    "3cf0a9ab1d092bc4640cf83fc989803c";
/* Test vector 2: the same with an empty plaintext. */
static const char vec_empty[] =
    "49534e4501100000"
    "1111111111111111111111111111111111111111111111111111111111111111"
    "2222222222222200"
    "fc789b4f155f1d6d81ab877eaa5340f55d0a6ed269738fcbaf50527b7e6630a6"
    "2d75b5a509b68e3e04729c2a16ac6c0d";
/* Test vector 3: 65537 bytes, byte j = j mod 251: size and SHA-256. */
#define VEC3_LEN	65537
#define VEC3_SIZE	65649
static const char vec3_sha256[] =
    "f194c4384382ba7e9662b294cf369fb9fb8e0d5c3d7e465e2af74600ddb14693";

static uint8_t	key[ENVELOPE_KEY_LEN];
static uint64_t	rng = 0x9e3779b97f4a7c15ULL;

/* A deterministic generator, so that a failure can be replayed. */
static uint64_t
test_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (rng);
}

/* Slice sizes: 0, 1, small, around a chunk, or everything at once. */
static size_t
test_slice(size_t left, int mode)
{
	size_t	n;

	if (mode == 0)
		return (left);
	if (mode == 2)
		return (left < 7 ? left : 7);
	switch (test_rand() % 6) {
	case 0:
		n = 0;
		break;
	case 1:
		n = 1;
		break;
	case 2:
		n = test_rand() % 100;
		break;
	case 3:
		n = C - 50 + test_rand() % 100;
		break;
	default:
		n = test_rand() % (3 * C);
		break;
	}
	return (n < left ? n : left);
}

/* Collect output; a sink must never be handed an empty slice. */
static int
test_sink(void *arg, const void *buf, size_t len)
{
	struct dbuf	*b = arg;

	if (len == 0)
		abort();
	return (dbuf_add(b, buf, len));
}

/* A sink that refuses everything. */
static int
test_sink_fail(void *arg, const void *buf, size_t len)
{
	(void)arg;
	(void)buf;
	(void)len;
	return (-1);
}

/* Encrypt p in slices; the envelope goes to out. */
static int
test_seal(const uint8_t *k, const char *uid, const uint8_t *p, size_t len,
    int mode, struct dbuf *out, char **cause)
{
	struct envelope_enc	*e;
	size_t			 n;
	int			 rc = -1;

	dbuf_init(out, BIGMAX);
	if ((e = envelope_enc_new(k, uid, test_sink, out, cause)) == NULL)
		return (-1);
	while (len > 0) {
		n = test_slice(len, mode);
		if (envelope_enc_update(e, p, n, cause) == -1)
			goto out;
		p += n;
		len -= n;
	}
	rc = envelope_enc_final(e, cause);
out:
	envelope_enc_free(e);
	return (rc);
}

/* Decrypt p in slices; the released plaintext goes to out. */
static int
test_open(const uint8_t *k, const char *uid, const uint8_t *p, size_t len,
    int mode, struct dbuf *out, char **cause)
{
	struct envelope_dec	*d;
	size_t			 n;
	int			 rc = -1;

	dbuf_init(out, BIGMAX);
	if ((d = envelope_dec_new(k, uid, test_sink, out, cause)) == NULL)
		return (-1);
	while (len > 0) {
		n = test_slice(len, mode);
		if (envelope_dec_update(d, p, n, cause) == -1)
			goto out;
		p += n;
		len -= n;
	}
	rc = envelope_dec_final(d, cause);
out:
	envelope_dec_free(d);
	return (rc);
}

/* Lower-case hex of a buffer, for comparing with the vectors. */
static char *
test_hex(const void *buf, size_t len)
{
	const uint8_t	*p = buf;
	char		*s;
	size_t		 i;

	s = xmalloc(len * 2 + 1);
	for (i = 0; i < len; i++)
		snprintf(s + i * 2, 3, "%02x", p[i]);
	s[len * 2] = '\0';
	return (s);
}

/* Encrypt with the vector's fixed salt and prefix, all at once. */
static char *
test_vector(const void *p, size_t len, size_t *sizep)
{
	struct envelope_enc	*e;
	struct dbuf		 out;
	uint8_t			 salt[ENVELOPE_SALT_LEN];
	uint8_t			 prefix[ENVELOPE_PREFIX_LEN];
	char			*cause = NULL, *hex;

	memset(salt, 0x11, sizeof(salt));
	memset(prefix, 0x22, sizeof(prefix));
	dbuf_init(&out, BIGMAX);
	e = envelope_enc_new_fixed(key, UID, salt, prefix, test_sink, &out,
	    &cause);
	if (e == NULL || envelope_enc_update(e, p, len, &cause) == -1 ||
	    envelope_enc_final(e, &cause) == -1)
		tap_diag("vector: %s", cause);
	envelope_enc_free(e);
	free(cause);
	*sizep = out.len;
	if (len > 1000) {
		uint8_t		md[32];
		unsigned int	mdlen;

		EVP_Digest(out.data, out.len, md, &mdlen, EVP_sha256(), NULL);
		hex = test_hex(md, sizeof(md));
	} else
		hex = test_hex(out.data, out.len);
	dbuf_free(&out);
	return (hex);
}

static void
test_vectors(void)
{
	struct dbuf	 pt;
	uint8_t		*big, *env;
	char		*hex, *cause = NULL;
	size_t		 size, i, envlen;

	hex = test_vector("hello, isn2\n", 12, &size);
	is_str(hex, vec_hello, "vector 1 (\"hello, isn2\\n\") matches");
	is_int(size, 108, "vector 1 is 108 bytes");
	env = xmalloc(size);
	for (i = 0; i < size; i++)
		sscanf(vec_hello + i * 2, "%2hhx", &env[i]);
	envlen = size;
	ok(test_open(key, UID, env, envlen, 0, &pt, &cause) == 0 &&
	    pt.len == 12 && memcmp(pt.data, "hello, isn2\n", 12) == 0,
	    "vector 1 decrypts");
	dbuf_free(&pt);
	free(env);
	free(hex);

	hex = test_vector("", 0, &size);
	is_str(hex, vec_empty, "vector 2 (empty) matches");
	is_int(size, 96, "vector 2 is 96 bytes");
	free(hex);

	big = xmalloc(VEC3_LEN);
	for (i = 0; i < VEC3_LEN; i++)
		big[i] = (uint8_t)(i % 251);
	hex = test_vector(big, VEC3_LEN, &size);
	is_str(hex, vec3_sha256, "vector 3 (65537 bytes) SHA-256 matches");
	is_int(size, VEC3_SIZE, "vector 3 size");
	free(hex);
	free(big);
	free(cause);
}

static void
test_uniqueids(void)
{
	char	 id[ENVELOPE_UNIQUEID_MAX + 2], *cause = NULL;
	struct envelope_enc *e;
	struct envelope_dec *d;

	e = envelope_enc_new(key, NULL, test_sink_fail, NULL, &cause);
	ok(e == NULL, "NULL uniqueId refused");
	is_str(cause, "empty document uniqueId", "NULL uniqueId cause");
	free(cause);
	cause = NULL;
	d = envelope_dec_new(key, "", test_sink_fail, NULL, &cause);
	ok(d == NULL, "empty uniqueId refused by the decoder");
	is_str(cause, "empty document uniqueId", "empty uniqueId cause");
	free(cause);
	cause = NULL;

	memset(id, '1', sizeof(id));
	id[ENVELOPE_UNIQUEID_MAX] = '\0';
	e = envelope_enc_new(key, id, test_sink_fail, NULL, &cause);
	ok(e != NULL, "128-byte uniqueId accepted");
	envelope_enc_free(e);
	id[ENVELOPE_UNIQUEID_MAX] = '1';
	id[ENVELOPE_UNIQUEID_MAX + 1] = '\0';
	e = envelope_enc_new(key, id, test_sink_fail, NULL, &cause);
	ok(e == NULL, "129-byte uniqueId refused");
	is_str(cause, "document uniqueId longer than 128 bytes",
	    "long uniqueId cause");
	free(cause);
	cause = NULL;
	d = envelope_dec_new(key, "1.2\n3", test_sink_fail, NULL, &cause);
	ok(d == NULL, "control character in uniqueId refused");
	is_str(cause, "document uniqueId is not printable ASCII",
	    "control character cause");
	free(cause);
	cause = NULL;
	e = envelope_enc_new(key, "1.2.\xc3\xa9", test_sink_fail, NULL, &cause);
	ok(e == NULL, "non-ASCII uniqueId refused");
	free(cause);
	cause = NULL;
	e = envelope_enc_new(key, "urn:uuid:x y^z", test_sink_fail, NULL,
	    NULL);
	ok(e != NULL, "printable ASCII with space accepted (NULL cause)");
	envelope_enc_free(e);
}

static void
test_sizes(void)
{
	is_int(envelope_size(0), 96, "size of empty document");
	is_int(envelope_size(1), 97, "size of 1 byte");
	is_int(envelope_size(C - 1), HDR + C - 1 + 16, "size of 65535");
	is_int(envelope_size(C), HDR + C + 16,
	    "size of 65536 (one full chunk)");
	is_int(envelope_size(C + 1), HDR + C + 1 + 32, "size of 65537");
	is_int(envelope_size(3 * C), HDR + 3 * C + 48, "size of 3 chunks");
	ok(envelope_size(ENVELOPE_MAX_PLAINTEXT) == HDR +
	    ENVELOPE_MAX_PLAINTEXT + ((uint64_t)1 << 32) * 16,
	    "size of the largest document");
	is_int(envelope_size(ENVELOPE_MAX_PLAINTEXT + 1), 0,
	    "larger than an envelope holds");
	is_int(envelope_size(UINT64_MAX), 0, "UINT64_MAX");
}

static void
test_roundtrips(void)
{
	static const size_t sizes[] = { 0, 1, 12, C - 1, C, C + 1, 2 * C,
	    3 * C, 3 * C + 100, 1000003 };
	struct dbuf	 env, env2, pt;
	uint8_t		*data;
	char		*cause = NULL;
	size_t		 i, n;
	int		 rc1, rc2, mode;

	data = xmalloc(1000003);
	RAND_bytes(data, 1000003);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		n = sizes[i];
		mode = n < 200000 ? (int)(i % 3) : 1;
		rc1 = test_seal(key, UID, data, n, mode, &env, &cause);
		rc2 = rc1 == 0 ? test_open(key, UID, (uint8_t *)env.data,
		    env.len, 1, &pt, &cause) : -1;
		ok(rc1 == 0 && rc2 == 0 && pt.len == n &&
		    (n == 0 || memcmp(pt.data, data, n) == 0),
		    "round trip of %zu bytes (slicing %d)", n, mode);
		if (rc1 == -1 || rc2 == -1)
			tap_diag("%s", cause);
		ok(env.len == envelope_size(n), "envelope of %zu bytes is "
		    "envelope_size() = %llu", n,
		    (unsigned long long)envelope_size(n));
		ok(memcmp(env.data, "ISNE\x01\x10\x00\x00", 8) == 0 &&
		    env.data[47] == 0, "header layout for %zu bytes", n);
		if (n == 12) {
			test_seal(key, UID, data, n, 0, &env2, &cause);
			ok(env2.len == env.len &&
			    memcmp(env.data + 8, env2.data + 8, 39) != 0 &&
			    memcmp(env.data + 80, env2.data + 80,
			    env.len - 80) != 0,
			    "two encryptions differ in salt, prefix and body");
			dbuf_free(&env2);
		}
		dbuf_free(&env);
		dbuf_free(&pt);
	}
	free(data);
	free(cause);
}

/* One error case, decoded whole, in random slices and 7 bytes at a time. */
static void
test_bad(const uint8_t *env, size_t len, const uint8_t *k, const char *uid,
    const uint8_t *plain, size_t released, const char *want, const char *what)
{
	struct dbuf	 pt;
	char		*cause, *first = NULL;
	int		 mode, same = 1, rc, clean = 1;

	for (mode = 0; mode < 3; mode++) {
		if (mode == 2 && len > 300000)
			continue;
		cause = NULL;
		rc = test_open(k, uid, env, len, mode, &pt, &cause);
		if (rc != -1 || cause == NULL)
			same = 0;
		else if (first == NULL)
			first = xstrdup(cause);
		else if (strcmp(first, cause) != 0)
			same = 0;
		if (pt.len != released || (released != 0 &&
		    memcmp(pt.data, plain, released) != 0))
			clean = 0;
		dbuf_free(&pt);
		free(cause);
	}
	is_str(first, want, "%s: cause", what);
	ok(same, "%s: same failure however it is sliced", what);
	ok(clean, "%s: only %zu authenticated bytes released", what, released);
	free(first);
}

static void
test_errors(void)
{
	struct dbuf	 e4, e2, cat;
	uint8_t		*data, *m, other[ENVELOPE_KEY_LEN];
	char		*cause = NULL;
	size_t		 len4, len2, n4 = 3 * C + 100, n2 = 2 * C;

	data = xmalloc(n4);
	RAND_bytes(data, n4);
	test_seal(key, UID, data, n4, 1, &e4, &cause);
	test_seal(key, UID, data, n2, 1, &e2, &cause);
	len4 = e4.len;
	len2 = e2.len;
	m = xmalloc(len4 + 2 * SEALED + 100);

#define FLIP(env, len, off, x) do {			\
	memcpy(m, (env).data, (len));			\
	m[(off)] ^= (x);				\
} while (0)

	FLIP(e4, len4, 0, 0x20);
	test_bad(m, len4, key, UID, data, 0, "not an isn2 envelope (bad magic)",
	    "bad magic");
	test_bad((const uint8_t *)"GIF89a", 6, key, UID, data, 0,
	    "not an isn2 envelope (bad magic)", "a GIF");
	FLIP(e4, len4, 4, 0x03);
	test_bad(m, len4, key, UID, data, 0, "unsupported envelope version 2",
	    "version 2");
	FLIP(e4, len4, 4, 0x01);
	test_bad(m, len4, key, UID, data, 0, "unsupported envelope version 0",
	    "version 0");
	FLIP(e4, len4, 5, 0x01);
	test_bad(m, len4, key, UID, data, 0, "unsupported envelope chunk size "
	    "2^17 (version 1 uses 2^16)", "chunk size 2^17");
	FLIP(e4, len4, 6, 0x80);
	test_bad(m, len4, key, UID, data, 0,
	    "envelope header has reserved bits set", "reserved byte 6");
	FLIP(e4, len4, 7, 0x01);
	test_bad(m, len4, key, UID, data, 0,
	    "envelope header has reserved bits set", "reserved byte 7");
	FLIP(e4, len4, 47, 0x01);
	test_bad(m, len4, key, UID, data, 0,
	    "envelope header has reserved bits set", "reserved byte 47");
	FLIP(e4, len4, 20, 0x01);
	test_bad(m, len4, key, UID, data, 0, "wrong key or document uniqueId",
	    "salt altered");
	FLIP(e4, len4, 79, 0x01);
	test_bad(m, len4, key, UID, data, 0, "wrong key or document uniqueId",
	    "commitment altered");
	FLIP(e4, len4, 42, 0x01);
	test_bad(m, len4, key, UID, data, 0, "chunk 0 failed authentication: "
	    "the document was altered", "nonce prefix altered");

	memcpy(other, key, sizeof(other));
	other[31] ^= 1;
	test_bad((uint8_t *)e4.data, len4, other, UID, data, 0,
	    "wrong key or document uniqueId", "wrong key");
	test_bad((uint8_t *)e4.data, len4, key, "1.2.3.5", data, 0,
	    "wrong key or document uniqueId", "wrong uniqueId");

	FLIP(e4, len4, HDR + 5, 0x01);
	test_bad(m, len4, key, UID, data, 0, "chunk 0 failed authentication: "
	    "the document was altered", "chunk 0 ciphertext altered");
	FLIP(e4, len4, HDR + SEALED - 1, 0x01);
	test_bad(m, len4, key, UID, data, 0, "chunk 0 failed authentication: "
	    "the document was altered", "chunk 0 tag altered");
	FLIP(e4, len4, HDR + SEALED + 1000, 0x40);
	test_bad(m, len4, key, UID, data, C, "chunk 1 failed authentication: "
	    "the document was altered", "chunk 1 ciphertext altered");
	FLIP(e4, len4, len4 - 1, 0x01);
	test_bad(m, len4, key, UID, data, 3 * C, "chunk 3 failed "
	    "authentication: the document was altered or truncated",
	    "short final chunk tag altered");
	FLIP(e2, len2, len2 - 100, 0x01);
	test_bad(m, len2, key, UID, data, C, "chunk 1 failed authentication: "
	    "the document was altered", "full final chunk altered");

	memcpy(m, e4.data, len4);
	memcpy(m + HDR, e4.data + HDR + SEALED, SEALED);
	memcpy(m + HDR + SEALED, e4.data + HDR, SEALED);
	test_bad(m, len4, key, UID, data, 0, "chunk 0 failed authentication: "
	    "the document was altered", "chunks 0 and 1 swapped");
	memcpy(m, e4.data, len4);
	memcpy(m + HDR + SEALED, e4.data + HDR + 2 * SEALED, SEALED);
	memcpy(m + HDR + 2 * SEALED, e4.data + HDR + SEALED, SEALED);
	test_bad(m, len4, key, UID, data, C, "chunk 1 failed authentication: "
	    "the document was altered", "chunks 1 and 2 swapped");
	memcpy(m, e4.data, HDR + 2 * SEALED);
	memcpy(m + HDR + 2 * SEALED, e4.data + HDR + 3 * SEALED, 100 + 16);
	test_bad(m, HDR + 2 * SEALED + 116, key, UID, data, 2 * C,
	    "chunk 2 failed authentication: the document was altered or "
	    "truncated", "chunk 2 dropped");

	test_bad((uint8_t *)e4.data, HDR + 3 * SEALED, key, UID, data, 2 * C,
	    "envelope truncated: the stream ended after chunk 2, before the "
	    "final chunk", "last chunk dropped");
	test_bad((uint8_t *)e2.data, HDR + SEALED, key, UID, data, 0,
	    "envelope truncated: the stream ended after chunk 0, before the "
	    "final chunk", "full last chunk dropped");
	test_bad((uint8_t *)e4.data, 0, key, UID, data, 0,
	    "not an isn2 envelope (empty input)", "empty input");
	test_bad((uint8_t *)e4.data, 3, key, UID, data, 0,
	    "envelope truncated: the stream ended inside the header",
	    "cut after 3 bytes");
	test_bad((uint8_t *)e4.data, 40, key, UID, data, 0,
	    "envelope truncated: the stream ended inside the header",
	    "cut inside the header");
	test_bad((uint8_t *)e4.data, HDR, key, UID, data, 0,
	    "envelope truncated: the stream ended before chunk 0",
	    "header only");
	test_bad((uint8_t *)e4.data, HDR + 10, key, UID, data, 0,
	    "envelope truncated: the stream ended inside chunk 0",
	    "cut 10 bytes into chunk 0");
	test_bad((uint8_t *)e4.data, HDR + SEALED + 15, key, UID, data, C,
	    "envelope truncated: the stream ended inside chunk 1",
	    "cut 15 bytes into chunk 1");
	test_bad((uint8_t *)e4.data, HDR + SEALED + 30000, key, UID, data, C,
	    "chunk 1 failed authentication: the document was altered or "
	    "truncated", "cut in the middle of chunk 1");

	memcpy(m, e4.data, len4);
	m[len4] = 0;
	test_bad(m, len4 + 1, key, UID, data, 3 * C,
	    "trailing data after the final chunk of the envelope",
	    "one byte appended after a short final chunk");
	memset(m + len4, 'x', SEALED);
	test_bad(m, len4 + SEALED, key, UID, data, 3 * C,
	    "trailing data after the final chunk of the envelope",
	    "a chunk's worth appended after a short final chunk");
	memcpy(m, e2.data, len2);
	m[len2] = 0;
	test_bad(m, len2 + 1, key, UID, data, C,
	    "trailing data after the final chunk of the envelope",
	    "one byte appended after a full final chunk");
	memset(m + len2, 'x', 20);
	test_bad(m, len2 + 20, key, UID, data, C,
	    "trailing data after the final chunk of the envelope",
	    "20 bytes appended after a full final chunk");
	dbuf_init(&cat, BIGMAX);
	dbuf_add(&cat, e4.data, len4);
	dbuf_add(&cat, e2.data, len2);
	test_bad((uint8_t *)cat.data, cat.len, key, UID, data, 3 * C,
	    "trailing data after the final chunk of the envelope",
	    "two envelopes concatenated");
	dbuf_free(&cat);
#undef FLIP

	free(m);
	free(data);
	dbuf_free(&e4);
	dbuf_free(&e2);
	free(cause);
}

static void
test_states(void)
{
	struct envelope_enc	*e;
	struct envelope_dec	*d;
	struct dbuf		 out, pt;
	char			*cause = NULL;

	dbuf_init(&out, BIGMAX);
	e = envelope_enc_new(key, UID, test_sink, &out, &cause);
	ok(out.len == 0, "the encoder writes nothing before the first call");
	ok(envelope_enc_update(e, NULL, 0, &cause) == 0 && out.len == 0,
	    "an empty update writes nothing");
	ok(envelope_enc_update(e, "abc", 3, &cause) == 0 && out.len == 0,
	    "a partial chunk stays buffered");
	ok(envelope_enc_final(e, &cause) == 0 && out.len == 99,
	    "final writes header and chunk");
	ok(envelope_enc_update(e, "x", 1, &cause) == -1,
	    "update after final fails");
	is_str(cause, "envelope encoder already finished", "its cause");
	free(cause);
	cause = NULL;
	envelope_enc_free(e);

	e = envelope_enc_new(key, UID, test_sink_fail, NULL, &cause);
	ok(envelope_enc_final(e, &cause) == -1, "encoder sink failure");
	is_str(cause, "could not write the envelope: output failed",
	    "its cause");
	free(cause);
	cause = NULL;
	ok(envelope_enc_final(e, &cause) == -1, "final after a failure");
	is_str(cause, "envelope encoder already failed", "its cause");
	free(cause);
	cause = NULL;
	envelope_enc_free(e);
	envelope_enc_free(NULL);
	envelope_dec_free(NULL);

	d = envelope_dec_new(key, UID, test_sink_fail, NULL, &cause);
	ok(envelope_dec_update(d, out.data, out.len, &cause) == 0,
	    "a short final chunk is held until final");
	ok(envelope_dec_final(d, &cause) == -1, "decoder sink failure");
	is_str(cause, "could not write the plaintext: output failed",
	    "its cause");
	free(cause);
	cause = NULL;
	ok(envelope_dec_update(d, "x", 1, &cause) == -1,
	    "update after a failure");
	is_str(cause, "envelope decoder already failed", "its cause");
	free(cause);
	cause = NULL;
	envelope_dec_free(d);

	dbuf_init(&pt, BIGMAX);
	d = envelope_dec_new(key, UID, test_sink, &pt, &cause);
	ok(envelope_dec_update(d, out.data, out.len, &cause) == 0 &&
	    envelope_dec_final(d, &cause) == 0 && pt.len == 3,
	    "decode once");
	ok(envelope_dec_final(d, &cause) == -1, "final twice fails");
	is_str(cause, "envelope decoder already finished", "its cause");
	free(cause);
	envelope_dec_free(d);
	dbuf_free(&pt);
	dbuf_free(&out);
}

/* A temporary file holding len bytes, open for reading at offset 0. */
static int
test_tmpfile(const void *p, size_t len)
{
	char	path[] = "/tmp/test_envelope.XXXXXX";
	int	fd;

	if ((fd = mkstemp(path)) == -1)
		return (-1);
	unlink(path);
	if ((len != 0 && write(fd, p, len) != (ssize_t)len) ||
	    lseek(fd, 0, SEEK_SET) == -1) {
		close(fd);
		return (-1);
	}
	return (fd);
}

/* Everything in a descriptor, from the start. */
static size_t
test_slurp(int fd, uint8_t *buf, size_t max)
{
	ssize_t	n;
	size_t	len = 0;

	lseek(fd, 0, SEEK_SET);
	while (len < max && (n = read(fd, buf + len, max - len)) > 0)
		len += (size_t)n;
	return (len);
}

static void
test_fds(void)
{
	uint8_t	*data, *env, *back, other[ENVELOPE_KEY_LEN];
	char	*cause = NULL;
	size_t	 n = 200000, elen, blen;
	int	 in, mid, out, rc;

	data = xmalloc(n);
	env = xmalloc(2 * n);
	back = xmalloc(2 * n);
	RAND_bytes(data, n);
	in = test_tmpfile(data, n);
	mid = test_tmpfile(NULL, 0);
	out = test_tmpfile(NULL, 0);
	rc = envelope_encrypt_fd(in, mid, key, UID, &cause);
	elen = test_slurp(mid, env, 2 * n);
	ok(rc == 0 && elen == envelope_size(n), "encrypt_fd writes %llu bytes",
	    (unsigned long long)envelope_size(n));
	lseek(mid, 0, SEEK_SET);
	rc = envelope_decrypt_fd(mid, out, key, UID, &cause);
	blen = test_slurp(out, back, 2 * n);
	ok(rc == 0 && blen == n && memcmp(back, data, n) == 0,
	    "decrypt_fd gives the plaintext back");

	memcpy(other, key, sizeof(other));
	other[0] ^= 0xff;
	lseek(mid, 0, SEEK_SET);
	ok(envelope_decrypt_fd(mid, out, other, UID, &cause) == -1,
	    "decrypt_fd with a wrong key fails");
	is_str(cause, "wrong key or document uniqueId", "its cause");
	free(cause);
	cause = NULL;

	lseek(in, 0, SEEK_SET);
	close(out);
	ok(envelope_encrypt_fd(in, out, key, UID, &cause) == -1,
	    "encrypt_fd to a closed descriptor fails");
	is_str(cause, "write: Bad file descriptor", "its cause is the errno");
	free(cause);
	cause = NULL;
	out = open("/tmp", O_RDONLY | O_DIRECTORY);
	ok(envelope_decrypt_fd(out, mid, key, UID, &cause) == -1,
	    "decrypt_fd from a directory fails");
	is_str(cause, "read: Is a directory", "its cause");
	free(cause);
	cause = NULL;
	ok(envelope_encrypt_fd(in, mid, key, "", &cause) == -1,
	    "encrypt_fd refuses an empty uniqueId");
	free(cause);
	close(out);
	close(in);
	close(mid);
	free(data);
	free(env);
	free(back);
}

/* The synthetic document: a pattern cheap to regenerate at any offset. */
static uint8_t
test_pattern(uint64_t off)
{
	return ((uint8_t)(off ^ (off >> 9) ^ (off >> 17) ^ (off >> 27)));
}

struct test_stream {
	struct envelope_dec	*dec;
	uint64_t		 off;	/* plaintext checked so far */
	int			 bad;
	char			*cause;
};

/* The encoder's sink: feed the decoder directly. */
static int
test_stream_enc(void *arg, const void *buf, size_t len)
{
	struct test_stream	*s = arg;

	return (envelope_dec_update(s->dec, buf, len, &s->cause));
}

/* The decoder's sink: check the plaintext against the pattern. */
static int
test_stream_dec(void *arg, const void *buf, size_t len)
{
	struct test_stream	*s = arg;
	const uint8_t		*p = buf;
	size_t			 i;

	for (i = 0; i < len; i++) {
		if (p[i] != test_pattern(s->off + i))
			s->bad = 1;
	}
	s->off += len;
	return (0);
}

static void
test_memory(void)
{
	struct test_stream	 s;
	struct envelope_enc	*e;
	struct rusage		 ru0, ru1;
	uint8_t			*block;
	uint64_t		 total, off = 0;
	const char		*env;
	size_t			 n, i, step = 100003;
	char			*cause = NULL;
	long			 grew;
	int			 rc = 0;

	total = (uint64_t)256 << 20;
	if ((env = getenv("ENVELOPE_STREAM_MIB")) != NULL &&
	    strtoul(env, NULL, 10) > 0)
		total = (uint64_t)strtoul(env, NULL, 10) << 20;
	block = xmalloc(step);
	memset(&s, 0, sizeof(s));
	getrusage(RUSAGE_SELF, &ru0);
	s.dec = envelope_dec_new(key, UID, test_stream_dec, &s, &cause);
	e = envelope_enc_new(key, UID, test_stream_enc, &s, &cause);
	while (rc == 0 && off < total) {
		n = total - off < step ? (size_t)(total - off) : step;
		for (i = 0; i < n; i++)
			block[i] = test_pattern(off + i);
		rc = envelope_enc_update(e, block, n, &cause);
		off += n;
	}
	if (rc == 0)
		rc = envelope_enc_final(e, &cause);
	if (rc == 0)
		rc = envelope_dec_final(s.dec, &s.cause);
	getrusage(RUSAGE_SELF, &ru1);
	grew = ru1.ru_maxrss - ru0.ru_maxrss;
	ok(rc == 0 && s.off == total && !s.bad,
	    "%llu MiB streamed through encoder and decoder intact",
	    (unsigned long long)(total >> 20));
	if (rc != 0)
		tap_diag("%s", s.cause != NULL ? s.cause : cause);
	ok(grew < 8 * 1024, "peak RSS grew by %ld KiB (< 8 MiB)", grew);
	envelope_enc_free(e);
	envelope_dec_free(s.dec);
	free(block);
	free(cause);
	free(s.cause);
}

int
main(void)
{
	size_t	i;

	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	/* First, before the other tests raise the peak. */
	test_memory();
	test_vectors();
	test_uniqueids();
	test_sizes();
	test_roundtrips();
	test_errors();
	test_states();
	test_fds();
	return (tap_done());
}
