/* mutls's own checks of a chain, on top of GnuTLS's path validation: where
 * GnuTLS is wrong or silent (docs/design.md, "Profiles"). Each failed check
 * adds its reason and one sentence naming the certificate to the verdict.
 *
 * The path is the chain GnuTLS follows: the leaf, the presented issuers up
 * to the first one a trust anchor issued (or that is one), and that anchor.
 */
#include "verify.h"
#include "der.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* ---- the path ------------------------------------------------------------ */

/* anchor is cert (compared on DER; only a self-issued cert can be the
 * anchor that issued it). gnutls_x509_crt_equals compares rendered DNs:
 * tens of milliseconds for a hostile one. */
static int same_certificate(gnutls_x509_crt_t anchor, const mutls_x509 *cert)
{
	gnutls_datum_t der = { NULL, 0 };
	int same;
	if (!mutls__crt_self_issued(cert->crt) || gnutls_x509_crt_export2(anchor, GNUTLS_X509_FMT_DER, &der) < 0)
		return 0;
	same = der.size == cert->der.size && memcmp(der.data, cert->der.data, der.size) == 0;
	gnutls_free(der.data);
	return same;
}

/* Fills p with chain[idx[0..len-1]], then the anchor (a copy) unless the
 * last one is itself a trusted certificate. */
static void path_fill(mutls_path *p, mutls_x509 *const *chain, const size_t *idx, size_t len,
	gnutls_x509_crt_t anchor, int anchored)
{
	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < len; i++) {
		p->crt[p->n] = chain[idx[i]]->crt;
		p->label[p->n++] = chain[idx[i]]->label;
	}
	p->anchored = anchored;
	if (!anchor)
		return;
	if (same_certificate(anchor, chain[idx[len - 1]])) {
		p->anchor_in_chain = 1; /* a trusted self-signed cert: the anchor */
		return;
	}
	{
		size_t size = sizeof(p->anchor_label) - 3;
		memcpy(p->anchor_label, "CN=", 4);
		if (gnutls_x509_crt_get_dn_by_oid(anchor, GNUTLS_OID_X520_COMMON_NAME, 0, 0,
				p->anchor_label + 3, &size) < 0)
			snprintf(p->anchor_label, sizeof(p->anchor_label), "(the trust anchor)");
		mutls__escape_controls(p->anchor_label, sizeof(p->anchor_label));
	}
	p->anchor = anchor;
	p->crt[p->n] = anchor;
	p->label[p->n++] = p->anchor_label;
}

typedef struct {
	const mutls_config *cfg;
	mutls_x509 *const *chain;
	size_t n;
	size_t idx[MUTLS_PATH_MAX];
	unsigned char used[MUTLS_PATH_MAX];
	mutls_path *out;
	size_t cap, found;
	unsigned visits;
} path_search;

/* Depth-first over the presented issuers: every path that reaches a trust
 * anchor (at most cap of them, and at most 64 steps in all). */
static void path_dfs(path_search *ps, size_t len)
{
	size_t cur = ps->idx[len - 1];
	gnutls_x509_crt_t anchor = NULL;

	if (ps->found == ps->cap || ++ps->visits > 64 || len >= MUTLS_PATH_MAX - 1)
		return;
	/* not a copy: the frozen config's trust list owns it (a copy re-parses
	 * the anchor, milliseconds for one with thousands of constraints); a
	 * PKCS#11 trust list gives only copies */
	if (gnutls_x509_trust_list_get_issuer(ps->cfg->tlist, ps->chain[cur]->crt, &anchor, 0) >= 0) {
		path_fill(&ps->out[ps->found++], ps->chain, ps->idx, len, anchor, 1);
		return;
	}
	if (gnutls_x509_trust_list_get_issuer(ps->cfg->tlist, ps->chain[cur]->crt, &anchor,
			GNUTLS_TL_GET_COPY) >= 0) {
		mutls_path *p = &ps->out[ps->found++];
		path_fill(p, ps->chain, ps->idx, len, anchor, 1);
		if (p->anchor == anchor)
			p->anchor_owned = 1;
		else
			gnutls_x509_crt_deinit(anchor);
		return;
	}
	for (size_t i = 1; i < ps->n && ps->found < ps->cap; i++) {
		if (ps->used[i] || !gnutls_x509_crt_check_issuer(ps->chain[cur]->crt, ps->chain[i]->crt))
			continue;
		ps->used[i] = 1;
		ps->idx[len] = i;
		path_dfs(ps, len + 1);
		ps->used[i] = 0;
	}
}

size_t mutls__paths_build(mutls_path *out, size_t cap, const mutls_config *cfg,
	mutls_x509 *const *chain, size_t n)
{
	path_search ps;

	memset(&ps, 0, sizeof(ps));
	ps.cfg = cfg;
	ps.chain = chain;
	ps.n = n > MUTLS_PATH_MAX ? MUTLS_PATH_MAX : n;
	ps.out = out;
	ps.cap = cap;
	ps.idx[0] = 0;
	ps.used[0] = 1;
	path_dfs(&ps, 1);
	if (ps.found == 0) {
		/* no trust anchor reached: the leaf and its presented issuers, greedily */
		size_t len = 1;
		while (len < ps.n) {
			size_t next = ps.n;
			for (size_t i = 1; i < ps.n && next == ps.n; i++)
				if (!ps.used[i] && gnutls_x509_crt_check_issuer(chain[ps.idx[len - 1]]->crt,
						chain[i]->crt))
					next = i;
			if (next == ps.n)
				break;
			ps.used[next] = 1;
			ps.idx[len++] = next;
		}
		path_fill(&out[0], chain, ps.idx, len, NULL, 0);
		return 1;
	}
	return ps.found;
}

