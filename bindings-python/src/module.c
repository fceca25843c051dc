/* mutls._mutls: the module's entry point: its functions, the error classes
 * and the types (the conversion helpers are in convert.c, the hooks in
 * hooks.c). */
#include "mutlspy.h"

#include <math.h>
#include <time.h>

PyTypeObject *Mutls_CertificateType;
PyTypeObject *Mutls_ConfigType;
PyTypeObject *Mutls_SessionType;
PyTypeObject *Mutls_PeerType;
PyTypeObject *Mutls_VerificationType;
PyTypeObject *Mutls_TestCAType;
PyTypeObject *Mutls_IdentityType;
PyTypeObject *Mutls_TraceEventType;

PyObject *Mutls_Error;
PyObject *Mutls_HandshakeError;
PyObject *Mutls_CertificateVerifyError;
PyObject *Mutls_PeerRejectedError;
PyObject *Mutls_ProtocolError;
PyObject *Mutls_ConnectionClosed;
PyObject *Mutls_TimeoutError;
PyObject *Mutls_ConfigError;
PyObject *Mutls_UsageError;
PyObject *Mutls_WantRead;
PyObject *Mutls_WantWrite;

/* ---- module functions ---------------------------------------------------- */

/* A list of Certificates for a loaded list (which it frees). */
static PyObject *certificate_list(mutls_x509 **list, size_t count)
{
	PyObject *out = PyList_New((Py_ssize_t)count);

	for (size_t i = 0; out && i < count; i++) {
		PyObject *c = mutlspy_certificate_wrap(list[i]);
		if (!c) {
			Py_CLEAR(out);
			break;
		}
		PyList_SET_ITEM(out, (Py_ssize_t)i, c);
	}
	mutls_x509_list_free(list, count);
	return out;
}

static PyObject *certificates_from_pem(PyObject *mod, PyObject *arg)
{
	PyObject *bytes;
	mutls_x509 **list = NULL;
	size_t count = 0;
	int rc;

	if (!PyUnicode_Check(arg) && !PyBytes_Check(arg) && !PyByteArray_Check(arg)) {
		PyErr_Format(PyExc_TypeError, "expected PEM text (str or bytes), not %.100s",
			Py_TYPE(arg)->tp_name);
		return NULL;
	}
	bytes = mutlspy_source_bytes(arg, "certificates");
	if (!bytes)
		return NULL;
	rc = mutls_x509_list_from_pem(&list, &count, PyBytes_AS_STRING(bytes),
		(size_t)PyBytes_GET_SIZE(bytes));
	Py_DECREF(bytes);
	if (rc < 0)
		return mutlspy_raise_last(rc, NULL, NULL);
	return certificate_list(list, count);
}

static PyObject *certificates_load(PyObject *mod, PyObject *arg)
{
	PyObject *bytes = NULL;
	mutls_x509 **list = NULL;
	size_t count = 0;
	int rc;

	if (!PyUnicode_FSConverter(arg, &bytes))
		return NULL;
	rc = mutls_x509_list_load(&list, &count, PyBytes_AS_STRING(bytes));
	Py_DECREF(bytes);
	if (rc < 0)
		return mutlspy_raise_last(rc, NULL, NULL);
	return certificate_list(list, count);
}

static PyMethodDef module_methods[] = {
	{ "certificates_from_pem", certificates_from_pem, METH_O,
	  "certificates_from_pem(pem) -> list[Certificate]: every certificate of PEM text, in order." },
	{ "certificates_load", certificates_load, METH_O,
	  "certificates_load(path) -> list[Certificate]: every certificate of a PEM file, or the one of a DER file." },
	{ "trace_event_text", mutlspy_trace_event_text, METH_O,
	  "trace_event_text(ev) -> str: the event as the line the demos print "
	  "(\"-> ClientHello  517 bytes  offers ...\", \"check validity   ok   ...\")." },
	{ "trace_event_note", mutlspy_trace_event_note, METH_O,
	  "trace_event_note(ev) -> str | None: what the event teaches (the question a check "
	  "answers, \"the offer\" for a sent ClientHello), or None." },
	{ NULL, NULL, 0, NULL }
};

static struct PyModuleDef mutls_module = {
	PyModuleDef_HEAD_INIT,
	"mutls._mutls",
	"The C extension of mutls: mutual TLS over GnuTLS. Use the mutls package.",
	-1,
	module_methods,
	NULL, NULL, NULL, NULL
};

/* ---- init ---------------------------------------------------------------- */

