/* Parsed X.509 certificates: parsing, the facts read once, references.
 * The accessors are in x509_fields.c. */
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC, fchmod, strcasecmp under -std=c11 */
#include "internal.h"

#include <gnutls/x509-ext.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PEM_CERT_HEADER "-----BEGIN CERTIFICATE-----"
#define PEM_X509_HEADER "-----BEGIN X509 CERTIFICATE-----"

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

/* Bounded substring search (memmem is a GNU extension). */
static const char *find_bytes(const char *hay, size_t hay_len, const char *needle)
{
	size_t n = strlen(needle);
	if (n == 0 || hay_len < n)
		return NULL;
	for (size_t i = 0; i + n <= hay_len; i++)
		if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0)
			return hay + i;
	return NULL;
}

static int has_cert_block(const char *text, size_t len)
{
	return find_bytes(text, len, PEM_CERT_HEADER) != NULL ||
		find_bytes(text, len, PEM_X509_HEADER) != NULL;
}

/*
 * Copy src into dst[cap], cutting at a UTF-8 character boundary and marking
 * the cut with "..." so a long subject never overflows or splits a character.
 */
static void copy_truncated(char *dst, size_t cap, const char *src)
{
	size_t len = strlen(src);
	if (len < cap) {
		memcpy(dst, src, len + 1);
		return;
	}
	size_t keep = cap - 4; /* room for "..." and NUL */
	while (keep > 0 && ((unsigned char)src[keep] & 0xc0) == 0x80)
		keep--;
	memcpy(dst, src, keep);
	memcpy(dst + keep, "...", 4);
}

/*
 * Undo RFC 4514 escaping in place ("a\,b" -> "a,b"; "\2c" -> ","): GnuTLS
 * escapes attribute values even when asked for one value alone. Returns -1
 * if an escape would produce a NUL byte.
 */
static int unescape_value(char *s)
{
	char *w = s;
	for (const char *r = s; *r; r++) {
		if (*r != '\\' || !r[1]) {
			*w++ = *r;
			continue;
		}
		int hi = mutls__hex_value(r[1]), lo = hi >= 0 ? mutls__hex_value(r[2]) : -1;
		if (hi >= 0 && lo >= 0) {
			if (hi == 0 && lo == 0)
				return -1;
			*w++ = (char)(hi << 4 | lo);
			r += 2;
		} else {
			*w++ = r[1];
			r++;
		}
	}
	*w = '\0';
	return 0;
}

/*
 * A DN attribute (first value of oid), unescaped, as a malloc'd string; *out
 * NULL and 0 returned when the attribute is absent.
 */
int mutls__x509_get_dn_oid(char **out, gnutls_x509_crt_t crt, const char *oid)
{
	char small[256];
	size_t size = sizeof(small);
	char *buf;
	int rc;

	*out = NULL;
	rc = gnutls_x509_crt_get_dn_by_oid(crt, oid, 0, 0, small, &size);
	if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
		return 0;
	if (rc == 0) {
		if (!(buf = mutls__strdup(small)))
			return MUTLS_ENOMEM;
	} else if (rc != GNUTLS_E_SHORT_MEMORY_BUFFER) {
		return mutls__error_gnutls(MUTLS_ECONFIG, rc,
			"certificate: cannot read subject attribute %s", oid);
	} else {
		if (!(buf = malloc(size + 1)))
			return mutls__error(MUTLS_ENOMEM, "out of memory");
		rc = gnutls_x509_crt_get_dn_by_oid(crt, oid, 0, 0, buf, &size);
		if (rc < 0) {
			free(buf);
			return mutls__error_gnutls(MUTLS_ECONFIG, rc,
				"certificate: cannot read subject attribute %s", oid);
		}
	}
	if (unescape_value(buf) < 0) {
		free(buf);
		return mutls__error(MUTLS_ECONFIG,
			"certificate: subject attribute %s contains a NUL byte", oid);
	}
	*out = buf;
	return 0;
}

/* Subject or issuer in RFC 4514 form; an empty DN gives "". */
int mutls__x509_get_dn(char **out, gnutls_x509_crt_t crt, int issuer)
{
	gnutls_datum_t d = { NULL, 0 };
	int rc = issuer ? gnutls_x509_crt_get_issuer_dn3(crt, &d, 0)
		: gnutls_x509_crt_get_dn3(crt, &d, 0);
	if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE || (rc >= 0 && !d.data)) {
		gnutls_free(d.data);
		return (*out = mutls__strdup("")) ? 0 : MUTLS_ENOMEM;
	}
	if (rc < 0)
		return mutls__error_gnutls(MUTLS_ECONFIG, rc,
			"certificate: cannot read %s", issuer ? "issuer" : "subject");
	rc = mutls__datum_to_string(out, &d);
	gnutls_free(d.data);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Construction                                                              */
