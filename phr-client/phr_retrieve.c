/*
 * phr_retrieve.c: isnphr_retrieve. Per study: ITI-43 for the KOS and the
 * report, then RAD-69 per series in batches of at most PHR_BATCH
 * instances (ITI-43 when the clearinghouse does not support RAD-69); only
 * the first under ISNPHR_OPT_NO_IMAGES. Each MTOM attachment streams into
 * a temp file under DIR/.isnphr-tmp while the MTOM parser computes its
 * SHA-1 and size and, for isn2, the envelope decoder decrypts it on the
 * way. A document is renamed into place only when its hash and size match
 * its entry, it decrypted whole, and it verified; otherwise the temp file
 * is removed and the failure reported.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <libxml/tree.h>

#include "envelope.h"
#include "mtom.h"
#include "phr_int.h"
#include "soap.h"
#include "xdsmsg.h"
#include "xmalloc.h"
#include "xml.h"

/*
 * A UID used as a file name: DICOM UID characters only (digits and dots),
 * 1 to 64 of them, no empty component; so never "", ".", ".." or a "/".
 */
int
phr_uid_safe(const char *s)
{
	size_t	i, len;

	if (s == NULL || (len = strlen(s)) == 0 || len > 64)
		return (0);
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (i == 0 || i == len - 1 || s[i + 1] == '.')
				return (0);
		} else if (s[i] < '0' || s[i] > '9')
			return (0);
	}
	return (1);
}

/* mkdir -p dir/rel (rel made of safe components). */
int
phr_mkdirs(const char *dir, const char *rel, char **cause)
{
	char	*p, *s, c;

	xasprintf(&p, "%s/%s", dir, rel);
	for (s = p + strlen(dir) + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		c = *s;
		*s = '\0';
		if (mkdir(p, 0755) == -1 && errno != EEXIST) {
			xcause(cause, "cannot create %s: %s", p,
			    strerror(errno));
			free(p);
			return (-1);
		}
		if (c == '\0')
			break;
		*s = c;
	}
	free(p);
	return (0);
}

/* One attachment as it streams. */
struct phr_part {
	struct phr_batch	*b;
	int			 idx;		/* doc in the batch; -1 unknown */
	int			 fd;
	char			*tmp;
	struct envelope_dec	*dec;
	char			*cause;		/* decryption/write failure */
	uint8_t			*head;		/* an image's first bytes */
	size_t			 headlen;
};

struct phr_batch {
	struct phr_rx		 rx;
	struct isnphr		*h;
	const char		*dir;
	char			*tmpdir;
	const struct phr_set	*set;
	struct phr_doc		**docs;
	size_t			 n;
	char			**cids;		/* per doc, from the root */
	int			 mapped;
	int			 rad69;		/* a RAD-69 request */
	const struct phr_kos	*kos;
	char			*made;		/* the last directory made */
};

static int
phr_tmpfile(struct phr_batch *b, char **pathp, char **cause)
{
	int	fd;

	xasprintf(pathp, "%s/docXXXXXX", b->tmpdir);
	if ((fd = mkstemp(*pathp)) == -1) {
		xcause(cause, "cannot create a temp file in %s: %s",
		    b->tmpdir, strerror(errno));
		free(*pathp);
		*pathp = NULL;
	}
	return (fd);
}

