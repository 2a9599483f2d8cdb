/*
 * import.c: the receiving side (docs/design/import.md).
 *
 * Lookups and retrievals each run one isn-edge-fetch (libisnphr) with
 * the secrets on its stdin; storing runs isn-edge-dicom store through
 * dcmc. Like jobs.c, the database holds the state (imports.status
 * mirrors the newest import_history row) and a struct import_job exists
 * only while an import is worked on; each step writes its status first
 * and goes on from the write's callback. The spool directory of an
 * import (spool_dir/imports/<id>) is the truth about what is left to
 * store: an instance's file is deleted as soon as the PACS accepted it.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "child.h"
#include "conf.h"
#include "db.h"
#include "dbuf.h"
#include "dcmc.h"
#include "edge.h"
#include "import.h"
#include "keywrap.h"
#include "log.h"
#include "spool.h"
#include "xmalloc.h"

#define IMPORT_SPOOL		"imports"	/* spool_dir/imports/<id> */
#define IMPORT_LOOKUPS		"lookups"	/* a lookup's reports */
#define IMPORT_MAX_OUT		(4 * 1024 * 1024)	/* helper stdout */
#define IMPORT_MAX_LOOKUPS	4
#define IMPORT_MAX_REPORT	(1024 * 1024)
#define IMPORT_SEAL_VERSION	1
#define IMPORT_SEAL_LABEL	"isn-edge import v1"
#define IMPORT_NONCE_LEN	12
#define IMPORT_TAG_LEN		16

struct import;
struct import_job;

/* One isn-edge-fetch run. */
struct import_proc {
	struct import		*imp;
	TAILQ_ENTRY(import_proc) entry;
	pid_t			 pid;
	struct bufferevent	*out;
	struct bufferevent	*in;
	struct evbuffer		*got;		/* its stdout */
	int			 eof;
	int			 reaped;
	int			 wstatus;
	int			 overflow;
	void			(*done)(struct import_proc *);
	/* A lookup: the API's reply. */
	import_reply_cb		 reply;
	void			*reply_arg;
	/* A retrieval. */
	struct import_job	*job;
};
TAILQ_HEAD(import_procs, import_proc);

struct import_job {
	struct import		*imp;
	TAILQ_ENTRY(import_job)	 entry;
	long long		 id;
	int			 status;
	int			 fresh;
	int			 retries;
	char			*study;
	char			*pacs;
	char			*scheme;
	char			*sealed_hex;
	char			*mrn;
	char			*accession;
	char			*dir;
	int			 writing;
	struct import_proc	*proc;
	struct dcmc_op		*op;
	/* Storing. */
	int			 nfiles;
	struct dbuf		 failed_sop;	/* {..} text[] literals */
	struct dbuf		 failed_why;
	int			 nstored;
	int			 nfailed;
	char			*first_why;
	/* POST /api/imports/ID/cancel while it runs. */
	import_reply_cb		 cancel_cb;
	void			*cancel_arg;
	char			*cancel_by;
};
TAILQ_HEAD(import_jobs, import_job);

/* A staff cancel that came while a pick was in flight: run after it. */
struct import_cancel_w {
	TAILQ_ENTRY(import_cancel_w)	 entry;
	long long			 id;
	char				*user;
	import_reply_cb			 cb;
	void				*arg;
};
TAILQ_HEAD(import_cancels, import_cancel_w);

struct import {
	struct edge		*edge;
	struct dcmc		*dcmc;
	struct event		*poll;
	struct event		*sigchld;
	struct import_jobs	 running;
	struct import_procs	 procs;
	struct import_cancels	 cancels;	/* waiting for the pick */
	int			 nrunning;
	int			 nlookups;
	int			 picking;
	int			 aging;		/* import_age in flight */
	int			 recovered;
	int			 stopping;
	int			 closing;
	int			 has_kek;
	uint8_t			 kek[KEYWRAP_KEY_LEN];
	char			*url;		/* https://host:port */
	char			*lookups;	/* spool_dir/lookups or NULL */
};

typedef void	(*import_then)(struct import_job *);

static void	import_pick(struct import *);
static void	import_poll_arm(struct import *);
static void	import_store(struct import_job *);
static void	import_retrieve(struct import_job *);
static void	import_end(struct import_job *);
static void	import_reply_json(import_reply_cb, void *, int, json_t *);
static void	import_reply_error(import_reply_cb, void *, int,
		    const char *);
static void	import_cancel_write(struct import_job *);

/* --- small helpers --- */

static char *
import_value(PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return (NULL);
	return (xstrdup(PQgetvalue(res, row, col)));
}

/*
 * The value of key in a key=value line (percent-decoded, NUL-terminated,
 * its length in *lenp when not NULL), or NULL.
 */
static char *
import_line_getn(const char *line, const char *key, size_t *lenp)
{
	size_t		 klen = strlen(key);
	const char	*p = line, *e;
	char		*out, *o;
	unsigned int	 c;

	while (*p != '\0') {
		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			p += klen + 1;
			if ((e = strchr(p, ' ')) == NULL)
				e = p + strlen(p);
			out = o = xmalloc((size_t)(e - p) + 1);
			while (p < e) {
				if (*p == '%' && e - p >= 3 &&
				    sscanf(p + 1, "%2x", &c) == 1) {
					*o++ = (char)c;
					p += 3;
				} else
					*o++ = *p++;
			}
			*o = '\0';
			if (lenp != NULL)
				*lenp = (size_t)(o - out);
			return (out);
		}
		if ((p = strchr(p, ' ')) == NULL)
			break;
		p++;
	}
	return (NULL);
}

static char *
import_line_get(const char *line, const char *key)
{
	return (import_line_getn(line, key, NULL));
}

/*
 * len bytes of a sender's text as valid UTF-8 (NUL-terminated, malloc'd):
 * whatever its encoding, a byte that is not part of valid UTF-8 (or is
 * NUL) becomes U+FFFD, so that jansson and a PostgreSQL text column both
 * take it.
 */
static char *
import_utf8(const char *s, size_t len)
{
	const uint8_t	*p = (const uint8_t *)s;
	struct dbuf	 b;
	size_t		 i = 0, n, k;
	uint32_t	 cp;

	dbuf_init(&b, SIZE_MAX);
	while (i < len) {
		n = p[i] < 0x80 ? 1 : (p[i] & 0xe0) == 0xc0 ? 2 :
		    (p[i] & 0xf0) == 0xe0 ? 3 : (p[i] & 0xf8) == 0xf0 ? 4 : 0;
		cp = n == 1 ? p[i] : n == 2 ? p[i] & 0x1fu : n == 3 ?
		    p[i] & 0x0fu : p[i] & 0x07u;
		for (k = 1; n > 0 && k < n; k++) {
			if (i + k >= len || (p[i + k] & 0xc0) != 0x80) {
				n = 0;
				break;
			}
			cp = (cp << 6) | (p[i + k] & 0x3fu);
		}
		/* Overlong forms, surrogates and beyond U+10FFFF too. */
		if (n == 0 || cp == 0 || (n == 2 && cp < 0x80) ||
		    (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
			dbuf_add(&b, "\xef\xbf\xbd", 3);
			i++;
			continue;
		}
		dbuf_add(&b, s + i, n);
		i += n;
	}
	dbuf_addc(&b, '\0');
	return (dbuf_take(&b, NULL));
}

/* A JSON string of len bytes of a sender's text (import_utf8). */
static json_t *
import_json_text(const char *s, size_t len)
{
	char	*u = import_utf8(s, len);
	json_t	*j = json_string(u);

	free(u);
	return (j);
}

/* A PostgreSQL array literal element: quoted, \ and " escaped. */
static void
import_array_add(struct dbuf *b, const char *s)
{
	dbuf_addc(b, b->len == 0 ? '{' : ',');
	dbuf_addc(b, '"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			dbuf_addc(b, '\\');
		dbuf_addc(b, *s);
	}
	dbuf_addc(b, '"');
}

static char *
import_array_take(struct dbuf *b)
{
	if (b->len == 0)
		dbuf_add(b, "{", 1);
	dbuf_add(b, "}", 2);	/* with the NUL */
	return (dbuf_take(b, NULL));
}

static const struct edge_pacs *
import_pacs(const struct import *imp, const char *name)
{
	const struct edge_conf	*c = imp->edge->conf;
	size_t			 i;

	for (i = 0; i < c->npacs; i++)
		if (strcmp(c->pacs[i].name, name) == 0)
			return (&c->pacs[i]);
	return (NULL);
}

int
import_pacs_known(struct import *imp, const char *name)
{
	return (imp != NULL && import_pacs(imp, name) != NULL);
}

/* --- sealing the secrets under the site key --- */

static int
import_gcm(int enc, const uint8_t *kek, const char *study,
    const uint8_t *nonce, const uint8_t *in, size_t len, uint8_t *out,
    uint8_t *tag)
{
	EVP_CIPHER_CTX	*c;
	int		 n, ok;

	if ((c = EVP_CIPHER_CTX_new()) == NULL)
		return (-1);
	ok = EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, kek, nonce,
	    enc) == 1 &&
	    EVP_CipherUpdate(c, NULL, &n, (const uint8_t *)IMPORT_SEAL_LABEL,
	    sizeof(IMPORT_SEAL_LABEL)) == 1 &&
	    EVP_CipherUpdate(c, NULL, &n, (const uint8_t *)study,
	    (int)strlen(study)) == 1 &&
	    EVP_CipherUpdate(c, out, &n, in, (int)len) == 1 &&
	    (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG,
	    IMPORT_TAG_LEN, tag) == 1) &&
	    EVP_CipherFinal_ex(c, out + n, &n) == 1 &&
	    (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG,
	    IMPORT_TAG_LEN, tag) == 1);
	EVP_CIPHER_CTX_free(c);
	return (ok ? 0 : -1);
}