void mutls__path_free(mutls_path *p)
{
	if (p->anchor && p->anchor_owned)
		gnutls_x509_crt_deinit(p->anchor);
	p->anchor = NULL; /* else borrowed from the trust list */
	p->anchor_owned = 0;
}

/* ---- name constraints: bounded work, well-formed ------------------------ */

/* More subtrees than this in the CAs of one path, or more names than this in
 * one certificate under a constrained CA, is refused before any name is
 * compared: a hostile chain cannot cost more than a few milliseconds. */
#define NC_MAX_SUBTREES 1024
#define NC_MAX_NAMES 1024

/* Number of subjectAltNames of crt (counted on the DER, not parsed one by one). */
static long san_count(gnutls_x509_crt_t crt)
{
	gnutls_datum_t v;
	mutls_der_in in, seq, item;
	unsigned char tag;
	long count = 0;

	if (!mutls__crt_extension(crt, "2.5.29.17", NULL, &v))
		return 0;
	in.p = v.data;
	in.end = v.data + v.size;
	if (mutls__der_next(&in, &tag, &seq) == 0 && tag == 0x30)
		while (seq.p < seq.end && mutls__der_next(&seq, &tag, &item) == 0)
			count++;
	gnutls_free(v.data);
	return count;
}

int mutls__path_too_costly(char *why, size_t cap, const mutls_path *p)
{
	long subtrees = 0;

	for (size_t k = 1; k < p->n; k++) {
		gnutls_datum_t v;
		long here;
		if (!mutls__crt_extension(p->crt[k], "2.5.29.30", NULL, &v))
			continue;
		here = mutls__nc_subtree_count(&v);
		gnutls_free(v.data);
		if (here < 0) {
			snprintf(why, cap, "has in its chain the CA certificate %s with malformed name "
				"constraints (lists of subtrees empty, missing, repeated or out of order, "
				"or a subtree of no known form; an email subtree is a mailbox, a host or "
				"a .domain)", p->label[k]);
			return 1;
		}
		subtrees += here;
	}
	if (subtrees == 0)
		return 0;
	if (subtrees > NC_MAX_SUBTREES) {
		snprintf(why, cap, "has CAs in its chain with %ld name constraints in all, more than the "
			"%d mutls checks", subtrees, NC_MAX_SUBTREES);
		return 1;
	}
	for (size_t j = 0; j + 1 < p->n; j++) {
		long names = san_count(p->crt[j]);
		if (names > NC_MAX_NAMES) {
			snprintf(why, cap, "has in its chain %s with %ld subjectAltNames under name "
				"constraints, more than the %d mutls checks", p->label[j], names, NC_MAX_NAMES);
			return 1;
		}
	}
	return 0;
}

/* ---- helpers ---------------------------------------------------------------- */


int mutls__path_ca_rules_ok(const mutls_path *p)
{
	for (size_t k = 1; k < p->n; k++) {
		unsigned critical = 0, ca = 0, usage = 0;
		int pathlen = -1, below = 0;
		if (gnutls_x509_crt_get_basic_constraints(p->crt[k], &critical, &ca, &pathlen) < 0 || !ca)
			return 0;
		if (gnutls_x509_crt_get_key_usage(p->crt[k], &usage, &critical) >= 0 &&
		    !(usage & GNUTLS_KEY_KEY_CERT_SIGN))
			return 0;
		if (pathlen < 0)
			continue;
		/* RFC 5280 6.1.4 (l): self-issued CAs below do not count */
		for (size_t j = 1; j < k; j++)
			if (!mutls__crt_self_issued(p->crt[j]))
				below++;
		if (below > pathlen)
			return 0;
	}
	return 1;
}

int mutls__crt_self_issued(gnutls_x509_crt_t crt)
{
	gnutls_datum_t a = { NULL, 0 }, b = { NULL, 0 };
	int same = 0;
	if (gnutls_x509_crt_get_raw_dn(crt, &a) >= 0 && gnutls_x509_crt_get_raw_issuer_dn(crt, &b) >= 0)
		same = a.size == b.size && memcmp(a.data, b.data, a.size) == 0;
	gnutls_free(a.data);
	gnutls_free(b.data);
	return same;
}

/* Self-signed, as far as the key identifiers tell: self-issued, and a trust
 * anchor, or with no authority key identifier or one equal to its subject
 * key identifier (a self-issued CA with another key is a key rollover). */
static int is_self_signed(gnutls_x509_crt_t crt, int is_anchor)
{
	unsigned char aki[64], ski[64];
	size_t asize = sizeof(aki), ssize = sizeof(ski);
	if (!mutls__crt_self_issued(crt))
		return 0;
	if (is_anchor || gnutls_x509_crt_get_authority_key_id(crt, aki, &asize, NULL) < 0)
		return 1;
	return gnutls_x509_crt_get_subject_key_id(crt, ski, &ssize, NULL) >= 0 && asize == ssize &&
		memcmp(aki, ski, asize) == 0;
}

