/*
 * test_ris.c: the RIS feed's mapping (ris_map) on the golden fixtures of
 * tests/data, the HL7 time conversion, the status tables and the
 * character set repair; no database, no network (test_ris_feed.sh
 * does those).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edge.h"
#include "hl7.h"
#include "ris.h"
#include "tap.h"

static struct ris_settings	set;

/* Parse a fixture (LF line ends: the parser takes any separator). */
static struct hl7_msg *
load(const char *name)
{
	struct hl7_msg	*m;
	char		 path[4096], *buf, *cause = NULL;
	size_t		 len;

	snprintf(path, sizeof(path), "%s/edge/tests/data/%s", tap_srcdir(),
	    name);
	if ((buf = tap_slurp(path, &len)) == NULL) {
		tap_diag("cannot read %s", path);
		return (NULL);
	}
	m = hl7_parse(buf, len, NULL, &cause);
	if (m == NULL)
		tap_diag("%s: %s", name, cause);
	free(cause);
	free(buf);
	return (m);
}

/* Map a fixture; 0 or -1 as ris_map, the record and error filled. */
static int
map(const char *name, struct ris_record *r, struct ris_error *e)
{
	struct hl7_msg	*m;
	int		 rc;

	memset(r, 0, sizeof(*r));
	memset(e, 0, sizeof(*e));
	if ((m = load(name)) == NULL)
		return (-2);
	rc = ris_map(m, &set, r, e);
	hl7_msg_free(m);
	return (rc);
}

static const char *
s(const char *v)
{
	return (v != NULL ? v : "(null)");
}

/* An error case: ACK code, 0357 code and location. */
static void
refused(const char *name, const char *ack, const char *code,
    const char *seg, int field)
{
	struct ris_record	r;
	struct ris_error	e;
	int			rc;

	rc = map(name, &r, &e);
	ok(rc == -1 && strcmp(e.ack, ack) == 0 && strcmp(e.code, code) == 0 &&
	    strcmp(e.seg, seg) == 0 && e.field == field && r.nexams == 0 &&
	    r.patient.mrn == NULL,
	    "%s: %s %s at %s-%d (got %d %s %s %s-%d \"%s\")", name, ack, code,
	    seg, field, rc, e.ack, e.code, e.seg, e.field, e.text);
}

