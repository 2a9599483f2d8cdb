/*
 * jobs.c: the job runner (docs/design/jobs.md).
 *
 * One struct jobs_job per job being worked on, in memory only while it
 * runs; the database holds the state (jobs.status mirrors the newest
 * job_history row). Each step writes its status first and goes on from
 * the write's callback, so a job's writes never overtake each other.
 * Retrieval runs isn-edge-dicom through dcmc; submission runs one
 * isn-edge-submit per attempt with its spec on stdin.
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
#include <openssl/sha.h>

#include "child.h"
#include "db.h"
#include "dcmc.h"
#include "edge.h"
#include "jobs.h"
#include "keywrap.h"
#include "log.h"
#include "spool.h"
#include "xmalloc.h"

#define JOBS_MAX_LINE		65536	/* of isn-edge-submit's output */
#define JOBS_SPOOL_JOBS		"jobs"	/* spool_dir/jobs/<id>: not a UID */

struct jobs;

struct jobs_job {
	struct jobs		*jobs;
	TAILQ_ENTRY(jobs_job)	 entry;
	long long		 id;
	int			 status;	/* in the database; 0: none */
	int			 retries;	/* remaining_retries */
	int			 fresh;		/* no status yet */
	long long		 set_id;
	char			*set_created;
	char			*urgency;
	char			*scheme;
	char			*rsna_id;
	char			*wrapped_hex;
	char			*mrn;
	char			*accession;
	char			*latest;	/* newest exam status */
	int			 has_final;
	double			 wait;		/* until final + delay */
	int			 done;		/* exam completed or reported */

	/* Retrieval. */
	size_t			 pacs_i;
	int			 answered;
	char			*peer_name;
	char			*peer_ae;
	char			*peer_host;
	int			 peer_port;
	char			*study_uid;
	int			 expected;	/* from C-FIND; 0 unknown */
	int			 nstudies;
	int			 moving;
	int			 move_done;
	int			 move_completed;
	int			 move_failed;	/* sub-operations the PACS failed */
	struct dcmc_op		*op;
	struct event		*timeout;
	struct event		*grace;

	/* Submission. */
	pid_t			 pid;
	struct bufferevent	*out;
	struct bufferevent	*in;
	int			 eof;
	int			 reaped;
	int			 wstatus;
	char			*result;	/* the result= line */
	int			 registered;	/* both ITI-8 acknowledged */
	int			 reg_running;	/* the helper runs --register-only */
	int			 prereg;	/* JOBS_PREREG_* */
	int			 submit_waiting; /* for reg_running to end */
	int			 writing;	/* a status write in flight */
	int			 cancelled;	/* by staff: stop after the write */
	int			 finish_pending;
	int			 ninstances;
	char			*dir;		/* spool_dir/jobs/<id> */
	struct evbuffer		*spec;		/* until written to the helper */
};
TAILQ_HEAD(jobs_list, jobs_job);

struct jobs {
	struct edge		*edge;
	struct dcmc		*dcmc;
	struct dcmc_scp		*scp;
	struct event		*poll;
	struct event		*sigchld;
	struct jobs_list	 running;
	int			 nrunning;
	int			 picking;	/* a pick query in flight */
	int			 recovered;
	int			 stopping;
	int			 closing;
};

/* The registration run beside the C-MOVE (jobs_register_start). */
#define JOBS_PREREG_NONE	0	/* not run or failed: the sender registers */
#define JOBS_PREREG_DONE	1	/* both feeds acknowledged */
#define JOBS_PREREG_STORED	2	/* the set is stored already */

typedef void	(*jobs_then)(struct jobs_job *);

static void	jobs_poll_arm(struct jobs *);
static void	jobs_pick(struct jobs *);
static void	jobs_decide(struct jobs_job *);
static void	jobs_retrieve(struct jobs_job *);
static void	jobs_find_next(struct jobs_job *);
static void	jobs_move_check(struct jobs_job *);
static void	jobs_submit(struct jobs_job *);
static void	jobs_submit_spawn(struct jobs_job *);
static void	jobs_submit_finish(struct jobs_job *);
static void	jobs_submit_start(struct jobs_job *);
static void	jobs_register_start(struct jobs_job *);
static void	jobs_register_finish(struct jobs_job *);
static void	jobs_submit_go(struct jobs_job *);
static void	jobs_end(struct jobs_job *);

/* --- small helpers --- */

static char *
jobs_value(PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return (NULL);
	return (xstrdup(PQgetvalue(res, row, col)));
}

/* The *.dcm files of dir, sorted; their number, or -1 when no dir. */
static int
jobs_list_dcm(const char *dir, char ***out)
{
	DIR		*d;
	struct dirent	*de;
	char		**v = NULL;
	size_t		 n = 0, len;

	if ((d = opendir(dir)) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 4, ".dcm") != 0)
			continue;
		if (out != NULL) {
			v = xreallocarray(v, n + 1, sizeof(*v));
			xasprintf(&v[n], "%s/%s", dir, de->d_name);
		}
		n++;
	}
	closedir(d);
	if (out != NULL)
		*out = v;
	return ((int)n);
}

