/* Verification in one place: chain, time, name, purpose, revocation, policy.
 * Sessions run it from the credentials' verify function (and again on
 * resumption, which GnuTLS does not verify); mutls_x509_verify runs it
 * offline. The user's hook runs after it, in session.c. */
#include "verify.h"
#include "chain_cache.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>

static int crl_covers(const mutls_config *cfg, const mutls_x509 *cert);

void mutls__verdict_add(mutls_verdict *v, const char *who, unsigned reason,
	const char *fmt, ...)
{
	size_t used = strlen(v->message);
	va_list ap;

	v->reasons |= reason;
	if (used == 0)
		snprintf(v->message, sizeof(v->message), "%s ", who);
	else
		snprintf(v->message + used, sizeof(v->message) - used, " and ");
	used = strlen(v->message);
	va_start(ap, fmt);
	vsnprintf(v->message + used, sizeof(v->message) - used, fmt, ap);
	va_end(ap);
}

int mutls__alert_for_reasons(unsigned reasons)
{
	if (reasons & MUTLS_REASON_REVOKED) return GNUTLS_A_CERTIFICATE_REVOKED;
	if (reasons & MUTLS_REASON_EXPIRED) return GNUTLS_A_CERTIFICATE_EXPIRED;
	if (reasons & (MUTLS_REASON_UNKNOWN_ISSUER | MUTLS_REASON_SIGNER_NOT_CA |
	    MUTLS_REASON_PATH_LENGTH | MUTLS_REASON_NAME_CONSTRAINTS)) return GNUTLS_A_UNKNOWN_CA;
	if (reasons & (MUTLS_REASON_BAD_PURPOSE | MUTLS_REASON_UNKNOWN_CRITICAL_EXTENSION))
		return GNUTLS_A_UNSUPPORTED_CERTIFICATE;
	if (reasons & (MUTLS_REASON_NOT_YET_VALID | MUTLS_REASON_NAME_MISMATCH | MUTLS_REASON_INSECURE_ALGORITHM))
		return GNUTLS_A_BAD_CERTIFICATE;
	if (reasons & (MUTLS_REASON_POLICY | MUTLS_REASON_HOOK)) return GNUTLS_A_ACCESS_DENIED;
	return GNUTLS_A_BAD_CERTIFICATE;
}

/* "DNS:a, IP:b, URI:c" (or "no names") for messages. */
static void describe_names(char *out, size_t cap, const mutls_x509 *cert)
{
	static const struct { mutls_san_type type; const char *tag; } kinds[] = {
		{ MUTLS_SAN_DNS, "DNS" }, { MUTLS_SAN_IP, "IP" },
		{ MUTLS_SAN_URI, "URI" }, { MUTLS_SAN_EMAIL, "email" },
	};
	size_t used = 0;

	out[0] = 0;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		char **names = NULL;
		size_t count = 0;
		if (mutls_x509_names(&names, &count, cert, kinds[k].type) < 0)
			continue;
		for (size_t i = 0; i < count && used + 1 < cap; i++) {
			int w = snprintf(out + used, cap - used, "%s%s:%s", used ? ", " : "",
				kinds[k].tag, names[i]);
			if (w > 0)
				used += (size_t)w;
		}
		mutls_strings_free(names, count);
	}
	if (used >= cap)
		used = cap - 1;
	if (!used)
		snprintf(out, cap, "no names");
	mutls__escape_controls(out, cap);
}

static const char *purpose_words(mutls_purpose purpose)
{
	return purpose == MUTLS_PURPOSE_SERVER ? "TLS server authentication" :
		"TLS client authentication";
}

/* The trust anchor that issued crt: the trust list's own (borrowed: the
 * frozen config's list outlives the verification; no copy to re-parse),
 * or a copy to free (*owned) from a PKCS#11 trust list. */
static int anchor_of(gnutls_x509_crt_t *out, int *owned, const mutls_config *cfg,
	gnutls_x509_crt_t crt)
{
	*owned = 0;
	if (gnutls_x509_trust_list_get_issuer(cfg->tlist, crt, out, 0) >= 0)
		return 0;
	if (gnutls_x509_trust_list_get_issuer(cfg->tlist, crt, out, GNUTLS_TL_GET_COPY) >= 0) {
		*owned = 1;
		return 0;
	}
	return -1;
}

/* When a passed chain check may be re-used: while every certificate of the
 * chain and its trust anchor are valid, and not longer than the reuse
 * limit. 0 when the anchor cannot be found again (then nothing is re-used). */
static int chain_window(mutls_chain_memo *memo, const mutls_config *cfg,
	mutls_x509 *const *chain, size_t n, int64_t now)
{
	gnutls_x509_crt_t anchor = NULL;
	int owned = 0;
	int64_t from = INT64_MIN, until = (int64_t)now + MUTLS_CHAIN_REUSE_SECONDS;

	for (size_t i = 0; i < n; i++) {
		int64_t nb = chain[i]->not_before;
		int64_t na = chain[i]->not_after;
		if (nb > from)
			from = nb;
		if (na < until)
			until = na;
	}
	if (anchor_of(&anchor, &owned, cfg, chain[n - 1]->crt) < 0)
		return 0;
	if (gnutls_x509_crt_get_activation_time(anchor) > from)
		from = gnutls_x509_crt_get_activation_time(anchor);
	if (gnutls_x509_crt_get_expiration_time(anchor) < until)
		until = gnutls_x509_crt_get_expiration_time(anchor);
	if (owned)
		gnutls_x509_crt_deinit(anchor);
	memo->usable_from = from;
	memo->usable_until = until;
	return 1;
}

/* ---- key strength ------------------------------------------------------- */

