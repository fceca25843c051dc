/* The test PKI: throwaway CAs, leaves and CRLs made in memory. */
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC, fchmod, strcasecmp under -std=c11 */
#include "internal.h"
#include "der.h"

#include <gnutls/crypto.h>
#include <gnutls/x509-ext.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
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
	/* What each leaf's TBSCertificate takes from this CA, ready made: the
	 * subject DER (the leaf's issuer) and the signature algorithm. */
	gnutls_datum_t subject;         /* gnutls_malloc'd */
	gnutls_sign_algorithm_t sign_algo;
	const unsigned char *sig_alg_der; /* AlgorithmIdentifier, static */
	size_t sig_alg_der_len;
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
	/* deliberately weak, for tests of the key-size check only */
	{ "rsa512", MUTLS_KEY_RSA512 },
	{ "rsa1024", MUTLS_KEY_RSA1024 },
	{ "dsa1024", MUTLS_KEY_DSA1024 },
	{ "p192", MUTLS_KEY_P192 },
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
		"unknown key type \"%s\" (expected p256, p384, ed25519, rsa2048, rsa3072 or rsa4096; "
		"test-only weak keys: rsa512, rsa1024, dsa1024, p192)",
		name);
}

static const char *key_type_name(mutls_key_type type)
{
	for (size_t i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++)
		if (key_names[i].type == type)
			return key_names[i].name;
	return "unknown";
}

/* The unsigned big-endian value in v (any leading zeros) left-padded or
 * trimmed to exactly size bytes; -1 if it does not fit. */
static int fixed_size(unsigned char *out, size_t size, const gnutls_datum_t *v)
{
	size_t n = v->size, skip = 0;
	while (skip < n && v->data[skip] == 0)
		skip++;
	n -= skip;
	if (n > size)
		return -1;
	memset(out, 0, size - n);
	memcpy(out + size - n, v->data + skip, n);
	return 0;
}

static const unsigned char OID_EC_PUBLIC_KEY[] = { 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };
static const unsigned char OID_P256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const unsigned char OID_P384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const unsigned char ALG_ED25519[] = { 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70 };

/*
 * An ECDSA key's parts at their fixed sizes: the private scalar and the
 * uncompressed point 04||X||Y. Returns 1 when key is ECDSA on P-256 or
 * P-384 (and fills them), 0 for other keys, a GnuTLS error on failure.
 */
struct ec_parts {
	const unsigned char *curve_oid;
	size_t curve_oid_len;
	size_t size;                    /* field size: 32 or 48 */
	unsigned char point[1 + 2 * 48];
	unsigned char scalar[48];
};

static int ec_export(struct ec_parts *ec, gnutls_x509_privkey_t key)
{
	gnutls_datum_t x = { NULL, 0 }, y = { NULL, 0 }, k = { NULL, 0 };
	gnutls_ecc_curve_t curve;
	int rc;

	if (gnutls_x509_privkey_get_pk_algorithm(key) != GNUTLS_PK_ECDSA)
		return 0;
	if ((rc = gnutls_x509_privkey_export_ecc_raw(key, &curve, &x, &y, &k)) < 0)
		return rc;
	if (curve == GNUTLS_ECC_CURVE_SECP256R1) {
		ec->curve_oid = OID_P256;
		ec->curve_oid_len = sizeof(OID_P256);
		ec->size = 32;
	} else if (curve == GNUTLS_ECC_CURVE_SECP384R1) {
		ec->curve_oid = OID_P384;
		ec->curve_oid_len = sizeof(OID_P384);
		ec->size = 48;
	} else {
		rc = 0; /* not one of ours: GnuTLS writes it */
		goto out;
	}
	ec->point[0] = 0x04;
	if (fixed_size(ec->point + 1, ec->size, &x) < 0 ||
	    fixed_size(ec->point + 1 + ec->size, ec->size, &y) < 0 ||
	    fixed_size(ec->scalar, ec->size, &k) < 0)
		rc = GNUTLS_E_INTERNAL_ERROR;
	else
		rc = 1;
out:
	gnutls_free(x.data);
	gnutls_free(y.data);
	gnutls_memset(k.data, 0, k.size);
	gnutls_free(k.data);
	return rc;
}

