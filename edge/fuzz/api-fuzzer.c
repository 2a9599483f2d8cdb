/*
 * api-fuzzer.c: the staff API's request parsers. Any bytes go through
 * api_jobset_parse (the body of POST /api/job-sets) and api_urldecode (a
 * query value); an accepted body must be complete (a patient, 1 to
 * API_MAX_EXAMS distinct positive exams, a site exactly for destination
 * site, a known urgency and scheme, an 8-digit dob, a password), a
 * refusal must say why.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(const struct api_jobset *js)
{
	size_t	i, j;

	if (js->patient <= 0 || js->nexams == 0 || js->nexams > API_MAX_EXAMS)
		abort();
	for (i = 0; i < js->nexams; i++) {
		if (js->exams[i] <= 0)
			abort();
		for (j = 0; j < i; j++)
			if (js->exams[i] == js->exams[j])
				abort();
	}
	if ((js->site != NULL) != (js->to_site != 0))
		abort();
	if (js->urgency == NULL || (strcmp(js->urgency, "routine") != 0 &&
	    strcmp(js->urgency, "final") != 0 &&
	    strcmp(js->urgency, "immediate") != 0))
		abort();
	if (js->scheme != NULL && strcmp(js->scheme, "isn2") != 0 &&
	    strcmp(js->scheme, "rsna-token") != 0)
		abort();
	if (strlen(js->dob) != 8 || strspn(js->dob, "0123456789") != 8)
		abort();
	if (js->password == NULL || *js->password == '\0')
		abort();
	if (js->delay_hours < -1 || js->delay_hours > 24 * 366)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_jobset	 js;
	char			*cause = NULL, *out = NULL;

	if (api_jobset_parse((const char *)data, size, &js, &cause) == 0) {
		check(&js);
		api_jobset_clear(&js);
	} else if (cause == NULL || *cause == '\0')
		abort();
	free(cause);
	if (api_urldecode((const char *)data, size, &out) == 0) {
		if (strlen(out) > size)
			abort();
		free(out);
	}
	return (0);
}
