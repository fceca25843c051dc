/* Bad input in memory mode: random, truncated, oversized and reordered
 * records, and a 100-certificate chain. Each ends in its code, never a
 * crash or a hang. */
#include "pair.h"

#include <stdint.h>

static uint32_t rng_state;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

typedef struct {
	test_pki pki;
	mutls_config *ccfg, *scfg;
} world;

static void world_make(world *w)
{
	pki_make(&w->pki);
	w->ccfg = config_with(w->pki.client_id, w->pki.ca);
	w->scfg = config_with(w->pki.server_id, w->pki.ca);
}

static void world_free(world *w)
{
	mutls_config_unref(w->ccfg);
	mutls_config_unref(w->scfg);
	pki_free(&w->pki);
}

/* Feeds bytes to a fresh session of one role; returns its final code. */
static int feed_role(world *w, int server, const unsigned char *data, size_t len, int eof)
{
	mutls_session *s;
	int rc;
	if (server)
		CHECK_OK(mutls_session_server(&s, w->scfg, -1));
	else
		CHECK_OK(mutls_session_client(&s, w->ccfg, "orders.internal", -1));
	rc = mutls_session_handshake(s);
	CHECK_INT(rc, MUTLS_EWANTREAD);
	CHECK_OK(mutls_session_feed(s, data, len));
	if (eof)
		CHECK_OK(mutls_session_feed_eof(s));
	rc = mutls_session_handshake(s);
	if (rc != MUTLS_EWANTREAD) {
		CHECK(mutls_session_error(s) != NULL);
		CHECK(strlen(mutls_error_message(mutls_session_error(s))) > 10);
	}
	mutls_session_free(s);
	return rc;
}

TEST(random_bytes_to_both_roles)
{
	world w;
	unsigned char buf[2048];
	int seen_protocol = 0;
	world_make(&w);
	rng_state = 0x12345678u;
	for (int i = 0; i < 300; i++) {
		size_t len = 1 + rnd() % sizeof(buf);
		for (size_t j = 0; j < len; j++)
			buf[j] = (unsigned char)rnd();
		/* half of them look like a handshake record header */
		if (i % 2) {
			buf[0] = 22;
			buf[1] = 3;
			buf[2] = (unsigned char)(rnd() % 4);
		}
		for (int role = 0; role < 2; role++) {
			int rc = feed_role(&w, role, buf, len, i % 3 == 0);
			CHECK(rc == MUTLS_EPROTOCOL || rc == MUTLS_ECLOSED || rc == MUTLS_EWANTREAD);
			seen_protocol += rc == MUTLS_EPROTOCOL;
		}
	}
	CHECK(seen_protocol > 100);
	world_free(&w);
}

/* The client's first flight (its ClientHello records). */
static size_t client_hello(world *w, unsigned char *out, size_t cap)
{
	mutls_session *c;
	const unsigned char *data;
	size_t len;
	CHECK_OK(mutls_session_client(&c, w->ccfg, "orders.internal", -1));
	CHECK_INT(mutls_session_handshake(c), MUTLS_EWANTREAD);
	CHECK_OK(mutls_session_data_to_send(&data, &len, c));
	CHECK(len < cap);
	memcpy(out, data, len);
	mutls_session_free(c);
	return len;
}

TEST(truncated_client_hello_then_eof_is_closed)
{
	world w;
	unsigned char hello[4096];
	size_t len;
	world_make(&w);
	len = client_hello(&w, hello, sizeof(hello));
	for (size_t cut = 1; cut < len; cut += 13) {
		int rc = feed_role(&w, 1, hello, cut, 1);
		CHECK_STR(mutls_code_name(rc), "closed");
		CHECK_STR(mutls_error_message(mutls_error_last()), "client closed the connection during the handshake");
	}
	/* without EOF the server just waits for the rest */
	CHECK_INT(feed_role(&w, 1, hello, len / 2, 0), MUTLS_EWANTREAD);
	world_free(&w);
}

