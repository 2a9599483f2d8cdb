/*
 * iti41.h: ITI-41 Provide and Register Document Set-b into the
 * clearinghouse's repository and registry (docs/design/iti41.md).
 *
 * An httpd handler for POST /services/xdsrepositoryb. The body streams:
 * multipart/related goes through the MTOM parser and every attachment into
 * a blob; application/soap+xml is collected into a bounded buffer. After
 * the body the submission is checked and stored in one database
 * transaction, all or nothing. Register with
 *	httpd_route(h, SOAP_PATH_REPOSITORY, &iti41_handler, &ctx);
 * ctx must outlive the httpd (and every request in flight).
 */
#ifndef ISN_ITI41_H
#define ISN_ITI41_H

#include <stddef.h>
#include <stdint.h>

#include "httpd.h"

struct db;
struct blob_store;

struct iti41_limits {
	size_t		max_soap;	/* SOAP envelope / MTOM root; 0: 64 MiB */
	uint64_t	max_doc;	/* one document's bytes; 0: none */
	size_t		max_parts;	/* MIME parts; 0: mtom.h default */
};

struct iti41_stats {
	unsigned long	requests;	/* bodies fully received */
	unsigned long	success;	/* Success answers */
	unsigned long	failure;	/* Failure answers */
	unsigned long	faults;		/* SOAP faults */
	unsigned long	aborted;	/* peer gone before the answer */
};

struct iti41_ctx {
	struct db		*db;		/* not owned */
	struct blob_store	*blobs;		/* not owned */
	const char		*repository_unique_id;	/* our OID */
	/* Assigning authority OID of patient ids; NULL: any domain. */
	const char		*affinity_domain;
	long			 retention;	/* seconds; 0: 30 days */
	struct iti41_limits	 limits;
	struct iti41_stats	 stats;		/* updated by the handler */
};

extern const struct httpd_handler iti41_handler;

#endif
