/*
 * xdsmsg.h: the XDS.b / XDS-I.b message wrappers around the metadata
 * (xds.md sections 1, 3, 4 and 6): RegistryResponse and its
 * RegistryErrorList, ITI-43 Retrieve Document Set request and response,
 * RAD-69 Retrieve Imaging Document Set request, ITI-18 AdhocQueryRequest
 * and AdhocQueryResponse, and the ITI-41 ProvideAndRegisterDocumentSet
 * request's document list. The SubmitObjectsRequest and the LeafClass
 * objects are left as xmlNodes for the metadata module.
 *
 * Parsers take the body element (soap_msg.body, or the root of a bare
 * message) and report what is wrong as RegistryErrors with the exact
 * xds.md section 6 codes in errs, each naming the element and its line.
 * They return -1 when they added an Error-severity entry, 0 otherwise;
 * the output structure holds whatever could be read either way, and its
 * _clear function must be called in both cases. Text values are trimmed
 * of leading and trailing XML white space. Builders write a body element
 * (no XML declaration) and return -1 only when the buffer's limit is hit.
 */
#ifndef ISN_XDSMSG_H
#define ISN_XDSMSG_H

#include <stddef.h>

#include <libxml/tree.h>

#include "compat.h"
#include "dbuf.h"

#define XDSMSG_STATUS_SUCCESS \
	"urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
#define XDSMSG_STATUS_PARTIAL \
	"urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"
#define XDSMSG_STATUS_FAILURE \
	"urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
#define XDSMSG_SEVERITY_ERROR \
	"urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"
#define XDSMSG_SEVERITY_WARNING \
	"urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning"

/* Most entries of any one list (documents, slots, values, errors...). */
#define XDSMSG_MAX_ITEMS	100000

enum xdsmsg_status {
	XDSMSG_SUCCESS,
	XDSMSG_PARTIAL,
	XDSMSG_FAILURE
};

enum xdsmsg_severity {
	XDSMSG_ERROR,
	XDSMSG_WARNING
};

/* One RegistryError: carried by a response, or found by a parser. */
struct xdsmsg_error {
	char			*code;		/* errorCode */
	char			*context;	/* codeContext, for a person */
	char			*location;	/* may be NULL */
	enum xdsmsg_severity	 severity;
	long			 line;		/* where found; 0 unknown */
};

struct xdsmsg_errors {
	struct xdsmsg_error	*v;
	size_t			 n;
};

/* The bytes of a document as carried in XML. */
struct xdsmsg_content {
	char		*href;		/* xop:Include href verbatim, or NULL */
	unsigned char	*data;		/* inline base64, decoded; or NULL */
	size_t		 size;
	char		 sha1[41];	/* lower-case hex of data; "" for xop */
};

/* rs:RegistryResponse (ITI-41/42 answers). */
struct xdsmsg_regresp {
	enum xdsmsg_status	 status;
	struct xdsmsg_errors	 errors;	/* the RegistryErrorList */
};

/* xdsb:DocumentRequest (ITI-43, and inside RAD-69 SeriesRequest). */
struct xdsmsg_docreq {
	char	*home;		/* HomeCommunityId or NULL */
	char	*repository;
	char	*document;
	long	 line;
};

struct xdsmsg_retrieve_req {
	struct xdsmsg_docreq	*docs;
	size_t			 ndocs;
};

struct xdsmsg_docresp {
	char			*home;		/* NULL when absent */
	char			*repository;
	char			*document;
	char			*new_repository;	/* on-demand only */
	char			*new_document;
	char			*mime;
	struct xdsmsg_content	 content;
	long			 line;
};

/* xdsb:RetrieveDocumentSetResponse (ITI-43 and RAD-69). */
struct xdsmsg_retrieve_resp {
	enum xdsmsg_status	 status;
	struct xdsmsg_errors	 errors;
	struct xdsmsg_docresp	*docs;
	size_t			 ndocs;
};

struct xdsmsg_series {
	char			*uid;		/* seriesInstanceUID */
	struct xdsmsg_docreq	*docs;
	size_t			 ndocs;
	long			 line;
};