/* Generate a key of the given type; *digest is what that key signs with. */
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
	case MUTLS_KEY_RSA512: pk = GNUTLS_PK_RSA; bits = 512; break;
	case MUTLS_KEY_RSA1024: pk = GNUTLS_PK_RSA; bits = 1024; break;
	case MUTLS_KEY_DSA1024: pk = GNUTLS_PK_DSA; bits = 1024; break;
	case MUTLS_KEY_P192:
		pk = GNUTLS_PK_ECDSA;
		bits = GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP192R1);
		break;
	default:
		return mutls__error(MUTLS_EUSAGE, "unknown key type %d", (int)type);
	}
	/* One draw, whatever the size of an ECDSA private value: key_pem_plain
	 * writes it at the curve's fixed size (see there). */
	if ((rc = gnutls_x509_privkey_init(&key)) < 0)
		return mutls__error_gnutls(MUTLS_ENOMEM, rc, "cannot allocate a private key");
	if ((rc = gnutls_x509_privkey_generate2(key, pk, bits, 0, NULL, 0)) < 0) {
		gnutls_x509_privkey_deinit(key);
		return mutls__error_gnutls(MUTLS_ECONFIG, rc, "cannot generate a %s key",
			key_type_name(type));
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

/* PEM text (malloc'd, NUL-terminated) of der under header. */
static int pem_of(char **out, const char *header, const unsigned char *der, size_t len)
{
	gnutls_datum_t in = { (unsigned char *)der, (unsigned)len }, pem = { NULL, 0 };
	int rc = gnutls_pem_base64_encode2(header, &in, &pem);
	if (rc < 0)
		return rc;
	if ((*out = malloc((size_t)pem.size + 1))) {
		memcpy(*out, pem.data, pem.size);
		(*out)[pem.size] = '\0';
	}
	gnutls_memset(pem.data, 0, pem.size);
	gnutls_free(pem.data);
	return *out ? 0 : GNUTLS_E_MEMORY_ERROR;
}

/*
 * The unencrypted PKCS#8 PEM of key. GnuTLS 3.7 writes an ECDSA private
 * value as a minimal integer (33 bytes when its top bit is set, fewer when
 * it starts with zeros), where RFC 5915 wants an OCTET STRING of the curve's
 * fixed size; strict readers such as pyca cryptography refuse the others.
 * So ECDSA keys are written here, in the very layout GnuTLS uses
 * (PrivateKeyInfo { 0, { id-ecPublicKey, curve }, ECPrivateKey { 1,
 * privateKey, [0] curve, [1] publicKey } }) with the value at its fixed
 * size; other keys as GnuTLS writes them.
 */
static int key_pem_plain(char **out, gnutls_x509_privkey_t key)
{
	struct ec_parts ec;
	struct mutls_der b;
	size_t info, seq, alg, ctx;
	gnutls_datum_t d = { NULL, 0 };
	int rc;

	*out = NULL;
	if ((rc = ec_export(&ec, key)) < 0) {
		gnutls_memset(&ec, 0, sizeof(ec));
		return mutls__error_gnutls(MUTLS_ECONFIG, rc, "cannot encode private key");
	}
	if (rc == 0) {
		rc = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL,
			GNUTLS_PKCS_PLAIN, &d);
		if (rc < 0)
			return mutls__error_gnutls(MUTLS_ECONFIG, rc, "cannot encode private key");
		*out = malloc((size_t)d.size + 1);
		if (*out) {
			memcpy(*out, d.data, d.size);
			(*out)[d.size] = '\0';
		}
		gnutls_memset(d.data, 0, d.size);
		gnutls_free(d.data);
		return *out ? 0 : mutls__error(MUTLS_ENOMEM, "out of memory");
	}

	mutls__der_init(&b);
	info = mutls__der_open(&b);
	mutls__der_put(&b, "\x02\x01\x00", 3);                        /* version 0 */
	alg = mutls__der_open(&b);
	mutls__der_put(&b, OID_EC_PUBLIC_KEY, sizeof(OID_EC_PUBLIC_KEY));
	mutls__der_put(&b, ec.curve_oid, ec.curve_oid_len);
	mutls__der_close(&b, alg, 0x30);
	seq = mutls__der_open(&b);                                    /* ECPrivateKey */
	mutls__der_put(&b, "\x02\x01\x01", 3);                        /* version 1 */
	mutls__der_tlv(&b, 0x04, ec.scalar, ec.size);
	ctx = mutls__der_open(&b);
	mutls__der_put(&b, ec.curve_oid, ec.curve_oid_len);
	mutls__der_close(&b, ctx, 0xa0);
	ctx = mutls__der_open(&b);
	mutls__der_put(&b, "", 1);                                    /* no unused bits */
	mutls__der_put(&b, ec.point, 1 + 2 * ec.size);
	mutls__der_close(&b, ctx, 0x03);
	mutls__der_close(&b, ctx, 0xa1);
	mutls__der_close(&b, seq, 0x30);
	mutls__der_close(&b, seq, 0x04);                              /* privateKey */
	mutls__der_close(&b, info, 0x30);
	gnutls_memset(ec.scalar, 0, sizeof(ec.scalar));
	if (b.oom)
		rc = GNUTLS_E_MEMORY_ERROR;
	else
		rc = pem_of(out, "PRIVATE KEY", b.p, b.len);
	mutls__der_release(&b);
	if (rc == GNUTLS_E_MEMORY_ERROR)
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	if (rc < 0)
		return mutls__error_gnutls(MUTLS_ECONFIG, rc, "cannot encode private key");
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
	gnutls_free(ca->subject.data);
	free(ca->cert_pem);
	if (ca->key_pem)
		mutls__wipe_free(ca->key_pem, strlen(ca->key_pem));
	mutls_x509_list_free(ca->above, ca->above_len);
	free(ca->above_pem);
	free(ca->revoked);
	free(ca);
}

/* How this CA signs its leaves: what gnutls_x509_crt_privkey_sign picks for
 * its key and digest, and the AlgorithmIdentifier it writes for that. */
