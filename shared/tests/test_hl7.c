/* test_hl7.c: ER7 parsing, accessors, escapes, builder, limits and ACKs. */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "hl7.h"
#include "tap.h"
#include "xmalloc.h"

/* Serialise to a string with CR shown as newline, for golden files. */
static char *
er7_text(struct hl7_msg *m)
{
	struct dbuf	 b;
	char		*s, *p;

	dbuf_init(&b, 1 << 22);
	if (hl7_serialise(m, &b) == -1)
		return (xstrdup("(serialise failed)"));
	s = dbuf_take(&b, NULL);
	for (p = s; *p != '\0'; p++)
		if (*p == '\r')
			*p = '\n';
	return (s);
}

/* Serialise to a malloc'd string, CR kept. */
static char *
er7(struct hl7_msg *m)
{
	struct dbuf	b;

	dbuf_init(&b, 1 << 22);
	if (hl7_serialise(m, &b) == -1)
		return (xstrdup("(serialise failed)"));
	return (dbuf_take(&b, NULL));
}

/* The golden description of parsing one input. */
static char *
describe(const char *buf, size_t len)
{
	struct hl7_msg	*m;
	struct dbuf	 b;
	char		*cause = NULL, *s;

	dbuf_init(&b, 1 << 22);
	if ((m = hl7_parse(buf, len, NULL, &cause)) == NULL) {
		dbuf_printf(&b, "error: %s\n", cause);
		free(cause);
		return (dbuf_take(&b, NULL));
	}
	dbuf_printf(&b, "type=%s control=%s version=%s segments=%zu\n",
	    hl7_msg_type(m), hl7_control_id(m), hl7_version(m),
	    hl7_nsegments(m));
	if (hl7_check_msh(m, &cause) == 0)
		dbuf_printf(&b, "check: ok\n");
	else {
		dbuf_printf(&b, "check: %s\n", cause);
		free(cause);
	}
	hl7_dump(m, &b);
	s = er7_text(m);
	dbuf_printf(&b, "--\n%s", s);
	free(s);
	hl7_msg_free(m);
	return (dbuf_take(&b, NULL));
}

/* Compare got with a golden file (HL7_REGEN=1 rewrites it). */
static void
golden(const char *name, const char *got)
{
	char	 path[4096], *want;
	size_t	 len;
	FILE	*f;

	snprintf(path, sizeof(path), "%s/shared/tests/data/hl7/%s",
	    tap_srcdir(), name);
	if (getenv("HL7_REGEN") != NULL && (f = fopen(path, "wb")) != NULL) {
		fputs(got, f);
		fclose(f);
	}
	if ((want = tap_slurp(path, &len)) == NULL) {
		ok(0, "golden %s: cannot read %s", name, path);
		return;
	}
	is_str(got, want, "golden %s", name);
	free(want);
}

/* Every input in data/hl7 against its .expected, and stable when re-read. */
static void
test_golden_files(void)
{
	char		 dir[4096], path[4200], exp[300], *buf, *d1, *d2, *s;
	struct dirent	*de;
	struct hl7_msg	*m, *m2;
	DIR		*dp;
	size_t		 len, n = 0;

	snprintf(dir, sizeof(dir), "%s/shared/tests/data/hl7", tap_srcdir());
	if ((dp = opendir(dir)) == NULL) {
		ok(0, "open %s", dir);
		return;
	}
	while ((de = readdir(dp)) != NULL) {
		len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 4, ".hl7") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((buf = tap_slurp(path, &len)) == NULL) {
			ok(0, "read %s", path);
			continue;
		}
		snprintf(exp, sizeof(exp), "%.*s.expected",
		    (int)(strlen(de->d_name) - 4), de->d_name);
		d1 = describe(buf, len);
		golden(exp, d1);
		n++;
		/* Parse -> serialise -> parse gives the same description. */
		if ((m = hl7_parse(buf, len, NULL, NULL)) != NULL) {
			s = er7(m);
			m2 = hl7_parse(s, strlen(s), NULL, NULL);
			ok(m2 != NULL, "%s: serialised form parses", de->d_name);
			if (m2 != NULL) {
				free(s);
				s = er7(m2);
				d2 = describe(s, strlen(s));
				is_str(d2, d1, "%s: round trip is stable",
				    de->d_name);
				free(d2);
				hl7_msg_free(m2);
			}
			free(s);
			hl7_msg_free(m);
		}
		free(d1);
		free(buf);
	}
	closedir(dp);
	ok(n >= 15, "found the golden inputs (%zu)", n);
}

