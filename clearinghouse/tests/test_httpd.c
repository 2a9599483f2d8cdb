/*
 * test_httpd.c: the streaming HTTP/1.1 server on 127.0.0.1 port 0, run in
 * this process's event loop. Clients are forked children (libcurl's easy
 * interface, or raw sockets for malformed input) that write their result
 * to a pipe the loop watches. TEST_HTTPD_QUICK=1 shrinks the big transfers
 * (for valgrind).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dbuf.h"
#include "httpd.h"
#include "log.h"
#include "tap.h"
#include "testpki.h"
#include "tls.h"
#include "xmalloc.h"

static struct event_base	*base;
static struct httpd		*srv;
static int			 port;
static char			 tmpdir[64];
static uint64_t			 big_up = 256ULL << 20;
static uint64_t			 big_down = 512ULL << 20;

/* ---- deterministic data: xorshift64 ---- */
struct gen {
	uint64_t	s;
	uint64_t	left;
	EVP_MD_CTX	*md;
};

static void
gen_init(struct gen *g, uint64_t n)
{
	g->s = 0x9e3779b97f4a7c15ULL;
	g->left = n;
	g->md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(g->md, EVP_sha256(), NULL);
}

static size_t
gen_fill(struct gen *g, void *buf, size_t len)
{
	unsigned char	*p = buf;
	uint64_t	 x = g->s;
	size_t		 i, n;

	if (len > g->left)
		len = (size_t)g->left;
	n = len & ~(size_t)7;
	for (i = 0; i < n / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(p + i * 8, &x, 8);	/* curl's buffer may be unaligned */
	}
	if (n < len) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy((char *)buf + n, &x, len - n);
	}
	g->s = x;
	g->left -= len;
	EVP_DigestUpdate(g->md, buf, len);
	return (len);
}

static void
md_hex(EVP_MD_CTX *md, char out[65])
{
	unsigned char	d[32];
	unsigned int	i, n = 0;

	EVP_DigestFinal_ex(md, d, &n);
	for (i = 0; i < 32; i++)
		snprintf(out + i * 2, 3, "%02x", d[i]);
	EVP_MD_CTX_free(md);
}

/* ASan's quarantine and shadow memory make RSS meaningless. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_MEANINGFUL	0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_MEANINGFUL	0
#endif
#endif
#ifndef RSS_MEANINGFUL
#define RSS_MEANINGFUL	1
#endif

static void
check_rss(const char *what, long grown)
{
	if (!RSS_MEANINGFUL) {
		tap_skip(1, "peak RSS under AddressSanitizer");
		return;
	}
	ok(grown < 32 * 1024, "%s: peak RSS growth %ld KiB < 32 MiB", what,
	    grown);
}

static long
maxrss_kb(void)
{
	struct rusage	ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_maxrss);
}

/* ---- children ---- */
struct child {
	pid_t		 pid;
	int		 fd;
	struct dbuf	 out;
	int		 done;
	struct event	*ev;
};

static void
child_read_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct child	*ch = arg;
	char		 buf[4096];
	ssize_t		 n;

	n = read(fd, buf, sizeof(buf));
	if (n > 0) {
		dbuf_add(&ch->out, buf, n);
		return;
	}
	if (n < 0 && errno == EINTR)
		return;
	ch->done = 1;
	event_del(ch->ev);
}

static void
loop_timeout_cb(evutil_socket_t fd, short ev, void *arg)
{
	*(int *)arg = 1;
}

/* Run the loop until *flag, at most ms; 0 or -1 (timed out). */
static int
loop_until(int *flag, int ms)
{
	struct event	*t;
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };
	int		 expired = 0;

	t = evtimer_new(base, loop_timeout_cb, &expired);
	evtimer_add(t, &tv);
	while (!*flag && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(t);
	return (*flag ? 0 : -1);
}

