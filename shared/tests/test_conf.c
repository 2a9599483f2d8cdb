/*
 * test_conf.c: the YAML configuration loader. Golden cases live in
 * shared/tests/data/conf: for each NAME.yaml, NAME.out holds either the
 * dump of the effective configuration or the exact error lines.
 * ISN_CONF_REGEN=1 rewrites the .out files (review them before committing).
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "conf_table.h"
#include "dbuf.h"
#include "tap.h"
#include "xmalloc.h"

#define T_BASE	"name: n\ntls: {cert: c, key: k}\n"

/* The dump of a configuration as a string. */
static char *
t_dump(const void *c)
{
	char	*s = NULL;
	size_t	 len;
	FILE	*f;

	if ((f = open_memstream(&s, &len)) == NULL)
		return (xstrdup(""));
	conf_dump(f, t_keys, c);
	fclose(f);
	return (s);
}

/* The error lines as one string, one per line. */
static char *
t_errors(const struct conf_errors *errs)
{
	char	*s = NULL;
	size_t	 len;
	FILE	*f;

	if ((f = open_memstream(&s, &len)) == NULL)
		return (xstrdup(""));
	conf_errors_print(f, errs);
	fclose(f);
	return (s);
}

/* Is every field of a configuration zero (what a failed load leaves)? */
static int
t_is_zero(const struct t_conf *c)
{
	struct t_conf	z;

	memset(&z, 0, sizeof(z));
	return (memcmp(c, &z, sizeof(z)) == 0);
}

/* Load a buffer named t.yaml; returns its dump or its error lines. */
static char *
t_load(const char *yaml, int *rp)
{
	struct t_conf		 c;
	struct conf_errors	 errs;
	char			*out;

	memset(&c, 0, sizeof(c));
	conf_errors_init(&errs);
	*rp = conf_load_buffer("t.yaml", yaml, strlen(yaml), t_keys, &c,
	    &errs);
	out = *rp == 0 ? t_dump(&c) : t_errors(&errs);
	if (*rp != 0 && !t_is_zero(&c))
		tap_diag("failed load left fields set");
	conf_free(t_keys, &c);
	conf_errors_free(&errs);
	return (out);
}

