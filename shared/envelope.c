/* envelope.c: the isn2 encryption envelope, streaming both ways. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "envelope.h"
#include "fdio.h"
#include "xmalloc.h"

/* Format constants: see docs/protocol.md, "The isn2 envelope". */
#define ENVELOPE_MAGIC		"ISNE"
#define ENVELOPE_VERSION	1
#define ENVELOPE_INFO		"isn2 envelope v1"
#define ENVELOPE_OKM_LEN	64
#define ENVELOPE_COMMIT_LEN	32
#define ENVELOPE_NONCE_LEN	12
#define ENVELOPE_SEALED		(ENVELOPE_CHUNK + ENVELOPE_TAG_LEN)

/* Header offsets. */
#define ENVELOPE_H_VERSION	4
#define ENVELOPE_H_CHUNK	5
#define ENVELOPE_H_RESERVED	6	/* 2 bytes */
#define ENVELOPE_H_SALT		8
#define ENVELOPE_H_PREFIX	40
#define ENVELOPE_H_ZERO		47
#define ENVELOPE_H_COMMIT	48

enum envelope_state {
	ENVELOPE_S_OPEN,
	ENVELOPE_S_DONE,
	ENVELOPE_S_FAILED
};

struct envelope_enc {
	EVP_CIPHER_CTX		*ctx;
	envelope_sink		 sink;
	void			*arg;
	uint8_t			 hdr[ENVELOPE_HEADER_LEN];
	int			 hdr_sent;
	uint8_t			*buf;	/* sealed in place */
	size_t			 len;
	uint32_t		 index;
	enum envelope_state	 state;
};

struct envelope_dec {
	EVP_CIPHER_CTX		*ctx;
	envelope_sink		 sink;
	void			*arg;
	uint8_t			 key[ENVELOPE_KEY_LEN]; /* content key */
	char			 uniqueid[ENVELOPE_UNIQUEID_MAX + 1];
	uint8_t			 hdr[ENVELOPE_HEADER_LEN];
	size_t			 hdrlen;
	uint8_t			*in;	/* one sealed chunk */
	size_t			 len;
	uint8_t			*out;	/* its plaintext */
	uint32_t		 index;
	enum envelope_state	 state;
};

/* Where the decoder noticed a chunk that would not authenticate. */
enum envelope_at {
	ENVELOPE_AT_UPDATE,	/* more bytes follow the buffered chunk */
	ENVELOPE_AT_FINAL	/* the stream ended */
};

/* Wipe secrets even where the compiler would drop a plain memset. */
static void
envelope_wipe(void *p, size_t len)
{
	OPENSSL_cleanse(p, len);
}

/* The uniqueId is authenticated as bytes, so restrict it to plain ASCII. */
static int
envelope_check_uniqueid(const char *uniqueid, char **cause)
{
	size_t	len, i;

	if (uniqueid == NULL || *uniqueid == '\0') {
		xcause(cause, "empty document uniqueId");
		return (-1);
	}
	len = strnlen(uniqueid, ENVELOPE_UNIQUEID_MAX + 1);
	if (len > ENVELOPE_UNIQUEID_MAX) {
		xcause(cause, "document uniqueId longer than %d bytes",
		    ENVELOPE_UNIQUEID_MAX);
		return (-1);
	}
	for (i = 0; i < len; i++) {
		if (uniqueid[i] < 0x20 || uniqueid[i] > 0x7e) {
			xcause(cause,
			    "document uniqueId is not printable ASCII");
			return (-1);
		}
	}
	return (0);
}

