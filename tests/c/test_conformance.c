/* What a TLS server conformance suite (tlsfuzzer) checks of a server that
 * requires client certificates: the alert for malformed client messages,
 * TLS 1.2 resumption by session ID (with the peer re-checked), the CA names
 * of the CertificateRequest, the alert reaching a client that is still
 * sending a huge ClientHello, and no Ed448 in the default priority. */
#include "pair.h"
#include "session_cache.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *v12[] = { "1.2" };

typedef struct {
	test_pki pki;
	mutls_config *ccfg, *scfg;
	test_pair p;
} world;

static void world_make(world *w, int tls12)
{
	memset(w, 0, sizeof(*w));
	pki_make(&w->pki);
	w->ccfg = config_with(w->pki.client_id, w->pki.ca);
	w->scfg = config_with(w->pki.server_id, w->pki.ca);
	if (tls12)
		CHECK_OK(mutls_config_set_versions(w->ccfg, v12, 1));
}

static void world_free(world *w)
{
	pair_free(&w->p);
	mutls_config_unref(w->ccfg);
	mutls_config_unref(w->scfg);
	pki_free(&w->pki);
}

/* ---- the records of a flight ------------------------------------------- */

/* The handshake messages of a plaintext flight, concatenated (record
 * headers removed). Returns the length. */
static size_t handshake_bytes(unsigned char *out, size_t cap, const unsigned char *in, size_t len)
{
	size_t pos = 0, n = 0;
	while (pos + 5 <= len) {
		size_t body = (size_t)in[pos + 3] << 8 | in[pos + 4];
		CHECK(pos + 5 + body <= len);
		if (in[pos] == 22) {
			CHECK(n + body <= cap);
			memcpy(out + n, in + pos + 5, body);
			n += body;
		}
		pos += 5 + body;
	}
	return n;
}

/* The body of the first handshake message of type htype, or NULL. */
static const unsigned char *find_message(size_t *out_len, const unsigned char *hs, size_t len, int htype)
{
	size_t pos = 0;
	while (pos + 4 <= len) {
		size_t body = (size_t)hs[pos + 1] << 16 | (size_t)hs[pos + 2] << 8 | hs[pos + 3];
		if (hs[pos] == htype) {
			*out_len = body;
			return hs + pos + 4;
		}
		pos += 4 + body;
	}
	return NULL;
}

/* Re-frames a client flight with the message of type htype replaced by
 * `body` (each message in its own record, as GnuTLS sends them). */
static size_t replace_message(unsigned char *out, size_t cap, const unsigned char *in, size_t len,
	int htype, const unsigned char *body, size_t body_len)
{
	size_t pos = 0, n = 0;
	while (pos + 5 <= len) {
		size_t rec = (size_t)in[pos + 3] << 8 | in[pos + 4];
		const unsigned char *p = in + pos + 5;
		size_t plen = rec;
		unsigned char msg[64];
		if (in[pos] == 22 && rec >= 4 && p[0] == htype) {
			msg[0] = (unsigned char)htype;
			msg[1] = (unsigned char)(body_len >> 16);
			msg[2] = (unsigned char)(body_len >> 8);
			msg[3] = (unsigned char)body_len;
			CHECK(body_len + 4 <= sizeof(msg));
			if (body_len)
				memcpy(msg + 4, body, body_len);
			p = msg;
			plen = body_len + 4;
		}
		CHECK(n + 5 + plen <= cap);
		memcpy(out + n, in + pos, 3);
		out[n + 3] = (unsigned char)(plen >> 8);
		out[n + 4] = (unsigned char)plen;
		memcpy(out + n + 5, p, plen);
		n += 5 + plen;
		pos += 5 + rec;
	}
	return n;
}

/* ---- a. malformed client messages: decode_error, as GnuTLS's own choice - */

/* A TLS 1.2 handshake whose client second flight has message htype
 * replaced; returns the server's result. */
