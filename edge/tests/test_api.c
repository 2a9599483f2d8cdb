/*
 * test_api.c: the staff JSON API against a real PostgreSQL (test_api.sh
 * starts it and applies schemas/edge) over real HTTP on loopback. A child
 * process runs the event loop with the api and a 5 ms timer whose largest
 * gap is kept in shared memory (the loop must keep ticking while scrypt
 * runs); the parent talks to it with libcurl and checks rows with libpq.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/rand.h>

#include "api.h"
#include "db.h"
#include "dbuf.h"
#include "keywrap.h"
#include "log.h"
#include "rsnaid.h"
#include "tap.h"

#define TOKEN_ALICE	"alice-token-0123456789abcdef"
#define TOKEN_BOB	"bob-token-fedcba9876543210"
#define PASSWORD1	"Pw-Secret-4711-isn2"
#define PASSWORD2	"Pw-Secret-0815-rsna"
#define PASSWORD3	"Pw-Secret-2222-site"

struct shm {
	volatile int	ticks;
	volatile long	maxgap_us;
	volatile long	last_us;
};

static struct shm	*shm;
static const char	*dir;
static char		 logpath[1024];
static PGconn		*pg;
static int		 port;
static uint8_t		 kek[KEYWRAP_KEY_LEN];
static long		 timeout_ms = 60000;	/* per request */
static int		 chunked;		/* send the body chunked */

static long
now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

/* --- the server child ----------------------------------------------- */

static FILE	*logf_;

static void
sink(int pri, const char *line, void *arg)
{
	(void)pri;
	(void)arg;
	fprintf(logf_, "%s\n", line);
	fflush(logf_);
}

static void
tick(evutil_socket_t fd, short what, void *arg)
{
	long	t = now_us();

	if (shm->last_us != 0 && t - shm->last_us > shm->maxgap_us)
		shm->maxgap_us = t - shm->last_us;
	shm->last_us = t;
	shm->ticks++;
}

