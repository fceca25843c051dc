/* The test PKI: CAs, leaves, chains, CRLs, keys. Chains are checked with
 * GnuTLS directly, not with mutls's own verifier. */
#define _POSIX_C_SOURCE 200809L
#include "testlib.h"

#include <arpa/inet.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* --- helpers ------------------------------------------------------------ */

static mutls_testca *new_ca(void)
{
	mutls_testca *ca = NULL;
	CHECK_OK(mutls_testca_new(&ca, NULL));
	return ca;
}

static mutls_identity *issue(mutls_testca *ca, const mutls_issue_options *o)
{
	mutls_identity *id = NULL;
	CHECK_OK(mutls_testca_issue(&id, ca, o));
	return id;
}

static mutls_identity *issue_cn(mutls_testca *ca, const char *cn)
{
	mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
	o.cn = cn;
	return issue(ca, &o);
}

static void expect_error(int rc, int code, const char *needle)
{
	const mutls_error *e = mutls_error_last();
	CHECK_INT(rc, code);
	CHECK(e != NULL);
	CHECK_INT(mutls_error_code(e), code);
	CHECK_CONTAINS(mutls_error_message(e), needle);
}

static gnutls_x509_crt_t to_gnutls(const mutls_x509 *cert)
{
	const unsigned char *der;
	size_t len;
	gnutls_datum_t d;
	gnutls_x509_crt_t crt;

	mutls_x509_der(&der, &len, cert);
	d.data = (unsigned char *)der;
	d.size = (unsigned)len;
	CHECK_INT(gnutls_x509_crt_init(&crt), 0);
	CHECK_INT(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER), 0);
	return crt;
}

/*
 * Verify id's chain with GnuTLS against root_pem (+ an optional CRL, which
 * must itself verify against the root). purpose: a GNUTLS_KP_* OID or NULL.
 * Returns the GnuTLS status bits.
 */
static unsigned gnutls_verify(const mutls_identity *id, const char *root_pem,
	const char *crl_pem, const char *purpose)
{
	gnutls_x509_trust_list_t tl;
	gnutls_datum_t ca = { (unsigned char *)root_pem, (unsigned)strlen(root_pem) };
	gnutls_datum_t crl = { (unsigned char *)crl_pem, crl_pem ? (unsigned)strlen(crl_pem) : 0 };
	gnutls_x509_crt_t crts[8];
	gnutls_typed_vdata_st vdata = { GNUTLS_DT_KEY_PURPOSE_OID, (unsigned char *)purpose, 0 };
	size_t n = mutls_identity_chain_length(id);
	unsigned status = 0xffffffffu;
	int rc;

	CHECK(n <= 8);
	CHECK_INT(gnutls_x509_trust_list_init(&tl, 0), 0);
	/* VERIFY_CRL drops a CRL that the root did not sign. */
	rc = gnutls_x509_trust_list_add_trust_mem(tl, &ca, crl_pem ? &crl : NULL,
		GNUTLS_X509_FMT_PEM, crl_pem ? GNUTLS_TL_VERIFY_CRL : 0, 0);
	CHECK_INT(rc, crl_pem ? 2 : 1);
	for (size_t i = 0; i < n; i++)
		crts[i] = to_gnutls(mutls_identity_chain_at(id, i));
	CHECK_INT(gnutls_x509_trust_list_verify_crt2(tl, crts, (unsigned)n,
		purpose ? &vdata : NULL, purpose ? 1 : 0, 0, &status, NULL), 0);
	for (size_t i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_x509_trust_list_deinit(tl, 1);
	return status;
}

static void print_status(const char *what, unsigned status)
{
	gnutls_datum_t out = { NULL, 0 };
	gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0);
	printf("[%s: status 0x%x: %s] ", what, status, out.data ? (char *)out.data : "");
	gnutls_free(out.data);
}

/* --- tests -------------------------------------------------------------- */

TEST(key_type_from_name)
{
	static const struct { const char *name; mutls_key_type type; } ok[] = {
		{ "p256", MUTLS_KEY_P256 }, { "p384", MUTLS_KEY_P384 },
		{ "ed25519", MUTLS_KEY_ED25519 }, { "rsa2048", MUTLS_KEY_RSA2048 },
		{ "rsa3072", MUTLS_KEY_RSA3072 }, { "rsa4096", MUTLS_KEY_RSA4096 },
		{ "rsa512", MUTLS_KEY_RSA512 }, { "rsa1024", MUTLS_KEY_RSA1024 },
		{ "dsa1024", MUTLS_KEY_DSA1024 }, { "p192", MUTLS_KEY_P192 },
		{ "P256", MUTLS_KEY_P256 },
	};
	mutls_key_type t = MUTLS_KEY_RSA4096;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CHECK_OK(mutls_key_type_from_name(&t, ok[i].name));
		CHECK_INT(t, ok[i].type);
	}
	expect_error(mutls_key_type_from_name(&t, "dsa2048"), MUTLS_EUSAGE,
		"unknown key type \"dsa2048\"");
	expect_error(mutls_key_type_from_name(&t, ""), MUTLS_EUSAGE, "unknown key type \"\"");
	expect_error(mutls_key_type_from_name(&t, NULL), MUTLS_EUSAGE, "NULL");
}

TEST(root_ca_defaults)
{
	mutls_testca *ca = new_ca();
	mutls_x509 *cert = mutls_testca_certificate(ca);
	int64_t now = (int64_t)time(NULL);
	gnutls_x509_crt_t crt = to_gnutls(cert);
	unsigned usage = 0, critical = 0, ca_flag = 0;
	int pathlen = 0;
	unsigned char id[64];
	size_t id_len = sizeof(id);
	char *s = NULL;

	CHECK_OK(mutls_x509_subject(&s, cert));
	CHECK_STR(s, "CN=mutls test CA,O=mutls test PKI");
	mutls_free(s);
	CHECK_INT(mutls_x509_is_ca(cert), 1);
	CHECK_STR(mutls_x509_key_type(cert), "p256");
	CHECK(llabs(mutls_x509_not_before(cert) - (now - 3600)) <= 5);
	CHECK(llabs(mutls_x509_not_after(cert) - (now + 10 * 365 * 86400LL)) <= 5);
	CHECK(strncmp(mutls_testca_cert_pem(ca), "-----BEGIN CERTIFICATE-----", 27) == 0);
	CHECK(strncmp(mutls_testca_key_pem(ca), "-----BEGIN PRIVATE KEY-----", 27) == 0);

	/* Self-signed; the extensions a CA needs, critical where required. */
	CHECK(gnutls_x509_crt_check_issuer(crt, crt));
	CHECK_INT(gnutls_x509_crt_get_version(crt), 3);
	CHECK_INT(gnutls_x509_crt_get_basic_constraints(crt, &critical, &ca_flag, &pathlen), 1);
	CHECK_INT(critical, 1);
	CHECK_INT(gnutls_x509_crt_get_key_usage(crt, &usage, &critical), 0);
	CHECK_INT(usage, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN | GNUTLS_KEY_DIGITAL_SIGNATURE);
	CHECK_INT(critical, 1);
	CHECK_INT(gnutls_x509_crt_get_subject_key_id(crt, id, &id_len, &critical), 0);
	CHECK_INT(id_len, 20);
	CHECK_INT(gnutls_x509_crt_get_signature_algorithm(crt), GNUTLS_SIGN_ECDSA_SHA256);
	/* The root verifies as its own anchor. */
	CHECK_INT(gnutls_x509_crt_verify(crt, &crt, 1, 0, &usage), 0);
	CHECK_INT(usage, 0);
	gnutls_x509_crt_deinit(crt);
	mutls_testca_free(ca);
}

