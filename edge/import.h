/*
 * import.h: the receiving side of the edge (docs/design/import.md).
 * Staff look a submission up by the details the sending site handed out
 * (token or access code, date of birth, password), then start an import
 * job: retrieve the study from the clearinghouse through isn-edge-fetch
 * (libisnphr: streamed, decrypted, verified as a PHR does), C-STORE every
 * instance into a PACS of edge.yaml's list through isn-edge-dicom, delete
 * each instance from the spool once the PACS has it. Every status is an
 * import_history row (0002-import.sql).
 */
#ifndef ISN_IMPORT_H
#define ISN_IMPORT_H

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

struct edge;
struct import;

/* What staff typed; the strings are wiped and freed by the callee. */
struct import_secrets {
	char	*scheme;	/* any, isn2, rsna-token, rsna-access-code */
	char	*secret;	/* token or access code */
	char	*dob;		/* YYYYMMDD */
	char	*password;	/* "" for an access code */
};
/* Inline: the API links without the runner (test_api, the fuzzer). */
static inline void
import_secrets_clear(struct import_secrets *s)
{
	if (s->secret != NULL)
		OPENSSL_clear_free(s->secret, strlen(s->secret));
	if (s->password != NULL)
		OPENSSL_clear_free(s->password, strlen(s->password));
	free(s->scheme);
	free(s->dob);
	memset(s, 0, sizeof(*s));
}

/*
 * The answer of a lookup or a creation: an HTTP status and a JSON body,
 * on the loop, exactly once (503 when the runner closes first).
 */
typedef void	(*import_reply_cb)(void *arg, int status, const char *json);

struct import_request {
	const char	*study;
	const char	*pacs;		/* a pacs[].name */
	const char	*mrn;		/* reconciliation, or NULL */
	const char	*accession;
	const char	*user;
};

/*
 * Starts the runner: recovery of imports a previous run left in flight,
 * then polls every jobs.poll_interval. NULL and *cause on failure.
 */
struct import	*import_new(struct edge *, char **cause);
/* Lists the studies for these details (takes the secrets). */
void		 import_lookup(struct import *, struct import_secrets *,
		    import_reply_cb, void *);
/* A new import job (takes the secrets): 201 {"import": ID}. */
void		 import_create(struct import *, struct import_secrets *,
		    const struct import_request *, import_reply_cb, void *);
/*
 * Cancels an import not yet completed: what runs is stopped, -40 is
 * recorded, the details are erased and the spool removed (instances the
 * PACS already has stay there). 200 {"import": ID}; 404; 409 when it
 * has ended (40, -40, -10); 503 while a pick is in flight.
 */
void		 import_cancel(struct import *, long long id,
		    const char *user, import_reply_cb, void *);
/* Whether name is a PACS of the configuration. */
int		 import_pacs_known(struct import *, const char *name);
void		 import_kick(struct import *);
void		 import_stop(struct import *);
/* Before api_free and db_free: helpers killed, lookups answered 503. */
void		 import_close(struct import *);
void		 import_free(struct import *);

#endif
