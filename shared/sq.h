/*
 * sq.h: ITI-18 Registry Stored Query parameters and the rules of the 14
 * stored queries (xds.md §3). sq_parse turns an AdhocQuery id and its slots
 * into typed values and a list of RegistryErrors; it never builds SQL, the
 * clearinghouse binds the values it returns. The builder does the reverse
 * for consumers (the PHR client, a receiving edge).
 *
 * Value encoding (ITI TF-2 3.18.4.1.2.3): a string is single-quoted with an
 * embedded quote doubled ('O''Brien'); a list is parenthesised, comma
 * separated ('a','b'); white space around items and around the whole value
 * is ignored; a code is 'code^^scheme'; a time is an unquoted DTM of 4, 6,
 * 8, 10, 12 or 14 digits (UTC), From inclusive (>=), To exclusive (<).
 * Several Value elements in one slot are OR-ed; several slots of the same
 * name are AND-ed, allowed only for $XDSDocumentEntryEventCodeList,
 * $XDSDocumentEntryConfidentialityCode and $XDSFolderCodeList.
 *
 * Error codes:
 *   XDSUnknownStoredQuery      unknown or ITI-51 query id;
 *   XDSStoredQueryMissingParam a required parameter is absent, or none of
 *                              an exactly-one-of set is present;
 *   XDSStoredQueryParamNumber  a non-AND parameter in several slots, two
 *                              members of an exactly-one-of set, several
 *                              values for a single-valued parameter, a
 *                              slot without any value;
 *   XDSRegistryError           a malformed value (quoting, parentheses,
 *                              time, code, CX, status, UUID, objectType,
 *                              size limits). XDSRegistryMetadataError is
 *                              not allowed in ITI-18 (IPF #306).
 * Unknown parameters are ignored and reported as warnings. Messages name
 * the query, the parameter and the problem, never the value (which may be
 * a patient id).
 */
#ifndef ISN_SQ_H
#define ISN_SQ_H

#include <stddef.h>

#include "dbuf.h"

/* Limits on what a request may carry (all network-derived). */
#define SQ_MAX_SLOTS		256	/* slots in one AdhocQuery */
#define SQ_MAX_VALUES		1024	/* Value elements in one slot */
#define SQ_MAX_VALUE_LEN	65536	/* bytes in one Value */
#define SQ_MAX_ITEMS		4096	/* items of one parameter, all slots */

/* Error codes (xds.md §6). */
#define SQ_ERR_UNKNOWN_QUERY	"XDSUnknownStoredQuery"
#define SQ_ERR_MISSING_PARAM	"XDSStoredQueryMissingParam"
#define SQ_ERR_PARAM_NUMBER	"XDSStoredQueryParamNumber"
#define SQ_ERR_REGISTRY		"XDSRegistryError"

/* Value URNs a query may carry. */
#define SQ_STATUS_APPROVED	"urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
#define SQ_STATUS_DEPRECATED	"urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
#define SQ_STATUS_SUBMITTED	"urn:oasis:names:tc:ebxml-regrep:StatusType:Submitted"
#define SQ_STATUS_WITHDRAWN	"urn:oasis:names:tc:ebxml-regrep:StatusType:Withdrawn"
#define SQ_OBJTYPE_STABLE	"urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
#define SQ_OBJTYPE_ON_DEMAND	"urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248"

/* One rim:Slot of the AdhocQuery, as the XML layer hands it over. */
struct sq_slot {
	const char		*name;
	const char *const	*values;	/* rim:Value texts */
	size_t			 nvalues;
	long			 line;		/* 0 when unknown */
};

enum sq_kind {
	SQ_UNKNOWN = 0,
	SQ_FIND_DOCUMENTS,
	SQ_FIND_DOCUMENTS_BY_REFERENCE_ID,
	SQ_FIND_SUBMISSION_SETS,
	SQ_FIND_FOLDERS,
	SQ_GET_ALL,
	SQ_GET_DOCUMENTS,
	SQ_GET_FOLDERS,
	SQ_GET_ASSOCIATIONS,
	SQ_GET_DOCUMENTS_AND_ASSOCIATIONS,
	SQ_GET_SUBMISSION_SETS,
	SQ_GET_SUBMISSION_SET_AND_CONTENTS,
	SQ_GET_FOLDER_AND_CONTENTS,
	SQ_GET_FOLDERS_FOR_DOCUMENT,
	SQ_GET_RELATED_DOCUMENTS,
	SQ_FIND_DOCUMENTS_MPQ,		/* ITI-51: recognised, unsupported */
	SQ_FIND_FOLDERS_MPQ,		/* ITI-51: recognised, unsupported */
	SQ_NKINDS
};

