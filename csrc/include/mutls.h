/*
 * mutls: mutual TLS over GnuTLS.
 *
 * The one public header of the C core. The Python and Lua bindings are thin
 * layers over exactly this API.
 *
 * Conventions (libgit2 style):
 *  - Functions return 0 on success or a negative MUTLS_E* code. The details of
 *    the most recent failure on the calling thread are in mutls_error_last();
 *    a session's handshake/record failure is also kept by the session
 *    (mutls_session_error()).
 *  - Outputs go through the first parameter(s), named out*.
 *  - "borrowed" means the pointer belongs to another object and stays valid as
 *    long as that object lives (and, where said, until a given call).
 *    "caller frees" names the function that releases it.
 *  - Refcounted types (mutls_config, mutls_x509) have *_ref / *_unref; other
 *    types have one *_free. Every destructor accepts NULL.
 *  - Strings are NUL-terminated UTF-8. Times are Unix seconds (int64_t).
 *
 * Threads: a mutls_config is immutable once frozen (its first session freezes
 * it, or mutls_config_freeze) and may then be shared by any number of threads
 * and sessions. A mutls_x509 is immutable and may be shared. A session, a test
 * CA and an identity are used by one thread at a time.
 */
#ifndef MUTLS_H
#define MUTLS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(MUTLS_STATIC_BUILD)
#define MUTLS_EXTERN __attribute__((visibility("default")))
#else
#define MUTLS_EXTERN
#endif

#define MUTLS_VERSION "0.1.0"

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/*
 * Return codes. Each has a stable name (mutls_code_name) that both bindings
 * expose as the error's `code`.
 */
typedef enum {
	MUTLS_OK = 0,
	MUTLS_EWANTREAD = -1,      /* "want-read": needs more input; retry      */
	MUTLS_EWANTWRITE = -2,     /* "want-write": output blocked; retry       */
	MUTLS_EVERIFY = -3,        /* "verify-failed": we rejected the peer      */
	MUTLS_EPEERREJECTED = -4,  /* "peer-rejected": peer's alert refused us   */
	MUTLS_ENOCERT = -5,        /* "no-certificate": peer sent none, required */
	MUTLS_EPROTOCOL = -6,      /* "protocol": malformed/unexpected data      */
	MUTLS_ECLOSED = -7,        /* "closed": closed (premature) / transport   */
	MUTLS_ETIMEOUT = -8,       /* "timeout"                                  */
	MUTLS_ECONFIG = -9,        /* "config": bad input (PEM, password, key)   */
	MUTLS_EUSAGE = -10,        /* "usage": API misuse                        */
	MUTLS_EHOOK = -11,         /* "hook": the user's hook raised/failed      */
	MUTLS_ENOMEM = -12         /* "out-of-memory"                            */
} mutls_code;

/* Reasons, as bits; names (mutls_reason_name): expired, not-yet-valid,
 * unknown-issuer, name-mismatch, revoked, bad-purpose, insecure-algorithm,
 * signer-not-ca, policy, hook, name-constraints, path-length,
 * unknown-critical-extension, nonconforming. */
#define MUTLS_REASON_EXPIRED            (1u << 0)
#define MUTLS_REASON_NOT_YET_VALID      (1u << 1)
#define MUTLS_REASON_UNKNOWN_ISSUER     (1u << 2)
#define MUTLS_REASON_NAME_MISMATCH      (1u << 3)
#define MUTLS_REASON_REVOKED            (1u << 4)
#define MUTLS_REASON_BAD_PURPOSE        (1u << 5)
#define MUTLS_REASON_INSECURE_ALGORITHM (1u << 6)
#define MUTLS_REASON_SIGNER_NOT_CA      (1u << 7)
#define MUTLS_REASON_POLICY             (1u << 8)
#define MUTLS_REASON_HOOK               (1u << 9)
#define MUTLS_REASON_NAME_CONSTRAINTS   (1u << 10) /* a name outside a CA's nameConstraints */
#define MUTLS_REASON_PATH_LENGTH        (1u << 11) /* more CAs below one than its pathLenConstraint allows */
#define MUTLS_REASON_UNKNOWN_CRITICAL_EXTENSION (1u << 12) /* a critical extension nobody checks */
#define MUTLS_REASON_NONCONFORMING      (1u << 13) /* breaks a MUST of RFC 5280 / the CA/B Forum (profile strict; default: a critical CRL number, a serial not in DER) */
#define MUTLS_REASON_COUNT              14

/* Which side refused. */
typedef enum {
	MUTLS_SIDE_NONE = 0,  /* not a refusal (e.g. config, usage)            */
	MUTLS_SIDE_LOCAL = 1, /* we refused / failed                            */
	MUTLS_SIDE_PEER = 2   /* the peer refused us (its alert) or went away   */
} mutls_side;

/* The handshake step a failure belongs to. */
typedef enum {
	MUTLS_STEP_NONE = 0,
	MUTLS_STEP_HANDSHAKE,          /* negotiation, key exchange, Finished   */
	MUTLS_STEP_SERVER_CERTIFICATE, /* the client checking the server         */
	MUTLS_STEP_CLIENT_CERTIFICATE, /* the server checking the client         */
	MUTLS_STEP_RECORD,             /* application data after the handshake  */
	MUTLS_STEP_CLOSE
} mutls_step;

typedef struct mutls_error mutls_error;

/* The last failure on the calling thread (thread-local), or NULL when none.
 * Borrowed: valid until the next mutls call on this thread. */
MUTLS_EXTERN const mutls_error *mutls_error_last(void);
MUTLS_EXTERN void mutls_error_clear(void);

MUTLS_EXTERN int mutls_error_code(const mutls_error *err);            /* MUTLS_E* */
MUTLS_EXTERN unsigned mutls_error_reasons(const mutls_error *err);    /* REASON bits */
MUTLS_EXTERN mutls_side mutls_error_side(const mutls_error *err);
MUTLS_EXTERN mutls_step mutls_error_step(const mutls_error *err);
/* TLS alert number sent (side local) or received (side peer); -1 if none. */
MUTLS_EXTERN int mutls_error_alert(const mutls_error *err);
/* One sentence saying side, step, reason and certificate. Borrowed. */
MUTLS_EXTERN const char *mutls_error_message(const mutls_error *err);
/* Code MUTLS_EHOOK: what the failed hook itself said (a verify hook's reason,
 * the message a binding gave mutls_session_set_hook_error), also part of the
 * message; "" when none. */
