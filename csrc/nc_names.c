/* Name constraints read on their DER: their form, the two kinds of name
 * GnuTLS reads but does not enforce, and IP addresses where GnuTLS
 * enforces too little.
 *
 * GnuTLS (3.7 and 3.8) checks the leaf's DNS, email and IP names against
 * the path's constraints. A permitted uniformResourceIdentifier or
 * directoryName subtree binds nothing there (it refuses a leaf only for an
 * excluded subtree of those kinds, whatever its names), so a CA limited to
 * URIs under corp.example could issue spiffe://evil.example/... (and a
 * `uri:` peer pattern would take it). Permitted iPAddress subtrees bind only
 * addresses of their own length, so a CA limited to 10.0.0.0/8 could issue
 * 2001:db8::1. mutls checks these here, for the leaf and for every CA
 * below the constraining one (RFC 5280 4.2.1.10, 6.1.3 (b) and (c)); the
 * caller skips self-issued CAs. */
#include "verify.h"
#include "der.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define TAG_PERMITTED 0xa0
#define TAG_EXCLUDED 0xa1
#define TAG_OTHER_NAME 0xa0
#define TAG_RFC822 0x81
#define TAG_URI 0x86
#define TAG_DIRECTORY_NAME 0xa4
#define TAG_IP 0x87
/* the bytes compared for one path, at most (a few milliseconds) */
#define NC_MAX_WORK (1L << 22)

/* ---- form ------------------------------------------------------------------ */

/* A host name: LDH labels of 1 to 63 characters, 253 in all. */
static int host_ok(const unsigned char *s, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			     c == '-') || ++label > 63) {
			return 0;
		}
	}
	return label > 0;
}

/* RFC 5280 4.2.1.10's three forms of an email constraint: a mailbox
 * (local@host), a host (example.com), or the hosts below a domain
 * (.example.com). Nothing else, so no constraint is read two ways:
 * "@example.com" is a mailbox that matches nothing to GnuTLS, and the
 * host example.com to OpenSSL. */
static int email_base_ok(const mutls_der_in *content)
{
	const unsigned char *c = content->p, *at;
	size_t n = (size_t)(content->end - content->p);

	if (n == 0)
		return 0;
	at = memchr(c, '@', n);
	if (!at)
		return c[0] == '.' ? host_ok(c + 1, n - 1) : host_ok(c, n);
	if (at == c)
		return 0;
	for (const unsigned char *q = c; q < at; q++)
		if (*q <= ' ' || *q >= 0x7f)
			return 0;
	return host_ok(at + 1, n - (size_t)(at - c) - 1); /* a second '@' is no host */
}

/* A GeneralName as a subtree's base: a known tag, and the inner form of
 * the kinds whose content has one. */
static int base_ok(unsigned char tag, const mutls_der_in *content)
{
	mutls_der_in in = *content, part;
	unsigned char t;

	switch (tag) {
	case TAG_OTHER_NAME: /* type-id OID, [0] EXPLICIT value */
		return mutls__der_next(&in, &t, &part) == 0 && t == 0x06 && part.p < part.end &&
			mutls__der_next(&in, &t, &part) == 0 && t == 0xa0 && in.p == in.end;
	case TAG_DIRECTORY_NAME: /* one Name */
		return mutls__der_next(&in, &t, &part) == 0 && t == 0x30 && in.p == in.end;
	case TAG_IP: /* address and mask */
		return content->end - content->p == 8 || content->end - content->p == 32;
	case TAG_RFC822:
		return email_base_ok(content);
	case 0x82: case 0xa3: case 0xa5: case TAG_URI: case 0x88:
		return 1;
	default:
		return 0;
	}
}

