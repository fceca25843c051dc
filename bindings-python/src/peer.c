/* What a session shows of itself: TraceEvent (one recorded handshake
 * event), Peer (the peer as the verify hook sees it) and Verification (the
 * outcome of the peer checks). The rules behind them (a peer's ok, the
 * event names) are the core's. */
#include "mutlspy.h"

/* The peer's chain as a list of Certificate, leaf first. */
PyObject *mutlspy_chain_list(mutls_session *s)
{
	size_t n = mutls_session_peer_chain_length(s);
	PyObject *list = PyList_New((Py_ssize_t)n);
	for (size_t i = 0; list && i < n; i++) {
		PyObject *c = mutlspy_certificate_wrap(mutls_session_peer_certificate(s, i));
		if (!c) {
			Py_CLEAR(list);
			break;
		}
		PyList_SET_ITEM(list, (Py_ssize_t)i, c);
	}
	return list;
}

/* ---- TraceEvent ---------------------------------------------------------- */

PyObject *mutlspy_trace_event(const mutls_trace_event *ev)
{
	PyObject *o;

	if (!ev) {
		PyErr_SetString(PyExc_SystemError, "mutls: NULL trace event");
		return NULL;
	}
	o = PyStructSequence_New(Mutls_TraceEventType);
	if (!o)
		return NULL;
	PyStructSequence_SET_ITEM(o, 0, PyUnicode_FromString(mutls_trace_kind_name(ev->kind)));
	PyStructSequence_SET_ITEM(o, 1, PyBool_FromLong(ev->outgoing));
	PyStructSequence_SET_ITEM(o, 2, PyBool_FromLong(ev->ok));
	PyStructSequence_SET_ITEM(o, 3, mutlspy_str_or_none(ev->name ? ev->name : ""));
	PyStructSequence_SET_ITEM(o, 4, mutlspy_str_or_none(ev->detail ? ev->detail : ""));
	PyStructSequence_SET_ITEM(o, 5, PyLong_FromLong(ev->message_type));
	PyStructSequence_SET_ITEM(o, 6, PyLong_FromSize_t(ev->length));
	for (Py_ssize_t i = 0; i < 7; i++) {
		if (!PyStructSequence_GET_ITEM(o, i)) {
			Py_DECREF(o);
			return NULL;
		}
	}
	return o;
}

/* The core event a TraceEvent holds; its strings are borrowed from obj. */
static int event_of(mutls_trace_event *ev, PyObject *obj, const char *func)
{
	const char *kind;
	int rc;

	if (!PyObject_TypeCheck(obj, Mutls_TraceEventType)) {
		PyErr_Format(PyExc_TypeError, "%s: expected a mutls.TraceEvent, got %.80s",
			func, Py_TYPE(obj)->tp_name);
		return -1;
	}
	memset(ev, 0, sizeof(*ev));
	if (!(kind = PyUnicode_AsUTF8(PyStructSequence_GET_ITEM(obj, 0))) ||
	    !(ev->name = PyUnicode_AsUTF8(PyStructSequence_GET_ITEM(obj, 3))) ||
	    !(ev->detail = PyUnicode_AsUTF8(PyStructSequence_GET_ITEM(obj, 4))))
		return -1;
	if ((rc = mutls_trace_kind_from_name(&ev->kind, kind)) < 0) {
		mutlspy_raise_last(rc, NULL, NULL);
		return -1;
	}
	ev->outgoing = PyObject_IsTrue(PyStructSequence_GET_ITEM(obj, 1));
	ev->ok = PyObject_IsTrue(PyStructSequence_GET_ITEM(obj, 2));
	ev->message_type = (int)PyLong_AsLong(PyStructSequence_GET_ITEM(obj, 5));
	ev->length = PyLong_AsSize_t(PyStructSequence_GET_ITEM(obj, 6));
	return PyErr_Occurred() ? -1 : 0;
}

