/* Every verification reason from a real in-memory handshake: the refusing
 * side's code, reasons, side, step and alert, and what the refused peer
 * receives. */
#include "pair.h"

#include <time.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <gnutls/abstract.h>

#define DAY 86400

static void expect_error(const mutls_session *s, int code, unsigned reasons,
	mutls_side side, mutls_step step, int alert)
{
	const mutls_error *e = mutls_session_error(s);
	if (!e)
		testlib_fail(__FILE__, __LINE__, "%s: expected %s, but no error",
			mutls_session_is_server(s) ? "server" : "client", mutls_code_name(code));
	printf("\n    %s: [%s] %s ", mutls_session_is_server(s) ? "server" : "client",
		mutls_code_name(mutls_error_code(e)), mutls_error_message(e));
	CHECK_STR(mutls_code_name(mutls_error_code(e)), mutls_code_name(code));
	CHECK_INT(mutls_error_reasons(e), reasons);
	CHECK_STR(mutls_side_name(mutls_error_side(e)), mutls_side_name(side));
	CHECK_STR(mutls_step_name(mutls_error_step(e)), mutls_step_name(step));
	CHECK_INT(mutls_error_alert(e), alert);
}

/* The client refuses the server: its code/reasons; the server sees the alert. */
static void expect_client_refuses(fixture *f, unsigned reasons, int alert, const char *fragment)
{
	expect_error(f->p.client, MUTLS_EVERIFY, reasons, MUTLS_SIDE_LOCAL,
		MUTLS_STEP_SERVER_CERTIFICATE, alert);
	CHECK_CONTAINS(session_message(f->p.client), "server certificate CN=");
	CHECK_CONTAINS(session_message(f->p.client), fragment);
	CHECK_INT(mutls_session_verified(f->p.client), 0);
	CHECK(mutls_session_peer_chain_length(f->p.client) >= 1);
	CHECK(session_code(f->p.server) == MUTLS_EPEERREJECTED);
	CHECK_INT(mutls_error_alert(mutls_session_error(f->p.server)), alert);
	CHECK_INT(mutls_error_side(mutls_session_error(f->p.server)), MUTLS_SIDE_PEER);
}

static void expect_server_refuses(fixture *f, int code, unsigned reasons, int alert, const char *fragment)
{
	expect_error(f->p.server, code, reasons, MUTLS_SIDE_LOCAL, MUTLS_STEP_CLIENT_CERTIFICATE, alert);
	CHECK_CONTAINS(session_message(f->p.server), fragment);
	/* the client hears it: in TLS 1.3 on its first read after the handshake */
	CHECK_INT(session_code(f->p.client), MUTLS_EPEERREJECTED);
	CHECK_INT(mutls_error_alert(mutls_session_error(f->p.client)), alert);
	CHECK_INT(mutls_error_side(mutls_session_error(f->p.client)), MUTLS_SIDE_PEER);
}

/* Standard configs; the server identity replaced by server_id when given. */
static void setup(fixture *f, mutls_identity *server_id, mutls_identity *client_id)
{
	pki_make(&f->pki);
	f->ccfg = config_with(client_id ? client_id : f->pki.client_id, f->pki.ca);
	f->scfg = config_with(server_id ? server_id : f->pki.server_id, f->pki.ca);
}

static void run(fixture *f, const char *hostname)
{
	pair_run(&f->p, f->ccfg, hostname, f->scfg);
}

TEST(server_expired)
{
	fixture f;
	mutls_testca *ca;
	mutls_identity *id;
	pki_make(&f.pki);
	ca = f.pki.ca;
	id = pki_issue(ca, "orders", "orders.internal", NULL, NULL, MUTLS_PURPOSE_SERVER, -30 * DAY, -DAY);
	f.ccfg = config_with(f.pki.client_id, ca);
	f.scfg = config_with(id, ca);
	run(&f, "orders.internal");
	expect_client_refuses(&f, MUTLS_REASON_EXPIRED, 45, "expired at ");
	CHECK_INT(mutls_error_reasons(mutls_session_error(f.p.server)), MUTLS_REASON_EXPIRED);
	mutls_identity_free(id);
	fixture_free(&f);
}

TEST(server_not_yet_valid)
{
	fixture f;
	mutls_identity *id;
	pki_make(&f.pki);
	id = pki_issue(f.pki.ca, "orders", "orders.internal", NULL, NULL, MUTLS_PURPOSE_SERVER, DAY, 30 * DAY);
	f.ccfg = config_with(f.pki.client_id, f.pki.ca);
	f.scfg = config_with(id, f.pki.ca);
	run(&f, "orders.internal");
	expect_client_refuses(&f, MUTLS_REASON_NOT_YET_VALID, 42, "is not valid until ");
	mutls_identity_free(id);
	fixture_free(&f);
}

TEST(server_wrong_dns_name)
{
	fixture f;
	setup(&f, NULL, NULL);
	run(&f, "billing.internal");
	expect_client_refuses(&f, MUTLS_REASON_NAME_MISMATCH, 42,
		"does not match the name \"billing.internal\" (it names DNS:orders.internal, DNS:localhost, IP:127.0.0.1, IP:::1)");
	fixture_free(&f);
}

TEST(server_ip_literal_matches_ip_san)
{
	fixture f;
	setup(&f, NULL, NULL);
	run(&f, "127.0.0.1");
	CHECK_INT(f.p.client_rc, 0);
	CHECK_INT(f.p.server_rc, 0);
	CHECK(mutls_session_verified(f.p.client));
	/* no SNI for an IP literal */
	CHECK(mutls_session_server_name(f.p.server) == NULL);
	fixture_free(&f);
}

TEST(server_wrong_ip)
{
	fixture f;
	setup(&f, NULL, NULL);
	run(&f, "10.1.2.3");
	expect_client_refuses(&f, MUTLS_REASON_NAME_MISMATCH, 42, "\"10.1.2.3\"");
	fixture_free(&f);
}

TEST(ip_literal_never_matches_dns_san)
{
	/* a DNS SAN spelled like an address is not an IP SAN */
	fixture f;
	mutls_identity *id;
	pki_make(&f.pki);
	id = pki_issue(f.pki.ca, "127.0.0.1", "127.0.0.1", NULL, NULL, MUTLS_PURPOSE_SERVER, 0, 0);
	f.ccfg = config_with(f.pki.client_id, f.pki.ca);
	f.scfg = config_with(id, f.pki.ca);
	run(&f, "127.0.0.1");
	expect_client_refuses(&f, MUTLS_REASON_NAME_MISMATCH, 42, "it names DNS:127.0.0.1");
	mutls_identity_free(id);
	fixture_free(&f);
}

TEST(server_unknown_issuer)
{
	fixture f;
	mutls_testca *other;
	pki_make(&f.pki);
	CHECK_OK(mutls_testca_new(&other, NULL));
	f.ccfg = config_with(f.pki.client_id, other);
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	run(&f, "orders.internal");
	expect_client_refuses(&f, MUTLS_REASON_UNKNOWN_ISSUER, 48, "was issued by an unknown CA (issuer CN=mutls test root)");
	mutls_testca_free(other);
	fixture_free(&f);
}

TEST(server_intermediate_missing)
{
	fixture f;
	mutls_testca *inter;
	mutls_identity *id;
	mutls_config *scfg;
	pki_make(&f.pki);
	CHECK_OK(mutls_testca_intermediate(&inter, f.pki.ca, NULL));
	id = pki_issue(inter, "orders", "orders.internal", NULL, NULL, MUTLS_PURPOSE_SERVER, 0, 0);
	CHECK_INT(mutls_identity_chain_length(id), 2);
	/* the server presents its leaf alone */
	CHECK_OK(mutls_config_new(&scfg));
	CHECK_OK(mutls_config_set_identity(scfg, mutls_identity_cert_pem(id), mutls_identity_key_pem(id), NULL));
	CHECK_OK(mutls_config_add_trust(scfg, mutls_testca_cert_pem(f.pki.ca)));
	f.scfg = scfg;
	f.ccfg = config_with(f.pki.client_id, f.pki.ca);
	run(&f, "orders.internal");
	expect_client_refuses(&f, MUTLS_REASON_UNKNOWN_ISSUER, 48, "unknown CA");
	mutls_identity_free(id);
	mutls_testca_free(inter);
	fixture_free(&f);
}

