/* mutls_x509: parsing, accessors, errors. Certificates come from the test PKI. */
#define _POSIX_C_SOURCE 200809L
#include "testlib.h"
#include "internal.h"

#include <gnutls/crypto.h>
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

static mutls_identity *issue_cn(mutls_testca *ca, const char *cn)
{
	mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
	mutls_identity *id = NULL;
	o.cn = cn;
	CHECK_OK(mutls_testca_issue(&id, ca, &o));
	return id;
}

static void make_tempdir(char *buf, size_t cap)
{
	const char *base = getenv("TMPDIR");
	snprintf(buf, cap, "%s/mutls-x509-XXXXXX", base && *base ? base : "/tmp");
	CHECK(mkdtemp(buf) != NULL);
}

static void write_bytes(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	CHECK_INT(fwrite(data, 1, len, f), len);
	CHECK_INT(fclose(f), 0);
}

static void expect_error(int rc, int code, const char *needle)
{
	const mutls_error *e = mutls_error_last();
	CHECK_INT(rc, code);
	CHECK(e != NULL);
	CHECK_INT(mutls_error_code(e), code);
	CHECK_CONTAINS(mutls_error_message(e), needle);
}

static int same_der(const mutls_x509 *a, const mutls_x509 *b)
{
	const unsigned char *da, *db;
	size_t la, lb;
	mutls_x509_der(&da, &la, a);
	mutls_x509_der(&db, &lb, b);
	return la == lb && la > 0 && memcmp(da, db, la) == 0;
}

/* --- accessors ---------------------------------------------------------- */

TEST(subject_issuer_common_name)
{
	mutls_testca *ca = new_ca();
	mutls_identity *id = issue_cn(ca, "orders");
	mutls_x509 *leaf = mutls_identity_certificate(id);
	mutls_x509 *root = mutls_testca_certificate(ca);
	char *s = NULL;

	CHECK_OK(mutls_x509_subject(&s, leaf));
	CHECK_STR(s, "CN=orders");
	mutls_free(s);
	CHECK_OK(mutls_x509_issuer(&s, leaf));
	CHECK_STR(s, "CN=mutls test CA,O=mutls test PKI");
	mutls_free(s);
	CHECK_OK(mutls_x509_subject(&s, root));
	CHECK_STR(s, "CN=mutls test CA,O=mutls test PKI");
	mutls_free(s);
	CHECK_OK(mutls_x509_issuer(&s, root));
	CHECK_STR(s, "CN=mutls test CA,O=mutls test PKI");
	mutls_free(s);
	CHECK_OK(mutls_x509_common_name(&s, leaf));
	CHECK_STR(s, "orders");
	mutls_free(s);
	CHECK_STR(mutls_x509_label(leaf), "CN=orders");
	CHECK_STR(mutls_x509_label(root), "CN=mutls test CA");

	mutls_identity_free(id);
	mutls_testca_free(ca);
}

TEST(common_name_absent)
{
	static const char *const dns[] = { "api.internal" };
	mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
	mutls_testca *ca = new_ca();
	mutls_identity *id = NULL;
	char *s = (char *)"sentinel";

	o.dns = dns;
	o.dns_count = 1;
	CHECK_OK(mutls_testca_issue(&id, ca, &o));
	CHECK_OK(mutls_x509_common_name(&s, mutls_identity_certificate(id)));
	CHECK(s == NULL);
	CHECK_OK(mutls_x509_subject(&s, mutls_identity_certificate(id)));
	CHECK_STR(s, "");
	mutls_free(s);
	CHECK_STR(mutls_x509_label(mutls_identity_certificate(id)), "DNS:api.internal");

	mutls_identity_free(id);
	mutls_testca_free(ca);
}