/* ------------------------------------------------------------------------ */

static void name_label(mutls_x509 *cert)
{
	char *text = NULL;

	if (mutls__x509_get_dn_oid(&text, cert->crt, GNUTLS_OID_X520_COMMON_NAME) == 0 && text) {
		size_t n = strlen(text) + 4;
		char *cn = malloc(n);
		if (cn) {
			snprintf(cn, n, "CN=%s", text);
			copy_truncated(cert->label, sizeof(cert->label), cn);
			free(cn);
			free(text);
			return;
		}
	}
	free(text);
	text = NULL;
	if (mutls__x509_get_dn(&text, cert->crt, 0) == 0 && text && *text) {
		copy_truncated(cert->label, sizeof(cert->label), text);
	} else {
		/* No subject (a SAN-only leaf, as SPIFFE and many test certificates
		 * are): name it by its first DNS, URI, IP or email SAN. */
		static const struct { mutls_san_type type; const char *tag; } kinds[] = {
			{ MUTLS_SAN_DNS, "DNS:" }, { MUTLS_SAN_URI, "URI:" },
			{ MUTLS_SAN_IP, "IP:" }, { MUTLS_SAN_EMAIL, "email:" },
		};
		copy_truncated(cert->label, sizeof(cert->label), "(empty subject)");
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			char **names = NULL;
			size_t count = 0;
			if (mutls_x509_names(&names, &count, cert, kinds[k].type) == 0 && count) {
				snprintf(cert->label, sizeof(cert->label), "%s%s", kinds[k].tag, names[0]);
				mutls_strings_free(names, count);
				break;
			}
			mutls_strings_free(names, count);
		}
	}
	free(text);
}

/* The certificate's name in messages: its CN, else its subject, else its
 * first SAN; with control bytes escaped. */
static void fill_label(mutls_x509 *cert)
{
	name_label(cert);
	mutls__escape_controls(cert->label, sizeof(cert->label));
}

/*
 * Wrap crt, freshly imported (not modified since), with der its encoding.
 * Takes ownership of both, even on failure.
 */
/* TLS peers sign the handshake: a keyUsage extension, when present, must
 * allow digital signatures (GnuTLS does not check a peer leaf's). */
int mutls__usage_allows_signing(gnutls_x509_crt_t crt)
{
	unsigned usage = 0, critical = 0;
	int rc = gnutls_x509_crt_get_key_usage(crt, &usage, &critical);
	if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
		return 1;
	return rc >= 0 && (usage & GNUTLS_KEY_DIGITAL_SIGNATURE);
}

/* Calls fn with each extendedKeyUsage OID in certificate order. Returns 1
 * when the extension is absent, 0 when every OID was seen, a negative
 * GnuTLS code when it is malformed, or fn's negative return. */
int mutls__x509_for_each_key_purpose(gnutls_x509_crt_t crt,
	int (*fn)(const char *oid, void *ctx), void *ctx)
{
	gnutls_datum_t ext = { NULL, 0 };
	gnutls_x509_key_purposes_t purposes = NULL;
	unsigned critical = 0;
	int rc;

	rc = gnutls_x509_crt_get_extension_by_oid2(crt, GNUTLS_X509EXT_OID_EXTENDED_KEY_USAGE,
		0, &ext, &critical);
	if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
		return 1;
	if (rc >= 0 && (rc = gnutls_x509_key_purpose_init(&purposes)) >= 0 &&
	    (rc = gnutls_x509_ext_import_key_purposes(&ext, purposes, 0)) >= 0) {
		for (unsigned i = 0;; i++) {
			gnutls_datum_t oid;
			rc = gnutls_x509_key_purpose_get(purposes, i, &oid);
			if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) {
				rc = 0;
				break;
			}
			if (rc < 0 || (rc = fn((const char *)oid.data, ctx)) < 0)
				break;
		}
	}
	if (purposes)
		gnutls_x509_key_purpose_deinit(purposes);
	gnutls_free(ext.data);
	return rc < 0 ? rc : 0;
}

struct purpose_flags {
	int seen, server, client;
};

