/*
 * iti8.h: the ITI-8 patient identity feed rules (HL7 v2.3.1 ADT A01, A04,
 * A05, A08 register or update, A40 merge), shared by the clearinghouse and
 * isn-validate. Problems carry HL7 table 0357 error codes.
 */
#ifndef ISN_ITI8_H
#define ISN_ITI8_H

#include <stddef.h>

#include "hl7.h"

#define ITI8_MAX_PROBLEMS	32

struct iti8_problem {
	int	 code;		/* HL7 table 0357: 100, 101, 102, 200 ... */
	int	 warning;	/* 1: reported, but the message is acceptable */
	char	 location[32];	/* "PID-3", "MSH-12" */
	char	*message;
};

struct iti8_feed {
	char	 event[4];	/* A01, A04, A05, A08 or A40 */
	int	 merge;		/* A40 */
	char	*patient_id;	/* PID-3.1 in the affinity domain */
	char	*domain;	/* the domain's OID (PID-3.4.2) */
	char	*prior_id;	/* A40: MRG-1.1 in the same domain */
	struct iti8_problem problems[ITI8_MAX_PROBLEMS];
	size_t	 nproblems;
	size_t	 nerrors;	/* problems that are not warnings */
};

/*
 * Check a parsed message against ITI-8. oid is the affinity domain; NULL
 * accepts any ISO-typed domain (for conformance samples). Returns 0 when
 * the message is acceptable (warnings allowed), -1 otherwise; either way
 * the feed holds every problem found. Free with iti8_feed_clear.
 */
int	iti8_check(struct hl7_msg *, const char *oid, struct iti8_feed *);
void	iti8_feed_clear(struct iti8_feed *);
/* The ERR code and the first error's text, for an ACK (AE) to the sender. */
const struct iti8_problem *iti8_first_error(const struct iti8_feed *);

#endif
