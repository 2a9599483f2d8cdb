/*
 * mtom.h: streaming MTOM/XOP (multipart/related) parsing and writing.
 *
 * The parser is fed arbitrary byte slices. The root part (the SOAP
 * envelope) is collected into a bounded buffer; every other part streams
 * through the callbacks and is never held whole in memory. Sizes and SHA-1
 * digests of the decoded part bytes are computed on the fly and kept in a
 * small table with each part's Content-ID, so xop:Include hrefs resolve to
 * what the sink stored. The writer produces such a message in bounded
 * chunks from a root buffer and attachments read from files or callbacks.
 */
#ifndef ISN_MTOM_H
#define ISN_MTOM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "http.h"

#define MTOM_MAX_PARTS		1000
#define MTOM_MAX_PART_HEADERS	(16 * 1024)
#define MTOM_MAX_ROOT		(64 * 1024 * 1024)
#define MTOM_MAX_BOUNDARY	70		/* RFC 2046 */
#define MTOM_CHUNK		(64 * 1024)	/* writer output chunks */

struct mtom_limits {
	size_t		max_parts;		/* 0 = MTOM_MAX_PARTS */
	size_t		max_part_headers;	/* 0 = MTOM_MAX_PART_HEADERS */
	size_t		max_root;		/* 0 = MTOM_MAX_ROOT */
	uint64_t	max_part;		/* attachment bytes; 0 = none */
};

/* One part as the parser recorded it. */
struct mtom_part {
	size_t		 index;		/* 0-based order in the message */
	char		*cid;		/* Content-ID without <>, or NULL */
	char		*content_type;	/* header value as sent, or NULL */
	char		*cte;		/* Content-Transfer-Encoding or NULL */
	int		 base64;	/* decoded on the fly */
	int		 root;
	uint64_t	 size;		/* decoded bytes (so far) */
	char		 sha1[41];	/* lower-case hex, set at the end */
	int		 complete;	/* its closing delimiter was seen */
	void		*handle;	/* what part_begin returned */
};

/* Output of the streaming decoders and of the writer. */
typedef int (*mtom_sink_cb)(const void *, size_t, void *, char **);
/* Attachment source for the writer: bytes read, 0 at the end, -1 error. */
typedef ssize_t (*mtom_read_cb)(void *, size_t, void *, char **);

/*
 * Attachment callbacks (the root part does not go through them); any may
 * be NULL. part_begin may set *handle (a temp file, a blob id); it is kept
 * in the part table and passed to handle_free when the parser is freed.
 */
struct mtom_callbacks {
	int	(*part_begin)(const struct mtom_part *, void **, void *,
		    char **);
	int	(*part_data)(const struct mtom_part *, const void *, size_t,
		    void *, char **);
	int	(*part_end)(const struct mtom_part *, void *, char **);
	void	(*handle_free)(void *, void *);
};

struct mtom_parser;

struct mtom_parser *mtom_parser_new(const char *, const struct mtom_callbacks *,
		    void *, const struct mtom_limits *, char **);
int		 mtom_parser_feed(struct mtom_parser *, const void *, size_t,
		    char **);
/* End of input: refuses an unterminated message or a missing root. */
int		 mtom_parser_finish(struct mtom_parser *, char **);
void		 mtom_parser_free(struct mtom_parser *);
/*
 * Before the first feed: part_data hashes what it keeps, so the parser
 * does not also hash binary attachments (their sha1 stays ""; base64 ones
 * are still hashed as they are decoded).  SHA-1 was a fifth of the
 * repository's CPU per uploaded byte, done twice.
 */
void		 mtom_parser_nohash(struct mtom_parser *);

/* The parsed Content-Type of the message (boundary, start, action...). */
const struct http_ct *mtom_parser_ct(const struct mtom_parser *);
size_t		 mtom_parser_nparts(const struct mtom_parser *);
const struct mtom_part *mtom_parser_part(const struct mtom_parser *, size_t);
const struct mtom_part *mtom_parser_root_part(const struct mtom_parser *);
/* The root bytes (NUL-terminated); valid until the parser is freed. */
const char	*mtom_parser_root(const struct mtom_parser *, size_t *);
/* Take ownership of the root bytes (caller frees). */
char		*mtom_parser_take_root(struct mtom_parser *, size_t *);
/* The part an xop:Include href ("cid:a%40b") names, or NULL. */
const struct mtom_part *mtom_parser_lookup(const struct mtom_parser *,
		    const char *);

/* "cid:abc%40x" -> "abc@x" (RFC 2392), caller frees; NULL if malformed. */
char		*mtom_cid_from_href(const char *);
/* A Content-ID or start value without its optional <>; caller frees. */
char		*mtom_cid_strip(const char *);

/* Incremental SHA-1 + size. */
struct mtom_digest {
	void		*ctx;		/* EVP_MD_CTX */
	uint64_t	 size;
};
void		 mtom_digest_init(struct mtom_digest *);
void		 mtom_digest_update(struct mtom_digest *, const void *, size_t);
/* Writes 40 hex digits and a NUL; the digest may be re-initialised. */
void		 mtom_digest_final(struct mtom_digest *, char [41]);
void		 mtom_digest_free(struct mtom_digest *);

/* Streaming, whitespace-tolerant base64 decoding with SHA-1 and size. */
struct mtom_b64 {
	uint32_t		 acc;
	int			 nacc;		/* sextets in acc */
	int			 pad;		/* '=' seen in this quantum */
	int			 done;		/* padding completed */
	uint64_t		 pos;		/* input bytes seen */
	struct mtom_digest	 digest;
};
void		 mtom_b64_init(struct mtom_b64 *);
/* Decode; decoded bytes go to the sink (which may be NULL). */
int		 mtom_b64_update(struct mtom_b64 *, const void *, size_t,
		    mtom_sink_cb, void *, char **);
/* Check the end (no stray sextets); gives the SHA-1 and decoded size. */
int		 mtom_b64_final(struct mtom_b64 *, char [41], uint64_t *,
		    char **);
void		 mtom_b64_free(struct mtom_b64 *);

/* The writer. */
struct mtom_writer;

/* boundary NULL = random; action NULL = no action parameter. */
struct mtom_writer *mtom_writer_new(const char *, const char *);
void		 mtom_writer_free(struct mtom_writer *);
/* The root XML (not copied: it must live until the writer is done). */
int		 mtom_writer_set_root(struct mtom_writer *, const void *,
		    size_t, const char *, char **);
/* Attachments: cid without <>, the part's Content-Type. */
int		 mtom_writer_add_buf(struct mtom_writer *, const char *,
		    const char *, const void *, size_t, char **);
int		 mtom_writer_add_fd(struct mtom_writer *, const char *,
		    const char *, int, char **);
int		 mtom_writer_add_path(struct mtom_writer *, const char *,
		    const char *, const char *, char **);
int		 mtom_writer_add_cb(struct mtom_writer *, const char *,
		    const char *, mtom_read_cb, void *, char **);
/* The HTTP Content-Type header value for the message. */
const char	*mtom_writer_content_type(struct mtom_writer *);
const char	*mtom_writer_boundary(const struct mtom_writer *);
/* Pull up to len bytes of the message: bytes produced, 0 at end, -1. */
ssize_t		 mtom_writer_read(struct mtom_writer *, void *, size_t,
		    char **);
/* Push the whole message through the sink in MTOM_CHUNK pieces. */
int		 mtom_writer_write(struct mtom_writer *, mtom_sink_cb, void *,
		    char **);

#endif
