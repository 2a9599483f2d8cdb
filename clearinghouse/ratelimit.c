/*
 * ratelimit.c: token buckets per client certificate for failed lookups.
 * See ratelimit.h and docs/design/ratelimit.md.
 *
 * Tokens are counted in sixtieths (units): a second adds per_minute units
 * exactly, so the arithmetic is integer and deterministic. Entries live in
 * one array allocated by ratelimit_new, chained in a hash table and in a
 * least-recently-used list (head: newest), linked by index.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ratelimit.h"
#include "xmalloc.h"

#define RL_UNIT		60ULL		/* units per token */
#define RL_NIL		UINT32_MAX

struct rl_entry {
	char		 key[RATELIMIT_KEY_MAX];
	uint64_t	 units;		/* tokens * RL_UNIT at `last` */
	time_t		 last;		/* when units was computed */
	uint32_t	 hash;
	uint32_t	 hnext;		/* hash chain */
	uint32_t	 newer;		/* LRU list */
	uint32_t	 older;
};

struct ratelimit {
	uint64_t		 per_minute;	/* units per second */
	uint64_t		 cap;		/* burst * RL_UNIT */
	uint32_t		 seed;
	uint32_t		 nentries;
	uint32_t		 nbuckets;	/* a power of two */
	uint32_t		*buckets;
	struct rl_entry		*entries;
	uint32_t		 head, tail;	/* LRU: newest, oldest */
	uint32_t		 free;		/* chained by hnext */
	struct ratelimit_stats	 stats;
};

/* Checks the settings; fills the effective rate and capacity. */
static int
ratelimit_check(const struct ratelimit_settings *s, uint64_t *per_minute,
    uint64_t *cap, char **cause)
{
	unsigned int	burst;

	if (s->per_minute > RATELIMIT_MAX_RATE) {
		xcause(cause, "failed lookups per minute %u above %u",
		    s->per_minute, RATELIMIT_MAX_RATE);
		return (-1);
	}
	if (s->burst > RATELIMIT_MAX_RATE) {
		xcause(cause, "failed lookups burst %u above %u", s->burst,
		    RATELIMIT_MAX_RATE);
		return (-1);
	}
	burst = s->burst != 0 ? s->burst : s->per_minute;
	*per_minute = s->per_minute;
	*cap = (uint64_t)burst * RL_UNIT;
	return (0);
}

/* FNV-1a, seeded per table. */
static uint32_t
ratelimit_hash(const struct ratelimit *rl, const char *key)
{
	uint32_t	h = 2166136261U ^ rl->seed;

	for (; *key != '\0'; key++) {
		h ^= (unsigned char)*key;
		h *= 16777619U;
	}
	return (h);
}

/* The key as stored: NULL is "", longer keys are cut (never looser). */
static void
ratelimit_key(char out[RATELIMIT_KEY_MAX], const char *key)
{
	snprintf(out, RATELIMIT_KEY_MAX, "%s", key != NULL ? key : "");
}

struct ratelimit *
ratelimit_new(const struct ratelimit_settings *s, char **cause)
{
	struct ratelimit	*rl;
	uint64_t		 per_minute, cap;
	size_t			 n, i;

	if (ratelimit_check(s, &per_minute, &cap, cause) == -1)
		return (NULL);
	n = s->max_keys != 0 ? s->max_keys : RATELIMIT_DEFAULT_KEYS;
	if (n > RATELIMIT_MAX_KEYS) {
		xcause(cause, "rate limit table of %zu keys above %d", n,
		    RATELIMIT_MAX_KEYS);
		return (NULL);
	}
	rl = xcalloc(1, sizeof(*rl));
	rl->per_minute = per_minute;
	rl->cap = cap;
	rl->nentries = (uint32_t)n;
	for (rl->nbuckets = 1; rl->nbuckets < rl->nentries; rl->nbuckets *= 2)
		;
	rl->buckets = xcalloc(rl->nbuckets, sizeof(*rl->buckets));
	for (i = 0; i < rl->nbuckets; i++)
		rl->buckets[i] = RL_NIL;
	rl->entries = xcalloc(rl->nentries, sizeof(*rl->entries));
	for (i = 0; i < rl->nentries; i++)
		rl->entries[i].hnext = i + 1 < n ? (uint32_t)(i + 1) : RL_NIL;
	rl->free = 0;
	rl->head = rl->tail = RL_NIL;
	if (getentropy(&rl->seed, sizeof(rl->seed)) == -1)
		rl->seed = (uint32_t)(uintptr_t)rl;
	return (rl);
}

