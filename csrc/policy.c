/* Identity policy: the `peers` patterns a peer's certificate must match. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int parse_pin(unsigned char pin[32], const char *hex)
{
	size_t n = 0;
	for (const char *p = hex; *p; p++) {
		int hi, lo;
		if (*p == ':')
			continue;
		if (n == 32 || (hi = mutls__hex_value(p[0])) < 0 || !p[1] || (lo = mutls__hex_value(p[1])) < 0)
			return -1;
		pin[n++] = (unsigned char)(hi << 4 | lo);
		p++;
	}
	return n == 32 ? 0 : -1;
}

static int valid_dns_pattern(const char *v)
{
	const char *rest = v;
	if (strncmp(v, "*.", 2) == 0)
		rest = v + 2;
	if (!*rest || strchr(rest, '*'))
		return 0;
	for (const char *p = rest; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '.' || *p == '_'))
			return 0;
	return 1;
}

/* A mailbox's local part as mutls compares it: printable ASCII, no blank,
 * no '@' (quoted local parts are not taken). */
static int email_local_ok(const char *p, size_t len)
{
	if (len == 0 || len > 64)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] <= ' ' || (unsigned char)p[i] >= 0x7f || p[i] == '@')
			return 0;
	return 1;
}

/* An email domain: a DNS name without a wildcard. */
static int email_domain_ok(const char *p, size_t len)
{
	size_t label = 0;
	if (len == 0 || len > 253)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || c == '-') || ++label > 63) {
			return 0;
		}
	}
	return label > 0;
}

/* "user@example.com" or "@example.com" */
static int valid_email_pattern(const char *v)
{
	const char *at = strchr(v, '@');
	if (!at || strchr(at + 1, '@'))
		return 0;
	if (at != v && !email_local_ok(v, (size_t)(at - v)))
		return 0;
	return email_domain_ok(at + 1, strlen(at + 1));
}

/* An RFC 822 SAN against an email pattern: the local part exactly, the
 * domain without regard to case; "@d" takes any mailbox at d (not at its
 * subdomains). */
static int email_matches(const char *pattern, const char *name, size_t len)
{
	const char *at = memchr(name, '@', len), *pat = strchr(pattern, '@');
	size_t local = at ? (size_t)(at - name) : 0, domain = at ? len - local - 1 : 0;

	if (!at || memchr(at + 1, '@', domain) || !email_local_ok(name, local) ||
	    !email_domain_ok(at + 1, domain))
		return 0;
	if (pat != pattern && (local != (size_t)(pat - pattern) || memcmp(name, pattern, local) != 0))
		return 0;
	return strlen(pat + 1) == domain && strncasecmp(pat + 1, at + 1, domain) == 0;
}

int mutls__pattern_parse(mutls_pattern *out, const char *pattern)
{
	static const struct { const char *prefix; mutls_pattern_kind kind; } kinds[] = {
		{ "dns:", MUTLS_PATTERN_DNS }, { "ip:", MUTLS_PATTERN_IP },
		{ "uri:", MUTLS_PATTERN_URI }, { "cn:", MUTLS_PATTERN_CN },
		{ "sha256:", MUTLS_PATTERN_SHA256 }, { "email:", MUTLS_PATTERN_EMAIL },
	};
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!pattern)
		return mutls__error(MUTLS_EUSAGE, "peers: NULL pattern");
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strncasecmp(pattern, kinds[i].prefix, strlen(kinds[i].prefix)) == 0)
			break;
	if (i == sizeof(kinds) / sizeof(kinds[0]))
		return mutls__error(MUTLS_ECONFIG,
			"peers: pattern \"%s\" has an unknown kind (use dns:, ip:, uri:, cn:, email: or sha256:)", pattern);
	out->kind = kinds[i].kind;
	out->text = mutls__strdup(pattern);
	if (!out->text)
		return MUTLS_ENOMEM;
	out->value = out->text + strlen(kinds[i].prefix);

	switch (out->kind) {
	case MUTLS_PATTERN_DNS:
		if (!valid_dns_pattern(out->value))
			goto bad;
		break;
	case MUTLS_PATTERN_IP:
		if (inet_pton(AF_INET, out->value, out->ip) == 1)
			out->ip_len = 4;
		else if (inet_pton(AF_INET6, out->value, out->ip) == 1)
			out->ip_len = 16;
		else
			goto bad;
		break;
	case MUTLS_PATTERN_URI:
		/* '*' is allowed only as the last character (a prefix match). */
		if (!*out->value || (strchr(out->value, '*') && strchr(out->value, '*') != out->value + strlen(out->value) - 1))
			goto bad;
		break;
	case MUTLS_PATTERN_CN:
		if (!*out->value)
			goto bad;
		break;
	case MUTLS_PATTERN_SHA256:
		if (parse_pin(out->pin, out->value) < 0)
			goto bad;
		break;
	case MUTLS_PATTERN_EMAIL:
		if (!valid_email_pattern(out->value))
			goto bad;
		break;
	}
	return 0;
