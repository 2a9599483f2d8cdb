/*
 * phr_http.c: libisnphr's transport. One libcurl easy handle per
 * struct isnphr, reused for every request (connection reuse), mutual TLS
 * with the profile's certificate, connect and low-speed timeouts, and
 * bounded retries with exponential backoff on transient failures: connect
 * errors, dropped connections, HTTP 5xx, and XDSRegistryBusy /
 * XDSRepositoryBusy answers (the handler's finish returns PHR_RETRY), whose
 * Retry-After is honoured up to PHR_RETRY_AFTER_MAX seconds.
 *
 * Requests are sent as MTOM (the clearinghouse then answers MTOM, whose
 * documents the handlers stream to disk); answers stream to the handler's
 * ops as they arrive and are never held whole here.
 *
 * The transfer itself (libcurl: TLS decryption, socket reads) runs in a
 * receiving thread that hands the answer over in PHR_RXQ_SLOTS buffers of
 * PHR_RXQ_SLOT bytes; the handler (MTOM parsing, decryption, file writes)
 * and the progress callback run in the caller's thread, so the stages
 * overlap while memory stays bounded. The attachments' SHA-1 is a third
 * thread's, reading the same slots: it runs a second MTOM parser over a
 * multipart answer, without callbacks, only to frame and digest its parts
 * (h->rx_shadow, read by the handler after the threads ended); the
 * caller's parser then does not hash (h->rx_digests). A slot is reused
 * once both readers are done with it. In the receiving thread, SHA-1 made
 * that thread the slowest stage (310 ms of CPU in a 385 ms transfer of a
 * 251 MB study, against 165 ms for the caller's). Without a hashing
 * thread the receiving thread hashes; without a receiving thread
 * (pthread_create failed) the transfer and the hashing run in the
 * caller's thread.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "dbuf.h"
#include "mtom.h"
#include "phr_int.h"
#include "soap.h"
#include "xmalloc.h"

#define PHR_RXQ_SLOTS	32
#define PHR_RXQ_SLOT	(64 * 1024)

/*
 * The receiving thread's buffers, a ring. Slot k (mod PHR_RXQ_SLOTS) of
 * the answer is full once filled > k; the caller has released it once
 * taken > k, the hashing thread once hashed > k.
 */
struct phr_rxq {
	pthread_mutex_t		 m;
	pthread_cond_t		 data;		/* for the caller */
	pthread_cond_t		 hdata;		/* for the hashing thread */
	pthread_cond_t		 space;		/* slots freed, or abort */
	int			 cwait, hwait, pwait;	/* who is waiting */
	char			*buf[PHR_RXQ_SLOTS];
	size_t			 len[PHR_RXQ_SLOTS];
	size_t			 filled, taken, hashed;
	size_t			 fill;	/* of the open slot (filled) */
	int			 done;	/* the transfer ended */
	int			 abort;	/* the handler stopped */
	CURLcode		 res;
	CURL			*curl;
	const char		*ctype;	/* where the headers go */
	int			 hashing;	/* a hashing thread runs */
	pthread_t		 rt, ht;
	/* The hashing thread's (or the receiving one's) until it ends. */
	struct mtom_parser	*shadow;	/* digests the parts */
	int			 shadow_off;	/* not MTOM, or it failed */
};

/* Slots still held by a reader (under the lock). */
static size_t
phr_rxq_held(const struct phr_rxq *q)
{
	size_t	low = q->taken;

	if (q->hashing && q->hashed < low)
		low = q->hashed;
	return (q->filled - low);
}

struct phr_xfer {
	struct isnphr			*h;
	const struct phr_resp_ops	*ops;
	void				*arg;
	int				 begun;
	int				 failed;	/* handler said -1 */
	int				 cancelled;
};

long
phr_backoff_ms(int attempt, long retry_after)
{
	long	ms;

	if (retry_after > 0) {
		if (retry_after > PHR_RETRY_AFTER_MAX)
			retry_after = PHR_RETRY_AFTER_MAX;
		return (retry_after * 1000);
	}
	if (attempt < 0)
		attempt = 0;
	if (attempt > 10)
		attempt = 10;
	ms = (long)PHR_BACKOFF_BASE_MS << attempt;
	return (ms > PHR_BACKOFF_MAX_MS ? PHR_BACKOFF_MAX_MS : ms);
}