/* Parse a file from the network's shared samples; NULL if absent. */
static struct hl7_msg *
sample(const char *shared, const char *name)
{
	struct hl7_msg	*m;
	char		 path[4096], *buf, *cause = NULL;
	size_t		 len;

	snprintf(path, sizeof(path), "%s/xds-samples/%s", shared, name);
	if ((buf = tap_slurp(path, &len)) == NULL) {
		ok(0, "read %s", path);
		return (NULL);
	}
	m = hl7_parse(buf, len, NULL, &cause);
	ok(m != NULL, "%s parses%s%s", name, cause ? ": " : "",
	    cause ? cause : "");
	free(cause);
	free(buf);
	return (m);
}

/* The ITI-8 samples collected from IPF, Gazelle and NIST. */
static void
test_samples(void)
{
	const char	*shared = tap_shareddir();
	struct hl7_msg	*m;
	char		*cause = NULL;

	if (shared == NULL) {
		tap_skip(53, "../shared (xds-samples) is absent");
		return;
	}
	if ((m = sample(shared, "iti8/ipf-gazelle-iti-8-A01.hl7")) != NULL) {
		ok(hl7_check_msh(m, &cause) == 0, "A01: MSH complete");
		is_str(hl7_msg_type(m), "ADT^A01", "A01: type");
		is_str(hl7_get_path(m, "MSH-9.3"), "ADT_A01", "A01: structure");
		is_str(hl7_control_id(m), "128856", "A01: control id");
		is_str(hl7_version(m), "2.3.1", "A01: version");
		is_str(hl7_get_path(m, "MSH-3"), "SEND_APP", "A01: MSH-3");
		is_str(hl7_get_path(m, "MSH-15"), "ER", "A01: MSH-15");
		is_str(hl7_get_path(m, "PID-3.1"), "PDQ113XX35", "A01: PID-3.1");
		is_str(hl7_get_path(m, "PID-3.4"), "HIMSS2005", "A01: PID-3.4");
		is_str(hl7_get_path(m, "PID-3.4.2"),
		    "1.3.6.1.4.1.21367.2005.1.1", "A01: PID-3.4.2");
		is_str(hl7_get_path(m, "PID-3.4.3"), "ISO", "A01: PID-3.4.3");
		is_str(hl7_get_path(m, "PID-5.7"), "L", "A01: PID-5.7");
		is_str(hl7_get_path(m, "PV1-2"), "I", "A01: PV1-2");
		hl7_msg_free(m);
	}
	if ((m = sample(shared, "iti8/ipf-gazelle-iti-8-A40.hl7")) != NULL) {
		is_str(hl7_msg_type(m), "ADT^A40", "gazelle A40: type");
		is_str(hl7_get_path(m, "MRG-1.1"), "PDQ113XX03",
		    "gazelle A40: MRG-1.1");
		is_str(hl7_get_path(m, "MRG-1.4.2"),
		    "1.3.6.1.4.1.21367.2005.1.1", "gazelle A40: MRG-1.4.2");
		hl7_msg_free(m);
	}
	if ((m = sample(shared, "iti8/ipf-iti8-a01.hl7")) != NULL) {
		is_int(hl7_nsegments(m), 4, "CR-separated A01: 4 segments");
		is_str(hl7_get_path(m, "PID-5.2"), "Christof", "A01: PID-5.2");
		is_int(hl7_count_reps(m, "PID", 1, 13), 2, "A01: PID-13 reps");
		is_str(hl7_get_path(m, "PID-13(2).4"), "eisner@t-online.de",
		    "A01: PID-13(2).4");
		is_str(hl7_get_path(m, "PID-11.3"), "Testort", "A01: city");
		is_str(hl7_get_path(m, "PID-11.5"), "01234", "A01: zip");
		is_str(hl7_get_path(m, "PV1-2"), "O", "A01: PV1-2");
		hl7_msg_free(m);
	}
	if ((m = sample(shared, "iti8/ipf-iti8-a40.hl7")) != NULL) {
		is_str(hl7_msg_type(m), "ADT^A40", "CRLF A40: type");
		is_str(hl7_control_id(m),
		    "_mpi_1dd16f73-c85c-4540-857d-8b922f1732de",
		    "A40: control id");
		is_str(hl7_get_path(m, "MSH-11"), "P", "A40: MSH-11.1");
		is_str(hl7_get_raw(m, "MSH", 1, 11, 0, 0, 0), "P^T",
		    "A40: MSH-11 raw");
		is_int(hl7_count_reps(m, "PID", 1, 3), 3, "A40: PID-3 reps");
		is_str(hl7_get_path(m, "PID-3(1).1"), "305014", "A40: rep 1");
		is_str(hl7_get_path(m, "PID-3(2).1"), "7200117317",
		    "A40: rep 2");
		is_str(hl7_get_path(m, "PID-3(3).4.1"), "CCC", "A40: rep 3 AA");
		is_str(hl7_get_path(m, "PID-3(3).4.2"),
		    "2.16.840.1.113883.3.37.4.1.1.2.711.1", "A40: rep 3 OID");
		is_str(hl7_get_raw(m, "PID", 1, 3, 2, 0, 0),
		    "7200117317^^^BBB&2.16.840.1.113883.3.37.4.1.1.2.611.1&ISO",
		    "A40: raw repetition");
		is_str(hl7_get_path(m, "PID-3(4).1"), "", "A40: no rep 4");
		is_int(hl7_count_reps(m, "MRG", 1, 1), 2, "A40: MRG-1 reps");
		is_str(hl7_get_path(m, "MRG-1(1).1"), "305010", "A40: MRG rep 1");
		is_str(hl7_get_path(m, "MRG-1(2).4.1"), "BBB", "A40: MRG rep 2");
		is_str(hl7_get_path(m, "PV1-2"), "O", "A40: PV1-2");
		is_int(hl7_count_segments(m, NULL), 5, "A40: 5 segments");
		hl7_msg_free(m);
	}
	if ((m = sample(shared, "iti8/nist-toolkit-A01-template.txt")) !=
	    NULL) {
		is_str(hl7_version(m), "2.3", "NIST: version 2.3");
		is_str(hl7_get_path(m, "PID-3"), "$pid$", "NIST: placeholder");
		is_str(hl7_get_path(m, "PID-11.6"), "53005-1020", "NIST: zip");
		is_str(hl7_get_path(m, "PID-18.2"), "2", "NIST: PID-18.2");
		hl7_msg_free(m);
	}
	if ((m = sample(shared, "negative/ipf-iti8-a01-incomplete-no-PID.hl7"))
	    != NULL) {
		is_int(hl7_count_segments(m, "PID"), 0, "no-PID: no PID");
		is_int(hl7_nsegments(m), 3, "no-PID: 3 segments");
		ok(hl7_check_msh(m, &cause) == 0, "no-PID: MSH still complete");
		is_str(hl7_get_path(m, "PID-3"), "", "no-PID: PID-3 empty");
		hl7_msg_free(m);
	}
}