/* The security level a chain's keys must reach: GnuTLS's MEDIUM profile
 * (RSA/DSA >= 2048 bits, EC >= 224) unless the priority string names a
 * stronger one with %PROFILE_<name>; a weaker one is not taken. */
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

static gnutls_certificate_verification_profiles_t chain_profile(const mutls_config *cfg)
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
static void anchor_label(char *out, size_t cap, gnutls_x509_crt_t crt)
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
static int check_key_sizes(mutls_verdict *out, const char *who, const mutls_config *cfg,
	mutls_x509 *const *chain, size_t n, char *detail, size_t detail_cap)
{
	gnutls_sec_param_t sp = profile_sec_param(chain_profile(cfg));
	gnutls_x509_crt_t anchor = NULL;
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
	if (!weak && anchor_of(&anchor, &owned, cfg, chain[n - 1]->crt) >= 0) {
		if (key_too_weak(desc, sizeof(desc), &need, anchor, sp)) {
			weak = 1;
			anchor_label(name, sizeof(name), anchor);
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

/* ---- why a chain GnuTLS refused was refused ---------------------------- */

/* GnuTLS follows at most this many certificates; the diagnosis below looks
 * at no more (it is quadratic in the chain for name constraints). */
#define DIAGNOSE_MAX 16
/* Names of one certificate looked at to find the one a CA's nameConstraints
 * refuse (only for the first refused certificate; a hostile SAN list). */
#define DIAGNOSE_NAMES_MAX 256

/* The CAs above chain[0]: positions 1..n-1 of the chain, then the trust
 * anchor (copy, *anchor to free) when found. Returns the count. */
static size_t chain_cas(gnutls_x509_crt_t *cas, const char **labels, char *anchor_name,
	size_t anchor_cap, gnutls_x509_crt_t *anchor, const mutls_config *cfg,
	mutls_x509 *const *chain, size_t n)
{
	size_t m = 0;

	*anchor = NULL;
	for (size_t i = 1; i < n && m < DIAGNOSE_MAX; i++) {
		cas[m] = chain[i]->crt;
		labels[m++] = chain[i]->label;
	}
	/* a chain that ends with its self-signed root already holds the anchor */
	if (m < DIAGNOSE_MAX && !gnutls_x509_crt_check_issuer(chain[n - 1]->crt, chain[n - 1]->crt) &&
	    gnutls_x509_trust_list_get_issuer(cfg->tlist, chain[n - 1]->crt, anchor,
			GNUTLS_TL_GET_COPY) >= 0) {
		anchor_label(anchor_name, anchor_cap, *anchor);
		cas[m] = *anchor;
		labels[m++] = anchor_name;
	}
	return m;
}

/* "DNS:svc.local, DNS:.corp" for a constraint list (get: permitted or excluded). */
static void describe_subtrees(char *out, size_t cap, gnutls_x509_name_constraints_t nc,
	int (*get)(gnutls_x509_name_constraints_t, unsigned, unsigned *, gnutls_datum_t *))
{
	size_t used = 0;
	unsigned type;
	gnutls_datum_t name;

	out[0] = 0;
	for (unsigned i = 0; i < 8 && get(nc, i, &type, &name) >= 0 && used + 1 < cap; i++) {
		const char *tag = type == GNUTLS_SAN_DNSNAME ? "DNS" : type == GNUTLS_SAN_RFC822NAME ?
			"email" : type == GNUTLS_SAN_IPADDRESS ? "IP" : type == GNUTLS_SAN_URI ? "URI" : "name";
		int w;
		if (type == GNUTLS_SAN_IPADDRESS)
			w = snprintf(out + used, cap - used, "%s%s:(%u-byte range)", used ? ", " : "",
				tag, name.size);
		else
			w = snprintf(out + used, cap - used, "%s%s:%.*s", used ? ", " : "", tag,
				(int)(name.size > 100 ? 100 : name.size), (const char *)name.data);
		if (w > 0)
			used += (size_t)w;
	}
	if (used >= cap)
		out[cap - 1] = 0;
}

/* The first name of crt (of type) that nc refuses, as "DNS:x" in out. */
static int refused_name(char *out, size_t cap, gnutls_x509_name_constraints_t nc,
	gnutls_x509_crt_t crt, unsigned want)
{
	char buf[256];

	for (unsigned i = 0; i < DIAGNOSE_NAMES_MAX; i++) {
		size_t size = sizeof(buf) - 1;
		unsigned type;
		gnutls_datum_t name;
		int rc = gnutls_x509_crt_get_subject_alt_name2(crt, i, buf, &size, &type, NULL);
		if (rc == GNUTLS_E_SHORT_MEMORY_BUFFER)
			continue;
		if (rc < 0)
			break;
		if (type != want)
			continue;
		name.data = (unsigned char *)buf;
		name.size = (unsigned)size;
		if (gnutls_x509_name_constraints_check(nc, type, &name))
			continue;
		if (type == GNUTLS_SAN_IPADDRESS) {
			char ip[64] = "?";
			inet_ntop(size == 4 ? AF_INET : AF_INET6, buf, ip, sizeof(ip));
			snprintf(out, cap, "IP:%s", ip);
		} else {
			buf[size] = 0;
			snprintf(out, cap, "%s:%s", type == GNUTLS_SAN_DNSNAME ? "DNS" : "email", buf);
		}
		return 1;
	}
	return 0;
}

/* The CA at cas[k] has nameConstraints that a certificate below it breaks:
 * adds name-constraints to out (naming the CA, its subtrees and the name). */
static int check_name_constraints(mutls_verdict *out, const char *who, mutls_x509 *const *chain,
	gnutls_x509_crt_t const *cas, const char *const *labels, size_t m, char *detail, size_t cap)
{
	static const unsigned types[] = { GNUTLS_SAN_DNSNAME, GNUTLS_SAN_RFC822NAME,
		GNUTLS_SAN_IPADDRESS };

	for (size_t k = 0; k < m; k++) {
		gnutls_x509_name_constraints_t nc = NULL;
		unsigned critical = 0;
		if (gnutls_x509_name_constraints_init(&nc) < 0)
			return 0;
		if (gnutls_x509_crt_get_name_constraints(cas[k], nc, 0, &critical) < 0) {
			gnutls_x509_name_constraints_deinit(nc);
			continue;
		}
		/* below cas[k] (chain position k + 1): chain[0..k] */
		for (size_t j = 0; j <= k; j++) {
			for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
				char name[520], permitted[300], excluded[300], rules[700];
				if (gnutls_x509_name_constraints_check_crt(nc, types[t], chain[j]->crt))
					continue;
				if (!refused_name(name, sizeof(name), nc, chain[j]->crt, types[t]))
					snprintf(name, sizeof(name), "a %s name (its subject %s, or a subjectAltName "
						"past the first %d)", types[t] == GNUTLS_SAN_DNSNAME ? "DNS" :
						types[t] == GNUTLS_SAN_IPADDRESS ? "IP" : "email", chain[j]->label,
						DIAGNOSE_NAMES_MAX);
				describe_subtrees(permitted, sizeof(permitted), nc,
					gnutls_x509_name_constraints_get_permitted);
				describe_subtrees(excluded, sizeof(excluded), nc,
					gnutls_x509_name_constraints_get_excluded);
				snprintf(rules, sizeof(rules), "%s%.299s%s%s%.299s", *permitted ? "permitted: " : "",
					permitted, *permitted && *excluded ? "; " : "",
					*excluded ? "excluded: " : "", excluded);
				if (j == 0)
					mutls__verdict_add(out, who, MUTLS_REASON_NAME_CONSTRAINTS,
						"names %s, which the name constraints of CA %s do not allow (%s)",
						name, labels[k], rules);
				else
					mutls__verdict_add(out, who, MUTLS_REASON_NAME_CONSTRAINTS,
						"has in its chain the CA certificate %s naming %s, which the name "
						"constraints of CA %s do not allow (%s)", chain[j]->label, name,
						labels[k], rules);
				snprintf(detail, cap, "%.200s names %.300s, outside the name constraints of CA "
					"%.200s (%.300s)", chain[j]->label, name, labels[k], rules);
				gnutls_x509_name_constraints_deinit(nc);
				return 1;
			}
		}
		gnutls_x509_name_constraints_deinit(nc);
	}
	return 0;
}

/*
 * GnuTLS reports a signer that is not a CA, a broken pathLenConstraint and
 * a name outside a CA's nameConstraints with the same two bits; this says
 * which, naming the CA and what broke its rule. Returns 1 when explained.
 */
static int explain_signer_failure(mutls_verdict *out, const char *who, const mutls_config *cfg,
	mutls_x509 *const *chain, size_t n, char *detail, size_t cap)
{
	gnutls_x509_crt_t cas[DIAGNOSE_MAX], anchor;
	const char *labels[DIAGNOSE_MAX];
	char anchor_name[300];
	size_t m;
	int done = 0;

	if (n > DIAGNOSE_MAX)
		return 0;
	m = chain_cas(cas, labels, anchor_name, sizeof(anchor_name), &anchor, cfg, chain, n);
	/* 1. a signer that is not a CA at all (a trust anchor need not say so) */
	for (size_t k = 0; k < m - (anchor ? 1 : 0) && !done; k++) {
		unsigned critical = 0, ca = 0;
		int pathlen = -1;
		if (gnutls_x509_crt_get_basic_constraints(cas[k], &critical, &ca, &pathlen) >= 0 && ca)
			continue;
		mutls__verdict_add(out, who, MUTLS_REASON_SIGNER_NOT_CA,
			"was signed by a certificate that is not a CA (%s has no CA:TRUE basic constraint)",
			labels[k]);
		snprintf(detail, cap, "%s is not a CA", labels[k]);
		done = 1;
	}
	/* 2. pathLenConstraint: cas[k] allows that many CAs below it; k are. */
	for (size_t k = 0; k < m && !done; k++) {
		unsigned critical = 0, ca = 0;
		int pathlen = -1;
		if (gnutls_x509_crt_get_basic_constraints(cas[k], &critical, &ca, &pathlen) < 0 ||
		    pathlen < 0 || k <= (size_t)pathlen)
			continue;
		mutls__verdict_add(out, who, MUTLS_REASON_PATH_LENGTH,
			"has a chain longer than CA %s allows: its path length limit (pathLenConstraint) "
			"is %d, but %zu CA certificate%s come%s below it (%s)", labels[k], pathlen, k,
			k == 1 ? "" : "s", k == 1 ? "s" : "", labels[k - 1]);
		snprintf(detail, cap, "CA %s allows %d CA%s below it (pathLenConstraint), but %zu follow",
			labels[k], pathlen, pathlen == 1 ? "" : "s", k);
		done = 1;
	}
	/* 3. nameConstraints */
	if (!done)
		done = check_name_constraints(out, who, chain, cas, labels, m, detail, cap);
	if (anchor)
		gnutls_x509_crt_deinit(anchor);
	return done;
}

/* Known to GnuTLS's verification (the rest, when critical, fail it). */
static int extension_known(const char *oid)
{
	static const char *const known[] = {
		"2.5.29.14", "2.5.29.15", "2.5.29.17", "2.5.29.18", "2.5.29.19", "2.5.29.30",
		"2.5.29.31", "2.5.29.32", "2.5.29.35", "2.5.29.36", "2.5.29.37", "2.5.29.54",
		"1.3.6.1.5.5.7.1.1", "1.3.6.1.5.5.7.1.14", "1.3.6.1.5.5.7.1.24",
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(oid, known[i]) == 0)
			return 1;
	return 0;
}

/* Names the certificate and the OID of the first unknown critical extension. */
static void explain_critical_extension(mutls_verdict *out, const char *who,
	mutls_x509 *const *chain, size_t n, char *detail, size_t cap)
{
	for (size_t i = 0; i < n && i < DIAGNOSE_MAX; i++) {
		for (unsigned e = 0; e < 64; e++) {
			char oid[128];
			size_t size = sizeof(oid);
			unsigned critical = 0;
			if (gnutls_x509_crt_get_extension_info(chain[i]->crt, e, oid, &size, &critical) < 0)
				break;
			if (!critical || extension_known(oid))
				continue;
			if (i == 0)
				mutls__verdict_add(out, who, MUTLS_REASON_UNKNOWN_CRITICAL_EXTENSION,
					"has a critical extension that is not understood (OID %s)", oid);
			else
				mutls__verdict_add(out, who, MUTLS_REASON_UNKNOWN_CRITICAL_EXTENSION,
					"has in its chain the CA certificate %s with a critical extension that "
					"is not understood (OID %s)", chain[i]->label, oid);
			snprintf(detail, cap, "%s has an unknown critical extension (OID %s)",
				chain[i]->label, oid);
			return;
		}
	}
	mutls__verdict_add(out, who, MUTLS_REASON_UNKNOWN_CRITICAL_EXTENSION,
		"has a critical extension that is not understood");
	snprintf(detail, cap, "a certificate of the chain has an unknown critical extension");
}

/* 1 when the sub-chain crts[i..n-1] is found revoked. */
static int revoked_from(const mutls_config *cfg, gnutls_x509_crt_t const *crts, size_t n, size_t i)
{
	unsigned status = 0;
	return gnutls_x509_trust_list_verify_crt2(cfg->tlist, (gnutls_x509_crt_t *)crts + i,
		(unsigned)(n - i), NULL, 0, 0, &status, NULL) >= 0 && (status & GNUTLS_CERT_REVOKED);
}

/*
 * The revoked certificate of a chain GnuTLS found revoked (the leaf or a CA
 * above it): the highest i whose sub-chain crts[i..] is still revoked. That
 * is true up to the revoked certificate and false above it, so a binary
 * search finds it in log2(n) verifications (only after a refusal). 0 when
 * it cannot tell (then the leaf is named, as GnuTLS would).
 */
static size_t revoked_position(const mutls_config *cfg, gnutls_x509_crt_t const *crts, size_t n)
{
	size_t lo = 0, hi = n - 1;

	if (n > DIAGNOSE_MAX)
		return 0;
	while (lo < hi) {
		size_t mid = (lo + hi + 1) / 2;
		if (revoked_from(cfg, crts, n, mid))
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

#define EMIT(check, ok, ...) do { \
	if (emit) { \
		char detail_[1400]; \
		int erc_; \
		snprintf(detail_, sizeof(detail_), __VA_ARGS__); \
		if ((erc_ = emit(ctx, check, ok, detail_)) != 0) \
			return erc_; \
	} } while (0)

int mutls__verify_chain(mutls_verdict *out, const mutls_config *cfg,
	mutls_x509 *const *chain, size_t n, const char *hostname,
	mutls_purpose purpose, const char *who_role, mutls__check_fn emit, void *ctx,
	mutls_chain_memo *memo, const mutls_verify_options *options)
{
	const mutls_x509 *leaf = chain[0];
	gnutls_x509_crt_t crts[64];
	gnutls_typed_vdata_st vdata[1];
	unsigned nvdata = 0, status = 0;
	char who[384], names[512];
	const char *when = leaf->not_before_text, *until = leaf->not_after_text;
	int64_t now = 0;
	int64_t nb = leaf->not_before;
	int64_t na = leaf->not_after;
	size_t ncrts = n < 64 ? n : 64;
	char weak_detail[600], chain_detail[1100], costly[400], own_detail[700];
	int rc, weak_key, own_failed = 0;
	mutls_path paths[MUTLS_PATHS_TRIED];
	size_t npaths, npaths_built;
	mutls_profile profile = options && (options->flags & MUTLS_VERIFY_PROFILE) ?
		options->profile : cfg->profile;
	int max_depth = options && (options->flags & MUTLS_VERIFY_MAX_CHAIN_DEPTH) ?
		options->max_chain_depth : cfg->max_chain_depth;

	memset(out, 0, sizeof(*out));
	snprintf(who, sizeof(who), "%s %s", who_role, leaf->label);

	/* 0. the verification clock (option verify_time, or options->at) */
	if (options && (options->flags & MUTLS_VERIFY_AT))
		now = options->at;
	else if (memo ? (now = memo->now, !memo->have_now) : mutls__config_now(&now, cfg, NULL) < 0) {
		mutls__verdict_add(out, who, MUTLS_REASON_HOOK,
			"could not be checked: the verification clock (verify_time) failed");
		EMIT("validity", 0, "the verification clock (verify_time) failed");
		return MUTLS_EVERIFY;
	}

	/* 1. validity of the leaf; the chain's is in GnuTLS's status below. */
	if (now > na) {
		mutls__verdict_add(out, who, MUTLS_REASON_EXPIRED, "expired at %s", until);
		EMIT("validity", 0, "expired at %s (valid from %s)", until, when);
	} else if (now < nb) {
		mutls__verdict_add(out, who, MUTLS_REASON_NOT_YET_VALID, "is not valid until %s", when);
		EMIT("validity", 0, "not valid until %s", when);
	} else {
		EMIT("validity", 1, "valid from %s to %s", when, until);
	}

	/* 2. name: a DNS name against DNS SANs, an IP literal against IP SANs. */
	if (hostname) {
		if (gnutls_x509_crt_check_hostname2(leaf->crt, hostname, 0)) {
			EMIT("name", 1, "\"%s\" is named by the certificate", hostname);
		} else {
			describe_names(names, sizeof(names), leaf);
			mutls__verdict_add(out, who, MUTLS_REASON_NAME_MISMATCH,
				"does not match the name \"%s\" (it names %s)", hostname, names);
			EMIT("name", 0, "\"%s\" is not among %s", hostname, names);
		}
	}

	/* 3. chain to a trust anchor (+ CRLs, + purpose of the issuers). */
	for (size_t i = 0; i < ncrts; i++)
		crts[i] = chain[i]->crt;
	if (purpose == MUTLS_PURPOSE_SERVER || purpose == MUTLS_PURPOSE_CLIENT) {
		vdata[0].type = GNUTLS_DT_KEY_PURPOSE_OID;
		vdata[0].data = (unsigned char *)(purpose == MUTLS_PURPOSE_SERVER ?
			GNUTLS_KP_TLS_WWW_SERVER : GNUTLS_KP_TLS_WWW_CLIENT);
		vdata[0].size = 0;
		nvdata = 1;
	}
	npaths = mutls__paths_build(paths, MUTLS_PATHS_TRIED, cfg, chain, ncrts);
	npaths_built = npaths; /* npaths may drop to the one path taken */
	if (mutls__path_too_costly(costly, sizeof(costly), &paths[0])) {
		/* refused before GnuTLS spends its time on it */
		mutls__verdict_add(out, who, MUTLS_REASON_NAME_CONSTRAINTS, "%s", costly);
		for (size_t i = 0; i < npaths; i++)
			mutls__path_free(&paths[i]);
		if (memo)
			memo->passed = 0;
		EMIT("chain", 0, "%s", costly);
		return MUTLS_EVERIFY;
	}
	if (memo && memo->reuse) {
		rc = 0; /* passed before, and still within its window (chain_cache.c) */
	} else {
		/* dates at the verification clock's time: mutls__chain_time_status */
		rc = gnutls_x509_trust_list_verify_crt2(cfg->tlist, crts, (unsigned)ncrts,
			vdata, nvdata, GNUTLS_PROFILE_TO_VFLAGS(chain_profile(cfg)) |
			GNUTLS_VERIFY_DISABLE_TIME_CHECKS | GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS,
			&status, NULL);
		/* GnuTLS follows one path; when it breaks a CA's constraints or ends
		 * nowhere, another path the presented certificates allow may be good:
		 * GnuTLS verifies each as it stands, and the first that passes is
		 * taken (only after a refusal: no cost on a good chain) */
		if (rc >= 0 && (status & (GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE |
		    GNUTLS_CERT_SIGNER_NOT_FOUND)) && paths[0].anchored) {
			for (size_t i = 0; i < npaths; i++) {
				gnutls_x509_crt_t alt[MUTLS_PATH_MAX];
				unsigned st = 0;
				size_t m = paths[i].anchored && !paths[i].anchor_in_chain ?
					paths[i].n - 1 : paths[i].n;
				memcpy(alt, paths[i].crt, m * sizeof(alt[0]));
				if (gnutls_x509_trust_list_verify_crt2(cfg->tlist, alt, (unsigned)m, vdata,
						nvdata, GNUTLS_PROFILE_TO_VFLAGS(chain_profile(cfg)) |
						GNUTLS_VERIFY_DISABLE_TIME_CHECKS |
						GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS, &st, NULL) >= 0 && st == 0) {
					mutls_path keep = paths[i];
					paths[i] = paths[0];
					paths[0] = keep;
					npaths = 1; /* own checks on this path only */
					status = 0;
					break;
				}
			}
		}
		/* GnuTLS counts self-issued CAs against pathLenConstraint (RFC 5280
		 * does not): on that refusal alone, a path is verified again by GnuTLS
		 * without its CA rules (signatures, name constraints and the rest
		 * still checked) and mutls applies them itself */
		if (rc >= 0 && status == (GNUTLS_CERT_INVALID | GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE) &&
		    paths[0].anchored) {
			for (size_t i = 0; i < npaths; i++) {
				gnutls_x509_crt_t alt[MUTLS_PATH_MAX];
				unsigned st = 0;
				size_t m = paths[i].anchored && !paths[i].anchor_in_chain ?
					paths[i].n - 1 : paths[i].n;
				int self_issued_ca = 0;
				for (size_t k = 1; k + 1 < paths[i].n; k++) {
					gnutls_datum_t a = { NULL, 0 }, b = { NULL, 0 };
					if (gnutls_x509_crt_get_raw_dn(paths[i].crt[k], &a) >= 0 &&
					    gnutls_x509_crt_get_raw_issuer_dn(paths[i].crt[k], &b) >= 0 &&
					    a.size == b.size && memcmp(a.data, b.data, a.size) == 0)
						self_issued_ca = 1;
					gnutls_free(a.data);
					gnutls_free(b.data);
				}
				if (!self_issued_ca || !mutls__path_ca_rules_ok(&paths[i]))
					continue;
				memcpy(alt, paths[i].crt, m * sizeof(alt[0]));
				if (gnutls_x509_trust_list_verify_crt2(cfg->tlist, alt, (unsigned)m, vdata,
						nvdata, GNUTLS_PROFILE_TO_VFLAGS(chain_profile(cfg)) |
						GNUTLS_VERIFY_DISABLE_CA_SIGN | GNUTLS_VERIFY_DISABLE_TIME_CHECKS |
						GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS, &st, NULL) >= 0 && st == 0) {
					mutls_path keep = paths[i];
					paths[i] = paths[0];
					paths[0] = keep;
					npaths = 1;
					status = 0;
					break;
				}
			}
		}
		if (rc >= 0)
			status |= mutls__path_time_status(&paths[0], now);
		if (memo && rc >= 0 && status == 0)
			memo->passed = chain_window(memo, cfg, chain, ncrts, now);
	}
	/* mutls's own checks (path_checks.c), on a chain GnuTLS could follow */
	/* (any path that passes them will do; the first one's failure is told) */
	if (rc >= 0 && !(status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNATURE_FAILURE))) {
		mutls_verdict first = *out;
		own_failed = 1;
		for (size_t i = 0; i < npaths && own_failed; i++) {
			mutls_verdict trial = *out;
			char trial_detail[700];
			if (!mutls__path_checks(&trial, who, &paths[i], hostname, profile, max_depth,
					trial_detail, sizeof(trial_detail)))
				own_failed = 0;
			else if (i == 0) {
				first = trial;
				snprintf(own_detail, sizeof(own_detail), "%s", trial_detail);
			}
		}
		if (!own_failed && cfg->crl_fact_count) {
			first = *out;
			own_failed = mutls__crl_checks(&first, who, cfg, &paths[0], now, profile,
				own_detail, sizeof(own_detail));
		}
		if (own_failed) {
			*out = first;
			if (memo)
				memo->passed = 0;
		}
	}
	for (size_t i = 0; i < npaths_built; i++)
		mutls__path_free(&paths[i]);
	if (rc < 0) {
		mutls__verdict_add(out, who, MUTLS_REASON_UNKNOWN_ISSUER,
			"could not be verified (%s)", gnutls_strerror(rc));
		EMIT("chain", 0, "verification error: %s", gnutls_strerror(rc));
		status = 0;
	}
	weak_key = check_key_sizes(out, who, cfg, chain, ncrts, weak_detail, sizeof(weak_detail));
	if (weak_key && memo)
		memo->passed = 0;
	{
		const char *issuer = chain[ncrts - 1]->issuer_cn;
		if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNATURE_FAILURE)) {
			/* GnuTLS follows at most 16 certificates of a chain */
			if (cfg->trust_count == 0)
				mutls__verdict_add(out, who, MUTLS_REASON_UNKNOWN_ISSUER,
					"could not be checked: no trust anchors were configured "
					"(issuer CN=%s; give trust)", issuer);
			else if (n > 16)
				mutls__verdict_add(out, who, MUTLS_REASON_UNKNOWN_ISSUER,
					"came with a chain of %zu certificates, longer than the 16 that are "
					"followed to a trusted CA", n);
			else if (!(status & GNUTLS_CERT_SIGNER_NOT_FOUND))
				/* the issuer is known: its key did not make the signature */
				mutls__verdict_add(out, who, MUTLS_REASON_UNKNOWN_ISSUER,
					"has a signature that does not verify with the key of its issuer "
					"(issuer CN=%s)", issuer);
			else
				mutls__verdict_add(out, who, MUTLS_REASON_UNKNOWN_ISSUER,
					"was issued by an unknown CA (issuer CN=%s)", issuer);
			if (status & GNUTLS_CERT_SIGNER_NOT_FOUND)
				EMIT("chain", 0, "issuer CN=%s is not trusted (%zu certificate%s presented)",
					issuer, n, n == 1 ? "" : "s");
			else
				EMIT("chain", 0, "a signature in the chain does not verify (issuer CN=%s)", issuer);
		} else if (status & (GNUTLS_CERT_SIGNER_NOT_CA | GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE)) {
			if (explain_signer_failure(out, who, cfg, chain, ncrts, chain_detail, sizeof(chain_detail))) {
				EMIT("chain", 0, "%s", chain_detail);
			} else {
				mutls__verdict_add(out, who, MUTLS_REASON_SIGNER_NOT_CA,
					"was signed by a certificate that is not a CA");
				EMIT("chain", 0, "a signer in the chain is not a CA");
			}
		} else if (status & GNUTLS_CERT_UNKNOWN_CRIT_EXTENSIONS) {
			explain_critical_extension(out, who, chain, ncrts, chain_detail, sizeof(chain_detail));
			EMIT("chain", 0, "%s", chain_detail);
		} else if (own_failed) {
			EMIT("chain", 0, "%s", own_detail);
		} else if (weak_key) {
			EMIT("chain", 0, "%s", weak_detail);
		} else if (status & GNUTLS_CERT_INSECURE_ALGORITHM) {
			mutls__verdict_add(out, who, MUTLS_REASON_INSECURE_ALGORITHM,
				"is signed with an insecure algorithm");
			EMIT("chain", 0, "insecure signature algorithm in the chain");
		} else if (rc >= 0 && !(status & GNUTLS_CERT_INVALID)) {
			EMIT("chain", 1, "%zu certificate%s up to trusted CN=%s%s", n, n == 1 ? "" : "s", issuer,
				memo && memo->reuse ? " (signatures checked by an earlier handshake)" : "");
		} else if (rc >= 0 && !(status & (GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED |
			   GNUTLS_CERT_REVOKED | GNUTLS_CERT_PURPOSE_MISMATCH))) {
			gnutls_datum_t text = { NULL, 0 };
			gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0);
			mutls__verdict_add(out, who, MUTLS_REASON_UNKNOWN_ISSUER,
				"did not verify (%s)", text.data ? (char *)text.data : "invalid");
			EMIT("chain", 0, "%s", text.data ? (char *)text.data : "invalid");
			gnutls_free(text.data);
		} else {
			EMIT("chain", 1, "%zu certificate%s up to trusted CN=%s", n, n == 1 ? "" : "s", issuer);
		}
	}
	/* An issuer's validity, when the leaf's own dates were fine. */
	if ((status & GNUTLS_CERT_EXPIRED) && !(out->reasons & MUTLS_REASON_EXPIRED)) {
		mutls__verdict_add(out, who, MUTLS_REASON_EXPIRED, "has an expired issuer in its chain");
		EMIT("validity", 0, "an issuer in the chain has expired");
	}
	if ((status & GNUTLS_CERT_NOT_ACTIVATED) && !(out->reasons & MUTLS_REASON_NOT_YET_VALID)) {
		mutls__verdict_add(out, who, MUTLS_REASON_NOT_YET_VALID, "has an issuer that is not yet valid");
		EMIT("validity", 0, "an issuer in the chain is not yet valid");
	}

	/* 4. purpose. */
	if (purpose == MUTLS_PURPOSE_SERVER || purpose == MUTLS_PURPOSE_CLIENT) {
		if (!(purpose == MUTLS_PURPOSE_SERVER ? leaf->may_serve : leaf->may_be_client) ||
		    (status & GNUTLS_CERT_PURPOSE_MISMATCH)) {
			mutls__verdict_add(out, who, MUTLS_REASON_BAD_PURPOSE,
				"may not be used for %s (extended key usage)", purpose_words(purpose));
			EMIT("purpose", 0, "not allowed for %s", purpose_words(purpose));
		} else if (!leaf->may_sign) {
			mutls__verdict_add(out, who, MUTLS_REASON_BAD_PURPOSE,
				"may not be used for %s (its key usage does not allow digital signatures)",
				purpose_words(purpose));
			EMIT("purpose", 0, "key usage lacks digitalSignature");
		} else {
			EMIT("purpose", 1, "allowed for %s", purpose_words(purpose));
		}
	}

	/* 5. revocation (CRLs). */
	if (status & GNUTLS_CERT_REVOKED) {
		/* the leaf, or a CA above it that its issuer's CRL lists */
		size_t at = revoked_position(cfg, crts, ncrts);
		char *serial = NULL;
		mutls_x509_serial(&serial, chain[at]);
		if (at == 0)
			mutls__verdict_add(out, who, MUTLS_REASON_REVOKED,
				"has been revoked (serial %s)", serial ? serial : "?");
		else
			mutls__verdict_add(out, who, MUTLS_REASON_REVOKED,
				"has in its chain the CA certificate %s, which has been revoked (serial %s)",
				chain[at]->label, serial ? serial : "?");
		EMIT("revocation", 0, "%s (serial %s) is on the CRL of its issuer CN=%s",
			chain[at]->label, serial ? serial : "?", chain[at]->issuer_cn);
		free(serial);
	} else if (cfg->crl_count) {
		if (crl_covers(cfg, leaf))
			EMIT("revocation", 1, "not on the CRL of its issuer CN=%s", leaf->issuer_cn);
		else
			EMIT("revocation", 1, "no loaded CRL covers its issuer CN=%s (%d CRL%s loaded, "
				"for other CAs)", leaf->issuer_cn, cfg->crl_count, cfg->crl_count == 1 ? "" : "s");
	}

	/* 6. identity policy. */
	if (cfg->pattern_count) {
		char allowed[512];
		mutls__policy_describe(allowed, sizeof(allowed), cfg);
		if (mutls__policy_matches(cfg, leaf)) {
			EMIT("policy", 1, "matches one of: %s", allowed);
		} else {
			describe_names(names, sizeof(names), leaf);
			mutls__verdict_add(out, who, MUTLS_REASON_POLICY,
				"is not allowed by the peers policy (it names %s; allowed: %s)", names, allowed);
			EMIT("policy", 0, "%s matches none of: %s", names, allowed);
		}
	}
	return out->reasons ? MUTLS_EVERIFY : 0;
}