TEST(server_intermediate_present_succeeds)
{
	fixture f;
	mutls_testca *inter;
	mutls_identity *id;
	pki_make(&f.pki);
	CHECK_OK(mutls_testca_intermediate(&inter, f.pki.ca, NULL));
	id = pki_issue(inter, "orders", "orders.internal", NULL, NULL, MUTLS_PURPOSE_SERVER, 0, 0);
	f.scfg = config_with(id, f.pki.ca);
	f.ccfg = config_with(f.pki.client_id, f.pki.ca);
	run(&f, "orders.internal");
	CHECK_INT(f.p.client_rc, 0);
	CHECK_INT(f.p.server_rc, 0);
	CHECK_INT(mutls_session_peer_chain_length(f.p.client), 2);
	mutls_identity_free(id);
	mutls_testca_free(inter);
	fixture_free(&f);
}

TEST(server_intermediate_not_a_ca)
{
	fixture f;
	mutls_testca *inter;
	mutls_testca_options o = MUTLS_TESTCA_OPTIONS_INIT;
	mutls_identity *id;
	pki_make(&f.pki);
	o.flags = MUTLS_CA_NOT_A_CA;
	CHECK_OK(mutls_testca_intermediate(&inter, f.pki.ca, &o));
	id = pki_issue(inter, "orders", "orders.internal", NULL, NULL, MUTLS_PURPOSE_SERVER, 0, 0);
	f.scfg = config_with(id, f.pki.ca);
	f.ccfg = config_with(f.pki.client_id, f.pki.ca);
	run(&f, "orders.internal");
	expect_client_refuses(&f, MUTLS_REASON_SIGNER_NOT_CA, 48, "not a CA");
	mutls_identity_free(id);
	mutls_testca_free(inter);
	fixture_free(&f);
}

TEST(server_certificate_used_as_client)
{
	/* a server-only certificate presented by a client */
	fixture f;
	pki_make(&f.pki);
	f.ccfg = config_with(f.pki.server_id, f.pki.ca);
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	run(&f, "orders.internal");
	expect_server_refuses(&f, MUTLS_EVERIFY, MUTLS_REASON_BAD_PURPOSE, 43,
		"client certificate CN=orders may not be used for TLS client authentication");
	fixture_free(&f);
}

TEST(client_certificate_used_as_server)
{
	fixture f;
	mutls_identity *id;
	pki_make(&f.pki);
	id = pki_issue(f.pki.ca, "orders", "orders.internal", NULL, NULL, MUTLS_PURPOSE_CLIENT, 0, 0);
	f.ccfg = config_with(f.pki.client_id, f.pki.ca);
	f.scfg = config_with(id, f.pki.ca);
	run(&f, "orders.internal");
	expect_client_refuses(&f, MUTLS_REASON_BAD_PURPOSE, 43, "TLS server authentication");
	mutls_identity_free(id);
	fixture_free(&f);
}

TEST(client_revoked_by_crl)
{
	fixture f;
	char *crl = NULL;
	pki_make(&f.pki);
	CHECK_OK(mutls_testca_revoke(f.pki.ca, mutls_identity_certificate(f.pki.client_id)));
	CHECK_OK(mutls_testca_crl_pem(&crl, f.pki.ca));
	f.ccfg = config_with(f.pki.client_id, f.pki.ca);
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	CHECK_OK(mutls_config_add_crl(f.scfg, crl));
	run(&f, "orders.internal");
	expect_server_refuses(&f, MUTLS_EVERIFY, MUTLS_REASON_REVOKED, 44, "has been revoked (serial ");
	CHECK_INT(mutls_error_reasons(mutls_session_error(f.p.client)), MUTLS_REASON_REVOKED);
	mutls_free(crl);
	fixture_free(&f);
}

TEST(client_from_another_ca)
{
	fixture f;
	mutls_testca *other;
	mutls_identity *id;
	pki_make(&f.pki);
	CHECK_OK(mutls_testca_new(&other, NULL));
	id = pki_issue(other, "payments", NULL, NULL, "spiffe://example.org/payments", MUTLS_PURPOSE_CLIENT, 0, 0);
	f.ccfg = config_with(id, f.pki.ca);
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	run(&f, "orders.internal");
	/* sent although the server's CA list does not name its issuer */
	CHECK_INT(mutls_session_peer_chain_length(f.p.server), 1);
	expect_server_refuses(&f, MUTLS_EVERIFY, MUTLS_REASON_UNKNOWN_ISSUER, 48,
		"client certificate CN=payments was issued by an unknown CA");
	mutls_identity_free(id);
	mutls_testca_free(other);
	fixture_free(&f);
}

TEST(client_self_signed_rogue)
{
	fixture f;
	mutls_testca *rogue;
	mutls_testca_options o = MUTLS_TESTCA_OPTIONS_INIT;
	pki_make(&f.pki);
	o.name = "payments";
	CHECK_OK(mutls_testca_new(&rogue, &o));
	CHECK_OK(mutls_config_new(&f.ccfg));
	CHECK_OK(mutls_config_set_identity(f.ccfg, mutls_testca_cert_pem(rogue), mutls_testca_key_pem(rogue), NULL));
	CHECK_OK(mutls_config_add_trust(f.ccfg, mutls_testca_cert_pem(f.pki.ca)));
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	run(&f, "orders.internal");
	CHECK(session_code(f.p.server) == MUTLS_EVERIFY);
	CHECK(mutls_error_reasons(mutls_session_error(f.p.server)) & MUTLS_REASON_UNKNOWN_ISSUER);
	CHECK_CONTAINS(session_message(f.p.server), "client certificate CN=payments was issued by an unknown CA");
	CHECK_INT(session_code(f.p.client), MUTLS_EPEERREJECTED);
	mutls_testca_free(rogue);
	fixture_free(&f);
}

static void no_client_cert(const char *version, int alert)
{
	fixture f;
	const char *versions[] = { version };
	pki_make(&f.pki);
	f.ccfg = config_with(NULL, f.pki.ca);
	CHECK_OK(mutls_config_set_versions(f.ccfg, versions, 1));
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	run(&f, "orders.internal");
	expect_error(f.p.server, MUTLS_ENOCERT, 0, MUTLS_SIDE_LOCAL, MUTLS_STEP_CLIENT_CERTIFICATE, alert);
	CHECK_STR(session_message(f.p.server), "client presented no certificate, but one is required");
	expect_error(f.p.client, MUTLS_EPEERREJECTED, 0, MUTLS_SIDE_PEER, MUTLS_STEP_CLIENT_CERTIFICATE, alert);
	CHECK_CONTAINS(session_message(f.p.client), "peer required a certificate, but we sent none");
	fixture_free(&f);
}

TEST(no_client_certificate_tls13) { no_client_cert("1.3", 116); }
TEST(no_client_certificate_tls12) { no_client_cert("1.2", 40); }

TEST(no_client_certificate_requested)
{
	fixture f;
	pki_make(&f.pki);
	f.ccfg = config_with(NULL, f.pki.ca);
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	CHECK_OK(mutls_config_set_peer_certificate(f.scfg, MUTLS_PEER_REQUEST));
	run(&f, "orders.internal");
	CHECK_INT(f.p.client_rc, 0);
	CHECK_INT(f.p.server_rc, 0);
	CHECK_INT(mutls_session_peer_chain_length(f.p.server), 0);
	CHECK_INT(mutls_session_verified(f.p.server), 0);
	fixture_free(&f);
}

TEST(requested_client_certificate_still_verified)
{
	fixture f;
	mutls_testca *other;
	mutls_identity *id;
	pki_make(&f.pki);
	CHECK_OK(mutls_testca_new(&other, NULL));
	id = pki_issue(other, "payments", NULL, NULL, NULL, MUTLS_PURPOSE_CLIENT, 0, 0);
	f.ccfg = config_with(id, f.pki.ca);
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	CHECK_OK(mutls_config_set_peer_certificate(f.scfg, MUTLS_PEER_REQUEST));
	run(&f, "orders.internal");
	expect_server_refuses(&f, MUTLS_EVERIFY, MUTLS_REASON_UNKNOWN_ISSUER, 48, "unknown CA");
	mutls_identity_free(id);
	mutls_testca_free(other);
	fixture_free(&f);
}

/* peer_certificate=observe: the server lets a client whose certificate
 * failed the checks in, unverified, with the verdict that a refusal would
 * have given; a verify hook's refusal still refuses; clients cannot use it. */
static int reject_all(mutls_session *s, void *payload, char *reason, size_t cap)
{
	(void)s;
	(void)payload;
	snprintf(reason, cap, "nobody today");
	return MUTLS_HOOK_REJECT;
}

