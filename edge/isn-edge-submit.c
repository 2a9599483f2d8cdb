/*
 * isn-edge-submit.c: the edge's submission helper (docs/design/submit.md).
 *
 * One process per submission, started by the edge daemon, so that the
 * encryption and upload of a multi-gigabyte study never runs on the
 * daemon's event loop and a crash costs one attempt, not the daemon:
 *
 *   isn-edge-submit --url URL --ca FILE --cert FILE --key FILE
 *       [--pix HOST:PORT --registry HOST:PORT] [--oid OID]
 *       [--source-id OID] --repository-uid OID [--sending-app A]
 *       [--sending-facility F] [--registry-url URL] [--sop-uids]
 *       [--register-only | --registered] [--timeout SECS] [-v] < SPEC
 *
 * SPEC (standard input, never the command line: it holds the patient's
 * secrets) has one "key value" per line: scheme (isn2, rsna-token,
 * rsna-access-code), token or access_code, dob, password (or instead
 * rsna_id and, under isn2, content_key: computed when the password was
 * entered, so that the edge need not keep it), accession,
 * submission_uid, report (a text file), and one "file PATH" per DICOM
 * instance. The helper registers the patient with ITI-8 (ADT^A04, both
 * feeds) over MLLP with mutual TLS, then streams the ITI-41 through
 * libcurl with mutual TLS, reading each instance from disk as it goes
 * (isnsub.h: memory stays bounded whatever the study's size). With
 * --registry-url (the certificate then needs the consumer role too) it
 * first asks the registry whether the spec's submission_uid is stored
 * already, and if so reports success without sending anything: a retry
 * after a crash never stores a study twice. Each instance's entry gets a
 * uniqueId of its own (docs/protocol.md 7), so that a study can be sent
 * again; --sop-uids makes it the SOP Instance UID instead.
 *
 * The daemon runs the first two steps while the study is still coming
 * from the PACS: --register-only does the ITI-18 check and ITI-8 and
 * stops (the spec then needs only scheme, rsna_id and submission_uid:
 * no key, no files), and --registered skips both in the run that sends.
 *
 * Standard output gets one line per event, "key=value" fields with
 * values percent-encoded (patient data may appear here, never in the
 * log on standard error):
 *   stage=iti8 feed=pix|registry ack=AA
 *   result=ok submission=UID study=UID instances=N bytes=N already=0|1
 *       cx=CX
 *   result=ok registered=1 already=0|1 cx=CX      (--register-only)
 *   result=fail retry=0|1 stage=spec|build|iti18|iti8|iti41 code=C
 *       reason=TEXT
 * Exit status: 0 stored, 1 refused for good (retrying cannot help), 75
 * (EX_TEMPFAIL) failed in a way a later attempt may not, 2 usage.
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "dbuf.h"
#include "dicom.h"
#include "hl7.h"
#include "isnsub.h"
#include "log.h"
#include "mllp.h"
#include "mtom.h"
#include "rsnaid.h"
#include "soap.h"
#include "sq.h"
#include "tls.h"
#include "xdsmsg.h"
#include "xmalloc.h"

#define SUBMIT_EX_TEMPFAIL	75
#define SUBMIT_MAX_SPEC		(1024 * 1024)
#define SUBMIT_MAX_RESPONSE	(1024 * 1024)
#define SUBMIT_MAX_ACK		65536

struct submit_opts {
	const char	*url;
	const char	*registry_url;	/* ITI-18: check before submitting */
	char		*ca;		/* argv strings: tls_conf wants char * */
	char		*cert;
	char		*key;
	const char	*pix;
	const char	*registry;
	const char	*oid;
	const char	*source_id;
	const char	*repository_uid;
	const char	*sending_app;
	const char	*sending_fac;
	int		 timeout;
	int		 sop_uids;	/* uniqueId = SOP UID (protocol.md 7) */
	int		 register_only;	/* ITI-18 check and ITI-8, no ITI-41 */
	int		 registered;	/* both done by an earlier run */
};

/* The parsed SPEC; strings are owned. */
struct submit_spec {
	enum rsnaid_scheme	 scheme;
	char			*secret;
	char			*dob;
	char			*password;
	char			*accession;
	char			*submission_uid;
	char			*report;
	char			*rsna_id;	/* computed earlier, with */
	char			*content_key;	/* the isn2 key in hex */
	char		       **files;
	size_t			 nfiles;
};

