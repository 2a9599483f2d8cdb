/*
 * keywrap.h: the edge's wrapping of a job's isn2 content key.
 *
 * Staff enter the patient's password once, when they create the job set;
 * a routine job sends days later (after the final report and the delay).
 * The edge keeps no password: it derives the RSNA-ID and content key at
 * once and stores the key wrapped (job_sets.wrapped_key) under the site's
 * key-encryption key, a 32-byte file readable by the edge only
 * (edge.yaml jobs.key_file). A stolen database alone opens nothing.
 *
 * Format (KEYWRAP_LEN bytes): version 1 (1 byte) ‖ nonce (12, random) ‖
 * AES-256-GCM ciphertext of the key (32) ‖ tag (16); the additional data
 * is "isn-edge keywrap v1" ‖ 0 ‖ the RSNA-ID, so a wrapped key moved to
 * another job set (another patient) does not unwrap.
 */
#ifndef ISN_KEYWRAP_H
#define ISN_KEYWRAP_H

#include <stddef.h>
#include <stdint.h>

#define KEYWRAP_KEY_LEN		32
#define KEYWRAP_NONCE_LEN	12
#define KEYWRAP_TAG_LEN		16
#define KEYWRAP_LEN		(1 + KEYWRAP_NONCE_LEN + KEYWRAP_KEY_LEN + \
				KEYWRAP_TAG_LEN)

/*
 * Reads the key-encryption key: a regular file of exactly 32 bytes, not
 * readable or writable by group or others (like ssh's private keys). -1
 * and *cause (malloc'd) otherwise.
 */
int	keywrap_load(const char *path, uint8_t kek[KEYWRAP_KEY_LEN],
	    char **cause);
/* Writes a new random one (O_EXCL, mode 0600): for setup and tests. */
int	keywrap_generate(const char *path, char **cause);

int	keywrap_wrap(const uint8_t kek[KEYWRAP_KEY_LEN], const char *rsna_id,
	    const uint8_t key[KEYWRAP_KEY_LEN], uint8_t out[KEYWRAP_LEN],
	    char **cause);
/* -1 for a wrong length or version, another KEK or RSNA-ID, tampering. */
int	keywrap_unwrap(const uint8_t kek[KEYWRAP_KEY_LEN], const char *rsna_id,
	    const uint8_t *in, size_t len, uint8_t key[KEYWRAP_KEY_LEN],
	    char **cause);

#endif
