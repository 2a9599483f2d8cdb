/*
 * jobs.h: the edge's job runner (docs/design/jobs.md). It polls the
 * edge database for jobs that are due, decides by urgency and the exam's
 * report history whether to wait or send, retrieves the study from a
 * PACS through dcmc (C-ECHO, C-FIND, C-MOVE into the edge's own storage
 * SCP) and submits it through isn-edge-submit, recording every status
 * (rsna-edge.md 6.2 codes) with its reason in job_history.
 */
#ifndef ISN_JOBS_H
#define ISN_JOBS_H

struct edge;
struct jobs;

/*
 * Starts the storage SCP (when a PACS is configured), recovers jobs a
 * previous run left in flight (23 -> 1, 31..34 -> 30) and then polls
 * every jobs.poll_interval. NULL and *cause (malloc'd) on failure.
 */
struct jobs	*jobs_new(struct edge *, char **cause);
/* Graceful stop: no new jobs are picked; running ones go on. */
void		 jobs_stop(struct jobs *);
/*
 * Before db_free: kills the helpers still running and marks the runner
 * closing, so that the database callbacks db_free runs only free.
 */
void		 jobs_close(struct jobs *);
/* After db_free. */
void		 jobs_free(struct jobs *);
/* Polls now (a new job or a RIS status may have made a job due). */
void		 jobs_kick(struct jobs *);
/*
 * Staff cancelled job id (its -21 is committed): a run in flight stops
 * (helper killed, C-MOVE aborted, spool removed) without another write.
 */
void		 jobs_cancelled(struct jobs *, long long);

#endif
