/*
 * conf.h: YAML configuration files parsed into a plain struct through a
 * typed key table (pgbouncer's CF_ABS table translated to YAML).
 * See docs/design/conf.md.
 */
#ifndef ISN_CONF_H
#define ISN_CONF_H

#include <stddef.h>
#include <stdio.h>

#include "compat.h"

#define CONF_MAX_SIZE		(1024 * 1024)	/* bytes in one file */
#define CONF_MAX_DEPTH		32		/* nested mappings/sequences */
#define CONF_MAX_ERRORS		50		/* collected before giving up */
#define CONF_LIST_MAX		1024		/* entries when max is 0 */
#define CONF_HOST_MAX		255

/*
 * Value types and what the field at the key's offset must be:
 *   CONF_STRING, CONF_PATH	char * (allocated; NULL when unset)
 *   CONF_INT, CONF_BOOL	int
 *   CONF_ENUM			int (a value from the key's enums table)
 *   CONF_DURATION		long long, in seconds
 *   CONF_SIZE			size_t, in bytes
 *   CONF_ADDR			struct conf_addr
 *   CONF_SECTION		an embedded struct; sub is its key table
 *   CONF_LIST			a pointer to an allocated array of sub_size
 *				elements, with a size_t count at count_offset.
 *				sub describes one element: a key table for a
 *				sequence of mappings, or one key named "" (its
 *				offset within the element) for scalars.
 * min and max bound an INT (both 0: any int), a DURATION or SIZE (both 0:
 * any non-negative value), the port of an ADDR (both 0: 0 to 65535) and
 * the number of entries of a LIST (max 0: CONF_LIST_MAX).
 */
enum conf_type {
	CONF_STRING,
	CONF_PATH,		/* non-empty; relative to the file's dir */
	CONF_INT,
	CONF_BOOL,		/* true/false/yes/no/on/off, any case */
	CONF_DURATION,		/* "30s", "5m", "72h", "30d" or seconds */
	CONF_SIZE,		/* "64k", "1M", "2G" (powers of 2) or bytes */
	CONF_ENUM,
	CONF_ADDR,		/* "host:port", "[::1]:port", "*:port" */
	CONF_SECTION,
	CONF_LIST
};

#define CONF_REQUIRED	0x1	/* absent (or null) is an error */
#define CONF_NO_RELOAD	0x2	/* a change needs a restart */
#define CONF_SECRET	0x4	/* never printed, wiped when freed */

struct conf_enum {
	const char	*name;		/* NULL ends the table */
	int		 value;
};

struct conf_addr {
	char		 host[CONF_HOST_MAX + 1];	/* "" for "*" */
	int		 port;
	int		 set;		/* 0 when absent without default */
};

struct conf_key {
	const char		*name;		/* NULL ends the table */
	enum conf_type		 type;
	size_t			 offset;
	const char		*def;		/* default as text, or NULL */
	int			 flags;
	long long		 min;
	long long		 max;
	const struct conf_enum	*enums;		/* CONF_ENUM */
	const struct conf_key	*sub;		/* CONF_SECTION, CONF_LIST */
	size_t			 sub_size;	/* CONF_LIST element size */
	size_t			 count_offset;	/* CONF_LIST count (size_t) */
	const char		*help;
};

/* Messages, each "file:line:column: message" (or "file: message"). */
struct conf_errors {
	char		*lines[CONF_MAX_ERRORS + 1];
	size_t		 n;
};

/*
 * Parse into dst, which must start zeroed; keys absent from the file get
 * their defaults. Returns 0, or -1 with every error in errs and the table's
 * fields of dst freed and zeroed again.
 */
int	conf_load_file(const char *path, const struct conf_key *, void *dst,
	    struct conf_errors *);
/* As conf_load_file; name is used in messages and for relative paths. */
int	conf_load_buffer(const char *name, const char *buf, size_t len,
	    const struct conf_key *, void *dst, struct conf_errors *);
/* Free what a load allocated and zero the table's fields. */
void	conf_free(const struct conf_key *, void *);
/* An address to listen on: "*" as 0.0.0.0, IPv6 in brackets; buf. */
const char *conf_addr_listen(const struct conf_addr *, char *buf,
	    size_t len);
/* A cross-key check's "file: message" line (after the loader's own). */
void	conf_error_add(struct conf_errors *, const char *path,
	    const char *fmt, ...) printflike(3, 4);
/*
 * A reload: the values of keys marked CONF_NO_RELOAD go back from old to
 * cur (swapped, so that freeing old frees what cur no longer holds).
 */
void	conf_keep_no_reload(const struct conf_key *, void *old, void *cur);
/* Print the effective configuration as YAML that loads back the same. */
int	conf_dump(FILE *, const struct conf_key *, const void *);
/* A duration in seconds in its largest exact unit, as the config takes it. */
void	conf_fmt_duration(char *buf, size_t len, long long secs);
/*
 * Names of CONF_NO_RELOAD keys whose value differs between two loads, for
 * a warning on reload. Returns the count; *names (NULL if none) and each
 * name are allocated.
 */
size_t	conf_changed_no_reload(const struct conf_key *, const void *old,
	    const void *cur, char ***names);

void	conf_errors_init(struct conf_errors *);
void	conf_errors_print(FILE *, const struct conf_errors *);
void	conf_errors_free(struct conf_errors *);

#endif
