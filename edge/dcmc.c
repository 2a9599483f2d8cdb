/*
 * dcmc.c: runs isn-edge-dicom helpers from the event loop. A helper's
 * stdout is a pipe read through a bufferevent, line by line; an operation
 * is over when both its pipe reached EOF and its pid was reaped (SIGCHLD,
 * waitpid on our own pids only). Line format: docs/design/dcmhelper.md.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "child.h"
#include "dcmc.h"
#include "log.h"
#include "xmalloc.h"

#define DCMC_LINE_MAX	(64 * 1024)
#define DCMC_MAX_ARGS	32
#define DCMC_BACKOFF_MIN 1
#define DCMC_BACKOFF_MAX 60

struct dcmc {
	struct event_base	*base;
	char			*helper;
	struct event		*sigchld;
	int			 timeout[3];
	int			 verbose;
	TAILQ_HEAD(, dcmc_op)	 ops;
};

struct dcmc_op {
	struct dcmc		*d;
	TAILQ_ENTRY(dcmc_op)	 entry;
	pid_t			 pid;
	struct bufferevent	*out;
	struct bufferevent	*in;		/* store: the file list */
	dcmc_event_cb		 event_cb;
	dcmc_done_cb		 done_cb;
	void			*arg;
	struct dcmc_scp		*scp;		/* when it is the SCP */
	int			 exited;
	int			 eof;
	int			 wstatus;
	int			 cancelled;
	char			*result;	/* the raw result line */
	char			*cause;		/* a local failure */
};

struct dcmc_scp {
	struct dcmc		*d;
	char			*ae, *spool;
	int			 port, maxa, no_fsync;
	dcmc_event_cb		 cb;
	void			*arg;
	struct dcmc_op		*op;
	struct event		*timer;
	int			 backoff;
	time_t			 started;
};

static void	dcmc_sigchld(evutil_socket_t, short, void *);
static void	dcmc_read(struct bufferevent *, void *);
static void	dcmc_outev(struct bufferevent *, short, void *);
static void	dcmc_scp_done(struct dcmc_op *, const struct dcmc_result *,
		    void *);
static void	dcmc_scp_event(struct dcmc_op *, const struct dcmc_event *,
		    void *);

struct dcmc *
dcmc_new(struct event_base *base, const char *helper)
{
	struct dcmc	*d;

	d = xcalloc(1, sizeof(*d));
	d->base = base;
	d->helper = xstrdup(helper);
	TAILQ_INIT(&d->ops);
	/* Before the first fork, so no exit can go unnoticed. */
	d->sigchld = evsignal_new(base, SIGCHLD, dcmc_sigchld, d);
	if (d->sigchld == NULL || evsignal_add(d->sigchld, NULL) == -1)
		fatalx("dcmc: cannot watch SIGCHLD");
	return d;
}

static void
dcmc_op_free(struct dcmc_op *op)
{
	TAILQ_REMOVE(&op->d->ops, op, entry);
	if (op->out != NULL)
		bufferevent_free(op->out);
	if (op->in != NULL)
		bufferevent_free(op->in);
	free(op->result);
	free(op->cause);
	free(op);
}

void
dcmc_free(struct dcmc *d)
{
	struct dcmc_op	*op;
	int		 st;

	if (d == NULL)
		return;
	while ((op = TAILQ_FIRST(&d->ops)) != NULL) {
		if (!op->exited) {
			kill(-op->pid, SIGKILL);
			while (waitpid(op->pid, &st, 0) == -1 &&
			    errno == EINTR)
				;
		}
		if (op->scp != NULL)
			op->scp->op = NULL;
		dcmc_op_free(op);
	}
	event_free(d->sigchld);
	free(d->helper);
	free(d);
}

void
dcmc_set_timeouts(struct dcmc *d, int connect, int acse, int dimse)
{
	d->timeout[0] = connect;
	d->timeout[1] = acse;
	d->timeout[2] = dimse;
}

