/* The chain cache (chain_cache.c): a resumed handshake re-uses the chain's
 * signature check from the same config, a full handshake never does, and
 * the re-used check does not outlive a certificate of the chain. */
#include "pair.h"

#include <time.h>

/* The detail of the session's "chain" check, or "" */
static const char *chain_detail(const mutls_session *s)
{
	for (size_t i = 0; i < mutls_session_trace_count(s); i++) {
		const mutls_trace_event *e = mutls_session_trace_event(s, i);
		if (e->kind == MUTLS_TRACE_CHECK && strcmp(e->name, "chain") == 0)
			return e->detail;
	}
	return "";
}

/* A resumed handshake re-uses the chain's signature check from the same
 * config; a full handshake never does. */
static void resume_reuses_chain_check(const char *version)
{
	fixture f;
	size_t len;
	unsigned char *data;

	fixture_connect(&f, version);
	CHECK(strstr(chain_detail(f.p.client), "earlier handshake") == NULL);
	pair_free(&f.p);
	pair_new(&f.p, f.ccfg, "orders.internal", f.scfg); /* full again: checked again */
	pair_handshake(&f.p);
	CHECK_INT(f.p.client_rc, 0);
	CHECK_STR(chain_detail(f.p.client), "1 certificate up to trusted CN=mutls test root");
	CHECK_STR(chain_detail(f.p.server), "1 certificate up to trusted CN=mutls test root");
	{
		char buf[32];
		CHECK_INT(pair_transfer(f.p.server, f.p.client, "ticket?", buf, sizeof(buf)), 0);
	}
	CHECK_OK(mutls_session_get_data(&data, &len, f.p.client));
	pair_free(&f.p);
	pair_new(&f.p, f.ccfg, "orders.internal", f.scfg);
	CHECK_OK(mutls_session_set_data(f.p.client, data, len));
	pair_handshake(&f.p);
	CHECK_INT(f.p.client_rc, 0);
	CHECK_INT(mutls_session_resumed(f.p.client), 1);
	CHECK_STR(chain_detail(f.p.client), "1 certificate up to trusted CN=mutls test root "
		"(signatures checked by an earlier handshake)");
	CHECK_STR(chain_detail(f.p.server), "1 certificate up to trusted CN=mutls test root "
		"(signatures checked by an earlier handshake)");
	mutls_free(data);
	fixture_free(&f);
}

TEST(resumption_reuses_chain_check_tls13) { resume_reuses_chain_check("1.3"); }
TEST(resumption_reuses_chain_check_tls12) { resume_reuses_chain_check("1.2"); }

/* An issuer that expires between the full and the resumed handshake: the
 * re-used chain check must not outlive it. */
TEST(resumption_rechecks_an_issuer_that_expired)
{
	mutls_testca *root, *inter;
	mutls_testca_options io = MUTLS_TESTCA_OPTIONS_INIT;
	mutls_identity *server_id, *client_id;
	mutls_config *ccfg, *scfg;
	test_pair p;
	unsigned char *data;
	size_t len;
	char buf[32];
	const char *v12[] = { "1.2" };
	struct timespec tick = { 0, 100 * 1000 * 1000 };

	CHECK_OK(mutls_testca_new(&root, NULL));
	io.name = "short-lived intermediate";
	io.not_after = (int64_t)time(NULL) + 4; /* margin for slow runs (valgrind) */
	CHECK_OK(mutls_testca_intermediate(&inter, root, &io));
	server_id = pki_issue(inter, "orders", "orders.internal", NULL, NULL, MUTLS_PURPOSE_SERVER, -3600, 86400);
	client_id = pki_issue(root, "payments", NULL, NULL, "spiffe://example.org/payments",
		MUTLS_PURPOSE_CLIENT, -3600, 86400);
	ccfg = config_with(client_id, root);
	scfg = config_with(server_id, root);
	CHECK_OK(mutls_config_set_versions(ccfg, v12, 1)); /* session data at once */
	pair_new(&p, ccfg, "orders.internal", scfg);
	pair_handshake(&p);
	CHECK_INT(p.client_rc, 0);
	CHECK_INT(pair_transfer(p.server, p.client, "ticket?", buf, sizeof(buf)), 0);
	CHECK_OK(mutls_session_get_data(&data, &len, p.client));
	pair_free(&p);

	while ((int64_t)time(NULL) <= io.not_after) /* GnuTLS: expired once now > not_after */
		nanosleep(&tick, NULL);
	pair_new(&p, ccfg, "orders.internal", scfg);
	CHECK_OK(mutls_session_set_data(p.client, data, len));
	pair_handshake(&p);
	CHECK_INT(p.client_rc, MUTLS_EVERIFY);
	CHECK_INT(mutls_error_reasons(mutls_session_error(p.client)), MUTLS_REASON_EXPIRED);
	CHECK_CONTAINS(mutls_error_message(mutls_session_error(p.client)), "has an expired issuer in its chain");
	pair_free(&p);
	mutls_free(data);
	mutls_config_unref(ccfg);
	mutls_config_unref(scfg);
	mutls_identity_free(server_id);
	mutls_identity_free(client_id);
	mutls_testca_free(inter);
	mutls_testca_free(root);
}
