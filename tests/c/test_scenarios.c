/* The shared scenario table (tests/scenarios/scenarios.txt) run through the C
 * API: every [id] of the table is one case of this program (ctest registers
 * "scenario.<id>"; `test_scenarios <id>` runs one, no argument runs all).
 * The table's header says what each field means and how a case is run; the
 * Python (tests/python/test_scenarios.py) and Lua
 * (tests/lua/scenarios_spec.lua) runners do the same through their bindings.
 *
 * The table is found at MUTLS_SCENARIOS_FILE (set by CMake), or at the path
 * in the environment variable MUTLS_SCENARIOS. */
#include "pair.h"

#include <ctype.h>
#include <time.h>

#ifndef MUTLS_SCENARIOS_FILE
#define MUTLS_SCENARIOS_FILE "tests/scenarios/scenarios.txt"
#endif

/* ---- the table -------------------------------------------------------------- */

typedef struct { char *key, *value; } entry;
typedef struct { char *id; entry *e; size_t n, cap; } scenario;

static scenario *table;
static size_t table_len, table_cap;

static char *trim(char *s)
{
	char *end;
	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = 0;
	return s;
}

static void parse_table(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int lineno = 0;
	if (!f) {
		fprintf(stderr, "test_scenarios: cannot open %s\n", path);
		exit(2);
	}
	while (fgets(line, sizeof(line), f)) {
		char *s = trim(line), *eq;
		scenario *sc;
		lineno++;
		if (!*s || *s == '#')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');
			if (!close || close[1]) {
				fprintf(stderr, "%s:%d: bad case header\n", path, lineno);
				exit(2);
			}
			*close = 0;
			if (table_len == table_cap)
				table = realloc(table, (table_cap = table_cap * 2 + 16) * sizeof(*table));
			memset(&table[table_len], 0, sizeof(*table));
			table[table_len++].id = strdup(trim(s + 1));
			continue;
		}
		eq = strchr(s, '=');
		if (!eq || table_len == 0) {
			fprintf(stderr, "%s:%d: expected \"key = value\" inside a case\n", path, lineno);
			exit(2);
		}
		*eq = 0;
		sc = &table[table_len - 1];
		if (sc->n == sc->cap)
			sc->e = realloc(sc->e, (sc->cap = sc->cap * 2 + 16) * sizeof(entry));
		sc->e[sc->n].key = strdup(trim(s));
		sc->e[sc->n].value = strdup(trim(eq + 1));
		sc->n++;
	}
	fclose(f);
}

/* A case's value for key, or NULL. */
static const char *get(const scenario *sc, const char *key)
{
	for (size_t i = 0; i < sc->n; i++)
		if (strcmp(sc->e[i].key, key) == 0)
			return sc->e[i].value;
	return NULL;
}

/* A token list "a=1 b=x,y c": the last token with that name wins; a token
 * without '=' has the value "". */
#define MAX_TOKENS 32
typedef struct { char *buf; char *name[MAX_TOKENS], *value[MAX_TOKENS]; size_t n; } tokens;

