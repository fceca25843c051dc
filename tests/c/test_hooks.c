/* Hooks and session state at the edges: an anonymous peer under
 * peer_certificate=request (policy and verify hook), key logging only when
 * asked (file mode, symlinks, SSLKEYLOGFILE), and `verified` after a failed
 * handshake. A trace hook that fails: test_trace.c. */
#include "pair.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAYMENTS "uri:spiffe://example.org/payments"

/* ---- anonymous peer under peer_certificate=request ---------------------- */

typedef struct {
	int verdict;
	int calls;
	size_t chain_seen;
	int leaf_seen;
	unsigned reasons_seen;
} hook_state;

static int verify_hook(mutls_session *s, void *payload, char *reason, size_t cap)
{
	hook_state *h = payload;
	h->calls++;
	h->chain_seen = mutls_session_peer_chain_length(s);
	h->leaf_seen = mutls_session_peer_certificate(s, 0) != NULL;
	h->reasons_seen = mutls_session_verify_reasons(s);
	if (h->verdict == MUTLS_HOOK_REJECT)
		snprintf(reason, cap, "nobody gets in");
	else if (h->verdict == MUTLS_HOOK_ERROR)
		snprintf(reason, cap, "RuntimeError: hook broke");
	return h->verdict;
}

/* A client with no certificate; a server that requests one. */
static void anonymous_setup(fixture *f, const char *version, const char *pattern, hook_state *h)
{
	pki_make(&f->pki);
	f->ccfg = config_with(NULL, f->pki.ca);
	f->scfg = config_with(f->pki.server_id, f->pki.ca);
	CHECK_OK(mutls_config_set_peer_certificate(f->scfg, MUTLS_PEER_REQUEST));
	if (version) {
		const char *v[] = { version };
		CHECK_OK(mutls_config_set_versions(f->scfg, v, 1));
	}
	if (pattern)
		CHECK_OK(mutls_config_add_peer_pattern(f->scfg, pattern));
	if (h)
		CHECK_OK(mutls_config_set_verify_hook(f->scfg, verify_hook, h, NULL));
	pair_run(&f->p, f->ccfg, "orders.internal", f->scfg);
}

static void anonymous_refused(const char *version)
{
	fixture f;
	hook_state h = { MUTLS_HOOK_REJECT, 0, 9, 1, 0 };
	const mutls_error *e;
	size_t written = 0, got = 0;
	char buf[64];

	anonymous_setup(&f, version, PAYMENTS, &h);
	printf("\n    server: %s ", session_message(f.p.server));
	CHECK_INT(h.calls, 1);
	CHECK_INT(h.chain_seen, 0);
	CHECK_INT(h.leaf_seen, 0);
	CHECK_INT(h.reasons_seen, MUTLS_REASON_POLICY);
	e = mutls_session_error(f.p.server);
	CHECK(e != NULL);
	CHECK_INT(mutls_error_code(e), MUTLS_EVERIFY);
	CHECK_INT(mutls_error_reasons(e), MUTLS_REASON_POLICY | MUTLS_REASON_HOOK);
	CHECK_INT(mutls_error_alert(e), 49); /* access_denied */
	CHECK_INT(mutls_error_step(e), MUTLS_STEP_CLIENT_CERTIFICATE);
	CHECK_CONTAINS(mutls_error_message(e), "client presented no certificate, so it cannot match the peers policy");
	CHECK_CONTAINS(mutls_error_message(e), PAYMENTS);
	CHECK_CONTAINS(mutls_error_message(e), "rejected by the verify hook: nobody gets in");
	CHECK(!mutls_session_verified(f.p.server));
	CHECK(!mutls_session_handshake_done(f.p.server));
	CHECK_INT(session_code(f.p.client), MUTLS_EPEERREJECTED);
	/* the server reads nothing from it */
	CHECK(mutls_session_send(&written, f.p.client, "hi", 2) < 0);
	CHECK(mutls_session_recv(&got, f.p.server, buf, sizeof(buf)) < 0);
	fixture_free(&f);
}

TEST(request_anonymous_refused_by_peers_and_hook_tls13) { anonymous_refused("1.3"); }
TEST(request_anonymous_refused_by_peers_and_hook_tls12) { anonymous_refused("1.2"); }

TEST(request_anonymous_refused_by_peers_without_hook)
{
	fixture f;
	anonymous_setup(&f, NULL, PAYMENTS, NULL);
	CHECK_INT(session_code(f.p.server), MUTLS_EVERIFY);
	CHECK_INT(mutls_error_reasons(mutls_session_error(f.p.server)), MUTLS_REASON_POLICY);
	CHECK_CONTAINS(session_message(f.p.server), "presented no certificate, so it cannot match");
	CHECK_INT(session_code(f.p.client), MUTLS_EPEERREJECTED);
	fixture_free(&f);
}