/* Every parameter any of the queries knows. */
enum sq_param_id {
	SQ_P_DE_PATIENT_ID,
	SQ_P_DE_STATUS,
	SQ_P_DE_CLASS_CODE,
	SQ_P_DE_TYPE_CODE,
	SQ_P_DE_PRACTICE_SETTING_CODE,
	SQ_P_DE_CREATION_TIME_FROM,
	SQ_P_DE_CREATION_TIME_TO,
	SQ_P_DE_SERVICE_START_TIME_FROM,
	SQ_P_DE_SERVICE_START_TIME_TO,
	SQ_P_DE_SERVICE_STOP_TIME_FROM,
	SQ_P_DE_SERVICE_STOP_TIME_TO,
	SQ_P_DE_HEALTHCARE_FACILITY_TYPE_CODE,
	SQ_P_DE_EVENT_CODE_LIST,
	SQ_P_DE_CONFIDENTIALITY_CODE,
	SQ_P_DE_AUTHOR_PERSON,
	SQ_P_DE_FORMAT_CODE,
	SQ_P_DE_TYPE,
	SQ_P_DE_REFERENCE_ID_LIST,
	SQ_P_DE_ENTRY_UUID,
	SQ_P_DE_UNIQUE_ID,
	SQ_P_DE_LOGICAL_ID,
	SQ_P_SS_PATIENT_ID,
	SQ_P_SS_STATUS,
	SQ_P_SS_SOURCE_ID,
	SQ_P_SS_SUBMISSION_TIME_FROM,
	SQ_P_SS_SUBMISSION_TIME_TO,
	SQ_P_SS_AUTHOR_PERSON,
	SQ_P_SS_CONTENT_TYPE,
	SQ_P_SS_INTENDED_RECIPIENT,
	SQ_P_SS_ENTRY_UUID,
	SQ_P_SS_UNIQUE_ID,
	SQ_P_FOL_PATIENT_ID,
	SQ_P_FOL_STATUS,
	SQ_P_FOL_LAST_UPDATE_TIME_FROM,
	SQ_P_FOL_LAST_UPDATE_TIME_TO,
	SQ_P_FOL_CODE_LIST,
	SQ_P_FOL_ENTRY_UUID,
	SQ_P_FOL_UNIQUE_ID,
	SQ_P_FOL_LOGICAL_ID,
	SQ_P_PATIENT_ID,		/* $patientId (GetAll) */
	SQ_P_UUID,			/* $uuid */
	SQ_P_ASSOCIATION_TYPES,
	SQ_P_ASSOCIATION_STATUS,
	SQ_P_HOME_COMMUNITY_ID,
	SQ_P_METADATA_LEVEL,
	SQ_NPARAMS
};

/* How a parameter's items are typed. */
enum sq_type {
	SQ_T_STRING,	/* quoted string, kept verbatim (LIKE % _ kept) */
	SQ_T_CODE,	/* 'code^^scheme': value = code, scheme = scheme */
	SQ_T_TIME,	/* DTM digits; see sq_param_bound */
	SQ_T_STATUS,	/* an ebRS StatusType URN */
	SQ_T_UUID,	/* urn:uuid:, lower-cased */
	SQ_T_CX,	/* id^^^&OID&ISO: value = CX, scheme = the OID */
	SQ_T_OBJTYPE,	/* DocumentEntry objectType (stable/on-demand) */
	SQ_T_INT	/* unquoted small integer ($MetadataLevel) */
};

/* Comparison a time parameter means. */
enum sq_bound {
	SQ_BOUND_NONE,
	SQ_BOUND_FROM,	/* attribute >= value */
	SQ_BOUND_TO	/* attribute < value */
};

struct sq_item {
	char	*value;		/* unquoted, unescaped */
	char	*scheme;	/* SQ_T_CODE scheme, SQ_T_CX OID; else NULL */
};

struct sq_error {
	const char	*code;		/* an SQ_ERR_* string */
	char		*location;	/* parameter name or the query id */
	long		 line;		/* of the slot; 0 when unknown */
	char		*message;	/* for codeContext */
};

struct sq_query;
struct sq_param;

