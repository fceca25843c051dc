/* Turning a mutls_error into the right exception: class by code, with
 * code, reasons, alert, side, step and peer_certificate, and the hook's
 * exception chained as __cause__. */
#include "mutlspy.h"

#include <stdarg.h>

PyObject *mutlspy_error_class(int code)
{
	switch (code) {
	case MUTLS_EWANTREAD: return Mutls_WantRead;
	case MUTLS_EWANTWRITE: return Mutls_WantWrite;
	case MUTLS_EVERIFY:
	case MUTLS_ENOCERT: return Mutls_CertificateVerifyError;
	case MUTLS_EPEERREJECTED: return Mutls_PeerRejectedError;
	case MUTLS_EPROTOCOL: return Mutls_ProtocolError;
	case MUTLS_EHOOK: return Mutls_HandshakeError;
	case MUTLS_ECLOSED: return Mutls_ConnectionClosed;
	case MUTLS_ETIMEOUT: return Mutls_TimeoutError;
	case MUTLS_ECONFIG: return Mutls_ConfigError;
	case MUTLS_EUSAGE: return Mutls_UsageError;
	default: return Mutls_Error;
	}
}

static int set_str(PyObject *exc, const char *attr, const char *value)
{
	PyObject *v = mutlspy_str_or_none(value);
	int rc;
	if (!v)
		return -1;
	rc = PyObject_SetAttrString(exc, attr, v);
	Py_DECREF(v);
	return rc;
}

static PyObject *error_build(int code, unsigned reasons, mutls_side side, mutls_step step,
	int alert, const char *message, const char *hook_message, PyObject *peer_cert)
{
	PyObject *msg, *exc, *list;

	msg = PyUnicode_DecodeUTF8(message, (Py_ssize_t)strlen(message), "replace");
	if (!msg)
		return NULL;
	exc = PyObject_CallOneArg(mutlspy_error_class(code), msg);
	Py_DECREF(msg);
	if (!exc)
		return NULL;
	list = mutlspy_reasons_list(reasons);
	if (!list || set_str(exc, "code", mutls_code_name(code)) < 0 ||
	    PyObject_SetAttrString(exc, "reasons", list) < 0 ||
	    set_str(exc, "alert", alert >= 0 ? mutls_alert_name(alert) : NULL) < 0 ||
	    set_str(exc, "side", side == MUTLS_SIDE_NONE ? NULL : mutls_side_name(side)) < 0 ||
	    set_str(exc, "step", step == MUTLS_STEP_NONE ? NULL : mutls_step_name(step)) < 0 ||
	    set_str(exc, "hook_message", hook_message && hook_message[0] ? hook_message : NULL) < 0 ||
	    PyObject_SetAttrString(exc, "peer_certificate", peer_cert ? peer_cert : Py_None) < 0) {
		Py_XDECREF(list);
		Py_DECREF(exc);
		return NULL;
	}
	Py_DECREF(list);
	return exc;
}

PyObject *mutlspy_error_new(const mutls_error *err, SessionObject *sess, CertificateObject *cert)
{
	PyObject *peer = NULL, *exc;

	if (cert) {
		Py_INCREF(cert);
		peer = (PyObject *)cert;
	} else if (sess && sess->s && mutls_session_error_certificate(sess->s, mutls_error_code(err))) {
		peer = mutlspy_certificate_wrap(mutls_session_error_certificate(sess->s, mutls_error_code(err)));
		if (!peer)
			return NULL;
	}
	exc = error_build(mutls_error_code(err), mutls_error_reasons(err), mutls_error_side(err),
		mutls_error_step(err), mutls_error_alert(err), mutls_error_message(err), mutls_error_hook_message(err), peer);
	Py_XDECREF(peer);
	return exc;
}

PyObject *mutlspy_fetch_exception(void)
{
	PyObject *type, *value, *tb;

	PyErr_Fetch(&type, &value, &tb);
	if (!type)
		return NULL;
	PyErr_NormalizeException(&type, &value, &tb);
	if (!value) {
		Py_INCREF(Py_None);
		value = Py_None;
	}
	if (tb && value != Py_None)
		PyException_SetTraceback(value, tb);
	Py_XDECREF(type);
	Py_XDECREF(tb);
	return value;
}

/* Raises exc (stolen) with cause (stolen, may be NULL) as __cause__. A cause
 * that is a BaseException but not an Exception wins and is raised alone. */
static PyObject *raise_with_cause(PyObject *exc, PyObject *cause)
{
	if (cause && PyExceptionInstance_Check(cause) &&
	    !PyObject_TypeCheck(cause, (PyTypeObject *)PyExc_Exception)) {
		PyObject *tb = PyException_GetTraceback(cause);
		Py_DECREF(exc);
		Py_INCREF(Py_TYPE(cause));
		PyErr_Restore((PyObject *)Py_TYPE(cause), cause, tb);
		return NULL;
	}
	if (cause && PyExceptionInstance_Check(cause)) {
		PyException_SetCause(exc, cause); /* steals; sets __suppress_context__ */
	} else {
		Py_XDECREF(cause);
	}
	PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
	Py_DECREF(exc);
	return NULL;
}

void mutlspy_chain_cause(PyObject *cause)
{
	PyObject *exc;
	if (!cause)
		return;
	exc = mutlspy_fetch_exception();
	if (!exc) {
		Py_DECREF(cause);
		return;
	}
	raise_with_cause(exc, cause);
}

PyObject *mutlspy_raise(int rc, SessionObject *sess)
{
	const mutls_error *e = NULL;
	PyObject *exc, *cause = NULL;

	if (sess) {
		cause = sess->exc;
		sess->exc = NULL;
	}
	if (rc == MUTLS_ENOMEM) {
		Py_XDECREF(cause);
		return PyErr_NoMemory();
	}
	mutls_session_error_for(&e, sess ? sess->s : NULL, rc);
	exc = mutlspy_error_new(e, sess, NULL);
	if (!exc) {
		Py_XDECREF(cause);
		return NULL;
	}
	return raise_with_cause(exc, cause);
}

PyObject *mutlspy_raise_last(int rc, CertificateObject *cert, PyObject *cause)
{
	const mutls_error *e = NULL;
	PyObject *exc;

	if (rc == MUTLS_ENOMEM) {
		Py_XDECREF(cause);
		return PyErr_NoMemory();
	}
	mutls_session_error_for(&e, NULL, rc);
	exc = mutlspy_error_new(e, NULL, cert);
	if (!exc) {
		Py_XDECREF(cause);
		return NULL;
	}
	return raise_with_cause(exc, cause);
}

PyObject *mutlspy_raise_code(int code, const char *fmt, ...)
{
	char message[1024];
	va_list ap;
	PyObject *exc;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	exc = error_build(code, 0, MUTLS_SIDE_NONE, MUTLS_STEP_NONE, -1, message, NULL, NULL);
	if (!exc)
		return NULL;
	PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
	Py_DECREF(exc);
	return NULL;
}
