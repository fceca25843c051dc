/* Config: the options of docs/design.md applied to a core mutls_config (the
 * trampolines through which the core calls the Python hooks: hooks.c).
 *
 * The core's hook payload is the ConfigObject itself (borrowed): the C config
 * never outlives it, because only this object and the core sessions of its
 * Session objects hold the C config, and a Session frees its core session
 * before it lets go of its Config. The hook callables are plain GC-visible
 * references of this object, so cycles through hooks are collected. */
#include "mutlspy.h"

#include <limits.h>
#include <math.h>

int mutlspy_is_config(PyObject *obj)
{
	return PyObject_TypeCheck(obj, Mutls_ConfigType);
}

/* ---- option helpers (shared with Certificate.verify) ---------------------- */

static int config_fail(int rc)
{
	mutlspy_raise_last(rc, NULL, NULL);
	return -1;
}

int mutlspy_config_add_trust(mutls_config *cfg, PyObject *trust)
{
	PyObject *list = mutlspy_as_list(trust, "trust");
	int rc = 0;

	if (!list)
		return -1;
	for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list) && rc == 0; i++) {
		PyObject *item = PyList_GET_ITEM(list, i);
		if (mutlspy_is_certificate(item)) {
			if ((rc = mutls_config_add_trust_x509(cfg, ((CertificateObject *)item)->cert)) < 0)
				rc = config_fail(rc);
		} else if (mutlspy_is_testca(item)) {
			if ((rc = mutls_config_add_trust_x509(cfg,
				mutls_testca_certificate(((TestCAObject *)item)->ca))) < 0)
				rc = config_fail(rc);
		} else if (PyList_Check(item) || PyTuple_Check(item)) {
			rc = mutlspy_config_add_trust(cfg, item);
		} else {
			PyObject *b;
			if (!PyUnicode_Check(item) && !PyBytes_Check(item) && !PyByteArray_Check(item) &&
			    !PyObject_HasAttrString(item, "__fspath__")) {
				PyErr_Format(PyExc_TypeError, "trust: expected PEM text, a path, \"system\", "
					"a Certificate or a TestCA, not %.100s", Py_TYPE(item)->tp_name);
				rc = -1;
				break;
			}
			b = mutlspy_source_bytes(item, "trust");
			if (!b) {
				rc = -1;
				break;
			}
			if ((rc = mutls_config_add_trust(cfg, PyBytes_AS_STRING(b))) < 0)
				rc = config_fail(rc);
			Py_DECREF(b);
		}
	}
	Py_DECREF(list);
	return rc < 0 ? -1 : 0;
}

int mutlspy_config_add_crl(mutls_config *cfg, PyObject *crl)
{
	PyObject *list = mutlspy_as_list(crl, "crl");
	int rc = 0;

	if (!list)
		return -1;
	for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list) && rc == 0; i++) {
		PyObject *item = PyList_GET_ITEM(list, i);
		if (mutlspy_is_testca(item)) {
			char *pem = NULL;
			if ((rc = mutls_testca_crl_pem(&pem, ((TestCAObject *)item)->ca)) < 0 ||
			    (rc = mutls_config_add_crl(cfg, pem)) < 0)
				rc = config_fail(rc);
			mutls_free(pem);
		} else {
			PyObject *b;
			if (!PyUnicode_Check(item) && !PyBytes_Check(item) && !PyByteArray_Check(item) &&
			    !PyObject_HasAttrString(item, "__fspath__")) {
				PyErr_Format(PyExc_TypeError, "crl: expected PEM text, a path or a TestCA, not %.100s",
					Py_TYPE(item)->tp_name);
				rc = -1;
				break;
			}
			b = mutlspy_source_bytes(item, "crl");
			if (!b) {
				rc = -1;
				break;
			}
			if ((rc = mutls_config_add_crl(cfg, PyBytes_AS_STRING(b))) < 0)
				rc = config_fail(rc);
			Py_DECREF(b);
		}
	}
	Py_DECREF(list);
	return rc < 0 ? -1 : 0;
}

