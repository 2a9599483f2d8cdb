/*
 * edge_conf.c: the edge.yaml key table and the checks that span several
 * keys. Every key here must appear in docs/edge.yaml.5 and
 * edge/edge.yaml.sample (tests/test_edge_keys.sh).
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "edge.h"
#include "xmalloc.h"

#define EDGE_TZ_MAX	128
#define EDGE_NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static const struct conf_enum edge_accessions[] = {
	{ "obr-3", EDGE_ACC_OBR3 },
	{ "obr-18", EDGE_ACC_OBR18 },
	{ NULL, 0 }
};

static const struct conf_key edge_site_keys[] = {
	{ .name = "name", .type = CONF_STRING, .def = "isn-edge",
	  .offset = offsetof(struct edge_site, name),
	  .help = "this edge in logs" },
	{ .name = "time_zone", .type = CONF_STRING,
	  .offset = offsetof(struct edge_site, time_zone),
	  .help = "zone of HL7 times without offset; default the system's" },
	{ .name = NULL }
};

static const struct conf_key edge_database_keys[] = {
	{ .name = "conninfo", .type = CONF_STRING,
	  .flags = CONF_REQUIRED | CONF_SECRET | CONF_NO_RELOAD,
	  .offset = offsetof(struct edge_database, conninfo),
	  .help = "libpq connection string" },
	{ .name = "pool_size", .type = CONF_INT, .def = "4", .min = 1,
	  .max = 256, .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct edge_database, pool_size) },
	{ .name = "schema_dir", .type = CONF_PATH, .def = EDGE_SCHEMA_DIR,
	  .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct edge_database, schema_dir),
	  .help = "edge migrations (NNNN-name.sql)" },
	{ .name = "statement_timeout", .type = CONF_DURATION, .def = "30s",
	  .min = 1, .max = 3600, .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct edge_database, statement_timeout) },
	{ .name = NULL }
};

static const struct conf_key edge_tls_keys[] = {
	{ .name = "cert", .type = CONF_PATH, .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct tls_conf, cert_file),
	  .help = "certificate chain, leaf first (PEM)" },
	{ .name = "key", .type = CONF_PATH, .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct tls_conf, key_file),
	  .help = "private key (PEM)" },
	{ .name = "ca", .type = CONF_PATH, .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct tls_conf, ca_file),
	  .help = "CAs of RIS client certificates: mutual TLS (PEM)" },
	{ .name = NULL }
};

static const struct conf_key edge_ris_keys[] = {
	{ .name = "listen", .type = CONF_ADDR, .def = "*:20000",
	  .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct edge_ris, listen),
	  .help = "HL7 from the RIS, MLLP" },
	{ .name = "tls", .type = CONF_SECTION, .sub = edge_tls_keys,
	  .offset = offsetof(struct edge_ris, tls) },
	{ .name = "accession_field", .type = CONF_ENUM, .def = "obr-3",
	  .enums = edge_accessions,
	  .offset = offsetof(struct edge_ris, accession_field) },
	{ .name = "assigning_authority", .type = CONF_STRING,
	  .offset = offsetof(struct edge_ris, assigning_authority),
	  .help = "the PID-3 repetition to use (CX.4)" },
	{ .name = "max_message", .type = CONF_SIZE, .def = "1M",
	  .min = 1024, .max = 16 * 1024 * 1024, .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct edge_ris, max_message) },
	{ .name = "timeout", .type = CONF_DURATION, .def = "60s", .min = 1,
	  .max = 86400, .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct edge_ris, timeout) },
	{ .name = NULL }
};

static const struct conf_key edge_pacs_keys[] = {
	{ .name = "name", .type = CONF_STRING, .flags = CONF_REQUIRED,
	  .offset = offsetof(struct edge_pacs, name) },
	{ .name = "ae_title", .type = CONF_STRING, .flags = CONF_REQUIRED,
	  .offset = offsetof(struct edge_pacs, ae_title) },
	{ .name = "host", .type = CONF_STRING, .flags = CONF_REQUIRED,
	  .offset = offsetof(struct edge_pacs, host) },
	{ .name = "port", .type = CONF_INT, .flags = CONF_REQUIRED,
	  .min = 1, .max = 65535,
	  .offset = offsetof(struct edge_pacs, port) },
	{ .name = NULL }
};

static const struct conf_key edge_dicom_keys[] = {
	{ .name = "ae_title", .type = CONF_STRING, .def = "RSNA-ISN",
	  .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct edge_dicom, ae_title) },
	{ .name = "port", .type = CONF_INT, .def = "4104", .min = 0,
	  .max = 65535, .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct edge_dicom, port) },
	{ .name = "spool_dir", .type = CONF_PATH,
	  .def = "/var/lib/isn/edge/spool", .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct edge_dicom, spool_dir) },
	{ .name = "helper", .type = CONF_PATH, .def = EDGE_DICOM_HELPER,
	  .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct edge_dicom, helper) },
	{ .name = NULL }
};

static const struct conf_key edge_clearinghouse_keys[] = {
	{ .name = "url", .type = CONF_STRING,
	  .offset = offsetof(struct edge_clearinghouse, url),
	  .help = "ITI-41 repository endpoint (https)" },
	{ .name = "registry_url", .type = CONF_STRING,
	  .offset = offsetof(struct edge_clearinghouse, registry_url),
	  .help = "ITI-18 registry endpoint: a retry never stores twice" },
	{ .name = "pix", .type = CONF_STRING,
	  .offset = offsetof(struct edge_clearinghouse, pix),
	  .help = "host:port of the PIX feed (ITI-8, MLLP/TLS)" },
	{ .name = "registry", .type = CONF_STRING,
	  .offset = offsetof(struct edge_clearinghouse, registry),
	  .help = "host:port of the registry feed (ITI-8, MLLP/TLS)" },
	{ .name = "ca", .type = CONF_PATH,
	  .offset = offsetof(struct edge_clearinghouse, ca) },
	{ .name = "cert", .type = CONF_PATH,
	  .offset = offsetof(struct edge_clearinghouse, cert),
	  .help = "client certificate: roles source and consumer" },
	{ .name = "key", .type = CONF_PATH,
	  .offset = offsetof(struct edge_clearinghouse, key) },
	{ .name = "affinity_domain", .type = CONF_STRING, .def = "1.2.260",
	  .offset = offsetof(struct edge_clearinghouse, affinity_domain) },
	{ .name = "repository_uid", .type = CONF_STRING,
	  .offset = offsetof(struct edge_clearinghouse, repository_uid) },
	{ .name = "source_id", .type = CONF_STRING,
	  .offset = offsetof(struct edge_clearinghouse, source_id) },
	{ .name = "timeout", .type = CONF_DURATION, .def = "60s", .min = 1,
	  .max = 3600,
	  .offset = offsetof(struct edge_clearinghouse, timeout) },
	{ .name = NULL }
};

static const struct conf_enum edge_partials[] = {
	{ "retry", EDGE_PARTIAL_RETRY },
	{ "last", EDGE_PARTIAL_LAST },
	{ "send", EDGE_PARTIAL_SEND },
	{ NULL, 0 }
};

static const struct conf_key edge_jobs_keys[] = {
	{ .name = "key_file", .type = CONF_PATH,
	  .offset = offsetof(struct edge_jobs, key_file),
	  .help = "key-encryption key of the isn2 content keys" },
	{ .name = "poll_interval", .type = CONF_DURATION, .def = "1s",
	  .min = 1, .max = 3600,
	  .offset = offsetof(struct edge_jobs, poll_interval) },
	{ .name = "concurrency", .type = CONF_INT, .def = "4", .min = 1,
	  .max = 64, .offset = offsetof(struct edge_jobs, concurrency) },
	{ .name = "retries", .type = CONF_INT, .def = "10", .min = 0,
	  .max = 1000, .offset = offsetof(struct edge_jobs, retries) },
	{ .name = "retry_interval", .type = CONF_DURATION, .def = "10m",
	  .min = 1, .max = 7 * 86400,
	  .offset = offsetof(struct edge_jobs, retry_interval) },
	{ .name = "move_timeout", .type = CONF_DURATION, .def = "30m",
	  .min = 1, .max = 86400,
	  .offset = offsetof(struct edge_jobs, move_timeout) },
	{ .name = "move_grace", .type = CONF_DURATION, .def = "5s",
	  .min = 1, .max = 600,
	  .offset = offsetof(struct edge_jobs, move_grace) },
	{ .name = "partial", .type = CONF_ENUM, .def = "retry",
	  .enums = edge_partials, .offset = offsetof(struct edge_jobs, partial),
	  .help = "a partial study: retry, last (the last try sends it), send" },
	{ .name = "submit_helper", .type = CONF_PATH,
	  .def = EDGE_SUBMIT_HELPER,
	  .offset = offsetof(struct edge_jobs, submit_helper) },
	{ .name = NULL }
};

static const struct conf_enum edge_schemes[] = {
	{ "isn2", EDGE_SCHEME_ISN2 },
	{ "rsna-token", EDGE_SCHEME_RSNA_TOKEN },
	{ NULL, 0 }
};

static const struct conf_key edge_api_keys[] = {
	{ .name = "listen", .type = CONF_ADDR, .def = "127.0.0.1:8080",
	  .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct edge_api, listen),
	  .help = "the staff API (HTTP, or HTTPS with tls)" },
	{ .name = "tls", .type = CONF_SECTION, .sub = edge_tls_keys,
	  .offset = offsetof(struct edge_api, tls) },
	{ .name = "tokens_file", .type = CONF_PATH, .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct edge_api, tokens_file),
	  .help = "\"user token\" lines; unset: no API" },
	{ .name = "scheme", .type = CONF_ENUM, .def = "isn2",
	  .enums = edge_schemes, .offset = offsetof(struct edge_api, scheme) },
	{ .name = "delay", .type = CONF_DURATION, .def = "72h", .min = 0,
	  .max = 365 * 86400, .offset = offsetof(struct edge_api, delay) },
	{ .name = "max_body", .type = CONF_SIZE, .def = "64k", .min = 1024,
	  .max = 16 * 1024 * 1024, .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct edge_api, max_body) },
	{ .name = "timeout", .type = CONF_DURATION, .def = "30s", .min = 1,
	  .max = 3600, .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct edge_api, timeout) },
	{ .name = "max_derive", .type = CONF_INT, .def = "2", .min = 1,
	  .max = 16, .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct edge_api, max_derive) },
	{ .name = NULL }
};

static const struct conf_key edge_import_keys[] = {
	{ .name = "fetch_helper", .type = CONF_PATH,
	  .def = EDGE_FETCH_HELPER,
	  .offset = offsetof(struct edge_import, fetch_helper),
	  .help = "isn-edge-fetch, the retrieving helper (libisnphr)" },
	{ .name = "concurrency", .type = CONF_INT, .def = "2", .min = 1,
	  .max = 64, .offset = offsetof(struct edge_import, concurrency) },
	{ .name = "retries", .type = CONF_INT, .def = "10", .min = 0,
	  .max = 1000, .offset = offsetof(struct edge_import, retries) },
	{ .name = "retry_interval", .type = CONF_DURATION, .def = "5m",
	  .min = 1, .max = 7 * 86400,
	  .offset = offsetof(struct edge_import, retry_interval) },
	{ .name = "reconcile", .type = CONF_BOOL, .def = "false",
	  .offset = offsetof(struct edge_import, reconcile),
	  .help = "local MRN and accession replace the sender's" },
	{ .name = "keep_failed", .type = CONF_DURATION, .def = "7d",
	  .min = 0, .max = 365 * 86400,
	  .offset = offsetof(struct edge_import, keep_failed),
	  .help = "a failed import's unstored instances, then -40; 0: "
	  "until staff act" },
	{ .name = NULL }
};

const struct conf_key edge_conf_keys[] = {
	{ .name = "site", .type = CONF_SECTION, .sub = edge_site_keys,
	  .offset = offsetof(struct edge_conf, site) },
	{ .name = "database", .type = CONF_SECTION, .sub = edge_database_keys,
	  .offset = offsetof(struct edge_conf, database) },
	{ .name = "ris", .type = CONF_SECTION, .sub = edge_ris_keys,
	  .offset = offsetof(struct edge_conf, ris) },
	{ .name = "pacs", .type = CONF_LIST, .sub = edge_pacs_keys,
	  .sub_size = sizeof(struct edge_pacs), .max = 64,
	  .offset = offsetof(struct edge_conf, pacs),
	  .count_offset = offsetof(struct edge_conf, npacs) },
	{ .name = "dicom", .type = CONF_SECTION, .sub = edge_dicom_keys,
	  .offset = offsetof(struct edge_conf, dicom) },
	{ .name = "clearinghouse", .type = CONF_SECTION,
	  .sub = edge_clearinghouse_keys,
	  .offset = offsetof(struct edge_conf, clearinghouse) },
	{ .name = "jobs", .type = CONF_SECTION, .sub = edge_jobs_keys,
	  .offset = offsetof(struct edge_conf, jobs) },
	{ .name = "api", .type = CONF_SECTION, .sub = edge_api_keys,
	  .offset = offsetof(struct edge_conf, api) },
	{ .name = "import", .type = CONF_SECTION, .sub = edge_import_keys,
	  .offset = offsetof(struct edge_conf, import) },
	{ .name = "drain_timeout", .type = CONF_DURATION, .def = "30s",
	  .min = 0, .max = 86400,
	  .offset = offsetof(struct edge_conf, drain_timeout) },
	{ .name = "user", .type = CONF_STRING, .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct edge_conf, user) },
	{ .name = "pid_file", .type = CONF_PATH, .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct edge_conf, pid_file) },
	{ .name = NULL }
};

/* PS3.5 AE: 1 to 16 characters of the default repertoire, no backslash. */
static int
edge_ae_valid(const char *s)
{
	size_t	i, blank = 0;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '\\')
			return (0);
		if (s[i] == ' ')
			blank++;
	}
	return (i > 0 && i <= EDGE_AE_MAX && blank < i);
}