TEST(special_characters_and_long_label)
{
	/* RFC 4514 escaping, and a label cut at a character boundary. */
	mutls_testca *ca = new_ca();
	mutls_identity *id = issue_cn(ca, "a,b+c");
	char *s = NULL;
	char cn[601];

	CHECK_OK(mutls_x509_subject(&s, mutls_identity_certificate(id)));
	CHECK_STR(s, "CN=a\\,b\\+c");
	mutls_free(s);
	/* The CN itself is the plain value, not escaped. */
	CHECK_OK(mutls_x509_common_name(&s, mutls_identity_certificate(id)));
	CHECK_STR(s, "a,b+c");
	mutls_free(s);
	CHECK_STR(mutls_x509_label(mutls_identity_certificate(id)), "CN=a,b+c");
	mutls_identity_free(id);
	static const char *const odd[] = { "#lead", " both ", "q\"uo\\te<>;", "\\2c" };
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		id = issue_cn(ca, odd[i]);
		CHECK_OK(mutls_x509_common_name(&s, mutls_identity_certificate(id)));
		CHECK_STR(s, odd[i]);
		mutls_free(s);
		mutls_identity_free(id);
	}

	/* 200 two-byte characters ("é") = 400 bytes, longer than the label. */
	for (int i = 0; i < 200; i++)
		memcpy(cn + 2 * i, "\xc3\xa9", 2);
	cn[400] = '\0';
	id = issue_cn(ca, cn);
	const char *label = mutls_x509_label(mutls_identity_certificate(id));
	size_t n = strlen(label);
	CHECK(n < 256);
	CHECK(strncmp(label, "CN=\xc3\xa9", 5) == 0);
	CHECK_STR(label + n - 3, "...");
	/* "CN=" plus whole 2-byte characters: an odd length before "...". */
	CHECK_INT((n - 3 - 3) % 2, 0);
	CHECK_OK(mutls_x509_common_name(&s, mutls_identity_certificate(id)));
	CHECK_STR(s, cn);
	mutls_free(s);
	mutls_identity_free(id);
	mutls_testca_free(ca);
}

TEST(serial_hex)
{
	mutls_testca *ca = new_ca();
	mutls_identity *a = issue_cn(ca, "a"), *b = issue_cn(ca, "b");
	unsigned char raw[64];
	size_t raw_len = sizeof(raw);
	char *sa = NULL, *sb = NULL, expect[129];
	gnutls_x509_crt_t crt;
	gnutls_datum_t der;
	const unsigned char *d;
	size_t dl;

	CHECK_OK(mutls_x509_serial(&sa, mutls_identity_certificate(a)));
	CHECK_OK(mutls_x509_serial(&sb, mutls_identity_certificate(b)));
	CHECK_INT(strlen(sa), 32);
	CHECK(strcmp(sa, sb) != 0);
	for (const char *p = sa; *p; p++)
		CHECK((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));

	/* Independently: GnuTLS's own reading of the DER. */
	mutls_x509_der(&d, &dl, mutls_identity_certificate(a));
	der.data = (unsigned char *)d;
	der.size = (unsigned)dl;
	CHECK_INT(gnutls_x509_crt_init(&crt), 0);
	CHECK_INT(gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER), 0);
	CHECK_INT(gnutls_x509_crt_get_serial(crt, raw, &raw_len), 0);
	for (size_t i = 0; i < raw_len; i++)
		snprintf(expect + 2 * i, 3, "%02x", raw[i]);
	CHECK_STR(sa, expect);
	gnutls_x509_crt_deinit(crt);

	mutls_free(sa);
	mutls_free(sb);
	mutls_identity_free(a);
	mutls_identity_free(b);
	mutls_testca_free(ca);
}

TEST(validity_round_trip)
{
	mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
	mutls_testca *ca = new_ca();
	mutls_identity *id = NULL;
	int64_t now = (int64_t)time(NULL);

	o.cn = "dated";
	o.not_before = 1700000000;       /* 2023-11-14 */
	o.not_after = 2600000000LL;      /* 2052: GeneralizedTime territory */
	CHECK_OK(mutls_testca_issue(&id, ca, &o));
	CHECK_INT(mutls_x509_not_before(mutls_identity_certificate(id)), 1700000000);
	CHECK_INT(mutls_x509_not_after(mutls_identity_certificate(id)), 2600000000LL);
	mutls_identity_free(id);

	/* Defaults: now - 1 hour .. now + 1 year. */
	id = issue_cn(ca, "default");
	CHECK(llabs(mutls_x509_not_before(mutls_identity_certificate(id)) - (now - 3600)) <= 5);
	CHECK(llabs(mutls_x509_not_after(mutls_identity_certificate(id)) - (now + 365 * 86400LL)) <= 5);
	mutls_identity_free(id);
	CHECK_INT(mutls_x509_not_before(NULL), MUTLS_TIME_UNSET);
	mutls_testca_free(ca);
}

