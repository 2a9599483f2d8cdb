/*
 * ris.c: the RIS feed: HL7 orders, results, updates and merges over MLLP
 * into the edge database, each answered with an ACK once its transaction
 * committed (AA) or with AE/AR and an ERR naming the field. The mapping
 * (ris_map) is pure so that it can be fuzzed; ris_new and the callbacks
 * below it do the I/O. See docs/design/ris.md.
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "db.h"
#include "dbuf.h"
#include "edge.h"
#include "hl7.h"
#include "jobs.h"
#include "log.h"
#include "mllp.h"
#include "ris.h"
#include "xmalloc.h"

#define RIS_MAX_ACK	(64 * 1024)
#define RIS_LOG_ID	64	/* bytes of a control id logged */

/* One code of a status table and what it means here. */
struct ris_code {
	const char	*code;
	const char	*status;
};

/* HL7 table 0123, result status (OBR-25). */
static const struct ris_code ris_0123[] = {
	{ "O", "scheduled" },	/* order received */
	{ "S", "scheduled" },	/* procedure scheduled */
	{ "I", "in-progress" },	/* no results yet */
	{ "A", "preliminary" },	/* some results */
	{ "P", "preliminary" },
	{ "R", "preliminary" },	/* stored, not verified */
	{ "C", "corrected" },
	{ "F", "final" },
	{ "X", "cancelled" },
	{ NULL, NULL }
};

/* Codes of RSNA-era RIS feeds beyond table 0123 (rsna-edge.md 4). */
static const struct ris_code ris_rsna[] = {
	{ "D", "preliminary" },	/* dictated, not signed */
	{ "RE", "corrected" },	/* revised */
	{ "N", "final" },	/* non-reportable: no report will come */
	{ NULL, NULL }
};

/* HL7 table 0038, order status (ORC-5). */
static const struct ris_code ris_0038[] = {
	{ "SC", "scheduled" },
	{ "HD", "scheduled" },	/* on hold, not performed */
	{ "IP", "in-progress" },
	{ "CM", "completed" },
	{ "A", "preliminary" },
	{ "CA", "cancelled" },
	{ "DC", "cancelled" },
	{ NULL, NULL }
};

/* HL7 table 0119, order control (ORC-1): only without any status. */
static const struct ris_code ris_0119[] = {
	{ "NW", "scheduled" },
	{ "XO", "scheduled" },
	{ "CA", "cancelled" },
	{ "OC", "cancelled" },
	{ "DC", "cancelled" },
	{ "OD", "cancelled" },
	{ NULL, NULL }
};

static const char *const ris_versions[] = {
	"2.3", "2.3.1", "2.4", "2.5", "2.5.1", NULL
};

struct ris {
	struct edge		*edge;
	struct mllp_server	*srv;
};

/* One message waiting for the database. */
struct ris_req {
	struct ris		*ris;
	struct mllp_conn	*conn;
	struct hl7_msg		*msg;
	struct ris_record	 rec;
	char			 ctl[RIS_LOG_ID + 1];
	int			 stored;	/* status rows added */
	int			 repeats;	/* status rows already there */
	int			 moved;		/* exams moved by a merge */
	char			*cause;		/* first statement failure */
};

static const char *
ris_lookup(const struct ris_code *t, const char *code)
{
	for (; t->code != NULL; t++)
		if (strcasecmp(t->code, code) == 0)
			return (t->status);
	return (NULL);
}

const char *
ris_status(const char *code, const char *field)
{
	const char	*s = NULL;

	if (code == NULL || *code == '\0')
		return (NULL);
	if (strcmp(field, "ORC-1") == 0)
		return (ris_lookup(ris_0119, code));
	if (strcmp(field, "ORC-5") == 0 &&
	    (s = ris_lookup(ris_0038, code)) != NULL)
		return (s);
	if ((s = ris_lookup(ris_0123, code)) != NULL ||
	    (s = ris_lookup(ris_rsna, code)) != NULL)
		return (s);
	return (ris_lookup(ris_0038, code));
}

/* n digits at s as a number, or -1. */
static int
ris_digits(const char *s, int n)
{
	int	v = 0, i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return (-1);
		v = v * 10 + (s[i] - '0');
	}
	return (v);
}

/* A calendar date that exists (days per month, leap years). */
static int
ris_date_valid(int y, int m, int d)
{
	static const int	 mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31,
				    30, 31, 30, 31 };

	if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return (0);
	if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 ||
	    y % 400 == 0)))
		return (0);
	return (1);
}

