/* Full mutual-TLS handshakes per second in memory (client and server in one
 * process), raw GnuTLS against mutls, in the same run; and one-way bulk
 * throughput. Every handshake must verify both peers: a failure aborts.
 *
 *   bench_handshake [seconds-per-row]   (default 2)
 */
#include "mutls.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_handshake: %s failed: %d (%s)\n", what, rc,
		rc < 0 && rc > -100 && mutls_error_last() ? mutls_error_message(mutls_error_last()) : gnutls_strerror(rc));
	exit(1);
}

/* ---- raw GnuTLS over memory buffers ---------------------------------- */

typedef struct { unsigned char buf[1 << 17]; size_t len, pos; } pipe_t;

typedef struct { pipe_t *in, *out; gnutls_session_t s; } end_t;

static ssize_t raw_push(gnutls_transport_ptr_t p, const void *data, size_t len)
{
	end_t *e = p;
	if (e->out->len + len > sizeof(e->out->buf)) {
		memmove(e->out->buf, e->out->buf + e->out->pos, e->out->len - e->out->pos);
		e->out->len -= e->out->pos;
		e->out->pos = 0;
	}
	memcpy(e->out->buf + e->out->len, data, len);
	e->out->len += len;
	return (ssize_t)len;
}

static ssize_t raw_pull(gnutls_transport_ptr_t p, void *data, size_t len)
{
	end_t *e = p;
	size_t avail = e->in->len - e->in->pos;
	if (!avail) {
		gnutls_transport_set_errno(e->s, EAGAIN);
		return -1;
	}
	if (len > avail)
		len = avail;
	memcpy(data, e->in->buf + e->in->pos, len);
	e->in->pos += len;
	if (e->in->pos == e->in->len)
		e->in->pos = e->in->len = 0;
	return (ssize_t)len;
}

typedef struct {
	gnutls_certificate_credentials_t ccred, scred;
	gnutls_priority_t prio;
	gnutls_datum_t ticket_key;
} raw_world;

static void raw_world_make(raw_world *w, mutls_testca *ca, mutls_identity *sid, mutls_identity *cid, const char *prio)
{
	gnutls_datum_t ca_pem = { (unsigned char *)mutls_testca_cert_pem(ca), (unsigned)strlen(mutls_testca_cert_pem(ca)) };
	gnutls_datum_t sc = { (unsigned char *)mutls_identity_chain_pem(sid), (unsigned)strlen(mutls_identity_chain_pem(sid)) };
	gnutls_datum_t sk = { (unsigned char *)mutls_identity_key_pem(sid), (unsigned)strlen(mutls_identity_key_pem(sid)) };
	gnutls_datum_t cc = { (unsigned char *)mutls_identity_chain_pem(cid), (unsigned)strlen(mutls_identity_chain_pem(cid)) };
	gnutls_datum_t ck = { (unsigned char *)mutls_identity_key_pem(cid), (unsigned)strlen(mutls_identity_key_pem(cid)) };
	int rc;
	gnutls_certificate_allocate_credentials(&w->ccred);
	gnutls_certificate_allocate_credentials(&w->scred);
	if ((rc = gnutls_certificate_set_x509_trust_mem(w->ccred, &ca_pem, GNUTLS_X509_FMT_PEM)) < 1 ||
	    (rc = gnutls_certificate_set_x509_trust_mem(w->scred, &ca_pem, GNUTLS_X509_FMT_PEM)) < 1)
		die("raw trust", rc);
	if ((rc = gnutls_certificate_set_x509_key_mem(w->scred, &sc, &sk, GNUTLS_X509_FMT_PEM)) < 0 ||
	    (rc = gnutls_certificate_set_x509_key_mem(w->ccred, &cc, &ck, GNUTLS_X509_FMT_PEM)) < 0)
		die("raw key", rc);
	if ((rc = gnutls_priority_init(&w->prio, prio, NULL)) < 0)
		die("raw priority", rc);
	gnutls_session_ticket_key_generate(&w->ticket_key);
}

