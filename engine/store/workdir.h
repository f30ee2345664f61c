/* The work directory of a run, next to the output: OUT.ribo-work/ holding manifest.json (the run's
 * fingerprint and settings), the finished parts (part-NNNNNN.rpart) and the one being written
 * (*.tmp). A lock file keeps two runs from sharing it. For a .npy output the parts are window
 * records (part_file.h, flag external) and the rows themselves are written in place into
 * rows.npy.partial, the output file under its temporary name, which becomes OUT at the end; for .h5
 * the parts hold the rows and the final output is assembled from them. After that the directory is
 * removed; after a failure or a kill the finished parts (and rows.npy.partial) stay for `--resume`. */
#ifndef RIBO_ENGINE_RUN_DIR_H
#define RIBO_ENGINE_RUN_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/store/fingerprint.h"
#include "engine/input/batch.h"

typedef struct ribo_run_dir ribo_run_dir;

/* Where warnings/notes go (may be NULL). */
typedef void (*ribo_run_log_fn)(void *user, const char *fmt, ...);

/* Opens (creating) the work directory of `output` and locks it. A directory left by an earlier run
 * that holds finished parts is refused without `resume` (the message says to pass --resume or remove
 * it); with `resume`, its manifest must match fp (else the message says what differs: model file,
 * input, option). Stale temporary files of the output and of parts are removed. */
ribo_status ribo_run_dir_open(const char *output, const ribo_fingerprint *fp, bool resume, ribo_run_log_fn log,
                              void *log_user, ribo_run_dir **out, ribo_error *err);

const char *ribo_run_dir_path(const ribo_run_dir *d);
/* True when an earlier run's manifest matched (parts may be kept). */
bool ribo_run_dir_resuming(const ribo_run_dir *d);
/* The packing budget the interrupted run used (0 when not resuming). */
void ribo_run_dir_budget(const ribo_run_dir *d, int *max_tokens, int *max_seqs);

/* Writes manifest.json (atomically): fingerprint, budget, devices (informational). */
ribo_status ribo_run_dir_write_manifest(ribo_run_dir *d, int max_tokens, int max_seqs, const char *const *devices,
                                        int n_devices, ribo_error *err);

/* The in-place rows file of this run (work directory/rows.npy.partial). */
const char *ribo_run_dir_rows_path(const ribo_run_dir *d);
/* Declares that this run writes its rows in place, row 0 at byte rows_base of the rows file: the part
 * check then expects window records and verifies their rows there. */
void ribo_run_dir_set_in_place(ribo_run_dir *d, uint64_t rows_base);

/* Producer hook (ribo_part_check_fn): a window's part is kept when it exists, verifies (checksums)
 * and was written by a run with the same fingerprint; a damaged part is removed and recomputed (with
 * a warning); a part whose rows or content differ from the window is an error (input changed). A
 * window record is kept only when its rows in the rows file match its checksum (else it is removed
 * and the window recomputed, with a warning naming the bytes). */
ribo_status ribo_run_dir_part_check(void *run_dir, const ribo_window_msg *w, bool *done, ribo_error *err);
size_t ribo_run_dir_kept_parts(const ribo_run_dir *d);

/* Removes the work directory (after the final output is committed). */
ribo_status ribo_run_dir_remove(ribo_run_dir *d, ribo_error *err);

/* Unlocks and frees. When no part exists in it, the directory is removed (nothing to resume). */
void ribo_run_dir_close(ribo_run_dir *d);

#endif