int
ris_time(const char *ts, const char *time_zone, char *out, size_t size,
    int *local)
{
	struct tm	 tm, utc;
	time_t		 t;
	char		 frac[6] = "";
	size_t		 n = 0, f = 0;
	int		 y, mo, d, h = 0, mi = 0, s = 0, oh = 0, om = 0;
	int		 sign = 0, r;

	*local = 0;
	while (isdigit((unsigned char)ts[n]))
		n++;
	if (n != 8 && n != 10 && n != 12 && n != 14)
		return (-1);
	y = ris_digits(ts, 4);
	mo = ris_digits(ts + 4, 2);
	d = ris_digits(ts + 6, 2);
	if (n >= 10)
		h = ris_digits(ts + 8, 2);
	if (n >= 12)
		mi = ris_digits(ts + 10, 2);
	if (n >= 14)
		s = ris_digits(ts + 12, 2);
	if (!ris_date_valid(y, mo, d) || h > 23 || mi > 59 || s > 59)
		return (-1);
	ts += n;
	if (*ts == '.' && n == 14) {
		frac[0] = '.';
		for (ts++; isdigit((unsigned char)*ts) && f < 4; ts++)
			frac[++f] = *ts;
		frac[f + 1] = '\0';
		if (f == 0)
			return (-1);
	}
	if (*ts == '+' || *ts == '-') {
		sign = *ts == '+' ? 1 : -1;
		if ((oh = ris_digits(ts + 1, 2)) == -1 ||
		    (om = ris_digits(ts + 3, 2)) == -1 || oh > 14 || om > 59)
			return (-1);
		ts += 5;
	}
	if (*ts != '\0')
		return (-1);
	if (sign != 0)
		r = snprintf(out, size, "%04d-%02d-%02d %02d:%02d:%02d%s%c"
		    "%02d:%02d", y, mo, d, h, mi, s, frac, sign > 0 ? '+' :
		    '-', oh, om);
	else if (time_zone != NULL) {
		*local = 1;
		r = snprintf(out, size, "%04d-%02d-%02d %02d:%02d:%02d%s",
		    y, mo, d, h, mi, s, frac);
	} else {
		/* Local time of this system: mktime knows its zone. */
		memset(&tm, 0, sizeof(tm));
		tm.tm_year = y - 1900;
		tm.tm_mon = mo - 1;
		tm.tm_mday = d;
		tm.tm_hour = h;
		tm.tm_min = mi;
		tm.tm_sec = s;
		tm.tm_isdst = -1;
		if ((t = mktime(&tm)) == (time_t)-1 ||
		    gmtime_r(&t, &utc) == NULL)
			return (-1);
		r = snprintf(out, size, "%04d-%02d-%02d %02d:%02d:%02d%s+00",
		    utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
		    utc.tm_hour, utc.tm_min, utc.tm_sec, frac);
	}
	return (r < 0 || (size_t)r >= size ? -1 : 0);
}

/* Bytes of a valid UTF-8 sequence at s (at most n), or 0. */
static size_t
ris_utf8_seq(const unsigned char *s, size_t n)
{
	size_t		 len, i;
	unsigned int	 c;

	if (s[0] < 0x80)
		return (1);
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return (0);
	if (len > n)
		return (0);
	c = s[0] & (0x7f >> len);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return (0);
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (len == 4 && (c < 0x10000 || c > 0x10ffff)))
		return (0);
	return (len);
}

char *
ris_utf8(const char *buf, size_t len, size_t *lenp)
{
	const unsigned char	*s = (const unsigned char *)buf;
	char			*out;
	size_t			 i, k, o;

	for (i = 0; i < len; i += k)
		if ((k = ris_utf8_seq(s + i, len - i)) == 0)
			break;
	if (i >= len) {
		out = xmalloc(len + 1);
		memcpy(out, buf, len);
		out[len] = '\0';
		*lenp = len;
		return (out);
	}
	out = xmalloc(len * 2 + 1);
	for (i = 0, o = 0; i < len; i++) {
		if (s[i] < 0x80)
			out[o++] = (char)s[i];
		else {
			out[o++] = (char)(0xc0 | (s[i] >> 6));
			out[o++] = (char)(0x80 | (s[i] & 0x3f));
		}
	}
	out[o] = '\0';
	*lenp = o;
	return (out);
}

static void printflike(7, 8)
ris_err(struct ris_error *err, const char *ack, const char *code,
    const char *seg, int occ, int field, const char *fmt, ...)
{
	va_list	ap;

	snprintf(err->ack, sizeof(err->ack), "%s", ack);
	snprintf(err->code, sizeof(err->code), "%s", code);
	snprintf(err->seg, sizeof(err->seg), "%s", seg);
	err->occ = occ;
	err->field = field;
	va_start(ap, fmt);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
}

/* A copy of s, NULL when empty. */
static char *
ris_dup(const char *s)
{
	return (s == NULL || *s == '\0' ? NULL : xstrdup(s));
}

static void
ris_patient_clear(struct ris_patient *p)
{
	free(p->mrn);
	free(p->authority);
	free(p->family);
	free(p->given);
	free(p->middle);
	free(p->birth_date);
	free(p->sex);
	memset(p, 0, sizeof(*p));
}

