/* Session: one TLS connection over a socket or in memory (Peer,
 * Verification and TraceEvent, what it shows of itself: peer.c).
 *
 * Socket mode releases the GIL around the core's handshake/send/recv/close;
 * the socket's own timeout is read at each call. Memory mode keeps the GIL.
 * A guard refuses a second call into the same core session while one is
 * running in another thread (a hook calling back into its session is
 * refused by the core's re-entry guard), except
 * the one pair GnuTLS allows on a shared session: in socket mode one thread
 * may send (send, sendall, shutdown's close_notify) while another receives.
 * Two sends, two receives, or a handshake/close/feed beside anything, are
 * refused. */
#include "mutlspy.h"

#include <math.h>
#include <limits.h>
#include <sys/socket.h>

#define RECV_CHUNK 16384 /* the most one recv returns (and allocates) */

/* A blocking socket (timeout None) waits in slices of this many ms, so that
 * signals (Ctrl-C) are handled between them; the core's timeout leaves the
 * session usable and the same call is simply made again. */
#define BLOCKING_SLICE_MS 250
#define SIGNALLED INT_MIN /* rc: a signal handler raised; the exception is set */

/* ---- helpers ------------------------------------------------------------- */

void mutlspy_session_store_exception(SessionObject *sess)
{
	PyObject *exc = mutlspy_fetch_exception();
	if (!exc)
		return;
	if (!sess->exc)
		sess->exc = exc; /* the first one explains the failure */
	else
		Py_DECREF(exc);
}

static PyObject *freed_error(void)
{
	return mutlspy_raise_code(MUTLS_EUSAGE,
		"the session was freed (after its with block, or by the garbage collector); "
		"read what you need inside the block");
}

/* For properties: the core session, readable from the calling thread. */
static int readable(SessionObject *self)
{
	if (!self->s) {
		freed_error();
		return 0;
	}
	if (self->calls && self->call_thread != PyThread_get_thread_ident()) {
		mutlspy_raise_code(MUTLS_EUSAGE,
			"the session is in a call in another thread; read it after that call returns");
		return 0;
	}
	return 1;
}

/* Reads the socket's timeout into the core (socket mode). */
static int apply_socket_state(SessionObject *self)
{
	PyObject *r;
	long fd;
	double t;
	int ms = 0;

	static PyObject *s_fileno, *s_gettimeout;

	if (self->fd < 0 || !self->sock || PyLong_Check(self->sock))
		return 0;
	if (!s_gettimeout && (!(s_fileno = PyUnicode_InternFromString("fileno")) ||
	    !(s_gettimeout = PyUnicode_InternFromString("gettimeout"))))
		return -1;
	r = PyObject_CallMethodNoArgs(self->sock, s_fileno);
	if (!r)
		return -1;
	fd = PyLong_AsLong(r);
	Py_DECREF(r);
	if (fd == -1 && PyErr_Occurred())
		return -1;
	if (fd != self->fd) {
		mutlspy_raise_code(MUTLS_EUSAGE, "the session's socket was closed (fileno %ld, was %d)",
			fd, self->fd);
		return -1;
	}
	self->sliced = 0;
	r = PyObject_CallMethodNoArgs(self->sock, s_gettimeout);
	if (!r && PyErr_ExceptionMatches(PyExc_AttributeError)) {
		PyErr_Clear();
		return 0;
	}
	if (!r)
		return -1;
	if (r != Py_None) {
		t = PyFloat_AsDouble(r);
		if (t == -1.0 && PyErr_Occurred()) {
			Py_DECREF(r);
			return -1;
		}
		if (t > 0) {
			double v = ceil(t * 1000.0);
			ms = v >= (double)INT_MAX ? INT_MAX : (int)v;
			if (ms < 1)
				ms = 1;
		}
	}
	self->sliced = r == Py_None;
	Py_DECREF(r);
	/* blocking: slices (see RUN); 0.0: non-blocking (want-read/want-write) */
	mutls_session_set_timeout(self->s, self->sliced ? BLOCKING_SLICE_MS : ms);
	return 0;
}

enum call_kind { CALL_OTHER, CALL_SEND, CALL_RECV };

/* May a call of this kind start beside the ones running? */
static int may_overlap(SessionObject *self, enum call_kind kind, unsigned long me)
{
	if (!self->calls)
		return 1;
	if (self->fd < 0 || kind == CALL_OTHER || self->call_other)
		return 0;
	if (self->send_thread == me || self->recv_thread == me)
		return 0; /* this thread is in a call already (a signal handler) */
	return kind == CALL_SEND ? !self->send_thread : !self->recv_thread;
}

/* Before a call into the core. */
static int begin_call(SessionObject *self, enum call_kind kind)
{
	unsigned long me = PyThread_get_thread_ident();
	int rc;

	if (!self->s) {
		freed_error();
		return -1;
	}
	/* a hook driving its own session: the core's guard refuses it */
	if ((rc = mutls_session_check_reentry(self->s, NULL)) < 0) {
		mutlspy_raise(rc, NULL);
		return -1;
	}
	if (!may_overlap(self, kind, me)) {
		if (kind == CALL_SEND && self->send_thread && self->send_thread != me)
			mutlspy_raise_code(MUTLS_EUSAGE,
				"the session is already sending in another thread: one thread may send "
				"while another receives, but not two at once");
		else if (kind == CALL_RECV && self->recv_thread && self->recv_thread != me)
			mutlspy_raise_code(MUTLS_EUSAGE,
				"the session is already receiving in another thread: one thread may "
				"receive while another sends, but not two at once");
		else
			mutlspy_raise_code(MUTLS_EUSAGE,
				"the session is already in a call (in another thread, or a signal handler's); "
				"only one send beside one recv may run at once");
		return -1;
	}
	if (apply_socket_state(self) < 0)
		return -1;
	self->calls++;
	self->call_thread = me;
	if (kind == CALL_SEND)
		self->send_thread = me;
	else if (kind == CALL_RECV)
		self->recv_thread = me;
	else
		self->call_other = 1;
	return 0;
}

