/* One benchmark worker process for bench/run: the same loops written twice,
 * once on GnuTLS directly ("raw", the ceiling) and once on the mutls C API
 * ("mutls"). bench/driver.py starts one worker per implementation and role
 * and sends it one command per line on stdin; each reply is one line on
 * stdout, "ok ..." or "err <message>". Every handshake must have verified
 * both peers (chain, purpose, and the server's name): anything else is an
 * "err", never a faster number.
 *
 *   bench_worker raw|mutls PKI_DIR            commands on stdin
 *   bench_worker raw|mutls PKI_DIR CMD...     one command, then exit
 *                                             (for callgrind)
 *
 * PKI_DIR/<kt>/{ca.pem,server.pem,server.key,client.pem,client.key}, kt in
 * p256, ed25519, rsa2048 (written by the driver with mutls.TestCA).
 *
 * Commands (N: a count; times are seconds):
 *   listen                             bind 127.0.0.1:0 -> "ok PORT"
 *   hs-mem KT VER N                    N full handshakes, both ends in memory
 *   resume-mem KT VER N                N resumed (ticket) handshakes in memory
 *   bulk-mem CIPHER SIZE BYTES         one-way transfer in memory, SIZE writes
 *   hs-serve KT VER N                  accept N TCP connections (server)
 *   hs-client KT VER N PORT            N connections: handshake, read 1 byte
 *   resume-serve KT VER N              as hs-serve (N includes the first, full one)
 *   resume-client KT VER N PORT        one full connection, then N resumed
 *   bulk-serve CIPHER SIZE BYTES       receive BYTES, then ack with 1 byte
 *   bulk-client CIPHER SIZE BYTES PORT send BYTES in SIZE writes
 *   rss-serve KT VER N                 one connection, then hold N sessions:
 *                                      "ok GROWTH_KIB BASE_KIB PEAK_KIB"
 *   rss-client KT VER N PORT           the other ends (held until "quit")
 *   pki N                              N P-256 leaves (DNS SAN, both EKUs,
 *                                      cert and key as PEM)
 *   quit
 * Timed commands answer "ok WALL_SECONDS CPU_SECONDS" (CPU: this process).
 * VER is 1.3 or 1.2; CIPHER is aes128gcm or chacha20 (TLS 1.3, P-256). */
#define _GNU_SOURCE
#include "mutls.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HOST "orders.internal"

static int raw_mode;          /* 1: GnuTLS directly; 0: mutls */
static const char *pki_dir;
static int listen_fd = -1;
static char failure[1024];    /* set by fail(); the command answers "err" */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of the process: in-memory loops are timed by it as well, so
 * that other processes on the machine do not count against them. */
static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;
	if (failure[0])
		return -1; /* the first failure explains */
	va_start(ap, fmt);
	vsnprintf(failure, sizeof(failure), fmt, ap);
	va_end(ap);
	for (char *p = failure; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return -1;
}

static const char *mutls_msg(const mutls_session *s)
{
	const mutls_error *e = s ? mutls_session_error(s) : NULL;
	if (!e)
		e = mutls_error_last();
	return e ? mutls_error_message(e) : "(no message)";
}

/* ---- worlds: credentials/configs per (key type, version, cipher) ------- */

typedef struct {
	char key[64];
	char prio[160];
	const char *cipher_want;      /* substring of the suite name, or NULL */
	/* raw */
	gnutls_certificate_credentials_t ccred, scred;
	gnutls_priority_t prio_c;
	gnutls_datum_t ticket_key;
	/* mutls */
	mutls_config *ccfg, *scfg;
} world;

static world worlds[32];
static int nworlds;

static void path(char *out, size_t cap, const char *kt, const char *file)
{
	snprintf(out, cap, "%s/%s/%s", pki_dir, kt, file);
}

