/* Packs sequences into length-sorted batches without padding: flat tokens + cu_seqlens. */
#ifndef RIBO_ENGINE_PACKER_H
#define RIBO_ENGINE_PACKER_H

#include <stddef.h>
#include <stdint.h>

#include "engine/base/error.h"
#include "engine/input/seqset.h"

/* Which sequences go into which batch. */
typedef struct ribo_pack_plan {
    size_t n_batches;
    size_t *order;          /* sequence indices, longest first (stable for equal lengths) */
    size_t *batch_start;    /* n_batches+1 offsets into order */
    size_t total_tokens;
    int max_tokens;
    int max_seqs;
} ribo_pack_plan;

/* Greedy fill in length-descending order: a batch takes sequences while its token count stays
 * <= max_tokens and its sequence count <= max_seqs (0 = unlimited). A sequence longer than
 * max_tokens is an error naming it. */
ribo_status ribo_pack_plan_make(const ribo_seqset *set, int max_tokens, int max_seqs, ribo_pack_plan *plan,
                                ribo_error *err);
void ribo_pack_plan_free(ribo_pack_plan *plan);

/* real tokens / (n_batches * max_tokens) */
double ribo_pack_plan_density(const ribo_pack_plan *plan);

/* Host arrays of one packed batch; buffers sized for max_tokens / max sequences by the caller. */
typedef struct ribo_packed_batch {
    int32_t n_seqs, n_tokens, max_seqlen;
    int32_t *tokens;        /* [n_tokens] */
    int32_t *positions;     /* [n_tokens], restart at 0 for each sequence */
    int32_t *seq_of_token;  /* [n_tokens], index of the token's sequence within the batch */
    int32_t *cu_seqlens;    /* [n_seqs+1], prefix sums of lengths */
    size_t *rows;           /* [n_seqs], input row (index in the seqset) of each batch sequence */
} ribo_packed_batch;

/* Fills batch b of the plan into out (whose arrays must be large enough). */
void ribo_pack_fill(const ribo_seqset *set, const ribo_pack_plan *plan, size_t b, ribo_packed_batch *out);

#endif