long mutls__nc_subtree_count(const gnutls_datum_t *v)
{
	mutls_der_in in = { v->data, v->data + v->size }, seq, list, subtree, base, extra;
	unsigned char tag, last = 0;
	long count = 0;

	if (mutls__der_next(&in, &tag, &seq) < 0 || tag != 0x30 || in.p != in.end)
		return -1;
	while (seq.p < seq.end) {
		long here = 0;
		unsigned char which;
		/* [0] permittedSubtrees then [1] excludedSubtrees, each at most once */
		if (mutls__der_next(&seq, &which, &list) < 0 || (which != TAG_PERMITTED &&
		    which != TAG_EXCLUDED) || which <= last)
			return -1;
		last = which;
		while (list.p < list.end) {
			if (mutls__der_next(&list, &tag, &subtree) < 0 || tag != 0x30 ||
			    mutls__der_next(&subtree, &tag, &base) < 0 || !base_ok(tag, &base))
				return -1;
			/* minimum (0, the default, so absent in DER) and maximum
			 * (absent): RFC 5280 4.2.1.10 allows no other value */
			if (subtree.p != subtree.end && (mutls__der_next(&subtree, &tag, &extra) < 0 ||
			    tag != 0x80 || extra.end - extra.p != 1 || extra.p[0] != 0 ||
			    subtree.p != subtree.end))
				return -1;
			here++;
		}
		if (here == 0)
			return -1;
		count += here;
	}
	return last ? count : -1;
}

/* ---- matching ------------------------------------------------------------- */

enum { OUTSIDE = 0, WITHIN = 1, CANNOT_TELL = -1 };

/* Work counted against *budget: 0 once it is spent. */
static int charge(long *budget, size_t bytes)
{
	*budget -= (long)(bytes + 1);
	return *budget >= 0;
}

/* The host of a URI ("scheme://[user@]host[:port]/..."), or NULL when it
 * has none a constraint can be held against: no authority, an IP literal,
 * or a character no host name has (percent-encoding, a backslash, which
 * URL parsers take for a slash, NUL, spaces). */
static const char *uri_host(const char *uri, size_t len, size_t *hlen)
{
	const char *p = memchr(uri, ':', len), *end = uri + len, *host, *stop;
	int digits_only = 1;

	if (!p || end - p < 3 || p[1] != '/' || p[2] != '/')
		return NULL;
	host = p + 3;
	stop = host;
	while (stop < end && *stop != '/' && *stop != '\\' && *stop != '?' && *stop != '#')
		stop++;
	for (const char *q = stop; q > host; q--)
		if (q[-1] == '@') {
			host = q;
			break;
		}
	if (host < stop && *host == '[')
		return NULL;
	for (const char *q = stop; q > host; q--)
		if (q[-1] == ':') {
			stop = q - 1;
			break;
		}
	if (stop > host && stop[-1] == '.')
		stop--;
	*hlen = (size_t)(stop - host);
	for (const char *q = host; q < stop; q++) {
		unsigned char c = (unsigned char)*q;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_'))
			return NULL;
		digits_only &= (c >= '0' && c <= '9') || c == '.';
	}
	return *hlen && !digits_only ? host : NULL; /* not empty, not an IPv4 address */
}

/* RFC 5280 4.2.1.10: a URI constraint names a host ("host.example.com")
 * or, with a leading period, any host below a domain (".example.com"). */
static int uri_within(const mutls_der_in *base, const void *name, size_t nlen, long *budget)
{
	const char *c = (const char *)base->p, *host = name;
	size_t clen = (size_t)(base->end - base->p);

	if (!charge(budget, clen))
		return CANNOT_TELL;
	if (clen == 0 || memchr(c, '/', clen) || memchr(c, ':', clen) || memchr(c, '@', clen) ||
	    memchr(c, 0, clen))
		return CANNOT_TELL; /* not a host or a domain */
	if (c[0] == '.')
		return nlen > clen && strncasecmp(host + nlen - clen, c, clen) == 0 ? WITHIN : OUTSIDE;
	return nlen == clen && strncasecmp(host, c, clen) == 0 ? WITHIN : OUTSIDE;
}

/* Attribute values compare as RFC 5280 7.1 asks of the usual string types
 * (ASCII case and runs of spaces do not count); other types, byte for byte;
 * a BMP or Universal string against another form, or a T.61 string with
 * bytes past ASCII against another form: cannot tell. */