/* The four stdin lines of isn-edge-fetch. */
static char *
import_secret_lines(const struct import_secrets *s, size_t *len)
{
	char	*p;
	int	 n;

	n = xasprintf(&p, "%s\n%s\n%s\n%s\n", s->scheme, s->secret, s->dob,
	    s->password);
	*len = (size_t)n;
	return (p);
}

/* Hex of version ‖ nonce ‖ ciphertext ‖ tag; AAD binds the study. */
static char *
import_seal(struct import *imp, const struct import_secrets *s,
    const char *study)
{
	uint8_t		*buf, *nonce, *ct;
	char		*plain, *hex;
	size_t		 len, total, i;

	plain = import_secret_lines(s, &len);
	total = 1 + IMPORT_NONCE_LEN + len + IMPORT_TAG_LEN;
	buf = xmalloc(total);
	buf[0] = IMPORT_SEAL_VERSION;
	nonce = buf + 1;
	ct = nonce + IMPORT_NONCE_LEN;
	if (RAND_bytes(nonce, IMPORT_NONCE_LEN) != 1 ||
	    import_gcm(1, imp->kek, study, nonce, (uint8_t *)plain, len, ct,
	    ct + len) == -1) {
		freezero(plain, len);
		free(buf);
		return (NULL);
	}
	freezero(plain, len);
	hex = xmalloc(total * 2 + 1);
	for (i = 0; i < total; i++)
		snprintf(hex + 2 * i, 3, "%02x", buf[i]);
	free(buf);
	return (hex);
}

/* The stdin lines back (malloc'd, to be freezero'd), or NULL. */
static char *
import_unseal(struct import *imp, const char *hex, const char *study,
    size_t *lenp)
{
	size_t		 total = strlen(hex) / 2, len, i;
	uint8_t		*buf, tag[IMPORT_TAG_LEN];
	char		*out;
	unsigned int	 c;

	if (strlen(hex) % 2 != 0 || total < 1 + IMPORT_NONCE_LEN +
	    IMPORT_TAG_LEN + 1)
		return (NULL);
	buf = xmalloc(total);
	for (i = 0; i < total; i++) {
		if (sscanf(hex + 2 * i, "%2x", &c) != 1) {
			free(buf);
			return (NULL);
		}
		buf[i] = (uint8_t)c;
	}
	len = total - 1 - IMPORT_NONCE_LEN - IMPORT_TAG_LEN;
	out = xmalloc(len + 1);
	memcpy(tag, buf + total - IMPORT_TAG_LEN, sizeof(tag));
	if (buf[0] != IMPORT_SEAL_VERSION || import_gcm(0, imp->kek, study,
	    buf + 1, buf + 1 + IMPORT_NONCE_LEN, len, (uint8_t *)out,
	    tag) == -1) {
		freezero(out, len + 1);
		free(buf);
		return (NULL);
	}
	free(buf);
	out[len] = '\0';
	*lenp = len;
	return (out);
}

/* --- isn-edge-fetch processes --- */

static void
import_proc_free(struct import_proc *p)
{
	TAILQ_REMOVE(&p->imp->procs, p, entry);
	if (p->pid > 0) {
		kill(-p->pid, SIGKILL);
		if (!p->reaped)
			waitpid(p->pid, NULL, 0);
	}
	if (p->out != NULL)
		bufferevent_free(p->out);
	if (p->in != NULL)
		bufferevent_free(p->in);
	evbuffer_free(p->got);
	free(p);
}

static void
import_proc_check(struct import_proc *p)
{
	if (p->eof && p->reaped)
		p->done(p);	/* it frees p */
}

static void
import_proc_read(struct bufferevent *bev, void *arg)
{
	struct import_proc	*p = arg;

	if (evbuffer_get_length(p->got) + evbuffer_get_length(
	    bufferevent_get_input(bev)) > IMPORT_MAX_OUT) {
		/* Not the helper we know: stop it; its exit ends the run. */
		p->overflow = 1;
		evbuffer_drain(bufferevent_get_input(bev), (size_t)-1);
		kill(-p->pid, SIGKILL);
		return;
	}
	evbuffer_add_buffer(p->got, bufferevent_get_input(bev));
}

static void
import_proc_outev(struct bufferevent *bev, short what, void *arg)
{
	struct import_proc	*p = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		import_proc_read(p->out, p);
		bufferevent_disable(p->out, EV_READ);
		p->eof = 1;
		import_proc_check(p);
	}
}

static void
import_proc_written(struct bufferevent *bev, void *arg)
{
	struct import_proc	*p = arg;

	(void)bev;
	bufferevent_free(p->in);	/* EOF on the helper's stdin */
	p->in = NULL;
}

static void
import_proc_inev(struct bufferevent *bev, short what, void *arg)
{
	import_proc_written(bev, arg);	/* it reports why itself */
	(void)what;
}

static struct import_proc *import_fork(struct import *, char **, char **);
static char	*import_base_url(const char *);

/*
 * Runs the fetch helper with argv's arguments after the connection's;
 * stdin gets input (the secrets: they pass through a pipe only).
 */
static struct import_proc *
import_spawn(struct import *imp, const char *cmd, const char *study,
    const char *out, const char *input, size_t len,
    void (*done)(struct import_proc *), char **cause)
{
	const struct edge_conf	*c = imp->edge->conf;
	struct import_proc	*p;
	char			 timeout[32], *av[20];
	const char		*argv[20];
	int			 n = 0, i;

	/* The clearinghouse as configured now (a SIGHUP may change it). */
	free(imp->url);
	if ((imp->url = import_base_url(c->clearinghouse.url)) == NULL) {
		xcause(cause, "no clearinghouse.url");
		return (NULL);
	}
	snprintf(timeout, sizeof(timeout), "%lld", c->clearinghouse.timeout);
	argv[n++] = c->import.fetch_helper;
	argv[n++] = cmd;
	argv[n++] = "--url";
	argv[n++] = imp->url;
	if (c->clearinghouse.ca != NULL) {
		argv[n++] = "--ca";
		argv[n++] = c->clearinghouse.ca;
	}
	if (c->clearinghouse.cert != NULL) {
		argv[n++] = "--cert";
		argv[n++] = c->clearinghouse.cert;
		argv[n++] = "--key";
		argv[n++] = c->clearinghouse.key;
	}
	argv[n++] = "--oid";
	argv[n++] = c->clearinghouse.affinity_domain;
	argv[n++] = "--timeout";
	argv[n++] = timeout;
	if (study != NULL) {
		argv[n++] = "--study";
		argv[n++] = study;
		argv[n++] = "--out";
		argv[n++] = out;
	} else if (out != NULL) {
		argv[n++] = "--tmp";	/* list: where it reads reports */
		argv[n++] = out;
	}
	argv[n] = NULL;
	for (i = 0; i < n; i++)
		av[i] = xstrdup(argv[i]);
	av[n] = NULL;
	p = import_fork(imp, av, cause);
	for (i = 0; i < n; i++)
		free(av[i]);
	if (p == NULL)
		return (NULL);
	p->done = done;
	bufferevent_write(p->in, input, len);
	return (p);
}