static int
phr_write_all(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 w;

	while (len > 0) {
		if ((w = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += w;
		len -= (size_t)w;
	}
	return (0);
}

/* Keep an image's first PHR_HEAD bytes for verification. */
static void
phr_part_head(struct phr_part *pp, const void *buf, size_t len)
{
	if (pp->head == NULL || pp->headlen == PHR_HEAD)
		return;
	if (len > PHR_HEAD - pp->headlen)
		len = PHR_HEAD - pp->headlen;
	memcpy(pp->head + pp->headlen, buf, len);
	pp->headlen += len;
}

static int
phr_dec_sink(void *arg, const void *buf, size_t len)
{
	struct phr_part	*pp = arg;

	phr_part_head(pp, buf, len);
	return (phr_write_all(pp->fd, buf, len));
}

/* Read the root's DocumentResponses once: which cid is which document. */
static void
phr_batch_map(struct phr_batch *b)
{
	struct xdsmsg_retrieve_resp	 resp;
	struct xdsmsg_errors		 errs;
	struct soap_msg			 msg;
	struct soap_fault		 f;
	const char			*root;
	size_t				 len, i, j;

	if (b->mapped || (root = phr_rx_root(&b->rx, &len)) == NULL)
		return;
	b->mapped = 1;
	memset(&f, 0, sizeof(f));
	if (soap_msg_parse_buf(root, len, NULL, &msg, &f) == -1) {
		soap_fault_clear(&f);
		return;
	}
	memset(&resp, 0, sizeof(resp));
	memset(&errs, 0, sizeof(errs));
	if (msg.body != NULL && !msg.is_fault) {
		xdsmsg_retrieve_resp_parse(msg.body, &resp, &errs);
		for (i = 0; i < resp.ndocs; i++) {
			if (resp.docs[i].content.href == NULL ||
			    resp.docs[i].document == NULL)
				continue;
			for (j = 0; j < b->n; j++)
				if (b->cids[j] == NULL && strcmp(
				    b->docs[j]->uid, resp.docs[i].document) == 0)
					b->cids[j] = mtom_cid_from_href(
					    resp.docs[i].content.href);
		}
	}
	xdsmsg_retrieve_resp_clear(&resp);
	xdsmsg_errors_clear(&errs);
	soap_msg_clear(&msg);
}

static int
phr_part_begin(const struct mtom_part *p, void **handle, void *arg,
    char **cause)
{
	struct phr_batch	*b = arg;
	struct phr_part		*pp;
	size_t			 j;

	phr_batch_map(b);
	pp = xcalloc(1, sizeof(*pp));
	pp->b = b;
	pp->idx = -1;
	for (j = 0; p->cid != NULL && j < b->n; j++)
		if (b->cids[j] != NULL && strcmp(b->cids[j], p->cid) == 0)
			pp->idx = (int)j;
	if ((pp->fd = phr_tmpfile(b, &pp->tmp, cause)) == -1) {
		free(pp);
		return (-1);
	}
	if (pp->idx >= 0 && b->docs[pp->idx]->kind == PHR_IMAGE)
		pp->head = xmalloc(PHR_HEAD);
	if (pp->idx >= 0 && b->set->isn2) {
		pp->dec = envelope_dec_new(b->h->id.key, b->docs[pp->idx]->uid,
		    phr_dec_sink, pp, &pp->cause);
		if (pp->dec == NULL && pp->cause == NULL)
			xcause(&pp->cause, "cannot start decryption");
	}
	*handle = pp;
	return (0);
}

static int
phr_part_data(const struct mtom_part *p, const void *buf, size_t len,
    void *arg, char **cause)
{
	struct phr_part		*pp = p->handle;
	struct phr_batch	*b = arg;

	b->h->prog.bytes += len;
	if (pp == NULL || pp->cause != NULL)
		return (0);	/* already failed: the document is dropped */
	if (pp->dec != NULL) {
		if (envelope_dec_update(pp->dec, buf, len, &pp->cause) == -1 &&
		    pp->cause == NULL)
			xcause(&pp->cause, "decryption failed");
		return (0);
	}
	if (pp->idx >= 0 && !pp->b->set->isn2)
		phr_part_head(pp, buf, len);
	if ((pp->idx < 0 || !pp->b->set->isn2) &&
	    phr_write_all(pp->fd, buf, len) == -1) {
		xcause(cause, "cannot write %s: %s", pp->tmp, strerror(errno));
		return (-1);
	}
	return (0);
}

static int
phr_part_end(const struct mtom_part *p, void *arg, char **cause)
{
	struct phr_part	*pp = p->handle;

	if (pp != NULL && pp->dec != NULL && pp->cause == NULL &&
	    envelope_dec_final(pp->dec, &pp->cause) == -1 && pp->cause == NULL)
		xcause(&pp->cause, "the document is truncated");
	/*
	 * Its 128 KiB of buffers go now, not when the whole answer (up to
	 * PHR_BATCH parts, placed at its end) has been read.
	 */
	if (pp != NULL && pp->dec != NULL) {
		envelope_dec_free(pp->dec);
		pp->dec = NULL;
	}
	return (0);
}

static void
phr_part_free(void *handle, void *arg)
{
	struct phr_part	*pp = handle;

	if (pp == NULL)
		return;
	if (pp->fd != -1)
		close(pp->fd);
	if (pp->tmp != NULL) {
		unlink(pp->tmp);
		free(pp->tmp);
	}
	envelope_dec_free(pp->dec);
	free(pp->cause);
	free(pp->head);
	free(pp);
}

static const struct mtom_callbacks phr_part_cbs = {
	phr_part_begin, phr_part_data, phr_part_end, phr_part_free
};

static void
phr_doc_fail(struct isnphr *h, struct phr_doc *d, const char *fmt, ...)
    __attribute__((__format__(__printf__, 3, 4)));

static void
phr_doc_fail(struct isnphr *h, struct phr_doc *d, const char *fmt, ...)
{
	va_list	ap;
	char	msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->state = PHR_FAILED;
	h->nfailed++;
	h->prog.docs++;
	if (h->err[0] == '\0' || h->nfailed == 1)
		phr_err(h, "document %s: %s", d->uid, msg);
}

/* Whole-file decryption of a part whose root came after it. */
static int
phr_decrypt_file(struct phr_batch *b, struct phr_part *pp, struct phr_doc *d)
{
	char	*out = NULL;
	int	 in, fd;

	if ((fd = phr_tmpfile(b, &out, &pp->cause)) == -1)
		return (-1);
	if ((in = open(pp->tmp, O_RDONLY)) == -1 ||
	    envelope_decrypt_fd(in, fd, b->h->id.key, d->uid,
	    &pp->cause) == -1) {
		if (in != -1)
			close(in);
		else
			xcause(&pp->cause, "cannot reopen %s", pp->tmp);
		close(fd);
		unlink(out);
		free(out);
		return (-1);
	}
	close(in);
	close(pp->fd);
	unlink(pp->tmp);
	free(pp->tmp);
	pp->fd = fd;
	pp->tmp = out;
	return (0);
}

/* Inline (base64 in the XML) content, small by the clearinghouse's rule. */
static int
phr_inline(struct phr_batch *b, struct phr_part *pp, struct phr_doc *d,
    const struct xdsmsg_content *c)
{
	char	sha1[41];

	b->h->prog.bytes += c->size;
	xdsmsg_sha1_hex(c->data, c->size, sha1);
	if (strcasecmp(sha1, d->hash) != 0 || c->size != d->size) {
		xcause(&pp->cause, "tampered or truncated: its SHA-1 or size "
		    "differs from the registry's");
		return (-1);
	}
	if ((pp->fd = phr_tmpfile(b, &pp->tmp, &pp->cause)) == -1)
		return (-1);
	if (b->set->isn2) {
		pp->dec = envelope_dec_new(b->h->id.key, d->uid, phr_dec_sink,
		    pp, &pp->cause);
		if (pp->dec == NULL || envelope_dec_update(pp->dec, c->data,
		    c->size, &pp->cause) == -1 || envelope_dec_final(pp->dec,
		    &pp->cause) == -1)
			return (-1);
		return (0);
	}
	return (phr_write_all(pp->fd, c->data, c->size));
}

/* Hash-checked, decrypted, verified: rename into place. */
static void
phr_place(struct phr_batch *b, struct phr_doc *d, struct phr_part *pp,
    const struct mtom_part *mp)
{
	struct isnphr	*h = b->h;
	struct stat	 st;
	const char	*sha1;
	uint64_t	 size;
	char		*final, *rel, *slash, *cause = NULL;
	int		 v;

	if (mp != NULL && phr_rx_digest(&b->rx, mp, &sha1, &size) == -1) {
		phr_doc_fail(h, d, "its SHA-1 could not be computed (not "
		    "written)");
		return;
	}
	if (mp != NULL && (strcasecmp(sha1, d->hash) != 0 ||
	    size != d->size)) {
		phr_doc_fail(h, d, "tampered or truncated: its SHA-1 or size "
		    "differs from the registry's (not written)");
		return;
	}
	if (pp->cause == NULL && mp != NULL && pp->idx < 0 && b->set->isn2)
		phr_decrypt_file(b, pp, d);
	if (pp->cause != NULL) {
		phr_doc_fail(h, d, "%s (not written)", pp->cause);
		return;
	}
	if (fstat(pp->fd, &st) == -1) {
		phr_doc_fail(h, d, "cannot write: %s", strerror(errno));
		return;
	}
	d->plain_size = (uint64_t)st.st_size;
	if (d->kind == PHR_KOS && phr_verify_kos(d, pp->tmp, &cause) == -1) {
		phr_doc_fail(h, d, "%s (not written)", cause);
		free(cause);
		return;
	}
	if (d->kind == PHR_IMAGE) {
		v = phr_verify_instance(b->kos, d, pp->tmp, pp->head,
		    pp->headlen, &cause);
		if (v == -1) {
			phr_doc_fail(h, d, "%s (not written)", cause);
			free(cause);
			return;
		}
		d->verified = v;
	}
	/* A batch is one series: its directory is made once. */
	rel = xstrdup(d->path);
	if ((slash = strrchr(rel, '/')) != NULL) {
		*slash = '\0';
		if ((b->made == NULL || strcmp(b->made, rel) != 0) &&
		    phr_mkdirs(b->dir, rel, &cause) == -1) {
			phr_doc_fail(h, d, "%s", cause);
			free(cause);
			free(rel);
			return;
		}
		free(b->made);
		b->made = rel;
	} else
		free(rel);
	xasprintf(&final, "%s/%s", b->dir, d->path);
	if (rename(pp->tmp, final) == -1) {
		phr_doc_fail(h, d, "cannot rename into %s: %s", final,
		    strerror(errno));
		free(final);
		return;
	}
	free(final);
	free(pp->tmp);
	pp->tmp = NULL;
	d->state = PHR_DONE;
	h->nretrieved++;
	h->prog.docs++;
	phr_tick(h);
}

static int
phr_b_begin(void *arg, const char *ct)
{
	struct phr_batch	*b = arg;
	size_t			 j;

	for (j = 0; j < b->n; j++) {
		free(b->cids[j]);
		b->cids[j] = NULL;
	}
	b->mapped = 0;
	return (phr_rx_begin(&b->rx, ct));
}

static int
phr_b_data(void *arg, const void *buf, size_t len)
{
	struct phr_batch	*b = arg;

	return (phr_rx_data(&b->rx, buf, len));
}

static void
phr_b_reset(void *arg)
{
	struct phr_batch	*b = arg;

	phr_rx_reset(&b->rx);
}

/*
 * The clearinghouse announced the set's expiry (urn:rsna:isn:expiresAt)
 * and that time has passed: 1 with the time in buf.
 */
static int
phr_set_expired(const struct phr_set *set, char *buf, size_t len)
{
	struct tm	tm;

	if (set->expires == 0 || set->expires > time(NULL) ||
	    gmtime_r(&set->expires, &tm) == NULL)
		return (0);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
	return (1);
}

static int
phr_b_finish(void *arg)
{
	struct phr_batch		*b = arg;
	struct isnphr			*h = b->h;
	struct xdsmsg_retrieve_resp	 resp;
	struct xdsmsg_errors		 errs;
	const struct mtom_part		*mp;
	struct phr_part			*pp, ipp;
	struct phr_doc			*d;
	char				 expired[32];
	size_t				 i, j;
	int				 r;

	if (phr_rx_finish(&b->rx) == -1)
		return (-1);
	if (phr_tick(h) == -1) {
		phr_err(h, "cancelled");
		return (-1);
	}
	memset(&resp, 0, sizeof(resp));
	memset(&errs, 0, sizeof(errs));
	if (xdsmsg_retrieve_resp_parse(b->rx.body, &resp, &errs) == -1 &&
	    resp.ndocs == 0 && resp.errors.n == 0) {
		phr_err(h, "the clearinghouse's retrieve answer is malformed");
		r = -1;
		goto out;
	}
	if (resp.ndocs == 0 && resp.status == XDSMSG_FAILURE &&
	    phr_rx_errors(h, &resp.errors, 0) == PHR_RETRY) {
		r = PHR_RETRY;
		goto out;
	}
	/*
	 * RAD-69 refused as a whole for another reason than unknown
	 * documents (a repository that does not do RAD-69 may say so with
	 * an XDSRepositoryError): the caller asks again with ITI-43.
	 */
	if (b->rad69 && resp.ndocs == 0 && resp.status == XDSMSG_FAILURE &&
	    !xdsmsg_errors_has(&resp.errors, "XDSDocumentUniqueIdError")) {
		phr_rx_errors(h, &resp.errors, 1);
		b->rx.unsupported = 1;
		r = -1;
		goto out;
	}
	r = 0;
	for (i = 0; i < resp.ndocs; i++) {
		if (h->cancelled) {
			phr_err(h, "cancelled");
			r = -1;
			goto out;
		}
		d = NULL;
		for (j = 0; j < b->n; j++)
			if (b->docs[j]->state == PHR_PENDING &&
			    resp.docs[i].document != NULL &&
			    strcmp(b->docs[j]->uid, resp.docs[i].document) == 0)
				d = b->docs[j];
		if (d == NULL)
			continue;
		if (resp.docs[i].content.href != NULL) {
			mp = b->rx.multipart ? mtom_parser_lookup(b->rx.mp,
			    resp.docs[i].content.href) : NULL;
			if (mp == NULL || mp->handle == NULL || !mp->complete) {
				phr_doc_fail(h, d, "its content is missing "
				    "from the answer");
				continue;
			}
			phr_place(b, d, mp->handle, mp);
		} else if (resp.docs[i].content.data != NULL ||
		    resp.docs[i].content.size == 0) {
			memset(&ipp, 0, sizeof(ipp));
			ipp.b = b;
			ipp.fd = -1;
			ipp.idx = (int)j;
			pp = &ipp;
			if (phr_inline(b, pp, d, &resp.docs[i].content) == -1 &&
			    pp->cause == NULL)
				xcause(&pp->cause, "cannot write it");
			if (pp->dec != NULL) {
				envelope_dec_free(pp->dec);
				pp->dec = NULL;
			}
			phr_place(b, d, pp, NULL);
			if (pp->fd != -1)
				close(pp->fd);
			pp->fd = -1;
			phr_part_free(xmemdup(pp, sizeof(*pp)), NULL);
		}
	}
	for (j = 0; j < b->n; j++) {
		if (b->docs[j]->state != PHR_PENDING)
			continue;
		if (phr_set_expired(b->set, expired, sizeof(expired)))
			phr_doc_fail(h, b->docs[j], "the submission %s "
			    "expired at %s: the clearinghouse no longer has "
			    "it", b->set->uid, expired);
		else
			phr_doc_fail(h, b->docs[j], "the clearinghouse no "
			    "longer has it (the submission was removed or "
			    "has expired)");
	}
out:
	xdsmsg_retrieve_resp_clear(&resp);
	xdsmsg_errors_clear(&errs);
	return (r);
}

static const struct phr_resp_ops phr_b_ops = {
	phr_b_begin, phr_b_data, phr_b_finish, phr_b_reset
};

/* One request's SOAP body: RAD-69 (one series) or ITI-43. */
static int
phr_fetch_body(struct phr_doc **docs, size_t n, int rad69, struct dbuf *body)
{
	static const char *const	 ts[] = {
		"1.2.840.10008.1.2.1", "1.2.840.10008.1.2"
	};
	struct xdsmsg_docreq		*reqs;
	struct xdsmsg_series		 series;
	struct xdsmsg_study		 study;
	struct xdsmsg_rad69_req		 r69;
	size_t				 i;
	int				 rc;

	reqs = xcalloc(n, sizeof(*reqs));
	for (i = 0; i < n; i++) {
		reqs[i].home = docs[i]->home;
		reqs[i].repository = docs[i]->repo;
		reqs[i].document = docs[i]->uid;
	}
	dbuf_init(body, PHR_MAX_RESPONSE_XML);
	if (rad69) {
		memset(&series, 0, sizeof(series));
		memset(&study, 0, sizeof(study));
		memset(&r69, 0, sizeof(r69));
		series.uid = docs[0]->series;
		series.docs = reqs;
		series.ndocs = n;
		study.uid = docs[0]->study;
		study.series = &series;
		study.nseries = 1;
		r69.studies = &study;
		r69.nstudies = 1;
		r69.tsuids = (char **)(uintptr_t)ts;
		r69.ntsuids = 2;
		rc = xdsmsg_rad69_req_build(body, &r69);
	} else
		rc = xdsmsg_retrieve_req_build(body, reqs, n);
	free(reqs);
	return (rc);
}

static const char *
phr_fetch_path(const struct isnphr *h, int rad69)
{
	if (!rad69)
		return (SOAP_PATH_REPOSITORY);
	return (h->rad69_path != NULL ? h->rad69_path : SOAP_PATH_IDS);
}

#define PHR_FETCH_ACTION(rad69)	((rad69) ? SOAP_ACTION_RAD69 : \
				    SOAP_ACTION_ITI43)

/* One request for up to PHR_BATCH pending documents. */
static int
phr_fetch(struct isnphr *h, const char *dir, char *tmpdir,
    const struct phr_set *set, struct phr_doc **docs, size_t n,
    const struct phr_kos *kos, int rad69)
{
	struct phr_batch	 b;
	struct dbuf		 body;
	size_t			 i;
	int			 rc = -1;

	if (phr_fetch_body(docs, n, rad69, &body) == -1)
		goto out;
	memset(&b, 0, sizeof(b));
	b.h = h;
	b.dir = dir;
	b.tmpdir = tmpdir;
	b.set = set;
	b.docs = docs;
	b.n = n;
	b.kos = kos;
	b.rad69 = rad69;
	b.cids = xcalloc(n, sizeof(*b.cids));
	phr_rx_init(&b.rx, h, &phr_part_cbs, &b);
	rc = phr_post(h, phr_fetch_path(h, rad69), PHR_FETCH_ACTION(rad69), 1,
	    body.data, body.len, &phr_b_ops, &b);
	if (rc == -1 && rad69 && b.rx.unsupported)
		rc = 1;		/* the caller falls back to ITI-43 */
	phr_rx_reset(&b.rx);
	dbuf_free(&b.rx.plain);
	for (i = 0; i < n; i++)
		free(b.cids[i]);
	free(b.cids);
	free(b.made);
out:
	dbuf_free(&body);
	return (rc);
}

/* Already there from an earlier run, and still matching its entry. */
static int
phr_present(const char *dir, const struct phr_set *set, struct phr_doc *d)
{
	struct stat	st;
	char		*p;
	int		 r;

	xasprintf(&p, "%s/%s", dir, d->path);
	r = stat(p, &st) == 0 && S_ISREG(st.st_mode) &&
	    (set->isn2 ? envelope_size((uint64_t)st.st_size) == d->size :
	    (uint64_t)st.st_size == d->size);
	free(p);
	if (r)
		d->plain_size = (uint64_t)st.st_size;
	return (r);
}

int
phr_doc_path(struct phr_doc *d)
{
	free(d->path);
	d->path = NULL;
	if (!phr_uid_safe(d->study) || !phr_uid_safe(d->sop) ||
	    (d->kind == PHR_IMAGE && !phr_uid_safe(d->series)))
		return (-1);
	if (d->kind == PHR_KOS)
		xasprintf(&d->path, "%s/kos.dcm", d->study);
	else if (d->kind == PHR_REPORT)
		xasprintf(&d->path, "%s/report.txt", d->study);
	else
		xasprintf(&d->path, "%s/%s/%s.dcm", d->study, d->series,
		    d->sop);
	return (0);
}

static void
phr_set_paths(struct isnphr *h, const struct phr_set *set, const char *dir,
    const char *study)
{
	struct phr_doc	*d;
	size_t		 j;

	for (j = 0; j < set->ndocs; j++) {
		d = &set->docs[j];
		d->state = PHR_PENDING;
		if ((study != NULL && strcmp(d->study, study) != 0) ||
		    (d->kind == PHR_IMAGE &&
		    (h->options & ISNPHR_OPT_NO_IMAGES))) {
			d->state = PHR_SKIPPED;	/* not asked for */
			continue;
		}
		h->prog.docs_total++;
		h->prog.bytes_total += d->size;
		if (phr_doc_path(d) == -1) {
			phr_doc_fail(h, d, "a UID of this document is not a "
			    "valid DICOM UID: refused as a file name");
			continue;
		}
		if (phr_present(dir, set, d)) {
			d->state = PHR_SKIPPED;
			d->verified = 1;
			h->nskipped++;
			h->prog.bytes += d->size;
			h->prog.docs++;
		}
	}
}

/*
 * The retrieval's requests, in order: for each study, its KOS and report,
 * then each series in batches. Planned before the first is made, so that
 * each request's successor is known and sent ahead (phr_post_ahead) while
 * the current answer is finished: the clearinghouse's time to its first
 * byte (2 to 4 ms for a RAD-69 batch of 100) overlaps the placing of the
 * current batch's files instead of following it.
 */
struct phr_unit {
	const struct phr_set	*set;
	const struct isnphr_study_info *st;
	int			 images;
	struct phr_doc		**docs;
	size_t			 n;
};

struct phr_plan {
	struct phr_unit		*v;
	size_t			 n, cap;
};

static void
phr_plan_add(struct phr_plan *p, const struct phr_set *set,
    const struct isnphr_study_info *st, int images, struct phr_doc **docs,
    size_t n)
{
	struct phr_unit	*u;

	if (p->n == p->cap) {
		p->cap = p->cap == 0 ? 16 : p->cap * 2;
		p->v = xreallocarray(p->v, p->cap, sizeof(*p->v));
	}
	u = &p->v[p->n++];
	u->set = set;
	u->st = st;
	u->images = images;
	u->docs = xmemdup(docs, n * sizeof(*docs));
	u->n = n;
}

/* Pending documents of a kind (and series) of one study, in batches. */
static void
phr_plan_group(struct isnphr *h, struct phr_plan *p, const struct phr_set *set,
    const struct isnphr_study_info *st, int images, const char *series)
{
	struct phr_doc	**v;
	struct phr_doc	*d;
	size_t		 j, n = 0, max;

	max = h->batch > 0 && h->batch < PHR_BATCH ? h->batch : PHR_BATCH;
	v = xcalloc(max, sizeof(*v));
	for (j = 0; j < set->ndocs; j++) {
		d = &set->docs[j];
		if (d->state != PHR_PENDING || strcmp(d->study, st->uid) != 0 ||
		    (images ? d->kind != PHR_IMAGE ||
		    strcmp(d->series, series) != 0 : d->kind == PHR_IMAGE))
			continue;
		v[n++] = d;
		if (n == max) {
			phr_plan_add(p, set, st, images, v, n);
			n = 0;
		}
	}
	if (n > 0)
		phr_plan_add(p, set, st, images, v, n);
	free(v);
}

static void
phr_plan_build(struct isnphr *h, const struct isnphr_list *l,
    const char *study, struct phr_plan *p)
{
	const struct isnphr_study_info *st;
	size_t				 i, j, k;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < l->nsets; i++)
		for (j = 0; j < l->info[i].nstudies; j++) {
			st = &l->info[i].studies[j];
			if (study != NULL && strcmp(st->uid, study) != 0)
				continue;
			/* KOS and report first: the KOS verifies the rest. */
			phr_plan_group(h, p, &l->sets[i], st, 0, NULL);
			for (k = 0; k < st->nseries; k++)
				phr_plan_group(h, p, &l->sets[i], st, 1,
				    st->series[k].uid);
		}
}