/* An IANA zone name present in the system's zone database. */
static int
edge_tz_valid(const char *s)
{
	const char	*dir;
	char		 path[4096];
	struct stat	 st;
	size_t		 i;

	if (s[0] == '\0' || s[0] == '/' || strlen(s) > EDGE_TZ_MAX ||
	    strstr(s, "..") != NULL)
		return (0);
	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("/_+-",
		    s[i]) == NULL)
			return (0);
	if ((dir = getenv("TZDIR")) == NULL || *dir == '\0')
		dir = "/usr/share/zoneinfo";
	snprintf(path, sizeof(path), "%s/%s", dir, s);
	return (stat(path, &st) == 0 && S_ISREG(st.st_mode));
}

/* host:port with a port number. */
static int
edge_hostport_valid(const char *s)
{
	const char	*colon = strrchr(s, ':');
	char		*end;
	long		 port;

	if (colon == NULL || colon == s || colon[1] == '\0')
		return (0);
	port = strtol(colon + 1, &end, 10);
	return (*end == '\0' && port > 0 && port <= 65535);
}

/*
 * The clearinghouse keys go together: a submission needs all of url,
 * pix, registry, ca, cert, key and repository_uid (or none: an edge
 * that does not send yet).
 */
static void
edge_conf_check_ch(const char *path, struct edge_conf *c,
    struct conf_errors *errs)
{
	const struct edge_clearinghouse	*h = &c->clearinghouse;
	const char			*need[] = { "url", "pix",
	    "registry", "ca", "cert", "key", "repository_uid" };
	const char			*val[] = { h->url, h->pix,
	    h->registry, h->ca, h->cert, h->key, h->repository_uid };
	size_t				 i, set = 0;

