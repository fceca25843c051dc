/* CRLs: why one cannot be used, and whom the usable ones cover (for the
 * revocation check's trace). */
#include "verify.h"
#include "der.h"

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

#define OID_DELTA_CRL_INDICATOR "2.5.29.27"
#define OID_ISSUING_DP "2.5.29.28"
#define OID_CRL_NUMBER "2.5.29.20"
#define OID_AUTHORITY_KEY_ID "2.5.29.35"
#define REASON_REMOVE_FROM_CRL 8

/* Why a CRL's extensions make it other than a complete, direct CRL of its
 * issuer, the only kind mutls uses (0 when they do not). RFC 5280 5.2: a
 * CRL with a critical extension it cannot process must not be used; a
 * partial (issuingDistributionPoint) or delta CRL taken as complete would
 * pass certificates it does not cover. */
static int crl_extension_problem(char *why, size_t cap, const char *name, gnutls_x509_crl_t crl)
{
	for (unsigned i = 0;; i++) {
		char oid[128];
		size_t size = sizeof(oid);
		unsigned critical = 0;
		int rc = gnutls_x509_crl_get_extension_info(crl, i, oid, &size, &critical);
		if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			return 0;
		if (rc < 0) {
			snprintf(why, cap, "the CRL of %s cannot be used: its extensions cannot be read",
				name);
			return 1;
		}
		if (strcmp(oid, OID_ISSUING_DP) == 0) {
			snprintf(why, cap, "the CRL of %s cannot be used: it has an issuingDistributionPoint "
				"extension (a partial or indirect CRL; mutls uses complete, direct CRLs only: "
				"load the CA's full CRL)", name);
			return 1;
		}
		if (strcmp(oid, OID_DELTA_CRL_INDICATOR) == 0) {
			snprintf(why, cap, "the CRL of %s cannot be used: it is a delta CRL (deltaCRLIndicator; "
				"mutls uses complete CRLs only: load the CA's full CRL)", name);
			return 1;
		}
		/* a critical CRL number is known, and refused when verifying
		 * (crl_checks.c, reason nonconforming) */
		if (critical && strcmp(oid, OID_CRL_NUMBER) != 0 && strcmp(oid, OID_AUTHORITY_KEY_ID) != 0) {
			snprintf(why, cap, "the CRL of %s cannot be used: it has a critical extension mutls "
				"does not know (OID %.100s)", name, oid);
			return 1;
		}
	}
}

/* The serial of a CRL entry, in hex as messages give serials (at most 32
 * bytes shown). */
static void entry_serial(char *out, size_t cap, const mutls_der_in *serial)
{
	static const char digits[] = "0123456789abcdef";
	size_t n = (size_t)(serial->end - serial->p), o = 0;

	for (size_t i = 0; i < n && i < 32 && o + 3 < cap; i++) {
		out[o++] = digits[serial->p[i] >> 4];
		out[o++] = digits[serial->p[i] & 0xf];
	}
	out[o] = 0;
	if (n > 32 && o + 4 < cap)
		memcpy(out + o, "...", 4);
}

/* An OID's DER content in dotted form ("?" when it is not one). */
static void oid_text(char *out, size_t cap, const mutls_der_in *oid)
{
	unsigned long long arc = 0;
	size_t o = 0;
	int first = 1;

	out[0] = 0;
	for (const unsigned char *p = oid->p; p < oid->end && o + 24 < cap; p++) {
		if (arc >> 56) {
			snprintf(out, cap, "?");
			return;
		}
		arc = arc << 7 | (*p & 0x7f);
		if (*p & 0x80)
			continue;
		if (first)
			o += (size_t)snprintf(out + o, cap - o, "%llu.%llu", arc < 80 ? arc / 40 : 2,
				arc < 80 ? arc % 40 : arc - 80);
		else
			o += (size_t)snprintf(out + o, cap - o, ".%llu", arc);
		first = 0;
		arc = 0;
	}
	if (first || arc)
		snprintf(out, cap, "?");
}

/* 1 when the crlEntryExtensions ext (an Extensions SEQUENCE's content) hold
 * a critical extension, a certificateIssuer or the reason removeFromCRL
 * (why names it); -1 when they cannot be read. */