/* kt: p256|ed25519|rsa2048; ver: 1.3|1.2; cipher: NULL, aes128gcm, chacha20 */
static world *get_world(const char *kt, const char *ver, const char *cipher)
{
	char key[64], ca[512], sc[512], sk[512], cc[512], ck[512];
	char base[128] = "NORMAL";
	world *w;
	int rc;

	snprintf(key, sizeof(key), "%s/%s/%s", kt, ver, cipher ? cipher : "-");
	for (int i = 0; i < nworlds; i++)
		if (strcmp(worlds[i].key, key) == 0)
			return &worlds[i];
	if (nworlds == (int)(sizeof(worlds) / sizeof(worlds[0]))) {
		fail("too many worlds");
		return NULL;
	}
	if (strcmp(ver, "1.3") && strcmp(ver, "1.2")) {
		fail("version %s", ver);
		return NULL;
	}
	w = &worlds[nworlds];
	memset(w, 0, sizeof(*w));
	snprintf(w->key, sizeof(w->key), "%s", key);
	if (cipher && strcmp(cipher, "aes128gcm") == 0) {
		snprintf(base, sizeof(base), "NORMAL:-CIPHER-ALL:+AES-128-GCM");
		w->cipher_want = "AES_128_GCM";
	} else if (cipher && strcmp(cipher, "chacha20") == 0) {
		snprintf(base, sizeof(base), "NORMAL:-CIPHER-ALL:+CHACHA20-POLY1305");
		w->cipher_want = "CHACHA20";
	} else if (cipher) {
		fail("cipher %s", cipher);
		return NULL;
	}
	/* exactly the string mutls builds from priority= and versions= */
	snprintf(w->prio, sizeof(w->prio), "%s:-VERS-ALL:+VERS-TLS%s", base, ver);
	path(ca, sizeof(ca), kt, "ca.pem");
	path(sc, sizeof(sc), kt, "server.pem");
	path(sk, sizeof(sk), kt, "server.key");
	path(cc, sizeof(cc), kt, "client.pem");
	path(ck, sizeof(ck), kt, "client.key");
	if (raw_mode) {
		gnutls_certificate_allocate_credentials(&w->ccred);
		gnutls_certificate_allocate_credentials(&w->scred);
		if ((rc = gnutls_certificate_set_x509_trust_file(w->ccred, ca, GNUTLS_X509_FMT_PEM)) < 1 ||
		    (rc = gnutls_certificate_set_x509_trust_file(w->scred, ca, GNUTLS_X509_FMT_PEM)) < 1) {
			fail("raw trust %s: %s", ca, gnutls_strerror(rc));
			return NULL;
		}
		if ((rc = gnutls_certificate_set_x509_key_file(w->scred, sc, sk, GNUTLS_X509_FMT_PEM)) < 0 ||
		    (rc = gnutls_certificate_set_x509_key_file(w->ccred, cc, ck, GNUTLS_X509_FMT_PEM)) < 0) {
			fail("raw key: %s", gnutls_strerror(rc));
			return NULL;
		}
		if ((rc = gnutls_priority_init(&w->prio_c, w->prio, NULL)) < 0) {
			fail("raw priority %s: %s", w->prio, gnutls_strerror(rc));
			return NULL;
		}
		gnutls_session_ticket_key_generate(&w->ticket_key);
	} else {
		const char *versions[] = { ver };
		mutls_config *cfgs[2];
		if (mutls_config_new(&w->ccfg) < 0 || mutls_config_new(&w->scfg) < 0 ||
		    mutls_config_set_identity(w->ccfg, cc, ck, NULL) < 0 ||
		    mutls_config_set_identity(w->scfg, sc, sk, NULL) < 0) {
			fail("mutls config: %s", mutls_msg(NULL));
			return NULL;
		}
		cfgs[0] = w->ccfg;
		cfgs[1] = w->scfg;
		for (int i = 0; i < 2; i++) {
			if (mutls_config_add_trust(cfgs[i], ca) < 0 ||
			    mutls_config_set_versions(cfgs[i], versions, 1) < 0 ||
			    (cipher && mutls_config_set_priority(cfgs[i], base) < 0)) {
				fail("mutls config: %s", mutls_msg(NULL));
				return NULL;
			}
		}
	}
	nworlds++;
	return w;
}

/* ---- raw GnuTLS: sessions over memory pipes or sockets ----------------- */

typedef struct { unsigned char *buf; size_t cap, len, pos; } pipe_t;
typedef struct { pipe_t *in, *out; gnutls_session_t s; } end_t;

static void pipe_reset(pipe_t *p)
{
	if (!p->buf) {
		p->cap = 1 << 18;
		p->buf = malloc(p->cap);
	}
	p->len = p->pos = 0;
}

static ssize_t raw_push(gnutls_transport_ptr_t ptr, const void *data, size_t len)
{
	end_t *e = ptr;
	pipe_t *o = e->out;
	if (o->len + len > o->cap) {
		memmove(o->buf, o->buf + o->pos, o->len - o->pos);
		o->len -= o->pos;
		o->pos = 0;
		if (o->len + len > o->cap) {
			gnutls_transport_set_errno(e->s, ENOBUFS);
			return -1;
		}
	}
	memcpy(o->buf + o->len, data, len);
	o->len += len;
	return (ssize_t)len;
}

static ssize_t raw_pull(gnutls_transport_ptr_t ptr, void *data, size_t len)
{
	end_t *e = ptr;
	pipe_t *i = e->in;
	size_t avail = i->len - i->pos;
	if (!avail) {
		gnutls_transport_set_errno(e->s, EAGAIN);
		return -1;
	}
	if (len > avail)
		len = avail;
	memcpy(data, i->buf + i->pos, len);
	i->pos += len;
	if (i->pos == i->len)
		i->pos = i->len = 0;
	return (ssize_t)len;
}