/* Fork fn(arg, fd); run the loop until it closes its pipe; its output. */
static char *
run_child(void (*fn)(void *, int), void *arg)
{
	struct child	 ch;
	int		 p[2], st;

	memset(&ch, 0, sizeof(ch));
	dbuf_init(&ch.out, 1 << 30);
	if (pipe(p) == -1)
		fatal("pipe");
	fflush(stdout);
	if ((ch.pid = fork()) == -1)
		fatal("fork");
	if (ch.pid == 0) {
		close(p[0]);
		fn(arg, p[1]);
		close(p[1]);
		_exit(0);
	}
	close(p[1]);
	ch.fd = p[0];
	ch.ev = event_new(base, ch.fd, EV_READ | EV_PERSIST, child_read_cb,
	    &ch);
	event_add(ch.ev, NULL);
	if (loop_until(&ch.done, 60000) == -1) {
		tap_diag("child timed out");
		kill(ch.pid, SIGKILL);
	}
	event_free(ch.ev);
	close(ch.fd);
	waitpid(ch.pid, &st, 0);
	return (dbuf_take(&ch.out, NULL));
}

static void
out_printf(int fd, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	if (write(fd, s, strlen(s)) == -1)
		_exit(1);
	free(s);
}

/* ---- curl clients ---- */
struct cl {
	const char	*url;
	const char	*method;	/* NULL GET, "POST" */
	uint64_t	 upload;	/* bytes to POST */
	int		 chunked;
	int		 twice;		/* keep-alive: same handle again */
	const char	*cert, *key, *ca;
};

struct cl_state {
	struct gen	 up;
	EVP_MD_CTX	*down;
	uint64_t	 got;
	struct dbuf	 body;
};

static size_t
cl_read(char *buf, size_t sz, size_t n, void *arg)
{
	struct cl_state	*s = arg;

	return (gen_fill(&s->up, buf, sz * n));
}

static size_t
cl_write(char *buf, size_t sz, size_t n, void *arg)
{
	struct cl_state	*s = arg;

	s->got += sz * n;
	EVP_DigestUpdate(s->down, buf, sz * n);
	if (s->body.len < 1024)
		dbuf_add(&s->body, buf, sz * n > 1024 ? 1024 : sz * n);
	return (sz * n);
}

static void
curl_child(void *arg, int fd)
{
	struct cl		*cl = arg;
	struct cl_state		 s;
	struct curl_slist	*hl = NULL;
	CURL			*h;
	CURLcode		 rc;
	long			 code = 0, nconn = -1;
	char			 up[65], down[65];
	int			 i;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	h = curl_easy_init();
	memset(&s, 0, sizeof(s));
	dbuf_init(&s.body, 1 << 30);
	gen_init(&s.up, cl->upload);
	s.down = EVP_MD_CTX_new();
	EVP_DigestInit_ex(s.down, EVP_sha256(), NULL);
	curl_easy_setopt(h, CURLOPT_URL, cl->url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cl_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 50L);
	if (cl->method != NULL) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, cl_read);
		curl_easy_setopt(h, CURLOPT_READDATA, &s);
		if (cl->chunked)
			hl = curl_slist_append(hl,
			    "Transfer-Encoding: chunked");
		else
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)cl->upload);
		hl = curl_slist_append(hl, "Expect:");
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	}
	if (cl->ca != NULL) {
		curl_easy_setopt(h, CURLOPT_CAINFO, cl->ca);
		if (cl->cert != NULL) {
			curl_easy_setopt(h, CURLOPT_SSLCERT, cl->cert);
			curl_easy_setopt(h, CURLOPT_SSLKEY, cl->key);
		}
	}
	for (i = 0; i < (cl->twice ? 2 : 1); i++) {
		s.got = 0;
		rc = curl_easy_perform(h);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &nconn);
	}
	md_hex(s.up.md, up);
	md_hex(s.down, down);
	out_printf(fd, "rc=%d code=%ld connects=%ld sent_sha=%s got=%llu "
	    "got_sha=%s body=%s", (int)rc, code, nconn, up,
	    (unsigned long long)s.got, down, dbuf_str(&s.body));
	dbuf_free(&s.body);
	curl_slist_free_all(hl);
	curl_easy_cleanup(h);
	curl_global_cleanup();
}

