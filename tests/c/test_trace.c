/* The trace (trace.c): every step of a handshake as events, in order, and
 * a trace hook that fails early, late, or after the handshake; an event as
 * the line the demos print (mutls_trace_event_text), what it teaches
 * (mutls_trace_event_note), the kind names. */
#include "pair.h"

TEST(trace_shows_every_step)
{
	fixture f;
	char *text = NULL;
	int seen_ch = 0, seen_cr = 0, seen_fin = 0, checks = 0;

	fixture_connect(&f, NULL);
	for (size_t i = 0; i < mutls_session_trace_count(f.p.client); i++) {
		const mutls_trace_event *e = mutls_session_trace_event(f.p.client, i);
		if (e->kind == MUTLS_TRACE_MESSAGE && strcmp(e->name, "ClientHello") == 0) {
			CHECK(e->outgoing);
			CHECK_CONTAINS(e->detail, "TLS1.3");
			seen_ch = 1;
		}
		if (e->kind == MUTLS_TRACE_MESSAGE && strcmp(e->name, "CertificateRequest") == 0)
			seen_cr = !e->outgoing;
		if (e->kind == MUTLS_TRACE_MESSAGE && strcmp(e->name, "Finished") == 0)
			seen_fin++;
		if (e->kind == MUTLS_TRACE_CHECK) {
			CHECK(e->ok);
			checks++;
		}
	}
	CHECK(seen_ch);
	CHECK(seen_cr);
	CHECK_INT(seen_fin, 2);
	CHECK(checks >= 5); /* presence, validity, name, chain, purpose */
	CHECK_OK(mutls_session_explain(&text, f.p.server));
	CHECK_CONTAINS(text, "handshake succeeded");
	CHECK_CONTAINS(text, "check purpose");
	mutls_free(text);
	fixture_free(&f);
}

static int abort_on_certificate(mutls_session *s, const mutls_trace_event *e, void *payload)
{
	if (e->kind == MUTLS_TRACE_MESSAGE && strcmp(e->name, "Certificate") == 0) {
		mutls_session_set_hook_error(s, "KeyError: 'Certificate'");
		return -1;
	}
	return 0;
}

TEST(trace_hook_failure_is_code_hook)
{
	fixture f;
	pki_make(&f.pki);
	f.ccfg = config_with(f.pki.client_id, f.pki.ca);
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	CHECK_OK(mutls_config_set_trace_hook(f.ccfg, abort_on_certificate, NULL, NULL));
	pair_run(&f.p, f.ccfg, "orders.internal", f.scfg);
	CHECK_INT(session_code(f.p.client), MUTLS_EHOOK);
	CHECK_STR(session_message(f.p.client), "the trace hook failed during the handshake: KeyError: 'Certificate'");
	fixture_free(&f);
}

/* ---- a trace hook that fails -------------------------------------------- */

typedef struct {
	const char *fail_at;  /* event name */
	int calls_after;      /* events seen after the failure */
	int failed;
} trace_state;

static int failing_trace(mutls_session *s, const mutls_trace_event *e, void *payload)
{
	trace_state *t = payload;
	(void)s;
	if (t->failed) {
		t->calls_after++;
		return 0;
	}
	if (strcmp(e->name, t->fail_at) == 0) {
		t->failed = 1;
		mutls_session_set_hook_error(s, "ValueError: no thanks");
		return 1;
	}
	return 0;
}

