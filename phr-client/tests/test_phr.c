/*
 * test_phr.c: libisnphr's pieces that need no server: UIDs as file names
 * (a hostile "../x" never leaves DIR), the retry schedule, DTM times, the
 * list view and index.json, JSON escaping, profiles and patient details.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/ssl.h>

#include "phr_int.h"
#include "tap.h"
#include "testpki.h"
#include "xmalloc.h"

static void
test_uid_safe(void)
{
	static const char *const bad[] = {
		"", ".", "..", "../x", "1.2/../../x", "/etc/passwd", "1..2",
		".1.2", "1.2.", "1.2.3a", "1 2", "1.2\n",
		"1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23.24.250",
	};
	size_t	i;

	ok(phr_uid_safe("1.2.840.10008.5.1.4.1.1.88.59"), "a UID is safe");
	ok(phr_uid_safe("2.25.1234567890"), "a 2.25 UID is safe");
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		ok(!phr_uid_safe(bad[i]), "\"%s\" is refused as a file name",
		    bad[i]);
}

static void
test_mkdirs(void)
{
	char		 dir[] = "/tmp/test_phr.XXXXXX", *cause = NULL, p[256];
	struct stat	 st;

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return;
	}
	ok(phr_mkdirs(dir, "1.2/3.4", &cause) == 0, "mkdir -p of two levels");
	snprintf(p, sizeof(p), "%s/1.2/3.4", dir);
	ok(stat(p, &st) == 0 && S_ISDIR(st.st_mode), "both levels exist");
	ok(phr_mkdirs(dir, "1.2/3.4", &cause) == 0, "again: no error");
	rmdir(p);
	snprintf(p, sizeof(p), "%s/1.2", dir);
	rmdir(p);
	rmdir(dir);
	free(cause);
}

static void
test_backoff(void)
{
	is_int(phr_backoff_ms(0, 0), 250, "first retry after 250 ms");
	is_int(phr_backoff_ms(1, 0), 500, "then 500 ms");
	is_int(phr_backoff_ms(2, 0), 1000, "then 1 s");
	is_int(phr_backoff_ms(5, 0), 8000, "capped at 8 s");
	is_int(phr_backoff_ms(40, 0), 8000, "large attempts stay capped");
	is_int(phr_backoff_ms(0, 3), 3000, "Retry-After: 3 is honoured");
	is_int(phr_backoff_ms(3, 3600), 60000, "a huge Retry-After is capped");
	ok(phr_curl_transient(CURLE_COULDNT_CONNECT, ""),
	    "a refused connection is transient");
	ok(phr_curl_transient(CURLE_RECV_ERROR, "Connection reset"),
	    "a reset is transient");
	ok(!phr_curl_transient(CURLE_RECV_ERROR,
	    "OpenSSL SSL_read: tlsv13 alert certificate required"),
	    "a TLS alert is not transient");
	ok(!phr_curl_transient(CURLE_PEER_FAILED_VERIFICATION, ""),
	    "a bad server certificate is not transient");
}

static void
test_dtm(void)
{
	is_int((long long)phr_dtm_time("19700101000000"), 0, "the epoch");
	is_int((long long)phr_dtm_time("20261127120000"), 1795780800LL,
	    "a 14-digit DTM is UTC");
	is_int((long long)phr_dtm_time("20261127"), 1795737600LL,
	    "an 8-digit DTM is midnight");
	is_int((long long)phr_dtm_time("2026112712000"), 0, "odd length");
	is_int((long long)phr_dtm_time("2026x127120000"), 0, "not digits");
	is_int((long long)phr_dtm_time(NULL), 0, "absent");
}

static void
doc(struct phr_doc *d, enum phr_kind k, const char *uid, const char *study,
    const char *series, enum phr_state s)
{
	memset(d, 0, sizeof(*d));
	d->kind = k;
	d->uid = xstrdup(uid);
	d->sop = xstrdup(uid);
	d->study = xstrdup(study);
	d->series = series != NULL ? xstrdup(series) : NULL;
	d->hash = xstrdup("");
	d->repo = xstrdup("1.2.3");
	d->mime = xstrdup("application/dicom");
	d->size = 100;
	d->plain_size = 20;
	d->state = s;
	d->verified = 1;
	if (k == PHR_KOS)
		xasprintf(&d->path, "%s/kos.dcm", study);
	else if (k == PHR_REPORT)
		xasprintf(&d->path, "%s/report.txt", study);
	else
		xasprintf(&d->path, "%s/%s/%s.dcm", study, series, uid);
}

static void
test_index(void)
{
	static const char want[] =
	    "{\n  \"version\": 1,\n  \"sets\": [\n    {\n"
	    "      \"uid\": \"1.9\",\n"
	    "      \"submitted\": \"2026-11-27T12:00:00Z\",\n"
	    "      \"expires\": null,\n"
	    "      \"encryption\": \"isn2\",\n"
	    "      \"studies\": [\n        {\n"
	    "          \"uid\": \"1.2\",\n"
	    "          \"kos\": \"1.2/kos.dcm\",\n"
	    "          \"report\": null,\n"
	    "          \"series\": [\n"
	    "            {\"uid\": \"1.2.1\", \"instances\": [\n"
	    "              {\"sop\": \"1.2.1.1\", \"path\": \"1.2/1.2.1/1.2.1.1.dcm\", \"size\": 20, \"verified\": true}\n"
	    "            ]},\n"
	    "            {\"uid\": \"1.2.2\", \"instances\": []}\n"
	    "          ]\n        }\n      ]\n    }\n  ]\n}\n";
	struct isnphr_list	*l;
	struct phr_set		*s;
	struct dbuf		 b;

	l = xcalloc(1, sizeof(*l));
	l->sets = xcalloc(1, sizeof(*l->sets));
	l->nsets = 1;
	s = &l->sets[0];
	s->uid = xstrdup("1.9");
	s->uuid = xstrdup("urn:uuid:x");
	s->submitted = 1795780800;
	s->isn2 = 1;
	s->ndocs = 5;
	s->docs = xcalloc(5, sizeof(*s->docs));
	doc(&s->docs[0], PHR_KOS, "1.2.9", "1.2", NULL, PHR_DONE);
	doc(&s->docs[1], PHR_REPORT, "1.2.8", "1.2", NULL, PHR_FAILED);
	doc(&s->docs[2], PHR_IMAGE, "1.2.1.1", "1.2", "1.2.1", PHR_SKIPPED);
	doc(&s->docs[3], PHR_IMAGE, "1.2.1.2", "1.2", "1.2.1", PHR_FAILED);
	doc(&s->docs[4], PHR_IMAGE, "1.2.2.1", "1.2", "1.2.2", PHR_PENDING);
	phr_list_build_info(l);

	is_int(isnphr_list_nsets(l), 1, "one set in the view");
	is_int(isnphr_list_set(l, 0)->nstudies, 1, "one study");
	is_int(isnphr_list_set(l, 0)->studies[0].nseries, 2, "two series");
	is_int(isnphr_list_set(l, 0)->studies[0].ninstances, 3,
	    "three instances");
	is_int(isnphr_list_set(l, 0)->studies[0].series[0].ninstances, 2,
	    "two in the first series");
	is_int((long long)isnphr_list_set(l, 0)->studies[0].series[0].bytes,
	    200, "their stored bytes");
	ok(isnphr_list_set(l, 0)->studies[0].has_report &&
	    isnphr_list_set(l, 0)->studies[0].has_kos, "report and KOS seen");
	ok(isnphr_list_set(l, 1) == NULL, "out of range: NULL");

	dbuf_init(&b, 1 << 20);
	ok(phr_index_build(&b, l, NULL) == 0, "index.json builds");
	is_str(dbuf_str(&b), want, "index.json lists only what is on disk");
	dbuf_reset(&b);
	ok(phr_index_build(&b, l, "9.9") == 0 &&
	    strcmp(dbuf_str(&b), "{\n  \"version\": 1,\n  \"sets\": []\n}\n")
	    == 0, "another study: no sets");
	dbuf_free(&b);
	isnphr_list_free(l);
}

/* The fuzzer's seeds: real metadata, and the same with hostile UIDs. */
static void
test_from_xml(void)
{
	struct isnphr_list	*l;
	char			*buf, *cause = NULL, path[512];
	size_t			 len, i, bad;

	snprintf(path, sizeof(path), "%s/phr-client/fuzz/corpus/phr-list/"
	    "example.xml", getenv("top_srcdir") != NULL ?
	    getenv("top_srcdir") : "../..");
	if ((buf = tap_slurp(path, &len)) == NULL ||
	    phr_list_from_xml(buf, len, &l, &cause) == -1) {
		ok(0, "example metadata: %s", cause != NULL ? cause : path);
		free(buf);
		free(cause);
		return;
	}
	is_int(l->sets[0].ndocs, 3, "the example: three entries");
	is_int(isnphr_list_set(l, 0)->studies[0].ninstances, 1,
	    "one instance, with a KOS and a report");
	ok(isnphr_list_set(l, 0)->studies[0].has_kos &&
	    isnphr_list_set(l, 0)->studies[0].has_report, "KOS and report");
	for (i = bad = 0; i < l->sets[0].ndocs; i++)
		bad += phr_doc_path(&l->sets[0].docs[i]) == -1;
	is_int(bad, 0, "every path is built");
	isnphr_list_free(l);
	free(buf);

	snprintf(path, sizeof(path), "%s/phr-client/fuzz/corpus/phr-list/"
	    "hostile.xml", getenv("top_srcdir") != NULL ?
	    getenv("top_srcdir") : "../..");
	if ((buf = tap_slurp(path, &len)) == NULL ||
	    phr_list_from_xml(buf, len, &l, &cause) == -1) {
		ok(0, "hostile metadata");
		free(buf);
		free(cause);
		return;
	}
	for (i = bad = 0; i < l->sets[0].ndocs; i++)
		if (phr_doc_path(&l->sets[0].docs[i]) == -1) {
			bad++;
			ok(l->sets[0].docs[i].path == NULL, "no path for "
			    "\"%s\"", l->sets[0].docs[i].uid);
		}
	is_int(bad, 1, "the entry with a \"../../x\" uniqueId gets no path");
	isnphr_list_free(l);
	free(buf);
}

