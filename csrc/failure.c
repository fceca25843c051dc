/* Failures: every fatal GnuTLS error of a session classified once, here,
 * into the codes, reasons, side, step and alert of the error model, and
 * the alert that explains a refusal of ours sent. */
#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Alerts by which a peer says it refused us (rather than a broken stream). */
static int alert_is_refusal(int alert)
{
	switch (alert) {
	case GNUTLS_A_HANDSHAKE_FAILURE: case GNUTLS_A_BAD_CERTIFICATE:
	case GNUTLS_A_UNSUPPORTED_CERTIFICATE: case GNUTLS_A_CERTIFICATE_REVOKED:
	case GNUTLS_A_CERTIFICATE_EXPIRED: case GNUTLS_A_CERTIFICATE_UNKNOWN:
	case GNUTLS_A_UNKNOWN_CA: case GNUTLS_A_ACCESS_DENIED:
	case GNUTLS_A_INSUFFICIENT_SECURITY: case GNUTLS_A_PROTOCOL_VERSION:
	case GNUTLS_A_CERTIFICATE_REQUIRED: case GNUTLS_A_NO_APPLICATION_PROTOCOL:
	case GNUTLS_A_UNRECOGNIZED_NAME:
		return 1;
	default:
		return 0;
	}
}

static int alert_is_about_certificate(int alert)
{
	switch (alert) {
	case GNUTLS_A_BAD_CERTIFICATE: case GNUTLS_A_UNSUPPORTED_CERTIFICATE:
	case GNUTLS_A_CERTIFICATE_REVOKED: case GNUTLS_A_CERTIFICATE_EXPIRED:
	case GNUTLS_A_CERTIFICATE_UNKNOWN: case GNUTLS_A_UNKNOWN_CA:
	case GNUTLS_A_ACCESS_DENIED: case GNUTLS_A_CERTIFICATE_REQUIRED:
		return 1;
	default:
		return 0;
	}
}

static unsigned reasons_from_alert(int alert)
{
	switch (alert) {
	case GNUTLS_A_CERTIFICATE_EXPIRED: return MUTLS_REASON_EXPIRED;
	case GNUTLS_A_CERTIFICATE_REVOKED: return MUTLS_REASON_REVOKED;
	case GNUTLS_A_UNKNOWN_CA: return MUTLS_REASON_UNKNOWN_ISSUER;
	case GNUTLS_A_UNSUPPORTED_CERTIFICATE: return MUTLS_REASON_BAD_PURPOSE;
	default: return 0;
	}
}

static void send_alert(mutls_session *s, int alert)
{
	int rc, tries = 0;

	if (alert < 0)
		return;
	do
		rc = gnutls_alert_send(s->gs, GNUTLS_AL_FATAL, (gnutls_alert_description_t)alert);
	while ((rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) && s->fd >= 0 && ++tries < 3);
	mutls__trace_add(s, MUTLS_TRACE_ALERT, 1, 0, mutls_alert_name(alert), alert, 0,
		"%s", rc < 0 ? "could not be sent" : "");
	if (rc >= 0 && s->fd >= 0)
		mutls__transport_drain_after_alert(s);
}

static int own_certificate_sent(const mutls_session *s)
{
	return gnutls_certificate_get_ours(s->gs) != NULL;
}

/* "TLS1.3, TLS1.2": the versions the config's priority allows. */
static void allowed_versions(char *out, size_t cap, const mutls_config *cfg)
{
	const unsigned *list = NULL;
	int n = gnutls_priority_protocol_list(cfg->priority, &list);
	size_t used = 0;

	out[0] = 0;
	for (int i = 0; i < n && used + 1 < cap; i++) {
		const char *name = gnutls_protocol_get_name((gnutls_protocol_t)list[i]);
		int w = snprintf(out + used, cap - used, "%s%s", used ? ", " : "", name ? name : "?");
		if (w > 0)
			used += (size_t)w;
	}
	if (!out[0])
		snprintf(out, cap, "?");
}

/* A send that meets a reset (ECONNRESET, EPIPE) hides why the peer left:
 * its alert is often still in our receive buffer. Reads what is there
 * without blocking; returns the GnuTLS error that explains the reset (an
 * alert), or 0 when nothing does. */
