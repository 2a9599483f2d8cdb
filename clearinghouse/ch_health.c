/*
 * ch_health.c: the local health and metrics listener (plain HTTP through
 * evhttp: requests are small GETs) and the process-wide metrics registry.
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "ch.h"
#include "dbuf.h"
#include "log.h"
#include "xmalloc.h"

#define CH_METRICS_MAX		(4 * 1024 * 1024)	/* rendered text */
#define CH_HEALTH_MAX_HEADERS	8192
#define CH_HEALTH_MAX_BODY	1024

/* Histogram bucket bounds in seconds; +Inf is implicit. */
static const double ch_buckets[] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
	2.5, 5, 10, 30, 60, 300
};
#define CH_NBUCKETS	(sizeof(ch_buckets) / sizeof(ch_buckets[0]))

struct ch_series {
	char		*labels;
	double		 value;		/* counter or gauge */
	uint64_t	 counts[CH_NBUCKETS + 1];	/* per bucket, not cumulative */
	double		 sum;
	uint64_t	 count;
};

struct ch_family {
	char			*name;
	char			*help;
	enum ch_metric_type	 type;
	struct ch_series	 series[CH_METRIC_MAX_SERIES];
	size_t			 nseries;
	int			 warned;
	struct ch_family	*next;
};

static struct ch_family	*ch_families, **ch_families_tail = &ch_families;

struct ch_health {
	struct ch			*ch;
	struct evhttp			*http;
	struct evhttp_bound_socket	*sock;
	int				 port;
};

static struct ch_family *
ch_metric_find(const char *name)
{
	struct ch_family	*f;

	for (f = ch_families; f != NULL; f = f->next)
		if (strcmp(f->name, name) == 0)
			return (f);
	return (NULL);
}

/* A metric name: [a-zA-Z_:][a-zA-Z0-9_:]*. */
static int
ch_metric_name_valid(const char *s)
{
	if (!isalpha((unsigned char)*s) && *s != '_' && *s != ':')
		return (0);
	for (s++; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != ':')
			return (0);
	return (1);
}

void
ch_metric_define(const char *name, enum ch_metric_type type,
    const char *help)
{
	struct ch_family	*f;

	if (!ch_metric_name_valid(name))
		fatalx("%s: invalid metric name \"%s\"", __func__, name);
	if ((f = ch_metric_find(name)) != NULL) {
		if (f->type != type)
			fatalx("%s: metric \"%s\" redefined", __func__, name);
		return;
	}
	f = xcalloc(1, sizeof(*f));
	f->name = xstrdup(name);
	f->help = xstrdup(help);
	f->type = type;
	*ch_families_tail = f;
	ch_families_tail = &f->next;
}

/* The series for these labels, created on first use; NULL when full. */
static struct ch_series *
ch_metric_series(const char *name, const char *labels,
    enum ch_metric_type type)
{
	struct ch_family	*f;
	size_t			 i;

	if (labels == NULL)
		labels = "";
	if ((f = ch_metric_find(name)) == NULL || f->type != type) {
		log_warnx("metrics undefined-metric name=%s", name);
		return (NULL);
	}
	for (i = 0; i < f->nseries; i++)
		if (strcmp(f->series[i].labels, labels) == 0)
			return (&f->series[i]);
	if (f->nseries == CH_METRIC_MAX_SERIES) {
		if (!f->warned)
			log_warnx("metrics too-many-series name=%s max=%d",
			    name, CH_METRIC_MAX_SERIES);
		f->warned = 1;
		return (NULL);
	}
	f->series[f->nseries].labels = xstrdup(labels);
	return (&f->series[f->nseries++]);
}

void
ch_metric_inc(const char *name, const char *labels, uint64_t n)
{
	struct ch_series	*s;

	if ((s = ch_metric_series(name, labels, CH_METRIC_COUNTER)) != NULL)
		s->value += (double)n;
}