static int begin(SessionObject *self) { return begin_call(self, CALL_OTHER); }

static void end_call(SessionObject *self, enum call_kind kind)
{
	self->calls--;
	if (kind == CALL_SEND)
		self->send_thread = 0;
	else if (kind == CALL_RECV)
		self->recv_thread = 0;
	else
		self->call_other = 0;
	if (self->calls)
		self->call_thread = self->send_thread ? self->send_thread : self->recv_thread;
}

/* After a call: raises for rc < 0 (with a hook's exception as the cause), or
 * re-raises an exception a hook stored although the call succeeded. */
static int finish_call(SessionObject *self, int rc, enum call_kind kind)
{
	end_call(self, kind);
	if (rc == SIGNALLED) {
		Py_CLEAR(self->exc);
		return -1;
	}
	if (rc < 0) {
		mutlspy_raise(rc, self);
		return -1;
	}
	if (self->exc) {
		PyObject *exc = self->exc, *tb;
		self->exc = NULL;
		if (!PyExceptionInstance_Check(exc)) {
			Py_DECREF(exc);
			return 0;
		}
		tb = PyException_GetTraceback(exc);
		Py_INCREF(Py_TYPE(exc));
		PyErr_Restore((PyObject *)Py_TYPE(exc), exc, tb);
		return -1;
	}
	return 0;
}

static int finish(SessionObject *self, int rc) { return finish_call(self, rc, CALL_OTHER); }

/* One core call: memory mode with the GIL, socket mode without it. */
#define RUN(self, rc, call) \
	do { \
		if ((self)->fd < 0) { \
			rc = (call); \
			break; \
		} \
		for (;;) { \
			Py_BEGIN_ALLOW_THREADS \
			rc = (call); \
			Py_END_ALLOW_THREADS \
			/* a session that failed (handshake_timeout) is not retried */ \
			if (rc != MUTLS_ETIMEOUT || !(self)->sliced || mutls_session_error((self)->s)) \
				break; \
			if (PyErr_CheckSignals() < 0) { \
				rc = SIGNALLED; \
				break; \
			} \
		} \
	} while (0)

static void close_owned_socket(SessionObject *self)
{
	PyObject *r;
	if (!self->owns_sock || !self->sock)
		return;
	self->owns_sock = 0;
	r = PyObject_CallMethod(self->sock, "close", NULL);
	if (r)
		Py_DECREF(r);
	else
		PyErr_WriteUnraisable(self->sock);
}

/* ---- creation and lifetime ----------------------------------------------- */

PyObject *mutlspy_no_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	PyErr_Format(PyExc_TypeError, "%s objects are made by mutls, not directly", type->tp_name);
	return NULL;
}

PyObject *mutlspy_session_new(ConfigObject *cfg, int is_server, PyObject *sock,
	PyObject *server_hostname, PyObject *session_data)
{
	SessionObject *self;
	PyObject *host = NULL;
	long fd = -1;
	int rc;

	if (sock != Py_None) {
		if (PyLong_Check(sock)) {
			fd = PyLong_AsLong(sock);
		} else {
			PyObject *r = PyObject_CallMethod(sock, "fileno", NULL);
			if (!r)
				return NULL;
			fd = PyLong_AsLong(r);
			Py_DECREF(r);
		}
		if (fd == -1 && PyErr_Occurred())
			return NULL;
		if (fd < 0 || fd > INT_MAX)
			return mutlspy_raise_code(MUTLS_EUSAGE, "the socket is closed (fileno %ld)", fd);
	}
	if (server_hostname != Py_None && !(host = mutlspy_str_bytes(server_hostname, "server_hostname")))
		return NULL;
	self = (SessionObject *)Mutls_SessionType->tp_alloc(Mutls_SessionType, 0);
	if (!self) {
		Py_XDECREF(host);
		return NULL;
	}
	self->fd = (int)fd;
	self->is_server = is_server;
	Py_INCREF(cfg);
	self->config = cfg;
	if (sock != Py_None) {
		Py_INCREF(sock);
		self->sock = sock;
	}
	if (is_server)
		rc = mutls_session_server(&self->s, cfg->cfg, (int)fd);
	else
		rc = mutls_session_client(&self->s, cfg->cfg, host ? PyBytes_AS_STRING(host) : NULL, (int)fd);
	Py_XDECREF(host);
	if (rc < 0) {
		self->s = NULL;
		Py_DECREF(self);
		return mutlspy_raise_last(rc, NULL, NULL);
	}
	mutls_session_set_userdata(self->s, self);
	if (session_data != Py_None) {
		Py_buffer view;
		if (PyUnicode_Check(session_data)) {
			Py_DECREF(self);
			PyErr_SetString(PyExc_TypeError, "session_data: expected bytes, not str");
			return NULL;
		}
		if (PyObject_GetBuffer(session_data, &view, PyBUF_SIMPLE) < 0) {
			Py_DECREF(self);
			return NULL;
		}
		rc = mutls_session_set_data(self->s, view.buf, (size_t)view.len);
		PyBuffer_Release(&view);
		if (rc < 0) {
			Py_DECREF(self);
			return mutlspy_raise_last(rc, NULL, NULL);
		}
	}
	return (PyObject *)self;
}