int mutlspy_config_add_peers(mutls_config *cfg, PyObject *peers)
{
	PyObject *list = mutlspy_as_list(peers, "peers");
	int rc = 0;

	if (!list)
		return -1;
	for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list) && rc == 0; i++) {
		PyObject *item = PyList_GET_ITEM(list, i), *b;
		if (mutlspy_is_certificate(item)) {
			if ((rc = mutls_config_add_peer_certificate(cfg, ((CertificateObject *)item)->cert)) < 0)
				rc = config_fail(rc);
			continue;
		}
		b = mutlspy_str_bytes(item, "peers");
		if (!b) {
			rc = -1;
			break;
		}
		if ((rc = mutls_config_add_peer_pattern(cfg, PyBytes_AS_STRING(b))) < 0)
			rc = config_fail(rc);
		Py_DECREF(b);
	}
	Py_DECREF(list);
	return rc < 0 ? -1 : 0;
}

/* A list of strings option as a C array; *keep holds the bytes objects. */
static const char **string_array(PyObject *obj, const char *field, PyObject **keep, size_t *count)
{
	PyObject *list = mutlspy_as_list(obj, field);
	const char **arr;
	Py_ssize_t n;

	*keep = NULL;
	*count = 0;
	if (!list)
		return NULL;
	n = PyList_GET_SIZE(list);
	arr = PyMem_Calloc((size_t)n + 1, sizeof(*arr));
	if (!arr) {
		Py_DECREF(list);
		PyErr_NoMemory();
		return NULL;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *b = mutlspy_str_bytes(PyList_GET_ITEM(list, i), field);
		if (!b) {
			Py_DECREF(list);
			PyMem_Free(arr);
			return NULL;
		}
		PyList_SetItem(list, i, b); /* steals b, drops the old item; the list keeps b alive */
		arr[i] = PyBytes_AS_STRING(b);
	}
	*keep = list;
	*count = (size_t)n;
	return arr;
}

static int bool_arg(PyObject *obj, const char *field, int *out)
{
	if (!PyBool_Check(obj) && !PyLong_Check(obj)) {
		PyErr_Format(PyExc_TypeError, "%s: expected a bool, not %.100s", field, Py_TYPE(obj)->tp_name);
		return -1;
	}
	*out = PyObject_IsTrue(obj);
	return *out < 0 ? -1 : 0;
}

/* A count: an int (not a bool) from 0 up. */
static int entries_arg(PyObject *obj, const char *field, size_t *out)
{
	if (PyBool_Check(obj) || !PyLong_Check(obj)) {
		PyErr_Format(PyExc_TypeError, "%s: expected an int (a number of entries), not %.100s",
			field, Py_TYPE(obj)->tp_name);
		return -1;
	}
	*out = PyLong_AsSize_t(obj);
	if (*out == (size_t)-1 && PyErr_Occurred()) {
		PyErr_Clear();
		mutlspy_raise_code(MUTLS_ECONFIG,
			"%s: expected a number of entries from 0 up (0 turns the cache off)", field);
		return -1;
	}
	return 0;
}

static int callable_arg(PyObject *obj, const char *field)
{
	if (obj != Py_None && !PyCallable_Check(obj)) {
		PyErr_Format(PyExc_TypeError, "%s: expected a callable or None, not %.100s", field,
			Py_TYPE(obj)->tp_name);
		return -1;
	}
	return 0;
}

int mutlspy_epoch_arg(PyObject *obj, const char *what, int64_t *out)
{
	if (PyBool_Check(obj) || obj == Py_None) {
		PyErr_Format(PyExc_TypeError, "%s: expected a datetime, seconds since the epoch (int "
			"or float), a timedelta from now, or a callable returning one, not %.100s", what,
			Py_TYPE(obj)->tp_name);
		return -1;
	}
	if (PyLong_Check(obj)) {
		long long v = PyLong_AsLongLong(obj);
		if (v == -1 && PyErr_Occurred())
			return -1;
		*out = (int64_t)v;
		return 0;
	}
	if (PyFloat_Check(obj)) {
		double d = PyFloat_AS_DOUBLE(obj);
		if (!(d > -9.2e18 && d < 9.2e18)) {
			PyErr_Format(PyExc_ValueError, "%s: not a finite number of seconds", what);
			return -1;
		}
		*out = (int64_t)floor(d);
		return 0;
	}
	/* a datetime (naive: UTC) or a timedelta from now, as TestCA takes them */
	return mutlspy_time_arg(obj, what, out);
}

