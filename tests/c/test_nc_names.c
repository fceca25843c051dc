/* URI and directoryName name constraints (nc_names.c), which GnuTLS reads
 * but does not enforce, and the form of a nameConstraints value: roots
 * made here with GnuTLS, each carrying one constraint as DER, and leaves
 * under them. */
#include "pair.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

typedef struct {
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key;
} made;

/* permitted URI corp.example */
static const unsigned char uri_corp[] = {
	0x30, 0x12, 0xa0, 0x10, 0x30, 0x0e, 0x86, 0x0c,
	'c', 'o', 'r', 'p', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e',
};
/* permitted directoryName O=corp (PrintableString) */
static const unsigned char dn_corp[] = {
	0x30, 0x15, 0xa0, 0x13, 0x30, 0x11, 0xa4, 0x0f, 0x30, 0x0d, 0x31, 0x0b, 0x30, 0x09,
	0x06, 0x03, 0x55, 0x04, 0x0a, 0x13, 0x02, 'c', 'o',
};
/* excluded before permitted: malformed */
static const unsigned char out_of_order[] = {
	0x30, 0x20,
	0xa1, 0x0e, 0x30, 0x0c, 0x82, 0x0a, 'e', 'v', 'i', 'l', '.', 'e', 'x', 'a', 'm', 'p',
	0xa0, 0x0e, 0x30, 0x0c, 0x82, 0x0a, 'c', 'o', 'r', 'p', '.', 'e', 'x', 'a', 'm', 'p',
};

static void make_root(made *m, const unsigned char *nc, size_t nc_len)
{
	crt_start(&m->crt, &m->key, 1, NULL);
	gnutls_x509_crt_set_dn_by_oid(m->crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, "co", 2);
	gnutls_x509_crt_set_dn_by_oid(m->crt, GNUTLS_OID_X520_COMMON_NAME, 0, "nc root", 7);
	CHECK(gnutls_x509_crt_set_basic_constraints(m->crt, 1, -1) == 0);
	CHECK(gnutls_x509_crt_set_key_usage(m->crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN) == 0);
	CHECK(gnutls_x509_crt_set_extension_by_oid(m->crt, "2.5.29.30", nc, (unsigned)nc_len, 1) == 0);
	CHECK(gnutls_x509_crt_sign2(m->crt, m->crt, m->key, GNUTLS_DIG_SHA256, 0) == 0);
}

/* A client leaf under root with subject O=org (none when NULL), CN=leaf
 * and the URI SAN uri (none when NULL). */
static void make_leaf(made *m, const made *root, const char *org, const char *uri)
{
	static unsigned char serial = 2;

	crt_start(&m->crt, &m->key, serial++, NULL);
	if (org)
		gnutls_x509_crt_set_dn_by_oid(m->crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, org,
			(unsigned)strlen(org));
	gnutls_x509_crt_set_dn_by_oid(m->crt, GNUTLS_OID_X520_COMMON_NAME, 0, "leaf", 4);
	CHECK(gnutls_x509_crt_set_basic_constraints(m->crt, 0, -1) == 0);
	CHECK(gnutls_x509_crt_set_key_usage(m->crt, GNUTLS_KEY_DIGITAL_SIGNATURE) == 0);
	CHECK(gnutls_x509_crt_set_key_purpose_oid(m->crt, GNUTLS_KP_TLS_WWW_CLIENT, 0) == 0);
	if (uri)
		CHECK(gnutls_x509_crt_set_subject_alt_name(m->crt, GNUTLS_SAN_URI, uri, (unsigned)strlen(uri),
			GNUTLS_FSAN_APPEND) == 0);
	CHECK(gnutls_x509_crt_sign2(m->crt, root->crt, root->key, GNUTLS_DIG_SHA256, 0) == 0);
}

static void made_free(made *m)
{
	gnutls_x509_crt_deinit(m->crt);
	gnutls_x509_privkey_deinit(m->key);
}

