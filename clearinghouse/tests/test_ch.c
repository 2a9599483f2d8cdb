/*
 * test_ch.c: the clearinghouse metrics registry and its exposition text,
 * the cross-key configuration checks and the reload rule that keeps the
 * running values of restart-only keys.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ch.h"
#include "log.h"
#include "tap.h"
#include "xmalloc.h"

static int	t_warnings;

static void
t_sink(int pri, const char *line, void *arg)
{
	t_warnings++;
}

static int
t_has_line(const char *text, const char *line)
{
	size_t		 n = strlen(line);
	const char	*p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return (1);
		p += n;
	}
	return (0);
}

static void
t_metrics(void)
{
	char	*text, labels[32];
	size_t	 len;
	int	 i;

	ch_metric_define("t_requests_total", CH_METRIC_COUNTER, "Requests.");
	ch_metric_define("t_temp", CH_METRIC_GAUGE, "A gauge.");
	ch_metric_define("t_latency_seconds", CH_METRIC_HISTOGRAM, "Time.");
	ch_metric_inc("t_requests_total", "path=\"/a\"", 2);
	ch_metric_inc("t_requests_total", "path=\"/a\"", 3);
	ch_metric_inc("t_requests_total", "path=\"/b\"", 1);
	ch_metric_set("t_temp", NULL, 1.5);
	ch_metric_observe("t_latency_seconds", "", 0.003);
	ch_metric_observe("t_latency_seconds", "", 0.2);
	ch_metric_observe("t_latency_seconds", "", 1000);
	t_warnings = 0;
	ch_metric_inc("t_undefined_total", "", 1);
	ch_metric_set("t_requests_total", "", 1);	/* wrong type */
	is_int(t_warnings, 2, "undefined or mistyped metrics are warned");

	for (i = 0; i < CH_METRIC_MAX_SERIES + 5; i++) {
		snprintf(labels, sizeof(labels), "n=\"%d\"", i);
		ch_metric_inc("t_requests_total", labels, 1);
	}
	is_int(t_warnings, 3, "too many series: one warning");

	text = ch_metrics_render(&len);
	is_int((long long)strlen(text), (long long)len, "render length");
	ok(strncmp(text, "# HELP t_requests_total Requests.\n"
	    "# TYPE t_requests_total counter\n", 65) == 0,
	    "HELP and TYPE come first");
	ok(t_has_line(text, "t_requests_total{path=\"/a\"} 5"), "counter sum");
	ok(t_has_line(text, "t_requests_total{path=\"/b\"} 1"), "second series");
	ok(t_has_line(text, "t_requests_total{n=\"61\"} 1"), "last series kept");
	ok(!t_has_line(text, "t_requests_total{n=\"62\"} 1"),
	    "series past the cap dropped");
	ok(t_has_line(text, "t_temp 1.5"), "gauge without labels");
	ok(t_has_line(text, "t_latency_seconds_bucket{le=\"0.005\"} 1"),
	    "first bucket");
	ok(t_has_line(text, "t_latency_seconds_bucket{le=\"0.25\"} 2"),
	    "buckets are cumulative");
	ok(t_has_line(text, "t_latency_seconds_bucket{le=\"300\"} 2"),
	    "last finite bucket");
	ok(t_has_line(text, "t_latency_seconds_bucket{le=\"+Inf\"} 3"),
	    "+Inf bucket counts everything");
	ok(t_has_line(text, "t_latency_seconds_count 3"), "histogram count");
	ok(t_has_line(text, "t_latency_seconds_sum 1000.203"), "histogram sum");
	ok(strstr(text, "t_undefined_total") == NULL, "undefined not shown");
	free(text);
	ch_metrics_free();
	text = ch_metrics_render(&len);
	is_int((long long)len, 0, "empty after ch_metrics_free");
	free(text);
}

#define T_BASE \
	"tls: {cert: c.pem, key: k.pem, ca: ca.pem}\n" \
	"repository_unique_id: \"1.2.3\"\n" \
	"home_community_id: \"urn:oid:1.2.4\"\n" \
	"database: {conninfo: \"dbname=a\"}\n"

static struct ch_conf *
t_load(const char *text, struct conf_errors *errs)
{
	struct ch_conf	*c = xcalloc(1, sizeof(*c));

	conf_errors_init(errs);
	if (conf_load_buffer("t.yaml", text, strlen(text), ch_conf_keys, c,
	    errs) == -1) {
		free(c);
		return (NULL);
	}
	if (ch_conf_check("t.yaml", c, errs) == -1) {
		ch_conf_free(c);
		return (NULL);
	}
	return (c);
}

