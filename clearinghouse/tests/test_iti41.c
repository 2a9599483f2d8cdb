/*
 * test_iti41.c: the ITI-41 handler end to end, on 127.0.0.1 plain HTTP in
 * this process's event loop, with a throwaway PostgreSQL (test_iti41.sh
 * passes ISN_PG_CONNINFO) and a temporary blob store. Clients are forked
 * children (libcurl's easy API blocks); they write "<status>\n<body>" back
 * on a pipe.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <libpq-fe.h>

#include "audit.h"
#include "blob.h"
#include "blobq.h"
#include "db.h"
#include "dbuf.h"
#include "httpd.h"
#include "iti41.h"
#include "log.h"
#include "migrate.h"
#include "mtom.h"
#include "soap.h"
#include "tap.h"
#include "xdsmeta.h"
#include "xdsmsg.h"
#include "xmalloc.h"
#include "xml.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ISN_HAS_ASAN	1
#endif
#endif
#ifndef ISN_HAS_ASAN
#define ISN_HAS_ASAN	0
#endif

#define REPO_UID	"1.3.6.1.4.1.21367.13.80.110"
#define BIG		(64ULL * 1024 * 1024)

static struct event_base	*base;
static struct db		*db;
static struct blob_store	*store;
static char			 url[128];
static struct httpd		*httpd;
static struct iti41_ctx		 ctx;
static char			 tmpdir[] = "/tmp/test_iti41.XXXXXX";

/* ATNA records asked for by the handler (ctx.audit). */
static unsigned long	 naudit, naudit_bad;

static void
audit_cb(const struct audit_event *ev, void *arg)
{
	(void)arg;
	naudit++;
	if (ev->kind != AUDIT_IMPORT || ev->patient_id == NULL ||
	    ev->submission_set_uid == NULL)
		naudit_bad++;
}

static void
tick(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd; (void)ev; (void)arg;
}

/* ---- database helpers ---- */

struct q {
	int	 done;
	char	*val;		/* first cell, or NULL */
	char	*err;
};

static void
q_cb(PGresult *res, const char *cause, void *arg)
{
	struct q	*q = arg;

	if (cause != NULL)
		q->err = xstrdup(cause);
	else if (res != NULL && PQntuples(res) > 0 && PQnfields(res) > 0)
		q->val = xstrdup(PQgetvalue(res, 0, 0));
	q->done = 1;
}

/* Run one statement; its first cell (caller frees) or NULL. */
static char *
sql(const char *s, int n, const char *const *v)
{
	struct q	q;

	memset(&q, 0, sizeof(q));
	db_query(db, s, n, v, NULL, NULL, 0, q_cb, &q);
	while (!q.done)
		event_base_loop(base, EVLOOP_ONCE);
	if (q.err != NULL) {
		tap_diag("sql: %s", q.err);
		free(q.err);
	}
	return (q.val);
}

static long
count(const char *s)
{
	char	*v = sql(s, 0, NULL);
	long	 n = v != NULL ? atol(v) : -1;

	free(v);
	return (n);
}

static void
patient(const char *pid, const char *oid)
{
	const char	*v[2] = { pid, oid };

	free(sql("INSERT INTO patients (pid, domain_oid) VALUES ($1, $2)", 2,
	    v));
}

static long
nblobs(void)
{
	uint64_t	 n = 0, bytes = 0;
	char		*cause = NULL;

	if (blob_store_stats(store, &n, &bytes, &cause) == -1) {
		tap_diag("blob_store_stats: %s", cause);
		free(cause);
		return (-1);
	}
	return ((long)n);
}

/* Every documents row names a blob with its hash and size, and no more. */
static int
store_consistent(void)
{
	PGresult	*res;
	PGconn		*c;
	struct mtom_digest d;
	char		 sha1[41], buf[65536], *cause = NULL;
	uint64_t	 size;
	ssize_t		 r;
	int		 i, fd, good = 1;

	if ((c = PQconnectdb(getenv("ISN_PG_CONNINFO"))) == NULL ||
	    PQstatus(c) != CONNECTION_OK)
		return (0);
	res = PQexec(c, "SELECT blob_id, hash, size FROM documents");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		good = 0;
	for (i = 0; good && i < PQntuples(res); i++) {
		if ((fd = blob_open(store, PQgetvalue(res, i, 0), &size,
		    &cause)) == -1) {
			tap_diag("blob %s: %s", PQgetvalue(res, i, 0), cause);
			free(cause);
			good = 0;
			break;
		}
		mtom_digest_init(&d);
		while ((r = read(fd, buf, sizeof(buf))) > 0)
			mtom_digest_update(&d, buf, (size_t)r);
		close(fd);
		mtom_digest_final(&d, sha1);
		mtom_digest_free(&d);
		if (strcmp(sha1, PQgetvalue(res, i, 1)) != 0 ||
		    size != strtoull(PQgetvalue(res, i, 2), NULL, 10)) {
			tap_diag("blob %s: sha1 %s size %llu, row %s %s",
			    PQgetvalue(res, i, 0), sha1,
			    (unsigned long long)size, PQgetvalue(res, i, 1),
			    PQgetvalue(res, i, 2));
			good = 0;
		}
	}
	if (good && nblobs() != PQntuples(res)) {
		tap_diag("%ld blobs for %d rows", nblobs(), PQntuples(res));
		good = 0;
	}
	PQclear(res);
	PQfinish(c);
	return (good);
}