static PyObject *make_exception(PyObject *mod, const char *name, PyObject *bases,
	const char *code, const char *doc)
{
	char full[64];
	PyObject *dict = PyDict_New(), *cls = NULL;

	if (!dict)
		return NULL;
	if (code) {
		PyObject *c = PyUnicode_FromString(code);
		if (!c || PyDict_SetItemString(dict, "code", c) < 0) {
			Py_XDECREF(c);
			goto out;
		}
		Py_DECREF(c);
	}
	snprintf(full, sizeof(full), "mutls.%s", name);
	cls = PyErr_NewExceptionWithDoc(full, doc, bases, dict);
	if (cls && PyModule_AddObject(mod, name, cls) < 0) {
		cls = NULL; /* the module function stole nothing on failure, but give up */
		goto out;
	}
	Py_XINCREF(cls); /* one reference for the module, one for our global */
out:
	Py_DECREF(dict);
	return cls;
}

static int make_errors(PyObject *mod)
{
	PyObject *b;

	/* Error: class-level defaults for every attribute */
	{
		PyObject *dict = Py_BuildValue("{sOsNsOsOsOsO}", "code", Py_None, "reasons",
			PyTuple_New(0), "alert", Py_None, "side", Py_None, "step", Py_None,
			"peer_certificate", Py_None, "hook_message", Py_None);
		if (!dict)
			return -1;
		Mutls_Error = PyErr_NewExceptionWithDoc("mutls.Error",
			"Base class of mutls failures.\n\n"
			"Attributes: code (str: \"verify-failed\", \"peer-rejected\", \"no-certificate\",\n"
			"\"protocol\", \"closed\", \"timeout\", \"config\", \"usage\", \"hook\", \"want-read\",\n"
			"\"want-write\"), reasons (list of str), alert (str or None), side (\"local\",\n"
			"\"peer\" or None), step (str or None), peer_certificate (Certificate or None).\n"
			"str(error) is the one-sentence message.",
			PyExc_Exception, dict);
		Py_DECREF(dict);
		if (!Mutls_Error)
			return -1;
		Py_INCREF(Mutls_Error);
		if (PyModule_AddObject(mod, "Error", Mutls_Error) < 0)
			return -1;
	}
#define EXC(var, name, bases_expr, code, doc) \
	do { \
		b = (bases_expr); \
		if (!b) return -1; \
		var = make_exception(mod, name, b, code, doc); \
		Py_DECREF(b); \
		if (!var) return -1; \
	} while (0)

	EXC(Mutls_HandshakeError, "HandshakeError", Py_BuildValue("(O)", Mutls_Error), NULL,
		"The handshake failed (codes verify-failed, no-certificate, peer-rejected,\n"
		"protocol, hook).");
	EXC(Mutls_CertificateVerifyError, "CertificateVerifyError",
		Py_BuildValue("(O)", Mutls_HandshakeError), "verify-failed",
		"We rejected the peer's certificate (code verify-failed) or the peer sent none\n"
		"although one is required (code no-certificate). reasons says why.");
	EXC(Mutls_PeerRejectedError, "PeerRejectedError", Py_BuildValue("(O)", Mutls_HandshakeError),
		"peer-rejected", "The peer's alert says it refused us (code peer-rejected).");
	EXC(Mutls_ProtocolError, "ProtocolError", Py_BuildValue("(O)", Mutls_HandshakeError),
		"protocol", "Malformed or unexpected data (code protocol).");
	EXC(Mutls_ConnectionClosed, "ConnectionClosed",
		Py_BuildValue("(OO)", Mutls_Error, PyExc_ConnectionError), "closed",
		"The connection ended without close_notify, or the transport failed (code closed).");
	EXC(Mutls_TimeoutError, "TimeoutError", Py_BuildValue("(OO)", Mutls_Error, PyExc_TimeoutError),
		"timeout", "The socket's timeout passed (code timeout). The session stays usable.");
	EXC(Mutls_ConfigError, "ConfigError", Py_BuildValue("(OO)", Mutls_Error, PyExc_ValueError),
		"config", "Bad input: unreadable PEM or file, wrong password, key mismatch,\n"
		"invalid option value (code config). The message names the file or field.");
	EXC(Mutls_UsageError, "UsageError", Py_BuildValue("(OO)", Mutls_Error, PyExc_ValueError),
		"usage", "API misuse (code usage).");
	EXC(Mutls_WantRead, "WantRead", Py_BuildValue("(O)", Mutls_Error), "want-read",
		"Not a failure: the call needs more input; retry when there is some.");
	EXC(Mutls_WantWrite, "WantWrite", Py_BuildValue("(O)", Mutls_Error), "want-write",
		"Not a failure: the socket cannot take more data now; retry when writable.");
#undef EXC
	return 0;
}

