/*
 * test_dicom.c: the DICOM reader and writer: round trips, prefixes,
 * implicit VR and undefined lengths, hostile input, and DCMTK's tools as a
 * golden check when they are installed.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbuf.h"
#include "dicom.h"
#include "tap.h"
#include "xmalloc.h"

#define ROOT	"1.2.826.0.1.3680043.10.1"
#define REPO	"1.3.6.1.4.1.19376.3.840.1.1.5"

static const struct dicom_ref refs[] = {
	{ ROOT ".1", ROOT ".1.1", DICOM_CT_CLASS, ROOT ".1.1.1" },
	{ ROOT ".1", ROOT ".1.1", DICOM_CT_CLASS, ROOT ".1.1.2" },
	{ ROOT ".1", ROOT ".1.2", DICOM_SC_CLASS, ROOT ".1.2.1" },
	{ ROOT ".2", ROOT ".2.1", DICOM_CT_CLASS, ROOT ".2.1.1" },
	{ ROOT ".1", ROOT ".1.1", DICOM_CT_CLASS, ROOT ".1.1.3" },
};
#define NREFS	(sizeof(refs) / sizeof(refs[0]))

/* The condition is evaluated before the cause is printed. */
#define okc(cond, fmt, c) do {						\
	int okc_ = !!(cond);						\
	ok(okc_, fmt, (c) != NULL ? (c) : "-");				\
} while (0)

static char	tmpdir[] = "/tmp/test_dicom.XXXXXX";
static int	have_dcmtk;

static void
build_kos(struct dbuf *b)
{
	struct dicom_kos_params	kp;
	char			*cause = NULL;

	memset(&kp, 0, sizeof(kp));
	kp.patient_id = "RSNA-0001";
	kp.patient_name = "ISN^PATIENT";
	kp.study_uid = ROOT ".1";
	kp.series_uid = ROOT ".9";
	kp.sop_instance_uid = ROOT ".9.1";
	kp.retrieve_location_uid = REPO;
	kp.date = "20261128";
	kp.time = "010203";
	kp.refs = refs;
	kp.nrefs = NREFS;
	dbuf_init(b, 1024 * 1024);
	if (dicom_kos_build(&kp, b, &cause) == -1) {
		printf("Bail out! dicom_kos_build: %s\n", cause);
		exit(1);
	}
}

static void
build_instance(struct dbuf *b, size_t bytes)
{
	struct dicom_instance_params	ip;
	char				*cause = NULL;

	memset(&ip, 0, sizeof(ip));
	ip.patient_id = "RSNA-0001";
	ip.patient_name = "ISN^PATIENT";
	ip.study_uid = ROOT ".1";
	ip.series_uid = ROOT ".1.1";
	ip.sop_instance_uid = ROOT ".1.1.1";
	ip.instance_number = 1;
	ip.pixel_bytes = bytes;
	ip.seed = 42;
	ip.date = "20261128";
	ip.time = "010203";
	dbuf_init(b, 64 * 1024 * 1024);
	if (dicom_instance_build(&ip, b, &cause) == -1) {
		printf("Bail out! dicom_instance_build: %s\n", cause);
		exit(1);
	}
}

static int
write_file(const char *path, const void *p, size_t len)
{
	FILE	*f;
	int	 ok;

	if ((f = fopen(path, "wb")) == NULL)
		return (-1);
	ok = fwrite(p, 1, len, f) == len;
	return (fclose(f) == 0 && ok ? 0 : -1);
}

static char *
read_file(const char *path, size_t *lenp)
{
	FILE	*f;
	char	*p;
	long	 n;

	if ((f = fopen(path, "rb")) == NULL)
		return (NULL);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = xmalloc((size_t)n + 1);
	*lenp = fread(p, 1, (size_t)n, f);
	fclose(f);
	return (p);
}