/* okm = HKDF-SHA256(key, salt, info || 0x00 || uniqueId): key, commitment. */
static int
envelope_derive(const uint8_t *key, const char *uniqueid, const uint8_t *salt,
    uint8_t okm[ENVELOPE_OKM_LEN], char **cause)
{
	EVP_KDF		*kdf;
	EVP_KDF_CTX	*kctx;
	OSSL_PARAM	 params[5], *p = params;
	uint8_t		 info[sizeof(ENVELOPE_INFO) +
			    ENVELOPE_UNIQUEID_MAX];
	size_t		 infolen, idlen;
	int		 rc;

	/* sizeof includes the NUL, which is the 0x00 separator. */
	idlen = strlen(uniqueid);
	memcpy(info, ENVELOPE_INFO, sizeof(ENVELOPE_INFO));
	memcpy(info + sizeof(ENVELOPE_INFO), uniqueid, idlen);
	infolen = sizeof(ENVELOPE_INFO) + idlen;

	if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) == NULL) {
		xcause(cause, "HKDF is not available (OpenSSL)");
		return (-1);
	}
	kctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (kctx == NULL) {
		xcause(cause, "HKDF is not available (OpenSSL)");
		return (-1);
	}
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)(uintptr_t)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
	    (void *)(uintptr_t)key, ENVELOPE_KEY_LEN);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
	    (void *)(uintptr_t)salt, ENVELOPE_SALT_LEN);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
	    info, infolen);
	*p = OSSL_PARAM_construct_end();
	rc = EVP_KDF_derive(kctx, okm, ENVELOPE_OKM_LEN, params) == 1 ? 0 : -1;
	EVP_KDF_CTX_free(kctx);
	if (rc == -1)
		xcause(cause, "HKDF failed (OpenSSL)");
	return (rc);
}

/* Nonce of chunk i: prefix (7) || i big-endian (4) || last flag (1). */
static void
envelope_nonce(const uint8_t *hdr, uint32_t index, int last,
    uint8_t nonce[ENVELOPE_NONCE_LEN])
{
	memcpy(nonce, hdr + ENVELOPE_H_PREFIX, ENVELOPE_PREFIX_LEN);
	nonce[7] = (uint8_t)(index >> 24);
	nonce[8] = (uint8_t)(index >> 16);
	nonce[9] = (uint8_t)(index >> 8);
	nonce[10] = (uint8_t)index;
	nonce[11] = last ? 0x01 : 0x00;
}

/* A cipher context holding the document key; the key schedule is kept. */
static EVP_CIPHER_CTX *
envelope_cipher(const uint8_t *dockey, int enc, char **cause)
{
	EVP_CIPHER_CTX	*ctx;

	if ((ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL,
	    enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN,
	    ENVELOPE_NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, dockey, NULL, enc) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		xcause(cause, "AES-256-GCM is not available (OpenSSL)");
		return (NULL);
	}
	return (ctx);
}

/* Build an encoder around a given salt and nonce prefix. */
static struct envelope_enc *
envelope_enc_create(const uint8_t *key, const char *uniqueid,
    const uint8_t *salt, const uint8_t *prefix, envelope_sink sink, void *arg,
    char **cause)
{
	struct envelope_enc	*e;
	uint8_t			 okm[ENVELOPE_OKM_LEN];

	if (envelope_check_uniqueid(uniqueid, cause) == -1)
		return (NULL);
	if (envelope_derive(key, uniqueid, salt, okm, cause) == -1)
		return (NULL);
	e = xcalloc(1, sizeof(*e));
	e->ctx = envelope_cipher(okm, 1, cause);
	if (e->ctx == NULL) {
		envelope_wipe(okm, sizeof(okm));
		free(e);
		return (NULL);
	}
	memcpy(e->hdr, ENVELOPE_MAGIC, 4);
	e->hdr[ENVELOPE_H_VERSION] = ENVELOPE_VERSION;
	e->hdr[ENVELOPE_H_CHUNK] = ENVELOPE_CHUNK_LOG2;
	memcpy(e->hdr + ENVELOPE_H_SALT, salt, ENVELOPE_SALT_LEN);
	memcpy(e->hdr + ENVELOPE_H_PREFIX, prefix, ENVELOPE_PREFIX_LEN);
	memcpy(e->hdr + ENVELOPE_H_COMMIT, okm + ENVELOPE_KEY_LEN,
	    ENVELOPE_COMMIT_LEN);
	envelope_wipe(okm, sizeof(okm));
	e->buf = xmalloc(ENVELOPE_SEALED);
	e->sink = sink;
	e->arg = arg;
	e->state = ENVELOPE_S_OPEN;
	return (e);
}

