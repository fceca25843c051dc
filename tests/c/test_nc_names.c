/* URI and directoryName name constraints (nc_names.c), which GnuTLS reads
 * but does not enforce, IP ones, which it holds only against addresses of
 * their own length, and the form of a nameConstraints value: roots made
 * here with GnuTLS, each carrying one constraint as DER, and leaves under
 * them. */
#include "pair.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <arpa/inet.h>
#include <sys/socket.h>

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
/* permitted iPAddress 10.0.0.0/8 */
static const unsigned char ip_ten[] = {
	0x30, 0x0e, 0xa0, 0x0c, 0x30, 0x0a, 0x87, 0x08, 10, 0, 0, 0, 0xff, 0, 0, 0,
};
/* excluded iPAddress 192.0.2.0/24 */
static const unsigned char ip_not_test_net[] = {
	0x30, 0x0e, 0xa1, 0x0c, 0x30, 0x0a, 0x87, 0x08, 192, 0, 2, 0, 0xff, 0xff, 0xff, 0,
};
/* excluded rfc822Name "@example.com": none of RFC 5280's three forms */
static const unsigned char email_at_domain[] = {
	0x30, 0x12, 0xa1, 0x10, 0x30, 0x0e, 0x81, 0x0c,
	'@', 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm',
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
 * and one SAN of type (none when san is NULL). */
static void make_leaf(made *m, const made *root, const char *org, unsigned type, const void *san,
	size_t san_len)
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
	if (san)
		CHECK(gnutls_x509_crt_set_subject_alt_name(m->crt, type, san, (unsigned)san_len,
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

/* mutls_x509_verify of a leaf (org, one SAN) under a root with
 * constraints nc: its return; the reasons in *reasons. */
static int verify_san_under(const unsigned char *nc, size_t nc_len, const char *org, unsigned type,
	const void *san, size_t san_len, unsigned *reasons)
{
	made root, leaf;
	mutls_x509 *anchor, *x;
	mutls_config *trust;
	int rc;

	make_root(&root, nc, nc_len);
	make_leaf(&leaf, &root, org, type, san, san_len);
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

/* The same with the URI SAN uri (none when NULL). */
static int verify_under(const unsigned char *nc, size_t nc_len, const char *org, const char *uri,
	unsigned *reasons)
{
	return verify_san_under(nc, nc_len, org, GNUTLS_SAN_URI, uri, uri ? strlen(uri) : 0, reasons);
}

static int verify_ip_under(const unsigned char *nc, size_t nc_len, const char *ip, unsigned *reasons)
{
	unsigned char addr[16];
	int v6 = strchr(ip, ':') != NULL;

	CHECK(inet_pton(v6 ? AF_INET6 : AF_INET, ip, addr) == 1);
	return verify_san_under(nc, nc_len, "co", GNUTLS_SAN_IPADDRESS, addr, v6 ? 16 : 4, reasons);
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

TEST(permitted_ipv4_subtrees_permit_no_ipv6_address)
{
	unsigned reasons = 0;

	CHECK_INT(verify_ip_under(ip_ten, sizeof(ip_ten), "10.1.2.3", &reasons), 0);
	/* GnuTLS held an IPv6 address against IPv6 subtrees only: none here */
	CHECK_INT(verify_ip_under(ip_ten, sizeof(ip_ten), "2001:db8::1", &reasons), MUTLS_EVERIFY);
	CHECK_INT(reasons, MUTLS_REASON_NAME_CONSTRAINTS);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "names IP:2001:db8::1, outside what the "
		"name constraints of CA CN=nc root permit (permitted: IP:10.0.0.0/8, no IPv6 address)");
	/* an IPv4-mapped address: as the IPv4 address it reaches */
	CHECK_INT(verify_ip_under(ip_ten, sizeof(ip_ten), "::ffff:10.1.2.3", &reasons), 0);
	CHECK_INT(verify_ip_under(ip_ten, sizeof(ip_ten), "::ffff:192.0.2.1", &reasons), MUTLS_EVERIFY);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "names IP:::ffff:192.0.2.1 (the IPv4 "
		"address 192.0.2.1), outside what");
}

TEST(an_ipv4_mapped_address_is_held_against_excluded_ipv4_subtrees)
{
	unsigned reasons = 0;

	CHECK_INT(verify_ip_under(ip_not_test_net, sizeof(ip_not_test_net), "::ffff:198.51.100.1", &reasons), 0);
	CHECK_INT(verify_ip_under(ip_not_test_net, sizeof(ip_not_test_net), "::ffff:192.0.2.7", &reasons),
		MUTLS_EVERIFY);
	CHECK_INT(reasons, MUTLS_REASON_NAME_CONSTRAINTS);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "names IP:::ffff:192.0.2.7 (the IPv4 address "
		"192.0.2.7), which the name constraints of CA CN=nc root exclude (excluded: IP:192.0.2.0/24)");
}

TEST(an_email_subtree_at_domain_is_malformed)
{
	static const char email[] = "ops@example.com";
	unsigned reasons = 0;

	/* GnuTLS read it as a mailbox that matches nothing: it excluded nothing */
	CHECK_INT(verify_san_under(email_at_domain, sizeof(email_at_domain), "co", GNUTLS_SAN_RFC822NAME,
		email, strlen(email), &reasons), MUTLS_EVERIFY);
	CHECK_INT(reasons, MUTLS_REASON_NAME_CONSTRAINTS);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "malformed name constraints");
}
