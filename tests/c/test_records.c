/* After the handshake: records, keys, exporter, ALPN, close, resumption,
 * and the failures a record stream can have. */
#include "pair.h"


#include <stdlib.h>
#include <unistd.h>

static void reflection(const char *version)
{
	fixture f;
	const unsigned char *data;
	size_t len, written, got;
	char buf[64];
	unsigned char *copy;
	fixture_connect(&f, version);
	CHECK_OK(mutls_session_send(&written, f.p.client, "transfer 100 to bob", 19));
	CHECK_OK(mutls_session_data_to_send(&data, &len, f.p.client));
	CHECK(len > 19);
	copy = malloc(len);
	memcpy(copy, data, len);
	/* the record the client wrote, fed back to the client itself */
	CHECK_OK(mutls_session_feed(f.p.client, copy, len));
	CHECK_INT(mutls_session_recv(&got, f.p.client, buf, sizeof(buf)), MUTLS_EPROTOCOL);
	CHECK_CONTAINS(session_message(f.p.client), "failed to decrypt");
	CHECK_INT(mutls_error_alert(mutls_session_error(f.p.client)), 20); /* bad_record_mac */
	/* the same bytes are fine for the server they were meant for */
	CHECK_OK(mutls_session_feed(f.p.server, copy, len));
	CHECK_OK(mutls_session_recv(&got, f.p.server, buf, sizeof(buf)));
	CHECK_INT(got, 19);
	free(copy);
	fixture_free(&f);
}

TEST(reflected_record_fails_tls13) { reflection("1.3"); }
TEST(reflected_record_fails_tls12) { reflection("1.2"); }

static void key_separation(const char *version)
{
	fixture f;
	char cw[65], cr[65], sw[65], sr[65];
	fixture_connect(&f, version);
	CHECK_OK(mutls_session_key_fingerprint(cw, f.p.client, 1));
	CHECK_OK(mutls_session_key_fingerprint(cr, f.p.client, 0));
	CHECK_OK(mutls_session_key_fingerprint(sw, f.p.server, 1));
	CHECK_OK(mutls_session_key_fingerprint(sr, f.p.server, 0));
	CHECK_INT(strlen(cw), 64);
	CHECK(strcmp(cw, sw) != 0);   /* two directions, two keys */
	CHECK_STR(cw, sr);            /* client write = server read */
	CHECK_STR(sw, cr);            /* server write = client read */
	fixture_free(&f);
}

TEST(traffic_keys_separate_tls13) { key_separation("1.3"); }
TEST(traffic_keys_separate_tls12) { key_separation("1.2"); }

TEST(exporter_agrees)
{
	fixture f;
	unsigned char a[32], b[32], c[32];
	fixture_connect(&f, NULL);
	CHECK_OK(mutls_session_export_keying_material(a, sizeof(a), f.p.client, "EXPORTER-test", (const unsigned char *)"ctx", 3));
	CHECK_OK(mutls_session_export_keying_material(b, sizeof(b), f.p.server, "EXPORTER-test", (const unsigned char *)"ctx", 3));
	CHECK_OK(mutls_session_export_keying_material(c, sizeof(c), f.p.server, "EXPORTER-other", NULL, 0));
	CHECK(memcmp(a, b, sizeof(a)) == 0);
	CHECK(memcmp(a, c, sizeof(a)) != 0);
	fixture_free(&f);
}

TEST(large_send_loops_over_records)
{
	fixture f;
	size_t n = 1 << 20, written = 0, total = 0;
	char *big = malloc(n), *back = malloc(n);
	fixture_connect(&f, NULL);
	for (size_t i = 0; i < n; i++)
		big[i] = (char)(i * 31 + 7);
	CHECK_OK(mutls_session_send(&written, f.p.client, big, n));
	CHECK_INT(written, n);
	pair_move(f.p.client, f.p.server);
	while (total < n) {
		size_t got = 0;
		CHECK_OK(mutls_session_recv(&got, f.p.server, back + total, n - total));
		/* every record has arrived: the first call takes all but the last,
		 * whose record (16 KiB + overhead) no longer fits what is left */
		if (total == 0)
			CHECK_INT(got, n - 16384);
		CHECK(got > 0);
		total += got;
	}
	CHECK_INT(total, n);
	CHECK(memcmp(big, back, n) == 0);
	CHECK_INT(mutls_session_recv(&written, f.p.server, back, 10), MUTLS_EWANTREAD);
	free(big);
	free(back);
	fixture_free(&f);
}

