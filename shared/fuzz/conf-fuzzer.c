/*
 * conf-fuzzer.c: load arbitrary bytes as a configuration with a table that
 * uses every type. Invariants: a failed load reports errors and leaves the
 * struct zeroed; a successful load dumps YAML that loads back to the same
 * dump and to no changed CONF_NO_RELOAD key.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

enum { ROLE_SOURCE = 1, ROLE_DESTINATION, ROLE_BOTH };
enum { LEVEL_WARN, LEVEL_INFO, LEVEL_DEBUG };

struct t_tls {
	char			*cert;
	char			*key;
	char			*ca_file;
	int			 verify;
};

struct t_peer {
	char			*name;
	char			*fingerprint;
	int			 role;
	struct conf_addr	 addr;
};

struct t_conf {
	char			*name;
	struct conf_addr	 listen;
	int			 port;
	int			 workers;
	int			 debug;
	long long		 retention;
	long long		 timeout;
	long long		 grace;
	size_t			 max_upload;
	int			 log_level;
	char			*spool;
	char			*password;
	int			 pin;
	struct t_tls		 tls;
	struct t_peer		*peers;
	size_t			 npeers;
	char			**allow;
	size_t			 nallow;
};

static const struct conf_enum t_roles[] = {
	{ "source", ROLE_SOURCE },
	{ "destination", ROLE_DESTINATION },
	{ "both", ROLE_BOTH },
	{ NULL, 0 }
};

static const struct conf_enum t_levels[] = {
	{ "warn", LEVEL_WARN },
	{ "info", LEVEL_INFO },
	{ "debug", LEVEL_DEBUG },
	{ NULL, 0 }
};

static const struct conf_key t_tls_keys[] = {
	{ .name = "cert", .type = CONF_PATH, .flags = CONF_REQUIRED,
	  .offset = offsetof(struct t_tls, cert) },
	{ .name = "key", .type = CONF_PATH, .flags = CONF_REQUIRED,
	  .offset = offsetof(struct t_tls, key) },
	{ .name = "ca_file", .type = CONF_PATH,
	  .offset = offsetof(struct t_tls, ca_file) },
	{ .name = "verify", .type = CONF_BOOL, .def = "yes",
	  .offset = offsetof(struct t_tls, verify) },
	{ .name = NULL }
};

static const struct conf_key t_peer_keys[] = {
	{ .name = "name", .type = CONF_STRING, .flags = CONF_REQUIRED,
	  .offset = offsetof(struct t_peer, name) },
	{ .name = "fingerprint", .type = CONF_STRING, .flags = CONF_REQUIRED,
	  .offset = offsetof(struct t_peer, fingerprint) },
	{ .name = "role", .type = CONF_ENUM, .def = "source",
	  .enums = t_roles, .offset = offsetof(struct t_peer, role) },
	{ .name = "addr", .type = CONF_ADDR, .min = 1, .max = 65535,
	  .offset = offsetof(struct t_peer, addr) },
	{ .name = NULL }
};

static const struct conf_key t_allow_keys[] = {
	{ .name = "", .type = CONF_STRING, .offset = 0 },
	{ .name = NULL }
};

static const struct conf_key t_keys[] = {
	{ .name = "name", .type = CONF_STRING, .flags = CONF_REQUIRED,
	  .offset = offsetof(struct t_conf, name), .help = "node name" },
	{ .name = "listen_address", .type = CONF_ADDR,
	  .def = "127.0.0.1:2575", .flags = CONF_NO_RELOAD,
	  .offset = offsetof(struct t_conf, listen) },
	{ .name = "port", .type = CONF_INT, .def = "8080", .min = 1,
	  .max = 65535, .offset = offsetof(struct t_conf, port) },
	{ .name = "workers", .type = CONF_INT,
	  .offset = offsetof(struct t_conf, workers) },
	{ .name = "debug", .type = CONF_BOOL, .def = "off",
	  .offset = offsetof(struct t_conf, debug) },
	{ .name = "retention", .type = CONF_DURATION, .def = "30d", .min = 1,
	  .max = 365 * 86400, .offset = offsetof(struct t_conf, retention) },
	{ .name = "timeout", .type = CONF_DURATION, .def = "30s",
	  .offset = offsetof(struct t_conf, timeout) },
	{ .name = "grace", .type = CONF_DURATION,
	  .offset = offsetof(struct t_conf, grace) },
	{ .name = "max_upload", .type = CONF_SIZE, .def = "64M",
	  .min = 1024, .max = 2LL << 30,
	  .offset = offsetof(struct t_conf, max_upload) },
	{ .name = "log_level", .type = CONF_ENUM, .def = "info",
	  .enums = t_levels, .offset = offsetof(struct t_conf, log_level) },
	{ .name = "spool", .type = CONF_PATH, .def = "spool",
	  .flags = CONF_NO_RELOAD, .offset = offsetof(struct t_conf, spool) },
	{ .name = "password", .type = CONF_STRING, .flags = CONF_SECRET,
	  .offset = offsetof(struct t_conf, password) },
	{ .name = "pin", .type = CONF_INT, .flags = CONF_SECRET, .min = 0,
	  .max = 9999, .offset = offsetof(struct t_conf, pin) },
	{ .name = "tls", .type = CONF_SECTION, .sub = t_tls_keys,
	  .offset = offsetof(struct t_conf, tls) },
	{ .name = "peers", .type = CONF_LIST, .sub = t_peer_keys,
	  .sub_size = sizeof(struct t_peer), .max = 4,
	  .offset = offsetof(struct t_conf, peers),
	  .count_offset = offsetof(struct t_conf, npeers) },
	{ .name = "allow", .type = CONF_LIST, .sub = t_allow_keys,
	  .sub_size = sizeof(char *), .max = 8,
	  .offset = offsetof(struct t_conf, allow),
	  .count_offset = offsetof(struct t_conf, nallow) },
	{ .name = NULL }
};

/* The dump of a configuration as a string. */
static char *
fuzz_dump(const void *c)
{
	char	*s = NULL;
	size_t	 len;
	FILE	*f;

	if ((f = open_memstream(&s, &len)) == NULL)
		abort();
	if (conf_dump(f, t_keys, c) == -1)
		abort();
	fclose(f);
	return (s);
}

