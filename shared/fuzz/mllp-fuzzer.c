/*
 * mllp-fuzzer.c: MLLP framing over arbitrary bytes split at arbitrary
 * points. Input: byte 0 picks the maximum message size, byte 1 seeds the
 * split points, the rest is the stream. Two parsers (with and without the
 * scan hint) must agree, every frame must respect the maximum, consumed
 * bytes must be exactly whitespace + frame, and framing must round-trip.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "mllp.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct fz_side {
	struct evbuffer	*in;
	struct evbuffer	*msg;
	size_t		 scan;
	size_t		 off;	/* stream bytes consumed so far */
	int		 dead;
};

/* Checks a frame re-encodes and decodes to the same bytes. */
static void
fz_roundtrip(const unsigned char *m, size_t len, size_t max)
{
	struct evbuffer	*b, *out;
	char		*cause = NULL;
	size_t		 scan = 0;

	b = evbuffer_new();
	out = evbuffer_new();
	if (b == NULL || out == NULL || mllp_frame_put(b, m, len) != 0)
		abort();
	if (mllp_frame_get(b, max, out, &scan, &cause) != 1)
		abort();
	if (evbuffer_get_length(b) != 0 || evbuffer_get_length(out) != len)
		abort();
	if (len > 0 && memcmp(evbuffer_pullup(out, -1), m, len) != 0)
		abort();
	evbuffer_free(b);
	evbuffer_free(out);
}

static int
fz_space(unsigned char c)
{
	return (c == ' ' || c == '\t' || c == '\r' || c == '\n');
}

/* One call on one side; checks what was consumed against the stream. */
static int
fz_step(struct fz_side *s, const uint8_t *stream, size_t max, int hint,
    size_t *flen)
{
	size_t		 before, after, used, i, f;
	unsigned char	*m;
	char		*cause = NULL;
	int		 r;

	before = evbuffer_get_length(s->in);
	r = mllp_frame_get(s->in, max, s->msg, hint ? &s->scan : NULL,
	    &cause);
	after = evbuffer_get_length(s->in);
	if (after > before)
		abort();
	used = before - after;
	f = evbuffer_get_length(s->msg);
	*flen = f;
	if (r == -1) {
		if (cause == NULL || f != 0)
			abort();
		free(cause);
	} else if (cause != NULL)
		abort();
	if (r != 1) {
		for (i = 0; i < used; i++)
			if (!fz_space(stream[s->off + i]))
				abort();
		if (r == 0 && after > max + 2)
			abort();	/* memory must stay bounded */
	} else {
		if (f > max || used < f + 3)
			abort();
		for (i = 0; i < used - f - 3; i++)
			if (!fz_space(stream[s->off + i]))
				abort();
		i = s->off + used - f - 3;
		if (stream[i] != MLLP_SB || stream[i + f + 1] != MLLP_EB ||
		    stream[i + f + 2] != MLLP_CR)
			abort();
		m = evbuffer_pullup(s->msg, -1);
		if (f > 0 && (memcmp(m, stream + i + 1, f) != 0 ||
		    memchr(m, MLLP_EB, f) != NULL))
			abort();
		fz_roundtrip(m, f, max);
		evbuffer_drain(s->msg, f);
	}
	s->off += used;
	return (r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_side	 a, b;
	const uint8_t	*stream;
	size_t		 n, fed = 0, chunk, max, fa, fb;
	unsigned int	 seed;
	int		 ra, rb;

	if (size < 2)
		return (0);
	max = (size_t)data[0] * 3;
	seed = data[1] | 1U;
	stream = data + 2;
	n = size - 2;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.in = evbuffer_new();
	a.msg = evbuffer_new();
	b.in = evbuffer_new();
	b.msg = evbuffer_new();
	if (a.in == NULL || a.msg == NULL || b.in == NULL || b.msg == NULL)
		abort();

	while (fed < n && !a.dead) {
		seed = seed * 1103515245U + 12345U;
		chunk = 1 + (seed >> 16) % 64;
		if (chunk > n - fed)
			chunk = n - fed;
		evbuffer_add(a.in, stream + fed, chunk);
		evbuffer_add(b.in, stream + fed, chunk);
		fed += chunk;
		for (;;) {
			ra = fz_step(&a, stream, max, 1, &fa);
			rb = fz_step(&b, stream, max, 0, &fb);
			if (ra != rb || fa != fb || a.off != b.off)
				abort();
			if (a.off + evbuffer_get_length(a.in) != fed)
				abort();
			if (ra == -1)
				a.dead = 1;
			if (ra != 1)
				break;
		}
	}
	evbuffer_free(a.in);
	evbuffer_free(a.msg);
	evbuffer_free(b.in);
	evbuffer_free(b.msg);
	return (0);
}
