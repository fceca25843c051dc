/* A parsed certificate's fields, as the public accessors give them
 * (subject, serial, names, key usages, fingerprint, PEM...). */
#define _POSIX_C_SOURCE 200809L /* strcasecmp under -std=c11 */
#include "internal.h"
#include "der.h"

#include <gnutls/x509-ext.h>

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------------ */
/* Accessors                                                                 */
/* ------------------------------------------------------------------------ */

int mutls_x509_subject(char **out, const mutls_x509 *cert)
{
	MUTLS_REQUIRE(out && cert, "mutls_x509_subject: NULL argument");
	*out = NULL;
	return mutls__x509_get_dn(out, cert->crt, 0);
}

int mutls_x509_issuer(char **out, const mutls_x509 *cert)
{
	MUTLS_REQUIRE(out && cert, "mutls_x509_issuer: NULL argument");
	*out = NULL;
	return mutls__x509_get_dn(out, cert->crt, 1);
}

int mutls_x509_common_name(char **out, const mutls_x509 *cert)
{
	MUTLS_REQUIRE(out && cert, "mutls_x509_common_name: NULL argument");
	*out = NULL;
	return mutls__x509_get_dn_oid(out, cert->crt, GNUTLS_OID_X520_COMMON_NAME);
}

int mutls_x509_serial(char **out, const mutls_x509 *cert)
{
	unsigned char small[64];
	unsigned char *buf = small;
	size_t size = sizeof(small);
	int rc;

	MUTLS_REQUIRE(out && cert, "mutls_x509_serial: NULL argument");
	*out = NULL;
	rc = gnutls_x509_crt_get_serial(cert->crt, buf, &size);
	if (rc == GNUTLS_E_SHORT_MEMORY_BUFFER) {
		if (!(buf = malloc(size)))
			return mutls__error(MUTLS_ENOMEM, "out of memory");
		rc = gnutls_x509_crt_get_serial(cert->crt, buf, &size);
	}
	if (rc < 0) {
		if (buf != small)
			free(buf);
		return mutls__error_gnutls(MUTLS_ECONFIG, rc,
			"certificate %s: cannot read serial", cert->label);
	}
	*out = mutls__hex_encode(buf, size);
	if (buf != small)
		free(buf);
	return *out ? 0 : MUTLS_ENOMEM;
}

int64_t mutls_x509_not_before(const mutls_x509 *cert)
{
	if (!cert)
		return MUTLS_TIME_UNSET;
	return cert->not_before;
}

int64_t mutls_x509_not_after(const mutls_x509 *cert)
{
	if (!cert)
		return MUTLS_TIME_UNSET;
	return cert->not_after;
}

int mutls_x509_is_ca(const mutls_x509 *cert)
{
	unsigned critical = 0, ca = 0;
	int pathlen = -1;
	if (!cert)
		return 0;
	/* Returns the CA flag, or a negative error when the extension is absent. */
	return gnutls_x509_crt_get_basic_constraints(cert->crt, &critical, &ca,
		&pathlen) > 0 ? 1 : 0;
}

static const char *rsa_name(unsigned bits)
{
	switch (bits) {
	case 1024: return "rsa1024";
	case 1536: return "rsa1536";
	case 2048: return "rsa2048";
	case 3072: return "rsa3072";
	case 4096: return "rsa4096";
	case 6144: return "rsa6144";
	case 7680: return "rsa7680";
	case 8192: return "rsa8192";
	case 15360: return "rsa15360";
	default: return "rsa";
	}
}

const char *mutls_x509_key_type(const mutls_x509 *cert)
{
	unsigned bits = 0;
	int pk;

	if (!cert)
		return "unknown";
	pk = gnutls_x509_crt_get_pk_algorithm(cert->crt, &bits);
	switch (pk) {
	case GNUTLS_PK_RSA:
	case GNUTLS_PK_RSA_PSS:
		return rsa_name(bits);
	case GNUTLS_PK_DSA:
		return "dsa";
	case GNUTLS_PK_EDDSA_ED25519:
		return "ed25519";
	case GNUTLS_PK_EDDSA_ED448:
		return "ed448";
	case GNUTLS_PK_ECDSA: {
		/* The curve itself, not the bit size (which another 256-bit
		 * curve would share). */
		gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
		gnutls_datum_t x = { NULL, 0 }, y = { NULL, 0 };
		if (gnutls_x509_crt_get_pk_ecc_raw(cert->crt, &curve, &x, &y) < 0)
			return "unknown";
		gnutls_free(x.data);
		gnutls_free(y.data);
		switch (curve) {
		case GNUTLS_ECC_CURVE_SECP256R1: return "p256";
		case GNUTLS_ECC_CURVE_SECP384R1: return "p384";
		case GNUTLS_ECC_CURVE_SECP521R1: return "p521";
		default: return "unknown";
		}
	}
	default:
		return "unknown";
	}
}

