/* CRLs at the verification clock's time, and their profile: what mutls
 * remembers of each usable CRL when it is loaded (mutls__crl_inspect), and
 * the checks a verification makes with it (GnuTLS checks a CRL's dates only
 * when it is loaded, at the system clock's time). */
#include "verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mutls_crl_facts {
	gnutls_datum_t issuer;      /* raw issuer DN (gnutls_malloc'd) */
	int64_t this_update, next_update;   /* next_update -1: none */
	int has_number, number_critical;
	char name[200];             /* "CN=..." of the issuer, for messages */
};

void mutls__crl_record(mutls_config *cfg, gnutls_x509_crl_t crl)
{
	struct mutls_crl_facts f, *grown;
	unsigned char num[64];
	size_t size = sizeof(num), nsize = sizeof(f.name) - 3;
	unsigned critical = 0;

	memset(&f, 0, sizeof(f));
	if (gnutls_x509_crl_get_raw_issuer_dn(crl, &f.issuer) < 0)
		return;
	f.this_update = (int64_t)gnutls_x509_crl_get_this_update(crl);
	f.next_update = (int64_t)gnutls_x509_crl_get_next_update(crl);
	f.has_number = gnutls_x509_crl_get_number(crl, num, &size, &critical) >= 0;
	f.number_critical = f.has_number && critical;
	memcpy(f.name, "CN=", 4);
	if (gnutls_x509_crl_get_issuer_dn_by_oid(crl, GNUTLS_OID_X520_COMMON_NAME, 0, 0,
			f.name + 3, &nsize) < 0)
		snprintf(f.name, sizeof(f.name), "(an unnamed issuer)");
	mutls__escape_controls(f.name, sizeof(f.name));
	grown = realloc(cfg->crl_facts, (cfg->crl_fact_count + 1) * sizeof(*grown));
	if (!grown) {
		gnutls_free(f.issuer.data);
		return;
	}
	cfg->crl_facts = grown;
	grown[cfg->crl_fact_count++] = f;
}

void mutls__crl_facts_free(mutls_config *cfg)
{
	for (size_t i = 0; i < cfg->crl_fact_count; i++)
		gnutls_free(cfg->crl_facts[i].issuer.data);
	free(cfg->crl_facts);
	cfg->crl_facts = NULL;
	cfg->crl_fact_count = 0;
}

#define FAIL(reason, ...) do { \
	mutls__verdict_add(out, who, reason, __VA_ARGS__); \
	snprintf(detail, cap, __VA_ARGS__); \
	return 1; } while (0)

int mutls__crl_checks(mutls_verdict *out, const char *who, const mutls_config *cfg,
	const mutls_path *p, int64_t now, mutls_profile profile, char *detail, size_t cap)
{
	size_t top = p->anchored ? p->n - 1 : p->n;

	for (size_t k = 0; k < top; k++) {
		gnutls_datum_t dn = { NULL, 0 };
		if (gnutls_x509_crt_get_raw_issuer_dn(p->crt[k], &dn) < 0)
			continue;
		for (size_t i = 0; i < cfg->crl_fact_count; i++) {
			const struct mutls_crl_facts *f = &cfg->crl_facts[i];
			char when[32];
			if (f->issuer.size != dn.size || memcmp(f->issuer.data, dn.data, dn.size) != 0)
				continue;
			if (f->next_update != -1 && now > f->next_update) {
				gnutls_free(dn.data);
				mutls__format_time(when, sizeof(when), f->next_update);
				FAIL(MUTLS_REASON_EXPIRED, "could not be checked for revocation: the CRL of %s "
					"expired at %s (its next update; load a newer CRL)", f->name, when);
			}
			if (now < f->this_update) {
				gnutls_free(dn.data);
				mutls__format_time(when, sizeof(when), f->this_update);
				FAIL(MUTLS_REASON_NOT_YET_VALID, "could not be checked for revocation: the CRL "
					"of %s is not valid until %s (its this-update time)", f->name, when);
			}
			/* a critical CRL number: no CRL tool makes one, refused in both
			 * profiles; a missing one (cfssl gencrl, openssl ca without a
			 * crlnumber file) only in strict */
			if (f->number_critical) {
				gnutls_free(dn.data);
				FAIL(MUTLS_REASON_NONCONFORMING, "could not be checked for revocation: "
					"the CRL of %s has its CRL number marked critical (RFC 5280 5.2.3: never "
					"critical)", f->name);
			}
			if (profile == MUTLS_PROFILE_STRICT && !f->has_number) {
				gnutls_free(dn.data);
				FAIL(MUTLS_REASON_NONCONFORMING, "could not be checked for revocation: the CRL "
					"of %s has no CRL number (RFC 5280 requires one)", f->name);
			}
		}
		gnutls_free(dn.data);
	}
	return 0;
}