static PyStructSequence_Field trace_fields[] = {
	{ "kind", "\"message\", \"check\", \"alert\" or \"info\"" },
	{ "outgoing", "message/alert: True when sent by this side" },
	{ "ok", "check: True when it passed (always True for others but failed alerts)" },
	{ "name", "message name (\"ClientHello\"), check name, alert name or info key" },
	{ "detail", "human detail (possibly empty)" },
	{ "message_type", "message: TLS HandshakeType number; alert: alert number" },
	{ "length", "message: body length in bytes" },
	{ NULL, NULL }
};

static PyStructSequence_Desc trace_desc = {
	"mutls.TraceEvent",
	"One handshake event: a message sent or received, a verification check, an\n"
	"alert, or a negotiated fact.",
	trace_fields,
	7
};

static PyTypeObject *make_type(PyObject *mod, const char *name, PyType_Spec *spec)
{
	PyTypeObject *t = (PyTypeObject *)PyType_FromSpec(spec);
	if (!t)
		return NULL;
	Py_INCREF(t);
	if (PyModule_AddObject(mod, name, (PyObject *)t) < 0) {
		Py_DECREF(t);
		Py_DECREF(t);
		return NULL;
	}
	return t;
}

static PyObject *name_tuple(const char *(*name)(int), int from, int to)
{
	PyObject *t = PyTuple_New(to - from + 1);
	for (int i = from; t && i <= to; i++) {
		PyObject *s = PyUnicode_FromString(name(-i));
		if (!s) {
			Py_CLEAR(t);
			break;
		}
		PyTuple_SET_ITEM(t, i - from, s);
	}
	return t;
}

PyMODINIT_FUNC PyInit__mutls(void)
{
	PyObject *m;

	if (mutlspy_convert_init() < 0)
		return NULL;
	m = PyModule_Create(&mutls_module);
	if (!m)
		return NULL;
	if (make_errors(m) < 0)
		goto fail;
	if (!(Mutls_CertificateType = make_type(m, "Certificate", &mutlspy_certificate_spec)) ||
	    !(Mutls_ConfigType = make_type(m, "Config", &mutlspy_config_spec)) ||
	    !(Mutls_SessionType = make_type(m, "Session", &mutlspy_session_spec)) ||
	    !(Mutls_PeerType = make_type(m, "Peer", &mutlspy_peer_spec)) ||
	    !(Mutls_VerificationType = make_type(m, "Verification", &mutlspy_verification_spec)) ||
	    !(Mutls_TestCAType = make_type(m, "TestCA", &mutlspy_testca_spec)) ||
	    !(Mutls_IdentityType = make_type(m, "Identity", &mutlspy_identity_spec)))
		goto fail;
	Mutls_TraceEventType = PyStructSequence_NewType(&trace_desc);
	if (!Mutls_TraceEventType)
		goto fail;
	Py_INCREF(Mutls_TraceEventType);
	if (PyModule_AddObject(m, "TraceEvent", (PyObject *)Mutls_TraceEventType) < 0)
		goto fail;

	if (PyModule_AddStringConstant(m, "__version__", MUTLS_VERSION) < 0 ||
	    PyModule_AddStringConstant(m, "GNUTLS_VERSION", mutls_gnutls_version()) < 0)
		goto fail;
	{
		/* the stable names, for programs that want to list them */
		PyObject *codes = name_tuple(mutls_code_name, 1, 11);
		PyObject *reasons = PyTuple_New(MUTLS_REASON_COUNT);
		for (unsigned i = 0; reasons && i < MUTLS_REASON_COUNT; i++) {
			PyObject *s = PyUnicode_FromString(mutls_reason_name(1u << i));
			if (!s) {
				Py_CLEAR(reasons);
				break;
			}
			PyTuple_SET_ITEM(reasons, i, s);
		}
		if (!codes || !reasons || PyModule_AddObject(m, "CODES", codes) < 0) {
			Py_XDECREF(codes);
			Py_XDECREF(reasons);
			goto fail;
		}
		if (PyModule_AddObject(m, "REASONS", reasons) < 0) {
			Py_DECREF(reasons);
			goto fail;
		}
	}
	return m;
fail:
	Py_DECREF(m);
	return NULL;
}