int
phr_curl_transient(int code, const char *errbuf)
{
	/* A TLS alert from the peer is an answer, not a network hiccup. */
	if (errbuf != NULL && (strstr(errbuf, "alert") != NULL ||
	    strstr(errbuf, "certificate") != NULL))
		return (0);
	switch (code) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return (1);
	default:
		return (0);
	}
}

static int
phr_curl_tls(int code, const char *errbuf)
{
	switch (code) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
		return (1);
	default:
		return (errbuf != NULL && (strstr(errbuf, "SSL") != NULL ||
		    strstr(errbuf, "TLS") != NULL || strstr(errbuf, "alert") !=
		    NULL || strstr(errbuf, "certificate") != NULL));
	}
}

int
phr_http_init(struct isnphr *h)
{
	if (h->curl != NULL)
		return (0);
	if ((h->curl = curl_easy_init()) == NULL) {
		phr_err(h, "cannot initialise libcurl");
		return (-1);
	}
	return (0);
}

void
phr_http_free(struct isnphr *h)
{
	phr_ahead_drop(h);
	if (h->curl != NULL)
		curl_easy_cleanup(h->curl);
	h->curl = NULL;
}

/*
 * A response header line: the Content-Type, Retry-After and (status not
 * NULL) the status code kept.
 */
static void
phr_header_parse(const char *buf, size_t len, char *ctype, size_t ctsz,
    long *retry_after, long *status)
{
	size_t		 vl;
	const char	*v;

	if (len > 13 && strncasecmp(buf, "content-type:", 13) == 0) {
		for (v = buf + 13; *v == ' ' || *v == '\t'; v++)
			;
		vl = len - (size_t)(v - buf);
		while (vl > 0 && isspace((unsigned char)v[vl - 1]))
			vl--;
		if (vl >= ctsz)
			vl = ctsz - 1;
		memcpy(ctype, v, vl);
		ctype[vl] = '\0';
	} else if (len > 12 && strncasecmp(buf, "retry-after:", 12) == 0)
		*retry_after = strtol(buf + 12, NULL, 10);
	else if (len > 5 && strncmp(buf, "HTTP/", 5) == 0) {
		/* A new response (after a 100 Continue): forget the old. */
		ctype[0] = '\0';
		*retry_after = 0;
		if (status != NULL && (v = memchr(buf, ' ', len)) != NULL)
			*status = strtol(v + 1, NULL, 10);
	}
}

static size_t
phr_header_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct phr_xfer	*x = arg;

	phr_header_parse(buf, size * n, x->h->ctype, sizeof(x->h->ctype),
	    &x->h->retry_after, NULL);
	return (size * n);
}

/* Answer bytes to the handler: 0, or -1 when it failed or cancelled. */
static int
phr_consume(struct phr_xfer *x, const char *buf, size_t len)
{
	struct isnphr	*h = x->h;

	if (x->failed || x->cancelled)
		return (-1);
	if (!x->begun) {
		x->begun = 1;
		if (x->ops->begin(x->arg, h->ctype) == -1) {
			x->failed = 1;
			return (-1);
		}
	}
	if (phr_tick(h) == -1) {
		x->cancelled = 1;
		return (-1);
	}
	if (x->ops->data(x->arg, buf, len) == -1) {
		x->failed = 1;
		return (-1);
	}
	return (0);
}

/* Without a receiving thread: straight to the handler. */
static size_t
phr_write_cb(char *buf, size_t size, size_t n, void *arg)
{
	size_t	len = size * n;

	return (phr_consume(arg, buf, len) == -1 ? 0 : len);
}

/*
 * In the receiving thread: the answer's parts framed and digested. The
 * headers are all in by the first byte of the body. A failure here is the
 * caller's parser's too (the same bytes, and its limits are stricter).
 */
