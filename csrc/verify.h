/* Internal: the one verification path (sessions and offline). */
#ifndef MUTLS_VERIFY_H
#define MUTLS_VERIFY_H

#include "config.h"

typedef struct {
	unsigned reasons;
	char message[MUTLS_MESSAGE_MAX]; /* "<who> expired at ... and ..." */
} mutls_verdict;

/* Receives each check's outcome, in order (for the trace). */
typedef int (*mutls__check_fn)(void *ctx, const char *check, int ok, const char *detail);

/* The chain check's result, for re-use on resumption (chain_cache.c). */
typedef struct {
	int reuse;                  /* in: the chain passed the chain check before: skip it */
	int passed;                 /* out: the chain check ran and passed ... */
	int64_t usable_from;        /* ... and its result may be re-used in [from, until) */
	int64_t usable_until;
	int have_now;               /* in: now is the verification clock's time */
	int64_t now;
} mutls_chain_memo;

/*
 * Checks chain[0] (with chain[1..n-1] as intermediates) against cfg's trust
 * anchors and CRLs: validity, name (when hostname), chain, purpose,
 * revocation, then cfg's peer patterns. who ("server certificate") starts
 * the message. memo (may be NULL) re-uses or records the chain check.
 * Returns 0 when every check passed, MUTLS_EVERIFY otherwise
 * (out filled either way), or what emit returned when it returned non-zero.
 */
int mutls__verify_chain(mutls_verdict *out, const mutls_config *cfg,
	mutls_x509 *const *chain, size_t n, const char *hostname,
	mutls_purpose purpose, const char *who, mutls__check_fn emit, void *ctx,
	mutls_chain_memo *memo, const mutls_verify_options *options);

/* path_checks.c */
int mutls__name_is_ip(const char *hostname);
/* path_checks.c: 1 when crt's issuer name is its subject, byte for byte
 * (self-issued: a root, or a CA's key rollover). */
int mutls__crt_self_issued(gnutls_x509_crt_t crt);

/* path_checks.c: a path: chain[0], presented issuers up to one a trust
 * anchor issued (or that is one), then that anchor. */
#define MUTLS_PATH_MAX 18
#define MUTLS_PATHS_TRIED 4
typedef struct {
	gnutls_x509_crt_t crt[MUTLS_PATH_MAX];  /* leaf first; borrowed */
	const char *label[MUTLS_PATH_MAX];
	size_t n;
	int anchored;               /* crt[n - 1] is a trust anchor */
	int anchor_in_chain;        /* ... that was presented (not a copy) */
	gnutls_x509_crt_t anchor;   /* the trust list's (borrowed), or NULL */
	int anchor_owned;           /* ... or a copy to free (PKCS#11 trust) */
	char anchor_label[300];
} mutls_path;
/* Up to cap paths that reach a trust anchor (several when the presented
 * certificates allow it); when none does, one partial path. Returns the count. */
size_t mutls__paths_build(mutls_path *out, size_t cap, const mutls_config *cfg,
	mutls_x509 *const *chain, size_t n);
void mutls__path_free(mutls_path *p);
/* 1 (and a sentence in why) when checking the path's names against its name
 * constraints would cost too much, or the constraints are malformed. */
int mutls__path_too_costly(char *why, size_t cap, const mutls_path *p);
/* Every issuer of the path is a CA allowed to sign certificates, and no
 * pathLenConstraint is broken, self-issued CAs not counted (RFC 5280 6.1.4;
 * GnuTLS counts them). 1 when so. */
int mutls__path_ca_rules_ok(const mutls_path *p);
/* path_retry.c: after GnuTLS refused paths[0] with *io_status, another
 * path (or the same without counting self-issued CAs, or split around a CA
 * whose name constraints GnuTLS cannot read) verified with flags against
 * cfg's trust list; 1 when one passed (*io_status 0) or a split path was
 * refused for another reason (*io_status: that verdict): it is now
 * paths[0]. 0: nothing changed. */
int mutls__paths_retry(mutls_path *paths, size_t npaths, const mutls_config *cfg,
	gnutls_typed_vdata_st *vdata, unsigned nvdata, unsigned flags, unsigned *io_status);