static void
jobs_strv_free(char **v, int n)
{
	int	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static char *
jobs_study_dir(struct jobs *jobs, const char *study)
{
	char	*p;

	xasprintf(&p, "%s/%s", jobs->edge->conf->dicom.spool_dir, study);
	return (p);
}

/*
 * The job's stable submission set uniqueId: 2.25 and a 128-bit number
 * from the job and its set, so that every attempt (and an attempt after
 * a crash) sends the same one and the registry's ITI-18 check finds it.
 */
static void
jobs_submission_uid(struct jobs_job *job, char out[64])
{
	unsigned char	 md[SHA256_DIGEST_LENGTH], n[16];
	char		*in, digits[48];
	int		 i, nd = 0, rem, any;

	xasprintf(&in, "isn-edge submission\n%lld\n%lld\n%s\n%s\n%s", job->id,
	    job->set_id, job->set_created, job->rsna_id,
	    job->wrapped_hex != NULL ? job->wrapped_hex : "");
	SHA256((unsigned char *)in, strlen(in), md);
	free(in);
	memcpy(n, md, sizeof(n));
	n[0] &= 0x7f;	/* at most 39 digits */
	do {		/* n / 10, repeatedly: the digits from the right */
		rem = 0;
		any = 0;
		for (i = 0; i < 16; i++) {
			int	cur = rem * 256 + n[i];

			n[i] = (unsigned char)(cur / 10);
			rem = cur % 10;
			any |= n[i];
		}
		digits[nd++] = (char)('0' + rem);
	} while (any);
	memcpy(out, "2.25.", 5);
	for (i = 0; i < nd; i++)
		out[5 + i] = digits[nd - 1 - i];
	out[5 + nd] = '\0';
}

/* --- job lifetime --- */

static void
jobs_job_free(struct jobs_job *job)
{
	struct jobs	*jobs = job->jobs;

	TAILQ_REMOVE(&jobs->running, job, entry);
	jobs->nrunning--;
	if (job->op != NULL)
		dcmc_cancel(job->op);
	if (job->timeout != NULL)
		event_free(job->timeout);
	if (job->grace != NULL)
		event_free(job->grace);
	if (job->pid > 0) {
		kill(-job->pid, SIGKILL);
		if (!job->reaped)
			waitpid(job->pid, NULL, 0);
	}
	if (job->out != NULL)
		bufferevent_free(job->out);
	if (job->in != NULL)
		bufferevent_free(job->in);
	if (job->spec != NULL) {
		/* It holds the content key. */
		evbuffer_free(job->spec);
	}
	free(job->set_created);
	free(job->urgency);
	free(job->scheme);
	free(job->rsna_id);
	free(job->wrapped_hex);
	free(job->mrn);
	free(job->accession);
	free(job->latest);
	free(job->peer_name);
	free(job->peer_ae);
	free(job->peer_host);
	free(job->study_uid);
	free(job->result);
	free(job->dir);
	free(job);
	edge_release(jobs->edge);
}

/* The run of this job ends here; the database says what comes next. */
static void
jobs_end(struct jobs_job *job)
{
	struct jobs	*jobs = job->jobs;

	jobs_job_free(job);
	if (!jobs->closing && !jobs->stopping)
		jobs_kick(jobs);
}

/*
 * The run stops without writing: staff cancelled (or retried) the job
 * while it ran. The spool goes when the job has ended (ended: its row is
 * final); jobs_job_free kills the helper and aborts a C-MOVE.
 */
static void
jobs_abandon(struct jobs_job *job, int ended)
{
	char	*sd;

	log_info("job id=%lld changed by staff: run stopped status=%d",
	    job->id, job->status);
	if (ended) {
		if (job->moving && job->study_uid != NULL) {
			sd = jobs_study_dir(job->jobs, job->study_uid);
			spool_discard(job->jobs->edge->spool, sd);
			free(sd);
		}
		spool_discard(job->jobs->edge->spool, job->dir);
	}
	jobs_end(job);
}

void
jobs_cancelled(struct jobs *jobs, long long id)
{
	struct jobs_job	*job;

	TAILQ_FOREACH(job, &jobs->running, entry) {
		if (job->id != id)
			continue;
		if (job->writing)
			job->cancelled = 1;	/* jobs_set_done stops it */
		else
			jobs_abandon(job, 1);
		return;
	}
}

/* --- status writes --- */

struct jobs_write {
	struct jobs_job	*job;
	int		 status;
	jobs_then	 then;
};

static void
jobs_set_done(PGresult *res, const char *cause, void *arg)
{
	struct jobs_write	*w = arg;
	struct jobs_job		*job = w->job;
	jobs_then		 then = w->then;

	free(w);
	job->writing = 0;
	if (job->jobs->closing) {
		jobs_job_free(job);
		return;
	}
	if (cause != NULL) {
		log_warnx("job id=%lld status-write failed cause=\"%s\"",
		    job->id, cause);
		jobs_end(job);
		return;
	}
	if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "1") != 0) {
		/* Someone else (staff) changed the job since it was picked. */
		jobs_abandon(job, PQntuples(res) == 1 &&
		    strcmp(PQgetvalue(res, 0, 1), "t") == 0);
		return;
	}
	if (job->cancelled) {
		jobs_abandon(job, 1);
		return;
	}
	if (then != NULL)
		then(job);
	else
		jobs_end(job);
}

/*
 * Records status with its reason (a history row when the status changes
 * or is a failure), the next attempt in next_in seconds (< 0: none) and
 * whether a retry is used up; then runs then (NULL: the run ends).
 * Patient data may be in reason (it stays in the database); the log
 * gets the id and the code only.
 */
static void
jobs_set(struct jobs_job *job, int status, const char *reason,
    double next_in, int use_retry, jobs_then then)
{
	struct jobs_write	*w;
	char			 id[32], st[16], next[32], dec[4], init[16];
	char			 prev[16];
	const char		*v[7];

	snprintf(id, sizeof(id), "%lld", job->id);
	snprintf(st, sizeof(st), "%d", status);
	snprintf(next, sizeof(next), "%.3f", next_in);
	snprintf(dec, sizeof(dec), "%d", use_retry ? 1 : 0);
	snprintf(init, sizeof(init), "%d", job->jobs->edge->conf->jobs.retries);
	v[0] = id;
	v[1] = st;
	v[2] = reason;
	v[3] = next_in < 0 ? NULL : next;
	v[4] = dec;
	v[5] = job->fresh ? init : NULL;
	snprintf(prev, sizeof(prev), "%d", job->status);
	v[6] = job->status == 0 ? NULL : prev;
	if (job->fresh) {
		job->fresh = 0;
		job->retries = job->jobs->edge->conf->jobs.retries;
	}
	if (use_retry && job->retries > 0)
		job->retries--;
	if (status != job->status)
		log_info("job id=%lld status=%d prev=%d", job->id, status,
		    job->status);
	job->status = status;
	w = xcalloc(1, sizeof(*w));
	w->job = job;
	w->status = status;
	w->then = then;
	job->writing = 1;
	/*
	 * Only while the row still has the status this run knows ($7): a
	 * cancel or retry by staff in between wins, and the run stops.
	 */
	db_query_prepared(job->jobs->edge->db,
	    "WITH cur AS (SELECT id, status, remaining_retries, "
	    "next_attempt FROM jobs WHERE id = $1::bigint FOR UPDATE), "
	    "ok AS (SELECT * FROM cur WHERE cur.status IS NOT DISTINCT FROM "
	    "$7::integer), "
	    "h AS (INSERT INTO job_history (job_id, status, reason) "
	    "SELECT ok.id, $2::integer, $3::text FROM ok "
	    "WHERE ok.status IS DISTINCT FROM $2::integer OR $2::integer < 0), "
	    "u AS (UPDATE jobs j SET next_attempt = CASE WHEN $4::float8 IS "
	    "NULL THEN NULL ELSE now() + make_interval(secs => $4::float8) "
	    "END, remaining_retries = CASE WHEN ok.status IS NULL AND "
	    "$6::integer IS NOT NULL THEN $6::integer "
	    "ELSE greatest(ok.remaining_retries - $5::integer, 0) END "
	    "FROM ok WHERE j.id = ok.id RETURNING j.id) "
	    "SELECT (SELECT count(*) FROM u), cur.status = 40 OR "
	    "(cur.status < 0 AND cur.next_attempt IS NULL) FROM cur",
	    7, v, NULL, NULL, 0, jobs_set_done, w);
}

/*
 * A failure: final (no retry) or retried after jobs.retry_interval while
 * retries remain. The spool of a failed retrieval is dropped; that of a
 * failed submission is kept for the retry, dropped when final.
 */
static void
jobs_fail(struct jobs_job *job, int status, int retry, const char *fmt, ...)
{
	va_list		 ap;
	char		*why, *reason;
	long long	 ival = job->jobs->edge->conf->jobs.retry_interval;
	int		 again = retry && job->retries > 0;

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
	log_warnx("job id=%lld failed status=%d retry=%d", job->id, status,
	    again);
	if (!again && job->dir != NULL)
		spool_discard(job->jobs->edge->spool, job->dir);
	jobs_set(job, status, reason, again ? (double)ival : -1, retry, NULL);
	free(reason);
}

