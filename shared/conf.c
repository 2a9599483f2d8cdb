/*
 * conf.c: YAML configuration files read through typed key tables. The file
 * is walked as a stream of libyaml events (never as a document tree, so
 * aliases can be refused instead of expanded), and every error is collected.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#include "conf.h"
#include "dbuf.h"
#include "xmalloc.h"

#define CONF_QUOTE_MAX		64	/* bytes of a bad value echoed back */
#define CONF_SUGGEST_MAX	64	/* longest key worth a suggestion */

struct conf_ctx {
	const char		*name;		/* for messages */
	char			*dir;		/* of relative paths, or NULL */
	const char		*buf;
	size_t			 len;
	yaml_parser_t		 parser;
	yaml_event_t		 ev;
	int			 have_ev;
	struct conf_errors	*errs;
	int			 failed;	/* an error was recorded */
	int			 stop;		/* no more parsing */
	int			 depth;
};

struct conf_names {
	char			**v;
	size_t			 n;
};

static void	conf_mapping(struct conf_ctx *, const struct conf_key *, void *,
		    const char *, yaml_mark_t);
static void	conf_finish(struct conf_ctx *, const struct conf_key *, void *,
		    const char *, const size_t *, const yaml_mark_t *);
static int	conf_dump_mapping(FILE *, const struct conf_key *,
		    const void *, int, int);
static int	conf_equal(const struct conf_key *, const void *,
		    const void *);

/* The field a key describes inside the struct at base. */
static void *
conf_field(const void *base, const struct conf_key *key)
{
	return ((char *)(uintptr_t)base + key->offset);
}

/* Read a CONF_LIST key's array pointer and count. */
static void *
conf_list_get(const void *base, const struct conf_key *key, size_t *count)
{
	void	*arr;

	memcpy(&arr, conf_field(base, key), sizeof(arr));
	memcpy(count, (const char *)base + key->count_offset, sizeof(*count));
	return (arr);
}

/* Store a CONF_LIST key's array pointer and count. */
static void
conf_list_set(void *base, const struct conf_key *key, void *arr, size_t count)
{
	memcpy(conf_field(base, key), &arr, sizeof(arr));
	memcpy((char *)base + key->count_offset, &count, sizeof(count));
}

/* Is this list made of scalars (an element table of one key named "")? */
static int
conf_list_scalars(const struct conf_key *key)
{
	return (key->sub[0].name != NULL && key->sub[0].name[0] == '\0');
}

/* Add "name<pos>: message"; past the limit, a last line saying so. */
static int printflike(4, 5)
conf_errors_add(struct conf_errors *errs, const char *name, const char *pos,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	if (errs->n > CONF_MAX_ERRORS)
		return (-1);
	if (errs->n == CONF_MAX_ERRORS) {
		xasprintf(&errs->lines[errs->n++],
		    "%s: too many errors, stopping after %d", name,
		    CONF_MAX_ERRORS);
		return (-1);
	}
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	xasprintf(&errs->lines[errs->n++], "%s%s: %s", name, pos, msg);
	free(msg);
	return (0);
}

/* Record an error at a position of the file (NULL: the whole file). */
static void printflike(3, 4)
conf_error(struct conf_ctx *ctx, const yaml_mark_t *mark, const char *fmt,
    ...)
{
	va_list	 ap;
	char	*msg, pos[64] = "";
	int	 r;

	ctx->failed = 1;
	if (ctx->stop)
		return;
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	if (mark != NULL)
		snprintf(pos, sizeof(pos), ":%zu:%zu", mark->line + 1,
		    mark->column + 1);
	r = conf_errors_add(ctx->errs, ctx->name, pos, "%s", msg);
	free(msg);
	if (r == -1)
		ctx->stop = 1;
}

/* A file-supplied string made safe for a message: quoted, escaped, cut. */
static char *
conf_quote(const char *s, size_t len)
{
	struct dbuf	 b;
	unsigned char	 c;
	size_t		 i;

	dbuf_init(&b, SIZE_MAX / 2);
	dbuf_addc(&b, '"');
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (i >= CONF_QUOTE_MAX && (c & 0xc0) != 0x80) {
			dbuf_addstr(&b, "...");
			break;
		}
		if (c == '"' || c == '\\')
			dbuf_printf(&b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			dbuf_printf(&b, "\\x%02x", c);
		else
			dbuf_addc(&b, (char)c);
	}
	dbuf_addc(&b, '"');
	return (dbuf_take(&b, NULL));
}

/* Join a parent's name and a key into the dotted name used in messages. */
static char *
conf_join(const char *prefix, const char *name)
{
	char	*s;

	if (*prefix == '\0')
		return (xstrdup(name));
	xasprintf(&s, "%s.%s", prefix, name);
	return (s);
}

/* The byte offset where a mark points (for a hint only; UTF-8 assumed). */
static size_t
conf_mark_offset(const struct conf_ctx *ctx, const yaml_mark_t *mark)
{
	size_t	off = 0, line = 0, col = 0;

	while (off < ctx->len && line < mark->line)
		if (ctx->buf[off++] == '\n')
			line++;
	while (off < ctx->len && col < mark->column) {
		off++;
		while (off < ctx->len &&
		    ((unsigned char)ctx->buf[off] & 0xc0) == 0x80)
			off++;
		col++;
	}
	return (off);
}

/* Report what libyaml could not parse, with its own wording. */
static void
conf_syntax(struct conf_ctx *ctx)
{
	yaml_parser_t	*p = &ctx->parser;
	yaml_mark_t	 m;
	const char	*problem;
	size_t		 off;

	problem = p->problem != NULL ? p->problem : "unknown error";
	switch (p->error) {
	case YAML_MEMORY_ERROR:
		conf_error(ctx, NULL, "out of memory while parsing");
		return;
	case YAML_READER_ERROR:
		memset(&m, 0, sizeof(m));
		for (off = 0; off < p->problem_offset && off < ctx->len;
		    off++) {
			if (ctx->buf[off] == '\n') {
				m.line++;
				m.column = 0;
			} else if (((unsigned char)ctx->buf[off] & 0xc0) !=
			    0x80)
				m.column++;
		}
		if (p->problem_value != -1)
			conf_error(ctx, &m, "invalid input: %s (#x%X)",
			    problem, (unsigned int)p->problem_value);
		else
			conf_error(ctx, &m, "invalid input: %s", problem);
		return;
	default:
		break;
	}
	m = p->problem_mark;
	off = conf_mark_offset(ctx, &m);
	if (off < ctx->len && ctx->buf[off] == '\t')
		conf_error(ctx, &m, "syntax error: found a tab character "
		    "(YAML does not allow tabs for indentation)");
	else if (p->context != NULL)
		conf_error(ctx, &m, "syntax error: %s (%s at line %zu)",
		    problem, p->context, p->context_mark.line + 1);
	else
		conf_error(ctx, &m, "syntax error: %s", problem);
}