TEST(subject_alt_names_every_type)
{
	static const char *const dns[] = { "api.internal", "*.svc.local" };
	static const char *const ip[] = { "10.0.0.7", "::1", "2001:DB8:0:0::7" };
	static const char *const uri[] = { "spiffe://example.org/payments" };
	static const char *const email[] = { "ops@example.org" };
	mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
	mutls_testca *ca = new_ca();
	mutls_identity *id = NULL;
	mutls_x509 *leaf;
	char **names = NULL;
	size_t n = 0;

	o.cn = "svc";
	o.dns = dns; o.dns_count = 2;
	o.ip = ip; o.ip_count = 3;
	o.uri = uri; o.uri_count = 1;
	o.email = email; o.email_count = 1;
	CHECK_OK(mutls_testca_issue(&id, ca, &o));
	leaf = mutls_identity_certificate(id);

	CHECK_OK(mutls_x509_names(&names, &n, leaf, MUTLS_SAN_DNS));
	CHECK_INT(n, 2);
	CHECK_STR(names[0], "api.internal");
	CHECK_STR(names[1], "*.svc.local");
	mutls_strings_free(names, n);

	CHECK_OK(mutls_x509_names(&names, &n, leaf, MUTLS_SAN_IP));
	CHECK_INT(n, 3);
	CHECK_STR(names[0], "10.0.0.7");
	CHECK_STR(names[1], "::1");
	CHECK_STR(names[2], "2001:db8::7");
	mutls_strings_free(names, n);

	CHECK_OK(mutls_x509_names(&names, &n, leaf, MUTLS_SAN_URI));
	CHECK_INT(n, 1);
	CHECK_STR(names[0], "spiffe://example.org/payments");
	mutls_strings_free(names, n);

	CHECK_OK(mutls_x509_names(&names, &n, leaf, MUTLS_SAN_EMAIL));
	CHECK_INT(n, 1);
	CHECK_STR(names[0], "ops@example.org");
	mutls_strings_free(names, n);

	/* A type with no entries, and a certificate with no SAN at all. */
	CHECK_OK(mutls_x509_names(&names, &n, mutls_testca_certificate(ca), MUTLS_SAN_DNS));
	CHECK(names == NULL);
	CHECK_INT(n, 0);
	CHECK_INT(mutls_x509_names(&names, &n, leaf, (mutls_san_type)99), MUTLS_EUSAGE);

	mutls_identity_free(id);
	mutls_testca_free(ca);
}

TEST(is_ca)
{
	mutls_testca_options co = MUTLS_TESTCA_OPTIONS_INIT;
	mutls_testca *ca = new_ca(), *bad = NULL;
	mutls_identity *id = issue_cn(ca, "leaf");

	CHECK_INT(mutls_x509_is_ca(mutls_testca_certificate(ca)), 1);
	CHECK_INT(mutls_x509_is_ca(mutls_identity_certificate(id)), 0);
	co.flags = MUTLS_CA_NOT_A_CA;
	CHECK_OK(mutls_testca_new(&bad, &co));
	CHECK_INT(mutls_x509_is_ca(mutls_testca_certificate(bad)), 0);
	CHECK_INT(mutls_x509_is_ca(NULL), 0);

	mutls_identity_free(id);
	mutls_testca_free(bad);
	mutls_testca_free(ca);
}

TEST(key_types)
{
	static const struct { mutls_key_type type; const char *name; } cases[] = {
		{ MUTLS_KEY_P256, "p256" },
		{ MUTLS_KEY_P384, "p384" },
		{ MUTLS_KEY_ED25519, "ed25519" },
		{ MUTLS_KEY_RSA2048, "rsa2048" },
	};
	mutls_testca *ca = new_ca();

	CHECK_STR(mutls_x509_key_type(mutls_testca_certificate(ca)), "p256");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
		mutls_identity *id = NULL;
		o.cn = cases[i].name;
		o.key_type = cases[i].type;
		CHECK_OK(mutls_testca_issue(&id, ca, &o));
		CHECK_STR(mutls_x509_key_type(mutls_identity_certificate(id)), cases[i].name);
		mutls_identity_free(id);
	}
	CHECK_STR(mutls_x509_key_type(NULL), "unknown");
	mutls_testca_free(ca);
}

