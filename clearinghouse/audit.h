/*
 * audit.h: IHE ATNA audit records (xds.md section 7, docs/design/audit.md).
 *
 * One DICOM PS3.15 A.5 AuditMessage per transaction, written as one
 * RFC 5424 line: <85>1 TIMESTAMP HOSTNAME APP-NAME PROCID IHE+RFC-3881 -
 * BOM XML.  Destination: a file (appended, one line per event, one
 * write(2) each so several processes may share it) or syslog(3).
 *
 * PHI: the audit trail is the one place where the patient identifier (the
 * pseudonymous RSNA-ID) is recorded, on purpose; log lines never carry it.
 */
#ifndef ISN_AUDIT_H
#define ISN_AUDIT_H

#include <stddef.h>
#include <sys/time.h>

#include "dbuf.h"

#define AUDIT_MAX_MESSAGE	(256 * 1024)	/* one line, bytes */
#define AUDIT_MAX_QUERY		(64 * 1024)	/* query bytes kept */

enum audit_kind {
	AUDIT_PATIENT_RECORD,	/* ITI-8 received (registry) */
	AUDIT_IMPORT,		/* ITI-41 received (repository) */
	AUDIT_EXPORT_ITI41,	/* ITI-41 sent (a document source) */
	AUDIT_QUERY,		/* ITI-18 answered (registry) */
	AUDIT_RETRIEVE,		/* ITI-43 answered (repository) */
	AUDIT_RETRIEVE_IMAGING,	/* RAD-69 answered */
	AUDIT_SECURITY_ALERT	/* a peer refused (no role for the request) */
};

/* EventOutcomeIndicator */
#define AUDIT_SUCCESS		0
#define AUDIT_MINOR_FAILURE	4
#define AUDIT_SERIOUS_FAILURE	8
#define AUDIT_MAJOR_FAILURE	12

struct audit_doc {
	const char	*unique_id;		/* DocumentEntry.uniqueId */
	const char	*repository_uid;	/* may be NULL */
	const char	*home_community_id;	/* may be NULL */
};

/*
 * One event.  Every string may be NULL (left out) and is escaped; bytes
 * that are not valid XML text become '?'.  The roles follow the kind: for
 * a received or answered transaction the peer is the requestor (Source for
 * ITI-8/41/18, Destination for ITI-43/RAD-69); for AUDIT_EXPORT_ITI41 we
 * are the requesting Source.
 */
struct audit_event {
	enum audit_kind		 kind;
	int			 outcome;	/* AUDIT_SUCCESS ... */
	char			 action;	/* 0: the kind's; ITI-8 C/U/D */
	struct timeval		 when;		/* zero: now */
	const char		*peer_user;	/* certificate subject */
	const char		*peer_addr;	/* IP address */
	const char		*local_user;	/* our endpoint URI */
	const char		*local_addr;
	const char		*patient_id;	/* CX: id^^^&oid&ISO */
	const char		*submission_set_uid;
	const char		*msh10;		/* ITI-8 control id */
	const char		*query_id;	/* stored query UUID */
	const void		*query;		/* AdhocQueryRequest bytes */
	size_t			 query_len;
	const struct audit_doc	*docs;		/* ITI-43 */
	size_t			 ndocs;
	const char *const	*studies;	/* RAD-69 Study UIDs */
	size_t			 nstudies;
	const char		*alert_uri;	/* security alert: the resource */
	const char		*alert;		/* and what was refused */
};

struct audit_settings {
	const char	*source_id;	/* AuditSourceID (NULL: hostname) */
	const char	*site_id;	/* AuditEnterpriseSiteID, may be NULL */
	const char	*hostname;	/* syslog HOSTNAME (NULL: gethostname) */
	const char	*app_name;	/* NULL: "isn-clearinghouse" */
	const char	*file;		/* NULL: syslog(3) */
};

struct audit;

struct audit	*audit_open(const struct audit_settings *, char **cause);
/* Reopens the file (log rotation, SIGUSR1); no-op for syslog. */
int		 audit_reopen(struct audit *, char **cause);
void		 audit_close(struct audit *);

/*
 * Builds and writes one record.  -1 and *cause when it could not be
 * written (the caller logs it; the transaction's outcome is unchanged).
 */
int		 audit_log(struct audit *, const struct audit_event *,
		    char **cause);

/* The pieces, for tests and other senders (RFC 5425 framing later). */
int		 audit_xml(struct dbuf *, const struct audit *,
		    const struct audit_event *, char **cause);
int		 audit_line(struct dbuf *, const struct audit *,
		    const struct audit_event *, char **cause);

#endif
