/* Session: one TLS connection, client or server, over a socket or memory.
 * Handshake, records, close; every failure classified once, here, into the
 * codes, reasons, side, step and alert of the error model. */
#include "session.h"
#include "chain_cache.h"
#include "session_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

/* ---- lifecycle -------------------------------------------------------- */

static int is_ip_literal(const char *name)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

static int socket_blocks(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	return flags >= 0 && !(flags & O_NONBLOCK);
}

/* AGAIN with input still waiting (TLS 1.3 tickets and key updates stop
 * GnuTLS early): go on rather than report want-read. On a blocking socket
 * the next read simply waits. */
static int should_retry(const mutls_session *s)
{
	return !s->timed_out && (mutls__transport_has_input(s) ||
		(s->fd >= 0 && (s->deadline_ms || socket_blocks(s->fd))));
}

static int session_new(mutls_session **out, mutls_config *cfg, int is_server,
	const char *hostname, int fd)
{
	mutls_session *s;
	unsigned flags;
	int rc;

	if (!out)
		return mutls__error(MUTLS_EUSAGE, "session: out is NULL");
	*out = NULL;
	if (!cfg)
		return mutls__error(MUTLS_EUSAGE, "session: config is NULL");
	if (!is_server && !hostname && cfg->check_hostname && cfg->peer_mode != MUTLS_PEER_NONE)
		return mutls__error(MUTLS_EUSAGE,
			"client session: server_hostname is required to check the server's name "
			"(or turn the check off explicitly with check_hostname=false)");
	if (is_server && !cfg->own_chain_len)
		return mutls__error(MUTLS_EUSAGE,
			"server session: the config has no identity (certificate and private_key)");
	if ((rc = mutls_config_freeze(cfg)) < 0)
		return rc;

	s = calloc(1, sizeof(*s));
	if (!s)
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	s->cfg = mutls_config_ref(cfg);
	s->is_server = is_server;
	s->fd = fd < 0 ? -1 : fd;
	s->timeout_ms = -1;
	if (hostname && !(s->hostname = mutls__strdup(hostname))) {
		mutls_session_free(s);
		return MUTLS_ENOMEM;
	}

	flags = (is_server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NO_SIGNAL;
	/* A non-blocking socket must not wait in GnuTLS's timeout poll. */
	if (s->fd < 0 || !socket_blocks(s->fd))
		flags |= GNUTLS_NONBLOCK;
	/* Send our certificate even when the server's CA list does not name its
	 * issuer, so that the server can refuse it with a reason. */
	if (!is_server)
		flags |= GNUTLS_FORCE_CLIENT_CERT;
	if (!cfg->tickets)
		flags |= GNUTLS_NO_TICKETS;
	if ((rc = gnutls_init(&s->gs, flags)) < 0) {
		s->gs = NULL;
		mutls_session_free(s);
		return mutls__error_gnutls(MUTLS_ENOMEM, rc, "session: cannot initialise");
	}
	gnutls_session_set_ptr(s->gs, s);
	if ((rc = gnutls_priority_set(s->gs, cfg->priority)) < 0 ||
	    (rc = gnutls_credentials_set(s->gs, GNUTLS_CRD_CERTIFICATE, cfg->cred)) < 0)
		goto gnutls_fail;
	if (is_server) {
		gnutls_certificate_server_set_request(s->gs,
			cfg->peer_mode == MUTLS_PEER_REQUIRE ? GNUTLS_CERT_REQUIRE :
			cfg->peer_mode == MUTLS_PEER_REQUEST ? GNUTLS_CERT_REQUEST : GNUTLS_CERT_IGNORE);
		if (cfg->tickets && (rc = gnutls_session_ticket_enable_server(s->gs, &cfg->ticket_key)) < 0)
			goto gnutls_fail;
		mutls__session_cache_attach(s);
		if (!cfg->send_ca_names)
			gnutls_certificate_send_x509_rdn_sequence(s->gs, 1);
	} else if (hostname && !is_ip_literal(hostname)) {
		if ((rc = gnutls_server_name_set(s->gs, GNUTLS_NAME_DNS, hostname, strlen(hostname))) < 0)
			goto gnutls_fail;
		s->server_name = mutls__strdup(hostname);
	}
	/* RFC 7301: the server selects; by its own order of preference */
	if (cfg->alpn_count &&
	    (rc = gnutls_alpn_set_protocols(s->gs, cfg->alpn, (unsigned)cfg->alpn_count,
		is_server ? GNUTLS_ALPN_SERVER_PRECEDENCE : 0)) < 0)
		goto gnutls_fail;
	/* Memory mode has no clock of its own: no handshake deadline. */
	gnutls_handshake_set_timeout(s->gs, 0);
	mutls__transport_setup(s);
	mutls__trace_setup(s);
	*out = s;
	return 0;

gnutls_fail:
	mutls_session_free(s);
	return mutls__error_gnutls(MUTLS_ECONFIG, rc, "session: cannot apply the config");
}

int mutls_session_client(mutls_session **out, mutls_config *cfg,
	const char *server_hostname, int fd)
{
	return session_new(out, cfg, 0, server_hostname, fd);
}

int mutls_session_server(mutls_session **out, mutls_config *cfg, int fd)
{
	return session_new(out, cfg, 1, NULL, fd);
}

static void free_peer_chain(mutls_session *s)
{
	mutls_x509_list_free(s->peer_chain, s->peer_len);
	s->peer_chain = NULL;
	s->peer_len = 0;
}

void mutls_session_free(mutls_session *s)
{
	if (!s)
		return;
	if (s->gs)
		gnutls_deinit(s->gs);
	free_peer_chain(s);
	mutls__trace_free(s);
	free(s->in);
	free(s->out);
	free(s->hostname);
	free(s->server_name);
	free(s->alpn);
	mutls_config_unref(s->cfg);
	free(s);
}

int mutls_session_set_timeout(mutls_session *s, int timeout_ms)
{
	if (!s)
		return mutls__error(MUTLS_EUSAGE, "set_timeout: NULL session");
	s->timeout_ms = timeout_ms > 0 ? timeout_ms : -1;
	return 0;
}

void mutls_session_set_userdata(mutls_session *s, void *userdata)
{
	if (s)
		s->userdata = userdata;
}

void mutls_session_set_hook_error(mutls_session *s, const char *message)
{
	if (s && message)
		snprintf(s->hook_message, sizeof(s->hook_message), "%s", message);
}

void *mutls_session_userdata(const mutls_session *s)
{
	return s ? s->userdata : NULL;
}

int mutls_session_set_data(mutls_session *s, const unsigned char *data, size_t len)
{
	int rc;

	if (!s || !data || !len)
		return mutls__error(MUTLS_EUSAGE, "set_data: NULL or empty session data");
	if (s->is_server)
		return mutls__error(MUTLS_EUSAGE, "set_data: only a client resumes a session");
	if (s->handshake_done || s->failed)
		return mutls__error(MUTLS_EUSAGE, "set_data: call it before the handshake");
	rc = gnutls_session_set_data(s->gs, data, len);
	if (rc < 0)
		return mutls__error_gnutls(MUTLS_EUSAGE, rc, "set_data: not usable session data");
	return 0;
}

/* ---- verification (called by GnuTLS through the credentials) ---------- */

static int emit_check(void *ctx, const char *check, int ok, const char *detail)
{
	return mutls__trace_add(ctx, MUTLS_TRACE_CHECK, 0, ok, check, 0, 0, "%s", detail);
}

static int load_peer_chain(mutls_session *s)
{
	const gnutls_datum_t *certs;
	unsigned n = 0;

	free_peer_chain(s);
	certs = gnutls_certificate_get_peers(s->gs, &n);
	if (!certs || n == 0)
		return 0;
	/* The same chain (a client's, across reconnects) is parsed once per config */
	if (mutls__chain_cache_get(&s->peer_chain, &s->peer_len, s->cfg, certs, n))
		return 0;
	s->peer_chain = calloc(n, sizeof(*s->peer_chain));
	if (!s->peer_chain)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		if (mutls__x509_from_datum(&s->peer_chain[i], &certs[i]) < 0) {
			mutls_x509_list_free(s->peer_chain, i);
			s->peer_chain = NULL;
			return -1;
		}
	}
	s->peer_len = n;
	mutls__chain_cache_put(s->cfg, certs, n, s->peer_chain);
	return 0;
}

