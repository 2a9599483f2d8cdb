/*
 * phr_int.h: libisnphr's internals, shared by its phr_*.c files (not
 * installed). See docs/design/phr.md.
 */
#ifndef ISN_PHR_INT_H
#define ISN_PHR_INT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dbuf.h"
#include "isnphr.h"
#include "rsnaid.h"

#define PHR_ERR_MAX		1024
#define PHR_BATCH		100	/* RAD-69 instances per request */
#define PHR_BACKOFF_BASE_MS	250
#define PHR_BACKOFF_MAX_MS	8000
#define PHR_RETRY_AFTER_MAX	60	/* seconds of Retry-After honoured */
#define PHR_MAX_RESPONSE_XML	(64 * 1024 * 1024)
#define PHR_TMPDIR		".isnphr-tmp"

#define PHR_KOS_CLASS		"1.2.840.10008.5.1.4.1.1.88.59"
#define PHR_SLOT_EXPIRES	"urn:rsna:isn:expiresAt"

enum phr_kind {
	PHR_IMAGE,
	PHR_KOS,
	PHR_REPORT
};

enum phr_state {
	PHR_PENDING,
	PHR_DONE,	/* retrieved and verified now */
	PHR_SKIPPED,	/* already there and verified */
	PHR_FAILED
};

/* One DocumentEntry of a submission set. */
struct phr_doc {
	char		*uid;		/* uniqueId */
	char		*sop;		/* images: the SOP Instance UID (its */
					/* slot, else the uniqueId: protocol.md 7) */
	char		*hash;		/* SHA-1 of the stored bytes */
	uint64_t	 size;		/* stored bytes */
	char		*repo;		/* repositoryUniqueId */
	char		*home;		/* homeCommunityId or NULL */
	char		*study;
	char		*series;	/* images only */
	char		*mime;
	enum phr_kind	 kind;
	enum phr_state	 state;
	int		 verified;	/* instance checked against the KOS */
	char		*path;		/* relative to the output dir, once set */
	uint64_t	 plain_size;
};

struct phr_set {
	char		*uuid;		/* entryUUID */
	char		*uid;		/* uniqueId */
	time_t		 submitted;
	time_t		 expires;
	int		 isn2;
	struct phr_doc	*docs;
	size_t		 ndocs;
};

struct isnphr_list {
	struct phr_set			*sets;
	size_t				 nsets;
	struct isnphr_set_info		*info;
	struct isnphr_study_info	**studies;	/* per set */
	struct isnphr_series_info	***series;	/* per set, per study */
};

/* What a response handler sees of one HTTP exchange. */
struct phr_resp_ops {
	int	(*begin)(void *, const char *content_type);
	int	(*data)(void *, const void *, size_t);
	/* 0 done, -1 failed (error set), PHR_RETRY transient (busy). */
	int	(*finish)(void *);
	void	(*reset)(void *);
};
#define PHR_RETRY	1

struct mtom_parser;
struct phr_ahead;

struct isnphr {
	char			 err[PHR_ERR_MAX];
	/* Profile. */
	char			*url;
	char			*ca, *cert, *key;
	char			*oid;
	long			 connect_timeout;
	long			 low_speed_time;
	int			 max_retries;
	int			 opened;
	/* Patient. */
	struct rsnaid		 id;
	int			 has_id;
	char			 cx[256];
	/* Transport. */
	void			*curl;		/* CURL *, reused */
	long			 http_status;
	long			 retry_after;
	char			 ctype[512];
	char			 last_code[64];	/* errorCode of the last Failure */
	int			 rad69_off;	/* fall back to ITI-43 */
	int			 rx_digests;	/* receiving thread hashes */
	struct phr_ahead	*ahead;		/* a request sent ahead */
	struct phr_ahead	*ahead_next;	/* to send after this one */
	struct mtom_parser	*rx_shadow;	/* its parts' digests */
	unsigned int		 options;	/* ISNPHR_OPT_* */
	/* Progress. */
	isnphr_progress_cb	 progress;
	void			*progress_arg;
	struct isnphr_progress	 prog;
	int			 cancelled;
	size_t			 nretrieved, nskipped, nfailed;
	/* Tests: no sleeping between retries; what would have been slept. */
	int			 no_sleep;
	long			 slept_ms;
	int			 attempts;	/* HTTP requests made */
	const char		*rad69_path;	/* instead of SOAP_PATH_IDS */
	int			 no_rx_thread;	/* as if pthread_create failed */
	int			 no_ahead;	/* nothing sent ahead, no warm-up */
	size_t			 batch;		/* 1..PHR_BATCH; 0: PHR_BATCH */
};

