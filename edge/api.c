/*
 * api.c: the edge's staff JSON API (docs/design/api.md).
 *
 * One httpd route ("/api"); each request is a struct api_q that lives
 * from the head to the later of the request's fini and its outstanding
 * database callback or key derivation (q->req is NULL once the request is
 * gone: the callback then only releases q and never touches the api).
 * Lists are built as JSON by PostgreSQL itself (one row, one value); the
 * job-set reply, which carries the token once, is built here.
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "api.h"
#include "db.h"
#include "dbuf.h"
#include "httpd.h"
#include "keywrap.h"
#include "log.h"
#include "rsnaid.h"
#include "xmalloc.h"

#define API_TOKENS_MAX		1000
#define API_TOKEN_MIN		16
#define API_USER_MAX		64
#define API_Q_MAX		100	/* search text */

/* A timestamptz as UTC ISO 8601. */
#define UTC(x)	"to_char((" x ") AT TIME ZONE 'UTC', " \
		"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

enum api_route {
	R_PATIENTS,		/* GET /api/patients?q= */
	R_PATIENT_EXAMS,	/* GET /api/patients/ID/exams */
	R_JOBSETS,		/* POST /api/job-sets */
	R_JOBS,			/* GET /api/jobs */
	R_JOB,			/* GET /api/jobs/ID */
	R_JOB_RETRY,		/* POST /api/jobs/ID/retry */
	R_JOB_CANCEL,		/* POST /api/jobs/ID/cancel */
	R_IMPORT_LOOKUP,	/* POST /api/imports/lookup */
	R_IMPORTS,		/* GET (list) or POST (new) /api/imports */
	R_IMPORT,		/* GET /api/imports/ID */
	R_IMPORT_RETRY,		/* POST /api/imports/ID/retry */
	R_IMPORT_CANCEL		/* POST /api/imports/ID/cancel */
};
static const char *const api_route_names[] = { "patients", "patient-exams",
	"job-sets", "jobs", "job", "job-retry", "job-cancel", "import-lookup",
	"imports", "import", "import-retry", "import-cancel" };

struct api_user {
	char		*name;
	uint8_t		 hash[32];	/* SHA-256 of the token */
};

struct api_q;

struct api {
	struct event_base	*base;
	struct db		*db;
	struct httpd		*httpd;
	struct api_user		*users;
	size_t			 nusers;
	uint8_t			 kek[KEYWRAP_KEY_LEN];
	char			*oid;
	char			*site;
	int			 delay_hours;
	enum rsnaid_scheme	 scheme;
	int			 retries;
	size_t			 max_body;
	int			 max_derive;
	int			 nderive;
	struct api_q		*derives;	/* threads running */
	struct api_import_ops	 iops;		/* iops.imp NULL: none */
	struct api_job_ops	 jops;		/* jops.jobs NULL: none */
};

struct api_q {
	struct api		*api;		/* never used once req is NULL */
	struct httpd_req	*req;		/* NULL: the request is gone */
	char			 id[LOG_ID_LEN];
	enum api_route		 route;
	long long		 oid;		/* the path's ID */
	char			*user;
	struct dbuf		 body;
	int			 replied;
	int			 pending;	/* db callback or thread */

	/* POST /api/job-sets */
	struct api_jobset	 js;
	enum rsnaid_scheme	 scheme;
	int			 delay_hours;
	int			 retries;
	uint8_t			 kek[KEYWRAP_KEY_LEN];
	char			*site;
	char			*affinity;
	pthread_t		 thread;
	int			 fds[2];
	struct event		*ev;
	int			 derive_rv;
	char			 token[RSNAID_TOKEN_LEN + 1];
	char			 rsna_id[RSNAID_ID_MAX + 1];
	uint8_t			 wrapped[KEYWRAP_LEN];
	struct db_txn		*txn;
	json_t			*jobs;
	long long		 set_id;
	struct api_q		*next;

	/* /api/imports */
	struct api_import_body	 ib;
};

static void	api_q_free(struct api_q *);

/* --- tokens --------------------------------------------------------- */

static void
api_hash(const char *s, size_t len, uint8_t out[32])
{
	unsigned int	n = 32;

	if (EVP_Digest(s, len, out, &n, EVP_sha256(), NULL) != 1)
		fatalx("%s: EVP_Digest failed", __func__);
}

static void
api_users_free(struct api_user *u, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(u[i].name);
	free(u);
}

static int
api_user_valid(const char *s)
{
	size_t	n = 0;

	for (; *s != '\0'; s++, n++)
		if (!isalnum((unsigned char)*s) && strchr("._@-", *s) == NULL)
			return (0);
	return (n > 0 && n <= API_USER_MAX);
}

/* "user token" lines; '#' comments and blank lines are skipped. */
static int
api_tokens_load(const char *path, struct api_user **usersp, size_t *np,
    char **cause)
{
	FILE		*f;
	struct stat	 st;
	struct api_user	*u = NULL;
	size_t		 n = 0, i;
	char		 line[1024], *user, *tok, *rest, *save;
	unsigned	 lineno = 0;

	if (path == NULL) {
		xcause(cause, "no tokens file");
		return (-1);
	}
	if ((f = fopen(path, "r")) == NULL) {
		xcause(cause, "%s: %s", path, strerror(errno));
		return (-1);
	}
	if (fstat(fileno(f), &st) == -1 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 077) != 0) {
		xcause(cause, "%s: not a regular file of mode 0600 or 0400",
		    path);
		goto fail;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			xcause(cause, "%s:%u: line too long", path, lineno);
			goto fail;
		}
		user = strtok_r(line, " \t\r\n", &save);
		if (user == NULL || *user == '#')
			continue;
		tok = strtok_r(NULL, " \t\r\n", &save);
		rest = strtok_r(NULL, " \t\r\n", &save);
		if (tok == NULL || rest != NULL) {
			xcause(cause, "%s:%u: expected \"user token\"", path,
			    lineno);
			goto fail;
		}
		if (!api_user_valid(user)) {
			xcause(cause, "%s:%u: bad user name", path, lineno);
			goto fail;
		}
		if (strlen(tok) < API_TOKEN_MIN) {
			xcause(cause, "%s:%u: token shorter than %d characters",
			    path, lineno, API_TOKEN_MIN);
			goto fail;
		}
		if (n == API_TOKENS_MAX) {
			xcause(cause, "%s: more than %d tokens", path,
			    API_TOKENS_MAX);
			goto fail;
		}
		u = xreallocarray(u, n + 1, sizeof(*u));
		u[n].name = xstrdup(user);
		api_hash(tok, strlen(tok), u[n].hash);
		explicit_bzero(line, sizeof(line));
		for (i = 0; i < n; i++) {
			if (strcmp(u[i].name, u[n].name) == 0 ||
			    memcmp(u[i].hash, u[n].hash, 32) == 0) {
				xcause(cause, "%s:%u: user or token repeated",
				    path, lineno);
				n++;
				goto fail;
			}
		}
		n++;
	}
	explicit_bzero(line, sizeof(line));
	if (ferror(f)) {
		xcause(cause, "%s: read error", path);
		goto fail;
	}
	fclose(f);
	if (n == 0) {
		xcause(cause, "%s: no tokens", path);
		free(u);
		return (-1);
	}
	*usersp = u;
	*np = n;
	return (0);
fail:
	explicit_bzero(line, sizeof(line));
	fclose(f);
	api_users_free(u, n);
	return (-1);
}

/* The user of a bearer token, compared in constant time over all. */
static const char *
api_auth(struct api *a, const char *hdr)
{
	uint8_t		 h[32];
	const char	*who = NULL;
	size_t		 i;

	if (hdr == NULL || strncasecmp(hdr, "Bearer ", 7) != 0)
		return (NULL);
	hdr += 7;
	while (*hdr == ' ')
		hdr++;
	api_hash(hdr, strlen(hdr), h);
	for (i = 0; i < a->nusers; i++)
		if (CRYPTO_memcmp(h, a->users[i].hash, 32) == 0)
			who = a->users[i].name;
	return (who);
}

/* --- parsing (pure: tests and fuzz/api-fuzzer) ------------------------ */

static int
api_hex(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	return (-1);
}

