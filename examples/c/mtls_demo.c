/*
 * mtls_demo: mutual TLS between two services, told by mutls's own trace.
 * A test CA issues "orders" (server) and "payments" and "analytics" (clients);
 * orders accepts only payments (peers=). Over loopback TCP, both ends of each
 * connection in this one thread on non-blocking sockets: payments calls orders
 * (each handshake event as the core renders it, mutls_trace_event_text and
 * _note; a message each way), then analytics calls and is refused (the failed
 * check, the alert, each side's error in mutls's words). Exit status 0 only
 * when both went as expected. Every wait is bounded (10 s; the run: 60 s).
 */
#define _POSIX_C_SOURCE 200809L

#include "mutls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SERVER_NAME "orders.internal"
#define TIMEOUT_MS 10000

static int quiet; /* during the refusal: only failed checks and alerts */

/* The trace hook: the event as the core renders it, and what it teaches. */
static int narrate(mutls_session *s, const mutls_trace_event *ev, void *who)
{
	const char *note = quiet ? NULL : mutls_trace_event_note(ev);
	char *text = NULL;
	(void)s;
	if (quiet && ev->kind != MUTLS_TRACE_ALERT && !(ev->kind == MUTLS_TRACE_CHECK && !ev->ok))
		return 0;
	if (mutls_trace_event_text(&text, ev) == 0)
		printf("%-9s %s%s%s%s\n", (const char *)who, text, note ? "   (" : "", note ? note : "",
			note ? ")" : "");
	mutls_free(text);
	return 0;
}

/* An identity from ca (name: a DNS name for a server, a URI for a client) and
 * a config with it, trusting ca, accepting the peers matching `peer`. */
static mutls_config *service(mutls_testca *ca, const char *cn, const char *name, const char *peer)
{
	mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
	mutls_identity *id = NULL;
	mutls_config *cfg = NULL;
	int server = strncmp(name, "spiffe:", 7) != 0;
	o.cn = cn;
	o.purpose = server ? MUTLS_PURPOSE_SERVER : MUTLS_PURPOSE_CLIENT;
	*(server ? &o.dns : &o.uri) = &name;
	*(server ? &o.dns_count : &o.uri_count) = 1;
	if (mutls_testca_issue(&id, ca, &o) || mutls_config_new(&cfg) || mutls_config_set_identity_object(cfg, id) ||
	    mutls_config_add_trust_x509(cfg, mutls_testca_certificate(ca)) ||
	    mutls_config_add_peer_pattern(cfg, peer) || mutls_config_set_trace_hook(cfg, narrate, (void *)cn, NULL)) {
		mutls_config_unref(cfg);
		cfg = NULL;
	}
	mutls_identity_free(id); /* the config keeps a copy */
	return cfg;
}

struct conn {
	int fd[2];            /* client, server: a loopback TCP connection */
	mutls_session *c, *s; /* the two ends of it */
	int c_rc, s_rc;       /* each handshake's result */
};

static int waits(int rc) { return rc == MUTLS_EWANTREAD || rc == MUTLS_EWANTWRITE; }

/* Connects client to server over 127.0.0.1 (port 0) and runs both handshakes,
 * taking turns, until neither waits; then each call waits at most 10 s. */
static int call(struct conn *k, mutls_config *client, mutls_config *server)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0), ok;
	*k = (struct conn){ { socket(AF_INET, SOCK_STREAM, 0), -1 }, NULL, NULL, MUTLS_EWANTREAD, MUTLS_EWANTREAD };
	ok = l >= 0 && k->fd[0] >= 0 && bind(l, (struct sockaddr *)&a, len) == 0 && listen(l, 1) == 0 &&
	     getsockname(l, (struct sockaddr *)&a, &len) == 0 &&
	     connect(k->fd[0], (struct sockaddr *)&a, len) == 0 && (k->fd[1] = accept(l, NULL, NULL)) >= 0;
	close(l);
	if (!ok)
		perror("mtls_demo: loopback TCP");
	for (int i = 0; ok && i < 2; i++)
		fcntl(k->fd[i], F_SETFL, fcntl(k->fd[i], F_GETFL) | O_NONBLOCK);
	if (ok && (mutls_session_client(&k->c, client, SERVER_NAME, k->fd[0]) ||
		   mutls_session_server(&k->s, server, k->fd[1])))
		fprintf(stderr, "mtls_demo: %s\n", mutls_error_message(mutls_error_last()));
	if (!ok || !k->c || !k->s)
		return 0;
	for (int i = 0; i < TIMEOUT_MS / 10 && (waits(k->c_rc) || waits(k->s_rc)); i++) {
		struct pollfd p[2] = { { k->fd[0], POLLIN, 0 }, { k->fd[1], POLLIN, 0 } };
		if (waits(k->c_rc))
			k->c_rc = mutls_session_handshake(k->c);
		if (waits(k->s_rc))
			k->s_rc = mutls_session_handshake(k->s);
		poll(p, 2, 10);
	}
	mutls_session_set_timeout(k->c, TIMEOUT_MS);
	mutls_session_set_timeout(k->s, TIMEOUT_MS);
	return 1;
}