/* Find one "key: value" line in a dump and return the value. */
static char *
t_dump_value(const char *dump, const char *key)
{
	const char	*p = dump, *e;
	size_t		 klen = strlen(key);

	while (p != NULL && *p != '\0') {
		if (strncmp(p, key, klen) == 0 && p[klen] == ':' &&
		    p[klen + 1] == ' ') {
			p += klen + 2;
			e = strchr(p, '\n');
			return (xstrndup(p, e != NULL ? (size_t)(e - p) :
			    strlen(p)));
		}
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return (xstrdup("(absent)"));
}

/* One scalar test: a key, a value as written, and the outcome. */
struct t_scalar {
	const char	*key;
	const char	*value;
	const char	*want;	/* dumped value, or error after "t.yaml:3:C: " */
};

static const struct t_scalar t_scalars[] = {
	{ "port", "1", "1" },
	{ "port", "65535", "65535" },
	{ "port", "0", "invalid value \"0\" for \"port\": expected an integer "
	  "from 1 to 65535" },
	{ "port", "65536", "invalid value \"65536\" for \"port\": expected an "
	  "integer from 1 to 65535" },
	{ "port", "+5", "invalid value \"+5\" for \"port\": expected an "
	  "integer from 1 to 65535" },
	{ "port", "0x10", "invalid value \"0x10\" for \"port\": expected an "
	  "integer from 1 to 65535" },
	{ "port", "12abc", "invalid value \"12abc\" for \"port\": expected an "
	  "integer from 1 to 65535" },
	{ "port", "'443'", "443" },
	{ "workers", "-2147483648", "-2147483648" },
	{ "workers", "2147483647", "2147483647" },
	{ "workers", "2147483648", "invalid value \"2147483648\" for "
	  "\"workers\": expected an integer" },
	{ "workers", "-0", "~" },
	{ "workers", "99999999999999999999", "invalid value "
	  "\"99999999999999999999\" for \"workers\": expected an integer" },
	{ "workers", "'-'", "invalid value \"-\" for \"workers\": expected an "
	  "integer" },
	{ "debug", "TRUE", "true" },
	{ "debug", "Yes", "true" },
	{ "debug", "on", "true" },
	{ "debug", "OFF", "false" },
	{ "debug", "No", "false" },
	{ "debug", "1", "invalid value \"1\" for \"debug\": expected true, "
	  "false, yes, no, on or off" },
	{ "retention", "72h", "3d" },
	{ "retention", "1s", "1s" },
	{ "retention", "90", "90s" },
	{ "retention", "120m", "2h" },
	{ "retention", "365d", "365d" },
	{ "retention", "366d", "invalid value \"366d\" for \"retention\": "
	  "expected a duration (seconds, or a number followed by s, m, h or d) "
	  "from 1s to 365d" },
	{ "retention", "0", "invalid value \"0\" for \"retention\": expected a "
	  "duration (seconds, or a number followed by s, m, h or d) from 1s to "
	  "365d" },
	{ "timeout", "0", "0s" },
	{ "timeout", "-1s", "invalid value \"-1s\" for \"timeout\": expected a "
	  "duration (seconds, or a number followed by s, m, h or d)" },
	{ "timeout", "5x", "invalid value \"5x\" for \"timeout\": expected a "
	  "duration (seconds, or a number followed by s, m, h or d)" },
	{ "timeout", "d", "invalid value \"d\" for \"timeout\": expected a "
	  "duration (seconds, or a number followed by s, m, h or d)" },
	{ "timeout", "106751991167301d", "invalid value \"106751991167301d\" "
	  "for \"timeout\": expected a duration (seconds, or a number followed "
	  "by s, m, h or d)" },
	{ "timeout", "106751991167300d", "106751991167300d" },
	{ "grace", "0", "~" },
	{ "grace", "1m", "1m" },
	{ "max_upload", "64k", "64k" },
	{ "max_upload", "1m", "1M" },
	{ "max_upload", "2G", "2G" },
	{ "max_upload", "1536", "1536" },
	{ "max_upload", "2049M", "invalid value \"2049M\" for \"max_upload\": "
	  "expected a size (bytes, or a number followed by k, M or G) from 1k "
	  "to 2G" },
	{ "max_upload", "1023", "invalid value \"1023\" for \"max_upload\": "
	  "expected a size (bytes, or a number followed by k, M or G) from 1k "
	  "to 2G" },
	{ "max_upload", "1.5M", "invalid value \"1.5M\" for \"max_upload\": "
	  "expected a size (bytes, or a number followed by k, M or G) from 1k "
	  "to 2G" },
	{ "log_level", "DEBUG", "debug" },
	{ "log_level", "trace", "invalid value \"trace\" for \"log_level\": "
	  "expected one of warn, info or debug" },
	{ "listen_address", "'*:0'", "\"*:0\"" },
	{ "listen_address", "'[::1]:443'", "\"[::1]:443\"" },
	{ "listen_address", "'[fe80::1%eth0]:1'", "\"[fe80::1%eth0]:1\"" },
	{ "listen_address", "host-1.example.org:65535",
	  "\"host-1.example.org:65535\"" },
	{ "listen_address", "host", "invalid value \"host\" for "
	  "\"listen_address\": expected host:port, [address]:port or *:port "
	  "with a port from 0 to 65535" },
	{ "listen_address", "'::1:80'", "invalid value \"::1:80\" for "
	  "\"listen_address\": expected host:port, [address]:port or *:port "
	  "with a port from 0 to 65535" },
	{ "listen_address", "'[::1]'", "invalid value \"[::1]\" for "
	  "\"listen_address\": expected host:port, [address]:port or *:port "
	  "with a port from 0 to 65535" },
	{ "listen_address", "'[::1]:'", "invalid value \"[::1]:\" for "
	  "\"listen_address\": expected host:port, [address]:port or *:port "
	  "with a port from 0 to 65535" },
	{ "listen_address", "'[host]:1'", "invalid value \"[host]:1\" for "
	  "\"listen_address\": expected host:port, [address]:port or *:port "
	  "with a port from 0 to 65535" },
	{ "listen_address", "a:65536", "invalid value \"a:65536\" for "
	  "\"listen_address\": expected host:port, [address]:port or *:port "
	  "with a port from 0 to 65535" },
	{ "listen_address", "a:-1", "invalid value \"a:-1\" for "
	  "\"listen_address\": expected host:port, [address]:port or *:port "
	  "with a port from 0 to 65535" },
	{ "listen_address", "':1'", "invalid value \":1\" for "
	  "\"listen_address\": expected host:port, [address]:port or *:port "
	  "with a port from 0 to 65535" },
	{ "spool", "/var/spool/isn", "\"/var/spool/isn\"" },
	{ "spool", "''", "invalid value for \"spool\": a path must not be "
	  "empty" },
	{ "password", "hunter2", "\"(secret)\"" },
	{ "pin", "12345", "invalid value for \"pin\": expected an integer "
	  "from 0 to 9999" },
	{ "name", "\"a\\0b\"", "invalid value for \"name\": contains a NUL "
	  "character" },
	{ "name", "yes", "\"yes\"" },
	{ "name", "'x\"y'", "\"x\\\"y\"" },
	{ "name", "\"tab\\there\"", "\"tab\\x09here\"" },
	{ "name", "\"\\x85\\u2028\\ufeff\\x7f\"",
	  "\"\\x85\\u2028\\ufeff\\x7f\"" },
	{ "name", "\"h\\u00f4pital \\U0001F600\"",
	  "\"h\xc3\xb4pital \xf0\x9f\x98\x80\"" },
};

/* Run every scalar case through a small file and check the outcome. */
static void
t_scalar_cases(void)
{
	const struct t_scalar	*t;
	char			*yaml, *out, *got, *want, *pre;
	size_t			 i;
	int			 r;

	for (i = 0; i < sizeof(t_scalars) / sizeof(t_scalars[0]); i++) {
		t = &t_scalars[i];
		if (strcmp(t->key, "name") == 0)
			xasprintf(&yaml, "tls: {cert: c, key: k}\n"
			    "# x\n%s: %s\n", t->key, t->value);
		else
			xasprintf(&yaml, T_BASE "%s: %s\n", t->key, t->value);
		out = t_load(yaml, &r);
		xasprintf(&pre, "t.yaml:3:%zu: ", strlen(t->key) + 3);
		if (strncmp(out, pre, strlen(pre)) == 0) {
			got = xstrndup(out + strlen(pre),
			    strcspn(out + strlen(pre), "\n"));
			want = xstrdup(t->want);
		} else {
			got = t_dump_value(out, t->key);
			want = xstrdup(t->want);
		}
		is_str(got, want, "%s: %s", t->key, t->value);
		ok((r == 0) == (strncmp(out, pre, strlen(pre)) != 0),
		    "%s: %s: outcome matches the output", t->key, t->value);
		free(got);
		free(want);
		free(pre);
		free(out);
		free(yaml);
	}
}

/* Order case names for qsort. */
static int
t_namecmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* Compare every NAME.yaml's outcome with NAME.out, byte for byte. */
static void
t_golden(void)
{
	struct t_conf		 c, c2;
	struct conf_errors	 errs;
	struct dirent		*de;
	DIR			*d;
	char			 dir[4096], path[4200], **names = NULL, **v;
	char			*in, *want, *got, *again;
	size_t			 n = 0, i, len, wlen, nv;
	int			 r, regen;
	FILE			*f;

	regen = getenv("ISN_CONF_REGEN") != NULL;
	snprintf(dir, sizeof(dir), "%s/shared/tests/data/conf", tap_srcdir());
	if ((d = opendir(dir)) == NULL) {
		ok(0, "open %s", dir);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len > 5 && strcmp(de->d_name + len - 5, ".yaml") == 0) {
			names = xreallocarray(names, n + 1, sizeof(*names));
			names[n++] = xstrndup(de->d_name, len - 5);
		}
	}
	closedir(d);
	qsort(names, n, sizeof(*names), t_namecmp);
	ok(n >= 15, "at least 15 golden cases (%zu)", n);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s.yaml", dir, names[i]);
		in = tap_slurp(path, &len);
		snprintf(path, sizeof(path), "%s.yaml", names[i]);
		memset(&c, 0, sizeof(c));
		conf_errors_init(&errs);
		r = conf_load_buffer(path, in, len, t_keys, &c, &errs);
		got = r == 0 ? t_dump(&c) : t_errors(&errs);
		snprintf(path, sizeof(path), "%s/%s.out", dir, names[i]);
		if (regen && (f = fopen(path, "w")) != NULL) {
			fputs(got, f);
			fclose(f);
		}
		want = tap_slurp(path, &wlen);
		is_str(got, want != NULL ? want : "(missing .out)", "golden %s",
		    names[i]);
		if (r == 0) {
			/* The dump must load back to the same dump. */
			memset(&c2, 0, sizeof(c2));
			ok(conf_load_buffer("dump.yaml", got, strlen(got),
			    t_keys, &c2, &errs) == 0, "%s: dump reloads",
			    names[i]);
			again = t_dump(&c2);
			is_str(again, got, "%s: reloaded dump is the same",
			    names[i]);
			nv = conf_changed_no_reload(t_keys, &c, &c2, &v);
			is_int(nv, 0, "%s: nothing changed on reload",
			    names[i]);
			free(v);
			free(again);
			conf_free(t_keys, &c2);
		} else {
			ok(t_is_zero(&c), "%s: failed load leaves it zeroed",
			    names[i]);
			ok(errs.n > 0, "%s: errors reported", names[i]);
		}
		conf_free(t_keys, &c);
		conf_errors_free(&errs);
		free(got);
		free(want);
		free(in);
		free(names[i]);
	}
	free(names);
}

