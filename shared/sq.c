/*
 * sq.c: ITI-18 stored-query parameters: parse slots into typed values by
 * the rules of each query, collect RegistryErrors, and build slots back.
 *
 * Choice of error code for malformed values: ITI TF-2 gives no code for a
 * badly encoded value, and XDSRegistryMetadataError is not allowed in an
 * ITI-18 response (IPF #306). XDSStoredQueryParamNumber means "a parameter
 * which only accepts a single value is coded with multiple values", so it
 * is kept for multiplicity (repeated slots, several values, two members of
 * an exactly-one-of set). A value that cannot be read (NIST's negatives
 * sq-req-bad-pid-format: an unquoted patient id; sq-req-bad-stat-format1:
 * a status outside ('...'); sq-req-bad-code: 'value^^' without a scheme;
 * IPF's iti18request.xml: a patient id whose quote is never closed, the
 * SQL injection attempt) is therefore XDSRegistryError, with a codeContext
 * naming the query, the parameter, the item and what is wrong. The values
 * are never echoed: a patient id is PHI and an attacker's text is noise.
 *
 * Nothing here builds SQL: values are unquoted and unescaped into plain
 * strings for the caller to bind.
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dbuf.h"
#include "sq.h"
#include "xmalloc.h"

/* Rule flags of a parameter within one query. */
#define SQ_F_REQ	0x01	/* required */
#define SQ_F_ONEOF	0x02	/* member of the query's exactly-one-of set */
#define SQ_F_LIST	0x04	/* a parenthesised list, else one value */
#define SQ_F_AND	0x08	/* may be repeated as AND terms */

struct sq_rule {
	enum sq_param_id	 id;
	int			 flags;
};

struct sq_def {
	const char		*name;
	const char		*uuid;
	const struct sq_rule	*rules;		/* ended by SQ_NPARAMS */
};

struct sq_pdef {
	const char	*name;
	enum sq_type	 type;
	enum sq_bound	 bound;
};

struct sq_group {
	struct sq_item	*items;
	size_t		 n;
};

struct sq_param {
	enum sq_param_id	 id;
	int			 flags;
	int			 defaulted;
	int			 bad;
	long			 line;
	size_t			 nslots;
	size_t			 total;
	struct sq_group		*groups;
	size_t			 ngroups;
};

struct sq_query {
	enum sq_kind		 kind;
	const struct sq_def	*def;
	struct sq_param		*params[SQ_NPARAMS];
	struct sq_error		*errors;
	size_t			 nerrors;
	char			**warnings;
	size_t			 nwarnings;
};

struct sq_bslot {
	char	*name;
	char	**values;
	size_t	 nvalues;
};

struct sq_build {
	enum sq_kind		 kind;
	struct sq_bslot		*own;
	struct sq_slot		*view;
	size_t			 n;
};

static const struct sq_pdef sq_pdefs[SQ_NPARAMS] = {
	[SQ_P_DE_PATIENT_ID] =
	    { "$XDSDocumentEntryPatientId", SQ_T_CX, SQ_BOUND_NONE },
	[SQ_P_DE_STATUS] =
	    { "$XDSDocumentEntryStatus", SQ_T_STATUS, SQ_BOUND_NONE },
	[SQ_P_DE_CLASS_CODE] =
	    { "$XDSDocumentEntryClassCode", SQ_T_CODE, SQ_BOUND_NONE },
	[SQ_P_DE_TYPE_CODE] =
	    { "$XDSDocumentEntryTypeCode", SQ_T_CODE, SQ_BOUND_NONE },
	[SQ_P_DE_PRACTICE_SETTING_CODE] =
	    { "$XDSDocumentEntryPracticeSettingCode", SQ_T_CODE,
	    SQ_BOUND_NONE },
	[SQ_P_DE_CREATION_TIME_FROM] =
	    { "$XDSDocumentEntryCreationTimeFrom", SQ_T_TIME, SQ_BOUND_FROM },
	[SQ_P_DE_CREATION_TIME_TO] =
	    { "$XDSDocumentEntryCreationTimeTo", SQ_T_TIME, SQ_BOUND_TO },
	[SQ_P_DE_SERVICE_START_TIME_FROM] =
	    { "$XDSDocumentEntryServiceStartTimeFrom", SQ_T_TIME,
	    SQ_BOUND_FROM },
	[SQ_P_DE_SERVICE_START_TIME_TO] =
	    { "$XDSDocumentEntryServiceStartTimeTo", SQ_T_TIME, SQ_BOUND_TO },
	[SQ_P_DE_SERVICE_STOP_TIME_FROM] =
	    { "$XDSDocumentEntryServiceStopTimeFrom", SQ_T_TIME,
	    SQ_BOUND_FROM },
	[SQ_P_DE_SERVICE_STOP_TIME_TO] =
	    { "$XDSDocumentEntryServiceStopTimeTo", SQ_T_TIME, SQ_BOUND_TO },
	[SQ_P_DE_HEALTHCARE_FACILITY_TYPE_CODE] =
	    { "$XDSDocumentEntryHealthcareFacilityTypeCode", SQ_T_CODE,
	    SQ_BOUND_NONE },
	[SQ_P_DE_EVENT_CODE_LIST] =
	    { "$XDSDocumentEntryEventCodeList", SQ_T_CODE, SQ_BOUND_NONE },
	[SQ_P_DE_CONFIDENTIALITY_CODE] =
	    { "$XDSDocumentEntryConfidentialityCode", SQ_T_CODE,
	    SQ_BOUND_NONE },
	[SQ_P_DE_AUTHOR_PERSON] =
	    { "$XDSDocumentEntryAuthorPerson", SQ_T_STRING, SQ_BOUND_NONE },
	[SQ_P_DE_FORMAT_CODE] =
	    { "$XDSDocumentEntryFormatCode", SQ_T_CODE, SQ_BOUND_NONE },
	[SQ_P_DE_TYPE] =
	    { "$XDSDocumentEntryType", SQ_T_OBJTYPE, SQ_BOUND_NONE },
	[SQ_P_DE_REFERENCE_ID_LIST] =
	    { "$XDSDocumentEntryReferenceIdList", SQ_T_STRING, SQ_BOUND_NONE },
	[SQ_P_DE_ENTRY_UUID] =
	    { "$XDSDocumentEntryEntryUUID", SQ_T_UUID, SQ_BOUND_NONE },
	[SQ_P_DE_UNIQUE_ID] =
	    { "$XDSDocumentEntryUniqueId", SQ_T_STRING, SQ_BOUND_NONE },
	[SQ_P_DE_LOGICAL_ID] =
	    { "$XDSDocumentEntryLogicalID", SQ_T_UUID, SQ_BOUND_NONE },
	[SQ_P_SS_PATIENT_ID] =
	    { "$XDSSubmissionSetPatientId", SQ_T_CX, SQ_BOUND_NONE },
	[SQ_P_SS_STATUS] =
	    { "$XDSSubmissionSetStatus", SQ_T_STATUS, SQ_BOUND_NONE },
	[SQ_P_SS_SOURCE_ID] =
	    { "$XDSSubmissionSetSourceId", SQ_T_STRING, SQ_BOUND_NONE },
	[SQ_P_SS_SUBMISSION_TIME_FROM] =
	    { "$XDSSubmissionSetSubmissionTimeFrom", SQ_T_TIME,
	    SQ_BOUND_FROM },
	[SQ_P_SS_SUBMISSION_TIME_TO] =
	    { "$XDSSubmissionSetSubmissionTimeTo", SQ_T_TIME, SQ_BOUND_TO },
	[SQ_P_SS_AUTHOR_PERSON] =
	    { "$XDSSubmissionSetAuthorPerson", SQ_T_STRING, SQ_BOUND_NONE },
	[SQ_P_SS_CONTENT_TYPE] =
	    { "$XDSSubmissionSetContentType", SQ_T_CODE, SQ_BOUND_NONE },
	[SQ_P_SS_INTENDED_RECIPIENT] =
	    { "$XDSSubmissionSetIntendedRecipient", SQ_T_STRING,
	    SQ_BOUND_NONE },
	[SQ_P_SS_ENTRY_UUID] =
	    { "$XDSSubmissionSetEntryUUID", SQ_T_UUID, SQ_BOUND_NONE },
	[SQ_P_SS_UNIQUE_ID] =
	    { "$XDSSubmissionSetUniqueId", SQ_T_STRING, SQ_BOUND_NONE },
	[SQ_P_FOL_PATIENT_ID] =
	    { "$XDSFolderPatientId", SQ_T_CX, SQ_BOUND_NONE },
	[SQ_P_FOL_STATUS] =
	    { "$XDSFolderStatus", SQ_T_STATUS, SQ_BOUND_NONE },
	[SQ_P_FOL_LAST_UPDATE_TIME_FROM] =
	    { "$XDSFolderLastUpdateTimeFrom", SQ_T_TIME, SQ_BOUND_FROM },
	[SQ_P_FOL_LAST_UPDATE_TIME_TO] =
	    { "$XDSFolderLastUpdateTimeTo", SQ_T_TIME, SQ_BOUND_TO },
	[SQ_P_FOL_CODE_LIST] =
	    { "$XDSFolderCodeList", SQ_T_CODE, SQ_BOUND_NONE },
	[SQ_P_FOL_ENTRY_UUID] =
	    { "$XDSFolderEntryUUID", SQ_T_UUID, SQ_BOUND_NONE },
	[SQ_P_FOL_UNIQUE_ID] =
	    { "$XDSFolderUniqueId", SQ_T_STRING, SQ_BOUND_NONE },
	[SQ_P_FOL_LOGICAL_ID] =
	    { "$XDSFolderLogicalID", SQ_T_UUID, SQ_BOUND_NONE },
	[SQ_P_PATIENT_ID] =
	    { "$patientId", SQ_T_CX, SQ_BOUND_NONE },
	[SQ_P_UUID] =
	    { "$uuid", SQ_T_UUID, SQ_BOUND_NONE },
	[SQ_P_ASSOCIATION_TYPES] =
	    { "$AssociationTypes", SQ_T_STRING, SQ_BOUND_NONE },
	[SQ_P_ASSOCIATION_STATUS] =
	    { "$XDSAssociationStatus", SQ_T_STATUS, SQ_BOUND_NONE },
	[SQ_P_HOME_COMMUNITY_ID] =
	    { "$homeCommunityId", SQ_T_STRING, SQ_BOUND_NONE },
	[SQ_P_METADATA_LEVEL] =
	    { "$MetadataLevel", SQ_T_INT, SQ_BOUND_NONE },
};

