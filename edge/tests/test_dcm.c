/*
 * test_dcm.c: dcmc and isn-edge-dicom against real peers on loopback
 * (test_dcm.sh starts dcmqrscp and storescp and loads the studies).
 *   test_dcm ports N    prints N free TCP ports
 *   test_dcm gen DIR    writes the synthetic studies into DIR
 *   test_dcm same A B   exits 0 when two files hold the same dataset
 *   test_dcm            the TAP tests, configured by the environment
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <netinet/in.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "dcmc.h"
#include "dicom.h"
#include "tap.h"

#define ROOT		"2.25.4242"
#define S1		ROOT ".1"
#define S2		ROOT ".2"
#define S3		ROOT ".3"
#define BIG_N		120

static struct event_base *base;
static struct dcmc	*d;
static const char	*helper, *src, *spool;
static int		 pacs_port, jpacs_port, scp_port, refuse_port, closed_port;

/* --- generating the studies ---------------------------------------- */

static int
gen_one(const char *dir, const char *name, const char *mrn,
    const char *pname, const char *study, const char *acc,
    const char *series, const char *cls, const char *mod, unsigned num,
    size_t bytes)
{
	struct dicom_instance_params	 ip;
	char				 path[4096], sop[DICOM_UID_BUF];
	char				*cause = NULL;
	int				 fd, rv;

	snprintf(sop, sizeof(sop), "%s.%u", series, num);
	snprintf(path, sizeof(path), "%s/%s.dcm", dir, name);
	memset(&ip, 0, sizeof(ip));
	ip.patient_id = mrn;
	ip.patient_name = pname;
	ip.study_uid = study;
	ip.series_uid = series;
	ip.sop_instance_uid = sop;
	ip.sop_class_uid = cls;
	ip.modality = mod;
	ip.accession_number = acc;
	ip.date = "20261127";
	ip.time = "101500";
	ip.instance_number = num;
	ip.pixel_bytes = bytes;
	ip.seed = num * 7919u + strlen(series);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
		return -1;
	rv = dicom_instance_write_fd(&ip, fd, &cause);
	close(fd);
	if (rv == -1)
		fprintf(stderr, "gen %s: %s\n", path, cause);
	free(cause);
	return rv;
}

static int
gen(const char *dir)
{
	char		name[64];
	unsigned	i;
	int		rv = 0;

	/* Two patients, two small studies of two series each. */
	for (i = 1; i <= 3; i++) {
		snprintf(name, sizeof(name), "s1a%u", i);
		rv |= gen_one(dir, name, "MRN-001", "Doe^Jane", S1, "ACC001",
		    S1 ".1", DICOM_CT_CLASS, "CT", i, 4096);
	}
	for (i = 1; i <= 2; i++) {
		snprintf(name, sizeof(name), "s1b%u", i);
		rv |= gen_one(dir, name, "MRN-001", "Doe^Jane", S1, "ACC001",
		    S1 ".2", NULL, "OT", i, 2048);
	}
	for (i = 1; i <= 2; i++) {
		snprintf(name, sizeof(name), "s2a%u", i);
		rv |= gen_one(dir, name, "MRN-002", "Roe^John", S2, "ACC002",
		    S2 ".1", NULL, "OT", i, 8192);
	}
	/* test_dcm.sh compresses this one (JPEG lossless). */
	rv |= gen_one(dir, "s2b1", "MRN-002", "Roe^John", S2, "ACC002",
	    S2 ".2", DICOM_CT_CLASS, "CT", 1, 65536);
	/* The long study, in its own directory. */
	snprintf(name, sizeof(name), "%s/big", dir);
	if (mkdir(name, 0755) == -1 && errno != EEXIST)
		return 1;
	for (i = 1; i <= BIG_N; i++) {
		snprintf(name, sizeof(name), "big/s3a%03u", i);
		rv |= gen_one(dir, name, "MRN-002", "Roe^John", S3, "ACC003",
		    S3 ".1", DICOM_CT_CLASS, "CT", i, 256 * 1024);
	}
	return rv == 0 ? 0 : 1;
}

static int
ports(int n)
{
	int			 fds[16], i;
	struct sockaddr_in	 sin;
	socklen_t		 len;

	for (i = 0; i < n && i < 16; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(sin);
		if (fds[i] == -1 || bind(fds[i], (struct sockaddr *)&sin,
		    sizeof(sin)) == -1 || getsockname(fds[i],
		    (struct sockaddr *)&sin, &len) == -1)
			return 1;
		printf("%d\n", ntohs(sin.sin_port));
	}
	for (i = 0; i < n && i < 16; i++)
		close(fds[i]);
	return 0;
}