static void
on_term(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

static int
server(const char *conninfo, const char *tokens, int wfd)
{
	struct event_base	*base;
	struct db		*db;
	struct db_settings	 ds;
	struct api		*api;
	struct api_conf		 c;
	struct event		*t, *s;
	struct timeval		 tv = { 0, 5000 };
	char			*cause = NULL;

	if ((logf_ = fopen(logpath, "a")) == NULL)
		return (1);
	log_init(1, "test_api", LOG_DAEMON);
	log_set_sink(sink, NULL);
	base = event_base_new();
	memset(&ds, 0, sizeof(ds));
	ds.conninfo = conninfo;
	ds.pool_size = 2;
	if ((db = db_new(base, &ds, &cause)) == NULL) {
		fprintf(stderr, "db_new: %s\n", cause);
		return (1);
	}
	memset(&c, 0, sizeof(c));
	c.listen = "127.0.0.1:0";
	c.tokens_file = tokens;
	c.kek = kek;
	c.site_name = "test-edge";
	c.default_delay_hours = -1;
	c.timeout_ms = 5000;
	if ((api = api_new(base, db, &c, &cause)) == NULL) {
		fprintf(stderr, "api_new: %s\n", cause);
		return (1);
	}
	port = api_port(api);
	if (write(wfd, &port, sizeof(port)) != sizeof(port))
		return (1);
	close(wfd);
	t = event_new(base, -1, EV_PERSIST, tick, NULL);
	event_add(t, &tv);
	s = evsignal_new(base, SIGTERM, on_term, base);
	event_add(s, NULL);
	event_base_dispatch(base);
	api_stop(api, 100);
	api_free(api);
	db_free(db);
	event_free(t);
	event_free(s);
	event_base_free(base);
	fclose(logf_);
	return (0);
}

/* --- HTTP ------------------------------------------------------------ */

struct resp {
	long		 status;
	struct dbuf	 body;
	struct dbuf	 hdrs;
	json_t		*json;
	double		 secs;
};

static size_t
on_data(char *p, size_t sz, size_t n, void *arg)
{
	dbuf_add(arg, p, sz * n);
	return (sz * n);
}

static void
resp_free(struct resp *r)
{
	dbuf_free(&r->body);
	dbuf_free(&r->hdrs);
	if (r->json != NULL)
		json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

/* One request; token NULL: none. Returns the status (0: transport). */
static long
http(struct resp *r, const char *method, const char *path, const char *token,
    const char *body, size_t len)
{
	CURL			*c;
	struct curl_slist	*h = NULL;
	char			 url[512], auth[256];
	long			 t0;

	memset(r, 0, sizeof(*r));
	dbuf_init(&r->body, SIZE_MAX);
	dbuf_init(&r->hdrs, SIZE_MAX);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->hdrs);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	h = curl_slist_append(h, "Expect:");
	if (token != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
	}
	if (body != NULL) {
		h = curl_slist_append(h, "Content-Type: application/json");
		if (chunked)
			h = curl_slist_append(h, "Transfer-Encoding: chunked");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	t0 = now_us();
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	r->secs = (now_us() - t0) / 1e6;
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	dbuf_addc(&r->body, '\0');
	dbuf_addc(&r->hdrs, '\0');
	r->json = json_loads(r->body.data, 0, NULL);
	return (r->status);
}

static long
get(struct resp *r, const char *path)
{
	return (http(r, "GET", path, TOKEN_ALICE, NULL, 0));
}

static long
post(struct resp *r, const char *path, const char *body)
{
	return (http(r, "POST", path, TOKEN_ALICE, body,
	    body != NULL ? strlen(body) : 0));
}

static int
is_json_error(const struct resp *r)
{
	return (strcasestr(r->hdrs.data, "Content-Type: application/json") !=
	    NULL && json_is_string(json_object_get(r->json, "error")));
}

/* --- SQL ------------------------------------------------------------- */

static char *
sql1(const char *q)
{
	PGresult	*res;
	char		*v = NULL;

	res = PQexec(pg, q);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0 &&
	    !PQgetisnull(res, 0, 0))
		v = strdup(PQgetvalue(res, 0, 0));
	else if (PQresultStatus(res) != PGRES_TUPLES_OK &&
	    PQresultStatus(res) != PGRES_COMMAND_OK)
		tap_diag("sql: %s", PQerrorMessage(pg));
	PQclear(res);
	return (v);
}

static long long
sqlid(const char *fmt, ...)
{
	char	q[2048], *v;
	long long n = -1;
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	if ((v = sql1(q)) != NULL)
		n = strtoll(v, NULL, 10);
	free(v);
	return (n);
}

static long long p1, p2, p3, a1, a2, a3, b1;

static int
setup(void)
{
	p1 = sqlid("SELECT edge_patient_upsert('MRN1001', 'HOSP', 'Smith', "
	    "'John', NULL, '1970-01-02', 'M')");
	p2 = sqlid("SELECT edge_patient_upsert('MRN1002', 'HOSP', 'Smithers', "
	    "'Anna', NULL, '1980-05-06', 'F')");
	p3 = sqlid("SELECT edge_patient_upsert('XYZ9', 'HOSP', 'Jones', "
	    "'Mary', NULL, '1990-07-08', 'F')");
	sqlid("SELECT edge_exam_status(%lld, 'ACC-A1', 'CT Chest', 'CT', "
	    "'preliminary', 'P', 'OBR-25', '2026-01-02 10:00+00', 'prelim', "
	    "NULL, 'c1')", p1);
	sqlid("SELECT edge_exam_status(%lld, 'ACC-A1', NULL, NULL, 'final', "
	    "'F', 'OBR-25', '2026-01-02 12:30+01', 'final text', NULL, 'c2')",
	    p1);
	sqlid("SELECT edge_exam_status(%lld, 'ACC-A2', 'MR Knee', 'MR', "
	    "'scheduled', 'SC', 'ORC-5', '2026-01-03 09:00+00', NULL, NULL, "
	    "'c3')", p1);
	sqlid("SELECT edge_exam_status(%lld, 'ACC-A3', 'XR Hand', 'CR', "
	    "'cancelled', 'CA', 'ORC-5', '2026-01-04 09:00+00', NULL, NULL, "
	    "'c4')", p1);
	sqlid("SELECT edge_exam_status(%lld, 'ACC-B1', 'US Abdomen', 'US', "
	    "'final', 'F', 'OBR-25', '2026-01-05 09:00+00', 'ok', NULL, 'c5')",
	    p2);
	sqlid("SELECT edge_exam_status(%lld, 'ACC-C1', 'CT Head', 'CT', "
	    "'final', 'F', 'OBR-25', '2026-01-05 09:00+00', 'ok', NULL, 'c6')",
	    p3);
	sqlid("SELECT edge_patient_merge(%lld, 'XYZ9', 'HOSP', 'A18', 'c7')",
	    p2);
	a1 = sqlid("SELECT id FROM exams WHERE accession = 'ACC-A1'");
	a2 = sqlid("SELECT id FROM exams WHERE accession = 'ACC-A2'");
	a3 = sqlid("SELECT id FROM exams WHERE accession = 'ACC-A3'");
	b1 = sqlid("SELECT id FROM exams WHERE accession = 'ACC-B1'");
	return (p1 > 0 && p2 > 0 && p3 > 0 && a1 > 0 && a2 > 0 && a3 > 0 &&
	    b1 > 0 ? 0 : -1);
}

/* --- checks ---------------------------------------------------------- */

static void
test_auth(void)
{
	struct resp	r;

	http(&r, "GET", "/api/patients?q=smi", NULL, NULL, 0);
	ok(r.status == 401 && is_json_error(&r) &&
	    strcasestr(r.hdrs.data, "WWW-Authenticate: Bearer") != NULL,
	    "no token: 401 JSON with WWW-Authenticate: Bearer");
	resp_free(&r);
	http(&r, "GET", "/api/patients?q=smi", "alice-token-0123456789abcdeX",
	    NULL, 0);
	ok(r.status == 401 && is_json_error(&r) &&
	    strstr(r.hdrs.data, "invalid_token") != NULL,
	    "wrong token: 401 invalid_token");
	resp_free(&r);
	http(&r, "GET", "/api/patients?q=smi", TOKEN_BOB, NULL, 0);
	ok(r.status == 200, "the second user's token works");
	resp_free(&r);
}

static json_t *
find_patient(json_t *list, long long id)
{
	size_t	 i;
	json_t	*p;

	json_array_foreach(list, i, p)
		if (json_integer_value(json_object_get(p, "id")) == id)
			return (p);
	return (NULL);
}

static void
test_search(void)
{
	struct resp	 r;
	json_t		*l, *p, *e;
	size_t		 i;
	int		 good = 0;

	get(&r, "/api/patients?q=mrn100");
	l = json_object_get(r.json, "patients");
	ok(r.status == 200 && json_array_size(l) == 2 &&
	    find_patient(l, p1) && find_patient(l, p2) &&
	    strcasestr(r.hdrs.data, "Content-Type: application/json"),
	    "search by MRN prefix (case-insensitive): two patients");
	resp_free(&r);

	get(&r, "/api/patients?q=SMITH");
	l = json_object_get(r.json, "patients");
	ok(r.status == 200 && json_array_size(l) == 2,
	    "search by family name prefix, upper case");
	p = find_patient(l, p1);
	json_array_foreach(json_object_get(p, "exams"), i, e) {
		if (strcmp(json_string_value(json_object_get(e, "accession")),
		    "ACC-A1") == 0 && strcmp(json_string_value(
		    json_object_get(e, "status")), "final") == 0 &&
		    strcmp(json_string_value(json_object_get(e,
		    "status_time")), "2026-01-02T11:30:00Z") == 0 &&
		    strcmp(json_string_value(json_object_get(e,
		    "description")), "CT Chest") == 0)
			good++;
	}
	ok(p != NULL && json_array_size(json_object_get(p, "exams")) == 3 &&
	    good == 1, "exams with accession, description, latest status and "
	    "its UTC time");
	resp_free(&r);

	get(&r, "/api/patients?q=jo");
	l = json_object_get(r.json, "patients");
	ok(r.status == 200 && json_array_size(l) == 1 && find_patient(l, p1),
	    "search by given name prefix; the merged-away Jones is hidden");
	resp_free(&r);

	get(&r, "/api/patients?q=xyz");
	ok(r.status == 200 && json_array_size(json_object_get(r.json,
	    "patients")) == 0, "merged-away MRN not found");
	resp_free(&r);

	get(&r, "/api/patients?q=%25");
	ok(r.status == 200 && json_array_size(json_object_get(r.json,
	    "patients")) == 0, "a %% in the text is literal, not a wildcard");
	resp_free(&r);

	get(&r, "/api/patients?q=smithers+anna");
	ok(r.status == 200 && json_array_size(json_object_get(r.json,
	    "patients")) == 0, "+ decodes to a space");
	resp_free(&r);

	get(&r, "/api/patients");
	ok(r.status == 400 && is_json_error(&r), "no q: 400");
	resp_free(&r);
	get(&r, "/api/patients?q=a&x=1");
	ok(r.status == 400 && is_json_error(&r), "unknown parameter: 400");
	resp_free(&r);
	get(&r, "/api/patients?q=%zz");
	ok(r.status == 400, "bad escape: 400");
	resp_free(&r);
}

static void
test_exams(void)
{
	struct resp	 r;
	char		 path[128];
	json_t		*e, *x;
	size_t		 i;
	int		 good = 0;

	snprintf(path, sizeof(path), "/api/patients/%lld/exams", p1);
	get(&r, path);
	e = json_object_get(r.json, "exams");
	json_array_foreach(e, i, x) {
		if (json_integer_value(json_object_get(x, "id")) == a1 &&
		    json_array_size(json_object_get(x, "history")) == 2 &&
		    strcmp(json_string_value(json_object_get(x, "status")),
		    "final") == 0)
			good++;
	}
	ok(r.status == 200 && json_array_size(e) == 3 && good == 1 &&
	    json_integer_value(json_object_get(json_object_get(r.json,
	    "patient"), "id")) == p1, "a patient's exams with history");
	resp_free(&r);
	get(&r, "/api/patients/999999/exams");
	ok(r.status == 404 && is_json_error(&r), "unknown patient: 404");
	resp_free(&r);
	get(&r, "/api/patients/abc/exams");
	ok(r.status == 404, "bad patient id: 404");
	resp_free(&r);
}

static int
secret_in(const char *hay, const char *tok)
{
	char	fmt[32];

	rsnaid_token_format(tok, fmt, sizeof(fmt));
	return (strstr(hay, tok) != NULL || strstr(hay, fmt) != NULL);
}

static char	tokens[3][RSNAID_TOKEN_MAX + 1];

/* Create a job set; check the reply and the row. Returns the set id. */
static long long
jobset(int n, const char *scheme, const char *password, const char *extra,
    long long exam1, long long exam2)
{
	struct resp	 r;
	char		 body[1024], q[512], *rid, *wk;
	const char	*tok;
	struct rsnaid	 want;
	enum rsnaid_scheme s;
	uint8_t		 key[KEYWRAP_KEY_LEN], wrapped[KEYWRAP_LEN];
	long long	 id;
	long		 gap;
	int		 ticks;
	size_t		 i, wlen = 0;

	snprintf(body, sizeof(body), "{\"patient\": %lld, \"exams\": [%lld, "
	    "%lld], %s, \"scheme\": \"%s\", \"dob\": \"1970-01-02\", "
	    "\"password\": \"%s\"}", p1, exam1, exam2, extra, scheme, password);
	shm->maxgap_us = 0;
	ticks = shm->ticks;
	post(&r, "/api/job-sets", body);
	gap = shm->maxgap_us;
	ticks = shm->ticks - ticks;
	id = json_integer_value(json_object_get(r.json, "job_set"));
	tok = json_string_value(json_object_get(r.json, "token"));
	ok(r.status == 201 && id > 0 && tok != NULL && strlen(tok) == 9 &&
	    tok[4] == '-' && strspn(tok, "ybndrfg8ejkmcpqxot1uwisza345h769-") ==
	    9 && strcmp(json_string_value(json_object_get(r.json, "dob")),
	    "1970-01-02") == 0 && strcmp(json_string_value(json_object_get(
	    r.json, "scheme")), scheme) == 0 && strcmp(json_string_value(
	    json_object_get(r.json, "site")), "test-edge") == 0 &&
	    json_array_size(json_object_get(r.json, "jobs")) == 2,
	    "%s job set: 201 with token abcd-efgh, dob, scheme, site, 2 jobs",
	    scheme);
	if (strcmp(scheme, "isn2") == 0 && getenv("TEST_API_SLOW") != NULL)
		tap_skip(1, "under a tool that serialises threads");
	else if (strcmp(scheme, "isn2") == 0)
		ok(ticks >= 3 && gap < 100000 && gap * 2 < (long)(r.secs * 1e6),
		    "the loop kept ticking during scrypt (%d ticks, max gap "
		    "%ld us, request %.3f s)", ticks, gap, r.secs);
	if (tok == NULL) {
		resp_free(&r);
		return (-1);
	}
	rsnaid_token_normalise(tok, 0, tokens[n], NULL);
	snprintf(q, sizeof(q), "SELECT rsna_id FROM job_sets WHERE id = %lld",
	    id);
	rid = sql1(q);
	rsnaid_scheme_parse(scheme, &s);
	memset(&want, 0, sizeof(want));
	ok(rid != NULL && rsnaid_compute(s, tok, "1970-01-02", password, &want,
	    NULL) == 0 && strcmp(rid, want.id) == 0,
	    "%s: job_sets.rsna_id is rsnaid_compute(token, dob, password)",
	    scheme);
	snprintf(q, sizeof(q), "SELECT encode(wrapped_key, 'hex') FROM job_sets"
	    " WHERE id = %lld", id);
	wk = sql1(q);
	if (s == RSNAID_ISN2) {
		wlen = wk != NULL ? strlen(wk) / 2 : 0;
		for (i = 0; i < wlen && i < sizeof(wrapped); i++)
			sscanf(wk + 2 * i, "%2hhx", &wrapped[i]);
		ok(wlen == KEYWRAP_LEN && rid != NULL && keywrap_unwrap(kek, rid,
		    wrapped, wlen, key, NULL) == 0 && want.has_key &&
		    memcmp(key, want.key, sizeof(key)) == 0,
		    "isn2: the wrapped key unwraps to isn2's content key");
	} else
		ok(wk == NULL, "rsna-token: no wrapped key");
	snprintf(q, sizeof(q), "SELECT count(*) || ' ' || min(j.status) || ' ' "
	    "|| min(j.remaining_retries) || ' ' || min(js.created_by) FROM jobs"
	    " j JOIN job_sets js ON js.id = j.job_set_id WHERE js.id = %lld",
	    id);
	free(rid);
	rid = sql1(q);
	ok(rid != NULL && strcmp(rid, "2 1 10 alice") == 0,
	    "%s: 2 jobs at status 1 with 10 retries, created by alice (%s)",
	    scheme, rid ? rid : "null");
	free(rid);
	free(wk);
	rsnaid_clear(&want);
	resp_free(&r);
	return (id);
}

static void
test_jobset_errors(void)
{
	struct resp	r;
	char		body[512], *big;

#define JS(pat, e1, e2, dob) snprintf(body, sizeof(body), "{\"patient\": " \
	"%lld, \"exams\": [%lld, %lld], \"destination\": \"patient\", " \
	"\"dob\": \"%s\", \"password\": \"x\"}", pat, e1, e2, dob)
	JS(p1, a1, a2, "1970-01-03");
	post(&r, "/api/job-sets", body);
	ok(r.status == 400 && is_json_error(&r), "wrong dob: 400");
	resp_free(&r);
	JS(p1, a1, b1, "1970-01-02");
	post(&r, "/api/job-sets", body);
	ok(r.status == 400 && is_json_error(&r), "another patient's exam: 400");
	resp_free(&r);
	JS(p1, a1, a3, "1970-01-02");
	post(&r, "/api/job-sets", body);
	ok(r.status == 409 && is_json_error(&r), "cancelled exam: 409");
	resp_free(&r);
	JS(999999LL, a1, a2, "1970-01-02");
	post(&r, "/api/job-sets", body);
	ok(r.status == 404, "unknown patient: 404");
	resp_free(&r);
	JS(p1, a1, a1, "1970-01-02");
	post(&r, "/api/job-sets", body);
	ok(r.status == 400, "repeated exam: 400");
	resp_free(&r);
	JS(p1, a1, a2, "1970-13-02");
	post(&r, "/api/job-sets", body);
	ok(r.status == 400, "impossible dob: 400");
	resp_free(&r);
	post(&r, "/api/job-sets", "{\"patient\": 1, \"exams\": [");
	ok(r.status == 400 && is_json_error(&r), "malformed JSON: 400");
	resp_free(&r);
	post(&r, "/api/job-sets", "[1, 2]");
	ok(r.status == 400, "not an object: 400");
	resp_free(&r);
	snprintf(body, sizeof(body), "{\"patient\": %lld, \"exams\": [%lld], "
	    "\"destination\": \"patient\", \"dob\": \"1970-01-02\"}", p1, a1);
	post(&r, "/api/job-sets", body);
	ok(r.status == 400, "no password: 400");
	resp_free(&r);
	snprintf(body, sizeof(body), "{\"patient\": %lld, \"exams\": [%lld], "
	    "\"destination\": \"site\", \"dob\": \"1970-01-02\", "
	    "\"password\": \"x\"}", p1, a1);
	post(&r, "/api/job-sets", body);
	ok(r.status == 400, "site destination without a site: 400");
	resp_free(&r);
	snprintf(body, sizeof(body), "{\"patient\": %lld, \"exams\": [%lld], "
	    "\"destination\": \"patient\", \"dob\": \"1970-01-02\", "
	    "\"password\": \"x\", \"token\": \"abcdefgh\"}", p1, a1);
	post(&r, "/api/job-sets", body);
	ok(r.status == 400, "unknown member: 400");
	resp_free(&r);
	big = malloc(200 * 1024);
	memset(big, ' ', 200 * 1024 - 1);
	big[0] = '{';
	big[200 * 1024 - 2] = '}';
	big[200 * 1024 - 1] = '\0';
	post(&r, "/api/job-sets", big);
	ok(r.status == 413 && is_json_error(&r), "200 KiB body: 413");
	resp_free(&r);
	chunked = 1;
	post(&r, "/api/job-sets", big);
	chunked = 0;
	ok(r.status == 413 && is_json_error(&r), "200 KiB chunked body: 413");
	resp_free(&r);
	free(big);
	get(&r, "/api/job-sets");
	ok(r.status == 405 && strcasestr(r.hdrs.data, "Allow: POST") != NULL &&
	    is_json_error(&r), "GET /api/job-sets: 405 with Allow: POST");
	resp_free(&r);
	get(&r, "/api/nothing");
	ok(r.status == 404 && is_json_error(&r), "unknown path: 404");
	resp_free(&r);
}

