/* trace.c: an event as the line the demos print (mutls_trace_event_text),
 * what it teaches (mutls_trace_event_note), the kind names; on the events
 * of a real handshake and on made-up ones. */
#include "pair.h"

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
	test_pki pki;
	test_pair p;
	mutls_config *ccfg, *scfg;
	int messages = 0, checks = 0;

	pki_make(&pki);
	ccfg = config_with(pki.client_id, pki.ca);
	scfg = config_with(pki.server_id, pki.ca);
	pair_new(&p, ccfg, "orders.internal", scfg);
	pair_handshake(&p);
	CHECK_INT(p.client_rc, 0);
	for (size_t i = 0; i < mutls_session_trace_count(p.client); i++) {
		const mutls_trace_event *e = mutls_session_trace_event(p.client, i);
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
	pair_free(&p);
	mutls_config_unref(ccfg);
	mutls_config_unref(scfg);
	pki_free(&pki);
}