static int note_purpose(const char *oid, void *ctx)
{
	struct purpose_flags *f = ctx;
	f->seen = 1;
	if (strcmp(oid, GNUTLS_KP_ANY) == 0)
		f->server = f->client = 1;
	else if (strcmp(oid, GNUTLS_KP_TLS_WWW_SERVER) == 0)
		f->server = 1;
	else if (strcmp(oid, GNUTLS_KP_TLS_WWW_CLIENT) == 0)
		f->client = 1;
	return 0;
}

/* Extended key usage, decoded once: absent (or empty) allows every purpose;
 * present must list the purpose (or anyExtendedKeyUsage); a malformed one
 * allows nothing. */
static void read_key_purposes(mutls_x509 *cert)
{
	struct purpose_flags f = { 0, 0, 0 };
	int rc = mutls__x509_for_each_key_purpose(cert->crt, note_purpose, &f);

	if (rc == 1) {
		cert->may_serve = cert->may_be_client = 1;
	} else if (rc == 0) {
		cert->may_serve = !f.seen || f.server;
		cert->may_be_client = !f.seen || f.client;
	} /* malformed: nothing allowed */
}

static void fill_facts(mutls_x509 *cert)
{
	size_t size = sizeof(cert->issuer_cn);
	unsigned kinds;

	if (gnutls_x509_crt_get_issuer_dn_by_oid(cert->crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0,
		cert->issuer_cn, &size) < 0)
		snprintf(cert->issuer_cn, sizeof(cert->issuer_cn), "(no CN)");
	mutls__escape_controls(cert->issuer_cn, sizeof(cert->issuer_cn));
	cert->not_before = (int64_t)gnutls_x509_crt_get_activation_time(cert->crt);
	cert->not_after = (int64_t)gnutls_x509_crt_get_expiration_time(cert->crt);
	mutls__format_time(cert->not_before_text, sizeof(cert->not_before_text), cert->not_before);
	mutls__format_time(cert->not_after_text, sizeof(cert->not_after_text), cert->not_after);
	read_key_purposes(cert);
	cert->may_sign = mutls__usage_allows_signing(cert->crt);
	kinds = mutls__san_kinds(cert->crt);
	cert->has_dns_san = (kinds & MUTLS__SAN_DNS) != 0;
	cert->has_ip_san = (kinds & MUTLS__SAN_IP) != 0;
}

static int adopt(mutls_x509 **out, gnutls_x509_crt_t crt, gnutls_datum_t der)
{
	mutls_x509 *cert = calloc(1, sizeof(*cert));
	if (!cert) {
		gnutls_x509_crt_deinit(crt);
		gnutls_free(der.data);
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	}
	cert->refcount = 1;
	cert->crt = crt;
	cert->der = der;
	fill_label(cert);
	fill_facts(cert);
	*out = cert;
	return 0;
}

/* Wrap crt, freshly imported: take our own copy of its DER. */
static int adopt_imported(mutls_x509 **out, gnutls_x509_crt_t crt, const char *what)
{
	gnutls_datum_t der = { NULL, 0 };
	int rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der);
	if (rc < 0) {
		gnutls_x509_crt_deinit(crt);
		return mutls__error_gnutls(MUTLS_ECONFIG, rc, "%s: cannot encode certificate", what);
	}
	return adopt(out, crt, der);
}

int mutls__x509_wrap(mutls_x509 **out, gnutls_x509_crt_t crt)
{
	gnutls_datum_t der = { NULL, 0 };
	gnutls_x509_crt_t fresh = NULL;
	int rc;

	if (!out || !crt) {
		if (crt)
			gnutls_x509_crt_deinit(crt);
		return mutls__error(MUTLS_EUSAGE, "mutls__x509_wrap: NULL argument");
	}
	*out = NULL;
	rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der);
	gnutls_x509_crt_deinit(crt);
	if (rc < 0)
		return mutls__error_gnutls(MUTLS_ECONFIG, rc, "certificate: cannot encode");

	/* A just-signed crt keeps stale cached fields (it verifies as "signer
	 * not found"); a fresh parse of its DER does not. */
	if ((rc = gnutls_x509_crt_init(&fresh)) < 0) {
		gnutls_free(der.data);
		return mutls__error_gnutls(MUTLS_ENOMEM, rc, "certificate: cannot allocate");
	}
	if ((rc = gnutls_x509_crt_import(fresh, &der, GNUTLS_X509_FMT_DER)) < 0) {
		gnutls_x509_crt_deinit(fresh);
		gnutls_free(der.data);
		return mutls__error_gnutls(MUTLS_ECONFIG, rc, "certificate: cannot re-parse");
	}
	return adopt(out, fresh, der);
}