void
ris_record_clear(struct ris_record *r)
{
	size_t	i;

	ris_patient_clear(&r->patient);
	ris_patient_clear(&r->prior);
	for (i = 0; i < r->nexams; i++) {
		free(r->exams[i].accession);
		free(r->exams[i].description);
		free(r->exams[i].modality);
		free(r->exams[i].status_raw);
		free(r->exams[i].report);
		free(r->exams[i].signer);
	}
	memset(r, 0, sizeof(*r));
}

/* The assigning authority of a CX: CX.4.1, else CX.4.2, else "". */
static const char *
ris_cx_authority(struct hl7_msg *m, const char *seg, int field, int rep)
{
	const char	*a = hl7_get(m, seg, 1, field, rep, 4, 1);

	return (*a != '\0' ? a : hl7_get(m, seg, 1, field, rep, 4, 2));
}

/*
 * The repetition of a CX list to use: the one of the configured assigning
 * authority, else the first. 0 when there is none.
 */
static int
ris_cx_pick(struct hl7_msg *m, const char *seg, int field, const char *aa)
{
	size_t	n = hl7_count_reps(m, seg, 1, field), i;

	if (n == 0)
		return (0);
	if (aa == NULL)
		return (1);
	for (i = 1; i <= n && i <= HL7_MAX_REPS; i++)
		if (strcmp(hl7_get(m, seg, 1, field, (int)i, 4, 1), aa) == 0 ||
		    strcmp(hl7_get(m, seg, 1, field, (int)i, 4, 2), aa) == 0)
			return ((int)i);
	return (0);
}

/* PID-3, PID-5, PID-7, PID-8. */
static int
ris_map_patient(struct hl7_msg *m, const struct ris_settings *set,
    struct ris_patient *p, struct ris_error *err)
{
	const char	*dob;
	int		 rep, y, mo, d;

	if (hl7_count_segments(m, "PID") == 0) {
		ris_err(err, "AE", "101", "PID", 1, 3, "PID segment missing");
		return (-1);
	}
	if ((rep = ris_cx_pick(m, "PID", 3, set->assigning_authority)) == 0 ||
	    *hl7_get(m, "PID", 1, 3, rep, 1, 1) == '\0') {
		if (set->assigning_authority != NULL)
			ris_err(err, "AE", "101", "PID", 1, 3, "PID-3: no "
			    "identifier of the configured assigning "
			    "authority");
		else
			ris_err(err, "AE", "101", "PID", 1, 3,
			    "PID-3 (patient identifier) missing");
		return (-1);
	}
	p->mrn = xstrdup(hl7_get(m, "PID", 1, 3, rep, 1, 1));
	p->authority = xstrdup(ris_cx_authority(m, "PID", 3, rep));
	p->family = ris_dup(hl7_get(m, "PID", 1, 5, 1, 1, 1));
	p->given = ris_dup(hl7_get(m, "PID", 1, 5, 1, 2, 1));
	p->middle = ris_dup(hl7_get(m, "PID", 1, 5, 1, 3, 1));
	p->sex = ris_dup(hl7_get(m, "PID", 1, 8, 1, 1, 1));
	dob = hl7_get(m, "PID", 1, 7, 1, 1, 1);
	if (*dob != '\0') {
		y = ris_digits(dob, 4);
		mo = y == -1 ? -1 : ris_digits(dob + 4, 2);
		d = mo == -1 ? -1 : ris_digits(dob + 6, 2);
		if (d == -1 || !ris_date_valid(y, mo, d) ||
		    strspn(dob + 8, "0123456789.+-") != strlen(dob + 8)) {
			ris_err(err, "AE", "102", "PID", 1, 7,
			    "PID-7 (birth date) is not a valid date");
			return (-1);
		}
		xasprintf(&p->birth_date, "%04d-%02d-%02d", y, mo, d);
	}
	return (0);
}

/* MRG-1: the id merged away; its authority defaults to the survivor's. */
static int
ris_map_prior(struct hl7_msg *m, const struct ris_settings *set,
    struct ris_record *r, struct ris_error *err)
{
	const char	*a;
	int		 rep;

	if ((rep = ris_cx_pick(m, "MRG", 1, set->assigning_authority)) == 0 ||
	    *hl7_get(m, "MRG", 1, 1, rep, 1, 1) == '\0') {
		ris_err(err, "AE", "101", "MRG", 1, 1,
		    "MRG-1 (prior patient identifier) missing");
		return (-1);
	}
	a = ris_cx_authority(m, "MRG", 1, rep);
	r->prior.mrn = xstrdup(hl7_get(m, "MRG", 1, 1, rep, 1, 1));
	r->prior.authority = xstrdup(*a != '\0' ? a : r->patient.authority);
	if (strcmp(r->prior.mrn, r->patient.mrn) == 0 &&
	    strcmp(r->prior.authority, r->patient.authority) == 0) {
		ris_err(err, "AE", "102", "MRG", 1, 1,
		    "MRG-1 names the patient of PID-3");
		return (-1);
	}
	return (0);
}

