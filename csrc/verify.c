/* Verification in one place: chain, time, name, purpose, revocation, policy.
 * Sessions run it from the credentials' verify function (and again on
 * resumption, which GnuTLS does not verify); mutls_x509_verify runs it
 * offline. The peer check (the end of this file) runs it for a session or a
 * chain given to mutls_config_check_peer, then the user's verify hook. */
#include "session.h"
#include "chain_cache.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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

/* A DNS SAN "*.rest" names host when host is one non-empty label, then
 * ".rest" (ASCII case ignored), and rest has two labels at least (RFC 9525
 * 6.3: the wildcard only as the whole left-most label). GnuTLS also takes
 * "*a.example.com" for "ba.example.com", and "*.example.com" for
 * ".example.com". */
static int wildcard_names(gnutls_x509_crt_t crt, const char *host)
{
	const char *dot = strchr(host, '.');
	char san[256];
	int found = 0;

	if (!dot || dot == host)
		return 0;
	for (unsigned i = 0; !found; i++) {
		size_t size = sizeof(san) - 1;
		unsigned critical;
		int type = gnutls_x509_crt_get_subject_alt_name(crt, i, san, &size, &critical);
		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (type != GNUTLS_SAN_DNSNAME || size < 3 || memchr(san, 0, size))
			continue; /* another kind, too long, or a NUL inside */
		san[size] = 0;
		found = san[0] == '*' && san[1] == '.' && strchr(san + 2, '.') && !strchr(san + 2, '*') &&
			san[size - 1] != '.' && strcasecmp(san + 2, dot + 1) == 0;
	}
	return found;
}

/* The host name check: IP literals and exact DNS names as GnuTLS matches
 * them (IDNA too), wildcards by wildcard_names only. */
static int names_host(const mutls_x509 *leaf, const char *host)
{
	gnutls_datum_t ascii = { NULL, 0 };
	int named;

	if (gnutls_x509_crt_check_hostname2(leaf->crt, host, GNUTLS_VERIFY_DO_NOT_ALLOW_WILDCARDS))
		return 1;
	if (mutls__name_is_ip(host))
		return 0;
	/* a name with non-ASCII letters, as the certificate spells it (GnuTLS
	 * maps it the same way for the exact match) */
	for (const char *c = host; *c; c++)
		if ((unsigned char)*c >= 0x80) {
			if (gnutls_idna_map(host, (unsigned)strlen(host), &ascii, 0) < 0)
				return 0;
			break;
		}
	named = wildcard_names(leaf->crt, ascii.data ? (const char *)ascii.data : host);
	gnutls_free(ascii.data);
	return named;
}

static const char *purpose_words(mutls_purpose purpose)
{
	return purpose == MUTLS_PURPOSE_SERVER ? "TLS server authentication" :
		"TLS client authentication";
}

/* The trust anchor that issued crt: the trust list's own (borrowed: the
 * frozen config's list outlives the verification; no copy to re-parse),
 * or a copy to free (*owned) from a PKCS#11 trust list. */