#define SQ_RULE_END	{ SQ_NPARAMS, 0 }
#define SQ_L		SQ_F_LIST
#define SQ_LA		(SQ_F_LIST | SQ_F_AND)

/* The FindDocuments optional parameters (shared with ByReferenceId). */
#define SQ_FIND_DOCUMENTS_OPTIONAL					\
	{ SQ_P_DE_CLASS_CODE, SQ_L },					\
	{ SQ_P_DE_TYPE_CODE, SQ_L },					\
	{ SQ_P_DE_PRACTICE_SETTING_CODE, SQ_L },			\
	{ SQ_P_DE_CREATION_TIME_FROM, 0 },				\
	{ SQ_P_DE_CREATION_TIME_TO, 0 },				\
	{ SQ_P_DE_SERVICE_START_TIME_FROM, 0 },				\
	{ SQ_P_DE_SERVICE_START_TIME_TO, 0 },				\
	{ SQ_P_DE_SERVICE_STOP_TIME_FROM, 0 },				\
	{ SQ_P_DE_SERVICE_STOP_TIME_TO, 0 },				\
	{ SQ_P_DE_HEALTHCARE_FACILITY_TYPE_CODE, SQ_L },		\
	{ SQ_P_DE_EVENT_CODE_LIST, SQ_LA },				\
	{ SQ_P_DE_CONFIDENTIALITY_CODE, SQ_LA },			\
	{ SQ_P_DE_AUTHOR_PERSON, SQ_L },				\
	{ SQ_P_DE_FORMAT_CODE, SQ_L },					\
	{ SQ_P_DE_TYPE, SQ_L }