static struct import_proc *
import_fork(struct import *imp, char **argv, char **cause)
{
	struct import_proc	*p;
	int			 outfd, infd;
	pid_t			 pid;

	if (child_spawn(argv, &outfd, &infd, &pid, cause) == -1)
		return (NULL);
	p = xcalloc(1, sizeof(*p));
	p->imp = imp;
	p->pid = pid;
	if ((p->got = evbuffer_new()) == NULL)
		fatalx("import: evbuffer_new");
	p->out = bufferevent_socket_new(imp->edge->base, outfd,
	    BEV_OPT_CLOSE_ON_FREE);
	p->in = bufferevent_socket_new(imp->edge->base, infd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (p->out == NULL || p->in == NULL)
		fatalx("import: bufferevent_socket_new");
	bufferevent_setcb(p->out, import_proc_read, NULL, import_proc_outev,
	    p);
	bufferevent_enable(p->out, EV_READ);
	bufferevent_setcb(p->in, NULL, import_proc_written, import_proc_inev,
	    p);
	bufferevent_enable(p->in, EV_WRITE);
	TAILQ_INSERT_TAIL(&imp->procs, p, entry);
	return (p);
}

static void
import_sigchld(evutil_socket_t fd, short what, void *arg)
{
	struct import		*imp = arg;
	struct import_proc	*p, *next;
	int			 st;

	(void)fd;
	(void)what;
	for (p = TAILQ_FIRST(&imp->procs); p != NULL; p = next) {
		next = TAILQ_NEXT(p, entry);
		if (p->pid <= 0 || p->reaped ||
		    waitpid(p->pid, &st, WNOHANG) != p->pid)
			continue;
		p->reaped = 1;
		p->wstatus = st;
		import_proc_check(p);
	}
}

/* Its output as a NUL-terminated string (the buffer is drained). */
static char *
import_proc_text(struct import_proc *p)
{
	size_t	 len = evbuffer_get_length(p->got);
	char	*s = xmalloc(len + 1);

	evbuffer_remove(p->got, s, len);
	s[len] = '\0';
	return (s);
}

static int
import_proc_exit(const struct import_proc *p)
{
	return (WIFEXITED(p->wstatus) ? WEXITSTATUS(p->wstatus) : -1);
}

/* The result= line of an output, or NULL. */
static const char *
import_result_line(const char *text)
{
	const char	*r = NULL, *p;

	for (p = text; (p = strstr(p, "result=")) != NULL; p++)
		if (p == text || p[-1] == '\n')
			r = p;
	return (r);
}

/* --- lookup --- */

static void
import_reply_json(import_reply_cb cb, void *arg, int status, json_t *o)
{
	char	*s;

	if (o == NULL || (s = json_dumps(o, JSON_COMPACT)) == NULL)
		fatalx("import: out of memory");
	cb(arg, status, s);
	free(s);
	json_decref(o);
}

static void
import_reply_error(import_reply_cb cb, void *arg, int status,
    const char *msg)
{
	import_reply_json(cb, arg, status, json_pack("{s:s}", "error", msg));
}

static json_t *
import_list_json(char *text, const char *scheme)
{
	json_t		*studies, *st = NULL, *series;
	char		*line, *save = NULL, *v[8];
	size_t		 i, len = 0;

	studies = json_array();
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "study ", 6) == 0) {
			v[0] = import_line_get(line, "uid");
			v[1] = import_line_get(line, "set");
			v[2] = import_line_get(line, "submitted");
			v[3] = import_line_get(line, "series");
			v[4] = import_line_get(line, "instances");
			v[5] = import_line_get(line, "report");
			v[6] = import_line_getn(line, "text", &len);
			v[7] = import_line_get(line, "cut");
			if (v[0] != NULL && v[1] != NULL && v[2] != NULL &&
			    v[4] != NULL && v[5] != NULL) {
				st = json_pack("{s:s,s:s,s:I,s:I,s:b,s:o,s:b,"
				    "s:[]}",
				    "uid", v[0], "submission", v[1],
				    "submitted", (json_int_t)strtoll(v[2],
				    NULL, 10), "instances",
				    (json_int_t)strtoll(v[4], NULL, 10),
				    "report", strcmp(v[5], "1") == 0,
				    "report_text", v[6] != NULL ?
				    import_json_text(v[6], len) : json_null(),
				    "report_truncated", v[6] != NULL &&
				    v[7] != NULL && strcmp(v[7], "1") == 0,
				    "series");
				json_array_append_new(studies, st);
			}
			for (i = 0; i < 8; i++)
				free(v[i]);
		} else if (strncmp(line, "series ", 7) == 0 && st != NULL) {
			v[0] = import_line_get(line, "uid");
			v[1] = import_line_get(line, "instances");
			if (v[0] != NULL && v[1] != NULL &&
			    (series = json_object_get(st, "series")) != NULL)
				json_array_append_new(series, json_pack(
				    "{s:s,s:I}", "uid", v[0], "instances",
				    (json_int_t)strtoll(v[1], NULL, 10)));
			free(v[0]);
			free(v[1]);
		}
	}
	return (json_pack("{s:s,s:o}", "scheme", scheme, "studies",
	    studies));
}

static void
import_lookup_done(struct import_proc *p)
{
	struct import	*imp = p->imp;
	import_reply_cb	 cb = p->reply;
	void		*arg = p->reply_arg;
	char		*text, *nothing = NULL, *scheme = NULL, *nst = NULL;
	char		*ntexts = NULL;
	const char	*r;
	size_t		 tlen;
	int		 ex = import_proc_exit(p);

	text = import_proc_text(p);
	tlen = strlen(text);
	import_proc_free(p);
	imp->nlookups--;
	if ((r = import_result_line(text)) != NULL) {
		nothing = import_line_get(r, "nothing");
		scheme = import_line_get(r, "scheme");
		nst = import_line_get(r, "studies");
		ntexts = import_line_get(r, "texts");
	}
	if (ex == 0 && r != NULL && strncmp(r, "result=ok", 9) == 0) {
		log_info("import lookup found=1 studies=%d reports=%d",
		    nst != NULL ? atoi(nst) : 0,
		    ntexts != NULL ? atoi(ntexts) : 0);
		import_reply_json(cb, arg, 200, import_list_json(text,
		    scheme != NULL ? scheme : "?"));
	} else if (nothing != NULL && strcmp(nothing, "1") == 0) {
		/* One message whatever was wrong (PROFILE.md 3). */
		log_info("import lookup found=0");
		import_reply_error(cb, arg, 404, "nothing found for these "
		    "details");
	} else {
		log_warnx("import lookup failed exit=%d", ex);
		import_reply_error(cb, arg, 502, "the clearinghouse could not "
		    "be asked; try again");
	}
	free(nothing);
	free(scheme);
	free(nst);
	free(ntexts);
	freezero(text, tlen);	/* it held the reports */
}

void
import_lookup(struct import *imp, struct import_secrets *s,
    import_reply_cb cb, void *arg)
{
	struct import_proc	*p;
	char			*in, *cause = NULL;
	size_t			 len;

	if (imp == NULL || imp->edge->conf->clearinghouse.url == NULL ||
	    imp->closing) {
		import_secrets_clear(s);
		import_reply_error(cb, arg, 503, "importing is not configured");
		return;
	}
	if (imp->nlookups >= IMPORT_MAX_LOOKUPS) {
		import_secrets_clear(s);
		import_reply_error(cb, arg, 503, "busy; try again");
		return;
	}
	in = import_secret_lines(s, &len);
	import_secrets_clear(s);
	p = import_spawn(imp, "list", NULL, imp->lookups, in, len,
	    import_lookup_done, &cause);
	freezero(in, len);
	if (p == NULL) {
		log_warnx("import lookup spawn failed cause=\"%s\"", cause);
		free(cause);
		import_reply_error(cb, arg, 500, "internal error");
		return;
	}
	p->reply = cb;
	p->reply_arg = arg;
	imp->nlookups++;
}

/* --- creation --- */

struct import_new_q {
	struct import	*imp;
	import_reply_cb	 cb;
	void		*arg;
};

