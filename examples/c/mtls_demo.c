/*
 * mtls_demo: a traced mutual-TLS handshake over loopback TCP, then a short
 * gallery of handshakes that must fail. Uses only the public API (mutls.h).
 *
 * 1. A test CA issues a server identity "orders" and a client identity
 *    "payments" (a SPIFFE ID).
 * 2. A server thread accepts one connection on 127.0.0.1 and the client
 *    connects; both configs print every handshake event as it happens.
 * 3. Each side prints what it negotiated and whom it sees, the traffic-key
 *    fingerprints (equal for one direction, different between the two), and
 *    one message goes each way.
 * 4. The failure gallery, in memory mode (two sessions in one thread handing
 *    bytes to each other): an expired client certificate, a client without a
 *    certificate, a server certificate for the wrong name.
 *
 * Exit status 0 only when the good handshake worked and every gallery case
 * failed with the expected code. Every socket wait is bounded (10 s).
 */
#define _POSIX_C_SOURCE 200809L

#include "mutls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_MS 10000
#define SERVER_NAME "orders.internal"

static const char CLIENT_MESSAGE[] = "GET /orders/42 (from payments)";
static const char SERVER_MESSAGE[] = "order 42: 3 items, paid (from orders)";

/* ------------------------------------------------------------------------ */
/* Printing                                                                  */
/* ------------------------------------------------------------------------ */

/* Both threads print; one line at a time. */
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

static void say(const char *prefix, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(const char *prefix, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* "client  ..." at the top level, "  client  ..." in the gallery. */
	int width = prefix[0] == ' ' ? 9 : 7;
	pthread_mutex_lock(&print_lock);
	printf("%-*s %s\n", width, prefix, line);
	fflush(stdout);
	pthread_mutex_unlock(&print_lock);
}

static void heading(const char *title)
{
	pthread_mutex_lock(&print_lock);
	printf("\n== %s\n", title);
	fflush(stdout);
	pthread_mutex_unlock(&print_lock);
}

static void subheading(const char *title)
{
	pthread_mutex_lock(&print_lock);
	printf("\n-- %s\n", title);
	fflush(stdout);
	pthread_mutex_unlock(&print_lock);
}

/* What the trace hook prints, and under which name. */
struct trace_opts {
	const char *side;  /* "client" / "server" (with indent for the gallery) */
	int verbose;       /* 0: only failed checks and alerts                  */
};

/* The line mutls renders for the event (the same in every demo), with what
 * it teaches in the verbose story. The gallery shows only failed checks and
 * alerts. */
static int trace_hook(mutls_session *session, const mutls_trace_event *ev,
	void *payload)
{
	const struct trace_opts *t = payload;
	const char *note = t->verbose ? mutls_trace_event_note(ev) : NULL;
	char *text = NULL;
	(void)session;

	if (!t->verbose && !(ev->kind == MUTLS_TRACE_ALERT || (ev->kind == MUTLS_TRACE_CHECK && !ev->ok)))
		return 0;
	if (mutls_trace_event_text(&text, ev) != 0)
		return 0; /* out of memory: the story goes on without this line */
	say(t->side, "%s%s%s%s", text, note ? "   (" : "", note ? note : "", note ? ")" : "");
	mutls_free(text);
	return 0;
}

static struct trace_opts client_trace = { "client", 1 };
static struct trace_opts server_trace = { "server", 1 };
static struct trace_opts gallery_client_trace = { "  client", 0 };
static struct trace_opts gallery_server_trace = { "  server", 0 };

/* "CN=orders  dns:orders.internal  ip:127.0.0.1" into out. */
static void describe_cert(char *out, size_t cap, const mutls_x509 *cert)
{
	static const struct { mutls_san_type type; const char *prefix; } kinds[] = {
		{ MUTLS_SAN_DNS, "dns" }, { MUTLS_SAN_IP, "ip" },
		{ MUTLS_SAN_URI, "uri" }, { MUTLS_SAN_EMAIL, "email" },
	};
	char *subject = NULL;
	size_t used;

	if (!cert) {
		snprintf(out, cap, "(no certificate)");
		return;
	}
	if (mutls_x509_subject(&subject, cert) == 0 && subject)
		snprintf(out, cap, "%s", subject);
	else
		snprintf(out, cap, "%s", mutls_x509_label(cert));
	mutls_free(subject);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		char **names = NULL;
		size_t count = 0;
		if (mutls_x509_names(&names, &count, cert, kinds[k].type) != 0)
			continue;
		for (size_t i = 0; i < count; i++) {
			used = strlen(out);
			snprintf(out + used, cap - used, "  %s:%s", kinds[k].prefix, names[i]);
		}
		mutls_strings_free(names, count);
	}
}