static void tokenize(tokens *t, const char *text)
{
	char *save = NULL, *tok;
	memset(t, 0, sizeof(*t));
	t->buf = strdup(text ? text : "");
	for (tok = strtok_r(t->buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char *eq = strchr(tok, '=');
		CHECK(t->n < MAX_TOKENS);
		t->name[t->n] = tok;
		t->value[t->n] = "";
		if (eq) {
			*eq = 0;
			t->value[t->n] = eq + 1;
		}
		t->n++;
	}
}

static const char *tok(const tokens *t, const char *name)
{
	for (size_t i = t->n; i-- > 0;)
		if (strcmp(t->name[i], name) == 0)
			return t->value[i];
	return NULL;
}

static int tok_is(const tokens *t, const char *name, const char *value)
{
	const char *v = tok(t, name);
	return v && strcmp(v, value) == 0;
}

/* Splits "a,b,c" into a list (into a copy owned by the list). */
#define MAX_ITEMS 16
typedef struct { char *buf; const char *item[MAX_ITEMS]; size_t n; } list;

static void split(list *l, const char *text)
{
	char *save = NULL, *it;
	memset(l, 0, sizeof(*l));
	l->buf = strdup(text ? text : "");
	for (it = strtok_r(l->buf, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
		CHECK(l->n < MAX_ITEMS);
		l->item[l->n++] = it;
	}
}

/* ---- the PKI of a case ------------------------------------------------------ */

typedef struct {
	mutls_testca *root, *other, *inter, *notca;
	mutls_testca *weak_root, *weak_inter, *constrained, *limited, *sub;
} cas;

static mutls_testca *ca_named(cas *c, const char *which)
{
	mutls_testca_options o = MUTLS_TESTCA_OPTIONS_INIT;
	if (strcmp(which, "root") == 0)
		return c->root;
	if (strcmp(which, "other") == 0 || strcmp(which, "other-ca") == 0) {
		if (!c->other) {
			o.name = "mutls other CA";
			CHECK_OK(mutls_testca_new(&c->other, &o));
		}
		return c->other;
	}
	if (strcmp(which, "intermediate") == 0) {
		if (!c->inter) {
			o.name = "mutls test intermediate";
			CHECK_OK(mutls_testca_intermediate(&c->inter, c->root, &o));
		}
		return c->inter;
	}
	if (strcmp(which, "intermediate-not-ca") == 0) {
		if (!c->notca) {
			o.name = "mutls fake intermediate";
			o.flags = MUTLS_CA_NOT_A_CA;
			CHECK_OK(mutls_testca_intermediate(&c->notca, c->root, &o));
		}
		return c->notca;
	}
	if (strcmp(which, "weak-root") == 0) {
		if (!c->weak_root) {
			o.name = "mutls weak root";
			o.key_type = MUTLS_KEY_RSA1024;
			CHECK_OK(mutls_testca_new(&c->weak_root, &o));
		}
		return c->weak_root;
	}
	if (strcmp(which, "intermediate-rsa1024") == 0) {
		if (!c->weak_inter) {
			o.name = "mutls weak intermediate";
			o.key_type = MUTLS_KEY_RSA1024;
			CHECK_OK(mutls_testca_intermediate(&c->weak_inter, c->root, &o));
		}
		return c->weak_inter;
	}
	if (strcmp(which, "intermediate-constrained") == 0) {
		static const char *const permitted[] = { "svc.local" };
		if (!c->constrained) {
			o.name = "mutls constrained intermediate";
			o.permitted_dns = permitted;
			o.permitted_dns_count = 1;
			CHECK_OK(mutls_testca_intermediate(&c->constrained, c->root, &o));
		}
		return c->constrained;
	}
	if (strcmp(which, "intermediate-path0-sub") == 0) {
		if (!c->sub) {
			o.name = "mutls limited intermediate";
			o.path_length = 0;
			CHECK_OK(mutls_testca_intermediate(&c->limited, c->root, &o));
			o.name = "mutls sub intermediate";
			o.path_length = -1;
			CHECK_OK(mutls_testca_intermediate(&c->sub, c->limited, &o));
		}
		return c->sub;
	}
	testlib_fail(__FILE__, __LINE__, "unknown CA \"%s\"", which);
}

typedef struct {
	int none;              /* issuer=none: no identity */
	mutls_identity *id;    /* the leaf (NULL for self-signed) */
	mutls_testca *self;    /* issuer=self-signed: the CA whose cert is the identity */
	mutls_identity *other; /* wrong_key=yes: whose key is used */
	char *encrypted;       /* encrypt=<pw>: the key, encrypted */
	int leaf_only;         /* chain=leaf */
} ident;

static mutls_x509 *ident_leaf(const ident *i)
{
	return i->self ? mutls_testca_certificate(i->self) : mutls_identity_certificate(i->id);
}

static void make_ident(ident *out, cas *c, const char *spec)
{
	tokens t;
	mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
	list dns, ip, uri;
	const char *issuer, *v;
	mutls_testca *ca;
	int64_t now = (int64_t)time(NULL);

	memset(out, 0, sizeof(*out));
	tokenize(&t, spec);
	issuer = tok(&t, "issuer") ? tok(&t, "issuer") : "root";
	if (strcmp(issuer, "none") == 0) {
		out->none = 1;
		free(t.buf);
		return;
	}
	if ((v = tok(&t, "key_type")))
		CHECK_OK(mutls_key_type_from_name(&o.key_type, v));
	if (strcmp(issuer, "self-signed") == 0) {
		mutls_testca_options co = MUTLS_TESTCA_OPTIONS_INIT;
		co.name = tok(&t, "cn");
		co.key_type = o.key_type;
		CHECK_OK(mutls_testca_new(&out->self, &co));
		free(t.buf);
		return;
	}
	ca = ca_named(c, issuer);
	split(&dns, tok(&t, "dns"));
	split(&ip, tok(&t, "ip"));
	split(&uri, tok(&t, "uri"));
	o.cn = tok(&t, "cn");
	o.dns = dns.item; o.dns_count = dns.n;
	o.ip = ip.item; o.ip_count = ip.n;
	o.uri = uri.item; o.uri_count = uri.n;
	if ((v = tok(&t, "not_before")))
		o.not_before = now + strtoll(v, NULL, 10);
	if ((v = tok(&t, "not_after")))
		o.not_after = now + strtoll(v, NULL, 10);
	if ((v = tok(&t, "purpose"))) {
		if (strcmp(v, "server") == 0) o.purpose = MUTLS_PURPOSE_SERVER;
		else if (strcmp(v, "client") == 0) o.purpose = MUTLS_PURPOSE_CLIENT;
		else if (strcmp(v, "both") == 0) o.purpose = MUTLS_PURPOSE_BOTH;
		else if (strcmp(v, "none") == 0) o.purpose = MUTLS_PURPOSE_NONE;
		else testlib_fail(__FILE__, __LINE__, "unknown purpose \"%s\"", v);
	}
	CHECK_OK(mutls_testca_issue(&out->id, ca, &o));
	if (tok_is(&t, "revoked", "yes"))
		CHECK_OK(mutls_testca_revoke(ca, mutls_identity_certificate(out->id)));
	out->leaf_only = tok_is(&t, "chain", "leaf");
	if (tok_is(&t, "wrong_key", "yes")) {
		mutls_issue_options oo = MUTLS_ISSUE_OPTIONS_INIT;
		oo.cn = "mutls other leaf";
		oo.key_type = o.key_type;
		CHECK_OK(mutls_testca_issue(&out->other, ca, &oo));
	}
	if ((v = tok(&t, "encrypt")))
		CHECK_OK(mutls_identity_encrypted_key_pem(&out->encrypted, out->id, v));
	free(dns.buf);
	free(ip.buf);
	free(uri.buf);
	free(t.buf);
}

static void free_ident(ident *i)
{
	mutls_identity_free(i->id);
	mutls_identity_free(i->other);
	mutls_testca_free(i->self);
	mutls_free(i->encrypted);
}

/* ---- the verify hook ------------------------------------------------------------ */

typedef struct { int verdict; char text[256]; } hook_spec;

static int scenario_hook(mutls_session *s, void *payload, char *reason, size_t cap)
{
	const hook_spec *h = payload;
	if (h->verdict != MUTLS_HOOK_ACCEPT)
		snprintf(reason, cap, "%s", h->text);
	return h->verdict;
}

/* "accept", "reject:<r>", "raise:<m>"; 0 for none. */
static int parse_hook(hook_spec *h, const char *spec)
{
	memset(h, 0, sizeof(*h));
	if (!spec || strcmp(spec, "none") == 0)
		return 0;
	if (strcmp(spec, "accept") == 0)
		h->verdict = MUTLS_HOOK_ACCEPT;
	else if (strncmp(spec, "reject:", 7) == 0)
		h->verdict = MUTLS_HOOK_REJECT, snprintf(h->text, sizeof(h->text), "%s", spec + 7);
	else if (strncmp(spec, "raise:", 6) == 0)
		h->verdict = MUTLS_HOOK_ERROR, snprintf(h->text, sizeof(h->text), "%s", spec + 6);
	else
		testlib_fail(__FILE__, __LINE__, "bad hook \"%s\"", spec);
	return 1;
}

/* ---- outcomes ------------------------------------------------------------------ */

enum { NOT_RUN, OK, FAILED };

typedef struct {
	int state;
	int code;
	unsigned reasons;
	mutls_side side;
	mutls_step step;
	int alert;
	char message[1024];
	char hook_message[512];
	int has_cert;            /* the error carries the peer's certificate */
} outcome;

static void fail_with(outcome *o, const mutls_error *e, int rc, const mutls_session *s)
{
	o->state = FAILED;
	o->hook_message[0] = 0;
	o->has_cert = 0;
	if (!e) { /* e.g. still want-read: no error object */
		o->code = rc;
		o->reasons = 0;
		o->side = MUTLS_SIDE_NONE;
		o->step = MUTLS_STEP_NONE;
		o->alert = -1;
		snprintf(o->message, sizeof(o->message), "(no error object)");
		return;
	}
	o->code = mutls_error_code(e);
	o->reasons = mutls_error_reasons(e);
	o->side = mutls_error_side(e);
	o->step = mutls_error_step(e);
	o->alert = mutls_error_alert(e);
	snprintf(o->message, sizeof(o->message), "%s", mutls_error_message(e));
	snprintf(o->hook_message, sizeof(o->hook_message), "%s", mutls_error_hook_message(e));
	o->has_cert = mutls_session_error_certificate(s, o->code) != NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The reasons as a sorted list, "none" when empty. */
static void reasons_text(char *out, size_t cap, unsigned reasons)
{
	const char *names[MUTLS_REASON_COUNT];
	size_t n = 0;
	for (unsigned i = 0; i < MUTLS_REASON_COUNT; i++)
		if (reasons & (1u << i))
			names[n++] = mutls_reason_name(1u << i);
	qsort(names, n, sizeof(names[0]), cmp_str);
	out[0] = 0;
	for (size_t i = 0; i < n; i++)
		snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? "," : "", names[i]);
	if (n == 0)
		snprintf(out, cap, "none");
}

/* The outcome in the table's own spelling (without ok's optional fields). */
static void outcome_text(char *out, size_t cap, const outcome *o)
{
	char reasons[256];
	if (o->state == NOT_RUN) {
		snprintf(out, cap, "not-run");
		return;
	}
	if (o->state == OK) {
		snprintf(out, cap, "ok");
		return;
	}
	reasons_text(reasons, sizeof(reasons), o->reasons);
	snprintf(out, cap, "%s reasons=%s side=%s step=%s alert=%s", mutls_code_name(o->code),
		reasons, mutls_side_name(o->side), mutls_step_name(o->step),
		o->alert >= 0 ? mutls_alert_name(o->alert) : "none");
}

/* Compares a side's outcome (and session) with the table; returns the number
 * of differences, each printed. */
static int compare(const char *side, const char *expect, const char *fragment,
	const char *hook_fragment, const outcome *o, const mutls_session *s)
{
	tokens t;
	char got[1400], want_reasons[256];
	int bad = 0;
	list wr;

	outcome_text(got, sizeof(got), o);
	printf("\n    %s: %s%s%s", side, got, o->state == FAILED ? " | " : "",
		o->state == FAILED ? o->message : "");
	CHECK(expect != NULL);
	tokenize(&t, expect);
	CHECK(t.n > 0);
	if (strcmp(t.name[0], "ok") == 0) {
		const char *v;
		if (o->state != OK) {
			printf("\n    MISMATCH %s: expected ok", side);
			bad++;
		} else {
			if ((v = tok(&t, "version")) && strcmp(v, mutls_session_version(s) ? mutls_session_version(s) : "none")) {
				printf("\n    MISMATCH %s: version %s, expected %s", side, mutls_session_version(s), v);
				bad++;
			}
			if ((v = tok(&t, "alpn")) && strcmp(v, mutls_session_alpn(s) ? mutls_session_alpn(s) : "none")) {
				printf("\n    MISMATCH %s: alpn %s, expected %s", side,
					mutls_session_alpn(s) ? mutls_session_alpn(s) : "none", v);
				bad++;
			}
			if ((v = tok(&t, "resumed")) && (strcmp(v, "yes") == 0) != !!mutls_session_resumed(s)) {
				printf("\n    MISMATCH %s: resumed %d, expected %s", side, mutls_session_resumed(s), v);
				bad++;
			}
			if ((v = tok(&t, "verified")) && (strcmp(v, "yes") == 0) != !!mutls_session_verified(s)) {
				printf("\n    MISMATCH %s: verified %d, expected %s", side, mutls_session_verified(s), v);
				bad++;
			}
		}
	} else if (strcmp(t.name[0], "not-run") == 0) {
		if (o->state != NOT_RUN) {
			printf("\n    MISMATCH %s: expected not-run", side);
			bad++;
		}
	} else {
		char want[1400];
		CHECK(tok(&t, "reasons") && tok(&t, "side") && tok(&t, "step") && tok(&t, "alert"));
		/* the table's reasons, sorted */
		split(&wr, tok(&t, "reasons"));
		qsort(wr.item, wr.n, sizeof(wr.item[0]), cmp_str);
		want_reasons[0] = 0;
		for (size_t i = 0; i < wr.n; i++)
			snprintf(want_reasons + strlen(want_reasons), sizeof(want_reasons) - strlen(want_reasons),
				"%s%s", i ? "," : "", wr.item[i]);
		free(wr.buf);
		snprintf(want, sizeof(want), "%s reasons=%s side=%s step=%s alert=%s", t.name[0],
			want_reasons, tok(&t, "side"), tok(&t, "step"), tok(&t, "alert"));
		if (strcmp(want, got) != 0) {
			printf("\n    MISMATCH %s: expected %s", side, want);
			bad++;
		}
		if (fragment && o->state == FAILED && !strstr(o->message, fragment)) {
			printf("\n    MISMATCH %s: the message does not contain \"%s\"", side, fragment);
			bad++;
		}
		if (hook_fragment && o->state == FAILED &&
		    (!strstr(o->hook_message, hook_fragment) || !strstr(o->message, o->hook_message))) {
			printf("\n    MISMATCH %s: hook_message \"%s\" does not contain \"%s\" or is not in the message",
				side, o->hook_message, hook_fragment);
			bad++;
		}
		if (tok(&t, "peer_certificate") && o->state == FAILED &&
		    (strcmp(tok(&t, "peer_certificate"), "yes") == 0) != o->has_cert) {
			printf("\n    MISMATCH %s: peer_certificate %s, expected %s", side, o->has_cert ? "yes" : "no",
				tok(&t, "peer_certificate"));
			bad++;
		}
	}
	free(t.buf);
	return bad;
}

/* MUTLS_SCENARIOS_DUMP=<file>: appends "id<TAB>side<TAB>outcome<TAB>message"
 * for comparing the languages' runs line by line. */
static void dump(const char *id, const char *side, const outcome *o)
{
	const char *path = getenv("MUTLS_SCENARIOS_DUMP");
	char text[1400];
	FILE *f;
	if (!path || !*path || !(f = fopen(path, "a")))
		return;
	outcome_text(text, sizeof(text), o);
	fprintf(f, "%s\t%s\t%s\t%s\n", id, side, text, o->state == FAILED ? o->message : "");
	fclose(f);
}

/* ---- configs ------------------------------------------------------------------- */

typedef struct {
	cas *cas;
	ident *server, *client;
	char *crl; /* the root's CRL, made after the identities */
} world;

/* verify_clock=<seconds>: now + seconds, asked at each verification */
static int clock_offset(int64_t *out, mutls_session *s, void *payload)
{
	(void)s;
	*out = (int64_t)time(NULL) + *(const int64_t *)payload;
	return 0;
}

/* verify_clock=raise:<m>: a clock function that fails */
static int clock_fails(int64_t *out, mutls_session *s, void *payload)
{
	(void)out;
	mutls_session_set_hook_error(s, payload); /* what the table's raise:<m> says */
	return MUTLS_HOOK_ERROR;
}

/* Makes a config: identity, then the options of spec. 0, or the config
 * error (details in *o). */
static mutls_config *make_config(world *w, const ident *id, const char *spec,
	hook_spec *hook, const char *hook_text, outcome *o)
{
	mutls_config *cfg = NULL;
	tokens t;
	const char *v;
	int rc = 0;

	CHECK_OK(mutls_config_new(&cfg));
	tokenize(&t, spec);
#define STEP(call) do { if (rc == 0) rc = (call); } while (0)
	if (!id->none) {
		if (id->self)
			STEP(mutls_config_set_identity(cfg, mutls_testca_cert_pem(id->self),
				mutls_testca_key_pem(id->self), tok(&t, "password")));
		else if (!id->leaf_only && !id->other && !id->encrypted)
			STEP(mutls_config_set_identity_object(cfg, id->id));
		else
			STEP(mutls_config_set_identity(cfg,
				id->leaf_only ? mutls_identity_cert_pem(id->id) : mutls_identity_chain_pem(id->id),
				id->other ? mutls_identity_key_pem(id->other) :
				id->encrypted ? id->encrypted : mutls_identity_key_pem(id->id),
				tok(&t, "password")));
	}
	{
		list trust;
		split(&trust, tok(&t, "trust") ? tok(&t, "trust") : "root");
		for (size_t i = 0; i < trust.n; i++)
			if (strcmp(trust.item[i], "none") != 0)
				STEP(mutls_config_add_trust(cfg, mutls_testca_cert_pem(ca_named(w->cas, trust.item[i]))));
		free(trust.buf);
	}
	if (tok_is(&t, "crl", "yes"))
		STEP(mutls_config_add_crl(cfg, w->crl));
	if ((v = tok(&t, "peer_certificate"))) {
		/* the name as the bindings parse it: the core's table */
		mutls_peer_mode mode = MUTLS_PEER_REQUIRE;
		STEP(mutls_peer_mode_from_name(&mode, v));
		STEP(mutls_config_set_peer_certificate(cfg, mode));
	}
	if ((v = tok(&t, "verify_time")))
		STEP(mutls_config_set_verify_time(cfg, (int64_t)time(NULL) + strtoll(v, NULL, 10)));
	if ((v = tok(&t, "verify_clock"))) {
		if (strncmp(v, "raise:", 6) == 0)
			STEP(mutls_config_set_verify_clock(cfg, clock_fails, strdup(v + 6), free));
		else {
			int64_t *offset = malloc(sizeof(*offset));
			CHECK(offset != NULL);
			*offset = strtoll(v, NULL, 10);
			STEP(mutls_config_set_verify_clock(cfg, clock_offset, offset, free));
		}
	}
	if ((v = tok(&t, "check_hostname")))
		STEP(mutls_config_set_check_hostname(cfg, strcmp(v, "yes") == 0));
	if ((v = tok(&t, "peers"))) {
		list peers;
		split(&peers, v);
		for (size_t i = 0; i < peers.n; i++) {
			char pattern[256];
			const char *p = peers.item[i];
			if (strcmp(p, "sha256:<client>") == 0 || strcmp(p, "sha256:<server>") == 0) {
				char *fp = NULL;
				const ident *who = strcmp(p, "sha256:<client>") == 0 ? w->client : w->server;
				CHECK_OK(mutls_x509_fingerprint(&fp, ident_leaf(who), "sha256"));
				snprintf(pattern, sizeof(pattern), "sha256:%s", fp);
				mutls_free(fp);
				p = pattern;
			}
			if (strcmp(p, "certificate:<client>") == 0 || strcmp(p, "certificate:<server>") == 0) {
				const ident *who = strcmp(p, "certificate:<client>") == 0 ? w->client : w->server;
				STEP(mutls_config_add_peer_certificate(cfg, ident_leaf(who)));
				continue;
			}
			STEP(mutls_config_add_peer_pattern(cfg, p));
		}
		free(peers.buf);
	}
	if ((v = tok(&t, "versions"))) {
		list versions;
		split(&versions, v);
		STEP(mutls_config_set_versions(cfg, versions.item, versions.n));
		free(versions.buf);
	}
	if ((v = tok(&t, "alpn"))) {
		list alpn;
		split(&alpn, v);
		STEP(mutls_config_set_alpn(cfg, alpn.item, alpn.n));
		free(alpn.buf);
	}
	if (parse_hook(hook, hook_text))
		STEP(mutls_config_set_verify_hook(cfg, scenario_hook, hook, NULL));
#undef STEP
	free(t.buf);
	if (rc != 0) {
		fail_with(o, mutls_error_last(), rc, NULL);
		mutls_config_unref(cfg);
		return NULL;
	}
	return cfg;
}

/* ---- one connection --------------------------------------------------------------- */

/* Steps 2-4 of the table's THE RUN; the sessions stay in p. */
static void connect_once(test_pair *p, mutls_config *ccfg, const char *hostname,
	mutls_config *scfg, const unsigned char *data, size_t len, outcome *co, outcome *so)
{
	char buf[64];
	size_t n;
	int rc;

	memset(p, 0, sizeof(*p));
	CHECK_OK(mutls_session_client(&p->client, ccfg, hostname, -1));
	CHECK_OK(mutls_session_server(&p->server, scfg, -1));
	p->client_rc = p->server_rc = MUTLS_EWANTREAD;
	if (data)
		CHECK_OK(mutls_session_set_data(p->client, data, len));
	pair_handshake(p);
	co->state = so->state = OK;
	if (p->client_rc != 0)
		fail_with(co, mutls_session_error(p->client), p->client_rc, p->client);
	if (p->server_rc != 0)
		fail_with(so, mutls_session_error(p->server), p->server_rc, p->server);

	if (co->state == OK) {
		rc = mutls_session_send(&n, p->client, "ping", 4);
		if (rc != 0)
			fail_with(co, mutls_session_error(p->client), rc, p->client);
		pair_move(p->client, p->server);
	}
	if (so->state == OK) {
		rc = mutls_session_recv(&n, p->server, buf, sizeof(buf));
		if (rc != 0) {
			fail_with(so, mutls_session_error(p->server), rc, p->server);
		} else {
			if (n != 4 || memcmp(buf, "ping", 4) != 0)
				testlib_fail(__FILE__, __LINE__, "the server read %zu bytes, not \"ping\"", n);
			rc = mutls_session_send(&n, p->server, "pong", 4);
			if (rc != 0)
				fail_with(so, mutls_session_error(p->server), rc, p->server);
			pair_move(p->server, p->client);
		}
	}
	if (co->state == OK) {
		rc = mutls_session_recv(&n, p->client, buf, sizeof(buf));
		if (rc != 0)
			fail_with(co, mutls_session_error(p->client), rc, p->client);
		else if (n != 4 || memcmp(buf, "pong", 4) != 0)
			testlib_fail(__FILE__, __LINE__, "the client read %zu bytes, not \"pong\"", n);
	}
}

/* known_difference = "<lang>[,<lang>]: <text>": does it name lang? */
static int known_for(const char *known, const char *lang)
{
	list langs;
	const char *colon = known ? strchr(known, ':') : NULL;
	char head[128];
	int hit = 0;
	if (!colon || (size_t)(colon - known) >= sizeof(head))
		return 0;
	memcpy(head, known, (size_t)(colon - known));
	head[colon - known] = 0;
	split(&langs, head);
	for (size_t i = 0; i < langs.n; i++)
		hit |= strcmp(trim((char *)langs.item[i]), lang) == 0;
	free(langs.buf);
	return hit;
}

/* ---- a case -------------------------------------------------------------------------- */

static void run_scenario(const scenario *sc)
{
	cas c = { 0 };
	ident server, client;
	world w = { &c, &server, &client, NULL };
	mutls_testca_options ro = MUTLS_TESTCA_OPTIONS_INIT;
	hook_spec shook, chook;
	outcome so = { 0 }, co = { 0 };
	mutls_config *scfg = NULL, *ccfg = NULL, *ccfg2 = NULL;
	const char *hostname = get(sc, "hostname"), *known = get(sc, "known_difference");
	test_pair p = { 0 };
	int bad = 0;

	if (known_for(known, "c")) {
		printf("(skipped: known difference: %s) ", known);
		return;
	}
	CHECK(get(sc, "server.identity") && get(sc, "client.identity"));
	CHECK(hostname != NULL);
	if (strcmp(hostname, "none") == 0)
		hostname = NULL;

	ro.name = "mutls test root";
	CHECK_OK(mutls_testca_new(&c.root, &ro));
	make_ident(&server, &c, get(sc, "server.identity"));
	make_ident(&client, &c, get(sc, "client.identity"));
	CHECK_OK(mutls_testca_crl_pem(&w.crl, c.root));

	scfg = make_config(&w, &server, get(sc, "server.config"), &shook, get(sc, "server.hook"), &so);
	if (scfg)
		ccfg = make_config(&w, &client, get(sc, "client.config"), &chook, get(sc, "client.hook"), &co);

	if (scfg && ccfg) {
		const char *resume = get(sc, "resume");
		if (resume && strcmp(resume, "yes") == 0) {
			unsigned char *data = NULL;
			size_t len = 0;
			const char *stricter = get(sc, "resume.client.config");
			connect_once(&p, ccfg, hostname, scfg, NULL, 0, &co, &so);
			if (co.state != OK || so.state != OK)
				testlib_fail(__FILE__, __LINE__, "the first connection failed: client %s / server %s",
					co.message, so.message);
			CHECK_OK(mutls_session_get_data(&data, &len, p.client));
			pair_free(&p);
			if (stricter) {
				char spec[2048];
				snprintf(spec, sizeof(spec), "%s %s", get(sc, "client.config") ? get(sc, "client.config") : "",
					stricter);
				ccfg2 = make_config(&w, &client, spec, &chook, get(sc, "client.hook"), &co);
				CHECK(ccfg2 != NULL);
			}
			memset(&co, 0, sizeof(co));
			memset(&so, 0, sizeof(so));
			connect_once(&p, ccfg2 ? ccfg2 : ccfg, hostname, scfg, data, len, &co, &so);
			mutls_free(data);
		} else {
			connect_once(&p, ccfg, hostname, scfg, NULL, 0, &co, &so);
		}
	}

	dump(sc->id, "server", &so);
	dump(sc->id, "client", &co);
	bad += compare("server", get(sc, "expect.server"), get(sc, "expect.server.message"),
		get(sc, "expect.server.hook_message"), &so, p.server);
	bad += compare("client", get(sc, "expect.client"), get(sc, "expect.client.message"),
		get(sc, "expect.client.hook_message"), &co, p.client);
	printf("\n  ");
	pair_free(&p);
	mutls_config_unref(scfg);
	mutls_config_unref(ccfg);
	mutls_config_unref(ccfg2);
	mutls_free(w.crl);
	free_ident(&server);
	free_ident(&client);
	mutls_testca_free(c.root);
	mutls_testca_free(c.other);
	mutls_testca_free(c.inter);
	mutls_testca_free(c.notca);
	mutls_testca_free(c.weak_root);
	mutls_testca_free(c.weak_inter);
	mutls_testca_free(c.constrained);
	mutls_testca_free(c.sub);
	mutls_testca_free(c.limited);
	if (bad)
		testlib_fail(__FILE__, __LINE__, "%s: %d difference(s) from the table", sc->id, bad);
}

/* ---- registration: one testlib case per table entry ---------------------------------- */

/* testlib calls a case's function without arguments: one small function per
 * table index. */
#define SLOT(n) static void slot_##n(void) { run_scenario(&table[n]); }
#define SLOTS10(d) SLOT(d##0) SLOT(d##1) SLOT(d##2) SLOT(d##3) SLOT(d##4) \
	SLOT(d##5) SLOT(d##6) SLOT(d##7) SLOT(d##8) SLOT(d##9)
SLOTS10() SLOTS10(1) SLOTS10(2) SLOTS10(3) SLOTS10(4) SLOTS10(5) SLOTS10(6)
SLOTS10(7) SLOTS10(8) SLOTS10(9) SLOTS10(10) SLOTS10(11) SLOTS10(12) SLOTS10(13)
SLOTS10(14) SLOTS10(15)
#define REF10(d) slot_##d##0, slot_##d##1, slot_##d##2, slot_##d##3, slot_##d##4, \
	slot_##d##5, slot_##d##6, slot_##d##7, slot_##d##8, slot_##d##9
static const testlib_fn slots[] = {
	REF10(), REF10(1), REF10(2), REF10(3), REF10(4), REF10(5), REF10(6), REF10(7),
	REF10(8), REF10(9), REF10(10), REF10(11), REF10(12), REF10(13), REF10(14), REF10(15),
};

__attribute__((constructor)) static void register_scenarios(void)
{
	const char *path = getenv("MUTLS_SCENARIOS");
	parse_table(path && *path ? path : MUTLS_SCENARIOS_FILE);
	if (table_len > sizeof(slots) / sizeof(slots[0])) {
		fprintf(stderr, "test_scenarios: %zu cases, room for %zu: add SLOTS10 lines\n",
			table_len, sizeof(slots) / sizeof(slots[0]));
		exit(2);
	}
	for (size_t i = 0; i < table_len; i++)
		testlib_register(table[i].id, slots[i]);
}