MUTLS_EXTERN const char *mutls_error_hook_message(const mutls_error *err);

/* Static names; never NULL ("unknown" for out-of-range values). */
MUTLS_EXTERN const char *mutls_code_name(int code);          /* "verify-failed" */
MUTLS_EXTERN const char *mutls_reason_name(unsigned reason_bit); /* "expired" */
MUTLS_EXTERN const char *mutls_side_name(mutls_side side);   /* "local"/"peer"/"none" */
MUTLS_EXTERN const char *mutls_step_name(mutls_step step);   /* "server-certificate" */
/* TLS alert name as in the RFCs ("bad_certificate"); NULL for alert < 0. */
MUTLS_EXTERN const char *mutls_alert_name(int alert);

/* Free memory that a mutls function returned with "caller frees: mutls_free". */
MUTLS_EXTERN void mutls_free(void *ptr);
/* Zeroes len bytes that held a secret (a key PEM, a password); not
 * optimised away. */
MUTLS_EXTERN void mutls_wipe(void *ptr, size_t len);
/* The version of the GnuTLS library mutls runs with ("3.8.9"). Static. */
MUTLS_EXTERN const char *mutls_gnutls_version(void);
/* Free a string list returned with "caller frees: mutls_strings_free". */
MUTLS_EXTERN void mutls_strings_free(char **list, size_t count);

/* ------------------------------------------------------------------------ */
/* Certificates                                                              */
/* ------------------------------------------------------------------------ */

/* One parsed X.509 certificate. Immutable and refcounted. */
typedef struct mutls_x509 mutls_x509;

typedef enum {
	MUTLS_SAN_DNS = 1,
	MUTLS_SAN_IP = 2,    /* rendered as text: "10.0.0.7", "::1" */
	MUTLS_SAN_URI = 3,
	MUTLS_SAN_EMAIL = 4
} mutls_san_type;

typedef enum {
	MUTLS_PURPOSE_ANY = 0,    /* no key purpose check                        */
	MUTLS_PURPOSE_SERVER = 1, /* TLS Web Server Authentication              */
	MUTLS_PURPOSE_CLIENT = 2, /* TLS Web Client Authentication              */
	MUTLS_PURPOSE_BOTH = 3,   /* issue only: both EKUs                      */
	MUTLS_PURPOSE_NONE = 4    /* issue only: no EKU extension at all        */
} mutls_purpose;

/* "any", "server", "client", "both", "none" ("?" for another value), and
 * back: MUTLS_EUSAGE naming the unknown word. Verification takes server,
 * client and any (both and none: MUTLS_EUSAGE); issuing takes server, client,
 * both and none, and any (0, the zero value) as both. */
MUTLS_EXTERN const char *mutls_purpose_name(mutls_purpose purpose);
MUTLS_EXTERN int mutls_purpose_from_name(mutls_purpose *out, const char *name);

/* Parse the first certificate of PEM text (len may be 0 for NUL-terminated).
 * *out: caller frees with mutls_x509_unref. MUTLS_ECONFIG on bad input. */
MUTLS_EXTERN int mutls_x509_from_pem(mutls_x509 **out, const char *pem, size_t len);
MUTLS_EXTERN int mutls_x509_from_der(mutls_x509 **out, const unsigned char *der, size_t len);
/* Load the first certificate of a PEM or DER file. Errors name the file. */
MUTLS_EXTERN int mutls_x509_load(mutls_x509 **out, const char *path);
/* Parse every certificate of PEM text (a chain), in order.
 * *out: array of *out_count new references; caller frees with
 * mutls_x509_list_free. */
MUTLS_EXTERN int mutls_x509_list_from_pem(mutls_x509 ***out, size_t *out_count,
	const char *pem, size_t len);
/* Every certificate of a PEM file (a chain), or the one of a DER file.
 * Errors name the file only when path reads as a path (never key text). */
MUTLS_EXTERN int mutls_x509_list_load(mutls_x509 ***out, size_t *out_count,
	const char *path);
MUTLS_EXTERN void mutls_x509_list_free(mutls_x509 **list, size_t count);

/* New reference (returns cert). */
MUTLS_EXTERN mutls_x509 *mutls_x509_ref(mutls_x509 *cert);
MUTLS_EXTERN void mutls_x509_unref(mutls_x509 *cert);

/* RFC 4514 strings ("CN=orders,O=Example"); caller frees: mutls_free. */
MUTLS_EXTERN int mutls_x509_subject(char **out, const mutls_x509 *cert);
MUTLS_EXTERN int mutls_x509_issuer(char **out, const mutls_x509 *cert);
/* *out is NULL (and 0 returned) when the subject has no CN. */
MUTLS_EXTERN int mutls_x509_common_name(char **out, const mutls_x509 *cert);
/* Lowercase hex without separators; caller frees: mutls_free. */
MUTLS_EXTERN int mutls_x509_serial(char **out, const mutls_x509 *cert);
MUTLS_EXTERN int64_t mutls_x509_not_before(const mutls_x509 *cert);
MUTLS_EXTERN int64_t mutls_x509_not_after(const mutls_x509 *cert);
/* 1 if basicConstraints CA:TRUE, else 0. */
MUTLS_EXTERN int mutls_x509_is_ca(const mutls_x509 *cert);
/* "p256", "p384", "p521", "ed25519", "ed448", "rsa2048", "rsa3072", ...
 * Static string. */
MUTLS_EXTERN const char *mutls_x509_key_type(const mutls_x509 *cert);
/* SAN entries of one type, in certificate order; may be empty (*out NULL).
 * Caller frees: mutls_strings_free(*out, *out_count). */
MUTLS_EXTERN int mutls_x509_names(char ***out, size_t *out_count,
	const mutls_x509 *cert, mutls_san_type type);
/* Hex fingerprint of the DER; algorithm "sha256" (default when NULL), "sha1",
 * "sha384", "sha512". Caller frees: mutls_free. */
