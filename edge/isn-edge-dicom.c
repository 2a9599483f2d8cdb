/*
 * isn-edge-dicom: the edge's DICOM helper. One process per operation
 * (echo, find, move, store) or a long-running C-STORE SCP (scp), so that
 * DCMTK's blocking DIMSE never runs in the daemon. It writes one line per
 * event to stdout (docs/design/dcmhelper.md): "EVENT key=value ...", values
 * percent-encoded, the last line "result ..."; exit status 0 (success),
 * 1 (the peer answered with a failure) or 2 (no answer, bad usage).
 * Patient data may go on stdout (the daemon's pipe), never on stderr.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dcm_shim.h"

#define LINE_MAX_OUT	8192
#define MAX_FILES	100000

static pthread_mutex_t	 out_mutex = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t stop;
static int		 out_broken;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Appends "key=value" with the value percent-encoded; NULL skips. */
static void
put(char *line, size_t *len, const char *key, const char *val)
{
	static const char	hex[] = "0123456789ABCDEF";
	size_t			l = *len;
	const unsigned char	*p;

	if (val == NULL)
		return;
	l += (size_t)snprintf(line + l, LINE_MAX_OUT - l, " %s=", key);
	for (p = (const unsigned char *)val; *p != '\0' &&
	    l + 4 < LINE_MAX_OUT; p++) {
		if (isalnum(*p) || strchr("._-/:@^+,", *p) != NULL)
			line[l++] = (char)*p;
		else {
			line[l++] = '%';
			line[l++] = hex[*p >> 4];
			line[l++] = hex[*p & 15];
		}
	}
	line[l] = '\0';
	*len = l;
}

/*
 * Writes one line: the event and NULL-terminated key, value pairs (a
 * NULL value skips the pair, so the list ends at a NULL key). Whole
 * lines only, from any thread.
 */
static void
emit(const char *event, ...)
{
	char		 line[LINE_MAX_OUT];
	size_t		 len, off = 0;
	const char	*k, *v;
	va_list		 ap;
	ssize_t		 n;

	len = (size_t)snprintf(line, sizeof(line), "%s", event);
	va_start(ap, event);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		put(line, &len, k, v);
	}
	va_end(ap);
	line[len++] = '\n';
	pthread_mutex_lock(&out_mutex);
	while (off < len && !out_broken) {
		n = write(STDOUT_FILENO, line + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* The daemon is gone: nobody to work for. */
			out_broken = 1;
			stop = 1;
			break;
		}
		off += (size_t)n;
	}
	pthread_mutex_unlock(&out_mutex);
}

static const char *
fmt_status(char buf[8], int status)
{
	if (status < 0)
		return NULL;
	snprintf(buf, 8, "%04x", status & 0xffff);
	return buf;
}

static const char *
fmt_int(char buf[24], long long v)
{
	snprintf(buf, 24, "%lld", v);
	return buf;
}

static int
result(int rv, const struct dcm_result *r, const char *extra_k,
    const char *extra_v)
{
	char	sb[8];

	emit("result", "exit", rv == 0 ? "0" : rv == 1 ? "1" : "2",
	    "status", fmt_status(sb, r->status), "reason", r->reason,
	    extra_k, extra_v, NULL);
	return rv;
}