/*
 * A client gone during the derivation: httpd does not read while the
 * handler works, so the set still commits (its 201 is lost: staff cancel
 * it from the job list); the server goes on answering.
 */
static void
test_abort(void)
{
	struct resp	r;
	char		body[512];
	long long	before;
	int		i;

	before = sqlid("SELECT count(*) FROM job_sets");
	snprintf(body, sizeof(body), "{\"patient\": %lld, \"exams\": [%lld], "
	    "\"destination\": \"patient\", \"dob\": \"1970-01-02\", "
	    "\"password\": \"x\"}", p1, a2);
	timeout_ms = 20;
	post(&r, "/api/job-sets", body);
	timeout_ms = 60000;
	ok(r.status == 0, "a client that gives up during scrypt");
	resp_free(&r);
	for (i = 0; i < 500 && sqlid("SELECT count(*) FROM job_sets") ==
	    before; i++)
		usleep(10000);	/* a bounded wait for the row */
	get(&r, "/api/jobs?status=1");
	ok(r.status == 200 && sqlid("SELECT count(*) FROM job_sets") ==
	    before + 1, "the abandoned set completes; the server answers");
	resp_free(&r);
}

/* The tokens file: owner-only, well-formed. */
static void
test_tokens(void)
{
	struct api_conf	 c;
	char		 path[1100], *cause = NULL;
	struct api	*a;
	FILE		*f;
	int		 bad = 0;

	memset(&c, 0, sizeof(c));
	c.kek = kek;
	c.site_name = "x";
	c.tokens_file = path;
	snprintf(path, sizeof(path), "%s/tokens-bad", dir);
	f = fopen(path, "w");
	fprintf(f, "carol short\n");
	fclose(f);
	if ((a = api_new(NULL, NULL, &c, &cause)) == NULL && cause != NULL &&
	    strstr(cause, ":1: token shorter") != NULL)
		bad++;
	free(cause);
	cause = NULL;
	f = fopen(path, "w");
	fprintf(f, "carol 0123456789abcdef0123\ndave 0123456789abcdef0123\n");
	fclose(f);
	if ((a = api_new(NULL, NULL, &c, &cause)) == NULL && cause != NULL &&
	    strstr(cause, ":2: user or token repeated") != NULL)
		bad++;
	free(cause);
	cause = NULL;
	f = fopen(path, "w");
	fprintf(f, "carol 0123456789abcdef0123\n");
	fclose(f);
	chmod(path, 0644);
	if ((a = api_new(NULL, NULL, &c, &cause)) == NULL && cause != NULL &&
	    strstr(cause, "mode 0600") != NULL)
		bad++;
	free(cause);
	ok(bad == 3, "tokens file: short, repeated token, readable by others "
	    "refused with file:line");
}