static int
sweep_ref(const char *id, void *arg)
{
	const char	*v[1] = { id };
	char		*r;

	int		 n;

	(void)arg;
	if ((r = sql("SELECT count(*) FROM documents WHERE blob_id = $1", 1,
	    v)) == NULL)
		return (-1);
	n = strcmp(r, "0") != 0;
	free(r);
	return (n);
}

/* Files under the store's tmp/. */
static int
ntmp(void)
{
	char		 path[1100];
	DIR		*d;
	struct dirent	*e;
	int		 n = 0;

	snprintf(path, sizeof(path), "%s/blobs/tmp", tmpdir);
	if ((d = opendir(path)) == NULL)
		return (-1);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return (n);
}

/* ---- clients ---- */

struct post {
	const char		*ctype;
	const char		*body;		/* or the writer */
	size_t			 len;
	struct mtom_writer	*w;
};

struct child {
	pid_t		 pid;
	int		 fd;
	struct event	*ev;
	struct dbuf	 out;
	int		 done;
};

static void
child_read_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct child	*ch = arg;
	char		 buf[8192];
	ssize_t		 n;

	(void)ev;
	if ((n = read(fd, buf, sizeof(buf))) > 0)
		dbuf_add(&ch->out, buf, (size_t)n);
	else
		ch->done = 1;
}

static size_t
cl_write(char *p, size_t sz, size_t n, void *arg)
{
	dbuf_add(arg, p, sz * n);
	return (sz * n);
}

static size_t
cl_read(char *p, size_t sz, size_t n, void *arg)
{
	struct post	*po = arg;
	char		*cause = NULL;
	ssize_t		 r;

	if ((r = mtom_writer_read(po->w, p, sz * n, &cause)) == -1)
		return (CURL_READFUNC_ABORT);
	return ((size_t)r);
}

static void
post_child(struct post *po, int fd)
{
	CURL			*h;
	struct curl_slist	*hl = NULL;
	struct dbuf		 s;
	char			*hdr;
	long			 code = 0;
	CURLcode		 rc;

	dbuf_init(&s, 1 << 24);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	h = curl_easy_init();
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cl_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 100L);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	xasprintf(&hdr, "Content-Type: %s", po->w != NULL ?
	    mtom_writer_content_type(po->w) : po->ctype);
	hl = curl_slist_append(hl, hdr);
	hl = curl_slist_append(hl, "Expect:");
	if (po->w != NULL) {
		curl_easy_setopt(h, CURLOPT_READFUNCTION, cl_read);
		curl_easy_setopt(h, CURLOPT_READDATA, po);
		hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
	} else {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, po->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)po->len);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	dprintf(fd, "%ld %d\n", code, (int)rc);
	if (s.len > 0 && write(fd, s.data, s.len) == -1)
		_exit(1);
	curl_slist_free_all(hl);
	curl_easy_cleanup(h);
	curl_global_cleanup();
	free(hdr);
	dbuf_free(&s);
}

/* Run fn in a child; what it writes on its pipe (caller frees). */
static char *
post_fn(void (*fn)(struct post *, int), struct post *po)
{
	struct child	 ch;
	int		 p[2], st;

	memset(&ch, 0, sizeof(ch));
	dbuf_init(&ch.out, 1 << 26);
	if (pipe(p) == -1)
		fatal("pipe");
	fflush(stdout);
	if ((ch.pid = fork()) == -1)
		fatal("fork");
	if (ch.pid == 0) {
		close(p[0]);
		fn(po, p[1]);
		close(p[1]);
		_exit(0);
	}
	close(p[1]);
	ch.fd = p[0];
	ch.ev = event_new(base, ch.fd, EV_READ | EV_PERSIST, child_read_cb,
	    &ch);
	event_add(ch.ev, NULL);
	while (!ch.done)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(ch.ev);
	close(ch.fd);
	waitpid(ch.pid, &st, 0);
	dbuf_addc(&ch.out, '\0');
	return (dbuf_take(&ch.out, NULL));
}

/* POST in a child; "<status> <curlcode>\n<body>" (caller frees). */
static char *
post(struct post *po)
{
	return (post_fn(post_child, po));
}

static int
has(const char *r, const char *s)
{
	return (r != NULL && strstr(r, s) != NULL);
}

/* ---- the NIST samples ---- */

static const char *samples[] = {
	"pnr-mtom-xop", "pnr-mtom-noxop-inline-base64",
	"pnr-mtom-xop-urlencoded-cid", "rad68-wcf-inline-kos"
};

static char *
sample_post(const char *dir, const char *name)
{
	struct post	 po;
	char		*path, *hdr, *body, *r, *e;
	size_t		 len;

	xasprintf(&path, "%s/iti41/%s.http-headers.txt", dir, name);
	hdr = tap_slurp(path, NULL);
	free(path);
	xasprintf(&path, "%s/iti41/%s.body.txt", dir, name);
	body = tap_slurp(path, &len);
	free(path);
	if (hdr == NULL || body == NULL)
		fatalx("sample %s unreadable", name);
	if ((e = strpbrk(hdr, "\r\n")) != NULL)
		*e = '\0';
	memset(&po, 0, sizeof(po));
	po.ctype = hdr + strlen("Content-Type: ");
	po.body = body;
	po.len = len;
	r = post(&po);
	free(hdr);
	free(body);
	return (r);
}