void
ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	free(rl->buckets);
	free(rl->entries);
	free(rl);
}

int
ratelimit_configure(struct ratelimit *rl, const struct ratelimit_settings *s,
    char **cause)
{
	uint64_t	per_minute, cap;
	uint32_t	i;

	if (ratelimit_check(s, &per_minute, &cap, cause) == -1)
		return (-1);
	rl->per_minute = per_minute;
	rl->cap = cap;
	for (i = rl->head; i != RL_NIL; i = rl->entries[i].older)
		if (rl->entries[i].units > cap)
			rl->entries[i].units = cap;
	return (0);
}

/* Unlinks entry i from the LRU list. */
static void
ratelimit_lru_unlink(struct ratelimit *rl, uint32_t i)
{
	struct rl_entry	*e = &rl->entries[i];

	if (e->newer != RL_NIL)
		rl->entries[e->newer].older = e->older;
	else
		rl->head = e->older;
	if (e->older != RL_NIL)
		rl->entries[e->older].newer = e->newer;
	else
		rl->tail = e->newer;
	e->newer = e->older = RL_NIL;
}

/* Puts entry i (not in the list) at the head. */
static void
ratelimit_lru_push(struct ratelimit *rl, uint32_t i)
{
	struct rl_entry	*e = &rl->entries[i];

	e->newer = RL_NIL;
	e->older = rl->head;
	if (rl->head != RL_NIL)
		rl->entries[rl->head].newer = i;
	rl->head = i;
	if (rl->tail == RL_NIL)
		rl->tail = i;
}

/* Removes entry i from the table and returns it to the free list. */
static void
ratelimit_drop(struct ratelimit *rl, uint32_t i)
{
	struct rl_entry	*e = &rl->entries[i];
	uint32_t	*p;

	for (p = &rl->buckets[e->hash & (rl->nbuckets - 1)]; *p != RL_NIL;
	    p = &rl->entries[*p].hnext) {
		if (*p == i) {
			*p = e->hnext;
			break;
		}
	}
	ratelimit_lru_unlink(rl, i);
	memset(e->key, 0, sizeof(e->key));
	e->hnext = rl->free;
	rl->free = i;
	rl->stats.keys--;
}

/* Adds the tokens earned since e->last; time going backwards earns none. */
static void
ratelimit_refill(struct ratelimit *rl, struct rl_entry *e, time_t now)
{
	uint64_t	elapsed;

	if (now > e->last && e->units < rl->cap) {
		elapsed = (uint64_t)now - (uint64_t)e->last;
		if (rl->per_minute == 0 ||
		    elapsed >= (rl->cap - e->units + rl->per_minute - 1) /
		    rl->per_minute)
			e->units = rl->cap;
		else
			e->units += elapsed * rl->per_minute;
	}
	e->last = now;
}

/* Whether entry e has refilled by now (it then equals no entry). */
static int
ratelimit_full_by(const struct ratelimit *rl, const struct rl_entry *e,
    time_t now)
{
	uint64_t	need;

	if (e->units >= rl->cap || rl->per_minute == 0)
		return (1);
	if (now <= e->last)
		return (0);
	need = (rl->cap - e->units + rl->per_minute - 1) / rl->per_minute;
	return ((uint64_t)now - (uint64_t)e->last >= need);
}

