/*
 * sq-fuzzer.c: stored-query parsing must accept or reject any slots with
 * well-formed errors; when it accepts, the slots built back from the typed
 * values must re-parse to the same values without warnings (build(parse(x))
 * is a fixed point); and any string quoted by the builder must come back
 * unchanged.
 *
 * Input: lines. The first is the AdhocQuery id (one or two digits select
 * query kind N); each further line is a slot, "name<TAB>value<TAB>value..."
 * where a name "#N" selects parameter N.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "sq.h"
#include "xmalloc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_MAX_SLOTS	64
#define FUZZ_MAX_VALUES	16

/* The dump of a query, without warnings; aborts on failure. */
static char *
sq_fuzz_dump(const struct sq_query *q)
{
	struct dbuf	b;

	dbuf_init(&b, 1 << 24);
	if (sq_dump(q, &b, 0) == -1)
		abort();
	return (b.data == NULL ? xstrdup("") : dbuf_take(&b, NULL));
}

/* Every error is one of the codes with a location and a message. */
static void
sq_fuzz_errors(const struct sq_query *q)
{
	const struct sq_error	*e;
	size_t			 i;

	for (i = 0; i < sq_nerrors(q); i++) {
		e = sq_error(q, i);
		if (e == NULL || e->location == NULL || e->message == NULL ||
		    *e->message == '\0')
			abort();
		if (strcmp(e->code, SQ_ERR_UNKNOWN_QUERY) != 0 &&
		    strcmp(e->code, SQ_ERR_MISSING_PARAM) != 0 &&
		    strcmp(e->code, SQ_ERR_PARAM_NUMBER) != 0 &&
		    strcmp(e->code, SQ_ERR_REGISTRY) != 0)
			abort();
	}
	for (i = 0; i < sq_nwarnings(q); i++)
		if (sq_warning(q, i) == NULL)
			abort();
}

/* Items are typed: non-empty values, schemes where the type has one. */
static void
sq_fuzz_items(const struct sq_query *q)
{
	const struct sq_param	*p;
	const struct sq_item	*it;
	enum sq_type		 t;
	size_t			 g, i;
	int			 id;

	for (id = 0; id < SQ_NPARAMS; id++) {
		if ((p = sq_param_get(q, id)) == NULL)
			continue;
		t = sq_param_type(id);
		if (sq_param_ngroups(p) == 0)
			abort();
		for (g = 0; g < sq_param_ngroups(p); g++) {
			if (sq_param_nitems(p, g) == 0)
				abort();
			for (i = 0; i < sq_param_nitems(p, g); i++) {
				it = sq_param_item(p, g, i);
				if (it == NULL || it->value == NULL ||
				    *it->value == '\0')
					abort();
				if ((t == SQ_T_CODE || t == SQ_T_CX) !=
				    (it->scheme != NULL))
					abort();
			}
		}
	}
}

/* build(parse(x)) re-parses to the same typed values. */
static void
sq_fuzz_roundtrip(const struct sq_query *q)
{
	struct sq_build		*b, *b2;
	const struct sq_slot	*slots, *slots2;
	struct sq_query		*q2;
	size_t			 n, n2, i, j;
	char			*d1, *d2;

	if ((b = sq_build_from_query(q)) == NULL)
		abort();
	slots = sq_build_slots(b, &n);
	q2 = sq_parse(sq_build_id(b), slots, n);
	if (sq_nerrors(q2) != 0 || sq_nwarnings(q2) != 0)
		abort();
	d1 = sq_fuzz_dump(q);
	d2 = sq_fuzz_dump(q2);
	if (strcmp(d1, d2) != 0)
		abort();
	/* And building again gives the very same slots. */
	b2 = sq_build_from_query(q2);
	slots2 = sq_build_slots(b2, &n2);
	if (n != n2)
		abort();
	for (i = 0; i < n; i++) {
		if (strcmp(slots[i].name, slots2[i].name) != 0 ||
		    slots[i].nvalues != slots2[i].nvalues)
			abort();
		for (j = 0; j < slots[i].nvalues; j++)
			if (strcmp(slots[i].values[j], slots2[i].values[j]))
				abort();
	}
	free(d1);
	free(d2);
	sq_build_free(b2);
	sq_build_free(b);
	sq_query_free(q2);
}