static void
import_created(PGresult *res, const char *cause, void *arg)
{
	struct import_new_q	*q = arg;
	struct import		*imp = q->imp;
	long long		 id;

	if (cause != NULL || PQntuples(res) != 1) {
		log_warnx("import create failed cause=\"%s\"",
		    cause != NULL ? cause : "no row");
		import_reply_error(q->cb, q->arg, 500, "database error");
	} else {
		id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		log_info("import id=%lld created", id);
		import_reply_json(q->cb, q->arg, 201, json_pack("{s:I}",
		    "import", (json_int_t)id));
		if (!imp->closing)
			import_kick(imp);
	}
	free(q);
}

void
import_create(struct import *imp, struct import_secrets *s,
    const struct import_request *r, import_reply_cb cb, void *arg)
{
	struct import_new_q	*q;
	char			*sealed, retries[16];
	const char		*v[8];

	if (imp == NULL || imp->edge->conf->clearinghouse.url == NULL ||
	    !imp->has_kek ||
	    imp->closing) {
		import_secrets_clear(s);
		import_reply_error(cb, arg, 503, "importing is not configured");
		return;
	}
	sealed = import_seal(imp, s, r->study);
	v[0] = r->study;
	v[1] = r->pacs;
	v[2] = s->scheme;
	v[3] = sealed;
	v[4] = imp->edge->conf->import.reconcile ? r->mrn : NULL;
	v[5] = imp->edge->conf->import.reconcile ? r->accession : NULL;
	v[6] = r->user;
	snprintf(retries, sizeof(retries), "%d",
	    imp->edge->conf->import.retries);
	v[7] = retries;
	if (sealed == NULL) {
		import_secrets_clear(s);
		import_reply_error(cb, arg, 500, "cannot seal the details");
		return;
	}
	q = xcalloc(1, sizeof(*q));
	q->imp = imp;
	q->cb = cb;
	q->arg = arg;
	db_query_prepared(imp->edge->db,
	    "WITH i AS (INSERT INTO imports (study_uid, pacs, scheme,"
	    " sealed_secrets, local_mrn, local_accession, created_by,"
	    " remaining_retries, next_attempt) VALUES ($1, $2, $3,"
	    " decode($4, 'hex'), $5, $6, $7, $8::integer, now())"
	    " RETURNING id),"
	    " h AS (INSERT INTO import_history (import_id, status, reason)"
	    " SELECT id, 1, 'created by ' || $7::text FROM i)"
	    " SELECT id FROM i", 8, v, NULL, NULL, 0, import_created, q);
	import_secrets_clear(s);
	free(sealed);
}

/* --- job lifetime and status writes --- */

static void
import_job_free(struct import_job *job)
{
	struct import	*imp = job->imp;

	TAILQ_REMOVE(&imp->running, job, entry);
	imp->nrunning--;
	if (job->op != NULL)
		dcmc_cancel(job->op);
	if (job->proc != NULL)
		import_proc_free(job->proc);
	free(job->study);
	free(job->pacs);
	free(job->scheme);
	free(job->sealed_hex);
	free(job->mrn);
	free(job->accession);
	free(job->dir);
	free(job->first_why);
	free(job->cancel_by);
	if (job->cancel_cb != NULL)	/* closing: the request is answered */
		import_reply_error(job->cancel_cb, job->cancel_arg, 503,
		    "the edge is stopping");
	dbuf_free(&job->failed_sop);
	dbuf_free(&job->failed_why);
	free(job);
	edge_release(imp->edge);
}

static void
import_end(struct import_job *job)
{
	struct import	*imp = job->imp;

	import_job_free(job);
	if (!imp->closing && !imp->stopping)
		import_kick(imp);
}

struct import_write {
	struct import_job	*job;
	import_then		 then;
};

static void
import_set_done(PGresult *res, const char *cause, void *arg)
{
	struct import_write	*w = arg;
	struct import_job	*job = w->job;
	import_then		 then = w->then;

	(void)res;
	free(w);
	job->writing = 0;
	if (job->imp->closing) {
		import_job_free(job);
		return;
	}
	if (cause != NULL) {
		log_warnx("import id=%lld status-write failed cause=\"%s\"",
		    job->id, cause);
		import_end(job);
		return;
	}
	/* A cancel that came during the write goes first. */
	if (job->cancel_cb != NULL && job->status != -40) {
		import_cancel_write(job);
		return;
	}
	if (then != NULL)
		then(job);
	else
		import_end(job);
}

/* What one status write does beside the status (import_set_x). */
struct import_extra {
	const char	*cte;		/* "x AS (...)" on import_instances */
	const char	*a, *b, *c;	/* its $6, $7, $8 */
	int		 clear;		/* erase the sealed details */
	const char	*instances;	/* imports.instances, or NULL */
	const char	*report;	/* imports.report_text, or NULL */
};

/*
 * Records status with its reason (a history row when the status changes
 * or is a failure), the next attempt (next_in < 0: none), a retry used,
 * and x (NULL: nothing more), in one statement; then then (NULL: the
 * run ends). The imports row is updated once (by the last UPDATE; the
 * status by the history trigger after it): a row updated twice by one
 * statement keeps one of the two.
 */
static void
import_set_x(struct import_job *job, int status, const char *reason,
    double next_in, int use_retry, const struct import_extra *x,
    import_then then)
{
	static const struct import_extra	 none;
	struct import_write	*w;
	char			 id[32], st[16], next[32], dec[4], *sql;
	const char		*v[11];

	if (x == NULL)
		x = &none;
	snprintf(id, sizeof(id), "%lld", job->id);
	snprintf(st, sizeof(st), "%d", status);
	snprintf(next, sizeof(next), "%.3f", next_in);
	snprintf(dec, sizeof(dec), "%d", use_retry ? 1 : 0);
	v[0] = id;
	v[1] = st;
	v[2] = reason;
	v[3] = next_in < 0 ? NULL : next;
	v[4] = dec;
	v[5] = x->a;
	v[6] = x->b;
	v[7] = x->c;
	v[8] = x->clear ? "t" : "f";
	v[9] = x->instances;
	v[10] = x->report;
	if (use_retry && job->retries > 0)
		job->retries--;
	if (status != job->status)
		log_info("import id=%lld status=%d prev=%d", job->id, status,
		    job->status);
	job->status = status;
	w = xcalloc(1, sizeof(*w));
	w->job = job;
	w->then = then;
	job->writing = 1;
	xasprintf(&sql,
	    "WITH cur AS (SELECT id, status, remaining_retries FROM imports "
	    "WHERE id = $1::bigint FOR UPDATE), "
	    "%s, "
	    "h AS (INSERT INTO import_history (import_id, status, reason) "
	    "SELECT cur.id, $2::integer, $3::text FROM cur "
	    "WHERE cur.status IS DISTINCT FROM $2::integer OR $2::integer < 0) "
	    "UPDATE imports i SET next_attempt = CASE WHEN $4::float8 IS NULL "
	    "THEN NULL ELSE now() + make_interval(secs => $4::float8) END, "
	    "remaining_retries = greatest(cur.remaining_retries - "
	    "$5::integer, 0), "
	    "sealed_secrets = CASE WHEN $9::boolean THEN NULL "
	    "ELSE i.sealed_secrets END, "
	    "instances = coalesce($10::integer, i.instances), "
	    "report_text = coalesce(i.report_text, $11::text) "
	    "FROM cur WHERE i.id = cur.id",
	    x->cte != NULL ? x->cte :
	    "x AS (SELECT $6::text, $7::text, $8::text)");
	db_query(job->imp->edge->db, sql, 11, v, NULL, NULL, 0,
	    import_set_done, w);
	free(sql);
}

static void
import_set(struct import_job *job, int status, const char *reason,
    double next_in, int use_retry, import_then then)
{
	import_set_x(job, status, reason, next_in, use_retry, NULL, then);
}

