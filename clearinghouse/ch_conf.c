/*
 * ch_conf.c: the clearinghouse.yaml key table and the checks that span
 * several keys. Every key here must appear in docs/clearinghouse.yaml.5
 * and clearinghouse/clearinghouse.yaml.sample (tests/conf-keys.sh).
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ch.h"
#include "conf.h"
#include "xmalloc.h"

#define CH_OID_MAX	64	/* ebXML/HL7 limit on OID length */

static const struct conf_enum ch_roles[] = {
	{ "source", CH_ROLE_SOURCE },
	{ "consumer", CH_ROLE_CONSUMER },
	{ NULL, 0 }
};

static const struct conf_enum ch_audit_dests[] = {
	{ "syslog", CH_AUDIT_SYSLOG },
	{ "file", CH_AUDIT_FILE },
	{ NULL, 0 }
};

static const struct conf_key ch_listen_keys[] = {
	{ .name = "xds", .type = CONF_ADDR, .def = "*:8443",
	  .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct ch_listen, xds),
	  .help = "XDS endpoints, HTTPS with mutual TLS" },
	{ .name = "pix_feed", .type = CONF_ADDR, .def = "*:8888",
	  .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct ch_listen, pix_feed),
	  .help = "ITI-8 to the PIX manager, MLLP over TLS" },
	{ .name = "registry_feed", .type = CONF_ADDR, .def = "*:8890",
	  .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct ch_listen, registry_feed),
	  .help = "ITI-8 to the registry, MLLP over TLS" },
	{ .name = "health", .type = CONF_ADDR, .def = "127.0.0.1:9102",
	  .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct ch_listen, health),
	  .help = "health and metrics, plain HTTP" },
	{ .name = NULL }
};

static const struct conf_key ch_tls_keys[] = {
	{ .name = "cert", .type = CONF_PATH, .flags = CONF_REQUIRED,
	  .offset = offsetof(struct tls_conf, cert_file),
	  .help = "certificate chain, leaf first (PEM)" },
	{ .name = "key", .type = CONF_PATH, .flags = CONF_REQUIRED,
	  .offset = offsetof(struct tls_conf, key_file),
	  .help = "private key (PEM)" },
	{ .name = "ca", .type = CONF_PATH, .flags = CONF_REQUIRED,
	  .offset = offsetof(struct tls_conf, ca_file),
	  .help = "CAs that issue peer certificates (PEM)" },
	{ .name = "crl", .type = CONF_PATH,
	  .offset = offsetof(struct tls_conf, crl_file),
	  .help = "certificate revocation lists (PEM)" },
	{ .name = NULL }
};

static const struct conf_key ch_role_keys[] = {
	{ .name = "", .type = CONF_ENUM, .enums = ch_roles, .offset = 0 },
	{ .name = NULL }
};

static const struct conf_key ch_peer_keys[] = {
	{ .name = "name", .type = CONF_STRING, .flags = CONF_REQUIRED,
	  .offset = offsetof(struct ch_peer, name) },
	{ .name = "fingerprint", .type = CONF_STRING,
	  .offset = offsetof(struct ch_peer, fingerprint) },
	{ .name = "subject", .type = CONF_STRING,
	  .offset = offsetof(struct ch_peer, subject) },
	{ .name = "roles", .type = CONF_LIST, .sub = ch_role_keys,
	  .sub_size = sizeof(int), .min = 1, .max = 2,
	  .offset = offsetof(struct ch_peer, roles),
	  .count_offset = offsetof(struct ch_peer, nroles) },
	{ .name = NULL }
};

static const struct conf_key ch_database_keys[] = {
	{ .name = "conninfo", .type = CONF_STRING,
	  .flags = CONF_REQUIRED | CONF_SECRET | CONF_NO_RELOAD,
	  .offset = offsetof(struct ch_database, conninfo),
	  .help = "libpq connection string" },
	{ .name = "pool_size", .type = CONF_INT, .def = "4", .min = 1,
	  .max = 256, .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct ch_database, pool_size) },
	{ .name = "schema_dir", .type = CONF_PATH, .def = CH_SCHEMA_DIR,
	  .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct ch_database, schema_dir),
	  .help = "registry migrations (NNNN-name.sql)" },
	{ .name = NULL }
};

static const struct conf_key ch_reaper_keys[] = {
	{ .name = "batch_size", .type = CONF_INT, .def = "500", .min = 1,
	  .max = 100000, .offset = offsetof(struct ch_reaper, batch_size) },
	{ .name = "interval", .type = CONF_DURATION, .def = "1m", .min = 1,
	  .max = 86400, .offset = offsetof(struct ch_reaper, interval) },
	{ .name = "sweep_grace", .type = CONF_DURATION, .def = "24h",
	  .min = 1, .max = 30 * 86400,
	  .offset = offsetof(struct ch_reaper, sweep_grace) },
	{ .name = NULL }
};