/* Malformed input gives the specific cause. */
static void
expect_error(const char *buf, size_t len, const struct hl7_limits *l,
    const char *want, const char *what)
{
	struct hl7_msg	*m;
	char		*cause = NULL;

	m = hl7_parse(buf, len, l, &cause);
	ok(m == NULL, "%s: rejected", what);
	is_str(cause, want, "%s: cause", what);
	hl7_msg_free(m);
	free(cause);
}

/* Every limit returns -1 with a cause, at and just past the limit. */
static void
test_limits(void)
{
	struct hl7_limits	 l;
	struct hl7_msg		*m;
	struct dbuf		 b;
	const char		*head = "MSH|^~\\&|A|B|C|D|1||ORU^R01|1|P|2.3.1\r";
	int			 i;

	hl7_limits_default(&l);
	is_int(l.max_size, 1024 * 1024, "default size limit 1 MiB");
	is_int(l.max_segments, 10000, "default segment limit");

	l.max_size = strlen(head);
	m = hl7_parse(head, strlen(head), &l, NULL);
	ok(m != NULL, "message exactly at the size limit");
	hl7_msg_free(m);
	l.max_size = strlen(head) - 1;
	expect_error(head, strlen(head), &l,
	    "message too large (38 bytes, limit 37)", "size limit");

	hl7_limits_default(&l);
	l.max_segments = 3;
	dbuf_init(&b, 1 << 22);
	dbuf_addstr(&b, head);
	dbuf_addstr(&b, "OBX|1\rOBX|2\r");
	m = hl7_parse(b.data, b.len, &l, NULL);
	ok(m != NULL, "3 segments at a limit of 3");
	ok(hl7_add_segment(m, "OBX", NULL) == -1, "builder obeys it too");
	ok(hl7_set(m, "OBX", 3, 1, 1, 1, 1, "x") == -1,
	    "set cannot append past it");
	hl7_msg_free(m);
	dbuf_addstr(&b, "OBX|3\r");
	expect_error(b.data, b.len, &l, "more than 3 segments",
	    "segment limit");

	hl7_limits_default(&l);
	l.max_fields = 5;
	dbuf_reset(&b);
	dbuf_addstr(&b, "MSH|^~\\&|A|B|C\rPID|1|2|3|4|5\r");
	m = hl7_parse(b.data, b.len, &l, NULL);
	ok(m != NULL, "5 fields at a limit of 5 (MSH counts MSH-1)");
	ok(hl7_set(m, "PID", 1, 6, 1, 1, 1, "x") == -1,
	    "set past the field limit");
	hl7_msg_free(m);
	dbuf_reset(&b);
	dbuf_addstr(&b, "MSH|^~\\&|A|B|C\rPID|1|2|3|4|5|6\r");
	expect_error(b.data, b.len, &l, "segment 2 (PID): more than 5 fields",
	    "field limit");
	dbuf_reset(&b);
	dbuf_addstr(&b, "MSH|^~\\&|A|B|C|D\r");
	expect_error(b.data, b.len, &l, "segment 1 (MSH): more than 5 fields",
	    "field limit on MSH");

	hl7_limits_default(&l);
	l.max_reps = 4;
	dbuf_reset(&b);
	dbuf_addstr(&b, "MSH|^~\\&|A\rPID|||1~2~3~4\r");
	m = hl7_parse(b.data, b.len, &l, NULL);
	ok(m != NULL, "4 repetitions at a limit of 4");
	ok(hl7_set(m, "PID", 1, 3, 5, 1, 1, "x") == -1,
	    "set past the repetition limit");
	hl7_msg_free(m);
	dbuf_reset(&b);
	dbuf_addstr(&b, "MSH|^~\\&|A\rPID|||1~2~3~4~5\r");
	expect_error(b.data, b.len, &l,
	    "segment 2 (PID) field 3: more than 4 repetitions",
	    "repetition limit");

	/* Default limits hold against a large message built here. */
	dbuf_reset(&b);
	dbuf_addstr(&b, head);
	for (i = 0; i < 10000; i++)
		dbuf_addstr(&b, "OBX|1\r");
	expect_error(b.data, b.len, NULL, "more than 10000 segments",
	    "10001 segments by default");
	dbuf_reset(&b);
	dbuf_addstr(&b, head);
	while (b.len <= 1024 * 1024)
		dbuf_addstr(&b, "NTE|1|xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r");
	m = hl7_parse(b.data, b.len, NULL, NULL);
	ok(m == NULL, "more than 1 MiB refused by default");
	hl7_msg_free(m);
	dbuf_free(&b);
}