MUTLS_EXTERN int mutls_x509_fingerprint(char **out, const mutls_x509 *cert,
	const char *algorithm);
/* Caller frees: mutls_free. */
MUTLS_EXTERN int mutls_x509_pem(char **out, const mutls_x509 *cert);
/* Borrowed DER, valid while cert lives. */
MUTLS_EXTERN void mutls_x509_der(const unsigned char **out, size_t *out_len,
	const mutls_x509 *cert);
/* Compact description for messages: "CN=orders" (or the subject). Borrowed. */
MUTLS_EXTERN const char *mutls_x509_label(const mutls_x509 *cert);
/* keyUsage bits by their RFC 5280 names ("digitalSignature",
 * "keyEncipherment", "keyCertSign", ...), in bit order; empty (*out NULL)
 * when the extension is absent (every usage allowed).
 * Caller frees: mutls_strings_free(*out, *out_count). */
MUTLS_EXTERN int mutls_x509_key_usage(char ***out, size_t *out_count,
	const mutls_x509 *cert);
/* extendedKeyUsage purposes in certificate order: "serverAuth",
 * "clientAuth", "codeSigning", "emailProtection", "timeStamping",
 * "OCSPSigning", "anyExtendedKeyUsage", else the dotted OID; empty when the
 * extension is absent (every purpose allowed). MUTLS_ECONFIG when it is
 * malformed. Caller frees: mutls_strings_free(*out, *out_count). */
MUTLS_EXTERN int mutls_x509_extended_key_usage(char ***out, size_t *out_count,
	const mutls_x509 *cert);

/* ------------------------------------------------------------------------ */
/* Config                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct mutls_config mutls_config;
typedef struct mutls_session mutls_session;
typedef struct mutls_identity mutls_identity;

typedef enum {
	MUTLS_PEER_REQUIRE = 0, /* default, both roles: this is mTLS            */
	MUTLS_PEER_REQUEST = 1, /* verify if presented, allow anonymous (server) */
	MUTLS_PEER_NONE = 2,    /* do not ask / do not verify (explicit, loud)   */
	MUTLS_PEER_OBSERVE = 3  /* servers: ask, check, let a failed client in   */
	                        /* unverified with its verdict (a hook's refusal */
	                        /* still refuses); refused for client sessions   */
} mutls_peer_mode;

/* Fills buf (NUL-terminated) with the password for `what` (a file name or
 * "private key"); returns 0, or a negative value to refuse. */
typedef int (*mutls_password_cb)(char *buf, size_t cap, const char *what,
	void *payload);

/* Verify hook verdicts. */
#define MUTLS_HOOK_ACCEPT 0
#define MUTLS_HOOK_REJECT 1
#define MUTLS_HOOK_ERROR  2  /* the hook itself failed (binding stored it) */

/*
 * Called inside the handshake, after chain, time, name, purpose, revocation
 * and policy checks, with the session: the peer chain, reasons so far
 * (mutls_session_verify_reasons; 0 = every check passed), hostname and role
 * are all readable from it. Called also when a check failed, so it can see
 * every peer; ACCEPT never overrides a failed check (turn the check off
 * explicitly instead). On REJECT/ERROR write a reason into `reason` (cap
 * bytes, NUL-terminated); it becomes part of the error message.
 */
typedef int (*mutls_verify_hook)(mutls_session *session, void *payload,
	char *reason, size_t reason_cap);

typedef enum {
	MUTLS_TRACE_MESSAGE = 1, /* a handshake message sent or received */
	MUTLS_TRACE_CHECK = 2,   /* one verification check and its outcome */
	MUTLS_TRACE_ALERT = 3,   /* an alert sent or received */
	MUTLS_TRACE_INFO = 4     /* negotiated facts: version, suite, keys */
} mutls_trace_kind;

typedef struct mutls_trace_event {
	mutls_trace_kind kind;
	int outgoing;         /* MESSAGE/ALERT: 1 sent by us, 0 received        */
	int ok;               /* CHECK: 1 passed, 0 failed; others 1            */
	const char *name;     /* "ClientHello", "Certificate", check name
	                         ("validity", "name", "chain", "purpose",
	                         "revocation", "policy", "hook", "presence"),
	                         alert name, or info key ("version", "cipher",
	                         "client-write-key", "server-write-key", "alpn") */
	const char *detail;   /* human detail ("valid 2026-01-01T00:00:00Z to
	                         ..."), possibly "" ; never NULL                 */
	int message_type;     /* MESSAGE: TLS HandshakeType number; ALERT: alert */
	size_t length;        /* MESSAGE: body length in bytes                   */
} mutls_trace_event;

/* Sees each event as it happens; return non-zero to abort the handshake
 * (code MUTLS_EHOOK). The event and its strings are borrowed for the call. */
typedef int (*mutls_trace_hook)(mutls_session *session,
	const mutls_trace_event *event, void *payload);
/* One NSS key log line without newline ("CLIENT_RANDOM ..."); return
 * non-zero to abort the handshake (code MUTLS_EHOOK). */
typedef int (*mutls_keylog_hook)(mutls_session *session, const char *line,
	void *payload);
/* For bindings: a trace, keylog or clock hook about to return non-zero (it
 * raised) leaves its message here; the session's error then says "the trace
 * hook failed during the handshake: <message>", and mutls_error_hook_message
 * gives it alone. The first message since the last reported failure is
 * kept (a later one is ignored). Copied. */
MUTLS_EXTERN void mutls_session_set_hook_error(mutls_session *session,
	const char *message);
/* Releases a hook payload when the config dies (may be NULL). */
typedef void (*mutls_payload_free)(void *payload);

/* New empty config, refcount 1. Caller frees: mutls_config_unref. */
MUTLS_EXTERN int mutls_config_new(mutls_config **out);
MUTLS_EXTERN mutls_config *mutls_config_ref(mutls_config *cfg);
MUTLS_EXTERN void mutls_config_unref(mutls_config *cfg);
/* Makes the config immutable; later setters fail with MUTLS_EUSAGE. Creating
 * a session does this. Thread-safe; idempotent. */