/* Is the current scalar a YAML null ("", "~", "null"), meaning unset? */
static int
conf_is_null(const yaml_event_t *ev)
{
	const char	*v = (const char *)ev->data.scalar.value;
	size_t		 n = ev->data.scalar.length;

	if (ev->type != YAML_SCALAR_EVENT ||
	    ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return (0);
	return (n == 0 || (n == 1 && v[0] == '~') ||
	    (n == 4 && (memcmp(v, "null", 4) == 0 ||
	    memcmp(v, "Null", 4) == 0 || memcmp(v, "NULL", 4) == 0)));
}

/* What kind of node an event starts, for messages. */
static const char *
conf_kind(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return (conf_is_null(ev) ? "an empty value" : "a scalar");
	case YAML_SEQUENCE_START_EVENT:
		return ("a sequence");
	case YAML_MAPPING_START_EVENT:
		return ("a mapping");
	case YAML_ALIAS_EVENT:
		return ("an alias");
	default:
		return ("no value");
	}
}

/* Move to the next event; -1 after a syntax error or once stopped. */
static int
conf_next(struct conf_ctx *ctx)
{
	const yaml_char_t	*anchor = NULL;

	if (ctx->have_ev) {
		yaml_event_delete(&ctx->ev);
		ctx->have_ev = 0;
	}
	if (ctx->stop)
		return (-1);
	if (!yaml_parser_parse(&ctx->parser, &ctx->ev)) {
		conf_syntax(ctx);
		ctx->stop = 1;
		return (-1);
	}
	ctx->have_ev = 1;
	switch (ctx->ev.type) {
	case YAML_ALIAS_EVENT:
		conf_error(ctx, &ctx->ev.start_mark,
		    "aliases are not allowed");
		break;
	case YAML_SCALAR_EVENT:
		anchor = ctx->ev.data.scalar.anchor;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ctx->ev.data.sequence_start.anchor;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ctx->ev.data.mapping_start.anchor;
		break;
	default:
		break;
	}
	if (anchor != NULL)
		conf_error(ctx, &ctx->ev.start_mark, "anchors are not allowed");
	return (ctx->stop ? -1 : 0);
}

/* Consume the node the current event starts, bounding its depth. */
static void
conf_skip(struct conf_ctx *ctx)
{
	int	level = 0;

	for (;;) {
		switch (ctx->ev.type) {
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (ctx->depth + ++level > CONF_MAX_DEPTH) {
				conf_error(ctx, &ctx->ev.start_mark,
				    "nesting too deep (limit %d)",
				    CONF_MAX_DEPTH);
				ctx->stop = 1;
				return;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			level--;
			break;
		default:
			break;
		}
		if (level == 0 || conf_next(ctx) == -1)
			return;
	}
}

/* Parse a decimal integer with nothing around it; -1 if not one. */
static int
conf_parse_ll(const char *s, size_t len, long long *v)
{
	unsigned long long	 n = 0, lim;
	size_t			 i = 0;
	int			 neg = 0;

	if (len > 0 && s[0] == '-') {
		neg = 1;
		i++;
	}
	if (i == len)
		return (-1);
	lim = neg ? (unsigned long long)LLONG_MAX + 1 : LLONG_MAX;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		if (n > (lim - (unsigned long long)(s[i] - '0')) / 10)
			return (-1);
		n = n * 10 + (unsigned long long)(s[i] - '0');
	}
	if (neg)
		*v = n == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN :
		    -(long long)n;
	else
		*v = (long long)n;
	return (0);
}

/* Parse "N" or "N<unit>" with units from a list of suffix/factor pairs. */
static int
conf_parse_unit(const char *s, size_t len, const char *suffixes,
    const long long *factors, long long *v)
{
	const char	*u;
	long long	 n, f = 1;

	if (len > 0 && (s[len - 1] < '0' || s[len - 1] > '9')) {
		if (s[len - 1] == '\0' ||
		    (u = strchr(suffixes, s[len - 1])) == NULL)
			return (-1);
		f = factors[u - suffixes];
		len--;
	}
	if (len == 0 || s[0] == '-' || conf_parse_ll(s, len, &n) == -1)
		return (-1);
	if (n > LLONG_MAX / f)
		return (-1);
	*v = n * f;
	return (0);
}

static const char conf_dur_suffix[] = "smhd";
static const long long conf_dur_factor[] = { 1, 60, 3600, 86400 };
static const char conf_size_suffix[] = "kKmMgG";
static const long long conf_size_factor[] = {
	1LL << 10, 1LL << 10, 1LL << 20, 1LL << 20, 1LL << 30, 1LL << 30
};

/* Write a duration in its largest exact unit ("30d", "90s"). */
void
conf_fmt_duration(char *buf, size_t len, long long v)
{
	if (v != 0 && v % 86400 == 0)
		snprintf(buf, len, "%lldd", v / 86400);
	else if (v != 0 && v % 3600 == 0)
		snprintf(buf, len, "%lldh", v / 3600);
	else if (v != 0 && v % 60 == 0)
		snprintf(buf, len, "%lldm", v / 60);
	else
		snprintf(buf, len, "%llds", v);
}

/* Write a size in its largest exact unit ("64k", "1536"). */
static void
conf_fmt_size(char *buf, size_t len, long long v)
{
	if (v != 0 && v % (1LL << 30) == 0)
		snprintf(buf, len, "%lldG", v >> 30);
	else if (v != 0 && v % (1LL << 20) == 0)
		snprintf(buf, len, "%lldM", v >> 20);
	else if (v != 0 && v % (1LL << 10) == 0)
		snprintf(buf, len, "%lldk", v >> 10);
	else
		snprintf(buf, len, "%lld", v);
}