/* Config.check_peer(chain): a client chain received outside a mutls
 * handshake (nginx terminated TLS), checked as a server handshake checks
 * it, verify hook included. Returns the Session holding the verdict. */
PyObject *mutlspy_session_check_peer(ConfigObject *cfg, PyObject *chain)
{
	SessionObject *self;
	PyObject *seq;
	mutls_x509 **certs = NULL;
	Py_ssize_t n;

	if (PyObject_TypeCheck(chain, Mutls_CertificateType))
		seq = PyTuple_Pack(1, chain);
	else if (PyUnicode_Check(chain) || PyBytes_Check(chain))
		return PyErr_Format(PyExc_TypeError,
			"check_peer: the chain must be a sequence of Certificate, not %.100s", Py_TYPE(chain)->tp_name);
	else
		seq = PySequence_Tuple(chain);
	if (!seq)
		return NULL;
	n = PyTuple_GET_SIZE(seq);
	certs = PyMem_Calloc(n ? (size_t)n : 1, sizeof(*certs));
	if (!certs) {
		Py_DECREF(seq);
		return PyErr_NoMemory();
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *item = PyTuple_GET_ITEM(seq, i);
		if (!PyObject_TypeCheck(item, Mutls_CertificateType)) {
			PyMem_Free(certs);
			Py_DECREF(seq);
			return PyErr_Format(PyExc_TypeError, "check_peer: chain[%zd] is not a Certificate (%.100s)",
				i, Py_TYPE(item)->tp_name);
		}
		certs[i] = ((CertificateObject *)item)->cert;
	}
	self = (SessionObject *)Mutls_SessionType->tp_alloc(Mutls_SessionType, 0);
	if (!self) {
		PyMem_Free(certs);
		Py_DECREF(seq);
		return NULL;
	}
	self->fd = -1;
	self->is_server = 1;
	Py_INCREF(cfg);
	self->config = cfg;
	/* the verify hook runs now, with the GIL, and gets this session */
	self->calls = 1;
	self->call_thread = PyThread_get_thread_ident();
	mutls_config_check_peer(&self->s, cfg->cfg, certs, (size_t)n, self);
	self->calls = 0;
	PyMem_Free(certs);
	Py_DECREF(seq);
	if (!self->s) {
		Py_DECREF(self);
		return mutlspy_raise_last(MUTLS_EUSAGE, NULL, NULL);
	}
	return (PyObject *)self;
}

static void free_core(SessionObject *self)
{
	if (self->s) {
		mutls_session_set_userdata(self->s, NULL);
		mutls_session_free(self->s);
		self->s = NULL;
	}
}

static int Session_traverse(SessionObject *self, visitproc visit, void *arg)
{
	Py_VISIT(Py_TYPE(self));
	Py_VISIT(self->config);
	Py_VISIT(self->sock);
	Py_VISIT(self->exc);
	return 0;
}

static int Session_clear(SessionObject *self)
{
	/* the core session goes first: it holds the C config whose hooks point
	 * at the Config object */
	if (!self->calls)
		free_core(self);
	Py_CLEAR(self->exc);
	if (!self->s) {
		Py_CLEAR(self->sock);
		Py_CLEAR(self->config);
	}
	return 0;
}

static void Session_dealloc(SessionObject *self)
{
	PyTypeObject *tp = Py_TYPE(self);
	PyObject_GC_UnTrack(self);
	if (self->weakreflist)
		PyObject_ClearWeakRefs((PyObject *)self);
	free_core(self);
	if (self->owns_sock && self->sock) {
		PyObject *t, *v, *tb;
		PyErr_Fetch(&t, &v, &tb);
		close_owned_socket(self);
		PyErr_Restore(t, v, tb);
	}
	Py_CLEAR(self->exc);
	Py_CLEAR(self->sock);
	Py_CLEAR(self->config);
	tp->tp_free((PyObject *)self);
	Py_DECREF(tp);
}

/* ---- I/O ----------------------------------------------------------------- */