static int
usage_error(const char *fmt, ...) __attribute__((__format__(__printf__, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	struct dcm_result	r;
	va_list			ap;

	r.status = -1;
	va_start(ap, fmt);
	vsnprintf(r.reason, sizeof(r.reason), fmt, ap);
	va_end(ap);
	fprintf(stderr, "isn-edge-dicom: %s\n", r.reason);
	return result(2, &r, NULL, NULL);
}

/* An AE title: 1-16 characters, printable, no backslash, not all blank. */
static int
ae_valid(const char *ae)
{
	size_t	i, n = strlen(ae);
	int	blank = 1;

	if (n == 0 || n > 16)
		return 0;
	for (i = 0; i < n; i++) {
		if (ae[i] < 0x20 || ae[i] > 0x7e || ae[i] == '\\')
			return 0;
		if (ae[i] != ' ')
			blank = 0;
	}
	return !blank;
}

static int
port_parse(const char *s, int *port)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

/* AE@host:port into the association; the strings point into buf. */
static int
peer_parse(char *buf, struct dcm_assoc *a)
{
	char	*at, *colon;

	if ((at = strchr(buf, '@')) == NULL ||
	    (colon = strrchr(at, ':')) == NULL)
		return -1;
	*at = '\0';
	*colon = '\0';
	if (!ae_valid(buf) || at[1] == '\0' ||
	    port_parse(colon + 1, &a->port) == -1)
		return -1;
	a->peer_ae = buf;
	a->host = at + 1;
	return 0;
}

/* A matching key: wildcards would widen the query, so refuse them. */
static int
key_valid(const char *v, size_t max)
{
	size_t	n = strlen(v);

	return n > 0 && n <= max && strpbrk(v, "*?\\") == NULL;
}

static int
seconds_parse(const char *s, int *v)
{
	char	*end;
	long	 l;

	errno = 0;
	l = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || l < 1 || l > 86400)
		return -1;
	*v = (int)l;
	return 0;
}

static void
on_study(void *arg, const struct dcm_study *s)
{
	(void)arg;
	emit("study", "study_uid", s->study_uid, "accession", s->accession,
	    "patient_id", s->patient_id, "patient_name", s->patient_name,
	    "study_date", s->study_date, "study_time", s->study_time,
	    "modalities", s->modalities, "instances", s->instances,
	    "series", s->series, "description", s->description, NULL);
}

static void
counts_strings(const struct dcm_move_counts *c, char b[4][24])
{
	fmt_int(b[0], c->remaining);
	fmt_int(b[1], c->completed);
	fmt_int(b[2], c->failed);
	fmt_int(b[3], c->warning);
}

static void
on_move(void *arg, const struct dcm_move_counts *c)
{
	char	b[4][24], sb[8];

	(void)arg;
	counts_strings(c, b);
	emit("progress", "status", fmt_status(sb, c->status),
	    "remaining", c->remaining >= 0 ? b[0] : NULL, "completed", b[1],
	    "failed", b[2], "warning", b[3], NULL);
}

static void
on_sent(void *arg, const struct dcm_sent *s)
{
	char	sb[8];

	(void)arg;
	emit("sent", "file", s->path, "sop_class", s->sop_class,
	    "sop_instance", s->sop_instance, "ts", s->ts, "sent_ts",
	    s->sent_ts, "status", fmt_status(sb, s->status), "ok",
	    s->reason == NULL ? "1" : "0", "reason", s->reason, NULL);
}

static void
on_stored(void *arg, const struct dcm_stored *s)
{
	char	sb[8], size[24];

	(void)arg;
	emit(s->reason == NULL ? "stored" : "refused", "study_uid",
	    s->study_uid, "series_uid", s->series_uid, "sop_instance",
	    s->sop_instance, "sop_class", s->sop_class, "ts", s->ts,
	    "file", s->path, "size", s->path != NULL ? fmt_int(size,
	    s->size) : NULL, "calling_ae", s->calling_ae, "status",
	    fmt_status(sb, s->status), "reason", s->reason, NULL);
}

static void
on_ready(void *arg)
{
	const struct dcm_scp_conf	*c = arg;
	char				 port[24];

	emit("ready", "ae", c->ae, "port", fmt_int(port, c->port), NULL);
}

/* Reads a list of files, one a line, from stdin. */
static char **
files_from_stdin(size_t *np)
{
	char	**v = NULL, *line = NULL;
	size_t	  n = 0, cap = 0, lcap = 0;
	ssize_t	  len;

	while ((len = getline(&line, &lcap, stdin)) != -1) {
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		if (n == MAX_FILES)
			break;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((v = realloc(v, cap * sizeof(*v))) == NULL)
				abort();
		}
		if ((v[n++] = strdup(line)) == NULL)
			abort();
	}
	free(line);
	*np = n;
	return v;
}

enum { O_PEER = 256, O_AE, O_DEST, O_MRN, O_ACC, O_STUDY, O_PORT, O_SPOOL,
    O_MAXA, O_CTO, O_ATO, O_DTO, O_FSYNC, O_NOFSYNC, O_SETPID, O_SETACC };

