/* hl7.c: HL7 v2 ER7 messages: parse, read, build, serialise, acknowledge. */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "dbuf.h"
#include "hl7.h"
#include "log.h"
#include "xmalloc.h"

/* Internal buffers are bounded by the message limit, checked on input. */
#define HL7_NOLIMIT	(((size_t)-1) / 4)

/* One unescaped (or raw) string handed out by hl7_get, kept until free. */
struct hl7_cache {
	int		 rep;
	int		 comp;
	int		 sub;
	int		 raw;
	int		 stale;
	char		*val;
};

struct hl7_field {
	const char	*p;		/* ER7 text, not NUL-terminated */
	size_t		 len;
	char		*own;		/* set when p was allocated here */
	struct hl7_cache *cache;
	size_t		 ncache;
};

struct hl7_seg {
	char		 id[4];
	int		 hdr;		/* MSH/BHS/FHS: field 1 is the separator */
	struct hl7_field *fields;	/* fields[i] is SEG-i; [0] unused */
	int		 nfields;	/* highest index + 1 */
};

struct hl7_msg {
	char		 fs;		/* field separator */
	char		 cs;		/* component */
	char		 rs;		/* repetition */
	char		 ec;		/* escape */
	char		 ss;		/* subcomponent */
	char		 tc;		/* v2.7 truncation, or NUL */
	char		 fs_str[2];
	char		 enc[6];	/* MSH-2 as declared */
	char		*buf;		/* the parsed bytes */
	struct hl7_seg	*segs;
	size_t		 nsegs;
	size_t		 capsegs;
	struct hl7_limits limits;
	char		**keep;		/* strings handed out, freed at the end */
	size_t		 nkeep;
	char		*type_str;
};

/* HL7 table 0357, message error condition codes. */
static const struct {
	const char	*code;
	const char	*text;
} hl7_errcodes[] = {
	{ "0", "Message accepted" },
	{ "100", "Segment sequence error" },
	{ "101", "Required field missing" },
	{ "102", "Data type error" },
	{ "103", "Table value not found" },
	{ "104", "Value too long" },
	{ "200", "Unsupported message type" },
	{ "201", "Unsupported event code" },
	{ "202", "Unsupported processing id" },
	{ "203", "Unsupported version id" },
	{ "204", "Unknown key identifier" },
	{ "205", "Duplicate key identifier" },
	{ "206", "Application record locked" },
	{ "207", "Application internal error" },
};

static const char hl7_empty[] = "";

/* The defaults every caller gets unless it passes its own limits. */
void
hl7_limits_default(struct hl7_limits *l)
{
	l->max_size = HL7_MAX_SIZE;
	l->max_segments = HL7_MAX_SEGMENTS;
	l->max_fields = HL7_MAX_FIELDS;
	l->max_reps = HL7_MAX_REPS;
}

/* Record a string to free with the message and return it. */
static const char *
hl7_keep(struct hl7_msg *m, char *s)
{
	m->keep = xreallocarray(m->keep, m->nkeep + 1, sizeof(*m->keep));
	m->keep[m->nkeep++] = s;
	return (s);
}

/* An empty message with the given separators. */
static struct hl7_msg *
hl7_msg_alloc(const char *fs_enc, const struct hl7_limits *limits)
{
	struct hl7_msg	*m;

	m = xcalloc(1, sizeof(*m));
	m->fs = fs_enc[0];
	m->cs = fs_enc[1];
	m->rs = fs_enc[2];
	m->ec = fs_enc[3];
	m->ss = fs_enc[4];
	m->tc = fs_enc[5];
	m->fs_str[0] = m->fs;
	strlcpy(m->enc, fs_enc + 1, sizeof(m->enc));
	if (limits != NULL)
		m->limits = *limits;
	else
		hl7_limits_default(&m->limits);
	return (m);
}

/* Free every field, cache and segment. */
void
hl7_msg_free(struct hl7_msg *m)
{
	struct hl7_seg	*s;
	size_t		 i, k;
	int		 f;

	if (m == NULL)
		return;
	for (i = 0; i < m->nsegs; i++) {
		s = &m->segs[i];
		for (f = 0; f < s->nfields; f++) {
			free(s->fields[f].own);
			for (k = 0; k < s->fields[f].ncache; k++)
				free(s->fields[f].cache[k].val);
			free(s->fields[f].cache);
		}
		free(s->fields);
	}
	for (k = 0; k < m->nkeep; k++)
		free(m->keep[k]);
	free(m->keep);
	free(m->segs);
	free(m->buf);
	free(m);
}

/* Segments whose field 1 is the field separator itself. */
static int
hl7_is_header(const char *id)
{
	return (strcmp(id, "MSH") == 0 || strcmp(id, "BHS") == 0 ||
	    strcmp(id, "FHS") == 0);
}

/* A segment id is three ASCII letters or digits. */
static int
hl7_valid_id(const char *p, size_t len)
{
	size_t	i;

	if (len != 3)
		return (0);
	for (i = 0; i < 3; i++) {
		if (!isascii((unsigned char)p[i]) ||
		    !isalnum((unsigned char)p[i]))
			return (0);
	}
	return (1);
}

/* Add an empty segment; the caller has checked the id and the limit. */
static struct hl7_seg *
hl7_seg_append(struct hl7_msg *m, const char *id, int nfields)
{
	struct hl7_seg	*s;

	if (m->nsegs == m->capsegs) {
		m->capsegs = m->capsegs == 0 ? 16 : m->capsegs * 2;
		m->segs = xreallocarray(m->segs, m->capsegs, sizeof(*m->segs));
	}
	s = &m->segs[m->nsegs++];
	memset(s, 0, sizeof(*s));
	memcpy(s->id, id, 3);
	s->id[3] = '\0';
	s->hdr = hl7_is_header(s->id);
	s->nfields = nfields;
	s->fields = xcalloc(nfields > 0 ? nfields : 1, sizeof(*s->fields));
	return (s);
}

