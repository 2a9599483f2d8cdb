/*
 * test_ratelimit.c: the failed-lookup token buckets (ratelimit.c) with an
 * explicit clock.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"
#include "tap.h"

#define FP_A	"3f1c9a0b6d2e4f5a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c"
#define FP_B	"aa1c9a0b6d2e4f5a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c"

static struct ratelimit *
rl_make(unsigned int per_minute, unsigned int burst, size_t max_keys)
{
	struct ratelimit_settings	 s;
	struct ratelimit		*rl;
	char				*cause = NULL;

	memset(&s, 0, sizeof(s));
	s.per_minute = per_minute;
	s.burst = burst;
	s.max_keys = max_keys;
	if ((rl = ratelimit_new(&s, &cause)) == NULL) {
		printf("Bail out! ratelimit_new: %s\n", cause);
		exit(1);
	}
	return (rl);
}

static size_t
rl_keys(struct ratelimit *rl)
{
	struct ratelimit_stats	st;

	ratelimit_stats(rl, &st);
	return (st.keys);
}

static void
test_settings(void)
{
	struct ratelimit_settings	 s;
	struct ratelimit		*rl;
	char				*cause = NULL;

	memset(&s, 0, sizeof(s));
	s.per_minute = RATELIMIT_MAX_RATE + 1;
	rl = ratelimit_new(&s, &cause);
	ok(rl == NULL && cause != NULL && strstr(cause, "per minute") != NULL,
	    "a rate above the ceiling is refused with a cause");
	free(cause);
	cause = NULL;
	s.per_minute = 10;
	s.burst = RATELIMIT_MAX_RATE + 1;
	rl = ratelimit_new(&s, &cause);
	ok(rl == NULL && cause != NULL && strstr(cause, "burst") != NULL,
	    "a burst above the ceiling is refused");
	free(cause);
	cause = NULL;
	s.burst = 0;
	s.max_keys = RATELIMIT_MAX_KEYS + 1;
	rl = ratelimit_new(&s, &cause);
	ok(rl == NULL && cause != NULL, "a table above the ceiling is refused");
	free(cause);
	cause = NULL;

	/* Burst 0 means per_minute tokens. */
	rl = rl_make(3, 0, 0);
	ok(ratelimit_fail(rl, FP_A, 100) == 1 &&
	    ratelimit_fail(rl, FP_A, 100) == 1 &&
	    ratelimit_fail(rl, FP_A, 100) == 0,
	    "burst 0 defaults to the per-minute rate");
	ratelimit_free(rl);

	/* per_minute 0: no limit, no entries. */
	rl = rl_make(0, 5, 0);
	ok(ratelimit_fail(rl, FP_A, 1) == 1 && ratelimit_fail(rl, FP_A, 1) == 1,
	    "rate 0 disables the limit: failures keep the peer allowed");
	ok(ratelimit_allowed(rl, FP_A, 1) == 1 &&
	    ratelimit_retry_after(rl, FP_A, 1) == 0 && rl_keys(rl) == 0,
	    "rate 0 keeps no entry and never refuses");
	ratelimit_free(rl);
	ratelimit_free(NULL);
}