/* A recv takes the records that have arrived, up to its buffer, and
 * leaves what ends the stream after them to the next call. */
TEST(recv_takes_arrived_records_and_defers_the_end)
{
	fixture f;
	char buf[64];
	size_t got = 0, written;
	fixture_connect(&f, NULL);
	CHECK_OK(mutls_session_send(&written, f.p.client, "one,", 4));
	CHECK_OK(mutls_session_send(&written, f.p.client, "two,", 4));
	CHECK_OK(mutls_session_send(&written, f.p.client, "three", 5));
	CHECK_OK(mutls_session_close(f.p.client));
	pair_move(f.p.client, f.p.server);
	CHECK_OK(mutls_session_recv(&got, f.p.server, buf, 6)); /* the next record may not fit */
	CHECK_INT(got, 4);
	CHECK(memcmp(buf, "one,", 4) == 0);
	CHECK_INT(mutls_session_pending(f.p.server), 0); /* nothing half-read */
	CHECK_OK(mutls_session_recv(&got, f.p.server, buf, sizeof(buf)));
	CHECK_INT(got, 9);
	CHECK(memcmp(buf, "two,three", 9) == 0);
	CHECK_OK(mutls_session_recv(&got, f.p.server, buf, sizeof(buf)));
	CHECK_INT(got, 0); /* then the close_notify */
	CHECK_OK(mutls_session_recv(&got, f.p.server, buf, sizeof(buf)));
	CHECK_INT(got, 0);
	fixture_free(&f);
}

TEST(recv_reports_a_broken_record_after_the_data_before_it)
{
	fixture f;
	char buf[64];
	const unsigned char *out;
	unsigned char *copy;
	size_t got = 0, written, len;
	fixture_connect(&f, NULL);
	CHECK_OK(mutls_session_send(&written, f.p.client, "good", 4));
	CHECK_OK(mutls_session_send(&written, f.p.client, "evil", 4));
	CHECK_OK(mutls_session_data_to_send(&out, &len, f.p.client));
	copy = malloc(len);
	memcpy(copy, out, len);
	copy[len - 1] ^= 1; /* the second record's tag */
	CHECK_OK(mutls_session_feed(f.p.server, copy, len));
	CHECK_OK(mutls_session_recv(&got, f.p.server, buf, sizeof(buf)));
	CHECK_INT(got, 4);
	CHECK(memcmp(buf, "good", 4) == 0);
	CHECK_INT(mutls_session_recv(&got, f.p.server, buf, sizeof(buf)), MUTLS_EPROTOCOL);
	CHECK_CONTAINS(session_message(f.p.server), "failed to decrypt");
	free(copy);
	fixture_free(&f);
}

TEST(close_notify_reads_as_end)
{
	fixture f;
	char buf[16];
	size_t got = 99;
	fixture_connect(&f, NULL);
	CHECK_OK(mutls_session_close(f.p.client));
	CHECK_OK(mutls_session_close(f.p.client)); /* idempotent */
	pair_move(f.p.client, f.p.server);
	CHECK_OK(mutls_session_recv(&got, f.p.server, buf, sizeof(buf)));
	CHECK_INT(got, 0);
	CHECK_INT(mutls_session_send(&got, f.p.client, "x", 1), MUTLS_EUSAGE);
	fixture_free(&f);
}

/* A TLS 1.3 client that sent its certificate and got nothing at all after
 * the handshake, then the close: the sentence says that a refusal without
 * an alert looks so (Python's asyncio ssl). An accepting server sends its
 * tickets first; TLS 1.2 refuses inside the handshake. */
static const char *client_sees_eof(const char *version, int tickets, char *out, size_t cap)
{
	fixture f;
	char buf[16];
	size_t got;

	pki_make(&f.pki);
	f.ccfg = config_with(f.pki.client_id, f.pki.ca);
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	CHECK_OK(mutls_config_set_session_tickets(f.scfg, tickets));
	if (version) {
		const char *v[] = { version };
		CHECK_OK(mutls_config_set_versions(f.ccfg, v, 1));
	}
	pair_new(&f.p, f.ccfg, "orders.internal", f.scfg);
	pair_handshake(&f.p);
	CHECK_INT(f.p.client_rc, 0);
	CHECK_OK(mutls_session_feed_eof(f.p.client));
	CHECK_INT(mutls_session_recv(&got, f.p.client, buf, sizeof(buf)), MUTLS_ECLOSED);
	snprintf(out, cap, "%s", session_message(f.p.client));
	fixture_free(&f);
	return out;
}

