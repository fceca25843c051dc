/* The trampolines through which the core calls the Python hooks (verify
 * hook, trace, keylog, password, the verify_time callable). Each takes the
 * GIL, calls the hook, and never lets an exception through the core: the
 * first exception is stored on the session (the __cause__ of the handshake's
 * error) and its description goes to the core (mutls_session_set_hook_error,
 * a verify hook's reason), which words the error. The payload is the
 * ConfigObject (config.c says why it outlives the C config). */
#include "mutlspy.h"

#include <limits.h>
#include <math.h>

/* ---- trampolines ---------------------------------------------------------- */

/* "ZeroDivisionError: division by zero" for an exception. */
static void describe_exception(PyObject *exc, char *out, size_t cap)
{
	PyObject *s = exc ? PyObject_Str(exc) : NULL;
	const char *text = s ? PyUnicode_AsUTF8(s) : NULL;
	const char *name = exc ? Py_TYPE(exc)->tp_name : "exception";
	const char *dot = strrchr(name, '.');

	if (!text)
		PyErr_Clear();
	if (dot && strncmp(name, "builtins.", 9) == 0)
		name = dot + 1;
	if (text && *text)
		snprintf(out, cap, "%s: %s", name, text);
	else
		snprintf(out, cap, "%s", name);
	Py_XDECREF(s);
}

static void copy_reason(char *reason, size_t cap, const char *text)
{
	snprintf(reason, cap, "%s", text);
}

int mutlspy_verify_trampoline(mutls_session *s, void *payload, char *reason, size_t cap)
{
	ConfigObject *self = payload;
	PyGILState_STATE g = PyGILState_Ensure();
	SessionObject *sess = mutls_session_userdata(s);
	PyObject *hook = self->verify_hook, *peer = NULL, *res = NULL;
	int verdict = MUTLS_HOOK_ERROR;

	if (!hook || !sess) {
		copy_reason(reason, cap, "the verify hook is gone (its config is being collected)");
		goto out;
	}
	Py_INCREF(hook);
	peer = mutlspy_peer_new(sess);
	if (peer)
		res = PyObject_CallOneArg(hook, peer);
	Py_DECREF(hook);
	if (!res) {
		PyObject *exc = mutlspy_fetch_exception();
		describe_exception(exc, reason, cap);
		if (exc && !sess->exc)
			sess->exc = exc;
		else
			Py_XDECREF(exc);
		verdict = MUTLS_HOOK_ERROR;
	} else if (res == Py_True) {
		verdict = MUTLS_HOOK_ACCEPT;
	} else if (res == Py_False) {
		copy_reason(reason, cap, "verify_hook returned False");
		verdict = MUTLS_HOOK_REJECT;
	} else if (res == Py_None) {
		copy_reason(reason, cap, "verify_hook returned None (return True to accept)");
		verdict = MUTLS_HOOK_REJECT;
	} else if (PyUnicode_Check(res)) {
		const char *text = PyUnicode_AsUTF8(res);
		if (!text) {
			PyErr_Clear();
			text = "(a reason that is not valid UTF-8)";
		}
		copy_reason(reason, cap, *text ? text : "verify_hook returned an empty reason");
		verdict = MUTLS_HOOK_REJECT;
	} else {
		snprintf(reason, cap, "verify_hook returned %.100s (return True to accept, False or "
			"a reason string to reject)", Py_TYPE(res)->tp_name);
		verdict = MUTLS_HOOK_REJECT;
	}
out:
	Py_XDECREF(res);
	Py_XDECREF(peer);
	PyGILState_Release(g);
	return verdict;
}

/* Calls hook(arg); on an exception stores it on the session. 0 or -1. */
static int call_hook(PyObject *hook, mutls_session *s, PyObject *arg)
{
	SessionObject *sess = mutls_session_userdata(s);
	PyObject *res;

	if (!arg)
		res = NULL;
	else {
		Py_INCREF(hook);
		res = PyObject_CallOneArg(hook, arg);
		Py_DECREF(hook);
	}
	if (res) {
		Py_DECREF(res);
		return 0;
	}
	if (!sess) {
		PyErr_WriteUnraisable(hook);
		return -1;
	}
	if (!sess->exc) {
		/* the first failure explains it: its text goes into the core's
		 * message ("the trace hook failed during the handshake: ..."), the
		 * exception itself becomes the __cause__ */
		char text[512];
		PyObject *exc = mutlspy_fetch_exception();
		describe_exception(exc, text, sizeof(text));
		mutls_session_set_hook_error(s, text);
		sess->exc = exc;
	} else {
		PyErr_Clear();
	}
	return -1;
}