static void
test_json(void)
{
	struct dbuf	b;

	dbuf_init(&b, 1024);
	phr_json_str(&b, "a\"b\\c\n\x01/");
	is_str(dbuf_str(&b), "\"a\\\"b\\\\c\\u000a\\u0001/\"",
	    "JSON strings are escaped");
	dbuf_reset(&b);
	phr_json_str(&b, NULL);
	is_str(dbuf_str(&b), "null", "NULL is null");
	dbuf_free(&b);
}

static void
test_api(void)
{
	struct isnphr_profile	 p;
	struct isnphr		*h;
	struct isnphr_list	*l;
	char			 path[] = "/tmp/test_phr_prof.XXXXXX";
	FILE			*f;
	int			 fd;

	h = isnphr_new();
	ok(h != NULL && strcmp(isnphr_error(h), "") == 0, "a new handle");
	ok(isnphr_list(h, &l) == -1 && strstr(isnphr_error(h),
	    "isnphr_open") != NULL, "list before open says what is missing");
	memset(&p, 0, sizeof(p));
	p.url = "http://example.test";
	ok(isnphr_open(h, &p) == -1 && strstr(isnphr_error(h), "https://")
	    != NULL, "plain http is refused");
	p.url = "https://127.0.0.1:1/";
	p.cert_file = "x.pem";
	ok(isnphr_open(h, &p) == -1 && strstr(isnphr_error(h), "both") !=
	    NULL, "a certificate without its key is refused");
	p.cert_file = NULL;
	ok(isnphr_open(h, &p) == 0, "open a profile");
	ok(isnphr_set_patient(h, "rsna-token", "fpzddg", "1946-02-01",
	    "quackquack") == 0 && strcmp(isnphr_rsna_id(h),
	    "9652fef890fe9b5de17f2116e971f153d7d655c3b57fef6012a2138239e34d20")
	    == 0, "the rsna-token vector");
	ok(isnphr_set_patient(h, "isn2", "abcd-efgh", "1946-02-01", NULL) ==
	    -1 && strstr(isnphr_error(h), "password") != NULL,
	    "isn2 without a password is refused");
	ok(isnphr_rsna_id(h) == NULL, "and no RSNA-ID is left");
	ok(isnphr_set_patient(h, "isn3", "x", "1946-02-01", "p") == -1,
	    "an unknown scheme is refused");
	isnphr_free(h);

	h = isnphr_new();
	if ((fd = mkstemp(path)) == -1 || (f = fdopen(fd, "w")) == NULL) {
		ok(0, "profile file");
		isnphr_free(h);
		return;
	}
	fprintf(f, "url: https://127.0.0.1:9\nca: ca.pem\nretries: 2\n"
	    "connect_timeout: 3s\n");
	fclose(f);
	ok(isnphr_open_file(h, path) == 0, "a YAML profile opens");
	is_int(h->max_retries, 2, "retries from the profile");
	is_int(h->connect_timeout, 3, "connect_timeout from the profile");
	ok(h->ca != NULL && h->ca[0] == '/' && strstr(h->ca, "/ca.pem") !=
	    NULL, "ca relative to the profile's directory");
	f = fopen(path, "w");
	fprintf(f, "ca: ca.pem\nbogus: 1\n");
	fclose(f);
	ok(isnphr_open_file(h, path) == -1 && strstr(isnphr_error(h),
	    path) != NULL, "a bad profile names the file");
	unlink(path);
	isnphr_free(h);
}

