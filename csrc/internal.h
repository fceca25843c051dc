/* Internal declarations shared by the files of the C core. Not installed. */
#ifndef MUTLS_INTERNAL_H
#define MUTLS_INTERNAL_H

#include "mutls.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <stdarg.h>
#include <sys/types.h>

#define MUTLS_MESSAGE_MAX 1024

struct mutls_error {
	int code;
	unsigned reasons;
	mutls_side side;
	mutls_step step;
	int alert;
	char message[MUTLS_MESSAGE_MAX];
	char hook_message[512]; /* what the failed hook said (code "hook"), or "" */
};

/* error.c ---------------------------------------------------------------- */

/* Set the thread's last error (side none, no alert) and return code. */
int mutls__error(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Copy a full error into the thread's last error; returns err->code. */
int mutls__error_copy(const mutls_error *err);
/* Same as mutls__error, naming what GnuTLS said (gnutls_strerror). */
int mutls__error_gnutls(int code, int gnutls_rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Fill err (code, side, step, alert, reasons 0) with a formatted message. */
void mutls__error_fill(mutls_error *err, int code, mutls_side side,
	mutls_step step, int alert, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* ---- guards: the one set of early-return macros every file uses -------- */

/* Returns MUTLS_EUSAGE (the error set, message formatted) unless cond. */
#define MUTLS_REQUIRE(cond, ...) do { \
	if (!(cond)) \
		return mutls__error(MUTLS_EUSAGE, __VA_ARGS__); } while (0)
/* Returns what expr returned when that is negative (its error is set). */
#define MUTLS_TRY(expr) do { int rc_ = (expr); if (rc_ < 0) return rc_; } while (0)
/* In a function with `int rc` and a `done:` label: rc = call; when that is
 * a negative GnuTLS code, rc = a `code` error (the formatted message, then
 * what GnuTLS said) and goto done. */
#define MUTLS_TRY_GNUTLS(code, call, ...) do { \
	if ((rc = (call)) < 0) { \
		rc = mutls__error_gnutls(code, rc, __VA_ARGS__); \
		goto done; } } while (0)

/* x509.c ----------------------------------------------------------------- */

struct mutls_x509 {
	int refcount;              /* atomic */
	gnutls_x509_crt_t crt;
	gnutls_datum_t der;        /* gnutls_malloc'd DER */
	char label[256];           /* "CN=orders" or subject, for messages */
	/* Facts read once at parse: a certificate is immutable and shared,
	 * and verification asks for these on every handshake. */
	char issuer_cn[256];       /* the issuer's CN, or "(no CN)" */
	int64_t not_before, not_after;
	char not_before_text[32];  /* "2026-01-01T00:00:00Z" */
	char not_after_text[32];
	unsigned may_serve : 1;    /* EKU absent, or lists TLS server (or any) */
	unsigned may_be_client : 1;/* EKU absent, or lists TLS client (or any) */
	unsigned may_sign : 1;     /* keyUsage absent, or has digitalSignature */
	unsigned has_dns_san : 1;  /* a dNSName in its subjectAltName */
	unsigned has_ip_san : 1;   /* an iPAddress in its subjectAltName */
};

/* Wrap a parsed certificate (takes ownership of crt even on failure).
 * Exports DER, re-imports it (so freshly signed certs verify), fills label. */
int mutls__x509_wrap(mutls_x509 **out, gnutls_x509_crt_t crt);
/* 1 unless a keyUsage extension forbids digital signatures. */
int mutls__usage_allows_signing(gnutls_x509_crt_t crt);
/* Parse DER bytes into a new mutls_x509. */
int mutls__x509_from_datum(mutls_x509 **out, const gnutls_datum_t *der);
/* The DN (issuer when issuer, else subject) of crt as RFC 4514 text, or
 * one attribute of the subject (oid) unescaped; malloc'd. */
int mutls__x509_get_dn(char **out, gnutls_x509_crt_t crt, int issuer);
int mutls__x509_get_dn_oid(char **out, gnutls_x509_crt_t crt, const char *oid);
/* Calls fn with each extendedKeyUsage OID in certificate order. Returns 1
 * when the extension is absent, 0 when every OID was seen, a negative
 * GnuTLS code when it is malformed, or fn's negative return. */
int mutls__x509_for_each_key_purpose(gnutls_x509_crt_t crt,
	int (*fn)(const char *oid, void *ctx), void *ctx);
/* x509_fields.c: 1 when crt has the extension oid (and *critical, *value:
 * the caller's, gnutls_free; either may be NULL), 0 when not. */
int mutls__crt_extension(gnutls_x509_crt_t crt, const char *oid, unsigned *critical,
	gnutls_datum_t *value);
/* x509_fields.c: which kinds of subjectAltName crt has, MUTLS__SAN_DNS and
 * MUTLS__SAN_IP (read once per certificate: mutls_x509.has_dns_san,
 * has_ip_san; a host name is matched against its kind only, a common name
 * is never taken as a host name) */
#define MUTLS__SAN_DNS 1u
#define MUTLS__SAN_IP 2u
unsigned mutls__san_kinds(gnutls_x509_crt_t crt);

/* util.c ----------------------------------------------------------------- */

/* strdup that sets MUTLS_ENOMEM on failure (returns NULL). */
char *mutls__strdup(const char *s);
/* A gnutls datum as a malloc'd NUL-terminated string. */
int mutls__datum_to_string(char **out, const gnutls_datum_t *d);
/* Lowercase hex of data, malloc'd (NULL and MUTLS_ENOMEM set on failure). */
char *mutls__hex_encode(const unsigned char *data, size_t len);
/* The value of one hex digit (either case), -1 when c is not one. */
int mutls__hex_value(char c);
/* Control bytes of buf as "\\xNN", in place, within cap (names taken from
 * certificates, before they go into messages). */
void mutls__escape_controls(char *buf, size_t cap);
/* "2026-01-01T00:00:00Z" into out (at least 32 bytes). */
void mutls__format_time(char *out, size_t cap, int64_t t);
/* Largest file read (trust bundles and CRLs included). */
#define MUTLS__FILE_MAX (64u << 20)
/* Read a whole file into one NUL-terminated buffer (free it with
 * mutls__wipe_free(buf, len)); no stdio buffer or realloc leaves a copy.
 * On failure sets a MUTLS_ECONFIG error naming what (the option, may be
 * NULL) and path only when mutls__value_showable(path, secret). */
int mutls__read_file(char **out, size_t *out_len, const char *path,
	const char *what, int secret);
/* 1 when value may be echoed in a message as a path: printable, one line,
 * shorter than PATH_MAX, no PEM marker, no base64-like run; when secret
 * (private_key), also its directory exists. Key text never qualifies. */
int mutls__value_showable(const char *value, int secret);
/* Zero len bytes of p (not optimised away), then free it. */
void mutls__wipe_free(void *p, size_t len);
/* 1 if text looks like PEM ("-----BEGIN"), else 0 (treat as path). */
int mutls__is_pem(const char *text);

/* Writes text to dir/name with mode (tightened on an existing file before
 * writing); sets a MUTLS_ECONFIG error naming the path on failure. */
int mutls__write_file(const char *dir, const char *name, const char *text, mode_t mode);

/* identity.c (made by keygen.c) ------------------------------------------ */

struct mutls_identity {
	mutls_x509 **chain;        /* leaf first; owned references */
	size_t chain_len;
	gnutls_x509_privkey_t key;
	char *cert_pem;
	char *chain_pem;
	char *key_pem;
};


/* source.c --------------------------------------------------------------- */

/* "PEM text or path": data points into the value (PEM text) or into owned
 * (the file's bytes); label names it in messages (the option, or the path
 * when it was read as one). */
struct mutls__source {
	gnutls_datum_t data;
	char *owned;
	size_t owned_len;
	const char *label;
};
int mutls__source_load(struct mutls__source *src, const char *value, const char *what, int secret);
/* Wipes and frees what mutls__source_load read. */
void mutls__source_release(struct mutls__source *src);
/* Imports a private key (PEM or DER) without GnuTLS's PEM reader leaving
 * copies; asks cb (may be NULL) for the password of an encrypted key when
 * password is NULL. Sets a MUTLS_ECONFIG error naming label. */
int mutls__key_import(gnutls_x509_privkey_t key, const gnutls_datum_t *text,
	const char *label, const char *password, mutls_password_cb cb, void *payload);

/* The hooks running on this thread, innermost first (session.c): a frame on
 * the caller's stack around every call of a user hook with a session. */
typedef struct mutls__hook_frame {
	const mutls_session *s;
	struct mutls__hook_frame *prev;
} mutls__hook_frame;
void mutls__hook_enter(mutls__hook_frame *frame, const mutls_session *s);
void mutls__hook_leave(mutls__hook_frame *frame);
#define MUTLS__GUARD(s, what) \
	do { int guard_rc_ = mutls_session_check_reentry((s), (what)); \
	     if (guard_rc_ < 0) return guard_rc_; } while (0)

#endif
