/*
 * dcmc.h: the daemon's asynchronous DICOM client. Each operation runs the
 * helper isn-edge-dicom in a child process (its own process group) and
 * reads its event lines through a bufferevent, so nothing here blocks the
 * event loop. Callbacks run on the loop. How many operations run at once
 * is the caller's business. docs/design/dcmhelper.md has the line format.
 *
 * An operation ends with exactly one done callback, unless cancelled
 * first; after the done callback returns the op pointer is invalid.
 * dcmc_free kills what still runs, without callbacks (stop the SCP with
 * dcmc_scp_stop first); never call it from a callback. dcmc installs a
 * SIGCHLD event on the base and reaps only its own children by pid.
 */
#ifndef ISN_DCMC_H
#define ISN_DCMC_H

#include <sys/types.h>

#include <stddef.h>

struct event_base;
struct dcmc;
struct dcmc_op;
struct dcmc_scp;

struct dcmc_peer {
	const char	*ae_title;
	const char	*host;
	int		 port;
};

/* One line of the helper: its type and decoded key=value fields. */
#define DCMC_MAX_FIELDS	24
struct dcmc_event {
	const char	*type;	/* study, progress, sent, stored, refused,
				   ready, result; "down" from dcmc_scp */
	size_t		 n;
	const char	*key[DCMC_MAX_FIELDS];
	const char	*value[DCMC_MAX_FIELDS];
};
/* The value of a field, NULL when absent. */
const char	*dcmc_event_get(const struct dcmc_event *, const char *key);

#define DCMC_OK		0	/* DIMSE success */
#define DCMC_FAILED	1	/* the peer answered with a failure */
#define DCMC_ERROR	2	/* no answer: network, timeout, helper died */
struct dcmc_result {
	int			 status;	/* DCMC_* */
	int			 dimse;		/* last DIMSE status, or -1 */
	const char		*cause;		/* why, when not DCMC_OK */
	const struct dcmc_event	*fields;	/* the result line, or NULL */
};

typedef void	(*dcmc_event_cb)(struct dcmc_op *, const struct dcmc_event *,
		    void *);
typedef void	(*dcmc_done_cb)(struct dcmc_op *, const struct dcmc_result *,
		    void *);

struct dcmc	*dcmc_new(struct event_base *, const char *helper_path);
void		 dcmc_free(struct dcmc *);
/* Seconds; 0 keeps the helper's default (10, 30, 120). */
void		 dcmc_set_timeouts(struct dcmc *, int connect, int acse,
		    int dimse);
/* Passes -v to helpers: DCMTK's INFO level to our stderr (association
 * events, no patient data; -vv, by hand only, dumps datasets). */
void		 dcmc_set_verbose(struct dcmc *, int);

/* Each returns NULL with *cause set when the helper cannot be started. */
struct dcmc_op	*dcmc_echo(struct dcmc *, const struct dcmc_peer *,
		    const char *our_ae, dcmc_done_cb, void *, char **cause);

/* Study-level C-FIND; NULL keys are not matched, at least one is set.
 * One "study" event per match. */
struct dcmc_find_keys {
	const char	*mrn;
	const char	*accession;
	const char	*study_uid;
};
struct dcmc_op	*dcmc_find(struct dcmc *, const struct dcmc_peer *,
		    const char *our_ae, const struct dcmc_find_keys *,
		    dcmc_event_cb, dcmc_done_cb, void *, char **cause);

/* C-MOVE of a study to dest_ae; "progress" events, counts in the
 * result fields (completed, failed, warning). */
struct dcmc_op	*dcmc_move(struct dcmc *, const struct dcmc_peer *,
		    const char *our_ae, const char *dest_ae,
		    const char *study_uid, dcmc_event_cb, dcmc_done_cb,
		    void *, char **cause);

/* C-STORE of files (the list goes through the helper's stdin); one
 * "sent" event per file with ok=1 or ok=0 and a reason. */
struct dcmc_op	*dcmc_store(struct dcmc *, const struct dcmc_peer *,
		    const char *our_ae, const char *const *paths, size_t n,
		    dcmc_event_cb, dcmc_done_cb, void *, char **cause);

/* The same, with the local patient ID and accession replacing the
 * files' (reconciliation; NULL keeps), the original ID kept in Other
 * Patient IDs Sequence. */
struct dcmc_op	*dcmc_store_local(struct dcmc *, const struct dcmc_peer *,
		    const char *our_ae, const char *const *paths, size_t n,
		    const char *patient_id, const char *accession,
		    dcmc_event_cb, dcmc_done_cb, void *, char **cause);

/* Kills the helper's process group; no callback follows. */
void		 dcmc_cancel(struct dcmc_op *);
pid_t		 dcmc_op_pid(const struct dcmc_op *);

/*
 * The storage SCP: a helper kept running, restarted with backoff (1 s
 * doubling to 60 s) when it dies. Events: "ready" each time it listens,
 * "stored" and "refused" per instance, "down" (field reason) when it
 * died. The op passed to the callback is the current helper.
 */
struct dcmc_scp_conf {
	const char	*ae_title;
	int		 port;
	const char	*spool;
	int		 max_associations;	/* 0: helper default (16) */
	int		 no_fsync;
};
struct dcmc_scp	*dcmc_scp_start(struct dcmc *, const struct dcmc_scp_conf *,
		    dcmc_event_cb, void *, char **cause);
/* SIGTERM to the helper (it finishes current associations within ~1 s
 * and is reaped later); no callback follows. */
void		 dcmc_scp_stop(struct dcmc_scp *);
pid_t		 dcmc_scp_pid(const struct dcmc_scp *);

#endif
