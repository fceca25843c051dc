/* Internal: a server config's TLS 1.2 session-ID cache (session_cache.c). */
#ifndef MUTLS_SESSION_CACHE_H
#define MUTLS_SESSION_CACHE_H

#include "session.h"

/* The default number of entries, and the most a config may ask for. */
#define MUTLS_SESSION_CACHE_DEFAULT 1024
#define MUTLS_SESSION_CACHE_MAX (1u << 20)
/* An entry larger than this (a session carrying a huge peer chain) is not
 * kept: the cache holds at most entries x 32 KiB. */
#define MUTLS_SESSION_CACHE_ENTRY_MAX (32u * 1024u)

typedef struct mutls_session_cache mutls_session_cache;

/* A cache of up to `entries` sessions (> 0); its slots are allocated by the
 * first store. NULL when out of memory. */
mutls_session_cache *mutls__session_cache_new(size_t entries);
/* Wipes every entry (they hold master secrets) and frees the cache. */
void mutls__session_cache_free(mutls_session_cache *cache);
/* Lets a server session store and resume sessions by ID in its config's
 * cache (nothing when the config has none). */
void mutls__session_cache_attach(mutls_session *s);
/* The number of live entries (tests, introspection). */
size_t mutls__session_cache_count(mutls_session_cache *cache);

#endif
