/* Conversion helpers shared by the binding's files: integers, class
 * registration, method lookup, and the strings that go into C (checked for
 * NUL bytes, options, string lists). */
#include "lmutls.h"

#include <stdio.h>
#include <string.h>

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

/* ---- strings that go into C ---------------------------------------------- */

/* Pushes the message for a string `what` (item > 0: of an array) with a NUL. */
static const char *push_nul_message(lua_State *L, const char *what, int kind, int item)
{
	const char *nul = kind == LM_SOURCE ? "NUL byte (binary DER data? give PEM text or a path)"
	                                    : "NUL character";
	if (item > 0)
		return lua_pushfstring(L, "%s: item %d contains a %s", what, item, nul);
	return lua_pushfstring(L, "%s: the value contains a %s", what, nul);
}

static int has_nul(lua_State *L, int idx)
{
	size_t n = 0;
	const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &n) : NULL;
	return s && memchr(s, '\0', n) != NULL;
}

/* nil, err (code "config") for a string with a NUL: 2, or 0 when none. */
static int fail_nul(lua_State *L, int idx, const char *what, int kind, int item)
{
	const char *msg;
	idx = lua_absindex(L, idx);
	if (!has_nul(L, idx))
		return 0;
	luaL_checkstack(L, 4, NULL);
	msg = push_nul_message(L, what, kind, item);
	lua_pushnil(L);
	lm_push_error_made(L, MUTLS_ECONFIG, MUTLS_SIDE_NONE, MUTLS_STEP_NONE, msg);
	lua_remove(L, -3);
	return 2;
}

int lm_fail_nul(lua_State *L, int idx, const char *what, int kind)
{
	return fail_nul(L, idx, what, kind, 0);
}

/* Options holding PEM text or a path, and binary ones (NULs are data). */
static int option_kind(const char *key)
{
	static const char *const sources[] = { "certificate", "private_key", "trust", "crl", NULL };
	for (const char *const *k = sources; *k; k++)
		if (strcmp(key, *k) == 0)
			return LM_SOURCE;
	return strcmp(key, "session_data") == 0 ? -1 : LM_TEXT;
}

int lm_options_nonul(lua_State *L, int opts)
{
	opts = lua_absindex(L, opts);
	luaL_checkstack(L, 8, NULL);
	lua_pushnil(L);
	while (lua_next(L, opts)) {
		const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
		int kind = k ? option_kind(k) : -1;
		if (kind >= 0 && lua_type(L, -1) == LUA_TSTRING) {
			if (fail_nul(L, -1, k, kind, 0))
				return 2;
		} else if (kind >= 0 && lua_istable(L, -1)) {
			size_t n = lm_rawlen(L, -1);
			for (size_t i = 1; i <= n; i++) {
				lua_rawgeti(L, -1, (int)i);
				if (fail_nul(L, -1, k, kind, (int)i))
					return 2;
				lua_pop(L, 1);
			}
		}
		lua_pop(L, 1);
	}
	return 0;
}

/* The backstop: a string that reaches C without having been checked (user
 * code put it into the options after lm_options_nonul) raises. */
static const char *tostring_item(lua_State *L, int idx, const char *what, int kind, int item,
	size_t *len)
{
	size_t n = 0;
	const char *s = lua_tolstring(L, idx, &n);
	if (s && memchr(s, '\0', n)) {
		push_nul_message(L, what, kind, item);
		lua_error(L);
	}
	if (len)
		*len = n;
	return s;
}

const char *lm_tostring_nonul(lua_State *L, int idx, const char *what, int kind, size_t *len)
{
	return tostring_item(L, idx, what, kind, 0, len);
}

static const char *opt_field(lua_State *L, int idx, const char *key, int kind)
{
	luaL_checkstack(L, 2, "too many options");
	switch (lm_rawgetfield(L, idx, key)) {
	case LUA_TSTRING:
		return lm_tostring_nonul(L, -1, key, kind, NULL);
	case LUA_TNIL:
		return NULL;
	default:
		luaL_error(L, "option '%s' must be a string, not %s", key, luaL_typename(L, -1));
		return NULL;
	}
}

const char *lm_optstring_field(lua_State *L, int idx, const char *key)
{
	return opt_field(L, idx, key, LM_TEXT);
}

const char *lm_optsource_field(lua_State *L, int idx, const char *key)
{
	return opt_field(L, idx, key, LM_SOURCE);
}

int lm_optbool_field(lua_State *L, int idx, const char *key, int def)
{
	int v = def;
	int t = lm_rawgetfield(L, idx, key);
	if (t == LUA_TBOOLEAN)
		v = lua_toboolean(L, -1);
	else if (t != LUA_TNIL)
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
			size_t len;
			const char *k = lua_tolstring(L, -2, &len);
			/* by length: "peers\0x" is not "peers" */
			for (const char *const *a = allowed; *a; a++)
				if (strlen(*a) == len && memcmp(k, *a, len) == 0)
					known = 1;
			if (!known)
				luaL_error(L, "%s: unknown option '%s'%s", what, k,
					memchr(k, '\0', len) ? " (the name contains a NUL character)" : "");
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
	int ud;

	idx = lua_absindex(L, idx);
	if (lua_type(L, idx) == LUA_TSTRING) {
		n = 1;
	} else if (lua_istable(L, idx)) {
		n = lm_rawlen(L, idx);
	} else {
		luaL_error(L, "option '%s' must be a string or an array of strings, not %s",
			what, luaL_typename(L, idx));
		return NULL;
	}
	luaL_checkstack(L, 4, "too many options");
	list = lm_newuserdata(L, (n ? n : 1) * sizeof(*list));
	ud = lua_gettop(L);
	/* The strings go into a table only the binding reaches: the caller's
	 * table may change while the list is in use. */
	lua_createtable(L, (int)n, 0);
	if (lua_type(L, idx) == LUA_TSTRING) {
		lua_pushvalue(L, idx);
		list[0] = lm_tostring_nonul(L, -1, what, LM_TEXT, NULL);
		lua_rawseti(L, -2, 1);
	} else {
		for (size_t i = 0; i < n; i++) {
			lua_rawgeti(L, idx, (int)i + 1);
			if (lua_type(L, -1) != LUA_TSTRING)
				luaL_error(L, "option '%s': item %d must be a string, not %s", what,
					(int)i + 1, luaL_typename(L, -1));
			list[i] = tostring_item(L, -1, what, LM_TEXT, (int)i + 1, NULL);
			lua_rawseti(L, -2, (int)i + 1);
		}
	}
	lm_setuservalue(L, ud);
	*count = n;
	return list;
}