TEST(eof_right_after_a_tls13_handshake_says_what_it_may_mean)
{
	char msg[512];
	CHECK_STR(client_sees_eof("1.3", 0, msg, sizeof(msg)),
		"server closed the connection without close_notify, right after the handshake and "
		"before sending anything: in TLS 1.3 that is how a server that refused our certificate "
		"without an alert closes (Python's asyncio ssl, as in uvicorn and hypercorn, does)");
	/* the server's tickets came first: a plain ragged close */
	CHECK_STR(client_sees_eof("1.3", 1, msg, sizeof(msg)),
		"server closed the connection without close_notify");
	CHECK_STR(client_sees_eof("1.2", 0, msg, sizeof(msg)),
		"server closed the connection without close_notify");
}

TEST(eof_without_close_notify_is_closed)
{
	fixture f;
	char buf[16];
	size_t got;
	fixture_connect(&f, NULL);
	CHECK_OK(mutls_session_feed_eof(f.p.server));
	CHECK_INT(mutls_session_recv(&got, f.p.server, buf, sizeof(buf)), MUTLS_ECLOSED);
	CHECK_STR(session_message(f.p.server), "client closed the connection without close_notify");
	CHECK_INT(mutls_error_side(mutls_session_error(f.p.server)), MUTLS_SIDE_PEER);
	fixture_free(&f);
}

TEST(eof_during_handshake_is_closed)
{
	test_pki pki;
	test_pair p;
	mutls_config *ccfg, *scfg;
	pki_make(&pki);
	ccfg = config_with(pki.client_id, pki.ca);
	scfg = config_with(pki.server_id, pki.ca);
	pair_new(&p, ccfg, "orders.internal", scfg);
	CHECK_INT(mutls_session_handshake(p.client), MUTLS_EWANTREAD);
	CHECK_OK(mutls_session_feed_eof(p.client));
	CHECK_INT(mutls_session_handshake(p.client), MUTLS_ECLOSED);
	CHECK_STR(session_message(p.client), "server closed the connection during the handshake");
	/* sticky: the same error again, no crash */
	CHECK_INT(mutls_session_handshake(p.client), MUTLS_ECLOSED);
	pair_free(&p);
	mutls_config_unref(ccfg);
	mutls_config_unref(scfg);
	pki_free(&pki);
}

TEST(garbage_is_protocol_error)
{
	test_pki pki;
	test_pair p;
	mutls_config *ccfg, *scfg;
	const unsigned char *out;
	size_t len;
	pki_make(&pki);
	ccfg = config_with(pki.client_id, pki.ca);
	scfg = config_with(pki.server_id, pki.ca);
	pair_new(&p, ccfg, "orders.internal", scfg);
	CHECK_OK(mutls_session_feed(p.server, "GET / HTTP/1.1\r\nHost: orders\r\n\r\n", 32));
	CHECK_INT(mutls_session_handshake(p.server), MUTLS_EPROTOCOL);
	CHECK_STR(session_message(p.server), "the client sent something that is not TLS "
		"(it looks like HTTP: 'GET / HTTP/1.1')");
	CHECK_INT(mutls_error_side(mutls_session_error(p.server)), MUTLS_SIDE_LOCAL);
	/* an alert goes back to the peer */
	CHECK_OK(mutls_session_data_to_send(&out, &len, p.server));
	CHECK(len >= 7 && out[0] == 21);
	pair_free(&p);
	mutls_config_unref(ccfg);
	mutls_config_unref(scfg);
	pki_free(&pki);
}