/* A failure: final, or retried after import.retry_interval. */
static void printflike(4, 5)
import_fail(struct import_job *job, int status, int retry,
    const char *fmt, ...)
{
	struct import_extra	 x;
	va_list		 ap;
	char		*why, *reason;
	long long	 ival = job->imp->edge->conf->import.retry_interval;
	int		 again = retry && job->retries > 0;

	memset(&x, 0, sizeof(x));

	va_start(ap, fmt);
	xvasprintf(&why, fmt, ap);
	va_end(ap);
	if (again)
		xasprintf(&reason, "%s; retry in %llds (%d left)", why, ival,
		    job->retries - 1);
	else if (retry)
		xasprintf(&reason, "%s; no retries left", why);
	else
		reason = xstrdup(why);
	free(why);
	log_warnx("import id=%lld failed status=%d retry=%d", job->id, status,
	    again);
	/* Nothing to store any more: no data left behind. */
	if (!again && status != -30)
		spool_discard(job->imp->edge->spool, job->dir);
	x.clear = !again && status != -30;
	import_set_x(job, status, reason, again ? (double)ival : -1, retry,
	    &x, NULL);
	free(reason);
}

/* --- retrieval --- */

/* The instances under dir/<study>/<series>/<sop>.dcm, as arrays. */
static int
import_scan(const char *dir, const char *study, struct dbuf *sops,
    struct dbuf *series)
{
	DIR		*d, *sd;
	struct dirent	*de, *fe;
	char		*sdir, *p;
	size_t		 len;
	int		 n = 0;

	xasprintf(&sdir, "%s/%s", dir, study);
	if ((d = opendir(sdir)) == NULL) {
		free(sdir);
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		xasprintf(&p, "%s/%s", sdir, de->d_name);
		if ((sd = opendir(p)) != NULL) {
			while ((fe = readdir(sd)) != NULL) {
				len = strlen(fe->d_name);
				if (len < 5 || strcmp(fe->d_name + len - 4,
				    ".dcm") != 0)
					continue;
				fe->d_name[len - 4] = '\0';
				import_array_add(sops, fe->d_name);
				import_array_add(series, de->d_name);
				n++;
			}
			closedir(sd);
		}
		free(p);
	}
	closedir(d);
	free(sdir);
	return (n);
}

/* The report the study came with (the sender's text), or NULL. */
static char *
import_report(const char *dir, const char *study)
{
	char	*p, *s = NULL, *buf;
	FILE	*f;
	size_t	 n;

	xasprintf(&p, "%s/%s/report.txt", dir, study);
	if ((f = fopen(p, "r")) != NULL) {
		/* Any encoding the sender used: stored as valid UTF-8. */
		buf = xmalloc(IMPORT_MAX_REPORT);
		n = fread(buf, 1, IMPORT_MAX_REPORT, f);
		s = import_utf8(buf, n);
		free(buf);
		fclose(f);
		unlink(p);
	}
	free(p);
	/* Only the instances stay: they go to the PACS. */
	xasprintf(&p, "%s/%s/kos.dcm", dir, study);
	unlink(p);
	free(p);
	xasprintf(&p, "%s/index.json", dir);
	unlink(p);
	free(p);
	return (s);
}

static void
import_retrieved(struct import_proc *p)
{
	struct import_job	*job = p->job;
	char			*text, *nothing = NULL, *why = NULL;
	char			*report = NULL;
	char			*sops, *series, reason[128], count[16];
	struct import_extra	 x;
	const char		*r;
	struct dbuf		 bs, bse;
	int			 ex = import_proc_exit(p), n;

	text = import_proc_text(p);
	job->proc = NULL;
	import_proc_free(p);
	if ((r = import_result_line(text)) != NULL) {
		nothing = import_line_get(r, "nothing");
		why = import_line_get(r, "reason");
	}
	if (ex != 0 || r == NULL || strncmp(r, "result=ok", 9) != 0) {
		if (nothing != NULL && strcmp(nothing, "1") == 0) {
			/* Final: the details are wrong, erase them. */
			memset(&x, 0, sizeof(x));
			x.clear = 1;
			spool_discard(job->imp->edge->spool, job->dir);
			import_set_x(job, -10, "nothing found for these "
			    "details; the details were erased", -1, 0, &x,
			    NULL);
		} else
			import_fail(job, -11, 1, "retrieval failed (exit %d): "
			    "%s", ex, why != NULL ? why : "no result");
		goto out;
	}
	dbuf_init(&bs, SIZE_MAX);
	dbuf_init(&bse, SIZE_MAX);
	n = import_scan(job->dir, job->study, &bs, &bse);
	if (n <= 0) {
		dbuf_free(&bs);
		dbuf_free(&bse);
		import_fail(job, -11, 1, "study %s: no instances retrieved",
		    job->study);
		goto out;
	}
	report = import_report(job->dir, job->study);
	sops = import_array_take(&bs);
	series = import_array_take(&bse);
	log_info("import id=%lld retrieved instances=%d", job->id, n);
	snprintf(reason, sizeof(reason), "retrieved %d instances%s", n,
	    report != NULL ? " and the report" : "");
	/* The details are no longer needed: erased with this status. */
	snprintf(count, sizeof(count), "%d", n);
	memset(&x, 0, sizeof(x));
	x.cte = "x AS (INSERT INTO import_instances (import_id, sop_uid, "
	    "series_uid) SELECT $1::bigint, s, r FROM unnest($6::text[], "
	    "$7::text[]) AS t(s, r) WHERE $8::text IS NULL "
	    "ON CONFLICT DO NOTHING RETURNING 1)";
	x.a = sops;
	x.b = series;
	x.clear = 1;
	x.instances = count;
	x.report = report;
	import_set_x(job, 20, reason, -1, 0, &x, import_store);
	free(report);
	free(sops);
	free(series);
out:
	free(nothing);
	free(why);
	free(text);
}

static void
import_retrieve_start(struct import_job *job)
{
	struct import	*imp = job->imp;
	char		*in, *cause = NULL;
	size_t		 len;

	if (job->sealed_hex == NULL || (in = import_unseal(imp,
	    job->sealed_hex, job->study, &len)) == NULL) {
		import_fail(job, -11, 0, "the details are gone or do not open "
		    "with this site key: start a new import");
		return;
	}
	spool_discard(job->imp->edge->spool, job->dir);
	if (mkdir(job->dir, 0700) == -1) {
		freezero(in, len);
		import_fail(job, -11, 1, "spool: %s", strerror(errno));
		return;
	}
	job->proc = import_spawn(imp, "retrieve", job->study, job->dir, in,
	    len, import_retrieved, &cause);
	freezero(in, len);
	if (job->proc == NULL) {
		import_fail(job, -11, 1, "isn-edge-fetch could not start: %s",
		    cause);
		free(cause);
		return;
	}
	job->proc->job = job;
}

static void
import_retrieve(struct import_job *job)
{
	import_set(job, 10, "retrieving the study from the clearinghouse", -1,
	    0, import_retrieve_start);
}

/* --- storing --- */

/* The spool's remaining instance files (paths) and their count. */
static int
import_files(const char *dir, char ***out)
{
	DIR		*d, *sd, *td;
	struct dirent	*de, *se, *fe;
	char		**v = NULL, *p, *q;
	size_t		 n = 0, len;

	if ((d = opendir(dir)) == NULL) {
		*out = NULL;
		return (0);
	}
	while ((de = readdir(d)) != NULL) {	/* <study> */
		if (de->d_name[0] == '.')
			continue;
		xasprintf(&p, "%s/%s", dir, de->d_name);
		if ((sd = opendir(p)) != NULL) {
			while ((se = readdir(sd)) != NULL) {	/* <series> */
				if (se->d_name[0] == '.')
					continue;
				xasprintf(&q, "%s/%s", p, se->d_name);
				if ((td = opendir(q)) != NULL) {
					while ((fe = readdir(td)) != NULL) {
						len = strlen(fe->d_name);
						if (len < 5 || strcmp(
						    fe->d_name + len - 4,
						    ".dcm") != 0)
							continue;
						v = xreallocarray(v, n + 1,
						    sizeof(*v));
						xasprintf(&v[n++], "%s/%s", q,
						    fe->d_name);
					}
					closedir(td);
				}
				free(q);
			}
			closedir(sd);
		}
		free(p);
	}
	closedir(d);
	*out = v;
	return ((int)n);
}