/* Field "name=value" (up to a blank) from a child's report. */
static char *
field(const char *rep, const char *name)
{
	static char	 v[4][256];
	static int	 slot;
	char		 key[64];
	const char	*p;
	size_t		 n;

	slot = (slot + 1) % 4;
	snprintf(key, sizeof(key), "%s=", name);
	v[slot][0] = '\0';
	for (p = rep; (p = strstr(p, key)) != NULL; p++) {
		if (p != rep && p[-1] != ' ')
			continue;
		p += strlen(key);
		n = strcmp(name, "body") == 0 || strcmp(name, "resp") == 0 ?
		    strlen(p) : strcspn(p, " ");
		if (n >= sizeof(v[slot]))
			n = sizeof(v[slot]) - 1;
		memcpy(v[slot], p, n);
		v[slot][n] = '\0';
		break;
	}
	return (v[slot]);
}

/* ---- raw socket clients ---- */
struct raw {
	const char	*head;		/* sent first */
	size_t		 headlen;
	int		 byte_ms;	/* > 0: one byte per byte_ms */
	const char	*body;		/* after the first answer */
	int		 port;
};

static int
raw_connect(int p)
{
	struct sockaddr_in	sin;
	int			fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(p);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return (-1);
	}
	return (fd);
}

/* Read until "\r\n\r\n" (head_only) or EOF, 5 s without data at most. */
static void
raw_read(int fd, struct dbuf *b, int head_only)
{
	struct pollfd	pfd = { fd, POLLIN, 0 };
	char		buf[4096];
	ssize_t		n;

	for (;;) {
		if (head_only && strstr(dbuf_str(b), "\r\n\r\n") != NULL)
			return;
		if (poll(&pfd, 1, 5000) <= 0)
			return;
		n = recv(fd, buf, head_only ? 1 : sizeof(buf), 0);
		if (n <= 0)
			return;
		dbuf_add(b, buf, n);
	}
}

static void
raw_child(void *arg, int out)
{
	struct raw	*r = arg;
	struct dbuf	 b;
	struct pollfd	 pfd;
	size_t		 sent = 0;
	int		 fd;

	dbuf_init(&b, 1 << 30);
	if ((fd = raw_connect(r->port)) == -1) {
		out_printf(out, "connect-failed");
		return;
	}
	if (r->byte_ms > 0) {
		while (sent < r->headlen) {
			if (send(fd, r->head + sent, 1, MSG_NOSIGNAL) != 1)
				break;
			sent++;
			pfd.fd = fd;
			pfd.events = POLLIN;
			/* Pacing, and stop at the server's first answer. */
			if (poll(&pfd, 1, r->byte_ms) > 0)
				break;
		}
	} else {
		while (sent < r->headlen) {
			ssize_t n = send(fd, r->head + sent, r->headlen - sent,
			    MSG_NOSIGNAL);
			if (n <= 0)
				break;
			sent += n;
		}
	}
	if (r->body != NULL) {
		raw_read(fd, &b, 1);
		dbuf_addstr(&b, "|");
		if (send(fd, r->body, strlen(r->body), MSG_NOSIGNAL) < 0)
			dbuf_addstr(&b, "send-failed");
	}
	raw_read(fd, &b, 0);
	out_printf(out, "sent=%zu resp=%s", sent, dbuf_str(&b));
	close(fd);
	dbuf_free(&b);
}

static char *
run_raw(const char *head, size_t len, int byte_ms, const char *body)
{
	struct raw	r = { head, len, byte_ms, body, port };

	return (run_child(raw_child, &r));
}

/* ---- handlers ---- */
static char	last_conn[2][17];
static unsigned	last_seq[2];
static int	nsmall;

static void
small_done(struct httpd_req *r, void *arg)
{
	int	i = nsmall++ % 2;

	strlcpy(last_conn[i], httpd_req_conn_id(r), sizeof(last_conn[i]));
	last_seq[i] = httpd_req_seq(r);
	httpd_reply(r, 200, "text/plain", "hello\n", 6);
}

static const struct httpd_handler small_h = {
	NULL, NULL, small_done, NULL, "GET"
};