int
api_urldecode(const char *s, size_t len, char **out)
{
	char	*o;
	size_t	 i, n = 0;
	int	 h, l;

	o = xmalloc(len + 1);
	for (i = 0; i < len; i++) {
		if (s[i] == '+')
			o[n++] = ' ';
		else if (s[i] == '%') {
			if (i + 2 >= len || (h = api_hex(s[i + 1])) == -1 ||
			    (l = api_hex(s[i + 2])) == -1 || (h == 0 && l == 0))
				goto bad;
			o[n++] = (char)(h << 4 | l);
			i += 2;
		} else if (s[i] == '\0')
			goto bad;
		else
			o[n++] = s[i];
	}
	o[n] = '\0';
	*out = o;
	return (0);
bad:
	free(o);
	return (-1);
}

static int
api_parse_id(const char *s, size_t len, long long *out)
{
	long long	v = 0;
	size_t		i;

	if (len == 0 || len > 18 || s[0] == '0')
		return (-1);
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return (0);
}

static const char *
api_str(json_t *o, const char *key, size_t max, int *bad)
{
	json_t		*v = json_object_get(o, key);
	const char	*s;

	if (v == NULL || json_is_null(v))
		return (NULL);
	if (!json_is_string(v) || (s = json_string_value(v)) == NULL ||
	    *s == '\0' || json_string_length(v) > max ||
	    strlen(s) != json_string_length(v)) {
		*bad = 1;
		return (NULL);
	}
	return (s);
}

/* Zero a string inside a jansson value before it is freed. */
static void
api_json_wipe(json_t *v)
{
	if (v != NULL && json_is_string(v))
		explicit_bzero((void *)(uintptr_t)json_string_value(v),
		    json_string_length(v));
}

void
api_jobset_clear(struct api_jobset *js)
{
	free(js->site);
	free(js->urgency);
	free(js->scheme);
	if (js->password != NULL)
		freezero(js->password, strlen(js->password));
	explicit_bzero(js, sizeof(*js));
}

static int
api_jobset_fields(json_t *o, struct api_jobset *js, char **cause)
{
	static const char *const known[] = { "patient", "exams",
	    "destination", "site", "urgency", "delay_hours", "scheme", "dob",
	    "password", NULL };
	const char	*key, *s, *u;
	json_t		*v, *e;
	size_t		 i, j;
	int		 bad = 0;

	json_object_foreach(o, key, v) {
		for (i = 0; known[i] != NULL; i++)
			if (strcmp(key, known[i]) == 0)
				break;
		if (known[i] == NULL) {
			xcause(cause, "unknown member \"%.40s\"", key);
			return (-1);
		}
	}
	v = json_object_get(o, "patient");
	if (!json_is_integer(v) || json_integer_value(v) <= 0) {
		xcause(cause, "patient: a positive integer is required");
		return (-1);
	}
	js->patient = json_integer_value(v);
	v = json_object_get(o, "exams");
	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > API_MAX_EXAMS) {
		xcause(cause, "exams: an array of 1 to %d exam ids is required",
		    API_MAX_EXAMS);
		return (-1);
	}
	json_array_foreach(v, i, e) {
		if (!json_is_integer(e) || json_integer_value(e) <= 0) {
			xcause(cause, "exams: ids are positive integers");
			return (-1);
		}
		js->exams[i] = json_integer_value(e);
		for (j = 0; j < i; j++)
			if (js->exams[j] == js->exams[i]) {
				xcause(cause, "exams: %lld repeated",
				    js->exams[i]);
				return (-1);
			}
		js->nexams = i + 1;
	}
	s = api_str(o, "destination", 16, &bad);
	if (s == NULL || (strcmp(s, "patient") != 0 &&
	    strcmp(s, "site") != 0)) {
		xcause(cause, "destination: \"patient\" or \"site\"");
		return (-1);
	}
	js->to_site = strcmp(s, "site") == 0;
	s = api_str(o, "site", 128, &bad);
	if (bad || (js->to_site && s == NULL) || (!js->to_site && s != NULL)) {
		xcause(cause, "site: a name (up to 128 bytes) is required with "
		    "destination \"site\" and refused otherwise");
		return (-1);
	}
	if (s != NULL)
		js->site = xstrdup(s);
	u = api_str(o, "urgency", 16, &bad);
	if (u == NULL && !bad)
		u = "routine";
	if (bad || (strcmp(u, "routine") != 0 && strcmp(u, "final") != 0 &&
	    strcmp(u, "immediate") != 0)) {
		xcause(cause, "urgency: \"routine\", \"final\" or "
		    "\"immediate\"");
		return (-1);
	}
	js->urgency = xstrdup(u);
	js->delay_hours = -1;
	if ((v = json_object_get(o, "delay_hours")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 24 * 366) {
			xcause(cause, "delay_hours: an integer from 0 to %d",
			    24 * 366);
			return (-1);
		}
		js->delay_hours = (int)json_integer_value(v);
	}
	s = api_str(o, "scheme", 16, &bad);
	if (bad || (s != NULL && strcmp(s, "isn2") != 0 &&
	    strcmp(s, "rsna-token") != 0)) {
		xcause(cause, "scheme: \"isn2\" or \"rsna-token\"");
		return (-1);
	}
	if (s != NULL)
		js->scheme = xstrdup(s);
	s = api_str(o, "dob", 10, &bad);
	if (s == NULL || rsnaid_dob_parse(s, js->dob, NULL) == -1) {
		xcause(cause, "dob: YYYY-MM-DD is required");
		return (-1);
	}
	s = api_str(o, "password", RSNAID_PASSWORD_MAX, &bad);
	if (s == NULL) {
		xcause(cause, "password: a non-empty string of at most %d "
		    "bytes is required", RSNAID_PASSWORD_MAX);
		return (-1);
	}
	js->password = xstrdup(s);
	return (0);
}

int
api_jobset_parse(const char *buf, size_t len, struct api_jobset *js,
    char **cause)
{
	json_t		*o;
	json_error_t	 err;
	int		 rv;

	memset(js, 0, sizeof(*js));
	o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	if (o == NULL) {
		xcause(cause, "malformed JSON at line %d column %d", err.line,
		    err.column);
		return (-1);
	}
	if (!json_is_object(o)) {
		json_decref(o);
		xcause(cause, "a JSON object is expected");
		return (-1);
	}
	rv = api_jobset_fields(o, js, cause);
	api_json_wipe(json_object_get(o, "password"));
	json_decref(o);
	if (rv == -1)
		api_jobset_clear(js);
	return (rv);
}

/* --- replies --------------------------------------------------------- */

static void
api_reply(struct api_q *q, int status, const char *json, size_t len,
    const char *hname, const char *hvalue)
{
	struct httpd_hdr	h[4];
	size_t			n = 0;

	if (q->req == NULL || q->replied)
		return;
	q->replied = 1;
	h[n].name = "Content-Type";
	h[n++].value = "application/json";
	h[n].name = "Cache-Control";
	h[n++].value = "no-store";
	if (hname != NULL) {
		h[n].name = hname;
		h[n++].value = hvalue;
	}
	h[n].name = NULL;
	h[n].value = NULL;
	if (httpd_reply_start(q->req, status, h, (int64_t)len) == -1 ||
	    httpd_reply_chunk(q->req, json, len) == -1 ||
	    httpd_reply_end(q->req) == -1) {
		log_warnx("api reply-failed req=%s status=%d", q->id, status);
		return;
	}
	log_info("api request req=%s method=%s route=%s status=%d", q->id,
	    httpd_req_method(q->req), q->route <= R_IMPORT_CANCEL ?
	    api_route_names[q->route] : "?", status);
}

static void printflike(4, 5)
api_error_hdr(struct api_q *q, int status, const char *hdr,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*msg, *out;
	json_t	*o;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	o = json_pack("{s:s}", "error", msg);
	if (o == NULL || (out = json_dumps(o, JSON_COMPACT)) == NULL)
		fatalx("%s: out of memory", __func__);
	if (status == 401)
		api_reply(q, status, out, strlen(out), "WWW-Authenticate",
		    hdr);
	else if (status == 405)
		api_reply(q, status, out, strlen(out), "Allow", hdr);
	else if (status == 503)
		api_reply(q, status, out, strlen(out), "Retry-After", "1");
	else
		api_reply(q, status, out, strlen(out), NULL, NULL);
	free(out);
	json_decref(o);
	free(msg);
}
#define api_error(q, status, ...) api_error_hdr(q, status, NULL, __VA_ARGS__)

