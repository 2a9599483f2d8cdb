/*
 * bench-query: ITI-18 FindSubmissionSets load for the clearinghouse
 * benchmark (docs/design/bench.md).
 *
 * usage: bench-query url cert key ca npatients pid-prefix domain-oid
 *        clients seconds
 *
 * Each of `clients` threads keeps one mutual-TLS keep-alive connection
 * (libcurl easy handle) and POSTs LeafClass FindSubmissionSets queries
 * (status Approved) for patient <pid-prefix><k>^^^&<domain-oid>&ISO, k
 * uniformly random in 1..npatients, for `seconds` seconds after a short
 * unmeasured warm-up (TLS sessions resumed on reconnection). Prints one
 * line: queries, errors, answers with at least one RegistryPackage,
 * queries/second, p50/p90/p99/max latency (ms), and the connections
 * opened (connects: the daemon closes a keep-alive connection after
 * httpd's max_requests) with the p99 of the
 * queries sent on an already open connection (p99_reuse_ms).
 * Exit 1 when any query failed (not HTTP 200 with Success).
 */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#define WARMUP	50

struct resp {
	char	*buf;
	size_t	 len, cap;
};

struct worker {
	pthread_t	 th;
	unsigned	 id;
	uint64_t	 rng;
	double		*lat;		/* ms */
	size_t		 n, cap;
	double		*rlat;		/* ms, on an open connection */
	size_t		 rn, rcap;
	unsigned long	 connects;
	unsigned long	 errors, found;
	int		 setup_failed;
};

static const char	*url, *cert, *key, *ca, *prefix, *domain;
static unsigned long	 npatients;
static double		 seconds;

static const char query_fmt[] =
"<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
"<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\""
" xmlns:wsa=\"http://www.w3.org/2005/08/addressing\"><env:Header>"
"<wsa:Action env:mustUnderstand=\"1\">urn:ihe:iti:2007:RegistryStoredQuery"
"</wsa:Action><wsa:MessageID>urn:uuid:6f3c6f4e-5b1e-4c1a-9d7e-%012lx"
"</wsa:MessageID><wsa:ReplyTo><wsa:Address>"
"http://www.w3.org/2005/08/addressing/anonymous</wsa:Address></wsa:ReplyTo>"
"</env:Header><env:Body><query:AdhocQueryRequest"
" xmlns:query=\"urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0\""
" xmlns=\"urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0\">"
"<query:ResponseOption returnComposedObjects=\"true\""
" returnType=\"LeafClass\"/>"
"<AdhocQuery id=\"urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9\">"
"<Slot name=\"$XDSSubmissionSetPatientId\"><ValueList>"
"<Value>'%s%lu^^^&amp;%s&amp;ISO'</Value></ValueList></Slot>"
"<Slot name=\"$XDSSubmissionSetStatus\"><ValueList>"
"<Value>('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')</Value>"
"</ValueList></Slot></AdhocQuery></query:AdhocQueryRequest></env:Body>"
"</env:Envelope>";

static double
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6);
}

static size_t
on_data(char *p, size_t sz, size_t nm, void *arg)
{
	struct resp	*r = arg;
	size_t		 n = sz * nm;

	if (r->len + n + 1 > r->cap) {
		r->cap = (r->len + n + 1) * 2;
		if ((r->buf = realloc(r->buf, r->cap)) == NULL)
			return (0);
	}
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	r->buf[r->len] = '\0';
	return (n);
}

static uint64_t
next(uint64_t *s)
{
	uint64_t	x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return (*s = x);
}

