/*
 * isn-phr.c: the PHR client's command line. Each subcommand is one entry
 * of phrc_cmds (tmux's cmd_entry idea).
 */
#include "config.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "rsnaid.h"
#include "xmalloc.h"

#define PHRC_EXIT_USAGE	2	/* bad input: usage, a wrong token, a bad date */

struct phrc_cmd {
	const char	*name;
	const char	*usage;
	const char	*help;
	int		(*exec)(int, char **);
};

static int	phrc_rsna_id(int, char **);

static const struct phrc_cmd phrc_cmds[] = {
	{ "rsna-id",
	  "rsna-id [--scheme isn2|rsna-token|rsna-access-code]\n"
	  "\t\t[--token T | --access-code C] --dob YYYY-MM-DD\n"
	  "\t\t[--password P | --password-file FILE | --password-env VAR]\n"
	  "\t\t[--show-key] "
	  "[--cx [--oid OID]]",
	  "compute the RSNA-ID from what the patient knows",
	  phrc_rsna_id },
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

int
main(int argc, char **argv)
{
	size_t	i;

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
