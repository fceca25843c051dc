/* Trace (the handshake as a list of events), key log, key fingerprints and
 * the human summary of a session; an event as the line the demos print. */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *message_name(unsigned type)
{
	switch (type) {
	case GNUTLS_HANDSHAKE_HELLO_REQUEST: return "HelloRequest";
	case GNUTLS_HANDSHAKE_CLIENT_HELLO: return "ClientHello";
	case GNUTLS_HANDSHAKE_SERVER_HELLO: return "ServerHello";
	case GNUTLS_HANDSHAKE_HELLO_VERIFY_REQUEST: return "HelloVerifyRequest";
	case GNUTLS_HANDSHAKE_NEW_SESSION_TICKET: return "NewSessionTicket";
	case GNUTLS_HANDSHAKE_END_OF_EARLY_DATA: return "EndOfEarlyData";
	case GNUTLS_HANDSHAKE_HELLO_RETRY_REQUEST: return "HelloRetryRequest";
	case GNUTLS_HANDSHAKE_ENCRYPTED_EXTENSIONS: return "EncryptedExtensions";
	case GNUTLS_HANDSHAKE_CERTIFICATE_PKT: return "Certificate";
	case GNUTLS_HANDSHAKE_SERVER_KEY_EXCHANGE: return "ServerKeyExchange";
	case GNUTLS_HANDSHAKE_CERTIFICATE_REQUEST: return "CertificateRequest";
	case GNUTLS_HANDSHAKE_SERVER_HELLO_DONE: return "ServerHelloDone";
	case GNUTLS_HANDSHAKE_CERTIFICATE_VERIFY: return "CertificateVerify";
	case GNUTLS_HANDSHAKE_CLIENT_KEY_EXCHANGE: return "ClientKeyExchange";
	case GNUTLS_HANDSHAKE_FINISHED: return "Finished";
	case GNUTLS_HANDSHAKE_CERTIFICATE_STATUS: return "CertificateStatus";
	case GNUTLS_HANDSHAKE_SUPPLEMENTAL: return "SupplementalData";
	case GNUTLS_HANDSHAKE_KEY_UPDATE: return "KeyUpdate";
	case GNUTLS_HANDSHAKE_CHANGE_CIPHER_SPEC: return "ChangeCipherSpec";
	case GNUTLS_HANDSHAKE_CLIENT_HELLO_V2: return "ClientHelloV2";
	default: return "Handshake";
	}
}

/* A copy of text (at most max bytes of it) that lives as long as the trace. */
static const char *keep_text(mutls_session *s, const char *text, size_t max)
{
	size_t len = strnlen(text, max);
	mutls_trace_text *block = s->trace_text;
	char *copy;

	if (!block || block->cap - block->used < len + 1) {
		size_t cap = len + 1 > 1024 ? len + 1 : 1024;
		block = malloc(sizeof(*block) + cap);
		if (!block)
			return NULL;
		block->next = s->trace_text;
		block->used = 0;
		block->cap = cap;
		s->trace_text = block;
	}
	copy = block->data + block->used;
	memcpy(copy, text, len);
	copy[len] = 0;
	block->used += len + 1;
	return copy;
}

int mutls__trace_add(mutls_session *s, mutls_trace_kind kind, int outgoing,
	int ok, const char *name, int message_type, size_t length, const char *fmt, ...)
{
	mutls_trace_slot *slot;
	char detail[600];
	va_list ap;

	const char *text = detail;

	va_start(ap, fmt);
	if (fmt[0] == '%' && fmt[1] == 's' && !fmt[2]) /* already formatted (checks) */
		text = va_arg(ap, const char *);
	else
		vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);

	if (s->trace_len == s->trace_cap) {
		size_t ncap = s->trace_cap ? s->trace_cap * 2 : 24;
		mutls_trace_slot *grown = realloc(s->trace, ncap * sizeof(*grown));
		if (!grown)
			return 0; /* the trace is best effort; the handshake goes on */
		s->trace = grown;
		s->trace_cap = ncap;
	}
	slot = &s->trace[s->trace_len];
	slot->event.detail = keep_text(s, text, sizeof(detail) - 1);
	if (!slot->event.detail)
		return 0;
	slot->event.kind = kind;
	slot->event.outgoing = outgoing;
	slot->event.ok = ok;
	slot->event.name = name;
	slot->event.message_type = message_type;
	slot->event.length = length;
	s->trace_len++;

	if (s->cfg->trace_hook) {
		mutls__hook_frame frame;
		int hrc;
		mutls__hook_enter(&frame, s);
		hrc = s->cfg->trace_hook(s, &slot->event, s->cfg->trace_payload);
		mutls__hook_leave(&frame);
		if (hrc == 0)
			return 0;
		s->hook_failed = 1;
		s->failed_hook = "trace";
		return MUTLS_EHOOK;
	}
	return 0;
}