/* The user's verify hook, after every other check; whom names the peer in
 * the message ("client certificate CN=x" or "anonymous client"). Returns
 * the hook's verdict; -1 when the trace hook failed. */
static int run_verify_hook(mutls_session *s, const char *whom)
{
	char reason[512] = "";
	int verdict = s->cfg->verify_hook(s, s->cfg->verify_payload, reason, sizeof(reason));

	reason[sizeof(reason) - 1] = 0;
	if (verdict == MUTLS_HOOK_ACCEPT)
		return emit_check(s, "hook", 1, "accepted by the verify hook") ? -1 : verdict;
	if (verdict == MUTLS_HOOK_REJECT) {
		mutls__verdict_add(&s->verdict, whom, MUTLS_REASON_HOOK,
			"was rejected by the verify hook: %s", reason[0] ? reason : "no reason given");
		emit_check(s, "hook", 0, reason[0] ? reason : "rejected by the verify hook");
		return verdict;
	}
	s->hook_failed = 1;
	mutls__verdict_add(&s->verdict, whom, MUTLS_REASON_HOOK,
		"was refused because the verify hook failed: %s", reason[0] ? reason : "error in hook");
	emit_check(s, "hook", 0, reason[0] ? reason : "the verify hook failed");
	return MUTLS_HOOK_ERROR;
}

/* peer_certificate=request and no certificate came. With `peers` set, no
 * pattern can match: refused (reason policy) unless the verify hook, which
 * always sees the anonymous peer (leaf NULL, chain empty), accepts it. */
static int check_anonymous_peer(mutls_session *s, const char *peer)
{
	mutls_config *cfg = s->cfg;
	char whom[32], allowed[256];
	int verdict;

	if (emit_check(s, "presence", 1, "no certificate presented (allowed: peer_certificate=request)"))
		return -1;
	snprintf(whom, sizeof(whom), "anonymous %s", peer);
	if (cfg->pattern_count) {
		mutls__policy_describe(allowed, sizeof(allowed), cfg);
		mutls__verdict_add(&s->verdict, peer, MUTLS_REASON_POLICY,
			"presented no certificate, so it cannot match the peers policy (allowed: %s)", allowed);
		if (emit_check(s, "policy", 0, "no certificate presented, so no peers pattern can match"))
			return -1;
	}
	if (!cfg->verify_hook) {
		if (s->verdict.reasons)
			return -1;
		snprintf(s->verdict.message, sizeof(s->verdict.message),
			"%s presented no certificate (allowed: peer_certificate=request)", peer);
		return 0;
	}
	verdict = run_verify_hook(s, whom);
	if (verdict == -1)
		return -1;
	if (verdict != MUTLS_HOOK_ACCEPT)
		return -1;
	/* the hook's acceptance is what lets an anonymous peer past `peers` */
	s->verdict.reasons = 0;
	snprintf(s->verdict.message, sizeof(s->verdict.message),
		"%s presented no certificate and was accepted by the verify hook "
		"(peer_certificate=request)", peer);
	return 0;
}

/* Every check of the peer: presence, chain..policy (verify.c), then the
 * user's hook. 0 to accept; -1 to refuse (state in s). */
