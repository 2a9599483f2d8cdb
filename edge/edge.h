/*
 * edge.h: the isn-edge daemon: configuration (edge.yaml) and the state
 * shared by its modules. See docs/design/edge.md.
 */
#ifndef ISN_EDGE_H
#define ISN_EDGE_H

#include <stddef.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "conf.h"
#include "tls.h"

#define EDGE_NAME		"isn-edge"
#define EDGE_CONF_DEFAULT	"/etc/isn/edge.yaml"
/* Installed migrations and helper; the build sets them from its dirs. */
#ifndef EDGE_SCHEMA_DIR
#define EDGE_SCHEMA_DIR		"/usr/local/share/isn/schemas/edge"
#endif
#ifndef EDGE_DICOM_HELPER
#define EDGE_DICOM_HELPER	"/usr/local/libexec/isn-edge-dicom"
#endif
#ifndef EDGE_FETCH_HELPER
#define EDGE_FETCH_HELPER	"/usr/local/libexec/isn-edge-fetch"
#endif
#ifndef EDGE_SUBMIT_HELPER
#define EDGE_SUBMIT_HELPER	"/usr/local/libexec/isn-edge-submit"
#endif
#define EDGE_AE_MAX		16	/* DICOM AE title, PS3.5 AE */

/* Where the RIS puts the accession number (ris.accession_field). */
enum edge_accession {
	EDGE_ACC_OBR3,		/* OBR-3.1, filler order number */
	EDGE_ACC_OBR18		/* OBR-18.1, placer field 1 */
};

struct edge_site {
	char		*name;		/* this edge, in logs and ACKs */
	char		*time_zone;	/* IANA name; NULL: the system's */
};

struct edge_database {
	char		*conninfo;	/* libpq conninfo; secret */
	int		 pool_size;
	char		*schema_dir;	/* migrations, NNNN-name.sql */
	long long	 statement_timeout;	/* seconds */
};

struct edge_ris {
	struct conf_addr listen;
	struct tls_conf	 tls;		/* cert+key: TLS; with ca: mutual */
	int		 accession_field;	/* enum edge_accession */
	char		*assigning_authority;	/* PID-3 to pick; NULL: 1st */
	size_t		 max_message;	/* bytes of one HL7 message */
	long long	 timeout;	/* idle connection, each read/write */
};

/* One PACS the job runner retrieves from (tried in order). */
struct edge_pacs {
	char		*name;
	char		*ae_title;
	char		*host;
	int		 port;
};

/* The edge's own DICOM side: the storage SCP C-MOVEs arrive at. */
struct edge_dicom {
	char		*ae_title;
	int		 port;
	char		*spool_dir;
	char		*helper;	/* isn-edge-dicom */
};

/* The clearinghouse the job runner submits to (isn-edge-submit). */
struct edge_clearinghouse {
	char		*url;		/* ITI-41 repository endpoint */
	char		*registry_url;	/* ITI-18: the retry check */
	char		*pix;		/* host:port of the PIX feed (ITI-8) */
	char		*registry;	/* host:port of the registry feed */
	char		*ca;
	char		*cert;		/* roles source and consumer */
	char		*key;
	char		*affinity_domain;
	char		*repository_uid;
	char		*source_id;
	long long	 timeout;	/* each network step of a submission */
};

/* The job runner (jobs.c). */
struct edge_jobs {
	char		*key_file;	/* the KEK of keywrap (32 bytes, 0600) */
	long long	 poll_interval;
	int		 concurrency;
	int		 retries;	/* remaining_retries of a new job */
	long long	 retry_interval;
	long long	 move_timeout;
	long long	 move_grace;	/* wait for late instances */
	int		 partial;	/* enum edge_partial */
	char		*submit_helper;	/* isn-edge-submit */
};

/* What a job does with a study the PACS sent only part of. */
enum edge_partial {
	EDGE_PARTIAL_RETRY,	/* fail (-23) and retry; final when none left */
	EDGE_PARTIAL_LAST,	/* retry; the last attempt sends what arrived */
	EDGE_PARTIAL_SEND	/* send what arrived at once */
};

/* The staff JSON API (api.c): started when tokens_file is set. */
struct edge_api {
	struct conf_addr listen;
	struct tls_conf	 tls;		/* cert+key: HTTPS; with ca: mutual */
	char		*tokens_file;	/* "user token" lines, 0600 */
	int		 scheme;	/* enum edge_scheme: new job sets */
	long long	 delay;		/* routine jobs: after the report */
	size_t		 max_body;
	long long	 timeout;
	int		 max_derive;	/* key derivations at once */
};

/* The receiving side (import.c): studies sent to this site. */
struct edge_import {
	char		*fetch_helper;	/* isn-edge-fetch */
	int		 concurrency;
	int		 retries;	/* remaining_retries of a new import */
	long long	 retry_interval;
	int		 reconcile;	/* local MRN and accession */
	long long	 keep_failed;	/* a final -30's spool; 0: forever */
};

enum edge_scheme {
	EDGE_SCHEME_ISN2,
	EDGE_SCHEME_RSNA_TOKEN
};

/* The whole configuration; a reload builds a new one and swaps. */
struct edge_conf {
	struct edge_site	 site;
	struct edge_database	 database;
	struct edge_ris		 ris;
	struct edge_pacs	*pacs;
	size_t			 npacs;
	struct edge_dicom	 dicom;
	struct edge_clearinghouse clearinghouse;
	struct edge_jobs	 jobs;
	struct edge_api		 api;
	struct edge_import	 import;
	long long		 drain_timeout;	/* graceful stop, seconds */
	char			*user;
	char			*pid_file;
};

/* edge_conf.c */
extern const struct conf_key edge_conf_keys[];
/* Load and check a file into a new conf; NULL with every error in errs. */
struct edge_conf *edge_conf_load(const char *path, struct conf_errors *);
/* The same from a buffer (tests, fuzzing); name is used in messages. */
struct edge_conf *edge_conf_load_buffer(const char *name, const char *buf,
		    size_t len, struct conf_errors *);
void		 edge_conf_free(struct edge_conf *);
/* Cross-key checks after a load; adds "file: message" lines, -1 if any. */
int		 edge_conf_check(const char *path, struct edge_conf *,
		    struct conf_errors *);

/* edge.c: process state. */
enum edge_state {
	EDGE_RUNNING,
	EDGE_DRAINING		/* listeners closed, waiting for work */
};

struct db;
struct ris;
struct jobs;
struct import;

struct edge {
	struct event_base	*base;
	struct edge_conf	*conf;
	char			*conf_path;	/* absolute */
	enum edge_state		 state;
	int			 busy;		/* in-flight work items */
	time_t			 started;
	struct event		*ev_hup;
	struct event		*ev_term;
	struct event		*ev_int;
	struct event		*ev_drain;
	struct db		*db;		/* the edge database pool */
	SSL_CTX			*ris_tls;	/* NULL: the RIS feed is plain */
	struct ris		*ris;		/* HL7 from the RIS (ris.h) */
	struct jobs		*jobs;		/* the job runner (jobs.h) */
	struct api		*api;		/* the staff API, or NULL */
	struct import		*import;	/* the receiving side */
	struct spool		*spool;		/* removes spools (spool.h) */
	SSL_CTX			*api_tls;	/* NULL: plain HTTP */
};

/* Work in flight that a graceful stop waits for (messages, jobs). */
void	edge_hold(struct edge *);
void	edge_release(struct edge *);

#endif