TEST(want_read_until_bytes_arrive)
{
	test_pki pki;
	test_pair p;
	mutls_config *ccfg, *scfg;
	const unsigned char *out;
	size_t len;
	pki_make(&pki);
	ccfg = config_with(pki.client_id, pki.ca);
	scfg = config_with(pki.server_id, pki.ca);
	pair_new(&p, ccfg, "orders.internal", scfg);
	CHECK_INT(mutls_session_handshake(p.server), MUTLS_EWANTREAD);
	CHECK_OK(mutls_session_data_to_send(&out, &len, p.server));
	CHECK_INT(len, 0);
	CHECK_INT(mutls_session_handshake(p.client), MUTLS_EWANTREAD);
	CHECK_STR(mutls_code_name(MUTLS_EWANTREAD), "want-read");
	CHECK_OK(mutls_session_data_to_send(&out, &len, p.client));
	CHECK(len > 100 && out[0] == 22); /* a ClientHello record */
	/* taken means gone */
	CHECK_OK(mutls_session_data_to_send(&out, &len, p.client));
	CHECK_INT(len, 0);
	pair_free(&p);
	mutls_config_unref(ccfg);
	mutls_config_unref(scfg);
	pki_free(&pki);
}

/* The leaf each side sent; a client that was not asked sent none. */
static void own_certificate(const char *version)
{
	fixture f;
	const unsigned char *der, *sent;
	size_t der_len, sent_len;
	mutls_config *anon;

	fixture_connect(&f, version);
	CHECK(mutls_session_own_certificate(f.p.server) != NULL);
	CHECK_STR(mutls_x509_label(mutls_session_own_certificate(f.p.server)), "CN=orders");
	CHECK_STR(mutls_x509_label(mutls_session_own_certificate(f.p.client)), "CN=payments");
	/* the very certificate the peer received */
	mutls_x509_der(&sent, &sent_len, mutls_session_own_certificate(f.p.server));
	mutls_x509_der(&der, &der_len, mutls_session_peer_certificate(f.p.client, 0));
	CHECK(sent_len == der_len && memcmp(sent, der, der_len) == 0);
	pair_free(&f.p);
	/* a server that does not ask: the client sends nothing */
	anon = config_with(f.pki.server_id, f.pki.ca);
	CHECK_OK(mutls_config_set_peer_certificate(anon, MUTLS_PEER_NONE));
	pair_new(&f.p, f.ccfg, "orders.internal", anon);
	CHECK(mutls_session_own_certificate(f.p.client) == NULL);
	CHECK(mutls_session_own_certificate(f.p.server) == NULL);
	pair_handshake(&f.p);
	CHECK_INT(f.p.client_rc, 0);
	CHECK(mutls_session_own_certificate(f.p.client) == NULL);
	CHECK_STR(mutls_x509_label(mutls_session_own_certificate(f.p.server)), "CN=orders");
	CHECK(mutls_session_own_certificate(NULL) == NULL);
	mutls_config_unref(anon);
	fixture_free(&f);
}

TEST(own_certificate_tls13) { own_certificate("1.3"); }
TEST(own_certificate_tls12) { own_certificate("1.2"); }

TEST(alpn_agreed_and_none)
{
	fixture f;
	const char *both[] = { "h2", "http/1.1" }, *server[] = { "http/1.1" }, *other[] = { "smtp" };
	pki_make(&f.pki);
	f.ccfg = config_with(f.pki.client_id, f.pki.ca);
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	CHECK_OK(mutls_config_set_alpn(f.ccfg, both, 2));
	CHECK_OK(mutls_config_set_alpn(f.scfg, server, 1));
	pair_run(&f.p, f.ccfg, "orders.internal", f.scfg);
	CHECK_STR(mutls_session_alpn(f.p.client), "http/1.1");
	CHECK_STR(mutls_session_alpn(f.p.server), "http/1.1");
	pair_free(&f.p);
	mutls_config_unref(f.scfg);
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	CHECK_OK(mutls_config_set_alpn(f.scfg, other, 1));
	pair_run(&f.p, f.ccfg, "orders.internal", f.scfg);
	CHECK_INT(f.p.client_rc, 0);
	CHECK(mutls_session_alpn(f.p.client) == NULL);
	fixture_free(&f);
}

/* One full handshake, a read so the TLS 1.3 ticket arrives, then the
 * session data. */
