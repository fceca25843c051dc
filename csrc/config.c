/* Config: identity, trust, peer policy, hooks, versions. Built by setters,
 * frozen by its first session, then shared read-only. */
#include "config.h"
#include "verify.h"
#include "chain_cache.h"
#include "session_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_PRIORITY "NORMAL"
#define DEFAULT_VERSIONS ":-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
/* Left out of the default: GnuTLS 3.7.9 with nettle 3.8.1 accepts an Ed448
 * signature with bits of its last byte flipped (docs/hardening.md). */
#define DEFAULT_EXCLUSIONS ":-SIGN-EDDSA-ED448"
/* Trust anchors are added for TLS use: their names make the list the
 * CertificateRequest advertises (send_ca_names turns it off per session). */
#define TRUST_FLAGS GNUTLS_TL_USE_IN_TLS

int mutls_config_new(mutls_config **out)
{
	mutls_config *cfg;
	int rc;

	if (!out)
		return mutls__error(MUTLS_EUSAGE, "mutls_config_new: out is NULL");
	*out = NULL;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	cfg->refcount = 1;
	cfg->peer_mode = MUTLS_PEER_REQUIRE;
	cfg->check_hostname = 1;
	cfg->tickets = 1;
	cfg->session_cache_entries = MUTLS_SESSION_CACHE_DEFAULT;
	cfg->send_ca_names = 1;
	cfg->handshake_timeout_ms = MUTLS_DEFAULT_HANDSHAKE_TIMEOUT_MS;
	cfg->max_chain_depth = -1;
	pthread_mutex_init(&cfg->lock, NULL);
	pthread_mutex_init(&cfg->keylog_lock, NULL);
	pthread_mutex_init(&cfg->chains_lock, NULL);

	if ((rc = gnutls_certificate_allocate_credentials(&cfg->cred)) < 0 ||
	    (rc = gnutls_x509_trust_list_init(&cfg->tlist, 0)) < 0) {
		mutls_config_unref(cfg);
		return mutls__error_gnutls(MUTLS_ENOMEM, rc, "cannot allocate credentials");
	}
	/* Verification runs in one place of our own (verify.c), for every role. */
	gnutls_certificate_set_verify_function(cfg->cred, mutls__session_verify_callback);
	*out = cfg;
	return 0;
}

mutls_config *mutls_config_ref(mutls_config *cfg)
{
	if (cfg)
		__atomic_add_fetch(&cfg->refcount, 1, __ATOMIC_RELAXED);
	return cfg;
}

static void free_patterns(mutls_config *cfg)
{
	for (size_t i = 0; i < cfg->pattern_count; i++)
		free(cfg->patterns[i].text);
	free(cfg->patterns);
}

