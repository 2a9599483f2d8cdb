/*
 * dicom.c: a small DICOM Part 10 reader and writer (see dicom.h and
 * docs/design/dicom.md).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "dbuf.h"
#include "dicom.h"
#include "fdio.h"
#include "xmalloc.h"

#define TAG(g, e)	((uint32_t)(g) << 16 | (uint32_t)(e))
#define UNDEFINED	0xffffffffU

#define T_ITEM		TAG(0xfffe, 0xe000)
#define T_ITEM_END	TAG(0xfffe, 0xe00d)
#define T_SEQ_END	TAG(0xfffe, 0xe0dd)
#define T_PIXEL		TAG(0x7fe0, 0x0010)

/* The implementation identity written in the file meta information. */
#define IMPL_CLASS	"2.25.224332182127661328519600861941787833392"
#define IMPL_VERSION	"ISN_1"

/* A view on a span of bytes being parsed. */
struct rd {
	const uint8_t	*p;
	size_t		 len;
	size_t		 off;
	int		 implicit;	/* implicit VR (else explicit) */
	int		*eof;		/* set when the bytes ran out */
	int		 be;		/* explicit VR big endian (retired) */
};

/* One element: its value is p[voff, voff + vlen). */
struct el {
	uint32_t	 tag;
	char		 vr[3];		/* "" when implicit */
	int		 undefined;	/* had an undefined length */
	size_t		 voff;
	size_t		 vlen;
};

static int	dicom_skip_items(struct rd *, int, int, char **);

/* The bytes ran out: the error a longer prefix might not have. */
static void
ran_out(const struct rd *r)
{
	if (r->eof != NULL)
		*r->eof = 1;
}

static uint16_t
get16(const uint8_t *p)
{
	return ((uint16_t)(p[0] | p[1] << 8));
}

static uint32_t
get32(const uint8_t *p)
{
	return ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24);
}

/*
 * The same in the dataset's byte order: Explicit VR Big Endian (PS3.5
 * A.3, retired but still in archives) swaps every tag and length, the
 * file meta group excepted.
 */
static uint16_t
rd16(const struct rd *r, const uint8_t *p)
{
	return (r->be ? (uint16_t)(p[0] << 8 | p[1]) : get16(p));
}

static uint32_t
rd32(const struct rd *r, const uint8_t *p)
{
	if (!r->be)
		return (get32(p));
	return ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3]);
}

static uint32_t
rd_tag(const struct rd *r, const uint8_t *p)
{
	return ((uint32_t)rd16(r, p) << 16 | rd16(r, p + 2));
}

/* VRs with the 4-byte length form in explicit VR (PS3.5 7.1.2). */
static int
vr_long(const char *vr)
{
	static const char *const longs[] = { "OB", "OD", "OF", "OL", "OV",
	    "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV" };
	size_t	i;

	for (i = 0; i < sizeof(longs) / sizeof(longs[0]); i++)
		if (memcmp(vr, longs[i], 2) == 0)
			return (1);
	return (0);
}

static int
vr_known(const char *vr)
{
	static const char known[] = "AE AS AT CS DA DS DT FD FL IS LO LT OB OD "
	    "OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV";
	size_t	i;

	for (i = 0; i + 1 < sizeof(known); i += 3)
		if (known[i] == vr[0] && known[i + 1] == vr[1])
			return (1);
	return (0);
}

/*
 * Reads one element header at r->off and moves past its value. A value of
 * undefined length (a sequence, or encapsulated pixel data) is walked to
 * find its end; its span then excludes the sequence delimiter.
 */
static int
dicom_elem(struct rd *r, int depth, struct el *e, char **cause)
{
	const uint8_t	*p = r->p + r->off;
	size_t		 left = r->len - r->off, hdr;
	uint32_t	 len;
	int		 implicit = r->implicit;

	if (left < 8) {
		ran_out(r);
		xcause(cause, "element header truncated at offset %zu",
		    r->off);
		return (-1);
	}
	e->tag = rd_tag(r, p);	/* the meta group is read before r->be */
	e->vr[0] = '\0';
	/* Group 0002 and delimiters are always explicit / VR-less. */
	if (e->tag >> 16 == 0x0002)
		implicit = 0;
	if (e->tag >> 16 == 0xfffe) {
		xcause(cause, "unexpected delimiter (%04X,%04X) at offset %zu",
		    e->tag >> 16, e->tag & 0xffff, r->off);
		return (-1);
	}
	if (implicit) {
		len = rd32(r, p + 4);
		hdr = 8;
	} else {
		memcpy(e->vr, p + 4, 2);
		e->vr[2] = '\0';
		if (!vr_known(e->vr)) {
			xcause(cause, "bad VR at offset %zu", r->off);
			return (-1);
		}
		if (vr_long(e->vr)) {
			if (left < 12) {
				ran_out(r);
		xcause(cause, "element header truncated at "
				    "offset %zu", r->off);
				return (-1);
			}
			len = rd32(r, p + 8);
			hdr = 12;
		} else {
			len = rd16(r, p + 6);
			hdr = 8;
		}
	}
	r->off += hdr;
	e->voff = r->off;
	if (len != UNDEFINED) {
		e->undefined = 0;
		if (len > r->len - r->off) {
			ran_out(r);
		xcause(cause, "element (%04X,%04X) length %u exceeds "
			    "the %zu bytes left", e->tag >> 16, e->tag & 0xffff,
			    len, r->len - r->off);
			return (-1);
		}
		e->vlen = len;
		r->off += len;
		return (0);
	}
	/* Undefined length: SQ, UN (implicit inside), OB/OW pixel data. */
	e->undefined = 1;
	if (!implicit && strcmp(e->vr, "SQ") != 0 &&
	    strcmp(e->vr, "UN") != 0 && !(e->tag == T_PIXEL &&
	    (strcmp(e->vr, "OB") == 0 || strcmp(e->vr, "OW") == 0))) {
		xcause(cause, "undefined length on VR %s at offset %zu", e->vr,
		    e->voff - hdr);
		return (-1);
	}
	if (depth >= DICOM_MAX_DEPTH) {
		xcause(cause, "sequences nested deeper than %d",
		    DICOM_MAX_DEPTH);
		return (-1);
	}
	if (dicom_skip_items(r, implicit || strcmp(e->vr, "UN") == 0,
	    depth + 1, cause) == -1)
		return (-1);
	e->vlen = r->off - 8 - e->voff;	/* without the delimiter */
	return (0);
}

