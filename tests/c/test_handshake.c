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


/* The error that goes with a return code, by the core's one rule (issue 16):
 * the thread's last error, else the session's, else a bare one; and the
 * session rules the bindings read (peer_ok, the error's certificate). */
TEST(error_for_a_return_code)
{
	test_pki pki;
	test_pair p;
	const mutls_error *e = NULL;
	mutls_config *ccfg, *scfg, *other;
	mutls_peer_mode m;

	pki_make(&pki);
	ccfg = config_with(pki.client_id, pki.ca);
	scfg = config_with(pki.server_id, pki.ca);
	CHECK_OK(mutls_config_add_peer_pattern(scfg, "cn:billing"));
	pair_new(&p, ccfg, "orders.internal", scfg);
	pair_handshake(&p);
	CHECK_INT(p.server_rc, MUTLS_EVERIFY);
	/* the last error matches */
	CHECK_OK(mutls_session_error_for(&e, p.server, MUTLS_EVERIFY));
	CHECK(e == mutls_error_last());
	CHECK_INT(mutls_error_code(e), MUTLS_EVERIFY);
	/* another call replaced the thread's last error: the session's */
	CHECK_INT(mutls_peer_mode_from_name(&m, "bogus"), MUTLS_ECONFIG);
	CHECK_OK(mutls_session_error_for(&e, p.server, MUTLS_EVERIFY));
	CHECK(e == mutls_session_error(p.server));
	CHECK_CONTAINS(mutls_error_message(e), "payments");
	/* neither: a bare error named by its code */
	CHECK_OK(mutls_session_error_for(&e, NULL, MUTLS_ETIMEOUT));
	CHECK_INT(mutls_error_code(e), MUTLS_ETIMEOUT);
	CHECK_STR(mutls_error_message(e), "timeout");
	CHECK_STR(mutls_error_hook_message(e), "");
	CHECK_INT(mutls_session_error_for(&e, p.server, 0), MUTLS_EUSAGE);
	CHECK(e == NULL);
	/* the error's certificate and the peer's ok */
	CHECK(mutls_session_error_certificate(p.server, MUTLS_EVERIFY) == mutls_session_peer_certificate(p.server, 0));
	CHECK(mutls_session_error_certificate(p.server, MUTLS_EUSAGE) == NULL);
	CHECK(mutls_session_error_certificate(p.server, MUTLS_ECONFIG) == NULL);
	CHECK(!mutls_session_peer_ok(p.server)); /* reasons: policy */
	CHECK(mutls_session_peer_ok(p.client));
	pair_free(&p);
	/* pinning by certificate */
	CHECK_OK(mutls_config_new(&other));
	CHECK_OK(mutls_config_add_peer_certificate(other, mutls_identity_certificate(pki.client_id)));
	CHECK_INT(mutls_config_add_peer_certificate(other, NULL), MUTLS_EUSAGE);
	mutls_config_unref(other);
	CHECK(mutls_gnutls_version() != NULL);
	mutls_config_unref(ccfg);
	mutls_config_unref(scfg);
	pki_free(&pki);
}