static unsigned get16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }

static const char *version_name(unsigned v)
{
	switch (v) {
	case 0x0304: return "TLS1.3";
	case 0x0303: return "TLS1.2";
	case 0x0302: return "TLS1.1";
	case 0x0301: return "TLS1.0";
	default: return NULL;
	}
}

/* "offers TLS1.3, TLS1.2; 19 cipher suites; SNI orders.internal" from the
 * ClientHello body. Bounds-checked: a malformed hello gives a short text. */
static void describe_client_hello(char *out, size_t cap, char *versions_out, size_t versions_cap,
	const unsigned char *p, size_t len)
{
	size_t pos = 0, nsuites = 0, used = 0;
	char versions[64] = "";

	out[0] = 0;
	if (len < 35)
		return;
	pos = 34;                                   /* legacy_version, random */
	if (pos + 1 > len || (pos += 1 + p[pos]) + 2 > len) /* session id */
		return;
	nsuites = get16(p + pos) / 2;
	pos += 2 + get16(p + pos);
	if (pos + 1 > len || (pos += 1 + p[pos]) + 2 > len) /* compression */
		goto done;
	{
		size_t end = pos + 2 + get16(p + pos);
		if (end > len)
			goto done;
		pos += 2;
		while (pos + 4 <= end) {
			unsigned type = get16(p + pos), elen = get16(p + pos + 2);
			const unsigned char *e = p + pos + 4;
			if (pos + 4 + elen > end)
				break;
			if (type == 43 && elen >= 1) { /* supported_versions */
				for (unsigned i = 1; i + 1 <= e[0] && i + 1 < elen; i += 2) {
					const char *name = version_name(get16(e + i));
					if (name && strlen(versions) + strlen(name) + 3 < sizeof(versions))
						snprintf(versions + strlen(versions), sizeof(versions) - strlen(versions),
							"%s%s", versions[0] ? ", " : "", name);
				}
			}
			pos += 4 + elen;
		}
	}
done:
	if (!versions[0]) {
		const char *legacy = version_name(get16(p));
		snprintf(versions, sizeof(versions), "%s", legacy ? legacy : "?");
	}
	used = (size_t)snprintf(out, cap, "offers %s; %zu cipher suites", versions, nsuites);
	(void)used;
	snprintf(versions_out, versions_cap, "%s", versions);
}

static size_t get24(const unsigned char *p) { return (size_t)p[0] << 16 | (size_t)p[1] << 8 | p[2]; }

/* Entries in a Certificate message body (TLS 1.3 adds a request context
 * before the list and extensions after each entry). */
static size_t count_certificates(const unsigned char *p, size_t len, int tls13)
{
	size_t pos = 0, end, n = 0;

	if (tls13) {
		if (len < 1)
			return 0;
		pos = 1 + p[0];
	}
	if (pos + 3 > len)
		return 0;
	end = pos + 3 + get24(p + pos);
	pos += 3;
	if (end > len)
		end = len;
	while (pos + 3 <= end) {
		pos += 3 + get24(p + pos);
		if (tls13) {
			if (pos + 2 > end)
				break;
			pos += 2 + get16(p + pos);
		}
		if (pos > end)
			break;
		n++;
	}
	return n;
}

/* The suite a ServerHello names. In TLS 1.2 GnuTLS does not report it
 * until the keys are in use, so read its id from the message. */
