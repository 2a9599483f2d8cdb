/*
 * conf-fuzzer.c: load arbitrary bytes as a configuration with a table that
 * uses every type. Invariants: a failed load reports errors and leaves the
 * struct zeroed; a successful load dumps YAML that loads back to the same
 * dump and to no changed CONF_NO_RELOAD key.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "../tests/conf_table.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* The dump of a configuration as a string. */
static char *
fuzz_dump(const void *c)
{
	char	*s = NULL;
	size_t	 len;
	FILE	*f;

	if ((f = open_memstream(&s, &len)) == NULL)
		abort();
	if (conf_dump(f, t_keys, c) == -1)
		abort();
	fclose(f);
	return (s);
}

/* Load one input and check the invariants above. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct t_conf		 c, c2, zero;
	struct conf_errors	 errs;
	char			*d1, *d2, **names;
	size_t			 i, n;

	memset(&c, 0, sizeof(c));
	memset(&zero, 0, sizeof(zero));
	conf_errors_init(&errs);
	if (conf_load_buffer("fuzz.yaml", (const char *)data, size, t_keys,
	    &c, &errs) == -1) {
		if (errs.n == 0 || errs.n > CONF_MAX_ERRORS + 1 ||
		    memcmp(&c, &zero, sizeof(c)) != 0)
			abort();
		for (i = 0; i < errs.n; i++)
			if (strncmp(errs.lines[i], "fuzz.yaml:", 10) != 0 ||
			    strchr(errs.lines[i], '\n') != NULL)
				abort();
		conf_errors_free(&errs);
		return (0);
	}
	if (errs.n != 0)
		abort();
	d1 = fuzz_dump(&c);
	memset(&c2, 0, sizeof(c2));
	if (conf_load_buffer("fuzz.yaml", d1, strlen(d1), t_keys, &c2,
	    &errs) == -1) {
		conf_errors_print(stderr, &errs);
		fprintf(stderr, "%s", d1);
		abort();
	}
	d2 = fuzz_dump(&c2);
	if (strcmp(d1, d2) != 0) {
		fprintf(stderr, "--- first\n%s--- second\n%s", d1, d2);
		abort();
	}
	n = conf_changed_no_reload(t_keys, &c, &c2, &names);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (n != 0)
		abort();
	free(d1);
	free(d2);
	conf_free(t_keys, &c);
	conf_free(t_keys, &c2);
	if (memcmp(&c, &zero, sizeof(c)) != 0)
		abort();
	return (0);
}