/* A DNS name as a certificate may carry it: LDH labels, or "*." first. */
static int dns_syntax_ok(const char *s, size_t len, int allow_wildcard, int allow_underscore)
{
	size_t label = 0;
	if (len == 0 || len > 253)
		return 0;
	if (allow_wildcard && len > 2 && s[0] == '*' && s[1] == '.') {
		s += 2;
		len -= 2;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			     c == '-' || (allow_underscore && c == '_')) || ++label > 63) {
			return 0;
		}
	}
	return label > 0;
}

static int email_syntax_ok(const char *s, size_t len)
{
	const char *at = memchr(s, '@', len);
	if (!at || at == s || memchr(at + 1, '@', len - (size_t)(at - s) - 1))
		return 0;
	for (const char *q = s; q < at; q++)
		if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f)
			return 0;
	return dns_syntax_ok(at + 1, len - (size_t)(at - s) - 1, 0, 0);
}

/* ---- the checks ------------------------------------------------------------- */

#define FAIL(reason, ...) do { \
	mutls__verdict_add(out, who, reason, __VA_ARGS__); \
	snprintf(detail, cap, __VA_ARGS__); \
	return 1; } while (0)

/* "" for the leaf, "has in its chain the CA certificate X, which" otherwise */
#define WHO_K(k) ((k) == 0 ? "" : "has in its chain the CA certificate "), \
	((k) == 0 ? "" : p->label[k]), ((k) == 0 ? "" : ", which ")

/* Name constraints where GnuTLS is silent: the CAs' own subjectAltNames
 * (GnuTLS checks only the leaf's), a wildcard SAN that reaches into an
 * excluded subtree, malformed names under constraints, and nameConstraints
 * in a certificate that is not a CA. */
/* The kind of crt's subjectAltName number i, however long it is: 0, or
 * GnuTLS's error. */
static int san_kind_at(gnutls_x509_crt_t crt, unsigned i, unsigned *type)
{
	size_t size = 0;
	char *value;
	int rc = gnutls_x509_crt_get_subject_alt_name2(crt, i, NULL, &size, type, NULL);

	if (rc != GNUTLS_E_SHORT_MEMORY_BUFFER)
		return rc < 0 ? rc : 0;
	if (!(value = malloc(size + 1)))
		return GNUTLS_E_MEMORY_ERROR;
	rc = gnutls_x509_crt_get_subject_alt_name2(crt, i, value, &size, type, NULL);
	free(value);
	return rc < 0 ? rc : 0;
}

