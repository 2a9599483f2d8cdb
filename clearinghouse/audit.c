/*
 * audit.c: IHE ATNA audit records.  See audit.h and docs/design/audit.md.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/time.h>

#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "dbuf.h"
#include "xdsmsg.h"
#include "xml.h"
#include "xmalloc.h"

/* PRI: facility 10 (security/authorization, authpriv) x 8 + notice. */
#define AUDIT_PRI	85
#define AUDIT_MSGID	"IHE+RFC-3881"

struct audit {
	char	*source_id;
	char	*site_id;
	char	*hostname;	/* already a valid RFC 5424 field */
	char	*app_name;	/* idem */
	char	*file;
	int	 fd;		/* -1: syslog(3) */
};

struct kind_info {
	const char	*event_code;
	const char	*event_text;
	const char	*txn;
	const char	*txn_text;
	char		 action;
	int		 local_is_source;	/* else the peer is */
	int		 local_requests;	/* else the peer requests */
	const char	*txn_system;	/* NULL: "IHE Transactions" */
};

static const struct kind_info kinds[] = {
	[AUDIT_PATIENT_RECORD] = { "110110", "Patient Record", "ITI-8",
	    "Patient Identity Feed", 'C', 0, 0, NULL },
	[AUDIT_IMPORT] = { "110107", "Import", "ITI-41",
	    "Provide and Register Document Set-b", 'C', 0, 0, NULL },
	[AUDIT_EXPORT_ITI41] = { "110106", "Export", "ITI-41",
	    "Provide and Register Document Set-b", 'R', 1, 1, NULL },
	[AUDIT_QUERY] = { "110112", "Query", "ITI-18",
	    "Registry Stored Query", 'E', 0, 0, NULL },
	[AUDIT_RETRIEVE] = { "110106", "Export", "ITI-43",
	    "Retrieve Document Set", 'R', 1, 0, NULL },
	[AUDIT_RETRIEVE_IMAGING] = { "110104", "DICOM Instances Transferred",
	    "RAD-69", "Retrieve Imaging Document Set", 'R', 1, 0, NULL },
	/* DICOM PS3.15 A.5.3.11: the refused peer is the requestor. */
	[AUDIT_SECURITY_ALERT] = { "110113", "Security Alert", "110132",
	    "Use of Restricted Function", 'E', 0, 0, "DCM" },
};

/* A writer with a sticky overflow flag. */
struct w {
	struct dbuf	*b;
	int		 err;
};

static void
w_str(struct w *w, const char *s)
{
	if (dbuf_addstr(w->b, s) == -1)
		w->err = 1;
}

static void
w_esc(struct w *w, const char *s)
{
	char	*c = xstrdup(s);

	xml_sanitize(c);
	if (xml_escape_value(w->b, c) == -1)
		w->err = 1;
	free(c);
}

static void
w_attr(struct w *w, const char *name, const char *v)
{
	if (v == NULL)
		return;
	w_str(w, " ");
	w_str(w, name);
	w_str(w, "=\"");
	w_esc(w, v);
	w_str(w, "\"");
}

static void
w_b64(struct w *w, const void *p, size_t len)
{
	if (xdsmsg_base64_encode(w->b, p, len) == -1)
		w->err = 1;
}

static void
w_code(struct w *w, const char *elem, const char *code, const char *sys,
    const char *text)
{
	w_str(w, "<");
	w_str(w, elem);
	w_attr(w, "csd-code", code);
	w_attr(w, "codeSystemName", sys);
	w_attr(w, "originalText", text);
	w_str(w, "/>");
}

/* <ParticipantObjectDetail type="t" value="base64(v)"/> */
static void
w_detail(struct w *w, const char *type, const char *v)
{
	if (v == NULL)
		return;
	w_str(w, "<ParticipantObjectDetail");
	w_attr(w, "type", type);
	w_str(w, " value=\"");
	w_b64(w, v, strlen(v));
	w_str(w, "\"/>");
}