/*
 * Reads an item header at r->off; leaves r->off after the item and sets its
 * content span. Returns 1 at a sequence delimiter (consumed), 0 on an item.
 */
static int
dicom_item(struct rd *r, int depth, size_t *voff, size_t *vlen, char **cause)
{
	const uint8_t	*p = r->p + r->off;
	struct el	 e;
	uint32_t	 tag, len;

	if (r->len - r->off < 8) {
		ran_out(r);
		xcause(cause, "item header truncated at offset %zu", r->off);
		return (-1);
	}
	tag = rd_tag(r, p);
	len = rd32(r, p + 4);
	if (tag == T_SEQ_END) {
		if (len != 0) {
			xcause(cause, "sequence delimiter with length %u", len);
			return (-1);
		}
		r->off += 8;
		return (1);
	}
	if (tag != T_ITEM) {
		xcause(cause, "expected an item, found (%04X,%04X) at offset "
		    "%zu", tag >> 16, tag & 0xffff, r->off);
		return (-1);
	}
	r->off += 8;
	*voff = r->off;
	if (len != UNDEFINED) {
		if (len > r->len - r->off) {
			ran_out(r);
		xcause(cause, "item length %u exceeds the %zu bytes "
			    "left", len, r->len - r->off);
			return (-1);
		}
		*vlen = len;
		r->off += len;
		return (0);
	}
	for (;;) {
		if (r->len - r->off < 8) {
			ran_out(r);
		xcause(cause, "item without its delimiter");
			return (-1);
		}
		if (rd_tag(r, r->p + r->off) == T_ITEM_END) {
			if (rd32(r, r->p + r->off + 4) != 0) {
				xcause(cause, "item delimiter with a length");
				return (-1);
			}
			*vlen = r->off - *voff;
			r->off += 8;
			return (0);
		}
		if (dicom_elem(r, depth, &e, cause) == -1)
			return (-1);
	}
}

/* Walks the items of an undefined-length value up to its delimiter. */
static int
dicom_skip_items(struct rd *r, int implicit, int depth, char **cause)
{
	struct rd	sub;
	size_t		voff, vlen;
	int		rc, saved = r->implicit;

	sub = *r;
	sub.implicit = implicit;
	for (;;) {
		rc = dicom_item(&sub, depth, &voff, &vlen, cause);
		if (rc == -1)
			return (-1);
		if (rc == 1)
			break;
	}
	r->off = sub.off;
	r->implicit = saved;
	return (0);
}

/* Copies a string value without its trailing padding (NUL or spaces). */
static int
dicom_str(const struct rd *r, const struct el *e, char *buf, size_t size)
{
	size_t	n = e->vlen;
	size_t	s = 0;
	const uint8_t *v = r->p + e->voff;

	while (n > 0 && (v[n - 1] == '\0' || v[n - 1] == ' '))
		n--;
	while (s < n && v[s] == ' ')
		s++;
	if (n - s >= size)
		return (-1);
	memcpy(buf, v + s, n - s);
	buf[n - s] = '\0';
	if (memchr(buf, '\0', n - s) != NULL)
		return (-1);
	return (0);
}

static int
dicom_uid(const struct rd *r, const struct el *e, char *buf, const char *what,
    char **cause)
{
	if (dicom_str(r, e, buf, DICOM_UID_BUF) == -1 ||
	    !dicom_uid_valid(buf)) {
		xcause(cause, "bad %s", what);
		buf[0] = '\0';
		return (-1);
	}
	return (0);
}

int
dicom_uid_valid(const char *s)
{
	size_t	n = 0;
	int	prev_dot = 1;

	for (; s[n] != '\0'; n++) {
		if (s[n] == '.') {
			if (prev_dot)
				return (0);
			prev_dot = 1;
		} else if (s[n] >= '0' && s[n] <= '9')
			prev_dot = 0;
		else
			return (0);
		if (n >= DICOM_UID_MAX)
			return (0);
	}
	return (n > 0 && !prev_dot);
}

/* "2.25." and the 128-bit big-endian number v in decimal (PS3.5 B.2). */
static void
dicom_uid_from128(uint8_t v[16], char buf[DICOM_UID_BUF])
{
	char	digits[48];
	size_t	n = 0, i;
	int	nonzero;
	unsigned rem;

	/* Repeated division by ten of the 128-bit big-endian number. */
	do {
		rem = 0;
		nonzero = 0;
		for (i = 0; i < 16; i++) {
			unsigned cur = rem << 8 | v[i];

			v[i] = (uint8_t)(cur / 10);
			rem = cur % 10;
			if (v[i] != 0)
				nonzero = 1;
		}
		digits[n++] = (char)('0' + rem);
	} while (nonzero);
	memcpy(buf, "2.25.", 5);
	for (i = 0; i < n; i++)
		buf[5 + i] = digits[n - 1 - i];
	buf[5 + n] = '\0';
}

void
dicom_uid_generate(char buf[DICOM_UID_BUF])
{
	uint8_t	v[16];

	if (RAND_bytes(v, sizeof(v)) != 1)
		abort();
	dicom_uid_from128(v, buf);
}

