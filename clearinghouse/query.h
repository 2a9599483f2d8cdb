/*
 * query.h: ITI-18 Registry Stored Query answered from the PostgreSQL
 * registry (schemas/clearinghouse/0001-registry.sql).  See
 * docs/design/query.md.
 *
 * query_run takes a stored query parsed by sq_parse (shared/sq.h), builds
 * one parameterised SQL statement from fixed fragments chosen by which
 * parameters are present (every value is bound with db_query, never
 * spliced into the SQL), runs it on the pool and hands the
 * query:AdhocQueryResponse body (no XML declaration) to the callback.
 *
 * All 14 ITI-18 stored queries are answered (ITI-51 is refused by sq).
 * FindSubmissionSets with $XDSSubmissionSetIntendedRecipient answers
 * Failure with XDSRegistryError (recipients are not stored).
 *
 * Rules: submission sets whose expires_at <= now (the clock is an
 * argument) and everything in them are invisible; a result of more than
 * limit objects (LeafClass) or max_refs ids (ObjectRef) is Failure with
 * XDSTooManyResults; LeafClass objects of more than one patient are
 * Failure with XDSResultNotSinglePatient.  LeafClass objects are the
 * stored ebrim with status (the row's current status), lid and, when
 * configured, home set.
 *
 * Merged patients (ITI-8 A40, patients.merged_into): a query by patient
 * ID finds the objects of that patient and of every patient merged into
 * it (chains up to QUERY_MERGE_DEPTH steps); a query by the ID of a
 * patient merged into another finds nothing.  Objects of merged patients
 * count as their survivor's for the single-patient rule and their
 * LeafClass patientId is the survivor's CX.
 *
 * The callback runs exactly once, always from the event loop (never from
 * inside query_run).  body/len is always a complete AdhocQueryResponse
 * (Success or Failure) owned by query and freed when the callback
 * returns.  cause is NULL unless something failed inside the registry
 * (database error, an unreadable stored object, response too large): it
 * is for the log (no patient data), the wire only gets a generic
 * XDSRegistryError.
 */
#ifndef ISN_QUERY_H
#define ISN_QUERY_H

#include <stddef.h>
#include <time.h>

#include "sq.h"
#include "xdsmsg.h"

#define QUERY_DEFAULT_LIMIT	1000		/* LeafClass objects */
#define QUERY_DEFAULT_MAX_REFS	100000		/* ObjectRef ids */
#define QUERY_DEFAULT_MAX_BODY	(64 * 1024 * 1024)	/* response bytes */
#define QUERY_MERGE_DEPTH	16		/* merged_into steps followed */

#define QUERY_ERR_TOO_MANY	"XDSTooManyResults"
#define QUERY_ERR_NOT_SINGLE	"XDSResultNotSinglePatient"

struct event_base;
struct db;

struct query_settings {
	int		 limit;		/* 0: QUERY_DEFAULT_LIMIT */
	int		 max_refs;	/* 0: QUERY_DEFAULT_MAX_REFS */
	size_t		 max_body;	/* 0: QUERY_DEFAULT_MAX_BODY */
	const char	*home;		/* homeCommunityId for objects, or NULL */
};

/*
 * nfound: the objects the query matched (0: nothing for these parameters,
 * the caller's failed lookup), or -1 when it failed before matching
 * (parameter errors, the registry, too many results).
 */
typedef void (*query_cb)(const char *body, size_t len, long nfound,
    const char *cause, void *arg);

/*
 * q and settings are only read during the call.  A query with parse errors
 * (sq_nerrors > 0) is answered with those errors.
 */
void	query_run(struct event_base *, struct db *,
	    const struct query_settings *, const struct sq_query *q,
	    enum xdsmsg_return, time_t now, query_cb, void *arg);

/*
 * One stored object's ebRIM text (len bytes and a NUL, as libpq gives it)
 * appended to a LeafClass answer's RegistryObjectList, with status, lid
 * and home (when not NULL) set, and the surviving patient's CX as its
 * patientId when survivor is not NULL.  Exported for test_query and the
 * leaf fuzzer.
 */
struct dbuf;
int	query_leaf_add(struct dbuf *, const char *ebrim, size_t len,
	    const char *status, const char *lid, const char *home,
	    const char *survivor, char **cause);

#endif
