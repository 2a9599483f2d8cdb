/*
 * isn-phr.c: the PHR client's command line. Each subcommand is one entry
 * of phrc_cmds (tmux's cmd_entry idea).
 */
#include "config.h"

#include <sys/resource.h>

#include <getopt.h>
#ifdef HAVE_MALLOPT
#include <malloc.h>
#endif
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "isnphr.h"
#include "log.h"
#include "rsnaid.h"
#include "xmalloc.h"

#define PHRC_EXIT_FAIL	1	/* the network said no, or a document failed */
#define PHRC_EXIT_USAGE	2	/* bad input: usage, a wrong token, a bad date */

struct phrc_cmd {
	const char	*name;
	const char	*usage;
	const char	*help;
	int		(*exec)(int, char **);
};

static int	phrc_rsna_id(int, char **);
static int	phrc_list(int, char **);
static int	phrc_retrieve(int, char **);

#define PHRC_CONN_USAGE \
	"\t\t(--url URL [--ca FILE] [--cert FILE --key FILE] [--oid OID]\n" \
	"\t\t | --profile FILE)\n" \
	"\t\t[--scheme isn2|rsna-token|rsna-access-code]\n" \
	"\t\t(--token T | --access-code C) --dob YYYY-MM-DD\n" \
	"\t\t[--password-file FILE | --password-env VAR]"

static const struct phrc_cmd phrc_cmds[] = {
	{ "rsna-id",
	  "rsna-id [--scheme isn2|rsna-token|rsna-access-code]\n"
	  "\t\t[--token T | --access-code C] --dob YYYY-MM-DD\n"
	  "\t\t[--password P | --password-file FILE | --password-env VAR]\n"
	  "\t\t[--show-key] "
	  "[--cx [--oid OID]]",
	  "compute the RSNA-ID from what the patient knows",
	  phrc_rsna_id },
	{ "list",
	  "list\n" PHRC_CONN_USAGE,
	  "list the patient's submissions, studies and series",
	  phrc_list },
	{ "retrieve",
	  "retrieve --out DIR [--study UID] [--quiet] [--sync] [--stats]\n"
	  PHRC_CONN_USAGE,
	  "download, decrypt and verify the patient's studies into DIR",
	  phrc_retrieve },
};

static void
phrc_usage(FILE *f)
{
	size_t	i;

	fprintf(f, "usage: isn-phr [--help | --version] command [args]\n\n"
	    "commands:\n");
	for (i = 0; i < sizeof(phrc_cmds) / sizeof(*phrc_cmds); i++)
		fprintf(f, "  %-10s %s\n\tisn-phr %s\n", phrc_cmds[i].name,
		    phrc_cmds[i].help, phrc_cmds[i].usage);
	fprintf(f, "\nSee isn-phr(1).\n");
}

static int __attribute__((__format__(__printf__, 1, 2)))
phrc_error(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "isn-phr: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return (PHRC_EXIT_USAGE);
}

/*
 * Read one line (the password) from a file, "-" for standard input; a
 * terminal is switched to no echo. The newline is not part of it.
 */
static char *
phrc_read_secret(const char *path, const char *prompt)
{
	struct termios	 saved, noecho;
	FILE		*f;
	char		*line = NULL;
	size_t		 cap = 0;
	ssize_t		 n;
	int		 tty;

	f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (f == NULL)
		return (NULL);
	tty = isatty(fileno(f)) && tcgetattr(fileno(f), &saved) == 0;
	if (tty) {
		fprintf(stderr, "%s", prompt);
		noecho = saved;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(f), TCSAFLUSH, &noecho);
	}
	n = getline(&line, &cap, f);
	if (tty) {
		tcsetattr(fileno(f), TCSAFLUSH, &saved);
		fprintf(stderr, "\n");
	}
	if (f != stdin)
		fclose(f);
	if (n <= 0) {
		freezero(line, cap);
		return (NULL);
	}
	if (line[n - 1] == '\n')
		line[--n] = '\0';
	if (n > 0 && line[n - 1] == '\r')
		line[--n] = '\0';
	return (line);
}

