/* Padding-free batch packing: length-descending greedy fill, then flat host arrays per batch. */
#include "engine/input/packer.h"

#include <stdlib.h>
#include <string.h>

/* Longest sequence (in tokens) of the set; also reports the first sequence longer than max_tokens. */
static size_t longest(const ribo_seqset *set, int max_tokens, size_t *first_too_long) {
    size_t max = 0;
    *first_too_long = set->n;
    for (size_t i = 0; i < set->n; ++i) {
        size_t len = (size_t)ribo_seqset_len(set, i);
        if (len > max) max = len;
        if (len > (size_t)max_tokens && *first_too_long == set->n) *first_too_long = i;
    }
    return max;
}

/* Stable counting sort of sequence indices by length, longest first. */
static ribo_status sort_by_length(const ribo_seqset *set, size_t max_len, size_t *order, ribo_error *err) {
    size_t *start = calloc(max_len + 2, sizeof *start);
    if (!start) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of memory sorting %zu sequences", set->n);
    /* bucket k holds length max_len - k, so ascending buckets are descending lengths */
    for (size_t i = 0; i < set->n; ++i) ++start[max_len - (size_t)ribo_seqset_len(set, i) + 1];
    for (size_t k = 1; k <= max_len + 1; ++k) start[k] += start[k - 1];
    for (size_t i = 0; i < set->n; ++i) order[start[max_len - (size_t)ribo_seqset_len(set, i)]++] = i;
    free(start);
    return RIBO_OK;
}

/* Cuts the sorted order into batches: next sequence joins unless a limit would be exceeded. */
static void cut_batches(const ribo_seqset *set, ribo_pack_plan *plan) {
    size_t tokens = 0, seqs = 0, nb = 0;
    plan->batch_start[0] = 0;
    for (size_t k = 0; k < set->n; ++k) {
        size_t len = (size_t)ribo_seqset_len(set, plan->order[k]);
        bool full = tokens + len > (size_t)plan->max_tokens || (plan->max_seqs > 0 && seqs == (size_t)plan->max_seqs);
        if (seqs > 0 && full) {
            plan->batch_start[++nb] = k;
            tokens = seqs = 0;
        }
        tokens += len;
        ++seqs;
        plan->total_tokens += len;
    }
    if (seqs > 0) plan->batch_start[++nb] = set->n;
    plan->n_batches = nb;
}

ribo_status ribo_pack_plan_make(const ribo_seqset *set, int max_tokens, int max_seqs, ribo_pack_plan *plan,
                                ribo_error *err) {
    if (!plan) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_pack_plan_make: NULL plan");
    memset(plan, 0, sizeof *plan);
    if (!set || max_tokens <= 0 || max_seqs < 0)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT,
                              "packing needs a positive token budget (max_tokens %d) and max_seqs >= 0 (%d)",
                              max_tokens, max_seqs);
    size_t too_long = 0, max_len = longest(set, max_tokens, &too_long);
    if (too_long < set->n)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT,
                              "sequence '%s' (input row %zu) has %d tokens, more than the batch token budget "
                              "--max-tokens %d (raise --max-tokens or lower --truncate)",
                              set->ids ? set->ids[too_long] : "?", too_long + 1, ribo_seqset_len(set, too_long),
                              max_tokens);
    plan->max_tokens = max_tokens;
    plan->max_seqs = max_seqs;
    plan->order = malloc((set->n ? set->n : 1) * sizeof *plan->order);
    plan->batch_start = malloc((set->n + 1) * sizeof *plan->batch_start);
    ribo_status s = (plan->order && plan->batch_start)
                        ? RIBO_OK
                        : ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of memory planning %zu sequences", set->n);
    if (s == RIBO_OK) s = sort_by_length(set, max_len, plan->order, err);
    if (s != RIBO_OK) {
        ribo_pack_plan_free(plan);
        return s;
    }
    cut_batches(set, plan);
    return RIBO_OK;
}

void ribo_pack_plan_free(ribo_pack_plan *plan) {
    if (!plan) return;
    free(plan->order);
    free(plan->batch_start);
    memset(plan, 0, sizeof *plan);
}

double ribo_pack_plan_density(const ribo_pack_plan *plan) {
    if (!plan || plan->n_batches == 0 || plan->max_tokens <= 0) return 0.0;
    return (double)plan->total_tokens / ((double)plan->n_batches * (double)plan->max_tokens);
}

void ribo_pack_fill(const ribo_seqset *set, const ribo_pack_plan *plan, size_t b, ribo_packed_batch *out) {
    size_t first = plan->batch_start[b], end = plan->batch_start[b + 1];
    int32_t t = 0, max_seqlen = 0;
    out->cu_seqlens[0] = 0;
    for (size_t k = first; k < end; ++k) {
        size_t row = plan->order[k];
        int32_t len = ribo_seqset_len(set, row), j = (int32_t)(k - first);
        memcpy(out->tokens + t, set->tokens + set->offsets[row], (size_t)len * sizeof *out->tokens);
        for (int32_t p = 0; p < len; ++p) {
            out->positions[t + p] = p;
            out->seq_of_token[t + p] = j;
        }
        t += len;
        out->cu_seqlens[j + 1] = t;
        out->rows[j] = row;
        if (len > max_seqlen) max_seqlen = len;
    }
    out->n_seqs = (int32_t)(end - first);
    out->n_tokens = t;
    out->max_seqlen = max_seqlen;
}