static void
import_strv_free(char **v, int n)
{
	int	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
import_sent(struct dcmc_op *op, const struct dcmc_event *ev, void *arg)
{
	struct import_job	*job = arg;
	const char		*ok, *file, *sop, *why;

	(void)op;
	if (strcmp(ev->type, "sent") != 0 ||
	    (ok = dcmc_event_get(ev, "ok")) == NULL ||
	    (file = dcmc_event_get(ev, "file")) == NULL)
		return;
	if (strcmp(ok, "1") == 0) {
		/* The PACS has it: the edge keeps no second copy. */
		if (unlink(file) == -1)
			log_warn("import id=%lld: could not remove a stored "
			    "instance", job->id);
		job->nstored++;
		return;
	}
	if ((sop = dcmc_event_get(ev, "sop_instance")) == NULL)
		return;
	why = dcmc_event_get(ev, "reason");
	import_array_add(&job->failed_sop, sop);
	import_array_add(&job->failed_why, why != NULL ? why : "failed");
	if (job->first_why == NULL)
		job->first_why = xstrdup(why != NULL ? why : "failed");
	job->nfailed++;
}

/*
 * Every instance whose file is gone was stored (a file is deleted only
 * after the PACS accepted it, so this holds across a crash too); the
 * failures of this attempt keep their reason.
 */
static const char import_sql_stored[] =
    "x AS (UPDATE import_instances ii SET state = CASE WHEN f.s IS NULL"
    " THEN 'stored' ELSE 'failed' END, reason = f.r,"
    " attempts = ii.attempts + 1,"
    " stored_at = CASE WHEN f.s IS NULL THEN now() END"
    " FROM (SELECT i0.sop_uid, t.s, t.r FROM import_instances i0"
    " LEFT JOIN unnest($6::text[], $7::text[]) AS t(s, r)"
    " ON t.s = i0.sop_uid WHERE i0.import_id = $1::bigint) f"
    " WHERE ii.import_id = $1::bigint AND ii.sop_uid = f.sop_uid"
    " AND ii.state <> 'stored'"
    " AND (f.s IS NOT NULL OR NOT (ii.sop_uid = ANY ($8::text[])))"
    " RETURNING 1)";

static void
import_store_done(struct dcmc_op *op, const struct dcmc_result *r, void *arg)
{
	struct import_job	*job = arg;
	struct import_extra	 x;
	char			**files, *left, *fs, *fw, *reason;
	struct dbuf		 bl;
	int			 n, i;
	size_t			 len;

	(void)op;
	job->op = NULL;
	/* What is still in the spool was not stored. */
	n = import_files(job->dir, &files);
	dbuf_init(&bl, SIZE_MAX);
	for (i = 0; i < n; i++) {
		char	*base = strrchr(files[i], '/') + 1;

		len = strlen(base);
		base[len - 4] = '\0';
		import_array_add(&bl, base);
	}
	import_strv_free(files, n);
	left = import_array_take(&bl);
	fs = import_array_take(&job->failed_sop);
	fw = import_array_take(&job->failed_why);
	dbuf_init(&job->failed_sop, SIZE_MAX);
	dbuf_init(&job->failed_why, SIZE_MAX);
	memset(&x, 0, sizeof(x));
	x.cte = import_sql_stored;
	x.a = fs;
	x.b = fw;
	x.c = left;
	log_info("import id=%lld stored=%d failed=%d left=%d", job->id,
	    job->nstored, job->nfailed, n);
	if (n == 0) {
		xasprintf(&reason, "stored %d instances into %s", job->nstored,
		    job->pacs);
		import_set_x(job, 40, reason, -1, 0, &x, NULL);
		spool_discard(job->imp->edge->spool, job->dir);
	} else {
		long long	 ival = job->imp->edge->conf->import.retry_interval;
		int		 again = job->retries > 0;

		xasprintf(&reason, "%d of %d instances not stored into %s: "
		    "%s%s", n, job->nfiles, job->pacs, job->nfailed > 0 ?
		    job->first_why : (r->cause != NULL ? r->cause :
		    "no answer"), again ? "; retrying the rest" :
		    "; no retries left");
		log_warnx("import id=%lld failed status=-30 retry=%d", job->id,
		    again);
		import_set_x(job, -30, reason, again ? (double)ival : -1, 1,
		    &x, NULL);
	}
	free(reason);
	free(left);
	free(fs);
	free(fw);
}

static void
import_store_start(struct import_job *job)
{
	const struct edge_conf	*c = job->imp->edge->conf;
	const struct edge_pacs	*pacs = import_pacs(job->imp, job->pacs);
	struct dcmc_peer	 peer;
	char			**files, *cause = NULL;
	int			 n;

	dbuf_free(&job->failed_sop);
	dbuf_free(&job->failed_why);
	dbuf_init(&job->failed_sop, SIZE_MAX);
	dbuf_init(&job->failed_why, SIZE_MAX);
	job->nstored = job->nfailed = 0;
	if (pacs == NULL) {
		import_fail(job, -30, 0, "PACS \"%s\" is no longer configured",
		    job->pacs);
		return;
	}
	n = import_files(job->dir, &files);
	job->nfiles = n;
	if (n == 0) {
		/* Stored before a restart: record it. */
		import_store_done(NULL, &(struct dcmc_result){ DCMC_OK, 0,
		    NULL, NULL }, job);
		return;
	}
	peer.ae_title = pacs->ae_title;
	peer.host = pacs->host;
	peer.port = pacs->port;
	/* Reconciled: the local MRN and accession staff entered. */
	job->op = dcmc_store_local(job->imp->dcmc, &peer, c->dicom.ae_title,
	    (const char *const *)files, (size_t)n, c->import.reconcile ?
	    job->mrn : NULL, c->import.reconcile ? job->accession : NULL,
	    import_sent, import_store_done, job, &cause);
	import_strv_free(files, n);
	if (job->op == NULL) {
		import_fail(job, -30, 1, "isn-edge-dicom could not start: %s",
		    cause);
		free(cause);
		return;
	}
	log_info("import id=%lld storing instances=%d pacs=%s reconciled=%d",
	    job->id, n, job->pacs, c->import.reconcile && job->mrn != NULL);
}

static void
import_store(struct import_job *job)
{
	char	*reason;

	xasprintf(&reason, "storing into %s", job->pacs);
	import_set(job, 30, reason, -1, 0, import_store_start);
	free(reason);
}

/* --- cancel --- */

static const char import_sql_stored_cancel[] =
    "x AS (UPDATE import_instances ii SET state = 'stored',"
    " stored_at = now(), attempts = ii.attempts + 1"
    " WHERE ii.import_id = $1::bigint AND ii.state <> 'stored'"
    " AND NOT (ii.sop_uid = ANY ($6::text[]))"
    " AND $7::text IS NULL AND $8::text IS NULL RETURNING 1)";

/* The PACS has what is gone from the spool: count it, then drop the rest. */
static char *
import_left(const char *dir)
{
	struct dbuf	  b;
	char		**files, *base;
	int		  n, i;

	n = import_files(dir, &files);
	dbuf_init(&b, SIZE_MAX);
	for (i = 0; i < n; i++) {
		base = strrchr(files[i], '/') + 1;
		base[strlen(base) - 4] = '\0';
		import_array_add(&b, base);
	}
	import_strv_free(files, n);
	return (import_array_take(&b));
}

static void
import_cancelled(struct import_job *job)
{
	import_reply_cb	 cb = job->cancel_cb;

	job->cancel_cb = NULL;
	log_info("import id=%lld cancelled", job->id);
	import_reply_json(cb, job->cancel_arg, 200, json_pack("{s:I}",
	    "import", (json_int_t)job->id));
	import_end(job);
}

/* Stops what runs (no callback follows), records -40, drops the spool. */
static void
import_cancel_write(struct import_job *job)
{
	struct import_extra	 x;
	char			*left, *reason;

	if (job->proc != NULL) {
		import_proc_free(job->proc);
		job->proc = NULL;
	}
	if (job->op != NULL) {
		dcmc_cancel(job->op);
		job->op = NULL;
	}
	left = import_left(job->dir);
	spool_discard(job->imp->edge->spool, job->dir);
	xasprintf(&reason, "cancelled by %s", job->cancel_by);
	memset(&x, 0, sizeof(x));
	x.cte = import_sql_stored_cancel;
	x.a = left;
	x.clear = 1;
	job->retries = 0;
	import_set_x(job, -40, reason, -1, 0, &x, import_cancelled);
	free(reason);
	free(left);
}

struct import_cancel_q {
	struct import	*imp;
	long long	 id;
	import_reply_cb	 cb;
	void		*arg;
	char		*dir;
};

static void
import_cancel_db(PGresult *res, const char *cause, void *arg)
{
	struct import_cancel_q	*q = arg;
	char			*msg;

	if (cause != NULL) {
		log_warnx("import cancel failed cause=\"%s\"", cause);
		import_reply_error(q->cb, q->arg, 500, "database error");
	} else if (PQntuples(res) != 1)
		import_reply_error(q->cb, q->arg, 404, "import not found");
	else if (strcmp(PQgetvalue(res, 0, 1), "1") != 0) {
		xasprintf(&msg, "import %lld has already ended (status %s)",
		    q->id, PQgetvalue(res, 0, 0));
		import_reply_error(q->cb, q->arg, 409, msg);
		free(msg);
	} else {
		spool_discard(q->imp->edge->spool, q->dir);
		log_info("import id=%lld cancelled", q->id);
		import_reply_json(q->cb, q->arg, 200, json_pack("{s:I}",
		    "import", (json_int_t)q->id));
	}
	free(q->dir);
	free(q);
}

void
import_cancel(struct import *imp, long long id, const char *user,
    import_reply_cb cb, void *arg)
{
	struct import_job	*job;
	struct import_cancel_q	*q;
	struct import_cancel_w	*w;
	char			 ids[32], *left;
	const char		*v[3];

	if (imp == NULL || imp->closing) {
		import_reply_error(cb, arg, 503, "importing is not running");
		return;
	}
	TAILQ_FOREACH(job, &imp->running, entry)
		if (job->id == id)
			break;
	if (job != NULL) {
		if (job->cancel_cb != NULL) {
			import_reply_error(cb, arg, 409, "already being "
			    "cancelled");
			return;
		}
		job->cancel_cb = cb;
		job->cancel_arg = arg;
		job->cancel_by = xstrdup(user);
		if (!job->writing)
			import_cancel_write(job);
		return;
	}
	/* A pick in flight may be starting it: the cancel waits for it. */
	if (imp->picking) {
		w = xcalloc(1, sizeof(*w));
		w->id = id;
		w->user = xstrdup(user);
		w->cb = cb;
		w->arg = arg;
		TAILQ_INSERT_TAIL(&imp->cancels, w, entry);
		return;
	}
	q = xcalloc(1, sizeof(*q));
	q->imp = imp;
	q->id = id;
	q->cb = cb;
	q->arg = arg;
	xasprintf(&q->dir, "%s/" IMPORT_SPOOL "/%lld",
	    imp->edge->conf->dicom.spool_dir, id);
	left = import_left(q->dir);
	snprintf(ids, sizeof(ids), "%lld", id);
	v[0] = ids;
	v[1] = user;
	v[2] = left;
	db_query_prepared(imp->edge->db,
	    "WITH cur AS (SELECT id, status FROM imports WHERE id = $1::bigint"
	    " FOR UPDATE),"
	    " upd AS (UPDATE imports i SET sealed_secrets = NULL,"
	    " next_attempt = NULL, remaining_retries = 0 FROM cur"
	    " WHERE i.id = cur.id AND cur.status IS DISTINCT FROM 40"
	    " AND cur.status IS DISTINCT FROM -40"
	    " AND cur.status IS DISTINCT FROM -10 RETURNING i.id),"
	    " st AS (UPDATE import_instances ii SET state = 'stored',"
	    " stored_at = now() FROM upd WHERE ii.import_id = upd.id"
	    " AND ii.state <> 'stored' AND NOT (ii.sop_uid = ANY"
	    " ($3::text[])) RETURNING 1),"
	    " ins AS (INSERT INTO import_history (import_id, status, reason)"
	    " SELECT id, -40, 'cancelled by ' || $2::text FROM upd"
	    " RETURNING import_id)"
	    " SELECT cur.status, (SELECT count(*) FROM ins) FROM cur",
	    3, v, NULL, NULL, 0, import_cancel_db, q);
	free(left);
}

/* --- picking --- */

/* The cancels that waited for a pick: the jobs it started are running. */
static void
import_cancels_run(struct import *imp)
{
	struct import_cancel_w	*w;

	while ((w = TAILQ_FIRST(&imp->cancels)) != NULL) {
		TAILQ_REMOVE(&imp->cancels, w, entry);
		import_cancel(imp, w->id, w->user, w->cb, w->arg);
		free(w->user);
		free(w);
	}
}

/* At a stop: each waiting cancel is answered. */
static void
import_cancels_refuse(struct import *imp)
{
	struct import_cancel_w	*w;

	while ((w = TAILQ_FIRST(&imp->cancels)) != NULL) {
		TAILQ_REMOVE(&imp->cancels, w, entry);
		import_reply_error(w->cb, w->arg, 503, "the edge is stopping");
		free(w->user);
		free(w);
	}
}

static void
import_picked(PGresult *res, const char *cause, void *arg)
{
	struct import		*imp = arg;
	struct import_job	*job;
	int			 i, n, pending;

	imp->picking = 0;
	if (imp->closing)
		return;		/* import_close answers the waiting cancels */
	if (cause != NULL) {
		log_warnx("import pick failed cause=\"%s\"", cause);
		import_cancels_run(imp);
		return;
	}
	n = PQntuples(res);
	for (i = 0; i < n && !imp->stopping; i++) {
		job = xcalloc(1, sizeof(*job));
		job->imp = imp;
		job->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		job->fresh = PQgetisnull(res, i, 1);
		job->status = job->fresh ? 0 : atoi(PQgetvalue(res, i, 1));
		job->retries = atoi(PQgetvalue(res, i, 2));
		job->study = import_value(res, i, 3);
		job->pacs = import_value(res, i, 4);
		job->scheme = import_value(res, i, 5);
		job->sealed_hex = import_value(res, i, 6);
		job->mrn = import_value(res, i, 7);
		job->accession = import_value(res, i, 8);
		pending = atoi(PQgetvalue(res, i, 9));
		dbuf_init(&job->failed_sop, SIZE_MAX);
		dbuf_init(&job->failed_why, SIZE_MAX);
		xasprintf(&job->dir, "%s/" IMPORT_SPOOL "/%lld",
		    imp->edge->conf->dicom.spool_dir, job->id);
		TAILQ_INSERT_TAIL(&imp->running, job, entry);
		imp->nrunning++;
		edge_hold(imp->edge);
		/* Retrieved before: store what is left, no new retrieval. */
		if (pending > 0 || job->status == 20 || job->status == 30 ||
		    job->status == -30)
			import_store(job);
		else
			import_retrieve(job);
	}
	import_cancels_run(imp);
}

static void
import_pick(struct import *imp)
{
	struct import_job	*job;
	struct dbuf		 ids;
	char			 lim[16], *idv;
	const char		*v[2];
	int			 free_slots;

	free_slots = imp->edge->conf->import.concurrency - imp->nrunning;
	if (imp->picking || imp->closing || imp->stopping ||
	    !imp->recovered || free_slots <= 0)
		return;
	dbuf_init(&ids, SIZE_MAX);
	dbuf_addc(&ids, '{');
	TAILQ_FOREACH(job, &imp->running, entry)
		dbuf_printf(&ids, "%s%lld",
		    job == TAILQ_FIRST(&imp->running) ? "" : ",", job->id);
	dbuf_add(&ids, "}", 2);
	idv = dbuf_take(&ids, NULL);
	snprintf(lim, sizeof(lim), "%d", free_slots);
	v[0] = idv;
	v[1] = lim;
	imp->picking = 1;
	db_query_prepared(imp->edge->db,
	    "SELECT i.id, i.status, i.remaining_retries, i.study_uid, i.pacs,"
	    " i.scheme, encode(i.sealed_secrets, 'hex'), i.local_mrn,"
	    " i.local_accession, (SELECT count(*) FROM import_instances ii"
	    " WHERE ii.import_id = i.id AND ii.state <> 'stored')"
	    " FROM imports i WHERE NOT (i.id = ANY ($1::bigint[]))"
	    " AND i.status IS DISTINCT FROM 40 AND CASE"
	    " WHEN i.status < 0 THEN i.next_attempt <= now()"
	    " ELSE true END IS TRUE"
	    " ORDER BY i.next_attempt NULLS FIRST, i.id LIMIT $2::integer",
	    2, v, NULL, NULL, 0, import_picked, imp);
	free(idv);
}

/* The spools of the imports import_age has just cancelled. */
static void
import_aged(PGresult *res, const char *cause, void *arg)
{
	struct import	*imp = arg;
	char		*dir;
	int		 i;

	imp->aging = 0;
	if (cause != NULL) {
		log_warnx("import aging failed cause=\"%s\"", cause);
		return;
	}
	for (i = 0; i < PQntuples(res); i++) {
		xasprintf(&dir, "%s/" IMPORT_SPOOL "/%s",
		    imp->edge->conf->dicom.spool_dir, PQgetvalue(res, i, 0));
		spool_discard(imp->edge->spool, dir);
		free(dir);
		log_info("import id=%s cancelled after keep_failed",
		    PQgetvalue(res, i, 0));
	}
}

/*
 * A failed import with no retries left keeps its unstored instances
 * (decrypted patient data) for staff to retry; after import.keep_failed
 * the edge cancels it as staff would (-40) and drops them. The row is
 * written first: a spool removed without it would let a later retry
 * count the missing files as stored.
 */
static void
import_age(struct import *imp)
{
	char		 secs[32], why[96], kf[32];
	const char	*v[2] = { secs, why };

	if (imp->aging || imp->closing || imp->stopping || !imp->recovered ||
	    imp->edge->conf->import.keep_failed <= 0)
		return;
	conf_fmt_duration(kf, sizeof(kf), imp->edge->conf->import.keep_failed);
	snprintf(secs, sizeof(secs), "%lld",
	    imp->edge->conf->import.keep_failed);
	snprintf(why, sizeof(why), "cancelled by the edge: failed %s ago "
	    "(import.keep_failed)", kf);
	imp->aging = 1;
	db_query_prepared(imp->edge->db,
	    "WITH old AS (SELECT id FROM imports WHERE status = -30"
	    " AND next_attempt IS NULL"
	    " AND updated < now() - $1::bigint * interval '1 second'"
	    " ORDER BY id LIMIT 32 FOR UPDATE SKIP LOCKED),"
	    " upd AS (UPDATE imports i SET sealed_secrets = NULL,"
	    " remaining_retries = 0 FROM old WHERE i.id = old.id"
	    " RETURNING i.id)"
	    " INSERT INTO import_history (import_id, status, reason)"
	    " SELECT id, -40, $2::text FROM upd RETURNING import_id",
	    2, v, NULL, NULL, 0, import_aged, imp);
}

static void
import_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct import	*imp = arg;

	(void)fd;
	(void)what;
	import_pick(imp);
	import_age(imp);
	import_poll_arm(imp);
}

