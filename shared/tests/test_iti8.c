/* test_iti8.c: ITI-8 feed rules over the conformance samples and our cases. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "iti8.h"
#include "tap.h"
#include "xmalloc.h"

/* Check a message; returns the problems as "code location" lines. */
static int
check(const char *er7, size_t len, const char *oid, struct iti8_feed *f,
    char *out, size_t outlen)
{
	struct hl7_msg	*m;
	size_t		 i, o = 0;
	int		 rc;

	if ((m = hl7_parse(er7, len, NULL, NULL)) == NULL)
		return (-2);
	rc = iti8_check(m, oid, f);
	out[0] = '\0';
	for (i = 0; i < f->nproblems && o < outlen; i++)
		o += (size_t)snprintf(out + o, outlen - o, "%s%d%s %s",
		    i ? "," : "", f->problems[i].code,
		    f->problems[i].warning ? "w" : "", f->problems[i].location);
	hl7_msg_free(m);
	return (rc);
}

struct sample {
	const char	*file, *oid;
	int		 rc;
	const char	*problems, *patient, *prior;
};

static const struct sample samples[] = {
	{ "ipf-gazelle-iti-8-A01.hl7", "1.3.6.1.4.1.21367.2005.1.1", 0, "",
	  "PDQ113XX35", NULL },
	{ "ipf-gazelle-iti-8-A40.hl7", NULL, 0, "", "PDQ113XX35",
	  "PDQ113XX03" },
	{ "ipf-iti8-a40.hl7", NULL, 0, "", "7200117317", "7200117359" },
	{ "ipf-iti8-a40.hl7", "2.16.840.1.113883.3.37.4.1.1.2.1.1", -1,
	  "204 MRG-1", "305014", NULL },
	{ "ipf-iti8-a01.hl7", NULL, -1, "204 PID-3", NULL, NULL },
	{ "ipf-gazelle-iti-8-A01.hl7", "1.3.6.1.4.1.19376.3.840.1.1.1", -1,
	  "204 PID-3", NULL, NULL },
	{ "../negative/ipf-iti8-a01-incomplete-no-PID.hl7", NULL, -1,
	  "100 PID", NULL, NULL },
	{ "nist-toolkit-A01-template.txt", NULL, -1,
	  "203 MSH-12,100 EVN,204 PID-3,100 PV1", NULL, NULL },
};

static void
test_samples(void)
{
	const char	*dir = tap_shareddir();
	struct iti8_feed f;
	char		 path[4200], *buf, got[512];
	size_t		 i, len;
	int		 rc;

	if (dir == NULL) {
		tap_skip(4 * (int)(sizeof(samples) / sizeof(*samples)),
		    "../shared is absent: no ITI-8 samples");
		return;
	}
	for (i = 0; i < sizeof(samples) / sizeof(*samples); i++) {
		const struct sample *s = &samples[i];

		snprintf(path, sizeof(path), "%s/xds-samples/iti8/%s", dir,
		    s->file);
		if ((buf = tap_slurp(path, &len)) == NULL) {
			buf = xstrdup("");
			len = 0;
		}
		rc = check(buf, len, s->oid, &f, got, sizeof(got));
		is_int(rc, s->rc, "%s (%s): verdict", s->file,
		    s->oid ? s->oid : "any domain");
		is_str(got, s->problems, "%s: problems", s->file);
		is_str(f.patient_id, s->patient, "%s: patient id", s->file);
		is_str(f.prior_id, s->prior, "%s: prior id", s->file);
		iti8_feed_clear(&f);
		free(buf);
	}
}

struct ours {
	const char	*name, *er7;
	int		 rc;
	const char	*problems;
};

#define RSNA_MSH "MSH|^~\\&|||||20261127120000||ADT^A04^ADT_A01|1234567890123456789|P|2.3.1||||||ASCII\r"
#define RSNA_PID "PID|||83f59bf2b530007175cd5fb00f8dfc7f^^^&1.3.6.1.4.1.19376.3.840.1.1.1&ISO||RSNA ISN^RSNA ISN\r"