/* Encoding, segment-id and framing errors not covered by golden files. */
static void
test_errors(void)
{
	struct hl7_msg	*m;
	char		*cause = NULL;

	expect_error("", 0, NULL, "empty message", "zero bytes");
	expect_error("MSH|^~\\&|A\rPIDx|1\r", 18, NULL,
	    "segment 2: segment id is not 3 letters or digits followed by "
	    "the field separator", "PID without a separator after 3 chars");
	expect_error("MSH|^~\\&|A\rP-D|x\r", 17, NULL,
	    "segment 2: segment id is not 3 letters or digits followed by "
	    "the field separator", "punctuation in a segment id");
	expect_error("MSH ^~\\&|A\r", 11, NULL,
	    "invalid encoding characters: separator 1 is a letter, digit, "
	    "space or control character", "space as field separator");
	/* Not NUL-terminated: the parser must honour the length. */
	m = hl7_parse("MSH|^~\\&|A|B\rPID|1XXXX", 16, NULL, &cause);
	ok(m != NULL, "length bounds the input");
	is_str(hl7_get_path(m, "PID-1"), "", "bytes past the length unread");
	is_int(hl7_nsegments(m), 2, "a segment id alone is a segment");
	hl7_msg_free(m);
	m = hl7_parse("MSH|^~\\&|A|B\rZZ9|1", 18, NULL, &cause);
	ok(m != NULL && strcmp(hl7_get_path(m, "ZZ9-1"), "1") == 0,
	    "Z segment with a digit");
	hl7_msg_free(m);
}