/* One output line's value, percent-encoded. */
static void
submit_put(FILE *f, const char *key, const char *value)
{
	const unsigned char	*p;

	fprintf(f, "%s=", key);
	for (p = (const unsigned char *)(value != NULL ? value : "");
	    *p != '\0'; p++) {
		if (*p <= ' ' || *p >= 0x7f || *p == '%' || *p == '=')
			fprintf(f, "%%%02X", *p);
		else
			fputc(*p, f);
	}
}

/* The last line, and the exit status that goes with it. */
static __dead void
submit_fail(int retry, const char *stage, const char *code,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*reason;

	va_start(ap, fmt);
	if (vasprintf(&reason, fmt, ap) == -1)
		reason = NULL;
	va_end(ap);
	printf("result=fail retry=%d stage=%s ", retry, stage);
	submit_put(stdout, "code", code);
	fputc(' ', stdout);
	submit_put(stdout, "reason", reason != NULL ? reason : "?");
	fputc('\n', stdout);
	fflush(stdout);
	log_warnx("submit stage=%s code=%s retry=%d", stage, code, retry);
	exit(retry ? SUBMIT_EX_TEMPFAIL : 1);
}

/* ------------------------------------------------------------------ */
/* SPEC */

static void
submit_spec_line(struct submit_spec *sp, char *line, size_t lineno)
{
	char	*key = line, *value;

	value = line + strcspn(line, " \t");
	if (*value != '\0')
		*value++ = '\0';
	value += strspn(value, " \t");
	if (*key == '\0' || *key == '#')
		return;
	if (strcmp(key, "file") == 0) {
		sp->files = xreallocarray(sp->files, sp->nfiles + 1,
		    sizeof(*sp->files));
		sp->files[sp->nfiles++] = xstrdup(value);
		return;
	}
#define SPEC_STR(k, f) if (strcmp(key, k) == 0) { free(sp->f); \
	sp->f = xstrdup(value); return; }
	SPEC_STR("token", secret)
	SPEC_STR("access_code", secret)
	SPEC_STR("dob", dob)
	SPEC_STR("password", password)
	SPEC_STR("accession", accession)
	SPEC_STR("submission_uid", submission_uid)
	SPEC_STR("report", report)
	SPEC_STR("rsna_id", rsna_id)
	SPEC_STR("content_key", content_key)
#undef SPEC_STR
	if (strcmp(key, "scheme") == 0) {
		if (rsnaid_scheme_parse(value, &sp->scheme) == -1)
			submit_fail(0, "spec", "scheme", "line %zu: unknown "
			    "scheme", lineno);
		return;
	}
	submit_fail(0, "spec", "key", "line %zu: unknown key", lineno);
}

/* register_only: identity and submission uid suffice (no key, no files). */
static void
submit_spec_read(struct submit_spec *sp, FILE *f, int register_only)
{
	char	*line = NULL;
	size_t	 cap = 0, lineno = 0, total = 0;
	ssize_t	 n;

	memset(sp, 0, sizeof(*sp));
	sp->scheme = RSNAID_ISN2;
	while ((n = getline(&line, &cap, f)) != -1) {
		lineno++;
		if ((total += (size_t)n) > SUBMIT_MAX_SPEC)
			submit_fail(0, "spec", "size", "the spec passes %d "
			    "bytes", SUBMIT_MAX_SPEC);
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		submit_spec_line(sp, line, lineno);
	}
	free(line);
	if (sp->rsna_id != NULL) {
		if (sp->secret != NULL || sp->password != NULL)
			submit_fail(0, "spec", "identity", "rsna_id replaces "
			    "token, dob and password: not both");
		if (!register_only && (sp->scheme == RSNAID_ISN2) !=
		    (sp->content_key != NULL))
			submit_fail(0, "spec", "identity", "content_key goes "
			    "with rsna_id under isn2, and only then");
	} else {
		if (sp->secret == NULL || sp->dob == NULL)
			submit_fail(0, "spec", "identity", "the spec needs a "
			    "token (or access_code) and a dob, or an rsna_id");
		if (sp->scheme != RSNAID_RSNA_ACCESS_CODE &&
		    sp->password == NULL)
			submit_fail(0, "spec", "identity", "the spec needs a "
			    "password");
	}
	if (register_only) {
		if (sp->rsna_id == NULL || sp->submission_uid == NULL)
			submit_fail(0, "spec", "identity", "--register-only "
			    "needs rsna_id and submission_uid");
		if (sp->content_key != NULL || sp->nfiles > 0)
			submit_fail(0, "spec", "key", "--register-only "
			    "takes neither a content_key nor files");
		return;
	}
	if (sp->nfiles == 0)
		submit_fail(0, "spec", "files", "the spec names no DICOM file");
}