/* The sink: counts and hashes; pauses on every 8th chunk. */
struct sink {
	EVP_MD_CTX	*md;
	uint64_t	 n;
	unsigned	 chunks;
	int		 paused;
	int		 violations;	/* bytes while paused */
	unsigned	 pauses;
};
static char	sink_sha[65];
static uint64_t	sink_bytes;
static unsigned	sink_pauses;
static int	sink_violations;
static int	sink_long_pause;

static int
sink_head(struct httpd_req *r, void *arg)
{
	struct sink	*s = xcalloc(1, sizeof(*s));

	s->md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(s->md, EVP_sha256(), NULL);
	httpd_req_set_data(r, s);
	return (HTTPD_OK);
}

static void
sink_resume_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct httpd_req	*r = arg;
	struct sink		*s = httpd_req_data(r);

	s->paused = 0;
	httpd_req_resume(r);
}

static int
sink_body(struct httpd_req *r, const void *buf, size_t len, void *arg)
{
	struct sink	*s = httpd_req_data(r);
	struct timeval	 tv = { 0, 0 };

	if (s->paused)
		s->violations++;
	EVP_DigestUpdate(s->md, buf, len);
	s->n += len;
	if (++s->chunks % 8 != 0)
		return (HTTPD_OK);
	/* One long pause (the network is faster than this sink), then short. */
	if (s->chunks == 64 && sink_long_pause)
		tv.tv_usec = 300000;
	s->paused = 1;
	s->pauses++;
	event_base_once(base, -1, EV_TIMEOUT, sink_resume_cb, r, &tv);
	return (HTTPD_PAUSE);
}

static void
sink_done(struct httpd_req *r, void *arg)
{
	struct sink	*s = httpd_req_data(r);
	char		 msg[128];

	md_hex(s->md, sink_sha);
	s->md = NULL;
	sink_bytes = s->n;
	sink_pauses = s->pauses;
	sink_violations = s->violations;
	snprintf(msg, sizeof(msg), "bytes=%llu", (unsigned long long)s->n);
	httpd_reply(r, 200, "text/plain", msg, strlen(msg));
}

static void
sink_fini(struct httpd_req *r, int completed, void *arg)
{
	struct sink	*s = httpd_req_data(r);

	if (s->md != NULL)
		EVP_MD_CTX_free(s->md);
	free(s);
}

static const struct httpd_handler sink_h = {
	sink_head, sink_body, sink_done, sink_fini, "POST"
};

/* Download: GET /download?n=BYTES[&chunked]. */
static char	dl_sha[65];

static int
dl_source(struct httpd_req *r, struct evbuffer *out, size_t want, void *arg)
{
	struct gen		*g = httpd_req_data(r);
	struct evbuffer_iovec	 v;
	size_t			 n;

	if (want > 65536)
		want = 65536;
	if (g->left == 0)
		return (HTTPD_END);
	if (evbuffer_reserve_space(out, want, &v, 1) < 1)
		return (HTTPD_ERROR);
	n = gen_fill(g, v.iov_base, want < v.iov_len ? want : v.iov_len);
	v.iov_len = n;
	evbuffer_commit_space(out, &v, 1);
	return (g->left == 0 ? HTTPD_END : HTTPD_OK);
}

static void
dl_done(struct httpd_req *r, void *arg)
{
	struct gen		*g = xcalloc(1, sizeof(*g));
	const char		*t = httpd_req_target(r), *q;
	struct httpd_hdr	 h[] = { { "Content-Type",
				    "application/octet-stream" }, { NULL, NULL } };
	uint64_t		 n = 0;

	if ((q = strstr(t, "n=")) != NULL)
		n = strtoull(q + 2, NULL, 10);
	gen_init(g, n);
	httpd_req_set_data(r, g);
	httpd_reply_start(r, 200, h, strstr(t, "chunked") != NULL ? -1 :
	    (int64_t)n);
	httpd_reply_source(r, dl_source, NULL);
}

static void
dl_fini(struct httpd_req *r, int completed, void *arg)
{
	struct gen	*g = httpd_req_data(r);

	if (g == NULL)
		return;
	md_hex(g->md, dl_sha);
	free(g);
}

static const struct httpd_handler dl_h = {
	NULL, NULL, dl_done, dl_fini, "GET"
};

