/* `ribo tokenize`: the token ids ribo_embed would feed the model, for checking and debugging. The
 * input is read by the same streaming reader as ribo_embed (input_stream.c), in the same windows;
 * windows are contiguous runs of input records, so emitting them in turn keeps input order. */
#include <string.h>

#include "engine/graph/model.h"
#include "ribo/ribo.h"
#include "engine/run/inputs.h"
#include "engine/input/input_stream.h"

ribo_status ribo_tokenize(const ribo_embed_options *o, ribo_tokens_callback cb, void *user, ribo_error *err) {
    if (!o->model_dir || !o->model_dir[0]) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "no --model directory given");
    if (o->n_inputs < 1 || !o->inputs) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "no --input file given");
    ribo_model m;
    RIBO_TRY(ribo_model_open(o->model_dir, &m, err));
    ribo_seqset_options so;
    ribo_input *in = NULL;
    ribo_status s = ribo_run_seqset_options(o, &m, &so, err);
    if (s == RIBO_OK) {
        int tokens, seqs;
        ribo_run_nominal_budget(o, &m, &so, &tokens, &seqs);
        ribo_input_config ic = {.paths = o->inputs, .n_paths = o->n_inputs, .tok = m.tokenizer, .opts = &so};
        ribo_run_window_limits(o, tokens, &ic.window_tokens, &ic.window_seqs);
        s = ribo_input_open(&ic, &in, err);
    }
    ribo_input_window w;
    memset(&w, 0, sizeof w);
    size_t n_seqs = 0;
    for (bool has = s == RIBO_OK; has;) {
        s = ribo_input_next(in, &w, &has, err);
        if (s != RIBO_OK || !has) break;
        for (size_t i = 0; i < w.set.n; ++i)
            cb(w.set.ids[i], w.set.tokens + w.set.offsets[i], (size_t)ribo_seqset_len(&w.set, i), user);
        n_seqs += w.set.n;
    }
    /* Windows close on sequences: an input without any is at most one window, whose counts w holds. */
    if (s == RIBO_OK && n_seqs == 0) s = ribo_run_no_sequences(o, &w.set, err);
    ribo_input_window_free(&w);
    ribo_input_close(in);
    ribo_model_close(&m);
    return s;
}