static void
test_burst_refill(void)
{
	struct ratelimit	*rl;
	struct ratelimit_stats	 st;

	/* 6 a minute: one token every 10 s; burst 3. */
	rl = rl_make(6, 3, 0);
	ok(ratelimit_allowed(rl, FP_A, 1000) == 1 &&
	    ratelimit_retry_after(rl, FP_A, 1000) == 0 && rl_keys(rl) == 0,
	    "an unknown peer is allowed and has no entry");
	is_int(ratelimit_fail(rl, FP_A, 1000), 1, "failure 1 of 3: allowed");
	is_int(ratelimit_fail(rl, FP_A, 1000), 1, "failure 2 of 3: allowed");
	ok(ratelimit_allowed(rl, FP_A, 1000) == 1,
	    "allowed with one token left");
	is_int(ratelimit_fail(rl, FP_A, 1000), 0,
	    "failure 3 of 3 uses the last token");
	is_int(ratelimit_allowed(rl, FP_A, 1000), 0, "then refused");
	is_int(ratelimit_retry_after(rl, FP_A, 1000), 10,
	    "retry after one refill period (10 s)");
	is_int(ratelimit_allowed(rl, FP_A, 1005), 0, "still refused after 5 s");
	is_int(ratelimit_retry_after(rl, FP_A, 1005), 5, "retry after 5 s");
	is_int(ratelimit_allowed(rl, FP_A, 1009), 0, "refused after 9 s");
	is_int(ratelimit_retry_after(rl, FP_A, 1009), 1, "retry after 1 s");
	is_int(ratelimit_allowed(rl, FP_A, 1010), 1,
	    "one token back after 10 s");
	is_int(ratelimit_retry_after(rl, FP_A, 1010), 0, "retry after 0");
	is_int(ratelimit_fail(rl, FP_A, 1010), 0,
	    "a failure then uses it up again");
	is_int(ratelimit_allowed(rl, FP_A, 1019), 0, "refused until 1020");
	ok(ratelimit_allowed(rl, FP_A, 1020) == 1 && rl_keys(rl) == 1,
	    "allowed at 1020, the entry still owes 2 tokens");
	ok(ratelimit_fail(rl, FP_A, 1040) == 1 &&
	    ratelimit_fail(rl, FP_A, 1040) == 1 &&
	    ratelimit_fail(rl, FP_A, 1040) == 0,
	    "refills up to the burst, not beyond (3 after 20 s more)");
	ok(ratelimit_fail(rl, FP_A, 10000) == 1 &&
	    ratelimit_fail(rl, FP_A, 10000) == 1 &&
	    ratelimit_fail(rl, FP_A, 10000) == 0,
	    "a long idle time gives the burst, not more");
	ratelimit_stats(rl, &st);
	ok(st.failures == 10 && st.refusals == 4,
	    "stats count failures and refusals (%llu, %llu)",
	    (unsigned long long)st.failures, (unsigned long long)st.refusals);
	ratelimit_free(rl);
}

static void
test_expiry(void)
{
	struct ratelimit	*rl;
	struct ratelimit_stats	 st;

	rl = rl_make(60, 2, 0);		/* one token a second */
	(void)ratelimit_fail(rl, FP_A, 50);	/* refilled at 51 */
	(void)ratelimit_fail(rl, FP_B, 50);
	(void)ratelimit_fail(rl, FP_B, 50);	/* refilled at 52 */
	is_int((long long)rl_keys(rl), 2, "two peers that failed: two entries");
	ratelimit_expire(rl, 50);
	is_int((long long)rl_keys(rl), 2, "nothing expires before refilling");
	ratelimit_expire(rl, 51);
	is_int((long long)rl_keys(rl), 1,
	    "the first peer's entry expires once refilled");
	ok(ratelimit_allowed(rl, "someone else", 52) == 1 && rl_keys(rl) == 0,
	    "any call expires refilled entries");
	ratelimit_stats(rl, &st);
	ok(st.expiries == 2 && st.evictions == 0, "two expiries, no eviction");
	(void)ratelimit_fail(rl, FP_A, 60);
	ok(ratelimit_allowed(rl, FP_A, 61) == 1 && rl_keys(rl) == 0,
	    "a lookup that finds the bucket refilled drops the entry");
	ratelimit_free(rl);
}

