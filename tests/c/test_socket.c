/* Socket mode over real loopback TCP: blocking with a server thread,
 * timeouts, non-blocking want-read/want-write, a peer that goes away, and
 * many threads sharing one config. */
#include "pair.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
	mutls_config *cfg;
	int listen_fd;
	int connections;
	int handshakes_ok;
	int reset_on_refusal;         /* close with SO_LINGER 0: the client gets a reset */
	int last_code;
	char last_message[512];
	char peer_label[128];
} server_ctx;

/* Echo server: accepts n connections, one at a time. */
static void *echo_server(void *arg)
{
	server_ctx *ctx = arg;
	for (int i = 0; i < ctx->connections; i++) {
		mutls_session *s;
		char buf[256];
		size_t got, written;
		int fd = accept(ctx->listen_fd, NULL, NULL);
		if (fd < 0)
			break;
		CHECK_OK(mutls_session_server(&s, ctx->cfg, fd));
		mutls_session_set_timeout(s, 5000);
		ctx->last_code = mutls_session_handshake(s);
		if (ctx->last_code == 0) {
			ctx->handshakes_ok++;
			snprintf(ctx->peer_label, sizeof(ctx->peer_label), "%s",
				mutls_x509_label(mutls_session_peer_certificate(s, 0)));
			while (mutls_session_recv(&got, s, buf, sizeof(buf)) == 0 && got > 0)
				mutls_session_send(&written, s, buf, got);
			mutls_session_close(s);
		} else {
			snprintf(ctx->last_message, sizeof(ctx->last_message), "%s", session_message(s));
			if (ctx->reset_on_refusal) {
				struct linger now = { 1, 0 };
				setsockopt(fd, SOL_SOCKET, SO_LINGER, &now, sizeof(now));
			}
		}
		mutls_session_free(s);
		close(fd);
	}
	return NULL;
}

TEST(blocking_loopback_echo)
{
	test_pki pki;
	server_ctx ctx = { 0 };
	pthread_t th;
	mutls_config *ccfg;
	mutls_session *c;
	int port, fd;
	char buf[64];
	size_t got, written;

	pki_make(&pki);
	ctx.cfg = config_with(pki.server_id, pki.ca);
	ctx.listen_fd = listen_loopback(&port);
	ctx.connections = 1;
	pthread_create(&th, NULL, echo_server, &ctx);
	ccfg = config_with(pki.client_id, pki.ca);
	fd = connect_loopback(port);
	CHECK_OK(mutls_session_client(&c, ccfg, "localhost", fd));
	CHECK_OK(mutls_session_set_timeout(c, 5000));
	CHECK_OK(mutls_session_handshake(c));
	CHECK_STR(mutls_session_version(c), "TLSv1.3");
	CHECK_OK(mutls_session_send(&written, c, "ping over tcp", 13));
	CHECK_OK(mutls_session_recv(&got, c, buf, sizeof(buf)));
	CHECK_INT(got, 13);
	CHECK(memcmp(buf, "ping over tcp", 13) == 0);
	CHECK_OK(mutls_session_close(c));
	CHECK_OK(mutls_session_recv(&got, c, buf, sizeof(buf))); /* server's close_notify */
	CHECK_INT(got, 0);
	pthread_join(th, NULL);
	CHECK_INT(ctx.handshakes_ok, 1);
	CHECK_STR(ctx.peer_label, "CN=payments");
	mutls_session_free(c);
	close(fd);
	close(ctx.listen_fd);
	mutls_config_unref(ccfg);
	mutls_config_unref(ctx.cfg);
	pki_free(&pki);
}

/* An expired client refused by the echo server. TLS 1.3: the client's
 * handshake completes first, so it learns of the refusal afterwards. With
 * reset, the server resets the connection right after its alert and the
 * client sends first: that send meets ECONNRESET, but the alert is still in
 * its receive buffer, and the error must be the refusal, not a bare
 * "connection reset". */