int mutls__anchor_of(gnutls_x509_crt_t *out, int *owned, const mutls_config *cfg,
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
 * chain and its trust anchor are valid, and the CRLs of the path that
 * passed (the one GnuTLS verified: a re-use rebuilds the paths, and its
 * first one may be another), and not longer than the reuse limit. 0 when
 * the anchor cannot be found again (then nothing is re-used). */
static int chain_window(mutls_chain_memo *memo, const mutls_config *cfg,
	mutls_x509 *const *chain, size_t n, const mutls_path *passed, gnutls_x509_crt_t anchor,
	int64_t now)
{
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
	if (!anchor && mutls__anchor_of(&anchor, &owned, cfg, chain[n - 1]->crt) < 0)
		return 0;
	if (gnutls_x509_crt_get_activation_time(anchor) > from)
		from = gnutls_x509_crt_get_activation_time(anchor);
	if (gnutls_x509_crt_get_expiration_time(anchor) < until)
		until = gnutls_x509_crt_get_expiration_time(anchor);
	if (owned)
		gnutls_x509_crt_deinit(anchor);
	if (passed && cfg->crl_fact_count)
		mutls__crl_window(cfg, passed, &from, &until);
	memo->usable_from = from;
	memo->usable_until = until;
	return 1;
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
	gnutls_x509_crt_t crts[64], path_crts[MUTLS_PATH_MAX], *given = crts;
	gnutls_typed_vdata_st vdata[1];
	unsigned nvdata = 0, status = 0;
	char who[384], names[512];
	const char *when = leaf->not_before_text, *until = leaf->not_after_text;
	int64_t now = 0;
	int64_t nb = leaf->not_before;
	int64_t na = leaf->not_after;
	size_t ncrts = n < 64 ? n : 64, ngiven;
	char weak_detail[600], chain_detail[1100], costly[400], own_detail[700], trusted[320];
	int rc, weak_key, own_failed = 0;
	mutls_path paths[MUTLS_PATHS_TRIED];
	size_t npaths, npaths_built;
	mutls_profile profile = options && (options->flags & MUTLS_VERIFY_PROFILE) ?
		options->profile : cfg->profile;
	int max_depth = options && (options->flags & MUTLS_VERIFY_MAX_CHAIN_DEPTH) ?
		options->max_chain_depth : cfg->max_chain_depth;
	int reuse = memo && memo->reuse;
	gnutls_x509_crt_t anchor = NULL;

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
		/* names from subjectAltNames only (RFC 6125): without one of the
		 * name's kind GnuTLS would fall back to the common names (and
		 * spend milliseconds on a subject of thousands) */
		int has_san = mutls__name_is_ip(hostname) ? leaf->has_ip_san : leaf->has_dns_san;
		if (has_san && names_host(leaf, hostname)) {
			EMIT("name", 1, "\"%s\" is named by the certificate", hostname);
		} else {
			describe_names(names, sizeof(names), leaf);
			mutls__verdict_add(out, who, MUTLS_REASON_NAME_MISMATCH,
				"does not match the name \"%s\" (it names %s%s)", hostname, names, has_san ? "" :
				mutls__name_is_ip(hostname) ? "; no IP subjectAltName, and a common name is not "
				"taken as a host name" : "; no DNS subjectAltName, and a common name is not taken "
				"as a host name");
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
	/* a chain that passed before (chain_cache.c) passed mutls's own checks
	 * of it and of its keys too: they depend only on the chain and the
	 * config. Only the CRLs' dates (crl_checks.c) need its path again. */
	npaths = reuse && !cfg->crl_fact_count ? 0 :
		mutls__paths_build(paths, MUTLS_PATHS_TRIED, cfg, chain, ncrts);
	npaths_built = npaths; /* npaths may drop to the one path taken */
	/* more certificates than GnuTLS follows (16): GnuTLS would order them
	 * all first, comparing names pairwise (tens of milliseconds for 100
	 * hostile ones); it gets the first path mutls built, in order */
	ngiven = ncrts;
	if (ncrts > 16 && npaths) {
		ngiven = paths[0].anchored && !paths[0].anchor_in_chain ? paths[0].n - 1 : paths[0].n;
		memcpy(path_crts, paths[0].crt, ngiven * sizeof(path_crts[0]));
		given = path_crts;
	}
	if (!reuse && mutls__path_too_costly(costly, sizeof(costly), &paths[0])) {
		/* refused before GnuTLS spends its time on it */
		mutls__verdict_add(out, who, MUTLS_REASON_NAME_CONSTRAINTS, "%s", costly);
		for (size_t i = 0; i < npaths; i++)
			mutls__path_free(&paths[i]);
		if (memo)
			memo->passed = 0;
		EMIT("chain", 0, "%s", costly);
		return MUTLS_EVERIFY;
	}
	if (reuse) {
		rc = 0; /* passed before, and still within its window (chain_cache.c) */
	} else {
		/* dates at the verification clock's time: mutls__chain_time_status;
		 * name constraints GnuTLS cannot read: it would refuse them (and
		 * leak), so straight to the split (nc_unreadable.c) */
		rc = 0;
		status = GNUTLS_CERT_INVALID | GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE;
		if (!paths[0].anchored || !mutls__path_has_unreadable_nc(&paths[0]))
			rc = gnutls_x509_trust_list_verify_crt2(cfg->tlist, given, (unsigned)ngiven,
				vdata, nvdata, GNUTLS_PROFILE_TO_VFLAGS(mutls__chain_profile(cfg)) |
				GNUTLS_VERIFY_DISABLE_TIME_CHECKS | GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS,
				&status, NULL);
		/* another path, when GnuTLS's refused (path_retry.c) */
		if (rc >= 0 && status && paths[0].anchored &&
		    mutls__paths_retry(paths, npaths, cfg, vdata, nvdata,
			GNUTLS_PROFILE_TO_VFLAGS(mutls__chain_profile(cfg)) |
			GNUTLS_VERIFY_DISABLE_TIME_CHECKS | GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS, &status))
			npaths = 1; /* own checks on the path taken only */
		if (rc >= 0)
			status |= mutls__path_time_status(&paths[0], now);
		if (memo && rc >= 0 && status == 0)
			memo->passed = chain_window(memo, cfg, chain, ncrts, npaths ? &paths[0] : NULL,
				paths[0].anchored ? paths[0].crt[paths[0].n - 1] : NULL, now);
	}
	/* mutls's own checks (path_checks.c), on the path GnuTLS verified;
	 * when they refuse it, another path that passes them will do if GnuTLS
	 * verifies it too (a presented copy of a CA without its constraints
	 * and with a forged signature must not stand in for the real one).
	 * The first path's failure is told. */
	if (rc >= 0 && !(status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNATURE_FAILURE))) {
		mutls_verdict first = *out;
		own_failed = !reuse;
		for (size_t i = 0; i < npaths && own_failed; i++) {
			mutls_verdict trial = *out;
			char trial_detail[700];
			/* another path's names are compared within the same bound
			 * as the first's (checked above) */
			if (i > 0 && mutls__path_too_costly(trial_detail, sizeof(trial_detail), &paths[i]))
				continue;
			if (!mutls__path_checks(&trial, who, &paths[i], hostname, profile, max_depth,
					trial_detail, sizeof(trial_detail))) {
				if (i == 0)
					own_failed = 0;
				else if (mutls__path_verifies(&paths[i], cfg, vdata, nvdata,
						GNUTLS_PROFILE_TO_VFLAGS(mutls__chain_profile(cfg)) |
						GNUTLS_VERIFY_DISABLE_TIME_CHECKS |
						GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS) &&
				    mutls__path_time_status(&paths[i], now) == 0) {
					mutls__path_take(paths, i);
					own_failed = 0;
					if (memo && memo->passed)
						memo->passed = chain_window(memo, cfg, chain, ncrts, &paths[0],
							paths[0].crt[paths[0].n - 1], now);
				}
			} else if (i == 0) {
				first = trial;
				snprintf(own_detail, sizeof(own_detail), "%s", trial_detail);
			}
		}
		if (!own_failed && cfg->crl_fact_count && npaths) {
			first = *out;
			own_failed = mutls__crl_checks(&first, who, cfg, &paths[0], now, profile,
				reuse || (status & GNUTLS_CERT_REVOKED), /* passed before, or told */
				own_detail, sizeof(own_detail));
		}
		if (own_failed) {
			*out = first;
			if (memo)
				memo->passed = 0;
		}
	}
	/* the anchor the path took, for the key check (a copy from PKCS#11
	 * trust goes with its path: looked up again) */
	if (npaths && paths[0].anchored && !paths[0].anchor_owned)
		anchor = paths[0].crt[paths[0].n - 1];
	/* the anchor the path took, by name (another than the last
	 * certificate's issuer when a path through another root passed) */
	if (npaths && paths[0].anchored)
		snprintf(trusted, sizeof(trusted), "%s", paths[0].label[paths[0].n - 1]);
	else
		snprintf(trusted, sizeof(trusted), "CN=%s", chain[ncrts - 1]->issuer_cn);
	for (size_t i = 0; i < npaths_built; i++)
		mutls__path_free(&paths[i]);
	if (rc < 0) {
		mutls__verdict_add(out, who, MUTLS_REASON_UNKNOWN_ISSUER,
			"could not be verified (%s)", gnutls_strerror(rc));
		EMIT("chain", 0, "verification error: %s", gnutls_strerror(rc));
		status = 0;
	}
	weak_key = !reuse && mutls__check_key_sizes(out, who, cfg, chain, ncrts, anchor, weak_detail,
		sizeof(weak_detail));
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
			if (own_failed && (out->reasons & MUTLS_REASON_NAME_CONSTRAINTS)) {
				/* GnuTLS's two bits, for a name mutls's own checks named */
				EMIT("chain", 0, "%s", own_detail);
			} else if (mutls__explain_signer_failure(out, who, cfg, chain, ncrts, chain_detail,
					sizeof(chain_detail))) {
				EMIT("chain", 0, "%s", chain_detail);
			} else {
				mutls__verdict_add(out, who, MUTLS_REASON_SIGNER_NOT_CA,
					"was signed by a certificate that is not a CA");
				EMIT("chain", 0, "a signer in the chain is not a CA");
			}
		} else if (status & GNUTLS_CERT_UNKNOWN_CRIT_EXTENSIONS) {
			mutls__explain_critical_extension(out, who, chain, ncrts, chain_detail, sizeof(chain_detail));
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
			EMIT("chain", 1, "%zu certificate%s up to trusted %s%s", n, n == 1 ? "" : "s", trusted,
				reuse ? " (signatures checked by an earlier handshake)" : "");
		} else if (rc >= 0 && !(status & (GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED |
			   GNUTLS_CERT_REVOKED | GNUTLS_CERT_PURPOSE_MISMATCH))) {
			gnutls_datum_t text = { NULL, 0 };
			gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0);
			mutls__verdict_add(out, who, MUTLS_REASON_UNKNOWN_ISSUER,
				"did not verify (%s)", text.data ? (char *)text.data : "invalid");
			EMIT("chain", 0, "%s", text.data ? (char *)text.data : "invalid");
			gnutls_free(text.data);
		} else {
			EMIT("chain", 1, "%zu certificate%s up to trusted %s", n, n == 1 ? "" : "s", trusted);
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
		size_t at = mutls__revoked_position(cfg, crts, ncrts);
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
		if (mutls__crl_covers(cfg, leaf))
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
	if (purpose != MUTLS_PURPOSE_ANY && purpose != MUTLS_PURPOSE_SERVER && purpose != MUTLS_PURPOSE_CLIENT)
		return mutls__error(MUTLS_EUSAGE, "verify: purpose must be \"server\", \"client\" or \"any\", not \"%s\"",
			mutls_purpose_name(purpose));
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

/* ---- the peer check: every check of a session's peer, then the user's
 * verify hook (called by GnuTLS through the credentials) ------------------ */

static int emit_check(void *ctx, const char *check, int ok, const char *detail)
{
	return mutls__trace_add(ctx, MUTLS_TRACE_CHECK, 0, ok, check, 0, 0, "%s", detail);
}

static int load_peer_chain(mutls_session *s)
{
	const gnutls_datum_t *certs;
	unsigned n = 0;

	mutls__session_free_peer_chain(s);
	certs = gnutls_certificate_get_peers(s->gs, &n);
	if (!certs || n == 0)
		return 0;
	/* The same chain (a client's, across reconnects) is parsed once per config */
	if (mutls__chain_cache_get(&s->peer_chain, &s->peer_len, s->cfg, certs, n))
		return 0;
	s->peer_chain = calloc(n, sizeof(*s->peer_chain));
	if (!s->peer_chain)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		if (mutls__x509_from_datum(&s->peer_chain[i], &certs[i]) < 0) {
			mutls_x509_list_free(s->peer_chain, i);
			s->peer_chain = NULL;
			return -1;
		}
	}
	s->peer_len = n;
	mutls__chain_cache_put(s->cfg, certs, n, s->peer_chain);
	return 0;
}

