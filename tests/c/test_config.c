/* Config: every bad input is a clear error naming the file or field; files,
 * directories, encrypted keys and password callbacks load; usage errors. */
#include "internal.h"
#include "pair.h"

#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64];

static const char *make_dir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mutls-cfg-XXXXXX");
	CHECK(mkdtemp(tmpdir) != NULL);
	return tmpdir;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	fputs(text, f);
	fclose(f);
}

static void remove_dir(const char *dir)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

static void expect_last(int rc, int code, const char *fragment)
{
	const mutls_error *e = mutls_error_last();
	CHECK_STR(mutls_code_name(rc), mutls_code_name(code));
	CHECK(e != NULL);
	CHECK_INT(mutls_error_code(e), code);
	CHECK_CONTAINS(mutls_error_message(e), fragment);
}

TEST(identity_from_files)
{
	test_pki pki;
	const char *dir = make_dir();
	char cert[128], key[128];
	mutls_config *cfg;
	pki_make(&pki);
	CHECK_OK(mutls_identity_write_to(pki.server_id, dir));
	snprintf(cert, sizeof(cert), "%s/chain.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	CHECK_OK(mutls_config_new(&cfg));
	CHECK_OK(mutls_config_set_identity(cfg, cert, key, NULL));
	CHECK(mutls_config_has_identity(cfg));
	mutls_config_unref(cfg);
	remove_dir(dir);
	pki_free(&pki);
}

TEST(missing_certificate_file_named)
{
	mutls_config *cfg;
	CHECK_OK(mutls_config_new(&cfg));
	expect_last(mutls_config_set_identity(cfg, "/nonexistent/orders.pem", "/nonexistent/key.pem", NULL),
		MUTLS_ECONFIG, "/nonexistent/orders.pem");
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "No such file");
	mutls_config_unref(cfg);
}

TEST(malformed_certificate_pem)
{
	test_pki pki;
	mutls_config *cfg;
	char broken[4096];
	pki_make(&pki);
	CHECK_OK(mutls_config_new(&cfg));
	/* a PEM block whose base64 is damaged */
	snprintf(broken, sizeof(broken), "%s", mutls_identity_cert_pem(pki.server_id));
	memcpy(strstr(broken, "\n") + 10, "!!!!", 4);
	expect_last(mutls_config_set_identity(cfg, broken, mutls_identity_key_pem(pki.server_id), NULL),
		MUTLS_ECONFIG, "certificate: not a readable certificate");
	/* a key where the certificate should be */
	expect_last(mutls_config_set_identity(cfg, mutls_identity_key_pem(pki.server_id),
		mutls_identity_key_pem(pki.server_id), NULL), MUTLS_ECONFIG, "no \"-----BEGIN CERTIFICATE-----\"");
	CHECK(!mutls_config_has_identity(cfg));
	mutls_config_unref(cfg);
	pki_free(&pki);
}

TEST(unreadable_key_file_named)
{
	test_pki pki;
	const char *dir = make_dir();
	char key[128];
	mutls_config *cfg;
	pki_make(&pki);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	write_text(key, "-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n");
	CHECK_OK(mutls_config_new(&cfg));
	expect_last(mutls_config_set_identity(cfg, mutls_identity_cert_pem(pki.server_id), key, NULL),
		MUTLS_ECONFIG, key);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "not a readable private key");
	mutls_config_unref(cfg);
	remove_dir(dir);
	pki_free(&pki);
}

TEST(key_does_not_match_certificate)
{
	test_pki pki;
	mutls_config *cfg;
	pki_make(&pki);
	CHECK_OK(mutls_config_new(&cfg));
	expect_last(mutls_config_set_identity(cfg, mutls_identity_cert_pem(pki.server_id),
		mutls_identity_key_pem(pki.client_id), NULL), MUTLS_ECONFIG,
		"the private key does not match the certificate CN=orders");
	mutls_config_unref(cfg);
	pki_free(&pki);
}