void
dcmc_set_verbose(struct dcmc *d, int v)
{
	d->verbose = v;
}

pid_t
dcmc_op_pid(const struct dcmc_op *op)
{
	return op->pid;
}

const char *
dcmc_event_get(const struct dcmc_event *ev, const char *key)
{
	size_t	i;

	for (i = 0; i < ev->n; i++)
		if (strcmp(ev->key[i], key) == 0)
			return ev->value[i];
	return NULL;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes %XX in place; -1 on a bad escape or an encoded NUL. */
static int
pct_decode(char *s)
{
	char	*w = s;
	int	 h, l;

	for (; *s != '\0'; s++) {
		if (*s != '%') {
			*w++ = *s;
			continue;
		}
		if ((h = hexval(s[1])) == -1 || (l = hexval(s[2])) == -1 ||
		    (h == 0 && l == 0))
			return -1;
		*w++ = (char)(h << 4 | l);
		s += 2;
	}
	*w = '\0';
	return 0;
}

/* Splits "type k=v k=v" in place into ev. */
static int
dcmc_parse(char *line, struct dcmc_event *ev)
{
	char	*tok, *eq, *save = NULL;

	memset(ev, 0, sizeof(*ev));
	if ((ev->type = strtok_r(line, " ", &save)) == NULL)
		return -1;
	while ((tok = strtok_r(NULL, " ", &save)) != NULL) {
		if (ev->n == DCMC_MAX_FIELDS || (eq = strchr(tok, '=')) ==
		    NULL || eq == tok)
			return -1;
		*eq = '\0';
		if (pct_decode(eq + 1) == -1)
			return -1;
		ev->key[ev->n] = tok;
		ev->value[ev->n++] = eq + 1;
	}
	return 0;
}

/* Ends the op with a local cause: the helper is killed, EOF follows. */
static void
dcmc_fail(struct dcmc_op *op, const char *cause)
{
	if (op->cause == NULL)
		op->cause = xstrdup(cause);
	if (!op->exited)
		kill(-op->pid, SIGKILL);
}

static void
dcmc_finish(struct dcmc_op *op)
{
	struct dcmc_result	 r;
	struct dcmc_event	 ev;
	const char		*s;
	char			*cause = NULL, *end;
	int			 have = 0, code = -1;
	long			 v;

	if (!op->exited || !op->eof)
		return;
	if (op->cancelled || op->done_cb == NULL) {
		dcmc_op_free(op);
		return;
	}
	memset(&r, 0, sizeof(r));
	r.dimse = -1;
	if (op->result != NULL && dcmc_parse(op->result, &ev) == 0)
		have = 1;
	if (WIFEXITED(op->wstatus))
		code = WEXITSTATUS(op->wstatus);
	if (have) {
		r.fields = &ev;
		if ((s = dcmc_event_get(&ev, "status")) != NULL) {
			v = strtol(s, &end, 16);
			if (*end == '\0' && v >= 0 && v <= 0xffff)
				r.dimse = (int)v;
		}
	}
	if (op->cause != NULL) {
		r.status = DCMC_ERROR;
		r.cause = op->cause;
	} else if (WIFSIGNALED(op->wstatus)) {
		r.status = DCMC_ERROR;
		xasprintf(&cause, "helper killed by signal %d",
		    WTERMSIG(op->wstatus));
		r.cause = cause;
	} else if (!have || code < 0 || code > 2) {
		r.status = DCMC_ERROR;
		xasprintf(&cause, "helper exited with status %d and no "
		    "result%s", code, code == 127 ? " (cannot execute?)" : "");
		r.cause = cause;
	} else {
		r.status = code;
		if (code != DCMC_OK)
			r.cause = (s = dcmc_event_get(&ev, "reason")) != NULL ?
			    s : "no reason given";
	}
	op->done_cb(op, &r, op->arg);
	free(cause);
	dcmc_op_free(op);
}

static void
dcmc_sigchld(evutil_socket_t sig, short what, void *arg)
{
	struct dcmc	*d = arg;
	struct dcmc_op	*op, *next;
	pid_t		 p;
	int		 st;

	for (op = TAILQ_FIRST(&d->ops); op != NULL; op = next) {
		next = TAILQ_NEXT(op, entry);
		if (op->exited)
			continue;
		p = waitpid(op->pid, &st, WNOHANG);
		if (p == op->pid) {
			op->exited = 1;
			op->wstatus = st;
			dcmc_finish(op);
		}
	}
}

static void
dcmc_read(struct bufferevent *bev, void *arg)
{
	struct dcmc_op		*op = arg;
	struct evbuffer		*buf = bufferevent_get_input(bev);
	struct dcmc_event	 ev;
	char			*line;
	size_t			 len;

	while (!op->cancelled && op->cause == NULL &&
	    (line = evbuffer_readln(buf, &len, EVBUFFER_EOL_LF)) != NULL) {
		if (strncmp(line, "result ", 7) == 0) {
			free(op->result);
			op->result = line;
			continue;
		}
		if (dcmc_parse(line, &ev) == -1)
			dcmc_fail(op, "malformed line from the helper");
		else if (op->event_cb != NULL)
			op->event_cb(op, &ev, op->arg);
		free(line);
	}
	if (evbuffer_get_length(buf) > DCMC_LINE_MAX) {
		dcmc_fail(op, "line from the helper too long");
		evbuffer_drain(buf, evbuffer_get_length(buf));
	}
}

static void
dcmc_outev(struct bufferevent *bev, short what, void *arg)
{
	struct dcmc_op	*op = arg;

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	dcmc_read(bev, op);
	bufferevent_disable(bev, EV_READ);
	op->eof = 1;
	dcmc_finish(op);
}

/* Closes the file list once written (EOF tells the helper to start). */
static void
dcmc_inwritten(struct bufferevent *bev, void *arg)
{
	struct dcmc_op	*op = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		bufferevent_free(op->in);
		op->in = NULL;
	}
}

