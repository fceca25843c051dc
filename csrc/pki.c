/* The test PKI: throwaway CAs, leaves and CRLs made in memory. */
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC, fchmod, strcasecmp under -std=c11 */
#include "internal.h"

#include <gnutls/crypto.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HOUR ((int64_t)3600)
#define DAY (24 * HOUR)
#define YEAR (365 * DAY)

#define SERIAL_LEN 16
#define MAX_SERIAL 64

struct revoked_serial {
	unsigned char bytes[MAX_SERIAL];
	size_t len;
};

struct mutls_testca {
	mutls_x509 *cert;
	gnutls_privkey_t signer;        /* owns key (AUTO_RELEASE) */
	gnutls_x509_privkey_t key;      /* borrowed from signer */
	gnutls_digest_algorithm_t digest;
	unsigned char key_id[64];       /* subject key identifier */
	size_t key_id_len;
	char *cert_pem;
	char *key_pem;
	/* What an issued leaf carries after itself: this CA when it is an
	 * intermediate, then the parent's such chain; empty for a root. */
	mutls_x509 **above;
	size_t above_len;
	char *above_pem;                /* concatenated PEM of above ("" for a root) */
	struct revoked_serial *revoked;
	size_t revoked_len, revoked_cap;
	uint64_t crl_number;
};

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static const struct {
	const char *name;
	mutls_key_type type;
} key_names[] = {
	{ "p256", MUTLS_KEY_P256 },
	{ "p384", MUTLS_KEY_P384 },
	{ "ed25519", MUTLS_KEY_ED25519 },
	{ "rsa2048", MUTLS_KEY_RSA2048 },
	{ "rsa3072", MUTLS_KEY_RSA3072 },
	{ "rsa4096", MUTLS_KEY_RSA4096 },
};

int mutls_key_type_from_name(mutls_key_type *out, const char *name)
{
	if (!out || !name)
		return mutls__error(MUTLS_EUSAGE, "mutls_key_type_from_name: NULL argument");
	for (size_t i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++) {
		if (strcasecmp(name, key_names[i].name) == 0) {
			*out = key_names[i].type;
			return 0;
		}
	}
	return mutls__error(MUTLS_EUSAGE,
		"unknown key type \"%s\" (expected p256, p384, ed25519, rsa2048, rsa3072 or rsa4096)",
		name);
}

static const char *key_type_name(mutls_key_type type)
{
	for (size_t i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++)
		if (key_names[i].type == type)
			return key_names[i].name;
	return "unknown";
}

/* Generate a key of the given type; *digest is what that key signs with. */

/* 1 when the key's private value exports at the curve's fixed size. */
static int ecc_value_has_fixed_size(gnutls_x509_privkey_t key)
{
	gnutls_datum_t x = { NULL, 0 }, y = { NULL, 0 }, k = { NULL, 0 };
	gnutls_ecc_curve_t curve;
	int ok;

	if (gnutls_x509_privkey_export_ecc_raw(key, &curve, &x, &y, &k) < 0)
		return 1; /* nothing to improve on */
	ok = k.size == (curve == GNUTLS_ECC_CURVE_SECP384R1 ? 48u : 32u);
	gnutls_free(x.data);
	gnutls_free(y.data);
	gnutls_memset(k.data, 0, k.size);
	gnutls_free(k.data);
	return ok;
}

