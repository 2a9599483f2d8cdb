/*
 * pixfeed.c: ITI-8 patient identity feed (HL7 v2.3.1 ADT over MLLP/TLS)
 * into the registry's patients table. See docs/design/pixfeed.md.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "audit.h"
#include "ch.h"
#include "ch_auth.h"
#include "db.h"
#include "dbuf.h"
#include "hl7.h"
#include "iti8.h"
#include "log.h"
#include "mllp.h"
#include "pixfeed.h"
#include "xmalloc.h"

#define PIXFEED_MAX_MESSAGE	HL7_MAX_SIZE
#define PIXFEED_MAX_ACK		(64 * 1024)
#define PIXFEED_LOG_ID		64	/* bytes of a control id logged */
#define PIXFEED_HASH_LEN	12	/* hex digits of the patient hash */

#define PIXFEED_METRIC		"isn_ch_iti8_messages_total"

/*
 * Register or update: re-registration only touches updated. The one row
 * returned says whether the patient is new (created = updated only when
 * this statement inserted it), for the audit record's action C or U.
 */
static const char pixfeed_upsert_sql[] =
	"INSERT INTO patients (pid, domain_oid) VALUES ($1, $2) "
	"ON CONFLICT (pid, domain_oid) DO UPDATE SET updated = now() "
	"RETURNING created = updated";

/*
 * A40: the surviving id is registered if new, then the prior id (created
 * if unknown) points at it. One statement, so one implicit transaction.
 */
static const char pixfeed_merge_sql[] =
	"WITH s AS (INSERT INTO patients (pid, domain_oid) VALUES ($1, $2) "
	"ON CONFLICT (pid, domain_oid) DO UPDATE SET updated = now() "
	"RETURNING id) "
	"INSERT INTO patients (pid, domain_oid, merged_into) "
	"SELECT $3, $2, id FROM s "
	"ON CONFLICT (pid, domain_oid) DO UPDATE "
	"SET merged_into = EXCLUDED.merged_into, updated = now()";

struct pixfeed {
	struct ch		*ch;
	struct db		*db;
	char			*name;
	struct mllp_server	*srv;
};

/*
 * What the ATNA record of a message says (audit.h, xds.md section 7):
 * every string may be NULL. The patient CX and MSH-10 go to the audit
 * trail only, never to a log line.
 */
struct pixfeed_audit {
	const char	*subject;	/* the peer certificate's subject */
	const char	*addr;		/* the peer's IP address */
	const char	*local;		/* MSH-5|MSH-6, NULL: the listener */
	const char	*msh10;		/* as received */
	const char	*patient;	/* CX id^^^&oid&ISO */
	const char	*prior;		/* A40 accepted: the merged CX (D) */
	char		 action;	/* C U D */
	int		 outcome;	/* AUDIT_SUCCESS ... */
};

/* One message waiting for the database. */
struct pixfeed_req {
	struct pixfeed		*pf;
	struct mllp_conn	*conn;
	struct hl7_msg		*msg;
	char			 event[4];
	char			 control_id[PIXFEED_LOG_ID + 1];
	char			 patient[PIXFEED_HASH_LEN + 1];
	char			*peer;
	char			*subject;	/* audit: certificate subject */
	char			*local;		/* audit: MSH-5|MSH-6 */
	char			*cx;		/* audit: the patient's CX */
	char			*prior_cx;	/* audit: A40 prior id's CX */
	int			 merge;
};

static int	pixfeed_metric_defined;

/* A control id fit for a key=value log line: printable, no quotes. */
static void
pixfeed_log_safe(char *dst, size_t size, const char *src)
{
	size_t	i;

	for (i = 0; i + 1 < size && src[i] != '\0'; i++)
		dst[i] = isgraph((unsigned char)src[i]) && src[i] != '"' &&
		    src[i] != '\\' && src[i] != '=' ? src[i] : '?';
	dst[i] = '\0';
	if (i == 0 && size > 1)
		snprintf(dst, size, "-");
}

/* A short SHA-256 prefix of id^domain, to correlate without the id. */
static void
pixfeed_patient_hash(char out[PIXFEED_HASH_LEN + 1], const char *id,
    const char *domain)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;
	EVP_MD_CTX	*ctx;
	size_t		 i;

	snprintf(out, PIXFEED_HASH_LEN + 1, "-");
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, id, strlen(id)) == 1 &&
	    EVP_DigestUpdate(ctx, "^", 1) == 1 &&
	    EVP_DigestUpdate(ctx, domain, strlen(domain)) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 &&
	    mdlen * 2 >= PIXFEED_HASH_LEN) {
		for (i = 0; i < PIXFEED_HASH_LEN / 2; i++)
			snprintf(out + 2 * i, 3, "%02x", md[i]);
	}
	EVP_MD_CTX_free(ctx);
}