MUTLS_EXTERN int mutls_config_freeze(mutls_config *cfg);

/* Every setter below returns MUTLS_EUSAGE after freeze and MUTLS_ECONFIG for
 * bad values, naming the file or field. "source" arguments are PEM text (they
 * contain "-----BEGIN") or a file path (PEM or DER). */

/* Used to decrypt encrypted keys when no password string is given; set it
 * before mutls_config_set_identity. payload is borrowed. */
MUTLS_EXTERN int mutls_config_set_password_callback(mutls_config *cfg,
	mutls_password_cb cb, void *payload);
/* Own identity: certificate chain (leaf first) and private key (PEM text or
 * paths). private_key NULL: the key is in the certificate's PEM (else the
 * error says no private key was given for the certificate). password may be
 * NULL. Checks that the key matches the leaf. Messages never contain key
 * text or the password: a value is named only when it reads as a path. */
MUTLS_EXTERN int mutls_config_set_identity(mutls_config *cfg,
	const char *certificate, const char *private_key, const char *password);
/* Own identity from a test-PKI identity (copied; id stays the caller's). */
MUTLS_EXTERN int mutls_config_set_identity_object(mutls_config *cfg,
	const mutls_identity *id);
/* Trust anchors: PEM text, a file, a directory of PEM files, or "system".
 * May be called repeatedly; anchors accumulate. */
MUTLS_EXTERN int mutls_config_add_trust(mutls_config *cfg, const char *source);
/* Trust one parsed certificate. */
MUTLS_EXTERN int mutls_config_add_trust_x509(mutls_config *cfg, const mutls_x509 *ca);
/* CRLs (PEM text or file). Checked against the trust anchors. */
MUTLS_EXTERN int mutls_config_add_crl(mutls_config *cfg, const char *source);
MUTLS_EXTERN int mutls_config_set_peer_certificate(mutls_config *cfg,
	mutls_peer_mode mode);
/* "require", "request", "none", "observe" ("?" for another value), and back:
 * MUTLS_ECONFIG naming the unknown word (it is a config option's value). */
MUTLS_EXTERN const char *mutls_peer_mode_name(mutls_peer_mode mode);
MUTLS_EXTERN int mutls_peer_mode_from_name(mutls_peer_mode *out, const char *name);
/* 1 (default): a client checks the server's name against server_hostname.
 * 0: the name is not checked (explicit). */
MUTLS_EXTERN int mutls_config_set_check_hostname(mutls_config *cfg, int enabled);
/* Identity policy. Patterns: "dns:api.internal", "dns:*.svc.local",
 * "ip:10.0.0.7", "uri:spiffe://example.org/payments" (a URI ending in "*"
 * matches every URI that starts with what comes before the star),
 * "cn:payments", "sha256:<hex>" (pin; colons allowed). The peer is accepted
 * if any pattern matches. */
MUTLS_EXTERN int mutls_config_add_peer_pattern(mutls_config *cfg, const char *pattern);
/* Pins one certificate: the pattern "sha256:<its SHA-256 fingerprint>". */
MUTLS_EXTERN int mutls_config_add_peer_certificate(mutls_config *cfg, const mutls_x509 *cert);
/* Allowed protocol versions, from "1.2" and "1.3". */
MUTLS_EXTERN int mutls_config_set_versions(mutls_config *cfg,
	const char *const *versions, size_t count);
/* A GnuTLS priority string, taken as given (the default is "NORMAL" with
 * TLS 1.3 and 1.2 only and without Ed448 signatures). */
MUTLS_EXTERN int mutls_config_set_priority(mutls_config *cfg, const char *priority);
/* ALPN protocols in preference order. */
MUTLS_EXTERN int mutls_config_set_alpn(mutls_config *cfg,
	const char *const *protocols, size_t count);
/* Server: issue session tickets (default 1). Client: use tickets (default 1). */
MUTLS_EXTERN int mutls_config_set_session_tickets(mutls_config *cfg, int enabled);
/* Server: keep up to `entries` TLS 1.2 sessions for resumption by session
 * ID (default 1024; 0 turns the cache off; at most 1048576). */
MUTLS_EXTERN int mutls_config_set_session_cache(mutls_config *cfg, size_t entries);
/* Server: name the trust anchors in the CertificateRequest (default 1;
 * turn off for large trust stores). */
MUTLS_EXTERN int mutls_config_set_send_ca_names(mutls_config *cfg, int enabled);
MUTLS_EXTERN int mutls_config_set_verify_hook(mutls_config *cfg,
	mutls_verify_hook hook, void *payload, mutls_payload_free payload_free);
MUTLS_EXTERN int mutls_config_set_trace_hook(mutls_config *cfg,
	mutls_trace_hook hook, void *payload, mutls_payload_free payload_free);
MUTLS_EXTERN int mutls_config_set_keylog_hook(mutls_config *cfg,
	mutls_keylog_hook hook, void *payload, mutls_payload_free payload_free);
/* Append key log lines (SSLKEYLOGFILE format) to a file. The file is
 * created with mode 0600; a symbolic link is refused (MUTLS_ECONFIG). */
MUTLS_EXTERN int mutls_config_set_keylog_file(mutls_config *cfg, const char *path);
/* Keys are logged only when asked: the SSLKEYLOGFILE environment variable
 * is ignored unless this is 1 (default 0). With 1 and no keylog file or
 * hook, lines are appended to the file it names (opened now, as above;
 * unset or empty: nothing is logged). A keylog file or hook set later wins. */
MUTLS_EXTERN int mutls_config_set_keylog_env(mutls_config *cfg, int enabled);

/* Socket mode: the longest a whole handshake may take, in ms, counted from
 * the session's first mutls_session_handshake call; 0: no limit. Default
 * MUTLS_DEFAULT_HANDSHAKE_TIMEOUT_MS. A blocking socket (or one with a
 * session timeout) waits at most until then; a non-blocking socket without
 * a timeout is checked at each call. When it passes the handshake fails with
 * MUTLS_ETIMEOUT (the session is then unusable, unlike a passed session
 * timeout, which leaves the call to be made again). Memory mode: the caller
 * keeps the time (mutls.aio does, with the same value). */