static const gnutls_typed_vdata_st client_checks[] = {
	{ GNUTLS_DT_DNS_HOSTNAME, (unsigned char *)HOST, 0 },
	{ GNUTLS_DT_KEY_PURPOSE_OID, (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER, 0 },
};
static const gnutls_typed_vdata_st server_checks[] = {
	{ GNUTLS_DT_KEY_PURPOSE_OID, (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, 0 },
};

/* The same setup as mutls makes: client certificate required, tickets,
 * SNI, and verification of the peer inside the handshake (auto-verify
 * fails the handshake on any refusal). fd < 0: memory pipes (end). */
static int raw_init(gnutls_session_t *out, world *w, int server, int fd, end_t *end, int nonblock)
{
	gnutls_session_t s;
	unsigned flags = (server ? GNUTLS_SERVER : GNUTLS_CLIENT | GNUTLS_FORCE_CLIENT_CERT) | GNUTLS_NO_SIGNAL;
	int rc;
	if (nonblock)
		flags |= GNUTLS_NONBLOCK;
	if ((rc = gnutls_init(&s, flags)) < 0)
		return fail("gnutls_init: %s", gnutls_strerror(rc));
	gnutls_priority_set(s, w->prio_c);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, server ? w->scred : w->ccred);
	if (server) {
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
		gnutls_session_ticket_enable_server(s, &w->ticket_key);
		gnutls_session_set_verify_cert2(s, (gnutls_typed_vdata_st *)server_checks, 1, 0);
	} else {
		gnutls_server_name_set(s, GNUTLS_NAME_DNS, HOST, strlen(HOST));
		gnutls_session_set_verify_cert2(s, (gnutls_typed_vdata_st *)client_checks, 2, 0);
	}
	gnutls_handshake_set_timeout(s, 0);
	if (fd >= 0) {
		gnutls_transport_set_int(s, fd);
	} else {
		end->s = s;
		gnutls_transport_set_ptr(s, end);
		gnutls_transport_set_push_function(s, raw_push);
		gnutls_transport_set_pull_function(s, raw_pull);
	}
	*out = s;
	return 0;
}

/* Both ends presented a certificate (verification itself is in the
 * handshake: it cannot succeed without it). */
static int raw_check(gnutls_session_t c, gnutls_session_t s, world *w)
{
	unsigned n = 0, m = 0;
	if (c && (!gnutls_certificate_get_peers(c, &n) || n == 0))
		return fail("raw: the client has no server certificate");
	if (s && (!gnutls_certificate_get_peers(s, &m) || m == 0))
		return fail("raw: the server has no client certificate");
	if (w->cipher_want) {
		const char *suite = gnutls_ciphersuite_get(c ? c : s);
		if (!suite || !strstr(suite, w->cipher_want))
			return fail("raw: negotiated %s, wanted %s", suite ? suite : "?", w->cipher_want);
	}
	return 0;
}

static pipe_t c2s, s2c;

/* A client/server pair in memory; data = session data to resume from. */
static int raw_pair(gnutls_session_t *oc, gnutls_session_t *os, world *w,
	const gnutls_datum_t *data, end_t *ce, end_t *se)
{
	int crc = GNUTLS_E_AGAIN, src = GNUTLS_E_AGAIN;
	pipe_reset(&c2s);
	pipe_reset(&s2c);
	ce->in = &s2c; ce->out = &c2s;
	se->in = &c2s; se->out = &s2c;
	if (raw_init(oc, w, 0, -1, ce, 1) < 0 || raw_init(os, w, 1, -1, se, 1) < 0)
		return -1;
	if (data && gnutls_session_set_data(*oc, data->data, data->size) < 0)
		return fail("raw: set_data");
	for (int i = 0; i < 30 && (crc || src); i++) {
		if (crc == GNUTLS_E_AGAIN || crc == GNUTLS_E_INTERRUPTED) crc = gnutls_handshake(*oc);
		if (src == GNUTLS_E_AGAIN || src == GNUTLS_E_INTERRUPTED) src = gnutls_handshake(*os);
	}
	if (crc || src)
		return fail("raw handshake: client %s, server %s", gnutls_strerror(crc), gnutls_strerror(src));
	return raw_check(*oc, *os, w);
}

/* ---- mutls: pairs in memory -------------------------------------------- */

static int mutls_pair(mutls_session **oc, mutls_session **os, world *w,
	const unsigned char *data, size_t data_len)
{
	mutls_session *c, *s;
	int crc = MUTLS_EWANTREAD, src = MUTLS_EWANTREAD;
	if (mutls_session_client(&c, w->ccfg, HOST, -1) < 0)
		return fail("mutls client: %s", mutls_msg(NULL));
	if (mutls_session_server(&s, w->scfg, -1) < 0)
		return fail("mutls server: %s", mutls_msg(NULL));
	*oc = c;
	*os = s;
	if (data && mutls_session_set_data(c, data, data_len) < 0)
		return fail("mutls set_data: %s", mutls_msg(NULL));
	for (int i = 0; i < 30 && (crc || src); i++) {
		const unsigned char *d;
		size_t n;
		if (crc == MUTLS_EWANTREAD) crc = mutls_session_handshake(c);
		mutls_session_data_to_send(&d, &n, c);
		if (n) mutls_session_feed(s, d, n);
		if (src == MUTLS_EWANTREAD) src = mutls_session_handshake(s);
		mutls_session_data_to_send(&d, &n, s);
		if (n) mutls_session_feed(c, d, n);
	}
	if (crc)
		return fail("mutls client handshake: %s", mutls_msg(c));
	if (src)
		return fail("mutls server handshake: %s", mutls_msg(s));
	if (!mutls_session_verified(c) || !mutls_session_verified(s))
		return fail("mutls: a peer is not verified");
	if (w->cipher_want && !strstr(mutls_session_cipher(c), w->cipher_want))
		return fail("mutls: negotiated %s, wanted %s", mutls_session_cipher(c), w->cipher_want);
	return 0;
}

/* ---- in-memory loops ----------------------------------------------------- */

static int hs_mem(world *w, long n)
{
	for (long i = 0; i < n; i++) {
		if (raw_mode) {
			gnutls_session_t c = NULL, s = NULL;
			end_t ce, se;
			int rc = raw_pair(&c, &s, w, NULL, &ce, &se);
			if (c) gnutls_deinit(c);
			if (s) gnutls_deinit(s);
			if (rc < 0)
				return -1;
		} else {
			mutls_session *c = NULL, *s = NULL;
			int rc = mutls_pair(&c, &s, w, NULL, 0);
			mutls_session_free(c);
			mutls_session_free(s);
			if (rc < 0)
				return -1;
		}
	}
	return 0;
}

static int resume_mem(world *w, long n)
{
	int tls13 = strstr(w->key, "/1.3/") != NULL;
	if (raw_mode) {
		gnutls_session_t c = NULL, s = NULL;
		gnutls_datum_t data = { NULL, 0 };
		end_t ce, se;
		unsigned char byte;
		int rc = raw_pair(&c, &s, w, NULL, &ce, &se);
		if (rc == 0 && tls13) {
			/* the ticket comes after the handshake: read it */
			ssize_t r = gnutls_record_recv(c, &byte, 1);
			if (r != GNUTLS_E_AGAIN)
				rc = fail("raw: reading the ticket gave %zd", r);
			else if (!(gnutls_session_get_flags(c) & GNUTLS_SFLAGS_SESSION_TICKET))
				rc = fail("raw: no ticket");
		}
		if (rc == 0 && gnutls_session_get_data2(c, &data) < 0)
			rc = fail("raw: get_data");
		if (c) gnutls_deinit(c);
		if (s) gnutls_deinit(s);
		for (long i = 0; rc == 0 && i < n; i++) {
			c = s = NULL;
			rc = raw_pair(&c, &s, w, &data, &ce, &se);
			if (rc == 0 && (!gnutls_session_is_resumed(c) || !gnutls_session_is_resumed(s)))
				rc = fail("raw: not resumed");
			if (c) gnutls_deinit(c);
			if (s) gnutls_deinit(s);
		}
		gnutls_free(data.data);
		return rc;
	} else {
		mutls_session *c = NULL, *s = NULL;
		unsigned char *data = NULL, buf[16];
		size_t len = 0, got;
		int rc = mutls_pair(&c, &s, w, NULL, 0);
		if (rc == 0 && tls13 && mutls_session_recv(&got, c, buf, sizeof(buf)) != MUTLS_EWANTREAD)
			rc = fail("mutls: reading the ticket: %s", mutls_msg(c));
		if (rc == 0 && mutls_session_get_data(&data, &len, c) < 0)
			rc = fail("mutls get_data: %s", mutls_msg(NULL));
		mutls_session_free(c);
		mutls_session_free(s);
		for (long i = 0; rc == 0 && i < n; i++) {
			c = s = NULL;
			rc = mutls_pair(&c, &s, w, data, len);
			if (rc == 0 && (!mutls_session_resumed(c) || !mutls_session_resumed(s)))
				rc = fail("mutls: not resumed");
			mutls_session_free(c);
			mutls_session_free(s);
		}
		mutls_free(data);
		return rc;
	}
}

/* One way, SIZE-byte writes; the reader takes each batch (about 64 KiB of
 * writes) as it comes, like an application that knows how much to expect. */
static int bulk_mem(world *w, size_t size, long long total)
{
	static unsigned char wbuf[16384], rbuf[16384];
	int batch = (int)(65536 / size);
	long long moved = 0;
	int rc = 0;

	if (batch < 1) batch = 1;
	memset(wbuf, 'x', sizeof(wbuf));
	if (raw_mode) {
		gnutls_session_t c = NULL, s = NULL;
		end_t ce, se;
		if (raw_pair(&c, &s, w, NULL, &ce, &se) < 0)
			rc = -1;
		while (rc == 0 && moved < total) {
			size_t want = 0;
			for (int k = 0; k < batch && rc == 0; k++) {
				ssize_t r = gnutls_record_send(c, wbuf, size);
				if (r != (ssize_t)size)
					rc = fail("raw send: %zd", r);
				want += size;
			}
			while (rc == 0 && want) {
				ssize_t r = gnutls_record_recv(s, rbuf, sizeof(rbuf));
				if (r <= 0)
					rc = fail("raw recv: %s", gnutls_strerror((int)r));
				else
					want -= (size_t)r, moved += r;
			}
		}
		if (c) gnutls_deinit(c);
		if (s) gnutls_deinit(s);
	} else {
		mutls_session *c = NULL, *s = NULL;
		if (mutls_pair(&c, &s, w, NULL, 0) < 0)
			rc = -1;
		while (rc == 0 && moved < total) {
			size_t want = 0, n;
			const unsigned char *d;
			for (int k = 0; k < batch && rc == 0; k++) {
				if (mutls_session_send(&n, c, wbuf, size) < 0 || n != size)
					rc = fail("mutls send: %s", mutls_msg(c));
				want += size;
			}
			mutls_session_data_to_send(&d, &n, c);
			if (rc == 0 && mutls_session_feed(s, d, n) < 0)
				rc = fail("mutls feed: %s", mutls_msg(s));
			while (rc == 0 && want) {
				if (mutls_session_recv(&n, s, rbuf, sizeof(rbuf)) < 0 || n == 0)
					rc = fail("mutls recv: %s", mutls_msg(s));
				else
					want -= n, moved += (long long)n;
			}
		}
		mutls_session_free(c);
		mutls_session_free(s);
	}
	return rc;
}

/* ---- sockets --------------------------------------------------------------- */

static void nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int do_listen(int *port)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int one = 1;
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0)
		return fail("socket: %s", strerror(errno));
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(listen_fd, 1024) < 0 ||
	    getsockname(listen_fd, (struct sockaddr *)&a, &alen) < 0)
		return fail("bind/listen: %s", strerror(errno));
	*port = ntohs(a.sin_port);
	return 0;
}