static int set_sign_algo(mutls_testca *ca, mutls_key_type type)
{
	static const unsigned char ecdsa_sha256[] = { 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
		0x48, 0xce, 0x3d, 0x04, 0x03, 0x02 };
	static const unsigned char ecdsa_sha384[] = { 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
		0x48, 0xce, 0x3d, 0x04, 0x03, 0x03 };
	static const unsigned char rsa_sha256[] = { 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86,
		0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00 };
	static const unsigned char dsa_sha256[] = { 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86,
		0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x02 };

	switch (type) {
	case MUTLS_KEY_P256:
	case MUTLS_KEY_P192:
		ca->sign_algo = GNUTLS_SIGN_ECDSA_SHA256;
		ca->sig_alg_der = ecdsa_sha256;
		ca->sig_alg_der_len = sizeof(ecdsa_sha256);
		break;
	case MUTLS_KEY_P384:
		ca->sign_algo = GNUTLS_SIGN_ECDSA_SHA384;
		ca->sig_alg_der = ecdsa_sha384;
		ca->sig_alg_der_len = sizeof(ecdsa_sha384);
		break;
	case MUTLS_KEY_ED25519:
		ca->sign_algo = GNUTLS_SIGN_EDDSA_ED25519;
		ca->sig_alg_der = ALG_ED25519;
		ca->sig_alg_der_len = sizeof(ALG_ED25519);
		break;
	case MUTLS_KEY_RSA2048:
	case MUTLS_KEY_RSA3072:
	case MUTLS_KEY_RSA4096:
	case MUTLS_KEY_RSA512:
	case MUTLS_KEY_RSA1024:
		ca->sign_algo = GNUTLS_SIGN_RSA_SHA256;
		ca->sig_alg_der = rsa_sha256;
		ca->sig_alg_der_len = sizeof(rsa_sha256);
		break;
	case MUTLS_KEY_DSA1024:
		ca->sign_algo = GNUTLS_SIGN_DSA_SHA256;
		ca->sig_alg_der = dsa_sha256;
		ca->sig_alg_der_len = sizeof(dsa_sha256);
		break;
	default:
		return mutls__error(MUTLS_EUSAGE, "unknown key type %d", (int)type);
	}
	return 0;
}

/* nameConstraints (critical, as RFC 5280 wants) permitting the DNS subtrees. */
static int set_name_constraints(gnutls_x509_crt_t crt, const mutls_testca_options *opts,
	const char *ctx)
{
	gnutls_x509_name_constraints_t nc = NULL;
	int rc;

	if ((rc = gnutls_x509_name_constraints_init(&nc)) < 0)
		return mutls__error_gnutls(MUTLS_ENOMEM, rc, "%s: cannot allocate", ctx);
	for (size_t i = 0; i < opts->permitted_dns_count && rc >= 0; i++) {
		gnutls_datum_t name = { (unsigned char *)opts->permitted_dns[i],
			(unsigned)strlen(opts->permitted_dns[i]) };
		rc = gnutls_x509_name_constraints_add_permitted(nc, GNUTLS_SAN_DNSNAME, &name);
	}
	if (rc >= 0)
		rc = gnutls_x509_crt_set_name_constraints(crt, nc, 1);
	gnutls_x509_name_constraints_deinit(nc);
	if (rc < 0)
		return mutls__error_gnutls(MUTLS_ECONFIG, rc, "%s: cannot set nameConstraints", ctx);
	return 0;
}

static int make_ca(mutls_testca **out, mutls_testca *parent, const mutls_testca_options *opts)
{
	static const mutls_testca_options defaults = MUTLS_TESTCA_OPTIONS_INIT;
	mutls_testca_options v2;
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
	if (opts->version == 1) {
		/* the fields before path_length; the rest as by default */
		v2 = defaults;
		memcpy(&v2, opts, offsetof(mutls_testca_options, path_length));
		v2.version = MUTLS_TESTCA_OPTIONS_VERSION;
		opts = &v2;
	}
	if (opts->version != MUTLS_TESTCA_OPTIONS_VERSION)
		return mutls__error(MUTLS_EUSAGE, "%s: unsupported options version %u", ctx,
			opts->version);
	if (opts->path_length < -1)
		return mutls__error(MUTLS_EUSAGE, "%s: path_length must be -1 (no limit) or more, not %d",
			ctx, opts->path_length);
	if (opts->permitted_dns_count && !opts->permitted_dns)
		return mutls__error(MUTLS_EUSAGE, "%s: permitted_dns_count is %zu but permitted_dns is NULL",
			ctx, opts->permitted_dns_count);
	for (size_t i = 0; i < opts->permitted_dns_count; i++)
		if (!opts->permitted_dns[i] || !*opts->permitted_dns[i])
			return mutls__error(MUTLS_EUSAGE, "%s: permitted_dns[%zu] is empty", ctx, i);
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
		(opts->flags & MUTLS_CA_NOT_A_CA) ? 0 : 1, opts->path_length), "basicConstraints");
	if (opts->permitted_dns_count && (rc = set_name_constraints(crt, opts, ctx)) < 0)
		goto done;
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
	TRY(gnutls_x509_crt_get_raw_dn(ca->cert->crt, &ca->subject), "subject");
	if ((rc = set_sign_algo(ca, opts->key_type)) < 0)
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

/* ------------------------------------------------------------------------ */
/* Loading an existing CA                                                    */
/* ------------------------------------------------------------------------ */