/* TLS: who is calling. */
static int	whoami_calls;

static void
whoami_done(struct httpd_req *r, void *arg)
{
	const struct tls_peer	*p = httpd_req_peer(r);
	const char		*fp = p != NULL ? p->fingerprint : "none";

	whoami_calls++;
	httpd_reply(r, 200, "text/plain", fp, strlen(fp));
}

static const struct httpd_handler whoami_h = {
	NULL, NULL, whoami_done, NULL, NULL
};

/* Graceful stop: the handler stops the server, then answers later. */
static struct httpd	*srv2;
static int		 stopped;

static void
stopped_cb(struct httpd *s, void *arg)
{
	stopped = 1;
}

static void
slow_reply_cb(evutil_socket_t fd, short ev, void *arg)
{
	httpd_reply(arg, 200, "text/plain", "late\n", 5);
}

static void
slow_done(struct httpd_req *r, void *arg)
{
	struct timeval	tv = { 0, 0 };

	httpd_stop(srv2, 5000, stopped_cb, NULL);
	event_base_once(base, -1, EV_TIMEOUT, slow_reply_cb, r, &tv);
}

static const struct httpd_handler slow_h = {
	NULL, NULL, slow_done, NULL, NULL
};

static char *
tpath(const char *name)
{
	static char	buf[8][256];
	static int	slot;

	slot = (slot + 1) % 8;
	snprintf(buf[slot], sizeof(buf[slot]), "%s/%s", tmpdir, name);
	return (buf[slot]);
}

static void
cleanup(void)
{
	const char	*names[] = { "ca.pem", "ca.key", "server.pem",
			    "server.key", "client.pem", "client.key" };
	size_t		 i;

	if (tmpdir[0] == '\0')
		return;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink(tpath(names[i]));
	rmdir(tmpdir);
}

/* ---- tests ---- */
static char *
url(int p, const char *scheme, const char *path)
{
	static char	buf[4][256];
	static int	slot;

	slot = (slot + 1) % 4;
	snprintf(buf[slot], sizeof(buf[slot]), "%s://127.0.0.1:%d%s", scheme,
	    p, path);
	return (buf[slot]);
}

static void
test_small_and_keepalive(void)
{
	struct cl	 cl = { 0 };
	char		*rep;

	cl.url = url(port, "http", "/small");
	rep = run_child(curl_child, &cl);
	is_str(field(rep, "code"), "200", "GET /small answers 200");
	is_str(field(rep, "body"), "hello\n", "GET /small body");
	free(rep);

	cl.url = url(port, "http", "/nothing-here");
	rep = run_child(curl_child, &cl);
	is_str(field(rep, "code"), "404", "unrouted path answers 404");
	free(rep);

	nsmall = 0;
	cl.url = url(port, "http", "/small?x=1");
	cl.twice = 1;
	rep = run_child(curl_child, &cl);
	is_str(field(rep, "code"), "200", "keep-alive: second answer 200");
	is_str(field(rep, "connects"), "0",
	    "keep-alive: curl reused its connection");
	ok(nsmall == 2 && strcmp(last_conn[0], last_conn[1]) == 0 &&
	    last_seq[0] == 1 && last_seq[1] == 2,
	    "keep-alive: both requests on one server connection (seq 1, 2)");
	free(rep);
}

static void
test_upload(void)
{
	struct cl	 cl = { 0 };
	char		*rep;
	long		 rss0, rss1;

	rss0 = maxrss_kb();
	sink_long_pause = 1;
	cl.url = url(port, "http", "/sink");
	cl.method = "POST";
	cl.upload = big_up;
	rep = run_child(curl_child, &cl);
	rss1 = maxrss_kb();
	is_str(field(rep, "code"), "200", "streamed POST answered 200");
	is_int((long long)sink_bytes, (long long)big_up,
	    "handler saw every body byte");
	is_str(sink_sha, field(rep, "sent_sha"),
	    "handler's SHA-256 matches the client's");
	ok(sink_pauses > 10 && sink_violations == 0,
	    "handler paused %u times and got no bytes while paused",
	    sink_pauses);
	check_rss("upload", rss1 - rss0);
	free(rep);

	sink_long_pause = 0;
	cl.upload = 5 * 1024 * 1024 + 17;
	cl.chunked = 1;
	rep = run_child(curl_child, &cl);
	is_str(field(rep, "code"), "200", "chunked POST answered 200");
	ok(sink_bytes == cl.upload && strcmp(sink_sha,
	    field(rep, "sent_sha")) == 0, "chunked body decoded intact");
	free(rep);
}

