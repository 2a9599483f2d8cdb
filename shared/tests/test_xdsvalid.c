/*
 * test_xdsvalid.c: XDS submission rules. A valid base submission
 * (data/xdsmeta/base.xml) is mutated once per rule as listed in
 * data/xdsmeta/mutations.txt, and each run's error list is compared
 * exactly with the expected one; the network samples are checked too.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "tap.h"
#include "xdsvalid.h"
#include "xmalloc.h"

/* Parse and validate text; the error list as lines. */
static char *
check(const char *xml, int flags, const struct xdsvalid_doc *docs,
    size_t ndocs)
{
	struct xds_submission	*sub;
	struct xds_errors	 errs = { NULL, 0 };
	struct dbuf		 out;
	char			*cause = NULL, *s;
	size_t			 i;

	dbuf_init(&out, 1 << 20);
	if ((sub = xdsmeta_parse_buf(xml, strlen(xml), &cause)) == NULL) {
		dbuf_printf(&out, "PARSE %s\n", cause);
		free(cause);
		return (dbuf_take(&out, NULL));
	}
	xdsvalid_check(sub, flags, docs, ndocs, &errs);
	for (i = 0; i < errs.n; i++) {
		s = xdsmeta_error_str(&errs.v[i]);
		dbuf_printf(&out, "%s\n", s);
		free(s);
	}
	xdsmeta_errors_free(&errs);
	xdsmeta_free(sub);
	if (out.data == NULL)
		return (xstrdup(""));
	return (dbuf_take(&out, NULL));
}

/* Replace the first occurrence of from with to; NULL if from is absent. */
static char *
replace(const char *s, const char *from, const char *to)
{
	const char	*p;
	char		*r;

	if ((p = strstr(s, from)) == NULL)
		return (NULL);
	xasprintf(&r, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from));
	return (r);
}

/* Flags from words: iti41 iti42 isn2. */
static int
flags_of(const char *s)
{
	int	f = 0;

	if (strstr(s, "iti41") != NULL)
		f |= XDSVALID_ITI41;
	if (strstr(s, "iti42") != NULL)
		f |= XDSVALID_ITI42;
	if (strstr(s, "isn2") != NULL)
		f |= XDSVALID_ISN2;
	return (f);
}

/* Documents of the base file as the message layer would report them. */
static const struct xdsvalid_doc base_docs[] = {
	{ "Document01", 36, "e543712c0e10501972de13a5bfcbe826c49feb75" },
	{ "Document02", 38, "27e60f9f5173903c2fa907baaaeb7af819913116" },
	{ "Document03", 1, NULL },
};

/*
 * Run data/xdsmeta/mutations.txt. Each case:
 *   == name
 *   flags: iti42 isn2 docs=N   (docs=N: the first N of base_docs, iti41)
 *   from: text / to: text      (repeated; applied in order)
 *   expect:                    (then the exact error lines, up to "==")
 */
static void
run_mutations(const char *base, const char *path)
{
	char		*data, *line, *next, *xml = NULL, *t, *got;
	char		 name[256] = "", *from = NULL;
	struct dbuf	 want;
	int		 flags = 0, in_expect = 0, ndocs = -1, applied = 1;

	if ((data = tap_slurp(path, NULL)) == NULL) {
		ok(0, "read %s", path);
		return;
	}
	dbuf_init(&want, 1 << 20);
	for (line = data; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (strncmp(line, "==", 2) == 0 || next == NULL) {
			if (xml != NULL) {
				got = check(xml, flags, base_docs,
				    ndocs < 0 ? 0 : (size_t)ndocs);
				if (!applied)
					ok(0, "%s: a from: text is not in "
					    "base.xml", name);
				else if (!is_str(got, want.data != NULL ?
				    want.data : "", "%s", name))
					printf("# full output:\n%s", got);
				free(got);
				free(xml);
				xml = NULL;
			}
			if (next == NULL)
				break;
			snprintf(name, sizeof(name), "%s", line + 3);
			xml = xstrdup(base);
			dbuf_reset(&want);
			flags = 0;
			ndocs = -1;
			in_expect = 0;
			applied = 1;
			continue;
		}
		if (in_expect) {
			if (*line != '\0')
				dbuf_printf(&want, "%s\n", line);
		} else if (strncmp(line, "flags:", 6) == 0) {
			flags = flags_of(line + 6);
			if ((t = strstr(line, "docs=")) != NULL) {
				ndocs = t[5] - '0';
				flags |= XDSVALID_ITI41;
			}
		} else if (strncmp(line, "from: ", 6) == 0) {
			free(from);
			from = xstrdup(line + 6);
		} else if (strncmp(line, "to:", 3) == 0 && from != NULL) {
			t = replace(xml, from, line[3] == ' ' ? line + 4 : "");
			if (t == NULL)
				applied = 0;
			else {
				free(xml);
				xml = t;
			}
			free(from);
			from = NULL;
		} else if (strcmp(line, "expect:") == 0)
			in_expect = 1;
	}
	free(from);
	dbuf_free(&want);
	free(data);
}

