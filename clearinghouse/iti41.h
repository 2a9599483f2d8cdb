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
 * ctx must outlive the httpd (and every request in flight). ITI-42 (the
 * metadata alone, from the registry path) shares the checks and the
 * transaction: iti41_register_start below. RPLC and XFRM_RPLC deprecate
 * the document they replace, and put the replacement into the original's
 * folders, in the same transaction.
 */
#ifndef ISN_ITI41_H
#define ISN_ITI41_H

#include <stddef.h>
#include <stdint.h>

#include "httpd.h"

#include "soap.h"

struct db;
struct blob_store;
struct audit_event;

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
	unsigned long	documents;	/* entries in committed submissions */
};

/*
 * Another transaction served on the repository path (ITI-43 there, as
 * PROFILE.md section 2 says): when a request's action is txn rather than
 * ITI-41, iti41 hands the request over once its body is complete. start
 * gets the request, whether it came as MTOM, and the parsed envelope,
 * whose contents it takes (it must soap_msg_clear them one day); it
 * replies now or later and returns its state. fini(state, completed) is
 * then called exactly once, from the request's fini.
 */
struct iti41_delegate {
	enum soap_txn	  txn;
	void		*(*start)(struct httpd_req *, int mtom,
			    struct soap_msg *, void *arg);
	void		 (*fini)(void *state, int completed, void *arg);
	void		 *arg;
};

struct iti41_ctx {
	struct db		*db;		/* not owned */
	struct blob_store	*blobs;		/* not owned */
	/* The thread that writes and hashes MTOM attachments (blobq.h). */
	struct blobq		*writer;	/* not owned; required */
	const char		*repository_unique_id;	/* our OID */
	/* Assigning authority OID of patient ids; NULL: any domain. */
	const char		*affinity_domain;
	long			 retention;	/* seconds; 0: 30 days */
	struct iti41_limits	 limits;
	struct iti41_stats	 stats;		/* updated by the handler */
	const struct iti41_delegate *delegate;	/* or NULL */
	/* ATNA record of each answered transaction; NULL: none. */
	void			(*audit)(const struct audit_event *,
				    void *arg);
	void			*audit_arg;
};

extern const struct httpd_handler iti41_handler;

/*
 * ITI-42 Register Document Set-b, for the registry path (whose handler
 * buffers the envelope and checks the peer's role): msg is the parsed
 * request with the ITI-42 action; its contents are taken (msg is left
 * zeroed). The metadata is checked and registered as ITI-41's is, in the
 * same kind of transaction but without blobs, and the RegistryResponse is
 * sent on req now or later. *statep is set to the request's state before
 * any reply, to be given exactly once to iti41_register_fini from the
 * request's fini.
 */
void	 iti41_register_start(struct iti41_ctx *, struct httpd_req *,
	    struct soap_msg *, void **statep);
void	 iti41_register_fini(void *state, int completed);

#endif
