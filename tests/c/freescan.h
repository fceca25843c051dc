/* Keeps a copy of every memory block the process releases (free, realloc)
 * while armed, to look for key bytes in afterwards. Built as its own shared
 * library and linked into test_keywipe only (tests/c/freescan.c). */
#ifndef MUTLS_FREESCAN_H
#define MUTLS_FREESCAN_H

#include <stddef.h>

/* Start keeping released blocks (forgets earlier ones); -1 if no arena. */
int freescan_start(void);
/* Stop; returns how many blocks were released (0 if the arena overflowed:
 * a test must then fail, it saw nothing). */
unsigned long freescan_stop(void);
/* How many times bytes[0..len) occurs in what was released. */
size_t freescan_count(const void *bytes, size_t len);
/* Zero the kept copies (they hold key bytes by design). */
void freescan_wipe(void);

#endif
