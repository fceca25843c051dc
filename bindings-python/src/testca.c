/* TestCA and Identity: the core's in-memory test PKI, trustme-style. */
#include "mutlspy.h"

#include <string.h>

int mutlspy_is_testca(PyObject *obj)
{
	return PyObject_TypeCheck(obj, Mutls_TestCAType);
}

int mutlspy_is_identity(PyObject *obj)
{
	return PyObject_TypeCheck(obj, Mutls_IdentityType);
}

static int key_type_arg(PyObject *obj, mutls_key_type *out)
{
	const char *name;
	int rc;

	*out = MUTLS_KEY_P256;
	if (obj == NULL || obj == Py_None)
		return 0;
	if (!PyUnicode_Check(obj)) {
		PyErr_Format(PyExc_TypeError, "key_type: expected str, not %.100s", Py_TYPE(obj)->tp_name);
		return -1;
	}
	if (!(name = mutlspy_utf8_nonul(obj, "key_type")))
		return -1;
	if ((rc = mutls_key_type_from_name(out, name)) < 0) {
		mutlspy_raise_last(rc, NULL, NULL);
		return -1;
	}
	return 0;
}

static PyObject *wrap_identity(mutls_identity *id)
{
	IdentityObject *self = (IdentityObject *)Mutls_IdentityType->tp_alloc(Mutls_IdentityType, 0);
	if (!self) {
		mutls_identity_free(id);
		return NULL;
	}
	self->id = id;
	return (PyObject *)self;
}

/* ---- TestCA --------------------------------------------------------------- */

static const char **names_array(PyObject *obj, const char *field, int allow_str,
	PyObject **keep, size_t *count);

/* What a CA's options borrow until mutls_testca_new/intermediate returns. */
typedef struct {
	PyObject *name_bytes;
	PyObject *permitted_keep;
	const char **permitted;
} ca_borrowed;

static void ca_borrowed_release(ca_borrowed *b)
{
	Py_CLEAR(b->name_bytes);
	Py_CLEAR(b->permitted_keep);
	PyMem_Free((void *)b->permitted);
	b->permitted = NULL;
}

/* path_length: None (no limit) or an int >= 0; permitted_dns: names. */
static int ca_constraints(mutls_testca_options *o, PyObject *path_length, PyObject *permitted,
	ca_borrowed *b)
{
	if (path_length && path_length != Py_None) {
		long v;
		if (!PyLong_Check(path_length) || PyBool_Check(path_length)) {
			PyErr_Format(PyExc_TypeError, "path_length: expected int or None, not %.100s",
				Py_TYPE(path_length)->tp_name);
			return -1;
		}
		v = PyLong_AsLong(path_length);
		if (v == -1 && PyErr_Occurred())
			return -1;
		if (v < 0 || v > 1000) {
			PyErr_Format(PyExc_ValueError, "path_length: expected 0 to 1000 or None, not %ld", v);
			return -1;
		}
		o->path_length = (int)v;
	}
	if (permitted && permitted != Py_None) {
		if (!(b->permitted = names_array(permitted, "permitted_dns", 0, &b->permitted_keep,
				&o->permitted_dns_count)))
			return -1;
		o->permitted_dns = b->permitted;
	}
	return 0;
}

static int ca_options(mutls_testca_options *o, PyObject *name, PyObject *key_type,
	PyObject *not_before, PyObject *not_after, PyObject **name_bytes)
{
	*name_bytes = NULL;
	if (name && name != Py_None) {
		if (!(*name_bytes = mutlspy_str_bytes(name, "name")))
			return -1;
		o->name = PyBytes_AS_STRING(*name_bytes);
	}
	if (key_type_arg(key_type, &o->key_type) < 0 ||
	    mutlspy_time_arg(not_before ? not_before : Py_None, "not_before", &o->not_before) < 0 ||
	    mutlspy_time_arg(not_after ? not_after : Py_None, "not_after", &o->not_after) < 0) {
		Py_CLEAR(*name_bytes);
		return -1;
	}
	return 0;
}