TEST(request_anonymous_refused_by_hook_alone)
{
	fixture f;
	hook_state h = { MUTLS_HOOK_REJECT, 0, 9, 1, 0 };
	anonymous_setup(&f, "1.2", NULL, &h);
	CHECK_INT(h.calls, 1);
	CHECK_INT(h.reasons_seen, 0);
	CHECK_INT(session_code(f.p.server), MUTLS_EVERIFY);
	CHECK_INT(mutls_error_reasons(mutls_session_error(f.p.server)), MUTLS_REASON_HOOK);
	CHECK_CONTAINS(session_message(f.p.server), "anonymous client was rejected by the verify hook: nobody gets in");
	fixture_free(&f);
}

TEST(request_anonymous_hook_error_is_code_hook)
{
	fixture f;
	hook_state h = { MUTLS_HOOK_ERROR, 0, 9, 1, 0 };
	anonymous_setup(&f, NULL, NULL, &h);
	CHECK_INT(session_code(f.p.server), MUTLS_EHOOK);
	CHECK_CONTAINS(session_message(f.p.server), "RuntimeError: hook broke");
	fixture_free(&f);
}

TEST(request_anonymous_accepted_by_hook_despite_peers)
{
	fixture f;
	hook_state h = { MUTLS_HOOK_ACCEPT, 0, 9, 1, 0 };
	char buf[64];
	anonymous_setup(&f, NULL, PAYMENTS, &h);
	CHECK_INT(h.calls, 1);
	CHECK_INT(h.chain_seen, 0);
	CHECK_INT(h.reasons_seen, MUTLS_REASON_POLICY);
	CHECK_INT(f.p.client_rc, 0);
	CHECK_INT(f.p.server_rc, 0);
	CHECK(!mutls_session_verified(f.p.server)); /* nobody was verified */
	CHECK_INT(mutls_session_verify_reasons(f.p.server), 0);
	CHECK_CONTAINS(mutls_session_verify_message(f.p.server), "accepted by the verify hook");
	CHECK_INT(pair_transfer(f.p.client, f.p.server, "anonymous hello", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "anonymous hello");
	fixture_free(&f);
}

TEST(request_anonymous_allowed_without_peers_or_hook)
{
	fixture f;
	anonymous_setup(&f, NULL, NULL, NULL);
	CHECK_INT(f.p.server_rc, 0);
	CHECK_INT(f.p.client_rc, 0);
	CHECK(!mutls_session_verified(f.p.server));
	CHECK_CONTAINS(mutls_session_verify_message(f.p.server), "presented no certificate (allowed: peer_certificate=request)");
	fixture_free(&f);
}
/* ---- key logging only when asked ---------------------------------------- */

static int file_lines(const char *path)
{
	char line[512];
	int n = 0;
	FILE *fp = fopen(path, "r");
	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp))
		n++;
	fclose(fp);
	return n;
}

static void handshake_with(fixture *f, int keylog_env)
{
	pki_make(&f->pki);
	f->ccfg = config_with(f->pki.client_id, f->pki.ca);
	f->scfg = config_with(f->pki.server_id, f->pki.ca);
	if (keylog_env)
		CHECK_OK(mutls_config_set_keylog_env(f->ccfg, 1));
	pair_run(&f->p, f->ccfg, "orders.internal", f->scfg);
	CHECK_INT(f->p.client_rc, 0);
	CHECK_INT(f->p.server_rc, 0);
}

/* GnuTLS's own writer reads SSLKEYLOGFILE once per process: this case runs
 * in its own process (ctest), with the variable set before any handshake. */
TEST(sslkeylogfile_is_ignored_unless_keylog_env)
{
	fixture f;
	char dir[] = "/tmp/mutls-keylog-XXXXXX", path[256];
	struct stat st;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/env-keys.log", dir);
	CHECK_INT(setenv("SSLKEYLOGFILE", path, 1), 0);
	umask(022);
	handshake_with(&f, 0);
	fixture_free(&f);
	CHECK_INT(file_lines(path), -1); /* not even created */

	handshake_with(&f, 1);
	fixture_free(&f);
	CHECK(file_lines(path) >= 4);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	unlink(path);
	rmdir(dir);
	unsetenv("SSLKEYLOGFILE");
}