#define MUTLS_DEFAULT_HANDSHAKE_TIMEOUT_MS 30000
MUTLS_EXTERN int mutls_config_set_handshake_timeout(mutls_config *cfg, int timeout_ms);

/*
 * The verification clock: the time every date check runs at (validity of
 * the peer certificate, of its chain and trust anchor, of CRLs, and the
 * window in which a chain check is re-used on resumption). Default: the
 * system clock. mutls_config_set_verify_time fixes it (seconds since the
 * epoch, UTC); mutls_config_set_verify_clock asks fn at each verification
 * (fn writes the time and returns 0, or returns MUTLS_HOOK_ERROR: the
 * verification then fails with reason "hook"); session is the session
 * being verified, NULL for mutls_x509_verify. fn NULL: the system clock
 * again. For test harnesses ("does this chain still verify on 1 March?").
 * Set it before mutls_config_add_crl: a CRL's dates are then checked at the
 * clock's time when verifying, not at the system clock's when loading.
 */
typedef int (*mutls_clock_fn)(int64_t *out_seconds, mutls_session *session, void *payload);
MUTLS_EXTERN int mutls_config_set_verify_time(mutls_config *cfg, int64_t seconds);
MUTLS_EXTERN int mutls_config_set_verify_clock(mutls_config *cfg,
	mutls_clock_fn fn, void *payload, mutls_payload_free payload_free);

/*
 * The verification profile. MUTLS_PROFILE_DEFAULT refuses every chain an
 * attacker could exploit (constraints, path length, basic constraints,
 * purpose, key strength, revocation) and accepts what private PKIs issue;
 * MUTLS_PROFILE_STRICT also enforces RFC 5280's and the CA/Browser Forum's
 * syntactic MUSTs (AKI/SKI, criticality, serial numbers, key types, v3,
 * CRL numbers). docs/design.md lists which check is in which.
 */
typedef enum {
	MUTLS_PROFILE_DEFAULT = 0,
	MUTLS_PROFILE_STRICT = 1
} mutls_profile;
/* "default" or "strict" (MUTLS_ECONFIG otherwise). */
MUTLS_EXTERN int mutls_config_set_profile(mutls_config *cfg, const char *profile);
/* At most `depth` CA certificates between the leaf and the trust anchor
 * (self-issued ones not counted); -1 (default): no limit of mutls's own
 * (GnuTLS follows at most 16 certificates). */
MUTLS_EXTERN int mutls_config_set_max_chain_depth(mutls_config *cfg, int depth);

/* Read back (for bindings and messages). */
MUTLS_EXTERN mutls_peer_mode mutls_config_peer_certificate(const mutls_config *cfg);
MUTLS_EXTERN int mutls_config_has_identity(const mutls_config *cfg);
MUTLS_EXTERN int mutls_config_handshake_timeout(const mutls_config *cfg); /* ms; 0: none */

/* ------------------------------------------------------------------------ */
/* Session                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * New client session. fd >= 0: socket mode over that connected socket (not
 * owned: the caller closes it). fd < 0: memory mode (mutls_session_feed /
 * mutls_session_data_to_send). server_hostname: sent as SNI (DNS names only)
 * and checked against the server's certificate (an IP literal against IP
 * SANs). NULL is MUTLS_EUSAGE unless the config checks no name
 * (check_hostname 0 or peer_certificate none).
 * Holds a reference to cfg (and freezes it). Caller frees: mutls_session_free.
 */
MUTLS_EXTERN int mutls_session_client(mutls_session **out, mutls_config *cfg,
	const char *server_hostname, int fd);
/* New server session; as above. */
MUTLS_EXTERN int mutls_session_server(mutls_session **out, mutls_config *cfg, int fd);
/*
 * Checks a client's chain (leaf first; n == 0: no certificate) that arrived
 * outside a mutls handshake, e.g. the client certificate nginx received,
 * with every check of a server handshake, at the current time: presence
 * (peer_certificate), chain, dates, purpose, CRLs, peers policy, then the
 * verify hook, which gets *out as its session. *out is a new session with
 * no connection (handshake, send and recv do not apply) that holds the
 * verdict: mutls_session_verified, _verify_reasons, _verify_message, the
 * trace's check events, the peer chain; userdata is set on it before the
 * hook runs. Returns 0 when the client passes; when it is refused, the
 * error a handshake would give (MUTLS_EVERIFY, MUTLS_ENOCERT, MUTLS_EHOOK),
 * also in mutls_session_error(*out), and *out is set all the same. On bad
 * arguments *out is NULL. Caller frees: mutls_session_free.
 */
MUTLS_EXTERN int mutls_config_check_peer(mutls_session **out, mutls_config *cfg,
	mutls_x509 *const *chain, size_t n, void *userdata);
MUTLS_EXTERN void mutls_session_free(mutls_session *s);

/* Socket mode: how long one handshake/send/recv/close call may wait for the
 * socket, in ms; <= 0 (default): no limit. Works on blocking and
 * non-blocking sockets (Python's sockets with a timeout are non-blocking
 * underneath). When it passes the call returns MUTLS_ETIMEOUT and the
 * session stays usable: the same call may be made again. A non-blocking
 * socket without a timeout gives MUTLS_EWANTREAD / MUTLS_EWANTWRITE. */
MUTLS_EXTERN int mutls_session_set_timeout(mutls_session *s, int timeout_ms);
/* For bindings: one pointer carried by the session (not owned). */
MUTLS_EXTERN void mutls_session_set_userdata(mutls_session *s, void *userdata);
MUTLS_EXTERN void *mutls_session_userdata(const mutls_session *s);
/* Client: resume from data earlier returned by mutls_session_get_data. */
MUTLS_EXTERN int mutls_session_set_data(mutls_session *s,
	const unsigned char *data, size_t len);

/* Memory mode: bytes that arrived from the peer (copied). */
MUTLS_EXTERN int mutls_session_feed(mutls_session *s, const void *data, size_t len);
/* Memory mode: the peer's stream ended. */
MUTLS_EXTERN int mutls_session_feed_eof(mutls_session *s);
/* Memory mode: the bytes to send to the peer (possibly none), which are
 * removed from the session. Borrowed: valid until the next call on s. */