/* Check a host name or address; brackets held an IPv6 address. */
static int
conf_host_ok(const char *s, size_t len, int bracketed)
{
	size_t	i;
	char	c;
	int	zone = 0;

	if (len == 0 || len > CONF_HOST_MAX)
		return (0);
	if (!bracketed && len == 1 && s[0] == '*')
		return (1);
	for (i = 0; i < len; i++) {
		c = s[i];
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		    (c >= 'A' && c <= 'F') || c == '.')
			continue;
		if (bracketed && !zone && c == '%' && i + 1 < len) {
			zone = 1;
			continue;
		}
		if (bracketed && !zone ? c == ':' :
		    ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '-' || c == '_'))
			continue;
		return (0);
	}
	return (!bracketed || memchr(s, ':', len) != NULL);
}

/* Parse "host:port", "[v6]:port" or "*:port"; -1 if malformed. */
static int
conf_parse_addr(const char *s, size_t len, struct conf_addr *a)
{
	const char	*host, *port, *end;
	size_t		 hlen;
	long long	 n;
	int		 bracketed = 0;

	if (len > 0 && s[0] == '[') {
		if ((end = memchr(s, ']', len)) == NULL ||
		    (size_t)(end - s) + 1 >= len || end[1] != ':')
			return (-1);
		host = s + 1;
		hlen = end - host;
		port = end + 2;
		bracketed = 1;
	} else {
		if ((end = memchr(s, ':', len)) == NULL)
			return (-1);
		host = s;
		hlen = end - s;
		port = end + 1;
	}
	if (!conf_host_ok(host, hlen, bracketed))
		return (-1);
	if (conf_parse_ll(port, len - (size_t)(port - s), &n) == -1 ||
	    port[0] == '-' || n > 65535)
		return (-1);
	memset(a, 0, sizeof(*a));
	if (!(hlen == 1 && host[0] == '*' && !bracketed))
		memcpy(a->host, host, hlen);
	a->port = (int)n;
	a->set = 1;
	return (0);
}

/* The bounds of an integer-like key, from its table or from its type. */
static void
conf_bounds(const struct conf_key *key, long long *lo, long long *hi)
{
	if (key->min != 0 || key->max != 0) {
		*lo = key->min;
		*hi = key->max;
		return;
	}
	switch (key->type) {
	case CONF_INT:
		*lo = INT_MIN;
		*hi = INT_MAX;
		break;
	case CONF_ADDR:
		*lo = 0;
		*hi = 65535;
		break;
	case CONF_SIZE:
		*lo = 0;
		*hi = SIZE_MAX < LLONG_MAX ? (long long)SIZE_MAX : LLONG_MAX;
		break;
	default:
		*lo = 0;
		*hi = LLONG_MAX;
		break;
	}
}

/* Describe what a scalar key accepts, for "expected ..." in messages. */
static char *
conf_expected(const struct conf_key *key)
{
	const struct conf_enum	*e;
	struct dbuf		 b;
	long long		 lo, hi;
	char			 l[32], h[32];
	int			 bounded;

	bounded = key->min != 0 || key->max != 0;
	conf_bounds(key, &lo, &hi);
	dbuf_init(&b, SIZE_MAX / 2);
	switch (key->type) {
	case CONF_INT:
		dbuf_addstr(&b, "an integer");
		if (bounded)
			dbuf_printf(&b, " from %lld to %lld", lo, hi);
		break;
	case CONF_BOOL:
		dbuf_addstr(&b, "true, false, yes, no, on or off");
		break;
	case CONF_DURATION:
		dbuf_addstr(&b, "a duration (seconds, or a number followed by "
		    "s, m, h or d)");
		if (bounded) {
			conf_fmt_duration(l, sizeof(l), lo);
			conf_fmt_duration(h, sizeof(h), hi);
			dbuf_printf(&b, " from %s to %s", l, h);
		}
		break;
	case CONF_SIZE:
		dbuf_addstr(&b, "a size (bytes, or a number followed by k, M "
		    "or G)");
		if (bounded) {
			conf_fmt_size(l, sizeof(l), lo);
			conf_fmt_size(h, sizeof(h), hi);
			dbuf_printf(&b, " from %s to %s", l, h);
		}
		break;
	case CONF_ENUM:
		dbuf_addstr(&b, "one of ");
		for (e = key->enums; e != NULL && e->name != NULL; e++)
			dbuf_printf(&b, "%s%s", e->name, e[1].name == NULL ?
			    "" : e[2].name == NULL ? " or " : ", ");
		break;
	case CONF_ADDR:
		dbuf_printf(&b, "host:port, [address]:port or *:port with a "
		    "port from %lld to %lld", lo, hi);
		break;
	default:
		dbuf_addstr(&b, "a string");
		break;
	}
	return (dbuf_take(&b, NULL));
}

/* Resolve a relative path against the configuration file's directory. */
static char *
conf_path(const struct conf_ctx *ctx, const char *s, size_t len)
{
	char	*p;

	if (s[0] == '/' || ctx->dir == NULL)
		return (xstrndup(s, len));
	xasprintf(&p, "%s/%.*s", ctx->dir, (int)len, s);
	return (p);
}