TEST(encrypted_key_right_and_wrong_password)
{
	test_pki pki;
	mutls_config *cfg;
	char *enc = NULL;
	pki_make(&pki);
	CHECK_OK(mutls_identity_encrypted_key_pem(&enc, pki.server_id, "s3cret"));
	CHECK_CONTAINS(enc, "ENCRYPTED PRIVATE KEY");
	CHECK_OK(mutls_config_new(&cfg));
	expect_last(mutls_config_set_identity(cfg, mutls_identity_chain_pem(pki.server_id), enc, "wrong"),
		MUTLS_ECONFIG, "wrong password for the encrypted private key");
	expect_last(mutls_config_set_identity(cfg, mutls_identity_chain_pem(pki.server_id), enc, NULL),
		MUTLS_ECONFIG, "the private key is encrypted and no password was given");
	CHECK_OK(mutls_config_set_identity(cfg, mutls_identity_chain_pem(pki.server_id), enc, "s3cret"));
	mutls_config_unref(cfg);
	mutls_free(enc);
	pki_free(&pki);
}

static int give_password(char *buf, size_t cap, const char *what, void *payload)
{
	int *calls = payload;
	(*calls)++;
	snprintf(buf, cap, "%s", *calls == 1 ? "s3cret" : "nope");
	return 0;
}

static int refuse_password(char *buf, size_t cap, const char *what, void *payload)
{
	return -1;
}

TEST(password_callback)
{
	test_pki pki;
	mutls_config *cfg;
	char *enc = NULL;
	int calls = 0;
	pki_make(&pki);
	CHECK_OK(mutls_identity_encrypted_key_pem(&enc, pki.client_id, "s3cret"));
	CHECK_OK(mutls_config_new(&cfg));
	CHECK_OK(mutls_config_set_password_callback(cfg, give_password, &calls));
	CHECK_OK(mutls_config_set_identity(cfg, mutls_identity_chain_pem(pki.client_id), enc, NULL));
	CHECK_INT(calls, 1);
	mutls_config_unref(cfg);
	CHECK_OK(mutls_config_new(&cfg));
	CHECK_OK(mutls_config_set_password_callback(cfg, refuse_password, NULL));
	expect_last(mutls_config_set_identity(cfg, mutls_identity_chain_pem(pki.client_id), enc, NULL),
		MUTLS_ECONFIG, "the password callback gave no password");
	mutls_config_unref(cfg);
	mutls_free(enc);
	pki_free(&pki);
}

TEST(trust_from_file_directory_and_system)
{
	test_pki pki;
	const char *dir = make_dir();
	char file[128];
	mutls_config *cfg;
	test_pair p;
	pki_make(&pki);
	snprintf(file, sizeof(file), "%s/ca.pem", dir);
	write_text(file, mutls_testca_cert_pem(pki.ca));
	/* trust as a file */
	cfg = config_with(pki.client_id, NULL);
	CHECK_OK(mutls_config_add_trust(cfg, file));
	{
		mutls_config *scfg = config_with(pki.server_id, NULL);
		CHECK_OK(mutls_config_add_trust(scfg, dir)); /* trust as a directory */
		pair_run(&p, cfg, "orders.internal", scfg);
		CHECK_INT(p.client_rc, 0);
		CHECK_INT(p.server_rc, 0);
		pair_free(&p);
		mutls_config_unref(scfg);
	}
	/* the system store loads (and does not know our test CA) */
	mutls_config_unref(cfg);
	if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0) {
		CHECK_OK(mutls_config_new(&cfg));
		CHECK_OK(mutls_config_add_trust(cfg, "system"));
		mutls_config_unref(cfg);
	}
	remove_dir(dir);
	pki_free(&pki);
}

