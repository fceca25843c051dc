/* Name constraints with subtrees GnuTLS cannot read.
 *
 * GnuTLS (3.7 and 3.8) refuses a whole nameConstraints extension when one of
 * its subtrees is of a kind it does not support (otherName, x400Address,
 * ediPartyName, registeredID): a CA that constrains, say, Microsoft UPN
 * otherNames fails every chain under it, even when no certificate below has
 * a name of that kind (x509-limbo rfc5280::nc::nc-forbids-othername-noop).
 * A constraint on one kind of name constrains only names of that kind
 * (RFC 5280 4.2.1.10), so when nothing below names one, the subtrees GnuTLS
 * can read are the whole constraint. Then GnuTLS verifies such a path in
 * two parts: the CA up to the trust anchor as it stands, and the
 * certificates below it against a copy of the CA carrying only the readable
 * subtrees and the CRLs of the CAs it covers. Only after GnuTLS refused the
 * path, and only where the split loses nothing (see split_is_sound);
 * anything else stays refused. */
#include "verify.h"
#include "der.h"

#include <gnutls/x509-ext.h>
#include <string.h>

#define NC_OID "2.5.29.30"
#define SAN_OID "2.5.29.17"

/* The GeneralName kinds GnuTLS reads, by context tag; -1 for the others. */
static int readable_kind(unsigned char tag)
{
	switch (tag) {
	case 0x81: return GNUTLS_SAN_RFC822NAME;
	case 0x82: return GNUTLS_SAN_DNSNAME;
	case 0x86: return GNUTLS_SAN_URI;
	case 0x87: return GNUTLS_SAN_IPADDRESS;
	case 0xa4: return GNUTLS_SAN_DN;
	default: return -1;
	}
}

/* GnuTLS 3.7 and 3.8 read one otherName in name constraints: Microsoft's
 * UPN (GNUTLS_SAN_OTHERNAME_MSUSERPRINCIPAL). */
static const unsigned char upn_oid[] = { 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37,
	0x14, 0x02, 0x03 };

static int unreadable_kind(unsigned char tag, const mutls_der_in *base)
{
	if (tag == 0xa0)
		return (size_t)(base->end - base->p) < sizeof(upn_oid) ||
			memcmp(base->p, upn_oid, sizeof(upn_oid)) != 0;
	return tag == 0xa3 || tag == 0xa5 || tag == 0x88;
}

/* Walks a nameConstraints value. Looking (nc NULL): the kinds GnuTLS
 * cannot read in *kinds (bit = tag number). Adding: each readable
 * subtree's base name into nc, the kinds left out in *kinds. 0, or -1 when
 * malformed or GnuTLS refuses a readable subtree. */
static int walk_subtrees(const gnutls_datum_t *v, gnutls_x509_name_constraints_t nc, unsigned *kinds)
{
	mutls_der_in in = { v->data, v->data + v->size }, seq, list, subtree, base;
	unsigned char tag;

	*kinds = 0;
	if (mutls__der_next(&in, &tag, &seq) < 0 || tag != 0x30 || in.p != in.end)
		return -1;
	while (seq.p < seq.end) {
		unsigned char which;
		if (mutls__der_next(&seq, &which, &list) < 0 || (which != 0xa0 && which != 0xa1))
			return -1;
		while (list.p < list.end) {
			if (mutls__der_next(&list, &tag, &subtree) < 0 || tag != 0x30 ||
			    mutls__der_next(&subtree, &tag, &base) < 0)
				return -1;
			/* looking (nc NULL): the kinds GnuTLS cannot read; adding:
			 * the kinds left out, a UPN among them (then any otherName
			 * below is refused) */
			if (unreadable_kind(tag, &base) || (nc && tag == 0xa0)) {
				*kinds |= 1u << (tag & 0x1f);
				continue;
			}
			if (tag == 0xa0)
				continue;
			int kind = readable_kind(tag);
			if (kind < 0)
				return -1;
			if (!nc)
				continue;
			gnutls_datum_t name = { (unsigned char *)base.p, (unsigned)(base.end - base.p) };
			int rc = which == 0xa0 ?
				gnutls_x509_name_constraints_add_permitted(nc, kind, &name) :
				gnutls_x509_name_constraints_add_excluded(nc, kind, &name);
			if (rc < 0)
				return -1;
		}
	}
	return 0;
}