static PyObject *Session_handshake(SessionObject *self, PyObject *unused)
{
	int rc;
	if (begin(self) < 0)
		return NULL;
	RUN(self, rc, mutls_session_handshake(self->s));
	if (finish(self, rc) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *Session_send(SessionObject *self, PyObject *arg)
{
	Py_buffer view;
	size_t written = 0;
	int rc;

	if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
		return NULL;
	if (begin_call(self, CALL_SEND) < 0) {
		PyBuffer_Release(&view);
		return NULL;
	}
	RUN(self, rc, mutls_session_send(&written, self->s, view.buf, (size_t)view.len));
	PyBuffer_Release(&view);
	if (finish_call(self, rc, CALL_SEND) < 0)
		return NULL;
	return PyLong_FromSize_t(written);
}

/* The rest of a sendall's buffer from *done on; *done grows by what was
 * taken, so a sliced retry (RUN) goes on where the last slice stopped. */
static int send_rest(mutls_session *s, const Py_buffer *view, size_t *done)
{
	size_t written = 0;
	int rc = mutls_session_send_all(&written, s, (const char *)view->buf + *done,
		(size_t)view->len - *done);
	*done += written;
	return rc;
}

/* One core call for the whole buffer: the timeout bounds the whole sendall,
 * as socket.sendall's does since Python 3.5 (a loop of sends restarted it
 * after each partial write). */
static PyObject *Session_sendall(SessionObject *self, PyObject *arg)
{
	Py_buffer view;
	size_t done = 0;
	int rc;

	if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
		return NULL;
	if (begin_call(self, CALL_SEND) < 0) {
		PyBuffer_Release(&view);
		return NULL;
	}
	RUN(self, rc, send_rest(self->s, &view, &done));
	PyBuffer_Release(&view);
	if (finish_call(self, rc, CALL_SEND) < 0)
		return NULL;
	Py_RETURN_NONE;
}

/* recv(max=16384): straight into the bytes object we return (no copy); the
 * arguments are parsed by hand because this is the hottest call. */
static PyObject *Session_recv(SessionObject *self, PyObject *const *args, Py_ssize_t nargs,
	PyObject *kwnames)
{
	Py_ssize_t max = RECV_CHUNK;
	PyObject *out, *arg = nargs > 0 ? args[0] : NULL;
	size_t got = 0;
	int rc;

	if (nargs > 1 || (kwnames && (PyTuple_GET_SIZE(kwnames) != 1 || nargs == 1 ||
		!PyUnicode_Check(PyTuple_GET_ITEM(kwnames, 0)) ||
		PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "max") != 0))) {
		PyErr_SetString(PyExc_TypeError, "recv() takes at most 1 argument: max");
		return NULL;
	}
	if (kwnames)
		arg = args[0];
	if (arg && (max = PyNumber_AsSsize_t(arg, PyExc_OverflowError)) == -1 && PyErr_Occurred())
		return NULL;
	if (max < 0) {
		PyErr_SetString(PyExc_ValueError, "recv: max must be >= 0");
		return NULL;
	}
	if (max == 0)
		return PyBytes_FromStringAndSize(NULL, 0);
	if (max > RECV_CHUNK)
		max = RECV_CHUNK;
	if (!(out = PyBytes_FromStringAndSize(NULL, max)))
		return NULL;
	if (begin_call(self, CALL_RECV) < 0) {
		Py_DECREF(out);
		return NULL;
	}
	RUN(self, rc, mutls_session_recv(&got, self->s, PyBytes_AS_STRING(out), (size_t)max));
	if (finish_call(self, rc, CALL_RECV) < 0) {
		Py_DECREF(out);
		return NULL;
	}
	if ((Py_ssize_t)got != max && _PyBytes_Resize(&out, (Py_ssize_t)got) < 0)
		return NULL;
	return out;
}

static PyObject *Session_close(SessionObject *self, PyObject *unused)
{
	int rc;
	if (!self->s) {
		/* already freed: closing again is fine */
		close_owned_socket(self);
		Py_RETURN_NONE;
	}
	if (begin(self) < 0)
		return NULL;
	RUN(self, rc, mutls_session_close(self->s));
	if (finish(self, rc) < 0) {
		if (self->owns_sock) {
			PyObject *t, *v, *tb;
			PyErr_Fetch(&t, &v, &tb);
			close_owned_socket(self);
			PyErr_Restore(t, v, tb);
		}
		return NULL;
	}
	close_owned_socket(self);
	Py_RETURN_NONE;
}

static PyObject *Session_feed(SessionObject *self, PyObject *arg)
{
	Py_buffer view;
	int rc;

	if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
		return NULL;
	if (begin(self) < 0) {
		PyBuffer_Release(&view);
		return NULL;
	}
	rc = mutls_session_feed(self->s, view.buf, (size_t)view.len);
	PyBuffer_Release(&view);
	if (finish(self, rc) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *Session_feed_eof(SessionObject *self, PyObject *unused)
{
	int rc;
	if (begin(self) < 0)
		return NULL;
	rc = mutls_session_feed_eof(self->s);
	if (finish(self, rc) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *Session_data_to_send(SessionObject *self, PyObject *unused)
{
	const unsigned char *data = NULL;
	size_t len = 0;
	int rc;

	if (begin(self) < 0)
		return NULL;
	rc = mutls_session_data_to_send(&data, &len, self->s);
	if (rc < 0) {
		finish(self, rc);
		return NULL;
	}
	end_call(self, CALL_OTHER);
	return PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)len);
}

static PyObject *Session_pending(SessionObject *self, PyObject *unused)
{
	if (!readable(self))
		return NULL;
	return PyLong_FromSize_t(mutls_session_pending(self->s));
}

static PyObject *Session_adopt_socket(SessionObject *self, PyObject *unused)
{
	if (!self->sock) {
		mutlspy_raise_code(MUTLS_EUSAGE, "a memory-mode session has no socket");
		return NULL;
	}
	self->owns_sock = 1;
	Py_RETURN_NONE;
}

static PyObject *Session_enter(SessionObject *self, PyObject *unused)
{
	if (!readable(self))
		return NULL;
	Py_INCREF(self);
	return (PyObject *)self;
}

static PyObject *Session_exit(SessionObject *self, PyObject *args)
{
	PyObject *exc_type = Py_None, *exc = Py_None, *tb = Py_None;
	int failed = 0;

	if (!PyArg_UnpackTuple(args, "__exit__", 0, 3, &exc_type, &exc, &tb))
		return NULL;
	if (self->s) {
		if (self->calls) {
			mutlspy_raise_code(MUTLS_EUSAGE, "__exit__: the session is in a call");
			return NULL;
		}
		if (mutls_session_handshake_done(self->s)) {
			PyObject *r = Session_close(self, NULL); /* also closes an owned socket */
			if (r)
				Py_DECREF(r);
			else if (exc_type != Py_None)
				PyErr_Clear(); /* the block's exception matters more */
			else
				failed = 1;
		}
		free_core(self);
	}
	if (self->owns_sock) {
		PyObject *t, *v, *etb;
		PyErr_Fetch(&t, &v, &etb);
		close_owned_socket(self);
		PyErr_Restore(t, v, etb);
	}
	if (failed)
		return NULL;
	Py_RETURN_FALSE;
}


/* ---- socket-like methods --------------------------------------------------- */

/* recv_into(buffer, nbytes=0) -> int: like socket.recv_into, at most one
 * record (socket mode); 0 after the peer's close_notify. */
static PyObject *Session_recv_into(SessionObject *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "buffer", "nbytes", NULL };
	Py_buffer view;
	Py_ssize_t nbytes = 0;
	size_t got = 0;
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "w*|n:recv_into", kwlist, &view, &nbytes))
		return NULL;
	if (nbytes < 0 || nbytes > view.len) {
		PyBuffer_Release(&view);
		PyErr_SetString(PyExc_ValueError, "recv_into: nbytes must be between 0 and the buffer's size");
		return NULL;
	}
	if (nbytes == 0)
		nbytes = view.len;
	if (nbytes == 0) {
		PyBuffer_Release(&view);
		return PyLong_FromLong(0);
	}
	if (begin_call(self, CALL_RECV) < 0) {
		PyBuffer_Release(&view);
		return NULL;
	}
	RUN(self, rc, mutls_session_recv(&got, self->s, view.buf, (size_t)nbytes));
	PyBuffer_Release(&view);
	if (finish_call(self, rc, CALL_RECV) < 0)
		return NULL;
	return PyLong_FromSize_t(got);
}