/* A new encoder with a random salt and nonce prefix. */
struct envelope_enc *
envelope_enc_new(const uint8_t key[ENVELOPE_KEY_LEN], const char *uniqueid,
    envelope_sink sink, void *arg, char **cause)
{
	uint8_t	rnd[ENVELOPE_SALT_LEN + ENVELOPE_PREFIX_LEN];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		xcause(cause, "no random bytes for the envelope salt");
		return (NULL);
	}
	return (envelope_enc_create(key, uniqueid, rnd, rnd + ENVELOPE_SALT_LEN,
	    sink, arg, cause));
}

/* Test vectors need a known salt and prefix; nothing else should. */
struct envelope_enc *
envelope_enc_new_fixed(const uint8_t key[ENVELOPE_KEY_LEN],
    const char *uniqueid, const uint8_t salt[ENVELOPE_SALT_LEN],
    const uint8_t prefix[ENVELOPE_PREFIX_LEN], envelope_sink sink, void *arg,
    char **cause)
{
	return (envelope_enc_create(key, uniqueid, salt, prefix, sink, arg,
	    cause));
}

/* Refuse calls on an encoder that finished or failed. */
static int
envelope_enc_usable(struct envelope_enc *e, char **cause)
{
	if (e->state == ENVELOPE_S_OPEN)
		return (0);
	xcause(cause, "envelope encoder already %s",
	    e->state == ENVELOPE_S_DONE ? "finished" : "failed");
	return (-1);
}

