/* Sources of certificates and keys: "PEM text or a path" read into memory,
 * and private keys imported without leaving copies of them in freed memory.
 * Shared by the Config (config.c) and TestCA.load (testca.c). */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mutls__source_load(struct mutls__source *src, const char *value, const char *what, int secret)
{
	memset(src, 0, sizeof(*src));
	src->label = what;
	if (!value || !*value)
		return mutls__error(MUTLS_ECONFIG, "%s: empty value", what);
	if (mutls__is_pem(value)) {
		src->data.data = (unsigned char *)value;
		src->data.size = (unsigned)strlen(value);
		return 0;
	}
	if (mutls__read_file(&src->owned, &src->owned_len, value, what, secret) < 0)
		return MUTLS_ECONFIG;
	src->data.data = (unsigned char *)src->owned;
	src->data.size = (unsigned)src->owned_len;
	src->label = value; /* read as a file: a path, safe to name */
	return 0;
}

void mutls__source_release(struct mutls__source *src)
{
	mutls__wipe_free(src->owned, src->owned_len);
	memset(src, 0, sizeof(*src));
}

static int import_key_data(gnutls_x509_privkey_t key, const gnutls_datum_t *data,
	gnutls_x509_crt_fmt_t fmt, const char *label, const char *password,
	mutls_password_cb cb, void *payload)
{
	char asked[1024];
	int rc;

	rc = gnutls_x509_privkey_import2(key, data, fmt, password, 0);
	if (rc == GNUTLS_E_DECRYPTION_FAILED && !password && cb) {
		memset(asked, 0, sizeof(asked));
		if (cb(asked, sizeof(asked), label, payload) < 0)
			return mutls__error(MUTLS_ECONFIG,
				"%s: the password callback gave no password for the encrypted key", label);
		asked[sizeof(asked) - 1] = 0;
		rc = gnutls_x509_privkey_import2(key, data, fmt, asked, 0);
		gnutls_memset(asked, 0, sizeof(asked));
		password = "";
	}
	if (rc == GNUTLS_E_DECRYPTION_FAILED) {
		if (!password)
			return mutls__error(MUTLS_ECONFIG,
				"%s: the private key is encrypted and no password was given", label);
		return mutls__error(MUTLS_ECONFIG,
			"%s: wrong password for the encrypted private key", label);
	}
	if (rc < 0)
		return mutls__error_gnutls(MUTLS_ECONFIG, rc, "%s: not a readable private key", label);
	return 0;
}

static int base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/*
 * The DER of the first "-----BEGIN ...PRIVATE KEY-----" block of text, in
 * one buffer the caller wipes: GnuTLS's PEM reader (3.7) frees its copies
 * of the base64 text and of the DER without wiping them. Returns 1 with
 * *out set, 0 when there is no such block or it has RFC 1421 headers
 * (OpenSSL's legacy encryption: GnuTLS reads those), a GnuTLS error for
 * bad base64.
 */
static int pem_key_der(gnutls_datum_t *out, const char *text)
{
	const char *begin = strstr(text, "-----BEGIN "), *label, *body, *end;
	char end_line[96];
	unsigned char *der;
	unsigned bits = 0, nbits = 0;
	size_t n = 0, label_len;

	out->data = NULL;
	out->size = 0;
	while (begin) {
		label = begin + 11;
		end = strstr(label, "-----");
		if (!end)
			return 0;
		label_len = (size_t)(end - label);
		if (label_len >= 11 && label_len < 64 &&
		    memcmp(end - 11, "PRIVATE KEY", 11) == 0)
			break;
		begin = strstr(end + 5, "-----BEGIN ");
	}
	if (!begin)
		return 0;
	snprintf(end_line, sizeof(end_line), "-----END %.*s-----", (int)label_len, label);
	body = label + label_len + 5;
	if (!(end = strstr(body, end_line)))
		return 0;
	if (memchr(body, ':', (size_t)(end - body)))
		return 0; /* Proc-Type/DEK-Info headers */
	if (!(der = malloc((size_t)(end - body) / 4 * 3 + 3)))
		return GNUTLS_E_MEMORY_ERROR;
	for (const char *p = body; p < end; p++) {
		int v;
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			continue;
		if (*p == '=')
			break;
		if ((v = base64_value((unsigned char)*p)) < 0) {
			mutls__wipe_free(der, n);
			return GNUTLS_E_BASE64_DECODING_ERROR;
		}
		bits = (bits << 6) | (unsigned)v;
		nbits += 6;
		if (nbits >= 8) {
			nbits -= 8;
			der[n++] = (unsigned char)(bits >> nbits);
			bits &= (1u << nbits) - 1;
		}
	}
	bits = 0;
	if (n == 0) {
		free(der);
		return GNUTLS_E_BASE64_DECODING_ERROR;
	}
	out->data = der;
	out->size = (unsigned)n;
	return 1;
}

int mutls__key_import(gnutls_x509_privkey_t key, const gnutls_datum_t *text,
	const char *label, const char *password, mutls_password_cb cb, void *payload)
{
	gnutls_x509_crt_fmt_t fmt = mutls__is_pem((const char *)text->data) ?
		GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER;
	gnutls_datum_t der = { NULL, 0 };
	const gnutls_datum_t *data = text;
	int rc;

	if (fmt == GNUTLS_X509_FMT_PEM) {
		if ((rc = pem_key_der(&der, (const char *)text->data)) < 0)
			return mutls__error_gnutls(MUTLS_ECONFIG, rc, "%s: not a readable private key", label);
		if (rc == 1) {
			data = &der;
			fmt = GNUTLS_X509_FMT_DER;
		}
	}
	rc = import_key_data(key, data, fmt, label, password, cb, payload);
	mutls__wipe_free(der.data, der.size);
	return rc;
}