/* Check MSH-1 and MSH-2: distinct, printable, not letters or digits. */
static int
hl7_check_encoding(const char *enc, size_t len, char **cause)
{
	size_t	i, j;

	if (enc[0] < 0x21 || enc[0] > 0x7e || isalnum((unsigned char)enc[0])) {
		xcause(cause, "invalid encoding characters: separator 1 is "
		    "a letter, digit, space or control character");
		return (-1);
	}
	if (len != 5 && len != 6) {
		xcause(cause, "invalid encoding characters: MSH-2 has %zu "
		    "characters, 4 or 5 expected", len - 1);
		return (-1);
	}
	for (i = 0; i < len; i++) {
		if (enc[i] < 0x21 || enc[i] > 0x7e ||
		    isalnum((unsigned char)enc[i])) {
			xcause(cause, "invalid encoding characters: "
			    "separator %zu is a letter, digit, space or "
			    "control character", i + 1);
			return (-1);
		}
		for (j = 0; j < i; j++) {
			if (enc[i] == enc[j]) {
				xcause(cause, "invalid encoding characters:"
				    " '%c' used twice", enc[i]);
				return (-1);
			}
		}
	}
	return (0);
}

/* Whether a line holds nothing but spaces and tabs. */
static int
hl7_blank(const char *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (p[i] != ' ' && p[i] != '\t')
			return (0);
	}
	return (1);
}

/* Count occurrences of c in p[0..len). */
static size_t
hl7_count_char(const char *p, size_t len, char c)
{
	size_t	n = 0;

	while (len > 0) {
		if (*p++ == c)
			n++;
		len--;
	}
	return (n);
}

/* Split one segment line into fields. */
static int
hl7_parse_segment(struct hl7_msg *m, const char *line, size_t len, size_t nseg,
    char **cause)
{
	struct hl7_seg	*s;
	const char	*p, *end, *q;
	size_t		 nsep;
	int		 f;

	if ((len != 3 && (len < 3 || line[3] != m->fs)) ||
	    !hl7_valid_id(line, 3)) {
		xcause(cause, "segment %zu: segment id is not 3 letters or "
		    "digits followed by the field separator", nseg);
		return (-1);
	}
	if (m->nsegs >= m->limits.max_segments) {
		xcause(cause, "more than %zu segments",
		    m->limits.max_segments);
		return (-1);
	}
	nsep = len > 3 ? hl7_count_char(line + 3, len - 3, m->fs) : 0;
	if ((memcmp(line, "MSH", 3) == 0 || memcmp(line, "BHS", 3) == 0 ||
	    memcmp(line, "FHS", 3) == 0) && nsep > 0)
		nsep++;		/* MSH-1 is the separator itself */
	if (nsep > m->limits.max_fields) {
		xcause(cause, "segment %zu (%.3s): more than %zu fields",
		    nseg, line, m->limits.max_fields);
		return (-1);
	}
	s = hl7_seg_append(m, line, (int)nsep + 1);
	if (len == 3)
		return (0);
	end = line + len;
	p = line + 4;
	f = s->hdr ? 2 : 1;
	for (;;) {
		if ((q = memchr(p, m->fs, end - p)) == NULL)
			q = end;
		s->fields[f].p = p;
		s->fields[f].len = q - p;
		if ((f != 2 || !s->hdr) && hl7_count_char(p, q - p, m->rs) >=
		    m->limits.max_reps) {
			xcause(cause, "segment %zu (%s) field %d: more than "
			    "%zu repetitions", nseg, s->id, f,
			    m->limits.max_reps);
			return (-1);
		}
		f++;
		if (q == end)
			break;
		p = q + 1;
	}
	return (0);
}

/* Parse ER7 bytes into a message. */
struct hl7_msg *
hl7_parse(const void *data, size_t len, const struct hl7_limits *limits,
    char **cause)
{
	struct hl7_limits	 lim;
	struct hl7_msg		*m;
	const char		*in = data, *nul, *p, *end, *eol, *q;
	char			 fs_enc[7];
	size_t			 n, nseg = 0;

	if (limits != NULL)
		lim = *limits;
	else
		hl7_limits_default(&lim);
	if (len > lim.max_size) {
		xcause(cause, "message too large (%zu bytes, limit %zu)",
		    len, lim.max_size);
		return (NULL);
	}
	if (len > 0 && (nul = memchr(in, '\0', len)) != NULL) {
		xcause(cause, "NUL byte at offset %zu", (size_t)(nul - in));
		return (NULL);
	}

	/* The first non-blank line must be MSH and declares the separators. */
	p = in;
	end = in + len;
	for (;;) {
		if (p == end) {
			xcause(cause, "empty message");
			return (NULL);
		}
		for (eol = p; eol < end && *eol != '\r' && *eol != '\n'; eol++)
			;
		if (!hl7_blank(p, eol - p))
			break;
		p = eol < end ? eol + 1 : end;
	}
	if (eol - p < 3 || memcmp(p, "MSH", 3) != 0) {
		xcause(cause, "message does not start with MSH");
		return (NULL);
	}
	if (eol - p < 8) {
		xcause(cause, "MSH segment too short");
		return (NULL);
	}
	q = memchr(p + 4, p[3], eol - p - 4);
	n = (q != NULL ? q : eol) - (p + 3);	/* MSH-1 and MSH-2 */
	if (hl7_check_encoding(p + 3, n, cause) == -1)
		return (NULL);
	memset(fs_enc, 0, sizeof(fs_enc));
	memcpy(fs_enc, p + 3, n);

	m = hl7_msg_alloc(fs_enc, &lim);
	m->buf = xmalloc(len + 1);
	memcpy(m->buf, in, len);
	m->buf[len] = '\0';
	p = m->buf + (p - in);
	end = m->buf + len;
	while (p < end) {
		for (eol = p; eol < end && *eol != '\r' && *eol != '\n'; eol++)
			;
		if (!hl7_blank(p, eol - p)) {
			nseg++;
			if (hl7_parse_segment(m, p, eol - p, nseg,
			    cause) == -1) {
				hl7_msg_free(m);
				return (NULL);
			}
		}
		p = eol + 1;
	}
	return (m);
}

/*
 * The k-th piece (1-based) of p split at sep; k == 0 is all of it.
 * -1 when there are fewer pieces.
 */
static int
hl7_piece(const char *p, size_t len, char sep, int k, const char **op,
    size_t *olen)
{
	const char	*end = p + len, *q;

	if (k == 0) {
		*op = p;
		*olen = len;
		return (0);
	}
	while (--k > 0) {
		if ((q = memchr(p, sep, end - p)) == NULL)
			return (-1);
		p = q + 1;
	}
	if ((q = memchr(p, sep, end - p)) == NULL)
		q = end;
	*op = p;
	*olen = q - p;
	return (0);
}

/* Separator of a level: 0 repetition, 1 component, 2 subcomponent. */
static char
hl7_level_sep(const struct hl7_msg *m, int level)
{
	return (level == 0 ? m->rs : level == 1 ? m->cs : m->ss);
}