static const struct conf_key ch_limits_keys[] = {
	{ .name = "max_header_bytes", .type = CONF_SIZE, .def = "16k",
	  .min = 1024, .max = 1024 * 1024,
	  .offset = offsetof(struct ch_limits, max_header_bytes) },
	{ .name = "max_soap_size", .type = CONF_SIZE, .def = "16M",
	  .min = 4096, .max = 1024LL * 1024 * 1024,
	  .offset = offsetof(struct ch_limits, max_soap_size) },
	{ .name = "max_document_size", .type = CONF_SIZE, .def = "4G",
	  .min = 1024, .max = 1024LL * 1024 * 1024 * 1024,
	  .offset = offsetof(struct ch_limits, max_document_size) },
	{ .name = "max_documents", .type = CONF_INT, .def = "20000",
	  .min = 1, .max = 1000000,
	  .offset = offsetof(struct ch_limits, max_documents) },
	{ .name = "query_result_limit", .type = CONF_INT, .def = "1000",
	  .min = 1, .max = 1000000,
	  .offset = offsetof(struct ch_limits, query_result_limit) },
	{ .name = "max_connections", .type = CONF_INT, .def = "1024",
	  .min = 1, .max = 65536,
	  .offset = offsetof(struct ch_limits, max_connections) },
	{ .name = "failed_lookups_per_minute", .type = CONF_INT,
	  .def = "30", .min = 0, .max = 1000000,
	  .offset = offsetof(struct ch_limits, failed_lookups_per_minute) },
	{ .name = "failed_lookups_burst", .type = CONF_INT, .def = "60",
	  .min = 0, .max = 1000000,
	  .offset = offsetof(struct ch_limits, failed_lookups_burst) },
	{ .name = "failed_lookups_peers", .type = CONF_INT, .def = "4096",
	  .min = 1, .max = 1048576, .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct ch_limits, failed_lookups_peers) },
	{ .name = NULL }
};

static const struct conf_key ch_timeouts_keys[] = {
	{ .name = "header", .type = CONF_DURATION, .def = "30s", .min = 1,
	  .max = 3600, .offset = offsetof(struct ch_timeouts, header) },
	{ .name = "io", .type = CONF_DURATION, .def = "60s", .min = 1,
	  .max = 3600, .offset = offsetof(struct ch_timeouts, io) },
	{ .name = "idle", .type = CONF_DURATION, .def = "120s", .min = 1,
	  .max = 86400, .offset = offsetof(struct ch_timeouts, idle) },
	{ .name = "database", .type = CONF_DURATION, .def = "30s", .min = 1,
	  .max = 3600, .offset = offsetof(struct ch_timeouts, database) },
	{ .name = "drain", .type = CONF_DURATION, .def = "30s", .min = 0,
	  .max = 86400, .offset = offsetof(struct ch_timeouts, drain) },
	{ .name = NULL }
};

static const struct conf_key ch_audit_keys[] = {
	{ .name = "destination", .type = CONF_ENUM, .def = "syslog",
	  .enums = ch_audit_dests, .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct ch_audit, destination) },
	{ .name = "file", .type = CONF_PATH, .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct ch_audit, file) },
	{ .name = NULL }
};

const struct conf_key ch_conf_keys[] = {
	{ .name = "listen", .type = CONF_SECTION, .sub = ch_listen_keys,
	  .offset = offsetof(struct ch_conf, listen) },
	{ .name = "tls", .type = CONF_SECTION, .sub = ch_tls_keys,
	  .offset = offsetof(struct ch_conf, tls) },
	{ .name = "peers", .type = CONF_LIST, .sub = ch_peer_keys,
	  .sub_size = sizeof(struct ch_peer), .max = 4096,
	  .offset = offsetof(struct ch_conf, peers),
	  .count_offset = offsetof(struct ch_conf, npeers) },
	{ .name = "affinity_domain", .type = CONF_STRING,
	  .def = CH_AFFINITY_DEFAULT, .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct ch_conf, affinity_domain) },
	{ .name = "repository_unique_id", .type = CONF_STRING,
	  .flags = CONF_REQUIRED | CONF_NO_RELOAD,
	  .offset = offsetof(struct ch_conf, repository_unique_id) },
	{ .name = "home_community_id", .type = CONF_STRING,
	  .flags = CONF_REQUIRED | CONF_NO_RELOAD,
	  .offset = offsetof(struct ch_conf, home_community_id) },
	{ .name = "database", .type = CONF_SECTION, .sub = ch_database_keys,
	  .offset = offsetof(struct ch_conf, database) },
	{ .name = "blob_dir", .type = CONF_PATH, .def = "/var/lib/isn/blobs",
	  .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct ch_conf, blob_dir) },
	{ .name = "retention", .type = CONF_DURATION, .def = "30d",
	  .min = 3600, .max = 3650LL * 86400,
	  .offset = offsetof(struct ch_conf, retention) },
	{ .name = "reaper", .type = CONF_SECTION, .sub = ch_reaper_keys,
	  .offset = offsetof(struct ch_conf, reaper) },
	{ .name = "limits", .type = CONF_SECTION, .sub = ch_limits_keys,
	  .offset = offsetof(struct ch_conf, limits) },
	{ .name = "timeouts", .type = CONF_SECTION, .sub = ch_timeouts_keys,
	  .offset = offsetof(struct ch_conf, timeouts) },
	{ .name = "audit", .type = CONF_SECTION, .sub = ch_audit_keys,
	  .offset = offsetof(struct ch_conf, audit) },
	{ .name = "user", .type = CONF_STRING, .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct ch_conf, user) },
	{ .name = "pid_file", .type = CONF_PATH, .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct ch_conf, pid_file) },
	{ .name = NULL }
};