/* The user's verify hook, after every other check; whom names the peer in
 * the message ("client certificate CN=x" or "anonymous client"). Returns
 * the hook's verdict; -1 when the trace hook failed. */
static int run_verify_hook(mutls_session *s, const char *whom)
{
	char reason[512] = "";
	mutls__hook_frame frame;
	int verdict;

	mutls__hook_enter(&frame, s);
	verdict = s->cfg->verify_hook(s, s->cfg->verify_payload, reason, sizeof(reason));
	mutls__hook_leave(&frame);

	reason[sizeof(reason) - 1] = 0;
	if (verdict == MUTLS_HOOK_ACCEPT)
		return emit_check(s, "hook", 1, "accepted by the verify hook") ? -1 : verdict;
	if (verdict == MUTLS_HOOK_REJECT) {
		mutls__verdict_add(&s->verdict, whom, MUTLS_REASON_HOOK,
			"was rejected by the verify hook: %s", reason[0] ? reason : "no reason given");
		emit_check(s, "hook", 0, reason[0] ? reason : "rejected by the verify hook");
		return verdict;
	}
	s->hook_failed = 1;
	if (reason[0])
		mutls_session_set_hook_error(s, reason);
	mutls__verdict_add(&s->verdict, whom, MUTLS_REASON_HOOK,
		"was refused because the verify hook failed: %s", reason[0] ? reason : "error in hook");
	emit_check(s, "hook", 0, reason[0] ? reason : "the verify hook failed");
	return MUTLS_HOOK_ERROR;
}