static void
test_orders(void)
{
	struct ris_record	 r;
	struct ris_error	 e;
	const struct ris_exam	*x = &r.exams[0];

	set.time_zone = "America/New_York";
	is_int(map("orm-new.hl7", &r, &e), 0, "ORM new order maps");
	ok(r.kind == RIS_ORDER && strcmp(r.event, "O01") == 0, "ORM is an order");
	is_str(s(r.patient.mrn), "123456", "MRN from the first PID-3");
	is_str(s(r.patient.authority), "HOSP", "assigning authority CX.4.1");
	ok(strcmp(s(r.patient.family), "DOE") == 0 &&
	    strcmp(s(r.patient.given), "JANE") == 0 &&
	    strcmp(s(r.patient.middle), "Q") == 0, "name from PID-5");
	is_str(s(r.patient.birth_date), "1960-01-02", "birth date from PID-7");
	is_str(s(r.patient.sex), "F", "sex from PID-8");
	is_int(r.nexams, 1, "one exam");
	is_str(s(x->accession), "ACC1001", "accession from OBR-3.1");
	is_str(s(x->description), "CT CHEST W/O CONTRAST",
	    "description from OBR-4.2");
	is_str(s(x->modality), "CT", "modality from OBR-24");
	ok(strcmp(s(x->status), "scheduled") == 0 &&
	    strcmp(s(x->status_raw), "SC") == 0 &&
	    strcmp(s(x->status_field), "ORC-5") == 0,
	    "no OBR-25: ORC-5 SC is scheduled");
	ok(strcmp(x->status_time, "2026-11-27 10:00:00") == 0 &&
	    x->time_zone != NULL &&
	    strcmp(x->time_zone, "America/New_York") == 0,
	    "ORC-15 without offset is local time of the site (%s)",
	    x->status_time);
	ok(x->report == NULL && x->signer == NULL, "no OBX, no signer");
	ris_record_clear(&r);

	set.assigning_authority = "OTHER";
	map("orm-new.hl7", &r, &e);
	ok(strcmp(s(r.patient.mrn), "998877") == 0 &&
	    strcmp(s(r.patient.authority), "OTHER") == 0,
	    "the PID-3 repetition of the configured authority");
	ris_record_clear(&r);
	set.assigning_authority = "NOPE";
	refused("orm-new.hl7", "AE", "101", "PID", 3);
	set.assigning_authority = NULL;

	is_int(map("oru-prelim.hl7", &r, &e), 0, "ORU preliminary maps");
	ok(strcmp(s(x->status), "preliminary") == 0 &&
	    strcmp(s(x->status_field), "OBR-25") == 0, "OBR-25 P is preliminary");
	is_str(s(x->report), "FINDINGS: lungs clear & no effusion.\n"
	    "IMPRESSION: normal | preliminary.",
	    "report: OBX-5 lines joined, escapes undone");
	ris_record_clear(&r);

	is_int(map("oru-final.hl7", &r, &e), 0, "ORU final (v2.5.1) maps");
	ok(strcmp(s(x->status), "final") == 0 &&
	    strcmp(s(x->status_raw), "F") == 0,
	    "OBR-25 F wins over ORC-5 CM");
	ok(strcmp(x->status_time, "2026-11-27 12:00:00+01:00") == 0 &&
	    x->time_zone == NULL, "a time with an offset is an instant (%s)",
	    x->status_time);
	is_str(s(x->signer), "1234^WELBY^MARCUS", "signer from OBR-32");
	is_str(s(x->report), "FINDINGS: lungs clear.\nNo effusion.\n\n"
	    "IMPRESSION: normal chest.", "\\.br\\ and empty OBX lines kept");
	ris_record_clear(&r);

	is_int(map("oru-corrected.hl7", &r, &e), 0, "ORU corrected maps");
	ok(strcmp(s(x->status), "corrected") == 0, "OBR-25 C is corrected");
	ris_record_clear(&r);

	is_int(map("orm-cancel.hl7", &r, &e), 0, "ORM cancel maps");
	ok(strcmp(s(x->status), "cancelled") == 0 &&
	    strcmp(s(x->status_raw), "CA") == 0 &&
	    strcmp(s(x->accession), "ACC1002") == 0, "ORC-5 CA is cancelled");
	ris_record_clear(&r);

	is_int(map("orm-obr18.hl7", &r, &e), 0, "OBR-18 fixture maps");
	is_str(s(x->accession), "FIL4001", "accession_field obr-3: OBR-3");
	ok(strcmp(s(x->status), "in-progress") == 0, "ORC-5 IP is in-progress");
	ris_record_clear(&r);
	set.accession_field = EDGE_ACC_OBR18;
	map("orm-obr18.hl7", &r, &e);
	is_str(s(x->accession), "ACC4001", "accession_field obr-18: OBR-18");
	ris_record_clear(&r);
	refused("orm-new.hl7", "AE", "101", "OBR", 18);
	set.accession_field = EDGE_ACC_OBR3;
	set.time_zone = NULL;
}

static void
test_adt(void)
{
	struct ris_record	r;
	struct ris_error	e;

	is_int(map("adt-a08.hl7", &r, &e), 0, "A08 maps");
	ok(r.kind == RIS_UPDATE && r.nexams == 0 &&
	    strcmp(s(r.patient.family), "SMITH") == 0 &&
	    strcmp(s(r.patient.birth_date), "1960-01-03") == 0,
	    "A08 is an update of the demographics");
	ris_record_clear(&r);
	is_int(map("adt-a40.hl7", &r, &e), 0, "A40 maps");
	ok(r.kind == RIS_MERGE && strcmp(r.event, "A40") == 0 &&
	    strcmp(s(r.patient.mrn), "123456") == 0 &&
	    strcmp(s(r.prior.mrn), "654321") == 0 &&
	    strcmp(s(r.prior.authority), "HOSP") == 0,
	    "A40 merges MRG-1 into PID-3");
	ris_record_clear(&r);
	is_int(map("adt-a18.hl7", &r, &e), 0, "A18 (v2.3) maps");
	ok(r.kind == RIS_MERGE && strcmp(r.event, "A18") == 0 &&
	    strcmp(s(r.prior.mrn), "999111") == 0 &&
	    strcmp(s(r.prior.authority), "HOSP") == 0,
	    "MRG-1 without an authority takes the survivor's");
	ris_record_clear(&r);
}

static void
test_errors(void)
{
	refused("err-no-accession.hl7", "AE", "101", "OBR", 3);
	refused("err-no-time.hl7", "AE", "101", "OBR", 22);
	refused("err-bad-time.hl7", "AE", "102", "OBR", 22);
	refused("err-bad-status.hl7", "AE", "103", "OBR", 25);
	refused("err-type.hl7", "AR", "200", "MSH", 9);
	refused("err-version.hl7", "AR", "203", "MSH", 12);
	refused("err-no-pid.hl7", "AE", "101", "PID", 3);
}