static int tampered_second_flight(world *w, int htype, const unsigned char *body, size_t body_len)
{
	const unsigned char *data;
	size_t len;
	static unsigned char flight[16384], tampered[16384];

	pair_new(&w->p, w->ccfg, "orders.internal", w->scfg);
	CHECK_INT(mutls_session_handshake(w->p.client), MUTLS_EWANTREAD); /* ClientHello */
	pair_move(w->p.client, w->p.server);
	CHECK_INT(mutls_session_handshake(w->p.server), MUTLS_EWANTREAD);
	pair_move(w->p.server, w->p.client);
	CHECK_INT(mutls_session_handshake(w->p.client), MUTLS_EWANTREAD); /* Certificate..Finished */
	CHECK_OK(mutls_session_data_to_send(&data, &len, w->p.client));
	CHECK(len <= sizeof(flight));
	memcpy(flight, data, len);
	len = replace_message(tampered, sizeof(tampered), flight, len, htype, body, body_len);
	CHECK_OK(mutls_session_feed(w->p.server, tampered, len));
	return mutls_session_handshake(w->p.server);
}

TEST(empty_certificate_verify_gets_decode_error)
{
	world w;
	int rc;
	world_make(&w, 1);
	rc = tampered_second_flight(&w, 15, NULL, 0);
	CHECK_INT(rc, MUTLS_EPROTOCOL);
	CHECK_INT(mutls_error_alert(mutls_session_error(w.p.server)), 50); /* decode_error */
	CHECK_STR(session_message(w.p.server), "client sent a malformed message: its CertificateVerify message is empty");
	CHECK_INT(mutls_error_step(mutls_session_error(w.p.server)), MUTLS_STEP_CLIENT_CERTIFICATE);
	/* and the alert went out: the client reads it */
	pair_move(w.p.server, w.p.client);
	CHECK_INT(mutls_session_handshake(w.p.client), MUTLS_EPROTOCOL);
	CHECK_CONTAINS(session_message(w.p.client), "decode_error");
	world_free(&w);
}

TEST(zero_length_certificate_entry_gets_decode_error)
{
	/* certificate_list of 3 bytes: one entry of length 0 */
	static const unsigned char body[] = { 0, 0, 3, 0, 0, 0 };
	world w;
	world_make(&w, 1);
	CHECK_INT(tampered_second_flight(&w, 11, body, sizeof(body)), MUTLS_EPROTOCOL);
	CHECK_INT(mutls_error_alert(mutls_session_error(w.p.server)), 50);
	CHECK_STR(session_message(w.p.server),
		"client sent a malformed message: its Certificate message holds a certificate of zero bytes");
	world_free(&w);
}

TEST(empty_certificate_list_is_still_no_certificate)
{
	/* a well-formed empty list: the client has no certificate (RFC 5246
	 * 7.4.6 allows handshake_failure), not malformed */
	static const unsigned char body[] = { 0, 0, 0 };
	world w;
	world_make(&w, 1);
	CHECK_INT(tampered_second_flight(&w, 11, body, sizeof(body)), MUTLS_ENOCERT);
	CHECK_INT(mutls_error_alert(mutls_session_error(w.p.server)), 40); /* handshake_failure */
	world_free(&w);
}

TEST(truncated_certificate_verify_gets_decode_error)
{
	/* one byte: GnuTLS says "unexpected packet length" itself */
	static const unsigned char body[] = { 4 };
	world w;
	world_make(&w, 1);
	CHECK_INT(tampered_second_flight(&w, 15, body, sizeof(body)), MUTLS_EPROTOCOL);
	CHECK_INT(mutls_error_alert(mutls_session_error(w.p.server)), 50);
	world_free(&w);
}

/* ---- b. TLS 1.2 resumption by session ID ------------------------------- */

/* A full TLS 1.2 handshake; returns the client's session data. */
static unsigned char *full_session(world *w, size_t *len)
{
	unsigned char *data = NULL;
	pair_new(&w->p, w->ccfg, "orders.internal", w->scfg);
	pair_handshake(&w->p);
	CHECK_INT(w->p.client_rc, 0);
	CHECK_INT(w->p.server_rc, 0);
	CHECK_INT(mutls_session_resumed(w->p.server), 0);
	CHECK_OK(mutls_session_get_data(&data, len, w->p.client));
	pair_free(&w->p);
	return data;
}

