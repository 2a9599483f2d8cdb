/*
 * ch_auth.h: peer authorisation (PROFILE.md section 6). A connection's
 * verified certificate identity (tls.h) is matched against the configured
 * peers; the caller then checks the role it needs. Shared by the ITI-8
 * feed (pixfeed.c) and the XDS HTTPS side.
 */
#ifndef ISN_CH_AUTH_H
#define ISN_CH_AUTH_H

#include "ch.h"
#include "tls.h"

struct httpd_req;

/*
 * The configured peer whose fingerprint (compared in constant time with
 * tls_fingerprint_equal) or subject (exact RFC 2253 string) matches the
 * certificate identity, or NULL (also for a NULL identity). The pointer
 * is into conf: do not keep it past a reload.
 */
const struct ch_peer	*ch_peer_find(const struct ch_conf *,
			    const struct tls_peer *);

/* The peer matching the identity when it holds role (CH_ROLE_*), or NULL. */
const struct ch_peer	*ch_peer_authorise(const struct ch_conf *,
			    const struct tls_peer *, int role);

/*
 * Refuse an XDS request the peer is not authorised for: HTTP 403 with a
 * SOAP 1.2 Sender fault "this certificate is not authorised to <what>"
 * (RelatesTo relates when not NULL), the body never read; logs
 * event=unauthorised with the peer's configured name, else its certificate
 * fingerprint, else "" (no certificate), counts isn_ch_xds_refused_total
 * (defined by ch_xds.c) and writes an ATNA Security Alert (use of a
 * restricted function: the path and what was refused, the peer's subject
 * and address). Shared by ch_xds.c and retrieve.c.
 */
void			 ch_auth_refuse(struct ch *, struct httpd_req *,
			    const char *relates, const char *what);

#endif