PyObject *mutlspy_trace_event_text(PyObject *mod, PyObject *obj)
{
	mutls_trace_event ev;
	char *text = NULL;
	PyObject *result;
	int rc;
	(void)mod;

	if (event_of(&ev, obj, "trace_event_text") < 0)
		return NULL;
	if ((rc = mutls_trace_event_text(&text, &ev)) < 0)
		return mutlspy_raise_last(rc, NULL, NULL);
	result = PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "replace");
	mutls_free(text);
	return result;
}

PyObject *mutlspy_trace_event_note(PyObject *mod, PyObject *obj)
{
	mutls_trace_event ev;
	(void)mod;

	if (event_of(&ev, obj, "trace_event_note") < 0)
		return NULL;
	return mutlspy_str_or_none(mutls_trace_event_note(&ev));
}

/* ---- Peer ---------------------------------------------------------------- */

typedef struct {
	PyObject_HEAD
	PyObject *chain, *leaf, *ok, *reasons, *hostname, *role, *session;
} PeerObject;

PyObject *mutlspy_peer_new(SessionObject *sess)
{
	PeerObject *p = (PeerObject *)Mutls_PeerType->tp_alloc(Mutls_PeerType, 0);
	mutls_session *s = sess->s;
	unsigned reasons;

	if (!p)
		return NULL;
	reasons = mutls_session_verify_reasons(s);
	p->chain = mutlspy_chain_list(s);
	if (!p->chain)
		goto fail;
	if (PyList_GET_SIZE(p->chain) > 0) {
		p->leaf = PyList_GET_ITEM(p->chain, 0);
		Py_INCREF(p->leaf);
	} else {
		Py_INCREF(Py_None);
		p->leaf = Py_None;
	}
	p->ok = PyBool_FromLong(mutls_session_peer_ok(s));
	p->reasons = mutlspy_reasons_list(reasons);
	p->hostname = mutlspy_str_or_none(sess->is_server ? NULL : mutls_session_server_hostname(s));
	p->role = PyUnicode_FromString(sess->is_server ? "client" : "server");
	Py_INCREF(sess);
	p->session = (PyObject *)sess;
	if (!p->reasons || !p->hostname || !p->role)
		goto fail;
	return (PyObject *)p;
fail:
	Py_DECREF(p);
	return NULL;
}

static int Peer_traverse(PeerObject *self, visitproc visit, void *arg)
{
	Py_VISIT(Py_TYPE(self));
	Py_VISIT(self->chain);
	Py_VISIT(self->leaf);
	Py_VISIT(self->reasons);
	Py_VISIT(self->session);
	return 0;
}

static int Peer_clear(PeerObject *self)
{
	Py_CLEAR(self->chain);
	Py_CLEAR(self->leaf);
	Py_CLEAR(self->ok);
	Py_CLEAR(self->reasons);
	Py_CLEAR(self->hostname);
	Py_CLEAR(self->role);
	Py_CLEAR(self->session);
	return 0;
}

static void Peer_dealloc(PeerObject *self)
{
	PyTypeObject *tp = Py_TYPE(self);
	PyObject_GC_UnTrack(self);
	Peer_clear(self);
	tp->tp_free((PyObject *)self);
	Py_DECREF(tp);
}

static PyObject *Peer_repr(PeerObject *self)
{
	return PyUnicode_FromFormat("<mutls.Peer role=%R leaf=%R ok=%R reasons=%R hostname=%R>",
		self->role ? self->role : Py_None, self->leaf ? self->leaf : Py_None,
		self->ok ? self->ok : Py_None, self->reasons ? self->reasons : Py_None,
		self->hostname ? self->hostname : Py_None);
}