static const char *suite_name(gnutls_session_t gs, const gnutls_datum_t *msg)
{
	/* the last suite found, per thread: the search walks GnuTLS's whole
	 * table, and a server chooses the same suite handshake after handshake */
	static _Thread_local unsigned last_id = 0x10000;
	static _Thread_local const char *last_name;
	const char *name = gnutls_ciphersuite_get(gs);
	size_t pos = 34;
	unsigned char id[2];
	unsigned wanted;

	if (name || !msg || msg->size < pos + 1 || msg->size < pos + 1 + msg->data[pos] + 2)
		return name;
	pos += 1 + msg->data[pos];
	wanted = get16(msg->data + pos);
	if (wanted == last_id)
		return last_name;
	for (size_t i = 0;; i++) {
		const char *candidate = gnutls_cipher_suite_info(i, id, NULL, NULL, NULL, NULL);
		if (!candidate)
			return NULL;
		if (get16(id) == wanted) {
			last_id = wanted;
			last_name = candidate;
			return candidate;
		}
	}
}

static int handshake_hook(gnutls_session_t gs, unsigned htype, unsigned when,
	unsigned incoming, const gnutls_datum_t *msg)
{
	mutls_session *s = gnutls_session_get_ptr(gs);
	char detail[400] = "";
	const char *name = message_name(htype);

	/* Before GnuTLS processes a ClientHello (it may refuse it), note what
	 * it offers; every event is recorded after the message. */
	if (when == GNUTLS_HOOK_PRE) {
		if (incoming)
			mutls__malformed_note(s, htype, msg);
		if (incoming && htype == GNUTLS_HANDSHAKE_CLIENT_HELLO && msg && msg->data)
			describe_client_hello(s->hello_detail, sizeof(s->hello_detail), s->offered_versions,
				sizeof(s->offered_versions), msg->data, msg->size);
		return 0;
	}

	switch (htype) {
	case GNUTLS_HANDSHAKE_CLIENT_HELLO:
		if (incoming && s->hello_detail[0]) {
			/* read before GnuTLS processed it (the same message) */
			snprintf(detail, sizeof(detail), "%s", s->hello_detail);
			s->hello_detail[0] = 0;
		} else if (msg && msg->data) {
			char offered[64];
			describe_client_hello(detail, sizeof(detail), offered, sizeof(offered),
				msg->data, msg->size);
		}
		break;
	case GNUTLS_HANDSHAKE_SERVER_HELLO: {
		const char *suite = suite_name(gs, msg);
		const char *v = gnutls_protocol_get_name(gnutls_protocol_get_version(gs));
		snprintf(detail, sizeof(detail), "chooses %s, %s", v ? v : "?", suite ? suite : "?");
		break;
	}
	case GNUTLS_HANDSHAKE_CERTIFICATE_PKT:
		if (!incoming) {
			mutls_config *cfg = s->cfg;
			if (cfg->own_chain_len)
				snprintf(detail, sizeof(detail), "%s (chain of %zu)",
					cfg->own_chain[0]->label, cfg->own_chain_len);
			else
				snprintf(detail, sizeof(detail), "empty: no certificate to present");
		} else if (msg && msg->data) {
			size_t n = count_certificates(msg->data, msg->size,
				gnutls_protocol_get_version(gs) == GNUTLS_TLS1_3);
			snprintf(detail, sizeof(detail), "%zu certificate%s", n, n == 1 ? "" : "s");
		}
		break;
	case GNUTLS_HANDSHAKE_CERTIFICATE_REQUEST:
		snprintf(detail, sizeof(detail), "%s", incoming ? "the server asks for our certificate" :
			s->cfg->peer_mode == MUTLS_PEER_REQUIRE ? "a client certificate is required" :
			s->cfg->peer_mode == MUTLS_PEER_OBSERVE ? "a client certificate is requested (observed)" :
			"a client certificate is requested (optional)");
		break;
	default:
		break;
	}
	if (mutls__trace_add(s, MUTLS_TRACE_MESSAGE, !incoming, 1, name, (int)htype,
		msg ? msg->size : 0, "%s", detail) != 0)
		return GNUTLS_E_USER_ERROR;
	return 0;
}

static void hex(char *out, const unsigned char *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 15];
	}
	out[2 * len] = 0;
}