void
dicom_uid_derive(const char *a, const char *b, char buf[DICOM_UID_BUF])
{
	uint8_t		md[32];
	EVP_MD_CTX	*c;

	if ((c = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(c, a, strlen(a) + 1) != 1 ||	/* with its NUL */
	    EVP_DigestUpdate(c, b, strlen(b)) != 1 ||
	    EVP_DigestFinal_ex(c, md, NULL) != 1)
		abort();
	EVP_MD_CTX_free(c);
	dicom_uid_from128(md, buf);
}

/* Checks the preamble and reads the meta group; r then at the dataset. */
static int
dicom_meta(struct rd *r, struct dicom_ids *ids, char **cause)
{
	struct el	e;

	if (r->len < DICOM_PREAMBLE) {
		ran_out(r);
		xcause(cause, "shorter than the preamble");
		return (-1);
	}
	if (memcmp(r->p + 128, "DICM", 4) != 0) {
		xcause(cause, "not a DICOM Part 10 file (no DICM prefix)");
		return (-1);
	}
	r->off = DICOM_PREAMBLE;
	r->implicit = 0;
	for (;;) {
		if (r->len - r->off < 8) {
			ran_out(r);
			xcause(cause, "file meta information truncated");
			return (-1);
		}
		if (get16(r->p + r->off) != 0x0002)
			break;
		if (dicom_elem(r, 0, &e, cause) == -1)
			return (-1);
		if (e.tag == TAG(0x0002, 0x0010) &&
		    dicom_uid(r, &e, ids->ts, "transfer syntax UID",
		    cause) == -1)
			return (-1);
	}
	if (ids->ts[0] == '\0') {
		xcause(cause, "no transfer syntax UID");
		return (-1);
	}
	if (strcmp(ids->ts, "1.2.840.10008.1.2.1.99") == 0) {
		xcause(cause, "deflated transfer syntax not supported");
		return (-1);
	}
	r->be = strcmp(ids->ts, DICOM_TS_BIG_ENDIAN) == 0;
	r->implicit = strcmp(ids->ts, DICOM_TS_IMPLICIT) == 0;
	return (0);
}

/* Keeps a top-level value the ids need. */
static int
dicom_ids_elem(const struct rd *r, const struct el *e, struct dicom_ids *ids,
    char **cause)
{
	switch (e->tag) {
	case TAG(0x0008, 0x0016):
		return (dicom_uid(r, e, ids->sop_class, "SOP class UID",
		    cause));
	case TAG(0x0008, 0x0018):
		return (dicom_uid(r, e, ids->sop_instance,
		    "SOP instance UID", cause));
	case TAG(0x0020, 0x000d):
		return (dicom_uid(r, e, ids->study, "study instance UID",
		    cause));
	case TAG(0x0020, 0x000e):
		return (dicom_uid(r, e, ids->series, "series instance UID",
		    cause));
	case TAG(0x0008, 0x0050):
		if (dicom_str(r, e, ids->accession, sizeof(ids->accession)) ==
		    -1)
			ids->accession[0] = '\0';
		return (0);
	case TAG(0x0008, 0x0060):
		if (dicom_str(r, e, ids->modality, sizeof(ids->modality)) ==
		    -1)
			ids->modality[0] = '\0';
		return (0);
	case TAG(0x0010, 0x0020):
		if (dicom_str(r, e, ids->patient_id, sizeof(ids->patient_id)) ==
		    -1)
			ids->patient_id[0] = '\0';
		return (0);
	}
	return (0);
}

static int
dicom_ids_done(const struct dicom_ids *ids)
{
	return (ids->sop_class[0] != '\0' && ids->sop_instance[0] != '\0' &&
	    ids->study[0] != '\0' && ids->series[0] != '\0');
}

/*
 * Parses what can be parsed of the prefix. "complete" says whether the
 * bytes are the whole file (then running out is an error).
 */
static int
dicom_ids_parse(const void *buf, size_t len, int complete,
    struct dicom_ids *ids, char **cause)
{
	struct rd	r = { buf, len, 0, 0, NULL, 0 };
	struct el	e;
	uint32_t	last = 0;
	char		*why = NULL;
	int		eof = 0;

	r.eof = &eof;
	memset(ids, 0, sizeof(*ids));
	if (dicom_meta(&r, ids, &why) != 0) {
		if (eof && !complete) {
			free(why);
			return (1);
		}
		if (cause != NULL)
			*cause = why;
		else
			free(why);
		return (-1);
	}
	while (r.off < r.len) {
		if (r.len - r.off >= 4 && rd_tag(&r, r.p + r.off) == T_PIXEL)
			break;
		if (dicom_elem(&r, 0, &e, &why) == -1) {
			/* Running out of bytes in a prefix is not an error. */
			if (!complete && eof) {
				free(why);
				return (dicom_ids_done(ids) ? 0 : 1);
			}
			if (cause != NULL)
				*cause = why;
			else
				free(why);
			return (-1);
		}
		if (e.tag <= last) {
			xcause(cause, "elements out of order at (%04X,%04X)",
			    e.tag >> 16, e.tag & 0xffff);
			return (-1);
		}
		last = e.tag;
		if (dicom_ids_elem(&r, &e, ids, cause) == -1)
			return (-1);
		if (dicom_ids_done(ids) && e.tag >= TAG(0x0020, 0x000e))
			return (0);
	}
	if (dicom_ids_done(ids))
		return (0);
	if (!complete && r.off >= r.len)
		return (1);
	xcause(cause, "missing %s", ids->sop_class[0] == '\0' ?
	    "SOP class UID" : ids->sop_instance[0] == '\0' ?
	    "SOP instance UID" : ids->study[0] == '\0' ?
	    "study instance UID" : "series instance UID");
	return (-1);
}

int
dicom_read_ids(const void *buf, size_t len, struct dicom_ids *ids,
    char **cause)
{
	return (dicom_ids_parse(buf, len, 0, ids, cause));
}

int
dicom_read_ids_file(const char *path, struct dicom_ids *ids, char **cause)
{
	uint8_t	*buf = NULL;
	size_t	 len = 0, want = DICOM_IDS_FIRST;
	ssize_t	 n;
	int	 fd, rc, eof = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		xcause(cause, "%s: %s", path, strerror(errno));
		return (-1);
	}
	/*
	 * A small prefix first, more only when the UIDs lie beyond it: the
	 * edge reads every instance of a study before submitting it, and
	 * the whole of each 0.5 MB slice cost more than the rest together.
	 */
	for (;;) {
		buf = xreallocarray(buf, want, 1);
		while (len < want && !eof) {
			n = read(fd, buf + len, want - len);
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1) {
				xcause(cause, "%s: %s", path, strerror(errno));
				close(fd);
				free(buf);
				return (-1);
			}
			if (n == 0)
				eof = 1;
			len += (size_t)n;
		}
		rc = dicom_ids_parse(buf, len, eof, ids, cause);
		if (rc != 1 || eof || want >= DICOM_IDS_PREFIX)
			break;
		want = want * 8 < DICOM_IDS_PREFIX ? want * 8 :
		    DICOM_IDS_PREFIX;
	}
	close(fd);
	free(buf);
	if (rc == 1) {
		xcause(cause, "%s: identifying UIDs not in the first %d bytes",
		    path, DICOM_IDS_PREFIX);
		rc = -1;
	} else if (rc == -1 && cause != NULL && *cause != NULL) {
		char *c = *cause;

		*cause = NULL;
		xcause(cause, "%s: %s", path, c);
		free(c);
	}
	return (rc);
}

/* KOS parsing: a sub-reader over an item's or value's span. */
static struct rd
rd_sub(const struct rd *r, size_t off, size_t len, int implicit)
{
	struct rd	s = { r->p + off, len, 0, implicit, NULL, r->be };

	return (s);
}

