/* Internal: DER writing (der.c), used by the test PKI (keygen.c, testca.c),
 * and a small DER reader for extension values (path_checks.c,
 * nc_unreadable.c). */
#ifndef MUTLS_DER_H
#define MUTLS_DER_H

#include <stddef.h>

/*
 * A growable DER buffer. Elements are written content first: remember
 * mutls__der_open(), write the content, then mutls__der_close() inserts the
 * tag and length in front of it. Leaves and keys fit the inline buffer; long
 * SAN lists grow onto the heap. Every byte it held is wiped before it is let
 * go (it holds private keys).
 */
struct mutls_der {
	unsigned char *p;
	size_t len, cap;
	int oom;
	unsigned char local[1536];
};

void mutls__der_init(struct mutls_der *b);
/* Wipes what it held and frees it; b is empty (and reusable) after. */
void mutls__der_release(struct mutls_der *b);
/* Room for n more bytes; -1 (and b->oom) when out of memory. */
int mutls__der_reserve(struct mutls_der *b, size_t n);
void mutls__der_put(struct mutls_der *b, const void *data, size_t n);
/* One whole element: tag, length, data. */
void mutls__der_tlv(struct mutls_der *b, unsigned char tag, const void *data, size_t n);
/* Where an element's content starts (for mutls__der_close). */
size_t mutls__der_open(const struct mutls_der *b);
/* Wraps everything written since start in tag. */
void mutls__der_close(struct mutls_der *b, size_t start, unsigned char tag);

/* ---- reading ---- */
typedef struct {
	const unsigned char *p, *end;
} mutls_der_in;

/* Reads one element of in: its tag, its content in *body. 0, or -1 when
 * malformed (a high tag number included, which no extension read has).
 * Lengths in long form are read as BER allows, with leading zero bytes,
 * as GnuTLS reads them. */
int mutls__der_next(mutls_der_in *in, unsigned char *tag, mutls_der_in *body);

/* 1 when an INTEGER's content of n bytes is DER: not empty, and no
 * redundant leading byte (00 before a byte below 0x80, ff before one from
 * 0x80). GnuTLS compares serial numbers byte for byte, so a certificate's
 * and a CRL entry's must both be DER to match. */
int mutls__der_integer_minimal(const unsigned char *p, size_t n);

#endif