static int check_peer(mutls_session *s)
{
	mutls_config *cfg = s->cfg;
	const char *peer = s->is_server ? "client" : "server";
	char who[32], whofull[300];
	mutls_chain_memo memo = { 0, 0, 0, 0, 0, 0 };
	mutls_purpose purpose;
	const gnutls_datum_t *certs;
	unsigned ncerts = 0;
	int rc;

	memset(&s->verdict, 0, sizeof(s->verdict));
	s->verify_ran = 1;
	s->verified = 0;
	if (!s->offline && load_peer_chain(s) < 0) {
		mutls__verdict_add(&s->verdict, peer, MUTLS_REASON_UNKNOWN_ISSUER,
			"certificate could not be parsed");
		emit_check(s, "presence", 0, "the certificate could not be parsed");
		return -1;
	}
	if (s->peer_len == 0) {
		if (cfg->peer_mode == MUTLS_PEER_REQUIRE) {
			s->no_cert = 1;
			snprintf(s->verdict.message, sizeof(s->verdict.message),
				"%s presented no certificate, but one is required", peer);
			emit_check(s, "presence", 0, "no certificate presented, but one is required");
			return -1;
		}
		if (cfg->peer_mode == MUTLS_PEER_REQUEST)
			return check_anonymous_peer(s, peer);
		snprintf(s->verdict.message, sizeof(s->verdict.message),
			"%s presented no certificate (allowed: peer_certificate=none)", peer);
		return emit_check(s, "presence", 1, "no certificate presented (allowed: peer_certificate=none)") ? -1 : 0;
	}
	if (emit_check(s, "presence", 1, s->peer_len == 1 ? "1 certificate presented" :
		s->peer_len == 2 ? "2 certificates presented" : "a chain of certificates presented"))
		return -1;
	if (cfg->peer_mode == MUTLS_PEER_NONE) {
		snprintf(s->verdict.message, sizeof(s->verdict.message),
			"%s certificate %s was not verified (peer_certificate=none)", peer,
			s->peer_chain[0]->label);
		return emit_check(s, "verification", 1, "skipped: peer_certificate=none") ? -1 : 0;
	}

	snprintf(who, sizeof(who), "%s certificate", peer);
	purpose = s->is_server ? MUTLS_PURPOSE_CLIENT : MUTLS_PURPOSE_SERVER;
	/* Only a resumed handshake, or a chain checked outside a handshake
	 * (nginx sends it with every request), re-uses a chain check
	 * (chain_cache.c) */
	if (s->offline) {
		certs = s->offline_der;
		ncerts = (unsigned)s->peer_len;
	} else {
		certs = gnutls_certificate_get_peers(s->gs, &ncerts);
	}
	memo.have_now = mutls__config_now(&memo.now, cfg, s) == 0;
	if (!memo.have_now)
		s->hook_failed = 1; /* the verify_time function failed: code "hook" */
	memo.reuse = (s->offline || gnutls_session_is_resumed(s->gs)) && memo.have_now &&
		mutls__chain_cache_checked(cfg, certs, ncerts, purpose, memo.now);
	rc = mutls__verify_chain(&s->verdict, cfg, s->peer_chain, s->peer_len,
		(!s->is_server && cfg->check_hostname) ? s->hostname : NULL,
		purpose, who, emit_check, s, &memo, NULL);
	if (memo.passed)
		mutls__chain_cache_set_checked(cfg, certs, ncerts, purpose, memo.usable_from, memo.usable_until);
	if (rc != 0 && rc != MUTLS_EVERIFY)
		return -1; /* the trace hook failed */

	snprintf(whofull, sizeof(whofull), "%s %s", who, s->peer_chain[0]->label);
	if (cfg->verify_hook && run_verify_hook(s, whofull) == -1)
		return -1;
	s->verified = s->verdict.reasons == 0;
	if (s->verified)
		snprintf(s->verdict.message, sizeof(s->verdict.message),
			"%s passed every check", whofull);
	return s->verified ? 0 : -1;
}

int mutls__session_verify_callback(gnutls_session_t gs)
{
	mutls_session *s = gnutls_session_get_ptr(gs);
	return check_peer(s) == 0 ? 0 : -1;
}

/* ---- failures ----------------------------------------------------------- */

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

/* Once reported, a hook's failure is spent: a later error is not the hook's. */
static void clear_hook_failure(mutls_session *s)
{
	s->hook_failed = 0;
	s->failed_hook = NULL;
	s->hook_message[0] = 0;
}

/* Classifies a fatal GnuTLS error into s->err, sends the alert that explains
 * it when the refusal is ours, and makes the session unusable. */