/* The text at rep/comp/sub inside a field; -1 when absent. */
static int
hl7_locate(const struct hl7_msg *m, const struct hl7_field *fl, int rep,
    int comp, int sub, const char **op, size_t *olen)
{
	const char	*p = fl->p;
	size_t		 len = fl->len;
	int		 idx[3] = { rep, comp, sub }, level;

	if (p == NULL)
		return (-1);
	for (level = 0; level < 3; level++) {
		if (idx[level] == 0)
			break;
		if (hl7_piece(p, len, hl7_level_sep(m, level), idx[level], &p,
		    &len) == -1)
			return (-1);
	}
	*op = p;
	*olen = len;
	return (0);
}

/* Whether p holds only separators of this level and below. */
static int
hl7_is_empty(const struct hl7_msg *m, const char *p, size_t len, int level)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if ((level <= 0 && p[i] == m->rs) ||
		    (level <= 1 && p[i] == m->cs) ||
		    (level <= 2 && p[i] == m->ss))
			continue;
		return (0);
	}
	return (1);
}

/* Append p with trailing empty pieces removed at this level and below. */
static void
hl7_trim(const struct hl7_msg *m, const char *p, size_t len, int level,
    struct dbuf *out)
{
	const char	*end = p + len, *q;
	char		 sep = hl7_level_sep(m, level);
	size_t		 keep = out->len, mark;
	int		 first = 1;

	for (;;) {
		if ((q = memchr(p, sep, end - p)) == NULL)
			q = end;
		if (!first)
			dbuf_addc(out, sep);
		first = 0;
		mark = out->len;
		if (level == 2)
			dbuf_add(out, p, q - p);
		else
			hl7_trim(m, p, q - p, level + 1, out);
		if (out->len > mark)
			keep = out->len;
		if (q == end)
			break;
		p = q + 1;
	}
	if (out->data != NULL) {
		out->len = keep;
		out->data[keep] = '\0';
	}
}

/* Whether c is a hex digit; its value in *v. */
static int
hl7_hex(char c, int *v)
{
	if (c >= '0' && c <= '9')
		*v = c - '0';
	else if (c >= 'a' && c <= 'f')
		*v = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		*v = c - 'A' + 10;
	else
		return (0);
	return (1);
}

/* Decode one escape body s[0..n); 1 if handled, 0 to keep it verbatim. */
static int
hl7_unescape_one(const struct hl7_msg *m, const char *s, size_t n, char **op)
{
	char	*o = *op;
	size_t	 i;
	int	 hi, lo;

	if (n == 1) {
		switch (s[0]) {
		case 'F': *o++ = m->fs; break;
		case 'S': *o++ = m->cs; break;
		case 'T': *o++ = m->ss; break;
		case 'R': *o++ = m->rs; break;
		case 'E': *o++ = m->ec; break;
		case 'P':
			if (m->tc == '\0')
				return (0);
			*o++ = m->tc;
			break;
		case 'H':
		case 'N':
			break;
		default:
			return (0);
		}
		*op = o;
		return (1);
	}
	if (s[0] == 'X') {
		if (n < 3 || (n - 1) % 2 != 0)
			return (0);
		for (i = 1; i < n; i += 2) {
			if (!hl7_hex(s[i], &hi) || !hl7_hex(s[i + 1], &lo) ||
			    (hi == 0 && lo == 0))
				return (0);
		}
		for (i = 1; i < n; i += 2) {
			hl7_hex(s[i], &hi);
			hl7_hex(s[i + 1], &lo);
			*o++ = (char)(hi << 4 | lo);
		}
		*op = o;
		return (1);
	}
	if (n >= 3 && s[0] == '.') {
		if ((n == 3 && memcmp(s, ".br", 3) == 0) ||
		    memcmp(s, ".sp", 3) == 0) {
			for (i = 3; i < n; i++) {
				if (!isdigit((unsigned char)s[i]) &&
				    !(i == 3 && (s[i] == '+' || s[i] == '-')))
					return (0);
			}
			*o++ = '\n';
			*op = o;
			return (1);
		}
		if ((n == 3 && (memcmp(s, ".fi", 3) == 0 ||
		    memcmp(s, ".nf", 3) == 0 || memcmp(s, ".ce", 3) == 0)) ||
		    memcmp(s, ".in", 3) == 0 || memcmp(s, ".ti", 3) == 0 ||
		    memcmp(s, ".sk", 3) == 0) {
			for (i = 3; i < n; i++) {
				if (!isdigit((unsigned char)s[i]) &&
				    !(i == 3 && (s[i] == '+' || s[i] == '-')))
					return (0);
			}
			return (1);
		}
	}
	return (0);
}

/* A NUL-terminated copy of p with escape sequences resolved. */
static char *
hl7_unescape(const struct hl7_msg *m, const char *p, size_t len)
{
	const char	*end = p + len, *q;
	char		*out, *o;

	out = o = xmalloc(len + 1);	/* every escape shrinks */
	while (p < end) {
		if (*p != m->ec) {
			*o++ = *p++;
			continue;
		}
		q = memchr(p + 1, m->ec, end - p - 1);
		if (q == NULL) {
			*o++ = *p++;
			continue;
		}
		if (q == p + 1 || !hl7_unescape_one(m, p + 1, q - p - 1, &o)) {
			memcpy(o, p, q - p + 1);
			o += q - p + 1;
		}
		p = q + 1;
	}
	*o = '\0';
	return (out);
}

/* Append s escaped for this message's separators. */
static void
hl7_escape(const struct hl7_msg *m, const char *s, struct dbuf *out)
{
	char	c, e = m->ec;

	for (; *s != '\0'; s++) {
		c = *s;
		if (c == m->fs)
			dbuf_printf(out, "%cF%c", e, e);
		else if (c == m->cs)
			dbuf_printf(out, "%cS%c", e, e);
		else if (c == m->ss)
			dbuf_printf(out, "%cT%c", e, e);
		else if (c == m->rs)
			dbuf_printf(out, "%cR%c", e, e);
		else if (c == m->ec)
			dbuf_printf(out, "%cE%c", e, e);
		else if (m->tc != '\0' && c == m->tc)
			dbuf_printf(out, "%cP%c", e, e);
		else if (c == '\n')
			dbuf_printf(out, "%c.br%c", e, e);
		else if (c == '\r')
			dbuf_printf(out, "%cX0D%c", e, e);
		else
			dbuf_addc(out, c);
	}
}