TEST(keylog_env_yields_to_an_explicit_keylog)
{
	mutls_config *cfg;
	char dir[] = "/tmp/mutls-keylog-XXXXXX", env[256], path[256];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(env, sizeof(env), "%s/env.log", dir);
	snprintf(path, sizeof(path), "%s/mine.log", dir);
	CHECK_INT(setenv("SSLKEYLOGFILE", env, 1), 0);
	CHECK_OK(mutls_config_new(&cfg));
	CHECK_OK(mutls_config_set_keylog_file(cfg, path));
	CHECK_OK(mutls_config_set_keylog_env(cfg, 1));
	CHECK_INT(access(env, F_OK), -1);
	mutls_config_unref(cfg);
	unlink(path);
	rmdir(dir);
	unsetenv("SSLKEYLOGFILE");
}

/* The descriptor flags of this process's open file `path` (-1: none). */
static int fd_flags_of(const char *path)
{
	char link[64], target[256];
	for (int fd = 0; fd < 1024; fd++) {
		ssize_t n;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (strcmp(target, path) == 0)
			return fcntl(fd, F_GETFD);
	}
	return -1;
}

TEST(keylog_file_is_private)
{
	fixture f;
	char dir[] = "/tmp/mutls-keylog-XXXXXX", path[256];
	struct stat st;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/keys.log", dir);
	umask(022);
	pki_make(&f.pki);
	f.ccfg = config_with(f.pki.client_id, f.pki.ca);
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	CHECK_OK(mutls_config_set_keylog_file(f.ccfg, path));
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	CHECK_INT(fd_flags_of(path) & FD_CLOEXEC, FD_CLOEXEC);
	pair_run(&f.p, f.ccfg, "orders.internal", f.scfg);
	CHECK_INT(f.p.client_rc, 0);
	CHECK(file_lines(path) >= 4);
	fixture_free(&f);
	unlink(path);
	rmdir(dir);
}

TEST(keylog_refuses_a_symlink)
{
	mutls_config *cfg;
	char dir[] = "/tmp/mutls-keylog-XXXXXX", target[256], link_path[256];
	const mutls_error *e;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	snprintf(link_path, sizeof(link_path), "%s/keys.log", dir);
	CHECK_INT(symlink(target, link_path), 0);
	CHECK_OK(mutls_config_new(&cfg));
	CHECK_INT(mutls_config_set_keylog_file(cfg, link_path), MUTLS_ECONFIG);
	e = mutls_error_last();
	CHECK_CONTAINS(mutls_error_message(e), "is a symbolic link");
	CHECK_CONTAINS(mutls_error_message(e), link_path);
	CHECK_INT(access(target, F_OK), -1); /* nothing created through it */
	/* the same through SSLKEYLOGFILE */
	CHECK_INT(setenv("SSLKEYLOGFILE", link_path, 1), 0);
	CHECK_INT(mutls_config_set_keylog_env(cfg, 1), MUTLS_ECONFIG);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "keylog_env: SSLKEYLOGFILE");
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "is a symbolic link");
	unsetenv("SSLKEYLOGFILE");
	mutls_config_unref(cfg);
	unlink(link_path);
	rmdir(dir);
}

/* ---- verified after a failed handshake ---------------------------------- */

/* Drops every handshake message of type `drop` from plaintext handshake
 * records (before ChangeCipherSpec) in buf; rewrites record lengths and
 * removes records left empty. Returns the new length. */
static size_t drop_handshake_message(unsigned char *buf, size_t len, unsigned drop, int *dropped)
{
	size_t in = 0, out = 0;
	int encrypted = 0;

	while (in + 5 <= len) {
		unsigned type = buf[in];
		size_t rlen = (size_t)buf[in + 3] << 8 | buf[in + 4];
		CHECK(in + 5 + rlen <= len);
		if (type == 20)
			encrypted = 1;
		if (type == 22 && !encrypted) {
			size_t body = in + 5, pos = body, kept = 0;
			unsigned char rec[16384 + 5];
			CHECK(rlen <= 16384);
			memcpy(rec, buf + in, 5);
			while (pos + 4 <= body + rlen) {
				size_t mlen = (size_t)buf[pos + 1] << 16 | (size_t)buf[pos + 2] << 8 | buf[pos + 3];
				CHECK(pos + 4 + mlen <= body + rlen);
				if (buf[pos] == drop)
					(*dropped)++;
				else {
					memcpy(rec + 5 + kept, buf + pos, 4 + mlen);
					kept += 4 + mlen;
				}
				pos += 4 + mlen;
			}
			if (kept) {
				rec[3] = (unsigned char)(kept >> 8);
				rec[4] = (unsigned char)kept;
				memcpy(buf + out, rec, 5 + kept);
				out += 5 + kept;
			}
		} else {
			memmove(buf + out, buf + in, 5 + rlen);
			out += 5 + rlen;
		}
		in += 5 + rlen;
	}
	CHECK_INT(in, len);
	return out;
}