static void hang_up(struct conn *k)
{
	mutls_session_free(k->c);
	mutls_session_free(k->s);
	for (int i = 0; i < 2; i++)
		if (k->fd[i] >= 0)
			close(k->fd[i]);
}

/* Sends msg from one end, receives it at the other: 1 when it arrived intact. */
static int message(mutls_session *from, mutls_session *to, const char *msg, const char *a, const char *b)
{
	char buf[128] = "";
	size_t n = 0, got = 0;
	int ok = mutls_session_send(&n, from, msg, strlen(msg)) == 0 && n == strlen(msg) &&
		 mutls_session_recv(&got, to, buf, sizeof(buf) - 1) == 0;
	printf("%-9s sent \"%s\"; %s received \"%s\"\n", a, msg, b, buf);
	return ok && strcmp(buf, msg) == 0;
}

/* What one end got, in mutls's words. */
static void refused(const char *who, int rc, const mutls_session *s)
{
	const mutls_error *err = mutls_session_error(s);
	if (err)
		printf("%-9s %s: \"%s\"\n", who, mutls_code_name(rc), mutls_error_message(err));
	else
		printf("%-9s %s\n", who, rc == 0 ? "no error" : mutls_code_name(rc));
}

int main(void)
{
	mutls_testca_options ca_opts = MUTLS_TESTCA_OPTIONS_INIT;
	mutls_testca *ca = NULL;
	mutls_config *orders = NULL, *payments = NULL, *analytics = NULL;
	struct conn k;
	int good = 0, refusal = 0;
	size_t got = 0;
	char buf[16];

	signal(SIGPIPE, SIG_IGN);
	alarm(60);
	ca_opts.name = "mutls demo CA";
	printf("mtls_demo: mutual TLS between two services, with mutls %s\n", MUTLS_VERSION);
	if (mutls_testca_new(&ca, &ca_opts) ||
	    !(orders = service(ca, "orders", SERVER_NAME, "uri:spiffe://example.org/payments")) ||
	    !(payments = service(ca, "payments", "spiffe://example.org/payments", "dns:" SERVER_NAME)) ||
	    !(analytics = service(ca, "analytics", "spiffe://example.org/analytics", "dns:" SERVER_NAME))) {
		fprintf(stderr, "mtls_demo: setup failed: %s\n", mutls_error_message(mutls_error_last()));
		goto done;
	}

	printf("\n== payments calls orders (orders accepts peers uri:spiffe://example.org/payments)\n");
	if (call(&k, payments, orders) && k.c_rc == 0 && k.s_rc == 0) {
		good = message(k.c, k.s, "GET /orders/42", "payments", "orders") &&
		       message(k.s, k.c, "order 42: 3 items, paid", "orders", "payments") &&
		       mutls_session_verified(k.c) && mutls_session_verified(k.s) && mutls_session_close(k.c) == 0 &&
		       mutls_session_recv(&got, k.s, buf, sizeof(buf)) == 0 && got == 0;
		if (good)
			printf("%-9s closed; orders read the end of the stream\n", "payments");
	} else {
		refused("payments", k.c_rc, k.c);
		refused("orders", k.s_rc, k.s);
	}
	hang_up(&k);

	printf("\n== analytics calls orders: same CA, but not in orders' peers\n");
	quiet = 1;
	if (call(&k, analytics, orders)) {
		if (k.c_rc == 0) /* TLS 1.3: the client is done first; its next read brings the verdict */
			k.c_rc = mutls_session_recv(&got, k.c, buf, sizeof(buf));
		refused("orders", k.s_rc, k.s);
		refused("analytics", k.c_rc, k.c);
		refusal = k.s_rc == MUTLS_EVERIFY && k.c_rc == MUTLS_EPEERREJECTED &&
			  mutls_error_reasons(mutls_session_error(k.s)) == MUTLS_REASON_POLICY;
	}
	hang_up(&k);

	printf("\n== result: %s\n", good && refusal ? "ok (the call worked and the refusal was the expected one)"
		: !good ? "FAILED (payments could not call orders)" : "FAILED (analytics was not refused as expected)");
done:
	mutls_config_unref(orders);
	mutls_config_unref(payments);
	mutls_config_unref(analytics);
	mutls_testca_free(ca);
	return good && refusal ? 0 : 1;
}
