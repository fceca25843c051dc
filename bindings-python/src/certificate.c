/* Certificate: one parsed X.509 certificate (immutable, shares the core's
 * refcounted mutls_x509). */
#include "mutlspy.h"

PyObject *mutlspy_certificate_wrap(mutls_x509 *cert)
{
	CertificateObject *self;

	if (!cert) {
		PyErr_SetString(PyExc_SystemError, "mutls: NULL certificate");
		return NULL;
	}
	self = (CertificateObject *)Mutls_CertificateType->tp_alloc(Mutls_CertificateType, 0);
	if (!self)
		return NULL;
	self->cert = mutls_x509_ref(cert);
	return (PyObject *)self;
}

int mutlspy_is_certificate(PyObject *obj)
{
	return PyObject_TypeCheck(obj, Mutls_CertificateType);
}

static PyObject *Certificate_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	PyErr_SetString(PyExc_TypeError,
		"use Certificate.from_pem(), Certificate.from_der() or Certificate.load()");
	return NULL;
}

static void Certificate_dealloc(CertificateObject *self)
{
	PyTypeObject *tp = Py_TYPE(self);
	if (self->weakreflist)
		PyObject_ClearWeakRefs((PyObject *)self);
	mutls_x509_unref(self->cert);
	tp->tp_free((PyObject *)self);
	Py_DECREF(tp);
}

/* ---- constructors -------------------------------------------------------- */

static PyObject *Certificate_from_pem(PyObject *cls, PyObject *arg)
{
	PyObject *bytes;
	mutls_x509 *cert = NULL;
	int rc;

	if (!PyUnicode_Check(arg) && !PyBytes_Check(arg) && !PyByteArray_Check(arg)) {
		PyErr_Format(PyExc_TypeError, "from_pem: expected str or bytes, not %.100s",
			Py_TYPE(arg)->tp_name);
		return NULL;
	}
	bytes = mutlspy_source_bytes(arg, "certificate");
	if (!bytes)
		return NULL;
	rc = mutls_x509_from_pem(&cert, PyBytes_AS_STRING(bytes), (size_t)PyBytes_GET_SIZE(bytes));
	Py_DECREF(bytes);
	if (rc < 0)
		return mutlspy_raise_last(rc, NULL, NULL);
	{
		PyObject *out = mutlspy_certificate_wrap(cert);
		mutls_x509_unref(cert);
		return out;
	}
}

static PyObject *Certificate_from_der(PyObject *cls, PyObject *arg)
{
	Py_buffer view;
	mutls_x509 *cert = NULL;
	PyObject *out;
	int rc;

	if (PyUnicode_Check(arg)) {
		PyErr_SetString(PyExc_TypeError, "from_der: expected bytes, not str (PEM? use from_pem)");
		return NULL;
	}
	if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
		return NULL;
	rc = mutls_x509_from_der(&cert, view.buf, (size_t)view.len);
	PyBuffer_Release(&view);
	if (rc < 0)
		return mutlspy_raise_last(rc, NULL, NULL);
	out = mutlspy_certificate_wrap(cert);
	mutls_x509_unref(cert);
	return out;
}

static PyObject *Certificate_load(PyObject *cls, PyObject *arg)
{
	PyObject *path = NULL;
	mutls_x509 *cert = NULL;
	PyObject *out;
	int rc;

	if (!PyUnicode_FSConverter(arg, &path))
		return NULL;
	rc = mutls_x509_load(&cert, PyBytes_AS_STRING(path));
	Py_DECREF(path);
	if (rc < 0)
		return mutlspy_raise_last(rc, NULL, NULL);
	out = mutlspy_certificate_wrap(cert);
	mutls_x509_unref(cert);
	return out;
}

/* ---- properties ---------------------------------------------------------- */

typedef int (*string_getter)(char **, const mutls_x509 *);

static PyObject *owned_string(CertificateObject *self, string_getter get)
{
	char *out = NULL;
	PyObject *res;
	int rc = get(&out, self->cert);
	if (rc < 0)
		return mutlspy_raise_last(rc, self, NULL);
	res = mutlspy_str_or_none(out);
	mutls_free(out);
	return res;
}