static int generate_key(gnutls_x509_privkey_t *out, gnutls_digest_algorithm_t *digest,
	mutls_key_type type)
{
	gnutls_pk_algorithm_t pk;
	unsigned bits;
	gnutls_digest_algorithm_t dig = GNUTLS_DIG_SHA256;
	gnutls_x509_privkey_t key = NULL;
	int rc;

	switch (type) {
	case MUTLS_KEY_P256:
		pk = GNUTLS_PK_ECDSA;
		bits = GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1);
		break;
	case MUTLS_KEY_P384:
		pk = GNUTLS_PK_ECDSA;
		bits = GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1);
		dig = GNUTLS_DIG_SHA384;
		break;
	case MUTLS_KEY_ED25519:
		pk = GNUTLS_PK_EDDSA_ED25519;
		bits = GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_ED25519);
		/* EdDSA hashes internally; SHA256 here fails with -106. */
		dig = GNUTLS_DIG_UNKNOWN;
		break;
	case MUTLS_KEY_RSA2048: pk = GNUTLS_PK_RSA; bits = 2048; break;
	case MUTLS_KEY_RSA3072: pk = GNUTLS_PK_RSA; bits = 3072; break;
	case MUTLS_KEY_RSA4096: pk = GNUTLS_PK_RSA; bits = 4096; break;
	default:
		return mutls__error(MUTLS_EUSAGE, "unknown key type %d", (int)type);
	}
	/* GnuTLS 3.7 writes an ECDSA private value as a minimal integer (33
	 * bytes when its top bit is set, fewer when it starts with zeros), where
	 * RFC 5915 wants the curve's fixed size; strict readers such as pyca
	 * cryptography refuse the others. Keep drawing until the value has the
	 * fixed size (about two draws). */
	for (int tries = 0;; tries++) {
		if ((rc = gnutls_x509_privkey_init(&key)) < 0)
			return mutls__error_gnutls(MUTLS_ENOMEM, rc, "cannot allocate a private key");
		if ((rc = gnutls_x509_privkey_generate2(key, pk, bits, 0, NULL, 0)) < 0) {
			gnutls_x509_privkey_deinit(key);
			return mutls__error_gnutls(MUTLS_ECONFIG, rc, "cannot generate a %s key",
				key_type_name(type));
		}
		if (pk != GNUTLS_PK_ECDSA || tries == 63 || ecc_value_has_fixed_size(key))
			break;
		gnutls_x509_privkey_deinit(key);
		key = NULL;
	}
	*out = key;
	if (digest)
		*digest = dig;
	return 0;
}

/* A unique positive 16-byte serial; bit 6 set keeps the DER length fixed. */
static int random_serial(unsigned char serial[SERIAL_LEN])
{
	int rc = gnutls_rnd(GNUTLS_RND_NONCE, serial, SERIAL_LEN);
	if (rc < 0)
		return mutls__error_gnutls(MUTLS_ECONFIG, rc, "cannot generate a serial number");
	serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40);
	return 0;
}

static int resolve_times(int64_t *nb, int64_t *na, int64_t not_before,
	int64_t not_after, int64_t default_life, const char *what)
{
	int64_t now = (int64_t)time(NULL);
	*nb = not_before == MUTLS_TIME_UNSET ? now - HOUR : not_before;
	*na = not_after == MUTLS_TIME_UNSET ? now + default_life : not_after;
	if (*na < *nb)
		return mutls__error(MUTLS_EUSAGE, "%s: not_after is before not_before", what);
	return 0;
}

static int key_pem_plain(char **out, gnutls_x509_privkey_t key)
{
	gnutls_datum_t d = { NULL, 0 };
	int rc = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL,
		GNUTLS_PKCS_PLAIN, &d);
	if (rc < 0)
		return mutls__error_gnutls(MUTLS_ECONFIG, rc, "cannot encode private key");
	*out = malloc((size_t)d.size + 1);
	if (!*out) {
		gnutls_free(d.data);
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	}
	memcpy(*out, d.data, d.size);
	(*out)[d.size] = '\0';
	gnutls_free(d.data);
	return 0;
}

static char *concat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 1);
	if (!s) {
		mutls__error(MUTLS_ENOMEM, "out of memory");
		return NULL;
	}
	memcpy(s, a, la);
	memcpy(s + la, b, lb + 1);
	return s;
}

/* Run a GnuTLS setter; on failure record which field and jump to done. */
#define TRY(call, what) do { if ((rc = (call)) < 0) { \
	rc = mutls__error_gnutls(MUTLS_ECONFIG, rc, "%s: cannot set %s", ctx, what); \
	goto done; } } while (0)