/*
 * Parse a stored query. Never NULL: check sq_nerrors. id may be NULL
 * (XDSUnknownStoredQuery). The slots are not kept.
 */
struct sq_query		*sq_parse(const char *id, const struct sq_slot *,
			    size_t nslots);
void			 sq_query_free(struct sq_query *);

enum sq_kind		 sq_query_kind(const struct sq_query *);
size_t			 sq_nerrors(const struct sq_query *);
const struct sq_error	*sq_error(const struct sq_query *, size_t);
size_t			 sq_nwarnings(const struct sq_query *);
const char		*sq_warning(const struct sq_query *, size_t);

/* Names and UUIDs of the queries; NULL for SQ_UNKNOWN / out of range. */
const char		*sq_query_name(enum sq_kind);
const char		*sq_query_uuid(enum sq_kind);
/* By UUID (case-insensitive); SQ_UNKNOWN when not one of the 16. */
enum sq_kind		 sq_query_lookup(const char *uuid);
/* The 14 ITI-18 queries: 1; ITI-51 and unknown: 0. */
int			 sq_query_supported(enum sq_kind);

/* Parameter names ("$XDSDocumentEntryPatientId") and types. */
const char		*sq_param_name(enum sq_param_id);
enum sq_type		 sq_param_type(enum sq_param_id);
enum sq_bound		 sq_param_bound(enum sq_param_id);
/* By name (exact, case-sensitive); -1 when unknown. */
int			 sq_param_lookup(const char *name);

/*
 * A parsed parameter, or NULL when the query did not carry it (and has no
 * default). Items are in groups: groups are AND-ed, the items within a
 * group OR-ed; only the AND-able parameters have more than one group.
 */
const struct sq_param	*sq_param_get(const struct sq_query *,
			    enum sq_param_id);
size_t			 sq_param_ngroups(const struct sq_param *);
size_t			 sq_param_nitems(const struct sq_param *, size_t group);
const struct sq_item	*sq_param_item(const struct sq_param *, size_t group,
			    size_t idx);
/* 1 if the value was not sent but defaulted ($XDSDocumentEntryType). */
int			 sq_param_defaulted(const struct sq_param *);
/* The first item's value of a parameter, or NULL when absent. */
const char		*sq_param_value(const struct sq_query *,
			    enum sq_param_id);

/*
 * A canonical text dump (golden tests, the validator): the query, each
 * parameter with its groups re-quoted, then warnings (if asked) and errors.
 */
int			 sq_dump(const struct sq_query *, struct dbuf *,
			    int warnings);

/* Builder: a query id plus slots with correct quoting. */
struct sq_build;

struct sq_build		*sq_build_new(enum sq_kind);
void			 sq_build_free(struct sq_build *);
/* One slot with one quoted value: 'v'. */
void			 sq_build_string(struct sq_build *, enum sq_param_id,
			    const char *);
/* One slot with a parenthesised list: ('a','b'). */
void			 sq_build_list(struct sq_build *, enum sq_param_id,
			    const char *const *, size_t);
/* One slot with a list of codes: ('c1^^s1','c2^^s2'). */
void			 sq_build_codes(struct sq_build *, enum sq_param_id,
			    const char *const *codes, const char *const *schemes,
			    size_t);
/* One slot with an unquoted value (times, $MetadataLevel). */
void			 sq_build_raw(struct sq_build *, enum sq_param_id,
			    const char *);
const char		*sq_build_id(const struct sq_build *);
/* The slots built so far; valid until the next sq_build_* call. */
const struct sq_slot	*sq_build_slots(struct sq_build *, size_t *nslots);

/* FindSubmissionSets for a patient; status NULL means Approved. */
struct sq_build		*sq_build_find_submission_sets(const char *patient_cx,
			    const char *status);
/* FindDocuments for a patient; status NULL means Approved. */
struct sq_build		*sq_build_find_documents(const char *patient_cx,
			    const char *status);
/* GetSubmissionSetAndContents by SubmissionSet entryUUID. */
struct sq_build		*sq_build_get_ss_and_contents(const char *uuid);
/* GetDocuments by entryUUIDs. */
struct sq_build		*sq_build_get_documents(const char *const *uuids,
			    size_t);
/*
 * The slots that re-parse to the same typed values as a parsed query
 * (defaulted parameters are left out); NULL for an unknown query.
 */
struct sq_build		*sq_build_from_query(const struct sq_query *);

#endif