TEST(ca_options)
{
	mutls_testca_options co = MUTLS_TESTCA_OPTIONS_INIT;
	mutls_testca *ca = NULL;
	gnutls_x509_crt_t crt;
	char *s = NULL;

	co.name = "Payments Root";
	co.key_type = MUTLS_KEY_P384;
	co.not_before = 1600000000;
	co.not_after = 2500000000LL;
	CHECK_OK(mutls_testca_new(&ca, &co));
	CHECK_OK(mutls_x509_subject(&s, mutls_testca_certificate(ca)));
	CHECK_STR(s, "CN=Payments Root,O=mutls test PKI");
	mutls_free(s);
	CHECK_STR(mutls_x509_key_type(mutls_testca_certificate(ca)), "p384");
	CHECK_INT(mutls_x509_not_before(mutls_testca_certificate(ca)), 1600000000);
	CHECK_INT(mutls_x509_not_after(mutls_testca_certificate(ca)), 2500000000LL);

	/* A P-384 CA signs with SHA-384. */
	mutls_identity *id = issue_cn(ca, "leaf");
	crt = to_gnutls(mutls_identity_certificate(id));
	CHECK_INT(gnutls_x509_crt_get_signature_algorithm(crt), GNUTLS_SIGN_ECDSA_SHA384);
	gnutls_x509_crt_deinit(crt);
	CHECK_INT(gnutls_verify(id, mutls_testca_cert_pem(ca), NULL, NULL), 0);
	mutls_identity_free(id);
	mutls_testca_free(ca);

	/* Bad options. */
	co = (mutls_testca_options)MUTLS_TESTCA_OPTIONS_INIT;
	co.version = 7;
	expect_error(mutls_testca_new(&ca, &co), MUTLS_EUSAGE, "options version 7");
	CHECK(ca == NULL);
	co = (mutls_testca_options)MUTLS_TESTCA_OPTIONS_INIT;
	co.key_type = (mutls_key_type)42;
	expect_error(mutls_testca_new(&ca, &co), MUTLS_EUSAGE, "unknown key type 42");
	co = (mutls_testca_options)MUTLS_TESTCA_OPTIONS_INIT;
	co.not_before = 2000000000;
	co.not_after = 1000000000;
	expect_error(mutls_testca_new(&ca, &co), MUTLS_EUSAGE, "not_after is before not_before");
	expect_error(mutls_testca_new(NULL, NULL), MUTLS_EUSAGE, "NULL");
	co = (mutls_testca_options)MUTLS_TESTCA_OPTIONS_INIT;
	co.path_length = -2;
	expect_error(mutls_testca_new(&ca, &co), MUTLS_EUSAGE, "path_length must be -1");
	co = (mutls_testca_options)MUTLS_TESTCA_OPTIONS_INIT;
	co.permitted_dns_count = 1;
	expect_error(mutls_testca_new(&ca, &co), MUTLS_EUSAGE, "permitted_dns is NULL");
}

/* The CA's certificate as a GnuTLS certificate (caller deinits). */
static gnutls_x509_crt_t ca_crt(const mutls_testca *ca)
{
	gnutls_x509_crt_t crt;
	const unsigned char *der;
	size_t len;
	gnutls_datum_t d;
	mutls_x509_der(&der, &len, mutls_testca_certificate(ca));
	d.data = (unsigned char *)der;
	d.size = (unsigned)len;
	CHECK(gnutls_x509_crt_init(&crt) == 0);
	CHECK(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) == 0);
	return crt;
}

/* Options of version 1 (before path_length and permitted_dns) are still
 * taken, with no constraints; version 2 sets them. */
TEST(ca_options_versions_and_constraints)
{
	gnutls_x509_crt_t crt;
	static const char *const permitted[] = { "svc.local" };
	mutls_testca_options co = MUTLS_TESTCA_OPTIONS_INIT;
	mutls_testca *ca;
	unsigned critical = 0, is_ca = 0;
	int pathlen = 5;

	co.version = 1;
	co.name = "v1";
	CHECK_OK(mutls_testca_new(&ca, &co));
	crt = ca_crt(ca);
	CHECK(gnutls_x509_crt_get_basic_constraints(crt, &critical, &is_ca, &pathlen) >= 0);
	CHECK_INT(is_ca, 1);
	CHECK_INT(pathlen, -1);
	gnutls_x509_crt_deinit(crt);
	mutls_testca_free(ca);

	co = (mutls_testca_options)MUTLS_TESTCA_OPTIONS_INIT;
	co.path_length = 0;
	co.permitted_dns = permitted;
	co.permitted_dns_count = 1;
	CHECK_OK(mutls_testca_new(&ca, &co));
	crt = ca_crt(ca);
	CHECK(gnutls_x509_crt_get_basic_constraints(crt, &critical, &is_ca, &pathlen) >= 0);
	CHECK_INT(pathlen, 0);
	{
		gnutls_x509_name_constraints_t nc;
		unsigned type = 0;
		gnutls_datum_t name;
		CHECK(gnutls_x509_name_constraints_init(&nc) == 0);
		CHECK(gnutls_x509_crt_get_name_constraints(crt, nc, 0, &critical) == 0);
		CHECK_INT(critical, 1);
		CHECK(gnutls_x509_name_constraints_get_permitted(nc, 0, &type, &name) == 0);
		CHECK_INT(type, GNUTLS_SAN_DNSNAME);
		CHECK(name.size == 9 && memcmp(name.data, "svc.local", 9) == 0);
		gnutls_x509_name_constraints_deinit(nc);
	}
	gnutls_x509_crt_deinit(crt);
	mutls_testca_free(ca);
}

TEST(leaf_defaults)
{
	mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
	mutls_testca *ca = new_ca();
	mutls_identity *id = issue(ca, &o);
	mutls_x509 *leaf = mutls_identity_certificate(id);
	gnutls_x509_crt_t crt = to_gnutls(leaf);
	unsigned usage = 0, critical = 0, ca_flag = 1;
	int pathlen;
	unsigned char aki[64], ski[64];
	size_t aki_len = sizeof(aki), ski_len = sizeof(ski);
	gnutls_x509_crt_t ca_crt = to_gnutls(mutls_testca_certificate(ca));
	char oid[128];
	size_t oid_size;
	char *s = NULL;

	/* No cn and no SAN: the default CN. */
	CHECK_OK(mutls_x509_common_name(&s, leaf));
	CHECK_STR(s, "mutls test leaf");
	mutls_free(s);
	CHECK_INT(mutls_x509_is_ca(leaf), 0);
	CHECK_INT(gnutls_x509_crt_get_basic_constraints(crt, &critical, &ca_flag, &pathlen), 0);
	CHECK_INT(ca_flag, 0);
	CHECK_INT(gnutls_x509_crt_get_key_usage(crt, &usage, &critical), 0);
	CHECK_INT(usage, GNUTLS_KEY_DIGITAL_SIGNATURE);
	CHECK_INT(critical, 1);
	/* Default purpose: both EKUs. */
	oid_size = sizeof(oid);
	CHECK_INT(gnutls_x509_crt_get_key_purpose_oid(crt, 0, oid, &oid_size, NULL), 0);
	CHECK_STR(oid, GNUTLS_KP_TLS_WWW_SERVER);
	oid_size = sizeof(oid);
	CHECK_INT(gnutls_x509_crt_get_key_purpose_oid(crt, 1, oid, &oid_size, NULL), 0);
	CHECK_STR(oid, GNUTLS_KP_TLS_WWW_CLIENT);
	/* authorityKeyIdentifier = the CA's subjectKeyIdentifier. */
	CHECK_INT(gnutls_x509_crt_get_authority_key_id(crt, aki, &aki_len, &critical), 0);
	CHECK_INT(gnutls_x509_crt_get_subject_key_id(ca_crt, ski, &ski_len, &critical), 0);
	CHECK_INT(aki_len, ski_len);
	CHECK(memcmp(aki, ski, aki_len) == 0);
	CHECK(gnutls_x509_crt_check_issuer(crt, ca_crt));

	/* Root-issued: the chain is the leaf alone. */
	CHECK_INT(mutls_identity_chain_length(id), 1);
	CHECK(mutls_identity_chain_at(id, 0) == leaf);
	CHECK(mutls_identity_chain_at(id, 1) == NULL);
	CHECK_STR(mutls_identity_chain_pem(id), mutls_identity_cert_pem(id));
	CHECK_INT(gnutls_verify(id, mutls_testca_cert_pem(ca), NULL, GNUTLS_KP_TLS_WWW_SERVER), 0);
	CHECK_INT(gnutls_verify(id, mutls_testca_cert_pem(ca), NULL, GNUTLS_KP_TLS_WWW_CLIENT), 0);

	gnutls_x509_crt_deinit(crt);
	gnutls_x509_crt_deinit(ca_crt);
	mutls_identity_free(id);
	mutls_testca_free(ca);
}