static PyObject *Certificate_subject(CertificateObject *self, void *c) { return owned_string(self, mutls_x509_subject); }
static PyObject *Certificate_issuer(CertificateObject *self, void *c) { return owned_string(self, mutls_x509_issuer); }
static PyObject *Certificate_serial(CertificateObject *self, void *c) { return owned_string(self, mutls_x509_serial); }
static PyObject *Certificate_common_name(CertificateObject *self, void *c) { return owned_string(self, mutls_x509_common_name); }
static PyObject *Certificate_pem(CertificateObject *self, void *c) { return owned_string(self, mutls_x509_pem); }

static PyObject *Certificate_not_before(CertificateObject *self, void *c)
{
	return mutlspy_datetime(mutls_x509_not_before(self->cert));
}

static PyObject *Certificate_not_after(CertificateObject *self, void *c)
{
	return mutlspy_datetime(mutls_x509_not_after(self->cert));
}

static PyObject *names(CertificateObject *self, mutls_san_type type)
{
	char **list = NULL;
	size_t count = 0;
	PyObject *res;
	int rc = mutls_x509_names(&list, &count, self->cert, type);
	if (rc < 0)
		return mutlspy_raise_last(rc, self, NULL);
	res = mutlspy_str_list(list, count);
	mutls_strings_free(list, count);
	return res;
}

static PyObject *Certificate_dns_names(CertificateObject *self, void *c) { return names(self, MUTLS_SAN_DNS); }
static PyObject *Certificate_uris(CertificateObject *self, void *c) { return names(self, MUTLS_SAN_URI); }
static PyObject *Certificate_emails(CertificateObject *self, void *c) { return names(self, MUTLS_SAN_EMAIL); }

typedef int (*usage_fn)(char ***, size_t *, const mutls_x509 *);

static PyObject *usages(CertificateObject *self, usage_fn fn)
{
	char **list = NULL;
	size_t count = 0;
	PyObject *res;
	int rc = fn(&list, &count, self->cert);
	if (rc < 0)
		return mutlspy_raise_last(rc, self, NULL);
	res = mutlspy_str_list(list, count);
	mutls_strings_free(list, count);
	return res;
}

static PyObject *Certificate_key_usage(CertificateObject *self, void *c) { return usages(self, mutls_x509_key_usage); }
static PyObject *Certificate_extended_key_usage(CertificateObject *self, void *c) { return usages(self, mutls_x509_extended_key_usage); }

static PyObject *Certificate_ip_addresses(CertificateObject *self, void *c)
{
	char **list = NULL;
	size_t count = 0;
	PyObject *res;
	int rc = mutls_x509_names(&list, &count, self->cert, MUTLS_SAN_IP);
	if (rc < 0)
		return mutlspy_raise_last(rc, self, NULL);
	res = PyList_New((Py_ssize_t)count);
	for (size_t i = 0; res && i < count; i++) {
		PyObject *ip = mutlspy_ip_address(list[i]);
		if (!ip) {
			Py_CLEAR(res);
			break;
		}
		PyList_SET_ITEM(res, (Py_ssize_t)i, ip);
	}
	mutls_strings_free(list, count);
	return res;
}

static PyObject *Certificate_is_ca(CertificateObject *self, void *c)
{
	return PyBool_FromLong(mutls_x509_is_ca(self->cert));
}

static PyObject *Certificate_key_type(CertificateObject *self, void *c)
{
	return mutlspy_str_or_none(mutls_x509_key_type(self->cert));
}

static PyObject *Certificate_label(CertificateObject *self, void *c)
{
	return mutlspy_str_or_none(mutls_x509_label(self->cert));
}

static PyObject *Certificate_der(CertificateObject *self, void *c)
{
	const unsigned char *der = NULL;
	size_t len = 0;
	mutls_x509_der(&der, &len, self->cert);
	return PyBytes_FromStringAndSize((const char *)der, (Py_ssize_t)len);
}

/* ---- methods ------------------------------------------------------------- */