static void
submit_spec_free(struct submit_spec *sp)
{
	size_t	i;

	if (sp->password != NULL)
		explicit_bzero(sp->password, strlen(sp->password));
	if (sp->secret != NULL)
		explicit_bzero(sp->secret, strlen(sp->secret));
	if (sp->content_key != NULL)
		explicit_bzero(sp->content_key, strlen(sp->content_key));
	free(sp->rsna_id);
	free(sp->content_key);
	free(sp->secret);
	free(sp->dob);
	free(sp->password);
	free(sp->accession);
	free(sp->submission_uid);
	free(sp->report);
	for (i = 0; i < sp->nfiles; i++)
		free(sp->files[i]);
	free(sp->files);
}

/* ------------------------------------------------------------------ */
/* The submission (isnsub.h) */

/* An RSNA-ID given in the spec (and its isn2 key, 64 hex digits). */
static void
submit_id(const struct submit_spec *sp, struct rsnaid *id)
{
	const char	*k = sp->content_key;
	size_t		 i;
	unsigned int	 byte;

	memset(id, 0, sizeof(*id));
	id->scheme = sp->scheme;
	if (strlen(sp->rsna_id) >= sizeof(id->id) ||
	    rsnaid_valid(sp->rsna_id, NULL) == -1)
		submit_fail(0, "spec", "identity", "rsna_id is not an RSNA-ID");
	strlcpy(id->id, sp->rsna_id, sizeof(id->id));
	if (k == NULL)
		return;
	if (strlen(k) != 2 * RSNAID_KEY_LEN ||
	    strspn(k, "0123456789abcdef") != 2 * RSNAID_KEY_LEN)
		submit_fail(0, "spec", "identity", "content_key is not %d "
		    "lower-case hex digits", 2 * RSNAID_KEY_LEN);
	for (i = 0; i < RSNAID_KEY_LEN; i++) {
		sscanf(k + 2 * i, "%2x", &byte);
		id->key[i] = (uint8_t)byte;
	}
	id->has_key = 1;
}

static struct isnsub *
submit_build(const struct submit_opts *o, const struct submit_spec *sp)
{
	struct isnsub_params	 p;
	struct isnsub		*sub;
	struct rsnaid		 id;
	char			*cause = NULL;
	size_t			 i;

	memset(&p, 0, sizeof(p));
	if (sp->rsna_id != NULL) {
		submit_id(sp, &id);
		p.id = &id;
	}
	p.scheme = sp->scheme;
	p.secret = sp->secret;
	p.dob = sp->dob;
	p.password = sp->scheme == RSNAID_RSNA_ACCESS_CODE ? NULL : sp->password;
	p.oid = o->oid;
	p.source_id = o->source_id;
	p.submission_uid = sp->submission_uid;
	p.repository_uid = o->repository_uid;
	p.accession_number = sp->accession;
	p.sop_uids = o->sop_uids;
	sub = isnsub_new(&p, &cause);
	explicit_bzero(&id, sizeof(id));
	if (sub == NULL)
		submit_fail(0, "build", "identity", "%s", cause);
	for (i = 0; i < sp->nfiles; i++)
		if (isnsub_add_file(sub, sp->files[i], &cause) == -1)
			submit_fail(0, "build", "instance", "%s", cause);
	if (sp->report != NULL &&
	    isnsub_set_report(sub, sp->report, &cause) == -1)
		submit_fail(0, "build", "report", "%s", cause);
	if (isnsub_finish(sub, &cause) == -1)
		submit_fail(0, "build", "metadata", "%s", cause);
	return (sub);
}

/* ------------------------------------------------------------------ */
/* ITI-8 */

struct submit_ack {
	struct event_base	*base;
	char			*reply;
	char			*cause;
	int			 done;
};

