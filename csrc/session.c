/* Session: one TLS connection, client or server, over a socket or memory.
 * Its life: creation, handshake, records, close, and what it negotiated.
 * The peer check is in verify.c, the classification of failures in
 * failure.c. */
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
	return !mutls__transport_timed_out(s) && (mutls__transport_has_input(s) ||
		(s->fd >= 0 && (mutls__transport_has_deadline(s) || socket_blocks(s->fd))));
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
	if (!is_server && cfg->peer_mode == MUTLS_PEER_OBSERVE)
		return mutls__error(MUTLS_EUSAGE,
			"client session: peer_certificate=observe is for servers (a client that goes on "
			"with a server that failed verification is not mTLS); use \"none\" explicitly");
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
			cfg->peer_mode == MUTLS_PEER_NONE ? GNUTLS_CERT_IGNORE : GNUTLS_CERT_REQUEST);
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

void mutls__session_free_peer_chain(mutls_session *s)
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
	mutls__session_free_peer_chain(s);
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

static _Thread_local mutls__hook_frame *hook_top;

void mutls__hook_enter(mutls__hook_frame *frame, const mutls_session *s)
{
	frame->s = s;
	frame->prev = hook_top;
	hook_top = frame;
}

void mutls__hook_leave(mutls__hook_frame *frame)
{
	hook_top = frame->prev;
}

int mutls_session_in_hook(const mutls_session *s)
{
	for (const mutls__hook_frame *f = hook_top; s && f; f = f->prev)
		if (f->s == s)
			return 1;
	return 0;
}

int mutls_session_check_reentry(const mutls_session *s, const char *what)
{
	if (!mutls_session_in_hook(s))
		return 0;
	return mutls__error(MUTLS_EUSAGE, "%s%sthe session is already in a call: one of its own hooks used it "
		"(a hook may read its session, not drive or destroy it)", what ? what : "", what ? ": " : "");
}

void mutls_session_set_hook_error(mutls_session *s, const char *message)
{
	/* the first failure is the one to report: a later hook that fails
	 * because of it (or a clean-up hook) does not replace its words */
	if (s && message && !s->hook_message[0])
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

/* ---- what a call that cannot go on returns ------------------------------- */

static int would_block(mutls_session *s)
{
	if (mutls__transport_take_timeout(s)) {
		/* not fatal: the same call may be tried again */
		return mutls__error(MUTLS_ETIMEOUT, "timed out after %d ms waiting for the %s",
			s->timeout_ms, s->is_server ? "client" : "server");
	}
	int code;
	if (s->fd < 0)
		code = MUTLS_EWANTREAD; /* memory pushes never block */
	else
		code = mutls__transport_wants_write(s) ? MUTLS_EWANTWRITE : MUTLS_EWANTREAD;
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
	mutls__transport_take_timeout(s);
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
	MUTLS__GUARD(s, "handshake");
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
				return mutls__session_fail(s, GNUTLS_E_PREMATURE_TERMINATION, MUTLS_STEP_HANDSHAKE);
			if (s->handshake_expired)
				return handshake_timed_out(s);
			return would_block(s);
		}
		return mutls__session_fail(s, rc, MUTLS_STEP_HANDSHAKE);
	}
	after_handshake(s);
	/* GnuTLS verifies nobody on resumption: re-check the stored peer so
	 * revocation, pins and policy hold on every connection. */
	if (gnutls_session_is_resumed(s->gs) && s->cfg->peer_mode != MUTLS_PEER_NONE &&
	    mutls__check_peer(s) != 0 && !mutls__session_observed(s)) {
		s->handshake_done = 0;
		return mutls__session_fail(s, GNUTLS_E_CERTIFICATE_ERROR, MUTLS_STEP_HANDSHAKE);
	}
	/* A trace hook that fails on a late event (version, cipher, keys)
	 * aborts the handshake like one that fails on a message. */
	if (mutls__trace_negotiated(s) != 0) {
		s->handshake_done = 0;
		return mutls__session_fail(s, GNUTLS_E_USER_ERROR, MUTLS_STEP_HANDSHAKE);
	}
	return 0;
}

/* One call, one deadline. A partial write is an answer for send (as
 * send(2) gives), but for send_all it is the timeout: the deadline covers
 * the whole buffer, as Python's socket.sendall has since 3.5. */