static int is_text(unsigned char tag)
{
	return tag == 0x0c || tag == 0x13 || tag == 0x16 || tag == 0x14;
}

static size_t next_significant(const unsigned char *s, size_t i, size_t n)
{
	while (i < n && s[i] == ' ')
		i++;
	return i;
}

static int text_equal(const mutls_der_in *a, const mutls_der_in *b)
{
	const unsigned char *x = a->p, *y = b->p;
	size_t nx = (size_t)(a->end - a->p), ny = (size_t)(b->end - b->p);
	size_t i = next_significant(x, 0, nx), j = next_significant(y, 0, ny);

	while (i < nx && j < ny) {
		if (x[i] == ' ' || y[j] == ' ') {
			/* a run of spaces inside equals one; trailing ones count for nothing */
			size_t i2 = next_significant(x, i, nx), j2 = next_significant(y, j, ny);
			if ((i2 == i) != (j2 == j) && i2 < nx && j2 < ny)
				return 0;
			i = i2;
			j = j2;
			continue;
		}
		unsigned char cx = x[i] >= 'A' && x[i] <= 'Z' ? (unsigned char)(x[i] + 32) : x[i];
		unsigned char cy = y[j] >= 'A' && y[j] <= 'Z' ? (unsigned char)(y[j] + 32) : y[j];
		if (cx != cy)
			return 0;
		i++;
		j++;
	}
	return next_significant(x, i, nx) == nx && next_significant(y, j, ny) == ny;
}

static int past_ascii(const mutls_der_in *v)
{
	for (const unsigned char *q = v->p; q < v->end; q++)
		if (*q >= 0x80)
			return 1;
	return 0;
}

static int value_equal(unsigned char ta, const mutls_der_in *a, unsigned char tb, const mutls_der_in *b,
	long *budget)
{
	if (!charge(budget, (size_t)(a->end - a->p) + (size_t)(b->end - b->p)))
		return CANNOT_TELL;
	if (ta != tb && (ta == 0x14 || tb == 0x14) && (past_ascii(a) || past_ascii(b)))
		return CANNOT_TELL;
	if (is_text(ta) && is_text(tb))
		return text_equal(a, b) ? WITHIN : OUTSIDE;
	if (ta == tb && a->end - a->p == b->end - b->p && memcmp(a->p, b->p, (size_t)(a->end - a->p)) == 0)
		return WITHIN;
	if (ta == 0x1e || ta == 0x1c || tb == 0x1e || tb == 0x1c)
		return CANNOT_TELL;
	return OUTSIDE;
}

/* An AttributeTypeAndValue of rdn equal to ava. */
static int rdn_has(const mutls_der_in *rdn, const mutls_der_in *ava, long *budget)
{
	mutls_der_in in = *rdn, a = *ava, oid_a, val_a, other, oid_b, val_b;
	unsigned char t, ta, tb;
	int result = OUTSIDE;

	if (mutls__der_next(&a, &t, &oid_a) < 0 || t != 0x06 || mutls__der_next(&a, &ta, &val_a) < 0)
		return CANNOT_TELL;
	while (in.p < in.end) {
		if (!charge(budget, 0))
			return CANNOT_TELL;
		if (mutls__der_next(&in, &t, &other) < 0 || t != 0x30 ||
		    mutls__der_next(&other, &t, &oid_b) < 0 || t != 0x06 ||
		    mutls__der_next(&other, &tb, &val_b) < 0)
			return CANNOT_TELL;
		if (oid_a.end - oid_a.p != oid_b.end - oid_b.p ||
		    memcmp(oid_a.p, oid_b.p, (size_t)(oid_a.end - oid_a.p)) != 0)
			continue;
		int r = value_equal(ta, &val_a, tb, &val_b, budget);
		if (r == WITHIN)
			return WITHIN;
		if (r == CANNOT_TELL)
			result = CANNOT_TELL;
	}
	return result;
}

