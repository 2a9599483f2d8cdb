/*
 * ch.c: isn-clearinghouse main: options, configuration, daemonisation,
 * signals (reload, graceful stop), privileges; it wires the modules:
 * registry migrations and pool (migrate, db), blob store, TLS context,
 * ITI-8 feeds (pixfeed), the XDS HTTPS listener with ITI-41 (ch_xds,
 * iti41) and the retention reaper (reaper). -m, -l and -P run the
 * operator commands (admin.c) instead of the daemon.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "admin.h"
#include "audit.h"
#include "blob.h"
#include "blobq.h"
#include "ch.h"
#include "daemon.h"
#include "db.h"
#include "log.h"
#include "migrate.h"
#include "pixfeed.h"
#include "ratelimit.h"
#include "reaper.h"
#include "soap.h"
#include "xmalloc.h"


/* The reaper's cumulative counters, exported as isn_ch_reaper_*. */
static const struct {
	const char	*name;
	size_t		 off;
	const char	*help;
} ch_reaper_metrics[] = {
#define CH_RM(n, f, h) { "isn_ch_reaper_" n, \
	offsetof(struct reaper_stats, f), h }
	CH_RM("runs_total", runs, "Retention reaper runs."),
	CH_RM("errors_total", errors, "Reaper runs that ended with an error."),
	CH_RM("sets_deleted_total", sets_deleted,
	    "Expired submission sets deleted."),
	CH_RM("documents_deleted_total", documents_deleted,
	    "Documents deleted with expired submission sets."),
	CH_RM("blobs_removed_total", blobs_removed,
	    "Blobs removed after their rows were deleted."),
	CH_RM("blob_errors_total", blob_errors,
	    "Blob removals that failed (left to the sweeper)."),
	CH_RM("sweep_removed_total", sweep_removed,
	    "Orphan blobs removed by the sweeper."),
	CH_RM("sweep_bytes_removed_total", sweep_bytes_removed,
	    "Bytes of orphan blobs removed by the sweeper."),
	CH_RM("sweep_passes_total", sweep_passes,
	    "Complete passes of the blob sweeper.")
#undef CH_RM
};
#define CH_NREAPER_METRICS \
	(sizeof(ch_reaper_metrics) / sizeof(ch_reaper_metrics[0]))
static struct reaper_stats	ch_reaper_seen;	/* already exported */

static __dead void
ch_usage(void)
{
	fprintf(stderr, "usage: %s [-dnVv] [-f file]\n"
	    "       %s [-f file] -m | -l [expired] | -P uniqueId|expired\n",
	    CH_NAME, CH_NAME);
	exit(1);
}

/* Print every configuration error, one per line. */
static void
ch_print_errors(const struct conf_errors *errs)
{
	conf_errors_print(stderr, errs);
}

void
ch_hold(struct ch *ch)
{
	ch->busy++;
}

void
ch_release(struct ch *ch)
{
	if (ch->busy > 0)
		ch->busy--;
	if (ch->state == CH_DRAINING && ch->busy == 0) {
		log_info("stop idle");
		event_base_loopexit(ch->base, NULL);
	}
}

/*
 * The listeners keep the first TLS context (tls_front); a reload builds a
 * new one into tls_cur and each new handshake switches to it here, so
 * certificates, CAs and CRLs are re-read without closing the listeners.
 */
static int
ch_tls_hello(SSL *ssl, int *alert, void *arg)
{
	struct ch	*ch = arg;

	if (ch->tls_cur != NULL && ch->tls_cur != SSL_get_SSL_CTX(ssl) &&
	    SSL_set_SSL_CTX(ssl, ch->tls_cur) == NULL) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return (SSL_CLIENT_HELLO_ERROR);
	}
	return (SSL_CLIENT_HELLO_SUCCESS);
}

/* Rebuild the TLS context from conf; keep the running one on failure. */
static void
ch_tls_reload(struct ch *ch)
{
	SSL_CTX	*ctx;
	char	*cause = NULL;

	if ((ctx = tls_server_ctx(&ch->conf->tls, &cause)) == NULL) {
		log_warnx("tls reload-failed reason=\"%s\": keeping the "
		    "running context", cause);
		free(cause);
		return;
	}
	if (ch->tls_cur != ch->tls_front)
		SSL_CTX_free(ch->tls_cur);
	ch->tls_cur = ctx;
	log_info("tls reloaded");
}