TEST(intermediate_chains)
{
	mutls_testca *root = new_ca(), *i1 = NULL, *i2 = NULL;
	mutls_identity *a, *b;
	mutls_x509 **list = NULL;
	size_t n = 0;
	char *s = NULL;

	CHECK_OK(mutls_testca_intermediate(&i1, root, NULL));
	CHECK_OK(mutls_x509_subject(&s, mutls_testca_certificate(i1)));
	CHECK_STR(s, "CN=mutls test intermediate,O=mutls test PKI");
	mutls_free(s);
	CHECK_OK(mutls_x509_issuer(&s, mutls_testca_certificate(i1)));
	CHECK_STR(s, "CN=mutls test CA,O=mutls test PKI");
	mutls_free(s);
	CHECK_INT(mutls_x509_is_ca(mutls_testca_certificate(i1)), 1);
	mutls_testca_options co = MUTLS_TESTCA_OPTIONS_INIT;
	co.name = "second level";
	co.key_type = MUTLS_KEY_ED25519;
	CHECK_OK(mutls_testca_intermediate(&i2, i1, &co));

	a = issue_cn(i1, "one");
	CHECK_INT(mutls_identity_chain_length(a), 2);
	CHECK_STR(mutls_x509_label(mutls_identity_chain_at(a, 0)), "CN=one");
	CHECK(mutls_identity_chain_at(a, 1) == mutls_testca_certificate(i1));
	CHECK_INT(gnutls_verify(a, mutls_testca_cert_pem(root), NULL, NULL), 0);

	/* Intermediates are independent of their parent's lifetime. */
	mutls_testca_free(i1);
	i1 = NULL;
	b = issue_cn(i2, "two");
	CHECK_INT(mutls_identity_chain_length(b), 3);
	CHECK_STR(mutls_x509_label(mutls_identity_chain_at(b, 0)), "CN=two");
	CHECK_STR(mutls_x509_label(mutls_identity_chain_at(b, 1)), "CN=second level");
	CHECK_STR(mutls_x509_label(mutls_identity_chain_at(b, 2)), "CN=mutls test intermediate");
	CHECK(mutls_identity_chain_at(b, 3) == NULL);
	CHECK_INT(gnutls_verify(b, mutls_testca_cert_pem(root), NULL, NULL), 0);
	/* chain_pem is the same chain, in order. */
	CHECK_OK(mutls_x509_list_from_pem(&list, &n, mutls_identity_chain_pem(b), 0));
	CHECK_INT(n, 3);
	for (size_t i = 0; i < n; i++) {
		const unsigned char *d1, *d2;
		size_t l1, l2;
		mutls_x509_der(&d1, &l1, list[i]);
		mutls_x509_der(&d2, &l2, mutls_identity_chain_at(b, i));
		CHECK(l1 == l2 && memcmp(d1, d2, l1) == 0);
	}
	mutls_x509_list_free(list, n);
	/* Without the root the chain is not trusted by another root. */
	mutls_testca *other = new_ca();
	CHECK(gnutls_verify(b, mutls_testca_cert_pem(other), NULL, NULL) & GNUTLS_CERT_SIGNER_NOT_FOUND);
	mutls_testca_free(other);

	mutls_identity_free(a);
	mutls_identity_free(b);
	mutls_testca_free(i2);
	mutls_testca_free(root);
	expect_error(mutls_testca_intermediate(&i1, NULL, NULL), MUTLS_EUSAGE, "NULL parent");
}

TEST(intermediate_not_a_ca)
{
	mutls_testca_options co = MUTLS_TESTCA_OPTIONS_INIT;
	mutls_testca *root = new_ca(), *bad = NULL;
	mutls_identity *id;
	unsigned status;

	co.flags = MUTLS_CA_NOT_A_CA;
	CHECK_OK(mutls_testca_intermediate(&bad, root, &co));
	CHECK_INT(mutls_x509_is_ca(mutls_testca_certificate(bad)), 0);
	id = issue_cn(bad, "under a non-CA");
	CHECK_INT(mutls_identity_chain_length(id), 2);
	status = gnutls_verify(id, mutls_testca_cert_pem(root), NULL, NULL);
	print_status("CA:FALSE intermediate", status);
	CHECK(status & GNUTLS_CERT_INVALID);
	CHECK(status & GNUTLS_CERT_SIGNER_NOT_CA);
	mutls_identity_free(id);
	mutls_testca_free(bad);
	mutls_testca_free(root);
}

TEST(expired_and_future_leaves)
{
	mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
	mutls_testca *ca = new_ca();
	int64_t now = (int64_t)time(NULL);
	mutls_identity *id;
	unsigned status;

	o.cn = "expired";
	o.not_before = now - 2 * 86400;
	o.not_after = now - 86400;
	id = issue(ca, &o);
	status = gnutls_verify(id, mutls_testca_cert_pem(ca), NULL, NULL);
	print_status("expired", status);
	CHECK(status & GNUTLS_CERT_EXPIRED);
	CHECK(status & GNUTLS_CERT_INVALID);
	mutls_identity_free(id);

	o.cn = "future";
	o.not_before = now + 86400;
	o.not_after = now + 2 * 86400;
	id = issue(ca, &o);
	status = gnutls_verify(id, mutls_testca_cert_pem(ca), NULL, NULL);
	print_status("not yet valid", status);
	CHECK(status & GNUTLS_CERT_NOT_ACTIVATED);
	CHECK(status & GNUTLS_CERT_INVALID);
	mutls_identity_free(id);
	mutls_testca_free(ca);
}