TEST(bad_trust_and_crl_sources)
{
	test_pki pki;
	mutls_config *cfg;
	mutls_testca *other;
	char *crl = NULL;
	const char *dir = make_dir();
	pki_make(&pki);
	CHECK_OK(mutls_config_new(&cfg));
	expect_last(mutls_config_add_trust(cfg, "/nonexistent/ca.pem"), MUTLS_ECONFIG, "/nonexistent/ca.pem");
	expect_last(mutls_config_add_trust(cfg, dir), MUTLS_ECONFIG, "no PEM certificates in the directory");
	expect_last(mutls_config_add_trust(cfg, ""), MUTLS_ECONFIG, "trust: empty value");
	expect_last(mutls_config_add_trust(cfg, mutls_identity_key_pem(pki.client_id)), MUTLS_ECONFIG,
		"no \"-----BEGIN CERTIFICATE-----\"");
	/* a CRL needs its CA trusted first */
	CHECK_OK(mutls_testca_new(&other, NULL));
	CHECK_OK(mutls_testca_crl_pem(&crl, other));
	CHECK_OK(mutls_config_add_trust(cfg, mutls_testca_cert_pem(pki.ca)));
	expect_last(mutls_config_add_crl(cfg, crl), MUTLS_ECONFIG, "not signed by a trusted CA");
	expect_last(mutls_config_add_crl(cfg, mutls_testca_cert_pem(pki.ca)), MUTLS_ECONFIG,
		"no \"-----BEGIN X509 CRL-----\"");
	mutls_free(crl);
	mutls_testca_free(other);
	mutls_config_unref(cfg);
	remove_dir(dir);
	pki_free(&pki);
}

TEST(bad_versions_priority_alpn)
{
	mutls_config *cfg;
	const char *old[] = { "1.1" }, *ok[] = { "1.2", "1.3" }, *empty_alpn[] = { "" };
	CHECK_OK(mutls_config_new(&cfg));
	expect_last(mutls_config_set_versions(cfg, old, 1), MUTLS_ECONFIG, "\"1.1\" is not supported");
	expect_last(mutls_config_set_versions(cfg, ok, 0), MUTLS_ECONFIG, "versions: the list is empty");
	CHECK_OK(mutls_config_set_versions(cfg, ok, 2));
	expect_last(mutls_config_set_priority(cfg, "NORMAL:+BOGUS-THING"), MUTLS_ECONFIG, "BOGUS-THING");
	CHECK_OK(mutls_config_set_priority(cfg, "SECURE256:+SECURE128"));
	expect_last(mutls_config_set_alpn(cfg, empty_alpn, 1), MUTLS_ECONFIG, "alpn: protocol 1");
	expect_last(mutls_config_set_peer_certificate(cfg, (mutls_peer_mode)7), MUTLS_EUSAGE, "unknown mode");
	mutls_config_unref(cfg);
}

TEST(frozen_config_refuses_changes)
{
	test_pki pki;
	mutls_config *cfg;
	mutls_session *s;
	pki_make(&pki);
	cfg = config_with(pki.server_id, pki.ca);
	CHECK_OK(mutls_session_server(&s, cfg, -1));
	expect_last(mutls_config_add_trust(cfg, mutls_testca_cert_pem(pki.ca)), MUTLS_EUSAGE,
		"in use by a session and can no longer change");
	expect_last(mutls_config_add_peer_pattern(cfg, "cn:x"), MUTLS_EUSAGE, "peers:");
	mutls_session_free(s);
	mutls_config_unref(cfg);
	pki_free(&pki);
}

TEST(usage_errors)
{
	test_pki pki;
	mutls_config *ccfg, *empty;
	mutls_session *s;
	size_t n;
	char buf[8];
	const unsigned char *out;
	pki_make(&pki);
	ccfg = config_with(pki.client_id, pki.ca);
	CHECK_OK(mutls_config_new(&empty));
	expect_last(mutls_session_client(&s, ccfg, NULL, -1), MUTLS_EUSAGE, "server_hostname is required");
	expect_last(mutls_session_server(&s, empty, -1), MUTLS_EUSAGE, "the config has no identity");
	CHECK_OK(mutls_session_client(&s, ccfg, "orders.internal", -1));
	expect_last(mutls_session_send(&n, s, "x", 1), MUTLS_EUSAGE, "the handshake is not done");
	expect_last(mutls_session_recv(&n, s, buf, sizeof(buf)), MUTLS_EUSAGE, "the handshake is not done");
	expect_last(mutls_session_get_data((unsigned char **)&out, &n, s), MUTLS_EUSAGE, "the handshake is not done");
	expect_last(mutls_session_set_data(s, (const unsigned char *)"junk", 4), MUTLS_EUSAGE, "not usable session data");
	mutls_session_free(s);
	/* checking no name must be said explicitly */
	CHECK_OK(mutls_config_set_check_hostname(empty, 0));
	CHECK_OK(mutls_session_client(&s, empty, NULL, -1));
	mutls_session_free(s);
	/* socket-mode sessions have no memory buffers */
	CHECK_OK(mutls_session_client(&s, ccfg, "orders.internal", 0));
	expect_last(mutls_session_feed(s, "x", 1), MUTLS_EUSAGE, "socket mode");
	expect_last(mutls_session_data_to_send(&out, &n, s), MUTLS_EUSAGE, "socket mode");
	mutls_session_free(s);
	mutls_config_unref(ccfg);
	mutls_config_unref(empty);
	pki_free(&pki);
}

