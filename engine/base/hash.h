/* A small streaming 64-bit hash (FNV-1a with a final avalanche) for fingerprints and duplicate-id
 * screening. Not cryptographic: it guards against mistakes, not against an adversary. */
#ifndef RIBO_ENGINE_HASH_H
#define RIBO_ENGINE_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RIBO_HASH_INIT 1469598103934665603ull

static inline uint64_t ribo_hash_bytes(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = (const unsigned char *)data;
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static inline uint64_t ribo_hash_str(uint64_t h, const char *s) { return ribo_hash_bytes(h, s, strlen(s) + 1); }

static inline uint64_t ribo_hash_u64(uint64_t h, uint64_t v) { return ribo_hash_bytes(h, &v, sizeof v); }

/* Mixes the bits so that every output bit depends on every input bit. */
static inline uint64_t ribo_hash_final(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

#endif
