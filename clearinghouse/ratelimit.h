/*
 * ratelimit.h: failed-lookup rate limiting per client certificate
 * (PROFILE.md section 6). See docs/design/ratelimit.md.
 *
 * A token bucket per key (the peer certificate's SHA-256 fingerprint):
 * each failed lookup (a query that found nothing for its patient, a
 * retrieve of an unknown document) takes one token; tokens come back at
 * per_minute per minute up to burst. A peer is refused lookups while its
 * bucket holds less than one token. A key never seen, or whose bucket has
 * refilled, has no entry: entries exist only for peers that failed
 * recently, at most max_keys of them (the least recently used is evicted,
 * so a flood of new certificates cannot grow memory; all entries are
 * allocated up front).
 *
 * The clock is passed in (seconds, any epoch): no call reads it, so tests
 * are deterministic. Time going backwards refills nothing and is taken as
 * the new reference. Not thread-safe (one per event loop).
 */
#ifndef ISN_RATELIMIT_H
#define ISN_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define RATELIMIT_KEY_MAX	96	/* bytes of a key kept, with NUL */
#define RATELIMIT_MAX_RATE	1000000	/* per_minute and burst ceiling */
#define RATELIMIT_MAX_KEYS	(1 << 20)
#define RATELIMIT_DEFAULT_KEYS	4096

struct ratelimit_settings {
	unsigned int	per_minute;	/* refill; 0: no limit at all */
	unsigned int	burst;		/* bucket size; 0: per_minute */
	size_t		max_keys;	/* entries; 0: RATELIMIT_DEFAULT_KEYS */
};

struct ratelimit_stats {
	size_t		keys;		/* entries now */
	uint64_t	failures;	/* ratelimit_fail calls counted */
	uint64_t	refusals;	/* ratelimit_allowed answered 0 */
	uint64_t	evictions;	/* entries dropped at the cap */
	uint64_t	expiries;	/* entries dropped once refilled */
};

struct ratelimit;

/* NULL and *cause (caller frees) when a setting is out of range. */
struct ratelimit *ratelimit_new(const struct ratelimit_settings *,
		    char **cause);
void		 ratelimit_free(struct ratelimit *);
/*
 * New rate and burst (a reload); entries are kept, their tokens capped at
 * the new burst. max_keys cannot change (ignored). -1 and *cause when out
 * of range (nothing changes).
 */
int		 ratelimit_configure(struct ratelimit *,
		    const struct ratelimit_settings *, char **cause);

/* 1 when the peer may make a lookup now, 0 when it is refused. */
int		 ratelimit_allowed(struct ratelimit *, const char *key,
		    time_t now);
/*
 * Records one failed lookup. Returns 1 if the peer is still allowed
 * afterwards, 0 if this failure used its last token.
 */
int		 ratelimit_fail(struct ratelimit *, const char *key, time_t now);
/*
 * Seconds until the peer is allowed again (>= 1 when refused), 0 when it
 * is allowed now: the value of a Retry-After header.
 */
time_t		 ratelimit_retry_after(struct ratelimit *, const char *key,
		    time_t now);
/* Drops the entries that have refilled by now (also done by each call). */
void		 ratelimit_expire(struct ratelimit *, time_t now);
void		 ratelimit_stats(struct ratelimit *, struct ratelimit_stats *);

#endif
