/* The transport (transport.c): input bounded before the handshake is done,
 * an alert sent in plaintext where an encrypted record was due, and a peer
 * that does not speak TLS at all (quoted, bounded, escaped). */
#include "pair.h"

#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

static void world_make(fixture *f)
{
	memset(f, 0, sizeof(*f));
	pki_make(&f->pki);
	f->ccfg = config_with(f->pki.client_id, f->pki.ca);
	f->scfg = config_with(f->pki.server_id, f->pki.ca);
}

/* ---- input bounds and alerts in the record stream ------------------------ */

/* A ClientHello claiming 16 MiB, fed in 16 KiB records: refused once more
 * than MUTLS_MAX_HANDSHAKE_INPUT has come (GnuTLS alone would buffer all
 * 16 MiB first). Both roles count their handshake input. */
TEST(handshake_input_is_bounded)
{
	fixture w;
	unsigned char *rec = calloc(1, 5 + 16384);
	world_make(&w);
	for (int server = 0; server <= 1; server++) {
		mutls_session *s;
		int rc = MUTLS_EWANTREAD, sent = 0;
		if (server)
			CHECK_OK(mutls_session_server(&s, w.scfg, -1));
		else
			CHECK_OK(mutls_session_client(&s, w.ccfg, "orders.internal", -1));
		CHECK_INT(mutls_session_handshake(s), MUTLS_EWANTREAD);
		rec[0] = 22, rec[1] = 3, rec[2] = 3, rec[3] = 16384 >> 8, rec[4] = 0;
		rec[5] = server ? 1 : 2; /* ClientHello / ServerHello, 16 MiB - 1 */
		rec[6] = rec[7] = rec[8] = 0xff;
		while (rc == MUTLS_EWANTREAD && sent < 1100) {
			CHECK_OK(mutls_session_feed(s, rec, 5 + 16384));
			sent++;
			rc = mutls_session_handshake(s);
			memset(rec + 5, 0, 4);
		}
		CHECK_INT(rc, MUTLS_EPROTOCOL);
		CHECK(sent <= 17); /* 256 KiB */
		CHECK_INT(mutls_error_alert(mutls_session_error(s)), 50); /* decode_error */
		CHECK_CONTAINS(mutls_error_message(mutls_session_error(s)), "handshake data too large: the ");
		CHECK_CONTAINS(mutls_error_message(mutls_session_error(s)), " sent more than 256 KiB");
		mutls_session_free(s);
	}
	free(rec);
	fixture_free(&w);
}

TEST(plaintext_alert_in_tls13_is_a_refusal)
{
	/* some TLS 1.3 clients (OpenSSL 3.0) send their refusal unencrypted
	 * after the server's encrypted flight */
	static const unsigned char alert[] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x2a };
	fixture f;
	world_make(&f);
	pair_new(&f.p, f.ccfg, "orders.internal", f.scfg);
	CHECK_INT(mutls_session_handshake(f.p.client), MUTLS_EWANTREAD);
	pair_move(f.p.client, f.p.server);
	CHECK_INT(mutls_session_handshake(f.p.server), MUTLS_EWANTREAD);
	CHECK_OK(mutls_session_feed(f.p.server, alert, sizeof(alert)));
	CHECK_INT(mutls_session_handshake(f.p.server), MUTLS_EPEERREJECTED);
	CHECK_INT(mutls_error_alert(mutls_session_error(f.p.server)), 42);
	CHECK_INT(mutls_error_side(mutls_session_error(f.p.server)), MUTLS_SIDE_PEER);
	CHECK_STR(session_message(f.p.server), "peer rejected our certificate (alert bad_certificate)");
	fixture_free(&f);
}

/* ---- a peer that does not speak TLS ------------------------------------- */