/* Store one scalar value (from the file, or a default) into its field. */
static void
conf_scalar(struct conf_ctx *ctx, const struct conf_key *key, void *base,
    const char *s, size_t len, const char *full, const yaml_mark_t *mark,
    int isdef)
{
	const struct conf_enum	*e;
	struct conf_addr	 a;
	void			*p = conf_field(base, key);
	const char		*what = isdef ? "invalid default" : "invalid";
	char			*q, *exp;
	long long		 v, lo, hi;
	size_t			 sz;
	int			 b;

	if (memchr(s, '\0', len) != NULL) {
		conf_error(ctx, mark, "%s value for \"%s\": contains a NUL "
		    "character", what, full);
		return;
	}
	conf_bounds(key, &lo, &hi);
	switch (key->type) {
	case CONF_STRING:
		*(char **)p = xstrndup(s, len);
		return;
	case CONF_PATH:
		if (len == 0) {
			conf_error(ctx, mark, "%s value for \"%s\": a path "
			    "must not be empty", what, full);
			return;
		}
		*(char **)p = conf_path(ctx, s, len);
		return;
	case CONF_INT:
		if (conf_parse_ll(s, len, &v) == 0 && v >= lo && v <= hi) {
			*(int *)p = (int)v;
			return;
		}
		break;
	case CONF_BOOL:
		if ((len == 4 && strncasecmp(s, "true", 4) == 0) ||
		    (len == 3 && strncasecmp(s, "yes", 3) == 0) ||
		    (len == 2 && strncasecmp(s, "on", 2) == 0))
			b = 1;
		else if ((len == 5 && strncasecmp(s, "false", 5) == 0) ||
		    (len == 2 && strncasecmp(s, "no", 2) == 0) ||
		    (len == 3 && strncasecmp(s, "off", 3) == 0))
			b = 0;
		else
			break;
		*(int *)p = b;
		return;
	case CONF_DURATION:
		if (conf_parse_unit(s, len, conf_dur_suffix, conf_dur_factor,
		    &v) == 0 && v >= lo && v <= hi) {
			*(long long *)p = v;
			return;
		}
		break;
	case CONF_SIZE:
		if (conf_parse_unit(s, len, conf_size_suffix,
		    conf_size_factor, &v) == 0 && v >= lo && v <= hi) {
			sz = (size_t)v;
			*(size_t *)p = sz;
			return;
		}
		break;
	case CONF_ENUM:
		for (e = key->enums; e != NULL && e->name != NULL; e++) {
			if (strlen(e->name) == len &&
			    strncasecmp(e->name, s, len) == 0) {
				*(int *)p = e->value;
				return;
			}
		}
		break;
	case CONF_ADDR:
		if (conf_parse_addr(s, len, &a) == 0 && a.port >= lo &&
		    a.port <= hi) {
			memcpy(p, &a, sizeof(a));
			return;
		}
		break;
	case CONF_SECTION:
	case CONF_LIST:
		break;
	}
	exp = conf_expected(key);
	if (key->flags & CONF_SECRET)
		conf_error(ctx, mark, "%s value for \"%s\": expected %s", what,
		    full, exp);
	else {
		q = conf_quote(s, len);
		conf_error(ctx, mark, "%s value %s for \"%s\": expected %s",
		    what, q, full, exp);
		free(q);
	}
	free(exp);
}

/* A key the file leaves out (or sets to null): default, or an error. */
static void
conf_absent(struct conf_ctx *ctx, const struct conf_key *key, void *base,
    const char *full, const yaml_mark_t *where)
{
	switch (key->type) {
	case CONF_SECTION:
		conf_finish(ctx, key->sub, conf_field(base, key), full, NULL,
		    where);
		return;
	case CONF_LIST:
		break;
	default:
		if (key->def != NULL) {
			conf_scalar(ctx, key, base, key->def, strlen(key->def),
			    full, where, 1);
			return;
		}
		break;
	}
	if (key->flags & CONF_REQUIRED)
		conf_error(ctx, where, "missing required key \"%s\"", full);
}

/* Apply defaults and required checks to the keys a mapping did not set. */
static void
conf_finish(struct conf_ctx *ctx, const struct conf_key *table, void *base,
    const char *prefix, const size_t *seen, const yaml_mark_t *where)
{
	const struct conf_key	*key;
	char			*full;

	for (key = table; key->name != NULL && !ctx->stop; key++) {
		if (seen != NULL && seen[key - table] != 0)
			continue;
		full = conf_join(prefix, key->name);
		conf_absent(ctx, key, base, full, where);
		free(full);
	}
}

/* Edit distance with transpositions, to suggest a misspelt key. */
static size_t
conf_distance(const char *a, size_t la, const char *b)
{
	unsigned char	d[CONF_SUGGEST_MAX + 1][CONF_SUGGEST_MAX + 1];
	size_t		lb = strlen(b), i, j, v;

	if (la > CONF_SUGGEST_MAX || lb > CONF_SUGGEST_MAX)
		return (SIZE_MAX);
	for (i = 0; i <= la; i++)
		d[i][0] = (unsigned char)i;
	for (j = 0; j <= lb; j++)
		d[0][j] = (unsigned char)j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1U < v)
				v = d[i - 1][j] + 1U;
			if (d[i][j - 1] + 1U < v)
				v = d[i][j - 1] + 1U;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1U < v)
				v = d[i - 2][j - 2] + 1U;
			d[i][j] = (unsigned char)v;
		}
	}
	return (d[la][lb]);
}

/* Report a key the table does not know, with the nearest known one. */
static void
conf_unknown(struct conf_ctx *ctx, const struct conf_key *table,
    const char *prefix, const char *s, size_t len, const yaml_mark_t *mark)
{
	const struct conf_key	*key, *best = NULL;
	size_t			 d, bestd = SIZE_MAX;
	char			*raw, *q, *sug;
	size_t			 plen = strlen(prefix), rlen;

	for (key = table; key->name != NULL; key++) {
		d = conf_distance(s, len, key->name);
		if (d < bestd) {
			bestd = d;
			best = key;
		}
	}
	rlen = plen + (plen != 0) + len;
	raw = xmalloc(rlen + 1);
	memcpy(raw, prefix, plen);
	if (plen != 0)
		raw[plen] = '.';
	memcpy(raw + rlen - len, s, len);
	raw[rlen] = '\0';
	q = conf_quote(raw, rlen);
	if (best != NULL && bestd <= (strlen(best->name) >= 6 ? 2U : 1U)) {
		sug = conf_join(prefix, best->name);
		conf_error(ctx, mark, "unknown key %s (did you mean \"%s\"?)",
		    q, sug);
		free(sug);
	} else
		conf_error(ctx, mark, "unknown key %s", q);
	free(q);
	free(raw);
}

