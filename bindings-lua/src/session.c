/* Session: cfg:client{...} / cfg:server{...}, over a file descriptor or in
 * memory. Methods that can run hooks (handshake, send, recv, close) record
 * the calling coroutine in the session first; the trampolines run the Lua
 * hooks there under lua_pcall, so nothing ever unwinds through GnuTLS. */
#include "lmutls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECV_MAX 16384

static lm_session *check_session(lua_State *L)
{
	return luaL_checkudata(L, 1, LM_SESSION);
}

static void session_release(lm_session *ls)
{
	if (ls->s) {
		mutls_session_free(ls->s);
		ls->s = NULL;
	}
	free(ls->buf);
	ls->buf = NULL;
	ls->buf_cap = 0;
}

/* destroy(), __gc and __close: idempotent. */
static int session_destroy(lua_State *L)
{
	lm_session *ls = check_session(L);
	if (mutls_session_check_reentry(ls->s, "destroy") < 0)
		return luaL_error(L, "%s", mutls_error_message(mutls_error_last()));
	if (ls->s) {
		session_release(ls);
		lua_pushnil(L);
		lm_setuservalue(L, 1); /* drops the config (and its hooks) */
	}
	return 0;
}

static int session_gc(lua_State *L)
{
	lm_session *ls = check_session(L);
	/* The collector never gets here inside a call (the session is in a
	 * stack slot of the call); a hook calling __gc itself would free the
	 * session under the core. */
	if (mutls_session_check_reentry(ls->s, "__gc") < 0)
		return luaL_error(L, "%s", mutls_error_message(mutls_error_last()));
	session_release(ls);
	return 0;
}

/* nil, err "usage" for a destroyed session. */
static int destroyed(lua_State *L)
{
	lua_pushnil(L);
	lm_push_error_made(L, MUTLS_EUSAGE, MUTLS_SIDE_NONE, MUTLS_STEP_NONE,
		"the session was destroyed");
	return 2;
}

/* Marks the start of a call into the core that may run hooks; the core's
 * re-entry guard refuses a hook that drives its own session (raised, as
 * every misuse from inside a hook, before ls->L is replaced). */
static void enter(lua_State *L, lm_session *ls)
{
	if (mutls_session_check_reentry(ls->s, NULL) < 0)
		luaL_error(L, "%s", mutls_error_message(mutls_error_last()));
	ls->L = L;
	ls->self_index = 1;
}

static void leave(lm_session *ls)
{
	ls->L = NULL;
}

/* ---- creation ------------------------------------------------------------ */

