/* Error values, names and the thread-local last error. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Thread_local mutls_error last_error;
static _Thread_local int last_error_set;

const mutls_error *mutls_error_last(void)
{
	return last_error_set ? &last_error : NULL;
}

void mutls_error_clear(void)
{
	last_error_set = 0;
}

int mutls_error_code(const mutls_error *err) { return err ? err->code : 0; }
unsigned mutls_error_reasons(const mutls_error *err) { return err ? err->reasons : 0; }
mutls_side mutls_error_side(const mutls_error *err) { return err ? err->side : MUTLS_SIDE_NONE; }
mutls_step mutls_error_step(const mutls_error *err) { return err ? err->step : MUTLS_STEP_NONE; }
int mutls_error_alert(const mutls_error *err) { return err ? err->alert : -1; }
const char *mutls_error_message(const mutls_error *err) { return err ? err->message : ""; }
const char *mutls_error_hook_message(const mutls_error *err) { return err ? err->hook_message : ""; }

void mutls__error_fill(mutls_error *err, int code, mutls_side side,
	mutls_step step, int alert, const char *fmt, ...)
{
	va_list ap;
	err->code = code;
	err->reasons = 0;
	err->side = side;
	err->step = step;
	err->alert = alert;
	err->hook_message[0] = 0;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

int mutls__error_copy(const mutls_error *err)
{
	last_error = *err;
	last_error_set = 1;
	return err->code;
}

static int set_last(int code, const char *prefix, const char *fmt, va_list ap)
{
	last_error.code = code;
	last_error.reasons = 0;
	last_error.side = MUTLS_SIDE_NONE;
	last_error.step = MUTLS_STEP_NONE;
	last_error.alert = -1;
	last_error.hook_message[0] = 0;
	vsnprintf(last_error.message, sizeof(last_error.message), fmt, ap);
	if (prefix) {
		size_t used = strlen(last_error.message);
		snprintf(last_error.message + used, sizeof(last_error.message) - used, "%s", prefix);
	}
	last_error_set = 1;
	return code;
}

int mutls__error(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_last(code, NULL, fmt, ap);
	va_end(ap);
	return code;
}

int mutls__error_gnutls(int code, int gnutls_rc, const char *fmt, ...)
{
	char suffix[256];
	va_list ap;
	snprintf(suffix, sizeof(suffix), " (%s)", gnutls_strerror(gnutls_rc));
	if (gnutls_rc == GNUTLS_E_MEMORY_ERROR)
		code = MUTLS_ENOMEM;
	va_start(ap, fmt);
	set_last(code, suffix, fmt, ap);
	va_end(ap);
	return code;
}

void mutls_wipe(void *ptr, size_t len)
{
	if (ptr && len)
		gnutls_memset(ptr, 0, len);
}

const char *mutls_gnutls_version(void)
{
	return gnutls_check_version(NULL);
}

void mutls_free(void *ptr)
{
	free(ptr);
}

void mutls_strings_free(char **list, size_t count)
{
	if (!list)
		return;
	for (size_t i = 0; i < count; i++)
		free(list[i]);
	free(list);
}

const char *mutls_code_name(int code)
{
	switch (code) {
	case MUTLS_OK: return "ok";
	case MUTLS_EWANTREAD: return "want-read";
	case MUTLS_EWANTWRITE: return "want-write";
	case MUTLS_EVERIFY: return "verify-failed";
	case MUTLS_EPEERREJECTED: return "peer-rejected";
	case MUTLS_ENOCERT: return "no-certificate";
	case MUTLS_EPROTOCOL: return "protocol";
	case MUTLS_ECLOSED: return "closed";
	case MUTLS_ETIMEOUT: return "timeout";
	case MUTLS_ECONFIG: return "config";
	case MUTLS_EUSAGE: return "usage";
	case MUTLS_EHOOK: return "hook";
	case MUTLS_ENOMEM: return "out-of-memory";
	default: return "unknown";
	}
}

static const char *const reason_names[MUTLS_REASON_COUNT] = {
	"expired", "not-yet-valid", "unknown-issuer", "name-mismatch", "revoked",
	"bad-purpose", "insecure-algorithm", "signer-not-ca", "policy", "hook",
	"name-constraints", "path-length", "unknown-critical-extension", "nonconforming",
};

const char *mutls_reason_name(unsigned reason_bit)
{
	for (unsigned i = 0; i < MUTLS_REASON_COUNT; i++)
		if (reason_bit == (1u << i))
			return reason_names[i];
	return "unknown";
}

const char *mutls_side_name(mutls_side side)
{
	switch (side) {
	case MUTLS_SIDE_LOCAL: return "local";
	case MUTLS_SIDE_PEER: return "peer";
	default: return "none";
	}
}

const char *mutls_step_name(mutls_step step)
{
	switch (step) {
	case MUTLS_STEP_HANDSHAKE: return "handshake";
	case MUTLS_STEP_SERVER_CERTIFICATE: return "server-certificate";
	case MUTLS_STEP_CLIENT_CERTIFICATE: return "client-certificate";
	case MUTLS_STEP_RECORD: return "record";
	case MUTLS_STEP_CLOSE: return "close";
	default: return "none";
	}
}

const char *mutls_alert_name(int alert)
{
	const char *name;
	if (alert < 0)
		return NULL;
	switch (alert) {
	/* GnuTLS names some alerts in prose; use the RFC identifiers. */
	case 0: return "close_notify";
	case 10: return "unexpected_message";
	case 20: return "bad_record_mac";
	case 21: return "decryption_failed";
	case 22: return "record_overflow";
	case 40: return "handshake_failure";
	case 42: return "bad_certificate";
	case 43: return "unsupported_certificate";
	case 44: return "certificate_revoked";
	case 45: return "certificate_expired";
	case 46: return "certificate_unknown";
	case 47: return "illegal_parameter";
	case 48: return "unknown_ca";
	case 49: return "access_denied";
	case 50: return "decode_error";
	case 51: return "decrypt_error";
	case 70: return "protocol_version";
	case 71: return "insufficient_security";
	case 80: return "internal_error";
	case 86: return "inappropriate_fallback";
	case 90: return "user_canceled";
	case 109: return "missing_extension";
	case 110: return "unsupported_extension";
	case 112: return "unrecognized_name";
	case 113: return "bad_certificate_status_response";
	case 115: return "unknown_psk_identity";
	case 116: return "certificate_required";
	case 120: return "no_application_protocol";
	default:
		name = gnutls_alert_get_strname((gnutls_alert_description_t)alert);
		return name ? name : "unknown_alert";
	}
}
