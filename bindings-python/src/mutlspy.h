/*
 * Private header of the CPython binding (mutls._mutls).
 *
 * One C file per object: module.c (module init, error classes, shared
 * helpers), errors.c (mutls_error -> exception), certificate.c, config.c,
 * session.c (Session, Peer, Verification), testca.c (TestCA, Identity).
 *
 * Every type is a heap type made with PyType_FromSpec and kept in a
 * process-wide pointer (single-phase module init). The types stay mutable so
 * that the thin Python layer (mutls/__init__.py) can add pure-Python methods
 * such as Config.connect.
 *
 * Callbacks from the C core (verify hook, trace, keylog, password) take the
 * GIL with PyGILState_Ensure, never let a Python exception escape into
 * GnuTLS: they store it on the Session (or Config, for the password) and
 * return an error code; the method that called into the core raises it.
 */
#ifndef MUTLSPY_H
#define MUTLSPY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "mutls.h"

/* ---- objects ------------------------------------------------------------ */

typedef struct {
	PyObject_HEAD
	mutls_x509 *cert;            /* reference held */
	PyObject *weakreflist;
} CertificateObject;

typedef struct {
	PyObject_HEAD
	mutls_config *cfg;           /* reference held */
	PyObject *verify_hook;       /* callables or NULL (GC-visible) */
	PyObject *trace_hook;
	PyObject *keylog_hook;
	PyObject *clock;             /* verify_time= callable, or NULL */
	PyObject *password;          /* the password callable, during __init__ only */
	PyObject *password_exc;      /* exception raised by it */
	int initialized;
	PyObject *weakreflist;
} ConfigObject;

typedef struct {
	PyObject_HEAD
	mutls_session *s;            /* NULL once freed (context manager, GC) */
	ConfigObject *config;        /* strong: keeps the hooks and the C config alive */
	PyObject *sock;              /* socket object (socket mode) or NULL */
	PyObject *exc;               /* exception stored by a hook, or NULL */
	PyObject *weakreflist;
	int fd;                      /* -1: memory mode */
	int is_server;
	int calls;                   /* core calls in progress (the thread rules; a hook re-entering is refused by the core) */
	unsigned long call_thread;   /* the thread that made the latest of them */
	unsigned long send_thread;   /* socket mode: the thread in send, or 0 */
	unsigned long recv_thread;   /* socket mode: the thread in recv, or 0 */
	int call_other;              /* a call that is neither send nor recv is running */
	int owns_sock;               /* made by Config.connect/accept: close it too */
	int sliced;                  /* blocking socket: the core waits in slices */
} SessionObject;

typedef struct {
	PyObject_HEAD
	mutls_testca *ca;
	PyObject *weakreflist;
} TestCAObject;

typedef struct {
	PyObject_HEAD
	mutls_identity *id;
	PyObject *weakreflist;
} IdentityObject;

/* ---- types and exception classes (module.c) ------------------------------ */

extern PyTypeObject *Mutls_CertificateType;
extern PyTypeObject *Mutls_ConfigType;
extern PyTypeObject *Mutls_SessionType;
extern PyTypeObject *Mutls_PeerType;
extern PyTypeObject *Mutls_VerificationType;
extern PyTypeObject *Mutls_TestCAType;
extern PyTypeObject *Mutls_IdentityType;
extern PyTypeObject *Mutls_TraceEventType;

extern PyObject *Mutls_Error;
extern PyObject *Mutls_HandshakeError;
extern PyObject *Mutls_CertificateVerifyError;
extern PyObject *Mutls_PeerRejectedError;
extern PyObject *Mutls_ProtocolError;
extern PyObject *Mutls_ConnectionClosed;
extern PyObject *Mutls_TimeoutError;
extern PyObject *Mutls_ConfigError;
extern PyObject *Mutls_UsageError;
extern PyObject *Mutls_WantRead;
extern PyObject *Mutls_WantWrite;

/* Type specs, one per file; module.c makes the types. */
extern PyType_Spec mutlspy_certificate_spec;
extern PyType_Spec mutlspy_config_spec;
extern PyType_Spec mutlspy_session_spec;
extern PyType_Spec mutlspy_peer_spec;
extern PyType_Spec mutlspy_verification_spec;
extern PyType_Spec mutlspy_testca_spec;
extern PyType_Spec mutlspy_identity_spec;

/* ---- helpers (module.c) -------------------------------------------------- */

/* PEM text or path (str, bytes or os.PathLike) as a new bytes object holding
 * the NUL-terminated C string to pass to the core. `field` names the option in
 * errors. Returns NULL with TypeError/ConfigError set. */
PyObject *mutlspy_source_bytes(PyObject *obj, const char *field);
/* Drop a bytes object from mutlspy_source_bytes/mutlspy_str_bytes (or any
 * copy) of obj that held key text or a password: wiped first when it is a
 * copy only we hold, never when it is the caller's own object. */
void mutlspy_release_secret(PyObject *copy, PyObject *orig);
/* A plain string option (str, or bytes taken as UTF-8): new bytes object. */
PyObject *mutlspy_str_bytes(PyObject *obj, const char *field);
/* The UTF-8 of a str (owned by it), or NULL with ConfigError set when it
 * contains a NUL (C would compare "none\0..." as "none"). */
const char *mutlspy_utf8_nonul(PyObject *str, const char *field);
/* A time option: None -> MUTLS_TIME_UNSET; datetime (aware, or naive taken
 * as UTC) -> its Unix time; int/float -> seconds from now. -1 on error. */
