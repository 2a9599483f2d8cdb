/*
 * api.h: the edge's staff JSON API on its HTTP port (docs/design/api.md).
 *
 * Token-authenticated (Authorization: Bearer, tokens from a file of
 * "user token" lines), JSON in and out, on the daemon's event loop through
 * shared/httpd and the async db pool. Creating a job set derives the
 * RSNA-ID (scrypt for isn2) on a worker thread, never on the loop.
 */
#ifndef ISN_EDGE_API_H
#define ISN_EDGE_API_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "import.h"

struct event_base;
struct db;

#define API_DEFAULT_LISTEN	"127.0.0.1:8080"
#define API_MAX_BODY		(64 * 1024)
#define API_MAX_EXAMS		100	/* per job set */
#define API_SEARCH_MAX		50	/* patients per search */
#define API_LIST_MAX		200	/* jobs per list */

struct api_conf {
	const char	*listen;	/* "host:port"; NULL: API_DEFAULT_LISTEN */
	SSL_CTX		*tls;		/* NULL: plain HTTP; not owned */
	const char	*tokens_file;	/* "user token" lines; required */
	const uint8_t	*kek;		/* KEYWRAP_KEY_LEN bytes; copied */
	const char	*affinity_oid;	/* NULL: RSNAID_DEFAULT_OID */
	const char	*site_name;	/* echoed in the handout; required */
	int		 default_delay_hours;	/* routine; <0: 72 */
	const char	*default_scheme;	/* "isn2" (NULL) or "rsna-token" */
	int		 retries;	/* jobs.remaining_retries; <=0: 10 */
	size_t		 max_body;	/* 0: API_MAX_BODY */
	int		 timeout_ms;	/* header/body/write; 0: 30000 */
	int		 max_derive;	/* key derivations at once; 0: 2 */
	size_t		 max_conns;	/* 0: 64 */
};

struct api;

/* Listens at once; NULL and *cause (malloc'd) on bad conf or tokens. */
struct api	*api_new(struct event_base *, struct db *,
		    const struct api_conf *, char **cause);
/*
 * SIGHUP: re-reads the tokens file and takes the new defaults (delay,
 * scheme, retries, site name, affinity OID, key); the listener, TLS
 * context and limits stay. On error nothing changes: -1 and *cause.
 */
int		 api_reload(struct api *, const struct api_conf *,
		    char **cause);
int		 api_port(struct api *);
/* Graceful: no new connections, requests in flight finish (drain_ms). */
void		 api_stop(struct api *, int drain_ms);
/*
 * Immediate: aborts requests, waits for running key derivations (at most
 * one scrypt), frees. Call before db_free: the db callbacks still pending
 * then only release their request.
 */
void		 api_free(struct api *);

/*
 * The receiving side (import.h), given by the daemon; without it the
 * import routes answer 503. Pointers, so that the API links alone.
 */
struct api_import_ops {
	struct import	*imp;
	void		(*lookup)(struct import *, struct import_secrets *,
			    import_reply_cb, void *);
	void		(*create)(struct import *, struct import_secrets *,
			    const struct import_request *, import_reply_cb,
			    void *);
	int		(*pacs_known)(struct import *, const char *);
	void		(*kick)(struct import *);
	void		(*cancel)(struct import *, long long, const char *,
			    import_reply_cb, void *);
};
void		 api_set_import(struct api *, const struct api_import_ops *);

/*
 * The job runner (jobs.h), told when staff cancelled a job so that a run
 * in flight stops at once; without it the runner sees the cancel at its
 * next status write.
 */
struct api_job_ops {
	struct jobs	*jobs;
	void		(*cancelled)(struct jobs *, long long);
};
void		 api_set_jobs(struct api *, const struct api_job_ops *);

/* The body of POST /api/imports and /api/imports/lookup, parsed. */
struct api_import_body {
	struct import_secrets	 s;
	char			*study;		/* create only */
	char			*pacs;
	char			*mrn;		/* optional */
	char			*accession;
};
int		 api_import_parse(const char *, size_t, int create,
		    struct api_import_body *, char **cause);
void		 api_import_clear(struct api_import_body *);

/* The body of POST /api/job-sets, parsed (for tests and the fuzzer). */
struct api_jobset {
	long long	 patient;
	long long	 exams[API_MAX_EXAMS];
	size_t		 nexams;
	int		 to_site;		/* destination */
	char		*site;			/* to_site only */
	char		*urgency;		/* routine|final|immediate */
	int		 delay_hours;		/* -1: default */
	char		*scheme;		/* NULL: default */
	char		 dob[16];		/* YYYYMMDD */
	char		*password;		/* wiped by api_jobset_clear */
};
int		 api_jobset_parse(const char *, size_t, struct api_jobset *,
		    char **cause);
void		 api_jobset_clear(struct api_jobset *);
/* "a%20b+c" query values: -1 on a bad escape or a NUL. */
int		 api_urldecode(const char *, size_t, char **out);

#endif