/* A dotted OID: digits, no empty arc, no leading zero, at most 64 bytes. */
static int
ch_oid_valid(const char *s)
{
	const char	*p;
	size_t		 arc = 0, arcs = 0;

	if (s == NULL || *s == '\0' || strlen(s) > CH_OID_MAX)
		return (0);
	for (p = s; ; p++) {
		if (*p == '.' || *p == '\0') {
			if (arc == 0)
				return (0);
			arcs++;
			if (*p == '\0')
				break;
			arc = 0;
			continue;
		}
		if (!isdigit((unsigned char)*p))
			return (0);
		if (arc == 0 && *p == '0' && isdigit((unsigned char)p[1]))
			return (0);
		arc++;
	}
	return (arcs >= 2);
}

/* A SHA-256 fingerprint: 64 hex digits, with optional colons or blanks. */
static int
ch_fingerprint_valid(const char *s)
{
	size_t	n = 0;

	for (; *s != '\0'; s++) {
		if (isxdigit((unsigned char)*s))
			n++;
		else if (*s != ':' && *s != ' ')
			return (0);
	}
	return (n == 64);
}

static int
ch_addr_same(const struct conf_addr *a, const struct conf_addr *b)
{
	if (a->port == 0 || a->port != b->port)
		return (0);
	return (a->host[0] == '\0' || b->host[0] == '\0' ||
	    strcmp(a->host, b->host) == 0);
}

int
ch_conf_check(const char *path, struct ch_conf *c, struct conf_errors *errs)
{
	const struct { const char *name; const struct conf_addr *a; } l[] = {
		{ "listen.xds", &c->listen.xds },
		{ "listen.pix_feed", &c->listen.pix_feed },
		{ "listen.registry_feed", &c->listen.registry_feed },
		{ "listen.health", &c->listen.health },
	};
	size_t	 before = errs->n, i, j;

	for (i = 0; i < c->npeers; i++) {
		struct ch_peer	*p = &c->peers[i];

		if ((p->fingerprint == NULL) == (p->subject == NULL))
			conf_error_add(errs, path, "peers[%zu]: give exactly "
			    "one of \"fingerprint\" and \"subject\"", i);
		else if (p->fingerprint != NULL &&
		    !ch_fingerprint_valid(p->fingerprint))
			conf_error_add(errs, path, "peers[%zu].fingerprint: "
			    "expected a SHA-256 fingerprint (64 hex digits)",
			    i);
		p->role_mask = 0;
		for (j = 0; j < p->nroles; j++) {
			if (p->role_mask & p->roles[j])
				conf_error_add(errs, path, "peers[%zu].roles: "
				    "role listed twice", i);
			p->role_mask |= p->roles[j];
		}
		for (j = 0; j < i; j++) {
			if (strcmp(c->peers[j].name, p->name) == 0) {
				conf_error_add(errs, path, "peers[%zu].name: "
				    "\"%s\" already names peers[%zu]", i,
				    p->name, j);
				break;
			}
		}
	}
	if (!ch_oid_valid(c->affinity_domain))
		conf_error_add(errs, path, "affinity_domain: expected an OID");
	if (!ch_oid_valid(c->repository_unique_id))
		conf_error_add(errs, path,
		    "repository_unique_id: expected an OID");
	if (strncmp(c->home_community_id, "urn:oid:", 8) != 0 ||
	    !ch_oid_valid(c->home_community_id + 8))
		conf_error_add(errs, path,
		    "home_community_id: expected \"urn:oid:\" and an OID");
	if (c->audit.destination == CH_AUDIT_FILE && c->audit.file == NULL)
		conf_error_add(errs, path, "audit.file: required when "
		    "audit.destination is file");
	for (i = 0; i < sizeof(l) / sizeof(l[0]); i++)
		for (j = 0; j < i; j++)
			if (ch_addr_same(l[i].a, l[j].a))
				conf_error_add(errs, path, "%s: port %d is "
				    "also used by %s", l[i].name, l[i].a->port,
				    l[j].name);
	return (errs->n == before ? 0 : -1);
}

struct ch_conf *
ch_conf_load(const char *path, struct conf_errors *errs)
{
	struct ch_conf	*c;

	c = xcalloc(1, sizeof(*c));
	if (conf_load_file(path, ch_conf_keys, c, errs) == -1) {
		free(c);
		return (NULL);
	}
	if (ch_conf_check(path, c, errs) == -1) {
		ch_conf_free(c);
		return (NULL);
	}
	c->tls.verify_peer = 1;
	return (c);
}

void
ch_conf_free(struct ch_conf *c)
{
	if (c == NULL)
		return;
	conf_free(ch_conf_keys, c);
	free(c);
}
