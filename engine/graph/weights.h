/* Binding a graph's weights to the checkpoint (weights.c): the check that needs no device, and the
 * upload the executor runs once per device. */
#ifndef RIBO_ENGINE_GRAPH_WEIGHTS_H
#define RIBO_ENGINE_GRAPH_WEIGHTS_H

#include "engine/backend.h"
#include "engine/graph/graph.h"
#include "engine/io/safetensors.h"

/* Checks every weight of g against the checkpoint (presence under any accepted name, dtype,
 * shape vs config) without touching a device, and records the checkpoint tensor of every source
 * (ribo_gtensor.resolved, valid while st is open; g->resolved_from = st). Errors name the file and
 * tensor; a missing tensor's message starts with origin (the model directory; may be NULL). */
ribo_status ribo_weights_check(ribo_graph *g, const ribo_safetensors *st, const char *origin, ribo_error *err);

/* Uploads every weight and constant of g (device addresses already placed in ribo_gtensor.dev) through
 * stream, converting to storage (weight_upload.c): chunks of the mapped checkpoint filled into a
 * bounded ring of pinned slots by several host threads (RIBO_LOAD_THREADS; default the cores, at
 * most 8) and copied to the device; synchronizes before it returns. NaN/inf is RIBO_ERR_MODEL naming
 * the tensor and element (the first in checkpoint order). */
ribo_status ribo_weights_upload(ribo_device *dev, ribo_stream *stream, const ribo_graph *g, ribo_storage storage,
                                ribo_error *err);

#endif