void
ratelimit_expire(struct ratelimit *rl, time_t now)
{
	while (rl->tail != RL_NIL &&
	    ratelimit_full_by(rl, &rl->entries[rl->tail], now)) {
		ratelimit_drop(rl, rl->tail);
		rl->stats.expiries++;
	}
}

static uint32_t
ratelimit_find(struct ratelimit *rl, const char *key, uint32_t h)
{
	uint32_t	i;

	for (i = rl->buckets[h & (rl->nbuckets - 1)]; i != RL_NIL;
	    i = rl->entries[i].hnext)
		if (rl->entries[i].hash == h &&
		    strcmp(rl->entries[i].key, key) == 0)
			return (i);
	return (RL_NIL);
}

/*
 * The refilled entry of a key that still owes tokens, most recently used
 * now; RL_NIL when there is none (never failed, or refilled: dropped).
 */
static uint32_t
ratelimit_lookup(struct ratelimit *rl, const char *key, time_t now)
{
	uint32_t	i;

	ratelimit_expire(rl, now);
	if ((i = ratelimit_find(rl, key, ratelimit_hash(rl, key))) == RL_NIL)
		return (RL_NIL);
	ratelimit_refill(rl, &rl->entries[i], now);
	if (rl->entries[i].units >= rl->cap) {
		ratelimit_drop(rl, i);
		rl->stats.expiries++;
		return (RL_NIL);
	}
	ratelimit_lru_unlink(rl, i);
	ratelimit_lru_push(rl, i);
	return (i);
}

int
ratelimit_allowed(struct ratelimit *rl, const char *key, time_t now)
{
	char		k[RATELIMIT_KEY_MAX];
	uint32_t	i;

	if (rl->per_minute == 0)
		return (1);
	ratelimit_key(k, key);
	if ((i = ratelimit_lookup(rl, k, now)) == RL_NIL ||
	    rl->entries[i].units >= RL_UNIT)
		return (1);
	rl->stats.refusals++;
	return (0);
}

int
ratelimit_fail(struct ratelimit *rl, const char *key, time_t now)
{
	char		 k[RATELIMIT_KEY_MAX];
	struct rl_entry	*e;
	uint32_t	 i, h;

	if (rl->per_minute == 0)
		return (1);
	ratelimit_key(k, key);
	rl->stats.failures++;
	ratelimit_expire(rl, now);
	h = ratelimit_hash(rl, k);
	if ((i = ratelimit_find(rl, k, h)) != RL_NIL) {
		ratelimit_refill(rl, &rl->entries[i], now);
		ratelimit_lru_unlink(rl, i);
	} else {
		if (rl->free == RL_NIL) {
			ratelimit_drop(rl, rl->tail);
			rl->stats.evictions++;
		}
		i = rl->free;
		e = &rl->entries[i];
		rl->free = e->hnext;
		memcpy(e->key, k, sizeof(e->key));
		e->hash = h;
		e->units = rl->cap;
		e->last = now;
		e->hnext = rl->buckets[h & (rl->nbuckets - 1)];
		rl->buckets[h & (rl->nbuckets - 1)] = i;
		rl->stats.keys++;
	}
	ratelimit_lru_push(rl, i);
	e = &rl->entries[i];
	e->units = e->units > RL_UNIT ? e->units - RL_UNIT : 0;
	return (e->units >= RL_UNIT);
}

time_t
ratelimit_retry_after(struct ratelimit *rl, const char *key, time_t now)
{
	char		k[RATELIMIT_KEY_MAX];
	uint32_t	i;
	uint64_t	owed;

	if (rl->per_minute == 0)
		return (0);
	ratelimit_key(k, key);
	if ((i = ratelimit_lookup(rl, k, now)) == RL_NIL ||
	    rl->entries[i].units >= RL_UNIT)
		return (0);
	owed = RL_UNIT - rl->entries[i].units;
	return ((time_t)((owed + rl->per_minute - 1) / rl->per_minute));
}

void
ratelimit_stats(struct ratelimit *rl, struct ratelimit_stats *st)
{
	*st = rl->stats;
}