static const struct sq_rule sq_r_find_documents[] = {
	{ SQ_P_DE_PATIENT_ID, SQ_F_REQ },
	{ SQ_P_DE_STATUS, SQ_F_REQ | SQ_L },
	SQ_FIND_DOCUMENTS_OPTIONAL,
	SQ_RULE_END
};
static const struct sq_rule sq_r_find_documents_by_ref[] = {
	{ SQ_P_DE_PATIENT_ID, SQ_F_REQ },
	{ SQ_P_DE_STATUS, SQ_F_REQ | SQ_L },
	{ SQ_P_DE_REFERENCE_ID_LIST, SQ_F_REQ | SQ_L },
	SQ_FIND_DOCUMENTS_OPTIONAL,
	SQ_RULE_END
};
static const struct sq_rule sq_r_find_submission_sets[] = {
	{ SQ_P_SS_PATIENT_ID, SQ_F_REQ },
	{ SQ_P_SS_STATUS, SQ_F_REQ | SQ_L },
	{ SQ_P_SS_SOURCE_ID, SQ_L },
	{ SQ_P_SS_SUBMISSION_TIME_FROM, 0 },
	{ SQ_P_SS_SUBMISSION_TIME_TO, 0 },
	{ SQ_P_SS_AUTHOR_PERSON, 0 },
	{ SQ_P_SS_CONTENT_TYPE, SQ_L },
	{ SQ_P_SS_INTENDED_RECIPIENT, SQ_L },
	SQ_RULE_END
};
static const struct sq_rule sq_r_find_folders[] = {
	{ SQ_P_FOL_PATIENT_ID, SQ_F_REQ },
	{ SQ_P_FOL_STATUS, SQ_F_REQ | SQ_L },
	{ SQ_P_FOL_LAST_UPDATE_TIME_FROM, 0 },
	{ SQ_P_FOL_LAST_UPDATE_TIME_TO, 0 },
	{ SQ_P_FOL_CODE_LIST, SQ_LA },
	SQ_RULE_END
};
static const struct sq_rule sq_r_get_all[] = {
	{ SQ_P_PATIENT_ID, SQ_F_REQ },
	{ SQ_P_DE_STATUS, SQ_F_REQ | SQ_L },
	{ SQ_P_SS_STATUS, SQ_F_REQ | SQ_L },
	{ SQ_P_FOL_STATUS, SQ_F_REQ | SQ_L },
	{ SQ_P_DE_FORMAT_CODE, SQ_L },
	{ SQ_P_DE_CONFIDENTIALITY_CODE, SQ_LA },
	{ SQ_P_DE_TYPE, SQ_L },
	SQ_RULE_END
};
static const struct sq_rule sq_r_get_documents[] = {
	{ SQ_P_DE_ENTRY_UUID, SQ_F_ONEOF | SQ_L },
	{ SQ_P_DE_UNIQUE_ID, SQ_F_ONEOF | SQ_L },
	{ SQ_P_DE_LOGICAL_ID, SQ_F_ONEOF | SQ_L },
	{ SQ_P_HOME_COMMUNITY_ID, 0 },
	{ SQ_P_METADATA_LEVEL, 0 },
	SQ_RULE_END
};
static const struct sq_rule sq_r_get_folders[] = {
	{ SQ_P_FOL_ENTRY_UUID, SQ_F_ONEOF | SQ_L },
	{ SQ_P_FOL_UNIQUE_ID, SQ_F_ONEOF | SQ_L },
	{ SQ_P_FOL_LOGICAL_ID, SQ_F_ONEOF | SQ_L },
	{ SQ_P_HOME_COMMUNITY_ID, 0 },
	SQ_RULE_END
};
static const struct sq_rule sq_r_uuid_list[] = {
	{ SQ_P_UUID, SQ_F_REQ | SQ_L },
	{ SQ_P_HOME_COMMUNITY_ID, 0 },
	SQ_RULE_END
};
static const struct sq_rule sq_r_get_docs_and_assocs[] = {
	{ SQ_P_DE_ENTRY_UUID, SQ_F_ONEOF | SQ_L },
	{ SQ_P_DE_UNIQUE_ID, SQ_F_ONEOF | SQ_L },
	{ SQ_P_HOME_COMMUNITY_ID, 0 },
	SQ_RULE_END
};
static const struct sq_rule sq_r_get_ss_and_contents[] = {
	{ SQ_P_SS_ENTRY_UUID, SQ_F_ONEOF },
	{ SQ_P_SS_UNIQUE_ID, SQ_F_ONEOF },
	{ SQ_P_DE_FORMAT_CODE, SQ_L },
	{ SQ_P_DE_CONFIDENTIALITY_CODE, SQ_LA },
	{ SQ_P_DE_TYPE, SQ_L },
	{ SQ_P_HOME_COMMUNITY_ID, 0 },
	SQ_RULE_END
};
static const struct sq_rule sq_r_get_folder_and_contents[] = {
	{ SQ_P_FOL_ENTRY_UUID, SQ_F_ONEOF },
	{ SQ_P_FOL_UNIQUE_ID, SQ_F_ONEOF },
	{ SQ_P_DE_FORMAT_CODE, SQ_L },
	{ SQ_P_DE_CONFIDENTIALITY_CODE, SQ_LA },
	{ SQ_P_DE_TYPE, SQ_L },
	{ SQ_P_ASSOCIATION_STATUS, SQ_L },
	{ SQ_P_HOME_COMMUNITY_ID, 0 },
	SQ_RULE_END
};
static const struct sq_rule sq_r_get_folders_for_document[] = {
	{ SQ_P_DE_ENTRY_UUID, SQ_F_ONEOF },
	{ SQ_P_DE_UNIQUE_ID, SQ_F_ONEOF },
	{ SQ_P_HOME_COMMUNITY_ID, 0 },
	SQ_RULE_END
};
static const struct sq_rule sq_r_get_related_documents[] = {
	{ SQ_P_DE_ENTRY_UUID, SQ_F_ONEOF },
	{ SQ_P_DE_UNIQUE_ID, SQ_F_ONEOF },
	{ SQ_P_ASSOCIATION_TYPES, SQ_F_REQ | SQ_L },
	{ SQ_P_DE_TYPE, SQ_L },
	{ SQ_P_HOME_COMMUNITY_ID, 0 },
	SQ_RULE_END
};
static const struct sq_rule sq_r_none[] = {
	SQ_RULE_END
};

static const struct sq_def sq_defs[SQ_NKINDS] = {
	[SQ_UNKNOWN] = { NULL, NULL, sq_r_none },
	[SQ_FIND_DOCUMENTS] = { "FindDocuments",
	    "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d",
	    sq_r_find_documents },
	[SQ_FIND_DOCUMENTS_BY_REFERENCE_ID] = { "FindDocumentsByReferenceId",
	    "urn:uuid:12941a89-e02e-4be5-967c-ce4bfc8fe492",
	    sq_r_find_documents_by_ref },
	[SQ_FIND_SUBMISSION_SETS] = { "FindSubmissionSets",
	    "urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9",
	    sq_r_find_submission_sets },
	[SQ_FIND_FOLDERS] = { "FindFolders",
	    "urn:uuid:958f3006-baad-4929-a4de-ff1114824431",
	    sq_r_find_folders },
	[SQ_GET_ALL] = { "GetAll",
	    "urn:uuid:10b545ea-725c-446d-9b95-8aeb444eddf3", sq_r_get_all },
	[SQ_GET_DOCUMENTS] = { "GetDocuments",
	    "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4",
	    sq_r_get_documents },
	[SQ_GET_FOLDERS] = { "GetFolders",
	    "urn:uuid:5737b14c-8a1a-4539-b659-e03a34a5e1e4",
	    sq_r_get_folders },
	[SQ_GET_ASSOCIATIONS] = { "GetAssociations",
	    "urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155", sq_r_uuid_list },
	[SQ_GET_DOCUMENTS_AND_ASSOCIATIONS] = { "GetDocumentsAndAssociations",
	    "urn:uuid:bab9529a-4a10-40b3-a01f-f68a615d247a",
	    sq_r_get_docs_and_assocs },
	[SQ_GET_SUBMISSION_SETS] = { "GetSubmissionSets",
	    "urn:uuid:51224314-5390-4169-9b91-b1980040715a", sq_r_uuid_list },
	[SQ_GET_SUBMISSION_SET_AND_CONTENTS] = { "GetSubmissionSetAndContents",
	    "urn:uuid:e8e3cb2c-e39c-46b9-99e4-c12f57260b83",
	    sq_r_get_ss_and_contents },
	[SQ_GET_FOLDER_AND_CONTENTS] = { "GetFolderAndContents",
	    "urn:uuid:b909a503-523d-4517-8acf-8e5834dfc4c7",
	    sq_r_get_folder_and_contents },
	[SQ_GET_FOLDERS_FOR_DOCUMENT] = { "GetFoldersForDocument",
	    "urn:uuid:10cae35a-c7f9-4cf5-b61e-fc3278ffb578",
	    sq_r_get_folders_for_document },
	[SQ_GET_RELATED_DOCUMENTS] = { "GetRelatedDocuments",
	    "urn:uuid:d90e5407-b356-4d91-a89f-873917b4b0e6",
	    sq_r_get_related_documents },
	[SQ_FIND_DOCUMENTS_MPQ] = { "FindDocumentsForMultiplePatients",
	    "urn:uuid:3d1bdb10-39a2-11de-89c2-2f44d94eaa9f", sq_r_none },
	[SQ_FIND_FOLDERS_MPQ] = { "FindFoldersForMultiplePatients",
	    "urn:uuid:50d3f5ac-39a2-11de-a1ca-b366239e58df", sq_r_none },
};

static const char *const sq_statuses[] = {
	SQ_STATUS_APPROVED, SQ_STATUS_DEPRECATED, SQ_STATUS_SUBMITTED,
	SQ_STATUS_WITHDRAWN
};

static const char *const sq_type_names[] = {
	[SQ_T_STRING] = "string",
	[SQ_T_CODE] = "code",
	[SQ_T_TIME] = "time",
	[SQ_T_STATUS] = "status",
	[SQ_T_UUID] = "uuid",
	[SQ_T_CX] = "cx",
	[SQ_T_OBJTYPE] = "objecttype",
	[SQ_T_INT] = "int",
};

/* Query name by kind, for callers and messages. */
const char *
sq_query_name(enum sq_kind kind)
{
	if ((int)kind <= SQ_UNKNOWN || kind >= SQ_NKINDS)
		return (NULL);
	return (sq_defs[kind].name);
}

