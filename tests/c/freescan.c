/* A test-only shared library that looks into every block the process
 * releases for bytes it was told to watch (a private key's text or DER).
 * test_keywipe links it ahead of libc, so its free/realloc replace libc's
 * for the whole process (GnuTLS, nettle, libc's own stdio included). Under
 * AddressSanitizer, whose allocator comes first, it installs ASan's free
 * hook instead, which runs before a block is released (realloc included).
 * See freescan.h. */
#include "freescan.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

/* Released bytes go to an arena of their own (mmap, not malloc), so that
 * what to look for may be decided after the fact (a key generated inside
 * the window). */
#define ARENA_SIZE ((size_t)256 << 20)

static unsigned char *arena;
static size_t arena_used;
static volatile int armed, overflowed;
static volatile unsigned long released;

static void scan(const void *ptr, size_t size)
{
	if (!ptr || !armed)
		return;
	released++;
	if (size > ARENA_SIZE - arena_used) {
		overflowed = 1;
		return;
	}
	memcpy(arena + arena_used, ptr, size);
	arena_used += size;
}

#if defined(__SANITIZE_ADDRESS__)
#define FREESCAN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FREESCAN_ASAN 1
#endif
#endif

#ifdef FREESCAN_ASAN
/* From compiler-rt's sanitizer/allocator_interface.h (GCC ships no header). */
int __sanitizer_install_malloc_and_free_hooks(
	void (*malloc_hook)(const volatile void *, size_t),
	void (*free_hook)(const volatile void *));
size_t __sanitizer_get_allocated_size(const volatile void *p);

static void free_hook(const volatile void *ptr)
{
	if (ptr && armed)
		scan((const void *)ptr, __sanitizer_get_allocated_size((const void *)ptr));
}

static void malloc_hook(const volatile void *ptr, size_t size)
{
	(void)ptr;
	(void)size;
}

__attribute__((constructor)) static void install_hooks(void)
{
	__sanitizer_install_malloc_and_free_hooks(malloc_hook, free_hook);
}
#else
#include <malloc.h>

/* glibc's own entry points, which a replacement free may call. */
extern void *__libc_malloc(size_t size);
extern void __libc_free(void *ptr);

void free(void *ptr)
{
	if (ptr && armed)
		scan(ptr, malloc_usable_size(ptr));
	__libc_free(ptr);
}

/* Always a new block, as ASan does: the old one is released (and looked
 * into) whether or not glibc could have grown it in place. */
void *realloc(void *ptr, size_t size)
{
	void *grown;
	size_t old;

	if (!ptr)
		return __libc_malloc(size);
	if (size == 0) {
		free(ptr);
		return NULL;
	}
	if (!(grown = __libc_malloc(size)))
		return NULL;
	old = malloc_usable_size(ptr);
	memcpy(grown, ptr, old < size ? old : size);
	free(ptr);
	return grown;
}
#endif

int freescan_start(void)
{
	if (!arena) {
		void *p = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED)
			return -1;
		arena = p;
	}
	arena_used = 0;
	released = 0;
	overflowed = 0;
	armed = 1;
	return 0;
}

unsigned long freescan_stop(void)
{
	armed = 0;
	return overflowed ? 0 : released;
}

size_t freescan_count(const void *bytes, size_t len)
{
	const unsigned char *needle = bytes;
	size_t n = 0;

	if (!arena || len == 0)
		return 0;
	for (size_t i = 0; i + len <= arena_used; i++)
		if (arena[i] == needle[0] && memcmp(arena + i, needle, len) == 0)
			n++;
	return n;
}

void freescan_wipe(void)
{
	if (arena)
		memset(arena, 0, arena_used);
	arena_used = 0;
}