static void
phr_plan_free(struct phr_plan *p)
{
	size_t	i;

	for (i = 0; i < p->n; i++)
		free(p->v[i].docs);
	free(p->v);
	memset(p, 0, sizeof(*p));
}

/* RAD-69 unless refused once (then ITI-43 for the rest). */
static int
phr_unit_rad69(const struct isnphr *h, const struct phr_unit *u)
{
	return (u->images && !h->rad69_off);
}

static void
phr_unit_ahead(struct isnphr *h, const struct phr_unit *u)
{
	struct dbuf	body;
	int		rad69 = phr_unit_rad69(h, u);

	if (phr_fetch_body(u->docs, u->n, rad69, &body) == 0)
		phr_post_ahead(h, phr_fetch_path(h, rad69),
		    PHR_FETCH_ACTION(rad69), 1, body.data, body.len);
	dbuf_free(&body);
}

static int
phr_plan_run(struct isnphr *h, const char *dir, char *tmpdir,
    const struct phr_plan *p)
{
	const struct phr_unit	*u, *kos_of = NULL;
	struct phr_kos		*kos = NULL;
	char			*kp, *cause = NULL;
	size_t			 i;
	int			 r;

	for (i = 0; i < p->n; i++) {
		u = &p->v[i];
		h->prog.study = u->st->uid;
		/* The study's KOS, once its own request is done. */
		if (u->images && (kos_of == NULL || kos_of->set != u->set ||
		    kos_of->st != u->st)) {
			phr_kos_free(kos);
			kos = NULL;
			kos_of = u;
			if (u->st->has_kos) {
				xasprintf(&kp, "%s/%s/kos.dcm", dir,
				    u->st->uid);
				kos = phr_kos_load(kp, &cause);
				free(kp);
				free(cause);
				cause = NULL;
			}
		}
		if (i + 1 < p->n)
			phr_unit_ahead(h, &p->v[i + 1]);
		r = 1;
		if (phr_unit_rad69(h, u)) {
			r = phr_fetch(h, dir, tmpdir, u->set, u->docs, u->n,
			    kos, 1);
			if (r == 1) {
				h->rad69_off = 1;
				h->err[0] = '\0';
			}
		}
		if (r == 1)
			r = phr_fetch(h, dir, tmpdir, u->set, u->docs, u->n,
			    kos, 0);
		if (r == -1)
			break;
	}
	phr_kos_free(kos);
	phr_ahead_drop(h);	/* after a failure: not taken */
	return (i < p->n ? -1 : 0);
}