/* The certificate (and the chain above it) as mutls_x509 references. */
static int load_ca_chain(mutls_x509 ***out, size_t *out_len, const gnutls_datum_t *d,
	const char *label)
{
	if (mutls__is_pem((const char *)d->data))
		return mutls_x509_list_from_pem(out, out_len, (const char *)d->data, d->size);
	if (!(*out = calloc(1, sizeof(**out))))
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	*out_len = 1;
	if (mutls_x509_from_der(&(*out)[0], d->data, d->size) < 0) {
		free(*out);
		*out = NULL;
		*out_len = 0;
		return mutls__error(MUTLS_ECONFIG, "%s: not a readable certificate", label);
	}
	return 0;
}

/* Which of our key types the CA certificate's public key is. */
static int loaded_key_type(mutls_key_type *type, gnutls_digest_algorithm_t *digest,
	const mutls_x509 *cert)
{
	unsigned bits = 0;
	int pk = gnutls_x509_crt_get_pk_algorithm(cert->crt, &bits);

	*digest = GNUTLS_DIG_SHA256;
	if (pk == GNUTLS_PK_ECDSA && bits == 256) {
		*type = MUTLS_KEY_P256;
	} else if (pk == GNUTLS_PK_ECDSA && bits == 384) {
		*type = MUTLS_KEY_P384;
		*digest = GNUTLS_DIG_SHA384;
	} else if (pk == GNUTLS_PK_EDDSA_ED25519) {
		*type = MUTLS_KEY_ED25519;
		*digest = GNUTLS_DIG_UNKNOWN;
	} else if (pk == GNUTLS_PK_RSA && bits >= 2048) {
		*type = MUTLS_KEY_RSA2048; /* every RSA CA signs with SHA-256 */
	} else {
		return mutls__error(MUTLS_ECONFIG,
			"CA certificate %s: its key (%s) cannot sign leaves here; use p256, p384, ed25519 or RSA >= 2048",
			cert->label, mutls_x509_key_type(cert));
	}
	return 0;
}

/* Fills ca from its certificate and key (takes ownership of key). */
static int adopt_ca(mutls_testca *ca, gnutls_x509_privkey_t key, const char *key_label)
{
	const char *ctx = "CA";
	mutls_key_type type = MUTLS_KEY_P256;
	unsigned char a[64], b[64];
	size_t alen = sizeof(a), blen = sizeof(b), size;
	int rc;

	if (gnutls_x509_crt_get_key_id(ca->cert->crt, GNUTLS_KEYID_USE_SHA256, a, &alen) < 0 ||
	    gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, b, &blen) < 0 ||
	    alen != blen || memcmp(a, b, alen) != 0) {
		gnutls_x509_privkey_deinit(key);
		return mutls__error(MUTLS_ECONFIG, "%s: the private key does not match the CA certificate %s",
			key_label, ca->cert->label);
	}
	if ((rc = loaded_key_type(&type, &ca->digest, ca->cert)) < 0) {
		gnutls_x509_privkey_deinit(key);
		return rc;
	}
	if ((rc = gnutls_privkey_init(&ca->signer)) < 0) {
		gnutls_x509_privkey_deinit(key);
		return mutls__error_gnutls(MUTLS_ENOMEM, rc, "CA: cannot allocate");
	}
	if ((rc = gnutls_privkey_import_x509(ca->signer, key, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE)) < 0) {
		gnutls_x509_privkey_deinit(key);
		return mutls__error_gnutls(MUTLS_ECONFIG, rc, "%s: cannot use the key", key_label);
	}
	ca->key = key;
	/* leaves name this CA by the subject key identifier it carries */
	size = sizeof(ca->key_id);
	if (gnutls_x509_crt_get_subject_key_id(ca->cert->crt, ca->key_id, &size, NULL) < 0) {
		size = sizeof(ca->key_id);
		TRY(gnutls_x509_privkey_get_key_id(ca->key, GNUTLS_KEYID_USE_SHA1, ca->key_id, &size),
			"key identifier");
	}
	ca->key_id_len = size;
	TRY(gnutls_x509_crt_get_raw_dn(ca->cert->crt, &ca->subject), "subject");
	if ((rc = set_sign_algo(ca, type)) < 0)
		goto done;
	if ((rc = mutls_x509_pem(&ca->cert_pem, ca->cert)) < 0 ||
	    (rc = key_pem_plain(&ca->key_pem, ca->key)) < 0)
		goto done;
	rc = 0;
done:
	return rc;
}

/* The chain a leaf carries after itself: the CA when it is not self-signed,
 * then what came after it, minus a self-signed root. */
static int set_above(mutls_testca *ca, mutls_x509 **list, size_t n)
{
	size_t keep = 0;

	if (!gnutls_x509_crt_check_issuer(list[0]->crt, list[0]->crt))
		while (keep < n && !gnutls_x509_crt_check_issuer(list[keep]->crt, list[keep]->crt))
			keep++;
	ca->above_pem = mutls__strdup("");
	if (!ca->above_pem)
		return MUTLS_ENOMEM;
	if (keep == 0)
		return 0;
	if (!(ca->above = calloc(keep, sizeof(*ca->above))))
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	for (size_t i = 0; i < keep; i++) {
		char *pem = NULL, *joined;
		ca->above[i] = mutls_x509_ref(list[i]);
		ca->above_len = i + 1;
		if (mutls_x509_pem(&pem, list[i]) < 0)
			return MUTLS_ENOMEM;
		joined = concat(ca->above_pem, pem);
		free(pem);
		if (!joined)
			return MUTLS_ENOMEM;
		free(ca->above_pem);
		ca->above_pem = joined;
	}
	return 0;
}

