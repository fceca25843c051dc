/* Everything a Lua hook goes through: the protected call every hook runs
 * under, the session's hook runner, the trampolines the C config calls
 * (verify hook, verify_time clock, trace, keylog, password), and what a hook
 * is given (the peer view, trace events). Nothing here raises into the core:
 * each hook runs under lua_pcall and its failure goes back to the core as a
 * verdict or a message (mutls_session_set_hook_error). */
#include "lmutls.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

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

/* Registers the two C functions lm_run_protected uses (luaopen_mutls). */
void lm_open_hooks(lua_State *L)
{
	lua_pushlightuserdata(L, &key_msgh);
	lua_pushcfunction(L, hook_msgh);
	lua_rawset(L, LUA_REGISTRYINDEX);
	lua_pushlightuserdata(L, &key_entry);
	lua_pushcfunction(L, hook_entry);
	lua_rawset(L, LUA_REGISTRYINDEX);
}

/* ---- the session's hook runner ------------------------------------------- */

/* Runs fn on the coroutine of the session's current call (ls->L). */
int lm_session_run_hook(mutls_session *s, lua_CFunction fn, void *ctx, char *msg, size_t cap)
{
	lm_session *ls = mutls_session_userdata(s);
	char local[LM_HOOKMSG_MAX];

	if (!ls || !ls->L) {
		if (msg && cap)
			snprintf(msg, cap, "a Lua hook was called outside a session call");
		return -1;
	}
	if (lm_run_protected(ls->L, ls->self_index, fn, ctx, local, sizeof(local)) == 0)
		return 0;
	if (msg && cap)
		snprintf(msg, cap, "%s", local);
	return -1;
}

/* ---- hook trampolines --------------------------------------------------- */

/* Pushes the hook `name` of the session's config (arg 1 is the session). */
static void push_hook(lua_State *L, const char *name)
{
	lm_getuservalue(L, 1);           /* session's { config = } */
	lua_getfield(L, -1, "config");
	lm_getuservalue(L, -1);          /* config's hooks */
	lua_getfield(L, -1, name);
	lua_replace(L, -4);
	lua_pop(L, 2);
	if (lua_type(L, -1) != LUA_TFUNCTION)
		luaL_error(L, "mutls: the %s hook is missing", name);
}

void lm_push_trace_event(lua_State *L, const mutls_trace_event *e)
{
	lua_createtable(L, 0, 7);
	lua_pushstring(L, mutls_trace_kind_name(e->kind));
	lua_setfield(L, -2, "kind");
	lua_pushboolean(L, e->outgoing);
	lua_setfield(L, -2, "outgoing");
	lua_pushboolean(L, e->ok);
	lua_setfield(L, -2, "ok");
	lua_pushstring(L, e->name ? e->name : "");
	lua_setfield(L, -2, "name");
	lua_pushstring(L, e->detail ? e->detail : "");
	lua_setfield(L, -2, "detail");
	lm_pushint(L, e->message_type);
	lua_setfield(L, -2, "message_type");
	lm_pushint(L, (long long)e->length);
	lua_setfield(L, -2, "length");
}

/* The core event a trace event table holds (as lm_push_trace_event made
 * it). Leaves the 7 fields on the stack: the strings are borrowed from
 * there (a number converted by lua_tostring is owned by its stack slot
 * only), so the caller pushes its results above them. 0, or the core's
 * error code (the error set). */
static int event_of(lua_State *L, int idx, mutls_trace_event *ev)
{
	const char *kind;

	luaL_checktype(L, idx, LUA_TTABLE);
	memset(ev, 0, sizeof(*ev));
	lua_getfield(L, idx, "kind");
	lua_getfield(L, idx, "name");
	lua_getfield(L, idx, "detail");
	lua_getfield(L, idx, "outgoing");
	lua_getfield(L, idx, "ok");
	lua_getfield(L, idx, "message_type");
	lua_getfield(L, idx, "length");
	kind = lua_tostring(L, -7);
	ev->name = lua_tostring(L, -6);
	ev->detail = lua_tostring(L, -5);
	ev->outgoing = lua_toboolean(L, -4);
	ev->ok = lua_toboolean(L, -3);
	ev->message_type = (int)lua_tointeger(L, -2);
	ev->length = (size_t)lua_tointeger(L, -1);
	if (!ev->detail)
		ev->detail = "";
	return mutls_trace_kind_from_name(&ev->kind, kind ? kind : "(none)");
}

