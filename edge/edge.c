/*
 * edge.c: isn-edge main: options, configuration, daemonisation, signals
 * (reload, graceful stop), privileges; it wires the modules: the edge
 * database (migrations, then the pool), the RIS feed (ris) and the job
 * runner (jobs). -m applies the migrations and exits. See
 * docs/design/edge.md.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "api.h"
#include "daemon.h"
#include "db.h"
#include "edge.h"
#include "import.h"
#include "jobs.h"
#include "keywrap.h"
#include "log.h"
#include "migrate.h"
#include "ris.h"
#include "spool.h"
#include "tls.h"
#include "xmalloc.h"


static __dead void
edge_usage(void)
{
	fprintf(stderr, "usage: %s [-dnVv] [-f file]\n"
	    "       %s [-f file] -m\n", EDGE_NAME, EDGE_NAME);
	exit(1);
}

void
edge_hold(struct edge *edge)
{
	edge->busy++;
}

void
edge_release(struct edge *edge)
{
	if (edge->busy > 0)
		edge->busy--;
	if (edge->state == EDGE_DRAINING && edge->busy == 0) {
		log_info("stop idle");
		event_base_loopexit(edge->base, NULL);
	}
}

/*
 * The staff API's settings from edge.yaml; the site key (jobs.key_file)
 * goes into kek, which the caller wipes after api_new or api_reload.
 */
static int
edge_api_conf(const struct edge *edge, struct api_conf *ac,
    uint8_t kek[KEYWRAP_KEY_LEN], char *listen, size_t len, char **cause)
{
	const struct edge_conf	*c = edge->conf;

	if (keywrap_load(c->jobs.key_file, kek, cause) == -1)
		return (-1);
	memset(ac, 0, sizeof(*ac));
	ac->listen = conf_addr_listen(&c->api.listen, listen, len);
	ac->tls = edge->api_tls;
	ac->tokens_file = c->api.tokens_file;
	ac->kek = kek;
	ac->affinity_oid = c->clearinghouse.affinity_domain;
	ac->site_name = c->site.name;
	ac->default_delay_hours = (int)(c->api.delay / 3600);
	ac->default_scheme = c->api.scheme == EDGE_SCHEME_RSNA_TOKEN ?
	    "rsna-token" : "isn2";
	ac->retries = c->jobs.retries > 0 ? c->jobs.retries : -1;
	ac->max_body = c->api.max_body;
	ac->timeout_ms = (int)(c->api.timeout * 1000);
	ac->max_derive = c->api.max_derive;
	return (0);
}

/* SIGHUP: new tokens and defaults for the API (its listener stays). */
static void
edge_api_reload(struct edge *edge)
{
	struct api_conf	 ac;
	uint8_t		 kek[KEYWRAP_KEY_LEN];
	char		 listen[CONF_HOST_MAX + 16], *cause = NULL;

	if (edge->api == NULL)
		return;
	if (edge_api_conf(edge, &ac, kek, listen, sizeof(listen),
	    &cause) == -1 || api_reload(edge->api, &ac, &cause) == -1) {
		log_warnx("api reload-failed: %s: keeping the running tokens",
		    cause);
		free(cause);
	}
	explicit_bzero(kek, sizeof(kek));
}

static void
edge_api_start(struct edge *edge)
{
	const struct edge_conf	*c = edge->conf;
	struct api_conf		 ac;
	struct api_import_ops	 iops;
	struct api_job_ops	 jops;
	uint8_t			 kek[KEYWRAP_KEY_LEN];
	char			 listen[CONF_HOST_MAX + 16], *cause = NULL;

	if (c->api.tokens_file == NULL) {
		log_info("api not started: no api.tokens_file");
		return;
	}
	if (c->api.tls.cert_file != NULL &&
	    (edge->api_tls = tls_server_ctx(&c->api.tls, &cause)) == NULL)
		fatalx("api.tls: %s", cause);
	if (edge_api_conf(edge, &ac, kek, listen, sizeof(listen),
	    &cause) == -1 ||
	    (edge->api = api_new(edge->base, edge->db, &ac, &cause)) == NULL)
		fatalx("api: %s", cause);
	explicit_bzero(kek, sizeof(kek));
	iops.imp = edge->import;
	iops.lookup = import_lookup;
	iops.create = import_create;
	iops.pacs_known = import_pacs_known;
	iops.kick = import_kick;
	iops.cancel = import_cancel;
	api_set_import(edge->api, &iops);
	jops.jobs = edge->jobs;
	jops.cancelled = jobs_cancelled;
	api_set_jobs(edge->api, &jops);
	log_info("api listening addr=%s port=%d tls=%s", listen,
	    api_port(edge->api), edge->api_tls == NULL ? "no" :
	    c->api.tls.verify_peer ? "mutual" : "yes");
}