/* peer_certificate=request and no certificate came. With `peers` set, no
 * pattern can match: refused (reason policy) unless the verify hook, which
 * always sees the anonymous peer (leaf NULL, chain empty), accepts it. */
static int check_anonymous_peer(mutls_session *s, const char *peer)
{
	mutls_config *cfg = s->cfg;
	char whom[32], allowed[256];
	int verdict;
	const char *mode = cfg->peer_mode == MUTLS_PEER_OBSERVE ? "observe" : "request";

	if (emit_check(s, "presence", 1, cfg->peer_mode == MUTLS_PEER_OBSERVE ?
		"no certificate presented (allowed: peer_certificate=observe)" :
		"no certificate presented (allowed: peer_certificate=request)"))
		return -1;
	snprintf(whom, sizeof(whom), "anonymous %s", peer);
	if (cfg->pattern_count) {
		mutls__policy_describe(allowed, sizeof(allowed), cfg);
		mutls__verdict_add(&s->verdict, peer, MUTLS_REASON_POLICY,
			"presented no certificate, so it cannot match the peers policy (allowed: %s)", allowed);
		if (emit_check(s, "policy", 0, "no certificate presented, so no peers pattern can match"))
			return -1;
	}
	if (!cfg->verify_hook) {
		if (s->verdict.reasons)
			return -1;
		snprintf(s->verdict.message, sizeof(s->verdict.message),
			"%s presented no certificate (allowed: peer_certificate=%s)", peer, mode);
		return 0;
	}
	verdict = run_verify_hook(s, whom);
	if (verdict == -1)
		return -1;
	if (verdict != MUTLS_HOOK_ACCEPT)
		return -1;
	/* the hook's acceptance is what lets an anonymous peer past `peers` */
	s->verdict.reasons = 0;
	snprintf(s->verdict.message, sizeof(s->verdict.message),
		"%s presented no certificate and was accepted by the verify hook "
		"(peer_certificate=%s)", peer, mode);
	return 0;
}