/* --- a fake clearinghouse for the retry paths (one process, TLS) --- */

static const char fake_busy[] =
    "<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\">"
    "<env:Body><query:AdhocQueryResponse xmlns:query=\"urn:oasis:names:tc:"
    "ebxml-regrep:xsd:query:3.0\" xmlns:rs=\"urn:oasis:names:tc:ebxml-regrep"
    ":xsd:rs:3.0\" status=\"urn:oasis:names:tc:ebxml-regrep:"
    "ResponseStatusType:Failure\"><rs:RegistryErrorList><rs:RegistryError "
    "errorCode=\"XDSRegistryBusy\" codeContext=\"busy\" severity=\"urn:"
    "oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error\"/>"
    "</rs:RegistryErrorList></query:AdhocQueryResponse></env:Body>"
    "</env:Envelope>";
static const char fake_empty[] =
    "<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\">"
    "<env:Body><query:AdhocQueryResponse xmlns:query=\"urn:oasis:names:tc:"
    "ebxml-regrep:xsd:query:3.0\" status=\"urn:oasis:names:tc:ebxml-regrep:"
    "ResponseStatusType:Success\"><rim:RegistryObjectList xmlns:rim=\"urn:"
    "oasis:names:tc:ebxml-regrep:xsd:rim:3.0\"/></query:AdhocQueryResponse>"
    "</env:Body></env:Envelope>";