/* "expired,name-mismatch" or "none". */
static void reasons_text(char *out, size_t cap, unsigned reasons)
{
	size_t used = 0;
	out[0] = '\0';
	for (unsigned i = 0; i < MUTLS_REASON_COUNT; i++) {
		if (!(reasons & (1u << i)))
			continue;
		snprintf(out + used, cap - used, "%s%s", used ? "," : "",
			mutls_reason_name(1u << i));
		used = strlen(out);
	}
	if (!used)
		snprintf(out, cap, "none");
}

static void print_error(const char *who, const char *what, int rc,
	const mutls_error *err)
{
	char reasons[256];
	int alert;

	if (!err) {
		say(who, "%s: %s (no error details)", what, mutls_code_name(rc));
		return;
	}
	reasons_text(reasons, sizeof(reasons), mutls_error_reasons(err));
	alert = mutls_error_alert(err);
	say(who, "%s: code %s, reasons %s, side %s, step %s, alert %s (%d)",
		what, mutls_code_name(mutls_error_code(err)), reasons,
		mutls_side_name(mutls_error_side(err)),
		mutls_step_name(mutls_error_step(err)),
		alert >= 0 ? mutls_alert_name(alert) : "none", alert);
	say(who, "  \"%s\"", mutls_error_message(err));
}