/* A sample of the shared folder against data/xdsmeta/<golden>.expected. */
static void
sample(const char *shared, const char *file, int flags, const char *golden)
{
	char	 path[4096], *xml, *got, *want;

	snprintf(path, sizeof(path), "%s/shared/tests/data/xdsmeta/%s.expected",
	    tap_srcdir(), golden);
	want = tap_slurp(path, NULL);
	snprintf(path, sizeof(path), "%s/xds-samples/%s", shared, file);
	if ((xml = tap_slurp(path, NULL)) == NULL || want == NULL) {
		ok(0, "read %s and %s.expected", path, golden);
		free(xml);
		free(want);
		return;
	}
	got = check(xml, flags, NULL, 0);
	if (!is_str(got, want, "sample %s (%s)", file, golden))
		printf("# full output:\n%s", got);
	free(got);
	free(xml);
	free(want);
}

/* Each value format, good and bad. */
static void
test_formats(void)
{
	static const struct {
		const char	*(*fn)(const char *);
		const char	*name;
		const char	*value;
		int		 good;
	} t[] = {
		{ xdsvalid_dtm, "dtm", "2024", 1 },
		{ xdsvalid_dtm, "dtm", "202401", 1 },
		{ xdsvalid_dtm, "dtm", "20240131", 1 },
		{ xdsvalid_dtm, "dtm", "2024013123", 1 },
		{ xdsvalid_dtm, "dtm", "202401312359", 1 },
		{ xdsvalid_dtm, "dtm", "20240131235959", 1 },
		{ xdsvalid_dtm, "dtm", "", 0 },
		{ xdsvalid_dtm, "dtm", "20240", 0 },
		{ xdsvalid_dtm, "dtm", "2024013123595", 0 },
		{ xdsvalid_dtm, "dtm", "202401312359590", 0 },
		{ xdsvalid_dtm, "dtm", "20241301", 0 },
		{ xdsvalid_dtm, "dtm", "20240001", 0 },
		{ xdsvalid_dtm, "dtm", "20240132", 0 },
		{ xdsvalid_dtm, "dtm", "2024013124", 0 },
		{ xdsvalid_dtm, "dtm", "202401312360", 0 },
		{ xdsvalid_dtm, "dtm", "20240131235960", 0 },
		{ xdsvalid_dtm, "dtm", "2024-01-31", 0 },
		{ xdsvalid_dtm, "dtm", "20240131T1200", 0 },
		{ xdsvalid_dtm, "dtm", "20240131120000+0100", 0 },
		{ xdsvalid_hash, "hash", "e543712c0e10501972de13a5bfcbe826c49feb75", 1 },
		{ xdsvalid_hash, "hash", "E543712C0E10501972DE13A5BFCBE826C49FEB75", 1 },
		{ xdsvalid_hash, "hash", "e543712c0e10501972de13a5bfcbe826c49feb7", 0 },
		{ xdsvalid_hash, "hash", "e543712c0e10501972de13a5bfcbe826c49feb755", 0 },
		{ xdsvalid_hash, "hash", "g543712c0e10501972de13a5bfcbe826c49feb75", 0 },
		{ xdsvalid_hash, "hash", "", 0 },
		{ xdsvalid_size, "size", "0", 1 },
		{ xdsvalid_size, "size", "36", 1 },
		{ xdsvalid_size, "size", "123456789012345678", 1 },
		{ xdsvalid_size, "size", "1234567890123456789", 0 },
		{ xdsvalid_size, "size", "-1", 0 },
		{ xdsvalid_size, "size", "+1", 0 },
		{ xdsvalid_size, "size", "1 ", 0 },
		{ xdsvalid_size, "size", "", 0 },
		{ xdsvalid_oid, "oid", "1.2", 1 },
		{ xdsvalid_oid, "oid", "1.3.6.1.4.1.21367.13.20.3000", 1 },
		{ xdsvalid_oid, "oid", "3.4.5", 1 },
		{ xdsvalid_oid, "oid", "1.0.3", 1 },
		{ xdsvalid_oid, "oid", "1", 0 },
		{ xdsvalid_oid, "oid", "1.", 0 },
		{ xdsvalid_oid, "oid", ".1.2", 0 },
		{ xdsvalid_oid, "oid", "1..2", 0 },
		{ xdsvalid_oid, "oid", "1.02", 0 },
		{ xdsvalid_oid, "oid", "1.2a", 0 },
		{ xdsvalid_oid, "oid", "rsna.domain.repository", 0 },
		{ xdsvalid_oid, "oid", "1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23.24.25.26", 0 },
		{ xdsvalid_oid, "oid", "1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23.24.2", 1 },
		{ xdsvalid_uniqueid, "uniqueid", "1.2.3", 1 },
		{ xdsvalid_uniqueid, "uniqueid", "1.2.3^abc", 1 },
		{ xdsvalid_uniqueid, "uniqueid", "1.2.3^abcdefghijklmnop", 1 },
		{ xdsvalid_uniqueid, "uniqueid", "1.2.3^abcdefghijklmnopq", 0 },
		{ xdsvalid_uniqueid, "uniqueid", "1.2.3^", 0 },
		{ xdsvalid_uniqueid, "uniqueid", "1.2.3^a^b", 0 },
		{ xdsvalid_uniqueid, "uniqueid", "x.2.3^a", 0 },
		{ xdsvalid_langcode, "lang", "en", 1 },
		{ xdsvalid_langcode, "lang", "en-US", 1 },
		{ xdsvalid_langcode, "lang", "en-us", 1 },
		{ xdsvalid_langcode, "lang", "zh-Hant-TW", 1 },
		{ xdsvalid_langcode, "lang", "en_US", 0 },
		{ xdsvalid_langcode, "lang", "en-", 0 },
		{ xdsvalid_langcode, "lang", "-en", 0 },
		{ xdsvalid_langcode, "lang", "abcdefghi", 0 },
		{ xdsvalid_langcode, "lang", "", 0 },
		{ xdsvalid_mimetype, "mime", "application/dicom", 1 },
		{ xdsvalid_mimetype, "mime", "text/plain; charset=UTF-8", 1 },
		{ xdsvalid_mimetype, "mime", "textplain", 0 },
		{ xdsvalid_mimetype, "mime", "/plain", 0 },
		{ xdsvalid_mimetype, "mime", "text/", 0 },
		{ xdsvalid_mimetype, "mime", "text /plain", 0 },
		{ xdsvalid_cx, "cx", "PAT1^^^&1.2.3&ISO", 1 },
		{ xdsvalid_cx, "cx", "PAT1^^^&1.2.3&ISO^PI", 0 },
		{ xdsvalid_cx, "cx", "PAT1^^^NS&1.2.3&ISO", 0 },
		{ xdsvalid_cx, "cx", "PAT1^^^&1.2.3&L", 0 },
		{ xdsvalid_cx, "cx", "PAT1^^^&1.2.3", 0 },
		{ xdsvalid_cx, "cx", "PAT1^^^&x.y&ISO", 0 },
		{ xdsvalid_cx, "cx", "PAT1^1^^&1.2.3&ISO", 0 },
		{ xdsvalid_cx, "cx", "PAT1", 0 },
		{ xdsvalid_cx, "cx", "^^^&1.2.3&ISO", 0 },
		{ xdsvalid_cx, "cx", "PAT1^^^&1.2.3&ISO&X", 0 },
		{ xdsvalid_cxi, "cxi", "A1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:accession", 1 },
		{ xdsvalid_cxi, "cxi", "1.2.3^^^^urn:ihe:iti:xds:2016:studyInstanceUID", 1 },
		{ xdsvalid_cxi, "cxi", "A1^^^&1.2.3&ISO^^urn:ihe:iti:xds:2013:accession", 1 },
		{ xdsvalid_cxi, "cxi", "A1^^^&1.2.3&ISO", 0 },
		{ xdsvalid_cxi, "cxi", "^^^&1.2.3&ISO^urn:x", 0 },
		{ xdsvalid_cxi, "cxi", "A1^^^NS&1.2.3&ISO^urn:x", 0 },
		{ xdsvalid_xcn, "xcn", "^Smitty^Gerald^^^", 1 },
		{ xdsvalid_xcn, "xcn", "id1", 1 },
		{ xdsvalid_xcn, "xcn", "Gerald Smitty", 1 },
		{ xdsvalid_xcn, "xcn", "^^Gerald", 0 },
		{ xdsvalid_xcn, "xcn", "", 0 },
		{ xdsvalid_xon, "xon", "RSNA ISN", 1 },
		{ xdsvalid_xon, "xon", "RSNA^^^^^^^^^1.2.3", 1 },
		{ xdsvalid_xon, "xon", "^x", 0 },
		{ xdsvalid_pid, "pid", "PID-3|x^^^&1.2&ISO", 1 },
		{ xdsvalid_pid, "pid", "PID-11|100 Main St", 1 },
		{ xdsvalid_pid, "pid", "PID-2|x", 0 },
		{ xdsvalid_pid, "pid", "PID-4|x", 0 },
		{ xdsvalid_pid, "pid", "PID-12|x", 0 },
		{ xdsvalid_pid, "pid", "PID-19|x", 0 },
		{ xdsvalid_pid, "pid", "PID-40|x", 0 },
		{ xdsvalid_pid, "pid", "PID-0|x", 0 },
		{ xdsvalid_pid, "pid", "PID3|x", 0 },
		{ xdsvalid_pid, "pid", "PID-3", 0 },
		{ xdsvalid_pid, "pid", "PID-123|x", 0 },
	};
	char		buf[64];
	size_t		i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ok((t[i].fn(t[i].value) == NULL) == t[i].good, "%s \"%s\" %s",
		    t[i].name, t[i].value, t[i].good ? "accepted" : "rejected");
	is_str(xdsvalid_cxi_type("A1^^^&1.2.3&ISO^^urn:ihe:iti:xds:2013:"
	    "accession", buf, sizeof(buf)), "urn:ihe:iti:xds:2013:accession",
	    "CXi type found past the RSNA edge's \"ISO^\"");
	ok(xdsvalid_cxi_type("A1^^^&1.2.3&ISO", buf, sizeof(buf)) == NULL,
	    "CXi without a type");
}