static void
phr_rxq_digest(struct phr_rxq *q, const char *buf, size_t len)
{
	static const struct mtom_callbacks	 none;
	char					*cause = NULL;

	if (q->shadow_off)
		return;
	if (q->shadow == NULL && (strncasecmp(q->ctype,
	    "multipart/related", 17) != 0 || (q->shadow = mtom_parser_new(
	    q->ctype, &none, NULL, NULL, &cause)) == NULL))
		q->shadow_off = 1;
	else if (mtom_parser_feed(q->shadow, buf, len, &cause) == -1)
		q->shadow_off = 1;
	free(cause);
}

/* A full slot counted (under the lock); readers woken half a ring at a time. */
static void
phr_rxq_commit(struct phr_rxq *q)
{
	q->len[q->filled % PHR_RXQ_SLOTS] = q->fill;
	q->fill = 0;
	q->filled++;
	if (q->cwait && q->filled - q->taken >= PHR_RXQ_SLOTS / 2)
		pthread_cond_signal(&q->data);
	if (q->hwait && q->filled - q->hashed >= PHR_RXQ_SLOTS / 2)
		pthread_cond_signal(&q->hdata);
}

/*
 * In the receiving thread: into the ring, waiting while it is full. The
 * open slot is this thread's alone until counted: the copy is made
 * without the lock.
 */
static size_t
phr_rxq_write_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct phr_rxq	*q = arg;
	size_t		 len = size * n, off = 0, k;
	char		*slot;
	int		 abort;

	if (!q->hashing)
		phr_rxq_digest(q, buf, len);
	while (off < len) {
		pthread_mutex_lock(&q->m);
		while (phr_rxq_held(q) == PHR_RXQ_SLOTS && !q->abort) {
			q->pwait = 1;
			pthread_cond_wait(&q->space, &q->m);
			q->pwait = 0;
		}
		abort = q->abort;
		pthread_mutex_unlock(&q->m);
		if (abort)
			break;
		slot = q->buf[q->filled % PHR_RXQ_SLOTS];
		k = len - off;
		if (k > PHR_RXQ_SLOT - q->fill)
			k = PHR_RXQ_SLOT - q->fill;
		memcpy(slot + q->fill, buf + off, k);
		q->fill += k;
		off += k;
		if (q->fill == PHR_RXQ_SLOT) {
			pthread_mutex_lock(&q->m);
			phr_rxq_commit(q);
			pthread_mutex_unlock(&q->m);
		}
	}
	return (off == len ? len : 0);
}

/* The receiving thread: the transfer, then the last slot and done. */
static void *
phr_rxq_thread(void *arg)
{
	struct phr_rxq	*q = arg;
	CURLcode	 res;

	res = curl_easy_perform(q->curl);
	pthread_mutex_lock(&q->m);
	if (q->fill > 0)
		phr_rxq_commit(q);
	q->res = res;
	q->done = 1;
	pthread_cond_signal(&q->data);
	pthread_cond_signal(&q->hdata);
	pthread_mutex_unlock(&q->m);
	return (NULL);
}

/*
 * A reader's next full slot (pos: how many it has released; wait and cv:
 * its flag and condition), and whether the handler stopped; 0 at the end.
 */
static int
phr_rxq_next(struct phr_rxq *q, size_t *pos, int *wait, pthread_cond_t *cv,
    char **buf, size_t *len, int *abort)
{
	pthread_mutex_lock(&q->m);
	while (*pos == q->filled && !q->done) {
		*wait = 1;
		pthread_cond_wait(cv, &q->m);
		*wait = 0;
	}
	if (*pos == q->filled) {
		pthread_mutex_unlock(&q->m);
		return (0);
	}
	*buf = q->buf[*pos % PHR_RXQ_SLOTS];
	*len = q->len[*pos % PHR_RXQ_SLOTS];
	*abort = q->abort;
	pthread_mutex_unlock(&q->m);
	return (1);
}

/*
 * The reader is done with its slot. Each side is woken once half the
 * ring is ready for it, not at every slot: a wake-up per 64 KiB slot cost
 * a futex call and a context switch each way (8,900 futex calls in a
 * 251 MB retrieval). The receiving thread, waiting on a full ring, is
 * woken once half of it is free; a reader, waiting on an empty one, once
 * half is filled or the transfer ended (phr_rxq_commit).
 */