static int check_name_constraints2(mutls_verdict *out, const char *who, const mutls_path *p,
	char *detail, size_t cap)
{
	char buf[512];

	if (mutls__crt_extension(p->crt[0], "2.5.29.30", NULL, NULL)) {
		unsigned critical = 0, ca = 0;
		int pathlen = -1;
		if (gnutls_x509_crt_get_basic_constraints(p->crt[0], &critical, &ca, &pathlen) < 0 || !ca)
			FAIL(MUTLS_REASON_NAME_CONSTRAINTS, "has name constraints but is not a CA "
				"(only a CA certificate may carry them)");
	}
	long budget = mutls__nc_work_budget();

	for (size_t k = 1; k < p->n; k++) {
		gnutls_x509_name_constraints_t nc = NULL;
		gnutls_datum_t der;
		unsigned critical = 0;
		if (!mutls__crt_extension(p->crt[k], "2.5.29.30", NULL, &der))
			continue;
		/* on every path, not only the first (mutls__path_too_costly) */
		if (mutls__nc_subtree_count(&der) < 0) {
			gnutls_free(der.data);
			FAIL(MUTLS_REASON_NAME_CONSTRAINTS, "has in its chain the CA certificate %s with "
				"malformed name constraints", p->label[k]);
		}
		/* URI and directoryName subtrees: GnuTLS reads them, mutls enforces
		 * them; IP ones: GnuTLS holds an address against its own length only */
		for (size_t j = 0; j < k; j++) {
			char why[700];
			if ((j > 0 && mutls__crt_self_issued(p->crt[j])) ||
			    !mutls__nc_check_names(why, sizeof(why), &der, p->crt[j], p->label[k], &budget))
				continue;
			gnutls_free(der.data);
			FAIL(MUTLS_REASON_NAME_CONSTRAINTS, "%s%s%s%s", WHO_K(j), why);
		}
		gnutls_free(der.data);
		if (mutls__nc_read(&nc, p->crt[k], &critical, NULL) < 0) {
			if (nc)
				gnutls_x509_name_constraints_deinit(nc);
			continue;
		}
		for (size_t j = 0; j < k; j++) {
			/* RFC 5280 6.1.3 (b): self-issued CAs below are not constrained */
			if (j > 0 && mutls__crt_self_issued(p->crt[j]))
				continue;
			for (unsigned i = 0; i < NC_MAX_NAMES; i++) {
				size_t size = sizeof(buf) - 1;
				unsigned type;
				gnutls_datum_t name;
				int rc = gnutls_x509_crt_get_subject_alt_name2(p->crt[j], i, buf, &size, &type, NULL);
				if (rc == GNUTLS_E_SHORT_MEMORY_BUFFER) {
					/* longer than any DNS name or mailbox (253, 254 bytes): of
					 * those kinds, not one under constraints; others are
					 * nc_names.c's (URI, directoryName) or unconstrained */
					if (san_kind_at(p->crt[j], i, &type) == 0 && (type == GNUTLS_SAN_DNSNAME ||
					    type == GNUTLS_SAN_RFC822NAME || type == GNUTLS_SAN_IPADDRESS)) {
						gnutls_x509_name_constraints_deinit(nc);
						FAIL(MUTLS_REASON_NAME_CONSTRAINTS, "%s%s%shas a %s subjectAltName "
							"of %zu bytes, which is not one, under the name constraints of "
							"CA %s", WHO_K(j), type == GNUTLS_SAN_DNSNAME ? "DNS name" :
							type == GNUTLS_SAN_RFC822NAME ? "email address" : "IP address",
							size - 1 /* GnuTLS counts the NUL it would write */, p->label[k]);
					}
					continue;
				}
				if (rc < 0)
					break;
				buf[size] = 0;
				name.data = (unsigned char *)buf;
				name.size = (unsigned)size;
				if (type == GNUTLS_SAN_DNSNAME && !dns_syntax_ok(buf, size, j == 0, 1)) {
					gnutls_x509_name_constraints_deinit(nc);
					mutls__escape_controls(buf, sizeof(buf));
					FAIL(MUTLS_REASON_NAME_CONSTRAINTS, "%s%s%snames DNS:%s, which is not a DNS "
						"name, under the name constraints of CA %s", WHO_K(j), buf, p->label[k]);
				}
				if (type == GNUTLS_SAN_IPADDRESS && size != 4 && size != 16) {
					gnutls_x509_name_constraints_deinit(nc);
					FAIL(MUTLS_REASON_NAME_CONSTRAINTS, "%s%s%shas an IP subjectAltName of %zu "
						"bytes (not an address), under the name constraints of CA %s",
						WHO_K(j), size, p->label[k]);
				}
				if (type == GNUTLS_SAN_RFC822NAME && !email_syntax_ok(buf, size)) {
					gnutls_x509_name_constraints_deinit(nc);
					mutls__escape_controls(buf, sizeof(buf));
					FAIL(MUTLS_REASON_NAME_CONSTRAINTS, "%s%s%snames email:%s, which is not an "
						"email address, under the name constraints of CA %s", WHO_K(j), buf,
						p->label[k]);
				}
				if (j > 0 && (type == GNUTLS_SAN_DNSNAME || type == GNUTLS_SAN_IPADDRESS ||
				    type == GNUTLS_SAN_RFC822NAME) && !gnutls_x509_name_constraints_check(nc, type, &name)) {
					gnutls_x509_name_constraints_deinit(nc);
					mutls__escape_controls(buf, sizeof(buf));
					FAIL(MUTLS_REASON_NAME_CONSTRAINTS, "has in its chain the CA certificate %s "
						"naming %s%s, which the name constraints of CA %s do not allow",
						p->label[j], type == GNUTLS_SAN_DNSNAME ? "DNS:" : type ==
						GNUTLS_SAN_RFC822NAME ? "email:" : "an IP address", type ==
						GNUTLS_SAN_IPADDRESS ? "" : buf, p->label[k]);
				}
				/* "*.example.com" can name anything one label below example.com:
				 * refused when an excluded subtree lies there */
				if (type == GNUTLS_SAN_DNSNAME && size > 2 && buf[0] == '*' && buf[1] == '.') {
					const char *base = buf + 2;
					size_t blen = size - 2;
					unsigned etype;
					gnutls_datum_t ex;
					for (unsigned e = 0; gnutls_x509_name_constraints_get_excluded(nc, e, &etype,
							&ex) >= 0; e++) {
						const char *d = (const char *)ex.data;
						size_t dl = ex.size;
						if (etype != GNUTLS_SAN_DNSNAME)
							continue;
						if (dl && d[0] == '.') {
							d++;
							dl--;
						}
						if ((dl == blen && strncasecmp(d, base, blen) == 0) ||
						    (dl > blen && d[dl - blen - 1] == '.' &&
						     strncasecmp(d + dl - blen, base, blen) == 0)) {
							char excluded[300];
							snprintf(excluded, sizeof(excluded), "%.*s", (int)(ex.size > 250 ?
								250 : ex.size), (const char *)ex.data);
							gnutls_x509_name_constraints_deinit(nc);
							mutls__escape_controls(buf, sizeof(buf));
							mutls__escape_controls(excluded, sizeof(excluded));
							FAIL(MUTLS_REASON_NAME_CONSTRAINTS, "%s%s%snames DNS:%s, a wildcard "
								"that covers DNS:%s, which the name constraints of CA %s "
								"exclude", WHO_K(j), buf, excluded, p->label[k]);
						}
					}
				}
			}
		}
		gnutls_x509_name_constraints_deinit(nc);
	}
	return 0;
}