/* --- driving the loop ---------------------------------------------- */

static void
loop_timeout(evutil_socket_t fd, short what, void *arg)
{
	*(int *)arg = 1;
}

/* Runs the loop until *flag or secs pass; 0 when *flag. */
static int
run_until(const int *flag, int secs)
{
	struct event	*t;
	struct timeval	 tv = { secs, 0 };
	int		 expired = 0;

	t = evtimer_new(base, loop_timeout, &expired);
	evtimer_add(t, &tv);
	while (!*flag && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(t);
	return *flag ? 0 : -1;
}

/* What one operation produced. */
struct got {
	int	 done;
	int	 status, dimse;
	char	 cause[512];
	char	 result[1024];	/* the result fields as k=v; */
	int	 nev;
	char	 ev[256][256];	/* type then k=v; */
	int	 kill_at;	/* kill -9 the helper at this event */
	int	 cancel_at;
	pid_t	 pid;
	struct dcmc_op *op;
};

static void
flatten(const struct dcmc_event *ev, char *buf, size_t len)
{
	size_t	i, l;

	l = (size_t)snprintf(buf, len, "%s;", ev->type);
	for (i = 0; i < ev->n && l < len; i++)
		l += (size_t)snprintf(buf + l, len - l, "%s=%s;",
		    ev->key[i], ev->value[i]);
}

static void
on_event(struct dcmc_op *op, const struct dcmc_event *ev, void *arg)
{
	struct got	*g = arg;

	if (g->nev < 256)
		flatten(ev, g->ev[g->nev], sizeof(g->ev[0]));
	g->nev++;
	if (g->kill_at > 0 && g->nev == g->kill_at)
		kill(dcmc_op_pid(op), SIGKILL);
	if (g->cancel_at > 0 && g->nev == g->cancel_at) {
		g->pid = dcmc_op_pid(op);
		dcmc_cancel(op);
		g->done = -1;
	}
}

static void
on_done(struct dcmc_op *op, const struct dcmc_result *r, void *arg)
{
	struct got	*g = arg;

	g->done = 1;
	g->status = r->status;
	g->dimse = r->dimse;
	snprintf(g->cause, sizeof(g->cause), "%s", r->cause ? r->cause : "");
	if (r->fields != NULL)
		flatten(r->fields, g->result, sizeof(g->result));
}

/* How many events of a type carry "k=v;" (NULL: any). */
static int
count(const struct got *g, const char *type, const char *kv)
{
	int	i, n = 0;
	size_t	tl = strlen(type);

	for (i = 0; i < g->nev && i < 256; i++)
		if (strncmp(g->ev[i], type, tl) == 0 && g->ev[i][tl] == ';' &&
		    (kv == NULL || strstr(g->ev[i], kv) != NULL))
			n++;
	return n;
}

static struct dcmc_peer
peer(const char *ae, int port)
{
	struct dcmc_peer	p = { ae, "127.0.0.1", port };

	return p;
}

static void
wait_done(struct got *g, int secs)
{
	if (run_until(&g->done, secs) == -1)
		tap_diag("operation timed out");
}

/* --- comparing datasets -------------------------------------------- */

/* The offset of the dataset after the Part 10 meta group. */
static size_t
dataset_offset(const unsigned char *b, size_t len)
{
	size_t	off = 132;

	if (len < 132 || memcmp(b + 128, "DICM", 4) != 0)
		return 0;
	while (off + 8 <= len && b[off] == 2 && b[off + 1] == 0) {
		char	vr[3] = { (char)b[off + 4], (char)b[off + 5], 0 };

		if (strstr("OB OW OF SQ UT UN UC UR OD OL OV", vr) != NULL) {
			if (off + 12 > len)
				return 0;
			off += 12 + ((size_t)b[off + 8] | (size_t)b[off + 9] << 8 |
			    (size_t)b[off + 10] << 16 | (size_t)b[off + 11] << 24);
		} else
			off += 8 + ((size_t)b[off + 6] | (size_t)b[off + 7] << 8);
	}
	return off;
}

/* 1 when the two files hold the same dataset bytes. */
static int
same_dataset(const char *a, const char *b)
{
	char	*x, *y;
	size_t	 xl, yl, xo, yo;
	int	 same;

	x = tap_slurp(a, &xl);
	y = tap_slurp(b, &yl);
	if (x == NULL || y == NULL) {
		free(x);
		free(y);
		return 0;
	}
	xo = dataset_offset((unsigned char *)x, xl);
	yo = dataset_offset((unsigned char *)y, yl);
	same = xo > 0 && yo > 0 && xl - xo == yl - yo &&
	    memcmp(x + xo, y + yo, xl - xo) == 0;
	if (!same)
		tap_diag("%s (%zu) and %s (%zu) differ", a, xl - xo, b,
		    yl - yo);
	free(x);
	free(y);
	return same;
}

/* Compares every original of a study with what the SCP spooled. */
static int
compare_study(const char *study, const char *prefix, int *n)
{
	DIR			*dir;
	struct dirent		*de;
	struct dicom_ids	 ids;
	char			 path[4096], got[4096], *cause = NULL;
	int			 all = 1;

	*n = 0;
	if ((dir = opendir(src)) == NULL)
		return 0;
	while ((de = readdir(dir)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", src, de->d_name);
		if (dicom_read_ids_file(path, &ids, &cause) == -1) {
			free(cause);
			cause = NULL;
			all = 0;
			continue;
		}
		snprintf(got, sizeof(got), "%s/%s/%s.dcm", spool, study,
		    ids.sop_instance);
		if (!same_dataset(path, got))
			all = 0;
		(*n)++;
	}
	closedir(dir);
	return all;
}

/* --- the SCP --------------------------------------------------------- */

struct scpstate {
	int	ready;
	int	stored;
	int	refused;
	int	down;
	char	last_refused[512];
	char	last_down[512];
};
static struct scpstate scps;

static void
on_scp(struct dcmc_op *op, const struct dcmc_event *ev, void *arg)
{
	struct scpstate	*s = arg;

	if (strcmp(ev->type, "ready") == 0)
		s->ready++;
	else if (strcmp(ev->type, "stored") == 0)
		s->stored++;
	else if (strcmp(ev->type, "refused") == 0) {
		s->refused++;
		flatten(ev, s->last_refused, sizeof(s->last_refused));
	} else if (strcmp(ev->type, "down") == 0) {
		s->down++;
		flatten(ev, s->last_down, sizeof(s->last_down));
	}
}

/* Waits until the process is reaped (kill says ESRCH). */
struct gone { pid_t pid; int gone; struct event *t; };

static void
gone_poll(evutil_socket_t fd, short what, void *arg)
{
	struct gone	*g = arg;
	struct timeval	 tv = { 0, 20000 };

	if (kill(g->pid, 0) == -1 && errno == ESRCH)
		g->gone = 1;
	else
		evtimer_add(g->t, &tv);
}

static int
wait_gone(pid_t pid, int secs)
{
	struct gone	g = { pid, 0, NULL };
	struct timeval	tv = { 0, 0 };
	int		rv;

	g.t = evtimer_new(base, gone_poll, &g);
	evtimer_add(g.t, &tv);
	rv = run_until(&g.gone, secs);
	event_free(g.t);
	return rv;
}

/* The timer that must keep firing while a move runs. */
struct ticker {
	struct event	*ev;
	int		 ticks;
	double		 last, maxgap;
};

static double
now(void)
{
	struct timeval	tv;

	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

static void
tick(evutil_socket_t fd, short what, void *arg)
{
	struct ticker	*t = arg;
	double		 n = now();

	if (t->ticks > 0 && n - t->last > t->maxgap)
		t->maxgap = n - t->last;
	t->last = n;
	t->ticks++;
}

/* --- the tests ----------------------------------------------------- */

static void
test_echo(void)
{
	struct dcmc_peer	 p;
	struct got		 g;
	char			*cause = NULL;

	memset(&g, 0, sizeof(g));
	p = peer("PACS", pacs_port);
	ok(dcmc_echo(d, &p, "ISN-TEST", on_done, &g, &cause) != NULL,
	    "echo started");
	wait_done(&g, 20);
	ok(g.done == 1 && g.status == DCMC_OK && g.dimse == 0,
	    "C-ECHO to dcmqrscp succeeds (status %d, %s)", g.status, g.cause);

	memset(&g, 0, sizeof(g));
	p = peer("PACS", closed_port);
	dcmc_echo(d, &p, "ISN-TEST", on_done, &g, &cause);
	wait_done(&g, 20);
	ok(g.done == 1 && g.status == DCMC_ERROR && g.dimse == -1 &&
	    strstr(g.cause, "refused") != NULL,
	    "C-ECHO to a closed port fails clearly (%s)", g.cause);

	memset(&g, 0, sizeof(g));
	p = peer("NOT-PACS", pacs_port);
	dcmc_echo(d, &p, "ISN-TEST", on_done, &g, &cause);
	wait_done(&g, 20);
	ok(g.done == 1 && g.status == DCMC_ERROR &&
	    strstr(g.cause, "rejected") != NULL,
	    "C-ECHO to an unknown called AE is rejected (%s)", g.cause);

	p = peer("BAD@AE", pacs_port);
	ok(dcmc_echo(d, &p, "ISN-TEST", on_done, &g, &cause) == NULL &&
	    cause != NULL, "a bad peer AE is refused before spawning");
	free(cause);
}

static void
find(struct got *g, const char *ae, const char *mrn, const char *acc,
    const char *uid)
{
	struct dcmc_find_keys	 k = { mrn, acc, uid };
	struct dcmc_peer	 p = peer(ae, pacs_port);
	char			*cause = NULL;

	memset(g, 0, sizeof(*g));
	if (dcmc_find(d, &p, "ISN-TEST", &k, on_event, on_done, g,
	    &cause) == NULL) {
		tap_diag("find: %s", cause);
		free(cause);
		return;
	}
	wait_done(g, 20);
}

static void
test_find(void)
{
	struct got	g;

	find(&g, "PACS", "MRN-001", NULL, NULL);
	ok(g.status == DCMC_OK && g.nev == 1 &&
	    count(&g, "study", "study_uid=" S1 ";") == 1 &&
	    count(&g, "study", "accession=ACC001;") == 1 &&
	    count(&g, "study", "patient_name=Doe^Jane;") == 1 &&
	    count(&g, "study", "study_date=20261127;") == 1,
	    "C-FIND by MRN finds the one study (%s)", g.nev ? g.ev[0] : "");

	find(&g, "PACS", "MRN-002", NULL, NULL);
	ok(g.status == DCMC_OK && g.nev == 2 &&
	    count(&g, "study", "study_uid=" S2 ";") == 1 &&
	    count(&g, "study", "study_uid=" S3 ";") == 1,
	    "C-FIND by MRN finds both studies of the second patient");

	/* dcmqrscp returns no instance counts nor modalities. */
	find(&g, "PACS", NULL, "ACC002", NULL);
	ok(g.status == DCMC_OK && g.nev == 1 &&
	    count(&g, "study", "study_uid=" S2 ";") == 1 &&
	    count(&g, "study", "patient_id=MRN-002;") == 1,
	    "C-FIND by accession finds the study");

	find(&g, "PACS", NULL, NULL, S1);
	ok(g.status == DCMC_OK && g.nev == 1 &&
	    count(&g, "study", "accession=ACC001;") == 1 &&
	    count(&g, "study", "patient_id=MRN-001;") == 1,
	    "C-FIND by study UID");

	find(&g, "PACS", "MRN-999", NULL, NULL);
	ok(g.done == 1 && g.status == DCMC_OK && g.nev == 0,
	    "C-FIND without a match: success and no study");

	find(&g, "PACS", "MRN-00*", NULL, NULL);
	ok(g.done == 1 && g.status == DCMC_ERROR &&
	    strstr(g.cause, "--mrn") != NULL && g.nev == 0,
	    "a wildcard in an MRN is refused (%s)", g.cause);
}

static void
move_from(struct got *g, const char *ae, int port, const char *dest,
    const char *uid, int kill_at, int cancel_at)
{
	struct dcmc_peer	 p = peer(ae, port);
	char			*cause = NULL;

	memset(g, 0, sizeof(*g));
	g->kill_at = kill_at;
	g->cancel_at = cancel_at;
	if (dcmc_move(d, &p, "ISN-TEST", dest, uid, on_event, on_done, g,
	    &cause) == NULL) {
		tap_diag("move: %s", cause);
		free(cause);
		return;
	}
	wait_done(g, 30);
}

static void
move(struct got *g, const char *dest, const char *uid, int kill_at,
    int cancel_at)
{
	move_from(g, "PACS", pacs_port, dest, uid, kill_at, cancel_at);
}

static void
test_move(void)
{
	struct got	g;
	struct ticker	t;
	struct timeval	tv = { 0, 10000 };
	int		n, before;
	double		t0, t1;
	char		path[4096];
	struct stat	sb;

	before = scps.stored;
	move(&g, "RSNA-ISN", S1, 0, 0);
	ok(g.status == DCMC_OK && g.dimse == 0 &&
	    strstr(g.result, "completed=5;") != NULL &&
	    strstr(g.result, "failed=0;") != NULL,
	    "C-MOVE of the first study: 5 completed (%s)", g.result);
	ok(count(&g, "progress", "status=ff00;") >= 1,
	    "pending counts arrive as progress events (%d)", g.nev);
	ok(scps.stored - before == 5, "the SCP reported 5 stored instances");
	ok(compare_study(S1, "s1", &n) && n == 5,
	    "the 5 spooled files hold the original datasets byte for byte");

	before = scps.stored;
	move(&g, "RSNA-ISN", S2, 0, 0);
	ok(g.status == DCMC_OK && strstr(g.result, "completed=2;") != NULL,
	    "C-MOVE of the second study's uncompressed series");
	move_from(&g, "JPACS", jpacs_port, "RSNA-ISN", S2, 0, 0);
	ok(g.status == DCMC_OK && strstr(g.result, "completed=1;") != NULL &&
	    scps.stored - before == 3,
	    "C-MOVE of its JPEG lossless instance from a second PACS (%s)",
	    g.result);
	ok(compare_study(S2, "s2", &n) && n == 3,
	    "its spooled files match, the compressed one too");
	snprintf(path, sizeof(path), "%s/.incoming", spool);
	ok(stat(path, &sb) == 0 && sb.st_nlink == 2,
	    "no temporary file is left behind");

	move(&g, "NOBODY", S1, 0, 0);
	ok(g.status == DCMC_FAILED && g.dimse == 0xa801,
	    "C-MOVE to an unknown destination: a801 (%s)", g.cause);

	/* The loop keeps running during a long move. */
	memset(&t, 0, sizeof(t));
	t.ev = event_new(base, -1, EV_PERSIST, tick, &t);
	evtimer_add(t.ev, &tv);
	before = scps.stored;
	t0 = now();
	move(&g, "RSNA-ISN", S3, 0, 0);
	t1 = now();
	event_free(t.ev);
	ok(g.status == DCMC_OK && scps.stored - before == BIG_N,
	    "C-MOVE of the %d-instance study (%s)", BIG_N, g.result);
	ok(t.ticks >= (int)((t1 - t0) / 0.010 / 4) && t.maxgap < 0.5,
	    "a 10 ms timer kept firing during the %.2f s move (%d ticks, "
	    "max gap %.3f s)", t1 - t0, t.ticks, t.maxgap);
	ok(count(&g, "progress", NULL) >= BIG_N / 2,
	    "progress arrived while it ran (%d events)", g.nev);

	/* Two moves at once: the SCP serves both associations. */
	{
		struct dcmc_peer p = peer("PACS", pacs_port);
		struct got	 g2;
		char		*cause = NULL;

		memset(&g, 0, sizeof(g));
		memset(&g2, 0, sizeof(g2));
		before = scps.stored;
		dcmc_move(d, &p, "ISN-TEST", "RSNA-ISN", S3, on_event,
		    on_done, &g, &cause);
		dcmc_move(d, &p, "ISN-TEST", "RSNA-ISN", S1, on_event,
		    on_done, &g2, &cause);
		wait_done(&g, 30);
		wait_done(&g2, 30);
		ok(g.status == DCMC_OK && g2.status == DCMC_OK &&
		    scps.stored - before == BIG_N + 5,
		    "two concurrent moves into the SCP both complete (%d)",
		    scps.stored - before);
	}

	move(&g, "RSNA-ISN", S3, 3, 0);
	ok(g.done == 1 && g.status == DCMC_ERROR &&
	    strstr(g.cause, "signal 9") != NULL,
	    "killing the helper mid-move gives a failure (%s)", g.cause);

	move(&g, "RSNA-ISN", S3, 0, 2);
	ok(g.done == -1 && wait_gone(g.pid, 10) == 0,
	    "a cancelled move: no callback, the helper is gone");
}

static char **
list(const char *dir, const char *prefix, size_t *n)
{
	DIR		*dp;
	struct dirent	*de;
	char		**v = NULL;

	*n = 0;
	if ((dp = opendir(dir)) == NULL)
		return NULL;
	while ((de = readdir(dp)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		v = realloc(v, (*n + 1) * sizeof(*v));
		if (asprintf(&v[*n], "%s/%s", dir, de->d_name) == -1)
			abort();
		(*n)++;
	}
	closedir(dp);
	return v;
}

static void
list_free(char **v, size_t n)
{
	while (n > 0)
		free(v[--n]);
	free(v);
}

static void
store(struct got *g, const char *ae, int port, char **files, size_t n)
{
	struct dcmc_peer	 p = peer(ae, port);
	char			*cause = NULL;

	memset(g, 0, sizeof(*g));
	if (dcmc_store(d, &p, "ISN-TEST", (const char *const *)files, n,
	    on_event, on_done, g, &cause) == NULL) {
		tap_diag("store: %s", cause);
		free(cause);
		return;
	}
	wait_done(g, 30);
}

/* Removes a directory of plain files. */
static int
rmdir_files(const char *path)
{
	DIR		*dp;
	struct dirent	*de;
	char		 f[4400];

	if ((dp = opendir(path)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(dp)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(f, sizeof(f), "%s/%s", path, de->d_name);
		unlink(f);
	}
	closedir(dp);
	return rmdir(path);
}

static void
test_store(void)
{
	struct got	 g;
	char		**f, *one[2], path[4096], bad[4096];
	size_t		 n;
	int		 before, fd;
	struct stat	 sb;

	f = list(src, "s1", &n);
	store(&g, "STORE", pacs_port, f, n);
	ok(g.status == DCMC_OK && count(&g, "sent", "ok=1;") == 5 &&
	    count(&g, "sent", "status=0000;") == 5,
	    "C-STORE of 5 files into dcmqrscp (%s)", g.cause);
	find(&g, "STORE", NULL, NULL, S1);
	ok(g.status == DCMC_OK && count(&g, "study", "study_uid=" S1 ";") == 1,
	    "dcmqrscp finds the stored study");
	before = scps.stored;
	move_from(&g, "STORE", pacs_port, "RSNA-ISN", S1, 0, 0);
	ok(g.status == DCMC_OK && strstr(g.result, "completed=5;") != NULL &&
	    scps.stored - before == 5,
	    "and holds its 5 instances: a C-MOVE brings them back (%s)",
	    g.result);

	store(&g, "CTONLY", refuse_port, f, n);
	ok(g.status == DCMC_FAILED &&
	    count(&g, "sent", "ok=1;") == 3 &&
	    count(&g, "sent", "reason=SOP class refused by the peer;") == 2,
	    "a peer refusing Secondary Capture: 2 per-file failures, the "
	    "3 CT files still sent (%s)", g.cause);
	list_free(f, n);

	/* The JPEG file to a peer that takes only uncompressed SC. */
	f = list(src, "s2b", &n);
	store(&g, "SCPLAIN", refuse_port, f, n);
	ok(g.status == DCMC_OK && count(&g, "sent",
	    "sent_ts=1.2.840.10008.1.2.1;") == 1 &&
	    count(&g, "sent", "ts=1.2.840.10008.1.2.4.70;") == 1,
	    "a refused JPEG syntax is decompressed and sent (%s)",
	    g.nev ? g.ev[0] : g.cause);
	list_free(f, n);

	snprintf(path, sizeof(path), "%s/nonexistent.dcm", src);
	snprintf(bad, sizeof(bad), "%s/not-dicom.dcm", src);
	one[0] = path;
	one[1] = bad;
	store(&g, "STORE", pacs_port, one, 2);
	ok(g.status == DCMC_FAILED && count(&g, "sent", "ok=0;") == 2 &&
	    count(&g, "sent", "reason=unreadable") == 2,
	    "missing and non-DICOM files fail one by one (%s)", g.cause);

	/* Our SCP refuses when it cannot write: a file blocks the dir. */
	f = list(src, "s2a", &n);
	snprintf(path, sizeof(path), "%s/" S2, spool);
	before = scps.refused;
	if (rmdir_files(path) == -1 || (fd = open(path, O_WRONLY | O_CREAT,
	    0644)) == -1)
		tap_diag("cannot block %s", path);
	else
		close(fd);
	store(&g, "RSNA-ISN", scp_port, f, n);
	ok(g.status == DCMC_FAILED && count(&g, "sent", "status=a700;") == 2,
	    "our SCP answers a700 when it cannot write (%s)", g.cause);
	ok(scps.refused - before == 2 &&
	    strstr(scps.last_refused, "status=a700;") != NULL &&
	    strstr(scps.last_refused, "Not a directory") != NULL,
	    "and reports the refusal (%s)", scps.last_refused);
	ok(stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0,
	    "nothing was stored under a final name");
	unlink(path);
	list_free(f, n);
}

static void
test_scp_lifecycle(struct dcmc_scp *scp)
{
	pid_t	 pid = dcmc_scp_pid(scp);
	int	 ready = scps.ready;
	struct got g;
	struct dcmc_peer p = peer("RSNA-ISN", scp_port);
	char	*cause = NULL;

	kill(pid, SIGKILL);
	ok(run_until(&scps.down, 10) == 0 && strstr(scps.last_down,
	    "signal 9") != NULL, "a dead SCP helper is reported (%s)",
	    scps.last_down);
	scps.ready = 0;
	ok(run_until(&scps.ready, 10) == 0 && dcmc_scp_pid(scp) != pid &&
	    dcmc_scp_pid(scp) > 0, "and restarted");
	scps.ready += ready;

	memset(&g, 0, sizeof(g));
	dcmc_echo(d, &p, "ISN-TEST", on_done, &g, &cause);
	wait_done(&g, 20);
	ok(g.status == DCMC_OK, "the restarted SCP answers C-ECHO");

	pid = dcmc_scp_pid(scp);
	dcmc_scp_stop(scp);
	ok(wait_gone(pid, 10) == 0, "a stopped SCP helper exits");
}

static void
test_helper_missing(void)
{
	struct dcmc		*bad;
	struct dcmc_peer	 p = peer("PACS", pacs_port);
	struct got		 g;
	char			*cause = NULL;

	bad = dcmc_new(base, "/nonexistent/isn-edge-dicom");
	memset(&g, 0, sizeof(g));
	dcmc_echo(bad, &p, "ISN-TEST", on_done, &g, &cause);
	wait_done(&g, 10);
	ok(g.status == DCMC_ERROR && strstr(g.cause, "127") != NULL,
	    "a missing helper fails clearly (%s)", g.cause);
	dcmc_free(bad);
}

static int
envint(const char *name)
{
	const char	*v = getenv(name);

	return v != NULL ? atoi(v) : 0;
}

int
main(int argc, char *argv[])
{
	struct dcmc_scp		*scp;
	struct dcmc_scp_conf	 sc;
	char			*cause = NULL;

	if (argc == 3 && strcmp(argv[1], "ports") == 0)
		return ports(atoi(argv[2]));
	if (argc == 3 && strcmp(argv[1], "gen") == 0)
		return gen(argv[2]);
	if (argc == 4 && strcmp(argv[1], "same") == 0)
		return same_dataset(argv[2], argv[3]) ? 0 : 1;

	signal(SIGPIPE, SIG_IGN);
	helper = getenv("DCM_HELPER");
	src = getenv("DCM_SRC");
	spool = getenv("DCM_SPOOL");
	pacs_port = envint("DCM_PACS_PORT");
	scp_port = envint("DCM_SCP_PORT");
	refuse_port = envint("DCM_REFUSE_PORT");
	jpacs_port = envint("DCM_JPACS_PORT");
	closed_port = envint("DCM_CLOSED_PORT");
	if (helper == NULL || src == NULL || spool == NULL || !pacs_port ||
	    !scp_port || !refuse_port || !closed_port || !jpacs_port) {
		printf("Bail out! run through test_dcm.sh\n");
		return 1;
	}
	base = event_base_new();
	d = dcmc_new(base, helper);

	test_echo();
	test_find();

	memset(&sc, 0, sizeof(sc));
	sc.ae_title = "RSNA-ISN";
	sc.port = scp_port;
	sc.spool = spool;
	scp = dcmc_scp_start(d, &sc, on_scp, &scps, &cause);
	ok(scp != NULL && run_until(&scps.ready, 10) == 0,
	    "the storage SCP helper listens (%s)", cause ? cause : "");
	test_move();
	test_store();
	test_scp_lifecycle(scp);
	test_helper_missing();

	dcmc_free(d);
	event_base_free(base);
	return tap_done();
}
