/* Offline verification of a hostile chain: the input names the trust
 * anchors, the intermediates and the leaf, so that mutls's own path
 * building and checks (path_checks.c, nc_unreadable.c, der.c, key
 * strength, names) read every byte an attacker's certificates carry.
 *
 * Input: a flags byte, 4 bytes of verification time (big-endian seconds),
 * then certificates as [2-byte big-endian length][DER]. The first one (two
 * with FLAG_TWO_ANCHORS) is trusted, the last is the leaf, the rest are
 * intermediates. tests/fuzz/limbo_seeds.py writes x509-limbo's chains in
 * this form. */
#include "mutls.h"
#include <stdint.h>
#include <stdlib.h>

#define FLAG_STRICT 1u
#define FLAG_CLIENT 2u
#define FLAG_IP_NAME 4u
#define FLAG_NO_NAME 8u
#define FLAG_TWO_ANCHORS 16u
#define FLAG_PEERS 32u
#define FLAG_MAX_DEPTH 64u
#define MAX_CERTS 12

static size_t split(mutls_x509 **certs, const unsigned char *data, size_t size)
{
	size_t n = 0, pos = 0;

	while (n < MAX_CERTS && pos + 2 <= size) {
		size_t len = (size_t)data[pos] << 8 | data[pos + 1];
		pos += 2;
		if (len > size - pos)
			len = size - pos;
		if (mutls_x509_from_der(&certs[n], data + pos, len) == 0)
			n++;
		pos += len;
	}
	return n;
}

static void verify(mutls_x509 **certs, size_t n, unsigned flags, uint32_t at)
{
	size_t anchors = flags & FLAG_TWO_ANCHORS ? 2 : 1;
	mutls_verify_options o = { 0 };
	mutls_config *cfg = NULL;
	unsigned reasons;
	const char *name = flags & FLAG_NO_NAME ? NULL : flags & FLAG_IP_NAME ? "192.0.2.1" : "example.com";

	if (n <= anchors || mutls_config_new(&cfg) < 0)
		return;
	for (size_t i = 0; i < anchors; i++)
		mutls_config_add_trust_x509(cfg, certs[i]);
	if (flags & FLAG_PEERS) {
		mutls_config_add_peer_pattern(cfg, "email:@example.com");
		mutls_config_add_peer_pattern(cfg, "uri:spiffe://example.org/*");
	}
	o.flags = MUTLS_VERIFY_AT | MUTLS_VERIFY_PROFILE | (flags & FLAG_MAX_DEPTH ? MUTLS_VERIFY_MAX_CHAIN_DEPTH : 0);
	o.at = at;
	o.profile = flags & FLAG_STRICT ? MUTLS_PROFILE_STRICT : MUTLS_PROFILE_DEFAULT;
	o.max_chain_depth = 2;
	mutls_x509_verify_with(&reasons, certs[n - 1], certs + anchors, n - anchors - 1, cfg, name,
		flags & FLAG_CLIENT ? MUTLS_PURPOSE_CLIENT : MUTLS_PURPOSE_SERVER, &o);
	mutls_config_unref(cfg);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	mutls_x509 *certs[MAX_CERTS];
	size_t n;

	if (size < 5)
		return 0;
	n = split(certs, data + 5, size - 5);
	verify(certs, n, data[0], (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 |
		(uint32_t)data[3] << 8 | data[4]);
	for (size_t i = 0; i < n; i++)
		mutls_x509_unref(certs[i]);
	mutls_error_clear();
	return 0;
}