static void expired_client_is_refused(int reset)
{
	test_pki pki;
	server_ctx ctx = { 0 };
	pthread_t th;
	mutls_config *ccfg;
	mutls_session *c;
	int port, fd, rc;
	char buf[64];
	size_t n;
	mutls_identity *expired;
	struct timespec settle = { 0, 100 * 1000 * 1000 };

	pki_make(&pki);
	expired = pki_issue(pki.ca, "payments", NULL, NULL, NULL, MUTLS_PURPOSE_CLIENT, -7 * 86400, -86400);
	ctx.cfg = config_with(pki.server_id, pki.ca);
	ctx.listen_fd = listen_loopback(&port);
	ctx.connections = 1;
	ctx.reset_on_refusal = reset;
	pthread_create(&th, NULL, echo_server, &ctx);
	ccfg = config_with(expired, pki.ca);
	fd = connect_loopback(port);
	CHECK_OK(mutls_session_client(&c, ccfg, "127.0.0.1", fd));
	mutls_session_set_timeout(c, 5000);
	rc = mutls_session_handshake(c);
	if (reset) {
		CHECK_INT(rc, 0);
		pthread_join(th, NULL);
		nanosleep(&settle, NULL); /* the reset has arrived */
		rc = mutls_session_send(&n, c, "ping", 4);
	}
	if (rc == 0) /* TLS 1.3: the refusal arrives after our Finished */
		rc = mutls_session_recv(&n, c, buf, sizeof(buf));
	CHECK_INT(rc, MUTLS_EPEERREJECTED);
	CHECK_STR(session_message(c), "peer rejected our certificate (alert certificate_expired)");
	CHECK_INT(mutls_error_alert(mutls_session_error(c)), 45);
	CHECK_INT(mutls_error_side(mutls_session_error(c)), MUTLS_SIDE_PEER);
	if (!reset)
		pthread_join(th, NULL);
	CHECK_INT(ctx.last_code, MUTLS_EVERIFY);
	CHECK_CONTAINS(ctx.last_message, "client certificate CN=payments expired at ");
	mutls_session_free(c);
	close(fd);
	close(ctx.listen_fd);
	mutls_identity_free(expired);
	mutls_config_unref(ccfg);
	mutls_config_unref(ctx.cfg);
	pki_free(&pki);
}

TEST(refusal_over_tcp_reaches_both_ends) { expired_client_is_refused(0); }
TEST(refusal_then_reset_is_reported_to_a_sender) { expired_client_is_refused(1); }

TEST(timeout_on_silent_peer)
{
	test_pki pki;
	mutls_config *ccfg;
	mutls_session *c;
	int sv[2];

	pki_make(&pki);
	ccfg = config_with(pki.client_id, pki.ca);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK_OK(mutls_session_client(&c, ccfg, "orders.internal", sv[0]));
	CHECK_OK(mutls_session_set_timeout(c, 200));
	CHECK_INT(mutls_session_handshake(c), MUTLS_ETIMEOUT);
	CHECK_STR(mutls_error_message(mutls_error_last()), "timed out after 200 ms waiting for the server");
	mutls_session_free(c);
	close(sv[0]);
	close(sv[1]);
	mutls_config_unref(ccfg);
	pki_free(&pki);
}

TEST(peer_hangs_up_mid_handshake)
{
	test_pki pki;
	mutls_config *ccfg;
	mutls_session *c;
	int sv[2];
	char buf[2048];

	pki_make(&pki);
	ccfg = config_with(pki.client_id, pki.ca);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	CHECK_OK(mutls_session_client(&c, ccfg, "orders.internal", sv[0]));
	/* read the ClientHello, then hang up: no server ever answers */
	CHECK_INT(mutls_session_handshake(c), MUTLS_EWANTREAD);
	CHECK(read(sv[1], buf, sizeof(buf)) > 0);
	close(sv[1]);
	CHECK_INT(mutls_session_handshake(c), MUTLS_ECLOSED);
	CHECK_CONTAINS(session_message(c), "server closed the connection during the handshake");
	mutls_session_free(c);
	close(sv[0]);
	mutls_config_unref(ccfg);
	pki_free(&pki);
}