static long long
first_job(long long set)
{
	return (sqlid("SELECT min(id) FROM jobs WHERE job_set_id = %lld", set));
}

static void
test_jobs(long long set)
{
	struct resp	 r;
	char		 path[128];
	long long	 j = first_job(set), j2;
	json_t		*h, *x;
	size_t		 i;
	int		 good = 0;

	snprintf(path, sizeof(path), "/api/jobs?patient=%lld", p1);
	get(&r, path);
	x = json_object_get(r.json, "jobs");
	json_array_foreach(x, i, h)
		if (json_integer_value(json_object_get(h, "status")) == 1 &&
		    strcmp(json_string_value(json_object_get(h, "meaning")),
		    "Waiting to retrieve images and report") == 0 &&
		    json_string_value(json_object_get(h, "accession")) != NULL &&
		    json_integer_value(json_object_get(h, "job_set")) > 0)
			good++;
	ok(r.status == 200 && json_array_size(x) == 7 && good == 7,
	    "jobs of the patient: status, meaning, accession, job set");
	resp_free(&r);
	snprintf(path, sizeof(path), "/api/jobs?patient=%lld", p2);
	get(&r, path);
	ok(r.status == 200 && json_array_size(json_object_get(r.json,
	    "jobs")) == 0, "another patient: no jobs");
	resp_free(&r);
	get(&r, "/api/jobs?status=-30");
	ok(r.status == 200 && json_array_size(json_object_get(r.json,
	    "jobs")) == 0, "by status -30: none yet");
	resp_free(&r);
	get(&r, "/api/jobs?status=x1");
	ok(r.status == 400, "bad status: 400");
	resp_free(&r);

	snprintf(path, sizeof(path), "/api/jobs/%lld", j);
	get(&r, path);
	h = json_object_get(r.json, "history");
	ok(r.status == 200 && json_integer_value(json_object_get(
	    json_object_get(r.json, "job"), "id")) == j &&
	    json_array_size(h) == 1 && strcmp(json_string_value(
	    json_object_get(json_array_get(h, 0), "reason")),
	    "created by alice") == 0, "job detail with its history");
	resp_free(&r);
	get(&r, "/api/jobs/99999999");
	ok(r.status == 404 && is_json_error(&r), "unknown job: 404");
	resp_free(&r);

	snprintf(path, sizeof(path), "/api/jobs/%lld/retry", j);
	post(&r, path, NULL);
	ok(r.status == 409 && is_json_error(&r), "retry of a job that has not "
	    "failed: 409");
	resp_free(&r);
	sqlid("UPDATE jobs SET remaining_retries = 0 WHERE id = %lld", j);
	sqlid("INSERT INTO job_history (job_id, status, reason) VALUES (%lld, "
	    "-30, 'clearinghouse down')", j);
	get(&r, "/api/jobs?status=-30");
	ok(r.status == 200 && json_array_size(json_object_get(r.json,
	    "jobs")) == 1, "by status -30: the failed job");
	resp_free(&r);
	post(&r, path, NULL);
	x = json_object_get(r.json, "job");
	h = json_object_get(r.json, "history");
	ok(r.status == 200 && json_integer_value(json_object_get(x,
	    "status")) == 1 && json_integer_value(json_object_get(x,
	    "remaining_retries")) == 10 && json_array_size(h) == 3 &&
	    strcmp(json_string_value(json_object_get(json_array_get(h, 2),
	    "reason")), "retried by alice") == 0,
	    "retry of a failed job: status 1, retries reset, history");
	resp_free(&r);
	post(&r, "/api/jobs/99999999/retry", NULL);
	ok(r.status == 404, "retry of an unknown job: 404");
	resp_free(&r);

	snprintf(path, sizeof(path), "/api/jobs/%lld/cancel", j);
	http(&r, "POST", path, TOKEN_BOB, NULL, 0);
	x = json_object_get(r.json, "job");
	h = json_object_get(r.json, "history");
	ok(r.status == 200 && json_integer_value(json_object_get(x,
	    "status")) == -21 && strcmp(json_string_value(json_object_get(
	    json_array_get(h, json_array_size(h) - 1), "reason")),
	    "cancelled by bob") == 0, "cancel: -21, cancelled by bob");
	resp_free(&r);
	post(&r, path, NULL);
	ok(r.status == 409, "cancel again: 409");
	resp_free(&r);
	j2 = sqlid("SELECT max(id) FROM jobs WHERE job_set_id = %lld", set);
	sqlid("INSERT INTO job_history (job_id, status, reason) VALUES (%lld, "
	    "40, NULL)", j2);
	snprintf(path, sizeof(path), "/api/jobs/%lld/cancel", j2);
	post(&r, path, NULL);
	ok(r.status == 409 && is_json_error(&r), "cancel of a completed job: "
	    "409");
	resp_free(&r);
	snprintf(path, sizeof(path), "/api/jobs/%lld/retry", j2);
	post(&r, path, NULL);
	ok(r.status == 409, "retry of a completed job: 409");
	resp_free(&r);
	snprintf(path, sizeof(path), "/api/jobs/%lld/retry", j);
	get(&r, path);
	ok(r.status == 405 && strcasestr(r.hdrs.data, "Allow: POST"),
	    "GET on retry: 405");
	resp_free(&r);
}