int mutlspy_time_arg(PyObject *obj, const char *field, int64_t *out);
/* Aware UTC datetime for a Unix time (new reference). */
PyObject *mutlspy_datetime(int64_t t);
/* Python list of str from a C string list (does not free it). */
PyObject *mutlspy_str_list(char **list, size_t count);
/* ["expired", ...] for reason bits. */
PyObject *mutlspy_reasons_list(unsigned reasons);
/* A string or None for NULL. */
PyObject *mutlspy_str_or_none(const char *s);
/* Sequence option: a single str/bytes/PathLike becomes a one-item list,
 * None an empty list; otherwise a new list from the iterable. */
PyObject *mutlspy_as_list(PyObject *obj, const char *field);
/* The ipaddress module's ip_address(text). */
PyObject *mutlspy_ip_address(const char *text);

/* ---- errors (errors.c) --------------------------------------------------- */

/* The class for a code (borrowed). */
PyObject *mutlspy_error_class(int code);
/* A new exception instance from a core error. `sess` (may be NULL) gives the
 * peer certificate; `cert` (may be NULL) overrides it. */
PyObject *mutlspy_error_new(const mutls_error *err, SessionObject *sess,
	CertificateObject *cert);
/* Raises for a failed core call (rc < 0): the thread's last error when it
 * has code rc, else the session's error, else a generic one. If the session
 * stored an exception from a hook, it becomes the __cause__ (a
 * BaseException that is not an Exception, such as KeyboardInterrupt, is
 * raised as it is). Always returns NULL. */
PyObject *mutlspy_raise(int rc, SessionObject *sess);
/* Same for non-session calls, with an optional certificate and an optional
 * exception to chain as __cause__ (stolen). */
PyObject *mutlspy_raise_last(int rc, CertificateObject *cert, PyObject *cause);
/* Raises a mutls error of `code` with a formatted message. Returns NULL. */
PyObject *mutlspy_raise_code(int code, const char *fmt, ...);
/* Chains `cause` (stolen) under the exception currently set. */
void mutlspy_chain_cause(PyObject *cause);
/* Fetches the current exception as one normalised object (new reference). */
PyObject *mutlspy_fetch_exception(void);

/* ---- objects' helpers ---------------------------------------------------- */

/* certificate.c: a Certificate for a core certificate (takes a new ref). */
PyObject *mutlspy_certificate_wrap(mutls_x509 *cert);
int mutlspy_is_certificate(PyObject *obj);

/* config.c: trust/crl/peers handling shared with Certificate.verify. */
int mutlspy_config_add_trust(mutls_config *cfg, PyObject *trust);
int mutlspy_config_add_crl(mutls_config *cfg, PyObject *crl);
int mutlspy_config_add_peers(mutls_config *cfg, PyObject *peers);
int mutlspy_is_config(PyObject *obj);
/* A verification time: datetime (naive: UTC), int/float seconds since the
 * epoch, or a timedelta from now. -1 with an exception set. */
int mutlspy_epoch_arg(PyObject *obj, const char *what, int64_t *out);
/* profile= and max_chain_depth= (None: unchanged) into cfg, or into o
 * when o is not NULL (Certificate.verify). -1 with an exception set. */
int mutlspy_verify_settings(mutls_config *cfg, mutls_verify_options *o, PyObject *profile,
	PyObject *max_depth);
/* The time of a Config's verify_time callable: 1 and *out, 0 when it has
 * none, -1 with the callable's exception set. */
int mutlspy_config_clock_now(ConfigObject *self, int64_t *out);

/* session.c */
PyObject *mutlspy_session_new(ConfigObject *cfg, int is_server, PyObject *sock,
	PyObject *server_hostname, PyObject *session_data);
/* Stores the exception currently set on the session (keeps the first). */
/* Config.check_peer(chain) (session.c). */
PyObject *mutlspy_session_check_peer(ConfigObject *cfg, PyObject *chain);
void mutlspy_session_store_exception(SessionObject *sess);
/* A Peer for the verify hook (new reference). */
PyObject *mutlspy_peer_new(SessionObject *sess);
/* A TraceEvent for a core event (new reference). */
PyObject *mutlspy_trace_event(const mutls_trace_event *ev);
/* peer.c: the peer's chain (list of Certificate), a Verification object */
PyObject *mutlspy_chain_list(mutls_session *s);
/* hooks.c: the trampolines the C config calls (payload: the ConfigObject) */
int mutlspy_verify_trampoline(mutls_session *s, void *payload, char *reason, size_t cap);
int mutlspy_trace_trampoline(mutls_session *s, const mutls_trace_event *ev, void *payload);
int mutlspy_keylog_trampoline(mutls_session *s, const char *line, void *payload);
int mutlspy_password_trampoline(char *buf, size_t cap, const char *what, void *payload);
int mutlspy_clock_trampoline(int64_t *out, mutls_session *s, void *payload);
/* convert.c: the datetime C API and the epoch, once (PyInit__mutls) */
int mutlspy_convert_init(void);
/* tp_new of the types only mutls makes (session.c) */
PyObject *mutlspy_no_new(PyTypeObject *type, PyObject *args, PyObject *kwds);
PyObject *mutlspy_verification_new(mutls_session *s);
/* mutls.trace_event_text(ev) / trace_event_note(ev): the core's rendering. */
PyObject *mutlspy_trace_event_text(PyObject *mod, PyObject *ev);
PyObject *mutlspy_trace_event_note(PyObject *mod, PyObject *ev);

/* testca.c */
int mutlspy_is_testca(PyObject *obj);
int mutlspy_is_identity(PyObject *obj);

#endif
