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
 *
 * stdin: four lines, scheme ("any", "isn2", "rsna-token" or
 * "rsna-access-code"), token or access code, date of birth, password
 * (empty for an access code). Never on the command line.
 *
 * stdout, one line each, key=value separated by spaces (values
 * percent-encoded):
 *   study uid=U set=S submitted=EPOCH series=N instances=N report=0|1
 *   series study=U uid=U instances=N
 *   result=ok scheme=S [studies=N | retrieved=N skipped=N]
 *   result=fail nothing=0|1 reason=TEXT
 * Exit 0 ok; 1 nothing found for these details (or a document failed
 * verification); 75 worth retrying (network, clearinghouse busy); 2 usage.
 */
#include "config.h"

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

static void
usage(void)
{
	fprintf(stderr, "usage: isn-edge-fetch list|retrieve --url URL "
	    "--ca FILE --cert FILE --key FILE\n"
	    "\t[--oid OID] [--timeout SECONDS] [--study UID --out DIR]"
	    "  < secrets\n");
	exit(FETCH_EXIT_USAGE);
}

/* A value safe for one key=value field: spaces, %, controls encoded. */
static void
put_value(const char *s)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p <= ' ' || *p == '%' || *p >= 0x7f)
			printf("%%%02X", *p);
		else
			putchar(*p);
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

static int
print_list(struct isnphr_list *l)
{
	const struct isnphr_set_info	*set;
	const struct isnphr_study_info	*st;
	size_t				 i, j, k, n = 0;

	for (i = 0; i < isnphr_list_nsets(l); i++) {
		set = isnphr_list_set(l, i);
		for (j = 0; j < set->nstudies; j++) {
			st = &set->studies[j];
			printf("study uid=");
			put_value(st->uid);
			printf(" set=");
			put_value(set->uid);
			printf(" submitted=%lld series=%zu instances=%zu "
			    "report=%d\n", (long long)set->submitted,
			    st->nseries, st->ninstances, st->has_report);
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
		{ NULL, 0, NULL, 0 }
	};
	static const char *const	 any[] = { "isn2", "rsna-token",
	    "rsna-access-code", NULL };
	struct isnphr_profile		 p;
	struct isnphr_list		*l = NULL;
	struct isnphr			*h = NULL;
	const char			*cmd, *study = NULL, *out = NULL;
	const char			*one[2] = { NULL, NULL };
	const char *const		*schemes;
	char				 scheme[64], secret[FETCH_LINE_MAX];
	char				 dob[64], pw[FETCH_LINE_MAX];
	int				 ch, list, rc, found = 0, temp = 0, n;
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
		n = print_list(l);
		printf("result=ok scheme=%s studies=%d\n", scheme, n);
		rc = 0;
		goto out;
	}
	/* Not among these details' studies: the same neutral answer. */
	if (!has_study(l, study)) {
		rc = fail(1, ISNPHR_NOTHING_FOUND, FETCH_EXIT_FAIL);
		goto out;
	}
	if (isnphr_retrieve(h, out, study) == -1) {
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
