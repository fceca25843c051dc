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
		mutls__hook_frame frame;
		int hrc;
		mutls__hook_enter(&frame, session);
		hrc = cfg->clock_fn(&t, session, cfg->clock_payload);
		mutls__hook_leave(&frame);
		if (hrc != 0)
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

/* Every certificate of the path, its trust anchor included. */
unsigned mutls__path_time_status(const mutls_path *p, int64_t now)
{
	unsigned status = 0;
	for (size_t i = 0; i < p->n; i++)
		check_dates(&status, gnutls_x509_crt_get_activation_time(p->crt[i]),
			gnutls_x509_crt_get_expiration_time(p->crt[i]), now);
	return status;
}