/* The socket object a socket-like method acts on (borrowed), or NULL. */
static PyObject *socket_object(SessionObject *self, const char *what)
{
	if (!self->sock) {
		mutlspy_raise_code(MUTLS_EUSAGE, "%s: a memory-mode session has no socket", what);
		return NULL;
	}
	if (PyLong_Check(self->sock)) {
		mutlspy_raise_code(MUTLS_EUSAGE,
			"%s: the session was made from a file descriptor, not a socket object", what);
		return NULL;
	}
	return self->sock;
}

static PyObject *Session_fileno(SessionObject *self, PyObject *unused)
{
	if (!self->sock) {
		mutlspy_raise_code(MUTLS_EUSAGE, "fileno: a memory-mode session has no socket");
		return NULL;
	}
	if (PyLong_Check(self->sock))
		return PyLong_FromLong(self->fd);
	return PyObject_CallMethod(self->sock, "fileno", NULL);
}

static PyObject *Session_gettimeout(SessionObject *self, PyObject *unused)
{
	PyObject *sock = socket_object(self, "gettimeout");
	return sock ? PyObject_CallMethod(sock, "gettimeout", NULL) : NULL;
}

static PyObject *Session_settimeout(SessionObject *self, PyObject *arg)
{
	PyObject *sock = socket_object(self, "settimeout");
	return sock ? PyObject_CallMethod(sock, "settimeout", "O", arg) : NULL;
}

static PyObject *Session_setblocking(SessionObject *self, PyObject *arg)
{
	PyObject *sock = socket_object(self, "setblocking");
	return sock ? PyObject_CallMethod(sock, "setblocking", "O", arg) : NULL;
}

/* shutdown(how): SHUT_WR and SHUT_RDWR send close_notify first (a send: it
 * may run while another thread receives), then shut the socket down. */
static PyObject *Session_shutdown(SessionObject *self, PyObject *arg)
{
	PyObject *sock = socket_object(self, "shutdown");
	long how;
	int rc;

	if (!sock)
		return NULL;
	how = PyLong_AsLong(arg);
	if (how == -1 && PyErr_Occurred())
		return NULL;
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) {
		PyErr_Format(PyExc_ValueError,
			"shutdown: how must be socket.SHUT_RD, SHUT_WR or SHUT_RDWR, not %ld", how);
		return NULL;
	}
	if (how != SHUT_RD && self->s && mutls_session_handshake_done(self->s)) {
		if (begin_call(self, CALL_SEND) < 0)
			return NULL;
		RUN(self, rc, mutls_session_close(self->s));
		if (finish_call(self, rc, CALL_SEND) < 0)
			return NULL;
	}
	return PyObject_CallMethod(sock, "shutdown", "l", how);
}

