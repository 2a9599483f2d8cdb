/* iti8.c: ITI-8 patient identity feed rules. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iti8.h"
#include "xmalloc.h"

#define ITI8_SEGMENT_SEQUENCE	100
#define ITI8_REQUIRED_MISSING	101
#define ITI8_DATA_TYPE		102
#define ITI8_UNSUPPORTED_TYPE	200
#define ITI8_UNSUPPORTED_EVENT	201
#define ITI8_UNSUPPORTED_VERSION 203
#define ITI8_UNKNOWN_KEY	204

static void printflike(5, 6)
iti8_problem(struct iti8_feed *f, int code, int warning, const char *loc,
    const char *fmt, ...)
{
	struct iti8_problem	*p;
	va_list			 ap;

	if (!warning)
		f->nerrors++;
	if (f->nproblems == ITI8_MAX_PROBLEMS)
		return;
	p = &f->problems[f->nproblems++];
	p->code = code;
	p->warning = warning;
	snprintf(p->location, sizeof(p->location), "%s", loc);
	va_start(ap, fmt);
	xvasprintf(&p->message, fmt, ap);
	va_end(ap);
}

/* A field the profile requires; missing is an error or, for lax ones, a warning. */
static void
iti8_require(struct hl7_msg *m, struct iti8_feed *f, const char *seg,
    int field, int warning, const char *what)
{
	char	loc[16];

	if (*hl7_get_raw(m, seg, 1, field, 0, 0, 0) != '\0')
		return;
	snprintf(loc, sizeof(loc), "%s-%d", seg, field);
	iti8_problem(f, ITI8_REQUIRED_MISSING, warning, loc, "%s (%s) is "
	    "missing", loc, what);
}

static void
iti8_check_msh(struct hl7_msg *m, struct iti8_feed *f)
{
	static const char *events[] = { "A01", "A04", "A05", "A08", "A40" };
	const char	*type = hl7_get(m, "MSH", 1, 9, 1, 1, 0);
	const char	*event = hl7_get(m, "MSH", 1, 9, 1, 2, 0);
	const char	*version = hl7_version(m);
	size_t		 i;

	/* RSNA's edge left MSH-3 to MSH-6 empty: accepted with a warning. */
	iti8_require(m, f, "MSH", 3, 1, "sending application");
	iti8_require(m, f, "MSH", 4, 1, "sending facility");
	iti8_require(m, f, "MSH", 5, 1, "receiving application");
	iti8_require(m, f, "MSH", 6, 1, "receiving facility");
	iti8_require(m, f, "MSH", 7, 0, "date/time of message");
	iti8_require(m, f, "MSH", 10, 0, "message control id");
	iti8_require(m, f, "MSH", 11, 0, "processing id");
	if (strcmp(type, "ADT") != 0) {
		iti8_problem(f, ITI8_UNSUPPORTED_TYPE, 0, "MSH-9", "message "
		    "type \"%.16s\" is not ADT", type);
		return;
	}
	for (i = 0; i < sizeof(events) / sizeof(*events); i++)
		if (strcmp(event, events[i]) == 0)
			break;
	if (i == sizeof(events) / sizeof(*events)) {
		iti8_problem(f, ITI8_UNSUPPORTED_EVENT, 0, "MSH-9", "event "
		    "\"%.16s\" is not one of A01, A04, A05, A08, A40", event);
		return;
	}
	snprintf(f->event, sizeof(f->event), "%s", event);
	f->merge = strcmp(event, "A40") == 0;
	if (strcmp(version, "2.3.1") != 0)
		iti8_problem(f, ITI8_UNSUPPORTED_VERSION, 0, "MSH-12",
		    "version \"%.16s\" is not 2.3.1", version);
}

/*
 * Find the repetition of a CX field in the wanted domain (any ISO-typed
 * domain when oid is NULL, or the first one that also appears in other).
 */
static int
iti8_find_domain(struct hl7_msg *m, const char *seg, int field,
    const char *oid, int *rep_out)
{
	size_t	 n = hl7_count_reps(m, seg, 1, field), r;

	for (r = 1; r <= n; r++) {
		const char *id = hl7_get(m, seg, 1, field, (int)r, 1, 0);
		const char *uid = hl7_get(m, seg, 1, field, (int)r, 4, 2);
		const char *type = hl7_get(m, seg, 1, field, (int)r, 4, 3);

		if (*id == '\0' || *uid == '\0' || strcmp(type, "ISO") != 0)
			continue;
		if (oid != NULL && strcmp(uid, oid) != 0)
			continue;
		*rep_out = (int)r;
		return (0);
	}
	return (-1);
}

