/* The final --output file at the end of a run. The ids (and per-residue row counts) are read from the
 * parts of the work directory and written to the side files (X.ids.txt, X.offsets.npy). Then:
 *   in place (.npy, rows_path set): the rows are in the rows file already; its header is written
 *     (engine/io/output.c), nothing is copied;
 *   parts (.h5): the output is opened under a temporary name and each part's rows are copied into
 *     it in input order, in the kernel (copy_file_range; read/write where the kernel cannot).
 * Finally the output is committed (fsynced, side files and then the main file renamed into place). A
 * run killed here leaves its parts (and rows file) intact, so --resume simply does this again. */
#ifndef RIBO_ENGINE_ASSEMBLE_H
#define RIBO_ENGINE_ASSEMBLE_H

#include "engine/run/writer.h"

typedef struct ribo_assemble_config {
    const char *work_dir;
    const char *output;
    size_t dim;
    bool per_residue;
    const ribo_part_entry *parts;  /* every window, in order */
    size_t n_parts;
    const char *rows_path;         /* in place: the rows file (NULL: copy the parts' rows) */
    uint64_t rows_base;            /* in place: byte offset of row 0 in it */
    int kill_after_parts;          /* test hook (RIBO_TEST_KILL_IN_ASSEMBLY): SIGKILL after n parts copied
                                      (in place: once the header and side files are written, before the renames) */
    bool kill_after_commit;        /* test hook (RIBO_TEST_KILL_AFTER_COMMIT): SIGKILL once the output is in place */
} ribo_assemble_config;

ribo_status ribo_assemble(const ribo_assemble_config *cfg, ribo_error *err);

#endif