TEST(purposes)
{
	mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
	mutls_testca *ca = new_ca();
	const char *root = mutls_testca_cert_pem(ca);
	mutls_identity *id;
	unsigned status;
	char oid[128];
	size_t oid_size = sizeof(oid);
	gnutls_x509_crt_t crt;

	o.cn = "server";
	o.purpose = MUTLS_PURPOSE_SERVER;
	id = issue(ca, &o);
	CHECK_INT(gnutls_verify(id, root, NULL, GNUTLS_KP_TLS_WWW_SERVER), 0);
	status = gnutls_verify(id, root, NULL, GNUTLS_KP_TLS_WWW_CLIENT);
	print_status("server leaf as client", status);
	CHECK(status & GNUTLS_CERT_PURPOSE_MISMATCH);
	CHECK(status & GNUTLS_CERT_INVALID);
	mutls_identity_free(id);

	o.cn = "client";
	o.purpose = MUTLS_PURPOSE_CLIENT;
	id = issue(ca, &o);
	CHECK_INT(gnutls_verify(id, root, NULL, GNUTLS_KP_TLS_WWW_CLIENT), 0);
	CHECK(gnutls_verify(id, root, NULL, GNUTLS_KP_TLS_WWW_SERVER) & GNUTLS_CERT_PURPOSE_MISMATCH);
	mutls_identity_free(id);

	/* NONE: no EKU extension at all, which GnuTLS accepts for any purpose. */
	o.cn = "anything";
	o.purpose = MUTLS_PURPOSE_NONE;
	id = issue(ca, &o);
	crt = to_gnutls(mutls_identity_certificate(id));
	CHECK_INT(gnutls_x509_crt_get_key_purpose_oid(crt, 0, oid, &oid_size, NULL),
		GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
	gnutls_x509_crt_deinit(crt);
	CHECK_INT(gnutls_verify(id, root, NULL, GNUTLS_KP_TLS_WWW_CLIENT), 0);
	CHECK_INT(gnutls_verify(id, root, NULL, GNUTLS_KP_TLS_WWW_SERVER), 0);
	mutls_identity_free(id);

	o.purpose = (mutls_purpose)17;
	expect_error(mutls_testca_issue(&id, ca, &o), MUTLS_EUSAGE, "unknown purpose 17");
	mutls_testca_free(ca);
}

TEST(bad_key_usage)
{
	mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
	mutls_testca *ca = new_ca();
	mutls_identity *id;
	unsigned usage = 0, critical = 0, status;
	gnutls_x509_crt_t crt;

	o.cn = "bad usage";
	o.flags = MUTLS_ISSUE_BAD_KEY_USAGE;
	id = issue(ca, &o);
	crt = to_gnutls(mutls_identity_certificate(id));
	CHECK_INT(gnutls_x509_crt_get_key_usage(crt, &usage, &critical), 0);
	CHECK_INT(usage, GNUTLS_KEY_KEY_CERT_SIGN);
	CHECK_INT(critical, 1);
	gnutls_x509_crt_deinit(crt);
	/* Chain validation does not look at a leaf's keyUsage (the TLS
	 * handshake does); record what GnuTLS says. */
	status = gnutls_verify(id, mutls_testca_cert_pem(ca), NULL, GNUTLS_KP_TLS_WWW_SERVER);
	print_status("bad key usage (chain only)", status);
	mutls_identity_free(id);
	mutls_testca_free(ca);
}

TEST(revocation_and_crl)
{
	mutls_testca *ca = new_ca(), *other = new_ca();
	mutls_identity *bad = issue_cn(ca, "revoked"), *good = issue_cn(ca, "fine");
	const char *root = mutls_testca_cert_pem(ca);
	gnutls_x509_crl_t crl;
	gnutls_datum_t d;
	unsigned char serial[64], number[16];
	size_t serial_len = sizeof(serial), number_len = sizeof(number);
	time_t when;
	char *pem = NULL, *hex = NULL, got[129];
	unsigned status;

	/* An empty CRL first. */
	CHECK_OK(mutls_testca_crl_pem(&pem, ca));
	CHECK(strncmp(pem, "-----BEGIN X509 CRL-----", 24) == 0);
	CHECK_INT(gnutls_verify(bad, root, pem, NULL), 0);
	mutls_free(pem);

	CHECK_OK(mutls_testca_revoke(ca, mutls_identity_certificate(bad)));
	CHECK_OK(mutls_testca_revoke(ca, mutls_identity_certificate(bad))); /* idempotent */
	CHECK_OK(mutls_testca_crl_pem(&pem, ca));

	status = gnutls_verify(bad, root, pem, NULL);
	print_status("revoked", status);
	CHECK(status & GNUTLS_CERT_REVOKED);
	CHECK(status & GNUTLS_CERT_INVALID);
	CHECK_INT(gnutls_verify(good, root, pem, NULL), 0);

	/* The CRL's contents. */
	d.data = (unsigned char *)pem;
	d.size = (unsigned)strlen(pem);
	CHECK_INT(gnutls_x509_crl_init(&crl), 0);
	CHECK_INT(gnutls_x509_crl_import(crl, &d, GNUTLS_X509_FMT_PEM), 0);
	CHECK_INT(gnutls_x509_crl_get_version(crl), 2);
	CHECK_INT(gnutls_x509_crl_get_crt_count(crl), 1);
	CHECK_INT(gnutls_x509_crl_get_crt_serial(crl, 0, serial, &serial_len, &when), 0);
	for (size_t i = 0; i < serial_len; i++)
		snprintf(got + 2 * i, 3, "%02x", serial[i]);
	CHECK_OK(mutls_x509_serial(&hex, mutls_identity_certificate(bad)));
	CHECK_STR(got, hex);
	mutls_free(hex);
	CHECK(llabs((long long)(time(NULL) - 3600 - when)) <= 5);
	CHECK(llabs((long long)(gnutls_x509_crl_get_next_update(crl) - time(NULL) - 30 * 86400)) <= 5);
	/* Second CRL of this CA: number 2. */
	CHECK_INT(gnutls_x509_crl_get_number(crl, number, &number_len, NULL), 0);
	CHECK_INT(number[number_len - 1], 2);
	gnutls_x509_crl_deinit(crl);
	mutls_free(pem);

	/* Another CA's CRL is not accepted for this root (VERIFY_CRL drops it). */
	CHECK_OK(mutls_testca_crl_pem(&pem, other));
	gnutls_x509_trust_list_t tl;
	gnutls_datum_t ca_d = { (unsigned char *)root, (unsigned)strlen(root) };
	gnutls_datum_t crl_d = { (unsigned char *)pem, (unsigned)strlen(pem) };
	CHECK_INT(gnutls_x509_trust_list_init(&tl, 0), 0);
	CHECK_INT(gnutls_x509_trust_list_add_trust_mem(tl, &ca_d, &crl_d, GNUTLS_X509_FMT_PEM,
		GNUTLS_TL_VERIFY_CRL, 0), 1);
	gnutls_x509_trust_list_deinit(tl, 1);
	mutls_free(pem);

	mutls_identity_free(bad);
	mutls_identity_free(good);
	mutls_testca_free(other);
	mutls_testca_free(ca);
}

TEST(revoke_foreign_certificate)
{
	mutls_testca_options co = MUTLS_TESTCA_OPTIONS_INIT;
	mutls_testca *ca = new_ca(), *twin = NULL;
	mutls_identity *id;

	co.name = "other CA";
	CHECK_OK(mutls_testca_new(&twin, &co));
	id = issue_cn(twin, "stranger");
	expect_error(mutls_testca_revoke(ca, mutls_identity_certificate(id)), MUTLS_EUSAGE,
		"certificate CN=stranger was not issued by CA CN=mutls test CA");
	mutls_identity_free(id);
	mutls_testca_free(twin);

	/* Same subject name, different key: still foreign. */
	CHECK_OK(mutls_testca_new(&twin, NULL));
	id = issue_cn(twin, "lookalike");
	expect_error(mutls_testca_revoke(ca, mutls_identity_certificate(id)), MUTLS_EUSAGE,
		"was not issued by CA CN=mutls test CA");
	mutls_identity_free(id);
	mutls_testca_free(twin);
	expect_error(mutls_testca_revoke(ca, NULL), MUTLS_EUSAGE, "NULL");
	mutls_testca_free(ca);
}

TEST(private_keys)
{
	mutls_testca *ca = new_ca();
	mutls_identity *id = issue_cn(ca, "keyed");
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_t crt = to_gnutls(mutls_identity_certificate(id));
	unsigned char kid[64], cid[64];
	size_t kid_len = sizeof(kid), cid_len = sizeof(cid);
	gnutls_datum_t d;
	char *enc = NULL;

	/* Plain PKCS#8, matching the certificate. */
	CHECK(strncmp(mutls_identity_key_pem(id), "-----BEGIN PRIVATE KEY-----", 27) == 0);
	d.data = (unsigned char *)mutls_identity_key_pem(id);
	d.size = (unsigned)strlen(mutls_identity_key_pem(id));
	CHECK_INT(gnutls_x509_privkey_init(&key), 0);
	CHECK_INT(gnutls_x509_privkey_import2(key, &d, GNUTLS_X509_FMT_PEM, NULL, 0), 0);
	CHECK_INT(gnutls_x509_privkey_get_key_id(key, 0, kid, &kid_len), 0);
	CHECK_INT(gnutls_x509_crt_get_key_id(crt, 0, cid, &cid_len), 0);
	CHECK(kid_len == cid_len && memcmp(kid, cid, kid_len) == 0);
	gnutls_x509_privkey_deinit(key);

	/* Encrypted PKCS#8. */
	CHECK_OK(mutls_identity_encrypted_key_pem(&enc, id, "s3cret"));
	CHECK(strncmp(enc, "-----BEGIN ENCRYPTED PRIVATE KEY-----", 37) == 0);
	d.data = (unsigned char *)enc;
	d.size = (unsigned)strlen(enc);
	CHECK_INT(gnutls_x509_privkey_init(&key), 0);
	CHECK(gnutls_x509_privkey_import2(key, &d, GNUTLS_X509_FMT_PEM, "wrong", 0) < 0);
	gnutls_x509_privkey_deinit(key);
	CHECK_INT(gnutls_x509_privkey_init(&key), 0);
	CHECK_INT(gnutls_x509_privkey_import2(key, &d, GNUTLS_X509_FMT_PEM, "s3cret", 0), 0);
	kid_len = sizeof(kid);
	CHECK_INT(gnutls_x509_privkey_get_key_id(key, 0, kid, &kid_len), 0);
	CHECK(kid_len == cid_len && memcmp(kid, cid, kid_len) == 0);
	gnutls_x509_privkey_deinit(key);
	mutls_free(enc);

	/* The CA's key matches the CA certificate too. */
	d.data = (unsigned char *)mutls_testca_key_pem(ca);
	d.size = (unsigned)strlen(mutls_testca_key_pem(ca));
	CHECK_INT(gnutls_x509_privkey_init(&key), 0);
	CHECK_INT(gnutls_x509_privkey_import2(key, &d, GNUTLS_X509_FMT_PEM, NULL, 0), 0);
	gnutls_x509_crt_deinit(crt);
	crt = to_gnutls(mutls_testca_certificate(ca));
	kid_len = sizeof(kid);
	cid_len = sizeof(cid);
	CHECK_INT(gnutls_x509_privkey_get_key_id(key, 0, kid, &kid_len), 0);
	CHECK_INT(gnutls_x509_crt_get_key_id(crt, 0, cid, &cid_len), 0);
	CHECK(kid_len == cid_len && memcmp(kid, cid, kid_len) == 0);
	gnutls_x509_privkey_deinit(key);
	gnutls_x509_crt_deinit(crt);

	expect_error(mutls_identity_encrypted_key_pem(&enc, id, NULL), MUTLS_EUSAGE, "NULL");
	mutls_identity_free(id);
	mutls_testca_free(ca);
}

TEST(ed25519_and_rsa)
{
	mutls_testca_options co = MUTLS_TESTCA_OPTIONS_INIT;
	mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
	mutls_testca *ed = NULL, *rsa = NULL;
	mutls_identity *id;
	unsigned usage = 0, critical = 0;
	gnutls_x509_crt_t crt;
	char *crl = NULL;

	co.key_type = MUTLS_KEY_ED25519;
	CHECK_OK(mutls_testca_new(&ed, &co));
	CHECK_STR(mutls_x509_key_type(mutls_testca_certificate(ed)), "ed25519");
	o.cn = "ed";
	o.key_type = MUTLS_KEY_ED25519;
	id = issue(ed, &o);
	CHECK_STR(mutls_x509_key_type(mutls_identity_certificate(id)), "ed25519");
	crt = to_gnutls(mutls_identity_certificate(id));
	CHECK_INT(gnutls_x509_crt_get_signature_algorithm(crt), GNUTLS_SIGN_EDDSA_ED25519);
	gnutls_x509_crt_deinit(crt);
	CHECK_INT(gnutls_verify(id, mutls_testca_cert_pem(ed), NULL, NULL), 0);
	/* An Ed25519 CA signs CRLs too. */
	CHECK_OK(mutls_testca_revoke(ed, mutls_identity_certificate(id)));
	CHECK_OK(mutls_testca_crl_pem(&crl, ed));
	CHECK(gnutls_verify(id, mutls_testca_cert_pem(ed), crl, NULL) & GNUTLS_CERT_REVOKED);
	mutls_free(crl);
	mutls_identity_free(id);

	co.key_type = MUTLS_KEY_RSA2048;
	CHECK_OK(mutls_testca_new(&rsa, &co));
	o.cn = "rsa";
	o.key_type = MUTLS_KEY_RSA2048;
	id = issue(rsa, &o);
	CHECK_STR(mutls_x509_key_type(mutls_identity_certificate(id)), "rsa2048");
	crt = to_gnutls(mutls_identity_certificate(id));
	CHECK_INT(gnutls_x509_crt_get_key_usage(crt, &usage, &critical), 0);
	CHECK_INT(usage, GNUTLS_KEY_DIGITAL_SIGNATURE | GNUTLS_KEY_KEY_ENCIPHERMENT);
	CHECK_INT(gnutls_x509_crt_get_signature_algorithm(crt), GNUTLS_SIGN_RSA_SHA256);
	gnutls_x509_crt_deinit(crt);
	CHECK_INT(gnutls_verify(id, mutls_testca_cert_pem(rsa), NULL, NULL), 0);
	mutls_identity_free(id);

	/* Mixed: an Ed25519 leaf under the RSA root. */
	o.key_type = MUTLS_KEY_ED25519;
	id = issue(rsa, &o);
	CHECK_INT(gnutls_verify(id, mutls_testca_cert_pem(rsa), NULL, NULL), 0);
	mutls_identity_free(id);

	mutls_testca_free(ed);
	mutls_testca_free(rsa);
}

TEST(write_to_directory)
{
	const char *base = getenv("TMPDIR");
	mutls_testca *root = new_ca(), *mid = NULL;
	mutls_identity *id;
	char dir[256], path[512], msg[700];
	struct stat st;
	char *data;
	FILE *f;
	long size;

	CHECK_OK(mutls_testca_intermediate(&mid, root, NULL));
	id = issue_cn(mid, "written");
	snprintf(dir, sizeof(dir), "%s/mutls-pki-XXXXXX", base && *base ? base : "/tmp");
	CHECK(mkdtemp(dir) != NULL);
	/* A pre-existing, world-readable key.pem gets tightened. */
	snprintf(path, sizeof(path), "%s/key.pem", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("old old old old old old old old old old old old old old old old", f);
	fclose(f);
	CHECK_INT(chmod(path, 0644), 0);

	CHECK_OK(mutls_identity_write_to(id, dir));
	static const char *const names[] = { "cert.pem", "chain.pem", "key.pem" };
	const char *expect[] = { mutls_identity_cert_pem(id), mutls_identity_chain_pem(id),
		mutls_identity_key_pem(id) };
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		CHECK_INT(stat(path, &st), 0);
		f = fopen(path, "rb");
		CHECK(f != NULL);
		fseek(f, 0, SEEK_END);
		size = ftell(f);
		rewind(f);
		data = calloc(1, (size_t)size + 1);
		CHECK_INT(fread(data, 1, (size_t)size, f), size);
		fclose(f);
		CHECK_STR(data, expect[i]);
		free(data);
		if (i == 2)
			CHECK_INT(st.st_mode & 0777, 0600);
		unlink(path);
	}
	/* The chain file holds leaf + intermediate. */
	CHECK(strlen(mutls_identity_chain_pem(id)) > strlen(mutls_identity_cert_pem(id)));

	/* A missing directory: the message names the file. */
	snprintf(path, sizeof(path), "%s/nope", dir);
	snprintf(msg, sizeof(msg), "%s/nope/cert.pem: cannot write file: No such file or directory", dir);
	expect_error(mutls_identity_write_to(id, path), MUTLS_ECONFIG, msg);
	CHECK_INT(rmdir(dir), 0);

	mutls_identity_free(id);
	mutls_testca_free(mid);
	mutls_testca_free(root);
}

TEST(issue_option_errors)
{
	static const char *const bad_ip[] = { "10.0.0.1", "10.0.0.256" };
	static const char *const empty_dns[] = { "" };
	mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
	mutls_testca *ca = new_ca();
	mutls_identity *id = (mutls_identity *)&id;

	o.ip = bad_ip;
	o.ip_count = 2;
	expect_error(mutls_testca_issue(&id, ca, &o), MUTLS_EUSAGE,
		"invalid IP address \"10.0.0.256\"");
	CHECK(id == NULL);

	o = (mutls_issue_options)MUTLS_ISSUE_OPTIONS_INIT;
	o.dns_count = 1;
	expect_error(mutls_testca_issue(&id, ca, &o), MUTLS_EUSAGE, "dns is NULL");
	o.dns = empty_dns;
	expect_error(mutls_testca_issue(&id, ca, &o), MUTLS_EUSAGE, "dns[0] is empty");

	o = (mutls_issue_options)MUTLS_ISSUE_OPTIONS_INIT;
	o.cn = "";
	expect_error(mutls_testca_issue(&id, ca, &o), MUTLS_EUSAGE, "cn is empty");

	o = (mutls_issue_options)MUTLS_ISSUE_OPTIONS_INIT;
	o.not_before = 100;
	o.not_after = 50;
	expect_error(mutls_testca_issue(&id, ca, &o), MUTLS_EUSAGE, "not_after is before not_before");

	o = (mutls_issue_options)MUTLS_ISSUE_OPTIONS_INIT;
	o.key_type = (mutls_key_type)-1;
	expect_error(mutls_testca_issue(&id, ca, &o), MUTLS_EUSAGE, "unknown key type");

	o = (mutls_issue_options)MUTLS_ISSUE_OPTIONS_INIT;
	o.version = 0;
	expect_error(mutls_testca_issue(&id, ca, &o), MUTLS_EUSAGE, "options version 0");
	expect_error(mutls_testca_issue(&id, NULL, NULL), MUTLS_EUSAGE, "NULL");

	/* NULL options are the defaults. */
	CHECK_OK(mutls_testca_issue(&id, ca, NULL));
	CHECK_STR(mutls_x509_label(mutls_identity_certificate(id)), "CN=mutls test leaf");
	mutls_identity_free(id);
	mutls_testca_free(ca);
}

TEST(unique_serials)
{
	mutls_testca *ca = new_ca();
	char *serials[200];

	for (int i = 0; i < 200; i++) {
		mutls_identity *id = issue_cn(ca, "same");
		CHECK_OK(mutls_x509_serial(&serials[i], mutls_identity_certificate(id)));
		CHECK_INT(strlen(serials[i]), 32);
		/* Positive and minimally encoded. */
		CHECK(serials[i][0] >= '4' && serials[i][0] <= '7');
		mutls_identity_free(id);
	}
	for (int i = 0; i < 200; i++)
		for (int j = i + 1; j < 200; j++)
			CHECK(strcmp(serials[i], serials[j]) != 0);
	for (int i = 0; i < 200; i++)
		mutls_free(serials[i]);
	mutls_testca_free(ca);
}

TEST(null_accessors)
{
	CHECK(mutls_testca_certificate(NULL) == NULL);
	CHECK(mutls_testca_cert_pem(NULL) == NULL);
	CHECK(mutls_testca_key_pem(NULL) == NULL);
	CHECK(mutls_identity_certificate(NULL) == NULL);
	CHECK_INT(mutls_identity_chain_length(NULL), 0);
	CHECK(mutls_identity_chain_at(NULL, 0) == NULL);
	CHECK(mutls_identity_cert_pem(NULL) == NULL);
	CHECK(mutls_identity_chain_pem(NULL) == NULL);
	CHECK(mutls_identity_key_pem(NULL) == NULL);
	mutls_testca_free(NULL);
	mutls_identity_free(NULL);
	char *out = NULL;
	expect_error(mutls_testca_crl_pem(&out, NULL), MUTLS_EUSAGE, "NULL");
	expect_error(mutls_identity_write_to(NULL, "/tmp"), MUTLS_EUSAGE, "NULL");
}

/* --- the hand-written DER against GnuTLS's own encoding ------------------ */

/* Offset and total length (header included) of the DER element at p. */
static size_t der_element(const unsigned char *p, size_t avail, size_t *header)
{
	size_t len, hl = 2;

	CHECK(avail >= 2);
	len = p[1];
	if (len & 0x80) {
		size_t n = len & 0x7f;
		CHECK(n >= 1 && n <= 4 && avail >= 2 + n);
		len = 0;
		for (size_t i = 0; i < n; i++)
			len = (len << 8) | p[2 + i];
		hl += n;
	}
	CHECK(hl + len <= avail);
	if (header)
		*header = hl;
	return hl + len;
}

/* The TBSCertificate (with its header) inside a certificate's DER. */
static gnutls_datum_t tbs_of(const unsigned char *der, size_t len)
{
	size_t hl, total = der_element(der, len, &hl);
	gnutls_datum_t tbs;
	CHECK_INT(total, len);
	tbs.data = (unsigned char *)der + hl;
	tbs.size = (unsigned)der_element(der + hl, len - hl, NULL);
	return tbs;
}

static gnutls_x509_privkey_t import_key_pem(const char *pem)
{
	gnutls_datum_t d = { (unsigned char *)pem, (unsigned)strlen(pem) };
	gnutls_x509_privkey_t key;
	CHECK_INT(gnutls_x509_privkey_init(&key), 0);
	CHECK_INT(gnutls_x509_privkey_import2(key, &d, GNUTLS_X509_FMT_PEM, NULL, 0), 0);
	return key;
}

/*
 * The leaf GnuTLS's setters make of the same fields (what TestCA did before
 * it wrote the DER itself): returns its DER (gnutls_free), or {NULL, 0}
 * with *grc the GnuTLS error when GnuTLS refuses the options.
 */
static gnutls_datum_t gnutls_leaf(mutls_testca *ca, const mutls_identity *id,
	const mutls_issue_options *o, int *grc)
{
	gnutls_x509_crt_t crt, ca_crt = to_gnutls(mutls_testca_certificate(ca));
	gnutls_x509_crt_t leaf = to_gnutls(mutls_identity_certificate(id));
	gnutls_x509_privkey_t key = import_key_pem(mutls_identity_key_pem(id));
	gnutls_x509_privkey_t ca_x509 = import_key_pem(mutls_testca_key_pem(ca));
	gnutls_privkey_t signer;
	gnutls_datum_t der = { NULL, 0 };
	unsigned char serial[64], kid[64], akid[64];
	size_t serial_len = sizeof(serial), kid_len = sizeof(kid), akid_len = sizeof(akid);
	mutls_purpose purpose = o->purpose == MUTLS_PURPOSE_ANY ? MUTLS_PURPOSE_BOTH : o->purpose;
	const char *cn = o->cn;
	gnutls_digest_algorithm_t dig;
	unsigned usage, critical = 0, bits = 0;
	int rc = 0;

	CHECK_INT(gnutls_privkey_init(&signer), 0);
	CHECK_INT(gnutls_privkey_import_x509(signer, ca_x509, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE), 0);
	switch (gnutls_x509_privkey_get_pk_algorithm2(ca_x509, &bits)) {
	case GNUTLS_PK_EDDSA_ED25519: dig = GNUTLS_DIG_UNKNOWN; break;
	case GNUTLS_PK_ECDSA:
		dig = bits == 384 ? GNUTLS_DIG_SHA384 : GNUTLS_DIG_SHA256;
		break;
	default: dig = GNUTLS_DIG_SHA256; break;
	}
	CHECK_INT(gnutls_x509_crt_get_serial(leaf, serial, &serial_len), 0);
	CHECK_INT(gnutls_x509_crt_get_subject_key_id(ca_crt, akid, &akid_len, &critical), 0);
	if (!cn && !o->dns_count && !o->ip_count && !o->uri_count && !o->email_count)
		cn = "mutls test leaf";

	CHECK_INT(gnutls_x509_crt_init(&crt), 0);
	CHECK_INT(gnutls_x509_crt_set_version(crt, 3), 0);
	CHECK_INT(gnutls_x509_crt_set_serial(crt, serial, serial_len), 0);
	/* explicit times are taken as given; defaults as the leaf has them */
	CHECK_INT(gnutls_x509_crt_set_activation_time(crt, o->not_before != MUTLS_TIME_UNSET ?
		(time_t)o->not_before : gnutls_x509_crt_get_activation_time(leaf)), 0);
	CHECK_INT(gnutls_x509_crt_set_expiration_time(crt, o->not_after != MUTLS_TIME_UNSET ?
		(time_t)o->not_after : gnutls_x509_crt_get_expiration_time(leaf)), 0);
	CHECK_INT(gnutls_x509_crt_set_key(crt, key), 0);
	if (cn)
		CHECK_INT(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
			(unsigned)strlen(cn)), 0);
	for (size_t i = 0; i < o->dns_count && rc >= 0; i++)
		rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, o->dns[i],
			(unsigned)strlen(o->dns[i]), GNUTLS_FSAN_APPEND);
	for (size_t i = 0; i < o->ip_count && rc >= 0; i++) {
		unsigned char addr[16];
		int v6 = strchr(o->ip[i], ':') != NULL;
		CHECK_INT(inet_pton(v6 ? AF_INET6 : AF_INET, o->ip[i], addr), 1);
		rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, addr,
			v6 ? 16 : 4, GNUTLS_FSAN_APPEND);
	}
	for (size_t i = 0; i < o->uri_count && rc >= 0; i++)
		rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_URI, o->uri[i],
			(unsigned)strlen(o->uri[i]), GNUTLS_FSAN_APPEND);
	for (size_t i = 0; i < o->email_count && rc >= 0; i++)
		rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_RFC822NAME, o->email[i],
			(unsigned)strlen(o->email[i]), GNUTLS_FSAN_APPEND);
	if (rc < 0)
		goto out;
	CHECK_INT(gnutls_x509_crt_set_basic_constraints(crt, 0, -1), 0);
	if (o->flags & MUTLS_ISSUE_BAD_KEY_USAGE)
		usage = GNUTLS_KEY_KEY_CERT_SIGN;
	else if (o->key_type >= MUTLS_KEY_RSA2048)
		usage = GNUTLS_KEY_DIGITAL_SIGNATURE | GNUTLS_KEY_KEY_ENCIPHERMENT;
	else
		usage = GNUTLS_KEY_DIGITAL_SIGNATURE;
	CHECK_INT(gnutls_x509_crt_set_key_usage(crt, usage), 0);
	if (purpose == MUTLS_PURPOSE_SERVER || purpose == MUTLS_PURPOSE_BOTH)
		CHECK_INT(gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0), 0);
	if (purpose == MUTLS_PURPOSE_CLIENT || purpose == MUTLS_PURPOSE_BOTH)
		CHECK_INT(gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0), 0);
	CHECK_INT(gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA1, kid, &kid_len), 0);
	CHECK_INT(gnutls_x509_crt_set_subject_key_id(crt, kid, kid_len), 0);
	CHECK_INT(gnutls_x509_crt_set_authority_key_id(crt, akid, akid_len), 0);
	CHECK_INT(gnutls_x509_crt_privkey_sign(crt, ca_crt, signer, dig, 0), 0);
	CHECK_INT(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der), 0);
