/* The per-record step of the input reader (input_stream.c): one FASTA record validated, prepared
 * (seqprep.c) and tokenized onto the end of a sequence set. */
#include "engine/input/seqset.h"

#include <stdlib.h>
#include <string.h>

#include "engine/io/fasta.h"
#include "engine/input/seqprep.h"

/* State of one record step. */
typedef struct seq_loader {
    ribo_seqset *set;
    const char *const *paths;
    const ribo_tokenizer *tok;
    ribo_seqset_options opts;
    const ribo_record_context *ctx;
} seq_loader;

/* Grows the per-sequence arrays to hold one more sequence (offsets[0] = 0 once allocated). */
static ribo_status reserve_seq(ribo_seqset *s, ribo_error *err) {
    if (s->offsets && s->n + 1 <= s->cap_seqs) return RIBO_OK;
    size_t cap = s->cap_seqs ? s->cap_seqs * 2 : 1024;
    char **ids = realloc(s->ids, cap * sizeof *ids);
    if (ids) s->ids = ids;
    int64_t *off = ids ? realloc(s->offsets, (cap + 1) * sizeof *off) : NULL;
    if (!off) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of memory holding %zu sequences", s->n + 1);
    if (!s->offsets) off[0] = 0;
    s->offsets = off;
    s->cap_seqs = cap;
    return RIBO_OK;
}

/* Grows the token array to hold need more ids. */
static ribo_status reserve_tokens(seq_loader *L, size_t need, ribo_error *err) {
    ribo_seqset *s = L->set;
    size_t used = (size_t)s->offsets[s->n];
    if (used + need <= s->cap_tokens) return RIBO_OK;
    size_t cap = s->cap_tokens ? s->cap_tokens : 1u << 16;
    while (cap < used + need) cap *= 2;
    int32_t *p = realloc(s->tokens, cap * sizeof *p);
    if (!p) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of memory holding %zu tokens", used + need);
    s->tokens = p;
    s->cap_tokens = cap;
    return RIBO_OK;
}

/* Tokenizes one sequence of a record onto the end of the token array; fails if too long with
 * error_if_longer (naming the sequence's own id, e.g. a translated frame's). */
static ribo_status encode_entry(seq_loader *L, int file, const ribo_fasta_record *rec, const ribo_seqprep_entry *e,
                                ribo_error *err) {
    ribo_seqset *s = L->set;
    size_t limit = L->opts.error_if_longer ? 0 : L->opts.max_residues;
    size_t keep = (limit && limit < e->len) ? limit : e->len; /* content tokens <= characters */
    size_t before = 0, after = 0;
    ribo_tokenizer_added_counts(L->tok, &before, &after);
    RIBO_TRY(reserve_tokens(L, keep + before + after, err));
    size_t used = (size_t)s->offsets[s->n], n_out = 0;
    ribo_encode_stats st = {0};
    ribo_status rc = ribo_tokenizer_encode(L->tok, e->seq, e->len, limit, s->tokens + used, s->cap_tokens - used,
                                           &n_out, &st, err);
    if (rc != RIBO_OK)
        return ribo_error_prefix(err, "%s: record %zu ('%s')", L->paths[file], rec->record_number, e->id);
    size_t max = L->opts.max_residues;
    if (L->opts.error_if_longer && max && st.n_residues_in > max)
        return ribo_error_set(err, RIBO_ERR_INPUT,
                              "%s: record %zu ('%s'): sequence has %zu %s, more than the limit of %zu "
                              "(pass --truncate N to keep only the first N %s)",
                              L->paths[file], rec->record_number, e->id, st.n_residues_in,
                              L->opts.dna_input ? "tokens" : "residues", max, L->opts.dna_input ? "tokens" : "residues");
    s->n_unknown += st.n_unknown;
    s->n_truncated += st.truncated;
    s->offsets[s->n + 1] = (int64_t)(used + n_out);
    if (n_out > s->max_len) s->max_len = n_out;
    return RIBO_OK;
}

