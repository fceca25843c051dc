/* Lua 5.1 (LuaJIT 2.1) / Lua 5.4 API differences, in one place.
 *
 * The binding is written against the 5.4 API; for 5.1 the few missing
 * functions are provided here. LuaJIT 2.1 already has luaL_setfuncs,
 * luaL_testudata and luaL_setmetatable.
 *
 * Userdata carry one "user value", always a table: 5.4 user value 1, or the
 * 5.1 environment table.
 */
#ifndef MUTLS_LUA_COMPAT_H
#define MUTLS_LUA_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM >= 504

#define lm_newuserdata(L, size) lua_newuserdatauv((L), (size), 1)
/* Pops a table (or nil) and makes it the user value of the userdata at idx. */
#define lm_setuservalue(L, idx) ((void)lua_setiuservalue((L), (idx), 1))
/* Pushes the user value of the userdata at idx. */
#define lm_getuservalue(L, idx) ((void)lua_getiuservalue((L), (idx), 1))
#define lm_rawlen(L, idx) lua_rawlen((L), (idx))
#define LM_HAVE_INTEGERS 1

#elif LUA_VERSION_NUM == 501

#define lm_newuserdata(L, size) lua_newuserdata((L), (size))
/* 5.1 userdata environments must be tables: nil becomes a new empty table. */
static inline void lm_setuservalue(lua_State *L, int idx)
{
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_newtable(L);
	}
	lua_setfenv(L, idx);
}
#define lm_getuservalue(L, idx) lua_getfenv((L), (idx))
#define lm_rawlen(L, idx) lua_objlen((L), (idx))
#define LM_HAVE_INTEGERS 0

static inline int lua_absindex(lua_State *L, int idx)
{
	return idx > 0 || idx <= LUA_REGISTRYINDEX ? idx : lua_gettop(L) + idx + 1;
}

#if !defined(LUA_LJDIR)
/* Plain Lua 5.1 (not a target, but cheap to keep building): the 5.2
 * auxiliary functions LuaJIT 2.1 already has. */
static inline void luaL_setfuncs(lua_State *L, const luaL_Reg *l, int nup)
{
	luaL_checkstack(L, nup, "too many upvalues");
	for (; l->name; l++) {
		for (int i = 0; i < nup; i++)
			lua_pushvalue(L, -nup);
		lua_pushcclosure(L, l->func, nup);
		lua_setfield(L, -(nup + 2), l->name);
	}
	lua_pop(L, nup);
}

static inline void *luaL_testudata(lua_State *L, int idx, const char *tname)
{
	void *p = lua_touserdata(L, idx);
	if (p && lua_getmetatable(L, idx)) {
		luaL_getmetatable(L, tname);
		if (!lua_rawequal(L, -1, -2))
			p = NULL;
		lua_pop(L, 2);
		return p;
	}
	return NULL;
}
#endif

#else
#error "mutls: Lua 5.1 (LuaJIT) or 5.4 is required"
#endif

/* Pushes t[k] of the table at idx without metamethods (no user code runs,
 * unlike lua_getfield) and returns its type. lua_rawget returns the type in
 * 5.4 and nothing in 5.1. */
static inline int lm_rawgetfield(lua_State *L, int idx, const char *k)
{
	idx = lua_absindex(L, idx);
	lua_pushstring(L, k);
	lua_rawget(L, idx);
	return lua_type(L, -1);
}

#endif
