/* CRLs at the verification clock's time, and their profile: what mutls
 * remembers of each usable CRL when it is loaded (mutls__crl_inspect), and
 * the checks a verification makes with it (GnuTLS checks a CRL's dates only
 * when it is loaded, at the system clock's time). */
#include "verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct mutls_crl_facts {
	gnutls_datum_t issuer;      /* raw issuer DN (gnutls_malloc'd) */
	gnutls_datum_t issuer_text; /* the same as RFC 4514 text (gnutls_malloc'd) */
	gnutls_datum_t der;         /* the CRL (gnutls_malloc'd), for a second trust list */
	int64_t this_update, next_update;   /* next_update -1: none */
	int has_number, number_critical;
	int superseded;             /* a CRL of the same issuer with a later thisUpdate is loaded */
	char name[200];             /* "CN=..." of the issuer, for messages */
};

/* A trust anchor that is not self-issued, against its issuer's CRLs. */
struct mutls_anchor_facts {
	gnutls_datum_t issuer;      /* the anchor's raw issuer DN (gnutls_malloc'd) */
	gnutls_datum_t serial;      /* its serial number (gnutls_malloc'd) */
	int revoked;                /* a loaded CRL of its issuer lists it */
	int unmatchable;            /* a loaded CRL names its issuer in another encoding */
};

static int same_datum(const gnutls_datum_t *a, const gnutls_datum_t *b)
{
	return a->size == b->size && memcmp(a->data, b->data, a->size) == 0;
}

void mutls__crl_record(mutls_config *cfg, gnutls_x509_crl_t crl)
{
	struct mutls_crl_facts f, *grown;
	unsigned char num[64];
	size_t size = sizeof(num), nsize = sizeof(f.name) - 3;
	unsigned critical = 0;

	memset(&f, 0, sizeof(f));
	if (gnutls_x509_crl_get_raw_issuer_dn(crl, &f.issuer) < 0)
		return;
	if (gnutls_x509_crl_get_issuer_dn2(crl, &f.issuer_text) < 0)
		f.issuer_text.data = NULL; /* then only the raw name counts */
	if (gnutls_x509_crl_export2(crl, GNUTLS_X509_FMT_DER, &f.der) < 0) {
		gnutls_free(f.issuer.data);
		return;
	}
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
		gnutls_free(f.issuer_text.data);
		gnutls_free(f.der.data);
		return;
	}
	cfg->crl_facts = grown;
	/* which CRL of an issuer is the newest, kept as they come (a check
	 * reads it for every certificate of a path) */
	for (size_t i = 0; i < cfg->crl_fact_count; i++) {
		struct mutls_crl_facts *g = &grown[i];
		if (!same_datum(&g->issuer, &f.issuer))
			continue;
		if (g->this_update < f.this_update)
			g->superseded = 1;
		else if (g->this_update > f.this_update)
			f.superseded = 1;
	}
	grown[cfg->crl_fact_count++] = f;
}

void mutls__crl_facts_free(mutls_config *cfg)
{
	for (size_t i = 0; i < cfg->crl_fact_count; i++) {
		gnutls_free(cfg->crl_facts[i].issuer.data);
		gnutls_free(cfg->crl_facts[i].issuer_text.data);
		gnutls_free(cfg->crl_facts[i].der.data);
	}
	free(cfg->crl_facts);
	cfg->crl_facts = NULL;
	cfg->crl_fact_count = 0;
	for (size_t i = 0; i < cfg->anchor_fact_count; i++) {
		gnutls_free(cfg->anchor_facts[i].issuer.data);
		gnutls_free(cfg->anchor_facts[i].serial.data);
	}
	free(cfg->anchor_facts);
	cfg->anchor_facts = NULL;
	cfg->anchor_fact_count = 0;
}

int mutls__crl_add_issued_by(gnutls_x509_trust_list_t tl, const mutls_config *cfg,
	gnutls_x509_crt_t ca)
{
	gnutls_datum_t dn = { NULL, 0 };
	int rc = 0;

	if (gnutls_x509_crt_get_raw_dn(ca, &dn) < 0)
		return -1;
	for (size_t i = 0; i < cfg->crl_fact_count && rc == 0; i++) {
		const struct mutls_crl_facts *f = &cfg->crl_facts[i];
		gnutls_x509_crl_t crl = NULL;
		if (f->issuer.size != dn.size || memcmp(f->issuer.data, dn.data, dn.size) != 0)
			continue;
		/* checked when it was loaded; the list takes the copy */
		if (gnutls_x509_crl_init(&crl) < 0 ||
		    gnutls_x509_crl_import(crl, &f->der, GNUTLS_X509_FMT_DER) < 0 ||
		    gnutls_x509_trust_list_add_crls(tl, &crl, 1, 0, 0) != 1) {
			if (crl)
				gnutls_x509_crl_deinit(crl);
			rc = -1;
		}
	}
	gnutls_free(dn.data);
	return rc;
}