/* Iterates the items of a sequence value; returns 1 when done. */
static int
dicom_next_item(struct rd *seq, int depth, struct rd *item, char **cause)
{
	size_t	voff, vlen;
	int	rc;

	if (seq->off == seq->len)
		return (1);
	rc = dicom_item(seq, depth, &voff, &vlen, cause);
	if (rc == 1) {
		/* A delimiter inside a defined-length value: end it there. */
		return (seq->off == seq->len ? 1 : (xcause(cause,
		    "bytes after a sequence delimiter"), -1));
	}
	if (rc == -1)
		return (-1);
	*item = rd_sub(seq, voff, vlen, seq->implicit);
	return (0);
}

/* The sequence value of e as a reader over its items. */
static int
dicom_seq(const struct rd *r, const struct el *e, struct rd *seq,
    char **cause)
{
	if (e->vr[0] != '\0' && strcmp(e->vr, "SQ") != 0 &&
	    strcmp(e->vr, "UN") != 0) {
		xcause(cause, "(%04X,%04X) is not a sequence", e->tag >> 16,
		    e->tag & 0xffff);
		return (-1);
	}
	*seq = rd_sub(r, e->voff, e->vlen,
	    r->implicit || strcmp(e->vr, "UN") == 0);
	return (0);
}

static int
kos_sop(struct rd *item, int depth, struct dicom_series *se, char **cause)
{
	struct dicom_sop	*s;
	struct el		 e;

	se->sops = xreallocarray(se->sops, se->nsops + 1, sizeof(*se->sops));
	s = &se->sops[se->nsops++];
	memset(s, 0, sizeof(*s));
	while (item->off < item->len) {
		if (dicom_elem(item, depth, &e, cause) == -1)
			return (-1);
		if (e.tag == TAG(0x0008, 0x1150) && dicom_uid(item, &e,
		    s->class_uid, "referenced SOP class UID", cause) == -1)
			return (-1);
		if (e.tag == TAG(0x0008, 0x1155) && dicom_uid(item, &e,
		    s->instance_uid, "referenced SOP instance UID",
		    cause) == -1)
			return (-1);
	}
	if (s->class_uid[0] == '\0' || s->instance_uid[0] == '\0') {
		xcause(cause, "referenced SOP item without its UIDs");
		return (-1);
	}
	return (0);
}

static int
kos_series(struct rd *item, int depth, struct dicom_study *st, char **cause)
{
	struct dicom_series	*se;
	struct rd		 seq, sub;
	struct el		 e;
	int			 rc;

	st->series = xreallocarray(st->series, st->nseries + 1,
	    sizeof(*st->series));
	se = &st->series[st->nseries++];
	memset(se, 0, sizeof(*se));
	while (item->off < item->len) {
		if (dicom_elem(item, depth, &e, cause) == -1)
			return (-1);
		switch (e.tag) {
		case TAG(0x0020, 0x000e):
			if (dicom_uid(item, &e, se->uid, "series instance UID",
			    cause) == -1)
				return (-1);
			break;
		case TAG(0x0040, 0xe011):
			if (dicom_uid(item, &e, se->retrieve_location,
			    "retrieve location UID", cause) == -1)
				return (-1);
			break;
		case TAG(0x0008, 0x1199):
			if (dicom_seq(item, &e, &seq, cause) == -1)
				return (-1);
			while ((rc = dicom_next_item(&seq, depth + 1, &sub,
			    cause)) == 0)
				if (kos_sop(&sub, depth + 2, se, cause) == -1)
					return (-1);
			if (rc == -1)
				return (-1);
			break;
		}
	}
	if (se->uid[0] == '\0' || se->nsops == 0) {
		xcause(cause, "referenced series without its UID or SOPs");
		return (-1);
	}
	return (0);
}

static int
kos_study(struct rd *item, int depth, struct dicom_kos *k, char **cause)
{
	struct dicom_study	*st;
	struct rd		 seq, sub;
	struct el		 e;
	size_t			 i;
	int			 rc;

	k->studies = xreallocarray(k->studies, k->nstudies + 1,
	    sizeof(*k->studies));
	st = &k->studies[k->nstudies++];
	memset(st, 0, sizeof(*st));
	while (item->off < item->len) {
		if (dicom_elem(item, depth, &e, cause) == -1)
			return (-1);
		if (e.tag == TAG(0x0020, 0x000d)) {
			if (dicom_uid(item, &e, st->uid, "study instance UID",
			    cause) == -1)
				return (-1);
		} else if (e.tag == TAG(0x0008, 0x1115)) {
			if (dicom_seq(item, &e, &seq, cause) == -1)
				return (-1);
			while ((rc = dicom_next_item(&seq, depth + 1, &sub,
			    cause)) == 0)
				if (kos_series(&sub, depth + 2, st,
				    cause) == -1)
					return (-1);
			if (rc == -1)
				return (-1);
		}
	}
	if (st->uid[0] == '\0' || st->nseries == 0) {
		xcause(cause, "evidence study without its UID or series");
		return (-1);
	}
	for (i = 0; i < st->nseries; i++)
		k->ninstances += st->series[i].nsops;
	return (0);
}

static int
kos_title(struct rd *seq, struct dicom_kos *k, char **cause)
{
	struct rd	item;
	struct el	e;
	int		rc;

	if ((rc = dicom_next_item(seq, 1, &item, cause)) != 0)
		return (rc == 1 ? 0 : -1);
	while (item.off < item.len) {
		if (dicom_elem(&item, 2, &e, cause) == -1)
			return (-1);
		if (e.tag == TAG(0x0008, 0x0100))
			(void)dicom_str(&item, &e, k->title_code,
			    sizeof(k->title_code));
		else if (e.tag == TAG(0x0008, 0x0102))
			(void)dicom_str(&item, &e, k->title_scheme,
			    sizeof(k->title_scheme));
	}
	return (0);
}