/* Two non-blocking sessions on a socketpair, driven by hand. */
TEST(nonblocking_want_read_and_want_write)
{
	test_pki pki;
	mutls_config *ccfg, *scfg;
	mutls_session *c, *s;
	int sv[2], crc = MUTLS_EWANTREAD, src = MUTLS_EWANTREAD, wrote_some = 0, saw_want_write = 0;
	size_t chunk = 1 << 16, written, total = 0;
	char *data = calloc(1, chunk), buf[16384];

	pki_make(&pki);
	ccfg = config_with(pki.client_id, pki.ca);
	scfg = config_with(pki.server_id, pki.ca);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	CHECK_OK(mutls_session_client(&c, ccfg, "orders.internal", sv[0]));
	CHECK_OK(mutls_session_server(&s, scfg, sv[1]));
	for (int i = 0; i < 100 && (crc || src); i++) {
		if (crc)
			crc = mutls_session_handshake(c);
		if (src)
			src = mutls_session_handshake(s);
		CHECK(crc == 0 || crc == MUTLS_EWANTREAD || crc == MUTLS_EWANTWRITE);
		CHECK(src == 0 || src == MUTLS_EWANTREAD || src == MUTLS_EWANTWRITE);
	}
	CHECK_INT(crc, 0);
	CHECK_INT(src, 0);
	/* nobody reads: the socket fills and send says want-write */
	for (int i = 0; i < 200; i++) {
		int rc = mutls_session_send(&written, c, data, chunk);
		if (rc == MUTLS_EWANTWRITE) {
			saw_want_write = 1;
			break;
		}
		CHECK_OK(rc);
		wrote_some = 1;
		total += written;
	}
	CHECK(wrote_some);
	CHECK(saw_want_write);
	/* drain some on the server side, then the client can go on */
	{
		size_t got = 0, drained = 0;
		int rc;
		while ((rc = mutls_session_recv(&got, s, buf, sizeof(buf))) == 0 && drained < total / 2)
			drained += got;
		CHECK(drained > 0);
	}
	CHECK_OK(mutls_session_send(&written, c, data, chunk));
	CHECK(written > 0);
	CHECK_INT(mutls_session_recv(&written, c, buf, sizeof(buf)), MUTLS_EWANTREAD);
	free(data);
	mutls_session_free(c);
	mutls_session_free(s);
	close(sv[0]);
	close(sv[1]);
	mutls_config_unref(ccfg);
	mutls_config_unref(scfg);
	pki_free(&pki);
}

typedef struct {
	mutls_config *ccfg, *scfg;
	int ok;
} thread_arg;

static void *handshake_many(void *p)
{
	thread_arg *a = p;
	for (int i = 0; i < 10; i++) {
		test_pair pair;
		pair_new(&pair, a->ccfg, "orders.internal", a->scfg);
		pair_handshake(&pair);
		if (pair.client_rc == 0 && pair.server_rc == 0 && mutls_session_verified(pair.server))
			a->ok++;
		pair_free(&pair);
	}
	return NULL;
}

