/* Parsed X.509 certificates: parsing, accessors and small file helpers. */
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

/* Copy a gnutls datum into a malloc'd NUL-terminated string. */
static int datum_to_string(char **out, const gnutls_datum_t *d)
{
	char *s = malloc((size_t)d->size + 1);
	if (!s)
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	if (d->size)
		memcpy(s, d->data, d->size);
	s[d->size] = '\0';
	*out = s;
	return 0;
}

static char *hex_encode(const unsigned char *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *s = malloc(len * 2 + 1);
	if (!s) {
		mutls__error(MUTLS_ENOMEM, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < len; i++) {
		s[2 * i] = digits[data[i] >> 4];
		s[2 * i + 1] = digits[data[i] & 0xf];
	}
	s[len * 2] = '\0';
	return s;
}

/*
 * Copy src into dst[cap], cutting at a UTF-8 character boundary and marking
 * the cut with "..." so a long subject never overflows or splits a character.
 */
/* Rewrites the control bytes of buf (below 0x20, and 0x7f) as "\xNN", in
 * place and within cap: a name from a certificate may hold a newline, and a
 * message or log line that carried it raw could be forged by the peer. */
void mutls__escape_controls(char *buf, size_t cap)
{
	size_t len = strlen(buf), controls = 0, in, out;

	for (in = 0; in < len; in++)
		controls += (unsigned char)buf[in] < 0x20 || buf[in] == 0x7f;
	if (!controls)
		return;
	out = len + 3 * controls;
	if (out >= cap)
		out = cap - 1;
	buf[out] = 0;
	/* right to left, so nothing is overwritten before it is read; a byte
	 * (or its escape) that no longer fits is dropped */
	for (in = len; in-- > 0;) {
		unsigned char c = (unsigned char)buf[in];
		size_t pos = in + 3 * (controls - (c < 0x20 || c == 0x7f));
		if (c < 0x20 || c == 0x7f) {
			char esc[5];
			controls--;
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			for (size_t k = 0; k < 4; k++)
				if (pos + k < out)
					buf[pos + k] = esc[k];
		} else if (pos < out) {
			buf[pos] = (char)c;
		}
	}
}

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

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
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
		int hi = hex_value(r[1]), lo = hi >= 0 ? hex_value(r[2]) : -1;
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
static int get_dn_oid(char **out, gnutls_x509_crt_t crt, const char *oid)
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
static int get_dn(char **out, gnutls_x509_crt_t crt, int issuer)
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
	rc = datum_to_string(out, &d);
	gnutls_free(d.data);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Construction                                                              */
/* ------------------------------------------------------------------------ */

static void name_label(mutls_x509 *cert)
{
	char *text = NULL;

	if (get_dn_oid(&text, cert->crt, GNUTLS_OID_X520_COMMON_NAME) == 0 && text) {
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
	if (get_dn(&text, cert->crt, 0) == 0 && text && *text) {
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
static int for_each_key_purpose(gnutls_x509_crt_t crt,
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
	int rc = for_each_key_purpose(cert->crt, note_purpose, &f);

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

/* ------------------------------------------------------------------------ */
/* Accessors                                                                 */
/* ------------------------------------------------------------------------ */

#define REQUIRE_ARGS(fn) do { \
	if (!out || !cert) \
		return mutls__error(MUTLS_EUSAGE, fn ": NULL argument"); \
	*out = NULL; } while (0)

int mutls_x509_subject(char **out, const mutls_x509 *cert)
{
	REQUIRE_ARGS("mutls_x509_subject");
	return get_dn(out, cert->crt, 0);
}

int mutls_x509_issuer(char **out, const mutls_x509 *cert)
{
	REQUIRE_ARGS("mutls_x509_issuer");
	return get_dn(out, cert->crt, 1);
}

int mutls_x509_common_name(char **out, const mutls_x509 *cert)
{
	REQUIRE_ARGS("mutls_x509_common_name");
	return get_dn_oid(out, cert->crt, GNUTLS_OID_X520_COMMON_NAME);
}

int mutls_x509_serial(char **out, const mutls_x509 *cert)
{
	unsigned char small[64];
	unsigned char *buf = small;
	size_t size = sizeof(small);
	int rc;

	REQUIRE_ARGS("mutls_x509_serial");
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
	*out = hex_encode(buf, size);
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
	rc = for_each_key_purpose(cert->crt, add_purpose_name, &l);
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

	REQUIRE_ARGS("mutls_x509_fingerprint");
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
	*out = hex_encode(md, size);
	return *out ? 0 : MUTLS_ENOMEM;
}

int mutls_x509_pem(char **out, const mutls_x509 *cert)
{
	gnutls_datum_t d = { NULL, 0 };
	int rc;

	REQUIRE_ARGS("mutls_x509_pem");
	if ((rc = gnutls_x509_crt_export2(cert->crt, GNUTLS_X509_FMT_PEM, &d)) < 0)
		return mutls__error_gnutls(MUTLS_ECONFIG, rc,
			"certificate %s: cannot encode as PEM", cert->label);
	rc = datum_to_string(out, &d);
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

/* ------------------------------------------------------------------------ */
/* Files                                                                     */
/* ------------------------------------------------------------------------ */

void mutls__wipe_free(void *p, size_t len)
{
	if (!p)
		return;
	gnutls_memset(p, 0, len);
	free(p);
}

/* A run of base64 letters this long is a key or certificate body, not a
 * path component: every DER key and certificate starts with a longer one
 * ("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "MC4CAQAwBQYDK2VwBCIEI"). */
#define BLOB_RUN 20

int mutls__value_showable(const char *value, int secret)
{
	size_t len, run = 0;
	const char *slash;

	if (!value || !*value || strstr(value, "-----"))
		return 0;
	len = strlen(value);
	if (len >= PATH_MAX)
		return 0;
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return 0; /* more than one line, or control bytes */
		run = (isalnum(*p) || *p == '+' || *p == '=') ? run + 1 : 0;
		if (run >= BLOB_RUN)
			return 0;
	}
	if (!secret)
		return 1;
	/* A private_key value is shown only when its directory exists: a
	 * mistyped file name, not a fragment of key text. */
	slash = strrchr(value, '/');
	if (!slash)
		return 1;
	{
		struct stat st;
		char dir[PATH_MAX];
		size_t dlen = slash == value ? 1 : (size_t)(slash - value);
		memcpy(dir, value, dlen);
		dir[dlen] = '\0';
		return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
	}
}

/* What a value that is neither PEM nor a readable file seems to be. */
static const char *value_hint(const char *value)
{
	size_t n = 0;
	if (strstr(value, "-----"))
		return "; its \"-----BEGIN\" line looks damaged";
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if (!(isalnum(*p) || *p == '+' || *p == '/' || *p == '=' || isspace(*p)))
			return "";
		n++;
	}
	return n >= 64 ? "; it looks like base64 without its \"-----BEGIN\" and \"-----END\" lines" : "";
}

static int read_error(const char *path, const char *what, int secret, int err)
{
	if (mutls__value_showable(path, secret))
		return mutls__error(MUTLS_ECONFIG, "%s%s%s: cannot read file: %s",
			what ? what : "", what ? " " : "", path, strerror(err));
	return mutls__error(MUTLS_ECONFIG,
		"%s: not PEM text and not a readable file (%s; the value is not shown%s)",
		what ? what : "file", strerror(err), value_hint(path));
}

/* Every byte of fd into one buffer: of the file's size when it has one, else
 * grown by copying and wiping (pipes, /proc). Never realloc, no stdio: no
 * copy of the contents is left in freed memory. */
static int read_all(char **out, size_t *out_len, int fd, size_t size_hint,
	const char *path, const char *what, int secret)
{
	size_t cap = (size_hint ? size_hint : 4096) + 2, len = 0;
	char *buf = malloc(cap), *grown;

	if (!buf)
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	for (;;) {
		ssize_t n;
		if (len + 1 == cap) {
			if (cap - 2 >= MUTLS__FILE_MAX) {
				mutls__wipe_free(buf, len);
				if (mutls__value_showable(path, secret))
					return mutls__error(MUTLS_ECONFIG, "%s%s%s: file is larger than %u MiB",
						what ? what : "", what ? " " : "", path, MUTLS__FILE_MAX >> 20);
				return mutls__error(MUTLS_ECONFIG, "%s: file is larger than %u MiB",
					what ? what : "file", MUTLS__FILE_MAX >> 20);
			}
			if (!(grown = malloc(cap * 2))) {
				mutls__wipe_free(buf, len);
				return mutls__error(MUTLS_ENOMEM, "out of memory");
			}
			memcpy(grown, buf, len);
			mutls__wipe_free(buf, len);
			buf = grown;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			mutls__wipe_free(buf, len);
			return read_error(path, what, secret, err);
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	return 0;
}

int mutls__read_file(char **out, size_t *out_len, const char *path,
	const char *what, int secret)
{
	struct stat st;
	int fd, rc;

	if (!out || !out_len || !path)
		return mutls__error(MUTLS_EUSAGE, "mutls__read_file: NULL argument");
	*out = NULL;
	*out_len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return read_error(path, what, secret, errno);
	if (fstat(fd, &st) < 0) {
		int err = errno;
		close(fd);
		return read_error(path, what, secret, err);
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		return read_error(path, what, secret, EISDIR);
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > MUTLS__FILE_MAX) {
		close(fd);
		if (mutls__value_showable(path, secret))
			return mutls__error(MUTLS_ECONFIG, "%s%s%s: file is larger than %u MiB",
				what ? what : "", what ? " " : "", path, MUTLS__FILE_MAX >> 20);
		return mutls__error(MUTLS_ECONFIG, "%s: file is larger than %u MiB",
			what ? what : "file", MUTLS__FILE_MAX >> 20);
	}
	/* st_size sizes the buffer; reading on to EOF still catches a file
	 * that grew, or reports a size of 0 (/proc). */
	rc = read_all(out, out_len, fd, S_ISREG(st.st_mode) ? (size_t)st.st_size : 0,
		path, what, secret);
	close(fd);
	return rc;
}

int mutls__is_pem(const char *text)
{
	return text && strstr(text, "-----BEGIN") != NULL;
}
