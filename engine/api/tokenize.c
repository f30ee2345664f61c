/* `ribo tokenize`: the token ids ribo_embed would feed the model, for checking and debugging. */
#include <string.h>

#include "engine/graph/model.h"
#include "ribo/ribo.h"
#include "engine/run/inputs.h"
#include "engine/input/seqset.h"

ribo_status ribo_tokenize(const ribo_embed_options *o, ribo_tokens_callback cb, void *user, ribo_error *err) {
    if (!o->model_dir || !o->model_dir[0]) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "no --model directory given");
    if (o->n_inputs < 1 || !o->inputs) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "no --input file given");
    ribo_model m;
    RIBO_TRY(ribo_model_open(o->model_dir, &m, err));
    ribo_seqset set;
    memset(&set, 0, sizeof set);
    ribo_seqset_options so;
    ribo_status s = ribo_run_seqset_options(o, &m, &so, err);
    if (s == RIBO_OK) s = ribo_seqset_load(o->inputs, o->n_inputs, m.tokenizer, &so, &set, err);
    if (s == RIBO_OK && set.n == 0) s = ribo_run_no_sequences(o, &set, err);
    for (size_t i = 0; s == RIBO_OK && i < set.n; ++i)
        cb(set.ids[i], set.tokens + set.offsets[i], (size_t)ribo_seqset_len(&set, i), user);
    ribo_seqset_free(&set);
    ribo_model_close(&m);
    return s;
}