/* --- picking due jobs --- */

static void
jobs_picked(PGresult *res, const char *cause, void *arg)
{
	struct jobs	*jobs = arg;
	struct jobs_job	*job;
	int		 i, n;

	jobs->picking = 0;
	if (jobs->closing)
		return;
	if (cause != NULL) {
		log_warnx("jobs pick failed cause=\"%s\"", cause);
		return;
	}
	n = PQntuples(res);
	for (i = 0; i < n && !jobs->stopping; i++) {
		job = xcalloc(1, sizeof(*job));
		job->jobs = jobs;
		job->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		job->fresh = PQgetisnull(res, i, 1);
		job->status = job->fresh ? 0 : atoi(PQgetvalue(res, i, 1));
		job->retries = atoi(PQgetvalue(res, i, 2));
		job->set_id = strtoll(PQgetvalue(res, i, 3), NULL, 10);
		job->set_created = jobs_value(res, i, 4);
		job->urgency = jobs_value(res, i, 5);
		job->scheme = jobs_value(res, i, 6);
		job->rsna_id = jobs_value(res, i, 7);
		job->wrapped_hex = jobs_value(res, i, 8);
		job->mrn = jobs_value(res, i, 9);
		job->accession = jobs_value(res, i, 10);
		job->latest = jobs_value(res, i, 11);
		job->has_final = !PQgetisnull(res, i, 12);
		job->wait = job->has_final ? atof(PQgetvalue(res, i, 12)) : 0;
		job->done = strcmp(PQgetvalue(res, i, 13), "t") == 0;
		xasprintf(&job->dir, "%s/" JOBS_SPOOL_JOBS "/%lld",
		    jobs->edge->conf->dicom.spool_dir, job->id);
		TAILQ_INSERT_TAIL(&jobs->running, job, entry);
		jobs->nrunning++;
		edge_hold(jobs->edge);
		log_debug("job id=%lld picked status=%d", job->id, job->status);
		/* A spool from an earlier attempt: only the submission. */
		if (job->status <= -30 || (job->status >= 30 &&
		    job->status <= 34)) {
			if (jobs_list_dcm(job->dir, NULL) > 0) {
				jobs_set(job, 30, job->status < 0 ?
				    "retry: submitting the retrieved study "
				    "again" : "the edge restarted: "
				    "submitting again", -1, 0, jobs_submit);
				continue;
			}
		}
		jobs_decide(job);
	}
}

/*
 * Due: new jobs, jobs left in flight by a previous run, waiting jobs
 * whose condition holds now (a final report, the exam completed, the
 * delay over, the exam cancelled) and failed jobs whose retry time
 * came. The exam's history is read here so that deciding takes no
 * other round trip.
 */
static void
jobs_pick(struct jobs *jobs)
{
	struct jobs_job	*job;
	struct evbuffer	*ids;
	char		*idv, lim[16];
	const char	*v[2];
	int		 free_slots;

	free_slots = jobs->edge->conf->jobs.concurrency - jobs->nrunning;
	if (jobs->picking || jobs->closing || jobs->stopping ||
	    !jobs->recovered || free_slots <= 0)
		return;
	if ((ids = evbuffer_new()) == NULL)
		fatalx("jobs: evbuffer_new");
	evbuffer_add_printf(ids, "{");
	TAILQ_FOREACH(job, &jobs->running, entry)
		evbuffer_add_printf(ids, "%s%lld",
		    job == TAILQ_FIRST(&jobs->running) ? "" : ",", job->id);
	evbuffer_add_printf(ids, "}");
	evbuffer_add(ids, "", 1);
	idv = xstrdup((char *)evbuffer_pullup(ids, -1));
	evbuffer_free(ids);
	snprintf(lim, sizeof(lim), "%d", free_slots);
	v[0] = idv;
	v[1] = lim;
	jobs->picking = 1;
	db_query_prepared(jobs->edge->db,
	    "SELECT j.id, j.status, j.remaining_retries, s.id, "
	    "s.created::text, s.urgency, s.scheme, s.rsna_id, "
	    "encode(s.wrapped_key, 'hex'), p.mrn, e.accession, w.latest, "
	    "extract(epoch FROM w.final_at + s.delay - now())::float8, "
	    "w.done "
	    "FROM jobs j JOIN job_sets s ON s.id = j.job_set_id "
	    "JOIN exams e ON e.id = j.exam_id "
	    "JOIN patients p ON p.id = e.patient_id "
	    "CROSS JOIN LATERAL (SELECT "
	    " (SELECT st.status FROM exam_status st WHERE st.exam_id = "
	    "  coalesce(e.merged_into, e.id) ORDER BY st.id DESC LIMIT 1) "
	    "  AS latest, "
	    " (SELECT min(st.status_time) FROM exam_status st WHERE "
	    "  st.exam_id = coalesce(e.merged_into, e.id) AND st.status IN "
	    "  ('final', 'corrected')) AS final_at, "
	    " EXISTS (SELECT 1 FROM exam_status st WHERE st.exam_id = "
	    "  coalesce(e.merged_into, e.id) AND (st.status IN ('completed', "
	    "  'preliminary', 'final', 'corrected') OR "
	    "  st.report_text IS NOT NULL)) AS done) w "
	    "WHERE NOT (j.id = ANY ($1::bigint[])) "
	    "AND j.status IS DISTINCT FROM 40 AND CASE "
	    " WHEN j.status < 0 THEN j.next_attempt <= now() "
	    " WHEN j.status IN (21, 22, 24) THEN w.latest = 'cancelled' OR "
	    "  j.next_attempt <= now() OR (j.status = 21 AND "
	    "  w.final_at IS NOT NULL) OR (j.status = 24 AND w.done) "
	    " ELSE true END IS TRUE "
	    "ORDER BY j.next_attempt NULLS FIRST, j.id LIMIT $2::integer",
	    2, v, NULL, NULL, 0, jobs_picked, jobs);
	free(idv);
}

static void
jobs_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jobs	*jobs = arg;

	(void)fd;
	(void)what;
	jobs_pick(jobs);
	jobs_poll_arm(jobs);
}

static void
jobs_poll_arm(struct jobs *jobs)
{
	struct timeval	tv;

	if (jobs->stopping || jobs->closing)
		return;
	tv.tv_sec = (time_t)jobs->edge->conf->jobs.poll_interval;
	tv.tv_usec = 0;
	evtimer_add(jobs->poll, &tv);
}

void
jobs_kick(struct jobs *jobs)
{
	if (jobs != NULL)
		jobs_pick(jobs);
}

/* --- deciding: wait or send --- */

static void
jobs_decide(struct jobs_job *job)
{
	const char	*u = job->urgency;
	char		*reason;

	if (job->latest != NULL && strcmp(job->latest, "cancelled") == 0) {
		jobs_fail(job, -24, 0, "exam %s was cancelled by the RIS",
		    job->accession);
		return;
	}
	if (strcmp(u, "immediate") == 0) {
		if (!job->done) {
			jobs_set(job, 24, "waiting for the exam to be "
			    "completed or reported", -1, 0, NULL);
			return;
		}
	} else if (!job->has_final) {
		jobs_set(job, 21, "waiting for the final report", -1, 0, NULL);
		return;
	} else if (strcmp(u, "routine") == 0 && job->wait > 0) {
		xasprintf(&reason, "final report received; the delay ends in "
		    "%.0fs", job->wait);
		jobs_set(job, 22, reason, job->wait, 0, NULL);
		free(reason);
		return;
	}
	jobs_set(job, 23, "retrieving the study from the PACS", -1, 0,
	    jobs_retrieve);
}