int mutlspy_verify_settings(mutls_config *cfg, mutls_verify_options *o, PyObject *profile,
	PyObject *max_depth)
{
	int rc;
	if (profile != Py_None) {
		const char *p;
		if (!PyUnicode_Check(profile)) {
			PyErr_Format(PyExc_TypeError, "profile: expected \"default\" or \"strict\", not %.100s",
				Py_TYPE(profile)->tp_name);
			return -1;
		}
		if (!(p = mutlspy_utf8_nonul(profile, "profile")))
			return -1;
		if (o) {
			if (strcmp(p, "default") != 0 && strcmp(p, "strict") != 0) {
				mutlspy_raise_code(MUTLS_ECONFIG, "profile: expected \"default\" or \"strict\", "
					"not \"%.100s\"", p);
				return -1;
			}
			o->profile = strcmp(p, "strict") == 0 ? MUTLS_PROFILE_STRICT : MUTLS_PROFILE_DEFAULT;
			o->flags |= MUTLS_VERIFY_PROFILE;
		} else if ((rc = mutls_config_set_profile(cfg, p)) < 0) {
			return config_fail(rc);
		}
	}
	if (max_depth != Py_None) {
		long d;
		if (!PyLong_Check(max_depth) || PyBool_Check(max_depth)) {
			PyErr_Format(PyExc_TypeError, "max_chain_depth: expected an int or None, not %.100s",
				Py_TYPE(max_depth)->tp_name);
			return -1;
		}
		d = PyLong_AsLong(max_depth);
		if (d == -1 && PyErr_Occurred())
			return -1;
		if (d < 0 || d > 64) {
			mutlspy_raise_code(MUTLS_ECONFIG, "max_chain_depth: expected 0 to 64, not %ld", d);
			return -1;
		}
		if (o) {
			o->max_chain_depth = (int)d;
			o->flags |= MUTLS_VERIFY_MAX_CHAIN_DEPTH;
		} else if ((rc = mutls_config_set_max_chain_depth(cfg, (int)d)) < 0) {
			return config_fail(rc);
		}
	}
	return 0;
}

int mutlspy_config_clock_now(ConfigObject *self, int64_t *out)
{
	PyObject *fn = self->clock, *res;
	int rc;

	if (!fn)
		return 0;
	Py_INCREF(fn);
	res = PyObject_CallNoArgs(fn);
	Py_DECREF(fn);
	if (!res)
		return -1;
	rc = mutlspy_epoch_arg(res, "verify_time (the value the callable returned)", out);
	Py_DECREF(res);
	return rc < 0 ? -1 : 1;
}

/* verify_time: a fixed time (aware datetime or epoch seconds) or a callable
 * returning one, asked at each verification. */
static int apply_verify_time(ConfigObject *self, PyObject *value)
{
	int64_t t;
	int rc;

	if (PyCallable_Check(value)) {
		Py_INCREF(value);
		Py_XSETREF(self->clock, value);
		if ((rc = mutls_config_set_verify_clock(self->cfg, mutlspy_clock_trampoline, self, NULL)) < 0)
			return config_fail(rc);
		return 0;
	}
	if (mutlspy_epoch_arg(value, "verify_time", &t) < 0)
		return -1;
	if ((rc = mutls_config_set_verify_time(self->cfg, t)) < 0)
		return config_fail(rc);
	return 0;
}

/* ---- the type ------------------------------------------------------------ */

static PyObject *Config_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	ConfigObject *self = (ConfigObject *)type->tp_alloc(type, 0);
	int rc;

	if (!self)
		return NULL;
	if ((rc = mutls_config_new(&self->cfg)) < 0) {
		Py_DECREF(self);
		return mutlspy_raise_last(rc, NULL, NULL);
	}
	return (PyObject *)self;
}

