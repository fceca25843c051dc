/* Why a chain GnuTLS refused was refused: GnuTLS gives one status bit for
 * several causes; these name the certificate and the rule that broke
 * (verify.c calls them only after a refusal). */
#include "verify.h"

#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

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
		mutls__anchor_label(anchor_name, anchor_cap, *anchor);
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

/* GnuTLS refuses a chain under name constraints it cannot read (a subtree
 * of a kind it does not check, such as an otherName of an unknown type). */
static int cannot_be_checked(mutls_verdict *out, const char *who, const char *ca, char *detail,
	size_t cap)
{
	mutls__verdict_add(out, who, MUTLS_REASON_NAME_CONSTRAINTS,
		"has in its chain the CA certificate %s, whose name constraints cannot be "
		"checked (a subtree of a kind GnuTLS does not support, such as an otherName): "
		"refused rather than left unchecked", ca);
	snprintf(detail, cap, "the name constraints of CA %.200s cannot be checked (a "
		"subtree of an unsupported kind)", ca);
	return 1;
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
		unsigned critical = 0, unreadable = 0;
		/* the subtrees GnuTLS reads, when it cannot read them all */
		int rc = mutls__nc_read(&nc, cas[k], &critical, &unreadable);
		if (rc < 0) {
			if (nc)
				gnutls_x509_name_constraints_deinit(nc);
			if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
				continue;
			return cannot_be_checked(out, who, labels[k], detail, cap);
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
		/* GnuTLS refuses a leaf under any excluded directoryName subtree,
		 * and one with a URI under any excluded URI subtree, whatever its
		 * names (mutls checks both kinds itself: nc_names.c) */
		for (size_t t = 0; t < 2; t++) {
			unsigned kind = t == 0 ? GNUTLS_SAN_DN : GNUTLS_SAN_URI;
			if (gnutls_x509_name_constraints_check_crt(nc, kind, chain[0]->crt))
				continue;
			gnutls_x509_name_constraints_deinit(nc);
			mutls__verdict_add(out, who, MUTLS_REASON_NAME_CONSTRAINTS,
				"is under the name constraints of CA %s, which exclude %s subtrees: GnuTLS "
				"refuses every certificate %sunder such a CA, whether or not its names are "
				"inside them", labels[k], t == 0 ? "directoryName" : "URI",
				t == 0 ? "" : "with a URI ");
			snprintf(detail, cap, "the name constraints of CA %.200s exclude %s subtrees, which "
				"GnuTLS holds against every certificate below", labels[k],
				t == 0 ? "directoryName" : "URI");
			return 1;
		}
		gnutls_x509_name_constraints_deinit(nc);
		/* no name breaks the readable subtrees: what GnuTLS could not read
		 * is why (nc_unreadable.c verifies past it only when nothing below
		 * names that kind and no CA above has constraints of its own) */
		if (unreadable)
			return cannot_be_checked(out, who, labels[k], detail, cap);
	}
	return 0;
}

/*
 * GnuTLS reports a signer that is not a CA, a broken pathLenConstraint and
 * a name outside a CA's nameConstraints with the same two bits; this says
 * which, naming the CA and what broke its rule. Returns 1 when explained.
 */
int mutls__explain_signer_failure(mutls_verdict *out, const char *who, const mutls_config *cfg,
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
void mutls__explain_critical_extension(mutls_verdict *out, const char *who,
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

/* 1 when the sub-chain crts[i..n-1] is found revoked. With the flags of
 * the verification (verify.c): GnuTLS's date checks would run at the system
 * clock, and a chain expired by it never reaches GnuTLS's CRL step. */
static int revoked_from(const mutls_config *cfg, gnutls_x509_crt_t const *crts, size_t n, size_t i)
{
	unsigned status = 0;
	return gnutls_x509_trust_list_verify_crt2(cfg->tlist, (gnutls_x509_crt_t *)crts + i,
		(unsigned)(n - i), NULL, 0, GNUTLS_PROFILE_TO_VFLAGS(mutls__chain_profile(cfg)) |
		GNUTLS_VERIFY_DISABLE_TIME_CHECKS | GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS,
		&status, NULL) >= 0 && (status & GNUTLS_CERT_REVOKED);
}

/*
 * The revoked certificate of a chain GnuTLS found revoked (the leaf or a CA
 * above it): the highest i whose sub-chain crts[i..] is still revoked. That
 * is true up to the revoked certificate and false above it, so a binary
 * search finds it in log2(n) verifications (only after a refusal). 0 when
 * it cannot tell (then the leaf is named, as GnuTLS would).
 */
size_t mutls__revoked_position(const mutls_config *cfg, gnutls_x509_crt_t const *crts, size_t n)
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