static int opt_fd(lua_State *L, int opts)
{
	int fd = -1;
	if (!opts)
		return -1;
	if (lm_rawgetfield(L, opts, "fd") != LUA_TNIL) {
		if (lua_type(L, -1) != LUA_TNUMBER)
			luaL_error(L, "option 'fd' must be an integer file descriptor, not %s", luaL_typename(L, -1));
		fd = (int)lua_tointeger(L, -1);
		if (fd < 0)
			luaL_error(L, "option 'fd' must be a file descriptor >= 0 (leave it out for memory mode)");
	}
	lua_pop(L, 1);
	if (lm_rawgetfield(L, opts, "sock") != LUA_TNIL) {
		/* a LuaSocket-style object: its getfd(), looked up as a method
		 * (metamethods run: LuaSocket's methods are in its metatable) */
		if (fd >= 0)
			luaL_error(L, "give either 'fd' or 'sock', not both");
		lua_getfield(L, -1, "getfd");
		if (lua_type(L, -1) != LUA_TFUNCTION)
			luaL_error(L, "option 'sock' must have a getfd() method");
		lua_pushvalue(L, -2);
		lua_call(L, 1, 1);
		if (lua_type(L, -1) != LUA_TNUMBER || lua_tointeger(L, -1) < 0)
			luaL_error(L, "option 'sock': getfd() gave no file descriptor");
		fd = (int)lua_tointeger(L, -1);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	return fd;
}

/* A new, empty session userdata on the stack, keeping the config at
 * cfg_index alive (its uservalue holds it). */
static lm_session *push_session(lua_State *L, int cfg_index)
{
	lm_session *ls = lm_newuserdata(L, sizeof(*ls));
	int ud = lua_gettop(L);

	memset(ls, 0, sizeof(*ls));
	luaL_getmetatable(L, LM_SESSION);
	lua_setmetatable(L, ud);
	lua_createtable(L, 0, 1);
	lua_pushvalue(L, cfg_index);
	lua_setfield(L, -2, "config");
	lm_setuservalue(L, ud);
	return ls;
}

int lm_session_new(lua_State *L, lm_config *c, int cfg_index, int server, int opts)
{
	static const char *const client_opts[] = { "fd", "sock", "server_hostname",
		"session_data", "timeout", NULL };
	static const char *const server_opts[] = { "fd", "sock", "timeout", NULL };
	const char *hostname = NULL;
	const char *data = NULL;
	size_t data_len = 0;
	double timeout = -1;
	lm_session *ls;
	int fd, rc, ud;

	if (opts) {
		lm_check_options(L, opts, server ? "cfg:server" : "cfg:client",
			server ? server_opts : client_opts);
		if (lm_options_nonul(L, opts))
			return 2;
		if (!server) {
			/* both stay in their stack slots: getfd() below may drop
			 * them from opts and collect */
			hostname = lm_optstring_field(L, opts, "server_hostname");
			if (lm_rawgetfield(L, opts, "session_data") == LUA_TSTRING)
				data = lua_tolstring(L, -1, &data_len); /* binary: NULs are data */
			else if (!lua_isnil(L, -1))
				luaL_error(L, "option 'session_data' must be a string, not %s", luaL_typename(L, -1));
		}
		if (lm_rawgetfield(L, opts, "timeout") != LUA_TNIL) {
			if (lua_type(L, -1) != LUA_TNUMBER)
				luaL_error(L, "option 'timeout' must be a number of seconds, not %s", luaL_typename(L, -1));
			timeout = lua_tonumber(L, -1);
		}
		lua_pop(L, 1);
	}
	fd = opt_fd(L, opts);
	if (!c->cfg) /* getfd() ran Lua code: it may have closed the config */
		return luaL_error(L, "the config was released");

	ls = push_session(L, cfg_index);
	ud = lua_gettop(L);

	rc = server ? mutls_session_server(&ls->s, c->cfg, fd)
	            : mutls_session_client(&ls->s, c->cfg, hostname, fd);
	if (rc < 0) {
		ls->s = NULL;
		return lm_fail_last(L);
	}
	mutls_session_set_userdata(ls->s, ls);
	if (data && data_len && mutls_session_set_data(ls->s, (const unsigned char *)data, data_len) < 0)
		return lm_fail_last(L); /* the userdata is collected with the session */
	if (timeout > 0)
		mutls_session_set_timeout(ls->s, (int)(timeout * 1000.0 + 0.5));
	lua_pushvalue(L, ud);
	return 1;
}

/* cfg:check_peer(chain): a client chain received outside a mutls handshake
 * (nginx terminated TLS), checked as a server handshake checks it, verify
 * hook included. chain: an array of Certificates (leaf first), one
 * Certificate, or nil / {} (no certificate). Returns the session that
 * holds the verdict (verified, verification, error, peer_certificate). */
int lm_session_check_peer(lua_State *L, lm_config *c, int cfg_index, int chain_index)
{
	mutls_x509 **certs;
	size_t n = 0;
	lm_session *ls;
	int list, ud;

	if (lm_test_cert(L, chain_index)) {
		lua_createtable(L, 1, 0);
		lua_pushvalue(L, chain_index);
		lua_rawseti(L, -2, 1);
		lua_replace(L, chain_index);
	} else if (lua_isnoneornil(L, chain_index)) {
		lua_createtable(L, 0, 0);
		lua_replace(L, chain_index);
	} else if (!lua_istable(L, chain_index)) {
		return luaL_error(L, "check_peer: the chain must be an array of certificates, not %s",
			luaL_typename(L, chain_index));
	}
	n = lm_rawlen(L, chain_index);
	certs = lm_newuserdata(L, (n ? n : 1) * sizeof(*certs));
	/* the certificates, in a table only this call reaches */
	lua_createtable(L, (int)n, 0);
	list = lua_gettop(L);
	for (size_t i = 0; i < n; i++) {
		lm_cert *lc;
		lua_rawgeti(L, chain_index, (int)i + 1);
		lc = lm_test_cert(L, -1);
		if (!lc)
			return luaL_error(L, "check_peer: chain[%d] is not a certificate", (int)i + 1);
		certs[i] = lc->x;
		lua_rawseti(L, list, (int)i + 1);
	}

	ls = push_session(L, cfg_index);
	ud = lua_gettop(L);

	/* the verify hook runs on this coroutine, with this session */
	ls->L = L;
	ls->self_index = ud;
	mutls_config_check_peer(&ls->s, c->cfg, certs, n, ls);
	leave(ls);
	if (!ls->s)
		return lm_fail_last(L);
	lua_pushvalue(L, ud);
	return 1;
}

/* ---- I/O ----------------------------------------------------------------- */

static int session_handshake(lua_State *L)
{
	lm_session *ls = check_session(L);
	int rc;
	if (!ls->s)
		return destroyed(L);
	enter(L, ls);
	rc = mutls_session_handshake(ls->s);
	leave(ls);
	if (rc < 0)
		return lm_fail_session(L, ls, rc);
	lua_pushboolean(L, 1);
	return 1;
}

static int session_send(lua_State *L)
{
	lm_session *ls = check_session(L);
	size_t len, written = 0;
	const char *data = luaL_checklstring(L, 2, &len);
	int rc;
	if (!ls->s)
		return destroyed(L);
	enter(L, ls);
	rc = mutls_session_send(&written, ls->s, data, len);
	leave(ls);
	if (rc < 0)
		return lm_fail_session(L, ls, rc);
	lm_pushint(L, (long long)written);
	return 1;
}

static int session_recv(lua_State *L)
{
	lm_session *ls = check_session(L);
	lua_Integer max = luaL_optinteger(L, 2, RECV_MAX);
	size_t got = 0;
	int rc;

	luaL_argcheck(L, max > 0, 2, "must be a positive number of bytes");
	if (!ls->s)
		return destroyed(L);
	if (max > RECV_MAX)
		max = RECV_MAX; /* the buffer we keep per session */
	if (!ls->buf) {
		ls->buf = malloc(RECV_MAX);
		if (!ls->buf)
			return luaL_error(L, "out of memory");
		ls->buf_cap = RECV_MAX;
	}
	enter(L, ls);
	rc = mutls_session_recv(&got, ls->s, ls->buf, (size_t)max);
	leave(ls);
	if (rc < 0)
		return lm_fail_session(L, ls, rc);
	if (got == 0) {
		/* the peer's close_notify: an orderly end */
		lua_pushnil(L);
		lm_push_error_made(L, MUTLS_ECLOSED, MUTLS_SIDE_PEER, MUTLS_STEP_RECORD,
			mutls_session_is_server(ls->s) ? "client closed the connection (close_notify)" :
			"server closed the connection (close_notify)");
		lua_pushboolean(L, 1);
		lua_setfield(L, -2, "clean");
		return 2;
	}
	lua_pushlstring(L, ls->buf, got);
	return 1;
}

static int session_close(lua_State *L)
{
	lm_session *ls = check_session(L);
	int rc;
	if (!ls->s) {
		lua_pushboolean(L, 1);
		return 1;
	}
	enter(L, ls);
	rc = mutls_session_close(ls->s);
	leave(ls);
	if (rc < 0)
		return lm_fail_session(L, ls, rc);
	lua_pushboolean(L, 1);
	return 1;
}

static int session_feed(lua_State *L)
{
	lm_session *ls = check_session(L);
	size_t len;
	const char *data = luaL_checklstring(L, 2, &len);
	if (!ls->s)
		return destroyed(L);
	if (mutls_session_feed(ls->s, data, len) < 0)
		return lm_fail_last(L);
	lua_pushboolean(L, 1);
	return 1;
}

static int session_feed_eof(lua_State *L)
{
	lm_session *ls = check_session(L);
	if (!ls->s)
		return destroyed(L);
	if (mutls_session_feed_eof(ls->s) < 0)
		return lm_fail_last(L);
	lua_pushboolean(L, 1);
	return 1;
}

static int session_data_to_send(lua_State *L)
{
	lm_session *ls = check_session(L);
	const unsigned char *out = NULL;
	size_t len = 0;
	if (!ls->s)
		return destroyed(L);
	if (mutls_session_data_to_send(&out, &len, ls->s) < 0)
		return lm_fail_last(L);
	lua_pushlstring(L, (const char *)out, len);
	return 1;
}

static int session_settimeout(lua_State *L)
{
	lm_session *ls = check_session(L);
	double t = luaL_optnumber(L, 2, -1);
	if (!ls->s)
		return destroyed(L);
	mutls_session_set_timeout(ls->s, t > 0 ? (int)(t * 1000.0 + 0.5) : 0);
	lua_pushboolean(L, 1);
	return 1;
}

static int session_pending(lua_State *L)
{
	lm_session *ls = check_session(L);
	lm_pushint(L, ls->s ? (long long)mutls_session_pending(ls->s) : 0);
	return 1;
}

static int session_explain(lua_State *L)
{
	lm_session *ls = check_session(L);
	char *text = NULL;
	if (!ls->s)
		return destroyed(L);
	if (mutls_session_explain(&text, ls->s) < 0)
		return lm_fail_last(L);
	lua_pushstring(L, text);
	mutls_free(text);
	return 1;
}

static int session_export(lua_State *L)
{
	lm_session *ls = check_session(L);
	const char *label = luaL_checkstring(L, 2);
	lua_Integer len = luaL_checkinteger(L, 3);
	size_t ctx_len = 0;
	const char *ctx = luaL_optlstring(L, 4, NULL, &ctx_len);
	unsigned char *out;

	luaL_argcheck(L, len > 0 && len <= 65536, 3, "length must be 1 to 65536");
	if (!ls->s)
		return destroyed(L);
	if (lm_fail_nul(L, 2, "label", LM_TEXT))
		return 2;
	out = lm_newuserdata(L, (size_t)len);
	if (mutls_session_export_keying_material(out, (size_t)len, ls->s, label,
		(const unsigned char *)ctx, ctx_len) < 0)
		return lm_fail_last(L);
	lua_pushlstring(L, (const char *)out, (size_t)len);
	return 1;
}

static int session_key_fingerprint(lua_State *L)
{
	lm_session *ls = check_session(L);
	int write = lua_isnumber(L, 2) ? lua_tointeger(L, 2) != 0 : lua_toboolean(L, 2);
	char out[65];
	if (!ls->s)
		return destroyed(L);
	if (mutls_session_key_fingerprint(out, ls->s, write) < 0)
		return lm_fail_last(L);
	lua_pushstring(L, out);
	return 1;
}

/* ---- fields -------------------------------------------------------------- */

static void push_opt_string(lua_State *L, const char *s)
{
	if (s)
		lua_pushstring(L, s);
	else
		lua_pushnil(L);
}

static void push_trace(lua_State *L, const mutls_session *s)
{
	size_t n = mutls_session_trace_count(s);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lm_push_trace_event(L, mutls_session_trace_event(s, i));
		lua_rawseti(L, -2, (int)i + 1);
	}
}

