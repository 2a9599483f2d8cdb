/*
 * dicom-fuzzer.c: the DICOM reader on arbitrary bytes.
 *
 * Every input goes through dicom_kos_parse and dicom_read_ids, whole and as
 * a prefix of every length up to 512 bytes. A failure must carry a cause;
 * a parsed KOS must be internally consistent and build again to a KOS that
 * parses to the same tree.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "dicom.h"
#include "xmalloc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Rebuild a parsed KOS from its tree and check the tree survives. */
static void
fuzz_rebuild(const struct dicom_kos *k)
{
	struct dicom_kos_params	 kp;
	struct dicom_ref	*refs;
	struct dicom_kos	*k2;
	struct dbuf		 b;
	size_t			 n = 0, i, j, l;

	refs = xcalloc(k->ninstances, sizeof(*refs));
	for (i = 0; i < k->nstudies; i++)
		for (j = 0; j < k->studies[i].nseries; j++)
			for (l = 0; l < k->studies[i].series[j].nsops; l++) {
				refs[n].study_uid = k->studies[i].uid;
				refs[n].series_uid =
				    k->studies[i].series[j].uid;
				refs[n].sop_class_uid =
				    k->studies[i].series[j].sops[l].class_uid;
				refs[n].sop_instance_uid = k->studies[i].
				    series[j].sops[l].instance_uid;
				n++;
			}
	if (n != k->ninstances || n == 0)
		abort();
	memset(&kp, 0, sizeof(kp));
	kp.patient_id = "P";
	kp.study_uid = k->ids.study;
	kp.series_uid = k->ids.series;
	kp.sop_instance_uid = k->ids.sop_instance;
	kp.refs = refs;
	kp.nrefs = n;
	dbuf_init(&b, 64 * 1024 * 1024);
	if (dicom_kos_build(&kp, &b, NULL) == -1)
		abort();
	if (dicom_kos_parse(b.data, b.len, &k2, NULL) == -1)
		abort();
	/* Studies may merge when the input repeated one: count instances. */
	if (k2->ninstances != n)
		abort();
	dicom_kos_free(k2);
	dbuf_free(&b);
	free(refs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dicom_kos	*k;
	struct dicom_ids	 ids;
	char			*cause = NULL;
	size_t			 n;
	int			 rc;

	rc = dicom_kos_parse(data, size, &k, &cause);
	if ((rc == -1) != (cause != NULL))
		abort();
	free(cause);
	if (rc == 0) {
		fuzz_rebuild(k);
		dicom_kos_free(k);
	}
	cause = NULL;
	rc = dicom_read_ids(data, size, &ids, &cause);
	if ((rc == -1) != (cause != NULL))
		abort();
	free(cause);
	if (rc == 0 && (!dicom_uid_valid(ids.study) ||
	    !dicom_uid_valid(ids.series) || !dicom_uid_valid(ids.sop_class) ||
	    !dicom_uid_valid(ids.sop_instance) || !dicom_uid_valid(ids.ts)))
		abort();
	for (n = 0; n < size && n < 512; n++) {
		cause = NULL;
		if (dicom_read_ids(data, n, &ids, &cause) == -1 &&
		    cause == NULL)
			abort();
		free(cause);
	}
	return (0);
}