static void
test_samples(void)
{
	const char	*shared = tap_shareddir();
	char		 dir[4200], *r, *path, *body;
	size_t		 i;
	struct post	 po;
	long		 before;

	snprintf(dir, sizeof(dir), "%s/xds-samples",
	    shared != NULL ? shared : "/nonexistent");
	if (shared == NULL || access(dir, R_OK) == -1) {
		tap_skip(16, "../shared/xds-samples absent");
		return;
	}
	/* No patient yet: XDSUnknownPatientId, nothing kept. */
	r = sample_post(dir, samples[0]);
	ok(has(r, "200 0\n") && has(r, "ResponseStatusType:Failure") &&
	    has(r, "XDSUnknownPatientId"), "unknown patient: "
	    "XDSUnknownPatientId");
	ok(has(r, "multipart/related") || has(r, "--"), "MTOM request, "
	    "MTOM answer");
	ok(count("SELECT count(*) FROM submission_sets") == 0 &&
	    count("SELECT count(*) FROM documents") == 0 && nblobs() == 0,
	    "unknown patient: no rows, no blobs");
	free(r);

	patient("SR7", "1.2.260");
	patient("IDS-AD027-a", "1.3.6.1.4.1.21367.2005.13.20.1000");
	for (i = 0; i < 4; i++) {
		r = sample_post(dir, samples[i]);
		ok(has(r, "200 0\n") && has(r, "ResponseStatusType:Success"),
		    "%s: Success", samples[i]);
		if (!has(r, "Success"))
			tap_diag("%.2000s", r);
		free(r);
		ok(count("SELECT count(*) FROM documents") == (long)i + 1 &&
		    store_consistent(), "%s: rows and blobs with their "
		    "sha1 and size", samples[i]);
	}
	ok(count("SELECT count(*) FROM associations") == 4 &&
	    count("SELECT count(*) FROM document_codes") > 0 &&
	    count("SELECT count(*) FROM submission_sets WHERE expires_at > "
	    "received_at + interval '29 days'") == 4, "associations, codes "
	    "and retention stored");

	/* A merged patient, a patient outside the affinity domain. */
	free(sql("INSERT INTO patients (pid, domain_oid) VALUES ('SR8', "
	    "'1.2.260')", 0, NULL));
	free(sql("UPDATE patients SET merged_into = (SELECT id FROM patients "
	    "WHERE pid = 'SR8') WHERE pid = 'SR7'", 0, NULL));
	free(sql("DELETE FROM documents WHERE unique_id = "
	    "'1.42.20160705093311.7'", 0, NULL));
	before = count("SELECT count(*) FROM documents");
	r = sample_post(dir, samples[0]);
	ok(has(r, "XDSUnknownPatientId") && has(r, "merged") &&
	    count("SELECT count(*) FROM documents") == before,
	    "merged patient: XDSUnknownPatientId, nothing stored");
	free(r);
	free(sql("UPDATE patients SET merged_into = NULL", 0, NULL));
	ctx.affinity_domain = "1.3.6.1.4.1.19376.3.840.1.1.1";
	r = sample_post(dir, samples[0]);
	ok(has(r, "XDSUnknownPatientId") && has(r, "affinity domain") &&
	    count("SELECT count(*) FROM documents") == before,
	    "patient of another domain: XDSUnknownPatientId");
	free(r);
	ctx.affinity_domain = NULL;
	/* The blob of the row deleted above is now unnamed: remove it. */
	{
		char *cause = NULL;
		struct blob_sweep_stats bs;

		memset(&bs, 0, sizeof(bs));
		do {
			if (blob_sweep(store, sweep_ref, NULL, 0, 0, &bs,
			    &cause) == -1)
				fatalx("sweep: %s", cause);
		} while (!bs.done);
	}
	ok(store_consistent(), "store consistent after the sweep");

	/* A DocumentEntry without its document. */
	before = count("SELECT count(*) FROM documents");
	xasprintf(&path, "%s/negative/soap-pnr-docentry-without-document.xml",
	    dir);
	memset(&po, 0, sizeof(po));
	po.ctype = "application/soap+xml; charset=UTF-8";
	if ((body = tap_slurp(path, &po.len)) == NULL)
		fatalx("%s unreadable", path);
	po.body = body;
	free(path);
	r = post(&po);
	ok(has(r, "200 0\n") && has(r, "XDSMissingDocument") &&
	    has(r, "application/soap+xml") == 0, "XDSMissingDocument "
	    "(plain SOAP answer)");
	ok(count("SELECT count(*) FROM documents") == before &&
	    store_consistent(), "missing document: nothing stored");
	free(body);
	free(r);
}

/* ---- built submissions ---- */

struct synth {
	uint64_t	size, pos;
	unsigned	seed;
};

static void
synth_fill(struct synth *s, unsigned char *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++, s->pos++)
		p[i] = (unsigned char)((s->pos * 131) ^ (s->pos >> 9) ^
		    s->seed);
}

static ssize_t
synth_read(void *buf, size_t len, void *arg, char **cause)
{
	struct synth	*s = arg;

	(void)cause;
	if (len > s->size - s->pos)
		len = (size_t)(s->size - s->pos);
	synth_fill(s, buf, len);
	return ((ssize_t)len);
}

/* Options of build(): patient, and an association to a stored entry. */
static const char	*build_patient;		/* CX; NULL: RSNA7Q2X */
static const char	*build_assoc;		/* association type, or NULL */
static const char	*build_target;		/* its targetObject */