/* Every AttributeTypeAndValue of a in b. */
static int rdn_within(const mutls_der_in *a, const mutls_der_in *b, long *budget)
{
	mutls_der_in in = *a, ava;
	unsigned char t;
	int result = WITHIN;

	while (in.p < in.end) {
		if (mutls__der_next(&in, &t, &ava) < 0 || t != 0x30)
			return CANNOT_TELL;
		int r = rdn_has(b, &ava, budget);
		if (r == OUTSIDE)
			return OUTSIDE;
		if (r == CANNOT_TELL)
			result = CANNOT_TELL;
	}
	return result;
}

/* Two RDNs (SETs of attributes) alike: each one's attributes in the other. */
static int rdn_equal(const mutls_der_in *a, const mutls_der_in *b, long *budget)
{
	int ab = rdn_within(a, b, budget), ba;

	if (ab == OUTSIDE)
		return OUTSIDE;
	ba = rdn_within(b, a, budget);
	if (ba == OUTSIDE)
		return OUTSIDE;
	return ab == WITHIN && ba == WITHIN ? WITHIN : CANNOT_TELL;
}

/* A Name within the subtree of another: the base's RDNs begin it. */
static int dn_within(const mutls_der_in *base, const void *name, size_t nlen, long *budget)
{
	mutls_der_in b = *base, n = { name, (const unsigned char *)name + nlen }, bseq, nseq, brdn, nrdn;
	unsigned char t;
	int result = WITHIN;

	if (mutls__der_next(&b, &t, &bseq) < 0 || t != 0x30 || mutls__der_next(&n, &t, &nseq) < 0 || t != 0x30)
		return CANNOT_TELL;
	while (bseq.p < bseq.end) {
		if (nseq.p >= nseq.end)
			return OUTSIDE; /* the name is shorter than the subtree */
		if (mutls__der_next(&bseq, &t, &brdn) < 0 || t != 0x31 ||
		    mutls__der_next(&nseq, &t, &nrdn) < 0 || t != 0x31)
			return CANNOT_TELL;
		int r = rdn_equal(&brdn, &nrdn, budget);
		if (r == OUTSIDE)
			return OUTSIDE;
		if (r == CANNOT_TELL)
			result = CANNOT_TELL;
	}
	return result;
}

static const unsigned char v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static int is_v4_mapped(const unsigned char *addr, size_t n)
{
	return n == 16 && memcmp(addr, v4_mapped, sizeof(v4_mapped)) == 0;
}

/* An address (4 or 16 bytes) within an iPAddress subtree (address, then
 * mask). iPAddress is one name form (RFC 5280 4.2.1.10): an address lies
 * in no subtree of the other length, so once a CA permits IPv4 subtrees
 * only, no IPv6 address is permitted. An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) is held against IPv4 subtrees as a.b.c.d: a dual-stack
 * socket given it connects to a.b.c.d. */
static int ip_within(const mutls_der_in *base, const void *name, size_t nlen, long *budget)
{
	const unsigned char *addr = name, *net = base->p;
	size_t alen = (size_t)(base->end - base->p) / 2;

	if (!charge(budget, alen * 2))
		return CANNOT_TELL;
	if (alen == 4 && is_v4_mapped(addr, nlen))
		addr += 12;
	else if (alen != nlen)
		return OUTSIDE;
	for (size_t i = 0; i < alen; i++)
		if ((addr[i] ^ net[i]) & net[alen + i])
			return OUTSIDE;
	return WITHIN;
}

typedef int (*within_fn)(const mutls_der_in *base, const void *name, size_t nlen, long *budget);

enum { ALLOWED = 0, EXCLUDED, NOT_PERMITTED };

/* ALLOWED when the name is inside no excluded subtree of kind tag (nor
 * possibly inside), and inside a permitted one if there are any; else
 * EXCLUDED or NOT_PERMITTED. *budget counts the work. */
