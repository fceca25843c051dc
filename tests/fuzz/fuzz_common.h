/* Shared setup for the fuzz targets: one test PKI and configs, made once. */
#ifndef MUTLS_FUZZ_COMMON_H
#define MUTLS_FUZZ_COMMON_H

#include "mutls.h"
#include <stdlib.h>
#include <string.h>

typedef struct {
	mutls_testca *ca;
	mutls_identity *server_id, *client_id;
	mutls_config *server_cfg, *client_cfg;
} fuzz_world;

static fuzz_world *fuzz_world_get(void)
{
	static fuzz_world w;
	static int ready;
	if (!ready) {
		mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
		const char *dns = "orders.internal";
		if (mutls_testca_new(&w.ca, NULL) < 0)
			abort();
		o.dns = &dns;
		o.dns_count = 1;
		o.purpose = MUTLS_PURPOSE_SERVER;
		if (mutls_testca_issue(&w.server_id, w.ca, &o) < 0)
			abort();
		o.dns_count = 0;
		o.cn = "payments";
		o.purpose = MUTLS_PURPOSE_CLIENT;
		if (mutls_testca_issue(&w.client_id, w.ca, &o) < 0)
			abort();
		if (mutls_config_new(&w.server_cfg) < 0 || mutls_config_new(&w.client_cfg) < 0 ||
		    mutls_config_set_identity_object(w.server_cfg, w.server_id) < 0 ||
		    mutls_config_set_identity_object(w.client_cfg, w.client_id) < 0 ||
		    mutls_config_add_trust(w.server_cfg, mutls_testca_cert_pem(w.ca)) < 0 ||
		    mutls_config_add_trust(w.client_cfg, mutls_testca_cert_pem(w.ca)) < 0)
			abort();
		ready = 1;
	}
	return &w;
}

/* Feeds data to s in chunks whose sizes come from the data itself, driving
 * the handshake and then reading, until the session stops asking. */
static void fuzz_drive(mutls_session *s, const unsigned char *data, size_t size)
{
	unsigned char buf[4096];
	size_t pos = 0;
	int rc = mutls_session_handshake(s);

	while (pos < size && (rc == 0 || rc == MUTLS_EWANTREAD)) {
		size_t chunk = 1 + data[pos] * 7u;
		const unsigned char *out;
		size_t out_len, got;
		pos++;
		if (chunk > size - pos)
			chunk = size - pos;
		mutls_session_feed(s, data + pos, chunk);
		pos += chunk;
		mutls_session_data_to_send(&out, &out_len, s);
		if (!mutls_session_handshake_done(s))
			rc = mutls_session_handshake(s);
		else
			rc = mutls_session_recv(&got, s, buf, sizeof(buf));
	}
	mutls_session_feed_eof(s);
	if (mutls_session_handshake_done(s)) {
		size_t got;
		while (mutls_session_recv(&got, s, buf, sizeof(buf)) == 0 && got > 0)
			;
	} else {
		mutls_session_handshake(s);
	}
}

#endif