static void
t_conf(void)
{
	struct conf_errors	 errs;
	struct ch_conf		*old, *cur;
	char			**names;
	size_t			 n, i;

	old = t_load(T_BASE "blob_dir: /a\nretention: 30d\n"
	    "peers: [{name: p, subject: \"CN=p\", roles: [consumer]}]\n",
	    &errs);
	ok(old != NULL, "minimal configuration loads");
	conf_errors_print(stdout, &errs);
	conf_errors_free(&errs);
	if (old == NULL)
		return;
	is_int(old->peers[0].role_mask, CH_ROLE_CONSUMER, "role mask");
	is_int(old->listen.health.port, 9102, "default health port");
	is_str(old->affinity_domain, CH_AFFINITY_DEFAULT, "default OID");

	cur = t_load(T_BASE "blob_dir: /b\nretention: 40d\n"
	    "listen: {health: \"127.0.0.1:9200\"}\n"
	    "database: {conninfo: \"dbname=b\"}\n", &errs);
	ok(cur == NULL, "duplicate key refused");
	conf_errors_free(&errs);

	cur = t_load("tls: {cert: c.pem, key: k.pem, ca: ca.pem}\n"
	    "repository_unique_id: \"1.2.3\"\n"
	    "home_community_id: \"urn:oid:1.2.4\"\n"
	    "database: {conninfo: \"dbname=b\", pool_size: 8}\n"
	    "blob_dir: /b\nretention: 40d\n"
	    "listen: {health: \"127.0.0.1:9200\"}\n", &errs);
	ok(cur != NULL, "changed configuration loads");
	conf_errors_free(&errs);
	if (cur == NULL) {
		ch_conf_free(old);
		return;
	}
	n = conf_changed_no_reload(ch_conf_keys, old, cur, &names);
	is_int((long long)n, 4, "four restart-only keys changed");
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	conf_keep_no_reload(ch_conf_keys, old, cur);
	is_str(cur->blob_dir, "/a", "blob_dir keeps its running value");
	is_str(cur->database.conninfo, "dbname=a", "conninfo kept");
	is_int(cur->database.pool_size, 4, "pool_size kept");
	is_int(cur->listen.health.port, 9102, "health address kept");
	is_int(cur->retention, 40 * 86400, "retention is reloaded");
	is_int((long long)cur->npeers, 0, "peers are reloaded");
	is_str(old->blob_dir, "/b", "the old struct holds the new text");
	n = conf_changed_no_reload(ch_conf_keys, cur, old, &names);
	ok(n == 4, "the swap exchanged the values");
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	ch_conf_free(old);
	ch_conf_free(cur);

	cur = t_load(T_BASE "listen: {xds: \"*:9000\", pix_feed: "
	    "\"127.0.0.1:9000\"}\n", &errs);
	ok(cur == NULL && errs.n == 1 && strcmp(errs.lines[0], "t.yaml: "
	    "listen.pix_feed: port 9000 is also used by listen.xds") == 0,
	    "a wildcard and a host on one port collide");
	conf_errors_free(&errs);
	cur = t_load(T_BASE "listen: {xds: \"127.0.0.1:0\", pix_feed: "
	    "\"127.0.0.1:0\"}\n", &errs);
	ok(cur != NULL, "port 0 never collides");
	conf_errors_free(&errs);
	ch_conf_free(cur);
	cur = t_load(T_BASE "peers: [{name: p, fingerprint: \""
	    "5D41402ABC4B2A76B9719D911017C5925D41402ABC4B2A76B9719D911017C592"
	    "\", roles: [source, consumer]}]\n", &errs);
	ok(cur != NULL && cur->peers[0].role_mask ==
	    (CH_ROLE_SOURCE | CH_ROLE_CONSUMER), "upper-case fingerprint");
	conf_errors_free(&errs);
	ch_conf_free(cur);
	cur = t_load("tls: {cert: c.pem, key: k.pem, ca: ca.pem}\n"
	    "repository_unique_id: \"1.2.3.\"\n"
	    "home_community_id: \"urn:oid:1\"\n"
	    "database: {conninfo: \"dbname=a\"}\n", &errs);
	ok(cur == NULL && errs.n == 2, "bad OIDs: trailing dot, one arc");
	conf_errors_free(&errs);
}

static void
t_sample(void)
{
	struct conf_errors	 errs;
	struct ch_conf		*c;
	const char		*top = getenv("top_srcdir");
	char			*path;

	xasprintf(&path, "%s/clearinghouse/clearinghouse.yaml.sample",
	    top != NULL ? top : ".");
	conf_errors_init(&errs);
	c = ch_conf_load(path, &errs);
	ok(c != NULL, "the sample configuration loads");
	conf_errors_print(stdout, &errs);
	if (c != NULL) {
		is_int((long long)c->npeers, 2, "sample peers");
		is_int(c->retention, 30 * 86400, "sample retention");
		ok(c->tls.verify_peer, "peers are always verified");
	}
	ch_conf_free(c);
	conf_errors_free(&errs);
	free(path);
}

int
main(void)
{
	log_set_sink(t_sink, NULL);
	t_metrics();
	t_conf();
	t_sample();
	return (tap_done());
}
