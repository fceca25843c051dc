/* Internal: a config's shared peer chains and chain-check results
 * (chain_cache.c says what is re-used and for how long). */
#ifndef MUTLS_CHAIN_CACHE_H
#define MUTLS_CHAIN_CACHE_H

#include "config.h"

/* A chain check is re-used on resumption for at most this long. */
#define MUTLS_CHAIN_REUSE_SECONDS 300

/* The lookup key of a chain (entries are matched on every byte). */
uint64_t mutls__chain_key(const gnutls_datum_t *certs, unsigned n);

/* 1 and *out = a new array of new references (free with
 * mutls_x509_list_free) when the chain (certs, n) is known; 0 otherwise. */
int mutls__chain_cache_get(mutls_x509 ***out, size_t *out_n, mutls_config *cfg,
	const gnutls_datum_t *certs, unsigned n);
/* Remembers chain, parsed from certs (takes references; evicts the least
 * recently used). */
void mutls__chain_cache_put(mutls_config *cfg, const gnutls_datum_t *certs, unsigned n,
	mutls_x509 *const *chain);

/* 1 when the chain passed the chain check for purpose and now is within
 * the window that result may be used in. */
int mutls__chain_cache_checked(mutls_config *cfg, const gnutls_datum_t *certs, unsigned n,
	mutls_purpose purpose, int64_t now);
/* Records that the chain passed the chain check, usable in [from, until). */
void mutls__chain_cache_set_checked(mutls_config *cfg, const gnutls_datum_t *certs, unsigned n,
	mutls_purpose purpose, int64_t usable_from, int64_t usable_until);

/* Drops every entry (config teardown). */
void mutls__chain_cache_clear(mutls_config *cfg);

#endif