int mutls__nc_read(gnutls_x509_name_constraints_t *out, gnutls_x509_crt_t crt, unsigned *critical,
	unsigned *unreadable)
{
	gnutls_datum_t v = { NULL, 0 };
	unsigned kinds = 0, crit = 0;
	int rc;

	*out = NULL;
	if (unreadable)
		*unreadable = 0;
	if (!mutls__crt_extension(crt, NC_OID, &crit, &v))
		return GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE;
	if (gnutls_x509_name_constraints_init(out) < 0) {
		gnutls_free(v.data);
		return GNUTLS_E_MEMORY_ERROR;
	}
	/* GnuTLS reads them unless a subtree is of a kind it does not know
	 * (when it fails on one it also leaks what it had read) */
	if (walk_subtrees(&v, NULL, &kinds) < 0 || !kinds) {
		gnutls_free(v.data);
		return gnutls_x509_crt_get_name_constraints(crt, *out, 0, critical);
	}
	rc = walk_subtrees(&v, *out, &kinds);
	gnutls_free(v.data);
	if (rc < 0)
		return GNUTLS_E_X509_UNKNOWN_SAN;
	if (critical)
		*critical = crit;
	if (unreadable)
		*unreadable = kinds;
	return 0;
}

int mutls__path_has_unreadable_nc(const mutls_path *p)
{
	/* on every verification: one look at the DER, no GnuTLS parse */
	for (size_t i = 1; i < p->n; i++) {
		gnutls_datum_t v = { NULL, 0 };
		unsigned kinds = 0;
		if (!mutls__crt_extension(p->crt[i], NC_OID, NULL, &v))
			continue;
		if (walk_subtrees(&v, NULL, &kinds) < 0)
			kinds = 0; /* malformed: GnuTLS says so itself */
		gnutls_free(v.data);
		if (kinds)
			return 1;
	}
	return 0;
}

/* 1 when crt has a subjectAltName of one of kinds (or SANs it cannot walk). */
static int names_a_kind(gnutls_x509_crt_t crt, unsigned kinds)
{
	gnutls_datum_t v = { NULL, 0 };
	mutls_der_in in, seq, item;
	unsigned char tag;
	int found = 0;

	if (!mutls__crt_extension(crt, SAN_OID, NULL, &v))
		return 0;
	in.p = v.data;
	in.end = v.data + v.size;
	if (mutls__der_next(&in, &tag, &seq) < 0 || tag != 0x30)
		found = 1;
	while (!found && seq.p < seq.end) {
		if (mutls__der_next(&seq, &tag, &item) < 0 || (kinds & (1u << (tag & 0x1f))))
			found = 1;
	}
	gnutls_free(v.data);
	return found;
}

/* The one CA of p whose constraints have unreadable subtrees (its index, and
 * the kinds in *kinds), when splitting there loses nothing: no CA above it
 * has name constraints (GnuTLS would not hold the leaf to them in the part
 * below), nothing below names a kind left out, and the path keeps its CA
 * rules (the part above ends at the CA, so path lengths above are counted
 * by mutls). The CRLs of the CAs below go into the part below. 0 otherwise. */
static size_t split_is_sound(const mutls_path *p, unsigned *kinds)
{
	size_t k = 0;

	for (size_t i = p->n - 1; i >= 1 && !k; i--) {
		gnutls_x509_name_constraints_t nc = NULL;
		if (!mutls__crt_extension(p->crt[i], NC_OID, NULL, NULL))
			continue;
		int rc = mutls__nc_read(&nc, p->crt[i], NULL, kinds);
		if (nc)
			gnutls_x509_name_constraints_deinit(nc);
		if (rc < 0 || !*kinds)
			return 0; /* the highest constrained CA is readable: not our case */
		k = i;
	}
	if (!k || !mutls__path_ca_rules_ok(p))
		return 0;
	for (size_t j = 0; j < k; j++)
		if (names_a_kind(p->crt[j], *kinds))
			return 0;
	return k;
}

/* crt's DER with the nameConstraints extension's value replaced by value
 * (NULL: the extension left out), in b. Its signature no longer matches:
 * it serves only as a trust anchor, whose own signature is not checked. */
static int without_unreadable(struct mutls_der *b, gnutls_x509_crt_t crt, const gnutls_datum_t *value,
	unsigned critical)
{
	static const unsigned char nc_oid[] = { 0x06, 0x03, 0x55, 0x1d, 0x1e };
	gnutls_datum_t der = { NULL, 0 };
	mutls_der_in in, cert, tbs, exts, list, ext;
	const unsigned char *at;
	unsigned char tag;
	int rc = -1;

	if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der) < 0)
		return -1;
	in.p = der.data;
	in.end = der.data + der.size;
	if (mutls__der_next(&in, &tag, &cert) < 0 || tag != 0x30)
		goto out;
	size_t c0 = mutls__der_open(b);
	at = cert.p;
	if (mutls__der_next(&cert, &tag, &tbs) < 0 || tag != 0x30)
		goto out;
	size_t t0 = mutls__der_open(b);
	while (tbs.p < tbs.end) {
		at = tbs.p;
		if (mutls__der_next(&tbs, &tag, &exts) < 0)
			goto out;
		if (tag != 0xa3) {
			mutls__der_put(b, at, (size_t)(tbs.p - at));
			continue;
		}
		if (mutls__der_next(&exts, &tag, &list) < 0 || tag != 0x30)
			goto out;
		size_t e0 = mutls__der_open(b), l0 = mutls__der_open(b);
		while (list.p < list.end) {
			at = list.p;
			if (mutls__der_next(&list, &tag, &ext) < 0)
				goto out;
			if ((size_t)(ext.end - ext.p) < sizeof(nc_oid) || memcmp(ext.p, nc_oid, sizeof(nc_oid))) {
				mutls__der_put(b, at, (size_t)(list.p - at));
				continue;
			}
			if (!value)
				continue;
			size_t x0 = mutls__der_open(b);
			mutls__der_put(b, nc_oid, sizeof(nc_oid));
			if (critical)
				mutls__der_put(b, "\x01\x01\xff", 3);
			mutls__der_tlv(b, 0x04, value->data, value->size);
			mutls__der_close(b, x0, 0x30);
		}
		mutls__der_close(b, l0, 0x30);
		mutls__der_close(b, e0, 0xa3);
	}
	mutls__der_close(b, t0, 0x30);
	mutls__der_put(b, cert.p, (size_t)(cert.end - cert.p)); /* signatureAlgorithm, signature */
	mutls__der_close(b, c0, 0x30);
	rc = b->oom ? -1 : 0;