/* CA certificates between the leaf and the anchor, self-issued ones not counted. */
static int check_depth(mutls_verdict *out, const char *who, const mutls_path *p, int max_depth,
	char *detail, size_t cap)
{
	int depth = 0;
	size_t top = p->anchored ? p->n - 1 : p->n;
	if (max_depth < 0)
		return 0;
	for (size_t k = 1; k < top; k++)
		if (!mutls__crt_self_issued(p->crt[k]))
			depth++;
	if (depth > max_depth)
		FAIL(MUTLS_REASON_PATH_LENGTH, "has %d CA certificate%s between it and the trust anchor; "
			"max_chain_depth allows %d", depth, depth == 1 ? "" : "s", max_depth);
	return 0;
}

int mutls__name_is_ip(const char *hostname)
{
	return strchr(hostname, ':') != NULL || strspn(hostname, "0123456789.") == strlen(hostname);
}

/* An extendedKeyUsage extension that lists nothing. */
static int check_eku_empty(mutls_verdict *out, const char *who, const mutls_path *p,
	char *detail, size_t cap)
{
	for (size_t k = 0; k < p->n; k++) {
		gnutls_datum_t v;
		int empty;
		if (!mutls__crt_extension(p->crt[k], "2.5.29.37", NULL, &v))
			continue;
		empty = v.size == 2 && v.data[0] == 0x30 && v.data[1] == 0;
		gnutls_free(v.data);
		if (empty)
			FAIL(MUTLS_REASON_BAD_PURPOSE, "%s%s%shas an empty extended key usage (it allows "
				"no purpose at all)", WHO_K(k));
	}
	return 0;
}

/* Every CA of the path (its trust anchor too) says it is one; no DSA key. */
static int check_cas_and_keys(mutls_verdict *out, const char *who, const mutls_path *p,
	char *detail, size_t cap)
{
	for (size_t k = 0; k < p->n; k++) {
		unsigned critical = 0, ca = 0;
		int pathlen = -1;
		char oid[64];
		size_t osize = sizeof(oid);
		/* the key's OID: cheaper than gnutls_x509_crt_get_pk_algorithm */
		if (gnutls_x509_crt_get_pk_oid(p->crt[k], oid, &osize) >= 0 &&
		    strcmp(oid, "1.2.840.10040.4.1") == 0)
			FAIL(MUTLS_REASON_INSECURE_ALGORITHM, "%s%s%shas a DSA key (DSA is not accepted)",
				WHO_K(k));
		if (k > 0 && gnutls_x509_crt_get_basic_constraints(p->crt[k], &critical, &ca, &pathlen) < 0)
			FAIL(MUTLS_REASON_SIGNER_NOT_CA, "%s%s%shas no basic constraints, so it is not a CA "
				"(a CA certificate must say CA:TRUE)", WHO_K(k));
		if (k == 0) {
			unsigned usage = 0, ucrit = 0;
			int has_bc = gnutls_x509_crt_get_basic_constraints(p->crt[0], &critical, &ca,
				&pathlen) >= 0;
			if ((!has_bc || !ca) && gnutls_x509_crt_get_key_usage(p->crt[0], &usage, &ucrit) >= 0 &&
			    (usage & GNUTLS_KEY_KEY_CERT_SIGN))
				FAIL(MUTLS_REASON_BAD_PURPOSE, "may sign certificates (keyCertSign in its key "
					"usage) but is not a CA (RFC 5280: keyCertSign only with CA:TRUE)");
		}
	}
	return 0;
}

/* A serialNumber INTEGER that is not minimally encoded: a leading 00
 * before a byte below 0x80, or ff before one from 0x80 (or none at all). */
static int serial_not_der(gnutls_x509_crt_t crt)
{
	unsigned char local[64], *serial = local;
	size_t size = sizeof(local);
	int rc = gnutls_x509_crt_get_serial(crt, serial, &size), bad;

	if (rc == GNUTLS_E_SHORT_MEMORY_BUFFER && (serial = malloc(size)) != NULL)
		rc = gnutls_x509_crt_get_serial(crt, serial, &size);
	bad = rc >= 0 && !mutls__der_integer_minimal(serial, size);
	if (serial != local)
		free(serial);
	return bad;
}

/* Rules of the certificates' profile that the default holds too: no tool a
 * private PKI uses (openssl's defaults, cfssl, step-ca, Vault, SPIRE, the
 * test PKI) breaks them (docs/design.md, "Profiles"). A leaf whose
 * extendedKeyUsage has anyExtendedKeyUsage, a self-signed trust anchor with
 * an extendedKeyUsage, an RSA modulus that is not a whole number of bytes, a
 * serial number that is not DER. */