TEST(observe_lets_a_failed_client_in_unverified)
{
	fixture f;
	mutls_testca *other;
	mutls_identity *id;
	mutls_session *c;
	mutls_config *observer;
	char buf[64];

	pki_make(&f.pki);
	CHECK_OK(mutls_testca_new(&other, NULL));
	id = pki_issue(other, "payments", NULL, NULL, NULL, MUTLS_PURPOSE_CLIENT, 0, 0);
	f.ccfg = config_with(id, f.pki.ca);
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	CHECK_OK(mutls_config_set_peer_certificate(f.scfg, MUTLS_PEER_OBSERVE));
	CHECK_INT(mutls_config_peer_certificate(f.scfg), MUTLS_PEER_OBSERVE);
	CHECK_OK(mutls_config_add_peer_pattern(f.scfg, "uri:spiffe://example.org/*"));
	run(&f, "orders.internal");
	CHECK_INT(f.p.client_rc, 0);
	CHECK_INT(f.p.server_rc, 0);
	CHECK(mutls_session_error(f.p.server) == NULL);
	CHECK(mutls_session_error(f.p.client) == NULL);
	CHECK_INT(mutls_session_verified(f.p.server), 0);
	CHECK_INT(mutls_session_verify_reasons(f.p.server), MUTLS_REASON_UNKNOWN_ISSUER | MUTLS_REASON_POLICY);
	CHECK_CONTAINS(mutls_session_verify_message(f.p.server), "client certificate CN=payments");
	CHECK_CONTAINS(mutls_session_verify_message(f.p.server), "unknown CA");
	CHECK_INT(mutls_session_peer_chain_length(f.p.server), 1);
	CHECK_INT(pair_transfer(f.p.client, f.p.server, "observed", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "observed");

	/* a verify hook's refusal is a decision: it still refuses */
	pair_free(&f.p);
	mutls_config_unref(f.scfg);
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	CHECK_OK(mutls_config_set_peer_certificate(f.scfg, MUTLS_PEER_OBSERVE));
	CHECK_OK(mutls_config_set_verify_hook(f.scfg, reject_all, NULL, NULL));
	run(&f, "orders.internal");
	expect_server_refuses(&f, MUTLS_EVERIFY, MUTLS_REASON_UNKNOWN_ISSUER | MUTLS_REASON_HOOK, 48,
		"nobody today");

	/* an anonymous client is let in too, and a client session cannot observe */
	pair_free(&f.p);
	mutls_config_unref(f.scfg);
	mutls_config_unref(f.ccfg);
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	CHECK_OK(mutls_config_set_peer_certificate(f.scfg, MUTLS_PEER_OBSERVE));
	f.ccfg = config_with(NULL, f.pki.ca);
	run(&f, "orders.internal");
	CHECK_INT(f.p.server_rc, 0);
	CHECK_INT(mutls_session_verified(f.p.server), 0);
	CHECK_STR(mutls_session_verify_message(f.p.server),
		"client presented no certificate (allowed: peer_certificate=observe)");
	observer = config_with(f.pki.client_id, f.pki.ca);
	CHECK_OK(mutls_config_set_peer_certificate(observer, MUTLS_PEER_OBSERVE));
	CHECK_INT(mutls_session_client(&c, observer, "orders.internal", -1), MUTLS_EUSAGE);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "peer_certificate=observe is for servers");
	mutls_config_unref(observer);
	mutls_identity_free(id);
	mutls_testca_free(other);
	fixture_free(&f);
}

TEST(peer_certificate_none)
{
	/* the server does not ask; the client does not verify (wrong trust) */
	fixture f;
	mutls_testca *other;
	pki_make(&f.pki);
	CHECK_OK(mutls_testca_new(&other, NULL));
	f.ccfg = config_with(f.pki.client_id, other);
	CHECK_OK(mutls_config_set_peer_certificate(f.ccfg, MUTLS_PEER_NONE));
	f.scfg = config_with(f.pki.server_id, NULL);
	CHECK_OK(mutls_config_set_peer_certificate(f.scfg, MUTLS_PEER_NONE));
	pair_run(&f.p, f.ccfg, NULL, f.scfg);
	CHECK_INT(f.p.client_rc, 0);
	CHECK_INT(f.p.server_rc, 0);
	CHECK_INT(mutls_session_verified(f.p.client), 0);
	CHECK_INT(mutls_session_peer_chain_length(f.p.server), 0);
	mutls_testca_free(other);
	fixture_free(&f);
}

/* A server certificate made with GnuTLS directly from the test CA's key,
 * for what the test PKI will not make: a SHA-1 signature, or a raw
 * extension (oid, DER) such as a malformed one. */
static char *custom_leaf_ext(mutls_testca *ca, char **key_pem, gnutls_digest_algorithm_t digest,
	const char *ext_oid, const void *ext_der, size_t ext_len, unsigned critical);

static char *custom_leaf(mutls_testca *ca, char **key_pem, gnutls_digest_algorithm_t digest,
	const char *ext_oid, const void *ext_der, size_t ext_len)
{
	return custom_leaf_ext(ca, key_pem, digest, ext_oid, ext_der, ext_len, 0);
}

/* ... with the extension marked critical when critical. */
static char *custom_leaf_ext(mutls_testca *ca, char **key_pem, gnutls_digest_algorithm_t digest,
	const char *ext_oid, const void *ext_der, size_t ext_len, unsigned critical)
{
	gnutls_x509_crt_t crt, ca_crt;
	gnutls_x509_privkey_t key, ca_key;
	gnutls_datum_t d, out;
	const char *dns = "orders.internal";
	unsigned char serial[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	char *pem;
	time_t now = time(NULL);

	CHECK(gnutls_x509_crt_init(&ca_crt) == 0);
	d.data = (unsigned char *)mutls_testca_cert_pem(ca);
	d.size = (unsigned)strlen((char *)d.data);
	CHECK(gnutls_x509_crt_import(ca_crt, &d, GNUTLS_X509_FMT_PEM) == 0);
	CHECK(gnutls_x509_privkey_init(&ca_key) == 0);
	d.data = (unsigned char *)mutls_testca_key_pem(ca);
	d.size = (unsigned)strlen((char *)d.data);
	CHECK(gnutls_x509_privkey_import(ca_key, &d, GNUTLS_X509_FMT_PEM) == 0);
	CHECK(gnutls_x509_privkey_init(&key) == 0);
	CHECK(gnutls_x509_privkey_generate2(key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0, NULL, 0) == 0);
	CHECK(gnutls_x509_crt_init(&crt) == 0);
	gnutls_x509_crt_set_version(crt, 3);
	gnutls_x509_crt_set_serial(crt, serial, sizeof(serial));
	gnutls_x509_crt_set_activation_time(crt, now - 3600);
	gnutls_x509_crt_set_expiration_time(crt, now + 86400);
	gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "orders", 6);
	gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, dns, (unsigned)strlen(dns), GNUTLS_FSAN_SET);
	gnutls_x509_crt_set_key(crt, key);
	if (ext_oid) {
		gnutls_datum_t ext = { (unsigned char *)ext_der, (unsigned)ext_len };
		CHECK(gnutls_x509_crt_set_extension_by_oid(crt, ext_oid, ext.data, ext.size, critical) == 0);
	}
	CHECK(gnutls_x509_crt_sign2(crt, ca_crt, ca_key, digest, 0) == 0);
	CHECK(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out) == 0);
	pem = strndup((char *)out.data, out.size);
	gnutls_free(out.data);
	CHECK(gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &out) == 0);
	*key_pem = strndup((char *)out.data, out.size);
	gnutls_free(out.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_crt_deinit(ca_crt);
	gnutls_x509_privkey_deinit(key);
	gnutls_x509_privkey_deinit(ca_key);
	return pem;
}

TEST(server_insecure_algorithm)
{
	fixture f;
	char *key = NULL, *cert;
	pki_make(&f.pki);
	cert = custom_leaf(f.pki.ca, &key, GNUTLS_DIG_SHA1, NULL, NULL, 0);
	CHECK_OK(mutls_config_new(&f.scfg));
	CHECK_OK(mutls_config_set_identity(f.scfg, cert, key, NULL));
	CHECK_OK(mutls_config_add_trust(f.scfg, mutls_testca_cert_pem(f.pki.ca)));
	f.ccfg = config_with(f.pki.client_id, f.pki.ca);
	run(&f, "orders.internal");
	expect_client_refuses(&f, MUTLS_REASON_INSECURE_ALGORITHM, 42, "insecure algorithm");
	free(cert);
	free(key);
	fixture_free(&f);
}