static int apply_identity(ConfigObject *self, PyObject *certificate, PyObject *private_key,
	PyObject *password, PyObject *identity)
{
	PyObject *cb = NULL, *kb = NULL, *pb = NULL;
	int rc;

	if (identity != Py_None) {
		if (certificate != Py_None || private_key != Py_None) {
			mutlspy_raise_code(MUTLS_ECONFIG,
				"identity: give either identity= or certificate=/private_key=, not both");
			return -1;
		}
		if (!mutlspy_is_identity(identity)) {
			PyErr_Format(PyExc_TypeError, "identity: expected an Identity (from TestCA.issue), not %.100s",
				Py_TYPE(identity)->tp_name);
			return -1;
		}
		if ((rc = mutls_config_set_identity_object(self->cfg, ((IdentityObject *)identity)->id)) < 0)
			return config_fail(rc);
		return 0;
	}
	if (certificate == Py_None) {
		if (private_key != Py_None) {
			mutlspy_raise_code(MUTLS_ECONFIG, "private_key: given without a certificate");
			return -1;
		}
		return 0;
	}
	if (!(cb = mutlspy_source_bytes(certificate, "certificate")))
		return -1;
	/* no private_key: the core looks for the key in the certificate's PEM */
	if (private_key != Py_None && !(kb = mutlspy_source_bytes(private_key, "private_key")))
		goto fail;
	if (password != Py_None) {
		if (PyCallable_Check(password)) {
			Py_INCREF(password);
			self->password = password;
			if ((rc = mutls_config_set_password_callback(self->cfg, mutlspy_password_trampoline, self)) < 0) {
				config_fail(rc);
				goto fail;
			}
		} else if (PyUnicode_Check(password) || PyBytes_Check(password)) {
			if (!(pb = mutlspy_str_bytes(password, "password")))
				goto fail;
		} else {
			PyErr_Format(PyExc_TypeError, "password: expected str, bytes or a callable, not %.100s",
				Py_TYPE(password)->tp_name);
			goto fail;
		}
	}
	rc = mutls_config_set_identity(self->cfg, PyBytes_AS_STRING(cb),
		kb ? PyBytes_AS_STRING(kb) : NULL, pb ? PyBytes_AS_STRING(pb) : NULL);
	/* the callback is only used during set_identity */
	mutls_config_set_password_callback(self->cfg, NULL, NULL);
	Py_CLEAR(self->password);
	if (rc < 0) {
		PyObject *cause = self->password_exc;
		self->password_exc = NULL;
		mutlspy_raise_last(rc, NULL, cause);
		goto fail;
	}
	Py_CLEAR(self->password_exc);
	mutlspy_release_secret(cb, certificate); /* may hold the key too */
	mutlspy_release_secret(kb, private_key);
	mutlspy_release_secret(pb, password);
	return 0;
fail:
	Py_CLEAR(self->password);
	Py_CLEAR(self->password_exc);
	mutlspy_release_secret(cb, certificate);
	mutlspy_release_secret(kb, private_key);
	mutlspy_release_secret(pb, password);
	return -1;
}

/* handshake_timeout: seconds (> 0), or None for no limit. */
static int apply_handshake_timeout(ConfigObject *self, PyObject *value)
{
	double secs;
	int rc, ms = 0;

	if (value != Py_None) {
		if (!PyNumber_Check(value) || PyBool_Check(value)) {
			PyErr_Format(PyExc_TypeError, "handshake_timeout: expected seconds (a number) or None, "
				"not %.100s", Py_TYPE(value)->tp_name);
			return -1;
		}
		secs = PyFloat_AsDouble(value);
		if (secs == -1.0 && PyErr_Occurred())
			return -1;
		if (!(secs > 0) || secs * 1000.0 >= (double)INT_MAX) {
			mutlspy_raise_code(MUTLS_ECONFIG, "handshake_timeout must be a number of seconds "
				"above 0 and below %d (or None for no limit), not %g", INT_MAX / 1000, secs);
			return -1;
		}
		ms = (int)ceil(secs * 1000.0);
	}
	if ((rc = mutls_config_set_handshake_timeout(self->cfg, ms)) < 0)
		return config_fail(rc);
	return 0;
}