/* The builder's output passes every rule, including isn2. */
static void
test_built(void)
{
	struct xdsmeta_subset_spec	 ss = {
		"3f2a^^^&1.3.6.1.4.1.21367.13.20.3000&ISO",
		"1.3.6.1.4.1.21367.5", "1.3.6.1.4.1.21367.5.1",
		"20240102030405", 1
	};
	struct xdsmeta_doc_spec		 d = {
		XDSMETA_DOC_IMAGE, "1.2.3.9.1", "1.2.840.10008.5.1.4.1.1.2",
		"1.2.3.9", "1.2.3.9.0", "20240102030000", "20240101",
		"e543712c0e10501972de13a5bfcbe826c49feb75", 36,
		"1.3.6.1.4.1.21367.13.80.110", NULL
	};
	struct xds_submission		*sub;
	struct xds_errors		 errs = { NULL, 0 };
	struct xdsvalid_doc		 docs[3] = {
		{ "Document01", 36, "E543712C0E10501972DE13A5BFCBE826C49FEB75" },
		{ "Document02", 36, "e543712c0e10501972de13a5bfcbe826c49feb75" },
		{ "Document03", 36, "e543712c0e10501972de13a5bfcbe826c49feb75" },
	};
	size_t				 n;

	sub = xdsmeta_build_subset(&ss);
	xdsmeta_build_doc(sub, &d);
	d.kind = XDSMETA_DOC_KOS;
	d.unique_id = "1.2.3.9.2";
	d.series_uid = NULL;
	xdsmeta_build_doc(sub, &d);
	d.kind = XDSMETA_DOC_REPORT;
	d.unique_id = "1.2.3.9.3";
	xdsmeta_build_doc(sub, &d);
	n = xdsvalid_check(sub, XDSVALID_ITI42 | XDSVALID_ISN2, NULL, 0,
	    &errs);
	is_int(n, 0, "built submission passes ITI-42 + isn2");
	xdsmeta_errors_free(&errs);
	n = xdsvalid_check(sub, XDSVALID_ITI41 | XDSVALID_ISN2, docs, 3,
	    &errs);
	is_int(n, 0, "built submission passes ITI-41 with its documents");
	xdsmeta_errors_free(&errs);
	ok(xdsmeta_assign_uuids(sub, NULL, NULL) == 0, "assign uuids");
	n = xdsvalid_check(sub, XDSVALID_ITI42 | XDSVALID_ISN2, NULL, 0,
	    &errs);
	is_int(n, 0, "still valid with UUIDs");
	xdsmeta_errors_free(&errs);
	n = xdsvalid_check(sub, XDSVALID_ITI42, NULL, 0, &errs);
	is_int(n, 1, "without isn2 the KOS must carry an accession");
	if (n == 1)
		ok(strstr(errs.v[0].message, "KOS manifest has no "
		    "referenceIdList value of type "
		    "urn:ihe:iti:xds:2013:accession") != NULL, "KOS message");
	else
		ok(0, "KOS message");
	xdsmeta_errors_free(&errs);
	xdsmeta_free(sub);
}