/* ------------------------------------------------------------------------ */
/* CAs                                                                       */
/* ------------------------------------------------------------------------ */

void mutls_testca_free(mutls_testca *ca)
{
	if (!ca)
		return;
	mutls_x509_unref(ca->cert);
	if (ca->signer)
		gnutls_privkey_deinit(ca->signer); /* also frees ca->key */
	free(ca->cert_pem);
	free(ca->key_pem);
	mutls_x509_list_free(ca->above, ca->above_len);
	free(ca->above_pem);
	free(ca->revoked);
	free(ca);
}

static int make_ca(mutls_testca **out, mutls_testca *parent, const mutls_testca_options *opts)
{
	static const mutls_testca_options defaults = MUTLS_TESTCA_OPTIONS_INIT;
	const char *ctx = parent ? "intermediate CA" : "test CA";
	const char *name;
	unsigned char serial[SERIAL_LEN];
	gnutls_x509_crt_t crt = NULL;
	gnutls_x509_privkey_t key = NULL;
	mutls_testca *ca = NULL;
	int64_t nb, na;
	size_t size;
	int rc;

	if (!out)
		return mutls__error(MUTLS_EUSAGE, "%s: NULL argument", ctx);
	*out = NULL;
	if (!opts)
		opts = &defaults;
	if (opts->version != MUTLS_TESTCA_OPTIONS_VERSION)
		return mutls__error(MUTLS_EUSAGE, "%s: unsupported options version %u", ctx,
			opts->version);
	name = opts->name ? opts->name : parent ? "mutls test intermediate" : "mutls test CA";
	if (!*name)
		return mutls__error(MUTLS_EUSAGE, "%s: name is empty", ctx);
	if ((rc = resolve_times(&nb, &na, opts->not_before, opts->not_after, 10 * YEAR, ctx)) < 0)
		return rc;
	if ((rc = random_serial(serial)) < 0)
		return rc;

	if (!(ca = calloc(1, sizeof(*ca))))
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	ca->crl_number = 1;
	if ((rc = generate_key(&key, &ca->digest, opts->key_type)) < 0)
		goto done;
	if ((rc = gnutls_privkey_init(&ca->signer)) < 0) {
		rc = mutls__error_gnutls(MUTLS_ENOMEM, rc, "%s: cannot allocate", ctx);
		goto done;
	}
	/* The abstract key now owns the x509 key; keep a borrowed pointer. */
	if ((rc = gnutls_privkey_import_x509(ca->signer, key,
			GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE)) < 0) {
		rc = mutls__error_gnutls(MUTLS_ECONFIG, rc, "%s: cannot import key", ctx);
		goto done;
	}
	ca->key = key;
	key = NULL;
	size = sizeof(ca->key_id);
	TRY(gnutls_x509_privkey_get_key_id(ca->key, GNUTLS_KEYID_USE_SHA1, ca->key_id, &size),
		"key identifier");
	ca->key_id_len = size;

	if ((rc = gnutls_x509_crt_init(&crt)) < 0) {
		rc = mutls__error_gnutls(MUTLS_ENOMEM, rc, "%s: cannot allocate", ctx);
		goto done;
	}
	TRY(gnutls_x509_crt_set_version(crt, 3), "version");
	TRY(gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)), "serial");
	TRY(gnutls_x509_crt_set_activation_time(crt, (time_t)nb), "not_before");
	TRY(gnutls_x509_crt_set_expiration_time(crt, (time_t)na), "not_after");
	TRY(gnutls_x509_crt_set_key(crt, ca->key), "public key");
	/* O first: RDNs print in reverse, giving "CN=...,O=mutls test PKI". */
	TRY(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0,
		"mutls test PKI", (unsigned)strlen("mutls test PKI")), "organization");
	TRY(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
		name, (unsigned)strlen(name)), "common name");
	TRY(gnutls_x509_crt_set_basic_constraints(crt,
		(opts->flags & MUTLS_CA_NOT_A_CA) ? 0 : 1, -1), "basicConstraints");
	TRY(gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN |
		GNUTLS_KEY_DIGITAL_SIGNATURE),
		"keyUsage");
	TRY(gnutls_x509_crt_set_subject_key_id(crt, ca->key_id, ca->key_id_len),
		"subjectKeyIdentifier");
	if (parent) {
		TRY(gnutls_x509_crt_set_authority_key_id(crt, parent->key_id,
			parent->key_id_len), "authorityKeyIdentifier");
		TRY(gnutls_x509_crt_privkey_sign(crt, parent->cert->crt, parent->signer,
			parent->digest, 0), "signature");
	} else {
		TRY(gnutls_x509_crt_privkey_sign(crt, crt, ca->signer, ca->digest, 0),
			"signature");
	}
	rc = mutls__x509_wrap(&ca->cert, crt);
	crt = NULL; /* consumed */
	if (rc < 0)
		goto done;
	if ((rc = mutls_x509_pem(&ca->cert_pem, ca->cert)) < 0 ||
	    (rc = key_pem_plain(&ca->key_pem, ca->key)) < 0)
		goto done;

	if (parent) {
		ca->above = calloc(parent->above_len + 1, sizeof(*ca->above));
		if (!ca->above) {
			rc = mutls__error(MUTLS_ENOMEM, "out of memory");
			goto done;
		}
		ca->above[0] = mutls_x509_ref(ca->cert);
		for (size_t i = 0; i < parent->above_len; i++)
			ca->above[i + 1] = mutls_x509_ref(parent->above[i]);
		ca->above_len = parent->above_len + 1;
		ca->above_pem = concat(ca->cert_pem, parent->above_pem);
	} else {
		ca->above_pem = mutls__strdup("");
	}
	if (!ca->above_pem) {
		rc = MUTLS_ENOMEM;
		goto done;
	}
	*out = ca;
	ca = NULL;
	rc = 0;
