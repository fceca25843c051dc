/* The verification clock (option verify_time) and the date checks of a
 * chain at that time. GnuTLS's path validation knows only the system clock,
 * so mutls turns its time checks off (verify.c) and checks the dates of the
 * chain it follows here, at the clock's time. */
#include "verify.h"

#include <time.h>

int mutls__config_now(int64_t *out, const mutls_config *cfg, mutls_session *session)
{
	*out = 0;
	if (cfg->clock_fn) {
		int64_t t = 0;
		if (cfg->clock_fn(&t, session, cfg->clock_payload) != 0)
			return mutls__error(MUTLS_EHOOK, "verify_time: the clock function failed");
		*out = t;
		return 0;
	}
	*out = cfg->verify_time_set ? cfg->verify_time : (int64_t)time(NULL);
	return 0;
}

/* Adds the validity of crt (nb, na) at now to *status. */
static void check_dates(unsigned *status, int64_t nb, int64_t na, int64_t now)
{
	if (now > na)
		*status |= GNUTLS_CERT_EXPIRED;
	if (now < nb)
		*status |= GNUTLS_CERT_NOT_ACTIVATED;
}

/* The path as GnuTLS follows it: from the leaf through presented issuers
 * (each used once) until a trust anchor issued (or is) the current one. */
unsigned mutls__chain_time_status(const mutls_config *cfg, mutls_x509 *const *chain,
	size_t n, int64_t now)
{
	unsigned status = 0;
	unsigned char used[64] = { 0 };
	size_t cur = 0;

	if (n > 64)
		n = 64;
	for (size_t steps = 0; steps < n; steps++) {
		gnutls_x509_crt_t anchor = NULL;
		size_t next = n;
		check_dates(&status, chain[cur]->not_before, chain[cur]->not_after, now);
		used[cur] = 1;
		if (gnutls_x509_trust_list_get_issuer(cfg->tlist, chain[cur]->crt, &anchor,
				GNUTLS_TL_GET_COPY) >= 0) {
			/* a self-signed trusted certificate is its own anchor: checked above */
			if (!gnutls_x509_crt_equals(anchor, chain[cur]->crt))
				check_dates(&status, gnutls_x509_crt_get_activation_time(anchor),
					gnutls_x509_crt_get_expiration_time(anchor), now);
			gnutls_x509_crt_deinit(anchor);
			break;
		}
		for (size_t i = 1; i < n && next == n; i++)
			if (!used[i] && gnutls_x509_crt_check_issuer(chain[cur]->crt, chain[i]->crt))
				next = i;
		if (next == n)
			break;
		cur = next;
	}
	return status;
}
