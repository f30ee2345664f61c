/* Model families compiled in, tried in order by ribo_model_open. */
#include "engine/graph/model.h"

extern const ribo_model_family ribo_esm2_family;
extern const ribo_model_family ribo_dnabert2_family;

const ribo_model_family *const ribo_model_families[] = {
    &ribo_esm2_family,
    &ribo_dnabert2_family,
    NULL,
};