void mutls_config_unref(mutls_config *cfg)
{
	if (!cfg || __atomic_sub_fetch(&cfg->refcount, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	if (cfg->verify_free)
		cfg->verify_free(cfg->verify_payload);
	if (cfg->trace_free)
		cfg->trace_free(cfg->trace_payload);
	if (cfg->clock_free)
		cfg->clock_free(cfg->clock_payload);
	if (cfg->keylog_free)
		cfg->keylog_free(cfg->keylog_payload);
	if (cfg->keylog_file)
		fclose(cfg->keylog_file);
	if (cfg->priority)
		gnutls_priority_deinit(cfg->priority);
	/* Once frozen, the credentials own the trust list. */
	if (!cfg->frozen && cfg->tlist)
		gnutls_x509_trust_list_deinit(cfg->tlist, 1);
	if (cfg->cred)
		gnutls_certificate_free_credentials(cfg->cred);
	if (cfg->ticket_key.data) {
		gnutls_memset(cfg->ticket_key.data, 0, cfg->ticket_key.size);
		gnutls_free(cfg->ticket_key.data);
	}
	mutls_x509_list_free(cfg->own_chain, cfg->own_chain_len);
	for (size_t i = 0; i < cfg->alpn_count; i++)
		free(cfg->alpn[i].data);
	free(cfg->alpn);
	free_patterns(cfg);
	free(cfg->priority_text);
	free(cfg->versions_text);
	pthread_mutex_destroy(&cfg->lock);
	pthread_mutex_destroy(&cfg->keylog_lock);
	mutls__chain_cache_clear(cfg);
	mutls__crl_issuers_free(cfg);
	pthread_mutex_destroy(&cfg->chains_lock);
	mutls__session_cache_free(cfg->session_cache);
	free(cfg);
}

static int build_priority(gnutls_priority_t *out, const mutls_config *cfg)
{
	const char *base = cfg->priority_text ? cfg->priority_text : DEFAULT_PRIORITY;
	const char *versions = cfg->versions_text ? cfg->versions_text :
		(cfg->priority_text ? "" : DEFAULT_VERSIONS);
	/* an explicit priority string is taken as given */
	const char *exclusions = cfg->priority_text ? "" : DEFAULT_EXCLUSIONS;
	const char *err_pos = NULL;
	size_t len = strlen(base) + strlen(versions) + strlen(exclusions) + 1;
	char *text = malloc(len);
	int rc;

	if (!text)
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	snprintf(text, len, "%s%s%s", base, versions, exclusions);
	rc = gnutls_priority_init(out, text, &err_pos);
	if (rc < 0) {
		rc = mutls__error_gnutls(MUTLS_ECONFIG, rc,
			"priority \"%s\" is invalid at \"%s\"", text, err_pos ? err_pos : "");
		free(text);
		return rc;
	}
	free(text);
	return 0;
}

int mutls_config_freeze(mutls_config *cfg)
{
	int rc = 0;

	if (!cfg)
		return mutls__error(MUTLS_EUSAGE, "mutls_config_freeze: cfg is NULL");
	pthread_mutex_lock(&cfg->lock);
	if (cfg->frozen)
		goto done;
	if ((rc = build_priority(&cfg->priority, cfg)) < 0)
		goto done;
	if (cfg->tickets) {
		rc = gnutls_session_ticket_key_generate(&cfg->ticket_key);
		if (rc < 0) {
			rc = mutls__error_gnutls(MUTLS_ENOMEM, rc, "cannot make a session ticket key");
			goto done;
		}
	}
	if (cfg->session_cache_entries &&
	    !(cfg->session_cache = mutls__session_cache_new(cfg->session_cache_entries))) {
		rc = mutls__error(MUTLS_ENOMEM, "out of memory for the session cache");
		goto done;
	}
	/* trust anchors and CRLs no longer change: whether a trusted
	 * intermediate is revoked is worked out once (crl_checks.c) */
	if (cfg->crl_fact_count && (rc = mutls__crl_anchor_facts(cfg)) < 0)
		goto done;
	/* The credentials take the trust list; we keep a borrowed pointer. */
	gnutls_certificate_set_trust_list(cfg->cred, cfg->tlist, 0);
	cfg->frozen = 1;
done:
	pthread_mutex_unlock(&cfg->lock);
	return rc;
}

static int check_mutable(const mutls_config *cfg, const char *what)
{
	if (!cfg)
		return mutls__error(MUTLS_EUSAGE, "%s: config is NULL", what);
	if (cfg->frozen)
		return mutls__error(MUTLS_EUSAGE,
			"%s: the config is in use by a session and can no longer change", what);
	return 0;
}

/* "PEM text or path" in memory. A file's bytes are owned by src and wiped
 * on release (a certificate file may hold the key too). label names the
 * source in messages: the option for text, the path for a file read. */

int mutls_config_set_password_callback(mutls_config *cfg, mutls_password_cb cb, void *payload)
{
	MUTLS_TRY(check_mutable(cfg, "password callback"));
	cfg->password_cb = cb;
	cfg->password_payload = payload;
	return 0;
}

static int keys_match(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key)
{
	unsigned char a[64], b[64];
	size_t alen = sizeof(a), blen = sizeof(b);

	if (gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, a, &alen) < 0 ||
	    gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, b, &blen) < 0)
		return 0;
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* "CN=orders" (or the whole subject when it has no CN) for messages. */
static void leaf_name(char *out, size_t cap, gnutls_x509_crt_t crt)
{
	char name[256] = "";
	size_t len = sizeof(name);

	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, name, &len) == 0 &&
	    name[0]) {
		snprintf(out, cap, "CN=%s", name);
		return;
	}
	len = sizeof(name);
	if (gnutls_x509_crt_get_dn(crt, name, &len) == 0 && name[0])
		snprintf(out, cap, "\"%s\"", name);
	else
		snprintf(out, cap, "CN=(none)");
}

