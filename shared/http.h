/*
 * http.h: an incremental HTTP/1.1 message-head parser with body framing
 * (Content-Length, chunked, or to end of input), fed arbitrary byte slices,
 * and a parser for Content-Type values with parameters.
 *
 * Used by isn-validate on saved messages (HTTP_F_LAX: bare LF line ends, a
 * body without a length runs to the end of the file) and by the
 * clearinghouse's own streaming HTTP server. Every failure carries a cause
 * and an HTTP status (400, 413, 414, 431, 501, 505) the server can answer
 * with.
 */
#ifndef ISN_HTTP_H
#define ISN_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "dbuf.h"

#define HTTP_MAX_HEADER_BYTES	(64 * 1024)	/* whole head, 431 past it */
#define HTTP_MAX_HEADERS	100		/* header lines, 431 past it */
#define HTTP_MAX_TARGET		8192		/* request-target, 414 past it */
#define HTTP_MAX_CHUNK_LINE	1024		/* chunk-size line, 400 past it */
#define HTTP_MAX_CT_PARAMS	32		/* Content-Type parameters */

/* What http_parser_new accepts. */
#define HTTP_F_REQUEST	0x1	/* a request line */
#define HTTP_F_RESPONSE	0x2	/* a status line; both flags: either */
#define HTTP_F_LAX	0x4	/* saved files: bare LF, body to end of input */

struct http_limits {
	size_t		max_header_bytes;	/* 0 = HTTP_MAX_HEADER_BYTES */
	size_t		max_headers;		/* 0 = HTTP_MAX_HEADERS */
	size_t		max_target;		/* 0 = HTTP_MAX_TARGET */
	uint64_t	max_body;		/* decoded body; 0 = unlimited */
};

struct http_header {
	char	*name;		/* as received */
	char	*value;		/* surrounding blanks removed */
};

/* A parsed message head. */
struct http_msg {
	int			 request;	/* 1 request, 0 response */
	char			*method;	/* request only */
	char			*target;	/* request only */
	int			 major, minor;	/* HTTP/1.x */
	int			 status;	/* response only */
	char			*reason;	/* response only, may be "" */
	struct http_header	*headers;
	size_t			 nheaders;

	/* Body framing, decided when the head is complete. */
	int			 chunked;
	int			 has_length;
	uint64_t		 length;	/* Content-Length when has_length */
	int			 to_eof;	/* body runs to the end of input */
};

/* Callbacks; any may be NULL. A -1 return stops the parser with *cause. */
struct http_callbacks {
	int	(*head)(const struct http_msg *, void *, char **);
	int	(*body)(const void *, size_t, void *, char **);
	int	(*done)(const struct http_msg *, void *, char **);
};

struct http_parser;

struct http_parser *http_parser_new(int, const struct http_limits *,
		    const struct http_callbacks *, void *);
void		 http_parser_free(struct http_parser *);
/* Ready the parser for the next message on the same connection. */
void		 http_parser_reset(struct http_parser *);
/*
 * Feed bytes. Parsing stops at the end of the message: *used says how many
 * bytes were consumed (the rest belongs to the next message). With used
 * NULL, bytes after the end are an error (except blank lines in HTTP_F_LAX).
 */
int		 http_parser_feed(struct http_parser *, const void *, size_t,
		    size_t *, char **);
/* End of input: completes a body running to EOF, refuses a truncation. */
int		 http_parser_finish(struct http_parser *, char **);
/* The head once parsed, else NULL. */
const struct http_msg *http_parser_msg(const struct http_parser *);
int		 http_parser_done(const struct http_parser *);
uint64_t	 http_parser_body_size(const struct http_parser *);
/* HTTP status for the last failure: 400 413 414 431 501 505, 0 = callback. */
int		 http_parser_status(const struct http_parser *);

/* Case-insensitive lookup of the first header with this name, or NULL. */
const char	*http_msg_header(const struct http_msg *, const char *);
size_t		 http_msg_header_count(const struct http_msg *, const char *);

/* A Content-Type value: media type lower-cased, parameters unquoted. */
struct http_ct_param {
	char	*name;		/* lower-cased */
	char	*value;		/* quoted-string unescaped */
};
struct http_ct {
	char			*type;		/* "multipart/related" */
	struct http_ct_param	*params;
	size_t			 nparams;
};

int		 http_ct_parse(const char *, struct http_ct *, char **);
void		 http_ct_free(struct http_ct *);
/* Case-insensitive parameter lookup, NULL when absent. */
const char	*http_ct_param(const struct http_ct *, const char *);
/* Serialise, quoting values that are not tokens. */
int		 http_ct_format(const struct http_ct *, struct dbuf *);
/* Append a quoted-string (with \ escapes) to b; -1 on CR, LF or NUL. */
int		 http_quote(struct dbuf *, const char *);

#endif