/* "id^^^&oid&ISO" (malloc'd), or NULL without an id. */
static char *
pixfeed_cx(const char *id, const char *domain)
{
	char	*cx;

	if (id == NULL || id[0] == '\0')
		return (NULL);
	xasprintf(&cx, "%s^^^&%s&ISO", id, domain != NULL ? domain : "");
	return (cx);
}

/* "MSH-5|MSH-6" (malloc'd): the receiving application, for the audit. */
static char *
pixfeed_local(struct hl7_msg *msg)
{
	const char	*app = hl7_get_path(msg, "MSH-5");
	const char	*fac = hl7_get_path(msg, "MSH-6");
	char		*s;

	if (app[0] == '\0' && fac[0] == '\0')
		return (NULL);
	xasprintf(&s, "%s|%s", app, fac);
	return (s);
}

/* The audit action of a trigger event: C registers, U updates. */
static char
pixfeed_action(const char *event)
{
	return (strcmp(event, "A08") == 0 || strcmp(event, "A40") == 0 ?
	    'U' : 'C');
}

/*
 * One ATNA Patient Record event (two for an accepted A40: U for the
 * surviving id, D for the merged one). ch_audit logs and counts a failed
 * write without the patient id; the ACK does not change.
 */
static void
pixfeed_audit(struct pixfeed *pf, const struct pixfeed_audit *au)
{
	struct audit_event	ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = AUDIT_PATIENT_RECORD;
	ev.outcome = au->outcome;
	ev.action = au->action;
	ev.peer_user = au->subject;
	ev.peer_addr = au->addr;
	ev.local_user = au->local != NULL ? au->local : pf->name;
	ev.patient_id = au->patient;
	ev.msh10 = au->msh10;
	ch_audit(pf->ch, &ev);
	if (au->prior != NULL) {
		ev.action = 'D';
		ev.patient_id = au->prior;
		ch_audit(pf->ch, &ev);
	}
}

static void
pixfeed_count(const char *event, const char *outcome)
{
	char	labels[64];

	snprintf(labels, sizeof(labels), "event=\"%s\",outcome=\"%s\"",
	    event, outcome);
	ch_metric_inc(PIXFEED_METRIC, labels, 1);
}

/* Make the accepted series visible before the first message. */
static void
pixfeed_count_zero(const char *event)
{
	char	labels[64];

	snprintf(labels, sizeof(labels), "event=\"%s\",outcome=\"accepted\"",
	    event);
	ch_metric_inc(PIXFEED_METRIC, labels, 0);
}

/*
 * Serialise ack (freed here) and send it; on any failure drop the
 * connection. Then log, count and release the hold.
 */
static void
pixfeed_finish(struct pixfeed *pf, struct mllp_conn *conn,
    struct hl7_msg *ack, const char *event, const char *control_id,
    const char *peer, const char *patient, const char *outcome,
    const char *code, const struct pixfeed_audit *au)
{
	struct dbuf	out;

	pixfeed_audit(pf, au);

	dbuf_init(&out, PIXFEED_MAX_ACK);
	if (ack == NULL || hl7_serialise(ack, &out) == -1) {
		log_warnx("pixfeed listener=%s conn=%s event=error "
		    "reason=\"cannot build the ACK\"", pf->name,
		    mllp_conn_id(conn));
		mllp_conn_close(conn);
		outcome = "error";
	} else
		(void)mllp_conn_reply(conn, out.data, out.len);
	dbuf_free(&out);
	hl7_msg_free(ack);
	log_info("pixfeed listener=%s conn=%s control_id=%s trigger=%s "
	    "peer=\"%s\" patient=%s outcome=%s ack=%s", pf->name,
	    mllp_conn_id(conn), control_id, event, peer, patient, outcome,
	    code);
	pixfeed_count(event, outcome);
	ch_release(pf->ch);
}

static void
pixfeed_req_free(struct pixfeed_req *r)
{
	hl7_msg_free(r->msg);
	free(r->peer);
	free(r->subject);
	free(r->local);
	free(r->cx);
	free(r->prior_cx);
	free(r);
}

