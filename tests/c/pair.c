#include "pair.h"

#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

mutls_identity *pki_issue(mutls_testca *ca, const char *cn, const char *dns,
	const char *ip, const char *uri, mutls_purpose purpose,
	int64_t not_before_offset, int64_t not_after_offset)
{
	mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
	mutls_identity *id = NULL;
	int64_t now = (int64_t)time(NULL);

	o.cn = cn;
	if (dns) { o.dns = &dns; o.dns_count = 1; }
	if (ip) { o.ip = &ip; o.ip_count = 1; }
	if (uri) { o.uri = &uri; o.uri_count = 1; }
	o.purpose = purpose;
	if (not_before_offset)
		o.not_before = now + not_before_offset;
	if (not_after_offset)
		o.not_after = now + not_after_offset;
	CHECK_OK(mutls_testca_issue(&id, ca, &o));
	return id;
}

void pki_make(test_pki *pki)
{
	mutls_testca_options co = MUTLS_TESTCA_OPTIONS_INIT;
	mutls_issue_options so = MUTLS_ISSUE_OPTIONS_INIT;
	const char *dns[] = { "orders.internal", "localhost" };
	const char *ip[] = { "127.0.0.1", "::1" };

	co.name = "mutls test root";
	CHECK_OK(mutls_testca_new(&pki->ca, &co));
	so.cn = "orders";
	so.dns = dns;
	so.dns_count = 2;
	so.ip = ip;
	so.ip_count = 2;
	so.purpose = MUTLS_PURPOSE_SERVER;
	CHECK_OK(mutls_testca_issue(&pki->server_id, pki->ca, &so));
	pki->client_id = pki_issue(pki->ca, "payments", NULL, NULL,
		"spiffe://example.org/payments", MUTLS_PURPOSE_CLIENT, 0, 0);
}

void pki_free(test_pki *pki)
{
	mutls_identity_free(pki->server_id);
	mutls_identity_free(pki->client_id);
	mutls_testca_free(pki->ca);
}

mutls_config *config_with(const mutls_identity *id, const mutls_testca *ca)
{
	mutls_config *cfg = NULL;
	CHECK_OK(mutls_config_new(&cfg));
	if (id)
		CHECK_OK(mutls_config_set_identity_object(cfg, id));
	if (ca)
		CHECK_OK(mutls_config_add_trust(cfg, mutls_testca_cert_pem(ca)));
	return cfg;
}

void pair_new(test_pair *p, mutls_config *client_cfg, const char *hostname,
	mutls_config *server_cfg)
{
	memset(p, 0, sizeof(*p));
	CHECK_OK(mutls_session_client(&p->client, client_cfg, hostname, -1));
	CHECK_OK(mutls_session_server(&p->server, server_cfg, -1));
	p->client_rc = p->server_rc = MUTLS_EWANTREAD;
}

size_t pair_move(mutls_session *from, mutls_session *to)
{
	const unsigned char *data;
	size_t len;
	CHECK_OK(mutls_session_data_to_send(&data, &len, from));
	if (len)
		CHECK_OK(mutls_session_feed(to, data, len));
	return len;
}

void pair_handshake(test_pair *p)
{
	for (int round = 0; round < 64; round++) {
		size_t moved;
		if (p->client_rc == MUTLS_EWANTREAD)
			p->client_rc = mutls_session_handshake(p->client);
		moved = pair_move(p->client, p->server);
		p->to_server += moved;
		if (p->server_rc == MUTLS_EWANTREAD)
			p->server_rc = mutls_session_handshake(p->server);
		{
			size_t back = pair_move(p->server, p->client);
			p->to_client += back;
			moved += back;
		}
		if (moved == 0)
			return;
	}
	testlib_fail(__FILE__, __LINE__, "handshake did not settle in 64 rounds");
}

int pair_transfer(mutls_session *from, mutls_session *to, const char *msg,
	char *buf, size_t cap)
{
	size_t written = 0, got = 0;
	int rc = mutls_session_send(&written, from, msg, strlen(msg));
	if (rc == 0)
		CHECK_INT(written, strlen(msg));
	pair_move(from, to);
	rc = mutls_session_recv(&got, to, buf, cap - 1);
	buf[rc == 0 ? got : 0] = 0;
	pair_move(to, from);
	return rc;
}

void pair_free(test_pair *p)
{
	mutls_session_free(p->client);
	mutls_session_free(p->server);
	memset(p, 0, sizeof(*p));
}

void fixture_free(fixture *f)
{
	pair_free(&f->p);
	mutls_config_unref(f->ccfg);
	mutls_config_unref(f->scfg);
	pki_free(&f->pki);
}

void fixture_connect(fixture *f, const char *version)
{
	pki_make(&f->pki);
	f->ccfg = config_with(f->pki.client_id, f->pki.ca);
	f->scfg = config_with(f->pki.server_id, f->pki.ca);
	if (version) {
		const char *v[] = { version };
		CHECK_OK(mutls_config_set_versions(f->ccfg, v, 1));
	}
	pair_new(&f->p, f->ccfg, "orders.internal", f->scfg);
	pair_handshake(&f->p);
	CHECK_INT(f->p.client_rc, 0);
	CHECK_INT(f->p.server_rc, 0);
}

int session_code(const mutls_session *s)
{
	const mutls_error *e = mutls_session_error(s);
	return e ? mutls_error_code(e) : 0;
}

const char *session_message(const mutls_session *s)
{
	const mutls_error *e = mutls_session_error(s);
	return e ? mutls_error_message(e) : "";
}

void pair_run(test_pair *p, mutls_config *client_cfg, const char *hostname,
	mutls_config *server_cfg)
{
	char buf[64];
	pair_new(p, client_cfg, hostname, server_cfg);
	pair_handshake(p);
	/* A TLS 1.3 client learns of its rejection on its next read. */
	if (p->client_rc == 0 && p->server_rc != 0) {
		size_t got;
		p->client_rc = mutls_session_recv(&got, p->client, buf, sizeof(buf));
	}
}

/* ---- loopback TCP -------------------------------------------------------- */

int listen_loopback(int *port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0); /* port 0: a free one */
	CHECK(listen(fd, 16) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	*port = ntohs(a.sin_port);
	return fd;
}

int connect_loopback(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((unsigned short)port);
	CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	return fd;
}

void crt_start(gnutls_x509_crt_t *crt, gnutls_x509_privkey_t *key, unsigned char serial, const char *cn)
{
	unsigned char ser[2] = { 0x01, serial };
	time_t now = time(NULL);

	CHECK(gnutls_x509_privkey_init(key) == 0);
	CHECK(gnutls_x509_privkey_generate2(*key, GNUTLS_PK_ECDSA,
		GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0, NULL, 0) == 0);
	CHECK(gnutls_x509_crt_init(crt) == 0);
	gnutls_x509_crt_set_version(*crt, 3);
	gnutls_x509_crt_set_serial(*crt, ser, sizeof(ser));
	gnutls_x509_crt_set_activation_time(*crt, now - 3600);
	gnutls_x509_crt_set_expiration_time(*crt, now + 86400);
	if (cn)
		gnutls_x509_crt_set_dn_by_oid(*crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, (unsigned)strlen(cn));
	gnutls_x509_crt_set_key(*crt, *key);
}