/* A failed statement: 500, the cause (no row data, db.h) in the log. */
static void
api_db_error(struct api_q *q, const char *cause)
{
	log_warnx("api db-error req=%s route=%s cause=\"%s\"", q->id,
	    api_route_names[q->route], cause);
	api_error(q, 500, "database error");
}

/* A one-row, one-JSON-value result: the reply, or 404 with none. */
static void
api_json_cb(PGresult *res, const char *cause, void *arg)
{
	struct api_q	*q = arg;
	const char	*v;

	q->pending = 0;
	if (q->req == NULL) {
		api_q_free(q);
		return;
	}
	if (cause != NULL)
		api_db_error(q, cause);
	else if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
		api_error(q, 404, "%s not found", q->route == R_PATIENT_EXAMS ?
		    "patient" : q->route >= R_IMPORT_LOOKUP ? "import" :
		    "job");
	else {
		v = PQgetvalue(res, 0, 0);
		api_reply(q, 200, v, strlen(v), NULL, NULL);
	}
}

static void
api_query(struct api_q *q, const char *sql, int n, const char *const *v,
    db_cb cb)
{
	q->pending = 1;
	db_query_prepared(q->api->db, sql, n, v, NULL, NULL, 0, cb, q);
}

/* --- GET ------------------------------------------------------------- */

/* Query parameters: name=value pairs, each name at most once. */
static int
api_params(struct api_q *q, const char *const *names, char **values)
{
	const char	*t, *p, *amp, *eq;
	char		*name;
	size_t		 i;

	t = strchr(httpd_req_target(q->req), '?');
	for (p = t != NULL ? t + 1 : NULL; p != NULL && *p != '\0';
	    p = amp != NULL ? amp + 1 : NULL) {
		amp = strchr(p, '&');
		eq = memchr(p, '=', amp != NULL ? (size_t)(amp - p) :
		    strlen(p));
		if (eq == NULL || api_urldecode(p, eq - p, &name) == -1) {
			api_error(q, 400, "bad query string");
			return (-1);
		}
		for (i = 0; names[i] != NULL; i++)
			if (strcmp(name, names[i]) == 0)
				break;
		free(name);
		if (names[i] == NULL || values[i] != NULL) {
			api_error(q, 400, "unknown or repeated query "
			    "parameter");
			return (-1);
		}
		if (api_urldecode(eq + 1, amp != NULL ? (size_t)(amp - eq - 1) :
		    strlen(eq + 1), &values[i]) == -1) {
			api_error(q, 400, "bad query string");
			return (-1);
		}
	}
	return (0);
}

static const char api_sql_patients[] =
    "SELECT json_build_object('patients', coalesce(json_agg(x), '[]'))"
    " FROM (SELECT p.id, p.mrn, p.authority, p.family_name, p.given_name,"
    " p.middle_name, to_char(p.birth_date, 'YYYY-MM-DD') AS birth_date,"
    " p.sex, (SELECT coalesce(json_agg(json_build_object('id', e.id,"
    " 'accession', e.accession, 'description', e.description,"
    " 'modality', e.modality, 'status', s.status, 'status_time', "
    UTC("s.status_time") ") ORDER BY e.id), '[]') FROM exams e"
    " LEFT JOIN LATERAL (SELECT status, status_time FROM exam_status"
    " WHERE exam_id = e.id ORDER BY id DESC LIMIT 1) s ON true"
    " WHERE e.patient_id = p.id AND e.merged_into IS NULL) AS exams"
    " FROM patients p WHERE p.merged_into IS NULL AND"
    " (lower(p.mrn) LIKE $1 OR lower(p.family_name) LIKE $1 OR"
    " lower(p.given_name) LIKE $1)"
    " ORDER BY lower(p.family_name), lower(p.given_name), p.id"
    " LIMIT 50) x";

static void
api_patients(struct api_q *q)
{
	static const char *const names[] = { "q", NULL };
	char		*v[2] = { NULL, NULL };
	struct dbuf	 pat;
	const char	*p, *params[1];

	if (api_params(q, names, v) == -1)
		goto out;
	if (v[0] == NULL || *v[0] == '\0' || strlen(v[0]) > API_Q_MAX) {
		api_error(q, 400, "q: 1 to %d characters are required",
		    API_Q_MAX);
		goto out;
	}
	/* A LIKE prefix: the text's wildcards taken literally. */
	dbuf_init(&pat, SIZE_MAX);
	for (p = v[0]; *p != '\0'; p++) {
		if (*p == '%' || *p == '_' || *p == '\\')
			dbuf_addc(&pat, '\\');
		dbuf_addc(&pat, (char)tolower((unsigned char)*p));
	}
	dbuf_addc(&pat, '%');
	params[0] = dbuf_str(&pat);
	api_query(q, api_sql_patients, 1, params, api_json_cb);
	dbuf_free(&pat);
out:
	free(v[0]);
}

static const char api_sql_exams[] =
    "SELECT json_build_object('patient', json_build_object('id', p.id,"
    " 'mrn', p.mrn, 'authority', p.authority, 'family_name', p.family_name,"
    " 'given_name', p.given_name, 'middle_name', p.middle_name,"
    " 'birth_date', to_char(p.birth_date, 'YYYY-MM-DD'), 'sex', p.sex,"
    " 'merged_into', p.merged_into), 'exams',"
    " (SELECT coalesce(json_agg(json_build_object('id', e.id,"
    " 'accession', e.accession, 'description', e.description,"
    " 'modality', e.modality, 'status', s.status, 'status_time', "
    UTC("s.status_time") ", 'history', (SELECT json_agg(json_build_object("
    "'status', h.status, 'raw', h.status_raw, 'field', h.status_field,"
    " 'time', " UTC("h.status_time") ", 'received', " UTC("h.received")
    ", 'report', h.report_text IS NOT NULL) ORDER BY h.id)"
    " FROM exam_status h WHERE h.exam_id = e.id)) ORDER BY e.id), '[]')"
    " FROM exams e LEFT JOIN LATERAL (SELECT status, status_time"
    " FROM exam_status WHERE exam_id = e.id ORDER BY id DESC LIMIT 1) s"
    " ON true WHERE e.patient_id = p.id AND e.merged_into IS NULL))"
    " FROM patients p WHERE p.id = $1";

/* A statement whose one parameter is the id in the request's path. */
static void
api_by_id(struct api_q *q, const char *sql)
{
	char		 id[32];
	const char	*params[1] = { id };

	snprintf(id, sizeof(id), "%lld", q->oid);
	api_query(q, sql, 1, params, api_json_cb);
}

/* A ?status= filter: a code such as 40 or -23; else 400 and -1. */
static int
api_status_param(struct api_q *q, const char *v)
{
	const char	*s = v != NULL && v[0] == '-' ? v + 1 : v;
	long long	 code;

	if (s != NULL && (strlen(s) > 4 ||
	    api_parse_id(s, strlen(s), &code) == -1)) {
		api_error(q, 400, "status: a status code");
		return (-1);
	}
	return (0);
}

static void
api_patient_exams(struct api_q *q)
{
	api_by_id(q, api_sql_exams);
}

#define API_JOB_COLUMNS \
    "j.id, j.job_set_id AS job_set, js.patient_id AS patient," \
    " j.exam_id AS exam, e.accession, j.status, sc.meaning," \
    " j.remaining_retries, " UTC("j.next_attempt") " AS next_attempt, " \
    UTC("j.updated") " AS updated, js.destination, js.site_id AS site," \
    " js.urgency, js.scheme, extract(epoch FROM js.delay)::bigint / 3600" \
    " AS delay_hours, js.created_by, " UTC("js.created") " AS created"
#define API_JOB_FROM \
    " FROM jobs j JOIN job_sets js ON js.id = j.job_set_id" \
    " JOIN exams e ON e.id = j.exam_id" \
    " LEFT JOIN status_codes sc ON sc.code = j.status"