static int do_accept(void)
{
	int fd;
	if (listen_fd < 0) {
		fail("no listening socket (send listen first)");
		return -1;
	}
	do
		fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		fail("accept: %s", strerror(errno));
		return -1;
	}
	nodelay(fd);
	return fd;
}

static int do_connect(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fail("socket: %s", strerror(errno));
		return -1;
	}
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((unsigned short)port);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		fail("connect to %d: %s", port, strerror(errno));
		close(fd);
		return -1;
	}
	nodelay(fd);
	return fd;
}

/* One TCP connection of either side, one implementation: a "conn". */
typedef struct {
	int fd;
	gnutls_session_t g;
	mutls_session *m;
} conn_t;

static void conn_free(conn_t *c)
{
	if (c->g) gnutls_deinit(c->g);
	mutls_session_free(c->m);
	if (c->fd >= 0) close(c->fd);
	c->g = NULL;
	c->m = NULL;
	c->fd = -1;
}

static int raw_handshake_blocking(gnutls_session_t g)
{
	int rc;
	do
		rc = gnutls_handshake(g);
	while (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED);
	return rc;
}

static int conn_send(conn_t *c, const void *data, size_t len)
{
	if (c->g) {
		const unsigned char *p = data;
		while (len) {
			ssize_t r = gnutls_record_send(c->g, p, len);
			if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
				continue;
			if (r < 0)
				return fail("raw send: %s", gnutls_strerror((int)r));
			p += r;
			len -= (size_t)r;
		}
		return 0;
	} else {
		size_t n;
		if (mutls_session_send(&n, c->m, data, len) < 0 || n != len)
			return fail("mutls send: %s", mutls_msg(c->m));
		return 0;
	}
}

