/*
 * isnsub.h: one network submission (PROFILE.md section 5) as an ITI-41
 * Provide and Register MTOM request, streamed in bounded memory: one
 * DocumentEntry per DICOM instance, the KOS manifest (built with dicom.h)
 * and an optional text report. Under isn2 every document is an envelope
 * (envelope.h) under the patient's content key and the SubmissionSet
 * carries urn:rsna:isn:encryption = isn2; under rsna-token and
 * rsna-access-code documents are plain. hash and size are left out of the
 * metadata: the clearinghouse computes them from the stored bytes.
 *
 * Memory holds the metadata (O(instances)), the KOS and one 64 KiB chunk
 * of the document being streamed, whatever the documents' sizes. Files
 * are read twice: their identifying UIDs at add time, their bytes while
 * the message is written (one file open at a time).
 */
#ifndef ISN_ISNSUB_H
#define ISN_ISNSUB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dicom.h"
#include "rsnaid.h"

/* The clearinghouse's MIME part limit, less the root, KOS and report. */
#define ISNSUB_MAX_INSTANCES	997

struct isnsub_params {
	enum rsnaid_scheme	 scheme;
	const char		*secret;	/* token, or access code */
	const char		*dob;		/* YYYYMMDD or YYYY-MM-DD */
	const char		*password;	/* NULL for access codes */
	const char		*oid;		/* NULL: RSNAID_DEFAULT_OID */
	const char		*source_id;	/* NULL: ISNSUB_SOURCE_ID */
	const char		*submission_uid; /* NULL: a new 2.25 UID */
	const char		*repository_uid; /* KOS Retrieve Location */
	const char		*submission_time; /* NULL: now, UTC */
	const char		*kos_patient_name; /* NULL: "RSNA ISN" */
	/*
	 * The accession number: NULL takes the first (0008,0050) of the
	 * instances. Required (letters, digits, '-', '.') under the plain
	 * schemes, whose KOS entry carries it in its referenceIdList (a CXi
	 * of the issuer, default ISNSUB_ACCESSION_ISSUER); never in isn2
	 * metadata (it is only in the encrypted KOS).
	 */
	const char		*accession_number;
	const char		*accession_issuer;
	/*
	 * An RSNA-ID (and isn2 content key) computed earlier, instead of
	 * secret, dob and password: the edge derives it when staff enter
	 * the patient's password and keeps no password until it sends.
	 */
	const struct rsnaid	*id;
	/*
	 * Each instance's DocumentEntry gets a uniqueId of its own (a UID
	 * derived from the submission's and the instance's), the SOP
	 * Instance UID going into urn:rsna:isn:sopInstanceUID, so that one
	 * study can be sent more than once (docs/protocol.md 7); 1 here
	 * makes the uniqueId the SOP Instance UID instead (PROFILE.md 5:
	 * such a study can be stored once only).
	 */
	int			 sop_uids;
};
#define ISNSUB_ACCESSION_ISSUER	"1.3.6.1.4.1.19376.3.840.1.1.5"
#define ISNSUB_SOURCE_ID	"1.3.6.1.4.1.19376.3.840.1.1.4.1"

struct isnsub;

/* Computes the RSNA-ID (and the content key under isn2). */
struct isnsub	*isnsub_new(const struct isnsub_params *, char **cause);
void		 isnsub_free(struct isnsub *);

/* A DICOM file: its UIDs are read now (dicom_read_ids_file). */
int		 isnsub_add_file(struct isnsub *, const char *path,
		    char **cause);
/* A synthetic instance made while streaming (strings are copied). */
int		 isnsub_add_synthetic(struct isnsub *,
		    const struct dicom_instance_params *, char **cause);
/* The report (text/plain), streamed from a file. */
int		 isnsub_set_report(struct isnsub *, const char *path,
		    char **cause);

/*
 * Builds the KOS and the metadata, and prepares the MTOM writer. Every
 * instance must belong to one study. After this, nothing can be added.
 */
int		 isnsub_finish(struct isnsub *, char **cause);

/* After isnsub_finish: the HTTP Content-Type, then the message. */
const char	*isnsub_content_type(struct isnsub *);
ssize_t		 isnsub_read(struct isnsub *, void *, size_t,
		    char **cause);
int		 isnsub_write_fd(struct isnsub *, int fd, char **cause);

/* What was computed (valid after isnsub_new / isnsub_finish). */
const char	*isnsub_rsnaid(const struct isnsub *);
const char	*isnsub_patient_cx(const struct isnsub *);
const char	*isnsub_submission_uid(const struct isnsub *);
const char	*isnsub_study_uid(const struct isnsub *);
const char	*isnsub_kos_uid(const struct isnsub *);
const char	*isnsub_report_uid(const struct isnsub *);	/* or NULL */
/* The KOS's plaintext (after isnsub_finish), owned by the object. */
const void	*isnsub_kos(const struct isnsub *, size_t *len);
size_t		 isnsub_ninstances(const struct isnsub *);

#endif