TEST(several_reasons_at_once)
{
	fixture f;
	mutls_identity *id;
	pki_make(&f.pki);
	id = pki_issue(f.pki.ca, "orders", "orders.internal", NULL, NULL, MUTLS_PURPOSE_SERVER, -30 * DAY, -DAY);
	f.ccfg = config_with(f.pki.client_id, f.pki.ca);
	f.scfg = config_with(id, f.pki.ca);
	run(&f, "billing.internal");
	expect_client_refuses(&f, MUTLS_REASON_EXPIRED | MUTLS_REASON_NAME_MISMATCH, 45,
		" and does not match the name");
	mutls_identity_free(id);
	fixture_free(&f);
}

static mutls_identity *bad_usage_leaf(mutls_testca *ca)
{
	mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
	const char *dns = "orders.internal";
	mutls_identity *id;
	o.cn = "orders";
	o.dns = &dns;
	o.dns_count = 1;
	o.purpose = MUTLS_PURPOSE_SERVER;
	o.flags = MUTLS_ISSUE_BAD_KEY_USAGE;
	CHECK_OK(mutls_testca_issue(&id, ca, &o));
	return id;
}

TEST(key_usage_without_signature_is_bad_purpose)
{
	/* GnuTLS refuses to sign with such a key, so the peer never sees it in a
	 * handshake: checked offline, and the would-be server is told why */
	fixture f;
	mutls_identity *id;
	unsigned reasons = 0;
	pki_make(&f.pki);
	id = bad_usage_leaf(f.pki.ca);
	f.ccfg = config_with(f.pki.client_id, f.pki.ca);
	CHECK_INT(mutls_x509_verify(&reasons, mutls_identity_certificate(id), NULL, 0, f.ccfg,
		"orders.internal", MUTLS_PURPOSE_SERVER), MUTLS_EVERIFY);
	CHECK_INT(reasons, MUTLS_REASON_BAD_PURPOSE);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "key usage does not allow digital signatures");
	f.scfg = config_with(id, f.pki.ca);
	run(&f, "orders.internal");
	CHECK_INT(session_code(f.p.server), MUTLS_ECONFIG);
	CHECK_CONTAINS(session_message(f.p.server), "our certificate CN=orders may not sign the handshake");
	CHECK(session_code(f.p.client) != 0);
	mutls_identity_free(id);
	fixture_free(&f);
}

TEST(offline_verify_matches_handshake)
{
	test_pki pki;
	mutls_config *trust;
	mutls_identity *expired;
	unsigned reasons = 99;
	pki_make(&pki);
	trust = config_with(NULL, pki.ca);
	CHECK_OK(mutls_x509_verify(&reasons, mutls_identity_certificate(pki.server_id), NULL, 0,
		trust, "orders.internal", MUTLS_PURPOSE_SERVER));
	CHECK_INT(reasons, 0);
	CHECK_INT(mutls_x509_verify(&reasons, mutls_identity_certificate(pki.server_id), NULL, 0,
		trust, "orders.internal", MUTLS_PURPOSE_CLIENT), MUTLS_EVERIFY);
	CHECK_INT(reasons, MUTLS_REASON_BAD_PURPOSE);
	expired = pki_issue(pki.ca, "old", "old.internal", NULL, NULL, MUTLS_PURPOSE_BOTH, -10 * DAY, -DAY);
	CHECK_INT(mutls_x509_verify(&reasons, mutls_identity_certificate(expired), NULL, 0,
		trust, "new.internal", MUTLS_PURPOSE_ANY), MUTLS_EVERIFY);
	CHECK_INT(reasons, MUTLS_REASON_EXPIRED | MUTLS_REASON_NAME_MISMATCH);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "certificate CN=old expired at ");
	mutls_identity_free(expired);
	mutls_config_unref(trust);
	pki_free(&pki);
}

TEST(malformed_extended_key_usage_is_bad_purpose)
{
	/* found by fuzz_server: a broken EKU made the purpose check loop */
	static const unsigned char garbage[] = { 0x30, 0x05, 0x06, 0x07, 0x2b, 0x06 };
	test_pki pki;
	mutls_config *trust;
	mutls_x509 *cert;
	char *key = NULL, *pem;
	unsigned reasons = 0;
	pki_make(&pki);
	pem = custom_leaf(pki.ca, &key, GNUTLS_DIG_SHA256, "2.5.29.37", garbage, sizeof(garbage));
	CHECK_OK(mutls_x509_from_pem(&cert, pem, 0));
	trust = config_with(NULL, pki.ca);
	CHECK_INT(mutls_x509_verify(&reasons, cert, NULL, 0, trust, NULL, MUTLS_PURPOSE_SERVER), MUTLS_EVERIFY);
	CHECK(reasons & MUTLS_REASON_BAD_PURPOSE);
	mutls_x509_unref(cert);
	mutls_config_unref(trust);
	free(pem);
	free(key);
	pki_free(&pki);
}

TEST(server_wrong_name_tls12_refusal_reaches_server)
{
	/* a TLS 1.2 server waiting for the client's Certificate gets the
	 * client's alert instead: a refusal, not a missing certificate */
	fixture f;
	const char *v[] = { "1.2" };
	setup(&f, NULL, NULL);
	CHECK_OK(mutls_config_set_versions(f.ccfg, v, 1));
	run(&f, "billing.internal");
	expect_client_refuses(&f, MUTLS_REASON_NAME_MISMATCH, 42, "does not match the name");
	CHECK_STR(session_message(f.p.server), "peer rejected our certificate (alert bad_certificate)");
	fixture_free(&f);
}

/* ---- weak keys (issue 11, defect 1) ----------------------------------------
 * A key under GnuTLS's MEDIUM profile (RSA/DSA < 2048 bits, P-192) anywhere
 * in the chain (leaf, intermediate, trust anchor) is refused as
 * insecure-algorithm, in both roles and both versions, and offline. Where
 * TLS 1.3 itself cannot use the leaf's key (RSA-512 is too small for
 * RSA-PSS; DSA has no TLS 1.3 signature scheme) the weak side fails its
 * own handshake: then it is enough that nothing is accepted. */

enum weak_at { WEAK_LEAF, WEAK_INTERMEDIATE, WEAK_ROOT };

typedef struct {
	mutls_testca *root, *inter; /* inter: NULL unless WEAK_INTERMEDIATE */
	mutls_identity *id;          /* the weak side's identity */
	test_pki good;               /* the other side (its own root) */
} weak_pki;

static void weak_pki_make(weak_pki *w, mutls_key_type weak, enum weak_at at, int server)
{
	mutls_testca_options ro = MUTLS_TESTCA_OPTIONS_INIT, io = MUTLS_TESTCA_OPTIONS_INIT;
	mutls_issue_options lo = MUTLS_ISSUE_OPTIONS_INIT;
	const char *dns[] = { "orders.internal" };
	const char *uri[] = { "spiffe://example.org/payments" };

	memset(w, 0, sizeof(*w));
	pki_make(&w->good);
	ro.name = "weak test root";
	if (at == WEAK_ROOT)
		ro.key_type = weak;
	CHECK_OK(mutls_testca_new(&w->root, &ro));
	if (at == WEAK_INTERMEDIATE) {
		io.name = "weak test intermediate";
		io.key_type = weak;
		CHECK_OK(mutls_testca_intermediate(&w->inter, w->root, &io));
	}
	lo.cn = server ? "orders" : "payments";
	if (server) {
		lo.dns = dns;
		lo.dns_count = 1;
	} else {
		lo.uri = uri;
		lo.uri_count = 1;
	}
	lo.purpose = server ? MUTLS_PURPOSE_SERVER : MUTLS_PURPOSE_CLIENT;
	if (at == WEAK_LEAF)
		lo.key_type = weak;
	CHECK_OK(mutls_testca_issue(&w->id, w->inter ? w->inter : w->root, &lo));
}

static void weak_pki_free(weak_pki *w)
{
	mutls_identity_free(w->id);
	mutls_testca_free(w->inter);
	mutls_testca_free(w->root);
	pki_free(&w->good);
}

static const char *const weak_fragment[] = {
	[MUTLS_KEY_RSA512] = "RSA key of 512 bits; at least 2048 are required",
	[MUTLS_KEY_RSA1024] = "RSA key of 1024 bits; at least 2048 are required",
	[MUTLS_KEY_DSA1024] = "DSA key of 1024 bits; at least 2048 are required",
	[MUTLS_KEY_P192] = "ECDSA key on SECP192R1 (192 bits); at least 224 are required",
};

