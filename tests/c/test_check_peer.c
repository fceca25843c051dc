/* mutls_config_check_peer: a client chain that arrived outside a mutls
 * handshake (nginx terminated TLS) gets every check of a server handshake,
 * the verify hook included, with the same sentence and reasons. */
#include "pair.h"

typedef struct {
	int verdict;
	int calls;
	mutls_session *seen;
	void *userdata_seen;
} hook_state;

static int verify_hook(mutls_session *s, void *payload, char *reason, size_t cap)
{
	hook_state *h = payload;
	h->calls++;
	h->seen = s;
	h->userdata_seen = mutls_session_userdata(s);
	if (h->verdict == MUTLS_HOOK_REJECT)
		snprintf(reason, cap, "not on the guest list");
	return h->verdict;
}

/* The verdict a real (in-memory) handshake gives the same client. */
static char *handshake_verdict(mutls_config *scfg, const mutls_identity *client, const test_pki *pki)
{
	test_pair p;
	mutls_config *ccfg = config_with(client, pki->ca);
	const char *m;
	char *copy;

	pair_run(&p, ccfg, "orders.internal", scfg);
	m = mutls_session_verify_message(p.server);
	copy = strdup(m ? m : "(none)");
	pair_free(&p);
	mutls_config_unref(ccfg);
	return copy;
}

static mutls_session *check(mutls_config *cfg, const mutls_identity *id, int expect_rc)
{
	mutls_session *s = NULL;
	mutls_x509 *chain[4];
	size_t n = id ? mutls_identity_chain_length(id) : 0;
	int rc;

	for (size_t i = 0; i < n && i < 4; i++)
		chain[i] = mutls_identity_chain_at(id, i);
	rc = mutls_config_check_peer(&s, cfg, chain, n, NULL);
	CHECK_INT(rc, expect_rc);
	CHECK(s != NULL);
	if (rc) {
		CHECK(mutls_session_error(s) != NULL);
		CHECK_INT(mutls_error_code(mutls_session_error(s)), rc);
		CHECK_STR(mutls_error_message(mutls_error_last()), mutls_error_message(mutls_session_error(s)));
	} else {
		CHECK(mutls_session_error(s) == NULL);
	}
	printf("\n    %s ", mutls_session_verify_message(s));
	return s;
}

/* The offline verdict equals the handshake's, sentence and reasons. */
static void same_as_handshake(mutls_config *scfg, mutls_session *s, const mutls_identity *id, const test_pki *pki)
{
	char *hs = handshake_verdict(scfg, id, pki);
	CHECK_STR(mutls_session_verify_message(s), hs);
	free(hs);
}

static int has_check(const mutls_session *s, const char *name, int ok)
{
	for (size_t i = 0; i < mutls_session_trace_count(s); i++) {
		const mutls_trace_event *e = mutls_session_trace_event(s, i);
		if (e->kind == MUTLS_TRACE_CHECK && strcmp(e->name, name) == 0 && e->ok == ok)
			return 1;
	}
	return 0;
}

TEST(good_client_passes_every_check)
{
	test_pki pki;
	mutls_config *cfg;
	mutls_session *s;

	pki_make(&pki);
	cfg = config_with(pki.server_id, pki.ca);
	CHECK_OK(mutls_config_add_peer_pattern(cfg, "uri:spiffe://example.org/payments"));
	s = check(cfg, pki.client_id, 0);
	CHECK_INT(mutls_session_verified(s), 1);
	CHECK_INT(mutls_session_verify_reasons(s), 0);
	CHECK_STR(mutls_session_verify_message(s), "client certificate CN=payments passed every check");
	CHECK_INT(mutls_session_peer_chain_length(s), 1);
	CHECK(mutls_session_peer_certificate(s, 0) == mutls_identity_certificate(pki.client_id));
	CHECK(has_check(s, "chain", 1) && has_check(s, "policy", 1) && has_check(s, "purpose", 1));
	CHECK_INT(mutls_session_handshake_done(s), 0);
	same_as_handshake(cfg, s, pki.client_id, &pki);
	mutls_session_free(s);
	mutls_config_unref(cfg);
	pki_free(&pki);
}

TEST(no_identity_needed_and_no_certificate_is_refused)
{
	test_pki pki;
	mutls_config *cfg;
	mutls_session *s;

	pki_make(&pki);
	cfg = config_with(NULL, pki.ca); /* a checker needs no key of its own */
	s = check(cfg, NULL, MUTLS_ENOCERT);
	CHECK_INT(mutls_session_verified(s), 0);
	CHECK_STR(mutls_session_verify_message(s), "client presented no certificate, but one is required");
	CHECK_STR(mutls_error_message(mutls_session_error(s)), "client presented no certificate, but one is required");
	mutls_session_free(s);
	mutls_config_unref(cfg);
	pki_free(&pki);
}