/* Read a sequence into a CONF_LIST key's array; current event starts it. */
static void
conf_list(struct conf_ctx *ctx, const struct conf_key *key, void *base,
    const char *full, yaml_mark_t where)
{
	const struct conf_key	*sub = key->sub;
	yaml_mark_t		 emark;
	size_t			 n, pos = 0, max;
	int			 scalars = conf_list_scalars(key), bad;
	char			*name, *elem, *arr;

	max = key->max > 0 ? (size_t)key->max : CONF_LIST_MAX;
	ctx->depth++;
	for (;;) {
		if (conf_next(ctx) == -1)
			goto out;
		if (ctx->ev.type == YAML_SEQUENCE_END_EVENT)
			break;
		emark = ctx->ev.start_mark;
		if (ctx->ev.type == YAML_ALIAS_EVENT) {
			pos++;
			continue;
		}
		if (pos++ == max) {
			conf_error(ctx, &emark, "too many entries in \"%s\" "
			    "(limit %zu)", full, max);
		}
		if (pos > max) {
			conf_skip(ctx);
			if (ctx->stop)
				goto out;
			continue;
		}
		xasprintf(&name, "%s[%zu]", full, pos - 1);
		if (scalars)
			bad = ctx->ev.type != YAML_SCALAR_EVENT ||
			    conf_is_null(&ctx->ev);
		else
			bad = ctx->ev.type != YAML_MAPPING_START_EVENT;
		if (bad) {
			conf_error(ctx, &emark, "invalid value for \"%s\": "
			    "expected %s, not %s", name, scalars ? "a scalar" :
			    "a mapping", conf_kind(&ctx->ev));
			free(name);
			conf_skip(ctx);
			if (ctx->stop)
				goto out;
			continue;
		}
		arr = conf_list_get(base, key, &n);
		arr = xreallocarray(arr, n + 1, key->sub_size);
		elem = arr + n * key->sub_size;
		memset(elem, 0, key->sub_size);
		conf_list_set(base, key, arr, n + 1);
		if (scalars)
			conf_scalar(ctx, &sub[0], elem,
			    (const char *)ctx->ev.data.scalar.value,
			    ctx->ev.data.scalar.length, name, &emark, 0);
		else
			conf_mapping(ctx, sub, elem, name, emark);
		free(name);
		if (ctx->stop)
			goto out;
	}
	if (pos < (size_t)key->min)
		conf_error(ctx, &where, "too few entries in \"%s\" (at least "
		    "%lld)", full, key->min);
out:
	ctx->depth--;
}

/* Read one key's value; the current event starts it. */
static void
conf_value(struct conf_ctx *ctx, const struct conf_key *key, void *base,
    const char *full, const yaml_mark_t *kmark)
{
	yaml_event_t	*ev = &ctx->ev;
	const char	*want;

	switch (key->type) {
	case CONF_SECTION:
		if (ev->type == YAML_MAPPING_START_EVENT) {
			conf_mapping(ctx, key->sub, conf_field(base, key), full,
			    *kmark);
			return;
		}
		want = "a mapping";
		break;
	case CONF_LIST:
		if (ev->type == YAML_SEQUENCE_START_EVENT) {
			conf_list(ctx, key, base, full, *kmark);
			return;
		}
		want = "a sequence";
		break;
	default:
		if (ev->type == YAML_SCALAR_EVENT && !conf_is_null(ev)) {
			conf_scalar(ctx, key, base,
			    (const char *)ev->data.scalar.value,
			    ev->data.scalar.length, full, &ev->start_mark, 0);
			return;
		}
		want = "a scalar";
		break;
	}
	if (conf_is_null(ev)) {
		conf_absent(ctx, key, base, full, kmark);
		return;
	}
	if (ev->type != YAML_ALIAS_EVENT)
		conf_error(ctx, &ev->start_mark, "invalid value for \"%s\": "
		    "expected %s, not %s", full, want, conf_kind(ev));
	conf_skip(ctx);
}

/* Read a mapping's keys into base; the current event starts it. */
static void
conf_mapping(struct conf_ctx *ctx, const struct conf_key *table, void *base,
    const char *prefix, yaml_mark_t where)
{
	yaml_mark_t	 kmark;
	size_t		 nkeys, i, len, *seen;
	const char	*s;
	char		*full;

	for (nkeys = 0; table[nkeys].name != NULL; nkeys++)
		;
	seen = xcalloc(nkeys + 1, sizeof(*seen));
	ctx->depth++;
	for (;;) {
		if (conf_next(ctx) == -1)
			goto out;
		if (ctx->ev.type == YAML_MAPPING_END_EVENT)
			break;
		kmark = ctx->ev.start_mark;
		if (ctx->ev.type != YAML_SCALAR_EVENT) {
			if (ctx->ev.type != YAML_ALIAS_EVENT)
				conf_error(ctx, &kmark,
				    "mapping keys must be scalars");
			conf_skip(ctx);
			if (ctx->stop || conf_next(ctx) == -1)
				goto out;
			conf_skip(ctx);
			if (ctx->stop)
				goto out;
			continue;
		}
		s = (const char *)ctx->ev.data.scalar.value;
		len = ctx->ev.data.scalar.length;
		for (i = 0; i < nkeys; i++) {
			if (strlen(table[i].name) == len &&
			    memcmp(table[i].name, s, len) == 0)
				break;
		}
		if (i == nkeys || seen[i] != 0) {
			if (i == nkeys)
				conf_unknown(ctx, table, prefix, s, len,
				    &kmark);
			else {
				full = conf_join(prefix, table[i].name);
				conf_error(ctx, &kmark, "duplicate key \"%s\" "
				    "(first set at line %zu)", full, seen[i]);
				free(full);
			}
			if (conf_next(ctx) == -1)
				goto out;
			conf_skip(ctx);
			if (ctx->stop)
				goto out;
			continue;
		}
		seen[i] = kmark.line + 1;
		if (conf_next(ctx) == -1)
			goto out;
		full = conf_join(prefix, table[i].name);
		conf_value(ctx, &table[i], base, full, &kmark);
		free(full);
		if (ctx->stop)
			goto out;
	}
	conf_finish(ctx, table, base, prefix, seen, &where);
out:
	ctx->depth--;
	free(seen);
}

/*
 * Parse the whole stream once for syntax alone, so that a syntax error is
 * reported by itself rather than after what it made look missing.
 */