static void
test_time(void)
{
	char	out[RIS_TIME_LEN];
	int	local;

	ok(ris_time("20261127120000.1234-0500", NULL, out, sizeof(out),
	    &local) == 0 && strcmp(out, "2026-11-27 12:00:00.1234-05:00") == 0 &&
	    !local, "fraction and negative offset kept (%s)", out);
	ok(ris_time("20261127", "Europe/Paris", out, sizeof(out), &local) == 0 &&
	    strcmp(out, "2026-11-27 00:00:00") == 0 && local,
	    "a date alone is midnight local time");
	setenv("TZ", "UTC", 1);
	tzset();
	ok(ris_time("202611271015", NULL, out, sizeof(out), &local) == 0 &&
	    strcmp(out, "2026-11-27 10:15:00+00") == 0 && !local,
	    "without a zone, the system's (here UTC) converts (%s)", out);
	setenv("TZ", "America/New_York", 1);
	tzset();
	ok(ris_time("202607011015", NULL, out, sizeof(out), &local) == 0 &&
	    strcmp(out, "2026-07-01 14:15:00+00") == 0,
	    "the system's zone with summer time (%s)", out);
	unsetenv("TZ");
	tzset();
	ok(ris_time("20260230", NULL, out, sizeof(out), &local) == -1 &&
	    ris_time("2026", NULL, out, sizeof(out), &local) == -1 &&
	    ris_time("202611271261", NULL, out, sizeof(out), &local) == -1 &&
	    ris_time("20261127+01", NULL, out, sizeof(out), &local) == -1 &&
	    ris_time("20261127120000.", NULL, out, sizeof(out), &local) == -1 &&
	    ris_time("2026112712x", NULL, out, sizeof(out), &local) == -1 &&
	    ris_time("", NULL, out, sizeof(out), &local) == -1,
	    "invalid times are refused");
	ok(ris_time("20240229", NULL, out, sizeof(out), &local) == 0 &&
	    ris_time("21000229", NULL, out, sizeof(out), &local) == -1,
	    "leap years");
}

static void
test_status(void)
{
	static const struct { const char *code, *field, *want; } t[] = {
		{ "O", "OBR-25", "scheduled" }, { "I", "OBR-25", "in-progress" },
		{ "S", "OBR-25", "scheduled" }, { "A", "OBR-25", "preliminary" },
		{ "P", "OBR-25", "preliminary" }, { "C", "OBR-25", "corrected" },
		{ "R", "OBR-25", "preliminary" }, { "F", "OBR-25", "final" },
		{ "X", "OBR-25", "cancelled" }, { "CM", "ORC-5", "completed" },
		{ "IP", "ORC-5", "in-progress" }, { "SC", "ORC-5", "scheduled" },
		{ "CA", "ORC-5", "cancelled" }, { "DC", "ORC-5", "cancelled" },
		{ "HD", "ORC-5", "scheduled" }, { "F", "ORC-5", "final" },
		{ "NW", "ORC-1", "scheduled" }, { "CA", "ORC-1", "cancelled" },
		{ "RE", "OBR-25", "corrected" }, { "f", "OBR-25", "final" },
	};
	size_t	i, bad = 0;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (ris_status(t[i].code, t[i].field) == NULL ||
		    strcmp(ris_status(t[i].code, t[i].field), t[i].want) != 0) {
			tap_diag("%s in %s", t[i].code, t[i].field);
			bad++;
		}
	ok(bad == 0, "status tables 0123, 0038, 0119");
	ok(ris_status("Q", "OBR-25") == NULL &&
	    ris_status("ER", "ORC-5") == NULL &&
	    ris_status("F", "ORC-1") == NULL && ris_status("", "OBR-25") == NULL,
	    "unknown codes have no status");
}

static void
test_utf8(void)
{
	char	*o;
	size_t	 n;

	o = ris_utf8("caf\xc3\xa9", 5, &n);
	ok(n == 5 && strcmp(o, "caf\xc3\xa9") == 0, "UTF-8 is kept");
	free(o);
	o = ris_utf8("caf\xe9!", 5, &n);
	ok(n == 6 && strcmp(o, "caf\xc3\xa9!") == 0,
	    "ISO 8859-1 becomes UTF-8");
	free(o);
	o = ris_utf8("\xed\xa0\x80", 3, &n);
	ok(n == 6, "a UTF-16 surrogate is not UTF-8");
	free(o);
}

int
main(void)
{
	memset(&set, 0, sizeof(set));
	test_orders();
	test_adt();
	test_errors();
	test_time();
	test_status();
	test_utf8();
	return (tap_done());
}