	for (i = 0; i < EDGE_NITEMS(val); i++)
		if (val[i] != NULL)
			set++;
	if (set != 0 && set != EDGE_NITEMS(val)) {
		for (i = 0; i < EDGE_NITEMS(val); i++)
			if (val[i] == NULL)
				conf_error_add(errs, path, "clearinghouse.%s: "
				    "needed with the other clearinghouse keys",
				    need[i]);
	}
	if (h->pix != NULL && !edge_hostport_valid(h->pix))
		conf_error_add(errs, path, "clearinghouse.pix: expected "
		    "host:port");
	if (h->registry != NULL && !edge_hostport_valid(h->registry))
		conf_error_add(errs, path, "clearinghouse.registry: expected "
		    "host:port");
	if (h->url != NULL && strncmp(h->url, "https://", 8) != 0)
		conf_error_add(errs, path, "clearinghouse.url: expected an "
		    "https:// URL");
	if (h->registry_url != NULL &&
	    strncmp(h->registry_url, "https://", 8) != 0)
		conf_error_add(errs, path, "clearinghouse.registry_url: "
		    "expected an https:// URL");
}

/* A tls section: cert and key together; ca (mutual) only with them. */
static void
edge_conf_check_tls(const char *path, const char *what,
    const struct tls_conf *t, struct conf_errors *errs)
{
	if ((t->cert_file == NULL) != (t->key_file == NULL))
		conf_error_add(errs, path, "%s.tls: give both \"cert\" and "
		    "\"key\", or neither", what);
	if (t->ca_file != NULL && t->cert_file == NULL)
		conf_error_add(errs, path, "%s.tls.ca: mutual TLS needs "
		    "\"cert\" and \"key\" too", what);
}

