/*
 * phr_core.c: libisnphr handles, connection profiles, the patient's
 * identity, and the SOAP answer reader shared by list and retrieve.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <libxml/tree.h>

#include "conf.h"
#include "log.h"
#include "mtom.h"
#include "phr_int.h"
#include "soap.h"
#include "xdsmsg.h"
#include "xmalloc.h"
#include "xml.h"

void
phr_err(struct isnphr *h, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(h->err, sizeof(h->err), fmt, ap);
	va_end(ap);
}

/*
 * The shared modules' log lines: a library must not print on its user's
 * terminal, so only with ISNPHR_DEBUG set in the environment; fatal ones
 * (out of memory, then exit) always.
 */
static void
phr_log_sink(int pri, const char *line, void *arg)
{
	(void)arg;
	if (pri == LOG_CRIT || getenv("ISNPHR_DEBUG") != NULL)
		fprintf(stderr, "libisnphr: %s\n", line);
}

/* Once per process: handles may be made in several threads at once. */
static void
phr_log_once(void)
{
	log_set_sink(phr_log_sink, NULL);
}

struct isnphr *
isnphr_new(void)
{
	static pthread_once_t	 once = PTHREAD_ONCE_INIT;
	struct isnphr		*h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return (NULL);
	pthread_once(&once, phr_log_once);
	h->connect_timeout = 10;
	h->low_speed_time = 60;
	h->max_retries = 4;
	return (h);
}

static void
phr_profile_clear(struct isnphr *h)
{
	phr_ahead_drop(h);	/* its thread reads the profile */
	free(h->url);
	free(h->ca);
	free(h->cert);
	free(h->key);
	free(h->oid);
	h->url = h->ca = h->cert = h->key = h->oid = NULL;
	h->opened = 0;
}

void
isnphr_free(struct isnphr *h)
{
	if (h == NULL)
		return;
	phr_http_free(h);
	phr_profile_clear(h);
	rsnaid_clear(&h->id);
	explicit_bzero(h->cx, sizeof(h->cx));
	free(h);
}

const char *
isnphr_error(const struct isnphr *h)
{
	return (h != NULL ? h->err : "out of memory");
}

int
isnphr_open(struct isnphr *h, const struct isnphr_profile *p)
{
	size_t	len;

	h->err[0] = '\0';
	if (p == NULL || p->url == NULL || *p->url == '\0') {
		phr_err(h, "the profile has no clearinghouse URL");
		return (-1);
	}
	if (strncasecmp(p->url, "https://", 8) != 0) {
		phr_err(h, "the clearinghouse URL must start with https://");
		return (-1);
	}
	phr_profile_clear(h);
	h->url = xstrdup(p->url);
	len = strlen(h->url);
	while (len > 8 && h->url[len - 1] == '/')
		h->url[--len] = '\0';
	h->ca = p->ca_file != NULL ? xstrdup(p->ca_file) : NULL;
	h->cert = p->cert_file != NULL ? xstrdup(p->cert_file) : NULL;
	h->key = p->key_file != NULL ? xstrdup(p->key_file) : NULL;
	h->oid = xstrdup(p->affinity_oid != NULL && *p->affinity_oid != '\0' ?
	    p->affinity_oid : ISNPHR_DEFAULT_OID);
	h->connect_timeout = p->connect_timeout > 0 ? p->connect_timeout : 10;
	h->low_speed_time = p->low_speed_time > 0 ? p->low_speed_time : 60;
	h->max_retries = p->max_retries == 0 ? 4 :
	    p->max_retries < 0 ? 0 : p->max_retries;
	if ((h->cert == NULL) != (h->key == NULL)) {
		phr_err(h, "give both the client certificate and its key");
		phr_profile_clear(h);
		return (-1);
	}
	if (h->has_id && rsnaid_cx(h->id.id, h->oid, h->cx,
	    sizeof(h->cx)) == -1) {
		phr_err(h, "the affinity domain OID is too long");
		phr_profile_clear(h);
		return (-1);
	}
	if (phr_http_init(h) == -1)
		return (-1);
	h->opened = 1;
	return (0);
}