done:
	if (crt)
		gnutls_x509_crt_deinit(crt);
	if (key)
		gnutls_x509_privkey_deinit(key);
	mutls_testca_free(ca);
	return rc;
}

int mutls_testca_new(mutls_testca **out, const mutls_testca_options *opts)
{
	return make_ca(out, NULL, opts);
}

int mutls_testca_intermediate(mutls_testca **out, mutls_testca *parent,
	const mutls_testca_options *opts)
{
	if (!parent) {
		if (out)
			*out = NULL;
		return mutls__error(MUTLS_EUSAGE, "intermediate CA: NULL parent");
	}
	return make_ca(out, parent, opts);
}

mutls_x509 *mutls_testca_certificate(const mutls_testca *ca)
{
	return ca ? ca->cert : NULL;
}

const char *mutls_testca_cert_pem(const mutls_testca *ca)
{
	return ca ? ca->cert_pem : NULL;
}

const char *mutls_testca_key_pem(const mutls_testca *ca)
{
	return ca ? ca->key_pem : NULL;
}

/* ------------------------------------------------------------------------ */
/* Leaves                                                                    */
/* ------------------------------------------------------------------------ */

void mutls_identity_free(mutls_identity *id)
{
	if (!id)
		return;
	mutls_x509_list_free(id->chain, id->chain_len);
	if (id->key)
		gnutls_x509_privkey_deinit(id->key);
	free(id->cert_pem);
	free(id->chain_pem);
	free(id->key_pem);
	free(id);
}

static int check_names(const char *const *list, size_t count, const char *what)
{
	if (count && !list)
		return mutls__error(MUTLS_EUSAGE, "issue: %s_count is %zu but %s is NULL",
			what, count, what);
	for (size_t i = 0; i < count; i++)
		if (!list[i] || !*list[i])
			return mutls__error(MUTLS_EUSAGE, "issue: %s[%zu] is empty", what, i);
	return 0;
}

