/*
 * isn-mksub.c: make one network submission (an ITI-41 MTOM request) from
 * DICOM files or synthetic instances, for tests and benchmarks (isnsub.h).
 *
 *   isn-mksub [--scheme isn2|rsna-token|rsna-access-code]
 *       (--token T | --access-code C) --dob D
 *       [--password-env VAR | --password-file FILE] [--oid O]
 *       [--source-id O] [--submission-uid U] --repository R [--accession A]
 *       [--report FILE] [--sop-uids]
 *       [--synthetic N:BYTES | --ct SLICES] [--save-synthetic DIR]
 *       [--patient-id ID] [--patient-name NAME]
 *       [--study-uid U]] [--save-kos FILE] [--info FILE]
 *       --out FILE|- --content-type-file CT [DICOM...]
 *   isn-mksub --decrypt UNIQUEID (--token T ...) --dob D [--password-*]
 *       IN OUT
 *	the test side of isn2: an envelope's plaintext, under the content
 *	key of those details (exit 1 if it is not authentic)
 *
 * --info (default: standard output unless --out is "-") gets lines
 * "rsna-id ID", "cx CX", "submission UID", "study UID", "kos UID",
 * "report UID".
 *
 * Synthetic instances alternate between two series of one study (3:...
 * gives 2 + 1). --study-uid U makes their UIDs predictable: series U.1
 * and U.2, instance <series>.<instance number> (5 gives U.1.1-U.1.3 and
 * U.2.1-U.2.2). --ct N makes N CT slices (512 x 512, 16-bit, 512 KiB
 * each) in one series instead: 500 give the ~250 MB CT study of the
 * edge's benchmark. Their PatientID is the RSNA-ID unless --patient-id
 * gives the site's (an MRN, for a PACS). --save-kos writes the KOS's
 * plaintext, for byte-for-byte comparisons with what a consumer
 * retrieves.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dicom.h"
#include "envelope.h"
#include "isnsub.h"
#include "log.h"
#include "rsnaid.h"
#include "xmalloc.h"

static __dead void
usage(void)
{
	fprintf(stderr, "usage: isn-mksub [--scheme S] (--token T | "
	    "--access-code C) --dob D\n"
	    "\t[--password-env VAR | --password-file FILE] [--oid O] "
	    "[--source-id O]\n"
	    "\t[--submission-uid U] --repository R [--report FILE] "
	    "[--accession A] [--sop-uids]\n"
	    "\t[--synthetic N:BYTES | --ct SLICES] [--save-synthetic DIR] "
	    "[--study-uid U]\n"
	    "\t[--patient-id ID] [--patient-name NAME]\n"
	    "\t[--save-kos FILE] [--info FILE]\n"
	    "\t--out FILE|- --content-type-file CT [DICOM...]\n"
	    "       isn-mksub --decrypt UNIQUEID (--token T | --access-code "
	    "C) --dob D\n"
	    "\t[--password-env VAR | --password-file FILE] IN OUT\n");
	exit(2);
}

/* The first line of a file, without its newline. */
static char *
read_line(const char *path)
{
	FILE	*f;
	char	 buf[RSNAID_PASSWORD_MAX + 2];

	if ((f = fopen(path, "r")) == NULL)
		fatal("%s", path);
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	return (xstrdup(buf));
}

