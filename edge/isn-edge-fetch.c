/*
 * isn-edge-fetch.c: the edge's receiving helper (docs/design/import.md).
 * The daemon runs one per lookup or retrieval; it is a thin program over
 * libisnphr (the PHR client library: ITI-18, ITI-43, RAD-69, isn2
 * decryption and verification), so the receiving edge retrieves exactly
 * as a PHR does. A process of its own keeps libisnphr's blocking calls,
 * its scrypt and its libcurl off the daemon's event loop and memory.
 *
 *   isn-edge-fetch list|retrieve --url URL --ca F --cert F --key F
 *       [--oid OID] [--timeout SECONDS] [--study UID --out DIR]
 *       [--tmp DIR]
 *
 * stdin: four lines, scheme ("any", "isn2", "rsna-token" or
 * "rsna-access-code"), token or access code, date of birth, password
 * (empty for an access code). Never on the command line.
 *
 * list --tmp DIR also reads each study's report (libisnphr's
 * ISNPHR_OPT_NO_IMAGES: report and KOS only, checked, decrypted and
 * verified as a PHR does) through a private directory made under DIR
 * and removed before the result line is written.
 *
 * stdout, one line each, key=value separated by spaces (values
 * percent-encoded):
 *   study uid=U set=S submitted=EPOCH series=N instances=N report=0|1
 *       [text=REPORT [cut=1]]
 *   series study=U uid=U instances=N
 *   result=ok scheme=S [studies=N texts=N | retrieved=N skipped=N]
 *   result=fail nothing=0|1 reason=TEXT
 * Exit 0 ok; 1 nothing found for these details (or a document failed
 * verification); 75 worth retrying (network, clearinghouse busy); 2 usage.
 */
#include "config.h"

#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "isnphr.h"

#define FETCH_EXIT_FAIL		1
#define FETCH_EXIT_USAGE	2
#define FETCH_EXIT_TEMP		75
#define FETCH_LINE_MAX		1024
/*
 * A report's text is cut at FETCH_REPORT_MAX bytes, and all of them
 * together at FETCH_REPORTS_MAX (the rest go without their text): even
 * encoded three bytes for one, they stay far under the daemon's 4 MiB
 * cap on this output.
 */
#define FETCH_REPORT_MAX	(64 * 1024)
#define FETCH_REPORTS_MAX	(512 * 1024)

static void
usage(void)
{
	fprintf(stderr, "usage: isn-edge-fetch list|retrieve --url URL "
	    "--ca FILE --cert FILE --key FILE\n"
	    "\t[--oid OID] [--timeout SECONDS] [--study UID --out DIR]"
	    " [--tmp DIR]  < secrets\n");
	exit(FETCH_EXIT_USAGE);
}

/* len bytes safe for one key=value field: spaces, %, controls encoded. */
static void
put_bytes(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i;

	for (i = 0; i < len; i++)
		if (p[i] <= ' ' || p[i] == '%' || p[i] >= 0x7f)
			printf("%%%02X", p[i]);
		else
			putchar(p[i]);
}

static void
put_value(const char *s)
{
	put_bytes(s, strlen(s));
}

static int
fail(int nothing, const char *reason, int ex)
{
	printf("result=fail nothing=%d reason=", nothing);
	put_value(reason);
	putchar('\n');
	fflush(stdout);
	return (ex);
}

/* One line of stdin without its newline; -1 at EOF or too long. */
static int
read_line(char *buf, size_t size)
{
	size_t	len;

	if (fgets(buf, (int)size, stdin) == NULL)
		return (-1);
	len = strcspn(buf, "\n");
	if (buf[len] != '\n' && !feof(stdin))
		return (-1);
	buf[len] = '\0';
	if (len > 0 && buf[len - 1] == '\r')
		buf[len - 1] = '\0';
	return (0);
}

static void
wipe(char *s, size_t size)
{
	volatile char	*p = s;

	while (size-- > 0)
		*p++ = '\0';
}

/*
 * The reports of every study into a private directory under tmp: the
 * report and KOS only, checked and verified as a PHR does. The directory,
 * or NULL when there is none to read; what failed has no report.txt.
 */
