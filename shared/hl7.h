/*
 * hl7.h: HL7 v2 messages in ER7 (pipe-and-hat) form: a bounded parser,
 * accessors that unescape, a builder, and ACK/NAK construction.
 *
 * Positions use standard HL7 numbering: MSH-1 is the field separator and
 * MSH-2 the encoding characters (both returned verbatim), so MSH-3 is the
 * first field after them; in other segments SEG-1 is the first field after
 * the segment id. Segment occurrences, repetitions, components and
 * subcomponents count from 1.
 *
 * Unescaping (hl7_get): \F\ \S\ \T\ \R\ \E\ give the separators, \P\ the
 * v2.7 truncation character when MSH-2 declares one, \Xhh..\ the bytes
 * (not NUL), \.br\ and \.sp\ (\.spN\) a newline; \H\ \N\ and the other
 * formatting commands (.fi .nf .in .ti .sk .ce) are dropped; anything else
 * (\C..\ \M..\ \Z..\, bad hex, an unterminated escape) is kept verbatim.
 * Escaping (hl7_set) is the inverse: separators as above, LF as \.br\ and
 * CR as \X0D\, so hl7_get returns exactly what hl7_set stored.
 *
 * Serialising ends every segment with CR and trims trailing empty fields,
 * repetitions, components and subcomponents. MSH, BHS and FHS are header
 * segments: field 1 is the separator, field 2 is kept verbatim.
 *
 * hl7_get and friends cache strings in the message, so they take a non-const
 * message; a message is not safe to share between threads.
 */
#ifndef ISN_HL7_H
#define ISN_HL7_H

#include <stddef.h>

#include "dbuf.h"

#define HL7_MAX_SIZE		(1024 * 1024)
#define HL7_MAX_SEGMENTS	10000
#define HL7_MAX_FIELDS		1000	/* per segment */
#define HL7_MAX_REPS		1000	/* per field */
#define HL7_MAX_COMPONENT	1000	/* highest component/subcomponent set */

struct hl7_limits {
	size_t	max_size;	/* bytes of ER7 accepted or produced */
	size_t	max_segments;
	size_t	max_fields;
	size_t	max_reps;
};

/* A parsed position (hl7_path_parse); 0 in rep/comp/sub means "all". */
struct hl7_pos {
	char	seg[4];
	int	occ;
	int	field;
	int	rep;
	int	comp;
	int	sub;
};

/* Fields for hl7_msg_new; each is ER7 text in the default encoding. */
struct hl7_msh {
	const char	*sending_app;		/* MSH-3 */
	const char	*sending_fac;		/* MSH-4 */
	const char	*receiving_app;		/* MSH-5 */
	const char	*receiving_fac;		/* MSH-6 */
	const char	*timestamp;		/* MSH-7; NULL: now, UTC */
	const char	*type;			/* MSH-9, e.g. "ADT^A04^ADT_A01" */
	const char	*control_id;		/* MSH-10; NULL: fresh */
	const char	*processing_id;		/* MSH-11; NULL: "P" */
	const char	*version;		/* MSH-12; NULL: "2.3.1" */
};

struct hl7_msg;

void		 hl7_limits_default(struct hl7_limits *);

/*
 * Parse len bytes (no NUL needed). Segments end with CR, LF or CRLF; blank
 * lines are skipped. limits NULL means the defaults. NULL with *cause set
 * on error.
 */
struct hl7_msg	*hl7_parse(const void *, size_t, const struct hl7_limits *,
		    char **cause);
void		 hl7_msg_free(struct hl7_msg *);

/*
 * Unescaped value at a position; "" when absent, never NULL. rep, comp
 * and sub of 0 mean 1. The string stays valid until hl7_msg_free.
 */
const char	*hl7_get(struct hl7_msg *, const char *seg, int occ, int field,
		    int rep, int comp, int sub);
/* The ER7 text as sent (escapes kept); 0 at a level means all of it. */
const char	*hl7_get_raw(struct hl7_msg *, const char *seg, int occ,
		    int field, int rep, int comp, int sub);
/*
 * Paths: SEG[(occ)]-field[(rep)][.comp[.sub]], e.g. "PID-3.4.2",
 * "PID-3(2).1", "OBX(3)-5". hl7_get_path returns "" for a bad path.
 */
int		 hl7_path_parse(const char *, struct hl7_pos *, char **cause);
const char	*hl7_get_path(struct hl7_msg *, const char *path);

