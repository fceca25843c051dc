/* Error objects: plain tables with the fields code, reasons, alert,
 * alert_number, side, step, peer_certificate, message, whose metatable gives
 * tostring(err) == err.message. Retry signals are not errors: they are the
 * strings "wantread" / "wantwrite". */
#include "lmutls.h"

#include <stdio.h>
#include <string.h>

static int error_tostring(lua_State *L)
{
	lua_getfield(L, 1, "message");
	if (!lua_isstring(L, -1)) {
		lua_pop(L, 1);
		lua_pushliteral(L, "mutls error");
	}
	return 1;
}

static int error_eq_code(lua_State *L)
{
	/* err:is("verify-failed") */
	const char *want = luaL_checkstring(L, 2);
	lua_getfield(L, 1, "code");
	lua_pushboolean(L, lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), want) == 0);
	return 1;
}

void lm_push_reasons(lua_State *L, unsigned reasons)
{
	int n = 0;
	lua_createtable(L, 2, 0);
	for (unsigned i = 0; i < MUTLS_REASON_COUNT; i++) {
		if (reasons & (1u << i)) {
			lua_pushstring(L, mutls_reason_name(1u << i));
			lua_rawseti(L, -2, ++n);
		}
	}
}

/* Fills the fields of the error table on top of the stack. */
static void fill_error(lua_State *L, int code, unsigned reasons, mutls_side side,
	mutls_step step, int alert, const mutls_session *s)
{
	lua_pushstring(L, mutls_code_name(code));
	lua_setfield(L, -2, "code");
	lm_push_reasons(L, reasons);
	lua_setfield(L, -2, "reasons");
	if (alert >= 0) {
		const char *name = mutls_alert_name(alert);
		lua_pushstring(L, name ? name : "unknown");
		lua_setfield(L, -2, "alert");
		lm_pushint(L, alert);
		lua_setfield(L, -2, "alert_number");
	}
	if (side != MUTLS_SIDE_NONE) {
		lua_pushstring(L, mutls_side_name(side));
		lua_setfield(L, -2, "side");
	}
	if (step != MUTLS_STEP_NONE) {
		lua_pushstring(L, mutls_step_name(step));
		lua_setfield(L, -2, "step");
	}
	{
		mutls_x509 *peer = mutls_session_error_certificate(s, code);
		if (peer) {
			lm_push_cert(L, peer);
			lua_setfield(L, -2, "peer_certificate");
		}
	}
	luaL_getmetatable(L, LM_ERROR);
	lua_setmetatable(L, -2);
}

void lm_push_error(lua_State *L, const mutls_error *e, const mutls_session *s)
{
	/* e is borrowed until the next mutls call: copy everything first. */
	int code = e ? mutls_error_code(e) : MUTLS_EUSAGE;
	unsigned reasons = e ? mutls_error_reasons(e) : 0;
	mutls_side side = e ? mutls_error_side(e) : MUTLS_SIDE_NONE;
	mutls_step step = e ? mutls_error_step(e) : MUTLS_STEP_NONE;
	int alert = e ? mutls_error_alert(e) : -1;
	const char *msg = e ? mutls_error_message(e) : "unknown mutls error";
	const char *hook_said = e ? mutls_error_hook_message(e) : "";

	/* the messages are copied into Lua strings before anything else
	 * allocates (an allocation may run finalizers that call mutls) */
	lua_pushstring(L, msg);
	if (hook_said[0])
		lua_pushstring(L, hook_said);
	else
		lua_pushnil(L);
	lua_createtable(L, 0, 9);
	lua_insert(L, -3);
	lua_setfield(L, -3, "hook_message");
	lua_setfield(L, -2, "message");
	fill_error(L, code, reasons, side, step, alert, s);
}

void lm_push_error_made(lua_State *L, int code, mutls_side side, mutls_step step,
	const char *message)
{
	lua_createtable(L, 0, 8);
	lua_pushstring(L, message);
	lua_setfield(L, -2, "message");
	fill_error(L, code, 0, side, step, -1, NULL);
}

int lm_fail_last(lua_State *L)
{
	lua_pushnil(L);
	lm_push_error(L, mutls_error_last(), NULL);
	return 2;
}

int lm_fail_session(lua_State *L, lm_session *ls, int rc)
{
	lua_pushnil(L);
	if (rc == MUTLS_EWANTREAD) {
		lua_pushliteral(L, "wantread");
		return 2;
	}
	if (rc == MUTLS_EWANTWRITE) {
		lua_pushliteral(L, "wantwrite");
		return 2;
	}
	{
		const mutls_error *e = NULL;
		mutls_session_error_for(&e, ls->s, rc);
		lm_push_error(L, e, ls->s);
	}
	return 2;
}

static int is_error(lua_State *L)
{
	int yes = 0;
	if (lua_getmetatable(L, 1)) {
		luaL_getmetatable(L, LM_ERROR);
		yes = lua_rawequal(L, -1, -2);
		lua_pop(L, 2);
	}
	lua_pushboolean(L, yes);
	return 1;
}

void lm_open_errors(lua_State *L)
{
	/* module table on top */
	luaL_newmetatable(L, LM_ERROR);
	lua_pushcfunction(L, error_tostring);
	lua_setfield(L, -2, "__tostring");
	lua_pushliteral(L, LM_ERROR);
	lua_setfield(L, -2, "__name");
	lua_newtable(L);
	lua_pushcfunction(L, error_eq_code);
	lua_setfield(L, -2, "is");
	lua_setfield(L, -2, "__index");
	lua_setfield(L, -2, "Error");

	lua_pushcfunction(L, is_error);
	lua_setfield(L, -2, "is_error");

	/* mutls.codes / mutls.reasons: the stable names */
	lua_newtable(L);
	for (int c = 0; c >= MUTLS_ENOMEM; c--) {
		lua_pushstring(L, mutls_code_name(c));
		lua_rawseti(L, -2, 1 - c);
	}
	lua_setfield(L, -2, "codes");
	lm_push_reasons(L, (1u << MUTLS_REASON_COUNT) - 1);
	lua_setfield(L, -2, "reasons");
}