static const char api_sql_jobs[] =
    "SELECT json_build_object('jobs', coalesce(json_agg(x), '[]'))"
    " FROM (SELECT " API_JOB_COLUMNS API_JOB_FROM
    " WHERE ($1::bigint IS NULL OR js.patient_id = $1::bigint)"
    " AND ($2::integer IS NULL OR j.status = $2::integer)"
    " ORDER BY j.id DESC LIMIT 200) x";

static const char api_sql_job[] =
    "SELECT json_build_object('job', to_json(x), 'history',"
    " (SELECT json_agg(json_build_object('status', h.status, 'meaning',"
    " c.meaning, 'reason', h.reason, 'at', " UTC("h.at") ") ORDER BY h.id)"
    " FROM job_history h JOIN status_codes c ON c.code = h.status"
    " WHERE h.job_id = x.id))"
    " FROM (SELECT " API_JOB_COLUMNS API_JOB_FROM " WHERE j.id = $1) x";

static void
api_jobs(struct api_q *q)
{
	static const char *const names[] = { "patient", "status", NULL };
	char		*v[3] = { NULL, NULL, NULL };
	long long	 id;

	if (api_params(q, names, v) == -1)
		goto out;
	if (v[0] != NULL && api_parse_id(v[0], strlen(v[0]), &id) == -1) {
		api_error(q, 400, "patient: a positive integer");
		goto out;
	}
	if (api_status_param(q, v[1]) == -1)
		goto out;
	api_query(q, api_sql_jobs, 2, (const char *const *)v, api_json_cb);
out:
	free(v[0]);
	free(v[1]);
}

static void
api_job(struct api_q *q)
{
	api_by_id(q, api_sql_job);
}

/* --- retry and cancel ------------------------------------------------ */

static const char api_sql_retry[] =
    "WITH cur AS (SELECT id, status, remaining_retries FROM jobs"
    " WHERE id = $1 FOR UPDATE),"
    " upd AS (UPDATE jobs j SET remaining_retries = $2::integer,"
    " next_attempt = now() FROM cur WHERE j.id = cur.id AND cur.status < 0"
    " RETURNING j.id),"
    " ins AS (INSERT INTO job_history (job_id, status, reason)"
    " SELECT id, 1, 'retried by ' || $3::text FROM upd RETURNING job_id)"
    " SELECT cur.status, (SELECT count(*) FROM ins) FROM cur";

static const char api_sql_cancel[] =
    "WITH cur AS (SELECT id, status, remaining_retries FROM jobs"
    " WHERE id = $1 FOR UPDATE),"
    " upd AS (UPDATE jobs j SET remaining_retries = 0, next_attempt = NULL"
    " FROM cur WHERE j.id = cur.id AND cur.status IS DISTINCT FROM 40"
    " AND NOT (cur.status = -21 AND cur.remaining_retries = 0)"
    " AND $2::integer IS NOT NULL RETURNING j.id),"
    " ins AS (INSERT INTO job_history (job_id, status, reason)"
    " SELECT id, -21, 'cancelled by ' || $3::text FROM upd"
    " RETURNING job_id)"
    " SELECT cur.status, (SELECT count(*) FROM ins) FROM cur";

static void
api_transition_cb(PGresult *res, const char *cause, void *arg)
{
	struct api_q	*q = arg;

	q->pending = 0;
	if (q->req == NULL) {
		api_q_free(q);
		return;
	}
	if (cause != NULL) {
		api_db_error(q, cause);
		return;
	}
	if (PQntuples(res) != 1) {
		api_error(q, 404, "job not found");
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 1), "1") != 0) {
		if (q->route == R_JOB_RETRY)
			api_error(q, 409, "job %lld has not failed (status "
			    "%s)", q->oid, PQgetvalue(res, 0, 0));
		else
			api_error(q, 409, "job %lld has already ended "
			    "(status %s)", q->oid, PQgetvalue(res, 0, 0));
		return;
	}
	log_info("api job-%s req=%s job=%lld", q->route == R_JOB_RETRY ?
	    "retry" : "cancel", q->id, q->oid);
	if (q->route == R_JOB_CANCEL && q->api->jops.jobs != NULL)
		q->api->jops.cancelled(q->api->jops.jobs, q->oid);
	api_job(q);	/* the job as it is now */
}

static void
api_transition(struct api_q *q)
{
	char		 id[32], retries[16];
	const char	*params[3] = { id, retries, q->user };

	snprintf(id, sizeof(id), "%lld", q->oid);
	snprintf(retries, sizeof(retries), "%d", q->api->retries);
	api_query(q, q->route == R_JOB_RETRY ? api_sql_retry : api_sql_cancel,
	    3, params, api_transition_cb);
}

/* --- POST /api/job-sets ---------------------------------------------- */

static const char api_sql_check[] =
    "SELECT to_char(p.birth_date, 'YYYYMMDD'), p.merged_into,"
    " (SELECT count(*) FROM unnest($2::bigint[]) u(id) LEFT JOIN exams e"
    " ON e.id = u.id AND e.patient_id = p.id AND e.merged_into IS NULL"
    " WHERE e.id IS NULL),"
    " (SELECT count(*) FROM exams e WHERE e.id = ANY ($2::bigint[]) AND"
    " e.patient_id = p.id AND (SELECT s.status FROM exam_status s"
    " WHERE s.exam_id = e.id ORDER BY s.id DESC LIMIT 1) = 'cancelled')"
    " FROM patients p WHERE p.id = $1";

/*
 * The same conditions hold again inside the insert (the exams may have
 * changed during the derivation): a job set whose jobs do not all
 * insert is rolled back.
 */
static const char api_sql_insert[] =
    "WITH js AS (INSERT INTO job_sets (patient_id, destination, site_id,"
    " scheme, urgency, delay, rsna_id, wrapped_key, created_by)"
    " VALUES ($1, $2, $3, $4, $5, make_interval(hours => $6::integer), $7,"
    " $8::bytea, $9::text) RETURNING id),"
    " j AS (INSERT INTO jobs (job_set_id, exam_id, remaining_retries,"
    " next_attempt) SELECT js.id, e.id, $10::integer, now() FROM js,"
    " unnest($11::bigint[]) WITH ORDINALITY u(id, n) JOIN exams e"
    " ON e.id = u.id AND e.patient_id = $1 AND e.merged_into IS NULL"
    " WHERE (SELECT s.status FROM exam_status s WHERE s.exam_id = e.id"
    " ORDER BY s.id DESC LIMIT 1) IS DISTINCT FROM 'cancelled'"
    " ORDER BY u.n RETURNING id, exam_id),"
    " h AS (INSERT INTO job_history (job_id, status, reason)"
    " SELECT id, 1, 'created by ' || $9::text FROM j)"
    " SELECT js.id, j.id, j.exam_id, e.accession FROM js, j"
    " JOIN exams e ON e.id = j.exam_id ORDER BY j.id";

static char *
api_exam_array(const struct api_jobset *js)
{
	struct dbuf	b;
	size_t		i;

	dbuf_init(&b, SIZE_MAX);
	dbuf_addc(&b, '{');
	for (i = 0; i < js->nexams; i++)
		dbuf_printf(&b, "%s%lld", i ? "," : "", js->exams[i]);
	dbuf_addc(&b, '}');
	return (dbuf_take(&b, NULL));
}

static void *
api_derive_thread(void *arg)
{
	struct api_q	*q = arg;
	struct rsnaid	 r;
	char		*cause = NULL;
	ssize_t		 w;

	q->derive_rv = -1;
	memset(&r, 0, sizeof(r));
	if (rsnaid_token_new(q->token) == -1)
		goto out;
	if (rsnaid_compute(q->scheme, q->token, q->js.dob, q->js.password,
	    &r, &cause) == -1)
		goto out;
	snprintf(q->rsna_id, sizeof(q->rsna_id), "%s", r.id);
	if (q->scheme == RSNAID_ISN2 && (!r.has_key || keywrap_wrap(q->kek,
	    r.id, r.key, q->wrapped, &cause) == -1))
		goto out;
	q->derive_rv = 0;
out:
	free(cause);	/* none carries a secret; the status says enough */
	rsnaid_clear(&r);
	explicit_bzero(q->kek, sizeof(q->kek));
	freezero(q->js.password, strlen(q->js.password));
	q->js.password = NULL;
	do	/* a pipe with room for the one byte: no other failure */
		w = write(q->fds[1], "", 1);
	while (w == -1 && errno == EINTR);
	return (NULL);
}

