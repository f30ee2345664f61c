/* Encoding with a tokenizer.json BPE tokenizer, in the `tokenizers` library's order: added tokens
 * matched on the raw text, normalization, added tokens matched on the normalized text,
 * pre-tokenization into words, BPE per word, post-processor ids around the content. ASCII input only. */
#include <stdlib.h>
#include <string.h>

#include "engine/tokenize/bpe.h"

/* State of one encode call. */
typedef struct bpe_run {
    const ribo_bpe *b;
    const char *raw, *norm; /* input, and input after the normalizer (same pointer without one) */
    bpe_scratch sc;
    int32_t *out;           /* content ids go to out[0..writable) */
    size_t writable, limit; /* ids that fit; max_residues (SIZE_MAX = none) */
    size_t n, n_unk, n_dropped;
    bool oom;
} bpe_run;

/* ASCII classes of the Whitespace pre-tokenizer (\w, \s, anything else), checked against the library
 * for all 128 bytes. */
enum { CHAR_SPACE, CHAR_WORD, CHAR_PUNCT };

/* Class of an ASCII byte. */
static int char_class(unsigned char c) {
    if (c == ' ' || (c >= '\t' && c <= '\r')) return CHAR_SPACE;
    if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_') return CHAR_WORD;
    return CHAR_PUNCT;
}

/* Appends one content id (kept below the truncation limit and while it fits, always counted). */
static void emit(bpe_run *r, int32_t id, bool from_model) {
    if (r->n < r->limit) {
        if (r->n < r->writable) r->out[r->n] = id;
        if (from_model && id == r->b->unk) ++r->n_unk;
    }
    ++r->n;
}

/* BPE of one word norm[a..e). */
static void encode_word(bpe_run *r, size_t a, size_t e) {
    if (!bpe_scratch_reserve(&r->sc, e - a)) {
        r->oom = true;
        return;
    }
    size_t k = bpe_tokenize_word(r->b, r->norm + a, e - a, &r->sc, &r->n_dropped);
    for (size_t i = 0; i < k; ++i) emit(r, r->sc.ids[i], true);
}

/* Splits norm[a..e) into words as the pre-tokenizer does and encodes each. */
static void pre_tokenize(bpe_run *r, size_t a, size_t e) {
    if (r->b->pretok == BPE_PRETOK_NONE) {
        if (e > a) encode_word(r, a, e);
        return;
    }
    bool split_only = r->b->pretok == BPE_PRETOK_WHITESPACE_SPLIT;
    size_t i = a;
    while (i < e) {
        int cls = char_class((unsigned char)r->norm[i]);
        if (cls == CHAR_SPACE) {
            ++i;
            continue;
        }
        size_t start = i++;
        if (split_only)
            while (i < e && char_class((unsigned char)r->norm[i]) != CHAR_SPACE) ++i;
        else
            while (i < e && char_class((unsigned char)r->norm[i]) == cls) ++i;
        encode_word(r, start, i);
    }
}

/* Longest pattern of set starting at s[i] within s[..e), or NULL (leftmost-longest matching). */
static const bpe_added *match_at(const ribo_bpe *b, int set, const char *s, size_t i, size_t e) {
    const bpe_added *best = NULL;
    for (int k = 0; k < b->n_added[set]; ++k) {
        const bpe_added *a = &b->added[set][k];
        if (a->len <= e - i && (!best || a->len > best->len) && memcmp(s + i, a->pattern, a->len) == 0) best = a;
    }
    return best;
}

/* True for an ASCII \w byte. */
static bool is_word(char c) { return char_class((unsigned char)c) == CHAR_WORD; }
static bool is_space(char c) { return char_class((unsigned char)c) == CHAR_SPACE; }

static void split_added(bpe_run *r, int set, size_t a, size_t e);

/* Passes a piece without added tokens on: to the normalized-set split, then to the pre-tokenizer. */
static void plain_piece(bpe_run *r, int set, size_t a, size_t e) {
    if (set == BPE_SET_RAW)
        split_added(r, BPE_SET_NORMALIZED, a, e);
    else
        pre_tokenize(r, a, e);
}

/* AddedVocabulary::find_matches on the piece [a, e) of the raw (or normalized) text: non-overlapping
 * leftmost-longest matches; single_word matches not bounded by non-word characters are skipped;
 * lstrip / rstrip take the whitespace around a match into it. */
static void split_added(bpe_run *r, int set, size_t a, size_t e) {
    const ribo_bpe *b = r->b;
    if (!b->n_added[set]) {
        plain_piece(r, set, a, e);
        return;
    }
    const char *s = set == BPE_SET_RAW ? r->raw : r->norm;
    size_t pos = a, start_offset = a;
    while (pos < e) {
        const bpe_added *m = b->added_start[set][(unsigned char)s[pos]] ? match_at(b, set, s, pos, e) : NULL;
        if (!m) {
            ++pos;
            continue;
        }
        size_t ms = pos, me = pos + m->len;
        pos = me;
        if (m->single_word && !((ms == a || !is_word(s[ms - 1])) && (me == e || !is_word(s[me])))) continue;
        size_t start = ms, stop = me;
        if (m->lstrip) {
            while (start > a && is_space(s[start - 1])) --start;
            if (start < start_offset) start = start_offset;
        }
        if (m->rstrip)
            while (stop < e && is_space(s[stop])) ++stop;
        if (start_offset < start) plain_piece(r, set, start_offset, start);
        emit(r, m->id, false);
        start_offset = stop;
    }
    if (start_offset < e) plain_piece(r, set, start_offset, e);
}