int mutls_testca_load(mutls_testca **out, const char *certificate,
	const char *private_key, const char *password)
{
	const char *cert_label, *key_label;
	struct mutls__source c, k;
	mutls_x509 **list = NULL;
	size_t n = 0;
	gnutls_x509_privkey_t key = NULL;
	mutls_testca *ca = NULL;
	int rc;

	if (!out)
		return mutls__error(MUTLS_EUSAGE, "mutls_testca_load: NULL argument");
	*out = NULL;
	memset(&k, 0, sizeof(k));
	if ((rc = mutls__source_load(&c, certificate, "CA certificate", 0)) < 0 ||
	    (rc = mutls__source_load(&k, private_key, "CA private key", 1)) < 0)
		goto done;
	cert_label = c.label;
	key_label = k.label;
	if ((rc = load_ca_chain(&list, &n, &c.data, cert_label)) < 0)
		goto done;
	if (!mutls_x509_is_ca(list[0])) {
		rc = mutls__error(MUTLS_ECONFIG, "%s: %s is not a CA certificate (no basicConstraints CA:TRUE)",
			cert_label, mutls_x509_label(list[0]));
		goto done;
	}
	if ((rc = gnutls_x509_privkey_init(&key)) < 0) {
		rc = mutls__error_gnutls(MUTLS_ENOMEM, rc, "out of memory");
		goto done;
	}
	if ((rc = mutls__key_import(key, &k.data, key_label, password, NULL, NULL)) < 0)
		goto done;
	if (!(ca = calloc(1, sizeof(*ca)))) {
		rc = mutls__error(MUTLS_ENOMEM, "out of memory");
		goto done;
	}
	ca->crl_number = 1;
	ca->cert = mutls_x509_ref(list[0]);
	rc = adopt_ca(ca, key, key_label);
	key = NULL; /* adopt_ca owns it now */
	if (rc < 0 || (rc = set_above(ca, list, n)) < 0)
		goto done;
	*out = ca;
	ca = NULL;
done:
	if (key)
		gnutls_x509_privkey_deinit(key);
	mutls_testca_free(ca);
	mutls_x509_list_free(list, n);
	mutls__source_release(&k);
	mutls__source_release(&c);
	return rc;
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
	if (id->key_pem)
		mutls__wipe_free(id->key_pem, strlen(id->key_pem));
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

/*
 * A leaf's certificate is written here as DER, byte for byte what GnuTLS's
 * gnutls_x509_crt_set_* calls and gnutls_x509_crt_privkey_sign would make of
 * the same fields (tests/c/test_pki.c checks that against GnuTLS), then
 * signed with the CA's key and parsed once. Building it through GnuTLS's
 * ASN.1 tree cost more than the leaf's key and signature together.
 */

/* 1 when every byte is printable ASCII: GnuTLS then writes DNS names, URIs
 * and email addresses as given (no IDNA mapping, no refusal). */
static int plain_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

/* GnuTLS's choice for a DN value: PrintableString when every character is
 * in this set, else UTF8String. */
static int directory_printable(const char *s)
{
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr(" ()+,-./:=?", c)))
			return 0;
	}
	return 1;
}

/* Time as GnuTLS writes it: UTCTime before 2050, GeneralizedTime from then
 * on, and -1 or anything past 9999 as 99991231235959Z. */
static int der_time(struct mutls_der *b, int64_t when)
{
	time_t t = (time_t)when;
	struct tm tm;
	char text[32];
	unsigned char tag;
	size_t n;

	if (t == (time_t)-1 || t >= (time_t)253402210800) {
		tag = 0x18;
		n = strlen(strcpy(text, "99991231235959Z"));
	} else {
		if (!gmtime_r(&t, &tm))
			return GNUTLS_E_INTERNAL_ERROR;
		tag = tm.tm_year >= 150 ? 0x18 : 0x17;
		n = strftime(text, sizeof(text), tag == 0x18 ? "%Y%m%d%H%M%SZ" : "%y%m%d%H%M%SZ",
			&tm);
		if (!n)
			return GNUTLS_E_SHORT_MEMORY_BUFFER;
	}
	mutls__der_tlv(b, tag, text, n);
	return 0;
}