/* Every check of the peer: presence, chain..policy (verify.c), then the
 * user's hook. 0 to accept; -1 to refuse (state in s). */
int mutls__check_peer(mutls_session *s)
{
	mutls_config *cfg = s->cfg;
	const char *peer = s->is_server ? "client" : "server";
	char who[32], whofull[300];
	mutls_chain_memo memo = { 0, 0, 0, 0, 0, 0 };
	mutls_purpose purpose;
	const gnutls_datum_t *certs;
	unsigned ncerts = 0;
	int rc;

	memset(&s->verdict, 0, sizeof(s->verdict));
	s->verify_ran = 1;
	s->verified = 0;
	if (!s->offline && load_peer_chain(s) < 0) {
		mutls__verdict_add(&s->verdict, peer, MUTLS_REASON_UNKNOWN_ISSUER,
			"certificate could not be parsed");
		emit_check(s, "presence", 0, "the certificate could not be parsed");
		return -1;
	}
	if (s->peer_len == 0) {
		if (cfg->peer_mode == MUTLS_PEER_REQUIRE) {
			s->no_cert = 1;
			snprintf(s->verdict.message, sizeof(s->verdict.message),
				"%s presented no certificate, but one is required", peer);
			emit_check(s, "presence", 0, "no certificate presented, but one is required");
			return -1;
		}
		if (cfg->peer_mode == MUTLS_PEER_REQUEST || cfg->peer_mode == MUTLS_PEER_OBSERVE)
			return check_anonymous_peer(s, peer);
		snprintf(s->verdict.message, sizeof(s->verdict.message),
			"%s presented no certificate (allowed: peer_certificate=none)", peer);
		return emit_check(s, "presence", 1, "no certificate presented (allowed: peer_certificate=none)") ? -1 : 0;
	}
	if (emit_check(s, "presence", 1, s->peer_len == 1 ? "1 certificate presented" :
		s->peer_len == 2 ? "2 certificates presented" : "a chain of certificates presented"))
		return -1;
	if (cfg->peer_mode == MUTLS_PEER_NONE) {
		snprintf(s->verdict.message, sizeof(s->verdict.message),
			"%s certificate %s was not verified (peer_certificate=none)", peer,
			s->peer_chain[0]->label);
		return emit_check(s, "verification", 1, "skipped: peer_certificate=none") ? -1 : 0;
	}

	snprintf(who, sizeof(who), "%s certificate", peer);
	purpose = s->is_server ? MUTLS_PURPOSE_CLIENT : MUTLS_PURPOSE_SERVER;
	/* Only a resumed handshake, or a chain checked outside a handshake
	 * (nginx sends it with every request), re-uses a chain check
	 * (chain_cache.c) */
	if (s->offline) {
		certs = s->offline_der;
		ncerts = (unsigned)s->peer_len;
	} else {
		certs = gnutls_certificate_get_peers(s->gs, &ncerts);
	}
	memo.have_now = mutls__config_now(&memo.now, cfg, s) == 0;
	if (!memo.have_now)
		s->hook_failed = 1; /* the verify_time function failed: code "hook" */
	memo.reuse = (s->offline || gnutls_session_is_resumed(s->gs)) && memo.have_now &&
		mutls__chain_cache_checked(cfg, certs, ncerts, purpose, memo.now);
	rc = mutls__verify_chain(&s->verdict, cfg, s->peer_chain, s->peer_len,
		(!s->is_server && cfg->check_hostname) ? s->hostname : NULL,
		purpose, who, emit_check, s, &memo, NULL);
	if (memo.passed)
		mutls__chain_cache_set_checked(cfg, certs, ncerts, purpose, memo.usable_from, memo.usable_until);
	if (rc != 0 && rc != MUTLS_EVERIFY)
		return -1; /* the trace hook failed */

	snprintf(whofull, sizeof(whofull), "%s %s", who, s->peer_chain[0]->label);
	if (cfg->verify_hook && run_verify_hook(s, whofull) == -1)
		return -1;
	s->verified = s->verdict.reasons == 0;
	if (s->verified)
		snprintf(s->verdict.message, sizeof(s->verdict.message),
			"%s passed every check", whofull);
	return s->verified ? 0 : -1;
}

