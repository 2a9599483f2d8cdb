/*
 * example-phr.c: a complete PHR built on libisnphr, using only the
 * installed header. It lists what the clearinghouse holds for a patient
 * and retrieves it into a directory, printing progress.
 *
 *   cc -o example-phr example-phr.c $(pkg-config --cflags --libs \
 *       isn-phr)
 *   ISN_PASSWORD=... ./example-phr profile.yaml TOKEN YYYY-MM-DD DIR
 *
 * make check builds it against libisnphr.a and runs it in
 * phr-client/tests/test_phr_e2e.sh.
 */
#include <stdio.h>
#include <stdlib.h>

#include <isnphr.h>

static int
progress(const struct isnphr_progress *p, void *arg)
{
	int	*last = arg;

	if ((int)p->docs != *last) {
		*last = (int)p->docs;
		fprintf(stderr, "%zu/%zu documents\n", p->docs, p->docs_total);
	}
	return (0);		/* nonzero would cancel */
}

int
main(int argc, char **argv)
{
	const struct isnphr_set_info	*set;
	struct isnphr_list		*list;
	struct isnphr			*h;
	const char			*password = getenv("ISN_PASSWORD");
	size_t				 i, j;
	int				 last = -1, rc = 1;

	if (argc != 5 || password == NULL) {
		fprintf(stderr, "usage: ISN_PASSWORD=... example-phr "
		    "profile.yaml token date-of-birth dir\n");
		return (2);
	}
	if ((h = isnphr_new()) == NULL)
		return (1);
	if (isnphr_open_file(h, argv[1]) == -1 ||
	    isnphr_set_patient(h, "isn2", argv[2], argv[3], password) == -1 ||
	    isnphr_list(h, &list) == -1) {
		fprintf(stderr, "example-phr: %s\n", isnphr_error(h));
		goto out;
	}
	for (i = 0; i < isnphr_list_nsets(list); i++) {
		set = isnphr_list_set(list, i);
		for (j = 0; j < set->nstudies; j++)
			printf("study %s: %zu instances in %zu series%s\n",
			    set->studies[j].uid, set->studies[j].ninstances,
			    set->studies[j].nseries,
			    set->studies[j].has_report ? ", report" : "");
	}
	isnphr_list_free(list);

	isnphr_set_progress(h, progress, &last);
	if (isnphr_retrieve(h, argv[4], NULL) == -1) {
		fprintf(stderr, "example-phr: %s\n", isnphr_error(h));
		goto out;
	}
	printf("%zu retrieved, %zu already there\n", isnphr_retrieved(h),
	    isnphr_skipped(h));
	rc = 0;
out:
	isnphr_free(h);
	return (rc);
}
