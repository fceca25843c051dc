/* Internal: a config's shared peer chains and chain-check results
 * (chain_cache.c says what is re-used and for how long). */
#ifndef MUTLS_CHAIN_CACHE_H
#define MUTLS_CHAIN_CACHE_H

#include "config.h"

/* A chain check is re-used on resumption for at most this long. */
#define MUTLS_CHAIN_REUSE_SECONDS 300

/* SHA-256 over the DER of each certificate (length-prefixed). */
void mutls__chain_key(unsigned char out[32], const gnutls_datum_t *certs, unsigned n);

/* 1 and *out = a new array of new references (free with
 * mutls_x509_list_free) when the chain is known; 0 otherwise. */
int mutls__chain_cache_get(mutls_x509 ***out, size_t *out_n, mutls_config *cfg,
	const unsigned char key[32]);
/* Remembers a parsed chain (takes references; evicts the least recently used). */
void mutls__chain_cache_put(mutls_config *cfg, const unsigned char key[32],
	mutls_x509 *const *chain, size_t n);

/* 1 when the chain passed the chain check for purpose and now is within
 * the window that result may be used in. */
int mutls__chain_cache_checked(mutls_config *cfg, const unsigned char key[32],
	mutls_purpose purpose, int64_t now);
/* Records that the chain passed the chain check, usable in [from, until). */
void mutls__chain_cache_set_checked(mutls_config *cfg, const unsigned char key[32],
	mutls_purpose purpose, int64_t usable_from, int64_t usable_until);

/* Drops every entry (config teardown). */
void mutls__chain_cache_clear(mutls_config *cfg);

#endif