/*
 * One repetition of a field with its components and subcomponents
 * unescaped and joined again with the message's separators.
 */
static int
ris_rep_text(struct hl7_msg *m, const char *seg, int occ, int field, int rep,
    char csep, char ssep, struct dbuf *out)
{
	const char	*raw, *p;
	int		 ncomp = 1, nsub, c, s;

	raw = hl7_get_raw(m, seg, occ, field, rep, 0, 0);
	for (p = raw; *p != '\0'; p++)
		if (*p == csep)
			ncomp++;
	for (c = 1; c <= ncomp && c <= HL7_MAX_COMPONENT; c++) {
		if (c > 1 && dbuf_addc(out, csep) == -1)
			return (-1);
		raw = hl7_get_raw(m, seg, occ, field, rep, c, 0);
		for (nsub = 1, p = raw; *p != '\0'; p++)
			if (*p == ssep)
				nsub++;
		for (s = 1; s <= nsub && s <= HL7_MAX_COMPONENT; s++) {
			if ((s > 1 && dbuf_addc(out, ssep) == -1) ||
			    dbuf_addstr(out, hl7_get(m, seg, occ, field, rep,
			    c, s)) == -1)
				return (-1);
		}
	}
	return (0);
}

/* OBX-5 of OBX occurrences first..last, one line per repetition. */
static char *
ris_report(struct hl7_msg *m, int first, int last)
{
	const char	*enc = hl7_get_raw(m, "MSH", 1, 2, 0, 0, 0);
	struct dbuf	 out;
	char		 csep, ssep;
	size_t		 nrep, i;
	int		 occ;

	csep = enc[0] != '\0' ? enc[0] : '^';
	ssep = enc[0] != '\0' && enc[1] != '\0' && enc[2] != '\0' &&
	    enc[3] != '\0' ? enc[3] : '&';
	dbuf_init(&out, 2 * HL7_MAX_SIZE + 16 * 1024 * 1024);
	for (occ = first; occ <= last; occ++) {
		if (occ > first && dbuf_addc(&out, '\n') == -1)
			goto fail;
		nrep = hl7_count_reps(m, "OBX", occ, 5);
		for (i = 1; i <= nrep && i <= HL7_MAX_REPS; i++) {
			if ((i > 1 && dbuf_addc(&out, '\n') == -1) ||
			    ris_rep_text(m, "OBX", occ, 5, (int)i, csep, ssep,
			    &out) == -1)
				goto fail;
		}
	}
	return (dbuf_take(&out, NULL));
fail:
	dbuf_free(&out);
	return (NULL);
}

/* OBR-32.1 subcomponents (id&family&given...) joined with ^, or NULL. */
static char *
ris_signer(struct hl7_msg *m, int occ)
{
	struct dbuf	 out;
	const char	*v;
	int		 s, last = 0;

	for (s = 1; s <= 6; s++)
		if (*hl7_get(m, "OBR", occ, 32, 1, 1, s) != '\0')
			last = s;
	if (last == 0)
		return (NULL);
	dbuf_init(&out, 4096);
	for (s = 1; s <= last; s++) {
		v = hl7_get(m, "OBR", occ, 32, 1, 1, s);
		if ((s > 1 && dbuf_addc(&out, '^') == -1) ||
		    dbuf_addstr(&out, v) == -1) {
			dbuf_free(&out);
			return (NULL);
		}
	}
	return (dbuf_take(&out, NULL));
}

/* Status: OBR-25, else ORC-5, else (without either) ORC-1. */
static int
ris_map_status(struct hl7_msg *m, int obr, int orc, struct ris_exam *e,
    struct ris_error *err)
{
	const char	*code;
	int		 field;

	code = hl7_get(m, "OBR", obr, 25, 1, 1, 1);
	e->status_field = "OBR-25";
	if (*code == '\0' && orc > 0) {
		code = hl7_get(m, "ORC", orc, 5, 1, 1, 1);
		e->status_field = "ORC-5";
		if (*code == '\0') {
			code = hl7_get(m, "ORC", orc, 1, 1, 1, 1);
			e->status_field = "ORC-1";
		}
	}
	if (*code == '\0') {
		ris_err(err, "AE", "101", "OBR", obr, 25, "OBR-25 (result "
		    "status) and ORC-5 (order status) missing");
		return (-1);
	}
	if ((e->status = ris_status(code, e->status_field)) == NULL) {
		field = strcmp(e->status_field, "OBR-25") == 0 ? 25 :
		    strcmp(e->status_field, "ORC-5") == 0 ? 5 : 1;
		ris_err(err, "AE", "103", field == 25 ? "OBR" : "ORC",
		    field == 25 ? obr : orc, field, "%s: unknown status code",
		    e->status_field);
		return (-1);
	}
	e->status_raw = xstrdup(code);
	return (0);
}