/* Checks a parsed KOS against refs[]. */
static int
kos_matches(const struct dicom_kos *k)
{
	const struct dicom_study	*st;
	const struct dicom_series	*se;

	if (k->nstudies != 2 || k->ninstances != NREFS)
		return (0);
	st = &k->studies[0];
	if (strcmp(st->uid, ROOT ".1") != 0 || st->nseries != 2)
		return (0);
	se = &st->series[0];
	if (strcmp(se->uid, ROOT ".1.1") != 0 || se->nsops != 3 ||
	    strcmp(se->retrieve_location, REPO) != 0 ||
	    strcmp(se->sops[2].instance_uid, ROOT ".1.1.3") != 0 ||
	    strcmp(se->sops[2].class_uid, DICOM_CT_CLASS) != 0)
		return (0);
	se = &st->series[1];
	if (strcmp(se->uid, ROOT ".1.2") != 0 || se->nsops != 1 ||
	    strcmp(se->sops[0].class_uid, DICOM_SC_CLASS) != 0)
		return (0);
	st = &k->studies[1];
	if (strcmp(st->uid, ROOT ".2") != 0 || st->nseries != 1 ||
	    strcmp(st->series[0].sops[0].instance_uid, ROOT ".2.1.1") != 0)
		return (0);
	return (strcmp(k->title_code, "113030") == 0 &&
	    strcmp(k->title_scheme, "DCM") == 0 &&
	    strcmp(k->ids.sop_instance, ROOT ".9.1") == 0 &&
	    strcmp(k->ids.series, ROOT ".9") == 0 &&
	    strcmp(k->ids.study, ROOT ".1") == 0);
}

static void
test_uids(void)
{
	char	uid[DICOM_UID_BUF], uid2[DICOM_UID_BUF];

	ok(dicom_uid_valid("1.2.840.10008.1.2"), "a valid UID");
	ok(!dicom_uid_valid("") && !dicom_uid_valid("1..2") &&
	    !dicom_uid_valid(".1") && !dicom_uid_valid("1.") &&
	    !dicom_uid_valid("1.2/3") && !dicom_uid_valid("../etc"),
	    "bad UIDs are refused");
	memset(uid, '1', 64);
	uid[64] = '\0';
	ok(dicom_uid_valid(uid), "64 characters is a UID");
	uid[64] = '1';
	uid[65 - 1] = '\0';
	memset(uid2, '1', 65);
	uid2[64] = '1';
	uid2[65 - 1] = '\0';
	dicom_uid_generate(uid);
	dicom_uid_generate(uid2);
	ok(dicom_uid_valid(uid) && strncmp(uid, "2.25.", 5) == 0 &&
	    strcmp(uid, uid2) != 0, "generated UIDs: %s", uid);
	dicom_uid_derive("1.2.3", "4.5", uid);
	dicom_uid_derive("1.2.3", "4.5", uid2);
	/* Python: int.from_bytes(sha256(b"1.2.3\0" b"4.5")[:16], "big") */
	ok(strcmp(uid, "2.25.102162583957578488664083182342166938389") == 0 &&
	    strcmp(uid, uid2) == 0, "a derived UID is the same each time: %s",
	    uid);
	dicom_uid_derive("1.2.34", ".5", uid2);
	ok(strcmp(uid, uid2) != 0, "and the strings are kept apart (NUL)");
}

