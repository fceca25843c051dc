/* TestCA and Identity: the test PKI of the C core. Times given to Lua are
 * seconds relative to now (negative = in the past). */
#include "lmutls.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

lm_testca *lm_test_testca(lua_State *L, int idx)
{
	lm_testca *ca = luaL_testudata(L, idx, LM_TESTCA);
	return ca && ca->ca ? ca : NULL;
}

lm_identity *lm_test_identity(lua_State *L, int idx)
{
	lm_identity *id = luaL_testudata(L, idx, LM_IDENTITY);
	return id && id->id ? id : NULL;
}

static lm_testca *check_testca(lua_State *L, int idx)
{
	lm_testca *ca = luaL_checkudata(L, idx, LM_TESTCA);
	if (!ca->ca)
		luaL_argerror(L, idx, "the test CA was released");
	return ca;
}

static lm_identity *check_identity(lua_State *L, int idx)
{
	lm_identity *id = luaL_checkudata(L, idx, LM_IDENTITY);
	if (!id->id)
		luaL_argerror(L, idx, "the identity was released");
	return id;
}

static int testca_gc(lua_State *L)
{
	lm_testca *ca = luaL_checkudata(L, 1, LM_TESTCA);
	if (ca->ca) {
		mutls_testca_free(ca->ca);
		ca->ca = NULL;
	}
	return 0;
}

static int identity_gc(lua_State *L)
{
	lm_identity *id = luaL_checkudata(L, 1, LM_IDENTITY);
	if (id->id) {
		mutls_identity_free(id->id);
		id->id = NULL;
	}
	return 0;
}

static lm_testca *push_testca(lua_State *L)
{
	lm_testca *ca = lm_newuserdata(L, sizeof(*ca));
	ca->ca = NULL;
	luaL_getmetatable(L, LM_TESTCA);
	lua_setmetatable(L, -2);
	return ca;
}

static lm_identity *push_identity(lua_State *L)
{
	lm_identity *id = lm_newuserdata(L, sizeof(*id));
	id->id = NULL;
	luaL_getmetatable(L, LM_IDENTITY);
	lua_setmetatable(L, -2);
	return id;
}

/* A relative time field (seconds from now) as unix time, or UNSET. */
static int64_t opt_time(lua_State *L, int opts, const char *key)
{
	int64_t t = MUTLS_TIME_UNSET;
	if (lm_rawgetfield(L, opts, key) == LUA_TNUMBER)
		t = (int64_t)time(NULL) + (int64_t)lua_tonumber(L, -1);
	else if (!lua_isnil(L, -1))
		luaL_error(L, "option '%s' must be a number of seconds from now, not %s", key,
			luaL_typename(L, -1));
	lua_pop(L, 1);
	return t;
}

static mutls_key_type opt_key_type(lua_State *L, int opts)
{
	mutls_key_type kt = MUTLS_KEY_P256;
	const char *name = lm_optstring_field(L, opts, "key_type");
	if (name && mutls_key_type_from_name(&kt, name) < 0)
		luaL_error(L, "option 'key_type': %s", mutls_error_message(mutls_error_last()));
	lua_pop(L, 1);
	return kt;
}

static const char *const *opt_list(lua_State *L, int opts, const char *key, size_t *count);

/* path_length: nil (no limit) or an integer 0..1000 */
static int opt_path_length(lua_State *L, int opts)
{
	lua_Number v;
	lua_getfield(L, opts, "path_length");
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		return -1;
	}
	if (lua_type(L, -1) != LUA_TNUMBER)
		luaL_error(L, "option 'path_length' must be an integer, not %s", luaL_typename(L, -1));
	v = lua_tonumber(L, -1);
	lua_pop(L, 1);
	if (v != (lua_Number)(int)v || v < 0 || v > 1000)
		luaL_error(L, "option 'path_length' must be an integer from 0 to 1000");
	return (int)v;
}

static void ca_options(lua_State *L, int opts, mutls_testca_options *o, int intermediate)
{
	static const char *const allowed[] = { "name", "key_type", "not_before", "not_after",
		"not_ca", "path_length", "permitted_dns", NULL };
	lm_check_options(L, opts, intermediate ? "ca:intermediate" : "mutls.testca", allowed);
	o->name = lm_optstring_field(L, opts, "name"); /* left on the stack: it anchors o->name */
	o->key_type = opt_key_type(L, opts);
	o->not_before = opt_time(L, opts, "not_before");
	o->not_after = opt_time(L, opts, "not_after");
	if (lm_optbool_field(L, opts, "not_ca", 0))
		o->flags |= MUTLS_CA_NOT_A_CA;
	o->path_length = opt_path_length(L, opts);
	o->permitted_dns = opt_list(L, opts, "permitted_dns", &o->permitted_dns_count);
}