/* > 0 bytes, or -1 (a failure, including a close) */
static ssize_t conn_recv(conn_t *c, void *buf, size_t cap)
{
	if (c->g) {
		ssize_t r;
		do
			r = gnutls_record_recv(c->g, buf, cap);
		while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
		if (r <= 0)
			return fail("raw recv: %s", r ? gnutls_strerror((int)r) : "closed");
		return r;
	} else {
		size_t n;
		if (mutls_session_recv(&n, c->m, buf, cap) < 0 || n == 0)
			return fail("mutls recv: %s", n ? "" : mutls_msg(c->m));
		return (ssize_t)n;
	}
}

/* Server side of one connection: accept, handshake, check the client. */
static int serve_one(conn_t *c, world *w)
{
	c->g = NULL;
	c->m = NULL;
	if ((c->fd = do_accept()) < 0)
		return -1;
	if (raw_mode) {
		int rc;
		if (raw_init(&c->g, w, 1, c->fd, NULL, 0) < 0)
			return -1;
		if ((rc = raw_handshake_blocking(c->g)) < 0)
			return fail("raw server handshake: %s", gnutls_strerror(rc));
		return raw_check(NULL, c->g, w);
	}
	if (mutls_session_server(&c->m, w->scfg, c->fd) < 0)
		return fail("mutls server: %s", mutls_msg(NULL));
	if (mutls_session_handshake(c->m) < 0)
		return fail("mutls server handshake: %s", mutls_msg(c->m));
	if (!mutls_session_verified(c->m))
		return fail("mutls server: client not verified");
	return 0;
}

/* Client side: connect, (resume from data), handshake, check the server. */
static int connect_one(conn_t *c, world *w, int port, const gnutls_datum_t *data)
{
	c->g = NULL;
	c->m = NULL;
	if ((c->fd = do_connect(port)) < 0)
		return -1;
	if (raw_mode) {
		int rc;
		if (raw_init(&c->g, w, 0, c->fd, NULL, 0) < 0)
			return -1;
		if (data && gnutls_session_set_data(c->g, data->data, data->size) < 0)
			return fail("raw set_data");
		if ((rc = raw_handshake_blocking(c->g)) < 0)
			return fail("raw client handshake: %s", gnutls_strerror(rc));
		if (raw_check(c->g, NULL, w) < 0)
			return -1;
		if (data && !gnutls_session_is_resumed(c->g))
			return fail("raw: not resumed");
		return 0;
	}
	if (mutls_session_client(&c->m, w->ccfg, HOST, c->fd) < 0)
		return fail("mutls client: %s", mutls_msg(NULL));
	if (data && mutls_session_set_data(c->m, data->data, data->size) < 0)
		return fail("mutls set_data: %s", mutls_msg(NULL));
	if (mutls_session_handshake(c->m) < 0)
		return fail("mutls client handshake: %s", mutls_msg(c->m));
	if (!mutls_session_verified(c->m))
		return fail("mutls client: server not verified");
	if (w->cipher_want && !strstr(mutls_session_cipher(c->m), w->cipher_want))
		return fail("mutls: negotiated %s", mutls_session_cipher(c->m));
	if (data && !mutls_session_resumed(c->m))
		return fail("mutls: not resumed");
	return 0;
}

