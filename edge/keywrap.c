/*
 * keywrap.c: a job's isn2 content key wrapped under the site's
 * key-encryption key (keywrap.h).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "keywrap.h"
#include "xmalloc.h"

#define KEYWRAP_VERSION	1
#define KEYWRAP_LABEL	"isn-edge keywrap v1"

int
keywrap_load(const char *path, uint8_t kek[KEYWRAP_KEY_LEN], char **cause)
{
	struct stat	 sb;
	ssize_t		 n;
	uint8_t		 extra;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		xcause(cause, "%s: %s", path, strerror(errno));
		return (-1);
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		xcause(cause, "%s: not a regular file", path);
		goto fail;
	}
	if ((sb.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		xcause(cause, "%s: readable or writable by others than its "
		    "owner (chmod 600 it)", path);
		goto fail;
	}
	n = read(fd, kek, KEYWRAP_KEY_LEN);
	if (n != KEYWRAP_KEY_LEN || read(fd, &extra, 1) != 0) {
		xcause(cause, "%s: a key file holds exactly %d bytes", path,
		    KEYWRAP_KEY_LEN);
		explicit_bzero(kek, KEYWRAP_KEY_LEN);
		goto fail;
	}
	close(fd);
	return (0);
fail:
	close(fd);
	return (-1);
}

int
keywrap_generate(const char *path, char **cause)
{
	uint8_t	 kek[KEYWRAP_KEY_LEN];
	int	 fd, rc = 0;

	if (RAND_bytes(kek, sizeof(kek)) != 1) {
		xcause(cause, "no random bytes for a key");
		return (-1);
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1 || write(fd, kek, sizeof(kek)) != (ssize_t)sizeof(kek) ||
	    fsync(fd) == -1) {
		xcause(cause, "%s: %s", path, strerror(errno));
		rc = -1;
		if (fd != -1)
			unlink(path);
	}
	if (fd != -1)
		close(fd);
	explicit_bzero(kek, sizeof(kek));
	return (rc);
}

/* AES-256-GCM one way or the other; the AAD binds label and RSNA-ID. */
static int
keywrap_gcm(int enc, const uint8_t kek[KEYWRAP_KEY_LEN], const char *rsna_id,
    const uint8_t nonce[KEYWRAP_NONCE_LEN], const uint8_t *in, uint8_t *out,
    uint8_t tag[KEYWRAP_TAG_LEN])
{
	EVP_CIPHER_CTX	*c;
	int		 len, ok;

	if ((c = EVP_CIPHER_CTX_new()) == NULL)
		return (-1);
	ok = EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, kek, nonce,
	    enc) == 1 &&
	    EVP_CipherUpdate(c, NULL, &len, (const uint8_t *)KEYWRAP_LABEL,
	    sizeof(KEYWRAP_LABEL)) == 1 &&
	    EVP_CipherUpdate(c, NULL, &len, (const uint8_t *)rsna_id,
	    (int)strlen(rsna_id)) == 1 &&
	    EVP_CipherUpdate(c, out, &len, in, KEYWRAP_KEY_LEN) == 1 &&
	    (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG,
	    KEYWRAP_TAG_LEN, tag) == 1) &&
	    EVP_CipherFinal_ex(c, out + len, &len) == 1 &&
	    (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG,
	    KEYWRAP_TAG_LEN, tag) == 1);
	EVP_CIPHER_CTX_free(c);
	return (ok ? 0 : -1);
}

int
keywrap_wrap(const uint8_t kek[KEYWRAP_KEY_LEN], const char *rsna_id,
    const uint8_t key[KEYWRAP_KEY_LEN], uint8_t out[KEYWRAP_LEN],
    char **cause)
{
	uint8_t	*nonce = out + 1, *ct = nonce + KEYWRAP_NONCE_LEN;

	out[0] = KEYWRAP_VERSION;
	if (RAND_bytes(nonce, KEYWRAP_NONCE_LEN) != 1 ||
	    keywrap_gcm(1, kek, rsna_id, nonce, key, ct,
	    ct + KEYWRAP_KEY_LEN) == -1) {
		xcause(cause, "cannot wrap the key");
		return (-1);
	}
	return (0);
}

int
keywrap_unwrap(const uint8_t kek[KEYWRAP_KEY_LEN], const char *rsna_id,
    const uint8_t *in, size_t len, uint8_t key[KEYWRAP_KEY_LEN],
    char **cause)
{
	uint8_t	tag[KEYWRAP_TAG_LEN];

	if (len != KEYWRAP_LEN || in[0] != KEYWRAP_VERSION) {
		xcause(cause, "not a wrapped key (length %zu)", len);
		return (-1);
	}
	memcpy(tag, in + 1 + KEYWRAP_NONCE_LEN + KEYWRAP_KEY_LEN, sizeof(tag));
	if (keywrap_gcm(0, kek, rsna_id, in + 1, in + 1 + KEYWRAP_NONCE_LEN,
	    key, tag) == -1) {
		explicit_bzero(key, KEYWRAP_KEY_LEN);
		xcause(cause, "the wrapped key does not open with this site "
		    "key and RSNA-ID");
		return (-1);
	}
	return (0);
}