static int entry_extension_problem(char *why, size_t cap, const char *name, const char *serial,
	mutls_der_in ext)
{
	while (ext.p < ext.end) {
		mutls_der_in one, oid, field, value;
		unsigned char tag;
		int critical = 0;
		if (mutls__der_next(&ext, &tag, &one) < 0 || tag != 0x30 ||
		    mutls__der_next(&one, &tag, &oid) < 0 || tag != 0x06 ||
		    mutls__der_next(&one, &tag, &field) < 0)
			return -1;
		if (tag == 0x01) {
			critical = field.end - field.p == 1 && field.p[0] != 0;
			if (mutls__der_next(&one, &tag, &field) < 0)
				return -1;
		}
		if (tag != 0x04 || one.p != one.end)
			return -1;
		/* reasonCode (2.5.29.21 = 55 1d 15): ENUMERATED */
		if (oid.end - oid.p == 3 && memcmp(oid.p, "\x55\x1d\x15", 3) == 0 &&
		    mutls__der_next(&field, &tag, &value) == 0 && tag == 0x0a &&
		    value.end - value.p == 1 && value.p[0] == REASON_REMOVE_FROM_CRL) {
			snprintf(why, cap, "the CRL of %s cannot be used: its entry for serial %s has the "
				"reason removeFromCRL (meaningful in a delta CRL only; mutls uses complete "
				"CRLs only)", name, serial);
			return 1;
		}
		/* certificateIssuer (2.5.29.29 = 55 1d 1d; critical, as it must
		 * be, or not): the entry is another CA's certificate */
		if (oid.end - oid.p == 3 && memcmp(oid.p, "\x55\x1d\x1d", 3) == 0) {
			snprintf(why, cap, "the CRL of %s cannot be used: its entry for serial %s has a "
				"certificateIssuer extension (an indirect CRL, listing another CA's "
				"certificates; mutls uses direct CRLs only)", name, serial);
			return 1;
		}
		if (critical) {
			char dotted[128];
			oid_text(dotted, sizeof(dotted), &oid);
			snprintf(why, cap, "the CRL of %s cannot be used: its entry for serial %s has a "
				"critical extension mutls does not know (OID %s)", name, serial, dotted);
			return 1;
		}
	}
	return 0;
}

/* Why an entry of the CRL cannot be used (0 when none): GnuTLS reads no
 * entry extensions, so its DER is walked here. */
static int crl_entries_problem(char *why, size_t cap, const char *name, gnutls_x509_crl_t crl)
{
	gnutls_datum_t der = { NULL, 0 };
	mutls_der_in in, list, tbs, field;
	unsigned char tag;
	int rc = -1;

	if (gnutls_x509_crl_export2(crl, GNUTLS_X509_FMT_DER, &der) < 0)
		goto out;
	in.p = der.data;
	in.end = der.data + der.size;
	/* CertificateList { TBSCertList { [version], signature, issuer,
	 * thisUpdate, [nextUpdate], [revokedCertificates], [0] extensions } } */
	if (mutls__der_next(&in, &tag, &list) < 0 || tag != 0x30 ||
	    mutls__der_next(&list, &tag, &tbs) < 0 || tag != 0x30 ||
	    mutls__der_next(&tbs, &tag, &field) < 0)
		goto out;
	if (tag == 0x02 && mutls__der_next(&tbs, &tag, &field) < 0)   /* version */
		goto out;
	if (tag != 0x30 || mutls__der_next(&tbs, &tag, &field) < 0 || tag != 0x30 ||   /* issuer */
	    mutls__der_next(&tbs, &tag, &field) < 0 || (tag != 0x17 && tag != 0x18))   /* thisUpdate */
		goto out;
	rc = 0;
	if (tbs.p == tbs.end)
		goto out;
	if (mutls__der_next(&tbs, &tag, &field) < 0) {
		rc = -1;
		goto out;
	}
	if ((tag == 0x17 || tag == 0x18) && tbs.p < tbs.end &&   /* nextUpdate */
	    mutls__der_next(&tbs, &tag, &field) < 0) {
		rc = -1;
		goto out;
	}
	if (tag != 0x30)
		goto out;   /* no revoked certificates */
	while (rc == 0 && field.p < field.end) {
		mutls_der_in entry, serial, date, ext;
		char hex[80];
		if (mutls__der_next(&field, &tag, &entry) < 0 || tag != 0x30 ||
		    mutls__der_next(&entry, &tag, &serial) < 0 || tag != 0x02 ||
		    mutls__der_next(&entry, &tag, &date) < 0) {
			rc = -1;
			break;
		}
		/* GnuTLS matches serials byte for byte: a listed 00 12 34 (not
		 * DER) would never revoke the certificate whose serial is 12 34 */
		if (!mutls__der_integer_minimal(serial.p, (size_t)(serial.end - serial.p))) {
			entry_serial(hex, sizeof(hex), &serial);
			snprintf(why, cap, "the CRL of %s cannot be used: its entry for serial %s is not "
				"DER (%s), so it would match no certificate", name, hex,
				serial.end == serial.p ? "an empty number" : "a redundant leading byte");
			rc = 1;
			break;
		}
		if (entry.p == entry.end)
			continue;
		if (mutls__der_next(&entry, &tag, &ext) < 0 || tag != 0x30 || entry.p != entry.end) {
			rc = -1;
			break;
		}
		entry_serial(hex, sizeof(hex), &serial);
		rc = entry_extension_problem(why, cap, name, hex, ext);
	}
out:
	gnutls_free(der.data);
	if (rc < 0)
		snprintf(why, cap, "the CRL of %s cannot be used: its list of revoked certificates "
			"cannot be read", name);
	return rc != 0;
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
	if (crl_extension_problem(why, cap, name, crl) || crl_entries_problem(why, cap, name, crl))
		goto out;
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