/* Status time: OBR-22, else ORC-15; no other fallback (ris.md). */
static int
ris_map_time(struct hl7_msg *m, const struct ris_settings *set, int obr,
    int orc, struct ris_exam *e, struct ris_error *err)
{
	const char	*ts, *seg = "OBR";
	int		 field = 22, occ = obr, local;

	ts = hl7_get(m, "OBR", obr, 22, 1, 1, 1);
	if (*ts == '\0' && orc > 0) {
		ts = hl7_get(m, "ORC", orc, 15, 1, 1, 1);
		seg = "ORC";
		field = 15;
		occ = orc;
	}
	if (*ts == '\0') {
		ris_err(err, "AE", "101", "OBR", obr, 22, "OBR-22 (status "
		    "time) and ORC-15 (order effective time) missing");
		return (-1);
	}
	if (ris_time(ts, set->time_zone, e->status_time,
	    sizeof(e->status_time), &local) == -1) {
		ris_err(err, "AE", "102", seg, occ, field, "%s-%d: not an "
		    "HL7 time (YYYYMMDD[HHMM[SS[.S]]][+/-ZZZZ])", seg, field);
		return (-1);
	}
	e->time_zone = local ? set->time_zone : NULL;
	return (0);
}

/* One OBR with its ORC (orc 0: none) and OBX occurrences obx1..obx2. */
static int
ris_map_exam(struct hl7_msg *m, const struct ris_settings *set, int obr,
    int orc, int obx1, int obx2, struct ris_exam *e, struct ris_error *err)
{
	const char	*acc, *desc;
	int		 field;

	field = set->accession_field == EDGE_ACC_OBR18 ? 18 : 3;
	acc = hl7_get(m, "OBR", obr, field, 1, 1, 1);
	if (*acc == '\0') {
		ris_err(err, "AE", "101", "OBR", obr, field, "OBR-%d "
		    "(accession number) missing", field);
		return (-1);
	}
	e->accession = xstrdup(acc);
	desc = hl7_get(m, "OBR", obr, 4, 1, 2, 1);
	if (*desc == '\0')
		desc = hl7_get(m, "OBR", obr, 4, 1, 1, 1);
	e->description = ris_dup(desc);
	e->modality = ris_dup(hl7_get(m, "OBR", obr, 24, 1, 1, 1));
	e->signer = ris_signer(m, obr);
	if (ris_map_status(m, obr, orc, e, err) == -1 ||
	    ris_map_time(m, set, obr, orc, e, err) == -1)
		return (-1);
	if (obx1 > 0 && (e->report = ris_report(m, obx1, obx2)) == NULL) {
		ris_err(err, "AE", "207", "OBX", obx1, 5,
		    "report text too large");
		return (-1);
	}
	return (0);
}

/*
 * Walk the segments: each OBR is an exam, with the ORC before it (the
 * nearest) and the OBX segments after it up to the next OBR.
 */
static int
ris_map_exams(struct hl7_msg *m, const struct ris_settings *set,
    struct ris_record *r, struct ris_error *err)
{
	const char	*id;
	size_t		 i, nseg = hl7_nsegments(m);
	int		 orc = 0, obr = 0, obr_orc = 0, obx1 = 0, obx2 = 0;

	for (i = 0; i <= nseg; i++) {
		id = i < nseg ? hl7_segment_id(m, i) : "";
		if (id == NULL)
			id = "";
		if (i == nseg || strcmp(id, "OBR") == 0) {
			if (obr > 0) {
				if (r->nexams == RIS_MAX_EXAMS) {
					ris_err(err, "AE", "207", "OBR", obr,
					    0, "more than %d OBR segments",
					    RIS_MAX_EXAMS);
					return (-1);
				}
				if (ris_map_exam(m, set, obr, obr_orc, obx1,
				    obx2, &r->exams[r->nexams++], err) == -1)
					return (-1);
			}
			if (i == nseg)
				break;
			obr = hl7_segment_occ(m, i);
			obr_orc = orc;
			obx1 = obx2 = 0;
		} else if (strcmp(id, "ORC") == 0)
			orc = hl7_segment_occ(m, i);
		else if (strcmp(id, "OBX") == 0 && obr > 0) {
			if (obx1 == 0)
				obx1 = hl7_segment_occ(m, i);
			obx2 = hl7_segment_occ(m, i);
		}
	}
	if (r->nexams == 0) {
		ris_err(err, "AE", "101", "OBR", 1, 0, "OBR segment missing");
		return (-1);
	}
	return (0);
}

