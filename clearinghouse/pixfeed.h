/*
 * pixfeed.h: the ITI-8 patient identity feed of the clearinghouse: an
 * MLLP/TLS listener whose messages, from peers with role source, register,
 * update (A01 A04 A05 A08) or merge (A40) patients in the registry table
 * `patients`, answered with an HL7 ACK. Each answered message is audited
 * (ch_audit: ITI-8 Patient Record, C/U, D for the id merged away by an
 * A40; outcome 0 AA, 4 AE, 8 AR). See docs/design/pixfeed.md.
 */
#ifndef ISN_PIXFEED_H
#define ISN_PIXFEED_H

#include <openssl/ssl.h>

struct ch;
struct db;
struct pixfeed;

/*
 * Listens on addr ("127.0.0.1:0" ...) with the TLS server context ctx
 * (not owned; it must outlive the feed). name ("pix_feed" or
 * "registry_feed") labels log lines. The peers, the affinity domain and
 * the limits are read from ch->conf at each message, so a reload applies
 * to the next message. Each message in flight is ch_hold'ed until its
 * ACK is queued. NULL and *cause (caller frees) on failure.
 */
struct pixfeed	*pixfeed_new(struct ch *, struct db *, const char *name,
		    const char *addr, SSL_CTX *ctx, char **cause);
int		 pixfeed_port(struct pixfeed *);
/* Stop accepting; connections waiting for an ACK get it, then close. */
void		 pixfeed_stop(struct pixfeed *);
/*
 * Closes everything. Free the db pool first (db_free answers the messages
 * still waiting for the database, with AR), then the feeds.
 */
void		 pixfeed_free(struct pixfeed *);

#endif