TEST(fingerprints)
{
	mutls_testca *ca = new_ca();
	mutls_identity *id = issue_cn(ca, "fp");
	mutls_x509 *leaf = mutls_identity_certificate(id);
	const unsigned char *der;
	size_t der_len;
	unsigned char md[32];
	char expect[65], *fp = NULL;
	gnutls_datum_t d;

	mutls_x509_der(&der, &der_len, leaf);
	d.data = (unsigned char *)der;
	d.size = (unsigned)der_len;
	CHECK_INT(gnutls_hash_fast(GNUTLS_DIG_SHA256, d.data, d.size, md), 0);
	for (int i = 0; i < 32; i++)
		snprintf(expect + 2 * i, 3, "%02x", md[i]);

	CHECK_OK(mutls_x509_fingerprint(&fp, leaf, NULL));
	CHECK_STR(fp, expect);
	mutls_free(fp);
	CHECK_OK(mutls_x509_fingerprint(&fp, leaf, "sha256"));
	CHECK_STR(fp, expect);
	mutls_free(fp);
	CHECK_OK(mutls_x509_fingerprint(&fp, leaf, "sha1"));
	CHECK_INT(strlen(fp), 40);
	mutls_free(fp);
	CHECK_OK(mutls_x509_fingerprint(&fp, leaf, "sha384"));
	CHECK_INT(strlen(fp), 96);
	mutls_free(fp);
	CHECK_OK(mutls_x509_fingerprint(&fp, leaf, "sha512"));
	CHECK_INT(strlen(fp), 128);
	mutls_free(fp);

	mutls_identity_free(id);
	mutls_testca_free(ca);
}

TEST(fingerprint_unknown_algorithm)
{
	mutls_testca *ca = new_ca();
	char *fp = (char *)"sentinel";
	expect_error(mutls_x509_fingerprint(&fp, mutls_testca_certificate(ca), "md5"),
		MUTLS_EUSAGE, "\"md5\"");
	CHECK(fp == NULL);
	mutls_testca_free(ca);
}

/* --- parsing ------------------------------------------------------------ */

TEST(pem_round_trip)
{
	mutls_testca *ca = new_ca();
	mutls_identity *id = issue_cn(ca, "pem");
	mutls_x509 *back = NULL;
	char *pem = NULL;

	CHECK_OK(mutls_x509_pem(&pem, mutls_identity_certificate(id)));
	CHECK(strncmp(pem, "-----BEGIN CERTIFICATE-----", 27) == 0);
	CHECK_STR(pem, mutls_identity_cert_pem(id));
	CHECK_OK(mutls_x509_from_pem(&back, pem, 0));
	CHECK(same_der(back, mutls_identity_certificate(id)));
	CHECK_STR(mutls_x509_label(back), "CN=pem");
	mutls_x509_unref(back);

	/* Explicit length, no NUL terminator, text around the block. */
	size_t plen = strlen(pem);
	char *buf = malloc(plen + 20);
	memcpy(buf, "junk before\n", 12);
	memcpy(buf + 12, pem, plen);
	CHECK_OK(mutls_x509_from_pem(&back, buf, plen + 12));
	CHECK(same_der(back, mutls_identity_certificate(id)));
	mutls_x509_unref(back);
	free(buf);

	mutls_free(pem);
	mutls_identity_free(id);
	mutls_testca_free(ca);
}

TEST(der_round_trip)
{
	mutls_testca *ca = new_ca();
	mutls_identity *id = issue_cn(ca, "der");
	const unsigned char *der;
	size_t len;
	mutls_x509 *back = NULL;
	char *fa = NULL, *fb = NULL;

	mutls_x509_der(&der, &len, mutls_identity_certificate(id));
	CHECK(len > 100);
	CHECK_INT(der[0], 0x30);
	CHECK_OK(mutls_x509_from_der(&back, der, len));
	CHECK(same_der(back, mutls_identity_certificate(id)));
	CHECK_OK(mutls_x509_fingerprint(&fa, back, NULL));
	CHECK_OK(mutls_x509_fingerprint(&fb, mutls_identity_certificate(id), NULL));
	CHECK_STR(fa, fb);
	mutls_free(fa);
	mutls_free(fb);
	mutls_x509_unref(back);
	mutls_identity_free(id);
	mutls_testca_free(ca);
}

TEST(load_pem_and_der_files)
{
	mutls_testca *ca = new_ca();
	mutls_identity *id = issue_cn(ca, "file");
	char dir[256], path[512];
	const unsigned char *der;
	size_t len;
	mutls_x509 *c = NULL;

	make_tempdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/leaf.pem", dir);
	write_bytes(path, mutls_identity_chain_pem(id), strlen(mutls_identity_chain_pem(id)));
	CHECK_OK(mutls_x509_load(&c, path));
	CHECK(same_der(c, mutls_identity_certificate(id)));
	mutls_x509_unref(c);
	unlink(path);

	snprintf(path, sizeof(path), "%s/leaf.der", dir);
	mutls_x509_der(&der, &len, mutls_identity_certificate(id));
	write_bytes(path, der, len);
	CHECK_OK(mutls_x509_load(&c, path));
	CHECK(same_der(c, mutls_identity_certificate(id)));
	CHECK_STR(mutls_x509_label(c), "CN=file");
	mutls_x509_unref(c);
	unlink(path);

	rmdir(dir);
	mutls_identity_free(id);
	mutls_testca_free(ca);
}