/* makefile(): the io stack lives in Python (mutls._socketio). */
static PyObject *Session_makefile(SessionObject *self, PyObject *args, PyObject *kwds)
{
	PyObject *mod, *fn, *full, *r;
	Py_ssize_t n = PyTuple_GET_SIZE(args), i;

	if (!socket_object(self, "makefile"))
		return NULL;
	if (!(mod = PyImport_ImportModule("mutls._socketio")))
		return NULL;
	fn = PyObject_GetAttrString(mod, "makefile");
	Py_DECREF(mod);
	if (!fn)
		return NULL;
	if (!(full = PyTuple_New(n + 1))) {
		Py_DECREF(fn);
		return NULL;
	}
	Py_INCREF(self);
	PyTuple_SET_ITEM(full, 0, (PyObject *)self);
	for (i = 0; i < n; i++) {
		PyObject *a = PyTuple_GET_ITEM(args, i);
		Py_INCREF(a);
		PyTuple_SET_ITEM(full, i + 1, a);
	}
	r = PyObject_Call(fn, full, kwds);
	Py_DECREF(full);
	Py_DECREF(fn);
	return r;
}

/* ---- introspection ------------------------------------------------------- */

static PyObject *Session_explain(SessionObject *self, PyObject *unused)
{
	char *text = NULL;
	PyObject *res;
	int rc;

	if (!readable(self))
		return NULL;
	rc = mutls_session_explain(&text, self->s);
	if (rc < 0)
		return mutlspy_raise_last(rc, NULL, NULL);
	res = mutlspy_str_or_none(text);
	mutls_free(text);
	return res;
}

static PyObject *Session_export_keying_material(SessionObject *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "label", "length", "context", NULL };
	const char *label;
	Py_ssize_t length;
	PyObject *context = Py_None, *out;
	Py_buffer view = { 0 };
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "sn|O:export_keying_material", kwlist,
		&label, &length, &context))
		return NULL;
	if (length <= 0 || length > 65535) {
		PyErr_SetString(PyExc_ValueError, "export_keying_material: length must be 1..65535");
		return NULL;
	}
	if (!readable(self))
		return NULL;
	if (context != Py_None) {
		if (PyUnicode_Check(context)) {
			PyErr_SetString(PyExc_TypeError, "export_keying_material: context must be bytes, not str");
			return NULL;
		}
		if (PyObject_GetBuffer(context, &view, PyBUF_SIMPLE) < 0)
			return NULL;
	}
	out = PyBytes_FromStringAndSize(NULL, length);
	if (!out) {
		if (view.obj)
			PyBuffer_Release(&view);
		return NULL;
	}
	rc = mutls_session_export_keying_material((unsigned char *)PyBytes_AS_STRING(out),
		(size_t)length, self->s, label, view.obj ? view.buf : NULL,
		view.obj ? (size_t)view.len : 0);
	if (view.obj)
		PyBuffer_Release(&view);
	if (rc < 0) {
		Py_DECREF(out);
		return mutlspy_raise_last(rc, NULL, NULL);
	}
	return out;
}

static PyObject *Session_key_fingerprint(SessionObject *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "write", NULL };
	int write;
	char out[65];
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "p:key_fingerprint", kwlist, &write))
		return NULL;
	if (!readable(self))
		return NULL;
	rc = mutls_session_key_fingerprint(out, self->s, write);
	if (rc < 0)
		return mutlspy_raise_last(rc, NULL, NULL);
	return PyUnicode_FromString(out);
}

static PyObject *Session_get_config(SessionObject *self, void *c)
{
	if (!self->config)
		Py_RETURN_NONE;
	Py_INCREF(self->config);
	return (PyObject *)self->config;
}

static PyObject *Session_get_sock(SessionObject *self, void *c)
{
	if (!self->sock)
		Py_RETURN_NONE;
	Py_INCREF(self->sock);
	return self->sock;
}

static PyObject *Session_get_is_server(SessionObject *self, void *c)
{
	return PyBool_FromLong(self->is_server);
}

static PyObject *Session_get_peer_certificate(SessionObject *self, void *c)
{
	if (!readable(self))
		return NULL;
	if (mutls_session_peer_chain_length(self->s) == 0)
		Py_RETURN_NONE;
	return mutlspy_certificate_wrap(mutls_session_peer_certificate(self->s, 0));
}

static PyObject *Session_get_own_certificate(SessionObject *self, void *c)
{
	mutls_x509 *own;

	if (!readable(self))
		return NULL;
	if (!(own = mutls_session_own_certificate(self->s)))
		Py_RETURN_NONE;
	return mutlspy_certificate_wrap(own);
}

static PyObject *Session_get_peer_chain(SessionObject *self, void *c)
{
	if (!readable(self))
		return NULL;
	return mutlspy_chain_list(self->s);
}

static PyObject *Session_get_verified(SessionObject *self, void *c)
{
	if (!readable(self))
		return NULL;
	return PyBool_FromLong(mutls_session_verified(self->s));
}

static PyObject *Session_get_verification(SessionObject *self, void *c)
{
	if (!readable(self))
		return NULL;
	return mutlspy_verification_new(self->s);
}

typedef const char *(*session_string)(const mutls_session *);

static PyObject *string_prop(SessionObject *self, session_string get)
{
	if (!readable(self))
		return NULL;
	return mutlspy_str_or_none(get(self->s));
}

static PyObject *Session_get_version(SessionObject *self, void *c)
{
	if (!readable(self))
		return NULL;
	/* before the handshake GnuTLS reports a default version: hide it */
	if (!mutls_session_handshake_done(self->s) && !mutls_session_error(self->s))
		Py_RETURN_NONE;
	return mutlspy_str_or_none(mutls_session_version(self->s));
}