static const struct ours ours[] = {
	{ "RSNA edge A04 (MSH-3..6 empty: warnings only)",
	  RSNA_MSH "EVN|A04|20261127120000\r" RSNA_PID "PV1||O\r", 0,
	  "101w MSH-3,101w MSH-4,101w MSH-5,101w MSH-6" },
	{ "version 2.5 refused",
	  "MSH|^~\\&|A|B|C|D|2026||ADT^A04|1|P|2.5\rEVN||2026\r" RSNA_PID
	  "PV1||O\r", -1, "203 MSH-12" },
	{ "ADT^A02 refused",
	  "MSH|^~\\&|A|B|C|D|2026||ADT^A02|1|P|2.3.1\r", -1, "201 MSH-9" },
	{ "ORU refused",
	  "MSH|^~\\&|A|B|C|D|2026||ORU^R01|1|P|2.3.1\r", -1, "200 MSH-9" },
	{ "missing EVN-2, PID-5, PV1-2",
	  "MSH|^~\\&|A|B|C|D|2026||ADT^A08|1|P|2.3.1\rEVN|A08\r"
	  "PID|||x^^^&1.3.6.1.4.1.19376.3.840.1.1.1&ISO\rPV1\r", -1,
	  "101 EVN-2,101 PID-5,101 PV1-2" },
	{ "an empty identifier type after ISO^ (RSNA's quirk) is accepted",
	  "MSH|^~\\&|A|B|C|D|2026||ADT^A04|1|P|2.3.1\rEVN||2026\r"
	  "PID|||x^^^&1.3.6.1.4.1.19376.3.840.1.1.1&ISO^||N^N\rPV1||O\r", 0,
	  "" },
	{ "an assigning authority typed L is not ISO",
	  "MSH|^~\\&|A|B|C|D|2026||ADT^A04|1|P|2.3.1\rEVN||2026\r"
	  "PID|||x^^^&1.3.6.1.4.1.19376.3.840.1.1.1&L||N^N\rPV1||O\r", -1,
	  "204 PID-3" },
	{ "merge into itself",
	  "MSH|^~\\&|A|B|C|D|2026||ADT^A40|1|P|2.3.1\rEVN||2026\r" RSNA_PID
	  "MRG|83f59bf2b530007175cd5fb00f8dfc7f^^^&1.3.6.1.4.1.19376.3.840.1.1.1&ISO\r",
	  -1, "102 MRG-1" },
	{ "merge without MRG",
	  "MSH|^~\\&|A|B|C|D|2026||ADT^A40|1|P|2.3.1\rEVN||2026\r" RSNA_PID,
	  -1, "100 MRG" },
};

static void
test_ours(void)
{
	struct iti8_feed	 f;
	const struct iti8_problem *p;
	char			 got[512];
	size_t			 i;
	int			 rc;

	for (i = 0; i < sizeof(ours) / sizeof(*ours); i++) {
		rc = check(ours[i].er7, strlen(ours[i].er7),
		    "1.3.6.1.4.1.19376.3.840.1.1.1", &f, got, sizeof(got));
		is_int(rc, ours[i].rc, "%s: verdict", ours[i].name);
		is_str(got, ours[i].problems, "%s: problems", ours[i].name);
		if (i == 0)
			is_str(f.patient_id, "83f59bf2b530007175cd5fb00f8dfc7f",
			    "the RSNA-ID is the patient id");
		if (i == 1) {
			p = iti8_first_error(&f);
			ok(p != NULL && strcmp(p->message,
			    "version \"2.5\" is not 2.3.1") == 0,
			    "first error text for the NAK");
		}
		iti8_feed_clear(&f);
	}
}

int
main(void)
{
	test_samples();
	test_ours();
	return (tap_done());
}