static const char *key_type_name(mutls_key_type t)
{
	return t == MUTLS_KEY_RSA512 ? "rsa512" : t == MUTLS_KEY_RSA1024 ? "rsa1024" :
		t == MUTLS_KEY_DSA1024 ? "dsa1024" : t == MUTLS_KEY_P192 ? "p192" : "other";
}

static void weak_case(mutls_key_type weak, enum weak_at at, int server, const char *version)
{
	weak_pki w;
	mutls_config *weak_cfg, *good_cfg, *ccfg, *scfg;
	test_pair p;
	const char *versions[] = { version };
	mutls_session *verifier, *weak_side;
	const mutls_error *e;
	static const char *const where[] = { "leaf", "intermediate", "root" };

	weak_pki_make(&w, weak, at, server);
	weak_cfg = config_with(w.id, w.good.ca);
	good_cfg = config_with(server ? w.good.client_id : w.good.server_id, NULL);
	CHECK_OK(mutls_config_add_trust(good_cfg, mutls_testca_cert_pem(w.root)));
	CHECK_OK(mutls_config_set_versions(weak_cfg, versions, 1));
	CHECK_OK(mutls_config_set_versions(good_cfg, versions, 1));
	ccfg = server ? good_cfg : weak_cfg;
	scfg = server ? weak_cfg : good_cfg;
	pair_run(&p, ccfg, "orders.internal", scfg);
	verifier = server ? p.client : p.server;
	weak_side = server ? p.server : p.client;
	printf("\n    %s %s as %s, TLS %s: verifier [%s] %s", key_type_name(weak),
		server ? "server" : "client", where[at], version,
		mutls_code_name(session_code(verifier)), session_message(verifier));
	/* never accepted */
	CHECK(session_code(verifier) != 0 || session_code(weak_side) != 0);
	CHECK_INT(mutls_session_verified(verifier), 0);
	e = mutls_session_error(verifier);
	if (at == WEAK_LEAF && (weak == MUTLS_KEY_DSA1024 || (strcmp(version, "1.3") == 0 &&
	    (weak == MUTLS_KEY_RSA512 || weak == MUTLS_KEY_P192)))) {
		/* the weak side cannot sign with its key (no DSA in the default
		 * priority; TLS 1.3 has no scheme for P-192 and RSA-512 is too small
		 * for RSA-PSS): refused before any chain check, by either side */
		CHECK(!e || mutls_error_code(e) != MUTLS_EVERIFY ||
			mutls_error_reasons(e) == MUTLS_REASON_INSECURE_ALGORITHM);
	} else {
		CHECK(e != NULL);
		CHECK_STR(mutls_code_name(mutls_error_code(e)), "verify-failed");
		CHECK_INT(mutls_error_reasons(e), MUTLS_REASON_INSECURE_ALGORITHM);
		CHECK_INT(mutls_error_step(e), server ? MUTLS_STEP_SERVER_CERTIFICATE :
			MUTLS_STEP_CLIENT_CERTIFICATE);
		CHECK_INT(mutls_error_alert(e), 42);
		CHECK_CONTAINS(mutls_error_message(e), server ? "server certificate CN=orders" :
			"client certificate CN=payments");
		CHECK_CONTAINS(mutls_error_message(e), weak_fragment[weak]);
		CHECK_CONTAINS(mutls_error_message(e), at == WEAK_ROOT ? "trusted CA CN=weak test root" :
			at == WEAK_INTERMEDIATE ? "CA certificate CN=weak test intermediate" : " has a");
	}
	pair_free(&p);
	mutls_config_unref(weak_cfg);
	mutls_config_unref(good_cfg);
	weak_pki_free(&w);
}

static void weak_matrix(mutls_key_type weak)
{
	for (int at = WEAK_LEAF; at <= WEAK_ROOT; at++)
		for (int server = 0; server <= 1; server++) {
			weak_case(weak, (enum weak_at)at, server, "1.2");
			weak_case(weak, (enum weak_at)at, server, "1.3");
		}
}

/* a weak key in the chain is one of possibly several reasons, but never absent */
TEST(weak_key_rsa512) { weak_matrix(MUTLS_KEY_RSA512); }
TEST(weak_key_rsa1024) { weak_matrix(MUTLS_KEY_RSA1024); }
TEST(weak_key_dsa1024) { weak_matrix(MUTLS_KEY_DSA1024); }
TEST(weak_key_p192) { weak_matrix(MUTLS_KEY_P192); }

/* Offline: the same check, for each weak key at each position. */
TEST(weak_key_offline)
{
	static const mutls_key_type weak[] = { MUTLS_KEY_RSA512, MUTLS_KEY_RSA1024,
		MUTLS_KEY_DSA1024, MUTLS_KEY_P192 };
	for (size_t k = 0; k < sizeof(weak) / sizeof(weak[0]); k++) {
		for (int at = WEAK_LEAF; at <= WEAK_ROOT; at++) {
			weak_pki w;
			mutls_config *trust;
			mutls_x509 *inter[1];
			unsigned reasons = 0;
			weak_pki_make(&w, weak[k], (enum weak_at)at, 1);
			trust = config_with(NULL, NULL);
			CHECK_OK(mutls_config_add_trust(trust, mutls_testca_cert_pem(w.root)));
			inter[0] = mutls_identity_chain_at(w.id, 1);
			CHECK_INT(mutls_x509_verify(&reasons, mutls_identity_certificate(w.id), inter,
				inter[0] ? 1 : 0, trust, "orders.internal", MUTLS_PURPOSE_SERVER), MUTLS_EVERIFY);
			CHECK_INT(reasons, MUTLS_REASON_INSECURE_ALGORITHM);
			CHECK_CONTAINS(mutls_error_message(mutls_error_last()), weak_fragment[weak[k]]);
			mutls_config_unref(trust);
			weak_pki_free(&w);
		}
	}
}

/* A stronger profile named in the priority string is taken: RSA-2048 is
 * enough for MEDIUM (the default) but not for %PROFILE_HIGH (3072). */
TEST(weak_key_priority_profile_high)
{
	weak_pki w;
	mutls_config *trust;
	unsigned reasons = 0;
	weak_pki_make(&w, MUTLS_KEY_RSA2048, WEAK_LEAF, 1);
	trust = config_with(NULL, NULL);
	CHECK_OK(mutls_config_add_trust(trust, mutls_testca_cert_pem(w.root)));
	CHECK_OK(mutls_x509_verify(&reasons, mutls_identity_certificate(w.id), NULL, 0, trust,
		"orders.internal", MUTLS_PURPOSE_SERVER));
	mutls_config_unref(trust);
	trust = config_with(NULL, NULL);
	CHECK_OK(mutls_config_set_priority(trust, "NORMAL:%PROFILE_HIGH"));
	CHECK_OK(mutls_config_add_trust(trust, mutls_testca_cert_pem(w.root)));
	CHECK_INT(mutls_x509_verify(&reasons, mutls_identity_certificate(w.id), NULL, 0, trust,
		"orders.internal", MUTLS_PURPOSE_SERVER), MUTLS_EVERIFY);
	CHECK_INT(reasons, MUTLS_REASON_INSECURE_ALGORITHM);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()),
		"certificate CN=orders has an RSA key of 2048 bits; at least 3072 are required");
	/* a weaker profile does not lower the default */
	mutls_config_unref(trust);
	trust = config_with(NULL, NULL);
	CHECK_OK(mutls_config_set_priority(trust, "NORMAL:%PROFILE_LOW"));
	CHECK_OK(mutls_config_add_trust(trust, mutls_testca_cert_pem(w.root)));
	CHECK_OK(mutls_x509_verify(&reasons, mutls_identity_certificate(w.id), NULL, 0, trust,
		"orders.internal", MUTLS_PURPOSE_SERVER));
	mutls_config_unref(trust);
	weak_pki_free(&w);
}

/* ---- peers=dns:*.x against a name with a NUL (issue 11, defect 11) -------- */

/* A leaf whose only SAN is dNSName "x\0y.svc.local" (raw DER: GnuTLS's
 * setter stops at the NUL), and one with "x.svc.local" to show the pattern
 * matches a clean name. */