/* The idx-th segment with this id (occ from 1), or NULL. */
static struct hl7_seg *
hl7_find_seg(const struct hl7_msg *m, const char *seg, int occ)
{
	size_t	i;

	if (seg == NULL || occ < 1)
		return (NULL);
	for (i = 0; i < m->nsegs; i++) {
		if (strcmp(m->segs[i].id, seg) == 0 && --occ == 0)
			return (&m->segs[i]);
	}
	return (NULL);
}

/* Shared body of hl7_get and hl7_get_raw. */
static const char *
hl7_lookup(struct hl7_msg *m, const char *seg, int occ, int field, int rep,
    int comp, int sub, int raw)
{
	struct hl7_seg		*s;
	struct hl7_field	*fl;
	struct hl7_cache	*c;
	const char		*p;
	size_t			 len, k;

	if (m == NULL || field < 1 || rep < 0 || comp < 0 || sub < 0)
		return (hl7_empty);
	if ((s = hl7_find_seg(m, seg, occ)) == NULL)
		return (hl7_empty);
	if (s->hdr && field == 1)
		return (m->fs_str);
	if (field >= s->nfields)
		return (hl7_empty);
	fl = &s->fields[field];
	if (s->hdr && field == 2) {
		if (rep > 1 || comp > 1 || sub > 1)
			return (hl7_empty);
		rep = comp = sub = 0;
		raw = 1;
	} else if (!raw) {
		rep = rep == 0 ? 1 : rep;
		comp = comp == 0 ? 1 : comp;
		sub = sub == 0 ? 1 : sub;
	} else if (rep == 0)
		comp = sub = 0;
	else if (comp == 0)
		sub = 0;

	for (k = 0; k < fl->ncache; k++) {
		c = &fl->cache[k];
		if (!c->stale && c->rep == rep && c->comp == comp &&
		    c->sub == sub && c->raw == raw)
			return (c->val);
	}
	if (hl7_locate(m, fl, rep, comp, sub, &p, &len) == -1 || len == 0)
		return (hl7_empty);
	fl->cache = xreallocarray(fl->cache, fl->ncache + 1,
	    sizeof(*fl->cache));
	c = &fl->cache[fl->ncache++];
	c->rep = rep;
	c->comp = comp;
	c->sub = sub;
	c->raw = raw;
	c->stale = 0;
	c->val = raw ? xstrndup(p, len) : hl7_unescape(m, p, len);
	return (c->val);
}

/* The unescaped value at a position. */
const char *
hl7_get(struct hl7_msg *m, const char *seg, int occ, int field, int rep,
    int comp, int sub)
{
	return (hl7_lookup(m, seg, occ, field, rep, comp, sub, 0));
}

/* The ER7 text at a position. */
const char *
hl7_get_raw(struct hl7_msg *m, const char *seg, int occ, int field, int rep,
    int comp, int sub)
{
	return (hl7_lookup(m, seg, occ, field, rep, comp, sub, 1));
}

/* Read a decimal number for a path; -1 if none or out of range. */
static int
hl7_path_num(const char **sp)
{
	const char	*s = *sp;
	int		 v = 0;

	if (!isdigit((unsigned char)*s))
		return (-1);
	while (isdigit((unsigned char)*s)) {
		v = v * 10 + (*s - '0');
		if (v > 1000000)
			return (-1);
		s++;
	}
	*sp = s;
	return (v);
}

/* Parse SEG[(occ)]-field[(rep)][.comp[.sub]]. */
int
hl7_path_parse(const char *path, struct hl7_pos *pos, char **cause)
{
	const char	*s = path;

	memset(pos, 0, sizeof(*pos));
	if (strlen(path) < 3 || !hl7_valid_id(path, 3))
		goto bad;
	memcpy(pos->seg, path, 3);
	s += 3;
	pos->occ = 1;
	if (*s == '(') {
		s++;
		if ((pos->occ = hl7_path_num(&s)) < 1 || *s++ != ')')
			goto bad;
	}
	if (*s++ != '-' || (pos->field = hl7_path_num(&s)) < 1)
		goto bad;
	if (*s == '(') {
		s++;
		if ((pos->rep = hl7_path_num(&s)) < 1 || *s++ != ')')
			goto bad;
	}
	if (*s == '.') {
		s++;
		if ((pos->comp = hl7_path_num(&s)) < 1)
			goto bad;
		if (*s == '.') {
			s++;
			if ((pos->sub = hl7_path_num(&s)) < 1)
				goto bad;
		}
	}
	if (*s != '\0')
		goto bad;
	return (0);
bad:
	xcause(cause, "invalid HL7 path \"%s\"", path);
	return (-1);
}

/* hl7_get by path. */
const char *
hl7_get_path(struct hl7_msg *m, const char *path)
{
	struct hl7_pos	pos;

	if (hl7_path_parse(path, &pos, NULL) == -1)
		return (hl7_empty);
	return (hl7_get(m, pos.seg, pos.occ, pos.field, pos.rep, pos.comp,
	    pos.sub));
}

/* Number of segments. */
size_t
hl7_nsegments(const struct hl7_msg *m)
{
	return (m->nsegs);
}

/* Id of a segment by index. */
const char *
hl7_segment_id(const struct hl7_msg *m, size_t idx)
{
	return (idx < m->nsegs ? m->segs[idx].id : NULL);
}

/* Occurrence number of a segment by index. */
int
hl7_segment_occ(const struct hl7_msg *m, size_t idx)
{
	size_t	i;
	int	occ = 0;

	if (idx >= m->nsegs)
		return (0);
	for (i = 0; i <= idx; i++) {
		if (strcmp(m->segs[i].id, m->segs[idx].id) == 0)
			occ++;
	}
	return (occ);
}

/* Highest field number of a segment by index. */
int
hl7_segment_nfields(const struct hl7_msg *m, size_t idx)
{
	if (idx >= m->nsegs)
		return (0);
	return (m->segs[idx].nfields > 0 ? m->segs[idx].nfields - 1 : 0);
}

/* Count segments with an id. */
size_t
hl7_count_segments(const struct hl7_msg *m, const char *seg)
{
	size_t	i, n = 0;

	for (i = 0; i < m->nsegs; i++) {
		if (seg == NULL || strcmp(m->segs[i].id, seg) == 0)
			n++;
	}
	return (n);
}

