/* Certificate: one parsed X.509 certificate (a mutls_x509 reference). */
#include "lmutls.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lm_push_cert(lua_State *L, mutls_x509 *x)
{
	lm_cert *c = lm_newuserdata(L, sizeof(*c));
	c->x = NULL;
	luaL_getmetatable(L, LM_CERT);
	lua_setmetatable(L, -2);
	c->x = mutls_x509_ref(x);
}

lm_cert *lm_test_cert(lua_State *L, int idx)
{
	lm_cert *c = luaL_testudata(L, idx, LM_CERT);
	return c && c->x ? c : NULL;
}

lm_cert *lm_check_cert(lua_State *L, int idx)
{
	lm_cert *c = luaL_checkudata(L, idx, LM_CERT);
	if (!c->x)
		luaL_argerror(L, idx, "the certificate was released");
	return c;
}

static int cert_gc(lua_State *L)
{
	lm_cert *c = luaL_checkudata(L, 1, LM_CERT);
	if (c->x) {
		mutls_x509_unref(c->x);
		c->x = NULL;
	}
	return 0;
}

/* Pushes a string the core allocated (caller frees: mutls_free), or fails. */
static int push_owned(lua_State *L, int rc, char *text)
{
	if (rc < 0) {
		mutls_free(text);
		return lm_fail_last(L);
	}
	if (text)
		lua_pushstring(L, text);
	else
		lua_pushnil(L);
	mutls_free(text);
	return 1;
}

static void push_names(lua_State *L, const mutls_x509 *x, mutls_san_type type)
{
	char **names = NULL;
	size_t n = 0;
	if (mutls_x509_names(&names, &n, x, type) < 0) {
		n = 0;
		names = NULL;
	}
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_pushstring(L, names[i]);
		lua_rawseti(L, -2, (int)i + 1);
	}
	mutls_strings_free(names, n);
}

/* keyUsage / extendedKeyUsage names; a malformed extension raises. */
static void push_usages(lua_State *L, const mutls_x509 *x,
	int (*fn)(char ***, size_t *, const mutls_x509 *))
{
	char **list = NULL;
	size_t n = 0;
	if (fn(&list, &n, x) < 0)
		luaL_error(L, "%s", mutls_error_message(mutls_error_last()));
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_pushstring(L, list[i]);
		lua_rawseti(L, -2, (int)i + 1);
	}
	mutls_strings_free(list, n);
}

static int cert_fingerprint(lua_State *L)
{
	lm_cert *c = lm_check_cert(L, 1);
	const char *alg = luaL_optstring(L, 2, "sha256");
	char *fp = NULL;
	int rc;
	if (lm_fail_nul(L, 2, "algorithm", LM_TEXT))
		return 2;
	rc = mutls_x509_fingerprint(&fp, c->x, alg);
	return push_owned(L, rc, fp); /* rc is computed before fp is read */
}

