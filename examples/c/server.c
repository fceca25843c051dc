/*
 * server: the smallest mutls mTLS server. It listens on 127.0.0.1, requires
 * a client certificate from the given CA, prints who each client is (or why
 * it was refused) and echoes what the client sends.
 *
 *   server CERT KEY CA [PORT]    serve until killed (PORT 0 or none: any;
 *                                the first line printed names the port)
 *   server                       self-test: makes a test CA in memory, serves
 *                                one connection in a thread and connects to it
 *                                as a client; exits 0 when the echo came back
 *
 * CERT, KEY and CA are file paths (PEM), or PEM text: mutls takes both.
 * Try it with the PKI of `mutls ca pki`:
 *   ./build/server pki/server/chain.pem pki/server/key.pem pki/ca.pem 8443
 *   ./build/client 127.0.0.1 8443 pki/client/chain.pem pki/client/key.pem pki/ca.pem localhost
 */
#define _POSIX_C_SOURCE 200809L

#include "mutls.h"

#include <arpa/inet.h>
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

/* An mTLS server config: our identity, the CA we trust for clients. */
static mutls_config *server_config(const char *cert, const char *key, const char *ca)
{
	mutls_config *cfg = NULL;
	if (mutls_config_new(&cfg) ||
	    mutls_config_set_identity(cfg, cert, key, NULL) ||
	    mutls_config_add_trust(cfg, ca)) {
		/* peer_certificate "require" is the default: this is mTLS */
		fprintf(stderr, "server: config: %s\n", errmsg(mutls_error_last()));
		mutls_config_unref(cfg);
		return NULL;
	}
	return cfg;
}

/* Close a refused connection gently: the client may still be sending (in TLS
 * 1.3 it finished its handshake before we refused it); closing with its data
 * unread would reset the connection and could destroy our alert before the
 * client reads it. So: stop writing, read what comes for up to 1 s. */
static void linger(int fd)
{
	struct timeval tv = { 1, 0 };
	char sink[4096];
	shutdown(fd, SHUT_WR);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (int i = 0; i < 16 && read(fd, sink, sizeof(sink)) > 0; i++)
		;
}

/* One connection: handshake, say who the client is, echo until it closes.
 * Returns 0 when the client was accepted. The caller closes fd. */
static int serve_one(mutls_config *cfg, int fd)
{
	mutls_session *s = NULL;
	char buf[4096];
	size_t n, sent;
	int rc = mutls_session_server(&s, cfg, fd);

	if (rc == 0) {
		mutls_session_set_timeout(s, TIMEOUT_MS);
		rc = mutls_session_handshake(s);
	}
	if (rc != 0) {
		/* one sentence: which side refused, at which step, and why */
		printf("refused: %s\n", errmsg(s ? mutls_session_error(s) : mutls_error_last()));
		fflush(stdout);
		mutls_session_free(s);
		linger(fd);
		return rc;
	}
	printf("accepted %s (%s, %s)\n", mutls_x509_label(mutls_session_peer_certificate(s, 0)),
		mutls_session_version(s), mutls_session_cipher(s));
	fflush(stdout);
	/* recv: 0 bytes with rc 0 is the client's close_notify */
	while ((rc = mutls_session_recv(&n, s, buf, sizeof(buf))) == 0 && n > 0)
		if ((rc = mutls_session_send(&sent, s, buf, n)) != 0)
			break;
	if (rc != 0)
		printf("connection ended: %s\n", errmsg(mutls_session_error(s)));
	mutls_session_close(s);
	mutls_session_free(s);
	return 0;
}

/* A connection served by its own thread. Its handshake ends within the
 * config's handshake_timeout (30 s by default), each read or write within
 * TIMEOUT_MS: neither a silent nor a slow client holds a thread for long. */
struct conn { mutls_config *cfg; int fd; };

static void *serve_thread(void *arg)
{
	struct conn *c = arg;
	serve_one(c->cfg, c->fd);
	close(c->fd);
	fflush(stdout);
	free(c);
	return NULL;
}

static int listen_on(int port, int *out_port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((unsigned short)port);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 128) ||
	    getsockname(fd, (struct sockaddr *)&a, &len)) {
		perror("server: listen on 127.0.0.1");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*out_port = ntohs(a.sin_port);
	return fd;
}

/* ---- self-test (no arguments) -------------------------------------------- */

struct job { mutls_config *cfg; int listen_fd; int rc; };