/* An isn2 PnR with one image of `size` synthetic bytes, as MTOM. */
static struct mtom_writer *
build(const char *ss_uid, const char *doc_uid, struct synth *s,
    struct dbuf *env)
{
	struct xdsmeta_subset_spec	 ss = {
		"RSNA7Q2X^^^&1.3.6.1.4.1.19376.3.840.1.1.1&ISO",
		"1.3.6.1.4.1.19376.3.840.1.1.1", NULL, "20261127120000", 1
	};
	struct xdsmeta_doc_spec		 d = {
		XDSMETA_DOC_IMAGE, NULL, "1.2.840.10008.5.1.4.1.1.2",
		"1.2.3.9", "1.2.3.9.0", "20261127110000", "20261127",
		NULL, -1, NULL, NULL
	};
	struct xds_submission		*sub;
	struct xds_docentry		*de;
	struct xdsmsg_document		 doc;
	struct dbuf			 sor, pnr;
	struct mtom_writer		*w;
	char				*cause = NULL;

	ss.unique_id = ss_uid;
	if (build_patient != NULL)
		ss.patient_id = build_patient;
	d.unique_id = doc_uid;
	sub = xdsmeta_build_subset(&ss);
	de = xdsmeta_build_doc(sub, &d);
	if (build_assoc != NULL) {
		struct xds_assoc *as;

		sub->assocs = xreallocarray(sub->assocs, sub->nassocs + 1,
		    sizeof(*sub->assocs));
		as = &sub->assocs[sub->nassocs++];
		memset(as, 0, sizeof(*as));
		as->o.id = xstrdup("Relation01");
		as->o.object_type = xstrdup(XDS_OT_ASSOCIATION);
		as->type = xstrdup(build_assoc);
		as->source = xstrdup(de->o.id);
		as->target = xstrdup(build_target);
	}
	dbuf_init(&sor, 1 << 26);
	dbuf_init(&pnr, 1 << 26);
	dbuf_init(env, 1 << 26);
	xdsmeta_write(&sor, sub, XDSMETA_W_SOR);
	memset(&doc, 0, sizeof(doc));
	doc.id = de->o.id;
	doc.content.href = (char *)"cid:doc1@isn.test";
	xdsmsg_pnr_build(&pnr, sor.data, sor.len, &doc, 1);
	soap_request(env, SOAP_ACTION_ITI41, NULL, pnr.data, pnr.len, NULL);
	w = mtom_writer_new(NULL, SOAP_ACTION_ITI41);
	if (mtom_writer_set_root(w, env->data, env->len, NULL, &cause) == -1 ||
	    mtom_writer_add_cb(w, "doc1@isn.test", "application/dicom",
	    synth_read, s, &cause) == -1)
		fatalx("writer: %s", cause);
	dbuf_free(&sor);
	dbuf_free(&pnr);
	xdsmeta_free(sub);
	return (w);
}

static long
vm_hwm_kb(void)
{
	char	*st = tap_slurp("/proc/self/status", NULL), *p;
	long	 kb = -1;

	if (st != NULL && (p = strstr(st, "VmHWM:")) != NULL)
		kb = atol(p + 6);
	free(st);
	return (kb);
}

static char *
post_built(const char *ss_uid, const char *doc_uid, uint64_t size,
    unsigned seed)
{
	struct synth	 s = { size, 0, seed };
	struct post	 po;
	struct dbuf	 env;
	char		*r;

	memset(&po, 0, sizeof(po));
	po.w = build(ss_uid, doc_uid, &s, &env);
	r = post(&po);
	mtom_writer_free(po.w);
	dbuf_free(&env);
	return (r);
}