static mutls_x509 *as_mutls(const made *m)
{
	gnutls_datum_t der;
	mutls_x509 *x = NULL;
	CHECK(gnutls_x509_crt_export2(m->crt, GNUTLS_X509_FMT_DER, &der) == 0);
	CHECK_OK(mutls_x509_from_der(&x, der.data, der.size));
	gnutls_free(der.data);
	return x;
}

/* mutls_x509_verify of a leaf (org, uri) under a root with constraints nc:
 * its return; the reasons in *reasons. */
static int verify_under(const unsigned char *nc, size_t nc_len, const char *org, const char *uri,
	unsigned *reasons)
{
	made root, leaf;
	mutls_x509 *anchor, *x;
	mutls_config *trust;
	int rc;

	make_root(&root, nc, nc_len);
	make_leaf(&leaf, &root, org, uri);
	anchor = as_mutls(&root);
	x = as_mutls(&leaf);
	CHECK_OK(mutls_config_new(&trust));
	CHECK_OK(mutls_config_add_trust_x509(trust, anchor));
	rc = mutls_x509_verify(reasons, x, NULL, 0, trust, NULL, MUTLS_PURPOSE_CLIENT);
	mutls_config_unref(trust);
	mutls_x509_unref(x);
	mutls_x509_unref(anchor);
	made_free(&leaf);
	made_free(&root);
	return rc;
}

TEST(a_permitted_uri_subtree_binds_the_leafs_uris)
{
	unsigned reasons = 0;

	CHECK_INT(verify_under(uri_corp, sizeof(uri_corp), "co", "spiffe://corp.example/svc", &reasons), 0);
	CHECK_INT(verify_under(uri_corp, sizeof(uri_corp), "co", "spiffe://CORP.example:443/svc", &reasons), 0);
	CHECK_INT(verify_under(uri_corp, sizeof(uri_corp), "co", NULL, &reasons), 0);
	CHECK_INT(verify_under(uri_corp, sizeof(uri_corp), "co", "spiffe://evil.example/svc", &reasons),
		MUTLS_EVERIFY);
	CHECK_INT(reasons, MUTLS_REASON_NAME_CONSTRAINTS);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "names URI:spiffe://evil.example/svc, "
		"outside what the name constraints of CA CN=nc root permit");
	/* no leading period: that host only */
	CHECK_INT(verify_under(uri_corp, sizeof(uri_corp), "co", "spiffe://a.corp.example/svc", &reasons),
		MUTLS_EVERIFY);
	CHECK_INT(verify_under(uri_corp, sizeof(uri_corp), "co", "urn:corp.example", &reasons), MUTLS_EVERIFY);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "which has no host name");
}

TEST(a_permitted_directory_name_subtree_binds_the_leafs_subject)
{
	unsigned reasons = 0;

	CHECK_INT(verify_under(dn_corp, sizeof(dn_corp), "co", NULL, &reasons), 0);
	CHECK_INT(verify_under(dn_corp, sizeof(dn_corp), "CO", NULL, &reasons), 0); /* case does not count */
	CHECK_INT(verify_under(dn_corp, sizeof(dn_corp), "evil", NULL, &reasons), MUTLS_EVERIFY);
	CHECK_INT(reasons, MUTLS_REASON_NAME_CONSTRAINTS);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "has the subject CN=leaf,O=evil, outside "
		"what the name constraints of CA CN=nc root permit");
	CHECK_INT(verify_under(dn_corp, sizeof(dn_corp), NULL, NULL, &reasons), MUTLS_EVERIFY); /* CN only */
}

TEST(name_constraints_with_their_lists_out_of_order_are_malformed)
{
	unsigned reasons = 0;

	CHECK_INT(verify_under(out_of_order, sizeof(out_of_order), "co", NULL, &reasons), MUTLS_EVERIFY);
	CHECK_INT(reasons & MUTLS_REASON_NAME_CONSTRAINTS, MUTLS_REASON_NAME_CONSTRAINTS);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "malformed name constraints");
}