TEST(threads_share_one_config)
{
	test_pki pki;
	thread_arg args[8];
	pthread_t th[8];
	mutls_config *ccfg, *scfg;

	pki_make(&pki);
	ccfg = config_with(pki.client_id, pki.ca);
	scfg = config_with(pki.server_id, pki.ca);
	for (int i = 0; i < 8; i++) {
		args[i].ccfg = ccfg;
		args[i].scfg = scfg;
		args[i].ok = 0;
		pthread_create(&th[i], NULL, handshake_many, &args[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(args[i].ok, 10);
	}
	mutls_config_unref(ccfg);
	mutls_config_unref(scfg);
	pki_free(&pki);
}

TEST(session_keeps_config_alive)
{
	test_pki pki;
	test_pair p;
	mutls_config *ccfg, *scfg;
	pki_make(&pki);
	ccfg = config_with(pki.client_id, pki.ca);
	scfg = config_with(pki.server_id, pki.ca);
	pair_new(&p, ccfg, "orders.internal", scfg);
	mutls_config_unref(ccfg); /* the sessions hold their own references */
	mutls_config_unref(scfg);
	pair_handshake(&p);
	CHECK_INT(p.client_rc, 0);
	CHECK_INT(p.server_rc, 0);
	pair_free(&p);
	pki_free(&pki);
}

TEST(timeout_on_nonblocking_socket_then_retry)
{
	/* Python sockets with a timeout are non-blocking underneath: the
	 * session waits up to its timeout, then reports a timeout that does
	 * not break the session; the handshake goes on when the peer comes. */
	test_pki pki;
	mutls_config *ccfg, *scfg;
	mutls_session *c, *s;
	int sv[2], crc, src = MUTLS_EWANTREAD;

	pki_make(&pki);
	ccfg = config_with(pki.client_id, pki.ca);
	scfg = config_with(pki.server_id, pki.ca);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	CHECK_OK(mutls_session_client(&c, ccfg, "orders.internal", sv[0]));
	CHECK_OK(mutls_session_server(&s, scfg, sv[1]));
	CHECK_OK(mutls_session_set_timeout(c, 100));
	CHECK_INT(mutls_session_handshake(c), MUTLS_ETIMEOUT);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "timed out after 100 ms");
	CHECK(mutls_session_error(c) == NULL); /* not a failure of the session */
	for (int i = 0; i < 50 && src; i++) {
		src = mutls_session_handshake(s);
		crc = mutls_session_handshake(c);
		if (crc == 0 && src == 0)
			break;
	}
	CHECK_INT(crc, 0);
	CHECK_INT(src, 0);
	mutls_session_free(c);
	mutls_session_free(s);
	close(sv[0]);
	close(sv[1]);
	mutls_config_unref(ccfg);
	mutls_config_unref(scfg);
	pki_free(&pki);
}

/* ---- handshake_timeout ------------------------------------------------- */

static int64_t elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (int64_t)(t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

TEST(handshake_timeout_default_is_finite)
{
	mutls_config *cfg;
	CHECK_OK(mutls_config_new(&cfg));
	CHECK_INT(mutls_config_handshake_timeout(cfg), MUTLS_DEFAULT_HANDSHAKE_TIMEOUT_MS);
	CHECK(MUTLS_DEFAULT_HANDSHAKE_TIMEOUT_MS > 0);
	CHECK_INT(mutls_config_set_handshake_timeout(cfg, -1), MUTLS_ECONFIG);
	CHECK_OK(mutls_config_set_handshake_timeout(cfg, 0)); /* no limit */
	CHECK_INT(mutls_config_handshake_timeout(cfg), 0);
	mutls_config_unref(cfg);
}

/* A TCP server that accepts and never answers: a blocking client with no
 * session timeout fails with "timeout" once handshake_timeout passed. */
TEST(handshake_timeout_on_a_server_that_never_answers)
{
	test_pki pki;
	mutls_config *ccfg;
	mutls_session *c;
	struct timespec t0;
	int port, lfd, fd, peer;
	int64_t took;

	pki_make(&pki);
	ccfg = config_with(pki.client_id, pki.ca);
	CHECK_OK(mutls_config_set_handshake_timeout(ccfg, 300));
	lfd = listen_loopback(&port);
	fd = connect_loopback(port);
	peer = accept(lfd, NULL, NULL); /* accepted, then silence */
	CHECK(peer >= 0);
	CHECK_OK(mutls_session_client(&c, ccfg, "localhost", fd));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_INT(mutls_session_handshake(c), MUTLS_ETIMEOUT);
	took = elapsed_ms(&t0);
	CHECK(took >= 250 && took < 3000);
	CHECK_STR(session_message(c), "handshake timed out: the client waited 0.3 s for the server's "
		"answer to our ClientHello, and the server sent nothing (handshake_timeout 0.3 s)");
	CHECK(mutls_session_error(c) != NULL); /* the session failed: no retry */
	CHECK_INT(mutls_error_step(mutls_session_error(c)), MUTLS_STEP_HANDSHAKE);
	CHECK_INT(mutls_session_handshake(c), MUTLS_ETIMEOUT);
	mutls_session_free(c);
	close(fd);
	close(peer);
	close(lfd);
	mutls_config_unref(ccfg);
	pki_free(&pki);
}

/* The server side, and a session timeout shorter than handshake_timeout: each
 * call times out (retryable) until the whole handshake ran out of time. */
TEST(handshake_timeout_bounds_retried_calls_on_the_server)
{
	test_pki pki;
	mutls_config *scfg;
	mutls_session *s;
	struct timespec t0;
	int port, lfd, fd, conn, rc, tries = 0;

	pki_make(&pki);
	scfg = config_with(pki.server_id, pki.ca);
	CHECK_OK(mutls_config_set_handshake_timeout(scfg, 400));
	lfd = listen_loopback(&port);
	fd = connect_loopback(port); /* a plain client that never speaks */
	conn = accept(lfd, NULL, NULL);
	CHECK_OK(mutls_session_server(&s, scfg, conn));
	CHECK_OK(mutls_session_set_timeout(s, 100));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((rc = mutls_session_handshake(s)) == MUTLS_ETIMEOUT && !mutls_session_error(s) && tries < 100)
		tries++;
	CHECK_INT(rc, MUTLS_ETIMEOUT);
	CHECK(mutls_session_error(s) != NULL);
	CHECK(tries >= 2);
	CHECK(elapsed_ms(&t0) < 3000);
	CHECK_CONTAINS(session_message(s), "the server waited 0.4 s for the client's ClientHello, "
		"and the client sent nothing");
	mutls_session_free(s);
	close(conn);
	close(fd);
	close(lfd);
	mutls_config_unref(scfg);
	pki_free(&pki);
}

/* A non-blocking socket without a timeout keeps want-read (the caller's
 * loop waits), and the first call after handshake_timeout ends it. */
TEST(handshake_timeout_on_a_nonblocking_socket)
{
	test_pki pki;
	mutls_config *ccfg;
	mutls_session *c;
	int sv[2];

	pki_make(&pki);
	ccfg = config_with(pki.client_id, pki.ca);
	CHECK_OK(mutls_config_set_handshake_timeout(ccfg, 200));
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	CHECK_OK(mutls_session_client(&c, ccfg, "orders.internal", sv[0]));
	CHECK_INT(mutls_session_handshake(c), MUTLS_EWANTREAD);
	CHECK_INT(mutls_session_handshake(c), MUTLS_EWANTREAD);
	usleep(250 * 1000);
	CHECK_INT(mutls_session_handshake(c), MUTLS_ETIMEOUT);
	CHECK_CONTAINS(session_message(c), "the client waited 0.2 s");
	mutls_session_free(c);
	close(sv[0]);
	close(sv[1]);
	mutls_config_unref(ccfg);
	pki_free(&pki);
}

/* ---- one thread sending while another receives ------------------------- */

/* GnuTLS allows one sender and one receiver on a session at once; each
 * direction keeps its own deadline. The peer, a mutls server in a thread:
 * `ticks` sends a record every 50 ms and reads nothing until the end;
 * otherwise it reads and drops everything and sends nothing. */
typedef struct {
	mutls_config *cfg;
	int fd;
	int ticks;
	int64_t run_ms;
	int handshake_rc;
} duplex_peer;

static void *duplex_server(void *arg)
{
	duplex_peer *p = arg;
	mutls_session *s;
	char buf[16384];
	size_t n;
	struct timespec t0;

	CHECK_OK(mutls_session_server(&s, p->cfg, p->fd));
	mutls_session_set_timeout(s, 5000);
	p->handshake_rc = mutls_session_handshake(s);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (p->handshake_rc == 0 && p->ticks) {
		while (elapsed_ms(&t0) < p->run_ms) {
			mutls_session_send(&n, s, "tick", 4);
			usleep(50 * 1000);
		}
		mutls_session_set_timeout(s, 200);
		while (mutls_session_recv(&n, s, buf, sizeof(buf)) == 0 && n > 0)
			; /* let the client's last sends through */
	} else if (p->handshake_rc == 0) {
		while (mutls_session_recv(&n, s, buf, sizeof(buf)) == 0 && n > 0)
			;
	}
	mutls_session_close(s);
	mutls_session_free(s);
	return NULL;
}

typedef struct {
	mutls_session *s;
	int rc;            /* the last recv's result */
	int64_t waited_ms; /* how long the timed-out recv took */
	int records;
	int64_t run_ms;    /* keep receiving for this long (0: one recv) */
} duplex_reader;

static void *duplex_recv(void *arg)
{
	duplex_reader *r = arg;
	char buf[256];
	size_t n;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		r->rc = mutls_session_recv(&n, r->s, buf, sizeof(buf));
		if (r->rc == 0 && n > 0)
			r->records++;
	} while (r->run_ms && elapsed_ms(&t0) < r->run_ms && (r->rc == 0 || r->rc == MUTLS_ETIMEOUT));
	r->waited_ms = elapsed_ms(&t1);
	return NULL;
}

static void duplex_setup(test_pki *pki, mutls_config **ccfg, duplex_peer *peer, mutls_session **c,
	int sv[2], pthread_t *th)
{
	pki_make(pki);
	*ccfg = config_with(pki->client_id, pki->ca);
	peer->cfg = config_with(pki->server_id, pki->ca);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	peer->fd = sv[1];
	pthread_create(th, NULL, duplex_server, peer);
	CHECK_OK(mutls_session_client(c, *ccfg, "orders.internal", sv[0]));
	CHECK_OK(mutls_session_set_timeout(*c, 5000));
	CHECK_OK(mutls_session_handshake(*c));
	CHECK_OK(mutls_session_set_timeout(*c, 300));
}

static void duplex_teardown(test_pki *pki, mutls_config *ccfg, duplex_peer *peer, mutls_session *c,
	int sv[2], pthread_t th)
{
	mutls_session_close(c);
	shutdown(sv[0], SHUT_WR);
	pthread_join(th, NULL);
	CHECK_INT(peer->handshake_rc, 0);
	mutls_session_free(c);
	close(sv[0]);
	close(sv[1]);
	mutls_config_unref(ccfg);
	mutls_config_unref(peer->cfg);
	pki_free(pki);
}

/* A recv waiting for a silent peer times out after its own 300 ms while the
 * main thread sends every 50 ms (each send starts its own deadline: with
 * one deadline per session, each send pushed the waiting recv's further). */
TEST(recv_keeps_its_deadline_while_another_thread_sends)
{
	test_pki pki;
	mutls_config *ccfg;
	duplex_peer peer = { 0 };
	duplex_reader reader = { 0 };
	mutls_session *c;
	pthread_t th, rth;
	int sv[2], sends = 0;
	size_t n;
	struct timespec t0;

	duplex_setup(&pki, &ccfg, &peer, &c, sv, &th);
	reader.s = c;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_create(&rth, NULL, duplex_recv, &reader);
	while (elapsed_ms(&t0) < 1500) {
		CHECK_OK(mutls_session_send(&n, c, "ping", 4));
		CHECK_INT(n, 4);
		sends++;
		usleep(50 * 1000);
	}
	pthread_join(rth, NULL);
	CHECK_INT(reader.rc, MUTLS_ETIMEOUT); /* not want-read: its own timeout */
	CHECK(reader.waited_ms >= 250);
	CHECK(reader.waited_ms < 1000);
	CHECK(sends >= 10);
	duplex_teardown(&pki, ccfg, &peer, c, sv, th);
}

/* A send into a peer that does not read times out after its own 300 ms
 * while another thread keeps receiving the peer's records (each recv
 * started a new deadline for the whole session before). */
TEST(send_keeps_its_deadline_while_another_thread_receives)
{
	test_pki pki;
	mutls_config *ccfg;
	duplex_peer peer = { 0 };
	duplex_reader reader = { 0 };
	mutls_session *c;
	pthread_t th, rth;
	int sv[2], rc = 0, calls = 0;
	static char block[65536];
	size_t n;
	int64_t longest = 0;
	struct timespec t0;

	peer.ticks = 1;
	peer.run_ms = 2000;
	duplex_setup(&pki, &ccfg, &peer, &c, sv, &th);
	reader.s = c;
	reader.run_ms = 1800;
	pthread_create(&rth, NULL, duplex_recv, &reader);
	/* fill the socket buffers until a send times out */
	while (calls < 1000) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = mutls_session_send(&n, c, block, sizeof(block));
		if (elapsed_ms(&t0) > longest)
			longest = elapsed_ms(&t0);
		calls++;
		if (rc != 0)
			break;
	}
	CHECK_INT(rc, MUTLS_ETIMEOUT);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "timed out after 300 ms");
	CHECK(longest < 1000);
	pthread_join(rth, NULL);
	CHECK(reader.records >= 5); /* the reader went on meanwhile */
	duplex_teardown(&pki, ccfg, &peer, c, sv, th);
}