bad:
	{
		static const char *const why[] = {
			"a DNS name, optionally starting with \"*.\"",
			"an IPv4 or IPv6 address",
			"a URI, optionally ending with \"*\"",
			"a common name",
			"64 hex digits (colons allowed)",
			"an email address (\"user@example.com\"), or \"@example.com\" for any at that domain",
		};
		int rc = mutls__error(MUTLS_ECONFIG, "peers: pattern \"%s\" is invalid: expected %s",
			pattern, why[out->kind]);
		free(out->text);
		out->text = NULL;
		return rc;
	}
}

/* A certificate's URI is only compared when RFC 3986 allows each of its
 * bytes (printable ASCII, no space): a NUL or control byte never matches,
 * even under a prefix pattern. */
static int uri_bytes_ok(const char *uri, size_t len)
{
	static const char hexdigits[] = "0123456789abcdefABCDEF";

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)uri[i];
		/* RFC 3986 2: nor \ " < > ^ ` { | }, and % only as an escape */
		if (c <= 0x20 || c >= 0x7f || strchr("\\\"<>^`{|}", c))
			return 0;
		if (c == '%' && (i + 2 >= len || !strchr(hexdigits, uri[i + 1]) || !uri[i + 1] ||
		    !strchr(hexdigits, uri[i + 2]) || !uri[i + 2]))
			return 0;
	}
	return len > 0;
}

/* Under a prefix pattern, a URI whose path has a "." or ".." segment, or a
 * percent-encoded "." or "/", or that has a query or fragment, never
 * matches: read the way URL resolvers read it,
 * "spiffe://td/payments/../admin" (or "/payments/..?x") is not under
 * .../payments/ (SPIFFE IDs allow none of these). */
static int uri_path_plain(const char *uri, size_t len)
{
	const char *end = uri + len, *seg = uri, *authority = NULL;

	if (memchr(uri, '?', len) || memchr(uri, '#', len))
		return 0;

	for (const char *c = uri; c + 2 < end; c++)
		if (c[0] == ':' && c[1] == '/' && c[2] == '/') {
			authority = c + 3;
			break;
		}
	if (authority) {
		seg = memchr(authority, '/', (size_t)(end - authority));
		if (!seg)
			return 1; /* no path */
	}
	for (const char *c = seg; c < end; c++)
		if (c[0] == '%' && c + 2 < end && c[1] == '2' && strchr("eEfF", c[2]))
			return 0;
	while (seg < end) {
		const char *next;
		size_t n;
		if (*seg == '/')
			seg++;
		next = memchr(seg, '/', (size_t)(end - seg));
		n = (size_t)((next ? next : end) - seg);
		if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return 0;
		seg += n;
	}
	return 1;
}

/* A certificate's DNS name is only compared when it is one: labels of
 * letters, digits, '-' and '_' (1 to 63 of them; the first may be a lone
 * '*'), no NUL or other byte that would let "x\0y.svc.local" pass as a
 * label under svc.local. */
static int dns_name_ok(const char *name, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > 253)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (c == '*' && i == 0 && (len == 1 || name[1] == '.')) {
			label = 1;
			continue;
		}
		/* ASCII only, whatever the locale (Python sets LC_CTYPE) */
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_') || ++label > 63)
			return 0;
	}
	return label > 0;
}