/* Count repetitions up to the last non-empty one. */
size_t
hl7_count_reps(const struct hl7_msg *m, const char *seg, int occ, int field)
{
	struct hl7_seg		*s;
	const struct hl7_field	*fl;
	const char		*p, *end, *q;
	size_t			 n = 0, last = 0;

	if ((s = hl7_find_seg(m, seg, occ)) == NULL || field < 1)
		return (0);
	if (s->hdr && field == 1)
		return (1);
	if (field >= s->nfields || s->fields[field].p == NULL)
		return (0);
	fl = &s->fields[field];
	if (s->hdr && field == 2)
		return (fl->len > 0);
	p = fl->p;
	end = p + fl->len;
	for (;;) {
		if ((q = memchr(p, m->rs, end - p)) == NULL)
			q = end;
		n++;
		if (!hl7_is_empty(m, p, q - p, 1))
			last = n;
		if (q == end)
			break;
		p = q + 1;
	}
	return (last);
}

/* MSH-9.1^MSH-9.2. */
const char *
hl7_msg_type(struct hl7_msg *m)
{
	const char	*t, *e;
	char		*s;

	t = hl7_get(m, "MSH", 1, 9, 1, 1, 1);
	e = hl7_get(m, "MSH", 1, 9, 1, 2, 1);
	if (*e == '\0')
		return (t);
	xasprintf(&s, "%s^%s", t, e);
	if (m->type_str != NULL && strcmp(m->type_str, s) == 0) {
		free(s);
		return (m->type_str);
	}
	m->type_str = s;
	return (hl7_keep(m, s));
}

/* MSH-10. */
const char *
hl7_control_id(struct hl7_msg *m)
{
	return (hl7_get(m, "MSH", 1, 10, 1, 1, 1));
}

/* MSH-12.1. */
const char *
hl7_version(struct hl7_msg *m)
{
	return (hl7_get(m, "MSH", 1, 12, 1, 1, 1));
}

/* The header fields every receiver needs to route and acknowledge. */
int
hl7_check_msh(struct hl7_msg *m, char **cause)
{
	if (m->nsegs == 0 || strcmp(m->segs[0].id, "MSH") != 0) {
		xcause(cause, "first segment is not MSH");
		return (-1);
	}
	if (*hl7_get(m, "MSH", 1, 9, 1, 1, 1) == '\0') {
		xcause(cause, "MSH-9 (message type) is empty");
		return (-1);
	}
	if (*hl7_get(m, "MSH", 1, 10, 1, 1, 1) == '\0') {
		xcause(cause, "MSH-10 (message control id) is empty");
		return (-1);
	}
	if (*hl7_get(m, "MSH", 1, 12, 1, 1, 1) == '\0') {
		xcause(cause, "MSH-12 (version id) is empty");
		return (-1);
	}
	return (0);
}

/* Append a segment after checking its id and the segment limit. */
int
hl7_add_segment(struct hl7_msg *m, const char *seg, char **cause)
{
	struct hl7_seg	*s;

	if (seg == NULL || strlen(seg) != 3 || !hl7_valid_id(seg, 3)) {
		xcause(cause, "invalid segment id");
		return (-1);
	}
	if (m->nsegs >= m->limits.max_segments) {
		xcause(cause, "more than %zu segments",
		    m->limits.max_segments);
		return (-1);
	}
	s = hl7_seg_append(m, seg, hl7_is_header(seg) ? 3 : 1);
	if (s->hdr) {
		s->fields[2].own = xstrdup(m->enc);
		s->fields[2].p = s->fields[2].own;
		s->fields[2].len = strlen(m->enc);
	}
	return ((int)hl7_count_segments(m, seg));
}

/* Append p with its k-th piece at sep replaced by v (padding as needed). */
static void
hl7_splice(const char *p, size_t len, char sep, int k, const char *v,
    size_t vlen, struct dbuf *out)
{
	const char	*end = p != NULL ? p + len : NULL, *q;
	int		 i;

	if (k == 0) {
		dbuf_add(out, v, vlen);
		return;
	}
	for (i = 1;; i++) {
		if (i > 1)
			dbuf_addc(out, sep);
		if (p == NULL)
			q = NULL;
		else if ((q = memchr(p, sep, end - p)) == NULL)
			q = end;
		if (i == k)
			dbuf_add(out, v, vlen);
		else if (p != NULL)
			dbuf_add(out, p, q - p);
		if (i >= k && (p == NULL || q == end))
			break;
		p = (p == NULL || q == end) ? NULL : q + 1;
	}
}

/* Replace the text at a position with raw ER7 text; checks done by caller. */
static int
hl7_store(struct hl7_msg *m, const char *seg, int occ, int field, int rep,
    int comp, int sub, const char *v, size_t vlen)
{
	struct hl7_seg		*s;
	struct hl7_field	*fl;
	struct dbuf		 a, b;
	const char		*fp = NULL, *rp = NULL, *cp = NULL;
	size_t			 flen = 0, rlen = 0, clen = 0, k;
	int			 n;

	if ((s = hl7_find_seg(m, seg, occ)) == NULL) {
		if (occ < 1 || (size_t)occ != hl7_count_segments(m, seg) + 1 ||
		    hl7_add_segment(m, seg, NULL) == -1)
			return (-1);
		s = hl7_find_seg(m, seg, occ);
	}
	if (s->hdr && field <= 2)
		return (-1);
	if (field >= s->nfields) {
		s->fields = xreallocarray(s->fields, field + 1,
		    sizeof(*s->fields));
		for (n = s->nfields; n <= field; n++)
			memset(&s->fields[n], 0, sizeof(s->fields[n]));
		s->nfields = field + 1;
	}
	fl = &s->fields[field];

	/* Rebuild from the inside out: subcomponent, component, repetition. */
	dbuf_init(&a, HL7_NOLIMIT);
	dbuf_init(&b, HL7_NOLIMIT);
	if (fl->p != NULL) {
		fp = fl->p;
		flen = fl->len;
	}
	if (rep != 0 && fp != NULL &&
	    hl7_piece(fp, flen, m->rs, rep, &rp, &rlen) == -1)
		rp = NULL;
	if (comp != 0 && rp != NULL &&
	    hl7_piece(rp, rlen, m->cs, comp, &cp, &clen) == -1)
		cp = NULL;
	if (rep != 0 && comp != 0) {
		hl7_splice(cp, clen, m->ss, sub, v, vlen, &a);
		hl7_splice(rp, rlen, m->cs, comp, dbuf_str(&a), a.len, &b);
		dbuf_reset(&a);
		hl7_splice(fp, flen, m->rs, rep, dbuf_str(&b), b.len, &a);
	} else if (rep != 0) {
		hl7_splice(fp, flen, m->rs, rep, v, vlen, &a);
	} else
		dbuf_add(&a, v, vlen);
	dbuf_reset(&b);
	if (a.len > 0)
		hl7_trim(m, dbuf_str(&a), a.len, 0, &b);
	dbuf_free(&a);

	free(fl->own);
	fl->own = dbuf_take(&b, &fl->len);
	fl->p = fl->own;
	for (k = 0; k < fl->ncache; k++)
		fl->cache[k].stale = 1;
	return (0);
}

