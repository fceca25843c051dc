/* No copy of a private key is left in released memory: loading a config's
 * identity from a key file (PEM, DER, encrypted) or from PEM text, and the
 * test PKI's issue/write/free. Every block the process frees in the window
 * is kept by freescan (tests/c/freescan.c) and searched afterwards for
 * pieces of the key's base64 text and of its private value.
 *
 * The password is not among them: GnuTLS (3.7.9, measured) normalizes it
 * for PKCS#8 in gnutls_utf8_password_normalize, through libunistring, and
 * frees those copies unwiped; mutls itself keeps none on the heap (the
 * callback's buffer is on the stack and wiped). */
#define _POSIX_C_SOURCE 200809L
#include "freescan.h"
#include "pair.h"

#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <sys/stat.h>
#include <unistd.h>

#define PASSWORD "correct-horse-battery-staple-42"

/* What to look for, kept on the stack (never released): three 16-byte
 * pieces of the base64 body past its fixed prefix and the private value's
 * last 16 bytes. */
typedef struct {
	unsigned char piece[4][16];
	const char *name[4];
	int count;
} key_marks;

static void mark(key_marks *m, const void *bytes, const char *name)
{
	memcpy(m->piece[m->count], bytes, 16);
	m->name[m->count++] = name;
}

static int b64(char c)
{
	const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = strchr(alphabet, c);
	return c && p ? (int)(p - alphabet) : -1;
}

/* Marks of a P-256 key's PKCS#8 PEM, decoded here (GnuTLS's PEM reader
 * would itself leave copies in the window): its private value is the
 * OCTET STRING at DER offset 36 (04 20, then 32 bytes). */
static void marks_of(key_marks *m, const char *key_pem)
{
	const char *body = strchr(key_pem, '\n') + 1, *line2 = strchr(body, '\n') + 1;
	unsigned char der[72];
	unsigned bits = 0, nbits = 0;
	size_t n = 0;

	memset(m, 0, sizeof(*m));
	CHECK(strlen(body) > 100);
	for (const char *p = body; n < sizeof(der); p++) {
		int v = b64(*p);
		if (*p == '\n')
			continue;
		CHECK(v >= 0);
		bits = (bits << 6) | (unsigned)v;
		nbits += 6;
		if (nbits >= 8) {
			nbits -= 8;
			der[n++] = (unsigned char)(bits >> nbits);
		}
	}
	CHECK(der[34] == 0x04 && der[35] == 0x20);
	/* line 1 ends in the private value (its first 48 characters are the
	 * same for every P-256 key); line 2 is all key-specific */
	mark(m, body + 48, "base64 line 1");
	mark(m, line2, "base64 line 2");
	mark(m, line2 + 24, "base64 line 2, later");
	mark(m, der + 52, "private value (DER)");
	memset(der, 0, sizeof(der));
}

/* Called through volatile pointers: a malloc/free pair the compiler can
 * see through would be optimised away. */
static void *(*volatile alloc_fn)(size_t) = malloc;
static void *(*volatile realloc_fn)(void *, size_t) = realloc;
static void (*volatile free_fn)(void *) = free;

/* Start the window, after checking that the scanner sees this build's
 * releases at all (else every check below would pass without looking). */
static void window_open(void)
{
	static const char canary[16] = "freescan-canary!";
	char *probe;
	CHECK(freescan_start() == 0);
	probe = alloc_fn(64);
	CHECK(probe != NULL);
	memcpy(probe + 8, canary, 16);
	free_fn(probe);
	CHECK(freescan_count(canary, 16) >= 1);
}

static void window_close_expect_clean(const key_marks *m)
{
	unsigned long released = freescan_stop();
	int dirty = 0;
	CHECK(released > 0);
	for (int i = 0; i < m->count; i++) {
		size_t n = freescan_count(m->piece[i], 16);
		if (n) {
			fprintf(stderr, "released memory holds the key's %s %zu time(s)\n", m->name[i], n);
			dirty = 1;
		}
	}
	fprintf(stderr, "looked into %lu released blocks\n", released);
	freescan_wipe();
	CHECK(!dirty);
}

static char dir[64];

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/mutls-keywipe-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
}

static void write_file(const char *name, const void *data, size_t len)
{
	char path[128];
	int fd;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, data, len) == (ssize_t)len);
	close(fd);
}

static void remove_dir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

static void load(const char *cert, const char *key, const char *password)
{
	mutls_config *cfg;
	CHECK_OK(mutls_config_new(&cfg));
	CHECK_OK(mutls_config_set_identity(cfg, cert, key, password));
	mutls_config_unref(cfg);
}

TEST(scanner_sees_released_blocks)
{
	static const char secret[16] = "0123456789abcdef";
	char *p;
	window_open();
	p = alloc_fn(300);
	CHECK(p != NULL);
	memcpy(p + 100, secret, 16);
	p = realloc_fn(p, 100000); /* the old block is released */
	CHECK(p != NULL);
	memset(p, 0, 100000);
	free_fn(p);
	freescan_stop();
	CHECK(freescan_count(secret, 16) == 1);
	freescan_wipe();
}