/* path_retry.c: 1 when GnuTLS verifies p as it stands (with flags against
 * cfg's trust list) and checking its names would not cost too much. */
int mutls__path_verifies(const mutls_path *p, const mutls_config *cfg,
	gnutls_typed_vdata_st *vdata, unsigned nvdata, unsigned flags);
/* path_retry.c: makes paths[i] the first path (the one taken). */
void mutls__path_take(mutls_path *paths, size_t i);
/* crl_checks.c: copies of the usable CRLs ca issued, added to tl (which
 * owns them). 0, or -1 when one could not be added. */
int mutls__crl_add_issued_by(gnutls_x509_trust_list_t tl, const mutls_config *cfg,
	gnutls_x509_crt_t ca);
/* nc_unreadable.c: crt's name constraints in a new *out (the caller's to
 * deinit), as GnuTLS reads them; or, when GnuTLS cannot read some subtrees
 * because of their kind (an otherName of a type it does not know,
 * x400Address, ediPartyName, registeredID), the others, with a bit per kind
 * left out (1 << tag number) in *unreadable (may be NULL). 0;
 * GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE when crt has none; GnuTLS's error
 * otherwise (*out may then be NULL). */
int mutls__nc_read(gnutls_x509_name_constraints_t *out, gnutls_x509_crt_t crt, unsigned *critical,
	unsigned *unreadable);
/* nc_unreadable.c: 1 when a CA of p (not its leaf) has name constraints
 * GnuTLS cannot read. */
int mutls__path_has_unreadable_nc(const mutls_path *p);
/* nc_unreadable.c: 1 when GnuTLS verified p in two parts around the one CA
 * whose name constraints it cannot read, where that loses nothing; its
 * verdict in *status (0: passed). 0 when p cannot be split so. */
int mutls__path_verify_past_unreadable_nc(const mutls_path *p, const mutls_config *cfg,
	gnutls_typed_vdata_st *vdata, unsigned nvdata, unsigned flags, unsigned *status);
/* nc_names.c: the number of subtrees in a nameConstraints value; -1 when
 * malformed (lists out of order or repeated, an empty or missing list, a
 * subtree that is not a GeneralName of known form, a minimum or maximum). */
long mutls__nc_subtree_count(const gnutls_datum_t *v);
/* nc_names.c: 1 when crt's subject or a URI, directoryName or IP
 * subjectAltName is outside the subtrees of the nameConstraints value nc of
 * the CA labelled ca (the kinds GnuTLS reads but does not enforce, and IP
 * addresses, which it holds only against subtrees of their own length),
 * with why filled ("names URI:..., outside what the name constraints of CA
 * ... permit"), and when crt's subjectAltName cannot be read to its end; 0
 * otherwise. */
int mutls__nc_check_names(char *why, size_t cap, const gnutls_datum_t *nc, gnutls_x509_crt_t crt,
	const char *ca, long *budget);
/* nc_names.c: the work one path may cost mutls__nc_check_names (its
 * *budget, shared by the path's calls; refused once spent). */
long mutls__nc_work_budget(void);
/* mutls's own checks on top of GnuTLS's (docs/design.md, "Profiles"):
 * adds the first failure to out (and its detail); 1 when one failed. */
int mutls__path_checks(mutls_verdict *out, const char *who, const mutls_path *p,
	const char *hostname, mutls_profile profile, int max_depth, char *detail, size_t cap);

/* verify_time.c: the validity of the path at now, as GNUTLS_CERT_EXPIRED /
 * _NOT_ACTIVATED bits (GnuTLS's own time checks are off: it knows only the
 * system clock). */
unsigned mutls__path_time_status(const mutls_path *p, int64_t now);