/* Server: n connections; each handshake verified, then one byte "k" that
 * tells the client the server accepted it, then close. */
static int hs_serve(world *w, long n)
{
	for (long i = 0; i < n; i++) {
		conn_t c = { -1, NULL, NULL };
		int rc = serve_one(&c, w);
		if (rc == 0)
			rc = conn_send(&c, "k", 1);
		conn_free(&c);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int get_session_data(conn_t *c, gnutls_datum_t *out)
{
	if (c->g) {
		gnutls_datum_t d;
		if (gnutls_session_get_data2(c->g, &d) < 0)
			return fail("raw get_data");
		out->data = malloc(d.size);
		memcpy(out->data, d.data, d.size);
		out->size = d.size;
		gnutls_free(d.data);
		return 0;
	} else {
		unsigned char *d;
		size_t len;
		if (mutls_session_get_data(&d, &len, c->m) < 0)
			return fail("mutls get_data: %s", mutls_msg(NULL));
		out->data = malloc(len);
		memcpy(out->data, d, len);
		out->size = (unsigned)len;
		mutls_free(d);
		return 0;
	}
}

/* Client: n connections (resume: one full one first, then n resumed). */
static int hs_client(world *w, long n, int port, int resume)
{
	gnutls_datum_t data = { NULL, 0 };
	int rc = 0;
	for (long i = 0; rc == 0 && i < n + (resume ? 1 : 0); i++) {
		conn_t c = { -1, NULL, NULL };
		char k;
		rc = connect_one(&c, w, port, resume && i ? &data : NULL);
		if (rc == 0 && (conn_recv(&c, &k, 1) != 1 || k != 'k'))
			rc = fail("no acknowledgement from the server");
		if (rc == 0 && resume && i == 0)
			rc = get_session_data(&c, &data);
		conn_free(&c);
	}
	free(data.data);
	return rc;
}

static int bulk_serve(world *w, long long total)
{
	static unsigned char buf[16384];
	conn_t c = { -1, NULL, NULL };
	long long got = 0;
	int rc = serve_one(&c, w);
	while (rc == 0 && got < total) {
		ssize_t r = conn_recv(&c, buf, sizeof(buf));
		if (r < 0)
			rc = -1;
		else
			got += r;
	}
	if (rc == 0)
		rc = conn_send(&c, "k", 1);
	conn_free(&c);
	return rc;
}

static double bulk_elapsed;

static int bulk_client(world *w, size_t size, long long total, int port)
{
	static unsigned char buf[16384];
	conn_t c = { -1, NULL, NULL };
	long long sent = 0;
	double t0;
	char k;
	int rc = connect_one(&c, w, port, NULL);
	memset(buf, 'x', sizeof(buf));
	t0 = now();
	while (rc == 0 && sent < total) {
		size_t len = (size_t)(total - sent) < size ? (size_t)(total - sent) : size;
		rc = conn_send(&c, buf, len);
		sent += (long long)len;
	}
	if (rc == 0 && (conn_recv(&c, &k, 1) != 1 || k != 'k'))
		rc = fail("no acknowledgement from the receiver");
	bulk_elapsed = now() - t0;
	conn_free(&c);
	return rc;
}

/* ---- memory use of idle sessions ------------------------------------------- */

static long status_kib(const char *field)
{
	char line[256];
	long v = -1;
	size_t flen = strlen(field);
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, flen) == 0 && line[flen] == ':')
			v = atol(line + flen + 1);
	fclose(f);
	return v;
}

static void reset_peak(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");
	if (f) {
		fputs("5", f);
		fclose(f);
	}
}

static conn_t *held;
static long held_n;

static void release_held(void)
{
	for (long i = 0; i < held_n; i++)
		conn_free(&held[i]);
	free(held);
	held = NULL;
	held_n = 0;
}

/* server: one full connection (warm-up, closed), then n held */
static int rss_serve(world *w, long n, long *growth, long *base, long *peak)
{
	if (hs_serve(w, 1) < 0)
		return -1;
	held = calloc((size_t)n, sizeof(*held));
	*base = status_kib("VmRSS");
	reset_peak();
	for (long i = 0; i < n; i++) {
		held[i].fd = -1;
		held_n = i + 1;
		if (serve_one(&held[i], w) < 0 || conn_send(&held[i], "k", 1) < 0)
			return -1;
	}
	*peak = status_kib("VmHWM");
	*growth = *peak - *base;
	return 0;
}

static int rss_client(world *w, long n, int port)
{
	if (hs_client(w, 1, port, 0) < 0)
		return -1;
	held = calloc((size_t)n, sizeof(*held));
	for (long i = 0; i < n; i++) {
		char k;
		held[i].fd = -1;
		held_n = i + 1;
		if (connect_one(&held[i], w, port, NULL) < 0)
			return -1;
		if (conn_recv(&held[i], &k, 1) != 1)
			return -1;
	}
	return 0;
}

/* ---- test PKI: P-256 leaves --------------------------------------------------- */