/* Checks, tokenizes and keeps one sequence of a record under its id. */
static ribo_status add_entry(seq_loader *L, int file, const ribo_fasta_record *rec, const ribo_seqprep_entry *e,
                             ribo_error *err) {
    ribo_seqset *s = L->set;
    if (L->ctx->check_id) RIBO_TRY(L->ctx->check_id(L->ctx->check_user, file, rec, e->id, err));
    RIBO_TRY(reserve_seq(s, err));
    RIBO_TRY(encode_entry(L, file, rec, e, err));
    s->ids[s->n] = strdup(e->id);
    if (!s->ids[s->n]) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of memory copying ids");
    ++s->n;
    return RIBO_OK;
}

/* Validates one record, turns it into its sequences (as it is, DNA-checked, or translated frames;
 * the set's own seqprep buffer) and keeps each of them. */
static ribo_status add_record(seq_loader *L, int file, const ribo_fasta_record *rec, ribo_error *err) {
    ribo_seqset *s = L->set;
    if (rec->seq_len == 0) {
        if (L->opts.skip_invalid) {
            ++s->n_skipped;
            return RIBO_OK;
        }
        return ribo_error_set(err, RIBO_ERR_INPUT, "%s: record %zu ('%s'): empty sequence (--skip-invalid skips such "
                              "records)", L->paths[file], rec->record_number, rec->id);
    }
    if (!s->prep) {
        s->prep = calloc(1, sizeof *s->prep);
        if (!s->prep) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    s->prep->opts = (ribo_seqprep_options){L->opts.translate_frames, L->opts.drop_stop_frames, L->opts.dna_input,
                                           L->opts.lenient};
    ribo_seqprep_stats stats = {0};
    ribo_status st = ribo_seqprep_record(s->prep, L->paths[file], rec, &stats, err);
    s->n_stop_frames += stats.n_stop_frames;
    s->n_short_frames += stats.n_short_frames;
    s->n_lenient += stats.n_lenient;
    RIBO_TRY(st);
    for (size_t i = 0; i < s->prep->n; ++i) RIBO_TRY(add_entry(L, file, rec, &s->prep->entries[i], err));
    return RIBO_OK;
}

ribo_status ribo_seqset_check_options(const ribo_seqset_options *opts, ribo_error *err) {
    if (opts->translate_frames != 0 && opts->translate_frames != RIBO_N_FRAMES)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "translate_frames must be 0 or 6, not %d",
                              opts->translate_frames);
    if (opts->translate_frames && opts->dna_input)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--translate needs a protein model (this model reads DNA)");
    return RIBO_OK;
}

ribo_status ribo_seqset_add_record(ribo_seqset *set, const ribo_record_context *ctx, int file,
                                   const ribo_fasta_record *rec, ribo_error *err) {
    seq_loader L = {.set = set, .paths = ctx->paths, .tok = ctx->tok, .opts = *ctx->opts, .ctx = ctx};
    RIBO_TRY(reserve_seq(set, err));
    return add_record(&L, file, rec, err);
}

void ribo_seqset_clear(ribo_seqset *set) {
    if (!set) return;
    if (set->ids)
        for (size_t i = 0; i < set->n; ++i) free(set->ids[i]);
    set->n = 0;
    set->n_unknown = set->n_truncated = set->n_skipped = set->max_len = 0;
    set->n_stop_frames = set->n_short_frames = set->n_lenient = 0;
}

void ribo_seqset_free(ribo_seqset *set) {
    if (!set) return;
    if (set->ids)
        for (size_t i = 0; i < set->n; ++i) free(set->ids[i]);
    free(set->ids);
    free(set->offsets);
    free(set->tokens);
    if (set->prep) ribo_seqprep_free(set->prep);
    free(set->prep);
    memset(set, 0, sizeof *set);
}