TEST(oversized_record_is_protocol_error)
{
	world w;
	unsigned char rec[5 + 20000];
	world_make(&w);
	memset(rec, 0, sizeof(rec));
	rec[0] = 22;
	rec[1] = 3;
	rec[2] = 3;
	rec[3] = (unsigned char)(20000 >> 8);
	rec[4] = (unsigned char)(20000 & 0xff);
	CHECK_INT(feed_role(&w, 1, rec, sizeof(rec), 0), MUTLS_EPROTOCOL);
	CHECK_INT(mutls_error_alert(mutls_error_last()), 22); /* record_overflow */
	CHECK_INT(feed_role(&w, 0, rec, sizeof(rec), 0), MUTLS_EPROTOCOL);
	world_free(&w);
}

/* Splits a byte stream into TLS records. */
static size_t split_records(const unsigned char *data, size_t len, size_t *offsets, size_t *sizes, size_t max)
{
	size_t n = 0, pos = 0;
	while (pos + 5 <= len && n < max) {
		size_t body = (size_t)data[pos + 3] << 8 | data[pos + 4];
		offsets[n] = pos;
		sizes[n] = 5 + body;
		pos += 5 + body;
		n++;
	}
	return n;
}

TEST(reordered_records_are_refused)
{
	/* the client's second flight (TLS 1.2: Certificate, ClientKeyExchange,
	 * CertificateVerify, ChangeCipherSpec, Finished) with two records
	 * swapped reaches the server out of order */
	world w;
	test_pair p;
	const char *v[] = { "1.2" };
	const unsigned char *data;
	size_t len, offs[16], sizes[16], n;
	unsigned char *flight, *swapped;
	int rc;
	world_make(&w);
	CHECK_OK(mutls_config_set_versions(w.ccfg, v, 1));
	pair_new(&p, w.ccfg, "orders.internal", w.scfg);
	CHECK_INT(mutls_session_handshake(p.client), MUTLS_EWANTREAD);
	pair_move(p.client, p.server);
	CHECK_INT(mutls_session_handshake(p.server), MUTLS_EWANTREAD);
	pair_move(p.server, p.client);
	CHECK_INT(mutls_session_handshake(p.client), MUTLS_EWANTREAD);
	CHECK_OK(mutls_session_data_to_send(&data, &len, p.client));
	flight = malloc(len);
	swapped = malloc(len);
	memcpy(flight, data, len);
	n = split_records(flight, len, offs, sizes, 16);
	CHECK(n >= 3);
	/* swap the first two records */
	memcpy(swapped, flight + offs[1], sizes[1]);
	memcpy(swapped + sizes[1], flight + offs[0], sizes[0]);
	memcpy(swapped + sizes[0] + sizes[1], flight + offs[2], len - offs[2]);
	CHECK_OK(mutls_session_feed(p.server, swapped, len));
	rc = mutls_session_handshake(p.server);
	CHECK_STR(mutls_code_name(rc), "protocol");
	CHECK(mutls_error_alert(mutls_session_error(p.server)) == 10); /* unexpected_message */
	free(flight);
	free(swapped);
	pair_free(&p);
	world_free(&w);
}

TEST(chain_of_100_certificates)
{
	/* a leaf under 100 intermediates: parsed, presented, refused with a
	 * reason (GnuTLS verifies at most 16 levels), no crash */
	world w;
	mutls_testca *cas[101];
	mutls_identity *id;
	mutls_config *scfg;
	test_pair p;
	world_make(&w);
	cas[0] = w.pki.ca;
	for (int i = 1; i <= 100; i++)
		CHECK_OK(mutls_testca_intermediate(&cas[i], cas[i - 1], NULL));
	id = pki_issue(cas[100], "deep", "orders.internal", NULL, NULL, MUTLS_PURPOSE_SERVER, 0, 0);
	CHECK_INT(mutls_identity_chain_length(id), 101);
	scfg = config_with(id, w.pki.ca);
	pair_run(&p, w.ccfg, "orders.internal", scfg);
	CHECK_INT(session_code(p.client), MUTLS_EVERIFY);
	CHECK_INT(mutls_error_reasons(mutls_session_error(p.client)), MUTLS_REASON_UNKNOWN_ISSUER);
	CHECK_CONTAINS(session_message(p.client), "a chain of 101 certificates");
	CHECK_INT(mutls_session_peer_chain_length(p.client), 101);
	printf("\n    client: %s ", session_message(p.client));
	pair_free(&p);
	mutls_config_unref(scfg);
	mutls_identity_free(id);
	for (int i = 1; i <= 100; i++)
		mutls_testca_free(cas[i]);
	world_free(&w);
}