static int send_records(size_t *out_written, mutls_session *s, const void *data, size_t len,
	int all)
{
	const unsigned char *p = data;
	size_t done = 0;

	if (out_written)
		*out_written = 0;
	if (!s || !out_written || (len && !data))
		return mutls__error(MUTLS_EUSAGE, "send: NULL argument");
	MUTLS__GUARD(s, "send");
	if (s->failed)
		return failed_already(s);
	if (!s->handshake_done)
		return mutls__error(MUTLS_EUSAGE, "send: the handshake is not done");
	if (s->close_sent)
		return mutls__error(MUTLS_EUSAGE, "send: the session was closed");
	mutls__transport_release_output(s);
	mutls__transport_start_call(s, MUTLS__IO_SEND);
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
			if (done && !all)
				break;
			*out_written = done;
			return would_block(s);
		}
		*out_written = done;
		return mutls__session_fail(s, (int)n, MUTLS_STEP_RECORD);
	}
	*out_written = done;
	return 0;
}

int mutls_session_send(size_t *out_written, mutls_session *s, const void *data, size_t len)
{
	return send_records(out_written, s, data, len, 0);
}

int mutls_session_send_all(size_t *out_written, mutls_session *s, const void *data, size_t len)
{
	return send_records(out_written, s, data, len, 1);
}

static void note_close_notify(mutls_session *s)
{
	if (!s->close_received) {
		s->close_received = 1;
		/* the peer's stream is over: a trace hook failing here has nothing
		 * to abort, and must not be blamed for a later error */
		if (mutls__trace_add(s, MUTLS_TRACE_ALERT, 0, 1, "close_notify", 0, 0, "%s", ""))
			mutls__session_clear_hook_failure(s);
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
	MUTLS__GUARD(s, "recv");
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
		return mutls__session_fail(s, deferred, MUTLS_STEP_RECORD);
	}
	mutls__transport_start_call(s, MUTLS__IO_RECV);
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
				return mutls__session_fail(s, GNUTLS_E_PREMATURE_TERMINATION, MUTLS_STEP_RECORD);
			return would_block(s);
		}
		return mutls__session_fail(s, (int)n, MUTLS_STEP_RECORD);
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
	MUTLS__GUARD(s, "close");
	if (s->close_sent || s->failed || !s->handshake_done)
		return 0;
	mutls__transport_release_output(s);
	mutls__transport_start_call(s, MUTLS__IO_SEND);
	do
		rc = gnutls_bye(s->gs, GNUTLS_SHUT_WR);
	while (rc == GNUTLS_E_INTERRUPTED || (rc == GNUTLS_E_AGAIN && should_retry(s)));
	if (rc == GNUTLS_E_AGAIN)
		return would_block(s);
	s->close_sent = 1;
	if (rc < 0 && rc != GNUTLS_E_PUSH_ERROR)
		return mutls__session_fail(s, rc, MUTLS_STEP_CLOSE);
	if (mutls__trace_add(s, MUTLS_TRACE_ALERT, 1, 1, "close_notify", 0, 0, "%s", ""))
		mutls__session_clear_hook_failure(s); /* the connection is over: nothing to abort */
	return 0;
}

/* ---- introspection ------------------------------------------------------ */

int mutls_session_error_for(const mutls_error **out, const mutls_session *s, int rc)
{
	static _Thread_local mutls_error bare;
	const mutls_error *last = mutls_error_last();

	if (!out || rc >= 0) {
		if (out)
			*out = NULL;
		return mutls__error(MUTLS_EUSAGE, "mutls_session_error_for: %s",
			out ? "rc is not an error" : "NULL out");
	}
	if (last && last->code == rc) {
		*out = last;
	} else if (s && s->has_err && s->err.code == rc) {
		*out = &s->err;
	} else {
		mutls__error_fill(&bare, rc, MUTLS_SIDE_NONE, MUTLS_STEP_NONE, -1, "%s", mutls_code_name(rc));
		*out = &bare;
	}
	return 0;
}

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

int mutls_session_peer_ok(const mutls_session *s)
{
	return s && s->peer_len > 0 && s->verdict.reasons == 0;
}

mutls_x509 *mutls_session_error_certificate(const mutls_session *s, int code)
{
	if (!s || code >= 0 || code == MUTLS_EWANTREAD || code == MUTLS_EWANTWRITE ||
	    code == MUTLS_EUSAGE || code == MUTLS_ECONFIG || code == MUTLS_ENOMEM)
		return NULL;
	return mutls_session_peer_certificate(s, 0);
}
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
