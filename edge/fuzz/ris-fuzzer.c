/*
 * ris-fuzzer.c: the RIS feed's message-to-record mapping. Any bytes go
 * through the daemon's path (character set repair, parse, ris_map under
 * each setting); a mapped record must be complete (an MRN, every exam
 * with an accession, a known status, a time), a refusal must say AE or
 * AR with a 0357 code, and the NAK built from it must parse.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "edge.h"
#include "hl7.h"
#include "ris.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *const statuses[] = { "scheduled", "in-progress",
	"completed", "preliminary", "final", "corrected", "cancelled", NULL };

static void
check_record(const struct ris_record *r)
{
	size_t	i, j;

	if (r->patient.mrn == NULL || *r->patient.mrn == '\0' ||
	    r->patient.authority == NULL)
		abort();
	if (r->kind == RIS_MERGE && (r->prior.mrn == NULL ||
	    r->prior.authority == NULL))
		abort();
	if (r->kind == RIS_ORDER && r->nexams == 0)
		abort();
	for (i = 0; i < r->nexams; i++) {
		const struct ris_exam *e = &r->exams[i];

		if (e->accession == NULL || e->status_raw == NULL ||
		    e->status_field == NULL || e->status_time[0] == '\0')
			abort();
		for (j = 0; statuses[j] != NULL; j++)
			if (strcmp(statuses[j], e->status) == 0)
				break;
		if (statuses[j] == NULL)
			abort();
	}
}

static void
check_error(struct hl7_msg *m, const struct ris_error *e)
{
	struct hl7_msg	*ack, *back;
	struct dbuf	 out;
	char		*cause = NULL;

	if ((strcmp(e->ack, "AE") != 0 && strcmp(e->ack, "AR") != 0) ||
	    strlen(e->code) != 3 || e->text[0] == '\0')
		abort();
	if ((ack = hl7_ack(m, e->ack, e->code, e->text, NULL, NULL,
	    &cause)) == NULL) {
		free(cause);
		return;	/* an MSH the ACK cannot echo: the daemon closes */
	}
	if (e->seg[0] != '\0' && e->field > 0)
		hl7_ack_set_location(ack, e->seg, e->occ > 0 ? e->occ : 1,
		    e->field);
	dbuf_init(&out, 4 * HL7_MAX_SIZE);
	if (hl7_serialise(ack, &out) == 0) {
		if ((back = hl7_parse(out.data, out.len, NULL, &cause)) ==
		    NULL)
			abort();
		if (strcmp(hl7_get(back, "MSA", 1, 1, 1, 1, 1), e->ack) != 0)
			abort();
		hl7_msg_free(back);
	}
	dbuf_free(&out);
	hl7_msg_free(ack);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ris_settings	 set[3];
	struct ris_record	 r;
	struct ris_error	 e;
	struct hl7_msg		*m;
	char			*text, *cause = NULL, out[RIS_TIME_LEN];
	size_t			 len, i;
	int			 local;

	text = ris_utf8((const char *)data, size, &len);
	if (len < 64) {
		(void)ris_time(text, NULL, out, sizeof(out), &local);
		(void)ris_time(text, "UTC", out, sizeof(out), &local);
		(void)ris_status(text, "ORC-5");
	}
	if ((m = hl7_parse(text, len, NULL, &cause)) == NULL) {
		free(cause);
		free(text);
		return (0);
	}
	memset(set, 0, sizeof(set));
	set[1].accession_field = EDGE_ACC_OBR18;
	set[1].time_zone = "UTC";
	set[2].assigning_authority = "HOSP";
	for (i = 0; i < 3; i++) {
		if (ris_map(m, &set[i], &r, &e) == 0) {
			check_record(&r);
			ris_record_clear(&r);
		} else {
			if (r.patient.mrn != NULL || r.nexams != 0)
				abort();
			check_error(m, &e);
		}
	}
	hl7_msg_free(m);
	free(text);
	return (0);
}