TEST(every_code_and_reason_has_a_name)
{
	static const char *const codes[] = { "ok", "want-read", "want-write", "verify-failed",
		"peer-rejected", "no-certificate", "protocol", "closed", "timeout", "config",
		"usage", "hook", "out-of-memory" };
	static const char *const reasons[] = { "expired", "not-yet-valid", "unknown-issuer",
		"name-mismatch", "revoked", "bad-purpose", "insecure-algorithm", "signer-not-ca",
		"policy", "hook", "name-constraints", "path-length", "unknown-critical-extension",
		"nonconforming" };
	for (int i = 0; i < 13; i++)
		CHECK_STR(mutls_code_name(-i), codes[i]);
	for (unsigned i = 0; i < MUTLS_REASON_COUNT; i++)
		CHECK_STR(mutls_reason_name(1u << i), reasons[i]);
	CHECK_STR(mutls_alert_name(116), "certificate_required");
	CHECK_STR(mutls_alert_name(42), "bad_certificate");
	CHECK(mutls_alert_name(-1) == NULL);
}

/* The base64 body of a PEM block, lines joined. */
static void pem_body(char *out, size_t cap, const char *pem)
{
	const char *p = strchr(pem, '\n') + 1, *end = strstr(p, "-----END");
	size_t n = 0;
	for (; p < end && n + 1 < cap; p++)
		if (*p != '\n')
			out[n++] = *p;
	out[n] = '\0';
}

/* No 16-character run of body (a key's base64) and not the password. */
static void expect_no_secret(const char *message, const char *body, const char *password)
{
	char run[17];
	for (size_t i = 0; i + 16 <= strlen(body); i++) {
		memcpy(run, body + i, 16);
		run[16] = '\0';
		if (strstr(message, run))
			testlib_fail(__FILE__, __LINE__, "message \"%s\" holds key text \"%s\"", message, run);
	}
	if (password && strstr(message, password))
		testlib_fail(__FILE__, __LINE__, "message \"%s\" holds the password", message);
}

/* A failing set_identity: code config, names the option and what is
 * wrong, and echoes no key text and no password. */
static void identity_refused(mutls_config *cfg, const char *cert, const char *key,
	const char *password, const char *body, const char *expect)
{
	int rc = mutls_config_set_identity(cfg, cert, key, password);
	const char *msg = mutls_error_message(mutls_error_last());
	CHECK_INT(rc, MUTLS_ECONFIG);
	CHECK_CONTAINS(msg, expect);
	expect_no_secret(msg, body, password);
}