/* The reaper counters not exported yet become metric increments. */
static void
ch_reaper_export(struct ch *ch)
{
	struct reaper_stats	 s;
	size_t			 i, off;

	if (ch->reaper == NULL)
		return;
	reaper_stats(ch->reaper, &s);
	for (i = 0; i < CH_NREAPER_METRICS; i++) {
		off = ch_reaper_metrics[i].off;
		ch_metric_inc(ch_reaper_metrics[i].name, "",
		    *(uint64_t *)((char *)&s + off) -
		    *(uint64_t *)((char *)&ch_reaper_seen + off));
	}
	ch_reaper_seen = s;
}

/* Counters kept by the modules reach the metrics once a second. */
static void
ch_metrics_tick(evutil_socket_t fd, short what, void *arg)
{
	struct ch	*ch = arg;

	ch_xds_metrics(ch->xds);
	ch_reaper_export(ch);
}

/* The retention reaper with the configured interval and batch size. */
static void
ch_reaper_start(struct ch *ch)
{
	const struct ch_conf	*c = ch->conf;
	struct reaper_settings	 rs;
	char			*cause = NULL;

	memset(&rs, 0, sizeof(rs));
	rs.interval_ms = (int)(c->reaper.interval * 1000);
	rs.batch = c->reaper.batch_size;
	/*
	 * Above the longest upload: its first attachments are committed
	 * before the transaction naming them. Stale temp files go after
	 * REAPER_TMP_GRACE.
	 */
	rs.sweep_grace = (time_t)c->reaper.sweep_grace;
	if ((ch->reaper = reaper_new(ch->base, ch->db, ch->blobs, &rs,
	    &cause)) == NULL)
		fatalx("reaper: %s", cause);
	memset(&ch_reaper_seen, 0, sizeof(ch_reaper_seen));
	log_info("reaper started interval=%llds batch=%d retention=%llds",
	    c->reaper.interval, c->reaper.batch_size, c->retention);
}

/* Export what it counted, then stop it (a run in flight is abandoned). */
static void
ch_reaper_stop(struct ch *ch)
{
	if (ch->reaper == NULL)
		return;
	ch_reaper_export(ch);
	reaper_free(ch->reaper);
	ch->reaper = NULL;
}

void
ch_audit(struct ch *ch, const struct audit_event *ev)
{
	char	*cause = NULL;

	if (ch->audit == NULL)
		return;
	if (audit_log(ch->audit, ev, &cause) == -1) {
		log_warnx("audit write-failed kind=%d: %s", (int)ev->kind,
		    cause != NULL ? cause : "unknown");
		free(cause);
		ch_metric_inc("isn_ch_audit_failures_total", "", 1);
	}
}

/* The ATNA destination of the configuration (audit.file or syslog). */
static void
ch_audit_open(struct ch *ch)
{
	struct audit_settings	 as;
	char			*cause = NULL;

	memset(&as, 0, sizeof(as));
	as.app_name = CH_NAME;
	if (ch->conf->audit.destination == CH_AUDIT_FILE)
		as.file = ch->conf->audit.file;
	if ((ch->audit = audit_open(&as, &cause)) == NULL)
		fatalx("audit: %s", cause);
	ch_metric_define("isn_ch_audit_failures_total", CH_METRIC_COUNTER,
	    "ATNA audit records that could not be written.");
	ch_metric_inc("isn_ch_audit_failures_total", "", 0);
	log_info("audit destination=%s", as.file != NULL ? "file" : "syslog");
}

/* The failed-lookup limits of the configuration (ratelimit.h). */
static struct ratelimit_settings *
ch_lookups_settings(const struct ch_conf *c, struct ratelimit_settings *rs)
{
	memset(rs, 0, sizeof(*rs));
	rs->per_minute = (unsigned int)c->limits.failed_lookups_per_minute;
	rs->burst = (unsigned int)c->limits.failed_lookups_burst;
	rs->max_keys = (size_t)c->limits.failed_lookups_peers;
	return (rs);
}

static void
ch_lookups_open(struct ch *ch)
{
	struct ratelimit_settings	 rs;
	char				*cause = NULL;

	ch->lookups = ratelimit_new(ch_lookups_settings(ch->conf, &rs),
	    &cause);
	if (ch->lookups == NULL)
		fatalx("limits: %s", cause);
	ch_metric_define("isn_ch_failed_lookups_total", CH_METRIC_COUNTER,
	    "Lookups that found nothing, by transaction (rate-limited per "
	    "client certificate).");
	ch_metric_define("isn_ch_rate_limited_total", CH_METRIC_COUNTER,
	    "Requests refused as busy: too many failed lookups.");
}

