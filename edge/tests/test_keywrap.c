/*
 * test_keywrap.c: wrap and unwrap a content key (keywrap.h): round trip,
 * another KEK, another RSNA-ID, tampering, bad lengths and versions, and
 * the key file rules.
 */
#include "config.h"

#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keywrap.h"
#include "tap.h"

static const char ID[] = "83f59bf2b530007175cd5fb00f8dfc7f";

static void
test_wrap(void)
{
	uint8_t	 kek[KEYWRAP_KEY_LEN], kek2[KEYWRAP_KEY_LEN];
	uint8_t	 key[KEYWRAP_KEY_LEN], got[KEYWRAP_KEY_LEN];
	uint8_t	 w[KEYWRAP_LEN], w2[KEYWRAP_LEN], bad[KEYWRAP_LEN];
	char	*cause = NULL;
	size_t	 i;
	int	 all = 1;

	memset(kek, 0x11, sizeof(kek));
	memset(kek2, 0x12, sizeof(kek2));
	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	ok(keywrap_wrap(kek, ID, key, w, &cause) == 0, "wrap");
	ok(w[0] == 1 && memcmp(w + 13, key, sizeof(key)) != 0,
	    "version 1, the key not in clear");
	ok(keywrap_unwrap(kek, ID, w, sizeof(w), got, &cause) == 0 &&
	    memcmp(got, key, sizeof(key)) == 0, "unwrap gives the key back");
	ok(keywrap_wrap(kek, ID, key, w2, NULL) == 0 &&
	    memcmp(w, w2, sizeof(w)) != 0, "two wraps differ (random nonce)");
	ok(keywrap_unwrap(kek2, ID, w, sizeof(w), got, &cause) == -1 &&
	    cause != NULL, "another site key: refused (%s)", cause);
	free(cause);
	cause = NULL;
	ok(keywrap_unwrap(kek, "0123456789abcdef0123456789abcdef", w,
	    sizeof(w), got, NULL) == -1, "another RSNA-ID: refused");
	for (i = 0; i < sizeof(w); i++) {
		memcpy(bad, w, sizeof(w));
		bad[i] ^= 0x01;
		if (keywrap_unwrap(kek, ID, bad, sizeof(bad), got, NULL) != -1)
			all = 0;
	}
	ok(all, "a flipped bit anywhere: refused");
	ok(keywrap_unwrap(kek, ID, w, sizeof(w) - 1, got, NULL) == -1 &&
	    keywrap_unwrap(kek, ID, w, 0, got, NULL) == -1,
	    "a wrong length: refused");
}

static void
test_files(const char *dir)
{
	uint8_t	 kek[KEYWRAP_KEY_LEN];
	char	 path[512], *cause = NULL;
	int	 fd;

	snprintf(path, sizeof(path), "%s/site.key", dir);
	ok(keywrap_generate(path, &cause) == 0, "generate a site key");
	ok(keywrap_load(path, kek, &cause) == 0, "and load it");
	ok(keywrap_generate(path, &cause) == -1 && cause != NULL,
	    "never overwrite one (%s)", cause);
	free(cause);
	cause = NULL;
	chmod(path, 0640);
	ok(keywrap_load(path, kek, &cause) == -1 && cause != NULL &&
	    strstr(cause, "chmod 600") != NULL, "group-readable: refused");
	free(cause);
	cause = NULL;
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ok(fd != -1 && write(fd, "short", 5) == 5, "a short file");
	close(fd);
	ok(keywrap_load(path, kek, &cause) == -1 && cause != NULL,
	    "a key file of 5 bytes: refused (%s)", cause);
	free(cause);
	cause = NULL;
	unlink(path);
	ok(keywrap_load(path, kek, &cause) == -1 && cause != NULL,
	    "a missing file: refused");
	free(cause);
}

int
main(void)
{
	char	 dir[] = "/tmp/test_keywrap.XXXXXX";

	test_wrap();
	if (mkdtemp(dir) == NULL)
		return (1);
	test_files(dir);
	rmdir(dir);
	return (tap_done());
}
