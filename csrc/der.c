/* DER writing for the test PKI: a growable buffer where each element is
 * written content first, then wrapped in its tag and length. And reading,
 * one element at a time, for the extensions mutls checks itself. */
#include "der.h"

#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>

void mutls__der_init(struct mutls_der *b)
{
	b->p = b->local;
	b->len = 0;
	b->cap = sizeof(b->local);
	b->oom = 0;
}

void mutls__der_release(struct mutls_der *b)
{
	gnutls_memset(b->p, 0, b->len);
	if (b->p != b->local)
		free(b->p);
	mutls__der_init(b);
}

int mutls__der_reserve(struct mutls_der *b, size_t n)
{
	unsigned char *grown;
	size_t cap = b->cap;

	if (b->oom)
		return -1;
	if (n <= b->cap - b->len)
		return 0;
	while (cap - b->len < n) {
		if (cap > ((size_t)1 << 30)) {
			b->oom = 1;
			return -1;
		}
		cap *= 2;
	}
	/* malloc, not realloc: the old bytes are wiped, not left behind */
	if (!(grown = malloc(cap))) {
		b->oom = 1;
		return -1;
	}
	memcpy(grown, b->p, b->len);
	gnutls_memset(b->p, 0, b->len);
	if (b->p != b->local)
		free(b->p);
	b->p = grown;
	b->cap = cap;
	return 0;
}

void mutls__der_put(struct mutls_der *b, const void *data, size_t n)
{
	if (n && mutls__der_reserve(b, n) == 0) {
		memcpy(b->p + b->len, data, n);
		b->len += n;
	}
}

static size_t der_header(unsigned char h[6], unsigned char tag, size_t len)
{
	size_t n = 0, i;

	h[n++] = tag;
	if (len < 0x80) {
		h[n++] = (unsigned char)len;
		return n;
	}
	for (i = 4; i > 0 && !(len >> (8 * (i - 1)) & 0xff); i--)
		;
	h[n++] = (unsigned char)(0x80 | i);
	while (i > 0) {
		i--;
		h[n++] = (unsigned char)(len >> (8 * i));
	}
	return n;
}

void mutls__der_tlv(struct mutls_der *b, unsigned char tag, const void *data, size_t n)
{
	unsigned char h[6];
	if (n > 0xffffffffu) {
		b->oom = 1;
		return;
	}
	mutls__der_put(b, h, der_header(h, tag, n));
	mutls__der_put(b, data, n);
}

size_t mutls__der_open(const struct mutls_der *b)
{
	return b->len;
}

/* Wrap everything written since start in tag. */
void mutls__der_close(struct mutls_der *b, size_t start, unsigned char tag)
{
	unsigned char h[6];
	size_t content = b->len - start, hl;

	if (b->oom)
		return;
	if (content > 0xffffffffu) {
		b->oom = 1;
		return;
	}
	hl = der_header(h, tag, content);
	if (mutls__der_reserve(b, hl) < 0)
		return;
	memmove(b->p + start + hl, b->p + start, content);
	memcpy(b->p + start, h, hl);
	b->len += hl;
}


int mutls__der_next(mutls_der_in *in, unsigned char *tag, mutls_der_in *body)
{
	size_t len = 0;
	if (in->end - in->p < 2)
		return -1;
	*tag = *in->p++;
	if ((*tag & 0x1f) == 0x1f)
		return -1;
	if (*in->p < 0x80) {
		len = *in->p++;
	} else {
		/* long form, non-minimal ones too (GnuTLS reads "84 00 00 00 19") */
		unsigned k = *in->p++ & 0x7f;
		if (k == 0 || k > sizeof(size_t) || in->end - in->p < (long)k)
			return -1;
		while (k--)
			len = (len << 8) | *in->p++;
	}
	if ((size_t)(in->end - in->p) < len)
		return -1;
	body->p = in->p;
	body->end = in->p + len;
	in->p += len;
	return 0;
}

int mutls__der_integer_minimal(const unsigned char *p, size_t n)
{
	return n > 0 && !(n > 1 && ((p[0] == 0x00 && p[1] < 0x80) || (p[0] == 0xff && p[1] >= 0x80)));
}
