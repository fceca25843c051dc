/* A server config's session-ID cache: TLS 1.2 resumption for clients that
 * resume by session ID rather than by ticket (RFC 5246 7.3).
 *
 * Bounded: a fixed number of entries (the config's session_cache option,
 * default 1024), each at most MUTLS_SESSION_CACHE_ENTRY_MAX bytes; when
 * full, the oldest entry is replaced. An entry lives as long as the session
 * it holds (GnuTLS's expiration time, the same as a ticket's lifetime) and
 * is wiped when it is dropped: it carries the session's master secret.
 * Shared by every session of the config, so guarded by a mutex.
 *
 * A session resumed from here skips GnuTLS's verification like a ticket
 * does; mutls_session_handshake re-checks the stored peer either way. */
#include "session_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ID_MAX 32 /* a TLS session ID is at most 32 bytes */

typedef struct {
	unsigned char id[ID_MAX];
	unsigned id_len;            /* 0: a free slot */
	unsigned char *data;
	size_t len;
	time_t expires;
} cache_entry;

struct mutls_session_cache {
	pthread_mutex_t lock;
	cache_entry *entries;       /* capacity slots, allocated at first store */
	size_t capacity;
	size_t next;                /* the slot the next new entry takes */
};

mutls_session_cache *mutls__session_cache_new(size_t entries)
{
	mutls_session_cache *cache = calloc(1, sizeof(*cache));

	if (!cache)
		return NULL;
	pthread_mutex_init(&cache->lock, NULL);
	cache->capacity = entries;
	return cache;
}

static void entry_clear(cache_entry *e)
{
	if (e->data) {
		gnutls_memset(e->data, 0, e->len);
		free(e->data);
	}
	memset(e, 0, sizeof(*e));
}

void mutls__session_cache_free(mutls_session_cache *cache)
{
	if (!cache)
		return;
	if (cache->entries)
		for (size_t i = 0; i < cache->capacity; i++)
			entry_clear(&cache->entries[i]);
	free(cache->entries);
	pthread_mutex_destroy(&cache->lock);
	free(cache);
}

/* Called with the lock held. */
static cache_entry *find(mutls_session_cache *cache, const gnutls_datum_t *key)
{
	if (!cache->entries || key->size == 0 || key->size > ID_MAX)
		return NULL;
	for (size_t i = 0; i < cache->capacity; i++) {
		cache_entry *e = &cache->entries[i];
		if (e->id_len == key->size && memcmp(e->id, key->data, key->size) == 0)
			return e;
	}
	return NULL;
}

/* GnuTLS's store function: keeps a copy (a session that cannot be kept is
 * simply not resumable; that is no error). */
static int cache_store(void *ptr, gnutls_datum_t key, gnutls_datum_t data)
{
	mutls_session_cache *cache = ptr;
	time_t expires = gnutls_db_check_entry_expire_time(&data);
	cache_entry *e;
	unsigned char *copy;

	if (key.size == 0 || key.size > ID_MAX || data.size == 0 ||
	    data.size > MUTLS_SESSION_CACHE_ENTRY_MAX || expires <= time(NULL))
		return 0;
	copy = malloc(data.size);
	if (!copy)
		return 0;
	memcpy(copy, data.data, data.size);
	pthread_mutex_lock(&cache->lock);
	if (!cache->entries)
		cache->entries = calloc(cache->capacity, sizeof(*cache->entries));
	if (!cache->entries) {
		pthread_mutex_unlock(&cache->lock);
		free(copy);
		return 0;
	}
	e = find(cache, &key);
	if (!e) {
		e = &cache->entries[cache->next];
		cache->next = (cache->next + 1) % cache->capacity;
	}
	entry_clear(e);
	memcpy(e->id, key.data, key.size);
	e->id_len = key.size;
	e->data = copy;
	e->len = data.size;
	e->expires = expires;
	pthread_mutex_unlock(&cache->lock);
	return 0;
}

/* GnuTLS's retrieve function: a gnutls_malloc'd copy, or nothing when the
 * ID is unknown or its session has expired (then it is dropped). */
static gnutls_datum_t cache_retrieve(void *ptr, gnutls_datum_t key)
{
	mutls_session_cache *cache = ptr;
	gnutls_datum_t out = { NULL, 0 };
	cache_entry *e;

	pthread_mutex_lock(&cache->lock);
	e = find(cache, &key);
	if (e && e->expires <= time(NULL)) {
		entry_clear(e);
		e = NULL;
	}
	if (e && (out.data = gnutls_malloc(e->len)) != NULL) {
		memcpy(out.data, e->data, e->len);
		out.size = (unsigned)e->len;
	}
	pthread_mutex_unlock(&cache->lock);
	return out;
}

static int cache_remove(void *ptr, gnutls_datum_t key)
{
	mutls_session_cache *cache = ptr;
	cache_entry *e;

	pthread_mutex_lock(&cache->lock);
	e = find(cache, &key);
	if (e)
		entry_clear(e);
	pthread_mutex_unlock(&cache->lock);
	return e ? 0 : -1;
}

void mutls__session_cache_attach(mutls_session *s)
{
	mutls_session_cache *cache = s->cfg->session_cache;

	if (!s->is_server || !cache)
		return;
	gnutls_db_set_ptr(s->gs, cache);
	gnutls_db_set_store_function(s->gs, cache_store);
	gnutls_db_set_retrieve_function(s->gs, cache_retrieve);
	gnutls_db_set_remove_function(s->gs, cache_remove);
}

size_t mutls__session_cache_count(mutls_session_cache *cache)
{
	size_t n = 0;

	if (!cache)
		return 0;
	pthread_mutex_lock(&cache->lock);
	if (cache->entries)
		for (size_t i = 0; i < cache->capacity; i++)
			n += cache->entries[i].id_len != 0;
	pthread_mutex_unlock(&cache->lock);
	return n;
}