/* Query UUID by kind. */
const char *
sq_query_uuid(enum sq_kind kind)
{
	if ((int)kind <= SQ_UNKNOWN || kind >= SQ_NKINDS)
		return (NULL);
	return (sq_defs[kind].uuid);
}

/* The AdhocQuery id decides everything else. */
enum sq_kind
sq_query_lookup(const char *uuid)
{
	int	k;

	if (uuid == NULL)
		return (SQ_UNKNOWN);
	for (k = SQ_UNKNOWN + 1; k < SQ_NKINDS; k++) {
		if (strcasecmp(uuid, sq_defs[k].uuid) == 0)
			return ((enum sq_kind)k);
	}
	return (SQ_UNKNOWN);
}

/* ITI-51 queries are known but this registry does not answer them. */
int
sq_query_supported(enum sq_kind kind)
{
	return (kind > SQ_UNKNOWN && kind < SQ_FIND_DOCUMENTS_MPQ);
}

/* Parameter name by id. */
const char *
sq_param_name(enum sq_param_id id)
{
	if ((int)id < 0 || id >= SQ_NPARAMS)
		return (NULL);
	return (sq_pdefs[id].name);
}

/* Parameter type by id. */
enum sq_type
sq_param_type(enum sq_param_id id)
{
	if ((int)id < 0 || id >= SQ_NPARAMS)
		return (SQ_T_STRING);
	return (sq_pdefs[id].type);
}

/* From/To semantics of a time parameter. */
enum sq_bound
sq_param_bound(enum sq_param_id id)
{
	if ((int)id < 0 || id >= SQ_NPARAMS)
		return (SQ_BOUND_NONE);
	return (sq_pdefs[id].bound);
}

/* Parameter id by slot name. */
int
sq_param_lookup(const char *name)
{
	int	i;

	if (name == NULL)
		return (-1);
	for (i = 0; i < SQ_NPARAMS; i++) {
		if (strcmp(name, sq_pdefs[i].name) == 0)
			return (i);
	}
	return (-1);
}

/* The rule of a parameter in a query, or NULL when it takes no such. */
static const struct sq_rule *
sq_rule_find(const struct sq_def *def, enum sq_param_id id)
{
	const struct sq_rule	*r;

	for (r = def->rules; r->id != SQ_NPARAMS; r++) {
		if (r->id == id)
			return (r);
	}
	return (NULL);
}

/*
 * Names from the wire go into messages only when short and printable; the
 * result is static storage or the name itself.
 */
static const char *
sq_safe_name(const char *name)
{
	size_t	i;

	if (name == NULL || *name == '\0')
		return ("(no name)");
	for (i = 0; name[i] != '\0'; i++) {
		if (i >= 64 || name[i] < 0x21 || name[i] > 0x7e)
			return ("(unprintable name)");
	}
	return (name);
}

/* Append an error. */
static void printflike(5, 6)
sq_error_add(struct sq_query *q, const char *code, const char *location,
    long line, const char *fmt, ...)
{
	struct sq_error	*e;
	va_list		 ap;

	q->errors = xreallocarray(q->errors, q->nerrors + 1,
	    sizeof(*q->errors));
	e = &q->errors[q->nerrors++];
	e->code = code;
	e->location = xstrdup(location);
	e->line = line;
	va_start(ap, fmt);
	xvasprintf(&e->message, fmt, ap);
	va_end(ap);
}

/* Append a warning. */
static void printflike(2, 3)
sq_warning_add(struct sq_query *q, const char *fmt, ...)
{
	va_list	ap;

	q->warnings = xreallocarray(q->warnings, q->nwarnings + 1,
	    sizeof(*q->warnings));
	va_start(ap, fmt);
	xvasprintf(&q->warnings[q->nwarnings++], fmt, ap);
	va_end(ap);
}

/* Release the items of a parameter. */
static void
sq_param_free(struct sq_param *p)
{
	size_t	g, i;

	if (p == NULL)
		return;
	for (g = 0; g < p->ngroups; g++) {
		for (i = 0; i < p->groups[g].n; i++) {
			free(p->groups[g].items[i].value);
			free(p->groups[g].items[i].scheme);
		}
		free(p->groups[g].items);
	}
	free(p->groups);
	free(p);
}

/* Release a parsed query. */
void
sq_query_free(struct sq_query *q)
{
	size_t	i;

	if (q == NULL)
		return;
	for (i = 0; i < SQ_NPARAMS; i++)
		sq_param_free(q->params[i]);
	for (i = 0; i < q->nerrors; i++) {
		free(q->errors[i].location);
		free(q->errors[i].message);
	}
	free(q->errors);
	for (i = 0; i < q->nwarnings; i++)
		free(q->warnings[i]);
	free(q->warnings);
	free(q);
}

/* White space allowed around items (XML text may carry newlines). */
static int
sq_isspace(char c)
{
	return (c == ' ' || c == '\t' || c == '\r' || c == '\n');
}

/* Past any white space. */
static const char *
sq_skipws(const char *p)
{
	while (sq_isspace(*p))
		p++;
	return (p);
}

/*
 * Read a quoted string at *pp (which points at the opening quote): ''
 * stands for one quote. The unescaped text is returned allocated; NULL and
 * *why when the closing quote is missing.
 */
static char *
sq_lex_quoted(const char **pp, const char **why)
{
	const char	*p = *pp + 1;
	struct dbuf	 b;

	dbuf_init(&b, SQ_MAX_VALUE_LEN);
	for (;;) {
		if (*p == '\0') {
			dbuf_free(&b);
			*why = "unbalanced quote: the closing ' is missing";
			return (NULL);
		}
		if (*p == '\'') {
			if (p[1] != '\'')
				break;
			p++;
		}
		if (dbuf_addc(&b, *p) == -1) {
			dbuf_free(&b);
			*why = "value too long";
			return (NULL);
		}
		p++;
	}
	*pp = p + 1;
	if (b.data == NULL)
		return (xstrdup(""));
	return (dbuf_take(&b, NULL));
}

/* An OID: digits separated by single dots, no leading zeros, <= 64. */
static int
sq_valid_oid(const char *s, size_t len)
{
	size_t	i, start = 0;

	if (len == 0 || len > 64)
		return (0);
	for (i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (i == start)
				return (0);
			if (s[start] == '0' && i - start > 1)
				return (0);
			start = i + 1;
		} else if (!isdigit((unsigned char)s[i]))
			return (0);
	}
	return (1);
}

/*
 * A patient id CX: id^^^&OID&ISO, the id non-empty and free of
 * separators, no other components, no namespace id, type ISO. Sets the
 * OID; NULL on success, else the reason.
 */
static const char *
sq_check_cx(const char *v, char **oid)
{
	const char	*hat, *hd, *amp2;

	if ((hat = strchr(v, '^')) == NULL)
		return ("patient id is not a CX (id^^^&OID&ISO)");
	if (hat == v)
		return ("patient id has an empty id component");
	if (memchr(v, '&', (size_t)(hat - v)) != NULL)
		return ("patient id component contains '&'");
	if (strncmp(hat, "^^^", 3) != 0)
		return ("patient id must have only id and assigning "
		    "authority components (id^^^&OID&ISO)");
	hd = hat + 3;
	if (strchr(hd, '^') != NULL)
		return ("patient id has components after the assigning "
		    "authority");
	if (*hd != '&')
		return ("patient id assigning authority must not have a "
		    "namespace id (&OID&ISO)");
	if ((amp2 = strchr(hd + 1, '&')) == NULL)
		return ("patient id assigning authority lacks the universal "
		    "id type ISO");
	if (!sq_valid_oid(hd + 1, (size_t)(amp2 - hd - 1)))
		return ("patient id assigning authority is not an OID");
	if (strcmp(amp2 + 1, "ISO") != 0)
		return ("patient id assigning authority type is not ISO");
	*oid = xstrndup(hd + 1, (size_t)(amp2 - hd - 1));
	return (NULL);
}