/* The YAML profile (isn-phr(1) PROFILE FILES). */
struct phr_conf {
	char		*url;
	char		*ca;
	char		*cert;
	char		*key;
	char		*oid;
	long long	 connect_timeout;
	long long	 low_speed_time;
	int		 retries;
};

static const struct conf_key phr_conf_keys[] = {
	{ .name = "url", .type = CONF_STRING, .flags = CONF_REQUIRED,
	  .offset = offsetof(struct phr_conf, url),
	  .help = "https://host:port of the clearinghouse" },
	{ .name = "ca", .type = CONF_PATH,
	  .offset = offsetof(struct phr_conf, ca),
	  .help = "the network's CA certificate (PEM)" },
	{ .name = "cert", .type = CONF_PATH,
	  .offset = offsetof(struct phr_conf, cert),
	  .help = "this PHR's client certificate (PEM)" },
	{ .name = "key", .type = CONF_PATH, .flags = CONF_SECRET,
	  .offset = offsetof(struct phr_conf, key),
	  .help = "its private key (PEM)" },
	{ .name = "affinity_domain", .type = CONF_STRING,
	  .def = ISNPHR_DEFAULT_OID,
	  .offset = offsetof(struct phr_conf, oid),
	  .help = "assigning authority OID of the RSNA-IDs" },
	{ .name = "connect_timeout", .type = CONF_DURATION, .def = "10s",
	  .min = 1, .max = 3600,
	  .offset = offsetof(struct phr_conf, connect_timeout) },
	{ .name = "low_speed_time", .type = CONF_DURATION, .def = "60s",
	  .min = 1, .max = 86400,
	  .offset = offsetof(struct phr_conf, low_speed_time) },
	{ .name = "retries", .type = CONF_INT, .def = "4", .min = 0,
	  .max = 10, .offset = offsetof(struct phr_conf, retries) },
	{ .name = NULL }
};

int
isnphr_open_file(struct isnphr *h, const char *path)
{
	struct phr_conf		c;
	struct conf_errors	errs;
	struct isnphr_profile	p;
	int			rc;

	memset(&c, 0, sizeof(c));
	conf_errors_init(&errs);
	if (conf_load_file(path, phr_conf_keys, &c, &errs) == -1) {
		phr_err(h, "%s", errs.n > 0 ? errs.lines[0] :
		    "cannot read the profile");
		conf_errors_free(&errs);
		return (-1);
	}
	conf_errors_free(&errs);
	memset(&p, 0, sizeof(p));
	p.url = c.url;
	p.ca_file = c.ca;
	p.cert_file = c.cert;
	p.key_file = c.key;
	p.affinity_oid = c.oid;
	p.connect_timeout = (long)c.connect_timeout;
	p.low_speed_time = (long)c.low_speed_time;
	p.max_retries = c.retries == 0 ? -1 : c.retries;
	rc = isnphr_open(h, &p);
	conf_free(phr_conf_keys, &c);
	return (rc);
}

void
isnphr_set_options(struct isnphr *h, unsigned int options)
{
	h->options = options;
}

/* What the KDF child sends back through its pipe. */
struct phr_kdf_msg {
	int		rc;
	struct rsnaid	id;
	char		cause[256];
};

/*
 * rsnaid_compute in a forked child that writes the result to a pipe and
 * exits: scrypt's 32 MiB live and die in the child, so the retrieving
 * process stays small (docs/design/phr.md, Memory bounds). Only the child
 * is waited for (by pid). Without pipe or fork: in this process.
 */