static int
conf_syntax_ok(struct conf_ctx *ctx)
{
	yaml_event_type_t	type;

	do {
		if (!yaml_parser_parse(&ctx->parser, &ctx->ev)) {
			conf_syntax(ctx);
			return (0);
		}
		type = ctx->ev.type;
		yaml_event_delete(&ctx->ev);
	} while (type != YAML_STREAM_END_EVENT);
	return (1);
}

/* Walk the stream: one document whose top level is a mapping. */
static void
conf_document(struct conf_ctx *ctx, const struct conf_key *table, void *dst)
{
	yaml_mark_t	top;

	memset(&top, 0, sizeof(top));
	if (conf_next(ctx) == -1 || conf_next(ctx) == -1)
		return;
	if (ctx->ev.type == YAML_STREAM_END_EVENT) {
		conf_finish(ctx, table, dst, "", NULL, &top);
		return;
	}
	if (conf_next(ctx) == -1)
		return;
	top = ctx->ev.start_mark;
	if (ctx->ev.type == YAML_MAPPING_START_EVENT)
		conf_mapping(ctx, table, dst, "", top);
	else if (conf_is_null(&ctx->ev)) {
		memset(&top, 0, sizeof(top));
		conf_finish(ctx, table, dst, "", NULL, &top);
	}
	else {
		if (ctx->ev.type != YAML_ALIAS_EVENT)
			conf_error(ctx, &top, "the top level must be a "
			    "mapping, not %s", conf_kind(&ctx->ev));
		conf_skip(ctx);
	}
	if (ctx->stop || conf_next(ctx) == -1 || conf_next(ctx) == -1)
		return;
	if (ctx->ev.type == YAML_DOCUMENT_START_EVENT)
		conf_error(ctx, &ctx->ev.start_mark,
		    "only one document is allowed");
}

/* Start a libyaml parser over the buffer. */
static int
conf_parser(struct conf_ctx *ctx)
{
	if (!yaml_parser_initialize(&ctx->parser)) {
		conf_error(ctx, NULL, "out of memory while parsing");
		return (-1);
	}
	yaml_parser_set_input_string(&ctx->parser,
	    (const unsigned char *)ctx->buf, ctx->len);
	return (0);
}

/* Load a configuration held in memory; name labels messages and paths. */
int
conf_load_buffer(const char *name, const char *buf, size_t len,
    const struct conf_key *table, void *dst, struct conf_errors *errs)
{
	struct conf_ctx	 ctx;
	const char	*slash;

	memset(&ctx, 0, sizeof(ctx));
	ctx.name = name;
	ctx.buf = buf != NULL ? buf : "";
	ctx.len = buf != NULL ? len : 0;
	ctx.errs = errs;
	if ((slash = strrchr(name, '/')) != NULL)
		ctx.dir = xstrndup(name, (size_t)(slash - name));
	if (ctx.len > CONF_MAX_SIZE)
		conf_error(&ctx, NULL, "file too large (limit %d bytes)",
		    CONF_MAX_SIZE);
	else if (conf_parser(&ctx) == 0) {
		if (conf_syntax_ok(&ctx)) {
			yaml_parser_delete(&ctx.parser);
			if (conf_parser(&ctx) == -1)
				goto out;
			conf_document(&ctx, table, dst);
			if (ctx.have_ev)
				yaml_event_delete(&ctx.ev);
		}
		yaml_parser_delete(&ctx.parser);
	}
out:
	free(ctx.dir);
	if (ctx.failed) {
		conf_free(table, dst);
		return (-1);
	}
	return (0);
}