/* Gregorian leap year, for 29 February. */
static int
sq_leap(int y)
{
	return ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0);
}

/* A DTM: YYYY[MM[DD[hh[mm[ss]]]]], each part in range. */
static const char *
sq_check_time(const char *v)
{
	static const int	 mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30,
				    31, 30, 31 };
	size_t			 len = strlen(v), i;
	int			 part[7], y, m = 1;

	if (len == 0)
		return ("time is empty");
	for (i = 0; i < len; i++) {
		if (!isdigit((unsigned char)v[i]))
			return ("time is not a number "
			    "(YYYY[MM[DD[hh[mm[ss]]]]] expected)");
	}
	if (len < 4 || len > 14 || len % 2 != 0)
		return ("time must have 4, 6, 8, 10, 12 or 14 digits");
	y = (v[0] - '0') * 1000 + (v[1] - '0') * 100 + (v[2] - '0') * 10 +
	    (v[3] - '0');
	for (i = 4; i < len; i += 2)
		part[i / 2] = (v[i] - '0') * 10 + (v[i + 1] - '0');
	if (len >= 6) {
		m = part[2];
		if (m < 1 || m > 12)
			return ("time has a month out of range");
	}
	if (len >= 8 && (part[3] < 1 || part[3] > mdays[m - 1] +
	    (m == 2 && sq_leap(y))))
		return ("time has a day out of range");
	if (len >= 10 && part[4] > 23)
		return ("time has an hour out of range");
	if (len >= 12 && part[5] > 59)
		return ("time has a minute out of range");
	if (len >= 14 && part[6] > 59)
		return ("time has a second out of range");
	return (NULL);
}

/* urn:uuid: and 8-4-4-4-12 hex digits; lower-cases in place. */
static const char *
sq_check_uuid(char *v)
{
	size_t	i;
	char	*u;

	if (strncasecmp(v, "urn:uuid:", 9) != 0)
		return ("value is not a urn:uuid:");
	u = v + 9;
	if (strlen(u) != 36)
		return ("value is not a well-formed urn:uuid:");
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (u[i] != '-')
				return ("value is not a well-formed urn:uuid:");
		} else if (!isxdigit((unsigned char)u[i]))
			return ("value is not a well-formed urn:uuid:");
	}
	for (i = 0; v[i] != '\0'; i++)
		v[i] = (char)tolower((unsigned char)v[i]);
	return (NULL);
}

/*
 * Check and type one unquoted item; fills it (taking v) or returns the
 * reason (v untouched). *warn is set for accepted oddities.
 */
static const char *
sq_item_make(enum sq_type type, char *v, struct sq_item *it,
    const char **warn)
{
	const char	*why, *c1, *c2;
	char		*oid = NULL;
	size_t		 i;

	if (*v == '\0')
		return ("value is empty");
	for (i = 0; v[i] != '\0'; i++) {
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return ("value contains a control character");
	}
	it->scheme = NULL;
	switch (type) {
	case SQ_T_STRING:
		break;
	case SQ_T_CODE:
		if ((c1 = strchr(v, '^')) == NULL ||
		    (c2 = strchr(c1 + 1, '^')) == NULL)
			return ("code is not code^^scheme");
		if (c1 == v)
			return ("code^^scheme has an empty code");
		if (c2[1] == '\0')
			return ("code^^scheme has an empty scheme");
		if (strchr(c2 + 1, '^') != NULL)
			return ("code^^scheme has too many components");
		if (c2 != c1 + 1)
			*warn = "display name in code^display^scheme ignored";
		it->scheme = xstrdup(c2 + 1);
		v[c1 - v] = '\0';
		break;
	case SQ_T_TIME:
		if ((why = sq_check_time(v)) != NULL)
			return (why);
		break;
	case SQ_T_STATUS:
		for (i = 0; i < sizeof(sq_statuses) / sizeof(*sq_statuses);
		    i++) {
			if (strcmp(v, sq_statuses[i]) == 0)
				break;
		}
		if (i == sizeof(sq_statuses) / sizeof(*sq_statuses))
			return ("value is not a known StatusType URN");
		break;
	case SQ_T_UUID:
		if ((why = sq_check_uuid(v)) != NULL)
			return (why);
		break;
	case SQ_T_CX:
		if ((why = sq_check_cx(v, &oid)) != NULL)
			return (why);
		it->scheme = oid;
		break;
	case SQ_T_OBJTYPE:
		if (sq_check_uuid(v) != NULL ||
		    (strcmp(v, SQ_OBJTYPE_STABLE) != 0 &&
		    strcmp(v, SQ_OBJTYPE_ON_DEMAND) != 0))
			return ("value is not a DocumentEntry objectType "
			    "(stable or on-demand UUID)");
		break;
	case SQ_T_INT:
		if (strcmp(v, "1") != 0 && strcmp(v, "2") != 0)
			return ("value must be 1 or 2");
		break;
	}
	it->value = v;
	return (NULL);
}

/* The raw items of one Value, before typing. */
struct sq_raw {
	char	**v;
	size_t	  n;
	int	  list;		/* it was parenthesised */
	int	  quoted;	/* a single item, quoted */
};

/* Release raw items not handed over to typed items. */
static void
sq_raw_free(struct sq_raw *r)
{
	size_t	i;

	for (i = 0; i < r->n; i++)
		free(r->v[i]);
	free(r->v);
	r->v = NULL;
	r->n = 0;
}

/* Append a raw item (taken). */
static void
sq_raw_add(struct sq_raw *r, char *s)
{
	r->v = xreallocarray(r->v, r->n + 1, sizeof(*r->v));
	r->v[r->n++] = s;
}

/*
 * Split one Value into raw items: ('a', 'b') or 'a' or a bare token (for
 * numbers). The reason on error; *itemno tells which item, 0 for none.
 */
static const char *
sq_lex_value(const char *value, struct sq_raw *r, size_t *itemno)
{
	const char	*p = sq_skipws(value), *why, *start;
	char		*s;

	*itemno = 0;
	if (*p == '\0')
		return ("value is empty");
	if (*p == '(') {
		r->list = 1;
		p = sq_skipws(p + 1);
		if (*p == ')')
			return ("list is empty");
		for (;;) {
			*itemno = r->n + 1;
			if (*p == '\0')
				return ("unbalanced parentheses: the closing "
				    ") is missing");
			if (*p != '\'')
				return ("list item is not quoted");
			if ((s = sq_lex_quoted(&p, &why)) == NULL)
				return (why);
			sq_raw_add(r, s);
			if (r->n > SQ_MAX_ITEMS)
				return ("too many items in the list");
			p = sq_skipws(p);
			if (*p == ',') {
				p = sq_skipws(p + 1);
				continue;
			}
			if (*p == ')')
				break;
			if (*p == '\0')
				return ("unbalanced parentheses: the closing "
				    ") is missing");
			return ("unexpected text after a list item "
			    "(',' or ')' expected)");
		}
		*itemno = 0;
		p = sq_skipws(p + 1);
		if (*p != '\0')
			return ("unexpected text after the closing )");
		return (NULL);
	}
	if (*p == '\'') {
		r->quoted = 1;
		if ((s = sq_lex_quoted(&p, &why)) == NULL)
			return (why);
		sq_raw_add(r, s);
		p = sq_skipws(p);
		if (*p != '\0')
			return ("unexpected text after the closing quote");
		return (NULL);
	}
	if (*p == ')')
		return ("unbalanced parentheses: ) without (");
	start = p;
	while (*p != '\0' && !sq_isspace(*p))
		p++;
	sq_raw_add(r, xstrndup(start, (size_t)(p - start)));
	if (*sq_skipws(p) != '\0')
		return ("unquoted value contains white space");
	return (NULL);
}