/* --- retrieval: C-FIND, C-MOVE --- */

static struct jobs_job *
jobs_by_study(struct jobs *jobs, const char *study, struct jobs_job *not)
{
	struct jobs_job	*job;

	TAILQ_FOREACH(job, &jobs->running, entry)
		if (job != not && job->moving && job->study_uid != NULL &&
		    strcmp(job->study_uid, study) == 0)
			return (job);
	return (NULL);
}

static void
jobs_retrieve(struct jobs_job *job)
{
	if (job->jobs->edge->conf->npacs == 0) {
		jobs_fail(job, -1, 1, "no PACS configured");
		return;
	}
	if (job->jobs->scp == NULL) {
		jobs_fail(job, -1, 1, "the storage SCP is not running");
		return;
	}
	job->pacs_i = 0;
	job->answered = 0;
	jobs_register_start(job);
	jobs_find_next(job);
}

static void
jobs_find_event(struct dcmc_op *op, const struct dcmc_event *ev, void *arg)
{
	struct jobs_job	*job = arg;
	const char	*uid, *count;

	(void)op;
	if (strcmp(ev->type, "study") != 0)
		return;
	if ((uid = dcmc_event_get(ev, "study_uid")) == NULL || *uid == '\0')
		return;
	if (job->nstudies++ > 0)
		return;		/* the first match is sent; counted below */
	job->study_uid = xstrdup(uid);
	if ((count = dcmc_event_get(ev, "instances")) != NULL)
		job->expected = atoi(count);
}

static void
jobs_move_event(struct dcmc_op *op, const struct dcmc_event *ev, void *arg)
{
	(void)op;
	(void)ev;
	(void)arg;
}

static void
jobs_move_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct jobs_job	*job = arg;
	int		 got;
	char		*sd;

	(void)fd;
	(void)what;
	if (job->op != NULL) {
		dcmc_cancel(job->op);
		job->op = NULL;
	}
	if (job->grace != NULL) {
		event_free(job->grace);
		job->grace = NULL;
	}
	job->move_done = 0;
	sd = jobs_study_dir(job->jobs, job->study_uid);
	got = jobs_list_dcm(sd, NULL);
	spool_discard(job->jobs->edge->spool, sd);
	free(sd);
	job->moving = 0;
	jobs_fail(job, -23, 1, "C-MOVE from %s timed out after %llds (%d "
	    "instances received)", job->peer_name,
	    job->jobs->edge->conf->jobs.move_timeout, got < 0 ? 0 : got);
}

static void
jobs_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jobs_job	*job = arg;

	(void)fd;
	(void)what;
	job->move_completed = -job->move_completed - 1;	/* grace is over */
	jobs_move_check(job);
}

/* A short study is sent when jobs.partial says so (now, or at the last try). */
static int
jobs_partial_ok(struct jobs_job *job)
{
	switch (job->jobs->edge->conf->jobs.partial) {
	case EDGE_PARTIAL_SEND:
		return (1);
	case EDGE_PARTIAL_LAST:
		return (job->retries == 0);
	default:
		return (0);
	}
}

/*
 * After the move: done when every instance the PACS reported (and the
 * C-FIND promised) is in the study's spool; late stores get move_grace.
 * The files then move to the job's own spool directory.
 */
static void
jobs_move_check(struct jobs_job *job)
{
	struct jobs	*jobs = job->jobs;
	struct timeval	 tv;
	char		*sd, *reason, *parent;
	int		 got, want, over = job->move_completed < 0;

	want = over ? -job->move_completed - 1 : job->move_completed;
	want += job->move_failed;
	if (job->expected > want)
		want = job->expected;
	sd = jobs_study_dir(jobs, job->study_uid);
	got = jobs_list_dcm(sd, NULL);
	if (got < 0)
		got = 0;
	if (got < want && !over) {
		if (job->grace == NULL) {
			job->grace = evtimer_new(jobs->edge->base,
			    jobs_grace_cb, job);
			tv.tv_sec = (time_t)jobs->edge->conf->jobs.move_grace;
			tv.tv_usec = 0;
			evtimer_add(job->grace, &tv);
		}
		free(sd);
		return;
	}
	if (job->grace != NULL) {
		event_free(job->grace);
		job->grace = NULL;
	}
	if (job->timeout != NULL) {
		event_free(job->timeout);
		job->timeout = NULL;
	}
	job->moving = 0;
	if (got == 0) {
		spool_discard(job->jobs->edge->spool, sd);
		free(sd);
		jobs_fail(job, -21, 1, "C-MOVE from %s sent no instance",
		    job->peer_name);
		return;
	}
	if (got < want && !jobs_partial_ok(job)) {
		spool_discard(job->jobs->edge->spool, sd);
		free(sd);
		jobs_fail(job, -23, 1, "partial study from %s: %d of %d "
		    "instances arrived", job->peer_name, got, want);
		return;
	}
	spool_discard(job->jobs->edge->spool, job->dir);
	xasprintf(&parent, "%s/" JOBS_SPOOL_JOBS,
	    jobs->edge->conf->dicom.spool_dir);
	if ((mkdir(parent, 0700) == -1 && errno != EEXIST) ||
	    rename(sd, job->dir) == -1) {
		spool_discard(job->jobs->edge->spool, sd);
		free(sd);
		free(parent);
		jobs_fail(job, -23, 1, "could not move the study into the "
		    "job's spool: %s", strerror(errno));
		return;
	}
	free(sd);
	free(parent);
	job->ninstances = got;
	log_info("job id=%lld retrieved instances=%d pacs=%s", job->id, got,
	    job->peer_name);
	if (got < want)
		xasprintf(&reason, "retrieved %d of %d instances of study %s "
		    "from %s: sending the partial study (jobs.partial)", got,
		    want, job->study_uid, job->peer_name);
	else
		xasprintf(&reason, "retrieved %d instances of study %s from "
		    "%s", got, job->study_uid, job->peer_name);
	jobs_set(job, 30, reason, -1, 0, jobs_submit);
	free(reason);
}

static void
jobs_move_done(struct dcmc_op *op, const struct dcmc_result *r, void *arg)
{
	struct jobs_job	*job = arg;
	const char	*v;
	char		*sd;

	(void)op;
	job->op = NULL;
	v = r->fields != NULL ? dcmc_event_get(r->fields, "completed") : NULL;
	job->move_completed = v != NULL ? atoi(v) : 0;
	v = r->fields != NULL ? dcmc_event_get(r->fields, "failed") : NULL;
	job->move_failed = v != NULL ? atoi(v) : 0;
	/* Some instances sent, some failed: a partial study (jobs.partial). */
	if (r->status != DCMC_OK && !(r->status == DCMC_FAILED &&
	    job->move_completed > 0 && job->move_failed > 0)) {
		if (job->timeout != NULL) {
			event_free(job->timeout);
			job->timeout = NULL;
		}
		sd = jobs_study_dir(job->jobs, job->study_uid);
		spool_discard(job->jobs->edge->spool, sd);
		free(sd);
		job->moving = 0;
		jobs_fail(job, -23, 1, "C-MOVE from %s failed: %s",
		    job->peer_name, r->cause != NULL ? r->cause : "unknown");
		return;
	}
	job->move_done = 1;
	jobs_move_check(job);
}

