/*
 * xdsmeta.h: the IHE XDS.b metadata model (DocumentEntry, SubmissionSet,
 * Folder, Association) and its ebRIM 3.0 form, read and written.
 *
 * Values stay strings as they came (CX, XCN, DTM...); xdsvalid.h checks them.
 * Parsing never fails on a structural problem: those become entries in
 * xds_submission.errors so that a validator can report them all at once.
 */
#ifndef ISN_XDSMETA_H
#define ISN_XDSMETA_H

#include <stddef.h>
#include <stdint.h>

#include <libxml/tree.h>

#include "dbuf.h"

/* Object types and classification nodes (xds.md 2.1). */
#define XDS_DE_STABLE		"urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
#define XDS_DE_ONDEMAND		"urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248"
#define XDS_NODE_SUBSET		"urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
#define XDS_NODE_FOLDER		"urn:uuid:d9d542f3-6cc4-48b6-8870-ea235fbc94c2"
#define XDS_LIMITED_DE		"urn:uuid:ab9b591b-83ab-4d03-8f5d-f93b1fb92e85"
#define XDS_LIMITED_SUBSET	"urn:uuid:5003a9db-8d8d-49e6-bf0c-990e34ac7707"
#define XDS_LIMITED_FOLDER	"urn:uuid:2c144a76-29a9-4b7c-af54-b25409fe7d03"
#define XDS_OT_PREFIX		"urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:"
#define XDS_OT_PACKAGE		XDS_OT_PREFIX "RegistryPackage"
#define XDS_OT_CLASSIFICATION	XDS_OT_PREFIX "Classification"
#define XDS_OT_EXTID		XDS_OT_PREFIX "ExternalIdentifier"
#define XDS_OT_ASSOCIATION	XDS_OT_PREFIX "Association"
#define XDS_STATUS_APPROVED	"urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
#define XDS_STATUS_DEPRECATED	"urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
#define XDS_ASSOC_HASMEMBER	"urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"

/* Classification schemes of coded attributes and authors (2.3, 2.4). */
#define XDS_DE_AUTHOR		"urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
#define XDS_DE_CLASSCODE	"urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
#define XDS_DE_CONFCODE		"urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
#define XDS_DE_EVENTCODE	"urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"
#define XDS_DE_FORMATCODE	"urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
#define XDS_DE_HCFTCODE		"urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
#define XDS_DE_PRACTICECODE	"urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
#define XDS_DE_TYPECODE		"urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
#define XDS_DE_PATIENTID	"urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
#define XDS_DE_UNIQUEID		"urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
#define XDS_SS_AUTHOR		"urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
#define XDS_SS_CONTENTTYPE	"urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
#define XDS_SS_PATIENTID	"urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
#define XDS_SS_SOURCEID		"urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
#define XDS_SS_UNIQUEID		"urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
#define XDS_FD_CODELIST		"urn:uuid:1ba97051-7806-41a8-a48b-8fce7af683c5"
#define XDS_FD_PATIENTID	"urn:uuid:f64ffdf0-4b97-4e06-b79f-a52b38ec2f8a"
#define XDS_FD_UNIQUEID		"urn:uuid:75df8f67-9973-4fbe-a900-df66cefecc5a"

/* Extra (non-IHE) slots of this network (PROFILE.md 4, 5). */
#define XDS_SLOT_REFIDLIST	"urn:ihe:iti:xds:2013:referenceIdList"
#define XDS_SLOT_ISN_SERIES	"urn:rsna:isn:seriesInstanceUID"
#define XDS_SLOT_ISN_SOP	"urn:rsna:isn:sopInstanceUID"
#define XDS_SLOT_ISN_ENCRYPTION	"urn:rsna:isn:encryption"
/* Set by the clearinghouse on stored SubmissionSets: UTC DTM, 14 digits. */
#define XDS_SLOT_ISN_EXPIRES	"urn:rsna:isn:expiresAt"

/* Limits on what one RegistryObjectList may hold. */
#define XDSMETA_MAX_OBJECTS	100000	/* objects of all kinds */
#define XDSMETA_MAX_CHILDREN	1000	/* slots, codes... of one object */
#define XDSMETA_MAX_VALUES	1000	/* values of one slot */

/* A list of strings. */
struct xds_strv {
	char	**v;
	size_t	  n;
};

/* A slot: name and values, in document order. */
struct xds_slot {
	char		*name;
	struct xds_strv	 values;
	long		 line;
};

struct xds_slotv {
	struct xds_slot	*v;
	size_t		 n;
};

/* A well-known slot of an object: set says whether it appeared at all. */
struct xds_vals {
	struct xds_strv	 values;
	int		 set;
	long		 line;
};