int
edge_conf_check(const char *path, struct edge_conf *c,
    struct conf_errors *errs)
{
	size_t			 before = errs->n, i, j;

	if (c->site.name[0] == '\0')
		conf_error_add(errs, path, "site.name: must not be empty");
	if (c->site.time_zone != NULL && !edge_tz_valid(c->site.time_zone))
		conf_error_add(errs, path, "site.time_zone: \"%s\" is not a "
		    "zone of the system's time zone database",
		    c->site.time_zone);
	edge_conf_check_tls(path, "ris", &c->ris.tls, errs);
	edge_conf_check_tls(path, "api", &c->api.tls, errs);
	if (c->api.tokens_file != NULL && c->jobs.key_file == NULL)
		conf_error_add(errs, path, "api.tokens_file: the API needs "
		    "jobs.key_file to wrap the content keys it derives");
	if (c->api.tokens_file != NULL &&
	    c->api.listen.port == c->ris.listen.port)
		conf_error_add(errs, path, "api.listen: port %d is also used "
		    "by ris.listen", c->api.listen.port);
	if (c->ris.assigning_authority != NULL &&
	    c->ris.assigning_authority[0] == '\0')
		conf_error_add(errs, path, "ris.assigning_authority: must "
		    "not be empty");
	for (i = 0; i < c->npacs; i++) {
		struct edge_pacs	*p = &c->pacs[i];

		if (p->name[0] == '\0')
			conf_error_add(errs, path, "pacs[%zu].name: must not "
			    "be empty", i);
		if (!edge_ae_valid(p->ae_title))
			conf_error_add(errs, path, "pacs[%zu].ae_title: "
			    "expected 1 to 16 printable ASCII characters, no "
			    "backslash", i);
		if (p->host[0] == '\0' || strlen(p->host) > CONF_HOST_MAX)
			conf_error_add(errs, path, "pacs[%zu].host: expected "
			    "a host name or address", i);
		for (j = 0; j < i; j++) {
			if (strcmp(c->pacs[j].name, p->name) == 0) {
				conf_error_add(errs, path, "pacs[%zu].name: "
				    "\"%s\" already names pacs[%zu]", i,
				    p->name, j);
				break;
			}
		}
	}
	if (!edge_ae_valid(c->dicom.ae_title))
		conf_error_add(errs, path, "dicom.ae_title: expected 1 to 16 "
		    "printable ASCII characters, no backslash");
	edge_conf_check_ch(path, c, errs);
	if (c->dicom.port != 0 && c->dicom.port == c->ris.listen.port)
		conf_error_add(errs, path, "dicom.port: port %d is also used "
		    "by ris.listen", c->dicom.port);
	return (errs->n == before ? 0 : -1);
}