static int
phr_compute_child(struct isnphr *h, enum rsnaid_scheme s, const char *secret,
    const char *dob, const char *password, struct rsnaid *id, char **cause)
{
	struct phr_kdf_msg	 m;
	char			*c = NULL, *p;
	size_t			 off;
	ssize_t			 n;
	pid_t			 pid;
	int			 fds[2], status;

	if (pipe(fds) == -1)
		return (rsnaid_compute(s, secret, dob, password, id, cause));
	if ((pid = fork()) == -1) {
		close(fds[0]);
		close(fds[1]);
		return (rsnaid_compute(s, secret, dob, password, id, cause));
	}
	if (pid == 0) {
		close(fds[0]);
		memset(&m, 0, sizeof(m));
		m.rc = rsnaid_compute(s, secret, dob, password, &m.id, &c);
		if (c != NULL)
			snprintf(m.cause, sizeof(m.cause), "%s", c);
		for (p = (char *)&m, off = 0; off < sizeof(m); off += (size_t)n)
			if ((n = write(fds[1], p + off, sizeof(m) - off)) ==
			    -1 && errno != EINTR)
				break;
			else if (n == -1)
				n = 0;
		explicit_bzero(&m, sizeof(m));
		_exit(0);
	}
	close(fds[1]);
	phr_http_warm(h);	/* meanwhile */
	memset(&m, 0, sizeof(m));
	for (p = (char *)&m, off = 0; off < sizeof(m); off += (size_t)n)
		if ((n = read(fds[0], p + off, sizeof(m) - off)) == 0 ||
		    (n == -1 && errno != EINTR))
			break;
		else if (n == -1)
			n = 0;
	close(fds[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (off != sizeof(m)) {
		explicit_bzero(&m, sizeof(m));
		xcause(cause, "the key derivation failed (its process ended "
		    "early)");
		return (-1);
	}
	status = m.rc == -1 ? -1 : 0;
	if (status == -1 && m.cause[0] != '\0')
		xcause(cause, "%s", m.cause);
	*id = m.id;
	explicit_bzero(&m, sizeof(m));
	return (status);
}

int
isnphr_set_patient(struct isnphr *h, const char *scheme, const char *secret,
    const char *dob, const char *password)
{
	enum rsnaid_scheme	 s;
	char			*cause = NULL;
	int			 r;

	h->err[0] = '\0';
	rsnaid_clear(&h->id);
	h->has_id = 0;
	if (scheme == NULL)
		scheme = "isn2";
	if (rsnaid_scheme_parse(scheme, &s) == -1) {
		phr_err(h, "unknown scheme \"%s\": use isn2, rsna-token or "
		    "rsna-access-code", scheme);
		return (-1);
	}
	if (secret == NULL || dob == NULL) {
		phr_err(h, "the %s scheme needs a %s and a date of birth",
		    scheme, s == RSNAID_RSNA_ACCESS_CODE ? "access code" :
		    "token");
		return (-1);
	}
	if (s != RSNAID_RSNA_ACCESS_CODE && password == NULL) {
		phr_err(h, "the %s scheme needs the patient's password",
		    scheme);
		return (-1);
	}
	if (s == RSNAID_RSNA_ACCESS_CODE)
		password = NULL;
	if (s == RSNAID_ISN2 && !(h->options & ISNPHR_OPT_KDF_IN_PROCESS))
		r = phr_compute_child(h, s, secret, dob, password, &h->id,
		    &cause);
	else
		r = rsnaid_compute(s, secret, dob, password, &h->id, &cause);
	if (r == -1) {
		phr_err(h, "%s", cause != NULL ? cause : "invalid details");
		free(cause);
		return (-1);
	}
	if (rsnaid_cx(h->id.id, h->oid != NULL ? h->oid : ISNPHR_DEFAULT_OID,
	    h->cx, sizeof(h->cx)) == -1) {
		rsnaid_clear(&h->id);
		phr_err(h, "the affinity domain OID is too long");
		return (-1);
	}
	h->has_id = 1;
	return (0);
}

const char *
isnphr_rsna_id(const struct isnphr *h)
{
	return (h->has_id ? h->id.id : NULL);
}

void
isnphr_set_progress(struct isnphr *h, isnphr_progress_cb cb, void *arg)
{
	h->progress = cb;
	h->progress_arg = arg;
}

int
phr_tick(struct isnphr *h)
{
	if (h->cancelled)
		return (-1);
	if (h->progress != NULL && h->progress(&h->prog, h->progress_arg)) {
		h->cancelled = 1;
		return (-1);
	}
	return (0);
}

size_t
isnphr_retrieved(const struct isnphr *h)
{
	return (h->nretrieved);
}

size_t
isnphr_skipped(const struct isnphr *h)
{
	return (h->nskipped);
}

size_t
isnphr_failed(const struct isnphr *h)
{
	return (h->nfailed);
}

/* A DTM of 14 digits (shorter ones padded), UTC; 0 when malformed. */
time_t
phr_dtm_time(const char *s)
{
	struct tm	tm;
	char		d[15] = "19700101000000";
	size_t		len, i;

	if (s == NULL)
		return (0);
	len = strlen(s);
	if (len < 4 || len > 14 || len % 2 != 0)
		return (0);
	for (i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return (0);
	memcpy(d, s, len);
	if (len <= 4)
		memcpy(d + 4, "01", 2);
	if (len <= 6)
		memcpy(d + 6, "01", 2);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (d[0] - '0') * 1000 + (d[1] - '0') * 100 +
	    (d[2] - '0') * 10 + (d[3] - '0') - 1900;
	tm.tm_mon = (d[4] - '0') * 10 + (d[5] - '0') - 1;
	tm.tm_mday = (d[6] - '0') * 10 + (d[7] - '0');
	tm.tm_hour = (d[8] - '0') * 10 + (d[9] - '0');
	tm.tm_min = (d[10] - '0') * 10 + (d[11] - '0');
	tm.tm_sec = (d[12] - '0') * 10 + (d[13] - '0');
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
	    tm.tm_sec > 60)
		return (0);
	return (timegm(&tm));
}

/* --- SOAP answers --- */

void
phr_rx_init(struct phr_rx *rx, struct isnphr *h,
    const struct mtom_callbacks *cbs, void *cbarg)
{
	memset(rx, 0, sizeof(*rx));
	rx->h = h;
	rx->cbs = cbs;
	rx->cbarg = cbarg;
	dbuf_init(&rx->plain, PHR_MAX_RESPONSE_XML);
}

void
phr_rx_reset(struct phr_rx *rx)
{
	if (rx->mp != NULL)
		mtom_parser_free(rx->mp);
	rx->mp = NULL;
	if (rx->doc != NULL)
		xml_free(rx->doc);
	rx->doc = NULL;
	rx->body = NULL;
	rx->multipart = 0;
	rx->nohash = 0;
	/* rx->unsupported outlives the reset of a failed request. */
	dbuf_reset(&rx->plain);
}

int
phr_rx_begin(struct phr_rx *rx, const char *ct)
{
	static const struct mtom_callbacks	 none;
	struct mtom_limits			 lim;
	char					*cause = NULL;

	phr_rx_reset(rx);
	if (ct != NULL && strncasecmp(ct, "multipart/related", 17) == 0) {
		memset(&lim, 0, sizeof(lim));
		lim.max_parts = PHR_BATCH * 2 + 2;
		rx->mp = mtom_parser_new(ct, rx->cbs != NULL ? rx->cbs : &none,
		    rx->cbarg, &lim, &cause);
		if (rx->mp == NULL) {
			phr_err(rx->h, "the clearinghouse's answer is not "
			    "readable MTOM: %s", cause);
			free(cause);
			return (-1);
		}
		rx->multipart = 1;
		/* The receiving thread digests the parts (phr_http.c). */
		if (rx->h->rx_digests) {
			mtom_parser_nohash(rx->mp);
			rx->nohash = 1;
		}
	}
	return (0);
}

int
phr_rx_digest(const struct phr_rx *rx, const struct mtom_part *mp,
    const char **sha1, uint64_t *size)
{
	const struct mtom_part	*sp;

	if (!rx->nohash) {
		*sha1 = mp->sha1;
		*size = mp->size;
		return (0);
	}
	/* The same bytes framed twice: the same part at the same index. */
	if (rx->h->rx_shadow == NULL || (sp = mtom_parser_part(
	    rx->h->rx_shadow, mp->index)) == NULL || !sp->complete ||
	    sp->size != mp->size || (sp->cid == NULL) != (mp->cid == NULL) ||
	    (sp->cid != NULL && strcmp(sp->cid, mp->cid) != 0))
		return (-1);
	*sha1 = sp->sha1;
	*size = sp->size;
	return (0);
}

void
phr_rx_digests_clear(struct isnphr *h)
{
	if (h->rx_shadow != NULL)
		mtom_parser_free(h->rx_shadow);
	h->rx_shadow = NULL;
	h->rx_digests = 0;
}

int
phr_rx_data(struct phr_rx *rx, const void *buf, size_t len)
{
	char	*cause = NULL;

	if (rx->multipart) {
		if (mtom_parser_feed(rx->mp, buf, len, &cause) == -1) {
			if (rx->h->err[0] == '\0' || rx->h->cancelled)
				phr_err(rx->h, "%s", rx->h->cancelled ?
				    "cancelled" : cause);
			free(cause);
			return (-1);
		}
		return (0);
	}
	if (dbuf_add(&rx->plain, buf, len) == -1) {
		phr_err(rx->h, "the clearinghouse's answer is too large");
		return (-1);
	}
	return (0);
}

const char *
phr_rx_root(struct phr_rx *rx, size_t *lenp)
{
	const struct mtom_part	*root;

	if (!rx->multipart) {
		*lenp = rx->plain.len;
		return (rx->plain.data);
	}
	if ((root = mtom_parser_root_part(rx->mp)) == NULL || !root->complete)
		return (NULL);
	return (mtom_parser_root(rx->mp, lenp));
}

/* HTTP 404, 405, 415 or 501 without SOAP: no such endpoint there. */
static void
phr_rx_no_endpoint(struct phr_rx *rx)
{
	long	s = rx->h->http_status;

	if (s == 404 || s == 405 || s == 415 || s == 501)
		rx->unsupported = 1;
}

int
phr_rx_finish(struct phr_rx *rx)
{
	struct soap_msg		 msg;
	struct soap_fault	 f;
	const char		*root;
	char			*cause = NULL;
	size_t			 len;

	if (rx->multipart && mtom_parser_finish(rx->mp, &cause) == -1) {
		phr_err(rx->h, "the clearinghouse's answer was cut short or "
		    "malformed: %s", cause);
		free(cause);
		return (-1);
	}
	if ((root = phr_rx_root(rx, &len)) == NULL || len == 0) {
		phr_err(rx->h, "the clearinghouse answered HTTP %ld without "
		    "a SOAP message", rx->h->http_status);
		phr_rx_no_endpoint(rx);
		return (-1);
	}
	memset(&f, 0, sizeof(f));
	if (soap_msg_parse_buf(root, len, NULL, &msg, &f) == -1) {
		phr_err(rx->h, "the clearinghouse answered HTTP %ld without "
		    "a readable SOAP message (%s)", rx->h->http_status,
		    f.reason != NULL ? f.reason : "unreadable");
		soap_fault_clear(&f);
		phr_rx_no_endpoint(rx);
		return (-1);
	}
	if (msg.is_fault) {
		/*
		 * Any fault (wsa:ActionNotSupported from a repository without
		 * RAD-69, a Sender fault from one that cannot read it): the
		 * caller of a RAD-69 request falls back to ITI-43.
		 */
		rx->unsupported = 1;
		phr_err(rx->h, "the clearinghouse refused the request: %s",
		    msg.fault.reason != NULL ? msg.fault.reason :
		    soap_code_name(msg.fault.code));
		soap_msg_clear(&msg);
		return (-1);
	}
	if (msg.body == NULL) {
		phr_err(rx->h, "the clearinghouse's answer has an empty body");
		soap_msg_clear(&msg);
		return (-1);
	}
	rx->doc = msg.doc;
	rx->body = msg.body;
	msg.own = 0;
	msg.doc = NULL;
	soap_msg_clear(&msg);
	return (0);
}

int
phr_rx_errors(struct isnphr *h, const void *arg, int failure)
{
	const struct xdsmsg_errors	*errs = arg;
	size_t				 i;

	if (xdsmsg_errors_has(errs, "XDSRegistryBusy") ||
	    xdsmsg_errors_has(errs, "XDSRepositoryBusy"))
		return (PHR_RETRY);
	if (!failure)
		return (0);
	for (i = 0; i < errs->n; i++)
		if (errs->v[i].severity == XDSMSG_ERROR) {
			snprintf(h->last_code, sizeof(h->last_code), "%s",
			    errs->v[i].code != NULL ? errs->v[i].code : "");
			phr_err(h, "the clearinghouse answered %s: %s",
			    errs->v[i].code, errs->v[i].context != NULL ?
			    errs->v[i].context : "");
			return (-1);
		}
	phr_err(h, "the clearinghouse answered Failure");
	return (-1);
}
