/* Name constraints GnuTLS cannot read (nc_unreadable.c): a root whose
 * constraints permit corp.example and exclude an otherName of a type
 * GnuTLS does not know. GnuTLS alone refuses every leaf under it; mutls
 * verifies the leaves that name no otherName, holding them to the DNS
 * subtree, offline and in a handshake. */
#include "pair.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/* 1.3.6.1.4.1.55555.1, a private arc */
static const char other_oid[] = "1.3.6.1.4.1.55555.1";

/* nameConstraints: permitted DNS corp.example; excluded otherName
 * 1.3.6.1.4.1.55555.1 UTF8String "forbidden" */
static const unsigned char nc_der[] = {
	0x30, 0x30,
	0xa0, 0x10, 0x30, 0x0e, 0x82, 0x0c, 'c', 'o', 'r', 'p', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e',
	0xa1, 0x1c, 0x30, 0x1a, 0xa0, 0x18,
	0x06, 0x09, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xb2, 0x03, 0x01,
	0xa0, 0x0b, 0x0c, 0x09, 'f', 'o', 'r', 'b', 'i', 'd', 'd', 'e', 'n',
};

typedef struct {
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key;
} made;

static void make(made *m, const char *cn, const made *issuer, const char *dns, const char *other)
{
	static unsigned char serial = 1;

	crt_start(&m->crt, &m->key, serial++, cn);
	if (!issuer) {
		CHECK(gnutls_x509_crt_set_basic_constraints(m->crt, 1, -1) == 0);
		CHECK(gnutls_x509_crt_set_key_usage(m->crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN) == 0);
		CHECK(gnutls_x509_crt_set_extension_by_oid(m->crt, "2.5.29.30", nc_der, sizeof(nc_der), 1) == 0);
		CHECK(gnutls_x509_crt_sign2(m->crt, m->crt, m->key, GNUTLS_DIG_SHA256, 0) == 0);
		return;
	}
	CHECK(gnutls_x509_crt_set_basic_constraints(m->crt, 0, -1) == 0);
	CHECK(gnutls_x509_crt_set_key_usage(m->crt, GNUTLS_KEY_DIGITAL_SIGNATURE) == 0);
	CHECK(gnutls_x509_crt_set_key_purpose_oid(m->crt, GNUTLS_KP_TLS_WWW_SERVER, 0) == 0);
	CHECK(gnutls_x509_crt_set_subject_alt_name(m->crt, GNUTLS_SAN_DNSNAME, dns, (unsigned)strlen(dns),
		GNUTLS_FSAN_APPEND) == 0);
	if (other) {
		/* the value as DER: a UTF8String */
		unsigned char value[64] = { 0x0c, (unsigned char)strlen(other) };
		memcpy(value + 2, other, strlen(other));
		CHECK(gnutls_x509_crt_set_subject_alt_othername(m->crt, other_oid, value,
			(unsigned)strlen(other) + 2, GNUTLS_FSAN_APPEND) == 0);
	}
	CHECK(gnutls_x509_crt_sign2(m->crt, issuer->crt, issuer->key, GNUTLS_DIG_SHA256, 0) == 0);
}

static char *pem_of(gnutls_x509_crt_t crt)
{
	gnutls_datum_t out;
	CHECK(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out) == 0);
	char *pem = strndup((char *)out.data, out.size);
	gnutls_free(out.data);
	return pem;
}

static void made_free(made *m)
{
	gnutls_x509_crt_deinit(m->crt);
	gnutls_x509_privkey_deinit(m->key);
}

/* mutls_x509_verify of leaf against a config trusting root; the reasons. */
static int verify(const made *leaf, mutls_config *trust, const char *hostname, unsigned *reasons)
{
	mutls_x509 *x = NULL;
	char *pem = pem_of(leaf->crt);
	CHECK_OK(mutls_x509_from_pem(&x, pem, strlen(pem)));
	int rc = mutls_x509_verify(reasons, x, NULL, 0, trust, hostname, MUTLS_PURPOSE_SERVER);
	mutls_x509_unref(x);
	free(pem);
	return rc;
}

TEST(leaf_without_an_other_name_verifies_and_binds_to_the_dns_subtree)
{
	made root, good, outside, other;
	mutls_config *trust;
	unsigned reasons = 0;
	char *root_pem;

	make(&root, "nc root", NULL, NULL, NULL);
	make(&good, "api", &root, "api.corp.example", NULL);
	make(&outside, "outside", &root, "api.other.example", NULL);
	make(&other, "other", &root, "api.corp.example", "someone");
	root_pem = pem_of(root.crt);
	CHECK_OK(mutls_config_new(&trust));
	CHECK_OK(mutls_config_add_trust(trust, root_pem));

	CHECK_INT(verify(&good, trust, "api.corp.example", &reasons), 0);
	CHECK_INT(verify(&outside, trust, "api.other.example", &reasons), MUTLS_EVERIFY);
	CHECK_INT(reasons, MUTLS_REASON_NAME_CONSTRAINTS);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "names DNS:api.other.example");
	CHECK_INT(verify(&other, trust, "api.corp.example", &reasons), MUTLS_EVERIFY);
	CHECK_INT(reasons, MUTLS_REASON_NAME_CONSTRAINTS);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "whose name constraints cannot be checked");

	mutls_config_unref(trust);
	free(root_pem);
	made_free(&root);
	made_free(&good);
	made_free(&outside);
	made_free(&other);
}

TEST(handshake_with_a_server_under_the_constrained_root)
{
	made root, server;
	mutls_config *ccfg, *scfg;
	test_pair p;
	gnutls_datum_t key;
	char *root_pem, *server_pem, *key_pem;

	make(&root, "nc root", NULL, NULL, NULL);
	make(&server, "api", &root, "api.corp.example", NULL);
	root_pem = pem_of(root.crt);
	server_pem = pem_of(server.crt);
	CHECK(gnutls_x509_privkey_export2_pkcs8(server.key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
		&key) == 0);
	key_pem = strndup((char *)key.data, key.size);
	gnutls_free(key.data);
	CHECK_OK(mutls_config_new(&scfg));
	CHECK_OK(mutls_config_set_identity(scfg, server_pem, key_pem, NULL));
	CHECK_OK(mutls_config_set_peer_certificate(scfg, MUTLS_PEER_NONE));
	CHECK_OK(mutls_config_new(&ccfg));
	CHECK_OK(mutls_config_add_trust(ccfg, root_pem));

	pair_run(&p, ccfg, "api.corp.example", scfg);
	CHECK_INT(p.client_rc, 0);
	CHECK_INT(p.server_rc, 0);
	pair_free(&p);
	/* the same server, a name outside the permitted subtree */
	pair_run(&p, ccfg, "api.other.example", scfg);
	CHECK_INT(session_code(p.client), MUTLS_EVERIFY);
	pair_free(&p);

	mutls_config_unref(ccfg);
	mutls_config_unref(scfg);
	free(root_pem);
	free(server_pem);
	free(key_pem);
	made_free(&root);
	made_free(&server);
}
