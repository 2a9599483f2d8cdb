/*
 * soap.h: SOAP 1.2 envelopes with WS-Addressing 1.0 headers, SOAP faults,
 * and the table of XDS.b / XDS-I.b actions with the service path that
 * serves each (docs/design/PROFILE.md section 2, xds.md section 1).
 *
 * Parsing works on a document from xml_parse(). A SOAP 1.1 envelope gives
 * a VersionMismatch fault; a header block aimed at us with
 * mustUnderstand "true" or "1" that is not a WS-Addressing header we know
 * gives a MustUnderstand fault. Every failure fills a struct soap_fault
 * that can be sent back as is with soap_fault_build().
 */
#ifndef ISN_SOAP_H
#define ISN_SOAP_H

#include <stddef.h>

#include <libxml/tree.h>

#include "compat.h"
#include "dbuf.h"
#include "xml.h"

#define SOAP_NS_SOAP11		"http://schemas.xmlsoap.org/soap/envelope/"
#define SOAP_WSA_ANONYMOUS	"http://www.w3.org/2005/08/addressing/anonymous"
#define SOAP_WSA_NONE		"http://www.w3.org/2005/08/addressing/none"
#define SOAP_WSA_FAULT_ACTION	"http://www.w3.org/2005/08/addressing/fault"
#define SOAP_FAULT_ACTION	"http://www.w3.org/2005/08/addressing/soap/fault"

/* Action URIs (xds.md section 1). RAD-69 answers with the ITI-43 action. */
#define SOAP_ACTION_ITI41	"urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
#define SOAP_ACTION_ITI42	"urn:ihe:iti:2007:RegisterDocumentSet-b"
#define SOAP_ACTION_ITI18	"urn:ihe:iti:2007:RegistryStoredQuery"
#define SOAP_ACTION_ITI43	"urn:ihe:iti:2007:RetrieveDocumentSet"
#define SOAP_ACTION_RAD69	"urn:ihe:rad:2009:RetrieveImagingDocumentSet"
#define SOAP_ACTION_ITI51	"urn:ihe:iti:2009:MultiPatientStoredQuery"
#define SOAP_ACTION_ITI57	"urn:ihe:iti:2010:UpdateDocumentSet"
#define SOAP_ACTION_ITI62	"urn:ihe:iti:2010:DeleteDocumentSet"
#define SOAP_ACTION_ITI86	"urn:ihe:iti:2017:RemoveDocuments"

/* Clearinghouse service paths. */
#define SOAP_PATH_REGISTRY	"/services/xdsregistryb"
#define SOAP_PATH_REPOSITORY	"/services/xdsrepositoryb"
#define SOAP_PATH_IDS		"/services/ImagingDocumentSource"

/* "urn:uuid:" and 36 characters. */
#define SOAP_UUID_LEN		45

enum soap_txn {
	SOAP_TXN_ITI41,
	SOAP_TXN_ITI42,
	SOAP_TXN_ITI18,
	SOAP_TXN_ITI43,
	SOAP_TXN_RAD69,
	SOAP_TXN_ITI51,
	SOAP_TXN_ITI57,
	SOAP_TXN_ITI62,
	SOAP_TXN_ITI86
};

struct soap_action {
	enum soap_txn	 txn;
	const char	*name;		/* "ITI-41" */
	const char	*request;	/* request action URI */
	const char	*response;	/* response action URI */
	const char	*path;		/* serving path; NULL: not supported */
	const char	*req_ns;	/* request body element */
	const char	*req_elem;
	const char	*resp_ns;	/* response body element */
	const char	*resp_elem;
};

/* SOAP 1.2 fault codes (env:Value of env:Code). */
enum soap_code {
	SOAP_VERSION_MISMATCH,
	SOAP_MUST_UNDERSTAND,
	SOAP_DATA_ENCODING_UNKNOWN,
	SOAP_SENDER,
	SOAP_RECEIVER
};

struct soap_fault {
	enum soap_code	 code;
	/*
	 * Subcode as a QName; when building, its prefix must be "wsa:" or
	 * "env:" (both are declared on the envelope). NULL for none.
	 */
	char		*subcode;
	char		*reason;	/* English text for a person */
	char		*nu_ns;		/* MustUnderstand: the block's namespace */
	char		*nu_name;	/* and its local name */
};