/* send_all: the timeout covers the whole buffer. Into a peer that does not
 * read, the buffers take part of it, then the 300 ms pass: MUTLS_ETIMEOUT
 * with the count taken, not a partial success the caller would retry with
 * a fresh 300 ms (Python's sendall did that, waiting as long as the peer's
 * buffers kept growing). */
TEST(send_all_times_out_with_what_was_taken)
{
	test_pki pki;
	mutls_config *ccfg;
	duplex_peer peer = { 0 };
	mutls_session *c;
	pthread_t th;
	int sv[2], rc;
	size_t n = 0, len = 16 << 20;
	char *big = calloc(1, len);
	struct timespec t0;

	peer.ticks = 1;
	peer.run_ms = 1000;
	duplex_setup(&pki, &ccfg, &peer, &c, sv, &th);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = mutls_session_send_all(&n, c, big, len);
	CHECK_INT(rc, MUTLS_ETIMEOUT);
	CHECK(elapsed_ms(&t0) >= 250);
	CHECK(elapsed_ms(&t0) < 900);
	CHECK(n > 0);
	CHECK(n < len);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "timed out after 300 ms");
	CHECK_INT(mutls_session_send_all(&n, NULL, big, len), MUTLS_EUSAGE);
	free(big);
	duplex_teardown(&pki, ccfg, &peer, c, sv, th);
}