/* Files: path resolution, unreadable files, size limit. */
static void
t_files(void)
{
	struct t_conf		 c;
	struct conf_errors	 errs;
	char			 tmpl[] = "/tmp/test_conf.XXXXXX", path[256];
	char			 want[512], *big, *out;
	FILE			*f;

	if (mkdtemp(tmpl) == NULL) {
		tap_skip(12, "mkdtemp failed");
		return;
	}
	snprintf(path, sizeof(path), "%s/edge.yaml", tmpl);
	f = fopen(path, "w");
	fputs("name: edge\nspool: var/spool\n"
	    "tls: {cert: certs/edge.pem, key: /etc/key.pem}\n", f);
	fclose(f);
	memset(&c, 0, sizeof(c));
	conf_errors_init(&errs);
	ok(conf_load_file(path, t_keys, &c, &errs) == 0, "load a file");
	snprintf(want, sizeof(want), "%s/var/spool", tmpl);
	is_str(c.spool, want, "relative path joined to the file's directory");
	snprintf(want, sizeof(want), "%s/certs/edge.pem", tmpl);
	is_str(c.tls.cert, want, "relative path in a section");
	is_str(c.tls.key, "/etc/key.pem", "absolute path kept");
	conf_free(t_keys, &c);
	ok(t_is_zero(&c), "conf_free zeroes the struct");

	memset(&c, 0, sizeof(c));
	ok(conf_load_buffer("edge.yaml", "name: a\ntls: {cert: c, key: k}\n",
	    31, t_keys, &c, &errs) == 0 && strcmp(c.spool, "spool") == 0,
	    "a default path of a bare file name stays relative");
	conf_free(t_keys, &c);

	snprintf(path, sizeof(path), "%s/absent.yaml", tmpl);
	ok(conf_load_file(path, t_keys, &c, &errs) == -1, "absent file");
	snprintf(want, sizeof(want), "%s: could not open file: %s", path,
	    strerror(ENOENT));
	is_str(errs.n == 1 ? errs.lines[0] : NULL, want, "absent file error");
	conf_errors_free(&errs);

	ok(conf_load_file(tmpl, t_keys, &c, &errs) == -1 && errs.n == 1 &&
	    strstr(errs.lines[0], ": not a regular file") != NULL,
	    "a directory is refused");
	conf_errors_free(&errs);

	big = xmalloc(CONF_MAX_SIZE + 1);
	memset(big, '#', CONF_MAX_SIZE + 1);
	snprintf(path, sizeof(path), "%s/big.yaml", tmpl);
	f = fopen(path, "w");
	fwrite(big, 1, CONF_MAX_SIZE + 1, f);
	fclose(f);
	ok(conf_load_file(path, t_keys, &c, &errs) == -1 && errs.n == 1 &&
	    strstr(errs.lines[0], ": file too large (limit 1048576 bytes)") !=
	    NULL, "a file over the limit is refused");
	conf_errors_free(&errs);
	unlink(path);
	ok(conf_load_buffer("b.yaml", big, CONF_MAX_SIZE + 1, t_keys, &c,
	    &errs) == -1 && errs.n == 1, "a buffer over the limit is refused");
	out = t_errors(&errs);
	is_str(out, "b.yaml: file too large (limit 1048576 bytes)\n",
	    "size error text");
	free(out);
	conf_errors_free(&errs);
	free(big);

	snprintf(path, sizeof(path), "%s/edge.yaml", tmpl);
	unlink(path);
	rmdir(tmpl);
}