static void
submit_ack_cb(struct mllp_client *mc, const char *reply, size_t len,
    const char *cause, void *arg)
{
	struct submit_ack	*a = arg;

	(void)mc;
	a->done = 1;
	if (reply != NULL)
		a->reply = xstrndup(reply, len);
	else
		a->cause = xstrdup(cause != NULL ? cause : "no reply");
	event_base_loopbreak(a->base);
}

/* ADT^A04 as PROFILE.md 5 and rsna-edge.md 3.1 describe it. */
static char *
submit_a04(const struct submit_opts *o, const char *cx, size_t *len)
{
	struct hl7_msh	 msh;
	struct hl7_msg	*m;
	struct dbuf	 out;
	struct tm	 tm;
	time_t		 t;
	char		*cause = NULL, now[16];
	int		 rc = 0;

	memset(&msh, 0, sizeof(msh));
	msh.sending_app = o->sending_app;
	msh.sending_fac = o->sending_fac;
	msh.type = "ADT^A04^ADT_A01";
	msh.version = "2.3.1";
	if ((m = hl7_msg_new(&msh)) == NULL)
		submit_fail(0, "iti8", "build", "cannot build ADT^A04");
	t = time(NULL);
	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y%m%d%H%M%S", &tm);
	rc |= hl7_add_segment(m, "EVN", &cause) == -1 ? -1 : 0;
	rc |= hl7_set(m, "EVN", 1, 2, 1, 1, 1, now);
	rc |= hl7_add_segment(m, "PID", &cause) == -1 ? -1 : 0;
	rc |= hl7_set_raw(m, "PID", 1, 3, 1, 0, 0, cx);
	rc |= hl7_set(m, "PID", 1, 5, 1, 1, 1, "RSNA ISN");
	rc |= hl7_set(m, "PID", 1, 5, 1, 2, 1, "RSNA ISN");
	rc |= hl7_add_segment(m, "PV1", &cause) == -1 ? -1 : 0;
	rc |= hl7_set(m, "PV1", 1, 2, 1, 1, 1, "O");
	dbuf_init(&out, SUBMIT_MAX_ACK);
	if (rc != 0 || hl7_serialise(m, &out) == -1)
		submit_fail(0, "iti8", "build", "cannot build ADT^A04%s%s",
		    cause != NULL ? ": " : "", cause != NULL ? cause : "");
	hl7_msg_free(m);
	return (dbuf_take(&out, len));
}

/* One feed: the ACK's MSA-1 must be AA. */
static void
submit_iti8(struct event_base *base, SSL_CTX *ctx, const char *feed,
    const char *addr, const char *msg, size_t len, int timeout)
{
	struct submit_ack	 a;
	struct mllp_client	*mc;
	struct hl7_limits	 lim;
	struct hl7_msg		*ack;
	const char		*code, *text;
	char			*cause = NULL, host[256];
	size_t			 hl;

	hl = strcspn(addr, ":");
	if (hl == 0 || hl >= sizeof(host) || addr[hl] != ':')
		submit_fail(0, "iti8", "address", "%s: not host:port", feed);
	memcpy(host, addr, hl);
	host[hl] = '\0';
	mc = mllp_client_new(base, addr, ctx, host, SUBMIT_MAX_ACK, timeout,
	    &cause);
	if (mc == NULL)
		submit_fail(1, "iti8", "connect", "%s feed: %s", feed, cause);
	memset(&a, 0, sizeof(a));
	a.base = base;
	if (mllp_client_send(mc, msg, len, submit_ack_cb, &a, &cause) == -1)
		submit_fail(1, "iti8", "send", "%s feed: %s", feed, cause);
	while (!a.done)
		if (event_base_dispatch(base) == -1)
			break;
	mllp_client_free(mc);
	if (a.reply == NULL)
		submit_fail(1, "iti8", "connect", "%s feed: %s", feed,
		    a.cause != NULL ? a.cause : "no reply");
	hl7_limits_default(&lim);
	if ((ack = hl7_parse(a.reply, strlen(a.reply), &lim, &cause)) ==
	    NULL)
		submit_fail(1, "iti8", "ack", "%s feed: unreadable ACK: %s",
		    feed, cause);
	code = hl7_get(ack, "MSA", 1, 1, 1, 1, 1);
	text = hl7_get(ack, "MSA", 1, 3, 1, 1, 1);
	if (code == NULL || (strcmp(code, "AA") != 0 &&
	    strcmp(code, "CA") != 0)) {
		/* AE: an error the sender may retry; AR: refused. */
		submit_fail(code != NULL && strcmp(code, "AR") != 0, "iti8",
		    code != NULL ? code : "ack", "%s feed: %s", feed,
		    text != NULL && *text != '\0' ? text : "no reason given");
	}
	printf("stage=iti8 feed=%s ack=%s\n", feed, code);
	fflush(stdout);
	hl7_msg_free(ack);
	free(a.reply);
}