static void
phr_rxq_release(struct phr_rxq *q, size_t *pos, int abort)
{
	pthread_mutex_lock(&q->m);
	if (abort)
		q->abort = 1;
	(*pos)++;
	if (q->pwait && (phr_rxq_held(q) <= PHR_RXQ_SLOTS / 2 || q->abort))
		pthread_cond_signal(&q->space);
	pthread_mutex_unlock(&q->m);
}

/* The hashing thread: each slot through the shadow parser. */
static void *
phr_rxq_hash_thread(void *arg)
{
	struct phr_rxq	*q = arg;
	size_t		 len;
	char		*buf;
	int		 abort;

	while (phr_rxq_next(q, &q->hashed, &q->hwait, &q->hdata, &buf, &len,
	    &abort)) {
		if (!abort)
			phr_rxq_digest(q, buf, len);
		phr_rxq_release(q, &q->hashed, 0);
	}
	return (NULL);
}

/*
 * A ring for a transfer on c (its write callback fills it); the headers
 * are parsed into ctype by the transfer's header callback.
 */
static void
phr_rxq_init(struct phr_rxq *q, CURL *c, const char *ctype)
{
	size_t	i;

	memset(q, 0, sizeof(*q));
	q->curl = c;
	q->ctype = ctype;
	for (i = 0; i < PHR_RXQ_SLOTS; i++)
		q->buf[i] = xmalloc(PHR_RXQ_SLOT);
	pthread_mutex_init(&q->m, NULL);
	pthread_cond_init(&q->data, NULL);
	pthread_cond_init(&q->hdata, NULL);
	pthread_cond_init(&q->space, NULL);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, phr_rxq_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, q);
}

static void
phr_rxq_destroy(struct phr_rxq *q)
{
	size_t	i;

	if (q->shadow != NULL)
		mtom_parser_free(q->shadow);
	q->shadow = NULL;
	pthread_cond_destroy(&q->data);
	pthread_cond_destroy(&q->hdata);
	pthread_cond_destroy(&q->space);
	pthread_mutex_destroy(&q->m);
	for (i = 0; i < PHR_RXQ_SLOTS; i++)
		free(q->buf[i]);
}

/*
 * The receiving thread, and the hashing thread when it can be had (else
 * the receiving thread hashes). -1: no receiving thread.
 */
static int
phr_rxq_start(struct phr_rxq *q)
{
	q->hashing = pthread_create(&q->ht, NULL, phr_rxq_hash_thread, q) ==
	    0;
	if (pthread_create(&q->rt, NULL, phr_rxq_thread, q) == 0)
		return (0);
	if (q->hashing) {
		pthread_mutex_lock(&q->m);
		q->done = 1;
		pthread_cond_signal(&q->hdata);
		pthread_mutex_unlock(&q->m);
		pthread_join(q->ht, NULL);
		q->hashing = 0;
	}
	return (-1);
}

/* The threads ended; the shadow parser's last part closed. */
static void
phr_rxq_join(struct phr_rxq *q)
{
	char	*cause = NULL;

	pthread_join(q->rt, NULL);
	if (q->hashing)
		pthread_join(q->ht, NULL);
	if (q->shadow != NULL && !q->shadow_off &&
	    mtom_parser_finish(q->shadow, &cause) == -1)
		q->shadow_off = 1;
	free(cause);
}

/* Until the first bytes of the body are in (or the transfer ended). */
static void
phr_rxq_wait(struct phr_rxq *q)
{
	size_t	 len;
	char	*buf;
	int	 abort;

	phr_rxq_next(q, &q->taken, &q->cwait, &q->data, &buf, &len, &abort);
}

/*
 * What arrives, to the handler, until the transfer ended; when the
 * handler stops, the transfer is aborted (its write callback fails) and
 * the rest drained. The threads are joined.
 */
static void
phr_rxq_drain(struct phr_rxq *q, struct phr_xfer *x)
{
	size_t	 len;
	char	*buf;
	int	 abort;

	/* The slot is this reader's until released. */
	while (phr_rxq_next(q, &q->taken, &q->cwait, &q->data, &buf, &len,
	    &abort))
		phr_rxq_release(q, &q->taken, phr_consume(x, buf, len) == -1);
	phr_rxq_join(q);
}