static void api_insert_begun(struct db_txn *, const char *, void *);

/* Back on the loop: the thread has finished. */
static void
api_derive_done(evutil_socket_t fd, short what, void *arg)
{
	struct api_q	*q = arg, **pp;
	struct api	*a = q->api;
	char		 c;

	/* The thread has written its byte and ends: join it. */
	while (read(fd, &c, 1) == -1 && errno == EINTR)
		continue;
	pthread_join(q->thread, NULL);
	for (pp = &a->derives; *pp != NULL; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			break;
		}
	a->nderive--;
	event_free(q->ev);
	q->ev = NULL;
	close(q->fds[0]);
	close(q->fds[1]);
	q->fds[0] = q->fds[1] = -1;
	q->pending = 0;
	if (q->req == NULL) {
		api_q_free(q);
		return;
	}
	if (q->derive_rv == -1) {
		log_warnx("api derive-failed req=%s", q->id);
		api_error(q, 500, "cannot derive the patient id");
		return;
	}
	q->pending = 1;
	db_txn_begin(a->db, api_insert_begun, q);
}

static void
api_derive_start(struct api_q *q)
{
	struct api	*a = q->api;

	if (a->nderive >= a->max_derive) {
		api_error(q, 503, "busy deriving keys; try again");
		return;
	}
	if (pipe2(q->fds, O_CLOEXEC) == -1) {
		log_warn("api pipe req=%s", q->id);
		api_error(q, 500, "internal error");
		return;
	}
	memcpy(q->kek, a->kek, sizeof(q->kek));
	q->ev = event_new(a->base, q->fds[0], EV_READ, api_derive_done, q);
	if (q->ev == NULL || event_add(q->ev, NULL) == -1 ||
	    pthread_create(&q->thread, NULL, api_derive_thread, q) != 0) {
		log_warnx("api thread-failed req=%s", q->id);
		if (q->ev != NULL)
			event_free(q->ev);
		q->ev = NULL;
		close(q->fds[0]);
		close(q->fds[1]);
		q->fds[0] = q->fds[1] = -1;
		api_error(q, 500, "internal error");
		return;
	}
	q->pending = 1;
	a->nderive++;
	q->next = a->derives;
	a->derives = q;
}

static void
api_check_cb(PGresult *res, const char *cause, void *arg)
{
	struct api_q	*q = arg;

	q->pending = 0;
	if (q->req == NULL) {
		api_q_free(q);
		return;
	}
	if (cause != NULL)
		api_db_error(q, cause);
	else if (PQntuples(res) != 1)
		api_error(q, 404, "patient not found");
	else if (!PQgetisnull(res, 0, 1))
		api_error(q, 409, "patient %lld was merged into patient %s",
		    q->js.patient, PQgetvalue(res, 0, 1));
	else if (PQgetisnull(res, 0, 0))
		api_error(q, 409, "the RIS gave no date of birth for patient "
		    "%lld", q->js.patient);
	else if (strcmp(PQgetvalue(res, 0, 0), q->js.dob) != 0)
		api_error(q, 400, "dob: does not match the patient's date of "
		    "birth");
	else if (strcmp(PQgetvalue(res, 0, 2), "0") != 0)
		api_error(q, 400, "exams: %s not of patient %lld",
		    PQgetvalue(res, 0, 2), q->js.patient);
	else if (strcmp(PQgetvalue(res, 0, 3), "0") != 0)
		api_error(q, 409, "exams: %s cancelled", PQgetvalue(res, 0, 3));
	else
		api_derive_start(q);
}

static void
api_jobsets(struct api_q *q)
{
	char		*cause = NULL, *exams, id[32];
	const char	*params[2] = { id, NULL };
	struct api	*a = q->api;

	if (api_jobset_parse(q->body.data != NULL ? q->body.data : "",
	    q->body.len, &q->js, &cause) == -1) {
		explicit_bzero(q->body.data, q->body.len);
		api_error(q, 400, "%s", cause);
		free(cause);
		return;
	}
	explicit_bzero(q->body.data, q->body.len);
	dbuf_free(&q->body);
	q->scheme = a->scheme;
	if (q->js.scheme != NULL)
		rsnaid_scheme_parse(q->js.scheme, &q->scheme);
	q->delay_hours = q->js.delay_hours >= 0 ? q->js.delay_hours :
	    a->delay_hours;
	q->retries = a->retries;
	q->site = xstrdup(a->site);
	q->affinity = xstrdup(a->oid);
	snprintf(id, sizeof(id), "%lld", q->js.patient);
	params[1] = exams = api_exam_array(&q->js);
	api_query(q, api_sql_check, 2, params, api_check_cb);
	free(exams);
}

static void
api_txn_end_cb(PGresult *res, const char *cause, void *arg)
{
	struct api_q	*q = arg;

	q->pending = 0;
	q->txn = NULL;
	if (q->req == NULL) {
		api_q_free(q);
		return;
	}
	if (cause != NULL)
		api_db_error(q, cause);
	else if (q->jobs == NULL)
		api_error(q, 409, "the exams changed meanwhile; try again");
	else {
		char		 tok[RSNAID_TOKEN_LEN * 2], dob[11], *out;
		json_t		*o;

		rsnaid_token_format(q->token, tok, sizeof(tok));
		snprintf(dob, sizeof(dob), "%.4s-%.2s-%.2s", q->js.dob,
		    q->js.dob + 4, q->js.dob + 6);
		o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s*,s:s,s:s,s:s,s:i,s:O}",
		    "job_set", (json_int_t)q->set_id, "token", tok, "dob", dob,
		    "scheme", rsnaid_scheme_name(q->scheme),
		    "destination", q->js.to_site ? "site" : "patient",
		    "to_site", q->js.site,
		    "site", q->site, "affinity_oid", q->affinity,
		    "urgency", q->js.urgency, "delay_hours", q->delay_hours,
		    "jobs", q->jobs);
		if (o == NULL || (out = json_dumps(o, JSON_COMPACT)) == NULL)
			fatalx("%s: out of memory", __func__);
		log_info("api job-set req=%s job_set=%lld jobs=%zu scheme=%s",
		    q->id, q->set_id, json_array_size(q->jobs),
		    rsnaid_scheme_name(q->scheme));
		api_reply(q, 201, out, strlen(out), NULL, NULL);
		freezero(out, strlen(out));
		api_json_wipe(json_object_get(o, "token"));
		json_decref(o);
		explicit_bzero(tok, sizeof(tok));
	}
	explicit_bzero(q->token, sizeof(q->token));
}

static void
api_insert_cb(PGresult *res, const char *cause, void *arg)
{
	struct api_q	*q = arg;
	int		 i, n;

	q->pending = 0;
	if (cause != NULL && q->req != NULL)
		api_db_error(q, cause);
	if (cause == NULL && q->req != NULL &&
	    (n = PQntuples(res)) == (int)q->js.nexams) {
		q->jobs = json_array();
		for (i = 0; i < n; i++)
			json_array_append_new(q->jobs, json_pack("{s:I,s:I,s:s}",
			    "id", (json_int_t)strtoll(PQgetvalue(res, i, 1),
			    NULL, 10), "exam", (json_int_t)strtoll(
			    PQgetvalue(res, i, 2), NULL, 10), "accession",
			    PQgetvalue(res, i, 3)));
		q->set_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		q->pending = 1;
		db_txn_commit(q->txn, api_txn_end_cb, q);
		return;
	}
	q->pending = 1;
	db_txn_rollback(q->txn, api_txn_end_cb, q);
}