static void
test_instance(void)
{
	struct dicom_ids	ids;
	struct dbuf		b, h, b2;
	struct dicom_instance_params ip;
	char			*cause = NULL, path[256], *back;
	size_t			len, n, bad = 0;
	int			fd, rc;

	build_instance(&b, 10000);
	ok(dicom_instance_pixel_len(10000) == 10240 &&
	    dicom_instance_pixel_len(1) == 2 &&
	    dicom_instance_pixel_len(3) == 4, "pixel length rounding");
	rc = dicom_read_ids(b.data, b.len, &ids, &cause);
	ok(rc == 0 && strcmp(ids.study, ROOT ".1") == 0 &&
	    strcmp(ids.series, ROOT ".1.1") == 0 &&
	    strcmp(ids.sop_instance, ROOT ".1.1.1") == 0 &&
	    strcmp(ids.sop_class, DICOM_SC_CLASS) == 0 &&
	    strcmp(ids.ts, DICOM_TS_EXPLICIT) == 0 &&
	    strcmp(ids.modality, "OT") == 0 &&
	    strcmp(ids.patient_id, "RSNA-0001") == 0, "instance ids read");
	/* The header is well under 1 KiB: that is all a reader needs. */
	ok(dicom_read_ids(b.data, 1024, &ids, NULL) == 0 &&
	    strcmp(ids.series, ROOT ".1.1") == 0, "ids from a 1 KiB prefix");
	for (n = 0; n < 1024; n++) {
		rc = dicom_read_ids(b.data, n, &ids, NULL);
		if (rc == -1)
			bad++;
	}
	ok(bad == 0, "no prefix of an instance is an error (%zu were)", bad);
	ok(dicom_read_ids(b.data, 200, &ids, NULL) == 1,
	    "a short prefix asks for more");

	/* A CT slice: its class and modality, 512 KiB of pixels. */
	memset(&ip, 0, sizeof(ip));
	ip.ct = 1;
	ip.patient_id = "MRN-1";
	ip.study_uid = ROOT ".2";
	ip.series_uid = ROOT ".2.1";
	ip.sop_instance_uid = ROOT ".2.1.7";
	ip.instance_number = 7;
	dbuf_init(&h, 2 * 1024 * 1024);
	dbuf_init(&b2, 64 * 1024);
	ok(dicom_instance_build(&ip, &h, &cause) == 0 &&
	    dicom_instance_header(&ip, &b2, NULL) == 0 &&
	    h.len == b2.len + DICOM_CT_PIXEL_BYTES &&
	    dicom_instance_plen(&ip) == DICOM_CT_PIXEL_BYTES &&
	    dicom_read_ids(h.data, h.len, &ids, NULL) == 0 &&
	    strcmp(ids.sop_class, DICOM_CT_CLASS) == 0 &&
	    strcmp(ids.modality, "CT") == 0, "a CT slice: class, modality, "
	    "512 x 512 x 2 bytes of pixels");
	dbuf_free(&h);
	dbuf_free(&b2);

	/* The streamed instance is the same bytes. */
	snprintf(path, sizeof(path), "%s/inst.dcm", tmpdir);
	memset(&ip, 0, sizeof(ip));
	ip.patient_id = "RSNA-0001";
	ip.patient_name = "ISN^PATIENT";
	ip.study_uid = ROOT ".1";
	ip.series_uid = ROOT ".1.1";
	ip.sop_instance_uid = ROOT ".1.1.1";
	ip.instance_number = 1;
	ip.pixel_bytes = 10000;
	ip.seed = 42;
	ip.date = "20261128";
	ip.time = "010203";
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	rc = dicom_instance_write_fd(&ip, fd, &cause);
	close(fd);
	back = read_file(path, &len);
	ok(rc == 0 && back != NULL && len == b.len &&
	    memcmp(back, b.data, len) == 0 &&
	    dicom_read_ids_file(path, &ids, NULL) == 0,
	    "streamed instance equals the built one");
	free(back);
	dbuf_init(&h, 4096);
	rc = dicom_instance_header(&ip, &h, NULL);
	ok(rc == 0 && h.len + 10240 == b.len,
	    "header plus pixels is the instance (%zu)", h.len);
	dbuf_free(&h);

	ip.sop_instance_uid = "1.2.x";
	dbuf_init(&h, 4096);
	okc(dicom_instance_header(&ip, &h, &cause) == -1 && cause != NULL &&
	    h.len == 0, "bad UID refused: %s", cause);
	free(cause);
	cause = NULL;
	dbuf_free(&h);
	dbuf_free(&b);
}