/* MSH-9, MSH-10, MSH-12: the type, a control id and a known version. */
static int
ris_map_msh(struct hl7_msg *m, struct ris_record *r, struct ris_error *err)
{
	const char	*type, *event, *v;
	size_t		 i;

	type = hl7_get(m, "MSH", 1, 9, 1, 1, 1);
	event = hl7_get(m, "MSH", 1, 9, 1, 2, 1);
	if (*type == '\0') {
		ris_err(err, "AR", "101", "MSH", 1, 9,
		    "MSH-9 (message type) missing");
		return (-1);
	}
	if (*hl7_control_id(m) == '\0') {
		ris_err(err, "AR", "101", "MSH", 1, 10,
		    "MSH-10 (message control id) missing");
		return (-1);
	}
	v = hl7_version(m);
	for (i = 0; ris_versions[i] != NULL; i++)
		if (strcmp(v, ris_versions[i]) == 0)
			break;
	if (ris_versions[i] == NULL) {
		ris_err(err, "AR", "203", "MSH", 1, 12, "MSH-12: version "
		    "not supported (2.3 to 2.5.1)");
		return (-1);
	}
	if ((strcmp(type, "ORM") == 0 && strcmp(event, "O01") == 0) ||
	    (strcmp(type, "ORU") == 0 && strcmp(event, "R01") == 0))
		r->kind = RIS_ORDER;
	else if (strcmp(type, "ADT") == 0 && strcmp(event, "A08") == 0)
		r->kind = RIS_UPDATE;
	else if (strcmp(type, "ADT") == 0 && (strcmp(event, "A18") == 0 ||
	    strcmp(event, "A40") == 0))
		r->kind = RIS_MERGE;
	else {
		ris_err(err, "AR", "200", "MSH", 1, 9, "MSH-9: message type "
		    "not supported (ORM^O01, ORU^R01, ADT^A08, ADT^A18, "
		    "ADT^A40)");
		return (-1);
	}
	snprintf(r->event, sizeof(r->event), "%s", event);
	return (0);
}

int
ris_map(struct hl7_msg *m, const struct ris_settings *set,
    struct ris_record *r, struct ris_error *err)
{
	int	rc = -1;

	memset(r, 0, sizeof(*r));
	memset(err, 0, sizeof(*err));
	if (ris_map_msh(m, r, err) == -1 ||
	    ris_map_patient(m, set, &r->patient, err) == -1)
		goto done;
	if (r->kind == RIS_MERGE && ris_map_prior(m, set, r, err) == -1)
		goto done;
	if (r->kind == RIS_ORDER && ris_map_exams(m, set, r, err) == -1)
		goto done;
	rc = 0;
done:
	if (rc == -1)
		ris_record_clear(r);
	return (rc);
}

/* ---- the listener ---- */

static const char ris_order_sql[] =
	"SELECT edge_exam_status(edge_patient_upsert($1, $2, $3, $4, $5, "
	"$6::date, $7), $8, $9, $10, $11, $12, $13, "
	"CASE WHEN $15::text IS NULL THEN $14::text::timestamptz "
	"ELSE $14::text::timestamp AT TIME ZONE $15::text END, "
	"$16, $17, $18)";
static const char ris_update_sql[] =
	"SELECT edge_patient_upsert($1, $2, $3, $4, $5, $6::date, $7)";
static const char ris_merge_sql[] =
	"SELECT edge_patient_merge(edge_patient_upsert($1, $2, $3, $4, $5, "
	"$6::date, $7, false), $8, $9, $10, $11)";

/* A control id fit for a key=value log line: printable, no quotes. */
static void
ris_log_safe(char *dst, size_t size, const char *src)
{
	size_t	i;

	for (i = 0; i + 1 < size && src[i] != '\0'; i++)
		dst[i] = isgraph((unsigned char)src[i]) && src[i] != '"' &&
		    src[i] != '\\' && src[i] != '=' ? src[i] : '?';
	dst[i] = '\0';
	if (i == 0 && size > 1)
		snprintf(dst, size, "-");
}

/* Serialise ack (freed here) and send it; drop the connection if none. */
static void
ris_send(struct mllp_conn *conn, struct hl7_msg *ack)
{
	struct dbuf	out;

	dbuf_init(&out, RIS_MAX_ACK);
	if (ack == NULL || hl7_serialise(ack, &out) == -1) {
		log_warnx("ris conn=%s event=error reason=\"cannot build the "
		    "ACK\"", mllp_conn_id(conn));
		mllp_conn_close(conn);
	} else
		(void)mllp_conn_reply(conn, out.data, out.len);
	dbuf_free(&out);
	hl7_msg_free(ack);
}