static void resume_with(world *w, const unsigned char *data, size_t len)
{
	pair_new(&w->p, w->ccfg, "orders.internal", w->scfg);
	CHECK_OK(mutls_session_set_data(w->p.client, data, len));
	pair_handshake(&w->p);
}

/* Tickets off on both sides: only the session ID can resume. */
static void world_without_tickets(world *w)
{
	world_make(w, 1);
	CHECK_OK(mutls_config_set_session_tickets(w->ccfg, 0));
	CHECK_OK(mutls_config_set_session_tickets(w->scfg, 0));
}

TEST(tls12_resumes_by_session_id)
{
	world w;
	size_t len;
	unsigned char *data;
	char buf[32];

	world_without_tickets(&w);
	data = full_session(&w, &len);
	CHECK_INT(mutls__session_cache_count(w.scfg->session_cache), 1);
	resume_with(&w, data, len);
	CHECK_INT(w.p.client_rc, 0);
	CHECK_INT(w.p.server_rc, 0);
	CHECK_INT(mutls_session_resumed(w.p.client), 1);
	CHECK_INT(mutls_session_resumed(w.p.server), 1);
	/* re-checked on resumption, as with a ticket */
	CHECK(mutls_session_verified(w.p.server));
	CHECK_STR(mutls_x509_label(mutls_session_peer_certificate(w.p.server, 0)), "CN=payments");
	CHECK_INT(pair_transfer(w.p.client, w.p.server, "again", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "again");
	mutls_free(data);
	world_free(&w);
}

TEST(tls13_sessions_take_no_cache_entry)
{
	/* TLS 1.3 resumes by ticket only: nothing is stored by ID */
	world w;
	world_make(&w, 0);
	pair_run(&w.p, w.ccfg, "orders.internal", w.scfg);
	CHECK_INT(w.p.server_rc, 0);
	CHECK_STR(mutls_session_version(w.p.server), "TLSv1.3");
	CHECK_INT(mutls__session_cache_count(w.scfg->session_cache), 0);
	world_free(&w);
}

TEST(session_cache_zero_turns_it_off)
{
	world w;
	size_t len;
	unsigned char *data;

	world_without_tickets(&w);
	CHECK_OK(mutls_config_set_session_cache(w.scfg, 0));
	data = full_session(&w, &len);
	CHECK(w.scfg->session_cache == NULL);
	resume_with(&w, data, len);
	CHECK_INT(w.p.server_rc, 0);
	CHECK_INT(mutls_session_resumed(w.p.server), 0);
	CHECK_INT(mutls_session_resumed(w.p.client), 0);
	mutls_free(data);
	world_free(&w);
}

TEST(session_cache_is_bounded)
{
	world w;
	size_t len[3];
	unsigned char *data[3];

	world_without_tickets(&w);
	CHECK_OK(mutls_config_set_session_cache(w.scfg, 2));
	for (int i = 0; i < 3; i++)
		data[i] = full_session(&w, &len[i]);
	CHECK_INT(mutls__session_cache_count(w.scfg->session_cache), 2);
	/* the oldest was replaced: a full handshake */
	resume_with(&w, data[0], len[0]);
	CHECK_INT(w.p.server_rc, 0);
	CHECK_INT(mutls_session_resumed(w.p.server), 0);
	pair_free(&w.p);
	resume_with(&w, data[2], len[2]);
	CHECK_INT(mutls_session_resumed(w.p.server), 1);
	for (int i = 0; i < 3; i++)
		mutls_free(data[i]);
	world_free(&w);
}

TEST(session_cache_option_is_checked)
{
	mutls_config *cfg;
	CHECK_OK(mutls_config_new(&cfg));
	CHECK_INT(mutls_config_set_session_cache(cfg, MUTLS_SESSION_CACHE_MAX + 1), MUTLS_ECONFIG);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "more than the limit of 1048576");
	CHECK_OK(mutls_config_set_session_cache(cfg, MUTLS_SESSION_CACHE_MAX));
	CHECK_OK(mutls_config_freeze(cfg));
	CHECK_INT(mutls_config_set_session_cache(cfg, 5), MUTLS_EUSAGE);
	CHECK_INT(mutls_config_set_send_ca_names(cfg, 0), MUTLS_EUSAGE);
	mutls_config_unref(cfg);
}