static int add_sans(gnutls_x509_crt_t crt, gnutls_x509_subject_alt_name_t type,
	const char *const *list, size_t count, const char *ctx)
{
	int rc = 0;
	for (size_t i = 0; i < count; i++)
		TRY(gnutls_x509_crt_set_subject_alt_name(crt, type, list[i],
			(unsigned)strlen(list[i]), GNUTLS_FSAN_APPEND), list[i]);
done:
	return rc;
}

/* "10.0.0.7" or "::1" into 4 or 16 bytes; -1 if it is neither. */
static int parse_ip(unsigned char addr[16], unsigned *len, const char *text)
{
	unsigned char tmp[16];
	if (!addr)
		addr = tmp;
	if (inet_pton(AF_INET, text, addr) == 1) {
		if (len)
			*len = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, text, addr) == 1) {
		if (len)
			*len = 16;
		return 0;
	}
	return -1;
}

int mutls_testca_issue(mutls_identity **out, mutls_testca *ca, const mutls_issue_options *opts)
{
	static const mutls_issue_options defaults = MUTLS_ISSUE_OPTIONS_INIT;
	const char *ctx = "issue";
	const char *cn;
	unsigned char serial[SERIAL_LEN];
	unsigned char key_id[64];
	size_t key_id_len = sizeof(key_id);
	gnutls_x509_crt_t crt = NULL;
	mutls_identity *id = NULL;
	mutls_x509 *leaf = NULL;
	mutls_purpose purpose;
	unsigned usage;
	int64_t nb, na;
	int rc;

	if (!out || !ca)
		return mutls__error(MUTLS_EUSAGE, "issue: NULL argument");
	*out = NULL;
	if (!opts)
		opts = &defaults;
	if (opts->version != MUTLS_ISSUE_OPTIONS_VERSION)
		return mutls__error(MUTLS_EUSAGE, "issue: unsupported options version %u",
			opts->version);
	if ((rc = check_names(opts->dns, opts->dns_count, "dns")) < 0 ||
	    (rc = check_names(opts->ip, opts->ip_count, "ip")) < 0 ||
	    (rc = check_names(opts->uri, opts->uri_count, "uri")) < 0 ||
	    (rc = check_names(opts->email, opts->email_count, "email")) < 0)
		return rc;
	if (opts->cn && !*opts->cn)
		return mutls__error(MUTLS_EUSAGE, "issue: cn is empty (use NULL for none)");
	/* ANY is not an issuing choice; treat it as the default, both EKUs. */
	purpose = opts->purpose == MUTLS_PURPOSE_ANY ? MUTLS_PURPOSE_BOTH : opts->purpose;
	if (purpose < MUTLS_PURPOSE_SERVER || purpose > MUTLS_PURPOSE_NONE)
		return mutls__error(MUTLS_EUSAGE, "issue: unknown purpose %d", (int)opts->purpose);
	if ((rc = resolve_times(&nb, &na, opts->not_before, opts->not_after, YEAR, ctx)) < 0)
		return rc;
	/* Check IP addresses before the costly key generation. */
	for (size_t i = 0; i < opts->ip_count; i++)
		if (parse_ip(NULL, NULL, opts->ip[i]) < 0)
			return mutls__error(MUTLS_EUSAGE, "issue: invalid IP address \"%s\"",
				opts->ip[i]);
	cn = opts->cn;
	if (!cn && !opts->dns_count && !opts->ip_count && !opts->uri_count && !opts->email_count)
		cn = "mutls test leaf";
	if ((rc = random_serial(serial)) < 0)
		return rc;

	if (!(id = calloc(1, sizeof(*id))))
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	if ((rc = gnutls_x509_crt_init(&crt)) < 0) {
		rc = mutls__error_gnutls(MUTLS_ENOMEM, rc, "issue: cannot allocate");
		goto done;
	}
	if ((rc = generate_key(&id->key, NULL, opts->key_type)) < 0)
		goto done;

	TRY(gnutls_x509_crt_set_version(crt, 3), "version");
	TRY(gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)), "serial");
	TRY(gnutls_x509_crt_set_activation_time(crt, (time_t)nb), "not_before");
	TRY(gnutls_x509_crt_set_expiration_time(crt, (time_t)na), "not_after");
	TRY(gnutls_x509_crt_set_key(crt, id->key), "public key");
	if (cn)
		TRY(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
			(unsigned)strlen(cn)), "common name");
	if ((rc = add_sans(crt, GNUTLS_SAN_DNSNAME, opts->dns, opts->dns_count, ctx)) < 0)
		goto done;
	for (size_t i = 0; i < opts->ip_count; i++) {
		unsigned char addr[16];
		unsigned len = 0;
		parse_ip(addr, &len, opts->ip[i]); /* checked above */
		TRY(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, addr, len,
			GNUTLS_FSAN_APPEND), opts->ip[i]);
	}
	if ((rc = add_sans(crt, GNUTLS_SAN_URI, opts->uri, opts->uri_count, ctx)) < 0 ||
	    (rc = add_sans(crt, GNUTLS_SAN_RFC822NAME, opts->email, opts->email_count, ctx)) < 0)
		goto done;
	TRY(gnutls_x509_crt_set_basic_constraints(crt, 0, -1), "basicConstraints");
	if (opts->flags & MUTLS_ISSUE_BAD_KEY_USAGE)
		usage = GNUTLS_KEY_KEY_CERT_SIGN;
	else if (opts->key_type >= MUTLS_KEY_RSA2048)
		usage = GNUTLS_KEY_DIGITAL_SIGNATURE | GNUTLS_KEY_KEY_ENCIPHERMENT;
	else
		usage = GNUTLS_KEY_DIGITAL_SIGNATURE;
	TRY(gnutls_x509_crt_set_key_usage(crt, usage), "keyUsage");
	if (purpose == MUTLS_PURPOSE_SERVER || purpose == MUTLS_PURPOSE_BOTH)
		TRY(gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0),
			"extendedKeyUsage");
	if (purpose == MUTLS_PURPOSE_CLIENT || purpose == MUTLS_PURPOSE_BOTH)
		TRY(gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0),
			"extendedKeyUsage");
	TRY(gnutls_x509_privkey_get_key_id(id->key, GNUTLS_KEYID_USE_SHA1, key_id, &key_id_len),
		"key identifier");
	TRY(gnutls_x509_crt_set_subject_key_id(crt, key_id, key_id_len),
		"subjectKeyIdentifier");
	TRY(gnutls_x509_crt_set_authority_key_id(crt, ca->key_id, ca->key_id_len),
		"authorityKeyIdentifier");
	/* Signing also copies the CA's subject into the issuer field. */
	TRY(gnutls_x509_crt_privkey_sign(crt, ca->cert->crt, ca->signer, ca->digest, 0),
		"signature");
	rc = mutls__x509_wrap(&leaf, crt);
	crt = NULL; /* consumed */
	if (rc < 0)
		goto done;

	if (!(id->chain = calloc(ca->above_len + 1, sizeof(*id->chain)))) {
		mutls_x509_unref(leaf);
		rc = mutls__error(MUTLS_ENOMEM, "out of memory");
		goto done;
	}
	id->chain[0] = leaf;
	for (size_t i = 0; i < ca->above_len; i++)
		id->chain[i + 1] = mutls_x509_ref(ca->above[i]);
	id->chain_len = ca->above_len + 1;

	/* The PEM texts are cheap next to key generation: make them now so the
	 * accessors are plain getters. */
	if ((rc = mutls_x509_pem(&id->cert_pem, leaf)) < 0 ||
	    (rc = key_pem_plain(&id->key_pem, id->key)) < 0)
		goto done;
	if (!(id->chain_pem = concat(id->cert_pem, ca->above_pem))) {
		rc = MUTLS_ENOMEM;
		goto done;
	}
	*out = id;
	id = NULL;
	rc = 0;