static int keylog_function(gnutls_session_t gs, const char *label, const gnutls_datum_t *secret)
{
	mutls_session *s = gnutls_session_get_ptr(gs);
	gnutls_datum_t crand, srand;
	char line[64 + 2 * 32 + 2 * 64 + 4];
	int rc;

	if (!s->cfg->keylog_file && !s->cfg->keylog_hook)
		return 0; /* nobody asked for the keys */
	gnutls_session_get_random(gs, &crand, &srand);
	if (crand.size != 32 || secret->size > 64)
		return 0;
	snprintf(line, sizeof(line), "%s ", label);
	hex(line + strlen(line), crand.data, crand.size);
	strcat(line, " ");
	hex(line + strlen(line), secret->data, secret->size);
	rc = mutls__config_keylog(s->cfg, s, line);
	gnutls_memset(line, 0, sizeof(line)); /* it holds a traffic secret */
	if (rc != 0) {
		s->hook_failed = 1;
		s->failed_hook = "keylog";
		return -1;
	}
	return 0;
}

void mutls__trace_setup(mutls_session *s)
{
	gnutls_handshake_set_hook_function(s->gs, GNUTLS_HANDSHAKE_ANY, GNUTLS_HOOK_BOTH, handshake_hook);
	/* Always ours: setting one turns off GnuTLS's own SSLKEYLOGFILE
	 * writer, so keys are logged only when the config asks (keylog,
	 * keylog_env). */
	gnutls_session_set_keylog_function(s->gs, keylog_function);
}

void mutls__trace_free(mutls_session *s)
{
	while (s->trace_text) {
		mutls_trace_text *next = s->trace_text->next;
		free(s->trace_text);
		s->trace_text = next;
	}
	free(s->trace);
	s->trace = NULL;
	s->trace_len = s->trace_cap = 0;
}

int mutls_session_key_fingerprint(char out[65], const mutls_session *s, int write)
{
	gnutls_datum_t key = { NULL, 0 };
	unsigned char digest[32];
	int rc;

	if (!out || !s)
		return mutls__error(MUTLS_EUSAGE, "key_fingerprint: NULL argument");
	out[0] = 0;
	if (!s->handshake_done)
		return mutls__error(MUTLS_EUSAGE, "key_fingerprint: the handshake is not done");
	rc = gnutls_record_get_state(s->gs, write ? 0 : 1, NULL, NULL, &key, NULL);
	if (rc < 0 || !key.data)
		return mutls__error_gnutls(MUTLS_EUSAGE, rc, "key_fingerprint: no traffic key");
	gnutls_hash_fast(GNUTLS_DIG_SHA256, key.data, key.size, digest);
	hex(out, digest, sizeof(digest));
	return 0;
}

/* Stops at the first event the trace hook fails on: non-zero then. */
int mutls__trace_negotiated(mutls_session *s)
{
	char wfp[65], rfp[65];
	const char *role = s->is_server ? "server" : "client";
	const char *peer = s->is_server ? "client" : "server";

	if (mutls__trace_add(s, MUTLS_TRACE_INFO, 0, 1, "version", 0, 0, "%s",
		mutls_session_version(s) ? mutls_session_version(s) : "?") ||
	    mutls__trace_add(s, MUTLS_TRACE_INFO, 0, 1, "cipher", 0, 0, "%s", s->cipher))
		return MUTLS_EHOOK;
	if (s->alpn && mutls__trace_add(s, MUTLS_TRACE_INFO, 0, 1, "alpn", 0, 0, "%s", s->alpn))
		return MUTLS_EHOOK;
	if (gnutls_session_is_resumed(s->gs) &&
	    mutls__trace_add(s, MUTLS_TRACE_INFO, 0, 1, "resumed", 0, 0, "session resumed"))
		return MUTLS_EHOOK;
	if (mutls_session_key_fingerprint(wfp, s, 1) == 0 && mutls_session_key_fingerprint(rfp, s, 0) == 0) {
		/* name the key by whose writing it protects, so both sides agree */
		if (mutls__trace_add(s, MUTLS_TRACE_INFO, 1, 1,
			s->is_server ? "server-write-key" : "client-write-key", 0, 0,
			"sha256 %.16s (this %s encrypts with it)", wfp, role) ||
		    mutls__trace_add(s, MUTLS_TRACE_INFO, 0, 1,
			s->is_server ? "client-write-key" : "server-write-key", 0, 0,
			"sha256 %.16s (this %s decrypts with it; the %s encrypts)", rfp, role, peer))
			return MUTLS_EHOOK;
	}
	return 0;
}

size_t mutls_session_trace_count(const mutls_session *s)
{
	return s ? s->trace_len : 0;
}

