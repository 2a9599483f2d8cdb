/*
 * standalone.c: run a libFuzzer harness over files without libFuzzer, so that
 * normal builds replay the seed corpus as regression inputs.
 */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
standalone_file(const char *path)
{
	FILE		*f;
	uint8_t		*buf;
	struct stat	 st;
	size_t		 n;

	if ((f = fopen(path, "rb")) == NULL || fstat(fileno(f), &st) == -1) {
		fprintf(stderr, "cannot read %s\n", path);
		if (f != NULL)
			fclose(f);
		return (-1);
	}
	buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	n = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return (0);
}

int
main(int argc, char **argv)
{
	struct dirent	*de;
	struct stat	 st;
	DIR		*d;
	char		 path[4096];
	int		 i, files = 0, bad = 0;

	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			if ((d = opendir(argv[i])) == NULL)
				return (1);
			while ((de = readdir(d)) != NULL) {
				if (de->d_name[0] == '.')
					continue;
				snprintf(path, sizeof(path), "%s/%s", argv[i],
				    de->d_name);
				bad += standalone_file(path) == -1;
				files++;
			}
			closedir(d);
		} else {
			bad += standalone_file(argv[i]) == -1;
			files++;
		}
	}
	printf("replayed %d inputs\n", files);
	return (bad == 0 && files > 0 ? 0 : 1);
}