static char *
fetch_reports(struct isnphr *h, struct isnphr_list *l, const char *tmp)
{
	const struct isnphr_set_info	*set;
	char				*dir;
	size_t				 i, j, n = 0;

	for (i = 0; i < isnphr_list_nsets(l); i++) {
		set = isnphr_list_set(l, i);
		for (j = 0; j < set->nstudies; j++)
			n += set->studies[j].has_report;
	}
	if (tmp == NULL || n == 0)
		return (NULL);
	if (asprintf(&dir, "%s/XXXXXX", tmp) == -1)
		return (NULL);
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "isn-edge-fetch: cannot create a directory "
		    "in %s\n", tmp);
		free(dir);
		return (NULL);
	}
	isnphr_set_options(h, ISNPHR_OPT_KDF_IN_PROCESS |
	    ISNPHR_OPT_NO_IMAGES);
	/* A report that failed goes without its text: the list stands. */
	(void)isnphr_retrieve_list(h, l, dir, NULL);
	return (dir);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return (0);
}

/* A UID as libisnphr names files by it: digits and single dots. */
static int
uid_safe(const char *s)
{
	size_t	len = strlen(s);

	return (len > 0 && len <= 64 && strspn(s, "0123456789.") == len &&
	    s[0] != '.' && s[len - 1] != '.' && strstr(s, "..") == NULL);
}

/*
 * The study's report text (at most FETCH_REPORT_MAX bytes, *cut when
 * there was more), charged to *budget; NULL without one or past it.
 */
static char *
read_report(const char *dir, const char *study, size_t *len, int *cut,
    size_t *budget)
{
	char	*p, *s;
	FILE	*f;

	*cut = 0;
	/* A hostile UID names no file outside the directory. */
	if (dir == NULL || !uid_safe(study) ||
	    asprintf(&p, "%s/%s/report.txt", dir, study) == -1)
		return (NULL);
	f = fopen(p, "r");
	free(p);
	if (f == NULL)
		return (NULL);
	if ((s = malloc(FETCH_REPORT_MAX)) == NULL) {
		fclose(f);
		return (NULL);
	}
	*len = fread(s, 1, FETCH_REPORT_MAX, f);
	if (*len == FETCH_REPORT_MAX && getc(f) != EOF)
		*cut = 1;
	fclose(f);
	if (*len > *budget) {
		free(s);
		return (NULL);
	}
	*budget -= *len;
	return (s);
}

static int
print_list(struct isnphr_list *l, const char *dir, int *ntexts)
{
	const struct isnphr_set_info	*set;
	const struct isnphr_study_info	*st;
	char				*text;
	size_t				 i, j, k, n = 0, len;
	size_t				 budget = FETCH_REPORTS_MAX;
	int				 cut;

	for (i = 0; i < isnphr_list_nsets(l); i++) {
		set = isnphr_list_set(l, i);
		for (j = 0; j < set->nstudies; j++) {
			st = &set->studies[j];
			printf("study uid=");
			put_value(st->uid);
			printf(" set=");
			put_value(set->uid);
			printf(" submitted=%lld series=%zu instances=%zu "
			    "report=%d", (long long)set->submitted,
			    st->nseries, st->ninstances, st->has_report);
			text = st->has_report ? read_report(dir, st->uid, &len,
			    &cut, &budget) : NULL;
			if (text != NULL) {
				printf(" text=");
				put_bytes(text, len);
				if (cut)
					printf(" cut=1");
				free(text);
				(*ntexts)++;
			}
			putchar('\n');
			for (k = 0; k < st->nseries; k++) {
				printf("series study=");
				put_value(st->uid);
				printf(" uid=");
				put_value(st->series[k].uid);
				printf(" instances=%zu\n",
				    st->series[k].ninstances);
			}
			n++;
		}
	}
	return ((int)n);
}

/* Whether the list holds the study. */
static int
has_study(struct isnphr_list *l, const char *study)
{
	const struct isnphr_set_info	*set;
	size_t				 i, j;

	for (i = 0; i < isnphr_list_nsets(l); i++) {
		set = isnphr_list_set(l, i);
		for (j = 0; j < set->nstudies; j++)
			if (strcmp(set->studies[j].uid, study) == 0)
				return (1);
	}
	return (0);
}

/* Whether a failure is the clearinghouse's "no" rather than trouble. */
static int
is_nothing(struct isnphr *h)
{
	return (strcmp(isnphr_error(h), ISNPHR_NOTHING_FOUND) == 0);
}

