/*
 * envelope-fuzzer.c: the isn2 envelope decoder on arbitrary bytes, and
 * encrypt-then-decrypt round trips with tampering.
 *
 * Input: byte 0 bit 0 selects the mode, byte 1 seeds the slice sizes.
 * Mode 0 decodes bytes 2.. with the test-vector key and uniqueId "1.2.3.4":
 * whatever the decoder releases must re-encrypt to exactly the input (so no
 * plaintext of a failed chunk can come out). Mode 1 builds a plaintext of
 * ((byte 0 >> 1) & 3) * 65536 + (bytes 2-3) bytes from bytes 4.., and checks
 * that it round-trips and that flipping any one byte makes decoding fail.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "envelope.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_UID	"1.2.3.4"
#define FUZZ_SEALED	(ENVELOPE_CHUNK + ENVELOPE_TAG_LEN)

static uint32_t	fuzz_rng;

/* Slice sizes from a small generator seeded by the input. */
static size_t
fuzz_slice(size_t left)
{
	size_t	n;

	fuzz_rng = fuzz_rng * 1103515245 + 12345;
	switch ((fuzz_rng >> 16) % 4) {
	case 0:
		n = (fuzz_rng >> 8) % 4;
		break;
	case 1:
		n = (fuzz_rng >> 8) % 200;
		break;
	case 2:
		n = (fuzz_rng >> 4) % (2 * FUZZ_SEALED);
		break;
	default:
		n = left;
		break;
	}
	return (n < left ? n : left);
}

/* Collect output; an empty slice is a bug. */
static int
fuzz_sink(void *arg, const void *buf, size_t len)
{
	if (len == 0)
		abort();
	return (dbuf_add(arg, buf, len));
}

/* Decode in slices into pt; returns 0 when the whole envelope is good. */
static int
fuzz_open(const uint8_t *key, const uint8_t *p, size_t len, struct dbuf *pt)
{
	struct envelope_dec	*d;
	char			*cause = NULL;
	size_t			 n;
	int			 rc = -1;

	if ((d = envelope_dec_new(key, FUZZ_UID, fuzz_sink, pt,
	    &cause)) == NULL)
		abort();
	while (len > 0) {
		n = fuzz_slice(len);
		if (envelope_dec_update(d, p, n, &cause) == -1)
			goto out;
		p += n;
		len -= n;
	}
	rc = envelope_dec_final(d, &cause);
out:
	if (rc == -1 && cause == NULL)
		abort();
	if (rc == 0 && cause != NULL)
		abort();
	free(cause);
	envelope_dec_free(d);
	return (rc);
}

/* Re-encrypt released plaintext under the input's salt and prefix. */
static void
fuzz_reseal(const uint8_t *key, const uint8_t *env, size_t envlen,
    const struct dbuf *pt, int whole)
{
	struct envelope_enc	*e;
	struct dbuf		 out;
	size_t			 want;

	dbuf_init(&out, envlen + FUZZ_SEALED + ENVELOPE_HEADER_LEN);
	e = envelope_enc_new_fixed(key, FUZZ_UID, env + 8, env + 40, fuzz_sink,
	    &out, NULL);
	if (e == NULL || envelope_enc_update(e, pt->data, pt->len, NULL) == -1)
		abort();
	if (whole) {
		/* A good envelope is exactly what the encoder makes. */
		if (envelope_enc_final(e, NULL) == -1 || out.len != envlen ||
		    memcmp(out.data, env, envlen) != 0)
			abort();
	} else {
		/* One more byte pushes out each released chunk, non-final. */
		if (envelope_enc_update(e, "x", 1, NULL) == -1)
			abort();
		want = ENVELOPE_HEADER_LEN +
		    pt->len / ENVELOPE_CHUNK * FUZZ_SEALED;
		if (out.len != want || want > envlen ||
		    memcmp(out.data, env, want) != 0)
			abort();
	}
	envelope_enc_free(e);
	dbuf_free(&out);
}

/* Mode 0: arbitrary bytes into the decoder. */
static void
fuzz_decode(const uint8_t *key, const uint8_t *p, size_t len)
{
	struct dbuf	pt;
	int		rc;

	dbuf_init(&pt, len + 1);
	rc = fuzz_open(key, p, len, &pt);
	if (rc == -1 && pt.len % ENVELOPE_CHUNK != 0)
		abort();
	if (rc == 0 || pt.len != 0)
		fuzz_reseal(key, p, len, &pt, rc == 0);
	dbuf_free(&pt);
}

/* Mode 1: encrypt, decrypt, then tamper with one byte. */
static void
fuzz_roundtrip(const uint8_t *key, const uint8_t *data, size_t size)
{
	struct envelope_enc	*e;
	struct dbuf		 env, pt;
	const uint8_t		*src = data + 4;
	uint8_t			*plain, salt[ENVELOPE_SALT_LEN];
	uint8_t			 prefix[ENVELOPE_PREFIX_LEN];
	size_t			 n, len, i, srclen = size - 4, off;

	len = (size_t)((data[0] >> 1) & 3) * ENVELOPE_CHUNK +
	    ((size_t)data[2] << 8 | data[3]);
	plain = malloc(len + 1);
	for (i = 0; i < len; i++)
		plain[i] = srclen == 0 ? (uint8_t)i : src[i % srclen];

	/* A salt and prefix from the input keep runs reproducible. */
	memset(salt, data[1], sizeof(salt));
	memset(prefix, data[2], sizeof(prefix));
	dbuf_init(&env, envelope_size(len));
	if ((e = envelope_enc_new_fixed(key, FUZZ_UID, salt, prefix, fuzz_sink,
	    &env, NULL)) == NULL)
		abort();
	for (off = 0; off < len; off += n) {
		n = fuzz_slice(len - off);
		if (envelope_enc_update(e, plain + off, n, NULL) == -1)
			abort();
	}
	if (envelope_enc_final(e, NULL) == -1 || env.len != envelope_size(len))
		abort();
	envelope_enc_free(e);

	dbuf_init(&pt, len + 1);
	if (fuzz_open(key, (uint8_t *)env.data, env.len, &pt) == -1 ||
	    pt.len != len || (len != 0 && memcmp(pt.data, plain, len) != 0))
		abort();
	dbuf_free(&pt);

	off = ((size_t)data[1] * 7919 + len) % env.len;
	env.data[off] ^= (char)(1 << (data[1] & 7));
	dbuf_init(&pt, len + 1);
	if (fuzz_open(key, (uint8_t *)env.data, env.len, &pt) == 0 ||
	    pt.len % ENVELOPE_CHUNK != 0 ||
	    (pt.len != 0 && memcmp(pt.data, plain, pt.len) != 0))
		abort();
	dbuf_free(&pt);
	dbuf_free(&env);
	free(plain);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t	key[ENVELOPE_KEY_LEN];
	size_t	i;

	if (size < 2)
		return (0);
	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	fuzz_rng = data[1];
	if ((data[0] & 1) == 0)
		fuzz_decode(key, data + 2, size - 2);
	else if (size >= 4)
		fuzz_roundtrip(key, data, size);
	return (0);
}
