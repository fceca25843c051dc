/* The test PKI's CAs: made or loaded, and their revocations (CRLs). */
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

static const unsigned char ALG_ED25519[] = { 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70 };

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
	if ((rc = mutls__pki_resolve_times(&nb, &na, opts->not_before, opts->not_after, 10 * YEAR, ctx)) < 0)
		return rc;
	if ((rc = mutls__pki_random_serial(serial)) < 0)
		return rc;

	if (!(ca = calloc(1, sizeof(*ca))))
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	ca->crl_number = 1;
	if ((rc = mutls__pki_generate_key(&key, &ca->digest, opts->key_type)) < 0)
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
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_privkey_get_key_id(ca->key, GNUTLS_KEYID_USE_SHA1, ca->key_id, &size),
		"%s: cannot set key identifier", ctx);
	ca->key_id_len = size;

	if ((rc = gnutls_x509_crt_init(&crt)) < 0) {
		rc = mutls__error_gnutls(MUTLS_ENOMEM, rc, "%s: cannot allocate", ctx);
		goto done;
	}
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_crt_set_version(crt, 3),
		"%s: cannot set version", ctx);
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)),
		"%s: cannot set serial", ctx);
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_crt_set_activation_time(crt, (time_t)nb),
		"%s: cannot set not_before", ctx);
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_crt_set_expiration_time(crt, (time_t)na),
		"%s: cannot set not_after", ctx);
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_crt_set_key(crt, ca->key),
		"%s: cannot set public key", ctx);
	/* O first: RDNs print in reverse, giving "CN=...,O=mutls test PKI". */
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0,
		"mutls test PKI", (unsigned)strlen("mutls test PKI")),
		"%s: cannot set organization", ctx);
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
		name, (unsigned)strlen(name)),
		"%s: cannot set common name", ctx);
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_crt_set_basic_constraints(crt,
		(opts->flags & MUTLS_CA_NOT_A_CA) ? 0 : 1, opts->path_length),
		"%s: cannot set basicConstraints", ctx);
	if (opts->permitted_dns_count && (rc = set_name_constraints(crt, opts, ctx)) < 0)
		goto done;
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN |
		GNUTLS_KEY_DIGITAL_SIGNATURE),
		"%s: cannot set keyUsage", ctx);
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_crt_set_subject_key_id(crt, ca->key_id, ca->key_id_len),
		"%s: cannot set subjectKeyIdentifier", ctx);
	if (parent) {
		MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_crt_set_authority_key_id(crt, parent->key_id,
			parent->key_id_len),
		"%s: cannot set authorityKeyIdentifier", ctx);
		MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_crt_privkey_sign(crt, parent->cert->crt, parent->signer,
			parent->digest, 0),
		"%s: cannot set signature", ctx);
	} else {
		MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_crt_privkey_sign(crt, crt, ca->signer, ca->digest, 0),
			"%s: cannot set signature", ctx);
	}
	rc = mutls__x509_wrap(&ca->cert, crt);
	crt = NULL; /* consumed */
	if (rc < 0)
		goto done;
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_crt_get_raw_dn(ca->cert->crt, &ca->subject),
		"%s: cannot set subject", ctx);
	if ((rc = set_sign_algo(ca, opts->key_type)) < 0)
		goto done;
	if ((rc = mutls_x509_pem(&ca->cert_pem, ca->cert)) < 0 ||
	    (rc = mutls__pki_key_pem(&ca->key_pem, ca->key)) < 0)
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
		ca->above_pem = mutls__pki_concat(ca->cert_pem, parent->above_pem);
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
		MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_privkey_get_key_id(ca->key, GNUTLS_KEYID_USE_SHA1, ca->key_id, &size),
			"%s: cannot set key identifier", ctx);
	}
	ca->key_id_len = size;
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_crt_get_raw_dn(ca->cert->crt, &ca->subject),
		"%s: cannot set subject", ctx);
	if ((rc = set_sign_algo(ca, type)) < 0)
		goto done;
	if ((rc = mutls_x509_pem(&ca->cert_pem, ca->cert)) < 0 ||
	    (rc = mutls__pki_key_pem(&ca->key_pem, ca->key)) < 0)
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
		joined = mutls__pki_concat(ca->above_pem, pem);
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
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_crl_set_version(crl, 2),
		"%s: cannot set version", ctx);
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_crl_set_this_update(crl, (time_t)(now - HOUR)),
		"%s: cannot set thisUpdate", ctx);
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_crl_set_next_update(crl, (time_t)(now + 30 * DAY)),
		"%s: cannot set nextUpdate", ctx);
	for (size_t i = 0; i < ca->revoked_len; i++)
		MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_crl_set_crt_serial(crl, ca->revoked[i].bytes, ca->revoked[i].len,
			(time_t)(now - HOUR)),
		"%s: cannot set revoked serial", ctx);
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_crl_set_authority_key_id(crl, ca->key_id, ca->key_id_len),
		"%s: cannot set authorityKeyIdentifier", ctx);
	/* Big-endian; a leading zero byte keeps the INTEGER positive. */
	for (int i = 0; i < 8; i++)
		number[i] = (unsigned char)(ca->crl_number >> (56 - 8 * i));
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_crl_set_number(crl, number, sizeof(number)),
		"%s: cannot set cRLNumber", ctx);
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_crl_privkey_sign(crl, ca->cert->crt, ca->signer, ca->digest, 0),
		"%s: cannot set signature", ctx);
	MUTLS_TRY_GNUTLS(MUTLS_ECONFIG, gnutls_x509_crl_export2(crl, GNUTLS_X509_FMT_PEM, &d),
		"%s: cannot set PEM encoding", ctx);
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