static int Config_init(ConfigObject *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "certificate", "private_key", "password", "identity", "trust",
		"crl", "peer_certificate", "check_hostname", "peers", "verify_hook", "versions",
		"priority", "alpn", "session_tickets", "keylog", "trace", "keylog_env",
		"session_cache", "send_ca_names", "handshake_timeout", "verify_time", "profile", "max_chain_depth", NULL };
	PyObject *certificate = Py_None, *private_key = Py_None, *password = Py_None;
	PyObject *identity = Py_None, *trust = Py_None, *crl = Py_None, *peer_mode = NULL;
	PyObject *check_hostname = Py_True, *peers = Py_None, *verify_hook = Py_None;
	PyObject *versions = Py_None, *priority = Py_None, *alpn = Py_None;
	PyObject *tickets = Py_True, *keylog = Py_None, *trace = Py_None, *keylog_env = Py_False;
	PyObject *session_cache = NULL, *send_ca_names = Py_True, *handshake_timeout = NULL;
	PyObject *verify_time = Py_None, *profile = Py_None, *max_depth = Py_None;
	size_t entries;
	int rc, flag;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$OOOOOOOOOOOOOOOOOOOOOOO:Config", kwlist,
		&certificate, &private_key, &password, &identity, &trust, &crl, &peer_mode,
		&check_hostname, &peers, &verify_hook, &versions, &priority, &alpn, &tickets,
		&keylog, &trace, &keylog_env, &session_cache, &send_ca_names, &handshake_timeout,
		&verify_time, &profile, &max_depth))
		return -1;
	if (self->initialized) {
		mutlspy_raise_code(MUTLS_EUSAGE, "Config: already initialised (a Config is immutable)");
		return -1;
	}
	self->initialized = 1;
	if (callable_arg(verify_hook, "verify_hook") < 0 || callable_arg(trace, "trace") < 0)
		return -1;

	if (apply_identity(self, certificate, private_key, password, identity) < 0)
		return -1;
	/* before crl: a CRL's dates are then checked at the clock's time */
	if (verify_time != Py_None && apply_verify_time(self, verify_time) < 0)
		return -1;
	if (mutlspy_config_add_trust(self->cfg, trust) < 0 ||
	    mutlspy_config_add_crl(self->cfg, crl) < 0)
		return -1;

	if (peer_mode && peer_mode != Py_None) {
		const char *m;
		mutls_peer_mode mode;
		if (!PyUnicode_Check(peer_mode)) {
			PyErr_Format(PyExc_TypeError,
				"peer_certificate: expected \"require\", \"request\", \"none\" or \"observe\", not %.100s",
				Py_TYPE(peer_mode)->tp_name);
			return -1;
		}
		if (!(m = mutlspy_utf8_nonul(peer_mode, "peer_certificate")))
			return -1;
		if ((rc = mutls_peer_mode_from_name(&mode, m)) < 0)
			return config_fail(rc);
		if ((rc = mutls_config_set_peer_certificate(self->cfg, mode)) < 0)
			return config_fail(rc);
	}
	if (bool_arg(check_hostname, "check_hostname", &flag) < 0)
		return -1;
	if ((rc = mutls_config_set_check_hostname(self->cfg, flag)) < 0)
		return config_fail(rc);
	if (mutlspy_config_add_peers(self->cfg, peers) < 0)
		return -1;

	if (mutlspy_verify_settings(self->cfg, NULL, profile, max_depth) < 0)
		return -1;
	if (verify_hook != Py_None) {
		Py_INCREF(verify_hook);
		Py_XSETREF(self->verify_hook, verify_hook);
		if ((rc = mutls_config_set_verify_hook(self->cfg, mutlspy_verify_trampoline, self, NULL)) < 0)
			return config_fail(rc);
	}
	if (versions != Py_None) {
		PyObject *keep;
		size_t n;
		const char **arr = string_array(versions, "versions", &keep, &n);
		if (!arr)
			return -1;
		rc = mutls_config_set_versions(self->cfg, arr, n);
		PyMem_Free((void *)arr);
		Py_DECREF(keep);
		if (rc < 0)
			return config_fail(rc);
	}
	if (priority != Py_None) {
		PyObject *b = mutlspy_str_bytes(priority, "priority");
		if (!b)
			return -1;
		rc = mutls_config_set_priority(self->cfg, PyBytes_AS_STRING(b));
		Py_DECREF(b);
		if (rc < 0)
			return config_fail(rc);
	}
	if (alpn != Py_None) {
		PyObject *keep;
		size_t n;
		const char **arr = string_array(alpn, "alpn", &keep, &n);
		if (!arr)
			return -1;
		rc = mutls_config_set_alpn(self->cfg, arr, n);
		PyMem_Free((void *)arr);
		Py_DECREF(keep);
		if (rc < 0)
			return config_fail(rc);
	}
	if (handshake_timeout && apply_handshake_timeout(self, handshake_timeout) < 0)
		return -1;
	if (bool_arg(tickets, "session_tickets", &flag) < 0)
		return -1;
	if ((rc = mutls_config_set_session_tickets(self->cfg, flag)) < 0)
		return config_fail(rc);
	if (session_cache) {
		if (entries_arg(session_cache, "session_cache", &entries) < 0)
			return -1;
		if ((rc = mutls_config_set_session_cache(self->cfg, entries)) < 0)
			return config_fail(rc);
	}
	if (bool_arg(send_ca_names, "send_ca_names", &flag) < 0)
		return -1;
	if ((rc = mutls_config_set_send_ca_names(self->cfg, flag)) < 0)
		return config_fail(rc);

	if (keylog != Py_None) {
		if (PyCallable_Check(keylog)) {
			Py_INCREF(keylog);
			Py_XSETREF(self->keylog_hook, keylog);
			if ((rc = mutls_config_set_keylog_hook(self->cfg, mutlspy_keylog_trampoline, self, NULL)) < 0)
				return config_fail(rc);
		} else {
			PyObject *path = NULL;
			if (PyBytes_Check(keylog) || PyUnicode_Check(keylog) ||
			    PyObject_HasAttrString(keylog, "__fspath__")) {
				if (!PyUnicode_FSConverter(keylog, &path))
					return -1;
			} else {
				PyErr_Format(PyExc_TypeError, "keylog: expected a path or a callable, not %.100s",
					Py_TYPE(keylog)->tp_name);
				return -1;
			}
			rc = mutls_config_set_keylog_file(self->cfg, PyBytes_AS_STRING(path));
			Py_DECREF(path);
			if (rc < 0)
				return config_fail(rc);
		}
	}
	/* after keylog: an explicit keylog wins over SSLKEYLOGFILE */
	if (bool_arg(keylog_env, "keylog_env", &flag) < 0)
		return -1;
	if ((rc = mutls_config_set_keylog_env(self->cfg, flag)) < 0)
		return config_fail(rc);
	if (trace != Py_None) {
		Py_INCREF(trace);
		Py_XSETREF(self->trace_hook, trace);
		if ((rc = mutls_config_set_trace_hook(self->cfg, mutlspy_trace_trampoline, self, NULL)) < 0)
			return config_fail(rc);
	}
	return 0;
}