/* SIGHUP: load into a new struct; on any error keep the running one. */
static void
ch_reload(struct ch *ch)
{
	struct conf_errors		 errs;
	struct ratelimit_settings	 rs;
	struct ch_conf			*c;
	char				**names, *cause = NULL;
	size_t				 i, n;
	int				 restart_reaper;

	conf_errors_init(&errs);
	if ((c = ch_conf_load(ch->conf_path, &errs)) == NULL) {
		for (i = 0; i < errs.n; i++)
			log_warnx("conf error: %s", errs.lines[i]);
		log_warnx("conf reload-failed errors=%zu: keeping the running "
		    "configuration", errs.n);
		conf_errors_free(&errs);
		ch_metric_inc("isn_ch_config_reloads_total",
		    "result=\"error\"", 1);
		return;
	}
	conf_errors_free(&errs);
	n = conf_changed_no_reload(ch_conf_keys, ch->conf, c, &names);
	for (i = 0; i < n; i++) {
		log_warnx("conf restart-required key=%s: keeping the running "
		    "value", names[i]);
		free(names[i]);
	}
	free(names);
	conf_keep_no_reload(ch_conf_keys, ch->conf, c);
	if (c->timeouts.database != ch->conf->timeouts.database)
		log_warnx("conf restart-required key=timeouts.database: the "
		    "open database connections keep %llds",
		    ch->conf->timeouts.database);
	restart_reaper = ch->reaper != NULL &&
	    (c->reaper.interval != ch->conf->reaper.interval ||
	    c->reaper.batch_size != ch->conf->reaper.batch_size ||
	    c->reaper.sweep_grace != ch->conf->reaper.sweep_grace);
	ch_conf_free(ch->conf);
	ch->conf = c;
	ch_health_reconfigure(ch->health, c);
	ch_xds_reconfigure(ch->xds, c);
	if (ratelimit_configure(ch->lookups, ch_lookups_settings(c, &rs),
	    &cause) == -1) {
		log_warnx("conf limits: %s", cause);
		free(cause);
	}
	if (restart_reaper) {
		ch_reaper_stop(ch);
		ch_reaper_start(ch);
	}
	ch_tls_reload(ch);
	ch_metric_inc("isn_ch_config_reloads_total", "result=\"ok\"", 1);
	log_info("conf reloaded peers=%zu restart-required=%zu", c->npeers, n);
}

static void
ch_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct ch	*ch = arg;

	log_warnx("stop drain-timeout busy=%d", ch->busy);
	event_base_loopbreak(ch->base);
}

/* SIGTERM/SIGINT: stop listening, wait for work; a second one: exit. */
static void
ch_stop(struct ch *ch, const char *signame)
{
	struct timeval	tv;

	if (ch->state == CH_DRAINING) {
		log_warnx("stop immediate signal=%s busy=%d", signame,
		    ch->busy);
		event_base_loopbreak(ch->base);
		return;
	}
	ch->state = CH_DRAINING;
	ch_health_stop(ch->health);
	pixfeed_stop(ch->pix_feed);
	pixfeed_stop(ch->registry_feed);
	ch_reaper_stop(ch);
	ch_xds_stop(ch->xds, ch->conf->timeouts.drain);
	log_info("stop draining signal=%s busy=%d timeout=%llds", signame,
	    ch->busy, ch->conf->timeouts.drain);
	if (ch->busy == 0) {
		log_info("stop idle");
		event_base_loopexit(ch->base, NULL);
		return;
	}
	tv.tv_sec = (time_t)ch->conf->timeouts.drain;
	tv.tv_usec = 0;
	ch->ev_drain = evtimer_new(ch->base, ch_drain_timeout, ch);
	if (ch->ev_drain == NULL || evtimer_add(ch->ev_drain, &tv) == -1)
		fatalx("could not arm the drain timer");
}

static void
ch_signal(evutil_socket_t sig, short what, void *arg)
{
	struct ch	*ch = arg;
	char		*cause = NULL;

	switch (sig) {
	case SIGHUP:
		log_info("signal HUP: reloading");
		ch_reload(ch);
		break;
	case SIGTERM:
		ch_stop(ch, "TERM");
		break;
	case SIGINT:
		ch_stop(ch, "INT");
		break;
	case SIGUSR1:
		if (audit_reopen(ch->audit, &cause) == -1) {
			log_warnx("audit reopen-failed: %s", cause != NULL ? cause : "unknown");
			free(cause);
		} else
			log_info("signal USR1: audit file reopened");
		break;
	}
}

static struct event *
ch_signal_add(struct ch *ch, int sig)
{
	struct event	*ev;

	if ((ev = evsignal_new(ch->base, sig, ch_signal, ch)) == NULL ||
	    evsignal_add(ev, NULL) == -1)
		fatalx("could not watch signal %d", sig);
	return (ev);
}