static int cert_verify(lua_State *L)
{
	static const char *const allowed[] = { "trust", "hostname", "purpose", "crl",
		"peers", "intermediates", "at", "profile", "max_chain_depth", NULL };
	mutls_verify_options options;
	lm_cert *c = lm_check_cert(L, 1);
	lm_config *tc;
	mutls_purpose purpose = MUTLS_PURPOSE_ANY;
	const char *hostname, *p;
	mutls_x509 **inter = NULL;
	size_t ninter = 0;
	unsigned reasons = 0;
	int rc;

	luaL_checktype(L, 2, LUA_TTABLE);
	lm_check_options(L, 2, "verify", allowed);
	if (lm_options_nonul(L, 2))
		return 2;
	/* Options are read raw (no metamethod runs) and every value stays in a
	 * stack slot of this call until mutls_x509_verify has returned. */
	memset(&options, 0, sizeof(options));
	/* at: seconds since the epoch, or a function returning them (called here) */
	if (lm_rawgetfield(L, 2, "at") != LUA_TNIL) {
		if (lua_type(L, -1) == LUA_TFUNCTION)
			lua_call(L, 0, 1);
		if (lua_type(L, -1) != LUA_TNUMBER)
			return luaL_error(L, "verify: at must be seconds since the epoch (a number) or a "
				"function returning them, not %s", luaL_typename(L, -1));
		options.at = (int64_t)floor(lua_tonumber(L, -1));
		options.flags |= MUTLS_VERIFY_AT;
	}
	lua_pop(L, 1);
	p = lm_optstring_field(L, 2, "profile");
	if (p) {
		if (strcmp(p, "default") != 0 && strcmp(p, "strict") != 0)
			return luaL_error(L, "verify: profile must be \"default\" or \"strict\", not \"%s\"", p);
		options.profile = strcmp(p, "strict") == 0 ? MUTLS_PROFILE_STRICT : MUTLS_PROFILE_DEFAULT;
		options.flags |= MUTLS_VERIFY_PROFILE;
	}
	if (lm_rawgetfield(L, 2, "max_chain_depth") != LUA_TNIL) {
		if (lua_type(L, -1) != LUA_TNUMBER || lua_tonumber(L, -1) < 0 || lua_tonumber(L, -1) > 64)
			return luaL_error(L, "verify: max_chain_depth must be a number from 0 to 64");
		options.max_chain_depth = (int)lua_tonumber(L, -1);
		options.flags |= MUTLS_VERIFY_MAX_CHAIN_DEPTH;
	}
	lua_pop(L, 1);
	hostname = lm_optstring_field(L, 2, "hostname");
	p = lm_optstring_field(L, 2, "purpose");
	if (p) {
		if (mutls_purpose_from_name(&purpose, p) < 0)
			return luaL_error(L, "verify: %s", mutls_error_message(mutls_error_last()));
	}
	if (lm_rawgetfield(L, 2, "intermediates") != LUA_TNIL) {
		int list;
		luaL_argcheck(L, lua_istable(L, -1), 2, "intermediates must be an array of certificates");
		ninter = lm_rawlen(L, -1);
		inter = lm_newuserdata(L, (ninter ? ninter : 1) * sizeof(*inter));
		/* the certificates, in a table only this call reaches */
		lua_createtable(L, (int)ninter, 0);
		list = lua_gettop(L);
		for (size_t i = 0; i < ninter; i++) {
			lm_cert *ic;
			lua_rawgeti(L, list - 2, (int)i + 1);
			ic = lm_test_cert(L, -1);
			if (!ic)
				return luaL_error(L, "verify: intermediates[%d] is not a certificate", (int)i + 1);
			inter[i] = ic->x;
			lua_rawseti(L, list, (int)i + 1);
		}
	}
	/* The trust anchors, CRLs and patterns go into a throwaway config,
	 * collected with its userdata even if an argument error is raised. */
	tc = lm_push_new_config(L);
	/* the clock first: the CRLs' dates are then checked at `at`, not now */
	if ((options.flags & MUTLS_VERIFY_AT) && mutls_config_set_verify_time(tc->cfg, options.at) < 0)
		return lm_fail_last(L);
	lm_rawgetfield(L, 2, "trust");
	rc = lua_isnil(L, -1) ? 0 : lm_add_trust(L, tc->cfg, lua_gettop(L));
	lua_pop(L, 1);
	if (rc < 0)
		return lm_fail_last(L);
	lm_rawgetfield(L, 2, "crl");
	rc = lua_isnil(L, -1) ? 0 : lm_add_crl(L, tc->cfg, lua_gettop(L));
	lua_pop(L, 1);
	if (rc < 0)
		return lm_fail_last(L);
	lm_rawgetfield(L, 2, "peers");
	rc = lua_isnil(L, -1) ? 0 : lm_add_peers(L, tc->cfg, lua_gettop(L));
	lua_pop(L, 1);
	if (rc < 0)
		return lm_fail_last(L);
	rc = mutls_x509_verify_with(&reasons, c->x, inter, ninter, tc->cfg, hostname, purpose,
		&options);
	if (rc < 0) {
		const mutls_error *e = mutls_error_last();
		lua_pushnil(L);
		lm_push_error(L, e, NULL);
		/* the reasons the verification found, and the certificate */
		lm_push_reasons(L, reasons);
		lua_setfield(L, -2, "reasons");
		lua_pushvalue(L, 1);
		lua_setfield(L, -2, "peer_certificate");
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

static int cert_index(lua_State *L)
{
	lm_cert *c = luaL_checkudata(L, 1, LM_CERT);
	const char *k = luaL_checkstring(L, 2);
	char *text = NULL;

	if (lm_index_method(L))
		return 1;
	if (!c->x)
		return luaL_error(L, "the certificate was released");

	if (strcmp(k, "subject") == 0)
		{ int rc = mutls_x509_subject(&text, c->x); return push_owned(L, rc, text); }
	if (strcmp(k, "issuer") == 0)
		{ int rc = mutls_x509_issuer(&text, c->x); return push_owned(L, rc, text); }
	if (strcmp(k, "common_name") == 0)
		{ int rc = mutls_x509_common_name(&text, c->x); return push_owned(L, rc, text); }
	if (strcmp(k, "serial") == 0)
		{ int rc = mutls_x509_serial(&text, c->x); return push_owned(L, rc, text); }
	if (strcmp(k, "pem") == 0)
		{ int rc = mutls_x509_pem(&text, c->x); return push_owned(L, rc, text); }
	if (strcmp(k, "not_before") == 0) {
		lm_pushint(L, mutls_x509_not_before(c->x));
		return 1;
	}
	if (strcmp(k, "not_after") == 0) {
		lm_pushint(L, mutls_x509_not_after(c->x));
		return 1;
	}
	if (strcmp(k, "is_ca") == 0) {
		lua_pushboolean(L, mutls_x509_is_ca(c->x));
		return 1;
	}
	if (strcmp(k, "key_type") == 0) {
		lua_pushstring(L, mutls_x509_key_type(c->x));
		return 1;
	}
	if (strcmp(k, "label") == 0) {
		lua_pushstring(L, mutls_x509_label(c->x));
		return 1;
	}
	if (strcmp(k, "der") == 0) {
		const unsigned char *der;
		size_t len;
		mutls_x509_der(&der, &len, c->x);
		lua_pushlstring(L, (const char *)der, len);
		return 1;
	}
	if (strcmp(k, "dns_names") == 0) {
		push_names(L, c->x, MUTLS_SAN_DNS);
		return 1;
	}
	if (strcmp(k, "ip_addresses") == 0) {
		push_names(L, c->x, MUTLS_SAN_IP);
		return 1;
	}
	if (strcmp(k, "uris") == 0) {
		push_names(L, c->x, MUTLS_SAN_URI);
		return 1;
	}
	if (strcmp(k, "emails") == 0) {
		push_names(L, c->x, MUTLS_SAN_EMAIL);
		return 1;
	}
	if (strcmp(k, "key_usage") == 0) {
		push_usages(L, c->x, mutls_x509_key_usage);
		return 1;
	}
	if (strcmp(k, "extended_key_usage") == 0) {
		push_usages(L, c->x, mutls_x509_extended_key_usage);
		return 1;
	}
	lua_pushnil(L);
	return 1;
}

static int cert_tostring(lua_State *L)
{
	lm_cert *c = luaL_checkudata(L, 1, LM_CERT);
	lua_pushfstring(L, "mutls.Certificate: %s", c->x ? mutls_x509_label(c->x) : "(released)");
	return 1;
}

static int cert_eq(lua_State *L)
{
	lm_cert *a = lm_test_cert(L, 1), *b = lm_test_cert(L, 2);
	const unsigned char *da, *db;
	size_t la, lb;
	if (!a || !b) {
		lua_pushboolean(L, 0);
		return 1;
	}
	mutls_x509_der(&da, &la, a->x);
	mutls_x509_der(&db, &lb, b->x);
	lua_pushboolean(L, la == lb && memcmp(da, db, la) == 0);
	return 1;
}

/* ---- constructors ------------------------------------------------------- */

static int push_new_cert(lua_State *L, int rc, mutls_x509 *x)
{
	if (rc < 0)
		return lm_fail_last(L);
	lm_push_cert(L, x);
	mutls_x509_unref(x); /* the userdata holds its own reference */
	return 1;
}

int lm_certificate_new(lua_State *L)
{
	size_t len;
	const char *pem;
	mutls_x509 *x = NULL;
	int rc;
	pem = luaL_checklstring(L, 1, &len);
	if (lm_fail_nul(L, 1, "certificate", LM_SOURCE))
		return 2;
	rc = mutls_x509_from_pem(&x, pem, len);
	return push_new_cert(L, rc, x);
}

int lm_certificate_from_der(lua_State *L)
{
	size_t len;
	const char *der = luaL_checklstring(L, 1, &len);
	mutls_x509 *x = NULL;
	int rc = mutls_x509_from_der(&x, (const unsigned char *)der, len);
	return push_new_cert(L, rc, x);
}

int lm_load_certificate(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	mutls_x509 *x = NULL;
	int rc;
	if (lm_fail_nul(L, 1, "path", LM_TEXT))
		return 2;
	rc = mutls_x509_load(&x, path);
	return push_new_cert(L, rc, x);
}

/* mutls.load_certificates(pem_or_path) -> array of certificates */
int lm_load_certificates(lua_State *L)
{
	size_t len;
	const char *src;
	mutls_x509 **list = NULL;
	size_t count = 0;
	int rc;

	src = luaL_checklstring(L, 1, &len);
	if (lm_fail_nul(L, 1, "certificates", LM_SOURCE))
		return 2;
	/* a path: the core reads the file, and names it only if it reads as one */
	if (!strstr(src, "-----BEGIN"))
		rc = mutls_x509_list_load(&list, &count, src);
	else
		rc = mutls_x509_list_from_pem(&list, &count, src, len);
	if (rc < 0)
		return lm_fail_last(L);
	/* the array is built first so an allocation error cannot leak the list */
	lua_createtable(L, (int)count, 0);
	for (size_t i = 0; i < count; i++) {
		lm_cert *c = lm_newuserdata(L, sizeof(*c));
		c->x = list[i]; /* takes over the reference */
		list[i] = NULL;
		luaL_getmetatable(L, LM_CERT);
		lua_setmetatable(L, -2);
		lua_rawseti(L, -2, (int)i + 1);
	}
	mutls_x509_list_free(list, count);
	return 1;
}

void lm_open_certificate(lua_State *L)
{
	static const luaL_Reg meta[] = {
		{ "__gc", cert_gc },
		{ "__close", cert_gc },
		{ "__tostring", cert_tostring },
		{ "__eq", cert_eq },
		{ NULL, NULL }
	};
	static const luaL_Reg methods[] = {
		{ "fingerprint", cert_fingerprint },
		{ "verify", cert_verify },
		{ NULL, NULL }
	};
	lm_register_class(L, LM_CERT, meta, methods, cert_index);
}