/* mutls.trace_event_text(ev): the line the demos print. */
int lm_trace_event_text(lua_State *L)
{
	mutls_trace_event ev;
	char *text = NULL;

	if (event_of(L, 1, &ev) < 0 || mutls_trace_event_text(&text, &ev) < 0)
		return lm_fail_last(L);
	lua_pushstring(L, text);
	mutls_free(text);
	return 1;
}

/* mutls.trace_event_note(ev): what the event teaches, or nil. */
int lm_trace_event_note(lua_State *L)
{
	mutls_trace_event ev;
	const char *note;

	if (event_of(L, 1, &ev) < 0)
		return lm_fail_last(L);
	note = mutls_trace_event_note(&ev);
	if (note)
		lua_pushstring(L, note);
	else
		lua_pushnil(L);
	return 1;
}

typedef struct {
	mutls_session *s;
	char *reason;
	size_t cap;
	int verdict;
} verify_ctx;

/* The peer as the verify hook sees it. */
static void push_peer(lua_State *L, mutls_session *s)
{
	size_t n = mutls_session_peer_chain_length(s);
	unsigned reasons = mutls_session_verify_reasons(s);
	const char *host = mutls_session_server_hostname(s);

	lua_createtable(L, 0, 7);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lm_push_cert(L, mutls_session_peer_certificate(s, i));
		lua_rawseti(L, -2, (int)i + 1);
	}
	lua_setfield(L, -2, "chain");
	if (n) {
		lm_push_cert(L, mutls_session_peer_certificate(s, 0));
		lua_setfield(L, -2, "leaf");
	}
	lua_pushboolean(L, mutls_session_peer_ok(s));
	lua_setfield(L, -2, "ok");
	lm_push_reasons(L, reasons);
	lua_setfield(L, -2, "reasons");
	if (host && !mutls_session_is_server(s)) {
		lua_pushstring(L, host);
		lua_setfield(L, -2, "hostname");
	}
	lua_pushstring(L, mutls_session_is_server(s) ? "client" : "server");
	lua_setfield(L, -2, "role");
}

static int verify_protected(lua_State *L)
{
	verify_ctx *ctx = lua_touserdata(L, 2);
	push_hook(L, "verify_hook");
	push_peer(L, ctx->s);
	lua_pushvalue(L, 1);
	lua_call(L, 2, 2);
	if (lua_type(L, -2) == LUA_TBOOLEAN && lua_toboolean(L, -2)) {
		ctx->verdict = MUTLS_HOOK_ACCEPT;
	} else {
		ctx->verdict = MUTLS_HOOK_REJECT;
		if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER)
			snprintf(ctx->reason, ctx->cap, "%s", lua_tostring(L, -1));
		else if (lua_type(L, -2) == LUA_TSTRING)
			snprintf(ctx->reason, ctx->cap, "%s", lua_tostring(L, -2));
	}
	return 0;
}

int lm_verify_trampoline(mutls_session *s, void *payload, char *reason, size_t cap)
{
	verify_ctx ctx;
	(void)payload;
	ctx.s = s;
	ctx.reason = reason;
	ctx.cap = cap;
	ctx.verdict = MUTLS_HOOK_ERROR;
	if (lm_session_run_hook(s, verify_protected, &ctx, reason, cap) != 0)
		return MUTLS_HOOK_ERROR;
	return ctx.verdict;
}