TEST(key_text_never_in_messages)
{
	test_pki pki;
	mutls_config *cfg;
	const char *key, *cert;
	char body[4096], text[4096], *damaged, *enc = NULL;
	pki_make(&pki);
	key = mutls_identity_key_pem(pki.server_id);
	cert = mutls_identity_cert_pem(pki.server_id);
	pem_body(body, sizeof(body), key);
	CHECK_OK(mutls_config_new(&cfg));

	/* a damaged header: no "-----BEGIN", so once taken for a path */
	damaged = malloc(strlen(key) + 1);
	CHECK(damaged != NULL);
	strcpy(damaged, key);
	damaged[0] = '*';
	damaged[4] = '*';
	identity_refused(cfg, cert, damaged, NULL, body,
		"private_key: not PEM text and not a readable file");
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "the value is not shown");
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "\"-----BEGIN\" line looks damaged");
	/* the bare base64 body, as lines and as one line */
	snprintf(text, sizeof(text), "%s", strchr(key, '\n') + 1);
	*strstr(text, "-----END") = '\0';
	identity_refused(cfg, cert, text, NULL, body, "private_key: not PEM text and not a readable file");
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "looks like base64");
	identity_refused(cfg, cert, body, NULL, body, "private_key: not PEM text and not a readable file");
	/* the key where the certificate belongs: as PEM, as a bare body */
	identity_refused(cfg, key, key, NULL, body, "certificate: no \"-----BEGIN CERTIFICATE-----\"");
	identity_refused(cfg, body, key, NULL, body, "certificate: not PEM text and not a readable file");
	identity_refused(cfg, damaged, key, NULL, body, "certificate: not PEM text and not a readable file");
	/* trust and crl given key text */
	expect_last(mutls_config_add_trust(cfg, body), MUTLS_ECONFIG, "trust: not PEM text and not a readable file");
	expect_no_secret(mutls_error_message(mutls_error_last()), body, NULL);
	expect_last(mutls_config_add_crl(cfg, damaged), MUTLS_ECONFIG, "crl: not PEM text and not a readable file");
	expect_no_secret(mutls_error_message(mutls_error_last()), body, NULL);
	/* a wrong password, as a string and through the callback's label */
	CHECK_OK(mutls_identity_encrypted_key_pem(&enc, pki.server_id, "Tr0ub4dor&3-right"));
	pem_body(text, sizeof(text), enc);
	identity_refused(cfg, cert, enc, "Tr0ub4dor&3-wrong", text,
		"private_key: wrong password for the encrypted private key");
	CHECK(!mutls_config_has_identity(cfg));
	mutls_free(enc);
	free(damaged);
	mutls_config_unref(cfg);
	pki_free(&pki);
}

TEST(paths_are_named_when_they_read_as_paths)
{
	mutls_config *cfg;
	const char *dir = make_dir();
	char key[128];
	CHECK_OK(mutls_config_new(&cfg));
	/* a missing key file in a directory that exists: named */
	snprintf(key, sizeof(key), "%s/missing-key.pem", dir);
	expect_last(mutls_config_set_identity(cfg, "-----BEGIN CERTIFICATE-----", key, NULL),
		MUTLS_ECONFIG, key);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "private_key");
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "cannot read file: No such file");
	/* a private_key value whose directory does not exist is not shown */
	expect_last(mutls_config_set_identity(cfg, "-----BEGIN CERTIFICATE-----", "/nonexistent/key.pem", NULL),
		MUTLS_ECONFIG, "private_key: not PEM text and not a readable file (No such file or directory; the value is not shown)");
	/* other options name any value that reads as a path */
	expect_last(mutls_config_add_trust(cfg, "/nonexistent/ca.pem"), MUTLS_ECONFIG,
		"trust /nonexistent/ca.pem: cannot read file: No such file");
	/* two lines, or a PATH_MAX-long value, are not paths */
	expect_last(mutls_config_add_trust(cfg, "ca.pem\nsecond line"), MUTLS_ECONFIG, "the value is not shown");
	mutls_config_unref(cfg);
	remove_dir(dir);
}

TEST(certificate_without_private_key)
{
	test_pki pki;
	mutls_config *cfg;
	char *both;
	const char *chain, *key;
	pki_make(&pki);
	chain = mutls_identity_chain_pem(pki.server_id);
	key = mutls_identity_key_pem(pki.server_id);
	CHECK_OK(mutls_config_new(&cfg));
	expect_last(mutls_config_set_identity(cfg, chain, NULL, NULL), MUTLS_ECONFIG,
		"private_key: no private key was given for certificate CN=orders");
	CHECK(!mutls_config_has_identity(cfg));
	/* the key in the certificate's own PEM needs no private_key */
	both = malloc(strlen(chain) + strlen(key) + 1);
	CHECK(both != NULL);
	strcpy(both, chain);
	strcat(both, key);
	CHECK_OK(mutls_config_set_identity(cfg, both, NULL, NULL));
	CHECK(mutls_config_has_identity(cfg));
	free(both);
	mutls_config_unref(cfg);
	pki_free(&pki);
}