static struct edge_conf *
edge_conf_finish(const char *path, struct edge_conf *c,
    struct conf_errors *errs)
{
	if (edge_conf_check(path, c, errs) == -1) {
		edge_conf_free(c);
		return (NULL);
	}
	c->ris.tls.verify_peer = c->ris.tls.ca_file != NULL;
	c->api.tls.verify_peer = c->api.tls.ca_file != NULL;
	return (c);
}

struct edge_conf *
edge_conf_load(const char *path, struct conf_errors *errs)
{
	struct edge_conf	*c;

	c = xcalloc(1, sizeof(*c));
	if (conf_load_file(path, edge_conf_keys, c, errs) == -1) {
		free(c);
		return (NULL);
	}
	return (edge_conf_finish(path, c, errs));
}

struct edge_conf *
edge_conf_load_buffer(const char *name, const char *buf, size_t len,
    struct conf_errors *errs)
{
	struct edge_conf	*c;

	c = xcalloc(1, sizeof(*c));
	if (conf_load_buffer(name, buf, len, edge_conf_keys, c, errs) == -1) {
		free(c);
		return (NULL);
	}
	return (edge_conf_finish(name, c, errs));
}

void
edge_conf_free(struct edge_conf *c)
{
	if (c == NULL)
		return;
	conf_free(edge_conf_keys, c);
	free(c);
}