static void
test_kos(void)
{
	struct dicom_kos	*k = NULL;
	struct dicom_ids	 ids;
	struct dbuf		 b;
	char			*cause = NULL, *copy;
	size_t			 n, crashes = 0, nocause = 0;
	size_t			 accepted = 0;
	uint32_t		 rng = 1;
	int			 rc, i;

	build_kos(&b);
	rc = dicom_kos_parse(b.data, b.len, &k, &cause);
	okc(rc == 0 && k != NULL && kos_matches(k), "KOS round trip: %s",
	    cause);
	ok(k != NULL && strcmp(k->ids.modality, "KO") == 0 &&
	    strcmp(k->ids.patient_id, "RSNA-0001") == 0, "KOS modality KO");
	dicom_kos_free(k);
	ok(dicom_read_ids(b.data, b.len, &ids, NULL) == 0 &&
	    strcmp(ids.sop_class, DICOM_KOS_CLASS) == 0, "KOS ids read");

	/* Every truncation fails with a cause and never reads past. */
	for (n = 0; n < b.len; n++) {
		copy = xmemdup(b.data, n);
		cause = NULL;
		rc = dicom_kos_parse(copy, n, &k, &cause);
		if (rc == 0) {
			accepted++;
			dicom_kos_free(k);
		} else if (cause == NULL)
			nocause++;
		free(cause);
		if (dicom_read_ids(copy, n, &ids, NULL) == -1)
			crashes++;
		free(copy);
	}
	ok(accepted == 0 && nocause == 0,
	    "every truncated KOS fails with a cause (%zu accepted, %zu "
	    "without)", accepted, nocause);
	ok(crashes == 0, "every KOS prefix reads as 0 or 1");

	/* Random corruption: anything but a crash or a missing cause. */
	nocause = 0;
	for (i = 0; i < 3000; i++) {
		copy = xmemdup(b.data, b.len);
		rng = rng * 1103515245 + 12345;
		n = 132 + (rng >> 8) % (b.len - 132);
		copy[n] ^= (char)(1 << ((rng >> 4) & 7));
		if (i % 3 == 0) {
			rng = rng * 1103515245 + 12345;
			copy[132 + (rng >> 8) % (b.len - 132)] = (char)0xff;
		}
		cause = NULL;
		if (dicom_kos_parse(copy, b.len, &k, &cause) == 0)
			dicom_kos_free(k);
		else if (cause == NULL)
			nocause++;
		free(cause);
		(void)dicom_read_ids(copy, b.len, &ids, NULL);
		free(copy);
	}
	ok(nocause == 0, "corrupted KOS: failures carry a cause");
	dbuf_free(&b);

	{
		struct dicom_kos_params	kp;

		memset(&kp, 0, sizeof(kp));
		kp.patient_id = "X";
		kp.study_uid = kp.series_uid = kp.sop_instance_uid = "1.2";
		dbuf_init(&b, 4096);
		cause = NULL;
		okc(dicom_kos_build(&kp, &b, &cause) == -1 && cause != NULL,
		    "a KOS needs references: %s", cause);
		free(cause);
		kp.refs = refs;
		kp.nrefs = 1;
		kp.patient_name = "back\\slash";
		cause = NULL;
		okc(dicom_kos_build(&kp, &b, &cause) == -1 && cause != NULL &&
		    b.len == 0, "a backslash in a name is refused: %s", cause);
		free(cause);
		dbuf_free(&b);
	}
}

/* Hand-written bytes: preamble, meta with a transfer syntax, dataset. */
static void
hand_meta(struct dbuf *b, const char *ts)
{
	size_t	n = strlen(ts) + (strlen(ts) & 1);
	uint8_t	h[8] = { 2, 0, 0x10, 0, 'U', 'I', (uint8_t)n, 0 };
	size_t	i;

	dbuf_init(b, 1 << 20);
	for (i = 0; i < 128; i++)
		dbuf_addc(b, 0);
	dbuf_add(b, "DICM", 4);
	dbuf_add(b, h, 8);
	dbuf_add(b, ts, strlen(ts));
	if (strlen(ts) & 1)
		dbuf_addc(b, 0);
}

static void
hand_el(struct dbuf *b, uint16_t g, uint16_t e, const char *vr,
    const void *v, uint32_t len)
{
	uint8_t	h[12] = { (uint8_t)g, (uint8_t)(g >> 8), (uint8_t)e,
	    (uint8_t)(e >> 8) };

	if (vr == NULL) {	/* implicit, or an item/delimiter */
		h[4] = (uint8_t)len;
		h[5] = (uint8_t)(len >> 8);
		h[6] = (uint8_t)(len >> 16);
		h[7] = (uint8_t)(len >> 24);
		dbuf_add(b, h, 8);
	} else if (strcmp(vr, "SQ") == 0 || strcmp(vr, "OB") == 0 ||
	    strcmp(vr, "UN") == 0) {
		memcpy(h + 4, vr, 2);
		h[6] = h[7] = 0;
		h[8] = (uint8_t)len;
		h[9] = (uint8_t)(len >> 8);
		h[10] = (uint8_t)(len >> 16);
		h[11] = (uint8_t)(len >> 24);
		dbuf_add(b, h, 12);
	} else {
		memcpy(h + 4, vr, 2);
		h[6] = (uint8_t)len;
		h[7] = (uint8_t)(len >> 8);
		dbuf_add(b, h, 8);
	}
	if (v != NULL && len != 0xffffffffU)
		dbuf_add(b, v, len);
}