TEST(load_errors_name_the_file)
{
	char dir[256], path[512], msg[700];
	mutls_x509 *c = (mutls_x509 *)&c;

	make_tempdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/missing.pem", dir);
	snprintf(msg, sizeof(msg), "%s: cannot read file: No such file or directory", path);
	expect_error(mutls_x509_load(&c, path), MUTLS_ECONFIG, msg);
	CHECK(c == NULL);

	snprintf(path, sizeof(path), "%s/garbage.der", dir);
	write_bytes(path, "\x30\x03\x01\x02\xff garbage", 13);
	snprintf(msg, sizeof(msg), "%s: not a PEM or DER certificate (", path);
	expect_error(mutls_x509_load(&c, path), MUTLS_ECONFIG, msg);
	unlink(path);

	snprintf(path, sizeof(path), "%s/empty.pem", dir);
	write_bytes(path, "", 0);
	snprintf(msg, sizeof(msg), "%s: file is empty", path);
	expect_error(mutls_x509_load(&c, path), MUTLS_ECONFIG, msg);
	unlink(path);

	snprintf(path, sizeof(path), "%s/key.pem", dir);
	write_bytes(path, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 58);
	snprintf(msg, sizeof(msg), "%s: no \"-----BEGIN CERTIFICATE-----\" block found", path);
	expect_error(mutls_x509_load(&c, path), MUTLS_ECONFIG, msg);
	unlink(path);

	/* A directory is not a file. */
	snprintf(msg, sizeof(msg), "%s: cannot read file: ", dir);
	expect_error(mutls_x509_load(&c, dir), MUTLS_ECONFIG, msg);

	rmdir(dir);
	expect_error(mutls_x509_load(&c, NULL), MUTLS_EUSAGE, "NULL");
}

TEST(pem_errors)
{
	mutls_testca *ca = new_ca();
	mutls_x509 *c = NULL;
	char *pem;

	expect_error(mutls_x509_from_pem(&c, "", 0), MUTLS_ECONFIG,
		"certificate PEM: no \"-----BEGIN CERTIFICATE-----\" block found");
	expect_error(mutls_x509_from_pem(&c, "hello, world", 0), MUTLS_ECONFIG,
		"certificate PEM: no \"-----BEGIN CERTIFICATE-----\" block found");
	CHECK(c == NULL);

	/* A real header with a damaged body. */
	pem = strdup(mutls_testca_cert_pem(ca));
	memset(pem + 40, '!', 30);
	expect_error(mutls_x509_from_pem(&c, pem, 0), MUTLS_ECONFIG, "certificate PEM: ");
	CHECK(c == NULL);
	free(pem);

	/* Cut in the middle of the block: no END line. */
	pem = strdup(mutls_testca_cert_pem(ca));
	pem[strlen(pem) / 2] = '\0';
	expect_error(mutls_x509_from_pem(&c, pem, 0), MUTLS_ECONFIG, "certificate PEM: ");
	free(pem);

	expect_error(mutls_x509_from_pem(&c, NULL, 0), MUTLS_EUSAGE, "NULL");
	expect_error(mutls_x509_from_pem(NULL, "x", 0), MUTLS_EUSAGE, "NULL");
	mutls_testca_free(ca);
}

TEST(der_errors)
{
	mutls_testca *ca = new_ca();
	const unsigned char *der;
	size_t len;
	mutls_x509 *c = NULL;

	mutls_x509_der(&der, &len, mutls_testca_certificate(ca));
	expect_error(mutls_x509_from_der(&c, der, len - 10), MUTLS_ECONFIG,
		"certificate DER: not a valid DER certificate (");
	CHECK(c == NULL);
	expect_error(mutls_x509_from_der(&c, der, 1), MUTLS_ECONFIG, "certificate DER: ");
	expect_error(mutls_x509_from_der(&c, der, 0), MUTLS_ECONFIG, "certificate DER: empty");
	expect_error(mutls_x509_from_der(&c, (const unsigned char *)"garbage!", 8),
		MUTLS_ECONFIG, "certificate DER: ");
	expect_error(mutls_x509_from_der(&c, NULL, 5), MUTLS_EUSAGE, "NULL");
	mutls_testca_free(ca);
}