static PyObject *TestCA_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "name", "key_type", "not_before", "not_after", "path_length",
		"permitted_dns", NULL };
	PyObject *name = Py_None, *key_type = NULL, *not_before = Py_None, *not_after = Py_None;
	PyObject *path_length = Py_None, *permitted = Py_None;
	mutls_testca_options o = MUTLS_TESTCA_OPTIONS_INIT;
	ca_borrowed b = { NULL, NULL, NULL };
	TestCAObject *self;
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O$OOOOO:TestCA", kwlist, &name, &key_type,
		&not_before, &not_after, &path_length, &permitted))
		return NULL;
	if (ca_options(&o, name, key_type, not_before, not_after, &b.name_bytes) < 0)
		return NULL;
	if (ca_constraints(&o, path_length, permitted, &b) < 0) {
		ca_borrowed_release(&b);
		return NULL;
	}
	self = (TestCAObject *)type->tp_alloc(type, 0);
	if (!self) {
		ca_borrowed_release(&b);
		return NULL;
	}
	rc = mutls_testca_new(&self->ca, &o);
	ca_borrowed_release(&b);
	if (rc < 0) {
		self->ca = NULL;
		Py_DECREF(self);
		return mutlspy_raise_last(rc, NULL, NULL);
	}
	return (PyObject *)self;
}

/* TestCA.load(certificate, private_key, *, password=None): an existing CA. */
static PyObject *TestCA_load(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "certificate", "private_key", "password", NULL };
	PyObject *cert = NULL, *key = NULL, *password = Py_None;
	PyObject *cb = NULL, *kb = NULL, *pb = NULL;
	TestCAObject *self = NULL;
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|$O:load", kwlist, &cert, &key, &password))
		return NULL;
	if (!(cb = mutlspy_source_bytes(cert, "certificate")) ||
	    !(kb = mutlspy_source_bytes(key, "private_key")) ||
	    (password != Py_None && !(pb = mutlspy_str_bytes(password, "password"))))
		goto done;
	if (!(self = (TestCAObject *)type->tp_alloc(type, 0)))
		goto done;
	Py_BEGIN_ALLOW_THREADS
	rc = mutls_testca_load(&self->ca, PyBytes_AS_STRING(cb), PyBytes_AS_STRING(kb),
		pb ? PyBytes_AS_STRING(pb) : NULL);
	Py_END_ALLOW_THREADS
	if (rc < 0) {
		self->ca = NULL;
		Py_CLEAR(self);
		mutlspy_raise_last(rc, NULL, NULL);
	}
done:
	Py_XDECREF(cb);
	Py_XDECREF(kb);
	Py_XDECREF(pb);
	return (PyObject *)self;
}

static void TestCA_dealloc(TestCAObject *self)
{
	PyTypeObject *tp = Py_TYPE(self);
	if (self->weakreflist)
		PyObject_ClearWeakRefs((PyObject *)self);
	mutls_testca_free(self->ca);
	tp->tp_free((PyObject *)self);
	Py_DECREF(tp);
}

/* A names option as a C array (items: str, bytes, or anything str() gives
 * text for, such as ipaddress objects when allow_str is set). */
static const char **names_array(PyObject *obj, const char *field, int allow_str,
	PyObject **keep, size_t *count)
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
		PyObject *item = PyList_GET_ITEM(list, i), *b;
		if (allow_str && !PyUnicode_Check(item) && !PyBytes_Check(item)) {
			PyObject *s = PyObject_Str(item);
			b = s ? mutlspy_str_bytes(s, field) : NULL;
			Py_XDECREF(s);
		} else {
			b = mutlspy_str_bytes(item, field);
		}
		if (!b) {
			Py_DECREF(list);
			PyMem_Free(arr);
			return NULL;
		}
		PyList_SetItem(list, i, b); /* steals b, drops the old item */
		arr[i] = PyBytes_AS_STRING(b);
	}
	*keep = list;
	*count = (size_t)n;
	return arr;
}