TEST(unknown_ca_is_refused_as_in_a_handshake)
{
	test_pki pki;
	mutls_testca *stranger;
	mutls_identity *id;
	mutls_config *cfg;
	mutls_session *s;

	pki_make(&pki);
	CHECK_OK(mutls_testca_new(&stranger, NULL));
	id = pki_issue(stranger, "stranger", NULL, NULL, NULL, MUTLS_PURPOSE_CLIENT, 0, 0);
	cfg = config_with(pki.server_id, pki.ca);
	s = check(cfg, id, MUTLS_EVERIFY);
	CHECK_INT(mutls_session_verify_reasons(s), MUTLS_REASON_UNKNOWN_ISSUER);
	CHECK_INT(mutls_error_reasons(mutls_session_error(s)), MUTLS_REASON_UNKNOWN_ISSUER);
	CHECK_CONTAINS(mutls_session_verify_message(s), "client certificate CN=stranger was issued by an unknown CA");
	same_as_handshake(cfg, s, id, &pki);
	mutls_session_free(s);
	mutls_config_unref(cfg);
	mutls_identity_free(id);
	mutls_testca_free(stranger);
	pki_free(&pki);
}

TEST(outside_peers_policy_expired_and_revoked)
{
	test_pki pki;
	mutls_identity *old, *bad;
	mutls_config *cfg;
	mutls_session *s;
	char *crl = NULL;

	pki_make(&pki);
	old = pki_issue(pki.ca, "old", NULL, NULL, "spiffe://example.org/payments", MUTLS_PURPOSE_CLIENT, -7200, -3600);
	bad = pki_issue(pki.ca, "bad", NULL, NULL, "spiffe://example.org/payments", MUTLS_PURPOSE_CLIENT, 0, 0);
	CHECK_OK(mutls_testca_revoke(pki.ca, mutls_identity_certificate(bad)));
	CHECK_OK(mutls_testca_crl_pem(&crl, pki.ca));
	cfg = config_with(pki.server_id, pki.ca);
	CHECK_OK(mutls_config_add_crl(cfg, crl));
	CHECK_OK(mutls_config_add_peer_pattern(cfg, "uri:spiffe://example.org/billing"));

	s = check(cfg, pki.client_id, MUTLS_EVERIFY);
	CHECK_INT(mutls_session_verify_reasons(s), MUTLS_REASON_POLICY);
	CHECK_CONTAINS(mutls_session_verify_message(s), "is not allowed by the peers policy");
	same_as_handshake(cfg, s, pki.client_id, &pki);
	mutls_session_free(s);

	s = check(cfg, old, MUTLS_EVERIFY);
	CHECK(mutls_session_verify_reasons(s) & MUTLS_REASON_EXPIRED);
	CHECK_CONTAINS(mutls_session_verify_message(s), "client certificate CN=old expired at");
	mutls_session_free(s);

	s = check(cfg, bad, MUTLS_EVERIFY);
	CHECK(mutls_session_verify_reasons(s) & MUTLS_REASON_REVOKED);
	CHECK_CONTAINS(mutls_session_verify_message(s), "has been revoked (serial");
	CHECK(has_check(s, "revocation", 0));
	mutls_session_free(s);

	mutls_config_unref(cfg);
	free(crl);
	mutls_identity_free(old);
	mutls_identity_free(bad);
	pki_free(&pki);
}

TEST(verify_hook_runs_with_the_session_and_can_refuse)
{
	test_pki pki;
	mutls_config *cfg;
	mutls_session *s = NULL;
	mutls_x509 *leaf;
	hook_state h = { MUTLS_HOOK_REJECT, 0, NULL, NULL };
	int marker = 0;

	pki_make(&pki);
	cfg = config_with(NULL, pki.ca);
	CHECK_OK(mutls_config_set_verify_hook(cfg, verify_hook, &h, NULL));
	leaf = mutls_identity_certificate(pki.client_id);
	CHECK_INT(mutls_config_check_peer(&s, cfg, &leaf, 1, &marker), MUTLS_EVERIFY);
	CHECK_INT(h.calls, 1);
	CHECK(h.seen == s);
	CHECK(h.userdata_seen == &marker);
	CHECK_INT(mutls_session_verify_reasons(s), MUTLS_REASON_HOOK);
	CHECK_STR(mutls_session_verify_message(s),
		"client certificate CN=payments was rejected by the verify hook: not on the guest list");
	CHECK(has_check(s, "hook", 0));
	mutls_session_free(s);

	h.verdict = MUTLS_HOOK_ACCEPT;
	CHECK_OK(mutls_config_check_peer(&s, cfg, &leaf, 1, NULL));
	CHECK_INT(h.calls, 2);
	CHECK_INT(mutls_session_verified(s), 1);
	mutls_session_free(s);

	h.verdict = MUTLS_HOOK_ERROR;
	CHECK_INT(mutls_config_check_peer(&s, cfg, &leaf, 1, NULL), MUTLS_EHOOK);
	CHECK_INT(mutls_session_verified(s), 0);
	mutls_session_free(s);

	mutls_config_unref(cfg);
	pki_free(&pki);
}