static void
import_poll_arm(struct import *imp)
{
	struct timeval	tv;

	if (imp->stopping || imp->closing)
		return;
	tv.tv_sec = (time_t)imp->edge->conf->jobs.poll_interval;
	tv.tv_usec = 0;
	evtimer_add(imp->poll, &tv);
}

void
import_kick(struct import *imp)
{
	if (imp != NULL)
		import_pick(imp);
}

/* --- start, recovery, stop --- */

static void
import_recovered(PGresult *res, const char *cause, void *arg)
{
	struct import	*imp = arg;

	if (imp->closing)
		return;
	if (cause != NULL)
		log_warnx("import recovery failed cause=\"%s\"", cause);
	else
		log_info("import recovered=%d", PQntuples(res));
	imp->recovered = 1;
	import_pick(imp);
}

/* https://host:port of the clearinghouse's repository URL. */
static char *
import_base_url(const char *url)
{
	const char	*p, *e;

	if (url == NULL || (p = strstr(url, "://")) == NULL)
		return (NULL);
	if ((e = strchr(p + 3, '/')) == NULL)
		return (xstrdup(url));
	return (xstrndup(url, (size_t)(e - url)));
}

struct import *
import_new(struct edge *edge, char **cause)
{
	const struct edge_conf	*c = edge->conf;
	struct import		*imp;
	char			*p, *why = NULL;

	imp = xcalloc(1, sizeof(*imp));
	imp->edge = edge;
	TAILQ_INIT(&imp->running);
	TAILQ_INIT(&imp->procs);
	TAILQ_INIT(&imp->cancels);
	imp->url = import_base_url(c->clearinghouse.url);
	if (c->jobs.key_file != NULL) {
		if (keywrap_load(c->jobs.key_file, imp->kek, &why) == -1) {
			xcause(cause, "import: %s", why);
			free(why);
			free(imp->url);
			free(imp);
			return (NULL);
		}
		imp->has_kek = 1;
	}
	if ((imp->dcmc = dcmc_new(edge->base, c->dicom.helper)) == NULL) {
		xcause(cause, "import: could not start the DICOM client");
		free(imp->url);
		free(imp);
		return (NULL);
	}
	/* No PACS, nothing to import into: no spool (like jobs.c). */
	if (c->npacs > 0) {
		(void)mkdir(c->dicom.spool_dir, 0700);
		xasprintf(&p, "%s/" IMPORT_SPOOL, c->dicom.spool_dir);
		if (mkdir(p, 0700) == -1 && errno != EEXIST) {
			xcause(cause, "%s: %s", p, strerror(errno));
			free(p);
			dcmc_free(imp->dcmc);
			free(imp->url);
			free(imp);
			return (NULL);
		}
		free(p);
		/*
		 * What a lookup's helper killed on the way left (decrypted
		 * reports) goes now; each lookup makes its own directory.
		 */
		xasprintf(&imp->lookups, "%s/" IMPORT_LOOKUPS,
		    c->dicom.spool_dir);
		spool_rmtree(imp->lookups);
		if (mkdir(imp->lookups, 0700) == -1) {
			log_warn("import: %s (lookups without reports)",
			    imp->lookups);
			free(imp->lookups);
			imp->lookups = NULL;
		}
	}
	imp->sigchld = evsignal_new(edge->base, SIGCHLD, import_sigchld, imp);
	imp->poll = evtimer_new(edge->base, import_poll_cb, imp);
	if (imp->sigchld == NULL || imp->poll == NULL ||
	    evsignal_add(imp->sigchld, NULL) == -1)
		fatalx("import: could not create events");
	/* What a previous run left in flight starts over at a safe point. */
	db_query(edge->db,
	    "WITH r AS (SELECT id, status FROM imports "
	    "WHERE status IN (10, 30)) "
	    "INSERT INTO import_history (import_id, status, reason) "
	    "SELECT id, CASE WHEN status = 10 THEN 1 ELSE 20 END, "
	    "'the edge restarted during status ' || status FROM r "
	    "RETURNING import_id", 0, NULL, NULL, NULL, 0, import_recovered,
	    imp);
	import_poll_arm(imp);
	log_info("import started clearinghouse=%s key=%s concurrency=%d",
	    imp->url != NULL ? "yes" : "no", imp->has_kek ? "yes" : "no",
	    c->import.concurrency);
	return (imp);
}