static void
api_insert_begun(struct db_txn *txn, const char *cause, void *arg)
{
	struct api_q	*q = arg;
	char		 patient[32], delay[16], retries[16], *exams;
	const char	*v[11];
	int		 len[11], fmt[11];

	q->pending = 0;
	if (txn == NULL) {
		if (q->req == NULL)
			api_q_free(q);
		else
			api_db_error(q, cause);
		return;
	}
	q->txn = txn;
	if (q->req == NULL) {
		q->pending = 1;
		db_txn_rollback(txn, api_txn_end_cb, q);
		return;
	}
	snprintf(patient, sizeof(patient), "%lld", q->js.patient);
	snprintf(delay, sizeof(delay), "%d", q->delay_hours);
	snprintf(retries, sizeof(retries), "%d", q->retries);
	exams = api_exam_array(&q->js);
	memset(len, 0, sizeof(len));
	memset(fmt, 0, sizeof(fmt));
	v[0] = patient;
	v[1] = q->js.to_site ? "site" : "patient";
	v[2] = q->js.site;
	v[3] = rsnaid_scheme_name(q->scheme);
	v[4] = q->js.urgency;
	v[5] = delay;
	v[6] = q->rsna_id;
	v[7] = NULL;
	if (q->scheme == RSNAID_ISN2) {
		v[7] = (const char *)q->wrapped;
		len[7] = KEYWRAP_LEN;
		fmt[7] = 1;
	}
	v[8] = q->user;
	v[9] = retries;
	v[10] = exams;
	q->pending = 1;
	db_txn_query(txn, api_sql_insert, 11, v, len, fmt, 0, api_insert_cb,
	    q);
	free(exams);
}

/* --- /api/imports: the receiving side (import.h) --------------------- */

void
api_import_clear(struct api_import_body *b)
{
	import_secrets_clear(&b->s);
	free(b->study);
	free(b->pacs);
	free(b->mrn);
	free(b->accession);
	memset(b, 0, sizeof(*b));
}

/* A UID: digits and dots, at most 64 (PS3.5 UI). */
static int
api_uid_valid(const char *s)
{
	size_t	n = strlen(s);

	return (n > 0 && n <= 64 && strspn(s, "0123456789.") == n &&
	    s[0] != '.' && s[n - 1] != '.');
}

/* An identifier staff type (MRN, accession): printable, no backslash. */
static int
api_ident_valid(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '\\')
			return (0);
	return (1);
}

static int
api_import_fields(json_t *o, int create, struct api_import_body *b,
    char **cause)
{
	static const char *const known[] = { "scheme", "token",
	    "access_code", "dob", "password", "study", "pacs", "mrn",
	    "accession", NULL };
	const char	*key, *s, *t, *c;
	json_t		*v;
	size_t		 i;
	int		 bad = 0;
	char		 dob[16];

	json_object_foreach(o, key, v) {
		for (i = 0; known[i] != NULL; i++)
			if (strcmp(key, known[i]) == 0)
				break;
		if (known[i] == NULL || (!create && i >= 5)) {
			xcause(cause, "unknown member \"%.40s\"", key);
			return (-1);
		}
	}
	s = api_str(o, "scheme", 24, &bad);
	if (s == NULL && !bad)
		s = "any";
	if (bad || (strcmp(s, "any") != 0 && strcmp(s, "isn2") != 0 &&
	    strcmp(s, "rsna-token") != 0 &&
	    strcmp(s, "rsna-access-code") != 0)) {
		xcause(cause, "scheme: \"any\", \"isn2\", \"rsna-token\" or "
		    "\"rsna-access-code\"");
		return (-1);
	}
	b->s.scheme = xstrdup(s);
	t = api_str(o, "token", 64, &bad);
	c = api_str(o, "access_code", 64, &bad);
	if (bad || (t == NULL) == (c == NULL)) {
		xcause(cause, "token or access_code: exactly one is required");
		return (-1);
	}
	b->s.secret = xstrdup(t != NULL ? t : c);
	s = api_str(o, "dob", 10, &bad);
	if (s == NULL || rsnaid_dob_parse(s, dob, NULL) == -1) {
		xcause(cause, "dob: YYYY-MM-DD is required");
		return (-1);
	}
	b->s.dob = xstrdup(dob);
	s = api_str(o, "password", RSNAID_PASSWORD_MAX, &bad);
	if (bad || (t != NULL && s == NULL) || (c != NULL && s != NULL)) {
		xcause(cause, "password: required with a token (at most %d "
		    "bytes), refused with an access code",
		    RSNAID_PASSWORD_MAX);
		return (-1);
	}
	if (s != NULL && strchr(s, '\n') != NULL) {
		xcause(cause, "password: no line breaks");
		return (-1);
	}
	b->s.password = xstrdup(s != NULL ? s : "");
	if (strchr(b->s.secret, '\n') != NULL) {
		xcause(cause, "token: no line breaks");
		return (-1);
	}
	if (!create)
		return (0);
	s = api_str(o, "study", 64, &bad);
	if (s == NULL || !api_uid_valid(s)) {
		xcause(cause, "study: a Study Instance UID is required");
		return (-1);
	}
	b->study = xstrdup(s);
	s = api_str(o, "pacs", 64, &bad);
	if (s == NULL) {
		xcause(cause, "pacs: the name of a configured PACS is "
		    "required");
		return (-1);
	}
	b->pacs = xstrdup(s);
	s = api_str(o, "mrn", 64, &bad);
	t = api_str(o, "accession", 16, &bad);
	if (bad || (s != NULL && !api_ident_valid(s)) ||
	    (t != NULL && !api_ident_valid(t)) ||
	    (t != NULL && s == NULL)) {
		xcause(cause, "mrn (up to 64) and accession (up to 16): "
		    "printable, no backslash; an accession needs an mrn");
		return (-1);
	}
	if (s != NULL)
		b->mrn = xstrdup(s);
	if (t != NULL)
		b->accession = xstrdup(t);
	return (0);
}

int
api_import_parse(const char *buf, size_t len, int create,
    struct api_import_body *b, char **cause)
{
	json_t		*o;
	json_error_t	 err;
	int		 rv;

	memset(b, 0, sizeof(*b));
	o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	if (o == NULL) {
		xcause(cause, "malformed JSON at line %d column %d", err.line,
		    err.column);
		return (-1);
	}
	if (!json_is_object(o)) {
		json_decref(o);
		xcause(cause, "a JSON object is expected");
		return (-1);
	}
	rv = api_import_fields(o, create, b, cause);
	api_json_wipe(json_object_get(o, "password"));
	api_json_wipe(json_object_get(o, "token"));
	api_json_wipe(json_object_get(o, "access_code"));
	json_decref(o);
	if (rv == -1)
		api_import_clear(b);
	return (rv);
}

void
api_set_import(struct api *a, const struct api_import_ops *ops)
{
	a->iops = *ops;
}

void
api_set_jobs(struct api *a, const struct api_job_ops *ops)
{
	a->jops = *ops;
}

/* The import module's answer (import_reply_cb). */
static void
api_import_reply(void *arg, int status, const char *json)
{
	struct api_q	*q = arg;

	q->pending = 0;
	if (q->req == NULL) {
		api_q_free(q);
		return;
	}
	api_reply(q, status, json, strlen(json), status == 503 ?
	    "Retry-After" : NULL, status == 503 ? "1" : NULL);
}

static void
api_import_post(struct api_q *q)
{
	struct api		*a = q->api;
	struct import_request	 r;
	char			*cause = NULL;
	int			 create = q->route == R_IMPORTS;

	if (a->iops.imp == NULL) {
		explicit_bzero(q->body.data, q->body.len);
		api_error(q, 503, "importing is not configured");
		return;
	}
	if (api_import_parse(q->body.data != NULL ? q->body.data : "",
	    q->body.len, create, &q->ib, &cause) == -1) {
		explicit_bzero(q->body.data, q->body.len);
		api_error(q, 400, "%s", cause);
		free(cause);
		return;
	}
	explicit_bzero(q->body.data, q->body.len);
	dbuf_free(&q->body);
	q->pending = 1;
	if (!create) {
		a->iops.lookup(a->iops.imp, &q->ib.s, api_import_reply, q);
		return;
	}
	if (!a->iops.pacs_known(a->iops.imp, q->ib.pacs)) {
		q->pending = 0;
		api_error(q, 400, "pacs: no PACS named \"%.64s\" in the "
		    "configuration", q->ib.pacs);
		return;
	}
	r.study = q->ib.study;
	r.pacs = q->ib.pacs;
	r.mrn = q->ib.mrn;
	r.accession = q->ib.accession;
	r.user = q->user;
	a->iops.create(a->iops.imp, &q->ib.s, &r, api_import_reply, q);
}