/* A transfer nobody will read: its write callback fails; joined. */
static void
phr_rxq_abort(struct phr_rxq *q)
{
	pthread_mutex_lock(&q->m);
	q->abort = 1;
	pthread_cond_signal(&q->space);
	pthread_mutex_unlock(&q->m);
	phr_rxq_join(q);
}

/* The ended transfer's digests, for the handler's finish. */
static void
phr_rxq_digests(struct phr_rxq *q, struct isnphr *h)
{
	if (q->shadow != NULL && !q->shadow_off) {
		h->rx_shadow = q->shadow;
		q->shadow = NULL;
	}
}

/*
 * curl_easy_perform in a receiving thread while this thread hands what
 * arrives to the handler. -1: no thread.
 */
static int
phr_perform_threaded(CURL *c, struct phr_xfer *x, CURLcode *resp)
{
	struct phr_rxq	 q;

	phr_rxq_init(&q, c, x->h->ctype);
	x->h->rx_digests = 1;
	if (x->h->no_rx_thread || phr_rxq_start(&q) == -1) {
		x->h->rx_digests = 0;
		phr_rxq_destroy(&q);
		return (-1);
	}
	phr_rxq_drain(&q, x);
	*resp = q.res;
	phr_rxq_digests(&q, x->h);
	phr_rxq_destroy(&q);
	return (0);
}

static int
phr_dbuf_sink(const void *buf, size_t len, void *arg, char **cause)
{
	if (dbuf_add(arg, buf, len) == -1) {
		xcause(cause, "request too large");
		return (-1);
	}
	return (0);
}

/* The SOAP request around body, as an MTOM message in out. */
static int
phr_build_request(struct isnphr *h, const char *action, const char *url,
    const char *body, size_t len, struct dbuf *out, char **ctp)
{
	struct mtom_writer	*w;
	struct dbuf		 env;
	char			*cause = NULL;
	int			 rc = -1;

	dbuf_init(&env, PHR_MAX_RESPONSE_XML);
	if (soap_request(&env, action, url, body, len, NULL) == -1) {
		phr_err(h, "the request is too large");
		dbuf_free(&env);
		return (-1);
	}
	w = mtom_writer_new(NULL, action);
	if (mtom_writer_set_root(w, env.data, env.len, "root@isnphr",
	    &cause) == 0 && mtom_writer_write(w, phr_dbuf_sink, out,
	    &cause) == 0) {
		xasprintf(ctp, "%s", mtom_writer_content_type(w));
		rc = 0;
	} else
		phr_err(h, "cannot build the request: %s", cause);
	free(cause);
	mtom_writer_free(w);
	dbuf_free(&env);
	return (rc);
}

static void
phr_sleep_ms(struct isnphr *h, long ms)
{
	struct timespec	ts;

	h->slept_ms += ms;
	if (h->no_sleep)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* What one request sends (phr_req_build, phr_req_free). */
struct phr_req {
	char			*url;
	struct dbuf		 body;
	char			*cth;		/* the Content-Type header */
	struct curl_slist	*hdrs;
};

static int
phr_req_build(struct isnphr *h, struct phr_req *r, const char *path,
    const char *action, int mtom, const char *soap, size_t len)
{
	char	*ct = NULL;

	memset(r, 0, sizeof(*r));
	xasprintf(&r->url, "%s%s", h->url, path);
	dbuf_init(&r->body, PHR_MAX_RESPONSE_XML);
	if (mtom) {
		if (phr_build_request(h, action, r->url, soap, len, &r->body,
		    &ct) == -1)
			return (-1);
	} else if (soap_request(&r->body, action, r->url, soap, len,
	    NULL) == -1) {
		phr_err(h, "the request is too large");
		return (-1);
	} else
		xasprintf(&ct, "application/soap+xml; charset=UTF-8; "
		    "action=\"%s\"", action);
	xasprintf(&r->cth, "Content-Type: %s", ct);
	free(ct);
	r->hdrs = curl_slist_append(r->hdrs, r->cth);
	r->hdrs = curl_slist_append(r->hdrs, "Expect:");
	return (0);
}

static void
phr_req_free(struct phr_req *r)
{
	curl_slist_free_all(r->hdrs);
	dbuf_free(&r->body);
	free(r->url);
	free(r->cth);
	memset(r, 0, sizeof(*r));
}

/*
 * The reset handle's connection options (mutual TLS, timeouts) for url;
 * the method, body and callbacks are the caller's.
 */
static void
phr_curl_conn_opts(struct isnphr *h, CURL *c, const char *url, char *errbuf)
{
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->ca != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, h->ca);
	if (h->cert != NULL)
		curl_easy_setopt(c, CURLOPT_SSLCERT, h->cert);
	if (h->key != NULL)
		curl_easy_setopt(c, CURLOPT_SSLKEY, h->key);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, h->connect_timeout);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, h->low_speed_time);
}