int mutls_x509_verify(unsigned *out_reasons, const mutls_x509 *cert,
	mutls_x509 *const *intermediates, size_t intermediate_count,
	const mutls_config *trust_cfg, const char *hostname, mutls_purpose purpose)
{
	return mutls_x509_verify_with(out_reasons, cert, intermediates, intermediate_count,
		trust_cfg, hostname, purpose, NULL);
}

int mutls_x509_verify_with(unsigned *out_reasons, const mutls_x509 *cert,
	mutls_x509 *const *intermediates, size_t intermediate_count,
	const mutls_config *trust_cfg, const char *hostname, mutls_purpose purpose,
	const mutls_verify_options *options)
{
	mutls_x509 **chain;
	mutls_verdict verdict;
	mutls_error err;
	int rc;

	if (out_reasons)
		*out_reasons = 0;
	if (!cert || !trust_cfg || (intermediate_count && !intermediates))
		return mutls__error(MUTLS_EUSAGE, "mutls_x509_verify: NULL argument");
	chain = calloc(intermediate_count + 1, sizeof(*chain));
	if (!chain)
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	chain[0] = (mutls_x509 *)cert;
	for (size_t i = 0; i < intermediate_count; i++)
		chain[i + 1] = intermediates[i];
	rc = mutls__verify_chain(&verdict, trust_cfg, chain, intermediate_count + 1, hostname,
		purpose, "certificate", NULL, NULL, NULL, options);
	free(chain);
	if (out_reasons)
		*out_reasons = verdict.reasons;
	if (rc == 0)
		return 0;
	mutls__error_fill(&err, MUTLS_EVERIFY, MUTLS_SIDE_LOCAL, MUTLS_STEP_NONE, -1, "%s", verdict.message);
	err.reasons = verdict.reasons;
	return mutls__error_copy(&err);
}