/* ITI-8 ADT^A04 to the PIX feed, then to the registry feed. */
static void
submit_feeds(const struct submit_opts *o, const char *cx)
{
	struct tls_conf		 tc;
	struct event_base	*base;
	SSL_CTX			*ctx;
	char			*a04, *cause = NULL;
	size_t			 a04len;

	if (o->pix == NULL)
		return;
	memset(&tc, 0, sizeof(tc));
	tc.cert_file = o->cert;
	tc.key_file = o->key;
	tc.ca_file = o->ca;
	tc.verify_peer = 1;
	if ((ctx = tls_client_ctx(&tc, &cause)) == NULL)
		submit_fail(0, "iti8", "tls", "%s", cause);
	if ((base = event_base_new()) == NULL)
		submit_fail(1, "iti8", "event", "no event base");
	a04 = submit_a04(o, cx, &a04len);
	submit_iti8(base, ctx, "pix", o->pix, a04, a04len, o->timeout);
	submit_iti8(base, ctx, "registry", o->registry, a04, a04len,
	    o->timeout);
	free(a04);
	event_base_free(base);
	SSL_CTX_free(ctx);
}

/* ------------------------------------------------------------------ */
/* ITI-41 */

struct submit_up {
	struct isnsub	*sub;
	char		*cause;		/* a read failure */
	uint64_t	 sent;
	struct dbuf	 resp;
	char		 ctype[512];
};

static size_t
submit_read_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct submit_up	*u = arg;
	ssize_t			 got;

	got = isnsub_read(u->sub, buf, size * n, &u->cause);
	if (got < 0)
		return (CURL_READFUNC_ABORT);
	u->sent += (uint64_t)got;
	return ((size_t)got);
}

static size_t
submit_write_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct submit_up	*u = arg;

	if (dbuf_add(&u->resp, buf, size * n) == -1)
		return (0);
	return (size * n);
}

static size_t
submit_header_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct submit_up	*u = arg;
	size_t			 len = size * n, vl;

	if (len > 13 && strncasecmp(buf, "Content-Type:", 13) == 0) {
		buf += 13;
		len -= 13;
		while (len > 0 && (*buf == ' ' || *buf == '\t')) {
			buf++;
			len--;
		}
		for (vl = len; vl > 0 && isspace((unsigned char)buf[vl - 1]);
		    vl--)
			;
		if (vl < sizeof(u->ctype)) {
			memcpy(u->ctype, buf, vl);
			u->ctype[vl] = '\0';
		}
	}
	return (size * n);
}

/* The SOAP root of the answer: the body, or the MTOM root part. */
static char *
submit_root(struct submit_up *u, size_t *len)
{
	static const struct mtom_callbacks	 none;
	struct mtom_parser			*mp;
	const char				*r;
	char					*cause = NULL, *out;

	if (strncasecmp(u->ctype, "multipart/related", 17) != 0) {
		*len = u->resp.len;
		return (xmemdup(u->resp.data, u->resp.len));
	}
	if ((mp = mtom_parser_new(u->ctype, &none, NULL, NULL, &cause)) ==
	    NULL || mtom_parser_feed(mp, u->resp.data, u->resp.len,
	    &cause) == -1 || mtom_parser_finish(mp, &cause) == -1 ||
	    (r = mtom_parser_root(mp, len)) == NULL) {
		if (mp != NULL)
			mtom_parser_free(mp);
		submit_fail(1, "iti41", "response", "unreadable MTOM answer: "
		    "%s", cause != NULL ? cause : "no root part");
	}
	out = xmemdup(r, *len);
	mtom_parser_free(mp);
	return (out);
}