/* A verify hook standing for a revocation list or a policy that changes
 * while the server runs. */
static int refuse_when_revoked(mutls_session *s, void *payload, char *reason, size_t cap)
{
	(void)s;
	if (*(int *)payload) {
		snprintf(reason, cap, "revoked since the last connection");
		return MUTLS_HOOK_REJECT;
	}
	return MUTLS_HOOK_ACCEPT;
}

TEST(session_id_resumption_rechecks_the_peer)
{
	world w;
	size_t len;
	unsigned char *data;
	int revoked = 0;

	world_without_tickets(&w);
	CHECK_OK(mutls_config_set_verify_hook(w.scfg, refuse_when_revoked, &revoked, NULL));
	data = full_session(&w, &len);
	resume_with(&w, data, len); /* still fine: resumed */
	CHECK_INT(w.p.server_rc, 0);
	CHECK_INT(mutls_session_resumed(w.p.server), 1);
	pair_free(&w.p);
	revoked = 1;
	resume_with(&w, data, len);
	CHECK_INT(w.p.server_rc, MUTLS_EVERIFY);
	CHECK_INT(mutls_session_verified(w.p.server), 0);
	CHECK_INT(mutls_error_reasons(mutls_session_error(w.p.server)), MUTLS_REASON_HOOK);
	CHECK_CONTAINS(session_message(w.p.server), "revoked since the last connection");
	mutls_free(data);
	world_free(&w);
}

/* ---- d. the CertificateRequest names the trust anchors ----------------- */

/* The server's TLS 1.2 CertificateRequest: its DN list and signature
 * algorithms. */
static void certificate_request(world *w, size_t *dn_len, unsigned char *dn, size_t dn_cap,
	int *offers_ed448)
{
	const unsigned char *data, *cr;
	static unsigned char hs[16384];
	size_t len, n, crlen, pos, algs;

	pair_new(&w->p, w->ccfg, "orders.internal", w->scfg);
	CHECK_INT(mutls_session_handshake(w->p.client), MUTLS_EWANTREAD);
	pair_move(w->p.client, w->p.server);
	CHECK_INT(mutls_session_handshake(w->p.server), MUTLS_EWANTREAD);
	CHECK_OK(mutls_session_data_to_send(&data, &len, w->p.server));
	n = handshake_bytes(hs, sizeof(hs), data, len);
	CHECK((cr = find_message(&crlen, hs, n, 13)) != NULL);
	pos = 1 + cr[0];                             /* certificate_types */
	algs = (size_t)cr[pos] << 8 | cr[pos + 1];   /* signature algorithms */
	*offers_ed448 = 0;
	for (size_t i = 0; i + 1 < algs; i += 2)
		if (cr[pos + 2 + i] == 8 && cr[pos + 3 + i] == 8)
			*offers_ed448 = 1;
	pos += 2 + algs;
	*dn_len = (size_t)cr[pos] << 8 | cr[pos + 1];
	CHECK(pos + 2 + *dn_len == crlen);
	CHECK(*dn_len <= dn_cap);
	memcpy(dn, cr + pos + 2, *dn_len);
	pair_free(&w->p);
}

TEST(certificate_request_names_the_trust_anchors)
{
	world w;
	unsigned char dn[4096];
	size_t dn_len;
	int ed448;
	const unsigned char *ca_der;
	size_t ca_len;
	gnutls_x509_crt_t crt;
	gnutls_datum_t subject, der;

	world_make(&w, 1);
	certificate_request(&w, &dn_len, dn, sizeof(dn), &ed448);
	/* one DistinguishedName: the root's subject, length-prefixed */
	mutls_x509_der(&ca_der, &ca_len, mutls_testca_certificate(w.pki.ca));
	der.data = (unsigned char *)ca_der;
	der.size = (unsigned)ca_len;
	CHECK(gnutls_x509_crt_init(&crt) == 0);
	CHECK(gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER) == 0);
	CHECK(gnutls_x509_crt_get_raw_dn(crt, &subject) == 0);
	CHECK_INT(dn_len, 2 + subject.size);
	CHECK_INT((size_t)dn[0] << 8 | dn[1], subject.size);
	CHECK(memcmp(dn + 2, subject.data, subject.size) == 0);
	gnutls_free(subject.data);
	gnutls_x509_crt_deinit(crt);
	world_free(&w);
}