/* A request's options on the reset handle; the callbacks are the caller's. */
static void
phr_curl_opts(struct isnphr *h, CURL *c, const struct phr_req *r,
    char *errbuf)
{
	phr_curl_conn_opts(h, c, r->url, errbuf);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body.data);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)r->body.len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->hdrs);
}

static size_t
phr_discard_cb(char *buf, size_t size, size_t n, void *arg)
{
	(void)buf;
	(void)arg;
	return (size * n);
}

/*
 * While the KDF child works (isnphr_set_patient): the connection to the
 * clearinghouse opened, TCP and the TLS handshake with its certificate
 * checks, by an OPTIONS request, which the clearinghouse answers 204 and
 * keeps the connection for the first query (on loopback 4-5 ms of the
 * first query's time; over the internet, two round trips). Not counted
 * as an attempt, and whatever happens is ignored: the first query opens
 * its own connection if this one is not there.
 */
void
phr_http_warm(struct isnphr *h)
{
	char	errbuf[CURL_ERROR_SIZE], *url;
	CURL	*c;

	if (!h->opened || h->no_ahead || phr_http_init(h) == -1)
		return;
	phr_ahead_drop(h);
	c = h->curl;
	xasprintf(&url, "%s%s", h->url, SOAP_PATH_REGISTRY);
	phr_curl_conn_opts(h, c, url, errbuf);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "OPTIONS");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, phr_discard_cb);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, PHR_WARM_MS);
	curl_easy_perform(c);
	free(url);
}

/*
 * A request sent ahead (phr_post_ahead): the listing knows its next
 * GetDocuments, and a retrieval its next RAD-69 or ITI-43 request, before
 * the current answer is handled, so phr_post sends the next one from a
 * receiving thread as soon as the current transfer is over (the same
 * handle, the same connection): the clearinghouse works on it, and its
 * answer fills its ring, while the caller finishes the current one. phr_post
 * of that same request takes the transfer where it is; anything else
 * (another request, a status other than 200, a transport error) drops it
 * and the request is made the ordinary way, retries and all. What is held
 * meanwhile is bounded by the ring.
 */
struct phr_ahead {
	char		*path, *action, *soap;
	size_t		 len;
	int		 mtom;
	struct phr_req	 req;
	struct phr_rxq	 q;
	int		 ring;		/* q set up */
	int		 started;	/* its threads not joined */
	char		 ctype[512];
	long		 retry_after;
	long		 status;
	char		 errbuf[CURL_ERROR_SIZE];
};

static void
phr_ahead_free(struct phr_ahead *a)
{
	if (a == NULL)
		return;
	if (a->started)
		phr_rxq_abort(&a->q);
	if (a->ring)
		phr_rxq_destroy(&a->q);
	phr_req_free(&a->req);
	free(a->path);
	free(a->action);
	free(a->soap);
	free(a);
}

static void
phr_ahead_clear(struct phr_ahead **ap)
{
	phr_ahead_free(*ap);
	*ap = NULL;
}

void
phr_ahead_drop(struct isnphr *h)
{
	phr_ahead_clear(&h->ahead);
	phr_ahead_clear(&h->ahead_next);
}

void
phr_post_ahead(struct isnphr *h, const char *path, const char *action,
    int mtom, const char *soap, size_t len)
{
	struct phr_ahead	*a;
	char			 err[sizeof(h->err)];

	phr_ahead_clear(&h->ahead_next);
	a = xcalloc(1, sizeof(*a));
	a->path = xstrdup(path);
	a->action = xstrdup(action);
	a->soap = xmemdup(soap, len);
	a->len = len;
	a->mtom = mtom;
	memcpy(err, h->err, sizeof(err));
	if (phr_req_build(h, &a->req, path, action, mtom, soap, len) == -1) {
		memcpy(h->err, err, sizeof(err));	/* asked for later */
		phr_ahead_free(a);
		return;
	}
	h->ahead_next = a;
}

