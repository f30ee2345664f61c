/* How a run's options and the model's conventions turn into the input-reading options: shared by
 * `ribo embed` and `ribo tokenize`, so both read and tokenize the same way. */
#ifndef RIBO_ENGINE_RUN_INPUTS_H
#define RIBO_ENGINE_RUN_INPUTS_H

#include "engine/graph/model.h"
#include "ribo/ribo.h"
#include "engine/input/seqset.h"

/* Fills so from o and m (truncation default, DNA checks, translation); refuses --translate on a DNA
 * model. */
ribo_status ribo_run_seqset_options(const ribo_embed_options *o, const ribo_model *m, ribo_seqset_options *so,
                                    ribo_error *err);

/* Longest possible sequence in tokens: the residue limit plus the tokenizer's special tokens. */
int ribo_run_longest_possible(const ribo_model *m, const ribo_seqset_options *so);

/* The nominal batch budget: --max-tokens, else RIBO_DEFAULT_MAX_TOKENS raised to the longest possible
 * sequence; sequences --max-batch-seqs, at most the tokens. */
void ribo_run_nominal_budget(const ribo_embed_options *o, const ribo_model *m, const ribo_seqset_options *so,
                             int *tokens, int *seqs);

/* The input window limits for a token budget: --window-tokens (default 16 budgets) and --window-seqs
 * (default 32768). */
void ribo_run_window_limits(const ribo_embed_options *o, int max_tokens, size_t *tokens, size_t *seqs);

/* The "no sequences" error for an input that holds none (set: its only window, with the counts that
 * say why), naming the inputs. */
ribo_status ribo_run_no_sequences(const ribo_embed_options *o, const ribo_seqset *set, ribo_error *err);

/* "mean", "cls" or "none": the --pool spelling of p. */
const char *ribo_pool_name(ribo_pool p);

#endif