const mutls_trace_event *mutls_session_trace_event(const mutls_session *s, size_t index)
{
	return s && index < s->trace_len ? &s->trace[index].event : NULL;
}

/* A growable string for explain(). */
typedef struct { char *buf; size_t len, cap; int oom; } strbuf;

static void sb_printf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sb->oom)
		return;
	for (;;) {
		size_t room = sb->cap - sb->len;
		va_start(ap, fmt);
		n = vsnprintf(sb->buf ? sb->buf + sb->len : NULL, sb->buf ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			sb->oom = 1;
			return;
		}
		if (sb->buf && (size_t)n < room) {
			sb->len += (size_t)n;
			return;
		}
		{
			size_t ncap = (sb->cap ? sb->cap * 2 : 1024) + (size_t)n;
			char *grown = realloc(sb->buf, ncap);
			if (!grown) {
				sb->oom = 1;
				return;
			}
			sb->buf = grown;
			sb->cap = ncap;
		}
	}
}

int mutls_session_explain(char **out, const mutls_session *s)
{
	strbuf sb = { NULL, 0, 0, 0 };
	const char *role = s ? (s->is_server ? "server" : "client") : "";

	if (!out || !s)
		return mutls__error(MUTLS_EUSAGE, "explain: NULL argument");
	*out = NULL;
	if (s->has_err)
		sb_printf(&sb, "%s: handshake %s: %s [code %s", role,
			s->handshake_done ? "succeeded, then failed" : "failed",
			s->err.message, mutls_code_name(s->err.code));
	else if (s->handshake_done)
		sb_printf(&sb, "%s: handshake succeeded: %s, %s", role,
			mutls_session_version(s) ? mutls_session_version(s) : "?", s->cipher);
	else
		sb_printf(&sb, "%s: handshake not finished", role);
	if (s->has_err) {
		for (unsigned i = 0; i < MUTLS_REASON_COUNT; i++)
			if (s->err.reasons & (1u << i))
				sb_printf(&sb, ", reason %s", mutls_reason_name(1u << i));
		if (s->err.alert >= 0)
			sb_printf(&sb, ", alert %s %s", mutls_alert_name(s->err.alert),
				s->err.side == MUTLS_SIDE_PEER ? "received" : "sent");
		sb_printf(&sb, ", side %s]", mutls_side_name(s->err.side));
	}
	sb_printf(&sb, "\n");
	if (s->peer_len)
		sb_printf(&sb, "  peer: %s (%zu certificate%s), %s\n", s->peer_chain[0]->label,
			s->peer_len, s->peer_len == 1 ? "" : "s",
			s->verified ? "verified" : s->verify_ran ? "not verified" : "not checked");
	else
		sb_printf(&sb, "  peer: no certificate\n");
	for (size_t i = 0; i < s->trace_len; i++) {
		const mutls_trace_event *e = &s->trace[i].event;
		switch (e->kind) {
		case MUTLS_TRACE_MESSAGE:
			sb_printf(&sb, "  %s %s%s%s\n", e->outgoing ? "->" : "<-", e->name,
				e->detail[0] ? ": " : "", e->detail);
			break;
		case MUTLS_TRACE_CHECK:
			sb_printf(&sb, "  check %-10s %s  %s\n", e->name, e->ok ? "ok  " : "FAIL", e->detail);
			break;
		case MUTLS_TRACE_ALERT:
			sb_printf(&sb, "  %s alert %s\n", e->outgoing ? "->" : "<-", e->name);
			break;
		case MUTLS_TRACE_INFO:
			sb_printf(&sb, "  %s: %s\n", e->name, e->detail);
			break;
		}
	}
	if (sb.oom || !sb.buf) {
		free(sb.buf);
		return mutls__error(MUTLS_ENOMEM, "explain: out of memory");
	}
	*out = sb.buf;
	return 0;
}

/* ---- an event as a line of text (the demos' narration) ------------------ */

static const char *const kind_names[] = { NULL, "message", "check", "alert", "info" };

const char *mutls_trace_kind_name(mutls_trace_kind kind)
{
	return kind >= MUTLS_TRACE_MESSAGE && kind <= MUTLS_TRACE_INFO ? kind_names[kind] : "?";
}