static PyObject *Session_get_cipher(SessionObject *self, void *c) { return string_prop(self, mutls_session_cipher); }
static PyObject *Session_get_alpn(SessionObject *self, void *c) { return string_prop(self, mutls_session_alpn); }
static PyObject *Session_get_server_name(SessionObject *self, void *c) { return string_prop(self, mutls_session_server_name); }
static PyObject *Session_get_server_hostname(SessionObject *self, void *c) { return string_prop(self, mutls_session_server_hostname); }

static PyObject *Session_get_resumed(SessionObject *self, void *c)
{
	if (!readable(self))
		return NULL;
	return PyBool_FromLong(mutls_session_resumed(self->s));
}

static PyObject *Session_get_handshake_done(SessionObject *self, void *c)
{
	if (!readable(self))
		return NULL;
	return PyBool_FromLong(mutls_session_handshake_done(self->s));
}

static PyObject *Session_get_session_data(SessionObject *self, void *c)
{
	unsigned char *data = NULL;
	size_t len = 0;
	PyObject *res;
	int rc;

	if (!readable(self))
		return NULL;
	if (self->is_server || !mutls_session_handshake_done(self->s))
		Py_RETURN_NONE;
	rc = mutls_session_get_data(&data, &len, self->s);
	if (rc == MUTLS_EUSAGE)
		Py_RETURN_NONE; /* none yet (TLS 1.3: read once so the ticket arrives) */
	if (rc < 0)
		return mutlspy_raise_last(rc, NULL, NULL);
	res = PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)len);
	mutls_free(data);
	return res;
}

static PyObject *Session_get_trace(SessionObject *self, void *c)
{
	size_t n;
	PyObject *list;

	if (!readable(self))
		return NULL;
	n = mutls_session_trace_count(self->s);
	list = PyList_New((Py_ssize_t)n);
	for (size_t i = 0; list && i < n; i++) {
		PyObject *ev = mutlspy_trace_event(mutls_session_trace_event(self->s, i));
		if (!ev) {
			Py_CLEAR(list);
			break;
		}
		PyList_SET_ITEM(list, (Py_ssize_t)i, ev);
	}
	return list;
}

static PyObject *Session_get_error(SessionObject *self, void *c)
{
	const mutls_error *e;
	if (!readable(self))
		return NULL;
	e = mutls_session_error(self->s);
	if (!e)
		Py_RETURN_NONE;
	return mutlspy_error_new(e, self, NULL);
}

static PyObject *Session_get_freed(SessionObject *self, void *c)
{
	return PyBool_FromLong(self->s == NULL);
}

static PyObject *Session_repr(SessionObject *self)
{
	const char *role = self->is_server ? "server" : "client";
	const char *mode = self->fd >= 0 ? "socket" : "memory";
	const char *state, *version = NULL, *host = NULL;

	if (!self->s)
		return PyUnicode_FromFormat("<mutls.Session %s, %s mode, freed>", role, mode);
	if (mutls_session_error(self->s))
		state = "failed";
	else if (mutls_session_handshake_done(self->s)) {
		state = "handshake done";
		version = mutls_session_version(self->s);
	} else
		state = "handshake pending";
	host = mutls_session_server_hostname(self->s);
	return PyUnicode_FromFormat("<mutls.Session %s%s%s, %s mode, %s%s%s>", role,
		host ? " of " : "", host ? host : "", mode, state, version ? ", " : "",
		version ? version : "");
}

static PyMethodDef Session_methods[] = {
	{ "handshake", (PyCFunction)Session_handshake, METH_NOARGS,
	  "handshake() -> None: run (or continue) the handshake. Raises WantRead/WantWrite\n"
	  "in memory mode and on non-blocking sockets, HandshakeError subclasses on failure." },
	{ "send", (PyCFunction)Session_send, METH_O,
	  "send(data) -> int: bytes taken (all of them unless a non-blocking socket filled up)." },
	{ "sendall", (PyCFunction)Session_sendall, METH_O, "sendall(data) -> None: send every byte." },
	{ "recv", (PyCFunction)(void (*)(void))Session_recv, METH_FASTCALL | METH_KEYWORDS,
	  "recv(max=16384) -> bytes: at most one record; b\"\" after the peer's close_notify." },
	{ "recv_into", (PyCFunction)(void (*)(void))Session_recv_into, METH_VARARGS | METH_KEYWORDS,
	  "recv_into(buffer, nbytes=0) -> int: like socket.recv_into; 0 after close_notify." },
	{ "fileno", (PyCFunction)Session_fileno, METH_NOARGS, "fileno() -> int: the socket's descriptor." },
	{ "gettimeout", (PyCFunction)Session_gettimeout, METH_NOARGS,
	  "gettimeout() -> float | None: the socket's timeout (read at each call)." },
	{ "settimeout", (PyCFunction)Session_settimeout, METH_O,
	  "settimeout(t) -> None: set the socket's timeout (None blocks, 0.0 never waits)." },
	{ "setblocking", (PyCFunction)Session_setblocking, METH_O,
	  "setblocking(flag) -> None: socket.setblocking on the session's socket." },
	{ "shutdown", (PyCFunction)Session_shutdown, METH_O,
	  "shutdown(how) -> None: SHUT_WR/SHUT_RDWR send close_notify first, then\n"
	  "socket.shutdown(how). May run while another thread is in recv." },
	{ "makefile", (PyCFunction)(void (*)(void))Session_makefile, METH_VARARGS | METH_KEYWORDS,
	  "makefile(mode='r', buffering=None, *, encoding=None, errors=None, newline=None):\n"
	  "a file object over the session, like socket.makefile." },
	{ "close", (PyCFunction)Session_close, METH_NOARGS,
	  "close() -> None: send close_notify (once). Does not close a socket you passed in;\n"
	  "closes the socket of a session made by Config.connect/accept." },
	{ "feed", (PyCFunction)Session_feed, METH_O, "feed(data) -> None: memory mode: bytes from the peer." },
	{ "feed_eof", (PyCFunction)Session_feed_eof, METH_NOARGS,
	  "feed_eof() -> None: memory mode: the peer's stream ended." },
	{ "data_to_send", (PyCFunction)Session_data_to_send, METH_NOARGS,
	  "data_to_send() -> bytes: memory mode: the bytes to send to the peer (taken)." },
	{ "pending", (PyCFunction)Session_pending, METH_NOARGS,
	  "pending() -> int: decrypted bytes readable without I/O." },
	{ "explain", (PyCFunction)Session_explain, METH_NOARGS,
	  "explain() -> str: a human summary (outcome, version, suite, peer, checks)." },
	{ "export_keying_material", (PyCFunction)(void (*)(void))Session_export_keying_material,
	  METH_VARARGS | METH_KEYWORDS,
	  "export_keying_material(label, length, context=None) -> bytes (RFC 5705 / 8446)." },
	{ "key_fingerprint", (PyCFunction)(void (*)(void))Session_key_fingerprint,
	  METH_VARARGS | METH_KEYWORDS,
	  "key_fingerprint(write) -> str: hex SHA-256 of the current traffic key; write=True\n"
	  "for the key this side encrypts with, False for the one it decrypts with." },
	{ "_adopt_socket", (PyCFunction)Session_adopt_socket, METH_NOARGS,
	  "Internal (Config.connect/accept): close() and the with block close the socket too." },
	{ "__enter__", (PyCFunction)Session_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)Session_exit, METH_VARARGS,
	  "Sends close_notify (if the handshake is done) and frees the session." },
	{ NULL, NULL, 0, NULL }
};