/* Check a position for the builder against the limits. */
static int
hl7_pos_ok(const struct hl7_msg *m, int occ, int field, int rep, int comp,
    int sub, int zero_ok)
{
	int	lo = zero_ok ? 0 : 1;

	if (occ < 1 || field < 1 || (size_t)field > m->limits.max_fields)
		return (0);
	if (rep < lo || (size_t)rep > m->limits.max_reps)
		return (0);
	if (comp < lo || comp > HL7_MAX_COMPONENT)
		return (0);
	if (sub < lo || sub > HL7_MAX_COMPONENT)
		return (0);
	return (1);
}

/* Escape a value and store it. */
int
hl7_set(struct hl7_msg *m, const char *seg, int occ, int field, int rep,
    int comp, int sub, const char *value)
{
	struct dbuf	e;
	int		r;

	if (m == NULL || seg == NULL || value == NULL ||
	    !hl7_pos_ok(m, occ, field, rep, comp, sub, 0))
		return (-1);
	dbuf_init(&e, HL7_NOLIMIT);
	hl7_escape(m, value, &e);
	r = hl7_store(m, seg, occ, field, rep, comp, sub, dbuf_str(&e), e.len);
	dbuf_free(&e);
	return (r);
}

/* hl7_set by path (0s in the path mean 1). */
int
hl7_set_path(struct hl7_msg *m, const char *path, const char *value)
{
	struct hl7_pos	p;

	if (hl7_path_parse(path, &p, NULL) == -1)
		return (-1);
	return (hl7_set(m, p.seg, p.occ, p.field, p.rep ? p.rep : 1,
	    p.comp ? p.comp : 1, p.sub ? p.sub : 1, value));
}

/* Store ER7 text that is valid for its level. */
int
hl7_set_raw(struct hl7_msg *m, const char *seg, int occ, int field, int rep,
    int comp, int sub, const char *raw)
{
	const char	*c;
	int		 level;

	if (m == NULL || seg == NULL || raw == NULL ||
	    !hl7_pos_ok(m, occ, field, rep, comp, sub, 1))
		return (-1);
	if (rep == 0)
		comp = sub = 0;
	else if (comp == 0)
		sub = 0;
	level = rep == 0 ? 0 : comp == 0 ? 1 : sub == 0 ? 2 : 3;
	for (c = raw; *c != '\0'; c++) {
		if (*c == m->fs || *c == '\r' || *c == '\n' ||
		    (level >= 1 && *c == m->rs) ||
		    (level >= 2 && *c == m->cs) ||
		    (level >= 3 && *c == m->ss))
			return (-1);
	}
	return (hl7_store(m, seg, occ, field, rep, comp, sub, raw,
	    strlen(raw)));
}

/* Append the ER7 form of a message. */
int
hl7_serialise(struct hl7_msg *m, struct dbuf *out)
{
	struct hl7_seg		*s;
	struct hl7_field	*fl;
	struct dbuf		 d;
	size_t			 i, keep, mark;
	int			 f;

	dbuf_init(&d, HL7_NOLIMIT);
	for (i = 0; i < m->nsegs; i++) {
		s = &m->segs[i];
		dbuf_add(&d, s->id, 3);
		keep = d.len;
		for (f = s->hdr ? 2 : 1; f < s->nfields; f++) {
			fl = &s->fields[f];
			dbuf_addc(&d, m->fs);
			mark = d.len;
			if (fl->p == NULL)
				continue;
			if (s->hdr && f == 2)
				dbuf_add(&d, fl->p, fl->len);
			else
				hl7_trim(m, fl->p, fl->len, 0, &d);
			if (d.len > mark)
				keep = d.len;
		}
		d.len = keep;
		dbuf_addc(&d, '\r');
	}
	if (dbuf_add(out, dbuf_str(&d), d.len) == -1) {
		dbuf_free(&d);
		return (-1);
	}
	dbuf_free(&d);
	return (0);
}

/* Append a value for a dump line with control bytes made visible. */
static void
hl7_dump_value(const char *v, struct dbuf *out)
{
	for (; *v != '\0'; v++) {
		if (*v == '\n')
			dbuf_addstr(out, "\\n");
		else if (*v == '\r')
			dbuf_addstr(out, "\\r");
		else if (*v == '\\')
			dbuf_addstr(out, "\\\\");
		else if ((unsigned char)*v < 0x20 || *v == 0x7f)
			dbuf_printf(out, "\\x%02x", (unsigned char)*v);
		else
			dbuf_addc(out, *v);
	}
}

/* Dump every non-empty subcomponent, one line each. */
int
hl7_dump(struct hl7_msg *m, struct dbuf *out)
{
	struct hl7_seg		*s;
	struct hl7_field	*fl;
	struct dbuf		 d;
	const char		*rp, *cp, *sp, *v;
	size_t			 i, rl, cl, sl;
	int			 f, r, c, u, occ, rv;

	dbuf_init(&d, HL7_NOLIMIT);
	for (i = 0; i < m->nsegs; i++) {
		s = &m->segs[i];
		occ = hl7_segment_occ(m, i);
		dbuf_printf(&d, "%s(%d)\n", s->id, occ);
		for (f = 1; f < s->nfields || (s->hdr && f == 1); f++) {
			if (s->hdr && f <= 2) {
				v = hl7_get_raw(m, s->id, occ, f, 0, 0, 0);
				if (*v == '\0')
					continue;
				dbuf_printf(&d, "%s(%d)-%d=", s->id, occ, f);
				hl7_dump_value(v, &d);
				dbuf_addc(&d, '\n');
				continue;
			}
			fl = &s->fields[f];
			for (r = 1; fl->p != NULL && hl7_piece(fl->p, fl->len,
			    m->rs, r, &rp, &rl) == 0; r++) {
				for (c = 1; hl7_piece(rp, rl, m->cs, c, &cp,
				    &cl) == 0; c++) {
					for (u = 1; hl7_piece(cp, cl, m->ss, u,
					    &sp, &sl) == 0; u++) {
						if (sl == 0)
							continue;
						dbuf_printf(&d,
						    "%s(%d)-%d(%d).%d.%d=",
						    s->id, occ, f, r, c, u);
						hl7_dump_value(hl7_get(m, s->id,
						    occ, f, r, c, u), &d);
						dbuf_addc(&d, '\n');
					}
				}
			}
		}
	}
	rv = dbuf_add(out, dbuf_str(&d), d.len);
	dbuf_free(&d);
	return (rv);
}

