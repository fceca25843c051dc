/* luaopen_mutls: the module table, shared helpers, and the protected call
 * every Lua hook runs under. */
#include "lmutls.h"

#include <stdio.h>
#include <string.h>

#if defined(__GNUC__)
#define LM_EXPORT __attribute__((visibility("default")))
#else
#define LM_EXPORT
#endif

/* ---- small helpers -------------------------------------------------------- */

void lm_pushint(lua_State *L, long long v)
{
#if LM_HAVE_INTEGERS
	lua_pushinteger(L, (lua_Integer)v);
#else
	lua_pushnumber(L, (lua_Number)v);
#endif
}

void lm_register_class(lua_State *L, const char *tname, const luaL_Reg *meta,
	const luaL_Reg *methods, lua_CFunction index)
{
	luaL_newmetatable(L, tname);
	luaL_setfuncs(L, meta, 0);
	lua_newtable(L);
	luaL_setfuncs(L, methods, 0);
	lua_pushcclosure(L, index, 1);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
}

int lm_index_method(lua_State *L)
{
	lua_pushvalue(L, 2);
	lua_rawget(L, lua_upvalueindex(1));
	if (!lua_isnil(L, -1))
		return 1;
	lua_pop(L, 1);
	return 0;
}

const char *lm_optstring_field(lua_State *L, int idx, const char *key)
{
	const char *s = NULL;
	idx = lua_absindex(L, idx);
	lua_getfield(L, idx, key);
	if (lua_type(L, -1) == LUA_TSTRING)
		s = lua_tostring(L, -1); /* kept alive by the options table */
	else if (!lua_isnil(L, -1))
		luaL_error(L, "option '%s' must be a string, not %s", key, luaL_typename(L, -1));
	lua_pop(L, 1);
	return s;
}

int lm_optbool_field(lua_State *L, int idx, const char *key, int def)
{
	int v = def;
	idx = lua_absindex(L, idx);
	lua_getfield(L, idx, key);
	if (lua_type(L, -1) == LUA_TBOOLEAN)
		v = lua_toboolean(L, -1);
	else if (!lua_isnil(L, -1))
		luaL_error(L, "option '%s' must be a boolean, not %s", key, luaL_typename(L, -1));
	lua_pop(L, 1);
	return v;
}

void lm_check_options(lua_State *L, int idx, const char *what, const char *const *allowed)
{
	idx = lua_absindex(L, idx);
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		int known = 0;
		if (lua_type(L, -2) == LUA_TSTRING) {
			const char *k = lua_tostring(L, -2);
			for (const char *const *a = allowed; *a; a++)
				if (strcmp(k, *a) == 0)
					known = 1;
			if (!known)
				luaL_error(L, "%s: unknown option '%s'", what, k);
		} else {
			luaL_error(L, "%s: options are named (got a %s key)", what, luaL_typename(L, -2));
		}
		lua_pop(L, 1);
	}
}

const char **lm_string_list(lua_State *L, int idx, const char *what, size_t *count)
{
	const char **list;
	size_t n;

	idx = lua_absindex(L, idx);
	if (lua_type(L, idx) == LUA_TSTRING) {
		list = lm_newuserdata(L, sizeof(*list));
		list[0] = lua_tostring(L, idx);
		*count = 1;
		return list;
	}
	if (!lua_istable(L, idx))
		luaL_error(L, "option '%s' must be a string or an array of strings, not %s",
			what, luaL_typename(L, idx));
	n = lm_rawlen(L, idx);
	list = lm_newuserdata(L, (n ? n : 1) * sizeof(*list));
	for (size_t i = 0; i < n; i++) {
		lua_rawgeti(L, idx, (int)i + 1);
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "option '%s': item %d must be a string, not %s", what,
				(int)i + 1, luaL_typename(L, -1));
		list[i] = lua_tostring(L, -1); /* kept alive by the table */
		lua_pop(L, 1);
	}
	*count = n;
	return list;
}