out:
	*grc = rc;
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_crt_deinit(ca_crt);
	gnutls_x509_crt_deinit(leaf);
	gnutls_x509_privkey_deinit(key);
	gnutls_privkey_deinit(signer);
	return der;
}

/* Issue with o, and check the leaf is byte for byte what GnuTLS makes of the
 * same fields (all but the signature, which is randomized), that it verifies,
 * and that its key PEM is GnuTLS's layout. */
static void check_like_gnutls(mutls_testca *ca, const char *root_pem, const mutls_issue_options *o)
{
	mutls_identity *id = NULL;
	const unsigned char *der;
	size_t len;
	gnutls_datum_t ref, mine_tbs, ref_tbs, kpem = { NULL, 0 }, cpem = { NULL, 0 };
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_t crt;
	int grc = 0;

	CHECK_OK(mutls_testca_issue(&id, ca, o));
	mutls_x509_der(&der, &len, mutls_identity_certificate(id));
	ref = gnutls_leaf(ca, id, o, &grc);
	CHECK_INT(grc, 0);
	mine_tbs = tbs_of(der, len);
	ref_tbs = tbs_of(ref.data, ref.size);
	if (mine_tbs.size != ref_tbs.size || memcmp(mine_tbs.data, ref_tbs.data, ref_tbs.size)) {
		for (unsigned i = 0; i < mine_tbs.size && i < ref_tbs.size; i++)
			if (mine_tbs.data[i] != ref_tbs.data[i]) {
				printf("[TBS differs at byte %u of %u/%u] ", i, mine_tbs.size, ref_tbs.size);
				break;
			}
		CHECK(!"TBSCertificate as GnuTLS writes it");
	}
	/* signatureAlgorithm too, and nothing after the signature */
	{
		size_t after = (size_t)(mine_tbs.data - der) + mine_tbs.size;
		size_t ref_after = (size_t)(ref_tbs.data - ref.data) + ref_tbs.size;
		size_t alg = der_element(der + after, len - after, NULL);
		CHECK_INT(alg, der_element(ref.data + ref_after, ref.size - ref_after, NULL));
		CHECK(memcmp(der + after, ref.data + ref_after, alg) == 0);
		CHECK_INT(after + alg + der_element(der + after + alg, len - after - alg, NULL), len);
		CHECK_INT(der[after + alg], 0x03);
	}
	/* the certificate PEM is GnuTLS's */
	crt = to_gnutls(mutls_identity_certificate(id));
	CHECK_INT(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cpem), 0);
	CHECK_STR((const char *)cpem.data, mutls_identity_cert_pem(id));
	gnutls_x509_crt_deinit(crt);
	/* the key PEM is what GnuTLS writes for the key it reads from it */
	key = import_key_pem(mutls_identity_key_pem(id));
	CHECK_INT(gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL,
		GNUTLS_PKCS_PLAIN, &kpem), 0);
	CHECK_INT(kpem.size, strlen(mutls_identity_key_pem(id)));
	CHECK(memcmp(kpem.data, mutls_identity_key_pem(id), kpem.size) == 0);
	gnutls_x509_privkey_deinit(key);
	if (root_pem)
		CHECK_INT(gnutls_verify(id, root_pem, NULL, NULL), 0);
	gnutls_free(cpem.data);
	gnutls_free(kpem.data);
	gnutls_free(ref.data);
	mutls_identity_free(id);
}

