/* luaopen_mutls: the module's entry point (the conversion helpers are in
 * convert.c, the hooks in hooks.c). */
#include "lmutls.h"

#include <stdio.h>
#include <string.h>

#if defined(__GNUC__)
#define LM_EXPORT __attribute__((visibility("default")))
#else
#define LM_EXPORT
#endif

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
		{ "trace_event_text", lm_trace_event_text },
		{ "trace_event_note", lm_trace_event_note },
		{ NULL, NULL }
	};

	lm_open_hooks(L);

	lua_newtable(L);
	luaL_setfuncs(L, funcs, 0);
	lua_pushliteral(L, MUTLS_VERSION);
	lua_setfield(L, -2, "version");
	lua_pushstring(L, mutls_gnutls_version());
	lua_setfield(L, -2, "gnutls_version");
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
