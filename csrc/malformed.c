/* Malformed client messages that GnuTLS reports as "no certificate".
 *
 * A TLS 1.2 server gets GNUTLS_E_NO_CERTIFICATE_FOUND both when the client
 * has no certificate (an empty list: RFC 5246 7.4.6 allows refusing with
 * handshake_failure) and when the client's message is malformed: an empty
 * CertificateVerify, or a certificate entry of zero bytes (ASN.1Cert is
 * <1..2^24-1>). For malformed input the alert is decode_error, the one
 * gnutls_alert_send_appropriate sends (gnutls-serv does). The handshake
 * hook shows each message before GnuTLS parses it; this file notes the
 * malformed ones so that session_fail can tell the two apart. */
#include "session.h"

static size_t read24(const unsigned char *p)
{
	return (size_t)p[0] << 16 | (size_t)p[1] << 8 | p[2];
}

/* 1 when a certificate list (its 3-byte length first) that parses has an
 * entry of zero bytes; TLS 1.3 entries carry extensions after each one. */
static int has_empty_entry(const unsigned char *p, size_t len, int tls13)
{
	size_t list, pos = 3;

	if (len < 3)
		return 0;
	list = read24(p);
	if (list != len - 3)
		return 0; /* a length mismatch: GnuTLS itself says decode_error */
	while (pos + 3 <= len) {
		size_t entry = read24(p + pos);
		if (entry == 0)
			return 1;
		pos += 3 + entry;
		if (tls13) {
			if (pos + 2 > len)
				return 0;
			pos += 2 + ((size_t)p[pos] << 8 | p[pos + 1]);
		}
	}
	return 0;
}

void mutls__malformed_note(mutls_session *s, unsigned htype, const gnutls_datum_t *msg)
{
	int tls13 = gnutls_protocol_get_version(s->gs) == GNUTLS_TLS1_3;
	const unsigned char *p = msg ? msg->data : NULL;
	size_t len = msg && msg->data ? msg->size : 0;

	if (!s->is_server || s->malformed)
		return;
	if (htype == GNUTLS_HANDSHAKE_CERTIFICATE_VERIFY) {
		if (len == 0)
			s->malformed = "its CertificateVerify message is empty";
	} else if (htype == GNUTLS_HANDSHAKE_CERTIFICATE_PKT && p) {
		/* TLS 1.3: a request context (1-byte length) comes first */
		size_t skip = tls13 ? (len ? 1u + p[0] : 1u) : 0;
		if (skip <= len && has_empty_entry(p + skip, len - skip, tls13))
			s->malformed = "its Certificate message holds a certificate of zero bytes";
	}
}