/* The group a slot's values go into: a new one per slot. */
static struct sq_group *
sq_group_new(struct sq_param *p)
{
	p->groups = xreallocarray(p->groups, p->ngroups + 1,
	    sizeof(*p->groups));
	p->groups[p->ngroups].items = NULL;
	p->groups[p->ngroups].n = 0;
	return (&p->groups[p->ngroups++]);
}

/*
 * Parse one slot's values into a group of p. 0, or -1 after an error was
 * recorded (the rest of the slot is then skipped).
 */
static int
sq_slot_values(struct sq_query *q, struct sq_param *p,
    const struct sq_slot *slot)
{
	const struct sq_pdef	*pd = &sq_pdefs[p->id];
	const char		*qn = q->def->name, *why, *warn;
	struct sq_group		*g;
	struct sq_raw		 r;
	struct sq_item		 it;
	size_t			 i, j, itemno;
	int			 numeric;

	numeric = pd->type == SQ_T_TIME || pd->type == SQ_T_INT;
	if (slot->nvalues == 0) {
		sq_error_add(q, SQ_ERR_PARAM_NUMBER, pd->name, slot->line,
		    "%s: %s has no value", qn, pd->name);
		return (-1);
	}
	if (slot->nvalues > SQ_MAX_VALUES) {
		sq_error_add(q, SQ_ERR_REGISTRY, pd->name, slot->line,
		    "%s: %s has more than %d values", qn, pd->name,
		    SQ_MAX_VALUES);
		return (-1);
	}
	if (!(p->flags & SQ_F_LIST) && slot->nvalues > 1) {
		sq_error_add(q, SQ_ERR_PARAM_NUMBER, pd->name, slot->line,
		    "%s: %s takes a single value, %zu values given", qn,
		    pd->name, slot->nvalues);
		return (-1);
	}
	g = sq_group_new(p);
	for (i = 0; i < slot->nvalues; i++) {
		memset(&r, 0, sizeof(r));
		itemno = 0;
		if (slot->values[i] == NULL)
			why = "value is empty";
		else if (strlen(slot->values[i]) > SQ_MAX_VALUE_LEN)
			why = "value too long";
		else
			why = sq_lex_value(slot->values[i], &r, &itemno);
		if (why == NULL && (p->flags & SQ_F_LIST) && !r.list) {
			why = r.quoted ? "a list must be in parentheses "
			    "('...')" : "value is not a quoted list ('...')";
		}
		if (why == NULL && !(p->flags & SQ_F_LIST)) {
			if (r.list && r.n > 1) {
				sq_error_add(q, SQ_ERR_PARAM_NUMBER, pd->name,
				    slot->line, "%s: %s takes a single value, "
				    "a list of %zu given", qn, pd->name, r.n);
				sq_raw_free(&r);
				return (-1);
			}
			if (r.list)
				sq_warning_add(q, "line %ld: %s: %s: single "
				    "value given as a one-item list", slot->line,
				    qn, pd->name);
			else if (numeric && r.quoted)
				sq_warning_add(q, "line %ld: %s: %s: number "
				    "given in quotes", slot->line, qn, pd->name);
			else if (!numeric && !r.quoted)
				why = "value is not quoted ('...')";
		}
		if (why != NULL) {
			if (itemno > 0)
				sq_error_add(q, SQ_ERR_REGISTRY, pd->name,
				    slot->line, "%s: %s: value %zu, item %zu: "
				    "%s", qn, pd->name, i + 1, itemno, why);
			else
				sq_error_add(q, SQ_ERR_REGISTRY, pd->name,
				    slot->line, "%s: %s: value %zu: %s", qn,
				    pd->name, i + 1, why);
			sq_raw_free(&r);
			return (-1);
		}
		if (p->total + r.n > SQ_MAX_ITEMS) {
			sq_error_add(q, SQ_ERR_REGISTRY, pd->name, slot->line,
			    "%s: %s has more than %d items", qn, pd->name,
			    SQ_MAX_ITEMS);
			sq_raw_free(&r);
			return (-1);
		}
		for (j = 0; j < r.n; j++) {
			warn = NULL;
			if ((why = sq_item_make(pd->type, r.v[j], &it,
			    &warn)) != NULL) {
				sq_error_add(q, SQ_ERR_REGISTRY, pd->name,
				    slot->line, "%s: %s: value %zu, item %zu: "
				    "%s", qn, pd->name, i + 1, j + 1, why);
				sq_raw_free(&r);
				return (-1);
			}
			if (warn != NULL)
				sq_warning_add(q, "line %ld: %s: %s: %s",
				    slot->line, qn, pd->name, warn);
			r.v[j] = NULL;
			g->items = xreallocarray(g->items, g->n + 1,
			    sizeof(*g->items));
			g->items[g->n++] = it;
			p->total++;
		}
		sq_raw_free(&r);
	}
	return (0);
}

/* One slot: find its rule, check repetition, parse its values. */
static void
sq_slot(struct sq_query *q, const struct sq_slot *slot)
{
	const struct sq_rule	*rule = NULL;
	struct sq_param		*p;
	int			 id;

	if ((id = sq_param_lookup(slot->name)) != -1)
		rule = sq_rule_find(q->def, (enum sq_param_id)id);
	if (rule == NULL) {
		sq_warning_add(q, "line %ld: %s: unknown parameter %s ignored",
		    slot->line, q->def->name, sq_safe_name(slot->name));
		return;
	}
	if ((p = q->params[id]) != NULL) {
		p->nslots++;
		if (!(rule->flags & SQ_F_AND)) {
			sq_error_add(q, SQ_ERR_PARAM_NUMBER, slot->name,
			    slot->line, "%s: %s given in %zu slots; only "
			    "$XDSDocumentEntryEventCodeList, "
			    "$XDSDocumentEntryConfidentialityCode and "
			    "$XDSFolderCodeList may be repeated (AND)",
			    q->def->name, slot->name, p->nslots);
			p->bad = 1;
			return;
		}
		if (p->bad)
			return;
	} else {
		p = q->params[id] = xcalloc(1, sizeof(*p));
		p->id = (enum sq_param_id)id;
		p->flags = rule->flags;
		p->line = slot->line;
		p->nslots = 1;
	}
	if (sq_slot_values(q, p, slot) == -1)
		p->bad = 1;
}