/* A plain HTTP/1.1 server: reads what comes, answers 400, closes. */
static void *plain_http_server(void *arg)
{
	int lfd = *(int *)arg, fd = accept(lfd, NULL, NULL);
	static const char answer[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
		"Connection: close\r\n\r\n";
	char buf[4096];

	if (fd < 0)
		return NULL;
	if (recv(fd, buf, sizeof(buf), 0) > 0)
		CHECK(send(fd, answer, sizeof(answer) - 1, MSG_NOSIGNAL) > 0);
	shutdown(fd, SHUT_WR);
	while (recv(fd, buf, sizeof(buf), 0) > 0)
		;
	close(fd);
	return NULL;
}

TEST(client_meets_a_plain_http_server)
{
	test_pki pki;
	mutls_config *ccfg;
	mutls_session *c;
	pthread_t th;
	int port, lfd, fd;

	pki_make(&pki);
	ccfg = config_with(pki.client_id, pki.ca);
	lfd = listen_loopback(&port);
	pthread_create(&th, NULL, plain_http_server, &lfd);
	fd = connect_loopback(port);
	CHECK_OK(mutls_session_client(&c, ccfg, "localhost", fd));
	CHECK_OK(mutls_session_set_timeout(c, 5000));
	CHECK_INT(mutls_session_handshake(c), MUTLS_EPROTOCOL);
	CHECK_STR(session_message(c), "the server answered with something that is not TLS "
		"(it looks like HTTP: 'HTTP/1.1 400 Bad Request')");
	mutls_session_free(c);
	close(fd);
	pthread_join(th, NULL);
	close(lfd);
	mutls_config_unref(ccfg);
	pki_free(&pki);
}

static void *plain_http_client(void *arg)
{
	int fd = connect_loopback(*(int *)arg);
	static const char request[] = "GET /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n";
	char buf[4096];

	CHECK(send(fd, request, sizeof(request) - 1, MSG_NOSIGNAL) > 0);
	while (recv(fd, buf, sizeof(buf), 0) > 0)
		;
	close(fd);
	return NULL;
}

TEST(server_meets_a_plain_http_client)
{
	test_pki pki;
	mutls_config *scfg;
	mutls_session *s;
	pthread_t th;
	int port, lfd, fd;

	pki_make(&pki);
	scfg = config_with(pki.server_id, pki.ca);
	lfd = listen_loopback(&port);
	pthread_create(&th, NULL, plain_http_client, &port);
	fd = accept(lfd, NULL, NULL);
	CHECK_OK(mutls_session_server(&s, scfg, fd));
	CHECK_OK(mutls_session_set_timeout(s, 5000));
	CHECK_INT(mutls_session_handshake(s), MUTLS_EPROTOCOL);
	CHECK_STR(session_message(s), "the client sent something that is not TLS "
		"(it looks like HTTP: 'GET /index.html HTTP/1.1')");
	mutls_session_free(s);
	close(fd);
	pthread_join(th, NULL);
	close(lfd);
	mutls_config_unref(scfg);
	pki_free(&pki);
}

/* Whatever the bytes, the quote is one line, bounded, non-printables escaped. */
TEST(non_tls_bytes_are_quoted_bounded_and_escaped)
{
	test_pki pki;
	mutls_config *scfg;
	mutls_session *s;
	char in[200];
	const char *m;

	pki_make(&pki);
	scfg = config_with(pki.server_id, pki.ca);
	CHECK_OK(mutls_session_server(&s, scfg, -1));
	memcpy(in, "SSH-2.0-\x01'\\\xff", 12);
	memset(in + 12, 'A', sizeof(in) - 12);
	CHECK_OK(mutls_session_feed(s, in, sizeof(in)));
	CHECK_INT(mutls_session_handshake(s), MUTLS_EPROTOCOL);
	m = session_message(s);
	CHECK_CONTAINS(m, "the client sent something that is not TLS (it begins with: "
		"'SSH-2.0-\\x01\\x27\\x5c\\xffAAAA");
	CHECK_CONTAINS(m, "AAA...')");
	CHECK(strlen(m) < 160);
	mutls_session_free(s);
	mutls_config_unref(scfg);
	pki_free(&pki);
}