static void
test_built(void)
{
	struct synth	 s = { BIG, 0, 5 };
	struct mtom_digest d;
	unsigned char	 buf[65536];
	char		 sha1[41], *r, *v;
	const char	*uid[1] = { "1.2.3.9.100" };
	long		 hwm, ndocs, nss;

	patient("RSNA7Q2X", "1.3.6.1.4.1.19376.3.840.1.1.1");
	hwm = vm_hwm_kb();
	r = post_built("1.2.3.9.10", "1.2.3.9.100", BIG, 5);
	ok(has(r, "200 0\n") && has(r, "ResponseStatusType:Success"),
	    "isn2, 64 MiB streamed attachment: Success");
	if (!has(r, "Success"))
		tap_diag("%.2000s", r);
	free(r);
#if defined(__SANITIZE_ADDRESS__) || ISN_HAS_ASAN
	/* ASan's quarantine keeps freed chunks: RSS says nothing there. */
	(void)hwm;
	tap_skip(1, "peak RSS is not meaningful under AddressSanitizer");
#else
	ok(vm_hwm_kb() - hwm < 24 * 1024, "bounded memory: peak RSS grew by "
	    "%ld KiB", vm_hwm_kb() - hwm);
#endif
	mtom_digest_init(&d);
	while (s.pos < s.size) {
		synth_fill(&s, buf, sizeof(buf));
		mtom_digest_update(&d, buf, sizeof(buf));
	}
	mtom_digest_final(&d, sha1);
	mtom_digest_free(&d);
	v = sql("SELECT hash || ' ' || size FROM documents WHERE unique_id "
	    "= $1", 1, uid);
	ok(v != NULL && strncmp(v, sha1, 40) == 0 &&
	    strtoull(v + 41, NULL, 10) == BIG && store_consistent(),
	    "64 MiB: hash and size from the stream");
	free(v);
	v = sql("SELECT '<rim:RegistryObjectList xmlns:rim=\"" XML_NS_RIM
	    "\">' || d.ebrim || s.ebrim || '</rim:RegistryObjectList>' FROM "
	    "documents d JOIN submission_sets s ON s.id = "
	    "d.submission_set_id WHERE d.unique_id = $1", 1, uid);
	{
		struct xds_submission	*sub;
		char			*cause = NULL;

		sub = v != NULL ? xdsmeta_parse_buf(v, strlen(v), &cause) :
		    NULL;
		ok(sub != NULL && sub->ndocs == 1 && sub->nsubsets == 1 &&
		    strcmp(xdsmeta_val(&sub->docs[0].hash), sha1) == 0 &&
		    strcmp(xdsmeta_val(&sub->docs[0].repository_unique_id),
		    REPO_UID) == 0 && strncmp(sub->docs[0].o.id, "urn:uuid:",
		    9) == 0, "stored ebRIM parses, with hash, "
		    "repositoryUniqueId and UUIDs");
		if (sub == NULL)
			tap_diag("%s", cause != NULL ? cause : "no row");
		free(cause);
		xdsmeta_free(sub);
	}
	free(v);
	ok(count("SELECT count(*) FROM document_instances WHERE series_uid "
	    "= '1.2.3.9.0' AND sop_uid = '1.2.3.9.100' AND study_uid = "
	    "'1.2.3.9'") == 1, "RAD-69 instance row");

	/* A small document, then the same again in another set. */
	r = post_built("1.2.3.9.11", "1.2.3.9.101", 1000, 7);
	ok(has(r, "ResponseStatusType:Success"), "small document: Success");
	free(r);
	ndocs = count("SELECT count(*) FROM documents");
	nss = count("SELECT count(*) FROM submission_sets");
	r = post_built("1.2.3.9.12", "1.2.3.9.101", 1000, 7);
	ok(has(r, "ResponseStatusType:Success") &&
	    count("SELECT count(*) FROM documents") == ndocs &&
	    count("SELECT count(*) FROM submission_sets") == nss + 1 &&
	    store_consistent(), "same uniqueId, same hash: a resubmission, "
	    "the stored document stands");
	free(r);
	r = post_built("1.2.3.9.13", "1.2.3.9.101", 1000, 8);
	ok(has(r, "ResponseStatusType:Failure") &&
	    has(r, "XDSNonIdenticalHash") &&
	    count("SELECT count(*) FROM submission_sets") == nss + 1 &&
	    store_consistent(), "same uniqueId, other bytes: "
	    "XDSNonIdenticalHash, nothing stored");
	free(r);
}

#define RPLC	"urn:ihe:iti:2007:AssociationType:RPLC"
#define APND	"urn:ihe:iti:2007:AssociationType:APND"

/* A document row's column by uniqueId (caller frees). */
static char *
doc_col(const char *col, const char *uid)
{
	const char	*v[1] = { uid };
	char		*q, *r;

	xasprintf(&q, "SELECT %s FROM documents WHERE unique_id = $1", col);
	r = sql(q, 1, v);
	free(q);
	return (r);
}

static int
streq(char *a, const char *b)
{
	int	r = a != NULL && b != NULL && strcmp(a, b) == 0;

	free(a);
	return (r);
}

#define FOLDER1	"urn:uuid:0f1d0000-0000-4000-8000-000000000001"
#define FOLDER2	"urn:uuid:0f1d0000-0000-4000-8000-000000000002"
#define OLD_LUT	"20200101000000"

/*
 * A folder (lastUpdateTime OLD_LUT) in the submission set ss_uid holding
 * the document doc (a HasMember filed in that set).
 */
static void
folder_with(const char *fuuid, const char *ss_uid, const char *doc)
{
	const char	*v[3] = { fuuid, ss_uid, OLD_LUT };

	free(sql("INSERT INTO folders (entry_uuid, unique_id, "
	    "submission_set_id, patient_id, status, last_update_time, ebrim) "
	    "SELECT $1, $1 || '.uid', s.id, s.patient_id, '"
	    XDS_STATUS_APPROVED "', $3, '<rim:RegistryPackage id=\"' || $1 || "
	    "'\"><rim:Slot name=\"lastUpdateTime\"><rim:ValueList><rim:Value>' "
	    "|| $3 || '</rim:Value></rim:ValueList></rim:Slot>"
	    "</rim:RegistryPackage>' FROM submission_sets s WHERE "
	    "s.unique_id = $2", 3, v));
	v[2] = doc;
	free(sql("INSERT INTO associations (entry_uuid, assoc_type, "
	    "source_uuid, target_uuid, status, submission_set_id, ebrim) "
	    "SELECT $1 || '-m', '" XDS_ASSOC_HASMEMBER "', $1, $3, '"
	    XDS_STATUS_APPROVED "', s.id, '<rim:Association/>' FROM "
	    "submission_sets s WHERE s.unique_id = $2", 3, v));
}

#define CX(p)	p "^^^&1.3.6.1.4.1.19376.3.840.1.1.1&ISO"

/* Merge patient pid into into (ITI-8 A40 sets merged_into). */
static void
merge(const char *pid, const char *into)
{
	const char	*v[2] = { pid, into };

	free(sql("UPDATE patients SET merged_into = (SELECT id FROM patients "
	    "WHERE pid = $2) WHERE pid = $1", 2, v));
}