static void *
work(void *arg)
{
	struct worker		*w = arg;
	struct curl_slist	*hdr = NULL;
	struct resp		 r = { NULL, 0, 0 };
	CURL			*c;
	char			 body[4096];
	double			 t0, t1, end = 0;
	long			 code, nconn;
	unsigned long		 i, k;
	CURLcode		 rc;

	if ((c = curl_easy_init()) == NULL) {
		w->setup_failed = 1;
		return (NULL);
	}
	hdr = curl_slist_append(hdr,
	    "Content-Type: application/soap+xml; charset=UTF-8");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
	curl_easy_setopt(c, CURLOPT_SSLKEY, key);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	/*
	 * TLS sessions are resumed (libcurl's default), as a PHR's would be
	 * when the daemon rotates a keep-alive connection.
	 */
	for (i = 0;; i++) {
		if (i == WARMUP)
			end = now_ms() + seconds * 1e3;
		if (i > WARMUP && now_ms() >= end)
			break;
		k = 1 + (unsigned long)(next(&w->rng) % npatients);
		snprintf(body, sizeof(body), query_fmt,
		    (unsigned long)w->id << 32 | i, prefix, k, domain);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		r.len = 0;
		t0 = now_ms();
		rc = curl_easy_perform(c);
		t1 = now_ms();
		code = 0;
		nconn = 0;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &nconn);
		if (i < WARMUP)
			continue;
		if (rc != CURLE_OK || code != 200 || r.buf == NULL ||
		    strstr(r.buf, "ResponseStatusType:Success") == NULL) {
			if (w->errors++ == 0)
				fprintf(stderr, "bench-query: %s, HTTP %ld: "
				    "%.300s\n", curl_easy_strerror(rc), code,
				    r.buf != NULL ? r.buf : "");
			continue;
		}
		if (strstr(r.buf, "RegistryPackage") != NULL)
			w->found++;
		if (w->n == w->cap) {
			w->cap = w->cap ? w->cap * 2 : 65536;
			if ((w->lat = realloc(w->lat,
			    w->cap * sizeof(*w->lat))) == NULL) {
				w->setup_failed = 1;
				break;
			}
		}
		w->lat[w->n++] = t1 - t0;
		if (nconn > 0) {
			w->connects++;
			continue;
		}
		if (w->rn == w->rcap) {
			w->rcap = w->rcap ? w->rcap * 2 : 65536;
			if ((w->rlat = realloc(w->rlat,
			    w->rcap * sizeof(*w->rlat))) == NULL) {
				w->setup_failed = 1;
				break;
			}
		}
		w->rlat[w->rn++] = t1 - t0;
	}
	curl_easy_cleanup(c);
	curl_slist_free_all(hdr);
	free(r.buf);
	return (NULL);
}

static int
cmp(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return (x < y ? -1 : x > y);
}

static double
pct(const double *v, size_t n, double p)
{
	size_t	i;

	if (n == 0)
		return (0);
	i = (size_t)(p * (double)(n - 1) + 0.5);
	return (v[i]);
}

int
main(int argc, char **argv)
{
	struct worker	*w;
	double		*all, *reuse;
	size_t		 n = 0, rn = 0, j;
	unsigned long	 errors = 0, found = 0, connects = 0, i, nclients;

	if (argc != 10) {
		fprintf(stderr, "usage: bench-query url cert key ca npatients "
		    "pid-prefix domain-oid clients seconds\n");
		return (2);
	}
	url = argv[1];
	cert = argv[2];
	key = argv[3];
	ca = argv[4];
	npatients = strtoul(argv[5], NULL, 10);
	prefix = argv[6];
	domain = argv[7];
	nclients = strtoul(argv[8], NULL, 10);
	seconds = atof(argv[9]);
	if (npatients < 1 || nclients < 1 || nclients > 256 || seconds <= 0) {
		fprintf(stderr, "bench-query: bad arguments\n");
		return (2);
	}
	curl_global_init(CURL_GLOBAL_ALL);
	w = calloc(nclients, sizeof(*w));
	if (w == NULL)
		return (1);
	for (i = 0; i < nclients; i++) {
		w[i].id = (unsigned)i;
		w[i].rng = 0x9e3779b97f4a7c15ULL * (i + 1) ^
		    (uint64_t)time(NULL);
		if (pthread_create(&w[i].th, NULL, work, &w[i]) != 0) {
			fprintf(stderr, "bench-query: pthread_create\n");
			return (1);
		}
	}
	for (i = 0; i < nclients; i++) {
		pthread_join(w[i].th, NULL);
		if (w[i].setup_failed)
			errors++;
		n += w[i].n;
		rn += w[i].rn;
		connects += w[i].connects;
		errors += w[i].errors;
		found += w[i].found;
	}
	if ((all = malloc((n ? n : 1) * sizeof(*all))) == NULL ||
	    (reuse = malloc((rn ? rn : 1) * sizeof(*reuse))) == NULL)
		return (1);
	n = rn = 0;
	for (i = 0; i < nclients; i++) {
		for (j = 0; j < w[i].n; j++)
			all[n++] = w[i].lat[j];
		for (j = 0; j < w[i].rn; j++)
			reuse[rn++] = w[i].rlat[j];
	}
	qsort(all, n, sizeof(*all), cmp);
	qsort(reuse, rn, sizeof(*reuse), cmp);
	printf("queries=%zu errors=%lu found=%lu qps=%.1f p50_ms=%.3f "
	    "p90_ms=%.3f p99_ms=%.3f max_ms=%.3f ", n, errors, found,
	    (double)n / seconds, pct(all, n, 0.50), pct(all, n, 0.90),
	    pct(all, n, 0.99), n ? all[n - 1] : 0.0);
	printf("connects=%lu p99_reuse_ms=%.3f\n", connects,
	    pct(reuse, rn, 0.99));
	for (i = 0; i < nclients; i++) {
		free(w[i].lat);
		free(w[i].rlat);
	}
	free(w);
	free(all);
	free(reuse);
	curl_global_cleanup();
	return (errors == 0 ? 0 : 1);
}
