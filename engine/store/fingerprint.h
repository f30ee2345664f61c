/* What identifies a run, so that --resume can refuse to mix parts of different runs:
 *
 *   model:   every file of the model directory ribo reads (config.json, tokenizer files, the
 *            safetensors index): size and a hash of the whole file; each *.safetensors file: size,
 *            a hash of its header (names, dtypes, shapes, offsets) and of 16 blocks of 64 KiB spread
 *            evenly over its data (a fine-tuned checkpoint with the same layout changes them all);
 *            each pytorch_model*.bin: size, a hash of its first and last MiB (pickle, zip directory)
 *            and of 16 blocks of 64 KiB spread over the file; pytorch_model.bin.index.json whole.
 *   inputs:  resolved path, size, and a hash of the first and last MiB of each file. Modification
 *            times are not used: copying an input changes them without changing a byte. Besides,
 *            every kept part records a hash of its window's ids and token ids, checked against the
 *            input when the run is resumed, so content that a kept part depends on cannot have
 *            changed unnoticed. An input that is not a regular file (pipe, FIFO, socket, character
 *            device such as /dev/stdin) is never opened here, since it can be read only once: it is
 *            recorded by the path given and its kind ("kind": "pipe", ...), size 0, no hashes; on
 *            --resume its kind must match and its content is checked only through the kept windows'
 *            ids and token ids (the windows after them are computed from what it gives this time).
 *   options: the settings that change the output bytes or the part boundaries (pooling, dtype,
 *            truncation, skipping, token budget, batch size limit, window size, backend, output kind).
 *
 * The fingerprint is a JSON object (stored in the work directory's manifest) and a 64-bit hash of it
 * (stored in every part). */
#ifndef RIBO_ENGINE_FINGERPRINT_H
#define RIBO_ENGINE_FINGERPRINT_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "engine/base/error.h"

typedef struct ribo_fingerprint {
    cJSON *json;     /* {"model": {...}, "inputs": [...], "options": {...}} */
    uint64_t hash;
} ribo_fingerprint;

/* Options are given as name/value strings (e.g. {"pool", "mean"}). */
typedef struct ribo_fingerprint_option {
    const char *name, *value;
} ribo_fingerprint_option;

ribo_status ribo_fingerprint_make(const char *model_dir, const char *const *inputs, int n_inputs,
                                  const ribo_fingerprint_option *options, int n_options, ribo_fingerprint *fp,
                                  ribo_error *err);

/* Compares a stored fingerprint with the current one: RIBO_OK when they match, else
 * RIBO_ERR_INVALID_ARGUMENT with a message saying what differs (model file, input, option). */
ribo_status ribo_fingerprint_compare(const cJSON *stored, const ribo_fingerprint *now, ribo_error *err);

void ribo_fingerprint_free(ribo_fingerprint *fp);

/* "%016llx" of a hash into out (17 bytes). */
void ribo_hash_hex(uint64_t h, char out[17]);

#endif