/* A coded attribute: a Classification with nodeRepresentation. */
struct xds_code {
	char		*id;		/* Classification id, may be NULL */
	char		*code;		/* nodeRepresentation */
	char		*scheme;	/* codingScheme slot (first value) */
	char		*display;	/* Name */
	size_t		 nschemes;	/* codingScheme values seen */
	struct xds_slotv extra;		/* other slots */
	long		 line;
};

struct xds_codev {
	struct xds_code	*v;
	size_t		 n;
};

/* An author classification and its slots. */
struct xds_author {
	char		*id;
	struct xds_strv	 person;	/* XCN, at most 1 */
	struct xds_strv	 institution;	/* XON */
	struct xds_strv	 role;
	struct xds_strv	 specialty;
	struct xds_strv	 telecom;	/* XTN */
	struct xds_slotv extra;
	long		 line;
};

struct xds_authorv {
	struct xds_author *v;
	size_t		   n;
};

/* A well-known ExternalIdentifier (patientId, uniqueId, sourceId). */
struct xds_extid {
	char	*id;
	char	*value;
	int	 set;
	long	 line;
};

/* A Classification or ExternalIdentifier this model does not know. */
struct xds_other {
	int		 extid;		/* 1 ExternalIdentifier, 0 Classification */
	char		*id;
	char		*scheme;	/* classificationScheme/identificationScheme */
	char		*node;		/* classificationNode */
	char		*value;		/* nodeRepresentation/value */
	char		*name;
	struct xds_slotv slots;
	long		 line;
};

struct xds_otherv {
	struct xds_other *v;
	size_t		  n;
};

/* What every registry object has. */
struct xds_object {
	char		 *id;		/* entryUUID or symbolic id */
	char		 *lid;
	char		 *status;
	char		 *home;
	char		 *object_type;
	char		 *title;	/* Name */
	char		 *comments;	/* Description */
	struct xds_slotv  extra;	/* unknown slots, kept in order */
	struct xds_otherv other;	/* unknown classifications/ids */
	long		  line;
};

struct xds_docentry {
	struct xds_object	 o;
	char			*mime_type;
	struct xds_authorv	 authors;
	struct xds_codev	 class_code;
	struct xds_codev	 conf_code;
	struct xds_codev	 event_code;
	struct xds_codev	 format_code;
	struct xds_codev	 hcft_code;
	struct xds_codev	 practice_code;
	struct xds_codev	 type_code;
	struct xds_extid	 patient_id;
	struct xds_extid	 unique_id;
	struct xds_vals		 creation_time;
	struct xds_vals		 language_code;
	struct xds_vals		 source_patient_id;
	struct xds_vals		 source_patient_info;
	struct xds_vals		 service_start_time;
	struct xds_vals		 service_stop_time;
	struct xds_vals		 hash;
	struct xds_vals		 size;
	struct xds_vals		 repository_unique_id;
	struct xds_vals		 legal_authenticator;
	struct xds_vals		 reference_id_list;
	struct xds_vals		 uri;
	struct xds_vals		 document_availability;
	int			 limited;	/* limitedMetadata node seen */
};

struct xds_subset {
	struct xds_object	 o;
	struct xds_authorv	 authors;
	struct xds_codev	 content_type;
	struct xds_extid	 patient_id;
	struct xds_extid	 source_id;
	struct xds_extid	 unique_id;
	struct xds_vals		 submission_time;
	struct xds_vals		 intended_recipient;
	char			*node_id;	/* id of the marker Classification */
	int			 limited;	/* limitedMetadata node seen */
};

struct xds_folder {
	struct xds_object	 o;
	struct xds_codev	 code_list;
	struct xds_extid	 patient_id;
	struct xds_extid	 unique_id;
	struct xds_vals		 last_update_time;
	char			*node_id;	/* id of the marker Classification */
	int			 limited;
};

struct xds_assoc {
	struct xds_object	 o;
	char			*type;
	char			*source;
	char			*target;
	struct xds_vals		 subset_status;	/* SubmissionSetStatus */
};

/*
 * A problem found in a message. code is one of the static XDS error code
 * strings; location names the object and its line; message is the whole
 * sentence after the code.
 */
struct xds_error {
	const char	*code;
	char		*location;
	char		*message;
	long		 line;
};

struct xds_errors {
	struct xds_error *v;
	size_t		  n;
};

#define XDS_ERR_METADATA	"XDSRegistryMetadataError"
#define XDS_ERR_REPO_METADATA	"XDSRepositoryMetadataError"
#define XDS_ERR_PATIENT		"XDSPatientIdDoesNotMatch"
#define XDS_ERR_DUP_UNIQUEID	"XDSRegistryDuplicateUniqueIdInMessage"
#define XDS_ERR_MISSING_DOC	"XDSMissingDocument"
#define XDS_ERR_MISSING_META	"XDSMissingDocumentMetadata"