/* Unescaping on read and escaping on write. */
static void
test_escapes(void)
{
	struct hl7_msg	*m, *m2;
	const char	*tricky = "a|b^c~d\\e&f\ng\rh \\F\\ end\\", *esc;
	char		*s;

	m = hl7_msg_new(NULL);
	ok(hl7_set(m, "NTE", 1, 3, 1, 1, 1, tricky) == 0, "set tricky value");
	is_str(hl7_get_raw(m, "NTE", 1, 3, 0, 0, 0),
	    "a\\F\\b\\S\\c\\R\\d\\E\\e\\T\\f\\.br\\g\\X0D\\h \\E\\F\\E\\ "
	    "end\\E\\", "escaped form");
	is_str(hl7_get(m, "NTE", 1, 3, 1, 1, 1), tricky, "get gives it back");
	s = er7(m);
	m2 = hl7_parse(s, strlen(s), NULL, NULL);
	is_str(hl7_get(m2, "NTE", 1, 3, 1, 1, 1), tricky,
	    "and after a round trip");
	hl7_msg_free(m2);
	free(s);
	hl7_msg_free(m);

	esc = "MSH|^~\\&|A\rNTE|1|"
	    "\\X48454C4C4F\\|\\x41\\|\\X4\\|\\XG0\\|\\\\|\\.sp\\|\\.sp+3\\|"
	    "\\.spx\\|\\.in4\\|\\.ce\\|\\C2842\\|\\M2442\\|a\\|b\\Ec\\E\\d\\"
	    "\r";
	m = hl7_parse(esc, strlen(esc), NULL, NULL);
	ok(m != NULL, "escape sample parses");
	is_str(hl7_get(m, "NTE", 1, 2, 1, 1, 1), "HELLO", "multi-byte hex");
	is_str(hl7_get(m, "NTE", 1, 3, 1, 1, 1), "\\x41\\",
	    "lower-case x is not an escape");
	is_str(hl7_get(m, "NTE", 1, 4, 1, 1, 1), "\\X4\\", "odd hex kept");
	is_str(hl7_get(m, "NTE", 1, 5, 1, 1, 1), "\\XG0\\", "bad hex kept");
	is_str(hl7_get(m, "NTE", 1, 6, 1, 1, 1), "\\\\", "empty escape kept");
	is_str(hl7_get(m, "NTE", 1, 7, 1, 1, 1), "\n", ".sp is a newline");
	is_str(hl7_get(m, "NTE", 1, 8, 1, 1, 1), "\n", ".sp+3 too");
	is_str(hl7_get(m, "NTE", 1, 9, 1, 1, 1), "\\.spx\\", ".spx kept");
	is_str(hl7_get(m, "NTE", 1, 10, 1, 1, 1), "", ".in4 dropped");
	is_str(hl7_get(m, "NTE", 1, 11, 1, 1, 1), "", ".ce dropped");
	is_str(hl7_get(m, "NTE", 1, 12, 1, 1, 1), "\\C2842\\",
	    "character set escape kept");
	is_str(hl7_get(m, "NTE", 1, 13, 1, 1, 1), "\\M2442\\",
	    "multi-byte set escape kept");
	is_str(hl7_get(m, "NTE", 1, 14, 1, 1, 1), "a\\", "trailing escape");
	is_str(hl7_get(m, "NTE", 1, 15, 1, 1, 1), "b\\Ec\\E\\d\\",
	    "unknown escapes kept verbatim");
	hl7_msg_free(m);
}

