/*
 * ch_auth.c: match a TLS peer identity to a configured peer.
 */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "ch_auth.h"
#include "tls.h"

const struct ch_peer *
ch_peer_find(const struct ch_conf *conf, const struct tls_peer *id)
{
	const struct ch_peer	*p;
	size_t			 i;

	if (conf == NULL || id == NULL)
		return (NULL);
	for (i = 0; i < conf->npeers; i++) {
		p = &conf->peers[i];
		if (p->fingerprint != NULL) {
			if (tls_fingerprint_equal(p->fingerprint,
			    id->fingerprint))
				return (p);
		} else if (p->subject != NULL && id->subject != NULL &&
		    strcmp(p->subject, id->subject) == 0)
			return (p);
	}
	return (NULL);
}

const struct ch_peer *
ch_peer_authorise(const struct ch_conf *conf, const struct tls_peer *id,
    int role)
{
	const struct ch_peer	*p;

	if ((p = ch_peer_find(conf, id)) == NULL || (p->role_mask & role) == 0)
		return (NULL);
	return (p);
}