/* Load one input and check the invariants above. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct t_conf		 c, c2, zero;
	struct conf_errors	 errs;
	char			*d1, *d2, **names;
	size_t			 i, n;

	memset(&c, 0, sizeof(c));
	memset(&zero, 0, sizeof(zero));
	conf_errors_init(&errs);
	if (conf_load_buffer("fuzz.yaml", (const char *)data, size, t_keys,
	    &c, &errs) == -1) {
		if (errs.n == 0 || errs.n > CONF_MAX_ERRORS + 1 ||
		    memcmp(&c, &zero, sizeof(c)) != 0)
			abort();
		for (i = 0; i < errs.n; i++)
			if (strncmp(errs.lines[i], "fuzz.yaml:", 10) != 0 ||
			    strchr(errs.lines[i], '\n') != NULL)
				abort();
		conf_errors_free(&errs);
		return (0);
	}
	if (errs.n != 0)
		abort();
	d1 = fuzz_dump(&c);
	memset(&c2, 0, sizeof(c2));
	if (conf_load_buffer("fuzz.yaml", d1, strlen(d1), t_keys, &c2,
	    &errs) == -1) {
		conf_errors_print(stderr, &errs);
		fprintf(stderr, "%s", d1);
		abort();
	}
	d2 = fuzz_dump(&c2);
	if (strcmp(d1, d2) != 0) {
		fprintf(stderr, "--- first\n%s--- second\n%s", d1, d2);
		abort();
	}
	n = conf_changed_no_reload(t_keys, &c, &c2, &names);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (n != 0)
		abort();
	free(d1);
	free(d2);
	conf_free(t_keys, &c);
	conf_free(t_keys, &c2);
	if (memcmp(&c, &zero, sizeof(c)) != 0)
		abort();
	return (0);
}
