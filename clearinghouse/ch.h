/*
 * ch.h: the isn-clearinghouse daemon: configuration, process state, the
 * health and metrics listener. See docs/design/clearinghouse.md.
 */
#ifndef ISN_CH_H
#define ISN_CH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>

#include "conf.h"
#include "tls.h"

#define CH_NAME			"isn-clearinghouse"
#define CH_CONF_DEFAULT		"/etc/isn/clearinghouse.yaml"
#define CH_AFFINITY_DEFAULT	"1.3.6.1.4.1.19376.3.840.1.1.1"
/* Installed registry migrations; the build sets it from $(pkgdatadir). */
#ifndef CH_SCHEMA_DIR
#define CH_SCHEMA_DIR		"/usr/local/share/isn/schemas/clearinghouse"
#endif

/* Peer roles (PROFILE.md section 6), a bit mask in ch_peer.role_mask. */
#define CH_ROLE_SOURCE		0x1	/* may feed (ITI-8) and submit */
#define CH_ROLE_CONSUMER	0x2	/* may query and retrieve */

enum ch_audit_dest {
	CH_AUDIT_SYSLOG,
	CH_AUDIT_FILE
};

/* One authorised peer: matched by certificate fingerprint or subject. */
struct ch_peer {
	char		*name;
	char		*fingerprint;	/* SHA-256, hex, colons allowed */
	char		*subject;	/* RFC 2253 one-line subject */
	int		*roles;		/* CH_ROLE_* values as listed */
	size_t		 nroles;
	int		 role_mask;	/* OR of roles, set by ch_conf_check */
};

struct ch_listen {
	struct conf_addr xds;		/* HTTPS, mutual TLS */
	struct conf_addr pix_feed;	/* ITI-8 to the PIX manager */
	struct conf_addr registry_feed;	/* ITI-8 to the registry */
	struct conf_addr health;	/* plain HTTP, local only */
};

struct ch_database {
	char		*conninfo;	/* libpq conninfo; secret */
	int		 pool_size;
	char		*schema_dir;	/* migrations, NNNN-name.sql */
};

struct ch_reaper {
	int		 batch_size;	/* submissions per transaction */
	long long	 interval;	/* seconds between runs */
	long long	 sweep_grace;	/* unnamed committed blobs kept, s */
};

struct ch_limits {
	size_t		 max_header_bytes;	/* HTTP request head */
	size_t		 max_soap_size;		/* SOAP root MIME part */
	size_t		 max_document_size;	/* one document */
	int		 max_documents;		/* per submission */
	int		 query_result_limit;	/* XDSTooManyResults above */
	int		 max_connections;	/* per listener */
	/* Failed lookups per client certificate (ratelimit.h). */
	int		 failed_lookups_per_minute;	/* 0: no limit */
	int		 failed_lookups_burst;
	int		 failed_lookups_peers;	/* certificates tracked */
};

struct ch_timeouts {
	long long	 header;	/* to receive a request head */
	long long	 io;		/* no progress on a connection */
	long long	 idle;		/* keep-alive between requests */
	long long	 database;	/* one registry query */
	long long	 drain;		/* graceful stop */
};

struct ch_audit {
	int		 destination;	/* enum ch_audit_dest */
	char		*file;
};

/* The whole configuration; a reload builds a new one and swaps. */
struct ch_conf {
	struct ch_listen	 listen;
	struct tls_conf		 tls;
	struct ch_peer		*peers;
	size_t			 npeers;
	char			*affinity_domain;
	char			*repository_unique_id;
	char			*home_community_id;
	struct ch_database	 database;
	char			*blob_dir;
	long long		 retention;
	struct ch_reaper	 reaper;
	struct ch_limits	 limits;
	struct ch_timeouts	 timeouts;
	struct ch_audit		 audit;
	char			*user;
	char			*pid_file;
};

/* ch_conf.c */
extern const struct conf_key ch_conf_keys[];
/* Load and check a file into a new conf; NULL with every error in errs. */
struct ch_conf	*ch_conf_load(const char *path, struct conf_errors *);
void		 ch_conf_free(struct ch_conf *);
/* Cross-key checks after a load; adds "file: message" lines, -1 if any. */
int		 ch_conf_check(const char *path, struct ch_conf *,
		    struct conf_errors *);

/* ch.c: process state. */
enum ch_state {
	CH_RUNNING,
	CH_DRAINING		/* listeners closed, waiting for work */
};

struct ch_health;
struct db;
struct blob_store;
struct pixfeed;
struct ch_xds;
struct reaper;
struct audit;
struct audit_event;
struct ratelimit;