MUTLS_EXTERN int mutls_session_data_to_send(const unsigned char **out,
	size_t *out_len, mutls_session *s);

/* 0 when done; MUTLS_EWANTREAD/WANTWRITE to retry; otherwise a failure whose
 * details are in mutls_session_error(s). A failed handshake is final; the
 * alert that explains it has been sent (memory mode: is in data_to_send). */
MUTLS_EXTERN int mutls_session_handshake(mutls_session *s);
/* Writes up to len bytes, looping over records; *out_written is how many
 * were taken (all of them unless a non-blocking socket filled up or the
 * timeout passed after some were taken). On MUTLS_EWANTWRITE or
 * MUTLS_ETIMEOUT nothing new was taken: call again with the same data. */
MUTLS_EXTERN int mutls_session_send(size_t *out_written, mutls_session *s,
	const void *data, size_t len);
/* Like mutls_session_send, but the timeout covers the whole buffer: when it
 * passes before every byte was taken the result is MUTLS_ETIMEOUT (or the
 * want-write of a non-blocking socket), with *out_written saying how many
 * were taken before it. Python's sendall. */
MUTLS_EXTERN int mutls_session_send_all(size_t *out_written, mutls_session *s,
	const void *data, size_t len);
/* Reads at most cap bytes: one record (socket mode waits for it when
 * blocking or with a timeout); in memory mode also the whole records
 * already fed that fit in cap. An error or close that follows data taken
 * this way is reported by the next call. *out_read == 0 with return 0
 * means the peer closed with close_notify. A close without close_notify is
 * MUTLS_ECLOSED. */
MUTLS_EXTERN int mutls_session_recv(size_t *out_read, mutls_session *s,
	void *buf, size_t cap);
/* Decrypted bytes already buffered (readable without I/O). */
MUTLS_EXTERN size_t mutls_session_pending(const mutls_session *s);
/* Sends close_notify (once; idempotent). */
MUTLS_EXTERN int mutls_session_close(mutls_session *s);

/* The last failure of this session (NULL if none). Borrowed: valid until the
 * next call on s. */
MUTLS_EXTERN const mutls_error *mutls_session_error(const mutls_session *s);
/* The error that goes with rc, the negative return of the mutls call just
 * made on this thread (on session s, or NULL for a call on no session): the
 * thread's last error when its code is rc, else s's error when its code is
 * rc, else an error of code rc whose message is the code's name. The one
 * rule the bindings use to build their error objects. *out is never NULL;
 * borrowed until the next mutls call on this thread. MUTLS_EUSAGE when out
 * is NULL or rc is not negative. */
MUTLS_EXTERN int mutls_session_error_for(const mutls_error **out, const mutls_session *s, int rc);

/* Introspection: valid after the handshake and after a failed one. */
MUTLS_EXTERN int mutls_session_is_server(const mutls_session *s);
MUTLS_EXTERN int mutls_session_handshake_done(const mutls_session *s);
MUTLS_EXTERN mutls_config *mutls_session_config(const mutls_session *s); /* borrowed */
/* The peer's chain as presented, leaf first. Borrowed (mutls_x509_ref to
 * keep). NULL when index is out of range. */
MUTLS_EXTERN size_t mutls_session_peer_chain_length(const mutls_session *s);
MUTLS_EXTERN mutls_x509 *mutls_session_peer_certificate(const mutls_session *s,
	size_t index);
/* Our own leaf as this session presented it: the certificate sent in this
 * handshake (a client sends one only when the server asked), or, for a
 * resumed server session, the Config's leaf (the connection was
 * established with it). NULL when none was sent (a resumed client session,
 * no identity, before the handshake). Borrowed from the config
 * (mutls_x509_ref to keep). */
MUTLS_EXTERN mutls_x509 *mutls_session_own_certificate(const mutls_session *s);
/* 1 when the peer's certificate was presented and every check passed. */
MUTLS_EXTERN int mutls_session_verified(const mutls_session *s);
/* The re-entry guard: 1 while one of s's hooks (verify, trace, keylog,
 * clock) runs on the calling thread. The calls that drive s (handshake,
 * send, recv, close, feed, feed_eof) refuse to run then, with MUTLS_EUSAGE
 * "<what>: the session is already in a call: one of its own hooks used it";
 * mutls_session_check_reentry gives that refusal (0 when not in a hook) to
 * the bindings' own operations on a session (destroying it). */
MUTLS_EXTERN int mutls_session_in_hook(const mutls_session *s);
MUTLS_EXTERN int mutls_session_check_reentry(const mutls_session *s, const char *what);
/* The verify hook's `ok`: 1 when the peer presented a certificate and every
 * check run so far passed (reasons 0); 0 for an anonymous peer. */
MUTLS_EXTERN int mutls_session_peer_ok(const mutls_session *s);
/* The certificate an error of this session carries (the bindings' error
 * `peer_certificate`): the peer's leaf when it sent one and code is a
 * failure of the connection (not MUTLS_EUSAGE, MUTLS_ECONFIG, MUTLS_ENOMEM
 * or a retry signal); NULL otherwise. Borrowed. */
MUTLS_EXTERN mutls_x509 *mutls_session_error_certificate(const mutls_session *s, int code);
/* Reasons of failed checks (0 when none failed or nothing was checked). */
MUTLS_EXTERN unsigned mutls_session_verify_reasons(const mutls_session *s);
/* One sentence on the peer checks: why they failed, that the peer passed
 * every check, that no certificate came (and whether that was allowed), or
 * that verification was off. NULL when nothing was checked. Borrowed. */
