/* Conversion helpers shared by the object files: bytes and text that go
 * into C (checked for NUL bytes, secrets wiped), times (datetime, timedelta,
 * epoch seconds), lists, reasons, IP addresses. */
#include "mutlspy.h"

#include <datetime.h>
#include <math.h>
#include <time.h>

static PyObject *ip_address_func; /* ipaddress.ip_address, imported lazily */
static PyObject *utc_epoch;       /* datetime(1970, 1, 1, tzinfo=utc) */

/* The datetime C API and the epoch (PyInit__mutls). */
int mutlspy_convert_init(void)
{
	PyDateTime_IMPORT;
	if (!PyDateTimeAPI)
		return -1;
	if (!utc_epoch) {
		utc_epoch = PyDateTimeAPI->DateTime_FromDateAndTime(1970, 1, 1, 0, 0, 0, 0,
			PyDateTime_TimeZone_UTC, PyDateTimeAPI->DateTimeType);
		if (!utc_epoch)
			return -1;
	}
	return 0;
}

/* ---- helpers ------------------------------------------------------------- */

static int has_nul(PyObject *bytes)
{
	return memchr(PyBytes_AS_STRING(bytes), 0, (size_t)PyBytes_GET_SIZE(bytes)) != NULL;
}

void mutlspy_release_secret(PyObject *copy, PyObject *orig)
{
	/* Only a copy made here and held by us alone: the caller's own bytes
	 * (and the interpreter's shared one-byte and empty bytes) stay intact. */
	if (copy && copy != orig && PyBytes_CheckExact(copy) && Py_REFCNT(copy) == 1)
		mutls_wipe(PyBytes_AS_STRING(copy), (size_t)PyBytes_GET_SIZE(copy));
	Py_XDECREF(copy);
}

PyObject *mutlspy_source_bytes(PyObject *obj, const char *field)
{
	PyObject *out = NULL, *path;

	if (PyUnicode_Check(obj)) {
		out = PyUnicode_EncodeFSDefault(obj);
	} else if (PyBytes_Check(obj)) {
		Py_INCREF(obj);
		out = obj;
	} else if (PyByteArray_Check(obj) || PyMemoryView_Check(obj)) {
		out = PyBytes_FromObject(obj);
	} else {
		path = PyOS_FSPath(obj);
		if (!path) {
			if (PyErr_ExceptionMatches(PyExc_TypeError)) {
				PyErr_Clear();
				PyErr_Format(PyExc_TypeError,
					"%s: expected PEM text (str or bytes) or a path, not %.100s",
					field, Py_TYPE(obj)->tp_name);
			}
			return NULL;
		}
		if (PyUnicode_Check(path))
			out = PyUnicode_EncodeFSDefault(path);
		else {
			Py_INCREF(path);
			out = path;
		}
		Py_DECREF(path);
	}
	if (!out)
		return NULL;
	if (has_nul(out)) {
		mutlspy_release_secret(out, obj);
		return mutlspy_raise_code(MUTLS_ECONFIG,
			"%s: the value contains a NUL byte (binary DER data? give PEM text or a path)", field);
	}
	return out;
}

PyObject *mutlspy_str_bytes(PyObject *obj, const char *field)
{
	PyObject *out;

	if (PyUnicode_Check(obj))
		out = PyUnicode_AsUTF8String(obj);
	else if (PyBytes_Check(obj)) {
		Py_INCREF(obj);
		out = obj;
	} else {
		PyErr_Format(PyExc_TypeError, "%s: expected str, not %.100s", field,
			Py_TYPE(obj)->tp_name);
		return NULL;
	}
	if (!out)
		return NULL;
	if (has_nul(out)) {
		mutlspy_release_secret(out, obj);
		return mutlspy_raise_code(MUTLS_ECONFIG, "%s: the value contains a NUL character", field);
	}
	return out;
}

const char *mutlspy_utf8_nonul(PyObject *str, const char *field)
{
	Py_ssize_t len;
	const char *s = PyUnicode_AsUTF8AndSize(str, &len);
	if (s && memchr(s, 0, (size_t)len)) {
		mutlspy_raise_code(MUTLS_ECONFIG, "%s: the value contains a NUL character", field);
		return NULL;
	}
	return s;
}

/* obj.method() as a float (datetime.timestamp, timedelta.total_seconds). */
static int seconds_from(double *out, PyObject *obj, const char *method)
{
	PyObject *r = PyObject_CallMethod(obj, method, NULL);
	if (!r)
		return -1;
	*out = PyFloat_AsDouble(r);
	Py_DECREF(r);
	return *out == -1.0 && PyErr_Occurred() ? -1 : 0;
}

