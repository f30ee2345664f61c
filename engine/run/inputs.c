/* Input-reading options of a run (see inputs.h). */
#include "engine/run/inputs.h"

#include <string.h>

ribo_status ribo_run_seqset_options(const ribo_embed_options *o, const ribo_model *m, ribo_seqset_options *so,
                                    ribo_error *err) {
    if (o->translate_frames && m->conv.dna_input)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT,
                              "%s: --translate needs a protein model (this %s model reads DNA as it is)", m->dir,
                              m->family->name);
    memset(so, 0, sizeof *so);
    so->max_residues = (size_t)(o->truncate > 0 ? o->truncate : m->conv.default_max_residues);
    so->error_if_longer = o->truncate == 0;
    so->skip_invalid = o->skip_invalid;
    so->translate_frames = o->translate_frames;
    so->drop_stop_frames = o->drop_stop_frames;
    so->dna_input = m->conv.dna_input;
    so->lenient = o->lenient;
    return RIBO_OK;
}

#define DEFAULT_WINDOW_SEQS 32768
#define DEFAULT_WINDOW_BATCHES 16 /* window tokens = this many token budgets */

int ribo_run_longest_possible(const ribo_model *m, const ribo_seqset_options *so) {
    size_t before = 0, after = 0;
    ribo_tokenizer_added_counts(m->tokenizer, &before, &after);
    return (int)(so->max_residues + before + after);
}

void ribo_run_nominal_budget(const ribo_embed_options *o, const ribo_model *m, const ribo_seqset_options *so,
                             int *tokens, int *seqs) {
    int T = o->max_tokens;
    if (T <= 0) {
        T = RIBO_DEFAULT_MAX_TOKENS;
        if (ribo_run_longest_possible(m, so) > T) T = ribo_run_longest_possible(m, so);
    }
    *tokens = T;
    *seqs = o->max_batch_seqs > 0 && o->max_batch_seqs < T ? o->max_batch_seqs : T;
}

void ribo_run_window_limits(const ribo_embed_options *o, int max_tokens, size_t *tokens, size_t *seqs) {
    *tokens = o->window_tokens > 0 ? (size_t)o->window_tokens : (size_t)max_tokens * DEFAULT_WINDOW_BATCHES;
    *seqs = o->window_seqs > 0 ? (size_t)o->window_seqs : DEFAULT_WINDOW_SEQS;
}

ribo_status ribo_run_no_sequences(const ribo_embed_options *o, const ribo_seqset *set, ribo_error *err) {
    return ribo_error_set(err, RIBO_ERR_INPUT, "%s%s: no sequences to embed%s", o->inputs[0],
                          o->n_inputs > 1 ? " (and the other inputs)" : "",
                          set->n_short_frames || set->n_stop_frames
                              ? " (every translated frame was shorter than one codon or had a stop codon)"
                              : "");
}

const char *ribo_pool_name(ribo_pool p) {
    return p == RIBO_POOL_CLS ? "cls" : p == RIBO_POOL_NONE ? "none" : "mean";
}
