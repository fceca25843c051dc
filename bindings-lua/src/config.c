/* Config: mutls.config{...}, immutable once made. The user value table of a
 * Config userdata keeps its hook functions: { verify_hook=, trace=, keylog= };
 * the C config's hooks are the trampolines of hooks.c. */
#include "lmutls.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

lm_config *lm_push_new_config(lua_State *L)
{
	lm_config *c = lm_newuserdata(L, sizeof(*c));
	c->cfg = NULL;
	luaL_getmetatable(L, LM_CONFIG);
	lua_setmetatable(L, -2);
	lua_newtable(L);
	lm_setuservalue(L, -2);
	if (mutls_config_new(&c->cfg) < 0)
		luaL_error(L, "mutls.config: %s", mutls_error_message(mutls_error_last()));
	return c;
}

lm_config *lm_check_config(lua_State *L, int idx)
{
	lm_config *c = luaL_checkudata(L, idx, LM_CONFIG);
	if (!c->cfg)
		luaL_argerror(L, idx, "the config was released");
	return c;
}

static int config_gc(lua_State *L)
{
	lm_config *c = luaL_checkudata(L, 1, LM_CONFIG);
	if (c->cfg) {
		mutls_config_unref(c->cfg); /* sessions hold their own references */
		c->cfg = NULL;
	}
	return 0;
}

/* ---- trust, CRL, peers -------------------------------------------------- */