/* Temp files a killed run left behind. */
static void
phr_tmp_sweep(const char *tmpdir)
{
	struct dirent	*de;
	DIR		*d;
	char		*p;

	if ((d = opendir(tmpdir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "doc", 3) != 0)
			continue;
		xasprintf(&p, "%s/%s", tmpdir, de->d_name);
		unlink(p);
		free(p);
	}
	closedir(d);
}

int
isnphr_retrieve(struct isnphr *h, const char *dir, const char *study)
{
	struct isnphr_list	*l;
	int			 rc;

	if (study != NULL && !phr_uid_safe(study)) {
		phr_err(h, "\"%s\" is not a study UID", study);
		return (-1);
	}
	if (phr_list_fetch(h, &l) == -1)
		return (-1);
	rc = isnphr_retrieve_list(h, l, dir, study);
	phr_list_free(l);
	return (rc);
}

int
isnphr_retrieve_list(struct isnphr *h, struct isnphr_list *l,
    const char *dir, const char *study)
{
	struct phr_plan		 plan;
	char			*tmpdir = NULL, *cause = NULL, err[PHR_ERR_MAX];
	size_t			 i, j, found = 0;
	int			 rc = 0, dfd;

	h->nretrieved = h->nskipped = h->nfailed = 0;
	h->cancelled = 0;
	memset(&h->prog, 0, sizeof(h->prog));
	if (study != NULL && !phr_uid_safe(study)) {
		phr_err(h, "\"%s\" is not a study UID", study);
		return (-1);
	}
	for (i = 0; i < l->nsets; i++)
		for (j = 0; j < l->info[i].nstudies; j++)
			if (study == NULL ||
			    strcmp(l->info[i].studies[j].uid, study) == 0)
				found++;
	if (found == 0) {
		phr_err(h, ISNPHR_NOTHING_FOUND);
		return (-1);
	}
	if ((mkdir(dir, 0755) == -1 && errno != EEXIST) ||
	    phr_mkdirs(dir, PHR_TMPDIR, &cause) == -1) {
		phr_err(h, "cannot create %s: %s", dir, cause != NULL ? cause :
		    strerror(errno));
		free(cause);
		return (-1);
	}
	xasprintf(&tmpdir, "%s/%s", dir, PHR_TMPDIR);
	phr_tmp_sweep(tmpdir);
	h->err[0] = '\0';
	for (i = 0; i < l->nsets; i++)
		phr_set_paths(h, &l->sets[i], dir, study);
	phr_tick(h);
	phr_plan_build(h, l, study, &plan);
	rc = phr_plan_run(h, dir, tmpdir, &plan);
	phr_plan_free(&plan);
	h->prog.study = NULL;
	/*
	 * Durability on request only (ISNPHR_OPT_SYNC): a syncfs costs as
	 * much as the whole transfer, and a document cut short by a crash is
	 * shorter than its entry, so the next run fetches it again.
	 */
	if ((h->options & ISNPHR_OPT_SYNC) &&
	    (dfd = open(dir, O_RDONLY | O_DIRECTORY)) != -1) {
		syncfs(dfd);
		close(dfd);
	}
	snprintf(err, sizeof(err), "%s", h->err);
	if (phr_index_write(dir, l, study, &cause) == -1) {
		if (rc == 0 && h->nfailed == 0)
			snprintf(err, sizeof(err), "%s", cause);
		rc = -1;
		free(cause);
	}
	rmdir(tmpdir);
	free(tmpdir);
	if (rc == 0 && h->nfailed > 0)
		rc = -1;
	if (rc == -1 && h->nfailed > 1 && !h->cancelled)
		phr_err(h, "%zu documents failed; the first: %s", h->nfailed,
		    err);
	else
		phr_err(h, "%s", rc == -1 ? err : "");
	return (rc);
}