TEST(send_ca_names_false_sends_none)
{
	world w;
	unsigned char dn[4096];
	size_t dn_len;
	int ed448;

	world_make(&w, 1);
	CHECK_OK(mutls_config_set_send_ca_names(w.scfg, 0));
	certificate_request(&w, &dn_len, dn, sizeof(dn), &ed448);
	CHECK_INT(dn_len, 0);
	/* and the handshake still works */
	pair_run(&w.p, w.ccfg, "orders.internal", w.scfg);
	CHECK_INT(w.p.server_rc, 0);
	world_free(&w);
}

TEST(client_of_another_ca_still_sends_its_certificate)
{
	/* the server lists its own CA only; our client sends its certificate
	 * anyway and the server refuses it with a reason */
	world w;
	mutls_testca *other;
	mutls_identity *stranger;
	mutls_config *ccfg;

	world_make(&w, 1);
	CHECK_OK(mutls_testca_new(&other, NULL));
	stranger = pki_issue(other, "stranger", NULL, NULL, NULL, MUTLS_PURPOSE_CLIENT, 0, 0);
	ccfg = config_with(stranger, w.pki.ca);
	CHECK_OK(mutls_config_set_versions(ccfg, v12, 1));
	pair_run(&w.p, ccfg, "orders.internal", w.scfg);
	CHECK_INT(w.p.server_rc, MUTLS_EVERIFY);
	CHECK_INT(mutls_error_reasons(mutls_session_error(w.p.server)), MUTLS_REASON_UNKNOWN_ISSUER);
	CHECK_INT(mutls_session_peer_chain_length(w.p.server), 1);
	mutls_config_unref(ccfg);
	mutls_identity_free(stranger);
	mutls_testca_free(other);
	world_free(&w);
}

/* ---- f. no Ed448 in the default priority ------------------------------- */

/* 1 when the ClientHello's signature_algorithms lists ed448 (0x0808). */
static int client_hello_offers_ed448(mutls_config *ccfg)
{
	mutls_session *c;
	const unsigned char *data, *ch;
	static unsigned char hs[16384];
	size_t len, n, chlen, pos;
	int found = 0;

	CHECK_OK(mutls_session_client(&c, ccfg, "orders.internal", -1));
	CHECK_INT(mutls_session_handshake(c), MUTLS_EWANTREAD);
	CHECK_OK(mutls_session_data_to_send(&data, &len, c));
	n = handshake_bytes(hs, sizeof(hs), data, len);
	CHECK((ch = find_message(&chlen, hs, n, 1)) != NULL);
	pos = 2 + 32;                                        /* version, random */
	pos += 1 + ch[pos];                                  /* session id */
	pos += 2 + ((size_t)ch[pos] << 8 | ch[pos + 1]);     /* cipher suites */
	pos += 1 + ch[pos];                                  /* compression */
	pos += 2;                                            /* extensions length */
	while (pos + 4 <= chlen) {
		unsigned type = (unsigned)ch[pos] << 8 | ch[pos + 1];
		size_t elen = (size_t)ch[pos + 2] << 8 | ch[pos + 3];
		if (type == 13)
			for (size_t i = pos + 6; i + 1 < pos + 4 + elen; i += 2)
				if (ch[i] == 8 && ch[i + 1] == 8)
					found = 1;
		pos += 4 + elen;
	}
	mutls_session_free(c);
	return found;
}

TEST(default_priority_leaves_out_ed448)
{
	world w;
	unsigned char dn[4096];
	size_t dn_len;
	int ed448 = -1;

	world_make(&w, 0);
	CHECK_INT(client_hello_offers_ed448(w.ccfg), 0);
	mutls_config_unref(w.ccfg);
	w.ccfg = config_with(w.pki.client_id, w.pki.ca);
	CHECK_OK(mutls_config_set_versions(w.ccfg, v12, 1));
	certificate_request(&w, &dn_len, dn, sizeof(dn), &ed448);
	CHECK_INT(ed448, 0); /* the server does not accept Ed448 CertificateVerify */
	world_free(&w);
}