void
import_stop(struct import *imp)
{
	if (imp == NULL)
		return;
	imp->stopping = 1;
	evtimer_del(imp->poll);
}

void
import_close(struct import *imp)
{
	struct import_job	*job, *jn;
	struct import_proc	*p, *pn;

	if (imp == NULL)
		return;
	import_stop(imp);
	imp->closing = 1;
	import_cancels_refuse(imp);
	for (job = TAILQ_FIRST(&imp->running); job != NULL; job = jn) {
		jn = TAILQ_NEXT(job, entry);
		if (!job->writing)
			import_job_free(job);
	}
	/* Lookups still running: their requests get an answer. */
	for (p = TAILQ_FIRST(&imp->procs); p != NULL; p = pn) {
		pn = TAILQ_NEXT(p, entry);
		if (p->reply != NULL) {
			import_reply_cb	 cb = p->reply;
			void		*arg = p->reply_arg;

			import_proc_free(p);
			imp->nlookups--;
			import_reply_error(cb, arg, 503, "the edge is "
			    "stopping");
		}
	}
}

void
import_free(struct import *imp)
{
	struct import_job	*job;
	struct import_proc	*p;

	if (imp == NULL)
		return;
	while ((job = TAILQ_FIRST(&imp->running)) != NULL)
		import_job_free(job);
	while ((p = TAILQ_FIRST(&imp->procs)) != NULL)
		import_proc_free(p);
	import_cancels_refuse(imp);
	event_free(imp->poll);
	event_free(imp->sigchld);
	dcmc_free(imp->dcmc);
	explicit_bzero(imp->kek, sizeof(imp->kek));
	free(imp->url);
	free(imp->lookups);
	free(imp);
}