static void
iti8_check_pid(struct hl7_msg *m, struct iti8_feed *f, const char *oid)
{
	size_t	 n, r;
	int	 rep = 0;

	if (hl7_count_segments(m, "PID") == 0) {
		iti8_problem(f, ITI8_SEGMENT_SEQUENCE, 0, "PID", "the PID "
		    "segment is missing");
		return;
	}
	if (hl7_count_segments(m, "EVN") == 0)
		iti8_problem(f, ITI8_SEGMENT_SEQUENCE, 0, "EVN", "the EVN "
		    "segment is missing");
	else
		iti8_require(m, f, "EVN", 2, 0, "recorded date/time");
	iti8_require(m, f, "PID", 3, 0, "patient identifier list");
	iti8_require(m, f, "PID", 5, 0, "patient name");
	if (*hl7_get_raw(m, "PID", 1, 3, 0, 0, 0) == '\0')
		return;

	/* Without a fixed domain take the first ISO one (that MRG-1 shares). */
	if (oid != NULL && iti8_find_domain(m, "PID", 3, oid, &rep) == -1)
		rep = 0;
	n = oid != NULL ? 0 : hl7_count_reps(m, "PID", 1, 3);
	for (r = 1; r <= n; r++) {
		const char *uid = hl7_get(m, "PID", 1, 3, (int)r, 4, 2);
		int mrep;

		rep = 0;
		if (iti8_find_domain(m, "PID", 3, uid, &rep) == 0 &&
		    (!f->merge || iti8_find_domain(m, "MRG", 1, uid,
		    &mrep) == 0))
			break;
		rep = 0;
	}
	if (rep == 0) {
		iti8_problem(f, ITI8_UNKNOWN_KEY, 0, "PID-3", "no identifier "
		    "in PID-3 has the assigning authority %s (&OID&ISO)",
		    oid != NULL ? oid : "of an ISO-typed domain");
		return;
	}
	f->patient_id = xstrdup(hl7_get(m, "PID", 1, 3, rep, 1, 0));
	f->domain = xstrdup(hl7_get(m, "PID", 1, 3, rep, 4, 2));
}

static void
iti8_check_visit_or_merge(struct hl7_msg *m, struct iti8_feed *f)
{
	int	rep;

	if (!f->merge) {
		if (hl7_count_segments(m, "PV1") == 0)
			iti8_problem(f, ITI8_SEGMENT_SEQUENCE, 0, "PV1",
			    "the PV1 segment is missing");
		else
			iti8_require(m, f, "PV1", 2, 0, "patient class");
		return;
	}
	if (hl7_count_segments(m, "MRG") == 0) {
		iti8_problem(f, ITI8_SEGMENT_SEQUENCE, 0, "MRG", "the MRG "
		    "segment of a merge is missing");
		return;
	}
	if (f->domain == NULL)
		return;
	if (iti8_find_domain(m, "MRG", 1, f->domain, &rep) == -1) {
		iti8_problem(f, ITI8_UNKNOWN_KEY, 0, "MRG-1", "no prior "
		    "identifier in MRG-1 has the assigning authority %s",
		    f->domain);
		return;
	}
	f->prior_id = xstrdup(hl7_get(m, "MRG", 1, 1, rep, 1, 0));
	if (strcmp(f->prior_id, f->patient_id) == 0)
		iti8_problem(f, ITI8_DATA_TYPE, 0, "MRG-1", "a patient cannot "
		    "be merged into itself");
}

int
iti8_check(struct hl7_msg *m, const char *oid, struct iti8_feed *f)
{
	memset(f, 0, sizeof(*f));
	iti8_check_msh(m, f);
	if (f->event[0] != '\0') {
		iti8_check_pid(m, f, oid);
		iti8_check_visit_or_merge(m, f);
	}
	return (f->nerrors == 0 ? 0 : -1);
}

void
iti8_feed_clear(struct iti8_feed *f)
{
	size_t	i;

	for (i = 0; i < f->nproblems; i++)
		free(f->problems[i].message);
	free(f->patient_id);
	free(f->domain);
	free(f->prior_id);
	memset(f, 0, sizeof(*f));
}

const struct iti8_problem *
iti8_first_error(const struct iti8_feed *f)
{
	size_t	i;

	for (i = 0; i < f->nproblems; i++)
		if (!f->problems[i].warning)
			return (&f->problems[i]);
	return (NULL);
}