/* peer_certificate=observe: a peer that failed the checks (chain, dates,
 * purpose, revocation, peers) goes on, unverified, its verdict kept for
 * the application. A verify hook's refusal or failure, a failed trace
 * hook, or certificates that cannot be parsed still end the handshake. */
int mutls__session_observed(mutls_session *s)
{
	unsigned sent = 0;

	if (s->cfg->peer_mode != MUTLS_PEER_OBSERVE || !s->verdict.reasons || s->hook_failed ||
	    (s->verdict.reasons & MUTLS_REASON_HOOK))
		return 0;
	gnutls_certificate_get_peers(s->gs, &sent);
	return sent == 0 || s->peer_len > 0;
}

int mutls__session_verify_callback(gnutls_session_t gs)
{
	mutls_session *s = gnutls_session_get_ptr(gs);
	return mutls__check_peer(s) == 0 || mutls__session_observed(s) ? 0 : -1;
}


/* The error a refusal by check_peer() leaves, as mutls__session_fail (failure.c) words it,
 * without an alert: there is no connection to send one on. */
static void offline_refusal(mutls_session *s)
{
	mutls_error *e = &s->err;
	mutls_step step = MUTLS_STEP_CLIENT_CERTIFICATE;

	if (s->no_cert) {
		mutls__error_fill(e, MUTLS_ENOCERT, MUTLS_SIDE_LOCAL, step, -1, "%s", s->verdict.message);
	} else if (s->hook_failed || (!s->verdict.reasons && s->failed_hook)) {
		mutls__error_fill(e, MUTLS_EHOOK, MUTLS_SIDE_LOCAL, step, -1, "%s", s->verdict.reasons ?
			s->verdict.message : "the trace hook failed while checking the client certificate");
		mutls__error_hook(e, s);
	} else {
		mutls__error_fill(e, MUTLS_EVERIFY, MUTLS_SIDE_LOCAL, step, -1, "%s",
			s->verdict.message[0] ? s->verdict.message : "client certificate was refused");
	}
	e->reasons = s->verdict.reasons;
	s->has_err = 1;
	s->failed = 1;
}