/* mutls.testca{ name=, key_type=, not_before=, not_after= } */
int lm_testca_new(lua_State *L)
{
	mutls_testca_options o = MUTLS_TESTCA_OPTIONS_INIT;
	lm_testca *ca;

	if (lua_isnoneornil(L, 1)) {
		lua_settop(L, 0);
		lua_newtable(L);
	}
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	if (lm_options_nonul(L, 1))
		return 2;
	ca_options(L, 1, &o, 0);
	ca = push_testca(L);
	if (mutls_testca_new(&ca->ca, &o) < 0) {
		ca->ca = NULL;
		return lm_fail_last(L);
	}
	return 1;
}

/* mutls.load_testca(certificate, private_key [, password]): an existing CA
 * (PEM text or file paths), to issue more leaves. */
int lm_testca_load(lua_State *L)
{
	const char *cert = luaL_checkstring(L, 1);
	const char *key = luaL_checkstring(L, 2);
	const char *password = luaL_optstring(L, 3, NULL);
	lm_testca *ca;

	lua_settop(L, 3); /* the strings stay anchored until the call returns */
	ca = push_testca(L);
	if (mutls_testca_load(&ca->ca, cert, key, password) < 0) {
		ca->ca = NULL;
		return lm_fail_last(L);
	}
	return 1;
}

static int testca_intermediate(lua_State *L)
{
	lm_testca *parent = check_testca(L, 1);
	mutls_testca_options o = MUTLS_TESTCA_OPTIONS_INIT;
	lm_testca *ca;

	if (lua_isnoneornil(L, 2)) {
		lua_settop(L, 1);
		lua_newtable(L);
	}
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	if (lm_options_nonul(L, 2))
		return 2;
	ca_options(L, 2, &o, 1);
	ca = push_testca(L);
	if (mutls_testca_intermediate(&ca->ca, parent->ca, &o) < 0) {
		ca->ca = NULL;
		return lm_fail_last(L);
	}
	return 1;
}

static const char *const *opt_list(lua_State *L, int opts, const char *key, size_t *count)
{
	const char **list;
	*count = 0;
	if (lm_rawgetfield(L, opts, key) == LUA_TNIL) {
		lua_pop(L, 1);
		return NULL;
	}
	list = lm_string_list(L, -1, key, count);
	/* leave the table and the list on the stack: they keep the strings */
	return list;
}

/* ca:issue{ cn=, dns=, ip=, uri=, email=, not_before=, not_after=, key_type=,
 *           purpose=, bad_key_usage= } */
static int testca_issue(lua_State *L)
{
	static const char *const allowed[] = { "cn", "dns", "ip", "uri", "email",
		"not_before", "not_after", "key_type", "purpose", "bad_key_usage", NULL };
	lm_testca *ca = check_testca(L, 1);
	mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
	const char *purpose;
	lm_identity *id;

	if (lua_isnoneornil(L, 2)) {
		lua_settop(L, 1);
		lua_newtable(L);
	}
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	lm_check_options(L, 2, "ca:issue", allowed);
	if (lm_options_nonul(L, 2))
		return 2;
	/* every string stays on the stack until mutls_testca_issue returns */
	o.cn = lm_optstring_field(L, 2, "cn");
	o.dns = opt_list(L, 2, "dns", &o.dns_count);
	o.ip = opt_list(L, 2, "ip", &o.ip_count);
	o.uri = opt_list(L, 2, "uri", &o.uri_count);
	o.email = opt_list(L, 2, "email", &o.email_count);
	o.not_before = opt_time(L, 2, "not_before");
	o.not_after = opt_time(L, 2, "not_after");
	o.key_type = opt_key_type(L, 2);
	purpose = lm_optstring_field(L, 2, "purpose");
	if (purpose) {
		if (mutls_purpose_from_name(&o.purpose, purpose) < 0)
			return luaL_error(L, "%s", mutls_error_message(mutls_error_last()));
	}
	if (lm_optbool_field(L, 2, "bad_key_usage", 0))
		o.flags |= MUTLS_ISSUE_BAD_KEY_USAGE;
	id = push_identity(L);
	if (mutls_testca_issue(&id->id, ca->ca, &o) < 0) {
		id->id = NULL;
		return lm_fail_last(L);
	}
	return 1;
}

/* ca:revoke(identity or certificate) */
static int testca_revoke(lua_State *L)
{
	lm_testca *ca = check_testca(L, 1);
	lm_identity *id = lm_test_identity(L, 2);
	lm_cert *c = id ? NULL : lm_test_cert(L, 2);
	const mutls_x509 *x;

	if (!id && !c)
		return luaL_argerror(L, 2, "an identity or a certificate");
	x = id ? mutls_identity_certificate(id->id) : c->x;
	if (mutls_testca_revoke(ca->ca, x) < 0)
		return lm_fail_last(L);
	lua_pushboolean(L, 1);
	return 1;
}