int mutlspy_trace_trampoline(mutls_session *s, const mutls_trace_event *ev, void *payload)
{
	ConfigObject *self = payload;
	PyGILState_STATE g = PyGILState_Ensure();
	int rc = 0;

	if (self->trace_hook) {
		PyObject *event = mutlspy_trace_event(ev);
		rc = call_hook(self->trace_hook, s, event);
		Py_XDECREF(event);
	}
	PyGILState_Release(g);
	return rc;
}

int mutlspy_keylog_trampoline(mutls_session *s, const char *line, void *payload)
{
	ConfigObject *self = payload;
	PyGILState_STATE g = PyGILState_Ensure();
	int rc = 0;

	if (self->keylog_hook) {
		PyObject *text = PyUnicode_DecodeUTF8(line, (Py_ssize_t)strlen(line), "replace");
		rc = call_hook(self->keylog_hook, s, text);
		Py_XDECREF(text);
	}
	PyGILState_Release(g);
	return rc;
}

int mutlspy_password_trampoline(char *buf, size_t cap, const char *what, void *payload)
{
	ConfigObject *self = payload;
	PyGILState_STATE g = PyGILState_Ensure();
	PyObject *res = NULL, *bytes = NULL;
	int rc = -1;

	if (!self->password)
		goto out;
	res = PyObject_CallNoArgs(self->password);
	if (!res)
		goto fail;
	if (res == Py_None)
		goto out; /* refused */
	if (PyUnicode_Check(res))
		bytes = PyUnicode_AsUTF8String(res);
	else if (PyBytes_Check(res) || PyByteArray_Check(res))
		bytes = PyBytes_FromObject(res);
	else {
		PyErr_Format(PyExc_TypeError, "password callable must return str or bytes, not %.100s",
			Py_TYPE(res)->tp_name);
		goto fail;
	}
	if (!bytes)
		goto fail;
	if (memchr(PyBytes_AS_STRING(bytes), 0, (size_t)PyBytes_GET_SIZE(bytes))) {
		/* C would take the password up to the NUL */
		PyErr_SetString(PyExc_ValueError, "the password callable returned a password that contains a NUL character");
		goto fail;
	}
	if ((size_t)PyBytes_GET_SIZE(bytes) >= cap) {
		PyErr_Format(PyExc_ValueError, "password is longer than %zu bytes", cap - 1);
		goto fail;
	}
	memcpy(buf, PyBytes_AS_STRING(bytes), (size_t)PyBytes_GET_SIZE(bytes));
	buf[PyBytes_GET_SIZE(bytes)] = 0;
	rc = 0;
	goto out;
fail:
	if (!self->password_exc)
		self->password_exc = mutlspy_fetch_exception();
	else
		PyErr_Clear();
out:
	mutlspy_release_secret(bytes, res);
	Py_XDECREF(res);
	PyGILState_Release(g);
	return rc;
}

/* The core asks the verify_time callable (under the GIL); its exception is
 * stored on the session and becomes the __cause__ of the handshake's error. */
int mutlspy_clock_trampoline(int64_t *out, mutls_session *s, void *payload)
{
	ConfigObject *self = payload;
	PyGILState_STATE g = PyGILState_Ensure();
	SessionObject *sess = s ? mutls_session_userdata(s) : NULL;
	int rc = mutlspy_config_clock_now(self, out);

	if (rc <= 0) {
		PyObject *exc = rc < 0 ? mutlspy_fetch_exception() : NULL;
		char message[300];
		if (exc)
			describe_exception(exc, message, sizeof(message));
		else
			snprintf(message, sizeof(message), "the verify_time callable is gone");
		if (s)
			mutls_session_set_hook_error(s, message);
		if (exc && sess && !sess->exc)
			sess->exc = exc;
		else
			Py_XDECREF(exc);
	}
	PyGILState_Release(g);
	return rc > 0 ? 0 : MUTLS_HOOK_ERROR;
}