static PyGetSetDef Session_getset[] = {
	{ "config", (getter)Session_get_config, NULL, "The Config this session was made from.", NULL },
	{ "is_server", (getter)Session_get_is_server, NULL, "True for a server session.", NULL },
	{ "sock", (getter)Session_get_sock, NULL, "The socket (socket mode) or None (memory mode).", NULL },
	{ "peer_certificate", (getter)Session_get_peer_certificate, NULL, "The peer's leaf certificate or None.", NULL },
	{ "own_certificate", (getter)Session_get_own_certificate, NULL,
	  "Our leaf as presented in this handshake (a resumed server: the Config's leaf), or None.", NULL },
	{ "peer_chain", (getter)Session_get_peer_chain, NULL, "The peer's chain as presented, leaf first.", NULL },
	{ "verified", (getter)Session_get_verified, NULL, "True when the peer presented a certificate and every check passed.", NULL },
	{ "verification", (getter)Session_get_verification, NULL, "Verification: ok, reasons, message.", NULL },
	{ "version", (getter)Session_get_version, NULL, "\"TLSv1.3\", \"TLSv1.2\" or None.", NULL },
	{ "cipher", (getter)Session_get_cipher, NULL, "IANA cipher suite name or None.", NULL },
	{ "alpn", (getter)Session_get_alpn, NULL, "Negotiated ALPN protocol or None.", NULL },
	{ "server_name", (getter)Session_get_server_name, NULL, "SNI sent (client) or received (server), or None.", NULL },
	{ "server_hostname", (getter)Session_get_server_hostname, NULL, "The name a client checks, or None.", NULL },
	{ "resumed", (getter)Session_get_resumed, NULL, "True when the session was resumed.", NULL },
	{ "session_data", (getter)Session_get_session_data, NULL,
	  "Client: bytes to resume later (Config.client(session_data=...)), or None. In TLS 1.3\n"
	  "the ticket arrives after the handshake: read from the session once first.", NULL },
	{ "handshake_done", (getter)Session_get_handshake_done, NULL, "True once the handshake succeeded.", NULL },
	{ "trace", (getter)Session_get_trace, NULL, "The recorded handshake events (list of TraceEvent).", NULL },
	{ "error", (getter)Session_get_error, NULL, "The session's failure as an Error (not raised), or None.", NULL },
	{ "freed", (getter)Session_get_freed, NULL, "True once the session was freed (after its with block).", NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

static PyMemberDef Session_members[] = {
	{ "__weaklistoffset__", T_PYSSIZET, offsetof(SessionObject, weakreflist), READONLY, NULL },
	{ NULL, 0, 0, 0, NULL }
};

static PyType_Slot Session_slots[] = {
	{ Py_tp_new, mutlspy_no_new },
	{ Py_tp_dealloc, Session_dealloc },
	{ Py_tp_traverse, Session_traverse },
	{ Py_tp_clear, Session_clear },
	{ Py_tp_repr, Session_repr },
	{ Py_tp_methods, Session_methods },
	{ Py_tp_getset, Session_getset },
	{ Py_tp_members, Session_members },
	{ Py_tp_doc, "One TLS connection, client or server, over a socket or in memory.\n"
	             "Made by Config.client() / Config.server()." },
	{ 0, NULL }
};

PyType_Spec mutlspy_session_spec = {
	"mutls.Session",
	sizeof(SessionObject),
	0,
	Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	Session_slots
};