#define API_IMPORT_COLUMNS \
    "i.id, i.study_uid AS study, i.pacs, i.scheme, i.status, c.meaning," \
    " i.instances, (SELECT count(*) FROM import_instances ii" \
    " WHERE ii.import_id = i.id AND ii.state = 'stored') AS stored," \
    " (SELECT count(*) FROM import_instances ii WHERE ii.import_id = i.id" \
    " AND ii.state = 'failed') AS failed, i.local_mrn AS mrn," \
    " i.local_accession AS accession, i.remaining_retries, " \
    UTC("i.next_attempt") " AS next_attempt, i.created_by, " \
    UTC("i.created") " AS created, " UTC("i.updated") " AS updated"
#define API_IMPORT_FROM \
    " FROM imports i LEFT JOIN import_codes c ON c.code = i.status"

static const char api_sql_imports[] =
    "SELECT json_build_object('imports', coalesce(json_agg(x), '[]'))"
    " FROM (SELECT " API_IMPORT_COLUMNS API_IMPORT_FROM
    " WHERE ($1::integer IS NULL OR i.status = $1::integer)"
    " ORDER BY i.id DESC LIMIT 200) x";

static const char api_sql_import[] =
    "SELECT json_build_object('import', to_json(x), 'report',"
    " (SELECT report_text FROM imports WHERE id = x.id), 'history',"
    " (SELECT json_agg(json_build_object('status', h.status, 'meaning',"
    " c.meaning, 'reason', h.reason, 'at', " UTC("h.at") ") ORDER BY h.id)"
    " FROM import_history h JOIN import_codes c ON c.code = h.status"
    " WHERE h.import_id = x.id), 'failures', (SELECT coalesce(json_agg("
    " json_build_object('sop_uid', ii.sop_uid, 'series_uid', ii.series_uid,"
    " 'reason', ii.reason, 'attempts', ii.attempts) ORDER BY ii.sop_uid),"
    " '[]') FROM import_instances ii WHERE ii.import_id = x.id"
    " AND ii.state = 'failed'))"
    " FROM (SELECT " API_IMPORT_COLUMNS API_IMPORT_FROM " WHERE i.id = $1) x";

static void
api_imports(struct api_q *q)
{
	static const char *const names[] = { "status", NULL };
	char		*v[2] = { NULL, NULL };

	if (api_params(q, names, v) == -1 || api_status_param(q, v[0]) == -1)
		goto out;
	api_query(q, api_sql_imports, 1, (const char *const *)v, api_json_cb);
out:
	free(v[0]);
}

static void
api_import(struct api_q *q)
{
	api_by_id(q, api_sql_import);
}

/*
 * A failed import (not "nothing found": those details are erased; not
 * cancelled: its spool is gone, and a store of nothing would count every
 * unstored instance as stored) is due again: with retrieved instances
 * left it stores them (20), else it retrieves again (1), which needs
 * details still sealed.
 */
static const char api_sql_import_retry[] =
    "WITH cur AS (SELECT id, status FROM imports WHERE id = $1 FOR UPDATE),"
    " upd AS (UPDATE imports i SET remaining_retries = $2::integer,"
    " next_attempt = now() FROM cur WHERE i.id = cur.id AND cur.status < 0"
    " AND cur.status NOT IN (-10, -40) AND (i.sealed_secrets IS NOT NULL OR EXISTS"
    " (SELECT 1 FROM import_instances ii WHERE ii.import_id = i.id"
    " AND ii.state <> 'stored')) RETURNING i.id),"
    " ins AS (INSERT INTO import_history (import_id, status, reason)"
    " SELECT id, CASE WHEN EXISTS (SELECT 1 FROM import_instances ii"
    " WHERE ii.import_id = upd.id AND ii.state <> 'stored') THEN 20"
    " ELSE 1 END, 'retried by ' || $3::text FROM upd RETURNING import_id)"
    " SELECT cur.status, (SELECT count(*) FROM ins) FROM cur";

static void
api_import_retry_cb(PGresult *res, const char *cause, void *arg)
{
	struct api_q	*q = arg;

	q->pending = 0;
	if (q->req == NULL) {
		api_q_free(q);
		return;
	}
	if (cause != NULL) {
		api_db_error(q, cause);
		return;
	}
	if (PQntuples(res) != 1) {
		api_error(q, 404, "import not found");
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 1), "1") != 0) {
		api_error(q, 409, "import %lld cannot be retried (status %s)",
		    q->oid, PQgetvalue(res, 0, 0));
		return;
	}
	log_info("api import-retry req=%s import=%lld", q->id, q->oid);
	if (q->api->iops.imp != NULL)
		q->api->iops.kick(q->api->iops.imp);
	api_import(q);
}

static void
api_import_retry(struct api_q *q)
{
	char		 id[32], retries[16];
	const char	*params[3] = { id, retries, q->user };

	snprintf(id, sizeof(id), "%lld", q->oid);
	snprintf(retries, sizeof(retries), "%d", q->api->retries);
	api_query(q, api_sql_import_retry, 3, params, api_import_retry_cb);
}

/* The runner's answer to a cancel: on success, the import as it is now. */
static void
api_import_cancel_reply(void *arg, int status, const char *json)
{
	struct api_q	*q = arg;

	if (status != 200 || q->req == NULL) {
		api_import_reply(arg, status, json);
		return;
	}
	q->pending = 0;
	log_info("api import-cancel req=%s import=%lld", q->id, q->oid);
	api_import(q);
}

static void
api_import_cancel(struct api_q *q)
{
	struct api	*a = q->api;

	if (a->iops.imp == NULL || a->iops.cancel == NULL) {
		api_error(q, 503, "importing is not configured");
		return;
	}
	q->pending = 1;
	a->iops.cancel(a->iops.imp, q->oid, q->user, api_import_cancel_reply,
	    q);
}

/* --- the route ------------------------------------------------------- */

static void
api_q_free(struct api_q *q)
{
	if (q->jobs != NULL)
		json_decref(q->jobs);
	if (q->body.data != NULL)
		explicit_bzero(q->body.data, q->body.len);
	dbuf_free(&q->body);
	api_jobset_clear(&q->js);
	api_import_clear(&q->ib);
	explicit_bzero(q->token, sizeof(q->token));
	explicit_bzero(q->kek, sizeof(q->kek));
	free(q->user);
	free(q->site);
	free(q->affinity);
	free(q);
}

/* The route of a path, with its ID; -1: none. */
static int
api_route_parse(const char *path, enum api_route *r, long long *id)
{
	const char	*p, *s;

	if (strcmp(path, "/api/patients") == 0)
		*r = R_PATIENTS;
	else if (strcmp(path, "/api/job-sets") == 0)
		*r = R_JOBSETS;
	else if (strcmp(path, "/api/jobs") == 0)
		*r = R_JOBS;
	else if (strcmp(path, "/api/imports") == 0)
		*r = R_IMPORTS;
	else if (strcmp(path, "/api/imports/lookup") == 0)
		*r = R_IMPORT_LOOKUP;
	else if (strncmp(path, "/api/imports/", 13) == 0) {
		p = path + 13;
		if ((s = strchr(p, '/')) == NULL)
			s = p + strlen(p);
		if (api_parse_id(p, s - p, id) == -1)
			return (-1);
		if (*s == '\0')
			*r = R_IMPORT;
		else if (strcmp(s, "/retry") == 0)
			*r = R_IMPORT_RETRY;
		else if (strcmp(s, "/cancel") == 0)
			*r = R_IMPORT_CANCEL;
		else
			return (-1);
	}
	else if (strncmp(path, "/api/patients/", 14) == 0) {
		p = path + 14;
		if ((s = strchr(p, '/')) == NULL || strcmp(s, "/exams") != 0 ||
		    api_parse_id(p, s - p, id) == -1)
			return (-1);
		*r = R_PATIENT_EXAMS;
	} else if (strncmp(path, "/api/jobs/", 10) == 0) {
		p = path + 10;
		if ((s = strchr(p, '/')) == NULL)
			s = p + strlen(p);
		if (api_parse_id(p, s - p, id) == -1)
			return (-1);
		if (*s == '\0')
			*r = R_JOB;
		else if (strcmp(s, "/retry") == 0)
			*r = R_JOB_RETRY;
		else if (strcmp(s, "/cancel") == 0)
			*r = R_JOB_CANCEL;
		else
			return (-1);
	} else
		return (-1);
	return (0);
}