TEST(list_from_pem_chain)
{
	mutls_testca *root = new_ca(), *i1 = NULL, *i2 = NULL;
	mutls_testca_options co = MUTLS_TESTCA_OPTIONS_INIT;
	mutls_identity *id;
	mutls_x509 **list = NULL;
	size_t n = 0;

	co.name = "level one";
	CHECK_OK(mutls_testca_intermediate(&i1, root, &co));
	co.name = "level two";
	CHECK_OK(mutls_testca_intermediate(&i2, i1, &co));
	id = issue_cn(i2, "deep");

	CHECK_OK(mutls_x509_list_from_pem(&list, &n, mutls_identity_chain_pem(id), 0));
	CHECK_INT(n, 3);
	CHECK_STR(mutls_x509_label(list[0]), "CN=deep");
	CHECK_STR(mutls_x509_label(list[1]), "CN=level two");
	CHECK_STR(mutls_x509_label(list[2]), "CN=level one");
	for (size_t i = 0; i < n; i++)
		CHECK(same_der(list[i], mutls_identity_chain_at(id, i)));
	mutls_x509_list_free(list, n);

	expect_error(mutls_x509_list_from_pem(&list, &n, "nothing here", 0), MUTLS_ECONFIG,
		"no \"-----BEGIN CERTIFICATE-----\" block found");
	CHECK(list == NULL);
	CHECK_INT(n, 0);

	mutls_identity_free(id);
	mutls_testca_free(i2);
	mutls_testca_free(i1);
	mutls_testca_free(root);
}

TEST(list_from_pem_hundred)
{
	mutls_testca *ca = new_ca();
	char *all = NULL;
	size_t used = 0, cap = 0;
	mutls_x509 **list = NULL;
	size_t n = 0;
	char cn[16];

	for (int i = 0; i < 100; i++) {
		mutls_identity *id;
		snprintf(cn, sizeof(cn), "leaf%d", i);
		id = issue_cn(ca, cn);
		size_t l = strlen(mutls_identity_cert_pem(id));
		if (used + l + 1 > cap) {
			cap = (used + l + 1) * 2;
			all = realloc(all, cap);
			CHECK(all != NULL);
		}
		memcpy(all + used, mutls_identity_cert_pem(id), l + 1);
		used += l;
		mutls_identity_free(id);
	}
	CHECK_OK(mutls_x509_list_from_pem(&list, &n, all, used));
	CHECK_INT(n, 100);
	CHECK_STR(mutls_x509_label(list[0]), "CN=leaf0");
	CHECK_STR(mutls_x509_label(list[99]), "CN=leaf99");
	mutls_x509_list_free(list, n);

	/* The first certificate of a long list parses alone too. */
	mutls_x509 *first = NULL;
	CHECK_OK(mutls_x509_from_pem(&first, all, 0));
	CHECK_STR(mutls_x509_label(first), "CN=leaf0");
	mutls_x509_unref(first);
	free(all);
	mutls_testca_free(ca);
}

TEST(refcount)
{
	mutls_testca *ca = new_ca();
	mutls_identity *id = issue_cn(ca, "kept");
	mutls_x509 *c = mutls_x509_ref(mutls_identity_certificate(id));
	mutls_x509 *ca_cert = mutls_x509_ref(mutls_testca_certificate(ca));

	CHECK(c == mutls_identity_certificate(id));
	/* Both outlive their owners. */
	mutls_identity_free(id);
	mutls_testca_free(ca);
	CHECK_STR(mutls_x509_label(c), "CN=kept");
	CHECK_STR(mutls_x509_label(ca_cert), "CN=mutls test CA");
	CHECK(mutls_x509_ref(mutls_x509_ref(c)) == c);
	mutls_x509_unref(c);
	mutls_x509_unref(c);
	mutls_x509_unref(c);
	mutls_x509_unref(ca_cert);
	CHECK(mutls_x509_ref(NULL) == NULL);
	mutls_x509_unref(NULL);
	mutls_x509_list_free(NULL, 3);
}