TEST(dns_wildcard_pattern_refuses_nul_in_label)
{
	static const unsigned char nul_san[] = { 0x30, 0x0f, 0x82, 0x0d,
		'x', 0, 'y', '.', 's', 'v', 'c', '.', 'l', 'o', 'c', 'a', 'l' };
	static const unsigned char clean_san[] = { 0x30, 0x0d, 0x82, 0x0b,
		'x', '.', 's', 'v', 'c', '.', 'l', 'o', 'c', 'a', 'l' };
	static const unsigned char bad_char_san[] = { 0x30, 0x0f, 0x82, 0x0d,
		'x', '/', 'y', '.', 's', 'v', 'c', '.', 'l', 'o', 'c', 'a', 'l' };
	test_pki pki;
	mutls_config *trust;
	unsigned reasons = 0;
	char *key = NULL, *pem;
	mutls_x509 *cert;

	pki_make(&pki);
	trust = config_with(NULL, pki.ca);
	CHECK_OK(mutls_config_set_check_hostname(trust, 0));
	CHECK_OK(mutls_config_add_peer_pattern(trust, "dns:*.svc.local"));

	pem = custom_leaf(pki.ca, &key, GNUTLS_DIG_SHA256, "2.5.29.17", clean_san, sizeof(clean_san));
	CHECK_OK(mutls_x509_from_pem(&cert, pem, strlen(pem)));
	CHECK_OK(mutls_x509_verify(&reasons, cert, NULL, 0, trust, NULL, MUTLS_PURPOSE_ANY));
	mutls_x509_unref(cert);
	free(pem);
	free(key);

	pem = custom_leaf(pki.ca, &key, GNUTLS_DIG_SHA256, "2.5.29.17", nul_san, sizeof(nul_san));
	CHECK_OK(mutls_x509_from_pem(&cert, pem, strlen(pem)));
	CHECK_INT(mutls_x509_verify(&reasons, cert, NULL, 0, trust, NULL, MUTLS_PURPOSE_ANY),
		MUTLS_EVERIFY);
	CHECK_INT(reasons, MUTLS_REASON_POLICY);
	mutls_x509_unref(cert);
	free(pem);
	free(key);

	pem = custom_leaf(pki.ca, &key, GNUTLS_DIG_SHA256, "2.5.29.17", bad_char_san, sizeof(bad_char_san));
	CHECK_OK(mutls_x509_from_pem(&cert, pem, strlen(pem)));
	CHECK_INT(mutls_x509_verify(&reasons, cert, NULL, 0, trust, NULL, MUTLS_PURPOSE_ANY),
		MUTLS_EVERIFY);
	CHECK_INT(reasons, MUTLS_REASON_POLICY);
	mutls_x509_unref(cert);
	free(pem);
	free(key);
	mutls_config_unref(trust);
	pki_free(&pki);
}

/* ---- the right words for each refusal (issue 11, defect 12) ---------------- */

/* A leaf issued by an intermediate of the standard root made with io. */
static mutls_identity *leaf_under(mutls_testca **inter, mutls_testca *root,
	mutls_testca_options *io, int server)
{
	mutls_identity *id;
	CHECK_OK(mutls_testca_intermediate(inter, root, io));
	if (server)
		id = pki_issue(*inter, "orders", "orders.internal", NULL, NULL, MUTLS_PURPOSE_SERVER, 0, 0);
	else
		id = pki_issue(*inter, "payments", NULL, NULL, "spiffe://example.org/payments",
			MUTLS_PURPOSE_CLIENT, 0, 0);
	return id;
}

TEST(name_constraints_violation_is_named)
{
	static const char *const permitted[] = { "svc.local" };
	fixture f;
	mutls_testca *inter;
	mutls_testca_options io = MUTLS_TESTCA_OPTIONS_INIT;
	mutls_identity *id;
	pki_make(&f.pki);
	io.name = "constrained intermediate";
	io.permitted_dns = permitted;
	io.permitted_dns_count = 1;
	id = leaf_under(&inter, f.pki.ca, &io, 1);
	f.scfg = config_with(id, f.pki.ca);
	f.ccfg = config_with(f.pki.client_id, f.pki.ca);
	run(&f, "orders.internal");
	expect_client_refuses(&f, MUTLS_REASON_NAME_CONSTRAINTS, 48,
		"server certificate CN=orders names DNS:orders.internal, which the name constraints of "
		"CA CN=constrained intermediate do not allow (permitted: DNS:svc.local)");
	mutls_identity_free(id);
	mutls_testca_free(inter);
	fixture_free(&f);
}

TEST(path_length_violation_is_named)
{
	fixture f;
	mutls_testca *inter, *sub;
	mutls_testca_options io = MUTLS_TESTCA_OPTIONS_INIT;
	mutls_identity *id;
	pki_make(&f.pki);
	io.name = "limited intermediate";
	io.path_length = 0;
	CHECK_OK(mutls_testca_intermediate(&inter, f.pki.ca, &io));
	io.name = "sub intermediate";
	io.path_length = -1;
	id = leaf_under(&sub, inter, &io, 0);
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	f.ccfg = config_with(id, f.pki.ca);
	run(&f, "orders.internal");
	expect_server_refuses(&f, MUTLS_EVERIFY, MUTLS_REASON_PATH_LENGTH, 48,
		"client certificate CN=payments has a chain longer than CA CN=limited intermediate "
		"allows: its path length limit (pathLenConstraint) is 0, but 1 CA certificate comes "
		"below it (CN=sub intermediate)");
	mutls_identity_free(id);
	mutls_testca_free(sub);
	mutls_testca_free(inter);
	fixture_free(&f);
}

/* path_length on the trust anchor itself: root (0) -> intermediate -> leaf. */
TEST(path_length_of_the_root_is_named)
{
	mutls_testca *root, *inter;
	mutls_testca_options ro = MUTLS_TESTCA_OPTIONS_INIT;
	mutls_identity *id;
	mutls_config *trust;
	mutls_x509 *chain1[1];
	unsigned reasons = 0;
	ro.name = "limited root";
	ro.path_length = 0;
	CHECK_OK(mutls_testca_new(&root, &ro));
	id = leaf_under(&inter, root, NULL, 1);
	trust = config_with(NULL, NULL);
	CHECK_OK(mutls_config_add_trust(trust, mutls_testca_cert_pem(root)));
	chain1[0] = mutls_identity_chain_at(id, 1);
	CHECK_INT(mutls_x509_verify(&reasons, mutls_identity_certificate(id), chain1, 1, trust,
		"orders.internal", MUTLS_PURPOSE_SERVER), MUTLS_EVERIFY);
	CHECK_INT(reasons, MUTLS_REASON_PATH_LENGTH);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "CA CN=limited root allows");
	/* the same when the peer also sends the root: it is counted once */
	{
		mutls_x509 *chain2[2] = { mutls_identity_chain_at(id, 1), mutls_testca_certificate(root) };
		CHECK_INT(mutls_x509_verify(&reasons, mutls_identity_certificate(id), chain2, 2, trust,
			"orders.internal", MUTLS_PURPOSE_SERVER), MUTLS_EVERIFY);
		CHECK_INT(reasons, MUTLS_REASON_PATH_LENGTH);
		CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "CA CN=limited root allows: its "
			"path length limit (pathLenConstraint) is 0, but 1 CA certificate comes below it "
			"(CN=mutls test intermediate)");
	}
	mutls_config_unref(trust);
	mutls_identity_free(id);
	mutls_testca_free(inter);
	mutls_testca_free(root);
}

TEST(unknown_critical_extension_is_named)
{
	static const unsigned char null_der[] = { 0x05, 0x00 };
	fixture f;
	char *key = NULL, *cert;
	pki_make(&f.pki);
	cert = custom_leaf_ext(f.pki.ca, &key, GNUTLS_DIG_SHA256, "1.3.6.1.4.1.55555.1", null_der,
		sizeof(null_der), 1);
	CHECK_OK(mutls_config_new(&f.scfg));
	CHECK_OK(mutls_config_set_identity(f.scfg, cert, key, NULL));
	CHECK_OK(mutls_config_add_trust(f.scfg, mutls_testca_cert_pem(f.pki.ca)));
	f.ccfg = config_with(f.pki.client_id, f.pki.ca);
	run(&f, "orders.internal");
	expect_client_refuses(&f, MUTLS_REASON_UNKNOWN_CRITICAL_EXTENSION, 43,
		"server certificate CN=orders has a critical extension that is not understood "
		"(OID 1.3.6.1.4.1.55555.1)");
	free(cert);
	free(key);
	fixture_free(&f);
}