static int session_fail(mutls_session *s, int grc, mutls_step phase)
{
	mutls_error *e = &s->err;
	const char *peer = s->is_server ? "client" : "server";
	mutls_step peer_step = s->is_server ? MUTLS_STEP_CLIENT_CERTIFICATE : MUTLS_STEP_SERVER_CERTIFICATE;
	mutls_step own_step = s->is_server ? MUTLS_STEP_SERVER_CERTIFICATE : MUTLS_STEP_CLIENT_CERTIFICATE;
	int tls13 = gnutls_protocol_get_version(s->gs) == GNUTLS_TLS1_3;
	int alert = -1, send = 0, received = -1;
	char what[256];

	/* A refusal can reach us in disguise. A TLS 1.2 server waiting for the
	 * client's Certificate turns any alert into "no certificate found";
	 * a TLS 1.3 peer may send its alert in plaintext where we expect an
	 * encrypted record, which then "fails to decrypt". */
	/* GnuTLS reports ECONNRESET as a premature termination */
	if ((grc == GNUTLS_E_PUSH_ERROR || grc == GNUTLS_E_PREMATURE_TERMINATION) &&
	    (s->io_errno == ECONNRESET || s->io_errno == EPIPE)) {
		int why = alert_left_by_reset(s);
		if (why)
			grc = why;
	}
	if (grc == GNUTLS_E_NO_CERTIFICATE_FOUND && (int)gnutls_alert_get(s->gs) > 0)
		grc = GNUTLS_E_FATAL_ALERT_RECEIVED;
	if (grc == GNUTLS_E_DECRYPTION_FAILED && (received = mutls__transport_plaintext_alert(s)) > 0)
		grc = GNUTLS_E_FATAL_ALERT_RECEIVED;

	if (!s->handshake_done && mutls__transport_not_tls(what, sizeof(what), s)) {
		/* a plain HTTP server or client, SSH, ...: GnuTLS would only say
		 * "An unexpected TLS packet was received." */
		int level;
		int a = gnutls_error_to_alert(grc, &level);
		mutls__error_fill(e, MUTLS_EPROTOCOL, MUTLS_SIDE_LOCAL, phase,
			level == GNUTLS_AL_FATAL ? a : -1, "the %s %s something that is not TLS (%s)",
			peer, s->is_server ? "sent" : "answered with", what);
		send = level == GNUTLS_AL_FATAL;
	} else if (s->input_too_large) {
		mutls__error_fill(e, MUTLS_EPROTOCOL, MUTLS_SIDE_LOCAL, phase, GNUTLS_A_DECODE_ERROR,
			"handshake data too large: the %s sent more than %u KiB before the handshake was done",
			peer, MUTLS_MAX_HANDSHAKE_INPUT / 1024);
		send = 1;
	} else if (s->hook_failed) {
		if (s->verdict.reasons & MUTLS_REASON_HOOK) {
			mutls__error_fill(e, MUTLS_EHOOK, MUTLS_SIDE_LOCAL, peer_step,
				GNUTLS_A_ACCESS_DENIED, "%s", s->verdict.message);
			e->reasons = s->verdict.reasons;
		} else {
			mutls__error_fill(e, MUTLS_EHOOK, MUTLS_SIDE_LOCAL, phase,
				GNUTLS_A_INTERNAL_ERROR, "the %s hook failed during the %s%s%s",
				s->failed_hook ? s->failed_hook : "trace", mutls_step_name(phase),
				s->hook_message[0] ? ": " : "", s->hook_message);
		}
		send = 1;
	} else if (s->malformed &&
		   (grc == GNUTLS_E_NO_CERTIFICATE_FOUND || grc == GNUTLS_E_CERTIFICATE_REQUIRED)) {
		/* malformed.c: decode_error, as gnutls_alert_send_appropriate */
		mutls__error_fill(e, MUTLS_EPROTOCOL, MUTLS_SIDE_LOCAL, peer_step, GNUTLS_A_DECODE_ERROR,
			"%s sent a malformed message: %s", peer, s->malformed);
		send = 1;
	} else if ((grc == GNUTLS_E_NO_CERTIFICATE_FOUND || grc == GNUTLS_E_CERTIFICATE_REQUIRED) &&
		   s->is_server && s->peer_len > 0) {
		/* TLS 1.2: the certificate came (and was checked), but no valid
		 * CertificateVerify followed: GnuTLS calls that "no certificate" */
		mutls__error_fill(e, MUTLS_EPROTOCOL, MUTLS_SIDE_LOCAL, peer_step, GNUTLS_A_UNEXPECTED_MESSAGE,
			"client presented certificate %s but did not prove it holds its key "
			"(CertificateVerify missing or malformed)", s->peer_chain[0]->label);
		send = 1;
	} else if (s->no_cert || (s->is_server && s->cfg->peer_mode == MUTLS_PEER_REQUIRE &&
		   (grc == GNUTLS_E_NO_CERTIFICATE_FOUND || grc == GNUTLS_E_CERTIFICATE_REQUIRED))) {
		mutls__error_fill(e, MUTLS_ENOCERT, MUTLS_SIDE_LOCAL, peer_step,
			tls13 ? GNUTLS_A_CERTIFICATE_REQUIRED : GNUTLS_A_HANDSHAKE_FAILURE,
			"%s presented no certificate, but one is required", peer);
		/* GnuTLS may refuse before our verify function runs (TLS 1.3) */
		s->verify_ran = 1;
		snprintf(s->verdict.message, sizeof(s->verdict.message), "%s", e->message);
		send = 1;
	} else if (s->verify_ran && s->verdict.reasons) {
		mutls__error_fill(e, MUTLS_EVERIFY, MUTLS_SIDE_LOCAL, peer_step,
			mutls__alert_for_reasons(s->verdict.reasons), "%s", s->verdict.message);
		e->reasons = s->verdict.reasons;
		send = 1;
	} else if (grc == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		int a = received > 0 ? received : (int)gnutls_alert_get(s->gs);
		const char *name = mutls_alert_name(a);
		mutls__trace_add(s, MUTLS_TRACE_ALERT, 0, 0, name, a, 0, "%s", "");
		if (a == GNUTLS_A_CERTIFICATE_REQUIRED || (a == GNUTLS_A_HANDSHAKE_FAILURE &&
			!s->is_server && !own_certificate_sent(s) && gnutls_certificate_client_get_request_status(s->gs))) {
			mutls__error_fill(e, MUTLS_EPEERREJECTED, MUTLS_SIDE_PEER, own_step, a,
				"peer required a certificate, but we sent none (alert %s)", name);
		} else if (alert_is_about_certificate(a)) {
			mutls__error_fill(e, MUTLS_EPEERREJECTED, MUTLS_SIDE_PEER,
				own_certificate_sent(s) || s->is_server ? own_step : phase, a,
				"peer rejected our certificate (alert %s)", name);
			e->reasons = reasons_from_alert(a);
		} else if (alert_is_refusal(a)) {
			mutls__error_fill(e, MUTLS_EPEERREJECTED, MUTLS_SIDE_PEER, phase, a,
				"peer refused the %s (alert %s)", phase == MUTLS_STEP_RECORD ? "connection" : "handshake", name);
		} else {
			mutls__error_fill(e, MUTLS_EPROTOCOL, MUTLS_SIDE_PEER, phase, a,
				"peer reported an error (alert %s)", name);
		}
	} else if (grc == GNUTLS_E_TIMEDOUT) {
		mutls__error_fill(e, MUTLS_ETIMEOUT, MUTLS_SIDE_LOCAL, phase, -1,
			"timed out waiting for the %s during the %s", peer, mutls_step_name(phase));
	} else if (grc == GNUTLS_E_PREMATURE_TERMINATION || grc == GNUTLS_E_SESSION_EOF || s->saw_eof ||
		   (s->fd < 0 && s->in_eof && !mutls__transport_has_input(s)) ||
		   ((grc == GNUTLS_E_PULL_ERROR || grc == GNUTLS_E_PUSH_ERROR) &&
		    (s->io_errno == ECONNRESET || s->io_errno == EPIPE))) {
		mutls__error_fill(e, MUTLS_ECLOSED, MUTLS_SIDE_PEER, phase, -1,
			phase == MUTLS_STEP_RECORD ? "%s closed the connection without close_notify%s%s" :
			"%s closed the connection during the handshake%s%s", peer,
			s->io_errno ? ": " : "", s->io_errno ? strerror(s->io_errno) : "");
	} else if (grc == GNUTLS_E_PULL_ERROR || grc == GNUTLS_E_PUSH_ERROR) {
		mutls__error_fill(e, MUTLS_ECLOSED, MUTLS_SIDE_LOCAL, phase, -1,
			"socket error during the %s: %s", mutls_step_name(phase),
			s->io_errno ? strerror(s->io_errno) : gnutls_strerror(grc));
	} else if ((grc == GNUTLS_E_KEY_USAGE_VIOLATION || grc == GNUTLS_E_NO_CIPHER_SUITES) &&
		   s->cfg->own_chain_len && !mutls__usage_allows_signing(s->cfg->own_chain[0]->crt)) {
		mutls__error_fill(e, MUTLS_ECONFIG, MUTLS_SIDE_LOCAL, own_step, GNUTLS_A_INTERNAL_ERROR,
			"our certificate %s may not sign the handshake (its key usage lacks digitalSignature)",
			s->cfg->own_chain[0]->label);
		send = 1;
	} else if (s->is_server && (grc == GNUTLS_E_NO_CIPHER_SUITES ||
		   grc == GNUTLS_E_UNSUPPORTED_VERSION_PACKET || grc == GNUTLS_E_INSUFFICIENT_SECURITY)) {
		char ours[64];
		int level;
		int a = gnutls_error_to_alert(grc, &level);
		allowed_versions(ours, sizeof(ours), s->cfg);
		mutls__error_fill(e, MUTLS_EPROTOCOL, MUTLS_SIDE_LOCAL, phase, a,
			"no TLS version and cipher suite in common with the client "
			"(it offers %s; we allow %s)", s->offered_versions[0] ? s->offered_versions : "?", ours);
		send = 1;
	} else if (grc == GNUTLS_E_DECRYPTION_FAILED) {
		mutls__error_fill(e, MUTLS_EPROTOCOL, MUTLS_SIDE_LOCAL, phase, GNUTLS_A_BAD_RECORD_MAC,
			"a record from the %s failed to decrypt: it was not encrypted by the %s "
			"with our shared keys (reflected, tampered or corrupted)", peer, peer);
		send = 1;
	} else {
		int level;
		int a = gnutls_error_to_alert(grc, &level);
		mutls__error_fill(e, MUTLS_EPROTOCOL, MUTLS_SIDE_LOCAL, phase,
			level == GNUTLS_AL_FATAL ? a : -1, "%s (GnuTLS, during the %s)",
			gnutls_strerror(grc), mutls_step_name(phase));
		send = level == GNUTLS_AL_FATAL;
	}
	alert = e->alert;
	if (send)
		send_alert(s, alert);
	else if (e->side == MUTLS_SIDE_LOCAL)
		e->alert = -1;
	s->failed = 1;
	s->has_err = 1;
	unverify(s);
	clear_hook_failure(s);
	return mutls__error_copy(e);
}

