/* Config: mutls.config{...}, immutable once made. The user value table of a
 * Config userdata keeps its hook functions: { verify_hook=, trace=, keylog= }.
 * The C config's hooks are trampolines that find the functions through the
 * session being handshaken (session -> config -> function) and call them on
 * that session's coroutine under lua_pcall. */
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

static int verify_trampoline(mutls_session *s, void *payload, char *reason, size_t cap)
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

static int clock_trampoline(int64_t *out, mutls_session *s, void *payload)
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

static int trace_trampoline(mutls_session *s, const mutls_trace_event *e, void *payload)
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

static int keylog_trampoline(mutls_session *s, const char *line, void *payload)
{
	(void)payload;
	return run_notify_hook(s, keylog_protected, (void *)line);
}

/* The password function runs while the config is being made: on the
 * calling coroutine, with the function in a known stack slot. */
typedef struct {
	lua_State *L;
	int fn_index;
	const char *what;
	char *buf;
	size_t cap;
	int given;
	char error[256];
} password_ctx;

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

static int password_trampoline(char *buf, size_t cap, const char *what, void *payload)
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
				TRY(mutls_config_set_password_callback(c->cfg, password_trampoline, &pctx));
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
			TRY(mutls_config_set_verify_clock(c->cfg, clock_trampoline, NULL, NULL));
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
			TRY(mutls_config_set_keylog_hook(c->cfg, keylog_trampoline, NULL, NULL));
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
		TRY(mutls_config_set_trace_hook(c->cfg, trace_trampoline, NULL, NULL));
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
		TRY(mutls_config_set_verify_hook(c->cfg, verify_trampoline, NULL, NULL));
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
