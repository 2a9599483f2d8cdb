/*
 * conf_table.h: the configuration table used by test_conf.c and
 * conf-fuzzer.c, with every key type, flags, a section, and lists.
 */
#ifndef ISN_CONF_TABLE_H
#define ISN_CONF_TABLE_H

#include <stddef.h>

#include "conf.h"

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

#endif