TEST(revoked_intermediate_is_named)
{
	fixture f;
	mutls_testca *inter;
	mutls_testca_options io = MUTLS_TESTCA_OPTIONS_INIT;
	mutls_identity *id;
	char *crl = NULL, *serial = NULL, want[300];
	pki_make(&f.pki);
	io.name = "revoked intermediate";
	id = leaf_under(&inter, f.pki.ca, &io, 0);
	CHECK_OK(mutls_testca_revoke(f.pki.ca, mutls_testca_certificate(inter)));
	CHECK_OK(mutls_testca_crl_pem(&crl, f.pki.ca));
	CHECK_OK(mutls_x509_serial(&serial, mutls_testca_certificate(inter)));
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	CHECK_OK(mutls_config_add_crl(f.scfg, crl));
	f.ccfg = config_with(id, f.pki.ca);
	run(&f, "orders.internal");
	snprintf(want, sizeof(want), "client certificate CN=payments has in its chain the CA "
		"certificate CN=revoked intermediate, which has been revoked (serial %s)", serial);
	expect_server_refuses(&f, MUTLS_EVERIFY, MUTLS_REASON_REVOKED, 44, want);
	free(serial);
	mutls_free(crl);
	/* and a leaf revoked by the intermediate's own CRL is the leaf, with its serial */
	{
		mutls_testca *inter2;
		mutls_identity *id2 = leaf_under(&inter2, f.pki.ca, NULL, 0);
		mutls_config *trust = config_with(NULL, f.pki.ca);
		mutls_x509 *chain1[1] = { mutls_identity_chain_at(id2, 1) };
		unsigned reasons = 0;
		CHECK_OK(mutls_testca_revoke(inter2, mutls_identity_certificate(id2)));
		CHECK_OK(mutls_testca_crl_pem(&crl, inter2));
		CHECK_OK(mutls_config_add_trust(trust, mutls_testca_cert_pem(inter2)));
		CHECK_OK(mutls_config_add_crl(trust, crl));
		CHECK_OK(mutls_x509_serial(&serial, mutls_identity_certificate(id2)));
		CHECK_INT(mutls_x509_verify(&reasons, mutls_identity_certificate(id2), chain1, 1, trust,
			NULL, MUTLS_PURPOSE_CLIENT), MUTLS_EVERIFY);
		CHECK_INT(reasons, MUTLS_REASON_REVOKED);
		snprintf(want, sizeof(want), "certificate CN=payments has been revoked (serial %s)", serial);
		CHECK_CONTAINS(mutls_error_message(mutls_error_last()), want);
		free(serial);
		mutls_free(crl);
		mutls_config_unref(trust);
		mutls_identity_free(id2);
		mutls_testca_free(inter2);
	}
	mutls_identity_free(id);
	mutls_testca_free(inter);
	fixture_free(&f);
}

/* A CRL signed by ca's key with the given times (offsets from now), or by a
 * CA certificate made here without cRLSign when no_crl_sign. */
static char *custom_crl(mutls_testca *ca, long this_off, long next_off, char **issuer_pem)
{
	gnutls_x509_crl_t crl;
	gnutls_x509_crt_t ca_crt;
	gnutls_x509_privkey_t ca_key;
	gnutls_datum_t d, out;
	time_t now = time(NULL);
	char *pem;

	CHECK(gnutls_x509_privkey_init(&ca_key) == 0);
	d.data = (unsigned char *)mutls_testca_key_pem(ca);
	d.size = (unsigned)strlen((char *)d.data);
	CHECK(gnutls_x509_privkey_import(ca_key, &d, GNUTLS_X509_FMT_PEM) == 0);
	CHECK(gnutls_x509_crt_init(&ca_crt) == 0);
	if (issuer_pem) {
		/* the same key and name, keyUsage keyCertSign only */
		unsigned char serial[4] = { 9, 9, 9, 9 };
		gnutls_x509_crt_set_version(ca_crt, 3);
		gnutls_x509_crt_set_serial(ca_crt, serial, sizeof(serial));
		gnutls_x509_crt_set_activation_time(ca_crt, now - 3600);
		gnutls_x509_crt_set_expiration_time(ca_crt, now + 86400);
		gnutls_x509_crt_set_dn_by_oid(ca_crt, GNUTLS_OID_X520_COMMON_NAME, 0, "no crl sign", 11);
		gnutls_x509_crt_set_basic_constraints(ca_crt, 1, -1);
		gnutls_x509_crt_set_key_usage(ca_crt, GNUTLS_KEY_KEY_CERT_SIGN);
		gnutls_x509_crt_set_key(ca_crt, ca_key);
		CHECK(gnutls_x509_crt_sign2(ca_crt, ca_crt, ca_key, GNUTLS_DIG_SHA256, 0) == 0);
		CHECK(gnutls_x509_crt_export2(ca_crt, GNUTLS_X509_FMT_PEM, &out) == 0);
		*issuer_pem = strndup((char *)out.data, out.size);
		gnutls_free(out.data);
	} else {
		d.data = (unsigned char *)mutls_testca_cert_pem(ca);
		d.size = (unsigned)strlen((char *)d.data);
		CHECK(gnutls_x509_crt_import(ca_crt, &d, GNUTLS_X509_FMT_PEM) == 0);
	}
	CHECK(gnutls_x509_crl_init(&crl) == 0);
	gnutls_x509_crl_set_version(crl, 2);
	gnutls_x509_crl_set_this_update(crl, now + this_off);
	gnutls_x509_crl_set_next_update(crl, now + next_off);
	CHECK(gnutls_x509_crl_sign2(crl, ca_crt, ca_key, GNUTLS_DIG_SHA256, 0) == 0);
	CHECK(gnutls_x509_crl_export2(crl, GNUTLS_X509_FMT_PEM, &out) == 0);
	pem = strndup((char *)out.data, out.size);
	gnutls_free(out.data);
	gnutls_x509_crl_deinit(crl);
	gnutls_x509_crt_deinit(ca_crt);
	gnutls_x509_privkey_deinit(ca_key);
	return pem;
}

TEST(unusable_crls_say_why)
{
	test_pki pki;
	mutls_config *cfg;
	mutls_testca *other;
	char *crl, *issuer = NULL;
	pki_make(&pki);
	CHECK_OK(mutls_testca_new(&other, NULL));

	cfg = config_with(NULL, pki.ca);
	crl = custom_crl(pki.ca, -10 * DAY, -DAY, NULL);
	CHECK_INT(mutls_config_add_crl(cfg, crl), MUTLS_ECONFIG);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "the CRL of CN=mutls test root expired at ");
	free(crl);
	crl = custom_crl(pki.ca, DAY, 10 * DAY, NULL);
	CHECK_INT(mutls_config_add_crl(cfg, crl), MUTLS_ECONFIG);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "the CRL of CN=mutls test root is not valid until ");
	free(crl);
	crl = custom_crl(other, -DAY, DAY, NULL);
	CHECK_INT(mutls_config_add_crl(cfg, crl), MUTLS_ECONFIG);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()),
		"the CRL of CN=mutls test CA is not signed by a trusted CA");
	free(crl);
	mutls_config_unref(cfg);

	cfg = config_with(NULL, NULL);
	crl = custom_crl(pki.ca, -DAY, DAY, &issuer);
	CHECK_OK(mutls_config_add_trust(cfg, issuer));
	CHECK_INT(mutls_config_add_crl(cfg, crl), MUTLS_ECONFIG);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()),
		"the CRL of CN=no crl sign cannot be used: that CA's key usage does not allow signing CRLs");
	free(crl);
	free(issuer);
	mutls_config_unref(cfg);
	mutls_testca_free(other);
	pki_free(&pki);
}

/* One CRL that cannot be used refuses its whole source, naming it and its
 * place (it was dropped, and the source's other CRLs loaded). */
TEST(a_source_with_an_unusable_crl_is_refused_whole)
{
	test_pki pki;
	mutls_config *cfg;
	char *good, *expired, *bundle;
	pki_make(&pki);

	cfg = config_with(NULL, pki.ca);
	good = custom_crl(pki.ca, -DAY, DAY, NULL);
	expired = custom_crl(pki.ca, -10 * DAY, -DAY, NULL);
	bundle = malloc(strlen(good) + strlen(expired) + 1);
	strcpy(bundle, good);
	strcat(bundle, expired);
	CHECK_INT(mutls_config_add_crl(cfg, bundle), MUTLS_ECONFIG);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()),
		"crl: the CRL of CN=mutls test root (the 2nd of the 2 CRLs in this source) expired at ");
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "(none of this source's CRLs was added)");
	CHECK_OK(mutls_config_add_crl(cfg, good));
	free(bundle);
	free(good);
	free(expired);
	mutls_config_unref(cfg);
	pki_free(&pki);
}