static void
jobs_move(struct jobs_job *job)
{
	struct jobs		*jobs = job->jobs;
	const struct edge_conf	*c = jobs->edge->conf;
	struct dcmc_peer	 peer;
	struct timeval		 tv;
	char			*cause = NULL, *sd;

	if (jobs_by_study(jobs, job->study_uid, job) != NULL) {
		/* Another job moves this study: try again shortly. */
		jobs_set(job, 1, "the study is being retrieved by another "
		    "job", (double)c->jobs.poll_interval, 0, NULL);
		return;
	}
	job->moving = 1;
	sd = jobs_study_dir(jobs, job->study_uid);
	/* What an earlier attempt left. */
	spool_discard(job->jobs->edge->spool, sd);
	free(sd);
	peer.ae_title = job->peer_ae;
	peer.host = job->peer_host;
	peer.port = job->peer_port;
	job->op = dcmc_move(jobs->dcmc, &peer, c->dicom.ae_title,
	    c->dicom.ae_title, job->study_uid, jobs_move_event,
	    jobs_move_done, job, &cause);
	if (job->op == NULL) {
		job->moving = 0;
		jobs_fail(job, -23, 1, "C-MOVE could not start: %s", cause);
		free(cause);
		return;
	}
	job->timeout = evtimer_new(jobs->edge->base, jobs_move_timeout, job);
	tv.tv_sec = (time_t)c->jobs.move_timeout;
	tv.tv_usec = 0;
	evtimer_add(job->timeout, &tv);
}

static void
jobs_find_done(struct dcmc_op *op, const struct dcmc_result *r, void *arg)
{
	struct jobs_job	*job = arg;

	(void)op;
	job->op = NULL;
	if (r->status != DCMC_ERROR)
		job->answered++;
	if (r->status == DCMC_OK && job->study_uid != NULL) {
		if (job->nstudies > 1)
			log_warnx("job id=%lld studies=%d: the first is sent",
			    job->id, job->nstudies);
		jobs_move(job);
		return;
	}
	if (r->status != DCMC_OK)
		log_warnx("job id=%lld pacs=%s find failed cause=\"%s\"",
		    job->id, job->peer_name, r->cause);
	job->pacs_i++;
	jobs_find_next(job);
}

/*
 * The next configured PACS, in order; none left: the verdict. No C-ECHO
 * first: a PACS that does not answer fails the C-FIND just as well, and
 * each association costs a PACS such as dcmqrscp tens of milliseconds.
 */
static void
jobs_find_next(struct jobs_job *job)
{
	const struct edge_conf	*c = job->jobs->edge->conf;
	const struct edge_pacs	*p;
	struct dcmc_find_keys	 keys;
	struct dcmc_peer	 peer;
	char			*cause = NULL;

	if (job->pacs_i >= c->npacs) {
		if (job->answered == 0)
			jobs_fail(job, -1, 1, "no PACS answered C-FIND");
		else
			jobs_fail(job, -21, 1, "no PACS has a study of "
			    "accession %s", job->accession);
		return;
	}
	p = &c->pacs[job->pacs_i];
	free(job->peer_name);
	free(job->peer_ae);
	free(job->peer_host);
	job->peer_name = xstrdup(p->name);
	job->peer_ae = xstrdup(p->ae_title);
	job->peer_host = xstrdup(p->host);
	job->peer_port = p->port;
	peer.ae_title = p->ae_title;
	peer.host = p->host;
	peer.port = p->port;
	memset(&keys, 0, sizeof(keys));
	keys.mrn = job->mrn;
	keys.accession = job->accession;
	job->op = dcmc_find(job->jobs->dcmc, &peer, c->dicom.ae_title, &keys,
	    jobs_find_event, jobs_find_done, job, &cause);
	if (job->op == NULL) {
		jobs_fail(job, -1, 1, "C-FIND could not start: %s", cause);
		free(cause);
	}
}

/* The SCP's events: a stored instance may complete a move in grace. */
static void
jobs_scp_event(struct dcmc_op *op, const struct dcmc_event *ev, void *arg)
{
	struct jobs	*jobs = arg;
	struct jobs_job	*job;
	const char	*study;

	(void)op;
	if (strcmp(ev->type, "down") == 0) {
		log_warnx("jobs storage SCP down reason=\"%s\"",
		    dcmc_event_get(ev, "reason"));
		return;
	}
	if (strcmp(ev->type, "ready") == 0) {
		log_info("jobs storage SCP ready port=%s",
		    dcmc_event_get(ev, "port"));
		return;
	}
	if (strcmp(ev->type, "stored") != 0 ||
	    (study = dcmc_event_get(ev, "study_uid")) == NULL)
		return;
	if ((job = jobs_by_study(jobs, study, NULL)) != NULL &&
	    job->move_done && job->grace != NULL)
		jobs_move_check(job);
}

/* --- submission through isn-edge-submit --- */

/* The value of key in a key=value line (percent-decoded), or NULL. */
static char *
jobs_line_get(const char *line, const char *key)
{
	size_t		 klen = strlen(key);
	const char	*p = line, *e;
	char		*out, *o;

	while (*p != '\0') {
		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			p += klen + 1;
			e = strchr(p, ' ');
			if (e == NULL)
				e = p + strlen(p);
			out = o = xmalloc((size_t)(e - p) + 1);
			while (p < e) {
				unsigned int	c;

				if (*p == '%' && e - p >= 3 &&
				    sscanf(p + 1, "%2x", &c) == 1) {
					*o++ = (char)c;
					p += 3;
				} else
					*o++ = *p++;
			}
			*o = '\0';
			return (out);
		}
		if ((p = strchr(p, ' ')) == NULL)
			break;
		p++;
	}
	return (NULL);
}

static void
jobs_registered(struct jobs_job *job)
{
	if (job->finish_pending)
		jobs_submit_finish(job);
}

static void
jobs_sub_read(struct bufferevent *bev, void *arg)
{
	struct jobs_job	*job = arg;
	char		*line, *feed;
	size_t		 len;

	while ((line = evbuffer_readln(bufferevent_get_input(bev), &len,
	    EVBUFFER_EOL_LF)) != NULL) {
		if (strncmp(line, "result=", 7) == 0) {
			free(job->result);
			job->result = line;
			continue;
		}
		if (strncmp(line, "stage=iti8 ", 11) == 0 &&
		    !job->reg_running &&
		    (feed = jobs_line_get(line, "feed")) != NULL) {
			if (strcmp(feed, "registry") == 0 && !job->writing &&
			    !job->registered) {
				job->registered = 1;
				jobs_set(job, 34, "patient registered; "
				    "submitting the documents", -1, 0,
				    jobs_registered);
			}
			free(feed);
		}
		free(line);
	}
	if (evbuffer_get_length(bufferevent_get_input(bev)) > JOBS_MAX_LINE &&
	    !job->eof) {
		/* Not the helper we know: stop it; its exit ends the run. */
		log_warnx("job id=%lld submit output line too long", job->id);
		bufferevent_disable(bev, EV_READ);
		kill(-job->pid, SIGKILL);
		job->eof = 1;
		jobs_submit_finish(job);
	}
}