static void raw_world_free(raw_world *w)
{
	gnutls_certificate_free_credentials(w->ccred);
	gnutls_certificate_free_credentials(w->scred);
	gnutls_priority_deinit(w->prio);
	gnutls_free(w->ticket_key.data);
}

static int raw_handshake(raw_world *w)
{
	static pipe_t c2s, s2c;
	end_t c = { &s2c, &c2s, NULL }, s = { &c2s, &s2c, NULL };
	gnutls_typed_vdata_st cpurpose = { GNUTLS_DT_KEY_PURPOSE_OID, (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, 0 };
	int crc = GNUTLS_E_AGAIN, src = GNUTLS_E_AGAIN, ok;

	c2s.len = c2s.pos = s2c.len = s2c.pos = 0;
	gnutls_init(&c.s, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_FORCE_CLIENT_CERT);
	gnutls_init(&s.s, GNUTLS_SERVER | GNUTLS_NONBLOCK);
	gnutls_priority_set(c.s, w->prio);
	gnutls_priority_set(s.s, w->prio);
	gnutls_credentials_set(c.s, GNUTLS_CRD_CERTIFICATE, w->ccred);
	gnutls_credentials_set(s.s, GNUTLS_CRD_CERTIFICATE, w->scred);
	gnutls_certificate_server_set_request(s.s, GNUTLS_CERT_REQUIRE);
	gnutls_session_ticket_enable_server(s.s, &w->ticket_key);
	gnutls_server_name_set(c.s, GNUTLS_NAME_DNS, "orders.internal", 15);
	/* the client checks the name (and server purpose), the server the
	 * client's purpose: the same checks mutls makes */
	gnutls_session_set_verify_cert(c.s, "orders.internal", 0);
	gnutls_session_set_verify_cert2(s.s, &cpurpose, 1, 0);
	gnutls_transport_set_ptr(c.s, &c);
	gnutls_transport_set_ptr(s.s, &s);
	gnutls_transport_set_push_function(c.s, raw_push);
	gnutls_transport_set_push_function(s.s, raw_push);
	gnutls_transport_set_pull_function(c.s, raw_pull);
	gnutls_transport_set_pull_function(s.s, raw_pull);
	for (int i = 0; i < 20 && (crc || src); i++) {
		if (crc == GNUTLS_E_AGAIN) crc = gnutls_handshake(c.s);
		if (src == GNUTLS_E_AGAIN) src = gnutls_handshake(s.s);
	}
	/* set_verify_cert fails the handshake on any refusal: done == verified */
	ok = crc == 0 && src == 0;
	if (!ok)
		die("raw handshake", crc ? crc : src);
	gnutls_deinit(c.s);
	gnutls_deinit(s.s);
	return ok;
}

/* ---- mutls ------------------------------------------------------------ */

static void mutls_handshake_once(mutls_config *ccfg, mutls_config *scfg)
{
	mutls_session *c, *s;
	int crc = MUTLS_EWANTREAD, src = MUTLS_EWANTREAD;
	int rc;
	if ((rc = mutls_session_client(&c, ccfg, "orders.internal", -1)) < 0 ||
	    (rc = mutls_session_server(&s, scfg, -1)) < 0)
		die("mutls session", rc);
	for (int i = 0; i < 20 && (crc || src); i++) {
		const unsigned char *d;
		size_t n;
		if (crc == MUTLS_EWANTREAD) crc = mutls_session_handshake(c);
		mutls_session_data_to_send(&d, &n, c);
		if (n) mutls_session_feed(s, d, n);
		if (src == MUTLS_EWANTREAD) src = mutls_session_handshake(s);
		mutls_session_data_to_send(&d, &n, s);
		if (n) mutls_session_feed(c, d, n);
	}
	if (crc || src || !mutls_session_verified(c) || !mutls_session_verified(s))
		die("mutls handshake", crc ? crc : src);
	mutls_session_free(c);
	mutls_session_free(s);
}

static double run_for(double seconds, void (*fn)(void *), void *arg, long *count)
{
	double t0 = now(), t;
	long n = 0;
	do {
		fn(arg);
		n++;
		t = now();
	} while (t - t0 < seconds);
	*count = n;
	return n / (t - t0);
}

typedef struct { raw_world *raw; mutls_config *ccfg, *scfg; } ctx_t;
static void raw_fn(void *p) { raw_handshake(((ctx_t *)p)->raw); }
static void mutls_fn(void *p) { mutls_handshake_once(((ctx_t *)p)->ccfg, ((ctx_t *)p)->scfg); }

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void row(const char *name, mutls_key_type kt, const char *version, double seconds, int reps)
{
	mutls_testca_options co = MUTLS_TESTCA_OPTIONS_INIT;
	mutls_issue_options o = MUTLS_ISSUE_OPTIONS_INIT;
	const char *dns = "orders.internal";
	const char *versions[] = { version };
	mutls_testca *ca;
	mutls_identity *sid, *cid;
	raw_world raw;
	ctx_t ctx;
	double r[16], m[16];
	long n;
	char prio[128];

	co.key_type = kt;
	if (mutls_testca_new(&ca, &co) < 0) die("testca", -1);
	o.dns = &dns;
	o.dns_count = 1;
	o.key_type = kt;
	o.purpose = MUTLS_PURPOSE_SERVER;
	if (mutls_testca_issue(&sid, ca, &o) < 0) die("issue", -1);
	o.dns_count = 0;
	o.cn = "payments";
	o.purpose = MUTLS_PURPOSE_CLIENT;
	if (mutls_testca_issue(&cid, ca, &o) < 0) die("issue", -1);
	snprintf(prio, sizeof(prio), "NORMAL:-VERS-ALL:+VERS-TLS%s", version);
	raw_world_make(&raw, ca, sid, cid, prio);
	mutls_config_new(&ctx.ccfg);
	mutls_config_new(&ctx.scfg);
	mutls_config_set_identity_object(ctx.ccfg, cid);
	mutls_config_set_identity_object(ctx.scfg, sid);
	mutls_config_add_trust(ctx.ccfg, mutls_testca_cert_pem(ca));
	mutls_config_add_trust(ctx.scfg, mutls_testca_cert_pem(ca));
	mutls_config_set_versions(ctx.ccfg, versions, 1);
	mutls_config_set_versions(ctx.scfg, versions, 1);
	ctx.raw = &raw;
	/* interleave the two so that machine noise hits both alike */
	for (int i = 0; i < reps; i++) {
		r[i] = run_for(seconds, raw_fn, &ctx, &n);
		m[i] = run_for(seconds, mutls_fn, &ctx, &n);
	}
	qsort(r, (size_t)reps, sizeof(double), cmp_double);
	qsort(m, (size_t)reps, sizeof(double), cmp_double);
	printf("| %-28s | %8.0f | %8.0f | %5.3f |\n", name, r[reps / 2], m[reps / 2], m[reps / 2] / r[reps / 2]);
	fflush(stdout);
	raw_world_free(&raw);
	mutls_config_unref(ctx.ccfg);
	mutls_config_unref(ctx.scfg);
	mutls_identity_free(sid);
	mutls_identity_free(cid);
	mutls_testca_free(ca);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 2.0;
	int reps = 5;
	printf("full mTLS handshakes per second, in memory, median of %d runs of %.1f s each\n\n", reps, seconds);
	printf("| %-28s | %8s | %8s | %5s |\n", "case", "GnuTLS", "mutls C", "ratio");
	printf("|------------------------------|----------|----------|-------|\n");
	row("TLS 1.3, ECDSA P-256", MUTLS_KEY_P256, "1.3", seconds, reps);
	row("TLS 1.3, Ed25519", MUTLS_KEY_ED25519, "1.3", seconds, reps);
	row("TLS 1.2, ECDSA P-256", MUTLS_KEY_P256, "1.2", seconds, reps);
	return 0;
}
