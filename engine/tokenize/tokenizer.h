/* Tokenizers built from files in the model directory: the ESM vocab.txt tokenizer (one token per
 * residue character, <cls> + residues + <eos>) and HuggingFace tokenizer.json BPE tokenizers
 * (DNABERT-2 / DNABERT-S). One opaque type; the functions below work for both. */
#ifndef RIBO_ENGINE_TOKENIZER_H
#define RIBO_ENGINE_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/base/error.h"

typedef struct ribo_tokenizer ribo_tokenizer;

typedef struct ribo_special_tokens {
    int32_t cls, eos, pad, unk, mask; /* -1 when the vocabulary has none */
} ribo_special_tokens;

/* Loads an ESM vocab.txt (one token per line; line index = id). Errors name the file and line:
 * missing file, empty vocabulary, duplicate tokens, missing <cls>/<eos>/<unk>/<pad>. */
ribo_status ribo_tokenizer_load_esm_vocab(const char *vocab_path, ribo_tokenizer **out, ribo_error *err);

/* Loads a HuggingFace `tokenizers` tokenizer.json with a BPE model and encodes exactly as the
 * library's Tokenizer.encode(s).ids (input restricted to ASCII). Supported: model BPE (vocab, merges as
 * "a b" strings or ["a", "b"] pairs, unk_token, fuse_unk, ignore_merges; dropout null/0, byte_fallback
 * false, continuing_subword_prefix / end_of_word_suffix null or ""), added_tokens, normalizer null /
 * Lowercase / Sequence of those, pre_tokenizer null / Whitespace / WhitespaceSplit / Sequence of those,
 * post_processor null / TemplateProcessing / BertProcessing; decoder, truncation and padding are ignored.
 * Anything else is refused (RIBO_ERR_UNSUPPORTED) and malformed content (RIBO_ERR_MODEL) with one line
 * naming the file and the component or entry. Specials: cls [CLS] (else the post-processor's first id),
 * eos [SEP] (else its last id), pad [PAD], unk (the model's unk_token, else [UNK]), mask [MASK]; -1 when
 * absent. */
ribo_status ribo_tokenizer_load_hf_json(const char *path, ribo_tokenizer **out, ribo_error *err);

/* "esm-vocab" or "hf-bpe". */
const char *ribo_tokenizer_kind(const ribo_tokenizer *tok);

/* Vocabulary size: the largest id + 1 (for tokenizer.json: model vocabulary + added tokens outside it). */
int ribo_tokenizer_vocab_size(const ribo_tokenizer *tok);
ribo_special_tokens ribo_tokenizer_specials(const ribo_tokenizer *tok);
/* Id of a token string, or -1. */
int32_t ribo_tokenizer_token_id(const ribo_tokenizer *tok, const char *token);
/* Token string of an id, or NULL. */
const char *ribo_tokenizer_token_text(const ribo_tokenizer *tok, int32_t id);

/* Number of special ids ribo_tokenizer_encode puts before and after the content tokens (ESM: 1 and 1;
 * tokenizer.json: from the post-processor, e.g. 1 and 1 for "[CLS] $A [SEP]", 0 and 0 without one). */
void ribo_tokenizer_added_counts(const ribo_tokenizer *tok, size_t *before, size_t *after);

typedef struct ribo_encode_stats {
    size_t n_unknown;   /* <unk> tokens among the kept content tokens (ESM: characters mapped to <unk>) */
    bool truncated;     /* more than max_residues content tokens were present */
    size_t n_residues_in; /* content tokens (residues for ESM) before truncation */
} ribo_encode_stats;

/* ESM: encodes seq as <cls> r1..rn <eos>. Lowercase letters are folded to uppercase; a literal special
 * token written in angle brackets (e.g. "<mask>") is one token; any other character not in the
 * vocabulary becomes <unk> (one per character). At most max_residues residue tokens are kept
 * (0 = no limit). out must hold at least min(n_residues, max_residues) + 2 ids; returns the number
 * written via *n_out.
 * tokenizer.json BPE: the library's ids for seq as given (no case folding beyond the file's
 * normalizer); max_residues limits the content tokens (specials excluded), cutting after tokenization
 * as the library's truncation does. A content token never covers less than one character, so
 * min(len, max_residues) + 2 ids suffice for a template with one special on each side. A byte >= 0x80
 * is an error (RIBO_ERR_INPUT). Too small an out is an error (RIBO_ERR_INVALID_ARGUMENT), never an
 * overflow. */
ribo_status ribo_tokenizer_encode(const ribo_tokenizer *tok, const char *seq, size_t len, size_t max_residues,
                                  int32_t *out, size_t out_cap, size_t *n_out, ribo_encode_stats *stats,
                                  ribo_error *err);

void ribo_tokenizer_free(ribo_tokenizer *tok);

#endif
