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

/* The "no sequences" error after loading an empty set, naming the inputs and why. */
ribo_status ribo_run_no_sequences(const ribo_embed_options *o, const ribo_seqset *set, ribo_error *err);

/* "mean", "cls" or "none": the --pool spelling of p. */
const char *ribo_pool_name(ribo_pool p);

#endif