static int Config_traverse(ConfigObject *self, visitproc visit, void *arg)
{
	Py_VISIT(Py_TYPE(self));
	Py_VISIT(self->verify_hook);
	Py_VISIT(self->trace_hook);
	Py_VISIT(self->keylog_hook);
	Py_VISIT(self->clock);
	Py_VISIT(self->password);
	Py_VISIT(self->password_exc);
	return 0;
}

static int Config_clear(ConfigObject *self)
{
	/* the C config stays until dealloc; the trampolines see NULL hooks */
	Py_CLEAR(self->verify_hook);
	Py_CLEAR(self->trace_hook);
	Py_CLEAR(self->keylog_hook);
	Py_CLEAR(self->clock);
	Py_CLEAR(self->password);
	Py_CLEAR(self->password_exc);
	return 0;
}

static void Config_dealloc(ConfigObject *self)
{
	PyTypeObject *tp = Py_TYPE(self);
	PyObject_GC_UnTrack(self);
	if (self->weakreflist)
		PyObject_ClearWeakRefs((PyObject *)self);
	Config_clear(self);
	mutls_config_unref(self->cfg);
	self->cfg = NULL;
	tp->tp_free((PyObject *)self);
	Py_DECREF(tp);
}

/* ---- methods ------------------------------------------------------------- */

static PyObject *Config_client(ConfigObject *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "sock", "server_hostname", "session_data", NULL };
	PyObject *sock = Py_None, *hostname = Py_None, *data = Py_None;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O$OO:client", kwlist, &sock, &hostname, &data))
		return NULL;
	return mutlspy_session_new(self, 0, sock, hostname, data);
}

static PyObject *Config_server(ConfigObject *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "sock", NULL };
	PyObject *sock = Py_None;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:server", kwlist, &sock))
		return NULL;
	return mutlspy_session_new(self, 1, sock, Py_None, Py_None);
}

static PyObject *Config_check_peer(ConfigObject *self, PyObject *chain)
{
	return mutlspy_session_check_peer(self, chain);
}

static PyObject *Config_peer_certificate(ConfigObject *self, void *c)
{
	return PyUnicode_FromString(mutls_peer_mode_name(mutls_config_peer_certificate(self->cfg)));
}

static PyObject *Config_has_identity(ConfigObject *self, void *c)
{
	return PyBool_FromLong(mutls_config_has_identity(self->cfg));
}

static PyObject *hook_or_none(PyObject *h)
{
	if (!h)
		Py_RETURN_NONE;
	Py_INCREF(h);
	return h;
}

static PyObject *Config_verify_hook(ConfigObject *self, void *c) { return hook_or_none(self->verify_hook); }
static PyObject *Config_trace(ConfigObject *self, void *c) { return hook_or_none(self->trace_hook); }