typedef struct {
	gnutls_x509_crt_t crt;
	gnutls_privkey_t key;
	unsigned char key_id[64];
	size_t key_id_len;
} raw_ca;

static int raw_ca_make(raw_ca *ca)
{
	gnutls_x509_privkey_t k;
	time_t t = time(NULL);
	unsigned char serial[16];
	int rc;
	gnutls_x509_privkey_init(&k);
	if ((rc = gnutls_x509_privkey_generate2(k, GNUTLS_PK_ECDSA,
		GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0, NULL, 0)) < 0)
		return fail("ca key: %s", gnutls_strerror(rc));
	gnutls_x509_crt_init(&ca->crt);
	gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
	serial[0] &= 0x7f;
	gnutls_x509_crt_set_version(ca->crt, 3);
	gnutls_x509_crt_set_serial(ca->crt, serial, sizeof(serial));
	gnutls_x509_crt_set_activation_time(ca->crt, t - 3600);
	gnutls_x509_crt_set_expiration_time(ca->crt, t + 3650L * 86400);
	gnutls_x509_crt_set_key(ca->crt, k);
	gnutls_x509_crt_set_dn_by_oid(ca->crt, GNUTLS_OID_X520_COMMON_NAME, 0, "raw CA", 6);
	gnutls_x509_crt_set_basic_constraints(ca->crt, 1, -1);
	gnutls_x509_crt_set_key_usage(ca->crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN);
	ca->key_id_len = sizeof(ca->key_id);
	gnutls_x509_privkey_get_key_id(k, GNUTLS_KEYID_USE_SHA1, ca->key_id, &ca->key_id_len);
	gnutls_x509_crt_set_subject_key_id(ca->crt, ca->key_id, ca->key_id_len);
	if ((rc = gnutls_x509_crt_sign2(ca->crt, ca->crt, k, GNUTLS_DIG_SHA256, 0)) < 0)
		return fail("ca sign: %s", gnutls_strerror(rc));
	gnutls_privkey_init(&ca->key);
	gnutls_privkey_import_x509(ca->key, k, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE);
	return 0;
}

/* What a test PKI does per leaf: key, certificate, signature, PEM of both. */
static int raw_leaf(raw_ca *ca)
{
	static const char dns[] = "bench.example.internal";
	gnutls_x509_privkey_t k;
	gnutls_x509_crt_t crt;
	gnutls_datum_t cpem = { NULL, 0 }, kpem = { NULL, 0 };
	unsigned char serial[16], key_id[64];
	size_t key_id_len = sizeof(key_id);
	time_t t = time(NULL);
	int rc;

	gnutls_x509_privkey_init(&k);
	if ((rc = gnutls_x509_privkey_generate2(k, GNUTLS_PK_ECDSA,
		GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0, NULL, 0)) < 0)
		return fail("leaf key: %s", gnutls_strerror(rc));
	gnutls_x509_crt_init(&crt);
	gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
	serial[0] &= 0x7f;
	gnutls_x509_crt_set_version(crt, 3);
	gnutls_x509_crt_set_serial(crt, serial, sizeof(serial));
	gnutls_x509_crt_set_activation_time(crt, t - 3600);
	gnutls_x509_crt_set_expiration_time(crt, t + 365L * 86400);
	gnutls_x509_crt_set_key(crt, k);
	gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, dns, sizeof(dns) - 1, GNUTLS_FSAN_APPEND);
	gnutls_x509_crt_set_basic_constraints(crt, 0, -1);
	gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE);
	gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0);
	gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0);
	gnutls_x509_privkey_get_key_id(k, GNUTLS_KEYID_USE_SHA1, key_id, &key_id_len);
	gnutls_x509_crt_set_subject_key_id(crt, key_id, key_id_len);
	gnutls_x509_crt_set_authority_key_id(crt, ca->key_id, ca->key_id_len);
	if ((rc = gnutls_x509_crt_privkey_sign(crt, ca->crt, ca->key, GNUTLS_DIG_SHA256, 0)) < 0)
		return fail("leaf sign: %s", gnutls_strerror(rc));
	if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cpem) < 0 ||
	    gnutls_x509_privkey_export2_pkcs8(k, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &kpem) < 0)
		return fail("leaf export");
	gnutls_free(cpem.data);
	gnutls_free(kpem.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(k);
	return 0;
}

static int pki(long n)
{
	static const char *const dns[] = { "bench.example.internal" };
	if (raw_mode) {
		static raw_ca ca;
		static int made;
		if (!made && raw_ca_make(&ca) < 0)
			return -1;
		made = 1;
		for (long i = 0; i < n; i++)
			if (raw_leaf(&ca) < 0)
				return -1;
		return 0;
	} else {
		static mutls_testca *ca;
		mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
		if (!ca && mutls_testca_new(&ca, NULL) < 0)
			return fail("testca: %s", mutls_msg(NULL));
		o.dns = dns;
		o.dns_count = 1;
		for (long i = 0; i < n; i++) {
			mutls_identity *id;
			if (mutls_testca_issue(&id, ca, &o) < 0)
				return fail("issue: %s", mutls_msg(NULL));
			/* as the bindings do: the PEM texts are read */
			if (!mutls_identity_cert_pem(id) || !mutls_identity_key_pem(id))
				return fail("issue: no PEM");
			mutls_identity_free(id);
		}
		return 0;
	}
}