/* Transient: the clearinghouse was busy or had an internal problem. */
static int
submit_transient(const char *code)
{
	return (strcmp(code, "XDSRegistryBusy") == 0 ||
	    strcmp(code, "XDSRepositoryBusy") == 0 ||
	    strcmp(code, "XDSRegistryOutOfResources") == 0 ||
	    strcmp(code, "XDSRepositoryOutOfResources") == 0 ||
	    strcmp(code, "XDSRegistryNotAvailable") == 0);
}

/* The success line. */
static void
submit_ok(struct isnsub *sub, uint64_t sent, int already)
{
	printf("result=ok ");
	submit_put(stdout, "submission", isnsub_submission_uid(sub));
	fputc(' ', stdout);
	submit_put(stdout, "study", isnsub_study_uid(sub));
	printf(" instances=%zu bytes=%llu already=%d ",
	    isnsub_ninstances(sub), (unsigned long long)sent, already);
	submit_put(stdout, "cx", isnsub_patient_cx(sub));
	fputc('\n', stdout);
	fflush(stdout);
}

/* The SOAP answer of a POST; a fault or an unreadable one fails. */
static void
submit_soap(struct submit_up *u, long status, const char *stage,
    struct soap_msg *msg)
{
	struct soap_fault	 f;
	char			*root;
	size_t			 len;

	root = submit_root(u, &len);
	memset(&f, 0, sizeof(f));
	if (len == 0 || soap_msg_parse_buf(root, len, NULL, msg, &f) == -1)
		submit_fail(status >= 500, stage, "http", "HTTP %ld "
		    "without a readable SOAP answer", status);
	free(root);
	if (msg->is_fault)
		submit_fail(status >= 500, stage, "fault", "SOAP fault "
		    "(HTTP %ld): %s", status, msg->fault.reason != NULL ?
		    msg->fault.reason : soap_code_name(msg->fault.code));
	if (msg->body == NULL)
		submit_fail(1, stage, "response", "HTTP %ld: an empty SOAP "
		    "body", status);
}

/* A Failure's first error: final unless the clearinghouse was busy. */
static __dead void
submit_refused(const char *stage, const struct xdsmsg_errors *errors)
{
	const struct xdsmsg_error *e;

	e = errors->n > 0 ? &errors->v[0] : NULL;
	submit_fail(e != NULL && submit_transient(e->code), stage,
	    e != NULL ? e->code : "Failure", "%s", e != NULL &&
	    e->context != NULL ? e->context : "the clearinghouse refused");
}

/*
 * One POST over mutual TLS: the body streamed from u->sub, or buf.  The
 * answer lands in u->resp and u->ctype; the HTTP status in *status.
 */
static void
submit_post(const struct submit_opts *o, const char *url, const char *ctype,
    struct submit_up *u, const char *buf, size_t len, const char *stage,
    long *status)
{
	struct curl_slist	*h = NULL;
	CURL			*c;
	CURLcode		 rc;
	char			*ct;

	dbuf_init(&u->resp, SUBMIT_MAX_RESPONSE);
	if ((c = curl_easy_init()) == NULL)
		submit_fail(1, stage, "curl", "cannot start libcurl");
	xasprintf(&ct, "Content-Type: %s", ctype);
	h = curl_slist_append(h, ct);
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	if (buf != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, buf);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)len);
	} else {
		h = curl_slist_append(h, "Transfer-Encoding: chunked");
		curl_easy_setopt(c, CURLOPT_READFUNCTION, submit_read_cb);
		curl_easy_setopt(c, CURLOPT_READDATA, u);
		curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 262144L);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, submit_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, u);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, submit_header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, u);
	curl_easy_setopt(c, CURLOPT_CAINFO, o->ca);
	curl_easy_setopt(c, CURLOPT_SSLCERT, o->cert);
	curl_easy_setopt(c, CURLOPT_SSLKEY, o->key);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)o->timeout);
	/* A stalled transfer fails; a slow large one does not. */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)o->timeout);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(ct);
	if (u->cause != NULL)
		submit_fail(0, stage, "read", "%s", u->cause);
	if (rc != CURLE_OK)
		submit_fail(1, stage, "transfer", "%s (%llu bytes sent)",
		    curl_easy_strerror(rc), (unsigned long long)u->sent);
}