/* All objects of one RegistryObjectList. */
struct xds_submission {
	struct xds_docentry	*docs;
	size_t			 ndocs;
	struct xds_subset	*subsets;
	size_t			 nsubsets;
	struct xds_folder	*folders;
	size_t			 nfolders;
	struct xds_assoc	*assocs;
	size_t			 nassocs;
	struct xds_strv		 objectrefs;	/* rim:ObjectRef ids */
	struct xds_errors	 errors;	/* structural problems */
};

/*
 * Parse the RegistryObjectList at or under node (a RegistryObjectList,
 * SubmitObjectsRequest, ProvideAndRegisterDocumentSetRequest,
 * AdhocQueryResponse or SOAP Envelope). NULL with a cause when there is no
 * list, when ebXML 2.1 is used or when a limit is passed.
 */
struct xds_submission *xdsmeta_parse(const xmlNode *, char **cause);
/* The same from XML text, parsed with xml_parse. */
struct xds_submission *xdsmeta_parse_buf(const void *, size_t, char **cause);
void		 xdsmeta_free(struct xds_submission *);

/*
 * Serialise: a rim:RegistryObjectList, a whole lcm:SubmitObjectsRequest,
 * or the objects alone (BARE: rim: elements declaring no namespace, for
 * an enclosing element to declare; the registry stores objects so).
 */
#define XDSMETA_W_LIST	0
#define XDSMETA_W_SOR	1
#define XDSMETA_W_BARE	2
int		 xdsmeta_write(struct dbuf *, const struct xds_submission *,
		    int how);

/* 1 when two models hold the same metadata (errors and lines ignored). */
int		 xdsmeta_equal(const struct xds_submission *,
		    const struct xds_submission *);

/*
 * Give every object, classification and identifier with a non-UUID id a
 * new urn:uuid (RFC 4122 v4) and rewrite every reference to it. cb, when
 * not NULL, is told each (old, new) pair of registry objects so the caller
 * can rewrite xdsb:Document/@id. -1 if the random source fails.
 */
typedef void (*xdsmeta_rename_cb)(const char *oldid, const char *newid,
    void *arg);
int		 xdsmeta_assign_uuids(struct xds_submission *,
		    xdsmeta_rename_cb, void *);
/* A fresh "urn:uuid:..." (v4); -1 if RAND_bytes fails. */
int		 xdsmeta_new_uuid(char *buf, size_t len);
/* The entry, subset, folder or association with that id, or NULL. */
struct xds_docentry *xdsmeta_find_doc(const struct xds_submission *,
		    const char *id);

/* First value of a well-known slot, or NULL. */
const char	*xdsmeta_val(const struct xds_vals *);

/*
 * Errors: add one; the message is "<what> \"<id>\" (line N): <fmt...>",
 * the id and line parts left out when NULL or 0.
 */
void		 xdsmeta_error(struct xds_errors *, const char *code,
		    const char *what, const char *id, long line,
		    const char *fmt, ...) printflike(6, 7);
/* "code message" of one error, allocated. */
char		*xdsmeta_error_str(const struct xds_error *);
void		 xdsmeta_errors_copy(struct xds_errors *dst,
		    const struct xds_errors *src);
void		 xdsmeta_errors_free(struct xds_errors *);

/*
 * Builders for this network's submissions (PROFILE.md 5): one SubmissionSet
 * with the RSNA affinity-domain codes, then entries added one by one, each a
 * member of the set. Ids are symbolic (SubmissionSet01, Document01...) until
 * xdsmeta_assign_uuids.
 */
#define XDSMETA_DOC_IMAGE	0	/* one DICOM instance */
#define XDSMETA_DOC_KOS		1	/* the XDS-I.b manifest */
#define XDSMETA_DOC_REPORT	2	/* text/plain report */

struct xdsmeta_subset_spec {
	const char	*patient_id;	/* CX, RSNA-ID^^^&AA&ISO */
	const char	*source_id;	/* OID */
	const char	*unique_id;	/* OID */
	const char	*submission_time;	/* DTM, UTC */
	int		 isn2;		/* add urn:rsna:isn:encryption=isn2 */
};

struct xdsmeta_doc_spec {
	int		 kind;		/* XDSMETA_DOC_* */
	const char	*unique_id;	/* SOP Instance UID or report UID */
	const char	*sop_class;	/* formatCode of images */
	const char	*study_uid;	/* referenceIdList */
	const char	*series_uid;	/* urn:rsna:isn:seriesInstanceUID */
	const char	*creation_time;
	const char	*service_start_time;	/* may be NULL */
	const char	*hash;		/* may be NULL (ITI-41) */
	int64_t		 size;		/* -1 when unknown */
	const char	*repository_unique_id;	/* may be NULL */
	const char	*sop_uid;	/* urn:rsna:isn:sopInstanceUID when the */
					/* uniqueId is not it (protocol.md 7) */
};

struct xds_submission *xdsmeta_build_subset(
		    const struct xdsmeta_subset_spec *);
struct xds_docentry *xdsmeta_build_doc(struct xds_submission *,
		    const struct xdsmeta_doc_spec *);

#endif