/* The transactions that are not in this build yet, said at startup. */
static void
ch_log_missing(const struct ch_conf *c)
{
	(void)c;
	/* Every XDS transaction of PROFILE.md section 2 is built now. */
}

/*
 * The registry (migrations, then the pool), the blob store, the TLS
 * context and the ITI-8 listeners; any failure stops the start.
 */
static void
ch_modules_start(struct ch *ch)
{
	const struct ch_conf	*c = ch->conf;
	struct db_settings	 ds;
	char			 buf[CONF_HOST_MAX + 16], *cause = NULL;
	int			 applied = 0, version = 0;

	ch_audit_open(ch);
	ch_lookups_open(ch);
	if (migrate_run(c->database.conninfo, c->database.schema_dir,
	    &applied, &version, &cause) == -1)
		fatalx("database: %s", cause);
	log_info("database schema version=%d applied=%d dir=\"%s\"", version,
	    applied, c->database.schema_dir);
	memset(&ds, 0, sizeof(ds));
	ds.conninfo = c->database.conninfo;
	ds.pool_size = c->database.pool_size;
	ds.statement_timeout_ms = (int)(c->timeouts.database * 1000);
	if ((ch->db = db_new(ch->base, &ds, &cause)) == NULL)
		fatalx("database: %s", cause);
	if ((ch->blobs = blob_store_open(c->blob_dir, &cause)) == NULL)
		fatalx("blob store: %s", cause);
	if (blobq_attach(ch->blobs, ch->base, &cause) == -1)
		fatalx("blob store: %s", cause);
	if ((ch->tls_front = tls_server_ctx(&c->tls, &cause)) == NULL)
		fatalx("tls: %s", cause);
	ch->tls_cur = ch->tls_front;
	SSL_CTX_set_client_hello_cb(ch->tls_front, ch_tls_hello, ch);
	ch->pix_feed = pixfeed_new(ch, ch->db, "pix_feed",
	    conf_addr_listen(&c->listen.pix_feed, buf, sizeof(buf)),
	    ch->tls_front, &cause);
	if (ch->pix_feed == NULL)
		fatalx("pix_feed: %s", cause);
	ch->registry_feed = pixfeed_new(ch, ch->db, "registry_feed",
	    conf_addr_listen(&c->listen.registry_feed, buf, sizeof(buf)),
	    ch->tls_front, &cause);
	if (ch->registry_feed == NULL)
		fatalx("registry_feed: %s", cause);
	ch->xds = ch_xds_start(ch, conf_addr_listen(&c->listen.xds, buf,
	    sizeof(buf)), ch->tls_front, &cause);
	if (ch->xds == NULL)
		fatalx("xds: %s", cause);
	ch_reaper_start(ch);
}

/*
 * In this order: the reaper first (db_free releases a run in flight);
 * db_free answers the feed messages and ITI-41 transactions still
 * waiting (those use the httpd and the blob store, freed after).
 */
static void
ch_modules_free(struct ch *ch)
{
	ch_reaper_stop(ch);
	db_free(ch->db);
	ch_xds_free(ch->xds);
	pixfeed_free(ch->pix_feed);
	pixfeed_free(ch->registry_feed);
	blob_store_close(ch->blobs);
	audit_close(ch->audit);
	ratelimit_free(ch->lookups);
	if (ch->tls_cur != ch->tls_front)
		SSL_CTX_free(ch->tls_cur);
	SSL_CTX_free(ch->tls_front);
}