TEST(explicit_priority_is_taken_as_given)
{
	world w;
	unsigned char dn[4096];
	size_t dn_len;
	int ed448 = -1;

	world_make(&w, 0);
	CHECK_OK(mutls_config_set_priority(w.ccfg, "NORMAL"));
	CHECK_INT(client_hello_offers_ed448(w.ccfg), 1);
	mutls_config_unref(w.ccfg);
	w.ccfg = config_with(w.pki.client_id, w.pki.ca);
	CHECK_OK(mutls_config_set_versions(w.ccfg, v12, 1));
	CHECK_OK(mutls_config_set_priority(w.scfg, "NORMAL"));
	certificate_request(&w, &dn_len, dn, sizeof(dn), &ed448);
	CHECK_INT(ed448, 1);
	world_free(&w);
}

/* ---- c. the alert reaches a client still sending a huge ClientHello ---- */

typedef struct {
	mutls_config *cfg;
	int listen_fd;
	int rc;
	int alert;
} refuser;

/* Accepts one connection, runs the handshake (which fails), and closes at
 * once: no lingering of its own, only what the library does. */
static void *refuse_one(void *arg)
{
	refuser *r = arg;
	mutls_session *s;
	int fd = accept(r->listen_fd, NULL, NULL);
	CHECK(fd >= 0);
	CHECK_OK(mutls_session_server(&s, r->cfg, fd));
	mutls_session_set_timeout(s, 10000);
	r->rc = mutls_session_handshake(s);
	r->alert = mutls_session_error(s) ? mutls_error_alert(mutls_session_error(s)) : -1;
	mutls_session_free(s);
	close(fd);
	return NULL;
}

TEST(alert_reaches_a_client_sending_a_16_mib_client_hello)
{
	world w;
	refuser r = { 0 };
	pthread_t th;
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	struct timeval tv = { 10, 0 };
	size_t total = (1u << 24) - 1 + 4, sent = 0; /* the largest handshake message */
	static unsigned char rec[5 + 16384];
	unsigned char reply[7];
	size_t got = 0;
	int port, fd;

	signal(SIGPIPE, SIG_IGN);
	world_make(&w, 0);
	r.cfg = w.scfg;
	r.listen_fd = listen_loopback(&port);
	pthread_create(&th, NULL, refuse_one, &r);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(getsockname(r.listen_fd, (struct sockaddr *)&a, &alen) == 0);
	CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* a ClientHello of 2^24 - 1 bytes in 16 KiB records */
	memset(rec, 0, sizeof(rec));
	while (sent < total) {
		size_t body = total - sent < 16384 ? total - sent : 16384, off = 0;
		rec[0] = 22; rec[1] = 3; rec[2] = 1;
		rec[3] = (unsigned char)(body >> 8); rec[4] = (unsigned char)body;
		if (sent == 0) {
			rec[5] = 1; rec[6] = 0xff; rec[7] = 0xff; rec[8] = 0xff;
			rec[9] = 3; rec[10] = 3;
		} else {
			memset(rec + 5, 0, 11);
		}
		while (off < 5 + body) {
			ssize_t n = send(fd, rec + off, 5 + body - off, 0);
			if (n < 0)
				testlib_fail(__FILE__, __LINE__, "send after %zu bytes: %s (the server "
					"closed while we were still sending)", sent, strerror(errno));
			off += (size_t)n;
		}
		sent += body;
	}
	while (got < sizeof(reply)) {
		ssize_t n = recv(fd, reply + got, sizeof(reply) - got, 0);
		if (n <= 0)
			testlib_fail(__FILE__, __LINE__, "no alert: recv %zd (%s)", n, n < 0 ? strerror(errno) : "EOF");
		got += (size_t)n;
	}
	pthread_join(th, NULL);
	CHECK(r.rc < 0);
	CHECK(r.alert > 0);
	CHECK_INT(reply[0], 21);            /* an alert record */
	CHECK_INT(reply[5], 2);             /* fatal */
	CHECK_INT(reply[6], r.alert);       /* the one the server reports */
	close(fd);
	close(r.listen_fd);
	world_free(&w);
}