static int would_block(mutls_session *s)
{
	if (s->timed_out) {
		/* not fatal: the same call may be tried again */
		s->timed_out = 0;
		return mutls__error(MUTLS_ETIMEOUT, "timed out after %d ms waiting for the %s",
			s->timeout_ms, s->is_server ? "client" : "server");
	}
	int code;
	if (s->fd < 0)
		code = MUTLS_EWANTREAD; /* memory pushes never block */
	else
		code = gnutls_record_get_direction(s->gs) ? MUTLS_EWANTWRITE : MUTLS_EWANTREAD;
	return mutls__error(code, "%s", code == MUTLS_EWANTREAD ?
		"the session needs more data from the peer" : "the socket cannot take more data now");
}

/* handshake_timeout passed: the handshake ends here (nothing is sent: the
 * peer is not answering). Says who waited, for what and how long. */
static int handshake_timed_out(mutls_session *s)
{
	const char *self = s->is_server ? "server" : "client";
	const char *peer = s->is_server ? "client" : "server";
	double secs = s->cfg->handshake_timeout_ms / 1000.0;

	if (s->handshake_in == 0)
		mutls__error_fill(&s->err, MUTLS_ETIMEOUT, MUTLS_SIDE_LOCAL, MUTLS_STEP_HANDSHAKE, -1,
			"handshake timed out: the %s waited %g s for the %s's %s, and the %s "
			"sent nothing (handshake_timeout %g s)", self, secs, peer,
			s->is_server ? "ClientHello" : "answer to our ClientHello", peer, secs);
	else
		mutls__error_fill(&s->err, MUTLS_ETIMEOUT, MUTLS_SIDE_LOCAL, MUTLS_STEP_HANDSHAKE, -1,
			"handshake timed out: the %s waited %g s for the %s to finish the TLS "
			"handshake (%zu bytes received from it; handshake_timeout %g s)",
			self, secs, peer, s->handshake_in, secs);
	s->timed_out = 0;
	s->failed = 1;
	s->has_err = 1;
	return mutls__error_copy(&s->err);
}

