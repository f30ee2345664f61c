/* What a tokenizer implementation provides: one function table per kind (ESM vocab.txt, HuggingFace
 * tokenizer.json BPE). The public functions of tokenizer.h dispatch through it. */
#ifndef RIBO_ENGINE_TOKENIZER_IMPL_H
#define RIBO_ENGINE_TOKENIZER_IMPL_H

#include "engine/tokenize/tokenizer.h"

typedef struct ribo_tokenizer_i {
    const char *kind; /* "esm-vocab", "hf-bpe" */
    int (*vocab_size)(const ribo_tokenizer *tok);
    ribo_special_tokens (*specials)(const ribo_tokenizer *tok);
    int32_t (*token_id)(const ribo_tokenizer *tok, const char *token);
    const char *(*token_text)(const ribo_tokenizer *tok, int32_t id);
    void (*added_counts)(const ribo_tokenizer *tok, size_t *before, size_t *after);
    ribo_status (*encode)(const ribo_tokenizer *tok, const char *seq, size_t len, size_t max_residues, int32_t *out,
                          size_t out_cap, size_t *n_out, ribo_encode_stats *stats, ribo_error *err);
    void (*free)(ribo_tokenizer *tok);
} ribo_tokenizer_i;

/* Every implementation's struct starts with this header (and is cast from/to it). */
struct ribo_tokenizer {
    const ribo_tokenizer_i *i;
};

#endif