int mutlspy_time_arg(PyObject *obj, const char *field, int64_t *out)
{
	*out = MUTLS_TIME_UNSET;
	if (obj == Py_None)
		return 0;
	if (PyDateTime_Check(obj)) {
		PyObject *dt, *tz = PyObject_GetAttrString(obj, "tzinfo");
		double seconds;
		int rc;
		if (!tz)
			return -1;
		if (tz == Py_None) {
			/* naive: taken as UTC */
			PyObject *kw = Py_BuildValue("{sO}", "tzinfo", PyDateTime_TimeZone_UTC);
			PyObject *replace = PyObject_GetAttrString(obj, "replace");
			PyObject *noargs = PyTuple_New(0);
			dt = kw && replace && noargs ? PyObject_Call(replace, noargs, kw) : NULL;
			Py_XDECREF(kw);
			Py_XDECREF(replace);
			Py_XDECREF(noargs);
		} else {
			Py_INCREF(obj);
			dt = obj;
		}
		Py_DECREF(tz);
		if (!dt)
			return -1;
		rc = seconds_from(&seconds, dt, "timestamp");
		Py_DECREF(dt);
		if (rc < 0)
			return -1;
		*out = (int64_t)floor(seconds);
		return 0;
	}
	if (PyDelta_Check(obj)) {
		double seconds;
		if (seconds_from(&seconds, obj, "total_seconds") < 0)
			return -1;
		*out = (int64_t)time(NULL) + (int64_t)floor(seconds);
		return 0;
	}
	if (PyLong_Check(obj) && !PyBool_Check(obj)) {
		long long v = PyLong_AsLongLong(obj);
		if (v == -1 && PyErr_Occurred())
			return -1;
		*out = (int64_t)time(NULL) + (int64_t)v;
		return 0;
	}
	if (PyFloat_Check(obj)) {
		double v = PyFloat_AS_DOUBLE(obj);
		if (!isfinite(v)) {
			PyErr_Format(PyExc_ValueError, "%s: not a finite number of seconds", field);
			return -1;
		}
		*out = (int64_t)time(NULL) + (int64_t)floor(v);
		return 0;
	}
	PyErr_Format(PyExc_TypeError,
		"%s: expected a datetime, a timedelta or seconds from now (int or float), not %.100s",
		field, Py_TYPE(obj)->tp_name);
	return -1;
}

PyObject *mutlspy_datetime(int64_t t)
{
	int64_t days = t / 86400, secs = t % 86400;
	PyObject *delta, *res;

	if (secs < 0) {
		secs += 86400;
		days--;
	}
	delta = PyDelta_FromDSU((int)days, (int)secs, 0);
	if (!delta)
		return NULL;
	res = PyNumber_Add(utc_epoch, delta);
	Py_DECREF(delta);
	if (!res && PyErr_ExceptionMatches(PyExc_OverflowError)) {
		/* outside datetime's range (years 1 to 9999): clamp */
		PyErr_Clear();
		if (t > 0)
			res = PyDateTimeAPI->DateTime_FromDateAndTime(9999, 12, 31, 23, 59, 59, 0,
				PyDateTime_TimeZone_UTC, PyDateTimeAPI->DateTimeType);
		else
			res = PyDateTimeAPI->DateTime_FromDateAndTime(1, 1, 1, 0, 0, 0, 0,
				PyDateTime_TimeZone_UTC, PyDateTimeAPI->DateTimeType);
	}
	return res;
}

PyObject *mutlspy_str_list(char **list, size_t count)
{
	PyObject *out = PyList_New((Py_ssize_t)count);
	if (!out)
		return NULL;
	for (size_t i = 0; i < count; i++) {
		PyObject *s = PyUnicode_DecodeUTF8(list[i], (Py_ssize_t)strlen(list[i]), "replace");
		if (!s) {
			Py_DECREF(out);
			return NULL;
		}
		PyList_SET_ITEM(out, (Py_ssize_t)i, s);
	}
	return out;
}

PyObject *mutlspy_reasons_list(unsigned reasons)
{
	PyObject *out = PyList_New(0);
	if (!out)
		return NULL;
	for (unsigned i = 0; i < MUTLS_REASON_COUNT; i++) {
		if (reasons & (1u << i)) {
			PyObject *s = PyUnicode_FromString(mutls_reason_name(1u << i));
			if (!s || PyList_Append(out, s) < 0) {
				Py_XDECREF(s);
				Py_DECREF(out);
				return NULL;
			}
			Py_DECREF(s);
		}
	}
	return out;
}

PyObject *mutlspy_str_or_none(const char *s)
{
	if (!s)
		Py_RETURN_NONE;
	return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

PyObject *mutlspy_as_list(PyObject *obj, const char *field)
{
	PyObject *iter;

	if (obj == Py_None)
		return PyList_New(0);
	if (PyUnicode_Check(obj) || PyBytes_Check(obj) || PyByteArray_Check(obj) ||
	    PyObject_HasAttrString(obj, "__fspath__"))
		return Py_BuildValue("[O]", obj);
	iter = PyObject_GetIter(obj);
	if (!iter) {
		if (!PyErr_ExceptionMatches(PyExc_TypeError))
			return NULL;
		PyErr_Clear();
		return Py_BuildValue("[O]", obj); /* one item, checked by the caller */
	}
	Py_DECREF(iter);
	return PySequence_List(obj);
}

PyObject *mutlspy_ip_address(const char *text)
{
	if (!ip_address_func) {
		PyObject *mod = PyImport_ImportModule("ipaddress");
		if (!mod)
			return NULL;
		ip_address_func = PyObject_GetAttrString(mod, "ip_address");
		Py_DECREF(mod);
		if (!ip_address_func)
			return NULL;
	}
	return PyObject_CallFunction(ip_address_func, "s", text);
}