/* The AE/AR for err, its ERR pointing at the field. */
static struct hl7_msg *
ris_nak(struct hl7_msg *msg, const struct ris_error *err)
{
	struct hl7_msg	*ack;
	char		*cause = NULL;

	ack = hl7_ack(msg, err->ack, err->code, err->text, NULL, NULL,
	    &cause);
	free(cause);
	if (ack != NULL && err->seg[0] != '\0' && err->field > 0)
		(void)hl7_ack_set_location(ack, err->seg,
		    err->occ > 0 ? err->occ : 1, err->field);
	return (ack);
}

static void
ris_req_free(struct ris_req *q)
{
	ris_record_clear(&q->rec);
	hl7_msg_free(q->msg);
	free(q->cause);
	free(q);
}

static void
ris_stmt_done(PGresult *res, const char *cause, void *arg)
{
	struct ris_req	*q = arg;
	const char	*v;

	if (cause != NULL) {
		if (q->cause == NULL)
			q->cause = xstrdup(cause);
		return;
	}
	if (res == NULL || PQntuples(res) != 1)
		return;
	v = PQgetvalue(res, 0, 0);
	if (q->rec.kind == RIS_ORDER) {
		if (strcmp(v, "t") == 0)
			q->stored++;
		else
			q->repeats++;
	} else if (q->rec.kind == RIS_MERGE)
		q->moved = atoi(v);
}

/* Committed: AA. Anything failed: AE 207, so that the RIS sends again. */
static void
ris_commit_done(PGresult *res, const char *cause, void *arg)
{
	struct ris_req	*q = arg;
	struct ris	*ris = q->ris;
	struct ris_error err;
	struct hl7_msg	*ack;
	char		*why = NULL;

	(void)res;
	if (q->cause == NULL && cause != NULL)
		q->cause = xstrdup(cause);
	if (q->cause == NULL) {
		ack = hl7_ack(q->msg, "AA", NULL, NULL, NULL, NULL, &why);
		free(why);
		log_info("ris conn=%s control_id=%s event=%s exams=%zu "
		    "stored=%d repeats=%d moved=%d outcome=accepted ack=AA",
		    mllp_conn_id(q->conn), q->ctl, q->rec.event,
		    q->rec.nexams, q->stored, q->repeats, q->moved);
		/* A final report may make a waiting job due now. */
		if (q->stored > 0 && ris->edge->jobs != NULL)
			jobs_kick(ris->edge->jobs);
	} else {
		memset(&err, 0, sizeof(err));
		ris_err(&err, "AE", "207", "", 0, 0, "edge database error: "
		    "not stored, send again");
		ack = ris_nak(q->msg, &err);
		log_warnx("ris conn=%s control_id=%s event=%s outcome=db-error "
		    "ack=AE cause=\"%s\"", mllp_conn_id(q->conn), q->ctl,
		    q->rec.event, q->cause);
	}
	ris_send(q->conn, ack);
	ris_req_free(q);
	edge_release(ris->edge);
}

/* The patient's seven parameters, first in every statement. */
static void
ris_patient_values(const struct ris_patient *p, const char **v)
{
	v[0] = p->mrn;
	v[1] = p->authority;
	v[2] = p->family;
	v[3] = p->given;
	v[4] = p->middle;
	v[5] = p->birth_date;
	v[6] = p->sex;
}

static void
ris_txn_begun(struct db_txn *txn, const char *cause, void *arg)
{
	struct ris_req		*q = arg;
	const struct ris_record	*r = &q->rec;
	const struct ris_exam	*e;
	const char		*v[18];
	size_t			 i;

	if (txn == NULL) {
		q->cause = xstrdup(cause != NULL ? cause : "no transaction");
		ris_commit_done(NULL, NULL, q);
		return;
	}
	ris_patient_values(&r->patient, v);
	switch (r->kind) {
	case RIS_ORDER:
		for (i = 0; i < r->nexams; i++) {
			e = &r->exams[i];
			v[7] = e->accession;
			v[8] = e->description;
			v[9] = e->modality;
			v[10] = e->status;
			v[11] = e->status_raw;
			v[12] = e->status_field;
			v[13] = e->status_time;
			v[14] = e->time_zone;
			v[15] = e->report;
			v[16] = e->signer;
			v[17] = hl7_control_id(q->msg);
			db_txn_query(txn, ris_order_sql, 18, v, NULL, NULL, 0,
			    ris_stmt_done, q);
		}
		break;
	case RIS_UPDATE:
		db_txn_query(txn, ris_update_sql, 7, v, NULL, NULL, 0,
		    ris_stmt_done, q);
		break;
	case RIS_MERGE:
		v[7] = r->prior.mrn;
		v[8] = r->prior.authority;
		v[9] = r->event;
		v[10] = hl7_control_id(q->msg);
		db_txn_query(txn, ris_merge_sql, 11, v, NULL, NULL, 0,
		    ris_stmt_done, q);
		break;
	}
	db_txn_commit(txn, ris_commit_done, q);
}