/* Memory mode: the peer's stream ended and every byte was read, yet GnuTLS
 * waits for more (a record cut short): that wait would never end. */
static int input_ended(const mutls_session *s)
{
	return s->fd < 0 && s->in_eof && !mutls__transport_has_input(s);
}

static int failed_already(mutls_session *s)
{
	if (s->has_err)
		return mutls__error_copy(&s->err);
	return mutls__error(MUTLS_EUSAGE, "the session has failed and cannot be used");
}

/* ---- handshake, records, close ------------------------------------------ */

static void after_handshake(mutls_session *s)
{
	gnutls_datum_t proto;
	const char *suite = gnutls_ciphersuite_get(s->gs);

	s->handshake_done = 1;
	snprintf(s->cipher, sizeof(s->cipher), "%s", suite ? suite : "");
	if (gnutls_alpn_get_selected_protocol(s->gs, &proto) == 0 && proto.size) {
		s->alpn = malloc(proto.size + 1);
		if (s->alpn) {
			memcpy(s->alpn, proto.data, proto.size);
			s->alpn[proto.size] = 0;
		}
	}
	if (s->is_server) {
		char name[256];
		size_t len = sizeof(name);
		unsigned type;
		if (gnutls_server_name_get(s->gs, name, &len, &type, 0) == 0 && type == GNUTLS_NAME_DNS)
			s->server_name = mutls__strdup(name);
	}
}

int mutls_session_handshake(mutls_session *s)
{
	int rc;

	if (!s)
		return mutls__error(MUTLS_EUSAGE, "handshake: NULL session");
	if (s->offline)
		return mutls__error(MUTLS_EUSAGE, "handshake: this session holds a check of a peer "
			"(mutls_config_check_peer) and has no connection");
	if (s->failed)
		return failed_already(s);
	if (s->handshake_done)
		return 0;
	mutls__transport_release_output(s);
	mutls__transport_start_handshake_call(s);
	if (s->handshake_expired)
		return handshake_timed_out(s);
	for (;;) {
		rc = gnutls_handshake(s->gs);
		if (rc == 0)
			break;
		if (rc == GNUTLS_E_INTERRUPTED || rc == GNUTLS_E_WARNING_ALERT_RECEIVED ||
		    rc == GNUTLS_E_GOT_APPLICATION_DATA)
			continue;
		if (rc == GNUTLS_E_AGAIN) {
			if (should_retry(s))
				continue;
			if (input_ended(s))
				return session_fail(s, GNUTLS_E_PREMATURE_TERMINATION, MUTLS_STEP_HANDSHAKE);
			if (s->handshake_expired)
				return handshake_timed_out(s);
			return would_block(s);
		}
		return session_fail(s, rc, MUTLS_STEP_HANDSHAKE);
	}
	after_handshake(s);
	/* GnuTLS verifies nobody on resumption: re-check the stored peer so
	 * revocation, pins and policy hold on every connection. */
	if (gnutls_session_is_resumed(s->gs) && s->cfg->peer_mode != MUTLS_PEER_NONE &&
	    check_peer(s) != 0) {
		s->handshake_done = 0;
		return session_fail(s, GNUTLS_E_CERTIFICATE_ERROR, MUTLS_STEP_HANDSHAKE);
	}
	/* A trace hook that fails on a late event (version, cipher, keys)
	 * aborts the handshake like one that fails on a message. */
	if (mutls__trace_negotiated(s) != 0) {
		s->handshake_done = 0;
		return session_fail(s, GNUTLS_E_USER_ERROR, MUTLS_STEP_HANDSHAKE);
	}
	return 0;
}

int mutls_session_send(size_t *out_written, mutls_session *s, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t done = 0;

	if (out_written)
		*out_written = 0;
	if (!s || !out_written || (len && !data))
		return mutls__error(MUTLS_EUSAGE, "send: NULL argument");
	if (s->failed)
		return failed_already(s);
	if (!s->handshake_done)
		return mutls__error(MUTLS_EUSAGE, "send: the handshake is not done");
	if (s->close_sent)
		return mutls__error(MUTLS_EUSAGE, "send: the session was closed");
	mutls__transport_release_output(s);
	mutls__transport_start_call(s);
	while (done < len) {
		ssize_t n = gnutls_record_send(s->gs, p + done, len - done);
		if (n >= 0) {
			done += (size_t)n;
			continue;
		}
		if (n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n == GNUTLS_E_AGAIN) {
			if (should_retry(s))
				continue;
			if (done)
				break;
			return would_block(s);
		}
		return session_fail(s, (int)n, MUTLS_STEP_RECORD);
	}
	*out_written = done;
	return 0;
}

static void note_close_notify(mutls_session *s)
{
	if (!s->close_received) {
		s->close_received = 1;
		/* the peer's stream is over: a trace hook failing here has nothing
		 * to abort, and must not be blamed for a later error */
		if (mutls__trace_add(s, MUTLS_TRACE_ALERT, 0, 1, "close_notify", 0, 0, "%s", ""))
			clear_hook_failure(s);
	}
}

/* Memory mode, after a record: takes the records already fed as well, while
 * each one is whole and fits in what is left of the buffer (so no record is
 * left half-read inside GnuTLS), never waiting. One call per record was the
 * bindings' main cost with small writes. What ends the stream here
 * (close_notify, an alert, an error) is kept for the next call, so no data
 * is lost before it. Socket mode keeps one record per call: a caller that
 * polls the socket before each recv must not find its data already taken
 * in and waiting inside the session. */