TEST(leaf_der_matches_gnutls)
{
	static const char *const dns[] = { "a.example", "b.example", "*.c.example" };
	static const char *const ips[] = { "10.0.0.7", "::1", "2001:db8::42" };
	static const char *const uris[] = { "spiffe://example.org/payments" };
	static const char *const emails[] = { "ops@example.org", "x@y.z" };
	static const char *const cns[] = { "orders", "O'Brien & sons", "caf\xc3\xa9",
		"with space (and) +,-./:=?" };
	static const struct { int64_t nb, na; } times[] = {
		{ MUTLS_TIME_UNSET, MUTLS_TIME_UNSET },
		{ 0, 86400 },                         /* 1970 */
		{ -631152000, 946684800 },            /* 1950 .. 2000 */
		{ -631152001, 2524608000 },           /* 1949 (UTCTime "49"), 2050 */
		{ 2524607999, 4102444800 },           /* 2049 .. 2100: GeneralizedTime */
		{ -1, 253402300799 },                 /* -1 and 9999: 99991231235959Z */
		{ 1700000000, 1700000000 },
	};
	static const mutls_key_type ca_types[] = { MUTLS_KEY_P256, MUTLS_KEY_P384,
		MUTLS_KEY_ED25519, MUTLS_KEY_RSA2048 };
	static const mutls_key_type leaf_types[] = { MUTLS_KEY_P256, MUTLS_KEY_P384,
		MUTLS_KEY_ED25519, MUTLS_KEY_RSA2048 };
	char long_cn[300], long_dns[200], *many[120];
	char many_text[120][64];

	memset(long_cn, 'n', sizeof(long_cn) - 1);
	long_cn[sizeof(long_cn) - 1] = '\0';
	memset(long_dns, 'd', sizeof(long_dns) - 1);
	long_dns[sizeof(long_dns) - 1] = '\0';
	for (int i = 0; i < 120; i++) {
		snprintf(many_text[i], sizeof(many_text[i]), "host-%03d.a-rather-long-domain.example", i);
		many[i] = many_text[i];
	}

	for (size_t c = 0; c < sizeof(ca_types) / sizeof(ca_types[0]); c++) {
		mutls_testca_options co = MUTLS_TESTCA_OPTIONS_INIT;
		mutls_testca *root = NULL, *mid = NULL;
		mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
		const char *root_pem;

		co.key_type = ca_types[c];
		CHECK_OK(mutls_testca_new(&root, &co));
		co.name = "a \xc3\xbcnicode intermediate";
		CHECK_OK(mutls_testca_intermediate(&mid, root, &co));
		root_pem = mutls_testca_cert_pem(root);

		/* defaults; every leaf key type */
		check_like_gnutls(root, root_pem, &o);
		for (size_t k = 0; k < sizeof(leaf_types) / sizeof(leaf_types[0]); k++) {
			if (leaf_types[k] == MUTLS_KEY_RSA2048 && c != 3)
				continue; /* slow; once is enough */
			o = (mutls_issue_options)MUTLS_ISSUE_OPTIONS_INIT;
			o.key_type = leaf_types[k];
			o.cn = "typed";
			o.dns = dns;
			o.dns_count = 1;
			check_like_gnutls(root, root_pem, &o);
			check_like_gnutls(mid, root_pem, &o);
		}
		/* every kind of name, every purpose, the bad key usage */
		for (int p = MUTLS_PURPOSE_SERVER; p <= MUTLS_PURPOSE_NONE; p++) {
			o = (mutls_issue_options)MUTLS_ISSUE_OPTIONS_INIT;
			o.purpose = (mutls_purpose)p;
			o.dns = dns;
			o.dns_count = 3;
			o.ip = ips;
			o.ip_count = 3;
			o.uri = uris;
			o.uri_count = 1;
			o.email = emails;
			o.email_count = 2;
			o.flags = p == MUTLS_PURPOSE_NONE ? MUTLS_ISSUE_BAD_KEY_USAGE : 0;
			check_like_gnutls(mid, root_pem, &o);
			o.cn = cns[(size_t)p % (sizeof(cns) / sizeof(cns[0]))];
			check_like_gnutls(root, root_pem, &o);
		}
		/* subjects: printable, UTF-8, long (long-form lengths) */
		for (size_t i = 0; i < sizeof(cns) / sizeof(cns[0]); i++) {
			o = (mutls_issue_options)MUTLS_ISSUE_OPTIONS_INIT;
			o.cn = cns[i];
			check_like_gnutls(root, root_pem, &o);
		}
		o = (mutls_issue_options)MUTLS_ISSUE_OPTIONS_INIT;
		o.cn = long_cn;
		check_like_gnutls(root, root_pem, &o);
		/* a big SAN list: the DER outgrows its inline buffer */
		o = (mutls_issue_options)MUTLS_ISSUE_OPTIONS_INIT;
		o.dns = (const char *const *)many;
		o.dns_count = 120;
		check_like_gnutls(root, root_pem, &o);
		{
			const char *one[1] = { long_dns };
			o.dns = one;
			o.dns_count = 1;
			check_like_gnutls(root, root_pem, &o);
		}
		/* validity: UTCTime and GeneralizedTime, and the edges */
		for (size_t t = 0; t < sizeof(times) / sizeof(times[0]); t++) {
			o = (mutls_issue_options)MUTLS_ISSUE_OPTIONS_INIT;
			o.cn = "timed";
			o.not_before = times[t].nb;
			o.not_after = times[t].na;
			check_like_gnutls(root, NULL, &o);
		}
		mutls_testca_free(mid);
		mutls_testca_free(root);
	}
}