/* Required parameters and the exactly-one-of set. */
static void
sq_check_required(struct sq_query *q)
{
	const struct sq_rule	*r;
	struct dbuf		 set;
	size_t			 nset = 0, npresent = 0;
	long			 line = 0;

	dbuf_init(&set, 4096);
	for (r = q->def->rules; r->id != SQ_NPARAMS; r++) {
		if (r->flags & SQ_F_ONEOF) {
			dbuf_printf(&set, "%s%s", nset++ > 0 ? " | " : "",
			    sq_pdefs[r->id].name);
			if (q->params[r->id] != NULL) {
				if (npresent++ == 1)
					line = q->params[r->id]->line;
			}
		}
		if ((r->flags & SQ_F_REQ) && q->params[r->id] == NULL)
			sq_error_add(q, SQ_ERR_MISSING_PARAM,
			    sq_pdefs[r->id].name, 0, "%s: required parameter "
			    "%s is missing", q->def->name,
			    sq_pdefs[r->id].name);
	}
	if (nset > 0 && npresent == 0)
		sq_error_add(q, SQ_ERR_MISSING_PARAM, dbuf_str(&set), 0,
		    "%s: one of %s is required", q->def->name, dbuf_str(&set));
	else if (npresent > 1)
		sq_error_add(q, SQ_ERR_PARAM_NUMBER, dbuf_str(&set), line,
		    "%s: only one of %s may be given, %zu given",
		    q->def->name, dbuf_str(&set), npresent);
	dbuf_free(&set);
}

/* Defaults: $XDSDocumentEntryType is the stable objectType. */
static void
sq_defaults(struct sq_query *q)
{
	const struct sq_rule	*r;
	struct sq_param		*p;
	struct sq_group		*g;

	if ((r = sq_rule_find(q->def, SQ_P_DE_TYPE)) == NULL ||
	    q->params[SQ_P_DE_TYPE] != NULL)
		return;
	p = q->params[SQ_P_DE_TYPE] = xcalloc(1, sizeof(*p));
	p->id = SQ_P_DE_TYPE;
	p->flags = r->flags;
	p->defaulted = 1;
	g = sq_group_new(p);
	g->items = xcalloc(1, sizeof(*g->items));
	g->items[0].value = xstrdup(SQ_OBJTYPE_STABLE);
	g->n = 1;
	p->total = 1;
}

/* Parse the slots of an AdhocQuery by the rules of its query. */
struct sq_query *
sq_parse(const char *id, const struct sq_slot *slots, size_t nslots)
{
	struct sq_query	*q;
	size_t		 i;

	q = xcalloc(1, sizeof(*q));
	q->kind = sq_query_lookup(id);
	q->def = &sq_defs[q->kind];
	if (q->kind == SQ_UNKNOWN) {
		sq_error_add(q, SQ_ERR_UNKNOWN_QUERY,
		    id == NULL ? "(none)" : sq_safe_name(id), 0,
		    "AdhocQuery id is not a known stored query");
		return (q);
	}
	if (!sq_query_supported(q->kind)) {
		sq_error_add(q, SQ_ERR_UNKNOWN_QUERY, q->def->uuid, 0,
		    "%s is an ITI-51 Multi-Patient Query, not supported by "
		    "ITI-18", q->def->name);
		return (q);
	}
	if (nslots > SQ_MAX_SLOTS) {
		sq_error_add(q, SQ_ERR_REGISTRY, q->def->uuid, 0,
		    "%s: more than %d slots", q->def->name, SQ_MAX_SLOTS);
		return (q);
	}
	for (i = 0; i < nslots; i++)
		sq_slot(q, &slots[i]);
	sq_check_required(q);
	/* Keep only well-formed parameters. */
	for (i = 0; i < SQ_NPARAMS; i++) {
		if (q->params[i] != NULL && q->params[i]->bad) {
			sq_param_free(q->params[i]);
			q->params[i] = NULL;
		}
	}
	sq_defaults(q);
	return (q);
}

/* The query's kind. */
enum sq_kind
sq_query_kind(const struct sq_query *q)
{
	return (q->kind);
}

/* Number of RegistryErrors. */
size_t
sq_nerrors(const struct sq_query *q)
{
	return (q->nerrors);
}

/* One RegistryError. */
const struct sq_error *
sq_error(const struct sq_query *q, size_t i)
{
	return (i < q->nerrors ? &q->errors[i] : NULL);
}

/* Number of warnings. */
size_t
sq_nwarnings(const struct sq_query *q)
{
	return (q->nwarnings);
}

/* One warning. */
const char *
sq_warning(const struct sq_query *q, size_t i)
{
	return (i < q->nwarnings ? q->warnings[i] : NULL);
}

/* A parameter of the query, or NULL. */
const struct sq_param *
sq_param_get(const struct sq_query *q, enum sq_param_id id)
{
	if ((int)id < 0 || id >= SQ_NPARAMS)
		return (NULL);
	return (q->params[id]);
}

/* AND terms of a parameter. */
size_t
sq_param_ngroups(const struct sq_param *p)
{
	return (p == NULL ? 0 : p->ngroups);
}

/* OR items of one AND term. */
size_t
sq_param_nitems(const struct sq_param *p, size_t group)
{
	if (p == NULL || group >= p->ngroups)
		return (0);
	return (p->groups[group].n);
}

/* One item. */
const struct sq_item *
sq_param_item(const struct sq_param *p, size_t group, size_t idx)
{
	if (p == NULL || group >= p->ngroups || idx >= p->groups[group].n)
		return (NULL);
	return (&p->groups[group].items[idx]);
}

/* Whether the parameter is a default rather than sent. */
int
sq_param_defaulted(const struct sq_param *p)
{
	return (p != NULL && p->defaulted);
}

/* First value of a parameter, for the single-valued ones. */
const char *
sq_param_value(const struct sq_query *q, enum sq_param_id id)
{
	const struct sq_item	*it;

	if ((it = sq_param_item(sq_param_get(q, id), 0, 0)) == NULL)
		return (NULL);
	return (it->value);
}

/* Append a quoted string with '' for each quote. */
static int
sq_quote(struct dbuf *b, const char *s)
{
	int	rc = 0;

	rc |= dbuf_addc(b, '\'');
	for (; *s != '\0'; s++) {
		if (*s == '\'')
			rc |= dbuf_addc(b, '\'');
		rc |= dbuf_addc(b, *s);
	}
	rc |= dbuf_addc(b, '\'');
	return (rc == 0 ? 0 : -1);
}

/* An item in wire form, appended. */
static int
sq_item_wire(struct dbuf *b, enum sq_type type, const struct sq_item *it)
{
	char	*s;
	int	 rc;

	if (type == SQ_T_TIME || type == SQ_T_INT)
		return (dbuf_addstr(b, it->value));
	if (type == SQ_T_CODE) {
		xasprintf(&s, "%s^^%s", it->value, it->scheme);
		rc = sq_quote(b, s);
		free(s);
		return (rc);
	}
	return (sq_quote(b, it->value));
}

/* A group in wire form: ('a','b'), 'a' or a bare number. */
static int
sq_group_wire(struct dbuf *b, const struct sq_param *p, size_t g)
{
	enum sq_type	type = sq_pdefs[p->id].type;
	size_t		i;
	int		rc = 0;

	if (!(p->flags & SQ_F_LIST))
		return (sq_item_wire(b, type, &p->groups[g].items[0]));
	rc |= dbuf_addc(b, '(');
	for (i = 0; i < p->groups[g].n; i++) {
		if (i > 0)
			rc |= dbuf_addc(b, ',');
		rc |= sq_item_wire(b, type, &p->groups[g].items[i]);
	}
	rc |= dbuf_addc(b, ')');
	return (rc == 0 ? 0 : -1);
}