/* Load a configuration file, bounded in size before anything is read. */
int
conf_load_file(const char *path, const struct conf_key *table, void *dst,
    struct conf_errors *errs)
{
	struct stat	 st;
	char		*buf, extra;
	size_t		 len = 0, cap;
	ssize_t		 n;
	int		 fd, r;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		conf_errors_add(errs, path, "", "could not open file: %s",
		    strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == -1) {
		conf_errors_add(errs, path, "", "could not read file: %s",
		    strerror(errno));
		close(fd);
		return (-1);
	}
	if (!S_ISREG(st.st_mode)) {
		conf_errors_add(errs, path, "", "not a regular file");
		close(fd);
		return (-1);
	}
	if (st.st_size > CONF_MAX_SIZE) {
		conf_errors_add(errs, path, "",
		    "file too large (limit %d bytes)", CONF_MAX_SIZE);
		close(fd);
		return (-1);
	}
	cap = (size_t)st.st_size;
	buf = xmalloc(cap + 1);
	while (len < cap && (n = read(fd, buf + len, cap - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			conf_errors_add(errs, path, "",
			    "could not read file: %s", strerror(errno));
			free(buf);
			close(fd);
			return (-1);
		}
		len += (size_t)n;
	}
	if (len == cap && read(fd, &extra, 1) == 1) {
		conf_errors_add(errs, path, "",
		    "file changed while being read");
		free(buf);
		close(fd);
		return (-1);
	}
	close(fd);
	r = conf_load_buffer(path, buf, len, table, dst, errs);
	free(buf);
	return (r);
}

/* Free what a load allocated and zero every field the table names. */
void
conf_free(const struct conf_key *table, void *base)
{
	const struct conf_key	*key;
	char			*arr, **sp;
	size_t			 n, i;
	void			*p;

	for (key = table; key->name != NULL; key++) {
		p = conf_field(base, key);
		switch (key->type) {
		case CONF_STRING:
		case CONF_PATH:
			sp = p;
			if (key->flags & CONF_SECRET)
				*sp = xstrzero(*sp);
			else {
				free(*sp);
				*sp = NULL;
			}
			break;
		case CONF_INT:
		case CONF_BOOL:
		case CONF_ENUM:
			*(int *)p = 0;
			break;
		case CONF_DURATION:
			*(long long *)p = 0;
			break;
		case CONF_SIZE:
			*(size_t *)p = 0;
			break;
		case CONF_ADDR:
			memset(p, 0, sizeof(struct conf_addr));
			break;
		case CONF_SECTION:
			conf_free(key->sub, p);
			break;
		case CONF_LIST:
			arr = conf_list_get(base, key, &n);
			for (i = 0; i < n; i++)
				conf_free(key->sub, arr + i * key->sub_size);
			free(arr);
			conf_list_set(base, key, NULL, 0);
			break;
		}
	}
}

/* Is a scalar field zero, meaning unset for a key without a default? */
static int
conf_is_zero(const struct conf_key *key, const void *p)
{
	switch (key->type) {
	case CONF_STRING:
	case CONF_PATH:
		return (*(char *const *)p == NULL);
	case CONF_INT:
	case CONF_BOOL:
	case CONF_ENUM:
		return (*(const int *)p == 0);
	case CONF_DURATION:
		return (*(const long long *)p == 0);
	case CONF_SIZE:
		return (*(const size_t *)p == 0);
	case CONF_ADDR:
		return (!((const struct conf_addr *)p)->set);
	default:
		return (0);
	}
}

/* Write a string as a YAML double-quoted scalar that reads back the same. */
static void
conf_dump_str(FILE *f, const char *s)
{
	const unsigned char	*u = (const unsigned char *)s;
	unsigned int		 cp;
	int			 n, i;

	fputc('"', f);
	while (*u != '\0') {
		if (*u == '"' || *u == '\\') {
			fprintf(f, "\\%c", *u++);
			continue;
		}
		if (*u < 0x20 || *u == 0x7f) {
			fprintf(f, "\\x%02x", *u++);
			continue;
		}
		if (*u < 0x80) {
			fputc(*u++, f);
			continue;
		}
		if ((*u & 0xe0) == 0xc0) {
			n = 1;
			cp = *u & 0x1f;
		} else if ((*u & 0xf0) == 0xe0) {
			n = 2;
			cp = *u & 0x0f;
		} else if ((*u & 0xf8) == 0xf0) {
			n = 3;
			cp = *u & 0x07;
		} else {
			fprintf(f, "\\x%02x", *u++);
			continue;
		}
		for (i = 1; i <= n; i++) {
			if ((u[i] & 0xc0) != 0x80)
				break;
			cp = (cp << 6) | (u[i] & 0x3f);
		}
		if (i <= n) {
			fprintf(f, "\\x%02x", *u++);
			continue;
		}
		if ((cp >= 0xa0 && cp <= 0xd7ff && cp != 0x2028 &&
		    cp != 0x2029) || (cp >= 0xe000 && cp <= 0xfffd &&
		    cp != 0xfeff) || (cp >= 0x10000 && cp <= 0x10ffff))
			fwrite(u, 1, (size_t)n + 1, f);
		else if (cp <= 0xff)
			fprintf(f, "\\x%02x", cp);
		else if (cp <= 0xffff)
			fprintf(f, "\\u%04x", cp);
		else
			fprintf(f, "\\U%08x", cp);
		u += n + 1;
	}
	fputc('"', f);
}

/* Write one scalar key's value (after "key: "). */
static void
conf_dump_scalar(FILE *f, const struct conf_key *key, const void *base)
{
	const struct conf_enum	*e;
	const struct conf_addr	*a;
	const void		*p = conf_field(base, key);
	char			 buf[32];
	int			 v;

	if (key->def == NULL && !(key->flags & CONF_REQUIRED) &&
	    conf_is_zero(key, p)) {
		fputc('~', f);
		return;
	}
	switch (key->type) {
	case CONF_STRING:
	case CONF_PATH:
		if (*(char *const *)p == NULL)
			fputc('~', f);
		else if (key->flags & CONF_SECRET)
			fputs("\"(secret)\"", f);
		else
			conf_dump_str(f, *(char *const *)p);
		break;
	case CONF_INT:
		fprintf(f, "%d", *(const int *)p);
		break;
	case CONF_BOOL:
		fputs(*(const int *)p ? "true" : "false", f);
		break;
	case CONF_DURATION:
		conf_fmt_duration(buf, sizeof(buf), *(const long long *)p);
		fputs(buf, f);
		break;
	case CONF_SIZE:
		conf_fmt_size(buf, sizeof(buf), (long long)*(const size_t *)p);
		fputs(buf, f);
		break;
	case CONF_ENUM:
		v = *(const int *)p;
		for (e = key->enums; e != NULL && e->name != NULL; e++)
			if (e->value == v)
				break;
		if (e != NULL && e->name != NULL)
			fputs(e->name, f);
		else
			fprintf(f, "%d", v);
		break;
	case CONF_ADDR:
		a = p;
		if (a->host[0] == '\0')
			fprintf(f, "\"*:%d\"", a->port);
		else if (strchr(a->host, ':') != NULL)
			fprintf(f, "\"[%s]:%d\"", a->host, a->port);
		else
			fprintf(f, "\"%s:%d\"", a->host, a->port);
		break;
	default:
		break;
	}
}

/* Write a mapping's keys at an indent; dash puts "- " before the first. */
static int
conf_dump_mapping(FILE *f, const struct conf_key *table, const void *base,
    int indent, int dash)
{
	const struct conf_key	*key;
	const char		*arr;
	size_t			 n, i;

	if (table[0].name == NULL && dash)
		fprintf(f, "%*s- {}\n", indent - 2, "");
	for (key = table; key->name != NULL; key++) {
		if (key == table && dash)
			fprintf(f, "%*s- ", indent - 2, "");
		else
			fprintf(f, "%*s", indent, "");
		fprintf(f, "%s:", key->name);
		switch (key->type) {
		case CONF_SECTION:
			if (key->sub[0].name == NULL)
				fputs(" {}", f);
			fputc('\n', f);
			conf_dump_mapping(f, key->sub, conf_field(base, key),
			    indent + 2, 0);
			break;
		case CONF_LIST:
			arr = conf_list_get(base, key, &n);
			fputs(n == 0 ? " []\n" : "\n", f);
			for (i = 0; i < n; i++) {
				if (conf_list_scalars(key)) {
					fprintf(f, "%*s- ", indent + 2, "");
					conf_dump_scalar(f, &key->sub[0],
					    arr + i * key->sub_size);
					fputc('\n', f);
				} else
					conf_dump_mapping(f, key->sub,
					    arr + i * key->sub_size,
					    indent + 4, 1);
			}
			break;
		default:
			fputc(' ', f);
			conf_dump_scalar(f, key, base);
			fputc('\n', f);
			break;
		}
	}
	return (ferror(f) ? -1 : 0);
}

/* Print the effective configuration as YAML (for -n -v and tests). */
int
conf_dump(FILE *f, const struct conf_key *table, const void *base)
{
	if (conf_dump_mapping(f, table, base, 0, 0) == -1 || fflush(f) != 0)
		return (-1);
	return (0);
}

/* Are two structs equal in everything a table describes? */
static int
conf_equal_table(const struct conf_key *table, const void *a, const void *b)
{
	const struct conf_key	*key;

	for (key = table; key->name != NULL; key++)
		if (!conf_equal(key, a, b))
			return (0);
	return (1);
}

/* Are two structs equal in one key's field? */
static int
conf_equal(const struct conf_key *key, const void *a, const void *b)
{
	const void		*pa = conf_field(a, key);
	const void		*pb = conf_field(b, key);
	const struct conf_addr	*aa = pa, *ab = pb;
	const char		*sa, *sb, *arra, *arrb;
	size_t			 na, nb, i;

	switch (key->type) {
	case CONF_STRING:
	case CONF_PATH:
		sa = *(char *const *)pa;
		sb = *(char *const *)pb;
		return (sa == NULL || sb == NULL ? sa == sb :
		    strcmp(sa, sb) == 0);
	case CONF_INT:
	case CONF_BOOL:
	case CONF_ENUM:
		return (*(const int *)pa == *(const int *)pb);
	case CONF_DURATION:
		return (*(const long long *)pa == *(const long long *)pb);
	case CONF_SIZE:
		return (*(const size_t *)pa == *(const size_t *)pb);
	case CONF_ADDR:
		return (aa->set == ab->set && aa->port == ab->port &&
		    strcmp(aa->host, ab->host) == 0);
	case CONF_SECTION:
		return (conf_equal_table(key->sub, pa, pb));
	case CONF_LIST:
		arra = conf_list_get(a, key, &na);
		arrb = conf_list_get(b, key, &nb);
		if (na != nb)
			return (0);
		for (i = 0; i < na; i++)
			if (!conf_equal_table(key->sub, arra + i *
			    key->sub_size, arrb + i * key->sub_size))
				return (0);
		return (1);
	}
	return (0);
}

/* Collect changed CONF_NO_RELOAD keys below a prefix. */
static void
conf_changed(const struct conf_key *table, const void *old, const void *cur,
    const char *prefix, struct conf_names *out)
{
	const struct conf_key	*key;
	char			*full;

	for (key = table; key->name != NULL; key++) {
		full = conf_join(prefix, key->name);
		if (key->flags & CONF_NO_RELOAD) {
			if (!conf_equal(key, old, cur)) {
				out->v = xreallocarray(out->v, out->n + 1,
				    sizeof(*out->v));
				out->v[out->n++] = full;
				continue;
			}
		} else if (key->type == CONF_SECTION)
			conf_changed(key->sub, conf_field(old, key),
			    conf_field(cur, key), full, out);
		free(full);
	}
}

/* List the CONF_NO_RELOAD keys a reload would change. */
size_t
conf_changed_no_reload(const struct conf_key *table, const void *old,
    const void *cur, char ***names)
{
	struct conf_names	out = { NULL, 0 };

	conf_changed(table, old, cur, "", &out);
	*names = out.v;
	return (out.n);
}

/* Start an empty error list. */
void
conf_errors_init(struct conf_errors *errs)
{
	memset(errs, 0, sizeof(*errs));
}

/* Print every collected error, one per line. */
void
conf_errors_print(FILE *f, const struct conf_errors *errs)
{
	size_t	i;

	for (i = 0; i < errs->n; i++)
		fprintf(f, "%s\n", errs->lines[i]);
}

/* Free the collected errors and empty the list. */
void
conf_errors_free(struct conf_errors *errs)
{
	size_t	i;

	for (i = 0; i < errs->n; i++)
		free(errs->lines[i]);
	conf_errors_init(errs);
}

/* Bytes a scalar field of this type occupies. */
static size_t
conf_field_size(const struct conf_key *key)
{
	switch (key->type) {
	case CONF_STRING:
	case CONF_PATH:
		return (sizeof(char *));
	case CONF_INT:
	case CONF_BOOL:
	case CONF_ENUM:
		return (sizeof(int));
	case CONF_DURATION:
		return (sizeof(long long));
	case CONF_SIZE:
		return (sizeof(size_t));
	case CONF_ADDR:
		return (sizeof(struct conf_addr));
	default:
		return (0);
	}
}

static void
conf_swap(void *a, void *b, size_t n)
{
	unsigned char	*x = a, *y = b, t;

	while (n-- > 0) {
		t = *x;
		*x++ = *y;
		*y++ = t;
	}
}

void
conf_keep_no_reload(const struct conf_key *table, void *old, void *cur)
{
	const struct conf_key	*key;
	unsigned char		*o = old, *c = cur;

	for (key = table; key->name != NULL; key++) {
		if (key->type == CONF_SECTION) {
			conf_keep_no_reload(key->sub, o + key->offset,
			    c + key->offset);
			continue;
		}
		if (!(key->flags & CONF_NO_RELOAD))
			continue;
		if (key->type == CONF_LIST) {
			conf_swap(o + key->offset, c + key->offset,
			    sizeof(void *));
			conf_swap(o + key->count_offset,
			    c + key->count_offset, sizeof(size_t));
			continue;
		}
		conf_swap(o + key->offset, c + key->offset,
		    conf_field_size(key));
	}
}

void
conf_error_add(struct conf_errors *errs, const char *path, const char *fmt,
    ...)
{
	va_list	 ap;
	char	*msg;

	if (errs->n >= CONF_MAX_ERRORS)
		return;
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	xasprintf(&errs->lines[errs->n++], "%s: %s", path, msg);
	free(msg);
}

const char *
conf_addr_listen(const struct conf_addr *a, char *buf, size_t len)
{
	if (a->host[0] == '\0')
		snprintf(buf, len, "0.0.0.0:%d", a->port);
	else if (strchr(a->host, ':') != NULL)
		snprintf(buf, len, "[%s]:%d", a->host, a->port);
	else
		snprintf(buf, len, "%s:%d", a->host, a->port);
	return (buf);
}