static void
jobs_sub_outev(struct bufferevent *bev, short what, void *arg)
{
	struct jobs_job	*job = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		jobs_sub_read(job->out, job);
		bufferevent_disable(job->out, EV_READ);
		job->eof = 1;
		jobs_submit_finish(job);
	}
}

static void
jobs_sub_written(struct bufferevent *bev, void *arg)
{
	struct jobs_job	*job = arg;

	(void)bev;
	bufferevent_free(job->in);	/* EOF on the helper's stdin */
	job->in = NULL;
}

static void
jobs_sub_inev(struct bufferevent *bev, short what, void *arg)
{
	struct jobs_job	*job = arg;

	(void)bev;
	(void)what;
	bufferevent_free(job->in);	/* it reports why itself */
	job->in = NULL;
}

static void
jobs_sigchld(evutil_socket_t fd, short what, void *arg)
{
	struct jobs	*jobs = arg;
	struct jobs_job	*job, *next;
	int		 st;

	(void)fd;
	(void)what;
	for (job = TAILQ_FIRST(&jobs->running); job != NULL; job = next) {
		next = TAILQ_NEXT(job, entry);
		if (job->pid <= 0 || job->reaped)
			continue;
		if (waitpid(job->pid, &st, WNOHANG) != job->pid)
			continue;
		job->reaped = 1;
		job->wstatus = st;
		jobs_submit_finish(job);
	}
}

/*
 * The helper finished (its output closed and it was reaped): the
 * result line and exit status give 40 or the failure of its stage.
 */
static void
jobs_submit_finish(struct jobs_job *job)
{
	char	*stage = NULL, *code = NULL, *why = NULL, *already = NULL;
	int	 ex, status, retry;

	if (!job->eof || !job->reaped)
		return;
	if (job->reg_running) {
		jobs_register_finish(job);
		return;
	}
	if (job->writing) {
		job->finish_pending = 1;
		return;
	}
	job->finish_pending = 0;
	job->pid = 0;
	ex = WIFEXITED(job->wstatus) ? WEXITSTATUS(job->wstatus) : -1;
	if (job->result != NULL) {
		stage = jobs_line_get(job->result, "stage");
		code = jobs_line_get(job->result, "code");
		why = jobs_line_get(job->result, "reason");
		already = jobs_line_get(job->result, "already");
	}
	if (ex == 0 && job->result != NULL &&
	    strncmp(job->result, "result=ok", 9) == 0) {
		log_info("job id=%lld submitted instances=%d already=%s",
		    job->id, job->ninstances, already != NULL ? already : "?");
		spool_discard(job->jobs->edge->spool, job->dir);
		jobs_set(job, 40, already != NULL && strcmp(already, "1") == 0 ?
		    "already stored by an earlier attempt" :
		    "stored by the clearinghouse", -1, 0, NULL);
	} else {
		if (stage == NULL)
			status = -30;
		else if (strcmp(stage, "spec") == 0 ||
		    strcmp(stage, "build") == 0)
			status = -20;
		else if (strcmp(stage, "iti8") == 0)
			status = -32;
		else if (strcmp(stage, "iti41") == 0)
			status = -34;
		else
			status = -30;
		/* 75: may work later; a crash too; 1 and 2: never. */
		retry = ex == 75 || ex == -1;
		log_warnx("job id=%lld submit failed exit=%d stage=%s code=%s",
		    job->id, ex, stage != NULL ? stage : "-",
		    code != NULL ? code : "-");
		if (ex == -1)
			jobs_fail(job, status, retry, "isn-edge-submit killed "
			    "by signal %d", WIFSIGNALED(job->wstatus) ?
			    WTERMSIG(job->wstatus) : 0);
		else
			jobs_fail(job, status, retry, "isn-edge-submit exit "
			    "%d stage %s: %s%s%s", ex,
			    stage != NULL ? stage : "?",
			    code != NULL ? code : "no result",
			    why != NULL ? ": " : "", why != NULL ? why : "");
	}
	free(stage);
	free(code);
	free(why);
	free(already);
}

/* The helper's command line from the clearinghouse section. */
static char **
jobs_submit_argv(const struct edge_conf *c, const char *mode)
{
	const struct edge_clearinghouse	*h = &c->clearinghouse;
	char				**v;
	size_t				 n = 0;

	v = xcalloc(32, sizeof(*v));
#define ARG(s)	(v[n++] = xstrdup(s))
	ARG(c->jobs.submit_helper);
	ARG("--url"); ARG(h->url);
	ARG("--ca"); ARG(h->ca);
	ARG("--cert"); ARG(h->cert);
	ARG("--key"); ARG(h->key);
	ARG("--pix"); ARG(h->pix);
	ARG("--registry"); ARG(h->registry);
	ARG("--oid"); ARG(h->affinity_domain);
	ARG("--repository-uid"); ARG(h->repository_uid);
	if (h->source_id != NULL) {
		ARG("--source-id"); ARG(h->source_id);
	}
	if (h->registry_url != NULL) {
		ARG("--registry-url"); ARG(h->registry_url);
	}
	ARG("--sending-facility"); ARG(c->site.name);
	ARG("--timeout");
	xasprintf(&v[n++], "%lld", h->timeout);
	if (mode != NULL)
		ARG(mode);
#undef ARG
	return (v);
}

/*
 * The spec: identity (RSNA-ID and, under isn2, the content key unwrapped
 * here), accession, the stable submission uid, the report and the files.
 * The content key only passes through memory and the helper's stdin.
 */
static int
jobs_spec(struct jobs_job *job, const char *report, struct evbuffer *spec,
    char **cause)
{
	const struct edge_conf	*c = job->jobs->edge->conf;
	uint8_t			 kek[KEYWRAP_KEY_LEN], key[KEYWRAP_KEY_LEN];
	uint8_t			*wrapped;
	char			 uid[64], **files = NULL;
	size_t			 i, wlen;
	int			 n, rc;

	evbuffer_add_printf(spec, "scheme %s\nrsna_id %s\n", job->scheme,
	    job->rsna_id);
	if (strcmp(job->scheme, "isn2") == 0) {
		if (job->wrapped_hex == NULL) {
			xcause(cause, "the job set has no wrapped key");
			return (-1);
		}
		if (c->jobs.key_file == NULL) {
			xcause(cause, "jobs.key_file is not set");
			return (-1);
		}
		if (keywrap_load(c->jobs.key_file, kek, cause) == -1)
			return (-1);
		wlen = strlen(job->wrapped_hex) / 2;
		wrapped = xmalloc(wlen + 1);
		for (i = 0; i < wlen; i++) {
			unsigned int	b;

			sscanf(job->wrapped_hex + 2 * i, "%2x", &b);
			wrapped[i] = (uint8_t)b;
		}
		rc = keywrap_unwrap(kek, job->rsna_id, wrapped, wlen, key,
		    cause);
		explicit_bzero(kek, sizeof(kek));
		free(wrapped);
		if (rc == -1)
			return (-1);
		evbuffer_add_printf(spec, "content_key ");
		for (i = 0; i < sizeof(key); i++)
			evbuffer_add_printf(spec, "%02x", key[i]);
		evbuffer_add_printf(spec, "\n");
		explicit_bzero(key, sizeof(key));
	}
	jobs_submission_uid(job, uid);
	evbuffer_add_printf(spec, "accession %s\nsubmission_uid %s\n",
	    job->accession, uid);
	if (report != NULL)
		evbuffer_add_printf(spec, "report %s\n", report);
	if ((n = jobs_list_dcm(job->dir, &files)) <= 0) {
		xcause(cause, "the job's spool has no instance");
		return (-1);
	}
	job->ninstances = n;
	for (i = 0; i < (size_t)n; i++)
		evbuffer_add_printf(spec, "file %s\n", files[i]);
	jobs_strv_free(files, n);
	return (0);
}