static void *accept_one(void *arg)
{
	struct job *j = arg;
	int fd = accept(j->listen_fd, NULL, NULL);
	j->rc = fd < 0 ? -1 : serve_one(j->cfg, fd);
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* A client for the self-test: connect, handshake, one echo. 0 when it came back. */
static int try_client(int port, const mutls_identity *id, const char *ca_pem)
{
	struct sockaddr_in a;
	mutls_config *cfg = NULL;
	mutls_session *s = NULL;
	char buf[64];
	size_t n = 0;
	int rc = -1, fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((unsigned short)port);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		goto out;
	if (mutls_config_new(&cfg) || mutls_config_set_identity_object(cfg, id) ||
	    mutls_config_add_trust(cfg, ca_pem) || mutls_session_client(&s, cfg, "localhost", fd))
		goto out;
	mutls_session_set_timeout(s, TIMEOUT_MS);
	if (mutls_session_handshake(s) || mutls_session_send(&n, s, "ping", 4) ||
	    mutls_session_recv(&n, s, buf, sizeof(buf)))
		goto out;
	rc = n == 4 && memcmp(buf, "ping", 4) == 0 ? 0 : -1;
	printf("self-test client: sent \"ping\", got \"%.*s\" back\n", (int)n, buf);
	mutls_session_close(s);
out:
	if (rc != 0)
		fprintf(stderr, "self-test client: %s\n",
			errmsg(s && mutls_session_error(s) ? mutls_session_error(s) : mutls_error_last()));
	mutls_session_free(s);
	mutls_config_unref(cfg);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int self_test(void)
{
	static const char *const dns[] = { "localhost" };
	mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
	mutls_testca *ca = NULL;
	mutls_identity *srv = NULL, *cli = NULL;
	struct job j = { NULL, -1, -1 };
	pthread_t t;
	int port = 0, rc = 1;

	printf("server: no arguments: self-test with a test CA made in memory\n");
	if (mutls_testca_new(&ca, NULL))
		goto out;
	o.dns = dns;
	o.dns_count = 1;
	o.purpose = MUTLS_PURPOSE_SERVER;
	if (mutls_testca_issue(&srv, ca, &o))
		goto out;
	o = (mutls_issue_options)MUTLS_ISSUE_OPTIONS_INIT;
	o.cn = "self-test client";
	o.purpose = MUTLS_PURPOSE_CLIENT;
	if (mutls_testca_issue(&cli, ca, &o))
		goto out;
	/* the same path as with files: PEM text instead of file names */
	j.cfg = server_config(mutls_identity_chain_pem(srv), mutls_identity_key_pem(srv),
		mutls_testca_cert_pem(ca));
	if (!j.cfg || (j.listen_fd = listen_on(0, &port)) < 0)
		goto out;
	printf("listening on 127.0.0.1:%d\n", port);
	fflush(stdout);
	if (pthread_create(&t, NULL, accept_one, &j) != 0)
		goto out;
	rc = try_client(port, cli, mutls_testca_cert_pem(ca)) != 0;
	if (rc)
		shutdown(j.listen_fd, SHUT_RDWR); /* unblock accept() */
	pthread_join(t, NULL);
	rc = rc || j.rc != 0;
	printf("server self-test: %s\n", rc ? "FAILED" : "ok");
out:
	if (rc && mutls_error_last())
		fprintf(stderr, "server: %s\n", errmsg(mutls_error_last()));
	if (j.listen_fd >= 0)
		close(j.listen_fd);
	mutls_config_unref(j.cfg);
	mutls_identity_free(srv);
	mutls_identity_free(cli);
	mutls_testca_free(ca);
	return rc;
}

int main(int argc, char **argv)
{
	mutls_config *cfg;
	int lfd, port = 0;

	signal(SIGPIPE, SIG_IGN); /* a client that went away is an error, not a signal */
	alarm(argc == 1 ? 60 : 0); /* the self-test is bounded */
	if (argc == 1)
		return self_test();
	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: %s CERT KEY CA [PORT]\n       %s   (self-test)\n", argv[0], argv[0]);
		return 2;
	}
	if (!(cfg = server_config(argv[1], argv[2], argv[3])))
		return 1;
	if ((lfd = listen_on(argc == 5 ? atoi(argv[4]) : 0, &port)) < 0)
		return 1;
	printf("listening on 127.0.0.1:%d\n", port);
	fflush(stdout);
	for (;;) { /* a thread per connection: an idle client stalls nobody else */
		int fd = accept(lfd, NULL, NULL);
		struct conn *c;
		pthread_t t;
		if (fd < 0)
			continue;
		if (!(c = malloc(sizeof(*c)))) {
			close(fd);
			continue;
		}
		c->cfg = cfg;
		c->fd = fd;
		if (pthread_create(&t, NULL, serve_thread, c) != 0) {
			close(fd);
			free(c);
			continue;
		}
		pthread_detach(t);
	}
}
