/*
 * dcm_shim.h: the plain C face of DCMTK for isn-edge-dicom (the only C++
 * in the edge is dcm_shim.cc). Every call blocks on the network; the
 * helper process runs one per operation so the daemon's loop never does.
 * Strings passed in are NUL-terminated; strings passed to callbacks live
 * only for the call. No C++ exception crosses this boundary.
 */
#ifndef ISN_DCM_SHIM_H
#define ISN_DCM_SHIM_H

#include <signal.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DCM_REASON_MAX	256

/* An association to a peer (an SCU operation). Timeouts in seconds. */
struct dcm_assoc {
	const char	*our_ae;
	const char	*peer_ae;
	const char	*host;
	int		 port;
	int		 connect_timeout;
	int		 acse_timeout;
	int		 dimse_timeout;
};

/*
 * How an operation ended. status is the last DIMSE status (-1 when none
 * arrived: no association, network failure); reason says why in words
 * without patient data.
 */
struct dcm_result {
	int	status;
	char	reason[DCM_REASON_MAX];
};

/* Sets up logging (verbose: 0 quiet, 1 info, 2 debug, to stderr), the
 * codecs, TCP_NODELAY; checks the data dictionary. -1 on failure. */
int	dcm_init(int verbose, struct dcm_result *);
void	dcm_cleanup(void);

/* The return value of the operations below. */
#define DCM_OK		0	/* done, DIMSE success */
#define DCM_FAILED	1	/* the peer answered with a failure/warning */
#define DCM_ERROR	2	/* no answer: association, network, local */

int	dcm_echo(const struct dcm_assoc *, struct dcm_result *);

/* C-FIND at STUDY level, Study Root. NULL or "" keys are not matched. */
struct dcm_find_keys {
	const char	*patient_id;
	const char	*accession;
	const char	*study_uid;
};
/* One matching study; absent values are NULL. */
struct dcm_study {
	const char	*study_uid;
	const char	*accession;
	const char	*patient_id;
	const char	*patient_name;
	const char	*study_date;
	const char	*study_time;
	const char	*modalities;		/* backslash-separated */
	const char	*instances;		/* NumberOfStudyRelatedInstances */
	const char	*series;		/* NumberOfStudyRelatedSeries */
	const char	*description;
};
typedef void	(*dcm_study_cb)(void *, const struct dcm_study *);
int	dcm_find(const struct dcm_assoc *, const struct dcm_find_keys *,
	    dcm_study_cb, void *, struct dcm_result *);

/* C-MOVE of one study; progress per response (pending and final). */
struct dcm_move_counts {
	int	status;
	int	remaining;	/* 0 when the peer did not say */
	int	completed;
	int	failed;
	int	warning;
};
typedef void	(*dcm_move_cb)(void *, const struct dcm_move_counts *);
int	dcm_move(const struct dcm_assoc *, const char *dest_ae,
	    const char *study_uid, dcm_move_cb, void *,
	    struct dcm_move_counts *final, struct dcm_result *);

/* C-STORE SCU: one callback per file, in order. */
struct dcm_sent {
	const char	*path;
	const char	*sop_class;	/* NULL when the file was unreadable */
	const char	*sop_instance;
	const char	*ts;		/* of the file */
	const char	*sent_ts;	/* as sent; NULL when not sent */
	int		 status;	/* DIMSE status, -1 when not sent */
	const char	*reason;	/* NULL on success */
};
typedef void	(*dcm_sent_cb)(void *, const struct dcm_sent *);
int	dcm_store(const struct dcm_assoc *, const char *const *paths,
	    size_t npaths, dcm_sent_cb, void *, struct dcm_result *);
/*
 * Reconciliation for the stores that follow (NULL or "": keep): the
 * local patient ID and accession replace the file's, the original
 * patient ID goes into Other Patient IDs Sequence (import.md).
 */
void	dcm_store_rewrite(const char *patient_id, const char *accession);

/* C-STORE SCP into spool/<study>/<sop>.dcm; returns after *stop. */
struct dcm_scp_conf {
	const char	*ae;
	int		 port;
	const char	*spool;
	int		 max_assocs;	/* concurrent associations */
	int		 acse_timeout;
	int		 dimse_timeout;
	int		 fsync;		/* fsync each file before rename */
};
struct dcm_stored {
	const char	*study_uid;
	const char	*series_uid;
	const char	*sop_instance;
	const char	*sop_class;
	const char	*ts;
	const char	*path;		/* final name */
	long long	 size;
	const char	*calling_ae;
	int		 status;	/* as answered */
	const char	*reason;	/* NULL when stored */
};
/* Called from the SCP's worker threads: the callee serialises. */
typedef void	(*dcm_stored_cb)(void *, const struct dcm_stored *);
/* Called once the port listens. */
typedef void	(*dcm_ready_cb)(void *);
int	dcm_scp(const struct dcm_scp_conf *, dcm_stored_cb, dcm_ready_cb,
	    void *, volatile sig_atomic_t *stop, struct dcm_result *);

#ifdef __cplusplus
}
#endif

#endif