static size_t recv_arrived(mutls_session *s, unsigned char *p, size_t cap)
{
	size_t got = 0;

	if (s->fd >= 0)
		return 0;
	while (got < cap && !s->recv_deferred) {
		const unsigned char *rec = s->in + s->in_pos;
		size_t avail = s->in_len - s->in_pos, len;
		ssize_t n;
		if (gnutls_record_check_pending(s->gs) || !mutls__transport_at_record_start(s) || avail < 5)
			break;
		len = (size_t)rec[3] << 8 | rec[4];
		if (avail < 5 + len || len > cap - got) /* plaintext is shorter than its record */
			break;
		n = gnutls_record_recv(s->gs, p + got, cap - got);
		if (n > 0) {
			got += (size_t)n;
		} else if (n == 0) {
			note_close_notify(s);
			s->recv_deferred = 1;
		} else if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
			break;
		} else if (n != GNUTLS_E_WARNING_ALERT_RECEIVED && n != GNUTLS_E_REHANDSHAKE) {
			s->recv_deferred = (int)n;
		}
	}
	return got;
}

int mutls_session_recv(size_t *out_read, mutls_session *s, void *buf, size_t cap)
{
	if (out_read)
		*out_read = 0;
	if (!s || !out_read || !buf || cap == 0)
		return mutls__error(MUTLS_EUSAGE, "recv: NULL argument or empty buffer");
	if (s->failed)
		return failed_already(s);
	if (!s->handshake_done)
		return mutls__error(MUTLS_EUSAGE, "recv: the handshake is not done");
	mutls__transport_release_output(s);
	if (s->recv_deferred) {
		int deferred = s->recv_deferred;
		if (deferred == 1)
			return 0; /* close_notify came after the last data */
		s->recv_deferred = 0;
		return session_fail(s, deferred, MUTLS_STEP_RECORD);
	}
	mutls__transport_start_call(s);
	for (;;) {
		ssize_t n = gnutls_record_recv(s->gs, buf, cap);
		if (n > 0) {
			*out_read = (size_t)n + recv_arrived(s, (unsigned char *)buf + n, cap - (size_t)n);
			return 0;
		}
		if (n == 0) {
			note_close_notify(s);
			return 0;
		}
		if (n == GNUTLS_E_INTERRUPTED || n == GNUTLS_E_WARNING_ALERT_RECEIVED ||
		    n == GNUTLS_E_REHANDSHAKE)
			continue;
		if (n == GNUTLS_E_AGAIN) {
			if (should_retry(s))
				continue;
			if (input_ended(s))
				return session_fail(s, GNUTLS_E_PREMATURE_TERMINATION, MUTLS_STEP_RECORD);
			return would_block(s);
		}
		return session_fail(s, (int)n, MUTLS_STEP_RECORD);
	}
}

size_t mutls_session_pending(const mutls_session *s)
{
	return s && s->handshake_done ? gnutls_record_check_pending(s->gs) : 0;
}

int mutls_session_close(mutls_session *s)
{
	int rc;

	if (!s)
		return mutls__error(MUTLS_EUSAGE, "close: NULL session");
	if (s->close_sent || s->failed || !s->handshake_done)
		return 0;
	mutls__transport_release_output(s);
	mutls__transport_start_call(s);
	do
		rc = gnutls_bye(s->gs, GNUTLS_SHUT_WR);
	while (rc == GNUTLS_E_INTERRUPTED || (rc == GNUTLS_E_AGAIN && should_retry(s)));
	if (rc == GNUTLS_E_AGAIN)
		return would_block(s);
	s->close_sent = 1;
	if (rc < 0 && rc != GNUTLS_E_PUSH_ERROR)
		return session_fail(s, rc, MUTLS_STEP_CLOSE);
	if (mutls__trace_add(s, MUTLS_TRACE_ALERT, 1, 1, "close_notify", 0, 0, "%s", ""))
		clear_hook_failure(s); /* the connection is over: nothing to abort */
	return 0;
}

/* ---- introspection ------------------------------------------------------ */

const mutls_error *mutls_session_error(const mutls_session *s)
{
	return s && s->has_err ? &s->err : NULL;
}

int mutls_session_is_server(const mutls_session *s) { return s ? s->is_server : 0; }
int mutls_session_handshake_done(const mutls_session *s) { return s ? s->handshake_done : 0; }
mutls_config *mutls_session_config(const mutls_session *s) { return s ? s->cfg : NULL; }
size_t mutls_session_peer_chain_length(const mutls_session *s) { return s ? s->peer_len : 0; }

mutls_x509 *mutls_session_peer_certificate(const mutls_session *s, size_t index)
{
	return s && index < s->peer_len ? s->peer_chain[index] : NULL;
}

int mutls_session_verified(const mutls_session *s) { return s ? s->verified : 0; }
unsigned mutls_session_verify_reasons(const mutls_session *s) { return s ? s->verdict.reasons : 0; }
const char *mutls_session_server_hostname(const mutls_session *s) { return s ? s->hostname : NULL; }

const char *mutls_session_verify_message(const mutls_session *s)
{
	return s && s->verify_ran && s->verdict.message[0] ? s->verdict.message : NULL;
}
const char *mutls_session_server_name(const mutls_session *s) { return s ? s->server_name : NULL; }
const char *mutls_session_alpn(const mutls_session *s) { return s ? s->alpn : NULL; }

const char *mutls_session_version(const mutls_session *s)
{
	if (!s)
		return NULL;
	switch (gnutls_protocol_get_version(s->gs)) {
	case GNUTLS_TLS1_3: return "TLSv1.3";
	case GNUTLS_TLS1_2: return "TLSv1.2";
	case GNUTLS_TLS1_1: return "TLSv1.1";
	case GNUTLS_TLS1_0: return "TLSv1";
	default: return NULL;
	}
}

const char *mutls_session_cipher(const mutls_session *s)
{
	return s && s->cipher[0] ? s->cipher : NULL;
}

int mutls_session_resumed(const mutls_session *s)
{
	return s && s->handshake_done ? gnutls_session_is_resumed(s->gs) : 0;
}