TEST(leaf_names_beyond_ascii)
{
	/* Names GnuTLS maps (IDNA) or refuses are GnuTLS's to handle, as they
	 * were when TestCA built leaves through it. */
	static const char *const idn[] = { "b\xc3\xbc" "cher.example" };
	static const char *const idn_email[] = { "ops@b\xc3\xbc" "cher.example" };
	static const char *const bad_email[] = { "\xc3\xbc@example.org" };
	static const char *const bad_uri[] = { "https://b\xc3\xbc" "cher.example/" };
	mutls_testca *ca = new_ca();
	mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
	mutls_identity *id = NULL;
	gnutls_datum_t ref;
	int rc, grc = 0;

	o.dns = idn;
	o.dns_count = 1;
	rc = mutls_testca_issue(&id, ca, &o);
	if (rc == 0) {
		check_like_gnutls(ca, mutls_testca_cert_pem(ca), &o);
		mutls_identity_free(id);
	} else {
		/* a GnuTLS without IDNA support refuses, naming the name */
		expect_error(rc, MUTLS_ECONFIG, idn[0]);
	}
	o = (mutls_issue_options)MUTLS_ISSUE_OPTIONS_INIT;
	o.email = idn_email;
	o.email_count = 1;
	if (mutls_testca_issue(&id, ca, &o) == 0) {
		check_like_gnutls(ca, mutls_testca_cert_pem(ca), &o);
		mutls_identity_free(id);
	}

	/* refused by GnuTLS: the same error as before (name and reason) */
	o = (mutls_issue_options)MUTLS_ISSUE_OPTIONS_INIT;
	o.email = bad_email;
	o.email_count = 1;
	expect_error(mutls_testca_issue(&id, ca, &o), MUTLS_ECONFIG, "issue: cannot set \xc3\xbc@example.org");
	o = (mutls_issue_options)MUTLS_ISSUE_OPTIONS_INIT;
	o.uri = bad_uri;
	o.uri_count = 1;
	expect_error(mutls_testca_issue(&id, ca, &o), MUTLS_ECONFIG, "issue: cannot set https://b");
	/* and GnuTLS's own setters refuse it as well */
	o.cn = "ref";
	{
		mutls_issue_options plain = MUTLS_ISSUE_OPTIONS_INIT;
		plain.cn = "ref";
		CHECK_OK(mutls_testca_issue(&id, ca, &plain));
		ref = gnutls_leaf(ca, id, &o, &grc);
		CHECK(grc < 0);
		CHECK(ref.data == NULL);
		mutls_identity_free(id);
	}
	mutls_testca_free(ca);
}

/* RFC 5915 / PKCS#8 ECDSA keys carry the private value at the curve's size
 * (pyca/cryptography refuses anything else): every key, plain, encrypted
 * and the CA's, over enough keys that about half would start with a
 * zero-padded or top-bit-set value. */