static char *
slurp_cmd(const char *cmd)
{
	FILE		*f;
	struct dbuf	 b;
	char		 buf[8192];
	size_t		 n;

	dbuf_init(&b, SIZE_MAX);
	if ((f = popen(cmd, "r")) == NULL)
		return (NULL);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		dbuf_add(&b, buf, n);
	if (pclose(f) != 0) {
		dbuf_free(&b);
		return (NULL);
	}
	dbuf_addc(&b, '\0');
	return (dbuf_take(&b, NULL));
}

static void
test_secrets(void)
{
	char	*dump, *log;
	int	 i, found = 0;

	dump = slurp_cmd("pg_dump --data-only --no-owner 2>&1");
	log = tap_slurp(logpath, NULL);
	for (i = 0; i < 3; i++)
		if (tokens[i][0] == '\0' || (dump && secret_in(dump, tokens[i])))
			found++;
	ok(dump != NULL && strstr(dump, "ACC-A1") != NULL && found == 0 &&
	    strstr(dump, PASSWORD1) == NULL && strstr(dump, PASSWORD2) ==
	    NULL && strstr(dump, PASSWORD3) == NULL,
	    "pg_dump holds neither tokens nor passwords");
	found = 0;
	for (i = 0; i < 3; i++)
		if (log && secret_in(log, tokens[i]))
			found++;
	ok(log != NULL && strstr(log, "api job-set") != NULL && found == 0 &&
	    strstr(log, PASSWORD1) == NULL && strstr(log, PASSWORD2) == NULL &&
	    strstr(log, TOKEN_ALICE) == NULL && strstr(log, "MRN100") == NULL &&
	    strstr(log, "Smith") == NULL, "the log holds no token, password, "
	    "MRN or name");
	free(dump);
	free(log);
}