/* check_peer() over the chain given; the chain's bytes key the config's
 * chain cache, so that the same client's chain, sent again with its next
 * request, re-uses the signature check (as a resumed handshake does). */
static int check_peer_offline(mutls_session *s)
{
	gnutls_datum_t *der = NULL;
	int rc;

	if (s->peer_len) {
		if (!(der = calloc(s->peer_len, sizeof(*der))))
			return MUTLS_ENOMEM;
		for (size_t i = 0; i < s->peer_len; i++)
			der[i] = s->peer_chain[i]->der;
		mutls__chain_cache_put(s->cfg, der, (unsigned)s->peer_len, s->peer_chain);
	}
	s->offline_der = der;
	rc = mutls__check_peer(s);
	s->offline_der = NULL;
	free(der);
	return rc;
}

int mutls_config_check_peer(mutls_session **out, mutls_config *cfg,
	mutls_x509 *const *chain, size_t n, void *userdata)
{
	mutls_session *s;
	int rc;

	if (!out)
		return mutls__error(MUTLS_EUSAGE, "check_peer: out is NULL");
	*out = NULL;
	if (!cfg || (n && !chain))
		return mutls__error(MUTLS_EUSAGE, "check_peer: NULL config or chain");
	for (size_t i = 0; i < n; i++)
		if (!chain[i])
			return mutls__error(MUTLS_EUSAGE, "check_peer: chain[%zu] is NULL", i);
	if ((rc = mutls_config_freeze(cfg)) < 0)
		return rc;
	s = calloc(1, sizeof(*s));
	if (!s)
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	s->cfg = mutls_config_ref(cfg);
	s->is_server = 1;
	s->offline = 1;
	s->fd = -1;
	s->timeout_ms = -1;
	s->userdata = userdata;
	/* no credentials: a GnuTLS session only so that every accessor answers */
	if ((rc = gnutls_init(&s->gs, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL)) < 0) {
		s->gs = NULL;
		mutls_session_free(s);
		return mutls__error_gnutls(MUTLS_ENOMEM, rc, "check_peer: cannot initialise");
	}
	gnutls_session_set_ptr(s->gs, s);
	mutls__transport_setup(s);
	mutls__trace_setup(s);
	if (n && !(s->peer_chain = calloc(n, sizeof(*s->peer_chain)))) {
		mutls_session_free(s);
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		s->peer_chain[i] = mutls_x509_ref(chain[i]);
	s->peer_len = n;
	*out = s;
	rc = check_peer_offline(s);
	if (rc == 0)
		return 0;
	if (rc == MUTLS_ENOMEM)
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	offline_refusal(s);
	return mutls__error_copy(&s->err);
}
