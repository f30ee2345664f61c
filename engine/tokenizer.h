/* Tokenizers built from files in the model directory. Today: the ESM vocab.txt tokenizer
 * (one token per residue character, <cls> + residues + <eos>). */
#ifndef RIBO_ENGINE_TOKENIZER_H
#define RIBO_ENGINE_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct ribo_tokenizer ribo_tokenizer;

typedef struct ribo_special_tokens {
    int32_t cls, eos, pad, unk, mask; /* -1 when the vocabulary has none */
} ribo_special_tokens;

/* Loads an ESM vocab.txt (one token per line; line index = id). Errors name the file and line:
 * missing file, empty vocabulary, duplicate tokens, missing <cls>/<eos>/<unk>/<pad>. */
ribo_status ribo_tokenizer_load_esm_vocab(const char *vocab_path, ribo_tokenizer **out, ribo_error *err);

int ribo_tokenizer_vocab_size(const ribo_tokenizer *tok);
ribo_special_tokens ribo_tokenizer_specials(const ribo_tokenizer *tok);
/* Id of a token string, or -1. */
int32_t ribo_tokenizer_token_id(const ribo_tokenizer *tok, const char *token);
/* Token string of an id, or NULL. */
const char *ribo_tokenizer_token_text(const ribo_tokenizer *tok, int32_t id);

typedef struct ribo_encode_stats {
    size_t n_unknown;   /* characters mapped to <unk> */
    bool truncated;     /* more than max_residues residues were present */
    size_t n_residues_in; /* residue tokens before truncation */
} ribo_encode_stats;

/* Encodes seq as <cls> r1..rn <eos>. Lowercase letters are folded to uppercase; a literal special
 * token written in angle brackets (e.g. "<mask>") is one token; any other character not in the
 * vocabulary becomes <unk> (one per character). At most max_residues residue tokens are kept
 * (0 = no limit). out must hold at least min(n_residues, max_residues) + 2 ids; returns the number
 * written via *n_out. */
ribo_status ribo_tokenizer_encode(const ribo_tokenizer *tok, const char *seq, size_t len, size_t max_residues,
                                  int32_t *out, size_t out_cap, size_t *n_out, ribo_encode_stats *stats,
                                  ribo_error *err);

void ribo_tokenizer_free(ribo_tokenizer *tok);

#endif