void
ch_metric_set(const char *name, const char *labels, double v)
{
	struct ch_series	*s;

	if ((s = ch_metric_series(name, labels, CH_METRIC_GAUGE)) != NULL)
		s->value = v;
}

void
ch_metric_observe(const char *name, const char *labels, double v)
{
	struct ch_series	*s;
	size_t			 i;

	if ((s = ch_metric_series(name, labels, CH_METRIC_HISTOGRAM)) == NULL)
		return;
	for (i = 0; i < CH_NBUCKETS && v > ch_buckets[i]; i++)
		;
	s->counts[i]++;
	s->sum += v;
	s->count++;
}

/* A sample line: name{labels[,extra]} value. */
static void
ch_metric_line(struct dbuf *b, const char *name, const char *suffix,
    const char *labels, const char *extra, double v)
{
	char	num[64];

	if (v > -1e15 && v < 1e15 && v == (double)(long long)v)
		snprintf(num, sizeof(num), "%.0f", v);
	else
		snprintf(num, sizeof(num), "%.9g", v);
	dbuf_printf(b, "%s%s", name, suffix);
	if (*labels != '\0' || extra != NULL)
		dbuf_printf(b, "{%s%s%s}", labels,
		    *labels != '\0' && extra != NULL ? "," : "",
		    extra != NULL ? extra : "");
	dbuf_printf(b, " %s\n", num);
}

char *
ch_metrics_render(size_t *lenp)
{
	static const char	*types[] = { "counter", "gauge", "histogram" };
	struct ch_family	*f;
	struct ch_series	*s;
	struct dbuf		 b;
	char			 le[64];
	uint64_t		 cum;
	size_t			 i, k;

	dbuf_init(&b, CH_METRICS_MAX);
	for (f = ch_families; f != NULL; f = f->next) {
		dbuf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", f->name,
		    f->help, f->name, types[f->type]);
		for (i = 0; i < f->nseries; i++) {
			s = &f->series[i];
			if (f->type != CH_METRIC_HISTOGRAM) {
				ch_metric_line(&b, f->name, "", s->labels,
				    NULL, s->value);
				continue;
			}
			cum = 0;
			for (k = 0; k <= CH_NBUCKETS; k++) {
				cum += s->counts[k];
				if (k < CH_NBUCKETS)
					snprintf(le, sizeof(le), "le=\"%g\"",
					    ch_buckets[k]);
				else
					strlcpy(le, "le=\"+Inf\"", sizeof(le));
				ch_metric_line(&b, f->name, "_bucket",
				    s->labels, le, (double)cum);
			}
			ch_metric_line(&b, f->name, "_sum", s->labels, NULL,
			    s->sum);
			ch_metric_line(&b, f->name, "_count", s->labels, NULL,
			    (double)s->count);
		}
	}
	return (dbuf_take(&b, lenp));
}

void
ch_metrics_free(void)
{
	struct ch_family	*f, *next;
	size_t			 i;

	for (f = ch_families; f != NULL; f = next) {
		next = f->next;
		for (i = 0; i < f->nseries; i++)
			free(f->series[i].labels);
		free(f->name);
		free(f->help);
		free(f);
	}
	ch_families = NULL;
	ch_families_tail = &ch_families;
}

static double
ch_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* Counts the request; the path label is one of ours or "other". */
static void
ch_health_count(const char *path, int code, double t0)
{
	char	labels[128];

	snprintf(labels, sizeof(labels), "path=\"%s\",code=\"%d\"", path,
	    code);
	ch_metric_inc("isn_ch_health_requests_total", labels, 1);
	ch_metric_observe("isn_ch_health_request_duration_seconds", "",
	    ch_now() - t0);
}

static void
ch_health_reply(struct evhttp_request *req, int code, const char *reason,
    const char *ctype, const char *body, size_t len)
{
	struct evbuffer	*out;

	out = evbuffer_new();
	if (out == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", ctype);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Cache-Control", "no-store");
	evbuffer_add(out, body, len);
	evhttp_send_reply(req, code, reason, out);
	evbuffer_free(out);
}

