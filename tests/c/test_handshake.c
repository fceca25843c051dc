/* Successful mTLS handshakes in memory: both roles verify each other; the
 * negotiated facts and the traffic are right (the trace: test_trace.c). */
#include "pair.h"

static void run_success(const char *version)
{
	test_pki pki;
	test_pair p;
	char buf[128];
	const char *versions[] = { version };
	mutls_config *ccfg, *scfg;

	pki_make(&pki);
	ccfg = config_with(pki.client_id, pki.ca);
	scfg = config_with(pki.server_id, pki.ca);
	CHECK_OK(mutls_config_set_versions(ccfg, versions, 1));
	pair_new(&p, ccfg, "orders.internal", scfg);
	pair_handshake(&p);
	CHECK_INT(p.client_rc, 0);
	CHECK_INT(p.server_rc, 0);
	CHECK_STR(mutls_session_version(p.client), strcmp(version, "1.3") == 0 ? "TLSv1.3" : "TLSv1.2");
	CHECK(mutls_session_verified(p.client));
	CHECK(mutls_session_verified(p.server));
	CHECK_INT(mutls_session_verify_reasons(p.server), 0);
	CHECK_STR(mutls_x509_label(mutls_session_peer_certificate(p.client, 0)), "CN=orders");
	CHECK_STR(mutls_x509_label(mutls_session_peer_certificate(p.server, 0)), "CN=payments");
	CHECK_STR(mutls_session_server_name(p.server), "orders.internal");
	CHECK(mutls_session_cipher(p.client) != NULL);
	CHECK_STR(mutls_session_cipher(p.client), mutls_session_cipher(p.server));
	CHECK_INT(pair_transfer(p.client, p.server, "hello orders", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "hello orders");
	CHECK_INT(pair_transfer(p.server, p.client, "hello payments", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "hello payments");
	pair_free(&p);
	mutls_config_unref(ccfg);
	mutls_config_unref(scfg);
	pki_free(&pki);
}

TEST(success_tls13) { run_success("1.3"); }
TEST(success_tls12) { run_success("1.2"); }

