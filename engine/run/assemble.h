/* The final --output file, built from the parts of the work directory at the end of a run: the ids
 * (and per-residue row counts) are read from the parts, the output is opened under a temporary name
 * (engine/io/output.c), each part's rows are copied in input order, and the output is committed
 * (fsynced and renamed into place). A run killed while assembling leaves its parts intact, so
 * --resume simply assembles again. */
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
    int kill_after_parts;          /* test hook (RIBO_TEST_KILL_IN_ASSEMBLY): SIGKILL after n parts copied */
} ribo_assemble_config;

ribo_status ribo_assemble(const ribo_assemble_config *cfg, ribo_error *err);

#endif
