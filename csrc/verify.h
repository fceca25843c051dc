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
	mutls_chain_memo *memo);

/* Appends " and <phrase>" (or "<who> <phrase>" when empty) to a verdict. */
void mutls__verdict_add(mutls_verdict *v, const char *who, unsigned reason,
	const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The alert to send for a set of reasons (the most specific one wins). */
int mutls__alert_for_reasons(unsigned reasons);

/* The CN of a trust anchor (a bare GnuTLS certificate), or its whole DN. */
void mutls__anchor_label(char *out, size_t cap, gnutls_x509_crt_t crt);

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
 * records the issuers of the usable ones (for the revocation trace) and
 * returns how many cannot be used, why the first cannot in why ("the CRL
 * of CN=x expired at ..."). Call before adding them to the trust list.
 */
int mutls__crl_inspect(char *why, size_t cap, mutls_config *cfg, const gnutls_datum_t *data,
	int pem);
void mutls__crl_issuers_free(mutls_config *cfg);

#endif