static int
phrc_rsna_id(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "scheme", required_argument, NULL, 's' },
		{ "token", required_argument, NULL, 't' },
		{ "access-code", required_argument, NULL, 'a' },
		{ "dob", required_argument, NULL, 'd' },
		{ "password", required_argument, NULL, 'p' },
		{ "password-file", required_argument, NULL, 'P' },
		{ "password-env", required_argument, NULL, 'E' },
		{ "show-key", no_argument, NULL, 'k' },
		{ "cx", no_argument, NULL, 'c' },
		{ "oid", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	enum rsnaid_scheme	 scheme = RSNAID_ISN2;
	struct rsnaid		 r;
	const char		*token = NULL, *code = NULL, *dob = NULL;
	const char		*pwfile = NULL, *pwenv = NULL;
	const char		*oid = RSNAID_DEFAULT_OID;
	char			*password = NULL, *cause = NULL, cx[256];
	int			 ch, show_key = 0, want_cx = 0, rc, i;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			if (rsnaid_scheme_parse(optarg, &scheme) == -1)
				return (phrc_error("unknown scheme \"%s\": use "
				    "isn2, rsna-token or rsna-access-code",
				    optarg));
			break;
		case 't':
			token = optarg;
			break;
		case 'a':
			code = optarg;
			break;
		case 'd':
			dob = optarg;
			break;
		case 'p':
			password = xstrzero(password);
			password = xstrdup(optarg);
			/* Hide it from ps where the system allows. */
			explicit_bzero(optarg, strlen(optarg));
			break;
		case 'P':
			pwfile = optarg;
			break;
		case 'E':
			pwenv = optarg;
			break;
		case 'k':
			show_key = 1;
			break;
		case 'c':
			want_cx = 1;
			break;
		case 'o':
			oid = optarg;
			break;
		case 'h':
			printf("usage: isn-phr %s\n", phrc_cmds[0].usage);
			return (0);
		default:
			return (PHRC_EXIT_USAGE);
		}
	}
	if (optind != argc)
		rc = phrc_error("unexpected argument \"%s\"", argv[optind]);
	else if (dob == NULL)
		rc = phrc_error("--dob is needed");
	else if (scheme == RSNAID_RSNA_ACCESS_CODE &&
	    (code == NULL || token != NULL))
		rc = phrc_error("the rsna-access-code scheme takes "
		    "--access-code (and no --token)");
	else if (scheme != RSNAID_RSNA_ACCESS_CODE &&
	    (token == NULL || code != NULL))
		rc = phrc_error("the %s scheme takes --token (and no "
		    "--access-code)", rsnaid_scheme_name(scheme));
	else if (scheme == RSNAID_RSNA_ACCESS_CODE &&
	    (password != NULL || pwfile != NULL || pwenv != NULL))
		rc = phrc_error("the rsna-access-code scheme takes no password");
	else if ((password != NULL) + (pwfile != NULL) + (pwenv != NULL) > 1)
		rc = phrc_error("give one of --password, --password-file and "
		    "--password-env");
	else
		rc = 0;
	if (rc != 0)
		goto out;

	if (pwenv != NULL) {
		if (getenv(pwenv) == NULL || *getenv(pwenv) == '\0') {
			rc = phrc_error("the environment variable %s is not "
			    "set", pwenv);
			goto out;
		}
		password = xstrdup(getenv(pwenv));
	}
	if (scheme != RSNAID_RSNA_ACCESS_CODE && password == NULL) {
		password = phrc_read_secret(pwfile != NULL ? pwfile : "-",
		    "patient password: ");
		if (password == NULL) {
			rc = phrc_error("could not read the password from %s",
			    pwfile != NULL ? pwfile : "standard input");
			goto out;
		}
	}
	if (rsnaid_compute(scheme, code != NULL ? code : token, dob, password,
	    &r, &cause) == -1) {
		rc = phrc_error("%s", cause);
		goto out;
	}
	if (want_cx) {
		if (rsnaid_cx(r.id, oid, cx, sizeof(cx)) == -1) {
			rc = phrc_error("--oid is too long");
			rsnaid_clear(&r);
			goto out;
		}
		printf("%s\n", cx);
	} else
		printf("%s\n", r.id);
	if (show_key && r.has_key) {
		for (i = 0; i < RSNAID_KEY_LEN; i++)
			printf("%02x", r.key[i]);
		printf("\n");
	}
	rsnaid_clear(&r);
out:
	xstrzero(password);
	free(cause);
	return (rc);
}

/* --- list and retrieve: a connection and a patient --- */

struct phrc_conn {
	const char	*url, *ca, *cert, *key, *oid, *profile;
	const char	*scheme, *token, *code, *dob, *pwfile, *pwenv;
	const char	*out, *study;
	int		 quiet;
	int		 sync;		/* --sync: ISNPHR_OPT_SYNC */
	int		 stats;		/* --stats: peak memory and CPU */
};

static volatile sig_atomic_t	phrc_interrupted;