struct xdsmsg_study {
	char			*uid;		/* studyInstanceUID */
	struct xdsmsg_series	*series;
	size_t			 nseries;
	long			 line;
};

/* xdsiB:RetrieveImagingDocumentSetRequest (RAD-69). */
struct xdsmsg_rad69_req {
	struct xdsmsg_study	*studies;
	size_t			 nstudies;
	char			**tsuids;	/* TransferSyntaxUID list */
	size_t			 ntsuids;
};

enum xdsmsg_return {
	XDSMSG_LEAFCLASS,
	XDSMSG_OBJECTREF
};

/* A stored-query parameter: Slot name and its Values, in message order. */
struct xdsmsg_slot {
	char	 *name;
	char	**values;
	size_t	  nvalues;
	long	  line;
};

/* query:AdhocQueryRequest (ITI-18). Same-named slots stay separate. */
struct xdsmsg_query_req {
	enum xdsmsg_return	 rtype;
	int			 composed;	/* returnComposedObjects */
	char			*id;		/* stored query UUID */
	char			*home;		/* NULL when absent */
	struct xdsmsg_slot	*slots;
	size_t			 nslots;
	long			 line;
};

/* query:AdhocQueryResponse. */
struct xdsmsg_query_resp {
	enum xdsmsg_status	 status;
	struct xdsmsg_errors	 errors;
	xmlNode			*objects;	/* rim:RegistryObjectList or NULL */
	char			**refs;		/* rim:ObjectRef ids */
	size_t			 nrefs;
	size_t			 nleaf;		/* other objects in the list */
};

/* xdsb:Document in a PnR. */
struct xdsmsg_document {
	char			*id;
	struct xdsmsg_content	 content;
	long			 line;
};

/* xdsb:ProvideAndRegisterDocumentSetRequest (ITI-41, RAD-68). */
struct xdsmsg_pnr {
	xmlNode			*submit;	/* lcm:SubmitObjectsRequest */
	struct xdsmsg_document	*docs;
	size_t			 ndocs;
};

/* Status and severity URNs. */
const char	*xdsmsg_status_urn(enum xdsmsg_status);
int		 xdsmsg_status_parse(const char *, enum xdsmsg_status *);
const char	*xdsmsg_severity_urn(enum xdsmsg_severity);

/* Error lists. location may be NULL. */
void		 xdsmsg_error_add(struct xdsmsg_errors *, enum xdsmsg_severity,
		    const char *code, const char *location, long line,
		    const char *fmt, ...) printflike(6, 7);
size_t		 xdsmsg_errors_count(const struct xdsmsg_errors *,
		    enum xdsmsg_severity);
/* 1 when an entry has this code. */
int		 xdsmsg_errors_has(const struct xdsmsg_errors *, const char *);
void		 xdsmsg_errors_clear(struct xdsmsg_errors *);
/* The status a response carrying these errors should have. */
enum xdsmsg_status xdsmsg_errors_status(const struct xdsmsg_errors *);

/*
 * Base64 as in xs:base64Binary (white space allowed, padding required);
 * -1 on anything else. Output is allocated (caller frees), SHA-1 optional.
 */
int		 xdsmsg_base64_decode(const char *, unsigned char **,
		    size_t *);
int		 xdsmsg_base64_encode(struct dbuf *, const void *, size_t);
void		 xdsmsg_sha1_hex(const void *, size_t, char out[41]);

/*
 * rs:RegistryResponse. Parsing also applies the section 6 consistency
 * rules: Success with an Error-severity entry, Failure without any entry,
 * and PartialSuccess without any entry are XDSRegistryError problems.
 */
int		 xdsmsg_regresp_parse(const xmlNode *, struct xdsmsg_regresp *,
		    struct xdsmsg_errors *errs);
int		 xdsmsg_regresp_check(enum xdsmsg_status,
		    const struct xdsmsg_errors *carried, long line,
		    struct xdsmsg_errors *errs);
void		 xdsmsg_regresp_clear(struct xdsmsg_regresp *);
int		 xdsmsg_regresp_build(struct dbuf *, enum xdsmsg_status,
		    const struct xdsmsg_errors *);

