/*
 * phr_index.c: DIR/index.json, what a retrieve left on disk: for each
 * submission set its times and scheme, for each study its KOS and report
 * paths and its series, for each series the instances that are there
 * (retrieved now or skipped as already there), with their paths relative
 * to DIR. Written to a temp file and renamed, so a reader never sees half.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "phr_int.h"
#include "xmalloc.h"

int
phr_json_str(struct dbuf *b, const char *s)
{
	const unsigned char	*p;
	int			 r;

	if (s == NULL)
		return (dbuf_addstr(b, "null"));
	r = dbuf_addc(b, '"');
	for (p = (const unsigned char *)s; *p != '\0' && r == 0; p++) {
		if (*p == '"' || *p == '\\')
			r = dbuf_printf(b, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			r = dbuf_printf(b, "\\u%04x", *p);
		else
			r = dbuf_addc(b, (char)*p);
	}
	return (r == 0 ? dbuf_addc(b, '"') : -1);
}

static int
phr_json_time(struct dbuf *b, time_t t)
{
	struct tm	tm;
	char		s[32];

	if (t == 0 || gmtime_r(&t, &tm) == NULL)
		return (dbuf_addstr(b, "null"));
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return (phr_json_str(b, s));
}

static int
phr_there(const struct phr_doc *d)
{
	return (d->path != NULL && (d->state == PHR_DONE ||
	    (d->state == PHR_SKIPPED && d->verified)));
}

/* The path of the study's document of a kind that is there, or NULL. */
static const char *
phr_kind_path(const struct phr_set *s, const char *study, enum phr_kind k)
{
	size_t	i;

	for (i = 0; i < s->ndocs; i++)
		if (s->docs[i].kind == k && strcmp(s->docs[i].study,
		    study) == 0 && phr_there(&s->docs[i]))
			return (s->docs[i].path);
	return (NULL);
}

int
phr_index_build(struct dbuf *b, const struct isnphr_list *l,
    const char *study)
{
	const struct isnphr_set_info	*si;
	const struct isnphr_study_info	*st;
	const struct phr_set		*s;
	const struct phr_doc		*d;
	size_t				 i, j, k, m, n;
	int				 first_set = 1, first, r = 0;

	r |= dbuf_addstr(b, "{\n  \"version\": 1,\n  \"sets\": [");
	for (i = 0; i < l->nsets; i++) {
		s = &l->sets[i];
		si = &l->info[i];
		for (j = n = 0; j < si->nstudies; j++)
			if (study == NULL || strcmp(si->studies[j].uid,
			    study) == 0)
				n++;
		if (n == 0)
			continue;
		r |= dbuf_addstr(b, first_set ? "\n    {" : ",\n    {");
		first_set = 0;
		r |= dbuf_addstr(b, "\n      \"uid\": ");
		r |= phr_json_str(b, s->uid);
		r |= dbuf_addstr(b, ",\n      \"submitted\": ");
		r |= phr_json_time(b, s->submitted);
		r |= dbuf_addstr(b, ",\n      \"expires\": ");
		r |= phr_json_time(b, s->expires);
		r |= dbuf_addstr(b, ",\n      \"encryption\": ");
		r |= phr_json_str(b, si->encryption);
		r |= dbuf_addstr(b, ",\n      \"studies\": [");
		for (j = 0, first = 1; j < si->nstudies; j++) {
			st = &si->studies[j];
			if (study != NULL && strcmp(st->uid, study) != 0)
				continue;
			r |= dbuf_addstr(b, first ? "\n        {" :
			    ",\n        {");
			first = 0;
			r |= dbuf_addstr(b, "\n          \"uid\": ");
			r |= phr_json_str(b, st->uid);
			r |= dbuf_addstr(b, ",\n          \"kos\": ");
			r |= phr_json_str(b, phr_kind_path(s, st->uid,
			    PHR_KOS));
			r |= dbuf_addstr(b, ",\n          \"report\": ");
			r |= phr_json_str(b, phr_kind_path(s, st->uid,
			    PHR_REPORT));
			r |= dbuf_addstr(b, ",\n          \"series\": [");
			for (k = 0; k < st->nseries; k++) {
				r |= dbuf_addstr(b, k == 0 ?
				    "\n            {\"uid\": " :
				    ",\n            {\"uid\": ");
				r |= phr_json_str(b, st->series[k].uid);
				r |= dbuf_addstr(b, ", \"instances\": [");
				for (m = 0, n = 0; m < s->ndocs; m++) {
					d = &s->docs[m];
					if (d->kind != PHR_IMAGE ||
					    strcmp(d->study, st->uid) != 0 ||
					    strcmp(d->series,
					    st->series[k].uid) != 0 ||
					    !phr_there(d))
						continue;
					r |= dbuf_addstr(b, n++ == 0 ?
					    "\n              {\"sop\": " :
					    ",\n              {\"sop\": ");
					r |= phr_json_str(b, d->sop);
					r |= dbuf_addstr(b, ", \"path\": ");
					r |= phr_json_str(b, d->path);
					r |= dbuf_printf(b, ", \"size\": %llu"
					    ", \"verified\": %s}",
					    (unsigned long long)d->plain_size,
					    d->verified ? "true" : "false");
				}
				r |= dbuf_addstr(b, n > 0 ?
				    "\n            ]}" : "]}");
			}
			r |= dbuf_addstr(b, st->nseries > 0 ?
			    "\n          ]\n        }" : "]\n        }");
		}
		r |= dbuf_addstr(b, "\n      ]\n    }");
	}
	r |= dbuf_addstr(b, first_set ? "]\n}\n" : "\n  ]\n}\n");
	return (r != 0 ? -1 : 0);
}

int
phr_index_write(const char *dir, const struct isnphr_list *l,
    const char *study, char **cause)
{
	struct dbuf	 b;
	char		*tmp, *path;
	FILE		*f;
	int		 rc = -1;

	dbuf_init(&b, PHR_MAX_RESPONSE_XML);
	xasprintf(&tmp, "%s/.index.json.tmp", dir);
	xasprintf(&path, "%s/index.json", dir);
	if (phr_index_build(&b, l, study) == -1)
		xcause(cause, "index.json would be too large");
	else if ((f = fopen(tmp, "w")) == NULL)
		xcause(cause, "cannot write %s: %s", tmp, strerror(errno));
	else if (fwrite(b.data, 1, b.len, f) != b.len || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0) {
		xcause(cause, "cannot write %s: %s", tmp, strerror(errno));
		fclose(f);
		unlink(tmp);
	} else if (fclose(f) != 0 || rename(tmp, path) == -1) {
		xcause(cause, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
	} else
		rc = 0;
	dbuf_free(&b);
	free(tmp);
	free(path);
	return (rc);
}