struct ch {
	struct event_base	*base;
	struct ch_conf		*conf;
	char			*conf_path;	/* absolute */
	enum ch_state		 state;
	int			 busy;		/* in-flight work items */
	time_t			 started;
	struct ch_health	*health;
	struct event		*ev_hup;
	struct event		*ev_term;
	struct event		*ev_int;
	struct event		*ev_drain;
	struct db		*db;		/* registry pool */
	struct blob_store	*blobs;
	SSL_CTX			*tls_front;	/* given to the listeners */
	SSL_CTX			*tls_cur;	/* latest good build */
	struct pixfeed		*pix_feed;
	struct pixfeed		*registry_feed;
	struct ch_xds		*xds;		/* XDS HTTPS listener */
	struct reaper		*reaper;	/* retention */
	struct event		*ev_metrics;	/* counters to metrics */
	struct event		*ev_usr1;	/* reopen the audit file */
	struct audit		*audit;		/* ATNA records (audit.h) */
	struct ratelimit	*lookups;	/* failed lookups per peer */
};

/* Work in flight that a graceful stop waits for (uploads, feeds, jobs). */
void	ch_hold(struct ch *);
void	ch_release(struct ch *);
/*
 * Write one ATNA record (audit.h) to the configured destination; a
 * failure is logged and counted (isn_ch_audit_failures_total), never
 * fatal: the transaction's outcome does not change.
 */
void	ch_audit(struct ch *, const struct audit_event *);

/*
 * ch_xds.c: the XDS HTTPS listener on addr with the TLS server context tls
 * (not owned; a client certificate is required). POST
 * /services/xdsrepositoryb: ITI-41 (iti41.h, role source) and ITI-43
 * (retrieve.h, role consumer); POST /services/xdsregistryb: ITI-18
 * (query.h, role consumer) and ITI-42 (iti41.h, role source); POST
 * /services/ImagingDocumentSource: RAD-69 (retrieve.h, role consumer).
 * The peers are read from ch->conf at each request; a peer with neither
 * role gets a SOAP Sender fault with HTTP 403 before the body is read, one
 * without the role of the action once the envelope is read. A running
 * query holds ch (ch_hold). Uses ch->db, ch->blobs, ch->audit and
 * ch->lookups. NULL and *cause on failure.
 */
struct ch_xds	*ch_xds_start(struct ch *, const char *addr, SSL_CTX *tls,
		    char **cause);
int		 ch_xds_port(const struct ch_xds *);
/* Retention and limits after a reload (applies to new requests). */
void		 ch_xds_reconfigure(struct ch_xds *, const struct ch_conf *);
/* Export the ITI-41 counters not yet in the metrics. */
void		 ch_xds_metrics(struct ch_xds *);
/* Graceful stop: ch_hold until requests in flight ended (drain_s max). */
void		 ch_xds_stop(struct ch_xds *, long long drain_s);
/* Free after db_free: its callbacks may still answer requests. */
void		 ch_xds_free(struct ch_xds *);

/* ch_health.c: the health and metrics listener. */
struct ch_health *ch_health_start(struct ch *, char **cause);
void	ch_health_reconfigure(struct ch_health *, const struct ch_conf *);
/* Close the listening socket; requests in progress finish. */
void	ch_health_stop(struct ch_health *);
void	ch_health_free(struct ch_health *);
/* The bound port (useful when the configuration says port 0). */
int	ch_health_port(const struct ch_health *);

/*
 * Metrics, exposed at GET /metrics in the Prometheus text format. A name
 * is defined once with its type and help; labels are preformatted
 * (`path="/health",code="200"`, values escaped by the caller; "" for
 * none). Each family holds at most CH_METRIC_MAX_SERIES label sets; more
 * are dropped with one warning. Using an undefined name logs a warning.
 */
#define CH_METRIC_MAX_SERIES	64

enum ch_metric_type {
	CH_METRIC_COUNTER,
	CH_METRIC_GAUGE,
	CH_METRIC_HISTOGRAM	/* latencies in seconds, fixed buckets */
};

void	ch_metric_define(const char *name, enum ch_metric_type,
	    const char *help);
void	ch_metric_inc(const char *name, const char *labels, uint64_t n);
void	ch_metric_set(const char *name, const char *labels, double);
void	ch_metric_observe(const char *name, const char *labels, double);
/* The text exposition of every family, in definition order. */
char	*ch_metrics_render(size_t *lenp);
void	ch_metrics_free(void);

#endif
