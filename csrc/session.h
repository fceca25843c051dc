/* Internal: the session object, shared by session.c, transport.c, trace.c,
 * failure.c and verify.c (the peer check). */
#ifndef MUTLS_SESSION_H
#define MUTLS_SESSION_H

#include "verify.h"

/* The most a peer may send before its handshake is done (256 KiB): GnuTLS
 * itself buffers a handshake message of up to 16 MiB before refusing it,
 * while a 100-certificate chain is about 60 KB. */
#define MUTLS_MAX_HANDSHAKE_INPUT (256u * 1024u)

/* One direction's call in socket mode (transport.c). GnuTLS lets one thread
 * send while another receives on a session, so each direction keeps its
 * own deadline and outcome: a send starting in one thread must not move,
 * or clear, a recv's in another. */
typedef struct {
	int64_t deadline_ms;          /* monotonic; 0: none */
	int timed_out;                /* the deadline passed */
	int wants_write;              /* the last wait was for the socket to take data */
	pthread_t thread;             /* the thread of the call */
	uint64_t seq;                 /* which call (mutls_session.call_seq) */
} mutls_io_call;

#define MUTLS__IO_RECV 1              /* mutls__transport_start_call's dirs */
#define MUTLS__IO_SEND 2
#define MUTLS__IO_BOTH 3

typedef struct {
	mutls_trace_event event;      /* event.detail points into a text block */
} mutls_trace_slot;

/* The events' detail texts, packed: one allocation for a handshake's
 * events instead of one each. Blocks never move (details point in). */
typedef struct mutls_trace_text {
	struct mutls_trace_text *next;
	size_t used, cap;
	char data[];
} mutls_trace_text;

struct mutls_session {
	mutls_config *cfg;            /* reference held */
	gnutls_session_t gs;
	int is_server;
	int fd;                       /* -1: memory mode */
	int timeout_ms;               /* socket mode; <= 0: none */
	void *userdata;
	char *hostname;               /* client: the name checked */

	/* memory transport */
	unsigned char *in;
	size_t in_len, in_pos, in_cap;
	int in_eof;
	unsigned char *out;
	size_t out_len, out_cap, out_handed;
	/* socket transport */
	int saw_eof;                  /* recv() returned 0 */
	int io_errno;                 /* last send/recv errno */
	/* the incoming record stream as it passes: the last record's header
	 * and first body bytes, to recognise an alert sent in plaintext */
	unsigned char rec_head[7];
	size_t rec_have;              /* bytes of rec_head filled */
	size_t rec_left;              /* body bytes of the record still to pass */
	unsigned char first_in[64];   /* the first bytes the peer sent: what it */
	size_t first_in_len;          /* speaks, when that is not TLS */
	int draining;                 /* reading what has arrived: never block */
	size_t handshake_in;          /* bytes received before the handshake was done */
	size_t in_after_handshake;    /* bytes received after it */
	int input_too_large;          /* ... and they went over MUTLS_MAX_HANDSHAKE_INPUT */
	int recv_deferred;            /* for the next recv: 1 close_notify, <0 GnuTLS error */
	mutls_io_call io[2];          /* [0] receiving, [1] sending */
	uint64_t call_seq;            /* atomic: numbers the calls */
	int64_t handshake_deadline_ms; /* from the first handshake call; 0: none */
	int handshake_expired;        /* ... and it passed */

	/* state */
	int handshake_done;
	int failed;                   /* a fatal failure happened; sticky */
	int close_sent;
	int close_received;
	int hook_failed;              /* a hook returned ERROR / non-zero */
	const char *failed_hook;      /* "trace" / "keylog" (static) */
	char hook_message[512];       /* what a failed trace/keylog hook said */
	int no_cert;                  /* required peer certificate missing */
	const char *malformed;        /* static: how a client message GnuTLS calls
	                               * "no certificate" was malformed (malformed.c) */
	int verify_ran;
	int verified;
	int offline;                  /* mutls_config_check_peer: no handshake */
	const gnutls_datum_t *offline_der; /* ... its chain's DER, during the check */
	mutls_verdict verdict;
	mutls_error err;
	int has_err;

	mutls_x509 **peer_chain;
	size_t peer_len;

	mutls_trace_slot *trace;
	size_t trace_len, trace_cap;
	mutls_trace_text *trace_text; /* newest block first */

	char *server_name;            /* SNI sent or received */
	char *alpn;
	char cipher[96];
	char offered_versions[64];    /* server: versions the ClientHello offered */
	char hello_detail[96];        /* server: the ClientHello's event text, told before GnuTLS reads it */
};