/* Byte i of a "big:N" reply: ASCII, and no period of 64 KiB. */
static char
fake_big_byte(size_t i)
{
	return ((char)('a' + (i * 31 + i / 65536) % 26));
}

/* A "big:N" reply: N bytes of fake_big_byte; -1 when the peer left. */
static int
fake_big(SSL *ssl, size_t n)
{
	char	buf[65536];
	size_t	off, i, k;

	snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\nContent-Type: "
	    "application/soap+xml\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n", n);
	if (SSL_write(ssl, buf, (int)strlen(buf)) <= 0)
		return (-1);
	for (off = 0; off < n; off += k) {
		k = n - off < sizeof(buf) ? n - off : sizeof(buf);
		for (i = 0; i < k; i++)
			buf[i] = fake_big_byte(off + i);
		if (SSL_write(ssl, buf, (int)k) <= 0)
			return (-1);
	}
	return (0);
}

/*
 * Answer one request per connection: the script's next reply ("503", a
 * Busy answer, "big:N", or a body).
 */
static void
fake_serve(int lfd, SSL_CTX *ctx, const char *const *script, size_t n)
{
	char	 buf[65536], hdr[256];
	size_t	 i, got;
	int	 fd, r;
	SSL	*ssl;

	signal(SIGPIPE, SIG_IGN);	/* a client that left: next script */
	for (i = 0; i < n; i++) {
		if ((fd = accept(lfd, NULL, NULL)) == -1)
			_exit(1);
		ssl = SSL_new(ctx);
		SSL_set_fd(ssl, fd);
		if (SSL_accept(ssl) != 1) {
			SSL_free(ssl);
			close(fd);
			continue;
		}
		/* Read until the request body has come (small requests). */
		for (got = 0; got < sizeof(buf) - 1;) {
			r = SSL_read(ssl, buf + got, (int)(sizeof(buf) - 1 - got));
			if (r <= 0)
				break;
			got += (size_t)r;
			buf[got] = '\0';
			if (strstr(buf, "</env:Envelope>") != NULL)
				break;
		}
		if (strncmp(script[i], "big:", 4) == 0) {
			fake_big(ssl, strtoul(script[i] + 4, NULL, 10));
			buf[0] = '\0';
		} else if (strcmp(script[i], "503") == 0)
			snprintf(buf, sizeof(buf), "HTTP/1.1 503 Busy\r\n"
			    "Content-Type: text/plain\r\nContent-Length: 5\r\n"
			    "Connection: close\r\n\r\nbusy\n");
		else {
			snprintf(hdr, sizeof(hdr), "%s",
			    script[i] == fake_busy ? "Retry-After: 1\r\n" : "");
			snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\n"
			    "Content-Type: application/soap+xml\r\n%s"
			    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
			    hdr, strlen(script[i]), script[i]);
		}
		if (buf[0] != '\0')
			SSL_write(ssl, buf, (int)strlen(buf));
		SSL_shutdown(ssl);
		SSL_free(ssl);
		close(fd);
	}
	_exit(0);
}

static pid_t
fake_start(const char *dir, const char *const *script, size_t n, int *portp)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	SSL_CTX			*ctx;
	char			 p[512];
	pid_t			 pid;
	int			 lfd;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 8) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) == -1)
		return (-1);
	*portp = ntohs(sin.sin_port);
	ctx = SSL_CTX_new(TLS_server_method());
	snprintf(p, sizeof(p), "%s/server.pem", dir);
	SSL_CTX_use_certificate_file(ctx, p, SSL_FILETYPE_PEM);
	snprintf(p, sizeof(p), "%s/server.key", dir);
	SSL_CTX_use_PrivateKey_file(ctx, p, SSL_FILETYPE_PEM);
	if ((pid = fork()) == 0)
		fake_serve(lfd, ctx, script, n);
	SSL_CTX_free(ctx);
	close(lfd);
	return (pid);
}

/* A CA and the fake's server certificate in a new dir; 0 or -1. */
static int
fake_pki(char *dir, char *cafile, size_t len)
{
	struct testpki	ca, srv;

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return (-1);
	}
	testpki_make(&ca, "Test CA", NULL, 1, NULL, 1);
	testpki_make(&srv, "127.0.0.1", &ca, 0, "IP:127.0.0.1", 2);
	testpki_write(&ca, dir, "ca.pem", NULL);
	testpki_write(&srv, dir, "server.pem", "server.key");
	testpki_free(&ca);
	testpki_free(&srv);
	snprintf(cafile, len, "%s/ca.pem", dir);
	return (0);
}