/* ---- CRLs: why one was not taken, and whom the taken ones cover --------- */

static void crl_issuer_name(char *out, size_t cap, gnutls_x509_crl_t crl)
{
	size_t size = cap - 3;
	memcpy(out, "CN=", 4);
	if (gnutls_x509_crl_get_issuer_dn_by_oid(crl, GNUTLS_OID_X520_COMMON_NAME, 0, 0,
			out + 3, &size) >= 0) {
		mutls__escape_controls(out, cap);
		return;
	}
	size = cap;
	if (gnutls_x509_crl_get_issuer_dn(crl, out, &size) < 0)
		snprintf(out, cap, "(unnamed issuer)");
	mutls__escape_controls(out, cap);
}

/* Why one CRL cannot be used with cfg's trust anchors (0 when it can). */
static int crl_problem(char *why, size_t cap, const mutls_config *cfg, gnutls_x509_crl_t crl)
{
	gnutls_datum_t dn = { NULL, 0 };
	gnutls_x509_crt_t issuer = NULL;
	unsigned usage = 0, critical = 0, status = 0;
	char name[300], when[32];
	int problem = 1;

	crl_issuer_name(name, sizeof(name), crl);
	if (gnutls_x509_crl_get_raw_issuer_dn(crl, &dn) < 0 ||
	    gnutls_x509_trust_list_get_issuer_by_dn(cfg->tlist, &dn, &issuer, 0) < 0) {
		snprintf(why, cap, "the CRL of %s is not signed by a trusted CA (add its CA with trust first)",
			name);
		goto out;
	}
	if (gnutls_x509_crt_get_key_usage(issuer, &usage, &critical) >= 0 &&
	    !(usage & GNUTLS_KEY_CRL_SIGN)) {
		snprintf(why, cap, "the CRL of %s cannot be used: that CA's key usage does not allow "
			"signing CRLs (no cRLSign)", name);
		goto out;
	}
	if (gnutls_x509_crl_verify(crl, &issuer, 1, 0, &status) < 0 ||
	    (status & (GNUTLS_CERT_SIGNATURE_FAILURE | GNUTLS_CERT_SIGNER_NOT_FOUND))) {
		snprintf(why, cap, "the CRL of %s does not verify with that CA's key (a bad signature)",
			name);
		goto out;
	}
	/* with a verification clock the dates are checked at its time, when
	 * verifying (crl_checks.c) */
	if (cfg->verify_time_set || cfg->clock_fn)
		status &= ~(GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED |
			GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE);
	if (status & GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED) {
		mutls__format_time(when, sizeof(when), gnutls_x509_crl_get_next_update(crl));
		snprintf(why, cap, "the CRL of %s expired at %s (its next update; load a newer CRL)",
			name, when);
		goto out;
	}
	if (status & GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE) {
		mutls__format_time(when, sizeof(when), gnutls_x509_crl_get_this_update(crl));
		snprintf(why, cap, "the CRL of %s is not valid until %s (its this-update time)",
			name, when);
		goto out;
	}
	if (status & GNUTLS_CERT_INSECURE_ALGORITHM) {
		snprintf(why, cap, "the CRL of %s is signed with an insecure algorithm", name);
		goto out;
	}
	problem = 0;
out:
	gnutls_free(dn.data);
	if (issuer)
		gnutls_x509_crt_deinit(issuer);
	return problem;
}