/* The trace hook (on the given side) fails at event `at`. */
static void trace_fails(const char *at, int on_server, const char *version)
{
	fixture f;
	trace_state t = { at, 0, 0 };
	mutls_session *failing, *other;
	const mutls_error *e;
	size_t written = 0, got = 0;
	char buf[64];

	pki_make(&f.pki);
	f.ccfg = config_with(f.pki.client_id, f.pki.ca);
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	if (version) {
		const char *v[] = { version };
		CHECK_OK(mutls_config_set_versions(f.ccfg, v, 1));
	}
	CHECK_OK(mutls_config_set_trace_hook(on_server ? f.scfg : f.ccfg, failing_trace, &t, NULL));
	pair_run(&f.p, f.ccfg, "orders.internal", f.scfg);
	failing = on_server ? f.p.server : f.p.client;
	other = on_server ? f.p.client : f.p.server;
	CHECK(t.failed);
	e = mutls_session_error(failing);
	CHECK(e != NULL);
	printf("\n    %s: %s ", on_server ? "server" : "client", mutls_error_message(e));
	CHECK_STR(mutls_code_name(mutls_error_code(e)), "hook");
	CHECK_CONTAINS(mutls_error_message(e), "the trace hook failed during the handshake: ValueError: no thanks");
	CHECK_INT(mutls_error_alert(e), 80); /* internal_error, sent */
	CHECK(!mutls_session_handshake_done(failing));
	CHECK(!mutls_session_verified(failing));
	/* the session stays failed with the same error */
	CHECK_INT(mutls_session_handshake(failing), MUTLS_EHOOK);
	CHECK_INT(mutls_session_send(&written, failing, "x", 1), MUTLS_EHOOK);
	CHECK_INT(mutls_session_recv(&got, failing, buf, sizeof(buf)), MUTLS_EHOOK);
	/* the peer got the alert: its next read says so (before its
	 * ClientHello, a client's alert is just unexpected to the server) */
	if (strcmp(at, "ClientHello") == 0) {
		CHECK(session_code(other) != 0);
		fixture_free(&f);
		return;
	}
	if (mutls_session_handshake_done(other)) {
		int rc = mutls_session_recv(&got, other, buf, sizeof(buf));
		CHECK(rc < 0);
	}
	CHECK(session_code(other) == MUTLS_EPEERREJECTED || session_code(other) == MUTLS_EPROTOCOL);
	CHECK_INT(mutls_error_alert(mutls_session_error(other)), 80);
	fixture_free(&f);
}

TEST(trace_hook_fails_early_client_hello) { trace_fails("ClientHello", 0, NULL); }
TEST(trace_hook_fails_early_on_server_certificate_check) { trace_fails("chain", 1, NULL); }
TEST(trace_hook_fails_late_version_client) { trace_fails("version", 0, NULL); }
TEST(trace_hook_fails_late_version_server_tls12) { trace_fails("version", 1, "1.2"); }
TEST(trace_hook_fails_late_cipher_server) { trace_fails("cipher", 1, NULL); }
TEST(trace_hook_fails_late_write_key_client) { trace_fails("server-write-key", 0, NULL); }

/* After the handshake a failing trace hook has nothing to abort (the
 * bindings re-raise it from the call), and a later error is not the hook's. */
static void trace_fails_after_handshake(const char *at, int server_closes)
{
	fixture f;
	trace_state t = { at, 0, 0 };
	size_t got = 0;
	char buf[64];
	static const unsigned char garbage[] = { 23, 3, 3, 0, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
		11, 12, 13, 14, 15, 16, 17, 18, 19, 20 };

	pki_make(&f.pki);
	f.ccfg = config_with(f.pki.client_id, f.pki.ca);
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	CHECK_OK(mutls_config_set_trace_hook(f.scfg, failing_trace, &t, NULL));
	pair_run(&f.p, f.ccfg, "orders.internal", f.scfg);
	CHECK_INT(f.p.server_rc, 0);
	CHECK(!t.failed);
	if (server_closes) {
		CHECK_OK(mutls_session_close(f.p.server));
	} else {
		CHECK_OK(mutls_session_close(f.p.client));
		pair_move(f.p.client, f.p.server);
		CHECK_OK(mutls_session_recv(&got, f.p.server, buf, sizeof(buf)));
		CHECK_INT(got, 0);
	}
	CHECK(t.failed);
	CHECK(mutls_session_error(f.p.server) == NULL);
	if (server_closes) {
		/* a record that is not the client's: a protocol error, not "hook" */
		CHECK_OK(mutls_session_feed(f.p.server, garbage, sizeof(garbage)));
		CHECK_INT(mutls_session_recv(&got, f.p.server, buf, sizeof(buf)), MUTLS_EPROTOCOL);
		CHECK(strstr(session_message(f.p.server), "hook") == NULL);
	}
	fixture_free(&f);
}

TEST(trace_hook_failing_on_close_notify_sent_is_not_blamed_later) { trace_fails_after_handshake("close_notify", 1); }
TEST(trace_hook_failing_on_close_notify_received_ends_cleanly) { trace_fails_after_handshake("close_notify", 0); }

/* ---- an event as a line of text ---------------------------------------- */

static char *text_of(const mutls_trace_event *ev)
{
	char *text = NULL;
	CHECK_OK(mutls_trace_event_text(&text, ev));
	CHECK(text != NULL);
	return text;
}