static PyObject *Config_repr(ConfigObject *self)
{
	PyObject *mode = Config_peer_certificate(self, NULL), *res;
	if (!mode)
		return NULL;
	res = PyUnicode_FromFormat("<mutls.Config peer_certificate=%R identity=%s%s>", mode,
		mutls_config_has_identity(self->cfg) ? "yes" : "no",
		self->verify_hook ? " verify_hook" : "");
	Py_DECREF(mode);
	return res;
}

static PyMethodDef Config_methods[] = {
	{ "client", (PyCFunction)(void (*)(void))Config_client, METH_VARARGS | METH_KEYWORDS,
	  "client(sock=None, *, server_hostname=None, session_data=None) -> Session\n\n"
	  "A client session over a connected socket, or in memory mode when sock is None.\n"
	  "server_hostname is sent as SNI and checked against the server's certificate;\n"
	  "session_data (from an earlier Session.session_data) resumes." },
	{ "server", (PyCFunction)(void (*)(void))Config_server, METH_VARARGS | METH_KEYWORDS,
	  "server(sock=None) -> Session\n\nA server session over a connected socket, or in memory mode." },
	{ "check_peer", (PyCFunction)Config_check_peer, METH_O,
	  "check_peer(chain) -> Session\n\n"
	  "Checks a client's chain (leaf first; a Certificate; [] for none) that arrived\n"
	  "outside a mutls handshake -- e.g. the client certificate nginx received -- with\n"
	  "every check of a server handshake, verify hook included, at the current time.\n"
	  "Returns a Session without a connection that holds the verdict: verified,\n"
	  "verification, error (a refusal is not raised), peer_certificate." },
	{ NULL, NULL, 0, NULL }
};

static PyObject *Config_handshake_timeout(ConfigObject *self, void *c)
{
	int ms = mutls_config_handshake_timeout(self->cfg);
	if (ms <= 0)
		Py_RETURN_NONE;
	return PyFloat_FromDouble(ms / 1000.0);
}

static PyGetSetDef Config_getset[] = {
	{ "handshake_timeout", (getter)Config_handshake_timeout, NULL,
	  "Seconds a socket-mode handshake may take in all (default 30.0), or None.", NULL },
	{ "peer_certificate", (getter)Config_peer_certificate, NULL, "\"require\", \"request\", \"none\" or \"observe\".", NULL },
	{ "has_identity", (getter)Config_has_identity, NULL, "True when the config has its own certificate and key.", NULL },
	{ "verify_hook", (getter)Config_verify_hook, NULL, "The verify hook, or None.", NULL },
	{ "trace", (getter)Config_trace, NULL, "The trace callable, or None.", NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

static PyMemberDef Config_members[] = {
	{ "__weaklistoffset__", T_PYSSIZET, offsetof(ConfigObject, weakreflist), READONLY, NULL },
	{ NULL, 0, 0, 0, NULL }
};

static PyType_Slot Config_slots[] = {
	{ Py_tp_new, Config_new },
	{ Py_tp_init, Config_init },
	{ Py_tp_dealloc, Config_dealloc },
	{ Py_tp_traverse, Config_traverse },
	{ Py_tp_clear, Config_clear },
	{ Py_tp_repr, Config_repr },
	{ Py_tp_methods, Config_methods },
	{ Py_tp_getset, Config_getset },
	{ Py_tp_members, Config_members },
	{ Py_tp_doc,
	  "Config(*, certificate=None, private_key=None, password=None, identity=None,\n"
	  "       trust=None, crl=None, peer_certificate=\"require\", check_hostname=True,\n"
	  "       peers=None, verify_hook=None, versions=None, priority=None, alpn=None,\n"
	  "       session_tickets=True, keylog=None, trace=None, keylog_env=False,\n"
	  "       session_cache=1024, send_ca_names=True, handshake_timeout=30.0,\n"
	  "       verify_time=None, profile=\"default\", max_chain_depth=None)\n\n"
	  "Own identity, trust anchors, CRLs, peer policy and hooks. Immutable; shared by\n"
	  "any number of sessions (cfg.client(...), cfg.server(...)) and threads.\n"
	  "Bad values raise ConfigError naming the file or field; wrong types TypeError." },
	{ 0, NULL }
};

PyType_Spec mutlspy_config_spec = {
	"mutls.Config",
	sizeof(ConfigObject),
	0,
	Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	Config_slots
};