static void
fmt_time(char *buf, size_t len, const struct timeval *tv)
{
	struct tm	tm;
	time_t		t = tv->tv_sec;

	gmtime_r(&t, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(tv->tv_usec / 1000));
}

static const char *
nap_type(const char *addr)
{
	unsigned char	buf[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, addr, buf) == 1 ||
	    inet_pton(AF_INET6, addr, buf) == 1)
		return ("2");	/* IP address */
	return ("1");		/* machine name */
}

static void
w_participant(struct w *w, const char *user, const char *addr,
    int requestor, int source)
{
	w_str(w, "<ActiveParticipant");
	w_attr(w, "UserID", user != NULL ? user : "unknown");
	w_attr(w, "UserIsRequestor", requestor ? "true" : "false");
	if (addr != NULL) {
		w_attr(w, "NetworkAccessPointID", addr);
		w_attr(w, "NetworkAccessPointTypeCode", nap_type(addr));
	}
	w_str(w, ">");
	if (source)
		w_code(w, "RoleIDCode", "110153", "DCM", "Source Role ID");
	else
		w_code(w, "RoleIDCode", "110152", "DCM",
		    "Destination Role ID");
	w_str(w, "</ActiveParticipant>");
}

static void
w_object_open(struct w *w, const char *id, const char *type,
    const char *role)
{
	w_str(w, "<ParticipantObjectIdentification");
	w_attr(w, "ParticipantObjectID", id);
	w_attr(w, "ParticipantObjectTypeCode", type);
	w_attr(w, "ParticipantObjectTypeCodeRole", role);
	w_str(w, ">");
}