static size_t
phr_ahead_header_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct phr_ahead	*a = arg;

	phr_header_parse(buf, size * n, a->ctype, sizeof(a->ctype),
	    &a->retry_after, &a->status);
	return (size * n);
}

/* The handle is free: send the request registered to go next. */
static void
phr_ahead_start(struct isnphr *h)
{
	struct phr_ahead	*a = h->ahead_next;
	CURL			*c = h->curl;

	h->ahead_next = NULL;
	phr_ahead_clear(&h->ahead);
	if (a == NULL || h->no_rx_thread || h->no_ahead) {
		phr_ahead_free(a);
		return;
	}
	phr_curl_opts(h, c, &a->req, a->errbuf);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, phr_ahead_header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
	phr_rxq_init(&a->q, c, a->ctype);
	a->ring = 1;
	if (phr_rxq_start(&a->q) == -1) {
		phr_ahead_free(a);
		return;
	}
	a->started = 1;
	h->attempts++;
	h->ahead = a;
}

/*
 * The transfer sent ahead for this request, handed to ops as it arrives:
 * 0/-1 as phr_post, 1 when there was none usable (ask normally).
 */
static int
phr_ahead_take(struct isnphr *h, const char *path, const char *action,
    int mtom, const char *soap, size_t len, struct phr_xfer *x)
{
	struct phr_ahead	*a = h->ahead;
	int			 r;

	h->ahead = NULL;
	if (a == NULL)
		return (1);
	if (strcmp(a->path, path) != 0 || strcmp(a->action, action) != 0 ||
	    a->mtom != mtom || a->len != len ||
	    memcmp(a->soap, soap, len) != 0) {
		phr_ahead_free(a);
		return (1);
	}
	/* The headers are in by the body's first bytes. */
	phr_rxq_wait(&a->q);
	if (a->status != 200) {
		phr_ahead_free(a);
		return (1);
	}
	memcpy(h->ctype, a->ctype, sizeof(h->ctype));
	h->retry_after = a->retry_after;
	h->http_status = a->status;
	phr_rx_digests_clear(h);
	h->rx_digests = 1;
	phr_rxq_drain(&a->q, x);
	a->started = 0;
	if (x->cancelled || x->failed) {
		if (x->cancelled)
			phr_err(h, "cancelled");
		x->ops->reset(x->arg);
		phr_ahead_free(a);
		return (-1);
	}
	if (a->q.res != CURLE_OK || !x->begun) {
		x->ops->reset(x->arg);	/* cut short: ask again */
		phr_ahead_free(a);
		return (1);
	}
	phr_rxq_digests(&a->q, h);
	phr_ahead_free(a);
	phr_ahead_start(h);	/* the next one, while this one is finished */
	r = x->ops->finish(x->arg);
	if (r == 0 || r == -1) {
		if (r == -1)
			x->ops->reset(x->arg);
		return (r);
	}
	x->ops->reset(x->arg);	/* busy: ask again the ordinary way */
	return (1);
}

static void
phr_xfer_init(struct phr_xfer *x, struct isnphr *h,
    const struct phr_resp_ops *ops, void *arg)
{
	memset(x, 0, sizeof(*x));
	x->h = h;
	x->ops = ops;
	x->arg = arg;
}