static int check_default_profile(mutls_verdict *out, const char *who, const mutls_path *p,
	char *detail, size_t cap)
{
	for (size_t k = 0; k < p->n; k++) {
		char oid[64];
		size_t osize = sizeof(oid);
		/* GnuTLS matches a serial to a CRL entry byte for byte: 00 12 34
		 * (not DER) would never match 12 34 on the CRL. A trust anchor is
		 * taken as configured. */
		if (!(p->anchored && k == p->n - 1) && serial_not_der(p->crt[k]))
			FAIL(MUTLS_REASON_NONCONFORMING, "%s%s%shas a serial number that is not DER (a "
				"redundant leading byte), so revocation lists could not be matched against it",
				WHO_K(k));
		if (gnutls_x509_crt_get_pk_oid(p->crt[k], oid, &osize) >= 0 &&
		    (strcmp(oid, "1.2.840.113549.1.1.1") == 0 || strcmp(oid, "1.2.840.113549.1.1.10") == 0)) {
			unsigned bits = 0;
			gnutls_x509_crt_get_pk_algorithm(p->crt[k], &bits);
			if (bits % 8)
				FAIL(MUTLS_REASON_INSECURE_ALGORITHM, "%s%s%shas an RSA key of %u bits (not a "
					"whole number of bytes; the CA/B Forum asks a multiple of 8)", WHO_K(k), bits);
		}
		if (!mutls__crt_extension(p->crt[k], "2.5.29.37", NULL, NULL))
			continue;
		if (k == 0) {
			for (unsigned i = 0; ; i++) {
				osize = sizeof(oid);
				if (gnutls_x509_crt_get_key_purpose_oid(p->crt[0], i, oid, &osize, NULL) < 0)
					break;
				if (strcmp(oid, GNUTLS_KP_ANY) == 0)
					FAIL(MUTLS_REASON_BAD_PURPOSE, "has the extended key usage "
						"anyExtendedKeyUsage (a leaf must name its purposes, not allow all)");
			}
		} else if (p->anchored && k == p->n - 1 && is_self_signed(p->crt[k], 1)) {
			FAIL(MUTLS_REASON_BAD_PURPOSE, "%s%s%sis a root with an extended key usage (a root "
				"must not restrict or grant purposes; its CAs and leaves do)", WHO_K(k));
		}
	}
	return 0;
}

/* A DNS name constraint with a leading period (".example.com") is not the
 * form RFC 5280 gives DNS constraints (that is for email and URI ones). */
static int check_dns_constraint_form(mutls_verdict *out, const char *who, const mutls_path *p,
	char *detail, size_t cap)
{
	for (size_t k = 1; k < p->n; k++) {
		gnutls_x509_name_constraints_t nc = NULL;
		unsigned critical = 0, type;
		gnutls_datum_t name;
		int bad = 0;
		if (!mutls__crt_extension(p->crt[k], "2.5.29.30", NULL, NULL))
			continue;
		if (mutls__nc_read(&nc, p->crt[k], &critical, NULL) >= 0) {
			for (unsigned i = 0; !bad && gnutls_x509_name_constraints_get_permitted(nc, i, &type,
					&name) >= 0; i++)
				bad = type == GNUTLS_SAN_DNSNAME && name.size && name.data[0] == '.';
			for (unsigned i = 0; !bad && gnutls_x509_name_constraints_get_excluded(nc, i, &type,
					&name) >= 0; i++)
				bad = type == GNUTLS_SAN_DNSNAME && name.size && name.data[0] == '.';
		}
		if (nc)
			gnutls_x509_name_constraints_deinit(nc);
		if (bad)
			FAIL(MUTLS_REASON_NONCONFORMING, "has in its chain the CA certificate %s, whose DNS "
				"name constraints start with a period (RFC 5280 gives them as a domain name)",
				p->label[k]);
	}
	return 0;
}

/* ---- strict: RFC 5280 and CA/B Forum MUSTs -------------------------------- */

static int serial_problem(char *why, size_t cap, gnutls_x509_crt_t crt)
{
	unsigned char serial[64];
	size_t size = sizeof(serial);
	int zero = 1;
	if (gnutls_x509_crt_get_serial(crt, serial, &size) < 0) {
		snprintf(why, cap, "a serial number longer than 20 bytes");
		return 1;
	}
	if (size > 20) {
		snprintf(why, cap, "a serial number of %zu bytes (at most 20 are allowed)", size);
		return 1;
	}
	if (size && (serial[0] & 0x80)) {
		snprintf(why, cap, "a negative serial number");
		return 1;
	}
	for (size_t i = 0; i < size; i++)
		zero &= serial[i] == 0;
	if (zero) {
		snprintf(why, cap, "the serial number 0");
		return 1;
	}
	return 0;
}

/* The CA/B Forum's rule on a leaf's common name, where it can be told
 * without an IDNA table: a CN that names the same IP address as an IP SAN
 * must be written in its canonical form (dotted decimal, RFC 5952), and a
 * CN equal to a DNS SAN but for case must be a character-for-character
 * copy. (A CN naming nothing among the SANs is not refused: old private
 * PKIs put a service name there.) */