TEST(text_of_each_kind)
{
	mutls_trace_event ch = { MUTLS_TRACE_MESSAGE, 1, 1, "ClientHello", "offers TLS1.3", 1, 517 };
	mutls_trace_event sh = { MUTLS_TRACE_MESSAGE, 0, 1, "ServerHello", "", 2, 122 };
	mutls_trace_event ok = { MUTLS_TRACE_CHECK, 0, 1, "validity", "valid 2026 to 2027", 0, 0 };
	mutls_trace_event fail = { MUTLS_TRACE_CHECK, 0, 0, "chain", "unknown issuer", 0, 0 };
	mutls_trace_event bare = { MUTLS_TRACE_CHECK, 0, 1, "policy", "", 0, 0 };
	mutls_trace_event alert = { MUTLS_TRACE_ALERT, 0, 1, "unknown_ca", "", 48, 0 };
	mutls_trace_event bye = { MUTLS_TRACE_ALERT, 1, 1, "close_notify", "", 0, 0 };
	mutls_trace_event info = { MUTLS_TRACE_INFO, 0, 1, "version", "TLS1.3", 0, 0 };
	mutls_trace_event key = { MUTLS_TRACE_INFO, 0, 1, "client-write-key", "sha256 ab12", 0, 0 };
	struct { mutls_trace_event *ev; const char *want; } rows[] = {
		{ &ch, "-> ClientHello          517 bytes  offers TLS1.3" },
		{ &sh, "<- ServerHello          122 bytes" },
		{ &ok, "check validity   ok   valid 2026 to 2027" },
		{ &fail, "check chain      FAIL unknown issuer" },
		{ &bare, "check policy     ok" },
		{ &alert, "<- alert unknown_ca (48)" },
		{ &bye, "-> alert close_notify" },
		{ &info, "info  version          TLS1.3" },
		{ &key, "key   client-write-key sha256 ab12" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *text = text_of(rows[i].ev);
		CHECK_STR(text, rows[i].want);
		mutls_free(text);
	}
}

TEST(text_refuses_null)
{
	char *text = (char *)"unchanged";
	mutls_trace_event ev = { MUTLS_TRACE_INFO, 0, 1, "version", "TLS1.3", 0, 0 };

	CHECK_INT(mutls_trace_event_text(&text, NULL), MUTLS_EUSAGE);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "mutls_trace_event_text");
	CHECK_INT(mutls_trace_event_text(NULL, &ev), MUTLS_EUSAGE);
}

TEST(notes)
{
	mutls_trace_event sent = { MUTLS_TRACE_MESSAGE, 1, 1, "ClientHello", "", 1, 10 };
	mutls_trace_event received = { MUTLS_TRACE_MESSAGE, 0, 1, "ClientHello", "", 1, 10 };
	mutls_trace_event check = { MUTLS_TRACE_CHECK, 0, 0, "validity", "", 0, 0 };
	mutls_trace_event info = { MUTLS_TRACE_INFO, 0, 1, "version", "TLS1.3", 0, 0 };

	CHECK_STR(mutls_trace_event_note(&sent), "the offer");
	CHECK(mutls_trace_event_note(&received) == NULL); /* the sender's move, told once */
	CHECK_STR(mutls_trace_event_note(&check), "is today within its validity dates?");
	CHECK(mutls_trace_event_note(&info) == NULL);
	CHECK(mutls_trace_event_note(NULL) == NULL);
}

TEST(kind_names_round_trip)
{
	mutls_trace_kind k = MUTLS_TRACE_INFO;

	for (int i = MUTLS_TRACE_MESSAGE; i <= MUTLS_TRACE_INFO; i++) {
		CHECK_OK(mutls_trace_kind_from_name(&k, mutls_trace_kind_name((mutls_trace_kind)i)));
		CHECK_INT(k, i);
	}
	CHECK_STR(mutls_trace_kind_name((mutls_trace_kind)9), "?");
	CHECK_INT(mutls_trace_kind_from_name(&k, "messages"), MUTLS_EUSAGE);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "\"messages\"");
}

/* Every event of a real mutual handshake renders, starts as the demos'
 * lines do, and carries its name. */
TEST(text_of_a_real_handshake)
{
	fixture f;
	int messages = 0, checks = 0;

	fixture_connect(&f, NULL);
	for (size_t i = 0; i < mutls_session_trace_count(f.p.client); i++) {
		const mutls_trace_event *e = mutls_session_trace_event(f.p.client, i);
		char *text = text_of(e);
		CHECK_CONTAINS(text, e->name);
		if (e->kind == MUTLS_TRACE_MESSAGE) {
			CHECK(strncmp(text, e->outgoing ? "-> " : "<- ", 3) == 0);
			CHECK_CONTAINS(text, " bytes");
			messages++;
		} else if (e->kind == MUTLS_TRACE_CHECK) {
			CHECK(strncmp(text, "check ", 6) == 0);
			CHECK_CONTAINS(text, " ok");
			checks++;
		}
		mutls_free(text);
	}
	CHECK(messages >= 4);
	CHECK(checks >= 5);
	fixture_free(&f);
}