static void
pixfeed_db_done(PGresult *res, const char *cause, void *arg)
{
	struct pixfeed_req	*r = arg;
	struct pixfeed_audit	 au;
	struct hl7_msg		*ack;
	char			*why = NULL;
	const char		*code, *outcome;

	memset(&au, 0, sizeof(au));
	au.subject = r->subject;
	au.addr = mllp_conn_peer_addr(r->conn);
	au.local = r->local;
	au.msh10 = hl7_control_id(r->msg);
	au.patient = r->cx;
	au.action = pixfeed_action(r->event);
	if (cause == NULL) {
		ack = hl7_ack(r->msg, "AA", NULL, NULL, NULL, NULL, &why);
		code = "AA";
		outcome = "accepted";
		au.outcome = AUDIT_SUCCESS;
		if (r->merge)
			au.prior = r->prior_cx;
		else if (res != NULL && PQntuples(res) == 1 &&
		    PQnfields(res) == 1)
			au.action = strcmp(PQgetvalue(res, 0, 0), "t") == 0 ?
			    'C' : 'U';
	} else {
		log_warnx("pixfeed listener=%s conn=%s control_id=%s "
		    "event=db-error cause=\"%s\"", r->pf->name,
		    mllp_conn_id(r->conn), r->control_id, cause);
		ack = hl7_ack(r->msg, "AR", "207", "registry database error",
		    NULL, NULL, &why);
		code = "AR";
		outcome = "db-error";
		au.outcome = AUDIT_SERIOUS_FAILURE;
	}
	free(why);
	pixfeed_finish(r->pf, r->conn, ack, r->event, r->control_id,
	    r->peer, r->patient, outcome, code, &au);
	pixfeed_req_free(r);
}

/* Point the ERR of an AE at the problem's "SEG-n[.c]" location. */
static void
pixfeed_ack_location(struct hl7_msg *ack, const char *location)
{
	struct hl7_pos	 pos;
	char		*cause = NULL;

	if (location[0] == '\0' ||
	    hl7_path_parse(location, &pos, &cause) == -1) {
		free(cause);
		return;
	}
	(void)hl7_ack_set_location(ack, pos.seg, pos.occ > 0 ? pos.occ : 1,
	    pos.field);
}