int
main(int argc, char **argv)
{
	struct conf_errors	 errs;
	struct ch		 ch;
	const char		*path = CH_CONF_DEFAULT;
	char			*cause = NULL;
	const char		*purge = NULL;
	int			 opt, check = 0, foreground = 0, verbose = 0;
	int			 list = 0, migrate = 0, rc;
	int			 readyfd = -1;
	struct timeval		 tv;
	size_t			 i;

	while ((opt = getopt(argc, argv, "df:lmnP:Vv")) != -1) {
		switch (opt) {
		case 'd':
			foreground = 1;
			break;
		case 'f':
			path = optarg;
			break;
		case 'l':
			list = 1;
			break;
		case 'm':
			migrate = 1;
			break;
		case 'n':
			check = 1;
			break;
		case 'P':
			purge = optarg;
			break;
		case 'V':
			printf("%s %s\n", CH_NAME, PACKAGE_VERSION);
			return (0);
		case 'v':
			verbose++;
			break;
		default:
			ch_usage();
		}
	}
	/* -l takes an optional operand: "expired". */
	if (list && optind < argc && strcmp(argv[optind], "expired") == 0) {
		list = 2;
		optind++;
	}
	if (optind != argc || (list != 0) + migrate + (purge != NULL) +
	    check > 1)
		ch_usage();

	log_init(1, CH_NAME, LOG_DAEMON);
	log_setverbose(verbose);
	memset(&ch, 0, sizeof(ch));
	conf_errors_init(&errs);

	if (check) {
		if ((ch.conf = ch_conf_load(path, &errs)) == NULL) {
			ch_print_errors(&errs);
			conf_errors_free(&errs);
			return (1);
		}
		if (verbose)
			conf_dump(stdout, ch_conf_keys, ch.conf);
		fprintf(stderr, "configuration OK\n");
		ch_conf_free(ch.conf);
		return (0);
	}

	if (list || migrate || purge != NULL) {
		/* Operator commands: once, beside a running daemon. */
		if ((ch.conf = ch_conf_load(path, &errs)) == NULL) {
			ch_print_errors(&errs);
			conf_errors_free(&errs);
			return (1);
		}
		if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
			fatal("signal");
		if (migrate)
			rc = ch_admin_migrate(ch.conf);
		else if (list)
			rc = ch_admin_list(ch.conf, list == 2);
		else
			rc = ch_admin_purge(ch.conf, purge);
		ch_conf_free(ch.conf);
		conf_errors_free(&errs);
		return (rc);
	}

	ch.conf_path = daemon_abspath(path);
	if ((ch.conf = ch_conf_load(ch.conf_path, &errs)) == NULL) {
		ch_print_errors(&errs);
		conf_errors_free(&errs);
		free(ch.conf_path);
		return (1);
	}
	if (!foreground)
		readyfd = daemon_fork();

	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		fatal("signal");
	if ((ch.base = event_base_new()) == NULL)
		fatalx("could not create the event base");
	log_libevent();
	ch.started = time(NULL);
	ch.state = CH_RUNNING;

	ch_metric_define("isn_ch_start_time_seconds", CH_METRIC_GAUGE,
	    "Start time of the daemon, seconds since the Unix epoch.");
	ch_metric_set("isn_ch_start_time_seconds", "", (double)ch.started);
	ch_metric_define("isn_ch_config_reloads_total", CH_METRIC_COUNTER,
	    "Configuration reloads (SIGHUP) by result.");
	ch_metric_inc("isn_ch_config_reloads_total", "result=\"ok\"", 0);
	ch_metric_inc("isn_ch_config_reloads_total", "result=\"error\"", 0);

	ch.ev_hup = ch_signal_add(&ch, SIGHUP);
	ch.ev_term = ch_signal_add(&ch, SIGTERM);
	ch.ev_int = ch_signal_add(&ch, SIGINT);
	ch.ev_usr1 = ch_signal_add(&ch, SIGUSR1);

	if ((ch.health = ch_health_start(&ch, &cause)) == NULL)
		fatalx("health: %s", cause);
	ch_modules_start(&ch);
	ch_log_missing(ch.conf);
	for (i = 0; i < CH_NREAPER_METRICS; i++) {
		ch_metric_define(ch_reaper_metrics[i].name, CH_METRIC_COUNTER,
		    ch_reaper_metrics[i].help);
		ch_metric_inc(ch_reaper_metrics[i].name, "", 0);
	}
	tv.tv_sec = 1;
	tv.tv_usec = 0;
	if ((ch.ev_metrics = event_new(ch.base, -1, EV_PERSIST,
	    ch_metrics_tick, &ch)) == NULL ||
	    evtimer_add(ch.ev_metrics, &tv) == -1)
		fatalx("could not arm the metrics timer");

	daemon_pidfile(ch.conf->pid_file);
	daemon_drop_privileges(ch.conf->user);
	log_info("started version=%s conf=\"%s\" peers=%zu", PACKAGE_VERSION,
	    ch.conf_path, ch.conf->npeers);
	if (readyfd != -1)
		daemon_detach(readyfd, CH_NAME);

	event_base_dispatch(ch.base);

	log_info("stopped");
	daemon_pidfile_remove();
	ch_modules_free(&ch);
	ch_health_free(ch.health);
	event_free(ch.ev_hup);
	event_free(ch.ev_term);
	event_free(ch.ev_int);
	event_free(ch.ev_usr1);
	if (ch.ev_drain != NULL)
		event_free(ch.ev_drain);
	event_free(ch.ev_metrics);
	event_base_free(ch.base);
	ch_metrics_free();
	ch_conf_free(ch.conf);
	free(ch.conf_path);
	conf_errors_free(&errs);
	return (0);
}