static int san_matches(int gnutls_type, mutls_san_type type)
{
	switch (type) {
	case MUTLS_SAN_DNS: return gnutls_type == GNUTLS_SAN_DNSNAME;
	case MUTLS_SAN_IP: return gnutls_type == GNUTLS_SAN_IPADDRESS;
	case MUTLS_SAN_URI: return gnutls_type == GNUTLS_SAN_URI;
	case MUTLS_SAN_EMAIL: return gnutls_type == GNUTLS_SAN_RFC822NAME;
	default: return 0;
	}
}

/* Render one SAN value as text (malloc'd). */
static int san_to_text(char **out, const mutls_x509 *cert, mutls_san_type type,
	const unsigned char *buf, size_t size, unsigned seq)
{
	if (type == MUTLS_SAN_IP) {
		char text[INET6_ADDRSTRLEN];
		int af = size == 4 ? AF_INET : size == 16 ? AF_INET6 : 0;
		if (!af || !inet_ntop(af, buf, text, sizeof(text)))
			return mutls__error(MUTLS_ECONFIG,
				"certificate %s: IP address SAN #%u has %zu bytes",
				cert->label, seq, size);
		return (*out = mutls__strdup(text)) ? 0 : MUTLS_ENOMEM;
	}
	/* An embedded NUL would silently shorten the name ("a.com\0.evil"). */
	if (memchr(buf, '\0', size))
		return mutls__error(MUTLS_ECONFIG,
			"certificate %s: SAN #%u contains a NUL byte", cert->label, seq);
	if (!(*out = malloc(size + 1)))
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	memcpy(*out, buf, size);
	(*out)[size] = '\0';
	return 0;
}