static int dns_matches(const char *pattern, const char *name, size_t name_len)
{
	if (!dns_name_ok(name, name_len))
		return 0;
	if (strncmp(pattern, "*.", 2) == 0) {
		/* "*.svc.local" matches exactly one label before "svc.local". */
		const char *dot = memchr(name, '.', name_len);
		size_t suffix_len = strlen(pattern + 1);
		if (!dot || dot == name)
			return 0;
		return (size_t)(name + name_len - dot) == suffix_len &&
			strncasecmp(dot, pattern + 1, suffix_len) == 0;
	}
	return strlen(pattern) == name_len && strncasecmp(pattern, name, name_len) == 0;
}

static int san_value_matches(const mutls_pattern *p, unsigned type,
	const char *value, size_t size)
{
	size_t plen;

	switch (p->kind) {
	case MUTLS_PATTERN_DNS:
		return type == GNUTLS_SAN_DNSNAME && dns_matches(p->value, value, size);
	case MUTLS_PATTERN_EMAIL:
		return type == GNUTLS_SAN_RFC822NAME && email_matches(p->value, value, size);
	case MUTLS_PATTERN_IP:
		return type == GNUTLS_SAN_IPADDRESS && size == p->ip_len &&
			memcmp(value, p->ip, size) == 0;
	case MUTLS_PATTERN_URI:
		if (type != GNUTLS_SAN_URI || !uri_bytes_ok(value, size))
			return 0;
		plen = strlen(p->value);
		if (p->value[plen - 1] == '*')
			return size >= plen - 1 && memcmp(value, p->value, plen - 1) == 0 &&
				uri_path_plain(value, size);
		return size == plen && memcmp(value, p->value, plen) == 0;
	default:
		return 0;
	}
}

static int san_matches(const mutls_pattern *p, gnutls_x509_crt_t crt)
{
	char buf[1024];

	for (unsigned i = 0;; i++) {
		size_t size = sizeof(buf);
		unsigned type;
		int rc = gnutls_x509_crt_get_subject_alt_name2(crt, i, buf, &size, &type, NULL);
		/* Longer than any name a pattern can hold: cannot match; go on. */
		if (rc == GNUTLS_E_SHORT_MEMORY_BUFFER)
			continue;
		/* the end, or a malformed extension (the same error every index) */
		if (rc < 0)
			return 0;
		if (san_value_matches(p, type, buf, size))
			return 1;
	}
}

static int cn_matches(const char *want, const mutls_x509 *cert)
{
	char *cn = NULL, other[8];
	size_t osize = sizeof(other);
	int match;

	/* Exactly one CN, equal to want: a second CN could smuggle a name. */
	if (gnutls_x509_crt_get_dn_by_oid(cert->crt, GNUTLS_OID_X520_COMMON_NAME, 1, 0,
		other, &osize) != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
		return 0;
	if (mutls_x509_common_name(&cn, cert) < 0 || !cn)
		return 0;
	match = strcmp(cn, want) == 0;
	free(cn);
	return match;
}

static int pin_matches(const unsigned char pin[32], const mutls_x509 *cert)
{
	unsigned char digest[32];
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, cert->der.data, cert->der.size, digest) < 0)
		return 0;
	return memcmp(digest, pin, 32) == 0;
}

int mutls__policy_matches(const mutls_config *cfg, const mutls_x509 *cert)
{
	if (cfg->pattern_count == 0)
		return 1;
	for (size_t i = 0; i < cfg->pattern_count; i++) {
		const mutls_pattern *p = &cfg->patterns[i];
		switch (p->kind) {
		case MUTLS_PATTERN_DNS:
		case MUTLS_PATTERN_IP:
		case MUTLS_PATTERN_URI:
		case MUTLS_PATTERN_EMAIL:
			if (san_matches(p, cert->crt))
				return 1;
			break;
		case MUTLS_PATTERN_CN:
			if (cn_matches(p->value, cert))
				return 1;
			break;
		case MUTLS_PATTERN_SHA256:
			if (pin_matches(p->pin, cert))
				return 1;
			break;
		}
	}
	return 0;
}

void mutls__policy_describe(char *out, size_t cap, const mutls_config *cfg)
{
	size_t used = 0;
	out[0] = 0;
	for (size_t i = 0; i < cfg->pattern_count && used + 1 < cap; i++) {
		int n = snprintf(out + used, cap - used, "%s%s", i ? ", " : "", cfg->patterns[i].text);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}