/*
 * Already stored?  GetSubmissionSetAndContents by the set's uniqueId
 * (ITI-18, the consumer role): an edge that restarts after the
 * clearinghouse stored its submission but before it read the answer
 * must not submit again (the clearinghouse would refuse the set's
 * uniqueId; a new one would store the study twice).
 */
static int
submit_stored(const struct submit_opts *o, const char *uid)
{
	struct sq_build		*b;
	struct xdsmsg_query_resp qr;
	struct xdsmsg_errors	 errs;
	struct soap_msg		 msg;
	struct submit_up	 u;
	struct dbuf		 body, env;
	long			 status = 0;
	int			 found;

	b = sq_build_new(SQ_GET_SUBMISSION_SET_AND_CONTENTS);
	sq_build_string(b, SQ_P_SS_UNIQUE_ID, uid);
	dbuf_init(&body, SUBMIT_MAX_RESPONSE);
	dbuf_init(&env, SUBMIT_MAX_RESPONSE);
	if (xdsmsg_query_req_build_sq(&body, b, XDSMSG_OBJECTREF) == -1 ||
	    soap_request(&env, SOAP_ACTION_ITI18, o->registry_url, body.data,
	    body.len, NULL) == -1)
		submit_fail(0, "iti18", "build", "cannot build the query");
	sq_build_free(b);
	memset(&u, 0, sizeof(u));
	submit_post(o, o->registry_url, "application/soap+xml; "
	    "charset=UTF-8; action=\"" SOAP_ACTION_ITI18 "\"", &u, env.data,
	    env.len, "iti18", &status);
	submit_soap(&u, status, "iti18", &msg);
	memset(&qr, 0, sizeof(qr));
	memset(&errs, 0, sizeof(errs));
	if (xdsmsg_query_resp_parse(msg.body, &qr, &errs) == -1)
		submit_fail(1, "iti18", "response", "HTTP %ld: not an "
		    "AdhocQueryResponse", status);
	if (qr.status == XDSMSG_FAILURE)
		submit_refused("iti18", &qr.errors);
	found = qr.nrefs > 0 || qr.nleaf > 0;
	xdsmsg_query_resp_clear(&qr);
	xdsmsg_errors_clear(&errs);
	soap_msg_clear(&msg);
	dbuf_free(&u.resp);
	dbuf_free(&body);
	dbuf_free(&env);
	return (found);
}

static void
submit_iti41(const struct submit_opts *o, struct isnsub *sub)
{
	struct submit_up	 u;
	struct soap_msg		 msg;
	struct xdsmsg_regresp	 rr;
	struct xdsmsg_errors	 errs;
	long			 status = 0;

	memset(&u, 0, sizeof(u));
	u.sub = sub;
	submit_post(o, o->url, isnsub_content_type(sub), &u, NULL, 0,
	    "iti41", &status);
	submit_soap(&u, status, "iti41", &msg);
	memset(&rr, 0, sizeof(rr));
	memset(&errs, 0, sizeof(errs));
	if (xdsmsg_regresp_parse(msg.body, &rr, &errs) == -1)
		submit_fail(1, "iti41", "response", "HTTP %ld: not a "
		    "RegistryResponse", status);
	if (rr.status != XDSMSG_SUCCESS)
		submit_refused("iti41", &rr.errors);
	xdsmsg_regresp_clear(&rr);
	xdsmsg_errors_clear(&errs);
	soap_msg_clear(&msg);
	dbuf_free(&u.resp);
	submit_ok(sub, u.sent, 0);
}

/*
 * --register-only: the ITI-18 check and ITI-8, then exit. The daemon
 * runs it while the C-MOVE runs: neither needs the study.
 */
static __dead void
submit_register(const struct submit_opts *o, struct submit_spec *sp)
{
	char	cx[256];
	int	already = 0;

	if (rsnaid_valid(sp->rsna_id, NULL) == -1 ||
	    rsnaid_cx(sp->rsna_id, o->oid != NULL ? o->oid :
	    RSNAID_DEFAULT_OID, cx, sizeof(cx)) == -1)
		submit_fail(0, "spec", "identity", "rsna_id is not an "
		    "RSNA-ID, or the affinity domain is not an OID");
	if (!dicom_uid_valid(sp->submission_uid))
		submit_fail(0, "spec", "submission_uid", "not a UID");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		submit_fail(1, "iti18", "curl", "cannot start libcurl");
	if (o->registry_url != NULL)
		already = submit_stored(o, sp->submission_uid);
	if (!already)
		submit_feeds(o, cx);
	curl_global_cleanup();
	printf("result=ok registered=1 already=%d ", already);
	submit_put(stdout, "cx", cx);
	fputc('\n', stdout);
	fflush(stdout);
	submit_spec_free(sp);
	log_info("submit registered already=%d", already);
	exit(0);
}