static int
decrypt(const char *uid, enum rsnaid_scheme scheme, const char *secret,
    const char *dob, const char *password, const char *in, const char *out)
{
	struct rsnaid	 id;
	char		*cause = NULL;
	int		 ifd, ofd, rc;

	if (rsnaid_compute(scheme, secret, dob, password, &id, &cause) == -1)
		fatalx("%s", cause);
	if (!id.has_key)
		fatalx("the %s scheme has no content key",
		    rsnaid_scheme_name(scheme));
	if ((ifd = open(in, O_RDONLY)) == -1)
		fatal("%s", in);
	if ((ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		fatal("%s", out);
	rc = envelope_decrypt_fd(ifd, ofd, id.key, uid, &cause);
	rsnaid_clear(&id);
	close(ifd);
	if (close(ofd) == -1)
		fatal("%s", out);
	if (rc == -1) {
		unlink(out);
		fprintf(stderr, "isn-mksub: %s: %s\n", in, cause);
		free(cause);
		return (1);
	}
	return (0);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "scheme", required_argument, NULL, 'S' },
		{ "token", required_argument, NULL, 't' },
		{ "access-code", required_argument, NULL, 'a' },
		{ "dob", required_argument, NULL, 'd' },
		{ "password-env", required_argument, NULL, 'E' },
		{ "password-file", required_argument, NULL, 'P' },
		{ "oid", required_argument, NULL, 'o' },
		{ "source-id", required_argument, NULL, 's' },
		{ "submission-uid", required_argument, NULL, 'u' },
		{ "repository", required_argument, NULL, 'r' },
		{ "report", required_argument, NULL, 'R' },
		{ "synthetic", required_argument, NULL, 'n' },
		{ "save-synthetic", required_argument, NULL, 'D' },
		{ "info", required_argument, NULL, 'i' },
		{ "out", required_argument, NULL, 'O' },
		{ "content-type-file", required_argument, NULL, 'c' },
		{ "decrypt", required_argument, NULL, 'x' },
		{ "accession", required_argument, NULL, 'A' },
		{ "study-uid", required_argument, NULL, 'U' },
		{ "save-kos", required_argument, NULL, 'K' },
		{ "sop-uids", no_argument, NULL, 'W' },
		{ "ct", required_argument, NULL, 'T' },
		{ "patient-id", required_argument, NULL, 'I' },
		{ "patient-name", required_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 }
	};
	struct isnsub_params		 p;
	struct dicom_instance_params	 ip;
	struct isnsub			*s;
	const char			*pwenv = NULL, *pwfile = NULL;
	const char			*token = NULL, *code = NULL;
	const char			*out = NULL, *ctfile = NULL;
	const char			*report = NULL, *savedir = NULL;
	const char			*info = NULL, *dec = NULL;
	const char			*studyuid = NULL, *savekos = NULL;
	const void			*kos;
	size_t				 koslen;
	char				*password = NULL, *cause = NULL;
	char				 study[DICOM_UID_BUF];
	char				 series[2][DICOM_UID_BUF];
	char				 sop[DICOM_UID_BUF], path[4096];
	unsigned long			 nsynth = 0, nct = 0;
	const char			*pid = NULL, *pname = "RSNA ISN";
	unsigned long long		 bytes = 0;
	FILE				*f, *inf;
	char				*end;
	unsigned long			 i;
	int				 ch, fd, rc;

	log_init(1, "isn-mksub", 0);
	memset(&p, 0, sizeof(p));
	p.scheme = RSNAID_ISN2;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'S':
			if (rsnaid_scheme_parse(optarg, &p.scheme) == -1)
				fatalx("unknown scheme %s", optarg);
			break;
		case 't': token = optarg; break;
		case 'a': code = optarg; break;
		case 'd': p.dob = optarg; break;
		case 'E': pwenv = optarg; break;
		case 'P': pwfile = optarg; break;
		case 'o': p.oid = optarg; break;
		case 's': p.source_id = optarg; break;
		case 'u': p.submission_uid = optarg; break;
		case 'r': p.repository_uid = optarg; break;
		case 'R': report = optarg; break;
		case 'n':
			errno = 0;
			nsynth = strtoul(optarg, &end, 10);
			if (*end != ':' || nsynth == 0)
				usage();
			bytes = strtoull(end + 1, &end, 10);
			if (*end != '\0' || errno != 0)
				usage();
			break;
		case 'D': savedir = optarg; break;
		case 'i': info = optarg; break;
		case 'O': out = optarg; break;
		case 'c': ctfile = optarg; break;
		case 'x': dec = optarg; break;
		case 'A': p.accession_number = optarg; break;
		case 'U': studyuid = optarg; break;
		case 'K': savekos = optarg; break;
		case 'W': p.sop_uids = 1; break;
		case 'T':
			errno = 0;
			nct = strtoul(optarg, &end, 10);
			if (*end != '\0' || nct == 0 || nct > 100000 ||
			    errno != 0)
				usage();
			break;
		case 'I': pid = optarg; break;
		case 'N': pname = optarg; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if ((token == NULL) == (code == NULL) || p.dob == NULL ||
	    (nsynth > 0 && nct > 0))
		usage();
	if (code != NULL && p.scheme == RSNAID_ISN2 && dec == NULL)
		p.scheme = RSNAID_RSNA_ACCESS_CODE;
	p.secret = token != NULL ? token : code;
	if (pwenv != NULL) {
		if (getenv(pwenv) == NULL)
			fatalx("%s is not set", pwenv);
		password = xstrdup(getenv(pwenv));
	} else if (pwfile != NULL)
		password = read_line(pwfile);
	p.password = password;

	if (dec != NULL) {
		if (argc != 2)
			usage();
		rc = decrypt(dec, p.scheme, p.secret, p.dob, password, argv[0],
		    argv[1]);
		free(xstrzero(password));
		return (rc);
	}
	if (out == NULL || ctfile == NULL || p.repository_uid == NULL ||
	    (argc == 0 && nsynth + nct == 0) ||
	    (savedir != NULL && nsynth + nct == 0) ||
	    (studyuid != NULL && (nsynth + nct == 0 || argc > 0)))
		usage();

	if ((s = isnsub_new(&p, &cause)) == NULL)
		fatalx("%s", cause);
	free(xstrzero(password));
	for (i = 0; i < (unsigned long)argc; i++)
		if (isnsub_add_file(s, argv[i], &cause) == -1)
			fatalx("%s", cause);

	/* Synthetic instances: one study (that of the files, if any). */
	if (nsynth + nct > 0) {
		if (studyuid != NULL) {
			if (strlcpy(study, studyuid, sizeof(study)) >=
			    sizeof(study) || snprintf(series[0],
			    sizeof(series[0]), "%s.1", study) >=
			    (int)sizeof(series[0]) || snprintf(series[1],
			    sizeof(series[1]), "%s.2", study) >=
			    (int)sizeof(series[1]))
				fatalx("study UID too long: %s", studyuid);
		} else {
			if (argc > 0)
				strlcpy(study, isnsub_study_uid(s),
				    sizeof(study));
			else
				dicom_uid_generate(study);
			dicom_uid_generate(series[0]);
			dicom_uid_generate(series[1]);
		}
	}
	for (i = 0; i < nsynth + nct; i++) {
		/* Secondary Capture over two series; or CT slices in one. */
		unsigned long se = nct > 0 ? 0 : i % 2, num = nct > 0 ? i + 1 :
		    i / 2 + 1;

		memset(&ip, 0, sizeof(ip));
		ip.ct = nct > 0;
		ip.patient_id = pid != NULL ? pid : isnsub_rsnaid(s);
		ip.patient_name = pname;
		ip.study_uid = study;
		ip.series_uid = series[se];
		if (studyuid != NULL) {
			if (snprintf(sop, sizeof(sop), "%s.%lu", series[se],
			    num) >= (int)sizeof(sop))
				fatalx("study UID too long: %s", studyuid);
		} else
			dicom_uid_generate(sop);
		ip.sop_instance_uid = sop;
		ip.instance_number = (unsigned)num;
		ip.pixel_bytes = (size_t)bytes;
		ip.accession_number = p.accession_number != NULL ?
		    p.accession_number : "ISNTEST1";
		/* The saved file and the submitted one must be identical. */
		ip.date = "20261127";
		ip.time = "120000";
		ip.seed = (uint64_t)i * 0x9e3779b97f4a7c15ULL ^
		    (uint64_t)strlen(sop) ^ (uint64_t)sop[strlen(sop) - 1];
		if (isnsub_add_synthetic(s, &ip, &cause) == -1)
			fatalx("%s", cause);
		if (savedir != NULL) {
			snprintf(path, sizeof(path), "%s/%s.dcm", savedir, sop);
			if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC,
			    0644)) == -1)
				fatal("%s", path);
			if (dicom_instance_write_fd(&ip, fd, &cause) == -1)
				fatalx("%s: %s", path, cause);
			if (close(fd) == -1)
				fatal("%s", path);
		}
	}
	if (report != NULL && isnsub_set_report(s, report, &cause) == -1)
		fatalx("%s", cause);
	if (isnsub_finish(s, &cause) == -1)
		fatalx("%s", cause);
	if (savekos != NULL) {
		kos = isnsub_kos(s, &koslen);
		if ((f = fopen(savekos, "w")) == NULL ||
		    fwrite(kos, 1, koslen, f) != koslen || fclose(f) != 0)
			fatal("%s", savekos);
	}

	if ((f = fopen(ctfile, "w")) == NULL ||
	    fprintf(f, "%s\n", isnsub_content_type(s)) < 0 || fclose(f) != 0)
		fatal("%s", ctfile);
	if (info != NULL) {
		if ((inf = fopen(info, "w")) == NULL)
			fatal("%s", info);
	} else
		inf = strcmp(out, "-") == 0 ? NULL : stdout;
	if (inf != NULL) {
		fprintf(inf, "rsna-id %s\ncx %s\nsubmission %s\nstudy %s\n"
		    "kos %s\n", isnsub_rsnaid(s), isnsub_patient_cx(s),
		    isnsub_submission_uid(s), isnsub_study_uid(s),
		    isnsub_kos_uid(s));
		if (isnsub_report_uid(s) != NULL)
			fprintf(inf, "report %s\n", isnsub_report_uid(s));
		if (inf != stdout && fclose(inf) != 0)
			fatal("%s", info);
	}

	if (strcmp(out, "-") == 0)
		fd = STDOUT_FILENO;
	else if ((fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
		fatal("%s", out);
	if (isnsub_write_fd(s, fd, &cause) == -1)
		fatalx("%s: %s", out, cause);
	if (fd != STDOUT_FILENO && close(fd) == -1)
		fatal("%s", out);
	isnsub_free(s);
	return (0);
}