int mutls_x509_names(char ***out, size_t *out_count, const mutls_x509 *cert,
	mutls_san_type type)
{
	unsigned char small[512];
	unsigned char *buf = small;
	size_t buf_cap = sizeof(small);
	char **list = NULL;
	size_t count = 0, cap = 0;
	int rc = 0;

	if (!out || !out_count || !cert)
		return mutls__error(MUTLS_EUSAGE, "mutls_x509_names: NULL argument");
	*out = NULL;
	*out_count = 0;
	if (type < MUTLS_SAN_DNS || type > MUTLS_SAN_EMAIL)
		return mutls__error(MUTLS_EUSAGE, "mutls_x509_names: unknown SAN type %d", (int)type);

	for (unsigned seq = 0;; seq++) {
		size_t size = buf_cap;
		unsigned san_type = 0, critical = 0;
		int t = gnutls_x509_crt_get_subject_alt_name2(cert->crt, seq, buf, &size,
			&san_type, &critical);
		if (t == GNUTLS_E_SHORT_MEMORY_BUFFER) {
			unsigned char *bigger = malloc(size + 1);
			if (!bigger) {
				rc = mutls__error(MUTLS_ENOMEM, "out of memory");
				break;
			}
			if (buf != small)
				free(buf);
			buf = bigger;
			buf_cap = size + 1;
			seq--; /* retry this entry */
			continue;
		}
		if (t == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (t < 0) {
			rc = mutls__error_gnutls(MUTLS_ECONFIG, t,
				"certificate %s: cannot read subjectAltName #%u", cert->label, seq);
			break;
		}
		if (!san_matches(t, type))
			continue;
		if (count == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			char **grown = realloc(list, ncap * sizeof(*list));
			if (!grown) {
				rc = mutls__error(MUTLS_ENOMEM, "out of memory");
				break;
			}
			list = grown;
			cap = ncap;
		}
		if ((rc = san_to_text(&list[count], cert, type, buf, size, seq)) < 0)
			break;
		count++;
	}
	if (buf != small)
		free(buf);
	if (rc < 0) {
		mutls_strings_free(list, count);
		return rc;
	}
	if (count == 0) {
		free(list);
		list = NULL;
	}
	*out = list;
	*out_count = count;
	return 0;
}

/* A growing list of strings for the accessors below. */
struct string_list {
	char **items;
	size_t count, cap;
};

static int string_list_add(struct string_list *l, const char *text)
{
	if (l->count == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 4;
		char **grown = realloc(l->items, ncap * sizeof(*grown));
		if (!grown)
			return GNUTLS_E_MEMORY_ERROR;
		l->items = grown;
		l->cap = ncap;
	}
	if (!(l->items[l->count] = mutls__strdup(text)))
		return GNUTLS_E_MEMORY_ERROR;
	l->count++;
	return 0;
}

static int string_list_finish(char ***out, size_t *out_count, struct string_list *l, int rc)
{
	if (rc < 0 || l->count == 0) {
		mutls_strings_free(l->items, l->count);
		l->items = NULL;
		l->count = 0;
	}
	*out = l->items;
	*out_count = l->count;
	return rc < 0 ? rc : 0;
}

/* RFC 5280 names, in bit order (GnuTLS's flag for each). */
static const struct {
	unsigned flag;
	const char *name;
} key_usage_names[] = {
	{ GNUTLS_KEY_DIGITAL_SIGNATURE, "digitalSignature" },
	{ GNUTLS_KEY_NON_REPUDIATION, "nonRepudiation" },
	{ GNUTLS_KEY_KEY_ENCIPHERMENT, "keyEncipherment" },
	{ GNUTLS_KEY_DATA_ENCIPHERMENT, "dataEncipherment" },
	{ GNUTLS_KEY_KEY_AGREEMENT, "keyAgreement" },
	{ GNUTLS_KEY_KEY_CERT_SIGN, "keyCertSign" },
	{ GNUTLS_KEY_CRL_SIGN, "cRLSign" },
	{ GNUTLS_KEY_ENCIPHER_ONLY, "encipherOnly" },
	{ GNUTLS_KEY_DECIPHER_ONLY, "decipherOnly" },
};

int mutls_x509_key_usage(char ***out, size_t *out_count, const mutls_x509 *cert)
{
	struct string_list l = { NULL, 0, 0 };
	unsigned usage = 0, critical = 0;
	int rc;

	if (!out || !out_count || !cert)
		return mutls__error(MUTLS_EUSAGE, "mutls_x509_key_usage: NULL argument");
	*out = NULL;
	*out_count = 0;
	rc = gnutls_x509_crt_get_key_usage(cert->crt, &usage, &critical);
	if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
		return 0;
	if (rc < 0)
		return mutls__error_gnutls(MUTLS_ECONFIG, rc,
			"certificate %s: cannot read keyUsage", cert->label);
	rc = 0;
	for (size_t i = 0; rc == 0 && i < sizeof(key_usage_names) / sizeof(key_usage_names[0]); i++)
		if (usage & key_usage_names[i].flag)
			rc = string_list_add(&l, key_usage_names[i].name);
	if (string_list_finish(out, out_count, &l, rc) < 0)
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	return 0;
}

static const struct {
	const char *oid;
	const char *name;
} purpose_names[] = {
	{ GNUTLS_KP_TLS_WWW_SERVER, "serverAuth" },
	{ GNUTLS_KP_TLS_WWW_CLIENT, "clientAuth" },
	{ GNUTLS_KP_CODE_SIGNING, "codeSigning" },
	{ GNUTLS_KP_EMAIL_PROTECTION, "emailProtection" },
	{ GNUTLS_KP_TIME_STAMPING, "timeStamping" },
	{ GNUTLS_KP_OCSP_SIGNING, "OCSPSigning" },
	{ GNUTLS_KP_ANY, "anyExtendedKeyUsage" },
};

static int add_purpose_name(const char *oid, void *ctx)
{
	for (size_t i = 0; i < sizeof(purpose_names) / sizeof(purpose_names[0]); i++)
		if (strcmp(oid, purpose_names[i].oid) == 0)
			return string_list_add(ctx, purpose_names[i].name);
	return string_list_add(ctx, oid);
}

int mutls_x509_extended_key_usage(char ***out, size_t *out_count, const mutls_x509 *cert)
{
	struct string_list l = { NULL, 0, 0 };
	int rc;

	if (!out || !out_count || !cert)
		return mutls__error(MUTLS_EUSAGE, "mutls_x509_extended_key_usage: NULL argument");
	*out = NULL;
	*out_count = 0;
	rc = mutls__x509_for_each_key_purpose(cert->crt, add_purpose_name, &l);
	string_list_finish(out, out_count, &l, rc == 1 ? 0 : rc);
	if (rc == GNUTLS_E_MEMORY_ERROR)
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	if (rc < 0)
		return mutls__error_gnutls(MUTLS_ECONFIG, rc,
			"certificate %s: malformed extendedKeyUsage", cert->label);
	return 0;
}

int mutls_x509_fingerprint(char **out, const mutls_x509 *cert, const char *algorithm)
{
	gnutls_digest_algorithm_t dig;
	unsigned char md[64];
	size_t size = sizeof(md);
	int rc;

	MUTLS_REQUIRE(out && cert, "mutls_x509_fingerprint: NULL argument");
	*out = NULL;
	if (!algorithm || strcmp(algorithm, "sha256") == 0)
		dig = GNUTLS_DIG_SHA256;
	else if (strcmp(algorithm, "sha1") == 0)
		dig = GNUTLS_DIG_SHA1;
	else if (strcmp(algorithm, "sha384") == 0)
		dig = GNUTLS_DIG_SHA384;
	else if (strcmp(algorithm, "sha512") == 0)
		dig = GNUTLS_DIG_SHA512;
	else
		return mutls__error(MUTLS_EUSAGE,
			"unknown fingerprint algorithm \"%s\" (expected sha256, sha1, sha384 or sha512)",
			algorithm);
	if ((rc = gnutls_fingerprint(dig, &cert->der, md, &size)) < 0)
		return mutls__error_gnutls(MUTLS_ECONFIG, rc,
			"certificate %s: cannot compute %s fingerprint", cert->label,
			algorithm ? algorithm : "sha256");
	*out = mutls__hex_encode(md, size);
	return *out ? 0 : MUTLS_ENOMEM;
}

int mutls_x509_pem(char **out, const mutls_x509 *cert)
{
	gnutls_datum_t d = { NULL, 0 };
	int rc;

	MUTLS_REQUIRE(out && cert, "mutls_x509_pem: NULL argument");
	*out = NULL;
	if ((rc = gnutls_x509_crt_export2(cert->crt, GNUTLS_X509_FMT_PEM, &d)) < 0)
		return mutls__error_gnutls(MUTLS_ECONFIG, rc,
			"certificate %s: cannot encode as PEM", cert->label);
	rc = mutls__datum_to_string(out, &d);
	gnutls_free(d.data);
	return rc;
}

void mutls_x509_der(const unsigned char **out, size_t *out_len, const mutls_x509 *cert)
{
	if (out)
		*out = cert ? cert->der.data : NULL;
	if (out_len)
		*out_len = cert ? cert->der.size : 0;
}

const char *mutls_x509_label(const mutls_x509 *cert)
{
	return cert ? cert->label : "(no certificate)";
}

int mutls__crt_extension(gnutls_x509_crt_t crt, const char *oid, unsigned *critical,
	gnutls_datum_t *value)
{
	unsigned c = 0;
	gnutls_datum_t v = { NULL, 0 };
	if (gnutls_x509_crt_get_extension_by_oid2(crt, oid, 0, &v, &c) < 0)
		return 0;
	if (critical)
		*critical = c;
	if (value)
		*value = v;
	else
		gnutls_free(v.data);
	return 1;
}

unsigned mutls__san_kinds(gnutls_x509_crt_t crt)
{
	unsigned kinds = 0;
	gnutls_datum_t v;
	/* one walk over the extension's DER: [2] dNSName, [7] iPAddress */
	if (mutls__crt_extension(crt, "2.5.29.17", NULL, &v)) {
		mutls_der_in in = { v.data, v.data + v.size }, seq, item;
		unsigned char tag;
		if (mutls__der_next(&in, &tag, &seq) == 0 && tag == 0x30)
			while (seq.p < seq.end && mutls__der_next(&seq, &tag, &item) == 0)
				kinds |= tag == 0x82 ? MUTLS__SAN_DNS : tag == 0x87 ? MUTLS__SAN_IP : 0;
		gnutls_free(v.data);
	}
	return kinds;
}