static int alert_left_by_reset(mutls_session *s)
{
	unsigned char buf[2048];
	int saved_errno = s->io_errno, saved_eof = s->saw_eof;
	ssize_t n;
	int guard = 64;

	if (s->fd < 0)
		return 0;
	s->draining = 1;
	if (s->handshake_done) {
		do
			n = gnutls_record_recv(s->gs, buf, sizeof(buf));
		while ((n > 0 || n == GNUTLS_E_INTERRUPTED || n == GNUTLS_E_WARNING_ALERT_RECEIVED ||
			n == GNUTLS_E_REHANDSHAKE) && --guard);
	} else {
		/* mid-handshake the refusal is a plaintext alert record */
		mutls__transport_drain(s);
		n = mutls__transport_plaintext_alert(s) > 0 ? GNUTLS_E_DECRYPTION_FAILED : 0;
	}
	s->draining = 0;
	if (n == GNUTLS_E_FATAL_ALERT_RECEIVED ||
	    (n == GNUTLS_E_DECRYPTION_FAILED && mutls__transport_plaintext_alert(s) > 0))
		return (int)n;
	s->io_errno = saved_errno;
	s->saw_eof = saved_eof;
	return 0;
}

/* A failed session verified nobody, whatever its checks said before the
 * failure (a TLS 1.2 server checks the chain before the CertificateVerify
 * that proves the key). */
static void unverify(mutls_session *s)
{
	if (!s->verified)
		return;
	s->verified = 0;
	snprintf(s->verdict.message, sizeof(s->verdict.message),
		"%s certificate %s passed the certificate checks, but the %s failed: %.300s",
		s->is_server ? "client" : "server", s->peer_len ? s->peer_chain[0]->label : "?",
		s->handshake_done ? "session" : "handshake", s->err.message);
}

/* A hook's failure as the error gives it: the hook's own words in
 * hook_message, and in the message (appended when not already there). The
 * one rule for every binding. */
void mutls__error_hook(mutls_error *e, const mutls_session *s)
{
	size_t used;

	snprintf(e->hook_message, sizeof(e->hook_message), "%s", s->hook_message);
	if (!s->hook_message[0] || strstr(e->message, s->hook_message))
		return;
	used = strlen(e->message);
	snprintf(e->message + used, sizeof(e->message) - used, ": %s", s->hook_message);
}

/* Once reported, a hook's failure is spent: a later error is not the hook's. */
void mutls__session_clear_hook_failure(mutls_session *s)
{
	s->hook_failed = 0;
	s->failed_hook = NULL;
	s->hook_message[0] = 0;
}

/* ---- the classifiers ----------------------------------------------------- */

/* One failure being classified. */
typedef struct {
	mutls_session *s;
	mutls_error *e;
	int grc;                      /* the GnuTLS error, once unmasked */
	mutls_step phase;
	const char *peer;             /* "client" / "server" */
	mutls_step peer_step, own_step;
	int received;                 /* a plaintext alert found behind the error, else -1 */
	int send;                     /* send e->alert: the refusal is ours */
} failure;

/* Each classifier fills f->e (and f->send) and returns 1 when the failure
 * is its kind; the first that does wins, in the order of `classifiers`. */
typedef int (*classifier)(failure *f);

static int is_no_certificate(int grc)
{
	return grc == GNUTLS_E_NO_CERTIFICATE_FOUND || grc == GNUTLS_E_CERTIFICATE_REQUIRED;
}

static int is_reset(const mutls_session *s)
{
	return s->io_errno == ECONNRESET || s->io_errno == EPIPE;
}

/* A refusal can reach us in disguise. A TLS 1.2 server waiting for the
 * client's Certificate turns any alert into "no certificate found";
 * a TLS 1.3 peer may send its alert in plaintext where we expect an
 * encrypted record, which then "fails to decrypt". */
static void unmask(failure *f)
{
	mutls_session *s = f->s;

	/* GnuTLS reports ECONNRESET as a premature termination */
	if ((f->grc == GNUTLS_E_PUSH_ERROR || f->grc == GNUTLS_E_PREMATURE_TERMINATION) && is_reset(s)) {
		int why = alert_left_by_reset(s);
		if (why)
			f->grc = why;
	}
	if (f->grc == GNUTLS_E_NO_CERTIFICATE_FOUND && (int)gnutls_alert_get(s->gs) > 0)
		f->grc = GNUTLS_E_FATAL_ALERT_RECEIVED;
	if (f->grc == GNUTLS_E_DECRYPTION_FAILED && (f->received = mutls__transport_plaintext_alert(s)) > 0)
		f->grc = GNUTLS_E_FATAL_ALERT_RECEIVED;
}

