/*
 * isnphr.h: libisnphr, the RSNA Image Share Network PHR client library.
 *
 * A PHR opens a connection profile (the clearinghouse URL, its client
 * certificate and key, the network's CA, the affinity domain), sets the
 * patient's details (scheme, token or access code, date of birth,
 * password), lists what the clearinghouse holds for that patient, and
 * retrieves all of it or one study into a directory: documents stream to
 * disk, are hash-checked and (isn2) decrypted on the way, verified, and
 * only then renamed into place. Memory stays bounded whatever the size.
 *
 * Every call that can fail returns 0 or -1 (or NULL); the reason, written
 * for a person, is isnphr_error(). Handles are not thread-safe: use one per
 * thread. See isn-phr(1) and docs/phr-developers.md.
 */
#ifndef ISNPHR_H
#define ISNPHR_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ISNPHR_VERSION		"0.1.0"
#define ISNPHR_DEFAULT_OID	"1.3.6.1.4.1.19376.3.840.1.1.1"

/* The message every failed lookup gives, whatever detail was wrong. */
#define ISNPHR_NOTHING_FOUND	"nothing found for these details"

struct isnphr;		/* a connection and a patient */
struct isnphr_list;	/* what the clearinghouse holds for the patient */

/* A connection profile; NULL or 0 members take the default. */
struct isnphr_profile {
	const char	*url;		/* https://host[:port] of the clearinghouse */
	const char	*ca_file;	/* the network's CA (PEM) */
	const char	*cert_file;	/* this PHR's client certificate (PEM) */
	const char	*key_file;	/* and its key (PEM) */
	const char	*affinity_oid;	/* ISNPHR_DEFAULT_OID */
	long		 connect_timeout;	/* seconds; 10 */
	long		 low_speed_time;	/* seconds under 1 KiB/s; 60 */
	int		 max_retries;	/* transient failures; 4 (-1: none) */
};

/* A new handle (NULL only when out of memory). */
struct isnphr	*isnphr_new(void);
void		 isnphr_free(struct isnphr *);
/* The last failure, for a person; "" when none. */
const char	*isnphr_error(const struct isnphr *);

/* Use this profile (copied). */
int		 isnphr_open(struct isnphr *, const struct isnphr_profile *);
/*
 * The same from a YAML file: url, ca, cert, key, affinity_domain,
 * connect_timeout, low_speed_time (durations), retries. Relative paths are
 * relative to the file.
 */
int		 isnphr_open_file(struct isnphr *, const char *path);

/*
 * Options, a bitwise or (default 0):
 * ISNPHR_OPT_KDF_IN_PROCESS  run the isn2 KDF (scrypt, 32 MiB) in the
 *     calling process. By default isnphr_set_patient forks a child that
 *     derives the RSNA-ID and key, hands them back through a pipe and
 *     exits, so the 32 MiB never count against the retrieving process.
 *     fork(2) in a program whose other threads may hold OpenSSL's locks
 *     can deadlock the child: a multithreaded application should set
 *     this option.
 * ISNPHR_OPT_SYNC  syncfs(2) the output directory's file system before
 *     index.json is written (durable across a power loss; it costs about
 *     as much as the transfer itself).
 * ISNPHR_OPT_NO_IMAGES  isnphr_retrieve fetches each study's report and
 *     KOS only (ITI-43; hash-checked, decrypted and verified as always),
 *     no image: a reader of the report before the images are wanted.
 *     index.json then lists no instances.
 */
#define ISNPHR_OPT_KDF_IN_PROCESS	0x01u
#define ISNPHR_OPT_SYNC			0x02u
#define ISNPHR_OPT_NO_IMAGES		0x04u
void		 isnphr_set_options(struct isnphr *, unsigned int);

/*
 * The patient: scheme "isn2", "rsna-token" or "rsna-access-code"; secret
 * is the token (or the access code); dob YYYY-MM-DD or YYYYMMDD; password
 * NULL for rsna-access-code. Computes the RSNA-ID (isn2 is deliberately
 * slow: up to a second and 32 MiB, in a child process unless
 * ISNPHR_OPT_KDF_IN_PROCESS) and keeps the content key, wiped by
 * isnphr_free.
 */
int		 isnphr_set_patient(struct isnphr *, const char *scheme,
		    const char *secret, const char *dob, const char *password);
/* The RSNA-ID (lower-case hex), or NULL before isnphr_set_patient. */
const char	*isnphr_rsna_id(const struct isnphr *);

/* Progress: called as bytes arrive and after each document. */
struct isnphr_progress {
	uint64_t	 bytes;		/* received so far */
	uint64_t	 bytes_total;	/* as the registry announced them */
	size_t		 docs;		/* documents written or skipped */
	size_t		 docs_total;
	const char	*study;		/* current study UID */
};
/* Return nonzero to cancel: the running call fails with "cancelled". */
typedef int (*isnphr_progress_cb)(const struct isnphr_progress *, void *);
void		 isnphr_set_progress(struct isnphr *, isnphr_progress_cb,
		    void *);

/* What a list holds. Strings and arrays live as long as the list. */
struct isnphr_series_info {
	const char	*uid;
	size_t		 ninstances;
	uint64_t	 bytes;		/* stored (encrypted) bytes */
};

struct isnphr_study_info {
	const char			*uid;
	int				 has_report;
	int				 has_kos;
	size_t				 ninstances;
	size_t				 nseries;
	const struct isnphr_series_info	*series;
};

struct isnphr_set_info {
	const char			*uid;		/* SubmissionSet uniqueId */
	time_t				 submitted;	/* submissionTime */
	time_t				 expires;	/* 0 when not announced */
	const char			*encryption;	/* "isn2" or "none" */
	size_t				 nstudies;
	const struct isnphr_study_info	*studies;
};

/*
 * ITI-18 FindSubmissionSets (Approved) for the patient, then
 * GetSubmissionSetAndContents for each. Nothing at all is an error:
 * ISNPHR_NOTHING_FOUND.
 */
int		 isnphr_list(struct isnphr *, struct isnphr_list **);
size_t		 isnphr_list_nsets(const struct isnphr_list *);
const struct isnphr_set_info *isnphr_list_set(const struct isnphr_list *,
		    size_t);
void		 isnphr_list_free(struct isnphr_list *);

/*
 * Retrieve everything (study NULL) or one study into dir (created when
 * missing): dir/<study>/<series>/<sop>.dcm, dir/<study>/report.txt,
 * dir/<study>/kos.dcm and dir/index.json (no images under
 * ISNPHR_OPT_NO_IMAGES). Files already there and verified are skipped.
 * -1 when anything failed: what did verify is written and listed in
 * index.json, what did not is not written.
 */
int		 isnphr_retrieve(struct isnphr *, const char *dir,
		    const char *study);
/*
 * The same from a list isnphr_list gave this handle (for the same
 * patient), which stays the caller's to free: a program that lists
 * before it retrieves saves the clearinghouse a second listing. A list
 * can be retrieved from again (another study, or after a failure).
 */
int		 isnphr_retrieve_list(struct isnphr *, struct isnphr_list *,
		    const char *dir, const char *study);
/* Counts of the last retrieve. */
size_t		 isnphr_retrieved(const struct isnphr *);
size_t		 isnphr_skipped(const struct isnphr *);
size_t		 isnphr_failed(const struct isnphr *);

#ifdef __cplusplus
}
#endif

#endif
