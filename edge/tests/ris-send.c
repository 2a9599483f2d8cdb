/*
 * ris-send: send HL7 messages over MLLP, plain or TLS, and print each
 * reply (CR shown as LF). The RIS side of the edge's tests.
 * usage: ris-send [-l] [-c cert -k key] [-a ca] host:port file...
 * Each file is one message sent as is; -l turns LF into CR first. Exit 0
 * when every message got a reply, 1 otherwise with the cause on stderr.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "dbuf.h"
#include "log.h"
#include "mllp.h"
#include "tls.h"

static int	send_rc;

static void
on_reply(struct mllp_client *cl, const char *reply, size_t len,
    const char *cause, void *arg)
{
	struct event_base	*base = arg;
	size_t			 i;

	if (reply == NULL) {
		fprintf(stderr, "ris-send: %s\n", cause);
		send_rc = 1;
	} else {
		for (i = 0; i < len; i++)
			putchar(reply[i] == '\r' ? '\n' : reply[i]);
	}
	event_base_loopexit(base, NULL);
}

static int
slurp(const char *path, int lf, struct dbuf *msg)
{
	FILE	*f;
	int	 c;

	if ((f = fopen(path, "rb")) == NULL) {
		perror(path);
		return (-1);
	}
	dbuf_reset(msg);
	while ((c = getc(f)) != EOF)
		if (dbuf_addc(msg, lf && c == '\n' ? '\r' : (char)c) == -1)
			break;
	fclose(f);
	return (0);
}

int
main(int argc, char **argv)
{
	struct event_base	*base;
	struct mllp_client	*cl;
	struct tls_conf		 tc;
	struct dbuf		 msg;
	SSL_CTX			*ctx = NULL;
	char			*cause = NULL, host[256], *p;
	int			 opt, lf = 0, i;

	memset(&tc, 0, sizeof(tc));
	while ((opt = getopt(argc, argv, "a:c:k:l")) != -1) {
		switch (opt) {
		case 'a':
			tc.ca_file = optarg;
			break;
		case 'c':
			tc.cert_file = optarg;
			break;
		case 'k':
			tc.key_file = optarg;
			break;
		case 'l':
			lf = 1;
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind < 2) {
usage:
		fprintf(stderr, "usage: ris-send [-l] [-c cert -k key] "
		    "[-a ca] host:port file...\n");
		return (2);
	}
	log_init(1, "ris-send", 0);
	snprintf(host, sizeof(host), "%s", argv[optind]);
	if ((p = strrchr(host, ':')) != NULL)
		*p = '\0';
	if (tc.ca_file != NULL) {
		tc.verify_peer = 1;
		if ((ctx = tls_client_ctx(&tc, &cause)) == NULL) {
			fprintf(stderr, "ris-send: %s\n", cause);
			return (1);
		}
	}
	base = event_base_new();
	if ((cl = mllp_client_new(base, argv[optind], ctx, ctx != NULL ?
	    host : NULL, 1024 * 1024, 10, &cause)) == NULL) {
		fprintf(stderr, "ris-send: %s\n", cause);
		return (1);
	}
	dbuf_init(&msg, 64 * 1024 * 1024);
	for (i = optind + 1; i < argc && send_rc == 0; i++) {
		if (slurp(argv[i], lf, &msg) == -1) {
			send_rc = 1;
			break;
		}
		if (mllp_client_send(cl, msg.data, msg.len, on_reply, base,
		    &cause) == -1) {
			fprintf(stderr, "ris-send: %s\n", cause);
			free(cause);
			send_rc = 1;
			break;
		}
		event_base_dispatch(base);
	}
	mllp_client_free(cl);
	event_base_free(base);
	if (ctx != NULL)
		SSL_CTX_free(ctx);
	dbuf_free(&msg);
	return (send_rc);
}
