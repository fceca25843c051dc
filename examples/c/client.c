/*
 * client: the smallest mutls mTLS client. It connects, presents its
 * certificate, checks the server's (chain to CA, dates, name, purpose), sends
 * one message and prints the reply. On failure it prints the one-sentence
 * explanation: which side refused, at which step, and why.
 *
 *   client HOST PORT CERT KEY CA [SERVERNAME [MESSAGE]]
 *                       SERVERNAME: the name to check (default: HOST)
 *   client              self-test: makes a test CA in memory, runs a tiny
 *                       echo server in a thread, and talks to it; then shows
 *                       that a client without a certificate is refused.
 *                       Exits 0 when both went as expected.
 *
 * CERT, KEY and CA are file paths (PEM) or PEM text: mutls takes both.
 * Try it against `mutls serve` or examples/c/server.c:
 *   ./build/client 127.0.0.1 8443 pki/client/chain.pem pki/client/key.pem pki/ca.pem localhost
 */
#define _POSIX_C_SOURCE 200809L

#include "mutls.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define TIMEOUT_MS 10000

static const char *errmsg(const mutls_error *e)
{
	return e ? mutls_error_message(e) : "(no details)";
}

static int connect_to(const char *host, const char *port)
{
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res) != 0) {
		fprintf(stderr, "client: cannot resolve %s\n", host);
		return -1;
	}
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		fprintf(stderr, "client: cannot connect to %s:%s\n", host, port);
	return fd;
}

/*
 * The whole client: identity (cert, key; NULL for none), trust (ca), the name
 * to check. Returns 0 when the message went out and a reply came back.
 */
