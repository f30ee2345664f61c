/* Refuses an output that would overwrite what the run reads: the output file, its side files
 * (STEM.ids.txt, STEM.offsets.npy for .npy) and its work directory (OUTPUT.ribo-work) compared by
 * device and inode (not by name: links, "./x" and "x" are the same file) with every input and every
 * file of the model directory. */
#ifndef RIBO_IO_PATH_GUARD_H
#define RIBO_IO_PATH_GUARD_H

#include "engine/base/error.h"

/* RIBO_ERR_INVALID_ARGUMENT naming the output file and the input or model file it is; RIBO_OK where
 * none of them exists yet or all differ. Inputs that cannot be stat'ed are skipped (reading them
 * reports the problem). */
ribo_status ribo_output_guard_inputs(const char *output, const char *const *inputs, int n_inputs, const char *model_dir,
                                     ribo_error *err);

#endif