static unsigned char *first_session(fixture *f, const char *version, size_t *len)
{
	unsigned char *data = NULL;
	char buf[32];
	fixture_connect(f, version);
	CHECK_INT(mutls_session_resumed(f->p.client), 0);
	if (strcmp(version, "1.3") == 0)
		CHECK_INT(mutls_session_get_data(&data, len, f->p.client), MUTLS_EUSAGE);
	CHECK_INT(pair_transfer(f->p.server, f->p.client, "ticket?", buf, sizeof(buf)), 0);
	CHECK_OK(mutls_session_get_data(&data, len, f->p.client));
	pair_free(&f->p);
	return data;
}

static void resume(const char *version)
{
	fixture f;
	size_t len;
	unsigned char *data = first_session(&f, version, &len);
	pair_new(&f.p, f.ccfg, "orders.internal", f.scfg);
	CHECK_OK(mutls_session_set_data(f.p.client, data, len));
	pair_handshake(&f.p);
	CHECK_INT(f.p.client_rc, 0);
	CHECK_INT(f.p.server_rc, 0);
	CHECK_INT(mutls_session_resumed(f.p.client), 1);
	CHECK_INT(mutls_session_resumed(f.p.server), 1);
	/* re-checked on resumption: the peer is known and verified */
	CHECK(mutls_session_verified(f.p.client));
	CHECK(mutls_session_verified(f.p.server));
	CHECK_STR(mutls_x509_label(mutls_session_peer_certificate(f.p.server, 0)), "CN=payments");
	/* nothing was sent: the server's leaf is the one it was established
	 * with, the client cannot know whether it was asked back then */
	CHECK_STR(mutls_x509_label(mutls_session_own_certificate(f.p.server)), "CN=orders");
	CHECK(mutls_session_own_certificate(f.p.client) == NULL);
	mutls_free(data);
	fixture_free(&f);
}

TEST(resumption_tls13) { resume("1.3"); }
TEST(resumption_tls12) { resume("1.2"); }

TEST(resumption_rechecks_policy)
{
	/* session data from one client config, resumed under a stricter one:
	 * GnuTLS resumes without verifying, mutls re-checks and refuses */
	fixture f;
	size_t len;
	mutls_config *strict;
	unsigned char *data = first_session(&f, "1.3", &len);
	strict = config_with(f.pki.client_id, f.pki.ca);
	CHECK_OK(mutls_config_add_peer_pattern(strict, "dns:billing.internal"));
	pair_new(&f.p, strict, "orders.internal", f.scfg);
	CHECK_OK(mutls_session_set_data(f.p.client, data, len));
	pair_handshake(&f.p);
	CHECK_INT(f.p.client_rc, MUTLS_EVERIFY);
	CHECK_INT(mutls_error_reasons(mutls_session_error(f.p.client)), MUTLS_REASON_POLICY);
	CHECK_INT(mutls_session_resumed(f.p.client), 0);
	mutls_free(data);
	mutls_config_unref(strict);
	fixture_free(&f);
}

static int count_lines(mutls_session *s, const char *line, void *payload)
{
	(*(int *)payload)++;
	CHECK(strncmp(line, "CLIENT_", 7) == 0 || strncmp(line, "SERVER_", 7) == 0 ||
		strncmp(line, "EXPORTER_", 9) == 0 || strncmp(line, "CLIENT_RANDOM", 13) == 0);
	return 0;
}

TEST(keylog_file_and_hook)
{
	fixture f;
	char dir[] = "/tmp/mutls-keylog-XXXXXX", path[256], line[512];
	int lines = 0, file_lines = 0;
	FILE *fp;
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/keys.log", dir);
	pki_make(&f.pki);
	f.ccfg = config_with(f.pki.client_id, f.pki.ca);
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	CHECK_OK(mutls_config_set_keylog_file(f.ccfg, path));
	CHECK_OK(mutls_config_set_keylog_hook(f.scfg, count_lines, &lines, NULL));
	pair_run(&f.p, f.ccfg, "orders.internal", f.scfg);
	CHECK_INT(f.p.client_rc, 0);
	CHECK(lines >= 4);
	fp = fopen(path, "r");
	CHECK(fp != NULL);
	while (fgets(line, sizeof(line), fp)) {
		CHECK(strchr(line, ' ') != NULL);
		file_lines++;
	}
	fclose(fp);
	CHECK_INT(file_lines, lines);
	unlink(path);
	rmdir(dir);
	fixture_free(&f);
}
