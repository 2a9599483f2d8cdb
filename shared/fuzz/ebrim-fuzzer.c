/*
 * ebrim-fuzzer.c: the ebRIM 3.0 metadata parser on arbitrary XML. Whatever
 * parses must write back to XML that parses to the same model, and writing
 * that again must give the same bytes; the validator must run on it, and
 * UUID assignment must keep the model writable and stable.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "xdsmeta.h"
#include "xdsvalid.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Write, reparse, compare; abort() on any difference. */
static void
fuzz_roundtrip(const struct xds_submission *sub, int how)
{
	struct xds_submission	*again;
	struct dbuf		 a, b;
	char			*cause = NULL;

	dbuf_init(&a, 256 << 20);
	dbuf_init(&b, 256 << 20);
	if (xdsmeta_write(&a, sub, how) == -1)
		abort();
	if ((again = xdsmeta_parse_buf(a.data, a.len, &cause)) == NULL)
		abort();
	if (!xdsmeta_equal(sub, again))
		abort();
	if (xdsmeta_write(&b, again, how) == -1 || a.len != b.len ||
	    memcmp(a.data, b.data, a.len) != 0)
		abort();
	xdsmeta_free(again);
	dbuf_free(&a);
	dbuf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xds_submission	*sub;
	struct xds_errors	 errs = { NULL, 0 };
	struct xdsvalid_doc	 doc = { "Document01", 36,
				    "e543712c0e10501972de13a5bfcbe826c49feb75" };
	char			*cause = NULL;
	size_t			 n;

	if ((sub = xdsmeta_parse_buf(data, size, &cause)) == NULL) {
		if (cause == NULL)
			abort();
		free(cause);
		return (0);
	}
	fuzz_roundtrip(sub, XDSMETA_W_LIST);
	fuzz_roundtrip(sub, XDSMETA_W_SOR);
	n = xdsvalid_check(sub, XDSVALID_ITI41 | XDSVALID_ISN2, &doc, 1,
	    &errs);
	if (n != errs.n || n < sub->errors.n)
		abort();
	xdsmeta_errors_free(&errs);
	xdsvalid_check(sub, XDSVALID_ITI42, NULL, 0, &errs);
	xdsmeta_errors_free(&errs);
	if (xdsmeta_assign_uuids(sub, NULL, NULL) == -1)
		abort();
	fuzz_roundtrip(sub, XDSMETA_W_SOR);
	xdsmeta_free(sub);
	return (0);
}