/* The canonical dump. */
int
sq_dump(const struct sq_query *q, struct dbuf *b, int warnings)
{
	const struct sq_param	*p;
	const struct sq_error	*e;
	const char		*bound;
	size_t			 i, g;
	int			 rc = 0;

	if (q->kind == SQ_UNKNOWN)
		rc |= dbuf_printf(b, "query unknown\n");
	else
		rc |= dbuf_printf(b, "query %s %s\n", q->def->name,
		    q->def->uuid);
	for (i = 0; i < SQ_NPARAMS; i++) {
		if ((p = q->params[i]) == NULL)
			continue;
		rc |= dbuf_printf(b, "param %s %s%s%s\n", sq_pdefs[i].name,
		    sq_type_names[sq_pdefs[i].type],
		    p->ngroups > 1 ? " and" : "",
		    p->defaulted ? " default" : "");
		switch (sq_pdefs[i].bound) {
		case SQ_BOUND_FROM:
			bound = ">= ";
			break;
		case SQ_BOUND_TO:
			bound = "< ";
			break;
		default:
			bound = "";
			break;
		}
		for (g = 0; g < p->ngroups; g++) {
			rc |= dbuf_printf(b, "  %s", bound);
			rc |= sq_group_wire(b, p, g);
			rc |= dbuf_addc(b, '\n');
		}
	}
	for (i = 0; warnings && i < q->nwarnings; i++)
		rc |= dbuf_printf(b, "warning %s\n", q->warnings[i]);
	for (i = 0; i < q->nerrors; i++) {
		e = &q->errors[i];
		rc |= dbuf_printf(b, "error %s [%s] line %ld: %s\n", e->code,
		    e->location, e->line, e->message);
	}
	return (rc == 0 ? 0 : -1);
}

/* A new builder for a query. */
struct sq_build *
sq_build_new(enum sq_kind kind)
{
	struct sq_build	*b;

	b = xcalloc(1, sizeof(*b));
	b->kind = kind;
	return (b);
}

/* Free a builder and its slots. */
void
sq_build_free(struct sq_build *b)
{
	size_t	i, j;

	if (b == NULL)
		return;
	for (i = 0; i < b->n; i++) {
		free(b->own[i].name);
		for (j = 0; j < b->own[i].nvalues; j++)
			free(b->own[i].values[j]);
		free(b->own[i].values);
	}
	free(b->own);
	free(b->view);
	free(b);
}

/* Add a slot with one value (taken). */
static void
sq_build_slot(struct sq_build *b, const char *name, char *value)
{
	struct sq_bslot	*s;

	b->own = xreallocarray(b->own, b->n + 1, sizeof(*b->own));
	s = &b->own[b->n++];
	s->name = xstrdup(name);
	s->values = xcalloc(1, sizeof(*s->values));
	s->values[0] = value;
	s->nvalues = 1;
}

/* Finish a dbuf into a value string. */
static char *
sq_build_take(struct dbuf *d)
{
	if (d->data == NULL)
		return (xstrdup(""));
	return (dbuf_take(d, NULL));
}

/* A slot with 'v'. */
void
sq_build_string(struct sq_build *b, enum sq_param_id id, const char *v)
{
	struct dbuf	d;

	dbuf_init(&d, (size_t)-1);
	sq_quote(&d, v);
	sq_build_slot(b, sq_param_name(id), sq_build_take(&d));
}

/* A slot with ('a','b'). */
void
sq_build_list(struct sq_build *b, enum sq_param_id id,
    const char *const *v, size_t n)
{
	struct dbuf	d;
	size_t		i;

	dbuf_init(&d, (size_t)-1);
	dbuf_addc(&d, '(');
	for (i = 0; i < n; i++) {
		if (i > 0)
			dbuf_addc(&d, ',');
		sq_quote(&d, v[i]);
	}
	dbuf_addc(&d, ')');
	sq_build_slot(b, sq_param_name(id), sq_build_take(&d));
}

/* A slot with ('c^^s',...). */
void
sq_build_codes(struct sq_build *b, enum sq_param_id id,
    const char *const *codes, const char *const *schemes, size_t n)
{
	struct dbuf	 d;
	size_t		 i;
	char		*s;

	dbuf_init(&d, (size_t)-1);
	dbuf_addc(&d, '(');
	for (i = 0; i < n; i++) {
		if (i > 0)
			dbuf_addc(&d, ',');
		xasprintf(&s, "%s^^%s", codes[i], schemes[i]);
		sq_quote(&d, s);
		free(s);
	}
	dbuf_addc(&d, ')');
	sq_build_slot(b, sq_param_name(id), sq_build_take(&d));
}

/* A slot with an unquoted value. */
void
sq_build_raw(struct sq_build *b, enum sq_param_id id, const char *v)
{
	sq_build_slot(b, sq_param_name(id), xstrdup(v));
}

/* The AdhocQuery id of a builder. */
const char *
sq_build_id(const struct sq_build *b)
{
	return (sq_query_uuid(b->kind));
}

/* The slots as struct sq_slot, refreshed. */
const struct sq_slot *
sq_build_slots(struct sq_build *b, size_t *nslots)
{
	size_t	i;

	free(b->view);
	b->view = xcalloc(b->n > 0 ? b->n : 1, sizeof(*b->view));
	for (i = 0; i < b->n; i++) {
		b->view[i].name = b->own[i].name;
		b->view[i].values = (const char *const *)b->own[i].values;
		b->view[i].nvalues = b->own[i].nvalues;
		b->view[i].line = 0;
	}
	*nslots = b->n;
	return (b->view);
}

/* FindSubmissionSets(patient, status): the consumer's first step. */
struct sq_build *
sq_build_find_submission_sets(const char *patient_cx, const char *status)
{
	struct sq_build	*b;

	if (status == NULL)
		status = SQ_STATUS_APPROVED;
	b = sq_build_new(SQ_FIND_SUBMISSION_SETS);
	sq_build_string(b, SQ_P_SS_PATIENT_ID, patient_cx);
	sq_build_list(b, SQ_P_SS_STATUS, &status, 1);
	return (b);
}

/* FindDocuments(patient, status). */
struct sq_build *
sq_build_find_documents(const char *patient_cx, const char *status)
{
	struct sq_build	*b;

	if (status == NULL)
		status = SQ_STATUS_APPROVED;
	b = sq_build_new(SQ_FIND_DOCUMENTS);
	sq_build_string(b, SQ_P_DE_PATIENT_ID, patient_cx);
	sq_build_list(b, SQ_P_DE_STATUS, &status, 1);
	return (b);
}

/* GetSubmissionSetAndContents(entryUUID): the consumer's second step. */
struct sq_build *
sq_build_get_ss_and_contents(const char *uuid)
{
	struct sq_build	*b;

	b = sq_build_new(SQ_GET_SUBMISSION_SET_AND_CONTENTS);
	sq_build_string(b, SQ_P_SS_ENTRY_UUID, uuid);
	return (b);
}

/* GetDocuments(entryUUIDs). */
struct sq_build *
sq_build_get_documents(const char *const *uuids, size_t n)
{
	struct sq_build	*b;

	b = sq_build_new(SQ_GET_DOCUMENTS);
	sq_build_list(b, SQ_P_DE_ENTRY_UUID, uuids, n);
	return (b);
}

/* Slots for a parsed query: one per AND term, canonical quoting. */
struct sq_build *
sq_build_from_query(const struct sq_query *q)
{
	struct sq_build		*b;
	const struct sq_param	*p;
	struct dbuf		 d;
	size_t			 i, g;

	if (q->kind == SQ_UNKNOWN)
		return (NULL);
	b = sq_build_new(q->kind);
	for (i = 0; i < SQ_NPARAMS; i++) {
		if ((p = q->params[i]) == NULL || p->defaulted)
			continue;
		for (g = 0; g < p->ngroups; g++) {
			dbuf_init(&d, (size_t)-1);
			sq_group_wire(&d, p, g);
			sq_build_slot(b, sq_pdefs[i].name, sq_build_take(&d));
		}
	}
	return (b);
}