MUTLS_EXTERN const char *mutls_session_verify_message(const mutls_session *s);
/* The name the client checks (client) or NULL. Borrowed. */
MUTLS_EXTERN const char *mutls_session_server_hostname(const mutls_session *s);
/* SNI: sent (client) or received (server); NULL if none. Borrowed. */
MUTLS_EXTERN const char *mutls_session_server_name(const mutls_session *s);
/* "TLSv1.2" / "TLSv1.3" or NULL before negotiation. Static. */
MUTLS_EXTERN const char *mutls_session_version(const mutls_session *s);
/* IANA suite name ("TLS_AES_128_GCM_SHA256") or NULL. Borrowed. */
MUTLS_EXTERN const char *mutls_session_cipher(const mutls_session *s);
/* Negotiated ALPN protocol or NULL. Borrowed. */
MUTLS_EXTERN const char *mutls_session_alpn(const mutls_session *s);
MUTLS_EXTERN int mutls_session_resumed(const mutls_session *s);
/* Client: data to resume this session later. In TLS 1.3 available once the
 * server's NewSessionTicket was read (after a recv). Caller frees: mutls_free.
 * MUTLS_EUSAGE when there is none yet. */
MUTLS_EXTERN int mutls_session_get_data(unsigned char **out, size_t *out_len,
	const mutls_session *s);
/* RFC 5705 / 8446 exporter into out[len]. context may be NULL. */
MUTLS_EXTERN int mutls_session_export_keying_material(unsigned char *out,
	size_t len, mutls_session *s, const char *label,
	const unsigned char *context, size_t context_len);
/* SHA-256 of the current traffic key (hex, 64 chars + NUL into out[65]):
 * write = 1 for the key this side encrypts with, 0 for the key it decrypts
 * with. For showing key separation without exposing keys. */
MUTLS_EXTERN int mutls_session_key_fingerprint(char out[65],
	const mutls_session *s, int write);

/* The recorded handshake events, in order. Borrowed (valid while s lives). */
MUTLS_EXTERN size_t mutls_session_trace_count(const mutls_session *s);
MUTLS_EXTERN const mutls_trace_event *mutls_session_trace_event(
	const mutls_session *s, size_t index);
/* A human summary: outcome, version, suite, peer, checks. Caller frees:
 * mutls_free. */
MUTLS_EXTERN int mutls_session_explain(char **out, const mutls_session *s);
/* One event as the line the demos print (no side, no colour, no newline):
 *   "-> ClientHello          517 bytes  offers TLS1.3, ..."   a message
 *   "check validity   ok   valid 2026-... to 2026-..."        a check
 *   "<- alert unknown_ca (48)"                                 an alert
 *   "info  version          TLS1.3", "key   client-write-key ..."  a fact
 * Caller frees: mutls_free. */
MUTLS_EXTERN int mutls_trace_event_text(char **out, const mutls_trace_event *ev);
/* What an event teaches a reader, or NULL: the question a check answers
 * ("is today within its validity dates?"), what a sent ClientHello,
 * ServerHello or key exchange is ("the offer"). Static. */
MUTLS_EXTERN const char *mutls_trace_event_note(const mutls_trace_event *ev);
/* "message", "check", "alert", "info" ("?" for another value), and back
 * (MUTLS_EUSAGE naming the unknown word). */
MUTLS_EXTERN const char *mutls_trace_kind_name(mutls_trace_kind kind);
MUTLS_EXTERN int mutls_trace_kind_from_name(mutls_trace_kind *out, const char *name);

/* Offline verification of cert (+ intermediates) against the trust anchors
 * and CRLs of trust_cfg: validity, chain, revocation, name (if hostname),
 * purpose, and trust_cfg's peer patterns. 0 when valid; MUTLS_EVERIFY with
 * *out_reasons set and the message in mutls_error_last(). */
MUTLS_EXTERN int mutls_x509_verify(unsigned *out_reasons, const mutls_x509 *cert,
	mutls_x509 *const *intermediates, size_t intermediate_count,
	const mutls_config *trust_cfg, const char *hostname, mutls_purpose purpose);

/* Per-call settings of mutls_x509_verify_with (zero-initialise it). */
#define MUTLS_VERIFY_AT 1u          /* check at `at`, not at trust_cfg's clock */
#define MUTLS_VERIFY_PROFILE 2u     /* use `profile`, not trust_cfg's */
#define MUTLS_VERIFY_MAX_CHAIN_DEPTH 4u /* use `max_chain_depth`, not trust_cfg's */
typedef struct {
	unsigned flags;                 /* MUTLS_VERIFY_* */
	int64_t at;                     /* seconds since the epoch, UTC */
	mutls_profile profile;
	int max_chain_depth;            /* -1: no limit */
} mutls_verify_options;
/* mutls_x509_verify with options (NULL: as mutls_x509_verify). */
MUTLS_EXTERN int mutls_x509_verify_with(unsigned *out_reasons, const mutls_x509 *cert,
	mutls_x509 *const *intermediates, size_t intermediate_count,
	const mutls_config *trust_cfg, const char *hostname, mutls_purpose purpose,
	const mutls_verify_options *options);

/* ------------------------------------------------------------------------ */
/* Test PKI                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct mutls_testca mutls_testca;

typedef enum {
	MUTLS_KEY_P256 = 0, /* default */
	MUTLS_KEY_P384,
	MUTLS_KEY_ED25519,
	MUTLS_KEY_RSA2048,
	MUTLS_KEY_RSA3072,
	MUTLS_KEY_RSA4096,
	/* Deliberately weak keys, only for tests of the key-size check (a
	 * config refuses nothing, but verification refuses a chain with one). */
	MUTLS_KEY_RSA512,
	MUTLS_KEY_RSA1024,
	MUTLS_KEY_DSA1024,
	MUTLS_KEY_P192
} mutls_key_type;

/* Parse "p256", "p384", "ed25519", "rsa2048", "rsa3072", "rsa4096" (and the
 * test-only weak "rsa512", "rsa1024", "dsa1024", "p192"). */
MUTLS_EXTERN int mutls_key_type_from_name(mutls_key_type *out, const char *name);

/* Marks "not given" for times in the option structs. */
#define MUTLS_TIME_UNSET INT64_MIN

/* Deliberately bad variants. */
#define MUTLS_ISSUE_BAD_KEY_USAGE (1u << 0) /* keyUsage without digitalSignature */
#define MUTLS_CA_NOT_A_CA         (1u << 1) /* CA cert with CA:FALSE (still signs) */

