/*
 * xdsvalid.h: registry and repository checks of an XDS submission
 * (xds.md 2.2-2.5 and 6), each failure an XDS RegistryError code, a
 * location and a sentence naming the object, attribute and scheme.
 */
#ifndef ISN_XDSVALID_H
#define ISN_XDSVALID_H

#include <stddef.h>
#include <stdint.h>

#include "xdsmeta.h"

/* Which transaction the metadata came with, and profile options. */
#define XDSVALID_ITI41	0x01	/* PnR: documents travel with the metadata */
#define XDSVALID_ITI42	0x02	/* Register: hash, size, repositoryUniqueId */
#define XDSVALID_ISN2	0x04	/* isn2: no names, birth dates, free text */

/* A document of the message, as the MTOM/SOAP layer saw it. */
struct xdsvalid_doc {
	const char	*id;	/* xdsb:Document/@id */
	int64_t		 size;	/* bytes; -1 when unknown */
	const char	*sha1;	/* hex; NULL when unknown */
};

/*
 * Check a parsed submission. The parser's own errors come first in errs,
 * then one entry per broken rule. docs is used with XDSVALID_ITI41 (an
 * empty list then means "no documents"). Returns the number of errors.
 */
size_t		 xdsvalid_check(const struct xds_submission *, int flags,
		    const struct xdsvalid_doc *docs, size_t ndocs,
		    struct xds_errors *errs);

/*
 * Value formats: NULL when the value is well-formed, otherwise a short
 * static reason ("is not an OID", ...).
 */
const char	*xdsvalid_dtm(const char *);
const char	*xdsvalid_hash(const char *);
const char	*xdsvalid_size(const char *);
const char	*xdsvalid_oid(const char *);
const char	*xdsvalid_uniqueid(const char *);
const char	*xdsvalid_langcode(const char *);
const char	*xdsvalid_mimetype(const char *);
const char	*xdsvalid_cx(const char *);
const char	*xdsvalid_cxi(const char *);
const char	*xdsvalid_xcn(const char *);
const char	*xdsvalid_xon(const char *);
const char	*xdsvalid_pid(const char *);	/* sourcePatientInfo value */

/* The referenceIdList type URN of a CXi (lenient about "ISO^"), or NULL. */
const char	*xdsvalid_cxi_type(const char *, char *buf, size_t len);

#endif