/*
 * ITI-43 request: a missing element is XDSRepositoryError, an empty
 * RepositoryUniqueId XDSUnknownRepositoryId, an empty DocumentUniqueId
 * XDSDocumentUniqueIdError.
 */
int		 xdsmsg_retrieve_req_parse(const xmlNode *,
		    struct xdsmsg_retrieve_req *, struct xdsmsg_errors *errs);
void		 xdsmsg_retrieve_req_clear(struct xdsmsg_retrieve_req *);
int		 xdsmsg_retrieve_req_build(struct dbuf *,
		    const struct xdsmsg_docreq *, size_t);

/* ITI-43 / RAD-69 response: problems are XDSRepositoryError. */
int		 xdsmsg_retrieve_resp_parse(const xmlNode *,
		    struct xdsmsg_retrieve_resp *, struct xdsmsg_errors *errs);
void		 xdsmsg_retrieve_resp_clear(struct xdsmsg_retrieve_resp *);
/* Each document is written as its href (xop:Include) or its data. */
int		 xdsmsg_retrieve_resp_build(struct dbuf *,
		    const struct xdsmsg_retrieve_resp *);

/*
 * RAD-69 request, with the RSNA 2018 gold checks: a missing or empty
 * studyInstanceUID or seriesInstanceUID (or one that is not a UID), or a
 * missing level, is XDSIRequestError; a missing or empty
 * TransferSyntaxUIDList or an empty or malformed TransferSyntaxUID is
 * XDSRepositoryError "No valid Xfer Syntax". DocumentRequests as ITI-43.
 */
int		 xdsmsg_rad69_req_parse(const xmlNode *,
		    struct xdsmsg_rad69_req *, struct xdsmsg_errors *errs);
void		 xdsmsg_rad69_req_clear(struct xdsmsg_rad69_req *);
int		 xdsmsg_rad69_req_build(struct dbuf *,
		    const struct xdsmsg_rad69_req *);

/*
 * ITI-18 request: a missing or empty AdhocQuery id is
 * XDSUnknownStoredQuery; other problems (returnType not LeafClass or
 * ObjectRef, a Slot without a name) are XDSRegistryError.
 */
int		 xdsmsg_query_req_parse(const xmlNode *,
		    struct xdsmsg_query_req *, struct xdsmsg_errors *errs);
void		 xdsmsg_query_req_clear(struct xdsmsg_query_req *);
int		 xdsmsg_query_req_build(struct dbuf *,
		    const struct xdsmsg_query_req *);
/* The same for a query made with sq_build_* (returnComposedObjects). */
struct sq_build;
int		 xdsmsg_query_req_build_sq(struct dbuf *, struct sq_build *,
		    enum xdsmsg_return);

/* ITI-18 response: problems (and the section 6 rules) XDSRegistryError. */
int		 xdsmsg_query_resp_parse(const xmlNode *,
		    struct xdsmsg_query_resp *, struct xdsmsg_errors *errs);
void		 xdsmsg_query_resp_clear(struct xdsmsg_query_resp *);
/*
 * leafclass (len bytes) is written inside rim:RegistryObjectList, whose
 * element declares the rim prefix; when NULL the refs are written as
 * rim:ObjectRef elements instead.
 */
int		 xdsmsg_query_resp_build(struct dbuf *,
		    const struct xdsmsg_query_resp *, const char *leafclass,
		    size_t len);

/*
 * ITI-41 request: exactly one lcm:SubmitObjectsRequest, then Documents
 * with a unique id (XDSRepositoryMetadataError) holding an xop:Include
 * with an href or valid base64 (XDSRepositoryError).
 */
int		 xdsmsg_pnr_parse(const xmlNode *, struct xdsmsg_pnr *,
		    struct xdsmsg_errors *errs);
void		 xdsmsg_pnr_clear(struct xdsmsg_pnr *);
/* submit (len bytes, an lcm:SubmitObjectsRequest element) then docs. */
int		 xdsmsg_pnr_build(struct dbuf *, const char *submit, size_t len,
		    const struct xdsmsg_document *, size_t);

#endif