/* session.c: drops the peer's chain (verify.c reloads it per check). */
void mutls__session_free_peer_chain(mutls_session *s);

/* verify.c: every check of the session's peer (presence, chain..policy,
 * then the verify hook); 0 to accept, -1 to refuse (the verdict in s). */
int mutls__check_peer(mutls_session *s);
/* peer_certificate=observe lets this refused peer in, unverified (verify.c) */
int mutls__session_observed(mutls_session *s);

/* failure.c: classifies a fatal GnuTLS error (grc) met during phase into
 * s->err, sends the alert that explains it when the refusal is ours, makes
 * the session unusable; returns the error's code (set as the error). */
int mutls__session_fail(mutls_session *s, int grc, mutls_step phase);

/* Puts the session's hook message into an error of code "hook" (failure.c). */
void mutls__error_hook(mutls_error *e, const mutls_session *s);
/* Once reported, a hook's failure is spent: a later error is not the hook's. */
void mutls__session_clear_hook_failure(mutls_session *s);

/* transport.c */
void mutls__transport_setup(mutls_session *s);
/* Drops bytes handed out by data_to_send (called before producing more). */
void mutls__transport_release_output(mutls_session *s);
/* Starts a call in the directions dirs (MUTLS__IO_RECV, _SEND, _BOTH) for
 * the calling thread: their deadline (socket mode with a timeout), timeout
 * and wait cleared. The others' (another thread's call) are left alone. */
void mutls__transport_start_call(mutls_session *s, int dirs);
/* The calling thread's current call: its deadline passed; take_timeout
 * also clears that (the same call may be tried again). */
int mutls__transport_timed_out(const mutls_session *s);
int mutls__transport_take_timeout(mutls_session *s);
/* ... it has a deadline; it last waited to write (else to read). */
int mutls__transport_has_deadline(const mutls_session *s);
int mutls__transport_wants_write(const mutls_session *s);
/* The same for a handshake call, which also keeps to handshake_timeout
 * (socket mode); sets handshake_expired when that has passed already. */
void mutls__transport_start_handshake_call(mutls_session *s);
/* The alert of the last incoming record when it was a plaintext alert
 * record (type 21, length 2), else -1. */
int mutls__transport_plaintext_alert(const mutls_session *s);
/* 1 when the incoming stream is at a record boundary (nothing of the next
 * record has been read yet). */
int mutls__transport_at_record_start(const mutls_session *s);
/* 1 when the peer's first bytes are not a TLS record: then out gets what
 * they look like, e.g. "it looks like HTTP: 'GET / HTTP/1.1'" (one line,
 * bounded, non-printables escaped). 0 when they are TLS or nothing came. */
int mutls__transport_not_tls(char *out, size_t cap, mutls_session *s);
/* For "closed the connection without close_notify": a TLS 1.3 client that
 * sent its certificate and got nothing at all after the handshake says
 * that a refusal without an alert looks so; else "". */
const char *mutls__transport_closed_hint(const mutls_session *s);
/* Reads (never blocking) what a socket peer left, following its records. */
void mutls__transport_drain(mutls_session *s);
/* Bounds of the drain after a fatal alert: 1 s, 17 MiB (the largest
 * handshake message, 16 MiB, with its record headers), 200 ms of silence. */
#define MUTLS_DRAIN_MS 1000
#define MUTLS_DRAIN_BYTES (17u * 1024u * 1024u)
#define MUTLS_DRAIN_IDLE_MS 200
/* Socket mode, after a fatal alert: reads and drops what the peer still
 * sends (bounded, see transport.c) so that closing does not reset. */
void mutls__transport_drain_after_alert(mutls_session *s);
/* Memory mode: 1 when unread input remains. */
int mutls__transport_has_input(const mutls_session *s);

/* malformed.c: notes (before GnuTLS parses it) an incoming message that is
 * malformed in a way GnuTLS reports as "no certificate found". */
void mutls__malformed_note(mutls_session *s, unsigned htype, const gnutls_datum_t *msg);

/* trace.c */
void mutls__trace_setup(mutls_session *s);
void mutls__trace_free(mutls_session *s);
/* Records an event (detail formatted) and passes it to the trace hook;
 * returns the hook's result (non-zero: abort). */
int mutls__trace_add(mutls_session *s, mutls_trace_kind kind, int outgoing,
	int ok, const char *name, int message_type, size_t length,
	const char *fmt, ...) __attribute__((format(printf, 8, 9)));
/* Records version, cipher, ALPN and key fingerprints after a handshake;
 * non-zero when the trace hook failed on one of them. */
int mutls__trace_negotiated(mutls_session *s);

#endif