/* a plain HTTP server or client, SSH, ...: GnuTLS would only say "An
 * unexpected TLS packet was received." */
static int not_tls(failure *f)
{
	mutls_session *s = f->s;
	char what[256];
	int level, a;

	if (s->handshake_done || !mutls__transport_not_tls(what, sizeof(what), s))
		return 0;
	a = gnutls_error_to_alert(f->grc, &level);
	mutls__error_fill(f->e, MUTLS_EPROTOCOL, MUTLS_SIDE_LOCAL, f->phase,
		level == GNUTLS_AL_FATAL ? a : -1, "the %s %s something that is not TLS (%s)",
		f->peer, s->is_server ? "sent" : "answered with", what);
	f->send = level == GNUTLS_AL_FATAL;
	return 1;
}

static int handshake_too_large(failure *f)
{
	if (!f->s->input_too_large)
		return 0;
	mutls__error_fill(f->e, MUTLS_EPROTOCOL, MUTLS_SIDE_LOCAL, f->phase, GNUTLS_A_DECODE_ERROR,
		"handshake data too large: the %s sent more than %u KiB before the handshake was done",
		f->peer, MUTLS_MAX_HANDSHAKE_INPUT / 1024);
	f->send = 1;
	return 1;
}

static int hook_failed(failure *f)
{
	mutls_session *s = f->s;

	if (!s->hook_failed)
		return 0;
	if (s->verdict.reasons & MUTLS_REASON_HOOK) {
		mutls__error_fill(f->e, MUTLS_EHOOK, MUTLS_SIDE_LOCAL, f->peer_step,
			GNUTLS_A_ACCESS_DENIED, "%s", s->verdict.message);
		f->e->reasons = s->verdict.reasons;
	} else {
		mutls__error_fill(f->e, MUTLS_EHOOK, MUTLS_SIDE_LOCAL, f->phase,
			GNUTLS_A_INTERNAL_ERROR, "the %s hook failed during the %s%s%s",
			s->failed_hook ? s->failed_hook : "trace", mutls_step_name(f->phase),
			s->hook_message[0] ? ": " : "", s->hook_message);
	}
	mutls__error_hook(f->e, s);
	f->send = 1;
	return 1;
}

/* malformed.c: decode_error, as gnutls_alert_send_appropriate */
static int malformed_message(failure *f)
{
	if (!f->s->malformed || !is_no_certificate(f->grc))
		return 0;
	mutls__error_fill(f->e, MUTLS_EPROTOCOL, MUTLS_SIDE_LOCAL, f->peer_step, GNUTLS_A_DECODE_ERROR,
		"%s sent a malformed message: %s", f->peer, f->s->malformed);
	f->send = 1;
	return 1;
}

/* TLS 1.2: the certificate came (and was checked), but no valid
 * CertificateVerify followed: GnuTLS calls that "no certificate" */
static int key_not_proven(failure *f)
{
	mutls_session *s = f->s;

	if (!is_no_certificate(f->grc) || !s->is_server || s->peer_len == 0)
		return 0;
	mutls__error_fill(f->e, MUTLS_EPROTOCOL, MUTLS_SIDE_LOCAL, f->peer_step, GNUTLS_A_UNEXPECTED_MESSAGE,
		"client presented certificate %s but did not prove it holds its key "
		"(CertificateVerify missing or malformed)", s->peer_chain[0]->label);
	f->send = 1;
	return 1;
}

static int no_certificate(failure *f)
{
	mutls_session *s = f->s;
	int tls13 = gnutls_protocol_get_version(s->gs) == GNUTLS_TLS1_3;

	if (!s->no_cert && !(s->is_server && s->cfg->peer_mode == MUTLS_PEER_REQUIRE &&
	    is_no_certificate(f->grc)))
		return 0;
	mutls__error_fill(f->e, MUTLS_ENOCERT, MUTLS_SIDE_LOCAL, f->peer_step,
		tls13 ? GNUTLS_A_CERTIFICATE_REQUIRED : GNUTLS_A_HANDSHAKE_FAILURE,
		"%s presented no certificate, but one is required", f->peer);
	/* GnuTLS may refuse before our verify function runs (TLS 1.3) */
	s->verify_ran = 1;
	snprintf(s->verdict.message, sizeof(s->verdict.message), "%s", f->e->message);
	f->send = 1;
	return 1;
}