static int
api_head(struct httpd_req *req, void *arg)
{
	struct api	*a = arg;
	struct api_q	*q;
	const char	*user, *method, *cl, *want;
	int		 post;

	q = xcalloc(1, sizeof(*q));
	q->api = a;
	q->req = req;
	q->fds[0] = q->fds[1] = -1;
	q->route = R_PATIENTS;
	log_new_id(q->id);
	dbuf_init(&q->body, a->max_body);
	httpd_req_set_data(req, q);

	method = httpd_req_method(req);
	post = strcmp(method, "POST") == 0;
	if ((user = api_auth(a, httpd_req_header(req,
	    "Authorization"))) == NULL) {
		api_error_hdr(q, 401, httpd_req_header(req, "Authorization") ?
		    "Bearer realm=\"isn-edge\", error=\"invalid_token\"" :
		    "Bearer realm=\"isn-edge\"", "a valid bearer token is "
		    "required");
		return (HTTPD_OK);
	}
	q->user = xstrdup(user);
	if (api_route_parse(httpd_req_path(req), &q->route, &q->oid) == -1) {
		api_error(q, 404, "no such resource");
		return (HTTPD_OK);
	}
	want = q->route == R_JOBSETS || q->route == R_JOB_RETRY ||
	    q->route == R_JOB_CANCEL || q->route == R_IMPORT_LOOKUP ||
	    q->route == R_IMPORT_RETRY || q->route == R_IMPORT_CANCEL ?
	    "POST" : "GET";
	if (q->route == R_IMPORTS && post)
		want = "POST";		/* a new import; GET lists them */
	if (strcmp(method, want) != 0) {
		if (q->route == R_IMPORTS)
			want = "GET, POST";
		api_error_hdr(q, 405, want, "%s only", want);
		return (HTTPD_OK);
	}
	if (post && (cl = httpd_req_header(req, "Content-Length")) != NULL &&
	    strtoull(cl, NULL, 10) > a->max_body) {
		api_error(q, 413, "the body is larger than %zu bytes",
		    a->max_body);
		return (HTTPD_OK);
	}
	return (HTTPD_OK);
}

static int
api_body(struct httpd_req *req, const void *buf, size_t len, void *arg)
{
	struct api_q	*q = httpd_req_data(req);

	if (q == NULL || q->replied)
		return (HTTPD_OK);
	if (dbuf_add(&q->body, buf, len) == -1) {
		explicit_bzero(q->body.data, q->body.len);
		api_error(q, 413, "the body is larger than %zu bytes",
		    q->api->max_body);
	}
	return (HTTPD_OK);
}

static void
api_done(struct httpd_req *req, void *arg)
{
	struct api_q	*q = httpd_req_data(req);

	if (q == NULL || q->replied)
		return;
	switch (q->route) {
	case R_PATIENTS:
		api_patients(q);
		break;
	case R_PATIENT_EXAMS:
		api_patient_exams(q);
		break;
	case R_JOBSETS:
		api_jobsets(q);
		break;
	case R_JOBS:
		api_jobs(q);
		break;
	case R_JOB:
		api_job(q);
		break;
	case R_JOB_RETRY:
	case R_JOB_CANCEL:
		api_transition(q);
		break;
	case R_IMPORT_LOOKUP:
		api_import_post(q);
		break;
	case R_IMPORTS:
		if (strcmp(httpd_req_method(q->req), "POST") == 0)
			api_import_post(q);
		else
			api_imports(q);
		break;
	case R_IMPORT:
		api_import(q);
		break;
	case R_IMPORT_RETRY:
		api_import_retry(q);
		break;
	case R_IMPORT_CANCEL:
		api_import_cancel(q);
		break;
	}
}

static void
api_fini(struct httpd_req *req, int completed, void *arg)
{
	struct api_q	*q = httpd_req_data(req);

	if (q == NULL)
		return;
	httpd_req_set_data(req, NULL);
	q->req = NULL;
	if (!q->pending)
		api_q_free(q);
}

static const struct httpd_handler api_handler = {
	api_head, api_body, api_done, api_fini, "GET, POST"
};

/* --- lifetime -------------------------------------------------------- */

/* The settings reload may change; -1 and *cause leaves a untouched. */
static int
api_configure(struct api *a, const struct api_conf *c, char **cause)
{
	struct api_user		*u;
	size_t			 n;
	enum rsnaid_scheme	 s = RSNAID_ISN2;

	if (c->site_name == NULL || *c->site_name == '\0') {
		xcause(cause, "api: no site name");
		return (-1);
	}
	if (c->kek == NULL) {
		xcause(cause, "api: no key-encryption key");
		return (-1);
	}
	if (c->default_scheme != NULL &&
	    (rsnaid_scheme_parse(c->default_scheme, &s) == -1 ||
	    s == RSNAID_RSNA_ACCESS_CODE)) {
		xcause(cause, "api: scheme must be isn2 or rsna-token");
		return (-1);
	}
	if (api_tokens_load(c->tokens_file, &u, &n, cause) == -1)
		return (-1);
	api_users_free(a->users, a->nusers);
	a->users = u;
	a->nusers = n;
	memcpy(a->kek, c->kek, sizeof(a->kek));
	free(a->oid);
	a->oid = xstrdup(c->affinity_oid != NULL ? c->affinity_oid :
	    RSNAID_DEFAULT_OID);
	free(a->site);
	a->site = xstrdup(c->site_name);
	a->delay_hours = c->default_delay_hours >= 0 ?
	    c->default_delay_hours : 72;
	a->scheme = s;
	a->retries = c->retries > 0 ? c->retries : 10;
	return (0);
}

struct api *
api_new(struct event_base *base, struct db *db, const struct api_conf *c,
    char **cause)
{
	struct api		*a;
	struct httpd_conf	 hc;
	int			 ms = c->timeout_ms > 0 ? c->timeout_ms : 30000;

	a = xcalloc(1, sizeof(*a));
	a->base = base;
	a->db = db;
	a->max_body = c->max_body ? c->max_body : API_MAX_BODY;
	a->max_derive = c->max_derive > 0 ? c->max_derive : 2;
	if (api_configure(a, c, cause) == -1) {
		api_free(a);
		return (NULL);
	}
	memset(&hc, 0, sizeof(hc));
	hc.tls = c->tls;
	hc.max_conns = c->max_conns ? c->max_conns : 64;
	hc.header_timeout_ms = hc.body_timeout_ms = hc.write_timeout_ms = ms;
	hc.keepalive_timeout_ms = ms < 15000 ? ms : 15000;
	if ((a->httpd = httpd_new(base, &hc)) == NULL) {
		xcause(cause, "api: cannot create the HTTP server");
		api_free(a);
		return (NULL);
	}
	if (httpd_listen(a->httpd, c->listen != NULL ? c->listen :
	    API_DEFAULT_LISTEN, cause) == -1) {
		api_free(a);
		return (NULL);
	}
	httpd_route(a->httpd, "/api", &api_handler, a);
	log_info("api listening port=%d users=%zu", httpd_port(a->httpd),
	    a->nusers);
	return (a);
}

int
api_reload(struct api *a, const struct api_conf *c, char **cause)
{
	if (api_configure(a, c, cause) == -1)
		return (-1);
	log_info("api reloaded users=%zu", a->nusers);
	return (0);
}

int
api_port(struct api *a)
{
	return (httpd_port(a->httpd));
}

void
api_stop(struct api *a, int drain_ms)
{
	if (a->httpd != NULL)
		httpd_stop(a->httpd, drain_ms, NULL, NULL);
}

void
api_free(struct api *a)
{
	struct api_q	*q;

	if (a == NULL)
		return;
	if (a->httpd != NULL)
		httpd_free(a->httpd);	/* every q->req is NULL now */
	while ((q = a->derives) != NULL) {
		a->derives = q->next;
		pthread_join(q->thread, NULL);
		event_free(q->ev);
		close(q->fds[0]);
		close(q->fds[1]);
		api_q_free(q);
	}
	api_users_free(a->users, a->nusers);
	explicit_bzero(a->kek, sizeof(a->kek));
	free(a->oid);
	free(a->site);
	free(a);
}