static void
test_hostile(void)
{
	struct dicom_ids	 ids;
	struct dicom_kos	*k;
	struct dbuf		 b;
	char			*cause = NULL;
	int			 i;

	/* Not DICOM at all. */
	ok(dicom_read_ids("hello", 5, &ids, NULL) == 1,
	    "5 bytes: ask for more");
	dbuf_init(&b, 4096);
	for (i = 0; i < 200; i++)
		dbuf_addc(&b, 'A');
	okc(dicom_read_ids(b.data, b.len, &ids, &cause) == -1 &&
	    cause != NULL, "no DICM: %s", cause);
	free(cause);
	cause = NULL;
	dbuf_free(&b);

	/* Length larger than the file. */
	hand_meta(&b, DICOM_TS_EXPLICIT);
	hand_el(&b, 0x0008, 0x0016, "UI", "1.2", 4);
	hand_el(&b, 0x0008, 0x0018, "UI", NULL, 0);
	b.data[b.len - 2] = (char)0xff;	/* length 0x00ff: past the end */
	ok(dicom_read_ids(b.data, b.len, &ids, NULL) == 1,
	    "overlong length in a prefix: more needed");
	okc(dicom_kos_parse(b.data, b.len, &k, &cause) == -1 && cause != NULL,
	    "overlong length in a whole file: %s", cause);
	free(cause);
	cause = NULL;
	dbuf_free(&b);

	/* A bad VR. */
	hand_meta(&b, DICOM_TS_EXPLICIT);
	hand_el(&b, 0x0008, 0x0016, "ZZ", "1.2", 4);
	okc(dicom_read_ids(b.data, b.len, &ids, &cause) == -1 && cause != NULL,
	    "bad VR: %s", cause);
	free(cause);
	cause = NULL;
	dbuf_free(&b);

	/* Undefined-length sequences nested too deep. */
	hand_meta(&b, DICOM_TS_EXPLICIT);
	for (i = 0; i < DICOM_MAX_DEPTH + 4; i++) {
		hand_el(&b, 0x0040, 0xa730, "SQ", NULL, 0xffffffffU);
		hand_el(&b, 0xfffe, 0xe000, NULL, NULL, 0xffffffffU);
	}
	for (i = 0; i < DICOM_MAX_DEPTH + 4; i++) {
		hand_el(&b, 0xfffe, 0xe00d, NULL, NULL, 0);
		hand_el(&b, 0xfffe, 0xe0dd, NULL, NULL, 0);
	}
	okc(dicom_read_ids(b.data, b.len, &ids, &cause) == -1 && cause != NULL,
	    "deep nesting: %s", cause);
	free(cause);
	cause = NULL;
	dbuf_free(&b);

	/* An undefined-length sequence that never ends, in a whole file. */
	hand_meta(&b, DICOM_TS_EXPLICIT);
	hand_el(&b, 0x0008, 0x1111, "SQ", NULL, 0xffffffffU);
	hand_el(&b, 0xfffe, 0xe000, NULL, NULL, 0xffffffffU);
	hand_el(&b, 0x0008, 0x0100, "SH", "AB", 2);
	okc(dicom_kos_parse(b.data, b.len, &k, &cause) == -1 && cause != NULL,
	    "unterminated sequence: %s", cause);
	free(cause);
	cause = NULL;
	dbuf_free(&b);

	/* Elements out of order. */
	hand_meta(&b, DICOM_TS_EXPLICIT);
	hand_el(&b, 0x0008, 0x0018, "UI", "1.2", 4);
	hand_el(&b, 0x0008, 0x0016, "UI", "1.2", 4);
	okc(dicom_read_ids(b.data, b.len, &ids, &cause) == -1 && cause != NULL,
	    "out of order: %s", cause);
	free(cause);
	cause = NULL;
	dbuf_free(&b);

	/* A UID that would escape a directory. */
	hand_meta(&b, DICOM_TS_EXPLICIT);
	hand_el(&b, 0x0008, 0x0016, "UI", "../x", 4);
	okc(dicom_read_ids(b.data, b.len, &ids, &cause) == -1 && cause != NULL,
	    "UID with a slash: %s", cause);
	free(cause);
	cause = NULL;
	dbuf_free(&b);

	/* Deflate is refused. */
	hand_meta(&b, "1.2.840.10008.1.2.1.99");
	hand_el(&b, 0x0008, 0x0016, "UI", "1.2", 4);
	okc(dicom_read_ids(b.data, b.len, &ids, &cause) == -1 && cause != NULL,
	    "deflate: %s", cause);
	free(cause);
	cause = NULL;
	dbuf_free(&b);
}