TEST(null_arguments)
{
	mutls_testca *ca = new_ca();
	mutls_x509 *cert = mutls_testca_certificate(ca);
	const unsigned char *der = (const unsigned char *)"x";
	size_t len = 9;
	char *s = NULL;

	expect_error(mutls_x509_subject(&s, NULL), MUTLS_EUSAGE, "mutls_x509_subject");
	expect_error(mutls_x509_issuer(NULL, cert), MUTLS_EUSAGE, "mutls_x509_issuer");
	expect_error(mutls_x509_serial(&s, NULL), MUTLS_EUSAGE, "mutls_x509_serial");
	expect_error(mutls_x509_pem(&s, NULL), MUTLS_EUSAGE, "mutls_x509_pem");
	expect_error(mutls_x509_common_name(&s, NULL), MUTLS_EUSAGE, "mutls_x509_common_name");
	mutls_x509_der(&der, &len, NULL);
	CHECK(der == NULL);
	CHECK_INT(len, 0);
	CHECK_STR(mutls_x509_label(NULL), "(no certificate)");
	mutls_testca_free(ca);
}

TEST(internal_read_file_and_is_pem)
{
	char dir[256], path[512];
	char *data = NULL;
	size_t len = 0, big = 3 * 1024 * 1024 + 17;
	char *buf = malloc(big);

	CHECK(mutls__is_pem("x -----BEGIN CERTIFICATE-----"));
	CHECK(!mutls__is_pem("/etc/ssl/cert.pem"));
	CHECK(!mutls__is_pem(NULL));

	make_tempdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/big", dir);
	for (size_t i = 0; i < big; i++)
		buf[i] = (char)('a' + i % 26);
	write_bytes(path, buf, big);
	CHECK_OK(mutls__read_file(&data, &len, path, NULL, 0));
	CHECK_INT(len, big);
	CHECK(memcmp(data, buf, big) == 0);
	CHECK_INT(data[len], 0);
	free(data);
	unlink(path);
	rmdir(dir);
	free(buf);
}

/* A self-signed certificate with exactly these extensions (usage 0: no
 * keyUsage; oids NULL: no extendedKeyUsage). */
static mutls_x509 *cert_with_usages(unsigned usage, const char *const *oids, size_t n)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_x509_privkey_t key = NULL;
	unsigned char serial[] = { 0x42 };
	mutls_x509 *cert = NULL;

	CHECK_INT(gnutls_x509_privkey_init(&key), 0);
	CHECK_INT(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
		GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0), 0);
	CHECK_INT(gnutls_x509_crt_init(&crt), 0);
	CHECK_INT(gnutls_x509_crt_set_version(crt, 3), 0);
	CHECK_INT(gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)), 0);
	CHECK_INT(gnutls_x509_crt_set_activation_time(crt, time(NULL) - 60), 0);
	CHECK_INT(gnutls_x509_crt_set_expiration_time(crt, time(NULL) + 3600), 0);
	CHECK_INT(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "usages", 6), 0);
	CHECK_INT(gnutls_x509_crt_set_key(crt, key), 0);
	if (usage)
		CHECK_INT(gnutls_x509_crt_set_key_usage(crt, usage), 0);
	for (size_t i = 0; oids && i < n; i++)
		CHECK_INT(gnutls_x509_crt_set_key_purpose_oid(crt, oids[i], 0), 0);
	CHECK_INT(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), 0);
	CHECK_OK(mutls__x509_wrap(&cert, crt));
	gnutls_x509_privkey_deinit(key);
	return cert;
}