/* Building messages: MSH, padding, trimming, raw text, positions. */
static void
test_builder(void)
{
	struct hl7_msh	 h;
	struct hl7_msg	*m;
	struct hl7_pos	 pos;
	const char	*p1, *p2;
	char		*s, *cause = NULL;

	memset(&h, 0, sizeof(h));
	h.sending_app = "EDGE";
	h.sending_fac = "SITE^1.2.3^ISO";
	h.receiving_app = "CH";
	h.timestamp = "20240102030405";
	h.type = "ADT^A04^ADT_A01";
	h.control_id = "1234567890123456789";
	m = hl7_msg_new(&h);
	ok(m != NULL, "new message");
	ok(hl7_set(m, "EVN", 1, 1, 1, 1, 1, "A04") == 0 &&
	    hl7_set(m, "EVN", 1, 2, 1, 1, 1, "20240102030405") == 0,
	    "EVN appended by set");
	ok(hl7_set_raw(m, "PID", 1, 3, 1, 0, 0,
	    "abc^^^&1.3.6.1.4.1.19376.3.840.1.1.1&ISO") == 0, "raw CX");
	ok(hl7_set_path(m, "PID-5.1", "RSNA ISN") == 0 &&
	    hl7_set_path(m, "PID-5.2", "RSNA ISN") == 0, "set by path");
	ok(hl7_set(m, "PV1", 1, 2, 1, 1, 1, "O") == 0, "PV1-2");
	s = er7(m);
	is_str(s, "MSH|^~\\&|EDGE|SITE^1.2.3^ISO|CH||20240102030405||"
	    "ADT^A04^ADT_A01|1234567890123456789|P|2.3.1\r"
	    "EVN|A04|20240102030405\r"
	    "PID|||abc^^^&1.3.6.1.4.1.19376.3.840.1.1.1&ISO||RSNA ISN^RSNA ISN\r"
	    "PV1||O\r", "ITI-8 feed built as RSNA did");
	free(s);
	ok(hl7_check_msh(m, &cause) == 0, "built MSH is complete");
	is_str(hl7_msg_type(m), "ADT^A04", "built type");
	hl7_msg_free(m);

	m = hl7_msg_new(NULL);
	is_int(strlen(hl7_get_path(m, "MSH-7")), 14, "MSH-7 defaults to now");
	is_int(strlen(hl7_control_id(m)), 20, "fresh 20-digit control id");
	ok(strspn(hl7_control_id(m), "0123456789") == 20, "all digits");
	is_str(hl7_get_path(m, "MSH-11"), "P", "MSH-11 defaults to P");
	is_str(hl7_version(m), "2.3.1", "MSH-12 defaults to 2.3.1");
	ok(hl7_set(m, "PID", 1, 3, 2, 4, 2, "1.2.3") == 0, "deep set");
	is_str(hl7_get_raw(m, "PID", 1, 3, 0, 0, 0), "~^^^&1.2.3",
	    "intermediate separators padded");
	is_str(hl7_get_path(m, "PID-3(2).4.2"), "1.2.3", "deep get");
	ok(hl7_set(m, "PID", 1, 3, 1, 1, 1, "X") == 0, "set rep 1");
	is_str(hl7_get_raw(m, "PID", 1, 3, 0, 0, 0), "X~^^^&1.2.3",
	    "other repetition kept");
	p1 = hl7_get(m, "PID", 1, 3, 1, 1, 1);
	ok(hl7_set(m, "PID", 1, 3, 2, 4, 2, "") == 0, "clear deep value");
	is_str(hl7_get_raw(m, "PID", 1, 3, 0, 0, 0), "X",
	    "trailing empties trimmed");
	is_str(p1, "X", "earlier pointer still valid after a set");
	p2 = hl7_get(m, "PID", 1, 3, 1, 1, 1);
	ok(p1 != p2, "a set invalidates the cached value");
	ok(hl7_get(m, "PID", 1, 3, 1, 1, 1) == p2, "repeated get is cached");
	ok(hl7_set(m, "PID", 1, 8, 1, 1, 1, "M") == 0 &&
	    hl7_set(m, "PID", 1, 8, 1, 1, 1, "") == 0, "set then clear PID-8");
	s = er7(m);
	ok(strstr(s, "\rPID|||X\r") != NULL, "trailing empty fields trimmed");
	free(s);
	ok(hl7_set(m, "PID", 3, 1, 1, 1, 1, "x") == -1,
	    "cannot skip an occurrence");
	ok(hl7_set(m, "PID", 2, 1, 1, 1, 1, "2") == 0, "append occurrence 2");
	is_int(hl7_count_segments(m, "PID"), 2, "two PIDs");
	is_int(hl7_segment_occ(m, 2), 2, "third segment is PID(2)");
	is_str(hl7_segment_id(m, 2), "PID", "segment list in order");
	ok(hl7_segment_id(m, 3) == NULL, "NULL past the end");
	is_int(hl7_segment_nfields(m, 1), 8, "PID(1) keeps 8 field slots");
	ok(hl7_set(m, "MSH", 1, 1, 1, 1, 1, "#") == -1, "MSH-1 is fixed");
	ok(hl7_set(m, "MSH", 1, 2, 1, 1, 1, "#") == -1, "MSH-2 is fixed");
	ok(hl7_set(m, "PID", 1, 0, 1, 1, 1, "x") == -1, "field 0 refused");
	ok(hl7_set(m, "PID", 1, 1, 0, 1, 1, "x") == -1, "rep 0 refused");
	ok(hl7_set(m, "PID", 1, 1, 1, 1001, 1, "x") == -1,
	    "component past 1000 refused");
	ok(hl7_set(m, "PI", 1, 1, 1, 1, 1, "x") == -1, "bad id refused");
	ok(hl7_set_raw(m, "PID", 1, 3, 0, 0, 0, "a|b") == -1,
	    "raw with field separator refused");
	ok(hl7_set_raw(m, "PID", 1, 3, 0, 0, 0, "a\rb") == -1,
	    "raw with CR refused");
	ok(hl7_set_raw(m, "PID", 1, 3, 1, 0, 0, "a~b") == -1,
	    "raw repetition with ~ refused");
	ok(hl7_set_raw(m, "PID", 1, 3, 1, 1, 0, "a^b") == -1,
	    "raw component with ^ refused");
	ok(hl7_set_raw(m, "PID", 1, 3, 1, 1, 0, "a&b") == 0,
	    "raw component with & allowed");
	is_str(hl7_get_path(m, "PID-3.1.2"), "b", "subcomponent of it");
	ok(hl7_add_segment(m, "1BC", &cause) == 1, "digit id allowed");
	ok(hl7_add_segment(m, "AB", &cause) == -1, "short id refused");
	is_str(cause, "invalid segment id", "cause");
	free(cause);
	cause = NULL;
	hl7_msg_free(m);

	memset(&h, 0, sizeof(h));
	h.type = "ADT|A04";
	ok(hl7_msg_new(&h) == NULL, "MSH field with | refused");

	ok(hl7_path_parse("OBX(3)-5(2).1.2", &pos, NULL) == 0 &&
	    strcmp(pos.seg, "OBX") == 0 && pos.occ == 3 && pos.field == 5 &&
	    pos.rep == 2 && pos.comp == 1 && pos.sub == 2, "full path");
	ok(hl7_path_parse("PID-3", &pos, NULL) == 0 && pos.occ == 1 &&
	    pos.rep == 0 && pos.comp == 0, "short path");
	ok(hl7_path_parse("PID-0", &pos, NULL) == -1, "field 0");
	ok(hl7_path_parse("PID3", &pos, NULL) == -1, "missing dash");
	ok(hl7_path_parse("PID-3.", &pos, NULL) == -1, "dangling dot");
	ok(hl7_path_parse("PID-3(x)", &pos, NULL) == -1, "bad repetition");
	ok(hl7_path_parse("PID-99999999", &pos, NULL) == -1, "huge field");
	ok(hl7_path_parse("PID-3.1.1.1", &pos, &cause) == -1, "too deep");
	is_str(cause, "invalid HL7 path \"PID-3.1.1.1\"", "path cause");
	free(cause);
	ok(hl7_path_parse("P", &pos, NULL) == -1, "short id");
}