/* A trust anchor that is not self-issued (a trusted intermediate): its
 * issuer's CRLs count for it too. GnuTLS consults them only when the peer
 * presents the anchor; mutls checks them either way. */
static int anchor_has_issuer(const mutls_path *p)
{
	return p->anchored && p->n >= 2 && !mutls__crt_self_issued(p->crt[p->n - 1]);
}

/* The current CRLs of the issuers of p's certificates (of the anchor too
 * when it is not self-issued): fn for each, until it returns non-zero
 * (then that). */
typedef int (*crl_fn)(const struct mutls_crl_facts *f, void *ctx);

static int each_path_crl(const mutls_config *cfg, const mutls_path *p, crl_fn fn, void *ctx)
{
	size_t top = p->anchored && !anchor_has_issuer(p) ? p->n - 1 : p->n;

	for (size_t k = 0; k < top; k++) {
		gnutls_datum_t dn = { NULL, 0 };
		int rc = 0;
		if (gnutls_x509_crt_get_raw_issuer_dn(p->crt[k], &dn) < 0)
			continue;
		for (size_t i = 0; i < cfg->crl_fact_count && !rc; i++) {
			const struct mutls_crl_facts *f = &cfg->crl_facts[i];
			/* a superseded CRL's revoked certificates still count
			 * (GnuTLS uses every CRL); its dates do not, so an older
			 * CRL left loaded does not fail every check once its
			 * nextUpdate passes */
			if (same_datum(&f->issuer, &dn) && !f->superseded)
				rc = fn(f, ctx);
		}
		gnutls_free(dn.data);
		if (rc)
			return rc;
	}
	return 0;
}

typedef struct {
	mutls_verdict *out;
	const char *who;
	int64_t now;
	mutls_profile profile;
	char *detail;
	size_t cap;
} crl_check_ctx;

#define FAIL(reason, ...) do { \
	mutls__verdict_add(c->out, c->who, reason, __VA_ARGS__); \
	snprintf(c->detail, c->cap, __VA_ARGS__); \
	return 1; } while (0)

static int check_one(const struct mutls_crl_facts *f, void *ctx)
{
	const crl_check_ctx *c = ctx;
	char when[32];

	if (f->next_update != -1 && c->now > f->next_update) {
		mutls__format_time(when, sizeof(when), f->next_update);
		FAIL(MUTLS_REASON_EXPIRED, "could not be checked for revocation: the CRL of %s "
			"expired at %s (its next update; load a newer CRL)", f->name, when);
	}
	if (c->now < f->this_update) {
		mutls__format_time(when, sizeof(when), f->this_update);
		FAIL(MUTLS_REASON_NOT_YET_VALID, "could not be checked for revocation: the CRL "
			"of %s is not valid until %s (its this-update time)", f->name, when);
	}
	/* a critical CRL number: no CRL tool makes one, refused in both
	 * profiles; a missing one (cfssl gencrl, openssl ca without a
	 * crlnumber file) only in strict */
	if (f->number_critical)
		FAIL(MUTLS_REASON_NONCONFORMING, "could not be checked for revocation: "
			"the CRL of %s has its CRL number marked critical (RFC 5280 5.2.3: never "
			"critical)", f->name);
	if (c->profile == MUTLS_PROFILE_STRICT && !f->has_number)
		FAIL(MUTLS_REASON_NONCONFORMING, "could not be checked for revocation: the CRL "
			"of %s has no CRL number (RFC 5280 requires one)", f->name);
	return 0;
}

static int same_text(const gnutls_datum_t *a, const gnutls_datum_t *b)
{
	return a->data && b->data && a->size == b->size &&
		strncasecmp((const char *)a->data, (const char *)b->data, a->size) == 0;
}

/* What the loaded CRLs say of anchor (not self-issued): f->revoked, and
 * f->unmatchable when a CRL names the anchor's issuer in another encoding
 * (GnuTLS and mutls match CRLs by the raw name: it would be skipped).
 * Parses each CRL of the issuer: once per anchor, when the config is
 * frozen. 0, or -1 out of memory. */