static void
test_isolation(void)
{
	struct ratelimit	*rl;

	rl = rl_make(1, 2, 0);
	(void)ratelimit_fail(rl, FP_A, 0);
	(void)ratelimit_fail(rl, FP_A, 0);
	ok(ratelimit_allowed(rl, FP_A, 0) == 0, "peer A exhausted its burst");
	ok(ratelimit_allowed(rl, FP_B, 0) == 1 &&
	    ratelimit_retry_after(rl, FP_B, 0) == 0,
	    "peer B is not affected");
	is_int(ratelimit_fail(rl, FP_B, 0), 1, "B's first failure: allowed");
	ok(ratelimit_allowed(rl, FP_B, 0) == 1 &&
	    ratelimit_retry_after(rl, FP_A, 0) == 60,
	    "B still allowed, A still owes 60 s");
	ok(ratelimit_allowed(rl, "3F1C9A0B", 0) == 1 &&
	    ratelimit_allowed(rl, "", 0) == 1 &&
	    ratelimit_allowed(rl, NULL, 0) == 1,
	    "other keys (case differs, empty, NULL) are separate");
	(void)ratelimit_fail(rl, NULL, 0);
	(void)ratelimit_fail(rl, NULL, 0);
	ok(ratelimit_allowed(rl, NULL, 0) == 0 &&
	    ratelimit_allowed(rl, "", 0) == 0,
	    "a NULL key counts as the empty key");
	ratelimit_free(rl);
}

static void
test_long_keys(void)
{
	struct ratelimit	*rl;
	char			 a[200], b[200];

	memset(a, 'x', sizeof(a) - 1);
	a[sizeof(a) - 1] = '\0';
	memcpy(b, a, sizeof(b));
	b[150] = 'y';
	rl = rl_make(1, 1, 0);
	(void)ratelimit_fail(rl, a, 0);
	ok(ratelimit_allowed(rl, b, 0) == 0,
	    "keys longer than %d bytes share the bucket of their prefix "
	    "(stricter, never looser)", RATELIMIT_KEY_MAX - 1);
	ratelimit_free(rl);
}

static void
test_eviction(void)
{
	struct ratelimit	*rl;
	struct ratelimit_stats	 st;
	char			 key[72];
	int			 i, refused;

	rl = rl_make(1, 1, 4);		/* one failure exhausts a peer */
	for (i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "peer-%d", i);
		(void)ratelimit_fail(rl, key, 100);
	}
	is_int((long long)rl_keys(rl), 4, "four peers fill the table of 4");
	ok(ratelimit_allowed(rl, "peer-0", 101) == 0,
	    "peer-0 is refused (and becomes the most recently used)");
	(void)ratelimit_fail(rl, "peer-4", 102);
	ratelimit_stats(rl, &st);
	ok(st.keys == 4 && st.evictions == 1,
	    "a fifth peer evicts one entry, the table stays at 4");
	ok(ratelimit_allowed(rl, "peer-1", 102) == 1,
	    "the least recently used peer (peer-1) was evicted");
	ok(ratelimit_allowed(rl, "peer-0", 102) == 0 &&
	    ratelimit_allowed(rl, "peer-2", 102) == 0 &&
	    ratelimit_allowed(rl, "peer-3", 102) == 0 &&
	    ratelimit_allowed(rl, "peer-4", 102) == 0,
	    "the others are still refused");
	ratelimit_free(rl);

	/* A flood of new certificates: memory stays at the cap. */
	rl = rl_make(1, 1, 0);
	for (i = 0; i < 100000; i++) {
		snprintf(key, sizeof(key), "%064x", i);
		(void)ratelimit_fail(rl, key, 1000);
	}
	ratelimit_stats(rl, &st);
	ok(st.keys == RATELIMIT_DEFAULT_KEYS &&
	    st.evictions == 100000 - RATELIMIT_DEFAULT_KEYS,
	    "100000 new keys: %zu entries (cap %d), %llu evictions", st.keys,
	    RATELIMIT_DEFAULT_KEYS, (unsigned long long)st.evictions);
	refused = 0;
	for (i = 100000 - RATELIMIT_DEFAULT_KEYS; i < 100000; i++) {
		snprintf(key, sizeof(key), "%064x", i);
		refused += ratelimit_allowed(rl, key, 1059) == 0;
	}
	is_int(refused, RATELIMIT_DEFAULT_KEYS,
	    "the most recent %d peers are all still refused",
	    RATELIMIT_DEFAULT_KEYS);
	ok(ratelimit_allowed(rl, FP_A, 1060) == 1 && rl_keys(rl) == 0,
	    "a minute later every entry has expired");
	ratelimit_free(rl);
}

