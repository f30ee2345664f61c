/* The writer of an embed run (see run.h): in place for .npy, parts for .h5, --writers threads,
 * test hooks from the environment, and the free-space check before anything is computed. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/io/npy.h"
#include "engine/run/run.h"
#include "engine/run/space.h"

#define DEFAULT_WRITERS 2

static void writer_failed(void *run, const ribo_error *e) { ribo_run_ctl_fail(&((embed_run *)run)->ctl, e); }

static int env_int(const char *name) {
    const char *v = getenv(name);
    return v ? atoi(v) : 0;
}

/* .npy rows are written in place (writer.h), after the space they need is checked (space.h). */
ribo_status embed_create_writer(embed_run *r, bool whole, ribo_error *err) {
    const ribo_embed_options *o = r->o;
    size_t dim = (size_t)r->ses->graph.output_width, n = strlen(o->output);
    bool in_place = n >= 4 && strcmp(o->output + n - 4, ".npy") == 0;
    uint64_t rows_base = in_place ? ribo_npy_header_bound("<f4", (int64_t)dim) + (uint64_t)env_int("RIBO_TEST_NPY_RESERVE_EXTRA") : 0;
    if (in_place) ribo_run_dir_set_in_place(r->dir, rows_base);
    ribo_space_need need;
    struct stat sb;
    uint64_t already = in_place && ribo_run_dir_resuming(r->dir) && stat(ribo_run_dir_rows_path(r->dir), &sb) == 0
                           ? (uint64_t)sb.st_blocks * 512u : 0;
    if (ribo_space_expected(r->prod, whole, dim, &need)) {
        RIBO_TRY(ribo_space_check(o->output, &need, dim, already, err));
        if (r->ses->graph.output_per_token)
            embed_log(r, "note: --pool none: the output will be %s%.2f GB (%llu bytes: %llu residue rows x %zu floats x 4%s)",
                      need.exact ? "" : "about ", (double)need.bytes / 1e9, (unsigned long long)need.bytes,
                      (unsigned long long)need.rows, dim, need.exact ? "" : ", estimated from the input size");
    }
    ribo_part_writer_config wc = {.work_dir = ribo_run_dir_path(r->dir), .dim = dim,
                                  .per_residue = r->ses->graph.output_per_token, .fingerprint = r->fp.hash,
                                  .producer = r->prod, .kill_after_parts = env_int("RIBO_TEST_KILL_AFTER_PARTS"),
                                  .kill_before_record = env_int("RIBO_TEST_KILL_BEFORE_RECORD"),
                                  .write_delay_ms = env_int("RIBO_TEST_WRITE_DELAY_MS"),
                                  .record = o->trace_path != NULL, .t0 = r->t0,
                                  .rows_path = in_place ? ribo_run_dir_rows_path(r->dir) : NULL, .rows_base = rows_base,
                                  .rows_keep = ribo_run_dir_resuming(r->dir),
                                  .writers = o->sync ? 1 : o->writers ? o->writers : DEFAULT_WRITERS,
                                  .on_error = writer_failed, .on_error_user = r};
    r->rows_base = rows_base;
    return ribo_part_writer_create(&wc, &r->writer, err);
}