static PyObject *Certificate_fingerprint(CertificateObject *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "algorithm", NULL };
	const char *alg = "sha256";
	char *out = NULL;
	PyObject *res;
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|s:fingerprint", kwlist, &alg))
		return NULL;
	rc = mutls_x509_fingerprint(&out, self->cert, alg);
	if (rc < 0)
		return mutlspy_raise_last(rc, NULL, NULL);
	res = mutlspy_str_or_none(out);
	mutls_free(out);
	return res;
}

static int parse_purpose(PyObject *obj, mutls_purpose *out)
{
	const char *s;
	int rc;
	*out = MUTLS_PURPOSE_ANY;
	if (obj == Py_None)
		return 0;
	if (!PyUnicode_Check(obj)) {
		PyErr_Format(PyExc_TypeError, "purpose: expected \"server\", \"client\" or None, not %.100s",
			Py_TYPE(obj)->tp_name);
		return -1;
	}
	s = mutlspy_utf8_nonul(obj, "purpose");
	if (!s)
		return -1;
	if ((rc = mutls_purpose_from_name(out, s)) < 0) {
		mutlspy_raise_last(rc, NULL, NULL);
		return -1;
	}
	return 0;
}

static PyObject *Certificate_verify(CertificateObject *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "trust", "hostname", "purpose", "crl", "peers", "intermediates",
		"at", "profile", "max_chain_depth", NULL };
	PyObject *trust, *hostname = Py_None, *purpose = Py_None, *crl = Py_None, *peers = Py_None;
	PyObject *at = Py_None, *profile = Py_None, *max_depth = Py_None;
	mutls_verify_options options;
	PyObject *intermediates = NULL, *host = NULL, *inter = NULL, *res = NULL;
	mutls_config *cfg = NULL;
	mutls_x509 **chain = NULL;
	mutls_purpose p;
	unsigned reasons = 0;
	Py_ssize_t n = 0;
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|$OOOOOOOO:verify", kwlist, &trust, &hostname,
		&purpose, &crl, &peers, &intermediates, &at, &profile, &max_depth))
		return NULL;
	memset(&options, 0, sizeof(options));
	if (mutlspy_verify_settings(NULL, &options, profile, max_depth) < 0)
		return NULL;
	if (at != Py_None) {
		if (PyCallable_Check(at)) {
			PyObject *t = PyObject_CallNoArgs(at);
			int trc;
			if (!t)
				return NULL;
			trc = mutlspy_epoch_arg(t, "at (the value the callable returned)", &options.at);
			Py_DECREF(t);
			if (trc < 0)
				return NULL;
		} else if (mutlspy_epoch_arg(at, "at", &options.at) < 0)
			return NULL;
		options.flags |= MUTLS_VERIFY_AT;
	} else if (mutlspy_is_config(trust)) {
		/* a verify_time callable runs here, in Python, with no session */
		int crc = mutlspy_config_clock_now((ConfigObject *)trust, &options.at);
		if (crc < 0)
			return NULL;
		if (crc > 0)
			options.flags |= MUTLS_VERIFY_AT;
	}
	if (parse_purpose(purpose, &p) < 0)
		return NULL;
	if (hostname != Py_None && !(host = mutlspy_str_bytes(hostname, "hostname")))
		return NULL;
	if (intermediates && intermediates != Py_None) {
		inter = PySequence_List(intermediates);
		if (!inter)
			goto out;
		n = PyList_GET_SIZE(inter);
		chain = PyMem_Calloc((size_t)n + 1, sizeof(*chain));
		if (!chain) {
			PyErr_NoMemory();
			goto out;
		}
		for (Py_ssize_t i = 0; i < n; i++) {
			PyObject *c = PyList_GET_ITEM(inter, i);
			if (!mutlspy_is_certificate(c)) {
				PyErr_Format(PyExc_TypeError, "intermediates: expected Certificate objects, not %.100s",
					Py_TYPE(c)->tp_name);
				goto out;
			}
			chain[i] = ((CertificateObject *)c)->cert;
		}
	}
	if (mutlspy_is_config(trust)) {
		if (crl != Py_None || peers != Py_None) {
			PyErr_SetString(PyExc_TypeError,
				"verify: crl= and peers= cannot be combined with a Config as trust (the Config has its own)");
			goto out;
		}
		cfg = mutls_config_ref(((ConfigObject *)trust)->cfg);
	} else {
		if ((rc = mutls_config_new(&cfg)) < 0) {
			mutlspy_raise_last(rc, NULL, NULL);
			goto out;
		}
		/* the clock first: the CRLs' dates are then checked at `at`, not now */
		if ((options.flags & MUTLS_VERIFY_AT) &&
		    (rc = mutls_config_set_verify_time(cfg, options.at)) < 0) {
			mutlspy_raise_last(rc, NULL, NULL);
			goto out;
		}
		if (mutlspy_config_add_trust(cfg, trust) < 0 || mutlspy_config_add_crl(cfg, crl) < 0 ||
		    mutlspy_config_add_peers(cfg, peers) < 0)
			goto out;
	}
	rc = mutls_x509_verify_with(&reasons, self->cert, chain, (size_t)n, cfg,
		host ? PyBytes_AS_STRING(host) : NULL, p, &options);
	if (rc < 0) {
		mutlspy_raise_last(rc, self, NULL);
		goto out;
	}
	res = Py_True;
	Py_INCREF(res);