/* Reload support: which CONF_NO_RELOAD keys changed. */
static void
t_reload(void)
{
	struct t_conf		 a, b;
	struct conf_errors	 errs;
	const char		*y1, *y2;
	char			**names;
	size_t			 n, i;

	y1 = T_BASE "listen_address: 127.0.0.1:1\nport: 1\nspool: /a\n";
	y2 = T_BASE "listen_address: 127.0.0.1:2\nport: 2\nspool: /b\n";
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	conf_errors_init(&errs);
	ok(conf_load_buffer("a.yaml", y1, strlen(y1), t_keys, &a, &errs) ==
	    0 && conf_load_buffer("b.yaml", y2, strlen(y2), t_keys, &b,
	    &errs) == 0, "two loads");
	n = conf_changed_no_reload(t_keys, &a, &b, &names);
	is_int(n, 2, "two no-reload keys changed");
	is_str(n > 0 ? names[0] : NULL, "listen_address", "first name");
	is_str(n > 1 ? names[1] : NULL, "spool", "second name");
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	n = conf_changed_no_reload(t_keys, &a, &a, &names);
	ok(n == 0 && names == NULL, "no change against itself");
	conf_free(t_keys, &a);
	conf_free(t_keys, &b);
}

/* Error collection stops at the limit and says so. */
static void
t_limits(void)
{
	struct dbuf	 b;
	const char	*last;
	char		*out, *nl;
	int		 r, i;

	dbuf_init(&b, 1 << 20);
	dbuf_addstr(&b, T_BASE);
	for (i = 0; i < 60; i++)
		dbuf_printf(&b, "unknown%d: 1\n", i);
	out = t_load(dbuf_str(&b), &r);
	ok(r == -1, "sixty unknown keys fail");
	for (i = 0, nl = out; (nl = strchr(nl, '\n')) != NULL; nl++)
		i++;
	is_int(i, CONF_MAX_ERRORS + 1, "fifty errors and a last line");
	out[strlen(out) - 1] = '\0';
	last = strrchr(out, '\n') + 1;
	is_str(last, "t.yaml: too many errors, stopping after 50",
	    "the last line says why");
	free(out);
	dbuf_free(&b);

	dbuf_init(&b, 1 << 20);
	dbuf_addstr(&b, T_BASE "allow: [");
	for (i = 0; i < 2000; i++)
		dbuf_addstr(&b, "x, ");
	dbuf_addstr(&b, "x]\n");
	out = t_load(dbuf_str(&b), &r);
	is_str(out, "t.yaml:3:33: too many entries in \"allow\" (limit 8)\n",
	    "a long list is cut at its limit with one error");
	free(out);
	dbuf_free(&b);

	out = t_load("", &r);
	is_str(out, "t.yaml:1:1: missing required key \"name\"\n"
	    "t.yaml:1:1: missing required key \"tls.cert\"\n"
	    "t.yaml:1:1: missing required key \"tls.key\"\n",
	    "empty buffer: required keys missing");
	free(out);
}

/* Run every group; the plan comes last. */
int
main(void)
{
	t_scalar_cases();
	t_golden();
	t_files();
	t_reload();
	t_limits();
	return (tap_done());
}