static const struct option longopts[] = {
	{ "peer", required_argument, NULL, O_PEER },
	{ "ae", required_argument, NULL, O_AE },
	{ "dest", required_argument, NULL, O_DEST },
	{ "mrn", required_argument, NULL, O_MRN },
	{ "accession", required_argument, NULL, O_ACC },
	{ "study-uid", required_argument, NULL, O_STUDY },
	{ "port", required_argument, NULL, O_PORT },
	{ "spool", required_argument, NULL, O_SPOOL },
	{ "max-associations", required_argument, NULL, O_MAXA },
	{ "connect-timeout", required_argument, NULL, O_CTO },
	{ "acse-timeout", required_argument, NULL, O_ATO },
	{ "dimse-timeout", required_argument, NULL, O_DTO },
	{ "fsync", no_argument, NULL, O_FSYNC },
	{ "no-fsync", no_argument, NULL, O_NOFSYNC },
	{ "set-patient-id", required_argument, NULL, O_SETPID },
	{ "set-accession", required_argument, NULL, O_SETACC },
	{ "verbose", no_argument, NULL, 'v' },
	{ NULL, 0, NULL, 0 }
};

static void
usage(void)
{
	fprintf(stderr,
"usage: isn-edge-dicom echo  --peer AE@host:port --ae OURAE [options]\n"
"       isn-edge-dicom find  --peer ... --ae ... [--mrn X] [--accession Y]\n"
"                            [--study-uid Z]\n"
"       isn-edge-dicom move  --peer ... --ae ... --dest AE --study-uid Z\n"
"       isn-edge-dicom store --peer ... --ae ... FILE... | -\n"
"                            [--set-patient-id ID] [--set-accession A]\n"
"       isn-edge-dicom scp   --ae AE --port N --spool DIR\n"
"                            [--max-associations N] [--no-fsync]\n"
"options: --connect-timeout S (10) --acse-timeout S (30)\n"
"         --dimse-timeout S (120) -v (repeat for debug)\n");
}