/* Refused before the database: log without patient data, then answer. */
static void
ris_refuse(struct ris *ris, struct mllp_conn *conn, struct hl7_msg *ack,
    const char *ctl, const struct ris_error *err)
{
	char	loc[16];

	if (err->seg[0] != '\0' && err->field > 0)
		snprintf(loc, sizeof(loc), "%s-%d", err->seg, err->field);
	else
		snprintf(loc, sizeof(loc), "%s", err->seg[0] != '\0' ?
		    err->seg : "-");
	log_info("ris conn=%s control_id=%s event=refused ack=%s code=%s "
	    "location=%s reason=\"%s\"", mllp_conn_id(conn), ctl, err->ack,
	    err->code, loc, err->text);
	ris_send(conn, ack);
	edge_release(ris->edge);
}

static void
ris_message(struct mllp_conn *conn, const struct tls_peer *peer,
    const char *buf, size_t len, void *arg)
{
	struct ris		*ris = arg;
	const struct edge_conf	*c = ris->edge->conf;
	struct ris_settings	 set;
	struct ris_error	 err;
	struct hl7_limits	 lim;
	struct ris_req		*q;
	struct hl7_msg		*msg, *ack;
	char			*text, *cause = NULL, ctl[RIS_LOG_ID + 1];
	size_t			 tlen;

	(void)peer;
	edge_hold(ris->edge);
	memset(&err, 0, sizeof(err));
	if (len > c->ris.max_message) {
		ris_err(&err, "AR", "207", "", 0, 0, "message larger than "
		    "%zu bytes", c->ris.max_message);
		ack = hl7_ack_raw(buf, len, "AR", "207", err.text, NULL, NULL,
		    &cause);
		free(cause);
		ris_refuse(ris, conn, ack, "-", &err);
		return;
	}
	text = ris_utf8(buf, len, &tlen);
	hl7_limits_default(&lim);
	lim.max_size = tlen > lim.max_size ? tlen : lim.max_size;
	if ((msg = hl7_parse(text, tlen, &lim, &cause)) == NULL) {
		ris_err(&err, "AR", "100", "", 0, 0, "not an HL7 v2 message "
		    "(%s)", cause);
		free(cause);
		cause = NULL;
		ack = hl7_ack_raw(text, tlen, "AR", "100", err.text, NULL,
		    NULL, &cause);
		free(cause);
		free(text);
		ris_refuse(ris, conn, ack, "-", &err);
		return;
	}
	free(text);
	ris_log_safe(ctl, sizeof(ctl), hl7_control_id(msg));
	memset(&set, 0, sizeof(set));
	set.accession_field = c->ris.accession_field;
	set.assigning_authority = c->ris.assigning_authority;
	set.time_zone = c->site.time_zone;
	q = xcalloc(1, sizeof(*q));
	if (ris_map(msg, &set, &q->rec, &err) == -1) {
		ris_refuse(ris, conn, ris_nak(msg, &err), ctl, &err);
		hl7_msg_free(msg);
		free(q);
		return;
	}
	q->ris = ris;
	q->conn = conn;
	q->msg = msg;
	memcpy(q->ctl, ctl, sizeof(q->ctl));
	db_txn_begin(ris->edge->db, ris_txn_begun, q);
}

struct ris *
ris_new(struct edge *edge, char **cause)
{
	const struct edge_ris	*rc = &edge->conf->ris;
	struct ris		*ris;
	char			 addr[CONF_HOST_MAX + 16];
	size_t			 max;

	conf_addr_listen(&rc->listen, addr, sizeof(addr));
	/*
	 * Frames up to twice the limit are read so that an oversized
	 * message still gets its AR; beyond that the connection closes.
	 */
	max = rc->max_message * 2;
	ris = xcalloc(1, sizeof(*ris));
	ris->edge = edge;
	ris->srv = mllp_server_new(edge->base, addr, edge->ris_tls, max,
	    (int)rc->timeout, ris_message, ris, cause);
	if (ris->srv == NULL) {
		free(ris);
		return (NULL);
	}
	log_info("ris listening addr=%s port=%d tls=%s", addr,
	    mllp_server_port(ris->srv), edge->ris_tls == NULL ? "no" :
	    rc->tls.verify_peer ? "mutual" : "yes");
	return (ris);
}

int
ris_port(struct ris *ris)
{
	return (mllp_server_port(ris->srv));
}

void
ris_stop(struct ris *ris)
{
	if (ris != NULL)
		mllp_server_stop(ris->srv);
}

void
ris_free(struct ris *ris)
{
	if (ris == NULL)
		return;
	mllp_server_free(ris->srv);
	free(ris);
}