static void
phrc_sigint(int sig)
{
	phrc_interrupted = 1;
}

/*
 * Parse the shared options (and --out/--study/--quiet when out_ok), open
 * the handle and set the patient. Returns the handle, or NULL with *rc.
 */
static struct isnphr *
phrc_open(int argc, char **argv, const char *usage, int out_ok,
    struct phrc_conn *c, int *rc)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "ca", required_argument, NULL, 'A' },
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "oid", required_argument, NULL, 'o' },
		{ "profile", required_argument, NULL, 'f' },
		{ "scheme", required_argument, NULL, 's' },
		{ "token", required_argument, NULL, 't' },
		{ "access-code", required_argument, NULL, 'a' },
		{ "dob", required_argument, NULL, 'd' },
		{ "password-file", required_argument, NULL, 'P' },
		{ "password-env", required_argument, NULL, 'E' },
		{ "out", required_argument, NULL, 'O' },
		{ "study", required_argument, NULL, 'S' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "sync", no_argument, NULL, 'y' },
		{ "stats", no_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct isnphr_profile	 p;
	struct isnphr		*h;
	enum rsnaid_scheme	 scheme = RSNAID_ISN2;
	char			*password = NULL;
	int			 ch;

	memset(c, 0, sizeof(*c));
	*rc = PHRC_EXIT_USAGE;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'u': c->url = optarg; break;
		case 'A': c->ca = optarg; break;
		case 'C': c->cert = optarg; break;
		case 'K': c->key = optarg; break;
		case 'o': c->oid = optarg; break;
		case 'f': c->profile = optarg; break;
		case 's': c->scheme = optarg; break;
		case 't': c->token = optarg; break;
		case 'a': c->code = optarg; break;
		case 'd': c->dob = optarg; break;
		case 'P': c->pwfile = optarg; break;
		case 'E': c->pwenv = optarg; break;
		case 'O':
		case 'S':
		case 'q':
		case 'y':
		case 'T':
			if (!out_ok) {
				phrc_error("--%s is an option of retrieve",
				    ch == 'O' ? "out" : ch == 'S' ? "study" :
				    ch == 'q' ? "quiet" : ch == 'y' ? "sync" :
				    "stats");
				return (NULL);
			}
			if (ch == 'O')
				c->out = optarg;
			else if (ch == 'S')
				c->study = optarg;
			else if (ch == 'q')
				c->quiet = 1;
			else if (ch == 'y')
				c->sync = 1;
			else
				c->stats = 1;
			break;
		case 'h':
			printf("usage: isn-phr %s\n", usage);
			*rc = 0;
			return (NULL);
		default:
			return (NULL);
		}
	}
	if (optind != argc) {
		phrc_error("unexpected argument \"%s\"", argv[optind]);
		return (NULL);
	}
	if (c->scheme != NULL && rsnaid_scheme_parse(c->scheme, &scheme) == -1) {
		phrc_error("unknown scheme \"%s\": use isn2, rsna-token or "
		    "rsna-access-code", c->scheme);
		return (NULL);
	}
	if ((c->url != NULL) == (c->profile != NULL)) {
		phrc_error("give --url (with --ca, --cert and --key) or "
		    "--profile");
		return (NULL);
	}
	if (out_ok && c->out == NULL) {
		phrc_error("--out DIR is needed");
		return (NULL);
	}
	if (c->dob == NULL) {
		phrc_error("--dob is needed");
		return (NULL);
	}
	if (scheme == RSNAID_RSNA_ACCESS_CODE &&
	    (c->code == NULL || c->token != NULL)) {
		phrc_error("the rsna-access-code scheme takes --access-code "
		    "(and no --token)");
		return (NULL);
	}
	if (scheme != RSNAID_RSNA_ACCESS_CODE &&
	    (c->token == NULL || c->code != NULL)) {
		phrc_error("the %s scheme takes --token (and no "
		    "--access-code)", rsnaid_scheme_name(scheme));
		return (NULL);
	}
	if (scheme == RSNAID_RSNA_ACCESS_CODE &&
	    (c->pwfile != NULL || c->pwenv != NULL)) {
		phrc_error("the rsna-access-code scheme takes no password");
		return (NULL);
	}
	if (c->pwfile != NULL && c->pwenv != NULL) {
		phrc_error("give one of --password-file and --password-env");
		return (NULL);
	}
	if (c->pwenv != NULL) {
		if (getenv(c->pwenv) == NULL || *getenv(c->pwenv) == '\0') {
			phrc_error("the environment variable %s is not set",
			    c->pwenv);
			return (NULL);
		}
		password = xstrdup(getenv(c->pwenv));
	} else if (scheme != RSNAID_RSNA_ACCESS_CODE) {
		password = phrc_read_secret(c->pwfile != NULL ? c->pwfile :
		    "-", "patient password: ");
		if (password == NULL) {
			phrc_error("could not read the password from %s",
			    c->pwfile != NULL ? c->pwfile : "standard input");
			return (NULL);
		}
	}

	if ((h = isnphr_new()) == NULL) {
		xstrzero(password);
		phrc_error("out of memory");
		*rc = PHRC_EXIT_FAIL;
		return (NULL);
	}
	memset(&p, 0, sizeof(p));
	p.url = c->url;
	p.ca_file = c->ca;
	p.cert_file = c->cert;
	p.key_file = c->key;
	p.affinity_oid = c->oid;
	if (c->sync)
		isnphr_set_options(h, ISNPHR_OPT_SYNC);
	if ((c->profile != NULL ? isnphr_open_file(h, c->profile) :
	    isnphr_open(h, &p)) == -1 ||
	    isnphr_set_patient(h, rsnaid_scheme_name(scheme),
	    c->code != NULL ? c->code : c->token, c->dob, password) == -1) {
		phrc_error("%s", isnphr_error(h));
		xstrzero(password);
		isnphr_free(h);
		return (NULL);
	}
	xstrzero(password);
	*rc = 0;
	return (h);
}