TEST(no_trust_anchors_said_at_handshake)
{
	test_pki pki;
	mutls_config *client, *server;
	test_pair p;
	pki_make(&pki);
	/* the client checks the server's name, but was given no trust */
	client = config_with(pki.client_id, NULL);
	server = config_with(pki.server_id, pki.ca);
	pair_run(&p, client, "orders.internal", server);
	CHECK_INT(session_code(p.client), MUTLS_EVERIFY);
	CHECK(mutls_error_reasons(mutls_session_error(p.client)) == MUTLS_REASON_UNKNOWN_ISSUER);
	CHECK_CONTAINS(session_message(p.client),
		"server certificate CN=orders could not be checked: no trust anchors were configured");
	pair_free(&p);
	mutls_config_unref(client);
	mutls_config_unref(server);
	/* the server requires client certificates, and was given no trust */
	client = config_with(pki.client_id, pki.ca);
	server = config_with(pki.server_id, NULL);
	pair_run(&p, client, "orders.internal", server);
	CHECK_INT(session_code(p.server), MUTLS_EVERIFY);
	CHECK_CONTAINS(session_message(p.server), "no trust anchors were configured");
	pair_free(&p);
	mutls_config_unref(client);
	mutls_config_unref(server);
	pki_free(&pki);
}

TEST(key_files_are_bounded_and_read_whole)
{
	test_pki pki;
	mutls_config *cfg;
	const char *dir = make_dir();
	char path[128], *data = NULL;
	size_t len = 0;
	FILE *f;
	pki_make(&pki);
	/* a sparse file one byte over the bound: refused before any read */
	snprintf(path, sizeof(path), "%s/huge.pem", dir);
	CHECK((f = fopen(path, "w")) != NULL);
	CHECK(ftruncate(fileno(f), (off_t)MUTLS__FILE_MAX + 1) == 0);
	fclose(f);
	CHECK_OK(mutls_config_new(&cfg));
	expect_last(mutls_config_set_identity(cfg, mutls_identity_cert_pem(pki.server_id), path, NULL),
		MUTLS_ECONFIG, "file is larger than 64 MiB");
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "private_key");
	mutls_config_unref(cfg);
	/* a file that reports no size (/proc) is read to its end */
	CHECK_OK(mutls__read_file(&data, &len, "/proc/self/status", "test", 0));
	CHECK(len > 100 && strlen(data) == len);
	CHECK_CONTAINS(data, "Name:");
	mutls__wipe_free(data, len);
	remove_dir(dir);
	pki_free(&pki);
}

/* The name tables both bindings use (issue 16): one spelling, one error. */
TEST(peer_mode_and_purpose_names)
{
	static const char *const modes[] = { "require", "request", "none", "observe" };
	static const char *const purposes[] = { "any", "server", "client", "both", "none" };
	mutls_peer_mode m;
	mutls_purpose p;

	for (int i = 0; i < 4; i++) {
		CHECK_OK(mutls_peer_mode_from_name(&m, modes[i]));
		CHECK_INT(m, i);
		CHECK_STR(mutls_peer_mode_name(m), modes[i]);
	}
	CHECK_INT(mutls_peer_mode_from_name(&m, "always"), MUTLS_ECONFIG);
	CHECK_STR(mutls_error_message(mutls_error_last()),
		"peer_certificate: expected \"require\", \"request\", \"none\" or \"observe\", not \"always\"");
	CHECK_STR(mutls_peer_mode_name((mutls_peer_mode)9), "?");
	for (int i = 0; i < 5; i++) {
		CHECK_OK(mutls_purpose_from_name(&p, purposes[i]));
		CHECK_INT(p, i);
		CHECK_STR(mutls_purpose_name(p), purposes[i]);
	}
	CHECK_INT(mutls_purpose_from_name(&p, "sideways"), MUTLS_EUSAGE);
	CHECK_CONTAINS(mutls_error_message(mutls_error_last()), "not \"sideways\"");
	CHECK_STR(mutls_purpose_name((mutls_purpose)9), "?");
}