/* ---- the command loop ---------------------------------------------------------- */

#define MAXARGS 8

static double c0;

static void reply_ok_time(double t)
{
	printf("ok %.9f %.9f\n", t, cpu_now() - c0);
}

/* Runs one command; prints the reply. Returns 1 for quit. */
static int run_command(char *line)
{
	char *argv[MAXARGS];
	int argc = 0;
	double t0;
	int rc = 0;
	world *w = NULL;

	failure[0] = 0;
	c0 = cpu_now();
	for (char *tok = strtok(line, " \t\r\n"); tok && argc < MAXARGS; tok = strtok(NULL, " \t\r\n"))
		argv[argc++] = tok;
	if (argc == 0)
		return 0;
#define NEED(k) do { if (argc < (k)) { printf("err %s: needs %d arguments\n", argv[0], (k) - 1); return 0; } } while (0)
#define WORLD(kt, ver, cipher) do { if (!(w = get_world(kt, ver, cipher))) goto failed; } while (0)
	if (strcmp(argv[0], "quit") == 0) {
		release_held();
		printf("ok\n");
		return 1;
	} else if (strcmp(argv[0], "listen") == 0) {
		int port = 0;
		if (do_listen(&port) < 0)
			goto failed;
		printf("ok %d\n", port);
	} else if (strcmp(argv[0], "hs-mem") == 0 || strcmp(argv[0], "resume-mem") == 0) {
		NEED(4);
		WORLD(argv[1], argv[2], NULL);
		t0 = now();
		rc = argv[0][0] == 'h' ? hs_mem(w, atol(argv[3])) : resume_mem(w, atol(argv[3]));
		if (rc < 0)
			goto failed;
		reply_ok_time(now() - t0);
	} else if (strcmp(argv[0], "bulk-mem") == 0) {
		NEED(4);
		WORLD("p256", "1.3", argv[1]);
		t0 = now();
		if (bulk_mem(w, (size_t)atol(argv[2]), atoll(argv[3])) < 0)
			goto failed;
		reply_ok_time(now() - t0);
	} else if (strcmp(argv[0], "hs-serve") == 0 || strcmp(argv[0], "resume-serve") == 0) {
		NEED(4);
		WORLD(argv[1], argv[2], NULL);
		t0 = now();
		if (hs_serve(w, atol(argv[3])) < 0)
			goto failed;
		reply_ok_time(now() - t0);
	} else if (strcmp(argv[0], "hs-client") == 0 || strcmp(argv[0], "resume-client") == 0) {
		NEED(5);
		WORLD(argv[1], argv[2], NULL);
		t0 = now();
		if (hs_client(w, atol(argv[3]), atoi(argv[4]), argv[0][0] == 'r') < 0)
			goto failed;
		reply_ok_time(now() - t0);
	} else if (strcmp(argv[0], "bulk-serve") == 0) {
		NEED(4);
		WORLD("p256", "1.3", argv[1]);
		t0 = now();
		if (bulk_serve(w, atoll(argv[3])) < 0)
			goto failed;
		reply_ok_time(now() - t0);
	} else if (strcmp(argv[0], "bulk-client") == 0) {
		NEED(5);
		WORLD("p256", "1.3", argv[1]);
		if (bulk_client(w, (size_t)atol(argv[2]), atoll(argv[3]), atoi(argv[4])) < 0)
			goto failed;
		reply_ok_time(bulk_elapsed);
	} else if (strcmp(argv[0], "rss-serve") == 0) {
		long growth, base, peak;
		NEED(4);
		WORLD(argv[1], argv[2], NULL);
		if (rss_serve(w, atol(argv[3]), &growth, &base, &peak) < 0)
			goto failed;
		printf("ok %ld %ld %ld\n", growth, base, peak);
	} else if (strcmp(argv[0], "rss-client") == 0) {
		NEED(5);
		WORLD(argv[1], argv[2], NULL);
		if (rss_client(w, atol(argv[3]), atoi(argv[4])) < 0)
			goto failed;
		printf("ok\n");
	} else if (strcmp(argv[0], "pki") == 0) {
		NEED(2);
		t0 = now();
		if (pki(atol(argv[1])) < 0)
			goto failed;
		reply_ok_time(now() - t0);
	} else {
		printf("err unknown command %s\n", argv[0]);
	}
	fflush(stdout);
	return 0;
failed:
	printf("err %s\n", failure[0] ? failure : "failed");
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	char line[1024];

	if (argc < 3 || (strcmp(argv[1], "raw") && strcmp(argv[1], "mutls"))) {
		fprintf(stderr, "usage: %s raw|mutls PKI_DIR [COMMAND ARGS...]\n", argv[0]);
		return 2;
	}
	raw_mode = strcmp(argv[1], "raw") == 0;
	pki_dir = argv[2];
	gnutls_global_init();
	if (argc > 3) {
		/* one command from the arguments (callgrind runs) */
		size_t used = 0;
		line[0] = 0;
		for (int i = 3; i < argc; i++)
			used += (size_t)snprintf(line + used, sizeof(line) - used, "%s ", argv[i]);
		run_command(line);
		release_held();
		return strncmp(failure, "", 1) ? 1 : 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin))
		if (run_command(line))
			break;
	release_held();
	return 0;
}
