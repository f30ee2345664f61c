/* Open-addressing hash maps of the BPE tokenizer (linear probing, load at most 1/2). */
#include "engine/tokenize/bpe_maps.h"

#include <stdlib.h>
#include <string.h>

/* Smallest power of two >= 2n (at least 16), or 0 on overflow. */
static size_t table_size(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) {
        if (cap > SIZE_MAX / 4) return 0;
        cap *= 2;
    }
    return cap;
}

/* FNV-1a over the bytes, folded to 32 bits. */
static uint32_t hash_bytes(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; ++i) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return (uint32_t)(h ^ (h >> 32));
}

bool bpe_strmap_init(bpe_strmap *m, size_t n) {
    size_t cap = table_size(n);
    m->slots = cap ? calloc(cap, sizeof *m->slots) : NULL;
    m->mask = cap - 1;
    return m->slots != NULL;
}

/* Slot holding key, or the empty slot where it would go. */
static bpe_str_slot *str_find(const bpe_strmap *m, const char *key, size_t len, uint32_t h) {
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        bpe_str_slot *s = &m->slots[i];
        if (!s->key || (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)) return s;
    }
}

int32_t bpe_strmap_get(const bpe_strmap *m, const char *key, size_t len) {
    if (!m->slots || len > UINT32_MAX) return -1;
    const bpe_str_slot *s = str_find(m, key, len, hash_bytes(key, len));
    return s->key ? s->val : -1;
}

int32_t bpe_strmap_put(bpe_strmap *m, const char *key, size_t len, int32_t val) {
    uint32_t h = hash_bytes(key, len);
    bpe_str_slot *s = str_find(m, key, len, h);
    if (s->key) return s->val;
    *s = (bpe_str_slot){key, (uint32_t)len, h, val};
    return -1;
}

void bpe_strmap_free(bpe_strmap *m) {
    free(m->slots);
    m->slots = NULL;
}

bool bpe_pairmap_init(bpe_pairmap *m, size_t n) {
    size_t cap = table_size(n);
    m->slots = cap ? malloc(cap * sizeof *m->slots) : NULL;
    m->mask = cap - 1;
    if (!m->slots) return false;
    for (size_t i = 0; i < cap; ++i) m->slots[i] = (bpe_pair_slot){UINT64_MAX, 0};
    return true;
}

void bpe_pairmap_put(bpe_pairmap *m, int32_t left, int32_t right, uint32_t rank) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & m->mask;; i = (i + 1) & m->mask) {
        bpe_pair_slot *s = &m->slots[i];
        if (s->key == key || s->key == UINT64_MAX) {
            *s = (bpe_pair_slot){key, rank};
            return;
        }
    }
}

void bpe_pairmap_free(bpe_pairmap *m) {
    free(m->slots);
    m->slots = NULL;
}
