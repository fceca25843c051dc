/* Writes a seed corpus from real handshakes: the client's flights (for the
 * server target), the server's flights (for the client target), and
 * certificates (DER and PEM chains) for the x509 target. */
#include "fuzz_common.h"
#include <stdio.h>
#include <sys/stat.h>

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[512];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		abort();
	fwrite(data, 1, len, f);
	fclose(f);
}

/* A flight recorded as the chunked stream fuzz_drive understands. */
typedef struct { unsigned char *data; size_t len, cap; } stream;

static void stream_add(stream *st, const unsigned char *data, size_t len)
{
	while (len) {
		size_t chunk = len;
		unsigned char tag;
		if (chunk > 1 + 255 * 7u)
			chunk = 1 + 255 * 7u;
		tag = (unsigned char)((chunk - 1) / 7);
		chunk = 1 + tag * 7u;
		if (chunk > len)
			chunk = len;
		if (st->len + chunk + 1 > st->cap) {
			st->cap = (st->len + chunk + 1) * 2;
			st->data = realloc(st->data, st->cap);
		}
		st->data[st->len++] = tag;
		memcpy(st->data + st->len, data, chunk);
		st->len += chunk;
		data += chunk;
		len -= chunk;
	}
}

static void record(const char *dir_server, const char *dir_client, const char *version, int idx)
{
	fuzz_world *w = fuzz_world_get();
	mutls_config *ccfg, *scfg;
	mutls_session *c, *s;
	stream to_server = { 0 }, to_client = { 0 };
	const char *v[] = { version };
	int crc = MUTLS_EWANTREAD, src = MUTLS_EWANTREAD;
	char name[64];

	mutls_config_new(&ccfg);
	mutls_config_set_identity_object(ccfg, w->client_id);
	mutls_config_add_trust(ccfg, mutls_testca_cert_pem(w->ca));
	mutls_config_set_versions(ccfg, v, 1);
	scfg = w->server_cfg;
	mutls_session_client(&c, ccfg, "orders.internal", -1);
	mutls_session_server(&s, scfg, -1);
	for (int round = 0; round < 20; round++) {
		const unsigned char *out;
		size_t len, n;
		if (crc == MUTLS_EWANTREAD) crc = mutls_session_handshake(c);
		mutls_session_data_to_send(&out, &len, c);
		stream_add(&to_server, out, len);
		mutls_session_feed(s, out, len);
		if (src == MUTLS_EWANTREAD) src = mutls_session_handshake(s);
		if (src == 0 && round == 3)
			mutls_session_send(&n, s, "hello", 5);
		mutls_session_data_to_send(&out, &len, s);
		stream_add(&to_client, out, len);
		mutls_session_feed(c, out, len);
		if (crc == 0 && src == 0 && round > 4)
			break;
	}
	snprintf(name, sizeof(name), "flight-tls%s-%d", version, idx);
	write_file(dir_server, name, to_server.data, to_server.len);
	write_file(dir_client, name, to_client.data, to_client.len);
	free(to_server.data);
	free(to_client.data);
	mutls_session_free(c);
	mutls_session_free(s);
	mutls_config_unref(ccfg);
}

int main(int argc, char **argv)
{
	fuzz_world *w;
	const unsigned char *der;
	size_t len;
	if (argc != 4) {
		fprintf(stderr, "usage: make_seeds SERVER_DIR CLIENT_DIR X509_DIR\n");
		return 2;
	}
	for (int i = 1; i < 4; i++)
		mkdir(argv[i], 0755);
	w = fuzz_world_get();
	record(argv[1], argv[2], "1.3", 0);
	record(argv[1], argv[2], "1.2", 1);
	mutls_x509_der(&der, &len, mutls_identity_certificate(w->server_id));
	write_file(argv[3], "server.der", der, len);
	write_file(argv[3], "chain.pem", mutls_identity_chain_pem(w->client_id),
		strlen(mutls_identity_chain_pem(w->client_id)));
	write_file(argv[3], "ca.pem", mutls_testca_cert_pem(w->ca), strlen(mutls_testca_cert_pem(w->ca)));
	return 0;
}