TEST(key_file_pem)
{
	test_pki pki;
	key_marks m;
	char cert[128], key[128];
	pki_make(&pki);
	make_dir();
	CHECK_OK(mutls_identity_write_to(pki.server_id, dir));
	marks_of(&m, mutls_identity_key_pem(pki.server_id));
	snprintf(cert, sizeof(cert), "%s/chain.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	window_open();
	load(cert, key, NULL);
	window_close_expect_clean(&m);
	remove_dir();
	pki_free(&pki);
}

TEST(key_file_der)
{
	test_pki pki;
	key_marks m;
	gnutls_datum_t der = { NULL, 0 };
	const char *pem;
	char key[128];
	pki_make(&pki);
	make_dir();
	pem = mutls_identity_key_pem(pki.server_id);
	{
		gnutls_datum_t in = { (unsigned char *)pem, (unsigned)strlen(pem) };
		CHECK(gnutls_pem_base64_decode2("PRIVATE KEY", &in, &der) == 0);
	}
	write_file("key.der", der.data, der.size);
	CHECK(memchr(der.data, 0, der.size) != NULL); /* a zero byte early on */
	gnutls_memset(der.data, 0, der.size);
	gnutls_free(der.data);
	marks_of(&m, pem);
	snprintf(key, sizeof(key), "%s/key.der", dir);
	window_open();
	load(mutls_identity_chain_pem(pki.server_id), key, NULL);
	window_close_expect_clean(&m);
	remove_dir();
	pki_free(&pki);
}

TEST(key_pem_text)
{
	test_pki pki;
	key_marks m;
	pki_make(&pki);
	marks_of(&m, mutls_identity_key_pem(pki.server_id));
	window_open();
	load(mutls_identity_chain_pem(pki.server_id), mutls_identity_key_pem(pki.server_id), NULL);
	window_close_expect_clean(&m);
	pki_free(&pki);
}

TEST(key_and_certificate_in_one_file)
{
	test_pki pki;
	key_marks m;
	char path[128], *both;
	const char *chain, *key;
	pki_make(&pki);
	make_dir();
	chain = mutls_identity_chain_pem(pki.server_id);
	key = mutls_identity_key_pem(pki.server_id);
	both = malloc(strlen(chain) + strlen(key) + 1);
	CHECK(both != NULL);
	strcpy(both, chain);
	strcat(both, key);
	write_file("both.pem", both, strlen(both));
	gnutls_memset(both, 0, strlen(both));
	free(both);
	marks_of(&m, key);
	snprintf(path, sizeof(path), "%s/both.pem", dir);
	window_open();
	load(path, NULL, NULL);
	window_close_expect_clean(&m);
	remove_dir();
	pki_free(&pki);
}

static int give_password(char *buf, size_t cap, const char *what, void *payload)
{
	(void)what;
	(void)payload;
	snprintf(buf, cap, "%s", PASSWORD);
	return 0;
}

TEST(encrypted_key_file_with_password)
{
	test_pki pki;
	key_marks m;
	char *enc = NULL, key[128];
	mutls_config *cfg;
	pki_make(&pki);
	make_dir();
	CHECK_OK(mutls_identity_encrypted_key_pem(&enc, pki.server_id, PASSWORD));
	write_file("key.pem", enc, strlen(enc));
	mutls_free(enc);
	marks_of(&m, mutls_identity_key_pem(pki.server_id));
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	window_open();
	load(mutls_identity_chain_pem(pki.server_id), key, PASSWORD);
	CHECK_OK(mutls_config_new(&cfg));
	CHECK_OK(mutls_config_set_password_callback(cfg, give_password, NULL));
	CHECK_OK(mutls_config_set_identity(cfg, mutls_identity_chain_pem(pki.server_id), key, NULL));
	mutls_config_unref(cfg);
	window_close_expect_clean(&m);
	remove_dir();
	pki_free(&pki);
}

/* The key is made inside the window: its marks are taken there (into this
 * stack frame) before the identity is freed. */
TEST(testca_issue_write_and_free)
{
	mutls_testca *ca;
	mutls_identity *id;
	mutls_issue_options opts = MUTLS_ISSUE_OPTIONS_INIT;
	key_marks m;
	const char *dns[] = { "orders.internal" };

	make_dir();
	window_open();
	CHECK_OK(mutls_testca_new(&ca, NULL));
	opts.dns = dns;
	opts.dns_count = 1;
	CHECK_OK(mutls_testca_issue(&id, ca, &opts));
	marks_of(&m, mutls_identity_key_pem(id));
	CHECK_OK(mutls_identity_write_to(id, dir));
	mutls_identity_free(id);
	mutls_testca_free(ca);
	window_close_expect_clean(&m);
	remove_dir();
}