/* Starts the helper; stdin and stdout are pipes to us. */
static int
jobs_fork(struct jobs_job *job, char **argv, char **cause)
{
	int	outfd, infd;
	pid_t	pid;

	if (child_spawn(argv, &outfd, &infd, &pid, cause) == -1)
		return (-1);
	job->pid = pid;
	job->eof = job->reaped = 0;
	job->out = bufferevent_socket_new(job->jobs->edge->base, outfd,
	    BEV_OPT_CLOSE_ON_FREE);
	job->in = bufferevent_socket_new(job->jobs->edge->base, infd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (job->out == NULL || job->in == NULL)
		fatalx("jobs: bufferevent_socket_new");
	bufferevent_setcb(job->out, jobs_sub_read, NULL, jobs_sub_outev, job);
	bufferevent_enable(job->out, EV_READ);
	bufferevent_setcb(job->in, NULL, jobs_sub_written, jobs_sub_inev, job);
	bufferevent_enable(job->in, EV_WRITE);
	return (0);
}

static void
jobs_argv_free(char **argv)
{
	size_t	i;

	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

/*
 * 32 (or 34 when the patient was registered during the retrieval): the
 * spec is ready; the helper registers if need be, then submits.
 */
static void
jobs_submit_start(struct jobs_job *job)
{
	char	*why = NULL, **argv;
	int	 rc;

	argv = jobs_submit_argv(job->jobs->edge->conf,
	    job->prereg == JOBS_PREREG_DONE ? "--registered" : NULL);
	if (job->prereg == JOBS_PREREG_DONE)
		job->registered = 1;
	rc = jobs_fork(job, argv, &why);
	jobs_argv_free(argv);
	if (rc == -1) {
		evbuffer_free(job->spec);
		job->spec = NULL;
		jobs_fail(job, -30, 1, "isn-edge-submit could not start: %s",
		    why);
		free(why);
		return;
	}
	bufferevent_write_buffer(job->in, job->spec);
	evbuffer_free(job->spec);
	job->spec = NULL;
	log_info("job id=%lld submitting instances=%d pid=%ld", job->id,
	    job->ninstances, (long)job->pid);
}

/*
 * The patient registration (ITI-18 check, ITI-8) needs only the RSNA-ID
 * and the set's uid, so it runs beside the C-MOVE in a helper of its own
 * (--register-only), and the sending run skips it (--registered). It
 * only saves time: when it fails, the sending run registers as before
 * and reports what went wrong in the job's history.
 */
static void
jobs_register_start(struct jobs_job *job)
{
	const struct edge_clearinghouse	*h =
	    &job->jobs->edge->conf->clearinghouse;
	struct evbuffer			*spec;
	char				*why = NULL, **argv, uid[64];
	int				 rc;

	job->prereg = JOBS_PREREG_NONE;
	if (h->url == NULL || job->pid > 0)
		return;
	argv = jobs_submit_argv(job->jobs->edge->conf, "--register-only");
	rc = jobs_fork(job, argv, &why);
	jobs_argv_free(argv);
	if (rc == -1) {
		log_warnx("job id=%lld registration could not start "
		    "cause=\"%s\"", job->id, why);
		free(why);
		return;
	}
	job->reg_running = 1;
	jobs_submission_uid(job, uid);
	if ((spec = evbuffer_new()) == NULL)
		fatalx("jobs: evbuffer_new");
	evbuffer_add_printf(spec, "scheme %s\nrsna_id %s\nsubmission_uid "
	    "%s\n", job->scheme, job->rsna_id, uid);
	bufferevent_write_buffer(job->in, spec);
	evbuffer_free(spec);
}

/* Its helper ended: note the outcome; a waiting submission goes on. */
static void
jobs_register_finish(struct jobs_job *job)
{
	char	*already = NULL;
	int	 ex;

	ex = WIFEXITED(job->wstatus) ? WEXITSTATUS(job->wstatus) : -1;
	if (ex == 0 && job->result != NULL &&
	    strncmp(job->result, "result=ok registered=1 ", 23) == 0 &&
	    (already = jobs_line_get(job->result, "already")) != NULL) {
		job->prereg = strcmp(already, "1") == 0 ?
		    JOBS_PREREG_STORED : JOBS_PREREG_DONE;
		log_info("job id=%lld patient registered beside the retrieval "
		    "already=%s", job->id, already);
	} else
		log_warnx("job id=%lld registration beside the retrieval "
		    "failed exit=%d: the submission registers", job->id, ex);
	free(already);
	free(job->result);
	job->result = NULL;
	bufferevent_free(job->out);
	job->out = NULL;
	if (job->in != NULL) {
		bufferevent_free(job->in);
		job->in = NULL;
	}
	job->pid = 0;
	job->eof = job->reaped = 0;
	job->reg_running = 0;
	if (job->submit_waiting) {
		job->submit_waiting = 0;
		jobs_submit_go(job);
	}
}

/* The spec is ready: send, unless the registration run is still on. */
static void
jobs_submit_go(struct jobs_job *job)
{
	if (job->reg_running) {
		job->submit_waiting = 1;
		return;
	}
	switch (job->prereg) {
	case JOBS_PREREG_STORED:
		evbuffer_free(job->spec);
		job->spec = NULL;
		log_info("job id=%lld submitted instances=%d already=1",
		    job->id, job->ninstances);
		spool_discard(job->jobs->edge->spool, job->dir);
		jobs_set(job, 40, "already stored by an earlier attempt", -1,
		    0, NULL);
		break;
	case JOBS_PREREG_DONE:
		jobs_set(job, 34, "patient registered during the retrieval; "
		    "submitting the documents", -1, 0, jobs_submit_start);
		break;
	default:
		jobs_set(job, 32, "registering the patient (ITI-8) and "
		    "submitting", -1, 0, jobs_submit_start);
	}
}

static void
jobs_report_done(PGresult *res, const char *cause, void *arg)
{
	struct jobs_job	*job = arg;
	char		*path = NULL, *why = NULL;
	const char	*text;
	int		 fd;

	job->writing = 0;
	if (job->jobs->closing) {
		jobs_job_free(job);
		return;
	}
	if (cause != NULL) {
		log_warnx("job id=%lld report query failed cause=\"%s\"",
		    job->id, cause);
		jobs_end(job);
		return;
	}
	/* The newest final text; for an immediate job any report. */
	if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)) {
		text = PQgetvalue(res, 0, 0);
		xasprintf(&path, "%s/report.txt", job->dir);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
		if (fd == -1 || write(fd, text, strlen(text)) !=
		    (ssize_t)strlen(text) || close(fd) == -1) {
			jobs_fail(job, -20, 1, "could not write the report "
			    "file: %s", strerror(errno));
			free(path);
			return;
		}
	}
	if ((job->spec = evbuffer_new()) == NULL)
		fatalx("jobs: evbuffer_new");
	if (jobs_spec(job, path, job->spec, &why) == -1) {
		evbuffer_free(job->spec);
		job->spec = NULL;
		free(path);
		jobs_fail(job, -20, 0, "%s", why);
		free(why);
		return;
	}
	free(path);
	jobs_submit_go(job);
}

