/* Test helpers: a standard test PKI and an in-memory client/server pair. */
#ifndef MUTLS_TEST_PAIR_H
#define MUTLS_TEST_PAIR_H

#include "testlib.h"

#include <gnutls/x509.h>

typedef struct {
	mutls_testca *ca;
	mutls_identity *server_id; /* CN orders, DNS orders.internal + localhost, IP 127.0.0.1, server */
	mutls_identity *client_id; /* CN payments, URI spiffe://example.org/payments, client */
} test_pki;

void pki_make(test_pki *pki);
void pki_free(test_pki *pki);

/* A leaf from ca with the given names and purpose; validity offsets are
 * seconds from now (0 = default). */
mutls_identity *pki_issue(mutls_testca *ca, const char *cn, const char *dns,
	const char *ip, const char *uri, mutls_purpose purpose,
	int64_t not_before_offset, int64_t not_after_offset);

/* A config with id as identity (NULL: none) trusting ca (NULL: nothing). */
mutls_config *config_with(const mutls_identity *id, const mutls_testca *ca);

typedef struct {
	mutls_session *client, *server;
	int client_rc, server_rc;   /* last handshake results */
	size_t to_server, to_client; /* bytes moved in total */
} test_pair;

/* Memory-mode sessions; the configs stay the caller's. */
void pair_new(test_pair *p, mutls_config *client_cfg, const char *hostname,
	mutls_config *server_cfg);
/* Drives both handshakes until neither can progress (bounded). */
void pair_handshake(test_pair *p);
/* Moves pending output of from into to; returns the byte count. */
size_t pair_move(mutls_session *from, mutls_session *to);
/* Sends msg from `from` and receives it on `to`; returns to's recv code,
 * with the bytes in buf (NUL-terminated) */
int pair_transfer(mutls_session *from, mutls_session *to, const char *msg,
	char *buf, size_t cap);
void pair_free(test_pair *p);

/* A test PKI, a config per side and their pair, freed together. */
typedef struct {
	test_pki pki;
	mutls_config *ccfg, *scfg;
	test_pair p;
} fixture;
void fixture_free(fixture *f);
/* Makes the PKI and both configs (version: the client's only version, or
 * NULL) and runs a handshake that must pass. */
void fixture_connect(fixture *f, const char *version);

/* The code of a session's error (0 if none). */
int session_code(const mutls_session *s);
const char *session_message(const mutls_session *s);

/* A handshake between a client config and a server config, in memory;
 * then one message from client to server so a TLS 1.3 client learns of a
 * refusal. Results land in p. */
void pair_run(test_pair *p, mutls_config *client_cfg, const char *hostname,
	mutls_config *server_cfg);

/* A socket listening on 127.0.0.1, port 0 (a free one, in *port). */
int listen_loopback(int *port);
/* A socket connected to 127.0.0.1:port. */
int connect_loopback(int port);

/* A certificate to fill in with GnuTLS: a new P-256 key as its key,
 * version 3, the serial given, CN=cn (none when NULL: the caller names
 * it, in the order it wants), valid from an hour ago for a day.
 * The caller adds the rest, signs, and deinits both. */
void crt_start(gnutls_x509_crt_t *crt, gnutls_x509_privkey_t *key, unsigned char serial, const char *cn);

#endif