/* Hand-written implicit VR with undefined-length sequences and items. */
/*
 * The UIDs behind a large private element: dicom_read_ids_file reads a
 * small prefix and more as needed, up to DICOM_IDS_PREFIX.
 */
static void
test_prefix(void)
{
	static const uint32_t	 bigs[] = { 100, 100 * 1024, 2 * 1024 * 1024 };
	struct dicom_ids	 ids;
	struct dbuf		 head, tail;
	char			 path[512], *cause = NULL;
	uint8_t			*zero;
	size_t			 i;
	int			 fd, rc, wr;

	zero = xcalloc(1, bigs[2]);
	snprintf(path, sizeof(path), "%s/prefix.dcm", tmpdir);
	for (i = 0; i < sizeof(bigs) / sizeof(bigs[0]); i++) {
		hand_meta(&head, DICOM_TS_EXPLICIT);
		hand_el(&head, 0x0008, 0x0016, "UI", "1.2.3.4", 8);
		hand_el(&head, 0x0008, 0x0018, "UI", "1.2.3.4.5.6", 12);
		hand_el(&head, 0x0009, 0x1000, "OB", NULL, bigs[i]);
		dbuf_init(&tail, 4096);
		hand_el(&tail, 0x0020, 0x000d, "UI", "1.2.3.7", 8);
		hand_el(&tail, 0x0020, 0x000e, "UI", "1.2.3.7.8", 10);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		wr = fd != -1 &&
		    write(fd, head.data, head.len) == (ssize_t)head.len &&
		    write(fd, zero, bigs[i]) == (ssize_t)bigs[i] &&
		    write(fd, tail.data, tail.len) == (ssize_t)tail.len;
		if (fd != -1)
			close(fd);
		rc = dicom_read_ids_file(path, &ids, &cause);
		if (bigs[i] < DICOM_IDS_PREFIX)
			ok(wr && rc == 0 && strcmp(ids.study, "1.2.3.7") == 0 &&
			    strcmp(ids.series, "1.2.3.7.8") == 0,
			    "UIDs behind a %u-byte element: read", bigs[i]);
		else
			okc(wr && rc == -1 && cause != NULL &&
			    strstr(cause, "not in the first") != NULL,
			    "UIDs behind 2 MiB: %s", cause);
		free(cause);
		cause = NULL;
		dbuf_free(&head);
		dbuf_free(&tail);
	}
	free(zero);
}