done:
	if (crt)
		gnutls_x509_crt_deinit(crt);
	mutls_identity_free(id);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Revocation                                                                */
/* ------------------------------------------------------------------------ */

int mutls_testca_revoke(mutls_testca *ca, const mutls_x509 *cert)
{
	struct revoked_serial s;
	int rc;

	if (!ca || !cert)
		return mutls__error(MUTLS_EUSAGE, "revoke: NULL argument");
	/* Same issuer DN (and key identifiers, when present). */
	if (!gnutls_x509_crt_check_issuer(cert->crt, ca->cert->crt))
		return mutls__error(MUTLS_EUSAGE, "certificate %s was not issued by CA %s",
			mutls_x509_label(cert), mutls_x509_label(ca->cert));
	s.len = sizeof(s.bytes);
	if ((rc = gnutls_x509_crt_get_serial(cert->crt, s.bytes, &s.len)) < 0)
		return mutls__error_gnutls(MUTLS_ECONFIG, rc,
			"certificate %s: cannot read serial", mutls_x509_label(cert));
	for (size_t i = 0; i < ca->revoked_len; i++)
		if (ca->revoked[i].len == s.len && memcmp(ca->revoked[i].bytes, s.bytes, s.len) == 0)
			return 0; /* already revoked */
	if (ca->revoked_len == ca->revoked_cap) {
		size_t ncap = ca->revoked_cap ? ca->revoked_cap * 2 : 8;
		struct revoked_serial *grown = realloc(ca->revoked, ncap * sizeof(*grown));
		if (!grown)
			return mutls__error(MUTLS_ENOMEM, "out of memory");
		ca->revoked = grown;
		ca->revoked_cap = ncap;
	}
	ca->revoked[ca->revoked_len++] = s;
	return 0;
}