static int anchor_against_crls(struct mutls_anchor_facts *f, const mutls_config *cfg,
	gnutls_x509_crt_t anchor)
{
	gnutls_datum_t text = { NULL, 0 };
	int rc = 0;

	if (gnutls_x509_crt_get_issuer_dn2(anchor, &text) < 0)
		text.data = NULL;
	for (size_t i = 0; i < cfg->crl_fact_count && rc == 0 && !f->revoked; i++) {
		const struct mutls_crl_facts *c = &cfg->crl_facts[i];
		gnutls_x509_crl_t crl = NULL;
		if (!same_datum(&c->issuer, &f->issuer)) {
			if (same_text(&c->issuer_text, &text))
				f->unmatchable = 1;
			continue;
		}
		if (gnutls_x509_crl_init(&crl) < 0 ||
		    gnutls_x509_crl_import(crl, &c->der, GNUTLS_X509_FMT_DER) < 0)
			rc = -1; /* it was read when it was loaded: memory */
		else
			f->revoked = gnutls_x509_crt_check_revocation(anchor, &crl, 1) == 1;
		if (crl)
			gnutls_x509_crl_deinit(crl);
	}
	gnutls_free(text.data);
	return rc;
}

/* f's key: the anchor's issuer and serial. 0, or -1 (f empty). */
static int anchor_fact_key(struct mutls_anchor_facts *f, gnutls_x509_crt_t anchor)
{
	unsigned char serial[64];
	size_t size = sizeof(serial);

	memset(f, 0, sizeof(*f));
	if (gnutls_x509_crt_get_raw_issuer_dn(anchor, &f->issuer) < 0 ||
	    gnutls_x509_crt_get_serial(anchor, serial, &size) < 0 ||
	    !(f->serial.data = gnutls_malloc(size))) {
		gnutls_free(f->issuer.data);
		f->issuer.data = NULL;
		return -1;
	}
	memcpy(f->serial.data, serial, size);
	f->serial.size = (unsigned)size;
	return 0;
}

static void anchor_fact_clear(struct mutls_anchor_facts *f)
{
	gnutls_free(f->issuer.data);
	gnutls_free(f->serial.data);
	memset(f, 0, sizeof(*f));
}

static int anchor_fact_fill(struct mutls_anchor_facts *f, const mutls_config *cfg,
	gnutls_x509_crt_t anchor)
{
	if (anchor_fact_key(f, anchor) < 0)
		return -1;
	if (anchor_against_crls(f, cfg, anchor) < 0) {
		anchor_fact_clear(f);
		return -1;
	}
	return 0;
}

int mutls__crl_anchor_facts(mutls_config *cfg)
{
	gnutls_x509_trust_list_iter_t iter = NULL;
	gnutls_x509_crt_t ca = NULL;
	int rc = 0;

	while (rc == 0 && gnutls_x509_trust_list_iter_get_ca(cfg->tlist, &iter, &ca) >= 0) {
		struct mutls_anchor_facts f, *grown;
		if (!mutls__crt_self_issued(ca)) {
			if (anchor_fact_fill(&f, cfg, ca) < 0 ||
			    !(grown = realloc(cfg->anchor_facts, (cfg->anchor_fact_count + 1) *
					sizeof(*grown)))) {
				rc = mutls__error(MUTLS_ENOMEM, "out of memory checking the trust anchors "
					"against the CRLs");
				anchor_fact_clear(&f); /* filled or not, not stored */
			} else {
				cfg->anchor_facts = grown;
				grown[cfg->anchor_fact_count++] = f;
			}
		}
		gnutls_x509_crt_deinit(ca);
		ca = NULL;
	}
	gnutls_x509_trust_list_iter_deinit(iter);
	return rc;
}

/* A trusted intermediate that its issuer's loaded CRL lists (GnuTLS checks
 * a trust anchor against no CRL), or whose issuer's CRL cannot be matched
 * to it. Looked up in what freezing worked out; an anchor not there (a
 * config not frozen, a PKCS#11 token's) is worked out now. */