static PyObject *TestCA_issue(TestCAObject *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "cn", "dns", "ip", "uri", "email", "not_before", "not_after",
		"key_type", "purpose", "bad_key_usage", NULL };
	PyObject *cn = Py_None, *dns = Py_None, *ip = Py_None, *uri = Py_None, *email = Py_None;
	PyObject *not_before = Py_None, *not_after = Py_None, *key_type = NULL, *purpose = NULL;
	PyObject *cnb = NULL, *keep[4] = { NULL, NULL, NULL, NULL }, *res = NULL;
	const char **arrs[4] = { NULL, NULL, NULL, NULL };
	mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
	mutls_identity *id = NULL;
	int bad_usage = 0, rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$OOOOOOOOOp:issue", kwlist, &cn, &dns, &ip,
		&uri, &email, &not_before, &not_after, &key_type, &purpose, &bad_usage))
		return NULL;
	if (cn != Py_None) {
		if (!(cnb = mutlspy_str_bytes(cn, "cn")))
			return NULL;
		o.cn = PyBytes_AS_STRING(cnb);
	}
	if (!(arrs[0] = names_array(dns, "dns", 0, &keep[0], &o.dns_count)) ||
	    !(arrs[1] = names_array(ip, "ip", 1, &keep[1], &o.ip_count)) ||
	    !(arrs[2] = names_array(uri, "uri", 0, &keep[2], &o.uri_count)) ||
	    !(arrs[3] = names_array(email, "email", 0, &keep[3], &o.email_count)))
		goto out;
	o.dns = arrs[0];
	o.ip = arrs[1];
	o.uri = arrs[2];
	o.email = arrs[3];
	if (mutlspy_time_arg(not_before, "not_before", &o.not_before) < 0 ||
	    mutlspy_time_arg(not_after, "not_after", &o.not_after) < 0 ||
	    key_type_arg(key_type, &o.key_type) < 0)
		goto out;
	if (purpose && purpose != Py_None) {
		const char *p;
		if (!PyUnicode_Check(purpose)) {
			PyErr_Format(PyExc_TypeError, "purpose: expected str, not %.100s", Py_TYPE(purpose)->tp_name);
			goto out;
		}
		if (!(p = mutlspy_utf8_nonul(purpose, "purpose")))
			goto out;
		if ((rc = mutls_purpose_from_name(&o.purpose, p)) < 0) {
			mutlspy_raise_last(rc, NULL, NULL);
			goto out;
		}
	}
	if (bad_usage)
		o.flags |= MUTLS_ISSUE_BAD_KEY_USAGE;
	rc = mutls_testca_issue(&id, self->ca, &o);
	if (rc < 0) {
		mutlspy_raise_last(rc, NULL, NULL);
		goto out;
	}
	res = wrap_identity(id);
out:
	for (int i = 0; i < 4; i++) {
		PyMem_Free((void *)arrs[i]);
		Py_XDECREF(keep[i]);
	}
	Py_XDECREF(cnb);
	return res;
}

static PyObject *TestCA_intermediate(TestCAObject *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "name", "key_type", "not_ca", "not_before", "not_after",
		"path_length", "permitted_dns", NULL };
	PyObject *name = Py_None, *key_type = NULL, *not_before = Py_None, *not_after = Py_None;
	PyObject *path_length = Py_None, *permitted = Py_None;
	mutls_testca_options o = MUTLS_TESTCA_OPTIONS_INIT;
	ca_borrowed b = { NULL, NULL, NULL };
	TestCAObject *child;
	int not_ca = 0, rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O$OpOOOO:intermediate", kwlist, &name, &key_type,
		&not_ca, &not_before, &not_after, &path_length, &permitted))
		return NULL;
	if (ca_options(&o, name, key_type, not_before, not_after, &b.name_bytes) < 0)
		return NULL;
	if (ca_constraints(&o, path_length, permitted, &b) < 0) {
		ca_borrowed_release(&b);
		return NULL;
	}
	if (not_ca)
		o.flags |= MUTLS_CA_NOT_A_CA;
	child = (TestCAObject *)Py_TYPE(self)->tp_alloc(Py_TYPE(self), 0);
	if (!child) {
		ca_borrowed_release(&b);
		return NULL;
	}
	rc = mutls_testca_intermediate(&child->ca, self->ca, &o);
	ca_borrowed_release(&b);
	if (rc < 0) {
		child->ca = NULL;
		Py_DECREF(child);
		return mutlspy_raise_last(rc, NULL, NULL);
	}
	return (PyObject *)child;
}