/* Reports a failed setup call with the library's message; returns 0. */
static int setup_ok(int rc, const char *what)
{
	const mutls_error *err;
	if (rc == 0)
		return 1;
	err = mutls_error_last();
	fprintf(stderr, "mtls_demo: %s failed: %s: %s\n", what, mutls_code_name(rc),
		err ? mutls_error_message(err) : "(no message)");
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Setup                                                                     */
/* ------------------------------------------------------------------------ */

/* A config with an identity (may be NULL), trusting ca, with one peer
 * pattern (may be NULL) and a trace hook. */
static int make_config(mutls_config **out, const mutls_identity *id,
	const mutls_testca *ca, const char *pattern, struct trace_opts *trace)
{
	mutls_config *cfg = NULL;
	*out = NULL;
	if (!setup_ok(mutls_config_new(&cfg), "mutls_config_new"))
		return -1;
	if ((id && !setup_ok(mutls_config_set_identity_object(cfg, id),
			"mutls_config_set_identity_object")) ||
	    !setup_ok(mutls_config_add_trust_x509(cfg, mutls_testca_certificate(ca)),
			"mutls_config_add_trust_x509") ||
	    (pattern && !setup_ok(mutls_config_add_peer_pattern(cfg, pattern),
			"mutls_config_add_peer_pattern")) ||
	    !setup_ok(mutls_config_set_trace_hook(cfg, trace_hook, trace, NULL),
			"mutls_config_set_trace_hook")) {
		mutls_config_unref(cfg);
		return -1;
	}
	*out = cfg;
	return 0;
}

static void print_identity(const char *what, const mutls_identity *id)
{
	char text[1024];
	describe_cert(text, sizeof(text), mutls_identity_certificate(id));
	say("pki", "%-24s %s", what, text);
}

/* ------------------------------------------------------------------------ */
/* The good handshake over TCP                                               */
/* ------------------------------------------------------------------------ */

/* What one side saw, filled by that side's thread, printed by main. */
struct side_report {
	int handshake_ok;
	int verified;
	char version[32];
	char cipher[128];
	char alpn[64];
	char sni[256];
	char peer[1024];
	char client_write[65]; /* fingerprint of the client-write key */
	char server_write[65]; /* fingerprint of the server-write key */
	char received[256];
	int exchanged;         /* message received and sent back (or both ways) */
	int closed_cleanly;
};

static void fill_report(struct side_report *r, mutls_session *s, int is_server)
{
	const char *v = mutls_session_version(s);
	const char *c = mutls_session_cipher(s);
	const char *a = mutls_session_alpn(s);
	const char *n = mutls_session_server_name(s);
	char mine[65] = "", theirs[65] = "";

	snprintf(r->version, sizeof(r->version), "%s", v ? v : "?");
	snprintf(r->cipher, sizeof(r->cipher), "%s", c ? c : "?");
	snprintf(r->alpn, sizeof(r->alpn), "%s", a ? a : "(none)");
	snprintf(r->sni, sizeof(r->sni), "%s", n ? n : "(none)");
	describe_cert(r->peer, sizeof(r->peer), mutls_session_peer_certificate(s, 0));
	r->verified = mutls_session_verified(s);
	/* write = 1: the key this side encrypts with; 0: the key it decrypts with. */
	if (mutls_session_key_fingerprint(mine, s, 1) != 0)
		snprintf(mine, sizeof(mine), "(unavailable)");
	if (mutls_session_key_fingerprint(theirs, s, 0) != 0)
		snprintf(theirs, sizeof(theirs), "(unavailable)");
	if (is_server) {
		memcpy(r->server_write, mine, sizeof(mine));
		memcpy(r->client_write, theirs, sizeof(theirs));
	} else {
		memcpy(r->client_write, mine, sizeof(mine));
		memcpy(r->server_write, theirs, sizeof(theirs));
	}
}

/* recv that retries a few times on want-read/want-write. */
static int recv_some(mutls_session *s, char *buf, size_t cap, size_t *got)
{
	int rc = MUTLS_EWANTREAD;
	*got = 0;
	for (int i = 0; i < 100 && (rc == MUTLS_EWANTREAD || rc == MUTLS_EWANTWRITE); i++)
		rc = mutls_session_recv(got, s, buf, cap);
	return rc;
}

static int send_all(mutls_session *s, const char *msg)
{
	size_t len = strlen(msg), done = 0;
	int rc = 0;
	for (int i = 0; i < 100 && done < len; i++) {
		size_t n = 0;
		rc = mutls_session_send(&n, s, msg + done, len - done);
		if (rc != 0 && rc != MUTLS_EWANTWRITE && rc != MUTLS_EWANTREAD)
			return rc;
		done += n;
	}
	return done == len ? 0 : (rc ? rc : MUTLS_ETIMEOUT);
}

struct server_job {
	int listen_fd;
	mutls_config *cfg;
	struct side_report report;
};

static void *server_main(void *arg)
{
	struct server_job *job = arg;
	struct side_report *r = &job->report;
	mutls_session *s = NULL;
	char buf[256];
	size_t got = 0;
	int fd, rc;

	fd = accept(job->listen_fd, NULL, NULL);
	if (fd < 0) {
		say("server", "accept failed: %s", strerror(errno));
		return NULL;
	}
	say("server", "accepted a TCP connection");
	rc = mutls_session_server(&s, job->cfg, fd);
	if (rc != 0) {
		print_error("server", "mutls_session_server", rc, mutls_error_last());
		close(fd);
		return NULL;
	}
	mutls_session_set_timeout(s, TIMEOUT_MS);

	rc = mutls_session_handshake(s);
	if (rc != 0) {
		print_error("server", "handshake failed", rc, mutls_session_error(s));
		goto out;
	}
	r->handshake_ok = 1;
	say("server", "handshake done");
	fill_report(r, s, 1);

	rc = recv_some(s, buf, sizeof(buf) - 1, &got);
	if (rc != 0 || got == 0) {
		print_error("server", "recv failed", rc, mutls_session_error(s));
		goto out;
	}
	buf[got] = '\0';
	snprintf(r->received, sizeof(r->received), "%s", buf);
	rc = send_all(s, SERVER_MESSAGE);
	if (rc != 0) {
		print_error("server", "send failed", rc, mutls_session_error(s));
		goto out;
	}
	r->exchanged = 1;

	/* The client closes first: its close_notify reads as 0 bytes. */
	rc = recv_some(s, buf, sizeof(buf), &got);
	if (rc == 0 && got == 0) {
		say("server", "<- close_notify (the client closed)");
		r->closed_cleanly = 1;
	} else {
		print_error("server", "expected close_notify", rc, mutls_session_error(s));
	}
	rc = mutls_session_close(s);
	if (rc != 0)
		print_error("server", "close", rc, mutls_session_error(s));
out:
	mutls_session_free(s);
	close(fd);
	return NULL;
}

static int listen_loopback(int *out_fd, int *out_port)
{
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	struct timeval tv = { TIMEOUT_MS / 1000, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0) {
		perror("mtls_demo: socket");
		return -1;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = 0;
	/* SO_RCVTIMEO bounds accept() too. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    listen(fd, 1) != 0 ||
	    getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
		perror("mtls_demo: listen on 127.0.0.1");
		close(fd);
		return -1;
	}
	*out_fd = fd;
	*out_port = ntohs(addr.sin_port);
	return 0;
}

static int connect_loopback(int port)
{
	struct sockaddr_in addr;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		perror("mtls_demo: socket");
		return -1;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((unsigned short)port);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		perror("mtls_demo: connect to 127.0.0.1");
		close(fd);
		return -1;
	}
	return fd;
}

/* Returns 1 when everything about the good handshake was as it should be. */
static int good_handshake(mutls_config *server_cfg, mutls_config *client_cfg)
{
	struct server_job job;
	struct side_report client;
	mutls_session *c = NULL;
	pthread_t thread;
	char buf[256];
	size_t got = 0;
	int listen_fd, port, fd, rc, ok = 1;

	memset(&job, 0, sizeof(job));
	memset(&client, 0, sizeof(client));
	if (listen_loopback(&listen_fd, &port) != 0)
		return 0;
	heading("the handshake, traced (client and server run in two threads)");
	say("server", "listening on 127.0.0.1:%d", port);
	job.listen_fd = listen_fd;
	job.cfg = server_cfg;
	if (pthread_create(&thread, NULL, server_main, &job) != 0) {
		fprintf(stderr, "mtls_demo: pthread_create failed\n");
		close(listen_fd);
		return 0;
	}

	fd = connect_loopback(port);
	if (fd < 0) {
		pthread_join(thread, NULL);
		close(listen_fd);
		return 0;
	}
	say("client", "connected to 127.0.0.1:%d, server_hostname %s", port, SERVER_NAME);
	rc = mutls_session_client(&c, client_cfg, SERVER_NAME, fd);
	if (rc != 0) {
		print_error("client", "mutls_session_client", rc, mutls_error_last());
		ok = 0;
		goto join;
	}
	mutls_session_set_timeout(c, TIMEOUT_MS);
	rc = mutls_session_handshake(c);
	if (rc != 0) {
		print_error("client", "handshake failed", rc, mutls_session_error(c));
		ok = 0;
		goto join;
	}
	client.handshake_ok = 1;
	say("client", "handshake done");
	fill_report(&client, c, 0);

	rc = send_all(c, CLIENT_MESSAGE);
	if (rc != 0) {
		print_error("client", "send failed", rc, mutls_session_error(c));
		ok = 0;
		goto join;
	}
	rc = recv_some(c, buf, sizeof(buf) - 1, &got);
	if (rc != 0 || got == 0) {
		print_error("client", "recv failed", rc, mutls_session_error(c));
		ok = 0;
		goto join;
	}
	buf[got] = '\0';
	snprintf(client.received, sizeof(client.received), "%s", buf);
	client.exchanged = 1;
	rc = mutls_session_close(c);
	if (rc != 0) {
		print_error("client", "close", rc, mutls_session_error(c));
		ok = 0;
	} else {
		client.closed_cleanly = 1;
	}
join:
	/* On a client-side failure, let the server see the end of the stream
	 * now rather than after its timeout. */
	if (!ok)
		shutdown(fd, SHUT_RDWR);
	/* The server thread ends on its own: done, failed, or timed out. */
	pthread_join(thread, NULL);
	mutls_session_free(c);
	if (fd >= 0)
		close(fd);
	close(listen_fd);

	if (!client.handshake_ok || !job.report.handshake_ok) {
		say("result", "FAILED: the good handshake did not complete on %s",
			!client.handshake_ok && !job.report.handshake_ok ? "either side" :
			!client.handshake_ok ? "the client" : "the server");
		return 0;
	}

	heading("what each side negotiated and sees");
	say("client", "version %s, cipher %s, ALPN %s", client.version, client.cipher,
		client.alpn);
	say("server", "version %s, cipher %s, ALPN %s, SNI %s", job.report.version,
		job.report.cipher, job.report.alpn, job.report.sni);
	say("client", "peer (the server): %s  [%s]", client.peer,
		client.verified ? "verified" : "NOT verified");
	say("server", "peer (the client): %s  [%s]", job.report.peer,
		job.report.verified ? "verified" : "NOT verified");

	heading("traffic keys (SHA-256 of the key, first 16 hex digits)");
	{
		int cw_same = strcmp(client.client_write, job.report.client_write) == 0;
		int sw_same = strcmp(client.server_write, job.report.server_write) == 0;
		int differ = strcmp(client.client_write, client.server_write) != 0;
		say("keys", "client-write: client %.16s  server %.16s  %s",
			client.client_write, job.report.client_write,
			cw_same ? "equal" : "DIFFERENT (wrong)");
		say("keys", "server-write: client %.16s  server %.16s  %s",
			client.server_write, job.report.server_write,
			sw_same ? "equal" : "DIFFERENT (wrong)");
		say("keys", "client-write vs server-write: %s",
			differ ? "different keys for the two directions"
			       : "THE SAME (wrong)");
		if (!cw_same || !sw_same || !differ)
			ok = 0;
	}

	heading("application data");
	say("client", "sent     \"%s\"", CLIENT_MESSAGE);
	say("server", "received \"%s\"", job.report.received);
	say("server", "sent     \"%s\"", SERVER_MESSAGE);
	say("client", "received \"%s\"", client.received);
	if (strcmp(job.report.received, CLIENT_MESSAGE) != 0 ||
	    strcmp(client.received, SERVER_MESSAGE) != 0) {
		say("result", "FAILED: a message did not arrive intact");
		ok = 0;
	}
	if (!client.verified || !job.report.verified) {
		say("result", "FAILED: a side did not verify its peer");
		ok = 0;
	}
	if (!client.closed_cleanly || !job.report.closed_cleanly) {
		say("result", "FAILED: the connection did not close with close_notify");
		ok = 0;
	}
	return ok;
}

/* ------------------------------------------------------------------------ */
/* The failure gallery, in memory mode                                       */
/* ------------------------------------------------------------------------ */

/* Moves the bytes a has to send into b; returns how many. */
static size_t transfer(mutls_session *a, mutls_session *b)
{
	const unsigned char *data = NULL;
	size_t len = 0;
	if (mutls_session_data_to_send(&data, &len, a) != 0 || len == 0)
		return 0;
	mutls_session_feed(b, data, len);
	return len;
}

static int wants_io(int rc)
{
	return rc == MUTLS_EWANTREAD || rc == MUTLS_EWANTWRITE;
}

/*
 * Runs one handshake between a client and a server session in memory mode,
 * until neither side has anything more to say. *client_rc is the client's
 * final answer: its handshake's, or, when the handshake succeeded (TLS 1.3:
 * the client finishes before the server has checked its certificate), that
 * of its next recv, which reads the server's verdict.
 */
static int gallery_case(const char *title, mutls_config *server_cfg,
	mutls_config *client_cfg, int expect_server, int expect_client)
{
	mutls_session *c = NULL, *s = NULL;
	int c_rc = MUTLS_EWANTREAD, s_rc = MUTLS_EWANTREAD, ok;
	int c_done = 0, s_done = 0;
	const mutls_error *c_err = NULL;

	subheading(title);
	if (!setup_ok(mutls_session_client(&c, client_cfg, SERVER_NAME, -1),
			"mutls_session_client") ||
	    !setup_ok(mutls_session_server(&s, server_cfg, -1), "mutls_session_server")) {
		mutls_session_free(c);
		return 0;
	}

	for (int round = 0; round < 50; round++) {
		size_t moved;
		if (!c_done) {
			c_rc = mutls_session_handshake(c);
			c_done = !wants_io(c_rc);
		}
		moved = transfer(c, s);
		if (!s_done) {
			s_rc = mutls_session_handshake(s);
			s_done = !wants_io(s_rc);
		}
		moved += transfer(s, c);
		if (!moved)
			break;
	}

	if (s_rc == 0)
		say("  server", "handshake: ok");
	else
		print_error("  server", "handshake", s_rc, mutls_session_error(s));

	if (c_rc == 0) {
		char buf[64];
		size_t got = 0;
		say("  client", "handshake: ok (%s: the client finishes before the "
			"server has judged its certificate)",
			mutls_session_version(c) ? mutls_session_version(c) : "?");
		c_rc = mutls_session_recv(&got, c, buf, sizeof(buf));
		if (c_rc == 0)
			say("  client", "next recv: ok, %zu bytes (expected a refusal)", got);
		else
			print_error("  client", "next recv", c_rc, mutls_session_error(c));
	} else {
		c_err = mutls_session_error(c);
		print_error("  client", "handshake", c_rc, c_err);
	}

	ok = s_rc == expect_server && c_rc == expect_client;
	if (ok)
		say("  =>", "as expected: server %s, client %s",
			mutls_code_name(s_rc), mutls_code_name(c_rc));
	else
		say("  =>", "UNEXPECTED: expected server %s, client %s; got server %s, client %s",
			mutls_code_name(expect_server), mutls_code_name(expect_client),
			mutls_code_name(s_rc), mutls_code_name(c_rc));
	mutls_session_free(c);
	mutls_session_free(s);
	return ok;
}

/* ------------------------------------------------------------------------ */

static void on_alarm(int sig)
{
	static const char msg[] = "mtls_demo: still running after 60 s; giving up\n";
	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing more to do */
	}
	_exit(1);
}

int main(void)
{
	static const char *const orders_dns[] = { "orders.internal" };
	static const char *const orders_ip[] = { "127.0.0.1" };
	static const char *const payments_uri[] = { "spiffe://example.org/payments" };
	static const char *const billing_dns[] = { "billing.internal" };
	mutls_testca_options ca_opts = MUTLS_TESTCA_OPTIONS_INIT;
	mutls_issue_options o;
	mutls_testca *ca = NULL;
	mutls_identity *orders = NULL, *payments = NULL, *expired = NULL, *billing = NULL;
	mutls_config *server_cfg = NULL, *client_cfg = NULL;
	mutls_config *g_server = NULL, *g_expired = NULL, *g_anonymous = NULL;
	mutls_config *g_wrong_server = NULL, *g_client = NULL;
	struct sigaction sa;
	int64_t now = (int64_t)time(NULL);
	int good = 0, gallery = 0, status = 1;
	char reason[128];

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN; /* a peer that went away is an error, not a signal */
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	alarm(60);

	printf("mtls_demo: mutual TLS with mutls %s\n", MUTLS_VERSION);

	/* --- a test PKI ------------------------------------------------------ */
	heading("a test PKI, made in memory");
	ca_opts.name = "mutls demo CA";
	if (!setup_ok(mutls_testca_new(&ca, &ca_opts), "mutls_testca_new"))
		goto done;
	say("pki", "%-24s %s", "CA", mutls_x509_label(mutls_testca_certificate(ca)));

	o = (mutls_issue_options)MUTLS_ISSUE_OPTIONS_INIT;
	o.cn = "orders";
	o.dns = orders_dns;
	o.dns_count = 1;
	o.ip = orders_ip;
	o.ip_count = 1;
	o.purpose = MUTLS_PURPOSE_SERVER;
	if (!setup_ok(mutls_testca_issue(&orders, ca, &o), "issue orders"))
		goto done;
	print_identity("server (purpose server)", orders);

	o = (mutls_issue_options)MUTLS_ISSUE_OPTIONS_INIT;
	o.cn = "payments";
	o.uri = payments_uri;
	o.uri_count = 1;
	o.purpose = MUTLS_PURPOSE_CLIENT;
	if (!setup_ok(mutls_testca_issue(&payments, ca, &o), "issue payments"))
		goto done;
	print_identity("client (purpose client)", payments);

	/* For the gallery: an expired client, a server with the wrong name. */
	o.not_before = now - 30 * 86400;
	o.not_after = now - 86400;
	if (!setup_ok(mutls_testca_issue(&expired, ca, &o), "issue expired payments"))
		goto done;
	print_identity("expired client", expired);

	o = (mutls_issue_options)MUTLS_ISSUE_OPTIONS_INIT;
	o.cn = "billing";
	o.dns = billing_dns;
	o.dns_count = 1;
	o.purpose = MUTLS_PURPOSE_SERVER;
	if (!setup_ok(mutls_testca_issue(&billing, ca, &o), "issue billing"))
		goto done;
	print_identity("wrong-name server", billing);

	/* --- configs ---------------------------------------------------------- */
	if (make_config(&server_cfg, orders, ca, "uri:spiffe://example.org/*", &server_trace) ||
	    make_config(&client_cfg, payments, ca, "dns:" SERVER_NAME, &client_trace) ||
	    make_config(&g_server, orders, ca, "uri:spiffe://example.org/*", &gallery_server_trace) ||
	    make_config(&g_expired, expired, ca, "dns:" SERVER_NAME, &gallery_client_trace) ||
	    make_config(&g_anonymous, NULL, ca, "dns:" SERVER_NAME, &gallery_client_trace) ||
	    make_config(&g_wrong_server, billing, ca, "uri:spiffe://example.org/*", &gallery_server_trace) ||
	    make_config(&g_client, payments, ca, "dns:" SERVER_NAME, &gallery_client_trace))
		goto done;
	say("config", "server: identity orders, trusts the CA, peers uri:spiffe://example.org/*");
	say("config", "client: identity payments, trusts the CA, peers dns:" SERVER_NAME);

	/* --- the good handshake ----------------------------------------------- */
	good = good_handshake(server_cfg, client_cfg);

	/* --- the failure gallery ---------------------------------------------- */
	heading("failure gallery (memory mode: two sessions in one thread)");
	gallery = 1;
	gallery &= gallery_case("(a) the client's certificate expired yesterday",
		g_server, g_expired, MUTLS_EVERIFY, MUTLS_EPEERREJECTED);
	gallery &= gallery_case("(b) the client presents no certificate",
		g_server, g_anonymous, MUTLS_ENOCERT, MUTLS_EPEERREJECTED);
	gallery &= gallery_case("(c) the server presents a certificate for billing.internal",
		g_wrong_server, g_client, MUTLS_EPEERREJECTED, MUTLS_EVERIFY);

	status = good && gallery ? 0 : 1;
	snprintf(reason, sizeof(reason), "%s%s%s",
		good ? "" : "the good handshake failed",
		!good && !gallery ? "; " : "",
		gallery ? "" : "a gallery case did not fail as expected");
	printf("\n== result: %s%s%s\n", status == 0 ? "ok" : "FAILED (",
		status == 0 ? "" : reason, status == 0 ? "" : ")");

done:
	mutls_config_unref(server_cfg);
	mutls_config_unref(client_cfg);
	mutls_config_unref(g_server);
	mutls_config_unref(g_expired);
	mutls_config_unref(g_anonymous);
	mutls_config_unref(g_wrong_server);
	mutls_config_unref(g_client);
	mutls_identity_free(orders);
	mutls_identity_free(payments);
	mutls_identity_free(expired);
	mutls_identity_free(billing);
	mutls_testca_free(ca);
	return status;
}