/*
 * A replacement across an A40 merge: the target's patient is followed
 * along merged_into to its survivor, which must be the submitter's.
 */
static void
test_rplc_merged(void)
{
	char	*c1, *d1, *e1, *r;

	patient("RSNA8C8C", "1.3.6.1.4.1.19376.3.840.1.1.1");
	patient("RSNA8D8D", "1.3.6.1.4.1.19376.3.840.1.1.1");
	patient("RSNA8E8E", "1.3.6.1.4.1.19376.3.840.1.1.1");
	build_patient = CX("RSNA8C8C");
	free(post_built("1.2.3.9.40", "1.2.3.9.400", 300, 21));
	build_patient = CX("RSNA8D8D");
	free(post_built("1.2.3.9.41", "1.2.3.9.401", 300, 22));
	build_patient = CX("RSNA8E8E");
	free(post_built("1.2.3.9.42", "1.2.3.9.402", 300, 23));
	build_patient = NULL;
	c1 = doc_col("entry_uuid", "1.2.3.9.400");
	d1 = doc_col("entry_uuid", "1.2.3.9.401");
	e1 = doc_col("entry_uuid", "1.2.3.9.402");
	ok(c1 != NULL && d1 != NULL && e1 != NULL, "merge: documents of C, "
	    "D and E stored");
	/* D into C into A (RSNA7Q2X); E into B (RSNA9Z9Z). */
	merge("RSNA8D8D", "RSNA8C8C");
	merge("RSNA8C8C", "RSNA7Q2X");
	merge("RSNA8E8E", "RSNA9Z9Z");

	build_assoc = RPLC;
	build_target = c1;
	r = post_built("1.2.3.9.43", "1.2.3.9.403", 300, 24);
	ok(has(r, "ResponseStatusType:Success") &&
	    streq(doc_col("status", "1.2.3.9.400"), XDS_STATUS_DEPRECATED),
	    "RPLC by A of merged C's document: Success, the original "
	    "Deprecated");
	if (!has(r, "ResponseStatusType:Success"))
		tap_diag("%.2000s", r);
	free(r);
	build_target = d1;
	r = post_built("1.2.3.9.44", "1.2.3.9.404", 300, 25);
	ok(has(r, "ResponseStatusType:Success") &&
	    streq(doc_col("status", "1.2.3.9.401"), XDS_STATUS_DEPRECATED),
	    "RPLC by A of D's document (D into C into A): Success");
	free(r);
	build_target = e1;
	r = post_built("1.2.3.9.45", "1.2.3.9.405", 300, 26);
	ok(has(r, "XDSPatientIdDoesNotMatch") &&
	    streq(doc_col("status", "1.2.3.9.402"), XDS_STATUS_APPROVED) &&
	    count("SELECT count(*) FROM documents WHERE unique_id = "
	    "'1.2.3.9.405'") == 0 && store_consistent(),
	    "RPLC by A of E's document (E merged into B): "
	    "XDSPatientIdDoesNotMatch, nothing stored");
	free(r);
	build_assoc = NULL;
	build_target = NULL;
	free(sql("UPDATE patients SET merged_into = NULL", 0, NULL));
	free(c1);
	free(d1);
	free(e1);
}