static void
test_implicit_undefined(void)
{
	struct dicom_kos	*k = NULL;
	struct dicom_ids	 ids;
	struct dbuf		 b;
	char			*cause = NULL;

	hand_meta(&b, DICOM_TS_IMPLICIT);
	hand_el(&b, 0x0008, 0x0016, NULL, DICOM_KOS_CLASS, 30);
	hand_el(&b, 0x0008, 0x0018, NULL, "1.2.3.4", 8);
	hand_el(&b, 0x0020, 0x000d, NULL, "1.2.3", 6);
	hand_el(&b, 0x0020, 0x000e, NULL, "1.2.3.5", 8);
	hand_el(&b, 0x0040, 0xa375, NULL, NULL, 0xffffffffU);
	hand_el(&b, 0xfffe, 0xe000, NULL, NULL, 0xffffffffU);
	hand_el(&b, 0x0008, 0x1115, NULL, NULL, 0xffffffffU);
	hand_el(&b, 0xfffe, 0xe000, NULL, NULL, 0xffffffffU);
	hand_el(&b, 0x0008, 0x1199, NULL, NULL, 0xffffffffU);
	/* One defined-length item (36 bytes) and one undefined. */
	hand_el(&b, 0xfffe, 0xe000, NULL, NULL, 8 + 12 + 8 + 8);
	hand_el(&b, 0x0008, 0x1150, NULL, "1.2.840.10008", 12);
	hand_el(&b, 0x0008, 0x1155, NULL, "1.2.3.6", 8);
	hand_el(&b, 0xfffe, 0xe000, NULL, NULL, 0xffffffffU);
	hand_el(&b, 0x0008, 0x1150, NULL, "1.2.840.10008", 12);
	hand_el(&b, 0x0008, 0x1155, NULL, "1.2.3.7", 8);
	hand_el(&b, 0xfffe, 0xe00d, NULL, NULL, 0);
	hand_el(&b, 0xfffe, 0xe0dd, NULL, NULL, 0);
	hand_el(&b, 0x0020, 0x000e, NULL, "1.2.3.5", 8);
	hand_el(&b, 0x0040, 0xe011, NULL, "1.2.9", 6);
	hand_el(&b, 0xfffe, 0xe00d, NULL, NULL, 0);
	hand_el(&b, 0xfffe, 0xe0dd, NULL, NULL, 0);
	hand_el(&b, 0x0020, 0x000d, NULL, "1.2.3", 6);
	hand_el(&b, 0xfffe, 0xe00d, NULL, NULL, 0);
	hand_el(&b, 0xfffe, 0xe0dd, NULL, NULL, 0);
	hand_el(&b, 0x0040, 0xa730, NULL, NULL, 0xffffffffU);
	hand_el(&b, 0xfffe, 0xe000, NULL, NULL, 0xffffffffU);
	hand_el(&b, 0x0040, 0xa010, NULL, "CONTAINS", 8);
	hand_el(&b, 0xfffe, 0xe00d, NULL, NULL, 0);
	hand_el(&b, 0xfffe, 0xe0dd, NULL, NULL, 0);
	ok(dicom_read_ids(b.data, b.len, &ids, &cause) == 0 &&
	    strcmp(ids.ts, DICOM_TS_IMPLICIT) == 0 &&
	    strcmp(ids.series, "1.2.3.5") == 0, "implicit VR ids");
	okc(dicom_kos_parse(b.data, b.len, &k, &cause) == 0 &&
	    k->nstudies == 1 && k->studies[0].nseries == 1 &&
	    k->studies[0].series[0].nsops == 2 &&
	    strcmp(k->studies[0].series[0].sops[1].instance_uid,
	    "1.2.3.7") == 0 &&
	    strcmp(k->studies[0].series[0].retrieve_location, "1.2.9") == 0,
	    "implicit VR, undefined lengths: KOS parsed: %s",
	    cause);
	free(cause);
	dicom_kos_free(k);
	dbuf_free(&b);
}

/* Files converted by DCMTK (committed, so this runs without DCMTK). */
static void
test_data_files(void)
{
	static const char *const files[] = { "kos-implicit.dcm",
	    "kos-undefined.dcm", "kos-implicit-undefined.dcm",
	    "kos-bigendian.dcm" };	/* dcmconv +tb: the retired syntax */
	struct dicom_kos	*k;
	char			 path[1024], *buf, *cause;
	const char		*srcdir = getenv("top_srcdir");
	size_t			 len, i;
	int			 rc;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/shared/tests/data/dicom/%s",
		    srcdir != NULL ? srcdir : "../..", files[i]);
		k = NULL;
		cause = NULL;
		if ((buf = read_file(path, &len)) == NULL) {
			ok(0, "read %s", path);
			continue;
		}
		rc = dicom_kos_parse(buf, len, &k, &cause) == 0 &&
		    kos_matches(k);
		ok(rc, "DCMTK-converted %s parses: %s", files[i],
		    cause != NULL ? cause : "-");
		free(cause);
		dicom_kos_free(k);
		free(buf);
	}
}