static int verdict(const gnutls_datum_t *v, unsigned char kind, within_fn within, const void *name,
	size_t nlen, long *budget)
{
	mutls_der_in in = { v->data, v->data + v->size }, seq, list, subtree, base;
	unsigned char tag, which;
	int permitted_seen = 0, permitted_hit = 0;

	if (mutls__der_next(&in, &tag, &seq) < 0)
		return NOT_PERMITTED;
	while (seq.p < seq.end && mutls__der_next(&seq, &which, &list) == 0)
		while (list.p < list.end && mutls__der_next(&list, &tag, &subtree) == 0 &&
		       mutls__der_next(&subtree, &tag, &base) == 0) {
			if (!charge(budget, 0))
				return NOT_PERMITTED;
			if (tag != kind)
				continue;
			int r = within(&base, name, nlen, budget);
			if (*budget < 0)
				return NOT_PERMITTED;
			if (which == TAG_EXCLUDED && r != OUTSIDE)
				return EXCLUDED;
			if (which == TAG_PERMITTED) {
				permitted_seen = 1;
				permitted_hit |= r == WITHIN;
			}
		}
	return !permitted_seen || permitted_hit ? ALLOWED : NOT_PERMITTED;
}

/* "which the name constraints of CA X exclude" or "outside what ... permit" */
static const char *refusal(int v)
{
	return v == EXCLUDED ? "which the name constraints of CA %s exclude" :
		"outside what the name constraints of CA %s permit";
}

/* The kinds this value has subtrees of, as bits: KIND_URI, KIND_DN,
 * KIND_IP; and the address families it permits (KIND_IP4/6_PERMITTED). */
enum { KIND_URI = 1, KIND_DN = 2, KIND_IP = 4, KIND_IP4_PERMITTED = 8, KIND_IP6_PERMITTED = 16 };

static int subtree_kinds(const gnutls_datum_t *v)
{
	mutls_der_in in = { v->data, v->data + v->size }, seq, list, subtree, base;
	unsigned char tag, which;
	int kinds = 0;

	if (mutls__der_next(&in, &tag, &seq) < 0)
		return 0;
	while (seq.p < seq.end && mutls__der_next(&seq, &which, &list) == 0)
		while (list.p < list.end && mutls__der_next(&list, &tag, &subtree) == 0 &&
		       mutls__der_next(&subtree, &tag, &base) == 0) {
			kinds |= tag == TAG_URI ? KIND_URI : tag == TAG_DIRECTORY_NAME ? KIND_DN :
				tag == TAG_IP ? KIND_IP : 0;
			if (tag == TAG_IP && which == TAG_PERMITTED)
				kinds |= base.end - base.p == 8 ? KIND_IP4_PERMITTED : KIND_IP6_PERMITTED;
		}
	return kinds;
}

/* ---- the check --------------------------------------------------------------- */

static void shown(char *out, size_t cap, const unsigned char *p, size_t n)
{
	snprintf(out, cap, "%.*s", (int)(n > 200 ? 200 : n), (const char *)p);
	mutls__escape_controls(out, cap);
}

static int check_subject(char *why, size_t cap, const gnutls_datum_t *nc, gnutls_x509_crt_t crt,
	const char *ca, long *budget)
{
	gnutls_datum_t dn = { NULL, 0 }, text = { NULL, 0 };
	char s[220], tail[400];
	int v;

	if (gnutls_x509_crt_get_raw_dn(crt, &dn) < 0)
		return 0;
	/* an empty subject (SEQUENCE of nothing) is not constrained */
	v = dn.size <= 2 ? ALLOWED : verdict(nc, TAG_DIRECTORY_NAME, dn_within, dn.data, dn.size, budget);
	gnutls_free(dn.data);
	if (v == ALLOWED)
		return 0;
	snprintf(tail, sizeof(tail), refusal(v), ca);
	if (gnutls_x509_crt_get_dn3(crt, &text, 0) < 0)
		snprintf(s, sizeof(s), "?");
	else
		shown(s, sizeof(s), text.data, text.size);
	gnutls_free(text.data);
	snprintf(why, cap, "has the subject %s, %s", s, tail);
	return 1;
}