/* The current time in HL7 TS form, UTC. */
static void
hl7_now(char *buf, size_t len)
{
	struct tm	tm;
	time_t		t;

	t = time(NULL);
	gmtime_r(&t, &tm);
	if (strftime(buf, len, "%Y%m%d%H%M%S", &tm) == 0)
		strlcpy(buf, "19700101000000", len);
}

/* A fresh control id: 20 random decimal digits. */
static void
hl7_new_control_id(char *buf, size_t len)
{
	unsigned char	r[64];
	size_t		i, n = 0;

	while (n + 1 < len && n < 20) {
		if (RAND_bytes(r, sizeof(r)) != 1)
			fatalx("hl7: RAND_bytes failed");
		for (i = 0; i < sizeof(r) && n + 1 < len && n < 20; i++) {
			if (r[i] < 250)
				buf[n++] = '0' + r[i] % 10;
		}
	}
	buf[n] = '\0';
}

/* Build a message holding MSH only. */
struct hl7_msg *
hl7_msg_new(const struct hl7_msh *h)
{
	struct hl7_msh	 none;
	struct hl7_msg	*m;
	char		 ts[32], id[32];

	if (h == NULL) {
		memset(&none, 0, sizeof(none));
		h = &none;
	}
	m = hl7_msg_alloc("|^~\\&", NULL);
	hl7_add_segment(m, "MSH", NULL);
	hl7_now(ts, sizeof(ts));
	hl7_new_control_id(id, sizeof(id));
	if ((h->sending_app != NULL &&
	    hl7_set_raw(m, "MSH", 1, 3, 0, 0, 0, h->sending_app) == -1) ||
	    (h->sending_fac != NULL &&
	    hl7_set_raw(m, "MSH", 1, 4, 0, 0, 0, h->sending_fac) == -1) ||
	    (h->receiving_app != NULL &&
	    hl7_set_raw(m, "MSH", 1, 5, 0, 0, 0, h->receiving_app) == -1) ||
	    (h->receiving_fac != NULL &&
	    hl7_set_raw(m, "MSH", 1, 6, 0, 0, 0, h->receiving_fac) == -1) ||
	    hl7_set_raw(m, "MSH", 1, 7, 0, 0, 0,
	    h->timestamp != NULL ? h->timestamp : ts) == -1 ||
	    (h->type != NULL &&
	    hl7_set_raw(m, "MSH", 1, 9, 0, 0, 0, h->type) == -1) ||
	    hl7_set_raw(m, "MSH", 1, 10, 0, 0, 0,
	    h->control_id != NULL ? h->control_id : id) == -1 ||
	    hl7_set_raw(m, "MSH", 1, 11, 0, 0, 0,
	    h->processing_id != NULL ? h->processing_id : "P") == -1 ||
	    hl7_set_raw(m, "MSH", 1, 12, 0, 0, 0,
	    h->version != NULL ? h->version : "2.3.1") == -1) {
		hl7_msg_free(m);
		return (NULL);
	}
	return (m);
}

/* Check an acknowledgement code and an error code; NULL text if unknown. */
static int
hl7_ack_args(const char *code, const char **err_code, const char **err_text,
    char **cause)
{
	static const char	*codes[] = { "AA", "AE", "AR", "CA", "CE",
				    "CR" };
	size_t			 i;
	int			 found = 0;

	for (i = 0; code != NULL && i < sizeof(codes) / sizeof(codes[0]); i++)
		found |= strcmp(code, codes[i]) == 0;
	if (!found) {
		xcause(cause, "invalid acknowledgement code");
		return (-1);
	}
	if (*err_code == NULL)
		*err_code = "207";
	if (**err_code == '\0' || strlen(*err_code) > 5 ||
	    strspn(*err_code, "0123456789") != strlen(*err_code)) {
		xcause(cause, "invalid HL7 error code");
		return (-1);
	}
	*err_text = "";
	for (i = 0; i < sizeof(hl7_errcodes) / sizeof(hl7_errcodes[0]); i++) {
		if (strcmp(hl7_errcodes[i].code, *err_code) == 0)
			*err_text = hl7_errcodes[i].text;
	}
	return (0);
}

/* Whether the ACK's version uses the v2.5 ERR layout. */
static int
hl7_err_v25(struct hl7_msg *ack)
{
	const char	*v = hl7_version(ack);
	long		 minor;
	char		*end;

	if (strncmp(v, "2.", 2) != 0)
		return (0);
	minor = strtol(v + 2, &end, 10);
	return (end != v + 2 && minor >= 5);
}

/* Add MSA and, for a negative code, ERR. */
static void
hl7_ack_body(struct hl7_msg *ack, const char *code, const char *err_code,
    const char *err_text, const char *text, const char *req_id)
{
	hl7_set(ack, "MSA", 1, 1, 1, 1, 1, code);
	if (req_id != NULL && *req_id != '\0')
		hl7_set_raw(ack, "MSA", 1, 2, 0, 0, 0, req_id);
	if (text != NULL && *text != '\0')
		hl7_set(ack, "MSA", 1, 3, 1, 1, 1, text);
	if (strcmp(code, "AA") == 0 || strcmp(code, "CA") == 0)
		return;
	hl7_add_segment(ack, "ERR", NULL);
	if (hl7_err_v25(ack)) {
		hl7_set(ack, "ERR", 1, 3, 1, 1, 1, err_code);
		hl7_set(ack, "ERR", 1, 3, 1, 2, 1, err_text);
		hl7_set(ack, "ERR", 1, 3, 1, 3, 1, "HL70357");
		hl7_set(ack, "ERR", 1, 4, 1, 1, 1, "E");
		if (text != NULL && *text != '\0')
			hl7_set(ack, "ERR", 1, 8, 1, 1, 1, text);
	} else {
		hl7_set(ack, "ERR", 1, 1, 1, 4, 1, err_code);
		hl7_set(ack, "ERR", 1, 1, 1, 4, 2, err_text);
		hl7_set(ack, "ERR", 1, 1, 1, 4, 3, "HL70357");
	}
}