/* Installs chain + key into the credentials and keeps the chain. */
static int install_identity(mutls_config *cfg, gnutls_x509_crt_t *crts, size_t n,
	gnutls_x509_privkey_t key, const char *cert_label, const char *key_label)
{
	int rc;

	if (cfg->own_chain_len)
		return mutls__error(MUTLS_EUSAGE, "identity: the config already has one");
	if (n == 0)
		return mutls__error(MUTLS_ECONFIG, "%s: no certificate found", cert_label);
	if (!keys_match(crts[0], key)) {
		char name[256];
		leaf_name(name, sizeof(name), crts[0]);
		return mutls__error(MUTLS_ECONFIG,
			"%s: the private key does not match the certificate %s in %s",
			key_label, name, cert_label);
	}
	rc = gnutls_certificate_set_x509_key(cfg->cred, crts, (unsigned)n, key);
	if (rc < 0)
		return mutls__error_gnutls(MUTLS_ECONFIG, rc, "%s: cannot use the identity", cert_label);

	cfg->own_chain = calloc(n, sizeof(*cfg->own_chain));
	if (!cfg->own_chain)
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		gnutls_datum_t der = { NULL, 0 };
		rc = gnutls_x509_crt_export2(crts[i], GNUTLS_X509_FMT_DER, &der);
		if (rc < 0 || mutls__x509_from_datum(&cfg->own_chain[i], &der) < 0) {
			gnutls_free(der.data);
			mutls_x509_list_free(cfg->own_chain, n);
			cfg->own_chain = NULL;
			return rc < 0 ? mutls__error_gnutls(MUTLS_ECONFIG, rc, "%s: cannot export", cert_label) : MUTLS_ECONFIG;
		}
		gnutls_free(der.data);
	}
	cfg->own_chain_len = n;
	return 0;
}

static int import_chain(gnutls_x509_crt_t **crts, unsigned *ncrts, const struct mutls__source *c)
{
	int rc;

	if (mutls__is_pem((const char *)c->data.data)) {
		if (!strstr((const char *)c->data.data, "-----BEGIN CERTIFICATE-----"))
			return mutls__error(MUTLS_ECONFIG,
				"%s: no \"-----BEGIN CERTIFICATE-----\" block found", c->label);
		rc = gnutls_x509_crt_list_import2(crts, ncrts, &c->data, GNUTLS_X509_FMT_PEM, 0);
	} else {
		rc = gnutls_x509_crt_list_import2(crts, ncrts, &c->data, GNUTLS_X509_FMT_DER, 0);
	}
	if (rc < 0)
		return mutls__error_gnutls(MUTLS_ECONFIG, rc, "%s: not a readable certificate", c->label);
	if (*ncrts == 0)
		return mutls__error(MUTLS_ECONFIG, "%s: no certificate found", c->label);
	return 0;
}

/* private_key NULL: the key must be in the certificate's own PEM. */
static int key_in_certificate(struct mutls__source *k, const struct mutls__source *c,
	gnutls_x509_crt_t leaf)
{
	char name[256];

	if (mutls__is_pem((const char *)c->data.data) &&
	    strstr((const char *)c->data.data, "PRIVATE KEY-----")) {
		*k = *c;
		k->owned = NULL; /* still c's */
		k->owned_len = 0;
		return 0;
	}
	leaf_name(name, sizeof(name), leaf);
	return mutls__error(MUTLS_ECONFIG,
		"private_key: no private key was given for certificate %s "
		"(give private_key, or put the key in the certificate's PEM)", name);
}

