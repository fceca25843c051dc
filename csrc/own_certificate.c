/* The certificate this side authenticated with (mutls_session_own_certificate). */
#include "session.h"
#include "config.h"

#include <string.h>

/* GnuTLS says which certificate it sent in this handshake
 * (gnutls_certificate_get_ours); a Config has one identity, so that is the
 * Config's leaf. A resumed handshake sends none: a server's ticket or
 * cached session resumes only on the Config that made it, so its leaf is
 * still the one the connection was established with; a resumed client
 * cannot know whether it was asked for its certificate back then. */
mutls_x509 *mutls_session_own_certificate(const mutls_session *s)
{
	const gnutls_datum_t *sent;
	mutls_x509 *leaf;

	if (!s || !s->cfg || !s->cfg->own_chain_len)
		return NULL;
	leaf = s->cfg->own_chain[0];
	if (s->handshake_done && gnutls_session_is_resumed(s->gs))
		return s->is_server ? leaf : NULL;
	sent = gnutls_certificate_get_ours(s->gs);
	if (!sent || sent->size != leaf->der.size || memcmp(sent->data, leaf->der.data, sent->size) != 0)
		return NULL;
	return leaf;
}