/* ---- protected calls for hooks ------------------------------------------ */

/*
 * Hooks are called from inside the C core (and GnuTLS). Nothing may raise
 * there, so the whole call, including building the arguments, happens inside
 * lua_pcall. The two C functions involved are made once and kept in the
 * registry under light-userdata keys: fetching them allocates nothing (on
 * LuaJIT lua_pushcfunction would allocate a closure outside protection).
 */
static char key_entry, key_msgh;

typedef struct {
	lua_CFunction fn;
	void *ctx;
} protected_call;

/* Turns any error value into a string. */
static int hook_msgh(lua_State *L)
{
	if (lua_type(L, 1) == LUA_TSTRING)
		return 1;
	if (lua_type(L, 1) == LUA_TNUMBER) {
		lua_tostring(L, 1);
		return 1;
	}
	if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
		return 1;
	lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
	return 1;
}

/* arg 1: the value given to lm_run_protected; arg 2: the protected_call. */
static int hook_entry(lua_State *L)
{
	protected_call *pc = lua_touserdata(L, 2);
	lua_pushlightuserdata(L, pc->ctx);
	lua_replace(L, 2);
	return pc->fn(L);
}

int lm_run_protected(lua_State *L, int value_index, lua_CFunction fn, void *ctx,
	char *msg, size_t cap)
{
	protected_call pc;
	int top, rc;

	pc.fn = fn;
	pc.ctx = ctx;
	if (!lua_checkstack(L, 8)) {
		if (msg && cap)
			snprintf(msg, cap, "Lua stack overflow");
		return -1;
	}
	top = lua_gettop(L);
	value_index = lua_absindex(L, value_index);
	lua_pushlightuserdata(L, &key_msgh);
	lua_rawget(L, LUA_REGISTRYINDEX);
	lua_pushlightuserdata(L, &key_entry);
	lua_rawget(L, LUA_REGISTRYINDEX);
	if (lua_type(L, -1) != LUA_TFUNCTION || lua_type(L, -2) != LUA_TFUNCTION) {
		lua_settop(L, top);
		if (msg && cap)
			snprintf(msg, cap, "mutls: module not initialised in this Lua state");
		return -1;
	}
	lua_pushvalue(L, value_index);
	lua_pushlightuserdata(L, &pc);
	rc = lua_pcall(L, 2, 0, top + 1);
	if (rc != 0) {
		const char *text = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
		if (msg && cap)
			snprintf(msg, cap, "%s", text ? text : "error in a hook");
	}
	lua_settop(L, top);
	return rc == 0 ? 0 : -1;
}

/* ---- module --------------------------------------------------------------- */

LM_EXPORT int luaopen_mutls(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{ "config", lm_config_new },
		{ "certificate", lm_certificate_new },
		{ "certificate_from_der", lm_certificate_from_der },
		{ "load_certificate", lm_load_certificate },
		{ "load_certificates", lm_load_certificates },
		{ "testca", lm_testca_new },
		{ "load_testca", lm_testca_load },
		{ NULL, NULL }
	};

	lua_pushlightuserdata(L, &key_msgh);
	lua_pushcfunction(L, hook_msgh);
	lua_rawset(L, LUA_REGISTRYINDEX);
	lua_pushlightuserdata(L, &key_entry);
	lua_pushcfunction(L, hook_entry);
	lua_rawset(L, LUA_REGISTRYINDEX);

	lua_newtable(L);
	luaL_setfuncs(L, funcs, 0);
	lua_pushliteral(L, MUTLS_VERSION);
	lua_setfield(L, -2, "version");
#if LUA_VERSION_NUM >= 504
	lua_pushliteral(L, "5.4");
#else
	lua_pushliteral(L, "jit");
#endif
	lua_setfield(L, -2, "abi");

	lm_open_errors(L);
	lm_open_certificate(L);
	lm_open_config(L);
	lm_open_session(L);
	lm_open_testca(L);
	return 1;
}
