/* Key strength: every key of a chain and of its trust anchor against the
 * security level of GnuTLS's verification profile (MEDIUM unless the
 * priority string names a stronger %PROFILE_<name>). GnuTLS's profile flag
 * checks the chain's signatures, not the size of every key, nor the
 * anchor's, so mutls checks each one itself. */
#include "verify.h"
#include "internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* GnuTLS's profile names. Not gnutls_certificate_verification_profile_get_id:
 * it is declared __attribute__((const)), so an optimising compiler may call
 * it before the name is written into a local buffer (seen at -O2). */
static gnutls_certificate_verification_profiles_t profile_id(const char *name)
{
	static const struct { const char *name; gnutls_certificate_verification_profiles_t id; } names[] = {
		{ "VERY_WEAK", GNUTLS_PROFILE_VERY_WEAK }, { "LOW", GNUTLS_PROFILE_LOW },
		{ "LEGACY", GNUTLS_PROFILE_LEGACY }, { "MEDIUM", GNUTLS_PROFILE_MEDIUM },
		{ "HIGH", GNUTLS_PROFILE_HIGH }, { "ULTRA", GNUTLS_PROFILE_ULTRA },
		{ "FUTURE", GNUTLS_PROFILE_FUTURE }, { "SUITEB128", GNUTLS_PROFILE_SUITEB128 },
		{ "SUITEB192", GNUTLS_PROFILE_SUITEB192 },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(name, names[i].name) == 0)
			return names[i].id;
	return GNUTLS_PROFILE_UNKNOWN;
}

/* The security level a chain's keys must reach: GnuTLS's MEDIUM profile
 * (RSA/DSA >= 2048 bits, EC >= 224) unless the priority string names a
 * stronger one with %PROFILE_<name>; a weaker one is not taken. */
gnutls_certificate_verification_profiles_t mutls__chain_profile(const mutls_config *cfg)
{
	gnutls_certificate_verification_profiles_t best = GNUTLS_PROFILE_MEDIUM;
	const char *p = cfg->priority_text;

	while (p && (p = strstr(p, "%PROFILE_")) != NULL) {
		char name[32];
		size_t len;
		p += strlen("%PROFILE_");
		len = strcspn(p, ":");
		if (len < sizeof(name)) {
			gnutls_certificate_verification_profiles_t id;
			memcpy(name, p, len);
			name[len] = 0;
			id = profile_id(name);
			if (id == GNUTLS_PROFILE_SUITEB128)
				id = GNUTLS_PROFILE_HIGH;
			else if (id == GNUTLS_PROFILE_SUITEB192)
				id = GNUTLS_PROFILE_ULTRA;
			if (id > best && id <= GNUTLS_PROFILE_FUTURE)
				best = id;
		}
		p += len;
	}
	return best;
}

static gnutls_sec_param_t profile_sec_param(gnutls_certificate_verification_profiles_t profile)
{
	switch (profile) {
	case GNUTLS_PROFILE_HIGH: return GNUTLS_SEC_PARAM_HIGH;
	case GNUTLS_PROFILE_ULTRA: return GNUTLS_SEC_PARAM_ULTRA;
	case GNUTLS_PROFILE_FUTURE: return GNUTLS_SEC_PARAM_FUTURE;
	default: return GNUTLS_SEC_PARAM_MEDIUM;
	}
}

/* "an RSA key of 1024 bits" for a certificate's public key. */
static void describe_key(char *out, size_t cap, gnutls_x509_crt_t crt,
	gnutls_pk_algorithm_t pk, unsigned bits)
{
	if (pk == GNUTLS_PK_ECDSA) {
		gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
		gnutls_datum_t x = { NULL, 0 }, y = { NULL, 0 };
		const char *name = NULL;
		if (gnutls_x509_crt_get_pk_ecc_raw(crt, &curve, &x, &y) >= 0)
			name = gnutls_ecc_curve_get_name(curve);
		gnutls_free(x.data);
		gnutls_free(y.data);
		snprintf(out, cap, "an ECDSA key on %s (%u bits)", name ? name : "an unknown curve", bits);
		return;
	}
	snprintf(out, cap, "a%s %s key of %u bits", pk == GNUTLS_PK_RSA || pk == GNUTLS_PK_RSA_PSS ?
		"n" : "", gnutls_pk_get_name(pk) ? gnutls_pk_get_name(pk) : "unknown", bits);
}