static void
jobs_submit_spawn(struct jobs_job *job)
{
	char		 id[32];
	const char	*v[2];

	snprintf(id, sizeof(id), "%lld", job->id);
	v[0] = id;
	v[1] = job->urgency;
	job->writing = 1;
	db_query_prepared(job->jobs->edge->db,
	    "SELECT st.report_text FROM jobs j JOIN exams e ON e.id = "
	    "j.exam_id JOIN exam_status st ON st.exam_id = "
	    "coalesce(e.merged_into, e.id) WHERE j.id = $1::bigint AND "
	    "st.report_text IS NOT NULL AND (st.status IN ('final', "
	    "'corrected') OR $2::text = 'immediate') "
	    "ORDER BY st.status IN ('final', 'corrected') DESC, st.id DESC "
	    "LIMIT 1", 2, v, NULL, NULL, 0, jobs_report_done, job);
}

static void
jobs_submit(struct jobs_job *job)
{
	const struct edge_clearinghouse	*h =
	    &job->jobs->edge->conf->clearinghouse;

	if (h->url == NULL) {
		jobs_fail(job, -30, 1, "no clearinghouse configured");
		return;
	}
	jobs_set(job, 31, "preparing the submission (report, key, files)",
	    -1, 0, jobs_submit_spawn);
}

/* --- start, recovery, stop --- */

static void
jobs_recovered(PGresult *res, const char *cause, void *arg)
{
	struct jobs	*jobs = arg;

	if (jobs->closing)
		return;
	if (cause != NULL) {
		/* Orphans are picked anyway: 23 decides, 31-34 submit. */
		log_warnx("jobs recovery failed cause=\"%s\"", cause);
	} else
		log_info("jobs recovered=%d", PQntuples(res));
	jobs->recovered = 1;
	jobs_pick(jobs);
}

static int
jobs_mkdir(const char *path, char **cause)
{
	char	*p;

	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		xcause(cause, "%s: %s", path, strerror(errno));
		return (-1);
	}
	xasprintf(&p, "%s/" JOBS_SPOOL_JOBS, path);
	if (mkdir(p, 0700) == -1 && errno != EEXIST) {
		xcause(cause, "%s: %s", p, strerror(errno));
		free(p);
		return (-1);
	}
	free(p);
	return (0);
}

struct jobs *
jobs_new(struct edge *edge, char **cause)
{
	const struct edge_conf	*c = edge->conf;
	struct jobs		*jobs;
	struct dcmc_scp_conf	 sc;

	jobs = xcalloc(1, sizeof(*jobs));
	jobs->edge = edge;
	TAILQ_INIT(&jobs->running);
	if ((jobs->dcmc = dcmc_new(edge->base, c->dicom.helper)) == NULL) {
		xcause(cause, "could not start the DICOM client");
		free(jobs);
		return (NULL);
	}
	if (c->npacs > 0) {
		if (jobs_mkdir(c->dicom.spool_dir, cause) == -1) {
			dcmc_free(jobs->dcmc);
			free(jobs);
			return (NULL);
		}
		memset(&sc, 0, sizeof(sc));
		sc.ae_title = c->dicom.ae_title;
		sc.port = c->dicom.port;
		sc.spool = c->dicom.spool_dir;
		/*
		 * The spool only caches what the PACS holds: a crash sends
		 * the job back to retrieval (23 -> 1), so an fsync per
		 * received instance (half the C-MOVE's time, bench.sh) buys
		 * nothing.
		 */
		sc.no_fsync = 1;
		jobs->scp = dcmc_scp_start(jobs->dcmc, &sc, jobs_scp_event,
		    jobs, cause);
		if (jobs->scp == NULL) {
			dcmc_free(jobs->dcmc);
			free(jobs);
			return (NULL);
		}
	}
	jobs->sigchld = evsignal_new(edge->base, SIGCHLD, jobs_sigchld, jobs);
	jobs->poll = evtimer_new(edge->base, jobs_poll_cb, jobs);
	if (jobs->sigchld == NULL || jobs->poll == NULL ||
	    evsignal_add(jobs->sigchld, NULL) == -1)
		fatalx("jobs: could not create events");
	/* What a previous run left in flight starts over at a safe point. */
	db_query(edge->db,
	    "WITH r AS (SELECT id, status FROM jobs "
	    "WHERE status IN (23, 30, 31, 32, 33, 34)) "
	    "INSERT INTO job_history (job_id, status, reason) "
	    "SELECT id, CASE WHEN status = 23 THEN 1 ELSE 30 END, "
	    "'the edge restarted during status ' || status FROM r "
	    "RETURNING job_id", 0, NULL, NULL, NULL, 0, jobs_recovered, jobs);
	jobs_poll_arm(jobs);
	log_info("jobs started pacs=%zu scp=%s concurrency=%d", c->npacs,
	    jobs->scp != NULL ? "yes" : "no", c->jobs.concurrency);
	return (jobs);
}

void
jobs_stop(struct jobs *jobs)
{
	if (jobs == NULL)
		return;
	jobs->stopping = 1;
	evtimer_del(jobs->poll);
}

void
jobs_close(struct jobs *jobs)
{
	struct jobs_job	*job, *next;

	if (jobs == NULL)
		return;
	jobs_stop(jobs);
	jobs->closing = 1;
	/* Not at jobs_stop: a C-MOVE still running needs it. */
	if (jobs->scp != NULL) {
		dcmc_scp_stop(jobs->scp);
		jobs->scp = NULL;
	}
	/* Jobs waiting for the database are freed by its callbacks. */
	for (job = TAILQ_FIRST(&jobs->running); job != NULL; job = next) {
		next = TAILQ_NEXT(job, entry);
		if (!job->writing)
			jobs_job_free(job);
	}
}

void
jobs_free(struct jobs *jobs)
{
	struct jobs_job	*job;

	if (jobs == NULL)
		return;
	while ((job = TAILQ_FIRST(&jobs->running)) != NULL)
		jobs_job_free(job);
	event_free(jobs->poll);
	event_free(jobs->sigchld);
	dcmc_free(jobs->dcmc);
	free(jobs);
}