TEST(key_usage_and_extended_key_usage)
{
	static const char *const oids[] = { "1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.3",
		"1.2.3.4.5", "2.5.29.37.0" };
	mutls_testca *ca = new_ca();
	mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
	mutls_identity *server = NULL, *none = NULL;
	mutls_x509 *odd, *bare;
	char **list = NULL;
	size_t n = 0;

	o.cn = "srv";
	o.purpose = MUTLS_PURPOSE_SERVER;
	CHECK_OK(mutls_testca_issue(&server, ca, &o));
	CHECK_OK(mutls_x509_extended_key_usage(&list, &n, mutls_identity_certificate(server)));
	CHECK_INT(n, 1);
	CHECK_STR(list[0], "serverAuth");
	mutls_strings_free(list, n);
	CHECK_OK(mutls_x509_key_usage(&list, &n, mutls_identity_certificate(server)));
	CHECK(n >= 1);
	CHECK_STR(list[0], "digitalSignature");
	mutls_strings_free(list, n);

	/* the CA: keyCertSign and cRLSign, in bit order; no EKU at all */
	CHECK_OK(mutls_x509_key_usage(&list, &n, mutls_testca_certificate(ca)));
	CHECK_INT(n, 3);
	CHECK_STR(list[0], "digitalSignature");
	CHECK_STR(list[1], "keyCertSign");
	CHECK_STR(list[2], "cRLSign");
	mutls_strings_free(list, n);
	CHECK_OK(mutls_x509_extended_key_usage(&list, &n, mutls_testca_certificate(ca)));
	CHECK(list == NULL);
	CHECK_INT(n, 0);

	/* purpose none: no EKU; bad_key_usage: keyUsage without digitalSignature */
	o.purpose = MUTLS_PURPOSE_NONE;
	o.flags = MUTLS_ISSUE_BAD_KEY_USAGE;
	CHECK_OK(mutls_testca_issue(&none, ca, &o));
	CHECK_OK(mutls_x509_extended_key_usage(&list, &n, mutls_identity_certificate(none)));
	CHECK_INT(n, 0);
	CHECK_OK(mutls_x509_key_usage(&list, &n, mutls_identity_certificate(none)));
	for (size_t i = 0; i < n; i++)
		CHECK(strcmp(list[i], "digitalSignature") != 0);
	mutls_strings_free(list, n);

	/* names for the known OIDs, the dotted OID for an unknown one */
	odd = cert_with_usages(GNUTLS_KEY_KEY_AGREEMENT | GNUTLS_KEY_DECIPHER_ONLY, oids, 4);
	CHECK_OK(mutls_x509_extended_key_usage(&list, &n, odd));
	CHECK_INT(n, 4);
	CHECK_STR(list[0], "clientAuth");
	CHECK_STR(list[1], "codeSigning");
	CHECK_STR(list[2], "1.2.3.4.5");
	CHECK_STR(list[3], "anyExtendedKeyUsage");
	mutls_strings_free(list, n);
	CHECK_OK(mutls_x509_key_usage(&list, &n, odd));
	CHECK_INT(n, 2);
	CHECK_STR(list[0], "keyAgreement");
	CHECK_STR(list[1], "decipherOnly");
	mutls_strings_free(list, n);

	bare = cert_with_usages(0, NULL, 0);
	CHECK_OK(mutls_x509_key_usage(&list, &n, bare));
	CHECK(list == NULL);
	CHECK_INT(n, 0);

	CHECK_INT(mutls_x509_key_usage(NULL, &n, bare), MUTLS_EUSAGE);
	CHECK_INT(mutls_x509_extended_key_usage(&list, &n, NULL), MUTLS_EUSAGE);
	CHECK(strstr(mutls_error_message(mutls_error_last()), "NULL argument") != NULL);

	mutls_x509_unref(odd);
	mutls_x509_unref(bare);
	mutls_identity_free(server);
	mutls_identity_free(none);
	mutls_testca_free(ca);
}

TEST(control_characters_never_reach_a_message_raw)
{
	/* A peer chooses its names: a newline in a CN (or its CA's) carried raw
	 * into an error message would let it forge a log line. */
	mutls_testca_options co = MUTLS_TESTCA_OPTIONS_INIT;
	mutls_testca *rogue = NULL, *ca = new_ca();
	mutls_identity *id;
	mutls_config *trust = NULL;
	const mutls_error *e;
	unsigned reasons = 0;

	co.name = "rogue\nCA";
	CHECK_OK(mutls_testca_new(&rogue, &co));
	id = issue_cn(rogue, "orders\nmutls: accepted CN=admin\x7f");
	CHECK_STR(mutls_x509_label(mutls_identity_certificate(id)),
		"CN=orders\\x0amutls: accepted CN=admin\\x7f");
	CHECK_OK(mutls_config_new(&trust));
	CHECK_OK(mutls_config_add_trust_x509(trust, mutls_testca_certificate(ca)));
	CHECK_INT(mutls_x509_verify(&reasons, mutls_identity_certificate(id), NULL, 0, trust,
		NULL, MUTLS_PURPOSE_CLIENT), MUTLS_EVERIFY);
	e = mutls_error_last();
	CHECK(e != NULL);
	CHECK_CONTAINS(mutls_error_message(e), "CN=orders\\x0amutls: accepted CN=admin\\x7f");
	CHECK_CONTAINS(mutls_error_message(e), "rogue\\x0aCA");
	CHECK(strchr(mutls_error_message(e), '\n') == NULL);
	CHECK(strchr(mutls_error_message(e), '\x7f') == NULL);
	mutls_config_unref(trust);
	mutls_identity_free(id);
	mutls_testca_free(rogue);
	mutls_testca_free(ca);
}
