/*
 * jobs-tool.c: helpers for test_jobs.sh.
 *
 *   jobs-tool ports N                  N free TCP ports on 127.0.0.1
 *   jobs-tool gen DIR MRN ACC STUDY N  N synthetic instances (two
 *       series) of patient MRN, accession ACC, study STUDY in DIR
 *   jobs-tool kek FILE                 a new key-encryption key (0600)
 *   jobs-tool wrap KEK RSNA-ID HEXKEY  the wrapped content key, in hex
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dicom.h"
#include "keywrap.h"

static int
ports(int n)
{
	int			 fds[16], i;
	struct sockaddr_in	 sin;
	socklen_t		 len;

	for (i = 0; i < n && i < 16; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(sin);
		if (fds[i] == -1 || bind(fds[i], (struct sockaddr *)&sin,
		    sizeof(sin)) == -1 || getsockname(fds[i],
		    (struct sockaddr *)&sin, &len) == -1)
			return (1);
		printf("%d\n", ntohs(sin.sin_port));
	}
	for (i = 0; i < n && i < 16; i++)
		close(fds[i]);
	return (0);
}

static int
gen(const char *dir, const char *mrn, const char *acc, const char *study,
    int n)
{
	struct dicom_instance_params	 ip;
	char				 series[2][80], sop[96], path[4096];
	char				*cause = NULL;
	int				 i, fd;

	snprintf(series[0], sizeof(series[0]), "%s.1", study);
	snprintf(series[1], sizeof(series[1]), "%s.2", study);
	for (i = 0; i < n; i++) {
		memset(&ip, 0, sizeof(ip));
		snprintf(sop, sizeof(sop), "%s.%d", series[i % 2], i / 2 + 1);
		ip.patient_id = mrn;
		ip.patient_name = "DOE^JANE";
		ip.study_uid = study;
		ip.series_uid = series[i % 2];
		ip.sop_instance_uid = sop;
		ip.modality = "CT";
		ip.accession_number = acc;
		ip.date = "20261127";
		ip.time = "120000";
		ip.instance_number = (unsigned)(i / 2 + 1);
		ip.pixel_bytes = 4096 + (size_t)i * 512;
		ip.seed = (uint64_t)i * 0x9e3779b97f4a7c15ULL ^ (uint64_t)n;
		snprintf(path, sizeof(path), "%s/%s.dcm", dir, sop);
		if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1) {
			perror(path);
			return (1);
		}
		if (dicom_instance_write_fd(&ip, fd, &cause) == -1) {
			fprintf(stderr, "%s: %s\n", path, cause);
			return (1);
		}
		close(fd);
	}
	return (0);
}

static int
wrap(const char *kekfile, const char *id, const char *hex)
{
	uint8_t		 kek[KEYWRAP_KEY_LEN], key[KEYWRAP_KEY_LEN];
	uint8_t		 out[KEYWRAP_LEN];
	char		*cause = NULL;
	size_t		 i;
	unsigned int	 b;

	if (strlen(hex) != 2 * KEYWRAP_KEY_LEN) {
		fprintf(stderr, "the key is not %d hex digits\n",
		    2 * KEYWRAP_KEY_LEN);
		return (1);
	}
	for (i = 0; i < KEYWRAP_KEY_LEN; i++) {
		if (sscanf(hex + 2 * i, "%2x", &b) != 1)
			return (1);
		key[i] = (uint8_t)b;
	}
	if (keywrap_load(kekfile, kek, &cause) == -1 ||
	    keywrap_wrap(kek, id, key, out, &cause) == -1) {
		fprintf(stderr, "%s\n", cause);
		return (1);
	}
	for (i = 0; i < sizeof(out); i++)
		printf("%02x", out[i]);
	printf("\n");
	return (0);
}

int
main(int argc, char **argv)
{
	char	*cause = NULL;

	if (argc == 3 && strcmp(argv[1], "ports") == 0)
		return (ports(atoi(argv[2])));
	if (argc == 7 && strcmp(argv[1], "gen") == 0)
		return (gen(argv[2], argv[3], argv[4], argv[5], atoi(argv[6])));
	if (argc == 3 && strcmp(argv[1], "kek") == 0) {
		if (keywrap_generate(argv[2], &cause) == -1) {
			fprintf(stderr, "%s\n", cause);
			return (1);
		}
		return (0);
	}
	if (argc == 5 && strcmp(argv[1], "wrap") == 0)
		return (wrap(argv[2], argv[3], argv[4]));
	fprintf(stderr, "usage: jobs-tool ports N | gen DIR MRN ACC STUDY N "
	    "| kek FILE | wrap KEK RSNA-ID HEXKEY\n");
	return (2);
}