static int check_anchor_revoked(crl_check_ctx *c, const mutls_config *cfg, const mutls_path *p)
{
	gnutls_x509_crt_t anchor = p->crt[p->n - 1];
	struct mutls_anchor_facts now, *f = NULL;
	char *hex = NULL;
	int rc = 0;

	if (anchor_fact_key(&now, anchor) < 0)
		FAIL(MUTLS_REASON_REVOKED, "could not be checked for revocation: out of memory "
			"reading trust anchor %s", p->label[p->n - 1]);
	for (size_t i = 0; i < cfg->anchor_fact_count && !f; i++)
		if (same_datum(&cfg->anchor_facts[i].issuer, &now.issuer) &&
		    same_datum(&cfg->anchor_facts[i].serial, &now.serial))
			f = &cfg->anchor_facts[i];
	if (!f) {
		f = &now;
		if (anchor_against_crls(f, cfg, anchor) < 0) {
			anchor_fact_clear(&now);
			FAIL(MUTLS_REASON_REVOKED, "could not be checked for revocation: out of memory "
				"reading the CRL of the issuer of trust anchor %s", p->label[p->n - 1]);
		}
	}
	hex = mutls__hex_encode(f->serial.data, f->serial.size);
	if (f->revoked) {
		mutls__verdict_add(c->out, c->who, MUTLS_REASON_REVOKED, "has in its chain the CA "
			"certificate %s (a trust anchor), which has been revoked (serial %s)",
			p->label[p->n - 1], hex ? hex : "?");
		snprintf(c->detail, c->cap, "the trust anchor %s (serial %s) is on the CRL of its "
			"issuer", p->label[p->n - 1], hex ? hex : "?");
		rc = 1;
	} else if (f->unmatchable) {
		mutls__verdict_add(c->out, c->who, MUTLS_REASON_NONCONFORMING, "could not be checked "
			"for revocation: the trust anchor %s names its issuer in another encoding than "
			"that CA's CRL does, so the CRL cannot be matched to it (RFC 5280 4.1.2.4)",
			p->label[p->n - 1]);
		snprintf(c->detail, c->cap, "the trust anchor %s names its issuer in another encoding "
			"than that CA's CRL", p->label[p->n - 1]);
		rc = 1;
	}
	free(hex);
	anchor_fact_clear(&now);
	return rc;
}

/* A certificate whose issuer field does not repeat its issuer's subject
 * byte for byte (another string type; RFC 5280 4.1.2.4 wants the same
 * encoding) cannot be matched to that issuer's CRLs: GnuTLS and mutls
 * find a CRL by the raw name. Refused when that issuer's CRLs are loaded,
 * since they would be skipped. */
static int check_issuer_encoding(crl_check_ctx *c, const mutls_config *cfg, const mutls_path *p)
{
	for (size_t k = 0; k + 1 < p->n; k++) {
		gnutls_datum_t issuer = { NULL, 0 }, subject = { NULL, 0 };
		int skipped = 0;
		if (gnutls_x509_crt_get_raw_issuer_dn(p->crt[k], &issuer) >= 0 &&
		    gnutls_x509_crt_get_raw_dn(p->crt[k + 1], &subject) >= 0 &&
		    !same_datum(&issuer, &subject))
			for (size_t i = 0; i < cfg->crl_fact_count && !skipped; i++)
				skipped = same_datum(&cfg->crl_facts[i].issuer, &subject);
		gnutls_free(issuer.data);
		gnutls_free(subject.data);
		if (skipped)
			FAIL(MUTLS_REASON_NONCONFORMING, "could not be checked for revocation: %s "
				"names its issuer %s in another encoding than that CA's own subject, so the "
				"CA's CRL cannot be matched to it (RFC 5280 4.1.2.4)",
				k == 0 ? "the certificate" : p->label[k], p->label[k + 1]);
	}
	return 0;
}

int mutls__crl_checks(mutls_verdict *out, const char *who, const mutls_config *cfg,
	const mutls_path *p, int64_t now, mutls_profile profile, int dates_only,
	char *detail, size_t cap)
{
	crl_check_ctx c = { out, who, now, profile, detail, cap };
	int rc = each_path_crl(cfg, p, check_one, &c);

	if (!rc && !dates_only)
		rc = check_issuer_encoding(&c, cfg, p);
	if (!rc && !dates_only && anchor_has_issuer(p))
		rc = check_anchor_revoked(&c, cfg, p);
	return rc;
}

typedef struct {
	int64_t *from, *until;
} crl_window_ctx;

static int narrow(const struct mutls_crl_facts *f, void *ctx)
{
	const crl_window_ctx *w = ctx;
	if (f->this_update > *w->from)
		*w->from = f->this_update;
	if (f->next_update != -1 && f->next_update < *w->until)
		*w->until = f->next_update;
	return 0;
}

void mutls__crl_window(const mutls_config *cfg, const mutls_path *p, int64_t *from, int64_t *until)
{
	crl_window_ctx w = { from, until };
	each_path_crl(cfg, p, narrow, &w);
}