int
audit_xml(struct dbuf *b, const struct audit *a,
    const struct audit_event *ev, char **cause)
{
	const struct kind_info	*k;
	struct w		 w = { b, 0 };
	struct timeval		 tv = ev->when;
	char			 when[96], action[2], outcome[8];
	size_t			 i, qlen;

	if ((unsigned)ev->kind >= sizeof(kinds) / sizeof(kinds[0])) {
		xcause(cause, "unknown audit event kind %d", (int)ev->kind);
		return (-1);
	}
	if (ev->outcome != 0 && ev->outcome != 4 && ev->outcome != 8 &&
	    ev->outcome != 12) {
		xcause(cause, "bad audit outcome %d", ev->outcome);
		return (-1);
	}
	k = &kinds[ev->kind];
	action[0] = ev->action != 0 ? ev->action : k->action;
	action[1] = '\0';
	if (strchr("CRUDE", action[0]) == NULL) {
		xcause(cause, "bad audit action code");
		return (-1);
	}
	if (tv.tv_sec == 0 && tv.tv_usec == 0)
		gettimeofday(&tv, NULL);
	fmt_time(when, sizeof(when), &tv);
	snprintf(outcome, sizeof(outcome), "%d", ev->outcome);

	w_str(&w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><AuditMessage>");
	w_str(&w, "<EventIdentification");
	w_attr(&w, "EventActionCode", action);
	w_attr(&w, "EventDateTime", when);
	w_attr(&w, "EventOutcomeIndicator", outcome);
	w_str(&w, ">");
	w_code(&w, "EventID", k->event_code, "DCM", k->event_text);
	w_code(&w, "EventTypeCode", k->txn, k->txn_system != NULL ?
	    k->txn_system : "IHE Transactions", k->txn_text);
	w_str(&w, "</EventIdentification>");

	/* Source first, then destination. */
	if (k->local_is_source) {
		w_participant(&w, ev->local_user, ev->local_addr,
		    k->local_requests, 1);
		w_participant(&w, ev->peer_user, ev->peer_addr,
		    !k->local_requests, 0);
	} else {
		w_participant(&w, ev->peer_user, ev->peer_addr,
		    !k->local_requests, 1);
		w_participant(&w, ev->local_user, ev->local_addr,
		    k->local_requests, 0);
	}

	w_str(&w, "<AuditSourceIdentification");
	w_attr(&w, "AuditEnterpriseSiteID", a->site_id);
	w_attr(&w, "AuditSourceID", a->source_id);
	w_str(&w, ">");
	w_code(&w, "AuditSourceTypeCode", "4", "DCM", "Application Server");
	w_str(&w, "</AuditSourceIdentification>");

	if (ev->patient_id != NULL) {
		w_object_open(&w, ev->patient_id, "1", "1");
		w_code(&w, "ParticipantObjectIDTypeCode", "2", "RFC-3881",
		    "Patient Number");
		if (ev->kind == AUDIT_PATIENT_RECORD)
			w_detail(&w, "MSH-10", ev->msh10);
		w_str(&w, "</ParticipantObjectIdentification>");
	}
	if (ev->submission_set_uid != NULL && (ev->kind == AUDIT_IMPORT ||
	    ev->kind == AUDIT_EXPORT_ITI41)) {
		w_object_open(&w, ev->submission_set_uid, "2", "20");
		w_code(&w, "ParticipantObjectIDTypeCode",
		    "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd",
		    "IHE XDS Metadata", "submission set classificationNode");
		w_str(&w, "</ParticipantObjectIdentification>");
	}
	if (ev->kind == AUDIT_QUERY) {
		w_object_open(&w, ev->query_id != NULL ? ev->query_id : "",
		    "2", "24");
		w_code(&w, "ParticipantObjectIDTypeCode", "ITI-18",
		    "IHE Transactions", "Registry Stored Query");
		w_str(&w, "<ParticipantObjectQuery>");
		qlen = ev->query_len;
		if (qlen > AUDIT_MAX_QUERY)
			qlen = AUDIT_MAX_QUERY;
		if (ev->query != NULL)
			w_b64(&w, ev->query, qlen);
		w_str(&w, "</ParticipantObjectQuery>");
		w_detail(&w, "QueryEncoding", "UTF-8");
		if (qlen < ev->query_len)
			w_detail(&w, "Truncated", "true");
		w_str(&w, "</ParticipantObjectIdentification>");
	}
	if (ev->kind == AUDIT_RETRIEVE) {
		for (i = 0; i < ev->ndocs; i++) {
			w_object_open(&w, ev->docs[i].unique_id, "2", "3");
			w_code(&w, "ParticipantObjectIDTypeCode", "9",
			    "RFC-3881", "Report Number");
			w_detail(&w, "Repository Unique Id",
			    ev->docs[i].repository_uid);
			w_detail(&w, "ihe:homeCommunityID",
			    ev->docs[i].home_community_id);
			w_str(&w, "</ParticipantObjectIdentification>");
		}
	}
	if (ev->kind == AUDIT_RETRIEVE_IMAGING) {
		for (i = 0; i < ev->nstudies; i++) {
			w_object_open(&w, ev->studies[i], "2", "3");
			w_code(&w, "ParticipantObjectIDTypeCode", "110180",
			    "DCM", "Study Instance UID");
			w_str(&w, "</ParticipantObjectIdentification>");
		}
	}
	if (ev->kind == AUDIT_SECURITY_ALERT) {
		/* The alert subject: a security resource, named by its URI. */
		w_object_open(&w, ev->alert_uri != NULL ? ev->alert_uri : "",
		    "2", "13");
		w_code(&w, "ParticipantObjectIDTypeCode", "12", "RFC-3881",
		    "URI");
		w_detail(&w, "Alert Description", ev->alert);
		w_str(&w, "</ParticipantObjectIdentification>");
	}
	w_str(&w, "</AuditMessage>");
	if (w.err) {
		xcause(cause, "audit message longer than %u bytes",
		    (unsigned)AUDIT_MAX_MESSAGE);
		return (-1);
	}
	return (0);
}

/* An RFC 5424 header field: printable US-ASCII, at most max, or "-". */
static char *
header_field(const char *s, size_t max)
{
	char	*f;
	size_t	 i, n;

	if (s == NULL || *s == '\0')
		return (xstrdup("-"));
	n = strlen(s);
	if (n > max)
		n = max;
	f = xstrndup(s, n);
	for (i = 0; i < n; i++)
		if ((unsigned char)f[i] < 33 || (unsigned char)f[i] > 126)
			f[i] = '_';
	return (f);
}

int
audit_line(struct dbuf *b, const struct audit *a,
    const struct audit_event *ev, char **cause)
{
	struct audit_event	 e = *ev;
	char			 when[96];

	if (e.when.tv_sec == 0 && e.when.tv_usec == 0)
		gettimeofday(&e.when, NULL);
	fmt_time(when, sizeof(when), &e.when);
	/* <PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD BOM MSG */
	if (dbuf_printf(b, "<%d>1 %s %s %s %ld %s - \xef\xbb\xbf", AUDIT_PRI,
	    when, a->hostname, a->app_name, (long)getpid(), AUDIT_MSGID) ==
	    -1) {
		xcause(cause, "audit message too long");
		return (-1);
	}
	return (audit_xml(b, a, &e, cause));
}

static int
audit_openfile(struct audit *a, char **cause)
{
	int	fd;

	fd = open(a->file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOCTTY, 0600);
	if (fd == -1) {
		xcause(cause, "could not open audit file %s: %s", a->file,
		    strerror(errno));
		return (-1);
	}
	if (a->fd != -1)
		close(a->fd);
	a->fd = fd;
	return (0);
}

struct audit *
audit_open(const struct audit_settings *set, char **cause)
{
	struct audit	*a;
	char		 host[256];

	a = xcalloc(1, sizeof(*a));
	a->fd = -1;
	if (set->hostname != NULL)
		strlcpy(host, set->hostname, sizeof(host));
	else if (gethostname(host, sizeof(host)) == -1)
		strlcpy(host, "-", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	a->hostname = header_field(host, 255);
	a->app_name = header_field(set->app_name != NULL ? set->app_name :
	    "isn-clearinghouse", 48);
	a->source_id = xstrdup(set->source_id != NULL ? set->source_id :
	    host);
	a->site_id = set->site_id != NULL ? xstrdup(set->site_id) : NULL;
	if (set->file != NULL) {
		a->file = xstrdup(set->file);
		if (audit_openfile(a, cause) == -1) {
			audit_close(a);
			return (NULL);
		}
	}
	return (a);
}

int
audit_reopen(struct audit *a, char **cause)
{
	if (a->file == NULL)
		return (0);
	return (audit_openfile(a, cause));
}

void
audit_close(struct audit *a)
{
	if (a == NULL)
		return;
	if (a->fd != -1)
		close(a->fd);
	free(a->source_id);
	free(a->site_id);
	free(a->hostname);
	free(a->app_name);
	free(a->file);
	free(a);
}

int
audit_log(struct audit *a, const struct audit_event *ev, char **cause)
{
	struct dbuf	 b;
	ssize_t		 n;
	size_t		 off = 0;
	int		 rc = 0;

	dbuf_init(&b, AUDIT_MAX_MESSAGE);
	if (a->fd == -1) {
		/* syslog(3) writes its own header: only the MSG. */
		if (dbuf_addstr(&b, "\xef\xbb\xbf") == -1 ||
		    audit_xml(&b, a, ev, cause) == -1) {
			dbuf_free(&b);
			return (-1);
		}
		syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s", dbuf_str(&b));
		dbuf_free(&b);
		return (0);
	}
	if (audit_line(&b, a, ev, cause) == -1 || dbuf_addc(&b, '\n') == -1) {
		if (*cause == NULL)
			xcause(cause, "audit message too long");
		dbuf_free(&b);
		return (-1);
	}
	/* One write(2) per line: O_APPEND keeps concurrent lines whole. */
	while (off < b.len) {
		n = write(a->fd, b.data + off, b.len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xcause(cause, "could not write audit file %s: %s",
			    a->file, strerror(errno));
			rc = -1;
			break;
		}
		off += (size_t)n;
	}
	dbuf_free(&b);
	return (rc);
}