static void
test_download(void)
{
	struct cl	 cl = { 0 };
	char		*rep, path[128];
	long		 rss0, rss1;

	rss0 = maxrss_kb();
	snprintf(path, sizeof(path), "/download?n=%llu",
	    (unsigned long long)big_down);
	cl.url = url(port, "http", path);
	rep = run_child(curl_child, &cl);
	rss1 = maxrss_kb();
	is_str(field(rep, "code"), "200", "streamed GET answered 200");
	is_int(strtoll(field(rep, "got"), NULL, 10), (long long)big_down,
	    "client received every byte");
	is_str(field(rep, "got_sha"), dl_sha, "download SHA-256 matches");
	check_rss("download", rss1 - rss0);
	free(rep);

	cl.url = url(port, "http", "/download?n=3000001&chunked");
	rep = run_child(curl_child, &cl);
	ok(strcmp(field(rep, "got"), "3000001") == 0 &&
	    strcmp(field(rep, "got_sha"), dl_sha) == 0,
	    "chunked streamed reply intact");
	free(rep);
}

static void
test_raw(void)
{
	char		*rep, *big;
	const char	*slow = "GET /small HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			    "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
	const char	*te = "POST /sink HTTP/1.1\r\nHost: a\r\n"
			    "Transfer-Encoding: gzip, chunked\r\n\r\n";
	const char	*exp = "POST /sink HTTP/1.1\r\nHost: a\r\n"
			    "Content-Length: 10\r\nExpect: 100-continue\r\n"
			    "Connection: close\r\n\r\n";
	const char	*opt = "OPTIONS /sink HTTP/1.1\r\nHost: a\r\n\r\n";
	const char	*optb = "OPTIONS /sink HTTP/1.1\r\nHost: a\r\n"
			    "Content-Length: 5\r\n\r\nhello";
	const char	*next = "GET /small HTTP/1.1\r\nHost: a\r\n"
			    "Connection: close\r\n\r\n";
	const char	*optok = "HTTP/1.1 204 No Content\r\n"
			    "Allow: OPTIONS, POST\r\n\r\n|HTTP/1.1 200 OK\r\n";
	struct dbuf	 b;
	size_t		 i;

	rep = run_raw(exp, strlen(exp), 0, "0123456789");
	ok(strncmp(field(rep, "resp"), "HTTP/1.1 100 Continue\r\n\r\n|", 26)
	    == 0, "Expect: 100-continue answered before the body");
	ok(strstr(rep, "|HTTP/1.1 200 OK\r\n") != NULL &&
	    strstr(rep, "bytes=10") != NULL, "then the final answer");
	free(rep);

	rep = run_raw(slow, strlen(slow), 100, NULL);
	ok(strncmp(field(rep, "resp"), "HTTP/1.1 408", 12) == 0,
	    "slowloris: 408 after the header timeout");
	ok(strtoul(field(rep, "sent"), NULL, 10) < strlen(slow),
	    "slowloris: cut off before the head was complete (%s bytes)",
	    field(rep, "sent"));
	free(rep);

	dbuf_init(&b, 1 << 30);
	dbuf_addstr(&b, "GET /small HTTP/1.1\r\nHost: a\r\n");
	for (i = 0; i < 80; i++)
		dbuf_printf(&b, "X-Filler-%zu: %01000d\r\n", i, 0);
	dbuf_addstr(&b, "\r\n");
	big = dbuf_take(&b, NULL);
	rep = run_raw(big, strlen(big), 0, NULL);
	ok(strncmp(field(rep, "resp"), "HTTP/1.1 431", 12) == 0,
	    "oversized head: 431");
	ok(strstr(rep, "Connection: close") != NULL, "431 closes");
	free(rep);
	free(big);

	rep = run_raw(te, strlen(te), 0, NULL);
	ok(strncmp(field(rep, "resp"), "HTTP/1.1 501", 12) == 0,
	    "unknown Transfer-Encoding: 501");
	free(rep);

	/*
	 * OPTIONS is httpd's own (the route's handler never sees it): 204
	 * with the route's methods, no framing header, the connection kept
	 * for the next request; a body is read and dropped.
	 */
	rep = run_raw(opt, strlen(opt), 0, next);
	ok(strncmp(field(rep, "resp"), optok, strlen(optok)) == 0,
	    "OPTIONS: 204, Allow, no Content-Length, then the next request "
	    "on the same connection");
	free(rep);
	rep = run_raw(optb, strlen(optb), 0, next);
	ok(strncmp(field(rep, "resp"), "HTTP/1.1 204 No Content\r\n", 25)
	    == 0 && strstr(rep, "|HTTP/1.1 200 OK\r\n") != NULL,
	    "OPTIONS with a body: 204, the body dropped, the connection kept");
	free(rep);

	rep = run_raw("GET /small HTTP/2.0\r\n\r\n", 23, 0, NULL);
	ok(strncmp(field(rep, "resp"), "HTTP/1.1 505", 12) == 0,
	    "HTTP/2.0 request line: 505");
	free(rep);
}