static PyMemberDef Peer_members[] = {
	{ "chain", T_OBJECT, offsetof(PeerObject, chain), READONLY, "The peer's chain, leaf first (list of Certificate)." },
	{ "leaf", T_OBJECT, offsetof(PeerObject, leaf), READONLY, "The peer's certificate." },
	{ "ok", T_OBJECT, offsetof(PeerObject, ok), READONLY, "True when every mutls check passed." },
	{ "reasons", T_OBJECT, offsetof(PeerObject, reasons), READONLY, "Reasons of the failed checks (list of str)." },
	{ "hostname", T_OBJECT, offsetof(PeerObject, hostname), READONLY, "The name a client checks (None on a server)." },
	{ "role", T_OBJECT, offsetof(PeerObject, role), READONLY,
	  "\"server\" when a client checks a server, \"client\" when a server checks a client." },
	{ "session", T_OBJECT, offsetof(PeerObject, session), READONLY, "The Session doing the check." },
	{ NULL, 0, 0, 0, NULL }
};

static PyType_Slot Peer_slots[] = {
	{ Py_tp_new, mutlspy_no_new },
	{ Py_tp_dealloc, Peer_dealloc },
	{ Py_tp_traverse, Peer_traverse },
	{ Py_tp_clear, Peer_clear },
	{ Py_tp_repr, Peer_repr },
	{ Py_tp_members, Peer_members },
	{ Py_tp_doc, "The peer as the verify hook sees it: chain, leaf, ok, reasons, hostname,\n"
	             "role and session. Return True to accept, False or a reason string to reject." },
	{ 0, NULL }
};

PyType_Spec mutlspy_peer_spec = {
	"mutls.Peer",
	sizeof(PeerObject),
	0,
	Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	Peer_slots
};

/* ---- Verification -------------------------------------------------------- */

typedef struct {
	PyObject_HEAD
	PyObject *ok, *reasons, *message;
} VerificationObject;

PyObject *mutlspy_verification_new(mutls_session *s)
{
	VerificationObject *v = (VerificationObject *)Mutls_VerificationType->tp_alloc(
		Mutls_VerificationType, 0);
	const char *message = mutls_session_verify_message(s);

	if (!v)
		return NULL;
	v->ok = PyBool_FromLong(mutls_session_verified(s));
	v->reasons = mutlspy_reasons_list(mutls_session_verify_reasons(s));
	v->message = mutlspy_str_or_none(message);
	if (!v->reasons || !v->message) {
		Py_DECREF(v);
		return NULL;
	}
	return (PyObject *)v;
}

static void Verification_dealloc(VerificationObject *self)
{
	PyTypeObject *tp = Py_TYPE(self);
	Py_CLEAR(self->ok);
	Py_CLEAR(self->reasons);
	Py_CLEAR(self->message);
	tp->tp_free((PyObject *)self);
	Py_DECREF(tp);
}

static PyObject *Verification_repr(VerificationObject *self)
{
	return PyUnicode_FromFormat("<mutls.Verification ok=%R reasons=%R message=%R>",
		self->ok, self->reasons, self->message);
}

static int Verification_bool(VerificationObject *self)
{
	return self->ok == Py_True;
}

static PyMemberDef Verification_members[] = {
	{ "ok", T_OBJECT, offsetof(VerificationObject, ok), READONLY, "True when the peer was verified." },
	{ "reasons", T_OBJECT, offsetof(VerificationObject, reasons), READONLY, "Failed checks (list of str)." },
	{ "message", T_OBJECT, offsetof(VerificationObject, message), READONLY,
	  "The sentence explaining a refusal of the peer, or None." },
	{ NULL, 0, 0, 0, NULL }
};

static PyType_Slot Verification_slots[] = {
	{ Py_tp_new, mutlspy_no_new },
	{ Py_tp_dealloc, Verification_dealloc },
	{ Py_tp_repr, Verification_repr },
	{ Py_nb_bool, Verification_bool },
	{ Py_tp_members, Verification_members },
	{ Py_tp_doc, "The outcome of the checks of the peer: ok, reasons, message. True when ok." },
	{ 0, NULL }
};

PyType_Spec mutlspy_verification_spec = {
	"mutls.Verification",
	sizeof(VerificationObject),
	0,
	Py_TPFLAGS_DEFAULT,
	Verification_slots
};