int mutls_config_set_identity(mutls_config *cfg, const char *certificate,
	const char *private_key, const char *password)
{
	struct mutls__source c, k;
	gnutls_x509_crt_t *crts = NULL;
	unsigned ncrts = 0;
	gnutls_x509_privkey_t key = NULL;
	int rc;

	MUTLS_TRY(check_mutable(cfg, "identity"));
	memset(&k, 0, sizeof(k));
	if ((rc = mutls__source_load(&c, certificate, "certificate", 0)) < 0)
		return rc;
	if (private_key && (rc = mutls__source_load(&k, private_key, "private_key", 1)) < 0)
		goto out;
	if ((rc = import_chain(&crts, &ncrts, &c)) < 0)
		goto out;
	if (!private_key && (rc = key_in_certificate(&k, &c, crts[0])) < 0)
		goto out;
	if ((rc = gnutls_x509_privkey_init(&key)) < 0) {
		rc = mutls__error_gnutls(MUTLS_ENOMEM, rc, "out of memory");
		goto out;
	}
	if ((rc = mutls__key_import(key, &k.data, k.label, password, cfg->password_cb, cfg->password_payload)) < 0)
		goto out;
	rc = install_identity(cfg, crts, ncrts, key, c.label, k.label);
out:
	for (unsigned i = 0; i < ncrts; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	if (key)
		gnutls_x509_privkey_deinit(key);
	mutls__source_release(&k);
	mutls__source_release(&c);
	return rc;
}

int mutls_config_set_identity_object(mutls_config *cfg, const mutls_identity *id)
{
	gnutls_x509_crt_t *crts;
	int rc;

	MUTLS_TRY(check_mutable(cfg, "identity"));
	if (!id)
		return mutls__error(MUTLS_EUSAGE, "identity: NULL identity");
	crts = calloc(id->chain_len ? id->chain_len : 1, sizeof(*crts));
	if (!crts)
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	for (size_t i = 0; i < id->chain_len; i++)
		crts[i] = id->chain[i]->crt;
	rc = install_identity(cfg, crts, id->chain_len, id->key, "identity", "identity key");
	free(crts);
	return rc;
}

int mutls_config_add_trust(mutls_config *cfg, const char *source)
{
	struct stat st;
	struct mutls__source src;
	int pem, rc;

	MUTLS_TRY(check_mutable(cfg, "trust"));
	if (!source || !*source)
		return mutls__error(MUTLS_ECONFIG, "trust: empty value");
	if (strcmp(source, "system") == 0) {
		rc = gnutls_x509_trust_list_add_system_trust(cfg->tlist, TRUST_FLAGS, 0);
		if (rc < 0)
			return mutls__error_gnutls(MUTLS_ECONFIG, rc, "trust \"system\": cannot load the system trust store");
		if (rc == 0)
			return mutls__error(MUTLS_ECONFIG, "trust \"system\": the system trust store has no certificates");
		cfg->trust_count += rc;
		return 0;
	}
	if (!mutls__is_pem(source) && stat(source, &st) == 0 && S_ISDIR(st.st_mode)) {
		rc = gnutls_x509_trust_list_add_trust_dir(cfg->tlist, source, NULL,
			GNUTLS_X509_FMT_PEM, TRUST_FLAGS, 0);
		if (rc < 0)
			return mutls__error_gnutls(MUTLS_ECONFIG, rc, "trust %s: cannot read the directory", source);
		if (rc == 0)
			return mutls__error(MUTLS_ECONFIG, "trust %s: no PEM certificates in the directory", source);
		cfg->trust_count += rc;
		return 0;
	}
	if ((rc = mutls__source_load(&src, source, "trust", 0)) < 0)
		return rc;
	pem = mutls__is_pem((const char *)src.data.data);
	if (pem && !strstr((const char *)src.data.data, "-----BEGIN CERTIFICATE-----") &&
	    !strstr((const char *)src.data.data, "-----BEGIN X509 CERTIFICATE-----")) {
		rc = mutls__error(MUTLS_ECONFIG, "%s: no \"-----BEGIN CERTIFICATE-----\" block found", src.label);
		mutls__source_release(&src);
		return rc;
	}
	rc = gnutls_x509_trust_list_add_trust_mem(cfg->tlist, &src.data, NULL,
		pem ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER, TRUST_FLAGS, 0);
	if (rc < 0)
		rc = mutls__error_gnutls(MUTLS_ECONFIG, rc, "%s: not a readable certificate", src.label);
	else if (rc == 0)
		rc = mutls__error(MUTLS_ECONFIG, "%s: no certificate found", src.label);
	mutls__source_release(&src);
	if (rc < 0)
		return rc;
	cfg->trust_count += rc;
	return 0;
}

int mutls_config_add_trust_x509(mutls_config *cfg, const mutls_x509 *ca)
{
	int rc;

	MUTLS_TRY(check_mutable(cfg, "trust"));
	if (!ca)
		return mutls__error(MUTLS_EUSAGE, "trust: NULL certificate");
	rc = gnutls_x509_trust_list_add_trust_mem(cfg->tlist, &ca->der, NULL, GNUTLS_X509_FMT_DER, TRUST_FLAGS, 0);
	if (rc <= 0)
		return mutls__error_gnutls(MUTLS_ECONFIG, rc, "trust: cannot add %s", ca->label);
	cfg->trust_count += rc;
	return 0;
}

int mutls_config_add_crl(mutls_config *cfg, const char *source)
{
	struct mutls__source src;
	char why[800];
	unsigned count;
	int pem, rc, problems;

	MUTLS_TRY(check_mutable(cfg, "crl"));
	if ((rc = mutls__source_load(&src, source, "crl", 0)) < 0)
		return rc;
	pem = mutls__is_pem((const char *)src.data.data);
	if (pem && !strstr((const char *)src.data.data, "-----BEGIN X509 CRL-----")) {
		rc = mutls__error(MUTLS_ECONFIG, "%s: no \"-----BEGIN X509 CRL-----\" block found", src.label);
		mutls__source_release(&src);
		return rc;
	}
	/* mutls__crl_inspect checks every CRL of the source first (trusted
	 * issuer, a CA with cRLSign, signature, dates unless a verification
	 * clock checks them when verifying, a complete and direct CRL): one
	 * that cannot be used refuses the whole source, as a CRL dropped
	 * silently would leave its CA's revocations unchecked. */
	problems = mutls__crl_inspect(why, sizeof(why), &count, cfg, &src.data, pem);
	if (problems) {
		rc = mutls__error(MUTLS_ECONFIG, "%s: %s%s", src.label, why,
			count > 1 ? " (none of this source's CRLs was added)" : "");
		mutls__source_release(&src);
		return rc;
	}
	/* Without a verification clock GnuTLS's own check (GNUTLS_TL_VERIFY_CRL)
	 * stays as a second one; with one it would drop a CRL outside its dates
	 * now (crl_checks.c checks them at the clock's time). */
	rc = gnutls_x509_trust_list_add_trust_mem(cfg->tlist, NULL, &src.data,
		pem ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER,
		cfg->verify_time_set || cfg->clock_fn ? 0 : GNUTLS_TL_VERIFY_CRL, 0);
	if (rc < 0)
		rc = mutls__error_gnutls(MUTLS_ECONFIG, rc, "%s: not a readable CRL", src.label);
	else if (rc == 0)
		rc = mutls__error(MUTLS_ECONFIG, "%s: the CRL is not signed by a trusted CA (add its "
			"CA with trust first)", src.label);
	else if ((unsigned)rc < count)
		/* not seen: mutls__crl_inspect's checks include GnuTLS's */
		rc = mutls__error(MUTLS_ECONFIG, "%s: GnuTLS's own check refused %u of the %u CRLs in "
			"this source (the other %d are in use)", src.label, count - (unsigned)rc, count, rc);
	mutls__source_release(&src);
	if (rc < 0)
		return rc;
	cfg->crl_count += rc;
	return 0;
}

int mutls_config_set_peer_certificate(mutls_config *cfg, mutls_peer_mode mode)
{
	MUTLS_TRY(check_mutable(cfg, "peer_certificate"));
	if (mode != MUTLS_PEER_REQUIRE && mode != MUTLS_PEER_REQUEST && mode != MUTLS_PEER_NONE &&
	    mode != MUTLS_PEER_OBSERVE)
		return mutls__error(MUTLS_EUSAGE, "peer_certificate: unknown mode %d", (int)mode);
	cfg->peer_mode = mode;
	return 0;
}

static const char *const peer_mode_names[] = { "require", "request", "none", "observe" };

const char *mutls_peer_mode_name(mutls_peer_mode mode)
{
	return mode >= MUTLS_PEER_REQUIRE && mode <= MUTLS_PEER_OBSERVE ? peer_mode_names[mode] : "?";
}

int mutls_peer_mode_from_name(mutls_peer_mode *out, const char *name)
{
	if (!out || !name)
		return mutls__error(MUTLS_EUSAGE, "mutls_peer_mode_from_name: NULL argument");
	for (int m = MUTLS_PEER_REQUIRE; m <= MUTLS_PEER_OBSERVE; m++) {
		if (strcmp(name, peer_mode_names[m]) == 0) {
			*out = (mutls_peer_mode)m;
			return 0;
		}
	}
	return mutls__error(MUTLS_ECONFIG,
		"peer_certificate: expected \"require\", \"request\", \"none\" or \"observe\", not \"%.40s\"", name);
}

int mutls_config_set_check_hostname(mutls_config *cfg, int enabled)
{
	MUTLS_TRY(check_mutable(cfg, "check_hostname"));
	cfg->check_hostname = enabled ? 1 : 0;
	return 0;
}

int mutls_config_add_peer_pattern(mutls_config *cfg, const char *pattern)
{
	mutls_pattern parsed, *grown;
	int rc;

	MUTLS_TRY(check_mutable(cfg, "peers"));
	if ((rc = mutls__pattern_parse(&parsed, pattern)) < 0)
		return rc;
	grown = realloc(cfg->patterns, (cfg->pattern_count + 1) * sizeof(*grown));
	if (!grown) {
		free(parsed.text);
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	}
	cfg->patterns = grown;
	cfg->patterns[cfg->pattern_count++] = parsed;
	return 0;
}

int mutls_config_add_peer_certificate(mutls_config *cfg, const mutls_x509 *cert)
{
	char pattern[8 + 96], *fp = NULL;
	int rc;

	if (!cert)
		return mutls__error(MUTLS_EUSAGE, "peers: NULL certificate");
	MUTLS_TRY(check_mutable(cfg, "peers"));
	if ((rc = mutls_x509_fingerprint(&fp, cert, "sha256")) < 0)
		return rc;
	snprintf(pattern, sizeof(pattern), "sha256:%s", fp);
	mutls_free(fp);
	return mutls_config_add_peer_pattern(cfg, pattern);
}

int mutls_config_set_versions(mutls_config *cfg, const char *const *versions, size_t count)
{
	char text[128] = ":-VERS-ALL";

	MUTLS_TRY(check_mutable(cfg, "versions"));
	if (count == 0)
		return mutls__error(MUTLS_ECONFIG, "versions: the list is empty");
	for (size_t i = 0; i < count; i++) {
		const char *v = versions[i];
		if (v && (strcmp(v, "1.3") == 0 || strcmp(v, "TLSv1.3") == 0))
			strcat(text, ":+VERS-TLS1.3");
		else if (v && (strcmp(v, "1.2") == 0 || strcmp(v, "TLSv1.2") == 0))
			strcat(text, ":+VERS-TLS1.2");
		else
			return mutls__error(MUTLS_ECONFIG,
				"versions: \"%s\" is not supported (use \"1.2\" and/or \"1.3\")", v ? v : "(null)");
		if (strlen(text) > sizeof(text) - 20)
			return mutls__error(MUTLS_ECONFIG, "versions: too many entries");
	}
	free(cfg->versions_text);
	cfg->versions_text = mutls__strdup(text);
	return cfg->versions_text ? 0 : MUTLS_ENOMEM;
}

int mutls_config_set_priority(mutls_config *cfg, const char *priority)
{
	gnutls_priority_t test;
	const char *err_pos = NULL;
	int rc;

	MUTLS_TRY(check_mutable(cfg, "priority"));
	if (!priority || !*priority)
		return mutls__error(MUTLS_ECONFIG, "priority: empty value");
	rc = gnutls_priority_init(&test, priority, &err_pos);
	if (rc < 0)
		return mutls__error_gnutls(MUTLS_ECONFIG, rc, "priority \"%s\" is invalid at \"%s\"",
			priority, err_pos ? err_pos : "");
	gnutls_priority_deinit(test);
	free(cfg->priority_text);
	cfg->priority_text = mutls__strdup(priority);
	return cfg->priority_text ? 0 : MUTLS_ENOMEM;
}

int mutls_config_set_alpn(mutls_config *cfg, const char *const *protocols, size_t count)
{
	gnutls_datum_t *list;

	MUTLS_TRY(check_mutable(cfg, "alpn"));
	for (size_t i = 0; i < count; i++) {
		size_t len = protocols[i] ? strlen(protocols[i]) : 0;
		if (len == 0 || len > 255)
			return mutls__error(MUTLS_ECONFIG,
				"alpn: protocol %zu must be 1 to 255 bytes", i + 1);
	}
	list = count ? calloc(count, sizeof(*list)) : NULL;
	if (count && !list)
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	for (size_t i = 0; i < count; i++) {
		list[i].data = (unsigned char *)strdup(protocols[i]);
		list[i].size = (unsigned)strlen(protocols[i]);
		if (!list[i].data) {
			for (size_t j = 0; j < i; j++)
				free(list[j].data);
			free(list);
			return mutls__error(MUTLS_ENOMEM, "out of memory");
		}
	}
	for (size_t i = 0; i < cfg->alpn_count; i++)
		free(cfg->alpn[i].data);
	free(cfg->alpn);
	cfg->alpn = list;
	cfg->alpn_count = count;
	return 0;
}

int mutls_config_set_session_tickets(mutls_config *cfg, int enabled)
{
	MUTLS_TRY(check_mutable(cfg, "session_tickets"));
	cfg->tickets = enabled ? 1 : 0;
	return 0;
}

int mutls_config_set_session_cache(mutls_config *cfg, size_t entries)
{
	MUTLS_TRY(check_mutable(cfg, "session_cache"));
	if (entries > MUTLS_SESSION_CACHE_MAX)
		return mutls__error(MUTLS_ECONFIG,
			"session_cache: %zu entries is more than the limit of %u (0 turns the cache off)",
			entries, MUTLS_SESSION_CACHE_MAX);
	cfg->session_cache_entries = entries;
	return 0;
}

int mutls_config_set_send_ca_names(mutls_config *cfg, int enabled)
{
	MUTLS_TRY(check_mutable(cfg, "send_ca_names"));
	cfg->send_ca_names = enabled ? 1 : 0;
	return 0;
}

int mutls_config_set_handshake_timeout(mutls_config *cfg, int timeout_ms)
{
	MUTLS_TRY(check_mutable(cfg, "handshake_timeout"));
	if (timeout_ms < 0)
		return mutls__error(MUTLS_ECONFIG, "handshake_timeout must not be negative (%d ms); "
			"0 means no limit", timeout_ms);
	cfg->handshake_timeout_ms = timeout_ms;
	return 0;
}

int mutls_config_handshake_timeout(const mutls_config *cfg)
{
	return cfg ? cfg->handshake_timeout_ms : 0;
}

int mutls_config_set_verify_hook(mutls_config *cfg, mutls_verify_hook hook,
	void *payload, mutls_payload_free payload_free)
{
	MUTLS_TRY(check_mutable(cfg, "verify_hook"));
	if (cfg->verify_free)
		cfg->verify_free(cfg->verify_payload);
	cfg->verify_hook = hook;
	cfg->verify_payload = payload;
	cfg->verify_free = payload_free;
	return 0;
}

int mutls_config_set_verify_time(mutls_config *cfg, int64_t seconds)
{
	MUTLS_TRY(check_mutable(cfg, "verify_time"));
	if (cfg->clock_free)
		cfg->clock_free(cfg->clock_payload);
	cfg->clock_fn = NULL;
	cfg->clock_payload = NULL;
	cfg->clock_free = NULL;
	cfg->verify_time = seconds;
	cfg->verify_time_set = 1;
	return 0;
}

int mutls_config_set_verify_clock(mutls_config *cfg, mutls_clock_fn fn, void *payload,
	mutls_payload_free payload_free)
{
	MUTLS_TRY(check_mutable(cfg, "verify_time"));
	if (cfg->clock_free)
		cfg->clock_free(cfg->clock_payload);
	cfg->clock_fn = fn;
	cfg->clock_payload = fn ? payload : NULL;
	cfg->clock_free = fn ? payload_free : NULL;
	cfg->verify_time_set = 0;
	if (!fn && payload_free)
		payload_free(payload);
	return 0;
}

int mutls_config_set_profile(mutls_config *cfg, const char *profile)
{
	MUTLS_TRY(check_mutable(cfg, "profile"));
	if (!profile)
		return mutls__error(MUTLS_EUSAGE, "profile: NULL");
	if (strcmp(profile, "default") == 0)
		cfg->profile = MUTLS_PROFILE_DEFAULT;
	else if (strcmp(profile, "strict") == 0)
		cfg->profile = MUTLS_PROFILE_STRICT;
	else
		return mutls__error(MUTLS_ECONFIG, "profile: expected \"default\" or \"strict\", not \"%.100s\"",
			profile);
	return 0;
}

int mutls_config_set_max_chain_depth(mutls_config *cfg, int depth)
{
	MUTLS_TRY(check_mutable(cfg, "max_chain_depth"));
	if (depth < -1)
		return mutls__error(MUTLS_ECONFIG, "max_chain_depth: expected 0 or more (or -1 for no "
			"limit), not %d", depth);
	cfg->max_chain_depth = depth;
	return 0;
}

int mutls_config_set_trace_hook(mutls_config *cfg, mutls_trace_hook hook,
	void *payload, mutls_payload_free payload_free)
{
	MUTLS_TRY(check_mutable(cfg, "trace"));
	if (cfg->trace_free)
		cfg->trace_free(cfg->trace_payload);
	cfg->trace_hook = hook;
	cfg->trace_payload = payload;
	cfg->trace_free = payload_free;
	return 0;
}

/* Opens a key log for appending: created 0600 (it holds traffic secrets),
 * never through a symbolic link, not inherited by child processes. what
 * names the setting in messages ("keylog", "keylog_env: SSLKEYLOGFILE"). */
static int open_keylog(FILE **out, const char *path, const char *what)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	FILE *f;

	*out = NULL;
	if (fd < 0 && errno == ELOOP)
		return mutls__error(MUTLS_ECONFIG, "%s %s: is a symbolic link; refusing to write "
			"traffic secrets through it (name the file itself)", what, path);
	if (fd < 0)
		return mutls__error(MUTLS_ECONFIG, "%s %s: cannot open for appending: %s",
			what, path, strerror(errno));
	f = fdopen(fd, "a");
	if (!f) {
		int saved = errno;
		close(fd);
		return mutls__error(MUTLS_ECONFIG, "%s %s: cannot open for appending: %s",
			what, path, strerror(saved));
	}
	*out = f;
	return 0;
}

