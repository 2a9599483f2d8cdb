/*
 * api-fuzzer.c: the staff API's request parsers. Any bytes go through
 * api_jobset_parse (the body of POST /api/job-sets) and api_urldecode (a
 * query value); an accepted body must be complete (a patient, 1 to
 * API_MAX_EXAMS distinct positive exams, a site exactly for destination
 * site, a known urgency and scheme, an 8-digit dob, a password), a
 * refusal must say why. The same bytes go through api_import_parse (the
 * bodies of POST /api/imports/lookup and /api/imports): an accepted one
 * has a known scheme, a secret and an 8-digit dob, no line break in what
 * goes to isn-edge-fetch's stdin, and for a creation a UID and a PACS.
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

static void
check_import(const struct api_import_body *b, int create)
{
	const struct import_secrets	*s = &b->s;

	if (s->scheme == NULL || (strcmp(s->scheme, "any") != 0 &&
	    strcmp(s->scheme, "isn2") != 0 &&
	    strcmp(s->scheme, "rsna-token") != 0 &&
	    strcmp(s->scheme, "rsna-access-code") != 0))
		abort();
	if (s->secret == NULL || *s->secret == '\0' ||
	    strchr(s->secret, '\n') != NULL || s->password == NULL ||
	    strchr(s->password, '\n') != NULL)
		abort();
	if (s->dob == NULL || strlen(s->dob) != 8 ||
	    strspn(s->dob, "0123456789") != 8)
		abort();
	if (create && (b->study == NULL || b->pacs == NULL ||
	    strspn(b->study, "0123456789.") != strlen(b->study) ||
	    (b->accession != NULL && b->mrn == NULL)))
		abort();
	if (!create && (b->study != NULL || b->pacs != NULL))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_import_body	 ib;
	struct api_jobset	 js;
	int			 create;
	char			*cause = NULL, *out = NULL;

	if (api_jobset_parse((const char *)data, size, &js, &cause) == 0) {
		check(&js);
		api_jobset_clear(&js);
	} else if (cause == NULL || *cause == '\0')
		abort();
	free(cause);
	for (create = 0; create <= 1; create++) {
		cause = NULL;
		if (api_import_parse((const char *)data, size, create, &ib,
		    &cause) == 0) {
			check_import(&ib, create);
			api_import_clear(&ib);
		} else if (cause == NULL || *cause == '\0')
			abort();
		free(cause);
	}
	if (api_urldecode((const char *)data, size, &out) == 0) {
		if (strlen(out) > size)
			abort();
		free(out);
	}
	return (0);
}
