/* Identity policy (`peers` patterns) and the verify hook, from real
 * handshakes, and the pattern parser's errors. */
#include "pair.h"

static void setup(fixture *f)
{
	pki_make(&f->pki);
	f->ccfg = config_with(f->pki.client_id, f->pki.ca);
	f->scfg = config_with(f->pki.server_id, f->pki.ca);
}

static void run_and_free(fixture *f, int expect_ok, int expect_code, unsigned reasons)
{
	pair_run(&f->p, f->ccfg, "orders.internal", f->scfg);
	if (expect_ok) {
		CHECK_INT(f->p.client_rc, 0);
		CHECK_INT(f->p.server_rc, 0);
		CHECK(mutls_session_verified(f->p.server));
	} else {
		const mutls_error *e = mutls_session_error(f->p.server);
		CHECK(e != NULL);
		printf("\n    server: [%s] %s ", mutls_code_name(mutls_error_code(e)), mutls_error_message(e));
		CHECK_STR(mutls_code_name(mutls_error_code(e)), mutls_code_name(expect_code));
		CHECK_INT(mutls_error_reasons(e), reasons);
		CHECK_INT(mutls_error_alert(e), 49); /* access_denied */
		CHECK_INT(mutls_error_step(e), MUTLS_STEP_CLIENT_CERTIFICATE);
		CHECK_INT(session_code(f->p.client), MUTLS_EPEERREJECTED);
		CHECK_INT(mutls_error_alert(mutls_session_error(f->p.client)), 49);
	}
	pair_free(&f->p);
	mutls_config_unref(f->ccfg);
	mutls_config_unref(f->scfg);
	pki_free(&f->pki);
}

TEST(spiffe_uri_allowed_exact)
{
	fixture f;
	setup(&f);
	CHECK_OK(mutls_config_add_peer_pattern(f.scfg, "uri:spiffe://example.org/payments"));
	run_and_free(&f, 1, 0, 0);
}

TEST(spiffe_uri_allowed_by_prefix)
{
	fixture f;
	setup(&f);
	CHECK_OK(mutls_config_add_peer_pattern(f.scfg, "uri:spiffe://example.org/*"));
	run_and_free(&f, 1, 0, 0);
}

TEST(spiffe_uri_denied)
{
	fixture f;
	setup(&f);
	CHECK_OK(mutls_config_add_peer_pattern(f.scfg, "uri:spiffe://example.org/billing"));
	CHECK_OK(mutls_config_add_peer_pattern(f.scfg, "uri:spiffe://other.org/*"));
	run_and_free(&f, 0, MUTLS_EVERIFY, MUTLS_REASON_POLICY);
}

TEST(cn_pattern)
{
	fixture f;
	setup(&f);
	CHECK_OK(mutls_config_add_peer_pattern(f.scfg, "cn:billing"));
	CHECK_OK(mutls_config_add_peer_pattern(f.scfg, "cn:payments"));
	run_and_free(&f, 1, 0, 0);
	setup(&f);
	CHECK_OK(mutls_config_add_peer_pattern(f.scfg, "cn:payment"));
	run_and_free(&f, 0, MUTLS_EVERIFY, MUTLS_REASON_POLICY);
}

TEST(dns_wildcard_pattern_on_server)
{
	fixture f;
	mutls_config *ccfg;
	setup(&f);
	ccfg = f.ccfg;
	CHECK_OK(mutls_config_add_peer_pattern(ccfg, "dns:*.internal"));
	CHECK_OK(mutls_config_add_peer_pattern(ccfg, "dns:internal"));
	pair_run(&f.p, ccfg, "orders.internal", f.scfg);
	CHECK_INT(f.p.client_rc, 0);
	pair_free(&f.p);
	mutls_config_unref(ccfg);
	/* "*.svc.internal" needs one more label than orders.internal has */
	CHECK_OK(mutls_config_new(&ccfg));
	CHECK_OK(mutls_config_set_identity_object(ccfg, f.pki.client_id));
	CHECK_OK(mutls_config_add_trust(ccfg, mutls_testca_cert_pem(f.pki.ca)));
	CHECK_OK(mutls_config_add_peer_pattern(ccfg, "dns:*.svc.internal"));
	pair_run(&f.p, ccfg, "orders.internal", f.scfg);
	CHECK_INT(session_code(f.p.client), MUTLS_EVERIFY);
	CHECK_INT(mutls_error_reasons(mutls_session_error(f.p.client)), MUTLS_REASON_POLICY);
	CHECK_CONTAINS(session_message(f.p.client), "is not allowed by the peers policy");
	CHECK_CONTAINS(session_message(f.p.client), "allowed: dns:*.svc.internal");
	pair_free(&f.p);
	mutls_config_unref(ccfg);
	mutls_config_unref(f.scfg);
	pki_free(&f.pki);
}

