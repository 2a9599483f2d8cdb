/*
 * phr-list-fuzzer.c: the PHR client's list building on hostile registry
 * metadata (an AdhocQueryResponse body): whatever the entries say, the
 * list view is consistent (counts add up), every path built from their
 * UIDs stays inside the output directory (no "..", no leading "/", only
 * digits, dots and the fixed names), and index.json is built.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "phr_int.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_path(const char *p)
{
	const char	*s;

	if (p[0] == '/' || strstr(p, "..") != NULL)
		abort();
	for (s = p; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || *s == '.' || *s == '/' ||
		    strchr("kosdcmreptx", *s) != NULL))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct isnphr_set_info	*si;
	struct isnphr_list		*l;
	struct phr_set			*s;
	struct dbuf			 b;
	char				*cause = NULL;
	size_t				 i, j, n;

	if (phr_list_from_xml(data, size, &l, &cause) == -1) {
		free(cause);
		return (0);
	}
	s = &l->sets[0];
	si = isnphr_list_set(l, 0);
	for (i = n = 0; i < si->nstudies; i++) {
		for (j = 0; j < si->studies[i].nseries; j++)
			n += si->studies[i].series[j].ninstances;
		if (n > s->ndocs)
			abort();
	}
	for (i = 0; i < s->ndocs; i++) {
		s->docs[i].state = PHR_DONE;
		if (phr_doc_path(&s->docs[i]) == 0)
			check_path(s->docs[i].path);
	}
	dbuf_init(&b, 1 << 26);
	if (phr_index_build(&b, l, NULL) == -1)
		abort();
	dbuf_free(&b);
	isnphr_list_free(l);
	return (0);
}