/* SIGHUP: load into a new struct; on any error keep the running one. */
static void
edge_reload(struct edge *edge)
{
	struct conf_errors	 errs;
	struct edge_conf	*c;
	char			**names;
	size_t			 i, n;

	conf_errors_init(&errs);
	if ((c = edge_conf_load(edge->conf_path, &errs)) == NULL) {
		for (i = 0; i < errs.n; i++)
			log_warnx("conf error: %s", errs.lines[i]);
		log_warnx("conf reload-failed errors=%zu: keeping the running "
		    "configuration", errs.n);
		conf_errors_free(&errs);
		return;
	}
	conf_errors_free(&errs);
	n = conf_changed_no_reload(edge_conf_keys, edge->conf, c, &names);
	for (i = 0; i < n; i++) {
		log_warnx("conf restart-required key=%s: keeping the running "
		    "value", names[i]);
		free(names[i]);
	}
	free(names);
	conf_keep_no_reload(edge_conf_keys, edge->conf, c);
	c->ris.tls.verify_peer = c->ris.tls.ca_file != NULL;
	c->api.tls.verify_peer = c->api.tls.ca_file != NULL;
	edge_conf_free(edge->conf);
	edge->conf = c;
	edge_api_reload(edge);
	log_info("conf reloaded pacs=%zu restart-required=%zu", c->npacs, n);
}

static void
edge_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct edge	*edge = arg;

	(void)fd;
	(void)what;
	log_warnx("stop drain-timeout busy=%d", edge->busy);
	event_base_loopbreak(edge->base);
}

/* SIGTERM/SIGINT: stop listening, wait for work; a second one: exit. */
static void
edge_stop(struct edge *edge, const char *signame)
{
	struct timeval	tv;

	if (edge->state == EDGE_DRAINING) {
		log_warnx("stop immediate signal=%s busy=%d", signame,
		    edge->busy);
		event_base_loopbreak(edge->base);
		return;
	}
	edge->state = EDGE_DRAINING;
	ris_stop(edge->ris);
	jobs_stop(edge->jobs);
	import_stop(edge->import);
	if (edge->api != NULL)
		api_stop(edge->api, (int)(edge->conf->drain_timeout * 1000));
	log_info("stop draining signal=%s busy=%d timeout=%llds", signame,
	    edge->busy, edge->conf->drain_timeout);
	if (edge->busy == 0) {
		log_info("stop idle");
		event_base_loopexit(edge->base, NULL);
		return;
	}
	tv.tv_sec = (time_t)edge->conf->drain_timeout;
	tv.tv_usec = 0;
	edge->ev_drain = evtimer_new(edge->base, edge_drain_timeout, edge);
	if (edge->ev_drain == NULL || evtimer_add(edge->ev_drain, &tv) == -1)
		fatalx("could not arm the drain timer");
}

static void
edge_signal(evutil_socket_t sig, short what, void *arg)
{
	struct edge	*edge = arg;

	(void)what;
	switch (sig) {
	case SIGHUP:
		log_info("signal HUP: reloading");
		edge_reload(edge);
		break;
	case SIGTERM:
		edge_stop(edge, "TERM");
		break;
	case SIGINT:
		edge_stop(edge, "INT");
		break;
	}
}

static struct event *
edge_signal_add(struct edge *edge, int sig)
{
	struct event	*ev;

	if ((ev = evsignal_new(edge->base, sig, edge_signal, edge)) == NULL ||
	    evsignal_add(ev, NULL) == -1)
		fatalx("could not watch signal %d", sig);
	return (ev);
}

/* -m: the migrations, then exit. */
static int
edge_migrate(const struct edge_conf *c)
{
	char	*cause = NULL;
	int	 applied = 0, version = 0;

	if (migrate_run(c->database.conninfo, c->database.schema_dir,
	    &applied, &version, &cause) == -1) {
		fprintf(stderr, "%s: database: %s\n", EDGE_NAME, cause);
		free(cause);
		return (1);
	}
	printf("schema version %d (%d migration%s applied)\n", version,
	    applied, applied == 1 ? "" : "s");
	return (0);
}

/*
 * The database (migrations, then the pool), the RIS TLS context and the
 * RIS listener; any failure stops the start.
 */
static void
edge_modules_start(struct edge *edge)
{
	const struct edge_conf	*c = edge->conf;
	struct db_settings	 ds;
	char			*cause = NULL;
	int			 applied = 0, version = 0;

	if (migrate_run(c->database.conninfo, c->database.schema_dir,
	    &applied, &version, &cause) == -1)
		fatalx("database: %s", cause);
	log_info("database schema version=%d applied=%d dir=\"%s\"", version,
	    applied, c->database.schema_dir);
	memset(&ds, 0, sizeof(ds));
	ds.conninfo = c->database.conninfo;
	ds.pool_size = c->database.pool_size;
	ds.statement_timeout_ms = (int)(c->database.statement_timeout * 1000);
	if ((edge->db = db_new(edge->base, &ds, &cause)) == NULL)
		fatalx("database: %s", cause);
	if (c->ris.tls.cert_file != NULL &&
	    (edge->ris_tls = tls_server_ctx(&c->ris.tls, &cause)) == NULL)
		fatalx("ris.tls: %s", cause);
	if ((edge->ris = ris_new(edge, &cause)) == NULL)
		fatalx("ris: %s", cause);
	/* No PACS: nothing is retrieved or imported, no spool. */
	if (c->npacs > 0 &&
	    (edge->spool = spool_new(c->dicom.spool_dir, &cause)) == NULL)
		fatalx("%s", cause);
	if ((edge->jobs = jobs_new(edge, &cause)) == NULL)
		fatalx("jobs: %s", cause);
	if ((edge->import = import_new(edge, &cause)) == NULL)
		fatalx("import: %s", cause);
	edge_api_start(edge);
}

