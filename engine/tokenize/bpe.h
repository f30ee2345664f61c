/* The HuggingFace tokenizer.json BPE tokenizer, shared by its loader (bpe_load*.c), the word merger
 * (bpe_merge.c) and the encoder (bpe_encode.c). Internal to the engine: callers use tokenizer.h. */
#ifndef RIBO_ENGINE_BPE_H
#define RIBO_ENGINE_BPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "engine/tokenize/bpe_maps.h"
#include "engine/tokenize/tokenizer_impl.h"

/* Pre-tokenization; any Sequence of Whitespace / WhitespaceSplit reduces to one of these. */
typedef enum bpe_pretok {
    BPE_PRETOK_NONE,             /* the whole (normalized) piece is one word */
    BPE_PRETOK_WHITESPACE_SPLIT, /* runs of non-whitespace */
    BPE_PRETOK_WHITESPACE        /* \w+|[^\w\s]+ */
} bpe_pretok;

/* Added-token sets: matched on the raw input, or on the normalized text (normalized = true). */
enum { BPE_SET_RAW, BPE_SET_NORMALIZED, BPE_N_SETS };

typedef struct bpe_added {
    char *pattern;  /* the text matched: content, lowercased for a normalized token under Lowercase */
    size_t len;
    int32_t id;
    bool single_word, lstrip, rstrip;
} bpe_added;

typedef struct ribo_bpe {
    ribo_tokenizer base;     /* function table: ribo_bpe_tokenizer_i */
    int32_t n_model;         /* model.vocab entries: ids 0..n_model-1 */
    int32_t n_total;         /* + added tokens outside model.vocab (ids n_model..) */
    char **text;             /* [n_total] token strings by id (owned) */
    bpe_strmap ids;          /* every token string -> id (keys point into text) */
    bpe_pairmap merges;      /* (left id, right id) -> rank */
    int32_t *merge_new;      /* [n_merges] id of the merged token, by rank */
    uint32_t n_merges;
    int32_t char_id[128];    /* id of the one-character model token of each ASCII byte, or -1 */
    int32_t unk;             /* id of model.unk_token; -1 when null (unknown characters are dropped) */
    bool fuse_unk, ignore_merges;
    bool lowercase;          /* normalizer: Lowercase (alone or in a Sequence) */
    bpe_pretok pretok;
    bpe_added *added[BPE_N_SETS]; /* added tokens by set, in file order */
    int n_added[BPE_N_SETS];
    bool added_start[BPE_N_SETS][128]; /* some pattern of the set starts with this byte */
    int32_t *before, *after; /* post-processor ids around the content (owned) */
    size_t n_before, n_after;
    ribo_special_tokens sp;
} ribo_bpe;

extern const ribo_tokenizer_i ribo_bpe_tokenizer_i;

/* A token or JSON string for a one-line message: quoted, control and non-ASCII bytes as \xHH, cut
 * with "..." after about 48 bytes. Returns buf. */
const char *bpe_quote(char *buf, size_t cap, const char *s);
#define BPE_QUOTE_CAP 224

/* Reads an optional boolean member: absent or null gives dflt; another type is an error naming
 * where.key. */
ribo_status bpe_json_bool(const cJSON *obj, const char *key, bool dflt, bool *out, const char *where,
                          const char *path, ribo_error *err);

/* The Lowercase normalizer on one byte (ASCII letters; other bytes unchanged). */
static inline char bpe_ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

/* Loader parts (bpe_load_parts.c); each error names path and the JSON entry. */
ribo_status bpe_load_normalizer(ribo_bpe *b, const cJSON *node, const char *path, ribo_error *err);
ribo_status bpe_load_pre_tokenizer(ribo_bpe *b, const cJSON *node, const char *path, ribo_error *err);
ribo_status bpe_load_added_tokens(ribo_bpe *b, const cJSON *node, const char *path, ribo_error *err);
ribo_status bpe_load_post_processor(ribo_bpe *b, const cJSON *node, const char *path, ribo_error *err);

/* Working memory of one encode call for words of up to cap characters. */
typedef struct bpe_symbol {
    int32_t c;          /* token id */
    int32_t prev, next; /* neighbours still alive, -1 at the ends */
    uint32_t len;       /* characters covered; 0 = merged into its left neighbour */
} bpe_symbol;

typedef struct bpe_scratch {
    bpe_symbol *sym; /* [cap] */
    uint64_t *heap;  /* [3 * cap]: rank << 32 | position */
    int32_t *ids;    /* [cap] */
    size_t cap;
} bpe_scratch;

/* Grows the scratch to words of n characters; false when out of memory. */
bool bpe_scratch_reserve(bpe_scratch *sc, size_t n);
void bpe_scratch_free(bpe_scratch *sc);

/* Tokenizes one pre-tokenized word w[0..n) (ASCII, n >= 1, n <= sc->cap) as the library's BPE model:
 * characters to ids (unknown ones to unk, fused with fuse_unk, or dropped without an unk_token), then
 * merges lowest rank first, leftmost on ties. Leaves the ids in sc->ids; returns their count; adds the
 * dropped characters to *n_dropped. */
size_t bpe_tokenize_word(const ribo_bpe *b, const char *w, size_t n, bpe_scratch *sc, size_t *n_dropped);

#endif