static void
ch_health_request(struct evhttp_request *req, void *arg)
{
	struct ch_health	*h = arg;
	const char		*uri, *label;
	char			*path = NULL, *text;
	struct evhttp_uri	*u;
	size_t			 len;
	double			 t0 = ch_now();

	uri = evhttp_request_get_uri(req);
	if ((u = evhttp_uri_parse(uri)) != NULL &&
	    evhttp_uri_get_path(u) != NULL)
		path = xstrdup(evhttp_uri_get_path(u));
	if (u != NULL)
		evhttp_uri_free(u);
	if (path != NULL && strcmp(path, "/health") == 0) {
		label = "/health";
		ch_health_reply(req, HTTP_OK, "OK", "text/plain", "ok\n", 3);
		ch_health_count(label, HTTP_OK, t0);
	} else if (path != NULL && strcmp(path, "/metrics") == 0) {
		label = "/metrics";
		/* Counted first, so a scrape sees itself. */
		ch_health_count(label, HTTP_OK, t0);
		ch_metric_set("isn_ch_uptime_seconds", "",
		    (double)(time(NULL) - h->ch->started));
		text = ch_metrics_render(&len);
		ch_health_reply(req, HTTP_OK, "OK",
		    "text/plain; version=0.0.4", text, len);
		free(text);
	} else {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		ch_health_count("other", HTTP_NOTFOUND, t0);
	}
	free(path);
}

struct ch_health *
ch_health_start(struct ch *ch, char **cause)
{
	const struct conf_addr	*a = &ch->conf->listen.health;
	struct ch_health	*h;
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	const char		*host;

	ch_metric_define("isn_ch_health_requests_total", CH_METRIC_COUNTER,
	    "Requests to the health listener by path and status.");
	ch_metric_define("isn_ch_health_request_duration_seconds",
	    CH_METRIC_HISTOGRAM, "Time to answer a health listener request.");
	ch_metric_define("isn_ch_uptime_seconds", CH_METRIC_GAUGE,
	    "Seconds since the daemon started.");

	h = xcalloc(1, sizeof(*h));
	h->ch = ch;
	if ((h->http = evhttp_new(ch->base)) == NULL) {
		xasprintf(cause, "could not create the health listener");
		free(h);
		return (NULL);
	}
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(h->http, CH_HEALTH_MAX_HEADERS);
	evhttp_set_max_body_size(h->http, CH_HEALTH_MAX_BODY);
	evhttp_set_gencb(h->http, ch_health_request, h);
	ch_health_reconfigure(h, ch->conf);
	host = a->host[0] == '\0' ? "0.0.0.0" : a->host;
	h->sock = evhttp_bind_socket_with_handle(h->http, host, a->port);
	if (h->sock == NULL) {
		xasprintf(cause, "could not listen on %s:%d", host, a->port);
		evhttp_free(h->http);
		free(h);
		return (NULL);
	}
	if (getsockname(evhttp_bound_socket_get_fd(h->sock),
	    (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			h->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			h->port = ntohs(
			    ((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	log_info("health listening addr=%s%s%s:%d",
	    strchr(host, ':') != NULL ? "[" : "", host,
	    strchr(host, ':') != NULL ? "]" : "", h->port);
	return (h);
}

/* Apply reloadable settings: the connection timeout. */
void
ch_health_reconfigure(struct ch_health *h, const struct ch_conf *c)
{
	evhttp_set_timeout(h->http, (int)c->timeouts.io);
}

int
ch_health_port(const struct ch_health *h)
{
	return (h->port);
}

void
ch_health_stop(struct ch_health *h)
{
	if (h == NULL || h->sock == NULL)
		return;
	evhttp_del_accept_socket(h->http, h->sock);
	h->sock = NULL;
	log_info("health stopped");
}

void
ch_health_free(struct ch_health *h)
{
	if (h == NULL)
		return;
	ch_health_stop(h);
	evhttp_free(h->http);
	free(h);
}