TEST(verified_is_cleared_when_certificate_verify_is_dropped_tls12)
{
	fixture f;
	const char *v[] = { "1.2" };
	int dropped = 0, rc;

	pki_make(&f.pki);
	f.ccfg = config_with(f.pki.client_id, f.pki.ca);
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	CHECK_OK(mutls_config_set_versions(f.ccfg, v, 1));
	pair_new(&f.p, f.ccfg, "orders.internal", f.scfg);
	for (int round = 0; round < 16; round++) {
		const unsigned char *data;
		size_t len;
		unsigned char *copy;
		f.p.client_rc = mutls_session_handshake(f.p.client);
		CHECK_OK(mutls_session_data_to_send(&data, &len, f.p.client));
		copy = malloc(len ? len : 1);
		memcpy(copy, data, len);
		len = drop_handshake_message(copy, len, 15, &dropped);
		if (len)
			CHECK_OK(mutls_session_feed(f.p.server, copy, len));
		free(copy);
		rc = mutls_session_handshake(f.p.server);
		if (rc != MUTLS_EWANTREAD)
			break;
		pair_move(f.p.server, f.p.client);
	}
	CHECK_INT(dropped, 1);
	printf("\n    server: [%s] %s ", mutls_code_name(rc), session_message(f.p.server));
	CHECK_INT(rc, MUTLS_EPROTOCOL);
	CHECK(!mutls_session_verified(f.p.server));
	CHECK(mutls_session_verify_message(f.p.server) != NULL);
	CHECK(strstr(mutls_session_verify_message(f.p.server), "passed every check") == NULL);
	CHECK_CONTAINS(mutls_session_verify_message(f.p.server), "but the handshake failed");
	fixture_free(&f);
}

/* The same holds when the failure comes after the handshake. */
TEST(verified_is_cleared_when_the_session_fails)
{
	fixture f;
	size_t got = 0;
	char buf[64];
	static const unsigned char garbage[] = { 23, 3, 3, 0, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
		11, 12, 13, 14, 15, 16, 17, 18, 19, 20 };

	pki_make(&f.pki);
	f.ccfg = config_with(f.pki.client_id, f.pki.ca);
	f.scfg = config_with(f.pki.server_id, f.pki.ca);
	pair_run(&f.p, f.ccfg, "orders.internal", f.scfg);
	CHECK(mutls_session_verified(f.p.server));
	CHECK_OK(mutls_session_feed(f.p.server, garbage, sizeof(garbage)));
	CHECK_INT(mutls_session_recv(&got, f.p.server, buf, sizeof(buf)), MUTLS_EPROTOCOL);
	CHECK(!mutls_session_verified(f.p.server));
	fixture_free(&f);
}

/* The re-entry guard is the core session's (issue 16): a hook may read its
 * session but not drive it; the refusal names the call. */
static int reentering_hook(mutls_session *s, void *payload, char *reason, size_t cap)
{
	int *rcs = payload;
	size_t n = 0;
	unsigned char buf[8];
	rcs[0] = mutls_session_in_hook(s);
	rcs[1] = mutls_session_handshake(s);
	rcs[2] = mutls_session_recv(&n, s, buf, sizeof(buf));
	rcs[3] = mutls_session_feed(s, "x", 1);
	rcs[4] = mutls_session_close(s);
	snprintf(reason, cap, "%s", mutls_error_message(mutls_error_last()));
	rcs[5] = mutls_session_peer_chain_length(s) > 0; /* reading is allowed */
	return MUTLS_HOOK_ACCEPT;
}

TEST(hook_reentry_refused_by_the_core)
{
	test_pki pki;
	test_pair p;
	int rcs[6] = { 0 };
	mutls_config *ccfg, *scfg;

	pki_make(&pki);
	ccfg = config_with(pki.client_id, pki.ca);
	scfg = config_with(pki.server_id, pki.ca);
	CHECK_OK(mutls_config_set_verify_hook(scfg, reentering_hook, rcs, NULL));
	pair_new(&p, ccfg, "orders.internal", scfg);
	pair_handshake(&p);
	CHECK_INT(p.server_rc, 0);
	CHECK_INT(rcs[0], 1);
	CHECK_INT(rcs[1], MUTLS_EUSAGE);
	CHECK_INT(rcs[2], MUTLS_EUSAGE);
	CHECK_INT(rcs[3], MUTLS_EUSAGE);
	CHECK_INT(rcs[4], MUTLS_EUSAGE);
	CHECK_INT(rcs[5], 1);
	CHECK(!mutls_session_in_hook(p.server));
	CHECK_OK(mutls_session_check_reentry(p.server, "destroy"));
	pair_free(&p);
	mutls_config_unref(ccfg);
	mutls_config_unref(scfg);
	pki_free(&pki);
}
