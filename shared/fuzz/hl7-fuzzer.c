/*
 * hl7-fuzzer.c: the ER7 parser must reject or accept any bytes without
 * crashing, parse -> serialise -> parse must be a fixed point, ACKs built
 * from any parsed message must parse, and set -> get must give back the
 * value stored.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "hl7.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Serialise or abort. */
static void
hl7_fuzz_serialise(struct hl7_msg *m, struct dbuf *out)
{
	dbuf_init(out, HL7_MAX_SIZE * 2);
	if (hl7_serialise(m, out) == -1)
		abort();
}

/* The ACK of a parsed message must itself parse and point back at it. */
static void
hl7_fuzz_ack(struct hl7_msg *m, const char *code)
{
	struct hl7_msg	*ack, *back;
	struct dbuf	 out;
	char		*cause = NULL;

	ack = hl7_ack(m, code, "101", "bad | ^ ~ \\ & field", "ISN", "EDGE",
	    &cause);
	if (ack == NULL)
		abort();
	hl7_ack_set_location(ack, "PID", 1, 3);
	hl7_fuzz_serialise(ack, &out);
	if ((back = hl7_parse(out.data, out.len, NULL, &cause)) == NULL)
		abort();
	if (strcmp(hl7_get(back, "MSA", 1, 2, 1, 1, 1),
	    hl7_control_id(m)) != 0)
		abort();
	if (strcmp(hl7_get(back, "MSA", 1, 1, 1, 1, 1), code) != 0 ||
	    strcmp(hl7_get(back, "MSA", 1, 3, 1, 1, 1),
	    "bad | ^ ~ \\ & field") != 0)
		abort();
	if (hl7_check_msh(back, &cause) == -1)
		abort();
	hl7_msg_free(back);
	hl7_msg_free(ack);
	dbuf_free(&out);
}

/* Any NUL-free bytes set as a value must come back unchanged. */
static void
hl7_fuzz_value(const uint8_t *data, size_t size)
{
	struct hl7_msg	*m, *back;
	struct dbuf	 out;
	char		*v, *cause = NULL;

	if (size > 4096)
		size = 4096;
	v = malloc(size + 1);
	memcpy(v, data, size);
	v[size] = '\0';
	m = hl7_msg_new(NULL);
	if (hl7_set(m, "OBX", 1, 5, 2, 3, 2, v) == -1)
		abort();
	if (strcmp(hl7_get(m, "OBX", 1, 5, 2, 3, 2), v) != 0)
		abort();
	hl7_fuzz_serialise(m, &out);
	if ((back = hl7_parse(out.data, out.len, NULL, &cause)) == NULL)
		abort();
	if (strcmp(hl7_get(back, "OBX", 1, 5, 2, 3, 2), v) != 0)
		abort();
	hl7_msg_free(back);
	hl7_msg_free(m);
	dbuf_free(&out);
	free(v);
}

/* One input: parse, check the invariants, build ACKs and values. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hl7_limits	 lim;
	struct hl7_msg		*m, *m2, *ack;
	struct hl7_pos		 pos;
	struct dbuf		 s1, s2, d1, d2;
	char			*cause = NULL, path[32];
	size_t			 i;

	hl7_limits_default(&lim);
	lim.max_segments = 2000;
	lim.max_fields = 300;
	lim.max_reps = 300;

	if (size < sizeof(path)) {
		memcpy(path, data, size);
		path[size] = '\0';
		if (hl7_path_parse(path, &pos, &cause) == -1) {
			if (cause == NULL)
				abort();
			free(cause);
			cause = NULL;
		}
	}

	m = hl7_parse(data, size, &lim, &cause);
	if (m == NULL) {
		if (cause == NULL || *cause == '\0')
			abort();
		free(cause);
		cause = NULL;
		/* Whatever came in, a NAK for it must be well formed. */
		ack = hl7_ack_raw(data, size, "AR", "102", NULL, "ISN", NULL,
		    &cause);
		if (ack == NULL || hl7_check_msh(ack, &cause) == -1)
			abort();
		hl7_msg_free(ack);
		if (memchr(data, '\0', size) == NULL)
			hl7_fuzz_value(data, size);
		return (0);
	}
	if (hl7_nsegments(m) == 0 || strcmp(hl7_segment_id(m, 0), "MSH") != 0)
		abort();

	hl7_fuzz_serialise(m, &s1);
	if (s1.len > size + 1)	/* a CR may be added after the last segment */
		abort();
	if ((m2 = hl7_parse(s1.data, s1.len, &lim, &cause)) == NULL)
		abort();
	hl7_fuzz_serialise(m2, &s2);
	if (s1.len != s2.len || memcmp(s1.data, s2.data, s1.len) != 0)
		abort();
	if (hl7_nsegments(m) != hl7_nsegments(m2))
		abort();
	for (i = 0; i < hl7_nsegments(m); i++) {
		if (strcmp(hl7_segment_id(m, i), hl7_segment_id(m2, i)) != 0)
			abort();
	}
	if (hl7_nsegments(m) <= 50 && size <= 8192) {
		dbuf_init(&d1, HL7_MAX_SIZE * 16);
		dbuf_init(&d2, HL7_MAX_SIZE * 16);
		if (hl7_dump(m, &d1) == -1 || hl7_dump(m2, &d2) == -1 ||
		    strcmp(dbuf_str(&d1), dbuf_str(&d2)) != 0)
			abort();
		dbuf_free(&d1);
		dbuf_free(&d2);
	}
	if (strcmp(hl7_msg_type(m), hl7_msg_type(m2)) != 0 ||
	    strcmp(hl7_control_id(m), hl7_control_id(m2)) != 0 ||
	    hl7_count_reps(m, "PID", 1, 3) != hl7_count_reps(m2, "PID", 1, 3))
		abort();
	if (hl7_check_msh(m, &cause) == -1) {
		free(cause);
		cause = NULL;
	}
	(void)hl7_get_path(m, "PID-3(2).4.2");
	(void)hl7_get_raw(m, "PID", 1, 3, 1, 0, 0);

	hl7_fuzz_ack(m, "AE");
	hl7_fuzz_ack(m, "AA");

	/* Writing into a parsed message keeps it serialisable. */
	if (hl7_set(m, "PID", 1, 3, 2, 4, 2, "1.2.3&x") == -1 ||
	    strcmp(hl7_get(m, "PID", 1, 3, 2, 4, 2), "1.2.3&x") != 0) {
		if (hl7_nsegments(m) < lim.max_segments)
			abort();
	}
	dbuf_free(&s2);
	hl7_fuzz_serialise(m, &s2);
	dbuf_free(&s2);

	hl7_msg_free(m2);
	hl7_msg_free(m);
	dbuf_free(&s1);
	return (0);
}
