/*
 * test_edge_conf.c: the edge.yaml key table (edge_conf.c): defaults, the
 * sample file, every cross-key check and reload's keep-running rule.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "edge.h"
#include "tap.h"

static struct edge_conf *
load(const char *yaml, struct conf_errors *errs)
{
	conf_errors_init(errs);
	return (edge_conf_load_buffer("t.yaml", yaml, strlen(yaml), errs));
}

/* yaml must fail with a line containing want. */
static void
refused(const char *yaml, const char *want, const char *what)
{
	struct conf_errors	 errs;
	struct edge_conf	*c;
	size_t			 i;
	int			 found = 0;

	c = load(yaml, &errs);
	for (i = 0; i < errs.n; i++)
		if (strstr(errs.lines[i], want) != NULL)
			found = 1;
	ok(c == NULL && found, "%s", what);
	if (!found)
		for (i = 0; i < errs.n; i++)
			tap_diag("%s", errs.lines[i]);
	edge_conf_free(c);
	conf_errors_free(&errs);
}

#define DB	"database: {conninfo: \"dbname=x\"}\n"

int
main(void)
{
	struct conf_errors	 errs;
	struct edge_conf	*c, *c2;
	char			 path[4096];

	c = load(DB, &errs);
	ok(c != NULL, "the minimal file loads");
	if (c == NULL)
		return (tap_done());
	ok(c->ris.listen.host[0] == '\0' && c->ris.listen.port == 20000,
	    "ris.listen defaults to *:20000");
	ok(c->ris.accession_field == EDGE_ACC_OBR3 &&
	    c->ris.max_message == 1024 * 1024 && c->ris.timeout == 60 &&
	    c->ris.assigning_authority == NULL && c->ris.tls.cert_file == NULL,
	    "RIS defaults: OBR-3, 1M, 60s, first PID-3, no TLS");
	ok(strcmp(c->dicom.ae_title, "RSNA-ISN") == 0 &&
	    c->dicom.port == 4104 &&
	    strcmp(c->dicom.helper, EDGE_DICOM_HELPER) == 0,
	    "dicom defaults: RSNA-ISN, 4104, the installed helper");
	ok(c->database.pool_size == 4 && c->database.statement_timeout == 30 &&
	    strcmp(c->database.schema_dir, EDGE_SCHEMA_DIR) == 0,
	    "database defaults");
	ok(c->site.time_zone == NULL && strcmp(c->site.name, "isn-edge") == 0,
	    "site defaults");
	ok(c->npacs == 0 && c->drain_timeout == 30, "no PACS, 30s drain");
	ok(c->jobs.poll_interval == 1 && c->jobs.concurrency == 4 &&
	    c->jobs.retries == 10 && c->jobs.retry_interval == 600 &&
	    c->jobs.move_timeout == 1800 && c->jobs.move_grace == 5 &&
	    c->jobs.partial == EDGE_PARTIAL_RETRY &&
	    c->jobs.key_file == NULL &&
	    strcmp(c->jobs.submit_helper, EDGE_SUBMIT_HELPER) == 0,
	    "jobs defaults: 1s poll, 4 at once, 10 retries every 10m");
	ok(c->clearinghouse.url == NULL &&
	    strcmp(c->clearinghouse.affinity_domain, "1.2.260") == 0 &&
	    c->clearinghouse.timeout == 60,
	    "clearinghouse defaults: none, affinity domain 1.2.260");
	edge_conf_free(c);
	conf_errors_free(&errs);

	c = load(DB "site: {name: a, time_zone: Europe/Paris}\n"
	    "ris:\n  listen: \"127.0.0.1:0\"\n  accession_field: obr-18\n"
	    "  assigning_authority: HOSP\n"
	    "  tls: {cert: c.pem, key: k.pem, ca: ca.pem}\n"
	    "pacs:\n  - {name: one, ae_title: PACS1, host: 127.0.0.1, "
	    "port: 11112}\n  - {name: two, ae_title: \"OTHER AE\", "
	    "host: pacs.example, port: 104}\n", &errs);
	ok(c != NULL && c->npacs == 2 && c->pacs[1].port == 104 &&
	    strcmp(c->pacs[1].ae_title, "OTHER AE") == 0 &&
	    strcmp(c->pacs[0].host, "127.0.0.1") == 0,
	    "the pacs list is parsed into struct edge_pacs");
	ok(c != NULL && c->ris.accession_field == EDGE_ACC_OBR18 &&
	    c->ris.tls.verify_peer == 1 &&
	    strcmp(c->ris.assigning_authority, "HOSP") == 0 &&
	    strcmp(c->site.time_zone, "Europe/Paris") == 0,
	    "obr-18, mutual TLS with a ca, authority, time zone");

	/* Reload: restart-only keys keep the running values. */
	c2 = load(DB "site: {name: b}\nris: {listen: \"127.0.0.1:1\"}\n",
	    &errs);
	ok(c2 != NULL, "a second configuration loads");
	if (c != NULL && c2 != NULL) {
		conf_keep_no_reload(edge_conf_keys, c, c2);
		ok(c2->ris.listen.port == 0 && strcmp(c2->site.name, "b") == 0 &&
		    c2->ris.tls.cert_file != NULL && c->ris.tls.cert_file == NULL,
		    "reload keeps ris.listen and ris.tls, applies site.name");
	} else
		ok(0, "reload keeps restart-only keys");
	edge_conf_free(c);
	edge_conf_free(c2);
	conf_errors_free(&errs);

	refused("site: {name: a}\n", "conninfo", "database.conninfo is required");
	refused(DB "ris: {accession_field: obr-4}\n", "accession_field",
	    "accession_field is obr-3 or obr-18");
	refused(DB "ris: {tls: {cert: c.pem}}\n", "give both \"cert\" and \"key\"",
	    "a TLS cert without its key");
	refused(DB "ris: {tls: {ca: ca.pem}}\n", "mutual TLS needs",
	    "a TLS ca without cert and key");
	refused(DB "site: {time_zone: Mars/Olympus}\n", "site.time_zone",
	    "an unknown time zone");
	refused(DB "site: {time_zone: ../etc/passwd}\n", "site.time_zone",
	    "a time zone that is a path");
	refused(DB "pacs: [{name: a, ae_title: \"THIS AE IS TOO LONG\", "
	    "host: h, port: 1}]\n", "pacs[0].ae_title", "an AE title over 16");
	refused(DB "pacs: [{name: a, ae_title: \"A\\\\B\", host: h, port: 1}]\n",
	    "pacs[0].ae_title", "an AE title with a backslash");
	refused(DB "pacs: [{name: a, ae_title: A, host: h, port: 1}, "
	    "{name: a, ae_title: B, host: h, port: 2}]\n",
	    "already names pacs[0]", "two PACS with one name");
	refused(DB "pacs: [{name: a, ae_title: A, host: h}]\n", "port",
	    "a PACS without a port");
	refused(DB "pacs: [{name: a, ae_title: A, host: h, port: 70000}]\n",
	    "port", "a PACS port out of range");
	refused(DB "dicom: {ae_title: \"\"}\n", "dicom.ae_title",
	    "an empty local AE title");
	refused(DB "dicom: {port: 20000}\n", "also used by ris.listen",
	    "dicom.port on the RIS port");
	refused(DB "ris: {max_message: 100}\n", "max_message",
	    "max_message under 1k");
	refused(DB "nope: 1\n", "nope", "an unknown key");
	refused(DB "clearinghouse: {url: \"https://h/x\"}\n",
	    "clearinghouse.pix: needed with the other",
	    "a clearinghouse url without the rest");
	refused(DB "clearinghouse: {url: \"http://h/x\", pix: \"h:1\", "
	    "registry: \"h:2\", ca: a, cert: b, key: c, repository_uid: 1.2}\n",
	    "clearinghouse.url: expected an https", "a plain http url");
	refused(DB "clearinghouse: {url: \"https://h/x\", pix: h, "
	    "registry: \"h:2\", ca: a, cert: b, key: c, repository_uid: 1.2}\n",
	    "clearinghouse.pix: expected host:port", "a feed without a port");
	refused(DB "jobs: {concurrency: 0}\n", "concurrency",
	    "jobs.concurrency under 1");
	refused(DB "jobs: {retry_interval: 0s}\n", "retry_interval",
	    "a zero retry_interval");
	refused(DB "api: {tokens_file: t}\n", "api.tokens_file: the API needs "
	    "jobs.key_file", "the API without the site key");
	refused(DB "api: {tls: {cert: c}}\n", "api.tls: give both",
	    "api.tls with a certificate and no key");
	refused(DB "ris: {listen: \"127.0.0.1:8080\"}\njobs: {key_file: k}\n"
	    "api: {tokens_file: t}\n", "api.listen: port 8080 is also used",
	    "the API on the RIS port");
	refused(DB "api: {scheme: isn3}\n", "scheme", "an unknown API scheme");
	c = load(DB "clearinghouse: {url: \"https://h/x\", pix: \"h:1\", "
	    "registry: \"h:2\", ca: a, cert: b, key: c, "
	    "repository_uid: 1.2}\njobs: {retries: 0, retry_interval: 2s}\n",
	    &errs);
	ok(c != NULL && c->jobs.retries == 0 && c->jobs.retry_interval == 2 &&
	    strcmp(c->clearinghouse.registry, "h:2") == 0,
	    "a complete clearinghouse section and jobs keys load");
	edge_conf_free(c);
	conf_errors_free(&errs);

	snprintf(path, sizeof(path), "%s/edge/edge.yaml.sample",
	    tap_srcdir());
	conf_errors_init(&errs);
	c = edge_conf_load(path, &errs);
	ok(c != NULL && strcmp(c->site.name, "general-hospital") == 0,
	    "the sample file loads");
	edge_conf_free(c);
	conf_errors_free(&errs);
	return (tap_done());
}