/* GeneralNames of the leaf: DNS, IP, URI, email, in that order. */
static int write_sans(struct mutls_der *b, const mutls_issue_options *opts, const char *ctx)
{
	static const unsigned types[4] = { GNUTLS_SAN_DNSNAME, GNUTLS_SAN_IPADDRESS,
		GNUTLS_SAN_URI, GNUTLS_SAN_RFC822NAME };
	static const unsigned char tags[4] = { 0x82, 0x87, 0x86, 0x81 };
	const char *const *lists[4] = { opts->dns, opts->ip, opts->uri, opts->email };
	const size_t counts[4] = { opts->dns_count, opts->ip_count, opts->uri_count,
		opts->email_count };
	gnutls_subject_alt_names_t sans = NULL;
	gnutls_datum_t ext = { NULL, 0 };
	int plain = 1, rc = 0;
	size_t seq;

	for (size_t k = 0; k < 4 && plain; k++)
		for (size_t i = 0; i < counts[k] && plain; i++)
			plain = types[k] == GNUTLS_SAN_IPADDRESS || plain_ascii(lists[k][i]);
	/* Anything else (IDNA, refusals) is GnuTLS's to decide. */
	if (!plain && (rc = gnutls_subject_alt_names_init(&sans)) < 0)
		return mutls__error_gnutls(MUTLS_ENOMEM, rc, "%s: cannot allocate", ctx);

	seq = mutls__der_open(b);
	for (size_t k = 0; k < 4; k++) {
		for (size_t i = 0; i < counts[k]; i++) {
			unsigned char addr[16];
			gnutls_datum_t d;
			if (types[k] == GNUTLS_SAN_IPADDRESS) {
				unsigned len = 0;
				parse_ip(addr, &len, lists[k][i]); /* checked by the caller */
				d.data = addr;
				d.size = len;
			} else {
				d.data = (unsigned char *)lists[k][i];
				d.size = (unsigned)strlen(lists[k][i]);
			}
			if (plain)
				mutls__der_tlv(b, tags[k], d.data, d.size);
			else
				TRY(gnutls_subject_alt_names_set(sans, types[k], &d, NULL),
					lists[k][i]);
		}
	}
	if (plain) {
		mutls__der_close(b, seq, 0x30);
	} else {
		TRY(gnutls_x509_ext_export_subject_alt_names(sans, &ext), "subjectAltName");
		mutls__der_put(b, ext.data, ext.size);
	}
	rc = 0;
done:
	gnutls_free(ext.data);
	if (sans)
		gnutls_subject_alt_names_deinit(sans);
	return rc;
}

/* SubjectPublicKeyInfo of key, as gnutls_x509_crt_set_key writes it. */
static int write_spki(struct mutls_der *b, gnutls_x509_privkey_t key)
{
	struct ec_parts ec;
	gnutls_privkey_t priv = NULL;
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t d = { NULL, 0 };
	size_t spki, part;
	int rc;

	if ((rc = ec_export(&ec, key)) < 0)
		return rc;
	gnutls_memset(ec.scalar, 0, sizeof(ec.scalar));
	if (rc == 1) {
		spki = mutls__der_open(b);
		part = mutls__der_open(b);
		mutls__der_put(b, OID_EC_PUBLIC_KEY, sizeof(OID_EC_PUBLIC_KEY));
		mutls__der_put(b, ec.curve_oid, ec.curve_oid_len);
		mutls__der_close(b, part, 0x30);
		part = mutls__der_open(b);
		mutls__der_put(b, "", 1);
		mutls__der_put(b, ec.point, 1 + 2 * ec.size);
		mutls__der_close(b, part, 0x03);
		mutls__der_close(b, spki, 0x30);
		return 0;
	}
	if ((rc = gnutls_privkey_init(&priv)) >= 0 &&
	    (rc = gnutls_privkey_import_x509(priv, key, 0)) >= 0 &&
	    (rc = gnutls_pubkey_init(&pub)) >= 0 &&
	    (rc = gnutls_pubkey_import_privkey(pub, priv, 0, 0)) >= 0 &&
	    (rc = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &d)) >= 0) {
		mutls__der_put(b, d.data, d.size);
		rc = 0;
	}
	gnutls_free(d.data);
	if (pub)
		gnutls_pubkey_deinit(pub);
	if (priv)
		gnutls_privkey_deinit(priv); /* does not free key (no AUTO_RELEASE) */
	return rc;
}

/* An Extension { extnID, critical TRUE when it is, extnValue }: its value
 * is what is written between ext_begin and ext_end. Non-critical is left
 * out (DEFAULT FALSE), as GnuTLS does. */
struct ext {
	size_t start, value;
};

static struct ext ext_begin(struct mutls_der *b, const unsigned char *oid, size_t oid_len,
	int critical)
{
	struct ext e;
	e.start = mutls__der_open(b);
	mutls__der_put(b, oid, oid_len);
	if (critical)
		mutls__der_put(b, "\x01\x01\xff", 3);
	e.value = mutls__der_open(b);
	return e;
}

static void ext_end(struct mutls_der *b, struct ext e)
{
	mutls__der_close(b, e.value, 0x04);
	mutls__der_close(b, e.start, 0x30);
}

/* keyUsage: GNUTLS_KEY_* are the bits of the BIT STRING's first two bytes;
 * DER drops the trailing zero bits. */
static void write_key_usage(struct mutls_der *b, unsigned usage)
{
	unsigned char bits[3];
	size_t n = 0;

	bits[1] = (unsigned char)(usage & 0xff);
	bits[2] = (unsigned char)((usage >> 8) & 0xff);
	if (bits[2])
		n = 2;
	else if (bits[1])
		n = 1;
	bits[0] = 0; /* unused bits in the last byte */
	if (n)
		for (unsigned char last = bits[n]; !(last & 1); last >>= 1)
			bits[0]++;
	mutls__der_tlv(b, 0x03, bits, n + 1);
}