/* The builder's quoting gives back any printable string. */
static void
sq_fuzz_quote(const uint8_t *data, size_t size)
{
	struct sq_build		*b;
	const struct sq_slot	*slots;
	struct sq_query		*q;
	size_t			 n, i;
	char			*v;

	if (size == 0 || size > 1024)
		return;
	for (i = 0; i < size; i++)
		if (data[i] < 0x20 || data[i] == 0x7f)
			return;
	v = xstrndup((const char *)data, size);
	b = sq_build_new(SQ_GET_SUBMISSION_SET_AND_CONTENTS);
	sq_build_string(b, SQ_P_SS_UNIQUE_ID, v);
	slots = sq_build_slots(b, &n);
	q = sq_parse(sq_build_id(b), slots, n);
	if (sq_nerrors(q) != 0 ||
	    strcmp(sq_param_value(q, SQ_P_SS_UNIQUE_ID), v) != 0)
		abort();
	sq_query_free(q);
	sq_build_free(b);
	free(v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sq_slot	 slots[FUZZ_MAX_SLOTS];
	char		*vals[FUZZ_MAX_SLOTS][FUZZ_MAX_VALUES];
	char		*names[FUZZ_MAX_SLOTS];
	char		*buf, *line, *next, *f, *tab;
	const char	*id;
	struct sq_query	*q;
	size_t		 n = 0, i, j;
	long		 k;

	if (size > 65536)
		return (0);
	sq_fuzz_quote(data, size);

	buf = xmalloc(size + 1);
	memcpy(buf, data, size);
	buf[size] = '\0';
	line = buf;
	if ((next = strchr(line, '\n')) != NULL)
		*next++ = '\0';
	id = line;
	if (strlen(id) >= 1 && strlen(id) <= 2 &&
	    strspn(id, "0123456789") == strlen(id))
		id = sq_query_uuid((enum sq_kind)
		    (strtoul(id, NULL, 10) % SQ_NKINDS));
	for (line = next; line != NULL && n < FUZZ_MAX_SLOTS; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((tab = strchr(line, '\t')) != NULL)
			*tab++ = '\0';
		if (line[0] == '#' && line[1] != '\0') {
			k = strtol(line + 1, NULL, 10);
			names[n] = xstrdup(sq_param_name((enum sq_param_id)
			    ((unsigned long)k % SQ_NPARAMS)));
		} else
			names[n] = xstrdup(line);
		slots[n].name = names[n];
		slots[n].line = (long)n + 2;
		slots[n].nvalues = 0;
		for (f = tab; f != NULL &&
		    slots[n].nvalues < FUZZ_MAX_VALUES; f = tab) {
			if ((tab = strchr(f, '\t')) != NULL)
				*tab++ = '\0';
			vals[n][slots[n].nvalues++] = xstrdup(f);
		}
		slots[n].values = (const char *const *)vals[n];
		n++;
	}

	q = sq_parse(id, slots, n);
	if (sq_query_kind(q) != sq_query_lookup(id))
		abort();
	sq_fuzz_errors(q);
	if (sq_query_kind(q) == SQ_UNKNOWN || !sq_query_supported(
	    sq_query_kind(q))) {
		if (sq_nerrors(q) != 1)
			abort();
	} else {
		sq_fuzz_items(q);
		if (sq_nerrors(q) == 0)
			sq_fuzz_roundtrip(q);
	}
	free(sq_fuzz_dump(q));
	sq_query_free(q);

	for (i = 0; i < n; i++) {
		for (j = 0; j < slots[i].nvalues; j++)
			free(vals[i][j]);
		free(names[i]);
	}
	free(buf);
	return (0);
}