static int peer_refused_by_us(failure *f)
{
	mutls_session *s = f->s;

	if (!s->verify_ran || !s->verdict.reasons)
		return 0;
	mutls__error_fill(f->e, MUTLS_EVERIFY, MUTLS_SIDE_LOCAL, f->peer_step,
		mutls__alert_for_reasons(s->verdict.reasons), "%s", s->verdict.message);
	f->e->reasons = s->verdict.reasons;
	f->send = 1;
	return 1;
}

static int alert_received(failure *f)
{
	mutls_session *s = f->s;
	mutls_error *e = f->e;
	int a;
	const char *name;

	if (f->grc != GNUTLS_E_FATAL_ALERT_RECEIVED)
		return 0;
	a = f->received > 0 ? f->received : (int)gnutls_alert_get(s->gs);
	name = mutls_alert_name(a);
	mutls__trace_add(s, MUTLS_TRACE_ALERT, 0, 0, name, a, 0, "%s", "");
	if (a == GNUTLS_A_CERTIFICATE_REQUIRED || (a == GNUTLS_A_HANDSHAKE_FAILURE &&
		!s->is_server && !own_certificate_sent(s) && gnutls_certificate_client_get_request_status(s->gs))) {
		mutls__error_fill(e, MUTLS_EPEERREJECTED, MUTLS_SIDE_PEER, f->own_step, a,
			"peer required a certificate, but we sent none (alert %s)", name);
	} else if (alert_is_about_certificate(a)) {
		mutls__error_fill(e, MUTLS_EPEERREJECTED, MUTLS_SIDE_PEER,
			own_certificate_sent(s) || s->is_server ? f->own_step : f->phase, a,
			"peer rejected our certificate (alert %s)", name);
		e->reasons = reasons_from_alert(a);
	} else if (alert_is_refusal(a)) {
		mutls__error_fill(e, MUTLS_EPEERREJECTED, MUTLS_SIDE_PEER, f->phase, a,
			"peer refused the %s (alert %s)", f->phase == MUTLS_STEP_RECORD ? "connection" : "handshake", name);
	} else {
		mutls__error_fill(e, MUTLS_EPROTOCOL, MUTLS_SIDE_PEER, f->phase, a,
			"peer reported an error (alert %s)", name);
	}
	return 1;
}

static int timed_out(failure *f)
{
	if (f->grc != GNUTLS_E_TIMEDOUT)
		return 0;
	mutls__error_fill(f->e, MUTLS_ETIMEOUT, MUTLS_SIDE_LOCAL, f->phase, -1,
		"timed out waiting for the %s during the %s", f->peer, mutls_step_name(f->phase));
	return 1;
}

static int closed_by_peer(failure *f)
{
	mutls_session *s = f->s;
	int grc = f->grc;

	if (!(grc == GNUTLS_E_PREMATURE_TERMINATION || grc == GNUTLS_E_SESSION_EOF || s->saw_eof ||
	      (s->fd < 0 && s->in_eof && !mutls__transport_has_input(s)) ||
	      ((grc == GNUTLS_E_PULL_ERROR || grc == GNUTLS_E_PUSH_ERROR) && is_reset(s))))
		return 0;
	mutls__error_fill(f->e, MUTLS_ECLOSED, MUTLS_SIDE_PEER, f->phase, -1,
		f->phase == MUTLS_STEP_RECORD ? "%s closed the connection without close_notify%s%s%s" :
		"%s closed the connection during the handshake%s%s%s", f->peer,
		s->io_errno ? ": " : "", s->io_errno ? strerror(s->io_errno) : "",
		f->phase == MUTLS_STEP_RECORD ? mutls__transport_closed_hint(s) : "");
	return 1;
}

static int socket_error(failure *f)
{
	mutls_session *s = f->s;

	if (f->grc != GNUTLS_E_PULL_ERROR && f->grc != GNUTLS_E_PUSH_ERROR)
		return 0;
	mutls__error_fill(f->e, MUTLS_ECLOSED, MUTLS_SIDE_LOCAL, f->phase, -1,
		"socket error during the %s: %s", mutls_step_name(f->phase),
		s->io_errno ? strerror(s->io_errno) : gnutls_strerror(f->grc));
	return 1;
}