static void
fake_pki_remove(const char *dir)
{
	static const char *const files[] = {
		"ca.pem", "server.pem", "server.key"
	};
	char	path[600];
	size_t	i;

	for (i = 0; i < sizeof(files) / sizeof(*files); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void
test_retries(void)
{
	static const char *const script1[] = { "503", fake_busy, fake_empty };
	static const char *const script2[] = { "503", "503", "503" };
	struct isnphr_profile	 p;
	struct isnphr_list	*l;
	struct isnphr		*h;
	char			 dir[] = "/tmp/test_phr_pki.XXXXXX", url[64];
	char			 cafile[600];
	pid_t			 pid;
	int			 port, status;

	if (fake_pki(dir, cafile, sizeof(cafile)) == -1)
		return;

	/* 503, then Busy with Retry-After: 1, then an empty answer. */
	pid = fake_start(dir, script1, 3, &port);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
	memset(&p, 0, sizeof(p));
	p.url = url;
	p.ca_file = cafile;
	h = isnphr_new();
	h->no_sleep = 1;
	ok(isnphr_open(h, &p) == 0 && isnphr_set_patient(h, "rsna-token",
	    "fpzddg", "19460201", "quackquack") == 0, "a fake clearinghouse");
	ok(isnphr_list(h, &l) == -1, "list: three answers");
	is_str(isnphr_error(h), ISNPHR_NOTHING_FOUND,
	    "a 503 and a Busy are retried, then nothing found");
	is_int(h->attempts, 3, "three requests");
	is_int(h->slept_ms, 250 + 1000,
	    "backoff 250 ms after the 503, Retry-After 1 s after Busy");
	waitpid(pid, &status, 0);
	isnphr_free(h);

	/* 503 every time: bounded retries, then the error. */
	pid = fake_start(dir, script2, 3, &port);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
	p.max_retries = 2;
	h = isnphr_new();
	h->no_sleep = 1;
	isnphr_open(h, &p);
	isnphr_set_patient(h, "rsna-token", "fpzddg", "19460201", "quackquack");
	ok(isnphr_list(h, &l) == -1 && strstr(isnphr_error(h), "HTTP 503") !=
	    NULL, "503 after every retry: the error names it (%s)",
	    isnphr_error(h));
	is_int(h->attempts, 3, "retries bounded: 1 + 2 attempts");
	waitpid(pid, &status, 0);
	isnphr_free(h);

	/* Nobody listening: connect errors are retried, then reported. */
	h = isnphr_new();
	h->no_sleep = 1;
	isnphr_open(h, &p);
	isnphr_set_patient(h, "rsna-token", "fpzddg", "19460201", "quackquack");
	ok(isnphr_list(h, &l) == -1 && strstr(isnphr_error(h),
	    "cannot reach the clearinghouse") != NULL,
	    "connection refused: retried, then \"cannot reach\"");
	is_int(h->attempts, 3, "three connection attempts");
	isnphr_free(h);
	fake_pki_remove(dir);
}

/* What test_ahead's requests got: the bodies, how often finished. */
struct ahead_rx {
	struct dbuf	b;
	int		finished;
};

static int
ahead_begin(void *arg, const char *ct)
{
	(void)arg;
	(void)ct;
	return (0);
}

static int
ahead_data(void *arg, const void *buf, size_t len)
{
	return (dbuf_add(&((struct ahead_rx *)arg)->b, buf, len));
}

static int
ahead_finish(void *arg)
{
	((struct ahead_rx *)arg)->finished++;
	return (0);
}

static void
ahead_reset(void *arg)
{
	dbuf_reset(&((struct ahead_rx *)arg)->b);
}

static const struct phr_resp_ops ahead_ops = {
	ahead_begin, ahead_data, ahead_finish, ahead_reset
};

/* phr_post of one request; its answer as a string (caller frees). */
static char *
ahead_post(struct isnphr *h, const char *req, int *rc)
{
	struct ahead_rx	rx;
	char		*s;

	memset(&rx, 0, sizeof(rx));
	dbuf_init(&rx.b, 64 * 1024 * 1024);
	*rc = phr_post(h, "/x", "urn:test", 0, req, strlen(req), &ahead_ops,
	    &rx);
	xasprintf(&s, "%.*s finished=%d", (int)rx.b.len,
	    rx.b.data != NULL ? rx.b.data : "", rx.finished);
	dbuf_free(&rx.b);
	return (s);
}

/* A "big:N" answer as ahead_post shows it: N bytes, then " finished=1". */
#define AHEAD_BIG	8388608
#define AHEAD_BIG_S	"8388608"
static int
big_ok(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (s[i] != fake_big_byte(i))
			return (0);
	return (strcmp(s + n, " finished=1") == 0);
}

/* What one run of test_ahead got. */
struct ahead_run {
	char	*a, *b;		/* the two answers */
	int	 ra, rb;	/* phr_post's results */
	int	 attempts;
	int	 served;	/* the fake exited 0: every reply sent */
};

/*
 * Against a fake with these replies: "<b/>" registered to go next, then
 * phr_post of "<a/>" and of second.
 */
static void
ahead_run(const char *dir, struct isnphr_profile *p, char *url,
    size_t urlsz, const char *const *script, size_t n, const char *second,
    struct ahead_run *r)
{
	struct isnphr	*h;
	pid_t		 pid;
	int		 port, status;

	pid = fake_start(dir, script, n, &port);
	snprintf(url, urlsz, "https://127.0.0.1:%d", port);
	h = isnphr_new();
	h->no_sleep = 1;
	isnphr_open(h, p);
	phr_post_ahead(h, "/x", "urn:test", 0, "<b/>", 4);
	r->a = ahead_post(h, "<a/>", &r->ra);
	r->b = ahead_post(h, second, &r->rb);
	r->attempts = h->attempts;
	r->served = waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0 && h->slept_ms == 0;
	isnphr_free(h);
}

/*
 * phr_post_ahead against the fake (one answer per connection, in order):
 * the request registered next goes out as soon as the current transfer is
 * over and its answer is taken without a new request; an answer sent ahead
 * that is not HTTP 200, or that another request follows, is dropped and
 * the request made the ordinary way (at once: no backoff).
 */
static void
test_ahead(void)
{
	static const char *const ok2[] = { "<a>A</a>", "<a>B</a>" };
	static const char *const bad[] = { "<a>A</a>", "503", "<a>B</a>" };
	static const char *const other[] = { "<a>A</a>", "<a>B</a>",
	    "<a>C</a>" };
	static const char *const big[] = { "<a>A</a>",
	    "big:" AHEAD_BIG_S };
	static const char *const bigdrop[] = { "<a>A</a>",
	    "big:" AHEAD_BIG_S, "<a>C</a>" };
	struct isnphr_profile	 p;
	struct ahead_run	 r;
	char			 dir[] = "/tmp/test_phr_pki.XXXXXX", url[64];
	char			 cafile[600];

	if (fake_pki(dir, cafile, sizeof(cafile)) == -1)
		return;
	memset(&p, 0, sizeof(p));
	p.url = url;
	p.ca_file = cafile;

	ahead_run(dir, &p, url, sizeof(url), ok2, 2, "<b/>", &r);
	ok(r.ra == 0 && strstr(r.a, "<a>A</a> finished=1") != NULL &&
	    r.rb == 0 && strstr(r.b, "<a>B</a> finished=1") != NULL &&
	    r.served, "sent ahead: each request its answer (%s; %s)", r.a, r.b);
	is_int(r.attempts, 2, "the second answer taken without a request");
	free(r.a);
	free(r.b);

	ahead_run(dir, &p, url, sizeof(url), bad, 3, "<b/>", &r);
	ok(r.ra == 0 && r.rb == 0 && strstr(r.b, "<a>B</a> finished=1") !=
	    NULL && r.served, "sent ahead and answered 503: asked again at "
	    "once, the ordinary way (%s)", r.b);
	is_int(r.attempts, 3, "three requests");
	free(r.a);
	free(r.b);

	ahead_run(dir, &p, url, sizeof(url), other, 3, "<c/>", &r);
	ok(r.rb == 0 && strstr(r.b, "<a>C</a> finished=1") != NULL &&
	    r.served, "another request than the one sent ahead: its own "
	    "answer (%s)", r.b);
	is_int(r.attempts, 3, "the answer sent ahead dropped");
	free(r.a);
	free(r.b);

	/*
	 * An answer sent ahead four times the size of the ring: it waits,
	 * bounded, until taken, then arrives whole and in order; dropped, its
	 * transfer is cut (no hang) and the next request is answered.
	 */
	ahead_run(dir, &p, url, sizeof(url), big, 2, "<b/>", &r);
	ok(r.rb == 0 && big_ok(r.b, AHEAD_BIG) && r.served,
	    "a %d-byte answer sent ahead, taken: every byte in order",
	    AHEAD_BIG);
	is_int(r.attempts, 2, "taken without a request");
	free(r.a);
	free(r.b);
	ahead_run(dir, &p, url, sizeof(url), bigdrop, 3, "<c/>", &r);
	ok(r.rb == 0 && strstr(r.b, "<a>C</a> finished=1") != NULL &&
	    r.served, "a %d-byte answer sent ahead, dropped: the next request "
	    "answered (%.40s)", AHEAD_BIG, r.b);
	free(r.a);
	free(r.b);
	fake_pki_remove(dir);
}

/* Cancel once the first bytes of documents arrive. */
static int
cancel_cb(const struct isnphr_progress *p, void *arg)
{
	return (p->docs_total > 0 && p->bytes > 0);
}

/*
 * test_phr cancel PROFILE TOKEN DOB DIR (password in ISN_PASSWORD), for
 * test_phr_e2e.sh: a retrieve whose progress callback cancels it must
 * fail with "cancelled". Prints the error; exit 0 when it did.
 */
static int
cancel_mode(char **argv)
{
	struct isnphr	*h = isnphr_new();
	int		 r;

	if (isnphr_open_file(h, argv[2]) == -1 ||
	    isnphr_set_patient(h, "isn2", argv[3], argv[4],
	    getenv("ISN_PASSWORD")) == -1) {
		printf("%s\n", isnphr_error(h));
		isnphr_free(h);
		return (1);
	}
	isnphr_set_progress(h, cancel_cb, NULL);
	r = isnphr_retrieve(h, argv[5], NULL);
	printf("%s\n", isnphr_error(h));
	r = r == -1 && strcmp(isnphr_error(h), "cancelled") == 0 &&
	    isnphr_retrieved(h) == 0 ? 0 : 1;
	isnphr_free(h);
	return (r);
}

struct hook_state {
	struct isnphr	*h;
	int		 done;		/* $PHR_HOOK ran */
	long		 pause_ms;	/* $PHR_PAUSE_MS */
	int		 paused_at;	/* h->attempts at the last pause */
	size_t		 docs;		/* p->docs at the last call */
	int		 pauses;
	int		 closed;	/* pauses that saw the server close */
	long		 stall_ms;	/* $PHR_STALL_MS */
	int		 stall_at;	/* $PHR_STALL_AT: that request */
	uint64_t	 bytes;		/* p->bytes at the last call */
	int		 stalled;
};

static void
sleep_ms(long ms)
{
	struct timespec	ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1)
		;
}

/*
 * Up to ms for the server to close the connection curl keeps after the
 * last transfer (its FIN arrived: CLOSE_WAIT); 1 when it did.
 */
static int
wait_server_close(struct isnphr *h, long ms)
{
	struct tcp_info	ti;
	socklen_t	len;
	curl_socket_t	s;
	long		waited;

	for (waited = 0; waited <= ms; waited += 20) {
		if (curl_easy_getinfo(h->curl, CURLINFO_ACTIVESOCKET, &s) !=
		    CURLE_OK || s == CURL_SOCKET_BAD)
			return (1);	/* curl saw it go */
		len = sizeof(ti);
		if (getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
		    ti.tcpi_state != TCP_ESTABLISHED)
			return (1);
		sleep_ms(20);
	}
	return (0);
}

/*
 * Run $PHR_HOOK once, when the retrieval proper begins; with
 * $PHR_PAUSE_MS, when the first document of each answer is placed (the
 * answer has been read whole: the connection sits idle in curl's cache),
 * wait up to that long for a clearinghouse with a short keep-alive
 * timeout to close it, so the next request opens a new one. With
 * $PHR_STALL_MS, stop reading that long once the answer to request
 * $PHR_STALL_AT has begun.
 */
static int
hook_cb(const struct isnphr_progress *p, void *arg)
{
	struct hook_state	*hs = arg;

	if (p->docs_total > 0 && !hs->done) {
		hs->done = 1;
		if (getenv("PHR_HOOK") != NULL && system(getenv("PHR_HOOK")))
			printf("hook failed\n");
	}
	if (hs->pause_ms > 0 && p->docs > hs->docs &&
	    hs->h->attempts != hs->paused_at) {
		hs->paused_at = hs->h->attempts;
		hs->pauses++;
		hs->closed += wait_server_close(hs->h, hs->pause_ms);
	}
	if (hs->stall_ms > 0 && !hs->stalled && p->bytes > hs->bytes &&
	    hs->h->attempts == hs->stall_at) {
		hs->stalled = 1;
		sleep_ms(hs->stall_ms);
	}
	hs->docs = p->docs;
	hs->bytes = p->bytes;
	return (0);
}

/*
 * test_phr hook PROFILE SCHEME TOKEN DOB DIR (password in ISN_PASSWORD),
 * for test_phr_e2e.sh: a retrieve that runs the shell command $PHR_HOOK
 * between its listing and its first retrieve request (to make the
 * clearinghouse busy, or to expire the set, right then), sends RAD-69 to
 * $PHR_RAD69_PATH when set (where the clearinghouse refuses it), and
 * counts rather than sleeps the backoff when $PHR_NO_SLEEP is set,
 * asks for at most $PHR_BATCH documents a request (no images with
 * $PHR_NO_IMAGES set), and lets the server close the connection after
 * each answer or stalls one (hook_cb). Prints what happened, one
 * "key value" a line; exit 0 when it ran.
 */
static int
hook_mode(char **argv)
{
	struct isnphr		*h = isnphr_new();
	struct hook_state	 hs;
	int			 r;

	memset(&hs, 0, sizeof(hs));
	hs.h = h;
	/*
	 * Pauses leave the connection idle between requests: none is sent
	 * ahead (and the pause reads the handle, which a request sent ahead
	 * would be using).
	 */
	if (getenv("PHR_PAUSE_MS") != NULL) {
		hs.pause_ms = strtol(getenv("PHR_PAUSE_MS"), NULL, 10);
		h->no_ahead = 1;
	}
	if (getenv("PHR_STALL_MS") != NULL && getenv("PHR_STALL_AT") != NULL) {
		hs.stall_ms = strtol(getenv("PHR_STALL_MS"), NULL, 10);
		hs.stall_at = (int)strtol(getenv("PHR_STALL_AT"), NULL, 10);
	}
	if (isnphr_open_file(h, argv[2]) == -1 ||
	    isnphr_set_patient(h, argv[3], argv[4], argv[5],
	    getenv("ISN_PASSWORD")) == -1) {
		printf("error %s\n", isnphr_error(h));
		isnphr_free(h);
		return (1);
	}
	h->rad69_path = getenv("PHR_RAD69_PATH");
	h->no_sleep = getenv("PHR_NO_SLEEP") != NULL;
	h->no_rx_thread = getenv("PHR_NO_THREAD") != NULL;
	if (getenv("PHR_BATCH") != NULL)
		h->batch = (size_t)strtoul(getenv("PHR_BATCH"), NULL, 10);
	if (getenv("PHR_NO_IMAGES") != NULL)
		isnphr_set_options(h, ISNPHR_OPT_NO_IMAGES);
	isnphr_set_progress(h, hook_cb, &hs);
	r = isnphr_retrieve(h, argv[6], NULL);
	printf("rc %d\nerror %s\nretrieved %zu\nfailed %zu\n"
	    "rad69_off %d\nattempts %d\nslept_ms %ld\npauses %d\n"
	    "closed %d\n", r, isnphr_error(h), isnphr_retrieved(h),
	    isnphr_failed(h), h->rad69_off, h->attempts, h->slept_ms,
	    hs.pauses, hs.closed);
	isnphr_free(h);
	return (0);
}

struct par_run {
	pthread_t	 t;
	char		*profile, *scheme, *token, *dob, *dir;
	int		 rc;
	size_t		 retrieved, failed;
	char		 err[256];
};

static void *
par_thread(void *arg)
{
	struct par_run	*pr = arg;
	struct isnphr	*h = isnphr_new();

	/* fork(2) from a threaded process: the KDF stays in the thread. */
	isnphr_set_options(h, ISNPHR_OPT_KDF_IN_PROCESS);
	if (getenv("PHR_BATCH") != NULL)
		h->batch = (size_t)strtoul(getenv("PHR_BATCH"), NULL, 10);
	pr->rc = -1;
	if (isnphr_open_file(h, pr->profile) == 0 &&
	    isnphr_set_patient(h, pr->scheme, pr->token, pr->dob,
	    getenv("ISN_PASSWORD")) == 0)
		pr->rc = isnphr_retrieve(h, pr->dir, NULL);
	pr->retrieved = isnphr_retrieved(h);
	pr->failed = isnphr_failed(h);
	snprintf(pr->err, sizeof(pr->err), "%s", isnphr_error(h));
	isnphr_free(h);
	return (NULL);
}

/*
 * test_phr parallel PROFILE SCHEME TOKEN DOB DIR N (password in
 * ISN_PASSWORD), for test_phr_batches.sh: N handles retrieve the same
 * patient's studies at once from N threads, into DIR.1 .. DIR.N, each on
 * connections of its own ($PHR_BATCH a request). Prints "K rc R
 * retrieved D failed F error E" a thread; exit 0 when all succeeded.
 */
static int
parallel_mode(char **argv)
{
	struct par_run	*pr;
	int		 i, n = atoi(argv[7]), bad = 0;

	if (n < 1 || n > 16)
		return (2);
	pr = xcalloc((size_t)n, sizeof(*pr));
	for (i = 0; i < n; i++) {
		pr[i].profile = argv[2];
		pr[i].scheme = argv[3];
		pr[i].token = argv[4];
		pr[i].dob = argv[5];
		xasprintf(&pr[i].dir, "%s.%d", argv[6], i + 1);
		if (pthread_create(&pr[i].t, NULL, par_thread, &pr[i]) != 0)
			return (2);
	}
	for (i = 0; i < n; i++) {
		pthread_join(pr[i].t, NULL);
		printf("%d rc %d retrieved %zu failed %zu error %s\n", i + 1,
		    pr[i].rc, pr[i].retrieved, pr[i].failed, pr[i].err);
		if (pr[i].rc != 0)
			bad = 1;
		free(pr[i].dir);
	}
	free(pr);
	return (bad);
}

int
main(int argc, char **argv)
{
	if (argc == 8 && strcmp(argv[1], "parallel") == 0)
		return (parallel_mode(argv));
	if (argc == 6 && strcmp(argv[1], "cancel") == 0)
		return (cancel_mode(argv));
	if (argc == 7 && strcmp(argv[1], "hook") == 0)
		return (hook_mode(argv));
	test_uid_safe();
	test_mkdirs();
	test_backoff();
	test_dtm();
	test_index();
	test_json();
	test_from_xml();
	test_api();
	test_retries();
	test_ahead();
	return (tap_done());
}
