/* An identity issued by the test PKI: its certificate, chain and key, as
 * objects, PEM, or files. */
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

int mutls_identity_write_to(const mutls_identity *id, const char *directory)
{
	int rc;
	if (!id || !directory)
		return mutls__error(MUTLS_EUSAGE, "mutls_identity_write_to: NULL argument");
	if ((rc = mutls__write_file(directory, "cert.pem", id->cert_pem, 0644)) < 0 ||
	    (rc = mutls__write_file(directory, "chain.pem", id->chain_pem, 0644)) < 0 ||
	    (rc = mutls__write_file(directory, "key.pem", id->key_pem, 0600)) < 0)
		return rc;
	return 0;
}