size_t		 hl7_nsegments(const struct hl7_msg *);
/* Id of the idx-th segment (0-based) or NULL past the end. */
const char	*hl7_segment_id(const struct hl7_msg *, size_t idx);
/* Which occurrence of its id the idx-th segment is (1-based), 0 if none. */
int		 hl7_segment_occ(const struct hl7_msg *, size_t idx);
/* Fields in the idx-th segment (highest field number present). */
int		 hl7_segment_nfields(const struct hl7_msg *, size_t idx);
/* Segments with this id (NULL: all). */
size_t		 hl7_count_segments(const struct hl7_msg *, const char *seg);
/* Repetitions of a field, not counting trailing empty ones. */
size_t		 hl7_count_reps(const struct hl7_msg *, const char *seg,
		    int occ, int field);

/* MSH-9.1^MSH-9.2 ("ADT^A04"), MSH-10, MSH-12.1; "" when absent. */
const char	*hl7_msg_type(struct hl7_msg *);
const char	*hl7_control_id(struct hl7_msg *);
const char	*hl7_version(struct hl7_msg *);
/* MSH first, MSH-9.1, MSH-10 and MSH-12 present. */
int		 hl7_check_msh(struct hl7_msg *, char **cause);

/*
 * A new message holding only MSH with encoding |^~\& (the argument may be
 * NULL); NULL if a field holds CR, LF or |.
 */
struct hl7_msg	*hl7_msg_new(const struct hl7_msh *);
/* Append a segment; returns its occurrence number or -1. */
int		 hl7_add_segment(struct hl7_msg *, const char *seg,
		    char **cause);
/*
 * Store a value (escaped here) at a position; rep, comp and sub count from
 * 1. occ may be one past the last occurrence to append the segment.
 * Intermediate separators are padded. -1 on a bad position or a limit.
 */
int		 hl7_set(struct hl7_msg *, const char *seg, int occ, int field,
		    int rep, int comp, int sub, const char *value);
int		 hl7_set_path(struct hl7_msg *, const char *path,
		    const char *value);
/*
 * Store ER7 text as is; 0 at a level replaces all of it. The text may not
 * hold CR, LF, the field separator, or a separator of its own level or
 * above (a repetition may hold ^ and &, a component only &).
 */
int		 hl7_set_raw(struct hl7_msg *, const char *seg, int occ,
		    int field, int rep, int comp, int sub, const char *raw);

/* Append the ER7 form (CR after each segment); -1 if out passes its max. */
int		 hl7_serialise(struct hl7_msg *, struct dbuf *out);
/*
 * For tests and tools: a SEG(occ) line per segment, then one line per
 * non-empty subcomponent, SEG(occ)-f(rep).c.s=value, control bytes and \
 * shown C-style. Values are patient data: never log them.
 */
int		 hl7_dump(struct hl7_msg *, struct dbuf *out);

/*
 * An acknowledgement of req: code AA, AE or AR (or CA, CE, CR). MSH swaps
 * the request's sender and receiver (sending_app/fac, plain values, replace
 * the request's MSH-5/6 when not NULL), MSH-7 is now in UTC, MSH-9
 * ACK^<trigger>^ACK, MSH-10 fresh, MSH-11/12 copied (default P, 2.3.1).
 * MSA-1 code, MSA-2 the request's control id, MSA-3 text. Unless the code
 * is AA/CA an ERR segment follows: err_code is from HL7 table 0357
 * (NULL: 207); before v2.5 ERR-1 = ^^^code&description&HL70357, from v2.5
 * ERR-3 = code^description^HL70357, ERR-4 = E and ERR-8 = text.
 */
struct hl7_msg	*hl7_ack(struct hl7_msg *req, const char *code,
		    const char *err_code, const char *text,
		    const char *sending_app, const char *sending_fac,
		    char **cause);
/*
 * An acknowledgement for bytes that did not parse: a generic v2.3.1 MSH;
 * MSA-2 is salvaged from an MSH-10 in the bytes when one looks sane.
 */
struct hl7_msg	*hl7_ack_raw(const void *, size_t, const char *code,
		    const char *err_code, const char *text,
		    const char *sending_app, const char *sending_fac,
		    char **cause);
/* Point the ERR segment of an ACK at segment seg, occurrence seq, field. */
int		 hl7_ack_set_location(struct hl7_msg *ack, const char *seg,
		    int seq, int field);

#endif