/* Formats, builders, the base file and its mutations, then the samples. */
int
main(void)
{
	const char	*shared = tap_shareddir();
	char		 path[4096], *base, *got;

	test_formats();
	test_built();

	snprintf(path, sizeof(path), "%s/shared/tests/data/xdsmeta/base.xml",
	    tap_srcdir());
	if ((base = tap_slurp(path, NULL)) == NULL)
		ok(0, "read %s", path);
	else {
		got = check(base, XDSVALID_ITI42, NULL, 0);
		is_str(got, "", "base.xml is valid for ITI-42");
		free(got);
		got = check(base, XDSVALID_ITI42 | XDSVALID_ISN2, NULL, 0);
		is_str(got, "", "base.xml is valid for isn2");
		free(got);
		snprintf(path, sizeof(path), "%s/shared/tests/data/xdsmeta/"
		    "mutations.txt", tap_srcdir());
		run_mutations(base, path);
		free(base);
	}

	if (shared == NULL) {
		tap_skip(5, "../shared not present");
		return (tap_done());
	}
	sample(shared, "negative/soap-pnr-docentry-without-document.xml",
	    XDSVALID_ITI41, "sample-pnr-without-document.iti41");
	sample(shared, "xdsi/ids_2018-4801a-kos-metadata.xml", XDSVALID_ITI42,
	    "sample-kos-metadata.iti42");
	sample(shared, "xdsi/ids_2018-4801a-kos-metadata.xml",
	    XDSVALID_ITI41 | XDSVALID_ISN2, "sample-kos-metadata.iti41-isn2");
	sample(shared, "iti41/ipf-SubmitObjectsRequest_ebrs30.xml",
	    XDSVALID_ITI42, "sample-ipf-sor.iti42");
	sample(shared, "iti18/sq-resp-leafclass.xml", 0,
	    "sample-sq-resp-leafclass");
	return (tap_done());
}