static int own_key_cannot_sign(failure *f)
{
	const mutls_config *cfg = f->s->cfg;

	if ((f->grc != GNUTLS_E_KEY_USAGE_VIOLATION && f->grc != GNUTLS_E_NO_CIPHER_SUITES) ||
	    !cfg->own_chain_len || mutls__usage_allows_signing(cfg->own_chain[0]->crt))
		return 0;
	mutls__error_fill(f->e, MUTLS_ECONFIG, MUTLS_SIDE_LOCAL, f->own_step, GNUTLS_A_INTERNAL_ERROR,
		"our certificate %s may not sign the handshake (its key usage lacks digitalSignature)",
		cfg->own_chain[0]->label);
	f->send = 1;
	return 1;
}

static int nothing_in_common(failure *f)
{
	mutls_session *s = f->s;
	char ours[64];
	int level, a;

	if (!s->is_server || (f->grc != GNUTLS_E_NO_CIPHER_SUITES &&
	    f->grc != GNUTLS_E_UNSUPPORTED_VERSION_PACKET && f->grc != GNUTLS_E_INSUFFICIENT_SECURITY))
		return 0;
	a = gnutls_error_to_alert(f->grc, &level);
	allowed_versions(ours, sizeof(ours), s->cfg);
	mutls__error_fill(f->e, MUTLS_EPROTOCOL, MUTLS_SIDE_LOCAL, f->phase, a,
		"no TLS version and cipher suite in common with the client "
		"(it offers %s; we allow %s)", s->offered_versions[0] ? s->offered_versions : "?", ours);
	f->send = 1;
	return 1;
}

static int record_not_decrypted(failure *f)
{
	if (f->grc != GNUTLS_E_DECRYPTION_FAILED)
		return 0;
	mutls__error_fill(f->e, MUTLS_EPROTOCOL, MUTLS_SIDE_LOCAL, f->phase, GNUTLS_A_BAD_RECORD_MAC,
		"a record from the %s failed to decrypt: it was not encrypted by the %s "
		"with our shared keys (reflected, tampered or corrupted)", f->peer, f->peer);
	f->send = 1;
	return 1;
}

/* Anything else: GnuTLS's own words. */
static int gnutls_says(failure *f)
{
	int level;
	int a = gnutls_error_to_alert(f->grc, &level);

	mutls__error_fill(f->e, MUTLS_EPROTOCOL, MUTLS_SIDE_LOCAL, f->phase,
		level == GNUTLS_AL_FATAL ? a : -1, "%s (GnuTLS, during the %s)",
		gnutls_strerror(f->grc), mutls_step_name(f->phase));
	f->send = level == GNUTLS_AL_FATAL;
	return 1;
}

/* The order is the rule: what we know of the stream and our own refusals
 * first, then what the peer said, then what the socket did, then GnuTLS. */
static const classifier classifiers[] = {
	not_tls, handshake_too_large, hook_failed, malformed_message, key_not_proven,
	no_certificate, peer_refused_by_us, alert_received, timed_out, closed_by_peer,
	socket_error, own_key_cannot_sign, nothing_in_common, record_not_decrypted,
	gnutls_says,
};

/* Classifies a fatal GnuTLS error into s->err, sends the alert that explains
 * it when the refusal is ours, and makes the session unusable. */
int mutls__session_fail(mutls_session *s, int grc, mutls_step phase)
{
	failure f = {
		.s = s, .e = &s->err, .grc = grc, .phase = phase,
		.peer = s->is_server ? "client" : "server",
		.peer_step = s->is_server ? MUTLS_STEP_CLIENT_CERTIFICATE : MUTLS_STEP_SERVER_CERTIFICATE,
		.own_step = s->is_server ? MUTLS_STEP_SERVER_CERTIFICATE : MUTLS_STEP_CLIENT_CERTIFICATE,
		.received = -1, .send = 0,
	};

	unmask(&f);
	for (size_t i = 0; !classifiers[i](&f); i++)
		;
	if (f.send)
		send_alert(s, f.e->alert);
	else if (f.e->side == MUTLS_SIDE_LOCAL)
		f.e->alert = -1;
	s->failed = 1;
	s->has_err = 1;
	unverify(s);
	mutls__session_clear_hook_failure(s);
	return mutls__error_copy(f.e);
}