static int cn_form_problem(char *why, size_t cap, gnutls_x509_crt_t crt)
{
	char cn[256], buf[256], text[64];
	unsigned char addr[16];
	size_t size = sizeof(cn);
	int family = 0;

	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &size) < 0)
		return 0;
	if (strchr(cn, ':') && inet_pton(AF_INET6, cn, addr) == 1)
		family = AF_INET6;
	else if (!strchr(cn, ':') && inet_aton(cn, (struct in_addr *)addr))
		family = AF_INET;
	for (unsigned i = 0; i < NC_MAX_NAMES; i++) {
		size_t bs = sizeof(buf) - 1;
		unsigned type;
		int rc = gnutls_x509_crt_get_subject_alt_name2(crt, i, buf, &bs, &type, NULL);
		if (rc == GNUTLS_E_SHORT_MEMORY_BUFFER)
			continue;
		if (rc < 0)
			break;
		buf[bs] = 0;
		if (family && type == GNUTLS_SAN_IPADDRESS && bs == (family == AF_INET ? 4u : 16u) &&
		    memcmp(buf, addr, bs) == 0 && inet_ntop(family, addr, text, sizeof(text)) &&
		    strcmp(text, cn) != 0) {
			mutls__escape_controls(cn, sizeof(cn));
			snprintf(why, cap, "the common name %.80s, which is the IP subjectAltName %s not "
				"in its canonical form", cn, text);
			return 1;
		}
		if (type == GNUTLS_SAN_DNSNAME && bs == strlen(cn) && strcasecmp(buf, cn) == 0 &&
		    strcmp(buf, cn) != 0) {
			mutls__escape_controls(cn, sizeof(cn));
			mutls__escape_controls(buf, sizeof(buf));
			snprintf(why, cap, "the common name %.80s, which is the DNS subjectAltName %.80s "
				"in another case", cn, buf);
			return 1;
		}
	}
	return 0;
}