static void
pixfeed_message(struct mllp_conn *conn, const struct tls_peer *id,
    const char *buf, size_t len, void *arg)
{
	struct pixfeed			*pf = arg;
	const struct ch_conf		*conf = pf->ch->conf;
	const struct ch_peer		*peer;
	const struct iti8_problem	*prob;
	struct pixfeed_req		*r;
	struct pixfeed_audit		 au;
	struct iti8_feed		 feed;
	struct hl7_msg			*msg, *ack;
	char				*cause = NULL, errcode[16];
	char				*local, *cx;
	char				 ctl[PIXFEED_LOG_ID + 1];
	const char			*ev, *values[3];

	ch_hold(pf->ch);
	memset(&au, 0, sizeof(au));
	au.subject = id != NULL ? id->subject : NULL;
	au.addr = mllp_conn_peer_addr(conn);
	au.action = 'C';
	if ((peer = ch_peer_authorise(conf, id, CH_ROLE_SOURCE)) == NULL) {
		log_warnx("pixfeed listener=%s conn=%s event=unauthorised "
		    "fingerprint=%s known=%s", pf->name, mllp_conn_id(conn),
		    id != NULL ? id->fingerprint : "-",
		    ch_peer_find(conf, id) != NULL ? "yes" : "no");
		ack = hl7_ack_raw(buf, len, "AR", "207", "peer not authorised "
		    "as a source", NULL, NULL, &cause);
		free(cause);
		au.outcome = AUDIT_SERIOUS_FAILURE;
		pixfeed_finish(pf, conn, ack, "other", "-",
		    id != NULL ? id->fingerprint : "-", "-", "unauthorised",
		    "AR", &au);
		return;
	}
	if ((msg = hl7_parse(buf, len, NULL, &cause)) == NULL) {
		log_info("pixfeed listener=%s conn=%s event=parse-error "
		    "reason=\"%s\"", pf->name, mllp_conn_id(conn), cause);
		free(cause);
		cause = NULL;
		ack = hl7_ack_raw(buf, len, "AE", "100", "message does not "
		    "parse as HL7 v2", NULL, NULL, &cause);
		free(cause);
		au.outcome = AUDIT_MINOR_FAILURE;
		pixfeed_finish(pf, conn, ack, "other", "-", peer->name, "-",
		    "rejected", "AE", &au);
		return;
	}
	pixfeed_log_safe(ctl, sizeof(ctl), hl7_control_id(msg));
	if (iti8_check(msg, conf->affinity_domain, &feed) == -1) {
		prob = iti8_first_error(&feed);
		snprintf(errcode, sizeof(errcode), "%d",
		    prob != NULL ? prob->code : 207);
		ack = hl7_ack(msg, "AE", errcode, prob != NULL ?
		    prob->message : "not a valid ITI-8 message", NULL, NULL,
		    &cause);
		free(cause);
		if (ack != NULL && prob != NULL)
			pixfeed_ack_location(ack, prob->location);
		ev = feed.event[0] != '\0' ? feed.event : "other";
		au.outcome = AUDIT_MINOR_FAILURE;
		au.action = pixfeed_action(ev);
		au.msh10 = hl7_control_id(msg);
		au.local = local = pixfeed_local(msg);
		au.patient = cx = pixfeed_cx(feed.patient_id, feed.domain);
		log_info("pixfeed listener=%s conn=%s control_id=%s "
		    "event=invalid errors=%zu code=%s location=%s", pf->name,
		    mllp_conn_id(conn), ctl, feed.nerrors, errcode,
		    prob != NULL && prob->location[0] != '\0' ?
		    prob->location : "-");
		pixfeed_finish(pf, conn, ack, ev, ctl, peer->name, "-",
		    "rejected", "AE", &au);
		free(local);
		free(cx);
		iti8_feed_clear(&feed);
		hl7_msg_free(msg);
		return;
	}

	r = xcalloc(1, sizeof(*r));
	r->pf = pf;
	r->conn = conn;
	r->msg = msg;
	snprintf(r->event, sizeof(r->event), "%s", feed.event);
	memcpy(r->control_id, ctl, sizeof(r->control_id));
	r->peer = xstrdup(peer->name);
	r->subject = id->subject != NULL ? xstrdup(id->subject) : NULL;
	r->local = pixfeed_local(msg);
	r->cx = pixfeed_cx(feed.patient_id, feed.domain);
	r->merge = feed.merge;
	if (feed.merge)
		r->prior_cx = pixfeed_cx(feed.prior_id, feed.domain);
	pixfeed_patient_hash(r->patient, feed.patient_id, feed.domain);
	values[0] = feed.patient_id;
	values[1] = feed.domain;
	values[2] = feed.prior_id;
	if (feed.merge)
		db_query(pf->db, pixfeed_merge_sql, 3, values, NULL, NULL, 0,
		    pixfeed_db_done, r);
	else
		db_query(pf->db, pixfeed_upsert_sql, 2, values, NULL, NULL, 0,
		    pixfeed_db_done, r);
	iti8_feed_clear(&feed);	/* db copied the values */
}

struct pixfeed *
pixfeed_new(struct ch *ch, struct db *db, const char *name, const char *addr,
    SSL_CTX *ctx, char **cause)
{
	static const char	*events[] = { "A01", "A04", "A05", "A08",
				    "A40" };
	struct pixfeed		*pf;
	size_t			 i;

	if (!pixfeed_metric_defined) {
		ch_metric_define(PIXFEED_METRIC, CH_METRIC_COUNTER,
		    "ITI-8 feed messages by trigger event and outcome.");
		for (i = 0; i < sizeof(events) / sizeof(events[0]); i++)
			pixfeed_count_zero(events[i]);
		pixfeed_metric_defined = 1;
	}
	pf = xcalloc(1, sizeof(*pf));
	pf->ch = ch;
	pf->db = db;
	pf->name = xstrdup(name);
	pf->srv = mllp_server_new(ch->base, addr, ctx, PIXFEED_MAX_MESSAGE,
	    (int)ch->conf->timeouts.io, pixfeed_message, pf, cause);
	if (pf->srv == NULL) {
		free(pf->name);
		free(pf);
		return (NULL);
	}
	/* limits.max_connections holds for every listener, as for XDS. */
	mllp_server_max_conns(pf->srv,
	    (unsigned int)ch->conf->limits.max_connections);
	log_info("pixfeed listener=%s listening addr=%s port=%d", name, addr,
	    mllp_server_port(pf->srv));
	return (pf);
}

int
pixfeed_port(struct pixfeed *pf)
{
	return (mllp_server_port(pf->srv));
}

void
pixfeed_stop(struct pixfeed *pf)
{
	if (pf != NULL)
		mllp_server_stop(pf->srv);
}

void
pixfeed_free(struct pixfeed *pf)
{
	if (pf == NULL)
		return;
	mllp_server_free(pf->srv);
	free(pf->name);
	free(pf);
}
