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
 * are checked again on every handshake. Full handshakes always run the chain
 * check (and refresh the entry). */
#include "chain_cache.h"

#include <gnutls/crypto.h>
#include <stdlib.h>
#include <string.h>

void mutls__chain_key(unsigned char out[32], const gnutls_datum_t *certs, unsigned n)
{
	gnutls_hash_hd_t h;

	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
		memset(out, 0, 32); /* no key: an all-zero key is never stored */
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		unsigned char len[4] = { (unsigned char)(certs[i].size >> 24), (unsigned char)(certs[i].size >> 16),
			(unsigned char)(certs[i].size >> 8), (unsigned char)certs[i].size };
		gnutls_hash(h, len, sizeof(len));
		gnutls_hash(h, certs[i].data, certs[i].size);
	}
	gnutls_hash_deinit(h, out);
}

static int key_is_zero(const unsigned char key[32])
{
	static const unsigned char zero[32];
	return memcmp(key, zero, 32) == 0;
}

static mutls_chain_slot *find(mutls_config *cfg, const unsigned char key[32])
{
	for (size_t i = 0; i < MUTLS_CHAIN_CACHE_SLOTS; i++)
		if (cfg->chains[i].chain && memcmp(cfg->chains[i].key, key, 32) == 0)
			return &cfg->chains[i];
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
	const unsigned char key[32])
{
	mutls_chain_slot *slot;
	int found = 0;

	*out = NULL;
	*out_n = 0;
	if (key_is_zero(key))
		return 0;
	pthread_mutex_lock(&cfg->chains_lock);
	if ((slot = find(cfg, key)) && (*out = refs(slot->chain, slot->n))) {
		*out_n = slot->n;
		slot->last_used = ++cfg->chains_clock;
		found = 1;
	}
	pthread_mutex_unlock(&cfg->chains_lock);
	return found;
}

void mutls__chain_cache_put(mutls_config *cfg, const unsigned char key[32],
	mutls_x509 *const *chain, size_t n)
{
	mutls_chain_slot *slot, *oldest;

	if (key_is_zero(key) || n == 0)
		return;
	pthread_mutex_lock(&cfg->chains_lock);
	if (!find(cfg, key)) {
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
			memcpy(oldest->key, key, 32);
			oldest->n = n;
			oldest->last_used = ++cfg->chains_clock;
		}
	}
	pthread_mutex_unlock(&cfg->chains_lock);
}

int mutls__chain_cache_checked(mutls_config *cfg, const unsigned char key[32],
	mutls_purpose purpose, int64_t now)
{
	mutls_chain_slot *slot;
	int ok = 0;

	if (key_is_zero(key) || (purpose != MUTLS_PURPOSE_SERVER && purpose != MUTLS_PURPOSE_CLIENT))
		return 0;
	pthread_mutex_lock(&cfg->chains_lock);
	if ((slot = find(cfg, key))) {
		const mutls_chain_check *c = &slot->checked[purpose == MUTLS_PURPOSE_SERVER];
		ok = c->valid && now >= c->usable_from && now < c->usable_until;
	}
	pthread_mutex_unlock(&cfg->chains_lock);
	return ok;
}

void mutls__chain_cache_set_checked(mutls_config *cfg, const unsigned char key[32],
	mutls_purpose purpose, int64_t usable_from, int64_t usable_until)
{
	mutls_chain_slot *slot;

	if (key_is_zero(key) || (purpose != MUTLS_PURPOSE_SERVER && purpose != MUTLS_PURPOSE_CLIENT))
		return;
	pthread_mutex_lock(&cfg->chains_lock);
	if ((slot = find(cfg, key))) {
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