/* Writes the post-processor ids and the stats once the content is known. */
static ribo_status finish(const ribo_bpe *b, bpe_run *r, int32_t *out, size_t out_cap, size_t *n_out,
                          ribo_encode_stats *stats, ribo_error *err) {
    size_t keep = r->n < r->limit ? r->n : r->limit;
    if (keep > r->writable)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT,
                              "ribo_tokenizer_encode: output holds %zu ids, too few for the %zu needed", out_cap,
                              keep + b->n_before + b->n_after);
    if (b->n_before) memcpy(out, b->before, b->n_before * sizeof *out);
    if (b->n_after) memcpy(out + b->n_before + keep, b->after, b->n_after * sizeof *out);
    *n_out = b->n_before + keep + b->n_after;
    if (stats) {
        stats->n_unknown = r->n_unk + r->n_dropped;
        stats->n_residues_in = r->n;
        stats->truncated = r->n > r->limit;
    }
    return RIBO_OK;
}

/* tokenizer.h's ribo_tokenizer_encode for tokenizer.json BPE. */
static ribo_status bpe_encode(const ribo_tokenizer *tok, const char *seq, size_t len, size_t max_residues,
                              int32_t *out, size_t out_cap, size_t *n_out, ribo_encode_stats *stats, ribo_error *err) {
    const ribo_bpe *b = (const ribo_bpe *)tok;
    size_t specials = b->n_before + b->n_after;
    if (out_cap < specials)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT,
                              "ribo_tokenizer_encode: output holds %zu ids, at least %zu needed", out_cap, specials);
    for (size_t i = 0; i < len; ++i)
        if ((unsigned char)seq[i] >= 0x80)
            return ribo_error_set(err, RIBO_ERR_INPUT,
                                  "byte 0x%02x at position %zu is not ASCII (the tokenizer.json tokenizer reads ASCII "
                                  "only)",
                                  (unsigned char)seq[i], i + 1);
    if (len > (size_t)INT32_MAX)
        return ribo_error_set(err, RIBO_ERR_INPUT, "sequence of %zu characters is too long for the BPE tokenizer", len);
    bpe_run r = {.b = b, .raw = seq, .norm = seq, .out = out + b->n_before};
    r.limit = max_residues ? max_residues : SIZE_MAX;
    r.writable = out_cap - specials < r.limit ? out_cap - specials : r.limit;
    char *lower = NULL;
    if (b->lowercase && len) {
        lower = malloc(len);
        if (!lower) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of memory encoding %zu characters", len);
        for (size_t i = 0; i < len; ++i) lower[i] = bpe_ascii_lower(seq[i]);
        r.norm = lower;
    }
    split_added(&r, BPE_SET_RAW, 0, len);
    free(lower);
    bpe_scratch_free(&r.sc);
    if (r.oom) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of memory encoding %zu characters", len);
    return finish(b, &r, out, out_cap, n_out, stats, err);
}

/* Model vocabulary + added tokens outside it. */
static int bpe_vocab_size(const ribo_tokenizer *tok) { return ((const ribo_bpe *)tok)->n_total; }

/* [CLS] [SEP] [PAD] unk_token [MASK] ids. */
static ribo_special_tokens bpe_specials(const ribo_tokenizer *tok) { return ((const ribo_bpe *)tok)->sp; }

/* Id of a token string (model vocabulary or added token), or -1. */
static int32_t bpe_token_id(const ribo_tokenizer *tok, const char *token) {
    const ribo_bpe *b = (const ribo_bpe *)tok;
    return bpe_strmap_get(&b->ids, token, strlen(token));
}

/* Token string of an id, or NULL. */
static const char *bpe_token_text(const ribo_tokenizer *tok, int32_t id) {
    const ribo_bpe *b = (const ribo_bpe *)tok;
    return id < 0 || id >= b->n_total ? NULL : b->text[id];
}

/* Post-processor ids before and after the content. */
static void bpe_added_counts(const ribo_tokenizer *tok, size_t *before, size_t *after) {
    const ribo_bpe *b = (const ribo_bpe *)tok;
    *before = b->n_before;
    *after = b->n_after;
}

/* Frees everything the loader allocated (also a partly loaded tokenizer). */
static void bpe_free(ribo_tokenizer *tok) {
    ribo_bpe *b = (ribo_bpe *)tok;
    if (b->text)
        for (int32_t i = 0; i < b->n_total; ++i) free(b->text[i]);
    free(b->text);
    bpe_strmap_free(&b->ids);
    bpe_pairmap_free(&b->merges);
    free(b->merge_new);
    for (int set = 0; set < BPE_N_SETS; ++set) {
        for (int k = 0; k < b->n_added[set]; ++k) free(b->added[set][k].pattern);
        free(b->added[set]);
    }
    free(b->before);
    free(b->after);
    free(b);
}

const ribo_tokenizer_i ribo_bpe_tokenizer_i = {
    .kind = "hf-bpe",
    .vocab_size = bpe_vocab_size,
    .specials = bpe_specials,
    .token_id = bpe_token_id,
    .token_text = bpe_token_text,
    .added_counts = bpe_added_counts,
    .encode = bpe_encode,
    .free = bpe_free,
};