/* Seal the buffered chunk in place and send it (after the header). */
static int
envelope_enc_seal(struct envelope_enc *e, int last, char **cause)
{
	uint8_t	nonce[ENVELOPE_NONCE_LEN];
	int	n;

	if (!last && e->index == UINT32_MAX) {
		xcause(cause, "document too large for one envelope");
		return (-1);
	}
	envelope_nonce(e->hdr, e->index, last, nonce);
	if (EVP_EncryptInit_ex(e->ctx, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_EncryptUpdate(e->ctx, NULL, &n, e->hdr, sizeof(e->hdr)) != 1 ||
	    (e->len != 0 && EVP_EncryptUpdate(e->ctx, e->buf, &n, e->buf,
	    (int)e->len) != 1) ||
	    EVP_EncryptFinal_ex(e->ctx, e->buf + e->len, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(e->ctx, EVP_CTRL_GCM_GET_TAG,
	    ENVELOPE_TAG_LEN, e->buf + e->len) != 1) {
		xcause(cause, "AES-256-GCM failed (OpenSSL)");
		return (-1);
	}
	if (!e->hdr_sent) {
		if (e->sink(e->arg, e->hdr, sizeof(e->hdr)) == -1)
			goto sinkfail;
		e->hdr_sent = 1;
	}
	if (e->sink(e->arg, e->buf, e->len + ENVELOPE_TAG_LEN) == -1)
		goto sinkfail;
	e->len = 0;
	if (!last)
		e->index++;
	return (0);

sinkfail:
	xcause(cause, "could not write the envelope: output failed");
	return (-1);
}

/* Buffer plaintext; seal a full chunk once more bytes show it is not last. */
int
envelope_enc_update(struct envelope_enc *e, const void *buf, size_t len,
    char **cause)
{
	const uint8_t	*p = buf;
	size_t		 n;

	if (envelope_enc_usable(e, cause) == -1)
		return (-1);
	while (len > 0) {
		if (e->len == ENVELOPE_CHUNK &&
		    envelope_enc_seal(e, 0, cause) == -1) {
			e->state = ENVELOPE_S_FAILED;
			return (-1);
		}
		n = ENVELOPE_CHUNK - e->len;
		if (n > len)
			n = len;
		memcpy(e->buf + e->len, p, n);
		e->len += n;
		p += n;
		len -= n;
	}
	return (0);
}

/* Seal whatever is buffered (0 to 65536 bytes) as the final chunk. */
int
envelope_enc_final(struct envelope_enc *e, char **cause)
{
	if (envelope_enc_usable(e, cause) == -1)
		return (-1);
	if (envelope_enc_seal(e, 1, cause) == -1) {
		e->state = ENVELOPE_S_FAILED;
		return (-1);
	}
	e->state = ENVELOPE_S_DONE;
	return (0);
}

/* Free the encoder, wiping the buffered plaintext and the key schedule. */
void
envelope_enc_free(struct envelope_enc *e)
{
	if (e == NULL)
		return;
	EVP_CIPHER_CTX_free(e->ctx);
	freezero(e->buf, ENVELOPE_SEALED);
	freezero(e, sizeof(*e));
}

/* A new decoder; keys are derived once the header has arrived. */
struct envelope_dec *
envelope_dec_new(const uint8_t key[ENVELOPE_KEY_LEN], const char *uniqueid,
    envelope_sink sink, void *arg, char **cause)
{
	struct envelope_dec	*d;

	if (envelope_check_uniqueid(uniqueid, cause) == -1)
		return (NULL);
	d = xcalloc(1, sizeof(*d));
	memcpy(d->key, key, ENVELOPE_KEY_LEN);
	strlcpy(d->uniqueid, uniqueid, sizeof(d->uniqueid));
	d->in = xmalloc(ENVELOPE_SEALED);
	d->out = xmalloc(ENVELOPE_CHUNK);
	d->sink = sink;
	d->arg = arg;
	d->state = ENVELOPE_S_OPEN;
	return (d);
}

/* Check the header fields present so far; the commitment once complete. */
static int
envelope_dec_header(struct envelope_dec *d, char **cause)
{
	const uint8_t	*h = d->hdr;
	uint8_t		 okm[ENVELOPE_OKM_LEN];
	size_t		 n = d->hdrlen;
	int		 same;

	if (memcmp(h, ENVELOPE_MAGIC, n < 4 ? n : 4) != 0) {
		xcause(cause, "not an isn2 envelope (bad magic)");
		return (-1);
	}
	if (n > ENVELOPE_H_VERSION &&
	    h[ENVELOPE_H_VERSION] != ENVELOPE_VERSION) {
		xcause(cause, "unsupported envelope version %u",
		    h[ENVELOPE_H_VERSION]);
		return (-1);
	}
	if (n > ENVELOPE_H_CHUNK &&
	    h[ENVELOPE_H_CHUNK] != ENVELOPE_CHUNK_LOG2) {
		xcause(cause, "unsupported envelope chunk size 2^%u "
		    "(version 1 uses 2^%u)", h[ENVELOPE_H_CHUNK],
		    ENVELOPE_CHUNK_LOG2);
		return (-1);
	}
	if ((n > ENVELOPE_H_RESERVED && h[ENVELOPE_H_RESERVED] != 0) ||
	    (n > ENVELOPE_H_RESERVED + 1 && h[ENVELOPE_H_RESERVED + 1] != 0) ||
	    (n > ENVELOPE_H_ZERO && h[ENVELOPE_H_ZERO] != 0)) {
		xcause(cause, "envelope header has reserved bits set");
		return (-1);
	}
	if (n < ENVELOPE_HEADER_LEN)
		return (0);

	if (envelope_derive(d->key, d->uniqueid, h + ENVELOPE_H_SALT, okm,
	    cause) == -1)
		return (-1);
	envelope_wipe(d->key, sizeof(d->key));
	same = CRYPTO_memcmp(okm + ENVELOPE_KEY_LEN, h + ENVELOPE_H_COMMIT,
	    ENVELOPE_COMMIT_LEN) == 0;
	if (!same) {
		envelope_wipe(okm, sizeof(okm));
		xcause(cause, "wrong key or document uniqueId");
		return (-1);
	}
	d->ctx = envelope_cipher(okm, 0, cause);
	envelope_wipe(okm, sizeof(okm));
	return (d->ctx == NULL ? -1 : 0);
}

/* Open len sealed bytes of chunk index into d->out; 0 only if authentic. */
static int
envelope_dec_open(struct envelope_dec *d, size_t len, uint32_t index, int last)
{
	uint8_t	nonce[ENVELOPE_NONCE_LEN];
	size_t	ctlen = len - ENVELOPE_TAG_LEN;
	int	n;

	if (len < ENVELOPE_TAG_LEN)
		return (-1);
	envelope_nonce(d->hdr, index, last, nonce);
	if (EVP_DecryptInit_ex(d->ctx, NULL, NULL, NULL, nonce) == 1 &&
	    EVP_DecryptUpdate(d->ctx, NULL, &n, d->hdr, sizeof(d->hdr)) == 1 &&
	    (ctlen == 0 || EVP_DecryptUpdate(d->ctx, d->out, &n, d->in,
	    (int)ctlen) == 1) &&
	    EVP_CIPHER_CTX_ctrl(d->ctx, EVP_CTRL_GCM_SET_TAG, ENVELOPE_TAG_LEN,
	    d->in + ctlen) == 1 &&
	    EVP_DecryptFinal_ex(d->ctx, d->out + ctlen, &n) == 1)
		return (0);
	envelope_wipe(d->out, ctlen);
	return (-1);
}

/*
 * Hand an authenticated chunk's plaintext to the sink. d->out is not wiped
 * here: the sink has the same bytes, the next chunk overwrites them and
 * envelope_dec_free wipes the buffer (a wipe per chunk was 1.6% of a PHR's
 * retrieval). Plaintext that failed authentication is wiped where found.
 */
static int
envelope_dec_release(struct envelope_dec *d, size_t len, char **cause)
{
	if (len != 0 && d->sink(d->arg, d->out, len) == -1) {
		xcause(cause,
		    "could not write the plaintext: output failed");
		return (-1);
	}
	return (0);
}

/*
 * Find a shorter final chunk at the start of the buffer (so the rest is
 * trailing data): returns its sealed length, or 0. Every candidate length
 * is tried, but the GHASH state is carried forward block by block and
 * copied for each candidate, so this costs about one pass over the buffer
 * plus a context copy per byte, not a decryption per candidate.
 */
static size_t
envelope_dec_search(struct envelope_dec *d)
{
	EVP_CIPHER_CTX	*tmp;
	uint8_t		 nonce[ENVELOPE_NONCE_LEN];
	size_t		 base, c, found = 0;
	int		 n;

	if (d->len <= ENVELOPE_TAG_LEN || (tmp = EVP_CIPHER_CTX_new()) == NULL)
		return (0);
	envelope_nonce(d->hdr, d->index, 1, nonce);
	if (EVP_DecryptInit_ex(d->ctx, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_DecryptUpdate(d->ctx, NULL, &n, d->hdr, sizeof(d->hdr)) != 1)
		goto out;
	/* Candidate ciphertext lengths c: 0 to len - 17, tag right after. */
	for (base = 0; found == 0 && base + ENVELOPE_TAG_LEN < d->len;
	    base += 16) {
		for (c = base; c < base + 16 &&
		    c + ENVELOPE_TAG_LEN < d->len; c++) {
			if (EVP_CIPHER_CTX_copy(tmp, d->ctx) != 1 ||
			    (c > base && EVP_DecryptUpdate(tmp, d->out + base,
			    &n, d->in + base, (int)(c - base)) != 1) ||
			    EVP_CIPHER_CTX_ctrl(tmp, EVP_CTRL_GCM_SET_TAG,
			    ENVELOPE_TAG_LEN, d->in + c) != 1)
				goto out;
			if (EVP_DecryptFinal_ex(tmp, d->out + c, &n) == 1) {
				found = c + ENVELOPE_TAG_LEN;
				break;
			}
		}
		if (found == 0 && EVP_DecryptUpdate(d->ctx, d->out + base, &n,
		    d->in + base, 16) != 1)
			goto out;
	}
out:
	EVP_CIPHER_CTX_free(tmp);
	envelope_wipe(d->out, ENVELOPE_CHUNK);
	/* Confirm the way every chunk is checked. */
	if (found != 0 && envelope_dec_open(d, found, d->index, 1) == 0) {
		envelope_wipe(d->out, ENVELOPE_CHUNK);
		return (found);
	}
	return (0);
}

/*
 * The buffered chunk did not authenticate in the role it was read in: tell
 * truncation and trailing data apart from alteration where the format can.
 */
static void
envelope_dec_diagnose(struct envelope_dec *d, enum envelope_at at,
    char **cause)
{
	if (d->len == ENVELOPE_SEALED) {
		if (at == ENVELOPE_AT_FINAL &&
		    envelope_dec_open(d, d->len, d->index, 0) == 0) {
			envelope_wipe(d->out, ENVELOPE_CHUNK);
			xcause(cause, "envelope truncated: the stream "
			    "ended after chunk %u, before the final chunk",
			    d->index);
			return;
		}
		if (at == ENVELOPE_AT_UPDATE &&
		    envelope_dec_open(d, d->len, d->index, 1) == 0) {
			envelope_wipe(d->out, ENVELOPE_CHUNK);
			xcause(cause, "trailing data after the final "
			    "chunk of the envelope");
			return;
		}
	}
	if (envelope_dec_search(d) != 0) {
		xcause(cause, "trailing data after the final chunk of "
		    "the envelope");
		return;
	}
	if (at == ENVELOPE_AT_FINAL && d->len < ENVELOPE_SEALED)
		xcause(cause, "chunk %u failed authentication: the "
		    "document was altered or truncated", d->index);
	else
		xcause(cause, "chunk %u failed authentication: the "
		    "document was altered", d->index);
}

/* Refuse calls on a decoder that finished or failed. */
static int
envelope_dec_usable(struct envelope_dec *d, char **cause)
{
	if (d->state == ENVELOPE_S_OPEN)
		return (0);
	xcause(cause, "envelope decoder already %s",
	    d->state == ENVELOPE_S_DONE ? "finished" : "failed");
	return (-1);
}

/* A full chunk followed by more bytes is not final: open and release it. */
static int
envelope_dec_chunk(struct envelope_dec *d, char **cause)
{
	if (d->index == UINT32_MAX) {
		xcause(cause, "envelope has more than 2^32 chunks");
		return (-1);
	}
	if (envelope_dec_open(d, d->len, d->index, 0) == -1) {
		envelope_dec_diagnose(d, ENVELOPE_AT_UPDATE, cause);
		return (-1);
	}
	if (envelope_dec_release(d, ENVELOPE_CHUNK, cause) == -1)
		return (-1);
	d->len = 0;
	d->index++;
	return (0);
}

/* Take the next slice of the envelope, releasing each chunk once checked. */
int
envelope_dec_update(struct envelope_dec *d, const void *buf, size_t len,
    char **cause)
{
	const uint8_t	*p = buf;
	size_t		 n;

	if (envelope_dec_usable(d, cause) == -1)
		return (-1);
	while (len > 0) {
		if (d->hdrlen < ENVELOPE_HEADER_LEN) {
			n = ENVELOPE_HEADER_LEN - d->hdrlen;
			if (n > len)
				n = len;
			memcpy(d->hdr + d->hdrlen, p, n);
			d->hdrlen += n;
			if (envelope_dec_header(d, cause) == -1)
				goto fail;
		} else {
			if (d->len == ENVELOPE_SEALED &&
			    envelope_dec_chunk(d, cause) == -1)
				goto fail;
			n = ENVELOPE_SEALED - d->len;
			if (n > len)
				n = len;
			memcpy(d->in + d->len, p, n);
			d->len += n;
		}
		p += n;
		len -= n;
	}
	return (0);

fail:
	d->state = ENVELOPE_S_FAILED;
	return (-1);
}

/* The stream has ended: the buffered bytes must be exactly the final chunk. */
int
envelope_dec_final(struct envelope_dec *d, char **cause)
{
	if (envelope_dec_usable(d, cause) == -1)
		return (-1);
	d->state = ENVELOPE_S_FAILED;
	if (d->hdrlen == 0) {
		xcause(cause, "not an isn2 envelope (empty input)");
		return (-1);
	}
	if (d->hdrlen < ENVELOPE_HEADER_LEN) {
		xcause(cause, "envelope truncated: the stream ended "
		    "inside the header");
		return (-1);
	}
	if (d->len < ENVELOPE_TAG_LEN) {
		xcause(cause, "envelope truncated: the stream ended "
		    "%s chunk %u", d->len == 0 ? "before" : "inside", d->index);
		return (-1);
	}
	if (envelope_dec_open(d, d->len, d->index, 1) == -1) {
		envelope_dec_diagnose(d, ENVELOPE_AT_FINAL, cause);
		return (-1);
	}
	if (envelope_dec_release(d, d->len - ENVELOPE_TAG_LEN, cause) == -1)
		return (-1);
	d->len = 0;
	d->state = ENVELOPE_S_DONE;
	return (0);
}

/* Free the decoder, wiping keys and any plaintext it still holds. */
void
envelope_dec_free(struct envelope_dec *d)
{
	if (d == NULL)
		return;
	EVP_CIPHER_CTX_free(d->ctx);
	free(d->in);
	freezero(d->out, ENVELOPE_CHUNK);
	freezero(d, sizeof(*d));
}

/* The stored size: header, the plaintext, and a tag per chunk. */
uint64_t
envelope_size(uint64_t plaintext_len)
{
	uint64_t	chunks;

	if (plaintext_len > ENVELOPE_MAX_PLAINTEXT)
		return (0);
	chunks = plaintext_len == 0 ? 1 :
	    (plaintext_len + ENVELOPE_CHUNK - 1) / ENVELOPE_CHUNK;
	return (ENVELOPE_HEADER_LEN + plaintext_len +
	    chunks * ENVELOPE_TAG_LEN);
}

/* A sink writing to a descriptor, keeping errno for the caller's cause. */
struct envelope_fdout {
	int	fd;
	int	error;
};

/* Write all of buf, retrying short writes and EINTR. */
static int
envelope_fd_sink(void *arg, const void *buf, size_t len)
{
	struct envelope_fdout	*o = arg;

	if (fdio_write_all(o->fd, buf, len) == -1) {
		o->error = errno;
		return (-1);
	}
	return (0);
}

/* Replace a generic "output failed" cause with the write error. */
static void
envelope_fd_cause(struct envelope_fdout *o, char **cause)
{
	if (o->error == 0 || cause == NULL)
		return;
	free(*cause);
	xcause(cause, "write: %s", strerror(o->error));
}

/* Pump a descriptor through an encoder or a decoder until end of file. */
static int
envelope_fd_pump(int in, struct envelope_enc *e, struct envelope_dec *d,
    struct envelope_fdout *o, char **cause)
{
	uint8_t	*buf;
	ssize_t	 n;
	int	 rc = -1;

	buf = xmalloc(ENVELOPE_CHUNK);
	for (;;) {
		n = read(in, buf, ENVELOPE_CHUNK);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xcause(cause, "read: %s", strerror(errno));
			break;
		}
		if (n == 0) {
			rc = e != NULL ? envelope_enc_final(e, cause) :
			    envelope_dec_final(d, cause);
			break;
		}
		if ((e != NULL ? envelope_enc_update(e, buf, (size_t)n, cause) :
		    envelope_dec_update(d, buf, (size_t)n, cause)) == -1)
			break;
	}
	if (rc == -1)
		envelope_fd_cause(o, cause);
	freezero(buf, ENVELOPE_CHUNK);
	return (rc);
}

/* Encrypt everything readable from in into an envelope written to out. */
int
envelope_encrypt_fd(int in, int out, const uint8_t key[ENVELOPE_KEY_LEN],
    const char *uniqueid, char **cause)
{
	struct envelope_fdout	 o = { out, 0 };
	struct envelope_enc	*e;
	int			 rc;

	if ((e = envelope_enc_new(key, uniqueid, envelope_fd_sink, &o,
	    cause)) == NULL)
		return (-1);
	rc = envelope_fd_pump(in, e, NULL, &o, cause);
	envelope_enc_free(e);
	return (rc);
}

/* Decrypt an envelope read from in; out must be discarded on failure. */
int
envelope_decrypt_fd(int in, int out, const uint8_t key[ENVELOPE_KEY_LEN],
    const char *uniqueid, char **cause)
{
	struct envelope_fdout	 o = { out, 0 };
	struct envelope_dec	*d;
	int			 rc;

	if ((d = envelope_dec_new(key, uniqueid, envelope_fd_sink, &o,
	    cause)) == NULL)
		return (-1);
	rc = envelope_fd_pump(in, NULL, d, &o, cause);
	envelope_dec_free(d);
	return (rc);
}