static const unsigned char OID_CN[] = { 0x06, 0x03, 0x55, 0x04, 0x03 };
static const unsigned char OID_SAN[] = { 0x06, 0x03, 0x55, 0x1d, 0x11 };
static const unsigned char OID_BASIC[] = { 0x06, 0x03, 0x55, 0x1d, 0x13 };
static const unsigned char OID_KEY_USAGE[] = { 0x06, 0x03, 0x55, 0x1d, 0x0f };
static const unsigned char OID_EKU[] = { 0x06, 0x03, 0x55, 0x1d, 0x25 };
static const unsigned char OID_SKID[] = { 0x06, 0x03, 0x55, 0x1d, 0x0e };
static const unsigned char OID_AKID[] = { 0x06, 0x03, 0x55, 0x1d, 0x23 };
static const unsigned char OID_KP_SERVER[] = { 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01 };
static const unsigned char OID_KP_CLIENT[] = { 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02 };

struct leaf_fields {
	const mutls_issue_options *opts;
	const char *cn;                 /* NULL: empty subject */
	mutls_purpose purpose;
	unsigned usage;                 /* GNUTLS_KEY_* */
	const unsigned char *serial;
	int64_t not_before, not_after;
	gnutls_x509_privkey_t key;
};

/* The signed leaf certificate's DER into b: the fields in the order and
 * form gnutls_x509_crt_set_* leave them, the extensions in the order
 * TestCA always set them. */
static int build_leaf(struct mutls_der *b, const mutls_testca *ca, const struct leaf_fields *f)
{
	const char *ctx = "issue";
	const mutls_issue_options *opts = f->opts;
	unsigned char key_id[20];
	gnutls_datum_t tbs, sig = { NULL, 0 };
	size_t tbs_at, part, exts, list, spki;
	struct ext e;
	int rc;

	tbs_at = mutls__der_open(b);
	mutls__der_put(b, "\xa0\x03\x02\x01\x02", 5);                 /* version 3 */
	mutls__der_tlv(b, 0x02, f->serial, SERIAL_LEN);
	mutls__der_put(b, ca->sig_alg_der, ca->sig_alg_der_len);
	mutls__der_put(b, ca->subject.data, ca->subject.size);        /* issuer */
	part = mutls__der_open(b);
	TRY(der_time(b, f->not_before), "not_before");
	TRY(der_time(b, f->not_after), "not_after");
	mutls__der_close(b, part, 0x30);
	part = mutls__der_open(b);                                    /* subject */
	if (f->cn) {
		size_t set = mutls__der_open(b), atv = mutls__der_open(b);
		mutls__der_put(b, OID_CN, sizeof(OID_CN));
		mutls__der_tlv(b, directory_printable(f->cn) ? 0x13 : 0x0c, f->cn, strlen(f->cn));
		mutls__der_close(b, atv, 0x30);
		mutls__der_close(b, set, 0x31);
	}
	mutls__der_close(b, part, 0x30);
	spki = mutls__der_open(b);
	TRY(write_spki(b, f->key), "public key");
	if (b->oom)
		goto nomem;
	/* GnuTLS's key identifier: SHA-1 of the whole SubjectPublicKeyInfo */
	TRY(gnutls_hash_fast(GNUTLS_DIG_SHA1, b->p + spki, b->len - spki, key_id),
		"key identifier");

	exts = mutls__der_open(b);
	list = mutls__der_open(b);
	if (opts->dns_count || opts->ip_count || opts->uri_count || opts->email_count) {
		e = ext_begin(b, OID_SAN, sizeof(OID_SAN), 0);
		if ((rc = write_sans(b, opts, ctx)) < 0)
			goto done;
		ext_end(b, e);
	}
	e = ext_begin(b, OID_BASIC, sizeof(OID_BASIC), 1);
	mutls__der_put(b, "\x30\x00", 2);                             /* CA:FALSE */
	ext_end(b, e);
	e = ext_begin(b, OID_KEY_USAGE, sizeof(OID_KEY_USAGE), 1);
	write_key_usage(b, f->usage);
	ext_end(b, e);
	if (f->purpose != MUTLS_PURPOSE_NONE) {
		e = ext_begin(b, OID_EKU, sizeof(OID_EKU), 0);
		part = mutls__der_open(b);
		if (f->purpose == MUTLS_PURPOSE_SERVER || f->purpose == MUTLS_PURPOSE_BOTH)
			mutls__der_put(b, OID_KP_SERVER, sizeof(OID_KP_SERVER));
		if (f->purpose == MUTLS_PURPOSE_CLIENT || f->purpose == MUTLS_PURPOSE_BOTH)
			mutls__der_put(b, OID_KP_CLIENT, sizeof(OID_KP_CLIENT));
		mutls__der_close(b, part, 0x30);
		ext_end(b, e);
	}
	e = ext_begin(b, OID_SKID, sizeof(OID_SKID), 0);
	mutls__der_tlv(b, 0x04, key_id, sizeof(key_id));
	ext_end(b, e);
	e = ext_begin(b, OID_AKID, sizeof(OID_AKID), 0);
	part = mutls__der_open(b);
	mutls__der_tlv(b, 0x80, ca->key_id, ca->key_id_len);          /* [0] keyIdentifier */
	mutls__der_close(b, part, 0x30);
	ext_end(b, e);
	mutls__der_close(b, list, 0x30);
	mutls__der_close(b, exts, 0xa3);
	mutls__der_close(b, tbs_at, 0x30);
	if (b->oom)
		goto nomem;

	/* Certificate { tbsCertificate, signatureAlgorithm, signature } */
	tbs.data = b->p + tbs_at;
	tbs.size = (unsigned)(b->len - tbs_at);
	TRY(gnutls_privkey_sign_data2(ca->signer, ca->sign_algo, 0, &tbs, &sig), "signature");
	mutls__der_put(b, ca->sig_alg_der, ca->sig_alg_der_len);
	part = mutls__der_open(b);
	mutls__der_put(b, "", 1);                                     /* no unused bits */
	mutls__der_put(b, sig.data, sig.size);
	mutls__der_close(b, part, 0x03);
	mutls__der_close(b, tbs_at, 0x30);
	gnutls_free(sig.data);
	if (b->oom)
		goto nomem;
	return 0;
nomem:
	return mutls__error(MUTLS_ENOMEM, "out of memory");
done:
	return rc;
}