int
main(void)
{
	const char	*conninfo = getenv("ISN_PG_CONNINFO");
	char		 tokpath[1024];
	FILE		*f;
	int		 fds[2], st;
	pid_t		 pid;
	long long	 s1, s2, s3;
	char		 extra[128];

	dir = getenv("TEST_API_DIR");
	if (conninfo == NULL || dir == NULL) {
		printf("1..0 # SKIP run through test_api.sh\n");
		return (0);
	}
	snprintf(logpath, sizeof(logpath), "%s/api.log", dir);
	snprintf(tokpath, sizeof(tokpath), "%s/tokens", dir);
	umask(077);
	f = fopen(tokpath, "w");
	fprintf(f, "# staff tokens\nalice %s\n\nbob %s\n", TOKEN_ALICE,
	    TOKEN_BOB);
	fclose(f);
	RAND_bytes(kek, sizeof(kek));
	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (pipe(fds) == -1 || (pid = fork()) == -1)
		return (1);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);	/* no orphan on a crash */
		close(fds[0]);
		curl_global_cleanup();
		exit(server(conninfo, tokpath, fds[1]));
	}
	close(fds[1]);
	if (read(fds[0], &port, sizeof(port)) != sizeof(port)) {
		printf("Bail out! the server did not start\n");
		waitpid(pid, NULL, 0);
		return (1);
	}
	close(fds[0]);
	/* Connected after the fork: the child must not share the session. */
	if ((pg = PQconnectdb(conninfo)) == NULL ||
	    PQstatus(pg) != CONNECTION_OK || setup() == -1) {
		printf("Bail out! database setup: %s\n", PQerrorMessage(pg));
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		return (1);
	}

	test_tokens();
	test_auth();
	test_search();
	test_exams();
	s1 = jobset(0, "isn2", PASSWORD1,
	    "\"destination\": \"patient\", \"urgency\": \"routine\"", a1, a2);
	s2 = jobset(1, "rsna-token", PASSWORD2,
	    "\"destination\": \"patient\", \"urgency\": \"immediate\", "
	    "\"delay_hours\": 0", a2, a1);
	snprintf(extra, sizeof(extra), "\"destination\": \"site\", \"site\": "
	    "\"other-hospital\", \"urgency\": \"final\"");
	s3 = jobset(2, "isn2", PASSWORD3, extra, a1, a2);
	ok(sqlid("SELECT count(*) FROM job_sets WHERE id = %lld AND "
	    "destination = 'site' AND site_id = 'other-hospital' AND "
	    "urgency = 'final' AND delay = '72 hours'", s3) == 1 &&
	    sqlid("SELECT count(*) FROM job_sets WHERE id = %lld AND "
	    "urgency = 'immediate' AND delay = '0'", s2) == 1,
	    "site, urgency and delay stored");
	test_abort();
	test_jobset_errors();
	test_jobs(s1);
	test_secrets();

	kill(pid, SIGTERM);
	ok(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 0, "the server stops cleanly on SIGTERM");
	PQfinish(pg);
	curl_global_cleanup();
	munmap(shm, sizeof(*shm));
	return (tap_done());
}