static PyObject *TestCA_revoke(TestCAObject *self, PyObject *arg)
{
	const mutls_x509 *cert;
	int rc;

	if (mutlspy_is_identity(arg))
		cert = mutls_identity_certificate(((IdentityObject *)arg)->id);
	else if (mutlspy_is_certificate(arg))
		cert = ((CertificateObject *)arg)->cert;
	else {
		PyErr_Format(PyExc_TypeError, "revoke: expected an Identity or a Certificate, not %.100s",
			Py_TYPE(arg)->tp_name);
		return NULL;
	}
	if ((rc = mutls_testca_revoke(self->ca, cert)) < 0)
		return mutlspy_raise_last(rc, NULL, NULL);
	Py_RETURN_NONE;
}

static PyObject *TestCA_certificate(TestCAObject *self, void *c)
{
	return mutlspy_certificate_wrap(mutls_testca_certificate(self->ca));
}

static PyObject *TestCA_cert_pem(TestCAObject *self, void *c)
{
	return mutlspy_str_or_none(mutls_testca_cert_pem(self->ca));
}

static PyObject *TestCA_key_pem(TestCAObject *self, void *c)
{
	return mutlspy_str_or_none(mutls_testca_key_pem(self->ca));
}

static PyObject *TestCA_crl_pem(TestCAObject *self, void *c)
{
	char *pem = NULL;
	PyObject *res;
	int rc = mutls_testca_crl_pem(&pem, self->ca);
	if (rc < 0)
		return mutlspy_raise_last(rc, NULL, NULL);
	res = mutlspy_str_or_none(pem);
	mutls_free(pem);
	return res;
}

static PyObject *TestCA_repr(TestCAObject *self)
{
	return PyUnicode_FromFormat("<mutls.TestCA %s>",
		mutls_x509_label(mutls_testca_certificate(self->ca)));
}

static PyMethodDef TestCA_methods[] = {
	{ "issue", (PyCFunction)(void (*)(void))TestCA_issue, METH_VARARGS | METH_KEYWORDS,
	  "issue(*, cn=None, dns=(), ip=(), uri=(), email=(), not_before=None, not_after=None,\n"
	  "      key_type=\"p256\", purpose=\"both\", bad_key_usage=False) -> Identity\n\n"
	  "A leaf certificate and key. Times: datetime (naive = UTC), timedelta or seconds\n"
	  "from now (negative: the past). purpose: \"server\", \"client\", \"both\", \"none\"." },
	{ "intermediate", (PyCFunction)(void (*)(void))TestCA_intermediate, METH_VARARGS | METH_KEYWORDS,
	  "intermediate(name=None, *, key_type=\"p256\", not_ca=False, not_before=None,\n"
	  "             not_after=None, path_length=None, permitted_dns=()) -> TestCA: a CA\n"
	  "signed by this one (not_ca: CA:FALSE; path_length: its pathLenConstraint;\n"
	  "permitted_dns: its nameConstraints' permitted DNS subtrees)." },
	{ "load", (PyCFunction)(void (*)(void))TestCA_load, METH_CLASS | METH_VARARGS | METH_KEYWORDS,
	  "load(certificate, private_key, *, password=None) -> TestCA\n\n"
	  "An existing CA (PEM text or file paths; the certificate may be followed by\n"
	  "the chain above it), to issue more leaves. Its CRL starts empty." },
	{ "revoke", (PyCFunction)TestCA_revoke, METH_O,
	  "revoke(identity_or_certificate) -> None: add it to this CA's CRL (see crl_pem)." },
	{ NULL, NULL, 0, NULL }
};

