/* BPE on one word, exactly as the `tokenizers` library's BPE::merge_word + Word::merge_all: a min-heap
 * of candidate merges keyed by rank << 32 | position, expired entries skipped when popped. O(n log n).
 * Equal keys are identical entries, so the pop order (and the result) does not depend on the heap's
 * layout: a binary heap here, a 4-ary one in the library. */
#include <stdlib.h>

#include "engine/tokenize/bpe.h"

bool bpe_scratch_reserve(bpe_scratch *sc, size_t n) {
    if (n <= sc->cap) return true;
    size_t cap = sc->cap ? sc->cap : 64;
    while (cap < n) cap *= 2;
    if (cap > (size_t)INT32_MAX || cap > SIZE_MAX / (3 * sizeof(uint64_t))) return false;
    bpe_symbol *sym = realloc(sc->sym, cap * sizeof *sym);
    if (sym) sc->sym = sym;
    uint64_t *heap = sym ? realloc(sc->heap, 3 * cap * sizeof *heap) : NULL;
    if (heap) sc->heap = heap;
    int32_t *ids = heap ? realloc(sc->ids, cap * sizeof *ids) : NULL;
    if (!ids) return false;
    sc->ids = ids;
    sc->cap = cap;
    return true;
}

void bpe_scratch_free(bpe_scratch *sc) {
    free(sc->sym);
    free(sc->heap);
    free(sc->ids);
    *sc = (bpe_scratch){0};
}

/* Pushes key onto the min-heap h of *n entries. */
static void heap_push(uint64_t *h, size_t *n, uint64_t key) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h[parent] <= key) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = key;
}

/* Orders the n keys of h into a min-heap (Floyd: O(n)). */
static void heapify(uint64_t *h, size_t n) {
    for (size_t top = n / 2; top-- > 0;) {
        uint64_t key = h[top];
        size_t i = top;
        for (size_t child = 2 * i + 1; child < n; child = 2 * i + 1) {
            child += child + 1 < n && h[child + 1] < h[child];
            if (key <= h[child]) break;
            h[i] = h[child];
            i = child;
        }
        h[i] = key;
    }
}

/* Removes and returns the smallest key of the non-empty min-heap h. Bottom-up: the hole left at the
 * root goes down to a leaf along the smaller children (no data-dependent branch), then the last key
 * rises from there; it is usually large, so it rises little. */
static uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0], last = h[--*n];
    size_t count = *n, i = 0;
    if (!count) return top;
    for (size_t child = 1; child < count; child = 2 * i + 1) {
        child += child + 1 < count && h[child + 1] < h[child];
        h[i] = h[child];
        i = child;
    }
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h[parent] <= last) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = last;
    return top;
}

/* Appends a symbol of token c covering len characters. */
static void add_symbol(bpe_symbol *sym, size_t *n, int32_t c, uint32_t len) {
    size_t i = (*n)++;
    sym[i] = (bpe_symbol){c, (int32_t)i - 1, -1, len};
    if (i) sym[i - 1].next = (int32_t)i;
}

/* Characters to symbols (merge_word's first half); returns the symbol count. */
static size_t word_symbols(const ribo_bpe *b, const char *w, size_t n, bpe_symbol *sym, size_t *n_dropped) {
    size_t ns = 0;
    uint32_t unk_len = 0; /* characters of the pending (not yet added) unk symbol */
    for (size_t i = 0; i < n; ++i) {
        int32_t id = b->char_id[(unsigned char)w[i] & 0x7f];
        if (id >= 0) {
            if (unk_len) add_symbol(sym, &ns, b->unk, unk_len);
            unk_len = 0;
            add_symbol(sym, &ns, id, 1);
        } else if (b->unk >= 0) {
            if (unk_len && !b->fuse_unk) {
                add_symbol(sym, &ns, b->unk, unk_len);
                unk_len = 0;
            }
            ++unk_len;
        } else {
            ++*n_dropped;
        }
    }
    if (unk_len) add_symbol(sym, &ns, b->unk, unk_len);
    return ns;
}

/* Key of the merge of the symbols at pos and its right neighbour, or 0 with *ok false. */
static uint64_t merge_key(const ribo_bpe *b, const bpe_symbol *sym, int32_t pos, int32_t right, bool *ok) {
    uint32_t rank = bpe_pairmap_get(&b->merges, sym[pos].c, sym[right].c);
    *ok = rank != BPE_NO_MERGE;
    return (uint64_t)rank << 32 | (uint32_t)pos;
}

/* Word::merge_all without dropout. */
static void merge_all(const ribo_bpe *b, bpe_symbol *sym, size_t ns, uint64_t *heap) {
    size_t nh = 0;
    bool ok;
    for (size_t i = 0; i + 1 < ns; ++i) {
        uint64_t key = merge_key(b, sym, (int32_t)i, (int32_t)i + 1, &ok);
        if (ok) heap[nh++] = key;
    }
    heapify(heap, nh);
    while (nh) {
        uint64_t top = heap_pop(heap, &nh);
        int32_t pos = (int32_t)(uint32_t)top;
        int32_t new_id = b->merge_new[top >> 32];
        bpe_symbol *cur = &sym[pos];
        if (cur->len == 0 || cur->next < 0) continue;
        int32_t right = cur->next;
        /* an expired entry: the pair at pos no longer merges into new_id */
        uint32_t rank = bpe_pairmap_get(&b->merges, cur->c, sym[right].c);
        if (rank == BPE_NO_MERGE || b->merge_new[rank] != new_id) continue;
        cur->c = new_id;
        cur->len += sym[right].len;
        cur->next = sym[right].next;
        sym[right].len = 0;
        if (cur->next >= 0) sym[cur->next].prev = pos;
        if (cur->prev >= 0) {
            uint64_t key = merge_key(b, sym, cur->prev, pos, &ok);
            if (ok) heap_push(heap, &nh, key);
        }
        if (cur->next >= 0) {
            uint64_t key = merge_key(b, sym, pos, cur->next, &ok);
            if (ok) heap_push(heap, &nh, key);
        }
    }
}

size_t bpe_tokenize_word(const ribo_bpe *b, const char *w, size_t n, bpe_scratch *sc, size_t *n_dropped) {
    if (b->ignore_merges) {
        int32_t id = bpe_strmap_get(&b->ids, w, n);
        if (id >= 0 && id < b->n_model) {
            sc->ids[0] = id;
            return 1;
        }
    }
    size_t ns = word_symbols(b, w, n, sc->sym, n_dropped);
    merge_all(b, sc->sym, ns, sc->heap);
    size_t k = 0;
    for (size_t i = 0; i < ns; ++i)
        if (sc->sym[i].len) sc->ids[k++] = sc->sym[i].c;
    return k;
}