int
main(int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "ca", required_argument, NULL, 'a' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "oid", required_argument, NULL, 'o' },
		{ "timeout", required_argument, NULL, 't' },
		{ "study", required_argument, NULL, 's' },
		{ "out", required_argument, NULL, 'd' },
		{ "tmp", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const	 any[] = { "isn2", "rsna-token",
	    "rsna-access-code", NULL };
	struct isnphr_profile		 p;
	struct isnphr_list		*l = NULL;
	struct isnphr			*h = NULL;
	const char			*cmd, *study = NULL, *out = NULL;
	const char			*tmp = NULL;
	char				*rdir;
	const char			*one[2] = { NULL, NULL };
	const char *const		*schemes;
	char				 scheme[64], secret[FETCH_LINE_MAX];
	char				 dob[64], pw[FETCH_LINE_MAX];
	int				 ch, list, rc, found = 0, temp = 0, n;
	int				 ntexts = 0;
	size_t				 i;

	memset(&p, 0, sizeof(p));
	if (argc < 2)
		usage();
	cmd = argv[1];
	if (strcmp(cmd, "list") == 0)
		list = 1;
	else if (strcmp(cmd, "retrieve") == 0)
		list = 0;
	else
		usage();
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'u': p.url = optarg; break;
		case 'a': p.ca_file = optarg; break;
		case 'c': p.cert_file = optarg; break;
		case 'k': p.key_file = optarg; break;
		case 'o': p.affinity_oid = optarg; break;
		case 't':
			p.connect_timeout = atol(optarg);
			p.low_speed_time = p.connect_timeout;
			break;
		case 's': study = optarg; break;
		case 'd': out = optarg; break;
		case 'T': tmp = optarg; break;
		default: usage();
		}
	}
	if (optind != argc || p.url == NULL || (!list && (study == NULL ||
	    out == NULL)))
		usage();
	if (read_line(scheme, sizeof(scheme)) == -1 ||
	    read_line(secret, sizeof(secret)) == -1 ||
	    read_line(dob, sizeof(dob)) == -1 ||
	    read_line(pw, sizeof(pw)) == -1)
		return (fail(0, "the secrets on stdin are incomplete",
		    FETCH_EXIT_USAGE));
	if (strcmp(scheme, "any") == 0)
		schemes = any;
	else {
		one[0] = scheme;
		schemes = one;
	}

	rc = FETCH_EXIT_FAIL;
	for (i = 0; schemes[i] != NULL && !found; i++) {
		isnphr_free(h);
		if ((h = isnphr_new()) == NULL)
			return (fail(0, "out of memory", FETCH_EXIT_TEMP));
		/* One process per job: the KDF here, no second fork. */
		isnphr_set_options(h, ISNPHR_OPT_KDF_IN_PROCESS);
		if (isnphr_open(h, &p) == -1) {
			rc = fail(0, isnphr_error(h), FETCH_EXIT_USAGE);
			goto out;
		}
		/* An access code has no password; the others need one. */
		if ((strcmp(schemes[i], "rsna-access-code") == 0) !=
		    (pw[0] == '\0'))
			continue;
		if (isnphr_set_patient(h, schemes[i], secret, dob,
		    pw[0] != '\0' ? pw : NULL) == -1)
			continue;	/* not this scheme's form */
		if (isnphr_list(h, &l) == -1) {
			if (!is_nothing(h))
				temp = 1;
			continue;
		}
		found = 1;
		snprintf(scheme, sizeof(scheme), "%s", schemes[i]);
	}
	wipe(secret, sizeof(secret));
	wipe(pw, sizeof(pw));
	if (!found) {
		/* Trouble on the way outweighs "nothing": retry it. */
		if (temp)
			rc = fail(0, isnphr_error(h), FETCH_EXIT_TEMP);
		else
			rc = fail(1, ISNPHR_NOTHING_FOUND, FETCH_EXIT_FAIL);
		goto out;
	}
	if (list) {
		rdir = fetch_reports(h, l, tmp);
		n = print_list(l, rdir, &ntexts);
		/* No decrypted report outlives the run: gone before result=. */
		if (rdir != NULL) {
			nftw(rdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
			free(rdir);
		}
		printf("result=ok scheme=%s studies=%d texts=%d\n", scheme, n,
		    ntexts);
		rc = 0;
		goto out;
	}
	/* Not among these details' studies: the same neutral answer. */
	if (!has_study(l, study)) {
		rc = fail(1, ISNPHR_NOTHING_FOUND, FETCH_EXIT_FAIL);
		goto out;
	}
	if (isnphr_retrieve_list(h, l, out, study) == -1) {
		/* A document that failed verification fails again. */
		rc = fail(0, isnphr_error(h), isnphr_failed(h) > 0 ?
		    FETCH_EXIT_FAIL : FETCH_EXIT_TEMP);
		goto out;
	}
	printf("result=ok scheme=%s retrieved=%zu skipped=%zu\n", scheme,
	    isnphr_retrieved(h), isnphr_skipped(h));
	rc = 0;
out:
	fflush(stdout);
	if (l != NULL)
		isnphr_list_free(l);
	isnphr_free(h);
	return (rc);
}