int
dicom_kos_parse(const void *buf, size_t len, struct dicom_kos **out,
    char **cause)
{
	struct dicom_kos	*k;
	struct rd		 r = { buf, len, 0, 0, NULL, 0 }, seq, item;
	struct el		 e;
	int			 rc, evidence = 0, content = 0;

	*out = NULL;
	k = xcalloc(1, sizeof(*k));
	if (dicom_meta(&r, &k->ids, cause) != 0)
		goto fail;
	while (r.off < r.len) {
		if (dicom_elem(&r, 0, &e, cause) == -1)
			goto fail;
		if (dicom_ids_elem(&r, &e, &k->ids, cause) == -1)
			goto fail;
		if (e.tag == TAG(0x0040, 0xa043)) {
			if (dicom_seq(&r, &e, &seq, cause) == -1 ||
			    kos_title(&seq, k, cause) == -1)
				goto fail;
		} else if (e.tag == TAG(0x0040, 0xa375)) {
			evidence = 1;
			if (dicom_seq(&r, &e, &seq, cause) == -1)
				goto fail;
			while ((rc = dicom_next_item(&seq, 1, &item,
			    cause)) == 0)
				if (kos_study(&item, 2, k, cause) == -1)
					goto fail;
			if (rc == -1)
				goto fail;
		} else if (e.tag == TAG(0x0040, 0xa730))
			content = e.vlen > 0;
	}
	if (strcmp(k->ids.sop_class, DICOM_KOS_CLASS) != 0) {
		xcause(cause, "not a Key Object Selection document");
		goto fail;
	}
	if (!dicom_ids_done(&k->ids)) {
		xcause(cause, "KOS without its own UIDs");
		goto fail;
	}
	if (!evidence || k->nstudies == 0) {
		xcause(cause, "KOS without evidence");
		goto fail;
	}
	if (!content) {
		xcause(cause, "KOS without content");
		goto fail;
	}
	*out = k;
	return (0);
fail:
	if (cause != NULL && *cause == NULL)
		xcause(cause, "truncated file");
	dicom_kos_free(k);
	return (-1);
}

void
dicom_kos_free(struct dicom_kos *k)
{
	size_t	i, j;

	if (k == NULL)
		return;
	for (i = 0; i < k->nstudies; i++) {
		for (j = 0; j < k->studies[i].nseries; j++)
			free(k->studies[i].series[j].sops);
		free(k->studies[i].series);
	}
	free(k->studies);
	free(k);
}

/* Writing: explicit VR LE, defined lengths patched in afterwards. */
struct wr {
	struct dbuf	*b;
	int		 error;
};