TEST(ip_pattern)
{
	fixture f;
	setup(&f);
	CHECK_OK(mutls_config_add_peer_pattern(f.ccfg, "ip:::1"));
	pair_run(&f.p, f.ccfg, "orders.internal", f.scfg);
	CHECK_INT(f.p.client_rc, 0);
	pair_free(&f.p);
	mutls_config_unref(f.ccfg);
	mutls_config_unref(f.scfg);
	pki_free(&f.pki);
}

static char *fingerprint_of(const mutls_identity *id)
{
	char *fp = NULL;
	CHECK_OK(mutls_x509_fingerprint(&fp, mutls_identity_certificate(id), "sha256"));
	return fp;
}

TEST(sha256_pin_match)
{
	fixture f;
	char pattern[200], *fp;
	setup(&f);
	fp = fingerprint_of(f.pki.client_id);
	snprintf(pattern, sizeof(pattern), "sha256:%s", fp);
	CHECK_OK(mutls_config_add_peer_pattern(f.scfg, pattern));
	mutls_free(fp);
	run_and_free(&f, 1, 0, 0);
}

TEST(sha256_pin_with_colons_and_uppercase)
{
	fixture f;
	char pattern[200] = "sha256:", *fp;
	setup(&f);
	fp = fingerprint_of(f.pki.client_id);
	for (size_t i = 0; fp[i]; i += 2) {
		char pair[4] = { (char)(fp[i] >= 'a' ? fp[i] - 32 : fp[i]), fp[i + 1] >= 'a' ? (char)(fp[i + 1] - 32) : fp[i + 1], ':', 0 };
		if (!fp[i + 2])
			pair[2] = 0;
		strcat(pattern, pair);
	}
	CHECK_OK(mutls_config_add_peer_pattern(f.scfg, pattern));
	mutls_free(fp);
	run_and_free(&f, 1, 0, 0);
}

TEST(sha256_pin_mismatch)
{
	fixture f;
	char pattern[200], *fp;
	setup(&f);
	fp = fingerprint_of(f.pki.server_id); /* someone else's pin */
	snprintf(pattern, sizeof(pattern), "sha256:%s", fp);
	CHECK_OK(mutls_config_add_peer_pattern(f.scfg, pattern));
	mutls_free(fp);
	run_and_free(&f, 0, MUTLS_EVERIFY, MUTLS_REASON_POLICY);
}

TEST(bad_patterns_are_config_errors)
{
	static const char *const bad[] = {
		"payments", "dns:", "dns:*", "dns:a.*.b", "ip:10.0.0.300", "ip:",
		"uri:", "uri:spiffe://*/x", "cn:", "sha256:abc", "sha256:zz",
		"email:x@y@example.org", "email:", "email:@*.example.org", "mail:x@example.org",
	};
	mutls_config *cfg;
	CHECK_OK(mutls_config_new(&cfg));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = mutls_config_add_peer_pattern(cfg, bad[i]);
		CHECK_INT(rc, MUTLS_ECONFIG);
		CHECK_CONTAINS(mutls_error_message(mutls_error_last()), bad[i]);
	}
	mutls_config_unref(cfg);
}

/* ---- verify hook --------------------------------------------------------- */

typedef struct {
	int verdict;
	int calls;
	unsigned reasons_seen;
	size_t chain_seen;
	int role_server;
	char hostname[64];
} hook_state;