static int check_strict(mutls_verdict *out, const char *who, const mutls_path *p,
	char *detail, size_t cap)
{
	char why[256];
	for (size_t k = 0; k < p->n; k++) {
		gnutls_x509_crt_t crt = p->crt[k];
		unsigned critical = 0, ca = 0;
		int pathlen = -1, has_bc, self_signed;
		int is_anchor = p->anchored && k == p->n - 1;
		unsigned char id[64];
		size_t idsize = sizeof(id);
		gnutls_datum_t v, dn = { NULL, 0 };

		has_bc = gnutls_x509_crt_get_basic_constraints(crt, &critical, &ca, &pathlen) >= 0;
		self_signed = is_self_signed(crt, is_anchor);
		if (!is_anchor && gnutls_x509_crt_get_version(crt) != 3)
			FAIL(MUTLS_REASON_NONCONFORMING, "%s%s%sis an X.509 version %d certificate (version 3 "
				"is required)", WHO_K(k), gnutls_x509_crt_get_version(crt));
		if (!is_anchor && serial_problem(why, sizeof(why), crt))
			FAIL(MUTLS_REASON_NONCONFORMING, "%s%s%shas %s", WHO_K(k), why);
		if (k > 0) {
			/* a CA: basicConstraints present, critical; a subject; a key identifier */
			if (!critical)
				FAIL(MUTLS_REASON_NONCONFORMING, "%s%s%shas basic constraints not marked "
					"critical", WHO_K(k));
			if (gnutls_x509_crt_get_raw_dn(crt, &dn) >= 0 && dn.size <= 2) {
				gnutls_free(dn.data);
				FAIL(MUTLS_REASON_NONCONFORMING, "%s%s%shas an empty subject (a CA must have a "
					"name)", WHO_K(k));
			}
			gnutls_free(dn.data);
			if (gnutls_x509_crt_get_subject_key_id(crt, id, &idsize, &critical) < 0)
				FAIL(MUTLS_REASON_NONCONFORMING, "%s%s%shas no subject key identifier",
					WHO_K(k));
			/* (a self-signed anchor with one: check_default_profile) */
			if (mutls__crt_extension(crt, "2.5.29.37", NULL, NULL) && is_anchor)
				FAIL(MUTLS_REASON_NONCONFORMING, "%s%s%sis a trust anchor with an extended key "
					"usage (a root must not have one)", WHO_K(k));
		} else {
			if (has_bc && ca)
				FAIL(MUTLS_REASON_NONCONFORMING, "is a CA certificate (CA:TRUE) used as a leaf");
			if (!mutls__crt_extension(crt, "2.5.29.37", &critical, &v))
				FAIL(MUTLS_REASON_NONCONFORMING, "has no extended key usage (a leaf must name "
					"its purpose)");
			gnutls_free(v.data);
			/* (anyExtendedKeyUsage: check_default_profile) */
			if (critical)
				FAIL(MUTLS_REASON_NONCONFORMING, "has an extended key usage marked critical");
		}
		/* authorityKeyIdentifier: in every certificate not self-signed; never
		 * critical; in a root only as a keyIdentifier equal to its own */
		if (mutls__crt_extension(crt, "2.5.29.35", &critical, &v)) {
			mutls_der_in in = { v.data, v.data + v.size }, seq, f;
			unsigned char tag;
			int has_kid = 0, other = 0;
			if (mutls__der_next(&in, &tag, &seq) == 0 && tag == 0x30)
				while (seq.p < seq.end && mutls__der_next(&seq, &tag, &f) == 0) {
					if (tag == 0x80)
						has_kid = 1;
					else
						other = 1;
				}
			gnutls_free(v.data);
			if (critical)
				FAIL(MUTLS_REASON_NONCONFORMING, "%s%s%shas an authority key identifier marked "
					"critical", WHO_K(k));
			if (self_signed && (k > 0) && (!has_kid || other))
				FAIL(MUTLS_REASON_NONCONFORMING, "%s%s%shas an authority key identifier without "
					"a keyIdentifier, or with issuer and serial fields", WHO_K(k));
			if (self_signed && k > 0) {
				unsigned char aki[64];
				size_t asize = sizeof(aki);
				idsize = sizeof(id);
				if (gnutls_x509_crt_get_authority_key_id(crt, aki, &asize, NULL) >= 0 &&
				    gnutls_x509_crt_get_subject_key_id(crt, id, &idsize, NULL) >= 0 &&
				    (asize != idsize || memcmp(aki, id, asize) != 0))
					FAIL(MUTLS_REASON_NONCONFORMING, "%s%s%shas an authority key identifier "
						"that is not its own subject key identifier", WHO_K(k));
			}
		} else if (!mutls__crt_self_issued(crt) && !is_anchor) {
			/* (a trust anchor is taken as configured, whoever issued it) */
			FAIL(MUTLS_REASON_NONCONFORMING, "%s%s%shas no authority key identifier", WHO_K(k));
		}
		/* criticality; nameConstraints may be non-critical: the CA/B Forum's
		 * TLS profile allows it as an explicit exception to RFC 5280, and
		 * GnuTLS and mutls enforce them either way (design.md, Profiles) */
		if (mutls__crt_extension(crt, "2.5.29.36", &critical, NULL) && !critical)
			FAIL(MUTLS_REASON_NONCONFORMING, "%s%s%shas policy constraints not marked critical",
				WHO_K(k));
		if (mutls__crt_extension(crt, "1.3.6.1.5.5.7.1.1", &critical, &v)) {
			mutls_der_in in = { v.data, v.data + v.size }, seq;
			unsigned char tag;
			int bad = mutls__der_next(&in, &tag, &seq) < 0 || tag != 0x30 || seq.p == seq.end;
			gnutls_free(v.data);
			if (critical)
				FAIL(MUTLS_REASON_NONCONFORMING, "%s%s%shas authority information access "
					"marked critical", WHO_K(k));
			if (bad)
				FAIL(MUTLS_REASON_NONCONFORMING, "%s%s%shas malformed authority information "
					"access", WHO_K(k));
		}
		if (mutls__crt_extension(crt, "2.5.29.17", &critical, NULL)) {
			int empty_subject = gnutls_x509_crt_get_raw_dn(crt, &dn) >= 0 && dn.size <= 2;
			gnutls_free(dn.data);
			dn.data = NULL;
			if (empty_subject && !critical)
				FAIL(MUTLS_REASON_NONCONFORMING, "%s%s%shas an empty subject and a "
					"subjectAltName not marked critical", WHO_K(k));
			if (!empty_subject && critical && k == 0)
				FAIL(MUTLS_REASON_NONCONFORMING, "has a subject and a subjectAltName marked "
					"critical");
		} else if (k == 0) {
			FAIL(MUTLS_REASON_NONCONFORMING, "has no subjectAltName");
		}
		if (k == 0 && cn_form_problem(why, sizeof(why), crt))
			FAIL(MUTLS_REASON_NONCONFORMING, "has %s (the CA/B Forum asks a copy)", why);
		if (k == 0) {
			char buf[300];
			for (unsigned i = 0; i < NC_MAX_NAMES; i++) {
				size_t size = sizeof(buf) - 1;
				unsigned type;
				int rc = gnutls_x509_crt_get_subject_alt_name2(crt, i, buf, &size, &type, NULL);
				if (rc == GNUTLS_E_SHORT_MEMORY_BUFFER)
					continue;
				if (rc < 0)
					break;
				buf[size] = 0;
				if (type == GNUTLS_SAN_DNSNAME && !dns_syntax_ok(buf, size, 1, 0)) {
					mutls__escape_controls(buf, sizeof(buf));
					FAIL(MUTLS_REASON_NONCONFORMING, "names DNS:%s, which is not a valid "
						"host name", buf);
				}
			}
		}
		/* key identifiers of a CA (a trust anchor too) */
		if (k > 0) {
			idsize = sizeof(id);
			if (gnutls_x509_crt_get_subject_key_id(crt, id, &idsize, NULL) < 0)
				FAIL(MUTLS_REASON_NONCONFORMING, "%s%s%shas no subject key identifier",
					WHO_K(k));
		}
	}
	return 0;
}

int mutls__path_checks(mutls_verdict *out, const char *who, const mutls_path *p,
	const char *hostname, mutls_profile profile, int max_depth, char *detail, size_t cap)
{
	(void)hostname; /* names come from subjectAltNames only: verify.c, step 2 */
	if (check_depth(out, who, p, max_depth, detail, cap))
		return 1;
	if (check_name_constraints2(out, who, p, detail, cap))
		return 1;
	if (check_eku_empty(out, who, p, detail, cap))
		return 1;
	if (check_cas_and_keys(out, who, p, detail, cap))
		return 1;
	if (check_default_profile(out, who, p, detail, cap))
		return 1;
	if (profile == MUTLS_PROFILE_STRICT && (check_strict(out, who, p, detail, cap) ||
	    check_dns_constraint_form(out, who, p, detail, cap)))
		return 1;
	return 0;
}