/* The verify_time function, asked by the core at each verification: runs
 * on the session's coroutine under lua_pcall (an error becomes the hook
 * error of the handshake). */
typedef struct {
	int64_t t;
} clock_ctx;

static int clock_protected(lua_State *L)
{
	clock_ctx *ctx = lua_touserdata(L, 2);
	push_hook(L, "verify_time");
	lua_call(L, 0, 1);
	if (lua_type(L, -1) != LUA_TNUMBER)
		return luaL_error(L, "verify_time: the function must return seconds since the epoch "
			"(a number), not %s", luaL_typename(L, -1));
	ctx->t = (int64_t)floor(lua_tonumber(L, -1));
	return 0;
}

int lm_clock_trampoline(int64_t *out, mutls_session *s, void *payload)
{
	clock_ctx ctx = { 0 };
	char message[512] = "";
	(void)payload;
	if (!s)
		return MUTLS_HOOK_ERROR; /* offline checks ask the function themselves */
	if (lm_session_run_hook(s, clock_protected, &ctx, message, sizeof(message)) != 0) {
		mutls_session_set_hook_error(s, message);
		return MUTLS_HOOK_ERROR;
	}
	*out = ctx.t;
	return 0;
}

static int trace_protected(lua_State *L)
{
	const mutls_trace_event *e = lua_touserdata(L, 2);
	push_hook(L, "trace");
	lm_push_trace_event(L, e);
	lua_pushvalue(L, 1);
	lua_call(L, 2, 0);
	return 0;
}

/* Runs a trace or keylog hook; a failure leaves its message in the session
 * (the core puts it into the handshake's error). */
static int run_notify_hook(mutls_session *s, lua_CFunction fn, void *arg)
{
	char message[512] = "";
	if (lm_session_run_hook(s, fn, arg, message, sizeof(message)) != 0) {
		mutls_session_set_hook_error(s, message);
		return 1;
	}
	return 0;
}

int lm_trace_trampoline(mutls_session *s, const mutls_trace_event *e, void *payload)
{
	(void)payload;
	return run_notify_hook(s, trace_protected, (void *)e);
}

static int keylog_protected(lua_State *L)
{
	const char *line = lua_touserdata(L, 2);
	push_hook(L, "keylog");
	lua_pushstring(L, line);
	lua_pushvalue(L, 1);
	lua_call(L, 2, 0);
	return 0;
}

int lm_keylog_trampoline(mutls_session *s, const char *line, void *payload)
{
	(void)payload;
	return run_notify_hook(s, keylog_protected, (void *)line);
}



static int password_protected(lua_State *L)
{
	password_ctx *ctx = lua_touserdata(L, 2);
	lua_pushvalue(L, 1);
	lua_pushstring(L, ctx->what);
	lua_call(L, 1, 1);
	if (lua_type(L, -1) == LUA_TSTRING) {
		size_t len;
		const char *pw = lua_tolstring(L, -1, &len);
		if (memchr(pw, '\0', len)) {
			/* C would see a shorter password than the one returned */
			snprintf(ctx->error, sizeof(ctx->error),
				"the password function returned a password that contains a NUL character");
		} else if (len < ctx->cap) {
			memcpy(ctx->buf, pw, len + 1);
			ctx->given = 1;
		} else {
			snprintf(ctx->error, sizeof(ctx->error), "the password is too long");
		}
	} else if (!lua_isnil(L, -1)) {
		snprintf(ctx->error, sizeof(ctx->error), "the password function returned a %s, not a string",
			luaL_typename(L, -1));
	}
	return 0;
}

int lm_password_trampoline(char *buf, size_t cap, const char *what, void *payload)
{
	password_ctx *ctx = payload;
	ctx->what = what;
	ctx->buf = buf;
	ctx->cap = cap;
	ctx->given = 0;
	if (lm_run_protected(ctx->L, ctx->fn_index, password_protected, ctx,
		ctx->error, sizeof(ctx->error)) != 0)
		return -1;
	return ctx->given ? 0 : -1;
}