int mutls_trace_kind_from_name(mutls_trace_kind *out, const char *name)
{
	if (!out || !name)
		return mutls__error(MUTLS_EUSAGE, "mutls_trace_kind_from_name: NULL argument");
	for (int k = MUTLS_TRACE_MESSAGE; k <= MUTLS_TRACE_INFO; k++) {
		if (strcmp(name, kind_names[k]) == 0) {
			*out = (mutls_trace_kind)k;
			return 0;
		}
	}
	return mutls__error(MUTLS_EUSAGE,
		"unknown trace event kind \"%.40s\" (expected message, check, alert or info)", name);
}

int mutls_trace_event_text(char **out, const mutls_trace_event *ev)
{
	strbuf sb = { NULL, 0, 0, 0 };
	const char *name, *detail, *sep;

	if (!out || !ev)
		return mutls__error(MUTLS_EUSAGE, "mutls_trace_event_text: NULL argument");
	*out = NULL;
	name = ev->name ? ev->name : "?";
	detail = ev->detail ? ev->detail : "";
	sep = detail[0] ? "  " : "";
	switch (ev->kind) {
	case MUTLS_TRACE_MESSAGE:
		sb_printf(&sb, "%s %-19s %4zu bytes%s%s", ev->outgoing ? "->" : "<-", name,
			ev->length, sep, detail);
		break;
	case MUTLS_TRACE_CHECK:
		sb_printf(&sb, "check %-10s %s%s%s", name, ev->ok ? "ok" : "FAIL",
			detail[0] ? (ev->ok ? "   " : " ") : "", detail);
		break;
	case MUTLS_TRACE_ALERT:
		if (strcmp(name, "close_notify") == 0)
			sb_printf(&sb, "%s alert %s%s%s", ev->outgoing ? "->" : "<-", name, sep, detail);
		else
			sb_printf(&sb, "%s alert %s (%d)%s%s", ev->outgoing ? "->" : "<-", name,
				ev->message_type, sep, detail);
		break;
	case MUTLS_TRACE_INFO:
		sb_printf(&sb, "%s %-16s %s", strstr(name, "-write-key") ? "key  " : "info ", name, detail);
		break;
	default:
		sb_printf(&sb, "event %s %s", name, detail);
		break;
	}
	if (sb.oom || !sb.buf) {
		free(sb.buf);
		return mutls__error(MUTLS_ENOMEM, "mutls_trace_event_text: out of memory");
	}
	/* a fact or an event without detail ends at its name */
	while (sb.len && sb.buf[sb.len - 1] == ' ')
		sb.buf[--sb.len] = 0;
	*out = sb.buf;
	return 0;
}

const char *mutls_trace_event_note(const mutls_trace_event *ev)
{
	static const struct { mutls_trace_kind kind; const char *name, *note; } notes[] = {
		{ MUTLS_TRACE_MESSAGE, "ClientHello", "the offer" },
		{ MUTLS_TRACE_MESSAGE, "ServerHello", "the choice" },
		{ MUTLS_TRACE_MESSAGE, "ServerKeyExchange", "key exchange: the server's ECDHE share, signed" },
		{ MUTLS_TRACE_MESSAGE, "ClientKeyExchange", "key exchange: the client's ECDHE share" },
		{ MUTLS_TRACE_CHECK, "presence", "did the peer present a certificate?" },
		{ MUTLS_TRACE_CHECK, "validity", "is today within its validity dates?" },
		{ MUTLS_TRACE_CHECK, "name", "does it name the host the client asked for?" },
		{ MUTLS_TRACE_CHECK, "chain", "does it lead to a CA we trust?" },
		{ MUTLS_TRACE_CHECK, "purpose", "may it be used for this role (extended key usage)?" },
		{ MUTLS_TRACE_CHECK, "revocation", "is it on one of our CRLs?" },
		{ MUTLS_TRACE_CHECK, "policy", "is this identity allowed by our peers= patterns?" },
		{ MUTLS_TRACE_CHECK, "hook", "does our verify hook accept it?" },
	};

	/* a message teaches something when it is sent: the sender's move */
	if (!ev || !ev->name || (ev->kind == MUTLS_TRACE_MESSAGE && !ev->outgoing))
		return NULL;
	for (size_t i = 0; i < sizeof(notes) / sizeof(notes[0]); i++)
		if (notes[i].kind == ev->kind && strcmp(notes[i].name, ev->name) == 0)
			return notes[i].note;
	return NULL;
}