static void
dcmc_inev(struct bufferevent *bev, short what, void *arg)
{
	struct dcmc_op	*op = arg;

	/* The helper closed its stdin early: it reports why itself. */
	bufferevent_free(op->in);
	op->in = NULL;
}

/* Closes every descriptor from 3 up, in the child. */
static struct dcmc_op *
dcmc_spawn(struct dcmc *d, char *const argv[], int with_stdin,
    dcmc_event_cb ecb, dcmc_done_cb dcb, void *arg, char **cause)
{
	struct dcmc_op	*op;
	int		 outfd, infd = -1;
	pid_t		 pid;

	if (child_spawn(argv, &outfd, with_stdin ? &infd : NULL, &pid,
	    cause) == -1)
		return NULL;
	op = xcalloc(1, sizeof(*op));
	op->d = d;
	op->pid = pid;
	op->event_cb = ecb;
	op->done_cb = dcb;
	op->arg = arg;
	TAILQ_INSERT_TAIL(&d->ops, op, entry);
	op->out = bufferevent_socket_new(d->base, outfd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (op->out == NULL)
		fatalx("dcmc: bufferevent_socket_new");
	bufferevent_setcb(op->out, dcmc_read, NULL, dcmc_outev, op);
	bufferevent_enable(op->out, EV_READ);
	if (with_stdin) {
		op->in = bufferevent_socket_new(d->base, infd,
		    BEV_OPT_CLOSE_ON_FREE);
		if (op->in == NULL)
			fatalx("dcmc: bufferevent_socket_new");
		bufferevent_setcb(op->in, NULL, dcmc_inwritten, dcmc_inev,
		    op);
		bufferevent_enable(op->in, EV_WRITE);
	}
	log_debug("dcmc: started %s %s pid=%ld", d->helper, argv[1],
	    (long)pid);
	return op;
}

/* The argument vector under construction; strings are owned. */
struct dcmc_argv {
	char	*v[DCMC_MAX_ARGS + 1];
	int	 n;
};

static void
argv_add(struct dcmc_argv *a, const char *fmt, ...)
    printflike(2, 3);

static void
argv_add(struct dcmc_argv *a, const char *fmt, ...)
{
	va_list	ap;

	if (a->n == DCMC_MAX_ARGS)
		fatalx("dcmc: too many helper arguments");
	va_start(ap, fmt);
	xvasprintf(&a->v[a->n++], fmt, ap);
	va_end(ap);
	a->v[a->n] = NULL;
}

static void
argv_free(struct dcmc_argv *a)
{
	int	i;

	for (i = 0; i < a->n; i++)
		free(a->v[i]);
}

static void
argv_common(struct dcmc *d, struct dcmc_argv *a, const char *cmd)
{
	static const char *const names[3] = { "--connect-timeout",
	    "--acse-timeout", "--dimse-timeout" };
	int	i;

	memset(a, 0, sizeof(*a));
	argv_add(a, "%s", d->helper);
	argv_add(a, "%s", cmd);
	for (i = 0; i < 3; i++)
		if (d->timeout[i] > 0)
			argv_add(a, "%s=%d", names[i], d->timeout[i]);
	/* One -v at most: DCMTK's debug level dumps datasets (patients). */
	if (d->verbose > 0)
		argv_add(a, "-v");
}

/* Peer and our AE: checked here too, so a bad config fails clearly. */
static int
argv_peer(struct dcmc_argv *a, const struct dcmc_peer *p,
    const char *our_ae, char **cause)
{
	if (p->ae_title == NULL || *p->ae_title == '\0' ||
	    strchr(p->ae_title, '@') != NULL || p->host == NULL ||
	    *p->host == '\0' || p->port < 1 || p->port > 65535 ||
	    our_ae == NULL || *our_ae == '\0') {
		xcause(cause, "bad DICOM peer or AE title");
		return -1;
	}
	argv_add(a, "--peer=%s@%s:%d", p->ae_title, p->host, p->port);
	argv_add(a, "--ae=%s", our_ae);
	return 0;
}

static struct dcmc_op *
dcmc_run(struct dcmc *d, struct dcmc_argv *a, int with_stdin,
    dcmc_event_cb ecb, dcmc_done_cb dcb, void *arg, char **cause)
{
	struct dcmc_op	*op;

	op = dcmc_spawn(d, a->v, with_stdin, ecb, dcb, arg, cause);
	argv_free(a);
	return op;
}

struct dcmc_op *
dcmc_echo(struct dcmc *d, const struct dcmc_peer *p, const char *our_ae,
    dcmc_done_cb done, void *arg, char **cause)
{
	struct dcmc_argv	a;

	argv_common(d, &a, "echo");
	if (argv_peer(&a, p, our_ae, cause) == -1) {
		argv_free(&a);
		return NULL;
	}
	return dcmc_run(d, &a, 0, NULL, done, arg, cause);
}

struct dcmc_op *
dcmc_find(struct dcmc *d, const struct dcmc_peer *p, const char *our_ae,
    const struct dcmc_find_keys *k, dcmc_event_cb ecb, dcmc_done_cb done,
    void *arg, char **cause)
{
	struct dcmc_argv	a;

	argv_common(d, &a, "find");
	if (argv_peer(&a, p, our_ae, cause) == -1) {
		argv_free(&a);
		return NULL;
	}
	if (k->mrn != NULL)
		argv_add(&a, "--mrn=%s", k->mrn);
	if (k->accession != NULL)
		argv_add(&a, "--accession=%s", k->accession);
	if (k->study_uid != NULL)
		argv_add(&a, "--study-uid=%s", k->study_uid);
	return dcmc_run(d, &a, 0, ecb, done, arg, cause);
}

struct dcmc_op *
dcmc_move(struct dcmc *d, const struct dcmc_peer *p, const char *our_ae,
    const char *dest_ae, const char *study_uid, dcmc_event_cb ecb,
    dcmc_done_cb done, void *arg, char **cause)
{
	struct dcmc_argv	a;

	argv_common(d, &a, "move");
	if (argv_peer(&a, p, our_ae, cause) == -1) {
		argv_free(&a);
		return NULL;
	}
	argv_add(&a, "--dest=%s", dest_ae);
	argv_add(&a, "--study-uid=%s", study_uid);
	return dcmc_run(d, &a, 0, ecb, done, arg, cause);
}

struct dcmc_op *
dcmc_store(struct dcmc *d, const struct dcmc_peer *p, const char *our_ae,
    const char *const *paths, size_t n, dcmc_event_cb ecb,
    dcmc_done_cb done, void *arg, char **cause)
{
	return (dcmc_store_local(d, p, our_ae, paths, n, NULL, NULL, ecb,
	    done, arg, cause));
}

struct dcmc_op *
dcmc_store_local(struct dcmc *d, const struct dcmc_peer *p,
    const char *our_ae, const char *const *paths, size_t n,
    const char *patient_id, const char *accession, dcmc_event_cb ecb,
    dcmc_done_cb done, void *arg, char **cause)
{
	struct dcmc_argv	 a;
	struct dcmc_op		*op;
	struct evbuffer		*out;
	size_t			 i;

	for (i = 0; i < n; i++) {
		if (*paths[i] == '\0' || strchr(paths[i], '\n') != NULL) {
			xcause(cause, "bad file name to send");
			return NULL;
		}
	}
	if (n == 0) {
		xcause(cause, "no files to send");
		return NULL;
	}
	argv_common(d, &a, "store");
	if (argv_peer(&a, p, our_ae, cause) == -1) {
		argv_free(&a);
		return NULL;
	}
	if (patient_id != NULL) {
		argv_add(&a, "--set-patient-id");
		argv_add(&a, "%s", patient_id);
	}
	if (accession != NULL) {
		argv_add(&a, "--set-accession");
		argv_add(&a, "%s", accession);
	}
	argv_add(&a, "-");
	if ((op = dcmc_run(d, &a, 1, ecb, done, arg, cause)) == NULL)
		return NULL;
	out = bufferevent_get_output(op->in);
	for (i = 0; i < n; i++)
		evbuffer_add_printf(out, "%s\n", paths[i]);
	return op;
}

void
dcmc_cancel(struct dcmc_op *op)
{
	op->cancelled = 1;
	if (!op->exited)
		kill(-op->pid, SIGKILL);
	if (op->in != NULL) {
		bufferevent_free(op->in);
		op->in = NULL;
	}
	/* Freed when reaped and drained (dcmc_finish). */
}

/* --- the storage SCP ----------------------------------------------- */

static int
dcmc_scp_spawn(struct dcmc_scp *s, char **cause)
{
	struct dcmc_argv	a;

	argv_common(s->d, &a, "scp");
	argv_add(&a, "--ae=%s", s->ae);
	argv_add(&a, "--port=%d", s->port);
	argv_add(&a, "--spool=%s", s->spool);
	if (s->maxa > 0)
		argv_add(&a, "--max-associations=%d", s->maxa);
	if (s->no_fsync)
		argv_add(&a, "--no-fsync");
	s->op = dcmc_run(s->d, &a, 0, dcmc_scp_event, dcmc_scp_done, s,
	    cause);
	if (s->op == NULL)
		return -1;
	s->op->scp = s;
	s->started = time(NULL);
	return 0;
}

static void
dcmc_scp_restart(evutil_socket_t fd, short what, void *arg)
{
	struct dcmc_scp		*s = arg;
	struct dcmc_event	 ev;
	char			*cause = NULL;
	struct timeval		 tv = { 0, 0 };

	if (dcmc_scp_spawn(s, &cause) == 0)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.type = "down";
	ev.key[0] = "reason";
	ev.value[0] = cause;
	ev.n = 1;
	s->cb(NULL, &ev, s->arg);
	free(cause);
	tv.tv_sec = s->backoff;
	s->backoff = s->backoff * 2 > DCMC_BACKOFF_MAX ? DCMC_BACKOFF_MAX :
	    s->backoff * 2;
	evtimer_add(s->timer, &tv);
}

static void
dcmc_scp_event(struct dcmc_op *op, const struct dcmc_event *ev, void *arg)
{
	struct dcmc_scp	*s = arg;

	s->cb(op, ev, s->arg);
}

static void
dcmc_scp_done(struct dcmc_op *op, const struct dcmc_result *r, void *arg)
{
	struct dcmc_scp		*s = arg;
	struct dcmc_event	 ev;
	struct timeval		 tv = { 0, 0 };
	char			 secs[16];

	s->op = NULL;
	/* A helper that ran a while earns a fresh backoff. */
	if (time(NULL) - s->started >= DCMC_BACKOFF_MAX)
		s->backoff = DCMC_BACKOFF_MIN;
	tv.tv_sec = s->backoff;
	snprintf(secs, sizeof(secs), "%d", s->backoff);
	memset(&ev, 0, sizeof(ev));
	ev.type = "down";
	ev.key[0] = "reason";
	ev.value[0] = r->cause != NULL ? r->cause : "helper exited";
	ev.key[1] = "restart_in";
	ev.value[1] = secs;
	ev.n = 2;
	log_warnx("dcmc: storage SCP helper pid=%ld down: %s; restart in "
	    "%d s", (long)op->pid, ev.value[0], s->backoff);
	s->backoff = s->backoff * 2 > DCMC_BACKOFF_MAX ? DCMC_BACKOFF_MAX :
	    s->backoff * 2;
	evtimer_add(s->timer, &tv);
	s->cb(op, &ev, s->arg);
}

struct dcmc_scp *
dcmc_scp_start(struct dcmc *d, const struct dcmc_scp_conf *c,
    dcmc_event_cb cb, void *arg, char **cause)
{
	struct dcmc_scp	*s;

	if (c->ae_title == NULL || *c->ae_title == '\0' || c->port < 1 ||
	    c->port > 65535 || c->spool == NULL || *c->spool == '\0') {
		xcause(cause, "bad storage SCP configuration");
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->d = d;
	s->ae = xstrdup(c->ae_title);
	s->spool = xstrdup(c->spool);
	s->port = c->port;
	s->maxa = c->max_associations;
	s->no_fsync = c->no_fsync;
	s->cb = cb;
	s->arg = arg;
	s->backoff = DCMC_BACKOFF_MIN;
	s->timer = evtimer_new(d->base, dcmc_scp_restart, s);
	if (s->timer == NULL)
		fatalx("dcmc: evtimer_new");
	if (dcmc_scp_spawn(s, cause) == -1) {
		event_free(s->timer);
		free(s->ae);
		free(s->spool);
		free(s);
		return NULL;
	}
	return s;
}

void
dcmc_scp_stop(struct dcmc_scp *s)
{
	if (s == NULL)
		return;
	if (s->op != NULL) {
		/* Let it finish the associations in progress. */
		s->op->done_cb = NULL;
		s->op->event_cb = NULL;
		s->op->scp = NULL;
		if (!s->op->exited)
			kill(s->op->pid, SIGTERM);
	}
	event_free(s->timer);
	free(s->ae);
	free(s->spool);
	free(s);
}

pid_t
dcmc_scp_pid(const struct dcmc_scp *s)
{
	return s->op != NULL ? s->op->pid : -1;
}