int
phr_post(struct isnphr *h, const char *path, const char *action, int mtom,
    const char *soap, size_t len, const struct phr_resp_ops *ops, void *arg)
{
	struct phr_xfer		 x;
	struct phr_req		 req;
	CURL			*c;
	CURLcode		 res;
	char			 errbuf[CURL_ERROR_SIZE];
	uint64_t		 bytes0 = h->prog.bytes;
	int			 attempt, rc = -1, r;

	if (phr_http_init(h) == -1)
		return (-1);
	c = h->curl;
	phr_xfer_init(&x, h, ops, arg);
	/* Taken: phr_ahead_take has sent the one registered to go next. */
	if ((r = phr_ahead_take(h, path, action, mtom, soap, len, &x)) != 1) {
		phr_rx_digests_clear(h);
		if (r == -1)
			phr_ahead_clear(&h->ahead_next); /* not sent */
		return (r);
	}
	h->prog.bytes = bytes0;
	if (phr_req_build(h, &req, path, action, mtom, soap, len) == -1)
		goto out;

	for (attempt = 0;; attempt++) {
		/* The handle is this request's until it is sent ahead. */
		phr_ahead_clear(&h->ahead);
		phr_xfer_init(&x, h, ops, arg);
		h->ctype[0] = '\0';
		h->retry_after = 0;
		h->http_status = 0;
		errbuf[0] = '\0';

		phr_curl_opts(h, c, &req, errbuf);
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, phr_header_cb);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, phr_write_cb);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);

		h->attempts++;
		phr_rx_digests_clear(h);
		if (phr_perform_threaded(c, &x, &res) == -1) {
			curl_easy_setopt(c, CURLOPT_WRITEFUNCTION,
			    phr_write_cb);
			curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
			res = curl_easy_perform(c);
		}
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->http_status);
		if (x.cancelled) {
			phr_err(h, "cancelled");
			goto out;
		}
		if (x.failed)
			goto out;	/* the handler set the error */
		if (res != CURLE_OK) {
			if (h->cert == NULL && (res == CURLE_SEND_ERROR ||
			    res == CURLE_RECV_ERROR || res == CURLE_GOT_NOTHING ||
			    phr_curl_tls(res, errbuf))) {
				phr_err(h, "TLS with the clearinghouse failed: "
				    "%s (this PHR gave no client certificate, "
				    "and the clearinghouse requires one: give "
				    "--cert and --key)", errbuf[0] != '\0' ?
				    errbuf : curl_easy_strerror(res));
				goto out;
			}
			if (phr_curl_transient(res, errbuf) &&
			    attempt < h->max_retries)
				goto retry;
			if (phr_curl_tls(res, errbuf))
				phr_err(h, "TLS with the clearinghouse failed: "
				    "%s%s", errbuf[0] != '\0' ? errbuf :
				    curl_easy_strerror(res),
				    strstr(errbuf, "certificate required") !=
				    NULL || strstr(errbuf, "handshake") !=
				    NULL ? " (does this PHR have a client "
				    "certificate the clearinghouse accepts? "
				    "give --cert and --key)" : "");
			else
				phr_err(h, "cannot reach the clearinghouse at "
				    "%s: %s", h->url, errbuf[0] != '\0' ?
				    errbuf : curl_easy_strerror(res));
			goto out;
		}
		/* 501 Not Implemented is an answer, not a hiccup. */
		if (h->http_status >= 500 && h->http_status != 501 &&
		    attempt < h->max_retries && !x.begun)
			goto retry;
		if (h->http_status >= 500 && h->http_status != 501 &&
		    attempt < h->max_retries &&
		    (strstr(h->ctype, "soap") == NULL &&
		    strstr(h->ctype, "multipart") == NULL))
			goto retry;
		if (h->http_status == 403) {
			phr_err(h, "the clearinghouse refused this PHR's "
			    "certificate (HTTP 403): it is not registered as a "
			    "consumer");
			goto out;
		}
		if (!x.begun && ops->begin(arg, h->ctype) == -1)
			goto out;
		if (res == CURLE_OK && h->http_status == 200)
			phr_ahead_start(h);
		r = ops->finish(arg);
		if (r == 0) {
			rc = 0;
			goto out;
		}
		if (r == -1)
			goto out;
		if (attempt >= h->max_retries) {
			phr_err(h, "the clearinghouse is busy: try again later");
			goto out;
		}
retry:
		ops->reset(arg);
		h->prog.bytes = bytes0;
		phr_sleep_ms(h, phr_backoff_ms(attempt, h->retry_after));
	}
out:
	if (rc == -1)
		ops->reset(arg);
	phr_rx_digests_clear(h);
	phr_ahead_clear(&h->ahead_next);	/* not sent: this one failed */
	phr_req_free(&req);
	return (rc);
}