/* 40 connections that each fail the handshake at once, held open. */
static void
flood_child(int tport)
{
	static const char	 req[] = "GET / HTTP/1.1\r\n\r\n";
	int			 i, fd;

	for (i = 0; i < 40; i++)
		if ((fd = raw_connect(tport)) != -1 &&
		    write(fd, req, sizeof(req) - 1) == -1)
			_exit(1);
	pause();	/* until killed: its sockets stay open */
	_exit(0);
}

/* Waits (at most ms) until the server has exactly n connections. */
static int
wait_nconns(struct httpd *ts, size_t n, int ms)
{
	int	waited = 0, flag = 0;

	for (; httpd_conn_count(ts) != n && waited < ms; waited += 20)
		(void)loop_until(&flag, 20);
	return (httpd_conn_count(ts) == n);
}

/*
 * Refused handshakes linger (so that clients read the alert), but at most
 * TLS_REFUSED_MAX of them: a flood of bad handshakes closes at once
 * beyond that; the lingering ones close when their client does.
 */
static void
test_tls_flood(struct httpd *ts)
{
	pid_t	pid;
	int	flag = 0, st, got;

	fflush(stdout);
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0)
		flood_child(httpd_port(ts));
	got = wait_nconns(ts, TLS_REFUSED_MAX, 1500);
	ok(got, "40 refused handshakes: %zu linger (at most %d)",
	    httpd_conn_count(ts), TLS_REFUSED_MAX);
	(void)loop_until(&flag, 200);
	is_int((int)httpd_conn_count(ts), TLS_REFUSED_MAX,
	    "and no more than that while the flood holds its sockets");
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	got = wait_nconns(ts, 0, 1500);
	ok(got, "they close when their client does (%zu left)",
	    httpd_conn_count(ts));
}