struct soap_msg {
	xmlDoc		*doc;		/* freed by soap_msg_clear if owned */
	int		 own;
	char		*action;	/* WS-Addressing values, trimmed; */
	char		*message_id;	/* NULL when absent */
	char		*to;
	char		*reply_to;	/* ReplyTo/Address */
	char		*relates_to;	/* the reply RelatesTo */
	xmlNode		*body;		/* first element in Body, or NULL */
	int		 is_fault;	/* body is env:Fault, parsed into fault */
	struct soap_fault fault;
};

/* Headers for soap_build; NULL members are left out. */
struct soap_hdr {
	const char	*action;
	const char	*message_id;
	const char	*to;
	const char	*relates_to;
	int		 reply_to_anon;	/* add ReplyTo/Address anonymous */
};

/* Action table lookups; NULL when unknown. */
const struct soap_action *soap_action_find(const char *request_uri);
/* By response action; the RAD-69 and ITI-43 responses give ITI-43. */
const struct soap_action *soap_action_find_response(const char *uri);
const struct soap_action *soap_action_get(enum soap_txn);
/* 1 when the action is supported and served at this path. */
int		 soap_action_allowed(const struct soap_action *,
		    const char *path);

/*
 * Parse an envelope. On -1 the fault says why; the message is cleared.
 * soap_msg_parse does not take the document; soap_msg_parse_buf parses
 * the bytes and owns the document it makes (an XML error is a Sender
 * fault).
 */
int		 soap_msg_parse(xmlDoc *, struct soap_msg *,
		    struct soap_fault *);
int		 soap_msg_parse_buf(const void *, size_t,
		    const struct xml_limits *, struct soap_msg *,
		    struct soap_fault *);
void		 soap_msg_clear(struct soap_msg *);

/*
 * Server side: the request must carry a known, supported request action
 * served at path (NULL skips the path check), a body element that matches
 * it, and a ReplyTo that is anonymous if present. 0 with *actp set, or -1
 * with a Sender fault (wsa:MessageAddressingHeaderRequired,
 * wsa:ActionNotSupported, wsa:OnlyAnonymousAddressSupported).
 */
int		 soap_check_request(const struct soap_msg *, const char *path,
		    const struct soap_action **actp, struct soap_fault *);

/* Build an envelope around a body (an XML element; a declaration is
 * dropped). -1 when the buffer's limit is reached. */
int		 soap_build(struct dbuf *, const struct soap_hdr *,
		    const char *body, size_t len);
int		 soap_build_node(struct dbuf *, const struct soap_hdr *,
		    xmlDoc *, xmlNode *);
/*
 * A request: Action (mustUnderstand="1"), a fresh MessageID (returned in
 * *message_id when not NULL; caller frees), To when given, ReplyTo
 * anonymous.
 */
int		 soap_request(struct dbuf *, const char *action,
		    const char *to, const char *body, size_t len,
		    char **message_id);
/* A response: Action (mustUnderstand="1") and RelatesTo when given. */
int		 soap_response(struct dbuf *, const char *action,
		    const char *relates_to, const char *body, size_t len);

/* Faults. */
void		 soap_fault_set(struct soap_fault *, enum soap_code,
		    const char *subcode, const char *fmt, ...)
		    printflike(4, 5);
void		 soap_fault_clear(struct soap_fault *);
const char	*soap_code_name(enum soap_code);	/* "Sender" */
/* HTTP status for a fault (SOAP 1.2 HTTP binding): 400 Sender, else 500. */
int		 soap_fault_http_status(const struct soap_fault *);
/* A fault envelope; relates_to may be NULL. */
int		 soap_fault_build(struct dbuf *, const struct soap_fault *,
		    const char *relates_to);

/* A fresh "urn:uuid:" + random version 4 UUID; buf holds SOAP_UUID_LEN+1. */
void		 soap_uuid(char *buf, size_t len);
/* Tests: make soap_uuid call cb instead (NULL restores randomness). */
typedef void (*soap_uuid_cb)(char *buf, size_t len, void *arg);
void		 soap_set_uuid_cb(soap_uuid_cb, void *);

#endif
