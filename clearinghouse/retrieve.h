/*
 * retrieve.h: ITI-43 Retrieve Document Set (on the repository path) and
 * RAD-69 Retrieve Imaging Document Set (on the Imaging Document Source
 * path) for isn-clearinghouse (docs/design/retrieve.md).
 *
 * The documents are looked up in the registry with db_query (never
 * blocking the loop) and streamed from the blob store as an MTOM reply
 * pulled by httpd as the socket drains: a document is never held in
 * memory (a plain SOAP request whose documents are all small gets them
 * inline in base64 instead). Only peers with role consumer retrieve.
 *
 * Two ways in:
 *  - retrieve_handler (arg: the struct retrieve) serves a whole request:
 *    POST /services/ImagingDocumentSource (RAD-69), and the repository
 *    path for peers that hold role consumer but not source (ITI-43; an
 *    ITI-41 from such a peer is refused with 403 and a SOAP fault). Its
 *    head refuses peers without role consumer (403, body unread).
 *  - retrieve_delegate() for iti41's ctx.delegate: ITI-43 sent on the
 *    repository path by a peer with role source, whose envelope iti41
 *    already parsed (a peer without role consumer gets the 403 fault).
 */
#ifndef ISN_RETRIEVE_H
#define ISN_RETRIEVE_H

#include "httpd.h"
#include "iti41.h"

struct ch;
struct retrieve;

/* Defines the metrics (once per process); ch must outlive it. */
struct retrieve	*retrieve_new(struct ch *);
/*
 * After the httpd that routes to it is freed (every request's fini has
 * run); states still waiting for the database are freed by db_free's
 * callbacks, which must run before (ch_xds_free order).
 */
void		 retrieve_free(struct retrieve *);

extern const struct httpd_handler retrieve_handler;

/* 1 when this request's state is retrieve_handler's (repository path). */
int		 retrieve_owns(struct retrieve *, struct httpd_req *);

/* The ITI-43 delegate for struct iti41_ctx. */
const struct iti41_delegate *retrieve_delegate(struct retrieve *);

#endif