static void close_keylog(mutls_config *cfg)
{
	if (cfg->keylog_file)
		fclose(cfg->keylog_file);
	cfg->keylog_file = NULL;
	cfg->keylog_from_env = 0;
}

int mutls_config_set_keylog_hook(mutls_config *cfg, mutls_keylog_hook hook,
	void *payload, mutls_payload_free payload_free)
{
	MUTLS_TRY(check_mutable(cfg, "keylog"));
	if (cfg->keylog_from_env)
		close_keylog(cfg); /* an explicit keylog wins over the environment */
	if (cfg->keylog_free)
		cfg->keylog_free(cfg->keylog_payload);
	cfg->keylog_hook = hook;
	cfg->keylog_payload = payload;
	cfg->keylog_free = payload_free;
	return 0;
}

int mutls_config_set_keylog_file(mutls_config *cfg, const char *path)
{
	FILE *f;
	int rc;

	MUTLS_TRY(check_mutable(cfg, "keylog"));
	if (!path || !*path)
		return mutls__error(MUTLS_ECONFIG, "keylog: empty path");
	if ((rc = open_keylog(&f, path, "keylog")) < 0)
		return rc;
	close_keylog(cfg);
	cfg->keylog_file = f;
	return 0;
}

int mutls_config_set_keylog_env(mutls_config *cfg, int enabled)
{
	const char *path;
	FILE *f;
	int rc;

	MUTLS_TRY(check_mutable(cfg, "keylog_env"));
	if (cfg->keylog_from_env)
		close_keylog(cfg);
	/* an explicit keylog (file or hook) wins over the environment */
	if (!enabled || cfg->keylog_file || cfg->keylog_hook)
		return 0;
	path = getenv("SSLKEYLOGFILE");
	if (!path || !*path)
		return 0;
	if ((rc = open_keylog(&f, path, "keylog_env: SSLKEYLOGFILE")) < 0)
		return rc;
	cfg->keylog_file = f;
	cfg->keylog_from_env = 1;
	return 0;
}

mutls_peer_mode mutls_config_peer_certificate(const mutls_config *cfg)
{
	return cfg ? cfg->peer_mode : MUTLS_PEER_REQUIRE;
}

int mutls_config_has_identity(const mutls_config *cfg)
{
	return cfg && cfg->own_chain_len > 0;
}

int mutls__config_keylog(mutls_config *cfg, mutls_session *s, const char *line)
{
	int rc = 0;

	if (cfg->keylog_file) {
		pthread_mutex_lock(&cfg->keylog_lock);
		fprintf(cfg->keylog_file, "%s\n", line);
		fflush(cfg->keylog_file);
		pthread_mutex_unlock(&cfg->keylog_lock);
	}
	if (cfg->keylog_hook) {
		mutls__hook_frame frame;
		mutls__hook_enter(&frame, s);
		rc = cfg->keylog_hook(s, line, cfg->keylog_payload);
		mutls__hook_leave(&frame);
	}
	return rc;
}