/* ------------------------------------------------------------------ */

static __dead void
usage(void)
{
	fprintf(stderr, "usage: isn-edge-submit --url URL --ca FILE "
	    "--cert FILE --key FILE\n"
	    "\t[--pix HOST:PORT --registry HOST:PORT] [--oid OID] "
	    "[--source-id OID]\n"
	    "\t--repository-uid OID [--sending-app A] [--sending-facility F]\n"
	    "\t[--registry-url URL] [--sop-uids] [--register-only | "
	    "--registered]\n\t[--timeout SECS] [-v] < SPEC\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "ca", required_argument, NULL, 'a' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "pix", required_argument, NULL, 'p' },
		{ "registry", required_argument, NULL, 'r' },
		{ "oid", required_argument, NULL, 'o' },
		{ "source-id", required_argument, NULL, 's' },
		{ "repository-uid", required_argument, NULL, 'R' },
		{ "sending-app", required_argument, NULL, 'A' },
		{ "sending-facility", required_argument, NULL, 'F' },
		{ "timeout", required_argument, NULL, 't' },
		{ "registry-url", required_argument, NULL, 'Q' },
		{ "sop-uids", no_argument, NULL, 'W' },
		{ "register-only", no_argument, NULL, 'G' },
		{ "registered", no_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 }
	};
	struct submit_opts	 o;
	struct submit_spec	 sp;
	struct isnsub		*sub;
	int			 ch, verbose = 0;

	memset(&o, 0, sizeof(o));
	o.sending_app = "ISN-EDGE";
	o.timeout = 60;
	while ((ch = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		switch (ch) {
		case 'u': o.url = optarg; break;
		case 'a': o.ca = optarg; break;
		case 'c': o.cert = optarg; break;
		case 'k': o.key = optarg; break;
		case 'p': o.pix = optarg; break;
		case 'r': o.registry = optarg; break;
		case 'o': o.oid = optarg; break;
		case 's': o.source_id = optarg; break;
		case 'R': o.repository_uid = optarg; break;
		case 'A': o.sending_app = optarg; break;
		case 'F': o.sending_fac = optarg; break;
		case 'Q': o.registry_url = optarg; break;
		case 'W': o.sop_uids = 1; break;
		case 'G': o.register_only = 1; break;
		case 'D': o.registered = 1; break;
		case 't':
			o.timeout = atoi(optarg);
			if (o.timeout <= 0)
				usage();
			break;
		case 'v': verbose++; break;
		default: usage();
		}
	}
	if (optind != argc || o.url == NULL || o.ca == NULL ||
	    o.cert == NULL || o.key == NULL || o.repository_uid == NULL ||
	    (o.pix == NULL) != (o.registry == NULL) ||
	    (o.register_only && o.registered))
		usage();
	log_init(1, "isn-edge-submit", LOG_DAEMON);
	log_setverbose(verbose);

	submit_spec_read(&sp, stdin, o.register_only);
	if (o.registry_url != NULL && sp.submission_uid == NULL)
		submit_fail(0, "spec", "submission_uid", "--registry-url needs "
		    "the spec's submission_uid");
	if (o.register_only)
		submit_register(&o, &sp);
	sub = submit_build(&o, &sp);
	submit_spec_free(&sp);
	log_info("submit instances=%zu", isnsub_ninstances(sub));
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		submit_fail(1, "iti41", "curl", "cannot start libcurl");
	if (o.registry_url != NULL && !o.registered &&
	    submit_stored(&o, isnsub_submission_uid(sub))) {
		log_info("submit already stored");
		submit_ok(sub, 0, 1);
		curl_global_cleanup();
		isnsub_free(sub);
		return (0);
	}

	/* ITI-8 to both feeds first: the registry refuses unknown ids. */
	if (!o.registered)
		submit_feeds(&o, isnsub_patient_cx(sub));
	submit_iti41(&o, sub);
	curl_global_cleanup();
	isnsub_free(sub);
	return (0);
}
