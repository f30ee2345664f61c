/* Fixed-size open-addressing hash maps for the BPE tokenizer: token string -> id and
 * (left id, right id) -> merge rank. Sized once for the number of entries; never grown. */
#ifndef RIBO_ENGINE_BPE_MAPS_H
#define RIBO_ENGINE_BPE_MAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bpe_str_slot {
    const char *key; /* NULL = empty; not owned */
    uint32_t len, hash;
    int32_t val;
} bpe_str_slot;

typedef struct bpe_strmap {
    bpe_str_slot *slots;
    size_t mask; /* capacity - 1, capacity a power of two */
} bpe_strmap;

typedef struct bpe_pair_slot {
    uint64_t key; /* left << 32 | right; UINT64_MAX = empty */
    uint32_t rank;
} bpe_pair_slot;

typedef struct bpe_pairmap {
    bpe_pair_slot *slots;
    size_t mask;
} bpe_pairmap;

#define BPE_NO_MERGE UINT32_MAX

/* Allocates a string map for up to n entries; false when out of memory. */
bool bpe_strmap_init(bpe_strmap *m, size_t n);
/* Value of key[0..len), or -1. */
int32_t bpe_strmap_get(const bpe_strmap *m, const char *key, size_t len);
/* Inserts key -> val unless the key is present; returns the value already there, or -1 when inserted.
 * key must stay valid while the map is used. */
int32_t bpe_strmap_put(bpe_strmap *m, const char *key, size_t len, int32_t val);
void bpe_strmap_free(bpe_strmap *m);

/* Allocates a pair map for up to n entries; false when out of memory. */
bool bpe_pairmap_init(bpe_pairmap *m, size_t n);
/* Sets (left, right) -> rank, replacing an earlier rank (the library keeps the last duplicate merge). */
void bpe_pairmap_put(bpe_pairmap *m, int32_t left, int32_t right, uint32_t rank);
void bpe_pairmap_free(bpe_pairmap *m);

/* Rank of the merge of (left, right), or BPE_NO_MERGE. Inline: the merge loop's hot path. */
static inline uint32_t bpe_pairmap_get(const bpe_pairmap *m, int32_t left, int32_t right) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & m->mask;; i = (i + 1) & m->mask) {
        const bpe_pair_slot *s = &m->slots[i];
        if (s->key == key) return s->rank;
        if (s->key == UINT64_MAX) return BPE_NO_MERGE;
    }
}

#endif
