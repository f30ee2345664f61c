/* --trace: a Chrome / Perfetto trace (JSON "traceEvents") of one run. Process 0 is the host with
 * two threads (reader/tokenizer/packer, writer); each device pipeline is one process with three
 * threads, its H2D, compute and D2H streams, whose spans come from the device events of every batch
 * mapped onto the host clock. Overlap of the three streams shows as stacked spans at the same time.
 * Open it in https://ui.perfetto.dev or chrome://tracing. */
#ifndef RIBO_ENGINE_TRACE_H
#define RIBO_ENGINE_TRACE_H

#include "engine/input/batch.h"
#include "engine/base/error.h"

ribo_status ribo_trace_write(const char *path, const char *const *pipeline_labels, int n_pipelines,
                             const ribo_batch_record *batches, size_t n_batches, const ribo_window_record *windows,
                             size_t n_windows, ribo_error *err);

#endif