/* Parse DER (what names the source in messages). */
static int parse_der(mutls_x509 **out, const unsigned char *data, size_t len,
	const char *what, const char *problem)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t d;
	int rc;

	if (len == 0)
		return mutls__error(MUTLS_ECONFIG, "%s: empty input", what);
	if (len > UINT32_MAX)
		return mutls__error(MUTLS_ECONFIG, "%s: input too large", what);
	d.data = (unsigned char *)data;
	d.size = (unsigned)len;
	if ((rc = gnutls_x509_crt_init(&crt)) < 0)
		return mutls__error_gnutls(MUTLS_ENOMEM, rc, "%s: cannot allocate", what);
	if ((rc = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER)) < 0) {
		gnutls_x509_crt_deinit(crt);
		return mutls__error_gnutls(MUTLS_ECONFIG, rc, "%s: %s", what, problem);
	}
	/* keep the bytes as given (no re-encoding): fingerprints are of these */
	if (!(d.data = gnutls_malloc(len))) {
		gnutls_x509_crt_deinit(crt);
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	}
	memcpy(d.data, data, len);
	return adopt(out, crt, d);
}

static int parse_pem(mutls_x509 **out, const char *pem, size_t len, const char *what)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t d;
	int rc;

	if (!has_cert_block(pem, len))
		return mutls__error(MUTLS_ECONFIG,
			"%s: no \"" PEM_CERT_HEADER "\" block found", what);
	if (len > UINT32_MAX)
		return mutls__error(MUTLS_ECONFIG, "%s: input too large", what);
	d.data = (unsigned char *)pem;
	d.size = (unsigned)len;
	if ((rc = gnutls_x509_crt_init(&crt)) < 0)
		return mutls__error_gnutls(MUTLS_ENOMEM, rc, "%s: cannot allocate", what);
	if ((rc = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM)) < 0) {
		gnutls_x509_crt_deinit(crt);
		return mutls__error_gnutls(MUTLS_ECONFIG, rc,
			"%s: invalid certificate in PEM", what);
	}
	return adopt_imported(out, crt, what);
}

int mutls__x509_from_datum(mutls_x509 **out, const gnutls_datum_t *der)
{
	if (!out || !der)
		return mutls__error(MUTLS_EUSAGE, "certificate DER: NULL argument");
	*out = NULL;
	return parse_der(out, der->data, der->size, "certificate DER",
		"not a valid DER certificate");
}

int mutls_x509_from_pem(mutls_x509 **out, const char *pem, size_t len)
{
	if (!out || !pem)
		return mutls__error(MUTLS_EUSAGE, "mutls_x509_from_pem: NULL argument");
	*out = NULL;
	if (len == 0)
		len = strlen(pem);
	return parse_pem(out, pem, len, "certificate PEM");
}

int mutls_x509_from_der(mutls_x509 **out, const unsigned char *der, size_t len)
{
	if (!out || !der)
		return mutls__error(MUTLS_EUSAGE, "mutls_x509_from_der: NULL argument");
	*out = NULL;
	return parse_der(out, der, len, "certificate DER", "not a valid DER certificate");
}

int mutls_x509_load(mutls_x509 **out, const char *path)
{
	char *data = NULL;
	size_t len = 0;
	int rc;

	if (!out || !path)
		return mutls__error(MUTLS_EUSAGE, "mutls_x509_load: NULL argument");
	*out = NULL;
	if ((rc = mutls__read_file(&data, &len, path, "certificate", 0)) < 0)
		return rc;
	if (len == 0)
		rc = mutls__error(MUTLS_ECONFIG, "%s: file is empty", path);
	else if (mutls__is_pem(data))
		rc = parse_pem(out, data, len, path);
	else
		rc = parse_der(out, (const unsigned char *)data, len, path,
			"not a PEM or DER certificate");
	mutls__wipe_free(data, len); /* a PEM file may hold a key too */
	return rc;
}