static void
put16(struct wr *w, uint16_t v)
{
	uint8_t	p[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	if (dbuf_add(w->b, p, 2) == -1)
		w->error = 1;
}

static void
put32(struct wr *w, uint32_t v)
{
	uint8_t	p[4] = { (uint8_t)v, (uint8_t)(v >> 8),
	    (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	if (dbuf_add(w->b, p, 4) == -1)
		w->error = 1;
}

static void
patch32(struct wr *w, size_t at, uint32_t v)
{
	uint8_t	*p = (uint8_t *)w->b->data + at;

	if (w->error)
		return;
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* An element header; returns the offset of a 4-byte length field. */
static size_t
put_hdr(struct wr *w, uint32_t tag, const char *vr, uint32_t len)
{
	size_t	at;

	put16(w, (uint16_t)(tag >> 16));
	put16(w, (uint16_t)tag);
	if (dbuf_add(w->b, vr, 2) == -1)
		w->error = 1;
	if (vr_long(vr)) {
		put16(w, 0);
		at = w->b->len;
		put32(w, len);
	} else {
		at = w->b->len;
		put16(w, (uint16_t)len);
	}
	return (at);
}

/* A string value padded to even length (NUL for UI, space otherwise). */
static void
put_str(struct wr *w, uint32_t tag, const char *vr, const char *s)
{
	size_t	n = s == NULL ? 0 : strlen(s);
	size_t	pad = n & 1;

	if (n + pad > 0xfffe) {
		w->error = 1;
		return;
	}
	put_hdr(w, tag, vr, (uint32_t)(n + pad));
	if (n > 0 && dbuf_add(w->b, s, n) == -1)
		w->error = 1;
	if (pad && dbuf_addc(w->b, strcmp(vr, "UI") == 0 ? '\0' : ' ') == -1)
		w->error = 1;
}

static void
put_us(struct wr *w, uint32_t tag, uint16_t v)
{
	put_hdr(w, tag, "US", 2);
	put16(w, v);
}

/* Sequences and items: open returns the offset to patch at close. */
static size_t
seq_open(struct wr *w, uint32_t tag)
{
	return (put_hdr(w, tag, "SQ", 0));
}

static size_t
item_open(struct wr *w)
{
	size_t	at;

	put16(w, 0xfffe);
	put16(w, 0xe000);
	at = w->b->len;
	put32(w, 0);
	return (at);
}

static void
close_at(struct wr *w, size_t at)
{
	if (w->error)
		return;
	if (w->b->len - at - 4 > 0xfffffffeU) {
		w->error = 1;
		return;
	}
	patch32(w, at, (uint32_t)(w->b->len - at - 4));
}

/* Preamble and the file meta information group. */
static void
put_meta(struct wr *w, const char *sop_class, const char *sop_instance)
{
	static const uint8_t	version[2] = { 0, 1 };
	size_t			at, start;

	for (start = 0; start < 128; start++)
		if (dbuf_addc(w->b, '\0') == -1)
			w->error = 1;
	if (dbuf_add(w->b, "DICM", 4) == -1)
		w->error = 1;
	put_hdr(w, TAG(0x0002, 0x0000), "UL", 4);
	at = w->b->len;
	put32(w, 0);
	start = w->b->len;
	put_hdr(w, TAG(0x0002, 0x0001), "OB", 2);
	if (dbuf_add(w->b, version, 2) == -1)
		w->error = 1;
	put_str(w, TAG(0x0002, 0x0002), "UI", sop_class);
	put_str(w, TAG(0x0002, 0x0003), "UI", sop_instance);
	put_str(w, TAG(0x0002, 0x0010), "UI", DICOM_TS_EXPLICIT);
	put_str(w, TAG(0x0002, 0x0012), "UI", IMPL_CLASS);
	put_str(w, TAG(0x0002, 0x0013), "SH", IMPL_VERSION);
	if (!w->error)
		patch32(w, at, (uint32_t)(w->b->len - start));
}

/* Printable ASCII without backslash (a value delimiter), at most max. */
static int
check_text(const char *s, size_t max, const char *what, char **cause)
{
	size_t	i;

	if (s == NULL)
		return (0);
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '\\' || i >= max) {
			xcause(cause, "bad %s", what);
			return (-1);
		}
	}
	return (0);
}

static int
check_uid(const char *s, const char *what, char **cause)
{
	if (s == NULL || !dicom_uid_valid(s)) {
		xcause(cause, "bad %s", what);
		return (-1);
	}
	return (0);
}

static int
check_patient(const char *id, const char *name, const char *dob,
    const char *sex, char **cause)
{
	if (id == NULL || *id == '\0') {
		xcause(cause, "no patient ID");
		return (-1);
	}
	if (check_text(id, 64, "patient ID", cause) == -1 ||
	    check_text(name, 64, "patient name", cause) == -1 ||
	    check_text(dob, 8, "birth date", cause) == -1 ||
	    check_text(sex, 16, "patient sex", cause) == -1)
		return (-1);
	return (0);
}

/* The content item value type for a referenced SOP class (TID 2010). */
static const char *
kos_value_type(const char *cls)
{
	static const char *const composite[] = {
	    "1.2.840.10008.5.1.4.1.1.88.",	/* SR, KOS */
	    "1.2.840.10008.5.1.4.1.1.104.",	/* encapsulated documents */
	    "1.2.840.10008.5.1.4.1.1.11.",	/* presentation states */
	    "1.2.840.10008.5.1.4.1.1.66",	/* raw data, registration */
	    "1.2.840.10008.5.1.4.1.1.481.2",	/* RT dose, struct, plan */
	    "1.2.840.10008.5.1.4.1.1.481.3",
	    "1.2.840.10008.5.1.4.1.1.481.4",
	    "1.2.840.10008.5.1.4.1.1.481.5",
	    "1.2.840.10008.5.1.4.1.1.481.6",
	    "1.2.840.10008.5.1.4.1.1.481.7",
	    "1.2.840.10008.5.1.4.1.1.481.8",
	    "1.2.840.10008.5.1.4.1.1.481.9",
	};
	size_t	i;

	if (strncmp(cls, "1.2.840.10008.5.1.4.1.1.9.", 26) == 0)
		return ("WAVEFORM");
	for (i = 0; i < sizeof(composite) / sizeof(composite[0]); i++)
		if (strncmp(cls, composite[i], strlen(composite[i])) == 0)
			return ("COMPOSITE");
	return ("IMAGE");
}

static void
now_strings(char date[9], char tm[7])
{
	time_t		t = time(NULL);
	struct tm	tmv;

	gmtime_r(&t, &tmv);
	strftime(date, 9, "%Y%m%d", &tmv);
	strftime(tm, 7, "%H%M%S", &tmv);
}

static void
put_sop_item(struct wr *w, const struct dicom_ref *ref)
{
	size_t	it;

	it = item_open(w);
	put_str(w, TAG(0x0008, 0x1150), "UI", ref->sop_class_uid);
	put_str(w, TAG(0x0008, 0x1155), "UI", ref->sop_instance_uid);
	close_at(w, it);
}

/* The evidence: studies, then series, in order of first appearance. */
static void
put_evidence(struct wr *w, const struct dicom_kos_params *kp)
{
	const struct dicom_ref	*refs = kp->refs;
	size_t			 n = kp->nrefs, i, j, k, seq, it;
	size_t			 sseq, sit, rseq;
	uint8_t			*study_done, *series_done;

	study_done = xcalloc(n, 1);
	series_done = xcalloc(n, 1);
	seq = seq_open(w, TAG(0x0040, 0xa375));
	for (i = 0; i < n; i++) {
		if (study_done[i])
			continue;
		it = item_open(w);
		sseq = seq_open(w, TAG(0x0008, 0x1115));
		for (j = i; j < n; j++) {
			if (series_done[j] ||
			    strcmp(refs[j].study_uid, refs[i].study_uid) != 0)
				continue;
			sit = item_open(w);
			rseq = seq_open(w, TAG(0x0008, 0x1199));
			for (k = j; k < n; k++) {
				if (series_done[k] ||
				    strcmp(refs[k].study_uid,
				    refs[i].study_uid) != 0 ||
				    strcmp(refs[k].series_uid,
				    refs[j].series_uid) != 0)
					continue;
				series_done[k] = study_done[k] = 1;
				put_sop_item(w, &refs[k]);
			}
			close_at(w, rseq);
			put_str(w, TAG(0x0020, 0x000e), "UI",
			    refs[j].series_uid);
			if (kp->retrieve_location_uid != NULL)
				put_str(w, TAG(0x0040, 0xe011), "UI",
				    kp->retrieve_location_uid);
			close_at(w, sit);
		}
		close_at(w, sseq);
		put_str(w, TAG(0x0020, 0x000d), "UI", refs[i].study_uid);
		close_at(w, it);
	}
	close_at(w, seq);
	free(study_done);
	free(series_done);
}

int
dicom_kos_build(const struct dicom_kos_params *kp, struct dbuf *b,
    char **cause)
{
	struct wr	 w = { b, 0 };
	char		 date[9], tm[7];
	const char	*d, *t;
	size_t		 i, seq, it, rseq, start = b->len;

	if (check_patient(kp->patient_id, kp->patient_name,
	    kp->patient_birth_date, kp->patient_sex, cause) == -1 ||
	    check_text(kp->accession_number, 16, "accession number",
	    cause) == -1 ||
	    check_text(kp->date, 8, "date", cause) == -1 ||
	    check_text(kp->time, 14, "time", cause) == -1 ||
	    check_uid(kp->study_uid, "study UID", cause) == -1 ||
	    check_uid(kp->series_uid, "series UID", cause) == -1 ||
	    check_uid(kp->sop_instance_uid, "SOP instance UID", cause) == -1 ||
	    (kp->retrieve_location_uid != NULL &&
	    check_uid(kp->retrieve_location_uid, "retrieve location UID",
	    cause) == -1))
		return (-1);
	if (kp->nrefs == 0) {
		xcause(cause, "a KOS references at least one instance");
		return (-1);
	}
	for (i = 0; i < kp->nrefs; i++) {
		if (check_uid(kp->refs[i].study_uid, "referenced study UID",
		    cause) == -1 ||
		    check_uid(kp->refs[i].series_uid, "referenced series UID",
		    cause) == -1 ||
		    check_uid(kp->refs[i].sop_class_uid,
		    "referenced SOP class UID", cause) == -1 ||
		    check_uid(kp->refs[i].sop_instance_uid,
		    "referenced SOP instance UID", cause) == -1)
			return (-1);
	}
	now_strings(date, tm);
	d = kp->date != NULL ? kp->date : date;
	t = kp->time != NULL ? kp->time : tm;

	put_meta(&w, DICOM_KOS_CLASS, kp->sop_instance_uid);
	put_str(&w, TAG(0x0008, 0x0012), "DA", d);
	put_str(&w, TAG(0x0008, 0x0013), "TM", t);
	put_str(&w, TAG(0x0008, 0x0016), "UI", DICOM_KOS_CLASS);
	put_str(&w, TAG(0x0008, 0x0018), "UI", kp->sop_instance_uid);
	put_str(&w, TAG(0x0008, 0x0020), "DA", d);
	put_str(&w, TAG(0x0008, 0x0023), "DA", d);
	put_str(&w, TAG(0x0008, 0x0030), "TM", t);
	put_str(&w, TAG(0x0008, 0x0033), "TM", t);
	put_str(&w, TAG(0x0008, 0x0050), "SH", kp->accession_number);
	put_str(&w, TAG(0x0008, 0x0060), "CS", "KO");
	put_str(&w, TAG(0x0008, 0x0070), "LO", "RSNA ISN");
	put_str(&w, TAG(0x0008, 0x0090), "PN", NULL);
	close_at(&w, seq_open(&w, TAG(0x0008, 0x1111)));
	put_str(&w, TAG(0x0010, 0x0010), "PN", kp->patient_name);
	put_str(&w, TAG(0x0010, 0x0020), "LO", kp->patient_id);
	put_str(&w, TAG(0x0010, 0x0030), "DA", kp->patient_birth_date);
	put_str(&w, TAG(0x0010, 0x0040), "CS", kp->patient_sex);
	put_str(&w, TAG(0x0020, 0x000d), "UI", kp->study_uid);
	put_str(&w, TAG(0x0020, 0x000e), "UI", kp->series_uid);
	put_str(&w, TAG(0x0020, 0x0010), "SH", NULL);
	put_str(&w, TAG(0x0020, 0x0011), "IS", "1");
	put_str(&w, TAG(0x0020, 0x0013), "IS", "1");
	put_str(&w, TAG(0x0040, 0xa040), "CS", "CONTAINER");
	seq = seq_open(&w, TAG(0x0040, 0xa043));
	it = item_open(&w);
	put_str(&w, TAG(0x0008, 0x0100), "SH", "113030");
	put_str(&w, TAG(0x0008, 0x0102), "SH", "DCM");
	put_str(&w, TAG(0x0008, 0x0104), "LO", "Manifest");
	close_at(&w, it);
	close_at(&w, seq);
	put_str(&w, TAG(0x0040, 0xa050), "CS", "SEPARATE");
	put_evidence(&w, kp);
	seq = seq_open(&w, TAG(0x0040, 0xa504));
	it = item_open(&w);
	put_str(&w, TAG(0x0008, 0x0105), "CS", "DCMR");
	put_str(&w, TAG(0x0040, 0xdb00), "CS", "2010");
	close_at(&w, it);
	close_at(&w, seq);
	seq = seq_open(&w, TAG(0x0040, 0xa730));
	for (i = 0; i < kp->nrefs; i++) {
		it = item_open(&w);
		rseq = seq_open(&w, TAG(0x0008, 0x1199));
		put_sop_item(&w, &kp->refs[i]);
		close_at(&w, rseq);
		put_str(&w, TAG(0x0040, 0xa010), "CS", "CONTAINS");
		put_str(&w, TAG(0x0040, 0xa040), "CS",
		    kos_value_type(kp->refs[i].sop_class_uid));
		close_at(&w, it);
	}
	close_at(&w, seq);
	if (w.error) {
		b->len = start;
		xcause(cause, "KOS too large");
		return (-1);
	}
	return (0);
}

/* Synthetic instances. */
size_t
dicom_instance_pixel_len(size_t pixel_bytes)
{
	size_t	cols = 512;

	if (pixel_bytes < 2)
		pixel_bytes = 2;
	if (pixel_bytes < cols)
		cols = (pixel_bytes + 1) & ~(size_t)1;
	return ((pixel_bytes + cols - 1) / cols * cols);
}

size_t
dicom_instance_plen(const struct dicom_instance_params *ip)
{
	return (ip->ct ? DICOM_CT_PIXEL_BYTES :
	    dicom_instance_pixel_len(ip->pixel_bytes));
}

static uint64_t
splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return (x ^ (x >> 31));
}

void
dicom_instance_pixels(uint64_t seed, uint64_t off, void *buf, size_t len)
{
	uint8_t		*p = buf;
	uint64_t	 v = splitmix(seed ^ (off >> 3));
	size_t		 i;

	for (i = 0; i < len; i++, off++) {
		if ((off & 7) == 0)
			v = splitmix(seed ^ (off >> 3));
		p[i] = (uint8_t)(v >> ((off & 7) * 8));
	}
}

/* The CT Image module's attributes of group 0018 (ip->ct). */
static void
put_ct_0018(struct wr *w)
{
	put_str(w, TAG(0x0018, 0x0015), "CS", "CHEST");	/* unpaired */
	put_str(w, TAG(0x0018, 0x0050), "DS", "1");		/* thickness */
	put_str(w, TAG(0x0018, 0x0060), "DS", "120");		/* kVp */
	put_str(w, TAG(0x0018, 0x5100), "CS", "HFS");
}

/* Position and orientation of a CT slice, group 0020 after 0020,0020. */
static void
put_ct_0020(struct wr *w, const struct dicom_instance_params *ip)
{
	char	pos[48], z[16], forv[DICOM_UID_BUF];

	snprintf(z, sizeof(z), "%u", ip->instance_number);
	snprintf(pos, sizeof(pos), "-128\\-128\\%s", z);
	put_str(w, TAG(0x0020, 0x0032), "DS", pos);
	put_str(w, TAG(0x0020, 0x0037), "DS", "1\\0\\0\\0\\1\\0");
	dicom_uid_derive(ip->series_uid, "frame of reference", forv);
	put_str(w, TAG(0x0020, 0x0052), "UI", forv);
	put_str(w, TAG(0x0020, 0x1040), "LO", NULL);
	put_str(w, TAG(0x0020, 0x1041), "DS", z);
}

int
dicom_instance_header(const struct dicom_instance_params *ip, struct dbuf *b,
    char **cause)
{
	struct wr	 w = { b, 0 };
	const char	*cls = ip->ct ? DICOM_CT_CLASS : ip->sop_class_uid !=
			    NULL ? ip->sop_class_uid : DICOM_SC_CLASS;
	char		 num[16], date[9], tm[7];
	size_t		 plen = dicom_instance_plen(ip);
	size_t		 cols = 512, start = b->len;
	int		 px = ip->ct ? 2 : 1;	/* bytes per pixel */

	if (check_patient(ip->patient_id, ip->patient_name, NULL, NULL,
	    cause) == -1 ||
	    check_uid(cls, "SOP class UID", cause) == -1 ||
	    check_uid(ip->study_uid, "study UID", cause) == -1 ||
	    check_uid(ip->series_uid, "series UID", cause) == -1 ||
	    check_uid(ip->sop_instance_uid, "SOP instance UID", cause) == -1 ||
	    check_text(ip->modality, 16, "modality", cause) == -1 ||
	    check_text(ip->accession_number, 16, "accession number",
	    cause) == -1 ||
	    check_text(ip->date, 8, "date", cause) == -1 ||
	    check_text(ip->time, 14, "time", cause) == -1)
		return (-1);
	if (plen < cols)
		cols = plen;
	if (plen / cols > 0xffff || plen > 0xfffffffeU) {
		xcause(cause, "too many pixel bytes");
		return (-1);
	}
	now_strings(date, tm);
	snprintf(num, sizeof(num), "%u", ip->instance_number);
	put_meta(&w, cls, ip->sop_instance_uid);
	if (ip->ct)
		put_str(&w, TAG(0x0008, 0x0008), "CS",
		    "ORIGINAL\\PRIMARY\\AXIAL");
	put_str(&w, TAG(0x0008, 0x0016), "UI", cls);
	put_str(&w, TAG(0x0008, 0x0018), "UI", ip->sop_instance_uid);
	put_str(&w, TAG(0x0008, 0x0020), "DA", ip->date != NULL ? ip->date :
	    date);
	put_str(&w, TAG(0x0008, 0x0030), "TM", ip->time != NULL ? ip->time :
	    tm);
	put_str(&w, TAG(0x0008, 0x0050), "SH", ip->accession_number);
	put_str(&w, TAG(0x0008, 0x0060), "CS",
	    ip->modality != NULL ? ip->modality : ip->ct ? "CT" : "OT");
	if (!ip->ct)
		put_str(&w, TAG(0x0008, 0x0064), "CS", "WSD");
	else
		put_str(&w, TAG(0x0008, 0x0070), "LO", "ISN testnet");
	put_str(&w, TAG(0x0008, 0x0090), "PN", NULL);
	put_str(&w, TAG(0x0010, 0x0010), "PN", ip->patient_name);
	put_str(&w, TAG(0x0010, 0x0020), "LO", ip->patient_id);
	put_str(&w, TAG(0x0010, 0x0030), "DA", NULL);
	put_str(&w, TAG(0x0010, 0x0040), "CS", NULL);
	if (ip->ct)
		put_ct_0018(&w);
	put_str(&w, TAG(0x0020, 0x000d), "UI", ip->study_uid);
	put_str(&w, TAG(0x0020, 0x000e), "UI", ip->series_uid);
	put_str(&w, TAG(0x0020, 0x0010), "SH", ip->ct ? "1" : NULL);
	put_str(&w, TAG(0x0020, 0x0011), "IS", "1");
	if (ip->ct)
		put_str(&w, TAG(0x0020, 0x0012), "IS", "1");
	put_str(&w, TAG(0x0020, 0x0013), "IS", num);
	put_str(&w, TAG(0x0020, 0x0020), "CS", NULL);
	if (ip->ct)
		put_ct_0020(&w, ip);
	put_us(&w, TAG(0x0028, 0x0002), 1);
	put_str(&w, TAG(0x0028, 0x0004), "CS", "MONOCHROME2");
	put_us(&w, TAG(0x0028, 0x0010), (uint16_t)(plen / px / cols));
	put_us(&w, TAG(0x0028, 0x0011), (uint16_t)cols);
	if (ip->ct)
		put_str(&w, TAG(0x0028, 0x0030), "DS", "0.5\\0.5");
	put_us(&w, TAG(0x0028, 0x0100), (uint16_t)(8 * px));
	put_us(&w, TAG(0x0028, 0x0101), (uint16_t)(8 * px));
	put_us(&w, TAG(0x0028, 0x0102), (uint16_t)(8 * px - 1));
	put_us(&w, TAG(0x0028, 0x0103), ip->ct ? 1 : 0);
	if (ip->ct) {
		put_str(&w, TAG(0x0028, 0x1052), "DS", "-1024");
		put_str(&w, TAG(0x0028, 0x1053), "DS", "1");
	}
	put_hdr(&w, T_PIXEL, ip->ct ? "OW" : "OB", (uint32_t)plen);
	if (w.error) {
		b->len = start;
		xcause(cause, "instance header too large");
		return (-1);
	}
	return (0);
}

int
dicom_instance_build(const struct dicom_instance_params *ip, struct dbuf *b,
    char **cause)
{
	size_t	plen = dicom_instance_plen(ip);
	size_t	start = b->len;
	uint8_t	chunk[4096];
	size_t	off, n;

	if (dicom_instance_header(ip, b, cause) == -1)
		return (-1);
	for (off = 0; off < plen; off += n) {
		n = plen - off < sizeof(chunk) ? plen - off : sizeof(chunk);
		dicom_instance_pixels(ip->seed, off, chunk, n);
		if (dbuf_add(b, chunk, n) == -1) {
			b->len = start;
			xcause(cause, "instance too large");
			return (-1);
		}
	}
	return (0);
}

static int
write_all(int fd, const void *buf, size_t len, char **cause)
{
	if (fdio_write_all(fd, buf, len) == -1) {
		xcause(cause, "write: %s", strerror(errno));
		return (-1);
	}
	return (0);
}

int
dicom_instance_write_fd(const struct dicom_instance_params *ip, int fd,
    char **cause)
{
	struct dbuf	 b;
	size_t		 plen = dicom_instance_plen(ip);
	size_t		 off, n;
	uint8_t		*chunk;
	int		 rc = -1;

	dbuf_init(&b, 64 * 1024);
	if (dicom_instance_header(ip, &b, cause) == -1 ||
	    write_all(fd, b.data, b.len, cause) == -1)
		goto out;
	chunk = xmalloc(65536);
	for (off = 0; off < plen; off += n) {
		n = plen - off < 65536 ? plen - off : 65536;
		dicom_instance_pixels(ip->seed, off, chunk, n);
		if (write_all(fd, chunk, n, cause) == -1) {
			free(chunk);
			goto out;
		}
	}
	free(chunk);
	rc = 0;
out:
	dbuf_free(&b);
	return (rc);
}