int mutls__crl_inspect(char *why, size_t cap, mutls_config *cfg, const gnutls_datum_t *data,
	int pem)
{
	gnutls_x509_crl_t *crls = NULL;
	unsigned count = 0;
	int problems = 0;

	why[0] = 0;
	if (gnutls_x509_crl_list_import2(&crls, &count, data,
			pem ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER, 0) < 0)
		return 0;
	for (unsigned i = 0; i < count; i++) {
		char one[600];
		gnutls_datum_t dn = { NULL, 0 };
		if (crl_problem(one, sizeof(one), cfg, crls[i])) {
			if (!problems++)
				snprintf(why, cap, "%s", one);
		} else if (mutls__crl_record(cfg, crls[i]), gnutls_x509_crl_get_raw_issuer_dn(crls[i], &dn) >= 0) {
			gnutls_datum_t *grown = realloc(cfg->crl_issuers,
				(cfg->crl_issuer_count + 1) * sizeof(*grown));
			if (grown) {
				cfg->crl_issuers = grown;
				grown[cfg->crl_issuer_count++] = dn;
				dn.data = NULL;
			}
			gnutls_free(dn.data);
		}
		gnutls_x509_crl_deinit(crls[i]);
	}
	gnutls_free(crls);
	return problems;
}

void mutls__crl_issuers_free(mutls_config *cfg)
{
	for (size_t i = 0; i < cfg->crl_issuer_count; i++)
		gnutls_free(cfg->crl_issuers[i].data);
	free(cfg->crl_issuers);
	cfg->crl_issuers = NULL;
	cfg->crl_issuer_count = 0;
	mutls__crl_facts_free(cfg);
}

/* 1 when a CRL of cert's issuer was loaded. */
static int crl_covers(const mutls_config *cfg, const mutls_x509 *cert)
{
	gnutls_datum_t dn = { NULL, 0 };
	int found = 0;

	if (gnutls_x509_crt_get_raw_issuer_dn(cert->crt, &dn) < 0)
		return 0;
	for (size_t i = 0; i < cfg->crl_issuer_count && !found; i++)
		found = cfg->crl_issuers[i].size == dn.size &&
			memcmp(cfg->crl_issuers[i].data, dn.data, dn.size) == 0;
	gnutls_free(dn.data);
	return found;
}