static int testca_index(lua_State *L)
{
	lm_testca *ca = luaL_checkudata(L, 1, LM_TESTCA);
	const char *k = luaL_checkstring(L, 2);

	if (lm_index_method(L))
		return 1;
	if (!ca->ca) {
		lua_pushnil(L);
		return 1;
	}
	if (strcmp(k, "certificate") == 0) {
		lm_push_cert(L, mutls_testca_certificate(ca->ca));
		return 1;
	}
	if (strcmp(k, "cert_pem") == 0) {
		lua_pushstring(L, mutls_testca_cert_pem(ca->ca));
		return 1;
	}
	if (strcmp(k, "key_pem") == 0) {
		lua_pushstring(L, mutls_testca_key_pem(ca->ca));
		return 1;
	}
	if (strcmp(k, "crl_pem") == 0) {
		char *crl = NULL;
		if (mutls_testca_crl_pem(&crl, ca->ca) < 0)
			return luaL_error(L, "crl_pem: %s", mutls_error_message(mutls_error_last()));
		lua_pushstring(L, crl);
		mutls_free(crl);
		return 1;
	}
	lua_pushnil(L);
	return 1;
}

/* ---- Identity ----------------------------------------------------------- */

static int identity_encrypted_key_pem(lua_State *L)
{
	lm_identity *id = check_identity(L, 1);
	const char *password = luaL_checkstring(L, 2);
	char *pem = NULL;
	if (lm_fail_nul(L, 2, "password", LM_TEXT))
		return 2;
	if (mutls_identity_encrypted_key_pem(&pem, id->id, password) < 0)
		return lm_fail_last(L);
	lua_pushstring(L, pem);
	mutls_wipe(pem, strlen(pem)); /* the C-side copy of the key */
	mutls_free(pem);
	return 1;
}

static int identity_write_to(lua_State *L)
{
	lm_identity *id = check_identity(L, 1);
	const char *dir = luaL_checkstring(L, 2);
	if (lm_fail_nul(L, 2, "directory", LM_TEXT))
		return 2;
	if (mutls_identity_write_to(id->id, dir) < 0)
		return lm_fail_last(L);
	lua_createtable(L, 0, 3);
	lua_pushfstring(L, "%s/cert.pem", dir);
	lua_setfield(L, -2, "cert");
	lua_pushfstring(L, "%s/chain.pem", dir);
	lua_setfield(L, -2, "chain");
	lua_pushfstring(L, "%s/key.pem", dir);
	lua_setfield(L, -2, "key");
	return 1;
}

static int identity_index(lua_State *L)
{
	lm_identity *id = luaL_checkudata(L, 1, LM_IDENTITY);
	const char *k = luaL_checkstring(L, 2);

	if (lm_index_method(L))
		return 1;
	if (!id->id) {
		lua_pushnil(L);
		return 1;
	}
	if (strcmp(k, "certificate") == 0) {
		lm_push_cert(L, mutls_identity_certificate(id->id));
		return 1;
	}
	if (strcmp(k, "chain") == 0) {
		size_t n = mutls_identity_chain_length(id->id);
		lua_createtable(L, (int)n, 0);
		for (size_t i = 0; i < n; i++) {
			lm_push_cert(L, mutls_identity_chain_at(id->id, i));
			lua_rawseti(L, -2, (int)i + 1);
		}
		return 1;
	}
	if (strcmp(k, "cert_pem") == 0) {
		lua_pushstring(L, mutls_identity_cert_pem(id->id));
		return 1;
	}
	if (strcmp(k, "chain_pem") == 0) {
		lua_pushstring(L, mutls_identity_chain_pem(id->id));
		return 1;
	}
	if (strcmp(k, "key_pem") == 0) {
		lua_pushstring(L, mutls_identity_key_pem(id->id));
		return 1;
	}
	lua_pushnil(L);
	return 1;
}

static int testca_tostring(lua_State *L)
{
	lm_testca *ca = luaL_checkudata(L, 1, LM_TESTCA);
	lua_pushfstring(L, "mutls.TestCA: %s",
		ca->ca ? mutls_x509_label(mutls_testca_certificate(ca->ca)) : "(released)");
	return 1;
}

static int identity_tostring(lua_State *L)
{
	lm_identity *id = luaL_checkudata(L, 1, LM_IDENTITY);
	lua_pushfstring(L, "mutls.Identity: %s",
		id->id ? mutls_x509_label(mutls_identity_certificate(id->id)) : "(released)");
	return 1;
}

void lm_open_testca(lua_State *L)
{
	static const luaL_Reg ca_meta[] = {
		{ "__gc", testca_gc },
		{ "__close", testca_gc },
		{ "__tostring", testca_tostring },
		{ NULL, NULL }
	};
	static const luaL_Reg ca_methods[] = {
		{ "issue", testca_issue },
		{ "intermediate", testca_intermediate },
		{ "revoke", testca_revoke },
		{ NULL, NULL }
	};
	static const luaL_Reg id_meta[] = {
		{ "__gc", identity_gc },
		{ "__close", identity_gc },
		{ "__tostring", identity_tostring },
		{ NULL, NULL }
	};
	static const luaL_Reg id_methods[] = {
		{ "encrypted_key_pem", identity_encrypted_key_pem },
		{ "write_to", identity_write_to },
		{ NULL, NULL }
	};
	lm_register_class(L, LM_TESTCA, ca_meta, ca_methods, testca_index);
	lm_register_class(L, LM_IDENTITY, id_meta, id_methods, identity_index);
}