int
main(int argc, char *argv[])
{
	struct dcm_assoc	 a = { NULL, NULL, NULL, 0, 10, 30, 120 };
	struct dcm_scp_conf	 sc = { NULL, 0, NULL, 16, 30, 120, 1 };
	struct dcm_find_keys	 k = { NULL, NULL, NULL };
	struct dcm_move_counts	 fc;
	struct dcm_result	 r;
	struct sigaction	 sa;
	const char		*cmd, *dest = NULL;
	const char		*set_pid = NULL, *set_acc = NULL;
	char			*peer = NULL, **files = NULL, b[4][24], sb[8];
	size_t			 nfiles = 0, i;
	int			 ch, verbose = 0, rv, from_stdin = 0;

	if (argc < 2 || argv[1][0] == '-') {
		usage();
		return 2;
	}
	cmd = argv[1];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* Only the SCP stops cleanly; the others simply die. */
	if (strcmp(cmd, "scp") == 0) {
		sa.sa_handler = on_signal;
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
	}

	optind = 2;
	while ((ch = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		switch (ch) {
		case O_PEER:
			peer = optarg;
			break;
		case O_AE:
			if (!ae_valid(optarg))
				return usage_error("bad AE title");
			a.our_ae = sc.ae = optarg;
			break;
		case O_DEST:
			if (!ae_valid(optarg))
				return usage_error("bad destination AE title");
			dest = optarg;
			break;
		case O_MRN:
			if (!key_valid(optarg, 64))
				return usage_error("bad --mrn");
			k.patient_id = optarg;
			break;
		case O_ACC:
			if (!key_valid(optarg, 16))
				return usage_error("bad --accession");
			k.accession = optarg;
			break;
		case O_STUDY:
			if (!key_valid(optarg, 64) ||
			    strspn(optarg, "0123456789.") != strlen(optarg))
				return usage_error("bad --study-uid");
			k.study_uid = optarg;
			break;
		case O_PORT:
			if (port_parse(optarg, &sc.port) == -1)
				return usage_error("bad --port");
			break;
		case O_SPOOL:
			sc.spool = optarg;
			break;
		case O_MAXA:
			if (seconds_parse(optarg, &sc.max_assocs) == -1 ||
			    sc.max_assocs > 256)
				return usage_error("bad --max-associations");
			break;
		case O_CTO:
			if (seconds_parse(optarg, &a.connect_timeout) == -1)
				return usage_error("bad --connect-timeout");
			break;
		case O_ATO:
			if (seconds_parse(optarg, &a.acse_timeout) == -1)
				return usage_error("bad --acse-timeout");
			sc.acse_timeout = a.acse_timeout;
			break;
		case O_DTO:
			if (seconds_parse(optarg, &a.dimse_timeout) == -1)
				return usage_error("bad --dimse-timeout");
			sc.dimse_timeout = a.dimse_timeout;
			break;
		case O_FSYNC:
			sc.fsync = 1;
			break;
		case O_NOFSYNC:
			sc.fsync = 0;
			break;
		case O_SETPID:
			if (!key_valid(optarg, 64))
				return usage_error("bad --set-patient-id");
			set_pid = optarg;
			break;
		case O_SETACC:
			if (!key_valid(optarg, 16))
				return usage_error("bad --set-accession");
			set_acc = optarg;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage();
			return usage_error("bad option");
		}
	}
	argc -= optind;
	argv += optind;

	if (strcmp(cmd, "scp") == 0) {
		if (sc.ae == NULL || sc.port == 0 || sc.spool == NULL ||
		    argc != 0)
			return usage_error("scp needs --ae, --port and --spool");
	} else if (strcmp(cmd, "echo") == 0 || strcmp(cmd, "find") == 0 ||
	    strcmp(cmd, "move") == 0 || strcmp(cmd, "store") == 0) {
		if (peer == NULL || peer_parse(peer, &a) == -1)
			return usage_error("--peer AE@host:port needed");
		if (a.our_ae == NULL)
			return usage_error("--ae needed");
		if (strcmp(cmd, "store") != 0 && argc != 0)
			return usage_error("unexpected arguments");
	} else {
		usage();
		return usage_error("unknown command %s", cmd);
	}
	if (strcmp(cmd, "find") == 0 && k.patient_id == NULL &&
	    k.accession == NULL && k.study_uid == NULL)
		return usage_error("find needs --mrn, --accession or "
		    "--study-uid");
	if (strcmp(cmd, "move") == 0 && (dest == NULL || k.study_uid == NULL))
		return usage_error("move needs --dest and --study-uid");
	if (strcmp(cmd, "store") == 0) {
		if (argc == 1 && strcmp(argv[0], "-") == 0) {
			files = files_from_stdin(&nfiles);
			from_stdin = 1;
		} else {
			files = argv;
			nfiles = (size_t)argc;
		}
		if (nfiles == 0)
			return usage_error("store needs files");
	}

	if (dcm_init(verbose, &r) == -1)
		return result(2, &r, NULL, NULL);
	if (strcmp(cmd, "echo") == 0)
		rv = result(dcm_echo(&a, &r), &r, NULL, NULL);
	else if (strcmp(cmd, "find") == 0)
		rv = result(dcm_find(&a, &k, on_study, NULL, &r), &r,
		    NULL, NULL);
	else if (strcmp(cmd, "move") == 0) {
		memset(&fc, 0, sizeof(fc));
		fc.remaining = -1;
		rv = dcm_move(&a, dest, k.study_uid, on_move, NULL, &fc, &r);
		counts_strings(&fc, b);
		emit("result", "exit", rv == 0 ? "0" : rv == 1 ? "1" : "2",
		    "status", fmt_status(sb, r.status), "completed", b[1],
		    "failed", b[2], "warning", b[3], "reason", r.reason, NULL);
	} else if (strcmp(cmd, "store") == 0) {
		dcm_store_rewrite(set_pid, set_acc);
		rv = result(dcm_store(&a, (const char *const *)files, nfiles,
		    on_sent, NULL, &r), &r, NULL, NULL);
	} else
		rv = result(dcm_scp(&sc, on_stored, on_ready, &sc, &stop, &r),
		    &r, NULL, NULL);
	if (from_stdin) {
		for (i = 0; i < nfiles; i++)
			free(files[i]);
		free(files);
	}
	dcm_cleanup();
	return rv;
}