static void push_verification(lua_State *L, lm_session *ls)
{
	mutls_session *s = ls->s;
	int verified = mutls_session_verified(s);
	size_t n = mutls_session_trace_count(s), k = 0;

	lua_createtable(L, 0, 4);
	lua_pushboolean(L, verified);
	lua_setfield(L, -2, "ok");
	lm_push_reasons(L, mutls_session_verify_reasons(s));
	lua_setfield(L, -2, "reasons");
	if (mutls_session_verify_message(s)) {
		lua_pushstring(L, mutls_session_verify_message(s));
		lua_setfield(L, -2, "message");
	}
	/* the checks, as the trace recorded them */
	lua_newtable(L);
	for (size_t i = 0; i < n; i++) {
		const mutls_trace_event *ev = mutls_session_trace_event(s, i);
		if (ev->kind != MUTLS_TRACE_CHECK)
			continue;
		lm_push_trace_event(L, ev);
		lua_rawseti(L, -2, (int)++k);
	}
	lua_setfield(L, -2, "checks");
}

/* ---- fields: one getter per name --------------------------------------- */

typedef void (*session_getter)(lua_State *L, lm_session *ls, mutls_session *s);

static void push_cert_or_nil(lua_State *L, mutls_x509 *x)
{
	if (x)
		lm_push_cert(L, x);
	else
		lua_pushnil(L);
}