/* RPLC and the other document relationships (xds.md 2.1, 6). */
static void
test_rplc(void)
{
	char		*orig, *lid, *r, *repl, *q;
	const char	*v[2];
	long		 nd, nss, nas;

	r = post_built("1.2.3.9.30", "1.2.3.9.300", 500, 11);
	ok(has(r, "ResponseStatusType:Success"), "RPLC: the original is "
	    "stored");
	free(r);
	orig = doc_col("entry_uuid", "1.2.3.9.300");
	lid = doc_col("coalesce(logical_id, entry_uuid)", "1.2.3.9.300");
	/* The original is in a folder, and in one of an expired set. */
	folder_with(FOLDER1, "1.2.3.9.30", orig);
	free(sql("INSERT INTO submission_sets (entry_uuid, unique_id, "
	    "source_id, patient_id, status, submission_time, ebrim, "
	    "received_at, expires_at) SELECT 'urn:uuid:0f1d0000-0000-4000-"
	    "8000-000000000039', '1.2.3.9.39', '1.2', patient_id, status, "
	    "submission_time, ebrim, now() - interval '2 days', now() - "
	    "interval '1 day' FROM submission_sets WHERE unique_id = "
	    "'1.2.3.9.30'", 0, NULL));
	folder_with(FOLDER2, "1.2.3.9.39", orig);
	nd = count("SELECT count(*) FROM documents");
	nss = count("SELECT count(*) FROM submission_sets");
	nas = count("SELECT count(*) FROM associations");

	/* Unknown target. */
	build_assoc = RPLC;
	build_target = "urn:uuid:0b1f3a9c-0000-4000-8000-000000000001";
	r = post_built("1.2.3.9.31", "1.2.3.9.301", 500, 12);
	ok(has(r, "ResponseStatusType:Failure") &&
	    has(r, "XDSRegistryError") && has(r, "not a document of the "
	    "registry") && count("SELECT count(*) FROM documents") == nd &&
	    count("SELECT count(*) FROM submission_sets") == nss &&
	    store_consistent(), "RPLC of an unknown document: "
	    "XDSRegistryError, nothing stored");
	free(r);

	/* The original belongs to another patient. */
	patient("RSNA9Z9Z", "1.3.6.1.4.1.19376.3.840.1.1.1");
	build_patient = "RSNA9Z9Z^^^&1.3.6.1.4.1.19376.3.840.1.1.1&ISO";
	build_target = orig;
	r = post_built("1.2.3.9.32", "1.2.3.9.302", 500, 13);
	ok(has(r, "ResponseStatusType:Failure") &&
	    has(r, "XDSPatientIdDoesNotMatch") &&
	    count("SELECT count(*) FROM documents") == nd &&
	    streq(doc_col("status", "1.2.3.9.300"), XDS_STATUS_APPROVED) &&
	    store_consistent(), "RPLC of another patient's document: "
	    "XDSPatientIdDoesNotMatch, nothing stored or deprecated");
	free(r);
	build_patient = NULL;

	/* APND to an unknown document. */
	build_assoc = APND;
	build_target = "urn:uuid:0b1f3a9c-0000-4000-8000-000000000002";
	r = post_built("1.2.3.9.33", "1.2.3.9.303", 500, 14);
	ok(has(r, "XDSRegistryError") &&
	    count("SELECT count(*) FROM documents") == nd,
	    "APND to an unknown document: XDSRegistryError");
	free(r);

	/* The replacement. */
	build_assoc = RPLC;
	build_target = orig;
	r = post_built("1.2.3.9.34", "1.2.3.9.304", 500, 15);
	ok(has(r, "ResponseStatusType:Success"), "RPLC: Success");
	if (!has(r, "Success"))
		tap_diag("%.2000s", r);
	free(r);
	ok(streq(doc_col("status", "1.2.3.9.300"), XDS_STATUS_DEPRECATED) &&
	    streq(doc_col("status", "1.2.3.9.304"), XDS_STATUS_APPROVED),
	    "RPLC: the original is Deprecated, the replacement Approved");
	ok(streq(doc_col("logical_id", "1.2.3.9.304"), lid) &&
	    streq(doc_col("version::text", "1.2.3.9.304"), "2") &&
	    streq(doc_col("version::text", "1.2.3.9.300"), "1"),
	    "RPLC: the replacement continues the logicalId, version 2");
	ok(count("SELECT count(*) FROM associations") == nas + 3 &&
	    count("SELECT count(*) FROM associations WHERE assoc_type = '"
	    RPLC "'") == 1 && count("SELECT count(*) FROM submission_sets") ==
	    nss + 1 && store_consistent(), "RPLC: the association is stored");
	/* Folder membership follows the replacement (NIST 12327). */
	repl = doc_col("entry_uuid", "1.2.3.9.304");
	v[0] = repl;
	v[1] = FOLDER1;
	q = sql("SELECT count(*) || ' ' || min(s.unique_id) FROM "
	    "associations a JOIN submission_sets s ON s.id = "
	    "a.submission_set_id WHERE a.source_uuid = $2 AND a.target_uuid "
	    "= $1 AND a.assoc_type = '" XDS_ASSOC_HASMEMBER "' AND a.status = '"
	    XDS_STATUS_APPROVED "' AND a.ebrim LIKE '%' || $1 || '%'", 2, v);
	ok(streq(q, "1 1.2.3.9.34"), "RPLC: the replacement is put into the "
	    "original's folder (HasMember filed with the replacing set)");
	v[1] = FOLDER2;
	ok(streq(sql("SELECT count(*) FROM associations WHERE source_uuid = "
	    "$2 AND target_uuid = $1", 2, v), "0"), "RPLC: not into a folder "
	    "of an expired submission");
	v[0] = FOLDER1;
	ok(!streq(sql("SELECT last_update_time FROM folders WHERE "
	    "entry_uuid = $1", 1, v), OLD_LUT) &&
	    streq(sql("SELECT count(*) FROM folders WHERE entry_uuid = $1 AND "
	    "ebrim LIKE '%<rim:Value>' || last_update_time || '</rim:Value>%' "
	    "AND ebrim NOT LIKE '%" OLD_LUT "%'", 1, v), "1"),
	    "RPLC: the folder's lastUpdateTime is updated (column and "
	    "ebRIM)");
	free(repl);

	/* Replacing the deprecated original again. */
	r = post_built("1.2.3.9.35", "1.2.3.9.305", 500, 16);
	ok(has(r, "XDSRegistryDeprecatedDocumentError") &&
	    count("SELECT count(*) FROM documents") == nd + 1 &&
	    store_consistent(), "RPLC of a deprecated document: "
	    "XDSRegistryDeprecatedDocumentError, nothing stored");
	free(r);

	/* APND to the replacement (same patient): stored. */
	free(orig);
	orig = doc_col("entry_uuid", "1.2.3.9.304");
	build_assoc = APND;
	build_target = orig;
	r = post_built("1.2.3.9.36", "1.2.3.9.306", 500, 17);
	ok(has(r, "ResponseStatusType:Success") &&
	    streq(doc_col("status", "1.2.3.9.304"), XDS_STATUS_APPROVED) &&
	    count("SELECT count(*) FROM associations WHERE assoc_type = '"
	    APND "'") == 1, "APND to a stored document: stored, the target "
	    "stays Approved");
	free(r);
	build_assoc = NULL;
	build_target = NULL;
	free(orig);
	free(lid);
	test_rplc_merged();
}

