/* Internal: the test PKI's shared parts (testca.c, keygen.c, identity.c). */
#ifndef MUTLS_PKI_H
#define MUTLS_PKI_H

#include "internal.h"
#include "der.h"

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

/* keygen.c: a key of the given type; *digest is what that key signs with. */
int mutls__pki_generate_key(gnutls_x509_privkey_t *out, gnutls_digest_algorithm_t *digest,
	mutls_key_type type);
/* A unique positive 16-byte serial; bit 6 set keeps the DER length fixed. */
int mutls__pki_random_serial(unsigned char serial[SERIAL_LEN]);
/* not_before / not_after resolved (MUTLS_TIME_UNSET: an hour ago / now +
 * default_life); what names the call in the error. */
int mutls__pki_resolve_times(int64_t *nb, int64_t *na, int64_t not_before,
	int64_t not_after, int64_t default_life, const char *what);
/* The unencrypted PKCS#8 PEM of key (malloc'd). */
int mutls__pki_key_pem(char **out, gnutls_x509_privkey_t key);
/* a then b, malloc'd (NULL and the error set when out of memory). */
char *mutls__pki_concat(const char *a, const char *b);

#endif