/* The length of a mask's prefix of ones, or -1 when it is no prefix. */
static int prefix_length(const unsigned char *mask, size_t n)
{
	int bits = 0, ended = 0;

	for (size_t i = 0; i < n; i++)
		for (int b = 7; b >= 0; b--) {
			int one = (mask[i] >> b) & 1;
			if (one && ended)
				return -1;
			ended |= !one;
			bits += one;
		}
	return bits;
}

/* "IP:10.0.0.0/8, IP:2001:db8::/32": the first iPAddress subtrees of one
 * list (which) of nameConstraints value v. */
static void ip_subtrees(char *out, size_t cap, const gnutls_datum_t *v, unsigned char which)
{
	mutls_der_in in = { v->data, v->data + v->size }, seq, list, subtree, base;
	unsigned char tag, list_tag;
	size_t used = 0;
	int shown = 0;

	out[0] = 0;
	if (mutls__der_next(&in, &tag, &seq) < 0)
		return;
	while (seq.p < seq.end && mutls__der_next(&seq, &list_tag, &list) == 0)
		while (list_tag == which && list.p < list.end && mutls__der_next(&list, &tag, &subtree) == 0 &&
		       mutls__der_next(&subtree, &tag, &base) == 0 && used + 8 < cap) {
			size_t alen = (size_t)(base.end - base.p) / 2;
			char addr[INET6_ADDRSTRLEN] = "?", mask[INET6_ADDRSTRLEN] = "?";
			int bits, w;
			if (tag != TAG_IP || (alen != 4 && alen != 16))
				continue;
			if (shown++ == 4) {
				snprintf(out + used, cap - used, ", ...");
				return;
			}
			inet_ntop(alen == 4 ? AF_INET : AF_INET6, base.p, addr, sizeof(addr));
			bits = prefix_length(base.p + alen, alen);
			if (bits < 0)
				inet_ntop(alen == 4 ? AF_INET : AF_INET6, base.p + alen, mask, sizeof(mask));
			w = bits < 0 ? snprintf(out + used, cap - used, "%sIP:%s mask %s", used ? ", " : "", addr,
				mask) : snprintf(out + used, cap - used, "%sIP:%s/%d", used ? ", " : "", addr, bits);
			if (w < 0 || (size_t)w >= cap - used)
				return;
			used += (size_t)w;
		}
}

/* GnuTLS holds an address against the subtrees of its own length only,
 * for the leaf and (called by path_checks.c) for the CAs below. What it
 * misses is checked here: an address of a family the CA permits none of,
 * and an IPv4-mapped address against IPv4 subtrees (compared one by one:
 * only these cost work, so a chain of many addresses under many subtrees
 * costs mutls nothing more). */
static int ip_verdict(const gnutls_datum_t *nc, int kinds, const unsigned char *addr, size_t n,
	long *budget)
{
	int permits = kinds & (KIND_IP4_PERMITTED | KIND_IP6_PERMITTED);

	if (is_v4_mapped(addr, n))
		return verdict(nc, TAG_IP, ip_within, addr, n, budget);
	return permits && !(kinds & (n == 4 ? KIND_IP4_PERMITTED : KIND_IP6_PERMITTED)) ?
		NOT_PERMITTED : ALLOWED;
}

/* "names IP:2001:db8::1, outside what the name constraints of CA X permit
 * (permitted: IP:10.0.0.0/8, no IPv6 address)"; an IPv4-mapped address
 * with the IPv4 address it was held as. */
static void ip_refusal(char *why, size_t cap, const gnutls_datum_t *nc, const unsigned char *addr,
	size_t n, int v, int kinds, const char *ca)
{
	char text[INET6_ADDRSTRLEN] = "?", v4[INET_ADDRSTRLEN] = "?", note[64] = "", tail[400], list[200];
	int mapped = is_v4_mapped(addr, n);
	const char *none = "";

	inet_ntop(n == 4 ? AF_INET : AF_INET6, addr, text, sizeof(text));
	if (mapped) {
		inet_ntop(AF_INET, addr + 12, v4, sizeof(v4));
		snprintf(note, sizeof(note), " (the IPv4 address %s)", v4);
	}
	if (v == NOT_PERMITTED && !mapped && !(kinds & (n == 4 ? KIND_IP4_PERMITTED : KIND_IP6_PERMITTED)))
		none = n == 4 ? ", no IPv4 address" : ", no IPv6 address";
	ip_subtrees(list, sizeof(list), nc, v == EXCLUDED ? TAG_EXCLUDED : TAG_PERMITTED);
	snprintf(tail, sizeof(tail), refusal(v), ca);
	snprintf(why, cap, "names IP:%s%s, %s (%s: %s%s)", text, note, tail,
		v == EXCLUDED ? "excluded" : "permitted", list, none);
}