/*
 * db_free first: it answers the RIS messages still waiting; the job
 * runner kills its helpers before and frees its jobs after.
 */
static void
edge_modules_free(struct edge *edge)
{
	jobs_close(edge->jobs);
	import_close(edge->import);	/* answers its API lookups */
	api_free(edge->api);	/* before db_free (api.h) */
	db_free(edge->db);
	ris_free(edge->ris);
	jobs_free(edge->jobs);
	import_free(edge->import);
	spool_free(edge->spool);
	edge->spool = NULL;
	if (edge->ris_tls != NULL)
		SSL_CTX_free(edge->ris_tls);
	if (edge->api_tls != NULL)
		SSL_CTX_free(edge->api_tls);
}

static struct edge_conf *
edge_load_or_print(const char *path, struct conf_errors *errs)
{
	struct edge_conf	*c;

	if ((c = edge_conf_load(path, errs)) == NULL)
		conf_errors_print(stderr, errs);
	return (c);
}

int
main(int argc, char **argv)
{
	struct conf_errors	 errs;
	struct edge		 edge;
	const char		*path = EDGE_CONF_DEFAULT;
	int			 opt, check = 0, foreground = 0, verbose = 0;
	int			 migrate = 0, rc, readyfd = -1;

	while ((opt = getopt(argc, argv, "df:mnVv")) != -1) {
		switch (opt) {
		case 'd':
			foreground = 1;
			break;
		case 'f':
			path = optarg;
			break;
		case 'm':
			migrate = 1;
			break;
		case 'n':
			check = 1;
			break;
		case 'V':
			printf("%s %s\n", EDGE_NAME, PACKAGE_VERSION);
			return (0);
		case 'v':
			verbose++;
			break;
		default:
			edge_usage();
		}
	}
	if (optind != argc || check + migrate > 1)
		edge_usage();

	log_init(1, EDGE_NAME, LOG_DAEMON);
	log_setverbose(verbose);
	memset(&edge, 0, sizeof(edge));
	conf_errors_init(&errs);

	if (check || migrate) {
		if ((edge.conf = edge_load_or_print(path, &errs)) == NULL) {
			conf_errors_free(&errs);
			return (1);
		}
		if (check) {
			if (verbose)
				conf_dump(stdout, edge_conf_keys, edge.conf);
			fprintf(stderr, "configuration OK\n");
			rc = 0;
		} else
			rc = edge_migrate(edge.conf);
		edge_conf_free(edge.conf);
		conf_errors_free(&errs);
		return (rc);
	}

	edge.conf_path = daemon_abspath(path);
	if ((edge.conf = edge_load_or_print(edge.conf_path, &errs)) == NULL) {
		conf_errors_free(&errs);
		free(edge.conf_path);
		return (1);
	}
	conf_errors_free(&errs);
	if (!foreground)
		readyfd = daemon_fork();

	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		fatal("signal");
	if ((edge.base = event_base_new()) == NULL)
		fatalx("could not create the event base");
	log_libevent();
	edge.started = time(NULL);
	edge.state = EDGE_RUNNING;
	edge.ev_hup = edge_signal_add(&edge, SIGHUP);
	edge.ev_term = edge_signal_add(&edge, SIGTERM);
	edge.ev_int = edge_signal_add(&edge, SIGINT);

	edge_modules_start(&edge);
	daemon_pidfile(edge.conf->pid_file);
	daemon_drop_privileges(edge.conf->user);
	log_info("started version=%s conf=\"%s\" site=\"%s\" pacs=%zu",
	    PACKAGE_VERSION, edge.conf_path, edge.conf->site.name,
	    edge.conf->npacs);
	if (readyfd != -1)
		daemon_detach(readyfd, EDGE_NAME);

	event_base_dispatch(edge.base);

	log_info("stopped");
	daemon_pidfile_remove();
	edge_modules_free(&edge);
	event_free(edge.ev_hup);
	event_free(edge.ev_term);
	event_free(edge.ev_int);
	if (edge.ev_drain != NULL)
		event_free(edge.ev_drain);
	event_base_free(edge.base);
	edge_conf_free(edge.conf);
	free(edge.conf_path);
	return (0);
}