static void get_config(lua_State *L, lm_session *ls, mutls_session *s)
{
	(void)ls; (void)s;
	lm_getuservalue(L, 1);
	lua_getfield(L, -1, "config");
}
static void get_is_server(lua_State *L, lm_session *ls, mutls_session *s)
{ (void)ls; lua_pushboolean(L, mutls_session_is_server(s)); }
static void get_handshake_done(lua_State *L, lm_session *ls, mutls_session *s)
{ (void)ls; lua_pushboolean(L, mutls_session_handshake_done(s)); }
static void get_peer_certificate(lua_State *L, lm_session *ls, mutls_session *s)
{ (void)ls; push_cert_or_nil(L, mutls_session_peer_certificate(s, 0)); }
static void get_own_certificate(lua_State *L, lm_session *ls, mutls_session *s)
{ (void)ls; push_cert_or_nil(L, mutls_session_own_certificate(s)); }
static void get_peer_chain(lua_State *L, lm_session *ls, mutls_session *s)
{
	size_t n = mutls_session_peer_chain_length(s);
	(void)ls;
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lm_push_cert(L, mutls_session_peer_certificate(s, i));
		lua_rawseti(L, -2, (int)i + 1);
	}
}
static void get_verified(lua_State *L, lm_session *ls, mutls_session *s)
{ (void)ls; lua_pushboolean(L, mutls_session_verified(s)); }
static void get_verification(lua_State *L, lm_session *ls, mutls_session *s)
{ (void)s; push_verification(L, ls); }
static void get_version(lua_State *L, lm_session *ls, mutls_session *s)
{ (void)ls; push_opt_string(L, mutls_session_version(s)); }
static void get_cipher(lua_State *L, lm_session *ls, mutls_session *s)
{ (void)ls; push_opt_string(L, mutls_session_cipher(s)); }
static void get_alpn(lua_State *L, lm_session *ls, mutls_session *s)
{ (void)ls; push_opt_string(L, mutls_session_alpn(s)); }
static void get_server_name(lua_State *L, lm_session *ls, mutls_session *s)
{ (void)ls; push_opt_string(L, mutls_session_server_name(s)); }
static void get_server_hostname(lua_State *L, lm_session *ls, mutls_session *s)
{ (void)ls; push_opt_string(L, mutls_session_server_hostname(s)); }
static void get_resumed(lua_State *L, lm_session *ls, mutls_session *s)
{ (void)ls; lua_pushboolean(L, mutls_session_resumed(s)); }
static void get_session_data(lua_State *L, lm_session *ls, mutls_session *s)
{
	unsigned char *data = NULL;
	size_t len = 0;
	(void)ls;
	if (mutls_session_get_data(&data, &len, s) < 0) {
		lua_pushnil(L);
		return;
	}
	lua_pushlstring(L, (const char *)data, len);
	mutls_free(data);
}
static void get_trace(lua_State *L, lm_session *ls, mutls_session *s)
{ (void)ls; push_trace(L, s); }
static void get_error(lua_State *L, lm_session *ls, mutls_session *s)
{
	const mutls_error *e = mutls_session_error(s);
	(void)ls;
	if (e)
		lm_push_error(L, e, s);
	else
		lua_pushnil(L);
}