/* A refusal for having run out of work says so. */
static int too_many(char *why, size_t cap, long budget)
{
	if (budget < 0)
		snprintf(why, cap, "has names and the path has URI, directoryName or iPAddress subtrees "
			"that would take more work to compare than mutls spends (%ld bytes)", NC_MAX_WORK);
	return 1;
}

long mutls__nc_work_budget(void)
{
	return NC_MAX_WORK;
}

int mutls__nc_check_names(char *why, size_t cap, const gnutls_datum_t *nc, gnutls_x509_crt_t crt,
	const char *ca, long *budget)
{
	gnutls_datum_t v;
	mutls_der_in in, seq, name;
	unsigned char tag;
	int kinds = subtree_kinds(nc), uri = kinds & KIND_URI, dn = kinds & KIND_DN, ip = kinds & KIND_IP;
	int refused = 0;

	if (!uri && !dn && !ip)
		return 0;
	if (dn && check_subject(why, cap, nc, crt, ca, budget))
		return too_many(why, cap, *budget);
	if (!mutls__crt_extension(crt, "2.5.29.17", NULL, &v))
		return 0;
	in.p = v.data;
	in.end = v.data + v.size;
	if (mutls__der_next(&in, &tag, &seq) < 0 || tag != 0x30 || in.p != in.end)
		refused = 1;
	while (!refused && seq.p < seq.end) {
		size_t n, hlen = 0;
		char s[220], tail[400];
		int r = ALLOWED;
		if (mutls__der_next(&seq, &tag, &name) < 0) {
			refused = 1;
			break;
		}
		n = (size_t)(name.end - name.p);
		if (tag == TAG_URI && uri) {
			const char *host = uri_host((const char *)name.p, n, &hlen);
			shown(s, sizeof(s), name.p, n);
			if (!host) {
				snprintf(why, cap, "names URI:%s, which has no host name to hold against "
					"the URI subtrees of the name constraints of CA %s", s, ca);
				refused = 2;
			} else if ((r = verdict(nc, TAG_URI, uri_within, host, hlen, budget)) != ALLOWED) {
				snprintf(tail, sizeof(tail), refusal(r), ca);
				snprintf(why, cap, "names URI:%s, %s", s, tail);
				refused = 2;
			}
		} else if (tag == TAG_IP && ip) {
			if (n != 4 && n != 16) {
				snprintf(why, cap, "has an IP subjectAltName of %zu bytes (not an address), "
					"under the name constraints of CA %s", n, ca);
				refused = 2;
			} else if ((r = ip_verdict(nc, kinds, name.p, n, budget)) != ALLOWED) {
				ip_refusal(why, cap, nc, name.p, n, r, kinds, ca);
				refused = 2;
			}
		} else if (tag == TAG_DIRECTORY_NAME && dn &&
			   (r = verdict(nc, TAG_DIRECTORY_NAME, dn_within, name.p, n, budget)) != ALLOWED) {
			snprintf(tail, sizeof(tail), refusal(r), ca);
			snprintf(why, cap, "has a directoryName subjectAltName %s", tail);
			refused = 2;
		}
	}
	gnutls_free(v.data);
	if (refused == 1) /* what cannot be read cannot be held against them */
		snprintf(why, cap, "has a subjectAltName mutls cannot read to its end, under the URI, "
			"directoryName or iPAddress subtrees of the name constraints of CA %s", ca);
	return refused ? too_many(why, cap, *budget) : 0;
}