TEST(bad_arguments)
{
	test_pki pki;
	mutls_config *cfg;
	mutls_session *s = (mutls_session *)&pki;
	mutls_x509 *none[1] = { NULL };

	pki_make(&pki);
	cfg = config_with(NULL, pki.ca);
	CHECK_INT(mutls_config_check_peer(NULL, cfg, NULL, 0, NULL), MUTLS_EUSAGE);
	CHECK_INT(mutls_config_check_peer(&s, NULL, NULL, 0, NULL), MUTLS_EUSAGE);
	CHECK(s == NULL);
	CHECK_INT(mutls_config_check_peer(&s, cfg, NULL, 2, NULL), MUTLS_EUSAGE);
	CHECK_INT(mutls_config_check_peer(&s, cfg, none, 1, NULL), MUTLS_EUSAGE);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "chain[0] is NULL");
	CHECK(s == NULL);
	mutls_config_unref(cfg);
	pki_free(&pki);
}

static const char *chain_detail(const mutls_session *s)
{
	for (size_t i = 0; i < mutls_session_trace_count(s); i++) {
		const mutls_trace_event *e = mutls_session_trace_event(s, i);
		if (e->kind == MUTLS_TRACE_CHECK && strcmp(e->name, "chain") == 0)
			return e->detail;
	}
	return NULL;
}

/* nginx hands over the same client chain with every request: the second
 * check re-uses the first one's signature check (as a resumed handshake
 * does), never a failed one, and still checks the leaf's dates, the policy
 * and the hook. */
TEST(same_chain_again_reuses_the_signature_check)
{
	test_pki pki;
	mutls_testca *stranger;
	mutls_identity *id;
	mutls_config *cfg;
	mutls_session *s;
	hook_state h = { MUTLS_HOOK_ACCEPT, 0, NULL, NULL };

	pki_make(&pki);
	cfg = config_with(NULL, pki.ca);
	CHECK_OK(mutls_config_set_verify_hook(cfg, verify_hook, &h, NULL));
	s = check(cfg, pki.client_id, 0);
	CHECK(!strstr(chain_detail(s), "earlier"));
	mutls_session_free(s);
	s = check(cfg, pki.client_id, 0);
	CHECK_CONTAINS(chain_detail(s), "(signatures checked by an earlier handshake)");
	CHECK(has_check(s, "validity", 1) && has_check(s, "hook", 1));
	CHECK_INT(h.calls, 2);
	mutls_session_free(s);

	CHECK_OK(mutls_testca_new(&stranger, NULL));
	id = pki_issue(stranger, "stranger", NULL, NULL, NULL, MUTLS_PURPOSE_CLIENT, 0, 0);
	for (int i = 0; i < 2; i++) {
		s = check(cfg, id, MUTLS_EVERIFY);
		CHECK_INT(mutls_session_verify_reasons(s), MUTLS_REASON_UNKNOWN_ISSUER);
		mutls_session_free(s);
	}
	mutls_config_unref(cfg);
	mutls_identity_free(id);
	mutls_testca_free(stranger);
	pki_free(&pki);
}

/* A checked session has no connection: every I/O call fails cleanly (the
 * handshake used to crash in GnuTLS: no credentials, no priority). */
TEST(io_on_a_checked_session_is_a_usage_error)
{
	test_pki pki;
	mutls_config *cfg;
	mutls_session *s;
	unsigned char buf[64], *data = NULL;
	const unsigned char *out = NULL;
	size_t n = 0;
	char *text = NULL, fp[65];

	pki_make(&pki);
	cfg = config_with(NULL, pki.ca);
	for (int refused = 0; refused < 2; refused++) {
		s = check(cfg, refused ? NULL : pki.client_id, refused ? MUTLS_ENOCERT : 0);
		CHECK_INT(mutls_session_handshake(s), MUTLS_EUSAGE);
		CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "has no connection");
		CHECK(mutls_session_send(&n, s, "x", 1) < 0);
		CHECK(mutls_session_recv(&n, s, buf, sizeof(buf)) < 0);
		CHECK(mutls_session_export_keying_material(buf, 16, s, "EXPORTER-x", NULL, 0) < 0);
		CHECK(mutls_session_key_fingerprint(fp, s, 1) < 0);
		CHECK(mutls_session_get_data(&data, &n, s) < 0);
		CHECK_INT(mutls_session_feed(s, "abc", 3), refused ? mutls_session_feed(s, "", 0) : 0);
		mutls_session_data_to_send(&out, &n, s);
		CHECK_INT(mutls_session_close(s), 0);
		CHECK_OK(mutls_session_explain(&text, s));
		CHECK_CONTAINS(text, "check presence");
		CHECK(!strstr(text, "alert")); /* no connection: no alert was sent */
		mutls_free(text);
		text = NULL;
		(void)mutls_session_version(s);
		(void)mutls_session_cipher(s);
		CHECK_INT(mutls_session_resumed(s), 0);
		mutls_session_free(s);
	}
	mutls_config_unref(cfg);
	pki_free(&pki);
}