int mutls_session_get_data(unsigned char **out, size_t *out_len, const mutls_session *s)
{
	gnutls_datum_t data = { NULL, 0 };
	int rc;

	if (!out || !out_len || !s)
		return mutls__error(MUTLS_EUSAGE, "get_data: NULL argument");
	*out = NULL;
	*out_len = 0;
	if (!s->handshake_done)
		return mutls__error(MUTLS_EUSAGE, "get_data: the handshake is not done");
	if (gnutls_protocol_get_version(s->gs) == GNUTLS_TLS1_3 && !s->is_server &&
	    !(gnutls_session_get_flags(s->gs) & GNUTLS_SFLAGS_SESSION_TICKET))
		return mutls__error(MUTLS_EUSAGE,
			"get_data: no session ticket has arrived yet (in TLS 1.3 it comes after "
			"the handshake: read from the session first)");
	rc = gnutls_session_get_data2(s->gs, &data);
	if (rc < 0)
		return mutls__error_gnutls(MUTLS_EUSAGE, rc, "get_data: no session data");
	*out = malloc(data.size ? data.size : 1);
	if (!*out) {
		gnutls_free(data.data);
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	}
	memcpy(*out, data.data, data.size);
	*out_len = data.size;
	gnutls_free(data.data);
	return 0;
}

int mutls_session_export_keying_material(unsigned char *out, size_t len, mutls_session *s,
	const char *label, const unsigned char *context, size_t context_len)
{
	int rc;

	if (!out || !s || !label)
		return mutls__error(MUTLS_EUSAGE, "export_keying_material: NULL argument");
	if (!s->handshake_done)
		return mutls__error(MUTLS_EUSAGE, "export_keying_material: the handshake is not done");
	rc = gnutls_prf_rfc5705(s->gs, strlen(label), label, context ? context_len : 0,
		(const char *)context, len, (char *)out);
	if (rc < 0)
		return mutls__error_gnutls(MUTLS_EUSAGE, rc, "export_keying_material failed");
	return 0;
}

/* ---- a peer checked outside a handshake -------------------------------- */

/* The error a refusal by check_peer() leaves, as session_fail words it,
 * without an alert: there is no connection to send one on. */
static void offline_refusal(mutls_session *s)
{
	mutls_error *e = &s->err;
	mutls_step step = MUTLS_STEP_CLIENT_CERTIFICATE;

	if (s->no_cert) {
		mutls__error_fill(e, MUTLS_ENOCERT, MUTLS_SIDE_LOCAL, step, -1, "%s", s->verdict.message);
	} else if (s->hook_failed || (!s->verdict.reasons && s->failed_hook)) {
		mutls__error_fill(e, MUTLS_EHOOK, MUTLS_SIDE_LOCAL, step, -1, "%s", s->verdict.reasons ?
			s->verdict.message : "the trace hook failed while checking the client certificate");
	} else {
		mutls__error_fill(e, MUTLS_EVERIFY, MUTLS_SIDE_LOCAL, step, -1, "%s",
			s->verdict.message[0] ? s->verdict.message : "client certificate was refused");
	}
	e->reasons = s->verdict.reasons;
	s->has_err = 1;
	s->failed = 1;
}

/* check_peer() over the chain given; the chain's bytes key the config's
 * chain cache, so that the same client's chain, sent again with its next
 * request, re-uses the signature check (as a resumed handshake does). */
static int check_peer_offline(mutls_session *s)
{
	gnutls_datum_t *der = NULL;
	int rc;

	if (s->peer_len) {
		if (!(der = calloc(s->peer_len, sizeof(*der))))
			return MUTLS_ENOMEM;
		for (size_t i = 0; i < s->peer_len; i++)
			der[i] = s->peer_chain[i]->der;
		mutls__chain_cache_put(s->cfg, der, (unsigned)s->peer_len, s->peer_chain);
	}
	s->offline_der = der;
	rc = check_peer(s);
	s->offline_der = NULL;
	free(der);
	return rc;
}

int mutls_config_check_peer(mutls_session **out, mutls_config *cfg,
	mutls_x509 *const *chain, size_t n, void *userdata)
{
	mutls_session *s;
	int rc;

	if (!out)
		return mutls__error(MUTLS_EUSAGE, "check_peer: out is NULL");
	*out = NULL;
	if (!cfg || (n && !chain))
		return mutls__error(MUTLS_EUSAGE, "check_peer: NULL config or chain");
	for (size_t i = 0; i < n; i++)
		if (!chain[i])
			return mutls__error(MUTLS_EUSAGE, "check_peer: chain[%zu] is NULL", i);
	if ((rc = mutls_config_freeze(cfg)) < 0)
		return rc;
	s = calloc(1, sizeof(*s));
	if (!s)
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	s->cfg = mutls_config_ref(cfg);
	s->is_server = 1;
	s->offline = 1;
	s->fd = -1;
	s->timeout_ms = -1;
	s->userdata = userdata;
	/* no credentials: a GnuTLS session only so that every accessor answers */
	if ((rc = gnutls_init(&s->gs, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL)) < 0) {
		s->gs = NULL;
		mutls_session_free(s);
		return mutls__error_gnutls(MUTLS_ENOMEM, rc, "check_peer: cannot initialise");
	}
	gnutls_session_set_ptr(s->gs, s);
	mutls__transport_setup(s);
	mutls__trace_setup(s);
	if (n && !(s->peer_chain = calloc(n, sizeof(*s->peer_chain)))) {
		mutls_session_free(s);
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		s->peer_chain[i] = mutls_x509_ref(chain[i]);
	s->peer_len = n;
	*out = s;
	rc = check_peer_offline(s);
	if (rc == 0)
		return 0;
	if (rc == MUTLS_ENOMEM)
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	offline_refusal(s);
	return mutls__error_copy(&s->err);
}
