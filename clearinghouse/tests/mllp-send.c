/*
 * mllp-send: send one HL7 message over MLLP with TLS and print the reply.
 * usage: mllp-send host:port cert key ca file
 * The message file may use LF or CR line ends (sent as CR). Exit 0 when a
 * reply came (printed with CR as LF), 1 otherwise with the cause on stderr.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "dbuf.h"
#include "log.h"
#include "mllp.h"
#include "tls.h"

static int	sent_rc = 1;

static void
on_reply(struct mllp_client *cl, const char *reply, size_t len,
    const char *cause, void *arg)
{
	struct event_base	*base = arg;
	size_t			 i;

	if (reply == NULL)
		fprintf(stderr, "mllp-send: %s\n", cause);
	else {
		for (i = 0; i < len; i++)
			putchar(reply[i] == '\r' ? '\n' : reply[i]);
		sent_rc = 0;
	}
	event_base_loopexit(base, NULL);
}

int
main(int argc, char **argv)
{
	struct event_base	*base;
	struct mllp_client	*cl;
	struct tls_conf		 tc;
	struct dbuf		 msg;
	SSL_CTX			*ctx;
	FILE			*f;
	char			*cause = NULL, host[256], *p;
	int			 c;

	if (argc != 6) {
		fprintf(stderr, "usage: mllp-send host:port cert key ca "
		    "file\n");
		return (2);
	}
	log_init(1, "mllp-send", 0);
	snprintf(host, sizeof(host), "%s", argv[1]);
	if ((p = strrchr(host, ':')) != NULL)
		*p = '\0';
	memset(&tc, 0, sizeof(tc));
	tc.cert_file = argv[2];
	tc.key_file = argv[3];
	tc.ca_file = argv[4];
	tc.verify_peer = 1;
	if ((ctx = tls_client_ctx(&tc, &cause)) == NULL) {
		fprintf(stderr, "mllp-send: %s\n", cause);
		return (1);
	}
	if ((f = fopen(argv[5], "r")) == NULL) {
		perror(argv[5]);
		return (1);
	}
	dbuf_init(&msg, 1024 * 1024);
	while ((c = getc(f)) != EOF)
		if (dbuf_addc(&msg, c == '\n' ? '\r' : (char)c) == -1)
			break;
	fclose(f);
	base = event_base_new();
	if ((cl = mllp_client_new(base, argv[1], ctx, host, 1024 * 1024, 10,
	    &cause)) == NULL ||
	    mllp_client_send(cl, msg.data, msg.len, on_reply, base,
	    &cause) == -1) {
		fprintf(stderr, "mllp-send: %s\n", cause);
		return (1);
	}
	event_base_dispatch(base);
	mllp_client_free(cl);
	event_base_free(base);
	SSL_CTX_free(ctx);
	dbuf_free(&msg);
	return (sent_rc);
}