typedef struct {
	unsigned version;      /* MUTLS_TESTCA_OPTIONS_VERSION */
	const char *name;      /* subject CN; default "mutls test CA"          */
	mutls_key_type key_type;
	int64_t not_before;    /* unix time; MUTLS_TIME_UNSET: now - 1 hour     */
	int64_t not_after;     /* unix time; MUTLS_TIME_UNSET: now + 10 years   */
	unsigned flags;        /* MUTLS_CA_NOT_A_CA                             */
	/* version 2 */
	int path_length;       /* basicConstraints pathLenConstraint: how many
	                          CAs may follow this one; -1 (default): no limit */
	const char *const *permitted_dns; /* nameConstraints: the DNS subtrees the */
	size_t permitted_dns_count;       /* CA may name (none by default)     */
} mutls_testca_options;

#define MUTLS_TESTCA_OPTIONS_VERSION 2 /* version 1 (without path_length and
                                          permitted_dns) is still taken */
#define MUTLS_TESTCA_OPTIONS_INIT \
	{ MUTLS_TESTCA_OPTIONS_VERSION, NULL, MUTLS_KEY_P256, MUTLS_TIME_UNSET, MUTLS_TIME_UNSET, 0, \
	  -1, NULL, 0 }

typedef struct {
	unsigned version;          /* MUTLS_ISSUE_OPTIONS_VERSION */
	const char *cn;            /* subject CN; NULL: none (unless no SAN at all:
	                              then "mutls test leaf")                  */
	const char *const *dns;    size_t dns_count;
	const char *const *ip;     size_t ip_count;    /* "127.0.0.1", "::1" */
	const char *const *uri;    size_t uri_count;   /* "spiffe://..." */
	const char *const *email;  size_t email_count;
	int64_t not_before;        /* unix time; MUTLS_TIME_UNSET: now - 1 hour   */
	int64_t not_after;         /* unix time; MUTLS_TIME_UNSET: now + 1 year   */
	mutls_key_type key_type;
	mutls_purpose purpose;     /* SERVER, CLIENT, BOTH (default), NONE        */
	unsigned flags;            /* MUTLS_ISSUE_BAD_KEY_USAGE                   */
} mutls_issue_options;

#define MUTLS_ISSUE_OPTIONS_VERSION 1
#define MUTLS_ISSUE_OPTIONS_INIT \
	{ MUTLS_ISSUE_OPTIONS_VERSION, NULL, NULL, 0, NULL, 0, NULL, 0, NULL, 0, \
	  MUTLS_TIME_UNSET, MUTLS_TIME_UNSET, MUTLS_KEY_P256, MUTLS_PURPOSE_BOTH, 0 }

/* A self-signed root CA. opts may be NULL. Caller frees: mutls_testca_free. */
MUTLS_EXTERN int mutls_testca_new(mutls_testca **out, const mutls_testca_options *opts);
/* An intermediate CA signed by parent. The new CA is independent of parent's
 * lifetime (it copies what it needs). Caller frees: mutls_testca_free. */
MUTLS_EXTERN int mutls_testca_intermediate(mutls_testca **out, mutls_testca *parent,
	const mutls_testca_options *opts);
MUTLS_EXTERN void mutls_testca_free(mutls_testca *ca);
/* A CA from an existing CA certificate and its private key (PEM text or
 * file paths, as mutls_config_set_identity takes them), so that more leaves
 * can be issued later. The certificate may be followed by the chain above it
 * (leaves then carry it). password may be NULL. MUTLS_ECONFIG when the
 * certificate is not a CA (CA:TRUE), the key does not match it, or its key
 * type cannot sign leaves here (p256, p384, ed25519, RSA). Its CRL starts
 * empty. Caller frees: mutls_testca_free. */
MUTLS_EXTERN int mutls_testca_load(mutls_testca **out, const char *certificate,
	const char *private_key, const char *password);
/* A leaf (chain: leaf, then this CA and its parents up to but excluding the
 * root). Caller frees: mutls_identity_free. */
MUTLS_EXTERN int mutls_testca_issue(mutls_identity **out, mutls_testca *ca,
	const mutls_issue_options *opts);
/* Adds cert (issued by this CA) to the CA's CRL. */
MUTLS_EXTERN int mutls_testca_revoke(mutls_testca *ca, const mutls_x509 *cert);
/* The CA's certificate. Borrowed. */
MUTLS_EXTERN mutls_x509 *mutls_testca_certificate(const mutls_testca *ca);
/* PEM of the CA certificate. Borrowed. */
MUTLS_EXTERN const char *mutls_testca_cert_pem(const mutls_testca *ca);
/* PEM of the CA's private key. Borrowed. */
MUTLS_EXTERN const char *mutls_testca_key_pem(const mutls_testca *ca);
/* A freshly signed CRL listing every revoked serial (valid now - 1h to now
 * + 30 days). Caller frees: mutls_free. */
MUTLS_EXTERN int mutls_testca_crl_pem(char **out, mutls_testca *ca);

/* An identity: certificate chain (leaf first) and private key. */
MUTLS_EXTERN void mutls_identity_free(mutls_identity *id);
/* Borrowed leaf. */
MUTLS_EXTERN mutls_x509 *mutls_identity_certificate(const mutls_identity *id);
MUTLS_EXTERN size_t mutls_identity_chain_length(const mutls_identity *id);
/* Borrowed; NULL when out of range. */
MUTLS_EXTERN mutls_x509 *mutls_identity_chain_at(const mutls_identity *id, size_t index);
/* PEM texts. Borrowed. */
MUTLS_EXTERN const char *mutls_identity_cert_pem(const mutls_identity *id);
MUTLS_EXTERN const char *mutls_identity_chain_pem(const mutls_identity *id);
MUTLS_EXTERN const char *mutls_identity_key_pem(const mutls_identity *id);
/* The private key encrypted (PKCS#8, AES-256) with password. Caller frees:
 * mutls_free. */
MUTLS_EXTERN int mutls_identity_encrypted_key_pem(char **out,
	const mutls_identity *id, const char *password);
/* Writes cert.pem, chain.pem and key.pem (mode 0600) into an existing
 * directory. */
MUTLS_EXTERN int mutls_identity_write_to(const mutls_identity *id, const char *directory);

#ifdef __cplusplus
}
#endif

#endif /* MUTLS_H */