static void
test_tls(void)
{
	struct testpki		 ca, sv, cli;
	struct tls_conf		 tc;
	struct httpd_conf	 hc;
	struct httpd		*ts;
	struct cl		 cl = { 0 };
	SSL_CTX			*ctx;
	char			*cause = NULL, *rep, fp[TLS_FP_HEX_LEN + 1];
	int			 tport;

	testpki_make(&ca, "ISN Test CA", NULL, 1, NULL, 1);
	testpki_make(&sv, "server", &ca, 0, "IP:127.0.0.1,DNS:localhost", 2);
	testpki_make(&cli, "edge-1", &ca, 0, NULL, 3);
	testpki_write(&ca, tmpdir, "ca.pem", "ca.key");
	testpki_write(&sv, tmpdir, "server.pem", "server.key");
	testpki_write(&cli, tmpdir, "client.pem", "client.key");
	tls_fingerprint(cli.cert, fp);

	memset(&tc, 0, sizeof(tc));
	tc.cert_file = tpath("server.pem");
	tc.key_file = tpath("server.key");
	tc.ca_file = tpath("ca.pem");
	tc.verify_peer = 1;
	if ((ctx = tls_server_ctx(&tc, &cause)) == NULL)
		fatalx("tls_server_ctx: %s", cause);
	memset(&hc, 0, sizeof(hc));
	hc.tls = ctx;
	hc.require_peer = 1;
	ts = httpd_new(base, &hc);
	httpd_route(ts, "/whoami", &whoami_h, NULL);
	if (httpd_listen(ts, "127.0.0.1:0", &cause) == -1)
		fatalx("%s", cause);
	tport = httpd_port(ts);

	cl.url = url(tport, "https", "/whoami");
	cl.ca = tpath("ca.pem");
	cl.cert = tpath("client.pem");
	cl.key = tpath("client.key");
	rep = run_child(curl_child, &cl);
	is_str(field(rep, "code"), "200", "mutual TLS: request answered");
	is_str(field(rep, "body"), fp,
	    "handler sees the client certificate's SHA-256 fingerprint");
	free(rep);

	whoami_calls = 0;
	cl.cert = cl.key = NULL;
	rep = run_child(curl_child, &cl);
	ok(strcmp(field(rep, "rc"), "0") != 0 &&
	    strcmp(field(rep, "code"), "0") == 0,
	    "client without certificate fails the handshake (curl rc %s)",
	    field(rep, "rc"));
	is_int(whoami_calls, 0, "and no handler ran");
	free(rep);
	test_tls_flood(ts);

	httpd_free(ts);
	SSL_CTX_free(ctx);
	testpki_free(&ca);
	testpki_free(&sv);
	testpki_free(&cli);
}

static void
test_stop(void)
{
	struct httpd_conf	 hc;
	struct cl		 cl = { 0 };
	char			*rep, *cause = NULL;
	int			 p2, fd;

	memset(&hc, 0, sizeof(hc));
	srv2 = httpd_new(base, &hc);
	httpd_route(srv2, "/slow", &slow_h, NULL);
	if (httpd_listen(srv2, "127.0.0.1:0", &cause) == -1)
		fatalx("%s", cause);
	p2 = httpd_port(srv2);
	cl.url = url(p2, "http", "/slow");
	cl.method = "POST";
	cl.upload = 1000;
	rep = run_child(curl_child, &cl);
	is_str(field(rep, "code"), "200",
	    "graceful stop: the request in flight completes");
	free(rep);
	ok(loop_until(&stopped, 5000) == 0 && httpd_conn_count(srv2) == 0,
	    "graceful stop: stop callback after the last connection");
	fd = raw_connect(p2);
	ok(fd == -1, "graceful stop: no longer accepting");
	if (fd != -1)
		close(fd);
	httpd_free(srv2);
}

int
main(void)
{
	struct httpd_conf	 hc;
	char			*cause = NULL;
	const char		*q = getenv("TEST_HTTPD_QUICK");

	signal(SIGPIPE, SIG_IGN);
	log_init(1, "test_httpd", LOG_DAEMON);
	if (q != NULL && *q != '\0' && *q != '0') {
		big_up = 8 << 20;
		big_down = 16 << 20;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_httpd.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		fatal("mkdtemp");
	atexit(cleanup);
	base = event_base_new();
	memset(&hc, 0, sizeof(hc));
	hc.header_timeout_ms = 1000;
	hc.body_timeout_ms = 10000;
	srv = httpd_new(base, &hc);
	httpd_route(srv, "/small", &small_h, NULL);
	httpd_route(srv, "/sink", &sink_h, NULL);
	httpd_route(srv, "/download", &dl_h, NULL);
	if (httpd_listen(srv, "127.0.0.1:0", &cause) == -1)
		fatalx("%s", cause);
	port = httpd_port(srv);

	test_upload();		/* first: peak RSS is a high-water mark */
	test_download();
	test_small_and_keepalive();
	test_raw();
	test_tls();
	test_stop();

	httpd_free(srv);
	event_base_free(base);
	return (tap_done());
}
