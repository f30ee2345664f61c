/* The public tokenizer functions: argument checks, then the implementation's function table. */
#include <stddef.h>

#include "engine/tokenize/tokenizer_impl.h"

int ribo_tokenizer_vocab_size(const ribo_tokenizer *tok) { return tok ? tok->i->vocab_size(tok) : 0; }

ribo_special_tokens ribo_tokenizer_specials(const ribo_tokenizer *tok) {
    ribo_special_tokens none = {-1, -1, -1, -1, -1};
    return tok ? tok->i->specials(tok) : none;
}

int32_t ribo_tokenizer_token_id(const ribo_tokenizer *tok, const char *token) {
    return tok && token ? tok->i->token_id(tok, token) : -1;
}

const char *ribo_tokenizer_token_text(const ribo_tokenizer *tok, int32_t id) {
    return tok ? tok->i->token_text(tok, id) : NULL;
}

const char *ribo_tokenizer_kind(const ribo_tokenizer *tok) { return tok ? tok->i->kind : NULL; }

void ribo_tokenizer_added_counts(const ribo_tokenizer *tok, size_t *before, size_t *after) {
    size_t b = 0, a = 0;
    if (tok) tok->i->added_counts(tok, &b, &a);
    if (before) *before = b;
    if (after) *after = a;
}

ribo_status ribo_tokenizer_encode(const ribo_tokenizer *tok, const char *seq, size_t len, size_t max_residues,
                                  int32_t *out, size_t out_cap, size_t *n_out, ribo_encode_stats *stats,
                                  ribo_error *err) {
    if (!tok || (!seq && len) || !out || !n_out)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_tokenizer_encode: NULL argument");
    return tok->i->encode(tok, seq, len, max_residues, out, out_cap, n_out, stats, err);
}

void ribo_tokenizer_free(ribo_tokenizer *tok) {
    if (tok) tok->i->free(tok);
}
