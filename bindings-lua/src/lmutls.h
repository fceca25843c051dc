/* Private declarations shared by the files of the Lua binding. */
#ifndef MUTLS_LUA_H
#define MUTLS_LUA_H

#include "compat.h"
#include "mutls.h"

#include <stddef.h>

#define LM_CONFIG   "mutls.Config"
#define LM_SESSION  "mutls.Session"
#define LM_CERT     "mutls.Certificate"
#define LM_TESTCA   "mutls.TestCA"
#define LM_IDENTITY "mutls.Identity"
#define LM_ERROR    "mutls.Error"

#define LM_HOOKMSG_MAX 480

typedef struct {
	mutls_config *cfg;
} lm_config;

typedef struct {
	mutls_x509 *x;
} lm_cert;

typedef struct {
	mutls_testca *ca;
} lm_testca;

typedef struct {
	mutls_identity *id;
} lm_identity;

/*
 * A session. Its user value table holds { config = <the Lua config> }, which
 * keeps the config and therefore its hook functions alive. While a method
 * that may run hooks (handshake, send, recv, close) is inside the C core,
 * L is the calling coroutine and self_index the session's stack slot in it;
 * the hook trampolines run the Lua hooks there, under lua_pcall.
 */
typedef struct {
	mutls_session *s;
	lua_State *L;         /* non-NULL only during a call into the core */
	int self_index;
	char *buf;            /* recv scratch buffer */
	size_t buf_cap;
} lm_session;

/* module.c */
/* Integer push that is an integer on 5.4 and a number on 5.1. */
void lm_pushint(lua_State *L, long long v);
/* Registers metatable tname with meta (no __index) and an __index closure
 * of index whose upvalue is the methods table (lm_index_method reads it). */
void lm_register_class(lua_State *L, const char *tname, const luaL_Reg *meta,
	const luaL_Reg *methods, lua_CFunction index);
/* First thing in a class's __index: 1 with the method named by argument 2
 * pushed, or 0 (nothing pushed) when it is not a method. Methods are looked
 * up on every obj:method() call, so this is one raw table read. */
int lm_index_method(lua_State *L);
/*
 * Strings that go into C. C reads a Lua string up to its first NUL, so a
 * string with an embedded NUL would mean something shorter in C than in Lua
 * ("orders.internal\0.attacker.example"): it is refused, as bad input
 * (nil, err with code "config", naming the option), by lm_options_nonul
 * for a whole options table and lm_fail_nul for one argument, before
 * anything is done; lm_tostring_nonul (used where each string is handed to
 * C) raises if one got past them (user code changed the options meanwhile).
 *
 * A pointer into a Lua string is valid only while the string is reachable:
 * the string stays in a stack slot of the running C function (or in a table
 * only the binding can reach) until the C call that reads it has returned,
 * whatever Lua code runs meanwhile (a password function, getfd(), a
 * metamethod, a finalizer during an allocation).
 */
#define LM_TEXT   0 /* a name, pattern, password...: no NUL */
#define LM_SOURCE 1 /* PEM text or a path (the message hints at DER) */
/* Pushes nil, err and returns 2 when the string at idx holds a NUL; 0. */
int lm_fail_nul(lua_State *L, int idx, const char *what, int kind);
/* The same for every string value (and string item of an array value) of
 * the options table at idx, except binary ones (session_data). */
int lm_options_nonul(lua_State *L, int idx);
/* The string at idx (a number is converted in place), NULL when it is not
 * a string or number; raises when it holds a NUL. */
const char *lm_tostring_nonul(lua_State *L, int idx, const char *what, int kind, size_t *len);
/* Option fields of the table at idx, read raw (metamethods do not run): raise
 * on a wrong type. The string ones push the value (string or nil) and leave
 * it on the stack, where it anchors the string returned (NULL for nil). */
const char *lm_optstring_field(lua_State *L, int idx, const char *key);
const char *lm_optsource_field(lua_State *L, int idx, const char *key);
int lm_optbool_field(lua_State *L, int idx, const char *key, int def);
/* Raise when the options table at idx has a key not in allowed (NULL-ended). */
void lm_check_options(lua_State *L, int idx, const char *what, const char *const *allowed);
/* The string, or each string of the array, at idx, as a C array. One
 * userdata is left on the stack: it keeps the array and, in its user value,
 * the strings. Raises on other types and on a NUL. */