static void check_fixed_size_scalar(const char *pem, size_t size)
{
	gnutls_datum_t in = { (unsigned char *)pem, (unsigned)strlen(pem) }, der = { NULL, 0 };
	const unsigned char *p;
	size_t hl, n, off;

	CHECK_INT(gnutls_pem_base64_decode2("PRIVATE KEY", &in, &der), 0);
	p = der.data;
	n = der.size;
	CHECK_INT(der_element(p, n, &hl), n);                 /* PrivateKeyInfo */
	off = hl;
	off += der_element(p + off, n - off, NULL);            /* version */
	off += der_element(p + off, n - off, NULL);            /* algorithm */
	CHECK_INT(p[off], 0x04);                               /* privateKey */
	der_element(p + off, n - off, &hl);
	off += hl;
	CHECK_INT(p[off], 0x30);                               /* ECPrivateKey */
	der_element(p + off, n - off, &hl);
	off += hl;
	CHECK(p[off] == 0x02 && p[off + 1] == 1 && p[off + 2] == 1); /* version 1 */
	off += 3;
	CHECK_INT(p[off], 0x04);
	CHECK_INT(p[off + 1], size);
	gnutls_free(der.data);
}

TEST(ec_keys_fixed_size)
{
	static const struct { mutls_key_type type; size_t size; int count; } kinds[] = {
		{ MUTLS_KEY_P256, 32, 1000 },
		{ MUTLS_KEY_P384, 48, 300 },
	};

	for (size_t k = 0; k < 2; k++) {
		mutls_testca_options co = MUTLS_TESTCA_OPTIONS_INIT;
		mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
		mutls_testca *ca = NULL;
		int short_or_long = 0, encrypted = 0;

		co.key_type = kinds[k].type;
		CHECK_OK(mutls_testca_new(&ca, &co));
		check_fixed_size_scalar(mutls_testca_key_pem(ca), kinds[k].size);
		o.key_type = kinds[k].type;
		o.cn = "k";
		for (int i = 0; i < kinds[k].count; i++) {
			mutls_identity *id = issue(ca, &o);
			gnutls_x509_privkey_t key = import_key_pem(mutls_identity_key_pem(id));
			gnutls_datum_t x, y, s;
			gnutls_ecc_curve_t curve;

			check_fixed_size_scalar(mutls_identity_key_pem(id), kinds[k].size);
			/* what GnuTLS would have written minimal */
			CHECK_INT(gnutls_x509_privkey_export_ecc_raw(key, &curve, &x, &y, &s), 0);
			short_or_long += s.size != kinds[k].size;
			gnutls_free(x.data);
			gnutls_free(y.data);
			gnutls_free(s.data);
			gnutls_x509_privkey_deinit(key);
			if (s.size != kinds[k].size && encrypted < 3) {
				/* the encrypted key decrypts to the same fixed-size value
				 * (a few: each PBKDF2 takes a while) */
				char *enc = NULL;
				gnutls_datum_t d, plain = { NULL, 0 };
				CHECK_OK(mutls_identity_encrypted_key_pem(&enc, id, "pw"));
				d.data = (unsigned char *)enc;
				d.size = (unsigned)strlen(enc);
				CHECK_INT(gnutls_x509_privkey_init(&key), 0);
				CHECK_INT(gnutls_x509_privkey_import2(key, &d, GNUTLS_X509_FMT_PEM, "pw", 0), 0);
				CHECK_INT(gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL,
					GNUTLS_PKCS_PLAIN, &plain), 0);
				CHECK_STR((const char *)plain.data, mutls_identity_key_pem(id));
				gnutls_free(plain.data);
				gnutls_x509_privkey_deinit(key);
				mutls_free(enc);
				encrypted++;
			}
			mutls_identity_free(id);
		}
		/* the keys were drawn once: about half have a value GnuTLS would
		 * write at another size */
		CHECK(short_or_long > kinds[k].count / 4);
		CHECK_INT(encrypted, 3);
		mutls_testca_free(ca);
	}
}

/* A CA written out (certificate + key) and loaded back issues leaves that
 * verify against the original; an intermediate carries its chain. */
TEST(load_existing_ca)
{
	static const mutls_key_type types[] = { MUTLS_KEY_P256, MUTLS_KEY_P384,
		MUTLS_KEY_ED25519, MUTLS_KEY_RSA2048 };
	mutls_testca_options co = MUTLS_TESTCA_OPTIONS_INIT;
	mutls_testca *root, *loaded = NULL, *inter = NULL, *again = NULL;
	mutls_identity *leaf, *id;
	char *crl = NULL, *chain;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		co.key_type = types[i];
		CHECK_OK(mutls_testca_new(&root, &co));
		CHECK_OK(mutls_testca_load(&loaded, mutls_testca_cert_pem(root),
			mutls_testca_key_pem(root), NULL));
		CHECK(mutls_x509_label(mutls_testca_certificate(loaded)) != NULL);
		CHECK_STR(mutls_testca_cert_pem(loaded), mutls_testca_cert_pem(root));
		leaf = issue_cn(loaded, "later");
		CHECK_INT(mutls_identity_chain_length(leaf), 1);
		CHECK_INT(gnutls_verify(leaf, mutls_testca_cert_pem(root), NULL, NULL), 0);
		/* its CRL is signed by the same key: the root's trust takes it */
		CHECK_OK(mutls_testca_revoke(loaded, mutls_identity_certificate(leaf)));
		CHECK_OK(mutls_testca_crl_pem(&crl, loaded));
		CHECK(gnutls_verify(leaf, mutls_testca_cert_pem(root), crl, NULL) & GNUTLS_CERT_REVOKED);
		mutls_free(crl);
		mutls_identity_free(leaf);
		mutls_testca_free(loaded);
		loaded = NULL;
		mutls_testca_free(root);
	}

	/* An intermediate, given with the chain above it. */
	root = new_ca();
	CHECK_OK(mutls_testca_intermediate(&inter, root, NULL));
	chain = malloc(strlen(mutls_testca_cert_pem(inter)) + strlen(mutls_testca_cert_pem(root)) + 1);
	strcpy(chain, mutls_testca_cert_pem(inter));
	strcat(chain, mutls_testca_cert_pem(root));
	CHECK_OK(mutls_testca_load(&again, chain, mutls_testca_key_pem(inter), NULL));
	id = issue_cn(again, "deep");
	CHECK_INT(mutls_identity_chain_length(id), 2); /* leaf, intermediate; not the root */
	CHECK_STR(mutls_x509_label(mutls_identity_chain_at(id, 1)), "CN=mutls test intermediate");
	CHECK_INT(gnutls_verify(id, mutls_testca_cert_pem(root), NULL, NULL), 0);
	mutls_identity_free(id);
	mutls_testca_free(again);
	free(chain);

	/* Refusals: a leaf is no CA; a key of another CA; nothing given. */
	leaf = issue_cn(root, "leaf");
	expect_error(mutls_testca_load(&again, mutls_identity_cert_pem(leaf),
		mutls_identity_key_pem(leaf), NULL), MUTLS_ECONFIG, "is not a CA certificate");
	CHECK(again == NULL);
	expect_error(mutls_testca_load(&again, mutls_testca_cert_pem(root),
		mutls_testca_key_pem(inter), NULL), MUTLS_ECONFIG, "does not match the CA certificate");
	expect_error(mutls_testca_load(&again, mutls_testca_cert_pem(root), "", NULL),
		MUTLS_ECONFIG, "empty value");
	expect_error(mutls_testca_load(&again, "/nonexistent/ca.pem",
		mutls_testca_key_pem(root), NULL), MUTLS_ECONFIG, "/nonexistent/ca.pem");
	expect_error(mutls_testca_load(NULL, "x", "y", NULL), MUTLS_EUSAGE, "NULL argument");
	mutls_identity_free(leaf);
	mutls_testca_free(inter);
	mutls_testca_free(root);
}

TEST(load_ca_from_files_and_encrypted_key)
{
	mutls_testca *root = new_ca(), *loaded = NULL;
	mutls_identity *id = issue_cn(root, "k");
	char dir[] = "/tmp/mutls-pki-XXXXXX", cert[64], key[64];
	char *enc = NULL;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(cert, sizeof(cert), "%s/ca.pem", dir);
	snprintf(key, sizeof(key), "%s/ca-key.pem", dir);
	CHECK((f = fopen(cert, "w")) != NULL);
	fputs(mutls_testca_cert_pem(root), f);
	fclose(f);
	CHECK((f = fopen(key, "w")) != NULL);
	fputs(mutls_testca_key_pem(root), f);
	fclose(f);
	CHECK_OK(mutls_testca_load(&loaded, cert, key, NULL));
	mutls_testca_free(loaded);
	loaded = NULL;

	/* an encrypted key: the password is needed, and must be right; the
	 * identity's key stands in (it is not the CA's: the password is checked
	 * first, the match after) */
	CHECK_OK(mutls_identity_encrypted_key_pem(&enc, id, "s3cret"));
	expect_error(mutls_testca_load(&loaded, cert, enc, NULL), MUTLS_ECONFIG,
		"no password was given");
	expect_error(mutls_testca_load(&loaded, cert, enc, "wrong"), MUTLS_ECONFIG, "wrong password");
	expect_error(mutls_testca_load(&loaded, cert, enc, "s3cret"), MUTLS_ECONFIG, "does not match");
	mutls_free(enc);
	unlink(cert);
	unlink(key);
	rmdir(dir);
	mutls_identity_free(id);
	mutls_testca_free(root);
}