int mutls_testca_issue(mutls_identity **out, mutls_testca *ca, const mutls_issue_options *opts)
{
	static const mutls_issue_options defaults = MUTLS_ISSUE_OPTIONS_INIT;
	const char *cn;
	unsigned char serial[SERIAL_LEN];
	struct leaf_fields f;
	struct mutls_der b;
	gnutls_datum_t der;
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
	if ((rc = resolve_times(&nb, &na, opts->not_before, opts->not_after, YEAR, "issue")) < 0)
		return rc;
	/* Check IP addresses before the costly key generation. */
	for (size_t i = 0; i < opts->ip_count; i++)
		if (parse_ip(NULL, NULL, opts->ip[i]) < 0)
			return mutls__error(MUTLS_EUSAGE, "issue: invalid IP address \"%s\"",
				opts->ip[i]);
	cn = opts->cn;
	if (!cn && !opts->dns_count && !opts->ip_count && !opts->uri_count && !opts->email_count)
		cn = "mutls test leaf";
	if (opts->flags & MUTLS_ISSUE_BAD_KEY_USAGE)
		usage = GNUTLS_KEY_KEY_CERT_SIGN;
	else if (opts->key_type >= MUTLS_KEY_RSA2048)
		usage = GNUTLS_KEY_DIGITAL_SIGNATURE | GNUTLS_KEY_KEY_ENCIPHERMENT;
	else
		usage = GNUTLS_KEY_DIGITAL_SIGNATURE;
	if ((rc = random_serial(serial)) < 0)
		return rc;

	if (!(id = calloc(1, sizeof(*id))))
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	if ((rc = generate_key(&id->key, NULL, opts->key_type)) < 0)
		goto done;

	f.opts = opts;
	f.cn = cn;
	f.purpose = purpose;
	f.usage = usage;
	f.serial = serial;
	f.not_before = nb;
	f.not_after = na;
	f.key = id->key;
	mutls__der_init(&b);
	if ((rc = build_leaf(&b, ca, &f)) == 0) {
		der.data = b.p;
		der.size = (unsigned)b.len;
		rc = mutls__x509_from_datum(&leaf, &der);
	}
	mutls__der_release(&b);
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
	if (gnutls_x509_privkey_get_pk_algorithm(id->key) == GNUTLS_PK_ECDSA) {
		/* id->key writes its private value minimal (see key_pem_plain); a
		 * key read back from key_pem keeps that text's fixed-size one. */
		gnutls_x509_privkey_t fixed = NULL;
		gnutls_datum_t plain = { (unsigned char *)id->key_pem,
			(unsigned)strlen(id->key_pem) };
		if ((rc = gnutls_x509_privkey_init(&fixed)) >= 0 &&
		    (rc = gnutls_x509_privkey_import_pkcs8(fixed, &plain, GNUTLS_X509_FMT_PEM,
			    NULL, GNUTLS_PKCS_PLAIN)) >= 0)
			rc = gnutls_x509_privkey_export2_pkcs8(fixed, GNUTLS_X509_FMT_PEM,
				password, GNUTLS_PKCS_PBES2_AES_256, &d);
		if (fixed)
			gnutls_x509_privkey_deinit(fixed);
	} else {
		rc = gnutls_x509_privkey_export2_pkcs8(id->key, GNUTLS_X509_FMT_PEM, password,
			GNUTLS_PKCS_PBES2_AES_256, &d);
	}
	if (rc < 0)
		return mutls__error_gnutls(MUTLS_ECONFIG, rc, "cannot encrypt private key");
	if (!(*out = malloc((size_t)d.size + 1))) {
		gnutls_memset(d.data, 0, d.size);
		gnutls_free(d.data);
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	}
	memcpy(*out, d.data, d.size);
	(*out)[d.size] = '\0';
	gnutls_memset(d.data, 0, d.size);
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