static void
phrc_time(time_t t, char *buf, size_t len)
{
	struct tm	tm;

	if (t == 0 || gmtime_r(&t, &tm) == NULL)
		snprintf(buf, len, "unknown");
	else
		strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static void
phrc_size(uint64_t n, char *buf, size_t len)
{
	if (n >= 1024 * 1024)
		snprintf(buf, len, "%.1f MiB", (double)n / (1024.0 * 1024.0));
	else if (n >= 1024)
		snprintf(buf, len, "%.1f KiB", (double)n / 1024.0);
	else
		snprintf(buf, len, "%llu bytes", (unsigned long long)n);
}

static int
phrc_list(int argc, char **argv)
{
	const struct isnphr_set_info	*s;
	const struct isnphr_study_info	*st;
	struct isnphr_list		*l;
	struct isnphr			*h;
	struct phrc_conn		 c;
	char				 t1[64], t2[64], sz[32];
	size_t				 i, j, k;
	int				 rc;

	if ((h = phrc_open(argc, argv, phrc_cmds[1].usage, 0, &c,
	    &rc)) == NULL)
		return (rc);
	if (isnphr_list(h, &l) == -1) {
		phrc_error("%s", isnphr_error(h));
		isnphr_free(h);
		return (PHRC_EXIT_FAIL);
	}
	for (i = 0; i < isnphr_list_nsets(l); i++) {
		s = isnphr_list_set(l, i);
		phrc_time(s->submitted, t1, sizeof(t1));
		phrc_time(s->expires, t2, sizeof(t2));
		printf("submission %s\n  submitted %s, expires %s%s, "
		    "encryption %s\n", s->uid, t1, t2, s->expires != 0 &&
		    s->expires <= time(NULL) ? " (expired)" : "",
		    s->encryption);
		for (j = 0; j < s->nstudies; j++) {
			st = &s->studies[j];
			printf("  study %s: %zu series, %zu instances, "
			    "report %s\n", st->uid, st->nseries,
			    st->ninstances, st->has_report ? "yes" : "no");
			for (k = 0; k < st->nseries; k++) {
				phrc_size(st->series[k].bytes, sz, sizeof(sz));
				printf("    series %s: %zu instances (%s)\n",
				    st->series[k].uid,
				    st->series[k].ninstances, sz);
			}
		}
	}
	isnphr_list_free(l);
	isnphr_free(h);
	return (0);
}

struct phrc_bar {
	int	tty;
	int	quiet;
	size_t	last_docs;
	time_t	last_draw;
	int	drawn;
};

static int
phrc_progress(const struct isnphr_progress *p, void *arg)
{
	struct phrc_bar	*b = arg;
	char		 got[32], all[32], bar[31];
	time_t		 now;
	int		 pct, i, fill;

	if (phrc_interrupted)
		return (1);
	if (b->quiet)
		return (0);
	if (b->tty) {
		if (p->docs_total == 0)
			return (0);
		now = time(NULL);
		if (now == b->last_draw && p->docs == b->last_docs &&
		    p->docs != p->docs_total)
			return (0);
		b->last_draw = now;
		b->last_docs = p->docs;
		pct = p->bytes_total > 0 ? (int)(p->bytes * 100 /
		    p->bytes_total) : 0;
		if (pct > 100)
			pct = 100;
		fill = pct * 30 / 100;
		for (i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : ' ';
		bar[30] = '\0';
		phrc_size(p->bytes, got, sizeof(got));
		phrc_size(p->bytes_total, all, sizeof(all));
		fprintf(stderr, "\r[%s] %3d%% %s of %s, %zu/%zu documents ",
		    bar, pct, got, all, p->docs, p->docs_total);
		b->drawn = 1;
	} else if (p->docs_total > 0 && p->docs != b->last_docs) {
		b->last_docs = p->docs;
		phrc_size(p->bytes, got, sizeof(got));
		fprintf(stderr, "isn-phr: %zu/%zu documents, %s\n", p->docs,
		    p->docs_total, got);
	}
	return (0);
}

/* --stats: this process's peak RSS and CPU, and its KDF child's. */
static void
phrc_stats(void)
{
	struct rusage	self, kids;

	if (getrusage(RUSAGE_SELF, &self) == -1 ||
	    getrusage(RUSAGE_CHILDREN, &kids) == -1)
		return;
	fprintf(stderr, "isn-phr: stats: peak RSS %ld KiB, CPU %.2f s; "
	    "KDF child peak RSS %ld KiB, CPU %.2f s\n", self.ru_maxrss,
	    (double)self.ru_utime.tv_sec + self.ru_utime.tv_usec / 1e6 +
	    (double)self.ru_stime.tv_sec + self.ru_stime.tv_usec / 1e6,
	    kids.ru_maxrss,
	    (double)kids.ru_utime.tv_sec + kids.ru_utime.tv_usec / 1e6 +
	    (double)kids.ru_stime.tv_sec + kids.ru_stime.tv_usec / 1e6);
}

static int
phrc_retrieve(int argc, char **argv)
{
	struct sigaction	 sa, old;
	struct phrc_bar		 bar;
	struct isnphr		*h;
	struct phrc_conn	 c;
	int			 rc, r;

	if ((h = phrc_open(argc, argv, phrc_cmds[2].usage, 1, &c,
	    &rc)) == NULL)
		return (rc);
	memset(&bar, 0, sizeof(bar));
	bar.tty = isatty(STDERR_FILENO);
	bar.quiet = c.quiet;
	bar.last_docs = (size_t)-1;
	isnphr_set_progress(h, phrc_progress, &bar);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = phrc_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old);
	r = isnphr_retrieve(h, c.out, c.study);
	sigaction(SIGINT, &old, NULL);
	if (bar.drawn)
		fprintf(stderr, "\n");
	if (r == -1) {
		phrc_error("%s", isnphr_error(h));
		rc = PHRC_EXIT_FAIL;
	} else
		rc = 0;
	if (isnphr_retrieved(h) + isnphr_skipped(h) > 0 || r == 0)
		printf("retrieved %zu documents, %zu already there, %zu "
		    "failed, into %s\n", isnphr_retrieved(h),
		    isnphr_skipped(h), isnphr_failed(h), c.out);
	isnphr_free(h);
	if (c.stats)
		phrc_stats();
	return (rc);
}

int
main(int argc, char **argv)
{
	size_t	i;

	/* Messages of the shared code, fatal ones included, on stderr. */
	log_init(1, "isn-phr", LOG_USER);
#ifdef HAVE_MALLOPT
	/*
	 * Each listing answer's DOM (a few MB) is built and freed in turn:
	 * glibc gave the heap's top back to the kernel after every one and
	 * faulted it in again for the next, 10 ms of a 500-instance listing.
	 * The peak is the same; freed memory now stays for reuse until exit.
	 */
	mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
	mallopt(M_TOP_PAD, 16 * 1024 * 1024);
#endif
	if (argc < 2) {
		phrc_usage(stderr);
		return (PHRC_EXIT_USAGE);
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		phrc_usage(stdout);
		return (0);
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("isn-phr %s\n", PACKAGE_VERSION);
		return (0);
	}
	for (i = 0; i < sizeof(phrc_cmds) / sizeof(*phrc_cmds); i++)
		if (strcmp(argv[1], phrc_cmds[i].name) == 0)
			return (phrc_cmds[i].exec(argc - 1, argv + 1));
	phrc_error("unknown command \"%s\" (isn-phr --help lists them)",
	    argv[1]);
	return (PHRC_EXIT_USAGE);
}
