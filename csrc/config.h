/* Internal: the config object and the identity policy. */
#ifndef MUTLS_CONFIG_H
#define MUTLS_CONFIG_H

#include "internal.h"
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
	MUTLS_PATTERN_DNS,
	MUTLS_PATTERN_IP,
	MUTLS_PATTERN_URI,
	MUTLS_PATTERN_CN,
	MUTLS_PATTERN_SHA256,
	MUTLS_PATTERN_EMAIL
} mutls_pattern_kind;

typedef struct {
	mutls_pattern_kind kind;
	char *text;                 /* the whole pattern as given, for messages */
	const char *value;          /* points into text, after "kind:" */
	unsigned char ip[16];       /* IP: parsed address */
	size_t ip_len;              /* 4 or 16 */
	unsigned char pin[32];      /* SHA256: parsed fingerprint */
} mutls_pattern;

#define MUTLS_CHAIN_CACHE_SLOTS 32

typedef struct {
	int valid;                  /* the chain passed the chain check */
	int64_t usable_from;        /* ... and that may be re-used in [from, until) */
	int64_t usable_until;
} mutls_chain_check;

typedef struct {
	uint64_t key;               /* mutls__chain_key of the chain; 0: free slot */
	mutls_x509 **chain;         /* parsed, shared */
	size_t n;
	mutls_chain_check checked[2]; /* [0] as a client's, [1] as a server's */
	uint64_t last_used;
} mutls_chain_slot;

struct mutls_config {
	int refcount;                       /* atomic */
	pthread_mutex_t lock;               /* guards freezing */
	int frozen;

	gnutls_certificate_credentials_t cred;
	gnutls_x509_trust_list_t tlist;     /* owned by cred once frozen */
	int trust_count;
	int crl_count;
	gnutls_datum_t *crl_issuers;        /* raw issuer DNs of the usable CRLs (verify.c) */
	size_t crl_issuer_count;
	struct mutls_crl_facts *crl_facts;  /* dates and profile of the usable CRLs (crl_checks.c) */
	size_t crl_fact_count;
	struct mutls_anchor_facts *anchor_facts; /* trusted intermediates against their issuers' CRLs, at freezing */
	size_t anchor_fact_count;
	mutls_x509 **own_chain;
	size_t own_chain_len;
	mutls_password_cb password_cb;
	void *password_payload;

	mutls_peer_mode peer_mode;
	int check_hostname;
	mutls_pattern *patterns;
	size_t pattern_count;

	char *priority_text;
	char *versions_text;
	gnutls_priority_t priority;         /* built at freeze */
	gnutls_datum_t *alpn;
	size_t alpn_count;
	int tickets;
	int handshake_timeout_ms;           /* socket mode; 0: no limit */
	gnutls_datum_t ticket_key;          /* made at freeze (server tickets) */
	size_t session_cache_entries;       /* option session_cache; 0: off */
	struct mutls_session_cache *session_cache; /* made at freeze (session_cache.c) */
	int send_ca_names;                  /* CertificateRequest names the trust anchors */

	mutls_profile profile;              /* option profile */
	int max_chain_depth;                /* option max_chain_depth; -1: none */
	int verify_time_set;                /* verify_time: a fixed clock ... */
	int64_t verify_time;
	mutls_clock_fn clock_fn;            /* ... or a function (verify_time.c) */
	void *clock_payload;
	mutls_payload_free clock_free;

	mutls_verify_hook verify_hook;
	void *verify_payload;
	mutls_payload_free verify_free;
	mutls_trace_hook trace_hook;
	void *trace_payload;
	mutls_payload_free trace_free;
	mutls_keylog_hook keylog_hook;
	void *keylog_payload;
	mutls_payload_free keylog_free;
	FILE *keylog_file;
	int keylog_from_env;                /* keylog_file is SSLKEYLOGFILE (keylog_env) */
	pthread_mutex_t keylog_lock;

	pthread_mutex_t chains_lock;        /* guards chains and chains_clock */
	mutls_chain_slot chains[MUTLS_CHAIN_CACHE_SLOTS]; /* chain_cache.c */
	uint64_t chains_clock;
};

/* policy.c */
int mutls__pattern_parse(mutls_pattern *out, const char *pattern);
/* 1 if any pattern matches cert (or there are none), else 0. */
int mutls__policy_matches(const mutls_config *cfg, const mutls_x509 *cert);
/* "dns:a, uri:b" into out (for messages). */
void mutls__policy_describe(char *out, size_t cap, const mutls_config *cfg);

/* verify_time.c: the verification clock's time now (session: the one being
 * verified, or NULL); -1 (error set) when the clock function failed. */
int mutls__config_now(int64_t *out, const mutls_config *cfg, mutls_session *session);

/* verify.c: the credentials' verify function (the peer check). */
int mutls__session_verify_callback(gnutls_session_t gs);
/* config.c: writes a key log line to the file and/or hook. */
int mutls__config_keylog(mutls_config *cfg, mutls_session *s, const char *line);

#endif