static PyGetSetDef TestCA_getset[] = {
	{ "certificate", (getter)TestCA_certificate, NULL, "The CA certificate.", NULL },
	{ "cert_pem", (getter)TestCA_cert_pem, NULL, "PEM of the CA certificate.", NULL },
	{ "key_pem", (getter)TestCA_key_pem, NULL, "PEM of the CA's private key.", NULL },
	{ "crl_pem", (getter)TestCA_crl_pem, NULL, "A freshly signed CRL listing every revoked serial.", NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

static PyMemberDef TestCA_members[] = {
	{ "__weaklistoffset__", T_PYSSIZET, offsetof(TestCAObject, weakreflist), READONLY, NULL },
	{ NULL, 0, 0, 0, NULL }
};

static PyType_Slot TestCA_slots[] = {
	{ Py_tp_new, TestCA_new },
	{ Py_tp_dealloc, TestCA_dealloc },
	{ Py_tp_repr, TestCA_repr },
	{ Py_tp_methods, TestCA_methods },
	{ Py_tp_getset, TestCA_getset },
	{ Py_tp_members, TestCA_members },
	{ Py_tp_doc, "TestCA(name=None, *, key_type=\"p256\", not_before=None, not_after=None,\n"
	             "       path_length=None, permitted_dns=())\n\n"
	             "A test certificate authority made in memory: issue leaves for any case\n"
	             "(names, validity, key type, purpose), intermediates, revocation and CRLs." },
	{ 0, NULL }
};

PyType_Spec mutlspy_testca_spec = {
	"mutls.TestCA",
	sizeof(TestCAObject),
	0,
	Py_TPFLAGS_DEFAULT,
	TestCA_slots
};

/* ---- Identity ------------------------------------------------------------- */

static PyObject *Identity_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	PyErr_SetString(PyExc_TypeError, "Identity objects are made by TestCA.issue()");
	return NULL;
}

static void Identity_dealloc(IdentityObject *self)
{
	PyTypeObject *tp = Py_TYPE(self);
	if (self->weakreflist)
		PyObject_ClearWeakRefs((PyObject *)self);
	mutls_identity_free(self->id);
	tp->tp_free((PyObject *)self);
	Py_DECREF(tp);
}

static PyObject *Identity_certificate(IdentityObject *self, void *c)
{
	return mutlspy_certificate_wrap(mutls_identity_certificate(self->id));
}

static PyObject *Identity_chain(IdentityObject *self, void *c)
{
	size_t n = mutls_identity_chain_length(self->id);
	PyObject *list = PyList_New((Py_ssize_t)n);
	for (size_t i = 0; list && i < n; i++) {
		PyObject *cert = mutlspy_certificate_wrap(mutls_identity_chain_at(self->id, i));
		if (!cert) {
			Py_CLEAR(list);
			break;
		}
		PyList_SET_ITEM(list, (Py_ssize_t)i, cert);
	}
	return list;
}

static PyObject *Identity_cert_pem(IdentityObject *self, void *c)
{
	return mutlspy_str_or_none(mutls_identity_cert_pem(self->id));
}

static PyObject *Identity_chain_pem(IdentityObject *self, void *c)
{
	return mutlspy_str_or_none(mutls_identity_chain_pem(self->id));
}

static PyObject *Identity_key_pem(IdentityObject *self, void *c)
{
	return mutlspy_str_or_none(mutls_identity_key_pem(self->id));
}

static PyObject *Identity_encrypted_key_pem(IdentityObject *self, PyObject *arg)
{
	PyObject *pw = mutlspy_str_bytes(arg, "password"), *res;
	char *pem = NULL;
	int rc;

	if (!pw)
		return NULL;
	rc = mutls_identity_encrypted_key_pem(&pem, self->id, PyBytes_AS_STRING(pw));
	mutlspy_release_secret(pw, arg);
	if (rc < 0)
		return mutlspy_raise_last(rc, NULL, NULL);
	res = mutlspy_str_or_none(pem);
	mutls_wipe(pem, strlen(pem));
	mutls_free(pem);
	return res;
}

static PyObject *Identity_write_to(IdentityObject *self, PyObject *arg)
{
	PyObject *path = NULL, *dir = NULL, *os = NULL, *r, *res = NULL;
	static const char *const files[][2] = { { "cert", "cert.pem" }, { "chain", "chain.pem" },
		{ "key", "key.pem" } };
	int rc;

	if (!PyUnicode_FSDecoder(arg, &dir))
		return NULL;
	/* like trustme and pathlib: make the directory when it is missing */
	os = PyImport_ImportModule("os");
	if (!os)
		goto out;
	{
		PyObject *makedirs = PyObject_GetAttrString(os, "makedirs");
		PyObject *kw = Py_BuildValue("{sO}", "exist_ok", Py_True);
		PyObject *a = Py_BuildValue("(O)", dir);
		r = makedirs && kw && a ? PyObject_Call(makedirs, a, kw) : NULL;
		Py_XDECREF(makedirs);
		Py_XDECREF(kw);
		Py_XDECREF(a);
		if (!r)
			goto out;
	}
	Py_DECREF(r);
	if (!PyUnicode_FSConverter(dir, &path))
		goto out;
	rc = mutls_identity_write_to(self->id, PyBytes_AS_STRING(path));
	if (rc < 0) {
		mutlspy_raise_last(rc, NULL, NULL);
		goto out;
	}
	res = PyDict_New();
	for (int i = 0; res && i < 3; i++) {
		PyObject *p = PyObject_CallMethod(os, "fspath", "O", dir), *full;
		PyObject *osp = p ? PyImport_ImportModule("os.path") : NULL;
		full = osp ? PyObject_CallMethod(osp, "join", "Os", p, files[i][1]) : NULL;
		Py_XDECREF(osp);
		Py_XDECREF(p);
		if (!full || PyDict_SetItemString(res, files[i][0], full) < 0) {
			Py_XDECREF(full);
			Py_CLEAR(res);
			break;
		}
		Py_DECREF(full);
	}
out:
	Py_XDECREF(os);
	Py_XDECREF(dir);
	Py_XDECREF(path);
	return res;
}

static PyObject *Identity_repr(IdentityObject *self)
{
	return PyUnicode_FromFormat("<mutls.Identity %s>",
		mutls_x509_label(mutls_identity_certificate(self->id)));
}

static PyMethodDef Identity_methods[] = {
	{ "encrypted_key_pem", (PyCFunction)Identity_encrypted_key_pem, METH_O,
	  "encrypted_key_pem(password) -> str: the key as encrypted PKCS#8 (AES-256)." },
	{ "write_to", (PyCFunction)Identity_write_to, METH_O,
	  "write_to(directory) -> dict: writes cert.pem, chain.pem and key.pem (mode 0600)\n"
	  "and returns their paths under the keys \"cert\", \"chain\" and \"key\"." },
	{ NULL, NULL, 0, NULL }
};

static PyGetSetDef Identity_getset[] = {
	{ "certificate", (getter)Identity_certificate, NULL, "The leaf certificate.", NULL },
	{ "chain", (getter)Identity_chain, NULL, "Leaf, then intermediates (list of Certificate).", NULL },
	{ "cert_pem", (getter)Identity_cert_pem, NULL, "PEM of the leaf.", NULL },
	{ "chain_pem", (getter)Identity_chain_pem, NULL, "PEM of the chain, leaf first.", NULL },
	{ "key_pem", (getter)Identity_key_pem, NULL, "PEM of the private key (PKCS#8).", NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

static PyMemberDef Identity_members[] = {
	{ "__weaklistoffset__", T_PYSSIZET, offsetof(IdentityObject, weakreflist), READONLY, NULL },
	{ NULL, 0, 0, 0, NULL }
};

static PyType_Slot Identity_slots[] = {
	{ Py_tp_new, Identity_new },
	{ Py_tp_dealloc, Identity_dealloc },
	{ Py_tp_repr, Identity_repr },
	{ Py_tp_methods, Identity_methods },
	{ Py_tp_getset, Identity_getset },
	{ Py_tp_members, Identity_members },
	{ Py_tp_doc, "A certificate chain (leaf first) and its private key, from TestCA.issue().\n"
	             "Config(identity=...) takes it directly." },
	{ 0, NULL }
};

PyType_Spec mutlspy_identity_spec = {
	"mutls.Identity",
	sizeof(IdentityObject),
	0,
	Py_TPFLAGS_DEFAULT,
	Identity_slots
};