const char **lm_string_list(lua_State *L, int idx, const char *what, size_t *count);
/* Calls fn(value, lightuserdata ctx) under lua_pcall on L, value being the
 * stack slot value_index of L's current frame. Returns 0, or -1 with the
 * error as text in msg[cap]. Never raises: safe inside core callbacks. */
int lm_run_protected(lua_State *L, int value_index, lua_CFunction fn, void *ctx,
	char *msg, size_t cap);

/* errors.c */
void lm_open_errors(lua_State *L);
/* Pushes an error object built from e (copied first); a hook error's
 * hook_message is the core's (mutls_error_hook_message). s (may be NULL)
 * gives the peer certificate. */
void lm_push_error(lua_State *L, const mutls_error *e, const mutls_session *s);
/* nil, err from mutls_error_last(); returns 2. */
int lm_fail_last(lua_State *L);
/* nil, err from a session's error (or the last error when it has none). */
int lm_fail_session(lua_State *L, lm_session *ls, int rc);
/* Pushes an error object made by the binding. */
void lm_push_error_made(lua_State *L, int code, mutls_side side, mutls_step step,
	const char *message);
/* Pushes the array of reason names of a reason bit set. */
void lm_push_reasons(lua_State *L, unsigned reasons);

/* certificate.c */
void lm_open_certificate(lua_State *L);
/* Pushes a Certificate holding a new reference to x (x may not be NULL). */
void lm_push_cert(lua_State *L, mutls_x509 *x);
lm_cert *lm_check_cert(lua_State *L, int idx);
lm_cert *lm_test_cert(lua_State *L, int idx);
int lm_certificate_new(lua_State *L);
int lm_certificate_from_der(lua_State *L);
int lm_load_certificate(lua_State *L);
int lm_load_certificates(lua_State *L);

/* config.c */
void lm_open_config(lua_State *L);
int lm_config_new(lua_State *L);
/* A new empty Config userdata on the stack. */
lm_config *lm_push_new_config(lua_State *L);
lm_config *lm_check_config(lua_State *L, int idx);
/* Adds the trust value at idx (string, Certificate, TestCA or array of
 * these) to cfg. Returns 0 or a mutls error code (error in
 * mutls_error_last); raises on wrong types. */
int lm_add_trust(lua_State *L, mutls_config *cfg, int idx);
/* Same for CRLs (string, TestCA, or array). */
int lm_add_crl(lua_State *L, mutls_config *cfg, int idx);
/* Same for peer patterns (string or array of strings). */
int lm_add_peers(lua_State *L, mutls_config *cfg, int idx);
/* The hook trampolines (config.c registers them; session.c provides the
 * session side). */
void lm_push_trace_event(lua_State *L, const mutls_trace_event *e);
int lm_trace_event_text(lua_State *L);
int lm_trace_event_note(lua_State *L);

/* session.c */
void lm_open_session(lua_State *L);
int lm_session_new(lua_State *L, lm_config *cfg, int cfg_index, int server, int opts);
/* cfg:check_peer(chain) (see session.c). */
int lm_session_check_peer(lua_State *L, lm_config *cfg, int cfg_index, int chain_index);
/* For the trampolines in config.c: runs fn (a C function taking the
 * session userdata as argument 1 and ctx as light userdata argument 2) on
 * the session's coroutine under lua_pcall. Returns 0, or -1 with the error
 * text in msg[cap] (the trampoline gives it to the core). Never
 * raises. */
int lm_session_run_hook(mutls_session *s, lua_CFunction fn, void *ctx,
	char *msg, size_t cap);

/* hooks.c: the trampolines the C config calls, and the registry entries of
 * lm_run_protected (luaopen_mutls). */
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
int lm_verify_trampoline(mutls_session *s, void *payload, char *reason, size_t cap);
int lm_clock_trampoline(int64_t *out, mutls_session *s, void *payload);
int lm_trace_trampoline(mutls_session *s, const mutls_trace_event *e, void *payload);
int lm_keylog_trampoline(mutls_session *s, const char *line, void *payload);
int lm_password_trampoline(char *buf, size_t cap, const char *what, void *payload);
void lm_open_hooks(lua_State *L);

/* testca.c */
void lm_open_testca(lua_State *L);
int lm_testca_new(lua_State *L);
int lm_testca_load(lua_State *L);
lm_testca *lm_test_testca(lua_State *L, int idx);
lm_identity *lm_test_identity(lua_State *L, int idx);

#endif
