/*
 * envelope.h: the isn2 encryption envelope (PROFILE.md section 4; the byte
 * format is in docs/protocol.md). An 80-byte header, then the document in
 * 64 KiB chunks sealed with AES-256-GCM under a key derived by HKDF-SHA256
 * from the content key, a random salt and the document's XDS uniqueId.
 *
 * Both directions stream and hold at most one chunk whatever the document
 * size. The decoder hands a chunk's plaintext to its sink only after that
 * chunk's tag has been checked, but a document is only whole and authentic
 * when envelope_dec_final() returns 0: a consumer must discard everything
 * it was given if any call fails.
 */
#ifndef ISN_ENVELOPE_H
#define ISN_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#define ENVELOPE_KEY_LEN	32
#define ENVELOPE_HEADER_LEN	80
#define ENVELOPE_SALT_LEN	32
#define ENVELOPE_PREFIX_LEN	7
#define ENVELOPE_TAG_LEN	16
#define ENVELOPE_CHUNK_LOG2	16
#define ENVELOPE_CHUNK		(1U << ENVELOPE_CHUNK_LOG2) /* 65536 */
#define ENVELOPE_UNIQUEID_MAX	128
/* 2^32 chunks of 64 KiB: the largest document one envelope can hold. */
#define ENVELOPE_MAX_PLAINTEXT	((uint64_t)1 << 48)

/*
 * Receives output: envelope bytes from the encoder, authenticated plaintext
 * from the decoder. Never called with len 0. Returns 0, or -1 to abort.
 */
typedef int (*envelope_sink)(void *arg, const void *buf, size_t len);

struct envelope_enc;
struct envelope_dec;

/*
 * The uniqueId is printable ASCII (0x20-0x7e), 1 to 128 bytes. The header
 * goes to the sink with the first update or final call.
 */
struct envelope_enc *envelope_enc_new(const uint8_t key[ENVELOPE_KEY_LEN],
	    const char *uniqueid, envelope_sink, void *arg, char **cause);
/* For test vectors only: a fixed salt and nonce prefix, not random ones. */
struct envelope_enc *envelope_enc_new_fixed(const uint8_t key[ENVELOPE_KEY_LEN],
	    const char *uniqueid, const uint8_t salt[ENVELOPE_SALT_LEN],
	    const uint8_t prefix[ENVELOPE_PREFIX_LEN], envelope_sink, void *arg,
	    char **cause);
int	 envelope_enc_update(struct envelope_enc *, const void *, size_t,
	    char **cause);
int	 envelope_enc_final(struct envelope_enc *, char **cause);
/* Frees and wipes the keys and the buffered chunk. */
void	 envelope_enc_free(struct envelope_enc *);

struct envelope_dec *envelope_dec_new(const uint8_t key[ENVELOPE_KEY_LEN],
	    const char *uniqueid, envelope_sink, void *arg, char **cause);
/* Accepts the envelope in slices of any size, including 0. */
int	 envelope_dec_update(struct envelope_dec *, const void *, size_t,
	    char **cause);
/* Checks the final chunk: 0 only when the whole document is authentic. */
int	 envelope_dec_final(struct envelope_dec *, char **cause);
void	 envelope_dec_free(struct envelope_dec *);

/*
 * Whole streams between file descriptors (blocking, EINTR retried). On
 * failure decrypt_fd has written part of the plaintext: discard the output.
 */
int	 envelope_encrypt_fd(int in, int out,
	    const uint8_t key[ENVELOPE_KEY_LEN],
	    const char *uniqueid, char **cause);
int	 envelope_decrypt_fd(int in, int out,
	    const uint8_t key[ENVELOPE_KEY_LEN],
	    const char *uniqueid, char **cause);

/*
 * The exact envelope size for a plaintext size (the XDS size is that of the
 * stored bytes); 0 when the plaintext exceeds ENVELOPE_MAX_PLAINTEXT.
 */
uint64_t envelope_size(uint64_t plaintext_len);

#endif