static const struct {
	const char *name;
	session_getter get;
} session_fields[] = {
	{ "config", get_config },
	{ "is_server", get_is_server },
	{ "handshake_done", get_handshake_done },
	{ "peer_certificate", get_peer_certificate },
	{ "own_certificate", get_own_certificate },
	{ "peer_chain", get_peer_chain },
	{ "verified", get_verified },
	{ "verification", get_verification },
	{ "version", get_version },
	{ "cipher", get_cipher },
	{ "alpn", get_alpn },
	{ "server_name", get_server_name },
	{ "server_hostname", get_server_hostname },
	{ "resumed", get_resumed },
	{ "session_data", get_session_data },
	{ "trace", get_trace },
	{ "error", get_error },
};

static int session_index(lua_State *L)
{
	lm_session *ls;
	const char *k;

	if (lm_index_method(L))
		return 1;
	ls = check_session(L);
	k = luaL_checkstring(L, 2);
	if (strcmp(k, "destroyed") == 0) {
		lua_pushboolean(L, ls->s == NULL);
		return 1;
	}
	if (ls->s) {
		for (size_t i = 0; i < sizeof(session_fields) / sizeof(session_fields[0]); i++) {
			if (strcmp(k, session_fields[i].name) == 0) {
				session_fields[i].get(L, ls, ls->s);
				return 1;
			}
		}
	}
	lua_pushnil(L);
	return 1;
}

static int session_tostring(lua_State *L)
{
	lm_session *ls = check_session(L);
	if (!ls->s)
		lua_pushliteral(L, "mutls.Session (destroyed)");
	else
		lua_pushfstring(L, "mutls.Session (%s, %s)", mutls_session_is_server(ls->s) ? "server" : "client",
			mutls_session_handshake_done(ls->s) ? "connected" : "handshaking");
	return 1;
}

void lm_open_session(lua_State *L)
{
	static const luaL_Reg meta[] = {
		{ "__gc", session_gc },
		{ "__close", session_destroy },
		{ "__tostring", session_tostring },
		{ NULL, NULL }
	};
	static const luaL_Reg methods[] = {
		{ "handshake", session_handshake },
		{ "send", session_send },
		{ "recv", session_recv },
		{ "close", session_close },
		{ "feed", session_feed },
		{ "feed_eof", session_feed_eof },
		{ "data_to_send", session_data_to_send },
		{ "settimeout", session_settimeout },
		{ "explain", session_explain },
		{ "export_keying_material", session_export },
		{ "key_fingerprint", session_key_fingerprint },
		{ "pending", session_pending },
		{ "destroy", session_destroy },
		{ NULL, NULL }
	};
	lm_register_class(L, LM_SESSION, meta, methods, session_index);
}