int mutls_testca_crl_pem(char **out, mutls_testca *ca)
{
	const char *ctx = "CRL";
	int64_t now = (int64_t)time(NULL);
	gnutls_x509_crl_t crl = NULL;
	gnutls_datum_t d = { NULL, 0 };
	unsigned char number[8];
	int rc;

	if (!out || !ca)
		return mutls__error(MUTLS_EUSAGE, "mutls_testca_crl_pem: NULL argument");
	*out = NULL;
	if ((rc = gnutls_x509_crl_init(&crl)) < 0)
		return mutls__error_gnutls(MUTLS_ENOMEM, rc, "CRL: cannot allocate");
	TRY(gnutls_x509_crl_set_version(crl, 2), "version");
	TRY(gnutls_x509_crl_set_this_update(crl, (time_t)(now - HOUR)), "thisUpdate");
	TRY(gnutls_x509_crl_set_next_update(crl, (time_t)(now + 30 * DAY)), "nextUpdate");
	for (size_t i = 0; i < ca->revoked_len; i++)
		TRY(gnutls_x509_crl_set_crt_serial(crl, ca->revoked[i].bytes, ca->revoked[i].len,
			(time_t)(now - HOUR)), "revoked serial");
	TRY(gnutls_x509_crl_set_authority_key_id(crl, ca->key_id, ca->key_id_len),
		"authorityKeyIdentifier");
	/* Big-endian; a leading zero byte keeps the INTEGER positive. */
	for (int i = 0; i < 8; i++)
		number[i] = (unsigned char)(ca->crl_number >> (56 - 8 * i));
	TRY(gnutls_x509_crl_set_number(crl, number, sizeof(number)), "cRLNumber");
	TRY(gnutls_x509_crl_privkey_sign(crl, ca->cert->crt, ca->signer, ca->digest, 0),
		"signature");
	TRY(gnutls_x509_crl_export2(crl, GNUTLS_X509_FMT_PEM, &d), "PEM encoding");
	if (!(*out = malloc((size_t)d.size + 1))) {
		rc = mutls__error(MUTLS_ENOMEM, "out of memory");
		goto done;
	}
	memcpy(*out, d.data, d.size);
	(*out)[d.size] = '\0';
	ca->crl_number++;
	rc = 0;
done:
	gnutls_free(d.data);
	gnutls_x509_crl_deinit(crl);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Identities                                                                */
/* ------------------------------------------------------------------------ */

mutls_x509 *mutls_identity_certificate(const mutls_identity *id)
{
	return id && id->chain_len ? id->chain[0] : NULL;
}

size_t mutls_identity_chain_length(const mutls_identity *id)
{
	return id ? id->chain_len : 0;
}

mutls_x509 *mutls_identity_chain_at(const mutls_identity *id, size_t index)
{
	return id && index < id->chain_len ? id->chain[index] : NULL;
}

const char *mutls_identity_cert_pem(const mutls_identity *id)
{
	return id ? id->cert_pem : NULL;
}

const char *mutls_identity_chain_pem(const mutls_identity *id)
{
	return id ? id->chain_pem : NULL;
}

const char *mutls_identity_key_pem(const mutls_identity *id)
{
	return id ? id->key_pem : NULL;
}

int mutls_identity_encrypted_key_pem(char **out, const mutls_identity *id,
	const char *password)
{
	gnutls_datum_t d = { NULL, 0 };
	int rc;

	if (!out || !id || !password)
		return mutls__error(MUTLS_EUSAGE, "mutls_identity_encrypted_key_pem: NULL argument");
	*out = NULL;
	rc = gnutls_x509_privkey_export2_pkcs8(id->key, GNUTLS_X509_FMT_PEM, password,
		GNUTLS_PKCS_PBES2_AES_256, &d);
	if (rc < 0)
		return mutls__error_gnutls(MUTLS_ECONFIG, rc, "cannot encrypt private key");
	if (!(*out = malloc((size_t)d.size + 1))) {
		gnutls_free(d.data);
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	}
	memcpy(*out, d.data, d.size);
	(*out)[d.size] = '\0';
	gnutls_free(d.data);
	return 0;
}

static int write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
	size_t dlen = strlen(dir);
	int slash = dlen > 0 && dir[dlen - 1] == '/';
	size_t plen = dlen + strlen(name) + 2;
	size_t len = strlen(text), done = 0;
	char *path = malloc(plen);
	int fd, rc = 0;

	if (!path)
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	snprintf(path, plen, "%s%s%s", dir, slash ? "" : "/", name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = mutls__error(MUTLS_ECONFIG, "%s: cannot write file: %s", path, strerror(errno));
		goto out;
	}
	/* An existing file keeps its old mode on O_CREAT: tighten it before the
	 * key is written (other files keep the umask's say). */
	if (!(mode & 077) && fchmod(fd, mode) < 0) {
		rc = mutls__error(MUTLS_ECONFIG, "%s: cannot set mode: %s", path, strerror(errno));
		close(fd);
		goto out;
	}
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = mutls__error(MUTLS_ECONFIG, "%s: cannot write file: %s", path,
				n < 0 ? strerror(errno) : "short write");
			close(fd);
			goto out;
		}
		done += (size_t)n;
	}
	if (close(fd) < 0)
		rc = mutls__error(MUTLS_ECONFIG, "%s: cannot write file: %s", path, strerror(errno));
out:
	free(path);
	return rc;
}

int mutls_identity_write_to(const mutls_identity *id, const char *directory)
{
	int rc;
	if (!id || !directory)
		return mutls__error(MUTLS_EUSAGE, "mutls_identity_write_to: NULL argument");
	if ((rc = write_file(directory, "cert.pem", id->cert_pem, 0644)) < 0 ||
	    (rc = write_file(directory, "chain.pem", id->chain_pem, 0644)) < 0 ||
	    (rc = write_file(directory, "key.pem", id->key_pem, 0600)) < 0)
		return rc;
	return 0;
}
