/* A config's memory of the peer chains it has seen: the parsed certificates
 * (shared by every session that receives the same chain, instead of one
 * parse and one copy per session) and, for chains that verified, the result
 * of the chain check (signatures up to a trust anchor, issuers' CA and
 * purpose constraints, CRLs).
 *
 * The chain check is the costly part of verification (an ECDSA or RSA
 * signature per certificate) and depends only on the chain's bytes, the
 * config's trust anchors and CRLs (fixed once the config is frozen) and the
 * time. A resumed handshake re-uses it while every certificate of the chain
 * and its trust anchor are within their validity and for at most
 * MUTLS_CHAIN_REUSE_SECONDS; name, leaf dates, purpose, policy and the hook
 * are checked again on every handshake. mutls's own checks of the chain
 * (path_checks.c, key sizes) depend on nothing else either and are re-used
 * with it; only the CRLs' dates are checked again. Full handshakes always
 * run the chain check (and refresh the entry). */
#include "chain_cache.h"

#include <stdlib.h>
#include <string.h>

/* The lookup key: FNV-1a over the count, each length and each certificate's
 * last 32 bytes (its signature: distinct for distinct certificates). A
 * match is then confirmed on every byte, so the key needs no strength. */
uint64_t mutls__chain_key(const gnutls_datum_t *certs, unsigned n)
{
	uint64_t h = 1469598103934665603ull;
#define MIX(b) (h = (h ^ (unsigned char)(b)) * 1099511628211ull)
	MIX(n);
	for (unsigned i = 0; i < n; i++) {
		unsigned size = certs[i].size, tail = size < 32 ? size : 32;
		MIX(size >> 24); MIX(size >> 16); MIX(size >> 8); MIX(size);
		for (unsigned j = size - tail; j < size; j++)
			MIX(certs[i].data[j]);
	}
#undef MIX
	return h ? h : 1; /* 0 marks a free slot */
}

static mutls_chain_slot *find(mutls_config *cfg, uint64_t key, const gnutls_datum_t *certs, unsigned n)
{
	for (size_t i = 0; i < MUTLS_CHAIN_CACHE_SLOTS; i++) {
		mutls_chain_slot *slot = &cfg->chains[i];
		size_t k;
		if (slot->key != key || slot->n != n)
			continue;
		for (k = 0; k < n; k++)
			if (slot->chain[k]->der.size != certs[k].size ||
			    memcmp(slot->chain[k]->der.data, certs[k].data, certs[k].size) != 0)
				break;
		if (k == n)
			return slot;
	}
	return NULL;
}

static void slot_clear(mutls_chain_slot *slot)
{
	mutls_x509_list_free(slot->chain, slot->n);
	memset(slot, 0, sizeof(*slot));
}

static mutls_x509 **refs(mutls_x509 *const *chain, size_t n)
{
	mutls_x509 **copy = calloc(n, sizeof(*copy));
	if (copy)
		for (size_t i = 0; i < n; i++)
			copy[i] = mutls_x509_ref(chain[i]);
	return copy;
}

int mutls__chain_cache_get(mutls_x509 ***out, size_t *out_n, mutls_config *cfg,
	const gnutls_datum_t *certs, unsigned n)
{
	mutls_chain_slot *slot;
	uint64_t key = mutls__chain_key(certs, n);
	int found = 0;

	*out = NULL;
	*out_n = 0;
	pthread_mutex_lock(&cfg->chains_lock);
	if ((slot = find(cfg, key, certs, n)) && (*out = refs(slot->chain, slot->n))) {
		*out_n = slot->n;
		slot->last_used = ++cfg->chains_clock;
		found = 1;
	}
	pthread_mutex_unlock(&cfg->chains_lock);
	return found;
}

void mutls__chain_cache_put(mutls_config *cfg, const gnutls_datum_t *certs, unsigned n,
	mutls_x509 *const *chain)
{
	mutls_chain_slot *slot, *oldest;
	uint64_t key = mutls__chain_key(certs, n);

	if (n == 0)
		return;
	pthread_mutex_lock(&cfg->chains_lock);
	if (!find(cfg, key, certs, n)) {
		oldest = &cfg->chains[0];
		for (size_t i = 0; i < MUTLS_CHAIN_CACHE_SLOTS; i++) {
			slot = &cfg->chains[i];
			if (!slot->chain) {
				oldest = slot;
				break;
			}
			if (slot->last_used < oldest->last_used)
				oldest = slot;
		}
		slot_clear(oldest);
		if ((oldest->chain = refs(chain, n))) {
			oldest->key = key;
			oldest->n = n;
			oldest->last_used = ++cfg->chains_clock;
		}
	}
	pthread_mutex_unlock(&cfg->chains_lock);
}

int mutls__chain_cache_checked(mutls_config *cfg, const gnutls_datum_t *certs, unsigned n,
	mutls_purpose purpose, int64_t now)
{
	mutls_chain_slot *slot;
	uint64_t key = mutls__chain_key(certs, n);
	int ok = 0;

	if (purpose != MUTLS_PURPOSE_SERVER && purpose != MUTLS_PURPOSE_CLIENT)
		return 0;
	pthread_mutex_lock(&cfg->chains_lock);
	if ((slot = find(cfg, key, certs, n))) {
		const mutls_chain_check *c = &slot->checked[purpose == MUTLS_PURPOSE_SERVER];
		ok = c->valid && now >= c->usable_from && now < c->usable_until;
	}
	pthread_mutex_unlock(&cfg->chains_lock);
	return ok;
}

void mutls__chain_cache_set_checked(mutls_config *cfg, const gnutls_datum_t *certs, unsigned n,
	mutls_purpose purpose, int64_t usable_from, int64_t usable_until)
{
	mutls_chain_slot *slot;
	uint64_t key = mutls__chain_key(certs, n);

	if (purpose != MUTLS_PURPOSE_SERVER && purpose != MUTLS_PURPOSE_CLIENT)
		return;
	pthread_mutex_lock(&cfg->chains_lock);
	if ((slot = find(cfg, key, certs, n))) {
		mutls_chain_check *c = &slot->checked[purpose == MUTLS_PURPOSE_SERVER];
		c->valid = 1;
		c->usable_from = usable_from;
		c->usable_until = usable_until;
	}
	pthread_mutex_unlock(&cfg->chains_lock);
}

void mutls__chain_cache_clear(mutls_config *cfg)
{
	for (size_t i = 0; i < MUTLS_CHAIN_CACHE_SLOTS; i++)
		slot_clear(&cfg->chains[i]);
}
