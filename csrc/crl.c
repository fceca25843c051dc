/* CRLs: why one cannot be used, and whom the usable ones cover (for the
 * revocation check's trace). */
#include "verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Why one CRL cannot be used with cfg's trust anchors (0 when it can);
 * where, after the issuer's name, says where it is in its source. */
static int crl_problem(char *why, size_t cap, const mutls_config *cfg, gnutls_x509_crl_t crl,
	const char *where)
{
	gnutls_datum_t dn = { NULL, 0 };
	gnutls_x509_crt_t issuer = NULL;
	unsigned usage = 0, critical = 0, status = 0;
	char bare[300], name[400], when[32];
	int problem = 1;

	crl_issuer_name(bare, sizeof(bare), crl);
	snprintf(name, sizeof(name), "%s%s", bare, where);
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
	if (status & GNUTLS_CERT_SIGNER_NOT_CA) {
		snprintf(why, cap, "the CRL of %s cannot be used: its issuer %s is not a CA (a trusted "
			"certificate without basicConstraints CA:TRUE cannot sign CRLs)", name, bare);
		goto out;
	}
	if (status & GNUTLS_CERT_INSECURE_ALGORITHM) {
		snprintf(why, cap, "the CRL of %s is signed with an insecure algorithm", name);
		goto out;
	}
	/* any other failure GnuTLS finds in it (only its dates may wait for
	 * the verification clock; GnuTLS marks those GNUTLS_CERT_INVALID too) */
	if ((status & ~(GNUTLS_CERT_INVALID | GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED |
			GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE)) || status == GNUTLS_CERT_INVALID) {
		snprintf(why, cap, "the CRL of %s cannot be used: GnuTLS's check of it with that CA "
			"fails (GnuTLS status 0x%x)", name, status);
		goto out;
	}
	/* with a verification clock the dates are checked at its time, when
	 * verifying (crl_checks.c) */
	if (cfg->verify_time_set || cfg->clock_fn)
		status = 0;
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
	problem = 0;
out:
	gnutls_free(dn.data);
	if (issuer)
		gnutls_x509_crt_deinit(issuer);
	return problem;
}

static const char *ordinal(unsigned n)
{
	return n % 100 / 10 == 1 ? "th" : n % 10 == 1 ? "st" : n % 10 == 2 ? "nd" :
		n % 10 == 3 ? "rd" : "th";
}

int mutls__crl_inspect(char *why, size_t cap, unsigned *count, mutls_config *cfg,
	const gnutls_datum_t *data, int pem)
{
	gnutls_x509_crl_t *crls = NULL;
	int problems = 0;

	why[0] = 0;
	*count = 0;
	if (gnutls_x509_crl_list_import2(&crls, count, data,
			pem ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER, 0) < 0) {
		*count = 0;
		return 0;
	}
	/* one unusable CRL refuses its whole source: all are checked first */
	for (unsigned i = 0; i < *count; i++) {
		char one[700], where[60] = "";
		if (*count > 1)
			snprintf(where, sizeof(where), " (the %u%s of the %u CRLs in this source)",
				i + 1, ordinal(i + 1), *count);
		if (crl_problem(one, sizeof(one), cfg, crls[i], where) && !problems++)
			snprintf(why, cap, "%s", one);
	}
	if (problems > 1) {
		size_t len = strlen(why);
		snprintf(why + len, cap - len, "; and %d more of them cannot be used", problems - 1);
	}
	for (unsigned i = 0; i < *count; i++) {
		gnutls_datum_t dn = { NULL, 0 };
		if (!problems) {
			mutls__crl_record(cfg, crls[i]);
			if (gnutls_x509_crl_get_raw_issuer_dn(crls[i], &dn) >= 0) {
				gnutls_datum_t *grown = realloc(cfg->crl_issuers,
					(cfg->crl_issuer_count + 1) * sizeof(*grown));
				if (grown) {
					cfg->crl_issuers = grown;
					grown[cfg->crl_issuer_count++] = dn;
					dn.data = NULL;
				}
				gnutls_free(dn.data);
			}
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
int mutls__crl_covers(const mutls_config *cfg, const mutls_x509 *cert)
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