out:
	gnutls_free(der.data);
	return rc;
}

/* A trust list holding only the copy of crt with its readable subtrees. */
static int anchor_list(gnutls_x509_trust_list_t *out, gnutls_x509_crt_t crt)
{
	gnutls_x509_name_constraints_t nc = NULL;
	gnutls_datum_t value = { NULL, 0 }, copy_der;
	gnutls_x509_crt_t copy = NULL;
	struct mutls_der b;
	unsigned critical = 0, kinds = 0;
	int rc = -1, empty;

	*out = NULL;
	mutls__der_init(&b);
	if (mutls__nc_read(&nc, crt, &critical, &kinds) < 0)
		goto out;
	{
		unsigned type;
		gnutls_datum_t name;
		empty = gnutls_x509_name_constraints_get_permitted(nc, 0, &type, &name) < 0 &&
			gnutls_x509_name_constraints_get_excluded(nc, 0, &type, &name) < 0;
	}
	if (!empty && gnutls_x509_ext_export_name_constraints(nc, &value) < 0)
		goto out;
	if (without_unreadable(&b, crt, empty ? NULL : &value, critical) < 0)
		goto out;
	copy_der.data = b.p;
	copy_der.size = (unsigned)b.len;
	if (gnutls_x509_crt_init(&copy) < 0)
		goto out;
	if (gnutls_x509_crt_import(copy, &copy_der, GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_x509_trust_list_init(out, 0) < 0) {
		gnutls_x509_crt_deinit(copy);
		goto out;
	}
	if (gnutls_x509_trust_list_add_cas(*out, &copy, 1, 0) != 1) {
		gnutls_x509_crt_deinit(copy);
		gnutls_x509_trust_list_deinit(*out, 1);
		*out = NULL;
		goto out;
	}
	rc = 0;
out:
	gnutls_free(value.data);
	if (nc)
		gnutls_x509_name_constraints_deinit(nc);
	mutls__der_release(&b);
	return rc;
}

int mutls__path_verify_past_unreadable_nc(const mutls_path *p, const mutls_config *cfg,
	gnutls_typed_vdata_st *vdata, unsigned nvdata, unsigned flags, unsigned *status)
{
	gnutls_x509_crt_t above[MUTLS_PATH_MAX];
	gnutls_x509_trust_list_t below = NULL;
	unsigned kinds = 0, upper = 0, lower = 0;
	size_t k, m;
	int rc;

	*status = 0;
	if (!p->anchored || !(k = split_is_sound(p, &kinds)))
		return 0;
	/* the part above: from the CA to the anchor, as GnuTLS verifies any
	 * chain (the anchor itself needs nothing) */
	m = p->anchored && !p->anchor_in_chain ? p->n - 1 : p->n;
	if (k < m) {
		memcpy(above, p->crt + k, (m - k) * sizeof(above[0]));
		if (gnutls_x509_trust_list_verify_crt2(cfg->tlist, above, (unsigned)(m - k), vdata, nvdata,
				flags, &upper, NULL) < 0)
			return 0;
	}
	/* the part below, against the CA's copy, with the CRLs of the CAs
	 * from it down */
	if (anchor_list(&below, p->crt[k]) < 0)
		return 0;
	for (size_t j = 1; j <= k; j++) {
		if (mutls__crl_add_issued_by(below, cfg, p->crt[j]) < 0) {
			gnutls_x509_trust_list_deinit(below, 1);
			return 0;
		}
	}
	rc = gnutls_x509_trust_list_verify_crt2(below, (gnutls_x509_crt_t *)p->crt, (unsigned)k, vdata,
		nvdata, flags, &lower, NULL);
	gnutls_x509_trust_list_deinit(below, 1);
	if (rc < 0)
		return 0;
	*status = upper | lower;
	return 1;
}