static int
run(const char *cmd)
{
	int	rc = system(cmd);

	return (rc == -1 ? -1 : WEXITSTATUS(rc));
}

static void
test_dcmtk(void)
{
	struct dbuf	 b;
	struct dicom_kos *k;
	char		 cmd[2048], kos[256], inst[256], out[256], *buf;
	char		 conv[256];
	const char	*dir, *convs[] = { "+ti -e", "-e", "+ti" };
	size_t		 len, i;

	snprintf(kos, sizeof(kos), "%s/kos.dcm", tmpdir);
	snprintf(inst, sizeof(inst), "%s/inst.dcm", tmpdir);
	snprintf(out, sizeof(out), "%s/out.txt", tmpdir);
	build_kos(&b);
	write_file(kos, b.data, b.len);
	dbuf_free(&b);
	build_instance(&b, 3000);
	write_file(inst, b.data, b.len);
	dbuf_free(&b);
	/* DICOM_TEST_OUT=DIR keeps copies (the seed corpus, data files). */
	if ((dir = getenv("DICOM_TEST_OUT")) != NULL) {
		snprintf(cmd, sizeof(cmd), "cp %s %s %s/", kos, inst, dir);
		(void)run(cmd);
	}
	if (!have_dcmtk) {
		tap_skip(5, "dcmtk is not installed");
		return;
	}
	snprintf(cmd, sizeof(cmd), "dcmdump -q +E %s > %s 2>&1 && "
	    "! grep -q '^E:' %s && grep -q '%s.9.1' %s && grep -q 113030 %s",
	    kos, out, out, ROOT, out, out);
	ok(run(cmd) == 0, "dcmdump parses the KOS and shows its UIDs");
	snprintf(cmd, sizeof(cmd), "dcmdump -q +E %s > %s 2>&1 && "
	    "! grep -q '^[EW]:' %s && grep -q '%s.1.1.1' %s && "
	    "grep -q 'OB 00' %s", inst, out, out, ROOT, out, out);
	ok(run(cmd) == 0, "dcmdump parses the instance and shows its UIDs");
	snprintf(cmd, sizeof(cmd), "dsrdump %s > %s 2>&1 && "
	    "! grep -v 'template constraints' %s | grep -q '^[EW]:' && "
	    "grep -q 'Key Object Selection' %s && "
	    "grep -q 'Manifest' %s", kos, out, out, out, out);
	if (!ok(run(cmd) == 0, "dsrdump accepts the KOS")) {
		snprintf(cmd, sizeof(cmd), "sed 's/^/# /' %s", out);
		(void)run(cmd);
	}
	/* DCMTK's own re-encodings parse to the same tree. */
	for (i = 0; i < 2; i++) {
		snprintf(conv, sizeof(conv), "%s/conv%zu.dcm", tmpdir, i);
		snprintf(cmd, sizeof(cmd), "dcmconv %s %s %s", convs[i], kos,
		    conv);
		k = NULL;
		buf = NULL;
		if (run(cmd) == 0 && (buf = read_file(conv, &len)) != NULL &&
		    dicom_kos_parse(buf, len, &k, NULL) == 0 && kos_matches(k))
			ok(1, "dcmconv %s output parses", convs[i]);
		else
			ok(0, "dcmconv %s output parses", convs[i]);
		dicom_kos_free(k);
		free(buf);
	}
}

int
main(void)
{
	char	cmd[256];

	if (mkdtemp(tmpdir) == NULL) {
		printf("Bail out! mkdtemp\n");
		return (1);
	}
	have_dcmtk = system("command -v dcmdump >/dev/null 2>&1 && "
	    "command -v dsrdump >/dev/null 2>&1 && "
	    "command -v dcmconv >/dev/null 2>&1") == 0;
	test_uids();
	test_instance();
	test_kos();
	test_hostile();
	test_prefix();
	test_implicit_undefined();
	test_data_files();
	test_dcmtk();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	(void)system(cmd);
	return (tap_done());
}