static int talk(const char *host, const char *port, const char *cert, const char *key,
	const char *ca, const char *name, const char *message)
{
	mutls_config *cfg = NULL;
	mutls_session *s = NULL;
	char reply[4096];
	size_t n;
	int rc = -1, fd = -1;

	if (mutls_config_new(&cfg) ||
	    (cert && mutls_config_set_identity(cfg, cert, key, NULL)) ||
	    mutls_config_add_trust(cfg, ca)) {
		fprintf(stderr, "client: config: %s\n", errmsg(mutls_error_last()));
		goto out;
	}
	if ((fd = connect_to(host, port)) < 0)
		goto out;
	if (mutls_session_client(&s, cfg, name, fd)) {
		fprintf(stderr, "client: %s\n", errmsg(mutls_error_last()));
		goto out;
	}
	mutls_session_set_timeout(s, TIMEOUT_MS);
	/* TLS 1.3: a server that refuses our certificate says so after our
	 * handshake is done, so its refusal can arrive at the recv below. */
	if ((rc = mutls_session_handshake(s)) ||
	    (rc = mutls_session_send(&n, s, message, strlen(message))) ||
	    (rc = mutls_session_recv(&n, s, reply, sizeof(reply)))) {
		printf("failed [%s]: %s\n", mutls_code_name(rc), errmsg(mutls_session_error(s)));
		goto out;
	}
	printf("connected to %s (%s, %s); sent \"%s\", got \"%.*s\"\n",
		mutls_x509_label(mutls_session_peer_certificate(s, 0)), mutls_session_version(s),
		mutls_session_cipher(s), message, (int)n, reply);
	mutls_session_close(s);
out:
	mutls_session_free(s);
	mutls_config_unref(cfg);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- self-test (no arguments) -------------------------------------------- */

struct echo_server { mutls_config *cfg; int listen_fd; int connections; };

/* Close a refused connection gently: the client may still be sending (in TLS
 * 1.3 it finished its handshake before we refused it); closing with its data
 * unread would reset the connection and could destroy our alert before the
 * client reads it. So: stop writing, read what comes for up to 1 s, close. */
static void linger_close(int fd)
{
	struct timeval tv = { 1, 0 };
	char sink[4096];
	shutdown(fd, SHUT_WR);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (int i = 0; i < 16 && read(fd, sink, sizeof(sink)) > 0; i++)
		;
	close(fd);
}

/* A tiny mTLS echo server for the self-test: `connections` connections. */
static void *echo_server(void *arg)
{
	struct echo_server *e = arg;
	for (int i = 0; i < e->connections; i++) {
		mutls_session *s = NULL;
		char buf[256];
		size_t n;
		int fd = accept(e->listen_fd, NULL, NULL);
		if (fd < 0)
			return NULL;
		if (mutls_session_server(&s, e->cfg, fd) == 0) {
			mutls_session_set_timeout(s, TIMEOUT_MS);
			if (mutls_session_handshake(s) == 0) {
				if (mutls_session_recv(&n, s, buf, sizeof(buf)) == 0 && n > 0)
					mutls_session_send(&n, s, buf, n);
				mutls_session_close(s);
			} else {
				printf("  (server: %s)\n", errmsg(mutls_session_error(s)));
				fflush(stdout);
				mutls_session_free(s);
				linger_close(fd);
				continue;
			}
		}
		mutls_session_free(s);
		close(fd);
	}
	return NULL;
}

static int self_test(void)
{
	static const char *const ip[] = { "127.0.0.1" };
	mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
	mutls_testca *ca = NULL;
	mutls_identity *srv = NULL, *cli = NULL;
	struct echo_server e = { NULL, -1, 2 };
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	char port[16];
	pthread_t t;
	int started = 0, good = -1, anonymous = 0, rc = 1;

	printf("client: no arguments: self-test with a test CA made in memory\n");
	if (mutls_testca_new(&ca, NULL))
		goto out;
	o.cn = "self-test server";
	o.ip = ip;
	o.ip_count = 1;
	o.purpose = MUTLS_PURPOSE_SERVER;
	if (mutls_testca_issue(&srv, ca, &o))
		goto out;
	o = (mutls_issue_options)MUTLS_ISSUE_OPTIONS_INIT;
	o.cn = "self-test client";
	o.purpose = MUTLS_PURPOSE_CLIENT;
	if (mutls_testca_issue(&cli, ca, &o))
		goto out;
	if (mutls_config_new(&e.cfg) || mutls_config_set_identity_object(e.cfg, srv) ||
	    mutls_config_add_trust(e.cfg, mutls_testca_cert_pem(ca)))
		goto out;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((e.listen_fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bind(e.listen_fd, (struct sockaddr *)&a, sizeof(a)) || listen(e.listen_fd, 4) ||
	    getsockname(e.listen_fd, (struct sockaddr *)&a, &len))
		goto out;
	snprintf(port, sizeof(port), "%d", ntohs(a.sin_port));
	if (pthread_create(&t, NULL, echo_server, &e) != 0)
		goto out;
	started = 1;

	/* 1. with a certificate: accepted (PEM text where files would go) */
	good = talk("127.0.0.1", port, mutls_identity_chain_pem(cli), mutls_identity_key_pem(cli),
		mutls_testca_cert_pem(ca), "127.0.0.1", "ping");
	/* 2. without one: refused, and told why */
	anonymous = talk("127.0.0.1", port, NULL, NULL, mutls_testca_cert_pem(ca), "127.0.0.1", "ping");
	rc = !(good == 0 && anonymous == MUTLS_EPEERREJECTED);
	printf("client self-test: %s\n", rc ? "FAILED" : "ok (accepted with a certificate, refused without)");
out:
	if (started) {
		if (rc)
			shutdown(e.listen_fd, SHUT_RDWR);
		pthread_join(t, NULL);
	}
	if (rc && good < 0 && mutls_error_last())
		fprintf(stderr, "client: %s\n", errmsg(mutls_error_last()));
	if (e.listen_fd >= 0)
		close(e.listen_fd);
	mutls_config_unref(e.cfg);
	mutls_identity_free(srv);
	mutls_identity_free(cli);
	mutls_testca_free(ca);
	return rc;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 1) {
		alarm(60); /* the self-test is bounded */
		return self_test();
	}
	if (argc < 6 || argc > 8) {
		fprintf(stderr, "usage: %s HOST PORT CERT KEY CA [SERVERNAME [MESSAGE]]\n"
			"       %s   (self-test)\n", argv[0], argv[0]);
		return 2;
	}
	return talk(argv[1], argv[2], argv[3], argv[4], argv[5], argc > 6 ? argv[6] : argv[1],
		argc > 7 ? argv[7] : "hello") ? 1 : 0;
}