struct revocation_trace { char detail[400]; int seen; };

static int keep_revocation(mutls_session *s, const mutls_trace_event *e, void *payload)
{
	struct revocation_trace *t = payload;
	(void)s;
	if (e->kind == MUTLS_TRACE_CHECK && strcmp(e->name, "revocation") == 0) {
		snprintf(t->detail, sizeof(t->detail), "%s", e->detail);
		t->seen++;
	}
	return 0;
}

/* The trace says whether a loaded CRL covered the peer's issuer. */
TEST(revocation_trace_says_which_crl_covers)
{
	fixture f;
	mutls_testca *other;
	char *crl = NULL;
	struct revocation_trace t;
	pki_make(&f.pki);
	CHECK_OK(mutls_testca_new(&other, NULL));
	f.ccfg = config_with(f.pki.client_id, f.pki.ca);
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	CHECK_OK(mutls_config_add_trust(f.scfg, mutls_testca_cert_pem(other)));
	CHECK_OK(mutls_testca_crl_pem(&crl, other));
	CHECK_OK(mutls_config_add_crl(f.scfg, crl));
	memset(&t, 0, sizeof(t));
	CHECK_OK(mutls_config_set_trace_hook(f.scfg, keep_revocation, &t, NULL));
	run(&f, "orders.internal");
	CHECK_INT(f.p.server_rc, 0);
	CHECK_INT(t.seen, 1);
	CHECK_STR(t.detail, "no loaded CRL covers its issuer CN=mutls test root (1 CRL loaded, for other CAs)");
	mutls_free(crl);
	pair_free(&f.p);
	mutls_config_unref(f.scfg);
	/* now the issuer's own CRL */
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	CHECK_OK(mutls_testca_crl_pem(&crl, f.pki.ca));
	CHECK_OK(mutls_config_add_crl(f.scfg, crl));
	memset(&t, 0, sizeof(t));
	CHECK_OK(mutls_config_set_trace_hook(f.scfg, keep_revocation, &t, NULL));
	run(&f, "orders.internal");
	CHECK_INT(f.p.server_rc, 0);
	CHECK_STR(t.detail, "not on the CRL of its issuer CN=mutls test root");
	mutls_free(crl);
	mutls_testca_free(other);
	fixture_free(&f);
}

/* A leaf whose issuer is trusted but whose signature that issuer did not
 * make (a flipped bit): said as such, not "issued by an unknown CA". */
TEST(bad_signature_under_a_known_issuer_is_named)
{
	test_pki pki;
	mutls_config *trust;
	const unsigned char *der;
	unsigned char *copy;
	size_t len;
	mutls_x509 *bad;
	unsigned reasons = 0;

	pki_make(&pki);
	trust = config_with(NULL, pki.ca);
	mutls_x509_der(&der, &len, mutls_identity_certificate(pki.server_id));
	copy = malloc(len);
	memcpy(copy, der, len);
	copy[len - 5] ^= 1; /* inside the signature value */
	CHECK_OK(mutls_x509_from_der(&bad, copy, len));
	CHECK_INT(mutls_x509_verify(&reasons, bad, NULL, 0, trust, NULL, MUTLS_PURPOSE_ANY), MUTLS_EVERIFY);
	CHECK_INT(reasons, MUTLS_REASON_UNKNOWN_ISSUER);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()),
		"certificate CN=orders has a signature that does not verify with the key of its issuer "
		"(issuer CN=mutls test root)");
	mutls_x509_unref(bad);
	free(copy);
	mutls_config_unref(trust);
	pki_free(&pki);
}

/* ---- the verification clock, profiles, max_chain_depth (offline) ---------- */

static int clock_plus_two_days(int64_t *out, mutls_session *s, void *payload)
{
	(void)s;
	(void)payload;
	*out = (int64_t)time(NULL) + 2 * DAY;
	return 0;
}

static int clock_broken(int64_t *out, mutls_session *s, void *payload)
{
	(void)out;
	(void)s;
	(void)payload;
	return MUTLS_HOOK_ERROR;
}

TEST(verify_time_clock_and_options)
{
	test_pki pki;
	mutls_identity *id;
	mutls_config *cfg;
	mutls_verify_options o;
	unsigned reasons = 0;
	const mutls_x509 *leaf;

	pki_make(&pki);
	id = pki_issue(pki.ca, "later", "later.internal", NULL, NULL, MUTLS_PURPOSE_SERVER, DAY, 3 * DAY);
	leaf = mutls_identity_certificate(id);
	CHECK_OK(mutls_config_new(&cfg));
	CHECK_OK(mutls_config_add_trust(cfg, mutls_testca_cert_pem(pki.ca)));
	/* now: not yet valid; at +2 days: valid; at +10 days: expired */
	CHECK_INT(mutls_x509_verify(&reasons, leaf, NULL, 0, cfg, "later.internal", MUTLS_PURPOSE_SERVER),
		MUTLS_EVERIFY);
	CHECK_INT(reasons, MUTLS_REASON_NOT_YET_VALID);
	memset(&o, 0, sizeof(o));
	o.flags = MUTLS_VERIFY_AT;
	o.at = (int64_t)time(NULL) + 2 * DAY;
	CHECK_OK(mutls_x509_verify_with(&reasons, leaf, NULL, 0, cfg, "later.internal",
		MUTLS_PURPOSE_SERVER, &o));
	o.at = (int64_t)time(NULL) + 10 * DAY;
	CHECK_INT(mutls_x509_verify_with(&reasons, leaf, NULL, 0, cfg, NULL, MUTLS_PURPOSE_SERVER, &o),
		MUTLS_EVERIFY);
	CHECK_INT(reasons, MUTLS_REASON_EXPIRED);
	/* max_chain_depth 0 and profile strict on a root-issued leaf: fine */
	o.at = (int64_t)time(NULL) + 2 * DAY;
	o.flags |= MUTLS_VERIFY_MAX_CHAIN_DEPTH | MUTLS_VERIFY_PROFILE;
	o.max_chain_depth = 0;
	o.profile = MUTLS_PROFILE_STRICT;
	CHECK_OK(mutls_x509_verify_with(&reasons, leaf, NULL, 0, cfg, NULL, MUTLS_PURPOSE_SERVER, &o));
	mutls_config_unref(cfg);

	/* the config's clock: fixed, a function, a failing function */
	CHECK_OK(mutls_config_new(&cfg));
	CHECK_OK(mutls_config_set_verify_time(cfg, (int64_t)time(NULL) + 2 * DAY));
	CHECK_OK(mutls_config_add_trust(cfg, mutls_testca_cert_pem(pki.ca)));
	CHECK_OK(mutls_x509_verify(&reasons, leaf, NULL, 0, cfg, NULL, MUTLS_PURPOSE_SERVER));
	mutls_config_unref(cfg);
	CHECK_OK(mutls_config_new(&cfg));
	CHECK_OK(mutls_config_set_verify_clock(cfg, clock_plus_two_days, NULL, NULL));
	CHECK_OK(mutls_config_add_trust(cfg, mutls_testca_cert_pem(pki.ca)));
	CHECK_OK(mutls_x509_verify(&reasons, leaf, NULL, 0, cfg, NULL, MUTLS_PURPOSE_SERVER));
	mutls_config_unref(cfg);
	CHECK_OK(mutls_config_new(&cfg));
	CHECK_OK(mutls_config_set_verify_clock(cfg, clock_broken, NULL, NULL));
	CHECK_OK(mutls_config_add_trust(cfg, mutls_testca_cert_pem(pki.ca)));
	CHECK_INT(mutls_x509_verify(&reasons, leaf, NULL, 0, cfg, NULL, MUTLS_PURPOSE_SERVER), MUTLS_EVERIFY);
	CHECK_INT(reasons, MUTLS_REASON_HOOK);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "verification clock (verify_time) failed");
	/* bad settings */
	CHECK_INT(mutls_config_set_profile(cfg, "lenient"), MUTLS_ECONFIG);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "lenient");
	CHECK_INT(mutls_config_set_max_chain_depth(cfg, -2), MUTLS_ECONFIG);
	CHECK_OK(mutls_config_set_profile(cfg, "strict"));
	CHECK_OK(mutls_config_set_max_chain_depth(cfg, 3));
	mutls_config_unref(cfg);
	mutls_identity_free(id);
	pki_free(&pki);
}