/* Appends " and <phrase>" (or "<who> <phrase>" when empty) to a verdict. */
void mutls__verdict_add(mutls_verdict *v, const char *who, unsigned reason,
	const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The alert to send for a set of reasons (the most specific one wins). */
int mutls__alert_for_reasons(unsigned reasons);

/* The CN of a trust anchor (a bare GnuTLS certificate), or its whole DN. */
void mutls__anchor_label(char *out, size_t cap, gnutls_x509_crt_t crt);
/* The trust anchor that issued crt: the trust list's own (borrowed), or a
 * copy to free (*owned) from a PKCS#11 trust list. 0, or -1 when none. */
int mutls__anchor_of(gnutls_x509_crt_t *out, int *owned, const mutls_config *cfg,
	gnutls_x509_crt_t crt);
/* key_strength.c: GnuTLS's verification profile for cfg's chains (MEDIUM, or
 * a stronger %PROFILE_ in its priority string). */
gnutls_certificate_verification_profiles_t mutls__chain_profile(const mutls_config *cfg);
/* key_strength.c: adds the first key of chain (or of its anchor: the one
 * given, or when NULL the one that issued chain[n - 1]) weaker than the
 * profile allows to out, with a detail for the trace; 1 when one was. */
int mutls__check_key_sizes(mutls_verdict *out, const char *who, const mutls_config *cfg,
	mutls_x509 *const *chain, size_t n, gnutls_x509_crt_t anchor, char *detail, size_t detail_cap);

/* explain.c: why GnuTLS refused a chain, added to out with a trace detail.
 * GnuTLS reports a signer that is not a CA, a broken pathLenConstraint and
 * a name outside a CA's nameConstraints with the same two bits: returns 1
 * when it found which. */
int mutls__explain_signer_failure(mutls_verdict *out, const char *who, const mutls_config *cfg,
	mutls_x509 *const *chain, size_t n, char *detail, size_t cap);
/* Names the certificate and the OID of the first unknown critical extension. */
void mutls__explain_critical_extension(mutls_verdict *out, const char *who,
	mutls_x509 *const *chain, size_t n, char *detail, size_t cap);
/* The position of the revoked certificate in a chain GnuTLS found revoked
 * (0: the leaf, or cannot tell). */
size_t mutls__revoked_position(const mutls_config *cfg, gnutls_x509_crt_t const *crts, size_t n);

/* crl.c: 1 when a CRL of cert's issuer was loaded. */
int mutls__crl_covers(const mutls_config *cfg, const mutls_x509 *cert);

/* crl.c
 * Looks at the CRLs in data (PEM or DER) against cfg's trust anchors:
 * returns how many cannot be used (a signer that is not a trusted CA, or
 * not a CA, a bad signature, dates outside now without a verification
 * clock, a partial, delta or indirect CRL, an unknown critical extension),
 * why the first
 * cannot in why ("the CRL of CN=x (the 2nd of the 2 CRLs in this source)
 * expired at ..."), and in *count how many data holds. When all can be
 * used, records them (issuers, for the revocation trace; dates). Call
 * before adding them to the trust list.
 */
int mutls__crl_inspect(char *why, size_t cap, unsigned *count, mutls_config *cfg,
	const gnutls_datum_t *data, int pem);
void mutls__crl_issuers_free(mutls_config *cfg);

/* crl_checks.c: remembers a usable CRL's issuer, dates and CRL number; the
 * checks of the current CRLs of a path's issuers (the issuer of a trust
 * anchor that is not self-issued too) at now (dates; strict: the CRL
 * number present and not critical); unless dates_only, a trust anchor
 * that is not self-issued against its issuer's CRLs (GnuTLS checks no
 * anchor), and a certificate naming its issuer in another encoding than
 * the issuer's subject while that issuer's CRLs are loaded. 1 when one
 * failed (out, detail). */
void mutls__crl_record(mutls_config *cfg, gnutls_x509_crl_t crl);
void mutls__crl_facts_free(mutls_config *cfg);
/* crl_checks.c: for each trust anchor of cfg that is not self-issued,
 * whether a loaded CRL of its issuer lists it, or names that issuer in
 * another encoding (then none can be matched to it). At freezing; 0 or
 * MUTLS_ENOMEM (set). */
int mutls__crl_anchor_facts(mutls_config *cfg);
int mutls__crl_checks(mutls_verdict *out, const char *who, const mutls_config *cfg,
	const mutls_path *p, int64_t now, mutls_profile profile, int dates_only,
	char *detail, size_t cap);
/* crl_checks.c: narrows [*from, *until] to when every CRL of p's issuers
 * is within its thisUpdate..nextUpdate (how long a passed check of p may
 * be re-used: chain_cache.c). */
void mutls__crl_window(const mutls_config *cfg, const mutls_path *p, int64_t *from, int64_t *until);

#endif
