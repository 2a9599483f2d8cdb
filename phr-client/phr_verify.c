/*
 * phr_verify.c: an instance against its entry and the study's KOS, the
 * last step before a document is renamed into place (shared/dicom.h reads
 * the UIDs from the file's first MiB and parses the KOS).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dicom.h"
#include "phr_int.h"
#include "xmalloc.h"

#define PHR_KOS_MAX	(64 * 1024 * 1024)

struct phr_kos {
	struct dicom_kos	*kos;
};

struct phr_kos *
phr_kos_load(const char *path, char **cause)
{
	struct phr_kos	*k;
	struct stat	 st;
	unsigned char	*buf;
	ssize_t		 r;
	size_t		 off = 0;
	int		 fd;

	if ((fd = open(path, O_RDONLY)) == -1) {
		xcause(cause, "cannot open %s: %s", path, strerror(errno));
		return (NULL);
	}
	if (fstat(fd, &st) == -1 || st.st_size <= 0 ||
	    st.st_size > PHR_KOS_MAX) {
		xcause(cause, "%s: not a KOS of a sensible size", path);
		close(fd);
		return (NULL);
	}
	buf = xmalloc((size_t)st.st_size);
	while (off < (size_t)st.st_size) {
		r = read(fd, buf + off, (size_t)st.st_size - off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	k = xcalloc(1, sizeof(*k));
	if (off != (size_t)st.st_size ||
	    dicom_kos_parse(buf, off, &k->kos, cause) == -1) {
		if (*cause == NULL)
			xcause(cause, "cannot read %s", path);
		free(buf);
		free(k);
		return (NULL);
	}
	free(buf);
	return (k);
}

void
phr_kos_free(struct phr_kos *k)
{
	if (k == NULL)
		return;
	dicom_kos_free(k->kos);
	free(k);
}

/* The KOS is the one its entry names, and parses. */
int
phr_verify_kos(const struct phr_doc *d, const char *path, char **cause)
{
	struct phr_kos	*k;

	if ((k = phr_kos_load(path, cause)) == NULL)
		return (-1);
	if (strcmp(k->kos->ids.sop_instance, d->uid) != 0 ||
	    strcmp(k->kos->ids.study, d->study) != 0) {
		phr_kos_free(k);
		xcause(cause, "the KOS's SOP Instance or Study UID is not its "
		    "registry entry's");
		return (-1);
	}
	phr_kos_free(k);
	return (0);
}

static int
phr_kos_has(const struct dicom_kos *kos, const struct dicom_ids *ids)
{
	const struct dicom_study	*st;
	const struct dicom_series	*se;
	size_t				 i, j, k;

	for (i = 0; i < kos->nstudies; i++) {
		st = &kos->studies[i];
		if (strcmp(st->uid, ids->study) != 0)
			continue;
		for (j = 0; j < st->nseries; j++) {
			se = &st->series[j];
			if (strcmp(se->uid, ids->series) != 0)
				continue;
			for (k = 0; k < se->nsops; k++)
				if (strcmp(se->sops[k].instance_uid,
				    ids->sop_instance) == 0)
					return (1);
		}
	}
	return (0);
}

/*
 * 1: the instance's SOP Instance UID is its entry's (the uniqueId, or the
 * sopInstanceUID slot: protocol.md 7), its study and
 * series are the entry's, and the KOS lists it. 0: as much as could be
 * checked without a KOS (none in the submission) holds. -1: it does not.
 */
int
phr_verify_instance(const struct phr_kos *k, const struct phr_doc *d,
    const char *path, const void *head, size_t len, char **cause)
{
	struct dicom_ids	 ids;
	char			*why = NULL;
	int			 r = 1;

	/* The first bytes kept as they were written: no reading back. */
	if (head != NULL && (r = dicom_read_ids(head, len, &ids, &why)) == 1)
		free(why);
	if (r == 1)
		why = NULL;
	if (r == -1 || (r == 1 && dicom_read_ids_file(path, &ids,
	    &why) == -1)) {
		xcause(cause, "not a readable DICOM instance: %s",
		    why != NULL ? why : "unknown");
		free(why);
		return (-1);
	}
	if (strcmp(ids.sop_instance, d->sop) != 0) {
		xcause(cause, "its SOP Instance UID is not its registry "
		    "entry's");
		return (-1);
	}
	if (strcmp(ids.study, d->study) != 0 ||
	    (d->series != NULL && *d->series != '\0' &&
	    strcmp(ids.series, d->series) != 0)) {
		xcause(cause, "its study or series UID is not its registry "
		    "entry's");
		return (-1);
	}
	if (k == NULL)
		return (0);
	if (!phr_kos_has(k->kos, &ids)) {
		xcause(cause, "the study's KOS does not list it");
		return (-1);
	}
	return (1);
}