/* The peer goes away in the middle of an attachment. */
static void
abort_child(struct post *po, int fd)
{
	struct sockaddr_in	 sin;
	char			 buf[65536], *cause = NULL;
	size_t			 sent = 0;
	ssize_t			 n;
	int			 s;

	(void)fd;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)httpd_port(httpd));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((s = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(s, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		_exit(1);
	dprintf(s, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
	    "Content-Length: 100000000\r\n\r\n", SOAP_PATH_REPOSITORY,
	    mtom_writer_content_type(po->w));
	while (sent < 4 * 1024 * 1024 &&
	    (n = mtom_writer_read(po->w, buf, sizeof(buf), &cause)) > 0) {
		if (write(s, buf, (size_t)n) != n)
			_exit(1);
		sent += (size_t)n;
	}
	close(s);
}

static void
test_abort(void)
{
	struct synth	 s = { BIG, 0, 9 };
	struct post	 po;
	struct dbuf	 env;
	long		 before = nblobs();
	time_t		 deadline = time(NULL) + 30;
	int		 i;

	memset(&po, 0, sizeof(po));
	po.w = build("1.2.3.9.20", "1.2.3.9.200", &s, &env);
	free(post_fn(abort_child, &po));
	/* Bounded wait on the condition (about 30 s of 100 ms ticks). */
	for (i = 0; i < 100000 && (httpd_conn_count(httpd) > 0 ||
	    ntmp() != 0) && time(NULL) < deadline; i++)
		event_base_loop(base, EVLOOP_ONCE);
	ok(httpd_conn_count(httpd) == 0 && ntmp() == 0 &&
	    nblobs() == before && store_consistent(), "upload cut in an "
	    "attachment: no blob left, nothing stored (%lu aborted)",
	    ctx.stats.aborted);
	mtom_writer_free(po.w);
	dbuf_free(&env);
}

static void
test_fault(void)
{
	struct post	 po;
	struct dbuf	 env;
	char		*r;

	dbuf_init(&env, 1 << 26);
	soap_request(&env, SOAP_ACTION_ITI18, NULL, "<x xmlns=\"urn:x\"/>", 18,
	    NULL);
	memset(&po, 0, sizeof(po));
	po.ctype = "application/soap+xml";
	po.body = env.data;
	po.len = env.len;
	r = post(&po);
	ok(has(r, "400 0\n") && has(r, "Fault") && has(r, "Sender"),
	    "wrong action on the path: SOAP Sender fault, HTTP 400");
	free(r);
	dbuf_free(&env);
}

int
main(void)
{
	const char		*conninfo;
	struct db_settings	 ds;
	struct httpd_conf	 hc;
	struct httpd		*h;
	struct event		*t;
	struct timeval		 tv = { 0, 100000 };
	char			 schemadir[1024];
	char			 bdir[1100], *cause = NULL, *cmd;

	if ((conninfo = getenv("ISN_PG_CONNINFO")) == NULL ||
	    *conninfo == '\0') {
		printf("1..0 # SKIP ISN_PG_CONNINFO not set (run "
		    "test_iti41.sh)\n");
		return (0);
	}
	log_init(1, "test_iti41", LOG_USER);
	signal(SIGPIPE, SIG_IGN);
	alarm(300);
	snprintf(schemadir, sizeof(schemadir), "%s/schemas/clearinghouse",
	    tap_srcdir());
	if (migrate_run(conninfo, schemadir, NULL, NULL, &cause) != 0)
		fatalx("migrate: %s", cause);
	if (mkdtemp(tmpdir) == NULL)
		fatal("mkdtemp");
	snprintf(bdir, sizeof(bdir), "%s/blobs", tmpdir);
	if ((store = blob_store_open(bdir, &cause)) == NULL)
		fatalx("blob_store_open: %s", cause);

	base = event_base_new();
	t = event_new(base, -1, EV_PERSIST, tick, NULL);
	event_add(t, &tv);
	memset(&ds, 0, sizeof(ds));
	ds.conninfo = conninfo;
	ds.pool_size = 2;
	if ((db = db_new(base, &ds, &cause)) == NULL)
		fatalx("db_new: %s", cause);
	memset(&hc, 0, sizeof(hc));
	h = httpd = httpd_new(base, &hc);
	if (httpd_listen(h, "127.0.0.1:0", &cause) == -1)
		fatalx("listen: %s", cause);
	memset(&ctx, 0, sizeof(ctx));
	ctx.db = db;
	ctx.blobs = store;
	if ((ctx.writer = blobq_new(base, &cause)) == NULL)
		fatalx("blobq_new: %s", cause);
	ctx.repository_unique_id = REPO_UID;
	ctx.audit = audit_cb;
	httpd_route(h, SOAP_PATH_REPOSITORY, &iti41_handler, &ctx);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", httpd_port(h),
	    SOAP_PATH_REPOSITORY);

	test_samples();
	test_built();
	test_rplc();
	test_fault();
	test_abort();
	ok(ctx.stats.requests > 0 && ctx.stats.aborted == 1, "stats: %lu "
	    "requests, %lu success, %lu failure, %lu faults", ctx.stats.requests,
	    ctx.stats.success, ctx.stats.failure, ctx.stats.faults);
	ok(naudit == ctx.stats.success + ctx.stats.failure &&
	    naudit_bad == 0, "one Import audit record per RegistryResponse "
	    "(%lu), with patient and set uniqueId", naudit);

	httpd_free(h);
	blobq_free(ctx.writer);
	db_free(db);
	event_free(t);
	event_base_free(base);
	blob_store_close(store);
	xasprintf(&cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", tmpdir);
	free(cmd);
	return (tap_done());
}
