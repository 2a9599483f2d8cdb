/*
 * ris.h: the RIS feed of the edge: HL7 v2.3 to v2.5.1 orders (ORM^O01),
 * results (ORU^R01), patient updates (ADT^A08) and merges (ADT^A18,
 * ADT^A40) over MLLP, plain or TLS, stored in the edge database and
 * acknowledged: AA once committed, AE/AR with an ERR segment otherwise.
 * See docs/design/ris.md.
 */
#ifndef ISN_RIS_H
#define ISN_RIS_H

#include <stddef.h>

struct edge;
struct hl7_msg;
struct ris;

#define RIS_MAX_EXAMS		64	/* OBR segments in one message */
#define RIS_TIME_LEN		40	/* "YYYY-MM-DD HH:MM:SS.ffff+HH:MM" */

enum ris_kind {
	RIS_ORDER,		/* ORM^O01, ORU^R01: exams and statuses */
	RIS_UPDATE,		/* ADT^A08: demographics */
	RIS_MERGE		/* ADT^A18, ADT^A40: prior id into PID-3 */
};

/* Strings are malloc'd, NULL when the message leaves them empty. */
struct ris_patient {
	char	*mrn;		/* CX.1, never NULL once mapped */
	char	*authority;	/* CX.4.1, else CX.4.2, else "" */
	char	*family;
	char	*given;
	char	*middle;
	char	*birth_date;	/* "YYYY-MM-DD" */
	char	*sex;
};

struct ris_exam {
	char	*accession;
	char	*description;
	char	*modality;
	const char *status;	/* normalised: scheduled ... cancelled */
	char	*status_raw;	/* as sent: F, CM, NW ... */
	const char *status_field; /* "OBR-25", "ORC-5" or "ORC-1" */
	/*
	 * PostgreSQL timestamptz text. time_zone NULL: an instant (the
	 * offset given, or local time converted with the system's zone);
	 * else local time in that zone (site.time_zone).
	 */
	char	 status_time[RIS_TIME_LEN];
	const char *time_zone;
	char	*report;	/* OBX-5 of its OBX segments, one per line */
	char	*signer;	/* OBR-32.1 */
};

struct ris_record {
	enum ris_kind		 kind;
	char			 event[4];	/* O01 R01 A08 A18 A40 */
	struct ris_patient	 patient;
	struct ris_patient	 prior;		/* RIS_MERGE: MRG-1 */
	struct ris_exam		 exams[RIS_MAX_EXAMS];
	size_t			 nexams;
};

/*
 * Why a message is refused: the ACK code (AE or AR), the HL7 table 0357
 * error code, where (seg "" when nowhere in particular) and a text that
 * names the field, never its value.
 */
struct ris_error {
	char	ack[3];
	char	code[4];
	char	seg[4];
	int	occ;
	int	field;
	char	text[160];
};

/* What the mapping reads from the configuration. */
struct ris_settings {
	int		 accession_field;	/* enum edge_accession */
	const char	*assigning_authority;	/* NULL: first PID-3 */
	const char	*time_zone;		/* NULL: the system's */
};

/*
 * The record a parsed message stands for. 0, or -1 with err filled (the
 * record is then cleared). Pure: no I/O; the fuzz harness drives it.
 */
int	ris_map(struct hl7_msg *, const struct ris_settings *,
	    struct ris_record *, struct ris_error *);
void	ris_record_clear(struct ris_record *);
/*
 * An HL7 TS ("YYYYMMDD[HH[MM[SS[.S[S[S[S]]]]]]][+/-ZZZZ]") as timestamptz
 * text in out; *local set when it had no offset and time_zone is set (the
 * text is then local time in that zone). -1 when it is not a valid time.
 */
int	ris_time(const char *ts, const char *time_zone, char *out, size_t,
	    int *local);
/* The normalised status of a RIS code read from field, or NULL. */
const char *ris_status(const char *code, const char *field);
/*
 * Text that is not valid UTF-8 is taken as ISO 8859-1 and converted (the
 * RIS sends one or the other). Returns a malloc'd copy and its length.
 */
char	*ris_utf8(const char *, size_t, size_t *lenp);

/*
 * The listener on edge->conf->ris (address, TLS context edge->ris_tls,
 * maximum size, timeout), storing into edge->db. Each message in flight
 * holds edge (edge_hold) until its ACK is queued. The accession field,
 * assigning authority and time zone are read at each message, so a
 * reload applies to the next one. NULL and *cause on failure.
 */
struct ris	*ris_new(struct edge *, char **cause);
int		 ris_port(struct ris *);
/* Stop accepting; connections waiting for an ACK get it, then close. */
void		 ris_stop(struct ris *);
/* Free the db pool first: db_free answers the messages still waiting. */
void		 ris_free(struct ris *);

#endif