static int test_hook(mutls_session *s, void *payload, char *reason, size_t cap)
{
	hook_state *h = payload;
	h->calls++;
	h->reasons_seen = mutls_session_verify_reasons(s);
	h->chain_seen = mutls_session_peer_chain_length(s);
	h->role_server = mutls_session_is_server(s);
	snprintf(h->hostname, sizeof(h->hostname), "%s",
		mutls_session_server_hostname(s) ? mutls_session_server_hostname(s) : "");
	if (h->verdict == MUTLS_HOOK_REJECT)
		snprintf(reason, cap, "payments is on leave");
	else if (h->verdict == MUTLS_HOOK_ERROR)
		snprintf(reason, cap, "ZeroDivisionError: division by zero");
	return h->verdict;
}

TEST(hook_accepts)
{
	fixture f;
	hook_state h = { MUTLS_HOOK_ACCEPT, 0, 0, 0, 0, "" };
	setup(&f);
	CHECK_OK(mutls_config_set_verify_hook(f.scfg, test_hook, &h, NULL));
	run_and_free(&f, 1, 0, 0);
	CHECK_INT(h.calls, 1);
	CHECK_INT(h.chain_seen, 1);
	CHECK_INT(h.reasons_seen, 0);
	CHECK_INT(h.role_server, 1);
}

TEST(hook_sees_client_hostname)
{
	fixture f;
	hook_state h = { MUTLS_HOOK_ACCEPT, 0, 0, 0, 0, "" };
	setup(&f);
	CHECK_OK(mutls_config_set_verify_hook(f.ccfg, test_hook, &h, NULL));
	run_and_free(&f, 1, 0, 0);
	CHECK_INT(h.calls, 1);
	CHECK_INT(h.role_server, 0);
	CHECK_STR(h.hostname, "orders.internal");
}

TEST(hook_rejects)
{
	fixture f;
	hook_state h = { MUTLS_HOOK_REJECT, 0, 0, 0, 0, "" };
	setup(&f);
	CHECK_OK(mutls_config_set_verify_hook(f.scfg, test_hook, &h, NULL));
	pair_run(&f.p, f.ccfg, "orders.internal", f.scfg);
	CHECK_CONTAINS(session_message(f.p.server),
		"client certificate CN=payments was rejected by the verify hook: payments is on leave");
	pair_free(&f.p);
	run_and_free(&f, 0, MUTLS_EVERIFY, MUTLS_REASON_HOOK);
}

TEST(hook_error_is_code_hook)
{
	fixture f;
	hook_state h = { MUTLS_HOOK_ERROR, 0, 0, 0, 0, "" };
	setup(&f);
	CHECK_OK(mutls_config_set_verify_hook(f.scfg, test_hook, &h, NULL));
	pair_run(&f.p, f.ccfg, "orders.internal", f.scfg);
	CHECK_CONTAINS(session_message(f.p.server), "ZeroDivisionError");
	pair_free(&f.p);
	run_and_free(&f, 0, MUTLS_EHOOK, MUTLS_REASON_HOOK);
}

TEST(hook_cannot_override_a_failed_check)
{
	fixture f;
	hook_state h = { MUTLS_HOOK_ACCEPT, 0, 0, 0, 0, "" };
	setup(&f);
	CHECK_OK(mutls_config_add_peer_pattern(f.scfg, "cn:billing"));
	CHECK_OK(mutls_config_set_verify_hook(f.scfg, test_hook, &h, NULL));
	pair_run(&f.p, f.ccfg, "orders.internal", f.scfg);
	CHECK_INT(h.calls, 1);
	CHECK_INT(h.reasons_seen, MUTLS_REASON_POLICY);
	pair_free(&f.p);
	run_and_free(&f, 0, MUTLS_EVERIFY, MUTLS_REASON_POLICY);
}

static int freed;
static void count_free(void *payload) { (void)payload; freed++; }

TEST(hook_payload_freed_with_config)
{
	mutls_config *cfg;
	hook_state h = { 0, 0, 0, 0, 0, "" };
	freed = 0;
	CHECK_OK(mutls_config_new(&cfg));
	CHECK_OK(mutls_config_set_verify_hook(cfg, test_hook, &h, count_free));
	mutls_config_ref(cfg);
	mutls_config_unref(cfg);
	CHECK_INT(freed, 0);
	mutls_config_unref(cfg);
	CHECK_INT(freed, 1);
}