/* Adds every item of the array at idx with add (one level: no nesting). */
static int add_each(lua_State *L, mutls_config *cfg, int idx, const char *what,
	int (*add)(lua_State *, mutls_config *, int))
{
	size_t n = lm_rawlen(L, idx);
	for (size_t i = 1; i <= n; i++) {
		int rc;
		lua_rawgeti(L, idx, (int)i);
		if (lua_istable(L, -1))
			luaL_error(L, "%s: item %d is a table (nested arrays are not allowed)", what, (int)i);
		rc = add(L, cfg, -1);
		lua_pop(L, 1);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int lm_add_trust(lua_State *L, mutls_config *cfg, int idx)
{
	idx = lua_absindex(L, idx);
	switch (lua_type(L, idx)) {
	case LUA_TSTRING: /* slot idx anchors it */
		return mutls_config_add_trust(cfg, lm_tostring_nonul(L, idx, "trust", LM_SOURCE, NULL));
	case LUA_TUSERDATA: {
		lm_cert *c = lm_test_cert(L, idx);
		lm_testca *ca;
		if (c)
			return mutls_config_add_trust_x509(cfg, c->x);
		ca = lm_test_testca(L, idx);
		if (ca)
			return mutls_config_add_trust_x509(cfg, mutls_testca_certificate(ca->ca));
		break;
	}
	case LUA_TTABLE:
		return add_each(L, cfg, idx, "trust", lm_add_trust);
	default:
		break;
	}
	return luaL_error(L, "trust must be PEM text, a path, \"system\", a certificate, a testca "
		"or an array of these, not %s", luaL_typename(L, idx));
}

int lm_add_crl(lua_State *L, mutls_config *cfg, int idx)
{
	idx = lua_absindex(L, idx);
	switch (lua_type(L, idx)) {
	case LUA_TSTRING:
		return mutls_config_add_crl(cfg, lm_tostring_nonul(L, idx, "crl", LM_SOURCE, NULL));
	case LUA_TUSERDATA: {
		lm_testca *ca = lm_test_testca(L, idx);
		if (ca) {
			char *crl = NULL;
			int rc = mutls_testca_crl_pem(&crl, ca->ca);
			if (rc == 0)
				rc = mutls_config_add_crl(cfg, crl);
			mutls_free(crl);
			return rc;
		}
		break;
	}
	case LUA_TTABLE:
		return add_each(L, cfg, idx, "crl", lm_add_crl);
	default:
		break;
	}
	return luaL_error(L, "crl must be PEM text, a path, a testca or an array of these, not %s",
		luaL_typename(L, idx));
}

int lm_add_peers(lua_State *L, mutls_config *cfg, int idx)
{
	lm_cert *c;

	idx = lua_absindex(L, idx);
	switch (lua_type(L, idx)) {
	case LUA_TSTRING: /* slot idx anchors it */
		return mutls_config_add_peer_pattern(cfg, lm_tostring_nonul(L, idx, "peers", LM_TEXT, NULL));
	case LUA_TUSERDATA:
		if ((c = lm_test_cert(L, idx)))
			return mutls_config_add_peer_certificate(cfg, c->x);
		break;
	case LUA_TTABLE:
		return add_each(L, cfg, idx, "peers", lm_add_peers);
	default:
		break;
	}
	return luaL_error(L, "option 'peers' must be a pattern, a certificate or an array of these, not %s",
		luaL_typename(L, idx));
}

/* ---- mutls.config{...} -------------------------------------------------- */

static int config_fail(lua_State *L, const char *extra)
{
	lua_pushnil(L);
	lm_push_error(L, mutls_error_last(), NULL);
	if (extra && extra[0]) {
		lua_getfield(L, -1, "message");
		lua_pushfstring(L, "%s (%s)", lua_tostring(L, -1), extra);
		lua_setfield(L, -3, "message");
		lua_pop(L, 1);
	}
	return 2;
}

/* Runs a setter result: 0 goes on, an error returns nil, err. */
#define TRY(expr) do { if ((rc = (expr)) < 0) return config_fail(L, NULL); } while (0)

/* Pushes opts[key] read raw (no metamethod runs) and returns its slot, or
 * 0 (nothing pushed) for nil. */
static int get_field(lua_State *L, int opts, const char *key)
{
	if (lm_rawgetfield(L, opts, key) == LUA_TNIL) {
		lua_pop(L, 1);
		return 0;
	}
	return lua_gettop(L);
}

/* A count at idx: raises unless it is a number; 0 when it is not a whole
 * number from 0 up that fits (a value error), else 1 and *out. */
static int entries_field(lua_State *L, int idx, const char *what, size_t *out)
{
	lua_Number n;

	if (lua_type(L, idx) != LUA_TNUMBER)
		luaL_error(L, "option '%s' must be a number of entries, not %s", what,
			luaL_typename(L, idx));
	n = lua_tonumber(L, idx);
	if (!(n >= 0) || (n < 9007199254740992.0 && n != (lua_Number)(long long)n))
		return 0;
	/* too large: the core's limit says so */
	*out = n < 9007199254740992.0 ? (size_t)n : (size_t)-1;
	return 1;
}

static void check_function(lua_State *L, int idx, const char *what)
{
	if (lua_type(L, idx) != LUA_TFUNCTION)
		luaL_error(L, "option '%s' must be a function, not %s", what, luaL_typename(L, idx));
}

/* handshake_timeout: seconds above 0, or false for no limit (nil is "not
 * given": the default, 30 s). */
static int handshake_timeout_ms(lua_State *L, int idx)
{
	lua_Number secs;

	if (lua_type(L, idx) == LUA_TBOOLEAN && !lua_toboolean(L, idx))
		return 0;
	if (lua_type(L, idx) != LUA_TNUMBER)
		luaL_error(L, "option 'handshake_timeout' must be seconds (a number) or false "
			"(no limit), not %s", luaL_typename(L, idx));
	secs = lua_tonumber(L, idx);
	if (!(secs > 0) || secs * 1000.0 >= (lua_Number)INT_MAX)
		luaL_error(L, "option 'handshake_timeout' must be a number of seconds above 0 and "
			"below %d (or false for no limit), not %f", INT_MAX / 1000, secs);
	return (int)ceil(secs * 1000.0);
}

int lm_config_new(lua_State *L)
{
	static const char *const allowed[] = { "certificate", "private_key", "password",
		"identity", "trust", "crl", "peer_certificate", "check_hostname", "peers",
		"verify_hook", "versions", "priority", "alpn", "session_tickets", "keylog",
		"trace", "keylog_env", "session_cache", "send_ca_names", "handshake_timeout",
		"verify_time", "profile", "max_chain_depth", NULL };
	lm_config *c;
	int opts = 1, cfg_index, hooks, v, rc;
	const char *cert, *key, *mode;
	password_ctx pctx;

	if (lua_isnoneornil(L, 1)) {
		lua_settop(L, 0);
		lua_newtable(L);
	}
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	lm_check_options(L, opts, "mutls.config", allowed);
	if (lm_options_nonul(L, opts))
		return 2;

	c = lm_push_new_config(L);
	cfg_index = lua_gettop(L);
	lm_getuservalue(L, cfg_index);
	hooks = lua_gettop(L);

	/* own identity; cert and key stay in their stack slots while the
	 * password function runs */
	cert = lm_optsource_field(L, opts, "certificate");
	key = lm_optsource_field(L, opts, "private_key");
	memset(&pctx, 0, sizeof(pctx));
	if ((v = get_field(L, opts, "identity"))) {
		lm_identity *id = lm_test_identity(L, v);
		if (!id)
			return luaL_error(L, "option 'identity' must be an identity (from ca:issue), not %s",
				luaL_typename(L, v));
		if (cert || key)
			return luaL_error(L, "mutls.config: give either 'identity' or 'certificate' and 'private_key', not both");
		TRY(mutls_config_set_identity_object(c->cfg, id->id));
		lua_pop(L, 1);
	} else if (cert || key) {
		const char *password = NULL;
		if (!cert)
			return luaL_error(L, "mutls.config: 'private_key' needs 'certificate'");
		/* no private_key: the core looks for it in the certificate's PEM */
		if ((v = get_field(L, opts, "password"))) {
			if (lua_type(L, v) == LUA_TSTRING) {
				password = lm_tostring_nonul(L, v, "password", LM_TEXT, NULL);
			} else if (lua_type(L, v) == LUA_TFUNCTION) {
				pctx.L = L;
				pctx.fn_index = v;
				TRY(mutls_config_set_password_callback(c->cfg, lm_password_trampoline, &pctx));
			} else {
				return luaL_error(L, "option 'password' must be a string or a function, not %s",
					luaL_typename(L, v));
			}
		}
		rc = mutls_config_set_identity(c->cfg, cert, key, password);
		/* the callback's context lives on this C stack: unhook it */
		mutls_config_set_password_callback(c->cfg, NULL, NULL);
		if (rc < 0)
			return config_fail(L, pctx.error);
		if (v)
			lua_pop(L, 1);
	} else if ((v = get_field(L, opts, "password"))) {
		return luaL_error(L, "mutls.config: 'password' needs 'certificate' and 'private_key'");
	}

	/* before trust and crl: a CRL's dates are then checked at the clock's time */
	if (lm_rawgetfield(L, opts, "verify_time") != LUA_TNIL) {
		if (lua_type(L, -1) == LUA_TFUNCTION) {
			lua_pushvalue(L, -1);
			lua_setfield(L, hooks, "verify_time");
			TRY(mutls_config_set_verify_clock(c->cfg, lm_clock_trampoline, NULL, NULL));
		} else if (lua_type(L, -1) == LUA_TNUMBER) {
			TRY(mutls_config_set_verify_time(c->cfg, (int64_t)floor(lua_tonumber(L, -1))));
		} else {
			luaL_error(L, "option 'verify_time' must be seconds since the epoch (a number) "
				"or a function returning them, not %s", luaL_typename(L, -1));
		}
	}
	lua_pop(L, 1);
	if ((v = get_field(L, opts, "trust"))) {
		TRY(lm_add_trust(L, c->cfg, v));
		lua_pop(L, 1);
	}
	if ((v = get_field(L, opts, "crl"))) {
		TRY(lm_add_crl(L, c->cfg, v));
		lua_pop(L, 1);
	}
	if ((mode = lm_optstring_field(L, opts, "peer_certificate"))) {
		mutls_peer_mode m;
		TRY(mutls_peer_mode_from_name(&m, mode));
		TRY(mutls_config_set_peer_certificate(c->cfg, m));
	}
	if (lm_rawgetfield(L, opts, "check_hostname") != LUA_TNIL)
		TRY(mutls_config_set_check_hostname(c->cfg, lm_optbool_field(L, opts, "check_hostname", 1)));
	lua_pop(L, 1);
	if ((v = get_field(L, opts, "peers"))) {
		TRY(lm_add_peers(L, c->cfg, v));
		lua_pop(L, 1);
	}
	if ((v = get_field(L, opts, "versions"))) {
		size_t n;
		const char **list = lm_string_list(L, v, "versions", &n);
		TRY(mutls_config_set_versions(c->cfg, list, n));
		lua_pop(L, 2);
	}
	{
		const char *prio = lm_optstring_field(L, opts, "priority");
		if (prio)
			TRY(mutls_config_set_priority(c->cfg, prio));
	}
	if ((v = get_field(L, opts, "alpn"))) {
		size_t n;
		const char **list = lm_string_list(L, v, "alpn", &n);
		TRY(mutls_config_set_alpn(c->cfg, list, n));
		lua_pop(L, 2);
	}
	if (lm_rawgetfield(L, opts, "handshake_timeout") != LUA_TNIL)
		TRY(mutls_config_set_handshake_timeout(c->cfg, handshake_timeout_ms(L, -1)));
	lua_pop(L, 1);
	if (lm_rawgetfield(L, opts, "session_tickets") != LUA_TNIL)
		TRY(mutls_config_set_session_tickets(c->cfg, lm_optbool_field(L, opts, "session_tickets", 1)));
	lua_pop(L, 1);
	if ((v = get_field(L, opts, "session_cache"))) {
		size_t entries;
		if (!entries_field(L, v, "session_cache", &entries)) {
			lua_pushnil(L);
			lm_push_error_made(L, MUTLS_ECONFIG, MUTLS_SIDE_NONE, MUTLS_STEP_NONE,
				"session_cache: expected a whole number of entries from 0 up (0 turns the cache off)");
			return 2;
		}
		TRY(mutls_config_set_session_cache(c->cfg, entries));
		lua_pop(L, 1);
	}
	if (lm_rawgetfield(L, opts, "send_ca_names") != LUA_TNIL)
		TRY(mutls_config_set_send_ca_names(c->cfg, lm_optbool_field(L, opts, "send_ca_names", 1)));
	lua_pop(L, 1);

	if ((v = get_field(L, opts, "keylog"))) {
		if (lua_type(L, v) == LUA_TSTRING) {
			TRY(mutls_config_set_keylog_file(c->cfg, lm_tostring_nonul(L, v, "keylog", LM_TEXT, NULL)));
		} else {
			check_function(L, v, "keylog (a path or a function)");
			lua_pushvalue(L, v);
			lua_setfield(L, hooks, "keylog");
			TRY(mutls_config_set_keylog_hook(c->cfg, lm_keylog_trampoline, NULL, NULL));
		}
		lua_pop(L, 1);
	}
	/* after keylog: an explicit keylog wins over SSLKEYLOGFILE */
	if (lm_rawgetfield(L, opts, "keylog_env") != LUA_TNIL)
		TRY(mutls_config_set_keylog_env(c->cfg, lm_optbool_field(L, opts, "keylog_env", 0)));
	lua_pop(L, 1);
	if ((v = get_field(L, opts, "trace"))) {
		check_function(L, v, "trace");
		lua_pushvalue(L, v);
		lua_setfield(L, hooks, "trace");
		TRY(mutls_config_set_trace_hook(c->cfg, lm_trace_trampoline, NULL, NULL));
		lua_pop(L, 1);
	}
	if (lm_rawgetfield(L, opts, "profile") != LUA_TNIL) {
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "option 'profile' must be \"default\" or \"strict\", not %s",
				luaL_typename(L, -1));
		TRY(mutls_config_set_profile(c->cfg, lua_tostring(L, -1)));
	}
	lua_pop(L, 1);
	if (lm_rawgetfield(L, opts, "max_chain_depth") != LUA_TNIL) {
		if (lua_type(L, -1) != LUA_TNUMBER || lua_tonumber(L, -1) < 0 || lua_tonumber(L, -1) > 64)
			luaL_error(L, "option 'max_chain_depth' must be a number from 0 to 64");
		TRY(mutls_config_set_max_chain_depth(c->cfg, (int)lua_tonumber(L, -1)));
	}
	lua_pop(L, 1);
	if ((v = get_field(L, opts, "verify_hook"))) {
		check_function(L, v, "verify_hook");
		lua_pushvalue(L, v);
		lua_setfield(L, hooks, "verify_hook");
		TRY(mutls_config_set_verify_hook(c->cfg, lm_verify_trampoline, NULL, NULL));
		lua_pop(L, 1);
	}
	(void)rc;
	lua_settop(L, cfg_index);
	return 1;
}

#undef TRY

/* ---- methods and fields ------------------------------------------------- */

static int config_client(lua_State *L)
{
	lm_config *c = lm_check_config(L, 1);
	if (!lua_isnoneornil(L, 2))
		luaL_checktype(L, 2, LUA_TTABLE);
	return lm_session_new(L, c, 1, 0, lua_isnoneornil(L, 2) ? 0 : 2);
}

static int config_check_peer(lua_State *L)
{
	lm_config *c = lm_check_config(L, 1);
	lua_settop(L, 2);
	return lm_session_check_peer(L, c, 1, 2);
}

static int config_server(lua_State *L)
{
	lm_config *c = lm_check_config(L, 1);
	if (!lua_isnoneornil(L, 2))
		luaL_checktype(L, 2, LUA_TTABLE);
	return lm_session_new(L, c, 1, 1, lua_isnoneornil(L, 2) ? 0 : 2);
}

static int config_index(lua_State *L)
{
	lm_config *c = luaL_checkudata(L, 1, LM_CONFIG);
	const char *k = luaL_checkstring(L, 2);

	if (lm_index_method(L))
		return 1;
	if (!c->cfg) {
		lua_pushnil(L);
		return 1;
	}
	if (strcmp(k, "peer_certificate") == 0) {
		lua_pushstring(L, mutls_peer_mode_name(mutls_config_peer_certificate(c->cfg)));
		return 1;
	}
	if (strcmp(k, "handshake_timeout") == 0) {
		int ms = mutls_config_handshake_timeout(c->cfg);
		if (ms > 0)
			lua_pushnumber(L, ms / 1000.0);
		else
			lua_pushboolean(L, 0);
		return 1;
	}
	if (strcmp(k, "has_identity") == 0) {
		lua_pushboolean(L, mutls_config_has_identity(c->cfg));
		return 1;
	}
	if (strcmp(k, "verify_hook") == 0 || strcmp(k, "trace") == 0 || strcmp(k, "keylog") == 0) {
		lm_getuservalue(L, 1);
		lua_getfield(L, -1, k);
		return 1;
	}
	lua_pushnil(L);
	return 1;
}

static int config_tostring(lua_State *L)
{
	lm_config *c = luaL_checkudata(L, 1, LM_CONFIG);
	lua_pushfstring(L, "mutls.Config: %p", (void *)c->cfg);
	return 1;
}

void lm_open_config(lua_State *L)
{
	static const luaL_Reg meta[] = {
		{ "__gc", config_gc },
		{ "__close", config_gc },
		{ "__tostring", config_tostring },
		{ NULL, NULL }
	};
	static const luaL_Reg methods[] = {
		{ "client", config_client },
		{ "server", config_server },
		{ "check_peer", config_check_peer },
		{ NULL, NULL }
	};
	lm_register_class(L, LM_CONFIG, meta, methods, config_index);
}
