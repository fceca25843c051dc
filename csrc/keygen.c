/* The test PKI's keys and leaves: key generation, serials, validity,
 * PEM, and the leaf certificate written as DER (mutls_testca_issue). */
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC, fchmod, strcasecmp under -std=c11 */
#include "pki.h"

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
int mutls__pki_generate_key(gnutls_x509_privkey_t *out, gnutls_digest_algorithm_t *digest,
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
int mutls__pki_random_serial(unsigned char serial[SERIAL_LEN])
{
	int rc = gnutls_rnd(GNUTLS_RND_NONCE, serial, SERIAL_LEN);
	if (rc < 0)
		return mutls__error_gnutls(MUTLS_ECONFIG, rc, "cannot generate a serial number");
	serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40);
	return 0;
}

int mutls__pki_resolve_times(int64_t *nb, int64_t *na, int64_t not_before,
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
int mutls__pki_key_pem(char **out, gnutls_x509_privkey_t key)
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

char *mutls__pki_concat(const char *a, const char *b)
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

/* ------------------------------------------------------------------------ */
/* Leaves                                                                    */
/* ------------------------------------------------------------------------ */

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
				MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_subject_alt_names_set(sans, types[k], &d, NULL),
					"%s: cannot set %s", ctx, lists[k][i]);
		}
	}
	if (plain) {
		mutls__der_close(b, seq, 0x30);
	} else {
		MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_ext_export_subject_alt_names(sans, &ext),
			"%s: cannot set subjectAltName", ctx);
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
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, der_time(b, f->not_before),
		"%s: cannot set not_before", ctx);
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, der_time(b, f->not_after),
		"%s: cannot set not_after", ctx);
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
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, write_spki(b, f->key),
		"%s: cannot set public key", ctx);
	if (b->oom)
		goto nomem;
	/* GnuTLS's key identifier: SHA-1 of the whole SubjectPublicKeyInfo */
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_hash_fast(GNUTLS_DIG_SHA1, b->p + spki, b->len - spki, key_id),
		"%s: cannot set key identifier", ctx);

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
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_privkey_sign_data2(ca->signer, ca->sign_algo, 0, &tbs, &sig),
		"%s: cannot set signature", ctx);
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
	if ((rc = mutls__pki_resolve_times(&nb, &na, opts->not_before, opts->not_after, YEAR, "issue")) < 0)
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
	if ((rc = mutls__pki_random_serial(serial)) < 0)
		return rc;

	if (!(id = calloc(1, sizeof(*id))))
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	if ((rc = mutls__pki_generate_key(&id->key, NULL, opts->key_type)) < 0)
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
	    (rc = mutls__pki_key_pem(&id->key_pem, id->key)) < 0)
		goto done;
	if (!(id->chain_pem = mutls__pki_concat(id->cert_pem, ca->above_pem))) {
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