static void
test_retry_after(void)
{
	struct ratelimit	*rl;

	rl = rl_make(1, 1, 0);
	(void)ratelimit_fail(rl, FP_A, 0);
	is_int(ratelimit_retry_after(rl, FP_A, 0), 60, "1/min: retry 60 s");
	is_int(ratelimit_retry_after(rl, FP_A, 59), 1, "59 s later: 1 s");
	is_int(ratelimit_retry_after(rl, FP_A, 60), 0, "60 s later: 0");
	ratelimit_free(rl);

	rl = rl_make(120, 1, 0);	/* two tokens a second */
	(void)ratelimit_fail(rl, FP_A, 0);
	is_int(ratelimit_retry_after(rl, FP_A, 0), 1,
	    "2/s: retry rounded up to 1 s");
	ratelimit_free(rl);

	rl = rl_make(7, 2, 0);		/* 60/7 s a token */
	(void)ratelimit_fail(rl, FP_A, 0);
	(void)ratelimit_fail(rl, FP_A, 0);
	is_int(ratelimit_retry_after(rl, FP_A, 0), 9,
	    "7/min: retry ceil(60/7) = 9 s");
	is_int(ratelimit_retry_after(rl, FP_A, 8), 1, "8 s later: 1 s");
	is_int(ratelimit_allowed(rl, FP_A, 9), 1, "9 s later: allowed");
	ratelimit_free(rl);
}

static void
test_time_backwards(void)
{
	struct ratelimit	*rl;

	rl = rl_make(6, 1, 0);
	(void)ratelimit_fail(rl, FP_A, 1000);
	ok(ratelimit_allowed(rl, FP_A, 500) == 0,
	    "the clock going back refills nothing: still refused");
	is_int(ratelimit_retry_after(rl, FP_A, 500), 10,
	    "retry after is measured from the new clock");
	ratelimit_expire(rl, 400);
	is_int((long long)rl_keys(rl), 1, "no expiry when time goes back");
	ok(ratelimit_allowed(rl, FP_A, 509) == 0 &&
	    ratelimit_allowed(rl, FP_A, 510) == 1,
	    "refill resumes from the new clock (allowed 10 s after 500)");
	(void)ratelimit_fail(rl, FP_A, 2000);
	ok(ratelimit_fail(rl, FP_A, 0) == 0 &&
	    ratelimit_allowed(rl, FP_A, (time_t)-5) == 0,
	    "a failure at an earlier time (even negative) still counts");
	ok(ratelimit_allowed(rl, FP_A, 5) == 1,
	    "and refills from there");
	ratelimit_free(rl);
}

static void
test_configure(void)
{
	struct ratelimit_settings	 s;
	struct ratelimit		*rl;
	char				*cause = NULL;

	rl = rl_make(60, 10, 0);
	(void)ratelimit_fail(rl, FP_A, 0);
	memset(&s, 0, sizeof(s));
	s.per_minute = 60;
	s.burst = 1;
	ok(ratelimit_configure(rl, &s, &cause) == 0,
	    "a new rate and burst are applied");
	ok(ratelimit_fail(rl, FP_A, 0) == 0 &&
	    ratelimit_allowed(rl, FP_A, 0) == 0,
	    "tokens are capped at the new burst");
	s.per_minute = RATELIMIT_MAX_RATE + 1;
	ok(ratelimit_configure(rl, &s, &cause) == -1 && cause != NULL,
	    "bad settings are refused");
	free(cause);
	is_int(ratelimit_retry_after(rl, FP_A, 0), 1,
	    "the running settings are kept");
	s.per_minute = 0;
	ok(ratelimit_configure(rl, &s, NULL) == 0 &&
	    ratelimit_allowed(rl, FP_A, 0) == 1,
	    "rate 0 on reload disables the limit");
	ratelimit_expire(rl, 0);
	is_int((long long)rl_keys(rl), 0, "and its entries expire");
	ratelimit_free(rl);
}

int
main(void)
{
	test_settings();
	test_burst_refill();
	test_expiry();
	test_isolation();
	test_long_keys();
	test_eviction();
	test_retry_after();
	test_time_backwards();
	test_configure();
	return (tap_done());
}