/* 1 (and a description) when crt's key is below the security level sp. */
static int key_too_weak(char *desc, size_t cap, unsigned *need, gnutls_x509_crt_t crt,
	gnutls_sec_param_t sp)
{
	unsigned bits = 0;
	int pk = gnutls_x509_crt_get_pk_algorithm(crt, &bits);

	if (pk < 0 || pk == GNUTLS_PK_UNKNOWN)
		return 0; /* an unknown key cannot sign anything GnuTLS accepts */
	if (gnutls_pk_bits_to_sec_param((gnutls_pk_algorithm_t)pk, bits) >= sp)
		return 0;
	describe_key(desc, cap, crt, (gnutls_pk_algorithm_t)pk, bits);
	*need = gnutls_sec_param_to_pk_bits((gnutls_pk_algorithm_t)pk, sp);
	return 1;
}

/* The CN of an anchor (a bare GnuTLS certificate), or its whole DN. */
void mutls__anchor_label(char *out, size_t cap, gnutls_x509_crt_t crt)
{
	size_t size = cap - 3;
	memcpy(out, "CN=", 4);
	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, out + 3, &size) >= 0) {
		mutls__escape_controls(out, cap);
		return;
	}
	size = cap;
	if (gnutls_x509_crt_get_dn(crt, out, &size) < 0)
		snprintf(out, cap, "(unnamed trust anchor)");
	mutls__escape_controls(out, cap);
}

/* Every key of the chain and of its trust anchor must reach the profile's
 * level: GnuTLS's profile flag checks the chain's signatures, not the size
 * of every key (nor the anchor's), so mutls checks each one itself.
 * Adds the first weak key to out; returns 1 when there was one. */
int mutls__check_key_sizes(mutls_verdict *out, const char *who, const mutls_config *cfg,
	mutls_x509 *const *chain, size_t n, gnutls_x509_crt_t anchor, char *detail, size_t detail_cap)
{
	gnutls_sec_param_t sp = profile_sec_param(mutls__chain_profile(cfg));
	int owned = 0;
	char desc[128], name[300];
	unsigned need = 0;
	int weak = 0;

	for (size_t i = 0; i < n && !weak; i++) {
		if (!key_too_weak(desc, sizeof(desc), &need, chain[i]->crt, sp))
			continue;
		weak = 1;
		if (i == 0)
			mutls__verdict_add(out, who, MUTLS_REASON_INSECURE_ALGORITHM,
				"has %s; at least %u are required", desc, need);
		else
			mutls__verdict_add(out, who, MUTLS_REASON_INSECURE_ALGORITHM,
				"has in its chain the CA certificate %s with %s; at least %u are required",
				chain[i]->label, desc, need);
		snprintf(detail, detail_cap, "%s has %s; at least %u are required",
			chain[i]->label, desc, need);
	}
	if (!weak && (anchor || mutls__anchor_of(&anchor, &owned, cfg, chain[n - 1]->crt) >= 0)) {
		if (key_too_weak(desc, sizeof(desc), &need, anchor, sp)) {
			weak = 1;
			mutls__anchor_label(name, sizeof(name), anchor);
			mutls__verdict_add(out, who, MUTLS_REASON_INSECURE_ALGORITHM,
				"chains to the trusted CA %s, which has %s; at least %u are required",
				name, desc, need);
			snprintf(detail, detail_cap, "trusted CA %s has %s; at least %u are required",
				name, desc, need);
		}
		if (owned)
			gnutls_x509_crt_deinit(anchor);
	}
	return weak;
}