int mutls_x509_list_from_pem(mutls_x509 ***out, size_t *out_count,
	const char *pem, size_t len)
{
	gnutls_x509_crt_t *crts = NULL;
	unsigned int n = 0;
	mutls_x509 **list;
	gnutls_datum_t d;
	int rc = 0;

	if (!out || !out_count || !pem)
		return mutls__error(MUTLS_EUSAGE, "mutls_x509_list_from_pem: NULL argument");
	*out = NULL;
	*out_count = 0;
	if (len == 0)
		len = strlen(pem);
	if (!has_cert_block(pem, len))
		return mutls__error(MUTLS_ECONFIG,
			"certificate PEM: no \"" PEM_CERT_HEADER "\" block found");
	if (len > UINT32_MAX)
		return mutls__error(MUTLS_ECONFIG, "certificate PEM: input too large");
	d.data = (unsigned char *)pem;
	d.size = (unsigned)len;
	/* No SORT flag: the caller's order is the chain's order. */
	rc = gnutls_x509_crt_list_import2(&crts, &n, &d, GNUTLS_X509_FMT_PEM, 0);
	if (rc < 0)
		return mutls__error_gnutls(MUTLS_ECONFIG, rc,
			"certificate PEM: invalid certificate list");
	if (n == 0) {
		gnutls_free(crts);
		return mutls__error(MUTLS_ECONFIG, "certificate PEM: no certificate found");
	}
	if (!(list = calloc(n, sizeof(*list)))) {
		for (unsigned i = 0; i < n; i++)
			gnutls_x509_crt_deinit(crts[i]);
		gnutls_free(crts);
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	}
	for (unsigned i = 0; i < n; i++) {
		/* adopt_imported consumes crts[i] whatever happens. */
		if (rc == 0)
			rc = adopt_imported(&list[i], crts[i], "certificate PEM");
		else
			gnutls_x509_crt_deinit(crts[i]);
	}
	gnutls_free(crts);
	if (rc < 0) {
		mutls_x509_list_free(list, n);
		return rc;
	}
	*out = list;
	*out_count = n;
	return 0;
}

int mutls_x509_list_load(mutls_x509 ***out, size_t *out_count, const char *path)
{
	char *data = NULL;
	size_t len = 0;
	int rc;

	if (!out || !out_count || !path)
		return mutls__error(MUTLS_EUSAGE, "mutls_x509_list_load: NULL argument");
	*out = NULL;
	*out_count = 0;
	if ((rc = mutls__read_file(&data, &len, path, "certificates", 0)) < 0)
		return rc;
	if (len == 0) {
		rc = mutls__error(MUTLS_ECONFIG, "%s: file is empty", path);
	} else if (mutls__is_pem(data)) {
		rc = mutls_x509_list_from_pem(out, out_count, data, len);
	} else if (!(*out = calloc(1, sizeof(**out)))) {
		rc = mutls__error(MUTLS_ENOMEM, "out of memory");
	} else if ((rc = parse_der(&(*out)[0], (const unsigned char *)data, len, path,
			"not a PEM or DER certificate")) < 0) {
		free(*out);
		*out = NULL;
	} else {
		*out_count = 1;
	}
	mutls__wipe_free(data, len); /* a PEM file may hold a key too */
	return rc;
}

void mutls_x509_list_free(mutls_x509 **list, size_t count)
{
	if (!list)
		return;
	for (size_t i = 0; i < count; i++)
		mutls_x509_unref(list[i]);
	free(list);
}

mutls_x509 *mutls_x509_ref(mutls_x509 *cert)
{
	if (cert)
		__atomic_add_fetch(&cert->refcount, 1, __ATOMIC_RELAXED);
	return cert;
}

void mutls_x509_unref(mutls_x509 *cert)
{
	if (!cert)
		return;
	/* acq_rel: the freeing thread must see every other holder's writes. */
	if (__atomic_sub_fetch(&cert->refcount, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	gnutls_x509_crt_deinit(cert->crt);
	gnutls_free(cert->der.data);
	free(cert);
}

static const char *const purpose_names[] = { "any", "server", "client", "both", "none" };

const char *mutls_purpose_name(mutls_purpose purpose)
{
	return purpose >= MUTLS_PURPOSE_ANY && purpose <= MUTLS_PURPOSE_NONE ? purpose_names[purpose] : "?";
}

int mutls_purpose_from_name(mutls_purpose *out, const char *name)
{
	if (!out || !name)
		return mutls__error(MUTLS_EUSAGE, "mutls_purpose_from_name: NULL argument");
	for (int p = MUTLS_PURPOSE_ANY; p <= MUTLS_PURPOSE_NONE; p++) {
		if (strcmp(name, purpose_names[p]) == 0) {
			*out = (mutls_purpose)p;
			return 0;
		}
	}
	return mutls__error(MUTLS_EUSAGE,
		"purpose: expected \"server\", \"client\", \"both\", \"none\" or \"any\", not \"%.40s\"", name);
}