/* Acknowledge a parsed request. */
struct hl7_msg *
hl7_ack(struct hl7_msg *req, const char *code, const char *err_code,
    const char *text, const char *sending_app, const char *sending_fac,
    char **cause)
{
	struct hl7_msg	*ack;
	const char	*err_text, *trigger, *v;
	char		 fs_enc[7], ts[32], id[32];

	if (hl7_ack_args(code, &err_code, &err_text, cause) == -1)
		return (NULL);
	memset(fs_enc, 0, sizeof(fs_enc));
	fs_enc[0] = req->fs;
	strlcpy(fs_enc + 1, req->enc, sizeof(fs_enc) - 1);
	ack = hl7_msg_alloc(fs_enc, NULL);
	hl7_add_segment(ack, "MSH", NULL);

	if (sending_app != NULL)
		hl7_set(ack, "MSH", 1, 3, 1, 1, 1, sending_app);
	else
		hl7_set_raw(ack, "MSH", 1, 3, 0, 0, 0,
		    hl7_get_raw(req, "MSH", 1, 5, 0, 0, 0));
	if (sending_fac != NULL)
		hl7_set(ack, "MSH", 1, 4, 1, 1, 1, sending_fac);
	else
		hl7_set_raw(ack, "MSH", 1, 4, 0, 0, 0,
		    hl7_get_raw(req, "MSH", 1, 6, 0, 0, 0));
	hl7_set_raw(ack, "MSH", 1, 5, 0, 0, 0,
	    hl7_get_raw(req, "MSH", 1, 3, 0, 0, 0));
	hl7_set_raw(ack, "MSH", 1, 6, 0, 0, 0,
	    hl7_get_raw(req, "MSH", 1, 4, 0, 0, 0));
	hl7_now(ts, sizeof(ts));
	hl7_set(ack, "MSH", 1, 7, 1, 1, 1, ts);
	hl7_set(ack, "MSH", 1, 9, 1, 1, 1, "ACK");
	trigger = hl7_get_raw(req, "MSH", 1, 9, 1, 2, 1);
	if (*trigger != '\0') {
		hl7_set_raw(ack, "MSH", 1, 9, 1, 2, 1, trigger);
		hl7_set(ack, "MSH", 1, 9, 1, 3, 1, "ACK");
	}
	hl7_new_control_id(id, sizeof(id));
	hl7_set(ack, "MSH", 1, 10, 1, 1, 1, id);
	v = hl7_get_raw(req, "MSH", 1, 11, 0, 0, 0);
	if (*hl7_get(req, "MSH", 1, 11, 1, 1, 1) != '\0')
		hl7_set_raw(ack, "MSH", 1, 11, 0, 0, 0, v);
	else
		hl7_set(ack, "MSH", 1, 11, 1, 1, 1, "P");
	v = hl7_get_raw(req, "MSH", 1, 12, 0, 0, 0);
	if (*hl7_get(req, "MSH", 1, 12, 1, 1, 1) != '\0')
		hl7_set_raw(ack, "MSH", 1, 12, 0, 0, 0, v);
	else
		hl7_set(ack, "MSH", 1, 12, 1, 1, 1, "2.3.1");

	hl7_ack_body(ack, code, err_code, err_text, text,
	    hl7_get_raw(req, "MSH", 1, 10, 0, 0, 0));
	return (ack);
}

/* MSH-10 of unparsed bytes when it is short and plainly printable. */
static char *
hl7_salvage_id(const char *p, size_t len)
{
	const char	*end, *q;
	char		 fs;
	size_t		 i;
	int		 f;

	if (len < 8 || memcmp(p, "MSH", 3) != 0)
		return (NULL);
	fs = p[3];
	if (fs < 0x21 || fs > 0x7e || isalnum((unsigned char)fs))
		return (NULL);
	for (end = p; end < p + len && *end != '\r' && *end != '\n' &&
	    *end != '\0'; end++)
		;
	p += 4;
	for (f = 2; f < 10; f++) {
		if ((q = memchr(p, fs, end - p)) == NULL)
			return (NULL);
		p = q + 1;
	}
	if ((q = memchr(p, fs, end - p)) == NULL)
		q = end;
	if (q == p || q - p > 199)
		return (NULL);
	for (i = 0; i < (size_t)(q - p); i++) {
		if (p[i] < 0x21 || p[i] > 0x7e || strchr("|^~\\&", p[i]) != NULL)
			return (NULL);
	}
	return (xstrndup(p, q - p));
}

/* Acknowledge bytes that could not be parsed. */
struct hl7_msg *
hl7_ack_raw(const void *data, size_t len, const char *code,
    const char *err_code, const char *text, const char *sending_app,
    const char *sending_fac, char **cause)
{
	struct hl7_msh	 h;
	struct hl7_msg	*ack;
	const char	*err_text;
	char		*id;

	if (hl7_ack_args(code, &err_code, &err_text, cause) == -1)
		return (NULL);
	memset(&h, 0, sizeof(h));
	h.type = "ACK";
	ack = hl7_msg_new(&h);
	if (sending_app != NULL)
		hl7_set(ack, "MSH", 1, 3, 1, 1, 1, sending_app);
	if (sending_fac != NULL)
		hl7_set(ack, "MSH", 1, 4, 1, 1, 1, sending_fac);
	id = data != NULL ? hl7_salvage_id(data, len) : NULL;
	hl7_ack_body(ack, code, err_code, err_text, text, id);
	free(id);
	return (ack);
}

/* Set the error location of an ACK's ERR segment. */
int
hl7_ack_set_location(struct hl7_msg *ack, const char *seg, int seq,
    int field)
{
	char	num[16];
	int	f;

	if (hl7_find_seg(ack, "ERR", 1) == NULL || seg == NULL)
		return (-1);
	f = hl7_err_v25(ack) ? 2 : 1;
	if (hl7_set(ack, "ERR", 1, f, 1, 1, 1, seg) == -1)
		return (-1);
	if (seq > 0) {
		snprintf(num, sizeof(num), "%d", seq);
		hl7_set(ack, "ERR", 1, f, 1, 2, 1, num);
	}
	if (field > 0) {
		snprintf(num, sizeof(num), "%d", field);
		hl7_set(ack, "ERR", 1, f, 1, 3, 1, num);
	}
	return (0);
}