out:
	mutls_config_unref(cfg);
	PyMem_Free(chain);
	Py_XDECREF(inter);
	Py_XDECREF(host);
	return res;
}

static PyObject *Certificate_reduce(CertificateObject *self, PyObject *unused)
{
	PyObject *der = Certificate_der(self, NULL), *from_der, *res;
	if (!der)
		return NULL;
	from_der = PyObject_GetAttrString((PyObject *)Py_TYPE(self), "from_der");
	if (!from_der) {
		Py_DECREF(der);
		return NULL;
	}
	res = Py_BuildValue("(N(N))", from_der, der);
	return res;
}

static PyObject *Certificate_repr(CertificateObject *self)
{
	return PyUnicode_FromFormat("<mutls.Certificate %s>", mutls_x509_label(self->cert));
}

static Py_hash_t Certificate_hash(CertificateObject *self)
{
	const unsigned char *der = NULL;
	size_t len = 0;
	PyObject *b;
	Py_hash_t h;
	mutls_x509_der(&der, &len, self->cert);
	b = PyBytes_FromStringAndSize((const char *)der, (Py_ssize_t)len);
	if (!b)
		return -1;
	h = PyObject_Hash(b);
	Py_DECREF(b);
	return h;
}

static PyObject *Certificate_richcompare(PyObject *a, PyObject *b, int op)
{
	const unsigned char *da, *db;
	size_t la, lb;
	int eq;

	if (!mutlspy_is_certificate(a) || !mutlspy_is_certificate(b) || (op != Py_EQ && op != Py_NE))
		Py_RETURN_NOTIMPLEMENTED;
	mutls_x509_der(&da, &la, ((CertificateObject *)a)->cert);
	mutls_x509_der(&db, &lb, ((CertificateObject *)b)->cert);
	eq = la == lb && memcmp(da, db, la) == 0;
	return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

static PyGetSetDef Certificate_getset[] = {
	{ "subject", (getter)Certificate_subject, NULL, "RFC 4514 subject (\"CN=orders,O=Example\").", NULL },
	{ "issuer", (getter)Certificate_issuer, NULL, "RFC 4514 issuer.", NULL },
	{ "serial", (getter)Certificate_serial, NULL, "Serial number, lowercase hex.", NULL },
	{ "not_before", (getter)Certificate_not_before, NULL, "Start of validity (aware datetime, UTC).", NULL },
	{ "not_after", (getter)Certificate_not_after, NULL, "End of validity (aware datetime, UTC).", NULL },
	{ "dns_names", (getter)Certificate_dns_names, NULL, "DNS subjectAltNames (list of str).", NULL },
	{ "ip_addresses", (getter)Certificate_ip_addresses, NULL, "IP subjectAltNames (ipaddress objects).", NULL },
	{ "uris", (getter)Certificate_uris, NULL, "URI subjectAltNames, such as SPIFFE IDs.", NULL },
	{ "emails", (getter)Certificate_emails, NULL, "email subjectAltNames.", NULL },
	{ "key_usage", (getter)Certificate_key_usage, NULL, "keyUsage bits by name (\"digitalSignature\", ...); [] when the extension is absent.", NULL },
	{ "extended_key_usage", (getter)Certificate_extended_key_usage, NULL, "extendedKeyUsage (\"serverAuth\", \"clientAuth\", or a dotted OID); [] when absent.", NULL },
	{ "common_name", (getter)Certificate_common_name, NULL, "The subject's CN, or None.", NULL },
	{ "is_ca", (getter)Certificate_is_ca, NULL, "True if basicConstraints CA:TRUE.", NULL },
	{ "key_type", (getter)Certificate_key_type, NULL, "\"p256\", \"ed25519\", \"rsa2048\", ...", NULL },
	{ "pem", (getter)Certificate_pem, NULL, "PEM text (str).", NULL },
	{ "der", (getter)Certificate_der, NULL, "DER bytes.", NULL },
	{ "label", (getter)Certificate_label, NULL, "Short description used in messages (\"CN=orders\").", NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

static PyMethodDef Certificate_methods[] = {
	{ "from_pem", (PyCFunction)Certificate_from_pem, METH_O | METH_CLASS,
	  "from_pem(pem: str | bytes) -> Certificate: the first certificate of PEM text." },
	{ "from_der", (PyCFunction)Certificate_from_der, METH_O | METH_CLASS,
	  "from_der(der: bytes) -> Certificate." },
	{ "load", (PyCFunction)Certificate_load, METH_O | METH_CLASS,
	  "load(path) -> Certificate: the first certificate of a PEM or DER file." },
	{ "fingerprint", (PyCFunction)(void (*)(void))Certificate_fingerprint, METH_VARARGS | METH_KEYWORDS,
	  "fingerprint(algorithm=\"sha256\") -> str: hex digest of the DER (sha256, sha1, sha384, sha512)." },
	{ "verify", (PyCFunction)(void (*)(void))Certificate_verify, METH_VARARGS | METH_KEYWORDS,
	  "verify(trust, *, hostname=None, purpose=None, crl=None, peers=None, intermediates=(), at=None,\n"
	  "       profile=None, max_chain_depth=None) -> True\n\n"
	  "Offline verification: validity, chain to trust, revocation (crl), name (hostname),\n"
	  "key purpose (\"server\" or \"client\") and peers patterns, at the time `at`\n"
	  "(an aware datetime, epoch seconds, or a callable returning one; default: the\n"
	  "Config's verify_time, else now), with the profile (\"default\" or \"strict\")\n"
	  "and max_chain_depth given (default: the Config's). Raises CertificateVerifyError with .reasons\n"
	  "when a check fails." },
	{ "__reduce__", (PyCFunction)Certificate_reduce, METH_NOARGS, NULL },
	{ NULL, NULL, 0, NULL }
};

static PyMemberDef Certificate_members[] = {
	{ "__weaklistoffset__", T_PYSSIZET, offsetof(CertificateObject, weakreflist), READONLY, NULL },
	{ NULL, 0, 0, 0, NULL }
};

static PyType_Slot Certificate_slots[] = {
	{ Py_tp_new, Certificate_new },
	{ Py_tp_dealloc, Certificate_dealloc },
	{ Py_tp_repr, Certificate_repr },
	{ Py_tp_hash, Certificate_hash },
	{ Py_tp_richcompare, Certificate_richcompare },
	{ Py_tp_getset, Certificate_getset },
	{ Py_tp_methods, Certificate_methods },
	{ Py_tp_members, Certificate_members },
	{ Py_tp_doc, "An X.509 certificate (immutable). Make one with Certificate.from_pem(),\n"
	             "from_der() or load(); sessions and identities hand them out too.\n"
	             "Equal (and hashed) by DER." },
	{ 0, NULL }
};

PyType_Spec mutlspy_certificate_spec = {
	"mutls.Certificate",
	sizeof(CertificateObject),
	0,
	Py_TPFLAGS_DEFAULT,
	Certificate_slots
};