/* phr_core.c */
void	 phr_err(struct isnphr *, const char *, ...)
	    __attribute__((__format__(__printf__, 2, 3)));
int	 phr_tick(struct isnphr *);	/* progress; -1 when cancelled */
time_t	 phr_dtm_time(const char *);
void	 phr_list_build_info(struct isnphr_list *);

/*
 * A SOAP answer as it arrives: multipart/related through the streaming
 * MTOM parser (attachments to cbs), anything else collected (bounded).
 */
struct mtom_callbacks;
struct mtom_part;
struct phr_rx {
	struct isnphr			*h;
	const struct mtom_callbacks	*cbs;
	void				*cbarg;
	struct mtom_parser		*mp;
	struct dbuf			 plain;
	int				 multipart;
	void				*doc;		/* xmlDoc * of the root */
	void				*body;		/* xmlNode *, first in Body */
	int				 unsupported;	/* fault, or no endpoint */
	int				 nohash;	/* h->rx_shadow digests */
};
void	 phr_rx_init(struct phr_rx *, struct isnphr *,
	    const struct mtom_callbacks *, void *);
int	 phr_rx_begin(struct phr_rx *, const char *ct);
int	 phr_rx_data(struct phr_rx *, const void *, size_t);
/* Parse the root envelope: 0 with rx->body, -1 (fault: error set). */
int	 phr_rx_finish(struct phr_rx *);
void	 phr_rx_reset(struct phr_rx *);
/* The root bytes so far when complete, or NULL. */
const char *phr_rx_root(struct phr_rx *, size_t *);
/* A complete attachment's stored SHA-1 and size; -1 when unknown. */
int	 phr_rx_digest(const struct phr_rx *, const struct mtom_part *,
	    const char **sha1, uint64_t *size);
void	 phr_rx_digests_clear(struct isnphr *);
/* Errors carried by a response, for a person; busy: PHR_RETRY. */
int	 phr_rx_errors(struct isnphr *, const void *errs, int failure);

/* phr_list.c */
int	 phr_list_fetch(struct isnphr *, struct isnphr_list **);
void	 phr_list_free(struct isnphr_list *);
int	 phr_list_from_xml(const void *, size_t, struct isnphr_list **,
	    char **);
/* d->path relative to DIR; -1 (no path) when a UID is not safe. */
int	 phr_doc_path(struct phr_doc *);

/* phr_http.c */
int	 phr_http_init(struct isnphr *);
void	 phr_http_free(struct isnphr *);
/* POST a SOAP request (sent as MTOM) and stream the answer to ops. */
int	 phr_post(struct isnphr *, const char *path, const char *action,
	    int mtom, const char *soap, size_t len, const struct phr_resp_ops *, void *);
long	 phr_backoff_ms(int attempt, long retry_after);
/* Send this request right after the next one, while that one is finished. */
void	 phr_post_ahead(struct isnphr *, const char *path, const char *action,
	    int mtom, const char *soap, size_t len);
void	 phr_ahead_drop(struct isnphr *);
/* Open the connection (an OPTIONS request), results ignored. */
#define PHR_WARM_MS		3000
void	 phr_http_warm(struct isnphr *);
/* 1 when a curl result code is worth retrying. */
int	 phr_curl_transient(int code, const char *errbuf);

/* phr_retrieve.c */
int	 phr_uid_safe(const char *);
int	 phr_mkdirs(const char *dir, const char *rel, char **cause);

/* phr_index.c */
int	 phr_json_str(struct dbuf *, const char *);
int	 phr_index_build(struct dbuf *, const struct isnphr_list *,
	    const char *study);
int	 phr_index_write(const char *dir, const struct isnphr_list *,
	    const char *study, char **cause);

/* phr_verify.c: one instance against its entry and the KOS. */
struct phr_kos;
struct phr_kos *phr_kos_load(const char *path, char **cause);
void	 phr_kos_free(struct phr_kos *);
int	 phr_verify_kos(const struct phr_doc *, const char *path,
	    char **cause);
/*
 * 1 verified, 0 could not be checked, -1 failed (cause set). head/len: the
 * file's first bytes as written (NULL: read the file back).
 */
#define PHR_HEAD		(16 * 1024)
int	 phr_verify_instance(const struct phr_kos *, const struct phr_doc *,
	    const char *path, const void *head, size_t len, char **cause);

#endif
