/*
 * leaf-fuzzer.c: LeafClass objects from stored ebRIM (query_leaf_add).
 * The input is ebRIM metadata; each object it parses to is written as the
 * registry stores it (XDSMETA_W_BARE) and must take the text path (no
 * namespace declaration in the result) unless a value holds "xmlns", and
 * read back from an answer equal to the same object through the tree
 * path (the text with a declaration added). The input itself is also given as stored text:
 * whatever it is, no crash, no read outside it.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "query.h"
#include "xdsmeta.h"
#include "xdsmsg.h"
#include "xml.h"

#define RIMDECL	" xmlns:rim=\"" XML_NS_RIM "\""
#define STATUS	"urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * query_leaf_add of text in an answer, read back; abort on failure. fast:
 * 1 the text path must be taken (no declaration in the result), 0 the tree
 * path (one), -1 either (the text has "xmlns" in a value: the text path
 * declines any text with that string).
 */
static struct xds_submission *
fuzz_answer(const char *text, size_t len, int fast)
{
	struct xdsmsg_query_resp	 resp;
	struct xds_submission		*m;
	struct dbuf			 leaf, b;
	char				*cause = NULL;

	dbuf_init(&leaf, SIZE_MAX);
	if (query_leaf_add(&leaf, text, len, STATUS, "urn:uuid:l",
	    "urn:oid:1&2", NULL, &cause) == -1)
		abort();
	if (fast != -1 &&
	    fast != (memmem(leaf.data, leaf.len, "xmlns", 5) == NULL))
		abort();
	memset(&resp, 0, sizeof(resp));
	resp.status = XDSMSG_SUCCESS;
	dbuf_init(&b, SIZE_MAX);
	if (xdsmsg_query_resp_build(&b, &resp, leaf.data, leaf.len) == -1 ||
	    (m = xdsmeta_parse_buf(b.data, b.len, &cause)) == NULL)
		abort();
	dbuf_free(&leaf);
	dbuf_free(&b);
	return (m);
}

/* One object, stored and answered both ways. */
static void
fuzz_object(struct xds_submission *one)
{
	struct xds_submission	*a, *b;
	struct dbuf		 t, d;
	const char		*sp;

	dbuf_init(&t, SIZE_MAX);
	if (xdsmeta_write(&t, one, XDSMETA_W_BARE) == -1)
		abort();
	/* The declaration after the first element's name. */
	sp = t.data + strcspn(t.data, " />");
	dbuf_init(&d, SIZE_MAX);
	dbuf_add(&d, t.data, sp - t.data);
	dbuf_addstr(&d, RIMDECL);
	dbuf_addstr(&d, sp);
	a = fuzz_answer(t.data, t.len,
	    memmem(t.data, t.len, "xmlns", 5) == NULL ? 1 : -1);
	b = fuzz_answer(d.data, d.len, 0);
	if (!xdsmeta_equal(a, b))
		abort();
	xdsmeta_free(a);
	xdsmeta_free(b);
	dbuf_free(&t);
	dbuf_free(&d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xds_submission	*sub, one;
	struct dbuf		 leaf;
	char			*text, *cause = NULL;
	size_t			 i;

	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	dbuf_init(&leaf, SIZE_MAX);
	(void)query_leaf_add(&leaf, text, size, STATUS, "l", NULL, NULL,
	    &cause);
	free(cause);
	cause = NULL;
	dbuf_free(&leaf);
	free(text);

	if ((sub = xdsmeta_parse_buf(data, size, &cause)) == NULL) {
		free(cause);
		return (0);
	}
	for (i = 0; i < sub->nsubsets + sub->nfolders + sub->ndocs +
	    sub->nassocs; i++) {
		memset(&one, 0, sizeof(one));
		if (i < sub->nsubsets) {
			one.subsets = &sub->subsets[i];
			one.nsubsets = 1;
		} else if (i < sub->nsubsets + sub->nfolders) {
			one.folders = &sub->folders[i - sub->nsubsets];
			one.nfolders = 1;
		} else if (i < sub->nsubsets + sub->nfolders + sub->ndocs) {
			one.docs = &sub->docs[i - sub->nsubsets -
			    sub->nfolders];
			one.ndocs = 1;
		} else {
			one.assocs = &sub->assocs[i - sub->nsubsets -
			    sub->nfolders - sub->ndocs];
			one.nassocs = 1;
		}
		fuzz_object(&one);
	}
	xdsmeta_free(sub);
	return (0);
}