/* An ACK with its variable fields pinned, as ER7 text. */
static char *
ack_text(struct hl7_msg *ack)
{
	ok(strlen(hl7_get_path(ack, "MSH-7")) == 14, "ACK MSH-7 is a TS");
	ok(strlen(hl7_control_id(ack)) == 20, "ACK control id is fresh");
	hl7_set(ack, "MSH", 1, 7, 1, 1, 1, "20000101000000");
	hl7_set(ack, "MSH", 1, 10, 1, 1, 1, "ACKID");
	return (er7_text(ack));
}

/* Positive and negative acknowledgements. */
static void
test_acks(void)
{
	struct hl7_msg	*req, *ack;
	const char	*a40 = "MSH|^~\\&|ICW-MPI|ENTERPRISE|BLAH|BLAH-1|"
	    "20120510163534||ADT^A40|_mpi_1|P^T|2.3.1\rEVN|A40|1\r";
	const char	*v25 = "MSH|^~\\&|RIS|SITE|EDGE|SITE|2020||"
	    "ORU^R01^ORU_R01|ctl\\F\\1|P|2.5.1\r";
	char		*s, *cause = NULL;
	size_t		 n;

	req = hl7_parse(a40, strlen(a40), NULL, NULL);
	ack = hl7_ack(req, "AA", NULL, NULL, NULL, NULL, &cause);
	ok(ack != NULL, "AA built");
	s = ack_text(ack);
	golden("ack-aa.expected", s);
	free(s);
	ok(hl7_ack_set_location(ack, "PID", 1, 3) == -1,
	    "no ERR in an AA to locate");
	hl7_msg_free(ack);

	ack = hl7_ack(req, "AE", "101", "PID-3 missing | required", "ISN EDGE",
	    "SITE", &cause);
	ok(ack != NULL, "AE built");
	ok(hl7_ack_set_location(ack, "PID", 1, 3) == 0, "ERR location set");
	s = ack_text(ack);
	golden("ack-ae.expected", s);
	free(s);
	hl7_msg_free(ack);

	ack = hl7_ack(req, "AR", NULL, "unsupported", NULL, NULL, &cause);
	s = ack_text(ack);
	golden("ack-ar.expected", s);
	free(s);
	hl7_msg_free(ack);

	ok(hl7_ack(req, "XX", NULL, NULL, NULL, NULL, &cause) == NULL,
	    "bad ACK code");
	is_str(cause, "invalid acknowledgement code", "its cause");
	free(cause);
	cause = NULL;
	ok(hl7_ack(req, "AE", "2x", NULL, NULL, NULL, &cause) == NULL,
	    "bad error code");
	is_str(cause, "invalid HL7 error code", "its cause");
	free(cause);
	cause = NULL;
	hl7_msg_free(req);

	req = hl7_parse(v25, strlen(v25), NULL, NULL);
	ack = hl7_ack(req, "AE", "207", "db down", "EDGE", NULL, &cause);
	ok(hl7_ack_set_location(ack, "OBX", 2, 5) == 0, "v2.5 location");
	s = ack_text(ack);
	golden("ack-ae-v25.expected", s);
	free(s);
	hl7_msg_free(ack);
	hl7_msg_free(req);

	/* Custom separators are kept in the reply. */
	s = xstrdup("MSH*:!/$*A*B*C*D*1**ORU:R01*X/F/1*P*2.3.1\r");
	req = hl7_parse(s, strlen(s), NULL, NULL);
	free(s);
	ack = hl7_ack(req, "CA", NULL, "ok", NULL, NULL, &cause);
	s = ack_text(ack);
	golden("ack-ca-custom.expected", s);
	free(s);
	hl7_msg_free(ack);
	hl7_msg_free(req);

	ack = hl7_ack_raw("garbage\x01", 8, "AR", "100", "cannot parse", "ISN",
	    "EDGE", &cause);
	ok(ack != NULL, "raw AR for garbage");
	s = ack_text(ack);
	golden("ack-raw-garbage.expected", s);
	free(s);
	hl7_msg_free(ack);

	s = xstrdup("MSH|^~\\&|A|B|C|D|1||ORU^R01|CTRL-9|P|2.3.1\rPID|\0|\r");
	n = 50;
	ok(hl7_parse(s, n, NULL, NULL) == NULL, "NUL makes it unparsable");
	ack = hl7_ack_raw(s, n, "AR", "102", NULL, NULL, NULL, &cause);
	is_str(hl7_get_path(ack, "MSA-2"), "CTRL-9", "control id salvaged");
	free(s);
	hl7_msg_free(ack);
	ack = hl7_ack_raw("MSH|^~\\&|A|B|C|D|1||ORU^R01|CT^RL|P", 36, "AE",
	    NULL, NULL, NULL, NULL, &cause);
	is_str(hl7_get_path(ack, "MSA-2"), "", "odd control id not salvaged");
	is_str(hl7_get_path(ack, "ERR-1.4.1"), "207", "default error 207");
	hl7_msg_free(ack);
	ok(hl7_ack_raw(NULL, 0, "ZZ", NULL, NULL, NULL, NULL, &cause) == NULL,
	    "raw with a bad code");
	free(cause);
}

/* Run every group; the plan is printed at the end. */
int
main(void)
{
	test_golden_files();
	test_samples();
	test_errors();
	test_limits();
	test_escapes();
	test_builder();
	test_acks();
	return (tap_done());
}
